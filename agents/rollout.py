"""Batched generation for the agents: completions, their token ids and the behaviour log-probs.

`generate` samples (or decodes greedily) a completion for each prompt with Hugging Face
``generate`` and left padding, and returns a `Rollouts` batch. When sampling it also returns the
log-prob of every sampled token under the distribution it was drawn from, so an on-policy GRPO
update needs no second forward pass for the "old" log-probs. `completion_logprobs` recomputes the
same numbers with gradients, for the update.

The sampling distribution is exactly ``softmax(logits / temperature)``: no top-k, top-p or
repetition penalty from the model's own generation config, so the behaviour log-probs are the
policy's log-probs that the GRPO ratio compares against.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F


@dataclass
class Rollouts:
    """A batch of completions (row i continues prompt i).

    Attributes:
        prompt_ids, prompt_mask: ``[N, P]`` prompt tokens, left padded, and their mask.
        completion_ids, completion_mask: ``[N, C]`` generated tokens, right padded; the mask
            covers each token up to and including the first end-of-sequence token.
        logprobs: ``[N, C]`` behaviour log-probs of the generated tokens (0 where masked); ``None``
            for greedy decoding.
        texts: the decoded completions (special tokens and everything after the end dropped).
        truncated: ``[N]`` whether a completion hit ``max_new_tokens`` without ending.
    """

    prompt_ids: torch.Tensor
    prompt_mask: torch.Tensor
    completion_ids: torch.Tensor
    completion_mask: torch.Tensor
    logprobs: torch.Tensor | None
    texts: list[str]
    truncated: torch.Tensor

    def __len__(self) -> int:
        return len(self.texts)

    def select(self, rows: Sequence[int] | torch.Tensor) -> Rollouts:
        """The rollouts at ``rows``, in that order."""
        rows = torch.as_tensor(rows, dtype=torch.long)
        pick = [self.texts[int(i)] for i in rows]
        logprobs = None if self.logprobs is None else self.logprobs[rows]
        return Rollouts(
            self.prompt_ids[rows],
            self.prompt_mask[rows],
            self.completion_ids[rows],
            self.completion_mask[rows],
            logprobs,
            pick,
            self.truncated[rows],
        )


def model_max_length(model: Any) -> int | None:
    """The longest sequence the model's positions allow, if its config says."""
    return getattr(model.config, "max_position_embeddings", None)


