"""`srl-gym compare`: presets and bad input, the output folder rules, statistics, resume, and small real grids."""

from __future__ import annotations

import json
import math
import sys
import types
from pathlib import Path

import pytest

from srl_gym import algorithms, cli, compare, metrics, report
from srl_gym.algorithms import Checkpoint, TrainResult

FAST = {  # a real comparison, shrunk to seconds
    "warmup_problems": 40,
    "warmup_updates": 4,
    "train_problems": 6,
    "updates": 2,
    "prompts_per_update": 2,
    "group_size": 2,
    "max_sampling_rounds": 1,
    "max_new_tokens_cap": 24,
    "eval_problems": 2,
    "eval_samples": 2,
    "curve_points": 2,
}


# ---------------------------------------------------------------------- statistics
def test_mean_ci_uses_students_t():
    stat = metrics.mean_ci([1.0, 2.0, 3.0])
    assert stat["mean"] == 2.0 and stat["n"] == 3
    assert stat["ci95"] == pytest.approx(4.303 * 1.0 / math.sqrt(3))
    assert metrics.mean_ci([0.5]) == {"mean": 0.5, "ci95": None, "n": 1}
    assert metrics.mean_ci([]) == {"mean": None, "ci95": None, "n": 0}
    assert metrics.mean_ci([0.2, 0.2, 0.2])["ci95"] == pytest.approx(0.0, abs=1e-12)


def test_fmt():
    assert report.fmt({"mean": 0.4217, "ci95": 0.081}) == "0.42 ± 0.08"
    assert report.fmt({"mean": 0.4217, "ci95": None}) == "0.42"
    assert report.fmt(None) == "n/a"


# ---------------------------------------------------------------------- presets and bad input
@pytest.mark.parametrize("preset", sorted(compare.PRESETS))
def test_every_preset_is_valid(preset):
    config = compare.preset_config(preset)
    assert compare.grid(config)
    assert config.preset == preset


def test_quick_preset_shows_every_lm_algorithm_with_several_seeds():
    config = compare.preset_config("quick")
    assert set(config.algos) == {"base", "sft", "rlvr", "srl", "srl-rlvr"}
    assert config.seeds >= 3


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"tasks": ("Nope",)}, "unknown task 'Nope'; valid: Arithmetic"),
        ({"algos": ("sft", "magic")}, "unknown algorithm(s) magic; valid: base, sft"),
        ({"seeds": 0}, "seeds must be an integer >= 1"),
        ({"train_difficulty": 9}, "train_difficulty=9 is not a level"),
        ({"updates": 1}, "srl-rlvr splits the budget"),
        ({"bogus": 1}, "unknown setting(s) bogus"),
        ({"tasks": ("Hanoi", "srl/Hanoi-v0")}, "tasks lists a name twice"),
    ],
)
def test_bad_settings_name_the_fix(changes, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        compare.preset_config("quick", **changes)


def test_models_that_would_share_a_folder_are_refused(tmp_path):
    dirs = [tmp_path / run / "update-1" / "model" for run in ("a", "b")]
    for d in dirs:
        d.mkdir(parents=True)
        (d / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="would share an output folder"):
        compare.preset_config("quick", models=tuple(str(d) for d in dirs))


def test_missing_model_directory_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(FileNotFoundError, match="no model directory at no/such/model"):
        compare.preset_config("quick", models=("no/such/model",))
    with pytest.raises(ValueError, match="unknown model 'gpt-17'"):
        compare.preset_config("quick", models=("gpt-17",))


def test_unknown_preset_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown preset 'huge'; valid: quick, standard, discrete, gpu"):
        compare.preset_config("huge")


def test_task_names_resolve_to_ids():
    config = compare.preset_config("quick", tasks=("Hanoi", "srl/BlocksWorld-v0"))
    assert config.tasks == ("srl/Hanoi-v0", "srl/BlocksWorld-v0")


def test_cli_bad_input_exits_2_with_the_valid_names(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["compare", "--algos", "sft,nope", "--show-config"])
    assert exit_.value.code == 2
    assert "valid: base, sft, rlvr, srl, srl-rlvr" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["compare", "--set", "updates=many"])
    assert "updates needs a int" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["compare", "--tasks", " , ", "--show-config"])
    assert "comma-separated list of names, got nothing" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["compare", "--set", "seeds=5"])
    assert "seeds has its own flag: --seeds" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["compare", "--set", "keep_models=flase"])
    assert "keep_models needs true or false" in capsys.readouterr().err


def test_int_and_float_settings_are_the_same_setting(tmp_path):
    out = tmp_path / "cmp"
    compare.open_output(out, compare.preset_config("quick", eval_temperature=1), force=False, resume=False)
    compare.open_output(out, compare.preset_config("quick", eval_temperature=1.0), force=False, resume=False)


