"""Multi-step integer arithmetic with operator precedence and brackets, one operation per step."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from srl_gym.parsing import answer_text, format_number, normalize, parse_number
from srl_gym.task import InvalidStep, Problem, Task, TaskConfig

#: An expression tree: an int leaf, or ``(op, left, right)`` with op one of "+-*/".
Expr = int | tuple
#: A state is ``(expression, stated_answer)``; the answer is None until "Answer: N" is written.
ArithmeticState = tuple
#: An action: ``("rewrite", expression)`` (the whole expression after one operation) or
#: ``("answer", Fraction)``.
ArithmeticAction = tuple

PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}
#: The operations whose left (right) operand needs brackets when it is the given operation: one of lower
#: precedence (and, on the right, of equal precedence too, as "-" and "/" are left-associative). Tables
#: rather than `PRECEDENCE` comparisons: rendering and the oracle's search ask this for every node.
_LEFT_BRACKETED = {op: frozenset(c for c in PRECEDENCE if PRECEDENCE[c] < PRECEDENCE[op]) for op in PRECEDENCE}
_RIGHT_BRACKETED = {op: frozenset(c for c in PRECEDENCE if PRECEDENCE[c] <= PRECEDENCE[op]) for op in PRECEDENCE}
#: The off-by-something slips of a result that `Arithmetic.distractors` draws from.
_NUDGES = (1, -1, 2, 10)


@dataclass(frozen=True)
class Level:
    """The shape of one difficulty level."""

    operands: tuple[int, int]  # fewest and most numbers
    bracket_depth: int  # 0: no brackets; 1: exactly one level; 2: nested (depth >= 2)
    max_leaf: int  # numbers are drawn from 1..max_leaf
    max_value: int  # every intermediate result stays within +-max_value


LEVELS = (
    Level((3, 3), 0, 20, 400),
    Level((4, 5), 0, 20, 500),
    Level((5, 5), 1, 20, 500),
    Level((6, 7), 2, 25, 999),
)
#: Longest step text parsed (a longer one is malformed) and deepest bracket nesting accepted.
MAX_TEXT = 500
MAX_NESTING = 30
MAX_DIGITS = 18

_MUL_STAR = re.compile(r"(?<=[\d)\s])\*(?=[\s\d(-])")
_SYMBOLS = str.maketrans({"\u00d7": "*", "\u00b7": "*", "\u22c5": "*", "x": "*", "\u00f7": "/", ":": "/"})
_SYMBOLS.update(str.maketrans({"\u2212": "-", "\u2013": "-", "\u2014": "-", "[": "(", "]": ")", "{": "(", "}": ")"}))
_LATEX = (("\\times", "*"), ("\\cdot", "*"), ("\\div", "/"), ("\\left", ""), ("\\right", ""))
_TOKEN = re.compile(r"\d+|[-+*/()]")
#: A rewrite written as `Arithmetic.format_step` writes it ("= 2 + 12"), which `Arithmetic.parse_step` reads directly.
_CANONICAL_REWRITE = re.compile(r"= [0-9 +\-*/()]*")
_NUMBER = re.compile(r"[-\u2212]?\d[\d,]*(?:\.\d+)?(?:/\d+)?")


@dataclass
class ArithmeticConfig(TaskConfig):
    """Options of `Arithmetic`.

    Attributes:
        division: whether problems use exact division ("/" always divides evenly), from level 1.
    """

    division: bool = True

    def validate(self, levels) -> None:
        super().validate(levels)
        if not isinstance(self.division, bool):
            raise TypeError(f"division must be True or False, got {self.division!r}")


class Arithmetic(Task[tuple, tuple]):
    """Evaluate an integer expression with + - * / and brackets, one operation per step.

    ## Description
    The problem is an expression such as ``7 + 3 * (12 - 4) / 6``. Each step evaluates exactly
    ONE operation whose two operands are numbers and which the order of operations allows now
    (brackets first, * and / before + and -, equal precedence left to right), and writes the
    whole rewritten expression. All numbers and intermediate results are integers ("/" always
    divides evenly) and only the final result may be negative. The last step states the value.
    The oracle evaluates the operation inside the innermost brackets first, then the leftmost
    one that precedence allows; an agent may evaluate ANY operation precedence allows (e.g.
    ``4 * 5`` before ``2 * 3`` in ``2 * 3 + 4 * 5``) and the oracle re-plans from there.

    ## Action Space
    Text, one of:
    - a rewrite: ``= 2 + 12`` (canonical), also ``2 + 12`` or ``2 + 3 * 4 = 2 + 12`` (the left
      side must be the current expression), or just the operation ``3 * 4 = 12`` (its leftmost
      occurrence that can be evaluated now is replaced). Operators: ``+``, ``-`` (also the unicode
      minus and dashes), ``*`` (also ``x``, ``\u00d7``, ``\u00b7``, ``\\times``, ``\\cdot``),
      ``/`` (also ``\u00f7``, ``:``, ``\\div``); brackets ``()``, ``[]`` or ``{}``; redundant
      brackets are fine. A wrong result, evaluating an operation that precedence does not allow
      yet, evaluating two operations at once or changing anything else is invalid.
    - the answer: ``Answer: 14`` (also "The answer is 14", ``\\boxed{14}``, or a bare ``14``
      once the expression is a single number). It ends the episode, right or wrong.
    Case, spacing, a "Step k:" label, markdown and a final period are ignored.
    Discrete: the expert's step among plausible wrong ones (off-by-one results, the wrong
    operation, an operation that precedence does not allow yet).

    ## Observation Space
    Text: the problem, the steps so far and the current expression. Discrete: UTF-8 codes of the
    current expression and of each candidate step (128 bytes each).

    ## Starting State
    A random expression of the level's shape whose divisions are exact and whose intermediate
    results are non-negative integers within the level's bound.

    ## Reward
    See `srl_gym.env.ReasoningEnv`.

    ## Episode End
    When an answer is stated (right or wrong); ``is_solved`` checks it against the value.

    ## Information
    ``answer`` is the stated value ("" if none); the verifier compares it with the true value
    and accepts "Answer: 14", "14", "\\boxed{14}", "14.0".

    ## Arguments
    ``difficulty``: 0: 3 numbers, + - *, no brackets; 1: 4-5 numbers, + - * /, no brackets;
    2: 5 numbers, + - * /, one level of brackets; 3: 6-7 numbers, + - * /, nested brackets.
    ``division`` (default True): False leaves "/" out of every level.

    ## Version History
    - v0: initial release.
    """

    name = "Arithmetic"
    domain = "math"
    # No legal wrong step for expert_noise: apply accepts only a right evaluation, and a wrong final
    # answer (the one legal mistake) would end the trajectory instead of letting the oracle re-plan.
    has_wrong_steps = False
    levels = (
        "3 numbers in 1..20, + - *, no brackets, results within 400",
        "4-5 numbers in 1..20, + - * and exact /, precedence, no brackets, results within 500",
        "5 numbers in 1..20, + - * /, one level of brackets, results within 500",
        "6-7 numbers in 1..25, + - * /, nested brackets, results within 999",
    )
    config_class = ArithmeticConfig

    @property
    def level(self) -> Level:
        return LEVELS[self.difficulty]

    def generate(self, rng: random.Random) -> Problem:
        level = self.level
        ops = "+-*/" if self.config.division and self.difficulty > 0 else "+-*"
        while True:
            n = rng.randint(*level.operands)
            if level.bracket_depth == 0:
                shape = _flat_tree([0] * n, [rng.choice(ops) for _ in range(n - 1)])
            else:
                shape, depth = _random_shape(rng, n, ops)
                if depth == 0 or (depth > 1) != (level.bracket_depth > 1):
                    continue
            filled = _fill(rng, shape, level, root=True)
            if filled is not None and isinstance(filled[0], tuple):
                break
        tree, value = filled
        expression = render(tree)
        text = (
            f"Evaluate: {expression}\n"
            "Evaluate one operation per step, respecting the order of operations (brackets first, then * and /, "
            "then + and -, left to right), and write the whole expression after it.\n"
            "Write each step as: = <the expression with one operation evaluated>\n"
            "Finish with: Answer: <number>"
        )
        return Problem(text=text, initial_state=(tree, None), answer=str(value), meta={"expression": expression})

    def is_terminal(self, state: ArithmeticState) -> bool:
        return state[1] is not None

    def is_solved(self, problem: Problem, state: ArithmeticState) -> bool:
        return state[1] is not None and state[1] == _fraction(problem.answer)

    def expert_action(self, state: ArithmeticState) -> ArithmeticAction | None:
        tree, stated = state
        if stated is not None:
            return None
        if isinstance(tree, int):
            return ("answer", Fraction(tree))
        return _plan(tree).expert

    def apply(self, state: ArithmeticState, action: ArithmeticAction) -> ArithmeticState:
        tree, stated = state
        if stated is not None:
            raise InvalidStep("the answer was already given")
        kind, payload = action
        if kind == "answer":
            return (tree, payload if type(payload) is Fraction else Fraction(payload))
        _check_rewrite(tree, payload)
        return (payload, None)

    def format_step(self, state: ArithmeticState, action: ArithmeticAction) -> str:
        kind, payload = action
        if kind == "answer":
            return f"Answer: {_number_text(payload)}"
        return f"= {render(payload)}"

    def parse_step(self, state: ArithmeticState, text: str) -> ArithmeticAction:
        if not isinstance(text, str) or len(text) > MAX_TEXT:
            raise InvalidStep(f"a step is a short text (at most {MAX_TEXT} characters)")
        tree = state[0]
        if _CANONICAL_REWRITE.fullmatch(text) and "**" not in text:
            # The canonical form (format_step's): no answer, label, markup or synonym in it, so the tolerant
            # reading below would only collapse its spaces, which the parser drops anyway.
            new = _parse_expression(text[1:])
        else:
            stated = answer_text(text)
            if stated is not None:
                value = _read_number(stated.lstrip("= "))
                if value is None:
                    raise InvalidStep("the answer must be a number, e.g. 'Answer: 14'")
                return ("answer", value)
            parts = _clean(text).split("=")
            if len(parts) > 2:
                raise InvalidStep("evaluate one operation per step: write '= <expression>'")
            new = _parse_expression(parts[-1])
            if len(parts) == 2 and parts[0].strip():
                left = _parse_expression(parts[0])
                if left != tree:
                    new = _replace_operation(tree, left, new)
        if isinstance(tree, int) and isinstance(new, int):
            return ("answer", Fraction(new))
        return ("rewrite", new)

    def known_expert_length(self, problem: Problem) -> int:
        tree, _ = problem.initial_state
        return _leaves(tree)  # one step per operation (one fewer than the numbers), then the answer

    def answer(self, problem: Problem, state: ArithmeticState, steps) -> str:
        return "" if state[1] is None else _number_text(state[1])

    def verify(self, problem: Problem, answer: str) -> bool:
        if not isinstance(answer, str) or len(answer) > MAX_TEXT or problem.answer is None:
            return False
        stated = answer_text(answer)
        value = _read_number((answer if stated is None else stated).strip().lstrip("= "))
        return value is not None and value == _fraction(problem.answer)

    def render_state(self, state: ArithmeticState) -> str:
        tree, stated = state
        return render(tree) if stated is None else f"Answer: {_number_text(stated)}"

    def distractors(self, state: ArithmeticState, expert: ArithmeticAction, rng: random.Random) -> list:
        tree, _ = state
        kind, payload = expert
        if kind == "answer":
            offsets = [1, -1, 2, -2, 10, -10]
            rng.shuffle(offsets)
            if type(payload) is Fraction and payload.denominator == 1:  # (the oracle's answer): no Fraction sums
                return [("answer", Fraction(payload.numerator + d)) for d in offsets[:3]]
            return [("answer", payload + d) for d in offsets[:3]]
        plan = _plan(tree)
        if plan.slips is None:
            plan.find_distractors(tree)
        path, value, rewrites, slips = plan.path, plan.value, plan.rewrites, plan.slips
        root = not path
        wrong: list[ArithmeticAction] = []
        if slips:
            wrong.append(rng.choice(slips))
        for wrong_value in (rng.choice(plan.facts), value + rng.choice(_NUDGES), value - 1, value + 1):
            if wrong_value != value and (root or wrong_value >= 0):
                action = rewrites.get(wrong_value)
                if action is None:
                    action = rewrites[wrong_value] = ("rewrite", _replace(tree, path, wrong_value))
                if action not in wrong:
                    wrong.append(action)
        return wrong


#: ``Fraction`` of a problem's answer text, memoised: `Arithmetic.is_solved` asks at the end of every episode.
_fraction = lru_cache(maxsize=1 << 10)(Fraction)


def _number_text(value: Fraction) -> str:
    """`format_number`, with a shortcut for a whole ``Fraction`` (every answer the oracle and the distractors
    state), which it would convert to a ``Fraction`` again."""
    if type(value) is Fraction and value.denominator == 1:
        return str(value.numerator)
    return format_number(value)


# ---------------------------------------------------------------------- expression trees
def _compute(op: str, a: int, b: int) -> int:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    return a // b


def _node(tree: Expr, path: tuple[int, ...]) -> Expr:
    for side in path:
        tree = tree[1 + side]
    return tree


def _replace(tree: Expr, path: tuple[int, ...], new: Expr) -> Expr:
    if not path:
        return new
    op, left, right = tree
    if path[0] == 0:
        return (op, _replace(left, path[1:], new), right)
    return (op, left, _replace(right, path[1:], new))


def _needs_brackets(child: Expr, parent_op: str, is_right: bool) -> bool:
    if isinstance(child, int):
        return False
    return child[0] in (_RIGHT_BRACKETED if is_right else _LEFT_BRACKETED)[parent_op]


@lru_cache(maxsize=1 << 14)
def render(tree: Expr) -> str:
    """The expression with the fewest brackets that keep its structure (left-associative)."""
    return str(tree) if isinstance(tree, int) else _text(tree)


def _text(node: Expr, bracketed: frozenset[str] = frozenset()) -> str:
    """`render` of a subexpression whose parent brackets the operations in ``bracketed``: its tokens joined by
    spaces, a negative number in brackets."""
    if isinstance(node, int):
        return str(node) if node >= 0 else f"({node})"
    op, left, right = node
    text = f"{_text(left, _LEFT_BRACKETED[op])} {op} {_text(right, _RIGHT_BRACKETED[op])}"
    return f"({text})" if op in bracketed else text


def _reducible(node: Expr, depth: int = 0, offset: int = 0, path: tuple[int, ...] = ()):
    """Yield ``(bracket_depth, leaves_to_the_left, path)`` of every operation on two numbers."""
    if isinstance(node, int):
        return
    op, left, right = node
    if isinstance(left, int) and isinstance(right, int):
        yield depth, offset, path
        return
    yield from _reducible(left, depth + _needs_brackets(left, op, False), offset, (*path, 0))
    yield from _reducible(right, depth + _needs_brackets(right, op, True), offset + _leaves(left), (*path, 1))


def _leaves(node: Expr) -> int:
    return 1 if isinstance(node, int) else _leaves(node[1]) + _leaves(node[2])


def _expert_path(tree: Expr) -> tuple[int, ...]:
    """The innermost bracketed operation on two numbers, leftmost first (the first of `_reducible`'s
    operations at its greatest bracket depth, searched without the generator)."""
    return _innermost(tree, 0, ())[1]


def _innermost(node: tuple, depth: int, path: tuple[int, ...]) -> tuple[int, tuple[int, ...]]:
    """``(bracket_depth, path)`` of the expert's operation within ``node`` (an operation, not a number)."""
    op, left, right = node
    left_leaf, right_leaf = isinstance(left, int), isinstance(right, int)
    if left_leaf and right_leaf:
        return depth, path
    if right_leaf:
        return _innermost(left, depth + (left[0] in _LEFT_BRACKETED[op]), (*path, 0))
    found = _innermost(right, depth + (right[0] in _RIGHT_BRACKETED[op]), (*path, 1))
    if left_leaf:
        return found
    left_found = _innermost(left, depth + (left[0] in _LEFT_BRACKETED[op]), (*path, 0))
    return left_found if left_found[0] >= found[0] else found  # a tie goes to the leftmost


