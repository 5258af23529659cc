"""`srl-gym compare`: presets and bad input, the output folder rules, statistics, resume, and small real grids."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import re
import sys
import time
import types
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from srl_gym import algorithms, cli, compare, metrics, report, stats
from srl_gym.algorithms import Checkpoint, TrainResult

FAST = {  # a real comparison, shrunk to seconds (so underpowered on purpose)
    "tasks": ("srl/BlocksWorld-v0",),
    "models": ("tiny",),
    "force_underpowered": True,
    "validation_problems": 2,
    "warmup_problems": 40,
    "warmup_updates": 4,
    "train_problems": 6,
    "updates": 2,
    "prompts_per_update": 2,
    "group_size": 2,
    "max_sampling_rounds": 1,
    "max_new_tokens_cap": 24,
    "eval_problems": 2,
    "eval_harder_levels": 1,  # quick scores the training level only; these tests check both
    "eval_samples": 2,
    "curve_points": 2,
    "onpolicy_problems": 2,
    "control_updates": 2,
}


# ---------------------------------------------------------------------- statistics
def test_mean_ci_uses_students_t():
    stat = metrics.mean_ci([1.0, 2.0, 3.0])
    assert stat["mean"] == 2.0 and stat["n"] == 3
    assert stat["ci95"] == pytest.approx(4.303 * 1.0 / math.sqrt(3))
    assert metrics.mean_ci([0.5]) == {"mean": 0.5, "ci95": None, "n": 1}
    assert metrics.mean_ci([]) == {"mean": None, "ci95": None, "n": 0}
    assert metrics.mean_ci([0.2, 0.2, 0.2])["ci95"] == pytest.approx(0.0, abs=1e-12)


def per_problem_cell(algo, seed, scores, *, extra=None, model="tiny", task="srl/BlocksWorld-v0", kind="lm"):
    """A result record whose d1 eval has greedy success with per-problem scores (what the evaluators store)."""
    scores = [float(x) for x in scores]
    result = {"greedy_success": sum(scores) / len(scores), "problems": len(scores),
              "per_problem": {"greedy_success": scores}} | (extra or {})  # fmt: skip
    return {"model": model, "task": task, "algo": algo, "seed": seed, "kind": kind, "eval": {"1": result},
            "curve": [], "budget": {"updates": 2.0}}  # fmt: skip


def test_summarize_bootstraps_over_problems_when_cells_have_per_problem_scores():
    """Seeds that agree on every problem: t over seeds says 0 width; problems still vary, the bootstrap says so."""
    scores = [1, 0] * 50  # 100 problems, half solved, the same by every seed
    cells = [per_problem_cell("srl", s, scores, extra={"note": "text", "flag": True}) for s in range(3)]
    (row,) = metrics.summarize(cells)
    stat = row["eval"]["1"]["greedy_success"]
    assert metrics.mean_ci([0.5, 0.5, 0.5])["ci95"] == pytest.approx(0.0, abs=1e-12)  # what t over seeds would say
    assert stat["method"] == "bootstrap seeds x problems" and stat["problems"] == 100 and stat["n"] == 3
    assert stat["mean"] == pytest.approx(0.5)
    assert stat["ci_low"] < 0.5 < stat["ci_high"]
    assert stat["ci95"] == pytest.approx((stat["ci_high"] - stat["ci_low"]) / 2)
    binomial = 1.96 * math.sqrt(0.25 / 100)  # problems are the only variance here: about the binomial width
    assert 0.8 * binomial < stat["ci95"] < 1.2 * binomial
    # the per-problem lists and non-numeric entries are no metric; the count of problems is (t over seeds)
    assert set(row["eval"]["1"]) == {"greedy_success", "problems"}
    assert row["eval"]["1"]["problems"] == {"mean": 100.0, "ci95": 0.0, "n": 3, "method": "t over seeds"}
    # deterministic, and independent of the cells' order
    assert metrics.summarize(cells[::-1]) == [row]
    json.dumps(row)


def test_summarize_bootstrap_holds_seed_variance_too():
    rng = np.random.default_rng(0)
    cells = [per_problem_cell("srl", s, (rng.random(200) < rate).astype(float))
             for s, rate in enumerate((0.2, 0.5, 0.8))]  # fmt: skip
    stat = metrics.summarize(cells)[0]["eval"]["1"]["greedy_success"]
    t = metrics.mean_ci([c["eval"]["1"]["greedy_success"] for c in cells])
    assert stat["method"] == "bootstrap seeds x problems"
    assert stat["mean"] == pytest.approx(t["mean"])
    assert stat["ci_low"] < t["mean"] - 0.1 and stat["ci_high"] > t["mean"] + 0.1  # the seeds' spread is in it


def test_summarize_falls_back_to_t_over_seeds_without_per_problem_scores():
    old = [{"model": "tiny", "task": "T", "algo": "sft", "seed": s, "eval": {"1": {"greedy_success": v}},
            "curve": [], "budget": {}} for s, v in enumerate((0.4, 0.5, 0.6))]  # fmt: skip
    stat = metrics.summarize(old)[0]["eval"]["1"]["greedy_success"]
    assert stat == metrics.mean_ci([0.4, 0.5, 0.6]) | {"method": "t over seeds"}
    # one seed without the list (a resumed comparison): the whole algorithm falls back
    mixed = [per_problem_cell("srl", 0, [1, 0, 1, 0]), per_problem_cell("srl", 1, [1, 1, 1, 0])]
    del mixed[1]["eval"]["1"]["per_problem"]
    stat = metrics.summarize(mixed)[0]["eval"]["1"]["greedy_success"]
    assert stat == metrics.mean_ci([0.5, 0.75]) | {"method": "t over seeds"}
    # lists of different lengths cannot be one matrix: t, not an error
    ragged = [per_problem_cell("srl", 0, [1, 0, 1, 0]), per_problem_cell("srl", 1, [1, 1, 0])]
    assert metrics.summarize(ragged)[0]["eval"]["1"]["greedy_success"]["method"] == "t over seeds"


def test_summarize_is_fast_on_a_big_grid():
    """6 algorithms x 5 seeds x 200 problems x 2 difficulties x 3 metrics: compare rewrites it after every cell."""
    rng = np.random.default_rng(1)
    cells = []
    for algo in ("base", "sft", "rlvr", "srl", "srl-rlvr", "other"):
        for seed in range(5):
            evals = {}
            for d in ("1", "2"):
                lists = {m: (rng.random(200) < 0.4).astype(float).tolist()
                         for m in ("greedy_success", "agent_success", "step_similarity")}  # fmt: skip
                evals[d] = {m: float(np.mean(v)) for m, v in lists.items()} | {"per_problem": lists}
            cells.append({"model": "tiny", "task": "T", "algo": algo, "seed": seed, "kind": "lm", "eval": evals,
                          "curve": [], "budget": {}})  # fmt: skip
    start = time.perf_counter()
    rows = metrics.summarize(cells)
    elapsed = time.perf_counter() - start
    assert all(
        s["method"] == "bootstrap seeds x problems" for r in rows for e in r["eval"].values() for s in e.values()
    )
    assert elapsed < 3.0  # about 0.2-0.4 s on a shared CPU; generous for loaded test machines


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


def test_quick_and_standard_presets_show_the_contenders_and_both_controls_with_several_seeds():
    config = compare.preset_config("quick")
    assert set(config.algos) == {"base", "sft", "rlvr", "srl", "control-sft", "control-rlvr"}
    assert config.seeds >= 3
    assert set(compare.preset_config("standard").algos) == set(compare.CompareConfig().algos)
    assert config.train_problems >= 1000  # fewer only memorise (the pilot of December 2026)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"tasks": ("Nope",)}, "unknown task 'Nope'; valid: Arithmetic"),
        ({"algos": ("sft", "magic")}, "unknown algorithm(s) magic; valid: base, sft"),
        ({"seeds": 0}, "seeds must be an integer >= 1"),
        ({"train_difficulty": 9}, "train_difficulty=9 is not a level"),
        ({"updates": 1, "algos": ("srl-rlvr",)}, "srl-rlvr splits the budget"),
        ({"control_updates": 0}, "control_updates must be an integer >= 1"),
        ({"train_difficulty": 3}, "control-rlvr trains on the level above train_difficulty=3"),
        ({"bogus": 1}, "unknown setting(s) bogus"),
        ({"tasks": ("Hanoi", "srl/Hanoi-v0")}, "tasks lists a name twice"),
        ({"workers": 0}, "workers must be an integer >= 1"),
    ],
)
def test_bad_settings_name_the_fix(changes, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        compare.preset_config("quick", **changes)


def test_a_level_with_fewer_distinct_problems_than_asked_is_refused():
    # Hanoi level 0 (3 disks, any legal start, any goal peg) holds a few hundred problems, not 1,000
    distinct = compare.distinct_training_problems("srl/Hanoi-v0", 0, 1000)
    assert distinct < 0.95 * 1000
    with pytest.raises(ValueError, match=f"validation problems of srl/Hanoi.*give only {distinct} distinct problems"):
        compare.preset_config("quick", tasks=("Hanoi",), models=("tiny",), train_difficulty=0)
    forced = compare.preset_config("quick", tasks=("Hanoi",), models=("tiny",), train_difficulty=0,
                                   force_underpowered=True)  # fmt: skip
    assert len(forced.validation_seeds("srl/Hanoi-v0")) < forced.validation_problems  # the level is exhausted


def test_validation_problems_are_disjoint_from_the_training_problems_by_text():
    from srl_gym.episodes import problem_texts

    config = compare.preset_config("quick")
    task, level = "srl/LongMultiplication-v0", config.train_difficulty
    seeds = config.validation_seeds(task)
    assert len(seeds) == config.validation_problems and seeds[0] == config.validation_start
    training = set(problem_texts(task, range(config.train_problems), difficulty=level))
    assert not training & set(problem_texts(task, seeds, difficulty=level))
    plain = range(config.validation_start, config.validation_start + config.validation_problems)
    assert training & set(problem_texts(task, plain, difficulty=level))  # what the skipped seeds would have given
    assert len(seeds) == len(set(seeds)) and list(seeds) == sorted(seeds)


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
    valid = "quick, standard, regimes, discrete, gpu, gpu-regimes"
    with pytest.raises(ValueError, match=f"unknown preset 'huge'; valid: {valid}"):
        compare.preset_config("huge")


def test_task_names_resolve_to_ids():
    config = compare.preset_config("discrete", tasks=("Hanoi", "srl/BlocksWorld-v0"))
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
    config = compare.preset_config("quick", seeds=2, tasks=("BlocksWorld",), updates=7)
    args = compare._command_args(config)
    assert args == ["--preset", "quick", "--tasks", "srl/BlocksWorld-v0", "--seeds", "2", "--set", "updates=7"]


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

    grown = replace(forced, seeds=forced.seeds + 1, algos=(*forced.algos, "srl-rlvr"))
    (out / "marker").write_text("finished work")
    extended = compare.open_output(out, grown, force=False, resume=False)  # a larger grid: its cells are kept
    assert extended.algos[-1] == "srl-rlvr" and (out / "marker").exists()
    assert compare.extends(dataclasses.asdict(forced), dataclasses.asdict(replace(grown, algos=grown.algos[::-1])))
    for smaller in ({"seeds": 1}, {"algos": first.algos[1:]}):
        assert not compare.extends(dataclasses.asdict(grown), dataclasses.asdict(replace(grown, **smaller)))
    assert not compare.extends(dataclasses.asdict(forced), dataclasses.asdict(replace(grown, updates=5)))

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

    def evaluate(path, task, difficulty, config, seed, *, split="test", full=True):
        algo = Path(path).parts[-4]
        value = values[algo] + 0.1 * seed
        out = {"greedy_success": value, "step_similarity": value, "format_rate": 1.0}
        return out | ({"avg_at_k": value, "pass_at_k": value} if full else {})

    def prepare_base(model, task, config, directory):
        return {"model_dir": "base-dir", "curve_point": {"greedy_success": 0.0, "step_similarity": 0.0}}

    _register_fakes(monkeypatch, values, train_cell, evaluate, prepare_base)
    return calls


def _register_fakes(monkeypatch, names, train_cell, evaluate, prepare_base):
    fake = types.ModuleType("fake_algorithms")
    fake.train_cell, fake.evaluate, fake.prepare_base = train_cell, evaluate, prepare_base
    monkeypatch.setitem(sys.modules, "fake_algorithms", fake)
    algorithms.algorithms()  # the built-ins first, so the stand-ins replace them
    for name in names:  # the controls and objectives of the real algorithms of the same names
        real = algorithms.ALGORITHMS.get(name)
        spec = algorithms.AlgorithmSpec(name, "lm", "fake_algorithms", "fake", (("algo", name),), trainable=False,
                                        objectives=real.objectives if real else (),
                                        control=real.control if real else None)  # fmt: skip
        monkeypatch.setitem(algorithms.ALGORITHMS, name, spec)
    monkeypatch.setitem(algorithms.KINDS, "lm", algorithms.KindSpec("lm", "fake_algorithms"))
    monkeypatch.setattr(compare, "default_workers", lambda config: 1)  # stand-ins exist in this process only


PROBLEMS = 100
#: Per-problem greedy success of each stand-in algorithm (the same for every seed, as for the base).
PER_PROBLEM = {
    "base": [float(i % 3 == 0) for i in range(PROBLEMS)],
    "sft": [float(i % 2) for i in range(PROBLEMS)],
    "rlvr": [0.0] * PROBLEMS,  # always wrong
    "srl": [1.0] * PROBLEMS,  # always right: srl - rlvr is as clear as a difference gets
    "srl-rlvr": [1.0] * PROBLEMS,  # identical to srl: srl-rlvr - srl is the null case
    "srl-onpolicy": [float(i % 4 != 0) for i in range(PROBLEMS)],  # a quarter worse than srl
    "control-sft": [float(i % 3 == 0 or i % 2 == 0) for i in range(PROBLEMS)],  # the base's wins and more
    "control-rlvr": [float(i % 3 == 0) for i in range(PROBLEMS)],  # exactly the base
}


@pytest.fixture
def fake_per_problem(monkeypatch):
    """Stand-in LM algorithms whose evaluations store per-problem scores, as the real evaluators do."""

    def train_cell(cell, algo):
        cell.run_dir.joinpath("model").mkdir()
        return TrainResult([Checkpoint(str(cell.run_dir / "model"), {"updates": 2.0})])

    def evaluate(path, task, difficulty, config, seed, *, split="test", full=True):
        algo = Path(path).parts[-4]
        greedy = PER_PROBLEM[algo]
        similarity = [0.5 + 0.25 * g for g in greedy]
        mean = sum(greedy) / PROBLEMS
        out = {"greedy_success": mean, "step_similarity": sum(similarity) / PROBLEMS, "format_rate": 1.0,
               "agent_success": mean, "problems": PROBLEMS}  # fmt: skip
        if full:  # agent_success has no per-problem list: t over seeds, and no contrast
            out |= {"avg_at_k": mean, "pass_at_k": mean,
                    "per_problem": {"greedy_success": list(greedy), "step_similarity": similarity}}  # fmt: skip
        return out

    def prepare_base(model, task, config, directory):
        return {"model_dir": "base-dir", "curve_point": {"greedy_success": 0.0, "step_similarity": 0.0}}

    _register_fakes(monkeypatch, PER_PROBLEM, train_cell, evaluate, prepare_base)


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
    (out / "cells" / "tiny-longmul" / "LongMultiplication-v0" / "sft" / "seed-1" / "result.json").unlink()
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


def test_runner_reports_bootstrap_intervals_and_primary_contrasts(tmp_path, fake_per_problem):
    out = tmp_path / "cmp"
    compare.compare("quick", out, algos=tuple(PER_PROBLEM), seeds=2, progress=False, eval_harder_levels=1)
    saved = json.loads((out / "results.json").read_text())
    assert list(saved).index("contrasts") == list(saved).index("summary") + 1
    rows = {r["algo"]: r for r in saved["summary"]}
    sft = rows["sft"]["eval"]["1"]
    assert sft["greedy_success"]["method"] == "bootstrap seeds x problems" and sft["greedy_success"]["problems"] == 100
    assert sft["greedy_success"]["ci95"] > 0.05  # half the problems solved: problem variance, though the seeds agree
    assert sft["agent_success"]["method"] == "t over seeds" and sft["agent_success"]["ci95"] == pytest.approx(0.0)
    assert "per_problem" not in sft

    assert {r["family"] for r in saved["contrasts"]} == {"primary", "controls"}
    contrasts = {(r["metric"], r["difficulty"]): r for r in saved["contrasts"] if r["family"] == "primary"}
    assert set(contrasts) == {(m, d) for m in ("greedy_success", "step_similarity") for d in ("1", "2")}
    controls = {(r["metric"], r["difficulty"]): r for r in saved["contrasts"] if r["family"] == "controls"}
    positive, negative = controls["greedy_success", "1"]["contrasts"]
    assert (positive["a"], negative["a"]) == ("control-sft", "control-rlvr")
    assert positive["significant"] and positive["diff"] > 0 and positive["p_adjusted"] == pytest.approx(2 / 2001)
    assert negative["diff"] == 0.0 and not negative["significant"]
    greedy = {(t["a"], t["b"]): t for t in contrasts["greedy_success", "1"]["contrasts"]}
    assert list(greedy) == [
        ("srl", "rlvr"), ("srl", "sft"), ("srl", "base"), ("srl-rlvr", "srl"), ("srl-onpolicy", "srl")
    ]
    clear, null = greedy["srl", "rlvr"], greedy["srl-rlvr", "srl"]
    assert clear["diff"] == 1.0 and clear["low"] == clear["high"] == 1.0 and clear["significant"]
    assert clear["p_adjusted"] == pytest.approx(5 / 2001)  # the bootstrap's floor, times Holm's 5 for the smallest
    assert (clear["wins"], clear["ties"], clear["losses"]) == (100, 0, 0)
    assert null["diff"] == 0.0 and null["p_adjusted"] == 1.0 and not null["significant"]
    assert (null["wins"], null["ties"], null["losses"]) == (0, 100, 0)
    assert greedy["srl", "sft"]["diff"] == pytest.approx(0.5) and greedy["srl", "sft"]["significant"]

    table = (out / "table.md").read_text()
    assert "Intervals: 95% hierarchical bootstrap over seeds and problems (100 problems) for greedy success" in table
    assert "95% Student t over seeds for" in table  # format: no per-problem lists
    assert "## Primary contrasts" in table
    lines = [line for line in table.splitlines() if line.startswith("| LongMultiplication-v0 | tiny-longmul |")]
    assert (
        "| LongMultiplication-v0 | tiny-longmul | greedy success | d1 | srl - rlvr | +1.00 [+1.00, +1.00] | 0.002 | "
        "yes | 100/0/0 |" in lines
    )
    assert (
        "| LongMultiplication-v0 | tiny-longmul | greedy success | d1 | srl-rlvr - srl | +0.00 [+0.00, +0.00] | "
        "1.000 | no | 0/100/0 |" in lines
    )
    # 2 metrics x 2 difficulties x (5 contrasts + 2 controls), then 5 objectives (below)
    assert len(lines) == 2 * 2 * 5 + 2 * 2 * 2 + 5
    assert "## Controls" in table
    assert ("| LongMultiplication-v0 | tiny-longmul | greedy success | d1 | control-sft - base | +0.33 [+0.24, +0.42] "
            "| < 0.001 | yes | significantly above the base | yes |") in lines
    assert ("| LongMultiplication-v0 | tiny-longmul | greedy success | d1 | control-rlvr - base | +0.00 [+0.00, +0.00] "
            "| 1.000 | no | not significantly apart from the base | yes |") in lines
    assert ("| LongMultiplication-v0 | tiny-longmul | greedy success | d2 | control-sft - base | +0.33 [+0.24, +0.42] "
            "| < 0.001 | yes | - | - |") in lines  # judged at the training level only
    # Each algorithm against the base on its own objective: sft and control-sft optimise greedy success, the
    # negative control (RLVR) avg@k
    objectives = {(r["algo"], r["metric"]): r for r in saved["objectives"]}
    assert set(objectives) == {("sft", "greedy_success"), ("control-sft", "greedy_success"), ("rlvr", "avg_at_k"),
                               ("srl-rlvr", "avg_at_k"), ("control-rlvr", "avg_at_k")}  # srl's are not scored here
    assert objectives["sft", "greedy_success"]["diff"] == pytest.approx(0.5 - 0.34) and objectives[
        "sft", "greedy_success"]["improved"]
    assert not objectives["control-rlvr", "avg_at_k"]["improved"]
    assert objectives["sft", "greedy_success"]["method"] == "bootstrap seeds x problems"  # as the contrasts
    assert objectives["control-rlvr", "avg_at_k"]["method"] == "t over seeds"  # no per-problem avg@k here
    assert ("| LongMultiplication-v0 | tiny-longmul | sft | greedy success | d1 | 2 | 0.500 | 0.340 | +0.160 "
            "[+0.020, +0.300] | yes |") in lines
    onpolicy = greedy["srl-onpolicy", "srl"]
    assert onpolicy["diff"] == pytest.approx(-0.25) and onpolicy["significant"]
    assert not any("agent success" in line for line in lines)

    # python -m srl_gym.report recomputes the contrasts of a results.json saved without them
    del saved["contrasts"]
    (out / "results.json").write_text(json.dumps(saved))
    (out / "table.md").unlink()
    assert report.main([str(out / "results.json")]) == 0
    assert (out / "table.md").read_text() == table


def test_old_results_without_per_problem_scores_still_render(tmp_path, capsys):
    """A results.json from before per-problem scores (and contrasts) were stored."""
    old = Path(__file__).parent / "data" / "quick-results-before-per-problem.json"  # docs/results/quick-cpu at d00fb66
    results = json.loads(old.read_text())
    assert "contrasts" not in results and not any(
        "per_problem" in e for c in results["cells"] for e in c["eval"].values()
    )
    table = report.table_markdown(results)
    assert "Intervals: 95% Student t over seeds." in table and "hierarchical bootstrap" not in table
    assert "## Primary contrasts" in table and "None tested" in table
    sft = next(r for r in results["summary"] if r["algo"] == "sft")
    assert f"| sft | {results['config']['seeds']} | {report.fmt(sft['eval']['1']['greedy_success'])} |" in table
    # and its summary, recomputed from its cells, is the t interval of before
    for row, again in zip(results["summary"], metrics.summarize(results["cells"]), strict=True):
        for d, stats_ in row["eval"].items():
            for m, stat in stats_.items():
                assert again["eval"][d][m] == stat | {"method": "t over seeds"}
    (tmp_path / "results.json").write_text(json.dumps(results))
    assert report.main([str(tmp_path / "results.json")]) == 0
    assert "None tested" in (tmp_path / "table.md").read_text()


# ---------------------------------------------------------------------- small real grids
@pytest.mark.slow
def test_real_lm_grid_runs_every_algorithm(tmp_path):
    """Every LM algorithm trains from one warmed-up base and is evaluated at two difficulties."""
    out = tmp_path / "lm"
    every = tuple(algorithms.algorithms("lm"))  # the contenders and both controls
    results = compare.compare("quick", out, algos=every, seeds=1, progress=False, device="cpu", **FAST)
    assert results["complete"] and {c["algo"] for c in results["cells"]} == {
        "base", "sft", "rlvr", "srl", "srl-rlvr", "srl-onpolicy", "rlvr-curriculum", "control-sft",
        "control-rlvr",
    }
    for cell in results["cells"]:
        assert set(cell["eval"]) == {"1", "2"}
        for scores in cell["eval"].values():
            assert 0 <= scores["greedy_success"] <= 1 and 0 <= scores["step_similarity"] <= 1
            assert 0 <= scores["avg_at_k"] <= scores["pass_at_k"] <= 1
            assert 0 <= scores["agent_success"] <= 1
            # per-problem scores in problem order, for the paired statistics
            assert len(scores["per_problem"]["greedy_success"]) == scores["problems"] == FAST["eval_problems"]
            assert len(scores["per_problem"]["agent_success"]) == FAST["eval_problems"]
            assert scores["greedy_success"] == pytest.approx(np.mean(scores["per_problem"]["greedy_success"]))
        # the checkpoint was picked on validation problems, among the run's checkpoints
        assert 0 <= cell["selected"]["checkpoint"] < cell["selected"]["of"]
        if cell["algo"] != "base":
            assert cell["selected"]["of"] == FAST["curve_points"]
            assert cell["budget"]["updates"] == FAST["updates"]
            assert cell["model_path"] and (out / cell["model_path"] / "config.json").is_file()
    # every trained cell keeps its trainer's log: what it optimised, update by update (the runs are pruned)
    signals = {c["algo"]: set(stats.training_signals(c)) for c in results["cells"]}
    assert signals["base"] == set() and signals["sft"] == signals["control-sft"] == {"train/loss"}
    assert signals["srl"] == {"rollout/rewards/srl_reward/mean"}
    assert signals["rlvr"] == signals["control-rlvr"] == {"rollout/rewards/outcome_reward_func/mean"}
    assert signals["srl-rlvr"] == signals["srl"] | signals["rlvr"]  # both stages, each its own signal
    sft = next(c for c in results["cells"] if c["algo"] == "sft")
    assert [r["step"] for r in sft["training"][0]["rows"]] == list(range(1, FAST["updates"] + 1))
    # a row per signal with two logged updates or more (srl-rlvr's stages have one update each here)
    assert {r["algo"] for r in results["training"]} == {a for a in signals if signals[a]} - {"srl-rlvr"}
    budgets = {c["algo"]: c["budget"] for c in results["cells"]}
    assert budgets["sft"]["trained_tokens"] > 0 and budgets["sft"]["generated_tokens"] == 0
    assert budgets["srl"]["generated_tokens"] > 0 and budgets["rlvr"]["generated_tokens"] > 0
    # intermediate checkpoints and optimiser states are pruned; each trained cell keeps its final model
    assert not list(out.rglob("optimizer.pt")) and not list((out / "cells").rglob("checkpoint-*"))
    assert len(list((out / "cells").rglob("model.safetensors"))) == len(results["config"]["algos"]) - 1  # not base
    assert (out / "base" / "tiny" / "BlocksWorld-v0" / "base.json").is_file()


@pytest.mark.slow
def test_real_discrete_grid_bc_beats_random(tmp_path):
    """BC clones the oracle on 3-disk Hanoi: its greedy success beats a random legal move."""
    out = tmp_path / "discrete"
    results = compare.compare(
        "discrete", out, tasks=("Hanoi",), seeds=2, progress=False,
        train_difficulty=0, ppo_timesteps=1024, eval_problems=14, eval_samples=2, validation_problems=8,
        force_underpowered=True,
    )  # fmt: skip
    rows = {r["algo"]: r for r in results["summary"]}
    assert set(rows) == {"random", "bc", "ppo-srl", "ppo-outcome"}
    bc, random = (rows[a]["eval"]["0"]["greedy_success"]["mean"] for a in ("bc", "random"))
    assert bc >= 0.9 and bc > random + 0.2
    assert rows["bc"]["eval"]["1"] == {}  # 4 disks: another observation shape, so no score one level up
    assert [p["budget"] for p in rows["ppo-srl"]["curve"]][-1] == 1024
    assert (out / "bars-mlp-Hanoi-v0.png").is_file()


def test_cells_run_one_a_job_except_the_seeds_of_an_untrained_algorithm():
    config = compare.preset_config("quick", seeds=2)
    jobs = compare.cell_jobs(compare.grid(config))
    assert [[(c.algo, c.seed) for c in job] for job in jobs[:3]] == [[("base", 0), ("base", 1)], [("sft", 0)],
                                                                      [("rlvr", 0)]]  # fmt: skip
    assert sorted((c for job in jobs for c in job), key=str) == sorted(compare.grid(config), key=str)
    assert compare.preset_config("quick", workers=3).workers == 3
    assert "workers" in compare.RUNTIME_FIELDS  # a rerun with other workers continues the same comparison


def test_rerunning_a_finished_comparison_with_workers_only_rewrites_its_outputs(tmp_path, fake_algorithms):
    torch = pytest.importorskip("torch")
    out = tmp_path / "cmp"
    first = compare.compare("quick", out, algos=("base", "sft"), seeds=2, progress=False)
    fake_algorithms.clear()
    (out / "table.md").unlink()
    threads = torch.get_num_threads()
    again = compare.compare("quick", out, algos=("base", "sft"), seeds=2, progress=False, workers=2)
    assert fake_algorithms == [] and (out / "table.md").is_file()  # nothing to run: no pool, no error
    assert again["environment"]["cpu_threads"] == 1 and torch.get_num_threads() == threads  # a cell's; restored
    assert [r["eval"] for r in again["summary"]] == [r["eval"] for r in first["summary"]]


def test_workers_know_an_algorithm_registered_in_this_process_only(tmp_path, monkeypatch):
    """Spawned workers get the main process's registry: a name registered by a script, not by a package."""
    module = tmp_path / "my_random.py"
    module.write_text("from srl_gym.agents.random_policy import train_cell\n")
    monkeypatch.syspath_prepend(str(tmp_path))  # spawn gives the workers this sys.path
    monkeypatch.setitem(algorithms.ALGORITHMS, "mine", algorithms.AlgorithmSpec(
        "mine", "discrete", "my_random", "a random policy under another name", trainable=False))  # fmt: skip
    results = compare.compare(
        "discrete", tmp_path / "out", tasks=("Hanoi",), algos=("random", "mine"), seeds=1, progress=False,
        train_difficulty=0, eval_problems=3, eval_samples=1, validation_problems=2, force_underpowered=True,
        workers=2,
    )  # fmt: skip
    assert results["environment"]["workers"] == 2  # two jobs (one per algorithm), so two processes
    rows = {r["algo"]: r for r in results["summary"]}
    assert rows["mine"]["eval"] == rows["random"]["eval"]  # the same policy, the same seeds


