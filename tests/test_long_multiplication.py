"""LongMultiplication: generator, parser, verifier and oracle."""

from __future__ import annotations

import random

import gymnasium as gym
import pytest

import srl_gym  # noqa: F401  (registers the ids)
from srl_gym.envs.math.long_multiplication import DIGITS_PER_LEVEL, LongMultiplication
from srl_gym.task import InvalidStep, Problem


def problem_of(top: int, bottom: int) -> Problem:
    return Problem(text=f"{top} x {bottom}", initial_state=(top, bottom, 0, None), answer=str(top * bottom))


def expert_texts(task: LongMultiplication, top: int, bottom: int) -> list[str]:
    return [text for _, _, text in task.expert_trajectory((top, bottom, 0, None))]


# ---------------------------------------------------------------------- generator
def test_same_seed_same_problem_and_levels_grow():
    for level, (a_digits, b_digits) in enumerate(DIGITS_PER_LEVEL):
        task = LongMultiplication(difficulty=level)
        assert task.generate(random.Random(5)) == task.generate(random.Random(5))
        problems = [task.generate(random.Random(seed)) for seed in range(50)]
        assert len({p.text for p in problems}) > 40
        for problem in problems:
            top, bottom = problem.initial_state[:2]
            assert len(str(top)) == a_digits and len(str(bottom)) == b_digits and bottom >= 2
            assert problem.answer == str(top * bottom)
            assert f"{top} x {bottom}" in problem.text and "Answer: N" in problem.text and problem.text.isascii()
    lengths = [
        len(LongMultiplication(difficulty=d).expert_trajectory((10**a - 1, 10**b - 1, 0, None)))
        for d, (a, b) in enumerate(DIGITS_PER_LEVEL)
    ]
    assert lengths == sorted(lengths) and len(set(lengths)) == 4


def test_schedule_is_the_schoolbook_method():
    task = LongMultiplication(difficulty=1)
    assert expert_texts(task, 472, 38) == [
        "2 x 8 = 16, write 6, carry 1",
        "7 x 8 = 56 + carry 1 = 57, write 7, carry 5",
        "4 x 8 = 32 + carry 5 = 37, write 37",
        "partial product 1: 3776",
        "2 x 3 = 6, write 6, carry 0",
        "7 x 3 = 21, write 1, carry 2",
        "4 x 3 = 12 + carry 2 = 14, write 14",
        "partial product 2: 14160",
        "column 1: 6 = 6, write 6, carry 0",
        "column 2: 7 + 6 = 13, write 3, carry 1",
        "column 3: 7 + 1 + carry 1 = 9, write 9, carry 0",
        "column 4: 3 + 4 = 7, write 7, carry 0",
        "column 5: 1 = 1, write 1",
        "Answer: 17936",
    ]
    assert expert_texts(LongMultiplication(), 47, 8)[-1] == "Answer: 376"


@pytest.mark.parametrize("level", range(4))
def test_written_digits_rebuild_every_product(level):
    """Independent check: each row writes a * digit, the columns write a * b, the expert answers a * b."""
    task = LongMultiplication(difficulty=level)
    rng = random.Random(level)
    for _ in range(40):
        problem = task.generate(rng)
        top, bottom = problem.initial_state[:2]
        steps = [action for _, action, _ in task.expert_trajectory(problem.initial_state)]
        rows, row, columns = [], "", ""
        for action in steps:
            if action[0] == "mul":
                row = str(action[-2]) + row
            elif action[0] == "pp":
                rows.append(row)
                row = ""
            elif action[0] == "col":
                columns = str(action[-2]) + columns
        digits = [int(d) for d in reversed(str(bottom))]
        assert [int(r) for r in rows] == [top * d for d in digits]
        assert [a[2] for a in steps if a[0] == "pp"] == [top * d * 10**i for i, d in enumerate(digits)]
        if len(digits) > 1:
            assert int(columns) == top * bottom
        assert steps[-1] == ("answer", str(top * bottom))


# ---------------------------------------------------------------------- parser
def test_parser_accepts_model_styles():
    task = LongMultiplication(difficulty=1)
    state = (472, 38, 0, None)
    want = task.expert_action(state)
    for text in (
        "2 x 8 = 16, write 6, carry 1",
        "8 x 2 = 16, write 6, carry 1",
        "2*8=16, write 6, carry 1",
        "2 \u00d7 8 = 16; write down 6 and carry 1",
        "2 times 8 is 16, write 6, carry the 1",
        "Step 1: **2 x 8 = 16, write 6, carry 1**.",
        "2 x 8 = 16 + carry 0 = 16, write 6, carry 1",
    ):
        assert task.parse_step(state, text) == want, text
    middle = (472, 38, 1, None)
    for text in ("7 x 8 = 56 + carry 1 = 57, write 7, carry 5", "7 x 8 = 56 + 1 = 57, put 7, keep 5"):
        assert task.parse_step(middle, text) == task.expert_action(middle), text
    last = (472, 38, 2, None)  # the row's last digit writes the whole total
    for text in ("4 x 8 = 32 + carry 5 = 37, write 37", "4 x 8 = 32 + carry 5 = 37, write 7, carry 3"):
        assert task.parse_step(last, text) == task.expert_action(last), text
    assert task.parse_step((472, 38, 3, None), "pp 1 = 3,776") == ("pp", 1, 3776)
    assert task.parse_step((472, 38, 7, None), "row 2 is 14160") == ("pp", 2, 14160)
    column = (472, 38, 10, None)  # "column 3: 7 + 1 + carry 1 = 9, write 9, carry 0"
    for text in (
        "column 3: 1 + 7 + carry 1 = 9, write 9, carry 0",
        "7 + 1 + 1 = 9, write 9",
        "Column 3: 7+1+carry 1=9, write 9",
    ):
        assert task.parse_step(column, text) == task.expert_action(column), text
    zeros = (408, 25, 10, None)  # 2040 + 8160: "column 3: 0 + 1 + carry 1 = 2, write 2, carry 0"
    assert task.format_step(zeros, task.expert_action(zeros)) == "column 3: 0 + 1 + carry 1 = 2, write 2, carry 0"
    assert task.parse_step(zeros, "1 + carry 1 = 2, write 2, carry 0") == task.expert_action(zeros)
    for text in ("The answer is 17,936.", "Answer: 17936", "\\boxed{17936}", "final answer: 472 x 38 = 17936"):
        assert task.parse_step(column, text) == ("answer", "17936"), text


