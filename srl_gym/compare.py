"""``srl-gym compare``: train SFT, SRL, RLVR and SRL -> RLVR from one base on the same problems and seeds, and report.

The comparison is a grid of cells, one per (model, task, algorithm, seed). Each cell trains one
algorithm from the shared start with the same budget (each registered algorithm's ``train_cell``
says how it trains; its kind's ``evaluate`` how a cell is measured: `srl_gym.algorithms`) and is written to
``OUT/cells/<model>/<task>/<algo>/seed-<s>/result.json`` when it is finished. Rerunning the same
command after an interrupt skips the finished cells and redoes only the missing ones. Cells run
in ``workers`` processes at a time (`default_workers`); on a CPU each on one torch thread, so a
cell's numbers do not depend on how many run beside it.

After every cell ``OUT/results.json`` (every raw per-seed number, the full config, package
versions, the git commit) and ``OUT/table.md`` (mean and 95% confidence interval over seeds of
every metric) are rewritten atomically; at the end the plots are drawn (`srl_gym.report`).

Presets (`PRESETS`) fill in every setting; ``--tasks``, ``--algos``, ``--seeds``, ``--model`` and
``--set NAME=VALUE`` change them. From Python::

    from srl_gym.compare import compare
    results = compare("quick", out="results/quick", seeds=2)
    results["summary"]  # one row per (model, task, algo) with mean and CI of every metric
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import types
import typing
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from srl_gym import algorithms, report
from srl_gym.algorithms import algorithms as registered_algorithms
from srl_gym.algorithms import get_algorithm, get_kind
from srl_gym.metrics import AGENT_SUCCESS, CURVE_METRICS, GREEDY_SUCCESS, summarize
from srl_gym.problem_space import MIN_DISTINCT_SHARE, distinct_problems, problem_set
from srl_gym.registration import TASKS, task_entry
from srl_gym.report import slug
from srl_gym.runs import read_json_lines, write_json_atomic
from srl_gym.stats import REWARD_SIGNAL_PREFIX, boundary_table, objective_table, regime_table, training_table

#: The validation measures that pick a run's checkpoint (`selection_score`).
SELECTION_METRICS = (GREEDY_SUCCESS, AGENT_SUCCESS)
#: Test problems per evaluated difficulty below which a comparison is refused (unless --force-underpowered).
MIN_TEST_PROBLEMS = 100
#: Train-split seeds 0..RESERVED_SEEDS-1 hold a comparison's training and validation problems; the shipped bases'
#: warm-ups leave them out (`srl_gym.agents.warmup.RESERVED_SEEDS`, which tests check equals this).
RESERVED_SEEDS = 10_000

#: The config fields that only say how to run, not what is computed: they may differ on a rerun.
RUNTIME_FIELDS = ("device", "micro_batch_size", "eval_batch_size", "workers")


@dataclass
class CompareConfig:
    """Everything that defines a comparison (stored in ``OUT/config.json``)."""

    preset: str = field(default="quick", metadata={"help": "the preset these settings started from"})
    # ---- the grid
    tasks: tuple[str, ...] = field(default=("srl/LongMultiplication-v0",), metadata={"help": "task ids"})
    algos: tuple[str, ...] = field(
        default=("base", "sft", "rlvr", "srl", "srl-rlvr", "srl-onpolicy", "control-sft", "control-rlvr"),
        metadata={"help": "algorithms (see --help); control-sft and control-rlvr validate the comparison"},
    )
    seeds: int = field(default=3, metadata={"help": "seeds 0..N-1 of every algorithm"})
    models: tuple[str, ...] = field(
        default=("tiny-longmul",),
        metadata={"help": "LM start models: tiny-longmul (shipped), tiny, tiny-large, smollm2-135m, a dir"},
    )
    # ---- the base: a short SFT warm-up on easy problems, so the model follows the output format
    warmup_difficulty: int = field(default=0, metadata={"help": "difficulty of the warm-up problems (easy)"})
    warmup_problems: int = field(default=2000, metadata={"help": "warm-up problems: train-split seeds 0..N-1"})
    warmup_updates: int = field(
        default=0, metadata={"help": "SFT updates of the warm-up (0: the start model is the base, e.g. a shipped one)"}
    )
    warmup_learning_rate: float | None = field(
        default=None, metadata={"help": "peak learning rate of the warm-up (None: by model, see LEARNING_RATES)"}
    )
    base_seed: int = field(default=0, metadata={"help": "seed of the base model's initialisation and warm-up"})
    # ---- the hard training problems and the budget
    train_difficulty: int = field(default=1, metadata={"help": "difficulty of the training problems (hard)"})
    train_problems: int = field(
        default=1000,
        metadata={"help": "hard training problems: train-split seeds 0..N-1 (the paper: 1,000; fewer only memorise)"},
    )
    updates: int = field(default=6, metadata={"help": "optimiser updates of every LM algorithm (the budget)"})
    sft_batch_size: int = field(default=16, metadata={"help": "examples per SFT update (warm-up and SFT)"})
    sft_learning_rate: float | None = field(
        default=None, metadata={"help": "peak learning rate of SFT on the hard problems (None: by model)"}
    )
    srl_learning_rate: float | None = field(default=None, metadata={"help": "learning rate of SRL (None: by model)"})
    rlvr_learning_rate: float | None = field(default=None, metadata={"help": "learning rate of RLVR (None: by model)"})
    # ---- the controls (algorithms control-sft and control-rlvr): rows that validate the comparison on itself
    control_updates: int = field(
        default=240, metadata={"help": "updates of the positive control (control-sft: SFT known to move the base)"}
    )
    control_learning_rate: float | None = field(
        default=None, metadata={"help": "peak learning rate of the positive control (None: by model)"}
    )
    prompts_per_update: int = field(default=6, metadata={"help": "GRPO prompts (groups) per update"})
    group_size: int = field(default=8, metadata={"help": "GRPO rollouts per prompt (paper: 8)"})
    max_sampling_rounds: int = field(
        default=4, metadata={"help": "GRPO dynamic-sampling rounds per update (1 + refills from untried prompts)"}
    )
    onpolicy_mix: float = field(
        default=0.5, metadata={"help": "srl-onpolicy: share of its step instances from the model's own states"}
    )
    onpolicy_rounds: int = field(default=2, metadata={"help": "srl-onpolicy: rounds of play then train"})
    onpolicy_problems: int = field(default=32, metadata={"help": "srl-onpolicy: training problems played per round"})
    expert_noise: tuple[float, ...] = field(
        default=(0.0,),
        metadata={"help": "the flawed-expert axis: each p trains every algorithm that reads expert trajectories "
                  "(sft, srl, srl-rlvr, srl-onpolicy) on trajectories with a legal wrong step at rate p (e.g. "
                  "0,0.1,0.3); the others, the warm-up and every evaluation stay clean"},
    )  # fmt: skip
    micro_batch_size: int = field(default=64, metadata={"help": "sequences per forward/backward (memory only)"})
    max_new_tokens_cap: int = field(default=512, metadata={"help": "upper bound of any completion's length"})
    max_length: int = field(default=2048, metadata={"help": "longest prompt + completion in tokens"})
    # ---- discrete agents (bc, ppo-srl, ppo-outcome)
    bc_expert_episodes: int = field(
        default=50, metadata={"help": "BC: oracle episodes, and learner episodes per DAgger round"}
    )
    bc_dagger_iterations: int = field(default=3, metadata={"help": "BC: DAgger rounds"})
    ppo_timesteps: int = field(default=20_000, metadata={"help": "PPO: env steps (the discrete budget)"})
    # ---- model selection: validation problems (train split, never trained on) pick each run's checkpoint
    validation_problems: int = field(
        default=64, metadata={"help": "validation problems: the first N train-split seeds from validation_start whose "
                  "problem is no training problem"},
    )
    validation_start: int = field(
        default=5000, metadata={"help": "first validation seed (>= train_problems, so no training problem)"}
    )
    # ---- evaluation
    eval_problems: int = field(
        default=MIN_TEST_PROBLEMS, metadata={"help": f"test-split problems per difficulty (>= {MIN_TEST_PROBLEMS})"}
    )
    eval_harder_levels: int = field(
        default=1, metadata={"help": "also evaluate this many levels above the training one (0: that one only)"}
    )
    eval_step_instances: int = field(
        default=100, metadata={"help": "most (problem, step) instances per difficulty for step similarity"}
    )
    eval_samples: int = field(default=4, metadata={"help": "k of avg@k: samples per problem (0: no avg@k, pass@k)"})
    eval_temperature: float = field(
        default=1.0, metadata={"help": "sampling temperature of avg@k, the regimes' pass@k and the boundary's"}
    )
    # ---- the regime axis and the reasoning boundary (the `regimes` preset)
    regime_samples: int = field(
        default=0,
        metadata={"help": "samples per validation problem that measure each start model's pass@1 and pass@8 at the "
                  "training level (the regime; 0: not measured)"},
    )  # fmt: skip
    boundary_samples: int = field(
        default=0, metadata={"help": "n of the reasoning boundary: pass@k for k = 1..n on test problems (0: none)"}
    )
    boundary_problems: int = field(default=50, metadata={"help": "test problems of the reasoning boundary"})
    boundary_seeds: int = field(default=1, metadata={"help": "seeds 0..N-1 of each algorithm that get the boundary"})
    boundary_models: tuple[str, ...] = field(
        default=(), metadata={"help": "start models whose cells get the boundary (empty: every model)"}
    )
    eval_batch_size: int = field(default=96, metadata={"help": "prompts per generate call at evaluation"})
    curve_points: int = field(
        default=1,
        metadata={"help": "checkpoints per run, scored on validation (learning curves, selection); 1: the final one, "
                  "not scored"},
    )  # fmt: skip
    keep_models: bool = field(default=True, metadata={"help": "keep each cell's final model (else delete it)"})
    device: str | None = field(default=None, metadata={"help": "cpu, cuda, ...; default cuda when available"})
    workers: int | None = field(
        default=None,
        metadata={"help": "cells run at once, each in its own process (None: one per CPU core, at most 4, on a CPU; "
                  "1 on a GPU). On a CPU every cell runs on one torch thread, so the numbers do not depend on it"},
    )  # fmt: skip
    force_underpowered: bool = field(
        default=False, metadata={"help": "run settings that cannot give the protocol its power (see validate)"}
    )

    def validate(self) -> None:
        if not self.tasks or not self.algos or not self.models:
            raise ValueError("tasks, algos and models must not be empty")
        self.tasks = tuple(_resolve_task(t) for t in self.tasks)
        known = registered_algorithms()
        unknown = [a for a in self.algos if a not in known]
        if unknown:
            raise ValueError(f"unknown algorithm(s) {', '.join(unknown)}; valid: {', '.join(known)}")
        for name in ("tasks", "algos", "models"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                raise ValueError(f"{name} lists a name twice: {values}")
        check_model = getattr(get_kind("lm").load(), "check_model", None)
        for model in self.models:  # a missing model directory is an error now, not after a warm-up started
            if check_model is not None and self.lm_algos:
                check_model(model)
        folders = [slug(m) for m in self.models]
        if len(set(folders)) != len(folders) or "mlp" in folders:
            raise ValueError(f"models {self.models} would share an output folder ({folders}); copy one to another name")
        for f in dataclasses.fields(self):  # 1 and 1.0 are the same setting
            if f.type in ("float", "float | None") and isinstance(getattr(self, f.name), int):
                setattr(self, f.name, float(getattr(self, f.name)))
        positive = ("seeds", "warmup_problems", "train_problems", "updates", "sft_batch_size", "control_updates")
        positive += ("prompts_per_update", "max_sampling_rounds", "micro_batch_size", "max_new_tokens_cap")
        positive += ("max_length", "bc_expert_episodes", "ppo_timesteps", "eval_problems", "validation_problems")
        positive += ("eval_batch_size", "curve_points", "eval_step_instances", "onpolicy_rounds", "onpolicy_problems")
        positive += ("boundary_problems", "boundary_seeds")
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if "srl-rlvr" in self.algos and self.updates < 2:
            raise ValueError("srl-rlvr splits the budget in two: updates must be >= 2")
        if self.group_size < 2:
            raise ValueError(f"group_size must be >= 2, got {self.group_size}")
        self.expert_noise = tuple(self.expert_noise) if isinstance(self.expert_noise, (list, tuple)) else (
            self.expert_noise,)
        if not self.expert_noise or len(set(self.expert_noise)) != len(self.expert_noise):
            raise ValueError(f"expert_noise needs one or more distinct values in [0, 1], got {self.expert_noise}")
        for p in self.expert_noise:
            if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
                raise ValueError(f"expert_noise values must be in [0, 1] (0: the oracle), got {p!r}")
        self.expert_noise = tuple(float(p) for p in self.expert_noise)
        if any(self.expert_noise):
            if not any(get_algorithm(a).expert_data for a in self.lm_algos):
                raise ValueError(f"expert_noise={self.expert_noise} changes only algorithms that train on expert "
                                 "trajectories (sft, srl, srl-rlvr, srl-onpolicy); none is in algos")  # fmt: skip
            from srl_gym.episodes import make_text_env

            for task in self.tasks:  # the env says why a task cannot have a flawed expert (no legal wrong step)
                make_text_env(task, difficulty=self.train_difficulty, expert_noise=max(self.expert_noise))
        if not 0.0 <= self.onpolicy_mix <= 1.0:
            raise ValueError(f"onpolicy_mix must be in [0, 1] (0: plain SRL), got {self.onpolicy_mix}")
        if self.workers is not None and (isinstance(self.workers, bool) or not isinstance(self.workers, int)
                                         or self.workers < 1):  # fmt: skip
            raise ValueError(f"workers must be an integer >= 1 (or None: one per CPU core), got {self.workers!r}")
        self.boundary_models = tuple(self.boundary_models)
        unknown = [m for m in self.boundary_models if m not in self.models]
        if unknown or len(set(self.boundary_models)) != len(self.boundary_models):
            raise ValueError(f"boundary_models must be distinct start models of this comparison {self.models}, got "
                             f"{self.boundary_models}")  # fmt: skip
        for name in ("eval_samples", "warmup_updates", "validation_start", "eval_harder_levels", "regime_samples",
                     "boundary_samples"):  # fmt: skip
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        if self.bc_dagger_iterations < 0:
            raise ValueError(f"bc_dagger_iterations must be >= 0, got {self.bc_dagger_iterations}")
        for name in ("warmup_learning_rate", "sft_learning_rate", "srl_learning_rate", "rlvr_learning_rate",
                     "control_learning_rate"):
            if getattr(self, name) is not None and not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if not self.eval_temperature > 0:
            raise ValueError(f"eval_temperature must be > 0, got {self.eval_temperature}")
        for task in self.tasks:
            levels = len(task_entry(task).load().levels)
            for name in ("warmup_difficulty", "train_difficulty"):
                if not 0 <= getattr(self, name) < levels:
                    raise ValueError(f"{name}={getattr(self, name)} is not a level of {task} (0..{levels - 1})")
            if "rlvr-curriculum" in self.algos and self.train_difficulty < 1:
                raise ValueError(f"rlvr-curriculum climbs from level 0 to train_difficulty={self.train_difficulty}, "
                                 f"and {task} has no level below it: drop it or train higher")  # fmt: skip
            if "control-rlvr" in self.algos and self.train_difficulty + 1 >= levels:
                raise ValueError(f"control-rlvr trains on the level above train_difficulty={self.train_difficulty}, "
                                 f"and {task} has none (levels 0..{levels - 1}): drop it or train lower")  # fmt: skip
        for task in self.tasks if self.regime_samples and self.lm_algos else ():
            if not self.validation_seeds(task):  # whatever the power: the regime axis would have no x
                raise ValueError(f"regime_samples: {task} has no validation problem at level {self.train_difficulty} "
                                 "outside the training problems, so no start model's pass rate can be measured")
        if self.validation_start < self.train_problems:  # a protocol error whatever the power
            raise ValueError(
                f"validation seeds {self.validation_start}..{self.validation_start + self.validation_problems - 1} "
                f"overlap the training seeds 0..{self.train_problems - 1}: set validation_start >= train_problems"
            )
        problems = self.underpowered()
        if problems and not self.force_underpowered:
            raise ValueError("; ".join(problems) + " (or pass --force-underpowered to run it anyway)")

    def underpowered(self) -> list[str]:
        """Why these settings cannot give the comparison its statistical power (empty: they can)."""
        reasons = []
        if self.eval_problems < MIN_TEST_PROBLEMS:
            reasons.append(
                f"eval_problems={self.eval_problems} is below the minimum of {MIN_TEST_PROBLEMS} test problems per "
                "difficulty (a success rate near 0.1 has a 95% interval of +-0.06 at 100 problems, +-0.19 at 10)"
            )
        last = self.validation_start + self.validation_problems - 1
        for task in self.tasks if self.lm_algos else ():
            seeds = self.validation_seeds(task)
            last = max([last, *seeds])
            if len(seeds) < self.validation_problems:
                reasons.append(
                    f"only {len(seeds)} of the {self.validation_problems} validation problems of {task} at level "
                    f"{self.train_difficulty} are no training problem (the training problems nearly exhaust the "
                    "level): ask for fewer or train at a larger level"
                )
        if last >= RESERVED_SEEDS:
            reasons.append(
                f"validation seeds reach {last}, past the {RESERVED_SEEDS} train-split seeds kept out of the shipped "
                "bases' warm-ups: validation problems could be warm-up problems"
            )
        if self.train_problems > RESERVED_SEEDS:
            reasons.append(f"train_problems={self.train_problems} reaches past the {RESERVED_SEEDS} reserved seeds")
        for task in self.tasks if self.lm_algos else ():
            distinct = distinct_training_problems(task, self.train_difficulty, self.train_problems)
            if distinct < MIN_DISTINCT_SHARE * self.train_problems:
                reasons.append(
                    f"the {self.train_problems} training seeds of {task} at level {self.train_difficulty} give only "
                    f"{distinct} distinct problems (the level is smaller than asked; trainers keep each once): ask "
                    "for fewer or train at a larger level"
                )
        protected = getattr(get_kind("lm").load(), "protected_levels", None)
        for model in self.models if self.lm_algos else ():
            levels = protected(model) if protected is not None else None
            if levels is not None and self.train_difficulty not in levels:
                reasons.append(
                    f"{model} was warmed up on problems of level {self.train_difficulty} that may be training or "
                    f"validation problems (its warm-up kept out only levels {list(levels)}): train at one of those"
                )
        return reasons

    def learning_rate(self, stage: str, model: str) -> float:
        """The learning rate of ``stage`` (warmup, sft, srl, rlvr) for ``model``: the setting, else `LEARNING_RATES`."""
        value = getattr(self, f"{stage}_learning_rate")
        if value is not None:
            return value
        from_scratch = getattr(get_kind("lm").load(), "from_scratch", lambda m: m in ("tiny", "tiny-large"))
        return LEARNING_RATES["from_scratch" if from_scratch(model) else "pretrained"][stage]

    def validation_seeds(self, task: str) -> tuple[int, ...]:
        """The validation problems' train-split seeds: the first ``validation_problems`` from ``validation_start``
        whose problem (at ``train_difficulty``) is none of the training problems, so the two are disjoint by
        problem text (a level repeats problems across seeds)."""
        return _validation_seeds(_resolve_task(task), self.train_difficulty, self.train_problems,
                                 self.validation_start, self.validation_problems)  # fmt: skip

    @property
    def lm_algos(self) -> tuple[str, ...]:
        return tuple(a for a in self.algos if get_algorithm(a).kind == "lm")

    def wants_boundary(self, model: str, seed: int) -> bool:
        """Whether the cells of ``model`` and ``seed`` get the reasoning boundary (pass@k for k = 1..n)."""
        return bool(self.boundary_samples) and seed < self.boundary_seeds and (
            not self.boundary_models or model in self.boundary_models)

    def eval_difficulties(self, task: str) -> list[int]:
        """The training difficulty and ``eval_harder_levels`` levels above it (those the task has)."""
        levels = len(task_entry(task).load().levels)
        return [d for d in range(self.train_difficulty, self.train_difficulty + 1 + self.eval_harder_levels)
                if d < levels]  # fmt: skip


#: Learning rates when a setting is None. A tiny model (or a shipped base, a tiny model warmed up on one
#: task) starts from random weights, so its warm-up needs
#: a large rate; a pretrained one (SmolLM2, a local directory) is fine-tuned gently (the paper: 5e-6
#: SFT and 5e-7 GRPO for a 7B model; a 135M model takes somewhat larger steps).
LEARNING_RATES = {
    "from_scratch": {"warmup": 2e-3, "sft": 5e-4, "srl": 1e-4, "rlvr": 1e-4, "control": 2e-3},
    "pretrained": {"warmup": 5e-5, "sft": 2e-5, "srl": 3e-6, "rlvr": 3e-6, "control": 5e-5},
}
# The positive control's rate is the warm-up's: the pilot of December 2026 (../shared/PILOT-2026-12.md, 100
# validation problems) found SFT at 2e-3 on 1,000 problems taking tiny-longmul from 0.05 to 0.13-0.15 greedy
# success in 120 updates and 0.39-0.80 in 240; the pretrained value is the warm-up's, not validated.

#: Preset name -> (what it is for, the settings it changes from `CompareConfig`'s defaults).
PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    "quick": (
        "the README's main job: LongMultiplication from the shipped base tiny-longmul, 1,000 training problems, SFT, "
        "RLVR and SRL at 6 updates and both controls (control-sft: 240 updates), 3 seeds, 100 test problems at the "
        "training level (no avg@k, no harder level), 50 validation problems",
        {
            "algos": ("base", "sft", "rlvr", "srl", "control-sft", "control-rlvr"),
            "eval_harder_levels": 0,
            "eval_samples": 0,
            "validation_problems": 50,
        },
    ),
    "standard": (
        "CPU: quick's task and base with every LM algorithm and both controls, 5 seeds, 20 updates, 200 test "
        "problems at the training level with avg@2, each run at its final (annealed) checkpoint (no harder level: "
        "nothing solves level 2, docs/results/onpolicy-cpu); learning rates chosen on validation at this budget "
        "on 1,000 training problems (benchmarks/lr_sweep.py, docs/results/lr-sweep-1000)",
        {
            "seeds": 5,
            "updates": 20,
            "eval_problems": 200,
            "eval_harder_levels": 0,
            "eval_samples": 2,  # avg@2 at temperature 1: RLVR's own objective (success as it samples)
            "validation_problems": 100,
            # The best final-checkpoint validation score of 5-7 values each (docs/results/lr-sweep-1000/choice.md).
            # SRL's lies at the grid's lower edge: it ties the base (0.175) and every larger value scores lower.
            "sft_learning_rate": 1.25e-4,
            "srl_learning_rate": 3e-6,
            "rlvr_learning_rate": 1e-4,
        },
    ),
    "regimes": (
        "CPU, the paper's claim as a curve: standard's protocol (20 updates, its learning rates) from three "
        "shipped start models of one design and graded competence at LongMultiplication level 1 (tiny-longmul-900, "
        "tiny-longmul, tiny-longmul-mid, tiny-longmul-plus: each one's pass@1 and pass@8 measured on validation, 16 "
        "samples a problem), "
        "every LM algorithm and the curriculum baseline (rlvr-curriculum), 3 seeds, 100 test problems; the "
        "reasoning boundary (pass@k, k = 1..64, 50 test problems) of seed 0 from tiny-longmul",
        {
            "models": ("tiny-longmul-900", "tiny-longmul", "tiny-longmul-mid", "tiny-longmul-plus"),
            "algos": ("base", "sft", "rlvr", "rlvr-curriculum", "srl", "srl-rlvr", "srl-onpolicy"),
            "seeds": 3,
            "updates": 20,
            "eval_problems": 100,
            "eval_harder_levels": 0,
            "eval_samples": 0,  # no avg@k: its minutes go to the boundary (the training table has RLVR's reward)
            "validation_problems": 50,
            # standard's rates, chosen on validation from tiny-longmul (docs/results/lr-sweep-1000): the same for
            # every start model (one sweep per start model would triple the CPU cost)
            "sft_learning_rate": 1.25e-4,
            "srl_learning_rate": 3e-6,
            "rlvr_learning_rate": 1e-4,
            "regime_samples": 16,
            "boundary_samples": 64,
            "boundary_problems": 50,
            "boundary_models": ("tiny-longmul",),
        },
    ),
    "discrete": (
        "Stable-Baselines3 agents on the planning tasks: random, BC, PPO(srl), PPO(outcome), 5 seeds, CPU minutes",
        {
            "tasks": ("srl/Hanoi-v0", "srl/BlocksWorld-v0", "srl/GridMaze-v0", "srl/SlidingPuzzle-v0"),
            "algos": ("random", "bc", "ppo-srl", "ppo-outcome"),
            "seeds": 5,
            "train_difficulty": 1,
            "eval_samples": 4,
            "curve_points": 4,
        },
    ),
    "gpu": (
        "one CUDA GPU: SmolLM2-135M and tiny-large, 3 tasks, 5 seeds, a larger budget",
        {
            "models": ("smollm2-135m", "tiny-large"),
            "tasks": ("srl/BlocksWorld-v0", "srl/Arithmetic-v0", "srl/KnightsKnaves-v0"),
            "seeds": 5,
            "warmup_updates": 300,
            "updates": 60,
            "prompts_per_update": 32,
            "eval_problems": 100,
            "eval_samples": 8,
            "eval_batch_size": 256,
            "curve_points": 4,
            "keep_models": False,
        },
    ),
    "gpu-regimes": (
        "one CUDA GPU, regimes with a pretrained model: SmolLM2-135M warmed up for 50, 200 and 800 updates on "
        "LongMultiplication (smollm2-longmul-N, built into the output folder first), every LM algorithm and the "
        "curriculum, 3 seeds, 60 updates of 32 prompts, 200 test problems with avg@8, 100 validation problems; the "
        "boundary (k = 1..64, 100 test problems) from smollm2-longmul-200; the pretrained learning rates (not "
        "validated: sweep them first, see the README)",
        {
            "models": ("smollm2-longmul-50", "smollm2-longmul-200", "smollm2-longmul-800"),
            "algos": ("base", "sft", "rlvr", "rlvr-curriculum", "srl", "srl-rlvr", "srl-onpolicy"),
            "seeds": 3,
            "updates": 60,
            "prompts_per_update": 32,
            "eval_problems": 200,
            "eval_harder_levels": 0,
            "eval_samples": 8,
            "eval_batch_size": 256,
            "validation_problems": 100,
            "regime_samples": 16,
            "boundary_samples": 64,
            "boundary_problems": 100,
            "boundary_models": ("smollm2-longmul-200",),
            "curve_points": 4,
            "keep_models": False,
        },
    ),
}


def preset_config(name: str, **changes: Any) -> CompareConfig:
    """The `CompareConfig` of preset ``name`` with ``changes`` (None values are ignored), validated."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; valid: {', '.join(PRESETS)}")
    values = {"preset": name, **PRESETS[name][1], **{k: v for k, v in changes.items() if v is not None}}
    names = {f.name for f in dataclasses.fields(CompareConfig)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"unknown setting(s) {', '.join(unknown)}; valid: {', '.join(sorted(names))}")
    config = CompareConfig(**values)
    config.validate()
    return config


