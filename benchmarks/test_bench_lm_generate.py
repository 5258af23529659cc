"""Evaluation generation: transformers' default dynamic KV cache vs the static cache `lm_agent.generate` uses.

Run: ``python -m pytest benchmarks/test_bench_lm_generate.py --benchmark-enable --benchmark-group-by=group``.
The shipped base ``tiny-longmul`` (0.9M parameters, BPE tokenizer) writes greedy whole solutions
for 64 test problems of LongMultiplication level 1 (about 170 tokens each, batch 64), one torch
thread. Both cases run in the same session, alternating rounds; read the ratio of the medians.
Both write the same tokens (``tests/test_lm_agents.py`` checks it on the tiny model).
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from srl_gym.agents.models import load_model  # noqa: E402
from srl_gym.episodes import solution_examples  # noqa: E402
from srl_gym.prompts import render_prompt  # noqa: E402

TASK, LEVEL, PROBLEMS, NEW_TOKENS = "srl/LongMultiplication-v0", 1, 64, 180


@pytest.fixture(scope="module")
def setup():
    torch.set_num_threads(1)
    model, tokenizer = load_model("tiny-longmul", "cpu")
    prompts = [render_prompt(tokenizer, e.observation, "solution")
               for e in solution_examples(TASK, range(PROBLEMS), split="test", difficulty=LEVEL)]  # fmt: skip
    encoded = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    return model, tokenizer, encoded


@pytest.mark.parametrize("cache", ["dynamic", "static"])
def test_generate_cache(benchmark, setup, cache):
    model, tokenizer, encoded = setup
    options = {"max_new_tokens": NEW_TOKENS, "min_new_tokens": NEW_TOKENS, "do_sample": False,
               "pad_token_id": tokenizer.pad_token_id, "eos_token_id": tokenizer.eos_token_id}  # fmt: skip
    if cache == "static":
        options["cache_implementation"] = "static"
    benchmark.group = "lm-generate"

    def run():
        with torch.no_grad():
            return model.generate(**encoded, **options)

    out = benchmark.pedantic(run, rounds=3, warmup_rounds=1)
    assert out.shape[1] == encoded.input_ids.shape[1] + NEW_TOKENS
