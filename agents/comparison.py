"""The algorithms of `srl-gym compare`: how each trains one cell from the shared start, and how cells are measured.

`srl_gym.compare` owns the grid (models x tasks x algorithms x seeds), the output folder and the
report; this module is the part that touches torch and Stable-Baselines3. Every algorithm is an
entry of `ALGORITHMS`: a function ``train(ctx) -> Trained`` that runs one of the existing
trainers (`sft`, `srl`, `rlvr`, `srl_rlvr`, `bc`, `ppo`) in the cell's run folder and returns its
checkpoints, plus the kind of agent it makes (``"lm"`` or ``"discrete"``). Adding an algorithm to
the comparison is one function and one entry.

Language-model protocol (the SRL paper's setting, arXiv:2510.25992):

- **Base** (`prepare_base`): the start model (``"tiny"``, ``"tiny-large"``, ``"smollm2-135m"`` or
  a local directory) after a short SFT warm-up on EASY problems (``warmup_difficulty``) in both
  prompt formats, so it follows the ``<think>...</think>`` format that the SRL reward requires.
  One base per (model, task), shared by every algorithm and seed.
- **Training data**: ``train_problems`` HARD problems (``train_difficulty``, train split) with
  their expert trajectories.
- **Budget**: every algorithm makes ``updates`` optimiser updates from the base (SRL -> RLVR:
  half SRL, half RLVR); the generated and trained tokens are counted and reported.
- **Evaluation** (`evaluate_lm`) on test-split problems at the training difficulty and one level
  harder: greedy whole-solution success (the task's verifier), avg@k success of ``eval_samples``
  solutions sampled at temperature ``eval_temperature``, and the mean similarity of greedy
  next steps to the expert's (teacher-forced, the SRL reward's measure, no format rule).

Discrete protocol (Stable-Baselines3, the same three regimes): ``random`` (the untrained
reference: a uniformly random legal move), ``bc`` (behaviour cloning with DAgger: the SFT
analogue), ``ppo-srl`` (MaskablePPO with the dense expert-matching reward: the SRL analogue) and
``ppo-outcome`` (the sparse outcome reward: the RLVR analogue). Evaluation (`evaluate_discrete`):
greedy success, avg@k of the sampling policy and the on-policy mean step similarity. A policy
network cannot be evaluated one level harder when that level's observation or action space has
another shape (Hanoi adds a disk to the observation): those entries are ``None``.
"""

from __future__ import annotations

import functools
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from srl_gym.runs import derived_seed, read_json_lines, write_json_atomic

CHECKPOINT_GLOB = "checkpoints/update-*"


@dataclass
class Context:
    """What one cell's training needs: its identity, the comparison's settings, its folders."""

    model: str  # the LM name/dir (``"mlp"`` for discrete agents)
    task: str  # a registered env id
    algo: str
    seed: int
    config: Any  # srl_gym.compare.CompareConfig
    run_dir: Path  # the cell's own folder for trainer runs (empty at the start)
    base_dir: str | None = None  # the warmed-up base model directory (LM cells)


@dataclass
class Trained:
    """A trained cell: its checkpoints in training order (budget spent, model path) and the budget it used.

    ``budget`` holds ``updates``, ``gradient_updates`` and ``generated_tokens``/``trained_tokens`` (LM) or
    ``env_steps``/``expert_labels`` (discrete), and ``train_seconds``.
    """

    checkpoints: list[tuple[int, str]]
    budget: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Algorithm:
    """One entry of the comparison: the kind of agent (``"lm"`` / ``"discrete"``), how to train it, a line of help."""

    kind: str
    train: Callable[[Context], Trained]
    help: str


# ---------------------------------------------------------------------- token budgets
def token_budget(tokenizer: Any, texts: Sequence[str], cap: int, slack: float = 1.5, extra: int = 16) -> int:
    """A max_new_tokens for completions like ``texts``: the longest one's tokens x ``slack`` + ``extra`` (<= ``cap``).

    Every algorithm gets the same limit, which scales with the task and the tokenizer (characters
    for the tiny models, sub-words for SmolLM2), so long tasks are not truncated and short ones
    do not waste generation.
    """
    longest = max(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)
    return min(cap, math.ceil(longest * slack) + extra)


