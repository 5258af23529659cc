"""Syllogisms: generator (answers checked by brute-force models), parser, verifier, oracle from any state."""

from __future__ import annotations

import itertools
import random
import re
from collections import deque

import pytest

from srl_gym import InvalidStep
from srl_gym.envs.logic.syllogism import ALL, NO, SOME, SOME_NOT, Syllogism, SyllogismState, SyllogismTheory

FORMS = {"all": ALL, "no": NO, "some": SOME}


def read_problem(text: str) -> tuple[list[str], list[tuple], tuple]:
    """Categories, premises and question read back from the problem text, as (form, subject, predicate) names."""

    def statement(words: str) -> tuple:
        q, x, neg, y = re.fullmatch(r"(all|no|some) (\w+) are (not )?(\w+)", words.lower()).groups()
        return (SOME_NOT if neg else FORMS[q], x, y)

    premises = [statement(s) for s in re.findall(r"^\d+\. (.*)\.$", text, re.M)]
    question = statement(re.search(r"does it follow that (.*)\?", text).group(1))
    categories = sorted({c for _, x, y in [*premises, question] for c in (x, y)})
    return categories, premises, question


def holds(statement: tuple, element_types) -> bool:
    """Truth of a statement in the model whose elements have the given sets of categories."""
    form, x, y = statement
    if form == ALL:
        return all(y in t for t in element_types if x in t)
    if form == NO:
        return not any(x in t and y in t for t in element_types)
    if form == SOME:
        return any(x in t and y in t for t in element_types)
    return any(x in t and y not in t for t in element_types)


def countermodel_exists(categories, premises, question, nonempty: bool) -> bool:
    """Brute force: is there a model of the premises where the question is false?

    A model is a set of element types (sets of categories). Taking every type allowed by the
    universal statements ("All", "No", and the negated question when it is universal) gives the
    model with the most existential truths, so a countermodel exists iff that one is a countermodel.
    """
    negated = {ALL: SOME_NOT, NO: SOME, SOME: NO, SOME_NOT: ALL}[question[0]], question[1], question[2]
    constraints = [*premises, negated]
    universal = [s for s in constraints if s[0] in (ALL, NO)]
    types = []
    for bits in itertools.product((False, True), repeat=len(categories)):
        t = frozenset(c for c, b in zip(categories, bits, strict=True) if b)
        if t and all(holds(s, [t]) for s in universal):
            types.append(t)
    if nonempty and not all(any(c in t for t in types) for c in categories):
        return False
    return all(holds(s, types) for s in constraints if s[0] in (SOME, SOME_NOT))


def nonempty_model_exists(categories, premises) -> bool:
    """Brute force: do the premises have a model in which no category is empty?"""
    types = []
    for bits in itertools.product((False, True), repeat=len(categories)):
        t = frozenset(c for c, b in zip(categories, bits, strict=True) if b)
        if t and all(holds(s, [t]) for s in premises if s[0] in (ALL, NO)):
            types.append(t)
    everyone = all(any(c in t for t in types) for c in categories)
    return everyone and all(holds(s, types) for s in premises if s[0] == SOME)


def one_step_consequences(known: set) -> set:
    """Every statement one rule derives from ``known`` (written independently of the task)."""
    out = set()
    for f, x, y in known:
        if f in (NO, SOME):
            out.add((f, y, x))
    for (f1, x, m), (f2, m2, z) in itertools.product(known, known):
        if m != m2 or x == z:
            continue
        rule = {(ALL, ALL): ALL, (ALL, NO): NO, (SOME, ALL): SOME, (SOME, NO): SOME_NOT}.get((f1, f2))
        if rule is not None:
            out.add((rule, x, z))
    return {s for s in out if s[1] != s[2]}


def full_closure(known: set) -> set:
    known = set(known)
    while True:
        new = one_step_consequences(known) - known
        if not new:
            return known
        known |= new


def shortest_derivation(state: SyllogismState, limit: int = 200_000) -> int:
    """Fewest steps that make the question known, by breadth-first search over known sets."""
    question = state.theory.question
    seen, frontier = {state.known}, deque([(state.known, 0)])
    while frontier:
        known, depth = frontier.popleft()
        if question in known:
            return depth
        for s in one_step_consequences(set(known)) - known:
            nxt = known | {s}
            if nxt not in seen:
                seen.add(nxt)
                frontier.append((nxt, depth + 1))
        assert len(seen) < limit, "search too large"
    raise AssertionError("question not derivable")


