"""GRPO, the optimiser shared by SRL and RLVR (and SRL -> RLVR).

Group Relative Policy Optimization as the SRL paper uses it (Deng et al., 2025, "Supervised
Reinforcement Learning: From Expert Trajectories to Step-wise Reasoning", arXiv:2510.25992; GRPO
from Shao et al., 2024, arXiv:2402.03300):

1. Sample G completions (default 8) for each prompt at temperature 1.0 (pure sampling: no top-k
   or top-p), keeping the log-prob of every sampled token (the behaviour policy).
2. Reward each completion (SRL: step similarity with the ``<think>`` format rule; RLVR: the
   task's verifier). Advantage = (reward - group mean) / group std, the same for every token.
3. Dynamic sampling: a group whose rewards have std <= epsilon (1e-4) teaches nothing (all its
   advantages are 0) and is dropped; sampling goes on until the batch holds
   ``prompts_per_update`` groups or ``max_sampling_rounds`` rounds were drawn. The kept fraction
   is reported (``rollout/kept_fraction``).
4. Loss per token: the PPO clipped surrogate ``-min(rho * A, clip(rho, 1 - eps, 1 + eps) * A)``
   with ``rho = pi / pi_behaviour`` (eps 0.2), plus ``kl_coef`` times the k3 estimate of
   KL(pi || pi_ref) when ``kl_coef > 0`` (the paper uses 0: no reference model is loaded then).
   The loss is averaged over every completion token of the batch (token-level averaging).
5. AdamW step after clipping the gradient norm to 1.0.

With one epoch and one minibatch (the defaults) the update is on-policy: the ratio is 1 up to
float rounding and the behaviour log-probs come from sampling, with no second forward pass.

The paper's values (Qwen2.5-7B-Instruct) are lr 5e-7, 512 (SRL) or 128 (RLVR) prompts x 8
rollouts per update, KL 0, clip-norm 1.0. Defaults here keep G, temperature, clip, KL, epsilon and
clip-norm, and scale the learning rate and batch for a tiny model on a CPU (see each field).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from srl_gym.runs import Run, RunArgs, derived_seed, seed_everything

from .lm_agent import LMAgent
from .models import load_model
from .rollout import Rollouts, completion_logprobs, generate


@dataclass
class GRPOArgs(RunArgs):
    """GRPO options shared by SRL and RLVR."""

    model: str = field(
        default="tiny", metadata={"help": "'tiny', 'tiny-large', 'smollm2-135m' or a local model directory"}
    )
    env_id: str = field(default="srl/Hanoi-v0", metadata={"help": "the task (an srl/ id)"})
    difficulty: int = field(default=0, metadata={"help": "the task's difficulty level"})
    trajectories_path: str | None = field(
        default=None, metadata={"help": "srl/Trajectories-v0 only: your JSONL file of expert trajectories"}
    )
    train_seeds: int = field(default=2000, metadata={"help": "train problems: seeds 0..N-1 (repeats kept once)"})
    eval_episodes: int = field(default=64, metadata={"help": "test-split problems for evaluation (seeds 0..N-1)"})
    total_updates: int = field(default=100, metadata={"help": "GRPO updates (each: sample a batch, one or more steps)"})
    prompts_per_update: int = field(
        default=16, metadata={"help": "groups (prompts) per update (paper: 512 for SRL, 128 for RLVR)"}
    )
    group_size: int = field(default=8, metadata={"help": "G, rollouts per prompt (paper: 8)"})
    temperature: float = field(default=1.0, metadata={"help": "sampling temperature of rollouts (paper: 1.0)"})
    learning_rate: float = field(
        default=1e-4,
        metadata={"help": "AdamW learning rate, constant (paper: 5e-7 for a 7B model; 1e-4 suits the tiny model)"},
    )
    clip_eps: float = field(default=0.2, metadata={"help": "PPO ratio clipping epsilon"})
    kl_coef: float = field(
        default=0.0, metadata={"help": "KL(pi || initial model) coefficient (paper: 0: no reference)"}
    )
    max_grad_norm: float = field(default=1.0, metadata={"help": "gradient clipping norm (paper: 1.0)"})
    dynamic_sampling: bool = field(default=True, metadata={"help": "drop groups whose reward std <= std_epsilon"})
    std_epsilon: float = field(default=1e-4, metadata={"help": "dynamic sampling threshold on a group's reward std"})
    max_sampling_rounds: int = field(
        default=4, metadata={"help": "most sampling rounds per update to fill the batch with informative groups"}
    )
    update_epochs: int = field(default=1, metadata={"help": "passes over each batch (1: on-policy)"})
    minibatches: int = field(default=1, metadata={"help": "optimizer steps per pass (1: on-policy)"})
    micro_batch_size: int = field(default=32, metadata={"help": "sequences per forward/backward (memory only)"})
    max_new_tokens: int = field(default=64, metadata={"help": "longest completion (monologue and answer)"})
    max_length: int = field(default=2048, metadata={"help": "longest prompt + completion in tokens"})
    eval_every: int = field(default=0, metadata={"help": "evaluate every N updates (0: before and after only)"})
    eval_before: bool = field(default=True, metadata={"help": "evaluate the starting model first"})
    eval_after: bool = field(default=True, metadata={"help": "evaluate the final model"})

    def validate(self) -> None:
        super().validate()
        positive = ("train_seeds", "eval_episodes", "total_updates", "prompts_per_update", "max_sampling_rounds")
        positive += ("update_epochs", "minibatches", "micro_batch_size", "max_new_tokens", "max_length")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.group_size < 2:
            raise ValueError(f"group_size must be >= 2 (advantages compare rollouts of a group), got {self.group_size}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0 (GRPO samples), got {self.temperature}")
        if not 0 < self.clip_eps < 1:
            raise ValueError(f"clip_eps must be in (0, 1), got {self.clip_eps}")
        if self.kl_coef < 0 or self.std_epsilon < 0 or self.learning_rate <= 0:
            raise ValueError("kl_coef and std_epsilon must be >= 0 and learning_rate > 0")


@dataclass(frozen=True)
class GRPOExample:
    """One prompt of the training set: the rendered prompt and what its reward needs."""

    prompt: str
    target: Any


#: ``reward_fn(completions, examples) -> rewards``: one float per completion.
RewardFn = Callable[[Sequence[str], Sequence[GRPOExample]], Sequence[float]]


# ---------------------------------------------------------------------- the GRPO math
def group_advantages(rewards: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """``[B, G]`` rewards -> ``(r - group mean) / (group std + eps)``.

    The std is the sample std (Bessel-corrected, as TRL's GRPOTrainer computes it); ``eps`` keeps
    a zero-std group at advantage 0 when dynamic sampling is off.
    """
    mean = rewards.mean(dim=1, keepdim=True)
    std = rewards.std(dim=1, keepdim=True)
    return (rewards - mean) / (std + eps)


def informative_groups(rewards: torch.Tensor, std_epsilon: float) -> torch.Tensor:
    """``[B]`` True where a group's reward std exceeds ``std_epsilon`` (dynamic sampling keeps those)."""
    return rewards.std(dim=1) > std_epsilon


def clipped_surrogate(
    logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor, clip_eps: float
) -> torch.Tensor:
    """Per-token PPO loss ``-min(rho * A, clip(rho, 1 - eps, 1 + eps) * A)``; ``advantages`` is ``[N]``."""
    ratio = torch.exp(logprobs - old_logprobs)
    adv = advantages.unsqueeze(1)
    return -torch.minimum(ratio * adv, ratio.clamp(1 - clip_eps, 1 + clip_eps) * adv)


def kl_k3(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimate of KL(pi || pi_ref): ``exp(ref - logp) - (ref - logp) - 1`` (>= 0)."""
    delta = ref_logprobs - logprobs
    return torch.exp(delta) - delta - 1


def token_mean(values: torch.Tensor, mask: torch.Tensor, num_tokens: int | None = None) -> torch.Tensor:
    """Sum of ``values`` over the masked tokens divided by the number of tokens (token-level averaging).

    ``num_tokens`` is the token count of the whole batch when ``values`` is one micro-batch of it,
    so that micro-batch losses add up to the batch's token mean.
    """
    count = num_tokens if num_tokens is not None else mask.sum()
    return (values * mask).sum() / max(int(count), 1)


# ---------------------------------------------------------------------- sampling a batch
@dataclass
class Batch:
    """The kept groups of one update, flattened group by group."""

    rollouts: Rollouts | None  # None when no group was kept
    advantages: torch.Tensor | None  # [N]
    rewards: torch.Tensor | None  # [N]
    stats: dict[str, float]


def collect_batch(
    model: Any,
    tokenizer: Any,
    examples: Sequence[GRPOExample],
    reward_fn: RewardFn,
    args: GRPOArgs,
    update: int,
) -> Batch:
    """Sample groups until ``prompts_per_update`` informative ones are kept (or the rounds run out).

    The batch is empty (``rollouts`` None) when no group was kept: every group had equal rewards,
    so there is nothing to learn from this update.
    """
    G = args.group_size
    kept: list[tuple[Rollouts, torch.Tensor]] = []
    kept_groups = sampled_groups = rounds = 0
    all_rewards, lengths, truncated, gen_tokens, gen_seconds = [], [], [], 0, 0.0
    while kept_groups < args.prompts_per_update and rounds < args.max_sampling_rounds:
        need = args.prompts_per_update - kept_groups
        rng = random.Random(derived_seed(args.seed, update, rounds))
        picked = [examples[i] for i in rng.sample(range(len(examples)), min(need, len(examples)))]
        torch.manual_seed(derived_seed(args.seed, update, rounds, 1))
        tick = time.perf_counter()
        rollouts = generate(
            model,
            tokenizer,
            [e.prompt for e in picked for _ in range(G)],
            max_new_tokens=args.max_new_tokens,
            temperature=args.temperature,
            max_length=args.max_length,
            batch_size=max(args.micro_batch_size, G),
        )
        gen_seconds += time.perf_counter() - tick
        gen_tokens += int(rollouts.completion_mask.sum())
        repeated = [e for e in picked for _ in range(G)]
        rewards = torch.tensor(list(reward_fn(rollouts.texts, repeated)), dtype=torch.float32).view(len(picked), G)
        keep = informative_groups(rewards, args.std_epsilon) if args.dynamic_sampling else torch.ones(len(picked), 1)
        keep = keep.bool().view(-1)
        rows = [g * G + j for g in range(len(picked)) if keep[g] for j in range(G)]
        if rows:
            kept.append((rollouts.select(rows), rewards[keep]))
        kept_groups += int(keep.sum())
        sampled_groups += len(picked)
        rounds += 1
        all_rewards.append(rewards.view(-1))
        lengths.append(rollouts.completion_mask.sum(1).float())
        truncated.append(rollouts.truncated.float())
    rewards_seen = torch.cat(all_rewards)
    stats = {
        "rollout/reward_mean": rewards_seen.mean().item(),
        "rollout/reward_std": rewards_seen.std().item() if len(rewards_seen) > 1 else 0.0,
        "rollout/kept_fraction": kept_groups / sampled_groups,
        "rollout/kept_groups": float(kept_groups),
        "rollout/sampled_groups": float(sampled_groups),
        "rollout/sampling_rounds": float(rounds),
        "rollout/completion_length": torch.cat(lengths).mean().item(),
        "rollout/truncated_fraction": torch.cat(truncated).mean().item(),
        "rollout/tokens_per_second": gen_tokens / max(gen_seconds, 1e-9),
        "rollout/generated_tokens": float(gen_tokens),
    }
    if not kept:
        return Batch(None, None, None, stats)
    group_rewards = torch.cat([r for _, r in kept])[: args.prompts_per_update]
    rollouts = _concat([r for r, _ in kept], args.prompts_per_update * G, tokenizer.pad_token_id)
    advantages = group_advantages(group_rewards).view(-1)
    return Batch(rollouts, advantages, group_rewards.view(-1), stats)


def _concat(parts: list[Rollouts], limit: int, pad_id: int) -> Rollouts:
    """Concatenate rollouts of different rounds (different paddings) and keep the first ``limit``."""
    import torch.nn.functional as F

    prompt_width = max(p.prompt_ids.shape[1] for p in parts)
    completion_width = max(p.completion_ids.shape[1] for p in parts)

    def left(t: torch.Tensor, width: int, value: float) -> torch.Tensor:
        return F.pad(t, (width - t.shape[1], 0), value=value)

    def right(t: torch.Tensor, width: int, value: float) -> torch.Tensor:
        return F.pad(t, (0, width - t.shape[1]), value=value)

    return Rollouts(
        torch.cat([left(p.prompt_ids, prompt_width, pad_id) for p in parts])[:limit],
        torch.cat([left(p.prompt_mask, prompt_width, 0) for p in parts])[:limit],
        torch.cat([right(p.completion_ids, completion_width, pad_id) for p in parts])[:limit],
        torch.cat([right(p.completion_mask, completion_width, 0) for p in parts])[:limit],
        torch.cat([right(p.logprobs, completion_width, 0.0) for p in parts])[:limit],
        [t for p in parts for t in p.texts][:limit],
        torch.cat([p.truncated for p in parts])[:limit],
    )


# ---------------------------------------------------------------------- the update
def grpo_update(model: Any, optimizer: Any, batch: Batch, args: GRPOArgs, ref_model: Any = None) -> dict[str, float]:
    """``update_epochs`` passes of ``minibatches`` optimizer steps over ``batch``; return loss statistics."""
    rollouts, n = batch.rollouts, len(batch.rollouts)
    model.train()
    stats: dict[str, list[float]] = {"loss": [], "clip_fraction": [], "kl": [], "grad_norm": [], "ratio": []}
    tokens = 0
    for _epoch in range(args.update_epochs):
        order = torch.randperm(n) if args.update_epochs > 1 or args.minibatches > 1 else torch.arange(n)
        for rows in order.chunk(args.minibatches):
            mb = rollouts.select(rows)
            num_tokens = int(mb.completion_mask.sum())
            optimizer.zero_grad(set_to_none=True)
            sums = {"loss": 0.0, "clip": 0.0, "kl": 0.0, "ratio": 0.0}
            for micro in torch.arange(len(rows)).split(args.micro_batch_size):
                part = mb.select(micro)
                mask = part.completion_mask.to(model.device).float()
                logprobs = completion_logprobs(
                    model, part.prompt_ids, part.prompt_mask, part.completion_ids, part.completion_mask,
                    args.temperature,
                )  # fmt: skip
                old = part.logprobs.to(logprobs.device)
                per_token = clipped_surrogate(
                    logprobs, old, batch.advantages[rows][micro].to(logprobs.device), args.clip_eps
                )
                if ref_model is not None and args.kl_coef > 0:
                    with torch.no_grad():
                        ref = completion_logprobs(
                            ref_model, part.prompt_ids, part.prompt_mask, part.completion_ids, part.completion_mask,
                            args.temperature,
                        )  # fmt: skip
                    kl = kl_k3(logprobs, ref)
                    per_token = per_token + args.kl_coef * kl
                    sums["kl"] += token_mean(kl.detach(), mask, num_tokens).item()
                loss = token_mean(per_token, mask, num_tokens)
                loss.backward()
                with torch.no_grad():
                    ratio = torch.exp(logprobs - old)
                    clipped = ((ratio - 1).abs() > args.clip_eps).float()
                    sums["clip"] += token_mean(clipped, mask, num_tokens).item()
                    sums["ratio"] += token_mean(ratio, mask, num_tokens).item()
                sums["loss"] += loss.item()
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.max_grad_norm)
            optimizer.step()
            tokens += int(torch.cat([mb.prompt_mask, mb.completion_mask], 1).sum())
            stats["loss"].append(sums["loss"])
            stats["clip_fraction"].append(sums["clip"])
            stats["kl"].append(sums["kl"])
            stats["ratio"].append(sums["ratio"])
            stats["grad_norm"].append(float(grad_norm))
    optimizer.zero_grad(set_to_none=True)
    out = {f"train/{k}": sum(v) / len(v) for k, v in stats.items()}
    out["train/tokens"] = float(tokens)
    return out


# ---------------------------------------------------------------------- the training loop
def train_grpo(
    args: GRPOArgs,
    algorithm: str,
    examples: Callable[[Any], Sequence[GRPOExample]],
    reward_fn: RewardFn,
    evaluate: Callable[[LMAgent], dict[str, float]],
) -> dict[str, Any]:
    """Run GRPO and return the final metrics.

    Args:
        args: the options (a `GRPOArgs` or a subclass).
        algorithm: the name stored in the run directory (``"srl"``, ``"rlvr"``).
        examples: ``examples(tokenizer) -> prompts``: the training prompts rendered for the model.
        reward_fn: scores completions (see `RewardFn`).
        evaluate: held-out evaluation of an `LMAgent` (greedy), as ``{"name": value}``; logged
            under ``eval/`` before training, every ``eval_every`` updates, and at the end.
    """
    args.validate()
    seed_everything(args.seed)
    run = Run(args.run_dir, args, algorithm, resume=args.resume, force=args.force, total=args.total_updates,
              tensorboard=args.tensorboard, progress=args.progress)  # fmt: skip
    checkpoint = run.latest_checkpoint() if args.resume else None
    model, tokenizer = load_model(checkpoint / "model" if checkpoint else args.model, args.device, seed=args.seed)
    # No reference model unless the KL term is on (the paper's coefficient is 0).
    ref_model = load_model(args.model, args.device, seed=args.seed)[0] if args.kl_coef > 0 else None
    if ref_model is not None:
        ref_model.requires_grad_(False)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, weight_decay=0.0)
    start = run.load_checkpoint(checkpoint, optimizer)["step"] if checkpoint else 0
    train_set = list(examples(tokenizer))
    if not train_set:
        raise ValueError(f"{args.env_id} gave no training prompts")
    agent = LMAgent(model, tokenizer, max_new_tokens=args.max_new_tokens, max_length=args.max_length)

    def evaluate_now() -> dict[str, float]:
        return {f"eval/{k}": v for k, v in evaluate(agent).items()}

    summary: dict[str, Any] = {}
    if start == 0 and args.eval_before:
        before = evaluate_now()
        run.log(0, before)
        summary |= {f"{k}_before": v for k, v in before.items()}

    kept_fractions: list[float] = []
    done = start
    try:
        for update in range(start, args.total_updates):
            tick = time.perf_counter()
            batch = collect_batch(model, tokenizer, train_set, reward_fn, args, update)
            stats = dict(batch.stats)
            torch.manual_seed(derived_seed(args.seed, update, 2**20))
            train_tick = time.perf_counter()
            if batch.rollouts is not None:  # else nothing informative was sampled: no gradient step
                stats |= grpo_update(model, optimizer, batch, args, ref_model)
                stats["train/tokens_per_second"] = stats["train/tokens"] / (time.perf_counter() - train_tick)
            stats["train/seconds_per_update"] = time.perf_counter() - tick
            kept_fractions.append(stats["rollout/kept_fraction"])
            done = update + 1
            run.log(done, stats)
            run.advance(done, {"reward": stats["rollout/reward_mean"], "kept": stats["rollout/kept_fraction"]})
            if args.eval_every and done % args.eval_every == 0 and done < args.total_updates:
                run.log(done, evaluate_now())
            if args.checkpoint_every and done % args.checkpoint_every == 0 and done < args.total_updates:
                run.save_checkpoint(done, model, tokenizer, optimizer, keep=args.keep_checkpoints)
    except KeyboardInterrupt:
        if done > start:  # keep the finished work; --resume true continues from here
            run.save_checkpoint(done, model, tokenizer, optimizer, keep=args.keep_checkpoints)
        run.close()
        raise

    final = run.save_checkpoint(args.total_updates, model, tokenizer, optimizer, keep=args.keep_checkpoints)
    after = evaluate_now() if args.eval_after else {}
    if after:
        run.log(args.total_updates, after)
    run.close()
    summary |= after
    if kept_fractions:
        summary["rollout/kept_fraction"] = sum(kept_fractions) / len(kept_fractions)
    return summary | {"updates": args.total_updates, "model_dir": str(final / "model")}
