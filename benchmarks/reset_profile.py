"""Where a reset's time goes, per family of ``benchmarks/test_bench_generation.py``: problem generation
vs the expert's whole trajectory vs the first observation (cProfile, cumulative times).

Run: ``python benchmarks/reset_profile.py``. Shares of the time in ``env.reset()`` over 400 resets
(100 for Countdown and zebra); profiling slows Python code evenly enough for shares, not for times.
"""

from __future__ import annotations

import cProfile
import pstats
import sys
from pathlib import Path

import gymnasium as gym

import srl_gym  # noqa: F401

sys.path.insert(0, str(Path(__file__).parent))
from test_bench_generation import FAMILIES  # noqa: E402

#: Families whose generator computes the expert's trajectory itself (to check its length).
TRAJECTORY_IN_GENERATOR = {"syllogism"}


def main() -> None:
    for family, spec in FAMILIES.items():
        env = gym.make(spec.env_id, difficulty=spec.difficulty)
        env.reset(seed=987_654)
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(100 if family in ("zebra", "countdown") else 400):
            env.reset()
        profile.disable()
        cumulative: dict[str, float] = {}
        for (path, _, function), (_, _, _, cum, _) in pstats.Stats(profile).stats.items():
            if "srl_gym" in path and function in (
                "reset",
                "generate_split",
                "_expert_trajectory",
                "_update_expert",
                "_observation",
            ):
                cumulative[function] = cumulative.get(function, 0.0) + cum
        total, trajectory = cumulative["reset"], cumulative.get("_expert_trajectory", 0.0)
        generation = cumulative["generate_split"] - (trajectory if family in TRAJECTORY_IN_GENERATOR else 0.0)
        first = cumulative.get("_update_expert", 0.0) + cumulative.get("_observation", 0.0)
        print(
            f"{family}: problem generation {100 * generation / total:.0f}%, expert trajectory "
            f"{100 * trajectory / total:.0f}%, first observation and candidates {100 * first / total:.0f}%"
        )


if __name__ == "__main__":
    main()
