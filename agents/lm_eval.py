"""How the comparison warms up and measures language models (the ``"lm"`` kind of `srl_gym.algorithms`).

- `prepare_base`: the start model of every LM algorithm of a (model, task). A shipped base
  (``"tiny-longmul"``, `srl_gym.agents.warmup`) is used as it is (``warmup_updates=0``); otherwise
  the start model (``"tiny"``, ``"tiny-large"``, ``"smollm2-135m"`` or a local directory) gets a
  short SFT warm-up on ``warmup_difficulty`` problems in both prompt formats, so it follows the
  ``<think>...</think>`` format that the SRL reward requires. One base per (model, task), shared
  by every algorithm and seed.
- `evaluate`: held-out metrics at one difficulty, on the test split or on the validation
  problems (train-split seeds ``validation_start ..``, never trained on, which pick each run's
  checkpoint). Every algorithm is scored on the same outcome measures in both prompt formats:

  - ``greedy_success``: the whole solution in one greedy completion, checked by the task's
    verifier (the paper's measure; the prompt shows the problem only);
  - ``agent_success``: the model plays the env step by step through `srl_gym.evaluation.evaluate`
    (each prompt shows the current state; an invalid step leaves it unchanged; an episode that
    shows the greedy model an observation twice is a loop and ends there, unsolved), the gym's measure;

  both with their per-problem scores (``per_problem``, in problem order, the same problems for
  every algorithm and seed) for the paired statistics of `srl_gym.stats`. On the test split also
  ``step_similarity`` / ``step_reward`` / ``exact_match`` (greedy next step given the expert's
  previous steps: SRL's objective; their per-instance scores, the same step instances for every
  cell, are stored under ``per_problem`` too), ``solution_loss`` (the expert solution's per-token
  loss, teacher-forced: SFT's objective, per problem) and, with ``eval_samples`` > 0,
  ``avg_at_k`` / ``pass_at_k`` of sampled whole solutions.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from srl_gym import metrics as M
from srl_gym.episodes import solution_examples, step_instances, verify_solution
from srl_gym.prompts import step_target
from srl_gym.runs import derived_seed, write_json_atomic

from .lm_common import token_budget

#: Where evaluation problems come from: split name -> (the env's split, the config fields of its seeds).
SPLITS = {"test": ("test", None), "validation": ("train", ("validation_start", "validation_problems"))}


def check_model(name: str) -> None:
    """A clear error now for a start model that is neither a known name nor a model directory (a base that is not
    shipped, which `prepare_base` builds, needs the model it starts from)."""
    from .models import check_model_name
    from .warmup import built_on_demand, root

    if built_on_demand(name):
        name = root(name)
    if name is not None:  # (None: the build starts a new tiny model)
        check_model_name(name)


def protected_levels(model: str) -> tuple[int, ...] | None:
    """The levels whose comparison problems a shipped base's warm-up left out (None: not a shipped base): its
    protected levels, and every level of its task that the warm-up never drew from."""
    from srl_gym.registration import task_entry

    from .warmup import BASES, chain

    if model not in BASES:
        return None
    levels = range(len(task_entry(BASES[model].task).load().levels))
    # a level is protected when every warm-up of the chain (the base, its start, ...) left its problems out or
    # never drew from it
    protected = [level for level in levels
                 if all(level in s.protected_levels or level not in s.levels for s in chain(model))]  # fmt: skip
    return tuple(sorted(protected))


def from_scratch(model: str) -> bool:
    """Whether ``model`` started from random weights (a tiny model, or a base of one), so it trains at the larger
    rates of `srl_gym.compare.LEARNING_RATES`; a pretrained model's (SmolLM2, a directory, a base of one) are gentle."""
    from .models import TINY_PRESETS
    from .warmup import BASES, pretrained

    return model in TINY_PRESETS or (model in BASES and not pretrained(model))


