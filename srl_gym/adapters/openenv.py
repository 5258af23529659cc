"""Serve srl-gym envs as OpenEnv environment servers (``pip install "srl-gym[openenv]"``).

Start a server (one command; ``--port 0`` picks a free port and prints it)::

    srl-gym serve srl/Hanoi-v0 --port 8000

and play it with OpenEnv's own client, over its WebSocket session endpoint ``/ws`` (each
connection is one session with its own env; ``--max-sessions`` bounds how many at once)::

    from openenv import GenericEnvClient

    with GenericEnvClient(base_url="http://127.0.0.1:8000").sync() as env:
        result = env.reset(seed=0)  # also: split="test", difficulty=1, env_id="srl/Zebra-v0", ...
        print(result.observation["obs"])
        result = env.step({"step": "Move disk 1 from A to C"})
        print(result.reward, result.done, result.observation["info"])

- ``reset(**kwargs)``: ``seed``, ``env_id`` (any registered ``srl/`` id, default the served one)
  and the env options in `CLIENT_OPTIONS` (``split``, ``difficulty``, ``interface``, ``reward``,
  ...). Anything else, such as ``path`` or ``task``, is refused: a client never picks which
  files or code the server loads. Options the server was started with are the defaults.
- ``step({"step": ...})``: one step, a str (text interface) or an int (``interface="discrete"``).
- The observation (``result.observation``): ``obs`` (the env's observation, JSON: a str, or
  lists for the discrete interface), ``info`` (the step's info without the oracle's keys,
  `srl_gym.ORACLE_INFO_KEYS`), ``terminated`` and ``truncated``; ``result.reward`` is the env's
  reward for that step (``None`` at reset) and ``result.done`` is terminated or truncated. The
  trainer sees per-step rewards; their sum is the Gymnasium return (the expert's: 1.0 with the
  default SRL reward).
- Errors are the client's own: a malformed message, an unknown env id or option, a step before
  reset or after the episode's end come back as an error message (OpenEnv's client raises
  ``RuntimeError("Server error: ...")``) and the session goes on (a binary frame is read as
  UTF-8 text); under `serve`, a frame over `MAX_MESSAGE_BYTES` closes that connection. A
  session that disconnects, or whose client vanishes (WebSocket pings time out), is closed and
  its env freed. Other sessions never notice.
- OpenEnv's plain HTTP ``POST /reset`` and ``POST /step`` build a fresh env per request, so an
  episode cannot span them: ``/step`` answers HTTP 409 saying to use the ``/ws`` session.

In Python: `create_app` (an ASGI app built with OpenEnv's own ``create_app``, for uvicorn or any
ASGI server) or `serve`.
"""

from __future__ import annotations

import functools
import socket
import threading
import uuid
from typing import Any

from srl_gym.adapters import client_info, json_safe, make_env, require, resolve_env_id

require("openenv", "openenv.core", "uvicorn")

from fastapi import Request  # noqa: E402  (openenv-core depends on fastapi)
from fastapi.responses import JSONResponse  # noqa: E402
from openenv.core.env_server.http_server import create_app as openenv_create_app  # noqa: E402
from openenv.core.env_server.interfaces import Environment  # noqa: E402
from openenv.core.env_server.types import Action, Observation, State  # noqa: E402
from pydantic import Field, StrictInt, StrictStr  # noqa: E402
from starlette.websockets import WebSocketDisconnect  # noqa: E402

#: The env options a client may pass to ``reset`` (all of `srl_gym.ReasoningEnv`'s but ``task``,
#: ``render_mode`` and task options such as ``path``, which name files or code on the server).
CLIENT_OPTIONS = frozenset(
    {
        "split",
        "difficulty",
        "interface",
        "reward",
        "teacher_forcing",
        "similarity",
        "require_think",
        "max_steps",
        "solve_bonus",
        "invalid_penalty",
        "expert_noise",
    }
)
#: Largest WebSocket message the server reads (a step is at most 16,384 characters; 1 MiB leaves room).
MAX_MESSAGE_BYTES = 1 << 20
DEFAULT_MAX_SESSIONS = 64


class SRLAction(Action):
    """One reasoning step: text (the default interface) or a discrete action index."""

    step: StrictStr | StrictInt = Field(..., description="the step: a str, or an int for interface='discrete'")


class SRLObservation(Observation):
    """The env's observation and info after reset or a step (``reward`` and ``done`` are OpenEnv's own fields)."""

    obs: Any = Field(default=None, description="the env's observation (str, or nested lists for 'discrete')")
    info: dict[str, Any] = Field(default_factory=dict, description="the step's info, without the oracle's keys")
    terminated: bool = False
    truncated: bool = False


