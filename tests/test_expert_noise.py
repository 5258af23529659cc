"""The env's ``expert_noise``: a flawed expert on purpose, for training data only.

What is checked: 0 is today's expert bit for bit; the noise is seeded and touches nothing else;
it strikes at rate p where a wrong step exists; a noisy trajectory replays through the task and
ends solved (the verifier accepts it); the test split, bad values, and tasks with no legal wrong
step or no oracle are refused; ``Task.has_wrong_steps`` agrees with the tasks.
"""

from __future__ import annotations

import json
import math
import random

import gymnasium as gym
import pytest

import srl_gym  # noqa: F401  (registers the srl/ ids)
from srl_gym.env import ReasoningEnv
from srl_gym.episodes import make_text_env, solution_examples, step_instances, verify_solution
from srl_gym.prompts import solution_target
from srl_gym.registration import TASKS

GENERATED = [e for e in TASKS if e.load().replans]
NOISY = [pytest.param(e, id=e.name) for e in GENERATED if e.load().has_wrong_steps]
CLEAN_ONLY = [pytest.param(e, id=e.name) for e in GENERATED if not e.load().has_wrong_steps]
#: One task per domain, and two that refuse noise (p = 0 must still work everywhere).
ZERO_NOISE_IDS = [
    "srl/GridMaze-v0", "srl/BlocksWorld-v0", "srl/Countdown-v0", "srl/Syllogism-v0",
    "srl/LongMultiplication-v0", "srl/Trajectories-v0",
]  # fmt: skip


def noisy_env(env_id: str, noise: float, difficulty: int = 0) -> ReasoningEnv:
    return make_text_env(env_id, difficulty=difficulty, expert_noise=noise)


def noisy_indices(env: ReasoningEnv) -> list[int]:
    """The steps of the env's expert trajectory that are not the oracle's (what the noise changed)."""
    task = env.task
    return [k for k, (state, action, _) in enumerate(env.expert_steps) if action != task.expert_action(state)]


# ---------------------------------------------------------------------- p = 0 is today's expert


@pytest.mark.parametrize("env_id", ZERO_NOISE_IDS)
def test_zero_noise_is_todays_expert_bit_for_bit(env_id):
    seeds = range(5)
    for split in ("train", "test"):  # 0 is no noise, so the test split takes it too
        zero_steps = step_instances(env_id, seeds, split=split, expert_noise=0.0)
        assert zero_steps == step_instances(env_id, seeds, split=split)
        plain = solution_examples(env_id, seeds, split=split)
        zero = solution_examples(env_id, seeds, split=split, expert_noise=0)
        assert [(e.observation, e.steps, e.problem, e.seed) for e in zero] == [
            (e.observation, e.steps, e.problem, e.seed) for e in plain
        ]
    env = noisy_env(env_id, 0.0)
    for seed in seeds:
        env.reset(seed=seed)
        assert env.expert_steps == env.task.expert_trajectory(env.problem.initial_state)


def test_zero_noise_draws_nothing_and_works_in_every_mode():
    task = make_text_env("srl/Hanoi-v0").task
    state = task.generate(random.Random(0)).initial_state
    rng = random.Random(7)
    before = rng.getstate()
    assert task.noisy_expert_trajectory(state, 0.0, rng, noise_steps=100) == task.expert_trajectory(state)
    assert rng.getstate() == before
    for kwargs in ({"interface": "discrete"}, {"split": "test"}, {"teacher_forcing": False}):  # refused only for p > 0
        plain, zero = gym.make("srl/Countdown-v0", **kwargs), gym.make("srl/Countdown-v0", expert_noise=0.0, **kwargs)
        obs_plain, info_plain = plain.reset(seed=3)
        obs_zero, info_zero = zero.reset(seed=3)
        assert str(obs_plain) == str(obs_zero) and info_plain.keys() == info_zero.keys()
        assert plain.unwrapped.expert_steps == zero.unwrapped.expert_steps


# ---------------------------------------------------------------------- seeded, and nothing else moves


@pytest.mark.parametrize("env_id", ["srl/BlocksWorld-v0", "srl/Syllogism-v0"])
def test_noise_is_seeded_and_changes_only_the_expert_steps(env_id):
    clean, a, b = noisy_env(env_id, 0.0, 1), noisy_env(env_id, 0.4, 1), noisy_env(env_id, 0.4, 1)
    trajectories, changed = [], 0
    for seed in range(12):
        obs_clean, _ = clean.reset(seed=seed)
        obs_a, info_a = a.reset(seed=seed)
        b.reset(seed=seed)
        assert a.expert_steps == b.expert_steps  # same seed, same flawed expert, in a fresh env too
        assert obs_a == obs_clean and a.problem == clean.problem  # the problem is the clean env's
        assert a._rng.getstate() == clean._rng.getstate()  # the env's own RNG drew nothing more
        assert info_a["expert_step"] == a.expert_steps[0][2]
        trajectories.append(a.expert_steps)
        changed += a.expert_steps != clean.expert_steps
    a.reset(seed=5)
    assert a.expert_steps == trajectories[5]  # reseeding the same env gives it again
    assert changed > 0


