"""Dynamic sampling on TRL's GRPOTrainer (srl_gym.agents.dynamic_sampling), with a tiny Llama on the CPU.

The reward makes some groups flat by construction: 1.0 for every completion of a prompt of kind
"flat", and the sum of the completion's character codes for kind "varied" (four sampled 8-character
completions of a random model practically never coincide; the tests check it before relying on it);
kind "nearly" varies by less than epsilon, so its group is dropped although TRL's advantages are not 0.
The reward function records every call, so the tests count by hand what the trainer should have done.
"""

from __future__ import annotations

import math
import os
import sys
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("trl")
datasets = pytest.importorskip("datasets")

from trl import GRPOConfig, GRPOTrainer  # noqa: E402

from srl_gym.agents.dynamic_sampling import (  # noqa: E402
    DynamicSamplingConfig,
    DynamicSamplingGRPOTrainer,
    group_reward_std,
    prompt_key,
    refill_prompt_count,
)
from srl_gym.agents.models import tiny_model  # noqa: E402

G = 4  # num_generations
GROUPS = 4  # prompts per generation batch: per_device_train_batch_size 8 x steps_per_generation 2 / G
EPS = 1e-4


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


class Recorder:
    """A reward function that records each call: one list of (prompt, completion ids, reward) per round."""

    __name__ = "recorded_reward"

    def __init__(self, group_size: int = G) -> None:
        self.group_size = group_size
        self.calls: list[list[tuple[str, list[int], float]]] = []
        self.steps: list[int] = []  # the trainer's global_step at each call

    def __call__(
        self, prompts: list[str], completions: list[str], completion_ids: list[list[int]], **kwargs: Any
    ) -> list[float]:
        rewards = [self.reward(kind, text) for kind, text in zip(kwargs["kind"], completions, strict=True)]
        self.calls.append(list(zip(prompts, [list(ids) for ids in completion_ids], rewards, strict=True)))
        self.steps.append(kwargs["trainer_state"].global_step)
        return rewards

    @staticmethod
    def reward(kind: str, text: str) -> float:
        if kind == "flat":
            return 1.0
        if kind == "nearly":  # std below epsilon but not 0: TRL's advantages are then small but not 0
            return 1.0 + 1e-5 * (sum(map(ord, text)) % 10)
        return float(sum(map(ord, text)))

    def groups(self, call: int) -> list[list[tuple[str, list[int], float]]]:
        rows, size = self.calls[call], self.group_size
        return [rows[i : i + size] for i in range(0, len(rows), size)]

    def all_groups(self) -> list[list[tuple[str, list[int], float]]]:
        return [group for call in range(len(self.calls)) for group in self.groups(call)]


def _std(group: list[tuple[str, list[int], float]]) -> float:
    return torch.tensor([r for _, _, r in group]).std().item()  # Bessel-corrected, as TRL's nanstd


def _dataset(flat: list[str], varied: list[str]) -> Any:
    return datasets.Dataset.from_dict(
        {"prompt": flat + varied, "kind": ["flat"] * len(flat) + ["varied"] * len(varied)}
    )


def _trainer(tmp_path: Any, dataset: Any, cls: type = DynamicSamplingGRPOTrainer, **overrides: Any):
    model, tokenizer = tiny_model(seed=0)
    options: dict[str, Any] = {
        "output_dir": str(tmp_path / "out"),
        "use_cpu": True,
        "report_to": [],
        "max_completion_length": 8,
        "per_device_train_batch_size": 8,
        "gradient_accumulation_steps": 2,  # steps_per_generation 2: a generation batch of 16 rows, 4 groups
        "num_generations": G,
        "save_strategy": "no",
        "bf16": False,
        "fp16": False,
        "logging_steps": 1,
        "seed": 0,
        "max_steps": 2,
        "learning_rate": 1e-3,
    }
    options.update(overrides)
    config_cls = DynamicSamplingConfig if cls is DynamicSamplingGRPOTrainer else GRPOConfig
    reward = Recorder()
    trainer = cls(
        model=model, reward_funcs=reward, args=config_cls(**options), train_dataset=dataset, processing_class=tokenizer
    )
    return trainer, reward, tokenizer


