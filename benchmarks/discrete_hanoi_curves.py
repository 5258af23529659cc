"""Learning curves of the README's MaskablePPO example on 3-disk Hanoi: SRL reward vs outcome reward.

Every run is exactly the README's "Discrete agents" example, with MaskablePPO's default
hyper-parameters and one env (so one update per 2,048 env steps)::

    env = gym.make("srl/Hanoi-v0", interface="discrete", reward=REWARD)  # MaskablePPO reads env.action_masks()
    model = MaskablePPO("MlpPolicy", env, seed=SEED).learn(20_000)

plus a callback that, after every update, plays the greedy policy (the most likely legal move)
on the same 100 TEST-split problems that `srl_gym.evaluation.evaluate` uses (episode seeds 0-99)
and on 100 train-split problems, and measures on all 78 unsolved 3-disk states how often the
greedy move is the expert's. The callback reads the policy without drawing random numbers, so a
run is the same as the README's without it (`learn(20_000)` stops at 20,480 steps: 10 rollouts).

Run (one process, one torch thread; about 5 minutes on one CPU core)::

    python benchmarks/discrete_hanoi_curves.py --out docs/results/discrete-hanoi

It writes ``results.json`` (every per-seed, per-checkpoint number, and per-checkpoint means with
95% Student-t intervals over seeds), ``table.md`` and ``curves.png`` (with matplotlib).
``--observation legacy`` reruns it with the 0/1 one-hot observation Hanoi had before
(``Box(0, 1, (3n + 3,))``: each disk's peg, then the goal peg), for the before/after comparison;
its files get a ``-legacy-observation`` suffix.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import platform
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from sb3_contrib import MaskablePPO
from stable_baselines3.common.callbacks import BaseCallback

import srl_gym
from srl_gym.agents.sb3_common import SB3Agent, masked_logits
from srl_gym.envs.planning.hanoi import MOVES, Hanoi
from srl_gym.evaluation import evaluate

ENV_ID = "srl/Hanoi-v0"
TASK = Hanoi(difficulty=0)
#: Every unsolved 3-disk state (goal peg, peg of each disk).
STATES = [(g, p) for g in range(3) for p in itertools.product(range(3), repeat=3) if any(x != g for x in p)]
#: Two-sided 95% Student-t quantiles by degrees of freedom (1-30); larger samples use 1.96.
T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def legacy_encoding(state: tuple) -> np.ndarray:
    """The discrete observation Hanoi had before: a 0/1 one-hot peg for each disk, then the goal peg."""
    goal, pegs = state
    obs = np.zeros(3 * len(pegs) + 3, dtype=np.float32)
    obs[[3 * i + p for i, p in enumerate(pegs)]] = 1.0
    obs[3 * len(pegs) + goal] = 1.0
    return obs


class LegacyObservation(gym.ObservationWrapper):
    """Replaces the observation by `legacy_encoding` of the env's state."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        n = env.unwrapped.task.n_disks
        self.observation_space = gym.spaces.Box(0.0, 1.0, shape=(3 * n + 3,), dtype=np.float32)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return legacy_encoding(self.env.unwrapped.state)


def make_env(reward: str, split: str, observation: str) -> gym.Env:
    env = gym.make(ENV_ID, interface="discrete", reward=reward, split=split)
    return LegacyObservation(env) if observation == "legacy" else env


def encode(state: tuple, observation: str) -> np.ndarray:
    return legacy_encoding(state) if observation == "legacy" else TASK.encode_discrete(state, [])


def greedy_success(model: Any, split: str, observation: str, episodes: int) -> float:
    """Share of ``episodes`` problems (episode seeds 0, 1, ...) the greedy masked policy solves."""
    agent, env, solved = SB3Agent(model, deterministic=True), make_env("srl", split, observation), 0
    for seed in range(episodes):
        obs, info = env.reset(seed=seed)
        while True:
            obs, _, terminated, truncated, info = env.step(agent.act(obs, info))
            if terminated or truncated:
                solved += bool(info["solved"])
                break
    env.close()
    return solved / episodes


def expert_match(model: Any, observation: str) -> float:
    """Share of the 78 unsolved states where the greedy legal move is the expert's."""
    obs = np.stack([encode(s, observation) for s in STATES])
    masks = np.stack([TASK.legal_mask(s) for s in STATES])
    expert = np.array([MOVES.index(TASK.expert_action(s)) for s in STATES])
    with th.no_grad():
        greedy = masked_logits(model.policy, obs, masks).argmax(dim=1).numpy()
    return float((greedy == expert).mean())


