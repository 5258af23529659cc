"""srl-gym envs as a verifiers (0.4, ``verifiers.v1``) environment (``pip install "srl-gym[verifiers]"``).

verifiers 0.4 finds a taskset by importing the module its id names (``--env.taskset.id``, or
the positional id of ``vf-eval``), and a dotted id cannot name a submodule, so srl-gym ships
the top-level module ``srl_gym_verifiers``: taskset id ``srl-gym-verifiers``. It exports
`SRLTaskset` (one task per seed), `SRLEnv` (the episode loop) and `SRLChatHarness` (the
player's default harness)::

    vf-eval srl-gym-verifiers --env.taskset.env-id srl/Hanoi-v0 --env.taskset.split test ...

or in Python, through verifiers' own loader::

    from verifiers.v1.utils.loaders import load_environment, resolve_env_config

    config = resolve_env_config({"taskset": {"id": "srl-gym-verifiers", "env_id": "srl/Hanoi-v0"}})
    env = load_environment(config)  # an SRLEnv; env.taskset yields the tasks
    task = next(iter(env.taskset))  # task.data.prompt is the problem's first observation

- A task is one problem: ``env_id``, ``seed`` and ``env_options`` (its prompt is the env's first
  observation). The taskset config picks them: ``env_id``, ``split``, ``difficulty``,
  ``env_options`` and ``start_seed`` (tasks are seeds ``start_seed``, ``start_seed + 1``, ...;
  the taskset is infinite, so select with ``--select.limit`` / ``take(n)``).
- `SRLEnv.run` plays one episode as a multi-turn exchange (the pattern of verifiers' own
  TextArena env): each model reply is one reasoning step, the env's next observation is the
  next user turn, and the episode's end (solved, a final answer, the step limit) ends the
  exchange. The trace's reward ``srl_return`` is the sum of the step rewards: the Gymnasium
  return (the expert's: 1.0 with the default SRL reward); a reply cut off by a verifiers limit
  ends the episode there. Metrics: ``solved``, ``steps``, ``invalid_steps``; ``trace.info``
  holds the last step's info without the oracle's keys.
- `SRLChatHarness` sends the conversation to the model and takes its reply, one chat call per
  turn, in-process (no tools, no program to launch; verifiers' harness contract allows an
  in-process loop whose model calls go through the interception endpoint). Pin another with
  ``--env.player.harness.id``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import Field

from srl_gym.adapters import MissingExtra, client_info, make_env, require, resolve_env_id

if sys.version_info < (3, 11):  # the extra installs nothing there
    raise MissingExtra("srl_gym.adapters.verifiers needs verifiers 0.4, which needs Python >= 3.11")
require("verifiers", "verifiers.v1")

import httpx  # noqa: E402  (a verifiers dependency)
import verifiers.v1 as vf  # noqa: E402
from verifiers.v1.dialects.chat import message_to_wire  # noqa: E402
from verifiers.v1.runtimes import ProgramResult  # noqa: E402

SYSTEM_PROMPT = (
    "Solve the problem one step at a time. Each reply is exactly one step, written in the format "
    "the problem asks for; you may think first inside <think>...</think>, then write the step after it."
)


class SRLData(vf.TaskData):
    """One problem: the env and options, and the seed that draws it."""

    env_id: str
    seed: int
    env_options: dict[str, Any] = Field(default_factory=dict)


class SRLTask(vf.Task[SRLData, vf.State, vf.TaskConfig]):
    pass


class SRLTasksetConfig(vf.TasksetConfig):
    env_id: str = "srl/Hanoi-v0"
    """A registered srl/ id (see `srl-gym list`)."""
    split: Literal["train", "test"] = "train"
    difficulty: int = 0
    env_options: dict[str, Any] = Field(default_factory=dict)
    """Other env options (``reward``, ``teacher_forcing``, ``max_steps``, ...)."""
    start_seed: int = 0


class SRLTaskset(vf.Taskset[SRLTask, SRLTasksetConfig]):
    INFINITE = True

    def load(self) -> Iterator[SRLTask]:
        config = self.config
        env_id = resolve_env_id(config.env_id)
        options = {**config.env_options, "split": config.split, "difficulty": config.difficulty}
        env = make_env(env_id, **options)
        seed = config.start_seed
        while True:
            obs, _ = env.reset(seed=seed)
            data = SRLData(
                name=f"{env_id}#{config.split}-{seed}",
                prompt=obs,
                system_prompt=SYSTEM_PROMPT,
                env_id=env_id,
                seed=seed,
                env_options=options,
            )
            yield SRLTask(data, config.task)
            seed += 1


class SRLEnvConfig(vf.EnvConfig):
    player: vf.AgentConfig = vf.AgentConfig(runtime=vf.SubprocessConfig())  # the harness runs in-process


class SRLEnv(vf.Env[SRLEnvConfig]):
    async def run(self, task: SRLTask, agents: vf.Agents) -> None:
        data = task.data
        env = make_env(data.env_id, **data.env_options)
        env.reset(seed=data.seed)
        total, steps, invalid, info = 0.0, 0, 0, {}
        async with agents.player.interaction(task) as interaction:
            segment = await interaction.turn()  # the prompt (the first observation) opens the exchange
            while not segment.terminated:
                obs, reward, terminated, truncated, info = env.step(segment.last_reply)
                total, steps, invalid = total + float(reward), steps + 1, invalid + (not info["valid"])
                if terminated or truncated:
                    break
                segment = await interaction.turn(obs)
        env.close()
        trace = interaction.trace
        trace.record_reward("srl_return", total)
        trace.record_metric("solved", float(bool(info.get("solved", False))))
        trace.record_metric("steps", float(steps))
        trace.record_metric("invalid_steps", float(invalid))
        trace.info["srl_info"] = client_info(info)


class SRLChatHarness(vf.Harness[vf.HarnessConfig]):
    """One chat completion per turn on the whole conversation, in-process, no tools."""

    APPENDS_SYSTEM_PROMPT = True
    SUPPORTS_RESUME = True  # each turn: the conversation so far, answered (the default resume)
    EXECUTES_CODE = False
    NEEDS_CONTAINER = False

    async def launch(self, ctx, trace, runtime, endpoint, secret, mcp_urls, data, **kwargs) -> ProgramResult:
        system_prompt, prompt = self.resolve_prompt(data)
        messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
        if isinstance(prompt, str):
            messages.append({"role": "user", "content": prompt})
        elif prompt is not None:
            messages += [message_to_wire(message) for message in prompt]
        async with httpx.AsyncClient(timeout=httpx.Timeout(None, connect=30.0)) as http:
            response = await http.post(
                f"{endpoint.rstrip('/')}/chat/completions",
                headers={"Authorization": f"Bearer {secret}"},
                json={"model": ctx.model, "messages": messages},
            )
        return ProgramResult(exit_code=0 if response.is_success else 1, stdout="", stderr=response.text[:2000])


__all__ = ["SRLChatHarness", "SRLEnv", "SRLTaskset"]