def prepare_base(model: str, task: str, config: Any, directory: Path) -> dict[str, Any]:
    """The base of ``model`` on ``task`` in ``directory``: ``model`` itself with ``warmup_updates=0`` (a shipped
    base), else ``model`` after an SFT warm-up on ``warmup_difficulty`` problems (both formats); its record.

    The record (``directory/base.json``, written last, so its presence means "done") holds the
    model directory, the warm-up's updates and tokens, and the base's greedy metrics on the
    validation problems at the training difficulty (the learning curves' first point).
    """
    from . import sft

    record_path = directory / "base.json"
    if record_path.is_file():  # a warm-up's model path is stored relative to ``directory``, so the folder can move
        record = json.loads(record_path.read_text(encoding="utf-8"))
        record |= {"model_dir": str(directory / record["model_dir"])}  # (an absolute path stays as it is)
        if not Path(record["model_dir"]).is_dir() and record.get("warmup_updates") == 0:
            from .models import model_directory  # a shipped base, resumed from another checkout: this one's copy

            if Path(model_directory(model)).is_dir():
                record["model_dir"] = str(Path(model_directory(model)).resolve())
        if config.regime_samples and record.get("regime", {}).get("samples") != config.regime_samples:
            return _finish_base(record, task, config, directory)  # measured with other settings, or not at all
        return record
    tick = time.perf_counter()
    if config.warmup_updates == 0:  # the start model is the base (a shipped base is already warmed up)
        from .models import default_device, load_model, model_directory
        from .warmup import build, built_on_demand

        if built_on_demand(model):
            # a base too large to ship (a pretrained model's warm-up): built once, into this folder
            model_dir = str(build(model, directory / "model", device=config.device or default_device()))
        else:
            model_dir = model_directory(model)
        if not Path(model_dir).is_dir():  # "tiny", "smollm2-135m": save it once for the trainers
            loaded, tokenizer = load_model(model, "cpu", seed=config.base_seed)
            model_dir = str(directory / "model")
            loaded.save_pretrained(model_dir)
            tokenizer.save_pretrained(model_dir)
        record = {"model": model, "task": task, "model_dir": str(Path(model_dir).resolve()), "warmup_updates": 0,
                  "warmup_trained_tokens": 0, "warmup_seconds": time.perf_counter() - tick}  # fmt: skip
        return _finish_base(record, task, config, directory)
    result = sft.train(
        sft.Args(
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
            max_length=config.max_length,
            eval_before=False,
            eval_after=False,
            checkpoint_every=0,
            keep_checkpoints=1,
            tensorboard=False,
            progress=False,
            force=True,
            save_training_state=False,  # the optimizer is not needed again
        )
    )
    final = result.final
    record = {
        "model": model,
        "task": task,
        "model_dir": final.path,
        "warmup_updates": final.budget["updates"],
        "warmup_trained_tokens": final.budget["trained_tokens"],
        "warmup_seconds": time.perf_counter() - tick,
    }
    return _finish_base(record, task, config, directory)


def _finish_base(record: dict[str, Any], task: str, config: Any, directory: Path) -> dict[str, Any]:
    """Add the curves' first point (the base on validation, greedy: the same for every seed; none when there are
    no curves, ``curve_points=1``) and, with ``regime_samples``, the base's `regime`; write base.json."""
    if config.regime_samples:
        record["regime"] = regime(record["model_dir"], task, config)
    if config.curve_points > 1 and "curve_point" not in record:
        record["curve_point"] = evaluate(record["model_dir"], task, config.train_difficulty, config, seed=0,
                                         split="validation", full=False)  # fmt: skip
        record["curve_point"].pop("per_problem", None)
    directory.mkdir(parents=True, exist_ok=True)
    model_dir = Path(record["model_dir"]).resolve()
    inside = model_dir.is_relative_to(directory.resolve())  # a warm-up's model moves with the folder
    stored = os.path.relpath(model_dir, directory) if inside else str(model_dir)
    write_json_atomic(directory / "base.json", record | {"model_dir": stored})
    return record


