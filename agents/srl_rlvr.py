"""SRL -> RLVR: SRL first, then outcome-reward GRPO from its final checkpoint (the paper's best pipeline).

Deng et al., 2025, arXiv:2510.25992, Table 1: SRL -> RLVR 28.3 average against SRL 27.6 and RLVR
24.5. Stage 1 runs `srl_gym.agents.srl` in ``RUN_DIR/srl``; stage 2 runs `srl_gym.agents.rlvr`
in ``RUN_DIR/rlvr`` starting from stage 1's final model. Both stages share the GRPO options
given here; ``--resume true`` resumes whichever stage was interrupted (a finished SRL stage is
not trained again). The returned checkpoints are both stages', with budgets counted from the
start of stage 1.

Run: ``srl-gym train srl-rlvr --model runs/sft/checkpoints/checkpoint-100 --run-dir runs/srl-rlvr``.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from srl_gym.algorithms import Cell, Checkpoint, TrainResult
from srl_gym.runs import run_cli

from . import rlvr, srl
from .grpo import GRPOArgs
from .lm_common import cell_options, grpo_cell_options, solution_tokens, step_tokens
from .trl_common import saved_checkpoints


@dataclass
class Args(GRPOArgs):
    """SRL then RLVR from the SRL model; ``total_updates`` and ``max_new_tokens`` are SRL's."""

    run_dir: str = field(default="runs/srl-rlvr", metadata={"help": "the run directory: srl/ and rlvr/ inside"})
    rlvr_updates: int = field(default=100, metadata={"help": "GRPO updates of the RLVR stage"})
    rlvr_max_new_tokens: int = field(default=256, metadata={"help": "longest whole-solution completion in RLVR"})
    rlvr_learning_rate: float | None = field(
        default=None, metadata={"help": "learning rate of the RLVR stage (default: learning_rate)"}
    )

    def validate(self) -> None:
        super().validate()
        if self.rlvr_updates < 1 or self.rlvr_max_new_tokens < 1:
            raise ValueError("rlvr_updates and rlvr_max_new_tokens must be >= 1")


def stage_args(args: Args) -> tuple[srl.Args, rlvr.Args]:
    """The two stages' arguments (RLVR's model is filled in once SRL has finished)."""
    shared = {f.name: getattr(args, f.name) for f in dataclasses.fields(GRPOArgs)}
    root = Path(args.run_dir)
    first = srl.Args(**(shared | {"run_dir": str(root / "srl")}))
    second = rlvr.Args(
        **(
            shared
            | {
                "run_dir": str(root / "rlvr"),
                "total_updates": args.rlvr_updates,
                "max_new_tokens": args.rlvr_max_new_tokens,
                "learning_rate": args.rlvr_learning_rate or args.learning_rate,
            }
        )
    )
    return first, second


def train(args: Args) -> TrainResult:
    """Run SRL, then RLVR from its model; return both stages' checkpoints and metrics (``srl/...``, ``rlvr/...``)."""
    args.validate()
    first, second = stage_args(args)
    stage1 = Path(first.run_dir)
    finished = saved_checkpoints(stage1) if args.resume else []
    if finished and finished[-1].budget.get("updates") == first.total_updates:  # SRL is done: go on with RLVR
        srl_result = TrainResult(finished, {})
    else:
        srl_result = srl.train(first)
    second = dataclasses.replace(second, model=srl_result.model_dir, resume=args.resume and _started(second))
    rlvr_result = rlvr.train(second)
    offset = srl_result.final.budget
    checkpoints = srl_result.checkpoints + [
        Checkpoint(c.path, {k: v + offset.get(k, 0.0) for k, v in c.budget.items()}) for c in rlvr_result.checkpoints
    ]
    metrics = {f"srl/{k}": v for k, v in srl_result.metrics.items()}
    metrics |= {f"rlvr/{k}": v for k, v in rlvr_result.metrics.items()}
    return TrainResult(checkpoints, metrics | {"model_dir": rlvr_result.model_dir})


def _started(stage: rlvr.Args) -> bool:
    return (Path(stage.run_dir) / "config.json").is_file()


def train_cell(cell: Cell) -> TrainResult:
    """SRL -> RLVR in a comparison: half the updates SRL, then half RLVR from the SRL model."""
    config = cell.config
    first = max(config.updates // 2, 1)
    return train(
        Args(
            run_dir=str(cell.run_dir / "srl-rlvr"),
            total_updates=first,
            rlvr_updates=max(config.updates - first, 1),
            learning_rate=config.learning_rate("srl", cell.model),
            rlvr_learning_rate=config.learning_rate("rlvr", cell.model),
            max_new_tokens=step_tokens(cell),
            rlvr_max_new_tokens=solution_tokens(cell),
            **grpo_cell_options(cell),
            **cell_options(cell),
        )
    )


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Command line: ``srl-gym train srl-rlvr --help``."""
    return run_cli(Args, train, argv, prog)


if __name__ == "__main__":
    sys.exit(main())
