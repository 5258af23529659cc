"""`srl_gym.adapters.skyrl`: every srl/ id made through ``skyrl_gym.make``, played against a local gym env."""

from __future__ import annotations

import re
from pathlib import Path

import gymnasium as gym
import pytest

pytest.importorskip("skyrl_gym", reason="needs skyrl-gym: pip install 'srl-gym[skyrl]'")

import skyrl_gym  # noqa: E402

from srl_gym import ORACLE_INFO_KEYS  # noqa: E402
from srl_gym.adapters import client_info  # noqa: E402
from srl_gym.adapters.skyrl import SRLTextEnv, dataset_rows  # noqa: E402
from srl_gym.registration import TASKS  # noqa: E402

README = Path(__file__).resolve().parents[1] / "README.md"


def play_expert(row: dict, env_config=None) -> tuple[float, list[dict]]:
    env = skyrl_gym.make(row["env_class"], env_config=env_config, extras=row)
    assert isinstance(env, SRLTextEnv)
    local = gym.make(row["env_class"], **{**((env_config or {}).get("env_options") or {}), **row["env_options"]})
    obs, info = local.reset(seed=row["seed"])
    prompt, meta = env.init([{"role": "system", "content": "Solve it."}, *row["prompt"]])
    assert prompt == [{"role": "system", "content": "Solve it."}, {"role": "user", "content": obs}]
    assert meta == client_info(info) and not ORACLE_INFO_KEYS & meta.keys()
    total, metas, done = 0.0, [meta], False
    while not done:
        step = info["expert_step"]
        obs, reward, terminated, truncated, info = local.step(step)
        out = env.step(step)
        assert out["reward"] == reward == (1.0 if terminated else 0.0)
        assert out["done"] == (terminated or truncated) and out["metadata"] == client_info(info)
        assert out["observations"] == ([] if out["done"] else [{"role": "user", "content": obs}])
        total, done = total + out["reward"], out["done"]
        metas.append(out["metadata"])
    env.close()
    return total, metas


@pytest.mark.parametrize("env_id", [entry.env_id for entry in TASKS if entry.name != "Trajectories"])
def test_every_task_plays_to_the_expert_return(env_id):
    total, metas = play_expert(dataset_rows(env_id, [1])[0])
    assert total == 1.0 and metas[-1]["solved"] is True
    assert not any(ORACLE_INFO_KEYS & m.keys() for m in metas)


def test_seeds_options_and_the_test_split():
    rows = dataset_rows("Hanoi", range(3), split="test", difficulty=1)
    assert [r["env_class"] for r in rows] == ["srl/Hanoi-v0"] * 3 and rows[0]["env_options"]["split"] == "test"
    assert rows == dataset_rows("srl/Hanoi-v0", range(3), split="test", difficulty=1)
    expected = gym.make("srl/Hanoi-v0", split="test", difficulty=1).reset(seed=2)[0]
    assert rows[2]["prompt"] == [{"role": "user", "content": expected}]
    assert rows[2]["prompt"] != dataset_rows("srl/Hanoi-v0", [2], difficulty=1)[0]["prompt"]
    assert play_expert(rows[2])[0] == 1.0
    # the run's env_config gives defaults; a row's env_options win
    train_row = {**rows[2], "env_options": {}}
    env = skyrl_gym.make(
        "srl/Hanoi-v0", env_config={"env_options": {"split": "test", "difficulty": 1}}, extras=train_row
    )
    assert env.init([])[0][-1]["content"] == expected


def test_a_bad_step_gets_the_penalty():
    row = dataset_rows("srl/Hanoi-v0", [4])[0]
    env = skyrl_gym.make(row["env_class"], env_config=None, extras=row)
    env.init(row["prompt"])
    out = env.step("fly to the moon")
    sim = out["metadata"]["step_similarity"]
    assert out["metadata"]["valid"] is False and out["reward"] == pytest.approx(-1.0 - (1.0 - sim))
    assert not out["done"] and out["observations"][0]["content"] == row["prompt"][0]["content"]  # state unchanged


def test_discrete_infos_are_json_values():
    row = dataset_rows("srl/Hanoi-v0", [0], interface="discrete")[0]
    env = skyrl_gym.make(row["env_class"], env_config=None, extras=row)
    _, meta = env.init([])
    assert isinstance(meta["action_mask"], list) and "expert_action" not in meta


def test_a_row_needs_a_seed_and_an_srl_id():
    with pytest.raises(ValueError, match="needs a 'seed'"):
        skyrl_gym.make("srl/Hanoi-v0", env_config=None, extras={})
    with pytest.raises(ValueError, match="unknown task"):
        SRLTextEnv(extras={"seed": 0, "env_id": "CartPole-v1"})


def test_readme_example_runs():
    text = README.read_text()
    section = text[text.index("## Serving and other RL ecosystems") : text.index("## Training the baselines")]
    block = re.search(r"```python\n(import skyrl_gym.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(compile(block, "README", "exec"), namespace)
    assert namespace["out"]["reward"] <= 0.0 and len(namespace["rows"]) == 100
