"""`LMAgent`: a causal language model as an srl-gym agent, and held-out evaluations for trainers.

`LMAgent` plays the env step by step: each call writes ``<think>...</think> step`` for every
observation of a batch (one ``generate`` call, left padding), which `srl_gym.evaluate` steps in
lockstep. `evaluate_solutions` instead asks for the whole solution at once and checks it with the
task's verifier (the RLVR setting); `evaluate_steps` scores one step per held-out instance
against the expert's step (the SRL setting, teacher-forced).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from srl_gym.rewards import split_think, srl_reward, step_similarity

from srl_gym.episodes import SolutionExample, StepInstance, verify_solution
from srl_gym.prompts import render_prompt
from .rollout import generate


class LMAgent:
    """A language model that writes the next step of a text env (``act`` / ``act_batch``).

    Args:
        model, tokenizer: e.g. from `srl_gym.agents.models.load_model`.
        temperature: 0 (default) decodes greedily; > 0 samples.
        max_new_tokens: the longest completion (monologue and step).
        batch_size: prompts per ``generate`` call.
        max_length: the longest prompt + completion (default: the model's context).

    Example::

        model, tokenizer = load_model("runs/sft/checkpoints/update-0000100/model")
        result = srl_gym.evaluate(LMAgent(model, tokenizer), "srl/Hanoi-v0", episodes=50, split="test")
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        temperature: float = 0.0,
        max_new_tokens: int = 64,
        batch_size: int = 64,
        max_length: int | None = None,
    ) -> None:
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        self.model, self.tokenizer = model, tokenizer
        self.temperature, self.max_new_tokens = temperature, max_new_tokens
        self.batch_size, self.max_length = batch_size, max_length

    def act(self, observation: str, info: dict[str, Any]) -> str:
        return self.act_batch([observation], [info])[0]

    def act_batch(self, observations: Sequence[str], infos: Sequence[dict[str, Any]]) -> list[str]:
        """The completion for each observation (the env reads the step after ``</think>``)."""
        return self.complete(observations, mode="step")

    def complete(self, observations: Sequence[str], mode: str = "step") -> list[str]:
        """Completions for observations with the ``"step"`` or ``"solution"`` instruction."""
        prompts = [render_prompt(self.tokenizer, o, mode) for o in observations]
        rollouts = generate(
            self.model,
            self.tokenizer,
            prompts,
            max_new_tokens=self.max_new_tokens,
            temperature=self.temperature,
            max_length=self.max_length,
            batch_size=self.batch_size,
        )
        return rollouts.texts


def evaluate_solutions(agent: LMAgent, examples: Sequence[SolutionExample]) -> dict[str, float]:
    """Whole-solution success: the agent writes each problem's solution at once; the task verifies it.

    Returns ``success_rate`` and ``format_rate`` (completions with a ``</think>``).
    """
    completions = agent.complete([e.observation for e in examples], mode="solution")
    solved = [verify_solution(e.task, e.problem, c) for e, c in zip(examples, completions, strict=True)]
    formatted = [split_think(c)[0] is not None for c in completions]
    return {"success_rate": float(np.mean(solved)), "format_rate": float(np.mean(formatted))}


def evaluate_steps(agent: LMAgent, instances: Sequence[StepInstance]) -> dict[str, float]:
    """Step-wise score on held-out instances: the agent writes step k given the expert's steps 1..k-1.

    Returns ``step_similarity`` (difflib, of the text after ``</think>``), ``srl_reward`` (the
    same with the format rule: -1 without ``</think>`` or a step), ``exact_match`` and
    ``format_rate``.
    """
    completions = agent.complete([i.observation for i in instances], mode="step")
    sims, rewards, exact, formatted = [], [], [], []
    for inst, completion in zip(instances, completions, strict=True):
        monologue, step = split_think(completion)
        sims.append(step_similarity(step, inst.expert_step))
        rewards.append(srl_reward(completion, inst.expert_step, require_think=True))
        exact.append(step == inst.expert_step)
        formatted.append(monologue is not None and bool(step))
    return {
        "step_similarity": float(np.mean(sims)),
        "srl_reward": float(np.mean(rewards)),
        "exact_match": float(np.mean(exact)),
        "format_rate": float(np.mean(formatted)),
    }
