"""Cost of one GRPO update and one SFT update: the hand-written loop vs Hugging Face TRL, in the same run.

Run: ``python -m pytest benchmarks/test_bench_trl.py --benchmark-enable --benchmark-group-by=group``.
Same tiny model (`load_model("tiny", "cpu")`), batch, lengths, learning rate, clip-norm and seeds
on both sides; one thread (``torch.set_num_threads(1)``). Read the ratio of the medians in a group.

- GRPO (group ``grpo-update``): 6 SRL step prompts of srl/Hanoi-v0 x G=8 rollouts, 64 new tokens,
  temperature 1.0 (no top-k/top-p), reward `srl_reward_func`, KL 0, eps 0.2, lr 1e-4, clip-norm 1.0.
  ``old``: `collect_batch` (dynamic sampling off, 1 round) + `grpo_update` (one optimizer step).
  ``trl``: a `GRPOTrainer` built and prepared once; timed is one optimizer step as
  ``Trainer._run_epoch`` runs it: ``training_step`` (GRPO's ``_prepare_inputs``: generate, reward,
  advantages; then the loss, backward) + gradient clipping + optimizer and scheduler step +
  ``zero_grad``. It gets the 48 rows in the old loop's order and torch seed, so both sides sample the
  same completions. ``loss_type="dapo"`` (the sum over all completion tokens divided by their count,
  the old loop's token mean; checked equal loss and gradient norm on one batch).
- SFT (group ``sft-update``): 16 whole-solution examples of srl/Hanoi-v0, loss on the target only.
  ``old``: `sft_loss` (padding + forward) + backward + clip + AdamW step on pairs tokenized once
  (as `srl_gym.agents.sft.train` does). ``trl``: an `SFTTrainer` (dataset tokenized at construction);
  timed is one batch from its dataloader (collation included) + ``training_step`` + clip + step.
- ``trl_train``: a fresh trainer per round (built untimed), then ``trainer.train()`` with
  ``max_steps=1``: the whole call a user makes (dataloader, optimizer creation, ``accelerator.prepare``,
  callbacks, logging), without and with activation checkpointing (``gradient_checkpointing=True`` is
  TRL's default; the other cases turn it off, as the old loop has none).

``old`` and ``trl`` are interleaved: before each timed round of one side, the other side runs one
update (timed by hand, stored in ``extra_info["interleaved_other_seconds"]``), so both see the same
load on a shared machine. Generated tokens and generation time per round are in ``extra_info``.
The old loop is imported from ``srl_gym.agents``; where it is gone its cases are skipped. It was
removed once this comparison was recorded (docs/performance.md): commit a4d5845 is the last that
has it, so ``git worktree add /tmp/old a4d5845`` and this command there reproduce both sides.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
trl = pytest.importorskip("trl")
datasets = pytest.importorskip("datasets")

from srl_gym.agents.models import load_model  # noqa: E402
from srl_gym.rewards import srl_reward, srl_reward_func  # noqa: E402
from srl_gym.runs import derived_seed  # noqa: E402

try:  # episodes and prompts moved into the core package
    from srl_gym.episodes import solution_examples, step_instances
    from srl_gym.prompts import render_prompt
except ImportError:
    from srl_gym.agents.data import solution_examples, step_instances
    from srl_gym.agents.prompts import render_prompt

try:
    from srl_gym.agents.grpo import GRPOArgs, GRPOExample, collect_batch, grpo_update
    from srl_gym.agents.sft import sft_loss, tokenize_examples

    OLD_LOOP_MISSING = ""
except ImportError as exc:  # the hand-written loop was removed (or broken): only TRL runs
    OLD_LOOP_MISSING = f"the old loop does not import ({exc})"

ROUNDS = 3
SEED = 0
ENV_ID = "srl/Hanoi-v0"
PROMPTS, GROUP, NEW_TOKENS = 6, 8, 64
SFT_EXAMPLES = 16
LEARNING_RATE, MAX_GRAD_NORM, CLIP_EPS = 1e-4, 1.0, 0.2


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def prepare_trainer(trainer: Any) -> None:
    """What ``Trainer.train`` does before its first step: optimizer, ``accelerator.prepare``, scheduler."""
    trainer.create_optimizer()
    trainer.model_wrapped, trainer.optimizer = trainer.accelerator.prepare(trainer.model, trainer.optimizer)
    trainer.create_scheduler(num_training_steps=1000, optimizer=trainer.optimizer)
    trainer.current_gradient_accumulation_steps = 1  # set per step by Trainer._run_epoch


def optimizer_step(trainer: Any) -> None:
    """The end of one step in ``Trainer._run_epoch``: clip, optimizer and scheduler step, zero the gradients."""
    trainer.accelerator.clip_grad_norm_(trainer.model_wrapped.parameters(), trainer.args.max_grad_norm)
    trainer.optimizer.step()
    trainer.lr_scheduler.step()
    trainer.model_wrapped.zero_grad()
    trainer.state.global_step += 1


class Sides:
    """The two sides of one comparison: ``run(side)`` does one update; generation stats per update."""

    def __init__(self) -> None:
        self.updates = {"old": 0, "trl": 0}
        self.generation: dict[str, list[tuple[int, float]]] = {"old": [], "trl": []}  # (tokens, seconds)
        self.warm = False

    def run(self, side: str) -> None:
        getattr(self, side)(self.updates[side])
        self.updates[side] += 1


# ---------------------------------------------------------------------- GRPO
def grpo_config(output_dir: str, **overrides: Any) -> Any:
    options = dict(
        output_dir=output_dir, use_cpu=True, report_to=[], num_generations=GROUP,
        per_device_train_batch_size=PROMPTS * GROUP, gradient_accumulation_steps=1,
        max_completion_length=NEW_TOKENS, temperature=1.0, top_k=0, top_p=1.0, beta=0.0, epsilon=CLIP_EPS,
        max_grad_norm=MAX_GRAD_NORM, learning_rate=LEARNING_RATE, lr_scheduler_type="constant",
        save_strategy="no", logging_steps=1, loss_type="dapo", bf16=False, seed=SEED, max_steps=1,
        disable_tqdm=True, gradient_checkpointing=False,
    )  # fmt: skip
    return trl.GRPOConfig(**(options | overrides))


class GRPOSides(Sides):
    def __init__(self, output_dir: str) -> None:
        super().__init__()
        _, tokenizer = load_model("tiny", "cpu", seed=SEED)
        instances = step_instances(ENV_ID, range(4))[:PROMPTS]
        self.prompts = [render_prompt(tokenizer, i.observation, "step") for i in instances]
        self.expert_steps = [i.expert_step for i in instances]
        self.dataset = datasets.Dataset.from_dict({"prompt": self.prompts, "expert_step": self.expert_steps})
        self.output_dir = output_dir
        if not OLD_LOOP_MISSING:
            self.args = GRPOArgs(
                seed=SEED, prompts_per_update=PROMPTS, group_size=GROUP, temperature=1.0,
                learning_rate=LEARNING_RATE, clip_eps=CLIP_EPS, kl_coef=0.0, max_grad_norm=MAX_GRAD_NORM,
                dynamic_sampling=False, max_sampling_rounds=1, update_epochs=1, minibatches=1,
                micro_batch_size=PROMPTS * GROUP, max_new_tokens=NEW_TOKENS,
            )  # fmt: skip
            self.old_model, self.old_tokenizer = load_model("tiny", "cpu", seed=SEED)
            self.examples = [GRPOExample(p, e) for p, e in zip(self.prompts, self.expert_steps, strict=True)]
            self.optimizer = torch.optim.AdamW(self.old_model.parameters(), lr=LEARNING_RATE, weight_decay=0.0)
        self.trainer = self.build_trainer()
        prepare_trainer(self.trainer)
        generate = self.trainer._generate

        def timed_generate(prompts):  # GRPOTrainer's generation: tokenize, generate, decode
            tick = time.perf_counter()
            out = generate(prompts)
            self.generation["trl"].append((sum(len(ids) for ids in out[1]), time.perf_counter() - tick))
            return out

        self.trainer._generate = timed_generate

    def build_trainer(self, **overrides: Any) -> Any:
        model, tokenizer = load_model("tiny", "cpu", seed=SEED)  # a fresh copy: the trainer patches its forward
        return trl.GRPOTrainer(
            model=model, reward_funcs=srl_reward_func, args=grpo_config(self.output_dir, **overrides),
            train_dataset=self.dataset, processing_class=tokenizer,
        )  # fmt: skip

    def reward_fn(self, completions, examples) -> list[float]:
        return [srl_reward(c, e.target, require_think=True) for c, e in zip(completions, examples, strict=True)]

    def old(self, update: int) -> None:
        batch = collect_batch(self.old_model, self.old_tokenizer, self.examples, self.reward_fn, self.args, update)
        torch.manual_seed(derived_seed(SEED, update, 2**20))  # as train_grpo does
        grpo_update(self.old_model, self.optimizer, batch, self.args)
        tokens = batch.stats["rollout/generated_tokens"]
        self.generation["old"].append((int(tokens), tokens / batch.stats["rollout/tokens_per_second"]))

    def trl(self, update: int) -> None:
        # the prompts and torch seed collect_batch uses for this update (round 0), so both sides sample alike
        order = random.Random(derived_seed(SEED, update, 0)).sample(range(PROMPTS), PROMPTS)
        rows = [{"prompt": self.prompts[i], "expert_step": self.expert_steps[i]} for i in order for _ in range(GROUP)]
        torch.manual_seed(derived_seed(SEED, update, 0, 1))
        self.trainer.training_step(self.trainer.model_wrapped, rows, None)
        optimizer_step(self.trainer)


@pytest.fixture(scope="module")
def grpo_sides(tmp_path_factory) -> GRPOSides:
    return GRPOSides(str(tmp_path_factory.mktemp("grpo")))


# ---------------------------------------------------------------------- SFT
def sft_config(output_dir: str, **overrides: Any) -> Any:
    options = dict(
        output_dir=output_dir, use_cpu=True, report_to=[], per_device_train_batch_size=SFT_EXAMPLES,
        gradient_accumulation_steps=1, max_steps=1, completion_only_loss=True, max_length=2048,
        learning_rate=LEARNING_RATE, lr_scheduler_type="constant", max_grad_norm=MAX_GRAD_NORM, bf16=False,
        save_strategy="no", logging_steps=1, seed=SEED, disable_tqdm=True, gradient_checkpointing=False,
    )  # fmt: skip
    return trl.SFTConfig(**(options | overrides))


class SFTSides(Sides):
    def __init__(self, output_dir: str) -> None:
        super().__init__()
        _, tokenizer = load_model("tiny", "cpu", seed=SEED)
        examples = solution_examples(ENV_ID, range(40))[:SFT_EXAMPLES]
        self.prompts = [render_prompt(tokenizer, e.observation, "solution") for e in examples]
        self.targets = [e.target for e in examples]
        self.dataset = datasets.Dataset.from_dict({"prompt": self.prompts, "completion": self.targets})
        self.output_dir = output_dir
        if not OLD_LOOP_MISSING:
            self.old_model, self.old_tokenizer = load_model("tiny", "cpu", seed=SEED)
            self.pairs = tokenize_examples(self.old_tokenizer, self.prompts, self.targets, max_length=2048)
            self.optimizer = torch.optim.AdamW(self.old_model.parameters(), lr=LEARNING_RATE, weight_decay=0.0)
        self.trainer = self.build_trainer()
        prepare_trainer(self.trainer)
        self.dataloader = self.trainer.get_train_dataloader()

    def build_trainer(self, **overrides: Any) -> Any:
        model, tokenizer = load_model("tiny", "cpu", seed=SEED)
        return trl.SFTTrainer(
            model=model, args=sft_config(self.output_dir, **overrides), train_dataset=self.dataset,
            processing_class=tokenizer,
        )  # fmt: skip

    def old(self, update: int) -> None:
        torch.manual_seed(derived_seed(SEED, update))
        self.old_model.train()
        loss, _ = sft_loss(self.old_model, self.pairs, self.old_tokenizer.pad_token_id)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.old_model.parameters(), MAX_GRAD_NORM)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def trl(self, update: int) -> None:
        torch.manual_seed(derived_seed(SEED, update))
        batches, num_items = self.trainer.get_batch_samples(iter(self.dataloader), 1, self.trainer.args.device)
        self.trainer.training_step(self.trainer.model_wrapped, batches[0], num_items)
        optimizer_step(self.trainer)


@pytest.fixture(scope="module")
def sft_sides(tmp_path_factory) -> SFTSides:
    return SFTSides(str(tmp_path_factory.mktemp("sft")))


# ---------------------------------------------------------------------- the benchmarks
def interleaved(benchmark, sides: Sides, side: str) -> None:
    """Benchmark one side's update; before each round (benchmarks enabled) the other side runs one."""
    other = "trl" if side == "old" else "old"
    other_seconds: list[float] = []
    setup: Callable[[], None] | None = None
    if not benchmark.disabled and not OLD_LOOP_MISSING:
        if not sides.warm:  # first calls (lazy init, allocator) stay out of both sides' timings
            sides.run("old")
            sides.run("trl")
            sides.warm = True

        def setup() -> None:
            tick = time.perf_counter()
            sides.run(other)
            other_seconds.append(time.perf_counter() - tick)

    before = len(sides.generation[side])
    benchmark.pedantic(sides.run, args=(side,), setup=setup, rounds=ROUNDS, iterations=1)
    info = {"side": side, "interleaved_other": other, "interleaved_other_seconds": other_seconds}
    generated = sides.generation[side][before:]
    if generated:  # rounds timed here only (not the other side's, not the warm-up)
        info["generated_tokens"] = [tokens for tokens, _ in generated]
        info["generation_seconds"] = [seconds for _, seconds in generated]
        info["generation_tokens_per_second_median"] = statistics.median(t / s for t, s in generated)
    benchmark.extra_info.update(info)