class Curve(BaseCallback):
    """Measures the policy before training and after every update (at the start of each rollout)."""

    def __init__(self, observation: str, episodes: int) -> None:
        super().__init__()
        self.observation, self.episodes, self.points = observation, episodes, []

    def measure(self) -> None:
        steps = self.model.num_timesteps
        if self.points and self.points[-1]["env_steps"] == steps:
            return
        self.points.append(
            {
                "env_steps": steps,
                "test_success": greedy_success(self.model, "test", self.observation, self.episodes),
                "train_success": greedy_success(self.model, "train", self.observation, self.episodes),
                "expert_match": expert_match(self.model, self.observation),
            }
        )

    def _on_rollout_start(self) -> None:
        self.measure()

    def _on_step(self) -> bool:
        return True


def run(reward: str, seed: int, steps: int, observation: str, episodes: int) -> dict[str, Any]:
    started = time.perf_counter()
    env = make_env(reward, "train", observation)  # MaskablePPO reads env.action_masks() (the results were made with
    # sb3-contrib's ActionMasker around env.unwrapped.action_mask(): the same masks, so the same runs)
    curve = Curve(observation, episodes)
    model = MaskablePPO("MlpPolicy", env, seed=seed)  # the README example: default hyper-parameters
    model.learn(steps, callback=curve)
    curve.measure()  # the final model (after the last update)
    if observation == "current":  # the same number through the library's own evaluation
        check = evaluate(SB3Agent(model), ENV_ID, episodes=episodes, seed=0, interface="discrete", split="test")
        assert check.success_rate == curve.points[-1]["test_success"], (check.success_rate, curve.points[-1])
    return {"reward": reward, "seed": seed, "points": curve.points, "wall_s": time.perf_counter() - started}


def t_interval(values: list[float]) -> dict[str, float]:
    """Mean and 95% Student-t interval over seeds."""
    x = np.asarray(values, dtype=float)
    mean = float(x.mean())
    if len(x) < 2:
        return {"mean": mean, "ci95_low": float("nan"), "ci95_high": float("nan"), "n": len(x)}
    half = (T975[len(x) - 2] if len(x) - 1 <= len(T975) else 1.96) * float(x.std(ddof=1)) / math.sqrt(len(x))
    return {"mean": mean, "ci95_low": mean - half, "ci95_high": mean + half, "n": len(x)}


def summarize(runs: list[dict], rewards: list[str]) -> dict[str, Any]:
    """Per reward and checkpoint: mean and t-interval of each metric; paired srl - outcome differences."""
    out: dict[str, Any] = {}
    steps = [p["env_steps"] for p in runs[0]["points"]]
    for reward in rewards:
        mine = [r for r in runs if r["reward"] == reward]
        out[reward] = {
            metric: [t_interval([r["points"][i][metric] for r in mine]) | {"env_steps": s} for i, s in enumerate(steps)]
            for metric in ("test_success", "train_success", "expert_match")
        }
    if {"srl", "outcome"} <= set(rewards):
        by = {(r["reward"], r["seed"]): r for r in runs}
        seeds = sorted({r["seed"] for r in runs if ("srl", r["seed"]) in by and ("outcome", r["seed"]) in by})
        out["srl_minus_outcome"] = {
            "test_success": [
                t_interval(
                    [by["srl", s]["points"][i]["test_success"] - by["outcome", s]["points"][i]["test_success"]
                     for s in seeds]
                )
                | {"env_steps": st}
                for i, st in enumerate(steps)
            ]
        }
    return out