def _lengths(model_dir: str, config: Any, task: str) -> tuple[int, int]:
    """(solution, step) max_new_tokens for the hard training problems of ``task``, from their expert targets."""
    return _token_lengths(model_dir, task, config.train_problems, config.train_difficulty, config.max_new_tokens_cap)


@functools.lru_cache(maxsize=16)  # the same base and problems for every algorithm and seed
def _token_lengths(model_dir: str, task: str, problems: int, difficulty: int, cap: int) -> tuple[int, int]:
    from transformers import AutoTokenizer

    from srl_gym.episodes import solution_examples
    from srl_gym.prompts import step_target

    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)  # counting needs no weights
    examples = solution_examples(task, range(problems), difficulty=difficulty)
    solution = token_budget(tokenizer, [e.target for e in examples], cap)
    steps = [step_target(s) for e in examples for s in e.steps]
    return solution, token_budget(tokenizer, steps, cap)


# ---------------------------------------------------------------------- the base model
def prepare_base(model: str, task: str, config: Any, directory: Path) -> dict[str, Any]:
    """Warm ``model`` up on easy problems of ``task`` (SFT, both formats) in ``directory``; return its record.

    The record (``directory/base.json``, written last, so its presence means "done") holds the
    model directory, the warm-up's updates and tokens, and the base's greedy success and step
    similarity at the training difficulty (the learning curves' first point).
    """
    from . import sft

    record_path = directory / "base.json"
    if record_path.is_file():  # the model path is stored relative to ``directory``, so the folder can move
        record = json.loads(record_path.read_text(encoding="utf-8"))
        return record | {"model_dir": str(directory / record["model_dir"])}
    tick = time.perf_counter()
    args = sft.Args(
        run_dir=str(directory / "warmup"),
        env_id=task,
        difficulty=config.warmup_difficulty,
        model=model,
        mode="both",
        train_seeds=config.warmup_problems,
        epochs=10**6,  # bounded by max_updates
        max_updates=config.warmup_updates,
        batch_size=config.sft_batch_size,
        learning_rate=config.learning_rate("warmup", model),
        seed=config.base_seed,
        device=config.device,
        eval_before=False,
        eval_after=False,
        checkpoint_every=0,
        keep_checkpoints=1,
        tensorboard=False,
        progress=False,
        force=True,
    )
    metrics = sft.train(args)
    for state in (directory / "warmup").rglob("training_state.pt"):  # the optimiser: not needed again
        state.unlink()
    rows = _read_metrics(directory / "warmup")
    record = {
        "model": model,
        "task": task,
        "model_dir": metrics["model_dir"],
        "warmup_updates": metrics["updates"],
        "warmup_trained_tokens": sum(r.get("train/tokens", 0.0) for r in rows),
        "warmup_seconds": time.perf_counter() - tick,
    }
    # The curves' first point: the base at the training difficulty (greedy, so the same for every seed).
    record["curve_point"] = evaluate_lm(metrics["model_dir"], task, config.train_difficulty, config, seed=0, full=False)
    write_json_atomic(record_path, record | {"model_dir": os.path.relpath(record["model_dir"], directory)})
    return record


# ---------------------------------------------------------------------- language-model algorithms
def _lm_common(ctx: Context) -> dict[str, Any]:
    """Trainer options every LM algorithm shares: the start, the hard problems, seeding, checkpoints."""
    config = ctx.config
    return {
        "model": ctx.base_dir,
        "env_id": ctx.task,
        "difficulty": config.train_difficulty,
        "train_seeds": config.train_problems,
        "seed": ctx.seed,
        "device": config.device,
        "eval_before": False,
        "eval_after": False,
        "checkpoint_every": max(1, math.ceil(config.updates / config.curve_points)),
        "keep_checkpoints": 10**6,
        "tensorboard": False,
        "progress": False,
        "force": True,
        "max_length": config.max_length,
    }


def _grpo_options(ctx: Context) -> dict[str, Any]:
    config = ctx.config
    return {
        "prompts_per_update": config.prompts_per_update,
        "group_size": config.group_size,
        "max_sampling_rounds": config.max_sampling_rounds,
        "micro_batch_size": config.micro_batch_size,
    }


