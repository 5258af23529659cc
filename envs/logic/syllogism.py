"""Chained categorical syllogisms: derive statements one rule at a time to decide whether a conclusion follows."""

from __future__ import annotations

import heapq
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache, wraps

from srl_gym.parsing import normalize, yes_no_answer
from srl_gym.task import InvalidStep, Problem, Task, TaskConfig, check_fraction

#: Made-up plural category names, so that no world knowledge helps or misleads.
CATEGORIES = (
    "wumpuses", "yumpuses", "zumpuses", "dumpuses", "rompuses", "numpuses", "tumpuses", "vumpuses", "impuses",
    "jompuses", "gorpuses", "shumpuses", "lempuses", "sterpuses", "grimpuses", "lorpuses", "brimpuses", "blickets",
    "daxes", "wugs", "feps", "glorbs", "zorbs", "snarks", "toves", "florps", "zibbets", "morkels", "trovers",
    "plimbs", "krells", "vorns", "grups", "quoxes", "slithies", "borogoves",
)  # fmt: skip
ALL, NO, SOME, SOME_NOT = 0, 1, 2, 3
#: ``{i}`` for category i: the "names" of the memoised text templates, which `str.format` fills with the names.
_PLACEHOLDERS = tuple(f"{{{i}}}" for i in range(len(CATEGORIES)))
#: A statement: (form, subject, predicate), with the categories as ids into the theory's names.
Statement = tuple[int, int, int]
#: An action: ("derive", statement) or ("answer", "yes" / "no").
SyllogismAction = tuple


@dataclass(frozen=True)
class LevelSpec:
    """How one difficulty level draws its problems."""

    chain: tuple[int, int]  # range of premises on the chain that leads to the question
    distractors: tuple[int, int]  # range of premises that the chain does not need


LEVEL_SPECS = (
    LevelSpec((2, 2), (0, 0)),
    LevelSpec((3, 3), (1, 1)),
    LevelSpec((4, 5), (2, 2)),
    LevelSpec((6, 7), (3, 4)),
)
#: Longest expert solution a level keeps (longer draws are redrawn).
MAX_EXPERT_STEPS = (6, 8, 12, 16)
MAX_STEP_CHARS = 2000
RULES_TEXT = (
    "Barbara: All A are B; All B are C => All A are C. Celarent: All A are B; No B are C => No A are C.\n"
    "Darii: Some A are B; All B are C => Some A are C. Ferio: Some A are B; No B are C => Some A are not C.\n"
    "Conversion: No A are B => No B are A; Some A are B => Some B are A.\n"
)
#: The problem text after the question, up to the question's subject, which it names twice (see `Syllogism._draft`).
_INSTRUCTIONS = (
    "Derive one new statement per step from one or two known statements (premises or derived) by one rule.\n"
    f"{RULES_TEXT}"
    "Write each step as: <new statement> (from: <statement>; <statement>)\n"
    "When the statement in question is derived, finish with: Answer: yes. If it does not follow, first "
    "derive every statement about "
)
_INSTRUCTIONS_END = " as subject) that follows, then finish with: Answer: no"

_STATEMENT = re.compile(r"\b(all|every|no|some)\s+([a-z]+)\s+(?:are|is)\s+(not\s+)?([a-z]+)")
_TOKEN = re.compile(r"[a-z]+|\d+")
_ARROWS = re.compile(r"=>|->|\u2192|\u21d2|\u27f9|\u2234")
_FILLERS = frozenset(
    "from because since given as by using via so therefore thus hence then gives give yields yield implies imply "
    "we get it follows follow that and conclude can know known the premise premises rule rules of with new "
    "statement statements conclusion is true holds hold barbara celarent darii ferio conversion convert converting "
    "converse converted apply applying applied which means this to a an also one two mood syllogism in on step "
    "steps".split()
)
#: Words between two statements that make the next one the conclusion: "..., so All A are C".
_CONSEQUENCE = frozenset(
    "so therefore thus hence then gives give yields yield implies imply get conclude follows".split()
)
#: Words before the first statement that make the last one the conclusion: "Since ..., All A are C".
_PREMISES_FIRST = frozenset("from because since given as".split())
_YES = frozenset("yes true follows valid y".split())
_NO = frozenset("no false invalid not n".split())


@dataclass
class SyllogismConfig(TaskConfig):
    """Options of `Syllogism`.

    Attributes:
        no_rate: share of problems whose statement in question does not follow (answer "no"), in [0, 1].
    """

    no_rate: float = 0.3

    def validate(self, levels) -> None:
        super().validate(levels)
        check_fraction("no_rate", self.no_rate)


@dataclass(frozen=True)
class SyllogismTheory:
    """The premises and the statement in question, over categories numbered 0..n-1 (``names``)."""

    names: tuple[str, ...]
    premises: tuple[Statement, ...]
    question: Statement


@dataclass(frozen=True)
class SyllogismState:
    """The theory, the statements known so far (premises and derived) and the stated answer, if any."""

    theory: SyllogismTheory
    known: frozenset[Statement]
    answer: str | None = None


