"""One parametrised suite over every registered id: the contract every task and interface keeps."""

from __future__ import annotations

import pickle
import random
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import srl_gym
from srl_gym.registration import TASKS

ENTRIES = [pytest.param(e, id=e.name) for e in TASKS]
MOVE_SET_ENTRIES = [pytest.param(e, id=e.name) for e in TASKS if e.load()().move_set() is not None]
INTERFACES = ["text", "discrete"]


def levels(entry) -> range:
    return range(len(entry.load().levels))


def expert_action(info: dict, interface: str):
    return info["expert_step"] if interface == "text" else info["expert_action"]


def run_expert(env: gym.Env, seed: int, interface: str) -> tuple[float, dict, list]:
    obs, info = env.reset(seed=seed)
    total, trace = 0.0, [obs]
    for _ in range(10_000):
        obs, reward, terminated, truncated, info = env.step(expert_action(info, interface))
        total += reward
        trace.append(obs)
        assert info["valid"] and info["step_similarity"] == 1.0, info
        if terminated or truncated:
            assert terminated and not truncated
            return total, info, trace
    raise AssertionError("expert never finished")


@pytest.mark.parametrize("interface", INTERFACES)
@pytest.mark.parametrize("entry", ENTRIES)
def test_gymnasium_check_env_without_warnings(entry, interface):
    for difficulty in levels(entry):
        env = gym.make(entry.env_id, interface=interface, difficulty=difficulty)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            check_env(env.unwrapped, skip_render_check=False)
        env.close()


@pytest.mark.parametrize("entry", ENTRIES)
def test_sb3_check_env_on_discrete_interface(entry):
    sb3_env_checker = pytest.importorskip("stable_baselines3.common.env_checker")
    env = gym.make(entry.env_id, interface="discrete")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sb3_env_checker.check_env(env.unwrapped, warn=True)


@pytest.mark.parametrize("teacher_forcing", [False, True])
@pytest.mark.parametrize("interface", INTERFACES)
@pytest.mark.parametrize("entry", ENTRIES)
def test_expert_solves_every_episode(entry, interface, teacher_forcing):
    for difficulty in levels(entry):
        for reward in ("srl", "outcome", "mixed"):
            env = gym.make(
                entry.env_id, interface=interface, difficulty=difficulty, reward=reward, teacher_forcing=teacher_forcing
            )
            for seed in range(3):
                total, info, _ = run_expert(env, seed, interface)
                assert info["solved"] is True
                task = env.unwrapped.task
                assert task.verify(env.unwrapped.problem, info["answer"])
                assert total == pytest.approx({"srl": 1.0, "outcome": 1.0, "mixed": 1.0}[reward])
                if interface == "discrete":
                    assert info["expert_action"] == -1


@pytest.mark.parametrize("interface", INTERFACES)
@pytest.mark.parametrize("entry", ENTRIES)
def test_seeding_same_seed_same_episode_different_seeds_differ(entry, interface):
    env = gym.make(entry.env_id, interface=interface, difficulty=len(entry.load().levels) - 1)
    _, _, first = run_expert(env, 123, interface)
    _, _, again = run_expert(env, 123, interface)
    assert all(np.array_equal(a, b) if interface == "discrete" else a == b for a, b in zip(first, again, strict=True))
    problems = set()
    for seed in range(8):
        env.reset(seed=seed)
        problems.add(env.unwrapped.problem.text)
    assert len(problems) > 1


@pytest.mark.parametrize("interface", INTERFACES)
@pytest.mark.parametrize("entry", ENTRIES)
def test_env_pickles_and_continues_identically(entry, interface):
    env = gym.make(entry.env_id, interface=interface)
    _, info = env.reset(seed=7)
    clone = pickle.loads(pickle.dumps(env))
    for _ in range(3):
        action = expert_action(info, interface)
        a = env.step(action)
        b = clone.step(action)
        assert (np.array_equal(a[0], b[0]) if interface == "discrete" else a[0] == b[0]) and a[1:4] == b[1:4]
        info = a[4]
        if a[2] or a[3]:
            break


@pytest.mark.parametrize("entry", ENTRIES)
def test_train_and_test_splits_are_disjoint(entry):
    for difficulty in levels(entry):
        texts = {}
        for split in ("train", "test"):
            env = gym.make(entry.env_id, split=split, difficulty=difficulty)
            texts[split] = set()
            for seed in range(30):
                env.reset(seed=seed)
                text = env.unwrapped.problem.text
                assert srl_gym.problem_split(text) == split
                texts[split].add(text)
        assert texts["train"] and texts["test"]
        assert not texts["train"] & texts["test"]


JUNK = st.one_of(
    st.text(max_size=200),
    st.binary(max_size=100).map(lambda b: b.decode("latin-1")),
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "</think>",
            "<think>",
            "Answer:",
            "answer: 12",
            "move",
            "1 -> 3",
            "x = ",
            "Step 1:",
            "\u2192\u2192",
            "\ud7ff" * 3,
            "A" * 1_000_000,
            "99999999999999999999999999",
        ]
    ),
)


