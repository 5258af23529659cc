"""On-policy SRL (`srl_gym.agents.srl_onpolicy`): the oracle's step on the agent's own states, mix, rounds, budget."""

from __future__ import annotations

import json
import random

import pytest

import srl_gym.evaluation
from srl_gym.agents import srl, srl_onpolicy
from srl_gym.agents.models import load_model
from srl_gym.algorithms import get_algorithm
from srl_gym.datasets import format_prompt
from srl_gym.envs.planning.hanoi import Hanoi
from srl_gym.episodes import make_text_env, step_instances

LONGMUL = {"model": "tiny-longmul", "env_id": "srl/LongMultiplication-v0", "difficulty": 1}
TINY_RUN = LONGMUL | {
    "total_updates": 2, "prompts_per_update": 2, "group_size": 2, "train_seeds": 6, "max_new_tokens": 40,
    "eval_episodes": 2, "eval_before": False, "eval_after": False, "progress": False, "tensorboard": False,
    "save_training_state": False, "checkpoint_every": 1, "device": "cpu",
}  # fmt: skip


class RandomLegalMoves:
    """Plays a random legal Hanoi move (often not the expert's) and notes the env's true state at each call.

    It reads the env, so it says it is privileged (`srl_gym.evaluate` binds no other agent)."""

    privileged = True

    def __init__(self) -> None:
        self.rng, self.env, self.seen = random.Random(0), None, []

    def bind(self, env):
        self.env = env.unwrapped

    def act_batch(self, observations, infos):
        task, state = self.env.task, self.env.state
        self.seen.append((observations[0], state))
        legal = [m for m, ok in zip(task.move_set(), task.legal_mask(state), strict=True) if ok]
        return [task.format_step(state, self.rng.choice(legal))]


def test_the_recorder_keeps_the_oracles_step_from_every_state_the_agent_reaches():
    agent = RandomLegalMoves()
    recorder = srl_onpolicy.StateRecorder(agent)
    srl_gym.evaluation.evaluate(recorder, "srl/Hanoi-v0", 6, 0, split="train", batch_size=1)
    task = Hanoi(difficulty=0)
    expert_path = set()
    for seed in range(6):  # the states on the expert's own trajectories
        env = make_text_env("srl/Hanoi-v0")
        env.reset(seed=seed)
        state = env.state
        while not task.is_terminal(state):
            expert_path.add(state)
            state = task.apply(state, task.expert_action(state))
    off_path = 0
    for observation, state in agent.seen:
        record = recorder.states[observation]  # every state asked about is recorded, once per observation
        assert record["expert_step"] == task.format_step(state, task.expert_action(state))
        off_path += state not in expert_path
    assert off_path > 10  # the random player left the expert's path, and the oracle answered there
    assert len(recorder.states) == len({o for o, _ in agent.seen})


def test_round_updates_split_the_budget():
    assert srl_onpolicy.round_updates(6, 2) == [3, 3]
    assert srl_onpolicy.round_updates(7, 3) == [2, 2, 3]
    assert sum(srl_onpolicy.round_updates(20, 6)) == 20


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"mix": -0.1}, "mix must be in \\[0, 1\\]"),
        ({"mix": 1.5}, "mix must be in \\[0, 1\\]"),
        ({"rounds": 0}, "rounds and rollout_problems must be >= 1"),
        ({"rounds": 3, "total_updates": 2}, "must not exceed total_updates"),
        ({"env_id": "srl/Trajectories-v0", "difficulty": 0}, "cannot say what the expert would do"),
        ({"rollout_temperature": -1.0}, "rollout_temperature must be >= 0"),
    ],
)
def test_bad_settings_are_refused_before_training(change, message, tmp_path):
    args = srl_onpolicy.Args(**(TINY_RUN | {"run_dir": str(tmp_path / "run")} | change))
    with pytest.raises(ValueError, match=message):
        srl_onpolicy.train(args)
    assert not (tmp_path / "run").exists()


def test_a_replayed_dataset_is_fine_for_plain_srl():
    srl_onpolicy.Args(**(TINY_RUN | {"env_id": "srl/Trajectories-v0", "difficulty": 0, "mix": 0.0})).validate()


def test_the_mix_sets_the_share_of_the_models_own_states():
    _, tokenizer = load_model("tiny-longmul", "cpu")
    args = srl_onpolicy.Args(**(TINY_RUN | {"mix": 0.25}))
    states = [{"observation": f"obs {i}", "expert_step": f"step {i}", "seed": i, "step_index": 0} for i in range(3)]
    rows = srl_onpolicy.mixed_rows(args, tokenizer, states, 0)
    expert = srl.task_rows(args, tokenizer, "step")
    sources = rows["source"]
    assert len(rows) == len(expert) and sources.count("onpolicy") == round(0.25 * len(expert))
    onpolicy = [r for r in rows if r["source"] == "onpolicy"]
    assert {r["expert_step"] for r in onpolicy} <= {s["expert_step"] for s in states}
    assert all(r["prompt"] == format_prompt(r["observation"], "step", tokenizer) for r in onpolicy)
    kept = [r["expert_step"] for r in rows if r["source"] == "expert"]
    assert len(set(zip(kept, [r["observation"] for r in rows if r["source"] == "expert"], strict=True))) == len(kept)
    # the same round and seed draw the same rows
    assert srl_onpolicy.mixed_rows(args, tokenizer, states, 0).to_list() == rows.to_list()


