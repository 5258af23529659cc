"""Tower of Hanoi: generator, parser, oracle optimality from any state, verifier."""

from __future__ import annotations

import itertools
import random
from collections import deque

import numpy as np
import pytest

from srl_gym import InvalidStep
from srl_gym.envs.planning.hanoi import MOVES, Hanoi
from srl_gym.task import Problem


def bfs_distance(task: Hanoi, state) -> int:
    seen, frontier = {state}, deque([(state, 0)])
    while frontier:
        s, d = frontier.popleft()
        if task.is_terminal(s):
            return d
        for move in MOVES:
            try:
                nxt = task.apply(s, move)
            except InvalidStep:
                continue
            if nxt not in seen:
                seen.add(nxt)
                frontier.append((nxt, d + 1))
    raise AssertionError("unreachable goal")


@pytest.mark.parametrize("difficulty", [0, 1, 2])
def test_oracle_is_optimal_from_every_state(difficulty):
    task = Hanoi(difficulty=difficulty)
    n = task.n_disks
    rng = random.Random(difficulty)
    for _ in range(60):
        state = (rng.randrange(3), tuple(rng.randrange(3) for _ in range(n)))
        plan = task.expert_trajectory(state)
        assert len(plan) == bfs_distance(task, state)


def test_classic_tower_takes_2n_minus_1_moves():
    task = Hanoi(difficulty=3)
    assert len(task.expert_trajectory((2, (0,) * 6))) == 63


def test_generator_is_seeded_and_levels_grow():
    for level in range(4):
        task = Hanoi(difficulty=level)
        a, b = task.generate(random.Random(5)), task.generate(random.Random(5))
        assert a == b and f"with {3 + level} disks" in a.text and not task.is_terminal(a.initial_state)


def test_parser_accepts_documented_forms_and_checks_the_disk():
    task = Hanoi(difficulty=0)
    state = (2, (0, 0, 0))  # all on A, goal C
    for text in (
        "Move disk 1 from A to C",
        "move disc 1 from peg a to peg c.",
        "A -> C",
        "1 -> 3",
        "a to c",
        "Step 1: put disk 1 onto C",
        "disk 1 to C",
        "transfer the top disk from rod A to rod C",
        "A\u2192C",
        "disk 1: A->C",
    ):
        assert task.parse_step(state, text) == (0, 2), text
    for text in (
        "Move disk 2 from A to C",
        "A -> A",
        "move it",
        "",
        "Move disk 1 from D to C",
        "disk 9 to C",
        "disk 2 to C",
    ):
        with pytest.raises(InvalidStep):
            task.parse_step(state, text)
    with pytest.raises(InvalidStep, match="empty"):
        task.apply(state, (1, 2))
    with pytest.raises(InvalidStep, match="smaller"):
        task.apply(task.apply(state, (0, 2)), (0, 2))


def test_verifier_replays_the_plan():
    task = Hanoi(difficulty=0)
    problem = task.generate(random.Random(1))
    plan = [text for _, _, text in task.expert_trajectory(problem.initial_state)]
    assert task.verify(problem, "\n".join(plan))
    assert task.verify(problem, "\n".join(f"Step {i}: {p.lower()}" for i, p in enumerate(plan, 1)))
    assert not task.verify(problem, "\n".join(plan[:-1]))
    assert not task.verify(problem, "\n".join([*plan, plan[-1]]))


@pytest.mark.parametrize("difficulty", [0, 1])
def test_discrete_observation_codes_each_disk_absolutely_and_relative_to_the_goal(difficulty):
    task = Hanoi(difficulty=difficulty)
    n, space = task.n_disks, task.discrete_observation_space()
    assert space.shape == (6 * n + 3,) and space.low.min() == -1 and space.high.max() == 1
    rng = random.Random(difficulty)
    for _ in range(50):
        goal, pegs = rng.randrange(3), tuple(rng.randrange(3) for _ in range(n))
        obs = task.encode_discrete((goal, pegs), [])
        assert space.contains(obs) and set(np.unique(obs)) == {-1.0, 1.0}
        for i, peg in enumerate(pegs):
            absolute, relative = obs[6 * i : 6 * i + 3], obs[6 * i + 3 : 6 * i + 6]
            assert list(absolute).index(1.0) == peg and absolute.sum() == -1
            assert list(relative).index(1.0) == (peg - goal) % 3 and relative.sum() == -1
        assert list(obs[6 * n :]).index(1.0) == goal
    # distinct states, distinct observations (the map is one to one)
    states = {(g, p) for g in range(3) for p in itertools.product(range(3), repeat=n)}
    assert len({task.encode_discrete(s, []).tobytes() for s in states}) == len(states)


def test_known_expert_length_is_the_expert_trajectory_length_from_every_configuration():
    """`Hanoi.known_expert_length` (the env's default step limit without the trajectory) counts the oracle's plan."""
    for difficulty in range(2):  # 3 and 4 disks: every configuration and goal peg
        task = Hanoi(difficulty=difficulty)
        for pegs in itertools.product(range(3), repeat=task.n_disks):
            for goal in range(3):
                state = (goal, pegs)
                length = task.known_expert_length(Problem(text="", initial_state=state))
                assert length == len(task.expert_trajectory(state))