def _lm_budget(run_dirs: Sequence[Path], seconds: float) -> dict[str, float]:
    rows = [r for d in run_dirs for r in _read_metrics(d)]
    return {
        "updates": float(sum(1 for r in rows if "train/tokens" in r or "rollout/generated_tokens" in r)),
        # GRPO skips the gradient step of an update whose groups all had equal rewards (nothing to learn)
        "gradient_updates": float(sum(1 for r in rows if "train/tokens" in r)),
        "generated_tokens": float(sum(r.get("rollout/generated_tokens", 0.0) for r in rows)),
        "trained_tokens": float(sum(r.get("train/tokens", 0.0) for r in rows)),
        "train_seconds": seconds,
    }


def _checkpoints(run_dir: Path, offset: int = 0) -> list[tuple[int, str]]:
    found = []
    for path in sorted(run_dir.glob(CHECKPOINT_GLOB)):
        found.append((offset + int(path.name.split("-")[-1]), str(path / "model")))
    return found


def train_base(ctx: Context) -> Trained:
    """No training: the warmed-up base itself (the reference every algorithm starts from)."""
    budget = dict.fromkeys(("updates", "gradient_updates", "generated_tokens", "trained_tokens"), 0.0)
    return Trained([(0, ctx.base_dir)], budget)


def _run_trainer(ctx: Context, module: Any, name: str, **options: Any) -> Trained:
    """Train ``module`` (sft, srl, rlvr) from the base in ``ctx.run_dir / name``; return its checkpoints and budget."""
    tick = time.perf_counter()
    run = ctx.run_dir / name
    module.train(module.Args(run_dir=str(run), eval_episodes=1, **options, **_lm_common(ctx)))
    return Trained(_checkpoints(run), _lm_budget([run], time.perf_counter() - tick))


def train_sft(ctx: Context) -> Trained:
    """SFT: cross-entropy on the hard problems' whole expert solutions (the paper's SFT baseline)."""
    from . import sft

    config = ctx.config
    solution_tokens, _ = _lengths(ctx.base_dir, config, ctx.task)
    return _run_trainer(
        ctx, sft, "sft",
        mode="solution",
        epochs=10**6,  # bounded by max_updates
        max_updates=config.updates,
        batch_size=config.sft_batch_size,
        learning_rate=config.learning_rate("sft", ctx.model),
        max_new_tokens=solution_tokens,
    )  # fmt: skip


def train_srl(ctx: Context) -> Trained:
    """SRL: GRPO on the hard problems' step-wise instances with the step-similarity reward."""
    from . import srl

    _, step_tokens = _lengths(ctx.base_dir, ctx.config, ctx.task)
    return _run_trainer(
        ctx, srl, "srl",
        total_updates=ctx.config.updates,
        learning_rate=ctx.config.learning_rate("srl", ctx.model),
        max_new_tokens=step_tokens,
        **_grpo_options(ctx),
    )  # fmt: skip


def train_rlvr(ctx: Context) -> Trained:
    """RLVR: GRPO on the hard problems' whole solutions with the verifier's 0/1 reward."""
    from . import rlvr

    solution_tokens, _ = _lengths(ctx.base_dir, ctx.config, ctx.task)
    return _run_trainer(
        ctx, rlvr, "rlvr",
        total_updates=ctx.config.updates,
        learning_rate=ctx.config.learning_rate("rlvr", ctx.model),
        max_new_tokens=solution_tokens,
        **_grpo_options(ctx),
    )  # fmt: skip


