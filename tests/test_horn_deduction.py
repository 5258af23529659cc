"""Horn-clause deduction: generator, parser, verifier, and the oracle (exact shortest proofs) from any state."""

from __future__ import annotations

import random
import re
from collections import deque

import pytest

from srl_gym import InvalidStep
from srl_gym.envs.logic.horn_deduction import HornDeduction, HornState, HornTheory


def read_problem(text: str) -> tuple[set[str], list[tuple[set[str], str]], str]:
    """Facts, rules and query read back from the problem text (independently of the task's data)."""
    facts = set(re.search(r"^Facts: (.*)\.$", text, re.M).group(1).split(", "))
    rules = []
    for premises, head in re.findall(r"^Rule \d+: If (.*) then (\w+)\.$", text, re.M):
        rules.append((set(re.split(r", | and ", premises)), head))
    query = re.search(r"Question: can (\w+) be derived", text).group(1)
    return facts, rules, query


def closure(facts: set[str], rules) -> set[str]:
    known = set(facts)
    while True:
        new = {head for premises, head in rules if premises <= known} - known
        if not new:
            return known
        known |= new


def shortest_proof(task: HornDeduction, state: HornState) -> int:
    """Fewest derivations that make the query known, by breadth-first search over known sets."""
    theory = state.theory
    seen, frontier = {state.known}, deque([(state.known, 0)])
    while frontier:
        known, depth = frontier.popleft()
        if theory.query in known:
            return depth
        for _, head in theory.rules:
            if head not in known:
                try:
                    nxt = task.apply(HornState(theory, known), ("derive", head)).known
                except InvalidStep:
                    continue
                if nxt not in seen:
                    seen.add(nxt)
                    frontier.append((nxt, depth + 1))
    raise AssertionError("query not derivable")


def random_valid_steps(task: HornDeduction, state: HornState, rng: random.Random, count: int) -> HornState:
    for _ in range(count):
        options = [("derive", h) for _, h in state.theory.rules if h not in state.known]
        options = [a for a in dict.fromkeys(options) if _valid(task, state, a)]
        if not options:
            break
        state = task.apply(state, rng.choice(options))
    return state


def _valid(task, state, action) -> bool:
    try:
        task.apply(state, action)
        return True
    except InvalidStep:
        return False


def test_generator_is_seeded_and_levels_grow():
    mean_steps = []
    for level in range(4):
        task = HornDeduction(difficulty=level)
        a, b = task.generate(random.Random(5)), task.generate(random.Random(5))
        assert a == b and a.text == b.text
        problems = [task.generate(random.Random(seed)) for seed in range(60)]
        assert len({p.text for p in problems}) == 60
        yes = [p for p in problems if p.answer == "yes"]
        mean_steps.append(sum(p.meta["steps"] for p in yes) / len(yes))
        for p in problems:
            assert p.text.isascii() and "Write each step as:" in p.text and "Answer: yes" in p.text
    assert mean_steps == sorted(mean_steps) and mean_steps[-1] > mean_steps[0] + 4


@pytest.mark.parametrize("level", range(4))
def test_answers_agree_with_an_independent_closure_of_the_text(level):
    task = HornDeduction(difficulty=level)
    answers = set()
    for seed in range(80):
        problem = task.generate(random.Random(seed))
        facts, rules, query = read_problem(problem.text)
        assert query not in facts
        truth = "yes" if query in closure(facts, rules) else "no"
        assert problem.answer == truth
        answers.add(truth)
    assert answers == {"yes", "no"}


def test_no_rate_option_and_its_validation():
    assert {HornDeduction(no_rate=0).generate(random.Random(s)).answer for s in range(30)} == {"yes"}
    assert {HornDeduction(no_rate=1, difficulty=2).generate(random.Random(s)).answer for s in range(30)} == {"no"}
    with pytest.raises(ValueError, match=r"no_rate must be in \[0, 1\]"):
        HornDeduction(no_rate=1.5)
    with pytest.raises(TypeError, match="no_rate must be a number"):
        HornDeduction(no_rate="half")