class Syllogism(Task[SyllogismState, SyllogismAction]):
    """Chained categorical syllogisms: does a statement follow from the premises?

    ## Description
    Premises relate made-up categories with the four categorical forms: "All A are B", "No A are
    B", "Some A are B" (premises use these three) and "Some A are not B". A question asks whether
    a statement follows. Each step derives one new statement from one or two known statements by
    one rule: Barbara (All A are B; All B are C => All A are C), Celarent (All A are B; No B are C
    => No A are C), Darii (Some A are B; All B are C => Some A are C), Ferio (Some A are B; No B
    are C => Some A are not C), or conversion (No A are B => No B are A; Some A are B => Some B
    are A). These rules are valid whether or not categories may be empty; no premise set forces a
    category to be empty. When the statement is derived the agent answers "yes". When it does not
    follow (``no_rate`` of the problems; the generator checks by a countermodel that it is not
    entailed even if every category has members, so "no" is the answer under the modern and the
    traditional reading alike), the agent first derives every statement that follows about the
    question's subject (with it as subject), then answers "no".

    The oracle derives the next statement of a shortest derivation of the question from the known
    statements (fewest steps of a derivation tree, by Knuth's generalisation of Dijkstra's algorithm
    over the closure), so it re-plans after any valid step. For a "no" question it works through the
    statements about the subject, each by its shortest derivation, then answers "no".

    ## Action Space
    Text, one step. A derivation, canonically "All wumpuses are zumpuses (from: All wumpuses are
    yumpuses; All yumpuses are zumpuses)"; the bare statement is accepted too, as are "Therefore
    all wumpuses are zumpuses", "All wumpuses are zumpuses because ... and ...", "From ... and ...
    we get ...", "..., so ...", a rule name ("by Barbara") and premise numbers, which are ignored,
    with any case, spacing, markdown, a "Step k:" label or a final period ("aren't" for "are not",
    "every" for "all"). Cited statements must be known and derive the statement by one rule. The
    final answer: "Answer: yes" or "Answer: no" ("true"/"false", "\\boxed{yes}", a bare "yes"/"no").
    Discrete: ``Discrete(4)`` candidate steps, the expert's among plausible wrong ones (illicit
    conversion, wrong quantifier, an idle derivation, the wrong answer).

    ## Observation Space
    Text: the problem, the steps so far and the statements derived so far. Discrete: UTF-8 bytes of
    the current state and of each candidate step, 128 bytes each.

    ## Starting State
    The premises are known; the statement in question is not a premise.

    ## Reward
    See `srl_gym.env.ReasoningEnv`. A step is valid if its statement is new and follows from known
    statements by one rule; idle derivations are valid but never match the expert's step. An answer
    step ends the episode, right or wrong.

    ## Episode End
    When an answer is given. Solved if it is the truth: "yes" iff the statement follows.

    ## Information
    ``answer`` is "yes" or "no" (the stated answer); the verifier compares it with the truth.

    ## Arguments
    - ``difficulty``: 0: a chain of 2 premises; 1: 3 premises and 1 distractor premise; 2: 4-5
      premises and 2 distractors; 3: 6-7 premises and 3-4 distractors. Chains lead to any of the
      four forms, with premises in either orientation (conversions needed).
    - ``no_rate``: share of problems whose statement does not follow (default 0.3).

    ## Version History
    - v0: initial release.
    """

    name = "Syllogism"
    domain = "logic"
    levels = (
        "chain of 2 premises, no distractor premises",
        "chain of 3 premises, 1 distractor premise",
        "chain of 4-5 premises, 2 distractor premises",
        "chain of 6-7 premises, 3-4 distractor premises",
    )
    config_class = SyllogismConfig

    def generate(self, rng: random.Random) -> Problem:
        return self._draft(rng)[1]()

    def _draft(self, rng: random.Random) -> tuple[str, Callable[[], Problem]]:
        # The problem's text, then (for the problems that `generate_split` keeps) the rest of it.
        spec = LEVEL_SPECS[self.difficulty]
        most = MAX_EXPERT_STEPS[self.difficulty]
        follows = rng.random() >= self.config.no_rate
        while True:
            drawn = _draw_theory(rng, spec, follows)
            if drawn is None:
                continue
            draws, chain, info = drawn
            steps = _expert_length(info, most)
            # A "yes" needs every premise of the chain (no distractor shortcut); a "no" at least one derivation.
            if (chain if follows else 2) <= steps <= most:
                break
        names = _names(draws, info.n)
        subject = names[info.question[1]]
        text = f"{_problem_template(info).format(*names)}{_INSTRUCTIONS}{subject} (with {subject}{_INSTRUCTIONS_END}"

        def finish() -> Problem:
            theory = SyllogismTheory(names, info.premises, info.question)
            state = SyllogismState(theory, frozenset(theory.premises))
            meta = {"steps": steps, "entailed": follows}
            return Problem(text=text, initial_state=state, answer="yes" if follows else "no", meta=meta)

        return text, finish

    # ------------------------------------------------------------------ dynamics
    def is_terminal(self, state: SyllogismState) -> bool:
        return state.answer is not None

    def is_solved(self, problem: Problem, state: SyllogismState) -> bool:
        return state.answer is not None and state.answer == _truth(state.theory)

    def expert_action(self, state: SyllogismState) -> SyllogismAction | None:
        if state.answer is not None:
            return None
        return _oracle(_analyse(state.theory), state.known)

    def apply(self, state: SyllogismState, action: SyllogismAction) -> SyllogismState:
        if state.answer is not None:
            raise InvalidStep("the answer was already given")
        kind, value = action
        if kind == "answer":
            if value not in ("yes", "no"):
                raise InvalidStep("the answer is yes or no")
            return SyllogismState(state.theory, state.known, value)  # (dataclasses.replace's result, sooner)
        names = state.theory.names
        if value in state.known:
            raise InvalidStep(f"{_text(value, names)} is already known")
        if value[1] == value[2] or not _derivations(value, state.known, len(names)):
            raise InvalidStep(f"{_text(value, names)} does not follow from known statements by one rule")
        return SyllogismState(state.theory, state.known | {value})

    def format_step(self, state: SyllogismState, action: SyllogismAction) -> str:
        kind, value = action
        if kind == "answer":
            return f"Answer: {value}"
        return _step_template(_analyse(state.theory), state.known, value).format(*state.theory.names)

    def parse_step(self, state: SyllogismState, text: str) -> SyllogismAction:
        if not isinstance(text, str) or len(text) > MAX_STEP_CHARS:
            raise InvalidStep("a step is a short text")
        if state.answer is None:
            # The oracle's own step, written as format_step writes it (what an expert replay or a model copying
            # it sends), reads back as that step: "Answer: yes/no", or its statement, whose only gap words are
            # "(from:" (a filler, no consequence word: the first statement is the conclusion) and whose cited
            # statements are the first way that derives it from known statements, or none. So it skips the parse
            # (tests/test_syllogism.py checks the parse gives the same step).
            expert = _oracle(_analyse(state.theory), state.known)
            if text == self.format_step(state, expert):
                return expert
        return self._parse(state, text)

    def _parse(self, state: SyllogismState, text: str) -> SyllogismAction:
        line = normalize(text)
        if "answer" in line or "boxed" in line or line in ("yes", "no", "true", "false"):
            value = _answer_value(text)
            if value is None:
                raise InvalidStep("expected 'Answer: yes' or 'Answer: no'")
            return ("answer", value)
        return ("derive", _parse_derivation(state, line))

    def known_expert_length(self, problem: Problem) -> int | None:
        return problem.meta.get("steps")  # counted by the generator

    def answer(self, problem: Problem, state: SyllogismState, steps) -> str:
        return state.answer or ""

    def verify(self, problem: Problem, answer: str) -> bool:
        if not isinstance(answer, str) or len(answer) > MAX_STEP_CHARS:
            return False
        return _answer_value(answer) == _truth(problem.initial_state.theory)

    def render_state(self, state: SyllogismState) -> str:
        text = _derived_template(_analyse(state.theory), state.known).format(*state.theory.names)
        return f"Answer: {state.answer}. {text}" if state.answer else text

    def distractors(self, state: SyllogismState, expert: SyllogismAction, rng: random.Random) -> list[SyllogismAction]:
        info = _analyse(state.theory)
        fallacies, idle = _wrong_steps(info, state.known, expert)
        picks: list[SyllogismAction] = []
        for pool in (fallacies, idle):
            if pool:
                picks.append(rng.choice(pool))
        wanted = self.num_candidates - 1
        if expert[0] == "answer" or len(picks) < wanted:
            picks.insert(0, ("answer", "no" if info.follows else "yes"))  # the wrong answer
        if len(picks) < wanted:  # (else nothing is drawn from the rest)
            rest = [action for action in fallacies if action not in picks]
            while len(picks) < wanted and rest:
                picks.append(rest.pop(rng.randrange(len(rest))))
        return picks[:wanted]


