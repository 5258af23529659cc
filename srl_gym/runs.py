"""Run directories for the trainers: config, metrics, TensorBoard, progress bar, checkpoints, resume.

A run directory holds::

    config.json          the run's arguments (a rerun with different ones is refused)
    metrics.jsonl        one JSON object per log call: {"step": ..., "time": ..., "train/loss": ...}
    events.out.tfevents* TensorBoard scalars, when tensorboard is installed
    checkpoints/update-0000040/
        model/                 model and tokenizer (save_pretrained: a loadable model directory)
        training_state.pt      optimizer, scheduler and RNG states
        trainer_state.json     the step counters and anything else the trainer keeps

Checkpoints are written to a temporary folder and renamed into place (``os.replace``), so an
interrupt never leaves a half-written one; `Run.latest_checkpoint` is the newest complete one.
``resume=True`` continues from it: metrics logged after it are dropped (they are recomputed), so
``metrics.jsonl`` stays one line per step. Metric names are namespaced: ``train/``,
``rollout/``, ``eval/``.

This module needs torch only when a checkpoint is saved or loaded.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from srl_gym.config import parse_config

CHECKPOINT_PREFIX = "update-"
#: Config fields that a resumed run may change (how long to train, how often to report, where).
RESUMABLE_CHANGES = frozenset(
    {"resume", "force", "device", "progress", "tensorboard", "total_updates", "epochs", "eval_every"}
    | {"checkpoint_every", "keep_checkpoints", "max_updates"}
)


@dataclass
class RunArgs:
    """Options every trainer shares: where the run lives, seeding, checkpoints and reporting."""

    run_dir: str = field(default="runs/run", metadata={"help": "the run directory (config, metrics, checkpoints)"})
    seed: int = field(default=0, metadata={"help": "seed of everything: the same seed gives the same run on CPU"})
    device: str | None = field(default=None, metadata={"help": "cpu, cuda, ...; default cuda when available"})
    resume: bool = field(default=False, metadata={"help": "continue the run in run_dir from its latest checkpoint"})
    force: bool = field(default=False, metadata={"help": "delete whatever run_dir holds and start over"})
    checkpoint_every: int = field(
        default=50, metadata={"help": "save a checkpoint every N updates (0: only at the end)"}
    )
    keep_checkpoints: int = field(default=2, metadata={"help": "checkpoints kept (older ones are deleted)"})
    tensorboard: bool = field(default=True, metadata={"help": "also write TensorBoard scalars (if installed)"})
    progress: bool = field(default=True, metadata={"help": "show a progress bar"})

    def validate(self) -> None:
        for name in ("checkpoint_every",):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.keep_checkpoints < 1:
            raise ValueError(f"keep_checkpoints must be >= 1, got {self.keep_checkpoints}")
        if self.resume and self.force:
            raise ValueError("give resume or force, not both")


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    return json.loads(json.dumps(value, default=str))


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, flush it to disk, rename it over ``path``.

    A reader (or a crash) never sees a half-written file: it sees the old contents or the new.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_json_lines(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The JSON rows of a log file, one per line; [] if it is missing; a line cut short by a crash is skipped."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return rows


def write_json_atomic(path: str | os.PathLike, data: Any) -> None:
    """`atomic_write_text` of ``data`` as indented JSON (non-finite floats become strings)."""
    atomic_write_text(path, json.dumps(_jsonable(data), indent=2) + "\n")


def prepare_run_dir(directory: str | os.PathLike, config: Any, algorithm: str, *, resume: bool, force: bool) -> Path:
    """Check a run folder against this run's config and write ``config.json``; return the folder.

    - empty or missing: start;
    - ``force``: delete what it holds first (refused for a folder that is not a run folder);
    - it holds this run: ``resume`` continues it; without ``resume`` it is an error naming both flags;
    - it holds a run with another config: an error naming the differing fields, unless ``resume``
      and they are all in `RESUMABLE_CHANGES`.
    """
    folder = Path(directory)
    stored = {"algorithm": algorithm, "config": _jsonable(config)}
    config_path = folder / "config.json"
    if force and folder.exists():
        if not config_path.is_file() and any(folder.iterdir()):
            raise ValueError(f"{folder} is not a run directory (no config.json); refusing to delete it")
        shutil.rmtree(folder)
    if config_path.is_file():
        old = json.loads(config_path.read_text(encoding="utf-8"))
        changed = _differences(old, stored)
        if changed and not (resume and set(changed) <= RESUMABLE_CHANGES):
            raise ValueError(
                f"{folder} holds a run with a different config ({', '.join(sorted(changed))} differ); "
                "use another run_dir, or --force true to delete it and start over"
            )
        holds_run = (folder / "metrics.jsonl").exists() or any((folder / "checkpoints").glob("*"))
        if not resume and holds_run:
            raise ValueError(
                f"{folder} already holds this run; --resume true continues it from its latest checkpoint, "
                "--force true deletes it and starts over"
            )
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(config_path, json.dumps(stored, indent=2) + "\n")
    return folder


class Run:
    """One training run's directory, metrics and checkpoints.

    Args:
        directory: the run directory (created if missing).
        config: the run's arguments (a dataclass or a dict), written to ``config.json``.
        algorithm: stored beside the config (``"sft"``, ``"srl"``...).
        resume: continue from the latest checkpoint; the config may differ only in
            `RESUMABLE_CHANGES`.
        force: delete the directory's contents first.
        total: the number of updates, for the progress bar.
        tensorboard, progress: also write TensorBoard scalars; show a tqdm bar.

    Raises:
        ValueError: the directory holds a run with another config (and neither ``force`` nor a
            resumable difference), or holds one already and ``resume`` was not given.
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        config: Any,
        algorithm: str,
        *,
        resume: bool = False,
        force: bool = False,
        total: int | None = None,
        tensorboard: bool = True,
        progress: bool = True,
    ) -> None:
        self.dir = Path(directory)
        self.checkpoints = self.dir / "checkpoints"
        self.metrics_path = self.dir / "metrics.jsonl"
        stored = {"algorithm": algorithm, "config": _jsonable(config)}
        config_path = self.dir / "config.json"
        if force and self.dir.exists():
            if not config_path.is_file() and any(self.dir.iterdir()):
                raise ValueError(f"{self.dir} is not a run directory (no config.json); refusing to delete it")
            shutil.rmtree(self.dir)
        if config_path.is_file():
            old = json.loads(config_path.read_text(encoding="utf-8"))
            changed = _differences(old, stored)
            if changed and not (resume and set(changed) <= RESUMABLE_CHANGES):
                raise ValueError(
                    f"{self.dir} holds a run with a different config ({', '.join(sorted(changed))} differ); "
                    "use another run_dir, or --force true to delete it and start over"
                )
            if not resume and (self.latest_checkpoint() is not None or self.metrics_path.exists()):
                raise ValueError(
                    f"{self.dir} already holds this run; --resume true continues it from its latest checkpoint, "
                    "--force true deletes it and starts over"
                )
        self.dir.mkdir(parents=True, exist_ok=True)
        self.checkpoints.mkdir(exist_ok=True)
        if resume and self.latest_checkpoint() is None:  # nothing to resume: start over cleanly
            self.metrics_path.unlink(missing_ok=True)
        for stale in self.checkpoints.glob(".tmp-*"):  # left by a kill in the middle of a save
            shutil.rmtree(stale, ignore_errors=True)
        atomic_write_text(config_path, json.dumps(stored, indent=2) + "\n")
        self.start_time = time.time()
        self._writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._writer = SummaryWriter(str(self.dir))
            except ImportError:  # tensorboard is optional
                self._writer = None
        self._bar = None
        if progress:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=f"{algorithm} {self.dir.name}", unit="update", dynamic_ncols=True)

    # ------------------------------------------------------------------ metrics
    def log(self, step: int, metrics: dict[str, float]) -> None:
        """Append ``metrics`` at ``step`` to metrics.jsonl (and TensorBoard)."""
        row = {"step": int(step), "time": round(time.time() - self.start_time, 3)}
        row |= {k: _plain(v) for k, v in metrics.items()}
        with self.metrics_path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        if self._writer is not None:
            for key, value in row.items():
                if key not in ("step", "time") and isinstance(value, (int, float)) and math.isfinite(value):
                    self._writer.add_scalar(key, value, int(step))

    def advance(self, step: int, postfix: dict[str, float] | None = None) -> None:
        """Move the progress bar to ``step`` and show the key numbers."""
        if self._bar is None:
            return
        self._bar.update(step - self._bar.n)
        if postfix:
            self._bar.set_postfix({k.split("/")[-1]: f"{v:.3g}" for k, v in postfix.items()}, refresh=False)

    def read_metrics(self) -> list[dict[str, Any]]:
        """Every row of metrics.jsonl."""
        if not self.metrics_path.is_file():
            return []
        return [json.loads(line) for line in self.metrics_path.read_text(encoding="utf-8").splitlines() if line]

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ checkpoints
    def checkpoint_path(self, step: int) -> Path:
        return self.checkpoints / f"{CHECKPOINT_PREFIX}{step:07d}"

    def latest_checkpoint(self) -> Path | None:
        """The newest complete checkpoint, or None."""
        if not self.checkpoints.is_dir():
            return None
        found = sorted(p for p in self.checkpoints.glob(f"{CHECKPOINT_PREFIX}*") if p.is_dir())
        return found[-1] if found else None

    def save_checkpoint(
        self,
        step: int,
        model: Any,
        tokenizer: Any,
        optimizer: Any = None,
        scheduler: Any = None,
        state: dict[str, Any] | None = None,
        keep: int = 2,
    ) -> Path:
        """Write a checkpoint of ``step`` atomically and delete all but the newest ``keep``."""
        import torch

        final = self.checkpoint_path(step)
        tmp = self.checkpoints / f".tmp-{final.name}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        model.save_pretrained(tmp / "model")
        tokenizer.save_pretrained(tmp / "model")
        torch.save(
            {
                "optimizer": None if optimizer is None else optimizer.state_dict(),
                "scheduler": None if scheduler is None else scheduler.state_dict(),
                "rng": rng_states(),
            },
            tmp / "training_state.pt",
        )
        (tmp / "trainer_state.json").write_text(json.dumps({"step": int(step), **(state or {})}, indent=2) + "\n")
        if final.exists():  # the same step saved again (e.g. an interrupt right after a save)
            shutil.rmtree(final)
        os.replace(tmp, final)
        found = sorted(p for p in self.checkpoints.glob(f"{CHECKPOINT_PREFIX}*") if p.is_dir())
        for old in found[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
        return final

    def load_checkpoint(self, path: Path, optimizer: Any = None, scheduler: Any = None) -> dict[str, Any]:
        """Restore optimizer, scheduler and RNG states from ``path``; return its trainer state.

        The model itself is loaded by the trainer from ``path / "model"``. Metrics logged after the
        checkpoint's step are dropped, since the resumed run logs those steps again.
        """
        import torch

        saved = torch.load(path / "training_state.pt", map_location="cpu", weights_only=False)
        if optimizer is not None and saved["optimizer"] is not None:
            optimizer.load_state_dict(saved["optimizer"])
        if scheduler is not None and saved["scheduler"] is not None:
            scheduler.load_state_dict(saved["scheduler"])
        set_rng_states(saved["rng"])
        state = json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
        rows = [r for r in self.read_metrics() if r["step"] <= state["step"]]
        atomic_write_text(self.metrics_path, "".join(json.dumps(r) + "\n" for r in rows))
        return state


def _differences(old: dict, new: dict) -> list[str]:
    if old.get("algorithm") != new.get("algorithm"):
        return ["algorithm"]
    a, b = old.get("config", {}), new.get("config", {})
    return [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return value


# ---------------------------------------------------------------------- seeding
def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (all of torch's devices)."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def derived_seed(*parts: int) -> int:
    """A seed derived from integers (run seed, update, round...), stable across processes."""
    value = 0x9E3779B97F4A7C15
    for part in parts:
        value = (value * 6364136223846793005 + int(part) + 1442695040888963407) % 2**63
    return value


def rng_states() -> dict[str, Any]:
    """The global RNG states (Python, NumPy, torch CPU and CUDA), for a checkpoint."""
    import torch

    states: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    """Restore what `rng_states` returned."""
    import torch

    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def run_cli(args_class: type, train: Any, argv: Sequence[str] | None, prog: str | None) -> int:
    """The command line of a training algorithm: parse ``args_class`` flags, ``train``, print the metrics.

    Ctrl-C exits with 130 and says how to resume (finished checkpoints are kept).
    """
    args = parse_config(args_class, argv, prog=prog)
    try:
        metrics = train(args)
    except KeyboardInterrupt:
        print(f"interrupted; continue with --resume true --run-dir {args.run_dir}", file=sys.stderr)
        return 130
    print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items()))
    return 0