def test_noise_strikes_at_rate_p_where_a_wrong_step_exists():
    # Move-set tasks: whether a wrong step exists does not depend on the noise RNG, so every
    # step within the noise window that has one is a Bernoulli(p) draw.
    p = 0.25
    for env_id in ("srl/GridMaze-v0", "srl/SlidingPuzzle-v0", "srl/BlocksWorld-v0"):
        env = noisy_env(env_id, p, 1)
        task = env.task
        chances = hits = 0
        for seed in range(150):
            env.reset(seed=seed)
            for k, (state, action, _) in enumerate(env.expert_steps):
                expert = task.expert_action(state)
                if k < env.max_steps and task.wrong_steps(state, expert, random.Random(0)):
                    chances += 1
                    hits += action != expert
                elif k >= env.max_steps:
                    assert action == expert  # past the window the oracle finishes alone
        tolerance = 4 * math.sqrt(p * (1 - p) / chances)
        assert chances > 1000 and abs(hits / chances - p) < tolerance, (env_id, hits, chances)


# ---------------------------------------------------------------------- noisy trajectories still end solved


@pytest.mark.parametrize("noise", [0.3, 1.0])
@pytest.mark.parametrize("entry", NOISY)
def test_noisy_trajectories_replay_and_end_solved(entry, noise):
    changed = 0
    for difficulty in (0, 1, 2):
        env = noisy_env(entry.env_id, noise, difficulty)
        task = env.task
        for seed in range(5):
            obs, info = env.reset(seed=seed)
            problem, steps = env.problem, env.expert_steps
            changed += len(noisy_indices(env))
            state, texts = problem.initial_state, []
            for before, action, text in steps:  # every step applies where the one before left off
                assert before == state and not task.is_terminal(state)
                assert task.parse_step(state, text) == action and task.format_step(state, action) == text
                state = task.apply(state, action)
                texts.append(text)
            assert task.is_terminal(state) and task.is_solved(problem, state)
            assert task.verify(problem, task.answer(problem, state, texts))
            assert verify_solution(task, problem, solution_target(texts))  # the SFT target passes the verifier
            done, rewards = False, []
            while not done:  # teacher forcing replays it, and the expert's step is valid at every step
                obs, reward, terminated, truncated, info = env.step(info["expert_step"])
                assert info["valid"] and info["step_similarity"] == 1.0
                done = terminated or truncated
                rewards.append(reward)
            assert terminated and info["solved"] and len(rewards) == len(steps)
    assert changed > 0


def test_noise_one_errs_wherever_it_can_then_the_oracle_finishes():
    env = noisy_env("srl/Hanoi-v0", 1.0, 1)
    task = env.task
    for seed in range(5):
        env.reset(seed=seed)
        for k, (state, action, _) in enumerate(env.expert_steps):
            assert (action != task.expert_action(state)) == (k < env.max_steps)  # Hanoi always has a detour
        assert len(env.expert_steps) > env.max_steps


def test_step_instances_and_solutions_carry_the_same_noisy_trajectory():
    seeds = range(6)
    instances = step_instances("srl/GridMaze-v0", seeds, difficulty=1, expert_noise=0.3)
    examples = solution_examples("srl/GridMaze-v0", seeds, difficulty=1, expert_noise=0.3)
    clean = solution_examples("srl/GridMaze-v0", seeds, difficulty=1)
    by_seed: dict[int, list[str]] = {}
    for instance in instances:
        assert instance.index == len(by_seed.setdefault(instance.seed, []))
        by_seed[instance.seed].append(instance.expert_step)
    assert {e.seed: list(e.steps) for e in examples} == by_seed
    assert [e.problem for e in examples] == [e.problem for e in clean]
    assert any(e.steps != c.steps for e, c in zip(examples, clean, strict=True))


def test_the_verifier_behind_outcome_rewards_is_never_noisy():
    from srl_gym.rewards import _problem

    noisy_key = json.dumps({"expert_noise": 0.5})
    for seed in range(4):  # a noisy dataset row rebuilds exactly the clean problem for the verifier
        noisy_row, clean_row = (_problem("srl/Countdown-v0", "train", 1, seed, key) for key in (noisy_key, "{}"))
        assert noisy_row[1] == clean_row[1]


# ---------------------------------------------------------------------- refusals