@pytest.mark.slow
def test_parallel_workers_give_the_numbers_of_one_process(tmp_path):
    """Cells run in two worker processes equal the same cells run one after another (one torch thread each)."""
    settings = dict(FAST, models=("tiny-longmul",), tasks=("srl/LongMultiplication-v0",), train_difficulty=0,
                    eval_problems=6, eval_harder_levels=0, curve_points=1, max_new_tokens_cap=64)  # fmt: skip
    runs = {}
    for workers in (2, 1):
        runs[workers] = compare.compare("quick", tmp_path / f"w{workers}", algos=("base", "sft", "srl"), seeds=2,
                                        progress=False, device="cpu", workers=workers, **settings)  # fmt: skip
        assert runs[workers]["environment"]["workers"] == workers
    assert any(c["eval"]["0"]["greedy_success"] > 0 for c in runs[1]["cells"])  # scores worth comparing
    for one, two in zip(runs[1]["cells"], runs[2]["cells"], strict=True):
        assert (one["algo"], one["seed"], one["eval"]) == (two["algo"], two["seed"], two["eval"])
        assert one["budget"]["trained_tokens"] == two["budget"]["trained_tokens"]


# ---------------------------------------------------------------------- power and model selection
def test_underpowered_settings_are_refused_unless_forced():
    with pytest.raises(ValueError, match="eval_problems=10 is below the minimum of 100.*--force-underpowered"):
        compare.preset_config("quick", eval_problems=10)
    assert compare.preset_config("quick", eval_problems=10, force_underpowered=True).eval_problems == 10
    with pytest.raises(ValueError, match="past the 10000 train-split seeds"):
        compare.preset_config("quick", validation_start=9990)
    # a validation split that overlaps the training problems is a protocol error, forced or not
    with pytest.raises(ValueError, match="overlap the training seeds 0..99"):
        compare.preset_config("quick", train_problems=100, validation_start=50, force_underpowered=True)
    # the shipped base saw level-0 problems that may be a comparison's: training there is refused
    with pytest.raises(ValueError, match="tiny-longmul was warmed up on problems of level 0"):
        compare.preset_config("quick", train_difficulty=0)
    # a level the warm-up never drew from is clean: tiny-hanoi saw levels 0 and 1 (all their problems), not 2
    hanoi = {"tasks": ("Hanoi",), "models": ("tiny-hanoi",)}
    assert not [r for r in compare.preset_config("quick", train_difficulty=2, force_underpowered=True, **hanoi)
                .underpowered() if "warmed up" in r]  # fmt: skip
    with pytest.raises(ValueError, match="tiny-hanoi was warmed up on problems of level 1"):
        compare.preset_config("quick", train_difficulty=1, **hanoi)
    assert compare.RESERVED_SEEDS == __import__("srl_gym.agents.warmup").agents.warmup.RESERVED_SEEDS