class _WebSocketGuard:
    """ASGI middleware around OpenEnv's WebSocket handler, for two of its rough edges.

    - A binary frame reaches the handler as text (bad UTF-8 replaced): the handler reads text
      frames only and ends the session on a binary one; decoded, it gets OpenEnv's own reply
      (``Invalid JSON``, or the message it holds) and the session goes on.
    - A client that vanished: the handler's last ``websocket.close()`` raises, which uvicorn
      logs as a server error with a traceback; the session is already freed, so it is dropped.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return await self.app(scope, receive, send)

        async def receive_text() -> dict:
            message = await receive()
            if message["type"] == "websocket.receive" and message.get("text") is None:
                message = {
                    "type": "websocket.receive",
                    "text": (message.get("bytes") or b"").decode("utf-8", "replace"),
                }
            return message

        try:
            await self.app(scope, receive_text, send)
        except WebSocketDisconnect:
            pass


class EpisodeNotStarted(RuntimeError):
    """A step with no episode running (before reset, or after the episode's end)."""


class SRLEnvironment(Environment):
    """One session's env: ``gym.make`` of an ``srl/`` id, rebuilt when a reset asks for other options."""

    SUPPORTS_CONCURRENT_SESSIONS = True  # each session (WebSocket connection) gets its own instance

    def __init__(self, env_id: str = "srl/Hanoi-v0", **options: Any) -> None:
        super().__init__()
        self.default_id, self.default_options = resolve_env_id(env_id), options
        self._env: Any = None
        self._key: tuple | None = None
        self._done = True
        self._state = State(episode_id=None, step_count=0)

    def reset(self, seed: int | None = None, episode_id: str | None = None, **kwargs: Any) -> SRLObservation:
        env_id = resolve_env_id(kwargs.pop("env_id", self.default_id))
        unknown = sorted(set(kwargs) - CLIENT_OPTIONS)
        if unknown:
            raise ValueError(f"unknown reset option(s) {unknown}; a client may set: {sorted(CLIENT_OPTIONS)}")
        options = {**self.default_options, **kwargs}
        key = (env_id, repr(sorted(options.items())))
        if key != self._key:  # a new env only when the id or the options change
            self.close()
            self._env, self._key = make_env(env_id, **options), key
        obs, info = self._env.reset(seed=seed)
        self._done = False
        self._state = State(episode_id=episode_id or str(uuid.uuid4()), step_count=0, env_id=env_id)
        return SRLObservation(obs=json_safe(obs), info=client_info(info), reward=None, done=False)

    def step(self, action: SRLAction, timeout_s: float | None = None, **kwargs: Any) -> SRLObservation:
        if self._done:
            raise EpisodeNotStarted(
                "no episode is running: send a reset first (a new one after each episode's end); "
                "over HTTP, note that OpenEnv's POST /reset and /step build a fresh env per request, "
                "so play episodes over the WebSocket session endpoint /ws (OpenEnv's EnvClient)"
            )
        obs, reward, terminated, truncated, info = self._env.step(action.step)
        self._done = bool(terminated or truncated)
        self._state.step_count += 1
        return SRLObservation(
            obs=json_safe(obs),
            info=client_info(info),
            terminated=bool(terminated),
            truncated=bool(truncated),
            reward=float(reward),
            done=self._done,
        )

    @property
    def state(self) -> State:
        return self._state

    def close(self) -> None:
        if self._env is not None:
            self._env.close()
            self._env, self._key, self._done = None, None, True


def create_app(env_id: str = "srl/Hanoi-v0", *, max_sessions: int = DEFAULT_MAX_SESSIONS, **options: Any):
    """An OpenEnv server app (FastAPI) for ``env_id``; ``options`` are every session's default env options."""
    env_id = resolve_env_id(env_id)
    SRLEnvironment(env_id, **options).close()  # refuse bad server options now, not at each session
    factory = functools.partial(SRLEnvironment, env_id, **options)
    app = openenv_create_app(factory, SRLAction, SRLObservation, env_name=env_id, max_concurrent_envs=max_sessions)

    app.add_middleware(_WebSocketGuard)

    @app.exception_handler(EpisodeNotStarted)
    async def _no_episode(request: Request, exc: EpisodeNotStarted) -> JSONResponse:
        return JSONResponse(status_code=409, content={"detail": str(exc)})

    return app


def serve(
    env_id: str = "srl/Hanoi-v0",
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    max_sessions: int = DEFAULT_MAX_SESSIONS,
    exit_after: float | None = None,
    announce: Any = None,
    **options: Any,
) -> None:
    """Run the server until interrupted (or for ``exit_after`` seconds); ``port=0`` picks a free port.

    ``announce(line)`` gets the line saying where it listens (default: print it).
    """
    import uvicorn

    app = create_app(env_id, max_sessions=max_sessions, **options)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    config = uvicorn.Config(app, log_level="warning", ws_max_size=MAX_MESSAGE_BYTES, ws_ping_interval=20)
    server = uvicorn.Server(config)
    if exit_after is not None:
        timer = threading.Timer(exit_after, lambda: setattr(server, "should_exit", True))
        timer.daemon = True
        timer.start()
    bound = sock.getsockname()[1]
    announce = announce or functools.partial(print, flush=True)
    announce(f"serving {resolve_env_id(env_id)} (OpenEnv) on http://{host}:{bound} (sessions: ws://{host}:{bound}/ws)")
    server.run(sockets=[sock])
