"""Run folders for the trainers: the shared options, the config check, atomic writes, the command line.

A run folder holds ``config.json`` (the run's arguments: a rerun with different ones is refused,
`prepare_run_dir`), the trainer's ``metrics.jsonl`` (namespaced ``train/``, ``rollout/``,
``eval/`` metrics) and its checkpoints. The language-model trainers keep Hugging Face
``Trainer`` checkpoints (`srl_gym.agents.trl_common`); the SB3 agents keep SB3 ``.zip`` files.
Everything here writes atomically (a temporary file, fsync, rename), so a crash never leaves a
half-written file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srl_gym.config import parse_config

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


def _differences(old: dict, new: dict) -> list[str]:
    if old.get("algorithm") != new.get("algorithm"):
        return ["algorithm"]
    a, b = old.get("config", {}), new.get("config", {})
    return [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


# ---------------------------------------------------------------------- seeding
def derived_seed(*parts: int) -> int:
    """A seed derived from integers (run seed, update, round...), stable across processes."""
    value = 0x9E3779B97F4A7C15
    for part in parts:
        value = (value * 6364136223846793005 + int(part) + 1442695040888963407) % 2**63
    return value


def run_cli(args_class: type, train: Any, argv: Sequence[str] | None, prog: str | None) -> int:
    """The command line of a training algorithm: parse ``args_class`` flags, ``train``, print the metrics.

    Ctrl-C exits with 130 and says how to resume (finished checkpoints are kept).
    """
    args = parse_config(args_class, argv, prog=prog)
    try:
        result = train(args)
    except KeyboardInterrupt:
        print(f"interrupted; continue with --resume true --run-dir {args.run_dir}", file=sys.stderr)
        return 130
    except (ValueError, ImportError, FileNotFoundError) as exc:  # bad input: the message names the fix
        print(f"{prog or args_class.__module__}: error: {exc}", file=sys.stderr)
        return 2
    metrics = getattr(result, "metrics", result)
    if _is_main_process():
        print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items()))
    return 0


def _is_main_process() -> bool:
    """False in the non-zero ranks of ``accelerate launch`` / torchrun (they print nothing)."""
    return os.environ.get("RANK", "0") == "0"