def _rows(dataset: Any, prompts: list[str]) -> list[dict[str, Any]]:
    """The sampler's batch for these prompts: each row repeated G times, as RepeatSampler yields it."""
    index = {p: i for i, p in enumerate(dataset["prompt"])}
    return [dict(dataset[index[p]]) for p in prompts for _ in range(G)]


def _generate(trainer: Any, rows: list[dict[str, Any]]) -> dict[str, Any]:
    trainer.model.train()
    trainer._metrics["train"].clear()
    return trainer._generate_and_score_completions(rows)


def _ds_metrics(trainer: Any) -> dict[str, list[float]]:
    return {k.split("/")[1]: v for k, v in trainer._metrics["train"].items() if k.startswith("dynamic_sampling/")}


def _check_batch(output: dict[str, Any], groups: list[list[tuple[str, list[int], float]]], tokenizer: Any) -> None:
    """``output`` holds exactly these groups' rows, in order, padded as TRL pads, with TRL's group advantages."""
    rows = [row for group in groups for row in group]
    assert output["prompt_ids"].shape[0] == len(rows) == output["completion_ids"].shape[0]
    prompts = tokenizer.batch_decode(output["prompt_ids"], skip_special_tokens=True)
    assert prompts == [p for p, _, _ in rows]
    width = output["prompt_ids"].shape[1]
    for i, (prompt, ids, _) in enumerate(rows):
        n = len(prompt)  # one token per character, left-padded
        assert output["prompt_mask"][i].tolist() == [0] * (width - n) + [1] * n
        assert output["completion_ids"][i, : len(ids)].tolist() == ids
        padding = output["completion_mask"].shape[1] - len(ids)
        assert output["completion_mask"][i].tolist() == [1] * len(ids) + [0] * padding
    expected = []
    for group in groups:
        rewards = torch.tensor([r for _, _, r in group])
        expected.append((rewards - rewards.mean()) / (rewards.std() + 1e-4))
    assert torch.allclose(output["advantages"], torch.cat(expected), atol=1e-5)
    assert int(output["num_items_in_batch"]) == sum(len(ids) for _, ids, _ in rows)


# ---------------------------------------------------------------------- helpers and config
def test_config_fields_and_validation(tmp_path):
    config = DynamicSamplingConfig(output_dir=str(tmp_path), use_cpu=True, report_to=[], num_generations=G)
    assert (config.dynamic_sampling, config.std_epsilon, config.max_sampling_rounds) == (True, 1e-4, 4)
    with pytest.raises(ValueError, match="max_sampling_rounds"):
        DynamicSamplingConfig(output_dir=str(tmp_path), max_sampling_rounds=0)
    with pytest.raises(ValueError, match="std_epsilon"):
        DynamicSamplingConfig(output_dir=str(tmp_path), std_epsilon=-1e-3)
    with pytest.raises(ValueError, match="std_epsilon"):
        DynamicSamplingConfig(output_dir=str(tmp_path), std_epsilon=float("nan"))


def test_group_reward_std_is_trls_weighted_nanstd():
    nan = float("nan")
    groups = [
        [[1.0, 0.0]] * 4,  # flat: std 0
        [[0.0, 1.0], [1.0, 1.0], [2.0, 1.0], [3.0, 1.0]],  # weighted: 0.5 * [0, 1, 2, 3] + 2
        [[nan, nan], [1.0, nan], [3.0, 0.0], [5.0, 0.0]],  # an unscorable row is ignored; NaN nansums to 0
        [[nan, nan], [nan, nan], [nan, nan], [2.0, 2.0]],  # one scorable row: std NaN, never kept
    ]
    rewards = torch.tensor([row for group in groups for row in group])
    std = group_reward_std(rewards, torch.tensor([0.5, 2.0]), G)
    assert std[0].item() == 0.0
    assert std[1].item() == pytest.approx(0.5 * torch.tensor([0.0, 1.0, 2.0, 3.0]).std().item())
    assert std[2].item() == pytest.approx(0.5 * torch.tensor([1.0, 3.0, 5.0]).std().item())
    assert math.isnan(std[3].item()) and not bool(std[3] > EPS)


