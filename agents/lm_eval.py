"""How the comparison warms up and measures language models (the ``"lm"`` kind of `srl_gym.algorithms`).

- `prepare_base`: the start model (``"tiny"``, ``"tiny-large"``, ``"smollm2-135m"`` or a local
  directory) after a short SFT warm-up on EASY problems (``warmup_difficulty``) in both prompt
  formats, so it follows the ``<think>...</think>`` format that the SRL reward requires. One base
  per (model, task), shared by every algorithm and seed.
- `evaluate`: held-out metrics on test-split problems at one difficulty (names from
  `srl_gym.metrics`): greedy whole-solution success (the task's verifier), avg@k and pass@k of
  ``eval_samples`` sampled solutions, the similarity of greedy next steps to the expert's
  (teacher-forced), the SRL step reward and the format rate.
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


def check_model(name: str) -> None:
    """A clear error now for a start model that is neither a known name nor a model directory."""
    from .models import check_model_name

    check_model_name(name)


def prepare_base(model: str, task: str, config: Any, directory: Path) -> dict[str, Any]:
    """Warm ``model`` up on easy problems of ``task`` (SFT, both formats) in ``directory``; return its record.

    The record (``directory/base.json``, written last, so its presence means "done") holds the
    model directory, the warm-up's updates and tokens, and the base's greedy metrics at the
    training difficulty (the learning curves' first point).
    """
    from . import sft

    record_path = directory / "base.json"
    if record_path.is_file():  # the model path is stored relative to ``directory``, so the folder can move
        record = json.loads(record_path.read_text(encoding="utf-8"))
        return record | {"model_dir": str(directory / record["model_dir"])}
    tick = time.perf_counter()
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
    # The curves' first point: the base at the training difficulty (greedy, so the same for every seed).
    record["curve_point"] = evaluate(final.path, task, config.train_difficulty, config, seed=0, full=False)
    write_json_atomic(record_path, record | {"model_dir": os.path.relpath(record["model_dir"], directory)})
    return record


def evaluate(
    model_dir: str, task: str, difficulty: int, config: Any, seed: int, full: bool = True
) -> dict[str, float]:
    """Held-out metrics of a language model on ``task``'s test split at ``difficulty``.

    ``greedy_success`` (whole solutions, greedy, checked by the task's verifier), ``format_rate``,
    ``step_similarity`` and ``step_reward`` (greedy next step given the expert's previous steps,
    over at most ``eval_step_instances`` of the problems' steps) always; with ``full`` also
    ``avg_at_k`` (mean success of ``eval_samples`` solutions per problem sampled at
    ``eval_temperature``) and ``pass_at_k`` (share of problems with at least one success among
    them). ``seed`` seeds the sampling; the greedy part does not depend on it.
    """
    import torch

    from .lm_agent import LMAgent
    from .models import load_model

    model, tokenizer = load_model(model_dir, config.device)
    problems = solution_examples(task, range(config.eval_problems), split="test", difficulty=difficulty)
    key = (str(Path(model_dir).resolve()), task, difficulty, config.eval_problems, config.eval_step_instances)
    out = dict(_GREEDY_CACHE.get(key) or _greedy_metrics(model, tokenizer, problems, task, difficulty, config))
    _GREEDY_CACHE[key] = dict(out)
    if full:
        k = config.eval_samples
        solution_tokens = token_budget(tokenizer, [e.target for e in problems], config.max_new_tokens_cap)
        sampler = LMAgent(
            model, tokenizer, temperature=config.eval_temperature, max_new_tokens=solution_tokens,
            batch_size=config.eval_batch_size, max_length=config.max_length,
        )  # fmt: skip
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derived_seed(seed, difficulty, 0xE7A1))
            completions = sampler.complete([e.observation for e in problems for _ in range(k)], mode="solution")
        repeated = [e for e in problems for _ in range(k)]
        solved = np.array(
            [verify_solution(e.task, e.problem, c) for e, c in zip(repeated, completions, strict=True)]
        ).reshape(len(problems), k)
        out[M.AVG_AT_K] = float(solved.mean())
        out[M.PASS_AT_K] = float(solved.any(axis=1).mean())
    return out


#: Greedy metrics of a model directory (deterministic): the base is scored once, not once per seed.
_GREEDY_CACHE: dict[tuple, dict[str, float]] = {}


def clear_caches() -> None:
    """Forget cached metrics and lengths (`srl_gym.compare.compare` calls it at the start of every comparison)."""
    from .lm_common import _token_lengths

    _GREEDY_CACHE.clear()
    _token_lengths.cache_clear()


def _greedy_metrics(model: Any, tokenizer: Any, problems: Sequence[Any], task: str, difficulty: int, config: Any):
    from .lm_agent import LMAgent, evaluate_solutions, evaluate_steps

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
        M.GREEDY_SUCCESS: solutions[M.GREEDY_SUCCESS],
        M.FORMAT_RATE: solutions[M.FORMAT_RATE],
        M.STEP_SIMILARITY: steps_result[M.STEP_SIMILARITY],
        M.STEP_REWARD: steps_result[M.STEP_REWARD],
        M.PROBLEMS: float(len(problems)),
    }