class _Plan:
    """What the oracle and `Arithmetic.distractors` need of an expression (an operation, not a number).

    A pure function of the expression, memoised by `_plan` (the candidates of a state are drawn again after
    every invalid step): the path of the expert's operation and its value, the oracle's action, the wrong
    facts of the operation, the wrong-result rewrites drawn so far (``wrong_value -> action``, at most 7)
    and the precedence slips as actions (found when the distractors first ask: the text interface never does).
    """

    __slots__ = ("path", "operation", "value", "expert", "rewrites", "slips", "facts")

    def __init__(self, tree: tuple) -> None:
        self.path = path = _expert_path(tree)
        self.operation = _node(tree, path)
        self.value = value = _compute(*self.operation)
        self.expert = ("rewrite", _replace(tree, path, value))
        self.rewrites: dict[int, ArithmeticAction] = {}
        self.slips: tuple[ArithmeticAction, ...] | None = None  # slips and facts: `find_distractors` finds them
        self.facts: tuple[int, int] = (0, 0)

    def find_distractors(self, tree: tuple) -> None:
        """Find the precedence slips and the wrong facts of the plan's expression (what only the distractors need)."""
        op, a, b = self.operation
        self.facts = {"+": (a * b, a - b), "-": (a + b, b - a), "*": (a + b, a * (b + 1)), "/": (a * b, a - b)}[op]
        self.slips = tuple(("rewrite", slip) for slip in _precedence_slips(tree))


