"""`srl_gym.adapters`: what every adapter shares (JSON-safe infos without the oracle, srl/ ids only, missing extras)."""

from __future__ import annotations

import importlib
import json
import sys
from fractions import Fraction

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import DependencyNotInstalled

from srl_gym import ORACLE_INFO_KEYS
from srl_gym.adapters import MissingExtra, client_info, json_safe, make_env, resolve_env_id
from srl_gym.cli import main

ADAPTERS = [("openenv", "openenv.core"), ("verifiers", "verifiers.v1"), ("skyrl", "skyrl_gym")]


def test_json_safe_turns_numpy_and_fractions_into_json_values():
    value = {"mask": np.array([1, 0], dtype=np.int8), "n": np.int64(3), "ok": np.bool_(True), "x": Fraction(1, 3)}
    value["nested"] = ({"f": np.float32(0.5)}, [Fraction(2)])
    assert json_safe(value) == {"mask": [1, 0], "n": 3, "ok": True, "x": "1/3", "nested": [{"f": 0.5}, ["2"]]}
    json.dumps(json_safe(value), allow_nan=False)


@pytest.mark.parametrize("interface", ["text", "discrete"])
def test_client_info_drops_the_oracle_keys(interface):
    env = gym.make("srl/LinearEquation-v0", interface=interface)
    _, info = env.reset(seed=0)
    assert ORACLE_INFO_KEYS & info.keys()  # the env does hand them out, to trainers
    safe = client_info(info)
    assert not ORACLE_INFO_KEYS & safe.keys() and safe.keys() == info.keys() - ORACLE_INFO_KEYS
    json.dumps(safe)


def test_only_registered_srl_ids():
    assert resolve_env_id("Hanoi") == resolve_env_id("srl/Hanoi-v0") == "srl/Hanoi-v0"
    assert make_env("Hanoi", split="test").unwrapped.split == "test"
    for bad in ("CartPole-v1", "srl/Nope-v0"):
        with pytest.raises(ValueError, match="unknown task"):
            make_env(bad)


@pytest.mark.parametrize("adapter, dependency", ADAPTERS)
def test_a_missing_extra_names_its_install_command(monkeypatch, adapter, dependency):
    monkeypatch.setitem(sys.modules, dependency, None)  # as if not installed
    monkeypatch.delitem(sys.modules, f"srl_gym.adapters.{adapter}", raising=False)
    with pytest.raises(MissingExtra) as caught:
        importlib.import_module(f"srl_gym.adapters.{adapter}")
    assert isinstance(caught.value, ImportError) and isinstance(caught.value, DependencyNotInstalled)
    assert f'pip install "srl-gym[{adapter}]"' in str(caught.value)


def test_serve_without_openenv_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "openenv.core", None)
    monkeypatch.delitem(sys.modules, "srl_gym.adapters.openenv", raising=False)
    with pytest.raises(SystemExit) as caught:
        main(["serve", "srl/Hanoi-v0", "--port", "0"])
    assert caught.value.code == 2 and 'pip install "srl-gym[openenv]"' in capsys.readouterr().err
