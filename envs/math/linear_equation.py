"""Linear equations in x, solved by equivalent rewrites: expand, combine, move terms, divide."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from srl_gym.parsing import answer_text, format_number, normalize, parse_number
from srl_gym.task import InvalidStep, Problem, Task, TaskConfig

#: A term: ``("x", coefficient)``, ``("c", constant)`` or ``("b", factor, inner)``, the bracket
#: ``factor * (inner)`` whose inner side holds only x and constant terms. Numbers are ints when
#: whole, else Fractions (so that the common integer case stays fast).
Term = tuple
#: A side is a tuple of terms in the order written; an equation is ``(lhs, rhs)``.
Side = tuple
#: A state is ``(lhs, rhs, stated_answer)``; the answer is None until "Answer: x = N" is written.
EquationState = tuple
#: An action: ``("rewrite", (lhs, rhs))`` (the next equation) or ``("answer", Fraction)``.
EquationAction = tuple

#: Longest step text parsed, most terms on a side, most digits in a number.
MAX_TEXT = 400
MAX_TERMS = 24
MAX_DIGITS = 15

_MUL_STAR = re.compile(r"(?<=[\dx)\s])\*(?=[\s\dx(-])")
_DECIMAL_POINT = re.compile(r"(?<=\d)\.(?=\d)")  # kept from normalize(), which reads "2." as a list label
_SYMBOLS = str.maketrans(
    {"\u00d7": "*", "\u00b7": "*", "\u22c5": "*", "\u00f7": "/", "\u2212": "-", "\u2013": "-", "\u2014": "-"}
    | {"\u2024": "."}
)
_WORD = re.compile(r"[a-z]{2,}")
_LEAD = re.compile(r"^[\s:;,]*(?:=>|->|\u21d2|\u2192|\u2234)?\s*")
_TOKEN = re.compile(r"\s*(\d+(?:\.\d+)?|[-+*/()x])")
_NUMBER = re.compile(r"[-\u2212]?\d[\d,]*(?:\.\d+)?(?:/\d+)?")
_ANSWER_X = re.compile(r"^x\s*=\s*")

ZERO = (("c", 0),)
Number = int | Fraction


@dataclass
class LinearEquationConfig(TaskConfig):
    """Options of `LinearEquation` (only the difficulty)."""


class LinearEquation(Task[tuple, tuple]):
    """Solve a linear equation in x by a chain of equivalent equations.

    ## Description
    The problem is a linear equation with one integer solution, such as ``3x + 5 = 20`` or
    ``2(x - 3) + 4 = x + 7``. Each step writes the next equation. The oracle solves it the
    textbook way, one kind of move per step: expand every bracket; combine like terms on each
    side; bring the x terms to the side with the larger x coefficient; move the constants to
    the other side; divide by the coefficient of x; then state the answer. Once x is on one
    side only, the oracle writes that side on the left (``2x - 2 = 3x + 3`` -> ``x + 3 = -2``).

    A step is VALID when it is a linear equation in x (sides made of terms ``3x``, ``-4``,
    ``(2/3)x``, ``2(x - 1)``), EQUIVALENT to the current one (the same single solution), differs
    from it, and does not move away from the solution: the oracle's remaining steps from the new
    equation are at most those from the current one. So ``2x + 4 - 4 = 10 - 4``, ``2x = 10 - 4``,
    ``x + 2 = 5``, swapping the sides or jumping straight to ``x = 3`` are valid from
    ``2x + 4 = 10``, while ``2(x + 2) = 10`` (a bracket put back) is not. The state is the
    equation as written (its terms in order), so the oracle re-plans from any valid equation.

    ## Action Space
    Text, one of:
    - an equation: ``3x = 15`` (canonical: terms joined by " + "/" - ", coefficients before x,
      fractions as ``5/3`` and ``(2/3)x``). Also accepted: ``3*x``, ``3 \u00b7 x``, ``x/3``,
      ``2x/3``, ``2/3 x``, ``-(x - 4)``, ``2 * (x + 1)``, decimals ``2.5x``, the unicode minus,
      and a comment before the equation ("Subtract 5 from both sides: 3x = 15", "so 3x = 15").
    - the answer: ``Answer: x = 5`` (also ``Answer: 5``, "The answer is x = 5", ``\\boxed{5}``).
      It ends the episode, right or wrong.
    Case, spacing, a "Step k:" label, markdown and a final period are ignored. Non-linear
    terms (``x*x``, ``1/x``), nested brackets with several terms and other letters are invalid.
    Discrete: the expert's step among plausible wrong ones (a sign slip, an off-by-one constant
    or coefficient, a bracket expanded only in its first term).

    ## Observation Space
    Text: the problem, the steps so far and the current equation. Discrete: UTF-8 codes of the
    current equation and of each candidate step (128 bytes each).

    ## Starting State
    A random equation of the level's shape with an integer solution in -15..15.

    ## Reward
    See `srl_gym.env.ReasoningEnv`.

    ## Episode End
    When an answer is stated (right or wrong); ``is_solved`` checks it against the solution.

    ## Information
    ``answer`` is the stated answer as ``"x = 5"`` ("" if none); the verifier accepts
    "Answer: x = 5", "x = 5", "5", "\\boxed{5}", "5.0".

    ## Arguments
    ``difficulty``: 0: ``ax + b = c``; 1: x on both sides, ``ax + b = cx + d``; 2: one
    bracket, ``k(ax + p) + q = cx + d``; 3: brackets on both sides and an extra x term,
    ``k(ax + p) + mx + q = l(bx + r) + d``.

    ## Version History
    - v0: initial release.
    """

    name = "LinearEquation"
    domain = "math"
    # No legal wrong step for expert_noise: apply accepts only equivalent rewrites, and a wrong final
    # answer (the one legal mistake) would end the trajectory instead of letting the oracle re-plan.
    has_wrong_steps = False
    levels = (
        "ax + b = c: a in 2..12, |b| <= 30, solution in -15..15 (3 steps)",
        "ax + b = cx + d: x on both sides, a, c in 1..12, solution in -15..15 (up to 4 steps)",
        "k(ax + p) + q = cx + d: one bracket, |k| in 2..9, solution in -12..12 (up to 6 steps)",
        "k(ax + p) + mx + q = l(bx + r) + d: brackets on both sides, solution in -10..10 (up to 6 steps)",
    )
    config_class = LinearEquationConfig

    def generate(self, rng: random.Random) -> Problem:
        lhs, rhs = _GENERATORS[self.difficulty](rng)
        if rng.random() < 0.25 and self.difficulty > 0:
            lhs, rhs = rhs, lhs
        solution = _solution(lhs, rhs)
        equation = f"{render_side(lhs)} = {render_side(rhs)}"
        text = (
            f"Solve for x: {equation}\n"
            "Work one step at a time (expand brackets, combine like terms, move terms to the other side, divide by "
            "the coefficient of x); each step is the next equation, equivalent to the one before.\n"
            "Write each step as: <equation>, e.g. 3x = 15\n"
            "Finish with: Answer: x = <number>"
        )
        meta = {"equation": equation}
        return Problem(text=text, initial_state=(lhs, rhs, None), answer=format_number(solution), meta=meta)

    def is_terminal(self, state: EquationState) -> bool:
        return state[2] is not None

    def is_solved(self, problem: Problem, state: EquationState) -> bool:
        return state[2] is not None and state[2] == Fraction(problem.answer)

    def expert_action(self, state: EquationState) -> EquationAction | None:
        lhs, rhs, stated = state
        if stated is not None:
            return None
        rewrite = _expert_rewrite(lhs, rhs)
        return ("answer", _solution(lhs, rhs)) if rewrite is None else ("rewrite", rewrite)

    def apply(self, state: EquationState, action: EquationAction) -> EquationState:
        lhs, rhs, stated = state
        if stated is not None:
            raise InvalidStep("the answer was already given")
        kind, payload = action
        if kind == "answer":
            return (lhs, rhs, _num(Fraction(payload)))
        new_lhs, new_rhs = payload
        a, b = _difference(new_lhs, new_rhs)
        if a == 0:
            raise InvalidStep("x cancels out: the equation no longer has exactly one solution")
        if payload == _expert_rewrite(lhs, rhs):  # the oracle's own step: valid by construction
            return (new_lhs, new_rhs, None)
        if _div(-b, a) != _solution(lhs, rhs):
            raise InvalidStep("not equivalent to the current equation (it has another solution)")
        if (new_lhs, new_rhs) == (lhs, rhs):
            raise InvalidStep("the step does not change the equation")
        if _distance(new_lhs, new_rhs) > _distance(lhs, rhs):
            raise InvalidStep("the step moves away from the solution (e.g. it puts brackets back or splits terms)")
        return (new_lhs, new_rhs, None)

    def format_step(self, state: EquationState, action: EquationAction) -> str:
        kind, payload = action
        if kind == "answer":
            return f"Answer: x = {format_number(payload)}"
        return f"{render_side(payload[0])} = {render_side(payload[1])}"

    def parse_step(self, state: EquationState, text: str) -> EquationAction:
        if not isinstance(text, str) or len(text) > MAX_TEXT:
            raise InvalidStep(f"a step is a short text (at most {MAX_TEXT} characters)")
        return _read_step(text)

    def known_expert_length(self, problem: Problem) -> int | None:
        lhs, rhs, _ = problem.initial_state
        steps = _distance(lhs, rhs)  # the oracle's rewrites and its answer (counted up to 10)
        return steps if steps < 10 else None

    def answer(self, problem: Problem, state: EquationState, steps) -> str:
        return "" if state[2] is None else f"x = {format_number(state[2])}"

    def verify(self, problem: Problem, answer: str) -> bool:
        if not isinstance(answer, str) or len(answer) > MAX_TEXT or problem.answer is None:
            return False
        stated = answer_text(answer)
        value = _read_answer(answer.lower() if stated is None else stated)
        return value is not None and value == Fraction(problem.answer)

    def render_state(self, state: EquationState) -> str:
        lhs, rhs, stated = state
        return f"{render_side(lhs)} = {render_side(rhs)}" if stated is None else f"x = {format_number(stated)}"

    def distractors(self, state: EquationState, expert: EquationAction, rng: random.Random) -> list:
        lhs, rhs, _ = state
        kind, payload = expert
        solution = _solution(lhs, rhs)
        if kind == "answer":
            wrong = [solution + 1, solution - 1, -solution if solution else solution + 2, solution * 2 or 3]
            return [("answer", value) for value in dict.fromkeys(wrong) if value != solution][:3]
        plan = _slips(lhs, rhs, payload)
        # A bracket expanded in its first term only, then 6 copies of the expert's equation with one number
        # changed (a sign slip or an off-by-one), each judged by the plan; only the wrong ones are kept.
        options = [] if plan.sloppy is None else [plan.sloppy]
        choice, spots, signed, slips = rng.choice, plan.spots, plan.signed, plan.slips
        for _ in range(6):
            spot = choice(spots)  # an index: what choosing among the spots draws
            step = 0 if signed[spot] and rng.random() < 0.5 else choice(_STEPS)
            options.append(slips.get((spot, step)) or plan.slip(spot, step))
        wrong = []
        for action, is_wrong in options:
            if is_wrong and action not in wrong:
                wrong.append(action)
        return wrong[:3]


# ---------------------------------------------------------------------- terms and sides
def _num(value: Number) -> Number:
    """``value`` as an int when it is whole."""
    return value.numerator if value.denominator == 1 else value


def _div(a: Number, b: Number) -> Number:
    if type(a) is int and type(b) is int and b and not a % b:  # (the common case) no Fraction to make
        return a // b
    return _num(Fraction(a) / b)


def _x(coefficient: Number) -> Term:
    return ("x", _num(coefficient))


def _c(value: Number) -> Term:
    return ("c", _num(value))


def _simple_side(a: Number, b: Number) -> Side:
    """``ax + b`` with zero terms left out ("0" if both are zero)."""
    terms = ((_x(a),) if a else ()) + ((_c(b),) if b else ())
    return terms or ZERO


@lru_cache(maxsize=1 << 14)
def _linear(side: Side) -> tuple[Number, Number]:
    """The side as ``(coefficient of x, constant)``."""
    a = b = 0
    for term in side:
        if term[0] == "x":
            a += term[1]
        elif term[0] == "c":
            b += term[1]
        else:
            inner_a, inner_b = _linear(term[2])
            a += term[1] * inner_a
            b += term[1] * inner_b
    return _num(a), _num(b)


def _difference(lhs: Side, rhs: Side) -> tuple[Number, Number]:
    """``lhs - rhs`` as ``(A, B)``: the equation is ``Ax + B = 0``."""
    (a, b), (c, d) = _linear(lhs), _linear(rhs)
    return a - c, b - d


@lru_cache(maxsize=1 << 14)
def _solution(lhs: Side, rhs: Side) -> Number:
    a, b = _difference(lhs, rhs)
    return _div(-b, a)


def _has_brackets(side: Side) -> bool:
    return any(term[0] == "b" for term in side)


def _combined(side: Side) -> bool:
    """At most one x term and one constant, none of them zero (a lone "0" is fine)."""
    if side == ZERO:
        return True
    kinds = [term[0] for term in side]
    return "b" not in kinds and kinds.count("x") <= 1 and kinds.count("c") <= 1 and all(t[1] for t in side)


def _expand(side: Side, sloppy: bool = False) -> Side:
    """Every bracket multiplied out in place (``sloppy``: only its first term, a typical slip)."""
    out = []
    for term in side:
        if term[0] != "b":
            out.append(term)
            continue
        factor, inner = term[1], term[2]
        out += [
            (kind, _num(value * factor) if (i == 0 or not sloppy) else value) for i, (kind, value) in enumerate(inner)
        ]
    return tuple(out)


@lru_cache(maxsize=1 << 16)
def _expert_rewrite(lhs: Side, rhs: Side) -> tuple[Side, Side] | None:
    """The oracle's next equation, or None when the equation reads x = N (or N = x)."""
    if _has_brackets(lhs) or _has_brackets(rhs):
        return _expand(lhs), _expand(rhs)
    if not (_combined(lhs) and _combined(rhs)):
        return (
            lhs if _combined(lhs) else _simple_side(*_linear(lhs)),
            rhs if _combined(rhs) else _simple_side(*_linear(rhs)),
        )
    (a, b), (c, d) = _linear(lhs), _linear(rhs)
    if a and c:  # x on both sides: keep it where its coefficient is larger
        return (_simple_side(a - c, b), _simple_side(0, d)) if a > c else (_simple_side(c - a, d), _simple_side(0, b))
    k, e, f = (a, b, d) if a else (c, d, b)  # x side kx + e, constant side f
    if e:
        return _simple_side(k, 0), _simple_side(0, f - e)
    if k != 1:
        return _simple_side(1, 0), _simple_side(0, _div(f, k))
    return None


