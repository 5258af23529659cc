"""Rewards: step similarity (the SRL reward), the think-format rule, and the outcome reward.

All are plain functions usable without an env, e.g. as TRL ``GRPOTrainer`` reward functions
(`srl_reward_func`, `outcome_reward_func`), with the columns of `srl_gym.datasets`.

The SRL paper (Deng et al., 2025, arXiv:2510.25992) scores a step with
``difflib.SequenceMatcher(None, action, expert_step).ratio()``, i.e. R = 2M/T with T the total
length of both strings and M the total size of the matching blocks, and gives -1 to a completion
that breaks the ``<think>...</think>`` format.
"""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Sequence
from typing import Any, Literal

from rapidfuzz.distance import Indel

SimilarityMethod = Literal["difflib", "lcs", "exact"]
SIMILARITY_METHODS: tuple[str, ...] = ("difflib", "lcs", "exact")

#: Only the first characters of a step are scored: a step longer than this is malformed anyway,
#: and scoring megabytes of junk would stall the env.
MAX_STEP_CHARS = 2048
#: Reward of a completion that breaks the format rule (the paper's value).
FORMAT_PENALTY = -1.0

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


def split_think(completion: str) -> tuple[str | None, str]:
    """Split a completion into its inner monologue and its step.

    Returns ``(monologue, step)``: the text inside ``<think>...</think>`` (``None`` when there is
    no ``</think>``) and the stripped text after the last ``</think>`` (the whole completion when
    there is none).
    """
    head, sep, tail = completion.rpartition(THINK_CLOSE)
    if not sep:
        return None, completion.strip()
    monologue = head.split(THINK_OPEN, 1)[-1]
    return monologue, tail.strip()


def step_similarity(a: str, b: str, method: SimilarityMethod = "difflib") -> float:
    """Similarity of two steps in [0, 1].

    Args:
        a: the agent's step (scored up to `MAX_STEP_CHARS` characters).
        b: the expert's step.
        method: ``"difflib"``: the paper's R = 2M/T from ``difflib.SequenceMatcher`` (its default
            autojunk heuristic included, as in the paper's one-line call); ``"lcs"``: 2*LCS/T, the
            normalised longest common subsequence (rapidfuzz's Indel similarity, C++ and ~100x
            faster; always >= the difflib ratio, equal when the matching blocks are an LCS);
            ``"exact"``: 1.0 if the strings are equal, else 0.0.
    """
    if not isinstance(a, str) or not isinstance(b, str):
        raise TypeError(f"step_similarity compares two str, got {type(a).__name__} and {type(b).__name__}")
    a, b = a[:MAX_STEP_CHARS], b[:MAX_STEP_CHARS]
    if method == "difflib":
        if len(a) + len(b) <= _MEMO_CHARS:  # short steps recur (a task's moves, its candidates)
            return _difflib_ratio(a, b)
        return difflib_ratio(a, b)
    if method == "lcs":
        return Indel.normalized_similarity(a, b)
    if method == "exact":
        return float(a == b)
    raise ValueError(f"method must be one of {SIMILARITY_METHODS}, got {method!r}")


#: Pairs of steps this short (both together) have their difflib ratio memoised (at most 2^14 pairs, a
#: few MB); a pure function of the two strings, so the memo never changes a score.
_MEMO_CHARS = 256


@functools.lru_cache(maxsize=1 << 14)
def _difflib_ratio(a: str, b: str) -> float:
    return difflib_ratio(a, b)


#: ``difflib.SequenceMatcher`` treats the characters of a second string this long or longer that
#: make up over 1% of it as junk (its autojunk heuristic); `difflib_ratio` leaves those to difflib.
_AUTOJUNK_CHARS = 200


