"""SlidingPuzzle: generator, parser, verifier and the optimal oracle against an independent BFS."""

from __future__ import annotations

import random
from collections import deque

import numpy as np
import pytest

from srl_gym.envs.planning.sliding_puzzle import MOVES, MOVES_PER_LEVEL, PuzzleState, SlidingPuzzle, _solution_table
from srl_gym.task import InvalidStep

GOAL = (1, 2, 3, 4, 5, 6, 7, 8, 0)
#: Boards of the 8-puzzle at each distance from the goal (OEIS A089473).
LAYER_SIZES = [1, 2, 4, 8, 16, 20, 39, 62, 116, 152, 286, 396, 748, 1024, 1893, 2512, 4485, 5638, 9529, 10878]
LAYER_SIZES += [16993, 17110, 23952, 20224, 24047, 15578, 14560, 6274, 3910, 760, 221, 2]


def neighbours(board: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Boards one swap of the blank with an orthogonal neighbour away (written independently)."""
    blank = board.index(0)
    row, col = divmod(blank, 3)
    out = []
    for r, c in ((row - 1, col), (row + 1, col), (row, col - 1), (row, col + 1)):
        if 0 <= r < 3 and 0 <= c < 3:
            new = list(board)
            new[blank], new[3 * r + c] = new[3 * r + c], 0
            out.append(tuple(new))
    return out


def bfs_distance(board: tuple[int, ...]) -> int:
    seen = {board: 0}
    queue = deque([board])
    while queue:
        current = queue.popleft()
        if current == GOAL:
            return seen[current]
        for nxt in neighbours(current):
            if nxt not in seen:
                seen[nxt] = seen[current] + 1
                queue.append(nxt)
    raise AssertionError(f"{board} is unsolvable")


def play(task: SlidingPuzzle, state: PuzzleState) -> tuple[int, PuzzleState]:
    steps = task.expert_trajectory(state)
    for before, action, text in steps:
        assert task.parse_step(before, text) == action
        state = task.apply(before, action)
    return len(steps), state


# ---------------------------------------------------------------------- the distance table
def test_table_covers_every_solvable_board_with_the_known_layer_sizes():
    distances, layers = _solution_table(3, 3)
    assert len(distances) == 181_440
    assert [len(layer) for layer in layers] == LAYER_SIZES


# ---------------------------------------------------------------------- generator
def test_same_seed_same_problem_and_seeds_vary():
    task = SlidingPuzzle(difficulty=2)
    assert task.generate(random.Random(5)) == task.generate(random.Random(5))
    assert len({task.generate(random.Random(s)).text for s in range(50)}) > 45


@pytest.mark.parametrize("difficulty, samples", [(0, 20), (1, 10), (2, 2)])
def test_start_boards_are_in_the_level_range_by_independent_bfs(difficulty, samples):
    task = SlidingPuzzle(difficulty=difficulty)
    rng = random.Random(difficulty)
    lo, hi = MOVES_PER_LEVEL[difficulty]
    for _ in range(samples):
        problem = task.generate(rng)
        tiles = problem.initial_state.tiles
        assert sorted(tiles) == list(range(9))
        optimal = bfs_distance(tiles)
        assert lo <= optimal <= hi and problem.meta["optimal_moves"] == optimal
        assert "Write each step as: Slide T D" in problem.text and problem.text.isascii()


def test_levels_grow_in_plan_length():
    means = []
    for difficulty in range(4):
        task = SlidingPuzzle(difficulty=difficulty)
        rng = random.Random(0)
        lengths = [task.generate(rng).meta["optimal_moves"] for _ in range(200)]
        lo, hi = MOVES_PER_LEVEL[difficulty]
        assert lo <= min(lengths) and max(lengths) <= hi
        means.append(sum(lengths) / len(lengths))
    assert means == sorted(means) and means[0] < means[-1] - 10


# ---------------------------------------------------------------------- parser
# 1 2 3 / 4 _ 6 / 7 5 8: tile 2 can slide down, 5 up, 4 right, 6 left.
STATE = PuzzleState(3, (1, 2, 3, 4, 0, 6, 7, 5, 8))


@pytest.mark.parametrize(
    "text, move",
    [
        ("Slide 5 up", "up"),
        ("slide tile 5 up", "up"),
        ("move 5 up", "up"),
        ("5 up", "up"),
        ("tile 5 up", "up"),
        ("5 \u2191", "up"),
        ("SLIDE 2 DOWN", "down"),
        ("**Step 4:** slide 2 down.", "down"),
        ("slide 4", "right"),
        ("6", "left"),
        ("slide 6 into the blank", "left"),
        ("move tile 6 to the left", "left"),
        ("down", "down"),
        ("slide down", "down"),
        ("\u2192", "right"),
        ("move the blank up", "down"),
        ("blank up", "down"),
        ("move the empty square left", "right"),
        ("move _ right", "left"),
        ("_ down", "up"),
        ("0 up", "down"),
        ("__Slide 5 up__", "up"),
    ],
)
def test_parser_accepts_documented_forms(text, move):
    assert SlidingPuzzle().parse_step(STATE, text) == move


@pytest.mark.parametrize(
    "text",
    [
        "",
        "slide",
        "slide 5 down",  # tile 5 can only go up
        "slide 1 down",  # not next to the blank
        "slide 9 up",  # no such tile
        "slide 0",  # which way?
        "slide 5 up and 2 down",
        "1 -> 3",
        "\u2192\u2192",
        "9" * 5000,
        "A" * 1_000_000,
    ],
)
def test_parser_rejects_other_text(text):
    with pytest.raises(InvalidStep):
        SlidingPuzzle().parse_step(STATE, text)


def test_moves_without_a_tile_are_invalid_and_format_without_crashing():
    task = SlidingPuzzle()
    corner = PuzzleState(3, GOAL)  # blank bottom-right: nothing below it or to its right
    with pytest.raises(InvalidStep, match="no tile can slide up"):
        task.apply(corner, "up")
    with pytest.raises(InvalidStep, match="no tile can slide left"):
        task.apply(corner, "left")
    assert task.format_step(corner, "up") == "Slide up"
    assert task.format_step(corner, "down") == "Slide 6 down"
    assert task.apply(corner, "right").tiles == (1, 2, 3, 4, 5, 6, 7, 0, 8)


# ---------------------------------------------------------------------- verifier
def test_verifier_accepts_the_plan_in_several_styles_and_rejects_wrong_plans():
    task = SlidingPuzzle(difficulty=1)
    problem = task.generate(random.Random(3))
    steps = task.expert_trajectory(problem.initial_state)
    plan = [text for _, _, text in steps]
    opposite = {"up": "down", "down": "up", "left": "right", "right": "left"}
    assert task.verify(problem, "\n".join(plan))
    assert task.verify(problem, "\n".join(f"Step {i}: {step.lower()}." for i, step in enumerate(plan, 1)))
    assert task.verify(problem, "\n".join(f"move the blank {opposite[a]}" for _, a, _ in steps))
    assert not task.verify(problem, "\n".join(plan[:-1]))
    assert not task.verify(problem, "\n".join([*plan, "Slide 8 right"]))
    for garbage in ("", "banana", "Answer: 3", None, 42):
        assert task.verify(problem, garbage) is False


# ---------------------------------------------------------------------- oracle
def test_expert_is_optimal_on_every_board_near_the_goal():
    task = SlidingPuzzle()
    distances, layers = _solution_table(3, 3)
    for layer in layers[1:9]:
        for key in layer:
            tiles = tuple((key >> 4 * i) & 15 for i in range(9))
            length, final = play(task, PuzzleState(3, tiles))
            assert task.is_terminal(final) and length == distances[key]


@pytest.mark.parametrize("difficulty", range(3))
def test_expert_finishes_optimally_from_off_expert_states(difficulty):
    task = SlidingPuzzle(difficulty=difficulty)
    rng = random.Random(30 + difficulty)
    for _ in range(4 if difficulty < 2 else 1):
        problem = task.generate(rng)
        state = problem.initial_state
        for _ in range(rng.randrange(1, 6)):
            expert = task.expert_action(state)
            detours = [m for m in MOVES if m != expert and task.format_step(state, m) != f"Slide {m}"]
            state = task.apply(state, rng.choice(detours))
        length, final = play(task, state)
        assert task.is_solved(problem, final)
        assert length == bfs_distance(state.tiles)


def table_distance(state: PuzzleState) -> int:
    key = sum(tile << 4 * square for square, tile in enumerate(state.tiles))
    return _solution_table(3, 3)[0][key]


def test_expert_breaks_ties_in_move_order():
    task = SlidingPuzzle()
    ties = 0
    for key, here in list(_solution_table(3, 3)[0].items())[1000:1300]:
        state = PuzzleState(3, tuple((key >> 4 * i) & 15 for i in range(9)))
        legal = [m for m in MOVES if task.format_step(state, m) != f"Slide {m}"]
        best = [m for m in legal if table_distance(task.apply(state, m)) == here - 1]
        ties += len(best) > 1
        assert task.expert_action(state) == best[0]
    assert ties > 10


# ---------------------------------------------------------------------- discrete interface
def test_discrete_observation_is_one_hot_tile_positions():
    task = SlidingPuzzle()
    obs = task.encode_discrete(STATE, [])
    assert task.discrete_observation_space().contains(obs)
    planes = obs.reshape(9, 9)
    assert np.array_equal(planes.sum(axis=0), np.ones(9)) and np.array_equal(planes.sum(axis=1), np.ones(9))
    assert [int(np.argmax(planes[tile])) for tile in range(9)] == [STATE.tiles.index(t) for t in range(9)]
    assert task.render_state(STATE) == "1 2 3\n4 _ 6\n7 5 8"
