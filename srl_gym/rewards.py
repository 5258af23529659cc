"""Rewards: step similarity (the SRL reward), the think-format rule, and the outcome reward.

All are plain functions usable without an env, e.g. as TRL ``GRPOTrainer`` reward functions
(`srl_reward_func`, `make_outcome_reward_func`).

The SRL paper (Deng et al., 2025, arXiv:2510.25992) scores a step with
``difflib.SequenceMatcher(None, action, expert_step).ratio()``, i.e. R = 2M/T with T the total
length of both strings and M the total size of the matching blocks, and gives -1 to a completion
that breaks the ``<think>...</think>`` format.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
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
        return difflib.SequenceMatcher(None, a, b).ratio()
    if method == "lcs":
        return Indel.normalized_similarity(a, b)
    if method == "exact":
        return float(a == b)
    raise ValueError(f"method must be one of {SIMILARITY_METHODS}, got {method!r}")


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


def make_outcome_reward_func(verify: Callable[[str, Any], bool]) -> Callable[..., list[float]]:
    """A TRL-style reward function from ``verify(completion_text, problem_row) -> bool``.

    The returned function takes ``(completions, problem, **columns)`` as TRL passes them.
    """

    def outcome_reward_func(completions: Sequence[Any], problem: Sequence[Any], **_columns: Any) -> list[float]:
        return [outcome_reward(verify(_completion_text(c), p)) for c, p in zip(completions, problem, strict=True)]

    return outcome_reward_func
