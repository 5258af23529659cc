"""Statistics over seeds *and* problems: hierarchical bootstrap intervals, paired contrasts, Holm correction.

`srl_gym.metrics.mean_ci` treats each seed's score as one number, so its interval only holds the
variance of training (seeds) and ignores which test problems happened to be drawn. The functions
here use the per-problem scores that the evaluators store beside each aggregate::

    cell["eval"][difficulty]["per_problem"][metric] = [score of test problem 0, 1, ..., n-1]

one float per test problem (0/1 for success metrics), in a fixed order shared by every algorithm and
seed: problem ``i`` is the test problem made from test-split seed ``i``, the same problem in every
cell of a (model, task). A cell's aggregate ``eval[difficulty][metric]`` is the mean of that list.

The design is crossed: every seed of every algorithm is scored on the same problems. An algorithm's
scores form a matrix ``[n_seeds, n_problems]``.

Resampling scheme (`hierarchical_bootstrap`, `paired_difference`)
-----------------------------------------------------------------
Each bootstrap draw resamples the seeds with replacement, and the problems with replacement *once*,
the same resampled problems for every resampled seed (and, in a paired contrast, for both
algorithms). The statistic of a draw is the mean of the resampled ``[n_seeds, n_problems]`` matrix.

Why problems are shared rather than redrawn per seed: the problems really are one sample, shared by
every seed, so the error of "which problems were drawn" enters the estimate once, whatever the number
of seeds. With variance components (seed ``s2_seed``, problem ``s2_prob``, seed x problem interaction
``s2_int``) the grand mean's variance is ``s2_seed/S + s2_prob/P + s2_int/(S*P)``. Redrawing the
problems independently for each resampled seed would shrink the problem term to about
``s2_prob/(S*P)``, i.e. understate the problem variance (usually the largest term: problems differ a
lot in difficulty) by a factor of ``S`` and give intervals that are too narrow. Sharing the
resampled problems keeps the ``s2_prob/P`` term. The price (Owen 2007, "the pigeonhole bootstrap") is
that the interaction term is counted up to about three times (``s2_int * (1/S + 1/P + 1/(S*P))``
roughly, with small-sample factors): the intervals are conservative, most so (half-width up to
about ``sqrt(3)`` times too wide) when scores are pure seed x problem noise with no problem or seed
effect, and nearly exact when problem difficulty dominates. A conservative interval is the safe
error for a claim of significance. No bootstrap of a crossed design is exactly unbiased (McCullagh
2000).

In a paired contrast the seeds of the two algorithms are independent training runs (seed 0 of SRL has
nothing in common with seed 0 of RLVR), so they are resampled independently for each algorithm, and
they may differ in number; only the problems are paired. Pairing by problem removes the problem
difficulty from the difference, which is where the power of the paired test comes from.

Intervals are percentile intervals of the bootstrap distribution. Everything is deterministic given
``seed`` (numpy's PCG64 via `numpy.random.default_rng`), and vectorised: draws are processed in
chunks with matrix products, so 2000 draws of 5 seeds x 200 problems take milliseconds.

All returned numbers are plain Python ``float`` / ``int`` / ``bool`` (ready for JSON).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: The contrasts the comparison is about, as (a, b): the report tests a - b.
PRIMARY_CONTRASTS: tuple[tuple[str, str], ...] = (
    ("srl", "rlvr"), ("srl", "sft"), ("srl", "base"), ("srl-rlvr", "srl"), ("srl-onpolicy", "srl"),
    ("srl", "rlvr-curriculum"),
)

_CHUNK_ELEMENTS = 1 << 20  # floats per chunk of draws x problems (8 MiB): bounds memory for huge test sets


# ---------------------------------------------------------------------- helpers
def _as_scores(scores: ArrayLike, name: str = "scores") -> NDArray[np.float64]:
    """``scores`` as a finite float matrix ``[n_seeds, n_problems]`` with at least one of each."""
    array = np.asarray(scores, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array [n_seeds, n_problems], got shape {array.shape}")
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(f"{name} needs at least one seed and one problem, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} holds non-finite values (NaN or inf)")
    return array


def _check_options(n_boot: int, ci: float) -> None:
    if not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")
    if not 0.0 < ci < 1.0:
        raise ValueError(f"ci must be in (0, 1), got {ci!r}")


def _counts(rng: np.random.Generator, draws: int, n: int) -> NDArray[np.float64]:
    """How often each of ``n`` items is picked in ``draws`` resamples of size ``n`` with replacement: ``[draws, n]``."""
    if n == 1:
        return np.ones((draws, 1))
    picks = rng.integers(0, n, size=(draws, n)) + n * np.arange(draws)[:, None]
    return np.bincount(picks.ravel(), minlength=draws * n).reshape(draws, n).astype(np.float64)


def _picks(rng: np.random.Generator, draws: int, n: int) -> NDArray[np.int64] | None:
    """The items picked in ``draws`` resamples of ``n`` items with replacement, ``[draws, n]`` (None when ``n == 1``).

    The same random numbers as `_counts` (``counts[d, i]`` is how often ``i`` is in ``picks[d]``): sums over
    the picks with `_picked_sums` equal the count-weighted sums, and gathering is several times faster than
    counting when ``n`` is large.
    """
    return None if n == 1 else rng.integers(0, n, size=(draws, n))


def _picked_sums(values: NDArray[np.float64], picks: NDArray[np.int64] | None) -> NDArray[np.float64]:
    """``sum_i counts[d, i] * values[d, i]`` for each draw ``d``, from the picks of `_picks`."""
    return values.sum(axis=1) if picks is None else np.take_along_axis(values, picks, axis=1).sum(axis=1)


def _weighted_rows(counts: NDArray[np.float64], x: NDArray[np.float64]) -> NDArray[np.float64]:
    """``counts @ x`` (``[draws, n_seeds] @ [n_seeds, n_problems]``) without BLAS.

    The inner dimension is a handful of seeds: a threaded BLAS gains nothing on such a product and its
    worker threads spin on a busy machine, doubling the CPU time of a bootstrap.
    """
    return np.einsum("ds,sp->dp", counts, x)


def _chunks(n_boot: int, width: int) -> Iterable[int]:
    """Sizes of the chunks of bootstrap draws (a fixed function of ``n_boot`` and the matrix width)."""
    size = max(1, _CHUNK_ELEMENTS // max(1, width))
    for start in range(0, n_boot, size):
        yield min(size, n_boot - start)


def _interval(draws: NDArray[np.float64], ci: float) -> tuple[float, float]:
    low, high = np.quantile(draws, [(1.0 - ci) / 2.0, (1.0 + ci) / 2.0])
    return float(low), float(high)


# ---------------------------------------------------------------------- one algorithm
def hierarchical_bootstrap(scores: ArrayLike, *, n_boot: int = 2000, seed: int = 0, ci: float = 0.95) -> dict[str, Any]:
    """Mean score of one algorithm and its percentile bootstrap interval over seeds, then problems.

    Args:
        scores: ``[n_seeds, n_problems]``: ``scores[s, i]`` is seed ``s``'s score on test problem ``i``
            (the same problem ``i`` for every seed). Must be 2-D and finite.
        n_boot: bootstrap draws.
        seed: seed of the resampling (the result is a deterministic function of it and the inputs).
        ci: the interval's coverage level.

    Each draw picks ``n_seeds`` seeds with replacement and, independently, ``n_problems`` problems with
    replacement, the same picked problems for every picked seed (see the module docstring for why);
    its statistic is the mean over the picked (seed, problem) pairs, computed as
    ``seed_counts @ scores @ problem_counts / (n_seeds * n_problems)`` (the problem side as a sum over the
    picked columns, which is the same number and faster). With one seed only the problems
    vary; with one problem only the seeds vary; with one of each the interval is the single value.

    Returns:
        ``mean``: the observed mean of ``scores`` (mean over seeds of each seed's mean over problems);
        ``low``, ``high``: the ``(1-ci)/2`` and ``(1+ci)/2`` quantiles of the draws' statistics;
        ``ci95``: the half-width ``(high - low) / 2`` (named like `srl_gym.metrics.mean_ci`'s key;
        it is at level ``ci``); ``ci``: the level; ``n_seeds``, ``n_problems``, ``n_boot``.
    """
    x = _as_scores(scores)
    _check_options(n_boot, ci)
    n_seeds, n_problems = x.shape
    rng = np.random.default_rng(seed)
    stats = []
    for draws in _chunks(n_boot, max(n_seeds, n_problems)):
        seed_counts = _counts(rng, draws, n_seeds)  # [draws, n_seeds]
        problem_picks = _picks(rng, draws, n_problems)  # [draws, n_problems]
        stats.append(_picked_sums(_weighted_rows(seed_counts, x), problem_picks) / (n_seeds * n_problems))
    boot = np.concatenate(stats)
    low, high = _interval(boot, ci)
    return {
        "mean": float(x.mean()),
        "low": low,
        "high": high,
        "ci95": (high - low) / 2.0,
        "ci": float(ci),
        "n_seeds": int(n_seeds),
        "n_problems": int(n_problems),
        "n_boot": int(n_boot),
    }


# ---------------------------------------------------------------------- two algorithms
def paired_difference(
    a: ArrayLike, b: ArrayLike, *, n_boot: int = 2000, seed: int = 0, ci: float = 0.95, tie_tol: float = 1e-9
) -> dict[str, Any]:
    """Mean difference ``a - b`` of two algorithms on the same problems, its bootstrap interval and p-value.

    Args:
        a, b: ``[n_seeds_a, n_problems]`` and ``[n_seeds_b, n_problems]``: each algorithm's score of each
            seed on each problem; column ``i`` is the same problem in both. The seed counts may differ:
            seeds are paired with nothing (different algorithms' seeds are independent runs).
        n_boot, seed, ci: as in `hierarchical_bootstrap`.
        tie_tol: seed-averaged per-problem scores closer than this count as a tie, and so do bootstrap
            differences this close to 0.

    Each draw picks ``n_problems`` problems with replacement, the same picks for ``a`` and ``b`` (the
    pairing), and independently ``n_seeds_a`` seeds of ``a`` and ``n_seeds_b`` seeds of ``b`` with
    replacement; its statistic is ``mean(a[picked seeds_a][:, picked problems]) -
    mean(b[picked seeds_b][:, picked problems])``.

    The two-sided p-value of "no difference" is ``2 * min(P*(d <= 0), P*(d >= 0))`` over the bootstrap
    draws ``d`` (the percentile-interval inversion: it is below ``1 - ci`` about exactly when the
    interval excludes 0), capped at 1 and floored at ``1 / (n_boot + 1)``: the bootstrap cannot
    resolve a smaller p-value, and a p-value of 0 would claim certainty. Identical scores give 1, also over
    different seed counts (a draw within ``tie_tol`` of 0 counts as 0, not as the sign of its rounding error).

    Returns:
        ``diff``: observed ``mean(a) - mean(b)``; ``mean_a``, ``mean_b``; ``low``, ``high``, ``ci95``
        (half-width), ``ci``: the percentile interval of ``diff``; ``p_value``; ``wins``, ``ties``,
        ``losses``: problems where ``a``'s seed-averaged score is above, within ``tie_tol`` of, or below
        ``b``'s; ``n_seeds_a``, ``n_seeds_b``, ``n_problems``, ``n_boot``.
    """
    xa = _as_scores(a, "a")
    xb = _as_scores(b, "b")
    _check_options(n_boot, ci)
    if xa.shape[1] != xb.shape[1]:
        raise ValueError(f"a and b must score the same problems: a has {xa.shape[1]} problems, b has {xb.shape[1]}")
    (sa, n_problems), sb = xa.shape, xb.shape[0]
    rng = np.random.default_rng(seed)
    stats = []
    for draws in _chunks(n_boot, max(sa, sb, n_problems)):
        problem_picks = _picks(rng, draws, n_problems)
        seed_a = _counts(rng, draws, sa)
        seed_b = _counts(rng, draws, sb)
        # [draws, n_problems]: resampled-seed means of a - b
        per_problem = _weighted_rows(seed_a, xa) / sa - _weighted_rows(seed_b, xb) / sb
        stats.append(_picked_sums(per_problem, problem_picks) / n_problems)
    boot = np.concatenate(stats)
    low, high = _interval(boot, ci)
    # a draw within tie_tol of 0 is 0: the same scores averaged over different seed counts differ in the last bits
    below, above = float(np.mean(boot <= tie_tol)), float(np.mean(boot >= -tie_tol))
    p_value = min(1.0, max(2.0 * min(below, above), 1.0 / (n_boot + 1)))
    margin = xa.mean(axis=0) - xb.mean(axis=0)
    ties = np.abs(margin) <= tie_tol
    return {
        "diff": float(xa.mean() - xb.mean()),
        "mean_a": float(xa.mean()),
        "mean_b": float(xb.mean()),
        "low": low,
        "high": high,
        "ci95": (high - low) / 2.0,
        "ci": float(ci),
        "p_value": p_value,
        "wins": int(np.sum((margin > 0) & ~ties)),
        "ties": int(np.sum(ties)),
        "losses": int(np.sum((margin < 0) & ~ties)),
        "n_seeds_a": int(sa),
        "n_seeds_b": int(sb),
        "n_problems": int(n_problems),
        "n_boot": int(n_boot),
    }


# ---------------------------------------------------------------------- multiple comparisons
def holm(p_values: Mapping[str, float], alpha: float = 0.05) -> dict[str, dict[str, Any]]:
    """Holm-Bonferroni step-down correction of a family of p-values.

    With the ``m`` p-values sorted ascending, ``p_(1) <= ... <= p_(m)`` (ties keep the input order), the
    adjusted p-value of the ``k``-th is ``max_{j <= k} min(1, (m - j + 1) * p_(j))``: monotone in the
    sort order and capped at 1. A hypothesis is ``significant`` when its adjusted p-value is
    ``<= alpha``; this rejects exactly what Holm's procedure rejects (step down while
    ``p_(k) <= alpha / (m - k + 1)``) and controls the family-wise error rate at ``alpha``.

    Returns:
        For each name: ``p`` (the input), ``p_adjusted``, ``significant``.

    Example: ``{"x": 0.01, "y": 0.04, "z": 0.03}`` gives adjusted 0.03, 0.06, 0.06: only ``x`` is significant.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    for name, p in p_values.items():
        if not (isinstance(p, (int, float, np.floating)) and 0.0 <= float(p) <= 1.0):
            raise ValueError(f"p-value of {name!r} must be a number in [0, 1], got {p!r}")
    names = sorted(p_values, key=lambda n: float(p_values[n]))  # stable
    m = len(names)
    out: dict[str, dict[str, Any]] = {}
    running = 0.0
    for rank, name in enumerate(names):
        p = float(p_values[name])
        running = max(running, min(1.0, (m - rank) * p))
        out[name] = {"p": p, "p_adjusted": running, "significant": running <= alpha}
    return {name: out[name] for name in p_values}  # the input's order


# ---------------------------------------------------------------------- from cell records
def per_problem_scores(
    cells: Sequence[Mapping[str, Any]], metric: str, difficulty: int | str
) -> tuple[list[int], NDArray[np.float64]]:
    """Stack the cells' ``eval[difficulty]["per_problem"][metric]`` lists into ``[n_seeds, n_problems]``.

    Rows are in ascending seed order (so the result does not depend on the cells' order). Cells without
    that list are skipped. Raises ValueError when no cell has it, when two cells have the same seed, or
    when the lists differ in length (they must score the same problems).

    Returns:
        The seeds (one per row) and the matrix.
    """
    key = str(difficulty)
    rows: dict[int, list[float]] = {}
    for cell in cells:
        scores = ((cell.get("eval") or {}).get(key) or {}).get("per_problem", {}).get(metric)
        if scores is None:
            continue
        if cell["seed"] in rows:
            raise ValueError(f"two cells with seed {cell['seed']} of {_name(cell)}")
        rows[cell["seed"]] = list(scores)
    if not rows:
        raise ValueError(f"no cell has per-problem scores of {metric!r} at difficulty {key}")
    lengths = {seed: len(r) for seed, r in rows.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(
            f"per-problem lists of {metric!r} at difficulty {key} differ in length across seeds {lengths}: "
            "every seed must score the same problems"
        )
    seeds = sorted(rows)
    return seeds, _as_scores([rows[s] for s in seeds], f"per-problem {metric!r}")


def _name(cell: Mapping[str, Any]) -> str:
    return f"{cell.get('model')}/{cell.get('task')}/{cell.get('algo')}"


def summarize_algorithm(
    cells: Sequence[Mapping[str, Any]],
    metric: str,
    difficulty: int | str,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    ci: float = 0.95,
) -> dict[str, Any]:
    """`hierarchical_bootstrap` of one algorithm's per-problem scores, from its cells (one per seed).

    ``cells`` must all be of one (model, task, algo); cells without per-problem scores of ``metric`` at
    ``difficulty`` are skipped (see `per_problem_scores`).

    Returns:
        `hierarchical_bootstrap`'s dict plus ``model``, ``task``, ``algo``, ``seeds``, ``metric`` and ``difficulty``.
    """
    keys = {(c["model"], c["task"], c["algo"]) for c in cells}
    if len(keys) != 1:
        raise ValueError(f"summarize_algorithm needs the cells of one (model, task, algo), got {sorted(keys)}")
    (model, task, algo) = keys.pop()
    seeds, scores = per_problem_scores(cells, metric, difficulty)
    result = hierarchical_bootstrap(scores, n_boot=n_boot, seed=seed, ci=ci)
    return {"model": model, "task": task, "algo": algo, "seeds": seeds, "metric": metric,
            "difficulty": str(difficulty), **result}  # fmt: skip


def primary_contrasts(
    cells: Sequence[Mapping[str, Any]],
    metric: str,
    difficulty: int | str,
    contrasts: Sequence[tuple[str, str]] = PRIMARY_CONTRASTS,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    ci: float = 0.95,
    alpha: float = 0.05,
) -> list[dict[str, Any]]:
    """Paired bootstrap tests of the primary contrasts, Holm-corrected within each (model, task).

    For each (model, task) in ``cells`` (compare's result records) and each contrast ``(a, b)`` whose two
    algorithms both have per-problem scores of ``metric`` at ``difficulty``, `paired_difference` of
    ``a - b`` (the per-problem matrices from `per_problem_scores`). Contrasts with a missing algorithm
    are skipped; so are (model, task) groups with no contrast left. The p-values of one (model, task)
    form one family for `holm` at ``alpha`` (different models/tasks are separate experiments). Every
    contrast uses the same bootstrap ``seed``, so they share their problem resamples.

    Raises ValueError when the per-problem lists of one (model, task) differ in length: every algorithm
    and seed must score the same problems.

    Returns:
        One dict per (model, task), in first-seen order: ``model``, ``task``, ``metric``, ``difficulty``,
        ``alpha`` and ``contrasts``: a list, in ``contrasts``' order, of ``{"a", "b", "seeds_a",
        "seeds_b", **paired_difference, "p_adjusted", "significant"}``.
    """
    key = str(difficulty)
    pairs = [(a, b) for a, b in contrasts]
    if len(set(pairs)) != len(pairs) or any(a == b for a, b in pairs):
        raise ValueError(f"contrasts must be distinct pairs of different algorithms, got {pairs}")
    groups: dict[tuple[str, str], dict[str, list[Mapping[str, Any]]]] = {}
    for cell in cells:
        groups.setdefault((cell["model"], cell["task"]), {}).setdefault(cell["algo"], []).append(cell)
    rows = []
    for (model, task), by_algo in groups.items():
        matrices: dict[str, tuple[list[int], NDArray[np.float64]]] = {}
        for algo, members in by_algo.items():
            if any(((c.get("eval") or {}).get(key) or {}).get("per_problem", {}).get(metric) is not None
                   for c in members):  # fmt: skip
                matrices[algo] = per_problem_scores(members, metric, key)
        lengths = {algo: m.shape[1] for algo, (_, m) in matrices.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(
                f"{model}/{task}: per-problem lists of {metric!r} at difficulty {key} differ in length across "
                f"algorithms {lengths}: every algorithm must score the same problems"
            )
        tests = []
        for a, b in pairs:
            if a in matrices and b in matrices:
                (seeds_a, xa), (seeds_b, xb) = matrices[a], matrices[b]
                test = paired_difference(xa, xb, n_boot=n_boot, seed=seed, ci=ci)
                tests.append({"a": a, "b": b, "seeds_a": seeds_a, "seeds_b": seeds_b, **test})
        if not tests:
            continue
        corrected = holm({f"{t['a']} - {t['b']}": t["p_value"] for t in tests}, alpha=alpha)
        for t in tests:
            holm_row = corrected[f"{t['a']} - {t['b']}"]
            t["p_adjusted"], t["significant"] = holm_row["p_adjusted"], holm_row["significant"]
        rows.append({"model": model, "task": task, "metric": metric, "difficulty": key, "alpha": alpha,
                     "contrasts": tests})  # fmt: skip
    return rows


#: The metrics `contrast_table` tests: the outcomes, then step similarity as a check of the mechanism.
CONTRAST_METRICS: tuple[str, ...] = ("greedy_success", "agent_success", "step_similarity")


def noise_contrasts(cells: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """``("srl@noise=0.1", "srl")`` for every flawed-expert row of ``cells`` (compare's ``expert_noise`` axis)."""
    pairs = {(c["algo"], c.get("algorithm", c["algo"]), float(c["expert_noise"])) for c in cells
             if c.get("expert_noise")}  # fmt: skip
    return [(label, algorithm) for label, algorithm, _ in sorted(pairs, key=lambda t: (t[1], t[2]))]


def control_contrasts(cells: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """``("control-sft", "base")`` for every control row of ``cells`` (records with ``control`` set)."""
    return [(label, "base") for label in dict.fromkeys(c["algo"] for c in cells if c.get("control"))]


def _t_difference(differences: Sequence[float]) -> dict[str, float | None]:
    """``diff``, ``low``, ``high``: the mean of per-seed ``differences`` and its Student t 95% interval
    (``low``/``high`` None for one seed)."""
    from srl_gym.metrics import mean_ci

    stat = mean_ci(list(differences))
    half = stat["ci95"]
    return {"diff": stat["mean"], "low": None if half is None else stat["mean"] - half,
            "high": None if half is None else stat["mean"] + half}  # fmt: skip


def _judged(row: dict[str, Any], *, lower: bool) -> dict[str, Any]:
    """``row`` with ``lower_is_better`` and ``improved``: its interval lies above zero (below it when ``lower``)."""
    row["lower_is_better"] = lower
    row["improved"] = row["low"] is not None and (row["high"] < 0 if lower else row["low"] > 0)
    return row


def objective_table(cells: Sequence[Mapping[str, Any]], difficulty: int | str) -> list[dict[str, Any]]:
    """Does each algorithm learn its own objective? Each trained row's ``objectives`` against the base.

    For every (model, task, algo) whose cells name ``objectives`` (metrics of what it optimises, e.g.
    SRL's held-out step reward), and each of those metrics at ``difficulty`` that the base has too: the
    row's and the base's means and the difference ``a - base`` with a 95% interval, ``method`` saying
    which: where both have per-problem scores of the metric, `paired_difference` (the same paired
    bootstrap over problems and seeds as the contrasts); otherwise a Student t interval over the seeds
    of the per-seed difference (each seed against the base's same seed, or its mean when the base lacks
    that seed; the same held-out problems for both). ``improved``: the interval lies above zero (below zero
    for a metric in `srl_gym.metrics.LOWER_IS_BETTER`, a loss; ``lower_is_better`` says which).
    """
    from srl_gym.metrics import BOOTSTRAP_SEEDS_PROBLEMS, LOWER_IS_BETTER, T_OVER_SEEDS

    key = str(difficulty)
    groups: dict[tuple[str, str], dict[str, list[Mapping[str, Any]]]] = {}
    for cell in cells:
        groups.setdefault((cell["model"], cell["task"]), {}).setdefault(cell["algo"], []).append(cell)
    rows = []
    for (model, task), by_algo in groups.items():
        base_cells = by_algo.get("base", [])
        base = {c["seed"]: ((c.get("eval") or {}).get(key) or {}) for c in base_cells}
        for algo, members in by_algo.items():
            for metric in (members[0].get("objectives") or []) if base else []:
                pairs = []
                for cell in sorted(members, key=lambda c: c["seed"]):
                    value = ((cell.get("eval") or {}).get(key) or {}).get(metric)
                    reference = base.get(cell["seed"], {}).get(metric)
                    if reference is None:
                        values = [b[metric] for b in base.values() if b.get(metric) is not None]
                        reference = float(np.mean(values)) if values else None
                    if value is not None and reference is not None:
                        pairs.append((float(value), float(reference)))
                if not pairs:
                    continue
                row = {"model": model, "task": task, "algo": algo, "metric": metric, "difficulty": key,
                       "seeds": len(pairs), "mean": float(np.mean([v for v, _ in pairs])),
                       "base": float(np.mean([r for _, r in pairs]))}  # fmt: skip
                try:
                    test = paired_difference(per_problem_scores(members, metric, key)[1],
                                             per_problem_scores(base_cells, metric, key)[1])  # fmt: skip
                    row |= {"diff": test["diff"], "low": test["low"], "high": test["high"],
                            "method": BOOTSTRAP_SEEDS_PROBLEMS}  # fmt: skip
                except ValueError:  # no per-problem scores (or of other lengths): t over the seeds' differences
                    row |= _t_difference([v - r for v, r in pairs]) | {"method": T_OVER_SEEDS}
                rows.append(_judged(row, lower=metric in LOWER_IS_BETTER))  # a loss improves when it falls
    return rows


#: The prefix of a GRPO reward function's logged batch values (``rollout/rewards/NAME/mean``, TRL's names).
REWARD_SIGNAL_PREFIX = "rollout/rewards/"


def training_signals(cell: Mapping[str, Any]) -> dict[str, list[float]]:
    """A cell's training signal per update, from its ``training`` log (`srl_gym.compare.training_log`).

    Every reward function's batch mean (``rollout/rewards/NAME/mean``, GRPO: what it maximises) where the
    runs logged one, else the training loss (``train/loss``, SFT: what it minimises); runs in order, so the
    rounds of on-policy SRL follow each other. Runs on different levels (the curriculum's) are different
    series: each signal's name then ends with `` dLEVEL``.
    """
    runs = cell.get("training") or []
    levels = {run.get("difficulty") for run in runs}
    series: dict[str, list[float]] = {}
    for run in runs:
        suffix = f" d{run.get('difficulty')}" if len(levels) > 1 else ""
        for row in run["rows"]:
            for key, value in row.items():
                if value is not None and (key == "train/loss" or key.startswith(REWARD_SIGNAL_PREFIX)):
                    series.setdefault(key + suffix, []).append(float(value))
    rewards = {k: v for k, v in series.items() if k.startswith(REWARD_SIGNAL_PREFIX)}
    return rewards or {k: v for k, v in series.items() if k == "train/loss"}


def training_table(cells: Sequence[Mapping[str, Any]], window: int = 3) -> list[dict[str, Any]]:
    """Does each algorithm move its own training signal as it trains? (on its training problems, not held out)

    For every (model, task, algo) whose cells logged a training signal (`training_signals`): the mean over
    seeds of the signal over the first ``window`` logged updates and over the last ``window`` (fewer when a
    run logged under ``2 * window``), and the per-seed change ``last - first`` with a Student t 95% interval
    over the seeds. ``improved``: that interval lies above zero (below zero for ``train/loss``). A GRPO
    reward is measured on the batches it samples as it trains, so it shows the policy learning on training
    problems; the held-out side is `objective_table`.
    """
    groups: dict[tuple[str, str, str], list[Mapping[str, Any]]] = {}
    for cell in cells:
        groups.setdefault((cell["model"], cell["task"], cell["algo"]), []).append(cell)
    rows = []
    for (model, task, algo), members in groups.items():
        per_signal: dict[str, list[tuple[float, float, int]]] = {}
        for cell in sorted(members, key=lambda c: c["seed"]):
            for name, values in training_signals(cell).items():
                width = min(window, len(values) // 2)
                if width >= 1:
                    first, last = float(np.mean(values[:width])), float(np.mean(values[-width:]))
                    per_signal.setdefault(name, []).append((first, last, len(values)))
        for name, triples in per_signal.items():
            row = {"model": model, "task": task, "algo": algo, "signal": name, "seeds": len(triples),
                   "updates": float(np.mean([n for _, _, n in triples])),
                   "first": float(np.mean([f for f, _, _ in triples])),
                   "last": float(np.mean([la for _, la, _ in triples]))}  # fmt: skip
            row |= _t_difference([last - first for first, last, _ in triples])
            rows.append(_judged(row, lower=name == "train/loss"))
    return rows


def contrast_table(
    cells: Sequence[Mapping[str, Any]],
    metrics: Sequence[str] = CONTRAST_METRICS,
    contrasts: Sequence[tuple[str, str]] | None = None,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
) -> list[dict[str, Any]]:
    """`primary_contrasts` of the language-model cells at every eval difficulty, for each of ``metrics``.

    ``contrasts`` default: `PRIMARY_CONTRASTS`, then `noise_contrasts` of the cells (each flawed expert's
    row against the same algorithm on the oracle's data), all in one Holm family per row.

    Only cells of kind ``"lm"`` take part (a cell without a ``kind``, from an older file, counts as one
    unless its model is ``"mlp"``). Difficulties are taken in ascending order, metrics in ``metrics``'
    order, (model, task) groups in first-seen order; metrics or difficulties without per-problem scores
    of both algorithms of some contrast give no row. Each row is one Holm family (one model, task,
    metric and difficulty), as `primary_contrasts` returns it.

    This runs after every finished cell of a comparison, so it never raises on bad records: a
    (model, task) whose per-problem lists cannot be compared (different lengths) gives a row with
    ``error`` (the reason) and no ``contrasts``.

    Returns:
        A list of `primary_contrasts` rows (plain JSON), or ``{"model", "task", "metric", "difficulty",
        "error"}`` rows.
    """
    lm = [c for c in cells if c.get("kind", "discrete" if c.get("model") == "mlp" else "lm") == "lm"]
    families = [("primary", contrasts if contrasts is not None else (*PRIMARY_CONTRASTS, *noise_contrasts(lm)))]
    if contrasts is None and control_contrasts(lm):  # the controls are a family of their own
        families.append(("controls", control_contrasts(lm)))
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for cell in lm:
        groups.setdefault((cell["model"], cell["task"]), []).append(cell)
    difficulties = sorted({str(d) for c in lm for d in (c.get("eval") or {})}, key=int)
    rows: list[dict[str, Any]] = []
    for difficulty in difficulties:
        for metric in metrics:
            for (model, task), members in groups.items():
                for family, pairs in families:
                    try:
                        rows += [row | {"family": family} for row in primary_contrasts(
                            members, metric, difficulty, pairs, n_boot=n_boot, seed=seed, alpha=alpha)]  # fmt: skip
                    except ValueError as error:
                        rows.append({"model": model, "task": task, "metric": metric, "difficulty": difficulty,
                                     "family": family, "error": str(error)})  # fmt: skip
                        break  # the same lengths fail every family: one error row
    return rows


#: The outcomes whose gain over the start model the regimes figure shows.
REGIME_METRICS: tuple[str, ...] = ("greedy_success", "agent_success")


def regime_table(
    cells: Sequence[Mapping[str, Any]], bases: Sequence[Mapping[str, Any]], difficulty: int | str,
    metrics: Sequence[str] = REGIME_METRICS, *, n_boot: int = 2000, alpha: float = 0.05,
) -> list[dict[str, Any]]:
    """Each algorithm's gain over its start model at each start model (regime), for the regimes figure.

    For every (model, task) whose ``base`` cells and start-model record (``bases``: compare's ``OUT/base``
    records, with ``regime``: the start model's validation pass@1 and pass@8) are present, every other
    non-control LM row and each of ``metrics`` at ``difficulty``: the row against ``base`` by `primary_contrasts`
    (paired by test problem, Holm-corrected over the rows of one model, task and metric). A (model, task) whose
    per-problem lists differ in length gives no row for that metric.

    Returns:
        One dict per (model, task, metric, algo): ``model``, ``task``, ``metric``, ``difficulty``, ``algo``,
        ``pass@1``, ``pass@8`` (None when the record lacks a regime), ``mean`` (the row's), ``base``, ``gain``,
        ``low``, ``high``, ``p_value``, ``p_adjusted``, ``significant``, ``seeds``.
    """
    regimes = {(b["model"], b["task"]): b.get("regime") or {} for b in bases}
    lm = [c for c in cells if c.get("kind", "lm") == "lm" and not c.get("control")]
    rows: list[dict[str, Any]] = []
    for model, task in dict.fromkeys((c["model"], c["task"]) for c in lm):
        members = [c for c in lm if (c["model"], c["task"]) == (model, task)]
        pairs = [(algo, "base") for algo in dict.fromkeys(c["algo"] for c in members) if algo != "base"]
        regime = regimes.get((model, task), {})
        for metric in metrics:
            try:  # the algorithms against base, paired by problem, one Holm family per (model, task, metric)
                tested = primary_contrasts(members, metric, difficulty, pairs, n_boot=n_boot, alpha=alpha)
            except ValueError:  # per-problem lists of different lengths: nothing to pair
                continue
            for test in (t for family in tested for t in family["contrasts"]):
                rows.append({"model": model, "task": task, "metric": metric, "difficulty": str(difficulty),
                             "algo": test["a"], "pass@1": regime.get("pass@1"), "pass@8": regime.get("pass@8"),
                             "mean": test["mean_a"], "base": test["mean_b"], "gain": test["diff"],
                             "low": test["low"], "high": test["high"], "p_value": test["p_value"],
                             "p_adjusted": test["p_adjusted"], "significant": test["significant"],
                             "seeds": test["seeds_a"]})  # fmt: skip
    return rows


def boundary_table(
    cells: Sequence[Mapping[str, Any]], difficulty: int | str, *, n_boot: int = 1000, alpha: float = 0.05
) -> list[dict[str, Any]]:
    """The reasoning boundary: pass@k for k = 1..n of each (model, task, algo) whose cells hold one.

    From each cell's ``eval[difficulty]["boundary"]`` (n samples per test problem, the count of right
    ones per problem: `srl_gym.agents.lm_eval.boundary`): the unbiased pass@k of every problem, its
    mean over seeds and problems and a `hierarchical_bootstrap` interval, for every k; and, against
    ``base`` at k = 1 and k = n, `paired_difference` (paired by problem), Holm-corrected over the rows of
    one (model, task) and k: does training raise pass@1 only (sharpening) or pass@n too (a wider boundary)?

    Returns:
        One dict per (model, task, algo): ``model``, ``task``, ``algo``, ``samples`` (n), ``problems``,
        ``seeds``, ``curve`` (``[{"k", "mean", "low", "high"}]``) and ``vs_base`` (``{"1": test, "n": test}``,
        each `paired_difference`'s fields with ``p_adjusted`` and ``significant``; empty for the base).
    """
    from srl_gym.metrics import pass_at_k

    key = str(difficulty)
    groups: dict[tuple[str, str, str], dict[int, Mapping[str, Any]]] = {}
    for cell in cells:
        found = ((cell.get("eval") or {}).get(key) or {}).get("boundary")
        if found:
            groups.setdefault((cell["model"], cell["task"], cell["algo"]), {})[cell["seed"]] = found
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    matrices: dict[tuple[str, str, str], dict[int, NDArray[np.float64]]] = {}
    for (model, task, algo), by_seed in groups.items():
        shapes = {(b["samples"], len(b["solved"])) for b in by_seed.values()}
        if len(shapes) != 1:
            continue  # seeds sampled differently: nothing to pool
        ((n, problems),) = shapes
        seeds = sorted(by_seed)
        per_k = {k: np.array([pass_at_k(n, by_seed[s]["solved"], k) for s in seeds]) for k in range(1, n + 1)}
        curve = []
        for k, scores in per_k.items():
            stat = hierarchical_bootstrap(scores, n_boot=n_boot)
            curve.append({"k": k, "mean": stat["mean"], "low": stat["low"], "high": stat["high"]})
        rows[(model, task, algo)] = {"model": model, "task": task, "algo": algo, "samples": n, "problems": problems,
                                     "seeds": seeds, "curve": curve, "vs_base": {}}  # fmt: skip
        matrices[(model, task, algo)] = {1: per_k[1], n: per_k[n]}
    for (model, task, algo), row in rows.items():
        base = matrices.get((model, task, "base"))
        if algo == "base" or base is None or set(base) != set(matrices[(model, task, algo)]):
            continue
        for k, scores in matrices[(model, task, algo)].items():
            if scores.shape[1] == base[k].shape[1]:
                row["vs_base"][str(k)] = paired_difference(scores, base[k], n_boot=n_boot)
    for model, task in {(m, t) for m, t, _ in rows}:
        for k in {k for (m, t, _), r in rows.items() if (m, t) == (model, task) for k in r["vs_base"]}:
            family = {a: r["vs_base"][k]["p_value"] for (m, t, a), r in rows.items()
                      if (m, t) == (model, task) and k in r["vs_base"]}  # fmt: skip
            for algo, verdict in holm(family, alpha=alpha).items():
                test = rows[(model, task, algo)]["vs_base"][k]
                test["p_adjusted"], test["significant"] = verdict["p_adjusted"], verdict["significant"]
    return list(rows.values())


def binomial_se(p: float, n: int) -> float:
    """Standard error ``sqrt(p (1 - p) / n)`` of a mean of ``n`` independent Bernoulli(``p``) scores."""
    return math.sqrt(p * (1.0 - p) / n)


__all__ = [
    "CONTRAST_METRICS",
    "PRIMARY_CONTRASTS",
    "binomial_se",
    "boundary_table",
    "contrast_table",
    "control_contrasts",
    "hierarchical_bootstrap",
    "holm",
    "objective_table",
    "REWARD_SIGNAL_PREFIX",
    "training_signals",
    "training_table",
    "paired_difference",
    "per_problem_scores",
    "primary_contrasts",
    "regime_table",
    "summarize_algorithm",
]
