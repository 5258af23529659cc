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

#: The committed sweep (`python benchmarks/lr_sweep.py --out docs/results/lr-sweep-1000`).
_SWEEP = Path(__file__).resolve().parents[1] / "docs" / "results" / "lr-sweep-1000"
#: A results.json the sweep wrote (`srl-gym compare`'s format): its cells are the template of the ones below.
_REAL = _SWEEP / "lr-0" / "results.json"


def _write_sweep(out: Path, final: dict[str, list[float]], middle: dict[str, list[float]] | None = None,
                 test_scores: list[float] | None = None) -> None:  # fmt: skip
    """One results.json per column: the real cells with these validation scores at the final checkpoint (greedy
    and agent success both set to it), at the middle one if given, and every test success of column I set to
    ``test_scores[I]`` if given. A column holds only the algorithms `GRID` gives a value in it (as the sweep's)."""
    template = json.loads(_REAL.read_text(encoding="utf-8"))
    assert {c["algo"] for c in template["cells"]} == {"base", *lr_sweep.GRID}
    for column in lr_sweep.COLUMNS:
        results = json.loads(json.dumps(template))
        results["cells"] = [c for c in results["cells"] if c["algo"] == "base" or lr_sweep.GRID[c["algo"]][column]]
        for cell in results["cells"]:
            if cell["algo"] in final:
                points = sorted(cell["curve"], key=lambda p: p["budget"])
                assert len(points) == 3 and points[-1]["budget"] == cell["budget"]["updates"]  # base, middle, end
                points[-1].update(greedy_success=final[cell["algo"]][column], agent_success=final[cell["algo"]][column])
                if middle is not None:
                    points[1].update(greedy_success=middle[cell["algo"]][column], agent_success=0.0)
            for metrics in cell["eval"].values():
                if test_scores is not None:
                    metrics["greedy_success"] = metrics["agent_success"] = test_scores[column]
        (out / f"lr-{column}").mkdir(parents=True)
        (out / f"lr-{column}" / "results.json").write_text(json.dumps(results))


def test_the_best_final_validation_score_wins_and_ties_keep_the_default_or_the_smaller_value(tmp_path):
    # sft: a clear winner (the fourth value); srl: the default ties the best; rlvr: three non-defaults tie.
    # (0.00 + 0.06) / 2 and (0.01 + 0.05) / 2 differ in the last float bit: still a tie. (None: not run.)
    final = {"sft": [0.10, 0.15, 0.20, 0.25, 0.05, 0.05, None, 0.0],
             "srl": [0.0, 0.20, 0.20, 0.10, 0.0, None, 0.0, None],
             "rlvr": [0.0, 0.03, 0.0, (0.01 + 0.05) / 2, (0.0 + 0.06) / 2, None, None, None]}  # fmt: skip
    _write_sweep(tmp_path, final)
    result = lr_sweep.choose(tmp_path)
    assert result["chosen"] == {"sft": lr_sweep.GRID["sft"][3], "srl": lr_sweep.DEFAULTS["srl"],
                                "rlvr": lr_sweep.GRID["rlvr"][1]}  # fmt: skip
    assert result["at_edge"] == {"sft": False, "srl": False, "rlvr": False}
    assert result["validation_scores"]["sft"] == pytest.approx(
        {f"{v:g}": s for v, s in zip(lr_sweep.GRID["sft"], final["sft"], strict=True) if v is not None}
    )
    assert "base" not in result["validation_scores"]
    assert lr_sweep.DEFAULTS == {"sft": 5e-4, "srl": 1e-4, "rlvr": 1e-4}  # the hand-set values a tie keeps
    for algo, values in lr_sweep.GRID.items():  # every default inside the grid, not at its edge
        tried = [v for v in values if v is not None]
        assert min(tried) < lr_sweep.DEFAULTS[algo] < max(tried)


