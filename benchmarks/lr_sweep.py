"""Choose the standard preset's learning rates on VALIDATION problems (never the test split).

The comparison's learning rates for a model trained from scratch (`srl_gym.compare.LEARNING_RATES`:
SFT 5e-4, SRL and RLVR 1e-4) were set by hand. This sweep chooses them for the ``standard`` preset
(shipped base ``tiny-longmul``, LongMultiplication level 1, 20 updates) from three values each:
one comparison per column of `GRID`, with ``base, sft, srl, rlvr`` and seed 0, each a folder
``OUT/lr-I`` made by ``srl-gym compare`` (so a rerun finishes only what is missing).

How a value is chosen: each run's two checkpoints (its middle and its end) are scored on the
standard preset's 100 validation problems (train-split seeds 5000-5099, never trained on) by the
comparison's own selection score, the mean of whole-solution and agent success
(`srl_gym.compare.selection_score`), and the run's score is that of its better checkpoint, the one
the comparison would keep. Per algorithm the value with the highest score wins; a tie keeps the
hand-set default, and a tie between two other values the smaller. SRL->RLVR and on-policy SRL
take SRL's and RLVR's values. The sweep's runs are scored on 10 test problems only
(``--force-underpowered``: the comparison insists on a test evaluation); those numbers play no
part in the choice.

Run (three comparisons at once, one process each; about 14 minutes on 2 CPU cores)::

    python benchmarks/lr_sweep.py --out docs/results/lr-sweep

It writes ``OUT/choice.json`` and ``OUT/choice.md`` (every validation score and the choice).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from srl_gym.compare import LEARNING_RATES
from srl_gym.runs import write_json_atomic

#: The values tried, column by column: comparison I runs every algorithm with its I-th value.
GRID = {"sft": (1e-4, 5e-4, 2e-3), "srl": (3e-5, 1e-4, 3e-4), "rlvr": (3e-5, 1e-4, 3e-4)}
#: The hand-set values a tie keeps: the comparison's own for a model trained from scratch.
DEFAULTS = {algo: LEARNING_RATES["from_scratch"][algo] for algo in GRID}
#: The comparisons of the sweep, one per column of `GRID`.
COLUMNS = range(len(next(iter(GRID.values()))))


def command(out: Path, column: int) -> list[str]:
    """The ``srl-gym compare`` command of column ``column`` of `GRID`."""
    settings = [f"{algo}_learning_rate={values[column]:g}" for algo, values in GRID.items()]
    return [sys.executable, "-m", "srl_gym", "compare", "--preset", "standard", "--algos", "base,sft,srl,rlvr",
            "--seeds", "1", "--workers", "1", "--force-underpowered", "--set", "eval_problems=10",
            *(x for s in settings for x in ("--set", s)), "--out", str(out / f"lr-{column}"),
            "--no-progress"]  # fmt: skip


def choose(out: Path) -> dict:
    """Every run's validation score, and the chosen value per algorithm."""
    scores: dict[str, dict[str, float]] = {algo: {} for algo in GRID}
    for column in COLUMNS:
        results = json.loads((out / f"lr-{column}" / "results.json").read_text(encoding="utf-8"))
        for cell in results["cells"]:
            if cell["algo"] in GRID:
                value = f"{GRID[cell['algo']][column]:g}"
                scores[cell["algo"]][value] = cell["selected"]["validation_score"]
    chosen = {}
    for algo, by_value in scores.items():
        best = max(round(s, 9) for s in by_value.values())  # (0.00 + 0.06) / 2 and (0.01 + 0.05) / 2 tie
        winners = [v for v, s in by_value.items() if round(s, 9) == best]
        chosen[algo] = DEFAULTS[algo] if f"{DEFAULTS[algo]:g}" in winners else float(winners[0])
    return {"grid": GRID, "defaults": DEFAULTS, "validation_scores": scores, "chosen": chosen}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="docs/results/lr-sweep", help="output folder")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        parser.error(f"--out {out} is a file; give a folder")
    out.mkdir(parents=True, exist_ok=True)
    processes = [subprocess.Popen(command(out, c)) for c in COLUMNS]
    if any([p.wait() for p in processes]):  # every one waited for
        print("a comparison of the sweep failed; rerun to finish it", file=sys.stderr)
        return 1
    result = choose(out)
    write_json_atomic(out / "choice.json", result)
    lines = ["# Learning rates of the standard preset, chosen on validation", "",
             "Validation score (mean of greedy and agent success on 100 validation problems, the better of the "
             "run's two checkpoints), seed 0, tiny-longmul, LongMultiplication level 1, 20 updates. "
             "Command: `python benchmarks/lr_sweep.py --out docs/results/lr-sweep`.", "",
             "| algorithm | " + " | ".join(f"value {c + 1}" for c in COLUMNS) + " | chosen |",
             "|---|" + "---|" * (len(COLUMNS) + 1)]  # fmt: skip
    for algo, by_value in result["validation_scores"].items():
        cells = [f"{v}: {s:.3f}" for v, s in by_value.items()]
        lines.append(f"| {algo} | " + " | ".join(cells) + f" | {result['chosen'][algo]:g} |")
    (out / "choice.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
