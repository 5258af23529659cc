"""`ReasoningEnv`: the one Gymnasium env class that turns any `Task` into a step-wise environment.

The env owns reset, step, seeding, rewards and rendering; a task only fills in its hooks (the
Minigrid pattern). Every registered id (``srl/Hanoi-v0``, ...) is this class with a task path.
"""

from __future__ import annotations

import importlib
import re
import string
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from srl_gym.rewards import MAX_STEP_CHARS, SIMILARITY_METHODS, split_think, step_similarity
from srl_gym.rng import FastRandom
from srl_gym.task import InvalidStep, Problem, Task, check_fraction

INTERFACES = ("text", "discrete")
REWARDS = ("srl", "outcome", "mixed")
SPLITS = ("train", "test")
#: What a text observation holds: everything so far (the problem, every step, the state) or only what is new.
OBSERVATIONS = ("full", "incremental")
#: Said by an incremental observation after a step that changed nothing (an invalid step, on-policy).
INVALID_STEP_NOTE = "That step was invalid: the state is unchanged."
#: Salt of the expert-noise RNG (with the episode's problem seed): the noise is a function of the
#: problem alone, independent of every other draw the env makes.
EXPERT_NOISE_SALT = "srl-gym expert noise"

#: Characters an observation or a text action may hold: printable ASCII, tab and newline,
#: Latin-1 letters and the arrows and logic/math symbols models like to write. Anything else in
#: a text that reaches an observation is replaced by "?".
TEXT_CHARSET = frozenset(
    string.printable
    + "".join(chr(c) for c in range(0xA1, 0x180))
    + "\u2013\u2014\u2018\u2019\u201c\u201d\u2022\u2026\u2190\u2191\u2192\u2193\u2194\u21d2\u21d4"
    + "\u2200\u2203\u2208\u2212\u2227\u2228\u2260\u2264\u2265\u00ac\u00d7\u00f7\u221a\u221e"
)
#: The ``info`` keys that give the oracle's answer away (its next step, as text and as an index).
#: Trainers and the reference `ExpertAgent` may read them; nothing an evaluated agent, a served
#: client or an adapter's user sees may hold them: pass ``info`` through `agent_info` first.
ORACLE_INFO_KEYS = frozenset({"expert_step", "expert_action"})


#: No state at all (what `ReasoningEnv._current` starts an episode from: no state is this object).
_NO_STATE = object()


def _problem_seed(np_random: np.random.Generator) -> int:
    """``int(np_random.integers(2**62))``: the seed of an episode's problem, drawn from the env's RNG.

    With Gymnasium's PCG64 that is one raw 64-bit draw shifted right by 2 (numpy's Lemire method for a
    range of 2^62 never rejects), the same number and the same RNG state without ``integers``'
    argument handling; ``tests/test_envs_common.py`` checks the two agree.
    """
    bit_generator = np_random.bit_generator
    if type(bit_generator) is np.random.PCG64:
        return bit_generator.random_raw() >> 2
    return int(np_random.integers(2**62))


def agent_info(info: dict[str, Any]) -> dict[str, Any]:
    """A copy of a step's ``info`` without `ORACLE_INFO_KEYS`: what an evaluated agent may see."""
    return {k: v for k, v in info.items() if k not in ORACLE_INFO_KEYS}


#: Longest observation (longer ones keep the head and the tail); longest text action accepted
#: by the action space (longer strings are still taken, as malformed steps).
MAX_OBS_CHARS = 65_536
MAX_ACTION_CHARS = 16_384
#: Any one character outside `TEXT_CHARSET` (one C-level scan instead of a Python loop per character).
_OUTSIDE_CHARSET = re.compile("[^" + "".join(sorted(re.escape(c) for c in TEXT_CHARSET)) + "]")


def sanitize(text: str) -> str:
    """``text`` with every character outside `TEXT_CHARSET` replaced by "?"."""
    if text.isascii() and (text.isprintable() or text.replace("\n", "").isprintable()):
        return text  # printable ASCII and newlines only: all in TEXT_CHARSET (problem texts have lines)
    return _OUTSIDE_CHARSET.sub("?", text)