# ---------------------------------------------------------------------- statements and rules
#: Most results one structure's `_Analysis.memo` holds; it is emptied when full (the memo stays bounded).
_MEMO_ENTRIES = 512
_MISSING = object()


def _per_structure(function: Callable) -> Callable:
    """Memoise ``function(info, *args)``, a pure function of a theory's structure (`_structure`), in ``info.memo``.

    The memo lives and dies with its analysis, which `_structure`'s bounded cache keeps: so the memoised results
    are shared by every problem of one structure (level 0 has a few hundred), yet nothing outlives the analyses
    kept, and a memo holds at most `_MEMO_ENTRIES` results.
    """

    @wraps(function)
    def memoised(info, *args):
        memo = info.memo
        key = (function, *args)
        value = memo.get(key, _MISSING)
        if value is _MISSING:
            if len(memo) >= _MEMO_ENTRIES:
                memo.clear()
            value = memo[key] = function(info, *args)
        return value

    return memoised


def _text(statement: Statement, names: tuple[str, ...]) -> str:
    form, x, y = statement
    if form == ALL:
        return f"All {names[x]} are {names[y]}"
    if form == NO:
        return f"No {names[x]} are {names[y]}"
    if form == SOME:
        return f"Some {names[x]} are {names[y]}"
    return ("All {} are {}", "No {} are {}", "Some {} are {}", "Some {} are not {}")[form].format(names[x], names[y])


