"""The algorithm protocol and its one registry, serving ``srl-gym train`` and ``srl-gym compare``.

An algorithm is ONE module (e.g. ``srl_gym/agents/srl.py``) registered here by name. The module
provides:

- ``Args``: a dataclass of its options, one ``field(metadata={"help": ...})`` per flag;
- ``train(args) -> TrainResult``: train and return what the run produced: its checkpoints in
  training order, each with the budget spent to reach it, and its final metrics;
- ``main(argv, prog) -> int``: its command line (``srl-gym train NAME ...``); usually
  ``srl_gym.runs.run_cli(Args, train, argv, prog)`` (reference entries registered with
  ``trainable=False``, such as ``base``, have only ``train_cell``);
- ``train_cell(cell: Cell) -> TrainResult``: how it trains one cell of a comparison from the
  cell's start model with the comparison's settings (``cell.config``).

Each algorithm has a *kind* (``"lm"``: a language model; ``"discrete"``: a Stable-Baselines3
policy). A kind is also one registered module, providing
``evaluate(path, task, difficulty, config, seed, *, split="test", full=True) -> dict | None`` (the
metrics of `srl_gym.metrics`, with their per-problem scores under ``"per_problem"``; ``split`` is
``"test"`` or ``"validation"``, the problems that pick a run's checkpoint) and, for kinds that
start from a shared warmed-up model, ``prepare_base(model, task, config, directory) -> dict``.

Registration uses string entry points, like Gymnasium's, so nothing is imported until used::

    from srl_gym.algorithms import register_algorithm
    register_algorithm("my-algo", kind="lm", entry_point="my_package.my_algo", help="what it is")

The built-in algorithms register in ``srl_gym/agents/__init__.py``; third-party packages can also
declare an ``srl_gym.algorithms`` entry point (a function that calls `register_algorithm`).
Dependencies point one way: algorithms import the core, the core imports no algorithm by name.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

KINDS_HELP = {"lm": "language model", "discrete": "Stable-Baselines3 policy"}


@dataclass(frozen=True)
class Checkpoint:
    """A saved model and the budget spent to reach it.

    ``path`` is a model directory (language models), a policy file (SB3), or a name that the
    kind's ``evaluate`` understands (``"random"``). ``budget`` uses the names of
    `srl_gym.metrics.BUDGET` (``updates``, ``generated_tokens``, ``env_steps``...).
    """

    path: str
    budget: dict[str, float] = field(default_factory=dict)

    @property
    def step(self) -> int:
        """The checkpoint's position on a learning curve: updates (LM) or env steps / labels (discrete)."""
        for key in ("updates", "env_steps", "expert_labels"):
            if key in self.budget:
                return int(self.budget[key])
        return 0


@dataclass
class TrainResult:
    """What a training run returns: its checkpoints in training order (the last is the final model)."""

    checkpoints: list[Checkpoint]
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def final(self) -> Checkpoint:
        if not self.checkpoints:
            raise ValueError("the run saved no checkpoint")
        return self.checkpoints[-1]

    @property
    def model_dir(self) -> str:
        """The final model's path."""
        return self.final.path


@dataclass(frozen=True)
class Cell:
    """What an algorithm needs to train one comparison cell.

    Attributes:
        model: the start model's name or directory (``"mlp"`` for discrete agents).
        task: a registered env id.
        seed: the cell's seed.
        config: the comparison's settings (`srl_gym.compare.CompareConfig`).
        run_dir: an empty folder of the cell's own for the trainer's runs.
        base_dir: the warmed-up start model every algorithm of this (model, task) shares, if any.
        expert_noise: the flawed expert of this cell (the env's ``expert_noise``: p of a legal wrong step
            per step of the expert trajectories it trains on; 0: the oracle). Set only for algorithms
            registered with ``expert_data=True``, by the comparison's ``expert_noise`` axis.
    """

    model: str
    task: str
    seed: int
    config: Any
    run_dir: Path
    base_dir: str | None = None
    expert_noise: float = 0.0