@lru_cache(maxsize=1 << 16)
def _distance(lhs: Side, rhs: Side) -> int:
    """The oracle's remaining steps (the answer included) from a solvable equation."""
    steps = 1
    while steps < 10 and (rewrite := _expert_rewrite(lhs, rhs)) is not None:
        lhs, rhs = rewrite
        steps += 1
    return steps


class _Slips:
    """The wrong steps `LinearEquation.distractors` draws from, for one equation and the expert's next one.

    A pure function of the two, memoised by `_slips` (the candidates of a state are drawn again after
    every invalid step): the sloppy expansion of the equation's brackets and, for each number of the
    expert's equation outside brackets (its spots), the copy with that number's sign flipped (a
    constant's, ``step`` 0) or nudged by ``step`` 1 or -1 (skipping 0), each as ``(action, wrong)``, where
    ``wrong`` says it has another solution (or none). Each copy is made when first drawn (`slip`).
    """

    __slots__ = ("solution", "equation", "form", "sloppy", "places", "spots", "signed", "slips")

    def __init__(self, lhs: Side, rhs: Side, equation: tuple[Side, Side]) -> None:
        self.solution = _solution(lhs, rhs)
        self.equation = equation
        self.form = _difference(*equation)
        if _has_brackets(lhs) or _has_brackets(rhs):
            new_lhs, new_rhs = _expand(lhs, sloppy=True), _expand(rhs, sloppy=True)
            a, _ = _difference(new_lhs, new_rhs)
            self.sloppy = ("rewrite", (new_lhs, new_rhs)), a == 0 or _solution(new_lhs, new_rhs) != self.solution
        else:
            self.sloppy = None
        self.places = [(s, i) for s in (0, 1) for i, term in enumerate(equation[s]) if term[0] != "b"]
        self.spots = range(len(self.places))
        self.signed = [equation[s][i][0] == "c" and bool(equation[s][i][1]) for s, i in self.places]
        self.slips: dict[tuple[int, int], tuple[EquationAction, bool]] = {}

    def slip(self, spot: int, step: int) -> tuple[EquationAction, bool]:
        """The copy with the number at ``spot`` negated (``step`` 0) or moved by ``step``, and whether it is wrong."""
        s, i = self.places[spot]
        lhs, rhs = self.equation
        side = (lhs, rhs)[s]
        kind, value = side[i]
        new = -value if step == 0 else value + step if value + step else value - step
        side = (*side[:i], (kind, new), *side[i + 1 :])
        # Its `_difference` is the expert's equation's, changed by that one number (exact arithmetic).
        a, b = self.form
        change = new - value if s == 0 else value - new
        a, b = (a + change, b) if kind == "x" else (a, b + change)
        slip = self.slips[spot, step] = (
            ("rewrite", (side, rhs) if s == 0 else (lhs, side)),
            a == 0 or _div(-b, a) != self.solution,
        )
        return slip


