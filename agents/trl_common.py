"""What the TRL-based trainers (SFT, SRL, RLVR) share: run folders, logging, budgets, evaluation, resume.

Training itself is Hugging Face TRL's (``SFTTrainer``, ``GRPOTrainer``) on transformers'
``Trainer``; this module only wires a trainer into an srl-gym run folder::

    RUN_DIR/config.json          the run's arguments (a rerun with other ones is refused)
    RUN_DIR/metrics.jsonl        one row per log: {"step": N, "train/loss": ..., "rollout/reward": ...}
    RUN_DIR/checkpoints/checkpoint-N/
        model.safetensors, config.json, tokenizer files   a loadable model directory
        optimizer.pt, scheduler.pt, rng_state.pth, trainer_state.json   (the Trainer's, for resume)
        budget.json              updates, generated and trained tokens so far (written last)

``budget.json`` is written after the Trainer has saved everything else, so a checkpoint without
it was cut short by a kill and is ignored (and deleted) on resume. ``--resume true`` hands the
newest complete checkpoint to ``Trainer.train(resume_from_checkpoint=...)``, which restores the
weights, optimizer, scheduler, RNG states and data order. Ctrl-C saves a checkpoint of the last
finished update first. Under ``accelerate launch`` every process trains; the main process
evaluates, logs and writes the run folder.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from srl_gym.algorithms import Checkpoint, TrainResult
from srl_gym.runs import RunArgs, atomic_write_text, prepare_run_dir, read_json_lines, write_json_atomic

# TRL reports each trainer it builds to the Hugging Face Hub from a background thread; srl-gym trains
# local models only, and its machines may have no network. HF_HUB_DISABLE_TELEMETRY=0 turns it back on.
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

BUDGET_FILE = "budget.json"
CHECKPOINT_PREFIX = "checkpoint-"
#: TRL's sampling metrics, logged under ``rollout/``; every other Trainer metric goes under ``train/``.
ROLLOUT_PREFIXES = ("reward", "rewards/", "frac_reward", "completions/", "dynamic_sampling/", "sampling/", "tools/")


def require_trl() -> None:
    """An ImportError naming the install command when TRL (or datasets) is missing."""
    for module in ("trl", "datasets"):
        if importlib.util.find_spec(module) is None:
            raise ImportError(f"the language-model trainers run on Hugging Face TRL: pip install 'srl-gym[agents]' "
                              f"(or pip install 'trl>=1.16,<1.17' datasets); {module!r} is missing")  # fmt: skip


def training_arguments(args: RunArgs, *, run_dir: Path, max_steps: int, learning_rate: float) -> dict[str, Any]:
    """The ``TrainingArguments`` every trainer here shares (``SFTConfig`` / ``GRPOConfig`` add their own)."""
    import torch

    on_cuda = _on_cuda(args)
    return {
        "output_dir": str(run_dir / "checkpoints"),
        "max_steps": max_steps,
        "learning_rate": learning_rate,
        "seed": args.seed,
        "data_seed": args.seed,
        "use_cpu": not on_cuda,
        "bf16": on_cuda and torch.cuda.is_bf16_supported(),
        "logging_steps": 1,
        # checkpoint_every 0: only the final model (the Trainer saves at the last step with "steps")
        "save_strategy": "steps",
        "save_steps": args.checkpoint_every if args.checkpoint_every else max_steps,
        "save_total_limit": args.keep_checkpoints,
        "save_only_model": not getattr(args, "save_training_state", True),
        "report_to": ["tensorboard"] if args.tensorboard and importlib.util.find_spec("tensorboard") else [],
        "disable_tqdm": not args.progress,
        "dataloader_num_workers": 0,
        "remove_unused_columns": False,
        # TRL turns activation checkpointing on by default; it costs ~1/3 more time per SFT update (measured, see
        # docs/performance.md) and these models fit without it. --activation-checkpointing true saves memory.
        "activation_checkpointing": bool(getattr(args, "activation_checkpointing", False)),
    }


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint (one with ``budget.json``) of a run folder, or None."""
    found = [p for p in (run_dir / "checkpoints").glob(f"{CHECKPOINT_PREFIX}*") if (p / BUDGET_FILE).is_file()]
    return max(found, key=_step_of) if found else None


