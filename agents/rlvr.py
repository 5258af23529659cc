"""RLVR: outcome-reward GRPO on whole solutions, rewarded by the task's verifier.

The RLVR baseline of the SRL paper (Deng et al., 2025, arXiv:2510.25992), GRPO with a verifiable
reward: the model writes ``<think>...</think>`` and the whole solution, one "Step k: ..." line per
step; the steps are replayed from the problem's start and the task's verifier judges the answer
they end with (for planning tasks the answer is the plan itself). Reward 1 if it is right, else 0
(`srl_gym.rewards.outcome_reward_func` on `srl_gym.datasets.solution_dataset` rows).

When no rollout of a prompt is ever right, every reward is 0, the group's std is 0 and dynamic
sampling drops it: nothing is learned (the failure SRL is meant to fix). Start from a model that
sometimes succeeds (an SFT or SRL checkpoint). Held-out evaluation: greedy whole solutions on the
test split, checked by the verifier.

Run: ``srl-gym train rlvr --model runs/sft/checkpoints/checkpoint-100 --run-dir runs/rlvr``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from srl_gym.algorithms import Cell, TrainResult
from srl_gym.rewards import outcome_reward_func
from srl_gym.runs import run_cli

from .grpo import GRPOArgs, train_grpo
from .lm_common import cell_options, grpo_cell_options, solution_tokens, task_rows


@dataclass
class Args(GRPOArgs):
    """RLVR: GRPO on whole solutions with the verifier's 0/1 outcome reward."""

    run_dir: str = field(default="runs/rlvr", metadata={"help": "the run directory (config, metrics, checkpoints)"})
    max_new_tokens: int = field(default=256, metadata={"help": "longest completion (monologue and whole solution)"})


def train(args: Args, callbacks: Sequence[Any] = ()) -> TrainResult:
    """Run RLVR; return its checkpoints and final metrics (``eval/greedy_success``, ...).

    ``callbacks``: more ``transformers.TrainerCallback``s (`srl_gym.agents.rlvr_curriculum` ends a level with one).
    """
    args.validate()

    def dataset(tokenizer: Any) -> Any:
        return task_rows(args, tokenizer, "solution").remove_columns("completion")

    return train_grpo(args, "rlvr", dataset, [outcome_reward_func], evaluate_modes=("solution",), callbacks=callbacks)


def train_cell(cell: Cell, control: bool = False) -> TrainResult:
    """RLVR in a comparison: GRPO on the hard problems' whole solutions with the verifier's 0/1 reward.

    ``control``: the comparison's negative control (``control-rlvr``): the same RLVR on problems of the level
    above the training one, whose solutions the base never samples, so no group has a reward to learn from.
    """
    config = cell.config
    options = cell_options(cell)
    if control:
        options["difficulty"] = config.train_difficulty + 1
    return train(
        Args(
            run_dir=str(cell.run_dir / ("control" if control else "rlvr")),
            total_updates=config.updates,
            learning_rate=config.learning_rate("rlvr", cell.model),
            max_new_tokens=solution_tokens(cell, options["difficulty"]),
            **grpo_cell_options(cell),
            **options,
        )
    )


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Command line: ``srl-gym train rlvr --help``."""
    return run_cli(Args, train, argv, prog)


if __name__ == "__main__":
    sys.exit(main())
