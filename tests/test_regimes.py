"""The regime axis (graded start models), the reasoning boundary (pass@k) and the curriculum baseline."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from srl_gym import report, stats
from srl_gym.algorithms import get_algorithm
from srl_gym.compare import preset_config
from srl_gym.metrics import pass_at_k

GREEDY, AGENT = "greedy_success", "agent_success"


# ---------------------------------------------------------------------- pass@k
@given(st.integers(1, 70).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(1, n))))
def test_pass_at_k_is_the_unbiased_estimator(case):
    n, c, k = case
    expected = 1.0 - math.comb(n - c, k) / math.comb(n, k)
    assert pass_at_k(n, [c], k)[0] == pytest.approx(expected, abs=1e-12)


def test_pass_at_k_endpoints_and_bad_input():
    assert pass_at_k(8, [0, 3, 8], 1) == pytest.approx([0.0, 3 / 8, 1.0])
    assert pass_at_k(8, [1], 8) == [1.0]  # one right sample among all n: k = n always holds it
    with pytest.raises(ValueError, match="1 <= k <= n"):
        pass_at_k(4, [1], 5)
    with pytest.raises(ValueError, match="cannot be solved"):
        pass_at_k(4, [5], 1)


# ---------------------------------------------------------------------- the regime table and the boundary table
def cell(model, algo, seed, greedy, agent=None, boundary=None):
    agent = greedy if agent is None else agent
    per_problem = {GREEDY: [float(x) for x in greedy], AGENT: [float(x) for x in agent]}
    evaluation = {GREEDY: float(np.mean(greedy)), "per_problem": per_problem}
    if boundary is not None:
        evaluation["boundary"] = boundary
    return {"model": model, "task": "srl/LongMultiplication-v0", "algo": algo, "seed": seed, "kind": "lm",
            "control": None, "eval": {"1": evaluation}}  # fmt: skip


def regime_cells(rng, gains):
    """Three start models of rising competence; algorithm "up" gains ``gains[model]``, "flat" nothing."""
    cells, bases = [], []
    for model, (rate, gain) in gains.items():
        bases.append({"model": model, "task": "srl/LongMultiplication-v0",
                      "regime": {"pass@1": rate, "pass@8": 1 - (1 - rate) ** 8}})  # fmt: skip
        difficulty = rng.random(200)
        base = (difficulty < rate).astype(float)
        for seed in range(3):
            cells.append(cell(model, "base", seed, base))
            cells.append(cell(model, "flat", seed, base))
            cells.append(cell(model, "up", seed, (difficulty < rate + gain).astype(float)))
    return cells, bases


def test_regime_table_gives_each_algorithms_gain_over_its_own_start_model():
    cells, bases = regime_cells(np.random.default_rng(0), {"never": (0.0, 0.0), "rarely": (0.1, 0.3),
                                                            "often": (0.5, 0.2)})  # fmt: skip
    rows = stats.regime_table(cells, bases, 1)
    found = {(r["model"], r["algo"], r["metric"]): r for r in rows}
    assert len(rows) == 3 * 2 * 2  # models x trained algorithms x metrics (greedy, agent)
    assert found[("never", "up", GREEDY)]["gain"] == 0.0 and not found[("never", "up", GREEDY)]["significant"]
    rarely = found[("rarely", "up", GREEDY)]
    assert rarely["gain"] == pytest.approx(rarely["mean"] - rarely["base"]) and rarely["gain"] > 0.2
    assert rarely["significant"] and rarely["low"] > 0 and rarely["p_adjusted"] >= rarely["p_value"]
    assert found[("often", "flat", AGENT)]["gain"] == 0.0
    assert found[("often", "up", GREEDY)]["pass@8"] == pytest.approx(1 - 0.5**8)


def test_regime_table_skips_models_without_a_base_row_and_controls():
    cells, bases = regime_cells(np.random.default_rng(1), {"a": (0.2, 0.1)})
    cells.append(cell("a", "control-sft", 0, np.ones(200)) | {"control": "positive"})
    cells += [cell("b", "up", 0, np.ones(200))]  # model b has no base cells
    rows = stats.regime_table(cells, bases, 1)
    assert {r["model"] for r in rows} == {"a"} and "control-sft" not in {r["algo"] for r in rows}


def boundary(counts, n):
    return {"samples": n, "problems": len(counts), "solved": list(counts)}


def test_boundary_table_tells_sharpening_from_a_wider_boundary():
    """"sharp" makes the problems the base sometimes solves always right (pass@1 up, pass@n the same); "wide"
    also solves problems the base never samples (pass@n up)."""
    n = 16
    base = [0] * 20 + [2] * 20
    sharp = [0] * 20 + [n] * 20
    wide = [4] * 20 + [n] * 20
    cells = []
    for algo, counts in (("base", base), ("sharp", sharp), ("wide", wide)):
        cells.append(cell("m", algo, 0, np.zeros(40), boundary=boundary(counts, n)))
    rows = {r["algo"]: r for r in stats.boundary_table(cells, 1, n_boot=300)}
    assert [p["k"] for p in rows["base"]["curve"]] == list(range(1, n + 1))
    assert rows["base"]["curve"][0]["mean"] == pytest.approx(np.mean(base) / n)
    assert rows["base"]["curve"][-1]["mean"] == pytest.approx(0.5)  # every problem the base ever solves
    assert rows["base"]["vs_base"] == {}
    assert rows["sharp"]["vs_base"]["1"]["diff"] > 0.3 and rows["sharp"]["vs_base"]["1"]["significant"]
    assert rows["sharp"]["vs_base"][str(n)]["diff"] == 0.0 and not rows["sharp"]["vs_base"][str(n)]["significant"]
    assert rows["wide"]["vs_base"][str(n)]["diff"] == pytest.approx(0.5) and rows["wide"]["vs_base"][str(n)][
        "significant"]
    curve = [p["mean"] for p in rows["wide"]["curve"]]
    assert curve == sorted(curve)  # pass@k never falls with k


def test_report_shows_the_regime_and_boundary_sections_and_draws_both_figures(tmp_path):
    pytest.importorskip("matplotlib")
    cells, bases = regime_cells(np.random.default_rng(2), {"never": (0.0, 0.0), "often": (0.4, 0.2)})
    for c in cells:
        if c["model"] == "often" and c["seed"] == 0:
            c["eval"]["1"]["boundary"] = boundary([1, 0, 8, 3], 8)
    results = {"config": {"train_difficulty": 1, "algos": ["base", "flat", "up"], "eval_samples": 0, "seeds": 3,
                          "preset": "regimes", "curve_points": 1},
               "summary": [], "cells": cells, "bases": bases}  # fmt: skip
    text = "\n".join(report.regime_markdown(report._regimes(results)))
    assert "pass@8 0.00" in text and "often (pass@1 0.40" in text and "| up |" in text
    assert "\n".join(report.boundary_markdown(report._boundary(results))).count("| ") >= 3
    figures = report.write_plots(results, tmp_path)
    assert "regimes.png" in figures and "pass-at-k-often-LongMultiplication-v0.png" in figures
    assert (tmp_path / "regimes.png").stat().st_size > 0


# ---------------------------------------------------------------------- config: bad input before any training
def test_the_regimes_preset_grades_its_start_models_and_samples_the_boundary():
    config = preset_config("regimes")
    assert config.models == ("tiny-longmul-900", "tiny-longmul", "tiny-longmul-mid", "tiny-longmul-plus")
    assert "rlvr-curriculum" in config.algos and config.regime_samples >= 8
    assert config.boundary_samples == 64 and config.boundary_models == ("tiny-longmul",)
    assert config.wants_boundary("tiny-longmul", 0) and not config.wants_boundary("tiny-longmul", 1)
    assert not config.wants_boundary("tiny-longmul-900", 0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"models": ("tiny-longmul", "tiny-longmul")}, "models lists a name twice"),
        ({"boundary_models": ("tiny",)}, "boundary_models must be distinct start models"),
        ({"train_difficulty": 0, "force_underpowered": True}, "rlvr-curriculum climbs from level 0"),
        ({"regime_samples": -1}, "regime_samples must be an integer >= 0"),
    ],
)
def test_bad_regime_settings_are_refused_before_any_training(changes, message):
    with pytest.raises(ValueError, match=message):
        preset_config("regimes", **changes)


def test_a_start_model_whose_pass_rate_cannot_be_measured_is_refused():
    """Training problems that exhaust the level leave no validation problem: no x for the regime axis."""
    with pytest.raises(ValueError, match="no validation problem"):
        preset_config("regimes", tasks=("srl/Hanoi-v0",), models=("tiny-hanoi",), algos=("base", "rlvr"),
                      train_difficulty=0, force_underpowered=True, boundary_models=())  # fmt: skip


# ---------------------------------------------------------------------- the graded bases
def test_graded_bases_share_the_design_and_keep_the_comparison_problems_out():
    from srl_gym.agents import warmup
    from srl_gym.agents.lm_eval import protected_levels

    assert [s.updates for s in warmup.chain("tiny-longmul-plus")] == [240, 2500]
    assert warmup.BASES["tiny-longmul-900"].updates < warmup.BASES["tiny-longmul"].updates
    for name in ("tiny-longmul-900", "tiny-longmul", "tiny-longmul-mid", "tiny-longmul-plus"):
        assert 1 in protected_levels(name) and 0 not in protected_levels(name)
        assert warmup.shipped_base(name) is not None, f"{name} is not built: python -m srl_gym.agents.warmup build"


# ---------------------------------------------------------------------- the curriculum
def test_curriculum_is_a_registered_algorithm_with_rlvrs_objective():
    spec = get_algorithm("rlvr-curriculum")
    assert spec.kind == "lm" and spec.trainable and not spec.expert_data and spec.objectives == ("avg_at_k",)
    assert spec.load().Args().threshold == 0.5


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"difficulty": 0}, "needs a level below the training one"),
        ({"difficulty": 1, "start_difficulty": 1}, "start_difficulty must be a level below"),
        ({"difficulty": 1, "threshold": 0.0}, "threshold"),
        ({"difficulty": 1, "window": 0}, "window"),
    ],
)
def test_curriculum_refuses_a_schedule_without_levels_below(changes, message):
    from srl_gym.agents import rlvr_curriculum

    args = rlvr_curriculum.Args(model="tiny", env_id="srl/LongMultiplication-v0", **changes)
    with pytest.raises(ValueError, match=message):
        args.validate()


def test_level_up_ends_a_level_once_the_windowed_sampled_success_passes_the_threshold():
    from srl_gym.agents.rlvr_curriculum import level_up

    watcher = level_up(0.5, 2)
    control = SimpleNamespace(should_training_stop=False, should_save=False)
    for reward in (0.9, 0.0, 0.6):  # windows: (0.9), (0.9, 0.0) = 0.45, (0.0, 0.6) = 0.3
        watcher.on_log(None, None, control, logs={"reward": reward, "loss": 0.1})
        assert not control.should_training_stop
    watcher.on_log(None, None, control, logs={"loss": 0.1})  # a row without a reward changes nothing
    watcher.on_log(None, None, control, logs={"reward": 0.45})  # (0.6, 0.45) = 0.525
    assert control.should_training_stop and control.should_save and watcher.passed


# ---------------------------------------------------------------------- the curriculum learns where plain RLVR cannot
SOUNDS = {"cow": "moo", "dog": "woof", "cat": "meow", "duck": "quack", "sheep": "baa", "owl": "hoot", "pig": "oink"}


def write_levels(path, counts: tuple[int, int, int] = (400, 450, 450)) -> str:
    """Trajectories of three lengths, so the file's levels (thirds of each split by steps) differ in kind: level 0
    asks one animal's sound (2 steps), level 1 two (3 steps, the answer names both sounds), level 2 three. Fewer
    one-animal rows than a third, so that none falls into level 1 (level 0 holds a few two-animal rows)."""
    import json
    import random

    rng = random.Random(0)
    with open(path, "w", encoding="utf-8") as f:
        for animals, count in zip((1, 2, 3), counts, strict=True):
            for i in range(count):
                chosen = [rng.choice(sorted(SOUNDS)) for _ in range(animals)]
                sounds = [SOUNDS[a] for a in chosen]
                names = " and the ".join(chosen)
                steps = [f"The {a} says {s}." for a, s in zip(chosen, sounds, strict=True)]
                row = {"problem": f"Card {animals}-{i}: what do{'es' if animals == 1 else ''} the {names} say?",
                       "steps": [*steps, f"Answer: {' '.join(sounds)}"], "answer": " ".join(sounds)}  # fmt: skip
                f.write(json.dumps(row) + "\n")
    return str(path)


@pytest.mark.slow
def test_the_curriculum_learns_from_a_base_that_never_solves_the_training_level(tmp_path):
    """A base warmed up on level 0 only (the recipe of test_lm_agents' RLVR learning test: 100 of 150 SFT updates
    in both formats) never writes a level-1 answer (two sounds): plain RLVR at level 1 has no reward spread and
    takes no step. The curriculum starts at level 0, where the base is sometimes right, takes steps there and
    raises held-out (test-split) success on the level it trains (its rule moves it up once the sampled success
    of 2 updates averages 0.5)."""
    from srl_gym.agents import rlvr, rlvr_curriculum, sft
    from srl_gym.agents.lm_eval import sample_solved

    data = write_levels(tmp_path / "levels.jsonl")
    common = {"env_id": "srl/Trajectories-v0", "trajectories_path": data, "progress": False, "tensorboard": False}
    warm = sft.train(sft.Args(run_dir=str(tmp_path / "warm"), difficulty=0, mode="both", max_updates=150,
                              checkpoint_every=50, keep_checkpoints=5, eval_before=False, eval_after=False,
                              save_training_state=False, **common))  # fmt: skip
    base = next(c.path for c in warm.checkpoints if c.step == 100)
    grpo = {"model": base, "prompts_per_update": 8, "max_new_tokens": 64, "eval_episodes": 300, **common}
    plain = rlvr.train(rlvr.Args(run_dir=str(tmp_path / "plain"), difficulty=1, total_updates=3, eval_before=True,
                                 eval_after=False, **grpo))  # fmt: skip
    assert plain.metrics["eval/greedy_success_before"] == 0.0  # the base never solves level 1 ...
    assert plain.final.budget["gradient_updates"] == 0  # ... so plain RLVR takes no step
    result = rlvr_curriculum.train(rlvr_curriculum.Args(run_dir=str(tmp_path / "curriculum"), difficulty=1,
                                                        total_updates=20, learning_rate=3e-4, **grpo))  # fmt: skip
    metrics = result.metrics
    assert result.final.budget["updates"] == 20 and result.final.budget["gradient_updates"] >= 5
    # Held-out success as RLVR optimises it: 8 whole solutions sampled at temperature 1 per test problem of level 0.
    config = SimpleNamespace(device="cpu", max_new_tokens_cap=64, eval_temperature=1.0, eval_batch_size=128,
                             max_length=2048)  # fmt: skip
    level0 = max((c for c in result.checkpoints if "level-0" in c.path), key=lambda c: c.step).path
    sampled = {name: sample_solved(path, "srl/Trajectories-v0", 0, "test", range(100), config, 8, 0, path=data).mean()
               for name, path in (("before", base), ("after", level0))}  # fmt: skip
    # measured (2-core CPU, one thread): sampled 0.071 -> 0.113 on the 62 distinct test problems x 8 samples (about
    # 3 standard errors), greedy 0.284 -> 0.296; 20 of 20 updates took a step; it stayed on level 0
    assert sampled["after"] > sampled["before"] + 0.025
    assert metrics["level-0/eval/greedy_success"] >= metrics["level-0/eval/greedy_success_before"]


def test_a_saved_comparison_resumes_from_another_checkout_with_this_ones_shipped_base(tmp_path):
    """base.json stores a shipped base's absolute path; a comparison folder committed in one checkout and resumed
    in another (or on another machine) uses the base of the checkout that runs it."""
    import json

    from srl_gym.agents.lm_eval import prepare_base
    from srl_gym.agents.models import model_directory

    directory = tmp_path / "base" / "tiny-longmul" / "LongMultiplication-v0"
    directory.mkdir(parents=True)
    stale = {"model": "tiny-longmul", "task": "srl/LongMultiplication-v0", "model_dir": "/elsewhere/agents/bases/x",
             "warmup_updates": 0, "warmup_trained_tokens": 0, "warmup_seconds": 0.0}  # fmt: skip
    (directory / "base.json").write_text(json.dumps(stale))
    config = SimpleNamespace(regime_samples=0)
    record = prepare_base("tiny-longmul", "srl/LongMultiplication-v0", config, directory)
    assert Path(record["model_dir"]) == Path(model_directory("tiny-longmul")).resolve()
