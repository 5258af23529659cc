"""The answer key stays with the env: an agent that hunts for the oracle's step scores like a random one.

`srl_gym.evaluate` and the comparison's agent evaluations (`srl_gym.agents.discrete_eval`,
`srl_gym.agents.lm_eval`) hand an agent the observation and `srl_gym.agent_info` of each info;
only a ``privileged`` agent (the reference ones) gets the oracle's keys and ``bind(env)``.
"""

from __future__ import annotations

import random
import types

import numpy as np
import pytest

import srl_gym
from srl_gym.evaluation import ExpertAgent, RandomAgent, evaluate

CASES = [
    ("srl/Hanoi-v0", "text"),
    ("srl/LongMultiplication-v0", "text"),
    ("srl/Hanoi-v0", "discrete"),
    ("srl/BlocksWorld-v0", "discrete"),
    ("srl/LongMultiplication-v0", "discrete"),
]


def _everything(value, seen=None):
    """Every (key path, leaf) reachable from ``value``: dict items, sequence items, object attributes."""
    seen = set() if seen is None else seen
    if id(value) in seen:  # containers only are remembered (small ints and strings are shared objects)
        return
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = enumerate(value)
    elif isinstance(value, np.ndarray) and value.dtype == object:
        items = enumerate(value.tolist())
    elif hasattr(value, "__dict__") and not isinstance(value, type):
        items = vars(value).items()
    else:
        yield "", value
        return
    seen.add(id(value))
    for key, item in items:
        for path, leaf in _everything(item, seen):
            yield f"{key}/{path}", leaf


class Attacker:
    """Searches everything it is handed (the info recursively, the observation, the env if bound) for the
    oracle's step and plays it; otherwise plays as `RandomAgent` does (discrete) or a fixed junk step (text)."""

    deterministic = True  # so the comparison's LM evaluation takes it (end_loops); its fallback is a function of obs

    def __init__(self, seed: int = 0, *_args, **_kwargs) -> None:
        self.rng = random.Random(seed)
        self.found = 0
        self.bound = False
        self.handed: list[dict] = []
        self.generated_tokens = 0

    def bind(self, env) -> None:  # an attacker would love the env: evaluate must never call this
        self.bound = True

    def _leak(self, observation, info):
        discrete = "action_mask" in info
        for path, leaf in _everything({"info": info, "observation": observation}):
            named = "expert" in path.lower() or "oracle" in path.lower()
            if discrete and named and isinstance(leaf, (int, np.integer)) and not isinstance(leaf, bool):
                return leaf  # the expert's index
            if not discrete and isinstance(leaf, str) and leaf and (named or path.startswith("info/")):
                return leaf  # a text step hidden anywhere in info
        return None

    def act(self, observation, info):
        self.handed.append(info)
        leak = self._leak(observation, info)
        if leak is not None:
            self.found += 1
            return int(leak) if isinstance(leak, (int, np.integer)) else leak
        if "action_mask" in info:  # exactly RandomAgent's draw
            legal = np.flatnonzero(info["action_mask"])
            return int(self.rng.choice(legal)) if len(legal) else 0
        return "I do not know"

    def act_batch(self, observations, infos):
        return [self.act(o, i) for o, i in zip(observations, infos, strict=True)]

    def complete(self, observations, mode="step"):  # the LM evaluation's whole-solution path: the prompt only
        return ["" for _ in observations]


@pytest.mark.parametrize(("env_id", "interface"), CASES)
def test_an_attacker_under_evaluate_finds_nothing_and_scores_like_a_random_agent(env_id, interface):
    options = {"episodes": 12, "seed": 0, "split": "test", "interface": interface, "batch_size": 1}
    attacker = Attacker(seed=5)
    attacked = evaluate(attacker, env_id, **options)
    assert attacker.found == 0 and not attacker.bound and attacker.handed
    assert all(not (srl_gym.ORACLE_INFO_KEYS & set(info)) for info in attacker.handed)
    assert not attacked.privileged
    random_result = evaluate(RandomAgent(seed=5), env_id, **options)
    assert random_result.privileged
    if interface == "discrete":  # the same draws as RandomAgent: the same episodes, move for move
        assert attacked.episodes == random_result.episodes
    else:  # a junk step every time: never better than random legal steps
        assert attacked.success_rate == 0.0 <= random_result.success_rate
    expert = evaluate(ExpertAgent(), env_id, **options)  # the reference still gets the oracle
    assert expert.success_rate == 1.0 and expert.privileged


def test_a_plain_function_agent_gets_the_safe_info_too():
    handed = []

    def agent(observation, info):
        handed.append(set(info))
        return "Move disk 1 from A to B"

    evaluate(agent, "srl/Hanoi-v0", episodes=2, max_steps=3)
    assert handed and not any(srl_gym.ORACLE_INFO_KEYS & keys for keys in handed)
    assert {"step_similarity", "valid", "steps_taken"} <= handed[0]