def test_cli_show_config_applies_flags(capsys):
    assert cli.main(["compare", "--preset", "discrete", "--seeds", "2", "--set", "ppo_timesteps=999",
                     "--show-config"]) == 0  # fmt: skip
    shown = json.loads(capsys.readouterr().out)
    assert shown["preset"] == "discrete" and shown["seeds"] == 2 and shown["ppo_timesteps"] == 999


def test_command_line_reproduces_the_config():
    config = compare.preset_config("quick", seeds=2, tasks=("Hanoi",), updates=7)
    args = compare._command_args(config)
    assert args == ["--preset", "quick", "--tasks", "srl/Hanoi-v0", "--seeds", "2", "--set", "updates=7"]


# ---------------------------------------------------------------------- the output folder
def test_output_folder_rules(tmp_path):
    out = tmp_path / "cmp"
    first = compare.preset_config("quick", **FAST)
    compare.open_output(out, first, force=False, resume=False)
    (out / "marker").write_text("finished work")
    compare.open_output(out, first, force=False, resume=False)  # the same comparison: continue it
    assert (out / "marker").exists()

    other = compare.preset_config("quick", **(FAST | {"updates": 4}))
    with pytest.raises(ValueError, match=r"other settings \(updates\).*--resume.*--force"):
        compare.open_output(out, other, force=False, resume=False)
    resumed = compare.open_output(out, other, force=False, resume=True)  # finish the saved one
    assert resumed.updates == FAST["updates"] and (out / "marker").exists()
    forced = compare.open_output(out, other, force=True, resume=False)  # start over
    assert forced.updates == 4 and not (out / "marker").exists()

    model_dir = tmp_path / "my-model"  # a config.json that is not ours: never deleted, never resumed
    model_dir.mkdir()
    (model_dir / "config.json").write_text('{"architectures": ["LlamaForCausalLM"]}')
    (model_dir / "model.safetensors").write_text("weights")
    for force, resume in ((True, False), (False, True), (False, False)):
        with pytest.raises(ValueError, match="not a comparison folder"):
            compare.open_output(model_dir, first, force=force, resume=resume)
    assert (model_dir / "model.safetensors").exists()

    with pytest.raises(ValueError, match="holds no comparison"):
        compare.open_output(tmp_path / "empty", first, force=False, resume=True)
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "thesis.tex").write_text("do not delete")
    for force in (False, True):
        with pytest.raises(ValueError, match="not a comparison folder"):
            compare.open_output(stranger, first, force=force, resume=False)
    assert (stranger / "thesis.tex").exists()


# ---------------------------------------------------------------------- the runner, with stand-in algorithms
@pytest.fixture
def fake_algorithms(monkeypatch):
    """Instant algorithms whose 'success' is a known function of (algo, seed), to test the runner itself.

    They are registered the way any algorithm is: a module with ``train_cell`` under a name, and the
    ``lm`` kind's module (``evaluate``, ``prepare_base``) replaced by a stand-in.
    """
    calls = []
    values = {"base": 0.0, "sft": 0.5}

    def train_cell(cell, algo):
        calls.append((algo, cell.seed))
        cell.run_dir.joinpath("model").mkdir()
        return TrainResult([Checkpoint(str(cell.run_dir / "mid"), {"updates": 1.0}),
                            Checkpoint(str(cell.run_dir / "model"), {"updates": 2.0})])  # fmt: skip

    def evaluate(path, task, difficulty, config, seed, full):
        algo = Path(path).parts[-4]
        value = values[algo] + 0.1 * seed
        out = {"greedy_success": value, "step_similarity": value, "format_rate": 1.0}
        return out | ({"avg_at_k": value, "pass_at_k": value} if full else {})

    def prepare_base(model, task, config, directory):
        return {"model_dir": "base-dir", "curve_point": {"greedy_success": 0.0, "step_similarity": 0.0}}

    fake = types.ModuleType("fake_algorithms")
    fake.train_cell, fake.evaluate, fake.prepare_base = train_cell, evaluate, prepare_base
    monkeypatch.setitem(sys.modules, "fake_algorithms", fake)
    algorithms.algorithms()  # the built-ins first, so the stand-ins replace them
    for name in values:
        spec = algorithms.AlgorithmSpec(name, "lm", "fake_algorithms", "fake", (("algo", name),), trainable=False)
        monkeypatch.setitem(algorithms.ALGORITHMS, name, spec)
    monkeypatch.setitem(algorithms.KINDS, "lm", algorithms.KindSpec("lm", "fake_algorithms"))
    return calls