def test_cli_refuses_underpowered_settings_with_the_fix(capsys):
    assert_exit = pytest.raises(SystemExit)
    with assert_exit as exc:
        compare.main(["--set", "eval_problems=20", "--show-config"])
    assert exc.value.code == 2 and "--force-underpowered" in capsys.readouterr().err
    assert compare.main(["--set", "eval_problems=20", "--force-underpowered", "--show-config"]) == 0
    assert json.loads(capsys.readouterr().out)["force_underpowered"] is True
    config = compare.preset_config("quick", eval_problems=20, force_underpowered=True)
    assert "--force-underpowered" in compare._command_args(config)


def test_validation_picks_the_checkpoint_that_the_test_split_scores(tmp_path, monkeypatch):
    """Every checkpoint is scored on validation problems; the best (latest of equals) goes to the test split."""
    validation = {"c0": 0.2, "c1": 0.6, "c2": 0.4}
    tested = []

    def train_cell(cell, algo):
        for name in validation:
            cell.run_dir.joinpath(name).mkdir()
        paths = [str(cell.run_dir / n) for n in validation]
        return TrainResult([Checkpoint(path, {"updates": float(i + 1)}) for i, path in enumerate(paths)])

    def evaluate(path, task, difficulty, config, seed, *, split="test", full=True):
        name = Path(path).name
        if split == "validation":
            return {"greedy_success": validation.get(name, 0.0), "agent_success": validation.get(name, 0.0)}
        tested.append(name)
        return {"greedy_success": 0.5, "agent_success": 0.5, "step_similarity": 0.5}

    def prepare_base(model, task, config, directory):
        return {"model_dir": "base-dir", "curve_point": {"greedy_success": 0.0, "agent_success": 0.0}}

    _register_fakes(monkeypatch, ("srl",), train_cell, evaluate, prepare_base)
    results = compare.compare("quick", tmp_path / "out", algos=("srl",), seeds=1, progress=False, eval_harder_levels=1)
    cell = results["cells"][0]
    assert cell["selected"] == {"checkpoint": 1, "of": 3, "budget": 2.0, "validation_score": 0.6}
    assert tested == ["c1", "c1"]  # both test difficulties score the picked checkpoint, not the last
    assert [p["budget"] for p in cell["curve"]] == [0, 1.0, 2.0, 3.0]  # the curve is on validation
    assert [p["greedy_success"] for p in cell["curve"]] == [0.0, 0.2, 0.6, 0.4]
    assert (tmp_path / "out" / cell["model_path"]).name == "model"  # the picked checkpoint is the one kept
    assert compare.selection_score({"greedy_success": 0.2, "agent_success": 0.6}) == pytest.approx(0.4)