def train_srl_rlvr(ctx: Context) -> Trained:
    """SRL -> RLVR: half the updates SRL, then half RLVR from the SRL model (the paper's best pipeline)."""
    from . import srl_rlvr

    config, tick = ctx.config, time.perf_counter()
    solution_tokens, step_tokens = _lengths(ctx.base_dir, config, ctx.task)
    first = config.updates // 2
    args = srl_rlvr.Args(
        run_dir=str(ctx.run_dir / "srl-rlvr"),
        total_updates=max(first, 1),
        rlvr_updates=max(config.updates - first, 1),
        learning_rate=config.learning_rate("srl", ctx.model),
        rlvr_learning_rate=config.learning_rate("rlvr", ctx.model),
        eval_episodes=1,
        max_new_tokens=step_tokens,
        rlvr_max_new_tokens=solution_tokens,
        **_grpo_options(ctx),
        **_lm_common(ctx),
    )
    srl_rlvr.train(args)
    stage1, stage2 = ctx.run_dir / "srl-rlvr" / "srl", ctx.run_dir / "srl-rlvr" / "rlvr"
    checkpoints = _checkpoints(stage1) + _checkpoints(stage2, offset=max(first, 1))
    return Trained(checkpoints, _lm_budget([stage1, stage2], time.perf_counter() - tick))


# ---------------------------------------------------------------------- language-model evaluation
def evaluate_lm(
    model_dir: str, task: str, difficulty: int, config: Any, seed: int, *, full: bool = True
) -> dict[str, float]:
    """Held-out metrics of a language model on ``task``'s test split at ``difficulty``.

    ``greedy_success`` (whole solutions, greedy, checked by the task's verifier), ``format_rate``
    and ``step_similarity`` (greedy next step given the expert's previous steps, difflib ratio
    against the expert's step, over at most ``eval_step_instances`` of the problems' steps)
    always; with ``full`` also ``avg_at_k`` (mean success of ``eval_samples`` solutions per
    problem sampled at ``eval_temperature``) and ``pass_at_k`` (share of problems with at least
    one success among them). ``seed`` seeds the sampling; the greedy part does not depend on it.
    """
    import torch

    from srl_gym.episodes import solution_examples, verify_solution
    from .lm_agent import LMAgent
    from .models import load_model

    model, tokenizer = load_model(model_dir, config.device)
    problems = solution_examples(task, range(config.eval_problems), split="test", difficulty=difficulty)
    batch = config.eval_batch_size
    key = (str(Path(model_dir).resolve()), task, difficulty, config.eval_problems, config.eval_step_instances)
    out = dict(_GREEDY_CACHE.get(key) or _greedy_metrics(model, tokenizer, problems, task, difficulty, config))
    _GREEDY_CACHE[key] = dict(out)
    if full:
        k = config.eval_samples
        solution_tokens = token_budget(tokenizer, [e.target for e in problems], config.max_new_tokens_cap)
        sampler = LMAgent(
            model, tokenizer, temperature=config.eval_temperature, max_new_tokens=solution_tokens,
            batch_size=batch, max_length=config.max_length,
        )  # fmt: skip
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derived_seed(seed, difficulty, 0xE7A1))
            completions = sampler.complete([e.observation for e in problems for _ in range(k)], mode="solution")
        repeated = [e for e in problems for _ in range(k)]
        solved = np.array(
            [verify_solution(e.task, e.problem, c) for e, c in zip(repeated, completions, strict=True)]
        ).reshape(len(problems), k)
        out["avg_at_k"] = float(solved.mean())
        out["pass_at_k"] = float(solved.any(axis=1).mean())
    return out


#: Greedy metrics of a model directory (deterministic): the base is scored once, not once per seed.
_GREEDY_CACHE: dict[tuple, dict[str, float]] = {}


def clear_caches() -> None:
    """Forget cached metrics and lengths (`srl_gym.compare.compare` calls it at the start of every comparison)."""
    _GREEDY_CACHE.clear()
    _token_lengths.cache_clear()