def test_runner_writes_results_and_finishes_only_missing_cells(tmp_path, fake_algorithms):
    out = tmp_path / "cmp"
    results = compare.compare("quick", out, algos=("base", "sft"), seeds=3, progress=False)
    assert len(fake_algorithms) == 6 and results["complete"]
    saved = json.loads((out / "results.json").read_text())
    assert saved["config"]["seeds"] == 3 and len(saved["cells"]) == 6
    assert "packages" in saved["environment"] and "git_commit" in saved["environment"]
    sft = next(r for r in saved["summary"] if r["algo"] == "sft")
    stat = sft["eval"]["1"]["greedy_success"]
    assert stat["mean"] == pytest.approx(0.6) and stat["n"] == 3  # 0.5 + 0.1 * (0, 1, 2) / 3
    assert stat["ci95"] == pytest.approx(4.303 * 0.1 / math.sqrt(3), rel=1e-3)
    assert [p["budget"] for p in sft["curve"]] == [0, 1, 2]
    table = (out / "table.md").read_text()
    assert "| sft | 3 | 0.60 ± 0.25 |" in table
    for name in saved["figures"]:
        assert (out / name).stat().st_size > 1000

    # An interrupted run: one cell lost its result; the rerun trains only that one.
    (out / "cells" / "tiny" / "BlocksWorld-v0" / "sft" / "seed-1" / "result.json").unlink()
    fake_algorithms.clear()
    again = compare.compare("quick", out, algos=("base", "sft"), seeds=3, progress=False)
    assert fake_algorithms == [("sft", 1)]
    assert [r["eval"] for r in again["summary"]] == [r["eval"] for r in results["summary"]]


def test_runner_keeps_finished_cells_when_interrupted(tmp_path, fake_algorithms, monkeypatch):
    out = tmp_path / "cmp"
    original = sys.modules["fake_algorithms"].train_cell

    def crash(cell, algo):
        if cell.seed == 1 and algo == "sft":
            raise KeyboardInterrupt
        return original(cell, algo)

    monkeypatch.setattr(sys.modules["fake_algorithms"], "train_cell", crash)
    with pytest.raises(KeyboardInterrupt):
        compare.compare("quick", out, algos=("base", "sft"), seeds=2, progress=False)
    partial = json.loads((out / "results.json").read_text())
    assert not partial["complete"] and len(partial["cells"]) == 3  # base 0, sft 0, base 1
    assert "INCOMPLETE" in (out / "table.md").read_text()


# ---------------------------------------------------------------------- small real grids
@pytest.mark.slow
def test_real_lm_grid_runs_every_algorithm(tmp_path):
    """Every LM algorithm trains from one warmed-up base and is evaluated at two difficulties."""
    out = tmp_path / "lm"
    results = compare.compare("quick", out, seeds=1, progress=False, device="cpu", **FAST)
    assert results["complete"] and {c["algo"] for c in results["cells"]} == {"base", "sft", "rlvr", "srl", "srl-rlvr"}
    for cell in results["cells"]:
        assert set(cell["eval"]) == {"1", "2"}
        for scores in cell["eval"].values():
            assert 0 <= scores["greedy_success"] <= 1 and 0 <= scores["step_similarity"] <= 1
            assert 0 <= scores["avg_at_k"] <= scores["pass_at_k"] <= 1
        if cell["algo"] != "base":
            assert cell["budget"]["updates"] == FAST["updates"]
            assert cell["model_path"] and (out / cell["model_path"] / "config.json").is_file()
    budgets = {c["algo"]: c["budget"] for c in results["cells"]}
    assert budgets["sft"]["trained_tokens"] > 0 and budgets["sft"]["generated_tokens"] == 0
    assert budgets["srl"]["generated_tokens"] > 0 and budgets["rlvr"]["generated_tokens"] > 0
    # intermediate checkpoints and optimiser states are pruned; each trained cell keeps its final model
    assert not list(out.rglob("optimizer.pt")) and not list((out / "cells").rglob("checkpoint-*"))
    assert len(list((out / "cells").rglob("model.safetensors"))) == 4
    assert (out / "base" / "tiny" / "BlocksWorld-v0" / "base.json").is_file()


@pytest.mark.slow
def test_real_discrete_grid_bc_beats_random(tmp_path):
    """BC clones the oracle on 3-disk Hanoi: its greedy success beats a random legal move."""
    out = tmp_path / "discrete"
    results = compare.compare(
        "discrete", out, tasks=("Hanoi",), seeds=2, progress=False,
        train_difficulty=0, ppo_timesteps=1024, eval_problems=14, eval_samples=2,
    )  # fmt: skip
    rows = {r["algo"]: r for r in results["summary"]}
    assert set(rows) == {"random", "bc", "ppo-srl", "ppo-outcome"}
    bc, random = (rows[a]["eval"]["0"]["greedy_success"]["mean"] for a in ("bc", "random"))
    assert bc >= 0.9 and bc > random + 0.2
    assert rows["bc"]["eval"]["1"] == {}  # 4 disks: another observation shape, so no score one level up
    assert [p["budget"] for p in rows["ppo-srl"]["curve"]][-1] == 1024
    assert (out / "bars-mlp-Hanoi-v0.png").is_file()
