"""Memory stays flat: RSS of one env over a million random discrete steps on a task's largest level.

Run: ``python benchmarks/memory_flat.py [--steps 1000000] [--tasks Syllogism,LinearEquation]``. Prints the
resident set size after 10k steps (caches warm) and at checkpoints up to ``--steps``; the per-episode memos
are cleared on reset and every module-level cache is a bounded ``lru_cache``, so RSS should stop growing
once those caches are full.
"""

from __future__ import annotations

import argparse
import os
import time

import gymnasium as gym

import srl_gym  # noqa: F401
from srl_gym.registration import task_entry


def rss_mib() -> float:
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--tasks", default="LinearEquation,Countdown")
    args = parser.parse_args()
    checkpoints = sorted({10_000, args.steps // 10, args.steps // 4, args.steps // 2, 3 * args.steps // 4, args.steps})
    for name in args.tasks.split(","):
        entry = task_entry(name)
        level = len(entry.load().levels) - 1
        env = gym.make(entry.env_id, interface="discrete", difficulty=level)
        env.action_space.seed(0)
        env.reset(seed=0)
        start, episodes, marks = time.process_time(), 0, []
        for step in range(1, args.steps + 1):
            _, _, terminated, truncated, _ = env.step(env.action_space.sample())
            if terminated or truncated:
                env.reset()
                episodes += 1
            if step in checkpoints:
                marks.append(f"{step:,}: {rss_mib():.1f} MiB")
                cpu = time.process_time() - start
                print(f"  {name} step {step:,}: RSS {rss_mib():.1f} MiB, {cpu:.0f} s CPU", flush=True)
        seconds = time.process_time() - start
        print(f"{name} level {level}: {episodes:,} episodes, {seconds:.0f} s CPU; RSS " + ", ".join(marks), flush=True)


if __name__ == "__main__":
    main()
