"""What the language-model algorithms (sft, srl, rlvr, srl-rlvr) share: options, data, held-out evaluation.

- `LMArgs`: the options every LM trainer has (model, task, problems, lengths, evaluation).
- `load_for_training`: the start model and tokenizer (`srl_gym.agents.models.load_model`), in
  float32 (the Trainer runs bf16 autocast on a GPU).
- `task_rows`: the task's `srl_gym.datasets` rows for this run.
- `evaluate_lm_run`: the held-out evaluation a trainer logs as ``eval/...`` (metric names from
  `srl_gym.metrics`).
- `cell_options`, `solution_tokens`, `step_tokens`: how a comparison cell sets these options.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from srl_gym import metrics as M
from srl_gym.algorithms import Cell
from srl_gym.episodes import env_options, make_text_env, solution_examples, step_instances
from srl_gym.runs import RunArgs


@dataclass
class LMArgs(RunArgs):
    """Options shared by the language-model trainers."""

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
    max_length: int = field(default=2048, metadata={"help": "longest prompt + completion in tokens"})
    max_new_tokens: int = field(default=64, metadata={"help": "longest completion (monologue and answer)"})
    eval_every: int = field(default=0, metadata={"help": "evaluate every N updates (0: before and after only)"})
    eval_before: bool = field(default=True, metadata={"help": "evaluate the starting model first"})
    eval_after: bool = field(default=True, metadata={"help": "evaluate the final model"})
    activation_checkpointing: bool = field(
        default=False, metadata={"help": "recompute activations in the backward pass (saves memory, costs time)"}
    )
    save_training_state: bool = field(
        default=True, metadata={"help": "keep optimizer, scheduler and RNG states in checkpoints (needed to resume)"}
    )
    expert_noise: float = field(
        default=0.0,
        metadata={"help": "a flawed expert on purpose: p of a legal wrong step per step of the expert trajectories "
                  "trained on (the oracle re-plans after it; 0: the oracle; held-out problems and rewards stay clean)"},
    )  # fmt: skip

    def validate(self) -> None:
        super().validate()
        for name in ("train_seeds", "eval_episodes", "max_length", "max_new_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.expert_noise:  # the env says why it cannot (a task without legal wrong steps, ...)
            make_text_env(self.env_id, **_extra(self), **training_noise(self))
        if self.eval_every < 0:
            raise ValueError(f"eval_every must be >= 0, got {self.eval_every}")
        from .models import check_model_name

        check_model_name(self.model)  # a missing model directory: an error before anything is written
        env = make_text_env(self.env_id, **_extra(self))  # unknown ids and envs without an expert
        if not 0 <= self.difficulty < len(env.task.levels):
            raise ValueError(f"difficulty {self.difficulty} is not a level of {self.env_id} "
                             f"(0..{len(env.task.levels) - 1})")  # fmt: skip


def _extra(args: Any) -> dict[str, Any]:
    return {k: v for k, v in env_options(args).items() if k != "difficulty"}


def training_noise(args: Any) -> dict[str, float]:
    """The env option that makes the training data's expert flawed (none when ``expert_noise`` is 0)."""
    noise = float(getattr(args, "expert_noise", 0.0) or 0.0)
    return {"expert_noise": noise} if noise else {}


def load_for_training(args: LMArgs) -> tuple[Any, Any]:
    """The start model (float32 weights) and its tokenizer; the Trainer places them on the device."""
    import torch

    from .models import load_model

    return load_model(args.model, "cpu", dtype=torch.float32, seed=args.seed)


def task_rows(args: LMArgs, tokenizer: Any, kind: str, *, split: str = "train") -> Any:
    """The run's `srl_gym.datasets` rows: ``kind`` ``"solution"`` (whole problems) or ``"step"`` (SRL instances)."""
    from srl_gym.datasets import solution_dataset, step_dataset

    build = {"solution": solution_dataset, "step": step_dataset}[kind]
    noise = training_noise(args) if split == "train" else {}  # a flawed expert for training rows only
    return build(args.env_id, args.train_seeds, split=split, difficulty=args.difficulty, tokenizer=tokenizer,
                 **_extra(args), **noise)  # fmt: skip


def check_lengths(tokenizer: Any, data: Any, max_length: int, reserve: int = 0) -> None:
    """A clear error when a prompt (+ completion, + ``reserve`` new tokens) does not fit ``max_length`` tokens."""
    from srl_gym.datasets import is_conversational

    longest = 0
    for row in data:
        prompt = row["prompt"]
        text = (
            tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
            if is_conversational(tokenizer)
            else prompt
        )
        completion = row.get("completion")
        if isinstance(completion, list):
            completion = completion[-1]["content"]
        longest = max(longest, len(tokenizer(text + (completion or ""), add_special_tokens=False)["input_ids"]) + 1)
    if longest + reserve > max_length:
        raise ValueError(
            f"an example of {longest} tokens (+ {reserve} new) does not fit max_length={max_length}; "
            "raise --max-length (up to the model's context), lower --max-new-tokens or pick an easier difficulty"
        )