def evaluate(
    model_dir: str, task: str, difficulty: int, config: Any, seed: int, *, split: str = "test", full: bool = True
) -> dict[str, Any]:
    """Held-out metrics of a language model on ``task`` at ``difficulty`` (see the module docstring).

    ``split``: ``"test"`` (the final table) or ``"validation"`` (model selection and curves: the
    outcome measures only). ``full``: also avg@k / pass@k (test split, ``eval_samples`` > 0).
    ``seed`` seeds the sampling; the greedy measures do not depend on it, so they are computed once
    per model directory and reused (the base is scored once, not once per seed).
    """
    from .models import load_model

    env_split, seeds = problem_seeds(config, split, task)
    key = (str(Path(model_dir).resolve()), task, difficulty, split, seeds, config.eval_step_instances)
    if key not in _GREEDY_CACHE:
        model, tokenizer = load_model(model_dir, config.device)
        _GREEDY_CACHE[key] = _greedy_metrics(model, tokenizer, task, difficulty, env_split, seeds, config,
                                             steps=split == "test")  # fmt: skip
    out = json.loads(json.dumps(_GREEDY_CACHE[key]))  # a copy: callers may change it
    if full and split == "test" and config.eval_samples > 0:
        solved = sample_solved(model_dir, task, difficulty, env_split, seeds, config, config.eval_samples,
                               derived_seed(seed, difficulty, 0xE7A1))  # fmt: skip
        out[M.AVG_AT_K] = float(solved.mean())
        out[M.PASS_AT_K] = float(solved.any(axis=1).mean())
    return out


def sample_solved(
    model_dir: str, task: str, difficulty: int, env_split: str, seeds: Sequence[int], config: Any, n: int, seed: int,
    **env_options: Any,
) -> np.ndarray:
    """``[problems, n]``: whether each of ``n`` whole solutions sampled at ``eval_temperature`` solves each problem
    (``env_options``: more options of the env, e.g. srl/Trajectories-v0's ``path``)."""
    import torch

    from .lm_agent import LMAgent
    from .models import load_model

    model, tokenizer = load_model(model_dir, config.device)
    problems = solution_examples(task, seeds, split=env_split, difficulty=difficulty, **env_options)
    solution_tokens = token_budget(tokenizer, [e.target for e in problems], config.max_new_tokens_cap)
    sampler = LMAgent(
        model, tokenizer, temperature=config.eval_temperature, max_new_tokens=solution_tokens,
        batch_size=config.eval_batch_size, max_length=config.max_length,
    )  # fmt: skip
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        completions = sampler.complete([e.observation for e in problems for _ in range(n)], mode="solution")
    repeated = [e for e in problems for _ in range(n)]
    return np.array(
        [verify_solution(e.task, e.problem, c) for e, c in zip(repeated, completions, strict=True)]
    ).reshape(len(problems), n)


#: The k of the regime axis: pass@1 and pass@8 of each start model (`regime`).
REGIME_K = (1, 8)


def regime(model_dir: str, task: str, config: Any) -> dict[str, Any]:
    """A start model's competence at the training level: pass@1 and pass@8 (unbiased, from ``regime_samples``
    samples per problem at ``eval_temperature``) on the validation problems, the x axis of the regimes figure."""
    seeds = config.validation_seeds(task)
    if not seeds:
        raise ValueError(f"no validation problem of {task} at level {config.train_difficulty}: the start model's pass "
                         "rate cannot be measured")  # fmt: skip
    n = config.regime_samples
    solved = sample_solved(model_dir, task, config.train_difficulty, "train", seeds, config, n,
                           derived_seed(config.base_seed, config.train_difficulty, 0x8E61))  # fmt: skip
    counts = [int(c) for c in solved.sum(axis=1)]
    return {"samples": n, "problems": len(seeds), "split": "validation", "solved": counts,
            **{f"pass@{k}": float(np.mean(M.pass_at_k(n, counts, k))) for k in REGIME_K if k <= n}}  # fmt: skip


def boundary(model_dir: str, task: str, difficulty: int, config: Any, seed: int) -> dict[str, Any]:
    """The reasoning boundary of a model: pass@k for k = 1 .. ``boundary_samples`` (unbiased) on the first
    ``boundary_problems`` test problems, with the per-problem counts of right samples (for intervals)."""
    n = config.boundary_samples
    seeds = range(min(config.boundary_problems, config.eval_problems))
    solved = sample_solved(model_dir, task, difficulty, "test", seeds, config, n,
                           derived_seed(seed, difficulty, 0xB0DA))  # fmt: skip
    counts = [int(c) for c in solved.sum(axis=1)]
    return {"samples": n, "problems": len(counts), "solved": counts,
            "pass_at_k": {str(k): float(np.mean(M.pass_at_k(n, counts, k))) for k in range(1, n + 1)}}  # fmt: skip