# wet(0) and cold(1) are facts; rules: 1: wet and cold -> icy(2); 2: icy -> slick(3);
# 3: hot(5) and dark(4) -> slick; 4: wet -> dark.
NAMES = ("wet", "cold", "icy", "slick", "dark", "hot")
THEORY = HornTheory(NAMES, (0, 1), (((0, 1), 2), ((2,), 3), ((5, 4), 3), ((0,), 4)), 3)
START = HornState(THEORY, frozenset({0, 1}))


@pytest.mark.parametrize(
    "text",
    [
        "wet and cold, so icy",
        "icy",
        "icy is true",
        "Therefore icy.",
        "from wet and cold we get icy",
        "If wet and cold then icy",
        "wet & cold => icy",
        "wet, cold -> icy",
        "icy because wet and cold",
        "Rule 1: icy",
        "by rule 1, wet and cold give icy",
        "apply rule 1",
        "**Step 2:** WET AND COLD, SO ICY.",
        "cold and wet, so icy",
    ],
)
def test_parser_accepts_documented_forms(text):
    task = HornDeduction()
    assert task.parse_step(START, text) == ("derive", 2)


@pytest.mark.parametrize(
    "text, reason",
    [
        ("wet, so icy", "no rule derives icy from wet"),
        ("wet and cold, so slick", "no rule derives slick"),
        ("rule 2: slick", "needs icy"),
        ("rule 9", "no rule 9"),
        ("rule 1: slick", "derives icy, not slick"),
        ("rule 1 and rule 2", "at most one rule"),
        ("not icy", "unknown word"),
        ("icy 7", "unknown word"),
        ("hot and dark, so slick", "not known"),
        ("Answer: maybe", "Answer: yes"),
        ("", "expected a step"),
        ("x" * 5000, "short text"),
    ],
)
def test_parser_rejects_wrong_steps_with_a_reason(text, reason):
    with pytest.raises(InvalidStep, match=reason):
        HornDeduction().parse_step(START, text)


def test_apply_checks_the_rule_and_novelty():
    task = HornDeduction()
    with pytest.raises(InvalidStep, match="already known"):
        task.apply(START, ("derive", 0))
    with pytest.raises(InvalidStep, match="no rule with known premises"):
        task.apply(START, ("derive", 3))
    state = task.apply(START, ("derive", 4))  # an idle step: valid, not on the shortest proof
    assert task.expert_action(state) == ("derive", 2)
    done = task.apply(state, ("answer", "no"))
    assert task.is_terminal(done) and not task.is_solved(None, done)
    with pytest.raises(InvalidStep, match="already given"):
        task.apply(done, ("derive", 2))


def test_answers_parse_and_verify_in_many_formats():
    task = HornDeduction(difficulty=1)
    problem = next(p for s in range(50) if (p := task.generate(random.Random(s))).answer == "no")
    for text in ("Answer: no", "no", "NO", "\\boxed{no}", "The answer is no.", "**Answer:** False"):
        assert task.parse_step(problem.initial_state, text) == ("answer", "no")
        assert task.verify(problem, text)
    for text in ("Answer: yes", "yes", "true", "", "banana", "Answer: 12", "\x00", "no" * 2000):
        assert not task.verify(problem, text)


def test_oracle_is_exact_where_proof_trees_would_count_a_shared_atom_twice():
    # q(0) <- a(1), b(2); a <- f(4); b <- c(3) listed first; c <- g(5); b <- a. Counting proof trees,
    # b costs 2 either way; as a set of derivations {a, b, q} (3) beats {a, c, b, q} (4).
    theory = HornTheory(
        ("q", "a", "b", "c", "f", "g"), (4, 5), (((1, 2), 0), ((4,), 1), ((3,), 2), ((5,), 3), ((1,), 2)), 0
    )
    task = HornDeduction()
    plan = task.expert_trajectory(HornState(theory, frozenset({4, 5})))
    assert [a for _, a, _ in plan] == [("derive", 1), ("derive", 2), ("derive", 0), ("answer", "yes")]