def test_refill_prompt_count_splits_evenly_over_processes():
    assert refill_prompt_count(2, 4, 1, 10) == 2
    assert refill_prompt_count(5, 4, 1, 3) == 3  # fewer untried than missing: all of them
    assert refill_prompt_count(1, 3, 2, 10) == 2  # 1 x 3 rows do not split over 2 processes: round up
    assert refill_prompt_count(3, 3, 2, 3) == 2  # ... and down when the untried prompts run out
    assert refill_prompt_count(1, 3, 2, 1) == 0
    assert refill_prompt_count(3, 4, 8, 100) == 4  # 4 x 4 rows = 16 over 8 processes
    assert refill_prompt_count(0, 4, 1, 10) == 0


def test_prompt_key_is_stable_and_falls_back_to_the_row():
    assert prompt_key({"prompt": "a", "kind": "x"}) == prompt_key({"prompt": "a", "kind": "y"})
    chat = [{"role": "user", "content": "hi"}]
    assert prompt_key({"prompt": chat}) == prompt_key({"prompt": [{"content": "hi", "role": "user"}]})
    assert prompt_key({"question": "q"}) != prompt_key({"question": "r"})


# ---------------------------------------------------------------------- the rounds
def test_flat_groups_are_dropped_and_refilled_from_untried_prompts(tmp_path):
    flat, varied = ["f0: ", "flat 1: "], ["v0: ", "vary 1: ", "varied 2: ", "varied prompt 3: "]
    dataset = _dataset(flat, varied)
    trainer, reward, tokenizer = _trainer(tmp_path, dataset)
    output = _generate(trainer, _rows(dataset, ["f0: ", "flat 1: ", "v0: ", "vary 1: "]))

    # Round 0 is the sampler's batch; the only untried prompts are the two other varied ones.
    assert len(reward.calls) == 2
    assert [g[0][0] for g in reward.groups(0)] == ["f0: ", "flat 1: ", "v0: ", "vary 1: "]
    refill = reward.groups(1)
    assert sorted(g[0][0] for g in refill) == ["varied 2: ", "varied prompt 3: "]
    assert all(_std(g) > EPS for g in reward.groups(0)[2:] + refill)  # the varied groups do vary
    # The batch: round 0's two varied groups, then the refill's, full again.
    _check_batch(output, reward.groups(0)[2:] + refill, tokenizer)
    assert _ds_metrics(trainer) == {
        "kept_fraction": [4 / 6],
        "rounds": [2.0],
        "kept_groups": [4.0],
        "sampled_groups": [6.0],
        "empty_batch": [0.0],
        "filler_groups": [0.0],
    }
    assert (trainer.sampled_groups, trainer.kept_groups, trainer.informative_updates, trainer.empty_updates) == (
        6,
        4,
        1,
        0,
    )
    # generated_tokens: every round's completions, the dropped flat ones included.
    assert trainer.generated_tokens == sum(len(ids) for call in reward.calls for _, ids, _ in call)


