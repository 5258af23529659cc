"""SRL: Supervised Reinforcement Learning, GRPO on step-wise instances with the similarity reward.

Deng et al., 2025, "Supervised Reinforcement Learning: From Expert Trajectories to Step-wise
Reasoning", arXiv:2510.25992. Each expert solution y_1..y_N becomes the instances
``[problem, y_1..y_{k-1}] -> y_k`` (`srl_gym.datasets.step_dataset`, read off the env with teacher
forcing). The model writes ``<think>...</think>`` and then only the next step; the reward is
``difflib.SequenceMatcher(None, step, expert_step).ratio()`` = 2M/T of the text after ``</think>``
(the monologue is never scored), and -1 for a completion without ``</think>`` or without a step
(`srl_gym.rewards.srl_reward_func`). TRL's GRPO with dynamic sampling optimises it
(`srl_gym.agents.grpo`).

The student must already follow the format or every reward is -1 (a stated limit of the paper):
start the tiny model from a short SFT warm-up (``--model runs/sft/checkpoints/checkpoint-100``).
Held-out evaluation: greedy steps on the test split's instances, scored the same way.

Run: ``srl-gym train srl --model runs/sft/checkpoints/checkpoint-100 --run-dir runs/srl``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from srl_gym.algorithms import Cell, TrainResult
from srl_gym.rewards import srl_reward_func
from srl_gym.runs import run_cli

from .grpo import GRPOArgs, named, train_grpo
from .lm_common import cell_options, grpo_cell_options, step_tokens, task_rows


@dataclass
class Args(GRPOArgs):
    """SRL: GRPO on step-wise instances with the step-similarity reward (arXiv:2510.25992)."""

    run_dir: str = field(default="runs/srl", metadata={"help": "the run directory (config, metrics, checkpoints)"})
    similarity: Literal["difflib", "lcs", "exact"] = field(
        default="difflib", metadata={"help": "step similarity: difflib (the paper's 2M/T), lcs or exact"}
    )
    require_think: bool = field(
        default=True, metadata={"help": "reward -1 without </think> or without a step (the paper's format rule)"}
    )


def train(args: Args) -> TrainResult:
    """Run SRL; return its checkpoints and final metrics (``eval/step_similarity``, ...)."""
    args.validate()

    def dataset(tokenizer: Any) -> Any:
        return task_rows(args, tokenizer, "step").remove_columns("completion")

    reward = named(srl_reward_func, "srl_reward", require_think=args.require_think, method=args.similarity)
    return train_grpo(args, "srl", dataset, [reward], evaluate_modes=("step",))


def train_cell(cell: Cell) -> TrainResult:
    """SRL in a comparison: GRPO on the hard problems' step-wise instances with the step-similarity reward."""
    config = cell.config
    return train(
        Args(
            run_dir=str(cell.run_dir / "srl"),
            total_updates=config.updates,
            learning_rate=config.learning_rate("srl", cell.model),
            max_new_tokens=step_tokens(cell),
            **grpo_cell_options(cell),
            **cell_options(cell),
        )
    )


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Command line: ``srl-gym train srl --help``."""
    return run_cli(Args, train, argv, prog)


if __name__ == "__main__":
    sys.exit(main())
