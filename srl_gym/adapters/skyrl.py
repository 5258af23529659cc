"""srl-gym envs as SkyRL-gym text envs (``pip install "srl-gym[skyrl]"``).

Importing this module registers every ``srl/`` id with ``skyrl_gym.register`` (the way SkyRL
registers its own envs), its entry point `SRLTextEnv`; a SkyRL dataset row names it as its
``env_class`` and carries the problem's ``seed`` (and optional ``env_options``) as extras, which
`dataset_rows` writes for you::

    import skyrl_gym
    from srl_gym.adapters.skyrl import dataset_rows

    rows = dataset_rows("srl/Hanoi-v0", seeds=range(100), split="train")  # prompt, env_class, seed, env_options
    env = skyrl_gym.make(rows[0]["env_class"], env_config=None, extras=rows[0])
    prompt, _ = env.init(rows[0]["prompt"])
    out = env.step("Move disk 1 from A to C")  # observations, reward, done, metadata

- `SRLTextEnv.init` resets the env with the row's seed and returns its first observation as the
  user message (system messages of the given prompt kept); each ``step(text)`` plays one
  reasoning step and returns the next observation as a user message (none once done), the
  step's reward, ``done`` (terminated or truncated) and the step's info without the oracle's
  keys as ``metadata``. ``max_turns`` is the env's step limit.
- Rewards are per step (turn-level): SkyRL's generator keeps each turn's reward, so a trainer
  may use them per turn or summed; the sum is the Gymnasium return (the expert's: 1.0 with the
  default SRL reward).
- Env options (``split``, ``difficulty``, ``reward``, ...): ``env_config["env_options"]`` for
  every env of a run, a row's ``env_options`` per problem (the row's win).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from srl_gym.adapters import client_info, make_env, require, resolve_env_id
from srl_gym.registration import TASKS

require("skyrl", "skyrl_gym")

import skyrl_gym  # noqa: E402
from skyrl_gym.envs.base_text_env import BaseTextEnv, BaseTextEnvStepOutput  # noqa: E402


class SRLTextEnv(BaseTextEnv):
    """One ``srl/`` env as a SkyRL ``BaseTextEnv``: one reasoning step per turn."""

    def __init__(self, env_config: Mapping | None = None, extras: Mapping | None = None, env_id: str = "") -> None:
        super().__init__()
        extras = dict(extras or {})
        self.env_id = resolve_env_id(extras.get("env_id") or env_id)
        if "seed" not in extras:
            raise ValueError(f"{self.env_id}: the dataset row needs a 'seed' (the problem's), e.g. from dataset_rows")
        self.seed = int(extras["seed"])
        self.options = {**dict((env_config or {}).get("env_options") or {}), **dict(extras.get("env_options") or {})}
        self.env = make_env(self.env_id, **self.options)

    def init(self, prompt: list[dict[str, str]]) -> tuple[list[dict[str, str]], dict[str, Any]]:
        obs, info = self.env.reset(seed=self.seed)
        self.turns, self.max_turns = 0, self.env.unwrapped.max_steps
        system = [m for m in prompt or [] if m.get("role") == "system"]
        return [*system, {"role": "user", "content": obs}], client_info(info)

    def step(self, action: str) -> BaseTextEnvStepOutput:
        self.turns += 1
        obs, reward, terminated, truncated, info = self.env.step(action)
        done = bool(terminated or truncated)
        return BaseTextEnvStepOutput(
            observations=[] if done else [{"role": "user", "content": obs}],
            reward=float(reward),
            done=done,
            metadata=client_info(info),
        )

    def close(self) -> None:
        self.env.close()


def dataset_rows(env_id: str, seeds: Iterable[int], **env_options: Any) -> list[dict[str, Any]]:
    """SkyRL dataset rows, one per seed: ``prompt`` (the first observation), ``env_class``, ``seed``, options."""
    env_id = resolve_env_id(env_id)
    env = make_env(env_id, **env_options)
    rows = []
    for seed in seeds:
        obs, _ = env.reset(seed=int(seed))
        prompt = [{"role": "user", "content": obs}]
        rows.append({"prompt": prompt, "env_class": env_id, "seed": int(seed), "env_options": dict(env_options)})
    env.close()
    return rows


def register_all() -> None:
    """Register every ``srl/`` id with SkyRL-gym (idempotent; importing this module calls it)."""
    for entry in TASKS:
        if entry.env_id not in skyrl_gym.registry:
            skyrl_gym.register(id=entry.env_id, entry_point=f"{__name__}:SRLTextEnv", kwargs={"env_id": entry.env_id})


register_all()
