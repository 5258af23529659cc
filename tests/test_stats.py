"""`srl_gym.stats`: hierarchical bootstrap, paired contrasts, Holm, and the contrasts from cell records."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from srl_gym import stats

METRIC = "greedy_success"


def cell(algo: str, seed: int, scores, *, model: str = "tiny", task: str = "BlocksWorld", difficulty: str = "2"):
    """A result record as compare stores it, with per-problem scores at one difficulty."""
    scores = [float(s) for s in scores]
    return {
        "model": model,
        "task": task,
        "algo": algo,
        "seed": seed,
        "eval": {difficulty: {METRIC: sum(scores) / len(scores), "per_problem": {METRIC: scores}}},
    }


def bernoulli(rng: np.random.Generator, p, shape) -> np.ndarray:
    return (rng.random(shape) < p).astype(float)


# ---------------------------------------------------------------------- hierarchical_bootstrap
def test_bootstrap_reports_the_mean_and_a_percentile_interval():
    x = bernoulli(np.random.default_rng(0), 0.5, (3, 50))
    r = stats.hierarchical_bootstrap(x, n_boot=500, seed=1)
    assert r["mean"] == pytest.approx(x.mean())
    assert r["low"] <= r["mean"] <= r["high"]
    assert r["ci95"] == pytest.approx((r["high"] - r["low"]) / 2)
    assert (r["n_seeds"], r["n_problems"], r["n_boot"], r["ci"]) == (3, 50, 500, 0.95)
    narrower = stats.hierarchical_bootstrap(x, n_boot=500, seed=1, ci=0.5)
    assert narrower["ci95"] < r["ci95"]


def test_bootstrap_is_deterministic_given_the_seed():
    x = np.random.default_rng(3).random((4, 60))
    assert stats.hierarchical_bootstrap(x, seed=7) == stats.hierarchical_bootstrap(x, seed=7)
    assert stats.hierarchical_bootstrap(x, seed=7) != stats.hierarchical_bootstrap(x, seed=8)
    b = x[::-1] * 0.9
    assert stats.paired_difference(x, b, seed=7) == stats.paired_difference(x, b, seed=7)
    assert stats.paired_difference(x, b, seed=7) != stats.paired_difference(x, b, seed=8)


def test_bootstrap_covers_a_bernoulli_rate_with_the_binomial_width():
    """Bernoulli(0.3), 200 problems x 5 seeds, no seed variance: the analytic binomial interval."""
    rng = np.random.default_rng(0)
    per_problem = bernoulli(rng, 0.3, 200)
    x = np.tile(per_problem, (5, 1))  # every seed scores each problem alike: seed variance 0
    r = stats.hierarchical_bootstrap(x, seed=0)
    assert r["low"] <= 0.3 <= r["high"]
    analytic = 1.96 * stats.binomial_se(0.3, 200)
    assert analytic / 1.5 <= r["ci95"] <= 1.5 * analytic
    assert r["ci95"] == pytest.approx(analytic, rel=0.15)


def test_bootstrap_is_conservative_not_overconfident_for_pure_seed_by_problem_noise():
    """Independent Bernoulli(0.3) per (seed, problem): the true SE is binomial over all 1000 scores.

    Sharing the problem resample across seeds counts this interaction noise about three times
    (module docstring), so the half-width is wider than 1.96 SE, by at most about sqrt(3), never narrower.
    """
    rng = np.random.default_rng(1)
    analytic = 1.96 * stats.binomial_se(0.3, 5 * 200)
    ratios = [stats.hierarchical_bootstrap(bernoulli(rng, 0.3, (5, 200)), seed=i)["ci95"] / analytic for i in range(10)]
    assert min(ratios) >= 1.0
    assert 1.2 <= float(np.mean(ratios)) <= 1.9


def test_bootstrap_coverage_over_repeated_experiments():
    """Problems of varying difficulty, seeds as independent Bernoulli draws: the 95% interval covers the rate."""
    rng = np.random.default_rng(2)
    covered = 0
    for i in range(40):
        difficulty = rng.beta(0.5, 0.5, 200)  # population mean 0.5
        x = bernoulli(rng, difficulty, (5, 200))
        r = stats.hierarchical_bootstrap(x, n_boot=400, seed=i)
        covered += r["low"] <= 0.5 <= r["high"]
    assert covered >= 36  # expected about 38-40 of 40


def test_problem_variance_does_not_shrink_with_more_seeds():
    """Problems are resampled once per draw for all seeds: more seeds cannot average the problem sample away."""
    rng = np.random.default_rng(4)
    per_problem = rng.random(100)
    one = stats.hierarchical_bootstrap(per_problem[None, :], seed=0)
    eight = stats.hierarchical_bootstrap(np.tile(per_problem, (8, 1)), seed=0)
    assert eight["ci95"] == pytest.approx(one["ci95"], rel=0.1)
    assert one["ci95"] == pytest.approx(1.96 * per_problem.std() / np.sqrt(100), rel=0.15)


def test_one_seed_or_one_problem():
    rng = np.random.default_rng(5)
    one_seed = stats.hierarchical_bootstrap(bernoulli(rng, 0.4, (1, 120)), seed=0)
    assert one_seed["n_seeds"] == 1 and one_seed["ci95"] > 0
    seeds = np.array([[0.2], [0.4], [0.6], [0.8]])
    one_problem = stats.hierarchical_bootstrap(seeds, seed=0)
    assert one_problem["n_problems"] == 1 and one_problem["mean"] == pytest.approx(0.5)
    assert 0.2 <= one_problem["low"] < 0.5 < one_problem["high"] <= 0.8
    single = stats.hierarchical_bootstrap([[0.7]], seed=0)
    assert (single["low"], single["mean"], single["high"], single["ci95"]) == (0.7, 0.7, 0.7, 0.0)
    d = stats.paired_difference(bernoulli(rng, 0.6, (1, 120)), bernoulli(rng, 0.4, (1, 120)), seed=0)
    assert d["n_seeds_a"] == d["n_seeds_b"] == 1 and d["low"] < d["diff"] < d["high"]


@pytest.mark.parametrize(
    "bad", [[0.1, 0.2], [[]], np.zeros((0, 3)), [[0.1, float("nan")]], np.zeros((2, 2, 2))], ids=str
)
def test_bootstrap_rejects_malformed_scores(bad):
    with pytest.raises(ValueError):
        stats.hierarchical_bootstrap(bad)


def test_bootstrap_rejects_bad_options():
    with pytest.raises(ValueError, match="n_boot"):
        stats.hierarchical_bootstrap([[1.0]], n_boot=0)
    with pytest.raises(ValueError, match="ci"):
        stats.hierarchical_bootstrap([[1.0]], ci=1.0)


def test_bootstrap_is_vectorised():
    x = bernoulli(np.random.default_rng(6), 0.3, (5, 200))
    start = time.perf_counter()
    stats.hierarchical_bootstrap(x, n_boot=2000)
    stats.paired_difference(x, x[::-1], n_boot=2000)
    assert time.perf_counter() - start < 1.0


def test_summing_the_picks_is_weighting_by_the_counts():
    """The problem side gathers picked columns instead of counting them: the same draws, the same sums."""
    values = np.random.default_rng(0).random((300, 40))
    counts = stats._counts(np.random.default_rng(5), 300, 40)
    picks = stats._picks(np.random.default_rng(5), 300, 40)
    assert np.array_equal(np.stack([np.bincount(row, minlength=40) for row in picks]), counts)
    assert np.allclose(stats._picked_sums(values, picks), (values * counts).sum(axis=1))
    assert stats._picks(np.random.default_rng(5), 300, 1) is None
    assert np.array_equal(stats._picked_sums(values[:, :1], None), values[:, 0])
    assert np.allclose(stats._weighted_rows(counts[:, :3], values[:3]), counts[:, :3] @ values[:3])


# ---------------------------------------------------------------------- paired_difference
def test_always_right_against_always_wrong():
    a, b = np.ones((3, 100)), np.zeros((4, 100))
    d = stats.paired_difference(a, b, n_boot=2000, seed=0)
    assert d["diff"] == 1.0 and d["low"] == d["high"] == 1.0
    assert d["p_value"] == pytest.approx(1 / 2001)  # the floor
    assert (d["wins"], d["ties"], d["losses"]) == (100, 0, 0)
    assert (d["n_seeds_a"], d["n_seeds_b"], d["n_problems"]) == (3, 4, 100)
    flipped = stats.paired_difference(b, a, n_boot=2000, seed=0)
    assert flipped["diff"] == -1.0 and flipped["p_value"] == pytest.approx(1 / 2001) and flipped["losses"] == 100


def test_identical_algorithms_are_not_different():
    rng = np.random.default_rng(7)
    x = bernoulli(rng, 0.5, (1, 150))
    same = stats.paired_difference(x, x.copy(), seed=0)
    assert same["diff"] == 0.0 and same["p_value"] == 1.0 and same["low"] == same["high"] == 0.0
    assert (same["wins"], same["ties"], same["losses"]) == (0, 150, 0)
    # the same real-valued scores from 2 seeds and from 3 (a trainer that left the model as it was): the two
    # resampled means differ only in rounding, which is no difference (it once gave p = 1/2001, "significant")
    steps = rng.random(100) * 0.3 + 0.7
    rounded = stats.paired_difference(np.tile(steps, (2, 1)), np.tile(steps, (3, 1)), seed=0)
    assert rounded["p_value"] == 1.0 and rounded["ties"] == 100
    noisy = bernoulli(rng, 0.5, (4, 150))  # seed variance: the difference fluctuates around 0
    d = stats.paired_difference(noisy, noisy.copy(), seed=0)
    assert d["diff"] == 0.0 and d["low"] < 0 < d["high"] and d["p_value"] > 0.8


def test_p_value_agrees_with_the_interval():
    rng = np.random.default_rng(8)
    for shift in (0.0, 0.05, 0.1, 0.2):
        b = bernoulli(rng, 0.4, (3, 200))
        a = bernoulli(rng, 0.4 + shift, (3, 200))
        d = stats.paired_difference(a, b, seed=0)
        excludes_zero = d["low"] > 0 or d["high"] < 0
        assert (d["p_value"] < 0.05) == excludes_zero or abs(d["p_value"] - 0.05) < 0.01


def test_paired_beats_unpaired_when_problems_vary_in_difficulty():
    """a = b + 0.03 on every problem; problem difficulty spans [0, 1]: only the paired test sees it."""
    rng = np.random.default_rng(9)
    difficulty = rng.random(200)
    b = np.clip(difficulty + rng.normal(0, 0.02, (5, 200)), 0, 1)
    a = np.clip(difficulty + 0.03 + rng.normal(0, 0.02, (5, 200)), 0, 1)
    paired = stats.paired_difference(a, b, seed=0)
    assert paired["low"] > 0 and paired["p_value"] < 0.01
    alone_a, alone_b = stats.hierarchical_bootstrap(a, seed=1), stats.hierarchical_bootstrap(b, seed=2)
    assert alone_a["low"] < alone_b["high"]  # the separate intervals overlap
    assert paired["ci95"] < alone_a["ci95"] / 3


def test_paired_difference_needs_the_same_problems():
    with pytest.raises(ValueError, match="same problems"):
        stats.paired_difference(np.ones((2, 10)), np.ones((2, 11)))


# ---------------------------------------------------------------------- holm
def test_holm_hand_computed():
    out = stats.holm({"x": 0.01, "y": 0.04, "z": 0.03}, alpha=0.05)
    assert list(out) == ["x", "y", "z"]
    assert out["x"]["p_adjusted"] == pytest.approx(0.03)
    assert out["z"]["p_adjusted"] == pytest.approx(0.06)  # 2 * 0.03
    assert out["y"]["p_adjusted"] == pytest.approx(0.06)  # max(1 * 0.04, 0.06): monotone
    assert [out[k]["significant"] for k in "xyz"] == [True, False, False]
    assert out["y"]["p"] == 0.04


def test_holm_caps_at_one_and_steps_down():
    out = stats.holm({"a": 0.5, "b": 0.9, "c": 0.001, "d": 0.0125})
    assert out["a"]["p_adjusted"] == 1.0 and out["b"]["p_adjusted"] == 1.0  # 3 * 0.5 capped, then monotone
    assert out["c"]["p_adjusted"] == pytest.approx(0.004) and out["d"]["p_adjusted"] == pytest.approx(0.0375)
    assert [out[k]["significant"] for k in "abcd"] == [False, False, True, True]
    assert stats.holm({}) == {}
    assert stats.holm({"only": 0.04})["only"] == {"p": 0.04, "p_adjusted": 0.04, "significant": True}


@pytest.mark.parametrize("bad", [{"x": 1.5}, {"x": -0.1}, {"x": float("nan")}, {"x": None}])
def test_holm_rejects_bad_p_values(bad):
    with pytest.raises(ValueError):
        stats.holm(bad)


# ---------------------------------------------------------------------- from cell records
def grid(rng: np.random.Generator, rates: dict[str, float], seeds: int = 3, problems: int = 120, **where):
    return [cell(algo, s, bernoulli(rng, p, problems), **where) for algo, p in rates.items() for s in range(seeds)]


def test_primary_contrasts_tests_and_corrects_each_model_task():
    rng = np.random.default_rng(10)
    cells = grid(rng, {"base": 0.0, "sft": 0.5, "rlvr": 0.5, "srl": 1.0})
    cells += grid(rng, {"srl": 0.5, "rlvr": 0.5}, task="Hanoi")
    cells += [cell("bc", 0, [1, 0, 1], model="mlp", task="Hanoi")]  # no primary contrast: no row
    rows = stats.primary_contrasts(cells, METRIC, 2, n_boot=1000)
    assert [(r["model"], r["task"]) for r in rows] == [("tiny", "BlocksWorld"), ("tiny", "Hanoi")]
    blocks, hanoi = rows
    assert [(t["a"], t["b"]) for t in blocks["contrasts"]] == [("srl", "rlvr"), ("srl", "sft"), ("srl", "base")]
    for t in blocks["contrasts"]:
        assert t["significant"] and t["p_value"] == pytest.approx(1 / 1001)
        assert t["p_adjusted"] == pytest.approx(3 / 1001)  # Holm over the three contrasts of this family
        assert t["seeds_a"] == t["seeds_b"] == [0, 1, 2]
    srl_rlvr = blocks["contrasts"][0]
    assert srl_rlvr["diff"] == pytest.approx(1 - srl_rlvr["mean_b"]) and srl_rlvr["losses"] == 0
    (same,) = hanoi["contrasts"]
    assert not same["significant"] and same["p_adjusted"] == same["p_value"]  # a family of one
    assert rows[0]["metric"] == METRIC and rows[0]["difficulty"] == "2"
    json.dumps(rows)  # plain Python numbers only


def test_primary_contrasts_does_not_depend_on_cell_order():
    rng = np.random.default_rng(11)
    cells = grid(rng, {"srl": 0.6, "rlvr": 0.4, "srl-rlvr": 0.7})
    forward = stats.primary_contrasts(cells, METRIC, "2", n_boot=300)
    backward = stats.primary_contrasts(cells[::-1], METRIC, "2", n_boot=300)
    key = [(t["a"], t["b"]) for t in forward[0]["contrasts"]]
    assert key == [("srl", "rlvr"), ("srl-rlvr", "srl")]
    assert forward[0]["contrasts"] == backward[0]["contrasts"]


def test_primary_contrasts_rejects_different_problem_sets():
    rng = np.random.default_rng(12)
    cells = grid(rng, {"srl": 0.6}, problems=100) + grid(rng, {"rlvr": 0.4}, problems=101)
    with pytest.raises(ValueError, match="differ in length across algorithms.*same problems"):
        stats.primary_contrasts(cells, METRIC, 2)
    bystander = grid(rng, {"srl": 0.6, "rlvr": 0.4}, problems=100) + grid(rng, {"ppo": 0.4}, problems=99)
    with pytest.raises(ValueError, match="differ in length across algorithms"):  # even outside the contrasts
        stats.primary_contrasts(bystander, METRIC, 2)
    across_seeds = [cell("srl", 0, [1, 0, 1]), cell("srl", 1, [1, 0]), cell("rlvr", 0, [0, 0, 1])]
    with pytest.raises(ValueError, match="differ in length across seeds.*same problems"):
        stats.primary_contrasts(across_seeds, METRIC, 2)
    with pytest.raises(ValueError, match="distinct"):
        stats.primary_contrasts(cells, METRIC, 2, contrasts=(("srl", "rlvr"), ("srl", "rlvr")))


def test_primary_contrasts_skips_cells_without_per_problem_scores():
    rng = np.random.default_rng(13)
    cells = grid(rng, {"srl": 0.6, "rlvr": 0.4})
    old = {"model": "tiny", "task": "BlocksWorld", "algo": "sft", "seed": 0, "eval": {"2": {METRIC: 0.5}}}
    rows = stats.primary_contrasts([*cells, old], METRIC, 2, n_boot=200)
    assert [(t["a"], t["b"]) for t in rows[0]["contrasts"]] == [("srl", "rlvr")]
    assert stats.primary_contrasts(cells, METRIC, 3) == []  # nothing at that difficulty


def test_summarize_algorithm_is_the_bootstrap_of_its_cells():
    rng = np.random.default_rng(14)
    cells = grid(rng, {"srl": 0.6}, seeds=4)
    r = stats.summarize_algorithm(cells[::-1], METRIC, 2, n_boot=500, seed=3)
    matrix = np.array([c["eval"]["2"]["per_problem"][METRIC] for c in cells])
    direct = stats.hierarchical_bootstrap(matrix, n_boot=500, seed=3)
    assert {k: r[k] for k in direct} == direct
    assert (r["algo"], r["seeds"], r["n_seeds"], r["n_problems"]) == ("srl", [0, 1, 2, 3], 4, 120)
    assert r["mean"] == pytest.approx(np.mean([c["eval"]["2"][METRIC] for c in cells]))
    with pytest.raises(ValueError, match="one \\(model, task, algo\\)"):
        stats.summarize_algorithm(cells + grid(rng, {"rlvr": 0.5}), METRIC, 2)
    with pytest.raises(ValueError, match="two cells with seed"):
        stats.summarize_algorithm(cells + cells[:1], METRIC, 2)
    with pytest.raises(ValueError, match="no cell"):
        stats.summarize_algorithm(cells, "step_similarity", 2)


# ---------------------------------------------------------------------- contrast_table (what compare stores)
def test_contrast_table_covers_difficulties_and_metrics_of_lm_cells_only():
    rng = np.random.default_rng(15)
    cells = []
    for algo, rate in {"srl": 0.9, "rlvr": 0.1, "base": 0.5}.items():
        for seed in range(2):
            scores = {d: bernoulli(rng, rate, 60).tolist() for d in ("1", "2")}
            sims = {d: rng.random(60).tolist() for d in ("1", "2")}
            cells.append({"model": "tiny", "task": "Hanoi", "algo": algo, "seed": seed, "kind": "lm", "eval": {
                d: {METRIC: float(np.mean(scores[d])), "agent_success": 0.5,  # no list: not tested
                    "per_problem": {METRIC: scores[d], "step_similarity": sims[d]}} for d in ("1", "2")}})  # fmt: skip
    # a discrete agent that happens to carry an LM algorithm's name and per-problem scores: not an LM cell
    discrete = cell("rlvr", 5, [1.0] * 60, model="mlp", task="Hanoi", difficulty="1") | {"kind": "discrete"}
    rows = stats.contrast_table([*cells, discrete], n_boot=300)
    assert [(r["difficulty"], r["metric"]) for r in rows] == [
        ("1", METRIC), ("1", "step_similarity"), ("2", METRIC), ("2", "step_similarity")]  # fmt: skip
    for r in rows:
        assert [(t["a"], t["b"]) for t in r["contrasts"]] == [("srl", "rlvr"), ("srl", "base")]
        assert r["model"] == "tiny" and all(t["seeds_b"] == [0, 1] for t in r["contrasts"])
    greedy = rows[0]["contrasts"][0]
    assert greedy["significant"] and greedy["diff"] > 0.6
    assert greedy == stats.primary_contrasts(cells, METRIC, "1", n_boot=300)[0]["contrasts"][0]
    json.dumps(rows)
    assert stats.contrast_table([discrete]) == [] and stats.contrast_table([]) == []


def test_contrast_table_reports_bad_records_instead_of_raising():
    rng = np.random.default_rng(16)
    ragged = grid(rng, {"srl": 0.6}, problems=50) + grid(rng, {"rlvr": 0.4}, problems=49)
    fine = grid(rng, {"srl": 0.9, "rlvr": 0.1}, task="Hanoi")
    rows = stats.contrast_table([*ragged, *fine], metrics=(METRIC,), n_boot=200)
    assert [(r["task"], "error" in r) for r in rows] == [("BlocksWorld", True), ("Hanoi", False)]
    assert "differ in length" in rows[0]["error"] and rows[1]["contrasts"][0]["significant"]


def _objective_cell(algo: str, seed: int, losses: list[float], objectives: tuple[str, ...]) -> dict:
    return {"model": "m", "task": "t", "algo": algo, "seed": seed, "objectives": list(objectives),
            "eval": {"1": {"solution_loss": float(np.mean(losses)), "per_problem": {"solution_loss": losses}}}}


def test_objective_table_counts_a_falling_loss_as_improvement_and_a_rising_one_as_none():
    from srl_gym.stats import objective_table

    rng = np.random.default_rng(0)
    base = rng.uniform(1.0, 2.0, size=60).tolist()
    cells = []
    for seed in range(3):
        cells.append(_objective_cell("base", seed, base, ()))
        cells.append(_objective_cell("sft", seed, [x - 0.3 for x in base], ("solution_loss",)))  # lower: better
        cells.append(_objective_cell("worse", seed, [x + 0.3 for x in base], ("solution_loss",)))
    rows = {r["algo"]: r for r in objective_table(cells, 1)}
    assert rows["sft"]["diff"] == pytest.approx(-0.3) and rows["sft"]["high"] < 0
    assert rows["sft"]["improved"] and rows["sft"]["lower_is_better"]
    assert rows["worse"]["diff"] == pytest.approx(0.3) and rows["worse"]["low"] > 0
    assert not rows["worse"]["improved"]
    assert rows["sft"]["method"] == "bootstrap seeds x problems"


def _trained_cell(algo: str, seed: int, key: str, values: list[float]) -> dict:
    return {"model": "m", "task": "t", "algo": algo, "seed": seed,
            "training": [{"run": algo, "rows": [{"step": i + 1, key: v} for i, v in enumerate(values)]}]}  # fmt: skip


def test_training_table_shows_each_signal_moving_the_right_way_with_an_interval_over_seeds():
    from srl_gym.stats import training_signals, training_table

    reward = "rollout/rewards/srl_reward/mean"
    cells = [{"model": "m", "task": "t", "algo": "base", "seed": 0}]  # untrained: no log, no row
    for seed in range(4):
        rise = [0.5 + 0.01 * seed + 0.02 * i for i in range(10)]
        cells.append(_trained_cell("srl", seed, reward, rise))
        cells.append(_trained_cell("sft", seed, "train/loss", [2.0 - 0.1 * i + 0.01 * seed for i in range(10)]))
        cells.append(_trained_cell("flat", seed, reward, [0.9, 0.8] * 5 if seed % 2 else [0.8, 0.9] * 5))
    rows = {r["algo"]: r for r in training_table(cells)}
    assert set(rows) == {"srl", "sft", "flat"}
    srl = rows["srl"]
    assert srl["first"] == pytest.approx(np.mean([0.5 + 0.015 + 0.02 * i for i in range(3)]))
    assert srl["diff"] == pytest.approx(0.02 * 7) and srl["low"] > 0 and srl["improved"]
    assert rows["sft"]["diff"] == pytest.approx(-0.7) and rows["sft"]["lower_is_better"] and rows["sft"]["improved"]
    assert not rows["flat"]["improved"] and rows["flat"]["low"] < 0 < rows["flat"]["high"]
    # GRPO's reward is its signal even where the run also logged a loss; one update gives no change to report
    both = _trained_cell("g", 0, reward, [0.1, 0.2])
    both["training"][0]["rows"][0]["train/loss"] = 1.0
    assert set(training_signals(both)) == {reward}
    assert training_table([_trained_cell("one", 0, reward, [0.3])]) == []