_slips = lru_cache(maxsize=1 << 12)(_Slips)  # (a plan holds up to a dozen equations: fewer than the other memos)
#: The nudges of a number that `LinearEquation.distractors` draws from.
_STEPS = (1, -1)


# ---------------------------------------------------------------------- rendering
def _coefficient(value: Number) -> str:
    """A positive multiplier written before x or a bracket: "" for 1, "3", "(2/3)"."""
    if value == 1:
        return ""
    return format_number(value) if value.denominator == 1 else f"({format_number(value)})"


def _term_text(term: Term) -> tuple[bool, str]:
    """Whether ``term`` is negative, and the text of its absolute value."""
    kind, value = term[0], term[1]
    if kind == "c":
        return value < 0, format_number(abs(value))
    body = "x" if kind == "x" else f"({render_side(term[2])})"
    return value < 0, _coefficient(abs(value)) + body if value else f"0{body}"


@lru_cache(maxsize=1 << 14)
def render_side(side: Side) -> str:
    """A side as written: "2(x - 3) + 4", "-x + 5/3", "(2/3)x"."""
    parts = []
    for i, term in enumerate(side):
        negative, text = _term_text(term)
        parts.append(("-" if negative else "") + text if i == 0 else (" - " if negative else " + ") + text)
    return "".join(parts)