_plan = lru_cache(maxsize=1 << 12)(_Plan)  # (a plan holds up to a dozen trees: fewer than the other memos)


def _check_rewrite(old: Expr, new: Expr) -> None:
    """Raise `InvalidStep` unless ``new`` is ``old`` with one allowed operation evaluated correctly."""
    error = _rewrite_error(old, new)
    if error is not None:
        raise InvalidStep(error)


def _rewrite_error(old: Expr, new: Expr) -> str | None:
    """Why ``new`` is not ``old`` with one allowed operation evaluated correctly, or None if it is (without
    the exception: `_precedence_slips` asks of every candidate slip)."""
    diffs: list[tuple[Expr, Expr]] = []
    _differences(old, new, diffs)
    if not diffs:
        return "the step evaluates no operation"
    if len(diffs) > 1:
        return "evaluate exactly one operation per step and keep the rest of the expression"
    before, after = diffs[0]
    if isinstance(before, int) or not isinstance(after, int):
        return f"'{render(new)}' is not the expression with one operation evaluated (mind the order of operations)"
    op, a, b = before
    if not (isinstance(a, int) and isinstance(b, int)):
        return f"'{render(before)}' needs more than one operation; evaluate one that precedence allows"
    value = _compute(op, a, b)
    if value != after:
        return f"wrong result: {render(before)} = {value}, not {after}"
    return None


