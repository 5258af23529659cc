"""`srl_gym.adapters.verifiers` (verifiers 0.4, ``verifiers.v1``), through verifiers' own loader and ``vf-eval``.

The model is a scripted OpenAI-compatible server on 127.0.0.1 (it stops by itself): model
"expert" answers each observation with the expert's step (a table made by playing local envs),
model "junk" always with a step no task accepts. Episodes run through verifiers' real
machinery (its interception server, rollouts, traces), in-process and as a ``vf-eval``
subprocess, and each return is checked against a local env playing the same steps.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import gymnasium as gym
import pytest

pytest.importorskip("verifiers.v1", reason="needs verifiers 0.4: pip install 'srl-gym[verifiers]'")

from verifiers.v1.clients import ModelContext  # noqa: E402
from verifiers.v1.configs.client import EvalClientConfig  # noqa: E402
from verifiers.v1.utils.loaders import load_environment, resolve_env_config  # noqa: E402

from srl_gym import ORACLE_INFO_KEYS  # noqa: E402
from srl_gym.adapters.verifiers import SRLChatHarness, SRLEnv, SRLTaskset  # noqa: E402

ENV_ID = "srl/Hanoi-v0"
JUNK = "fly to the moon"
README = Path(__file__).resolve().parents[1] / "README.md"


def expert_table(seeds, **options) -> dict[str, str]:
    """Each observation of the expert's episodes -> the expert's step from it."""
    table, env = {}, gym.make(ENV_ID, **options)
    for seed in seeds:
        obs, info = env.reset(seed=seed)
        done = False
        while not done:
            table[obs] = info["expert_step"]
            obs, _, terminated, truncated, info = env.step(info["expert_step"])
            done = terminated or truncated
    return table


@pytest.fixture(scope="module")
def model():
    """A scripted chat-completions server; yields (base_url, requests seen)."""
    table = {**expert_table(range(4), difficulty=1), **expert_table(range(4), split="test", difficulty=1)}
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append(body)
            last = body["messages"][-1]["content"]
            reply = table.get(last, JUNK) if body["model"] == "expert" else JUNK
            data = json.dumps(
                {
                    "id": "scripted",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body["model"],
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}
                    ],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.timeout = 0.2
    stop, deadline = threading.Event(), time.monotonic() + 600

    def loop():  # bounded: ends with the tests, or after 10 minutes whatever happens
        while not stop.is_set() and time.monotonic() < deadline:
            server.handle_request()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1", seen
    stop.set()
    thread.join(timeout=5)
    server.server_close()


def load(**taskset):
    return load_environment(resolve_env_config({"taskset": {"id": "srl-gym-verifiers", **taskset}}))


def run_episodes(env, tasks, base_url: str, model_name: str, monkeypatch) -> list:
    monkeypatch.setenv("SRL_GYM_TEST_KEY", "unused")
    ctx = ModelContext(model=model_name, client=EvalClientConfig(base_url=base_url, api_key_var="SRL_GYM_TEST_KEY"))

    async def main():
        async with env.serving():
            return [await env.run_episode(task, ctx) for task in tasks]

    return asyncio.run(main())


def test_verifiers_loader_finds_the_taskset_env_and_harness():
    env = load(env_id="Hanoi", split="test", difficulty=1, start_seed=5)
    assert isinstance(env, SRLEnv) and isinstance(env.taskset, SRLTaskset)
    assert isinstance(env._harnesses["player"], SRLChatHarness)  # the taskset module's harness is the default
    tasks = list(env.taskset.take(3))
    local = gym.make(ENV_ID, split="test", difficulty=1)
    assert [t.data.seed for t in tasks] == [5, 6, 7] and tasks[0].data.env_id == ENV_ID
    assert [t.data.prompt for t in tasks] == [local.reset(seed=s)[0] for s in (5, 6, 7)]
    assert [t.data.prompt for t in load(env_id="Hanoi", split="test", difficulty=1, start_seed=5).taskset.take(3)] == [
        t.data.prompt for t in tasks
    ]
    train = [t.data.prompt for t in load(env_id="Hanoi", difficulty=1, start_seed=5).taskset.take(3)]
    assert train != [t.data.prompt for t in tasks]
    with pytest.raises(ValueError, match="unknown task"):
        next(iter(load(env_id="CartPole-v1").taskset))


def test_the_expert_earns_the_maximum_return(model, monkeypatch):
    base_url, seen = model
    env = load(env_id=ENV_ID, difficulty=1)
    tasks = list(env.taskset.take(3))
    before = len(seen)
    episodes = run_episodes(env, tasks, base_url, "expert", monkeypatch)
    for episode in episodes:
        assert episode.ok, episode.errors
        (trace,) = episode.traces
        assert trace.rewards["srl_return"].score == 1.0 and trace.metrics["solved"] == 1.0
        assert trace.metrics["invalid_steps"] == 0.0 and not ORACLE_INFO_KEYS & trace.info["srl_info"].keys()
    assert len(seen) - before == sum(int(e.traces[0].metrics["steps"]) for e in episodes)  # one model call per step
    assert all(key not in json.dumps(body) for body in seen for key in ORACLE_INFO_KEYS)


def test_junk_steps_get_the_penalty_until_the_step_limit(model, monkeypatch):
    env = load(env_id=ENV_ID, split="test")
    (task,) = env.taskset.take(1)
    (episode,) = run_episodes(env, [task], model[0], "junk", monkeypatch)
    local = gym.make(ENV_ID, split="test")
    local.reset(seed=task.data.seed)
    rewards, done = [], False
    while not done:
        _, reward, terminated, truncated, info = local.step(JUNK)
        assert reward == pytest.approx(-1.0 - (1.0 - info["step_similarity"]))
        rewards.append(reward)
        done = terminated or truncated
    trace = episode.traces[0]
    assert trace.rewards["srl_return"].score == pytest.approx(sum(rewards))
    assert trace.metrics["steps"] == trace.metrics["invalid_steps"] == len(rewards) == local.unwrapped.max_steps


def test_vf_eval_runs_the_test_split(model, tmp_path):
    """verifiers' own evaluation entry point (``vf-eval``), as a user runs it."""
    vf_eval = Path(sys.executable).with_name("vf-eval")
    if not vf_eval.exists():
        pytest.skip("no vf-eval script beside this Python")
    cmd = [str(vf_eval), "srl-gym-verifiers", "-m", "expert", "--client.base-url", model[0]]
    cmd += ["--client.api-key-var", "SRL_GYM_TEST_KEY", "--no-push", "--env.taskset.split", "test"]
    cmd += ["--env.taskset.difficulty", "1", "-n", "3", "-o", str(tmp_path)]
    env = {**os.environ, "SRL_GYM_TEST_KEY": "unused"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (traces,) = tmp_path.glob("*/traces.jsonl")
    episodes = [json.loads(line) for line in traces.read_text().splitlines()]
    assert sorted(e["task"]["data"]["seed"] for e in episodes) == [0, 1, 2]
    assert {e["task"]["data"]["env_options"]["split"] for e in episodes} == {"test"}
    assert [e["traces"][0]["rewards"]["srl_return"]["score"] for e in episodes] == [1.0] * 3
    assert not any(f'"{key}"' in traces.read_text() for key in ORACLE_INFO_KEYS)


def test_readme_example_runs():
    text = README.read_text()
    section = text[text.index("## Serving and other RL ecosystems") : text.index("## Training the baselines")]
    block = re.search(r"```python\n(from verifiers.v1.utils.loaders.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(compile(block, "README", "exec"), namespace)
    assert isinstance(namespace["env"], SRLEnv) and namespace["task"].data.seed == 0
