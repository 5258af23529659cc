"""Bring your own expert trajectories: an env over a JSONL file of {problem, steps, answer}."""

from __future__ import annotations

import random
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property
from pathlib import Path

import numpy as np

from srl_gym.parsing import answer_text, last_number, normalize, parse_number
from srl_gym.task import InvalidStep, Problem, Task, TaskConfig, problem_split
from srl_gym.trajectory import SPLIT_MODES, Trajectory, read_jsonl

EXAMPLE_PATH = Path(__file__).parent / "data" / "example.jsonl"

#: A state is (trajectory index, steps taken, the final step's text once given or None).
DatasetState = tuple[int, int, str | None]


@dataclass
class TrajectoriesConfig(TaskConfig):
    """Options of `Trajectories`.

    Attributes:
        path: the JSONL file of trajectories; ``None`` is the small example shipped with srl-gym.
        split_mode: how rows with a raw ``"solution"`` are cut into steps (see
            `srl_gym.trajectory.split_solution`): auto, numbered, step, paragraph or lines.
    """

    path: str | None = None
    split_mode: str = "auto"

    def validate(self, levels) -> None:
        super().validate(levels)
        if self.path is not None and not isinstance(self.path, (str, Path)):
            raise TypeError(f"path must be a path to a JSONL file or None, got {self.path!r}")
        if self.split_mode not in SPLIT_MODES:
            raise ValueError(f"split_mode must be one of {SPLIT_MODES}, got {self.split_mode!r}")


_UNKNOWN = object()  # (a step `Trajectories._stated` does not hold)


