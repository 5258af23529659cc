"""The shipped bases: a task tokenizer, warm-up problems kept apart from a comparison's, the build command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("transformers")
pytest.importorskip("trl")

from srl_gym.agents import warmup  # noqa: E402
from srl_gym.agents.models import load_model  # noqa: E402
from srl_gym.episodes import make_text_env, solution_examples  # noqa: E402
from srl_gym.prompts import prompt_text  # noqa: E402

TASK = "srl/LongMultiplication-v0"


def _texts(level, seeds):
    return [prompt_text(e.observation, "solution") + "\n\n" + e.target
            for e in solution_examples(TASK, seeds, difficulty=level)]  # fmt: skip


def test_the_task_tokenizer_round_trips_and_writes_digits_one_by_one():
    tokenizer = warmup.train_tokenizer(_texts(1, range(200)), vocab_size=512)
    example = solution_examples(TASK, range(3), split="test", difficulty=2)[0]
    text = prompt_text(example.observation, "solution") + "\n\n" + example.target
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == text  # byte-level: exact, also for a level it was not trained on
    assert len(ids) < len(text) / 2.5  # several times shorter than characters
    pieces = [tokenizer.decode([i]) for i in ids]
    assert all(sum(c.isdigit() for c in p) <= 1 for p in pieces)  # one digit per token
    # the prompt's closing blank line is its own token: no token spans a prompt and its completion
    prompt = prompt_text(example.observation, "solution") + "\n\n"
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    assert ids[: len(prompt_ids)] == prompt_ids


def test_warmup_problems_leave_out_a_comparisons_seeds(monkeypatch):
    monkeypatch.setattr(warmup, "RESERVED_SEEDS", 300)
    reserved = warmup.reserved_texts(TASK, 1, 300)
    seeds = warmup.warmup_seeds(TASK, 1, 200, start=0)  # start inside the reserved seeds on purpose
    env = make_text_env(TASK, difficulty=1)
    texts = []
    for seed in seeds:
        env.reset(seed=seed)
        texts.append(env.problem.text)
    assert len(seeds) == 200 and len(set(texts)) == 200 and not set(texts) & reserved
    unprotected = warmup.warmup_seeds(TASK, 1, 200, protect=False, start=0)
    assert unprotected[:5] == [0, 1, 2, 3, 4]


@pytest.mark.slow
def test_build_writes_a_loadable_base_with_its_record(tmp_path, monkeypatch):
    monkeypatch.setattr(warmup, "RESERVED_SEEDS", 500)
    path = warmup.build("tiny-longmul", tmp_path / "base", updates=3, problems_per_level=20, vocab_size=400)
    record = json.loads((path / "base.json").read_text())
    assert record["warmup_updates"] == 3 and record["spec"]["levels"] == [0, 1]
    assert record["command"] == "python -m srl_gym.agents.warmup build tiny-longmul --updates 3 " \
        "--problems-per-level 20 --vocab-size 400"
    model, tokenizer = load_model(path, "cpu")
    assert model.config.vocab_size == len(tokenizer) <= 400


def test_the_shipped_base_loads_by_name_and_says_how_it_was_built():
    path = warmup.shipped_base("tiny-longmul")
    assert path is not None, "agents/bases/tiny-longmul is missing: python -m srl_gym.agents.warmup build tiny-longmul"
    record = json.loads((path / "base.json").read_text())
    assert record["command"].startswith("python -m srl_gym.agents.warmup build tiny-longmul")
    assert record["spec"]["protected_levels"] == [1]
    model, tokenizer = load_model("tiny-longmul", "cpu")
    text = _texts(1, range(1))[0]
    assert tokenizer.decode(tokenizer(text, add_special_tokens=False)["input_ids"]) == text


def test_list_prints_each_shipped_base_with_the_directory_a_script_loads():
    import contextlib
    import io

    from srl_gym.agents.models import model_directory

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert warmup.main(["list"]) == 0
    for name in warmup.BASES:
        directory = model_directory(name)
        assert f"{name}: " in out.getvalue() and f"\n  directory: {directory}\n" in out.getvalue()
        assert (Path(directory) / "config.json").is_file()