# ---------------------------------------------------------------------- parsing
def _parse_side(text: str, depth: int = 0) -> Side:
    """Parse one side of an equation into terms; raise `InvalidStep` if it is not linear in x."""
    tokens = _tokenize(text)
    terms, end = _parse_terms(tokens, 0, depth)
    if end != len(tokens):
        raise InvalidStep(f"unexpected '{tokens[end]}'")
    return terms


def _tokenize(text: str) -> list[str]:
    tokens, position, text = [], 0, text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise InvalidStep("expected an equation in x: numbers, x, + - * / and brackets")
        token = match.group(1)
        if token[0].isdigit() and len(token) > MAX_DIGITS:
            raise InvalidStep("number too long")
        tokens.append(token)
        position = match.end()
    if not tokens:
        raise InvalidStep("a side of the equation is empty")
    if len(tokens) > 4 * MAX_TERMS:
        raise InvalidStep("the equation is too long")
    return tokens


def _parse_terms(tokens: list[str], i: int, depth: int) -> tuple[Side, int]:
    terms = []
    sign = 1
    if i < len(tokens) and tokens[i] in "+-":
        sign, i = (-1 if tokens[i] == "-" else 1), i + 1
    while True:
        (coefficient, thing), i = _parse_product(tokens, i, depth)
        coefficient *= sign
        if thing is None:
            terms.append(_c(coefficient))
        elif thing == "x":
            terms.append(_x(coefficient))
        else:
            terms.append(("b", coefficient, thing))
        if len(terms) > MAX_TERMS:
            raise InvalidStep("too many terms")
        if i >= len(tokens) or tokens[i] not in "+-":
            return tuple(terms), i
        sign, i = (-1 if tokens[i] == "-" else 1), i + 1


