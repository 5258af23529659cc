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


#: A results.json the sweep wrote (`srl-gym compare`'s format): its cells are the template of the ones below.
_REAL = Path(__file__).resolve().parents[1] / "docs" / "results" / "lr-sweep" / "lr-0" / "results.json"


def _write_sweep(out: Path, scores: dict[str, list[float]], test_scores: list[float] | None = None) -> None:
    """One results.json per column: the real cells with these validation scores (and, if given, every test
    success of column I set to ``test_scores[I]``)."""
    results = json.loads(_REAL.read_text(encoding="utf-8"))
    assert {c["algo"] for c in results["cells"]} == {"base", *lr_sweep.GRID}
    for column in lr_sweep.COLUMNS:
        for cell in results["cells"]:
            if cell["algo"] in scores:
                cell["selected"]["validation_score"] = scores[cell["algo"]][column]
            for metrics in cell["eval"].values():
                if test_scores is not None:
                    metrics["greedy_success"] = metrics["agent_success"] = test_scores[column]
        (out / f"lr-{column}").mkdir(parents=True)
        (out / f"lr-{column}" / "results.json").write_text(json.dumps(results))


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
    assert lr_sweep.DEFAULTS == {"sft": 5e-4, "srl": 1e-4, "rlvr": 1e-4}  # the hand-set values a tie keeps


def test_the_sweep_runs_standard_on_validation_and_never_reads_test_scores(tmp_path):
    for column in lr_sweep.COLUMNS:
        command = lr_sweep.command(tmp_path, column)
        assert command[command.index("--preset") + 1] == "standard"
        for algo, values in lr_sweep.GRID.items():
            assert f"{algo}_learning_rate={values[column]:g}" in command
    scores = {algo: [0.1, 0.2, 0.3] for algo in lr_sweep.GRID}
    _write_sweep(tmp_path / "a", scores)
    _write_sweep(tmp_path / "b", scores, test_scores=[1.0, 0.0, 0.0])  # the test split would pick column 0
    assert lr_sweep.choose(tmp_path / "a")["chosen"] == {algo: values[2] for algo, values in lr_sweep.GRID.items()}
    assert lr_sweep.choose(tmp_path / "a") == lr_sweep.choose(tmp_path / "b")


def test_out_naming_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    with pytest.raises(SystemExit) as exit_:
        lr_sweep.main(["--out", str(tmp_path / "file")])
    assert exit_.value.code == 2 and "is a file" in capsys.readouterr().err


def test_the_committed_sweep_gives_the_committed_choice_and_the_standard_presets_rates():
    from srl_gym.compare import preset_config

    sweep = _REAL.parents[1]
    result = json.loads(json.dumps(lr_sweep.choose(sweep)))  # tuples as JSON lists
    assert result == json.loads((sweep / "choice.json").read_text(encoding="utf-8"))
    standard = preset_config("standard")
    assert {algo: getattr(standard, f"{algo}_learning_rate") for algo in lr_sweep.GRID} == result["chosen"]
