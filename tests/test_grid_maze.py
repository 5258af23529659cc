"""GridMaze: generator, parser, verifier and the shortest-path oracle against an independent BFS."""

from __future__ import annotations

import random
from collections import deque

import numpy as np
import pytest

from srl_gym.envs.planning.grid_maze import MOVES, GridMaze, MazeState
from srl_gym.task import InvalidStep

STEPS = {"up": (-1, 0), "down": (1, 0), "left": (0, -1), "right": (0, 1)}


def bfs_distance(maze: tuple[str, ...], start: tuple[int, int], goal: tuple[int, int]) -> int | None:
    """Shortest number of moves from start to goal, written independently of the task."""
    seen = {start: 0}
    queue = deque([start])
    while queue:
        square = queue.popleft()
        if square == goal:
            return seen[square]
        for dr, dc in STEPS.values():
            r, c = square[0] + dr, square[1] + dc
            if 0 <= r < len(maze) and 0 <= c < len(maze[0]) and maze[r][c] != "#" and (r, c) not in seen:
                seen[(r, c)] = seen[square] + 1
                queue.append((r, c))
    return None


def legal_moves(task: GridMaze, state: MazeState) -> list[str]:
    out = []
    for move in MOVES:
        try:
            task.apply(state, move)
            out.append(move)
        except InvalidStep:
            pass
    return out


# ---------------------------------------------------------------------- generator
def test_same_seed_same_problem_and_seeds_vary():
    task = GridMaze(difficulty=2)
    assert task.generate(random.Random(5)) == task.generate(random.Random(5))
    assert len({task.generate(random.Random(s)).text for s in range(50)}) == 50


@pytest.mark.parametrize("difficulty", range(4))
def test_mazes_are_connected_and_start_is_far_from_goal(difficulty):
    task = GridMaze(difficulty=difficulty)
    rng = random.Random(difficulty)
    for _ in range(40):
        problem = task.generate(rng)
        maze, start, goal = problem.initial_state
        assert len(maze) == len(maze[0]) == task.size and set("".join(maze)) <= {"#", "."}
        floor = [(r, c) for r, row in enumerate(maze) for c, ch in enumerate(row) if ch == "."]
        distances = {square: bfs_distance(maze, square, goal) for square in floor}
        assert all(d is not None for d in distances.values()), "every floor square reaches the goal"
        assert start != goal and distances[start] >= max(distances.values()) // 2
        assert problem.meta["shortest"] == distances[start]
        lines = problem.text.splitlines()
        grid = lines[1 : 1 + task.size]
        assert grid[start[0]][start[1]] == "S" and grid[goal[0]][goal[1]] == "G"
        assert "Write each step as: Move D" in problem.text and problem.text.isascii()


def test_levels_grow_in_size_and_path_length():
    sizes, lengths = [], []
    for difficulty in range(4):
        task = GridMaze(difficulty=difficulty)
        rng = random.Random(0)
        problems = [task.generate(rng) for _ in range(100)]
        sizes.append(len(problems[0].initial_state.maze))
        lengths.append(sum(p.meta["shortest"] for p in problems) / len(problems))
    assert sizes == sorted(set(sizes)) and lengths == sorted(lengths)


def test_easiest_level_has_hundreds_of_problems():
    task = GridMaze(difficulty=0)
    rng = random.Random(1)
    assert len({task.generate(rng).text for _ in range(2000)}) > 500


# ---------------------------------------------------------------------- parser
STATE = MazeState(("...", ".#.", "..."), (0, 0), (2, 2))


@pytest.mark.parametrize(
    "text, move",
    [
        ("Move right", "right"),
        ("right", "right"),
        ("R", "right"),
        ("east", "right"),
        ("go right", "right"),
        ("move east", "right"),
        ("step right", "right"),
        ("\u2192", "right"),
        ("Move \u2193", "down"),
        ("MOVE DOWN", "down"),
        ("**Step 2:** move down.", "down"),
        ("Step 3: Move right", "right"),
        ("move one square down", "down"),
        ("go south", "down"),
        ("move to the left", "left"),
        ("head north", "up"),
        ("go upward", "up"),
        ("d", "down"),
        ("right by 1", "right"),
        ("walk west", "left"),
    ],
)
def test_parser_accepts_documented_forms(text, move):
    assert GridMaze().parse_step(STATE, text) == move


