"""The task protocol: what a reasoning task must provide to become a step-wise environment.

A task is pure logic, free of Gymnasium: a seeded problem generator, a transition that applies one
step to a state, an oracle expert that gives the expert's next step from ANY state, a tolerant
parser from step text to a structured action, and a verifier of final answers. `ReasoningEnv`
(`srl_gym.env`) turns any task into a `gymnasium.Env`; agents use tasks directly to build datasets.

Contract for implementers (`tests/test_envs_common.py` checks it for every registered task):

- States and actions are immutable and hashable (tuples, frozen dataclasses, strings): the env
  keeps them, pickles them and compares them.
- ``generate(rng)`` draws only from the ``random.Random`` it is given (never a global RNG), so a
  problem is reproducible from its seed.
- ``expert_action(state)`` is deterministic and works from any state reachable by valid steps
  (optimal where the task has an optimum); it returns ``None`` only in a terminal state.
- ``parse_step`` and ``apply`` signal a bad step only by raising `InvalidStep`; any other
  exception on any input string is a bug (the fuzz tests look for them).
- ``format_step(state, action)`` is the canonical text of a step; ``parse_step`` of that text
  gives the action back.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
from gymnasium import spaces

State = TypeVar("State", bound=Hashable)
Action = TypeVar("Action", bound=Hashable)

#: Share of the problem space reserved for the test split (by a hash of the problem text).
TEST_FRACTION = 0.2
#: Draws allowed to find a problem of the requested split before the level is declared too small.
MAX_SPLIT_DRAWS = 1000


class InvalidStep(ValueError):
    """A step that cannot be parsed, is illegal in the state, or states a wrong computation."""


@dataclass(frozen=True)
class Problem(Generic[State]):
    """One generated problem: the text shown to the agent and the state it starts from.

    Attributes:
        text: the problem statement, including how a step should be written.
        initial_state: the state before any step.
        answer: the reference final answer, if the task has one (math, logic); ``None`` for
            planning tasks, whose answer is the plan itself.
        meta: task-specific facts for analysis (never needed to play).
    """

    text: str
    initial_state: State
    answer: str | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False)


def problem_split(text: str) -> str:
    """The split a problem belongs to: ``"test"`` for a fixed 20% of texts by SHA-256, else ``"train"``.

    The split is a pure function of the problem text, so no test problem can ever appear in
    train, whatever the seed or the process.
    """
    bucket = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") % 1000
    return "test" if bucket < TEST_FRACTION * 1000 else "train"


@dataclass
class TaskConfig:
    """Options shared by every task; tasks extend it with their own fields.

    Attributes:
        difficulty: level of the problems, 0 the easiest; the task's ``levels`` documents each.
    """

    difficulty: int = 0

    def validate(self, levels: Sequence[str]) -> None:
        """Raise ``TypeError``/``ValueError`` naming what is allowed when a field is wrong."""
        if isinstance(self.difficulty, bool) or not isinstance(self.difficulty, (int, np.integer)):
            raise TypeError(f"difficulty must be an int in 0..{len(levels) - 1}, got {self.difficulty!r}")
        if not 0 <= self.difficulty < len(levels):
            allowed = "; ".join(f"{i}: {d}" for i, d in enumerate(levels))
            raise ValueError(f"difficulty must be one of 0..{len(levels) - 1} ({allowed}), got {self.difficulty}")


def check_fraction(name: str, value: object) -> None:
    """Raise ``TypeError``/``ValueError`` unless ``value`` is a number in [0, 1] (config validation)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number in [0, 1], got {value!r}")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")


