"""Countdown: reach a target number by combining the given numbers with +, -, * and /."""

from __future__ import annotations

import itertools
import random
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from srl_gym.parsing import normalize
from srl_gym.task import InvalidStep, Problem, Task, TaskConfig

#: Per level: (count of numbers, how many of them are large, smallest target, largest target).
#: Small numbers are 1..10, large ones 25, 50, 75, 100.
LEVELS = ((3, 0, 10, 100), (4, 0, 10, 200), (5, 1, 50, 500), (6, 2, 100, 999))
SMALL_NUMBERS = tuple(range(1, 11))
LARGE_NUMBERS = (25, 50, 75, 100)
OPERATORS = "+-*/"
UNDO = "undo"
#: Longest step text worth parsing; anything longer is not a step.
MAX_STEP_TEXT = 500

#: An operation: (left, operator, right, stated result); + and * keep the larger operand left.
Operation = tuple[int, str, int, int]
#: An action is an operation or `UNDO` (take back the last operation).
CountdownAction = Operation | str


class CountdownState(NamedTuple):
    """The target, the numbers at hand (sorted) and the operations so far (for Undo)."""

    target: int
    numbers: tuple[int, ...]
    history: tuple[Operation, ...]


_N = r"(\d{1,12})"
_RESULT = rf"\s*(?:=|==|->|=>|\u2192|gives|giving|makes|making|equals|is|to get|to make|and get|get|yields)\s*{_N}"
_OP_WORDS = {
    "+": "+",
    "plus": "+",
    "-": "-",
    "minus": "-",
    "times": "*",
    "x": "*",
    "multiplied by": "*",
    "/": "/",
    "divided by": "/",
    "over": "/",
}
_INFIX = re.compile(rf"^{_N}\s*(\+|-|times|x|/|plus|minus|multiplied by|divided by|over)\s*{_N}{_RESULT}$")
_VERB = re.compile(rf"^(add|multiply|subtract|take|divide)\s*{_N}\s*(and|to|by|with|from|into)\s*{_N}\s*,?{_RESULT}$")
_UNDO = re.compile(
    r"^(?:undo|go back|backtrack|revert|take back|step back)"
    r"(?:\s+(?:the\s+|my\s+)?(?:last|previous)?\s*(?:step|operation|move|op|one)?)?$"
)


@dataclass
class CountdownConfig(TaskConfig):
    """Options of `Countdown` (only the difficulty)."""


