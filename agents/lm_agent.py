"""`LMAgent`: a causal language model as an srl-gym agent, and held-out evaluations for trainers.

`LMAgent` plays the env step by step: each call writes ``<think>...</think> step`` for every
observation of a batch (`generate`: one Hugging Face ``generate`` call, left padding), which
`srl_gym.evaluate` steps in lockstep (training generates through TRL; this is for evaluation).
`evaluate_solutions` instead asks for the whole solution at once and checks it with the task's
verifier (the RLVR setting); `evaluate_steps` scores one step per held-out instance
against the expert's step (the SRL setting, teacher-forced).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from srl_gym import metrics as M
from srl_gym.episodes import SolutionExample, StepInstance, verify_solution
from srl_gym.prompts import render_prompt
from srl_gym.rewards import split_think, srl_reward, step_similarity


class LMAgent:
    """A language model that writes the next step of a text env (``act`` / ``act_batch``).

    Args:
        model, tokenizer: e.g. from `srl_gym.agents.models.load_model`.
        temperature: 0 (default) decodes greedily; > 0 samples.
        max_new_tokens: the longest completion (monologue and step).
        batch_size: prompts per ``generate`` call.
        max_length: the longest prompt + completion (default: the model's context).

    Example::

        model, tokenizer = load_model("runs/sft/checkpoints/checkpoint-100")
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
        self.generated_tokens = 0  # completion tokens generated so far, end-of-sequence included (a budget)

    @property
    def deterministic(self) -> bool:
        """Greedy decoding: the step is a function of the observation (`srl_gym.evaluate`'s ``end_loops``)."""
        return self.temperature == 0

    def act(self, observation: str, info: dict[str, Any]) -> str:
        return self.act_batch([observation], [info])[0]

    def act_batch(self, observations: Sequence[str], infos: Sequence[dict[str, Any]]) -> list[str]:
        """The completion for each observation (the env reads the step after ``</think>``)."""
        return self.complete(observations, mode="step")

    def complete(self, observations: Sequence[str], mode: str = "step") -> list[str]:
        """Completions for observations with the ``"step"`` or ``"solution"`` instruction."""
        prompts = [render_prompt(self.tokenizer, o, mode) for o in observations]
        texts, lengths = generate(
            self.model,
            self.tokenizer,
            prompts,
            max_new_tokens=self.max_new_tokens,
            temperature=self.temperature,
            max_length=self.max_length,
            batch_size=self.batch_size,
            return_lengths=True,
        )
        self.generated_tokens += sum(lengths)
        return texts


@torch.no_grad()
def generate(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    *,
    max_new_tokens: int,
    temperature: float = 0.0,
    max_length: int | None = None,
    batch_size: int = 64,
    return_lengths: bool = False,
) -> list[str] | tuple[list[str], list[int]]:
    """Complete each rendered prompt (left padding, batches of ``batch_size``); ``temperature=0`` is greedy.

    Sampling draws from exactly ``softmax(logits / temperature)``: no top-k, top-p or repetition
    penalty from the model's own generation config. Special tokens and everything after the first
    end-of-sequence token are dropped from the returned texts. ``return_lengths``: also return how
    many tokens each completion generated (its end-of-sequence token included).
    """
    from transformers import GenerationConfig

    if not prompts:
        raise ValueError("generate needs at least one prompt")
    limit = max_length or getattr(model.config, "max_position_embeddings", None) or 2048
    sample = temperature > 0
    options: dict[str, Any] = {"max_new_tokens": max_new_tokens, "do_sample": sample}
    options |= {"pad_token_id": tokenizer.pad_token_id, "eos_token_id": tokenizer.eos_token_id}
    # A static KV cache: the same tokens as the default dynamic one (tested), about half the time on a
    # CPU for the tiny models, whose generation cost is the cache's bookkeeping more than the network.
    options["cache_implementation"] = "static"
    if sample:
        options |= {"temperature": float(temperature), "top_k": 0, "top_p": 1.0}
    config = GenerationConfig(**options)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    texts: list[str] = []
    lengths: list[int] = []
    for start in range(0, len(prompts), batch_size):
        encoded = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts[start : start + batch_size]]
        width = max(len(ids) for ids in encoded)
        if width + max_new_tokens > limit:
            raise ValueError(
                f"a prompt of {width} tokens plus max_new_tokens={max_new_tokens} does not fit max_length={limit}; "
                "raise --max-length (up to the model's context) or lower --max-new-tokens"
            )
        ids = torch.full((len(encoded), width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(encoded), width), dtype=torch.long)
        for i, row in enumerate(encoded):
            ids[i, width - len(row) :] = torch.as_tensor(row, dtype=torch.long)
            mask[i, width - len(row) :] = 1
        out = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), generation_config=config)
        for row in out[:, width:].tolist():
            end = row.index(tokenizer.eos_token_id) if tokenizer.eos_token_id in row else len(row)
            texts.append(tokenizer.decode(row[:end], skip_special_tokens=True))
            lengths.append(min(end + 1, len(row)))
    model.train(was_training)
    return (texts, lengths) if return_lengths else texts


