"""Expert episodes as training examples, read off the env itself (the raw material of `srl_gym.datasets`).

Running the env (rather than formatting trajectories by hand) makes every prompt exactly what an
agent sees when `srl_gym.evaluate` plays it. Two kinds of example:

- `StepInstance` (SRL, step-wise SFT): the SRL paper's expansion of one expert solution
  y_1..y_N into instances ``[problem, y_1..y_{k-1}] -> y_k``, read off an expert episode with
  ``teacher_forcing=True``. The paper counts N-1 instances per solution; we keep all N, since the
  env asks for step 1 at reset and an agent must be able to write it.
- `SolutionExample` (whole-solution SFT, RLVR): the problem's first observation and all the
  expert's steps (see `srl_gym.prompts.solution_target`).

Episode ``seed`` gives the same problem as ``env.reset(seed=seed)``; ``split="test"`` problems
never appear in ``"train"`` (the core splits by a hash of the problem text). Small levels repeat
problems across seeds; each distinct problem is kept once.

A flawed expert on purpose: ``expert_noise=p`` among the env options (``**env_kwargs``) makes each
expert step a legal wrong one with probability p, the oracle re-planning after it (see
`srl_gym.env.ReasoningEnv`'s Arguments), so both kinds of example above are read off the noisy
trajectory: a `StepInstance`'s observation shows the noisy steps so far and its ``expert_step``
may be a wrong one; a `SolutionExample`'s ``steps`` hold the detours and still end solved. Noise
is seeded by the episode's seed; ``split="test"`` refuses it and the verifier never sees it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym

import srl_gym  # noqa: F401  (registers the srl/ ids)
from srl_gym.env import ReasoningEnv
from srl_gym.prompts import parse_solution, solution_target
from srl_gym.registration import TASKS
from srl_gym.task import InvalidStep, Problem, Task


@dataclass(frozen=True)
class StepInstance:
    """One step-wise instance: the observation before step k and the expert's step k."""

    observation: str
    expert_step: str
    seed: int
    index: int  # k - 1: how many expert steps the observation already shows


@dataclass(frozen=True)
class SolutionExample:
    """One whole problem: its first observation, the expert's steps, and what the verifier needs."""

    observation: str
    steps: tuple[str, ...]
    problem: Problem
    task: Task
    seed: int

    @property
    def target(self) -> str:
        return solution_target(self.steps)


def env_options(args: Any) -> dict[str, Any]:
    """Keyword options for the env beyond the id: the difficulty and, for srl/Trajectories-v0, the file."""
    options: dict[str, Any] = {"difficulty": args.difficulty}
    if getattr(args, "trajectories_path", None):
        options["path"] = args.trajectories_path
    return options


def make_text_env(env_id: str, *, split: str = "train", difficulty: int = 0, **env_kwargs: Any) -> ReasoningEnv:
    """The unwrapped text env of ``env_id`` in teacher-forcing mode; a clear error if it has no expert.

    Raises:
        ValueError: ``env_id`` is unknown, or is not an srl-gym reasoning env (so it has no
            expert trajectories to learn from).
    """
    try:
        spec = gym.spec(env_id)
    except gym.error.Error as exc:
        ids = ", ".join(e.env_id for e in TASKS)
        raise ValueError(f"unknown env id {env_id!r} ({exc}); the agents train on srl-gym tasks: {ids}") from None
    entry = spec.entry_point if isinstance(spec.entry_point, str) else ""
    if entry != "srl_gym.env:ReasoningEnv" and not (
        isinstance(spec.entry_point, type) and issubclass(spec.entry_point, ReasoningEnv)
    ):
        raise ValueError(
            f"{env_id!r} is not an srl-gym reasoning env, so it has no expert trajectories to learn from; "
            "use a registered srl/ task (srl-gym list), or srl/Trajectories-v0 with your own JSONL of expert steps"
        )
    env = gym.make(env_id, split=split, difficulty=difficulty, teacher_forcing=True, **env_kwargs)
    return env.unwrapped


def problem_texts(env_id: str, seeds: Iterable[int], *, split: str = "train", difficulty: int = 0) -> list[str]:
    """The problem text each seed gives, in order (repeats kept): what tells two seeds' problems apart."""
    env = make_text_env(env_id, split=split, difficulty=difficulty)
    texts = []
    for seed in seeds:
        env.reset(seed=seed)
        texts.append(env.problem.text)
    return texts


def step_instances(
    env_id: str, seeds: Iterable[int], *, split: str = "train", difficulty: int = 0, **env_kwargs: Any
) -> list[StepInstance]:
    """Step-wise instances ``(observation before step k, expert step k)`` of each seed's expert episode."""
    env = make_text_env(env_id, split=split, difficulty=difficulty, **env_kwargs)
    out: list[StepInstance] = []
    seen: set[str] = set()
    for seed in seeds:
        observation, info = env.reset(seed=seed)
        if env.problem.text in seen:
            continue
        seen.add(env.problem.text)
        done, index = False, 0
        while not done:
            step = info["expert_step"]
            out.append(StepInstance(observation, step, seed, index))
            observation, _, terminated, truncated, info = env.step(step)
            done, index = terminated or truncated, index + 1
    return out


def solution_examples(
    env_id: str, seeds: Iterable[int], *, split: str = "train", difficulty: int = 0, **env_kwargs: Any
) -> list[SolutionExample]:
    """Whole-solution examples: each seed's first observation and the expert's steps."""
    env = make_text_env(env_id, split=split, difficulty=difficulty, **env_kwargs)
    out: list[SolutionExample] = []
    seen: set[str] = set()
    for seed in seeds:
        observation, _ = env.reset(seed=seed)
        if env.problem.text in seen:
            continue
        seen.add(env.problem.text)
        steps = tuple(text for _, _, text in env.expert_steps)
        out.append(SolutionExample(observation, steps, env.problem, env.task, seed))
    return out


def verify_solution(task: Task, problem: Problem, completion: str) -> bool:
    """Whether a whole-solution completion solves ``problem``, by the task's own verifier.

    The completion's steps (`parse_solution`) are replayed from the initial state: every one must
    parse and be legal, and the last must end the episode; nothing but blank lines may follow it.
    The task's answer at that end (the plan itself for planning tasks, the stated answer for math
    and logic) then goes to ``task.verify``.
    """
    state, canonical = problem.initial_state, []
    steps = parse_solution(completion)
    for i, text in enumerate(steps):
        try:
            action = task.parse_step(state, text)
            canonical.append(task.format_step(state, action))
            state = task.apply(state, action)
        except InvalidStep:
            return False
        if task.is_terminal(state):
            return i == len(steps) - 1 and task.verify(problem, task.answer(problem, state, canonical))
    return False