def test_the_middle_checkpoint_takes_no_part_and_a_choice_at_the_edge_is_flagged(tmp_path):
    final = {"sft": [0.1, 0.1, 0.1, 0.1, 0.3, 0.1, None, 0.1], "srl": [0.1, 0.1, 0.1, 0.1, 0.1, None, 0.3, None],
             "rlvr": [0.1, 0.2, 0.1, 0.1, 0.1, None, None, None]}  # fmt: skip
    middle = {algo: [0.9 if i == 2 else 0.0 for i in lr_sweep.COLUMNS] for algo in lr_sweep.GRID}
    _write_sweep(tmp_path, final, middle)
    result = lr_sweep.choose(tmp_path)
    assert result["chosen"] == {"sft": 4e-3, "srl": 3e-6, "rlvr": 3e-5}  # 3e-6: the lowest, of the widened grid
    assert result["at_edge"] == {"sft": True, "srl": True, "rlvr": False}
    text = lr_sweep.report(result, "python benchmarks/lr_sweep.py")
    assert "at the grid's edge" in text and "sft, srl" in text
    assert "no value tried improves on not training" not in text  # both edge choices beat the base (0.175)


def test_the_sweep_runs_standard_on_validation_and_never_reads_test_scores(tmp_path):
    for column in lr_sweep.COLUMNS:
        command = lr_sweep.command(tmp_path, column)
        assert command[command.index("--preset") + 1] == "standard"
        assert "curve_points=2" in command  # the final checkpoint is scored on validation
        algos = command[command.index("--algos") + 1].split(",")
        for algo, values in lr_sweep.GRID.items():
            if values[column] is None:
                assert algo not in algos and not any(x.startswith(f"{algo}_learning_rate") for x in command)
            else:
                assert algo in algos and f"{algo}_learning_rate={values[column]:g}" in command
    scores = {algo: [0.1, 0.2, 0.3, 0.2, 0.1, 0.1, 0.1, 0.1] for algo in lr_sweep.GRID}
    _write_sweep(tmp_path / "a", scores)
    _write_sweep(tmp_path / "b", scores, test_scores=[1.0] + [0.0] * 7)  # the test split would pick column 0
    assert lr_sweep.choose(tmp_path / "a")["chosen"] == {algo: values[2] for algo, values in lr_sweep.GRID.items()}
    assert lr_sweep.choose(tmp_path / "a") == lr_sweep.choose(tmp_path / "b")


def test_out_naming_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    with pytest.raises(SystemExit) as exit_:
        lr_sweep.main(["--out", str(tmp_path / "file")])
    assert exit_.value.code == 2 and "is a file" in capsys.readouterr().err


def test_the_committed_sweep_gives_the_committed_choice_and_the_standard_presets_rates():
    from srl_gym.compare import preset_config

    result = json.loads(json.dumps(lr_sweep.choose(_SWEEP)))  # tuples as JSON lists
    saved = json.loads((_SWEEP / "choice.json").read_text(encoding="utf-8"))
    saved.pop("wall_seconds")
    assert result == saved
    standard = preset_config("standard")
    assert {algo: getattr(standard, f"{algo}_learning_rate") for algo in lr_sweep.GRID} == result["chosen"]


def test_a_pretrained_start_model_sweeps_its_own_grid_around_its_own_defaults(tmp_path):
    from srl_gym.compare import LEARNING_RATES

    grid, defaults = lr_sweep.grid_for("smollm2-longmul-200")
    assert grid is lr_sweep.PRETRAINED_GRID and defaults == {a: LEARNING_RATES["pretrained"][a] for a in grid}
    for algo, values in grid.items():  # every default inside the grid, not at its edge
        assert min(values) < defaults[algo] < max(values)
    assert lr_sweep.grid_for("tiny-longmul") == (lr_sweep.GRID, lr_sweep.DEFAULTS)
    command = lr_sweep.command(tmp_path, 0, grid, "gpu-regimes", "smollm2-longmul-200")
    assert command[command.index("--preset") + 1] == "gpu-regimes"
    assert command[command.index("--model") + 1] == "smollm2-longmul-200"
    assert "sft_learning_rate=5e-06" in command and "boundary_samples=0" in command


def test_a_preset_of_several_start_models_is_swept_one_model_at_a_time(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        lr_sweep.main(["--preset", "gpu-regimes", "--out", str(tmp_path)])
    assert exit_.value.code == 2 and "sweep one with --model" in capsys.readouterr().err
