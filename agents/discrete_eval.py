"""How the comparison measures discrete agents (the ``"discrete"`` kind of `srl_gym.algorithms`).

`evaluate` scores a Stable-Baselines3 policy (a ``.zip``) or the random policy on test-split
problems at one difficulty: greedy success (the most likely legal move), the on-policy step
similarity and the share of valid steps, and avg@k / pass@k of the sampling policy. A policy
network cannot be evaluated at a level whose observation or action space has another shape
(Hanoi adds a disk to the observation): it returns None there.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from srl_gym import metrics as M
from srl_gym.runs import derived_seed

from .random_policy import RANDOM


def _spaces_match(task: str, a: int, b: int) -> bool:
    import gymnasium as gym

    envs = [gym.make(task, difficulty=d, interface="discrete") for d in (a, b)]
    same = envs[0].observation_space == envs[1].observation_space and envs[0].action_space == envs[1].action_space
    for env in envs:
        env.close()
    return same


def evaluate(
    model_path: str, task: str, difficulty: int, config: Any, seed: int, *, split: str = "test", full: bool = True
) -> dict[str, Any] | None:
    """Held-out metrics of a discrete policy (an SB3 ``.zip``, or ``"random"``) at ``difficulty``.

    ``greedy_success`` (with its per-problem scores in ``per_problem``), ``step_similarity``
    (on-policy, of the greedy run), ``valid_fraction`` and with ``full`` ``avg_at_k``/``pass_at_k``
    (``eval_samples`` episodes per problem with actions sampled from the policy). ``split``:
    ``"test"`` or ``"validation"`` (train-split seeds ``validation_start ..``, which pick each
    run's checkpoint; as `srl_gym.agents.lm_eval.problem_seeds`). None when the policy was trained
    at a difficulty whose spaces differ from ``difficulty``'s.
    """
    import torch as th

    from srl_gym.evaluation import RandomAgent
    from srl_gym.evaluation import evaluate as play

    from .lm_eval import problem_seeds
    from .sb3_common import SB3Agent, model_class

    spaces_differ = difficulty != config.train_difficulty and not _spaces_match(
        task, config.train_difficulty, difficulty
    )
    if model_path != RANDOM and spaces_differ:  # a random legal move needs no network
        return None
    env_split, seeds = problem_seeds(config, split)
    options = {"difficulty": difficulty, "interface": "discrete", "split": env_split, "batch_size": 16}
    n, first = len(seeds), seeds.start
    if model_path == RANDOM:
        greedy_agent: Any = RandomAgent(derived_seed(seed, 1))
        sampler: Any = lambda i: RandomAgent(derived_seed(seed, 2, i))  # noqa: E731
    else:
        model = model_class(True).load(model_path, device="cpu")
        greedy_agent = SB3Agent(model, deterministic=True)
        sampler = lambda i: SB3Agent(model, deterministic=False)  # noqa: E731
    greedy = play(greedy_agent, task, n, first, **options)
    out: dict[str, Any] = {
        M.GREEDY_SUCCESS: greedy.success_rate,
        M.STEP_SIMILARITY: greedy.mean_step_similarity,
        M.VALID_FRACTION: greedy.valid_fraction,
        M.PROBLEMS: float(n),
        "per_problem": {M.GREEDY_SUCCESS: [float(e.solved) for e in greedy.episodes]},
    }
    if full and split == "test" and config.eval_samples > 0:
        solved = np.zeros((n, config.eval_samples))
        with th.random.fork_rng(devices=[]):
            for i in range(config.eval_samples):
                th.manual_seed(derived_seed(seed, difficulty, i))
                result = play(sampler(i), task, n, first, **options)
                solved[:, i] = [e.solved for e in result.episodes]
        out[M.AVG_AT_K] = float(solved.mean())
        out[M.PASS_AT_K] = float(solved.any(axis=1).mean())
    return out