@_per_structure
def _wrong_steps(
    info: _Analysis, known: frozenset[Statement], expert: SyllogismAction
) -> tuple[tuple[SyllogismAction, ...], tuple[SyllogismAction, ...]]:
    """What `Syllogism.distractors` draws from, as derive actions other than ``expert``: fallacies (statements
    that do not follow) and idle derivations (statements that follow but that the expert does not derive now)."""
    n = info.n
    target = expert[1] if expert[0] == "derive" else info.question
    form, x, y = target
    # Wrong quantifiers and illicit conversions of the step the expert takes.
    fallacies = [(f, x, y) for f in range(4) if f != form] + [(form, y, x)]
    # Illicit conversions of known "All" and "Some ... not" statements.
    fallacies += [(f, b, a) for f, a, b in sorted(known) if f in (ALL, SOME_NOT)]
    order, ways = info.order, info.ways
    at = {order[s] for s in known if s in order}  # the positions of the known statements in the closure
    if len(at) == len(known):
        # As from any state the premises lead to: a statement follows from the known ones by one rule iff it is in
        # the closure with a way (the closure lists every rule instance over it) whose premises are all known.
        def follows_now(i: int) -> bool:  # the statement at position i
            return any(all(p in at for p in way) for way in ways[i])

        fallacies = [s for s in fallacies if s not in order or (order[s] not in at and not follows_now(order[s]))]
        idle = [s for i, s in enumerate(info.statements) if i not in at and follows_now(i)]
    else:  # a known statement outside the closure (a state built by hand): the rules themselves
        fallacies = [s for s in fallacies if s not in known and not _derivations(s, known, n)]
        idle = [s for s in info.statements if s not in known and _derivations(s, known, n)]
    return tuple(("derive", s) for s in fallacies if ("derive", s) != expert), tuple(
        ("derive", s) for s in idle if ("derive", s) != expert
    )


@lru_cache(maxsize=1 << 12)
def _derivations(statement: Statement, known: frozenset[Statement], n: int) -> tuple[tuple[Statement, ...], ...]:
    """The ways to derive ``statement`` from ``known`` by one rule, as tuples of premises (minor first)."""
    form, x, z = statement
    ways: list[tuple[Statement, ...]] = []
    if form in (NO, SOME) and (form, z, x) in known:  # conversion
        ways.append(((form, z, x),))
    minor, major = {ALL: (ALL, ALL), NO: (ALL, NO), SOME: (SOME, ALL), SOME_NOT: (SOME, NO)}[form]
    for m in range(n):
        if m != x and m != z and (minor, x, m) in known and (major, m, z) in known:
            ways.append(((minor, x, m), (major, m, z)))
    return tuple(ways)


@dataclass(eq=False)  # built once per structure, never compared: a plain class's cheaper __init__ (hashed by id)
class _Analysis:
    premises: tuple[Statement, ...]  # the theory's premises, in its order
    question: Statement
    n: int  # number of categories
    statements: tuple[Statement, ...]  # the closure of the premises, in the order found
    order: dict[Statement, int]  # statement -> its position in `statements`
    ways: tuple[tuple[tuple[int, ...], ...], ...]  # position -> its derivations (tuples of premise positions)
    derivations: tuple[tuple[int, int, int], ...]  # goal-relevant derivations: (conclusion, premise, premise or -1)
    sizes: tuple[int, ...]  # number of premises of each of `derivations`
    users: tuple[tuple[int, ...], ...]  # position -> the `derivations` (indices) that use it
    follows: bool
    targets: tuple[int, ...]  # what the expert derives before "Answer: no" (empty for "yes")
    template: str | None = None  # `_problem_template`, once asked for
    memo: dict = field(default_factory=dict)  # the `_per_structure` functions' results: (function, *args) -> value


def _analyse(theory: SyllogismTheory) -> _Analysis:
    """The closure of the premises under the rules, with every derivation of each statement (see `_structure`)."""
    global _last_analysed
    last = _last_analysed
    if last[0] is theory:  # an episode asks of one theory several times a step: spare hashing its premises
        return last[1]
    info = _structure(theory.premises, theory.question, len(theory.names))
    _last_analysed = (theory, info)  # (one assignment: a thread reads a consistent pair)
    return info


_last_analysed: tuple[SyllogismTheory | None, _Analysis | None] = (None, None)


