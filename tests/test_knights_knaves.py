"""KnightsKnaves: generator (checked by an independent brute force over the problem text), parser, verifier, oracle."""

from __future__ import annotations

import itertools
import random
import re

import pytest

from srl_gym.envs.logic.knights_knaves import PEOPLE_PER_LEVEL, KKState, KnightsKnaves, Puzzle
from srl_gym.task import InvalidStep, Problem

LEVELS = range(len(KnightsKnaves.levels))


def make(difficulty: int, seed: int) -> tuple[KnightsKnaves, Problem]:
    task = KnightsKnaves(difficulty=difficulty)
    return task, task.generate(random.Random(seed))


# ---------------------------------------------------------------------- an independent reading of the text
def read_puzzle(text: str) -> tuple[list[str], list]:
    """The names and, per speaker, a predicate on {name: is_knight}, read from the problem text alone."""
    said = re.findall(r'^(\w+) says: "(.*)"$', text, re.MULTILINE)
    names = [name for name, _ in said]

    def clause(speaker: str, words: str):
        m = re.fullmatch(r"(I am|(\w+) is) an? (knight|knave)", words)
        who = speaker if m.group(1) == "I am" else m.group(2)
        want = m.group(3) == "knight"
        return lambda w: w[who] == want

    def predicate(speaker: str, s: str):
        s = s.rstrip(".")
        if m := re.fullmatch(r"If (.+), then (.+)", s):
            p, q = clause(speaker, m.group(1)), clause(speaker, m.group(2))
            return lambda w: not p(w) or q(w)
        if m := re.fullmatch(r"Exactly (\d) of us (?:is an?|are) (knight|knave)s?", s):
            k, want = int(m.group(1)), m.group(2) == "knight"
            return lambda w: sum(v == want for v in w.values()) == k
        if m := re.fullmatch(r"At least one of (\w+) and (\w+) is an? (knight|knave)", s):
            x, y = (speaker if t == "me" else t for t in m.group(1, 2))
            want = m.group(3) == "knight"
            return lambda w: w[x] == want or w[y] == want
        if m := re.fullmatch(r"(\w+) and (\w+) are (the same kind|different kinds|both knights|both knaves)", s):
            x, y = (speaker if t == "I" else t for t in m.group(1, 2))
            rel = m.group(3)
            if rel == "the same kind":
                return lambda w: w[x] == w[y]
            if rel == "different kinds":
                return lambda w: w[x] != w[y]
            want = rel == "both knights"
            return lambda w: w[x] == want and w[y] == want
        return clause(speaker, s)

    return names, [predicate(name, s) for name, s in said]


def models(names: list[str], predicates: list) -> list[dict[str, bool]]:
    found = []
    for values in itertools.product((True, False), repeat=len(names)):
        world = dict(zip(names, values, strict=True))
        if all(p(world) == world[name] for name, p in zip(names, predicates, strict=True)):
            found.append(world)
    return found


def expected_answer(world: dict[str, bool]) -> str:
    return ", ".join(f"{name} is a {'knight' if v else 'knave'}" for name, v in world.items())


# ---------------------------------------------------------------------- generator
@pytest.mark.parametrize("difficulty", LEVELS)
def test_generator_is_deterministic_and_unique_by_brute_force(difficulty):
    task = KnightsKnaves(difficulty=difficulty)
    for seed in range(40):
        problem = task.generate(random.Random(seed))
        assert problem == task.generate(random.Random(seed))
        assert problem.text.isascii() and "Write each step as:" in problem.text and "Answer:" in problem.text
        names, predicates = read_puzzle(problem.text)
        assert len(names) == PEOPLE_PER_LEVEL[difficulty]
        (world,) = models(names, predicates)  # exactly one consistent assignment
        assert problem.answer == expected_answer(world)
        assert task.verify(problem, f"Answer: {expected_answer(world)}")


def test_levels_grow_and_add_statement_kinds():
    sizes = [len(make(d, 0)[1].initial_state.puzzle.names) for d in LEVELS]
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)
    texts3 = "".join(make(3, s)[1].text for s in range(60))
    texts1 = "".join(make(1, s)[1].text for s in range(60))
    assert "Exactly" in texts3 and "If " in texts3
    assert "Exactly" not in texts1 and '"If ' not in texts1


@pytest.mark.parametrize("difficulty", LEVELS)
def test_expert_deduces_each_person_once_then_answers_correctly(difficulty):
    for seed in range(20):
        task, problem = make(difficulty, seed)
        steps = task.expert_trajectory(problem.initial_state)
        assert len(steps) == PEOPLE_PER_LEVEL[difficulty] + 1  # the fewest possible: one per person
        assert steps[-1][2] == f"Answer: {problem.answer}"
        final = task.apply(steps[-1][0], steps[-1][1])
        assert task.is_terminal(final) and task.is_solved(problem, final)
        assert task.answer(problem, final, [t for _, _, t in steps]) == problem.answer


