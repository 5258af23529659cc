"""How many distinct problems each task's levels hold, and which are large enough for a comparison.

A comparison trains on ``train_problems`` train-split seeds (1,000 by default) and refuses a level
whose seeds give fewer than 95% distinct problems (`MIN_DISTINCT_SHARE`). This
counts, per task and level, the distinct problems among the first ``seeds`` train-split seeds and
estimates the size of the level's train split from the repeats (the N whose expected number of
distinct values in ``seeds`` uniform draws, ``N (1 - (1 - 1/N)^seeds)``, is the count seen; a level
whose problems are not uniform is larger than that estimate says). Run::

    python -m srl_gym.problem_space                      # every task, 1,000 seeds (22 s on 2 cores)
    python -m srl_gym.problem_space --tasks Hanoi --seeds 5000
"""

from __future__ import annotations

import argparse
import functools
import math
import sys
from collections.abc import Sequence

from srl_gym.registration import TASKS, task_entry

#: Distinct problems below this share of the training seeds make a level too small for a comparison.
MIN_DISTINCT_SHARE = 0.95


@functools.lru_cache(maxsize=8)  # a comparison asks for its training problems several times
def problem_set(task: str, difficulty: int, seeds: int, split: str = "train") -> frozenset[str]:
    """The distinct problem texts that seeds ``0..seeds-1`` of ``split`` give at ``difficulty``."""
    from srl_gym.episodes import problem_texts

    return frozenset(problem_texts(task, range(seeds), split=split, difficulty=difficulty))


def distinct_problems(task: str, difficulty: int, seeds: int, split: str = "train") -> int:
    """How many distinct problems seeds ``0..seeds-1`` of ``split`` give at ``difficulty``."""
    return len(problem_set(task, difficulty, seeds, split))


def estimated_size(distinct: int, draws: int) -> float:
    """The N for which ``draws`` uniform draws from N values are expected to give ``distinct`` of them
    (``math.inf`` when nothing repeated)."""
    if distinct >= draws:
        return math.inf
    low, high = float(distinct), float(distinct)
    while high * (1 - (1 - 1 / high) ** draws) < distinct:
        high *= 2
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if middle * (1 - (1 - 1 / middle) ** draws) < distinct else (low, middle)
    return high


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m srl_gym.problem_space", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", help="comma-separated tasks (default: every task with a generator)")
    parser.add_argument("--seeds", type=int, default=1000, help="train-split seeds counted per level (default 1000)")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error(f"--seeds must be >= 1, got {args.seeds}")
    try:
        names = [task_entry(t).env_id for t in args.tasks.split(",")] if args.tasks else [
            e.env_id for e in TASKS if e.name != "Trajectories"]  # fmt: skip
    except ValueError as exc:
        parser.error(str(exc))
    print(f"| task | level | distinct of {args.seeds} seeds | estimated problems (train split) | "
          f"enough for {args.seeds} training problems |")  # fmt: skip
    print("|---|---|---|---|---|")
    for env_id in names:
        for level in range(len(task_entry(env_id).load().levels)):
            distinct = distinct_problems(env_id, level, args.seeds)
            size = estimated_size(distinct, args.seeds)
            shown = "no repeat seen" if math.isinf(size) else f"~{size:,.0f}"
            enough = "yes" if distinct >= MIN_DISTINCT_SHARE * args.seeds else "no"
            print(f"| {env_id} | {level} | {distinct} | {shown} | {enough} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
