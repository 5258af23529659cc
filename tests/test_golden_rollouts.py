"""Golden rollouts: for every task, level and interface, fixed seeds give byte-identical episodes.

A guard for speed work: caches and precomputation inside the tasks and the env must not change a
single problem, expert step, candidate set, observation, info or reward. Each case below plays a
deterministic mix of expert, random and malformed actions; every reset and step is hashed
(observation, reward, flags and the whole info dict, exactly: floats by their hex form, arrays by
dtype, shape and bytes) and compared with ``tests/data/golden_rollouts.json``, recorded from the
code before any optimisation.

A wider check plays 200 more seeds per task, level and interface (`WIDE_SEEDS`) and compares one
hash per (task, level, interface) with ``tests/data/golden_rollouts_wide.json``, recorded from commit
c2fcf00 (before the speed work of its session).

Re-record (only when a change is MEANT to change what agents see, with a task version bump):
``python tests/test_golden_rollouts.py --record``.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import srl_gym  # noqa: F401  (registers the ids)
from srl_gym.registration import TASKS

DATA = Path(__file__).parent / "data" / "golden_rollouts.json"
WIDE_DATA = Path(__file__).parent / "data" / "golden_rollouts_wide.json"
WIDE_SEEDS = range(100, 300)  # one episode pair each; scored by lcs when seed % 3 == 0, else difflib
SEEDS = (0, 1, 2)
EPISODES_PER_SEED = 2  # reset(seed=s), then reset() once more: the env's own RNG carries on
MAX_STEPS_PER_EPISODE = 40
HASH_HEX = 12  # 48 bits per record

# Text steps an agent might write that are not the expert's (parsed or rejected by the task).
JUNK = ("", "   ", "move", "Answer: 12", "x = 3", "1 -> 3", "Step 1: ???", "<think>hmm</think>", "A" * 300)


def _feed(h: Any, value: Any) -> None:
    """Feed an exact, type-tagged serialisation of ``value`` to the hash ``h``."""
    if isinstance(value, np.ndarray):
        h.update(f"nd:{value.dtype.str}:{value.shape}:".encode())
        h.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, dict):
        h.update(f"dict:{len(value)}:".encode())
        for key in sorted(value):
            _feed(h, key)
            _feed(h, value[key])
    elif isinstance(value, (list, tuple)):
        h.update(f"{type(value).__name__}:{len(value)}:".encode())
        for item in value:
            _feed(h, item)
    elif isinstance(value, (float, np.floating)):
        h.update(f"{type(value).__name__}:{float(value).hex()};".encode())
    elif isinstance(value, str):
        h.update(f"str:{len(value)}:".encode() + value.encode("utf-8", "surrogatepass"))
    else:  # bool, int, numpy ints, None
        h.update(f"{type(value).__name__}:{value!r};".encode())


def digest(*values: Any) -> str:
    h = hashlib.blake2b(digest_size=16)
    for value in values:
        _feed(h, value)
    return h.hexdigest()[:HASH_HEX]


def text_action(env: gym.Env, info: dict, rng: random.Random) -> str:
    """The expert's step (half the time), a step the agent might plausibly write, or junk."""
    roll = rng.random()
    expert = info["expert_step"]
    if roll < 0.5 or not expert:
        return expert
    if roll < 0.6:
        return f"<think>Let me see.</think> {expert.lower()}"
    if roll < 0.7:
        cut = rng.randrange(len(expert))
        return expert[:cut] + expert[cut + 1 :]  # one character dropped
    if roll < 0.85:  # a legal-looking step other than the expert's: a random move or candidate
        task, state = env.unwrapped.task, env.unwrapped.state
        moves = task.move_set()
        if moves is not None:
            return task.format_step(state, rng.choice(list(moves)))
        options, _ = task.candidates(state, random.Random(rng.random()))
        return task.format_step(state, rng.choice(options)) if options else expert
    return rng.choice(JUNK)


def discrete_action(env: gym.Env, info: dict, rng: random.Random) -> int:
    """The expert's index (half the time), a uniform random index, or one the mask forbids."""
    roll = rng.random()
    if roll < 0.5 and info["expert_action"] >= 0:
        return int(info["expert_action"])
    masked = np.flatnonzero(info["action_mask"] == 0)
    if roll < 0.65 and masked.size:
        return int(rng.choice(masked.tolist()))
    return rng.randrange(env.action_space.n)


