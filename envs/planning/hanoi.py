"""Tower of Hanoi from any legal starting configuration to a full tower on a goal peg."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from gymnasium import spaces

from srl_gym.parsing import normalize
from srl_gym.task import InvalidStep, Problem, Task, TaskConfig

PEGS = "ABC"
DISKS_PER_LEVEL = (3, 4, 5, 6)
#: A state is the peg (0, 1, 2) of each disk, disk 1 (the smallest) first.
HanoiState = tuple[int, ...]
#: An action moves the top disk of one peg to another: (from_peg, to_peg).
HanoiMove = tuple[int, int]
MOVES: tuple[HanoiMove, ...] = tuple((a, b) for a in range(3) for b in range(3) if a != b)

_PEG = r"(?:peg|rod|tower|pole)?\s*([abc1-3])"
_VERB = r"^(?:move|put|place|shift|transfer)?\s*(?:the\s+)?(?:top\s+)?"
_TO = r"\s*(?:to|onto|->|=>|\u2192|-|>|,)\s*"
_MOVE = re.compile(rf"{_VERB}(?:(?:disk|disc)?\s*(\d+)\s*:?\s*|(?:disk|disc)\s*)?(?:from\s+)?{_PEG}{_TO}{_PEG}$")
#: "Move disk 2 to C": the source is wherever disk 2 is.
_DISK_TO = re.compile(rf"{_VERB}(?:disk|disc)\s*(\d+){_TO}{_PEG}$")


@dataclass
class HanoiConfig(TaskConfig):
    """Options of `Hanoi` (only the difficulty)."""


class Hanoi(Task[tuple, HanoiMove]):
    """Tower of Hanoi: move every disk onto the goal peg, one top disk at a time.

    ## Description
    Disks 1 (smallest) to n sit on pegs A, B and C, in any legal configuration. The agent must
    build the full tower on the goal peg, moving one top disk at a time and never placing a disk
    on a smaller one. The oracle is the optimal recursive strategy from any configuration (get
    the largest misplaced disk to the goal: first park the smaller ones on the spare peg).

    ## Action Space
    Text: "Move disk 2 from A to C". Also accepted: "disk 2 A->C", "A to C", "move from peg a to
    peg c", "disk 2 to C" (from wherever disk 2 is), "1 -> 3" (pegs 1-3 stand for A-C), with any
    case, spacing, a "Step k:" label or a final period; "disc", "rod", "tower", "pole", "put",
    "place", "transfer" are synonyms. A disk number, when given, must be the disk on top of the
    source peg. Discrete: ``Discrete(6)``, the moves A->B, A->C, B->A, B->C, C->A, C->B; the mask
    marks the legal ones.

    ## Observation Space
    Text: the problem, the moves so far and the pegs now ("A: 3 2 1 | B: - | C: -", bottom to
    top). Discrete: ``Box(-1, 1, (6n + 3,))``, for each disk (1 to n) a one-hot of its peg and a
    one-hot of its peg relative to the goal (on the goal, one peg after it, two pegs after it,
    counting A -> B -> C -> A), then a one-hot of the goal peg; "one-hot" here is +1 at the hot
    entry and -1 elsewhere. The relative part is what the optimal move depends on (which disks are
    home, and where the largest misplaced one must go), so a small policy network can read it off
    rather than learn the peg arithmetic; the +-1 coding keeps every input active (a 0/1 coding
    left two thirds of the first layer's inputs at 0). Measured with the README's MaskablePPO
    example (default hyper-parameters, 20k steps, 3 disks, seeds 0-4, 100 test problems):
    `benchmarks/discrete_hanoi_curves.py`.

    ## Starting State
    A uniformly random legal configuration and goal peg, never already solved.

    ## Reward
    See `srl_gym.env.ReasoningEnv`. The expert's plan is optimal, so any other plan is longer.

    ## Episode End
    When every disk is on the goal peg.

    ## Information
    ``answer`` is the plan, one move per line; the verifier replays it.

    ## Arguments
    ``difficulty``: 0: 3 disks; 1: 4 disks; 2: 5 disks; 3: 6 disks.

    ## Version History
    - v0: initial release. Before 2026-12 the discrete observation was ``Box(0, 1, (3n + 3,))``
      (a 0/1 one-hot peg per disk, then the goal peg); `benchmarks/discrete_hanoi_curves.py
      --observation legacy` reruns that one.
    """

    name = "Hanoi"
    domain = "planning"
    levels = tuple(f"{n} disks, any legal start, goal peg random (at most {2**n - 1} moves)" for n in DISKS_PER_LEVEL)
    config_class = HanoiConfig

    @property
    def n_disks(self) -> int:
        return DISKS_PER_LEVEL[self.difficulty]

    def generate(self, rng: random.Random) -> Problem:
        while True:
            pegs = tuple(rng.randrange(3) for _ in range(self.n_disks))
            goal = rng.randrange(3)
            if any(p != goal for p in pegs):
                break
        state = (goal, pegs)
        text = (
            f"Tower of Hanoi with {self.n_disks} disks (disk 1 is the smallest) on pegs A, B and C.\n"
            f"Start (bottom to top): {self._pegs_text(pegs)}.\n"
            f"Goal: all disks on peg {PEGS[goal]}. Move one top disk at a time and never put a disk "
            "on a smaller one.\nWrite each step as: Move disk D from X to Y"
        )
        return Problem(text=text, initial_state=state)

    # A state is (goal_peg, pegs) so that one value holds everything the oracle needs.
    def is_terminal(self, state: tuple) -> bool:
        goal, pegs = state
        return all(p == goal for p in pegs)

    def is_solved(self, problem: Problem, state: tuple) -> bool:
        return self.is_terminal(state)

    def expert_action(self, state: tuple) -> HanoiMove | None:
        goal, pegs = state
        return _first_move(pegs, len(pegs), goal)

    def apply(self, state: tuple, action: HanoiMove) -> tuple:
        goal, pegs = state
        source, target = action
        moving = _top_disk(pegs, source)
        if moving is None:
            raise InvalidStep(f"peg {PEGS[source]} is empty")
        below = _top_disk(pegs, target)
        if below is not None and below < moving:
            raise InvalidStep(f"disk {moving} cannot go on the smaller disk {below}")
        new = list(pegs)
        new[moving - 1] = target
        return goal, tuple(new)

    def format_step(self, state: tuple, action: HanoiMove) -> str:
        disk = _top_disk(state[1], action[0])
        return f"Move disk {disk} from {PEGS[action[0]]} to {PEGS[action[1]]}"

    def parse_step(self, state: tuple, text: str) -> HanoiMove:
        text = normalize(text)
        if match := _DISK_TO.match(text):
            disk, target = match.groups()
            if not 1 <= int(disk) <= len(state[1]):
                raise InvalidStep(f"there is no disk {disk}")
            move = (state[1][int(disk) - 1], _peg_index(target))
        elif match := _MOVE.match(text):
            disk, source, target = match.groups()
            move = (_peg_index(source), _peg_index(target))
        else:
            raise InvalidStep("expected 'Move disk D from X to Y'")
        if move[0] == move[1]:
            raise InvalidStep("source and target pegs are the same")
        if disk is not None and int(disk) != _top_disk(state[1], move[0]):
            raise InvalidStep(f"disk {disk} is not on top of peg {PEGS[move[0]]}")
        return move

    def render_state(self, state: tuple) -> str:
        return self._pegs_text(state[1])

    def known_expert_length(self, problem: Problem) -> int:
        goal, pegs = problem.initial_state
        return _plan_length(pegs, len(pegs), goal)

    def move_set(self) -> tuple[HanoiMove, ...]:
        return MOVES

    def legal_mask(self, state: tuple) -> np.ndarray:
        # The checks of `apply`: a move is legal when its source peg's top disk is smaller than the target's.
        tops = [len(state[1]) + 1] * 3  # an empty peg's "top disk" is larger than every disk
        for disk, peg in reversed(tuple(enumerate(state[1], 1))):
            tops[peg] = disk
        return np.array([tops[a] < tops[b] for a, b in MOVES], dtype=np.int8)

    def discrete_observation_space(self) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, shape=(6 * self.n_disks + 3,), dtype=np.float32)

    def encode_discrete(self, state: tuple, candidate_texts: list[str]) -> np.ndarray:
        goal, pegs = state
        n = len(pegs)
        obs = np.full(6 * n + 3, -1.0, dtype=np.float32)
        for i, peg in enumerate(pegs):
            obs[6 * i + peg] = 1.0  # where disk i + 1 is
            obs[6 * i + 3 + (peg - goal) % 3] = 1.0  # where it is, counted from the goal peg
        obs[6 * n + goal] = 1.0
        return obs

    # ------------------------------------------------------------------ helpers
    def _pegs_text(self, pegs: tuple[int, ...]) -> str:
        towers = []
        for peg in range(3):
            disks = [str(d) for d in range(len(pegs), 0, -1) if pegs[d - 1] == peg]
            towers.append(f"{PEGS[peg]}: {' '.join(disks) or '-'}")
        return " | ".join(towers)


def _top_disk(pegs: tuple[int, ...], peg: int) -> int | None:
    """The smallest disk on ``peg`` (disks are numbered from 1), or None."""
    for disk, where in enumerate(pegs, 1):
        if where == peg:
            return disk
    return None


@lru_cache(maxsize=1 << 16)
def _first_move(pegs: tuple[int, ...], k: int, target: int) -> HanoiMove | None:
    """The first move of the optimal plan that gathers disks 1..k on ``target``."""
    while k > 0 and pegs[k - 1] == target:
        k -= 1
    if k == 0:
        return None
    source = pegs[k - 1]
    spare = 3 - source - target
    return _first_move(pegs, k - 1, spare) or (source, target)


def _plan_length(pegs: tuple[int, ...], k: int, target: int) -> int:
    """The number of moves of the plan `_first_move` starts: disks 1..k-1 onto the spare peg, disk k onto
    ``target``, then the tower of k - 1 disks onto it (2^(k-1) - 1 moves); disks already home are skipped."""
    moves = 0
    while True:
        while k > 0 and pegs[k - 1] == target:
            k -= 1
        if k == 0:
            return moves
        moves += 1 << (k - 1)  # disk k's move and the tower's 2^(k-1) - 1
        target = 3 - pegs[k - 1] - target  # disks 1..k-1 go to the spare peg first
        k -= 1


def _peg_index(token: str) -> int:
    return int(token) - 1 if token.isdigit() else PEGS.index(token.upper())