class TextSpace(spaces.Text):
    """`gymnasium.spaces.Text` whose ``shape`` says what to do instead of being None.

    Array-based libraries (Stable-Baselines3, the RL Zoo) read ``observation_space.shape`` to size their
    buffers; a Text space has none, and they failed deep inside with ``'NoneType' object is not
    iterable``. This one raises a ``TypeError`` naming ``interface="discrete"``. Everything else is
    Gymnasium's Text (its checker, vector envs, sampling and equality do not read ``shape``).
    """

    @property
    def shape(self) -> tuple[int, ...]:
        raise TypeError(
            "srl-gym's text interface has string observations and actions (gymnasium.spaces.Text), which have no "
            "array shape; for an array-based agent (Stable-Baselines3, sb3-contrib, the RL Zoo) make the env with "
            "interface='discrete', e.g. gym.make('srl/Hanoi-v0', interface='discrete') or the Zoo's "
            "--env-kwargs interface:\"'discrete'\""
        )


def load_task_class(path: str) -> type[Task]:
    """Import a task class from ``"package.module:ClassName"``."""
    module_name, _, class_name = path.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Task)):
        raise ValueError(f"{path!r} does not name a srl_gym.Task subclass")
    return cls


class ReasoningEnv(gym.Env):
    """A reasoning task as a Gymnasium env: each step is one reasoning step.

    ## Description
    An episode is one problem drawn from the task's generator. The agent writes (text interface)
    or picks (discrete interface) one step at a time; each step is scored against the step an
    oracle expert would take from the same state.

    ## Action Space
    - ``interface="text"``: ``Text(max_length=16384, min_length=0)``, one step as a string. A
      ``<think>...</think>`` monologue may precede the step; only what follows ``</think>`` is the
      step. Strings outside the space (longer, other characters) are still accepted, as steps.
    - ``interface="discrete"``: ``Discrete(n)``. Planning tasks: their natural move set;
      ``info["action_mask"]`` (and `action_masks`, which sb3-contrib's MaskablePPO reads with no
      wrapper) marks the legal moves. Math and logic tasks: ``n`` candidate steps (the expert's step
      among plausible wrong ones, in a random order); the mask marks the real candidates. Once the
      episode is over the mask is all ones: no move is played any more, and a vector env's autoreset
      step ignores its action, but a masked sampler needs something to draw.

    ## Observation Space
    - text: ``Text`` holding the problem, the steps so far ("Step k: ...") and, for tasks that
      draw one, the current state. With ``observation="incremental"`` only the first observation
      (at `reset`) is that; each step's observation says only what is new: the step added
      ("Step k: ...", the canonical text; with teacher forcing the expert's), or that the step was
      invalid and nothing changed, then the current state. For chat-style multi-turn use, where each
      observation becomes a new message. The space is a `TextSpace`: array-based agents reading its
      ``shape`` get an error naming ``interface="discrete"``.
    - discrete: the task's ``Box`` (planning: a numeric encoding of the state; math and logic:
      UTF-8 codes of the current state and of each candidate step, 128 bytes each).

    ## Starting State
    A problem drawn with the seed given to `reset` (``split`` decides which half of the problem
    space: train and test are disjoint by a hash of the problem text).

    ## Reward
    With ``s`` the step similarity of the agent's step to the expert's step (difflib's 2M/T by
    default, in [0, 1]):
    - ``"srl"``: ``s - 1`` per step, ``- invalid_penalty`` more for an invalid step, and
      ``+ solve_bonus`` on the step that solves the problem. The expert earns 0 per step and the
      bonus; every other policy earns strictly less, however long it plays, so the dense reward
      cannot be farmed by stalling or wandering. With ``teacher_forcing=True`` the episode length
      is fixed, so this is the paper's R = 2M/T shifted by a constant.
    - ``"outcome"``: 0 on every step, then 1 on the last step if the verifier accepts the answer.
    - ``"mixed"``: ``0.5 * srl + 0.5 * outcome``.

    ## Episode End
    - ``teacher_forcing=True`` (the paper's setting): after each step, the EXPERT's step is
      appended whatever the agent wrote; the episode terminates after the expert's last step.
      ``solved`` means the agent's last step, taken where the expert took its last, solved it.
    - ``teacher_forcing=False`` (on-policy): a valid agent step is applied and the oracle
      re-plans from the new state; an invalid step (unparseable, illegal, a wrong computation,
      malformed or empty) leaves the state unchanged. Terminates when the goal is reached or a
      final answer is given (right or wrong); truncates after ``max_steps`` steps.

    ## Information
    On reset and every step: ``expert_step`` (the expert's next step from the current state, ""
    when over), ``step_similarity`` (0.0 at reset), ``valid`` (True at reset), ``difficulty``,
    ``steps_taken``, ``is_success`` (Gymnasium's and Stable-Baselines3's name: False until the step
    that solves the problem, so an episode cut by a ``TimeLimit`` wrapper reports False too); discrete
    only: ``expert_action`` (index of the expert's step, -1 when over) and ``action_mask`` (int8).
    At the episode's end (``terminated`` or the env's own ``max_steps`` truncation): ``solved`` (equal
    to ``is_success``) and ``answer``; a ``TimeLimit`` wrapper (``gym.make(..., max_episode_steps=N)``)
    cuts the episode without the env knowing, so use ``max_steps=N`` to get them at that cut.
    ``expert_step`` and ``expert_action`` (`ORACLE_INFO_KEYS`) are the answer key: for trainers and
    the reference `ExpertAgent`; `srl_gym.evaluate` hands agents `agent_info` of each info instead.

    ## Arguments
    - ``task``: a `Task` instance, class or ``"module:Class"`` path (set by registration).
    - ``interface``: ``"text"`` (default) or ``"discrete"``.
    - ``reward``: ``"srl"`` (default), ``"outcome"`` or ``"mixed"``.
    - ``teacher_forcing``: default False.
    - ``difficulty``: the task's level, 0 (default) the easiest.
    - ``split``: ``"train"`` (default) or ``"test"``.
    - ``similarity``: ``"difflib"`` (default, the paper's), ``"lcs"`` (fast) or ``"exact"``.
    - ``observation``: ``"full"`` (default) or ``"incremental"`` (text interface only; see
      Observation Space).
    - ``require_think``: a text step without ``</think>`` is invalid (default False).
    - ``max_steps``: on-policy step limit; default twice the expert's length plus 4.
    - ``solve_bonus`` (1.0), ``invalid_penalty`` (1.0): see Reward.
    - ``expert_noise``: p in [0, 1], a flawed expert on purpose, for training data (default 0.0:
      the oracle). With probability p per step the expert trajectory that teacher forcing replays
      (``env.expert_steps``, hence ``info["expert_step"]``: what `srl_gym.episodes` turns into SRL
      step targets and SFT solutions) takes a legal wrong step instead of the oracle's (a detour
      from the move set, or one of the task's distractors that `apply` accepts, never one that
      ends the episode), and the oracle re-plans from there (`Task.noisy_expert_trajectory`): the
      trajectory still ends as the oracle ends it, solved where the task can recover. Noise
      strikes only within the step limit (``max_steps``), so even p = 1 ends. It has its own RNG,
      seeded by the problem's seed and `EXPERT_NOISE_SALT`: reproducible, and it changes nothing
      else (the problem, the RNG of the discrete candidates); p = 0 is the clean expert, bit for
      bit. Never noisy: the test split (refused), the verifier, and the on-policy reward (the
      oracle's step from the current state). Needs ``teacher_forcing=True``, the text interface
      and a task with an oracle from any state and legal wrong steps (`Task.replans`,
      `Task.has_wrong_steps`); anything else is a ``ValueError`` saying why.
    - other keyword options go to the task's config (see the task's docstring); an unknown one is a
      ``TypeError`` listing the env's options and the task's.

    ## Version History
    - v0: initial release. Later, without a new version (dynamics, prompts, observations by default
      and scoring unchanged): ``info["is_success"]``, `action_masks`, ``observation="incremental"``;
      and three changes a caller may see: the mask once an episode is over is all ones (was all
      zeros), the text spaces' ``shape`` raises a ``TypeError`` (was None), an unsupported
      ``render_mode`` is a ``TypeError`` (was a ``ValueError``).
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self,
        task: Task | type[Task] | str,
        *,
        interface: str = "text",
        reward: str = "srl",
        teacher_forcing: bool = False,
        difficulty: int | None = None,
        split: str = "train",
        similarity: str = "difflib",
        observation: str = "full",
        require_think: bool = False,
        max_steps: int | None = None,
        solve_bonus: float = 1.0,
        invalid_penalty: float = 1.0,
        expert_noise: float = 0.0,
        render_mode: str | None = None,
        **task_options: Any,
    ) -> None:
        _check_choice("interface", interface, INTERFACES)
        _check_choice("reward", reward, REWARDS)
        _check_choice("split", split, SPLITS)
        _check_choice("similarity", similarity, SIMILARITY_METHODS)
        _check_choice("observation", observation, OBSERVATIONS)
        if observation != "full" and interface != "text":
            raise ValueError(f"observation={observation!r} is for the text interface; the discrete observation is "
                             "the current state alone already")  # fmt: skip
        if render_mode not in (None, *self.metadata["render_modes"]):  # a TypeError, as for an argument the env
            # does not take: Stable-Baselines3's make_vec_env, which asks for "rgb_array", then retries without it
            raise TypeError(f"render_mode must be one of {(None, *self.metadata['render_modes'])}, got {render_mode!r}")
        for name, value in (("teacher_forcing", teacher_forcing), ("require_think", require_think)):
            if not isinstance(value, bool):
                raise TypeError(f"{name} must be True or False, got {value!r}")
        if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1):
            raise ValueError(f"max_steps must be a positive int or None, got {max_steps!r}")
        for name, value in (("solve_bonus", solve_bonus), ("invalid_penalty", invalid_penalty)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ValueError(f"{name} must be a number >= 0, got {value!r}")
        check_fraction("expert_noise", expert_noise)

        if isinstance(task, str):
            task = load_task_class(task)
        if isinstance(task, type):
            _check_task_options(task, task_options)
            task = task(difficulty=0 if difficulty is None else difficulty, **task_options)
        elif task_options or difficulty not in (None, task.difficulty):
            raise ValueError("pass options and difficulty to the Task when giving a Task instance")
        if not isinstance(task, Task):
            raise TypeError(f"task must be a Task, a Task class or a 'module:Class' path, got {task!r}")
        if expert_noise:
            _check_noisy_expert(task, expert_noise, split, teacher_forcing, interface)

        self.task = task
        self.interface = interface
        self.reward_mode = reward
        self.teacher_forcing = teacher_forcing
        self.split = split
        self.similarity = similarity
        self.observation_mode = observation
        self.require_think = require_think
        self.max_steps_option = max_steps
        self.solve_bonus = float(solve_bonus)
        self.invalid_penalty = float(invalid_penalty)
        self.expert_noise = float(expert_noise)
        self.render_mode = render_mode

        self.moves = task.move_set()
        # Each move's first index in the move set (what list.index gives), for info["expert_action"].
        self._move_index = None if self.moves is None else {m: i for i, m in reversed(list(enumerate(self.moves)))}
        if interface == "text":
            self.observation_space = TextSpace(MAX_OBS_CHARS, min_length=0, charset=TEXT_CHARSET)
            self.action_space = TextSpace(MAX_ACTION_CHARS, min_length=0, charset=TEXT_CHARSET)
        else:
            self.observation_space = task.discrete_observation_space()
            n = len(self.moves) if self.moves is not None else task.num_candidates
            self.action_space = spaces.Discrete(n)
            self._num_actions = int(n)  # a plain int: compared on every step
            # A task that keeps Task.encode_discrete (text slots) has it done here, reading the memoised picture.
            self._default_encoding = type(task).encode_discrete is Task.encode_discrete
        if interface == "text":
            self._num_actions = 0  # (no discrete actions)

        self.problem: Problem | None = None
        self._slot_masks: dict[int, np.ndarray] = {}  # candidate count -> action mask (at most num_candidates + 1)

    # ------------------------------------------------------------------ Gymnasium API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        problem_seed = _problem_seed(self.np_random)
        self._rng = FastRandom(problem_seed)  # random.Random's draws, faster (srl_gym.rng)
        self.problem = self.task.generate_split(self._rng, self.split)
        self._difficulty = self.task.difficulty  # info["difficulty"] of every step of the episode
        self._problem_text = sanitize(self.problem.text)
        self.state = self.problem.initial_state
        # Per-episode memos of pure functions of the state (cleared here, so nothing outlives the episode;
        # they hold at most the states this episode visits): the oracle's (action, text), seeded with
        # the clean trajectory once known, and a move-set task's [action mask, discrete observation].
        self._oracle_memo: dict[Any, tuple[Any, str]] = {}
        # The clean expert trajectory (and the default step limit, twice its length plus 4) is computed
        # only when something asks for it: on-policy, a random agent's episode often ends before the
        # limit could matter. It is a pure function of the initial state, so when it is computed changes
        # nothing. Teacher forcing and expert noise need it now; a generator that computed it already
        # (to check its length) hands it over for free.
        steps = self.task.kept_expert_trajectory(self.state)
        if steps is None and (self.teacher_forcing or self.expert_noise):
            steps = self.task.expert_trajectory(self.state)
        self._max_steps = self.max_steps_option
        self._expert_steps = None
        if steps is not None:
            self._set_clean_trajectory(steps)
        else:  # computed by `_clean_trajectory` when first needed
            self._lazy_trajectory = True
            self._limit_floor = 4 if self._max_steps is None else self._max_steps  # a lower bound of the limit
        self._state_memo: dict[Any, list[np.ndarray | None]] = {}
        self._current_state: Any = _NO_STATE  # the state `_current_entry` belongs to (checked by identity)
        self._current_entry: list[np.ndarray | None] = [None, None]
        self._similarity_memo: dict[tuple[str, str], float] = {}  # (discrete step's text, expert's text) -> score
        self._pictures: dict[Any, str] = {}  # state -> task.render_state(state)
        self._texts_state: Any = _NO_STATE  # the state `_texts` belongs to (checked by identity)
        self._texts: dict[Any, str] = {}  # action -> format_step(_texts_state, action), candidates only
        self._picture_state: Any = _NO_STATE  # the state `_picture_text` belongs to (checked by identity)
        self._picture_text = ""
        self.history: list[str] = []  # canonical texts of the steps that led to self.state
        self._history_lines: list[str] = []  # the text observation's line of each step of history, once built
        self.steps_taken = 0
        if self.expert_noise:  # 0 draws nothing: the clean trajectory above stands, bit for bit
            noise_rng = FastRandom(f"{EXPERT_NOISE_SALT}:{problem_seed}")
            self.expert_steps = self.task.noisy_expert_trajectory(
                self.state, self.expert_noise, noise_rng, noise_steps=self.max_steps
            )
        self._done = False
        self._update_expert()
        # The first observation is the whole problem, incremental or not.
        observation = self._text_observation() if self.interface == "text" else self._observation()
        self._shown_steps = len(self.history)  # steps of self.history shown so far (the incremental observation)
        return observation, self._info(similarity=0.0, valid=True)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        if self.problem is None:
            raise RuntimeError("call reset() before step()")
        if self._done:
            raise RuntimeError("the episode is over: call reset() to start a new one")
        text, valid, similarity, next_state = self._judge(action)
        self.steps_taken += 1

        if self.teacher_forcing:
            # The paper's setting: the expert's step is appended whatever the agent wrote.
            before, expert_action, expert_text = self.expert_steps[self.steps_taken - 1]
            self.state = self.task.apply(before, expert_action)
            self.history.append(expert_text)
            terminated = self.steps_taken == len(self.expert_steps)
            truncated = False
            solved = terminated and valid and self.task.is_solved(self.problem, next_state)
            # The agent's answer is what its own last step would have made of the expert's state.
            answer_state, answer_steps = next_state, [*self.history[:-1], text]
        else:
            if valid:
                self.state = next_state
                self.history.append(text)
            terminated = self.task.is_terminal(self.state)
            truncated = not terminated and self.steps_taken >= self._limit_floor and self._at_step_limit()
            solved = terminated and self.task.is_solved(self.problem, self.state)
            answer_state, answer_steps = self.state, self.history

        # The reward (see Reward): the srl one, the outcome one or their mean.
        srl = similarity - 1.0 - (0.0 if valid else self.invalid_penalty)
        srl += self.solve_bonus if solved else 0.0
        mode = self.reward_mode
        reward = srl if mode == "srl" else float(solved) if mode == "outcome" else 0.5 * srl + 0.5 * float(solved)
        self._done = terminated or truncated
        self._update_expert()
        info = self._info(similarity=similarity, valid=valid)
        info["is_success"] = bool(solved)
        if self._done:
            info["solved"] = bool(solved)
            info["answer"] = self.task.answer(self.problem, answer_state, answer_steps)
        return self._observation(), reward, terminated, truncated, info

    # ------------------------------------------------------------------ the clean expert trajectory, lazily
    @property
    def expert_steps(self) -> list[tuple[Any, Any, str]]:
        """The episode's expert trajectory, ``(state_before, action, text)`` per step (noisy with ``expert_noise``)."""
        if self._expert_steps is None:
            self._clean_trajectory()
        return self._expert_steps

    @expert_steps.setter
    def expert_steps(self, steps: list[tuple[Any, Any, str]]) -> None:
        self._expert_steps = steps

    @property
    def max_steps(self) -> int:
        """The on-policy step limit: the ``max_steps`` option, else twice the clean expert's length plus 4."""
        if self._max_steps is None:
            self._resolve_step_limit()
        return self._max_steps

    @max_steps.setter
    def max_steps(self, value: int) -> None:
        self._max_steps = self._limit_floor = value

    def _set_clean_trajectory(self, steps: list[tuple[Any, Any, str]]) -> None:
        memo = self._oracle_memo
        for state, action, text in steps:
            memo[state] = (action, text)
        self._lazy_trajectory = False
        if self._expert_steps is None:  # (not one set since the reset)
            self._expert_steps = steps
        if self._max_steps is None:  # no max_steps option (nor a value set since the reset)
            self._max_steps = 2 * len(steps) + 4  # by the clean expert
        self._limit_floor = self._max_steps

    def _clean_trajectory(self) -> None:
        """Compute the clean expert trajectory deferred at reset (what reset computed before)."""
        if self._lazy_trajectory:
            self._set_clean_trajectory(self.task.expert_trajectory(self.problem.initial_state))

    def _at_step_limit(self) -> bool:
        """``steps_taken >= max_steps``: called once ``steps_taken`` reaches ``_limit_floor``, a lower bound of the
        limit (4: the default limit is 2L + 4), so an episode that ends before never computes the trajectory."""
        if self._max_steps is None:
            self._resolve_step_limit()
        return self.steps_taken >= self._max_steps

    def _resolve_step_limit(self) -> None:
        """The default step limit, from the expert's length as the task knows it (`Task.known_expert_length`)
        or, where it does not, from the clean trajectory."""
        length = self.task.known_expert_length(self.problem)
        if length is None:
            self._clean_trajectory()
        else:
            self._max_steps = self._limit_floor = 2 * length + 4

    def render(self) -> str | None:
        if self.render_mode != "ansi" or self.problem is None:
            return None
        text = self._text_observation()
        expert = self._expert_text or "(episode over)"
        return f"{text}\n\nExpert's next step: {expert}\n"

    # ------------------------------------------------------------------ judging a step
    def _judge(self, action: Any) -> tuple[str, bool, float, Any]:
        """Parse, check and score one agent step against the expert's step from the state it was taken in.

        Returns ``(text, valid, similarity, next_state)``, before rewards: the canonical text of the step if valid,
        else the agent's step text; whether it was valid; its similarity to the expert's step; the state it leads
        to (the same state when invalid). A plain tuple: it is built on every step.
        """
        state = self.state
        if self.interface == "discrete":
            index = self._discrete_index(action)
            legal = True
            if self.moves is not None:
                chosen = self.moves[index]
                text = self.task.format_step(state, chosen)
                legal = self._current_mask()[index]  # the mask is apply's verdict (Task.legal_mask's contract)
            elif index < len(self._candidates):  # a candidate: its text is already in the observation
                chosen, text = self._candidates[index], self._candidate_texts[index]
            else:  # a masked slot: no step at all
                return "", False, 0.0, state
            key = (text, self._expert_text)  # a discrete step's text recurs: score each pair once an episode
            similarity = self._similarity_memo.get(key)
            if similarity is None:
                similarity = self._similarity_memo[key] = step_similarity(text, self._expert_text, self.similarity)
            if not legal:  # what apply would raise InvalidStep for, without the exception
                return text, False, similarity, state
            try:
                return text, True, similarity, self.task.apply(state, chosen)
            except InvalidStep:
                return text, False, similarity, state

        if not isinstance(action, str):
            raise TypeError(
                f"the text interface takes a str step, got {type(action).__name__}; "
                "use interface='discrete' for integer actions"
            )
        monologue, step = split_think(action)
        similarity = step_similarity(step, self._expert_text, self.similarity)
        if not step or len(step) > MAX_STEP_CHARS or (self.require_think and monologue is None):
            return step[:MAX_STEP_CHARS], False, similarity, state
        try:
            parsed = self.task.parse_step(state, step)
            next_state = self.task.apply(state, parsed)
        except InvalidStep:
            return step, False, similarity, state
        return self.task.format_step(state, parsed), True, similarity, next_state

    def _discrete_index(self, action: Any) -> int:
        kind = type(action)
        if (kind is int or kind is np.int64) and 0 <= action < self._num_actions:  # what samplers give
            return int(action)
        if isinstance(action, np.ndarray) and action.shape in ((), (1,)):
            action = action.reshape(()).item()
        if isinstance(action, (bool, np.bool_)) or not isinstance(action, (int, np.integer)):
            raise TypeError(
                f"the discrete interface takes an int action in 0..{self.action_space.n - 1}, got {action!r}"
            )
        if not 0 <= action < self.action_space.n:
            raise ValueError(f"action must be in 0..{self.action_space.n - 1}, got {action}")
        return int(action)

    # ------------------------------------------------------------------ observations and info
    def _update_expert(self) -> None:
        """Cache the expert's next step from the current state (and the discrete candidates)."""
        if self._done:
            self._expert_action, self._expert_text = None, ""
        elif self.teacher_forcing:
            _, self._expert_action, self._expert_text = self.expert_steps[self.steps_taken]
        else:
            known = self._oracle_memo.get(self.state)
            if known is None:
                action = self.task.expert_action(self.state)
                known = self._oracle_memo[self.state] = (action, self.task.format_step(self.state, action))
            self._expert_action, self._expert_text = known
        if self.interface == "discrete" and self.moves is None:
            if self._expert_action is None:
                self._candidates, self._expert_index = [], -1
            else:
                self._candidates, self._expert_index = self.task.candidates(
                    self.state, self._rng, expert=self._expert_action
                )
            # Each candidate's text, formatted once per state: the state stays as it was after an invalid step,
            # and its distractors recur (format_step is a pure function of the state and the action).
            state = self.state
            if state is not self._texts_state:
                self._texts_state, self._texts = state, {}
            texts, expert_index, format_step = self._texts, self._expert_index, self.task.format_step
            candidate_texts = []
            for i, action in enumerate(self._candidates):
                if i == expert_index:
                    candidate_texts.append(self._expert_text)
                    continue
                text = texts.get(action)
                if text is None:
                    text = texts[action] = format_step(state, action)
                candidate_texts.append(text)
            self._candidate_texts = candidate_texts

    def _observation(self) -> Any:
        if self.interface == "text":
            if self.observation_mode == "incremental":
                return self._incremental_observation()
            return self._text_observation()
        if self.moves is None:
            if self._default_encoding:  # Task.encode_discrete, with the state's picture drawn once per state
                return self.task.encode_texts(self._picture(), self._candidate_texts)
            return self.task.encode_discrete(self.state, self._candidate_texts)
        entry = self._current()
        obs = entry[1]
        if obs is None:
            obs = entry[1] = self.task.encode_discrete(self.state, [])
        return obs.copy()  # the caller may write to it

    def _picture(self) -> str:
        """``task.render_state`` of the current state, memoised per episode (a pure function of the state; an
        invalid step leaves the state as it was, and its picture is asked again)."""
        state = self.state
        if state is self._picture_state:
            return self._picture_text
        picture = self._pictures.get(state)
        if picture is None:
            picture = self._pictures[state] = self.task.render_state(state)
        self._picture_state, self._picture_text = state, picture
        return picture

    def _current(self) -> list[np.ndarray | None]:
        """[action mask, discrete observation] of the current state (move-set tasks), memoised per episode.

        Both are pure functions of the state, each filled in when first asked for (the mask only while
        the episode runs, as before); the entry of the state last asked for is kept aside, so the mask
        and the observation of one step cost one dict lookup between them.
        """
        state = self.state
        if state is not self._current_state:
            entry = self._state_memo.get(state)
            if entry is None:
                entry = self._state_memo[state] = [None, None]
            self._current_state, self._current_entry = state, entry
        return self._current_entry

    def _current_mask(self) -> np.ndarray:
        entry = self._current()
        mask = entry[0]
        if mask is None:
            mask = entry[0] = self._legal_moves(self.state)
        return mask

    def _text_observation(self) -> str:
        parts = [self._problem_text, "\n\nSteps so far:"]
        lines = self._history_lines
        for i in range(len(lines), len(self.history)):  # history only grows within an episode
            lines.append(f"\nStep {i + 1}: {sanitize(self.history[i])}")
        if self.history:
            parts += lines
        else:
            parts.append(" none")
        picture = self._picture()
        if picture:
            parts += ["\n\nCurrent state:\n", sanitize(picture)]
        text = "".join(parts)
        if len(text) > MAX_OBS_CHARS:
            half = MAX_OBS_CHARS // 2 - 8
            text = f"{text[:half]}\n[...]\n{text[-half:]}"
        return text

    def _incremental_observation(self) -> str:
        """What is new since the last observation: the steps added (or a note that nothing changed), the state."""
        new = self.history[self._shown_steps :]
        parts = [f"Step {i}: {sanitize(text)}" for i, text in enumerate(new, self._shown_steps + 1)]
        parts = ["\n".join(parts)] if new else [INVALID_STEP_NOTE]  # on-policy, only an invalid step adds none
        self._shown_steps = len(self.history)
        picture = self._picture()
        if picture:
            parts.append("Current state:\n" + sanitize(picture))
        text = "\n\n".join(parts)
        if len(text) > MAX_OBS_CHARS:
            half = MAX_OBS_CHARS // 2 - 8
            text = f"{text[:half]}\n[...]\n{text[-half:]}"
        return text

    def action_masks(self) -> np.ndarray:
        """`action_mask` as booleans, under the name sb3-contrib's MaskablePPO looks up (no ``ActionMasker`` needed).

        ``MaskablePPO("MlpPolicy", gym.make("srl/Hanoi-v0", interface="discrete"))`` finds it through
        Gymnasium's wrappers (``get_wrapper_attr``) and Stable-Baselines3's vector envs (``env_method``).
        """
        return self.action_mask().astype(bool)

    def action_mask(self) -> np.ndarray:
        """Which discrete actions are legal now (int8; all ones once the episode is over, see Action Space)."""
        if self.problem is None:
            raise RuntimeError("call reset() before asking for the action mask")
        if self._done:
            return np.ones(self.action_space.n, dtype=np.int8)
        if self.moves is None:  # the first len(candidates) slots: one array per count, copied
            count = len(self._candidates)
            mask = self._slot_masks.get(count)
            if mask is None:
                mask = self._slot_masks[count] = np.zeros(self.task.num_candidates, dtype=np.int8)
                mask[:count] = 1
            return mask.copy()  # the caller may write to it
        return self._current_mask().copy()  # the caller may write to it

    def _legal_moves(self, state: Any) -> np.ndarray:
        legal = self.task.legal_mask(state)
        if legal is not None:  # the task's fast hook
            return legal.astype(np.int8)
        mask = np.zeros(len(self.moves), dtype=np.int8)
        for i, move in enumerate(self.moves):
            try:
                self.task.apply(state, move)
                mask[i] = 1
            except InvalidStep:
                pass
        return mask

    def _info(self, *, similarity: float, valid: bool) -> dict[str, Any]:
        info: dict[str, Any] = {
            "expert_step": self._expert_text,
            "step_similarity": float(similarity),
            "valid": bool(valid),
            "difficulty": self._difficulty,
            "steps_taken": self.steps_taken,
        }
        if self._num_actions:  # the discrete interface
            if self.moves is not None:
                index = -1 if self._expert_action is None else self._move_index[self._expert_action]
            else:
                index = self._expert_index
            info["expert_action"] = index
            info["action_mask"] = self.action_mask()
        return info