@lru_cache(maxsize=1024)
def _structure(premises: tuple[Statement, ...], question: Statement, n: int) -> _Analysis:
    """`_analyse` of every theory with these premises, question and number of categories, whatever the names.

    Everything the oracle, the checks and the distractors compute is a pure function of the theory's
    structure (categories are ids; the names are only written into texts), and structures recur across
    problems far more than theories do (level 0 has a few hundred): so the analysis, and what is memoised in
    it (`_per_structure`: the oracle, its length, the distractor pools, the text templates), are shared by
    every theory of one structure.
    """
    order: dict[Statement, int] = {}  # statement -> its position, in the order found
    found: list[list[tuple[int, ...]]] = []  # position -> its derivations (premise positions)
    for s in premises:
        if s not in order:
            order[s] = len(found)
            found.append([])
    # The statements processed so far, indexed as the rules below read them.
    all_by_subject: dict[int, list[tuple[int, int]]] = {}
    all_by_predicate: dict[int, list[tuple[int, int]]] = {}
    no_by_subject: dict[int, list[tuple[int, int]]] = {}
    some_by_predicate: dict[int, list[tuple[int, int]]] = {}
    queue = list(premises)
    for s in queue:  # the queue grows while it is read
        at = order[s]
        form, x, y = s
        # What s derives with the statements indexed so far (each rule instance once), with the positions of the
        # premises (minor first); no statement relates a category to itself.
        out: list[tuple[Statement, tuple[int, ...]]] = []
        add = out.append
        if form == ALL:
            for z, q in all_by_subject.get(y, ()):  # Barbara, s minor
                if x != z:
                    add(((ALL, x, z), (at, q)))
            for w, q in all_by_predicate.get(x, ()):  # Barbara, s major
                if w != y:
                    add(((ALL, w, y), (q, at)))
            for z, q in no_by_subject.get(y, ()):  # Celarent, s minor
                if x != z:
                    add(((NO, x, z), (at, q)))
            for w, q in some_by_predicate.get(x, ()):  # Darii, s major
                if w != y:
                    add(((SOME, w, y), (q, at)))
        elif form == NO:
            if y != x:
                add(((NO, y, x), (at,)))
            for w, q in all_by_predicate.get(x, ()):  # Celarent, s major
                if w != y:
                    add(((NO, w, y), (q, at)))
            for w, q in some_by_predicate.get(x, ()):  # Ferio, s major
                if w != y:
                    add(((SOME_NOT, w, y), (q, at)))
        elif form == SOME:
            if y != x:
                add(((SOME, y, x), (at,)))
            for z, q in all_by_subject.get(y, ()):  # Darii, s minor
                if x != z:
                    add(((SOME, x, z), (at, q)))
            for z, q in no_by_subject.get(y, ()):  # Ferio, s minor
                if x != z:
                    add(((SOME_NOT, x, z), (at, q)))
        for conclusion, parents in out:
            i = order.get(conclusion)
            if i is None:
                i = order[conclusion] = len(found)
                found.append([])
                queue.append(conclusion)
            found[i].append(parents)
        if form == ALL:
            all_by_subject.setdefault(x, []).append((y, at))
            all_by_predicate.setdefault(y, []).append((x, at))
        elif form == NO:
            no_by_subject.setdefault(x, []).append((y, at))
        elif form == SOME:
            some_by_predicate.setdefault(y, []).append((x, at))
    statements = tuple(order)
    ways = tuple(map(tuple, found))
    follows = question in order
    if follows:
        goals = [order[question]]
    else:
        premise_set = set(premises)
        goals = [i for i, s in enumerate(statements) if s[1] == question[1] and s not in premise_set]
    # Only the statements that can take part in deriving a goal matter to the oracle.
    relevant, stack = set(goals), list(goals)
    while stack:
        for way in ways[stack.pop()]:
            for p in way:
                if p not in relevant:
                    relevant.add(p)
                    stack.append(p)
    derivations: list[tuple[int, int, int]] = []  # (conclusion, premise, premise or -1), relevant only
    sizes: list[int] = []
    used_by: dict[int, list[int]] = {}  # only relevant statements are used
    for i in sorted(relevant):
        for way in ways[i]:
            d = len(derivations)
            if len(way) == 1:
                p = way[0]
                derivations.append((i, p, -1))
                sizes.append(1)
                used_by.setdefault(p, []).append(d)
            else:
                p, q = way
                derivations.append((i, p, q))
                sizes.append(2)
                used_by.setdefault(p, []).append(d)
                used_by.setdefault(q, []).append(d)
    users: list[tuple[int, ...]] = [()] * len(statements)
    for p, uses in used_by.items():
        users[p] = tuple(uses)
    info = _Analysis(
        premises=premises,
        question=question,
        n=n,
        statements=statements,
        order=order,
        ways=ways,
        derivations=tuple(derivations),
        sizes=tuple(sizes),
        users=tuple(users),
        follows=follows,
        targets=(),
    )
    if not follows:  # the targets' order needs the costs, which need the rest (set once, before anyone sees it)
        start = _costs(info, frozenset(premises))
        info.targets = tuple(sorted(goals, key=lambda i: (start[i], statements[i])))
    return info


@_per_structure
def _step_template(info: _Analysis, known: frozenset[Statement], statement: Statement) -> str:
    """`Syllogism.format_step`'s text of deriving ``statement`` (by its first way), ``{i}`` for name i."""
    names = _PLACEHOLDERS
    ways = _derivations(statement, known, info.n)
    if not ways:
        return _text(statement, names)
    return f"{_text(statement, names)} (from: {'; '.join(_text(p, names) for p in ways[0])})"


@_per_structure
def _derived_template(info: _Analysis, known: frozenset[Statement]) -> str:
    """`Syllogism.render_state`'s list of the derived statements (latest found first), ``{i}`` for name i."""
    order = info.order
    names = _PLACEHOLDERS
    derived = sorted(known - set(info.premises), key=lambda s: order.get(s, -1), reverse=True)
    return "Derived: " + ("; ".join(_text(s, names) for s in derived) or "none")


