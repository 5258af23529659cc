"""Helpers that task parsers share, so every task tolerates the same ways of writing a step."""

from __future__ import annotations

import re
from fractions import Fraction

_STEP_PREFIX = re.compile(
    r"^\s*(?:(?:step|move)\s*\d+\s*[:.)-]|\d+[.)](?=\s|$)|(?:[*\u2022]|-(?=\s+\D))\s+)\s*", re.IGNORECASE
)
#: Markdown bold/italics pairs, code ticks and LaTeX math delimiters; a single "*" is kept (it is "times").
_MARKUP = re.compile(r"\*\*+|__+|`+|\$+|\\\(|\\\)")
_SPACES = re.compile(r"\s+")
_NUMBER = re.compile(r"[-\u2212]?\d[\d,]*(?:\.\d+)?(?:/\d+)?")


def normalize(text: str) -> str:
    """Lower-case ``text``, drop markup and a leading "Step 3:"/"1." label, collapse spaces.

    Trailing sentence punctuation is dropped too, so "Move disk 1 from A to C." and
    "**step 2:** move disk 1 from a to c" normalise to the same string.
    """
    text = _MARKUP.sub("", text).replace("\u2212", "-")
    text = _STEP_PREFIX.sub("", text)
    text = _SPACES.sub(" ", text).strip().lower()
    return text.rstrip(" .!;")


def parse_number(text: str) -> Fraction | None:
    """A number written as an integer, a decimal or a fraction ("-3", "1,200", "2.5", "7/3")."""
    text = text.strip().replace("\u2212", "-").replace(",", "").replace(" ", "")
    try:
        return Fraction(text)
    except (ValueError, ZeroDivisionError):
        return None


def last_number(text: str) -> Fraction | None:
    """The last number that appears in ``text``, or ``None``."""
    found = _NUMBER.findall(text)
    return parse_number(found[-1]) if found else None


_ANSWER = re.compile(r"\b(?:final\s+)?answer\s*(?:is|:|=)\s*(.+)$", re.IGNORECASE | re.DOTALL)
_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")


def answer_text(text: str) -> str | None:
    """What follows "Answer:" (or "The answer is", or inside ``\\boxed{}``), else ``None``."""
    boxed = _BOXED.findall(text)
    if boxed:
        return boxed[-1].strip()
    match = _ANSWER.search(normalize(text))
    if match:
        return match.group(1).strip().rstrip(".")
    return None


def format_number(value: Fraction | int) -> str:
    """The canonical text of a number: an integer, or a reduced fraction such as "7/3"."""
    value = Fraction(value)
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


_WORD = re.compile(r"[a-z]+|\d+")


def yes_no_answer(text: str, yes_words: frozenset[str], no_words: frozenset[str]) -> str | None:
    """ "yes" or "no" from a final answer ("Answer: yes", "true", "\\boxed{no}"), else ``None``.

    The first word of the answer decides, looked up in the task's ``yes_words``/``no_words``; a bare
    text without an "Answer:" counts only when it is exactly yes, no, true or false.
    """
    inner = answer_text(text)
    if inner is None:
        inner = normalize(text)
        if inner not in ("yes", "no", "true", "false"):
            return None
    words = _WORD.findall(inner.lower())
    if not words:
        return None
    return "yes" if words[0] in yes_words else "no" if words[0] in no_words else None