def test_every_expert_deduction_is_local_by_an_independent_check():
    """Each deduction follows from one statement: all worlds of the people it involves agree."""
    for seed in range(30):
        task, problem = make(3, seed)
        names, predicates = read_puzzle(problem.text)
        known: dict[str, bool] = {}
        for _, _, text in task.expert_trajectory(problem.initial_state)[:-1]:
            name, kind = re.fullmatch(r"(\w+) is a (knight|knave)", text).groups()
            value = kind == "knight"
            follows = False
            for speaker, p in zip(names, predicates, strict=True):
                fits = [w for w in models_of_one(names, speaker, p) if all(w[k] == v for k, v in known.items())]
                if fits and all(w[name] == value for w in fits):
                    follows = True
            assert follows, (problem.text, text)
            known[name] = value


def models_of_one(names, speaker, predicate):
    """Worlds over everyone that satisfy one statement (restricting to the involved people is equivalent)."""
    for values in itertools.product((True, False), repeat=len(names)):
        world = dict(zip(names, values, strict=True))
        if predicate(world) == world[speaker]:
            yield world


def test_problem_space_is_large_at_the_easiest_level():
    task = KnightsKnaves(difficulty=0)
    rng = random.Random(1)
    assert len({task.generate(rng).text for _ in range(500)}) > 400


# ---------------------------------------------------------------------- parser
def test_parser_accepts_documented_forms():
    task, problem = make(2, 5)
    state = problem.initial_state
    first, second = state.puzzle.names[:2]
    i = first[0]
    for text in (
        f"{first} is a knave",
        f"{i}: knave",
        f"{i.lower()} is a liar",
        f"{i} must be a knave",
        f"so {i} is a knave",
        f"Therefore, {first} is a knave.",
        f"**Step 4:** {first.upper()} IS A KNAVE",
    ):
        assert task.parse_step(state, text) == ("deduce", 0, False), text
    assert task.parse_step(state, f"{second} is a truth-teller") == ("deduce", 1, True)
    assert task.parse_step(state, f"{second} is a truth teller") == ("deduce", 1, True)


@pytest.mark.parametrize(
    "text",
    ["", "knave", "Zed is a knave", "{0} is not a knave", "{0} and {1} are knaves", "{0} is a wizard", "{0}", "\u00e9"],
)
def test_parser_rejects_malformed_steps(text):
    task, problem = make(2, 5)
    names = problem.initial_state.puzzle.names
    with pytest.raises(InvalidStep):
        task.parse_step(problem.initial_state, text.format(*names))


def test_article_a_is_not_mistaken_for_an_initial():
    names = ("Alice", "Bob")
    puzzle = Puzzle(names, (("same", 0, 1), ("is", 0, True)), 0b11)
    task = KnightsKnaves(difficulty=0)
    state = KKState(puzzle)
    assert task.parse_step(state, "Bob is a knight") == ("deduce", 1, True)
    assert task.parse_step(state, "A is a knight") == ("deduce", 0, True)
    assert task.parse_step(state, "a: knight") == ("deduce", 0, True)


def test_answer_forms_and_verifier():
    task, problem = make(1, 3)
    names = problem.initial_state.puzzle.names
    truth = problem.meta["knights"]
    kind = ["knight" if truth >> i & 1 else "knave" for i in range(len(names))]
    forms = [
        problem.answer,
        f"Answer: {problem.answer}",
        f"The answer is {problem.answer}.",
        f"\\boxed{{{problem.answer}}}",
        "Answer: " + ", ".join(f"{n[0]}: {k}" for n, k in reversed(list(zip(names, kind, strict=True)))),
        "Answer: " + " and ".join(f"{n} is a {k}" for n, k in zip(names, kind, strict=True)),
    ]
    knights = [n for n, k in zip(names, kind, strict=True) if k == "knight"]
    knaves = [n for n, k in zip(names, kind, strict=True) if k == "knave"]
    parts = [f"{' and '.join(group)} {'is a' if len(group) == 1 else 'are'} {k}{'s' * (len(group) > 1)}"
             for group, k in ((knights, "knight"), (knaves, "knave")) if group]  # fmt: skip
    forms.append("Answer: " + "; ".join(parts))
    for form in forms:
        assert task.verify(problem, form), form
        step = form if re.search(r"answer|boxed", form, re.IGNORECASE) else f"Answer: {form}"
        assert task.parse_step(problem.initial_state, step) == ("answer", truth), form
    flipped = problem.answer.replace("knight", "KNAVE_").replace("knave", "knight").replace("KNAVE_", "knave")
    for bad in (flipped, names[0] + " is a knight", "", "banana", "Answer: 42", "\x00", "x" * 10_000):
        assert task.verify(problem, bad) is False
    with pytest.raises(InvalidStep):  # an answer must name everyone
        task.parse_step(problem.initial_state, f"Answer: {names[0]} is a knight")
    with pytest.raises(InvalidStep):  # and not call anyone both
        task.parse_step(problem.initial_state, f"Answer: {problem.answer}, {flipped}")


