"""Knights and knaves: deduce who always tells the truth and who always lies, one islander per step."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import lru_cache

from srl_gym.parsing import answer_text, normalize
from srl_gym.rng import FastRandom
from srl_gym.task import InvalidStep, Problem, Task, TaskConfig

#: Names with distinct initials, so an initial ("B is a knave") names one islander.
NAMES = (
    "Alice", "Bob", "Carol", "Dave", "Eve", "Frank", "Grace", "Hank", "Ivy", "Jack", "Kate", "Leo", "Mia",
    "Ned", "Olga", "Paul", "Quinn", "Rose", "Sam", "Tina", "Uma", "Vic", "Wendy", "Xavier", "Yara", "Zack",
)  # fmt: skip
PEOPLE_PER_LEVEL = (2, 3, 4, 5)
BASIC_KINDS = ("is", "same", "diff", "both", "some")
KINDS_PER_LEVEL = (BASIC_KINDS, BASIC_KINDS, (*BASIC_KINDS, "if"), (*BASIC_KINDS, "if", "exactly"))
#: A statement about the islanders (indices), said by one of them:
#: ("is", x, v) "X is a knight" (v True) or "a knave"; ("same", x, y) / ("diff", x, y) "X and Y are the
#: same kind / different kinds"; ("both", x, y, v) "X and Y are both knights/knaves"; ("some", x, y, v)
#: "at least one of X and Y is a knight/knave"; ("if", x, vx, y, vy) "if X is a knight/knave, then Y is a
#: knight/knave"; ("exactly", k, v) "exactly k of us are knights/knaves".
Statement = tuple
#: An action: ("deduce", person, is_knight) or ("answer", knights) with knights a bitmask of the knights.
KKAction = tuple

#: Words for a kind (True: knight), singular and plural.
_KIND_WORDS = {
    word + plural: kind
    for word, kind in (
        ("knight", True),
        ("truth-teller", True),
        ("truthteller", True),
        ("knave", False),
        ("liar", False),
    )
    for plural in ("", "s")
}
_FILLERS = frozenset(
    "is are a an and both must be so therefore thus hence then the also definitely clearly we know that it follows "
    ": , ; = & ->".split()
)
_TOKEN = re.compile(r"->|[a-z]+(?:-[a-z]+)*|\d+|[:,;=&]")
_ALLOWED_CHARS = re.compile(r"[a-z0-9\s,.;:!?&=>()'\"-]*")
MAX_STEP_CHARS = 2000
US_NOTE = ' ("us" means all of them)'


@dataclass
class KnightsKnavesConfig(TaskConfig):
    """Options of `KnightsKnaves` (only the difficulty)."""


@dataclass(frozen=True)
class Puzzle:
    """The islanders, what each one says (``statements[i]`` is said by ``names[i]``) and the truth."""

    names: tuple[str, ...]
    statements: tuple[Statement, ...]
    solution: int  # bit i set: islander i is a knight


@dataclass(frozen=True)
class KKState:
    """The puzzle, the identities deduced so far (bitmasks) and the stated final answer, if any."""

    puzzle: Puzzle
    known: int = 0  # bit i: islander i's identity is deduced
    knights: int = 0  # bit i: islander i was deduced a knight (only bits inside `known`)
    answer: int | None = None  # knights bitmask of the final answer


class KnightsKnaves(Task[KKState, KKAction]):
    """Knights and knaves: each islander always tells the truth (knight) or always lies (knave).

    ## Description
    Each islander makes one statement about the others or themselves. Exactly one assignment of
    knights and knaves is consistent with the statements (a brute force over all 2^n assignments
    confirms it). The agent deduces the islanders one per step, then states the full answer.

    A deduction "X is a knave" is valid when it follows LOCALLY: from ONE islander's statement
    together with the identities already deduced. Concretely, for some speaker S, every
    assignment of the islanders that S's statement involves (S and those it names; everyone for
    "exactly k of us") that agrees with the deduced identities and makes the statement true iff
    S is a knight gives X the same identity. A true identity that needs several statements at
    once is not yet justified, unless no single statement yields anything: then whatever follows
    from all the statements together is accepted (and the oracle takes it). Generated puzzles
    never need that: every generated puzzle is solvable by local deductions alone
    (each deduction is sound and local deducibility only grows as identities are added, so this
    holds from every reachable state too). The oracle deduces the first islander (in the order
    they are introduced) whose identity follows locally, and answers once everyone is known.

    ## Action Space
    Text. A deduction: "Bob is a knave". Also accepted: "Bob: knave", "b is a liar", "Bob must
    be a knave", "so Bob is a knave", "therefore B is a truth-teller", with any case, spacing, a
    "Step k:" label, markdown or a final period; an islander may be named by their initial;
    "liar" means knave and "truth-teller" knight. One deduction per step; a negated form ("Bob
    is not a knave") is not accepted. The final step: "Answer: Alice is a knight, Bob is a knave,
    Carol is a knight" (any order; "Alice and Carol are knights, Bob is a knave" and "A: knight,
    B: knave, C: knight" also work); it must name every islander. An answer ends the episode,
    right or wrong, even before everyone is deduced. Discrete: ``Discrete(4)`` candidate steps,
    the expert's among wrong ones (the opposite identity, an identity not yet justified, a
    flipped answer).

    ## Observation Space
    Text: the problem, the steps so far and the identities known ("Alice knight, Bob ?").
    Discrete: UTF-8 codes of that summary and of each candidate step (128 bytes each).

    ## Starting State
    Random distinct names, a random assignment, and for each islander a random statement whose
    truth matches their kind, redrawn until the puzzle is solvable by local deductions.

    ## Reward
    See `srl_gym.env.ReasoningEnv`. The expert takes n deductions and the answer.

    ## Episode End
    When a final answer is given (right or wrong).

    ## Information
    ``answer`` is the stated assignment ("Alice is a knight, Bob is a knave"); the verifier
    compares the full assignment and accepts any order and the forms above.

    ## Arguments
    ``difficulty``: 0: 2 islanders; 1: 3 islanders; 2: 4 islanders, adds "if ... then ..."; 3: 5
    islanders, adds "exactly k of us are knights". Statement kinds at every level: "X is a
    knight/knave", "X and Y are the same kind / different kinds", "X and Y are both
    knights/knaves", "at least one of X and Y is a knight/knave".

    ## Version History
    - v0: initial release.
    """

    name = "KnightsKnaves"
    domain = "logic"
    # No legal wrong step for expert_noise: apply accepts only sound deductions, and a wrong final
    # answer (the one legal mistake) would end the trajectory instead of letting the oracle re-plan.
    has_wrong_steps = False
    levels = (
        "2 islanders; X is a knight/knave, same/different kinds, both, at least one of",
        "3 islanders; same statement kinds as level 0",
        "4 islanders; adds 'if X is a knight, then Y is a knave'",
        "5 islanders; adds 'exactly k of us are knights/knaves'",
    )
    config_class = KnightsKnavesConfig

    @property
    def n_people(self) -> int:
        return PEOPLE_PER_LEVEL[self.difficulty]

    # ------------------------------------------------------------------ generation
    def generate(self, rng: random.Random) -> Problem[KKState]:
        n, kinds = self.n_people, KINDS_PER_LEVEL[self.difficulty]
        names = tuple(rng.sample(NAMES, n))
        solution, statements = _draw_statements(rng, kinds, n)
        puzzle = Puzzle(names, statements, solution)
        said = "\n".join(f'{names[s]} says: "{_statement_text(st, s, names)}"' for s, st in enumerate(statements))
        text = (
            "On this island every inhabitant is either a knight, who always tells the truth, or a knave, who "
            f"always lies. You meet {n} inhabitants: {_join(names)}"
            f"{US_NOTE if 'exactly' in kinds else ''}.\n"
            f"{said}\n"
            "Deduce who is a knight and who is a knave, one inhabitant per step. A deduction must follow from one "
            "inhabitant's statement together with the identities already deduced.\n"
            "Write each step as: NAME is a knight (or: NAME is a knave)\n"
            f"Finish with: Answer: {', '.join(f'{m} is a knight/knave' for m in names)}"
        )
        state = KKState(puzzle)
        return Problem(text, state, answer=_answer_text(names, solution), meta={"knights": solution})

    # ------------------------------------------------------------------ dynamics
    def is_terminal(self, state: KKState) -> bool:
        return state.answer is not None

    def is_solved(self, problem: Problem, state: KKState) -> bool:
        return state.answer == state.puzzle.solution

    def expert_action(self, state: KKState) -> KKAction | None:
        if state.answer is not None:
            return None
        puzzle = state.puzzle
        everyone = (1 << len(puzzle.names)) - 1
        if state.known == everyone:
            return ("answer", state.knights)
        forced_knights, forced_knaves = _deducible(state)
        forced = forced_knights | forced_knaves
        person = (forced & -forced).bit_length() - 1
        return ("deduce", person, bool(forced_knights >> person & 1))

    def apply(self, state: KKState, action: KKAction) -> KKState:
        if state.answer is not None:
            raise InvalidStep("the final answer was already given")
        if action[0] == "answer":
            return KKState(state.puzzle, state.known, state.knights, action[1])
        _, person, knight = action
        names = state.puzzle.names
        if state.known >> person & 1:
            raise InvalidStep(f"{names[person]} is already deduced")
        forced_knights, forced_knaves = _deducible(state)
        if not (forced_knights if knight else forced_knaves) >> person & 1:
            kind = "knight" if knight else "knave"
            raise InvalidStep(
                f"{names[person]} being a {kind} does not follow from any one statement and the identities so far"
            )
        bit = 1 << person
        return KKState(state.puzzle, state.known | bit, state.knights | (bit if knight else 0))

    # ------------------------------------------------------------------ text
    def format_step(self, state: KKState, action: KKAction) -> str:
        names = state.puzzle.names
        if action[0] == "answer":
            return f"Answer: {_answer_text(names, action[1])}"
        return f"{names[action[1]]} is a {'knight' if action[2] else 'knave'}"

    def parse_step(self, state: KKState, text: str) -> KKAction:
        if not isinstance(text, str) or len(text) > MAX_STEP_CHARS:
            raise InvalidStep("expected a short step such as 'Bob is a knave'")
        names = state.puzzle.names
        action = _read_canonical(names, text)
        return _parse(names, text) if action is None else action

    def known_expert_length(self, problem: Problem) -> int:
        state = problem.initial_state  # one deduction per islander not yet deduced, then the answer
        return len(state.puzzle.names) - state.known.bit_count() + 1

    def answer(self, problem: Problem, state: KKState, steps: list[str]) -> str:
        return "" if state.answer is None else _answer_text(state.puzzle.names, state.answer)

    def verify(self, problem: Problem, answer: str) -> bool:
        if not isinstance(answer, str) or len(answer) > MAX_STEP_CHARS:
            return False
        puzzle = problem.initial_state.puzzle
        stated = answer_text(answer)
        try:
            knights = _read_assignment(puzzle.names, normalize(answer if stated is None else stated))
        except InvalidStep:
            return False
        return knights == puzzle.solution

    def render_state(self, state: KKState) -> str:
        return ", ".join(
            f"{name} {('knight' if state.knights >> i & 1 else 'knave') if state.known >> i & 1 else '?'}"
            for i, name in enumerate(state.puzzle.names)
        )

    def distractors(self, state: KKState, expert: KKAction, rng: random.Random) -> list[KKAction]:
        puzzle = state.puzzle
        n = len(puzzle.names)
        if expert[0] == "answer":
            flips = [("answer", expert[1] ^ (1 << i)) for i in range(n)]
            return rng.sample(flips, min(3, n))
        wrong = [("deduce", expert[1], not expert[2])]
        others = [i for i in range(n) if not state.known >> i & 1 and i != expert[1]]
        rng.shuffle(others)
        forced_knights, forced_knaves = _deducible(state)
        for i in others:
            truth = bool(puzzle.solution >> i & 1)
            wrong.append(("deduce", i, not truth))  # a false identity
            if not (forced_knights | forced_knaves) >> i & 1:
                wrong.append(("deduce", i, truth))  # a true identity that does not follow yet
        if len(wrong) < 3:
            wrong.append(("answer", puzzle.solution ^ (1 << expert[1])))
        return wrong[:3]


# ---------------------------------------------------------------------- reading steps
#: A deduction exactly as `KnightsKnaves.format_step` writes it ("Bob is a knave"): `_parse` reads such a text, with
#: one of the islanders' names, as that islander and kind; `KnightsKnaves.parse_step` reads it so without the rest.
_CANONICAL_STEP = re.compile(r"([A-Z][a-z]+) is a (knight|knave)")
#: A final answer exactly as `KnightsKnaves.format_step` writes it ("Answer: Alice is a knight, Bob is a knave").
_CANONICAL_ANSWER = re.compile(r"Answer: ([A-Z][a-z]+ is a (?:knight|knave)(?:, [A-Z][a-z]+ is a (?:knight|knave))*)")


def _read_canonical(names: tuple[str, ...], text: str) -> KKAction | None:
    """`_parse` of a text in `KnightsKnaves.format_step`'s own form, read at once; None for any other text.

    A deduction names one of the islanders; an answer names each islander once (anything else, such as a name
    given twice, is left to `_parse`). `_parse` reads such a text as the same names and kinds: the other words are
    fillers and articles.
    """
    index = _name_index(names)[0]
    match = _CANONICAL_STEP.fullmatch(text)
    if match:
        person = index.get(match[1].lower())
        return None if person is None else ("deduce", person, match[2] == "knight")
    match = _CANONICAL_ANSWER.fullmatch(text)
    if not match:
        return None
    known = knights = 0
    for name, kind in _CANONICAL_STEP.findall(match[1]):
        person = index.get(name.lower())
        if person is None or known >> person & 1:
            return None
        known |= 1 << person
        knights |= (kind == "knight") << person
    return ("answer", knights) if known == (1 << len(names)) - 1 else None


def _parse(names: tuple[str, ...], text: str) -> KKAction:
    """`KnightsKnaves.parse_step` of ``text`` (a str of at most `MAX_STEP_CHARS`): the full reader."""
    stated = answer_text(text)
    if stated is not None:
        return ("answer", _read_assignment(names, normalize(stated)))
    pairs = _read_pairs(names, normalize(text))
    if len(pairs) != 1:
        raise InvalidStep("write exactly one deduction per step, e.g. 'Bob is a knave'")
    return ("deduce", *pairs[0])


# ---------------------------------------------------------------------- logic
def _holds(statement: Statement, n: int, m: int) -> bool:
    """Whether ``statement`` is true when the knights are the bits of ``m``."""
    kind = statement[0]
    if kind == "is":
        return bool(m >> statement[1] & 1) == statement[2]
    if kind == "same" or kind == "diff":
        equal = (m >> statement[1] & 1) == (m >> statement[2] & 1)
        return equal == (kind == "same")
    if kind == "both" or kind == "some":
        _, x, y, v = statement
        hits = (bool(m >> x & 1) == v) + (bool(m >> y & 1) == v)
        return hits == 2 if kind == "both" else hits >= 1
    if kind == "if":
        _, x, vx, y, vy = statement
        return bool(m >> x & 1) != vx or bool(m >> y & 1) == vy
    _, k, v = statement  # exactly
    knights = m.bit_count()
    return (knights if v else n - knights) == k


def _involved(statement: Statement, speaker: int, n: int) -> int:
    """The bitmask of the islanders a statement involves: its speaker and everyone it names."""
    kind = statement[0]
    if kind == "exactly":
        return (1 << n) - 1
    people = statement[1:2] if kind == "is" else statement[1::2] if kind == "if" else statement[1:3]
    mask = 1 << speaker
    for p in people:
        mask |= 1 << p
    return mask


@lru_cache(maxsize=4096)
def _models(n: int, statements: tuple[Statement, ...]) -> tuple[tuple[int, tuple[int, ...]], ...]:
    """Per speaker: the involved mask and the assignments of those islanders that fit the statement."""
    table = []
    for speaker, statement in enumerate(statements):
        involved = _involved(statement, speaker, n)
        models, sub = [], involved
        while True:  # every sub-mask of `involved`
            if _holds(statement, n, sub) == bool(sub >> speaker & 1):
                models.append(sub)
            if sub == 0:
                break
            sub = (sub - 1) & involved
        table.append((involved, tuple(models)))
    return tuple(table)


@lru_cache(maxsize=16384)
def _forced(n: int, statements: tuple[Statement, ...], known: int, knights: int) -> tuple[int, int]:
    """The unknown islanders whose identity follows locally: (forced knights, forced knaves) bitmasks."""
    forced_knights = forced_knaves = 0
    for involved, models in _models(n, statements):
        always, ever = involved, 0
        for m in models:
            if (m ^ knights) & known & involved == 0:
                always &= m
                ever |= m
        open_ = involved & ~known
        forced_knights |= always & open_
        forced_knaves |= ~ever & open_
    return forced_knights, forced_knaves


def _deducible(state: KKState) -> tuple[int, int]:
    """The islanders a deduction may name now: (knights, knaves) bitmasks.

    Those that follow locally (see `_forced`); when none does, those that follow from all the
    statements together (full entailment, by brute force). Generated puzzles never need the latter.
    """
    n, statements = len(state.puzzle.names), state.puzzle.statements
    forced = _forced(n, statements, state.known, state.knights)
    return forced if forced[0] | forced[1] else _entailed(n, statements, state.known, state.knights)


@lru_cache(maxsize=1024)
def _entailed(n: int, statements: tuple[Statement, ...], known: int, knights: int) -> tuple[int, int]:
    """The unknown islanders whose identity is the same in every assignment fitting all statements."""
    open_ = ((1 << n) - 1) & ~known
    always, ever = open_, 0
    for m in range(1 << n):
        if (m ^ knights) & known == 0 and all(_holds(st, n, m) == bool(m >> s & 1) for s, st in enumerate(statements)):
            always &= m
            ever |= m
    return always & open_, ~ever & open_


def _locally_solvable(n: int, statements: tuple[Statement, ...]) -> bool:
    known = knights = 0
    everyone = (1 << n) - 1
    while known != everyone:
        forced_knights, forced_knaves = _forced(n, statements, known, knights)
        if forced_knights & forced_knaves:
            return False  # no assignment fits
        if not forced_knights | forced_knaves:
            return False
        known |= forced_knights | forced_knaves
        knights |= forced_knights
    return True


def _draw_statements(rng: random.Random, kinds: tuple[str, ...], n: int) -> tuple[int, tuple[Statement, ...]]:
    """A random solution and one statement per islander, that local deductions solve."""
    while True:
        solution = rng.getrandbits(n)
        statements = [_random_statement(rng, kinds, n, s, solution) for s in range(n)]
        for _ in range(8 * n):  # redraw one statement at a time, then start over
            if _locally_solvable(n, tuple(statements)):
                return solution, tuple(statements)
            speaker = rng.randrange(n)
            statements[speaker] = _random_statement(rng, kinds, n, speaker, solution)


#: ``_OTHERS[n][speaker]``: the islanders other than ``speaker`` among ``n`` (what a statement "X is a ..." names).
_OTHERS = {n: tuple(tuple(p for p in range(n) if p != s) for s in range(n)) for n in PEOPLE_PER_LEVEL}


def _two_of(rng: random.Random, n: int) -> tuple[int, int]:
    """``rng.sample(range(n), 2)`` (2 <= n <= 21), the same two draws without `FastRandom.sample`'s checks.

    For such a ``sample`` both ``random.Random`` and `FastRandom` take an index below n, then one below n - 1
    into the pool where the last islander has moved into the first one's place, each by
    ``getrandbits(bit_length)`` redrawn while out of range (``_randbelow``); other RNG classes keep ``sample``.
    """
    if type(rng) is not FastRandom and type(rng) is not random.Random:
        return tuple(rng.sample(range(n), 2))
    getrandbits = rng.getrandbits
    bits = n.bit_length()
    first = getrandbits(bits)
    while first >= n:
        first = getrandbits(bits)
    last = n - 1
    bits = last.bit_length()
    second = getrandbits(bits)
    while second >= last:
        second = getrandbits(bits)
    return first, (last if second == first else second)


def _random_statement(rng: random.Random, kinds: tuple[str, ...], n: int, speaker: int, solution: int) -> Statement:
    """A random statement that is true iff ``speaker`` is a knight in ``solution``."""
    truthful = bool(solution >> speaker & 1)
    others = _OTHERS[n][speaker]
    while True:
        kind = rng.choice(kinds)
        if kind == "is":
            statement = ("is", rng.choice(others), rng.random() < 0.5)
        elif kind in ("same", "diff"):
            x, y = sorted(_two_of(rng, n))
            statement = (kind, x, y)
        elif kind in ("both", "some"):
            x, y = sorted(_two_of(rng, n))
            statement = (kind, x, y, rng.random() < 0.5)
        elif kind == "if":
            x, y = _two_of(rng, n)
            statement = ("if", x, rng.random() < 0.5, y, rng.random() < 0.5)
        else:
            statement = ("exactly", rng.randint(1, n - 1), rng.random() < 0.5)
        if _holds(statement, n, solution) == truthful:
            return statement


# ---------------------------------------------------------------------- text
def _join(words: list[str] | tuple[str, ...]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _statement_text(statement: Statement, speaker: int, names: tuple[str, ...]) -> str:
    def kind_word(v: bool, plural: bool = False) -> str:
        return ("knight" if v else "knave") + ("s" if plural else "")

    def pair(x: int, y: int, object_case: bool = False) -> str:
        if speaker in (x, y):
            return f"{names[y if x == speaker else x]} and {'me' if object_case else 'I'}"
        return f"{names[x]} and {names[y]}"

    def clause(x: int, v: bool) -> str:
        return f"I am a {kind_word(v)}" if x == speaker else f"{names[x]} is a {kind_word(v)}"

    kind = statement[0]
    if kind == "is":
        return f"{clause(statement[1], statement[2])}."
    if kind == "same":
        return f"{pair(statement[1], statement[2])} are the same kind."
    if kind == "diff":
        return f"{pair(statement[1], statement[2])} are different kinds."
    if kind == "both":
        return f"{pair(statement[1], statement[2])} are both {kind_word(statement[3], True)}."
    if kind == "some":
        return f"At least one of {pair(statement[1], statement[2], True)} is a {kind_word(statement[3])}."
    if kind == "if":
        _, x, vx, y, vy = statement
        return f"If {clause(x, vx)}, then {clause(y, vy)}."
    _, k, v = statement
    return f"Exactly {k} of us {'is a' if k == 1 else 'are'} {kind_word(v, k != 1)}."


def _answer_text(names: tuple[str, ...], knights: int) -> str:
    return ", ".join(f"{name} is a {'knight' if knights >> i & 1 else 'knave'}" for i, name in enumerate(names))


def _read_pairs(names: tuple[str, ...], text: str) -> list[tuple[int, bool]]:
    """The (islander, is_knight) claims in ``text``: names, then a kind word, repeated."""
    if not _ALLOWED_CHARS.fullmatch(text):
        raise InvalidStep("unexpected characters; write e.g. 'Bob is a knave'")
    full, initials = _name_index(names)
    tokens = _TOKEN.findall(text.replace("truth teller", "truth-teller"))
    pairs, pending = [], []
    for k, token in enumerate(tokens):
        if token in _KIND_WORDS:
            if not pending:
                raise InvalidStep("name the inhabitant before 'knight'/'knave'")
            knight = _KIND_WORDS[token]
            pairs += [(p, knight) for p in pending]
            pending = []
        elif token in full:
            pending.append(full[token])
        elif token in ("a", "an") and k + 1 < len(tokens) and tokens[k + 1] in _KIND_WORDS:
            continue  # an article: "a knave"
        elif len(token) == 1 and token in initials:
            pending.append(initials[token])
        elif token not in _FILLERS:
            raise InvalidStep(f"unexpected word {token[:20]!r}; write e.g. 'Bob is a knave'")
    if pending or not pairs:
        raise InvalidStep("expected 'NAME is a knight' or 'NAME is a knave'")
    return pairs


@lru_cache(maxsize=1024)
def _name_index(names: tuple[str, ...]) -> tuple[dict[str, int], dict[str, int]]:
    """Each name and each initial (lower case) -> the islander: what `_read_pairs` looks tokens up in (cached per
    puzzle's names; never changed)."""
    return {name.lower(): i for i, name in enumerate(names)}, {name[0].lower(): i for i, name in enumerate(names)}


def _read_assignment(names: tuple[str, ...], text: str) -> int:
    """The knights bitmask of a full answer naming every islander once (or consistently)."""
    knights = known = 0
    for person, knight in _read_pairs(names, text):
        bit = 1 << person
        if known & bit and bool(knights & bit) != knight:
            raise InvalidStep(f"the answer calls {names[person]} both a knight and a knave")
        known |= bit
        knights |= bit if knight else 0
    if known != (1 << len(names)) - 1:
        missing = [name for i, name in enumerate(names) if not known >> i & 1]
        raise InvalidStep(f"the answer must name every inhabitant; missing {', '.join(missing)}")
    return knights