def distinct_training_problems(task: str, difficulty: int, problems: int) -> int:
    """How many distinct problems the training seeds ``0..problems-1`` of ``task`` give at ``difficulty``."""
    return distinct_problems(task, difficulty, problems)


@functools.lru_cache(maxsize=8)
def _validation_seeds(task: str, difficulty: int, train_problems: int, start: int, count: int) -> tuple[int, ...]:
    from srl_gym.episodes import problem_texts

    training = problem_set(task, difficulty, train_problems)
    seeds: list[int] = []
    end = start + 10 * count + 1000  # a level that the training problems (nearly) exhaust gives fewer: refused
    while len(seeds) < count and start < end:  # a batch at a time: most seeds give a new problem
        batch = range(start, min(end, start + 2 * (count - len(seeds)) + 16))
        seeds += [s for s, text in zip(batch, problem_texts(task, batch, difficulty=difficulty), strict=True)
                  if text not in training][: count - len(seeds)]  # fmt: skip
        start = batch.stop
    return tuple(seeds)


def _resolve_task(name: str) -> str:
    try:
        return task_entry(name).env_id
    except ValueError:
        valid = ", ".join(e.name for e in TASKS)
        raise ValueError(f"unknown task {name!r}; valid: {valid} (or their ids, e.g. srl/Hanoi-v0)") from None