@pytest.mark.parametrize("entry", ENTRIES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(JUNK, min_size=1, max_size=4), seed=st.integers(0, 2**16))
def test_fuzzed_text_steps_never_crash_and_env_stays_usable(entry, steps, seed):
    env = gym.make(entry.env_id)
    obs, info = env.reset(seed=seed)
    done = False
    for step in steps:
        obs, reward, terminated, truncated, info = env.step(step)
        assert env.observation_space.contains(obs)
        assert isinstance(reward, float) and np.isfinite(reward)
        if not info["valid"]:
            assert reward < 0
        done = terminated or truncated
        if done:
            break
    if not done:  # the expert can still finish from wherever the junk left the env
        for _ in range(10_000):
            obs, _, terminated, truncated, info = env.step(info["expert_step"])
            assert info["valid"]
            if terminated or truncated:
                break
        assert terminated


def episode_return(env: gym.Env, policy, seed: int) -> float:
    obs, info = env.reset(seed=seed)
    total = 0.0
    while True:
        obs, reward, terminated, truncated, info = env.step(policy(obs, info))
        total += reward
        if terminated or truncated:
            return total


@pytest.mark.parametrize("reward", ["srl", "mixed"])
@pytest.mark.parametrize("entry", ENTRIES)
def test_dense_reward_cannot_be_farmed(entry, reward):
    """Random, stalling and looping agents earn strictly less than the expert, on-policy."""
    env = gym.make(entry.env_id, interface="discrete", reward=reward)
    rng = random.Random(0)

    def random_agent(obs, info):
        legal = np.flatnonzero(info["action_mask"])
        return int(rng.choice(legal)) if len(legal) else 0

    def looping_agent(obs, info):
        # Alternates between the two first legal actions: back-and-forth moves, or repeats.
        legal = np.flatnonzero(info["action_mask"])
        looping_agent.t += 1
        return int(legal[looping_agent.t % min(2, len(legal))])

    looping_agent.t = 0
    text_env = gym.make(entry.env_id, reward=reward)
    agents = {
        "random": (env, random_agent),
        "looping": (env, looping_agent),
        "stalling": (text_env, lambda o, i: ""),
        "chatty": (text_env, lambda o, i: "I am thinking."),
    }
    seeds = range(6)
    expert = [episode_return(env, lambda o, i: i["expert_action"], seed) for seed in seeds]
    for name, (agent_env, policy) in agents.items():
        returns = [episode_return(agent_env, policy, seed) for seed in seeds]
        # No episode beats the expert; an agent can tie only by taking the expert's very steps.
        assert all(r <= e + 1e-9 for r, e in zip(returns, expert, strict=True)), name
        assert sum(returns) < sum(expert), name


@pytest.mark.parametrize("entry", ENTRIES)
def test_steps_round_trip_and_parser_tolerates_model_styles(entry):
    task = entry.load()(difficulty=0)
    env = srl_gym.ReasoningEnv(task)
    for seed in range(3):
        env.reset(seed=seed)
        for state, action, text in env.expert_steps:
            assert task.parse_step(state, text) == action
            for variant in (text.lower(), text.upper(), f"Step 3: {text}.", f"  {text}  ", f"**{text}**"):
                assert task.parse_step(state, variant) == action, variant
            assert srl_gym.rewards.split_think(f"<think>plan</think>{text}")[1] == text


@pytest.mark.parametrize("entry", ENTRIES)
def test_known_expert_length_and_the_lazy_trajectory_are_the_expert_trajectory(entry):
    """The env computes the expert trajectory when first asked for it, and takes the default step limit from
    `Task.known_expert_length` when the task knows it: both must be what `Task.expert_trajectory` gives."""
    cls = entry.load()
    for difficulty in range(len(cls.levels)):
        task = cls(difficulty=difficulty)
        env = srl_gym.ReasoningEnv(task, interface="discrete")
        for seed in range(25):
            env.reset(seed=seed)
            known = task.known_expert_length(env.problem)
            limit = env.max_steps  # (may come from the known length, without the trajectory)
            trajectory = cls(difficulty=difficulty).expert_trajectory(env.problem.initial_state)
            assert known is None or known == len(trajectory)
            assert limit == 2 * len(trajectory) + 4
            assert env.expert_steps == trajectory


def test_lazy_trajectory_pickles_and_keeps_what_a_caller_set():
    """Before the lazy trajectory exists, a pickled env computes the same one; values a caller sets stay."""
    for name in ("Syllogism", "Zebra", "Hanoi", "Arithmetic"):
        env = gym.make(f"srl/{name}-v0", interface="discrete").unwrapped
        env.reset(seed=3)
        env.step(0)
        clone = pickle.loads(pickle.dumps(env))
        assert clone.expert_steps == env.expert_steps and clone.max_steps == env.max_steps
        env.reset(seed=4)
        env.expert_steps = ["set"]
        env.max_steps = 7
        steps, terminated, truncated = 0, False, False
        while not (terminated or truncated):
            _, _, terminated, truncated, _ = env.step(0)
            steps += 1
        assert env.expert_steps == ["set"] and env.max_steps == 7 and (terminated or steps == 7)