@pytest.mark.parametrize("level", [0, 1, 2])
def test_oracle_proofs_are_shortest_from_random_reachable_states(level):
    task = HornDeduction(difficulty=level, no_rate=0)
    rng = random.Random(level)
    for seed in range(25):
        start = task.generate(random.Random(seed)).initial_state
        for detour in (0, 1, 3):
            state = random_valid_steps(task, start, rng, detour)
            if state.theory.query in state.known:
                continue
            plan = task.expert_trajectory(state)
            assert len(plan) - 1 == shortest_proof(task, state)
            assert plan[-1][1] == ("answer", "yes")


@pytest.mark.parametrize("level", range(4))
def test_expert_finishes_and_solves_after_random_valid_steps(level):
    task = HornDeduction(difficulty=level)
    rng = random.Random(100 + level)
    for seed in range(30):
        problem = task.generate(random.Random(seed))
        state = random_valid_steps(task, problem.initial_state, rng, rng.randint(0, 6))
        plan = task.expert_trajectory(state)
        for before, action, text in plan:
            assert task.parse_step(before, text) == action
            state = task.apply(before, action)
        assert task.is_solved(problem, state)
        assert task.verify(problem, task.answer(problem, state, []))


def test_before_answering_no_the_expert_has_derived_everything_the_query_depends_on():
    task = HornDeduction(difficulty=3, no_rate=1)
    for seed in range(30):
        problem = task.generate(random.Random(seed))
        facts, rules, query = read_problem(problem.text)
        depends, frontier = {query}, [query]
        while frontier:
            atom = frontier.pop()
            for premises, head in rules:
                if head == atom:
                    frontier += sorted(premises - depends)
                    depends |= premises
        plan = task.expert_trajectory(problem.initial_state)
        names = problem.initial_state.theory.names
        derived = {names[a[1]] for _, a, _ in plan[:-1]}
        assert derived == (closure(facts, rules) & depends) - facts
        assert plan[-1][1] == ("answer", "no")


def test_distractors_are_plausible_and_differ_from_the_expert():
    task = HornDeduction(difficulty=2)
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


def test_atom_names_are_never_parser_filler_words():
    from srl_gym.envs.logic import horn_deduction

    assert not set(horn_deduction.ATOMS) & (horn_deduction._FILLERS | horn_deduction._YES | horn_deduction._NO)
    assert len(set(horn_deduction.ATOMS)) == len(horn_deduction.ATOMS)


def test_render_state_lists_the_goal_and_the_derived_atoms():
    task = HornDeduction()
    assert task.render_state(START) == "Goal: slick. Derived: none"
    state = task.apply(START, ("derive", 2))
    assert task.render_state(state) == "Goal: slick. Derived: icy"


@pytest.mark.parametrize("level", range(4))
def test_counted_expert_length_is_the_walked_trajectory(level):
    # meta["steps"] is counted without walking the oracle (see _expert_length): it must be the walk's length.
    for no_rate in (0.0, 1.0):
        task = HornDeduction(difficulty=level, no_rate=no_rate)
        for seed in range(40):
            problem = task.generate(random.Random(seed))
            assert problem.meta["steps"] == len(task.expert_trajectory(problem.initial_state))


def test_a_theory_keeps_its_hash_and_analysis_out_of_pickles():
    import pickle

    task = HornDeduction(difficulty=2)
    state = task.generate(random.Random(3)).initial_state
    task.expert_trajectory(state)  # fills the theory's kept hash, analysis and proof plans
    copy = pickle.loads(pickle.dumps(state))
    assert set(vars(copy.theory)) == {"names", "facts", "rules", "query"}
    assert copy == state and hash(copy) == hash(state)
    assert task.expert_trajectory(copy) == task.expert_trajectory(state)