class Countdown(Task[CountdownState, CountdownAction]):
    """Countdown: combine the given numbers with +, -, * and / until the target is one of them.

    ## Description
    The agent has a multiset of numbers and a target. A step combines two of its numbers with
    +, -, * or / and replaces them by the result; every result must be a positive integer
    (subtract the smaller from the larger, divide only exactly). Each number is used at most
    once and not every number need be used. The problem is solved when the target is among the
    numbers. Valid steps can lead to a dead end (the target is out of reach of what is left),
    so "Undo" takes back the last operation. Every problem is solvable: the target is the value
    of a random expression over all the numbers. The oracle plays a shortest solution from the
    current numbers (it tries the sub-multisets of the numbers, smallest first, for an
    expression worth the target; the searches are cached on sorted tuples) and undoes the last
    operation when the current numbers cannot reach the target. So it never undoes a step from
    which the target can still be reached, even where undoing would make a shorter way.

    ## Action Space
    Text: "25 * 4 = 100". Also accepted: "25*4=100", "25 x 4 = 100", "25 times 4 is 100",
    "multiply 25 and 4 to get 100", "multiply 25 by 4 = 100", "add 3 to 100 to make 103",
    "subtract 4 from 25 to get 21", "25 minus 4 equals 21", "divide 100 by 4 gives 25",
    "100 divided by 4 -> 25" (also the Unicode times and division signs, "\\times", "\\div"),
    with any case, spacing, a "Step k:" label, markdown or a final period. The result must be
    stated and right; both numbers must be at hand; a - b needs a > b and a / b needs b to divide
    a. "Undo" (also "undo the last step", "go back", "backtrack") takes back the last operation.
    Discrete: ``Discrete(4)``: the expert's step and three plausible wrong ones (a valid
    operation that is not on any shortest solution, wrong arithmetic, an Undo when none is
    needed).

    ## Observation Space
    Text: the problem, the steps so far and the numbers now ("Numbers: 3 7 100 | target: 103").
    Discrete: UTF-8 codes of that line and of each candidate step (128 bytes each).

    ## Starting State
    Random numbers (small 1..10, large 25, 50, 75, 100) and a target in the level's range that
    is not among them; the target is the value of a random expression over all the numbers.

    ## Reward
    See `srl_gym.env.ReasoningEnv`. The expert's plan from the start is a shortest one.

    ## Episode End
    When the target is among the numbers.

    ## Information
    ``answer`` is the plan, one step per line (Undo steps included); the verifier replays it
    from the start and checks that it reaches the target.

    ## Arguments
    ``difficulty``: 0: 3 numbers 1..10, target 10..100; 1: 4 numbers 1..10, target 10..200;
    2: 5 numbers (one large), target 50..500; 3: 6 numbers (two large), target 100..999. The
    target is the value of an expression over all the numbers, so a shortest solution takes at
    most one step fewer than there are numbers (often fewer).

    ## Version History
    - v0: initial release.
    """

    name = "Countdown"
    domain = "math"
    levels = tuple(
        f"{n} numbers ({large or 'none'} of them large), target {lo}..{hi} (solvable in at most {n - 1} steps)"
        for n, large, lo, hi in LEVELS
    )
    config_class = CountdownConfig

    def generate(self, rng: random.Random) -> Problem:
        count, large, lo, hi = LEVELS[self.difficulty]
        while True:
            numbers = [rng.choice(LARGE_NUMBERS) for _ in range(large)]
            numbers += [rng.choice(SMALL_NUMBERS) for _ in range(count - large)]
            rng.shuffle(numbers)
            target = _random_expression_value(numbers, rng)
            if lo <= target <= hi and target not in numbers:
                break
        shown = ", ".join(map(str, numbers))
        text = (
            f"Countdown: reach the target {target} from the numbers {shown}.\n"
            "A step combines two of your numbers with +, -, * or / and replaces them by the result. Every "
            "result must be a positive integer (divide only exactly); each number is used at most once and "
            "you need not use them all. You are done when the target is one of your numbers. "
            "Undo takes back your last step.\n"
            "Write each step as: A op B = C (e.g. 6 * 4 = 24), or: Undo"
        )
        state = CountdownState(target, tuple(sorted(numbers)), ())
        return Problem(text=text, initial_state=state, meta={"numbers": tuple(numbers)})

    def is_terminal(self, state: CountdownState) -> bool:
        return state.target in state.numbers

    def is_solved(self, problem: Problem, state: CountdownState) -> bool:
        return state.target in state.numbers

    def expert_action(self, state: CountdownState) -> CountdownAction | None:
        if self.is_terminal(state):
            return None
        plan = _shortest_plan(state.numbers, state.target)
        return UNDO if plan is None else plan[0]

    def apply(self, state: CountdownState, action: CountdownAction) -> CountdownState:
        if self.is_terminal(state):
            raise InvalidStep("the target is already reached")
        if action == UNDO:
            if not state.history:
                raise InvalidStep("nothing to undo")
            left, _, right, result = state.history[-1]
            numbers = list(state.numbers)
            numbers.remove(result)
            return CountdownState(state.target, tuple(sorted([*numbers, left, right])), state.history[:-1])
        if not (isinstance(action, tuple) and len(action) == 4 and action[1] in OPERATORS):
            raise InvalidStep("not a step")
        left, op, right, result = action
        if type(left) is int and type(right) is int and type(result) is int:
            # What parse_step and the discrete candidates give: `_after` (cached) decides. Any other action, and
            # one it refuses, takes the checks below, which say why.
            after = _after(state.numbers, action)
            if after is not None:
                return CountdownState(state.target, after, (*state.history, action))
        numbers = list(state.numbers)
        for operand in (left, right):
            if operand not in numbers:
                at_hand = " ".join(map(str, state.numbers))
                raise InvalidStep(f"{operand} is not among the numbers at hand ({at_hand})")
            numbers.remove(operand)
        true = _combine(left, op, right)
        if true is None:
            raise InvalidStep(f"{left} {op} {right} is not a positive integer")
        if result != true:
            raise InvalidStep(f"{left} {op} {right} = {true}, not {result}")
        return CountdownState(state.target, tuple(sorted([*numbers, result])), (*state.history, action))

    def format_step(self, state: CountdownState, action: CountdownAction) -> str:
        if action == UNDO:
            return "Undo"
        left, op, right, result = action
        return f"{left} {op} {right} = {result}"

    def parse_step(self, state: CountdownState, text: str) -> CountdownAction:
        if not isinstance(text, str) or len(text) > MAX_STEP_TEXT:
            raise InvalidStep("not a Countdown step")
        if match := _CANONICAL_STEP.fullmatch(text):  # format_step's own form, read at once (what _parse gives)
            left, op, right, result = match.groups()
            return _operation(int(left), op, int(right), int(result))
        return _parse(text)

    def known_expert_length(self, problem: Problem) -> int | None:
        state = problem.initial_state  # the oracle re-plans a shortest plan: one operation less per step
        plan = _shortest_plan(state.numbers, state.target)
        return None if plan is None else len(plan)

    def render_state(self, state: CountdownState) -> str:
        return f"Numbers: {' '.join(map(str, state.numbers))} | target: {state.target}"

    def distractors(self, state: CountdownState, expert: CountdownAction, rng: random.Random) -> list:
        numbers = state.numbers
        valid = list(_operations(numbers))  # distinct operations: the expert's is at most one of them
        if expert in valid:
            valid.remove(expert)
        rng.shuffle(valid)
        wrong: list[CountdownAction] = []
        if expert == UNDO:
            wrong += valid[:2]  # from a dead end every operation leads to another one
        else:
            plan_length = len(_shortest_plan(numbers, state.target))
            for op in valid[:6]:  # operations after which no shortest solution is left (each one valid)
                if not _reachable_within(_after(numbers, op), state.target, plan_length - 1):
                    wrong.append(op)
                    if len(wrong) == 1 + (not state.history):
                        break
            if state.history:
                wrong.append(UNDO)
        source = expert if expert != UNDO else (valid[0] if valid else None)
        if source is not None:  # wrong arithmetic: off by one, or another operator's result
            left, op, right, result = source
            wrong.append((left, op, right, result + rng.choice((-1, 1))))
            other = _combine(left, "+" if op != "+" else "*", right)
            if other not in (None, result):
                wrong.append((left, op, right, other))
        else:  # a single number left: using it twice
            wrong.append((numbers[0], "+", numbers[0], 2 * numbers[0]))
        wrong = [a for a in dict.fromkeys(wrong) if a != expert and (a == UNDO or a[3] > 0)]
        return wrong[: self.num_candidates - 1]


