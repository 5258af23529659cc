"""Countdown: generator, parser, verifier, Undo, and the oracle's optimality against brute force."""

from __future__ import annotations

import random

import gymnasium as gym
import pytest

import srl_gym  # noqa: F401  (registers the ids)
from srl_gym.envs.math.countdown import LEVELS, UNDO, Countdown, CountdownState
from srl_gym.task import InvalidStep, Problem


def brute_force_distance(numbers: tuple[int, ...], target: int, limit: int = 5) -> int | None:
    """Fewest operations that put ``target`` among ``numbers`` (breadth-first over multisets), or None."""
    layer = {tuple(sorted(numbers))}
    for depth in range(limit + 1):
        if any(target in state for state in layer):
            return depth
        following = set()
        for state in layer:
            for i in range(len(state)):
                for j in range(len(state)):
                    if i == j:
                        continue
                    a, b = state[i], state[j]
                    rest = [x for k, x in enumerate(state) if k not in (i, j)]
                    results = [a + b, a * b] + ([a - b] if a > b else []) + ([a // b] if a % b == 0 else [])
                    following.update(tuple(sorted([*rest, r])) for r in results)
        layer = following
    return None


def state_of(target: int, *numbers: int) -> CountdownState:
    return CountdownState(target, tuple(sorted(numbers)), ())


def play(task: Countdown, state: CountdownState, texts: list[str]) -> CountdownState:
    for text in texts:
        state = task.apply(state, task.parse_step(state, text))
    return state


# ---------------------------------------------------------------------- generator
def test_same_seed_same_problem_and_levels_grow():
    sizes = []
    for level, (count, large, lo, hi) in enumerate(LEVELS):
        task = Countdown(difficulty=level)
        assert task.generate(random.Random(9)) == task.generate(random.Random(9))
        problems = [task.generate(random.Random(seed)) for seed in range(60)]
        assert len({p.text for p in problems}) > 50
        for problem in problems:
            state = problem.initial_state
            assert len(state.numbers) == count and lo <= state.target <= hi and state.target not in state.numbers
            assert sum(n > 10 for n in state.numbers) == large and state.history == ()
            assert problem.text.isascii() and "Write each step as" in problem.text
        sizes.append((count, hi))
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)


@pytest.mark.parametrize("level", range(3))
def test_expert_plans_are_shortest_by_brute_force(level):
    task = Countdown(difficulty=level)
    rng = random.Random(level)
    for _ in range(12 if level < 2 else 4):
        problem = task.generate(rng)
        state = problem.initial_state
        plan = task.expert_trajectory(state)
        assert len(plan) == brute_force_distance(state.numbers, state.target)
        assert task.verify(problem, "\n".join(text for _, _, text in plan))


def test_level_three_problems_are_solvable_by_the_expert():
    task = Countdown(difficulty=3)
    rng = random.Random(3)
    for _ in range(30):
        problem = task.generate(rng)
        plan = task.expert_trajectory(problem.initial_state)
        assert 1 <= len(plan) <= 5 and task.verify(problem, "\n".join(text for _, _, text in plan))


# ---------------------------------------------------------------------- parser and transitions
def test_parser_accepts_model_styles():
    task = Countdown()
    state = state_of(103, 25, 4, 3, 7)
    for text in (
        "25 * 4 = 100",
        "25*4=100",
        "25 x 4 = 100",
        "4 \u00d7 25 = 100",
        "25 times 4 is 100",
        "multiply 25 and 4 to get 100",
        "Multiply 25 by 4, giving 100.",
        "Step 1: **25 * 4 = 100**",
        "$25 \\times 4 = 100$",
        "25 multiplied by 4 equals 100",
    ):
        assert task.parse_step(state, text) == (25, "*", 4, 100), text
    assert task.parse_step(state, "add 3 to 25 to make 28") == (25, "+", 3, 28)
    assert task.parse_step(state, "3 plus 25 -> 28") == (25, "+", 3, 28)
    assert task.parse_step(state, "subtract 4 from 25 to get 21") == (25, "-", 4, 21)
    assert task.parse_step(state, "25 minus 4 = 21") == (25, "-", 4, 21)
    assert task.parse_step(state, "divide 100 by 4 gives 25") == (100, "/", 4, 25)
    assert task.parse_step(state, "100 \u00f7 4 = 25") == (100, "/", 4, 25)
    for text in ("Undo", "undo the last step", "Go back.", "backtrack"):
        assert task.parse_step(state, text) == UNDO, text


def test_wrong_steps_are_rejected_with_a_reason():
    task = Countdown()
    state = state_of(103, 25, 4, 3, 7, 7)
    for text, reason in (
        ("25 * 4 = 101", "not 101"),
        ("25 * 5 = 125", "5 is not among"),
        ("4 - 25 = 21", "not a positive integer"),
        ("25 / 4 = 6", "not a positive integer"),
        ("3 + 3 = 6", "3 is not among"),
        ("7 - 7 = 0", "not a positive integer"),
        ("Undo", "nothing to undo"),
    ):
        with pytest.raises(InvalidStep, match=reason):
            task.apply(state, task.parse_step(state, text))
    assert task.apply(state, task.parse_step(state, "7 + 7 = 14")).numbers == (3, 4, 14, 25)
    for junk in ("", "25 * 4", "Answer: 103", "25 ^ 4 = 100", "banana", "9" * 100_000, "\x00\ud7ff", "-"):
        with pytest.raises(InvalidStep):
            task.parse_step(state, junk)


def test_undo_restores_the_previous_numbers():
    task = Countdown()
    start = state_of(103, 25, 4, 3, 7)
    state = play(task, start, ["25 * 4 = 100", "100 + 7 = 107", "Undo", "Undo"])
    assert state == start
    state = play(task, start, ["25 * 4 = 100", "100 + 3 = 103"])
    assert task.is_terminal(state) and state.numbers == (7, 103)


# ---------------------------------------------------------------------- oracle from any state
def test_expert_undoes_only_from_dead_ends():
    task = Countdown()
    start = state_of(24, 2, 3, 4)  # 2 * 3 * 4 = 24
    dead = play(task, start, ["3 + 2 = 5", "5 * 4 = 20"])  # 20 alone
    assert task.expert_action(dead) == UNDO
    assert task.expert_action(play(task, start, ["3 + 2 = 5"])) == UNDO  # {4, 5} cannot make 24
    assert task.expert_action(play(task, start, ["4 * 3 = 12"])) == (12, "*", 2, 24)
    detour = play(task, state_of(10, 1, 1, 2, 5), ["2 + 1 = 3"])  # 5 * 2 is gone, but 3 - 1 = 2 brings it back
    assert task.expert_action(detour) == (3, "-", 1, 2)


def valid_operations(state: CountdownState) -> list[tuple[int, str, int, int]]:
    """Every valid operation on two of the numbers at hand (written independently of the task)."""
    found = set()
    for i, a in enumerate(state.numbers):
        for j, b in enumerate(state.numbers):
            if i != j:
                found.update({(max(a, b), "+", min(a, b), a + b), (max(a, b), "*", min(a, b), a * b)})
                if a > b:
                    found.add((a, "-", b, a - b))
                if a % b == 0:
                    found.add((a, "/", b, a // b))
    return sorted(found)


@pytest.mark.parametrize("level", range(4))
def test_expert_finishes_after_random_valid_steps(level):
    """On-policy: random valid steps (into dead ends too), then the expert solves it by a shortest way."""
    task = Countdown(difficulty=level)
    rng = random.Random(100 + level)
    for _ in range(15):
        problem = task.generate(rng)
        state = problem.initial_state
        for _ in range(rng.randrange(1, 4)):
            moves = valid_operations(state) + ([UNDO] if state.history else [])
            if task.is_terminal(state) or not moves:
                break
            state = task.apply(state, rng.choice(moves))
        steps = [text for _, _, text in task.expert_trajectory(state)]
        assert task.is_solved(problem, play(task, state, steps))
        if level < 3:
            distance = brute_force_distance(state.numbers, state.target)
            if distance is None:
                assert steps[0] == "Undo"
            else:
                assert len(steps) == distance and "Undo" not in steps


@pytest.mark.parametrize("level", range(4))
def test_distractors_are_plausible_and_wrong(level):
    task = Countdown(difficulty=level)
    rng = random.Random(level)
    for seed in range(5):
        problem = task.generate(random.Random(seed))
        state = problem.initial_state
        while not task.is_terminal(state):
            expert = task.expert_action(state)
            wrong = task.distractors(state, expert, rng)
            assert wrong and expert not in wrong and len(set(wrong)) == len(wrong) <= task.num_candidates - 1
            best = brute_force_distance(state.numbers, state.target) if level < 2 else None
            for action in wrong:
                assert task.parse_step(state, task.format_step(state, action)) == action
                if action == UNDO:
                    continue  # an Undo where none is needed
                try:
                    after = task.apply(state, action)
                except InvalidStep:
                    continue  # wrong arithmetic
                if best is not None:  # a valid step off every shortest solution
                    assert brute_force_distance(after.numbers, after.target) != best - 1
            assert len(task.render_state(state).encode()) <= 128
            state = task.apply(state, expert)


# ---------------------------------------------------------------------- verifier and env
def test_verifier_replays_the_plan():
    task = Countdown()
    problem = Problem(text="", initial_state=state_of(103, 25, 4, 3, 7))
    assert task.verify(problem, "25 * 4 = 100\n100 + 3 = 103")
    assert task.verify(problem, "Step 1: 25 x 4 = 100\nStep 2: 100 + 7 = 107\nStep 3: Undo\nStep 4: 3 + 100 = 103")
    for bad in ("25 * 4 = 100", "25 * 4 = 100\n100 + 3 = 104", "100 + 3 = 103", "Answer: 103", "", "banana", None):
        assert task.verify(problem, bad) is False, bad


def test_env_on_policy_dead_end_then_expert_recovers():
    env = gym.make("srl/Countdown-v0", difficulty=1)
    _, info = env.reset(seed=4)
    state = env.unwrapped.state
    a, b = state.numbers[-1], state.numbers[-2]
    _, reward, terminated, _, info = env.step(f"{a} + {b} = {a + b}")
    assert info["valid"] and reward <= 0
    for _ in range(20):
        if terminated:
            break
        _, _, terminated, _, info = env.step(info["expert_step"])
    assert terminated and info["solved"] and env.unwrapped.task.verify(env.unwrapped.problem, info["answer"])
