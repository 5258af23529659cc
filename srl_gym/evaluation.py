"""Plugging in agents: the `Agent` protocol, reference agents, and `evaluate`.

Anything with ``act(observation, info) -> action`` is an agent (a plain callable
``f(observation, info)`` too). Agents that answer many episodes at once (language models) add
``act_batch(observations, infos) -> actions``; `evaluate` then steps a batch of episodes in
lockstep, one ``act_batch`` call per step, so a model generates for all of them together.

**The answer key stays with the env.** The env's ``info`` holds the oracle's next step
(`srl_gym.ORACLE_INFO_KEYS`: ``expert_step``, ``expert_action``). An evaluated agent is handed the
observation and `srl_gym.agent_info` of each info (the same info without those keys), and nothing
else. Only an agent that says ``privileged = True`` (the reference `ExpertAgent` and `RandomAgent`,
trainers that record the oracle's labels on the agent's own states) gets the whole info and a
``bind(env)`` call with the env itself; `EvalResult.privileged` records that it did, so such a score
cannot pass for an agent's.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np

from srl_gym.env import agent_info


@runtime_checkable
class Agent(Protocol):
    """An agent: ``act(observation, info)`` returns the next step (a str or an int)."""

    def act(self, observation: Any, info: dict[str, Any]) -> Any: ...


@runtime_checkable
class BatchAgent(Protocol):
    """An agent that acts for many episodes in one call (e.g. one ``generate`` for a batch)."""

    def act_batch(self, observations: Sequence[Any], infos: Sequence[dict[str, Any]]) -> list[Any]: ...


def is_privileged(agent: Any) -> bool:
    """Whether ``agent`` declares ``privileged = True``: `evaluate` hands it the oracle (see the module docstring)."""
    return getattr(agent, "privileged", False) is True


class ExpertAgent:
    """The oracle: takes the expert's step that the env reports (``info["expert_step"]``/``expert_action``).

    A reference, not an agent to compare: it is ``privileged``, so `evaluate` hands it the whole info.
    """

    privileged = True

    def act(self, observation: Any, info: dict[str, Any]) -> Any:
        return info["expert_action"] if "expert_action" in info else info["expert_step"]


class RandomAgent:
    """A uniformly random agent: a random legal action (discrete) or a random legal step (text).

    For the text interface it needs the env, to write a random legal step of the task's move
    set or candidates (``bind(env)``, which `evaluate` calls because it is ``privileged``; it never
    reads the expert's step, but the candidates it draws from hold it, so its results say privileged).
    """

    privileged = True

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)
        self.env: gym.Env | None = None

    def bind(self, env: gym.Env) -> None:
        self.env = env.unwrapped

    def act(self, observation: Any, info: dict[str, Any]) -> Any:
        if "action_mask" in info:
            legal = np.flatnonzero(info["action_mask"])
            return int(self.rng.choice(legal)) if len(legal) else 0
        if self.env is None:
            raise RuntimeError("RandomAgent needs bind(env) for the text interface")
        task, state = self.env.task, self.env.state
        moves = task.move_set()
        if moves is None:
            moves, _ = task.candidates(state, self.rng)
        return task.format_step(state, self.rng.choice(list(moves))) if moves else ""


@dataclass
class EpisodeResult:
    """One evaluated episode."""

    seed: int
    difficulty: int
    solved: bool
    length: int
    episode_return: float
    mean_step_similarity: float
    valid_fraction: float
    #: Ended by ``end_loops``: the agent was shown an observation it had already been shown in this episode.
    looped: bool = False


@dataclass
class EvalResult:
    """What `evaluate` measured: aggregates, per-difficulty aggregates and every episode."""

    env_id: str
    success_rate: float
    success_ci95: tuple[float, float]
    mean_step_similarity: float
    mean_length: float
    mean_return: float
    valid_fraction: float
    seeds: list[int]
    #: The agent was ``privileged``: it was handed the oracle's info keys and the env (a reference, not a result).
    privileged: bool = False
    per_difficulty: dict[int, dict[str, float]] = field(default_factory=dict)
    episodes: list[EpisodeResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score 95% interval of a success rate (sound at 0 and 1, unlike the normal one)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def _summary(episodes: Sequence[EpisodeResult]) -> dict[str, float]:
    n = len(episodes)
    return {
        "episodes": n,
        "success_rate": sum(e.solved for e in episodes) / n,
        "mean_step_similarity": float(np.mean([e.mean_step_similarity for e in episodes])),
        "mean_length": float(np.mean([e.length for e in episodes])),
        "mean_return": float(np.mean([e.episode_return for e in episodes])),
        "valid_fraction": float(np.mean([e.valid_fraction for e in episodes])),
    }


def evaluate(
    agent: Agent | BatchAgent | Callable[[Any, dict], Any],
    env_id: str,
    episodes: int = 20,
    seed: int = 0,
    *,
    difficulty: int | Sequence[int] = 0,
    batch_size: int = 16,
    end_loops: bool = False,
    seeds: Sequence[int] | None = None,
    **env_kwargs: Any,
) -> EvalResult:
    """Run ``agent`` on ``episodes`` episodes of ``env_id`` per difficulty and measure it.

    Episode ``i`` uses seed ``seed + i``, so every agent meets the same problems (``seeds``: these
    seeds instead, e.g. one per distinct problem of a small level; ``episodes`` is then ignored). ``difficulty``
    may be a list: each level gets ``episodes`` episodes and its own entry in ``per_difficulty``.
    Other keyword arguments go to ``gym.make`` (e.g. ``split="test"``, ``interface="discrete"``).
    Agents with ``act_batch`` play up to ``batch_size`` episodes at once, one call per step; when
    one ends, the next seed takes its place (the order of calls changes, not the episodes).

    ``end_loops=True`` ends an episode, unsolved, as soon as the agent is shown an observation it
    was already shown in that episode (``EpisodeResult.looped``). It is for agents whose step is
    a function of the observation (``agent.deterministic``, e.g. a greedy `LMAgent`; anything else
    is refused): such an agent would repeat the same cycle until ``max_steps`` and never solve
    it, so success is what the full run gives, at a fraction of the calls. (A greedy model that
    writes an invalid step sees the same state again and would write it again: on
    LongMultiplication this halves the steps of an evaluation.) Lengths and returns are then those
    of the episodes as cut.

    The agent sees each observation and `srl_gym.agent_info` of each info: never the oracle's
    step. An agent with ``privileged = True`` gets the whole info and ``bind(env)`` instead (the
    reference agents; `EvalResult.privileged` says so). ``bind`` is never called on any other agent.
    """
    if seeds is not None:
        seeds = list(seeds)
        if not seeds or any(isinstance(x, bool) or not isinstance(x, (int, np.integer)) for x in seeds):
            raise ValueError(f"seeds must hold at least one seed, each an int; got {seeds!r}")
        seeds = [int(x) for x in seeds]
        episodes = len(seeds)
    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ValueError(f"episodes must be a positive int, got {episodes!r}")
    act_batch = getattr(agent, "act_batch", None)
    act = getattr(agent, "act", None) or (agent if callable(agent) else None)
    if act_batch is None and act is None:
        raise TypeError(f"an agent needs act(observation, info), act_batch(...) or to be callable; got {agent!r}")
    if end_loops and not getattr(agent, "deterministic", False):
        raise ValueError(
            "end_loops=True needs an agent whose step depends only on the observation (agent.deterministic is "
            f"True, e.g. a greedy LMAgent); {type(agent).__name__} does not say so: evaluate it with end_loops=False"
        )
    levels = [difficulty] if isinstance(difficulty, (int, np.integer)) else list(difficulty)
    seeds = seeds if seeds is not None else [seed + i for i in range(episodes)]
    results: list[EpisodeResult] = []
    for level in levels:
        slots = min(batch_size, episodes) if act_batch else 1
        envs = [gym.make(env_id, difficulty=int(level), **env_kwargs) for _ in range(slots)]
        if is_privileged(agent) and hasattr(agent, "bind"):
            agent.bind(envs[0])
        results += _run_lockstep(agent, envs, seeds, int(level), act, act_batch, end_loops)
        for env in envs:
            env.close()
    overall = _summary(results)
    successes = sum(e.solved for e in results)
    return EvalResult(
        env_id=env_id,
        success_rate=overall["success_rate"],
        success_ci95=wilson_interval(successes, len(results)),
        mean_step_similarity=overall["mean_step_similarity"],
        mean_length=overall["mean_length"],
        mean_return=overall["mean_return"],
        valid_fraction=overall["valid_fraction"],
        seeds=seeds,
        privileged=is_privileged(agent),
        per_difficulty={int(level): _summary([e for e in results if e.difficulty == level]) for level in levels},
        episodes=results,
    )


def _run_lockstep(agent, envs, seeds, level, act, act_batch, end_loops=False) -> list[EpisodeResult]:
    """Play the episodes of ``seeds`` in ``envs`` together; the agent sees all unfinished ones at each step.

    When an episode ends, its env starts the next seed at once, so every call serves as many
    episodes as there are envs until the seeds run out (a batch is not held back by its longest
    episode). Results are in the order of ``seeds``. ``end_loops``: see `evaluate`.
    """
    if hasattr(agent, "reset"):
        agent.reset()
    pending = iter(range(len(seeds)))
    slot_of: dict[int, int] = {}  # env index -> episode index
    obs: list[Any] = [None] * len(envs)
    infos: list[Any] = [None] * len(envs)
    sims: list[list[float]] = [[] for _ in seeds]
    valid: list[list[bool]] = [[] for _ in seeds]
    returns = [0.0] * len(seeds)
    solved = [False] * len(seeds)
    looped = [False] * len(seeds)
    shown: list[set] = [set() for _ in seeds]  # the observations each episode's agent was shown (end_loops)

    def start(i: int) -> None:
        episode = next(pending, None)
        if episode is not None:
            slot_of[i] = episode
            obs[i], infos[i] = envs[i].reset(seed=seeds[episode])
            if end_loops:
                shown[episode].add(_observation_key(obs[i]))

    shown_info = (lambda info: info) if is_privileged(agent) else agent_info  # noqa: E731

    for i in range(len(envs)):
        start(i)
    while slot_of:
        live = sorted(slot_of)
        if act_batch is not None:
            actions = act_batch([obs[i] for i in live], [shown_info(infos[i]) for i in live])
        else:
            actions = [act(obs[i], shown_info(infos[i])) for i in live]
        for i, action in zip(live, actions, strict=True):
            e = slot_of[i]
            obs[i], reward, terminated, truncated, infos[i] = envs[i].step(action)
            returns[e] += float(reward)
            sims[e].append(infos[i]["step_similarity"])
            valid[e].append(infos[i]["valid"])
            if not (terminated or truncated) and end_loops:
                key = _observation_key(obs[i])
                looped[e] = truncated = key in shown[e]
                shown[e].add(key)
            if terminated or truncated:
                solved[e] = bool(infos[i].get("solved", False))
                del slot_of[i]
                start(i)
    return [
        EpisodeResult(s, level, solved[e], len(sims[e]), returns[e], float(np.mean(sims[e])), float(np.mean(valid[e])),
                      looped[e])  # fmt: skip
        for e, s in enumerate(seeds)
    ]


def _observation_key(observation: Any) -> Any:
    """A hashable copy of an observation (text as it is; arrays by dtype, shape and bytes; dicts item by item)."""
    if isinstance(observation, np.ndarray):
        return (observation.dtype.str, observation.shape, observation.tobytes())
    if isinstance(observation, dict):
        return tuple((k, _observation_key(v)) for k, v in sorted(observation.items()))
    return observation
