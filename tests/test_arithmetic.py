"""Arithmetic: generator, parser, any-order validity against Python's own parser, oracle from any state, verifier."""

from __future__ import annotations

import ast
import random
import re
from fractions import Fraction

import pytest

from srl_gym import InvalidStep
from srl_gym.envs.math.arithmetic import Arithmetic, _parse_expression

OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}


def evaluate(node: ast.AST, values: list) -> Fraction:
    """Evaluate a Python expression tree exactly, recording every intermediate (node, value)."""
    if isinstance(node, ast.Constant):
        return Fraction(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -evaluate(node.operand, values)
    a, b = evaluate(node.left, values), evaluate(node.right, values)
    value = {"+": a + b, "-": a - b, "*": a * b, "/": a / b if b else None}[OPS[type(node.op)]]
    values.append((node, value))
    return value


def evaluable(tree: ast.AST) -> list[ast.BinOp]:
    return [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.BinOp) and isinstance(n.left, ast.Constant) and isinstance(n.right, ast.Constant)
    ]


class Evaluate(ast.NodeTransformer):
    def __init__(self, target: ast.BinOp) -> None:
        self.target = target

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        if node is self.target:
            return ast.Constant(int(evaluate(node, [])))
        return self.generic_visit(node)


def one_step_rewrites(expression: str) -> list[str]:
    """Every expression with one operation on two numbers evaluated, by Python's own parser."""
    out = []
    for k in range(len(evaluable(ast.parse(expression, mode="eval")))):
        tree = ast.parse(expression, mode="eval")
        out.append(ast.unparse(Evaluate(evaluable(tree)[k]).visit(tree)))
    return out


def neighbour_rewrites(expression: str) -> list[str]:
    """Every expression with two neighbouring numbers combined, whatever the precedence."""
    out = []
    for match in re.finditer(r"(?=(?<!\d)((\d+) ([-+*/]) (\d+))(?!\d))", expression):
        a, op, b = Fraction(match.group(2)), match.group(3), Fraction(match.group(4))
        value = {"+": a + b, "-": a - b, "*": a * b, "/": a / b if b else Fraction(1, 2)}[op]
        if value.denominator == 1 and value >= 0:
            start, end = match.start(1), match.end(1)
            out.append(f"{expression[:start]}{value}{expression[end:]}")
    return out


def test_generator_is_seeded_levels_grow_and_answers_are_right():
    sizes = []
    for level in range(4):
        task = Arithmetic(difficulty=level)
        assert task.generate(random.Random(5)) == task.generate(random.Random(5))
        rng = random.Random(level)
        problems = [task.generate(rng) for _ in range(200)]
        assert len({p.text for p in problems}) > 180
        for problem in problems:
            expression = problem.meta["expression"]
            assert problem.text.isascii() and expression in problem.text and "Answer:" in problem.text
            values: list = []
            result = evaluate(ast.parse(expression, mode="eval").body, values)
            assert Fraction(problem.answer) == result
            # Exact divisions; only the final result may be negative; bounded intermediates.
            assert all(v is not None and v.denominator == 1 for _, v in values)
            assert all(v >= 0 for _, v in values[:-1]) and all(abs(v) <= 999 for _, v in values)
            assert min(_depth(expression), 2) == (0, 0, 1, 2)[level]
        sizes.append(sum(len(task.expert_trajectory(p.initial_state)) for p in problems))
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]


def _depth(expression: str) -> int:
    depth = deepest = 0
    for char in expression:
        depth += (char == "(") - (char == ")")
        deepest = max(deepest, depth)
    return deepest


def test_division_option():
    task = Arithmetic(difficulty=3, division=False)
    rng = random.Random(0)
    assert not any("/" in task.generate(rng).meta["expression"] for _ in range(100))
    with pytest.raises(TypeError, match="division must be True or False"):
        Arithmetic(division="yes")


def state_of(task: Arithmetic, expression: str) -> tuple:
    return (_parse_expression(expression), None)