def test_refills_never_redraw_a_prompt_tried_in_the_same_step(tmp_path):
    flat = [f"flat {i}: " for i in range(14)]
    varied = ["v a: ", "v b: "]
    dataset = _dataset(flat, varied)
    trainer, reward, tokenizer = _trainer(tmp_path, dataset, max_sampling_rounds=6)
    first = ["flat 0: ", "flat 1: ", "flat 2: ", "flat 3: "]
    output = _generate(trainer, _rows(dataset, first))

    tried: set[str] = set()
    informative = 0
    for call in range(len(reward.calls)):
        groups = reward.groups(call)
        prompts = [g[0][0] for g in groups]
        assert all({p for p, _, _ in g} == {g[0][0]} for g in groups)  # each prompt repeated G times, contiguous
        assert len(set(prompts)) == len(prompts) and not tried & set(prompts)  # distinct, never tried before
        if call > 0:  # a refill draws exactly the missing number of groups (or what is left untried)
            assert len(prompts) == min(GROUPS - informative, len(flat) + len(varied) - len(tried))
        tried |= set(prompts)
        informative += sum(_std(g) > EPS for g in groups)
    assert [g[0][0] for g in reward.groups(0)] == first
    # Counted by hand from the recorded rounds: 16 prompts, 4 tried first, only 2 informative ones in the data.
    kept = [g for g in reward.all_groups() if _std(g) > EPS]
    assert len(kept) == 2 and {g[0][0] for g in kept} == set(varied)
    sampled = sum(len(reward.groups(c)) for c in range(len(reward.calls)))
    rounds = len(reward.calls)
    assert rounds == 6 or len(tried) == len(dataset)
    assert _ds_metrics(trainer) == {
        "kept_fraction": [2 / sampled],
        "rounds": [float(rounds)],
        "kept_groups": [2.0],
        "sampled_groups": [float(sampled)],
        "empty_batch": [0.0],
        "filler_groups": [0.0],
    }
    _check_batch(output, kept, tokenizer)  # a partial batch of the two informative groups

    # The draws depend only on (seed, step, round) and what was tried: the same step draws the same refill.
    first_refill = [g[0][0] for g in reward.groups(1)]
    reward.calls.clear()
    _generate(trainer, _rows(dataset, first))
    assert [g[0][0] for g in reward.groups(1)] == first_refill


def test_max_sampling_rounds_bounds_the_rounds_and_an_all_flat_batch_is_kept_with_zero_advantages(tmp_path):
    dataset = _dataset([f"flat {i}: " for i in range(20)], [])
    dataset = dataset.map(lambda row: {"kind": "nearly" if row["prompt"] == "flat 5: " else row["kind"]})
    trainer, reward, tokenizer = _trainer(tmp_path, dataset, max_sampling_rounds=3)
    first = ["flat 4: ", "flat 5: ", "flat 6: ", "flat 7: "]
    output = _generate(trainer, _rows(dataset, first))
    assert 0 < _std(reward.groups(0)[1]) <= EPS  # "flat 5: " is nearly flat: TRL gave it nonzero advantages

    assert len(reward.calls) == 3  # round 0 plus 2 refills of 4 prompts, though 12 untried prompts remain
    assert [len(reward.groups(c)) for c in range(3)] == [4, 4, 4]
    assert _ds_metrics(trainer) == {
        "kept_fraction": [0.0],
        "rounds": [3.0],
        "kept_groups": [0.0],
        "sampled_groups": [12.0],
        "empty_batch": [1.0],
        "filler_groups": [0.0],
    }
    # Nothing informative: round 0's batch as it was, every advantage exactly 0.
    prompts = tokenizer.batch_decode(output["prompt_ids"], skip_special_tokens=True)
    assert prompts == [p for p in first for _ in range(G)]
    assert torch.equal(output["advantages"], torch.zeros(GROUPS * G))
    assert int(output["num_items_in_batch"]) == sum(len(ids) for _, ids, _ in reward.calls[0])
    assert (trainer.informative_updates, trainer.empty_updates, trainer.kept_groups) == (0, 1, 0)

    # max_sampling_rounds=1: no refill at all.
    trainer1, reward1, _ = _trainer(tmp_path, dataset, max_sampling_rounds=1)
    _generate(trainer1, _rows(dataset, first))
    assert len(reward1.calls) == 1 and _ds_metrics(trainer1)["rounds"] == [1.0]


def test_sampling_stops_when_no_untried_prompt_is_left(tmp_path):
    dataset = _dataset([f"flat {i}: " for i in range(6)], [])
    trainer, reward, _ = _trainer(tmp_path, dataset)  # max_sampling_rounds 4
    _generate(trainer, _rows(dataset, ["flat 0: ", "flat 1: ", "flat 2: ", "flat 3: "]))
    assert [len(reward.groups(c)) for c in range(len(reward.calls))] == [4, 2]  # the 2 left, then nothing
    assert sorted(g[0][0] for g in reward.groups(1)) == ["flat 4: ", "flat 5: "]
    assert _ds_metrics(trainer)["rounds"] == [2.0] and _ds_metrics(trainer)["sampled_groups"] == [6.0]