def test_it_is_registered_for_train_and_compare():
    spec = get_algorithm("srl-onpolicy")
    assert spec.kind == "lm" and spec.load() is srl_onpolicy


@pytest.mark.slow
def test_mix_zero_is_plain_srl(tmp_path):
    import torch

    plain = srl.train(srl.Args(**(TINY_RUN | {"run_dir": str(tmp_path / "srl")})))
    same = srl_onpolicy.train(srl_onpolicy.Args(**(TINY_RUN | {"run_dir": str(tmp_path / "onp"), "mix": 0.0})))
    a, _ = load_model(plain.model_dir, "cpu")
    b, _ = load_model(same.model_dir, "cpu")
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(x, y), name
    assert not (tmp_path / "onp" / "rollouts").exists()  # no play at mix 0


@pytest.mark.slow
def test_two_rounds_play_then_train_and_count_the_play_in_the_budget(tmp_path, monkeypatch):
    args = srl_onpolicy.Args(**(TINY_RUN | {"run_dir": str(tmp_path / "run"), "rounds": 2, "rollout_problems": 3}))
    result = srl_onpolicy.train(args)
    assert [c.budget["updates"] for c in result.checkpoints] == [1.0, 2.0]
    records = [json.loads((tmp_path / "run" / "rollouts" / f"round-{k}.json").read_text()) for k in (0, 1)]
    assert records[0]["model"] == "tiny-longmul" and records[1]["model"] == result.checkpoints[0].path
    assert records[0]["seeds"] == [0, 3] and records[1]["seeds"] == [3, 6]
    for record in records:
        assert record["rollout_tokens"] > 0 and record["states"]
        assert all(s["expert_step"] and 0 <= s["seed"] < 6 for s in record["states"])
    final = result.checkpoints[-1].budget
    assert final["rollout_tokens"] == records[0]["rollout_tokens"] + records[1]["rollout_tokens"]
    assert final["generated_tokens"] > final["rollout_tokens"]  # the play's tokens and GRPO's
    assert result.checkpoints[1].budget["generated_tokens"] > result.checkpoints[0].budget["generated_tokens"]

    # --resume true neither replays nor retrains a finished round
    monkeypatch.setattr(srl_onpolicy, "play", lambda *a: pytest.fail("played again"))
    monkeypatch.setattr(srl_onpolicy, "train_grpo", lambda *a, **k: pytest.fail("trained again"))
    again = srl_onpolicy.train(srl_onpolicy.Args(**(vars(args) | {"resume": True})))
    assert again.checkpoints == result.checkpoints


@pytest.mark.slow
def test_srl_onpolicy_raises_held_out_step_similarity_on_a_level_its_base_never_saw(tmp_path):
    """tiny-hanoi (warmed up on 3 and 4 disks) at 5 disks: the play leaves the expert's path, the oracle labels
    those states, and the held-out greedy steps get closer to the expert's."""
    args = srl_onpolicy.Args(
        run_dir=str(tmp_path / "run"), model="tiny-hanoi", env_id="srl/Hanoi-v0", difficulty=2, total_updates=16,
        prompts_per_update=8, learning_rate=2e-4, train_seeds=64, eval_episodes=40, max_new_tokens=24, mix=0.5,
        rounds=2, rollout_problems=16, checkpoint_every=0, progress=False, tensorboard=False,
        save_training_state=False, device="cpu",
    )  # fmt: skip
    result = srl_onpolicy.train(args)
    metrics = result.metrics
    # measured (40 test problems, greedy, teacher-forced): step similarity 0.936 -> 0.946, the expert's exact
    # step 0.382 -> 0.421; agent success stays near 0 (2.5% before) at this budget
    assert metrics["eval/step_similarity"] > metrics["round0/eval/step_similarity_before"] + 0.005
    assert metrics["eval/exact_match"] > metrics["round0/eval/exact_match_before"] + 0.02
    # the states it trained on include ones the expert's own trajectories never pass through
    record = json.loads((tmp_path / "run" / "rollouts" / "round-1.json").read_text())
    expert_path = {i.observation for i in step_instances("srl/Hanoi-v0", range(64), difficulty=2)}
    off_path = [s for s in record["states"] if s["observation"] not in expert_path]
    assert 10 < len(off_path) < len(record["states"])  # (each problem's first state is on it)
    assert all(s["expert_step"].startswith("Move disk ") for s in off_path)
    assert result.final.budget["rollout_tokens"] > 0
