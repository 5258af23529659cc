"""The conventions of the tools users already run: Gymnasium's and Stable-Baselines3's info keys, masks,
checkers and errors, and the incremental text observation for chat-style multi-turn use."""

from __future__ import annotations

import random
import re

import gymnasium as gym
import numpy as np
import pytest

import srl_gym.evaluation
from srl_gym.env import INVALID_STEP_NOTE, env_options
from srl_gym.registration import TASKS

PLANNING = [e for e in TASKS if e.domain == "planning"]


# ---------------------------------------------------------------------- info["is_success"]
@pytest.mark.parametrize("teacher_forcing", [False, True])
def test_is_success_is_on_every_step_and_equals_solved_at_the_end(teacher_forcing):
    env = gym.make("srl/Hanoi-v0", teacher_forcing=teacher_forcing, max_steps=None if teacher_forcing else 12)
    for seed, fail in ((0, False), (1, True)):
        _, info = env.reset(seed=seed)
        done = False
        while not done:
            u = env.unwrapped
            # fail: on-policy, junk until the step limit; teacher-forced, a wrong last step
            junk = fail and (not teacher_forcing or u.steps_taken == len(u.expert_steps) - 1)
            _, _, terminated, truncated, info = env.step("Move disk 9 from A to B" if junk else info["expert_step"])
            done = terminated or truncated
            assert "is_success" in info and (done or info["is_success"] is False)
        assert info["is_success"] is info["solved"] is (not fail)


def test_a_time_limit_cut_reports_no_success_and_max_steps_reports_the_answer_too():
    cut = gym.make("srl/Hanoi-v0", difficulty=1, max_episode_steps=2)  # Gymnasium's TimeLimit wrapper
    _, info = cut.reset(seed=0)
    for _ in range(2):
        _, _, terminated, truncated, info = cut.step(info["expert_step"])
    assert truncated and not terminated and info["is_success"] is False and "solved" not in info
    own = gym.make("srl/Hanoi-v0", difficulty=1, max_steps=2)  # the env's own limit: the same cut, and more
    _, info = own.reset(seed=0)
    for _ in range(2):
        _, _, terminated, truncated, info = own.step(info["expert_step"])
    assert truncated and info["is_success"] is info["solved"] is False and "answer" in info


def test_sb3_logs_the_success_rate_with_no_wrapper():
    pytest.importorskip("stable_baselines3")
    from stable_baselines3 import PPO

    model = PPO("MlpPolicy", gym.make("srl/Hanoi-v0", interface="discrete"), n_steps=64, batch_size=32, seed=0)
    model.learn(128)
    assert len(model.ep_success_buffer) > 0  # what rollout/success_rate is computed from


# ---------------------------------------------------------------------- action masks
@pytest.mark.parametrize("entry", PLANNING + [e for e in TASKS if e.name == "Countdown"], ids=lambda e: e.name)
def test_maskable_ppo_finds_the_mask_with_no_wrapper(entry):
    pytest.importorskip("sb3_contrib")
    from sb3_contrib import MaskablePPO
    from sb3_contrib.common.maskable.utils import get_action_masks, is_masking_supported

    env = gym.make(entry.env_id, interface="discrete")
    _, info = env.reset(seed=0)
    assert is_masking_supported(env)
    assert np.array_equal(get_action_masks(env), info["action_mask"].astype(bool))
    model = MaskablePPO("MlpPolicy", env, n_steps=32, batch_size=16, seed=0)
    vec = model.get_env()
    assert is_masking_supported(vec) and get_action_masks(vec).dtype == bool
    model.learn(64)