def test_extra_refill_groups_are_discarded_at_assembly(tmp_path, monkeypatch):
    # With several processes a refill rounds its prompt count up; simulate that on one process.
    from srl_gym.agents import dynamic_sampling

    monkeypatch.setattr(
        dynamic_sampling, "refill_prompt_count", lambda missing, g, n, available: min(missing + 1, available)
    )
    flat, varied = ["f0: ", "f1: "], ["v0: ", "v1: ", "v2: ", "v3: ", "v4: "]
    dataset = _dataset(flat, varied)
    trainer, reward, tokenizer = _trainer(tmp_path, dataset)
    output = _generate(trainer, _rows(dataset, ["f0: ", "f1: ", "v0: ", "v1: "]))
    assert [len(reward.groups(c)) for c in range(len(reward.calls))] == [4, 3]
    assert all(_std(g) > EPS for g in reward.groups(1))
    _check_batch(output, reward.groups(0)[2:] + reward.groups(1)[:2], tokenizer)  # the third refill group is dropped
    assert _ds_metrics(trainer)["kept_groups"] == [4.0] and _ds_metrics(trainer)["sampled_groups"] == [7.0]
    assert trainer.kept_groups == 4


def test_a_partial_batch_is_aligned_with_the_micro_batches_by_zero_advantage_fillers(tmp_path):
    # G = 3 and steps_per_generation = 2: a batch must hold an even number of groups (3 rows per micro-batch).
    dataset = datasets.Dataset.from_dict(
        {"prompt": ["f0: ", "f1: ", "f2: ", "v0: "], "kind": ["nearly", "flat", "flat", "varied"]}
    )
    model, tokenizer = tiny_model(seed=0)
    reward = Recorder(group_size=3)
    config = DynamicSamplingConfig(
        output_dir=str(tmp_path / "out"), use_cpu=True, report_to=[], max_completion_length=8, num_generations=3,
        per_device_train_batch_size=3, gradient_accumulation_steps=2, max_sampling_rounds=2, seed=0, max_steps=1,
        save_strategy="no", bf16=False, fp16=False, logging_steps=1,
    )  # fmt: skip
    trainer = DynamicSamplingGRPOTrainer(
        model=model, reward_funcs=reward, args=config, train_dataset=dataset, processing_class=tokenizer
    )
    trainer.model.train()
    rows = [dict(dataset[i]) for i in (0, 1) for _ in range(3)]
    output = trainer._generate_and_score_completions(rows)
    assert sorted(g[0][0] for g in reward.groups(1)[:2]) == ["f2: ", "v0: "]  # round 1: the two untried prompts
    informative = [g for g in reward.groups(1) if g[0][0] == "v0: "]
    filler = reward.groups(0)[0]  # the first dropped group of round 0
    assert 0 < _std(filler) <= EPS  # nearly flat: TRL's advantages are not 0, the filler's are
    prompts = tokenizer.batch_decode(output["prompt_ids"], skip_special_tokens=True)
    assert prompts == ["v0: "] * 3 + ["f0: "] * 3
    rewards = torch.tensor([r for _, _, r in informative[0]])
    expected = torch.cat([(rewards - rewards.mean()) / (rewards.std() + 1e-4), torch.zeros(3)])
    assert torch.allclose(output["advantages"], expected, atol=1e-5)
    for i, (_, ids, _) in enumerate(informative[0] + filler):
        assert output["completion_ids"][i, : len(ids)].tolist() == ids
    metrics = _ds_metrics(trainer)
    assert metrics["kept_groups"] == [1.0] and metrics["filler_groups"] == [1.0] and metrics["sampled_groups"] == [4.0]
    assert metrics["kept_fraction"] == [0.25] and metrics["empty_batch"] == [0.0]


