"""Small zebra puzzles (houses in a row, one value of each attribute per house) solved by propagation steps."""

from __future__ import annotations

import itertools
import random
import re
from dataclasses import dataclass, field
from functools import lru_cache

from srl_gym.parsing import answer_text, normalize
from srl_gym.task import InvalidStep, Problem, Task, TaskConfig

#: Attributes: (name, values). Every value is one word, unique across attributes, so a step can name it alone.
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("colour", ("red", "green", "blue", "yellow", "white")),
    ("nationality", ("Brit", "Swede", "Dane", "German", "Norwegian")),
    ("pet", ("dog", "cat", "bird", "fish", "horse")),
    ("drink", ("tea", "coffee", "milk", "water", "juice")),
    ("job", ("doctor", "teacher", "painter", "baker", "pilot")),
)
COLOUR, NATIONALITY, PET, DRINK, JOB = range(len(CATEGORIES))
#: (houses, attributes) per difficulty level.
SIZES = ((2, 2), (3, 2), (3, 3), (4, 3))
#: Clue kinds and how often the generator draws each.
CLUE_WEIGHTS = {"same": 3, "not_same": 1, "left": 2, "next": 2, "at": 1, "not_at": 1}
#: A clue: (kind, a, b) with a and b value indices, except ("at" | "not_at", value, house).
#: "same": a and b in the same house; "not_same": different houses; "left": a directly left of b
#: (house(b) = house(a) + 1); "next": neighbours; "at"/"not_at": a is / is not in that house.
Clue = tuple[str, int, int]
#: An action: ("place", value, house), ("elim", value, house) or ("answer", houses) with houses the
#: 0-based house of every value. Value v belongs to attribute v // n_houses of the puzzle.
ZebraAction = tuple

_ALIASES = {"british": "brit", "swedish": "swede", "danish": "dane"}
_NUMBER_WORDS = {w: i for i, w in enumerate(("one", "two", "three", "four", "five"), 1)} | {
    w: i for i, w in enumerate(("first", "second", "third", "fourth", "fifth"), 1)
}
_NEGATIONS = frozenset({"not", "no", "never", "cannot", "isnt", "doesnt"})
_FILLERS = frozenset(
    "the is in at lives live living house houses has have owns own keeps keep of a an so therefore thus hence then "
    "must be owner drinker drinks drink person man woman who with can does do number located goes belongs to for "
    "it its s occupies colour color".split()
)
_ALLOWED_CHARS = re.compile(r"[a-z0-9\s,.;:!?&=>()'\"#-]*")
_TOKEN = re.compile(r"[a-z]+|\d+")
MAX_STEP_CHARS = 2000


@dataclass
class ZebraConfig(TaskConfig):
    """Options of `Zebra` (only the difficulty)."""


@dataclass(frozen=True)
class Puzzle:
    """The houses, the values (attribute by attribute), the clues and the solution."""

    n_houses: int
    categories: tuple[int, ...]  # indices into CATEGORIES, one per attribute of the puzzle
    values: tuple[str, ...]  # n_houses values per attribute, attribute after attribute
    clues: tuple[Clue, ...]
    solution: tuple[int, ...]  # 0-based house of each value
    by_value: tuple[tuple[Clue, ...], ...] = field(compare=False, repr=False)  # the clues naming each value


@dataclass(frozen=True)
class ZebraState:
    """The puzzle, the candidate houses of each value (bitmasks, bit h = house h + 1) and the answer."""

    puzzle: Puzzle
    domains: tuple[int, ...]
    answer: tuple[int, ...] | None = None


