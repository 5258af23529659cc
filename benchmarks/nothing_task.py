"""`Nothing`: a task whose every hook is next to free, so that timing it times the env itself (its floor).

The speed goals of issue 21 compare each task's step with Gymnasium's FrozenLake-v1, resets included. What
the env costs whatever the task (seeding the problem's RNG, the split check, the candidates' shuffle, the
observation's bytes, the info dict) is paid by every task; `Nothing` measures it, as a function of how many
steps an episode lasts (``benchmarks/speed_ratios.py --only floor``, ``benchmarks/test_bench_env.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym

from srl_gym.task import Problem, Task, TaskConfig


@dataclass
class NothingConfig(TaskConfig):
    """`Nothing`'s one option: how many steps every episode lasts."""

    length: int = 3

    def validate(self, levels) -> None:
        super().validate(levels)
        if isinstance(self.length, bool) or not isinstance(self.length, int):
            raise TypeError(f"length (steps every episode lasts) must be an int >= 1, got {self.length!r}")
        if self.length < 1:
            raise ValueError(f"length (steps every episode lasts) must be >= 1, got {self.length}")


class Nothing(Task):
    """A task whose every hook is next to free: what is left of a step is the env's own cost (its floor).

    A problem is a count from 0 to ``length``; every candidate of the discrete interface is a valid step that
    counts one, so a random agent's episode lasts exactly ``length`` steps. The texts are short constants.
    """

    name = "Nothing"
    domain = "math"
    levels = ("only",)
    config_class = NothingConfig
    TEXTS = ("count 1", "count one", "add 1", "next")

    def generate(self, rng):
        return Problem(text=f"Count to {self.config.length} ({rng.getrandbits(32)}).", initial_state=0)

    def expert_action(self, state):
        return None if state >= self.config.length else 0

    def apply(self, state, action):
        return state + 1

    def format_step(self, state, action):
        return self.TEXTS[action]

    def parse_step(self, state, text):
        return 0

    def is_terminal(self, state):
        return state >= self.config.length

    def is_solved(self, problem, state):
        return True

    def render_state(self, state):
        return f"at {state}"

    def distractors(self, state, expert, rng):
        return [1, 2, 3]

    def known_expert_length(self, problem):
        return self.config.length


#: Its id; ``gym.make(NOTHING_ID, interface="discrete", length=3)``.
NOTHING_ID = "bench/Nothing-v0"
if NOTHING_ID not in gym.registry:
    gym.register(NOTHING_ID, entry_point="srl_gym.env:ReasoningEnv", kwargs={"task": Nothing})
