"""`srl_gym.evaluate`: the same episodes whether an agent plays them one by one or in a batch."""

from __future__ import annotations

import zlib

import pytest

from srl_gym.evaluation import ExpertAgent, evaluate

ENV_ID = "srl/Hanoi-v0"


class Erratic:
    """Takes the expert's step unless a hash of the observation says otherwise (then an illegal one).

    Deterministic in the observation alone, so episodes differ in length and outcome, and a batch
    agent and a one-by-one agent must play exactly the same episodes. It reads the oracle, so it
    says it is privileged.
    """

    privileged = True

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
    privileged = True

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


class DeterministicErratic(Erratic):
    deterministic = True  # its step is a function of the observation


def test_ending_loops_keeps_every_outcome_and_cuts_the_repeats():
    kwargs = {"episodes": 12, "seed": 0, "difficulty": [0, 1], "split": "test", "batch_size": 4, "max_steps": 30}
    full = evaluate(DeterministicErratic(), ENV_ID, **kwargs)
    cut_agent = DeterministicErratic()
    cut = evaluate(cut_agent, ENV_ID, end_loops=True, **kwargs)
    assert [e.solved for e in cut.episodes] == [e.solved for e in full.episodes]
    assert 0 < cut.success_rate < 1
    looped = [(c, f) for c, f in zip(cut.episodes, full.episodes, strict=True) if c.looped]
    assert looped and all(not c.solved and c.length < f.length == 30 for c, f in looped)  # each would have run out
    assert all(c == f for c, f in zip(cut.episodes, full.episodes, strict=True) if not c.looped)
    assert sum(cut_agent.calls) < sum(e.length for e in full.episodes)


def test_ending_loops_needs_an_agent_that_says_it_is_deterministic():
    with pytest.raises(ValueError, match="agent.deterministic"):
        evaluate(Erratic(), ENV_ID, episodes=2, end_loops=True)


def test_explicit_seeds_play_exactly_those_episodes():
    picked = evaluate(Erratic(), ENV_ID, seeds=[7, 2, 9], split="test", batch_size=2, max_steps=12)
    assert [e.seed for e in picked.episodes] == [7, 2, 9] and picked.seeds == [7, 2, 9]
    one = evaluate(Erratic(), ENV_ID, episodes=1, seed=2, split="test", max_steps=12)
    assert picked.episodes[1] == one.episodes[0]
    for bad in ([], [1.5], ["3"], [True]):
        with pytest.raises(ValueError, match="at least one seed, each an int"):
            evaluate(Erratic(), ENV_ID, seeds=bad)
