"""The SRL reward, the similarity functions and the TRL-style reward callables."""

from __future__ import annotations

import difflib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from srl_gym.rewards import (
    FORMAT_PENALTY,
    MAX_STEP_CHARS,
    difflib_ratio,
    outcome_reward,
    split_think,
    srl_reward,
    srl_reward_func,
    step_similarity,
)


def lcs_length(a: str, b: str) -> int:
    row = [0] * (len(b) + 1)
    for ca in a:
        prev = 0
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], prev + 1 if ca == cb else max(row[j], row[j - 1])
    return row[-1]


def test_difflib_is_the_papers_ratio():
    a, b = "x = 10 / 2", "x = 5"
    blocks = difflib.SequenceMatcher(None, a, b).get_matching_blocks()
    assert step_similarity(a, b) == pytest.approx(2 * sum(m.size for m in blocks) / (len(a) + len(b)))
    assert step_similarity("abc", "abc") == 1.0
    assert step_similarity("abc", "xyz") == 0.0


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40), st.text(max_size=40))
def test_lcs_is_normalised_lcs_and_bounds_difflib(a, b):
    expected = 1.0 if not a and not b else 2 * lcs_length(a, b) / (len(a) + len(b))
    assert step_similarity(a, b, "lcs") == pytest.approx(expected)
    assert step_similarity(a, b, "difflib") <= step_similarity(a, b, "lcs") + 1e-12
    assert 0.0 <= step_similarity(a, b, "exact") <= 1.0


@settings(max_examples=500, deadline=None)
@given(
    st.text(alphabet="ab c=1", max_size=60) | st.text(max_size=300),
    st.text(alphabet="ab c=1", max_size=60) | st.text(max_size=300),
)
def test_difflib_ratio_is_difflibs_exactly(a, b):
    # Small alphabets make many ties between longest matches; b of 200+ characters takes difflib's autojunk path.
    assert difflib_ratio(a, b) == difflib.SequenceMatcher(None, a, b).ratio()
    assert step_similarity(a, b) == difflib.SequenceMatcher(None, a[:MAX_STEP_CHARS], b[:MAX_STEP_CHARS]).ratio()


def test_exact_and_bad_method():
    assert step_similarity("a", "a", "exact") == 1.0 and step_similarity("a", "b", "exact") == 0.0
    with pytest.raises(ValueError, match="difflib"):
        step_similarity("a", "b", "cosine")
    with pytest.raises(TypeError):
        step_similarity(1, "b")


def test_huge_steps_are_scored_on_a_prefix_quickly():
    huge = "x" * 5_000_000
    assert step_similarity(huge, "x = 5") == step_similarity(huge[:MAX_STEP_CHARS], "x = 5")


def test_split_think():
    assert split_think("<think>try 3</think> x = 3") == ("try 3", "x = 3")
    assert split_think("x = 3") == (None, "x = 3")
    assert split_think("<think>a</think>b</think> c") == ("a</think>b", "c")


def test_srl_reward_format_rule():
    assert srl_reward("<think>easy</think>x = 3", "x = 3", require_think=True) == 1.0
    assert srl_reward("x = 3", "x = 3", require_think=True) == FORMAT_PENALTY
    assert srl_reward("<think>long thoughts</think>   ", "x = 3", require_think=True) == FORMAT_PENALTY
    assert srl_reward("x = 3", "x = 3") == 1.0  # without the rule the bare step is scored
    # The monologue is never scored.
    assert srl_reward("<think>x = 3</think>y", "x = 3") == srl_reward("y", "x = 3")


def test_trl_style_reward_functions():
    completions = ["<think>.</think>x = 3", [{"role": "assistant", "content": "<think>.</think>x = 4"}], "no format"]
    rewards = srl_reward_func(completions, expert_step=["x = 3", "x = 3", "x = 3"])
    assert rewards[0] == 1.0 and 0 < rewards[1] < 1 and rewards[2] == FORMAT_PENALTY
    assert outcome_reward(True) == 1.0 and outcome_reward(False) == 0.0
    with pytest.raises(TypeError, match="completion"):
        srl_reward_func([42], expert_step=["x"])