#: A step exactly as `Countdown.format_step` writes an operation ("25 * 4 = 100"): `_parse` reads such a text as
#: these four groups (its "*" becomes "x", which means "*"); `Countdown.parse_step` reads it so without the rest.
_CANONICAL_STEP = re.compile(r"(\d{1,12}) ([-+*/]) (\d{1,12}) = (\d{1,12})")


def _parse(text: str) -> CountdownAction:
    """`Countdown.parse_step` of ``text`` (a str of at most `MAX_STEP_TEXT`): the full reader."""
    for symbol, word in (("\u00d7", " x "), ("\\times", " x "), ("\\cdot", " x "), ("\u00b7", " x ")):
        text = text.replace(symbol, word)
    for symbol in ("\u00f7", "\\div"):
        text = text.replace(symbol, " / ")
    text = re.sub(r"^\s*\*\s+", "", text.replace("**", " ")).replace("*", " x ")
    step = normalize(text)
    if _UNDO.match(step):
        return UNDO
    if match := _INFIX.match(step):
        left, word, right, result = match.groups()
        return _operation(int(left), _OP_WORDS[word], int(right), int(result))
    if match := _VERB.match(step):
        verb, first, joiner, second, result = match.groups()
        op = {"add": "+", "multiply": "*", "subtract": "-", "take": "-", "divide": "/"}[verb]
        left, right = int(first), int(second)
        if op == "-" and joiner == "from" or op == "/" and joiner == "into":
            left, right = right, left  # "subtract 4 from 25", "divide 4 into 100"
        elif op in "-/" and joiner not in ("and", "by"):
            raise InvalidStep(f"cannot read '{verb} ... {joiner} ...'")
        return _operation(left, op, right, int(result))
    raise InvalidStep("expected 'A op B = C' with op one of + - * /, e.g. '25 * 4 = 100', or 'Undo'")


