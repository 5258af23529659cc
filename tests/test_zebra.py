"""Zebra: generator (checked by an independent brute force over the problem text), propagation rules, parser,
verifier and the oracle from off-expert states."""

from __future__ import annotations

import itertools
import random
import re

import pytest

from srl_gym.envs.logic.zebra import SIZES, Zebra, ZebraState, _make_puzzle, _propagate
from srl_gym.task import InvalidStep, Problem

LEVELS = range(len(Zebra.levels))


def make(difficulty: int, seed: int) -> tuple[Zebra, Problem]:
    task = Zebra(difficulty=difficulty)
    return task, task.generate(random.Random(seed))


# ---------------------------------------------------------------------- an independent reading of the text
def read_puzzle(text: str) -> tuple[int, list[list[str]], list]:
    """Houses, values per attribute and clue predicates on {value: house}, read from the problem text alone."""
    n = int(re.search(r"There are (\d) houses", text).group(1))
    attributes = [group.split(", ") for group in re.findall(r"a different \w+ \(([^)]*)\)", text)]
    words = {w.lower(): w for group in attributes for w in group}
    clues = []
    for sentence in re.findall(r"^\d+\. (.*)$", text, re.MULTILINE):
        named = [words[w] for w in re.findall(r"[A-Za-z]+", sentence.lower()) if w in words]
        negated = " not " in sentence
        if m := re.search(r"house (\d)\.$", sentence):
            (a,), k = named, int(m.group(1))
            clues.append(lambda w, a=a, k=k, neg=negated: (w[a] == k) != neg)
        elif "directly left of" in sentence:
            a, b = named
            clues.append(lambda w, a=a, b=b: w[b] == w[a] + 1)
        elif "next to" in sentence:
            a, b = named
            clues.append(lambda w, a=a, b=b: abs(w[a] - w[b]) == 1)
        else:  # "lives in the red house" / "lives in the same house as ..."
            a, b = named
            clues.append(lambda w, a=a, b=b, neg=negated: (w[a] == w[b]) != neg)
    return n, attributes, clues


def solutions(n: int, attributes: list[list[str]], clues: list) -> list[dict[str, int]]:
    found = []
    for perms in itertools.product(itertools.permutations(range(1, n + 1)), repeat=len(attributes)):
        world = {v: h for group, perm in zip(attributes, perms, strict=True) for v, h in zip(group, perm, strict=True)}
        if all(clue(world) for clue in clues):
            found.append(world)
    return found


def answer_of(n: int, attributes: list[list[str]], world: dict[str, int]) -> str:
    houses = {h: [v for group in attributes for v in group if world[v] == h] for h in range(1, n + 1)}
    return "; ".join(f"house {h}: {', '.join(vals)}" for h, vals in houses.items())


# ---------------------------------------------------------------------- generator
@pytest.mark.parametrize("difficulty", LEVELS)
def test_generator_is_deterministic_and_unique_by_brute_force(difficulty):
    task = Zebra(difficulty=difficulty)
    for seed in range(12 if difficulty < 3 else 3):
        problem = task.generate(random.Random(seed))
        assert problem == task.generate(random.Random(seed))
        assert problem.text.isascii() and "Write each step as:" in problem.text and "Answer:" in problem.text
        n, attributes, clues = read_puzzle(problem.text)
        assert (n, len(attributes)) == SIZES[difficulty]
        (world,) = solutions(n, attributes, clues)  # exactly one solution
        assert problem.answer == answer_of(n, attributes, world)
        assert task.verify(problem, f"Answer: {problem.answer}")


def test_levels_grow():
    sizes = [SIZES[d][0] * SIZES[d][1] for d in LEVELS]
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)
    for d in LEVELS:
        assert len(make(d, 0)[1].initial_state.domains) == sizes[d]


def test_clues_are_minimal_for_propagation():
    for seed in range(20):
        _, problem = make(2, seed)
        puzzle = problem.initial_state.puzzle
        full = [(1 << puzzle.n_houses) - 1] * len(puzzle.values)
        assert all(d & (d - 1) == 0 for d in _propagate(puzzle.n_houses, list(puzzle.clues), full))
        for clue in puzzle.clues:
            rest = [c for c in puzzle.clues if c is not clue]
            assert any(d & (d - 1) for d in _propagate(puzzle.n_houses, rest, full))


def test_problem_space_is_large_at_the_easiest_level():
    task = Zebra(difficulty=0)
    rng = random.Random(1)
    assert len({task.generate(rng).text for _ in range(500)}) > 400


