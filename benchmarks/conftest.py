"""Shared fixtures of the benchmarks."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

_SEEDS = itertools.count(1)


@pytest.fixture
def fresh_seeds() -> Iterator[int]:
    """Seeds no other benchmark of the session used: the tasks memoise pure functions of a problem (bounded
    lru caches), so two benchmarks replaying the same problems would time warm caches that training, which
    draws fresh problems, does not get."""
    return _SEEDS
