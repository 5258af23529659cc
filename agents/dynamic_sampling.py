"""Dynamic sampling for TRL's GRPOTrainer: drop prompt groups whose rewards do not vary, refill the batch.

**What it is.** GRPO normalises each completion's reward within its prompt's group of G rollouts:
``A = (r - mean) / (std + 1e-4)``. A group whose G rewards are all equal (every rollout right, every
rollout wrong, or a flat similarity score) has ``A = 0`` for every token: it costs a generation and
a forward/backward pass and teaches nothing, while it still dilutes the per-sequence mean of the
loss. Dynamic sampling (DAPO, Yu et al. 2025, arXiv:2503.14476, section 3.2) drops such groups and
samples more prompts until the batch is full again. The SRL paper (Deng et al. 2025, "Supervised
Reinforcement Learning: From Expert Trajectories to Step-wise Reasoning", arXiv:2510.25992,
https://arxiv.org/abs/2510.25992) trains with it: a group is kept only if the std of its G rewards
exceeds epsilon = 1e-4, and sampling goes on until the batch is full; its ablation reports SRL's
average score falling from 27.6 with dynamic sampling to 24.7 without it.

**What TRL lacks.** TRL 1.16's `GRPOTrainer` only *logs* the share of zero-std groups
(``frac_reward_zero_std``); it trains on them as they are. Dynamic sampling has been requested in
huggingface/trl#3708 (the canonical thread), #3973 and #4764 (the maintainers point both to #3708);
the draft PR #3758 was closed without being merged.

**What this module adds.** `DynamicSamplingConfig` (a `GRPOConfig` with three more fields) and
`DynamicSamplingGRPOTrainer` (a `GRPOTrainer`). The trainer overrides only:

- ``_generate_and_score_completions``: TRL's own method produces round 0 on the sampler's batch,
  unchanged. Groups with reward std <= ``std_epsilon`` are dropped; while fewer groups are kept than
  the batch had and fewer than ``max_sampling_rounds`` rounds ran, the missing number of prompts is
  drawn from ``train_dataset`` among the rows not yet tried in this generation batch (by a stable
  key of their ``prompt``), repeated G times as TRL's ``RepeatSampler`` does, sliced per process, and
  passed to TRL's method again. The kept groups (round 0's first, then each refill's) are assembled
  into one batch with the keys TRL returns, and ``num_items_in_batch`` is recomputed for it. It is
  overridden here rather than ``_prepare_inputs`` so that TRL's buffering, shuffling and splitting
  into ``steps_per_generation`` micro-batches (and ``num_iterations`` reuse) stay untouched.
- ``_calculate_rewards``: calls TRL's method and keeps its result, the rewards per function
  *gathered from every process*, so the keep decision is the same on every process.
- ``__init__``: checks the config and the dataset, and sets the running totals.

Advantages are kept exactly as TRL computed them inside each round: groups are never split, so the
group normalisation stays valid (with ``scale_rewards="batch"`` or
``multi_objective_aggregation="normalize_then_sum"`` TRL normalises over the whole batch of a
round; the assembled batch then mixes rounds normalised separately, which a warning says).

**Multiple processes** (accelerate DDP). Rewards are gathered before the decision, so every process
keeps the same groups and runs the same number of rounds (each of TRL's calls has collectives).
Every refill round's global row count is a multiple of the number of processes (the number of
drawn prompts is rounded up, extras are discarded at assembly). A group may straddle two processes'
slices; the kept rows are gathered and each process takes its contiguous slice of the assembled
batch, so every process gets the same number of rows (TRL's gathers in the loss need that). When a
partial batch's row count is not a multiple of ``num_processes * steps_per_generation``, dropped
groups with their advantages set to 0 are added as filler until it is (logged as
``dynamic_sampling/filler_groups``; never needed on one process with ``steps_per_generation``
dividing G times the kept groups).

**Empty batch.** If no group is informative after all rounds, the update takes no optimizer step:
round 0's batch is passed on with its advantages set to exactly 0, every gradient is dropped by an
optimizer step pre-hook before AdamW's step (so neither the weights nor Adam's moments move; a
zero-gradient step would still move them through the momentum), and on one process with
``beta=0`` the forward and backward pass are skipped. Such updates are counted (``empty_updates``,
``dynamic_sampling/empty_batch``).

**Metrics**, one value per generation batch in ``self._metrics["train"]`` (so they reach
``trainer.state.log_history`` and the Trainer's loggers, averaged over each logging window):
``dynamic_sampling/kept_fraction`` (kept groups / sampled groups), ``dynamic_sampling/rounds``,
``dynamic_sampling/kept_groups``, ``dynamic_sampling/sampled_groups``,
``dynamic_sampling/empty_batch`` (1.0 when nothing was kept) and ``dynamic_sampling/filler_groups``.
TRL's own metrics (``reward``, ``frac_reward_zero_std``, completion lengths, ``num_tokens``) get one
value per round. Running totals on the trainer, for budget accounting: ``generated_tokens``,
``sampled_groups``, ``kept_groups``, ``informative_updates``, ``empty_updates``,
``generation_batches`` (counted with dynamic sampling off too).

Limits: text only (multimodal inputs raise NotImplementedError); ``train_dataset`` must be map-style
(an ``IterableDataset`` cannot be drawn from); rows with equal ``prompt`` values count as one prompt.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from accelerate.utils import gather_object
from datasets import IterableDataset
from trl import GRPOConfig, GRPOTrainer
from trl.trainer.utils import get_config_model_id, nanstd

__all__ = [
    "DynamicSamplingConfig",
    "DynamicSamplingGRPOTrainer",
    "group_reward_std",
    "prompt_key",
    "refill_prompt_count",
]

#: Keys of TRL's output that are left-padded prompt tensors, with their padding value (None: the pad token).
_PROMPT_KEYS: dict[str, float | None] = {"prompt_ids": None, "prompt_mask": 0}
#: Keys of TRL's output that are right-padded completion tensors, with their padding value as TRL pads them.
_COMPLETION_KEYS: dict[str, float | None] = {
    "completion_ids": None,
    "completion_mask": 0,
    "old_per_token_logps": 0.0,
    "sampling_per_token_logps": 0.0,
    "ref_per_token_logps": 0.0,
    "importance_sampling_ratio": 1.0,
    "tool_mask": 1,
}
#: Keys with one value per row.
_ROW_KEYS = ("advantages",)


@dataclass
class DynamicSamplingConfig(GRPOConfig):
    r"""`GRPOConfig` plus dynamic sampling (SRL, arXiv:2510.25992; DAPO, arXiv:2503.14476).

    Parameters:
        dynamic_sampling (`bool`, *optional*, defaults to `True`):
            Drop the prompt groups whose reward std is <= `std_epsilon` and refill the batch with
            prompts not yet tried in this generation batch. `False` trains exactly as `GRPOTrainer`.
        std_epsilon (`float`, *optional*, defaults to `1e-4`):
            A group is kept only if the sample std (Bessel-corrected) of its weighted rewards exceeds this.
        max_sampling_rounds (`int`, *optional*, defaults to `4`):
            Rounds per generation batch: the first one plus at most `max_sampling_rounds - 1` refills.
    """

    dynamic_sampling: bool = field(
        default=True,
        metadata={
            "help": "Drop the prompt groups whose reward std is <= `std_epsilon` (they have zero advantage) and "
            "refill the batch with prompts not yet tried in this generation batch. If `False`, the trainer behaves "
            "exactly as `GRPOTrainer`."
        },
    )
    std_epsilon: float = field(
        default=1e-4,
        metadata={
            "help": "A prompt group is kept only if the sample standard deviation (Bessel-corrected, as TRL's "
            "`nanstd`) of its weighted rewards is strictly greater than this value."
        },
    )
    max_sampling_rounds: int = field(
        default=4,
        metadata={
            "help": "Maximum number of sampling rounds per generation batch: the first round plus at most "
            "`max_sampling_rounds - 1` refill rounds. `1` only drops the uninformative groups, without refilling."
        },
    )

    def __post_init__(self) -> None:
        if not isinstance(self.max_sampling_rounds, int) or isinstance(self.max_sampling_rounds, bool):
            raise ValueError(f"max_sampling_rounds must be an integer >= 1, got {self.max_sampling_rounds!r}")
        if self.max_sampling_rounds < 1:
            raise ValueError(
                f"max_sampling_rounds must be >= 1 (the first round counts), got {self.max_sampling_rounds}"
            )
        if not math.isfinite(float(self.std_epsilon)) or self.std_epsilon < 0:
            raise ValueError(f"std_epsilon must be a finite number >= 0, got {self.std_epsilon!r}")
        super().__post_init__()


# ---------------------------------------------------------------------- pure helpers
def group_reward_std(
    rewards_per_func: torch.Tensor, reward_weights: torch.Tensor, num_generations: int
) -> torch.Tensor:
    """Each group's reward std, as TRL computes it for ``frac_reward_zero_std``.

    ``rewards_per_func`` is ``[B, F]`` (B = groups x G, consecutive rows per group, NaN where a
    function returned None). The reward of a row is the weighted ``nansum`` over functions, NaN when
    every function returned None; the std is TRL's ``nanstd`` (Bessel-corrected, NaN rows ignored;
    NaN when fewer than two rows of a group are scorable, which never passes ``std > epsilon``).
    Returns ``[B // G]``.
    """
    weights = reward_weights.to(device=rewards_per_func.device, dtype=rewards_per_func.dtype)
    rewards = (rewards_per_func * weights.unsqueeze(0)).nansum(dim=1)
    rewards[torch.isnan(rewards_per_func).all(dim=1)] = torch.nan
    return nanstd(rewards.view(-1, num_generations), dim=1)


def refill_prompt_count(missing: int, num_generations: int, num_processes: int, available: int) -> int:
    """How many prompts a refill round draws.

    At least ``missing`` when enough untried prompts are ``available``, rounded up so that the round's
    ``prompts * num_generations`` rows split evenly over ``num_processes``; otherwise as many of the
    available ones as split evenly (possibly 0: then no round is run).
    """
    if missing <= 0 or available <= 0:
        return 0
    step = num_processes // math.gcd(num_generations, num_processes)
    wanted = -(-missing // step) * step
    return wanted if wanted <= available else (available // step) * step


def prompt_key(row: dict[str, Any]) -> str:
    """A stable text key of a dataset row's ``prompt`` (the whole row when it has none)."""
    value = row["prompt"] if "prompt" in row else row
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=repr)