@pytest.mark.parametrize("side", ["old", "trl"])
def test_grpo_update(benchmark, grpo_sides, side):
    benchmark.group = "grpo-update"
    if side == "old" and OLD_LOOP_MISSING:
        pytest.skip(OLD_LOOP_MISSING)
    interleaved(benchmark, grpo_sides, side)


@pytest.mark.parametrize("checkpointing", [False, True], ids=["no-checkpointing", "checkpointing"])
def test_grpo_update_trl_train(benchmark, grpo_sides, checkpointing):
    """``GRPOTrainer.train()`` for one step on a fresh trainer, without and with (TRL's default) checkpointing."""
    benchmark.group = "grpo-update"
    logs: list[dict[str, float]] = []

    def setup():
        return (grpo_sides.build_trainer(gradient_checkpointing=checkpointing),), {}

    def train(trainer) -> None:
        trainer.train()
        logs.extend(h for h in trainer.state.log_history if "step_time" in h)

    benchmark.pedantic(train, setup=setup, rounds=ROUNDS, iterations=1)
    benchmark.extra_info.update({
        "side": "trl-train",
        "gradient_checkpointing": checkpointing,
        "trl_step_time_seconds": [h["step_time"] for h in logs],  # TRL's own timing of training_step
        "generated_tokens": [round(h["completions/mean_length"] * PROMPTS * GROUP) for h in logs],
    })  # fmt: skip


@pytest.mark.parametrize("side", ["old", "trl"])
def test_sft_update(benchmark, sft_sides, side):
    benchmark.group = "sft-update"
    if side == "old" and OLD_LOOP_MISSING:
        pytest.skip(OLD_LOOP_MISSING)
    interleaved(benchmark, sft_sides, side)


@pytest.mark.parametrize("checkpointing", [False, True], ids=["no-checkpointing", "checkpointing"])
def test_sft_update_trl_train(benchmark, sft_sides, checkpointing):
    """``SFTTrainer.train()`` for one step on a fresh trainer, without and with (TRL's default) checkpointing."""
    benchmark.group = "sft-update"

    def setup():
        return (sft_sides.build_trainer(gradient_checkpointing=checkpointing),), {}

    benchmark.pedantic(lambda trainer: trainer.train(), setup=setup, rounds=ROUNDS, iterations=1)
    benchmark.extra_info.update({"side": "trl-train", "gradient_checkpointing": checkpointing})
