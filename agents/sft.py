"""SFT: supervised fine-tuning (cross-entropy) on the oracle expert's solutions, on TRL's ``SFTTrainer``.

The SFT baseline of the SRL paper (Deng et al., 2025, arXiv:2510.25992): next-token
cross-entropy on expert solutions, the loss only on the target's tokens (never the prompt), a
learning rate with linear warm-up over the first 30% of updates and cosine decay to zero. The data
are `srl_gym.datasets` prompt/completion rows; training, checkpoints and resume are TRL's
(``SFTTrainer`` with ``completion_only_loss``) on transformers' ``Trainer``.

- ``--mode solution`` (default, the paper's): the prompt is the problem, the target the whole
  expert solution ("Step k: ..." lines) after an empty ``<think></think>``; evaluation asks for
  whole solutions on the test split and checks them with the task's verifier.
- ``--mode step``: the SRL instances ``[problem, y_1..y_{k-1}] -> y_k`` as targets; evaluation
  plays the test split step by step with `srl_gym.evaluate` (the model's own steps are applied).
- ``--mode both``: the union, a warm-up that teaches a model both prompt formats before SRL
  (step-wise) or RLVR (whole solutions); evaluation reports whole-solution success and the
  held-out step similarity.

Paper (Qwen2.5-7B-Instruct, 1,000 problems): lr 5e-6, batch 64, 3 epochs, bf16. The defaults here
are scaled for the tiny character model trained from scratch on a CPU (it knows nothing, so it
needs a learning rate ~100x larger and more epochs); for a pretrained model such as
SmolLM2-135M use ``--learning-rate 1e-5`` or lower.

Run: ``srl-gym train sft --env-id srl/Hanoi-v0 --run-dir runs/sft``; on several GPUs or CPU
processes: ``accelerate launch -m srl_gym train sft ...``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from srl_gym.algorithms import Cell, TrainResult
from srl_gym.runs import run_cli

from .lm_common import LMArgs, check_lengths, evaluate_lm_run, load_for_training, task_rows
from .trl_common import open_run, quiet_trainer, require_trl, run_trainer, training_arguments


@dataclass
class Args(LMArgs):
    """Supervised fine-tuning on expert solutions (the SFT baseline)."""

    run_dir: str = field(default="runs/sft", metadata={"help": "the run directory (config, metrics, checkpoints)"})
    mode: Literal["solution", "step", "both"] = field(
        default="solution",
        metadata={"help": "targets: whole solutions (the paper's SFT), single steps, or both (a warm-up for SRL/RLVR)"},
    )
    epochs: int = field(default=30, metadata={"help": "passes over the data (paper: 3, for a pretrained 7B model)"})
    max_updates: int | None = field(default=None, metadata={"help": "stop after this many updates (default: all)"})
    batch_size: int = field(default=16, metadata={"help": "examples per update (paper: 64)"})
    learning_rate: float = field(
        default=2e-3, metadata={"help": "peak learning rate (paper: 5e-6; 2e-3 suits the tiny model from scratch)"}
    )
    warmup_ratio: float = field(default=0.3, metadata={"help": "share of updates with linear warm-up (paper: 0.3)"})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay"})
    max_grad_norm: float = field(default=1.0, metadata={"help": "gradient clipping norm"})
    max_new_tokens: int = field(default=256, metadata={"help": "longest completion at evaluation"})

    def validate(self) -> None:
        super().validate()
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_updates is not None and self.max_updates < 1:
            raise ValueError(f"max_updates must be >= 1 or None, got {self.max_updates}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")


def total_updates(args: Args, examples: int) -> int:
    """Updates of a run: ``epochs`` passes over ``examples`` in batches, capped by ``max_updates``."""
    total = math.ceil(examples / args.batch_size) * args.epochs
    return min(total, args.max_updates) if args.max_updates is not None else total


def train(args: Args, data: Any = None) -> TrainResult:
    """Run SFT; return its checkpoints (with budgets) and final metrics (``eval/...``).

    ``data``: your own ``prompt``/``completion`` rows (a `datasets.Dataset`, e.g. several levels'
    `srl_gym.datasets` rows joined) instead of the rows that ``args`` describe; the held-out
    evaluation still follows ``args``.
    """
    args.validate()
    require_trl()
    from datasets import concatenate_datasets
    from trl import SFTConfig, SFTTrainer

    run_dir = open_run(args, "sft")
    model, tokenizer = load_for_training(args)
    kinds = {"solution": ("solution",), "step": ("step",), "both": ("solution", "step")}[args.mode]
    if data is None:
        parts = [task_rows(args, tokenizer, k).select_columns(["prompt", "completion"]) for k in kinds]
        data = concatenate_datasets(parts)
    check_lengths(tokenizer, data, args.max_length)
    max_steps = total_updates(args, len(data))
    config = SFTConfig(
        **training_arguments(args, run_dir=run_dir, max_steps=max_steps, learning_rate=args.learning_rate),
        per_device_train_batch_size=args.batch_size,
        lr_scheduler_type="cosine",
        warmup_steps=args.warmup_ratio,  # < 1: a share of max_steps
        weight_decay=args.weight_decay,
        max_grad_norm=args.max_grad_norm,
        max_length=args.max_length,
        completion_only_loss=True,
        packing=False,
        include_num_input_tokens_seen="non_padding",
        dataset_num_proc=None,
    )
    trainer = SFTTrainer(model=model, args=config, train_dataset=data, processing_class=tokenizer)
    quiet_trainer(trainer, args)

    def budget(state: Any) -> dict[str, float]:
        return {"updates": float(state.global_step), "gradient_updates": float(state.global_step),
                "generated_tokens": 0.0, "trained_tokens": float(state.num_input_tokens_seen)}  # fmt: skip

    modes = {"solution": ("solution",), "step": ("agent",), "both": ("solution", "step")}[args.mode]
    evaluate = evaluate_lm_run(args, tokenizer, modes)
    return run_trainer(trainer, args, run_dir, budget=budget, evaluate=evaluate)


def train_cell(cell: Cell, control: bool = False) -> TrainResult:
    """SFT in a comparison: cross-entropy on the hard problems' whole expert solutions (the paper's SFT).

    ``control``: the comparison's positive control (``control-sft``): ``control_updates`` updates at
    ``control_learning_rate``, a training known to move the base, instead of the contenders' budget and rate.
    """
    from .lm_common import cell_options, solution_tokens

    config = cell.config
    stage = "control" if control else "sft"
    updates = config.control_updates if control else config.updates
    return train(
        Args(
            run_dir=str(cell.run_dir / stage),
            mode="solution",
            epochs=10**6,  # bounded by max_updates
            max_updates=updates,
            batch_size=config.sft_batch_size,
            learning_rate=config.learning_rate(stage, cell.model),
            max_new_tokens=solution_tokens(cell),
            **cell_options(cell, updates),
        )
    )


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Command line: ``srl-gym train sft --help``."""
    return run_cli(Args, train, argv, prog)


if __name__ == "__main__":
    sys.exit(main())
