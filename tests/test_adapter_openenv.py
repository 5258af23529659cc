"""`srl_gym.adapters.openenv`: a real ``srl-gym serve`` process on 127.0.0.1, played with OpenEnv's own client.

Every episode is replayed on a local ``gym.make`` env with the same seed and options: the server's
observations, rewards and infos must be that env's (its info through `client_info`), so the
expert earns the local return (1.0) and a junk step the local penalty. Bad clients (junk, binary
and oversized frames, unknown ids and options, steps before reset, clients that vanish) get an
error or a closed connection while a session opened before them plays on undisturbed, and every
session slot comes back (the server runs with a small ``--max-sessions``, so a leaked session
would make the last test fail). The server stops by itself (``--exit-after``) if the test dies.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import gymnasium as gym
import pytest

pytest.importorskip("openenv.core", reason="needs openenv-core: pip install 'srl-gym[openenv]'")

from openenv import GenericEnvClient  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

import srl_gym  # noqa: E402,F401
from srl_gym import ORACLE_INFO_KEYS  # noqa: E402
from srl_gym.adapters import client_info, json_safe  # noqa: E402
from srl_gym.cli import main  # noqa: E402

ENV_ID = "srl/Hanoi-v0"
MAX_SESSIONS = 6
README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``python -m srl_gym serve`` on a free port; yields its base URL. Its output goes to a file (no pipe to fill)."""
    log = tmp_path_factory.mktemp("server") / "server.log"
    cmd = [sys.executable, "-m", "srl_gym", "serve", ENV_ID, "--port", "0", "--max-sessions", str(MAX_SESSIONS)]
    with open(log, "w") as out:
        proc = subprocess.Popen([*cmd, "--exit-after", "300"], stdout=out, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (match := re.search(r"http://127\.0\.0\.1:(\d+)", log.read_text())):
            assert proc.poll() is None and time.monotonic() < deadline, f"the server did not start: {log.read_text()}"
            time.sleep(0.1)
        url = f"http://127.0.0.1:{match.group(1)}"
        _wait_healthy(url)
        yield url
        assert proc.poll() is None, f"the server died during the tests: {log.read_text()}"
        assert "Traceback" not in log.read_text(), log.read_text()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _wait_healthy(url: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.1)


def client(url: str):
    return GenericEnvClient(base_url=url, message_timeout_s=30).sync()


def play_expert(env, seed: int, **options) -> float:
    """One episode on the server with the expert's steps, checked step by step against a local env."""
    local = gym.make(ENV_ID, **options)
    obs, info = local.reset(seed=seed)
    result = env.reset(seed=seed, **options)
    assert result.observation == {
        "obs": json_safe(obs),
        "info": client_info(info),
        "terminated": False,
        "truncated": False,
    }
    assert result.reward is None and not result.done
    total = 0.0
    while not result.done:
        action = info["expert_action"] if options.get("interface") == "discrete" else info["expert_step"]
        obs, reward, terminated, truncated, info = local.step(action)
        result = env.step({"step": action})
        assert result.reward == reward == (1.0 if terminated else 0.0)  # the expert: 0 per step, then the bonus
        assert result.observation == {
            "obs": json_safe(obs),
            "info": client_info(info),
            "terminated": terminated,
            "truncated": truncated,
        }
        assert result.done == (terminated or truncated)
        total += result.reward
    return total


def test_the_expert_earns_the_maximum_return(server):
    with client(server) as env:
        for seed in (0, 1):
            assert play_expert(env, seed) == 1.0
        assert play_expert(env, 2, interface="discrete") == 1.0
        with pytest.raises(RuntimeError, match="no episode is running"):  # a step after the episode's end
            env.step({"step": 0})
        assert play_expert(env, 3) == 1.0  # the session goes on


def test_seeds_are_reproducible_and_the_test_split_is_reachable(server):
    with client(server) as env:
        train = [env.reset(seed=s).observation["obs"] for s in range(4)]
        assert train == [env.reset(seed=s).observation["obs"] for s in range(4)]
        test = [env.reset(seed=s, split="test").observation["obs"] for s in range(4)]
        for seed, text in enumerate(test):
            assert text == gym.make(ENV_ID, split="test").reset(seed=seed)[0]
        assert test != train
        assert play_expert(env, 0, split="test", difficulty=1) == 1.0


def test_a_bad_step_gets_the_penalty(server):
    local = gym.make(ENV_ID)
    local.reset(seed=5)
    _, reward, *_, info = local.step("fly to the moon")
    assert not info["valid"] and reward == pytest.approx(-1.0 - (1.0 - info["step_similarity"]))
    with client(server) as env:
        env.reset(seed=5)
        result = env.step({"step": "fly to the moon"})
    assert result.reward == reward and result.observation["info"] == client_info(info)


def test_nothing_the_client_receives_holds_the_oracle(server):
    """The raw messages of whole expert episodes (both interfaces) hold no oracle key, nor the next expert step."""
    ws_url = server.replace("http", "ws") + "/ws"
    for options in ({}, {"interface": "discrete"}):
        local = gym.make(ENV_ID, **options)
        _, info = local.reset(seed=7)
        with connect(ws_url) as ws:
            ws.send(json.dumps({"type": "reset", "data": {"seed": 7, **options}}))
            raw = ws.recv(timeout=30)
            done = False
            while not done:
                for key in ORACLE_INFO_KEYS:
                    assert key not in raw
                assert info["expert_step"] not in raw.split("Steps so far")[-1].split("Current state")[0]
                action = info["expert_action"] if options else info["expert_step"]
                *_, terminated, truncated, info = local.step(action)
                ws.send(json.dumps({"type": "step", "data": {"step": action}}))
                raw = ws.recv(timeout=30)
                done = json.loads(raw)["data"]["done"]
            assert done == (terminated or truncated)


def test_concurrent_sessions_each_play_their_own_env(server):
    barrier = threading.Barrier(MAX_SESSIONS)

    def session(seed: int) -> list[float]:
        with client(server) as env:
            barrier.wait(timeout=60)  # all sessions open at once
            return [play_expert(env, seed), play_expert(env, seed + 100, split="test")]

    with ThreadPoolExecutor(MAX_SESSIONS) as pool:
        returns = list(pool.map(session, range(MAX_SESSIONS)))
    assert returns == [[1.0, 1.0]] * MAX_SESSIONS


def _error(ws, message) -> str:
    ws.send(message)
    reply = json.loads(ws.recv(timeout=30))
    assert reply["type"] == "error", reply
    return reply["data"]["message"]


def test_bad_clients_get_errors_and_harm_no_other_session(server):
    ws_url = server.replace("http", "ws") + "/ws"
    local = gym.make(ENV_ID)
    _, info = local.reset(seed=11)
    with client(server) as bystander:
        bystander.reset(seed=11)  # mid-episode while the others misbehave
        first = info["expert_step"]
        local.step(first)
        bystander.step({"step": first})

        with connect(ws_url) as ws:  # junk, all on one session that survives it
            assert "Invalid JSON" in _error(ws, "{not json")
            assert "Unknown message type" in _error(ws, json.dumps({"type": "explode"}))
            assert "no episode is running" in _error(ws, json.dumps({"type": "step", "data": {"step": "x"}}))
            assert "unknown task" in _error(ws, json.dumps({"type": "reset", "data": {"env_id": "srl/Nope-v0"}}))
            assert "unknown reset option" in _error(ws, json.dumps({"type": "reset", "data": {"path": "/etc/passwd"}}))
            assert "split must be one of" in _error(ws, json.dumps({"type": "reset", "data": {"split": "dev"}}))
            ws.send(json.dumps({"type": "reset", "data": {"seed": 1}}))
            assert json.loads(ws.recv(timeout=30))["type"] == "observation"
            assert "Invalid message" in _error(ws, json.dumps({"type": "step", "data": {"step": 1.5}}))
            ws.send(json.dumps({"type": "step", "data": {"step": "x" * 300_000}}))  # huge but within the frame limit
            reply = json.loads(ws.recv(timeout=30))["data"]
            assert reply["reward"] == pytest.approx(-2.0) and reply["observation"]["info"]["valid"] is False

        with connect(ws_url) as ws:  # binary frames are read as UTF-8 text
            assert "Invalid JSON" in _error(ws, b"\x00\xff" * 10)
            ws.send(json.dumps({"type": "reset", "data": {"seed": 1}}).encode())
            assert json.loads(ws.recv(timeout=30))["type"] == "observation"
        with connect(ws_url, max_size=None) as ws:  # a frame over the limit: the connection closes
            ws.send("y" * (2 << 20))
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=30)
        for _ in range(2 * MAX_SESSIONS):  # clients that vanish mid-episode, no close handshake
            with connect(ws_url) as ws:
                ws.send(json.dumps({"type": "reset", "data": {"seed": 3}}))
                ws.recv(timeout=30)
                ws.socket.shutdown(socket.SHUT_RDWR)

        done = False  # the bystander finishes its episode as if nothing happened
        while not done:
            step = info["expert_step"]
            _, reward, terminated, truncated, info = local.step(step)
            result = bystander.step({"step": step})
            assert result.reward == reward and result.observation["info"] == client_info(info)
            done = result.done
        assert terminated and reward == 1.0

    _all_slots_come_back(ws_url)