def test_an_all_flat_training_step_still_runs(tmp_path):
    dataset = _dataset([f"flat {i}: " for i in range(16)], [])
    trainer, reward, _ = _trainer(tmp_path, dataset, max_steps=1, max_sampling_rounds=2)
    trainer.train()
    logged = trainer.state.log_history[0]
    assert logged["dynamic_sampling/empty_batch"] == 1.0 and logged["dynamic_sampling/kept_groups"] == 0.0
    assert logged["loss"] == 0.0  # zero advantages and beta 0: no policy gradient
    assert (trainer.empty_updates, trainer.informative_updates, trainer.generation_batches) == (1, 0, 1)
    assert len(reward.calls) == 2
    assert trainer.trained_tokens == 0 and trainer.generated_tokens > 0  # sampled, never trained on


def test_an_update_without_an_informative_group_takes_no_optimizer_step(tmp_path):
    """Weights and Adam's state stay exactly as they were: not a zero-gradient step (momentum would move them)."""
    varied = _dataset([], [f"vary {i}: " for i in range(16)])
    trainer, _, _ = _trainer(tmp_path, varied, max_steps=1)
    trainer.train()  # one informative update: Adam now has momentum
    assert trainer.informative_updates == 1
    optimizer = getattr(trainer.optimizer, "optimizer", trainer.optimizer)  # the torch optimizer inside accelerate's
    for group in optimizer.param_groups:
        group["lr"] = 1e-3  # the schedule ended at 0
    before = [p.detach().clone() for p in trainer.model.parameters()]
    state = {k: v["exp_avg"].clone() for k, v in enumerate(optimizer.state.values())}
    trainer._empty_batch = True
    for p in trainer.model.parameters():
        p.grad = torch.zeros_like(p)  # what a zero-advantage backward leaves
    optimizer.step()
    assert all(torch.equal(a, b) for a, b in zip(before, trainer.model.parameters(), strict=True))
    assert all(torch.equal(state[k], v["exp_avg"]) for k, v in enumerate(optimizer.state.values()))
    trainer._empty_batch = False
    for p in trainer.model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()  # an ordinary step with zero gradients: the momentum moves the weights
    assert not all(torch.equal(a, b) for a, b in zip(before, trainer.model.parameters(), strict=True))


def test_text_only_and_map_style_datasets_are_required(tmp_path):
    dataset = _dataset(["f: "], ["v: "])
    trainer, _, _ = _trainer(tmp_path, dataset)
    rows = [{**row, "image": None} for row in _rows(dataset, ["f: "])]
    with pytest.raises(NotImplementedError, match="text"):
        _generate(trainer, rows)
    with pytest.raises(NotImplementedError, match="IterableDataset"):
        _trainer(tmp_path, dataset.to_iterable_dataset())


# ---------------------------------------------------------------------- against TRL
def test_dynamic_sampling_off_is_trls_grpo_trainer(tmp_path):
    dataset = _dataset([f"flat {i}: " for i in range(8)], [f"vary {i}: " for i in range(8)])
    # One after the other: TRL seeds the global RNG when a trainer is built, and generation draws from it.
    ours, our_reward, _ = _trainer(tmp_path, dataset, dynamic_sampling=False)
    ours.train()
    theirs, their_reward, _ = _trainer(tmp_path, dataset, cls=GRPOTrainer)
    theirs.train()
    # One round per generation batch, the sampler's prompts, the same completions and the same weights.
    assert len(our_reward.calls) == len(their_reward.calls) == 2
    assert our_reward.calls == their_reward.calls
    for (name, a), (_, b) in zip(ours.model.named_parameters(), theirs.model.named_parameters(), strict=True):
        assert torch.equal(a, b), name
    assert [h.get("loss") for h in ours.state.log_history] == [h.get("loss") for h in theirs.state.log_history]
    assert not any(k.startswith("dynamic_sampling/") for h in ours.state.log_history for k in h)
    # The running totals are still kept.
    assert ours.generated_tokens == sum(len(ids) for call in our_reward.calls for _, ids, _ in call)
    assert ours.sampled_groups == 2 * GROUPS and ours.generation_batches == 2
    assert ours.kept_groups == sum(_std(g) > EPS for g in our_reward.all_groups())

    # A direct call: the sampler's batch comes back whole, flat groups included; eval is TRL's too.
    rows = _rows(dataset, ["flat 0: ", "flat 1: ", "vary 0: ", "vary 1: "])
    our_reward.calls.clear()
    assert _generate(ours, rows)["prompt_ids"].shape[0] == GROUPS * G and len(our_reward.calls) == 1
    on, _, _ = _trainer(tmp_path, dataset)
    on.model.eval()
    on_reward = on.reward_funcs[0]
    assert on._generate_and_score_completions(rows)["prompt_ids"].shape[0] == GROUPS * G
    assert len(on_reward.calls) == 1 and not _ds_metrics(on) and on.generated_tokens == 0


