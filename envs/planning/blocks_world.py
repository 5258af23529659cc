"""Blocks World: restack lettered blocks from a random start into a random goal configuration."""

from __future__ import annotations

import itertools
import math
import random
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from gymnasium import spaces

from srl_gym.parsing import normalize
from srl_gym.task import InvalidStep, Problem, Task, TaskConfig

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
BLOCKS_PER_LEVEL = (4, 5, 6, 7)
#: The support of a block on the table.
TABLE = -1
#: A configuration is the support of each block (block A first): the index of the block below it, or TABLE.
Supports = tuple[int, ...]
#: A state is (goal supports, current supports), so that one value holds everything the oracle needs.
BlocksState = tuple[Supports, Supports]
#: An action moves one clear block: (block, destination), the destination a block index or TABLE.
BlocksMove = tuple[int, int]
#: Longest step text worth matching; longer texts are not a step.
MAX_STEP_TEXT = 200

_BLOCK = r"(?:the\s+)?(?:block\s+)?([a-z])"
_PLACE = r"(?:the\s+)?(?:block\s+)?([a-z]|table|floor|ground)"
_FROM = rf"(?:\s*(?:from|off(?:\s+of)?)\s+{_PLACE})?"
_ONTO = r"\s*(?:onto|on\s+to|on\s+top\s+of|to\s+the\s+top\s+of|on|atop|to|->|=>|\u2192|>|,)\s*"
_MOVE = re.compile(
    rf"^(?:(?:move|put|place|stack|unstack|set|shift|transfer|take|pick\s+up)\s+)?{_BLOCK}{_FROM}{_ONTO}{_PLACE}$"
)
_TO_TABLE = re.compile(rf"^(?:unstack|put\s*down|lower)\s+{_BLOCK}{_FROM}$")


def _count_configurations(n: int) -> int:
    """How many configurations n blocks have: sets of k towers, summed over k (Lah numbers)."""
    return sum(_lah(n, k) for k in range(1, n + 1))


def _lah(n: int, k: int) -> int:
    """Ways to arrange n labelled blocks into k (unordered, non-empty) towers."""
    return math.comb(n - 1, k - 1) * math.factorial(n) // math.factorial(k)


@dataclass
class BlocksWorldConfig(TaskConfig):
    """Options of `BlocksWorld` (only the difficulty)."""