def evaluate_lm_run(args: LMArgs, tokenizer: Any, modes: Sequence[str]) -> Callable[[Any], dict[str, float]]:
    """The held-out evaluation of a trainer: ``evaluate(model) -> {metric: value}`` on the test split.

    ``modes``: ``"solution"`` (greedy whole solutions checked by the verifier: ``greedy_success``,
    ``format_rate``), ``"step"`` (greedy next steps of held-out instances: ``step_similarity``,
    ``step_reward``, ``exact_match``, ``step_format_rate``), ``"agent"`` (the model plays the env
    step by step: ``agent_success``, ``valid_fraction`` and, without ``"step"``, its own episodes'
    ``step_similarity``).
    """
    import srl_gym.evaluation

    from .lm_agent import LMAgent, evaluate_solutions, evaluate_steps

    options = env_options(args)
    held_out = range(args.eval_episodes)

    @functools.cache
    def problems(mode: str) -> list[Any]:  # built at the first evaluation: a run without one needs no test split
        build = {"solution": solution_examples, "step": step_instances}[mode]
        return build(args.env_id, held_out, split="test", **options)

    def evaluate(model: Any) -> dict[str, float]:
        agent = LMAgent(model, tokenizer, max_new_tokens=args.max_new_tokens, max_length=args.max_length)
        out: dict[str, float] = {}
        if "solution" in modes:
            out |= evaluate_solutions(agent, problems("solution"))
        if "step" in modes:
            out |= evaluate_steps(agent, problems("step"))
        if "agent" in modes:
            result = srl_gym.evaluation.evaluate(
                agent, args.env_id, args.eval_episodes, split="test", batch_size=64, **options
            )
            out |= {M.AGENT_SUCCESS: result.success_rate, M.VALID_FRACTION: result.valid_fraction}
            if "step" not in modes:  # the teacher-forced one, when measured, keeps the name
                out[M.STEP_SIMILARITY] = result.mean_step_similarity
        return out

    return evaluate


# ---------------------------------------------------------------------- comparison cells
def cell_options(cell: Cell, updates: int | None = None) -> dict[str, Any]:
    """Options every LM algorithm's cell shares: the start, the hard problems, seeding, checkpoints.

    ``updates``: the run's own number of updates when it is not the comparison's ``updates`` (the positive
    control's ``control_updates``), so that it too saves ``curve_points`` checkpoints, the last at its end.
    """
    config = cell.config
    return {
        "model": cell.base_dir,
        "env_id": cell.task,
        "difficulty": config.train_difficulty,
        "train_seeds": config.train_problems,
        "seed": cell.seed,
        "device": config.device,
        "eval_episodes": 1,
        "eval_before": False,
        "eval_after": False,
        "checkpoint_every": max(1, math.ceil((updates or config.updates) / config.curve_points)),
        "keep_checkpoints": 10**6,
        "tensorboard": False,
        "progress": False,
        "force": True,
        "save_training_state": False,  # a cell is never resumed (an interrupted cell starts over)
        "max_length": config.max_length,
        "expert_noise": cell.expert_noise,
    }


def grpo_cell_options(cell: Cell) -> dict[str, Any]:
    """The comparison's GRPO settings (batch, group, dynamic sampling)."""
    config = cell.config
    return {
        "prompts_per_update": config.prompts_per_update,
        "group_size": config.group_size,
        "max_sampling_rounds": config.max_sampling_rounds,
        "micro_batch_size": config.micro_batch_size,
    }


def token_budget(tokenizer: Any, texts: Sequence[str], cap: int, slack: float = 1.5, extra: int = 16) -> int:
    """A max_new_tokens for completions like ``texts``: the longest one's tokens x ``slack`` + ``extra`` (<= ``cap``).

    Every algorithm gets the same limit, which scales with the task and the tokenizer (characters
    for the tiny models, sub-words for SmolLM2), so long tasks are not truncated and short ones
    do not waste generation.
    """
    longest = max(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)
    return min(cap, math.ceil(longest * slack) + extra)


def solution_tokens(cell: Cell, difficulty: int | None = None) -> int:
    """max_new_tokens of whole solutions for the cell's hard problems (or its training problems at ``difficulty``)."""
    c = cell.config
    level = c.train_difficulty if difficulty is None else difficulty
    return _token_lengths(cell.base_dir, cell.task, c.train_problems, level, c.max_new_tokens_cap)[0]


def step_tokens(cell: Cell) -> int:
    """max_new_tokens of single steps for the cell's hard problems."""
    c = cell.config
    return _token_lengths(cell.base_dir, cell.task, c.train_problems, c.train_difficulty, c.max_new_tokens_cap)[1]


@functools.lru_cache(maxsize=16)  # the same base and problems for every algorithm and seed
def _token_lengths(model_dir: str, task: str, problems: int, difficulty: int, cap: int) -> tuple[int, int]:
    from transformers import AutoTokenizer

    from srl_gym.prompts import step_target

    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)  # counting needs no weights
    examples = solution_examples(task, range(problems), difficulty=difficulty)
    solution = token_budget(tokenizer, [e.target for e in examples], cap)
    steps = [step_target(s) for e in examples for s in e.steps]
    return solution, token_budget(tokenizer, steps, cap)
