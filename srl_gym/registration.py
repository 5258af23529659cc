"""Every task, in one flat list, and its registration with Gymnasium under the ``srl/`` namespace.

Each entry becomes the id ``srl/<name>-v<version>`` whose entry point is `ReasoningEnv` with the
task's import path; env options (``interface``, ``reward``, ``difficulty``, ...) are
``gym.make`` keyword arguments. Bump a task's version whenever its dynamics, prompts or scoring
change. Tests iterate over `TASKS`.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym

from srl_gym.env import load_task_class
from srl_gym.task import Task

NAMESPACE = "srl"


@dataclass(frozen=True)
class TaskEntry:
    """One registered task: its id stem, domain, version and ``module:Class`` path."""

    name: str
    domain: str
    path: str
    version: int = 0

    @property
    def env_id(self) -> str:
        return f"{NAMESPACE}/{self.name}-v{self.version}"

    def load(self) -> type[Task]:
        return load_task_class(self.path)


TASKS: tuple[TaskEntry, ...] = (
    TaskEntry("Arithmetic", "math", "srl_gym.envs.math.arithmetic:Arithmetic"),
    TaskEntry("LinearEquation", "math", "srl_gym.envs.math.linear_equation:LinearEquation"),
    TaskEntry("LongMultiplication", "math", "srl_gym.envs.math.long_multiplication:LongMultiplication"),
    TaskEntry("Countdown", "math", "srl_gym.envs.math.countdown:Countdown"),
    TaskEntry("HornDeduction", "logic", "srl_gym.envs.logic.horn_deduction:HornDeduction"),
    TaskEntry("Syllogism", "logic", "srl_gym.envs.logic.syllogism:Syllogism"),
    TaskEntry("KnightsKnaves", "logic", "srl_gym.envs.logic.knights_knaves:KnightsKnaves"),
    TaskEntry("Zebra", "logic", "srl_gym.envs.logic.zebra:Zebra"),
    TaskEntry("Hanoi", "planning", "srl_gym.envs.planning.hanoi:Hanoi"),
    TaskEntry("BlocksWorld", "planning", "srl_gym.envs.planning.blocks_world:BlocksWorld"),
    TaskEntry("GridMaze", "planning", "srl_gym.envs.planning.grid_maze:GridMaze"),
    TaskEntry("SlidingPuzzle", "planning", "srl_gym.envs.planning.sliding_puzzle:SlidingPuzzle"),
    TaskEntry("Trajectories", "dataset", "srl_gym.envs.dataset.trajectories:Trajectories"),
)


def task_entry(env_id: str) -> TaskEntry:
    """The entry of ``env_id`` (``"srl/Hanoi-v0"``, ``"srl_gym:srl/Hanoi-v0"`` or ``"Hanoi"``)."""
    key = env_id.split(":", 1)[-1]
    for entry in TASKS:
        if key in (entry.env_id, entry.name, f"{NAMESPACE}/{entry.name}"):
            return entry
    raise ValueError(f"unknown task {env_id!r}; registered: {', '.join(e.env_id for e in TASKS)}")


def make_task(env_id: str, **options) -> Task:
    """The `Task` behind ``env_id``, built with ``options`` (``difficulty=...`` and task options)."""
    return task_entry(env_id).load()(**options)


def register_all() -> None:
    """Register every task with Gymnasium (idempotent: ``import srl_gym`` calls it)."""
    for entry in TASKS:
        if entry.env_id not in gym.registry:
            gym.register(id=entry.env_id, entry_point="srl_gym.env:ReasoningEnv", kwargs={"task": entry.path})