class BlocksWorld(Task[tuple, BlocksMove]):
    """Blocks World: restack the blocks, one clear block at a time, into the goal towers.

    ## Description
    Blocks A, B, C, ... stand in towers on a table. A block is clear when nothing is on it; a
    move takes one clear block and puts it onto another clear block or onto the table. The agent
    must reach the goal configuration (every block on the block or table it has in the goal).
    Start and goal are independent, uniformly random configurations, never equal. The oracle's
    plan is optimal (fewest moves) from any state: when a block can go straight to its final
    place (its goal support is the table, or a clear block that is already in its final place),
    moving it there starts an optimal plan (Gupta & Nau, 1992); otherwise the state is deadlocked
    and a memoised search picks which misplaced clear block to put on the table.

    ## Action Space
    Text: "Move B onto C" or "Move B to the table". Also accepted: "put B on C", "stack B on C",
    "place B on top of C", "move block b on top of block c", "B -> C", "B onto C", "Move B from
    A onto C", "unstack B", "unstack B from C", "put down B", "B to table", "B -> table", with any
    case, spacing, a "Step k:" label or a final period; "floor" and "ground" mean the table. A
    "from X", when given, must be where the block is. Discrete: ``Discrete(n * n)`` for n blocks:
    for each block X in order, "Move X onto Y" for every other block Y, then "Move X to the
    table"; the mask marks the legal ones.

    ## Observation Space
    Text: the problem, the moves so far and the towers now ("C A | B D": towers bottom to top,
    separated by "|"). Discrete: ``Box(0, 1, (2n(n + 1),))``, for each block a one-hot support
    (the table, then blocks A, B, ...) in the current state, then the same for the goal.

    ## Starting State
    A uniformly random configuration and an independent uniformly random goal, never equal.

    ## Reward
    See `srl_gym.env.ReasoningEnv`. The expert's plan is optimal, so any other plan is as long or longer.

    ## Episode End
    When every block is on its goal support.

    ## Information
    ``answer`` is the plan, one move per line; the verifier replays it.

    ## Arguments
    ``difficulty``: 0: 4 blocks; 1: 5 blocks; 2: 6 blocks; 3: 7 blocks.

    ## Version History
    - v0: initial release.
    """

    name = "BlocksWorld"
    domain = "planning"
    levels = tuple(
        f"{n} blocks, random start and goal towers ({_count_configurations(n)} configurations, "
        f"at most {2 * n - 2} moves)"
        for n in BLOCKS_PER_LEVEL
    )
    config_class = BlocksWorldConfig

    @property
    def n_blocks(self) -> int:
        return BLOCKS_PER_LEVEL[self.difficulty]

    def generate(self, rng: random.Random) -> Problem:
        start = _random_configuration(rng, self.n_blocks)
        goal = _random_configuration(rng, self.n_blocks)
        while goal == start:
            goal = _random_configuration(rng, self.n_blocks)
        names = ", ".join(LETTERS[: self.n_blocks])
        text = (
            f"Blocks world with {self.n_blocks} blocks: {names}. Towers are written bottom to top, "
            "separated by '|'.\n"
            f"Start: {_towers_text(start)}\n"
            f"Goal: {_towers_text(goal)}\n"
            "Move one clear block (nothing on top of it) at a time, onto another clear block or onto "
            "the table, until the goal is reached.\n"
            "Write each step as: Move X onto Y (or: Move X to the table)"
        )
        return Problem(text=text, initial_state=(goal, start))

    def is_terminal(self, state: tuple) -> bool:
        goal, supports = state
        return supports == goal

    def is_solved(self, problem: Problem, state: tuple) -> bool:
        return self.is_terminal(state)

    def expert_action(self, state: tuple) -> BlocksMove | None:
        goal, supports = state
        return _plan(supports, goal)[1]

    def apply(self, state: tuple, action: BlocksMove) -> tuple:
        goal, supports = state
        block, target = action
        if block in supports:
            raise InvalidStep(f"block {LETTERS[block]} is not clear: {LETTERS[supports.index(block)]} is on it")
        if target == block:
            raise InvalidStep(f"block {LETTERS[block]} cannot go onto itself")
        if supports[block] == target:
            raise InvalidStep(f"block {LETTERS[block]} is already on {_place_name(target)}")
        if target != TABLE and target in supports:
            raise InvalidStep(f"block {LETTERS[target]} is not clear: {LETTERS[supports.index(target)]} is on it")
        return goal, _moved(supports, block, target)

    def format_step(self, state: tuple, action: BlocksMove) -> str:
        block, target = action
        if target == TABLE:
            return f"Move {LETTERS[block]} to the table"
        return f"Move {LETTERS[block]} onto {LETTERS[target]}"

    def parse_step(self, state: tuple, text: str) -> BlocksMove:
        if len(text) > MAX_STEP_TEXT:
            raise InvalidStep("expected 'Move X onto Y' or 'Move X to the table'")
        text = normalize(text)
        match = _MOVE.match(text)
        if match:
            block, source, target = match.groups()
        else:
            match = _TO_TABLE.match(text)
            if not match:
                raise InvalidStep("expected 'Move X onto Y' or 'Move X to the table'")
            (block, source), target = match.groups(), "table"
        supports = state[1]
        block = self._place_index(block)
        if source is not None and self._place_index(source) != supports[block]:
            raise InvalidStep(
                f"block {LETTERS[block]} is on {_place_name(supports[block])}, "
                f"not on {_place_name(self._place_index(source))}"
            )
        return block, self._place_index(target)

    def render_state(self, state: tuple) -> str:
        return _towers_text(state[1])

    def known_expert_length(self, problem: Problem) -> int:
        goal, supports = problem.initial_state
        return _plan(supports, goal)[0]  # the expert plays _plan's first moves: an optimal plan, one move less a step

    def move_set(self) -> tuple[BlocksMove, ...]:
        return _move_set(self.n_blocks)

    def legal_mask(self, state: tuple) -> np.ndarray:
        # The checks of `apply`, without building a state or raising for each illegal move.
        supports = state[1]
        covered = set(supports)
        return np.array(
            [x not in covered and (y == TABLE or y not in covered) and supports[x] != y for x, y in self.move_set()],
            dtype=np.int8,
        )

    def discrete_observation_space(self) -> spaces.Box:
        n = self.n_blocks
        return spaces.Box(0.0, 1.0, shape=(2 * n * (n + 1),), dtype=np.float32)

    def encode_discrete(self, state: tuple, candidate_texts: list[str]) -> np.ndarray:
        goal, supports = state
        n = len(supports)
        obs = np.zeros(2 * n * (n + 1), dtype=np.float32)
        # Support s (TABLE = -1 or a block) of block i is slot s + 1 of the block's n + 1 slots.
        obs[[(n + 1) * i + s + 1 for i, s in enumerate(supports + goal)]] = 1.0
        return obs

    # ------------------------------------------------------------------ helpers
    def _place_index(self, token: str) -> int:
        if token in ("table", "floor", "ground"):
            return TABLE
        index = LETTERS.index(token.upper())
        if index >= self.n_blocks:
            raise InvalidStep(
                f"there is no block {token.upper()}; the blocks are {LETTERS[0]}-{LETTERS[self.n_blocks - 1]}"
            )
        return index