def random_valid_steps(task: Syllogism, state: SyllogismState, rng: random.Random, count: int) -> SyllogismState:
    for _ in range(count):
        options = sorted(one_step_consequences(set(state.known)) - state.known)
        if not options:
            break
        state = task.apply(state, ("derive", rng.choice(options)))
    return state


def test_generator_is_seeded_and_levels_grow():
    sizes, steps = [], []
    for level in range(4):
        task = Syllogism(difficulty=level)
        a, b = task.generate(random.Random(5)), task.generate(random.Random(5))
        assert a == b and a.text == b.text
        problems = [task.generate(random.Random(seed)) for seed in range(60)]
        assert len({p.text for p in problems}) == 60
        sizes.append(sum(len(p.initial_state.theory.premises) for p in problems) / len(problems))
        yes = [p for p in problems if p.answer == "yes"]
        steps.append(sum(p.meta["steps"] for p in yes) / len(yes))
        for p in problems:
            assert p.text.isascii() and "Write each step as:" in p.text and "Answer: no" in p.text
    assert sizes == sorted(sizes) and steps == sorted(steps) and steps[-1] > steps[0] + 4


@pytest.mark.parametrize("level", [0, 1, 2])
def test_answers_agree_with_brute_force_models_of_the_text(level):
    task = Syllogism(difficulty=level)
    answers = set()
    for seed in range(40):
        problem = task.generate(random.Random(seed))
        categories, premises, question = read_problem(problem.text)
        assert question not in premises
        assert nonempty_model_exists(categories, premises)
        assert all(any(c in s[1:] for s in premises) for c in categories)
        if problem.answer == "yes":  # true in every model, empty categories allowed
            assert not countermodel_exists(categories, premises, question, nonempty=False)
        else:  # false in some model, even one where every category has members
            assert countermodel_exists(categories, premises, question, nonempty=True)
        answers.add(problem.answer)
    assert answers == {"yes", "no"}


def test_no_rate_option_and_its_validation():
    assert {Syllogism(no_rate=0).generate(random.Random(s)).answer for s in range(30)} == {"yes"}
    assert {Syllogism(no_rate=1, difficulty=3).generate(random.Random(s)).answer for s in range(30)} == {"no"}
    with pytest.raises(ValueError, match=r"no_rate must be in \[0, 1\]"):
        Syllogism(no_rate=-0.1)
    with pytest.raises(TypeError, match="no_rate must be a number"):
        Syllogism(no_rate=None)


# cats(0), mammals(1), animals(2), pets(3), reptiles(4).
NAMES = ("cats", "mammals", "animals", "pets", "reptiles")
THEORY = SyllogismTheory(NAMES, ((ALL, 0, 1), (ALL, 1, 2), (SOME, 3, 0), (NO, 2, 4)), (SOME_NOT, 3, 4))
START = SyllogismState(THEORY, frozenset(THEORY.premises))


@pytest.mark.parametrize(
    "text, statement",
    [
        ("All cats are animals (from: All cats are mammals; All mammals are animals)", (ALL, 0, 2)),
        ("All cats are animals", (ALL, 0, 2)),
        ("Therefore, all cats are animals.", (ALL, 0, 2)),
        ("All cats are animals because all cats are mammals and all mammals are animals", (ALL, 0, 2)),
        ("From all cats are mammals and all mammals are animals we get all cats are animals", (ALL, 0, 2)),
        ("All cats are mammals; all mammals are animals => all cats are animals", (ALL, 0, 2)),
        ("Since all mammals are animals and all cats are mammals, all cats are animals", (ALL, 0, 2)),
        ("**Step 1:** ALL CATS ARE ANIMALS (Barbara, from premises 1 and 2).", (ALL, 0, 2)),
        ("every cats are animals", (ALL, 0, 2)),
        ("Some cats are pets (from: Some pets are cats)", (SOME, 0, 3)),
        ("Some pets are mammals (from: Some pets are cats; All cats are mammals)", (SOME, 3, 1)),
        ("No reptiles are animals (conversion)", (NO, 4, 2)),
    ],
)
def test_parser_accepts_documented_forms(text, statement):
    assert Syllogism().parse_step(START, text) == ("derive", statement)