def _pad_width(tensor: torch.Tensor, width: int, value: float, left: bool) -> torch.Tensor:
    """Pad ``[B, W]`` to ``[B, width]`` on the left or the right with ``value``."""
    extra = width - tensor.size(1)
    if extra <= 0:
        return tensor
    filler = torch.full((tensor.size(0), extra), value, dtype=tensor.dtype, device=tensor.device)
    return torch.cat([filler, tensor] if left else [tensor, filler], dim=1)


# ---------------------------------------------------------------------- the trainer
class DynamicSamplingGRPOTrainer(GRPOTrainer):
    """`GRPOTrainer` with dynamic sampling: groups whose rewards do not vary are dropped and refilled.

    Takes the arguments of `GRPOTrainer`; ``args`` must be a `DynamicSamplingConfig` (None builds
    one as TRL builds its default `GRPOConfig`). See the module docstring for the algorithm.

    Per generation batch (``steps_per_generation`` optimizer micro-batches, in training only):

    1. Round 0: TRL's ``_generate_and_score_completions`` on the sampler's batch, unchanged.
    2. Keep the groups whose weighted reward std (TRL's ``nanstd``) is > ``std_epsilon``.
    3. While fewer groups are kept than the batch had and rounds < ``max_sampling_rounds``: draw
       the missing number of prompts (rounded up so the rows split evenly over the processes) from
       ``train_dataset`` among the rows whose ``prompt`` was not tried yet in this generation batch,
       with a NumPy generator seeded from ``(args.seed, state.global_step, micro-step, round)`` (the
       same on every process), repeat each G times, give each process its contiguous slice and run
       TRL's method on it. Stop early when no untried prompt is left.
    4. Assemble round 0's kept groups, then each refill's, at most as many groups as the batch had,
       into one batch: prompts left-padded, completion tensors right-padded to a common width,
       TRL's advantages, ``num_items_in_batch`` recomputed (TRL's value is global: gathered over the
       processes). Round 0 is returned as it is when all its groups were kept.
    5. No informative group at all: round 0's batch is returned with advantages set to exactly 0,
       and the update takes **no optimizer step**: every gradient is dropped before AdamW's step
       (a step pre-hook), so neither the weights nor Adam's state move (a zero-gradient step would
       still move them through the momentum). On one process with ``beta=0`` the forward and
       backward pass are skipped too. Such updates are counted in ``empty_updates`` and logged as
       ``dynamic_sampling/empty_batch`` = 1.

    Evaluation (``model.training`` False) is TRL's, untouched. With ``dynamic_sampling=False`` the
    batches are TRL's; only the running totals below are kept.

    Attributes (plain Python running totals, summed over every process):
        generated_tokens: completion tokens sampled in training, every round included (the sum of
            the ``completion_mask`` TRL builds, before ``mask_truncated_completions`` zeroes rows).
        sampled_groups: prompt groups generated in training, every round included.
        kept_groups: informative groups trained on.
        informative_updates: generation batches with at least one informative group.
        empty_updates: generation batches with none (no optimizer step).
        generation_batches: generation batches produced in training.
    """

    def __init__(
        self,
        model: Any,
        reward_funcs: Any = None,
        args: DynamicSamplingConfig | None = None,
        train_dataset: Any = None,
        **kwargs: Any,
    ) -> None:
        if args is None:
            model_name = model if isinstance(model, str) else get_config_model_id(model.config)
            args = DynamicSamplingConfig(f"{model_name.split('/')[-1]}-GRPO")
        if not isinstance(args, DynamicSamplingConfig):
            raise TypeError(
                f"DynamicSamplingGRPOTrainer needs a DynamicSamplingConfig, got {type(args).__name__}: build the "
                "config with DynamicSamplingConfig(...) (it takes every GRPOConfig argument)"
            )
        if args.dynamic_sampling and isinstance(train_dataset, IterableDataset):
            raise NotImplementedError(
                "dynamic sampling draws refill prompts from train_dataset by index, which an IterableDataset "
                "cannot do: pass a map-style datasets.Dataset, or set dynamic_sampling=False"
            )
        # Running totals (see the class docstring) and the state shared between the overrides.
        self.generated_tokens = 0
        self.trained_tokens = 0  # prompt + completion tokens of the batches trained on (all processes)
        self.sampled_groups = 0
        self.kept_groups = 0
        self.informative_updates = 0
        self.empty_updates = 0
        self._empty_batch = False  # the current generation batch has no informative group: no optimizer step
        self.generation_batches = 0
        self._ds_rewards_per_func: torch.Tensor | None = None
        self._ds_local_tokens = 0
        self._ds_prompt_index: tuple[int, dict[str, int]] | None = None
        super().__init__(model, reward_funcs, args=args, train_dataset=train_dataset, **kwargs)
        if args.dynamic_sampling and (
            self.scale_rewards == "batch" or self.multi_objective_aggregation == "normalize_then_sum"
        ):
            warnings.warn(
                "dynamic sampling with scale_rewards='batch' or multi_objective_aggregation='normalize_then_sum': "
                "TRL normalises advantages over each round's whole batch, so an assembled batch mixes rounds "
                "normalised separately (groups themselves stay intact)",
                stacklevel=2,
            )

    # ------------------------------------------------------------------ TRL overrides
    def _calculate_rewards(
        self, inputs: list[dict[str, Any]], prompts: list[Any], completions: list[Any], completion_ids_list: list[Any]
    ) -> torch.Tensor:
        """TRL's rewards (gathered over processes), kept for the keep decision; counts the local completion tokens."""
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        self._ds_rewards_per_func = rewards_per_func
        self._ds_local_tokens = sum(len(ids) for ids in completion_ids_list)
        return rewards_per_func

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        if not self.model.training:
            return super()._generate_and_score_completions(inputs)
        if not self.args.dynamic_sampling:
            output, group_std = self._score_round(inputs)
            informative = int((group_std > self.args.std_epsilon).sum().item())
            self._count_batch(sampled=group_std.numel(), kept=informative)
        else:
            output = self._dynamically_sampled_batch(inputs)
        if not self._empty_batch:  # an empty batch is never trained on (no optimizer step)
            local = output["prompt_mask"].sum() + output["completion_mask"].sum()
            tokens = torch.tensor([int(local.item())], dtype=torch.long, device=self.accelerator.device)
            self.trained_tokens += int(self.accelerator.gather(tokens).sum().item())
        return output

    # ------------------------------------------------------------------ the rounds
    def _score_round(self, inputs: list[dict[str, Any]]) -> tuple[dict[str, Any], torch.Tensor]:
        """One call of TRL's ``_generate_and_score_completions``; returns its output and each group's reward std."""
        self._ds_rewards_per_func = None
        self._ds_local_tokens = 0
        output = super()._generate_and_score_completions(inputs)
        if self._ds_rewards_per_func is None:
            raise RuntimeError("GRPOTrainer._generate_and_score_completions did not call _calculate_rewards")
        tokens = torch.tensor([self._ds_local_tokens], dtype=torch.long, device=self.accelerator.device)
        self.generated_tokens += int(self.accelerator.gather(tokens).sum().item())
        group_std = group_reward_std(self._ds_rewards_per_func, self.reward_weights, self.num_generations)
        return output, group_std

    def _count_batch(self, sampled: int, kept: int) -> None:
        self.generation_batches += 1
        self.sampled_groups += sampled
        self.kept_groups += kept
        if kept > 0:
            self.informative_updates += 1
        else:
            self.empty_updates += 1
        # Decided from gathered rewards, so the same on every process.
        self._empty_batch = bool(self.args.dynamic_sampling and kept == 0)

    # ------------------------------------------------------------------ an update with nothing to learn
    def create_optimizer(self, *args: Any, **kwargs: Any) -> Any:
        optimizer = super().create_optimizer(*args, **kwargs)
        optimizer.register_step_pre_hook(self._no_step_without_informative_groups)
        return optimizer

    def _no_step_without_informative_groups(self, optimizer: Any, *_: Any) -> None:
        """Before the optimizer step of an empty batch: drop every gradient, so AdamW leaves weights and state alone.

        The paper's dynamic sampling never trains on a batch without an informative group (it keeps
        sampling); when the rounds run out with none, this update takes no optimizer step at all
        (not a zero-gradient step, through which Adam's momentum would still move the weights).
        """
        if self._empty_batch:
            for group in optimizer.param_groups:
                for param in group["params"]:
                    param.grad = None

    def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: Any = None) -> torch.Tensor:  # fmt: skip
        # Nothing to learn (every advantage 0, no KL term) and no other process to keep in step with
        # (DDP needs the forward pass): skip the forward and backward; the step is dropped anyway.
        if self._empty_batch and self.beta == 0.0 and self.accelerator.num_processes == 1 and not return_outputs:
            return torch.zeros((), device=self.accelerator.device, requires_grad=True)
        return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

    def _prompt_index(self) -> dict[str, int]:
        """``prompt key -> first dataset index`` over ``train_dataset`` (cached; the same on every process)."""
        dataset = self.train_dataset
        if self._ds_prompt_index is not None and self._ds_prompt_index[0] == id(dataset):
            return self._ds_prompt_index[1]
        names = getattr(dataset, "column_names", None)
        if names is not None and "prompt" in names:
            keys = (prompt_key({"prompt": value}) for value in dataset["prompt"])
        else:
            keys = (prompt_key(dataset[i]) for i in range(len(dataset)))
        index: dict[str, int] = {}
        for i, key in enumerate(keys):
            index.setdefault(key, i)
        self._ds_prompt_index = (id(dataset), index)
        return index

    def _draw_refill(self, missing: int, tried: set[str], round_index: int) -> list[tuple[int, str]]:
        """``(dataset index, prompt key)`` of the prompts a refill round generates for.

        Untried in this generation batch, distinct, and the same on every process.
        """
        untried = [(i, key) for key, i in self._prompt_index().items() if key not in tried]
        count = refill_prompt_count(missing, self.num_generations, self.accelerator.num_processes, len(untried))
        if count == 0:
            return []
        seed = [int(self.args.seed) % 2**32, int(self.state.global_step), int(self._step), round_index]
        chosen = np.random.default_rng(seed).choice(len(untried), size=count, replace=False)
        return [untried[int(j)] for j in chosen]

    def _dynamically_sampled_batch(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        if inputs and ("image" in inputs[0] or "images" in inputs[0]):
            raise NotImplementedError("dynamic sampling supports text prompts only (the batch has image columns)")
        num_generations = self.num_generations
        num_processes = self.accelerator.num_processes
        epsilon = self.args.std_epsilon
        columns = list(inputs[0].keys())
        global_keys = gather_object([prompt_key(row) for row in inputs])  # before TRL mutates the rows
        num_groups = len(global_keys) // num_generations
        tried = set(global_keys)

        output, group_std = self._score_round(inputs)
        self._check_text_only(output)
        outputs = [output]
        keeps = [(group_std > epsilon).tolist()]
        informative = sum(keeps[0])
        rounds = 1
        while informative < num_groups and rounds < self.args.max_sampling_rounds:
            drawn = self._draw_refill(num_groups - informative, tried, rounds)
            if not drawn:
                break
            tried.update(key for _, key in drawn)
            rows = [i for i, _ in drawn for _ in range(num_generations)]
            per_process = len(rows) // num_processes
            start = self.accelerator.process_index * per_process
            local = [self._dataset_row(i, columns) for i in rows[start : start + per_process]]
            output, group_std = self._score_round(local)
            outputs.append(output)
            keeps.append((group_std > epsilon).tolist())
            informative += sum(keeps[-1])
            rounds += 1

        sampled = sum(len(keep) for keep in keeps)
        kept = [(r, g) for r, keep in enumerate(keeps) for g, k in enumerate(keep) if k][:num_groups]
        fillers: list[tuple[int, int]] = []
        if 0 < len(kept) < num_groups:
            unit = num_processes * self.args.steps_per_generation
            unit //= math.gcd(unit, num_generations)  # groups per slot: rows = groups * G split over processes x steps
            total = -(-len(kept) // unit) * unit
            dropped = [(r, g) for r, keep in enumerate(keeps) for g, k in enumerate(keep) if not k]
            fillers = dropped[: total - len(kept)]
            if len(kept) + len(fillers) != total:  # cannot happen: the batch itself is a multiple of `unit`
                raise RuntimeError("dynamic sampling could not align the batch with the processes and steps")

        mode = "train"
        metrics = self._metrics[mode]
        metrics["dynamic_sampling/kept_fraction"].append(len(kept) / sampled)
        metrics["dynamic_sampling/rounds"].append(float(rounds))
        metrics["dynamic_sampling/kept_groups"].append(float(len(kept)))
        metrics["dynamic_sampling/sampled_groups"].append(float(sampled))
        metrics["dynamic_sampling/empty_batch"].append(1.0 if not kept else 0.0)
        metrics["dynamic_sampling/filler_groups"].append(float(len(fillers)))
        self._count_batch(sampled=sampled, kept=len(kept))

        first = outputs[0]
        if not kept:
            return {**first, "advantages": torch.zeros_like(first["advantages"])}
        if len(kept) == num_groups and all(r == 0 for r, _ in kept):
            return first
        return self._assemble(outputs, kept + fillers, zero_from=len(kept))

    def _dataset_row(self, index: int, columns: list[str]) -> dict[str, Any]:
        """Row ``index`` of ``train_dataset`` with the columns the sampler's rows had."""
        row = self.train_dataset[int(index)]
        return {column: row[column] for column in columns}

    def _check_text_only(self, output: dict[str, Any]) -> None:
        known = {*_PROMPT_KEYS, *_COMPLETION_KEYS, *_ROW_KEYS, "num_items_in_batch"}
        unknown = sorted(key for key in output if key not in known)
        if unknown:
            raise NotImplementedError(
                f"dynamic sampling assembles text-only batches; TRL returned {unknown} (multimodal or unknown "
                "fields), which it cannot pad and merge across rounds"
            )

    # ------------------------------------------------------------------ assembly
    def _global(self, tensor: torch.Tensor, value: float, left: bool) -> torch.Tensor:
        """Every process's rows of ``tensor``, in process order (padded to a common width first)."""
        if tensor.dim() > 1:
            tensor = self.accelerator.pad_across_processes(tensor, dim=1, pad_index=value, pad_first=left)
        return self.accelerator.gather(tensor)

    def _assemble(self, outputs: list[dict[str, Any]], groups: list[tuple[int, int]], zero_from: int) -> dict[str, Any]:
        """This process's slice of the batch made of ``groups`` (``(round, group)`` pairs, global numbering).

        Advantages are set to 0 from the ``zero_from``-th group on (the fillers).
        """
        num_generations = self.num_generations
        pad_id = self._tokenizer.pad_token_id
        first = outputs[0]
        used_rounds = sorted({r for r, _ in groups})
        if any(outputs[r].keys() != first.keys() for r in used_rounds):
            raise RuntimeError("TRL returned different fields in different sampling rounds")
        # Each used round contributes its selected global rows (in selection order); `order` indexes their
        # concatenation (rounds in `used_rounds` order) in batch order.
        rows_of: dict[int, list[int]] = {r: [] for r in used_rounds}
        positions: list[tuple[int, int]] = []
        for r, g in groups:
            for row in range(g * num_generations, (g + 1) * num_generations):
                positions.append((r, len(rows_of[r])))
                rows_of[r].append(row)
        offsets, total = {}, 0
        for r in used_rounds:
            offsets[r], total = total, total + len(rows_of[r])
        order = [offsets[r] + p for r, p in positions]

        assembled: dict[str, Any] = {}
        for key, value in first.items():
            if key == "num_items_in_batch":
                assembled[key] = None  # recomputed below; the placeholder keeps TRL's key order
                continue
            left = key in _PROMPT_KEYS
            pad_value = {**_PROMPT_KEYS, **_COMPLETION_KEYS}.get(key, 0.0)
            pad_value = pad_id if pad_value is None else pad_value
            selected = []
            for r in used_rounds:
                tensor = self._global(outputs[r][key], pad_value, left)
                selected.append(tensor.index_select(0, torch.tensor(rows_of[r], device=tensor.device)))
            if value.dim() > 1:
                width = max(t.size(1) for t in selected)
                sequence_level = key == "importance_sampling_ratio" and width == 1
                if self.pad_to_multiple_of is not None and not sequence_level:
                    width = -(-width // self.pad_to_multiple_of) * self.pad_to_multiple_of
                selected = [_pad_width(t, width, pad_value, left) for t in selected]
            merged = torch.cat(selected, dim=0)
            assembled[key] = merged.index_select(0, torch.tensor(order, device=merged.device))

        assembled["advantages"][zero_from * num_generations :] = 0
        loss_mask = assembled["completion_mask"]
        if "tool_mask" in assembled:
            loss_mask = loss_mask * assembled["tool_mask"]
        num_items = loss_mask.sum()  # the assembled batch is global here, as TRL's gathered count is
        reference = first["num_items_in_batch"]
        if isinstance(reference, torch.Tensor):
            num_items = num_items.to(dtype=reference.dtype, device=reference.device)

        per_process = len(order) // self.accelerator.num_processes
        start = self.accelerator.process_index * per_process
        return {
            key: num_items if key == "num_items_in_batch" else tensor[start : start + per_process]
            for key, tensor in assembled.items()
        }
