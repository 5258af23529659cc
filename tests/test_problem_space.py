"""`python -m srl_gym.problem_space`: distinct problems per level and the size estimate from repeats."""

import math
import random

import pytest

from srl_gym import problem_space


def test_the_size_estimate_recovers_a_known_number_of_values():
    rng = random.Random(0)
    for size in (50, 700, 20_000):
        draws = 1000
        distinct = len({rng.randrange(size) for _ in range(draws)})
        estimate = problem_space.estimated_size(distinct, draws)
        assert 0.7 * size < estimate < 1.4 * size, (size, estimate)
    assert problem_space.estimated_size(1000, 1000) == math.inf  # nothing repeated: no estimate


def test_small_levels_are_exhausted_and_large_ones_are_not():
    # Hanoi level 0: 3 disks on 3 pegs with a goal peg: 64 unsolved problems, all of them among 1,000 seeds
    assert problem_space.distinct_problems("srl/Hanoi-v0", 0, 1000) == 64
    assert problem_space.distinct_problems("srl/LongMultiplication-v0", 1, 1000) >= 0.95 * 1000


def test_the_command_prints_a_row_per_level_and_refuses_bad_input(capsys):
    assert problem_space.main(["--tasks", "Hanoi", "--seeds", "200"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| srl/Hanoi-v0 |")]
    assert len(rows) == 4 and rows[0].startswith("| srl/Hanoi-v0 | 0 | 60 | ~6") and rows[0].endswith("| no |")
    for argv in (["--tasks", "Nope"], ["--seeds", "0"]):
        with pytest.raises(SystemExit) as exit_info:
            problem_space.main(argv)
        assert exit_info.value.code == 2