def test_the_mask_after_the_last_step_lets_a_masked_sampler_draw_in_a_vector_env():
    envs = gym.make_vec("srl/Hanoi-v0", num_envs=3, interface="discrete")  # next-step autoreset
    _, infos = envs.reset(seed=0)
    rng = np.random.default_rng(0)
    ended = 0
    for _ in range(200):
        masks = infos["action_mask"]
        assert masks.any(axis=1).all()  # something to draw in every sub-env, the autoreset step included
        actions = np.array([rng.choice(np.flatnonzero(m)) for m in masks])
        _, _, terminated, truncated, infos = envs.step(actions)
        for i in np.flatnonzero(terminated | truncated):
            assert infos["action_mask"][i].all()  # the episode is over: all ones
            ended += 1
    assert ended > 3


def test_the_mask_before_reset_is_a_clear_error():
    env = gym.make("srl/Hanoi-v0", interface="discrete")
    with pytest.raises(RuntimeError, match="reset"):
        env.unwrapped.action_masks()


# ---------------------------------------------------------------------- checkers and errors
@pytest.mark.parametrize("entry", TASKS, ids=lambda e: e.name)
def test_sb3_checker_refuses_the_text_interface_as_the_readme_says(entry):
    """README: Gymnasium's checker passes on both interfaces (test_envs_common), SB3's on discrete only."""
    sb3_env_checker = pytest.importorskip("stable_baselines3.common.env_checker")
    with pytest.raises((AssertionError, TypeError)):
        sb3_env_checker.check_env(gym.make(entry.env_id).unwrapped, warn=False)


def test_an_array_based_agent_on_the_text_interface_is_told_to_use_discrete():
    pytest.importorskip("stable_baselines3")
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    with pytest.raises(TypeError, match=re.escape("interface='discrete'")):
        PPO("MlpPolicy", gym.make("srl/Hanoi-v0"))
    with pytest.raises(TypeError, match=re.escape("interface='discrete'")):
        make_vec_env("srl/Hanoi-v0", n_envs=2)  # how the RL Zoo builds its envs
    vec = make_vec_env("srl/Hanoi-v0", n_envs=2, env_kwargs={"interface": "discrete"})  # (it asks for rgb_array first)
    assert vec.reset().shape[0] == 2
    text = gym.make("srl/Hanoi-v0")
    assert text.observation_space == gym.make("srl/Hanoi-v0").observation_space  # the space is otherwise Text's
    assert isinstance(text.observation_space.sample(), str)


@pytest.mark.parametrize(("env_id", "own"), [("srl/Hanoi-v0", []), ("srl/Trajectories-v0", ["path", "split_mode"])])
def test_an_unknown_option_lists_every_real_option(env_id, own):
    with pytest.raises(TypeError) as error:
        gym.make(env_id, bogus=1)
    message = str(error.value)
    assert "['bogus']" in message
    for name in ("interface", "reward", "teacher_forcing", "observation", "max_steps", "expert_noise", *own):
        assert name in message
    assert set(env_options()) >= {"interface", "observation", "similarity", "difficulty"}


# ---------------------------------------------------------------------- incremental observations
def _play(entry, observation, seed, teacher_forcing, steps_rng):
    """Observations along one episode of random legal or junk steps (the same for every observation mode)."""
    env = gym.make(entry.env_id, observation=observation, teacher_forcing=teacher_forcing)
    obs, info = env.reset(seed=seed)
    out, full_views = [obs], [env.unwrapped._text_observation()]
    done = False
    while not done:
        u = env.unwrapped
        roll = steps_rng.random()
        if roll < 0.25:
            step = "certainly not a step"
        elif roll < 0.75 or not u.task.replans:
            step = info["expert_step"]
        else:
            moves = u.task.move_set()
            moves = list(moves) if moves is not None else u.task.candidates(u.state, random.Random(0))[0]
            step = u.task.format_step(u.state, steps_rng.choice(moves)) if moves else ""
        obs, _, terminated, truncated, info = env.step(step)
        out.append(obs)
        full_views.append(u._text_observation())
        done = terminated or truncated
    return out, full_views


