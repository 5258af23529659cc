"""Steps and trajectories: plain dataclasses with a JSONL round-trip, and a solution splitter.

A trajectory is what the SRL paper learns from: the problem text, the expert's ordered steps and
the final answer. One JSONL line holds one trajectory::

    {"problem": "...", "steps": ["...", "..."], "answer": "42"}

``steps`` may also be a list of ``{"text": ..., "action": ...}`` objects; a line may give a raw
``"solution"`` string instead of ``"steps"``, cut into steps by `split_solution`.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SPLIT_MODES = ("auto", "numbered", "step", "paragraph", "lines")


@dataclass(frozen=True)
class Step:
    """One reasoning step: its text and, when a task produced it, its structured action."""

    text: str
    action: Any = None


@dataclass
class Trajectory:
    """A problem, the expert's steps and the final answer (``meta`` is free-form)."""

    problem: str
    steps: list[Step]
    answer: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def step_texts(self) -> list[str]:
        return [s.text for s in self.steps]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["steps"] = [
            s.text if s.action is None else {"text": s.text, "action": _jsonable(s.action)} for s in self.steps
        ]
        if not self.meta:
            out.pop("meta")
        return out

    @classmethod
    def from_dict(cls, row: Any, split: str = "auto") -> Trajectory:
        """Build a trajectory from one JSON object; raise ``ValueError`` saying what is wrong."""
        if not isinstance(row, dict):
            raise ValueError(f"expected a JSON object, got {type(row).__name__}")
        problem = row.get("problem")
        if not isinstance(problem, str) or not problem.strip():
            raise ValueError("'problem' must be a non-empty string")
        if "steps" in row:
            raw = row["steps"]
            if not isinstance(raw, list):
                raise ValueError("'steps' must be a list of strings or {'text': ...} objects")
            steps = [_step_from_json(s, i) for i, s in enumerate(raw)]
        elif isinstance(row.get("solution"), str):
            steps = [Step(t) for t in split_solution(row["solution"], split)]
        else:
            raise ValueError("give 'steps' (a list) or 'solution' (a string to split into steps)")
        if not steps:
            raise ValueError("a trajectory needs at least one step")
        answer = row.get("answer")
        if answer is not None and not isinstance(answer, (str, int, float)):
            raise ValueError("'answer' must be a string or a number")
        meta = row.get("meta") or {}
        if not isinstance(meta, dict):
            raise ValueError("'meta' must be an object")
        return cls(problem=problem, steps=steps, answer=None if answer is None else str(answer), meta=meta)


def _step_from_json(value: Any, index: int) -> Step:
    if isinstance(value, str) and value.strip():
        return Step(value)
    if isinstance(value, dict) and isinstance(value.get("text"), str) and value["text"].strip():
        return Step(value["text"], value.get("action"))
    raise ValueError(f"step {index} must be a non-empty string or an object with a non-empty 'text'")


def _jsonable(value: Any) -> Any:
    """``value`` as JSON can hold it: tuples and lists as lists, dicts with string keys, and any other
    non-JSON value (a `fractions.Fraction` of Arithmetic, a numpy integer) as its ``str``."""
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    return str(value)


def read_jsonl(path: str | os.PathLike, split: str = "auto") -> list[Trajectory]:
    """Read trajectories from a JSONL file; a malformed line raises ``ValueError`` naming it.

    Blank lines are skipped. ``split`` is the `split_solution` mode for rows with a raw
    ``"solution"``.
    """
    if split not in SPLIT_MODES:
        raise ValueError(f"split must be one of {SPLIT_MODES}, got {split!r}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no trajectory file at {path}")
    out = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                out.append(Trajectory.from_dict(json.loads(line), split))
            except (json.JSONDecodeError, ValueError) as exc:
                raise ValueError(f"{path}:{number}: {exc}") from None
    if not out:
        raise ValueError(f"{path} holds no trajectories")
    return out


def write_jsonl(trajectories: Iterable[Trajectory], path: str | os.PathLike) -> int:
    """Write trajectories as JSONL atomically (a temp file renamed over ``path``); return the count."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a directory; give the JSONL file's path, e.g. {path / 'trajectories.jsonl'}")
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would make the file private, unlike any other written file
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for traj in trajectories:
                f.write(json.dumps(traj.to_dict(), ensure_ascii=False) + "\n")
                count += 1
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return count


_STEP_HEADER = re.compile(r"^\s*(?:#+\s*)?\**step\s*\d+\s*[:.)]?\**\s*", re.IGNORECASE | re.MULTILINE)
_NUMBERED = re.compile(r"^\s*\d+[.)]\s+", re.MULTILINE)


def split_solution(solution: str, mode: str = "auto") -> list[str]:
    """Cut a worked solution into steps.

    Modes: ``"step"``: "Step N:" headers (also "**Step N.**", "## Step N"); ``"numbered"``: lines
    starting "1." or "1)"; ``"paragraph"``: blank-line separated blocks; ``"lines"``: one step per
    non-empty line; ``"auto"``: the first of step, numbered, paragraph that gives two or more
    steps, else lines. Text before the first header or number is kept as a step of its own.
    Headers and numbers are removed from the steps.
    """
    if mode not in SPLIT_MODES:
        raise ValueError(f"mode must be one of {SPLIT_MODES}, got {mode!r}")
    if mode == "auto":
        for candidate in ("step", "numbered", "paragraph"):
            steps = split_solution(solution, candidate)
            if len(steps) >= 2:
                return steps
        return split_solution(solution, "lines")
    if mode == "paragraph":
        parts = re.split(r"\n\s*\n", solution)
    elif mode == "lines":
        parts = solution.splitlines()
    else:
        pattern = _STEP_HEADER if mode == "step" else _NUMBERED
        parts = pattern.split(solution)
    return [" ".join(p.split()) for p in parts if p.strip()]


def iter_expert_trajectories(task: Any, seeds: Iterable[int], split: str = "train") -> Iterator[Trajectory]:
    """Expert trajectories of ``task`` for each seed (a seed gives the same problem as ``env.reset(seed)``)."""
    from srl_gym.env import ReasoningEnv

    env = ReasoningEnv(task, split=split)
    for seed in seeds:
        env.reset(seed=seed)
        problem = env.problem
        steps = [Step(text, action) for _, action, text in env.expert_steps]
        final = task.apply(env.expert_steps[-1][0], env.expert_steps[-1][1])
        # A task with a reference answer (math, logic) gives it; a planning task's "answer" would be the
        # plan itself, which srl/Trajectories-v0 would compare with the last step and never match.
        answer = task.answer(problem, final, [s.text for s in steps]) if problem.answer is not None else None
        yield Trajectory(problem.text, steps, answer, {"seed": seed, "difficulty": task.difficulty, "split": split})
