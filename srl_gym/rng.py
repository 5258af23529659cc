"""`FastRandom`: ``random.Random`` with its hot methods inlined, the same numbers draw for draw.

The env draws every problem (and the discrete candidates) from a ``random.Random`` seeded per
episode, and the generators call ``randint``, ``choice``, ``shuffle`` and ``sample`` many times per
problem: in CPython each goes through ``randrange`` and ``_randbelow``, two or three Python frames
per number. `FastRandom` overrides them with the same arithmetic in one frame (the rejection loop
of ``_randbelow_with_getrandbits`` on ``getrandbits``, CPython's own algorithm), so from the same
seed it returns the same values and leaves the generator in the same state as ``random.Random``:
a problem, a candidate set or anything drawn after them cannot change. Any call outside the fast
paths (other argument types, ``counts=``, a large ``sample``, errors) is the base class's.
``tests/test_rng.py`` checks long mixed call sequences against ``random.Random``.
"""

from __future__ import annotations

import _random
import random
from bisect import bisect
from collections.abc import Sequence
from math import ceil, isfinite, log
from typing import Any

#: ``(last + 1).bit_length()`` for every ``last`` below 1024 (a tuple index is cheaper than the method
#: call): the bits the pool loops of `FastRandom.shuffle` and `FastRandom.sample` draw to pick an index
#: in ``0..last``.
_BITS = tuple((last + 1).bit_length() for last in range(1024))


def _bits_up_to(last: int) -> tuple[int, ...]:
    return _BITS if last < len(_BITS) else tuple((i + 1).bit_length() for i in range(last + 1))


#: Sequences `FastRandom.sample` takes without asking ``isinstance(population, Sequence)`` (an ABC check).
_SEQUENCE_TYPES = frozenset({list, tuple, str, range})


class FastRandom(random.Random):
    """``random.Random`` whose ``randrange``, ``randint``, ``choice``, ``shuffle``, ``sample`` and ``choices``
    (one draw by cumulative weights) are inlined.

    Same seed, same draws, same results (see the module docstring); it pickles, copies and
    compares as a ``random.Random`` does.
    """

    def __init__(self, x: Any = None) -> None:
        if type(x) is int:  # what random.Random(x) does for an int, without its two Python frames (a reset makes one)
            _random.Random.seed(self, x)
            self.gauss_next = None
        else:
            super().__init__(x)

    def randrange(self, start: Any, stop: Any = None, step: Any = 1) -> int:
        if type(start) is int and step == 1 and type(step) is int:
            if stop is None:
                n, start = start, 0
            elif type(stop) is int:
                n = stop - start
            else:
                return super().randrange(start, stop, step)
            if n > 0:
                getrandbits = self.getrandbits
                bits = n.bit_length()
                r = getrandbits(bits)
                while r >= n:
                    r = getrandbits(bits)
                return start + r
        return super().randrange(start, stop, step)

    def randint(self, a: Any, b: Any) -> int:
        if type(a) is int and type(b) is int and b >= a:
            n = b - a + 1
            getrandbits = self.getrandbits
            bits = n.bit_length()
            r = getrandbits(bits)
            while r >= n:
                r = getrandbits(bits)
            return a + r
        return super().randint(a, b)

    def choice(self, seq: Any) -> Any:
        n = len(seq)
        if not n:
            return super().choice(seq)  # the base class's error
        getrandbits = self.getrandbits
        bits = n.bit_length()
        r = getrandbits(bits)
        while r >= n:
            r = getrandbits(bits)
        return seq[r]

    def choices(self, population: Any, weights: Any = None, *, cum_weights: Any = None, k: int = 1) -> list:
        if weights is None and cum_weights is not None and k == 1 and type(k) is int:  # one draw by cumulative weights
            n = len(population)
            if len(cum_weights) == n:
                total = cum_weights[-1] + 0.0
                if total > 0.0 and isfinite(total):  # (else the base class's error)
                    return [population[bisect(cum_weights, self.random() * total, 0, n - 1)]]
        return super().choices(population, weights, cum_weights=cum_weights, k=k)

    def shuffle(self, x: Any, *args: Any, **kwargs: Any) -> None:
        if args or kwargs:  # Python 3.10's deprecated ``random`` argument
            return super().shuffle(x, *args, **kwargs)
        getrandbits = self.getrandbits
        bits_of = _bits_up_to(len(x))
        for i in range(len(x) - 1, 0, -1):  # j in 0..i: the base class's _randbelow(i + 1)
            bits = bits_of[i]
            j = getrandbits(bits)
            while j > i:
                j = getrandbits(bits)
            x[i], x[j] = x[j], x[i]
        return None

    def sample(self, population: Any, k: int, *, counts: Any = None) -> list:
        if counts is not None or type(k) is not int:
            return super().sample(population, k, counts=counts)
        if type(population) not in _SEQUENCE_TYPES and not isinstance(population, Sequence):  # (an ABC check: slow)
            return super().sample(population, k, counts=counts)
        n = len(population)
        setsize = 21  # the base class's choice between its two algorithms, verbatim
        if k > 5:
            setsize += 4 ** ceil(log(k * 3, 4))
        if not 0 <= k <= n:
            return super().sample(population, k)  # the base class's error
        getrandbits = self.getrandbits
        if n > setsize:  # the base class's other algorithm: indices drawn in 0..n-1 until unseen
            bits = n.bit_length()
            selected: set[int] = set()
            result = []
            for _ in range(k):
                j = getrandbits(bits)
                while j >= n or j in selected:  # (_randbelow(n), redrawn while already selected)
                    j = getrandbits(bits)
                selected.add(j)
                result.append(population[j])
            return result
        bits_of = _bits_up_to(n)
        pool = list(population)
        result: list = []
        append = result.append
        for last in range(n - 1, n - k - 1, -1):  # draw i: j in 0..last, last = n - i - 1 (_randbelow(n - i))
            bits = bits_of[last]
            j = getrandbits(bits)
            while j > last:
                j = getrandbits(bits)
            append(pool[j])
            pool[j] = pool[last]  # move the non-selected item into the vacancy
        return result