class Trajectories(Task[tuple, str]):
    """Expert trajectories from a file, played step by step (the SRL paper's setting for math).

    ## Description
    Each line of the JSONL file is ``{"problem": str, "steps": [str, ...], "answer": str}`` (or
    ``"solution": str`` instead of ``"steps"``, cut into steps by numbered lines, "Step N:"
    headers or paragraphs). An episode replays one trajectory: the agent writes each next step
    and is scored against the expert's. There is no transition model for free text, so on-policy
    the agent's step is recorded and the next expert step becomes the target (the paper's
    teacher forcing, with the agent's own steps in the context).

    ## Action Space
    Text: any non-empty step; an empty one is invalid. A step that states an answer ("Answer:
    X", "The answer is X", "\\boxed{X}") ends the episode. Discrete: ``Discrete(4)``: the expert's
    step among steps taken from other positions and other trajectories of the file.

    ## Observation Space
    Text: the problem and the steps so far. Discrete: UTF-8 codes of the last step (or the
    problem) and of each candidate, 128 bytes each.

    ## Starting State
    A trajectory of the requested split and level, drawn with the seed.

    ## Reward
    See `srl_gym.env.ReasoningEnv`. Similarity is computed against the expert's step.

    ## Episode End
    After as many steps as the trajectory has, or on a step that states an answer. Solved when
    the final answer matches the file's answer (numbers compare by value, text after
    normalising case and spacing), or, for rows without an answer, when the last step matches
    the expert's last step after normalisation.

    ## Information
    ``answer`` is the answer the final step stated (the whole step if it states none).

    ## Arguments
    ``path`` (default: the shipped example of 40 word problems), ``split_mode`` (default
    "auto"), ``difficulty``: 0: the shortest third of the split's trajectories by number of steps;
    1: the middle third; 2: the longest third. Train and test are disjoint by a hash of the
    problem text; each needs at least three trajectories.

    ## Version History
    - v0: initial release.
    """

    name = "Trajectories"
    domain = "dataset"
    replans = False  # its expert is the file's next step, not an oracle from any state
    levels = (
        "the shortest third of the split's trajectories (by number of steps)",
        "the middle third",
        "the longest third",
    )
    config_class = TrajectoriesConfig

    def __init__(self, config: TrajectoriesConfig | None = None, **kwargs) -> None:
        super().__init__(config, **kwargs)
        self.path = Path(self.config.path) if self.config.path is not None else EXAMPLE_PATH
        self.trajectories: list[Trajectory] = read_jsonl(self.path, self.config.split_mode)

    @cached_property
    def _partition(self) -> dict[str, list[int]]:
        """Indices of this level's trajectories in each split: a third of the split, by length."""
        out = {}
        for split in ("train", "test"):
            members = [i for i, t in enumerate(self.trajectories) if problem_split(t.problem) == split]
            members.sort(key=lambda i: (len(self.trajectories[i].steps), i))
            size = len(members)
            out[split] = members[size * self.difficulty // 3 : size * (self.difficulty + 1) // 3]
        return out

    @cached_property
    def _normalized(self) -> tuple[tuple[str, ...], ...]:
        """`normalize` of every step text of every trajectory (what actions are), computed once."""
        return tuple(tuple(normalize(step.text) for step in traj.steps) for traj in self.trajectories)

    @cached_property
    def _stated(self) -> dict[str, str | None]:
        """`answer_text` of every normalised step of the dataset (what `apply` asks of an expert or candidate step)."""
        return {step: answer_text(step) for steps in self._normalized for step in steps}

    def generate_split(self, rng: random.Random, split: str) -> Problem:
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        members = self._partition[split]
        if not members:
            raise ValueError(
                f"{self.path} has no {split} trajectories at difficulty {self.difficulty}: each split needs at "
                "least three trajectories (about 20% of problem texts hash to test); add more lines"
            )
        return self._problem(rng.choice(members))

    def generate(self, rng: random.Random) -> Problem:
        return self._problem(rng.randrange(len(self.trajectories)))

    def _problem(self, index: int) -> Problem:
        traj = self.trajectories[index]
        return Problem(text=traj.problem, initial_state=(index, 0, None), answer=traj.answer)

    # ------------------------------------------------------------------ dynamics
    def is_terminal(self, state: tuple) -> bool:
        index, taken, final = state
        return final is not None

    def is_solved(self, problem: Problem, state: tuple) -> bool:
        index, taken, final = state
        if final is None:
            return False
        memo = self.__dict__.setdefault("_solved_memo", {})  # (index, final) -> _matches: a pure function of them
        solved = memo.get((index, final))
        if solved is None:
            if len(memo) >= 4096:  # bounded: the finals an agent writes are as many as it likes
                memo.clear()
            solved = memo[index, final] = self._matches(index, final)
        return solved

    def expert_action(self, state: tuple) -> str | None:
        index, taken, final = state
        if final is not None:
            return None
        steps = self._normalized[index]
        return steps[min(taken, len(steps) - 1)]

    def apply(self, state: tuple, action: str) -> tuple:
        index, taken, final = state
        if final is not None:
            raise InvalidStep("the trajectory is over")
        if not action:
            raise InvalidStep("empty step")
        last = taken + 1 >= len(self.trajectories[index].steps)
        if last:
            return index, taken + 1, action
        stated = self._stated.get(action, _UNKNOWN)  # the dataset's own steps: answer_text of each, computed once
        if stated is _UNKNOWN:
            stated = answer_text(action)
        return index, taken + 1, action if stated is not None else None

    def format_step(self, state: tuple, action: str) -> str:
        index, taken, _ = state
        normalized = self._normalized[index]
        step = taken if taken < len(normalized) else len(normalized) - 1
        return self.trajectories[index].steps[step].text if normalized[step] == action else action

    def parse_step(self, state: tuple, text: str) -> str:
        step = normalize(text)
        if not step:
            raise InvalidStep("empty step")
        return step

    def answer(self, problem: Problem, state: tuple, steps) -> str:
        final = state[2]
        if final is None:
            return ""
        stated = self._stated.get(final, _UNKNOWN)  # a step of the dataset (what the expert and candidates say)
        if stated is _UNKNOWN:
            stated = answer_text(final)
        return stated or final

    def verify(self, problem: Problem, answer: str) -> bool:
        if not isinstance(answer, str) or not answer.strip():
            return False
        return self._matches(problem.initial_state[0], normalize(answer))

    def _matches(self, index: int, final: str) -> bool:
        traj = self.trajectories[index]
        if traj.answer is None:
            return final == normalize(traj.steps[-1].text)
        stated = answer_text(final) or final
        truth = normalize(traj.answer)
        expected = parse_number(truth)
        if expected is not None:
            value = parse_number(stated) if parse_number(stated) is not None else last_number(stated)
            return value is not None and Fraction(value) == expected
        if normalize(stated) == truth:
            return True
        # A final expert step that restates the answer in a sentence still counts.
        return final == normalize(traj.steps[-1].text) and truth in final

    # ------------------------------------------------------------------ discrete interface
    def distractors(self, state: tuple, expert: str, rng: random.Random) -> list[str]:
        index, taken, _ = state
        steps = self._normalized[index]
        pool = [*steps[:taken], *steps[taken + 1 :]] if taken >= 0 else list(steps)  # every step but the one taken
        other = self._normalized[rng.randrange(len(self.trajectories))]
        pool.append(other[min(taken, len(other) - 1)])
        rng.shuffle(pool)
        return [p for p in pool if p != expert][: self.num_candidates - 1]

    def encode_discrete(self, state: tuple, candidate_texts) -> np.ndarray:
        index, taken, _ = state
        traj = self.trajectories[index]
        context = traj.steps[taken - 1].text if taken else traj.problem
        return self.encode_texts(context, candidate_texts)  # the default's slots, the last step's text first