def evaluate_solutions(agent: LMAgent, examples: Sequence[SolutionExample]) -> dict[str, float]:
    """Whole-solution success: the agent writes each problem's solution at once; the task verifies it.

    Returns ``greedy_success`` (for a greedy agent; the success rate of whatever it decodes) and
    ``format_rate`` (completions with a ``</think>``), named as in `srl_gym.metrics`.
    """
    solved, formatted = solve_problems(agent, examples)
    return {M.GREEDY_SUCCESS: float(np.mean(solved)), M.FORMAT_RATE: float(np.mean(formatted))}


def solve_problems(agent: LMAgent, examples: Sequence[SolutionExample]) -> tuple[list[bool], list[bool]]:
    """Per problem, in order: whether the agent's whole solution is verified, and whether it closed ``</think>``."""
    completions = agent.complete([e.observation for e in examples], mode="solution")
    solved = [verify_solution(e.task, e.problem, c) for e, c in zip(examples, completions, strict=True)]
    formatted = [split_think(c)[0] is not None for c in completions]
    return solved, formatted


def evaluate_steps(agent: LMAgent, instances: Sequence[StepInstance]) -> dict[str, float]:
    """Step-wise score on held-out instances: the agent writes step k given the expert's steps 1..k-1.

    Returns ``step_similarity`` (difflib, of the text after ``</think>``), ``step_reward`` (the
    same with the format rule: -1 without ``</think>`` or a step), ``exact_match`` and
    ``step_format_rate``, named as in `srl_gym.metrics`: the means of `score_steps`.
    """
    return {name: float(np.mean(values)) for name, values in score_steps(agent, instances).items()}


def score_steps(agent: LMAgent, instances: Sequence[StepInstance]) -> dict[str, list[float]]:
    """`evaluate_steps`' measures per instance, in order (for paired statistics)."""
    completions = agent.complete([i.observation for i in instances], mode="step")
    scores: dict[str, list[float]] = {M.STEP_SIMILARITY: [], M.STEP_REWARD: [], M.EXACT_MATCH: [],
                                      M.STEP_FORMAT_RATE: []}  # fmt: skip
    for inst, completion in zip(instances, completions, strict=True):
        monologue, step = split_think(completion)
        scores[M.STEP_SIMILARITY].append(step_similarity(step, inst.expert_step))
        scores[M.STEP_REWARD].append(srl_reward(completion, inst.expert_step, require_think=True))
        scores[M.EXACT_MATCH].append(float(step == inst.expert_step))
        scores[M.STEP_FORMAT_RATE].append(float(monologue is not None and bool(step)))
    return scores


@torch.no_grad()
def solution_loss(model: Any, tokenizer: Any, examples: Sequence[SolutionExample], batch_size: int = 32) -> list[float]:
    """Per problem, in order: the mean per-token negative log-likelihood (nats) of the expert's whole solution
    and the end-of-sequence token after it, given the whole-solution prompt (teacher-forced): SFT's own training
    objective, measured on held-out problems (``solution_loss``; lower is better).

    Prompt and solution are tokenized apart, as the trainers' prompt-completion rows are, and right-padded.
    """
    if not examples:
        raise ValueError("solution_loss needs at least one example")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    losses: list[float] = []
    for start in range(0, len(examples), batch_size):
        rows = []
        for e in examples[start : start + batch_size]:
            prompt = tokenizer(render_prompt(tokenizer, e.observation, "solution"), add_special_tokens=False)
            target = tokenizer(e.target, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
            rows.append((prompt["input_ids"], target))
        width = max(len(p) + len(t) for p, t in rows)
        ids = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        labels = torch.full((len(rows), width), -100, dtype=torch.long)
        for i, (prompt, target) in enumerate(rows):
            ids[i, : len(prompt) + len(target)] = torch.as_tensor(prompt + target, dtype=torch.long)
            mask[i, : len(prompt) + len(target)] = 1
            labels[i, len(prompt) : len(prompt) + len(target)] = torch.as_tensor(target, dtype=torch.long)
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
        shifted = labels[:, 1:].to(device)
        nll = torch.nn.functional.cross_entropy(
            logits[:, :-1].transpose(1, 2), shifted.clamp(min=0), reduction="none"
        )  # fmt: skip
        counted = (shifted != -100).float()
        losses += ((nll * counted).sum(1) / counted.sum(1)).tolist()
    model.train(was_training)
    return [float(x) for x in losses]