@pytest.mark.parametrize("teacher_forcing", [False, True])
@pytest.mark.parametrize("entry", TASKS, ids=lambda e: e.name)
def test_incremental_observations_say_only_what_is_new_and_add_up_to_the_full_one(entry, teacher_forcing):
    for seed in range(3):
        full, _ = _play(entry, "full", seed, teacher_forcing, random.Random(seed))
        incremental, full_views = _play(entry, "incremental", seed, teacher_forcing, random.Random(seed))
        assert full == full_views and len(full) == len(incremental)
        assert incremental[0] == full[0]  # the first observation is the whole problem
        problem = full[0].split("\n\nSteps so far:")[0]
        lines: list[str] = []
        for before, after, news in zip(full, full[1:], incremental[1:], strict=False):
            assert problem not in news
            state = after.split("\n\nCurrent state:\n")[1] if "\n\nCurrent state:\n" in after else None
            if state is not None:
                assert news.endswith("Current state:\n" + state)
            added = [line for line in news.split("\n") if re.match(r"Step \d+: ", line)]
            if after == before and not teacher_forcing:  # an invalid step: nothing added
                assert news.startswith(INVALID_STEP_NOTE) and not added
            else:
                assert len(added) == 1 and not news.startswith(INVALID_STEP_NOTE)
            lines += added
            # the full observation is the problem, every step the incremental ones gave, and the state
            rebuilt = f"{problem}\n\nSteps so far:" + ("".join(f"\n{x}" for x in lines) if lines else " none")
            assert after == rebuilt + (f"\n\nCurrent state:\n{state}" if state is not None else "")
        assert max(len(x) for x in incremental[1:]) <= 2 * max(len(x) for x in incremental[1:2]) + 200


def test_a_chat_grows_linearly_with_incremental_observations():
    """Each observation as a new message: 4-disk Hanoi's conversation, full vs incremental."""
    sizes = {}
    for mode in ("full", "incremental"):
        env = gym.make("srl/Hanoi-v0", difficulty=1, observation=mode)
        obs, info = env.reset(seed=0)
        chat = [obs]
        while True:
            obs, _, terminated, truncated, info = env.step(info["expert_step"])
            chat.append(obs)
            if terminated or truncated:
                break
        sizes[mode] = [len(x) for x in chat]
    assert sizes["incremental"][0] == sizes["full"][0]
    assert max(sizes["incremental"][1:]) < 100 < sizes["full"][-1] - sizes["full"][1]
    assert sum(sizes["incremental"]) < 0.5 * sum(sizes["full"])


def test_incremental_is_refused_on_the_discrete_interface_and_bad_values_are_named():
    with pytest.raises(ValueError, match="text interface"):
        gym.make("srl/Hanoi-v0", interface="discrete", observation="incremental")
    with pytest.raises(ValueError, match="observation must be one of"):
        gym.make("srl/Hanoi-v0", observation="diff")


def test_evaluate_plays_incremental_observations_too():
    result = srl_gym.evaluation.evaluate(srl_gym.evaluation.ExpertAgent(), "srl/Hanoi-v0", episodes=3,
                                         observation="incremental")  # fmt: skip
    assert result.success_rate == 1.0


def test_trl_tool_results_with_incremental_observations_say_only_what_is_new():
    pytest.importorskip("datasets")
    from srl_gym.agents.trl_env import EPISODE_OVER, INVALID_STEP, environment_factory, episode_dataset

    env = environment_factory("srl/Hanoi-v0", observation="incremental")()
    row = episode_dataset("srl/Hanoi-v0", 1, observation="incremental")[0]
    assert env.reset(**row) is None  # the row's prompt shows the problem
    invalid = env.step("not a move")
    assert invalid.count(INVALID_STEP) == 1 and "Steps so far" not in invalid
    results = []
    while not env.done:
        results.append(env.step(env.env.unwrapped._expert_text))
    assert results[0].startswith("Step 1: ") and results[-1].endswith(EPISODE_OVER)
    assert all("Steps so far" not in r and r.count("Step ") == 1 for r in results)
