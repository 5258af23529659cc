"""`FastRandom` draws what ``random.Random`` draws, call for call, from the same seed."""

from __future__ import annotations

import copy
import pickle
import random

import pytest

from srl_gym.rng import FastRandom


def _calls(rng: random.Random, script: random.Random) -> list:
    """A long mixed sequence of calls (what the generators make), chosen by ``script``, on ``rng``."""
    out = []
    population = tuple(range(60))
    for _ in range(400):
        kind = script.randrange(9)
        n = script.choice((1, 2, 3, 5, 7, 8, 33, 36, 54, 100, 1000, 2**40 + 3))
        if kind == 0:
            out.append(rng.randrange(n))
        elif kind == 1:
            out.append(rng.randrange(-n, n))
        elif kind == 2:
            out.append(rng.randint(-3, n))
        elif kind == 3:
            out.append(rng.choice(population[: min(n, 60)]))
        elif kind == 4:
            items = list(range(min(n, 70)))
            rng.shuffle(items)
            out.append(items)
        elif kind == 5:
            k = script.randint(0, min(n, 60))
            out.append(rng.sample(population[: min(n, 60)], k))
        elif kind == 6:
            out.append(rng.sample(range(10**6), min(n, 30)))  # the base class's set algorithm
        elif kind == 7:
            out.append(rng.random())
        else:
            out.append((rng.randrange(0, n, 3), rng.choices("abc", k=2), rng.sample("abcd", 2, counts=[1, 2, 1, 1])))
    out.append(rng.getstate())
    return out


@pytest.mark.parametrize("seed", [0, 1, 2, 12345, 2**61 + 7])
def test_same_draws_as_random(seed):
    assert _calls(FastRandom(seed), random.Random(seed)) == _calls(random.Random(seed), random.Random(seed))


def test_errors_and_edge_cases_are_the_base_classs():
    fast, base = FastRandom(3), random.Random(3)
    for rng in (fast, base):
        for name, args in (("randrange", (0,)), ("randrange", (5, 5)), ("randint", (3, 2)), ("choice", ([],)),
                           ("sample", ([1, 2], 3))):  # fmt: skip
            with pytest.raises((ValueError, IndexError)):
                getattr(rng, name)(*args)
        with pytest.raises(TypeError):
            rng.sample({1, 2}, 1)
    assert [fast.randint(7, 7), fast.randrange(1), fast.sample([], 0)] == [base.randint(7, 7), base.randrange(1), []]
    assert fast.getstate() == base.getstate()


def test_pickles_and_copies_with_its_state():
    rng = FastRandom(9)
    rng.random()
    for other in (pickle.loads(pickle.dumps(rng)), copy.deepcopy(rng)):
        assert type(other) is FastRandom and other.getstate() == rng.getstate()


@pytest.mark.parametrize("size", [1022, 1023, 1024, 1025, 3000])
def test_long_shuffles_and_samples_past_the_bit_length_table(size):
    fast, base = FastRandom(size), random.Random(size)
    for rng in (fast, base):
        items = list(range(size))
        rng.shuffle(items)
        rng.items = items
        rng.picked = rng.sample(range(size), size - 3)
    assert (fast.items, fast.picked, fast.getstate()) == (base.items, base.picked, base.getstate())


def test_choices_by_cumulative_weights_draws_what_random_draws():
    fast, base = FastRandom(11), random.Random(11)
    for rng in (fast, base):
        rng.picked = [rng.choices(range(1, 8), cum_weights=(1, 7, 43, 73, 100, 101, 140))[0] for _ in range(300)]
        rng.picked += rng.choices("abc", cum_weights=[1, 1.5, 4], k=1) + rng.choices("abc", [1, 2, 3])
        rng.picked += rng.choices("ab") + rng.choices("abc", cum_weights=[1, 2, 3], k=3)
    assert (fast.picked, fast.getstate()) == (base.picked, base.getstate())
    for rng in (fast, base):
        for cum_weights in ([0, 0, 0], [1, 2], [1, 2, float("inf")], [1, 2, float("nan")]):
            with pytest.raises(ValueError):
                rng.choices("abc", cum_weights=cum_weights)


@pytest.mark.parametrize("seed", [0, 7, -5, 2**62 - 1, 2**100 + 1, "text", b"bytes", 3.5])
def test_seeding_is_random_randoms(seed):
    # An int seed takes FastRandom's own short path to the C seeding; anything else random.Random's.
    assert FastRandom(seed).getstate() == random.Random(seed).getstate()
