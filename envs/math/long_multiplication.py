"""Schoolbook long multiplication, one digit operation at a time, with carries."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from srl_gym.parsing import answer_text, format_number, normalize, parse_number
from srl_gym.task import InvalidStep, Problem, Task, TaskConfig

#: (digits of the top number, digits of the bottom number) per level.
DIGITS_PER_LEVEL = ((2, 1), (3, 2), (4, 3), (5, 4))
#: Longest step text worth parsing; anything longer is not a step.
MAX_STEP_TEXT = 1000

# Actions are tuples, tagged by their first item:
#   ("mul", top_digit, bottom_digit, product, carry_in, total, written, carry_out)
#   ("pp", row, shifted_value)                       partial product of a row, shifted into place
#   ("col", column, digits, carry_in, total, written, carry_out)   one column of the final addition
#   ("answer", text)                                 the final answer, as a canonical number text
# On the last digit of a row (and in the last column) the whole total is written and carry_out is 0.
MulAction = tuple
#: A state is (top, bottom, steps_done, stated_answer): every valid step is the next one of the fixed
#: schoolbook schedule, so the count of steps done says everything; stated_answer ends the episode.
MulState = tuple[int, int, int, "str | None"]

_N = r"(\d{1,40})"
_CARRY_IN = rf"(?:\s*\+\s*(?:(?:the\s+|a\s+)?carry\s*(?:of\s*)?)?{_N}\s*(?:=|is|gives|makes)\s*{_N})?"
_WRITE = rf"\s*[,;]?\s*(?:then\s+|and\s+)?(?:write|put)\s*(?:down\s*)?(?:the\s+)?{_N}"
_CARRY_OUT = rf"(?:\s*[,;]?\s*(?:and\s+|then\s+)?(?:carry|keep)\s*(?:over\s*)?(?:the\s+)?{_N})?"
_MUL = re.compile(
    rf"^{_N}\s*(?:x|times|multiplied by)\s*{_N}\s*(?:=|is|gives|makes)\s*{_N}{_CARRY_IN}{_WRITE}{_CARRY_OUT}$"
)
_PP = re.compile(r"^(?:partial\s*product|pp|row)\s*(?:no\.?\s*|#\s*)?(\d{1,3})\s*(?::|=|is)?\s*(\d[\d,]{0,60})$")
_COL = re.compile(
    rf"^(?:col(?:umn)?\s*(?:no\.?\s*|#\s*)?(\d{{1,3}})\s*[:,]?\s*)?(\d{{1,2}}(?:\s*\+\s*\d{{1,2}}){{0,30}})"
    rf"(?:\s*\+\s*(?:the\s+|a\s+)?carry\s*(?:of\s*)?{_N})?\s*(?:=|is|gives|makes)\s*{_N}{_WRITE}{_CARRY_OUT}$"
)


@dataclass
class LongMultiplicationConfig(TaskConfig):
    """Options of `LongMultiplication` (only the difficulty)."""


class LongMultiplication(Task[MulState, MulAction]):
    """Long multiplication by the schoolbook method: digit products with carries, then column addition.

    ## Description
    Multiply an a-digit number (top) by a b-digit number (bottom) the way it is taught at school.
    For each digit of the bottom number, right to left, multiply it into each digit of the top
    number, right to left, adding the carry; write one digit and carry the rest (at the top
    number's last digit write the whole total). State the row's partial product, shifted into
    place. Then add the partial products column by column, right to left, with carries (in the
    last column write the whole total), and state the answer. The schedule is fixed, so the
    oracle always knows the next step; an early answer is allowed and ends the episode.

    ## Action Space
    Text, one step of the fixed schedule (the problem text shows the three forms):
    - digit product: "7 x 8 = 56 + carry 3 = 59, write 9, carry 5"; "+ carry C = T" is left out
      when there is no carry in; at the last digit of a row: "4 x 8 = 32 + carry 5 = 37, write 37".
      Also accepted: "*", "times", "multiplied by", "8 x 7" for "7 x 8", "+ 3 = 59" without the
      word carry, "write down", "put", "and carry", "keep", "carry the 5", an omitted "carry 0"
      or "+ carry 0 = T"; at the last digit "write 7, carry 3" for "write 37".
    - partial product: "partial product 2: 34020" (the row's value shifted into place); also
      "pp 2 = 34,020", "row 2 is 34020".
    - column of the addition: "column 3: 4 + 0 + 3 + carry 1 = 8, write 8, carry 0" (the digits
      written in that column, top row first, shift places left empty); the digits may come in any
      order, zeros may be left out, "column 3:" may be left out and "+ carry 1" may be "+ 1".
    - answer: "Answer: 12345"; also "The answer is 12,345", "\\boxed{12345}".
    Any case, spacing, a "Step k:" label, markdown or a final period. A step that is not the
    next one of the schedule (a wrong digit, a wrong or forgotten carry, a wrong fact, a step out
    of order) is invalid and leaves the state unchanged.
    Discrete: ``Discrete(4)``: the expert's step and three plausible wrong ones (a wrong
    multiplication fact, a wrong digit, a wrong or forgotten carry, an unshifted partial product,
    an answer that is off in one digit).

    ## Observation Space
    Text: the problem, the steps so far and the work so far ("4567 x 893 | partial products:
    31969 | row 2 so far: 41, carry 5"). Discrete: UTF-8 codes of that line and of each
    candidate step (128 bytes each).

    ## Starting State
    A uniformly random a-digit top number and b-digit bottom number (for one digit: 2..9).

    ## Reward
    See `srl_gym.env.ReasoningEnv`.

    ## Episode End
    When an answer is stated, right or wrong (the expert states it after the last column).

    ## Information
    ``answer`` is the stated number ("" if none); the verifier accepts "Answer: 12345",
    "12,345" or "\\boxed{12345}" when the number is the product.

    ## Arguments
    ``difficulty``: 0: 2-digit x 1-digit; 1: 3-digit x 2-digit; 2: 4-digit x 3-digit;
    3: 5-digit x 4-digit.

    ## Version History
    - v0: initial release.
    """

    name = "LongMultiplication"
    domain = "math"
    # No legal wrong step for expert_noise: apply accepts only the schedule's next step, and a wrong final
    # answer (the one legal mistake) would end the trajectory instead of letting the oracle re-plan.
    has_wrong_steps = False
    levels = (
        "2-digit x 1-digit, e.g. 47 x 8 (4 steps)",
        "3-digit x 2-digit, e.g. 472 x 38 (13-14 steps)",
        "4-digit x 3-digit, e.g. 4725 x 386 (22-23 steps)",
        "5-digit x 4-digit, e.g. 47251 x 3869 (33-34 steps)",
    )
    config_class = LongMultiplicationConfig

    def generate(self, rng: random.Random) -> Problem:
        a_digits, b_digits = DIGITS_PER_LEVEL[self.difficulty]
        top = rng.randrange(10 ** (a_digits - 1), 10**a_digits)
        bottom = rng.randrange(2, 10) if b_digits == 1 else rng.randrange(10 ** (b_digits - 1), 10**b_digits)
        text = (
            f"Compute {top} x {bottom} by long multiplication.\n"
            f"For each digit of {bottom}, from right to left, multiply it into each digit of {top}, from right "
            "to left, adding the carry; write one digit and carry the rest (at the last digit write the whole "
            "number). Then state the row's partial product, shifted into place."
            + (
                " Then add the partial products column by column, from right to left, with carries (in the "
                "last column write the whole number)."
                if b_digits > 1
                else ""
            )
            + "\nWrite each step as one of:\n"
            "7 x 8 = 56 + carry 3 = 59, write 9, carry 5   (top digit x bottom digit)\n"
            "partial product 2: 34020   (shifted into place)\n"
            + (
                "column 3: 4 + 0 + 3 + carry 1 = 8, write 8, carry 0   (the column's digits, top row first)\n"
                if b_digits > 1
                else ""
            )
            + "(leave out '+ carry C = T' when there is no carry in)\n"
            "Finish with: Answer: N"
        )
        return Problem(text=text, initial_state=(top, bottom, 0, None), answer=str(top * bottom))

    def is_terminal(self, state: MulState) -> bool:
        return state[3] is not None

    def is_solved(self, problem: Problem, state: MulState) -> bool:
        top, bottom, _, stated = state
        return stated == str(top * bottom)

    def expert_action(self, state: MulState) -> MulAction | None:
        top, bottom, done, stated = state
        return None if stated is not None else _schedule(top, bottom).steps[done]

    def apply(self, state: MulState, action: MulAction) -> MulState:
        top, bottom, done, stated = state
        if stated is not None:
            raise InvalidStep("an answer was already given")
        if not isinstance(action, tuple) or not action:
            raise InvalidStep("not a step")
        if action[0] == "answer":
            return top, bottom, done, str(action[1])
        expected = _schedule(top, bottom).steps[done]
        if action != expected:
            raise InvalidStep(_mismatch(action, expected))
        return top, bottom, done + 1, None

    def format_step(self, state: MulState, action: MulAction) -> str:
        kind = action[0]
        if kind == "pp":
            return f"partial product {action[1]}: {action[2]}"
        if kind == "answer":
            return f"Answer: {action[1]}"
        if kind == "mul":
            _, x, y, product, carry_in, total, written, carry_out = action
            text = f"{x} x {y} = {product}"
            if carry_in or total != product:
                text += f" + carry {carry_in} = {total}"
        else:
            _, column, digits, carry_in, total, written, carry_out = action
            text = f"column {column}: " + " + ".join(map(str, digits))
            if carry_in:
                text += f" + carry {carry_in}"
            text += f" = {total}"
        whole = _writes_whole(state) and carry_out == 0
        return f"{text}, write {written}" + ("" if whole else f", carry {carry_out}")

    def parse_step(self, state: MulState, text: str) -> MulAction:
        if not isinstance(text, str) or len(text) > MAX_STEP_TEXT:
            raise InvalidStep("not a long-multiplication step")
        top, bottom, done, _ = state
        steps = _schedule(top, bottom).steps
        expected = steps[done] if done < len(steps) else None
        return _read_step(text, expected, _writes_whole(state))

    def known_expert_length(self, problem: Problem) -> int:
        top, bottom, done, _ = problem.initial_state  # the expert plays the schedule, the answer last
        return len(_schedule(top, bottom).steps) - done

    def answer(self, problem: Problem, state: MulState, steps) -> str:
        return state[3] or ""

    def verify(self, problem: Problem, answer: str) -> bool:
        if not isinstance(answer, str):
            return False
        top, bottom = problem.initial_state[:2]
        return _answer_value(answer, bare=True) == str(top * bottom)

    def render_state(self, state: MulState) -> str:
        top, bottom, done, stated = state
        head = f"{top} x {bottom}"
        if stated is not None:
            return f"{head} | answer given: {stated}"
        steps = _schedule(top, bottom).steps
        if steps[done][0] == "answer":
            return f"{head} | product: {steps[done][1]}"
        finished = steps[:done]
        products = [str(a[2]) for a in finished if a[0] == "pp"]
        written, carry = "", 0
        for action in reversed(finished):  # the digits written since the last partial product
            if action[0] == "pp":
                break
            written, carry = written + str(action[-2]), carry if written else action[-1]
        where = "sum" if steps[done][0] == "col" else f"row {len(products) + 1}"
        return (
            f"{head} | partial products: {', '.join(products) or '-'} | {where} so far: {written or '-'}, carry {carry}"
        )

    def distractors(self, state: MulState, expert: MulAction, rng: random.Random) -> list[MulAction]:
        kind = expert[0]
        if kind in ("mul", "col"):
            pool = list(_digit_slips(expert, _writes_whole(state)))
        elif kind == "pp":
            _, row, value = expert
            pool = [("pp", row, value // 10 ** (row - 1))] if row > 1 else []  # forgotten shift
            pool.append(("pp", row, value * 10))
            pool += [("pp", row, value + sign * 10 ** rng.randrange(len(str(value)))) for sign in (1, -1)]
            pool = _plausible(pool, expert)
        else:
            value = int(expert[1])
            pool = [("answer", str(value + sign * 10 ** rng.randrange(len(str(value))))) for sign in (1, -1)]
            pool.append(("answer", str(value + 10 ** len(str(value)))))
            pool = _plausible(pool, expert)
        rng.shuffle(pool)
        return pool[: self.num_candidates - 1]


@lru_cache(maxsize=1 << 14)
def _digit_slips(expert: MulAction, whole: bool) -> tuple[MulAction, ...]:
    """The wrong versions of a "mul" or "col" step (no randomness in them): a wrong table fact or sum,
    a forgotten carry, a wrong written digit, a wrong carry."""
    pool: list[MulAction] = []
    if expert[0] == "mul":
        _, x, y, product, carry_in, total, written, carry_out = expert
        for wrong_product in (product + y, product - y, product + 1, product - 1):  # a wrong table fact
            pool.append(_mul_step(x, y, wrong_product, carry_in, whole))
        if carry_in:
            pool.append(_mul_step(x, y, product, 0, whole))  # forgotten carry
    else:
        _, column, digits, carry_in, total, written, carry_out = expert
        pool.append(_col_step(column, digits, carry_in + 1, whole))
        if carry_in:
            pool.append(_col_step(column, digits, 0, whole))  # forgotten carry
    written, carry_out = expert[-2:]  # a wrong written digit, a wrong carry
    if whole:
        pool += [expert[:-2] + (written + delta, 0) for delta in (1, -1, 10)]
    else:
        pool += [expert[:-2] + ((written + 1) % 10, carry_out), expert[:-1] + (carry_out + 1,)]
    return tuple(_plausible(pool, expert))


def _plausible(pool: list[MulAction], expert: MulAction) -> list[MulAction]:
    """``pool`` without repeats, without the expert's step and without negative numbers."""
    return [a for a in dict.fromkeys(pool) if a != expert and _non_negative(a)]


@lru_cache(maxsize=1 << 12)
def _read_step(text: str, expected: MulAction | None, whole: bool) -> MulAction:
    """`LongMultiplication.parse_step` of ``text`` where ``expected`` is the schedule's next step and ``whole``
    says it writes its whole total: a pure function, memoised (the digit steps' texts recur across problems)."""
    plain = text.replace("**", " ").replace("\\times", " x ").replace("\u00d7", " x ").replace("*", " x ")
    step = normalize(plain)
    if "answer" in step or "boxed" in step:
        value = _answer_value(text)
        if value is None:
            raise InvalidStep("expected 'Answer: N' with N a number")
        return ("answer", value)
    if match := _MUL.match(step):
        return _parse_mul(match, expected, whole)
    if match := _PP.match(step):
        value = parse_number(match.group(2))
        return ("pp", int(match.group(1)), int(value) if value is not None else -1)
    if match := _COL.match(step):
        return _parse_column(match, expected)
    raise InvalidStep(
        "expected '7 x 8 = 56 + carry 3 = 59, write 9, carry 5', 'partial product 2: 34020', "
        "'column 3: 4 + 0 + 3 + carry 1 = 8, write 8, carry 0' or 'Answer: N'"
    )


class _Schedule(NamedTuple):
    """The schoolbook steps of one multiplication, and whether each writes its whole total."""

    steps: tuple[MulAction, ...]
    whole: tuple[bool, ...]


@lru_cache(maxsize=4096)
def _schedule(top: int, bottom: int) -> _Schedule:
    """Every step of the schoolbook multiplication of ``top`` by ``bottom``, in order."""
    steps: list[MulAction] = []
    whole: list[bool] = []
    top_digits = [int(d) for d in reversed(str(top))]
    rows: list[tuple[str, int]] = []  # (the digits written in a row, its shift)
    for shift, y in enumerate(int(d) for d in reversed(str(bottom))):
        carry, written = 0, ""
        for i, x in enumerate(top_digits):
            last = i == len(top_digits) - 1
            steps.append(_mul_step(x, y, x * y, carry, last))
            whole.append(last)
            carry, written = steps[-1][-1], str(steps[-1][-2]) + written
        rows.append((written, shift))
        steps.append(("pp", shift + 1, top * y * 10**shift))
        whole.append(False)
    if len(rows) > 1:
        width = max(len(digits) + shift for digits, shift in rows)
        carry = 0
        for column in range(width):
            digits = tuple(int(row[-1 - column + shift]) for row, shift in rows if 0 <= column - shift < len(row))
            last = column == width - 1
            steps.append(_col_step(column + 1, digits, carry, last))
            whole.append(last)
            carry = steps[-1][-1]
    steps.append(("answer", str(top * bottom)))
    whole.append(False)
    return _Schedule(tuple(steps), tuple(whole))


def _writes_whole(state: MulState) -> bool:
    """Whether the next step of the schedule writes its whole total (a row's last digit, the last column)."""
    top, bottom, done, _ = state
    whole = _schedule(top, bottom).whole
    return done < len(whole) and whole[done]


def _mul_step(x: int, y: int, product: int, carry_in: int, whole: bool) -> MulAction:
    total = product + carry_in
    written, carry_out = (total, 0) if whole else (total % 10, total // 10)
    return ("mul", x, y, product, carry_in, total, written, carry_out)


def _col_step(column: int, digits: tuple[int, ...], carry_in: int, whole: bool) -> MulAction:
    total = sum(digits) + carry_in
    written, carry_out = (total, 0) if whole else (total % 10, total // 10)
    return ("col", column, digits, carry_in, total, written, carry_out)


def _parse_mul(match: re.Match, expected: MulAction | None, whole: bool) -> MulAction:
    x, y, product, carry_in, total, written, carry_out = (int(g) if g is not None else None for g in match.groups())
    if expected is not None and expected[0] == "mul" and {x, y} == {expected[1], expected[2]}:
        x, y = expected[1], expected[2]  # the factors in either order
    if carry_in is None:
        carry_in, total = 0, product
    if whole and carry_out and written < 10 and written + 10 * carry_out == total:
        written, carry_out = total, 0  # "write 7, carry 3" at a row's last digit means "write 37"
    return ("mul", x, y, product, carry_in, total, written, carry_out or 0)


def _parse_column(match: re.Match, expected: MulAction | None) -> MulAction:
    column, terms, carry_in, total, written, carry_out = match.groups()
    digits = tuple(int(d) for d in terms.split("+"))
    carry = int(carry_in) if carry_in is not None else 0
    if expected is not None and expected[0] == "col":
        wanted = sorted(d for d in expected[2] if d)
        if carry_in is None and expected[3] and len(digits) > 1 and digits[-1] == expected[3]:
            if sorted(d for d in digits[:-1] if d) == wanted:  # "+ 1" for the carry, without the word
                digits, carry = digits[:-1], digits[-1]
        if sorted(d for d in digits if d) == wanted:  # any order, zeros optional
            digits = expected[2]
        if column is None:
            column = expected[1]
    return (
        "col",
        int(column) if column is not None else 0,
        digits,
        carry,
        int(total),
        int(written),
        int(carry_out) if carry_out is not None else 0,
    )


_FIELDS = {
    "mul": ("first factor", "second factor", "product", "carry in", "total", "written digit", "carry"),
    "pp": ("row", "partial product"),
    "col": ("column", "digits", "carry in", "total", "written digit", "carry"),
}


@lru_cache(maxsize=1 << 14)
def _mismatch(action: MulAction, expected: MulAction) -> str:
    """Why ``action`` is not the next step ``expected`` (memoised: a discrete agent's wrong steps recur)."""
    if action[0] != expected[0] or len(action) != len(expected):
        what = {"mul": "a digit product", "pp": "a partial product", "col": "a column of the addition"}
        return f"the next step is {what.get(expected[0], 'the answer')}, not that"
    for name, got, want in zip(_FIELDS[expected[0]], action[1:], expected[1:], strict=True):
        if got != want:
            return f"wrong {name}: {got} (expected {want})"
    return "not the next step"


def _answer_value(text: str, bare: bool = False) -> str | None:
    """The canonical number of an answer ("Answer: 1,234", "\\boxed{1234}"; a bare "1234" if ``bare``)."""
    if len(text) > MAX_STEP_TEXT:
        return None
    stated = answer_text(text)
    if stated is None:
        if not bare:
            return None
        stated = normalize(text)
    value = parse_number(stated)
    if value is None and "=" in stated:  # "Answer: 47 x 8 = 376"
        value = parse_number(stated.rsplit("=", 1)[1])
    return None if value is None else format_number(value)


def _non_negative(action: MulAction) -> bool:
    values = [v for item in action[1:] for v in (item if isinstance(item, tuple) else (item,))]
    return all(v >= 0 if isinstance(v, int) else not v.startswith("-") for v in values)