@lru_cache(maxsize=64)
def _index(names: tuple[str, ...]) -> dict[str, int]:
    """Category name -> id (read by the parser; a fresh dict per name tuple, never written to)."""
    return dict(zip(names, range(len(names)), strict=True))


def _truth(theory: SyllogismTheory) -> str:
    return "yes" if _analyse(theory).follows else "no"


def _costs(info: _Analysis, known: frozenset[Statement]) -> list[float]:
    """Fewest steps of a derivation tree of each goal-relevant statement from ``known``.

    Knuth's generalisation of Dijkstra's algorithm to AND/OR graphs: a derivation's cost is one plus
    the costs of its premises, and statements are settled in order of cost. The list has one more
    entry, a 0 that a conversion's missing second premise (position -1) points at.
    """
    cost = [float("inf")] * len(info.statements) + [0]
    heap = []
    for s in known:
        i = info.order.get(s)
        if i is not None:
            cost[i] = 0
            heap.append((0, i))
    left = list(info.sizes)
    derivations, users = info.derivations, info.users
    while heap:
        c, i = heapq.heappop(heap)
        if c > cost[i]:
            continue
        for d in users[i]:
            left[d] -= 1
            if left[d] == 0:
                j, a, b = derivations[d]
                candidate = 1 + cost[a] + cost[b]
                if candidate < cost[j]:
                    cost[j] = candidate
                    heapq.heappush(heap, (candidate, j))
    return cost


@_per_structure
def _oracle(info: _Analysis, known: frozenset[Statement]) -> SyllogismAction:
    """The oracle's next action: a step of a shortest derivation of the next goal, or the answer."""
    if info.follows:
        if info.question in known:
            return ("answer", "yes")
        goal = info.order[info.question]
    else:
        goal = next((i for i in info.targets if info.statements[i] not in known), None)
        if goal is None:
            return ("answer", "no")
    cost = _costs(info, known)
    while True:  # descend the cheapest derivation until every premise of a step is known
        way = next(w for w in info.ways[goal] if 1 + sum(cost[p] for p in w) == cost[goal])
        unknown = [p for p in way if cost[p] > 0]
        if not unknown:
            return ("derive", info.statements[goal])
        goal = unknown[0]


@_per_structure
def _expert_length(info: _Analysis, most: int) -> int:
    """``len(expert_trajectory(...))`` from the premises, or ``most + 1`` once it is longer than ``most``.

    The oracle's actions alone: its derivations are valid, so `Syllogism.apply` adds each to the known
    statements, and the answer ends the trajectory; no step text or state is built.
    """
    known = frozenset(info.premises)
    for steps in range(1, most + 1):
        kind, value = _oracle(info, known)
        if kind == "answer":
            return steps
        known = known | {value}
    return most + 1


# ---------------------------------------------------------------------- semantics (for the generator)
def _satisfiable(statements, n: int, also: Statement | None = None) -> bool:
    """Whether some model makes all ``statements`` (and ``also``, if given) true (categories may be empty).

    Each "Some" needs one element; its least set of categories is the upward closure (under the
    "All" statements) of the categories it must be in, and it fails only if that set holds both
    sides of a "No" or (for "Some A are not B") holds B. Elements do not interact, so the set is
    satisfiable iff every such element is possible.

    ``also`` is one more statement whose satisfiability with ``statements`` is asked second, when the
    statements alone are satisfiable: ``_satisfiable(s, n, t)`` is ``_satisfiable(s, n) and
    _satisfiable([*s, t], n)``. A "Some" ``also`` adds one element to check; another form reruns it all.
    """
    above: dict[int, list[int]] = {}
    disjoint: dict[int, set[int]] = {}  # category -> the categories a "No" statement separates it from
    for form, x, y in statements:
        if form == ALL:
            above.setdefault(x, []).append(y)
        elif form == NO:
            disjoint.setdefault(x, set()).add(y)
            disjoint.setdefault(y, set()).add(x)
    ups: dict[int, set[int]] = {}

    def up(x: int) -> set[int]:  # the categories every member of x is in
        reach = ups.get(x)
        if reach is None:
            reach, stack = {x}, [x]
            while stack:
                for y in above.get(stack.pop(), ()):
                    if y not in reach:
                        reach.add(y)
                        stack.append(y)
            ups[x] = reach
        return reach

    def possible(form: int, x: int, y: int) -> bool:  # whether the element a "Some" statement needs can exist
        if form == SOME:
            element = up(x) if x == y else up(x) | up(y)  # (read only below: the cached set itself will do)
        else:
            element = up(x)
            if y in element:
                return False
        if disjoint:  # no "No" statement: nothing to be disjoint from
            for a in element:
                apart = disjoint.get(a)
                if apart is not None and not apart.isdisjoint(element):
                    return False
        return True

    for form, x, y in statements:
        if (form == SOME or form == SOME_NOT) and not possible(form, x, y):
            return False
    if also is None:
        return True
    if also[0] == SOME or also[0] == SOME_NOT:  # the same model structure: one more element
        return possible(*also)
    return _satisfiable([*statements, also], n)


