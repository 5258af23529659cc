"""`srl_gym.datasets` and the TRL-style reward functions: columns, formats, the verifier behind rewards, errors."""

from __future__ import annotations

import pytest

pytest.importorskip("datasets")

from srl_gym.datasets import solution_dataset, step_dataset  # noqa: E402
from srl_gym.episodes import solution_examples, step_instances  # noqa: E402
from srl_gym.rewards import FORMAT_PENALTY, outcome_reward_func, srl_reward_func  # noqa: E402


class ChatTokenizer:
    """Stands in for an instruct model's tokenizer: all the datasets look at is its chat template."""

    chat_template = "{{ messages }}"


def test_step_dataset_rows_are_the_envs_step_instances():
    data = step_dataset("srl/Hanoi-v0", 3, difficulty=1)
    instances = step_instances("srl/Hanoi-v0", range(3), difficulty=1)
    assert len(data) == len(instances) > 3
    for row, inst in zip(data, instances, strict=True):
        assert row["expert_step"] == inst.expert_step and row["observation"] == inst.observation
        assert row["prompt"].startswith("Think inside <think>...</think>, then write only the next step.")
        assert row["prompt"].endswith(inst.observation + "\n\n")
        assert row["completion"] == "<think></think> " + inst.expert_step
        assert (row["env_id"], row["split"], row["difficulty"], row["seed"]) == ("srl/Hanoi-v0", "train", 1, inst.seed)
        assert row["step_index"] == inst.index
    # the SRL reward of the expert's own step is 1, of the SFT target (think + step) too
    assert srl_reward_func(data["completion"], **{k: data[k] for k in ("expert_step",)}) == [1.0] * len(data)


def test_solution_dataset_and_outcome_reward_run_the_tasks_verifier():
    for env_id in ("srl/Hanoi-v0", "srl/Arithmetic-v0", "srl/KnightsKnaves-v0"):
        data = solution_dataset(env_id, 4, split="test", difficulty=0)
        columns = {k: data[k] for k in data.column_names if k != "completion"}
        assert outcome_reward_func(data["completion"], **columns) == [1.0] * len(data)
        assert outcome_reward_func(["<think></think>\nStep 1: nonsense"] * len(data), **columns) == [0.0] * len(data)
        cut = [c.rsplit("\n", 1)[0] for c in data["completion"]]  # the last step missing
        assert outcome_reward_func(cut, **columns) == [0.0] * len(data)
    examples = solution_examples("srl/Hanoi-v0", range(4), split="test")
    assert [list(e.steps) for e in examples] == solution_dataset("srl/Hanoi-v0", 4, split="test")["expert_steps"]


def test_chat_tokenizers_get_trls_conversational_format():
    data = step_dataset("srl/Hanoi-v0", 1, tokenizer=ChatTokenizer())
    prompt, completion = data[0]["prompt"], data[0]["completion"]
    assert prompt == [{"role": "user", "content": prompt[0]["content"]}] and "next step" in prompt[0]["content"]
    assert completion == [{"role": "assistant", "content": "<think></think> " + data[0]["expert_step"]}]
    rewards = srl_reward_func([completion, [{"role": "assistant", "content": "no think"}]], expert_step=[
        data[0]["expert_step"]] * 2)  # fmt: skip
    assert rewards == [1.0, FORMAT_PENALTY]
    whole = solution_dataset("srl/Hanoi-v0", 2, tokenizer=ChatTokenizer())
    columns = {k: whole[k] for k in whole.column_names if k != "completion"}
    assert outcome_reward_func(whole["completion"], **columns) == [1.0, 1.0]


def test_trajectory_files_travel_in_env_kwargs(tmp_path):
    import json

    path = tmp_path / "t.jsonl"
    rows = [{"problem": f"What is {i}+1?", "steps": [f"{i}+1 = {i + 1}", f"Answer: {i + 1}"], "answer": str(i + 1)}
            for i in range(30)]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = solution_dataset("srl/Trajectories-v0", 30, path=str(path))
    assert json.loads(data[0]["env_kwargs"]) == {"path": str(path)}
    columns = {k: data[k] for k in data.column_names if k != "completion"}
    assert outcome_reward_func(data["completion"], **columns) == [1.0] * len(data)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: step_dataset("srl/Hanoi-v0", 0), "num_problems must be an integer >= 1"),
        (lambda: solution_dataset("srl/Hanoi-v0", 2, difficulty=7), "difficulty 7 is not a level.*allowed: 0:"),
        (lambda: step_dataset("srl/Hanoi-v0", 2, split="valid"), "split must be one of"),
        (lambda: step_dataset("CartPole-v1", 2), "no expert trajectories"),
        (lambda: solution_dataset("srl/Nope-v0", 2), "unknown env id"),
    ],
)
def test_bad_requests_name_what_is_allowed(call, message):
    with pytest.raises(ValueError, match=message):
        call()
