"""Grid maze: walk from the start square to the goal square by the shortest path."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import lru_cache
from itertools import compress
from typing import NamedTuple

import numpy as np
from gymnasium import spaces

from srl_gym.parsing import normalize
from srl_gym.task import InvalidStep, Problem, Task, TaskConfig

WALL, FLOOR = "#", "."
#: Side of the square grid at each level; rooms sit on even rows and columns, so (n + 1) / 2 rooms a side.
SIZE_PER_LEVEL = (5, 7, 9, 13)
#: Chance that each wall left between two rooms by the tree maze is knocked down, making loops
#: (so that several routes exist and a detour is a real mistake, not a dead end).
LOOP_CHANCE = 0.15
#: The moves, in the order of the discrete actions and of the oracle's tie-break.
MOVES: tuple[str, ...] = ("up", "down", "left", "right")
DELTAS = {"up": (-1, 0), "down": (1, 0), "left": (0, -1), "right": (0, 1)}
Square = tuple[int, int]

_DIRECTION_WORDS = {
    "up": "up", "u": "up", "north": "up", "\u2191": "up",
    "down": "down", "d": "down", "south": "down", "\u2193": "down",
    "left": "left", "l": "left", "west": "left", "\u2190": "left",
    "right": "right", "r": "right", "east": "right", "\u2192": "right",
}  # fmt: skip
_DIRECTION = r"(up|down|left|right|north|south|east|west|u|d|l|r|\u2191|\u2193|\u2190|\u2192)"
_UNIT = r"(?:one|1|a)\s+(?:square|step|cell|tile|space)"
_STEP = re.compile(
    rf"^(?:(?:move|go|step|walk|head|run)\b\s*)?(?:(?:the\s+)?(?:agent|player|robot)\s+)?(?:{_UNIT}\s+)?"
    rf"(?:to\s+the\s+|towards?\s+(?:the\s+)?)?{_DIRECTION}(?:wards?)?(?:\s+(?:by\s+)?(?:one|1|once)"
    rf"(?:\s+(?:square|step|cell|tile|space))?)?$"
)
#: Longest step text worth matching; anything longer is no single move.
_MAX_STEP_CHARS = 100


class MazeState(NamedTuple):
    """The maze rows ('#' wall, '.' floor), the agent's square and the goal square, as (row, column)."""

    maze: tuple[str, ...]
    position: Square
    goal: Square


@dataclass
class GridMazeConfig(TaskConfig):
    """Options of `GridMaze` (only the difficulty)."""