def _differences(old: Expr, new: Expr, out: list[tuple[Expr, Expr]]) -> None:
    """Append to ``out`` the ``(old_part, new_part)`` pairs where the two trees differ, left to right."""
    if old == new:
        return
    if isinstance(old, tuple) and isinstance(new, tuple) and old[0] == new[0]:
        _differences(old[1], new[1], out)
        _differences(old[2], new[2], out)
    else:
        out.append((old, new))


def _replace_operation(tree: Expr, operation: Expr, result: Expr) -> Expr:
    """``tree`` with the leftmost evaluable occurrence of ``operation`` (e.g. 3 * 4) replaced by ``result``."""
    if not (isinstance(operation, tuple) and isinstance(operation[1], int) and isinstance(operation[2], int)):
        raise InvalidStep("the left side must be the current expression or the one operation evaluated")
    if not isinstance(result, int):
        raise InvalidStep("write the result of the operation as a number, e.g. '3 * 4 = 12'")
    for _, _, path in sorted(_reducible(tree), key=lambda item: item[1]):
        if _node(tree, path) == operation:
            return _replace(tree, path, result)
    raise InvalidStep(f"{render(operation)} cannot be evaluated now (order of operations)")


def _precedence_slips(tree: Expr) -> tuple[Expr, ...]:
    """Typical mistakes: two neighbouring numbers combined although precedence forbids it."""
    text = _text(tree)
    tokens = text.split(" ")  # numbers (brackets attached: "(3", "4)", "(-2)") and operators, alternating
    # Without brackets (nor negative numbers, written in brackets) the text of a slip is numbers and
    # operators only, whose parse is `_flat_tree`'s tree: built directly, rather than written and parsed.
    flat = "(" not in text
    numbers, operators = ([int(t) for t in tokens[::2]], tokens[1::2]) if flat else ([], [])
    slips = []
    for i in range(1, len(tokens) - 1, 2):  # each operator
        op, a, b = tokens[i], tokens[i - 1].lstrip("("), tokens[i + 1].rstrip(")")
        if a.isdigit() and b.isdigit() and (op != "/" or (int(b) and int(a) % int(b) == 0)):
            value = _compute(op, int(a), int(b))
            if value < 0:
                continue
            if flat:
                k = i // 2  # the operator's place among the operators, its left number's among the numbers
                slip = _flat_tree([*numbers[:k], value, *numbers[k + 2 :]], operators[:k] + operators[k + 1 :])
            else:
                head, tail = tokens[i - 1][: -len(a)], tokens[i + 1][len(b) :]
                slip = _parse_expression(" ".join([*tokens[: i - 1], f"{head}{value}{tail}", *tokens[i + 2 :]]))
            if _rewrite_error(tree, slip) is not None:
                slips.append(slip)
    return tuple(slips)