def test_short_training_run_end_to_end(tmp_path):
    dataset = _dataset([f"flat {i}: " for i in range(8)], [f"vary {i}: " for i in range(8)])
    trainer, reward, _ = _trainer(tmp_path, dataset, max_steps=2)
    trainer.train()
    logs = [h for h in trainer.state.log_history if "loss" in h]
    assert len(logs) == 2 and all(math.isfinite(h["loss"]) for h in logs)
    for key in ("kept_fraction", "rounds", "kept_groups", "sampled_groups", "empty_batch"):
        assert all(f"dynamic_sampling/{key}" in h for h in logs), key
    # One generation batch per optimizer step here (steps_per_generation == gradient_accumulation_steps):
    # count each step's rounds, sampled and kept groups by hand from the recorded calls.
    assert trainer.generation_batches == 2 and sorted(set(reward.steps)) == [0, 1]
    for step, logged in enumerate(logs):
        calls = [c for c, s in enumerate(reward.steps) if s == step]
        groups = [g for c in calls for g in reward.groups(c)]
        kept = min(GROUPS, sum(_std(g) > EPS for g in groups))
        assert logged["dynamic_sampling/rounds"] == len(calls) <= 4
        assert logged["dynamic_sampling/sampled_groups"] == len(groups)
        assert logged["dynamic_sampling/kept_groups"] == kept
        assert logged["dynamic_sampling/kept_fraction"] == pytest.approx(kept / len(groups))
        assert logged["dynamic_sampling/empty_batch"] == float(kept == 0)
        assert len(calls) == 1 or kept == GROUPS or len(calls) == 4  # refills stop once the batch is full
    assert trainer.sampled_groups == len(reward.all_groups())
    assert trainer.kept_groups == sum(h["dynamic_sampling/kept_groups"] for h in logs)
    assert trainer.informative_updates + trainer.empty_updates == 2
    assert trainer.generated_tokens == sum(len(ids) for call in reward.calls for _, ids, _ in call)


# ---------------------------------------------------------------------- two processes (gloo on the CPU)
DDP_G, DDP_PER_DEVICE = 4, 3  # 2 processes x 3 rows x 2 steps = 12 rows = 3 groups: group 1 straddles the processes