# ---------------------------------------------------------------------- dynamics and oracle
def test_wrong_and_unjustified_deductions_raise():
    for seed in range(20):
        task, problem = make(3, seed)
        state = problem.initial_state
        truth = state.puzzle.solution
        expert = task.expert_action(state)
        with pytest.raises(InvalidStep):
            task.apply(state, ("deduce", expert[1], not expert[2]))
        for person in range(len(state.puzzle.names)):
            actual = bool(truth >> person & 1)
            with pytest.raises(InvalidStep):
                task.apply(state, ("deduce", person, not actual))
        after = task.apply(state, expert)
        with pytest.raises(InvalidStep, match="already"):
            task.apply(after, expert)
    # some puzzle has a true identity that does not follow from any single statement at the start
    unjustified = 0
    for seed in range(20):
        task, problem = make(3, seed)
        state = problem.initial_state
        for person in range(len(state.puzzle.names)):
            try:
                task.apply(state, ("deduce", person, bool(state.puzzle.solution >> person & 1)))
            except InvalidStep:
                unjustified += 1
    assert unjustified > 0


def valid_steps(task: KnightsKnaves, state: KKState) -> list:
    steps = []
    for person in range(len(state.puzzle.names)):
        for knight in (True, False):
            try:
                task.apply(state, ("deduce", person, knight))
                steps.append(("deduce", person, knight))
            except InvalidStep:
                pass
    return steps


@pytest.mark.parametrize("difficulty", LEVELS)
def test_oracle_finishes_from_off_expert_states(difficulty):
    rng = random.Random(difficulty)
    off_expert = 0
    for seed in range(25):
        task, problem = make(difficulty, seed)
        state = problem.initial_state
        for _ in range(rng.randrange(PEOPLE_PER_LEVEL[difficulty])):
            expert = task.expert_action(state)
            options = [a for a in valid_steps(task, state) if a != expert] or [expert]
            action = rng.choice(options)
            off_expert += action != expert
            state = task.apply(state, action)
        steps = task.expert_trajectory(state)
        final = task.apply(steps[-1][0], steps[-1][1])
        assert task.is_solved(problem, final)
        for before, action, text in steps:
            assert task.parse_step(before, text) == action
    assert difficulty == 0 or off_expert > 0


def test_full_entailment_fallback_when_no_single_statement_decides():
    # Alice: "Bob is a knave"; Bob: "Carol is a knave"; Carol: "Alice and Bob are both knaves".
    names = ("Alice", "Bob", "Carol")
    statements = (("is", 1, False), ("is", 2, False), ("both", 0, 1, False))
    task = KnightsKnaves(difficulty=1)
    state = KKState(Puzzle(names, statements, 0b010))
    text = "\n".join(
        [
            'Alice says: "Bob is a knave."',
            'Bob says: "Carol is a knave."',
            'Carol says: "Alice and Bob are both knaves."',
        ]
    )
    (world,) = models(*read_puzzle(text))
    assert world == {"Alice": False, "Bob": True, "Carol": False}
    assert task.expert_action(state) == ("deduce", 0, False)
    assert task.apply(state, ("deduce", 2, False)).known == 0b100
    with pytest.raises(InvalidStep):
        task.apply(state, ("deduce", 1, False))


def test_distractors_are_wrong_and_differ_from_the_expert():
    for seed in range(20):
        task, problem = make(2, seed)
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
            assert len(task.render_state(state).encode()) <= 128
            state = task.apply(state, expert)


def test_answer_step_ends_the_episode_right_or_wrong():
    task, problem = make(1, 0)
    state = problem.initial_state
    wrong = ("answer", problem.meta["knights"] ^ 1)
    done = task.apply(state, wrong)
    assert task.is_terminal(done) and not task.is_solved(problem, done)
    assert task.answer(problem, done, []) and not task.verify(problem, task.answer(problem, done, []))
    assert task.answer(problem, state, []) == ""
    with pytest.raises(InvalidStep):
        task.apply(done, wrong)