# ---------------------------------------------------------------------- generation
def _flat_tree(leaves: list[Expr], ops: list[str]) -> Expr:
    """The tree of ``leaves[0] ops[0] leaves[1] ...`` under the usual precedence (no brackets)."""
    tree = add = None  # the sum of the products before the current one, and the operator joining them
    product = leaves[0]
    for op, leaf in zip(ops, leaves[1:], strict=True):
        if op in "*/":
            product = (op, product, leaf)
        else:
            tree = product if add is None else (add, tree, product)
            add, product = op, leaf
    return product if add is None else (add, tree, product)


def _random_shape(rng: random.Random, n: int, ops: str) -> tuple[Expr, int]:
    """A random tree of ``n > 1`` leaves (all 0) and its bracket depth: the most brackets around any
    operation, counted as the tree is built (a shape of the wrong depth is drawn again)."""
    k = rng.randint(1, n - 1)
    op = rng.choice(ops)
    left, left_depth = _random_shape(rng, k, ops) if k > 1 else (0, 0)
    right, right_depth = _random_shape(rng, n - k, ops) if n - k > 1 else (0, 0)
    if k > 1 and left[0] in _LEFT_BRACKETED[op]:
        left_depth += 1
    if n - k > 1 and right[0] in _RIGHT_BRACKETED[op]:
        right_depth += 1
    return (op, left, right), max(left_depth, right_depth)


