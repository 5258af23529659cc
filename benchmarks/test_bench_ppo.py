"""The env's share of a Stable-Baselines3 PPO step, per task on the discrete interface, with FrozenLake-v1.

Run: ``python -m pytest benchmarks/test_bench_ppo.py --benchmark-enable --benchmark-group-by=group``.
Each group ``ppo-<env>`` holds two cases: ``ppo`` times ``PPO("MlpPolicy", env, n_steps=1024).learn(2048)``
(collection and two updates), ``env`` times 2,000 random env steps alone (resets included). The env's
share of a PPO step is ``(env mean / 2000) / (ppo mean / 2048)``; both are in ``extra_info`` (us per
step). ``benchmarks/speed_ratios.py --only ppo`` prints the same share as a table (CPU time).
"""

from __future__ import annotations

import gymnasium as gym
import pytest

import srl_gym  # noqa: F401
from srl_gym.registration import TASKS

PPO_STEPS, ENV_STEPS = 2048, 2000
ENV_IDS = ["FrozenLake-v1", *(e.env_id for e in TASKS)]


def make(env_id: str) -> gym.Env:
    return gym.make(env_id) if env_id == "FrozenLake-v1" else gym.make(env_id, interface="discrete")


def random_steps(env: gym.Env, steps: int, seeds) -> None:
    seed = next(seeds)
    env.action_space.seed(seed)
    env.reset(seed=seed)
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_ppo_learn(benchmark, env_id, fresh_seeds):
    torch = pytest.importorskip("torch")
    sb3 = pytest.importorskip("stable_baselines3")
    torch.set_num_threads(1)
    benchmark.group = f"ppo-{env_id}"

    def learn() -> None:
        sb3.PPO("MlpPolicy", make(env_id), n_steps=1024, seed=next(fresh_seeds), device="cpu").learn(PPO_STEPS)

    benchmark.pedantic(learn, rounds=3, iterations=1)
    if benchmark.stats is not None:
        benchmark.extra_info["us_per_step"] = benchmark.stats.stats.mean / PPO_STEPS * 1e6


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_env_random_steps(benchmark, env_id, fresh_seeds):
    benchmark.group = f"ppo-{env_id}"
    env = make(env_id)
    benchmark.pedantic(random_steps, args=(env, ENV_STEPS, fresh_seeds), rounds=5, iterations=1)
    if benchmark.stats is not None:
        benchmark.extra_info["us_per_step"] = benchmark.stats.stats.mean / ENV_STEPS * 1e6