def _parse_product(tokens: list[str], i: int, depth: int) -> tuple[tuple, int]:
    """A product/quotient of factors: ``(coefficient, None | "x" | inner side)``."""
    (coefficient, thing), i = _parse_factor(tokens, i, depth)
    while i < len(tokens) and (tokens[i] in "*/" or tokens[i] in ("x", "(")):
        operator = tokens[i] if tokens[i] in "*/" else "*"
        (other, other_thing), i = _parse_factor(tokens, i + (tokens[i] in "*/"), depth)
        if operator == "*":
            if thing is not None and other_thing is not None:
                raise InvalidStep("not linear: a product of two terms with x")
            coefficient, thing = _num(coefficient * other), thing if thing is not None else other_thing
        else:
            if other_thing is not None:
                raise InvalidStep("not linear: x in a denominator")
            if other == 0:
                raise InvalidStep("division by zero")
            coefficient = _div(coefficient, other)
    return (coefficient, thing), i


def _parse_factor(tokens: list[str], i: int, depth: int) -> tuple[tuple, int]:
    if i >= len(tokens):
        raise InvalidStep("the equation ends too early")
    token = tokens[i]
    if token == "x":
        return (1, "x"), i + 1
    if token[0].isdigit():
        return (_num(Fraction(token)) if "." in token else int(token), None), i + 1
    if token == "-":
        (coefficient, thing), j = _parse_factor(tokens, i + 1, depth)
        return (-coefficient, thing), j
    if token != "(":
        raise InvalidStep(f"unexpected '{token}'")
    if depth >= 3:
        raise InvalidStep("brackets nested too deep")
    inner, j = _parse_terms(tokens, i + 1, depth + 1)
    if j >= len(tokens) or tokens[j] != ")":
        raise InvalidStep("unbalanced brackets")
    if len(inner) == 1:  # "(5)", "(2/3)", "(3x)" or a bracket in brackets: no bracket of its own
        term = inner[0]
        return ((term[1], None) if term[0] == "c" else (term[1], "x") if term[0] == "x" else term[1:]), j + 1
    if _has_brackets(inner):
        raise InvalidStep("nested brackets are not supported: expand the inner bracket first")
    if all(term[0] == "c" for term in inner):
        return (_num(sum(term[1] for term in inner)), None), j + 1
    return (1, inner), j + 1