def test_parser_accepts_documented_forms():
    task = Arithmetic(difficulty=2)
    state = state_of(task, "2 + 3 * 4 - (5 - 1)")
    expected = task.parse_step(state, "= 2 + 12 - (5 - 1)")
    for text in (
        "2 + 12 - (5 - 1)",
        "2 + 3 * 4 - (5 - 1) = 2 + 12 - (5 - 1)",
        "3 * 4 = 12",
        "3 x 4 = 12",
        "3\u00d74 = 12",
        "3 \u00b7 4 = 12",
        "Step 1: = 2 + 12 - (5 - 1).",
        "**= 2 + 12 - (5 - 1)**",
        "$2 + 12 - [5 - 1]$",
        "= 2 + 12 - (5 \u2212 1)",
        "= (2) + 12 - ((5 - 1))",
    ):
        assert task.parse_step(state, text) == expected, text
    assert task.apply(state, expected) == state_of(task, "2 + 12 - (5 - 1)")
    division = state_of(task, "12 / 4 + 1")
    for text in ("12 \u00f7 4 = 3", "12 : 4 = 3", "= 3 + 1", "12 \\div 4 = 3"):
        assert task.apply(division, task.parse_step(division, text)) == state_of(task, "3 + 1"), text
    for text in ("Answer: 10", "the answer is 10", "\\boxed{10}", "ANSWER: 10."):
        assert task.parse_step(state, text) == ("answer", 10), text
    assert task.parse_step(state_of(task, "10"), "10") == ("answer", 10)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("= 2 + 13 - (5 - 1)", "wrong result"),
        ("3 * 4 = 13", "wrong result"),
        ("= 5 * 4 - (5 - 1)", "order of operations"),
        ("2 + 3 = 5", "order of operations"),
        ("= 14 - (5 - 1)", "more than one operation"),
        ("= 2 + 12 - 4", "exactly one operation"),
        ("= 2 + 3 * 4 - (5 - 1)", "no operation"),
        ("= 2 + 12 - (5 - 1) = 14 - 4", "one operation"),
        ("", "expression"),
        ("2 +", "ends too early"),
        ("= 2 + 12 - (5 - 1", "unbalanced"),
        ("move disk 1", "expression"),
        ("Answer: ten", "number"),
        ("9" * 40, "too long"),
        ("(" * 50 + "1" + ")" * 50, "nested"),
    ],
)
def test_parser_and_apply_reject_wrong_steps(text, reason):
    task = Arithmetic(difficulty=2)
    state = state_of(task, "2 + 3 * 4 - (5 - 1)")
    with pytest.raises(InvalidStep, match=reason):
        task.apply(state, task.parse_step(state, text))


@pytest.mark.parametrize("difficulty", range(4))
def test_every_operation_precedence_allows_is_valid_and_nothing_else(difficulty):
    """Python's own parser lists the operations on two numbers; exactly those rewrites are valid."""
    task = Arithmetic(difficulty=difficulty)
    rng = random.Random(difficulty)
    for _ in range(40):
        state = task.generate(rng).initial_state
        while isinstance(state[0], tuple):
            expression = task.render_state(state)
            rewrites = one_step_rewrites(expression)
            assert rewrites
            for text in rewrites:
                task.apply(state, task.parse_step(state, f"= {text}"))
            for text in neighbour_rewrites(expression):  # any two neighbours, precedence or not
                valid = ast.unparse(ast.parse(text, mode="eval")) in rewrites
                try:
                    task.apply(state, task.parse_step(state, text))
                    assert valid, text
                except InvalidStep:
                    assert not valid, text
            state = task.apply(state, task.parse_step(state, f"= {rng.choice(rewrites)}"))


@pytest.mark.parametrize("difficulty", range(4))
def test_oracle_finishes_from_off_expert_states(difficulty):
    task = Arithmetic(difficulty=difficulty)
    rng = random.Random(10 + difficulty)
    for _ in range(40):
        problem = task.generate(rng)
        state = problem.initial_state
        for _ in range(rng.randrange(4)):  # random valid steps that may differ from the expert's
            if not isinstance(state[0], tuple):
                break
            state = task.apply(state, task.parse_step(state, rng.choice(one_step_rewrites(task.render_state(state)))))
        steps = task.expert_trajectory(state)
        assert task.is_solved(problem, task.apply(steps[-1][0], steps[-1][1]))
        assert steps[-1][2] == f"Answer: {problem.answer}"


def test_expert_goes_innermost_brackets_first_then_leftmost():
    task = Arithmetic(difficulty=3)
    texts = [t for _, _, t in task.expert_trajectory(state_of(task, "2 * 3 + (4 + 5 * (6 - 1))"))]
    assert texts == [
        "= 2 * 3 + (4 + 5 * 5)",
        "= 2 * 3 + (4 + 25)",
        "= 2 * 3 + 29",
        "= 6 + 29",
        "= 35",
        "Answer: 35",
    ]


def test_answer_ends_the_episode_right_or_wrong():
    task = Arithmetic(difficulty=0)
    problem = task.generate(random.Random(3))
    wrong = task.apply(problem.initial_state, ("answer", Fraction(problem.answer) + 1))
    assert task.is_terminal(wrong) and not task.is_solved(problem, wrong)
    right = task.apply(problem.initial_state, task.parse_step(problem.initial_state, f"Answer: {problem.answer}"))
    assert task.is_solved(problem, right) and task.answer(problem, right, []) == problem.answer
    with pytest.raises(InvalidStep, match="already"):
        task.apply(right, ("answer", Fraction(1)))
    assert task.answer(problem, problem.initial_state, []) == ""


def test_distractors_are_wrong_and_distinct():
    task = Arithmetic(difficulty=3)
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
    task = Arithmetic(difficulty=1)
    problem = task.generate(random.Random(2))
    value = problem.answer
    for good in (
        value,
        f"Answer: {value}",
        f"\\boxed{{{value}}}",
        f"The answer is {value}.",
        f"{value}.0",
        f" = {value}",
    ):
        assert task.verify(problem, good), good
    for bad in (
        str(int(value) + 1),
        f"Answer: {int(value) - 1}",
        "",
        "banana",
        "Answer:",
        "\x00",
        "1" * 5000,
        None,
        42,
    ):
        assert task.verify(problem, bad) is False, bad