# ---------------------------------------------------------------------- propagation rules on a hand-made puzzle
# Houses 1-3; pets dog, cat, fish (values 0-2); drinks tea, coffee, milk (values 3-5). Clues: the dog is in
# house 1; the tea drinker lives directly left of the cat owner; the coffee drinker is not in house 3; the milk
# drinker lives with the fish. Solution: dog 1, cat 2, fish 3; tea 1, coffee 2, milk 3.
CLUES = (("at", 0, 0), ("left", 3, 1), ("not_at", 4, 2), ("same", 5, 2))
PUZZLE = _make_puzzle(3, (2, 3), ("dog", "cat", "fish", "tea", "coffee", "milk"), CLUES, (0, 1, 2, 0, 1, 2))
START = ZebraState(PUZZLE, (7,) * 6)


def with_domains(**houses: str) -> ZebraState:
    """START with some candidate sets replaced, e.g. tea="1" or coffee="12" (house numbers)."""
    domains = list(START.domains)
    for word, digits in houses.items():
        domains[PUZZLE.values.index(word)] = sum(1 << (int(c) - 1) for c in digits)
    return ZebraState(PUZZLE, tuple(domains))


def step(state: ZebraState, text: str) -> ZebraState:
    task = Zebra(difficulty=1)
    return task.apply(state, task.parse_step(state, text))


def test_one_clue_justifies_placements_and_eliminations():
    assert step(START, "The dog is in house 1").domains[0] == 0b001
    assert step(START, "The cat is not in house 1").domains[1] == 0b110  # nobody can be left of house 1
    assert step(START, "The tea drinker is not in house 3").domains[3] == 0b011
    assert step(START, "The coffee drinker is not in house 3").domains[4] == 0b011
    for unjustified in ("The dog is in house 2", "The fish is in house 3", "The fish is not in house 1"):
        with pytest.raises(InvalidStep):
            step(START, unjustified)


def test_all_different_rule():
    placed = step(START, "The dog is in house 1")
    assert step(placed, "The fish is not in house 1").domains[2] == 0b110  # house 1 has the dog
    with pytest.raises(InvalidStep):
        step(placed, "The fish is not in house 2")
    hidden = with_domains(tea="1", coffee="12")
    assert step(hidden, "The milk drinker is in house 3").domains[5] == 0b100  # only milk can go in house 3
    assert step(hidden, "The milk drinker is not in house 2").domains[5] == 0b101


def test_placement_needs_a_single_source():
    state = with_domains(tea="1")  # all-different rules out house 1 for coffee, a clue rules out house 3
    with pytest.raises(InvalidStep):
        step(state, "The coffee drinker is in house 2")
    narrowed = step(state, "The coffee drinker is not in house 1")
    assert step(narrowed, "The coffee drinker is in house 2").domains[4] == 0b010


def test_already_decided_steps_raise():
    placed = step(START, "The dog is in house 1")
    with pytest.raises(InvalidStep, match="already placed"):
        step(placed, "The dog is in house 1")
    with pytest.raises(InvalidStep, match="already ruled out"):
        step(placed, "The dog is not in house 2")
    with pytest.raises(InvalidStep, match="already placed"):
        step(placed, "The dog is not in house 1")


def test_expert_on_the_hand_made_puzzle():
    task = Zebra(difficulty=1)
    texts = [t for _, _, t in task.expert_trajectory(START)]
    assert texts[0] == "The dog is in house 1"
    assert texts[-1] == "Answer: house 1: dog, tea; house 2: cat, coffee; house 3: fish, milk"


# ---------------------------------------------------------------------- parser and verifier
def test_parser_accepts_documented_forms():
    for text in (
        "The cat is in house 2",
        "cat: house 2",
        "house 2 has the cat",
        "The cat owner lives in house 2",
        "cat in house two",
        "**Step 3:** THE CAT IS IN HOUSE 2.",
    ):
        assert Zebra(difficulty=1).parse_step(START, text) == ("place", 1, 1), text
    for text in ("The cat is not in house 1", "cat not in house 1", "house 1 does not have the cat",
                 "the cat isn't in the first house", "the cat can't be in house 1"):  # fmt: skip
        assert Zebra(difficulty=1).parse_step(START, text) == ("elim", 1, 0), text
    assert Zebra(difficulty=1).parse_step(START, "The tea drinker is in house 1") == ("place", 3, 0)