def _check_noisy_expert(task: Task, noise: float, split: str, teacher_forcing: bool, interface: str) -> None:
    """``ValueError`` naming the fix when ``expert_noise > 0`` cannot mean what it says (see the Arguments)."""
    option = f"expert_noise={noise}"
    if split != "train":
        raise ValueError(
            f"{option} with split={split!r}: the test split is never noisy (every algorithm is scored on it); "
            "build noisy training data from split='train', or pass expert_noise=0"
        )
    if not teacher_forcing:
        raise ValueError(
            f"{option} needs teacher_forcing=True: it flaws the expert trajectory that teacher forcing replays "
            "(SFT data, SRL step targets); on-policy the reward is the oracle's step from the current state, "
            "which is never noisy"
        )
    if interface != "text":
        raise ValueError(
            f"{option} needs interface='text': noisy expert data is for the text baselines (SFT, SRL), while the "
            "discrete interface's candidates and info['expert_action'] are built around the oracle's step"
        )
    if not task.replans:
        raise ValueError(
            f"{option}: {task.name} has no oracle from any state (Task.replans is False), so nothing can "
            "re-plan after a wrong step; use a generated task, or expert_noise=0"
        )
    if not task.has_wrong_steps:
        raise ValueError(
            f"{option}: {task.name} has no legal wrong step to inject (Task.has_wrong_steps is False: its "
            "apply accepts no mistake but a wrong final answer, which would end the trajectory instead of "
            "letting the oracle re-plan); use a task with a move set or legal distractors (planning tasks, "
            "Countdown, HornDeduction, Syllogism), or expert_noise=0"
        )


def env_options() -> tuple[str, ...]:
    """The keyword options `ReasoningEnv` takes itself (the rest go to the task's config)."""
    import inspect

    skip = {"self", "task", "task_options"}
    return tuple(name for name in inspect.signature(ReasoningEnv.__init__).parameters if name not in skip)


def _check_task_options(task: type[Task], options: dict[str, Any]) -> None:
    """``TypeError`` naming every allowed option (the env's and the task's) when ``options`` holds an unknown one."""
    import dataclasses

    names = [f.name for f in dataclasses.fields(task.config_class) if f.name != "difficulty"]
    unknown = sorted(set(options) - set(names))
    if unknown:
        raise TypeError(
            f"{task.__name__} got unknown option(s) {unknown}; the env's options: {', '.join(env_options())}; "
            f"{task.__name__}'s own: {', '.join(names) or 'none'}"
        )


def _check_choice(name: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
