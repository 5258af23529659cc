"""The GRPO math on hand-made numbers (srl_gym.agents.grpo)."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from srl_gym.agents import grpo  # noqa: E402
from srl_gym.agents.rollout import Rollouts  # noqa: E402


def test_group_advantages_are_normalised_within_each_group():
    rewards = torch.tensor([[1.0, 0.0, 0.0, 1.0], [0.2, 0.4, 0.6, 0.8], [0.5, 0.5, 0.5, 0.5]])
    adv = grpo.group_advantages(rewards)
    # Group 1: mean 0.5, sample std sqrt(1/3).
    expected = (rewards[0] - 0.5) / (math.sqrt(1 / 3) + 1e-4)
    assert torch.allclose(adv[0], expected)
    # Group 2: mean 0.5, sample std sqrt(0.2/3).
    assert torch.allclose(adv[1], (rewards[1] - 0.5) / (math.sqrt(0.2 / 3) + 1e-4))
    # A zero-std group gets advantage 0, not a division by zero.
    assert torch.equal(adv[2], torch.zeros(4))
    assert torch.allclose(adv.mean(dim=1), torch.zeros(3), atol=1e-6)


def test_informative_groups_drop_zero_std():
    rewards = torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.3, 0.3, 0.30001]])
    keep = grpo.informative_groups(rewards, 1e-4)
    assert keep.tolist() == [False, False, True, False]


def test_clipped_surrogate_by_hand():
    old = torch.zeros(1, 4)
    # ratios 1.5, 0.5, 1.1, 0.9 against advantages +1 (row 0) and -1 (row 1)
    new = torch.log(torch.tensor([[1.5, 0.5, 1.1, 0.9]]))
    pos = grpo.clipped_surrogate(new, old, torch.tensor([1.0]), 0.2)
    # A > 0: -min(r, clip(r)) -> -1.2 (clipped), -0.5 (unclipped: min keeps the pessimistic), -1.1, -0.9
    assert torch.allclose(pos, -torch.tensor([[1.2, 0.5, 1.1, 0.9]]))
    neg = grpo.clipped_surrogate(new, old, torch.tensor([-1.0]), 0.2)
    # A < 0: -min(-r, -clip(r)) = max(r, clip(r)) -> 1.5, 0.8 (clipped), 1.1, 0.9
    assert torch.allclose(neg, torch.tensor([[1.5, 0.8, 1.1, 0.9]]))


def test_clipped_surrogate_gradient_vanishes_only_where_clipped():
    logp = torch.log(torch.tensor([[1.5, 1.1]])).requires_grad_(True)
    loss = grpo.clipped_surrogate(logp, torch.zeros(1, 2), torch.tensor([1.0]), 0.2).sum()
    loss.backward()
    assert logp.grad[0, 0] == 0  # ratio 1.5 > 1.2 with A > 0: clipped, no gradient
    assert torch.isclose(logp.grad[0, 1], torch.tensor(-1.1))  # d(-r)/dlogp = -r


def test_token_level_averaging_weights_every_token_equally():
    values = torch.tensor([[1.0, 1.0, 0.0, 0.0], [4.0, 0.0, 0.0, 0.0]])
    mask = torch.tensor([[1, 1, 0, 0], [1, 0, 0, 0]])
    # Token-level: (1 + 1 + 4) / 3 tokens = 2, not the sequence-level mean (1 + 4) / 2 = 2.5.
    assert grpo.token_mean(values, mask).item() == pytest.approx(2.0)
    # Micro-batches divided by the whole batch's token count add up to the same.
    parts = grpo.token_mean(values[:1], mask[:1], 3) + grpo.token_mean(values[1:], mask[1:], 3)
    assert parts.item() == pytest.approx(2.0)


def test_kl_k3_is_zero_at_equal_policies_and_positive_otherwise():
    logp = torch.log(torch.tensor([0.2, 0.5]))
    assert torch.allclose(grpo.kl_k3(logp, logp), torch.zeros(2))
    ref = torch.log(torch.tensor([0.4, 0.25]))
    kl = grpo.kl_k3(logp, ref)
    r = torch.tensor([2.0, 0.5])  # pi_ref / pi
    assert torch.allclose(kl, r - torch.log(r) - 1) and (kl > 0).all()


class _FakeTokenizer:
    pad_token_id = 0


def _fake_generate(rewards_by_prompt):
    """A stand-in for rollout.generate: completion text = the reward it will get."""

    def generate(model, tokenizer, prompts, **kwargs):
        n = len(prompts)
        texts = [str(rewards_by_prompt[p].pop(0)) for p in prompts]
        return Rollouts(
            torch.ones(n, 2, dtype=torch.long),
            torch.ones(n, 2, dtype=torch.long),
            torch.ones(n, 3, dtype=torch.long),
            torch.ones(n, 3, dtype=torch.long),
            torch.zeros(n, 3),
            texts,
            torch.zeros(n, dtype=torch.bool),
        )

    return generate


def test_dynamic_sampling_keeps_sampling_and_reports_the_kept_fraction(monkeypatch):
    examples = [grpo.GRPOExample(f"p{i}", None) for i in range(4)]
    # p0 and p1 always give equal rewards (dropped); p2 and p3 vary (kept).
    plan = {"p0": [1, 1] * 10, "p1": [0, 0] * 10, "p2": [0, 1] * 10, "p3": [1, 0] * 10}
    monkeypatch.setattr(grpo, "generate", _fake_generate(plan))
    args = grpo.GRPOArgs(prompts_per_update=2, group_size=2, max_sampling_rounds=10, progress=False)
    batch = grpo.collect_batch(None, _FakeTokenizer(), examples, lambda texts, ex: [float(t) for t in texts], args, 0)
    assert batch.rollouts is not None and len(batch.rollouts) == 4  # 2 groups x G=2, all informative
    assert sorted(batch.rewards.tolist()) == [0.0, 0.0, 1.0, 1.0]
    stats = batch.stats
    assert stats["rollout/kept_groups"] == 2 and stats["rollout/sampled_groups"] >= 2
    assert stats["rollout/kept_fraction"] == 2 / stats["rollout/sampled_groups"]
    # Every sampled group that drew p0 or p1 was dropped, so the kept fraction shows the waste.
    assert stats["rollout/sampling_rounds"] >= 1


def test_dynamic_sampling_gives_up_after_the_round_cap(monkeypatch):
    examples = [grpo.GRPOExample("p0", None)]
    monkeypatch.setattr(grpo, "generate", _fake_generate({"p0": [0] * 100}))
    args = grpo.GRPOArgs(prompts_per_update=1, group_size=4, max_sampling_rounds=3, progress=False)
    batch = grpo.collect_batch(None, _FakeTokenizer(), examples, lambda texts, ex: [0.0] * len(texts), args, 0)
    assert batch.rollouts is None
    assert batch.stats["rollout/sampling_rounds"] == 3 and batch.stats["rollout/kept_fraction"] == 0


def test_without_dynamic_sampling_every_group_is_kept(monkeypatch):
    examples = [grpo.GRPOExample("p0", None)]
    monkeypatch.setattr(grpo, "generate", _fake_generate({"p0": [0] * 100}))
    args = grpo.GRPOArgs(prompts_per_update=1, group_size=4, dynamic_sampling=False, progress=False)
    batch = grpo.collect_batch(None, _FakeTokenizer(), examples, lambda texts, ex: [0.0] * len(texts), args, 0)
    assert batch.stats["rollout/kept_fraction"] == 1 and torch.equal(batch.advantages, torch.zeros(4))


def test_kl_zero_loads_no_reference_model(monkeypatch, tmp_path):
    from srl_gym.agents import models

    loads = []
    real = models.load_model

    def counting_load(*args, **kwargs):
        loads.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(grpo, "load_model", counting_load)
    examples = [grpo.GRPOExample("ab\n\n", "a")]
    args = grpo.GRPOArgs(
        run_dir=str(tmp_path / "run"), total_updates=1, prompts_per_update=1, group_size=2, max_new_tokens=2,
        eval_before=False, progress=False, tensorboard=False, max_sampling_rounds=1, kl_coef=0.0,
    )  # fmt: skip
    grpo.train_grpo(args, "srl", lambda tok: examples, lambda texts, ex: [float(len(t)) for t in texts], lambda a: {})
    assert loads == ["tiny"]  # the policy only
    args = __import__("dataclasses").replace(args, run_dir=str(tmp_path / "run2"), kl_coef=0.1)
    grpo.train_grpo(args, "srl", lambda tok: examples, lambda texts, ex: [float(len(t)) for t in texts], lambda a: {})
    assert loads == ["tiny", "tiny", "tiny"]  # policy and reference