def test_parser_and_apply_reject_wrong_steps():
    task = LongMultiplication(difficulty=1)
    state = (472, 38, 1, None)  # expert: 7 x 8 = 56 + carry 1 = 57, write 7, carry 5
    for text, reason in (
        ("7 x 8 = 54 + carry 1 = 55, write 5, carry 5", "product"),  # wrong fact
        ("7 x 8 = 56 + carry 1 = 57, write 8, carry 5", "written digit"),  # wrong digit
        ("7 x 8 = 56 + carry 1 = 57, write 7, carry 4", "carry"),  # wrong carry
        ("7 x 8 = 56, write 6, carry 5", "carry in"),  # forgotten carry
        ("4 x 8 = 32 + carry 1 = 33, write 3, carry 3", "first factor"),  # wrong digit of the top number
        ("partial product 1: 3776", "next step"),  # out of order
    ):
        with pytest.raises(InvalidStep, match=reason):
            task.apply(state, task.parse_step(state, text))
    for junk in ("", "7 x 8", "write 7", "Answer:", "Answer: many", "banana", "9" * 5000, "\x00\ud7ff"):
        with pytest.raises(InvalidStep):
            task.parse_step(state, junk)


# ---------------------------------------------------------------------- verifier
def test_verifier_is_tolerant_of_format_and_rejects_wrong_answers():
    task = LongMultiplication(difficulty=1)
    problem = problem_of(472, 38)
    for good in ("Answer: 17936", "17936", "17,936", "\\boxed{17936}", "The answer is 17936.", "**Answer:** 17936"):
        assert task.verify(problem, good), good
    for bad in ("Answer: 17937", "17926", "", "banana", "Answer:", "\\boxed{}", "1" * 100_000, None):
        assert task.verify(problem, bad) is False, bad


# ---------------------------------------------------------------------- oracle and episodes
@pytest.mark.parametrize("level", range(4))
def test_expert_finishes_from_every_state_on_the_path(level):
    task = LongMultiplication(difficulty=level)
    problem = task.generate(random.Random(level))
    top, bottom = problem.initial_state[:2]
    length = len(task.expert_trajectory(problem.initial_state))
    for done in range(length):
        trajectory = task.expert_trajectory((top, bottom, done, None))
        assert len(trajectory) == length - done
        final = task.apply(trajectory[-1][0], trajectory[-1][1])
        assert task.is_terminal(final) and task.is_solved(problem, final)
        assert task.verify(problem, task.answer(problem, final, []))


def test_early_answer_ends_the_episode_right_or_wrong():
    env = gym.make("srl/LongMultiplication-v0", difficulty=2)
    for seed, right in ((0, True), (1, False)):
        env.reset(seed=seed)
        problem = env.unwrapped.problem
        value = int(problem.answer) + (0 if right else 10)
        _, reward, terminated, truncated, info = env.step(f"Answer: {value}")
        assert terminated and not truncated and info["valid"]
        assert info["solved"] is right and info["answer"] == str(value)
        assert (reward > 0) is right


def test_invalid_step_leaves_the_state_and_the_expert_recovers():
    env = gym.make("srl/LongMultiplication-v0", difficulty=1)
    _, info = env.reset(seed=3)
    state = env.unwrapped.state
    _, reward, terminated, _, info = env.step("9 x 9 = 81, write 1, carry 8")
    assert not info["valid"] and reward < 0 and not terminated and env.unwrapped.state == state
    while not terminated:
        _, _, terminated, _, info = env.step(info["expert_step"])
    assert info["solved"]


@pytest.mark.parametrize("level", range(4))
def test_distractors_are_plausible_and_wrong(level):
    task = LongMultiplication(difficulty=level)
    problem = task.generate(random.Random(level + 10))
    rng = random.Random(0)
    for state, expert, _ in task.expert_trajectory(problem.initial_state):
        wrong = task.distractors(state, expert, rng)
        assert len(wrong) == task.num_candidates - 1 and expert not in wrong and len(set(wrong)) == len(wrong)
        for action in wrong:
            text = task.format_step(state, action)
            assert task.parse_step(state, text) == action, text
            if action[0] == "answer":
                assert not task.is_solved(problem, task.apply(state, action))
            else:
                with pytest.raises(InvalidStep):
                    task.apply(state, action)
        assert len(task.render_state(state).encode()) <= 128
