"""What the discrete Stable-Baselines3 agents (`bc`, `ppo`) share: envs, the model class, evaluation, saving.

The discrete agents play a task through ``interface="discrete"``: a ``Box`` observation, a
``Discrete`` action and the legal moves in ``info["action_mask"]`` (and ``env.action_masks()``, MaskablePPO's).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th

import srl_gym  # noqa: F401  (registers the srl/ ids in this process and in SubprocVecEnv workers)
from srl_gym.evaluation import evaluate
from srl_gym.registration import task_entry
from srl_gym.runs import write_json_atomic

try:
    from sb3_contrib import MaskablePPO
except ImportError:  # only the default (masked) models need it; plain PPO still works
    MaskablePPO = None
from stable_baselines3 import PPO
from stable_baselines3.common.logger import Logger, configure

#: Large negative logit for illegal actions (finite, so an all-illegal row cannot give NaNs).
ILLEGAL_LOGIT = -1e8


def resolve_env_id(env_id: str, difficulty: int) -> str:
    """The registered id of ``env_id`` (``"Hanoi"`` -> ``"srl/Hanoi-v0"``), after checking ``difficulty``.

    Raises ValueError naming the flag to fix, so `parse_config` can report it.
    """
    try:
        entry = task_entry(env_id)
    except ValueError as exc:
        raise ValueError(f"--env-id: {exc} (see `srl-gym list`)") from None
    levels = entry.load().levels
    if isinstance(difficulty, bool) or not isinstance(difficulty, int) or not 0 <= difficulty < len(levels):
        raise ValueError(
            f"--difficulty must be one of 0..{len(levels) - 1} for {entry.env_id}, got {difficulty!r} "
            f"(see `srl-gym list -v`)"
        )
    return entry.env_id


def model_class(masked: bool) -> type:
    """`MaskablePPO` (sb3-contrib) when ``masked``, else SB3's `PPO`."""
    if not masked:
        return PPO
    if MaskablePPO is None:
        raise ImportError(
            "masked agents need sb3-contrib: pip install 'sb3-contrib>=2.3' (or pass --masked false for plain PPO)"
        )
    return MaskablePPO


def make_env(
    env_id: str, difficulty: int, reward: str = "srl", split: str = "train", masked: bool = True, **options: Any
) -> gym.Env:
    """One discrete env (``options`` go to ``gym.make``, e.g. ``similarity="exact"``).

    MaskablePPO reads the mask from the env's own ``action_masks()``, through any wrapper, so ``masked``
    needs no wrapper; it only checks that sb3-contrib is there.
    """
    if masked:
        model_class(True)
    return gym.make(env_id, interface="discrete", difficulty=difficulty, reward=reward, split=split, **options)


def masked_logits(policy: Any, observations: np.ndarray | th.Tensor, masks: np.ndarray | th.Tensor) -> th.Tensor:
    """The policy's action logits with illegal actions pushed to `ILLEGAL_LOGIT`.

    Works for SB3's ``ActorCriticPolicy`` and sb3-contrib's ``MaskableActorCriticPolicy`` alike;
    gradients flow (behaviour cloning trains on it).
    """
    if not isinstance(observations, th.Tensor):
        observations, _ = policy.obs_to_tensor(observations)
    masks = th.as_tensor(masks, device=observations.device).bool()
    logits = policy.get_distribution(observations).distribution.logits
    return logits.masked_fill(~masks, ILLEGAL_LOGIT)


class SB3Agent:
    """A trained SB3 model as a `srl_gym.evaluation.Agent`: the policy's best legal action.

    For a `MaskablePPO` model this is ``model.predict(obs, action_masks=mask, deterministic=True)``;
    a plain `PPO` model gets the same masking. ``act_batch`` lets `evaluate` step many episodes
    with one forward pass.
    """

    def __init__(self, model: Any, deterministic: bool = True) -> None:
        self.model = model
        self.deterministic = deterministic

    def act(self, observation: np.ndarray, info: dict[str, Any]) -> int:
        return self.act_batch([observation], [info])[0]

    def act_batch(self, observations: Sequence[np.ndarray], infos: Sequence[dict[str, Any]]) -> list[int]:
        if any("action_mask" not in info for info in infos):
            raise ValueError("SB3Agent plays the discrete interface: make the env with interface='discrete'")
        masks = np.stack([info["action_mask"] for info in infos])
        with th.no_grad():
            logits = masked_logits(self.model.policy, np.stack(observations), masks)
            if self.deterministic:
                actions = logits.argmax(dim=1)
            else:
                actions = th.distributions.Categorical(logits=logits).sample()
        return [int(a) for a in actions]


def evaluate_model(
    model: Any, env_id: str, difficulty: int, episodes: int, seed: int, reward: str = "srl", **options: Any
) -> dict:
    """Greedy evaluation on the TEST split with `srl_gym.evaluation.evaluate`, as ``eval/...`` metrics."""
    result = evaluate(
        SB3Agent(model),
        env_id,
        episodes=episodes,
        seed=seed,
        difficulty=difficulty,
        interface="discrete",
        split="test",
        reward=reward,
        **options,
    )
    return {
        "eval/greedy_success": result.success_rate,
        "eval/greedy_success_ci95_low": result.success_ci95[0],
        "eval/greedy_success_ci95_high": result.success_ci95[1],
        "eval/step_similarity": result.mean_step_similarity,
        "eval/mean_length": result.mean_length,
        "eval/mean_return": result.mean_return,
        "eval/valid_fraction": result.valid_fraction,
        "eval/episodes": len(result.episodes),
    }


def make_logger(run_dir: Path, verbose: bool, tensorboard: bool) -> Logger:
    """SB3's logger writing ``progress.json`` and ``progress.csv`` (plus TensorBoard when installed) to ``run_dir``."""
    formats = ["json", "csv"]
    if verbose:
        formats.append("stdout")
    if tensorboard and find_spec("tensorboard") is not None:
        formats.append("tensorboard")
    return configure(str(run_dir), formats)


def save_model_atomically(model: Any, path: Path) -> Path:
    """``model.save`` to a temp file beside ``path``, then rename it over ``path``: never a half-written zip."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            model.save(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json_atomically(data: dict, path: Path) -> None:
    """Write ``data`` as indented JSON to ``path`` via a temp file and a rename (`srl_gym.runs.write_json_atomic`)."""
    write_json_atomic(path, data)


def cell_options(cell: Any) -> dict[str, Any]:
    """Options every discrete algorithm's comparison cell shares (`srl_gym.algorithms.Cell`)."""
    return {
        "env_id": cell.task,
        "difficulty": cell.config.train_difficulty,
        "seed": cell.seed,
        "eval_episodes": 1,  # the comparison evaluates the saved checkpoints itself
        "out_dir": str(cell.run_dir),
        "tensorboard": False,
    }
