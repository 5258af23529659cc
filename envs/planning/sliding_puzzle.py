"""The 8-puzzle: slide tiles into the blank until the board reads 1 to 8 in order."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import cache
from typing import NamedTuple

import numpy as np
from gymnasium import spaces

from srl_gym.parsing import normalize
from srl_gym.task import InvalidStep, Problem, Task, TaskConfig

ROWS, COLS = 3, 3
#: Range of optimal solution lengths of the starting boards at each level (the 8-puzzle's longest is 31).
MOVES_PER_LEVEL = ((4, 10), (11, 16), (17, 22), (23, 31))
#: The moves, named by the direction the TILE slides into the blank (the blank goes the other
#: way); the order of the discrete actions and of the oracle's tie-break.
MOVES: tuple[str, ...] = ("up", "down", "left", "right")
OPPOSITE = {"up": "down", "down": "up", "left": "right", "right": "left"}
BLANK = 0

_DIRECTION_WORDS = {
    "up": "up", "u": "up", "north": "up", "\u2191": "up",
    "down": "down", "d": "down", "south": "down", "\u2193": "down",
    "left": "left", "l": "left", "west": "left", "\u2190": "left",
    "right": "right", "r": "right", "east": "right", "\u2192": "right",
}  # fmt: skip
_VERB = r"(?:(?:slide|move|push|shift|go)\b\s*)?"
_DIRECTION = (
    r"(?:to\s+the\s+|towards?\s+(?:the\s+)?)?"
    r"(up|down|left|right|north|south|east|west|u|d|l|r|\u2191|\u2193|\u2190|\u2192)(?:wards?)?"
    r"(?:\s+(?:by\s+)?(?:one|1|once)(?:\s+(?:square|step|cell|space))?)?"
)
_INTO_BLANK = r"(?:in|into|to)\s+the\s+(?:blank|gap|hole|empty\s+(?:square|space|cell|spot))(?:\s+(?:square|space))?"
_TILE_STEP = re.compile(
    rf"^{_VERB}(?:the\s+)?(?:tile|piece|number|block)?\s*(?:number\s+|no\s+|#\s*)?(\d{{1,3}})\s*"
    rf"(?:{_DIRECTION}|{_INTO_BLANK})?$"
)
_BLANK_STEP = re.compile(
    rf"^{_VERB}(?:the\s+)?(?:blank|empty|gap|hole|space)(?:\s+(?:tile|space|square|cell|spot))?\s*{_DIRECTION}$"
)
_BARE_STEP = re.compile(rf"^{_VERB}(?:(?:a|the)\s+tile\s+)?{_DIRECTION}$")
#: A lone underscore is the blank as the board draws it; mark it before `normalize` strips it as markdown.
_LONE_UNDERSCORE = re.compile(r"(?<!\w)_(?!\w)")
#: Longest step text worth matching; anything longer is no single move.
_MAX_STEP_CHARS = 100


class PuzzleState(NamedTuple):
    """The board, row-major, with 0 for the blank, and its number of columns."""

    cols: int
    tiles: tuple[int, ...]


@dataclass
class SlidingPuzzleConfig(TaskConfig):
    """Options of `SlidingPuzzle` (only the difficulty)."""


class SlidingPuzzle(Task[PuzzleState, str]):
    """The 8-puzzle: slide the tiles until the board reads 1 to 8 with the blank last.

    ## Description
    Tiles 1 to 8 and one blank sit on a 3x3 board. A move slides a tile next to the blank into
    it. The goal is "1 2 3 / 4 5 6 / 7 8 _", in as few moves as possible. The oracle is optimal:
    a breadth-first search from the goal over all 181,440 solvable boards, built once per process
    on first use (about 0.2 s), gives the true distance of every board; the expert takes the
    first move (in the order up, down, left, right) that lowers it.

    ## Action Space
    Moves are named by the direction the TILE slides (the blank goes the opposite way). Text:
    "Slide 5 down". Also accepted: "slide tile 5 down", "move 5 down", "5 down", "tile 5 down",
    "slide 5 into the blank", "slide 5" or "5" (the tile must touch the blank; the direction
    is then implied), "down" or "slide down" (the tile above the blank slides down), and the
    blank's view: "move the blank up", "blank up", "move the empty square up", "move _ up",
    "0 up" (all mean "the blank moves up", i.e. the tile above it slides down). up/north/U/
    \u2191, down/south/D/\u2193, left/west/L/\u2190, right/east/R/\u2192 are synonyms; any case,
    spacing, a "Step k:" label, markdown or a final period. A tile number must name the tile that
    makes that move. Discrete: ``Discrete(4)``, a tile sliding up, down, left, right; the mask
    marks the moves that have a tile to slide.

    ## Observation Space
    Text: the problem (start and goal boards), the moves so far and the board now ("_" is the
    blank). Discrete: ``Box(0, 1, (81,), float32)``: for each of the blank and tiles 1 to 8 (in
    that order), a one-hot of its square (row-major).

    ## Starting State
    A solvable board drawn uniformly among those whose optimal solution length is in the
    level's range.

    ## Reward
    See `srl_gym.env.ReasoningEnv`. The expert's plan is optimal, so any other plan is longer.

    ## Episode End
    When the board is the goal. No move leads to a dead end: every move can be undone.

    ## Information
    ``answer`` is the plan, one move per line; the verifier replays it.

    ## Arguments
    ``difficulty``: 0: 4-10 moves; 1: 11-16 moves; 2: 17-22 moves; 3: 23-31 moves (optimal
    solution lengths, 3x3 board).

    ## Version History
    - v0: initial release.
    """

    name = "SlidingPuzzle"
    domain = "planning"
    levels = tuple(f"3x3 board (8-puzzle), optimal solution of {lo}-{hi} moves" for lo, hi in MOVES_PER_LEVEL)
    config_class = SlidingPuzzleConfig

    def generate(self, rng: random.Random) -> Problem:
        lo, hi = MOVES_PER_LEVEL[self.difficulty]
        boards = _boards_at_distance(ROWS, COLS, lo, hi)
        key = boards[rng.randrange(len(boards))]
        tiles = _unpack(key, ROWS * COLS)
        goal = (*range(1, ROWS * COLS), BLANK)
        text = (
            f"Sliding puzzle on a {ROWS}x{COLS} board: tiles 1 to {ROWS * COLS - 1} and one blank square (_).\n"
            f"Start:\n{_draw(COLS, tiles)}\nGoal:\n{_draw(COLS, goal)}\n"
            "A move slides a tile next to the blank into the blank. Reach the goal in as few moves as possible.\n"
            "Write each step as: Slide T D (T is the tile, D the direction it moves: up, down, left or right)"
        )
        state = PuzzleState(COLS, tiles)
        return Problem(text=text, initial_state=state, meta={"optimal_moves": _solution_table(ROWS, COLS)[0][key]})

    def is_terminal(self, state: PuzzleState) -> bool:
        tiles = state.tiles
        return tiles[-1] == BLANK and all(tiles[i] == i + 1 for i in range(len(tiles) - 1))

    def is_solved(self, problem: Problem, state: PuzzleState) -> bool:
        return self.is_terminal(state)

    def expert_action(self, state: PuzzleState) -> str | None:
        cols, tiles = state
        distances = _solution_table(len(tiles) // cols, cols)[0]
        key = _pack(tiles)
        here = distances.get(key)
        if here is None:
            raise RuntimeError(f"SlidingPuzzle: {tiles} cannot reach the goal (an unsolvable board)")
        if here == 0:
            return None
        blank = tiles.index(BLANK)
        for move in MOVES:
            square = _tile_square(cols, len(tiles), blank, move)
            if square is not None:
                tile = tiles[square]
                if distances[key ^ (tile << 4 * square) ^ (tile << 4 * blank)] == here - 1:
                    return move
        raise RuntimeError(f"SlidingPuzzle: no move lowers the distance from {tiles} (cannot happen)")

    def apply(self, state: PuzzleState, action: str) -> PuzzleState:
        cols, tiles = state
        if action not in OPPOSITE:
            raise InvalidStep(f"unknown move {action!r}; the moves are {', '.join(MOVES)}")
        blank = tiles.index(BLANK)
        square = _tile_square(cols, len(tiles), blank, action)
        if square is None:
            raise InvalidStep(f"no tile can slide {action}: the blank is on the {_EDGE[action]} edge")
        board = list(tiles)
        board[blank], board[square] = board[square], BLANK
        return PuzzleState(cols, tuple(board))

    def format_step(self, state: PuzzleState, action: str) -> str:
        cols, tiles = state
        square = _tile_square(cols, len(tiles), tiles.index(BLANK), action) if action in OPPOSITE else None
        return f"Slide {action}" if square is None else f"Slide {tiles[square]} {action}"

    def parse_step(self, state: PuzzleState, text: str) -> str:
        text = normalize(_LONE_UNDERSCORE.sub(" blank ", text[: 4 * _MAX_STEP_CHARS]))
        if len(text) > _MAX_STEP_CHARS:
            raise InvalidStep("expected 'Slide T D' (a tile and a direction)")
        if match := _BARE_STEP.match(text):
            return _DIRECTION_WORDS[match.group(1)]
        if match := _BLANK_STEP.match(text):
            return OPPOSITE[_DIRECTION_WORDS[match.group(1)]]
        match = _TILE_STEP.match(text)
        if not match:
            raise InvalidStep("expected 'Slide T D' (T the tile, D the direction it moves: up, down, left or right)")
        tile, word = int(match.group(1)), match.group(2)
        said = _DIRECTION_WORDS[word] if word else None
        if tile == BLANK:
            if said is None:
                raise InvalidStep("say which way the blank (0) moves, e.g. 'move 0 up'")
            return OPPOSITE[said]
        cols, tiles = state
        if tile not in tiles:
            raise InvalidStep(f"there is no tile {tile}; the tiles are 1 to {len(tiles) - 1}")
        move = _tile_move(cols, tiles.index(tile), tiles.index(BLANK))
        if move is None:
            raise InvalidStep(f"tile {tile} is not next to the blank")
        if said is not None and said != move:
            raise InvalidStep(f"tile {tile} can only slide {move}, into the blank")
        return move

    def render_state(self, state: PuzzleState) -> str:
        return _draw(state.cols, state.tiles)

    def known_expert_length(self, problem: Problem) -> int:
        return problem.meta["optimal_moves"]  # the expert's every move lowers the distance to the goal by one

    def move_set(self) -> tuple[str, ...]:
        return MOVES

    def legal_mask(self, state: PuzzleState) -> np.ndarray:
        # The check of `apply`: a tile can slide in that direction into the blank.
        cols, tiles = state
        blank = tiles.index(BLANK)
        return np.array([_tile_square(cols, len(tiles), blank, move) is not None for move in MOVES], dtype=np.int8)

    def discrete_observation_space(self) -> spaces.Box:
        n = ROWS * COLS
        return spaces.Box(0.0, 1.0, shape=(n * n,), dtype=np.float32)

    def encode_discrete(self, state: PuzzleState, candidate_texts: list[str]) -> np.ndarray:
        tiles = state.tiles
        n = len(tiles)
        obs = np.zeros(n * n, dtype=np.float32)
        obs[[tile * n + square for square, tile in enumerate(tiles)]] = 1.0
        return obs


# ---------------------------------------------------------------------- helpers
_EDGE = {"up": "bottom", "down": "top", "left": "right", "right": "left"}


def _tile_square(cols: int, n: int, blank: int, move: str) -> int | None:
    """The square of the tile that would slide ``move`` into the blank, or None if there is none."""
    if move == "up":
        square = blank + cols
        return square if square < n else None
    if move == "down":
        square = blank - cols
        return square if square >= 0 else None
    if move == "left":
        return blank + 1 if (blank + 1) % cols else None
    return blank - 1 if blank % cols else None


def _tile_move(cols: int, square: int, blank: int) -> str | None:
    """The move that slides the tile on ``square`` into the blank, or None if it does not touch it."""
    if blank == square - cols:
        return "up"
    if blank == square + cols:
        return "down"
    if blank == square - 1 and square % cols:
        return "left"
    if blank == square + 1 and blank % cols:
        return "right"
    return None


def _pack(tiles: tuple[int, ...]) -> int:
    """A board as one int, 4 bits a square (square 0 lowest): cheap to hash and to move a tile in."""
    key = 0
    for square, tile in enumerate(tiles):
        key |= tile << 4 * square
    return key


def _unpack(key: int, n: int) -> tuple[int, ...]:
    return tuple((key >> 4 * square) & 15 for square in range(n))


@cache
def _solution_table(rows: int, cols: int) -> tuple[dict[int, int], list[list[int]]]:
    """Breadth-first search from the goal over every solvable board (packed, see `_pack`).

    Returns the optimal number of moves of each board and the boards at each distance, in a
    deterministic order. 3x3: 181,440 boards in about 0.2 s.
    """
    n = rows * cols
    goal = _pack((*range(1, n), BLANK))
    # For each blank square: the (shift of the neighbouring square, shift of the blank) pairs.
    neighbours = [
        tuple((4 * square, 4 * blank) for move in MOVES if (square := _tile_square(cols, n, blank, move)) is not None)
        for blank in range(n)
    ]
    distances = {goal: 0}
    layers = [[goal]]
    frontier = [(goal, n - 1)]
    while frontier:
        depth = len(layers)
        next_frontier = []
        for key, blank in frontier:
            for tile_shift, blank_shift in neighbours[blank]:
                tile = (key >> tile_shift) & 15
                board = key ^ (tile << tile_shift) ^ (tile << blank_shift)
                if board not in distances:
                    distances[board] = depth
                    next_frontier.append((board, tile_shift // 4))
        frontier = next_frontier
        if frontier:
            layers.append([board for board, _ in frontier])
    return distances, layers


@cache
def _boards_at_distance(rows: int, cols: int, lo: int, hi: int) -> tuple[int, ...]:
    """Every solvable board whose optimal solution takes ``lo`` to ``hi`` moves (packed)."""
    layers = _solution_table(rows, cols)[1]
    return tuple(board for layer in layers[lo : hi + 1] for board in layer)


def _draw(cols: int, tiles: tuple[int, ...]) -> str:
    cells = [str(tile) if tile != BLANK else "_" for tile in tiles]
    return "\n".join(" ".join(cells[row : row + cols]) for row in range(0, len(cells), cols))
