"""GRPO, the optimiser shared by SRL, RLVR and SRL -> RLVR: TRL's ``GRPOTrainer`` with the paper's settings.

Group Relative Policy Optimization as the SRL paper uses it (Deng et al., 2025, "Supervised
Reinforcement Learning: From Expert Trajectories to Step-wise Reasoning", arXiv:2510.25992; GRPO
from Shao et al., 2024, arXiv:2402.03300), run by Hugging Face TRL:

1. G completions (default 8) per prompt at temperature 1.0, pure sampling (``top_k=0``,
   ``top_p=1``).
2. Each completion is rewarded (SRL: `srl_gym.rewards.srl_reward_func`; RLVR:
   `srl_gym.rewards.outcome_reward_func`); advantage = (reward - group mean) / group std
   (``scale_rewards="group"``).
3. Dynamic sampling (`srl_gym.agents.dynamic_sampling`, the one thing TRL lacks): a group whose
   rewards have std <= 1e-4 teaches nothing and is dropped; prompts not yet tried in this update
   refill the batch, for at most ``max_sampling_rounds`` rounds.
4. The PPO clipped surrogate (clip 0.2), KL coefficient 0 (``beta=0``: no reference model),
   averaged over every completion token of the batch (``loss_type="dapo"``), one AdamW step after
   clipping the gradient norm to 1.0, with a constant learning rate.

One update = one generation batch of ``prompts_per_update`` x ``group_size`` rollouts and, with
the defaults (``update_epochs=1``, ``minibatches=1``: on-policy), one optimizer step (gradient
accumulation over ``micro_batch_size`` sequences, a memory setting only); otherwise
``update_epochs x minibatches`` optimizer steps, with TRL's importance ratio against the sampling
policy.

The paper's values (Qwen2.5-7B-Instruct) are lr 5e-7, 512 (SRL) or 128 (RLVR) prompts x 8
rollouts per update, KL 0, clip-norm 1.0. Defaults here keep G, temperature, clip, KL, epsilon and
clip-norm, and scale the learning rate and batch for a tiny model on a CPU (see each field).
``--use-vllm true`` hands generation to vLLM inside each training process (TRL's colocate mode;
needs ``pip install vllm`` and a CUDA GPU).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srl_gym.algorithms import TrainResult

from .lm_common import LMArgs, check_lengths, evaluate_lm_run, load_for_training
from .trl_common import open_run, process_state, quiet_trainer, require_trl, run_trainer, training_arguments


@dataclass
class GRPOArgs(LMArgs):
    """GRPO options shared by SRL and RLVR."""

    total_updates: int = field(
        default=100, metadata={"help": "GRPO updates (each: sample a batch, one optimizer step)"}
    )
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
        default=0.0, metadata={"help": "KL(pi || initial model) coefficient, TRL's beta (paper: 0: no reference)"}
    )
    max_grad_norm: float = field(default=1.0, metadata={"help": "gradient clipping norm (paper: 1.0)"})
    dynamic_sampling: bool = field(default=True, metadata={"help": "drop groups whose reward std <= std_epsilon"})
    std_epsilon: float = field(default=1e-4, metadata={"help": "dynamic sampling threshold on a group's reward std"})
    max_sampling_rounds: int = field(
        default=4, metadata={"help": "most sampling rounds per update to fill the batch with informative groups"}
    )
    update_epochs: int = field(
        default=1, metadata={"help": "passes over each generation batch, TRL's num_iterations (1: on-policy)"}
    )
    minibatches: int = field(default=1, metadata={"help": "optimizer steps per pass over a batch (1: on-policy)"})
    micro_batch_size: int = field(default=32, metadata={"help": "sequences per forward/backward (memory only)"})
    use_vllm: bool = field(
        default=False, metadata={"help": "generate with vLLM in each process (CUDA; pip install vllm)"}
    )

    def validate(self) -> None:
        super().validate()
        for name in ("total_updates", "prompts_per_update", "max_sampling_rounds", "micro_batch_size", "update_epochs",
                     "minibatches"):  # fmt: skip
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
        if self.kl_coef > 0 and not Path(self.model).is_dir():
            # TRL loads the reference model from the policy's saved path, which a model built in memory lacks.
            raise ValueError(
                f"--kl-coef > 0 needs --model to be a model directory, got {self.model!r}; save it first "
                "(srl_gym.agents.models.build_tiny_model(DIR)) or keep the paper's --kl-coef 0"
            )
        if self.use_vllm and importlib.util.find_spec("vllm") is None:
            raise ImportError("--use-vllm needs vLLM and a CUDA GPU: pip install vllm")


def batch_layout(rows: int, micro_batch_size: int, processes: int, minibatches: int = 1) -> tuple[int, int]:
    """(per-device micro batch, gradient accumulation steps) for ``rows`` sequences per generation batch.

    The batch is cut into ``minibatches`` optimizer steps; the micro batch is the largest divisor
    of a minibatch's per-process rows that is <= ``micro_batch_size``. With one minibatch an update
    is exactly one generation batch and one optimizer step.
    """
    if rows % (processes * minibatches):
        raise ValueError(f"prompts_per_update x group_size = {rows} rollouts do not split into {minibatches} "
                         f"minibatch(es) over {processes} process(es)")  # fmt: skip
    local = rows // (processes * minibatches)
    micro = max(d for d in range(1, min(micro_batch_size, local) + 1) if local % d == 0)
    return micro, local // micro


def train_grpo(
    args: GRPOArgs,
    algorithm: str,
    train_dataset: Callable[[Any], Any],
    reward_funcs: Sequence[Callable[..., list[float]]],
    evaluate_modes: Sequence[str],
    callbacks: Sequence[Any] = (),
) -> TrainResult:
    """Run GRPO in ``args.run_dir``; return its checkpoints (with budgets) and final metrics.

    Args:
        args: the options (a `GRPOArgs` or a subclass).
        algorithm: the name stored in the run directory (``"srl"``, ``"rlvr"``).
        train_dataset: ``train_dataset(tokenizer) -> datasets.Dataset`` with a ``prompt`` column and
            the columns the reward functions read.
        reward_funcs: TRL reward functions ``(completions, **columns) -> list[float]``.
        evaluate_modes: the held-out evaluation (`srl_gym.agents.lm_common.evaluate_lm_run`).
        callbacks: more ``transformers.TrainerCallback``s (the curriculum's `LevelUp` ends a stage early).
    """
    args.validate()
    require_trl()
    from .dynamic_sampling import DynamicSamplingConfig, DynamicSamplingGRPOTrainer

    run_dir = open_run(args, algorithm)
    model, tokenizer = load_for_training(args)
    data = train_dataset(tokenizer)
    if len(data) == 0:
        raise ValueError(f"{args.env_id} gave no training prompts")
    check_lengths(tokenizer, data, args.max_length, reserve=args.max_new_tokens)
    micro, accumulation = batch_layout(
        args.prompts_per_update * args.group_size, args.micro_batch_size, process_state(args).num_processes,
        args.minibatches,
    )  # fmt: skip
    steps = args.update_epochs * args.minibatches  # optimizer steps per update (one generation batch)
    common = training_arguments(args, run_dir=run_dir, max_steps=args.total_updates * steps,
                                learning_rate=args.learning_rate)  # fmt: skip
    common["save_steps"] *= steps
    config = DynamicSamplingConfig(
        **common,
        per_device_train_batch_size=micro,
        gradient_accumulation_steps=accumulation,
        steps_per_generation=accumulation * args.minibatches,  # 1 minibatch, 1 epoch: one optimizer step per batch
        num_generations=args.group_size,
        num_iterations=args.update_epochs,
        max_completion_length=args.max_new_tokens,
        temperature=args.temperature,
        top_k=0,
        top_p=1.0,
        beta=args.kl_coef,
        epsilon=args.clip_eps,
        max_grad_norm=args.max_grad_norm,
        lr_scheduler_type="constant",
        weight_decay=0.0,
        scale_rewards="group",
        loss_type="dapo",  # the token-level mean over the whole batch
        dynamic_sampling=args.dynamic_sampling,
        std_epsilon=args.std_epsilon,
        max_sampling_rounds=args.max_sampling_rounds,
        use_vllm=args.use_vllm,
        vllm_mode="colocate",
        cache_implementation="static",  # as lm_agent.generate: the same tokens, about half the time on a CPU
        log_completions=False,
    )
    trainer = DynamicSamplingGRPOTrainer(
        model=model, reward_funcs=list(reward_funcs), args=config, train_dataset=data, processing_class=tokenizer
    )
    quiet_trainer(trainer, args)
    for callback in callbacks:
        trainer.add_callback(callback)

    def budget(state: Any) -> dict[str, float]:
        return {
            "updates": float(state.global_step // steps),
            "gradient_updates": float(trainer.informative_updates),
            "generated_tokens": float(trainer.generated_tokens),
            "trained_tokens": float(trainer.trained_tokens),
        }

    resume = _restore_counters if args.resume else None
    result = run_trainer(
        trainer, args, run_dir, budget=budget, evaluate=evaluate_lm_run(args, tokenizer, evaluate_modes),
        on_resume=resume,
    )  # fmt: skip
    result.metrics["rollout/kept_fraction"] = trainer.kept_groups / max(trainer.sampled_groups, 1)
    return result


def _restore_counters(trainer: Any, checkpoint: Path) -> None:
    """Continue the budget counters of a resumed run from its checkpoint's ``budget.json``."""
    import json

    budget = json.loads((checkpoint / "budget.json").read_text(encoding="utf-8"))
    trainer.generated_tokens = int(budget.get("generated_tokens", 0))
    trainer.informative_updates = int(budget.get("gradient_updates", 0))
    trainer.trained_tokens = int(budget.get("trained_tokens", 0))


def named(func: Callable[..., list[float]], name: str, **options: Any) -> Callable[..., list[float]]:
    """``func`` with keyword ``options`` bound, under ``name`` (TRL logs each reward function by its name)."""

    def reward(completions: Sequence[Any], **columns: Any) -> list[float]:
        return func(completions, **options, **columns)

    reward.__name__ = name
    return reward