def _greedy_metrics(model: Any, tokenizer: Any, problems: Sequence[Any], task: str, difficulty: int, config: Any):
    from srl_gym.episodes import step_instances
    from .lm_agent import LMAgent, evaluate_solutions, evaluate_steps
    from srl_gym.prompts import step_target

    solution_tokens = token_budget(tokenizer, [e.target for e in problems], config.max_new_tokens_cap)
    steps = [step_target(s) for e in problems for s in e.steps]
    step_tokens = token_budget(tokenizer, steps, config.max_new_tokens_cap)
    batch = config.eval_batch_size
    greedy = LMAgent(model, tokenizer, max_new_tokens=solution_tokens, batch_size=batch, max_length=config.max_length)
    solutions = evaluate_solutions(greedy, problems)
    instances = step_instances(task, range(config.eval_problems), split="test", difficulty=difficulty)
    if len(instances) > config.eval_step_instances:  # evenly spread over the problems and their steps
        picks = np.unique(np.linspace(0, len(instances) - 1, config.eval_step_instances).round().astype(int))
        instances = [instances[i] for i in picks]
    stepper = LMAgent(model, tokenizer, max_new_tokens=step_tokens, batch_size=batch, max_length=config.max_length)
    steps_result = evaluate_steps(stepper, instances)
    return {
        "greedy_success": solutions["success_rate"],
        "format_rate": solutions["format_rate"],
        "step_similarity": steps_result["step_similarity"],
        "step_reward": steps_result["srl_reward"],  # the SRL reward itself: -1 for a broken format
        "problems": float(len(problems)),
    }


# ---------------------------------------------------------------------- discrete algorithms
def _discrete_common(ctx: Context) -> dict[str, Any]:
    config = ctx.config
    return {
        "env_id": ctx.task,
        "difficulty": config.train_difficulty,
        "seed": ctx.seed,
        "eval_episodes": 1,  # the comparison evaluates the saved model itself
        "out_dir": str(ctx.run_dir),
        "tensorboard": False,
    }


def train_random(ctx: Context) -> Trained:
    """No training: a uniformly random legal move (the untrained reference)."""
    return Trained([(0, "random")], {"env_steps": 0.0, "expert_labels": 0.0})


def train_bc(ctx: Context) -> Trained:
    """Behaviour cloning with DAgger from the oracle (the SFT analogue)."""
    from . import bc

    config, tick = ctx.config, time.perf_counter()
    args = bc.Args(
        run_name="bc",
        expert_episodes=config.bc_expert_episodes,
        dagger_iterations=config.bc_dagger_iterations,
        dagger_episodes=config.bc_expert_episodes,
        verbose=False,
        **_discrete_common(ctx),
    )
    metrics = bc.train(args)
    labels = float(metrics["train/samples"])
    return Trained(
        [(int(labels), metrics["model_path"])],
        {"env_steps": labels, "expert_labels": labels, "train_seconds": time.perf_counter() - tick},
    )


def _train_ppo(ctx: Context, reward: str) -> Trained:
    from . import ppo

    config, tick = ctx.config, time.perf_counter()
    every = max(1, math.ceil(config.ppo_timesteps / config.curve_points))
    args = ppo.Args(
        run_name=f"ppo-{reward}",
        reward=reward,
        total_timesteps=config.ppo_timesteps,
        checkpoint_every=every,
        eval_every=0,
        progress_bar=False,
        **_discrete_common(ctx),
    )
    metrics = ppo.train(args)
    checkpoints = sorted(
        (int(p.stem.split("_")[-2]), str(p)) for p in (ctx.run_dir / f"ppo-{reward}" / "checkpoints").glob("*.zip")
    )
    steps = float(metrics["train/timesteps"])
    if not checkpoints or checkpoints[-1][0] != steps:
        checkpoints.append((int(steps), metrics["model_path"]))
    budget = {"env_steps": steps, "expert_labels": 0.0, "train_seconds": time.perf_counter() - tick}
    return Trained(checkpoints, budget)


def train_ppo_srl(ctx: Context) -> Trained:
    """MaskablePPO with the dense expert-matching reward (the SRL analogue)."""
    return _train_ppo(ctx, "srl")


def train_ppo_outcome(ctx: Context) -> Trained:
    """MaskablePPO with the 0/1 outcome reward (the RLVR analogue)."""
    return _train_ppo(ctx, "outcome")


def _spaces_match(task: str, a: int, b: int) -> bool:
    import gymnasium as gym

    envs = [gym.make(task, difficulty=d, interface="discrete") for d in (a, b)]
    same = envs[0].observation_space == envs[1].observation_space and envs[0].action_space == envs[1].action_space
    for env in envs:
        env.close()
    return same