# ---------------------------------------------------------------------- arithmetic
def _combine(left: int, op: str, right: int) -> int | None:
    """``left op right`` if it is a positive integer, else None."""
    if op == "+":
        return left + right
    if op == "*":
        return left * right
    if op == "-":
        return left - right if left > right else None
    if op == "/":
        return left // right if right and left % right == 0 else None
    return None


def _operation(left: int, op: str, right: int, result: int) -> Operation:
    """The canonical operation: + and * keep the larger operand on the left."""
    if op in "+*" and right > left:
        left, right = right, left
    return (left, op, right, result)


@lru_cache(maxsize=1 << 14)
def _operations(numbers: tuple[int, ...]) -> tuple[Operation, ...]:
    """Every valid operation on two of ``numbers`` (each distinct one once)."""
    found: list[Operation] = []
    for big, small in dict.fromkeys(itertools.combinations(sorted(numbers, reverse=True), 2)):
        for op in OPERATORS:
            result = _combine(big, op, small)
            if result is not None:
                found.append((big, op, small, result))
    return tuple(found)


@lru_cache(maxsize=1 << 16)
def _after(numbers: tuple[int, ...], operation: Operation) -> tuple[int, ...] | None:
    """The numbers (sorted) after ``operation`` on ``numbers``, or None where `Countdown.apply` refuses it.

    A pure function of its arguments, cached: the discrete candidates and a random agent's steps try the
    same operations on the same numbers again and again.
    """
    left, op, right, result = operation
    numbers = list(numbers)
    for operand in (left, right):
        if operand not in numbers:
            return None
        numbers.remove(operand)
    if op not in OPERATORS or _combine(left, op, right) != result:
        return None
    return tuple(sorted([*numbers, result]))


def _random_expression_value(numbers: list[int], rng: random.Random) -> int:
    """The value of a random expression that uses each of ``numbers`` once."""
    pool = list(numbers)
    while len(pool) > 1:
        a = pool.pop(rng.randrange(len(pool)))
        b = pool.pop(rng.randrange(len(pool)))
        big, small = max(a, b), min(a, b)
        ops = ["+", "*", "+", "*"]
        ops += ["-"] if big > small else []
        ops += ["/"] if small > 1 and big % small == 0 else []
        pool.append(_combine(big, rng.choice(ops), small))
    return pool[0]


# ---------------------------------------------------------------------- the solver
#: An expression tree: a number, or (left_tree, operator, right_tree).
Tree = int | tuple