# ---------------------------------------------------------------------- the grid
@dataclass(frozen=True)
class Cell:
    """One (model, task, algorithm, seed) of the grid; ``model`` is ``"mlp"`` for discrete agents."""

    model: str
    task: str
    algo: str
    seed: int
    expert_noise: float = 0.0

    @property
    def label(self) -> str:
        """The algorithm's row in results and tables: its name, with ``@noise=P`` when its expert is flawed."""
        return noisy_label(self.algo, self.expert_noise)

    @property
    def group(self) -> tuple[str, str, str]:
        return (self.model, self.task, self.label)

    def folder(self, out: Path) -> Path:
        algo = self.algo if not self.expert_noise else f"{self.algo}-noise-{self.expert_noise:g}"
        return out / "cells" / slug(self.model) / slug(self.task) / algo / f"seed-{self.seed}"


def noisy_label(algo: str, expert_noise: float) -> str:
    """``"srl"`` for the oracle's data, ``"srl@noise=0.1"`` for a flawed expert's (see `CompareConfig.expert_noise`)."""
    return algo if not expert_noise else f"{algo}@noise={expert_noise:g}"


def grid(config: CompareConfig) -> list[Cell]:
    """Every cell, seed by seed (so an early stop still holds whole seeds of every algorithm and start model):
    task, then seed, then model, then algorithm.

    Algorithms that train on expert trajectories get one cell per ``expert_noise`` value; the others one.
    """
    cells = []
    for task in config.tasks:
        for seed in range(config.seeds):
            for algo in config.algos:
                spec = get_algorithm(algo)
                models = config.models if spec.kind == "lm" else ("mlp",)
                noises = config.expert_noise if spec.kind == "lm" and spec.expert_data else (0.0,)
                cells += [Cell(m, task, algo, seed, p) for p in noises for m in models]
    order = {m: i for i, m in enumerate((*config.models, "mlp"))}
    tasks = {t: i for i, t in enumerate(config.tasks)}
    return sorted(cells, key=lambda c: (tasks[c.task], c.seed, order[c.model]))  # stable: then algo


