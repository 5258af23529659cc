"""The speed goals of issue 21 as ratios against references measured side by side, in one process.

Run: ``python benchmarks/speed_ratios.py [--rounds 5] [--steps 2000] [--only step,floor,reset,ppo] [--tasks A,B]``.

- **step**: us per env step for every task (``gym.make``, wrappers included; resets included when an
  episode ends), discrete interface with random actions (``action_space.sample()``, seeded), discrete
  with the expert's action, and text with the expert's step (``similarity="lcs"``), each round
  against FrozenLake-v1 with random actions. The ratio of each round is task / FrozenLake of that
  round; the table gives the median over rounds (and the best round's times).
- **reset**: our ``env.reset()`` (new problem + first observation; the expert trajectory is computed lazily) vs
  reasoning-gym's ``dataset[i]`` (new problem + answer) for the families of
  ``benchmarks/test_bench_generation.py``, interleaved per round.
- **floor**: what the env itself costs, whatever the task: `Nothing`, a task whose every hook is next to free and
  whose random episodes last exactly L steps, through the same discrete interface and wrappers, for several L
  against FrozenLake-v1 in the same way as **step**. A task whose random episodes are as short cannot step faster
  than its floor: the reset (a seeded problem RNG, the split check, the first observation) is paid every L steps.
- **ppo**: the env's share of an SB3 PPO step: ``PPO("MlpPolicy", env, n_steps=1024)`` learns 2,048
  steps (collection and two updates) on the discrete interface, then 2,000 random env steps are
  timed alone; share = env us/step / PPO us/step. FrozenLake-v1 is measured the same way.

Times are this process's CPU time (``time.process_time``), so other jobs on a shared machine inflate
them less than the wall clock; still, only the ratios (same round, same process) are meaningful.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import gymnasium as gym  # noqa: E402

import srl_gym  # noqa: E402,F401
from srl_gym.registration import TASKS  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from nothing_task import NOTHING_ID  # noqa: E402
from test_bench_generation import FAMILIES  # noqa: E402

PLANNING = {e.name for e in TASKS if e.domain == "planning"}
#: This process's CPU time, not the wall clock: on a machine shared with other jobs, the time the
#: scheduler gives to others does not count (the loops here neither sleep nor wait on I/O).
CLOCK = time.process_time
#: Every measurement starts from a seed no other one used: the tasks memoise pure functions of a
#: problem (bounded lru caches), so replaying the problems of an earlier measurement would time warm
#: caches that training, which draws fresh problems, does not get.
FRESH_SEEDS = itertools.count(1)


def make(env_id: str, interface: str | None = None, **options) -> gym.Env:
    if env_id == "FrozenLake-v1":
        return gym.make(env_id)
    return gym.make(env_id, interface=interface, **options)


def time_steps(env: gym.Env, steps: int, policy: str, episodes: list[int] | None = None) -> float:
    """CPU seconds for ``steps`` env steps under ``policy`` ('random' or 'expert'), resets included (their count
    is appended to ``episodes`` when given)."""
    seed = next(FRESH_SEEDS)
    env.action_space.seed(seed)
    obs, info = env.reset(seed=seed)
    key = "expert_step" if isinstance(env.action_space, gym.spaces.Text) else "expert_action"
    resets = 0
    start = CLOCK()
    for _ in range(steps):
        if policy == "random":
            action = env.action_space.sample()
        elif key in info:
            action = info[key]
        else:  # FrozenLake with the 'expert' policy: always down, as in test_bench_env
            action = 1
        if key == "expert_action" and key in info and action == -1:
            action = 0
        obs, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            obs, info = env.reset()
            resets += 1
    elapsed = CLOCK() - start
    if episodes is not None:
        episodes.append(resets)
    return elapsed


def paired(
    frozenlake: gym.Env, env: gym.Env, steps: int, policy: str, episodes: list[int] | None = None
) -> tuple[float, float, float]:
    """(us/step of ``env``, its ratio to a FrozenLake random run timed just before it, that run's us/step)."""
    reference = time_steps(frozenlake, steps, "random") / steps * 1e6
    us = time_steps(env, steps, policy, episodes) / steps * 1e6
    return us, us / reference, reference


def step_table(tasks, rounds: int, steps: int) -> None:
    modes = [("discrete", "random"), ("discrete", "expert"), ("text", "expert")]
    frozenlake = make("FrozenLake-v1")
    envs = {}
    for entry in tasks:
        for interface, policy in modes:
            # Random actions with the env's defaults (what an SB3 user gets: difflib scoring); the
            # expert columns as in test_bench_env (lcs scoring).
            options = {} if policy == "random" else {"similarity": "lcs"}
            envs[(entry.name, interface, policy)] = make(entry.env_id, interface, **options)
    times: dict[tuple, list[float]] = {k: [] for k in envs}
    reference: list[float] = []
    ratios: dict[tuple, list[float]] = {k: [] for k in envs}
    episodes: dict[tuple, list[int]] = {k: [] for k in envs}
    for _ in range(rounds):
        for key, env in envs.items():  # each measurement paired with a FrozenLake run just before it
            us, ratio, fl = paired(frozenlake, env, steps, key[2], episodes[key])
            times[key].append(us)
            ratios[key].append(ratio)
            reference.append(fl)
    print(f"\n## step: median us/step, {rounds} rounds of {steps} steps; x FL: median ratio to a paired FrozenLake run")
    fl_median, fl_best = statistics.median(reference), min(reference)
    print(f"FrozenLake-v1 (random actions): median {fl_median:.1f} us/step, best {fl_best:.1f}")
    print(
        "| task | discrete random (difflib) us | x FL (goal) | steps/episode (random) | discrete expert (lcs) us "
        "| x FL | text expert (lcs) us | x FL |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for entry in tasks:
        goal = 2.0 if entry.name in PLANNING else 3.0
        cells = []
        for interface, policy in modes:
            key = (entry.name, interface, policy)
            ratio = statistics.median(ratios[key])
            mark = f" (<= {goal:g}: {'met' if ratio <= goal else 'MISSED'})" if policy == "random" else ""
            cells += [f"{statistics.median(times[key]):.1f}", f"{ratio:.2f}{mark}"]
            if policy == "random":
                cells.append(f"{rounds * steps / max(1, sum(episodes[key])):.1f}")
        print(f"| {entry.name} | " + " | ".join(cells) + " |")
    sys.stdout.flush()


def floor_table(rounds: int, steps: int, lengths=(2, 3, 4, 6, 10, 20)) -> None:
    print(f"\n## floor: `Nothing` (a task that costs nothing), discrete random, episodes of L steps; {rounds} rounds")
    frozenlake = make("FrozenLake-v1")
    envs = {length: make(NOTHING_ID, "discrete", length=length) for length in lengths}
    ratios: dict[int, list[float]] = {length: [] for length in lengths}
    times: dict[int, list[float]] = {length: [] for length in lengths}
    for _ in range(rounds):
        for length, env in envs.items():
            us, ratio, _ = paired(frozenlake, env, steps, "random")
            times[length].append(us)
            ratios[length].append(ratio)
    print("| steps per episode | us/step | x FrozenLake |")
    print("|---:|---:|---:|")
    for length in lengths:
        print(f"| {length} | {statistics.median(times[length]):.1f} | {statistics.median(ratios[length]):.2f} |")
    sys.stdout.flush()


def reset_table(rounds: int, resets: int) -> None:
    import reasoning_gym

    print(f"\n## reset vs reasoning-gym: us/item, best of {rounds} rounds (<= {resets} items); ratio: median per round")
    print("| family | ours us | rg us | ours / rg (goal <= 1) |")
    print("|---|---:|---:|---:|")
    for family, spec in FAMILIES.items():
        env = gym.make(spec.env_id, difficulty=spec.difficulty)
        env.reset(seed=next(FRESH_SEEDS))  # then each reset draws a fresh problem
        dataset = reasoning_gym.create_dataset(spec.rg_name, seed=1, size=10**9, **spec.rg_config)
        counter = itertools.count()
        start = CLOCK()
        dataset[next(counter)]
        items = max(10, min(resets, int(0.1 / max(CLOCK() - start, 1e-6))))  # about 0.1 s of theirs a round
        ours, theirs = [], []
        for _ in range(rounds):
            start = CLOCK()
            for _ in range(items):
                env.reset()
            ours.append((CLOCK() - start) / items * 1e6)
            start = CLOCK()
            for _ in range(items):
                dataset[next(counter)]
            theirs.append((CLOCK() - start) / items * 1e6)
        ratio = statistics.median(a / b for a, b in zip(ours, theirs, strict=True))
        print(f"| {family} | {min(ours):.1f} | {min(theirs):.1f} | {ratio:.2f} ({'met' if ratio <= 1 else 'MISSED'}) |")
        sys.stdout.flush()


def ppo_table(tasks, rounds: int) -> None:
    import torch
    from stable_baselines3 import PPO

    torch.set_num_threads(1)
    print(
        "\n## env share of an SB3 PPO step (n_steps=1024, 2048 steps learned; 2000 random env steps alone), "
        f"median of {rounds} round(s)"
    )
    print("| env | PPO us/step | env us/step | env share (goal <= 10%) |")
    print("|---|---:|---:|---:|")
    ids = [("FrozenLake-v1", "FrozenLake-v1")] + [(e.name, e.env_id) for e in tasks]
    for name, env_id in ids:
        shares, ppo_us, env_us = [], [], []
        for _ in range(rounds):
            env = make(env_id, "discrete")
            model = PPO("MlpPolicy", env, n_steps=1024, seed=next(FRESH_SEEDS), device="cpu", verbose=0)
            start = CLOCK()
            model.learn(2048)
            ppo_us.append((CLOCK() - start) / 2048 * 1e6)
            env_us.append(time_steps(make(env_id, "discrete"), 2000, "random") / 2000 * 1e6)
            shares.append(env_us[-1] / ppo_us[-1])
        share = statistics.median(shares)
        goal = "" if name == "FrozenLake-v1" else f" ({'met' if share <= 0.10 else 'MISSED'})"
        ppo, alone = statistics.median(ppo_us), statistics.median(env_us)
        print(f"| {name} | {ppo:.0f} | {alone:.1f} | {100 * share:.1f}%{goal} |")
        sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--resets", type=int, default=200)
    parser.add_argument("--ppo-rounds", type=int, default=1)
    parser.add_argument("--only", default="step,floor,reset,ppo")
    parser.add_argument("--tasks", default="", help="comma-separated task names (default: all)")
    args = parser.parse_args()
    wanted = set(args.tasks.split(",")) if args.tasks else None
    tasks = [e for e in TASKS if wanted is None or e.name in wanted]
    parts = set(args.only.split(","))
    if parts - {"step", "floor", "reset", "ppo"}:
        parser.error(f"--only takes step, floor, reset and ppo (comma-separated), got {args.only!r}")
    print(f"python {sys.version.split()[0]}, gymnasium {gym.__version__}, load average {os.getloadavg()}")
    if "step" in parts:
        step_table(tasks, args.rounds, args.steps)
    if "floor" in parts:
        floor_table(args.rounds, args.steps)
    if "reset" in parts:
        reset_table(args.rounds, args.resets)
    if "ppo" in parts:
        ppo_table(tasks, args.ppo_rounds)


if __name__ == "__main__":
    main()
