"""Where SRL's learning signal is: GRPO groups of the base's sampled steps, split by the base's greedy step.

SRL (GRPO with the step-similarity reward) learns only from groups whose rewards differ (dynamic
sampling drops the rest). This measures, on the training problems of the standard preset (train
split, seeds 0..PROBLEMS-1, LongMultiplication level 1, the shipped base ``tiny-longmul``), for each
expert step instance: the base's greedy step (right = the expert's step, exactly), and a GRPO group
of ``--group`` steps sampled at temperature 1 as the trainer samples them, scored with SRL's reward
(`srl_gym.rewards.srl_reward`, the text after ``</think>`` against the expert's step). Split by
whether the greedy step is right, it reports how many groups have a reward spread (the only ones
GRPO learns from), how many hold an exact expert step, and, where greedy is wrong, how many samples
repeat the greedy step's mistake.

Run (one torch thread; about 3 minutes on a CPU core)::

    python benchmarks/srl_signal.py --out docs/results/srl-signal

It writes ``OUT/signal.json`` (every number, and per instance) and ``OUT/signal.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

TASK = "srl/LongMultiplication-v0"
BASE = Path(__file__).resolve().parents[1] / "agents" / "bases" / "tiny-longmul"


def measure(problems: int, instances: int, group: int, seed: int) -> dict:
    """The per-instance greedy and sampled scores, and their summary (see the module docstring)."""
    import torch

    from srl_gym.agents.lm_agent import LMAgent
    from srl_gym.agents.lm_common import token_budget
    from srl_gym.agents.models import load_model
    from srl_gym.episodes import step_instances
    from srl_gym.prompts import step_target
    from srl_gym.rewards import split_think, srl_reward

    model, tokenizer = load_model(str(BASE), "cpu")
    every = step_instances(TASK, range(problems), split="train", difficulty=1)
    picks = np.unique(np.linspace(0, len(every) - 1, min(instances, len(every))).round().astype(int))
    chosen = [every[i] for i in picks]
    budget = token_budget(tokenizer, [step_target(i.expert_step) for i in chosen], 256)
    prompts = [i.observation for i in chosen]
    greedy = LMAgent(model, tokenizer, max_new_tokens=budget, batch_size=64).complete(prompts, mode="step")
    torch.manual_seed(seed)
    sampler = LMAgent(model, tokenizer, temperature=1.0, max_new_tokens=budget, batch_size=64)
    samples = sampler.complete([p for p in prompts for _ in range(group)], mode="step")
    rows = []
    for k, inst in enumerate(chosen):
        mine = samples[k * group : (k + 1) * group]
        steps = [split_think(c)[1] for c in mine]
        rewards = [srl_reward(c, inst.expert_step, require_think=True) for c in mine]
        greedy_step = split_think(greedy[k])[1]
        rows.append({"seed": inst.seed, "index": inst.index, "greedy_right": greedy_step == inst.expert_step,
                     "spread": float(np.std(rewards)) > 1e-6, "exact": sum(s == inst.expert_step for s in steps),
                     "as_greedy": sum(s == greedy_step for s in steps),
                     "mean_reward": float(np.mean(rewards))})  # fmt: skip
    return {"rows": rows, "summary": summarize(rows, group)}


def summarize(rows: list[dict], group: int) -> dict:
    """The counts by greedy right / wrong."""
    out = {}
    for name, part in (("greedy right", [r for r in rows if r["greedy_right"]]),
                       ("greedy wrong", [r for r in rows if not r["greedy_right"]])):  # fmt: skip
        n = len(part)
        out[name] = {
            "instances": n,
            "groups_with_spread": sum(r["spread"] for r in part),
            "groups_with_an_exact_step": sum(r["exact"] > 0 for r in part),
            "exact_samples": sum(r["exact"] for r in part) / max(n * group, 1),
            "samples_as_greedy": sum(r["as_greedy"] for r in part) / max(n * group, 1),
            "mean_reward": float(np.mean([r["mean_reward"] for r in part])) if part else None,
        }
    return out


def report(result: dict, command_line: str) -> str:
    s, group = result["summary"], result["group"]
    lines = ["# Where SRL's signal is: the base's sampled GRPO groups", "",
             f"`{command_line}`: {result['instances']} step instances of the standard preset's training problems "
             f"(LongMultiplication level 1, train seeds 0..{result['problems'] - 1}, evenly spread), base "
             f"tiny-longmul; each with its greedy step and a group of {group} steps sampled at temperature 1, "
             f"scored with SRL's reward. {result['seconds']:.0f} s.", "",
             "| greedy step | instances | groups with a reward spread (GRPO learns from) | groups holding an exact "
             "step | samples exact | samples equal to the greedy step | mean reward |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for name, v in s.items():
        n = max(v["instances"], 1)
        reward = "n/a" if v["mean_reward"] is None else f"{v['mean_reward']:.3f}"
        lines.append(f"| {name} | {v['instances']} | {v['groups_with_spread']} ({v['groups_with_spread'] / n:.0%}) | "
                     f"{v['groups_with_an_exact_step']} ({v['groups_with_an_exact_step'] / n:.0%}) | "
                     f"{v['exact_samples']:.0%} | {v['samples_as_greedy']:.0%} | {reward} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="docs/results/srl-signal", help="output folder")
    parser.add_argument("--problems", type=int, default=1000, help="training problems (train seeds 0..N-1)")
    parser.add_argument("--instances", type=int, default=600, help="step instances, evenly spread over them")
    parser.add_argument("--group", type=int, default=8, help="samples per instance (the comparison's group size)")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed")
    args = parser.parse_args(argv)
    for name in ("problems", "instances", "group"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        parser.error(f"--out {out} is a file; give a folder")
    tick = time.perf_counter()
    result = measure(args.problems, args.instances, args.group, args.seed)
    result |= {"problems": args.problems, "instances": len(result["rows"]), "group": args.group,
               "seconds": round(time.perf_counter() - tick, 1)}  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    from srl_gym.runs import atomic_write_text, write_json_atomic

    write_json_atomic(out / "signal.json", result)
    text = report(result, f"python benchmarks/srl_signal.py --out {args.out}")
    atomic_write_text(out / "signal.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
