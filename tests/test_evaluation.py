"""`srl_gym.evaluate`: the same episodes whether an agent plays them one by one or in a batch."""

from __future__ import annotations

import zlib

import pytest

from srl_gym.evaluation import ExpertAgent, evaluate

ENV_ID = "srl/Hanoi-v0"


class Erratic:
    """Takes the expert's step unless a hash of the observation says otherwise (then an illegal one).

    Deterministic in the observation alone, so episodes differ in length and outcome, and a batch
    agent and a one-by-one agent must play exactly the same episodes.
    """

    def __init__(self) -> None:
        self.calls: list[int] = []

    def act(self, observation, info):
        return self.act_batch([observation], [info])[0]

    def act_batch(self, observations, infos):
        self.calls.append(len(observations))
        return [
            info["expert_step"] if zlib.crc32(obs.encode()) % 3 else "Move disk 9 from A to B"
            for obs, info in zip(observations, infos, strict=True)
        ]


class OneByOne:
    def __init__(self) -> None:
        self.inner = Erratic()

    def act(self, observation, info):
        return self.inner.act(observation, info)


def test_a_batch_plays_the_same_episodes_as_one_by_one_and_stays_full():
    batched, single = Erratic(), OneByOne()
    kwargs = {"episodes": 11, "seed": 3, "difficulty": [0, 1], "split": "test", "max_steps": 12}
    a = evaluate(batched, ENV_ID, batch_size=4, **kwargs)
    b = evaluate(single, ENV_ID, **kwargs)
    assert a.episodes == b.episodes and a.per_difficulty == b.per_difficulty
    assert [e.seed for e in a.episodes] == list(range(3, 14)) * 2
    assert 0 < a.success_rate < 1 and len({e.length for e in a.episodes}) > 2  # mixed outcomes and lengths
    assert max(batched.calls) == 4
    # A finished episode's env takes the next seed at once: per level, every call is full until the
    # seeds run out, then the batch only shrinks; so there are fewer calls than when each batch of 4
    # waits for its longest episode.
    calls, chunked = list(batched.calls), 0
    for level in (0, 1):
        lengths = [e.length for e in a.episodes if e.difficulty == level]
        chunked += sum(max(lengths[i : i + 4]) for i in range(0, len(lengths), 4))
        mine, total = [], sum(lengths)
        while sum(mine) < total:
            mine.append(calls.pop(0))
        assert sum(mine) == total
        full = [n for n in mine if n == 4]
        tail = mine[len(full) :]
        assert mine[: len(full)] == full and all(x >= y for x, y in zip(tail, tail[1:], strict=False))
    assert not calls and len(batched.calls) < chunked


def test_the_expert_solves_every_problem_in_a_batch():
    result = evaluate(ExpertAgent(), ENV_ID, episodes=7, split="test", batch_size=3, difficulty=1)
    assert result.success_rate == 1.0 and result.valid_fraction == 1.0 and result.mean_step_similarity == 1.0


@pytest.mark.parametrize("episodes", [0, -1, 2.0, True])
def test_bad_episode_counts_are_refused(episodes):
    with pytest.raises(ValueError, match="episodes must be a positive int"):
        evaluate(ExpertAgent(), ENV_ID, episodes=episodes)