def test_only_a_privileged_agent_is_bound_and_sees_the_oracle():
    class Declared(Attacker):
        privileged = True

    agent = Declared()
    result = evaluate(agent, "srl/Hanoi-v0", episodes=3, split="test")
    assert agent.bound and agent.found > 0 and result.success_rate == 1.0 and result.privileged
    for not_true in (1, "yes", False):  # only the literal True counts
        cheat = type("Cheat", (Attacker,), {"privileged": not_true})()
        evaluate(cheat, "srl/Hanoi-v0", episodes=2, split="test")
        assert cheat.found == 0 and not cheat.bound


def test_the_state_recorder_keeps_the_oracle_from_the_agent_it_wraps():
    from srl_gym.agents.srl_onpolicy import StateRecorder

    inner = Attacker()
    recorder = StateRecorder(inner)
    evaluate(recorder, "srl/Hanoi-v0", episodes=3, split="train", batch_size=3, max_steps=4)
    assert recorder.states and all(s["expert_step"] for s in recorder.states.values())  # the trainer's labels
    assert inner.found == 0 and not inner.bound


def _config(**fields):
    base = {"train_difficulty": 0, "eval_problems": 12, "eval_samples": 2, "validation_start": 5000,
            "validation_problems": 8, "eval_step_instances": 8, "eval_batch_size": 4, "max_length": 2048,
            "max_new_tokens_cap": 64}  # fmt: skip
    return types.SimpleNamespace(**(base | fields))


@pytest.mark.parametrize("env_id", ["srl/Hanoi-v0", "srl/BlocksWorld-v0"])
def test_an_attacker_in_the_comparisons_discrete_evaluation_scores_like_the_random_policy(env_id, monkeypatch):
    from srl_gym.agents import discrete_eval, sb3_common
    from srl_gym.agents.random_policy import RANDOM

    class OneAtATime(Attacker):
        act_batch = None  # played one episode at a time, as the random policy is: the same order of draws

    attackers: list[Attacker] = []

    def make_attacker(model, deterministic=True):  # the random policy's greedy seed: derived_seed(seed, 1)
        attackers.append(OneAtATime(seed=discrete_eval.derived_seed(0, 1)))
        return attackers[-1]

    loader = types.SimpleNamespace(load=lambda path, device: object())
    monkeypatch.setattr(sb3_common, "SB3Agent", make_attacker)
    monkeypatch.setattr(sb3_common, "model_class", lambda masked: loader)
    config = _config()
    attacked = discrete_eval.evaluate("policy.zip", env_id, 0, config, seed=0, full=False)
    assert attackers and all(a.found == 0 and not a.bound for a in attackers)
    random_policy = discrete_eval.evaluate(RANDOM, env_id, 0, config, seed=0, full=False)
    assert attacked == random_policy


def test_an_attacker_in_the_comparisons_lm_evaluation_finds_nothing(monkeypatch):
    from srl_gym.agents import lm_agent, lm_eval

    attackers: list[Attacker] = []

    def make_attacker(*args, **kwargs):
        attackers.append(Attacker())
        return attackers[-1]

    monkeypatch.setattr(lm_agent, "LMAgent", make_attacker)
    monkeypatch.setattr(lm_eval, "token_budget", lambda tokenizer, texts, cap: cap)
    for env_id in ("srl/Hanoi-v0", "srl/LongMultiplication-v0"):
        out = lm_eval._greedy_metrics(None, None, env_id, 0, "test", range(8), _config(), steps=False)
        assert out["agent_success"] == 0.0  # it found nothing to play
    assert attackers and all(a.found == 0 and not a.bound for a in attackers)
    assert any(a.handed for a in attackers)


def test_the_trainers_agent_evaluation_hands_no_oracle(monkeypatch):
    """The LM trainers' held-out evaluation (`lm_common`) plays `srl_gym.evaluate` with its `LMAgent`."""
    from srl_gym.agents import lm_agent, lm_common

    attackers: list[Attacker] = []

    def make_attacker(*args, **kwargs):
        attackers.append(Attacker())
        return attackers[-1]

    monkeypatch.setattr(lm_agent, "LMAgent", make_attacker)
    args = types.SimpleNamespace(env_id="srl/Hanoi-v0", eval_episodes=4, max_new_tokens=8, max_length=None,
                                 difficulty=0, expert_noise=0.0, trajectories_path=None)  # fmt: skip
    monkeypatch.setattr(lm_common, "env_options", lambda a: {"difficulty": 0})
    evaluate_model = lm_common.evaluate_lm_run(args, None, ("agent",))
    out = evaluate_model(None)
    assert out["agent_success"] == 0.0 and attackers[0].handed and attackers[0].found == 0
