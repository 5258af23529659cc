"""BlocksWorld: generator, parser, verifier, and the oracle's optimality against an independent BFS."""

from __future__ import annotations

import itertools
import random
from collections import Counter, deque

import numpy as np
import pytest

import srl_gym
from srl_gym.envs.planning.blocks_world import BLOCKS_PER_LEVEL, TABLE, BlocksWorld
from srl_gym.task import InvalidStep

LETTERS = "ABCDEFG"


# ---------------------------------------------------------------------- independent reference
def all_configurations(n: int) -> list[tuple[int, ...]]:
    """Every configuration of n blocks, by brute force over support tuples (TABLE = -1)."""
    found = []
    for supports in itertools.product(range(-1, n), repeat=n):
        below = [s for s in supports if s != -1]
        if len(below) != len(set(below)):
            continue  # two blocks on one block
        grounded = True
        for b in range(n):
            seen, x = set(), b
            while x != -1 and grounded:
                grounded = x not in seen
                seen.add(x)
                x = supports[x]
        if grounded:
            found.append(supports)
    return found


def neighbours(supports: tuple[int, ...]):
    n = len(supports)
    clear = [b for b in range(n) if b not in supports]
    for x in clear:
        for y in [*clear, -1]:
            if y != x and supports[x] != y:
                yield supports[:x] + (y,) + supports[x + 1 :]


def distances_to(goal: tuple[int, ...]) -> dict[tuple[int, ...], int]:
    """BFS from the goal (moves are reversible, so this is the distance to it)."""
    dist, queue = {goal: 0}, deque([goal])
    while queue:
        state = queue.popleft()
        for nxt in neighbours(state):
            if nxt not in dist:
                dist[nxt] = dist[state] + 1
                queue.append(nxt)
    return dist


def towers_from_text(line: str, n: int) -> tuple[int, ...]:
    supports = [None] * n
    for tower in line.split("|"):
        below = TABLE
        for name in tower.split():
            supports[LETTERS.index(name)] = below
            below = LETTERS.index(name)
    assert None not in supports
    return tuple(supports)


def after(supports, move):
    block, target = move
    return supports[:block] + (target,) + supports[block + 1 :]


# ---------------------------------------------------------------------- generator
def test_same_seed_same_problem_and_levels_grow():
    sizes = []
    for level in range(len(BlocksWorld.levels)):
        task = BlocksWorld(difficulty=level)
        a, b = task.generate(random.Random(11)), task.generate(random.Random(11))
        assert a == b and a.text == b.text
        goal, start = a.initial_state
        sizes.append(len(start))
        assert len(goal) == len(start) == BLOCKS_PER_LEVEL[level]
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes) >= 3


@pytest.mark.parametrize("level", range(4))
def test_problem_text_states_start_goal_and_step_format(level):
    task = BlocksWorld(difficulty=level)
    rng = random.Random(level)
    for _ in range(50):
        problem = task.generate(rng)
        goal, start = problem.initial_state
        assert start != goal and problem.text.isascii()
        lines = problem.text.splitlines()
        start_line = next(line for line in lines if line.startswith("Start: "))
        goal_line = next(line for line in lines if line.startswith("Goal: "))
        assert towers_from_text(start_line[7:], len(start)) == start
        assert towers_from_text(goal_line[6:], len(goal)) == goal
        assert "Write each step as: Move X onto Y" in problem.text


def test_configurations_are_uniform_and_problem_space_is_large():
    task = BlocksWorld(difficulty=0)
    rng = random.Random(0)
    problems = [task.generate(rng) for _ in range(7300)]
    starts = Counter(p.initial_state[1] for p in problems)
    assert set(starts) == set(all_configurations(4))  # all 73 configurations occur
    assert max(starts.values()) < 2.0 * min(starts.values())  # about 100 each
    assert len({p.text for p in problems}) > 2000


# ---------------------------------------------------------------------- parser
STATE = ((TABLE, 0, 1, 2), (TABLE, TABLE, 0, TABLE))  # goal: one tower A B C D; now: A C | B | D


@pytest.mark.parametrize(
    "text, move",
    [
        ("Move C onto B", (2, 1)),
        ("put C on B", (2, 1)),
        ("stack C on B", (2, 1)),
        ("place the block C on top of the block B", (2, 1)),
        ("move block c on top of block b", (2, 1)),
        ("C -> B", (2, 1)),
        ("c->b", (2, 1)),
        ("C \u2192 B", (2, 1)),
        ("C onto B", (2, 1)),
        ("Move C from A onto B", (2, 1)),
        ("Step 4: **Move C onto B.**", (2, 1)),
        ("Move C to the table", (2, TABLE)),
        ("unstack C", (2, TABLE)),
        ("Unstack C from A", (2, TABLE)),
        ("put down C", (2, TABLE)),
        ("C to table", (2, TABLE)),
        ("C -> table", (2, TABLE)),
        ("move c onto the floor", (2, TABLE)),
        ("MOVE D ONTO C", (3, 2)),
        ("Move D from the table onto C", (3, 2)),
    ],
)
def test_parser_accepts_synonyms(text, move):
    task = BlocksWorld(difficulty=0)
    assert task.parse_step(STATE, text) == move
    task.apply(STATE, move)  # all legal here


