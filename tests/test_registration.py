"""Registration: ids, namespaces, the ways Gymnasium users make envs, and the package layout."""

from __future__ import annotations

import importlib.util

import gymnasium as gym
import pytest

import srl_gym
from srl_gym.registration import TASKS


def test_every_task_is_registered_under_the_namespace():
    ids = {env_id for env_id in gym.registry if env_id.startswith("srl/")}
    assert ids == {e.env_id for e in TASKS}
    assert len([e for e in TASKS if e.domain != "dataset"]) >= 12
    assert {e.domain for e in TASKS} == {"math", "logic", "planning", "dataset"}


def test_module_prefixed_ids_and_register_envs():
    env = gym.make("srl_gym:srl/Hanoi-v0")
    assert isinstance(env.unwrapped, srl_gym.ReasoningEnv)
    gym.register_envs(srl_gym)


def test_every_task_documents_its_spec_and_levels():
    for entry in TASKS:
        cls = entry.load()
        assert cls.name == entry.name and cls.domain == entry.domain
        assert len(cls.levels) >= 3
        for heading in (
            "## Description",
            "## Action Space",
            "## Observation Space",
            "## Reward",
            "## Episode End",
            "## Arguments",
            "## Version History",
        ):
            assert heading in cls.__doc__, (entry.name, heading)


def test_envs_and_agents_are_not_top_level_packages():
    assert importlib.util.find_spec("srl_gym.envs.planning.hanoi") is not None
    assert importlib.util.find_spec("srl_gym.agents") is not None
    spec = importlib.util.find_spec("envs")
    assert spec is None or "srl_gym" not in str(spec.origin)


def test_make_task_and_bad_task_argument():
    task = srl_gym.make_task("Hanoi", difficulty=2)
    assert task.difficulty == 2
    with pytest.raises(ValueError, match="does not name a srl_gym.Task"):
        srl_gym.ReasoningEnv("srl_gym.rewards:step_similarity")
    with pytest.raises(TypeError, match="must be True or False"):
        gym.make("srl/Hanoi-v0", teacher_forcing="yes")
    with pytest.raises(ValueError, match="max_steps"):
        gym.make("srl/Hanoi-v0", max_steps=0)
