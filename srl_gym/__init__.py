"""srl-gym: reasoning tasks as step-wise Gymnasium environments for Supervised RL (SRL), SFT and RLVR.

``import srl_gym`` registers every task under the ``srl/`` namespace::

    import gymnasium as gym
    import srl_gym  # noqa: F401  (or: gym.register_envs(srl_gym))

    env = gym.make("srl/Hanoi-v0", difficulty=1)
    obs, info = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(info["expert_step"])
"""

from srl_gym.env import ORACLE_INFO_KEYS, ReasoningEnv, agent_info
from srl_gym.registration import TASKS, make_task, register_all, task_entry
from srl_gym.rewards import outcome_reward, split_think, srl_reward, srl_reward_func, step_similarity
from srl_gym.task import InvalidStep, Problem, Task, TaskConfig, problem_split
from srl_gym.trajectory import Step, Trajectory, read_jsonl, split_solution, write_jsonl

__version__ = "0.1.0"

__all__ = [
    "ORACLE_INFO_KEYS",
    "TASKS",
    "InvalidStep",
    "Problem",
    "ReasoningEnv",
    "Step",
    "Task",
    "TaskConfig",
    "Trajectory",
    "agent_info",
    "make_task",
    "outcome_reward",
    "problem_split",
    "read_jsonl",
    "split_solution",
    "split_think",
    "srl_reward",
    "srl_reward_func",
    "step_similarity",
    "task_entry",
    "write_jsonl",
]

register_all()