@lru_cache(maxsize=1 << 12)
def _read_step(text: str) -> EquationAction:
    """`LinearEquation.parse_step` of ``text`` (the state plays no part): memoised, as the last equations
    ("x = 5") and the answers recur across problems."""
    stated = answer_text(text)
    if stated is not None:
        value = _read_answer(stated)
        if value is None:
            raise InvalidStep("the answer must be a number, e.g. 'Answer: x = 5'")
        return ("answer", value)
    cleaned = normalize(_DECIMAL_POINT.sub("\u2024", _MUL_STAR.sub("\u00d7", text))).translate(_SYMBOLS)
    words = list(_WORD.finditer(cleaned))  # a comment before the equation ("so", "subtract 5:")
    cleaned = _LEAD.sub("", cleaned[words[-1].end() :] if words else cleaned)
    sides = cleaned.split("=")
    if len(sides) != 2:
        raise InvalidStep("write one equation with a single '=', e.g. '3x = 15'")
    lhs, rhs = _parse_side(sides[0]), _parse_side(sides[1])
    return ("rewrite", (lhs, rhs))


def _read_answer(text: str) -> Number | None:
    """A stated solution: "5", "x = 5", "-7/2", "2.5"; else None."""
    text = _ANSWER_X.sub("", text.strip().lstrip("= ")).strip().rstrip(".")
    if len(text) > 40 or not _NUMBER.fullmatch(text):
        return None
    value = parse_number(text)
    return None if value is None else _num(value)