def _all_slots_come_back(ws_url: str, seconds: float = 20.0) -> None:
    """``MAX_SESSIONS`` sessions open and reset at once, and one more is refused: no session leaked."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with contextlib.ExitStack() as stack:
                for _ in range(MAX_SESSIONS):
                    ws = stack.enter_context(connect(ws_url))
                    ws.send(json.dumps({"type": "reset", "data": {"seed": 0}}))
                    reply = json.loads(ws.recv(timeout=30))
                    assert reply["type"] == "observation", reply  # a leaked session would leave a slot taken
                reply = json.loads(stack.enter_context(connect(ws_url)).recv(timeout=30))
                assert reply["data"]["code"] == "CAPACITY_REACHED", reply
            return
        except (AssertionError, ConnectionClosed):
            if time.monotonic() > deadline:  # closing a vanished session takes a moment; not this long
                raise
            time.sleep(0.5)


def test_http_step_says_to_use_the_websocket_session(server):
    request = urllib.request.Request(
        f"{server}/step",
        data=json.dumps({"action": {"step": "x"}}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)
    assert caught.value.code == 409 and "/ws" in json.loads(caught.value.read())["detail"]
    request = urllib.request.Request(f"{server}/step", data=b"garbage", method="POST")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)
    assert caught.value.code == 422


def test_readme_example_runs(server):
    """The README's OpenEnv client block, as printed but for the port."""
    text = README.read_text()
    section = text[text.index("## Serving and other RL ecosystems") : text.index("## Training the baselines")]
    block = re.search(r"```python\n(from openenv import GenericEnvClient.*?)```", section, re.S).group(1)
    assert "http://127.0.0.1:8000" in block
    out = io.StringIO()
    exec(
        compile(block.replace("http://127.0.0.1:8000", server), "README", "exec"),
        {"print": lambda *a: print(*a, file=out)},
    )
    assert "Tower of Hanoi" in out.getvalue()


def test_serve_refuses_an_unknown_id(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["serve", "srl/Nope-v0", "--port", "0", "--exit-after", "1"])
    assert caught.value.code == 2 and "unknown task 'srl/Nope-v0'" in capsys.readouterr().err
