"""The comparison's report: ``table.md`` and the figures, drawn from ``results.json`` alone.

`write_table` gives one Markdown table per (model, task): a row per algorithm, the mean over
seeds with the half-width of its 95% confidence interval for each metric at the training
difficulty and one level harder, and the budget each algorithm used. The interval is a
hierarchical bootstrap over seeds and test problems where the cells hold per-problem scores, else
Student's t over seeds (a note under each table says which). Then the primary contrasts
(``results["contrasts"]``, from `srl_gym.stats.contrast_table`): paired bootstrap differences of
SRL against the others, with Holm-adjusted p-values. `write_plots` draws, per (model, task), the
learning curves (mean and 95% band over seeds of the validation scores at each evaluated
checkpoint; none when ``curve_points=1``) and a bar chart of greedy success at both difficulties.
Both can be rerun on a saved ``results.json``::

    python -m srl_gym.report results/quick/results.json
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from srl_gym import metrics as M
from srl_gym.runs import atomic_write_text
from srl_gym.stats import (
    PRIMARY_CONTRASTS,
    REWARD_SIGNAL_PREFIX,
    boundary_table,
    contrast_table,
    objective_table,
    regime_table,
    training_table,
)

#: (key in a curve point, axis label) of the learning-curve panels.
CURVES = ((M.GREEDY_SUCCESS, "greedy success"), (M.AGENT_SUCCESS, "agent success"), (M.FORMAT_RATE, "format"))
#: (key in results, column title) of the per-difficulty metrics in the table.
METRICS = tuple(
    (key, M.METRICS[key])
    for key in (M.GREEDY_SUCCESS, M.AGENT_SUCCESS, M.AVG_AT_K, M.STEP_SIMILARITY, M.FORMAT_RATE)
)


def slug(name: str) -> str:
    """A folder or file name for a model or task: ``srl/Hanoi-v0`` -> ``Hanoi-v0``; a model path -> its last parts."""
    if name.startswith("srl/"):
        name = name[4:]
    parts = [p for p in re.split(r"[\\/]+", name) if p and p != "."]
    text = "_".join(parts[-2:]) if len(parts) > 1 else (parts[0] if parts else "model")
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", text)


def fmt(stat: dict[str, Any] | None, digits: int = 2) -> str:
    """``0.42 ± 0.08`` (mean ± 95% CI half-width), ``0.42`` for one seed, ``n/a`` when missing."""
    if not stat or stat.get("mean") is None:
        return "n/a"
    if stat.get("ci95") is None:
        return f"{stat['mean']:.{digits}f}"
    return f"{stat['mean']:.{digits}f} ± {stat['ci95']:.{digits}f}"


def _short(name: str) -> str:
    return name[4:] if name.startswith("srl/") else name


def _groups(results: dict[str, Any]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    order = {a: i for i, a in enumerate(results["config"]["algos"])}
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in results["summary"]:
        groups.setdefault((row["model"], row["task"]), []).append(row)
    for rows in groups.values():  # by algorithm, then by expert_noise (a flawed expert's rows after the oracle's)
        rows.sort(key=lambda r: (order.get(r.get("algorithm", r["algo"]), len(order)), r.get("expert_noise", 0.0)))
    return groups


def table_markdown(results: dict[str, Any]) -> str:
    """The Markdown report of ``results`` (what ``table.md`` holds)."""
    config = results["config"]
    k = config["eval_samples"]
    seeds = config["seeds"]
    state = "complete" if results.get("complete") else "INCOMPLETE (rerun the command to finish it)"
    lines = [
        f"# srl-gym compare: preset `{config['preset']}` ({state})",
        "",
        f"`{results.get('command', '')}`",
        "",
        f"Mean over {seeds} seed(s) ± half-width of the 95% confidence interval (the note under each table says "
        "how it is computed); held-out test-split problems "
        f"({config['eval_problems']} per difficulty). Trained on {config['train_problems']} problems of "
        f"difficulty {config['train_difficulty']}; evaluated there (d{config['train_difficulty']})"
        + (f" and {harder} level(s) harder" if (harder := config.get("eval_harder_levels", 1)) else "")
        + (", each run at its checkpoint with the best validation score "
           f"({config.get('validation_problems', 'no')} validation problems, {config.get('curve_points', 1)} "
           "checkpoints per run). "
           if config.get("curve_points", 1) > 1 else
           ", each run at its final checkpoint (one per run; a run with two, SRL->RLVR's SRL half and its end, is "
           "picked "
           f"between them on {config.get('validation_problems', 'no')} validation problems). ")
        + "greedy success: whole solution decoded greedily, checked by the task's verifier; agent success: the "
        "model plays the env step by step (each prompt shows the current state); "
        + (f"avg@{k}: mean success of {k} samples at temperature {config['eval_temperature']}; " if k else "")
        + "step sim.: mean similarity of the "
        "greedy next step to the expert's (language models: given the expert's previous steps; discrete agents: "
        "on their own episodes); format: share of greedy solutions that close the `<think>...</think>` monologue. "
        "Language models train on the hard problems with the same number of updates; discrete agents train on "
        "the train split at that difficulty (PPO: env steps, BC: oracle labels).",
    ]
    env = results.get("environment", {})
    threads = env.get("cpu_threads", "?")
    device = env.get("accelerator") or (f"CPU ({threads} torch thread(s) a cell, {env['workers']} cell(s) at a time)"
                                        if env.get("workers") else f"CPU ({threads} torch threads)")  # fmt: skip
    lines += ["", f"Machine: {device}; git {str(env.get('git_commit'))[:10]}; started {results.get('started')}."]
    for (model, task), rows in _groups(results).items():
        difficulties = sorted({d for r in rows for d in r["eval"]}, key=int)
        lm = model != "mlp"
        lines += ["", f"## {_short(task)}, {'model ' + model if lm else 'discrete agents (MLP policies)'}", ""]
        metrics = [m for m in METRICS if any(m[0] in r["eval"].get(d, {}) for r in rows for d in difficulties)]
        header = ["algorithm", "seeds"]
        for d in difficulties:
            header += [f"{title.format(k=k)} d{d}" for _, title in metrics]
        header += (
            ["updates (with a gradient)", "generated tokens", "trained tokens"]
            if lm
            else ["env steps", "expert labels"]
        )
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        for row in rows:
            cells = [row["algo"], str(len(row["seeds"]))]
            for d in difficulties:
                values = row["eval"].get(d, {})
                cells += [fmt(values.get(key), 3 if key == "step_similarity" else 2) for key, _ in metrics]
            budget = row["budget"]
            if lm:
                cells += [f"{_count(budget.get('updates'))} ({_count(budget.get('gradient_updates'))})"]
                cells += [_count(budget.get(key)) for key in ("generated_tokens", "trained_tokens")]
            else:
                cells += [_count(budget.get(key)) for key in ("env_steps", "expert_labels")]
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", _interval_note(rows, difficulties, [(key, title.format(k=k)) for key, title in metrics])]
        if any(row.get("expert_noise") for row in rows):
            lines += ["", "`ALGO@noise=p`: trained on expert trajectories in which each step is, with probability p, "
                      "a legal wrong one after which the oracle re-plans (the env's `expert_noise`): SFT's targets and "
                      "SRL's step rewards come from that flawed expert; the warm-up, the verifier's outcome reward "
                      "and every validation and test problem stay clean."]  # fmt: skip
    contrasts = results.get("contrasts")
    if contrasts is None:  # a results.json from before the contrasts were stored
        contrasts = contrast_table(results.get("cells") or [])
    if contrasts or any(row["model"] != "mlp" for row in results["summary"]):
        lines += contrast_markdown([row for row in contrasts if row.get("family", "primary") == "primary"])
    kinds = {c["algo"]: c["control"] for c in results.get("cells") or [] if c.get("control")}
    lines += control_markdown([row for row in contrasts if row.get("family") == "controls"], kinds,
                              str(config["train_difficulty"]))
    lines += objective_markdown(objective_table(results.get("cells") or [], config["train_difficulty"]))
    lines += training_markdown(training_table(results.get("cells") or []))
    lines += regime_markdown(_regimes(results))
    lines += boundary_markdown(_boundary(results))
    if results.get("figures"):
        lines += ["", "Figures: " + ", ".join(f"[{f}]({f})" for f in results["figures"])]
    return "\n".join(lines) + "\n"


def _interval_note(rows: list[dict[str, Any]], difficulties: list[str], metrics: list[tuple[str, str]]) -> str:
    """The line under a table that says how its intervals were computed, column by column.

    A column whose cells differ (some algorithms' cells hold per-problem scores, some not: a comparison
    resumed across versions) is named under both methods, with the algorithms and difficulties that
    have Student's t.
    """
    boot_titles: list[str] = []
    t_titles: list[str] = []
    problems: dict[str, set[int]] = {}
    for key, title in metrics:
        boot, t = [], []
        for row in rows:
            for d in difficulties:
                stat = row["eval"].get(d, {}).get(key)
                if not stat or stat.get("mean") is None:
                    continue
                if stat.get("method") == M.BOOTSTRAP_SEEDS_PROBLEMS:
                    boot.append(f"{row['algo']} d{d}")
                    if stat.get("problems"):
                        problems.setdefault(d, set()).add(int(stat["problems"]))
                else:  # "t over seeds", or no method: a results.json from before the bootstrap
                    t.append(f"{row['algo']} d{d}")
        if boot and t:
            boot_titles.append(f"{title} (except {', '.join(t)})")
            t_titles.append(f"{title} of {', '.join(t)}")
        elif boot:
            boot_titles.append(title)
        elif t:
            t_titles.append(title)
    counts = sorted({n for ns in problems.values() for n in ns})
    if len(counts) == 1:
        sizes = f"{counts[0]} problems"
    else:
        sizes = "; ".join(f"d{d}: {'/'.join(map(str, sorted(ns)))}" for d, ns in sorted(problems.items())) + " problems"
    parts = []
    if boot_titles:
        parts.append((f"95% hierarchical bootstrap over seeds and problems ({sizes})", boot_titles))
    if t_titles:
        parts.append(("95% Student t over seeds", t_titles))
    if not parts:
        return "Intervals: none (no scores)."
    if len(parts) == 1:
        return f"Intervals: {parts[0][0]}."
    return "Intervals: " + "; ".join(f"{label} for {', '.join(titles)}" for label, titles in parts) + "."


def _p(value: float) -> str:
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def contrast_markdown(contrasts: list[dict[str, Any]]) -> list[str]:
    """The "Primary contrasts" section of the report: one table line per tested contrast."""
    pairs = ", ".join(f"{a} - {b}" for a, b in PRIMARY_CONTRASTS)
    lines = ["", "## Primary contrasts", ""]
    tested = [row for row in contrasts if row.get("contrasts")]
    if not tested:
        reason = next((row["error"] for row in contrasts if row.get("error")), None)
        lines.append(
            f"None tested ({pairs}): {reason}" if reason else
            f"None tested ({pairs}): they need per-problem test scores of both algorithms of a contrast "
            "(cells evaluated before per-problem scores were stored have none)."
        )  # fmt: skip
        return lines
    n_boot = int(tested[0]["contrasts"][0].get("n_boot") or 2000)
    alpha = tested[0].get("alpha", 0.05)
    lines += [
        "Difference a - b of the mean score (language models, held-out test problems) with its 95% paired "
        f"bootstrap interval ({n_boot} draws: the test problems resampled once for both algorithms, each "
        f"algorithm's seeds resampled independently). p: two-sided (never below 1/{n_boot + 1}: the bootstrap "
        "resolves no smaller p), Holm-adjusted within each group of lines "
        f"with the same task, model, metric and difficulty; significant: adjusted p <= {alpha}. "
        "W/T/L: test problems where a's seed-averaged score is above, equal to, below b's. step sim. (the "
        "quantity SRL trains on) is a check of the mechanism, not an outcome.",
        "",
        "| task | model | metric | difficulty | a - b | difference (95% CI) | p (Holm) | significant | W/T/L |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in tested:
        metric = row["metric"]
        digits = 3 if metric == M.STEP_SIMILARITY else 2
        title = M.METRICS.get(metric, metric)
        for t in row["contrasts"]:
            interval = f"{t['diff']:+.{digits}f} [{t['low']:+.{digits}f}, {t['high']:+.{digits}f}]"
            record = f"{t['wins']}/{t['ties']}/{t['losses']}" if "wins" in t else "n/a"
            cells = [_short(row["task"]), row["model"], title, f"d{row['difficulty']}", f"{t['a']} - {t['b']}",
                     interval, _p(t["p_adjusted"]), "yes" if t["significant"] else "no", record]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
    for row in contrasts:
        if row.get("error"):
            title = M.METRICS.get(row["metric"], row["metric"])
            lines += [
                "",
                f"Not tested: {_short(row['task'])}, {row['model']}, {title} d{row['difficulty']}: {row['error']}",
            ]
    return lines


#: What each kind of control must show on the primary outcome (greedy success at the training level).
CONTROL_EXPECTATIONS = {
    "positive": ("significantly above the base", lambda t: t["significant"] and t["diff"] > 0),
    "negative": ("not significantly apart from the base", lambda t: not t["significant"]),
}


def control_markdown(rows: list[dict[str, Any]], kinds: dict[str, str], difficulty: str) -> list[str]:
    """The "Controls" section: each control row against the base, and whether it came out as it must.

    ``kinds``: each control row's kind (``"positive"``/``"negative"``, its cells' ``control``). A control is
    judged on greedy success at the training ``difficulty``; its other rows are shown for information."""
    tested = [row for row in rows if row.get("contrasts")]
    if not tested:
        return []
    lines = [
        "",
        "## Controls",
        "",
        "Rows that validate the comparison on itself, tested like the primary contrasts (paired bootstrap, Holm "
        "within the controls of one task, model, metric and difficulty). A positive control (a training known to "
        "move the base) must come out significantly above the base on greedy success, a negative control (a "
        "training that cannot learn) must not come out apart from it, at the training level; if either does not, "
        "the protocol is at fault whatever the other rows say.",
        "",
        "| task | model | metric | difficulty | a - b | difference (95% CI) | p (Holm) | significant | must be | "
        "as it must |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in tested:
        title = M.METRICS.get(row["metric"], row["metric"])
        for t in row["contrasts"]:
            must, check = CONTROL_EXPECTATIONS.get(kinds.get(t["a"]), ("", None))
            judged = check is not None and row["metric"] == M.GREEDY_SUCCESS and row["difficulty"] == difficulty
            verdict = ("yes" if check(t) else "**NO**") if judged else "-"
            cells = [_short(row["task"]), row["model"], title, f"d{row['difficulty']}", f"{t['a']} - {t['b']}",
                     f"{t['diff']:+.2f} [{t['low']:+.2f}, {t['high']:+.2f}]", _p(t["p_adjusted"]),
                     "yes" if t["significant"] else "no", must if judged else "-", verdict]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def _signed(value: float) -> str:
    """A signed difference to 3 decimals, or in scientific notation where those would show a non-zero as 0
    (float noise below 1e-12 is 0)."""
    value = 0.0 if abs(value) < 1e-12 else value
    return f"{value:+.1e}" if value != 0 and abs(value) < 5e-4 else f"{value:+.3f}"


def _change(row: dict[str, Any]) -> str:
    """``diff [low, high]`` (``diff`` alone without an interval), each by `_signed`."""
    if row["low"] is None:
        return _signed(row["diff"])
    return f"{_signed(row['diff'])} [{_signed(row['low'])}, {_signed(row['high'])}]"


def objective_markdown(rows: list[dict[str, Any]]) -> list[str]:
    """The "Own objectives" section: does each algorithm improve what it optimises, on held-out problems?"""
    if not rows:
        return []
    lines = [
        "",
        "## Does each algorithm learn its own objective?",
        "",
        "Each trained row's held-out measure of what it optimises (registered with the algorithm: SFT and the "
        "positive control: the expert solution's per-token loss (teacher-forced, lower is better) and greedy "
        "whole-solution success; SRL: the step reward and exact-step rate of its greedy "
        "next step given the expert's previous steps; RLVR: avg@k, success sampled at its training temperature; "
        "on-policy SRL: the similarity of its steps to the oracle's on the states it reaches itself), against the "
        "base on the same test problems: the difference of the means with a 95% interval, the paired bootstrap of "
        "the contrasts where the measure has per-problem scores (greedy and agent success, agent step sim., solution "
        "loss; per step instance for step reward and exact step), else Student t over the seeds' differences "
        "(avg@k). improved: the interval lies above zero (below zero for the loss).",
        "",
        "| task | model | algorithm | objective | difficulty | seeds | value | base | difference (95% CI) | "
        "improved |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        interval = _change(r)
        title = M.METRICS.get(r["metric"], r["metric"]).format(k="k")
        cells = [_short(r["task"]), r["model"], r["algo"], title, f"d{r['difficulty']}", str(r["seeds"]),
                 f"{r['mean']:.3f}", f"{r['base']:.3f}", interval, "yes" if r["improved"] else "no"]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def training_markdown(rows: list[dict[str, Any]]) -> list[str]:
    """The "training signal" section: does each algorithm move what it optimises, as it trains?"""
    if not rows:
        return []
    lines = [
        "",
        "## Does each algorithm move its training signal as it trains?",
        "",
        "What each trained row optimised, logged by its trainer on its own training batches (GRPO: the batch mean "
        "of each reward function over the groups it sampled, dynamic sampling's refills included; SFT: the "
        "training loss, lower is better): the mean over its first and over its last 3 logged updates, and the "
        "per-seed change with a Student t 95% interval over the seeds. improved: the interval lies above zero "
        "(below zero for the loss). These are training problems, not held out: the table above is the held-out "
        "side.",
        "",
        "| task | model | algorithm | signal | seeds | updates | first 3 | last 3 | change (95% CI) | improved |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        interval = _change(r)
        name, _, level = r["signal"].partition(" ")  # "NAME dLEVEL": a curriculum's level
        signal = " ".join(filter(None, (name.removeprefix(REWARD_SIGNAL_PREFIX).removesuffix("/mean"), level)))
        cells = [_short(r["task"]), r["model"], r["algo"], signal, str(r["seeds"]), f"{r['updates']:.0f}",
                 f"{r['first']:.3f}", f"{r['last']:.3f}", interval, "yes" if r["improved"] else "no"]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _regimes(results: dict[str, Any]) -> list[dict[str, Any]]:
    """``results["regimes"]``, or computed from the cells and bases of a results.json saved before it was stored."""
    if "regimes" in results:
        return results["regimes"]
    return regime_table(results.get("cells") or [], results.get("bases") or [], results["config"]["train_difficulty"])


def _boundary(results: dict[str, Any]) -> list[dict[str, Any]]:
    if "boundary" in results:
        return results["boundary"]
    return boundary_table(results.get("cells") or [], results["config"]["train_difficulty"])


def _marked(row: dict[str, Any]) -> str:
    """`_change` of a tested difference, with `` *`` when it is significant."""
    return _change(row) + (" *" if row.get("significant") else "")


def regime_markdown(rows: list[dict[str, Any]]) -> list[str]:
    """The regime table: each algorithm's gain over its start model, a column per start model by its pass@8."""
    if not any(row.get("pass@8") is not None for row in rows):
        return []
    lines = ["", "## Gain against the start model's competence (the regime axis)", "",
             "Each start model's competence is its pass@1 and pass@8 at the training level (unbiased estimate from "
             "sampled whole solutions at the sampling temperature, on the validation problems). A cell is the gain "
             "of the algorithm's test score over that start model's, mean over seeds, with its 95% paired bootstrap "
             "interval (seeds and test problems); `*`: significant after Holm's correction over the algorithms of "
             "that start model and metric."]  # fmt: skip
    for metric in dict.fromkeys(row["metric"] for row in rows):
        chosen = [row for row in rows if row["metric"] == metric]
        models = sorted(dict.fromkeys((r["model"], r["task"]) for r in chosen),
                        key=lambda mt: next(r["pass@8"] or 0.0 for r in chosen if (r["model"], r["task"]) == mt))
        header = ["algorithm"] + [
            f"{model} (pass@1 {_p2(r['pass@1'])}, pass@8 {_p2(r['pass@8'])}; base {r['base']:.2f})"
            for model, task in models
            for r in [next(r for r in chosen if (r["model"], r["task"]) == (model, task))]
        ]
        lines += ["", f"{M.METRICS.get(metric, metric)} (test, d{chosen[0]['difficulty']}), gain over the start model:",
                  "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]  # fmt: skip
        for algo in dict.fromkeys(r["algo"] for r in chosen):
            cells = [algo]
            for model, task in models:
                found = [r for r in chosen if (r["model"], r["task"], r["algo"]) == (model, task, algo)]
                cells.append(_marked(found[0] | {"diff": found[0]["gain"]}) if found else "n/a")
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def _p2(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def boundary_markdown(rows: list[dict[str, Any]]) -> list[str]:
    """The reasoning boundary: pass@k at a few k for every row, and the k = 1 and k = n tests against the base."""
    if not rows:
        return []
    n = max(row["samples"] for row in rows)
    ks = [k for k in (1, 2, 4, 8, 16, 32, 64, n) if k <= n]
    ks = list(dict.fromkeys(ks))
    lines = ["", "## The reasoning boundary: pass@k", "",
             f"pass@k (unbiased, from {n} sampled whole solutions per test problem at the sampling temperature), mean "
             "and 95% bootstrap interval over seeds and problems; the last two columns: the difference to the base "
             f"at k = 1 and k = {n}, paired by problem, `*`: significant after Holm's correction over the algorithms. "
             "Does training only sharpen what the start model could already sample (pass@1 up, pass@n unchanged or "
             "lower) or widen it (pass@n up)?"]  # fmt: skip
    for model, task in dict.fromkeys((r["model"], r["task"]) for r in rows):
        chosen = [r for r in rows if (r["model"], r["task"]) == (model, task)]
        header = ["algorithm", "seeds", "problems", *[f"pass@{k}" for k in ks], "- base @1", f"- base @{n}"]
        lines += ["", f"{_short(task)}, start model {model}:", "", "| " + " | ".join(header) + " |",
                  "|" + "---|" * len(header)]  # fmt: skip
        for row in chosen:
            points = {p["k"]: p for p in row["curve"]}
            cells = [row["algo"], str(len(row["seeds"])), str(row["problems"])]
            cells += [f"{points[k]['mean']:.2f} [{points[k]['low']:.2f}, {points[k]['high']:.2f}]" if k in points
                      else "n/a" for k in ks]  # fmt: skip
            for k in ("1", str(row["samples"])):
                test = row["vs_base"].get(k)
                cells.append("" if test is None else _marked(test))
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def _count(stat: dict[str, Any] | None) -> str:
    if not stat or stat.get("mean") is None:
        return "n/a"
    value = stat["mean"]
    return f"{value / 1e6:.2f}M" if value >= 1e6 else (f"{value / 1e3:.1f}k" if value >= 1e4 else f"{value:.0f}")


def write_table(results: dict[str, Any], path: str | os.PathLike) -> None:
    """Write `table_markdown` to ``path`` atomically."""
    atomic_write_text(path, table_markdown(results))


def _curves(plt: Any, rows: list[dict[str, Any]], panels: list[tuple[str, str]], results: dict[str, Any], lm: bool,
            title: str, path: Path) -> Path:
    """The learning-curve figure (validation scores against the budget, one panel per metric); its path."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.8), squeeze=False)
    axes = axes[0]
    for row in rows:
        for ax, (key, _) in zip(axes, panels, strict=True):
            curve = [p for p in row["curve"] if _mean(p, key) is not None]
            if not curve:
                continue
            xs = [p["budget"] for p in curve]
            mean = [p[key]["mean"] for p in curve]
            half = [p[key]["ci95"] or 0.0 for p in curve]
            (line,) = ax.plot(xs, mean, marker="o", label=row["algo"])
            low = [m - h for m, h in zip(mean, half, strict=True)]
            high = [m + h for m, h in zip(mean, half, strict=True)]
            ax.fill_between(xs, low, high, color=line.get_color(), alpha=0.15)
    difficulty = results["config"]["train_difficulty"]
    for ax, (_, label) in zip(axes, panels, strict=True):
        ax.set_xlabel("updates" if lm else "env steps / expert labels")
        ax.set_ylabel(f"{label} (validation, d{difficulty})")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    saved = _save(fig, path)
    plt.close(fig)
    return saved


def _noise(plt: Any, rows: list[dict[str, Any]], results: dict[str, Any], title: str, path: Path) -> Path:
    """Outcome (and step similarity) against the expert's noise: a line (mean and 95% CI) per algorithm trained on
    expert trajectories, a flat band for those that never read one (RLVR, the base); training difficulty, test."""
    difficulty = str(results["config"]["train_difficulty"])
    noises = sorted(float(p) for p in results["config"]["expert_noise"])
    by_algorithm: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_algorithm.setdefault(row.get("algorithm", row["algo"]), []).append(row)
    metrics = [(M.GREEDY_SUCCESS, "greedy success"), (M.AGENT_SUCCESS, "agent success"),
               (M.STEP_SIMILARITY, "step similarity (mechanism)")]  # fmt: skip
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.8 * len(metrics), 3.8), squeeze=False)
    for ax, (key, label) in zip(axes[0], metrics, strict=True):
        for algorithm, members in by_algorithm.items():
            points = sorted((r.get("expert_noise", 0.0), (r["eval"].get(difficulty) or {}).get(key)) for r in members)
            points = [(p, stat) for p, stat in points if stat and stat.get("mean") is not None]
            if not points:
                continue
            if len(points) == 1 and len(noises) > 1:  # never reads the expert: the same at every noise
                mean, half = points[0][1]["mean"], points[0][1].get("ci95") or 0.0
                flat = f"{algorithm} (no expert)"
                (line,) = ax.plot([noises[0], noises[-1]], [mean, mean], linestyle="--", label=flat)
                ax.fill_between([noises[0], noises[-1]], mean - half, mean + half, color=line.get_color(), alpha=0.1)
                continue
            xs = [p for p, _ in points]
            means = [stat["mean"] for _, stat in points]
            errors = [stat.get("ci95") or 0.0 for _, stat in points]
            ax.errorbar(xs, means, yerr=errors, marker="o", capsize=3, label=algorithm)
        ax.set_xlabel("expert noise p (rate of legal wrong steps)")
        ax.set_ylabel(f"{label} (test, d{difficulty})")
        if key != M.STEP_SIMILARITY:  # (similarities sit near 1: their own scale)
            ax.set_ylim(bottom=-0.02)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(title.replace("mean and 95% CI over seeds", "a flawed expert; mean and 95% CI"), fontsize=10)
    fig.tight_layout()
    saved = _save(fig, path)
    plt.close(fig)
    return saved


def write_plots(results: dict[str, Any], out: str | os.PathLike) -> list[str]:
    """Draw ``curves-<model>-<task>.png`` and ``bars-<model>-<task>.png`` into ``out``; return their file names.

    Returns an empty list (and says so on stderr) when matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plots need matplotlib: pip install matplotlib (table.md and results.json are written)", file=sys.stderr)
        return []
    out = Path(out)
    written = []
    for (model, task), rows in _groups(results).items():
        name = f"{slug(model)}-{slug(task)}"
        lm = model != "mlp"
        title = f"{_short(task)} ({model if lm else 'discrete agents'}), mean and 95% CI over seeds"
        # ---- learning curves
        panels = [(k, t) for k, t in CURVES if any(_mean(p, k) is not None for r in rows for p in r["curve"])]
        if panels and results["config"].get("curve_points", 1) > 1:  # 1: one scored point per run, no curve
            written.append(_curves(plt, rows, panels, results, lm, title, out / f"curves-{name}.png"))
        if lm and len(results["config"].get("expert_noise", [0.0])) > 1:  # the flawed-expert axis
            written.append(_noise(plt, rows, results, title, out / f"noise-{name}.png"))
        # ---- bars: greedy success at each difficulty
        difficulties = sorted({d for r in rows for d in r["eval"]}, key=int)
        fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(rows) * max(1, len(difficulties)) / 2, 3.6))
        width = 0.8 / max(1, len(difficulties))
        for j, d in enumerate(difficulties):
            stats = [r["eval"].get(d, {}).get("greedy_success") or {} for r in rows]
            means = [s.get("mean") or 0.0 for s in stats]
            errors = [s.get("ci95") or 0.0 for s in stats]
            xs = [i + (j - (len(difficulties) - 1) / 2) * width for i in range(len(rows))]
            ax.bar(xs, means, width, yerr=errors, capsize=3, label=f"d{d}")
        ax.set_xticks(range(len(rows)), [r["algo"] for r in rows])
        ax.set_ylabel("greedy success (test)")
        ax.set_ylim(0, 1)
        ax.legend(fontsize=8)
        ax.set_title(title, fontsize=9)
        fig.tight_layout()
        written.append(_save(fig, out / f"bars-{name}.png"))
        plt.close(fig)
    regimes = [row for row in _regimes(results) if row.get("pass@8") is not None]
    if len({(r["model"], r["task"]) for r in regimes}) > 1:  # a curve needs two start models or more
        written.append(_regime_figure(plt, regimes, out / "regimes.png"))
    boundary = _boundary(results)
    for model, task in dict.fromkeys((r["model"], r["task"]) for r in boundary):
        rows = [r for r in boundary if (r["model"], r["task"]) == (model, task)]
        title = f"{_short(task)}, start model {model}: pass@k, mean and 95% CI"
        written.append(_boundary_figure(plt, rows, title, out / f"pass-at-k-{slug(model)}-{slug(task)}.png"))
    return [p.name for p in written]