def _ddp_worker(out_dir: str) -> None:
    """Run by `test_two_processes_agree` under torch.distributed.run: train 3 steps, dump what each process saw."""
    import json
    from pathlib import Path

    torch.set_num_threads(1)
    flat, varied = [f"flat {i}: " for i in range(10)], [f"vary {i}: " for i in range(5)]
    dataset = _dataset(flat, varied)
    model, tokenizer = tiny_model(seed=0)
    reward = Recorder(group_size=DDP_G)
    config = DynamicSamplingConfig(
        output_dir=str(Path(out_dir) / "out"), use_cpu=True, report_to=[], max_completion_length=8,
        num_generations=DDP_G, per_device_train_batch_size=DDP_PER_DEVICE, gradient_accumulation_steps=2,
        max_steps=3, seed=0, save_strategy="no", bf16=False, fp16=False, logging_steps=1, loss_type="dapo",
    )  # fmt: skip
    batches: list[dict[str, Any]] = []

    class Recording(DynamicSamplingGRPOTrainer):
        def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
            first_call = len(reward.calls)
            output = super()._generate_and_score_completions(inputs)
            batches.append(
                {
                    "calls": list(range(first_call, len(reward.calls))),
                    "prompts": tokenizer.batch_decode(output["prompt_ids"], skip_special_tokens=True),
                    "advantages": output["advantages"].tolist(),
                    "num_items": int(output["num_items_in_batch"]),
                    "local_items": int(output["completion_mask"].sum()),
                }
            )
            return output

    trainer = Recording(
        model=model, reward_funcs=reward, args=config, train_dataset=dataset, processing_class=tokenizer
    )
    trainer.train()
    totals = [trainer.generated_tokens, trainer.sampled_groups, trainer.kept_groups, trainer.informative_updates]
    result = {
        "calls": reward.calls,
        "batches": batches,
        "totals": totals,
        "local_tokens": sum(len(ids) for call in reward.calls for _, ids, _ in call),
        "logs": [h for h in trainer.state.log_history if "loss" in h],
    }
    rank = trainer.accelerator.process_index
    (Path(out_dir) / f"rank{rank}.json").write_text(json.dumps(result))
    torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_two_processes_agree(tmp_path):
    import json
    import os
    import signal
    import subprocess

    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    command += [__file__, "--ddp-worker", str(tmp_path)]
    # A session of its own, so that a hang kills the launcher and both workers, not the launcher alone.
    with subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    ) as launcher:
        try:
            log, _ = launcher.communicate(timeout=240)
        except subprocess.TimeoutExpired:
            os.killpg(launcher.pid, signal.SIGKILL)
            log, _ = launcher.communicate()
            pytest.fail(f"the two processes did not finish in 240 s:\n{log[-3000:]}")
    assert launcher.returncode == 0, log[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    r0, r1 = ranks
    # Every process ran the same rounds (TRL's collectives would hang otherwise) and kept the same totals.
    assert len(r0["calls"]) == len(r1["calls"]) and len(r0["batches"]) == len(r1["batches"]) == 3
    assert r0["totals"] == r1["totals"]
    assert r0["totals"][0] == r0["local_tokens"] + r1["local_tokens"]  # generated_tokens sums both processes
    sampled = kept_total = 0
    for b0, b1 in zip(r0["batches"], r1["batches"], strict=True):
        assert b0["calls"] == b1["calls"]
        # A round's global rows are rank 0's then rank 1's: count its groups and the informative ones by hand.
        rounds = [r0["calls"][c] + r1["calls"][c] for c in b0["calls"]]
        groups = [rows[i : i + DDP_G] for rows in rounds for i in range(0, len(rows), DDP_G)]
        assert all(len({p for p, _, _ in g}) == 1 for g in groups)  # whole groups, even across the processes
        informative = [g for g in groups if torch.tensor([r for _, _, r in g]).std().item() > EPS][:3]
        sampled += len(groups)
        kept_total += len(informative)
        # The same number of rows on each process; together, the informative groups in order (or round 0).
        assert len(b0["prompts"]) == len(b1["prompts"])
        assert b0["num_items"] == b1["num_items"] == b0["local_items"] + b1["local_items"]
        prompts = b0["prompts"] + b1["prompts"]
        if informative:
            assert prompts == [g[0][0] for g in informative for _ in range(DDP_G)]
            advantages = []
            for g in informative:
                rewards = torch.tensor([r for _, _, r in g])
                advantages += ((rewards - rewards.mean()) / (rewards.std() + 1e-4)).tolist()
            assert b0["advantages"] + b1["advantages"] == pytest.approx(advantages, abs=1e-5)
        else:
            assert prompts == [p for p, _, _ in rounds[0]] and set(b0["advantages"] + b1["advantages"]) == {0.0}
    assert r0["totals"][1:3] == [sampled, kept_total]
    assert [h["dynamic_sampling/sampled_groups"] for h in r0["logs"]] == [
        h["dynamic_sampling/sampled_groups"] for h in r1["logs"]
    ]


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--ddp-worker":
    _ddp_worker(sys.argv[2])
    # Everything is written. Left to the interpreter's teardown, a C++ thread of torch's sometimes aborts the
    # process ("terminate called without an active exception", no Python frame: 1 run in 20-40 here, with both
    # workers' results already on disk), so leave without the teardown.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