@pytest.mark.parametrize(
    "text, reason",
    [
        ("All cats are animals (from: All cats are mammals)", "does not follow from All cats are mammals"),
        ("All cats are animals (from: All cats are mammals; All mammals are pets)", "is not known"),
        ("All cats are not reptiles", "ambiguous"),
        ("Some dogs are cats", "unknown category"),
        ("All cats are animals is false", "unexpected word"),
        ("All cats are cats", "two different categories"),
        ("Answer: perhaps", "Answer: yes"),
        ("cats", "expected a statement"),
        ("All cats are mammals; All mammals are animals; All cats are pets, so All cats are animals", "one or two"),
    ],
)
def test_parser_rejects_wrong_steps_with_a_reason(text, reason):
    with pytest.raises(InvalidStep, match=reason):
        Syllogism().parse_step(START, text)


def test_apply_accepts_exactly_the_one_rule_consequences():
    task = Syllogism()
    valid = one_step_consequences(set(START.known)) - START.known
    universe = [(f, x, y) for f in range(4) for x in range(5) for y in range(5) if x != y]
    for statement in universe:
        try:
            task.apply(START, ("derive", statement))
            accepted = True
        except InvalidStep:
            accepted = False
        assert accepted == (statement in valid), statement
    # Illicit conversion, undistributed middle and subalternation are not rules.
    for fallacy in ((ALL, 1, 0), (SOME, 0, 1), (SOME_NOT, 3, 4)):
        with pytest.raises(InvalidStep, match="does not follow"):
            task.apply(START, ("derive", fallacy))
    done = task.apply(START, ("answer", "yes"))
    assert task.is_terminal(done) and task.is_solved(None, done)


def test_answers_parse_and_verify_in_many_formats():
    task = Syllogism(difficulty=1)
    problem = next(p for s in range(50) if (p := task.generate(random.Random(s))).answer == "yes")
    for text in ("Answer: yes", "yes", "YES", "\\boxed{yes}", "The answer is yes.", "**Answer:** True"):
        assert task.parse_step(problem.initial_state, text) == ("answer", "yes")
        assert task.verify(problem, text)
    for text in ("Answer: no", "no", "false", "", "banana", "Answer: 12", "\x00"):
        assert not task.verify(problem, text)


@pytest.mark.parametrize("level", [0, 1, 2])
def test_oracle_derivations_are_shortest_from_random_reachable_states(level):
    task = Syllogism(difficulty=level, no_rate=0)
    rng = random.Random(level)
    checked = 0
    for seed in range(20):
        start = task.generate(random.Random(seed)).initial_state
        if level == 2 and len(start.theory.premises) > 6:
            continue  # keep the brute-force search small
        for detour in (0, 2):
            state = random_valid_steps(task, start, rng, detour)
            if state.theory.question in state.known:
                continue
            plan = task.expert_trajectory(state)
            assert len(plan) - 1 == shortest_derivation(state)
            checked += 1
    assert checked >= 15


@pytest.mark.parametrize("level", range(4))
def test_expert_finishes_and_solves_after_random_valid_steps(level):
    task = Syllogism(difficulty=level)
    rng = random.Random(200 + level)
    for seed in range(25):
        problem = task.generate(random.Random(seed))
        state = random_valid_steps(task, problem.initial_state, rng, rng.randint(0, 6))
        for before, action, text in task.expert_trajectory(state):
            assert task.parse_step(before, text) == action
            state = task.apply(before, action)
        assert task.is_solved(problem, state)
        assert task.verify(problem, task.answer(problem, state, []))


def test_before_answering_no_the_expert_has_derived_everything_about_the_subject():
    task = Syllogism(difficulty=3, no_rate=1)
    for seed in range(25):
        problem = task.generate(random.Random(seed))
        state = problem.initial_state
        subject = state.theory.question[1]
        about = {s for s in full_closure(set(state.known)) if s[1] == subject}
        for before, action, _ in task.expert_trajectory(state):
            state = task.apply(before, action)
        assert state.answer == "no" and about <= state.known
        assert state.theory.question not in full_closure(set(state.known))