class Task(ABC, Generic[State, Action]):
    """Base class of every task. Subclasses fill in the abstract hooks and the class attributes.

    Class attributes:
        name: the id stem, e.g. ``"Hanoi"`` for ``srl/Hanoi-v0``.
        domain: ``"math"``, ``"logic"``, ``"planning"`` or ``"dataset"``.
        levels: one line per difficulty level, describing it (at least three levels).
        config_class: the task's config dataclass (a `TaskConfig` subclass).
        num_candidates: for tasks without a natural finite move set (math, logic), how many
            candidate steps the discrete interface offers: the expert's step among plausible
            wrong ones.
        replans: whether `expert_action` is the oracle's step from ANY state the task can reach
            (True for every generated task). A task that replays fixed trajectories sets it to
            False: off its trajectory it has no expert to ask, so on-policy training refuses it
            (and so does ``expert_noise``, which needs the oracle to re-plan after a wrong step).
        has_wrong_steps: whether `wrong_steps` can offer anything: some legal step other than the
            expert's after which the episode goes on (a detour, a suboptimal move, a valid but
            needless deduction). The env's ``expert_noise`` injects such steps, so it refuses a
            task that sets this False: one whose `apply` accepts only the expert's step, or whose
            only legal wrong step is a wrong final answer (which would end the trajectory
            unsolved instead of letting the oracle re-plan). ``tests/test_expert_noise.py``
            checks the flag against sampled trajectories.
    """

    name: ClassVar[str]
    domain: ClassVar[str]
    levels: ClassVar[tuple[str, ...]]
    config_class: ClassVar[type[TaskConfig]] = TaskConfig
    num_candidates: ClassVar[int] = 4
    replans: ClassVar[bool] = True
    has_wrong_steps: ClassVar[bool] = True

    def __init__(self, config: TaskConfig | None = None, **kwargs: Any) -> None:
        if config is None:
            names = {f.name for f in dataclasses.fields(self.config_class)}
            unknown = sorted(set(kwargs) - names)
            if unknown:
                raise TypeError(f"{type(self).__name__} got unknown option(s) {unknown}; allowed: {sorted(names)}")
            config = self.config_class(**kwargs)
        elif kwargs:
            raise TypeError("pass either a config or keyword options, not both")
        if not isinstance(config, self.config_class):
            raise TypeError(f"config must be a {self.config_class.__name__}, got {type(config).__name__}")
        config.validate(self.levels)
        self.config = config

    @property
    def difficulty(self) -> int:
        return int(self.config.difficulty)

    # ------------------------------------------------------------------ hooks every task fills in
    @abstractmethod
    def generate(self, rng: random.Random) -> Problem[State]:
        """Draw one problem at ``self.config.difficulty`` using only ``rng``."""

    @abstractmethod
    def expert_action(self, state: State) -> Action | None:
        """The oracle: the expert's next action from ``state``; ``None`` iff ``state`` is terminal."""

    @abstractmethod
    def apply(self, state: State, action: Action) -> State:
        """The state after ``action``; raise `InvalidStep` if it is illegal or computes wrongly."""

    @abstractmethod
    def format_step(self, state: State, action: Action) -> str:
        """The canonical text of ``action`` taken in ``state`` (what the expert writes)."""

    @abstractmethod
    def parse_step(self, state: State, text: str) -> Action:
        """The action a step text means in ``state``; raise `InvalidStep` if it means none.

        Tolerate how models write: case, spacing, punctuation and the synonyms the task's
        docstring lists. ``text`` is already stripped of any ``<think>`` block.
        """

    @abstractmethod
    def is_terminal(self, state: State) -> bool:
        """Whether the episode is over: the goal is reached or a final answer was given."""

    @abstractmethod
    def is_solved(self, problem: Problem[State], state: State) -> bool:
        """Whether ``state`` is a success for ``problem`` (goal reached or correct answer given)."""

    # ------------------------------------------------------------------ hooks with defaults
    def answer(self, problem: Problem[State], state: State, steps: Sequence[str]) -> str:
        """The final answer that `verify` checks, read off a terminal ``state``.

        ``steps`` are the canonical texts of the steps that led to ``state``. The default (for
        planning tasks) is the plan itself, one step per line; math and logic tasks return the
        answer their final step stated.
        """
        return "\n".join(steps)

    def verify(self, problem: Problem[State], answer: str) -> bool:
        """The verifier: whether a final answer (see `answer`) solves ``problem``.

        The default (for planning tasks, whose answer is the plan) replays the answer's lines as
        steps from the initial state and checks that they are all valid and reach the goal.
        Math and logic tasks override it to check the stated answer.
        """
        if not isinstance(answer, str):
            return False
        state = problem.initial_state
        for line in answer.splitlines():
            if not line.strip():
                continue
            if self.is_terminal(state):
                return False
            try:
                state = self.apply(state, self.parse_step(state, line))
            except InvalidStep:
                return False
        return self.is_solved(problem, state)

    def render_state(self, state: State) -> str:
        """A short text picture of ``state`` shown after the steps so far ('' to show none)."""
        return ""

    def move_set(self) -> Sequence[Action] | None:
        """A fixed, ordered list of every action, for tasks with a natural finite move set.

        Planning tasks return their moves (the discrete interface's ``Discrete(len(moves))``);
        tasks that return ``None`` get candidate steps instead (see `candidates`).
        """
        return None

    def legal_mask(self, state: State) -> np.ndarray | None:
        """Optional fast hook: which moves of `move_set` `apply` accepts in ``state``.

        Return an int8 vector with one entry per move (1 where ``apply(state, move)`` succeeds,
        0 where it raises `InvalidStep`), or ``None`` (the default) to let the env find out by
        trying `apply` on every move. Only used by move-set tasks, in a non-terminal state; it must
        agree with `apply` (``tests/test_envs_common.py`` checks it along random walks).
        """
        return None

    def distractors(self, state: State, expert: Action, rng: random.Random) -> list[Action]:
        """Plausible wrong actions in ``state`` for the discrete interface (at least one distinct).

        Only used when `move_set` is ``None``. Return up to ``num_candidates - 1`` actions that
        differ from ``expert``; typical mistakes (an off-by-one result, a wrong operand) make the
        choice worth learning.
        """
        raise NotImplementedError(f"{type(self).__name__} has no move set and must implement distractors()")

    def discrete_observation_space(self) -> spaces.Box:
        """The observation space of the discrete interface (default: text as byte codes)."""
        return spaces.Box(0, 255, shape=(DEFAULT_OBS_CHARS * (1 + self._discrete_slots()),), dtype=np.uint8)

    def encode_discrete(self, state: State, candidate_texts: Sequence[str]) -> np.ndarray:
        """The discrete observation: `render_state` (or the last state text) and each candidate.

        The default encodes texts as UTF-8 byte codes, each in a slot of ``DEFAULT_OBS_CHARS``
        bytes: slot 0 the state, then one slot per candidate (empty for a move-set task).
        Planning tasks override it with a compact numeric encoding.
        """
        return self.encode_texts(self.render_state(state), candidate_texts)

    def encode_texts(self, picture: str, candidate_texts: Sequence[str]) -> np.ndarray:
        """`encode_discrete`'s default from the state's picture (`render_state`) already drawn (the env draws it
        once per state)."""
        return encode_slots([picture, *candidate_texts], DEFAULT_OBS_CHARS, slots=1 + self._discrete_slots())

    def _discrete_slots(self) -> int:
        """Candidate slots of the default discrete observation (0 for a move-set task); asked once per instance."""
        slots = self.__dict__.get("_slots")
        if slots is None:
            slots = self._slots = 0 if self.move_set() is not None else self.num_candidates
        return slots

    # ------------------------------------------------------------------ derived, not overridden
    def generate_split(self, rng: random.Random, split: str) -> Problem[State]:
        """Draw problems from ``rng`` until one belongs to ``split`` (see `problem_split`)."""
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        for _ in range(MAX_SPLIT_DRAWS):
            text, finish = self._draft(rng)
            if problem_split(text) == split:
                return finish()
        raise RuntimeError(
            f"{self.name} level {self.difficulty}: no {split} problem in {MAX_SPLIT_DRAWS} draws; "
            "the level's problem space is too small to split and must be enlarged"
        )

    def _draft(self, rng: random.Random) -> tuple[str, Callable[[], Problem[State]]]:
        """`generate`, in two parts: the problem's text, then a call that gives the whole problem.

        `generate_split` reads the text to pick the split and finishes only the problems it keeps.
        The default finishes at once; a task whose problem costs more than its text (an expert
        trajectory for ``meta``) may defer that part, with ``rng`` drawn from only before the text.
        """
        problem = self.generate(rng)
        return problem.text, lambda: problem

    def expert_trajectory(self, state: State, max_steps: int = 10_000) -> list[tuple[State, Action, str]]:
        """The oracle's steps from ``state`` to the end, as ``(state_before, action, text)``.

        The last trajectory computed is kept (one, so memory stays flat): generators that check a
        problem's trajectory (its length) hand the env the same initial state, which then costs nothing.
        """
        steps = self.kept_expert_trajectory(state, max_steps)
        if steps is not None:
            return steps
        steps = self._expert_trajectory(state, max_steps)
        self._last_trajectory = ((state, max_steps), tuple(steps))
        return steps

    def known_expert_length(self, problem: Problem[State]) -> int | None:
        """``len(expert_trajectory(problem.initial_state))`` when the generator knows it already (None: unknown).

        The env's default step limit is twice that length plus 4; a task that counted the expert's steps
        while generating (to check them, in ``meta``) spares the env the trajectory of an episode that
        never asks for it. It must be exactly that length (``tests/test_envs_common.py`` checks it).
        """
        return None

    def kept_expert_trajectory(self, state: State, max_steps: int = 10_000) -> list[tuple[State, Action, str]] | None:
        """`expert_trajectory` of ``state`` if it is the one kept (a fresh list), else None: computes nothing."""
        last = self.__dict__.get("_last_trajectory")
        if last is not None and last[0] == (state, max_steps):
            return list(last[1])  # a fresh list: the caller may change it
        return None

    def _expert_trajectory(self, state: State, max_steps: int) -> list[tuple[State, Action, str]]:
        steps: list[tuple[State, Action, str]] = []
        while not self.is_terminal(state):
            action = self.expert_action(state)
            if action is None:
                raise RuntimeError(f"{self.name}: expert gave no action in a non-terminal state {state!r}")
            steps.append((state, action, self.format_step(state, action)))
            state = self.apply(state, action)
            if len(steps) > max_steps:
                raise RuntimeError(f"{self.name}: expert did not finish within {max_steps} steps")
        return steps

    def wrong_steps(self, state: State, expert: Action, rng: random.Random) -> list[Action]:
        """Legal steps other than ``expert`` in ``state`` after which the episode goes on.

        What a flawed expert (the env's ``expert_noise``) may take instead of the oracle's step:
        a move of `move_set` for planning tasks (a detour or a suboptimal move), else one of the
        task's own `distractors` (drawn with ``rng``). Only those that `apply` accepts and that do
        not end the episode are kept, so the oracle can always re-plan from the result and the
        trajectory's last step stays the oracle's. Empty where no such step exists.
        """
        moves = self.move_set()
        pool = list(moves) if moves is not None else self.distractors(state, expert, rng)
        out = []
        for action in dict.fromkeys(pool):  # keeps the order: the choice among them is rng's
            if action == expert:
                continue
            try:
                after = self.apply(state, action)
            except InvalidStep:
                continue
            if not self.is_terminal(after):
                out.append(action)
        return out

    def noisy_expert_trajectory(
        self, state: State, noise: float, rng: random.Random, noise_steps: int, max_steps: int = 10_000
    ) -> list[tuple[State, Action, str]]:
        """A flawed expert's steps from ``state``: the oracle's, but each one wrong with probability ``noise``.

        At each step the oracle is asked; with probability ``noise`` a legal wrong step
        (`wrong_steps`, drawn with ``rng``) is taken instead, and the oracle re-plans from
        wherever it leads. So the trajectory stays complete: every step applies and it ends as
        the oracle ends it (solved, where the task can recover from any legal step). A step where
        the noise strikes but no wrong step exists stays the oracle's. Noise strikes only in the
        first ``noise_steps`` steps (the env passes its step limit), after which the oracle
        finishes alone, so even ``noise = 1`` ends, whatever the detours undo.

        ``noise = 0`` draws nothing from ``rng`` and returns `expert_trajectory` exactly. The
        shape is `expert_trajectory`'s; a step is noisy iff its action differs from
        ``expert_action`` of its state.
        """
        check_fraction("expert_noise", noise)
        if not noise:
            return self.expert_trajectory(state, max_steps)
        steps: list[tuple[State, Action, str]] = []
        while not self.is_terminal(state):
            action = self.expert_action(state)
            if action is None:
                raise RuntimeError(f"{self.name}: expert gave no action in a non-terminal state {state!r}")
            if len(steps) < noise_steps and rng.random() < noise:
                wrong = self.wrong_steps(state, action, rng)
                if wrong:
                    action = rng.choice(wrong)
            steps.append((state, action, self.format_step(state, action)))
            state = self.apply(state, action)
            if len(steps) > max_steps:
                raise RuntimeError(f"{self.name}: the noisy expert did not finish within {max_steps} steps")
        return steps

    def candidates(
        self, state: State, rng: random.Random, expert: Action | None = None
    ) -> tuple[list[Action], int]:
        """Candidate actions for the discrete interface (move-less tasks) and the expert's index.

        The expert's action and up to ``num_candidates - 1`` distinct distractors, shuffled with
        ``rng`` so that the expert's position carries no information. ``expert``: the oracle's
        action in ``state`` when the caller already has it (``None``: ask `expert_action`).
        """
        if expert is None:
            expert = self.expert_action(state)
        if expert is None:
            return [], -1
        options = [expert]
        limit = self.num_candidates
        for action in self.distractors(state, expert, rng):  # (a list: what is left of it is never looked at)
            if len(options) >= limit:
                break
            if action not in options:
                options.append(action)
        rng.shuffle(options)
        return options, options.index(expert)


#: Bytes per text slot in the default discrete observation.
DEFAULT_OBS_CHARS = 128
_UINT8 = np.dtype(np.uint8)  # made once: np.uint8 as a dtype argument is converted on every call


def encode_bytes(text: str, width: int) -> np.ndarray:
    """UTF-8 bytes of ``text`` cut or zero-padded to ``width`` (a uint8 vector)."""
    return encode_slots([text], width)


def encode_slots(texts: Sequence[str], width: int, slots: int | None = None) -> np.ndarray:
    """`encode_bytes` of each text, end to end, then empty slots up to ``slots`` (default ``len(texts)``): one
    uint8 vector of ``slots * width`` bytes."""
    size = width * (len(texts) if slots is None else slots)
    joined = "".join([text[:width].ljust(width, "\0") for text in texts])
    if joined.isascii():  # one byte per character: cutting and padding characters is cutting and padding bytes
        raw = joined.encode("ascii")
    else:
        raw = b"".join([text.encode("utf-8")[:width].ljust(width, b"\0") for text in texts])
    return np.frombuffer(raw.ljust(size, b"\0"), _UINT8).copy()  # a writable array, as np.zeros gave