def test_the_test_split_refuses_noise():
    with pytest.raises(ValueError, match="test split is never noisy.*split='train'"):
        gym.make("srl/Hanoi-v0", split="test", teacher_forcing=True, expert_noise=0.1)
    with pytest.raises(ValueError, match="test split is never noisy"):
        step_instances("srl/Hanoi-v0", range(2), split="test", expert_noise=0.1)
    with pytest.raises(ValueError, match="test split is never noisy"):
        solution_examples("srl/Hanoi-v0", range(2), split="test", expert_noise=1.0)


@pytest.mark.parametrize(
    ("value", "error"),
    [(-0.1, ValueError), (1.5, ValueError), (float("nan"), ValueError), ("0.2", TypeError), (True, TypeError),
     (None, TypeError)],
)  # fmt: skip
def test_bad_noise_values_are_refused(value, error):
    with pytest.raises(error, match=r"expert_noise must be (a number )?in \[0, 1\]"):
        gym.make("srl/Hanoi-v0", teacher_forcing=True, expert_noise=value)
    task = make_text_env("srl/Hanoi-v0").task
    with pytest.raises(error, match=r"expert_noise"):
        task.noisy_expert_trajectory(task.generate(random.Random(0)).initial_state, value, random.Random(0), 10)


@pytest.mark.parametrize("entry", CLEAN_ONLY)
def test_tasks_without_a_legal_wrong_step_refuse_noise(entry):
    with pytest.raises(ValueError, match=f"expert_noise=0.2: {entry.name} has no legal wrong step"):
        gym.make(entry.env_id, teacher_forcing=True, expert_noise=0.2)


def test_noise_needs_an_oracle_teacher_forcing_and_text():
    with pytest.raises(ValueError, match="Trajectories has no oracle from any state"):
        gym.make("srl/Trajectories-v0", teacher_forcing=True, expert_noise=0.2)
    with pytest.raises(ValueError, match="needs teacher_forcing=True"):
        gym.make("srl/Hanoi-v0", expert_noise=0.2)
    with pytest.raises(ValueError, match="needs interface='text'"):
        gym.make("srl/Hanoi-v0", teacher_forcing=True, interface="discrete", expert_noise=0.2)


@pytest.mark.parametrize("entry", [pytest.param(e, id=e.name) for e in GENERATED])
def test_has_wrong_steps_agrees_with_the_task(entry):
    # The flag is a declaration; check it against what `wrong_steps` finds along clean trajectories.
    cls, found = entry.load(), False
    for difficulty in range(len(cls.levels)):
        task, rng = cls(difficulty=difficulty), random.Random(difficulty)
        for seed in range(3):
            for state, action, _ in task.expert_trajectory(task.generate(random.Random(seed)).initial_state):
                found = found or bool(task.wrong_steps(state, action, rng))
        if found:
            break
    assert found == cls.has_wrong_steps


# ---------------------------------------------------------------------- the trainers' expert_noise option
def test_a_trainers_expert_noise_flaws_its_training_rows_and_nothing_else():
    pytest.importorskip("datasets")
    from srl_gym.agents import sft, srl
    from srl_gym.agents.lm_common import task_rows
    from srl_gym.rewards import outcome_reward_func

    options = {"env_id": "srl/Hanoi-v0", "difficulty": 1, "train_seeds": 24}
    noisy, clean = srl.Args(expert_noise=0.5, **options), srl.Args(**options)
    noisy.validate()
    rows, clean_rows = task_rows(noisy, None, "step"), task_rows(clean, None, "step")
    assert len(rows) > len(clean_rows)  # detours make the trajectories longer
    assert task_rows(noisy, None, "step")["expert_step"] == rows["expert_step"]  # seeded
    held_out = task_rows(noisy, None, "step", split="test")  # held-out rows stay the oracle's
    assert held_out["expert_step"] == task_rows(clean, None, "step", split="test")["expert_step"]
    # SFT's whole solutions are the flawed expert's too, and still solve the problem (the oracle re-plans)
    solutions = task_rows(sft.Args(expert_noise=0.5, **options), None, "solution")
    clean_solutions = task_rows(sft.Args(**options), None, "solution")
    assert solutions["completion"] != clean_solutions["completion"] and solutions["prompt"] == clean_solutions["prompt"]
    rewards = outcome_reward_func(solutions["completion"], **{k: solutions[k] for k in
                                  ("env_id", "seed", "split", "difficulty", "env_kwargs")})  # fmt: skip
    assert rewards == [1.0] * len(solutions)


def test_a_trainer_refuses_noise_on_a_task_without_a_legal_wrong_step():
    pytest.importorskip("datasets")
    from srl_gym.agents import srl

    with pytest.raises(ValueError, match="legal wrong step"):
        srl.Args(env_id="srl/LongMultiplication-v0", expert_noise=0.1).validate()
