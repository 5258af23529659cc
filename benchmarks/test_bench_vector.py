"""Vectorised throughput: env steps/s with Gymnasium's SyncVectorEnv and AsyncVectorEnv and SB3's
SubprocVecEnv over 1, 2 and 8 envs, for two tasks on the discrete interface (the expert's actions),
side by side with FrozenLake-v1 in the same vector setting.

Run: ``python -m pytest benchmarks/test_bench_vector.py --benchmark-enable --benchmark-group-by=group``.
One benchmark round is one vector step (n env steps); steps/s = n / mean, recorded in ``extra_info``.
Sub-process vectors pay pickling and a pipe round trip per step, so they only pay off when a step
costs more than that; on a 2-core machine 8 processes also compete for the cores.
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np
import pytest

import srl_gym  # noqa: F401

ENV_IDS = ["srl/Hanoi-v0", "srl/Arithmetic-v0", "FrozenLake-v1"]
NUM_ENVS = [1, 2, 8]


def make_fn(env_id: str) -> Callable[[], gym.Env]:
    if env_id == "FrozenLake-v1":
        return lambda: gym.make(env_id)
    return lambda: gym.make(env_id, interface="discrete")


def expert_actions(infos: dict, n: int) -> np.ndarray:
    """The expert's action of each sub-env (0 where there is none: FrozenLake, or an episode just over)."""
    if "expert_action" not in infos:
        return np.ones(n, dtype=np.int64)  # FrozenLake: always "down", as in test_bench_env
    return np.maximum(np.asarray(infos["expert_action"], dtype=np.int64), 0)


def _record(benchmark, kind: str, env_id: str, n: int) -> None:
    benchmark.group = f"vector-{kind}-{n}"
    benchmark.extra_info.update(vector=kind, env_id=env_id, num_envs=n)


def _steps_per_second(benchmark, n: int) -> None:
    if benchmark.stats is not None:
        benchmark.extra_info["steps_per_s"] = n / benchmark.stats.stats.mean


@pytest.mark.parametrize("n", NUM_ENVS)
@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_gymnasium_vector(benchmark, kind, env_id, n):
    _record(benchmark, kind, env_id, n)
    cls = gym.vector.SyncVectorEnv if kind == "sync" else gym.vector.AsyncVectorEnv
    envs = cls([make_fn(env_id) for _ in range(n)])
    try:
        state = {"infos": envs.reset(seed=0)[1]}

        def step() -> None:
            state["infos"] = envs.step(expert_actions(state["infos"], n))[4]

        benchmark(step)
        _steps_per_second(benchmark, n)
    finally:
        envs.close()


@pytest.mark.parametrize("n", NUM_ENVS)
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_sb3_subproc_vec_env(benchmark, env_id, n):
    vec_env = pytest.importorskip("stable_baselines3.common.vec_env")
    _record(benchmark, "sb3-subproc", env_id, n)
    envs = vec_env.SubprocVecEnv([make_fn(env_id) for _ in range(n)], start_method="fork")
    try:
        envs.reset()
        state = {"infos": envs.reset_infos}

        def step() -> None:
            actions = np.array([max(info.get("expert_action", 1), 0) for info in state["infos"]])
            _, _, dones, infos = envs.step(actions)
            # An episode that ended was reset: its next action comes from the reset's info.
            state["infos"] = [envs.reset_infos[i] if done else infos[i] for i, done in enumerate(dones)]

        benchmark(step)
        _steps_per_second(benchmark, n)
    finally:
        envs.close()
