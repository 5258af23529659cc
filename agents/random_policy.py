"""``random``: no training; a uniformly random legal move, the untrained reference of the discrete agents."""

from __future__ import annotations

from srl_gym.algorithms import Cell, Checkpoint, TrainResult

#: The checkpoint "path" that `srl_gym.agents.discrete_eval.evaluate` reads as the random policy.
RANDOM = "random"


def train_cell(cell: Cell) -> TrainResult:
    """The random policy as the cell's only checkpoint."""
    return TrainResult([Checkpoint(RANDOM, {"env_steps": 0.0, "expert_labels": 0.0})])
