"""Per-item generation cost: our ``reset`` (problem + whole expert trajectory + first observation)
versus reasoning-gym's generators (problem + answer only), for the families both have.

Run: ``python -m pytest benchmarks/test_bench_generation.py --benchmark-enable --benchmark-group-by=group``.
reasoning-gym is a benchmark-only dependency (``pip install reasoning-gym``); without it the
comparison cases are skipped. Each group holds one family at a comparable size (see `FAMILIES`):
read the ratio of the two means.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import gymnasium as gym
import pytest

import srl_gym  # noqa: F401


class Family(NamedTuple):
    """One family at matched sizes: our env id and level, reasoning-gym's dataset and config."""

    env_id: str
    difficulty: int
    rg_name: str
    rg_config: dict
    matching: str  # how the sizes were matched


FAMILIES = {
    "arithmetic": Family(
        "srl/Arithmetic-v0",
        2,
        "basic_arithmetic",
        {"min_terms": 5, "max_terms": 5, "min_digits": 1, "max_digits": 2},
        "ours: 5 numbers in 1..20 with brackets; rg: 5 terms of 1-2 digits, brackets allowed",
    ),
    "hanoi": Family(
        "srl/Hanoi-v0",
        2,
        "tower_of_hanoi",
        {"min_disks": 5, "max_disks": 5, "min_pegs": 3, "max_pegs": 3},
        "5 disks, 3 pegs on both sides (rg's answer is the whole move list too)",
    ),
    "maze": Family(
        "srl/GridMaze-v0",
        2,
        "maze",
        {"min_grid_size": 9, "max_grid_size": 9},
        "9x9 grid on both sides (rg: start-goal distance 5..10, answer the shortest length)",
    ),
    "knights_knaves": Family(
        "srl/KnightsKnaves-v0",
        1,
        "knights_knaves",
        {"n_people": 3},
        "3 islanders on both sides (rg: default statement depth/width 2)",
    ),
    "syllogism": Family(
        "srl/Syllogism-v0",
        0,
        "syllogism",
        {},
        "ours: chain of 2 premises, no distractor; rg: a 2-premise syllogism (its only size)",
    ),
    "countdown": Family(
        "srl/Countdown-v0",
        3,
        "countdown",
        {"min_numbers": 6, "max_numbers": 6},
        "6 numbers, target 100..999 on both sides (ours: 2 large numbers; rg: values 1..100)",
    ),
    "zebra": Family(
        "srl/Zebra-v0",
        3,
        "zebra_puzzles",
        {"num_people": 4, "num_characteristics": 3},
        "4 houses x 3 attributes on both sides",
    ),
}
IDS = list(FAMILIES)


@pytest.mark.parametrize("family", IDS)
def test_generation_srl_gym(benchmark, family, fresh_seeds):
    """Our reset: a fresh problem, the expert's whole trajectory and the first observation."""
    benchmark.group = f"generation-{family}"
    env = gym.make(FAMILIES[family].env_id, difficulty=FAMILIES[family].difficulty)
    env.reset(seed=next(fresh_seeds))  # then each reset draws a fresh problem
    benchmark(env.reset)


@pytest.mark.parametrize("family", IDS)
def test_generation_reasoning_gym_reference(benchmark, family):
    """reasoning-gym's item: a fresh problem (its seed is the index) and its answer only."""
    reasoning_gym = pytest.importorskip("reasoning_gym")
    benchmark.group = f"generation-{family}"
    spec = FAMILIES[family]
    dataset = reasoning_gym.create_dataset(spec.rg_name, seed=1, size=10**9, **spec.rg_config)
    counter = itertools.count()
    item = dataset[next(counter)]
    assert item["question"] and item["answer"] is not None
    benchmark(lambda: dataset[next(counter)])
