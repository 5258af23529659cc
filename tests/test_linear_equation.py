"""LinearEquation: generator, parser, the validity rule, oracle from off-expert states, verifier."""

from __future__ import annotations

import random
import re
from fractions import Fraction

import pytest

from srl_gym import InvalidStep
from srl_gym.envs.math.linear_equation import LinearEquation


def as_python(side: str) -> str:
    """A side as a Python expression of x ("2(x - 3)" -> "2*(x - 3)", "(2/3)x" -> "(2/3)*x")."""
    return re.sub(r"(?<=[\dx)])\s*(?=[x(])", "*", side)


def side_value(side: str, x: Fraction) -> Fraction:
    side = re.sub(r"(\d+)", r"Fraction(\1)", as_python(side))
    return eval(side, {"Fraction": Fraction, "x": x})  # noqa: S307 - our own generated text


def solutions(equation: str) -> list[Fraction]:
    """The solutions of a linear equation, by evaluating its text with Python (independent of the task)."""
    lhs, rhs = equation.split(" = ")
    (a, b), (c, d) = linear_form(lhs), linear_form(rhs)
    if a == c:
        return []
    x = (d - b) / (a - c)
    assert side_value(lhs, x) == side_value(rhs, x) and side_value(lhs, x + 1) != side_value(rhs, x + 1)
    return [x]


def linear_form(side: str) -> tuple[Fraction, Fraction]:
    """``(a, b)`` with side = ax + b, found by evaluating the text at x = 0 and x = 1."""
    b = side_value(side, Fraction(0))
    return side_value(side, Fraction(1)) - b, b


def lin_text(a: Fraction, b: Fraction) -> str:
    parts = []
    if a:
        parts.append(f"{'-' if a < 0 else ''}({abs(a)})x" if a.denominator > 1 else f"{a}x")
    if b or not parts:
        parts.append(f"{b}" if not parts else f"{'-' if b < 0 else '+'} {abs(b)}")
    return " ".join(parts)


def state_of(task: LinearEquation, equation: str) -> tuple:
    _, (lhs, rhs) = task.parse_step(None, equation)
    return (lhs, rhs, None)


def test_generator_is_seeded_levels_grow_and_answers_are_right():
    sizes = []
    for level in range(4):
        task = LinearEquation(difficulty=level)
        assert task.generate(random.Random(5)) == task.generate(random.Random(5))
        rng = random.Random(level)
        problems = [task.generate(rng) for _ in range(150)]
        assert len({p.text for p in problems}) > 130
        for problem in problems:
            equation = problem.meta["equation"]
            assert problem.text.isascii() and equation in problem.text and "Answer: x =" in problem.text
            assert solutions(equation) == [int(problem.answer)]
            lhs, rhs = equation.split(" = ")
            assert (lhs.count("x") > 0 and rhs.count("x") > 0) == (level >= 1) or level >= 2
            assert equation.count("(") == (0, 0, 1, 2)[level]
        sizes.append(sum(len(task.expert_trajectory(p.initial_state)) + len(p.text) / 100 for p in problems))
    assert sizes == sorted(sizes)


def test_expert_solves_the_textbook_way():
    task = LinearEquation(difficulty=2)
    texts = [t for _, _, t in task.expert_trajectory(state_of(task, "2(x - 3) + 4 = 3x + 7"))]
    assert texts == ["2x - 6 + 4 = 3x + 7", "2x - 2 = 3x + 7", "x + 7 = -2", "x = -9", "Answer: x = -9"]
    texts = [t for _, _, t in task.expert_trajectory(state_of(task, "(1/2)x + 1/3 = 5/6"))]
    assert texts == ["(1/2)x = 1/2", "x = 1", "Answer: x = 1"]
    assert [t for _, _, t in task.expert_trajectory(state_of(task, "-3 = x"))] == ["Answer: x = -3"]


def test_parser_accepts_documented_forms():
    task = LinearEquation(difficulty=2)
    state = state_of(task, "2(x - 3) + 4 = x + 7")
    expected = task.expert_action(state)
    for text in (
        "2x - 6 + 4 = x + 7",
        "2*x - 6 + 4 = x + 7",
        "2 \u00b7 x \u2212 6 + 4 = x + 7",
        "Step 1: 2x-6+4=x+7.",
        "**2x - 6 + 4 = x + 7**",
        "Expand the bracket: 2x - 6 + 4 = x + 7",
        "so 2x - 6 + 4 = x + 7",
        "=> 2X - 6 + 4 = X + 7",
        "$2x - 6 + 4 = x + 7$",
        "2x - 6 + 4 = 1x + 7",
        "4x/2 - 6 + 4 = x + 7",
    ):
        assert task.parse_step(state, text) == expected, text
    for text in ("Answer: x = 9", "Answer: 9", "The answer is x = 9", "\\boxed{9}", "ANSWER: X = 9."):
        assert task.parse_step(state, text) == ("answer", 9), text
    _, (lhs, rhs) = task.parse_step(state, "(2/3)x - 5/3 = -(1/2)(x - 3) + 2.5")
    assert task.format_step(state, ("rewrite", (lhs, rhs))) == "(2/3)x - 5/3 = -(1/2)(x - 3) + 5/2"
    assert task.format_step(state, task.parse_step(state, "2.5x = 0.5")) == "(5/2)x = 1/2"
    for text in ("x/3 = 2", "1/3 x = 2", "(1/3)x = 2", "2x/6 = 2", "1/3*x = 2"):
        assert task.format_step(state, task.parse_step(state, text)) == "(1/3)x = 2", text


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2x - 6 + 4 = x + 8", "not equivalent"),
        ("x = 10", "not equivalent"),
        ("2x = 2x", "cancels"),
        ("7 = 7", "cancels"),
        ("2(x - 3) + 4 = x + 7", "does not change"),
        ("x*x = 81", "not linear"),
        ("9/x = 1", "not linear"),
        ("y = 9", "equation in x"),
        ("x = 9 = 9", "single '='"),
        ("x = 5/0", "division by zero"),
        ("2((x - 3) + 2) = x + 7", "nested"),
        ("2(x - 3 = x", "unbalanced"),
        ("= x + 7", "empty"),
        ("x = " + "9" * 30, "too long"),
        ("Answer: x = nine", "number"),
        ("", "single '='"),
    ],
)
def test_parser_and_apply_reject_wrong_steps(text, reason):
    task = LinearEquation(difficulty=2)
    state = state_of(task, "2(x - 3) + 4 = x + 7")
    with pytest.raises(InvalidStep, match=reason):
        task.apply(state, task.parse_step(state, text))