def problem_seeds(config: Any, split: str, task: str | None = None) -> tuple[str, Sequence[int]]:
    """The env split and the seeds of the evaluation problems of ``split`` (``"test"`` or ``"validation"``).

    Validation problems of a ``task`` are the first ``validation_problems`` train-split seeds from
    ``validation_start`` whose problem is not one of the training problems (`CompareConfig.validation_seeds`);
    without a task, those seeds as they come (discrete agents train on no fixed problems).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {tuple(SPLITS)}, got {split!r}")
    env_split, fields = SPLITS[split]
    if fields is None:
        return env_split, range(config.eval_problems)
    if task is not None:
        return env_split, config.validation_seeds(task)
    start, count = (getattr(config, f) for f in fields)
    return env_split, range(start, start + count)


#: Greedy metrics of a model directory (deterministic): the base is scored once, not once per seed.
_GREEDY_CACHE: dict[tuple, dict[str, Any]] = {}


def clear_caches() -> None:
    """Forget cached metrics and lengths (`srl_gym.compare.compare` calls it at the start of every comparison)."""
    from .lm_common import _token_lengths

    _GREEDY_CACHE.clear()
    _token_lengths.cache_clear()


def _greedy_metrics(
    model: Any, tokenizer: Any, task: str, difficulty: int, env_split: str, seeds: range, config: Any, *, steps: bool
) -> dict[str, Any]:
    import srl_gym.evaluation

    from .lm_agent import LMAgent, score_steps, solution_loss, solve_problems

    problems = solution_examples(task, seeds, split=env_split, difficulty=difficulty)
    solution_tokens = token_budget(tokenizer, [e.target for e in problems], config.max_new_tokens_cap)
    step_texts = [step_target(s) for e in problems for s in e.steps]  # not `steps`: that flag is the argument
    step_tokens = token_budget(tokenizer, step_texts, config.max_new_tokens_cap)
    batch, limit = config.eval_batch_size, config.max_length
    whole = LMAgent(model, tokenizer, max_new_tokens=solution_tokens, batch_size=batch, max_length=limit)
    solved, formatted = solve_problems(whole, problems)
    stepper = LMAgent(model, tokenizer, max_new_tokens=step_tokens, batch_size=batch, max_length=limit)
    # Greedy, so an episode that shows the model a state twice is a loop to the step limit: ended there (same
    # successes, about half the generate calls on LongMultiplication).
    played = srl_gym.evaluation.evaluate(  # the same problems as the whole solutions (a small level repeats some)
        stepper, task, difficulty=difficulty, split=env_split, batch_size=batch, end_loops=True,
        seeds=[e.seed for e in problems],
    )  # fmt: skip
    out: dict[str, Any] = {
        M.GREEDY_SUCCESS: float(np.mean(solved)),
        M.FORMAT_RATE: float(np.mean(formatted)),
        M.AGENT_SUCCESS: played.success_rate,
        M.AGENT_STEP_SIMILARITY: played.mean_step_similarity,  # on its own states: on-policy SRL's objective
        M.PROBLEMS: float(len(problems)),
        "per_problem": {
            M.GREEDY_SUCCESS: [float(x) for x in solved],
            M.AGENT_SUCCESS: [float(e.solved) for e in played.episodes],
            M.AGENT_STEP_SIMILARITY: [e.mean_step_similarity for e in played.episodes],
        },
    }
    if steps:  # the mechanism check: the expert's previous steps given, is the next one the expert's?
        instances = step_instances(task, seeds, split=env_split, difficulty=difficulty)
        if len(instances) > config.eval_step_instances:  # evenly spread over the problems and their steps
            picks = np.unique(np.linspace(0, len(instances) - 1, config.eval_step_instances).round().astype(int))
            instances = [instances[i] for i in picks]
        scores = score_steps(stepper, instances)
        for name in (M.STEP_SIMILARITY, M.STEP_REWARD, M.EXACT_MATCH):  # SRL's objective
            out[name] = float(np.mean(scores[name]))
            out["per_problem"][name] = [float(x) for x in scores[name]]  # per step instance, the same for every cell
        losses = solution_loss(model, tokenizer, problems, batch_size=min(batch, 32))  # SFT's objective
        out[M.SOLUTION_LOSS] = float(np.mean(losses))
        out["per_problem"][M.SOLUTION_LOSS] = losses
    return out