@dataclass(frozen=True)
class AlgorithmSpec:
    """A registered algorithm: its name, kind, module (``"package.module"``), one line of help and options.

    ``options`` are keyword arguments of the module's ``train_cell`` and default flags of its
    command line, so one module can serve variants (``ppo-srl`` and ``ppo-outcome`` are
    ``srl_gym.agents.ppo`` with ``reward="srl"`` / ``"outcome"``).
    """

    name: str
    kind: str
    entry_point: str
    help: str
    options: tuple[tuple[str, Any], ...] = ()
    trainable: bool = True  # ``srl-gym train NAME`` exists: the module has ``main`` (``base``/``random`` do not)
    #: It learns from the expert's trajectories (SFT, SRL), so the comparison's ``expert_noise`` axis varies
    #: them; False for those that never read one (``base``, ``rlvr``: one cell per seed on that axis).
    expert_data: bool = False
    #: The held-out metrics (names of `srl_gym.metrics`) that measure what it optimises, e.g. SRL's step reward:
    #: the report shows each against the base, to check that the algorithm learns its own objective.
    objectives: tuple[str, ...] = ()
    #: ``"positive"``: a control the comparison must find significantly above the base (else the protocol is
    #: wrong); ``"negative"``: one it must not; None: a contender.
    control: str | None = None

    def load(self) -> ModuleType:
        """Import the algorithm's module (``Args``, ``train``, ``main``, ``train_cell``)."""
        return importlib.import_module(self.entry_point)

    def train_cell(self, cell: Cell) -> TrainResult:
        """Train one comparison cell with this algorithm."""
        return self.load().train_cell(cell, **dict(self.options))

    def main(self, argv: list[str], prog: str) -> int:
        """``srl-gym train NAME ARGV``: the module's command line with this entry's options as default flags."""
        flags = [x for key, value in self.options for x in (f"--{key.replace('_', '-')}", str(value))]
        return self.load().main([*flags, *argv], prog=prog)


@dataclass(frozen=True)
class KindSpec:
    """A registered kind of agent: the module that evaluates (and warms up) its models."""

    name: str
    entry_point: str

    def load(self) -> ModuleType:
        return importlib.import_module(self.entry_point)


ALGORITHMS: dict[str, AlgorithmSpec] = {}
KINDS: dict[str, KindSpec] = {}
_loaded = False


def register_algorithm(
    name: str,
    *,
    kind: str,
    entry_point: str,
    help: str,
    options: dict[str, Any] | None = None,
    trainable: bool = True,
    expert_data: bool = False,
    objectives: tuple[str, ...] = (),
    control: str | None = None,
) -> AlgorithmSpec:
    """Register an algorithm under ``name`` (``srl-gym train NAME``, ``srl-gym compare --algos NAME``).

    ``expert_data``: it trains on the expert's trajectories (built with the cell's ``expert_noise``).
    ``objectives``: the held-out metrics of what it optimises. ``control``: ``"positive"``/``"negative"`` for
    a control row (see `AlgorithmSpec`).
    """
    if not name or any(c.isspace() or c in ",@" for c in name):
        raise ValueError(f"an algorithm name needs no spaces, commas or '@', got {name!r}")
    if control not in (None, "positive", "negative"):
        raise ValueError(f"control must be None, 'positive' or 'negative', got {control!r}")
    spec = AlgorithmSpec(name, kind, entry_point, help, tuple(sorted((options or {}).items())), trainable,
                         expert_data, tuple(objectives), control)  # fmt: skip
    if name in ALGORITHMS and ALGORITHMS[name] != spec:
        raise ValueError(f"algorithm {name!r} is already registered by {ALGORITHMS[name].entry_point}")
    ALGORITHMS[name] = spec
    return spec


def register_kind(name: str, *, entry_point: str) -> KindSpec:
    """Register a kind of agent and the module with its ``evaluate`` (and ``prepare_base``)."""
    KINDS[name] = KindSpec(name, entry_point)
    return KINDS[name]


def _load_plugins() -> None:
    """Register the built-in algorithms (``srl_gym.agents``) and any ``srl_gym.algorithms`` entry points, once."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    importlib.import_module("srl_gym.agents")
    from importlib.metadata import entry_points

    for plugin in entry_points(group="srl_gym.algorithms"):
        plugin.load()()


def algorithms(kind: str | None = None) -> dict[str, AlgorithmSpec]:
    """Every registered algorithm (of ``kind``, if given), by name."""
    _load_plugins()
    return {n: a for n, a in ALGORITHMS.items() if kind is None or a.kind == kind}


def get_algorithm(name: str) -> AlgorithmSpec:
    """The registered algorithm ``name``; a `ValueError` lists the valid names."""
    found = algorithms().get(name)
    if found is None:
        raise ValueError(f"unknown algorithm {name!r}; valid: {', '.join(algorithms())}")
    return found


def get_kind(name: str) -> KindSpec:
    _load_plugins()
    if name not in KINDS:
        raise ValueError(f"no kind of agent {name!r} is registered; registered: {', '.join(KINDS)}")
    return KINDS[name]


__all__ = [
    "ALGORITHMS",
    "AlgorithmSpec",
    "Cell",
    "Checkpoint",
    "KindSpec",
    "TrainResult",
    "algorithms",
    "get_algorithm",
    "get_kind",
    "register_algorithm",
    "register_kind",
]