# ---------------------------------------------------------------------- generation
def _nonzero(rng: random.Random, low: int, high: int) -> int:
    return rng.choice((-1, 1)) * rng.randint(low, high)


def _level0(rng: random.Random) -> tuple[Side, Side]:
    a, b, s = rng.randint(2, 12), _nonzero(rng, 1, 30), rng.randint(-15, 15)
    return (_x(a), _c(b)), (_c(a * s + b),)


def _level1(rng: random.Random) -> tuple[Side, Side]:
    a, c = rng.sample(range(1, 13), 2)
    b, s = _nonzero(rng, 1, 30), rng.randint(-15, 15)
    d = (a - c) * s + b
    rhs = _simple_side(c, d)
    if rng.random() < 0.3:
        rhs = rhs[::-1]
    return (_x(a), _c(b)), rhs


def _bracket(rng: random.Random, max_factor: int, max_a: int, max_p: int) -> Term:
    inner = (_x(rng.randint(1, max_a)), _c(_nonzero(rng, 1, max_p)))
    return ("b", _nonzero(rng, 2, max_factor), inner if rng.random() < 0.85 else inner[::-1])


def _level2(rng: random.Random) -> tuple[Side, Side]:
    bracket, q, s = _bracket(rng, 9, 5, 12), rng.randint(-20, 20), rng.randint(-12, 12)
    slope = _linear((bracket,))[0]
    c = rng.choice([v for v in range(0, 10) if v != slope])
    lhs = (bracket, _c(q)) if q else (bracket,)
    a_l, b_l = _linear(lhs)
    d = a_l * s + b_l - c * s
    return lhs, _simple_side(c, d)


def _level3(rng: random.Random) -> tuple[Side, Side]:
    while True:
        left, right = _bracket(rng, 6, 4, 9), _bracket(rng, 6, 4, 9)
        m, q, s = rng.randint(-5, 5), rng.randint(-15, 15), rng.randint(-10, 10)
        extra = [term for term in (_x(m), _c(q)) if term[1]]
        rng.shuffle(extra)
        lhs = (left, *extra) if rng.random() < 0.7 else (*extra, left)
        (a_l, b_l), (a_r, b_r) = _linear(lhs), _linear((right,))
        if a_l != a_r:
            d = a_l * s + b_l - a_r * s - b_r
            return lhs, (right, _c(d)) if d else (right,)


_GENERATORS = (_level0, _level1, _level2, _level3)
