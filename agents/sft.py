"""SFT: supervised fine-tuning (cross-entropy) on the oracle expert's solutions.

The SFT baseline of the SRL paper (Deng et al., 2025, arXiv:2510.25992): next-token
cross-entropy on expert solutions, the loss only on the target's tokens (never the prompt), a
learning rate with linear warm-up over the first 30% of updates and cosine decay to zero.

- ``--mode solution`` (default, the paper's): the prompt is the problem, the target the whole
  expert solution ("Step k: ..." lines) after an empty ``<think></think>``; evaluation asks for
  whole solutions on the test split and checks them with the task's verifier.
- ``--mode step``: the SRL instances ``[problem, y_1..y_{k-1}] -> y_k`` as targets; evaluation
  plays the test split on-policy with `srl_gym.evaluate` (the model's own steps are applied).
- ``--mode both``: the union, a warm-up that teaches the tiny model both prompt formats before
  SRL (step-wise) or RLVR (whole solutions); evaluation reports whole-solution success and the
  held-out step similarity.

Paper (Qwen2.5-7B-Instruct, 1,000 problems): lr 5e-6, batch 64, 3 epochs, bf16. The defaults here
are scaled for the tiny character model trained from scratch on a CPU (it knows nothing, so it
needs a learning rate ~100x larger and more epochs); for a pretrained model such as
SmolLM2-135M use ``--learning-rate 1e-5`` or lower.

Run: ``srl-gym train sft --env-id srl/Hanoi-v0 --run-dir runs/sft``.
"""

from __future__ import annotations

import math
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import srl_gym.evaluation
from srl_gym.runs import Run, RunArgs, derived_seed, run_cli, seed_everything

from srl_gym.episodes import env_options, solution_examples, step_instances
from .lm_agent import LMAgent, evaluate_solutions, evaluate_steps
from .models import load_model
from srl_gym.prompts import render_prompt, step_target
from .rollout import left_pad


