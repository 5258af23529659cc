"""srl-gym envs in the LLM-RL environment ecosystems, one small module per ecosystem.

- `srl_gym.adapters.openenv`: serve any ``srl/`` env as an OpenEnv environment server
  (``srl-gym serve srl/Hanoi-v0``), played with OpenEnv's own clients; ``pip install "srl-gym[openenv]"``.
- `srl_gym.adapters.verifiers`: a verifiers (``verifiers.v1``) taskset and env, one multi-turn
  episode per problem; ``pip install "srl-gym[verifiers]"``.
- `srl_gym.adapters.skyrl`: a SkyRL-gym ``BaseTextEnv`` over any ``srl/`` id, registered with
  ``skyrl_gym.register``; ``pip install "srl-gym[skyrl]"``.

What every adapter shares lives here: the env it plays is ``gym.make`` of a registered ``srl/``
id (any other id is refused), and whatever reaches the agent's side passes through `client_info`:
no oracle key (`srl_gym.ORACLE_INFO_KEYS`), and only JSON values (numpy arrays become lists,
Fractions and other objects their ``str``).
"""

from __future__ import annotations

import importlib
from fractions import Fraction
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.error import DependencyNotInstalled

import srl_gym  # noqa: F401  (registers the srl/ ids)
from srl_gym.env import agent_info
from srl_gym.registration import task_entry


class MissingExtra(DependencyNotInstalled, ImportError):
    """An adapter's optional dependency is not installed (Gymnasium's `DependencyNotInstalled`, also an ImportError)."""


def require(extra: str, *modules: str) -> None:
    """Import ``modules`` or raise `MissingExtra` naming ``pip install "srl-gym[EXTRA]"``."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise MissingExtra(
                f'srl_gym.adapters.{extra} needs {name!r}, which is not installed: pip install "srl-gym[{extra}]"'
            ) from exc


def resolve_env_id(env_id: str) -> str:
    """The registered id of ``env_id`` (``"srl/Hanoi-v0"`` or ``"Hanoi"``); a ValueError naming the ids if unknown."""
    if not isinstance(env_id, str):
        raise ValueError(f"env_id must be a string such as 'srl/Hanoi-v0', got {type(env_id).__name__}")
    return task_entry(env_id).env_id


def make_env(env_id: str, **options: Any) -> gym.Env:
    """``gym.make`` of a registered ``srl/`` env with its options (``split``, ``difficulty``, ...)."""
    return gym.make(resolve_env_id(env_id), **options)


def json_safe(value: Any) -> Any:
    """``value`` as plain JSON values: arrays and numpy scalars as lists and numbers, Fractions and the rest as str."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, Fraction):
        return str(value)
    return str(value)


def client_info(info: dict[str, Any]) -> dict[str, Any]:
    """What an adapter's client may see of a step's ``info``: `agent_info` (no oracle key), JSON-safe."""
    return json_safe(agent_info(info))