def difflib_ratio(a: str, b: str) -> float:
    """``difflib.SequenceMatcher(None, a, b).ratio()``, the same float, 2-3x faster on steps.

    With no junk (``isjunk=None`` and ``b`` shorter than autojunk's 200 characters) difflib's
    matching blocks are found by recursion: the longest common substring of the two ranges (the
    earliest in ``a`` on ties, then the earliest in ``b``), then the same on its left and on its
    right. Its ``find_longest_match`` walks a dict of every position of each character of ``b``;
    here each range's longest common substring is grown with C-level ``str.find`` instead, one
    candidate start in ``a`` at a time. The total size of the blocks, hence the ratio 2M/T, is
    difflib's (``tests/test_rewards.py`` checks them against each other). Longer ``b``: difflib.
    """
    if a == b:  # every character matches: 2M/T = 1 (difflib's float for any equal pair, "" included)
        return 1.0
    la, lb = len(a), len(b)
    if lb >= _AUTOJUNK_CHARS:
        return difflib.SequenceMatcher(None, a, b).ratio()
    matches = 0
    ranges = [(0, la, 0, lb)]
    find = b.find
    while ranges:
        alo, ahi, blo, bhi = ranges.pop()
        size, best = 0, alo
        for i in range(alo, ahi):
            if ahi - i <= size:  # no longer match starts here or later
                break
            while i + size < ahi and find(a[i : i + size + 1], blo, bhi) != -1:
                size += 1  # a[i:i+size] occurs in b[blo:bhi]: the first start in a of a match this long
                best = i
        if size:
            matches += size
            j = find(a[best : best + size], blo, bhi)
            if alo < best and blo < j:
                ranges.append((alo, best, blo, j))
            if best + size < ahi and j + size < bhi:
                ranges.append((best + size, ahi, j + size, bhi))
    total = la + lb
    return 2.0 * matches / total if total else 1.0


def srl_reward(
    completion: str,
    expert_step: str,
    *,
    require_think: bool = False,
    method: SimilarityMethod = "difflib",
) -> float:
    """The SRL step reward of one completion against the expert's step.

    Only the text after ``</think>`` is scored when there is one (the monologue never is). With
    ``require_think=True`` (the paper's rule for language models) a completion without
    ``</think>`` or with an empty step scores `FORMAT_PENALTY` (-1).
    """
    monologue, step = split_think(completion)
    if require_think and (monologue is None or not step):
        return FORMAT_PENALTY
    return step_similarity(step, expert_step, method)


def _completion_text(completion: Any) -> str:
    """TRL passes plain strings, or for chat data a list of messages: take the last content."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Sequence) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content", ""))
    raise TypeError(f"a completion must be a str or a list of chat messages, got {type(completion).__name__}")


def srl_reward_func(
    completions: Sequence[Any],
    expert_step: Sequence[str],
    require_think: bool = True,
    method: SimilarityMethod = "difflib",
    **_columns: Any,
) -> list[float]:
    """TRL-style reward function: ``srl_reward`` of each completion against its ``expert_step`` column."""
    return [
        srl_reward(_completion_text(c), e, require_think=require_think, method=method)
        for c, e in zip(completions, expert_step, strict=True)
    ]


def outcome_reward(verified: bool) -> float:
    """The outcome (RLVR) reward: 1.0 when the verifier accepts the final answer, else 0.0."""
    return 1.0 if verified else 0.0


def outcome_reward_func(
    completions: Sequence[Any],
    env_id: Sequence[str],
    seed: Sequence[int],
    split: Sequence[str],
    difficulty: Sequence[int],
    env_kwargs: Sequence[str] | None = None,
    **_columns: Any,
) -> list[float]:
    """TRL-style reward function: 1.0 for each whole-solution completion the task's verifier accepts, else 0.0.

    The columns are those of `srl_gym.datasets.solution_dataset`: each row's problem is rebuilt
    from ``(env_id, split, difficulty, seed, env_kwargs)`` (cached), the completion's steps are
    replayed from its start and the task's verifier judges the answer they end with
    (`srl_gym.episodes.verify_solution`).
    """
    from srl_gym.episodes import verify_solution

    extras = env_kwargs if env_kwargs is not None else ["{}"] * len(completions)
    rewards = []
    for c, *key in zip(completions, env_id, split, difficulty, seed, extras, strict=True):
        task, problem = _problem(*key)
        rewards.append(outcome_reward(verify_solution(task, problem, _completion_text(c))))
    return rewards


@functools.lru_cache(maxsize=4096)
def _problem(env_id: str, split: str, difficulty: int, seed: int, env_kwargs: str) -> tuple[Any, Any]:
    """(task, problem) of one dataset row, as ``env.reset(seed=seed)`` generates it."""
    env = _text_env(env_id, split, int(difficulty), env_kwargs)
    env.reset(seed=int(seed))
    return env.task, env.problem


@functools.lru_cache(maxsize=64)
def _text_env(env_id: str, split: str, difficulty: int, env_kwargs: str) -> Any:
    from srl_gym.episodes import make_text_env

    return make_text_env(env_id, split=split, difficulty=difficulty, **json.loads(env_kwargs or "{}"))
