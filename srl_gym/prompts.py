"""The prompt and completion format shared by every language-model agent.

A prompt is an instruction followed by the env's text observation (the problem, "Steps so far:"
and, for tasks that draw it, the current state), so a model sees at training exactly what it sees
when `srl_gym.evaluate` plays it. Two instructions exist:

- step-wise (SRL, step-wise SFT, the `LMAgent` in the env): think, then write ONLY the next step;
- whole-solution (SFT by default, RLVR): think, then write every step, one per line, "Step k: ...".

A completion is ``"<think>...</think> step"`` (the SRL paper's format: the monologue is never
scored, a completion without ``</think>`` breaks the format). Instruct models with a chat
template (SmolLM2) get the instruction and observation as one user message; models without one
(the tiny character model) get plain text ending in a blank line.

Expert data has no monologue, so SFT targets use an empty one, ``"<think></think>"``: the model
learns the format (which the SRL reward requires) without being taught invented thoughts, and
keeps the room to fill the monologue in once RL rewards it. A solution target is the expert's
steps, one per line, "Step 1: ..."; math and logic tasks end with their "Answer: X" step, and a
planning task's answer is the plan itself, so no extra answer line is added.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from srl_gym.rewards import THINK_CLOSE, THINK_OPEN, split_think

STEP_INSTRUCTION = f"Think inside {THINK_OPEN}...{THINK_CLOSE}, then write only the next step."
SOLUTION_INSTRUCTION = (
    f"Think inside {THINK_OPEN}...{THINK_CLOSE}, then write the whole solution, one step per line as 'Step k: ...'."
)
EMPTY_THINK = THINK_OPEN + THINK_CLOSE
MODES = ("step", "solution")

_STEP_LABEL = re.compile(r"^\s*step\s*\d+\s*[:.)]\s*", re.IGNORECASE)


def prompt_text(observation: str, mode: str = "step") -> str:
    """The instruction for ``mode`` (``"step"`` or ``"solution"``) followed by the observation."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    instruction = STEP_INSTRUCTION if mode == "step" else SOLUTION_INSTRUCTION
    return f"{instruction}\n\n{observation}"


def render_prompt(tokenizer: Any, observation: str, mode: str = "step") -> str:
    """The exact text fed to the model: a chat turn for instruct models, plain text otherwise."""
    text = prompt_text(observation, mode)
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
        )
    return text + "\n\n"


def step_target(step: str) -> str:
    """The SFT target for one step: an empty monologue, then the step."""
    return f"{EMPTY_THINK} {step}"


def solution_target(steps: Sequence[str]) -> str:
    """The SFT target for a whole solution: an empty monologue, then one "Step k: ..." line per step."""
    return EMPTY_THINK + "\n" + "\n".join(f"Step {k}: {step}" for k, step in enumerate(steps, 1))


def parse_solution(completion: str) -> list[str]:
    """The steps of a whole-solution completion: the lines after ``</think>``, without "Step k:" labels.

    A completion without ``</think>`` is read whole (the verifier, not the format rule, judges it).
    """
    _, body = split_think(completion)
    steps = []
    for line in body.splitlines():
        line = _STEP_LABEL.sub("", line).strip()
        if line:
            steps.append(line)
    return steps