def play(env_id: str, difficulty: int, interface: str, seed: int, **options: Any) -> list[str]:
    """The hashes of every reset and step of the case's episodes."""
    env = gym.make(env_id, interface=interface, difficulty=difficulty, **options)
    rng = random.Random(f"golden:{env_id}:{difficulty}:{interface}:{seed}:{sorted(options.items())}")
    choose = text_action if interface == "text" else discrete_action
    records = []
    for episode in range(EPISODES_PER_SEED):
        obs, info = env.reset(seed=seed) if episode == 0 else env.reset()
        problem = env.unwrapped.problem
        records.append(digest("reset", problem.text, problem.answer, obs, info))
        for _ in range(MAX_STEPS_PER_EPISODE):
            obs, reward, terminated, truncated, info = env.step(choose(env, info, rng))
            records.append(digest(obs, reward, terminated, truncated, info))
            if terminated or truncated:
                break
    env.close()
    return records


def cases() -> list[tuple[str, str, int, str, int, dict]]:
    """(case id, env id, level, interface, seed, env options) for every case."""
    out = []
    for entry in TASKS:
        task_class = entry.load()
        for difficulty in range(len(task_class.levels)):
            for interface in ("text", "discrete"):
                for seed in SEEDS:  # both scorers on both interfaces (difflib is the default)
                    similarity = "lcs" if seed == 1 else "difflib"
                    case = f"{entry.name}/L{difficulty}/{interface}/s{seed}"
                    out.append((case, entry.env_id, difficulty, interface, seed, {"similarity": similarity}))
            if task_class.has_wrong_steps and task_class.replans:  # the noisy teacher-forced expert
                options = {"teacher_forcing": True, "expert_noise": 0.3, "reward": "mixed"}
                out.append((f"{entry.name}/L{difficulty}/text-noisy/s0", entry.env_id, difficulty, "text", 0, options))
    return out


CASES = cases()


def load_golden() -> dict[str, str]:
    return json.loads(DATA.read_text())["cases"]


@pytest.mark.parametrize("task_name", [e.name for e in TASKS])
def test_rollouts_are_byte_identical_to_the_recording(task_name):
    golden = load_golden()
    mismatches = []
    for case, env_id, difficulty, interface, seed, options in CASES:
        if not case.startswith(f"{task_name}/"):
            continue
        expected = golden[case].split()
        got = play(env_id, difficulty, interface, seed, **options)
        if got != expected:
            pairs = enumerate(zip(got, expected, strict=False))
            first = next((i for i, (a, b) in pairs if a != b), min(len(got), len(expected)))
            mismatches.append(f"{case}: record {first} differs ({len(got)} vs {len(expected)} records)")
    assert not mismatches, "\n".join(mismatches)


def test_every_case_is_recorded():
    assert sorted(load_golden()) == sorted(case for case, *_ in CASES)


def wide_digests(entry) -> dict[str, str]:
    """One hash per (level, interface) of ``entry``'s task: every record of every `WIDE_SEEDS` case, in order."""
    out = {}
    for difficulty in range(len(entry.load().levels)):
        for interface in ("text", "discrete"):
            h = hashlib.blake2b(digest_size=16)
            for seed in WIDE_SEEDS:
                similarity = "lcs" if seed % 3 == 0 else "difflib"
                records = play(entry.env_id, difficulty, interface, seed, similarity=similarity)
                h.update((" ".join(records) + "\n").encode())
            out[f"{entry.name}/L{difficulty}/{interface}"] = h.hexdigest()
    return out


@pytest.mark.slow
@pytest.mark.parametrize("entry", [pytest.param(e, id=e.name) for e in TASKS])
def test_wide_rollouts_are_byte_identical_to_the_recording(entry):
    golden = json.loads(WIDE_DATA.read_text())["cases"]
    got = wide_digests(entry)
    assert got == {case: golden[case] for case in got}, "a task's episodes changed on some seed of WIDE_SEEDS"


def record() -> None:
    golden = {case: " ".join(play(env_id, d, i, s, **o)) for case, env_id, d, i, s, o in CASES}
    DATA.write_text(json.dumps({"hash": f"blake2b, first {HASH_HEX} hex digits", "cases": golden}, indent=0) + "\n")
    print(f"recorded {len(golden)} cases, {sum(len(v.split()) for v in golden.values())} records -> {DATA}")
    wide = {case: digest for entry in TASKS for case, digest in wide_digests(entry).items()}
    header = "blake2b-128 of every WIDE_SEEDS case's records"
    WIDE_DATA.write_text(json.dumps({"hash": header, "cases": wide}, indent=0) + "\n")
    print(f"recorded {len(wide)} wide cases -> {WIDE_DATA}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        sys.exit("usage: python tests/test_golden_rollouts.py --record")
    record()