#: The form of each form's negation ("All A are B" is denied by "Some A are not B", ...).
_NEGATION = {ALL: SOME_NOT, NO: SOME, SOME: NO, SOME_NOT: ALL}


def _entails(premises, statement: Statement, n: int, existential: bool = False) -> bool:
    """Whether every model of ``premises`` makes ``statement`` true (with ``existential``: every model
    in which no category is empty, the traditional reading)."""
    form, x, y = statement
    negation = (_NEGATION[form], x, y)
    exist = [(SOME, c, c) for c in range(n)] if existential else []
    return not _satisfiable([*premises, *exist, negation], n)


# ---------------------------------------------------------------------- generation
def _chain(rng: random.Random, length: int) -> tuple[list[Statement], Statement, int]:
    """Premises of a chain of ``length`` statements, the statement that follows from them and the number of
    categories, numbered 0, 1, ... in the order they are introduced."""
    premises: list[Statement] = []
    form = rng.choice((ALL, NO, SOME, SOME_NOT)) if length >= 2 else rng.choice((NO, SOME))
    subject = 0
    if form == ALL:
        top, n = _up(premises, subject, length, 1)
        return premises, (ALL, subject, top), n
    if form == NO:
        a = rng.randint(0, length - 1)  # the two parts of length - 1 links, cut at a
        predicate = 1
        low, n = _up(premises, subject, a, 2)
        high, n = _up(premises, predicate, length - 1 - a, n)
        premises.append((NO, low, high) if rng.random() < 0.5 else (NO, high, low))
        return premises, ((NO, subject, predicate) if rng.random() < 0.5 else (NO, predicate, subject)), n
    premises.append((SOME, subject, 1) if rng.random() < 0.5 else (SOME, 1, subject))
    some_side, other_side = premises[-1][1], premises[-1][2]
    if form == SOME:
        a = rng.randint(0, length - 1)
        left, n = _up(premises, some_side, a, 2)
        right, n = _up(premises, other_side, length - 1 - a, n)
        return premises, ((SOME, left, right) if rng.random() < 0.5 else (SOME, right, left)), n
    total = length - 2  # in three parts: cut at the two draws, in order
    first, second = rng.randint(0, total), rng.randint(0, total)
    if second < first:
        first, second = second, first
    top, n = _up(premises, some_side, first, 2)
    shared, n = _up(premises, other_side, second - first, n)
    predicate = n
    high, n = _up(premises, predicate, total - second, n + 1)
    premises.append((NO, shared, high) if rng.random() < 0.5 else (NO, high, shared))
    return premises, (SOME_NOT, top, predicate), n


def _up(premises: list[Statement], start: int, links: int, fresh: int) -> tuple[int, int]:
    """Append "All start are c1", "All c1 are c2", ... (``links`` of them, c1 = ``fresh``, c2 = ``fresh + 1``, ...):
    returns the top category and the next fresh one."""
    for top in range(fresh, fresh + links):
        premises.append((ALL, start, top))
        start = top
    return start, fresh + links


def _draw_theory(rng: random.Random, spec: LevelSpec, follows: bool) -> tuple[list[int], int, _Analysis] | None:
    """A random problem of the level (the `_name_draws` of its category names, and its structure) and its chain
    length, or None when this draw missed its constraints."""
    draws = _name_draws(rng)
    chain = rng.randint(*spec.chain)
    premises, question, n = _chain(rng, chain)
    if not follows:  # a fallacy: reverse one "All" premise, or ask a statement the chain does not give
        form, x, y = question
        alls = [i for i, s in enumerate(premises) if s[0] == ALL]
        choice = rng.random()
        if alls and choice < 0.4:
            i = rng.choice(alls)
            premises[i] = (ALL, premises[i][2], premises[i][1])
        elif choice < 0.7:
            question = rng.choice([(f, x, y) for f in range(4) if f != form] + [(form, y, x)])
        else:
            question = (form, x, rng.choice([c for c in range(n) if c not in (x, y)] or [y]))
    for _ in range(rng.randint(*spec.distractors)):
        old = rng.randrange(n)
        if rng.random() < 0.7:
            new, n = n, n + 1  # a fresh category
        else:
            new = rng.randrange(n)
            if new == old:
                continue
        form = rng.choice((ALL, ALL, NO, SOME))
        premises.append((form, old, new) if rng.random() < 0.5 else (form, new, old))
    if not _admissible(tuple(premises), question, n, follows):
        return None
    rng.shuffle(premises)
    info = _structure(tuple(premises), question, n)
    if info.follows != follows or (not follows and not info.targets):
        return None
    return draws, chain, info


#: ``(last, bits)`` of each index that ``random.Random.sample(CATEGORIES, len(CATEGORIES))`` draws, in order: its pool
#: algorithm (36 names are below its set-size threshold) draws ``_randbelow(last + 1)``, ``getrandbits(bits)`` until
#: the value is at most ``last``, for ``last`` = 35, 34, ..., 0.
_NAME_DRAWS = tuple((last, (last + 1).bit_length()) for last in range(len(CATEGORIES) - 1, -1, -1))


