"""Metric and budget names, and the statistics over seeds: one source of truth for trainers, runner and report.

Evaluation metrics (held-out, test split unless said otherwise):

=====================  ==========================================================================
``greedy_success``     language models: the whole solution decoded greedily in one completion,
                       checked by the verifier; discrete agents: the greedy policy plays the env
``avg_at_k``           mean success of k sampled whole solutions per problem
``pass_at_k``          share of problems with at least one success among the k samples
``agent_success``      the model plays the env step by step (`srl_gym.evaluation.evaluate`)
``step_similarity``    greedy next step vs the expert's (given the expert's previous steps), difflib
``step_reward``        the SRL reward of that step: the similarity, or -1 for a broken format
``exact_match``        share of greedy next steps equal to the expert's
``format_rate``        share of greedy whole solutions that close the ``<think>`` monologue
``step_format_rate``   share of greedy next steps with a closed monologue and a step
``solution_loss``      mean per-token negative log-likelihood (nats) of the expert's whole solution,
                       teacher-forced (SFT's training objective; lower is better)
``agent_step_similarity``  mean similarity of the agent's steps to the oracle's step from each state
                       it reached itself (what on-policy SRL optimises)
``valid_fraction``     share of an agent's steps that parse and apply (discrete agents)
``problems``           how many problems were scored
=====================  ==========================================================================

Trainers log them as ``eval/<name>`` (and ``eval/<name>_before`` for the starting model); budgets
use the names in `BUDGET`.

A comparison cell's eval dict may also hold ``per_problem``: ``{metric: [score of test problem 0, 1,
...]}``, the same problems in the same order for every algorithm and seed. `summarize` then computes
that metric's interval over seeds *and* problems (`srl_gym.stats.hierarchical_bootstrap`); without
it, Student's t over seeds (`mean_ci`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

GREEDY_SUCCESS = "greedy_success"
AVG_AT_K = "avg_at_k"
PASS_AT_K = "pass_at_k"
AGENT_SUCCESS = "agent_success"
STEP_SIMILARITY = "step_similarity"
STEP_REWARD = "step_reward"
EXACT_MATCH = "exact_match"
FORMAT_RATE = "format_rate"
STEP_FORMAT_RATE = "step_format_rate"
VALID_FRACTION = "valid_fraction"
AGENT_STEP_SIMILARITY = "agent_step_similarity"
SOLUTION_LOSS = "solution_loss"
PROBLEMS = "problems"

#: Every evaluation metric with a short title (the report's column headers).
METRICS: dict[str, str] = {
    GREEDY_SUCCESS: "greedy success",
    AVG_AT_K: "avg@{k}",
    PASS_AT_K: "pass@{k}",
    AGENT_SUCCESS: "agent success",
    STEP_SIMILARITY: "step sim.",
    STEP_REWARD: "step reward",
    EXACT_MATCH: "exact step",
    FORMAT_RATE: "format",
    STEP_FORMAT_RATE: "step format",
    VALID_FRACTION: "valid steps",
    AGENT_STEP_SIMILARITY: "agent step sim.",
    SOLUTION_LOSS: "solution loss",
    PROBLEMS: "problems",
}

#: Metrics where lower is better (an objective "improves" when it falls).
LOWER_IS_BETTER = frozenset({SOLUTION_LOSS})

#: Budget items: what a run spent (a `srl_gym.algorithms.Checkpoint`'s ``budget``).
BUDGET: dict[str, str] = {
    "updates": "optimizer updates",
    "gradient_updates": "updates with at least one informative group (GRPO) or a loss (SFT)",
    "generated_tokens": "tokens sampled in rollouts",
    "trained_tokens": "prompt and completion tokens in the training batches",
    "env_steps": "environment steps (discrete agents)",
    "expert_labels": "oracle labels (behaviour cloning)",
    "train_seconds": "wall time of training",
}

#: Two-sided 95% quantiles of Student's t for 1..30 degrees of freedom.
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
        2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045,
        2.042)  # fmt: skip


def mean_ci(values: Sequence[float]) -> dict[str, Any]:
    """Mean over seeds and the half-width of its 95% confidence interval (Student's t; None for one seed)."""
    n = len(values)
    if n == 0:
        return {"mean": None, "ci95": None, "n": 0}
    mean = sum(values) / n
    if n == 1:
        return {"mean": mean, "ci95": None, "n": 1}
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    t = _T95[n - 2] if n - 1 <= len(_T95) else 1.96 + 2.4 / (n - 1)
    return {"mean": mean, "ci95": t * sd / math.sqrt(n), "n": n}


def pass_at_k(n: int, solved: Sequence[int], k: int) -> list[float]:
    """The unbiased estimate of pass@k of each problem from ``solved[i]`` right answers among ``n`` samples.

    ``1 - C(n - c, k) / C(n, k)`` (Chen et al., 2021, "Evaluating Large Language Models Trained on
    Code", arXiv:2107.03374): the chance that ``k`` of the ``n`` samples, drawn without replacement,
    hold a right one. Needs ``1 <= k <= n``; computed as a product, so large ``n`` does not overflow.
    """
    if not 1 <= k <= n:
        raise ValueError(f"pass@k needs 1 <= k <= n samples, got k={k}, n={n}")
    out = []
    for c in solved:
        if not 0 <= c <= n:
            raise ValueError(f"a problem cannot be solved {c} times in {n} samples")
        if n - c < k:
            out.append(1.0)
            continue
        miss = 1.0
        for i in range(n - c + 1, n + 1):
            miss *= 1.0 - k / i
        out.append(1.0 - miss)
    return out


#: What the learning curves follow (at the training difficulty, on the validation problems).
CURVE_METRICS = (GREEDY_SUCCESS, AGENT_SUCCESS, FORMAT_RATE)


#: How an eval metric's interval was computed (the ``method`` of its stat in `summarize`).
T_OVER_SEEDS = "t over seeds"
BOOTSTRAP_SEEDS_PROBLEMS = "bootstrap seeds x problems"
#: Draws and seed of the summaries' bootstraps: fixed, so a summary is a function of its cells.
SUMMARY_BOOTSTRAP = {"n_boot": 2000, "seed": 0}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def eval_stat(results: Sequence[dict[str, Any]], metric: str) -> dict[str, Any]:
    """Mean and 95% interval of one eval ``metric`` over the eval dicts of one algorithm's seeds.

    When every seed's eval dict has a per-problem list of ``metric`` (``r["per_problem"][metric]``, all
    of one length, finite), the interval is `srl_gym.stats.hierarchical_bootstrap` over the
    [seeds x problems] matrix (problem variance included): ``ci_low``/``ci_high`` are its percentile
    interval and ``ci95`` its half-width ``(ci_high - ci_low) / 2``; ``problems`` is the list length.
    Otherwise it is `mean_ci` (Student's t over the seeds' aggregates). Either way ``mean`` is the mean
    of the seeds' aggregates ``r[metric]``, ``n`` their number and ``method`` says which interval it is.
    """
    values = [r[metric] for r in results if _is_number(r.get(metric))]
    stat = mean_ci(values)
    lists = [(r.get("per_problem") or {}).get(metric) for r in results]
    if values and len(values) == len(results) and all(isinstance(x, (list, tuple)) and x for x in lists):
        if len({len(x) for x in lists}) == 1:  # mismatched lists cannot be one matrix: keep the t interval
            from srl_gym import stats  # lazily: stats needs numpy, and imports nothing of this module

            try:
                boot = stats.hierarchical_bootstrap(lists, **SUMMARY_BOOTSTRAP)
            except (TypeError, ValueError):  # a None, NaN or string among the scores
                boot = None
            if boot is not None:
                return stat | {"ci95": boot["ci95"], "ci_low": boot["low"], "ci_high": boot["high"],
                               "method": BOOTSTRAP_SEEDS_PROBLEMS, "problems": boot["n_problems"]}  # fmt: skip
    return stat | {"method": T_OVER_SEEDS}


def summarize(cells: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (model, task, algo): mean/CI over seeds of every eval metric, budget item and curve point.

    Eval metrics with per-problem scores in every seed get a bootstrap interval over seeds and problems
    (see `eval_stat`); the ``per_problem`` lists themselves and other non-numeric entries are no metric.
    """
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for cell in cells:
        groups.setdefault((cell["model"], cell["task"], cell["algo"]), []).append(cell)
    rows = []
    for (model, task, algo), members in groups.items():
        members = sorted(members, key=lambda c: c["seed"])  # the bootstrap's rows: independent of cell order
        row: dict[str, Any] = {"model": model, "task": task, "algo": algo, "seeds": [c["seed"] for c in members]}
        if "expert_noise" in members[0]:  # the flawed-expert axis: the algorithm and its noise apart from the label
            row |= {"algorithm": members[0]["algorithm"], "expert_noise": members[0]["expert_noise"]}
        row["eval"] = {}
        for difficulty in sorted({d for c in members for d in c["eval"]}, key=int):
            results = [c["eval"][difficulty] for c in members if c["eval"].get(difficulty)]
            metrics = sorted({k for r in results for k, v in r.items() if k != "per_problem" and _is_number(v)})
            row["eval"][difficulty] = {m: eval_stat([r for r in results if _is_number(r.get(m))], m) for m in metrics}
        row["budget"] = {k: mean_ci([c["budget"][k] for c in members if k in c["budget"]])
                         for k in sorted({k for c in members for k in c["budget"]})}  # fmt: skip
        points: dict[int, list[dict[str, float]]] = {}  # by checkpoint index: BC's budgets differ by seed
        for c in members:
            for i, p in enumerate(c["curve"]):
                points.setdefault(i, []).append(p)
        row["curve"] = [
            {
                "budget": sum(p["budget"] for p in ps) / len(ps),
                **{m: mean_ci([p[m] for p in ps if p.get(m) is not None]) for m in CURVE_METRICS},
            }
            for _, ps in sorted(points.items())
        ]
        rows.append(row)
    return rows


__all__ = [
    "BOOTSTRAP_SEEDS_PROBLEMS",
    "BUDGET",
    "CURVE_METRICS",
    "METRICS",
    "T_OVER_SEEDS",
    "eval_stat",
    "mean_ci",
    "summarize",
]