@pytest.mark.parametrize(
    "text",
    ["", "cat", "house 2", "the cat is in house 4", "the cat and the dog are in house 2", "the horse is in house 1",
     "the cat is maybe in house 2", "not not cat 2", "cat in house 1 or 2", "\u00e9 cat 2", "99999999999 cat"],
)  # fmt: skip
def test_parser_rejects_malformed_steps(text):
    with pytest.raises(InvalidStep):
        Zebra(difficulty=1).parse_step(START, text)


def test_answer_forms_and_verifier():
    task, problem = make(2, 4)
    n, attributes, clues = read_puzzle(problem.text)
    (world,) = solutions(n, attributes, clues)
    by_value = ", ".join(f"{v}: house {h}" for v, h in world.items())
    reversed_houses = "; ".join(reversed(problem.answer.split("; ")))
    sentences = ". ".join(f"the {v} is in house {h}" for v, h in world.items())
    for form in (problem.answer, f"Answer: {problem.answer}", f"\\boxed{{{problem.answer}}}", by_value,
                 f"Answer: {reversed_houses}", problem.answer.upper(), f"The answer is: {sentences}."):  # fmt: skip
        assert task.verify(problem, form), form
    truth = problem.initial_state.puzzle.solution
    assert task.parse_step(problem.initial_state, f"Answer: {by_value}") == ("answer", truth)
    first, second = attributes[0][0], attributes[0][1]
    swapped = by_value.replace(f"{first}:", "X:").replace(f"{second}:", f"{first}:").replace("X:", f"{second}:")
    for bad in (swapped, by_value.split(",", 1)[1], "", "banana", "Answer: 42", "\x00", "x" * 10_000):
        assert task.verify(problem, bad) is False, bad
    with pytest.raises(InvalidStep):
        task.parse_step(problem.initial_state, "Answer: house 1: " + attributes[0][0])


# ---------------------------------------------------------------------- the oracle from any reachable state
def valid_steps(task: Zebra, state: ZebraState) -> list:
    found = []
    for v in range(len(state.domains)):
        for h in range(state.puzzle.n_houses):
            for kind in ("place", "elim"):
                try:
                    task.apply(state, (kind, v, h))
                    found.append((kind, v, h))
                except InvalidStep:
                    pass
    return found


@pytest.mark.parametrize("difficulty", LEVELS)
def test_oracle_finishes_from_off_expert_states_and_steps_stay_sound(difficulty):
    rng = random.Random(difficulty)
    for seed in range(10):
        task, problem = make(difficulty, seed)
        truth = problem.initial_state.puzzle.solution
        state = problem.initial_state
        for _ in range(rng.randrange(12)):
            options = valid_steps(task, state)
            if not options:
                break
            state = task.apply(state, rng.choice(options))
            assert all(d >> h & 1 for d, h in zip(state.domains, truth, strict=True))  # the truth is never ruled out
        steps = task.expert_trajectory(state)
        for before, action, text in steps:
            assert task.parse_step(before, text) == action
            if action[0] == "place":  # the oracle prefers placements
                continue
            if action[0] == "elim":
                assert not [a for a in valid_steps(task, before) if a[0] == "place"]
        final = task.apply(steps[-1][0], steps[-1][1])
        assert task.is_solved(problem, final)
        assert task.answer(problem, final, []) == problem.answer


def test_distractors_are_wrong_and_differ_from_the_expert():
    for seed in range(10):
        task, problem = make(3, seed)
        rng = random.Random(seed)
        state = problem.initial_state
        while not task.is_terminal(state):
            expert = task.expert_action(state)
            wrong = task.distractors(state, expert, rng)
            assert wrong and expert not in wrong
            for action in wrong:
                if action[0] == "answer":
                    assert action[1] != state.puzzle.solution
                else:
                    with pytest.raises(InvalidStep):
                        task.apply(state, action)
            state = task.apply(state, expert)


def test_answer_step_ends_the_episode_right_or_wrong():
    task, problem = make(1, 0)
    state = problem.initial_state
    truth = state.puzzle.solution
    wrong = ("answer", (truth[1], truth[0], *truth[2:]))
    done = task.apply(state, wrong)
    assert task.is_terminal(done) and not task.is_solved(problem, done)
    assert not task.verify(problem, task.answer(problem, done, []))
    assert task.answer(problem, state, []) == ""
    assert task.render_state(state) == "1: - | 2: - | 3: -"
    with pytest.raises(InvalidStep):
        task.apply(done, wrong)