@pytest.mark.parametrize("entry", ENTRIES)
def test_discrete_mask_expert_and_candidates_agree(entry):
    env = gym.make(entry.env_id, interface="discrete")
    for seed in range(3):
        obs, info = env.reset(seed=seed)
        while True:
            mask = info["action_mask"]
            assert mask.dtype == np.int8 and mask.shape == (env.action_space.n,)
            assert mask[info["expert_action"]] == 1
            obs, _, terminated, truncated, info = env.step(info["expert_action"])
            if terminated or truncated:
                break


@pytest.mark.parametrize("entry", MOVE_SET_ENTRIES)
def test_legal_mask_hook_agrees_with_apply_along_random_walks(entry):
    """A task's fast `legal_mask` (when it has one) marks exactly the moves `apply` accepts."""
    rng = random.Random(0)
    for difficulty in levels(entry):
        task = entry.load()(difficulty=difficulty)
        moves = task.move_set()
        for _ in range(5):
            state = task.generate(rng).initial_state
            for _ in range(40):
                if task.is_terminal(state):
                    break
                by_apply = np.zeros(len(moves), dtype=np.int8)
                for i, move in enumerate(moves):
                    try:
                        task.apply(state, move)
                        by_apply[i] = 1
                    except srl_gym.InvalidStep:
                        pass
                hook = task.legal_mask(state)
                if hook is not None:
                    assert hook.dtype == np.int8 and np.array_equal(hook, by_apply), (state, hook, by_apply)
                state = task.apply(state, moves[rng.choice(np.flatnonzero(by_apply).tolist())])


@pytest.mark.parametrize("entry", ENTRIES)
def test_bad_input_raises_clear_errors(entry):
    env = gym.make(entry.env_id)
    env.reset(seed=0)
    with pytest.raises(TypeError, match="str step"):
        env.step(3)
    with pytest.raises(TypeError, match="str step"):
        env.step(None)
    denv = gym.make(entry.env_id, interface="discrete")
    denv.reset(seed=0)
    with pytest.raises(ValueError, match="action must be in"):
        denv.step(denv.action_space.n)
    with pytest.raises(TypeError, match="int action"):
        denv.step("move")
    with pytest.raises(ValueError, match="interface must be one of"):
        gym.make(entry.env_id, interface="pixels")
    with pytest.raises(ValueError, match="reward must be one of"):
        gym.make(entry.env_id, reward="dense")
    with pytest.raises(ValueError, match="split must be one of"):
        gym.make(entry.env_id, split="val")
    with pytest.raises(ValueError, match="difficulty must be one of"):
        gym.make(entry.env_id, difficulty=99)
    with pytest.raises(TypeError, match="difficulty must be an int"):
        gym.make(entry.env_id, difficulty="hard")
    with pytest.raises(TypeError, match="unknown option"):
        gym.make(entry.env_id, no_such_option=1)


@pytest.mark.parametrize("entry", ENTRIES)
def test_verifier_rejects_garbage(entry):
    env = gym.make(entry.env_id)
    env.reset(seed=0)
    task, problem = env.unwrapped.task, env.unwrapped.problem
    for garbage in ("", "banana", "\x00\x01", "Answer: -987654321"):
        assert task.verify(problem, garbage) is False


def test_problem_seed_is_integers_2_62():
    """The env's shortcut for ``int(np_random.integers(2**62))`` gives the same numbers and leaves the same state."""
    from gymnasium.utils import seeding

    from srl_gym.env import _problem_seed

    for seed in range(200):
        fast, slow = seeding.np_random(seed)[0], seeding.np_random(seed)[0]
        for _ in range(4):
            assert _problem_seed(fast) == int(slow.integers(2**62))
        assert fast.bit_generator.state == slow.bit_generator.state
    other = np.random.Generator(np.random.MT19937(3))  # any other bit generator: numpy's own call
    assert _problem_seed(other) == int(np.random.Generator(np.random.MT19937(3)).integers(2**62))


@pytest.mark.parametrize("entry", ENTRIES)
def test_generate_split_is_generate_until_the_split_matches(entry):
    """`Task.generate_split` (which finishes only the problems it keeps, `Task._draft`) gives the problem,
    ``meta`` included, and leaves the RNG where drawing whole problems with `generate` until one is in
    the split would."""
    from srl_gym.rng import FastRandom
    from srl_gym.task import Task, problem_split

    task = entry.load()()
    if type(task).generate_split is not Task.generate_split:
        pytest.skip(f"{entry.name} draws its split its own way")
    for seed in range(6):
        for split in ("train", "test"):
            fast, plain = FastRandom(seed), FastRandom(seed)
            problem = task.generate_split(fast, split)
            while True:
                expected = task.generate(plain)
                if problem_split(expected.text) == split:
                    break
            assert (problem, problem.meta) == (expected, expected.meta)
            assert fast.getstate() == plain.getstate()