def test_distractors_are_plausible_and_differ_from_the_expert():
    task = Syllogism(difficulty=2)
    rng = random.Random(0)
    for seed in range(20):
        state = task.generate(random.Random(seed)).initial_state
        while not task.is_terminal(state):
            expert = task.expert_action(state)
            wrong = task.distractors(state, expert, rng)
            assert 1 <= len(wrong) <= task.num_candidates - 1 and expert not in wrong
            assert len(set(wrong)) == len(wrong)
            if expert[0] == "answer":
                assert ("answer", "no" if expert[1] == "yes" else "yes") in wrong
            for action in wrong:
                assert task.format_step(state, action)
            state = task.apply(state, expert)


def test_category_names_are_distinct_words_that_the_parser_does_not_skip():
    from srl_gym.envs.logic import syllogism

    names = syllogism.CATEGORIES
    assert len(set(names)) == len(names) and all(n.isalpha() and n.islower() for n in names)
    assert not set(names) & (syllogism._FILLERS | {"all", "every", "no", "some", "are", "is", "not"})


def test_render_state_lists_derived_statements():
    task = Syllogism()
    assert task.render_state(START) == "Derived: none"
    state = task.apply(START, ("derive", (ALL, 0, 2)))
    assert task.render_state(state) == "Derived: All cats are animals"


@pytest.mark.parametrize("level", range(4))
def test_the_expert_step_fast_path_is_what_the_parser_reads(level):
    """parse_step returns the oracle's step for its exact text without parsing it: the parse must agree, from
    any reachable state (and the other steps' texts still go through the parser)."""
    task = Syllogism(difficulty=level)
    rng = random.Random(300 + level)
    for seed in range(40):
        state = random_valid_steps(task, task.generate(random.Random(seed)).initial_state, rng, rng.randint(0, 4))
        while not task.is_terminal(state):
            expert = task.expert_action(state)
            text = task.format_step(state, expert)
            assert task._parse(state, text) == expert == task.parse_step(state, text)
            for action in task.distractors(state, expert, rng):
                assert task.parse_step(state, task.format_step(state, action)) == task._parse(
                    state, task.format_step(state, action)
                )
            state = task.apply(state, expert)


@pytest.mark.parametrize("level", range(4))
def test_distractor_pools_read_the_closure_as_the_rules_do(level):
    """_wrong_steps reads "follows by one rule now" off the closure's ways; the rules (_derivations) must agree."""
    from srl_gym.envs.logic import syllogism

    task = Syllogism(difficulty=level)
    rng = random.Random(400 + level)
    for seed in range(30):
        state = random_valid_steps(task, task.generate(random.Random(seed)).initial_state, rng, rng.randint(0, 5))
        info, known, n = syllogism._analyse(state.theory), state.known, len(state.theory.names)
        if task.is_terminal(state):
            continue
        expert = task.expert_action(state)
        fallacies, idle = syllogism._wrong_steps(info, known, expert)
        target = expert[1] if expert[0] == "derive" else state.theory.question
        form, x, y = target
        wrong = [(f, x, y) for f in range(4) if f != form] + [(form, y, x)]
        wrong += [(f, b, a) for f, a, b in sorted(known) if f in (ALL, SOME_NOT)]
        wrong = [s for s in wrong if s not in known and not syllogism._derivations(s, known, n)]
        follow = [s for s in info.statements if s not in known and syllogism._derivations(s, known, n)]
        assert fallacies == tuple(("derive", s) for s in wrong if ("derive", s) != expert)
        assert idle == tuple(("derive", s) for s in follow if ("derive", s) != expert)


def test_name_draws_are_random_sample_of_the_names():
    """The generator draws the names' shuffle index by index (_name_draws) and plays out only the names a problem
    uses: the same names and the same generator state after as random.Random.sample of all the names."""
    from srl_gym.envs.logic import syllogism

    for seed in range(300):
        ours, theirs = random.Random(seed), random.Random(seed)
        draws = syllogism._name_draws(ours)
        names = theirs.sample(syllogism.CATEGORIES, len(syllogism.CATEGORIES))
        for n in (1, 3, 13, len(names)):
            assert syllogism._names(draws, n) == tuple(names[:n])
        assert ours.getstate() == theirs.getstate()