@lru_cache
def _move_set(n: int) -> tuple[BlocksMove, ...]:
    """For each block X in order, X onto every other block, then X to the table."""
    return tuple((x, y) for x in range(n) for y in (*(y for y in range(n) if y != x), TABLE))


def _random_configuration(rng: random.Random, n: int) -> Supports:
    """A uniformly random configuration of n blocks.

    Draw the number of towers k with weight Lah(n, k), then a random order of the blocks cut at k - 1
    random places: each set of k towers arises from exactly k! (order, cuts) pairs, so all are equally likely.
    """
    k = rng.choices(range(1, n + 1), cum_weights=_towers_cum_weights(n))[0]
    order = list(range(n))
    rng.shuffle(order)
    cuts = sorted(rng.sample(range(1, n), k - 1))
    supports = [TABLE] * n
    for lo, hi in zip([0, *cuts], [*cuts, n], strict=True):
        for below, above in zip(order[lo : hi - 1], order[lo + 1 : hi], strict=True):
            supports[above] = below
    return tuple(supports)


@lru_cache(maxsize=16)
def _towers_cum_weights(n: int) -> tuple[int, ...]:
    """The running sums of Lah(n, k) for k = 1..n (what ``random.choices`` makes of those weights)."""
    return tuple(itertools.accumulate(_lah(n, k) for k in range(1, n + 1)))


@lru_cache(maxsize=1 << 13)  # configurations: 73 of 4 blocks (level 0) ... 37,633 of 7 (level 3)
def _towers_text(supports: Supports) -> str:
    """The towers bottom to top ("C A | B D"), ordered by their bottom block."""
    above = {s: b for b, s in enumerate(supports) if s != TABLE}
    towers = []
    for bottom in (b for b, s in enumerate(supports) if s == TABLE):
        tower = [bottom]
        while tower[-1] in above:
            tower.append(above[tower[-1]])
        towers.append(" ".join(LETTERS[b] for b in tower))
    return " | ".join(towers)


def _place_name(place: int) -> str:
    return "the table" if place == TABLE else LETTERS[place]


def _moved(supports: Supports, block: int, target: int) -> Supports:
    return supports[:block] + (target,) + supports[block + 1 :]


def _in_place(supports: Supports, goal: Supports) -> list[bool]:
    """Whether each block is in its final place: on its goal support, and that support in its final place."""
    placed: list[bool | None] = [None] * len(supports)

    def check(b: int) -> bool:
        if placed[b] is None:
            s = supports[b]
            placed[b] = s == goal[b] and (s == TABLE or check(s))
        return placed[b]

    return [check(b) for b in range(len(supports))]


@lru_cache(maxsize=1 << 16)
def _plan(supports: Supports, goal: Supports) -> tuple[int, BlocksMove | None]:
    """The length of an optimal plan from ``supports`` to ``goal`` and its first move.

    In a complete-goal blocks world, some optimal plan never moves a block in its final place and
    moves every other block straight to its final place when it can, else to the table (Gupta & Nau,
    1992). So a constructive move, when there is one, is always optimal first; only in a deadlock
    (none) must a search choose which misplaced clear block goes to the table.
    """
    if supports == goal:
        return 0, None
    placed = _in_place(supports, goal)
    covered = set(supports)
    loose = [b for b in range(len(supports)) if b not in covered and not placed[b]]
    for b in loose:
        g = goal[b]
        if g == TABLE or (placed[g] and g not in covered):
            return 1 + _plan(_moved(supports, b, g), goal)[0], (b, g)
    best: tuple[int, BlocksMove | None] = (len(supports) * 2 + 1, None)
    for b in loose:
        if supports[b] != TABLE:
            cost = 1 + _plan(_moved(supports, b, TABLE), goal)[0]
            if cost < best[0]:
                best = (cost, (b, TABLE))
    return best