def _regime_figure(plt: Any, rows: list[dict[str, Any]], path: Path) -> Path:
    """Gain over the start model against the start model's pass@8, one line per algorithm, a panel per metric."""
    metrics = list(dict.fromkeys(row["metric"] for row in rows))
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 4.0), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        chosen = [r for r in rows if r["metric"] == metric and r.get("pass@8") is not None]
        algos = list(dict.fromkeys(r["algo"] for r in chosen))
        for i, algo in enumerate(algos):
            points = sorted((r["pass@8"], r["gain"], r["low"], r["high"], r.get("significant")) for r in chosen
                            if r["algo"] == algo)  # fmt: skip
            dodge = (i - (len(algos) - 1) / 2) * 0.01  # side by side at each start model, so the intervals show
            points = [(x + dodge, *rest) for x, *rest in points]
            xs = [p[0] for p in points]
            ys = [p[1] for p in points]
            errors = [[p[1] - p[2] for p in points], [p[3] - p[1] for p in points]]
            line = ax.errorbar(xs, ys, yerr=errors, marker="o", capsize=3, label=algo)
            color = line[0].get_color()
            starred = [(x, y) for x, y, _, _, sig in points if sig]
            if starred:
                ax.scatter(*zip(*starred, strict=True), s=90, facecolors="none", edgecolors=color)
        ax.axhline(0.0, color="black", linewidth=0.8)
        difficulty = chosen[0]["difficulty"] if chosen else "?"
        ax.set_xlabel(f"start model's pass@8 (validation, d{difficulty}); algorithms set side by side")
        ax.set_ylabel(f"gain in {M.METRICS.get(metric, metric)} (test, d{difficulty})")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle("Gain over the start model against its competence; mean and 95% CI; circled: significant (Holm)",
                 fontsize=10)  # fmt: skip
    fig.tight_layout()
    saved = _save(fig, path)
    plt.close(fig)
    return saved


