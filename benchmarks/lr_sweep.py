"""Choose a preset's learning rates on VALIDATION problems (never the test split).

The comparison's learning rates for a model trained from scratch (`srl_gym.compare.LEARNING_RATES`:
SFT 5e-4, SRL and RLVR 1e-4) were set by hand. This sweep chooses them for the ``standard`` preset
at its real budget (shipped base ``tiny-longmul``, LongMultiplication level 1, 1,000 training
problems, 20 updates) from five to six values each, spanning 32-300x: one comparison per column of
`GRID`, with ``base, sft, srl, rlvr`` and seed 0, each a folder ``OUT/lr-I`` made by
``srl-gym compare`` (so a rerun finishes only what is missing).

The rule, fixed before the sweep ran:

- A run's score is its FINAL checkpoint's validation score, the comparison's own selection score
  (`srl_gym.compare.selection_score`: the mean of whole-solution greedy success and agent success)
  on the standard preset's 100 validation problems (train-split seeds from 5000 whose problem is no
  training problem). The standard preset keeps each run's final (annealed) checkpoint, so that is
  what is scored; the run's middle checkpoint is also scored (``curve_points=2``) and reported as
  the run's curve, but takes no part in the choice (a cosine run's middle is not a shorter run).
- Per algorithm the value with the highest score wins; a tie keeps the hand-set default, and a tie
  between two other values the smaller.
- A choice at either end of its grid is flagged (``at_edge``): the grid may not hold the best value.
- SRL->RLVR and on-policy SRL take SRL's and RLVR's values; the negative control takes RLVR's.

The sweep's runs are also scored on 10 test problems (``--force-underpowered``: the comparison
insists on a test evaluation); those numbers play no part in the choice.

Run (``--jobs`` comparisons at once, one process and one torch thread each; measured on 2 CPU cores:
the first five columns took 20 minutes with ``--jobs 5``, before validation stopped scoring single
steps, and columns 6-7 2.5 minutes with ``--jobs 2``; ``wall_seconds`` in choice.json)::

    python benchmarks/lr_sweep.py --out docs/results/lr-sweep-1000

It writes ``OUT/choice.json`` and ``OUT/choice.md`` (every validation score and the choice);
``wall_seconds`` lists the wall time of each invocation (a rerun after widening the grid adds one).

The same rule for another preset and start model (``--preset``, ``--model``): a pretrained start
model (SmolLM2, a base of one) sweeps `PRETRAINED_GRID` around its own defaults instead. The GPU
command, before ``srl-gym compare --preset gpu-regimes`` (whose rates are those defaults until this
has run; pass the chosen ones with ``--set``)::

    python benchmarks/lr_sweep.py --preset gpu-regimes --model smollm2-longmul-200 --jobs 1 \
        --out docs/results/lr-sweep-gpu-regimes
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from srl_gym.compare import LEARNING_RATES, SELECTION_METRICS, selection_score
from srl_gym.runs import atomic_write_text, write_json_atomic

#: The values tried, column by column: comparison I runs every algorithm with its I-th value (``None``: not
#: in that comparison). Columns 6 on widened the grid downwards, one value at a time, while the choice lay at
#: its lower edge (the edge flag's purpose); each runs one algorithm, so two run side by side.
GRID = {
    "sft": (2.5e-4, 5e-4, 1e-3, 2e-3, 4e-3, 1.25e-4, None, 6.25e-5),
    "srl": (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, None, 3e-6, None),
    "rlvr": (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, None, None, None),
}
#: The values tried for a pretrained start model (not run yet: no GPU so far), 10-30x around its defaults.
PRETRAINED_GRID = {
    "sft": (5e-6, 1e-5, 2e-5, 5e-5, 1e-4),
    "srl": (3e-7, 1e-6, 3e-6, 1e-5, 3e-5),
    "rlvr": (3e-7, 1e-6, 3e-6, 1e-5, 3e-5),
}
#: The hand-set values a tie keeps: the comparison's own for a model trained from scratch.
DEFAULTS = {algo: LEARNING_RATES["from_scratch"][algo] for algo in GRID}


def columns(grid: dict) -> range:
    """The comparisons of a sweep over ``grid``, one per column."""
    return range(len(next(iter(grid.values()))))


#: The comparisons of the standard sweep, one per column of `GRID`.
COLUMNS = columns(GRID)
#: The preset's budget and problems, unchanged; only the test evaluation is cut to the bone (and no regime, no
#: boundary: neither takes part in the choice).
SETTINGS = ("eval_problems=10", "eval_samples=0", "curve_points=2", "regime_samples=0", "boundary_samples=0")


def grid_for(model: str | None) -> tuple[dict, dict]:
    """The grid and the defaults a tie keeps for start model ``model`` (None: the standard preset's)."""
    from srl_gym.agents.lm_eval import from_scratch

    if model is None or from_scratch(model):
        return GRID, DEFAULTS
    return PRETRAINED_GRID, {algo: LEARNING_RATES["pretrained"][algo] for algo in PRETRAINED_GRID}


def command(out: Path, column: int, grid: dict = GRID, preset: str = "standard", model: str | None = None
            ) -> list[str]:  # fmt: skip
    """The ``srl-gym compare`` command of column ``column`` of ``grid``."""
    algos = [algo for algo, values in grid.items() if values[column] is not None]
    settings = [f"{algo}_learning_rate={grid[algo][column]:g}" for algo in algos] + list(SETTINGS)
    return [sys.executable, "-m", "srl_gym", "compare", "--preset", preset, "--algos", ",".join(["base", *algos]),
            "--seeds", "1", "--workers", "1", "--force-underpowered", *(["--model", model] if model else []),
            *(x for s in settings for x in ("--set", s)), "--out", str(out / f"lr-{column}"),
            "--no-progress"]  # fmt: skip


def final_point(cell: dict) -> dict:
    """The validation point of the run's final checkpoint (the last of its curve)."""
    final = max(cell["curve"], key=lambda p: p["budget"])
    if final["budget"] != cell["budget"]["updates"] or final["budget"] == 0:
        raise ValueError(f"{cell['algo']}: no validation point at its final update {cell['budget']['updates']}")
    return final


def choose(out: Path, grid: dict = GRID, defaults: dict = DEFAULTS) -> dict:
    """Every run's validation scores (final, and its curve), and the chosen value per algorithm."""
    scores: dict[str, dict[str, float]] = {algo: {} for algo in grid}
    curves: dict[str, dict[str, list]] = {algo: {} for algo in grid}
    base, setting = None, None
    for column in columns(grid):
        results = json.loads((out / f"lr-{column}" / "results.json").read_text(encoding="utf-8"))
        config = results["config"]
        setting = setting or (f"seed 0, {', '.join(config['models'])}, {', '.join(config['tasks'])} level "
                              f"{config['train_difficulty']}, {config['train_problems']:,} training problems, "
                              f"{config['updates']} updates, {config['validation_problems']} validation problems")
        for cell in results["cells"]:
            if cell["algo"] in grid and grid[cell["algo"]][column] is not None:
                value = f"{grid[cell['algo']][column]:g}"
                scores[cell["algo"]][value] = selection_score(final_point(cell))
                curves[cell["algo"]][value] = [
                    {"budget": p["budget"], **{m: p.get(m) for m in SELECTION_METRICS}} for p in cell["curve"]
                ]
                base = base or {m: cell["curve"][0].get(m) for m in SELECTION_METRICS} | {
                    "score": selection_score(cell["curve"][0])}
    chosen, at_edge = {}, {}
    for algo, by_value in scores.items():
        best = max(round(s, 9) for s in by_value.values())  # (0.00 + 0.06) / 2 and (0.01 + 0.05) / 2 tie
        winners = [v for v, s in by_value.items() if round(s, 9) == best]
        chosen[algo] = defaults[algo] if f"{defaults[algo]:g}" in winners else min(float(w) for w in winners)
        tried = [v for v in grid[algo] if v is not None]
        at_edge[algo] = chosen[algo] in (min(tried), max(tried))
    return {"grid": grid, "defaults": defaults, "setting": setting, "base": base, "validation_scores": scores,
            "curves": curves, "chosen": chosen, "at_edge": at_edge}  # fmt: skip


def report(result: dict, command_line: str) -> str:
    """choice.md: every score, the choice and its flags."""
    base = result["base"] or {}
    width = max(len(by_value) for by_value in result["validation_scores"].values())
    lines = ["# Learning rates, chosen on validation", "",
             "Validation score of each run's final checkpoint (the mean of greedy and agent success on the "
             f"preset's validation problems), {result['setting']}; in brackets the same score at the run's middle "
             "checkpoint "
             f"(not used). The base scores {base.get('score', float('nan')):.3f} (greedy "
             f"{base.get('greedy_success', float('nan')):.2f}, agent {base.get('agent_success', float('nan')):.2f}). "
             f"Command: `{command_line}`.", "",
             "| algorithm | " + " | ".join(f"value {c + 1}" for c in range(width)) + " | chosen |",
             "|---|" + "---|" * (width + 1)]  # fmt: skip
    for algo, by_value in result["validation_scores"].items():
        cells = []
        for value, score in sorted(by_value.items(), key=lambda item: float(item[0])):
            middle = [p for p in result["curves"][algo][value] if 0 < p["budget"]][:-1]
            mid = f" ({selection_score(middle[0]):.3f})" if middle else ""
            cells.append(f"{value}: **{score:.3f}**{mid}")
        flag = " (at the grid's edge)" if result["at_edge"][algo] else ""
        cells += [""] * (width - len(cells))
        lines.append(f"| {algo} | " + " | ".join(cells) + f" | {result['chosen'][algo]:g}{flag} |")
    edges = [a for a, e in result["at_edge"].items() if e]
    if edges:
        lines += ["", f"Flagged: the choice of {', '.join(edges)} lies at the end of its grid; a wider grid may "
                  "hold a better value."]  # fmt: skip
    for algo in edges:  # the one case where widening cannot help: the best is not to move the model
        score = result["validation_scores"][algo][f"{result['chosen'][algo]:g}"]
        smallest = min(float(v) for v in result["validation_scores"][algo])
        if result["chosen"][algo] == smallest and round(score, 9) <= round(base.get("score", -1.0), 9):
            lines += ["", f"{algo}: its choice scores no better than the base ({score:.3f} against "
                      f"{base['score']:.3f}) and every larger value lower: no value tried improves on not "
                      "training, and a smaller one can only move the model less."]  # fmt: skip
    return "\n".join(lines) + "\n"


def argv_shown(args: argparse.Namespace) -> list[str]:
    """The options of ``args`` that differ from the standard sweep's, as given on the command line."""
    return [*(["--preset", args.preset] if args.preset != "standard" else []),
            *(["--model", args.model] if args.model else [])]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="docs/results/lr-sweep-1000", help="output folder")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="comparisons at once (default: cores)")
    parser.add_argument("--preset", default="standard", help="the preset whose budget and problems are swept")
    parser.add_argument("--model", help="one start model (default: the preset's; a pretrained one sweeps "
                        "PRETRAINED_GRID)")  # fmt: skip
    args = parser.parse_args(argv)
    from srl_gym.compare import PRESETS

    if args.preset not in PRESETS:
        parser.error(f"--preset {args.preset!r} is not one of {', '.join(PRESETS)}")
    models = PRESETS[args.preset][1].get("models") or (None,)
    if args.model is None and len(models) > 1:  # one choice per start model: the cells of two would mix
        parser.error(f"the {args.preset} preset has {len(models)} start models: sweep one with --model")
    model = args.model or models[0]
    grid, defaults = grid_for(model)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        parser.error(f"--out {out} is a file; give a folder")
    if args.jobs < 1:
        parser.error(f"--jobs must be >= 1, got {args.jobs}")
    out.mkdir(parents=True, exist_ok=True)
    tick = time.perf_counter()
    waiting, running, failed = list(columns(grid)), [], 0
    while waiting or running:
        while waiting and len(running) < args.jobs:
            running.append(subprocess.Popen(command(out, waiting.pop(0), grid, args.preset, args.model)))
        time.sleep(1)
        for process in [p for p in running if p.poll() is not None]:
            running.remove(process)
            failed += process.returncode != 0
    if failed:  # every one waited for
        print(f"{failed} comparison(s) of the sweep failed; rerun to finish them", file=sys.stderr)
        return 1
    saved = out / "choice.json"
    earlier = json.loads(saved.read_text(encoding="utf-8")).get("wall_seconds", []) if saved.exists() else []
    earlier = earlier if isinstance(earlier, list) else [earlier]  # a rerun that widened the grid adds its own
    result = choose(out, grid, defaults) | {"wall_seconds": [*earlier, round(time.perf_counter() - tick, 1)]}
    write_json_atomic(out / "choice.json", result)
    line = " ".join(["python benchmarks/lr_sweep.py", *argv_shown(args), "--out", args.out])
    text = report(result, line)
    atomic_write_text(out / "choice.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