def markdown(results: dict) -> str:
    cfg, summary, runs = results["config"], results["summary"], results["runs"]
    steps = [p["env_steps"] for p in runs[0]["points"]]
    lines = [
        f"# MaskablePPO (default hyper-parameters) on 3-disk Hanoi: {' vs '.join(cfg['rewards'])}",
        "",
        f"The README example, {cfg['observation']} observation, {len(cfg['seeds'])} seeds "
        f"({', '.join(map(str, cfg['seeds']))}), greedy success on {cfg['episodes']} test-split problems; "
        "mean [95% Student-t interval over seeds]. Written by `benchmarks/discrete_hanoi_curves.py`.",
        "",
        "## Final test success per seed",
        "",
        "| reward | " + " | ".join(f"seed {s}" for s in cfg["seeds"]) + " | mean [95% CI] |",
        "|---" * (len(cfg["seeds"]) + 2) + "|",
    ]
    for reward in cfg["rewards"]:
        final = {r["seed"]: r["points"][-1]["test_success"] for r in runs if r["reward"] == reward}
        ci = summary[reward]["test_success"][-1]
        lines.append(
            f"| {reward} | " + " | ".join(f"{final[s]:.2f}" for s in cfg["seeds"])
            + f" | {ci['mean']:.3f} [{ci['ci95_low']:.3f}, {ci['ci95_high']:.3f}] |"
        )
    for metric, title in (
        ("test_success", "Test success by env steps"),
        ("train_success", "Train-split success by env steps"),
        ("expert_match", "Greedy move = expert's move, over all 78 states, by env steps"),
    ):
        lines += ["", f"## {title}", "", "| reward | " + " | ".join(str(s) for s in steps) + " |",
                  "|---" * (len(steps) + 1) + "|"]
        for reward in cfg["rewards"]:
            cells = [f"{c['mean']:.2f} [{c['ci95_low']:.2f}, {c['ci95_high']:.2f}]" for c in summary[reward][metric]]
            lines.append(f"| {reward} | " + " | ".join(cells) + " |")
    if "srl_minus_outcome" in summary:
        cells = [f"{c['mean']:+.2f} [{c['ci95_low']:+.2f}, {c['ci95_high']:+.2f}]"
                 for c in summary["srl_minus_outcome"]["test_success"]]
        lines += ["", "## Paired difference srl - outcome (same seed), test success", "",
                  "| env steps | " + " | ".join(str(s) for s in steps) + " |", "|---" * (len(steps) + 1) + "|",
                  "| srl - outcome | " + " | ".join(cells) + " |"]
    return "\n".join(lines) + "\n"


def plot(results: dict, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    cfg, summary = results["config"], results["summary"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharex=True)
    for ax, metric, title in ((axes[0], "test_success", "test success (greedy)"),
                              (axes[1], "expert_match", "greedy move = expert's (78 states)")):
        for reward in cfg["rewards"]:
            rows = summary[reward][metric]
            x = [r["env_steps"] for r in rows]
            ax.plot(x, [r["mean"] for r in rows], marker="o", label=reward)
            ax.fill_between(x, [r["ci95_low"] for r in rows], [r["ci95_high"] for r in rows], alpha=0.2)
        ax.set_xlabel("env steps")
        ax.set_title(title)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"MaskablePPO defaults, 3-disk Hanoi, {cfg['observation']} observation, "
                 f"{len(cfg['seeds'])} seeds (mean, 95% t-interval)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="docs/results/discrete-hanoi", help="output folder")
    parser.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds")
    parser.add_argument("--rewards", default="srl,outcome", help="comma-separated rewards")
    parser.add_argument("--steps", type=int, default=20_000, help="learn(STEPS), as in the README")
    parser.add_argument("--episodes", type=int, default=100, help="problems per evaluation and split")
    parser.add_argument("--observation", choices=("current", "legacy"), default="current")
    args = parser.parse_args()
    th.set_num_threads(1)
    seeds = [int(s) for s in args.seeds.split(",")]
    rewards = args.rewards.split(",")
    runs = []
    for reward in rewards:
        for seed in seeds:
            runs.append(run(reward, seed, args.steps, args.observation, args.episodes))
            p = runs[-1]["points"][-1]
            print(f"{reward:8s} seed {seed}: {p['env_steps']} steps, test {p['test_success']:.2f}, "
                  f"train {p['train_success']:.2f}, expert match {p['expert_match']:.2f} "
                  f"({runs[-1]['wall_s']:.0f} s)", flush=True)
    import sb3_contrib
    import stable_baselines3

    results = {
        "config": {
            "env_id": ENV_ID, "difficulty": 0, "interface": "discrete", "observation": args.observation,
            "rewards": rewards, "seeds": seeds, "learn_steps": args.steps, "episodes": args.episodes,
            "evaluation": "greedy (most likely legal move), episode seeds 0..episodes-1, test and train splits",
            "model": "MaskablePPO('MlpPolicy', env, seed=seed): sb3-contrib defaults",
            "versions": {"srl_gym": getattr(srl_gym, "__version__", "?"), "sb3_contrib": sb3_contrib.__version__,
                         "stable_baselines3": stable_baselines3.__version__, "torch": th.__version__,
                         "python": platform.python_version()},
            "torch_threads": th.get_num_threads(),
        },
        "summary": summarize(runs, rewards),
        "runs": runs,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    suffix = "" if args.observation == "current" else "-legacy-observation"
    (out / f"results{suffix}.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    table = markdown(results)
    (out / f"table{suffix}.md").write_text(table, encoding="utf-8")
    plotted = plot(results, out / f"curves{suffix}.png")
    print(table)
    print(f"wrote {out}/results{suffix}.json, table{suffix}.md" + (f", curves{suffix}.png" if plotted else ""))


if __name__ == "__main__":
    main()
