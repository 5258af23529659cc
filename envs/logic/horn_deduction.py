"""Horn-clause deduction: forward-chaining proofs that a query follows from facts and if-then rules."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from functools import cached_property

from srl_gym.parsing import normalize, yes_no_answer
from srl_gym.task import InvalidStep, Problem, Task, TaskConfig, check_fraction

#: Atom names: single lower-case words that are none of the parser's filler words.
ATOMS = (
    "wet", "cold", "icy", "windy", "dark", "bright", "loud", "quiet", "warm", "hot", "dry", "sunny", "cloudy",
    "foggy", "muddy", "slippery", "frozen", "stormy", "calm", "humid", "dusty", "sandy", "rocky", "green", "red",
    "blue", "heavy", "tired", "hungry", "happy", "sad", "angry", "sleepy", "busy", "late", "early", "open",
    "closed", "locked", "broken", "ready", "safe", "risky", "noisy", "smooth", "rough", "sharp", "soft", "hard",
    "clean", "dirty", "fresh", "stale", "sweet", "sour", "bitter", "salty", "rich", "poor", "young", "old", "tall",
    "short", "fast", "slow", "strong", "weak", "brave", "shy", "rusty", "shiny", "sticky", "fuzzy", "crisp",
    "damp", "chilly", "breezy", "gloomy", "rainy", "snowy", "hazy", "misty", "starry", "wild", "tame", "lucky",
)  # fmt: skip


@dataclass(frozen=True)
class LevelSpec:
    """How one difficulty level draws its theories."""

    depths: tuple[int, int]  # proof depth range (longest chain of rules from facts to the query)
    extra_premises: int  # at most this many premises per proof rule besides the one that continues the chain
    distractors: tuple[int, int]  # range of distractor rules (dead ends, idle rules, longer detours)
    spare_facts: tuple[int, int]  # range of facts that no proof uses


LEVEL_SPECS = (
    LevelSpec((2, 2), 1, (1, 1), (0, 1)),
    LevelSpec((3, 3), 2, (1, 2), (1, 1)),
    LevelSpec((4, 5), 2, (3, 4), (1, 2)),
    LevelSpec((6, 7), 2, (4, 6), (2, 2)),
)
MAX_STEP_CHARS = 2000

#: A rule: its premises and its head, as atom ids.
Rule = tuple[tuple[int, ...], int]
#: An action: ("derive", atom id) or ("answer", "yes" / "no").
HornAction = tuple

_TOKEN = re.compile(r"[a-z]+|\d+")
_RULE_REF = re.compile(r"\brule\s*(?:no\.?\s*|number\s*|#\s*)?(\d+)")
_ARROWS = re.compile(r"=>|->|\u2192|\u21d2|\u27f9|:-|\u2234")
_FILLERS = frozenset(
    "and so then therefore thus hence we get gets got from is are true holds hold it its follows follow that by "
    "using use apply applying applied since because as if derive derived derives deduce deduced conclude "
    "concluded infer inferred gives give giving yields yield implies imply know known now also both the with new "
    "fact facts can be which means this of premise premises conclusion to a an i atom becomes obtain have has "
    "proves prove proved fire fires fired via given in on we".split()
)
#: Words that, right after the first atom, announce its premises: "icy because wet and cold".
_PREMISES_FOLLOW = frozenset("because since as from by given using via".split())
_YES = frozenset("yes true proved provable derivable follows y".split())
_NO = frozenset("no false unprovable underivable not cannot n".split())
#: The answer steps as `HornDeduction.format_step` writes them (the expert's), parsed without the parser.
_CANONICAL_ANSWERS = {"Answer: yes": ("answer", "yes"), "Answer: no": ("answer", "no")}


@dataclass
class HornDeductionConfig(TaskConfig):
    """Options of `HornDeduction`.

    Attributes:
        no_rate: share of problems whose query cannot be derived (answer "no"), in [0, 1].
    """

    no_rate: float = 0.3

    def validate(self, levels) -> None:
        super().validate(levels)
        check_fraction("no_rate", self.no_rate)


def _kept_hash(self) -> int:
    """A frozen dataclass's own hash of its fields, computed once and kept in the instance.

    The env's per-episode memos hash the state on every step, and the state's hash hashes its
    theory, rules and all. What an instance keeps besides its fields (this hash, the theory's
    analysis) stays out of pickles and copies (`_fields_only`): a hash is per process.
    """
    cached = self.__dict__.get("_hash")
    if cached is None:
        cached = self.__dict__["_hash"] = hash(tuple([self.__dict__[name] for name in self.__dataclass_fields__]))
    return cached


def _fields_only(self) -> dict:
    return {name: self.__dict__[name] for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class HornTheory:
    """Facts, rules and the query, over atoms numbered 0..n-1 (``names[i]`` is atom i)."""

    names: tuple[str, ...]
    facts: tuple[int, ...]
    rules: tuple[Rule, ...]
    query: int

    __hash__ = _kept_hash
    __getstate__ = _fields_only

    @cached_property
    def _analysis(self) -> _Analysis:
        """What the oracle, the candidates and the parser read of the theory, built once (every state of an
        episode holds the same theory); the generator, which knows the closure, builds it itself."""
        return _build_analysis(self, None)


@dataclass(frozen=True)
class HornState:
    """The theory, the atoms known so far (facts and derived atoms) and the stated answer, if any."""

    theory: HornTheory
    known: frozenset[int]
    answer: str | None = None

    __hash__ = _kept_hash
    __getstate__ = _fields_only


class HornDeduction(Task[HornState, HornAction]):
    """Horn-clause deduction: derive atoms by forward chaining until the query is proved, or show it cannot be.

    ## Description
    A theory of facts ("wet, cold") and numbered rules ("Rule 1: If wet and cold then icy.") over
    atoms named by words, and a query atom. Each step applies one rule whose premises are all known
    and derives its head, a new atom. When the query is derived the agent answers "yes". Some
    queries cannot be derived (``no_rate`` of the problems): then the agent first derives every atom
    the query depends on (reachable backwards from the query through the rules) that can be derived,
    and answers "no". Distractor rules make this a search: dead ends (a premise that can never be
    derived), idle rules (derivable atoms the query does not need) and, from level 2, longer detours
    to atoms of the proof. The oracle derives the next atom of a shortest proof (fewest rule
    applications, found by exact search) of the query from the known atoms, so it re-plans after any
    valid step; for an underivable query it derives the missing atoms the query depends on, by rule
    order, then answers "no".

    ## Action Space
    Text, one step. A derivation, canonically "wet and cold, so icy" (premises of the rule, then the
    new atom; "wet, cold and windy, so icy" for three). Also accepted: "icy", "icy is true",
    "therefore icy", "from wet and cold we get icy", "if wet and cold then icy", "wet & cold => icy",
    "icy because wet and cold", "rule 3: icy", "by rule 3, wet and cold give icy", "apply rule 3",
    with any case, spacing, markdown, a "Step k:" label or a final period. Named premises must be the
    premises of one rule deriving the atom, a cited rule must derive it, and its premises must be
    known. The final answer: "Answer: yes" or "Answer: no" ("true"/"false", "the answer is yes",
    "\\boxed{no}" and a bare "yes"/"no" too). Discrete: ``Discrete(4)`` candidate steps, the
    expert's among plausible wrong ones (a rule with an unknown premise, an atom already known, an
    idle derivation, the wrong answer).

    ## Observation Space
    Text: the problem, the steps so far and the current state ("Goal: icy. Derived: slick, icy").
    Discrete: UTF-8 bytes of the current state and of each candidate step, 128 bytes each.

    ## Starting State
    The facts are known, nothing is derived, the query is not a fact.

    ## Reward
    See `srl_gym.env.ReasoningEnv`. A derivation is valid if one rule with known premises derives
    the atom and the atom is new; idle derivations are valid but wasteful (they never match the
    expert's step). An answer step ends the episode, right or wrong.

    ## Episode End
    When an answer is given. Solved if it is the truth: "yes" iff the query follows from the facts
    by the rules.

    ## Information
    ``answer`` is "yes" or "no" (the stated answer); the verifier compares it with the truth,
    tolerant of "Answer: yes", "True", "\\boxed{yes}".

    ## Arguments
    - ``difficulty``: 0: proof depth 2, 1 distractor rule; 1: depth 3, 1-2 distractor rules;
      2: depth 4-5, 3-4 distractor rules (detours included); 3: depth 6-7, 4-6 distractor rules.
      Each proof rule has 1 to 2 (level 0) or 3 premises; levels 1-3 add unused facts.
    - ``no_rate``: share of problems whose query cannot be derived (default 0.3).

    ## Version History
    - v0: initial release.
    """

    name = "HornDeduction"
    domain = "logic"
    levels = (
        "proof depth 2, up to 2 premises per rule, 1 distractor rule",
        "proof depth 3, up to 3 premises per rule, 1-2 distractor rules, 1 unused fact",
        "proof depth 4-5, up to 3 premises per rule, 3-4 distractor rules incl. detours, 1-2 unused facts",
        "proof depth 6-7, up to 3 premises per rule, 4-6 distractor rules incl. detours, 2 unused facts",
    )
    config_class = HornDeductionConfig

    def generate(self, rng: random.Random) -> Problem:
        return self._draft(rng)[1]()

    def _draft(self, rng: random.Random):
        """The problem's text, then the whole problem: the expert's trajectory (its length goes in
        ``meta``) only for a problem `generate_split` keeps."""
        spec = LEVEL_SPECS[self.difficulty]
        provable = rng.random() >= self.config.no_rate
        while True:
            theory = _draw_theory(rng, spec, provable)
            if theory is not None:
                break
        names = theory.names
        premises = _premise_texts(theory)
        rules = "".join(
            [f"Rule {i + 1}: If {premises[i]} then {names[head]}.\n" for i, (_, head) in enumerate(theory.rules)]
        )
        query = names[theory.query]
        text = (
            f"Facts: {', '.join(names[f] for f in theory.facts)}.\n{rules}"
            f"Question: can {query} be derived from the facts by the rules?\n"
            "Derive one new fact per step by applying a rule whose premises are all known.\n"
            "Write each step as: A and B, so C (the premises of the rule, then the new fact).\n"
            f"When {query} is derived, finish with: Answer: yes. If it cannot be derived, first derive every fact "
            f"that can be derived and that {query} depends on through the rules, then finish with: Answer: no"
        )

        def finish() -> Problem:
            state = HornState(theory, frozenset(theory.facts))
            steps = _expert_length(theory)  # len(self.expert_trajectory(state)), without step texts or states
            return Problem(text=text, initial_state=state, answer="yes" if provable else "no", meta={"steps": steps})

        return text, finish

    # ------------------------------------------------------------------ dynamics
    def is_terminal(self, state: HornState) -> bool:
        return state.answer is not None

    def is_solved(self, problem: Problem, state: HornState) -> bool:
        return state.answer is not None and state.answer == _truth(state.theory)

    def expert_action(self, state: HornState) -> HornAction | None:
        if state.answer is not None:
            return None
        return _expert(state.theory, state.known)

    def apply(self, state: HornState, action: HornAction) -> HornState:
        if state.answer is not None:
            raise InvalidStep("the answer was already given")
        kind, value = action
        if kind == "answer":
            if value not in ("yes", "no"):
                raise InvalidStep("the answer is yes or no")
            return HornState(state.theory, state.known, value)
        names = state.theory.names
        if value in state.known:
            raise InvalidStep(f"{names[value]} is already known")
        if _applicable_rule(state.theory, state.known, value) is None:
            raise InvalidStep(f"no rule with known premises derives {names[value]}")
        return HornState(state.theory, state.known | {value})

    def format_step(self, state: HornState, action: HornAction) -> str:
        kind, value = action
        if kind == "answer":
            return f"Answer: {value}"
        theory = state.theory
        index = _applicable_rule(theory, state.known, value)
        if index is None:  # not derivable now (a distractor): show the first rule that would derive it
            deriving = theory._analysis.rules_of.get(value)
            if deriving is None:
                return theory.names[value]
            index = deriving[0]
        return f"{_premise_texts(theory)[index]}, so {theory.names[value]}"

    def parse_step(self, state: HornState, text: str) -> HornAction:
        if not isinstance(text, str) or len(text) > MAX_STEP_CHARS:
            raise InvalidStep("a step is a short text")
        canonical = _CANONICAL_ANSWERS.get(text)
        if canonical is not None:  # (what the lines below make of it: an answer reads the text alone)
            return canonical
        line = normalize(text)
        if "answer" in line or "boxed" in line or line in ("yes", "no", "true", "false"):
            value = _answer_value(text)
            if value is None:
                raise InvalidStep("expected 'Answer: yes' or 'Answer: no'")
            return ("answer", value)
        return ("derive", self._parse_derivation(state, line))

    def known_expert_length(self, problem: Problem) -> int | None:
        return problem.meta.get("steps")  # counted by the generator

    def answer(self, problem: Problem, state: HornState, steps) -> str:
        return state.answer or ""

    def verify(self, problem: Problem, answer: str) -> bool:
        if not isinstance(answer, str) or len(answer) > MAX_STEP_CHARS:
            return False
        return _answer_value(answer) == _truth(problem.initial_state.theory)

    def render_state(self, state: HornState) -> str:
        theory = state.theory
        names = theory.names
        derived = [names[a] for a in sorted(state.known.difference(theory.facts))]
        text = f"Goal: {names[theory.query]}. Derived: {', '.join(derived) or 'none'}"
        return f"{text}. Answer: {state.answer}" if state.answer else text

    def distractors(self, state: HornState, expert: HornAction, rng: random.Random) -> list[HornAction]:
        theory, known = state.theory, state.known
        info = theory._analysis
        # The rules' heads other than the expert's atom, in rule order, sorted in one pass into those already
        # known, those derivable now (idle: a rule deriving them has known premises) and the others (blocked).
        skip = expert[1] if expert[0] == "derive" else None
        rules = theory.rules
        blocked: list[int] = []
        idle: list[int] = []
        repeated: list[int] = []
        for head, indices in info.rules_of.items():
            if head == skip:
                continue
            if head in known:
                repeated.append(head)
                continue
            for i in indices:
                if known.issuperset(rules[i][0]):
                    idle.append(head)
                    break
            else:
                blocked.append(head)
        picks: list[HornAction] = []
        for pool in (blocked, idle, repeated):
            if pool:
                picks.append(("derive", rng.choice(pool)))
        if expert[0] == "answer" or len(picks) < self.num_candidates - 1:
            picks.insert(0, ("answer", "no" if info.provable else "yes"))
        return picks[: self.num_candidates - 1]

    # ------------------------------------------------------------------ parsing
    def _parse_derivation(self, state: HornState, line: str) -> int:
        theory = state.theory
        index = _atom_index(theory)
        refs = _RULE_REF.findall(line) if "rule" in line else []  # (the pattern starts with "rule")
        if len(refs) > 1:
            raise InvalidStep("cite at most one rule")
        if refs:
            line = _RULE_REF.sub(" ", line)
        if not line.isascii() or ">" in line or ":-" in line:  # (an arrow has one of these)
            line = _ARROWS.sub(" so ", line)
        tokens = _TOKEN.findall(line)
        atoms: list[tuple[int, int]] = []  # (token position, atom id)
        for position, word in enumerate(tokens):
            atom = index.get(word)
            if atom is not None:
                atoms.append((position, atom))
            elif word not in _FILLERS:
                raise InvalidStep(f"unknown word {word!r}: name atoms of the problem")
        if not atoms and not refs:
            raise InvalidStep("expected a step such as 'A and B, so C'")
        conclusion = None
        premises: set[int] = set()
        if atoms:
            end = atoms[1][0] if len(atoms) > 1 else len(tokens)
            first_is_conclusion = len(atoms) > 1 and not _PREMISES_FOLLOW.isdisjoint(tokens[atoms[0][0] + 1 : end])
            conclusion = atoms[0][1] if first_is_conclusion else atoms[-1][1]
            premises = {a for _, a in atoms} - {conclusion}
        names = theory.names
        if refs:
            number = int(refs[0]) if len(refs[0]) < 6 else 0
            if not 1 <= number <= len(theory.rules):
                raise InvalidStep(f"there is no rule {refs[0]}")
            rule_premises, head = theory.rules[number - 1]
            if conclusion is not None and head != conclusion:
                raise InvalidStep(f"rule {number} derives {names[head]}, not {names[conclusion]}")
            if premises and premises != set(rule_premises):
                raise InvalidStep(f"rule {number} has the premises {_join(names[p] for p in rule_premises)}")
            missing = [names[p] for p in rule_premises if p not in state.known]
            if missing:
                raise InvalidStep(f"rule {number} needs {_join(missing)}, not known yet")
            return head
        if premises:
            rules = theory.rules
            if not any(set(rules[i][0]) == premises for i in theory._analysis.rules_of.get(conclusion, ())):
                raise InvalidStep(f"no rule derives {names[conclusion]} from {_join(names[p] for p in premises)}")
            missing = [names[p] for p in sorted(premises) if p not in state.known]
            if missing:
                raise InvalidStep(f"{_join(missing)} not known yet")
        return conclusion


# ---------------------------------------------------------------------- analysis and the oracle
@dataclass(eq=False)  # built once per theory, never compared: a plain class's cheaper __init__
class _Analysis:
    derivable: frozenset[int]  # every atom that follows from the facts
    live_rules: dict[int, list[int]]  # head -> rules (indices) whose premises are all derivable
    provable: bool
    # Derivable non-facts the query depends on (backwards through the rules): what the oracle derives
    # before answering "no", so only where the query is not provable (empty where it is: never read).
    relevant: frozenset[int]
    rules_of: dict[int, list[int]]  # head -> the rules (indices) deriving it, in order; keys in rule order
    premise_texts: list[str] | None = None  # each rule's premises as written ("wet and cold"), once asked for
    index: dict[str, int] | None = None  # atom name -> id, once asked for (by the parser)
    plans: dict[frozenset[int], tuple[int, ...]] = field(default_factory=dict)  # known atoms -> `_proof_plan`


def _build_analysis(theory: HornTheory, derivable: frozenset[int] | None) -> _Analysis:
    """`HornTheory._analysis`; ``derivable``: the closure of the facts under the rules, where the caller knows it."""
    rules, query = theory.rules, theory.query
    if derivable is None:
        derivable = _closure(theory.facts, rules)
    rules_of: dict[int, list[int]] = {}
    live: dict[int, list[int]] = {}
    for i, (premises, head) in enumerate(rules):
        rules_of.setdefault(head, []).append(i)
        if derivable.issuperset(premises):
            live.setdefault(head, []).append(i)
    provable = query in derivable
    depends = set()
    if not provable:
        depends.add(query)
        frontier = [query]
        while frontier:
            for i in rules_of.get(frontier.pop(), ()):
                for p in rules[i][0]:
                    if p not in depends:
                        depends.add(p)
                        frontier.append(p)
        depends &= derivable
        depends.difference_update(theory.facts)
    return _Analysis(
        derivable=derivable,
        live_rules=live,
        provable=provable,
        relevant=frozenset(depends),
        rules_of=rules_of,
    )


def _atom_index(theory: HornTheory) -> dict[str, int]:
    """Atom name -> id (for the parser), kept in the theory's analysis."""
    info = theory._analysis
    if info.index is None:
        info.index = dict(zip(theory.names, range(len(theory.names)), strict=True))
    return info.index


def _premise_texts(theory: HornTheory) -> list[str]:
    """Each rule's premises as the problem and the steps write them ("wet, cold and windy"), kept."""
    info = theory._analysis
    texts = info.premise_texts
    if texts is None:
        names = theory.names
        texts = info.premise_texts = [
            names[premises[0]] if len(premises) == 1 else _join([names[p] for p in premises])
            for premises, _ in theory.rules
        ]
    return texts


def _expert(theory: HornTheory, known: frozenset[int]) -> HornAction:
    """The oracle's next action when no answer was given (`HornDeduction.expert_action`)."""
    info = theory._analysis
    if info.provable:
        if theory.query in known:
            return ("answer", "yes")
        return ("derive", _proof_plan(theory, known)[0])
    relevant = info.relevant
    for premises, head in theory.rules:
        if head in relevant and head not in known and known.issuperset(premises):
            return ("derive", head)
    return ("answer", "no")


def _expert_length(theory: HornTheory) -> int:
    """``len(expert_trajectory(...))`` from the facts (the query not among them), without walking it.

    Provable, with a shortest proof of m atoms from the known ones: the oracle derives its first atom a,
    whose premises are known. The other m - 1 atoms prove the query once a is known, and nothing
    shorter does (with a's rule it would prove it before, in fewer than m). So each step takes one
    off the shortest proof: m derivations, then the answer.
    Not provable: the oracle derives only relevant atoms, one whose premises are known at each step.
    While one is unknown, take the first unknown in an order in which the closure derives them: a
    rule derives it from earlier atoms, all facts or relevant (the query depends on them too) and so
    known. So it derives every relevant atom, then answers.
    """
    info = theory._analysis
    if info.provable:
        return len(_proof_plan(theory, frozenset(theory.facts))) + 1
    return len(info.relevant) + 1


def _closure(facts, rules) -> frozenset[int]:
    known = set(facts)
    changed = True
    while changed:
        changed = False
        for premises, head in rules:
            if head not in known and known.issuperset(premises):
                known.add(head)
                changed = True
    return frozenset(known)


def _truth(theory: HornTheory) -> str:
    return "yes" if theory._analysis.provable else "no"


def _applicable_rule(theory: HornTheory, known: frozenset[int], atom: int) -> int | None:
    """The first rule deriving ``atom`` whose premises are all known, or None."""
    rules = theory.rules
    for i in theory._analysis.rules_of.get(atom, ()):
        if known.issuperset(rules[i][0]):
            return i
    return None


#: Proof plans kept per theory (`_Analysis.plans`): more than an episode visits; the memo starts over past it.
_MAX_PLANS = 1024


def _proof_plan(theory: HornTheory, known: frozenset[int]) -> tuple[int, ...]:
    """The atoms of a shortest proof of the (derivable, unknown) query, in an order that derives them,
    memoised in the theory's analysis (the oracle asks it again for each state's step and the step's text)."""
    plans = theory._analysis.plans
    plan = plans.get(known)
    if plan is None:
        if len(plans) >= _MAX_PLANS:
            plans.clear()
        plan = plans[known] = _search_proof_plan(theory, known)
    return plan


def _search_proof_plan(theory: HornTheory, known: frozenset[int]) -> tuple[int, ...]:
    """`_proof_plan`, by exact branch and bound over which live rule derives each atom of the proof: a
    proof is one rule per needed atom, its size the number of needed atoms. Ties go to the first rules in order.
    """
    rules = theory.rules
    live = theory._analysis.live_rules
    chosen: dict[int, int] = {}
    best: dict[int, int] | None = None

    def search(pending: tuple[int, ...]) -> None:
        """Complete ``chosen`` by depth-first search: the first pending atom that needs a rule gets
        each of its live rules in turn, its premises joining the pending atoms. An atom with one
        live rule takes it in a loop rather than a deeper call (the same order of search)."""
        nonlocal best
        forced: list[int] = []  # atoms given their only rule at this depth, undone on return
        while True:
            todo: list[int] = []  # the pending atoms not known and without a rule yet, once each, in order
            for a in pending:
                if a not in known and a not in chosen and a not in todo:
                    todo.append(a)
            if not todo:
                if best is None or len(chosen) < len(best):
                    best = dict(chosen)
                break
            if best is not None and len(chosen) + len(todo) >= len(best):
                break
            atom = todo.pop(0)
            options = live[atom]
            if len(options) == 1:
                chosen[atom] = options[0]
                forced.append(atom)
                pending = (*todo, *rules[options[0]][0])
                continue
            for rule in options:
                chosen[atom] = rule
                search((*todo, *rules[rule][0]))
            del chosen[atom]
            break
        for atom in forced:
            del chosen[atom]

    search((theory.query,))
    order: list[int] = []

    def visit(atom: int) -> None:  # post-order: premises before the atom they derive
        if atom in known or atom in order:
            return
        for p in rules[best[atom]][0]:
            visit(p)
        order.append(atom)

    visit(theory.query)
    return tuple(order)


# ---------------------------------------------------------------------- generation
def _draw_theory(rng: random.Random, spec: LevelSpec, provable: bool) -> HornTheory | None:
    """A random theory of the level, or None when this draw missed its constraints (the caller redraws)."""
    pool = rng.sample(ATOMS, len(ATOMS))
    facts: list[int] = []
    rules: list[Rule] = []
    cost: list[int] = []  # every atom drawn so far (ids 0, 1, ...) -> rule applications its proof takes
    distance: dict[int, int] = {}  # rules between each atom of the proof and the query
    parent: dict[int, int] = {}  # each atom of the proof but the query -> the head of the rule it is a premise of
    randint, shuffle = rng.randint, rng.shuffle

    def fresh() -> int:
        cost.append(0)
        return len(cost) - 1

    def grow(depth: int, below: int = 0) -> int:
        atom = len(cost)  # (fresh(), inline: every atom of the proof)
        cost.append(0)
        distance[atom] = below
        if depth == 0:
            facts.append(atom)
            return atom
        premises = [grow(depth - 1, below + 1)]
        for _ in range(randint(0, spec.extra_premises)):
            premises.append(grow(1 if depth > 1 and rng.random() < 0.3 else 0, below + 1))
        for premise in premises:
            parent[premise] = atom
        if len(premises) > 1:  # (shuffling one premise draws nothing)
            shuffle(premises)
        rules.append((tuple(premises), atom))
        cost[atom] = 1 + sum([cost[p] for p in premises])
        return atom

    depth = randint(*spec.depths)
    query = grow(depth)
    proof_atoms = [head for _, head in rules]
    if not provable:  # take away a fact close to the query: most of the proof can still be derived
        missing = rng.choice(sorted(facts, key=distance.get)[: max(1, len(facts) // 2)])
        facts.remove(missing)
        proof_atoms.append(missing)
    for _ in range(randint(*spec.spare_facts)):
        facts.append(fresh())

    # The closure of the facts (sorted), read off the proof tree and then kept up to date rather than
    # recomputed for each distractor rule. So far the rules are the tree's, one per atom that is not a
    # leaf, and the facts its leaves (but the missing one) and the spare facts: an atom follows iff no
    # missing leaf is below it, so all do but the missing fact and the atoms above it. Then a dead end
    # never fires (its fresh premise is no rule's head), and an idle rule or a detour only adds fresh
    # atoms, derivable, that no other rule uses; fresh atoms have the highest ids so far, so appending
    # them keeps `derivable` sorted.
    derivable_set = set(range(len(cost)))
    if not provable:
        atom = missing
        while atom != query:
            derivable_set.discard(atom)
            atom = parent[atom]
        derivable_set.discard(query)
    derivable = sorted(derivable_set)
    for _ in range(randint(*spec.distractors)):
        kind = rng.choice(("dead", "idle", "detour") if spec.depths[0] >= 4 else ("dead", "idle"))
        if kind == "dead":  # a premise that nothing derives: a dead end, often to an atom of the proof
            head = rng.choice(proof_atoms) if rng.random() < 0.6 else fresh()
            known = [a for a in derivable if a != head]
            # (a sample of one is a choice: the same draw)
            premises = [rng.choice(known)] if randint(0, 1) and known else []
            premises.append(fresh())
            if len(premises) > 1:
                shuffle(premises)
            rules.append((tuple(premises), head))
        elif kind == "idle":  # derivable, but the query does not need it
            count = min(len(derivable), randint(1, 2))
            premises = (rng.choice(derivable),) if count == 1 else tuple(rng.sample(derivable, count))
            head = fresh()
            rules.append((premises, head))
            derivable.append(head)
            derivable_set.add(head)
        else:  # a detour: a second way, at least as long, to an atom of the proof
            targets = [h for h in proof_atoms if h != query and h in derivable_set and 0 < cost[h] <= 3]
            if not targets:
                continue
            target = rng.choice(targets)
            link = rng.choice(facts)
            for _ in range(cost[target] - 1 + randint(0, 1)):
                atom = fresh()
                rules.append(((link,), atom))
                link = atom
                derivable.append(atom)
                derivable_set.add(atom)
            rules.append(((link,), target))

    if len(cost) > len(pool):
        return None
    shuffle(rules)
    shuffle(facts)
    theory = HornTheory(tuple(pool[: len(cost)]), tuple(facts), tuple(rules), query)
    info = theory.__dict__["_analysis"] = _build_analysis(theory, frozenset(derivable_set))  # (see _analysis)
    if info.provable != provable or query in facts or (not provable and not info.relevant):
        return None
    return theory


def _join(words) -> str:
    """'a', 'a and b', 'a, b and c'."""
    words = list(words)
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _answer_value(text: str) -> str | None:
    return yes_no_answer(text, _YES, _NO)