def _fill(rng: random.Random, node: tuple, level: Level, root: bool) -> tuple[Expr, int] | None:
    """Numbers for the leaves of the operation ``node``, so that divisions are exact and results stay in
    bounds, and its value.

    A failing operation is repaired by redrawing a leaf operand or by switching to the other
    operation of its precedence class (which keeps the brackets); ``None`` if that fails (once both
    operands are filled: their draws are made whatever the other one gives).
    """
    op, left, right = node
    # A leaf operand is drawn here rather than in a call of its own: half the nodes are leaves.
    if isinstance(left, int):
        left = a = rng.randint(1, level.max_leaf)
    else:
        left, a = _fill(rng, left, level, False) or (None, 0)
    if isinstance(right, int):
        right = b = rng.randint(1, level.max_leaf)
    else:
        right, b = _fill(rng, right, level, False) or (None, 0)
    if left is None or right is None:
        return None
    bound = level.max_value
    if op == "-" and a < b and not root:
        if isinstance(right, int) and a >= 1:
            right = b = rng.randint(1, a)
        elif isinstance(left, int) and b + level.max_leaf <= bound:
            left = a = b + rng.randint(1, level.max_leaf)
        else:
            op = "+"
    elif op == "/" and (b == 0 or a % b):
        divisors = _divisors(a)
        if isinstance(right, int) and divisors:
            right = b = rng.choice(divisors)
        elif isinstance(left, int) and 0 < b <= bound // 2:
            left = a = b * rng.randint(2, max(2, min(12, bound // b)))
        else:
            op = "*"
    if op == "*" and abs(a * b) > bound:
        if isinstance(right, int) and 0 < a <= bound // 2:
            right = b = rng.randint(2, min(level.max_leaf, bound // a))
        elif isinstance(left, int) and 0 < b <= bound // 2:
            left = a = rng.randint(2, min(level.max_leaf, bound // b))
        else:
            return None
    value = _compute(op, a, b)
    if abs(value) > bound or (value < 0 and not root):
        return None
    return (op, left, right), value


@lru_cache(maxsize=1024)
def _divisors(value: int) -> tuple[int, ...]:
    """The divisors of ``value`` in 2..12 (a generated operand: a whole number within 0..999)."""
    return tuple(d for d in range(2, 13) if value % d == 0)


# ---------------------------------------------------------------------- parsing
def _clean(text: str) -> str:
    """Normalise a step (label, markdown, case) keeping "*" between operands and mapping operator synonyms."""
    text = _MUL_STAR.sub("\u00d7", text)
    for latex, plain in _LATEX:
        text = text.replace(latex, plain)
    return normalize(text).translate(_SYMBOLS)


def _parse_expression(text: str) -> Expr:
    """Parse ``text`` (already cleaned) into a tree; raise `InvalidStep` if it is no expression."""
    stripped = text.replace(" ", "")
    tokens = _TOKEN.findall(stripped)
    if not tokens or "".join(tokens) != stripped:
        raise InvalidStep("expected an expression of numbers, + - * / and brackets")
    # Only a token longer than one character can be a number too long, and only that many "(" can nest
    # too deep: the token by token check runs where one of them might fail (each step parses an expression).
    if stripped.count("(") > MAX_NESTING or len(max(tokens, key=len)) > MAX_DIGITS:
        depth = 0
        for token in tokens:
            depth += (token == "(") - (token == ")")
            if depth > MAX_NESTING:
                raise InvalidStep("brackets nested too deep")
            if token.isdigit() and len(token) > MAX_DIGITS:
                raise InvalidStep("number too long")
    return _parse_tokens(tokens)


def _parse_tokens(tokens: list[str]) -> Expr:
    """The tree of ``tokens`` by the grammar sum := product (("+" | "-") product)*, product := atom
    (("*" | "/") atom)*, atom := number | "-" number | "(" sum ")", operations left-associative.

    One loop rather than a recursive descent (a call per rule and atom): an open bracket keeps the sum
    and product it interrupts on a stack. It reads the tokens left to right as the descent would, so the
    first token that breaks the grammar raises the same error.
    """
    n = len(tokens)
    stack: list[tuple] = []  # per open bracket: (total, add, product, mul) of the expression around it
    total = add = product = mul = None  # the sum and the product so far and the operators pending on them
    i = 0
    while True:
        if i >= n:
            raise InvalidStep("the expression ends too early")
        token = tokens[i]
        if token.isdigit():
            atom, i = int(token), i + 1
        elif token == "-" and i + 1 < n and tokens[i + 1].isdigit():
            atom, i = -int(tokens[i + 1]), i + 2
        elif token == "(":
            stack.append((total, add, product, mul))
            total = add = product = mul = None
            i += 1
            continue
        else:
            raise InvalidStep(f"unexpected '{token}' in the expression")
        while True:  # the atom ends a product, a sum and maybe a bracket, which is an atom in turn
            product = atom if mul is None else (mul, product, atom)
            if i < n and tokens[i] in "*/":
                mul, i = tokens[i], i + 1
                break
            total, product, mul = product if add is None else (add, total, product), None, None
            if i < n and tokens[i] in "+-":
                add, i = tokens[i], i + 1
                break
            if not stack:
                if i != n:
                    raise InvalidStep(f"unexpected '{tokens[i]}' in the expression")
                return total
            if i >= n or tokens[i] != ")":
                raise InvalidStep("unbalanced brackets")
            atom, i = total, i + 1
            total, add, product, mul = stack.pop()


def _read_number(text: str) -> Fraction | None:
    """A stated answer: one number ("14", "-3", "1,200", "2.5", "7/2"), else None."""
    text = text.strip().rstrip(".")
    if len(text) > 40 or not _NUMBER.fullmatch(text):
        return None
    return parse_number(text)