@lru_cache(maxsize=1 << 16)
def _values(numbers: tuple[int, ...]) -> frozenset[int]:
    """Every value an expression using each of ``numbers`` exactly once can take (small tuples only)."""
    if len(numbers) == 1:
        return frozenset(numbers)
    found: set[int] = set()
    for left, right in _splits(numbers):
        for x in _values(left):
            for y in _values(right):
                big, small = (x, y) if x >= y else (y, x)
                found.add(big + small)
                found.add(big * small)
                if big > small:
                    found.add(big - small)
                if big % small == 0:
                    found.add(big // small)
    return frozenset(found)


@lru_cache(maxsize=1 << 12)
def _splits(numbers: tuple[int, ...]) -> tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]:
    """The ways to split a sorted tuple in two non-empty parts, the smaller part first, each once."""
    found = {}
    for chosen, others, halves in _split_indices(len(numbers)):
        part = tuple([numbers[i] for i in chosen])
        rest = tuple([numbers[i] for i in others])
        if halves and part > rest:
            continue
        found[part, rest] = None
    return tuple(found)


@lru_cache(maxsize=16)
def _split_indices(n: int) -> tuple[tuple[tuple[int, ...], tuple[int, ...], bool], ...]:
    """`_splits`' positions for a tuple of ``n``: (chosen, the others, whether both parts have n / 2), in its order."""
    return tuple(
        (chosen, tuple(i for i in range(n) if i not in chosen), size * 2 == n)
        for size in range(1, n // 2 + 1)
        for chosen in itertools.combinations(range(n), size)
    )


def _partners(x: int, target: int) -> list[tuple[int, str, bool]]:
    """The values y that make ``target`` from x and y: (y, op, x_is_left)."""
    found = [(target - x, "+", True), (x - target, "-", True), (target + x, "-", False), (target * x, "/", False)]
    if target % x == 0:
        found.append((target // x, "*", True))
    if x % target == 0:
        found.append((x // target, "/", True))
    return [item for item in found if item[0] > 0]


@lru_cache(maxsize=1 << 18)
def _expression(numbers: tuple[int, ...], target: int) -> Tree | None:
    """An expression using each of ``numbers`` exactly once whose value is ``target``, or None."""
    if len(numbers) == 1:
        return numbers[0] if numbers[0] == target else None
    if len(numbers) <= 3 and target not in _values(numbers):
        return None
    for part, rest in _splits(numbers):
        for x in sorted(_values(part)) if len(part) > 1 else part:
            for y, op, x_left in _partners(x, target):
                if len(rest) <= 3 and y not in _values(rest):
                    continue
                tail = _expression(rest, y)
                if tail is not None:
                    head = _expression(part, x) if len(part) > 1 else x
                    return (head, op, tail) if x_left else (tail, op, head)
    return None


def _subsets(numbers: tuple[int, ...], size: int) -> dict[tuple[int, ...], None]:
    return dict.fromkeys(itertools.combinations(numbers, size))


@lru_cache(maxsize=1 << 16)
def _shortest_plan(numbers: tuple[int, ...], target: int) -> tuple[Operation, ...] | None:
    """A shortest list of operations that puts ``target`` among ``numbers``; None if there is none."""
    if target in numbers:
        return ()
    for size in range(2, len(numbers) + 1):
        for subset in _subsets(numbers, size):
            tree = _expression(subset, target)
            if tree is not None:
                return tuple(_post_order(tree))
    return None


@lru_cache(maxsize=1 << 16)
def _reachable_within(numbers: tuple[int, ...], target: int, steps: int) -> bool:
    """Whether ``target`` can be put among ``numbers`` in at most ``steps`` operations."""
    if target in numbers:
        return True
    return any(
        _expression(subset, target) is not None
        for size in range(2, min(steps + 1, len(numbers)) + 1)
        for subset in _subsets(numbers, size)
    )


def _post_order(tree: Tree) -> list[Operation]:
    """The operations of an expression tree, each after those it needs (leftmost first)."""
    if isinstance(tree, int):
        return []
    left, op, right = tree
    ops = _post_order(left) + _post_order(right)
    a, b = _tree_value(left), _tree_value(right)
    ops.append(_operation(a, op, b, _combine(a, op, b)))
    return ops


def _tree_value(tree: Tree) -> int:
    if isinstance(tree, int):
        return tree
    left, op, right = tree
    return _combine(_tree_value(left), op, _tree_value(right))