def _boundary_figure(plt: Any, rows: list[dict[str, Any]], title: str, path: Path) -> Path:
    """pass@k against k (log scale), one line and 95% band per algorithm."""
    fig, ax = plt.subplots(figsize=(5.6, 4.2))
    for row in rows:
        ks = [p["k"] for p in row["curve"]]
        (line,) = ax.plot(ks, [p["mean"] for p in row["curve"]], label=row["algo"])
        ax.fill_between(ks, [p["low"] for p in row["curve"]], [p["high"] for p in row["curve"]],
                        color=line.get_color(), alpha=0.12)  # fmt: skip
    ax.set_xscale("log", base=2)
    ax.set_xlabel("k (samples per problem)")
    ax.set_ylabel("pass@k (test)")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    saved = _save(fig, path)
    plt.close(fig)
    return saved


def _mean(point: dict[str, Any], key: str) -> float | None:
    return (point.get(key) or {}).get("mean")


def _save(fig: Any, path: Path) -> Path:
    """``fig.savefig`` to a temp file beside ``path``, then rename it into place."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".png")
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=110)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def main(argv: list[str] | None = None) -> int:
    """Redraw ``table.md`` and the figures beside a saved ``results.json``."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m srl_gym.report OUT/results.json", file=sys.stderr)
        return 2
    path = Path(argv[0])
    results = json.loads(path.read_text(encoding="utf-8"))
    if "contrasts" not in results:  # saved before the contrasts were: compute them from the cells
        results["contrasts"] = contrast_table(results.get("cells") or [])
    results["figures"] = write_plots(results, path.parent)
    write_table(results, path.parent / "table.md")
    print((path.parent / "table.md").read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