def test_validity_rule_accepts_equivalent_progress_and_lateral_steps():
    task = LinearEquation(difficulty=1)
    state = state_of(task, "2x + 4 = 10")
    for text in ("2x + 4 - 4 = 10 - 4", "2x = 10 - 4", "2x = 6", "x + 2 = 5", "10 = 2x + 4", "4x + 8 = 20", "x = 3"):
        task.apply(state, task.parse_step(state, text))
    for text in ("2(x + 2) = 10", "x + x + 4 = 10", "2x + 4 + 0 = 10"):  # a bracket back, a split term, padding
        with pytest.raises(InvalidStep, match="moves away"):
            task.apply(state, task.parse_step(state, text))


def equivalent_rewrites(task: LinearEquation, state: tuple) -> list[str]:
    """Equivalent equations a solver might write, built from the linear forms of the sides."""
    lhs, rhs = task.render_state(state).split(" = ")
    (a, b), (c, d) = linear_form(lhs), linear_form(rhs)
    s = (d - b) / (a - c)
    k = random.Random(str(state)).choice([2, 3, -1])
    return [
        f"{rhs} = {lhs}",
        f"{lin_text(a, b)} = {lin_text(c, d)}",
        f"{lin_text(a - c, 0)} = {lin_text(0, d - b)}",
        f"{lin_text(c - a, 0)} = {lin_text(0, b - d)}",
        f"{lin_text(k * a, k * b)} = {lin_text(k * c, k * d)}",
        f"{lin_text(a / (a - c), b / (a - c))} = {lin_text(c / (a - c), d / (a - c))}",
        f"{lhs} - {lin_text(c, 0)} = {lin_text(0, d)}" if c else f"{lin_text(0, s)} = x",
        f"x = {lin_text(0, s)}",
    ]


@pytest.mark.parametrize("difficulty", range(4))
def test_oracle_finishes_from_off_expert_states(difficulty):
    task = LinearEquation(difficulty=difficulty)
    rng = random.Random(20 + difficulty)
    for _ in range(40):
        problem = task.generate(rng)
        state = problem.initial_state
        for _ in range(rng.randrange(4)):  # random valid steps, mostly not the expert's
            valid = []
            for text in equivalent_rewrites(task, state):
                try:
                    valid.append(task.apply(state, task.parse_step(state, text)))
                except InvalidStep:
                    pass
            if not valid:
                break
            state = rng.choice(valid)
        steps = task.expert_trajectory(state)
        assert len(steps) <= 6
        assert task.is_solved(problem, task.apply(steps[-1][0], steps[-1][1]))
        assert steps[-1][2] == f"Answer: x = {problem.answer}"
        for before, action, text in steps:
            assert task.parse_step(before, text) == action
            assert task.parse_step(before, text.upper()) == action


def test_answer_ends_the_episode_right_or_wrong():
    task = LinearEquation(difficulty=0)
    problem = task.generate(random.Random(3))
    wrong = task.apply(problem.initial_state, ("answer", Fraction(problem.answer) + 1))
    assert task.is_terminal(wrong) and not task.is_solved(problem, wrong)
    right = task.apply(problem.initial_state, task.parse_step(problem.initial_state, f"Answer: {problem.answer}"))
    assert task.is_solved(problem, right) and task.answer(problem, right, []) == f"x = {problem.answer}"
    with pytest.raises(InvalidStep, match="already"):
        task.apply(right, ("answer", Fraction(1)))
    assert task.answer(problem, problem.initial_state, []) == ""


def test_distractors_are_wrong_and_distinct():
    task = LinearEquation(difficulty=3)
    rng = random.Random(0)
    for _ in range(30):
        problem = task.generate(rng)
        for state, action, _ in task.expert_trajectory(problem.initial_state):
            wrong = task.distractors(state, action, rng)
            assert wrong and action not in wrong and len(set(wrong)) == len(wrong)
            for candidate in wrong:
                if candidate[0] == "answer":
                    assert not task.is_solved(problem, task.apply(state, candidate))
                else:
                    with pytest.raises(InvalidStep):
                        task.apply(state, candidate)


def test_verifier_is_tolerant_and_rejects_garbage():
    task = LinearEquation(difficulty=1)
    problem = task.generate(random.Random(2))
    value = problem.answer
    for good in (
        value,
        f"x = {value}",
        f"Answer: x = {value}",
        f"\\boxed{{{value}}}",
        f"\\boxed{{x = {value}}}",
        f"{value}.0",
    ):
        assert task.verify(problem, good), good
    for bad in (str(int(value) + 1), f"x = {int(value) - 1}", "", "x =", "banana", "\x00", "1" * 5000, None, 3):
        assert task.verify(problem, bad) is False, bad