@dataclass
class Args(RunArgs):
    """Supervised fine-tuning on expert solutions (the SFT baseline)."""

    run_dir: str = field(default="runs/sft", metadata={"help": "the run directory (config, metrics, checkpoints)"})
    env_id: str = field(default="srl/Hanoi-v0", metadata={"help": "the task (an srl/ id)"})
    difficulty: int = field(default=0, metadata={"help": "the task's difficulty level"})
    trajectories_path: str | None = field(
        default=None, metadata={"help": "srl/Trajectories-v0 only: your JSONL file of expert trajectories"}
    )
    model: str = field(
        default="tiny", metadata={"help": "'tiny', 'tiny-large', 'smollm2-135m' or a local model directory"}
    )
    mode: Literal["solution", "step", "both"] = field(
        default="solution",
        metadata={"help": "targets: whole solutions (the paper's SFT), single steps, or both (a warm-up for SRL/RLVR)"},
    )
    train_seeds: int = field(default=2000, metadata={"help": "train problems: seeds 0..N-1 (repeats kept once)"})
    eval_episodes: int = field(default=64, metadata={"help": "test-split problems for evaluation (seeds 0..N-1)"})
    epochs: int = field(default=30, metadata={"help": "passes over the data (paper: 3, for a pretrained 7B model)"})
    max_updates: int | None = field(default=None, metadata={"help": "stop after this many updates (default: all)"})
    batch_size: int = field(default=16, metadata={"help": "examples per update (paper: 64)"})
    learning_rate: float = field(
        default=2e-3, metadata={"help": "peak learning rate (paper: 5e-6; 2e-3 suits the tiny model from scratch)"}
    )
    warmup_ratio: float = field(default=0.3, metadata={"help": "share of updates with linear warm-up (paper: 0.3)"})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay"})
    max_grad_norm: float = field(default=1.0, metadata={"help": "gradient clipping norm"})
    max_length: int = field(default=2048, metadata={"help": "longest prompt + target in tokens (longer is an error)"})
    max_new_tokens: int = field(default=256, metadata={"help": "longest completion at evaluation"})
    eval_every: int = field(default=0, metadata={"help": "evaluate every N updates (0: before and after only)"})
    eval_before: bool = field(default=True, metadata={"help": "evaluate the untrained model first"})
    eval_after: bool = field(default=True, metadata={"help": "evaluate the final model"})

    def validate(self) -> None:
        super().validate()
        for name in ("train_seeds", "eval_episodes", "epochs", "batch_size", "max_length", "max_new_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_updates is not None and self.max_updates < 1:
            raise ValueError(f"max_updates must be >= 1 or None, got {self.max_updates}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")


def tokenize_examples(tokenizer, prompts: Sequence[str], targets: Sequence[str], max_length: int):
    """Token ids of each (prompt, target + end token); an error names the first pair that is too long."""
    pairs = []
    for prompt, target in zip(prompts, targets, strict=True):
        p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        t = tokenizer(target, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        if len(p) + len(t) > max_length:
            raise ValueError(
                f"an example of {len(p)} prompt + {len(t)} target tokens does not fit max_length={max_length}; "
                "raise --max-length (up to the model's context) or pick an easier difficulty"
            )
        pairs.append((p, t))
    return pairs


def sft_loss(model, pairs, pad_id: int):
    """Mean cross-entropy over all target tokens of the batch (prompt tokens carry no loss)."""
    import torch

    from .rollout import completion_logprobs

    prompt_ids, prompt_mask = left_pad([p for p, _ in pairs], pad_id)
    width = max(len(t) for _, t in pairs)
    target_ids = torch.full((len(pairs), width), pad_id, dtype=torch.long)
    target_mask = torch.zeros((len(pairs), width), dtype=torch.long)
    for i, (_, t) in enumerate(pairs):
        target_ids[i, : len(t)] = torch.as_tensor(t)
        target_mask[i, : len(t)] = 1
    logprobs = completion_logprobs(model, prompt_ids, prompt_mask, target_ids, target_mask)
    mask = target_mask.to(logprobs.device)
    return -(logprobs * mask).sum() / mask.sum(), int(prompt_mask.sum() + target_mask.sum())


def train(args: Args) -> dict[str, float | str]:
    """Run SFT; return the final metrics (``eval/...``, ``model_dir``)."""
    import torch
    from transformers import get_cosine_schedule_with_warmup

    args.validate()
    seed_everything(args.seed)
    # ---- data: the env's own observations, train split for training, test split held out
    options = env_options(args)
    examples: list[tuple[str, str, str]] = []  # (observation, prompt mode, target)
    solutions_held_out, steps_held_out = None, None
    if args.mode in ("solution", "both"):
        for e in solution_examples(args.env_id, range(args.train_seeds), **options):
            examples.append((e.observation, "solution", e.target))
        solutions_held_out = solution_examples(args.env_id, range(args.eval_episodes), split="test", **options)
    if args.mode in ("step", "both"):
        for i in step_instances(args.env_id, range(args.train_seeds), **options):
            examples.append((i.observation, "step", step_target(i.expert_step)))
    if args.mode == "both":
        steps_held_out = step_instances(args.env_id, range(args.eval_episodes), split="test", **options)
    batches_per_epoch = math.ceil(len(examples) / args.batch_size)
    total = batches_per_epoch * args.epochs
    if args.max_updates is not None:
        total = min(total, args.max_updates)

    run = Run(args.run_dir, args, "sft", resume=args.resume, force=args.force, total=total, **_report(args))
    checkpoint = run.latest_checkpoint() if args.resume else None
    model, tokenizer = load_model(checkpoint / "model" if checkpoint else args.model, args.device, seed=args.seed)
    pairs = tokenize_examples(
        tokenizer,
        [render_prompt(tokenizer, observation, mode) for observation, mode, _ in examples],
        [target for _, _, target in examples],
        args.max_length,
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay)
    scheduler = get_cosine_schedule_with_warmup(optimizer, math.ceil(args.warmup_ratio * total), total)
    start = run.load_checkpoint(checkpoint, optimizer, scheduler)["step"] if checkpoint else 0
    agent = LMAgent(model, tokenizer, max_new_tokens=args.max_new_tokens, max_length=args.max_length)

    def evaluate() -> dict[str, float]:
        result: dict[str, float] = {}
        if solutions_held_out is not None:  # whole solutions, checked by the task's verifier
            result |= evaluate_solutions(agent, solutions_held_out)
        if steps_held_out is not None:  # one step per held-out instance, against the expert's step
            result |= {k: v for k, v in evaluate_steps(agent, steps_held_out).items() if k != "format_rate"}
        if args.mode == "step":  # the env played on-policy: the model's own steps are applied
            ev = srl_gym.evaluation.evaluate(
                agent, args.env_id, args.eval_episodes, split="test", batch_size=64, **options
            )
            result |= {"success_rate": ev.success_rate, "step_similarity": ev.mean_step_similarity}
        return {f"eval/{k}": v for k, v in result.items()}

    summary: dict[str, float | str] = {}
    if start == 0 and args.eval_before:
        before = evaluate()
        run.log(0, before)
        summary |= {f"{k}_before": v for k, v in before.items()}

    # ---- the training loop: one update = one batch of examples
    done = start
    try:
        for update in range(start, total):
            epoch, index = divmod(update, batches_per_epoch)
            order = list(range(len(pairs)))
            random.Random(derived_seed(args.seed, epoch)).shuffle(order)
            batch = [pairs[i] for i in order[index * args.batch_size : (index + 1) * args.batch_size]]
            torch.manual_seed(derived_seed(args.seed, update))
            tick = time.perf_counter()
            model.train()
            loss, tokens = sft_loss(model, batch, tokenizer.pad_token_id)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            seconds = time.perf_counter() - tick
            done = update + 1
            metrics = {
                "train/loss": loss.item(),
                "train/grad_norm": float(grad_norm),
                "train/learning_rate": scheduler.get_last_lr()[0],
                "train/epoch": done / batches_per_epoch,
                "train/tokens": float(tokens),
                "train/tokens_per_second": tokens / seconds,
            }
            run.log(done, metrics)
            run.advance(done, {"loss": metrics["train/loss"]})
            if args.eval_every and done % args.eval_every == 0 and done < total:
                run.log(done, evaluate())
            if args.checkpoint_every and done % args.checkpoint_every == 0 and done < total:
                run.save_checkpoint(done, model, tokenizer, optimizer, scheduler, keep=args.keep_checkpoints)
    except KeyboardInterrupt:
        if done > start:  # keep the finished work; --resume true continues from here
            run.save_checkpoint(done, model, tokenizer, optimizer, scheduler, keep=args.keep_checkpoints)
        run.close()
        raise

    final = run.save_checkpoint(total, model, tokenizer, optimizer, scheduler, keep=args.keep_checkpoints)
    after = evaluate() if args.eval_after else {}
    if after:
        run.log(total, after)
    run.close()
    return summary | after | {"updates": total, "model_dir": str(final / "model")}


def _report(args: RunArgs) -> dict[str, bool]:
    return {"tensorboard": args.tensorboard, "progress": args.progress}


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Command line: ``srl-gym train sft --help``."""
    return run_cli(Args, train, argv, prog)


if __name__ == "__main__":
    sys.exit(main())
