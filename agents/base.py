"""``base``: no training; the warmed-up start model itself, the reference every LM algorithm starts from.

In a comparison every language-model algorithm of a (model, task) starts from the same base: the
start model after a short SFT warm-up (`srl_gym.agents.lm_eval.prepare_base`). Scoring the base
itself shows what each algorithm added.
"""

from __future__ import annotations

from srl_gym.algorithms import Cell, Checkpoint, TrainResult


def train_cell(cell: Cell) -> TrainResult:
    """The base model as the cell's only checkpoint, with an empty budget."""
    if cell.base_dir is None:
        raise ValueError("the base algorithm needs the comparison's warmed-up base model (cell.base_dir)")
    budget = dict.fromkeys(("updates", "gradient_updates", "generated_tokens", "trained_tokens"), 0.0)
    return TrainResult([Checkpoint(cell.base_dir, budget)])