def tokenize_prompts(
    tokenizer: Any, prompts: Sequence[str], *, max_length: int, reserve: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded prompt ids and mask; a clear error if a prompt plus ``reserve`` tokens exceeds ``max_length``."""
    encoded = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    longest = max(len(ids) for ids in encoded)
    if longest + reserve > max_length:
        raise ValueError(
            f"a prompt of {longest} tokens plus {reserve} new tokens does not fit max_length={max_length}; "
            "raise --max-length (up to the model's context) or lower --max-new-tokens"
        )
    return left_pad(encoded, tokenizer.pad_token_id)


def left_pad(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack token lists into ``[N, L]`` ids and mask, padded on the left."""
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for i, seq in enumerate(sequences):
        if seq:
            ids[i, width - len(seq) :] = torch.as_tensor(seq, dtype=torch.long)
            mask[i, width - len(seq) :] = 1
    return ids, mask


def positions(mask: torch.Tensor) -> torch.Tensor:
    """Position ids that start at 0 at each row's first real token (as ``generate`` numbers them)."""
    return (mask.long().cumsum(-1) - 1).clamp(min=0)


@torch.no_grad()
def generate(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    *,
    max_new_tokens: int,
    temperature: float = 1.0,
    max_length: int | None = None,
    batch_size: int = 64,
) -> Rollouts:
    """Complete each rendered prompt; ``temperature=0`` decodes greedily, otherwise samples.

    Args:
        prompts: rendered prompts (`srl_gym.agents.prompts.render_prompt`).
        max_new_tokens: the longest completion.
        temperature: 0 for greedy decoding; otherwise sampling from ``softmax(logits / T)``.
        max_length: the longest prompt + completion (default: the model's context).
        batch_size: prompts per ``generate`` call (bounds the memory).
    """
    if not prompts:
        raise ValueError("generate needs at least one prompt")
    limit = max_length or model_max_length(model) or 2048
    device = next(model.parameters()).device
    sample = temperature > 0
    options: dict[str, Any] = {
        "max_new_tokens": max_new_tokens,
        "do_sample": sample,
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "return_dict_in_generate": True,
        "output_scores": sample,
    }
    if sample:
        options |= {"temperature": float(temperature), "top_k": 0, "top_p": 1.0}
    from transformers import GenerationConfig

    config = GenerationConfig(**options)
    was_training = model.training
    model.eval()
    chunks = []
    for start in range(0, len(prompts), batch_size):
        ids, mask = tokenize_prompts(tokenizer, prompts[start : start + batch_size], max_length=limit)
        if ids.shape[1] + max_new_tokens > limit:
            raise ValueError(
                f"a prompt of {ids.shape[1]} tokens plus max_new_tokens={max_new_tokens} does not fit "
                f"max_length={limit}; raise --max-length (up to the model's context) or lower --max-new-tokens"
            )
        out = model.generate(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            generation_config=config,
        )
        new = out.sequences[:, ids.shape[1] :].cpu()
        logprobs = None
        if sample:  # scores are the processed logits (logits / T) the tokens were drawn from
            scores = torch.stack(out.scores, dim=1).float().cpu()
            logprobs = scores.log_softmax(-1).gather(-1, new.unsqueeze(-1)).squeeze(-1)
        chunks.append((ids, mask, new, logprobs))
    model.train(was_training)
    return _assemble(tokenizer, chunks)


def _assemble(tokenizer: Any, chunks: list) -> Rollouts:
    """Join per-chunk outputs into one batch, padding prompts left and completions right."""
    pad, eos = tokenizer.pad_token_id, tokenizer.eos_token_id
    prompt_width = max(c[0].shape[1] for c in chunks)
    completion_width = max(c[2].shape[1] for c in chunks)
    prompt_ids, prompt_mask, completion_ids, logprobs = [], [], [], []
    for ids, mask, new, lp in chunks:
        grow = prompt_width - ids.shape[1]
        prompt_ids.append(F.pad(ids, (grow, 0), value=pad))
        prompt_mask.append(F.pad(mask, (grow, 0), value=0))
        completion_ids.append(F.pad(new, (0, completion_width - new.shape[1]), value=pad))
        if lp is not None:
            logprobs.append(F.pad(lp, (0, completion_width - lp.shape[1]), value=0.0))
    completion_ids_t = torch.cat(completion_ids)
    # The mask runs up to and including the first end token (pad may equal eos, so find it).
    is_end = completion_ids_t == eos
    ended = is_end.any(dim=1)
    first_end = torch.where(
        ended, is_end.float().argmax(dim=1), torch.full_like(ended, completion_width, dtype=torch.long)
    )
    steps = torch.arange(completion_width).unsqueeze(0)
    completion_mask = (steps <= first_end.unsqueeze(1)).long()
    texts = []
    for row, end in zip(completion_ids_t.tolist(), first_end.tolist(), strict=True):
        texts.append(tokenizer.decode(row[:end], skip_special_tokens=True))
    logprobs_t = torch.cat(logprobs) * completion_mask if logprobs else None
    return Rollouts(
        torch.cat(prompt_ids),
        torch.cat(prompt_mask),
        completion_ids_t,
        completion_mask,
        logprobs_t,
        texts,
        ~ended,
    )


def completion_logprobs(
    model: Any,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    completion_ids: torch.Tensor,
    completion_mask: torch.Tensor,
    temperature: float = 1.0,
) -> torch.Tensor:
    """``[N, C]`` log-probs of the completion tokens given their prompts (with gradients).

    Positions follow the attention mask as in ``generate``, so with the same weights these equal
    the behaviour log-probs of `generate` up to float rounding. Only the last ``C`` positions'
    logits are computed (``logits_to_keep``): a large vocabulary times a long prompt would not fit.
    """
    device = next(model.parameters()).device
    ids = torch.cat([prompt_ids, completion_ids], dim=1).to(device)
    mask = torch.cat([prompt_mask, completion_mask], dim=1).to(device)
    width = completion_ids.shape[1]
    logits = model(input_ids=ids, attention_mask=mask, position_ids=positions(mask), logits_to_keep=width + 1).logits
    logits = logits[:, :-1].float() / (temperature if temperature > 0 else 1.0)
    return logits.log_softmax(-1).gather(-1, completion_ids.to(device).unsqueeze(-1)).squeeze(-1)