class Zebra(Task[ZebraState, ZebraAction]):
    """Zebra puzzles: find which house has which value of each attribute, by propagation steps.

    ## Description
    Houses 1..n stand in a row, left to right. Each house has exactly one value of each attribute
    (colour, nationality, pet, drink, job; each level uses a few of them) and the clues pin down
    one solution. The agent keeps, for each value, the houses it can still be in (all at first)
    and narrows them one step at a time.

    A step is a placement ("The dog is in house 2": the dog's other candidate houses are ruled
    out) or an elimination ("The dog is not in house 3"). It is valid when ONE source justifies
    it given the current candidates: a clue naming the value (the value in that house would leave
    the clue's other value no candidate house satisfying it), or the all-different rule (another
    value of the same attribute is placed in that house, or the value is the only candidate of
    its attribute left for some other house). A placement must rule out all the other candidate
    houses with a single source; a value whose candidates shrink to one house is placed. Every
    step is sound and the rules only get stronger as candidates shrink, so a puzzle that
    propagation solves from the start is solved from every reachable state: there are no dead
    ends. The oracle places the first value (in the listing order) that one source places,
    otherwise it makes the first justified elimination (by value, then house), and answers once
    every value is placed.

    ## Action Space
    Text. "The dog is in house 2" / "The dog is not in house 3" (colours: "The red house is house
    2"; drinks: "The tea drinker is in house 2"). Also accepted: "dog: house 2", "house 2 has the dog",
    "the dog owner lives in house 2", "dog not in house 3", "house 3 does not have the dog",
    "the tea drinker isn't in house three", with any case, spacing, a "Step k:" label, markdown
    or a final period; "British", "Swedish", "Danish" name the Brit, Swede, Dane. One value and
    one house per step. The final step: "Answer: house 1: red, Brit, dog; house 2: ..." (any order
    within a house; "red: house 1, dog: house 1, ..." also works); it must place every value. An
    answer ends the episode, right or wrong. Discrete: ``Discrete(4)`` candidate steps, the
    expert's among false ones (a wrong house, an elimination of the true house, a swapped answer).

    ## Observation Space
    Text: the problem, the steps so far and a summary of the candidates: the placed values per
    house, then each narrowed value with its candidate houses ("1: red dog | 2: - | 3: -; cat 23");
    a value not listed can still be in any house.
    Discrete: UTF-8 codes of that summary and of each candidate step (128 bytes each).

    ## Starting State
    Random attributes, values and solution; random true clues are added (each one only if it
    narrows the candidates further) until propagation places every value, which also proves the
    solution unique. The clues are shuffled, then every clue the others make redundant is dropped
    (direct "lives in house k" clues first), so each remaining clue is needed. Clue kinds: same
    house ("The Brit lives in the red house"), different houses, directly left of, next to, in
    house k, not in house k.

    ## Reward
    See `srl_gym.env.ReasoningEnv`.

    ## Episode End
    When a final answer is given (right or wrong).

    ## Information
    ``answer`` is the stated assignment ("house 1: red, dog; house 2: ..."); the verifier compares
    the full assignment, whatever the order and formatting.

    ## Arguments
    ``difficulty``: 0: 2 houses x 2 attributes; 1: 3 x 2; 2: 3 x 3; 3: 4 x 3.

    ## Version History
    - v0: initial release.
    """

    name = "Zebra"
    domain = "logic"
    # No legal wrong step for expert_noise: apply accepts only sound deductions, and a wrong final
    # answer (the one legal mistake) would end the trajectory instead of letting the oracle re-plan.
    has_wrong_steps = False
    levels = tuple(
        f"{h} houses x {a} attributes, clues: same house, left of, next to, in/not in house" for h, a in SIZES
    )
    config_class = ZebraConfig

    # ------------------------------------------------------------------ generation
    def generate(self, rng: random.Random) -> Problem[ZebraState]:
        n, n_attributes = SIZES[self.difficulty]
        categories = tuple(sorted(rng.sample(range(len(CATEGORIES)), n_attributes)))
        values, solution = [], []
        for c in categories:
            values += [CATEGORIES[c][1][i] for i in sorted(rng.sample(range(5), n))]
            solution += rng.sample(range(n), n)
        full = (1 << n) - 1
        domains, clues, seen = [full] * len(values), [], set()
        at_house = {(v // n, h): v for v, h in enumerate(solution)}  # (attribute, house) -> value
        while any(d & (d - 1) for d in domains):
            clue = _random_clue(rng, n, solution, at_house)
            key = (clue[0], *sorted(clue[1:])) if clue[0] in ("same", "not_same", "next") else clue
            if key in seen:
                continue
            seen.add(key)
            if all(domains[v] & _allowed(clue, v, domains, full) == domains[v] for v in _clue_values(clue)):
                continue  # the candidates are a fixpoint of the other clues: this one would add nothing
            clues.append(clue)
            domains = _propagate(n, clues, domains)
        rng.shuffle(clues)
        # Drop the clues the others make redundant, direct "in house k" clues first (they make dull puzzles).
        for clue in sorted(clues, key=lambda c: c[0] != "at"):
            rest = [c for c in clues if c != clue]
            if all(d & (d - 1) == 0 for d in _propagate(n, rest, [full] * len(values))):
                clues = rest
        puzzle = _make_puzzle(n, categories, tuple(values), tuple(clues), tuple(solution))
        listing = [
            f"a different {CATEGORIES[c][0]} ({', '.join(values[i * n : i * n + n])})" for i, c in enumerate(categories)
        ]
        clue_lines = "\n".join(f"{i}. {_clue_text(puzzle, clue)}" for i, clue in enumerate(clues, 1))
        example = "; ".join(f"house {h}: {', '.join(['...'] * n_attributes)}" for h in range(1, n + 1))
        text = (
            f"There are {n} houses in a row, numbered 1 to {n} from left to right. Each house has "
            f"{', '.join(listing[:-1])} and {listing[-1]}.\nClues:\n{clue_lines}\n"
            "Solve it by propagation: keep, for each value, the houses it can still be in. Each step places a value "
            "in a house or rules a house out for it, and must follow from one clue, or from the rule that each house "
            "has exactly one value of each attribute, given the steps so far.\n"
            "Write each step as: The dog is in house 2 (or: The dog is not in house 3)\n"
            f"Finish with: Answer: {example}"
        )
        state = ZebraState(puzzle, (full,) * len(values))
        return Problem(text, state, answer=_answer_text(puzzle, puzzle.solution), meta={"solution": puzzle.solution})

    # ------------------------------------------------------------------ dynamics
    def is_terminal(self, state: ZebraState) -> bool:
        return state.answer is not None

    def is_solved(self, problem: Problem, state: ZebraState) -> bool:
        return state.answer == state.puzzle.solution

    def expert_action(self, state: ZebraState) -> ZebraAction | None:
        if state.answer is not None:
            return None
        return _expert_step(state.puzzle, state.domains)

    def apply(self, state: ZebraState, action: ZebraAction) -> ZebraState:
        if state.answer is not None:
            raise InvalidStep("the final answer was already given")
        puzzle, domains = state.puzzle, state.domains
        if action[0] == "answer":
            return ZebraState(puzzle, domains, tuple(action[1]))
        kind, v, house = action
        bit, d = 1 << house, domains[v]
        if not d & bit:
            raise InvalidStep(f"house {house + 1} was already ruled out for {_value_phrase(puzzle, v)}")
        if d == bit:
            raise InvalidStep(f"{_value_phrase(puzzle, v)} is already placed in house {house + 1}")
        sources = _sources(puzzle, domains, v)
        if kind == "place":
            if not any(d & allowed == bit for allowed in sources):
                value = _value_phrase(puzzle, v)
                raise InvalidStep(f"no single clue or the all-different rule places {value} in house {house + 1} yet")
            new = bit
        else:
            if all(allowed & bit for allowed in sources):
                value = _value_phrase(puzzle, v)
                raise InvalidStep(f"no single clue or the all-different rule rules out house {house + 1} for {value}")
            new = d & ~bit
        return ZebraState(puzzle, domains[:v] + (new,) + domains[v + 1 :])

    # ------------------------------------------------------------------ text
    def format_step(self, state: ZebraState, action: ZebraAction) -> str:
        puzzle = state.puzzle
        if action[0] == "answer":
            return f"Answer: {_answer_text(puzzle, action[1])}"
        kind, v, house = action
        negation = "not " if kind == "elim" else ""
        category, word = _category(puzzle, v), puzzle.values[v]
        if category == COLOUR:
            return f"The {word} house is {negation}house {house + 1}"
        subject = f"{word} drinker" if category == DRINK else word
        return f"The {subject} is {negation}in house {house + 1}"

    def parse_step(self, state: ZebraState, text: str) -> ZebraAction:
        if not isinstance(text, str) or len(text) > MAX_STEP_CHARS:
            raise InvalidStep("expected a short step such as 'The dog is in house 2'")
        puzzle = state.puzzle
        action = _read_canonical(puzzle, text)
        return self._parse(puzzle, text) if action is None else action

    def _parse(self, puzzle: Puzzle, text: str) -> ZebraAction:
        """`parse_step` of any text: the full reader."""
        stated = answer_text(text)
        if stated is not None:
            return ("answer", _read_assignment(puzzle, normalize(stated)))
        value = house = None
        negated = False
        for kind, item in _tokens(puzzle, normalize(text)):
            if kind == "word" and item not in _FILLERS:
                raise InvalidStep(f"unexpected word {item[:20]!r}; write e.g. 'The dog is in house 2'")
            if kind == "not":
                if negated:
                    raise InvalidStep("write one negation at most")
                negated = True
            elif kind == "value":
                if value is not None and value != item:
                    raise InvalidStep("name one value per step")
                value = item
            elif kind == "house":
                if house is not None and house != item:
                    raise InvalidStep("name one house per step")
                house = item
        if value is None or house is None:
            raise InvalidStep("expected 'The dog is in house 2' or 'The dog is not in house 3'")
        return ("elim" if negated else "place", value, house)

    def known_expert_length(self, problem: Problem) -> int:
        state = problem.initial_state
        return _expert_length(state.puzzle, state.domains)

    def answer(self, problem: Problem, state: ZebraState, steps: list[str]) -> str:
        return "" if state.answer is None else _answer_text(state.puzzle, state.answer)

    def verify(self, problem: Problem, answer: str) -> bool:
        if not isinstance(answer, str) or len(answer) > MAX_STEP_CHARS:
            return False
        puzzle = problem.initial_state.puzzle
        stated = answer_text(answer)
        try:
            return _read_assignment(puzzle, normalize(answer if stated is None else stated)) == puzzle.solution
        except InvalidStep:
            return False

    def render_state(self, state: ZebraState) -> str:
        puzzle, domains = state.puzzle, state.domains
        full = (1 << puzzle.n_houses) - 1
        houses = [[] for _ in range(puzzle.n_houses)]
        open_values = []  # values narrowed but not placed; the others can still be anywhere
        for v, d in enumerate(domains):
            if d == full:
                continue
            if d & (d - 1):
                digits = "".join(str(h + 1) for h in range(puzzle.n_houses) if d >> h & 1)
                open_values.append(f"{puzzle.values[v]} {digits}")
            else:
                houses[d.bit_length() - 1].append(puzzle.values[v])
        placed = " | ".join(f"{h}: {' '.join(vals) or '-'}" for h, vals in enumerate(houses, 1))
        return f"{placed}; {', '.join(open_values)}" if open_values else placed

    def distractors(self, state: ZebraState, expert: ZebraAction, rng: random.Random) -> list[ZebraAction]:
        puzzle = state.puzzle
        n, truth = puzzle.n_houses, puzzle.solution
        if expert[0] == "answer":
            swaps = []
            for v in range(len(truth)):
                u = v + 1
                if u % n:  # swap the houses of two neighbouring values of one attribute
                    wrong = list(truth)
                    wrong[v], wrong[u] = wrong[u], wrong[v]
                    swaps.append(("answer", tuple(wrong)))
            return rng.sample(swaps, min(3, len(swaps)))
        domains = state.domains
        open_values = [v for v, d in enumerate(domains) if d & (d - 1) and v != expert[1]]
        rng.shuffle(open_values)
        wrong = []
        choice = rng.choice
        for v in (expert[1], *open_values):
            wrong.append(("place", v, choice(_false_houses(n, domains[v], truth[v]))))  # a false placement
            wrong.append(("elim", v, truth[v]))  # ruling out the true house
        return [a for a in wrong if a != expert][:3]


@lru_cache(maxsize=1024)
def _false_houses(n: int, d: int, true_house: int) -> tuple[int, ...]:
    """The houses of candidates ``d`` other than the true one, else every other house: where a false placement
    goes (a pure function of three small ints, so cached)."""
    return tuple(h for h in range(n) if d >> h & 1 and h != true_house) or tuple(h for h in range(n) if h != true_house)


# ---------------------------------------------------------------------- propagation
def _make_puzzle(
    n: int, categories: tuple[int, ...], values: tuple[str, ...], clues: tuple[Clue, ...], solution: tuple[int, ...]
) -> Puzzle:
    """A `Puzzle`, with each value's clues indexed."""
    by_value = tuple(tuple(c for c in clues if v in _clue_values(c)) for v in range(len(values)))
    return Puzzle(n, categories, values, clues, solution, by_value)


def _clue_values(clue: Clue) -> tuple[int, ...]:
    return clue[1:2] if clue[0] in ("at", "not_at") else clue[1:]


def _allowed(clue: Clue, v: int, domains: tuple[int, ...] | list[int], full: int) -> int:
    """The houses ``clue`` still allows for value ``v``, given the candidates of its other value."""
    kind, a, b = clue
    if kind == "at":
        return 1 << b
    if kind == "not_at":
        return full & ~(1 << b)
    other = domains[b if v == a else a]
    if kind == "same":
        return other
    if kind == "not_same":
        return full & ~other if other & (other - 1) == 0 else full
    if kind == "next":
        return ((other << 1) | (other >> 1)) & full
    return other >> 1 if v == a else (other << 1) & full  # left: house(b) = house(a) + 1


def _all_different(n: int, domains: tuple[int, ...] | list[int], first: int) -> list[int]:
    """What the all-different rule allows for each value of the attribute whose values start at ``first``:
    the houses not taken by another placed value; or the one house where the value is the only candidate."""
    group = domains[first : first + n]
    once = twice = taken = 0
    for d in group:
        twice |= once & d
        once |= d
        if d & (d - 1) == 0:
            taken |= d
    unique = once & ~twice  # houses with a single candidate left
    full = (1 << n) - 1
    allowed = []
    for d in group:
        only = d & unique
        allowed.append(only if only else full & ~(taken & ~d if d & (d - 1) == 0 else taken))
    return allowed


def _sources(puzzle: Puzzle, domains: tuple[int, ...], v: int) -> list[int]:
    """What each single source (each clue naming ``v``, then all-different) allows for ``v``."""
    n = puzzle.n_houses
    allowed = [_allowed(c, v, domains, (1 << n) - 1) for c in puzzle.by_value[v]]
    allowed.append(_all_different(n, domains, v - v % n)[v % n])
    return allowed


def _expert_length(puzzle: Puzzle, domains: tuple[int, ...], most: int = 10_000) -> int:
    """``len(expert_trajectory(...))`` from ``domains``: the oracle's actions alone (its steps are valid, so
    `Zebra.apply` narrows one value's candidates as the action says; the answer ends the trajectory)."""
    for steps in range(1, most + 1):
        action = _expert_step(puzzle, domains)
        if action[0] == "answer":
            return steps
        kind, v, house = action
        bit = 1 << house
        domains = domains[:v] + ((bit if kind == "place" else domains[v] & ~bit),) + domains[v + 1 :]
    raise RuntimeError(f"Zebra: expert did not finish within {most} steps")


@lru_cache(maxsize=4096)
def _expert_step(puzzle: Puzzle, domains: tuple[int, ...]) -> ZebraAction:
    """The oracle's step (see `Zebra`): the first placement one source justifies, else the first elimination."""
    if all(d & (d - 1) == 0 for d in domains):
        return ("answer", tuple(d.bit_length() - 1 for d in domains))
    n, full = puzzle.n_houses, (1 << puzzle.n_houses) - 1
    sources = []
    for first in range(0, len(domains), n):
        for v, all_different in enumerate(_all_different(n, domains, first), first):
            if domains[v] & (domains[v] - 1):
                sources.append((v, [*(_allowed(c, v, domains, full) for c in puzzle.by_value[v]), all_different]))
    for v, allowed in sources:
        d = domains[v]
        for a in allowed:
            kept = d & a
            if kept != d and kept & (kept - 1) == 0:
                return ("place", v, kept.bit_length() - 1)
    for v, allowed in sources:
        d = domains[v]
        for a in allowed:
            if d & ~a:
                ruled_out = d & ~a
                return ("elim", v, (ruled_out & -ruled_out).bit_length() - 1)
    return ("answer", puzzle.solution)  # propagation stuck: unreachable for generated puzzles


def _propagate(n: int, clues: list[Clue], domains: list[int]) -> list[int]:
    """The candidates once every clue and the all-different rule are applied until nothing changes."""
    domains = list(domains)
    full = (1 << n) - 1
    pairs = [(clue, v) for clue in clues for v in _clue_values(clue)]  # (the same every round)
    changed = True
    while changed:
        changed = False
        for clue, v in pairs:
            narrowed = domains[v] & _allowed(clue, v, domains, full)
            if narrowed != domains[v]:
                domains[v], changed = narrowed, True
        for first in range(0, len(domains), n):
            for v, allowed in enumerate(_all_different(n, domains, first), first):
                if domains[v] & allowed != domains[v]:
                    domains[v], changed = domains[v] & allowed, True
    return domains


#: `CLUE_WEIGHTS` as ``choices`` takes them at once: the kinds and the cumulative weights (``choices`` accumulates
#: plain weights into these very numbers, then draws the same one ``random()``).
_CLUE_KINDS = tuple(CLUE_WEIGHTS)
_CLUE_CUM_WEIGHTS = tuple(itertools.accumulate(CLUE_WEIGHTS.values()))
#: ``_OTHER_HOUSES[n][h]``: the houses other than h among n.
_OTHER_HOUSES = {n: tuple(tuple(h for h in range(n) if h != x) for x in range(n)) for n, _ in SIZES}


def _random_clue(rng: random.Random, n: int, solution: list[int], at_house: dict[tuple[int, int], int]) -> Clue:
    """A random clue that the solution satisfies (``at_house``: (attribute, house) -> value in the solution)."""
    kind = rng.choices(_CLUE_KINDS, cum_weights=_CLUE_CUM_WEIGHTS)[0]
    n_attributes = len(solution) // n
    if kind in ("at", "not_at"):
        v = rng.randrange(len(solution))
        house = solution[v] if kind == "at" else rng.choice(_OTHER_HOUSES[n][solution[v]])
        return (kind, v, house)
    if kind in ("same", "not_same"):
        c1, c2 = rng.sample(range(n_attributes), 2)
        h1 = rng.randrange(n)
        h2 = h1 if kind == "same" else rng.choice(_OTHER_HOUSES[n][h1])
        return (kind, at_house[c1, h1], at_house[c2, h2])
    h = rng.randrange(n - 1)
    a, b = at_house[rng.randrange(n_attributes), h], at_house[rng.randrange(n_attributes), h + 1]
    if kind == "next" and rng.random() < 0.5:
        a, b = b, a
    return (kind, a, b)


# ---------------------------------------------------------------------- text
def _category(puzzle: Puzzle, v: int) -> int:
    return puzzle.categories[v // puzzle.n_houses]


def _value_phrase(puzzle: Puzzle, v: int) -> str:
    """How a clue names the person with value ``v``: "the Brit", "the dog owner", "the red house"."""
    word = puzzle.values[v]
    return {COLOUR: f"the {word} house", PET: f"the {word} owner", DRINK: f"the {word} drinker"}.get(
        _category(puzzle, v), f"the {word}"
    )


def _clue_text(puzzle: Puzzle, clue: Clue) -> str:
    kind, a, b = clue
    if _category(puzzle, a) == COLOUR and kind in ("same", "not_same"):
        a, b = b, a  # "the Brit lives in the red house" rather than "the red house lives ..."
    subject, house = _value_phrase(puzzle, a), _category(puzzle, a) == COLOUR
    subject = subject[0].upper() + subject[1:]
    if kind in ("at", "not_at"):
        if house:
            return f"{subject} is {'' if kind == 'at' else 'not '}house {b + 1}."
        return f"{subject} {'lives' if kind == 'at' else 'does not live'} in house {b + 1}."
    other = _value_phrase(puzzle, b)
    if kind in ("same", "not_same"):
        verb = "lives" if kind == "same" else "does not live"
        place = other if _category(puzzle, b) == COLOUR else f"the same house as {other}"
        return f"{subject} {verb} in {place}."
    if house and _category(puzzle, b) != COLOUR:
        other += "'s house"  # "the red house is next to the Brit's house"
    return f"{subject} {'is' if house else 'lives'} {'directly left of' if kind == 'left' else 'next to'} {other}."


def _answer_text(puzzle: Puzzle, houses: tuple[int, ...]) -> str:
    per_house = [[] for _ in range(puzzle.n_houses)]
    for v, h in enumerate(houses):
        per_house[h].append(puzzle.values[v])
    return "; ".join(f"house {h}: {', '.join(vals)}" for h, vals in enumerate(per_house, 1))


#: A placement or elimination exactly as `Zebra.format_step` writes it ("The red house is not house 2", "The dog is
#: in house 2"): `Zebra._parse` reads such a text, with one of the puzzle's values, as that value (the other words
#: are fillers), the negation and the house; `Zebra.parse_step` reads it so without the rest.
_CANONICAL_STEP = re.compile(r"The ([A-Za-z]+)(?: house| drinker)? is (not )?(?:in )?house ([1-5])")
#: A final answer exactly as `Zebra.format_step` writes it ("Answer: house 1: red, dog; house 2: green, cat").
_CANONICAL_ANSWER = re.compile(
    r"Answer: (house [1-5]: [A-Za-z]+(?:, [A-Za-z]+)*(?:; house [1-5]: [A-Za-z]+(?:, [A-Za-z]+)*)*)"
)
_ANSWER_HOUSE = re.compile(r"house ([1-5]): ([A-Za-z, ]+)")


def _read_canonical(puzzle: Puzzle, text: str) -> ZebraAction | None:
    """`Zebra._parse` of a text in `Zebra.format_step`'s own form, read at once; None for any other text.

    A step names one of the puzzle's values and a house it has; an answer names each value once, each after a house
    it has (anything else is left to `Zebra._parse`). `Zebra._parse` reads such a text as the same values and
    houses: the other words are fillers.
    """
    index, n = _value_index(puzzle.values), puzzle.n_houses
    match = _CANONICAL_STEP.fullmatch(text)
    if match:
        value, house = index.get(match[1].lower()), int(match[3])
        return None if value is None or house > n else ("elim" if match[2] else "place", value, house - 1)
    match = _CANONICAL_ANSWER.fullmatch(text)
    if not match:
        return None
    houses: list[int | None] = [None] * len(puzzle.values)
    for house, words in _ANSWER_HOUSE.findall(match[1]):
        if int(house) > n:
            return None
        for word in words.split(", "):
            value = index.get(word.lower())
            if value is None or houses[value] is not None:
                return None
            houses[value] = int(house) - 1
    return None if None in houses else ("answer", tuple(houses))


def _tokens(puzzle: Puzzle, text: str) -> list[tuple[str, object]]:
    """Classify the words of a normalised step: ("value", v), ("house", h), ("not", None), ("word", w)."""
    if not _ALLOWED_CHARS.fullmatch(text):
        raise InvalidStep("unexpected characters; write e.g. 'The dog is in house 2'")
    text = text.replace("can't", "cannot").replace("n't", " not")
    index = _value_index(puzzle.values)
    out: list[tuple[str, object]] = []
    for token in _TOKEN.findall(text):
        token = _ALIASES.get(token, token)
        if token in index:
            out.append(("value", index[token]))
        elif token.isdigit() or token in _NUMBER_WORDS:
            number = int(token) if token.isdigit() and len(token) < 4 else _NUMBER_WORDS.get(token, 0)
            if not 1 <= number <= puzzle.n_houses:
                raise InvalidStep(f"there are only houses 1 to {puzzle.n_houses}")
            out.append(("house", number - 1))
        elif token in _NEGATIONS:
            out.append(("not", None))
        else:
            out.append(("word", token))
    return out


@lru_cache(maxsize=256)
def _value_index(values: tuple[str, ...]) -> dict[str, int]:
    """Each value's word (lower case) -> its index: what `_tokens` looks words up in (cached per puzzle's values;
    never changed)."""
    return {word.lower(): v for v, word in enumerate(values)}


def _read_assignment(puzzle: Puzzle, text: str) -> tuple[int, ...]:
    """The house of every value in an answer: "house 1: red, dog; ..." or "red: house 1, dog: 1, ...".

    When the answer starts with a house, each value belongs to the house named before it; otherwise
    each value belongs to the next house named after it. Other words are ignored.
    """
    items = [(kind, item) for kind, item in _tokens(puzzle, text) if kind != "word"]
    if any(kind == "not" for kind, _ in items):
        raise InvalidStep("state where each value is, without negations")
    houses: list[int | None] = [None] * len(puzzle.values)

    def put(v: int, h: int) -> None:
        if houses[v] is not None and houses[v] != h:
            raise InvalidStep(f"the answer puts {puzzle.values[v]} in two houses")
        houses[v] = h

    current, pending = None, []
    house_first = bool(items) and items[0][0] == "house"
    for kind, item in items:
        if kind == "house":
            current = item
            for v in pending:
                put(v, item)
            pending = []
        elif house_first:
            put(item, current)
        else:
            pending.append(item)
    if pending or any(h is None for h in houses):
        raise InvalidStep("the answer must give the house of every value")
    return tuple(houses)