@pytest.mark.parametrize(
    "text",
    [
        "",
        "banana",
        "Move C",
        "Move E onto A",
        "Move C from B onto D",
        "Move D from A onto C",
        "move table onto A",
        "C B",
    ],
)
def test_parser_rejects_malformed_or_false_steps(text):
    with pytest.raises(InvalidStep):
        BlocksWorld(difficulty=0).parse_step(STATE, text)


@pytest.mark.parametrize(
    "text", ["Move A onto B", "Move B onto A", "Move C onto C", "Move B to the table", "Move C onto A"]
)
def test_illegal_moves_raise_with_a_reason(text):
    task = BlocksWorld(difficulty=0)
    with pytest.raises(InvalidStep, match="clear|itself|already"):
        task.apply(STATE, task.parse_step(STATE, text))


def test_format_round_trips_every_move():
    task = BlocksWorld(difficulty=3)
    state = task.generate(random.Random(3)).initial_state
    for move in task.move_set():
        text = task.format_step(state, move)
        for variant in (text, text.lower(), text.upper(), f"Step 2: {text}."):
            assert task.parse_step(state, variant) == move


# ---------------------------------------------------------------------- verifier
def test_verifier_accepts_the_plan_in_several_formats_and_rejects_wrong_ones():
    task = BlocksWorld(difficulty=2)
    problem = task.generate(random.Random(5))
    plan = [text for _, _, text in task.expert_trajectory(problem.initial_state)]
    assert task.verify(problem, "\n".join(plan))
    assert task.verify(problem, "\n".join(f"Step {i}: {t.lower()}." for i, t in enumerate(plan, 1)))
    assert task.verify(problem, "\n\n".join(f"{i}. **{t}**" for i, t in enumerate(plan, 1)))
    assert not task.verify(problem, "\n".join(plan[:-1]))
    assert not task.verify(problem, "\n".join([*plan, plan[-1]]))  # a step after the goal
    assert not task.verify(problem, "\n".join(["Move A onto A", *plan]))
    for garbage in ("", "banana", "\x00", "Answer: 3", None, 42):
        assert task.verify(problem, garbage) is False


# ---------------------------------------------------------------------- oracle
def test_oracle_is_optimal_from_every_state_with_4_blocks():
    """Every expert move from every (state, goal) pair shortens the BFS distance by exactly one."""
    task = BlocksWorld(difficulty=0)
    configurations = all_configurations(4)
    assert len(configurations) == 73
    for goal in configurations:
        dist = distances_to(goal)
        assert len(dist) == 73
        for supports in configurations:
            move = task.expert_action((goal, supports))
            if supports == goal:
                assert move is None and task.is_terminal((goal, supports))
            else:
                _, nxt = task.apply((goal, supports), move)
                assert dist[nxt] == dist[supports] - 1, (supports, goal, move)


@pytest.mark.parametrize("level, goals", [(1, 12), (2, 3)])
def test_oracle_is_optimal_on_larger_instances(level, goals):
    task = BlocksWorld(difficulty=level)
    rng = random.Random(level)
    for _ in range(goals):
        goal = task.generate(rng).initial_state[0]
        dist = distances_to(goal)
        states = list(dist) if level == 1 else rng.sample(list(dist), 600)
        for supports in states:
            length = len(task.expert_trajectory((goal, supports)))
            assert length == dist[supports], (supports, goal)
            assert length <= 2 * len(goal) - 2


@pytest.mark.parametrize("level", range(4))
def test_expert_finishes_optimally_from_off_expert_states(level):
    task = BlocksWorld(difficulty=level)
    rng = random.Random(100 + level)
    moves = task.move_set()
    for _ in range(20):
        problem = task.generate(rng)
        state = problem.initial_state
        for _ in range(rng.randrange(1, 6)):
            if task.is_terminal(state):
                break
            expert = task.expert_action(state)
            legal = []
            for move in moves:
                try:
                    legal.append((move, task.apply(state, move)))
                except InvalidStep:
                    pass
            options = [(m, s) for m, s in legal if m != expert]
            if not options:
                break
            _, state = rng.choice(options)
        steps = task.expert_trajectory(state)
        final = task.apply(steps[-1][0], steps[-1][1]) if steps else state
        assert task.is_solved(problem, final)
        if level <= 1:  # cheap enough to check against BFS
            assert len(steps) == distances_to(state[0])[state[1]]


# ---------------------------------------------------------------------- discrete interface
def test_discrete_encoding_mask_and_move_set():
    env = srl_gym.ReasoningEnv(BlocksWorld, interface="discrete", difficulty=3)
    obs, info = env.reset(seed=4)
    n = BLOCKS_PER_LEVEL[3]
    assert env.action_space.n == n * n == len(set(env.moves))
    assert obs.shape == (2 * n * (n + 1),) and obs.dtype == np.float32
    assert env.observation_space.contains(obs)
    per_block = obs.reshape(2 * n, n + 1)
    assert (per_block.sum(axis=1) == 1).all()
    goal, supports = env.state
    assert [int(row.argmax()) - 1 for row in per_block] == [*supports, *goal]
    clear = {b for b in range(n) if b not in supports}
    expected = [int(x in clear and x != y and supports[x] != y and (y == TABLE or y in clear)) for x, y in env.moves]
    assert info["action_mask"].tolist() == expected