def _name_draws(rng: random.Random) -> list[int]:
    """The indices that ``rng.sample(CATEGORIES, len(CATEGORIES))`` draws, with the same calls to ``rng``.

    A problem names only its first few categories, and most draws are rejected: so the shuffle of the names
    is drawn (as it must be, for every later draw to stay the same) but only played out, by `_names`, for the
    draw kept. It is 1.5x faster than the sample itself.
    """
    getrandbits = rng.getrandbits
    draws: list[int] = []
    append = draws.append
    for last, bits in _NAME_DRAWS:
        j = getrandbits(bits)
        while j > last:
            j = getrandbits(bits)
        append(j)
    return draws


def _names(draws: list[int], n: int) -> tuple[str, ...]:
    """``rng.sample(CATEGORIES, len(CATEGORIES))[:n]``, from its `_name_draws`."""
    pool = list(CATEGORIES)
    names = []
    for (last, _), j in zip(_NAME_DRAWS[:n], draws, strict=False):
        names.append(pool[j])
        pool[j] = pool[last]
    return tuple(names)


@lru_cache(maxsize=4096)
def _admissible(premises: tuple[Statement, ...], question: Statement, n: int, follows: bool) -> bool:
    """`_draw_theory`'s semantic checks of a draw, before its premises are shuffled (a pure function of them)."""
    if len(set(premises)) < len(premises) or question in premises or question[1] == question[2]:
        return False
    # No category may be forced empty, and a "no" must hold even if every category has members.
    exist = [(SOME, c, c) for c in range(n)]
    form, x, y = question
    negation = (_NEGATION[form], x, y)
    if _NEGATION[form] in (SOME, SOME_NOT):
        # _satisfiable(premises + exist) and _entails(premises, question, n, existential=not follows) ==
        # follows, in one pass: the statements that _entails checks with the negation, the premises (with
        # exist when not follows), are satisfiable since the first check passed, so only the negation is new.
        alone = _satisfiable([*premises, *exist], n, negation)
        if not alone:  # which of the two failed: the first (redraw) or the negation (entailed)?
            if not _satisfiable([*premises, *exist], n):
                return False
        return (not alone) == follows
    if not _satisfiable([*premises, *exist], n):
        return False
    return _entails(premises, question, n, existential=not follows) == follows


def _problem_template(info: _Analysis) -> str:
    """The problem text of a theory of this structure up to its question (`_INSTRUCTIONS` follow), with ``{i}``
    for the name of category i (`str.format`)."""
    template = info.template
    if template is None:
        names = _PLACEHOLDERS
        premises = "".join(f"{i}. {_text(s, names)}.\n" for i, s in enumerate(info.premises, 1))
        question = _text(info.question, names)
        template = info.template = (
            f"Premises:\n{premises}Question: does it follow that {question[0].lower()}{question[1:]}?\n"
        )
    return template


# ---------------------------------------------------------------------- parsing
def _parse_statement(match: re.Match, index: dict[str, int]) -> Statement:
    quantifier, subject, negated, predicate = match.groups()
    for word in (subject, predicate):
        if word not in index:
            raise InvalidStep(f"unknown category {word!r}")
    if subject == predicate:
        raise InvalidStep("a statement relates two different categories")
    if negated and quantifier != "some":
        raise InvalidStep(f"'{quantifier} ... are not' is ambiguous: write 'No ... are ...' or 'Some ... are not ...'")
    form = {"all": ALL, "every": ALL, "no": NO}.get(quantifier, SOME_NOT if negated else SOME)
    return (form, index[subject], index[predicate])


def _parse_derivation(state: SyllogismState, line: str) -> Statement:
    theory = state.theory
    names = theory.names
    line = _ARROWS.sub(" so ", line.replace("n't", " not"))
    matches = list(_STATEMENT.finditer(line))
    if not matches:
        raise InvalidStep("expected a statement such as 'All A are B (from: ...)'")
    index = _index(names)
    statements = [_parse_statement(m, index) for m in matches]
    bounds = [0, *(p for m in matches for p in (m.start(), m.end())), len(line)]
    gaps = [_TOKEN.findall(line[bounds[2 * i] : bounds[2 * i + 1]]) for i in range(len(matches) + 1)]
    for words in gaps:
        for word in words:
            if word not in _FILLERS and not word.isdigit():
                raise InvalidStep(f"unexpected word {word!r}")
    conclusion = 0
    for i in range(1, len(matches)):
        if _CONSEQUENCE.intersection(gaps[i]):
            conclusion = i
    if conclusion == 0 and len(matches) > 1 and _PREMISES_FIRST.intersection(gaps[0]):
        conclusion = len(matches) - 1
    statement = statements[conclusion]
    cited = set(statements[:conclusion] + statements[conclusion + 1 :])
    if len(cited) > 2:
        raise InvalidStep("a step uses one or two known statements")
    for s in sorted(cited):
        if s not in state.known:
            raise InvalidStep(f"{_text(s, names)} is not known")
    if cited and not any(set(way) == cited for way in _derivations(statement, state.known, len(names))):
        cited_text = "; ".join(_text(s, names) for s in sorted(cited))
        raise InvalidStep(f"{_text(statement, names)} does not follow from {cited_text} by one rule")
    return statement


def _answer_value(text: str) -> str | None:
    return yes_no_answer(text, _YES, _NO)