class GridMaze(Task[MazeState, str]):
    """Grid maze: walk from S to G in as few moves as possible.

    ## Description
    A square grid of walls ('#') and floor ('.'), drawn as a random maze: a randomized
    depth-first-search tree of rooms (on even rows and columns) with a few extra walls knocked
    down to make loops, so there are often several routes. The agent starts on S and must reach
    G, one square up, down, left or right at a time, never into a wall or off the grid. The
    oracle follows a shortest path: a breadth-first distance-to-goal map (computed once per maze
    and goal, cached) and the first move that lowers the distance, in the order up, down, left,
    right.

    ## Action Space
    Text: "Move right". Also accepted: "right", "R", "east", "go right", "move east", "step
    right", "walk left", "head north", "move one square up", "move to the left", "go upward",
    "right by 1", and the arrows "\u2191 \u2193 \u2190 \u2192", with any case, spacing, a "Step k:" label,
    markdown or a final period. up/north/U, down/south/D, left/west/L, right/east/R are synonyms.
    Moving into a wall or off the grid is an invalid step. Discrete: ``Discrete(4)``, the moves
    up, down, left, right; the mask marks the moves that do not hit a wall or the edge.

    ## Observation Space
    Text: the problem (the maze with S and G), the moves so far and the maze now, with the agent
    drawn as '@'. Discrete: ``Box(0, 1, (3 * n * n,), float32)`` for an n x n grid: three
    flattened planes, the walls, the agent's square and the goal square (row-major).

    ## Starting State
    A random maze, a random goal square and a random start at least half the largest distance
    to the goal away from it (never the goal itself).

    ## Reward
    See `srl_gym.env.ReasoningEnv`. The expert's path is a shortest one, so any other is longer.

    ## Episode End
    When the agent stands on G. No move leads to a dead end: every move can be undone.

    ## Information
    ``answer`` is the path, one move per line; the verifier replays it.

    ## Arguments
    ``difficulty``: 0: 5x5 grid (3x3 rooms); 1: 7x7 (4x4 rooms); 2: 9x9 (5x5 rooms);
    3: 13x13 (7x7 rooms).

    ## Version History
    - v0: initial release.
    """

    name = "GridMaze"
    domain = "planning"
    levels = tuple(f"{n}x{n} grid maze ({(n + 1) // 2}x{(n + 1) // 2} rooms, a few loops)" for n in SIZE_PER_LEVEL)
    config_class = GridMazeConfig

    @property
    def size(self) -> int:
        return SIZE_PER_LEVEL[self.difficulty]

    def generate(self, rng: random.Random) -> Problem:
        size = self.size
        maze = _random_maze(size, rng)
        squares = _squares(size, size)
        floor = list(compress(squares, _floor_flags(maze)))  # the floor squares, row-major
        goal = rng.choice(floor)
        distances = _distances_to_goal(maze, goal)
        least = max(1, max(distances) // 2)  # a start at least half the farthest distance away
        starts = list(compress(squares, [d >= least for d in distances]))  # floor squares (walls are -1), row-major
        start = rng.choice(starts)
        state = MazeState(maze, start, goal)
        text = (
            f"Grid maze of {size} rows and {size} columns: '#' is a wall, '.' is floor, "
            "S is your start and G is the goal.\n"
            f"{_draw(maze, {start: 'S', goal: 'G'})}\n"
            "Reach G in as few moves as possible. Each move goes one square up, down, left or right; "
            "you cannot enter a wall or leave the grid.\n"
            "Write each step as: Move D (D is up, down, left or right)"
        )
        return Problem(text=text, initial_state=state, meta={"shortest": distances[start[0] * size + start[1]]})

    def is_terminal(self, state: MazeState) -> bool:
        return state.position == state.goal

    def is_solved(self, problem: Problem, state: MazeState) -> bool:
        return self.is_terminal(state)

    def expert_action(self, state: MazeState) -> str | None:
        maze, (row, col), goal = state
        if (row, col) == goal:
            return None
        distances = _distances_to_goal(maze, goal)
        height, width = len(maze), len(maze[0])
        here = distances[row * width + col]
        for move in MOVES:
            dr, dc = DELTAS[move]
            r, c = row + dr, col + dc
            if 0 <= r < height and 0 <= c < width and distances[r * width + c] == here - 1:
                return move
        raise RuntimeError(f"GridMaze: no path to the goal from {state.position} (cannot happen in a generated maze)")

    def apply(self, state: MazeState, action: str) -> MazeState:
        maze, (row, col), goal = state
        if action not in DELTAS:
            raise InvalidStep(f"unknown move {action!r}; the moves are {', '.join(MOVES)}")
        dr, dc = DELTAS[action]
        r, c = row + dr, col + dc
        if not (0 <= r < len(maze) and 0 <= c < len(maze[0])):
            raise InvalidStep(f"moving {action} leaves the grid")
        if maze[r][c] == WALL:
            raise InvalidStep(f"moving {action} walks into a wall")
        return MazeState(maze, (r, c), goal)

    def format_step(self, state: MazeState, action: str) -> str:
        return f"Move {action}"

    def parse_step(self, state: MazeState, text: str) -> str:
        text = normalize(text)
        match = _STEP.match(text) if len(text) <= _MAX_STEP_CHARS else None
        if not match:
            raise InvalidStep("expected 'Move D' with D one of up, down, left, right")
        return _DIRECTION_WORDS[match.group(1)]

    def render_state(self, state: MazeState) -> str:
        return _draw(state.maze, {state.goal: "G", state.position: "@"})

    def known_expert_length(self, problem: Problem) -> int:
        return problem.meta["shortest"]  # the expert's every move brings it one square closer to the goal

    def move_set(self) -> tuple[str, ...]:
        return MOVES

    def legal_mask(self, state: MazeState) -> np.ndarray:
        # The checks of `apply`: the square the move leads to is inside the grid and not a wall.
        maze, (row, col), _ = state
        height, width = len(maze), len(maze[0])
        squares = ((row + DELTAS[move][0], col + DELTAS[move][1]) for move in MOVES)
        return np.array([0 <= r < height and 0 <= c < width and maze[r][c] != WALL for r, c in squares], dtype=np.int8)

    def discrete_observation_space(self) -> spaces.Box:
        return spaces.Box(0.0, 1.0, shape=(3 * self.size * self.size,), dtype=np.float32)

    def encode_discrete(self, state: MazeState, candidate_texts: list[str]) -> np.ndarray:
        maze, (row, col), (goal_row, goal_col) = state
        width = len(maze[0])
        cells = len(maze) * width
        obs = np.zeros(3 * cells, dtype=np.float32)
        obs[:cells] = _wall_plane(maze)
        obs[cells + row * width + col] = 1.0
        obs[2 * cells + goal_row * width + goal_col] = 1.0
        return obs


# ---------------------------------------------------------------------- helpers
def _random_maze(size: int, rng: random.Random) -> tuple[str, ...]:
    """A size x size maze: a randomized depth-first-search tree over the rooms, plus a few loops."""
    grid = bytearray(size * size)  # row-major, 1 for floor (0: wall)
    rooms = range(0, size, 2)
    first_row, first_col = rng.choice(rooms), rng.choice(rooms)
    first = first_row * size + first_col
    grid[first] = 1
    neighbours = _room_neighbours(size)
    choice = rng.choice
    stack = [first]
    while stack:
        unvisited = [pair for pair in neighbours[stack[-1]] if not grid[pair[1]]]
        if not unvisited:
            stack.pop()
            continue
        wall, room = choice(unvisited)
        grid[wall] = grid[room] = 1
        stack.append(room)
    draw = rng.random
    for square in _room_walls(size):
        if not grid[square] and draw() < LOOP_CHANCE:
            grid[square] = 1
    squares = grid.translate(_GLYPHS).decode("ascii")
    return tuple([squares[start : start + size] for start in range(0, size * size, size)])


#: `bytes.translate` table of `_random_maze`'s grid: 0 -> WALL, 1 -> FLOOR.
_GLYPHS = bytes([ord(WALL), ord(FLOOR)]) + bytes(254)


@lru_cache(maxsize=16)  # one entry per maze size
def _room_neighbours(size: int) -> dict[int, tuple[tuple[int, int], ...]]:
    """Each room's neighbouring rooms (two squares away) inside the grid, in the order up, down, left, right,
    as (the square between them, the room), squares as row-major indices."""
    rooms = range(0, size, 2)
    return {
        row * size + col: tuple(
            ((row + dr // 2) * size + col + dc // 2, (row + dr) * size + col + dc)
            for dr, dc in ((-2, 0), (2, 0), (0, -2), (0, 2))
            if 0 <= row + dr < size and 0 <= col + dc < size
        )
        for row in rooms
        for col in rooms
    }


@lru_cache(maxsize=16)
def _room_walls(size: int) -> tuple[int, ...]:
    """The squares between two rooms (exactly one coordinate odd), as row-major indices in row-major order."""
    return tuple(r * size + c for r in range(size) for c in range(size) if (r + c) % 2 == 1)


@lru_cache(maxsize=16)
def _square_neighbours(height: int, width: int) -> tuple[tuple[int, ...], ...]:
    """Each square's neighbours inside the grid (up, down, left, right), as row-major indices."""
    return tuple(
        tuple(
            (row + dr) * width + col + dc
            for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1))
            if 0 <= row + dr < height and 0 <= col + dc < width
        )
        for row in range(height)
        for col in range(width)
    )


@lru_cache(maxsize=4096)
def _distances_to_goal(maze: tuple[str, ...], goal: Square) -> tuple[int, ...]:
    """Breadth-first distance of every square to ``goal``, row-major; -1 for walls."""
    height, width = len(maze), len(maze[0])
    neighbours = _square_neighbours(height, width)
    unseen = bytearray(_floor_flags(maze))  # 1 for a floor square not reached yet
    distances = [-1] * (height * width)
    start = goal[0] * width + goal[1]
    distances[start] = 0
    unseen[start] = 0
    frontier, here = [start], 0
    while frontier:
        here += 1
        next_frontier = []
        for square in frontier:
            for other in neighbours[square]:
                if unseen[other]:
                    unseen[other] = 0
                    distances[other] = here
                    next_frontier.append(other)
        frontier = next_frontier
    return tuple(distances)


@lru_cache(maxsize=16)
def _squares(height: int, width: int) -> tuple[Square, ...]:
    """Every square as (row, column), row-major: what a row-major index stands for."""
    return tuple((row, col) for row in range(height) for col in range(width))


def _floor_flags(maze: tuple[str, ...]) -> bytes:
    """1 for each floor square, 0 for each wall, row-major."""
    return "".join(maze).encode("ascii").translate(_FLAGS)


#: `bytes.translate` table of `_floor_flags`: FLOOR -> 1, anything else -> 0.
_FLAGS = bytes(1 if i == ord(FLOOR) else 0 for i in range(256))


@lru_cache(maxsize=1024)
def _wall_plane(maze: tuple[str, ...]) -> np.ndarray:
    plane = np.array([ch == WALL for row in maze for ch in row], dtype=np.float32)
    plane.flags.writeable = False
    return plane


def _draw(maze: tuple[str, ...], marks: dict[Square, str]) -> str:
    """The maze rows, one a line, with ``marks`` (square -> character) drawn over them."""
    line = len(maze[0]) + 1  # a row and its newline
    chars = list("\n".join(maze))
    for (row, col), mark in marks.items():
        chars[row * line + col] = mark
    return "".join(chars)