# ---------------------------------------------------------------------- the output folder
def open_output(out: Path, config: CompareConfig, *, force: bool, resume: bool) -> CompareConfig:
    """Prepare ``out`` for ``config`` and return the config to run.

    - ``out`` empty or missing: start.
    - ``out`` holds the same comparison: continue it (finished cells are kept).
    - ``out`` holds a comparison that ``config`` only extends (more seeds; more tasks, algorithms or start
      models; every other setting the same): continue it as ``config`` (finished cells are
      kept, and the statistics cover the whole new grid).
    - ``resume``: continue the comparison saved in ``out`` with ITS config (options given now
      that differ are ignored, with a warning).
    - ``force``: delete what ``out`` holds and start over.
    - otherwise a different comparison in ``out`` is an error naming the differences.
    """
    if force and resume:
        raise ValueError("give --force or --resume, not both")
    saved_path = out / "config.json"
    saved = _saved_comparison(out)
    occupied = out.exists() and (not out.is_dir() or any(out.iterdir()))
    if occupied and saved is None:
        raise ValueError(
            f"{out} exists and is not a comparison folder (--force deletes only those); choose another --out"
        )
    if force and out.exists():
        shutil.rmtree(out)
        saved = None
    if saved is not None:
        differences = config_differences(saved, dataclasses.asdict(config))
        if differences and not resume and extends(saved, dataclasses.asdict(config)):
            print(f"{out}: extending the saved comparison ({', '.join(differences)}); finished cells are kept",
                  file=sys.stderr)  # fmt: skip
            differences = []
        if resume:
            if differences:
                print(f"--resume: continuing {out} with its saved settings; ignored: {', '.join(differences)}",
                      file=sys.stderr)  # fmt: skip
            saved |= {k: getattr(config, k) for k in RUNTIME_FIELDS}
            config = CompareConfig(**_from_json(saved))
            config.validate()
        elif differences:
            raise ValueError(
                f"{out} holds a comparison with other settings ({', '.join(differences)}); pass --resume to finish "
                "that one with its own settings, --force to delete it and start this one, or another --out"
            )
    elif resume:
        raise ValueError(f"--resume: {out} holds no comparison (no config.json); run without --resume to start one")
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(saved_path, dataclasses.asdict(config))
    return config