def saved_checkpoints(run_dir: Path) -> list[Checkpoint]:
    """Every complete checkpoint of a run folder, in training order, with its budget."""
    found = [p for p in (run_dir / "checkpoints").glob(f"{CHECKPOINT_PREFIX}*") if (p / BUDGET_FILE).is_file()]
    return [Checkpoint(str(p), json.loads((p / BUDGET_FILE).read_text())) for p in sorted(found, key=_step_of)]


def _step_of(path: Path) -> int:
    return int(path.name[len(CHECKPOINT_PREFIX) :])


def _namespaced(logs: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in logs.items():
        if key.startswith(("eval/", "train/", "rollout/")):
            out[key] = value
        elif key.startswith(ROLLOUT_PREFIXES):
            out[f"rollout/{key}"] = value
        else:
            out[f"train/{key}"] = value
    return out


def make_run_callback(
    run_dir: Path,
    budget: Callable[[Any], dict[str, float]],
    evaluate: Callable[[Any], dict[str, float]] | None,
    eval_every: int,
) -> Any:
    """A ``TrainerCallback`` that logs namespaced metrics, evaluates every ``eval_every`` updates, writes budgets.

    ``budget(state) -> dict`` gives the budget spent so far; ``evaluate(model) -> dict`` the
    held-out metrics of the live model (main process only).
    """
    from transformers import TrainerCallback

    class RunCallback(TrainerCallback):
        def __init__(self) -> None:
            self.start = time.time()
            self.metrics_path = run_dir / "metrics.jsonl"

        def write(self, step: int, row: dict[str, Any]) -> None:
            line = {"step": int(step), "time": round(time.time() - self.start, 3)} | {
                k: (v if not isinstance(v, float) or math.isfinite(v) else str(v)) for k, v in row.items()
            }
            with self.metrics_path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(line) + "\n")

        def on_log(self, args, state, control, logs=None, **kwargs):
            if state.is_world_process_zero and logs:
                row = {k: v for k, v in logs.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
                row.pop("step", None)
                self.write(state.global_step, _namespaced(row))

        def on_step_end(self, args, state, control, model=None, **kwargs):
            if evaluate and eval_every and state.global_step % eval_every == 0 and state.global_step < state.max_steps:
                if state.is_world_process_zero:
                    self.write(state.global_step, {f"eval/{k}": v for k, v in evaluate(model).items()})

        def on_save(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                folder = Path(args.output_dir) / f"{CHECKPOINT_PREFIX}{state.global_step}"
                write_json_atomic(folder / BUDGET_FILE, budget(state))

    return RunCallback()


def run_trainer(
    trainer: Any,
    args: Any,
    run_dir: Path,
    *,
    budget: Callable[[Any], dict[str, float]],
    evaluate: Callable[[Any], dict[str, float]] | None,
    on_resume: Callable[[Any, Path], None] | None = None,
) -> TrainResult:
    """Train (or resume) ``trainer`` in ``run_dir``; return its checkpoints with budgets and the final metrics.

    ``budget(state) -> dict`` is the budget spent so far (stored in each checkpoint);
    ``evaluate(model) -> {name: value}`` scores a model on held-out problems, logged as
    ``eval/NAME`` before training (``args.eval_before``; ``eval/NAME_before`` in the returned
    metrics), every ``args.eval_every`` updates and at the end (``args.eval_after``).
    """
    eval_before, eval_after = args.eval_before, args.eval_after
    resume_from = latest_checkpoint(run_dir) if args.resume else None
    if resume_from is not None and on_resume is not None:
        on_resume(trainer, resume_from)

    def evaluate_live(_model: Any = None) -> dict[str, float]:
        return evaluate(trainer.accelerator.unwrap_model(trainer.model))

    callback = make_run_callback(run_dir, budget, evaluate_live if evaluate else None, args.eval_every)
    trainer.add_callback(callback)
    main = trainer.accelerator.is_main_process
    if main:
        for partial in (run_dir / "checkpoints").glob(f"{CHECKPOINT_PREFIX}*"):  # cut short by a kill
            if not (partial / BUDGET_FILE).is_file():
                shutil.rmtree(partial, ignore_errors=True)
        metrics_path = run_dir / "metrics.jsonl"
        if resume_from is None:
            metrics_path.unlink(missing_ok=True)
        else:  # the resumed run logs the later steps again
            done = _step_of(resume_from)
            rows = [r for r in read_json_lines(metrics_path) if r.get("step", 0) <= done]
            atomic_write_text(metrics_path, "".join(json.dumps(r) + "\n" for r in rows))
    summary: dict[str, Any] = {}
    if evaluate and eval_before and resume_from is None and main:
        before = {f"eval/{k}": v for k, v in evaluate_live().items()}
        _append(run_dir, 0, before)
        summary |= {f"{k}_before": v for k, v in before.items()}
    try:
        trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    except KeyboardInterrupt:  # keep the finished updates: --resume true continues from them
        state = trainer.state
        saved = latest_checkpoint(run_dir)
        if state.global_step > 0 and (saved is None or _step_of(saved) < state.global_step):
            trainer._save_checkpoint(trainer.model, trial=None)
            callback.on_save(trainer.args, state, trainer.control)  # budget.json: the checkpoint is complete
        raise
    trainer.accelerator.wait_for_everyone()  # the main process has written the last budget.json
    checkpoints = saved_checkpoints(run_dir)
    if not checkpoints or _step_of(Path(checkpoints[-1].path)) != trainer.state.global_step:
        raise RuntimeError(f"the trainer did not save its final model in {run_dir / 'checkpoints'}")
    if evaluate and eval_after and main:
        after = {f"eval/{k}": v for k, v in evaluate_live().items()}
        _append(run_dir, trainer.state.global_step, after)
        summary |= after
    trainer.accelerator.wait_for_everyone()
    final = checkpoints[-1]
    return TrainResult(checkpoints, summary | {"updates": int(final.budget.get("updates", 0)), "model_dir": final.path})


def _append(run_dir: Path, step: int, row: dict[str, Any]) -> None:
    with (run_dir / "metrics.jsonl").open("a", encoding="utf-8") as f:
        f.write(json.dumps({"step": step} | row) + "\n")


def process_state(args: RunArgs) -> Any:
    """accelerate's process state (one process unless started by ``accelerate launch``)."""
    from accelerate import PartialState

    return PartialState(cpu=not _on_cuda(args))


def _on_cuda(args: RunArgs) -> bool:
    """Whether the run trains on a GPU: ``--device``, else `srl_gym.agents.models.default_device`."""
    from .models import default_device

    return str(args.device or default_device()).startswith("cuda")


def open_run(args: RunArgs, algorithm: str) -> Path:
    """Check and prepare ``args.run_dir`` for this run (config, resume, force) on the main process; return it."""
    if not args.progress:
        quiet_libraries()
    state = process_state(args)
    error = None
    if state.is_main_process:
        try:
            prepare_run_dir(args.run_dir, args, algorithm, resume=args.resume, force=args.force)
        except ValueError as exc:
            error = exc
    state.wait_for_everyone()
    if error is not None:
        raise error
    if not state.is_main_process and not (Path(args.run_dir) / "config.json").is_file():
        raise ValueError(f"the main process refused run_dir {args.run_dir} (see its error)")
    return Path(args.run_dir)


def quiet_trainer(trainer: Any, args: RunArgs) -> None:
    """Without ``--progress``: no Trainer bar, no printed log dicts, no per-save bars from transformers."""
    if args.progress:
        return
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)


def quiet_libraries() -> None:
    """No progress bars from transformers (model loading, saving) and datasets (tokenizing)."""
    import datasets
    from transformers.utils import logging

    logging.disable_progress_bar()
    datasets.disable_progress_bars()
