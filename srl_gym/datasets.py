"""Hugging Face ``datasets`` of SRL step instances and whole problems, for any TRL script.

Two builders, both read off the env itself (`srl_gym.episodes`), so a prompt is exactly what an
agent sees when `srl_gym.evaluation.evaluate` plays the env:

- `step_dataset`: the SRL paper's step instances ``[problem, y_1..y_{k-1}] -> y_k``: a ``prompt``
  column (think, then write only the next step) and an ``expert_step`` column, which is what
  `srl_gym.rewards.srl_reward_func` scores against. Use it with TRL's ``GRPOTrainer`` (SRL) or, with
  ``completion`` as the target, with ``SFTTrainer`` (step-wise SFT).
- `solution_dataset`: whole problems: a ``prompt`` column (think, then write every step), the
  expert's ``completion`` (an empty monologue, then "Step k: ..." lines) and the columns that
  `srl_gym.rewards.outcome_reward_func` needs to rebuild the problem and run the task's verifier
  (``env_id``, ``split``, ``difficulty``, ``seed``, ``env_kwargs``). Use it with ``GRPOTrainer``
  (RLVR) or ``SFTTrainer`` (the paper's SFT).

With a tokenizer that has a chat template the ``prompt`` (and ``completion``) are in TRL's
conversational format (a list of ``{"role", "content"}`` messages); with none, or no tokenizer,
they are plain text. A ten-line SRL script::

    from trl import GRPOConfig, GRPOTrainer
    from srl_gym.datasets import step_dataset
    from srl_gym.rewards import srl_reward_func

    trainer = GRPOTrainer(
        model="my-model-dir",
        reward_funcs=srl_reward_func,
        train_dataset=step_dataset("srl/Hanoi-v0", 200, difficulty=1),
        args=GRPOConfig(output_dir="runs/srl", num_generations=8, temperature=1.0, beta=0.0),
    )
    trainer.train()

Problems: ``num_problems`` seeds ``start_seed .. start_seed + num_problems - 1`` of ``split``; a
level with fewer distinct problems repeats some, and each distinct problem is kept once.

`save_dataset` writes either one to a directory atomically (``Dataset.save_to_disk``), for
``datasets.load_from_disk`` in any trainer; ``srl-gym export ID --format hf`` does it from the shell.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Any

from srl_gym.episodes import make_text_env, solution_examples, step_instances
from srl_gym.prompts import prompt_text, step_target

SPLITS = ("train", "test")


def _check(env_id: str, num_problems: int, split: str, difficulty: int, start_seed: int, env_kwargs: dict) -> None:
    """`ValueError` naming what is allowed for a bad size, split or difficulty (before any env is built)."""
    if isinstance(num_problems, bool) or not isinstance(num_problems, int) or num_problems < 1:
        raise ValueError(f"num_problems must be an integer >= 1, got {num_problems!r}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if isinstance(start_seed, bool) or not isinstance(start_seed, int) or start_seed < 0:
        raise ValueError(f"start_seed must be an integer >= 0, got {start_seed!r}")
    env = make_text_env(env_id, **env_kwargs)  # unknown ids and envs without an expert are refused here
    levels = env.task.levels
    if isinstance(difficulty, bool) or not isinstance(difficulty, int) or not 0 <= difficulty < len(levels):
        allowed = "; ".join(f"{i}: {text}" for i, text in enumerate(levels))
        raise ValueError(f"difficulty {difficulty!r} is not a level of {env_id}; allowed: {allowed}")


def is_conversational(tokenizer: Any) -> bool:
    """Whether prompts for ``tokenizer`` are chat messages (it has a chat template) rather than plain text."""
    return bool(getattr(tokenizer, "chat_template", None))


def format_prompt(observation: str, mode: str, tokenizer: Any = None) -> Any:
    """The ``prompt`` value for an observation: chat messages for a chat model, else the plain prompt text.

    Plain text ends in a blank line, exactly as `srl_gym.prompts.render_prompt` renders it for such
    a model, so TRL trainers and the project's own evaluation feed the model the same tokens.
    """
    text = prompt_text(observation, mode)
    if is_conversational(tokenizer):
        return [{"role": "user", "content": text}]
    return text + "\n\n"


def format_completion(target: str, tokenizer: Any = None) -> Any:
    """The ``completion`` value of an SFT target: an assistant message for a chat model, else the text."""
    if is_conversational(tokenizer):
        return [{"role": "assistant", "content": target}]
    return target


def step_dataset(
    env_id: str,
    num_problems: int,
    *,
    split: str = "train",
    difficulty: int = 0,
    tokenizer: Any = None,
    start_seed: int = 0,
    **env_kwargs: Any,
) -> Any:
    """A `datasets.Dataset` of SRL step instances: one row per expert step of each problem.

    Columns: ``prompt`` (the step-wise instruction and the observation before step k),
    ``expert_step`` (the expert's step k, what the SRL reward compares with), ``completion`` (the
    SFT target for it: an empty ``<think></think>`` and the step), ``observation``, ``env_id``,
    ``split``, ``difficulty``, ``seed`` (``env.reset(seed=...)`` gives the problem), ``step_index``
    (k - 1) and ``env_kwargs`` (JSON of the extra env options).

    Raises:
        ValueError: ``num_problems < 1``, an unknown split, a difficulty the task lacks, an unknown
            env id or one without an expert (the message names what is allowed).
    """
    problem = _problem_columns(env_id, num_problems, split, difficulty, start_seed, env_kwargs)
    instances = step_instances(env_id, problem.pop("seeds"), split=split, difficulty=difficulty, **env_kwargs)
    rows = [
        {
            "prompt": format_prompt(i.observation, "step", tokenizer),
            "completion": format_completion(step_target(i.expert_step), tokenizer),
            "expert_step": i.expert_step,
            "observation": i.observation,
            **problem,
            "seed": i.seed,
            "step_index": i.index,
        }
        for i in instances
    ]
    return _dataset(rows)


def solution_dataset(
    env_id: str,
    num_problems: int,
    *,
    split: str = "train",
    difficulty: int = 0,
    tokenizer: Any = None,
    start_seed: int = 0,
    **env_kwargs: Any,
) -> Any:
    """A `datasets.Dataset` of whole problems: one row per distinct problem.

    Columns: ``prompt`` (the whole-solution instruction and the problem), ``completion`` (the
    expert's solution: an empty ``<think></think>``, then "Step k: ..." lines), ``expert_steps``,
    ``observation``, and what `srl_gym.rewards.outcome_reward_func` needs to run the verifier:
    ``env_id``, ``split``, ``difficulty``, ``seed``, ``env_kwargs`` (JSON).

    Raises:
        ValueError: as `step_dataset`.
    """
    problem = _problem_columns(env_id, num_problems, split, difficulty, start_seed, env_kwargs)
    examples = solution_examples(env_id, problem.pop("seeds"), split=split, difficulty=difficulty, **env_kwargs)
    rows = [
        {
            "prompt": format_prompt(e.observation, "solution", tokenizer),
            "completion": format_completion(e.target, tokenizer),
            "expert_steps": list(e.steps),
            "observation": e.observation,
            **problem,
            "seed": e.seed,
        }
        for e in examples
    ]
    return _dataset(rows)


def _problem_columns(
    env_id: str, num_problems: int, split: str, difficulty: int, start_seed: int, env_kwargs: dict
) -> dict[str, Any]:
    """Check a request (`_check`) and return the columns every row of it shares, plus its ``seeds``."""
    _check(env_id, num_problems, split, difficulty, start_seed, env_kwargs)
    return {
        "env_id": env_id,
        "split": split,
        "difficulty": difficulty,
        "env_kwargs": json.dumps(env_kwargs, sort_keys=True),
        "seeds": range(start_seed, start_seed + num_problems),
    }


def _dataset(rows: list[dict[str, Any]]) -> Any:
    from datasets import Dataset

    return Dataset.from_list(rows)


def check_save_dir(path: str | os.PathLike) -> Path:
    """``path`` as a `Path` if `save_dataset` may write there: it is missing or an empty directory.

    Raises:
        ValueError: ``path`` is a file, or a directory that holds something (nothing is overwritten).
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{path} is a file; a dataset is saved as a directory: give a new directory path")
    if path.is_dir() and any(path.iterdir()):
        raise ValueError(f"{path} already exists and is not empty; delete it or give a new directory path")
    return path


def save_dataset(data: Any, path: str | os.PathLike) -> Path:
    """Write a `datasets.Dataset` with ``save_to_disk`` atomically; ``datasets.load_from_disk(path)`` reads it.

    The dataset goes to a hidden temp sibling directory, renamed to ``path`` once complete, so a
    reader never sees half a dataset and a failed save leaves nothing behind.

    Raises:
        ValueError: as `check_save_dir` (also when ``path`` fills up while the dataset is saved).
    """
    path = check_save_dir(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
    try:
        data.save_to_disk(str(tmp))
        os.replace(tmp, path)  # onto a missing path or an empty directory
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError) and exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            check_save_dir(path)  # something was written there meanwhile: say so as above
        raise
    return path


__all__ = [
    "check_save_dir",
    "format_completion",
    "format_prompt",
    "is_conversational",
    "save_dataset",
    "solution_dataset",
    "step_dataset",
]
