"""Scale-out through the engine's own launcher: ``accelerate launch --cpu --num_processes 2 -m srl_gym train srl``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

pytest.importorskip("trl")
pytest.importorskip("accelerate")


@pytest.mark.slow
def test_two_process_accelerate_launch_trains_and_saves_one_model(tmp_path):
    run_dir = tmp_path / "run"
    launcher = shutil.which("accelerate", path=os.path.dirname(sys.executable)) or shutil.which("accelerate")
    assert launcher, "accelerate's launcher is installed with the [agents] extra"
    command = [
        launcher, "launch", "--cpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
        "--dynamo_backend", "no", "-m", "srl_gym", "train", "srl", "--model", "tiny", "--env-id", "srl/Hanoi-v0",
        "--total-updates", "2", "--run-dir", str(run_dir), "--train-seeds", "20", "--prompts-per-update", "4",
        "--max-new-tokens", "16", "--eval-episodes", "2", "--progress", "false", "--tensorboard", "false",
    ]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false", ACCELERATE_USE_CPU="true")
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    checkpoints = sorted(p.name for p in (run_dir / "checkpoints").glob("checkpoint-*"))
    assert checkpoints == ["checkpoint-2"]  # one model, saved once (by the main process)
    saved = run_dir / "checkpoints" / "checkpoint-2"
    assert (saved / "model.safetensors").is_file() and (saved / "config.json").is_file()
    budget = json.loads((saved / "budget.json").read_text())
    assert budget["updates"] == 2 and budget["generated_tokens"] > 0
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert sum("train/loss" in r for r in rows) == 2  # logged once per update, not once per process
    assert "updates=2" in done.stdout
