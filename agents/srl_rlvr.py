"""SRL -> RLVR: SRL first, then outcome-reward GRPO from its final checkpoint (the paper's best pipeline).

Deng et al., 2025, arXiv:2510.25992, Table 1: SRL -> RLVR 28.3 average against SRL 27.6 and RLVR
24.5. Stage 1 runs `srl_gym.agents.srl` in ``RUN_DIR/srl``; stage 2 runs `srl_gym.agents.rlvr`
in ``RUN_DIR/rlvr`` starting from stage 1's final model. Both stages share the GRPO options
given here; ``--resume true`` resumes whichever stage was interrupted (a finished SRL stage is
not trained again).

Run: ``srl-gym train srl-rlvr --model runs/sft/checkpoints/update-0000100/model --run-dir runs/srl-rlvr``.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srl_gym.runs import run_cli

from . import rlvr, srl
from .grpo import GRPOArgs


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


def train(args: Args) -> dict[str, Any]:
    """Run SRL, then RLVR from its model; return both stages' metrics (``srl/...``, ``rlvr/...``)."""
    args.validate()
    first, second = stage_args(args)
    srl_metrics = srl.train(first)
    second = dataclasses.replace(second, model=srl_metrics["model_dir"])
    rlvr_metrics = rlvr.train(second)
    out = {f"srl/{k}": v for k, v in srl_metrics.items()} | {f"rlvr/{k}": v for k, v in rlvr_metrics.items()}
    return out | {"model_dir": rlvr_metrics["model_dir"]}


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Command line: ``srl-gym train srl-rlvr --help``."""
    return run_cli(Args, train, argv, prog)


if __name__ == "__main__":
    sys.exit(main())
