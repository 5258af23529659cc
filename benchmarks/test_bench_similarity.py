"""Step similarity: the fast normalised LCS versus the paper's difflib ratio, on realistic step pairs.

The pairs come from our tasks: each expert step against the other candidate steps of its state
(distractors of math and logic tasks, other legal moves of planning tasks) and against agent-like
variants of itself (a "Step k:" label, lower case, a trailing justification, a dropped character).

Run: ``python -m pytest benchmarks/test_bench_similarity.py --benchmark-enable --benchmark-group-by=group``
for throughput, and ``python benchmarks/test_bench_similarity.py`` for how often and by how much
the two similarities disagree.
"""

from __future__ import annotations

import difflib
import random
from functools import lru_cache
from itertools import combinations

import numpy as np
import pytest

from srl_gym.registration import TASKS
from srl_gym.rewards import _difflib_ratio, step_similarity
from srl_gym.task import InvalidStep


def agent_variants(step: str, k: int, rng: random.Random) -> list[str]:
    """How a model might write the expert's step: labelled, re-cased, justified, or with a typo."""
    cut = rng.randrange(len(step)) if step else 0
    return [
        f"Step {k}: {step}",
        step.lower(),
        f"{step}, since that is what the rules allow",
        step[:cut] + step[cut + 1 :],
    ]


@lru_cache
def step_groups(problems_per_level: int = 3, seed: int = 0) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(expert step, its other candidates and agent-like variants) for every expert step of a few problems per task."""
    rng = random.Random(seed)
    groups = []
    for entry in TASKS:
        cls = entry.load()
        for difficulty in range(len(cls.levels)):
            task = cls(difficulty=difficulty)
            moves = task.move_set()
            for _ in range(problems_per_level):
                problem = task.generate(rng)
                for k, (state, action, text) in enumerate(task.expert_trajectory(problem.initial_state), 1):
                    if moves is None:
                        others = [a for a in task.candidates(state, rng)[0] if a != action]
                    else:
                        others = [m for m in moves if m != action and _legal(task, state, m)]
                    rivals = [task.format_step(state, a) for a in others] + agent_variants(text, k, rng)
                    groups.append((text, tuple(rivals)))
    return tuple(groups)


def _legal(task, state, move) -> bool:
    try:
        task.apply(state, move)
    except InvalidStep:
        return False
    return True


def step_pairs() -> list[tuple[str, str]]:
    """Every (agent step, expert step) pair of `step_groups`."""
    return [(rival, expert) for expert, rivals in step_groups() for rival in rivals]


def disagreement_report() -> dict[str, float]:
    """How far lcs is from difflib on `step_groups`: per pair, and in how it ranks a state's candidates.

    Returns the number of pairs, the mean and max absolute difference, the share of pairs whose
    scores differ at all, the share of candidate pairs (two rivals of the same expert step) that the
    two methods order differently (ties count as an order), and the share of groups whose best
    rival differs.
    """
    diffs, pair_flips, pairs_ranked, top_flips = [], 0, 0, 0
    groups = step_groups()
    for expert, rivals in groups:
        old = [difflib.SequenceMatcher(None, r, expert).ratio() for r in rivals]
        new = [step_similarity(r, expert, "lcs") for r in rivals]
        diffs += [abs(a - b) for a, b in zip(old, new, strict=True)]
        for i, j in combinations(range(len(rivals)), 2):
            pairs_ranked += 1
            pair_flips += np.sign(old[i] - old[j]) != np.sign(new[i] - new[j])
        top_flips += int(np.argmax(old)) != int(np.argmax(new))
    diffs = np.array(diffs)
    return {
        "pairs": len(diffs),
        "mean_abs_diff": float(diffs.mean()),
        "max_abs_diff": float(diffs.max()),
        "share_differing": float((diffs > 1e-12).mean()),
        "rank_disagreement_rate": pair_flips / max(pairs_ranked, 1),
        "top1_disagreement_rate": top_flips / len(groups),
    }


@pytest.fixture(scope="module")
def pairs() -> list[tuple[str, str]]:
    return step_pairs()


def test_similarity_lcs(benchmark, pairs):
    benchmark.group = "similarity"
    benchmark.extra_info["pairs"] = len(pairs)
    benchmark(lambda: [step_similarity(a, b, "lcs") for a, b in pairs])


def test_similarity_difflib(benchmark, pairs):
    """Through `step_similarity` (the env's path): difflib plus the wrapper's checks, its memo of short
    pairs emptied before each round (every pair scored afresh)."""
    benchmark.group = "similarity"
    benchmark.extra_info["pairs"] = len(pairs)
    benchmark.pedantic(
        lambda: [step_similarity(a, b, "difflib") for a, b in pairs], setup=_difflib_ratio.cache_clear, rounds=20
    )


def test_similarity_difflib_memoised(benchmark, pairs):
    """The same with the memo warm: what an env pays for a pair it has scored before (a task's moves
    and candidates recur)."""
    benchmark.group = "similarity"
    benchmark.extra_info["pairs"] = len(pairs)
    benchmark(lambda: [step_similarity(a, b, "difflib") for a, b in pairs])


def test_similarity_plain_difflib_reference(benchmark, pairs):
    """The paper's one-line call, as the reference."""
    benchmark.group = "similarity"
    benchmark.extra_info["pairs"] = len(pairs)
    benchmark(lambda: [difflib.SequenceMatcher(None, a, b).ratio() for a, b in pairs])


def test_lcs_is_never_below_difflib(pairs):
    """The documented bound: the LCS ratio is >= difflib's (difflib's blocks are a common subsequence)."""
    for a, b in pairs:
        assert step_similarity(a, b, "lcs") >= difflib.SequenceMatcher(None, a, b).ratio() - 1e-12


if __name__ == "__main__":
    for key, value in disagreement_report().items():
        print(f"{key}: {value:.4g}" if isinstance(value, float) else f"{key}: {value}")
