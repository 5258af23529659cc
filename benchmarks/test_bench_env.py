"""Env step cost per task and interface, side by side with Gymnasium's FrozenLake-v1 in the same run.

Run: ``python -m pytest benchmarks --benchmark-enable --benchmark-group-by=group``. Each group
holds FrozenLake and every task: read the ratio of their means, not the absolute times. Groups:
``step-discrete`` and ``step-text`` (the expert's actions; FrozenLake always "down") and
``step-discrete-random`` (random actions on both sides; with it `Nothing`, the env's own floor: see
``benchmarks/nothing_task.py``). ``benchmarks/speed_ratios.py`` prints the
same ratios as tables, each measurement paired with a FrozenLake run.
"""

from __future__ import annotations

import gymnasium as gym
import pytest
from nothing_task import NOTHING_ID

import srl_gym  # noqa: F401
from srl_gym.registration import TASKS


def make_stepper(env: gym.Env, policy, seed: int):
    """A callable doing one env step (resetting when an episode ends), as a benchmark target."""
    env.action_space.seed(seed)
    state = {"info": env.reset(seed=seed)[1]}

    def step() -> None:
        _, _, terminated, truncated, info = env.step(policy(state["info"]))
        state["info"] = env.reset()[1] if terminated or truncated else info

    return step


@pytest.mark.parametrize("interface", ["discrete", "text"])
@pytest.mark.parametrize("entry", [pytest.param(e, id=e.name) for e in TASKS])
def test_step(benchmark, entry, interface, fresh_seeds):
    benchmark.group = f"step-{interface}"
    env = gym.make(entry.env_id, interface=interface, similarity="lcs")
    key = "expert_action" if interface == "discrete" else "expert_step"
    benchmark(make_stepper(env, lambda info: info[key], next(fresh_seeds)))


@pytest.mark.parametrize("interface", ["discrete", "text"])
def test_step_frozenlake_reference(benchmark, interface, fresh_seeds):
    benchmark.group = f"step-{interface}"
    env = gym.make("FrozenLake-v1")
    benchmark(make_stepper(env, lambda info: 1, next(fresh_seeds)))


@pytest.mark.parametrize("entry", [pytest.param(e, id=e.name) for e in TASKS])
def test_step_random_discrete(benchmark, entry, fresh_seeds):
    """Random actions (``action_space.sample()``, seeded) and the env's defaults (difflib scoring), as an
    untrained SB3 agent gets them."""
    benchmark.group = "step-discrete-random"
    env = gym.make(entry.env_id, interface="discrete")
    benchmark(make_stepper(env, lambda info: env.action_space.sample(), next(fresh_seeds)))


def test_step_random_frozenlake_reference(benchmark, fresh_seeds):
    benchmark.group = "step-discrete-random"
    env = gym.make("FrozenLake-v1")
    benchmark(make_stepper(env, lambda info: env.action_space.sample(), next(fresh_seeds)))


@pytest.mark.parametrize("length", [3, 10])
def test_step_random_nothing_floor(benchmark, length, fresh_seeds):
    """The env's own cost (`Nothing`: a task that costs nothing) with episodes of exactly ``length`` random steps:
    a task whose random episodes are as short cannot step faster than this."""
    benchmark.group = "step-discrete-random"
    env = gym.make(NOTHING_ID, interface="discrete", length=length)
    benchmark(make_stepper(env, lambda info: env.action_space.sample(), next(fresh_seeds)))
