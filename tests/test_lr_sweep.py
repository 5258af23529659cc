"""`benchmarks/lr_sweep.py`: the rule that picks the standard preset's learning rates from validation scores."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "lr_sweep.py"
_spec = importlib.util.spec_from_file_location("lr_sweep", _PATH)
lr_sweep = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lr_sweep)


def _write_sweep(out: Path, scores: dict[str, list[float]], test_scores: float = 0.0) -> None:
    """One results.json per column, as `srl-gym compare` writes it (the fields `choose` reads)."""
    for column in lr_sweep.COLUMNS:
        cells = [{"algo": "base", "selected": {"validation_score": 0.5}}]
        cells += [
            {"algo": algo, "selected": {"validation_score": values[column]}, "test_success": test_scores}
            for algo, values in scores.items()
        ]
        (out / f"lr-{column}").mkdir(parents=True)
        (out / f"lr-{column}" / "results.json").write_text(json.dumps({"cells": cells}))


def test_the_best_validation_score_wins_and_ties_keep_the_default_or_the_smaller_value(tmp_path):
    # sft: a clear winner (the largest value); srl: the default ties the best; rlvr: two non-defaults tie.
    # (0.00 + 0.06) / 2 and (0.01 + 0.05) / 2 differ in the last float bit: still a tie.
    scores = {"sft": [0.10, 0.15, 0.20], "srl": [0.20, 0.20, 0.10], "rlvr": [(0.01 + 0.05) / 2, 0.0, (0.0 + 0.06) / 2]}
    _write_sweep(tmp_path, scores)
    result = lr_sweep.choose(tmp_path)
    assert result["chosen"] == {"sft": lr_sweep.GRID["sft"][2], "srl": lr_sweep.DEFAULTS["srl"], "rlvr": 3e-5}
    assert result["validation_scores"]["sft"] == {
        f"{v:g}": s for v, s in zip(lr_sweep.GRID["sft"], scores["sft"], strict=True)
    }
    assert "base" not in result["validation_scores"]


def test_the_sweep_runs_standard_on_validation_and_never_reads_test_scores(tmp_path):
    for column in lr_sweep.COLUMNS:
        command = lr_sweep.command(tmp_path, column)
        assert command[command.index("--preset") + 1] == "standard"
        for algo, values in lr_sweep.GRID.items():
            assert f"{algo}_learning_rate={values[column]:g}" in command
    scores = {algo: [0.1, 0.2, 0.3] for algo in lr_sweep.GRID}
    _write_sweep(tmp_path / "a", scores, test_scores=0.0)
    _write_sweep(tmp_path / "b", scores, test_scores=1.0)
    assert lr_sweep.choose(tmp_path / "a") == lr_sweep.choose(tmp_path / "b")


def test_out_naming_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    with pytest.raises(SystemExit) as exit_:
        lr_sweep.main(["--out", str(tmp_path / "file")])
    assert exit_.value.code == 2 and "is a file" in capsys.readouterr().err