def _saved_comparison(out: Path) -> dict[str, Any] | None:
    """The config saved in ``out`` if ``out`` is a comparison folder (its config.json has our fields, or some of
    them if an earlier version wrote it)."""
    try:
        saved = json.loads((out / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    fields = {f.name for f in dataclasses.fields(CompareConfig)}  # one saved before a field was added lacks it
    core = {"preset", "tasks", "algos", "seeds", "models", "updates", "eval_problems"}
    return saved if isinstance(saved, dict) and core <= set(saved) <= fields else None


def config_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The settings whose values differ (tuples and lists compare equal), runtime fields aside."""
    keys = sorted((set(old) | set(new)) - set(RUNTIME_FIELDS))
    return [k for k in keys if json.dumps(old.get(k)) != json.dumps(new.get(k))]


#: The settings that only say which cells a comparison has: a larger grid keeps every finished cell.
GRID_FIELDS = ("tasks", "algos", "models", "seeds")


def extends(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether comparison ``new`` is comparison ``old`` with a larger grid (`GRID_FIELDS`: more seeds, more names)
    and every other setting the same."""
    if config_differences({k: v for k, v in old.items() if k not in GRID_FIELDS},
                          {k: v for k, v in new.items() if k not in GRID_FIELDS}):  # fmt: skip
        return False
    names = all(set(old[k]) <= set(new[k]) for k in ("tasks", "algos", "models"))
    return names and new["seeds"] >= old["seeds"]


def _from_json(values: dict[str, Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(CompareConfig)
    known = {f.name for f in dataclasses.fields(CompareConfig)}
    return {k: tuple(v) if typing.get_origin(hints[k]) is tuple else v for k, v in values.items() if k in known}


# ---------------------------------------------------------------------- provenance
def environment_info() -> dict[str, Any]:
    """Package versions, Python, the platform, the accelerator and the git commit of this checkout."""
    versions = {}
    for package in ("srl-gym", "gymnasium", "numpy", "torch", "transformers", "stable-baselines3", "sb3-contrib"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    info: dict[str, Any] = {"python": platform.python_version(), "platform": platform.platform(), "packages": versions}
    try:
        import torch

        info["accelerator"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
        info["cpu_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        status = ["git", "status", "--porcelain", "--untracked-files=no"]  # edits to tracked files only
        dirty = subprocess.run(status, cwd=root, capture_output=True, text=True, timeout=10)
        info["git_commit"] = commit.stdout.strip() or None
        info["git_dirty"] = bool(dirty.stdout.strip()) if commit.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        info["git_commit"] = None
    return info


# ---------------------------------------------------------------------- running
def run_cell(cell: Cell, config: CompareConfig, out: Path, base: dict[str, Any] | None) -> dict[str, Any]:
    """Train ``cell`` from the base, evaluate its checkpoints, and return its result record."""
    algorithm = get_algorithm(cell.algo)
    evaluate = get_kind(algorithm.kind).load().evaluate
    folder = cell.folder(out)
    runs = folder / "runs"
    if runs.exists():  # an interrupted earlier attempt: start the cell over
        shutil.rmtree(runs)
    runs.mkdir(parents=True)
    base_dir = base["model_dir"] if base else None
    tick = time.perf_counter()
    trained = algorithm.train_cell(
        algorithms.Cell(cell.model, cell.task, cell.seed, config, runs, base_dir, expert_noise=cell.expert_noise)
    )
    train_seconds = time.perf_counter() - tick
    tick = time.perf_counter()
    # Model selection on validation problems (train split, never trained on): every checkpoint is scored and
    # the best one (the latest of equals) goes to the test split. The learning curve is these validation points.
    # A run with one checkpoint and no curve to draw (curve_points=1) has nothing to pick: not scored.
    curve = [dict(base["curve_point"], budget=0)] if base and "curve_point" in base else []
    scores: list[float | None] = []
    for checkpoint in trained.checkpoints:
        if len(trained.checkpoints) == 1 and config.curve_points == 1:
            scores.append(None)
            continue
        point = evaluate(checkpoint.path, cell.task, config.train_difficulty, config, cell.seed,
                         split="validation", full=False)  # fmt: skip
        scores.append(selection_score(point))
        if checkpoint.path != base_dir:
            curve.append({"budget": checkpoint.step, **{k: point[k] for k in CURVE_METRICS if k in point}})
    best = max(range(len(scores)), key=lambda i: (scores[i] or 0.0, i))
    selected = trained.checkpoints[best]
    evals = {}
    for difficulty in config.eval_difficulties(cell.task):
        evals[str(difficulty)] = evaluate(selected.path, cell.task, difficulty, config, cell.seed, split="test")
    boundary = getattr(get_kind(algorithm.kind).load(), "boundary", None)
    if boundary is not None and config.wants_boundary(cell.model, cell.seed):  # pass@k, k = 1..n, training level
        evals[str(config.train_difficulty)]["boundary"] = boundary(selected.path, cell.task, config.train_difficulty,
                                                                   config, cell.seed)  # fmt: skip
    final = trained.final
    keep = config.keep_models and Path(selected.path).exists() and selected.path != base_dir
    training = training_log(runs)  # read before `_prune` deletes the runs
    model_path = _prune(runs, keep=selected.path if keep else None)
    budget = final.budget | {"train_seconds": train_seconds}
    return {
        "model": cell.model,
        "task": cell.task,
        "algo": cell.label,  # the row: "srl", or "srl@noise=0.1" on the expert_noise axis
        "algorithm": cell.algo,
        "expert_noise": cell.expert_noise,
        "seed": cell.seed,
        "kind": algorithm.kind,
        "control": algorithm.control,  # "positive"/"negative": a row that validates the comparison on itself
        "objectives": list(algorithm.objectives),  # the metrics of what it optimises (the report checks them)
        "eval": evals,
        "curve": curve,
        "selected": {"checkpoint": best, "of": len(scores), "budget": selected.step, "validation_score": scores[best]},
        "budget": budget | {"eval_seconds": time.perf_counter() - tick},
        "model_path": os.path.relpath(model_path, out) if model_path else None,
        "training": training,
    }


#: What `training_log` keeps of a trainer's ``metrics.jsonl`` rows: the training signal and its health.
TRAINING_KEYS = ("train/loss", "train/grad_norm", "train/entropy", "rollout/reward", "rollout/reward_std",
                 "rollout/frac_reward_zero_std", "rollout/dynamic_sampling/kept_fraction")  # fmt: skip


def training_log(runs: Path) -> list[dict[str, Any]]:
    """The training logs of a cell's runs (`srl_gym.agents.trl_common`'s ``metrics.jsonl``), oldest run first.

    One entry per run (``{"run": its folder under runs, "difficulty": its level, "rows": [...]}``), each row the
    update (``step``) with
    the `TRAINING_KEYS` it logged and every reward function's mean (``rollout/rewards/NAME/mean``): what the
    algorithm optimised as it trained, so the report can show it moving (`srl_gym.stats.training_table`).
    Held-out evaluations (``eval/``) are left out: the cell's own evaluation is the held-out measure.
    """
    logs = []
    for path in sorted(runs.rglob("metrics.jsonl"), key=lambda p: (p.stat().st_mtime, str(p))):
        rows = []
        for row in read_json_lines(path):
            kept = {k: v for k, v in row.items() if k in TRAINING_KEYS
                    or (k.startswith(REWARD_SIGNAL_PREFIX) and k.endswith("/mean"))}  # fmt: skip
            if kept:
                rows.append({"step": row.get("step")} | kept)
        if rows:
            logs.append({"run": path.parent.relative_to(runs).as_posix(), "rows": rows} | _run_difficulty(path.parent))
    return logs


def _run_difficulty(run_dir: Path) -> dict[str, int]:
    """``{"difficulty": D}``: the level a run trained on, from its ``config.json`` (none when it has no such field)."""
    try:
        level = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))["config"]["difficulty"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return {"difficulty": int(level)} if isinstance(level, int) else {}


def selection_score(point: dict[str, Any]) -> float:
    """How a checkpoint is ranked on validation: the mean of its outcome measures (whole-solution and agent success).

    Both prompt formats count equally, so no algorithm is picked by the format it trains on.
    """
    values = [point[m] for m in SELECTION_METRICS if point.get(m) is not None]
    return sum(values) / len(values) if values else 0.0


def _prune(runs: Path, keep: str | None) -> str | None:
    """Keep only the cell's final model, moved to ``model`` (a folder) or ``model.zip`` beside ``runs``.

    Everything else in ``runs`` (intermediate checkpoints, logs) is deleted.

    Returns the kept model's new path (None when nothing is kept).
    """
    kept = None
    if keep is not None:
        source = Path(keep)
        kept = runs.parent / ("model" + "".join(source.suffixes))
        if kept.exists():
            shutil.rmtree(kept) if kept.is_dir() else kept.unlink()
        os.replace(source, kept)
    shutil.rmtree(runs, ignore_errors=True)
    return str(kept) if kept is not None else None


def compare(
    preset: str = "quick",
    out: str | Path | None = None,
    *,
    tasks: Sequence[str] | None = None,
    algos: Sequence[str] | None = None,
    seeds: int | None = None,
    models: Sequence[str] | None = None,
    force: bool = False,
    resume: bool = False,
    progress: bool = True,
    **settings: Any,
) -> dict[str, Any]:
    """Run (or finish) a comparison and return its results (what ``OUT/results.json`` holds).

    Args:
        preset: a name of `PRESETS` (``"quick"``, ``"standard"``, ``"regimes"``, ``"gpu-regimes"``, ...).
        out: the output folder (default ``results/<preset>``).
        tasks, algos, seeds, models: change the preset's grid.
        force: delete what ``out`` holds first. resume: finish the comparison saved in ``out``.
        progress: show a progress bar over the grid.
        settings: any other `CompareConfig` field, e.g. ``updates=40``.
    """
    config = preset_config(
        preset,
        tasks=tuple(tasks) if tasks else None,
        algos=tuple(algos) if algos else None,
        seeds=seeds,
        models=tuple(models) if models else None,
        **settings,
    )
    out = Path(out if out is not None else f"results/{preset}")
    config = open_output(out, config, force=force, resume=resume)
    _quiet_transformers()
    for kind in {get_algorithm(a).kind for a in config.algos}:  # a model folder may hold other weights now
        clear = getattr(get_kind(kind).load(), "clear_caches", None)
        if clear is not None:
            clear()
    cells = grid(config)
    started = time.time()
    with _one_thread_on_cpu(config) as one_thread:
        return _run_grid(cells, config, out, started, one_thread, progress)


def _run_grid(cells, config, out, started, one_thread, progress) -> dict[str, Any]:
    """Run the grid's missing cells, writing the outputs after each; the results."""
    workers = config.workers or default_workers(config)
    environment = environment_info() | {"workers": workers}  # its cpu_threads: a cell's
    finished = {c: _read_result(c.folder(out)) for c in cells}
    todo = [c for c in cells if finished[c] is None]
    bar = _progress(len(cells), len(cells) - len(todo), progress)

    cell_environment = {  # in each cell's result: a resumed grid may mix machines
        "git_commit": environment.get("git_commit"),
        "accelerator": environment.get("accelerator"),
        "device": config.device or ("cuda" if environment.get("accelerator") else "cpu"),
    }

    def record(cell: Cell, result: dict[str, Any]) -> None:  # the cell's result.json is written already
        finished[cell] = result
        bar.update(1)
        bar.write(_cell_line(result, config))
        _write_outputs(out, config, finished, environment, started, plots=False)

    try:
        bases: dict[tuple[str, str], dict[str, Any]] = {}
        for model, task in dict.fromkeys((c.model, c.task) for c in todo if c.model != "mlp"):
            bar.set_description(f"{slug(task)} warm-up of {slug(model)}")  # before any cell: every worker reads it
            bases[(model, task)] = get_kind("lm").load().prepare_base(
                model, task, config, out / "base" / slug(model) / slug(task)
            )
        jobs = cell_jobs(todo)
        if workers == 1 or len(jobs) <= 1:
            for job in jobs:
                bar.set_description(f"{slug(job[0].task)} {job[0].label}")
                for cell in job:
                    record(cell, _finish_cell(cell, config, out, bases, cell_environment))
        else:
            bar.set_description(f"{min(workers, len(jobs))} cells at a time")
            _run_parallel(jobs, workers, one_thread, config, out, bases, cell_environment, record)
    finally:
        bar.close()
        late = {c: r for c in todo if finished[c] is None and (r := _read_result(c.folder(out))) is not None}
        if late:  # finished by a worker, not yet recorded here when an error or Ctrl-C stopped the grid
            finished.update(late)
            _write_outputs(out, config, finished, environment, started, plots=False)
    return _write_outputs(out, config, finished, environment, started, plots=True)


def default_workers(config: CompareConfig) -> int:
    """Cells run at once when ``workers`` is None: one per CPU core (at most 4) on a CPU, 1 on a GPU."""
    if _on_gpu(config):
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, 4))


def _on_gpu(config: CompareConfig) -> bool:
    if config.device is not None:
        return not str(config.device).startswith("cpu")
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


@contextlib.contextmanager
def _one_thread_on_cpu(config: CompareConfig) -> Iterator[bool]:
    """On a CPU, run this process's cells on one torch thread (so a cell's numbers are the same whatever
    ``workers`` and the core count: floating-point sums depend on the thread count), then restore the count;
    yields whether it did."""
    try:
        import torch
    except ImportError:
        torch = None
    if torch is None or _on_gpu(config):
        yield False
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield True
    finally:
        torch.set_num_threads(threads)


def cell_jobs(cells: Sequence[Cell]) -> list[list[Cell]]:
    """The cells grouped into jobs for the workers, in grid order: a cell per job, except that an algorithm that
    does not train (``base``, ``random``) has all its seeds in one job, whose process then scores the model once
    (its greedy metrics are cached per model)."""
    jobs: list[list[Cell]] = []
    shared: dict[tuple, list[Cell]] = {}
    for cell in cells:
        if get_algorithm(cell.algo).trainable:
            jobs.append([cell])
        elif cell.group in shared:
            shared[cell.group].append(cell)
        else:
            shared[cell.group] = [cell]
            jobs.append(shared[cell.group])
    return jobs


def _run_parallel(jobs, workers, one_thread, config, out, bases, cell_environment, record) -> None:
    """Run ``jobs`` in ``workers`` processes (``one_thread``: each on one torch thread); ``record`` each result
    here as it arrives (the worker has written its result.json). A failed job or an interrupt (Ctrl-C) stops
    every worker at once: the cells that finished are on disk, the running ones are redone by the next run; then
    the error is raised."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    context = multiprocessing.get_context("spawn")  # no fork of a process that holds torch's threads
    registry = (dict(algorithms.ALGORITHMS), dict(algorithms.KINDS))  # names registered in this process only too
    pool = ProcessPoolExecutor(min(workers, len(jobs)), mp_context=context, initializer=_start_worker,
                               initargs=(one_thread, registry))  # fmt: skip
    try:
        pending = {pool.submit(_run_job, job, config, out, bases, cell_environment) for job in jobs}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                for cell, result in future.result():  # a job's error is raised here
                    record(cell, result)
    except BrokenProcessPool as exc:
        _stop_workers(pool)
        raise RuntimeError(
            "a worker process of the comparison died (out of memory, killed, or a script that calls compare() "
            "without `if __name__ == '__main__':`, which processes started by spawn need); finished cells are kept: "
            "rerun the same command to finish, with workers=1 to run every cell in this process"
        ) from exc
    except BaseException:
        _stop_workers(pool)
        raise
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _stop_workers(pool: Any) -> None:
    """End a pool's worker processes now (their queued jobs would otherwise still run before the exit)."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()


def _start_worker(one_thread: bool, registry: tuple[dict, dict]) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle: it stops the workers
    _quiet_transformers()
    algorithms.algorithms()  # the built-ins and entry points, then what the main process registered besides
    algorithms.ALGORITHMS.update(registry[0])
    algorithms.KINDS.update(registry[1])
    if one_thread:
        import torch

        torch.set_num_threads(1)


def _run_job(job, config, out, bases, cell_environment) -> list[tuple[Cell, dict[str, Any]]]:
    """Run a job's cells one after another (in a worker process)."""
    return [(cell, _finish_cell(cell, config, out, bases, cell_environment)) for cell in job]


def _finish_cell(cell, config, out, bases, cell_environment) -> dict[str, Any]:
    """Run ``cell`` and write its ``result.json`` (atomically) as soon as it is finished; its result."""
    result = run_cell(cell, config, out, bases.get((cell.model, cell.task)))
    result["environment"] = cell_environment
    write_json_atomic(cell.folder(out) / "result.json", result)
    return result


def _quiet_transformers() -> None:
    """No per-load progress bars from transformers: the grid's own bar is the one to watch."""
    try:
        from transformers.utils import logging

        logging.disable_progress_bar()
        logging.set_verbosity_error()
    except ImportError:
        pass


def _read_result(folder: Path) -> dict[str, Any] | None:
    path = folder / "result.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:  # cannot happen with atomic writes; redo the cell if it does
        return None


def _write_outputs(out, config, finished, environment, started, *, plots: bool) -> dict[str, Any]:
    cells = [r for r in finished.values() if r is not None]
    results = {
        "config": dataclasses.asdict(config),
        "command": "srl-gym compare " + " ".join(_command_args(config)),
        "environment": environment,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "complete": len(cells) == len(finished),
        "cells": cells,
        "summary": summarize(cells),
        "contrasts": report.contrast_table(cells),
        "objectives": objective_table(cells, config.train_difficulty),
        "training": training_table(cells),
        "bases": _base_records(out, config),
    }
    results["regimes"] = regime_table(cells, results["bases"], config.train_difficulty)
    results["boundary"] = boundary_table(cells, config.train_difficulty)
    results["figures"] = report.write_plots(results, out) if plots and cells else []
    write_json_atomic(out / "results.json", results)
    report.write_table(results, out / "table.md")
    return results


def _base_records(out: Path, config: CompareConfig) -> list[dict[str, Any]]:
    """The start models' records (``OUT/base/MODEL/TASK/base.json``: warm-up, regime) of the LM models."""
    records = []
    for model in config.models:
        for task in config.tasks:
            path = out / "base" / slug(model) / slug(task) / "base.json"
            if path.is_file():
                record = json.loads(path.read_text(encoding="utf-8"))
                records.append({k: v for k, v in record.items() if k != "model_dir"} | {"model": model, "task": task})
    return records


def _command_args(config: CompareConfig) -> list[str]:
    """The command-line arguments that reproduce ``config`` from its preset."""
    try:
        base = dataclasses.asdict(preset_config(config.preset))
    except (ValueError, FileNotFoundError):  # the preset's defaults cannot run here (a start model not built)
        base = dataclasses.asdict(CompareConfig(**{"preset": config.preset, **PRESETS[config.preset][1]}))
    args = ["--preset", config.preset]
    for key, value in dataclasses.asdict(config).items():
        if key in ("preset", *RUNTIME_FIELDS) or json.dumps(value) == json.dumps(base[key]):
            continue
        if key in ("tasks", "algos", "models"):
            args += [f"--{key.rstrip('s') if key == 'models' else key}", ",".join(value)]
        elif key == "seeds":
            args += ["--seeds", str(value)]
        elif key == "force_underpowered":
            args += ["--force-underpowered"] if value else []
        elif isinstance(value, (list, tuple)):
            args += ["--set", f"{key}=" + ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)]
        else:
            args += ["--set", f"{key}={value}"]
    return args


def _cell_line(result: dict[str, Any], config: CompareConfig) -> str:
    parts = [f"{slug(result['task'])} {result['algo']} seed {result['seed']}:"]
    for difficulty, metrics in result["eval"].items():
        shown = [(name, (metrics or {}).get(key)) for name, key in (("greedy", "greedy_success"),
                 ("agent", "agent_success"), (f"avg@{config.eval_samples}", "avg_at_k"),
                 ("step-sim", "step_similarity"))]  # fmt: skip
        if metrics:
            parts.append(f"d{difficulty} " + " ".join(f"{n} {v:.3f}" for n, v in shown if v is not None))
    return "  ".join(parts)


class _NoBar:
    def __init__(self, total: int, initial: int) -> None:
        self.n, self.total = initial, total

    def update(self, n: int) -> None:
        self.n += n

    def set_description(self, text: str) -> None:
        pass

    def write(self, text: str) -> None:
        print(f"[{self.n}/{self.total}] {text}", file=sys.stderr)

    def close(self) -> None:
        pass


def _progress(total: int, initial: int, enabled: bool) -> Any:
    if enabled:
        try:
            from tqdm.auto import tqdm

            return tqdm(total=total, initial=initial, unit="cell", dynamic_ncols=True)
        except ImportError:
            pass
    return _NoBar(total, initial)


# ---------------------------------------------------------------------- the command line
#: Settings with a flag of their own (not ``--set``).
GRID_FLAGS = {"preset": "--preset", "tasks": "--tasks", "algos": "--algos", "seeds": "--seeds", "models": "--model",
              "force_underpowered": "--force-underpowered", "workers": "--workers"}  # fmt: skip


def _parse_setting(text: str) -> tuple[str, Any]:
    """``NAME=VALUE`` -> (name, value converted to the field's type)."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    name, value = text.split("=", 1)
    name = name.strip().replace("-", "_")
    hints = typing.get_type_hints(CompareConfig)
    if name in GRID_FLAGS:
        raise argparse.ArgumentTypeError(f"{name} has its own flag: {GRID_FLAGS[name]}")
    if name not in hints:
        names = ", ".join(f.name for f in dataclasses.fields(CompareConfig) if f.name not in GRID_FLAGS)
        raise argparse.ArgumentTypeError(f"unknown setting {name!r}; valid: {names}")
    kind = hints[name]
    if typing.get_origin(kind) in (typing.Union, types.UnionType):  # "X | None": None or an X
        if value.strip().lower() == "none":
            return name, None
        kind = next(a for a in typing.get_args(kind) if a is not type(None))
    if typing.get_origin(kind) is tuple:
        values = tuple(v.strip() for v in value.split(",") if v.strip())
        if typing.get_args(kind)[0] is float:
            try:
                return name, tuple(float(v) for v in values)
            except ValueError:
                raise argparse.ArgumentTypeError(f"{name} needs numbers separated by commas, got {value!r}") from None
        return name, values
    if kind is bool:
        if value.lower() not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            raise argparse.ArgumentTypeError(f"{name} needs true or false, got {value!r}")
        return name, value.lower() in ("1", "true", "yes", "on")
    if kind in (int, float):
        try:
            return name, kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} needs a {kind.__name__}, got {value!r}") from None
    return name, None if value.lower() == "none" else value


def _csv(text: str) -> tuple[str, ...]:
    values = tuple(v.strip() for v in text.split(",") if v.strip())
    if not values:
        raise argparse.ArgumentTypeError("expected a comma-separated list of names, got nothing")
    return values


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    known = registered_algorithms()
    presets = "\n".join(f"  {name:11} {text}" for name, (text, _) in PRESETS.items())
    algos = "\n".join(f"  {name:12} ({a.kind}) {a.help}" for name, a in known.items())
    settings = "\n".join(
        f"  {f.name:22} {f.metadata.get('help', '')}"
        for f in dataclasses.fields(CompareConfig)
        if f.name not in GRID_FLAGS
    )
    parser = argparse.ArgumentParser(
        prog=prog or "srl-gym compare",
        description=(
            "Train and evaluate SFT, SRL, RLVR and SRL->RLVR (or BC/PPO on the discrete interface) from the same "
            "start on the same problems and seeds; write results.json, table.md (mean and 95% CI over seeds) "
            "and plots to --out. Rerun the same command to finish an interrupted comparison."
        ),
        epilog=f"presets:\n{presets}\n\nalgorithms:\n{algos}\n\nsettings (--set NAME=VALUE):\n{settings}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--preset", default="quick", help=f"one of {', '.join(PRESETS)} (default quick)")
    parser.add_argument("--tasks", type=_csv, help="comma-separated tasks, e.g. BlocksWorld,Hanoi")
    parser.add_argument("--algos", type=_csv, help=f"comma-separated algorithms: {', '.join(known)}")
    parser.add_argument("--seeds", type=int, help="number of seeds (0..N-1)")
    parser.add_argument("--model", type=_csv, help="start model(s) of the LM algorithms: tiny, tiny-large, "
                        "smollm2-135m or a local model directory")  # fmt: skip
    parser.add_argument("--out", help="output folder (default results/PRESET)")
    parser.add_argument("--device", help="cpu, cuda, ... (default cuda when available)")
    parser.add_argument("--workers", type=int, help="cells run at once, each in its own process (default: one per "
                        "CPU core, at most 4, on a CPU; 1 on a GPU); the numbers do not depend on it")  # fmt: skip
    parser.add_argument("--set", dest="settings", type=_parse_setting, action="append", default=[],
                        metavar="NAME=VALUE", help="change any setting listed below (repeatable)")  # fmt: skip
    parser.add_argument("--force", action="store_true", help="delete what --out holds and start over")
    parser.add_argument("--force-underpowered", action="store_true",
                        help=f"run settings that cannot give the protocol its power (fewer than {MIN_TEST_PROBLEMS} "
                        "test problems, validation seeds past the reserved ones, ...) instead of refusing")  # fmt: skip
    parser.add_argument("--resume", action="store_true", help="finish the comparison in --out with its saved settings")
    parser.add_argument("--show-config", action="store_true", help="print the settings as JSON and exit")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (one line per finished cell)")
    return parser


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """``srl-gym compare``; exits 2 with a clear message on bad input."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    settings = dict(args.settings)
    if args.device:
        settings["device"] = args.device
    if args.workers is not None:
        settings["workers"] = args.workers
    if args.force_underpowered:
        settings["force_underpowered"] = True
    try:
        if args.show_config:
            config = preset_config(
                args.preset, tasks=args.tasks, algos=args.algos, seeds=args.seeds, models=args.model, **settings
            )
            print(json.dumps(dataclasses.asdict(config), indent=2))
            return 0
        results = compare(
            args.preset,
            args.out,
            tasks=args.tasks,
            algos=args.algos,
            seeds=args.seeds,
            models=args.model,
            force=args.force,
            resume=args.resume,
            progress=not args.no_progress,
            **settings,
        )
    except (ValueError, FileNotFoundError) as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    except KeyboardInterrupt:
        again = " (without --force, which would delete them)" if args.force else ""
        print(f"\ninterrupted; rerun the same command{again} to finish the missing cells", file=sys.stderr)
        return 130
    out = Path(args.out or f"results/{args.preset}")
    print((out / "table.md").read_text(encoding="utf-8"))
    figures = ", ".join(str(out / f) for f in results["figures"]) or "none (pip install matplotlib)"
    print(f"results: {out / 'results.json'}; figures: {figures}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