@pytest.mark.parametrize(
    "text",
    ["", "move", "move 2 right", "diagonal", "up and right", "\u2192\u2192", "mover", "upright", "A" * 10_000, "\x00"],
)
def test_parser_rejects_other_text(text):
    with pytest.raises(InvalidStep):
        GridMaze().parse_step(STATE, text)


def test_walls_and_edges_are_invalid_moves():
    task = GridMaze()
    with pytest.raises(InvalidStep, match="leaves the grid"):
        task.apply(STATE, "up")
    with pytest.raises(InvalidStep, match="wall"):
        task.apply(MazeState(STATE.maze, (0, 1), STATE.goal), "down")
    with pytest.raises(InvalidStep):
        task.apply(STATE, "jump")
    assert task.apply(STATE, "right").position == (0, 1)


# ---------------------------------------------------------------------- verifier
def test_verifier_accepts_the_plan_in_several_styles_and_rejects_wrong_plans():
    task = GridMaze(difficulty=1)
    problem = task.generate(random.Random(3))
    plan = [text for _, _, text in task.expert_trajectory(problem.initial_state)]
    arrows = {"Move up": "\u2191", "Move down": "\u2193", "Move left": "\u2190", "Move right": "\u2192"}
    assert task.verify(problem, "\n".join(plan))
    assert task.verify(problem, "\n".join(f"Step {i}: {step.lower()}." for i, step in enumerate(plan, 1)))
    assert task.verify(problem, "\n\n".join(arrows[step] for step in plan))
    assert not task.verify(problem, "\n".join(plan[:-1]))  # stops short of the goal
    assert not task.verify(problem, "\n".join([*plan, plan[-1]]))  # a move after the goal
    assert not task.verify(problem, "\n".join(["Move up"] * 20 + plan))  # bumps into the edge
    for garbage in ("", "banana", "Answer: 3", None, 42):
        assert task.verify(problem, garbage) is False


# ---------------------------------------------------------------------- oracle
@pytest.mark.parametrize("difficulty", range(4))
def test_expert_path_is_shortest(difficulty):
    task = GridMaze(difficulty=difficulty)
    rng = random.Random(10 + difficulty)
    for _ in range(30):
        problem = task.generate(rng)
        maze, start, goal = problem.initial_state
        steps = task.expert_trajectory(problem.initial_state)
        assert len(steps) == bfs_distance(maze, start, goal)
        assert all(task.parse_step(state, text) == action for state, action, text in steps)


@pytest.mark.parametrize("difficulty", range(4))
def test_expert_finishes_optimally_from_off_expert_states(difficulty):
    task = GridMaze(difficulty=difficulty)
    rng = random.Random(20 + difficulty)
    for _ in range(20):
        problem = task.generate(rng)
        state = problem.initial_state
        for _ in range(rng.randrange(1, 15)):
            if task.is_terminal(state):
                break
            expert = task.expert_action(state)
            detours = [m for m in legal_moves(task, state) if m != expert]
            state = task.apply(state, rng.choice(detours or [expert]))
        steps = task.expert_trajectory(state)
        final = task.apply(steps[-1][0], steps[-1][1]) if steps else state
        assert task.is_solved(problem, final)
        assert len(steps) == bfs_distance(state.maze, state.position, state.goal)


def test_expert_tie_break_is_deterministic():
    # Two shortest routes around the pillar: the oracle prefers up, down, left, right in that order.
    task = GridMaze()
    assert task.expert_action(STATE) == "down"
    assert task.expert_action(MazeState(STATE.maze, (2, 0), (0, 2))) == "up"
    assert task.expert_action(MazeState(STATE.maze, (2, 2), (2, 2))) is None


# ---------------------------------------------------------------------- discrete interface
def test_discrete_observation_marks_walls_agent_and_goal():
    task = GridMaze(difficulty=1)
    problem = task.generate(random.Random(0))
    maze, (row, col), (goal_row, goal_col) = problem.initial_state
    obs = task.encode_discrete(problem.initial_state, [])
    assert task.discrete_observation_space().contains(obs)
    walls, agent, goal = obs.reshape(3, 7, 7)
    assert np.array_equal(walls, np.array([[ch == "#" for ch in r] for r in maze], dtype=np.float32))
    assert agent.sum() == 1 and agent[row, col] == 1
    assert goal.sum() == 1 and goal[goal_row, goal_col] == 1
    drawing = task.render_state(problem.initial_state)
    assert drawing.splitlines()[row][col] == "@" and drawing.splitlines()[goal_row][goal_col] == "G"
