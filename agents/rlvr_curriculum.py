"""RLVR with a curriculum: outcome-reward GRPO that climbs the task's levels up to the training one.

The remedy an RL practitioner reaches for first when outcome rewards are too rare at the level
that matters (the SRL paper does not compare with it; issue 19 asks for it): train RLVR on an
easier level, where the model's samples are sometimes right, and move up as it masters each one.

The schedule is adaptive, with a rule fixed before any run (`LevelUp`):

1. Start at ``start_difficulty`` (default 0, the easiest level).
2. After every update, take the model's **sampled success** on the current level: TRL's logged
   ``reward``, the mean 0/1 outcome reward of every rollout sampled in the update (all dynamic
   sampling rounds, dropped groups included). When its mean over the last ``window`` updates is
   at least ``threshold``, the level ends there (a checkpoint is saved) and the next level starts
   from that model.
3. The training level (``difficulty``) is the last: it gets whatever budget is left.

The budget is plain RLVR's: ``total_updates`` over all levels together, with the same batch,
group, learning rate and dynamic sampling. Each level is an `srl_gym.agents.rlvr` run in
``RUN_DIR/level-L``; ``RUN_DIR/curriculum.json`` records each finished level (updates, why it
ended) and is rewritten atomically, so ``--resume true`` skips the finished levels and resumes
the interrupted one. The returned checkpoints are every level's, with budgets counted from the
start. If a level passes the threshold but the budget ends with it, training ends there.

Run: ``srl-gym train rlvr-curriculum --model tiny-longmul --env-id srl/LongMultiplication-v0 --difficulty 1``.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srl_gym.algorithms import Cell, Checkpoint, TrainResult
from srl_gym.runs import run_cli, write_json_atomic

from . import rlvr
from .lm_common import cell_options, grpo_cell_options, solution_tokens
from .trl_common import saved_checkpoints

#: The record of the finished levels in the run directory.
RECORD = "curriculum.json"


@dataclass
class Args(rlvr.Args):
    """RLVR from ``start_difficulty`` up to ``difficulty`` (the training level), moving up by a fixed rule."""

    run_dir: str = field(default="runs/rlvr-curriculum", metadata={"help": "the run directory: level-L/ inside"})
    start_difficulty: int = field(default=0, metadata={"help": "the first level of the curriculum (below difficulty)"})
    threshold: float = field(
        default=0.5, metadata={"help": "move up when the mean sampled success of the last WINDOW updates is >= this"}
    )
    window: int = field(default=2, metadata={"help": "updates whose sampled success is averaged (>= 1)"})

    def validate(self) -> None:
        super().validate()
        if self.difficulty < 1:
            raise ValueError(f"a curriculum needs a level below the training one; difficulty={self.difficulty} is the "
                             "task's easiest level: train plain rlvr, or a higher difficulty")  # fmt: skip
        if not 0 <= self.start_difficulty < self.difficulty:
            raise ValueError(f"start_difficulty must be a level below difficulty (0..{self.difficulty - 1}), "
                             f"got {self.start_difficulty}")  # fmt: skip
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"threshold is a sampled success rate in (0, 1], got {self.threshold}")
        if self.window < 1:
            raise ValueError(f"window must be >= 1, got {self.window}")


def level_up(threshold: float, window: int) -> Any:
    """A ``TrainerCallback`` that ends training once the mean logged ``reward`` of the last ``window`` updates is
    ``>= threshold``, saving a checkpoint of that update (its ``passed`` says whether it did)."""
    from transformers import TrainerCallback

    class LevelUp(TrainerCallback):
        def __init__(self) -> None:
            self.rewards: list[float] = []
            self.passed = False

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not logs or "reward" not in logs:
                return
            self.rewards.append(float(logs["reward"]))
            recent = self.rewards[-window:]
            if len(recent) == window and sum(recent) / window >= threshold:
                self.passed = True
                control.should_training_stop = True
                control.should_save = True  # the Trainer saves right after on_log, before it stops

    return LevelUp()


def _stage(args: Args, level: int, model: str, updates: int) -> rlvr.Args:
    shared = {f.name: getattr(args, f.name) for f in dataclasses.fields(rlvr.Args)}
    return rlvr.Args(**(shared | {"run_dir": str(Path(args.run_dir) / f"level-{level}"), "difficulty": level,
                                  "model": model, "total_updates": updates}))  # fmt: skip


def train(args: Args) -> TrainResult:
    """Run the curriculum; return every level's checkpoints (budgets from the start) and per-level metrics."""
    args.validate()
    root = Path(args.run_dir)
    record_path = root / RECORD
    finished: list[dict[str, Any]] = []
    if args.resume and record_path.is_file():
        finished = json.loads(record_path.read_text(encoding="utf-8"))["levels"]
    elif not args.resume:
        record_path.unlink(missing_ok=True)
    model, spent, checkpoints = args.model, {}, []
    metrics: dict[str, Any] = {}
    for level in range(args.start_difficulty, args.difficulty + 1):
        done = next((r for r in finished if r["level"] == level), None)
        left = args.total_updates - int(spent.get("updates", 0))
        if left <= 0:
            break
        stage = _stage(args, level, model, left)
        if done is not None:
            result = TrainResult(saved_checkpoints(Path(stage.run_dir)), {})
            passed = done["passed"]
        else:
            watcher = level_up(args.threshold, args.window) if level < args.difficulty else None
            resume = args.resume and (Path(stage.run_dir) / "config.json").is_file()
            result = rlvr.train(dataclasses.replace(stage, resume=resume), callbacks=[watcher] if watcher else ())
            passed = bool(watcher and watcher.passed)
        offset = dict(spent)
        checkpoints += [Checkpoint(c.path, {k: v + offset.get(k, 0.0) for k, v in c.budget.items()})
                        for c in result.checkpoints]  # fmt: skip
        spent = checkpoints[-1].budget
        metrics |= {f"level-{level}/{k}": v for k, v in result.metrics.items()}
        if done is None:
            updates = int(result.final.budget.get("updates", 0))
            finished.append({"level": level, "updates": updates, "passed": passed, "run_dir": f"level-{level}"})
            write_json_atomic(record_path, {"threshold": args.threshold, "window": args.window, "levels": finished})
        model = result.model_dir
        if level < args.difficulty and not passed:  # the budget ended on a lower level
            break
    metrics["curriculum/levels"] = finished
    metrics["curriculum/reached"] = max(r["level"] for r in finished)
    return TrainResult(checkpoints, metrics | {"model_dir": checkpoints[-1].path})


def train_cell(cell: Cell) -> TrainResult:
    """The curriculum in a comparison: RLVR's budget, rate and GRPO settings, levels 0 up to the training level."""
    config = cell.config
    return train(
        Args(
            run_dir=str(cell.run_dir / "rlvr-curriculum"),
            total_updates=config.updates,
            learning_rate=config.learning_rate("rlvr", cell.model),
            max_new_tokens=solution_tokens(cell),  # the training level's: the longest
            **grpo_cell_options(cell),
            **cell_options(cell),
        )
    )


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Command line: ``srl-gym train rlvr-curriculum --help``."""
    return run_cli(Args, train, argv, prog)


if __name__ == "__main__":
    sys.exit(main())
