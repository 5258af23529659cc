"""The algorithm registry and its contract: one suite over every registered algorithm.

Every entry loads, every trainable one has a command line that ``srl-gym train`` serves, and
every one trains a comparison cell of two updates (or a few env steps) and returns its
checkpoints in order with their budgets.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from srl_gym import algorithms, compare
from srl_gym.algorithms import Cell, Checkpoint, TrainResult, get_algorithm, register_algorithm
from srl_gym.cli import main as cli_main

NAMES = sorted(algorithms.algorithms())
TINY_LM = {  # a comparison shrunk to seconds (the discrete settings are the preset's, shrunk too)
    "models": ("tiny",), "tasks": ("srl/Hanoi-v0",), "warmup_updates": 4, "warmup_problems": 20,
    "force_underpowered": True, "validation_problems": 2, "eval_problems": 2,
    "train_problems": 4, "updates": 2, "prompts_per_update": 2, "group_size": 2, "max_new_tokens_cap": 16,
    "curve_points": 2, "sft_batch_size": 4, "ppo_timesteps": 256, "bc_expert_episodes": 4, "bc_dagger_iterations": 1,
    "control_updates": 4,  # not `updates`: the positive control's checkpoints follow its own updates
}  # fmt: skip


def test_the_registry_holds_the_baselines_with_their_kinds():
    kinds = {name: spec.kind for name, spec in algorithms.algorithms().items()}
    assert {n for n, k in kinds.items() if k == "lm"} == {"base", "sft", "srl", "rlvr", "srl-rlvr", "srl-onpolicy",
                                                          "rlvr-curriculum", "control-sft", "control-rlvr"}
    controls = {n: s.control for n, s in algorithms.algorithms().items() if s.control}
    assert controls == {"control-sft": "positive", "control-rlvr": "negative"}
    assert {n for n, k in kinds.items() if k == "discrete"} == {"random", "bc", "ppo", "ppo-srl", "ppo-outcome"}
    assert not get_algorithm("base").trainable and not get_algorithm("random").trainable


@pytest.mark.parametrize("name", NAMES)
def test_every_entry_loads_with_the_protocol(name):
    spec = get_algorithm(name)
    module = spec.load()
    assert callable(module.train_cell)
    if spec.trainable:
        assert dataclasses.is_dataclass(module.Args) and callable(module.train) and callable(module.main)
        for f in dataclasses.fields(module.Args):
            assert f.metadata.get("help"), f"{name}: option {f.name} has no help"
    assert algorithms.get_kind(spec.kind).load().evaluate


@pytest.mark.parametrize("name", [n for n in NAMES if get_algorithm(n).trainable and not get_algorithm(n).control])
def test_srl_gym_train_serves_every_trainable_entry(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["train", name, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "usage: srl-gym train " + name in out


def test_unknown_names_and_conflicts_are_refused():
    with pytest.raises(ValueError, match="unknown algorithm 'nope'; valid: .*srl"):
        get_algorithm("nope")
    with pytest.raises(ValueError, match="already registered"):
        register_algorithm("srl", kind="lm", entry_point="somewhere.else", help="a clash")
    for name in ("a,b", "a b", "srl@noise=0.1"):  # '@' marks a flawed expert's row (ALGO@noise=p)
        with pytest.raises(ValueError, match="no spaces, commas or '@'"):
            register_algorithm(name, kind="lm", entry_point="x", help="")


def test_a_newcomer_registers_an_algorithm_in_one_module(tmp_path, monkeypatch):
    """A module with train_cell, registered by name, is a row of the comparison."""
    module = tmp_path / "my_algo.py"
    module.write_text(
        "from srl_gym.algorithms import Checkpoint, TrainResult\n"
        "def train_cell(cell):\n"
        "    return TrainResult([Checkpoint('random', {'env_steps': 0.0})])\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(algorithms.ALGORITHMS, "mine", algorithms.AlgorithmSpec(
        "mine", "discrete", "my_algo", "a random policy under another name", trainable=False))  # fmt: skip
    results = compare.compare(
        "discrete", tmp_path / "out", tasks=("Hanoi",), algos=("mine",), seeds=1, progress=False,
        train_difficulty=0, eval_problems=3, eval_samples=1, validation_problems=2, force_underpowered=True,
    )  # fmt: skip
    assert [r["algo"] for r in results["summary"]] == ["mine"]
    assert "| mine | 1 |" in (tmp_path / "out" / "table.md").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_every_algorithm_trains_a_cell_and_returns_its_checkpoints(name, tmp_path):
    spec = get_algorithm(name)
    config = compare.preset_config("quick" if spec.kind == "lm" else "discrete", **TINY_LM)
    task = "srl/Hanoi-v0"
    base = None
    if spec.kind == "lm":
        from srl_gym.agents.models import build_tiny_model

        base = str(build_tiny_model(tmp_path / "base"))
    runs = tmp_path / "runs"
    runs.mkdir()
    level = 1 if name == "rlvr-curriculum" else 0  # a curriculum needs a level below the training one
    cell = Cell("tiny" if spec.kind == "lm" else "mlp", task, 0, dataclasses.replace(config, train_difficulty=level),
                runs, base)  # fmt: skip
    result = spec.train_cell(cell)
    assert isinstance(result, TrainResult) and result.checkpoints
    assert all(isinstance(c, Checkpoint) for c in result.checkpoints)
    steps = [c.step for c in result.checkpoints]
    assert steps == sorted(steps)
    if spec.trainable:
        assert Path(result.final.path).exists()
    if spec.kind == "lm" and name != "base":
        assert len(result.checkpoints) == config.curve_points  # the positive control too, whatever its updates
        budget = result.final.budget
        updates = TINY_LM["control_updates" if spec.control == "positive" else "updates"]
        assert budget["updates"] == updates and 0 <= budget["gradient_updates"] <= budget["updates"]
        assert (budget["generated_tokens"] > 0) == (spec.entry_point != "srl_gym.agents.sft")  # sft, control-sft
        # an untrained base breaks the format: every GRPO group scores -1 and is dropped, nothing is trained on
        assert (budget["trained_tokens"] > 0) == (budget["gradient_updates"] > 0)