def evaluate_discrete(
    model_path: str, task: str, difficulty: int, config: Any, seed: int, *, full: bool = True
) -> dict[str, float] | None:
    """Held-out metrics of a discrete policy (an SB3 ``.zip``, or ``"random"``) at ``difficulty``.

    ``greedy_success`` (the most likely legal move), ``step_similarity`` (on-policy, of the
    greedy run), ``valid_fraction`` and with ``full`` ``avg_at_k``/``pass_at_k`` (``eval_samples``
    episodes per problem with actions sampled from the policy). None when the policy was trained
    at a difficulty whose spaces differ from ``difficulty``'s.
    """
    import torch as th

    from srl_gym.evaluation import RandomAgent, evaluate

    from .sb3_common import SB3Agent, model_class

    spaces_differ = difficulty != config.train_difficulty and not _spaces_match(
        task, config.train_difficulty, difficulty
    )
    if model_path != "random" and spaces_differ:  # a random legal move needs no network
        return None
    options = {"difficulty": difficulty, "interface": "discrete", "split": "test", "batch_size": 16}
    n = config.eval_problems
    if model_path == "random":
        greedy_agent: Any = RandomAgent(derived_seed(seed, 1))
        sampler: Any = lambda i: RandomAgent(derived_seed(seed, 2, i))  # noqa: E731
    else:
        model = model_class(True).load(model_path, device="cpu")
        greedy_agent = SB3Agent(model, deterministic=True)
        sampler = lambda i: SB3Agent(model, deterministic=False)  # noqa: E731
    greedy = evaluate(greedy_agent, task, n, 0, **options)
    out = {
        "greedy_success": greedy.success_rate,
        "step_similarity": greedy.mean_step_similarity,
        "valid_fraction": greedy.valid_fraction,
        "problems": float(n),
    }
    if full:
        solved = np.zeros((n, config.eval_samples))
        with th.random.fork_rng(devices=[]):
            for i in range(config.eval_samples):
                th.manual_seed(derived_seed(seed, difficulty, i))
                result = evaluate(sampler(i), task, n, 0, **options)
                solved[:, i] = [e.solved for e in result.episodes]
        out["avg_at_k"] = float(solved.mean())
        out["pass_at_k"] = float(solved.any(axis=1).mean())
    return out


#: Every algorithm the comparison knows, by the name ``--algos`` takes.
ALGORITHMS: dict[str, Algorithm] = {
    "base": Algorithm("lm", train_base, "the warmed-up start model, untrained on the hard problems"),
    "sft": Algorithm("lm", train_sft, "SFT on the hard problems' whole expert solutions"),
    "rlvr": Algorithm("lm", train_rlvr, "GRPO with the verifier's outcome reward"),
    "srl": Algorithm("lm", train_srl, "GRPO with the step-similarity reward (SRL)"),
    "srl-rlvr": Algorithm("lm", train_srl_rlvr, "SRL for half the updates, then RLVR"),
    "random": Algorithm("discrete", train_random, "a uniformly random legal move (discrete reference)"),
    "bc": Algorithm("discrete", train_bc, "behaviour cloning with DAgger (the SFT analogue)"),
    "ppo-srl": Algorithm("discrete", train_ppo_srl, "MaskablePPO, dense expert-matching reward (the SRL analogue)"),
    "ppo-outcome": Algorithm("discrete", train_ppo_outcome, "MaskablePPO, 0/1 outcome reward (the RLVR analogue)"),
}


def evaluate_checkpoint(kind: str, path: str, task: str, difficulty: int, config: Any, seed: int, full: bool):
    """`evaluate_lm` or `evaluate_discrete`, by the algorithm's kind."""
    if kind == "lm":
        return evaluate_lm(path, task, difficulty, config, seed, full=full)
    return evaluate_discrete(path, task, difficulty, config, seed, full=full)


# ---------------------------------------------------------------------- files
def _read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    return read_json_lines(run_dir / "metrics.jsonl")


__all__ = [
    "ALGORITHMS",
    "Algorithm",
    "Context",
    "Trained",
    "evaluate_checkpoint",
    "evaluate_discrete",
    "evaluate_lm",
    "prepare_base",
    "token_budget",
]