# ---------------------------------------------------------------------- the flawed-expert axis
def test_the_expert_noise_axis_multiplies_only_the_algorithms_that_read_the_expert():
    config = compare.preset_config("quick", tasks=("Hanoi",), algos=("base", "sft", "rlvr", "srl"), seeds=2,
                                   expert_noise=(0.0, 0.1, 0.3), force_underpowered=True)  # fmt: skip
    cells = compare.grid(config)
    per_seed = sorted(c.label for c in cells if c.seed == 0)
    assert per_seed == sorted(["base", "rlvr", "sft", "sft@noise=0.1", "sft@noise=0.3", "srl", "srl@noise=0.1",
                               "srl@noise=0.3"])  # fmt: skip
    folders = {c.folder(Path("out")).parts[-2] for c in cells}
    assert {"srl", "srl-noise-0.1", "rlvr"} <= folders and len({c.folder(Path("out")) for c in cells}) == len(cells)
    args = compare._command_args(config)
    assert "expert_noise=0,0.1,0.3" in args
    _, parsed = compare._parse_setting("expert_noise=0,0.1,0.3")
    assert parsed == (0.0, 0.1, 0.3)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"expert_noise": (0.0, 1.5)}, "expert_noise values must be in [0, 1]"),
        ({"expert_noise": (0.1, 0.1)}, "expert_noise needs one or more distinct values"),
        ({"expert_noise": ()}, "expert_noise needs one or more distinct values"),
        ({"expert_noise": (0.0, 0.2)}, "LongMultiplication"),  # the quick task has no legal wrong step
        ({"expert_noise": (0.0, 0.2), "tasks": ("Hanoi",), "algos": ("base", "rlvr")}, "none is in algos"),
    ],
)
def test_bad_expert_noise_names_the_fix(changes, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        compare.preset_config("quick", force_underpowered=True, **changes)


def test_a_flawed_expert_reaches_the_trainer_and_gets_its_own_rows(tmp_path, monkeypatch):
    seen = []

    def train_cell(cell, algo):
        seen.append((algo, cell.expert_noise))
        cell.run_dir.joinpath("model").mkdir()
        return TrainResult([Checkpoint(str(cell.run_dir / "model"), {"updates": 2.0})])

    def evaluate(path, task, difficulty, config, seed, *, split="test", full=True):
        noise = 0.0 if "noise" not in str(path) else float(str(path).split("-noise-")[1].split("/")[0])
        score = [float(i < round(100 * (0.8 - noise))) for i in range(100)]  # the noisier the expert, the worse
        return {"greedy_success": sum(score) / 100, "agent_success": sum(score) / 100, "problems": 100,
                "per_problem": {"greedy_success": score, "agent_success": score}}  # fmt: skip

    def prepare_base(model, task, config, directory):
        return {"model_dir": "base-dir"}

    _register_fakes(monkeypatch, ("base", "sft", "rlvr", "srl"), train_cell, evaluate, prepare_base)
    for name in ("sft", "srl"):  # the stand-ins read the expert as the real ones do
        spec = algorithms.ALGORITHMS[name]
        monkeypatch.setitem(algorithms.ALGORITHMS, name, dataclasses.replace(spec, expert_data=True))
    results = compare.compare("quick", tmp_path / "out", tasks=("Hanoi",), algos=("base", "sft", "rlvr", "srl"),
                              seeds=1, progress=False, expert_noise=(0.0, 0.5), force_underpowered=True)  # fmt: skip
    assert sorted(seen) == [("base", 0.0), ("rlvr", 0.0), ("sft", 0.0), ("sft", 0.5), ("srl", 0.0), ("srl", 0.5)]
    rows = {r["algo"]: r for r in results["summary"]}
    assert rows["srl@noise=0.5"]["algorithm"] == "srl" and rows["srl@noise=0.5"]["expert_noise"] == 0.5
    assert rows["srl@noise=0.5"]["eval"]["1"]["greedy_success"]["mean"] == pytest.approx(0.3)
    assert rows["srl"]["eval"]["1"]["greedy_success"]["mean"] == pytest.approx(0.8)
    tested = {(t["a"], t["b"]) for row in results["contrasts"] for t in row.get("contrasts", [])}
    assert ("srl@noise=0.5", "srl") in tested and ("sft@noise=0.5", "sft") in tested  # each flawed expert vs clean
    assert ("srl", "rlvr") in tested and not any("noise" in b for _, b in tested)
    noisy = next(t for row in results["contrasts"] if row["metric"] == "greedy_success"
                 for t in row["contrasts"] if t["a"] == "srl@noise=0.5")  # fmt: skip
    assert noisy["diff"] == pytest.approx(-0.5)
    table = (tmp_path / "out" / "table.md").read_text()
    assert "| srl@noise=0.5 |" in table and "`ALGO@noise=p`" in table
    assert table.index("| srl |") < table.index("| srl@noise=0.5 |")
    if importlib.util.find_spec("matplotlib"):  # outcome against noise, one figure per (model, task)
        assert results["figures"].count("noise-tiny-longmul-Hanoi-v0.png") == 1
        assert (tmp_path / "out" / "noise-tiny-longmul-Hanoi-v0.png").stat().st_size > 10_000


def test_the_grid_runs_seed_by_seed_across_start_models():
    """An early stop holds whole seeds of every start model (the regime axis), not every seed of the first one."""
    config = compare.preset_config("regimes")
    cells = compare.grid(config)
    seeds = [c.seed for c in cells]
    assert seeds == sorted(seeds)
    first = [c for c in cells if c.seed == 0]
    assert {c.model for c in first} == set(config.models) and len(first) == len(config.models) * len(config.algos)
    assert [c.algo for c in first[: len(config.algos)]] == list(config.algos)
