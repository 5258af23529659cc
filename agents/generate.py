"""Expert trajectories written by a language model and checked by the verifier (``srl-gym generate``).

For each problem (train-split seeds ``seed .. seed+n-1`` by default; a problem that several seeds
give is kept once) the model writes ``samples`` whole solutions with the solution prompt
(`srl_gym.agents.lm_agent.LMAgent.complete`, ``mode="solution"``). A completion is accepted when

1. it closes its monologue with ``</think>`` (the format every LM agent is trained to);
2. its steps, the lines after ``</think>`` without their "Step k:" labels (`srl_gym.prompts.parse_solution`,
   the cut the verifier and the RLVR reward use), all parse and apply when played one by one in the
   env on-policy (``teacher_forcing=False``), and the episode ends on the last of them;
3. the task's verifier accepts it (`srl_gym.episodes.verify_solution`) and the env calls the episode
   solved.

Every other completion is rejected for the first of these reasons (`REASONS`): ``no_think``,
``no_steps`` (nothing after ``</think>``), ``step_unparseable`` (the first invalid step is not a step
of the task's grammar), ``step_illegal`` (it parses but the state refuses it: an illegal move, a wrong
computation), ``step_too_long`` (over `srl_gym.rewards.MAX_STEP_CHARS`), ``steps_after_end`` (the
episode ended before the last step), ``unfinished`` (every step was valid but the episode did not
end: no final answer, goal not reached, or the env's step limit), ``verifier_rejects`` (it ended
with a wrong answer).

The accepted rows are `srl_gym.trajectory.Trajectory` objects in the JSONL format that
``srl/Trajectories-v0`` reads: the problem text, the steps as the env writes them (its canonical
text of each of the model's steps, as "Steps so far" shows them), the answer for tasks with one
(math, logic; a planning task's answer is the plan itself, so its rows give none and
Trajectories-v0 checks the last step), and provenance in ``meta`` (``env_id``, ``seed``,
``difficulty``, ``split``, ``model``, ``sample``, ``temperature`` and the raw ``completion``).
At most ``keep_per_problem`` distinct accepted solutions per problem are kept (default 1), the
first ones in sampling order.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym

from srl_gym.episodes import SolutionExample, make_text_env, solution_examples, verify_solution
from srl_gym.prompts import parse_solution
from srl_gym.registration import task_entry
from srl_gym.rewards import MAX_STEP_CHARS, split_think
from srl_gym.runs import derived_seed, write_json_atomic
from srl_gym.task import InvalidStep, Task
from srl_gym.trajectory import Step, Trajectory, write_jsonl

#: Why a completion is rejected, in the order the checks run (the first failing one is reported).
REASONS = (
    "no_think",
    "no_steps",
    "step_unparseable",
    "step_illegal",
    "step_too_long",
    "steps_after_end",
    "unfinished",
    "verifier_rejects",
)
#: The ``--max-new-tokens`` default: the expert's longest solution x 1.5 + 16 tokens, at most this many.
MAX_NEW_TOKENS_CAP = 512
#: Salt of the sampling seed (with ``--sampling-seed``).
SAMPLING_SALT = 0x6E7A


@dataclass
class Verdict:
    """What the checks make of one completion: ``reason`` is None when it is accepted."""

    reason: str | None
    detail: str = ""  # for a rejection: which step and what the task said
    steps: list[str] = field(default_factory=list)  # accepted: the env's canonical text of each step
    answer: str | None = None  # accepted: the answer the episode ended with

    @property
    def accepted(self) -> bool:
        return self.reason is None


@dataclass
class Generated:
    """The outcome of `generate_trajectories`: the rows kept and the counts behind them."""

    trajectories: list[Trajectory]
    problems: int
    samples: int
    accepted: int
    solved_problems: int  # problems with at least one accepted completion
    reasons: dict[str, int]  # rejection reason -> count (every reason of `REASONS`, zeros included)
    examples: dict[str, str]  # rejection reason -> the first rejection's detail

    @property
    def acceptance_rate(self) -> float:
        return self.accepted / self.samples if self.samples else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "problems": self.problems,
            "samples": self.samples,
            "accepted": self.accepted,
            "acceptance_rate": self.acceptance_rate,
            "solved_problems": self.solved_problems,
            "rows": len(self.trajectories),
            "reasons": self.reasons,
            "examples": self.examples,
        }


def on_policy_env(env_id: str, *, split: str = "train", difficulty: int = 0, **env_kwargs: Any) -> Any:
    """The unwrapped text env of ``env_id`` in on-policy mode: each valid step is applied to the state."""
    make_text_env(env_id, split=split, difficulty=difficulty, **env_kwargs)  # the id's checks and errors
    return gym.make(env_id, split=split, difficulty=difficulty, teacher_forcing=False, **env_kwargs).unwrapped


def judge(env: Any, example: SolutionExample, completion: str) -> Verdict:
    """Accept or reject one whole-solution completion of ``example`` (see the module docstring).

    ``env``: an on-policy env of the example's task (`on_policy_env`), reset here to its seed.
    """
    monologue, _ = split_think(completion)
    if monologue is None:
        return Verdict("no_think", "no </think> in the completion")
    steps = parse_solution(completion)
    if not steps:
        return Verdict("no_steps", "nothing after </think>")
    env.reset(seed=example.seed)
    if env.problem.text != example.problem.text:  # the env and the examples disagree on the seed's problem
        raise RuntimeError(f"seed {example.seed} gives another problem in the on-policy env")
    info: dict[str, Any] = {}
    ended_at = None
    for i, step in enumerate(steps, 1):
        state = env.state
        _, _, terminated, truncated, info = env.step(step)
        if not info["valid"]:
            reason, why = _invalid_step(env.task, state, step)
            return Verdict(reason, f"step {i} {_clip(step)}: {why}")
        if terminated or truncated:
            ended_at = (i, terminated)
            break
    if ended_at is None:
        return Verdict("unfinished", f"the episode had not ended after the last step ({len(steps)})")
    i, terminated = ended_at
    if not terminated:
        return Verdict("unfinished", f"the env's step limit ({env.max_steps}) came before an end")
    if i < len(steps):
        return Verdict("steps_after_end", f"the episode ended at step {i} of {len(steps)}")
    if not (info.get("solved") and verify_solution(example.task, example.problem, completion)):
        return Verdict("verifier_rejects", f"the verifier rejects the answer {_clip(str(info.get('answer')))}")
    answer = info.get("answer") if example.problem.answer is not None else None
    return Verdict(None, steps=list(env.history), answer=answer)


def _invalid_step(task: Task, state: Any, step: str) -> tuple[str, str]:
    """Why the env refused ``step`` in ``state``: the reason and the task's message."""
    if len(step) > MAX_STEP_CHARS:
        return "step_too_long", f"{len(step)} characters (at most {MAX_STEP_CHARS})"
    try:
        action = task.parse_step(state, step)
    except InvalidStep as exc:
        return "step_unparseable", str(exc)
    try:
        task.apply(state, action)
    except InvalidStep as exc:
        return "step_illegal", str(exc)
    return "step_illegal", "the env refused it"  # not reached: the env runs these same two checks


def _clip(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def generate_trajectories(
    agent: Any,
    env_id: str,
    seeds: Sequence[int],
    *,
    samples: int = 1,
    keep_per_problem: int = 1,
    split: str = "train",
    difficulty: int = 0,
    meta: dict[str, Any] | None = None,
    **env_kwargs: Any,
) -> Generated:
    """Sample ``samples`` whole solutions per problem with ``agent`` and keep the verified ones.

    Args:
        agent: anything with ``complete(observations, mode="solution") -> completions`` (an `LMAgent`).
        env_id: the task; ``seeds``: its problems (a problem that several seeds give is asked once).
        keep_per_problem: at most this many distinct accepted solutions per problem (the first ones).
        meta: extra provenance for every row's ``meta`` (the model, the temperature).
        env_kwargs: more env options (``path`` for srl/Trajectories-v0).
    """
    if samples < 1 or keep_per_problem < 1:
        raise ValueError(f"samples and keep_per_problem must be >= 1, got {samples} and {keep_per_problem}")
    examples = solution_examples(env_id, seeds, split=split, difficulty=difficulty, **env_kwargs)
    env = on_policy_env(env_id, split=split, difficulty=difficulty, **env_kwargs)
    completions = agent.complete([e.observation for e in examples for _ in range(samples)], mode="solution")
    reasons: Counter[str] = Counter({r: 0 for r in REASONS})
    details: dict[str, str] = {}
    rows: list[Trajectory] = []
    accepted = solved = 0
    for p, example in enumerate(examples):
        kept: list[tuple[str, ...]] = []
        any_accepted = False
        for j in range(samples):
            completion = completions[p * samples + j]
            verdict = judge(env, example, completion)
            if not verdict.accepted:
                reasons[verdict.reason] += 1
                details.setdefault(verdict.reason, f"seed {example.seed}: {verdict.detail}")
                continue
            accepted += 1
            any_accepted = True
            steps = tuple(verdict.steps)
            if len(kept) >= keep_per_problem or steps in kept:
                continue
            kept.append(steps)
            row_meta = {"env_id": env_id, "seed": example.seed, "difficulty": difficulty, "split": split}
            row_meta |= (meta or {}) | {"sample": j, "completion": completion}
            rows.append(Trajectory(example.problem.text, [Step(s) for s in steps], verdict.answer, row_meta))
        solved += any_accepted
    return Generated(rows, len(examples), len(completions), accepted, solved, dict(reasons), details)


def summary_path(output: str | Path) -> Path:
    """Where `run` writes its summary: beside the output, ``FILE.jsonl.summary.json``."""
    output = Path(output)
    return output.with_name(output.name + ".summary.json")


def check_args(args: Any) -> dict[str, Any]:
    """The command's checks before any model is loaded; returns the env options. Raises ValueError."""
    from .models import check_model_name

    for name, flag in (("n", "-n"), ("samples", "--samples"), ("keep", "--keep"), ("batch_size", "--batch-size")):
        if getattr(args, name) < 1:
            raise ValueError(f"{flag} must be at least 1, got {getattr(args, name)}")
    if args.temperature < 0:
        raise ValueError(f"--temperature must be >= 0, got {args.temperature}")
    if args.temperature == 0 and args.samples > 1:
        raise ValueError(
            f"--temperature 0 decodes greedily, so the {args.samples} samples would all be the same completion; "
            "give --samples 1, or a temperature > 0 to sample"
        )
    if args.max_new_tokens is not None and args.max_new_tokens < 1:
        raise ValueError(f"--max-new-tokens must be at least 1, got {args.max_new_tokens}")
    if Path(args.output).is_dir():
        raise ValueError(f"-o {args.output} is a directory; give the JSONL file to write")
    options: dict[str, Any] = {"path": args.path} if args.path else {}
    make_text_env(args.env_id, split=args.split, difficulty=args.difficulty, **options)  # unknown ids, levels, files
    check_model_name(args.model)  # a missing model directory (a name is checked when loaded)
    return options


def run(args: Any, out: Any) -> int:
    """``srl-gym generate``: generate, write the rows and the summary, print it; 1 when nothing was valid."""
    import torch

    from .lm_agent import LMAgent
    from .lm_common import token_budget
    from .models import load_model

    args.env_id = task_entry(args.env_id).env_id  # "LongMultiplication" -> the full id (gym.spec)
    options = check_args(args)
    tick = time.perf_counter()
    model, tokenizer = load_model(args.model, args.device)
    seeds = range(args.seed, args.seed + args.n)
    max_new_tokens = args.max_new_tokens
    if max_new_tokens is None:  # sized by the expert's solutions of these problems
        targets = [e.target for e in solution_examples(args.env_id, seeds, split=args.split,
                                                       difficulty=args.difficulty, **options)]  # fmt: skip
        max_new_tokens = token_budget(tokenizer, targets, MAX_NEW_TOKENS_CAP)
    agent = LMAgent(model, tokenizer, temperature=args.temperature, max_new_tokens=max_new_tokens,
                    batch_size=args.batch_size)  # fmt: skip
    provenance = {"model": args.model, "temperature": args.temperature}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derived_seed(args.sampling_seed, SAMPLING_SALT))
        result = generate_trajectories(
            agent, args.env_id, seeds, samples=args.samples, keep_per_problem=args.keep, split=args.split,
            difficulty=args.difficulty, meta=provenance, **options,
        )  # fmt: skip
    write_jsonl(result.trajectories, args.output)
    summary = {
        "model": args.model,
        "env_id": args.env_id,
        "difficulty": args.difficulty,
        "split": args.split,
        "seeds": [seeds.start, seeds.stop - 1],
        "samples_per_problem": args.samples,
        "temperature": args.temperature,
        "max_new_tokens": max_new_tokens,
        "sampling_seed": args.sampling_seed,
        "keep_per_problem": args.keep,
        **result.summary(),
        "generated_tokens": agent.generated_tokens,
        "seconds": round(time.perf_counter() - tick, 3),
        "output": str(args.output),
    }
    if options:
        summary["path"] = str(options["path"])
    where = summary_path(args.output)
    write_json_atomic(where, summary)
    out.write(_report(summary, where))
    if not result.trajectories:
        import sys

        sys.stderr.write(
            f"srl-gym generate: nothing valid: 0 of {result.samples} completions passed the checks; "
            f"{args.output} is empty (srl/Trajectories-v0 refuses an empty file)\n"
        )
        return 1
    return 0


def _report(summary: dict[str, Any], where: Path) -> str:
    s = summary
    lines = [
        f"{s['model']} on {s['env_id']} (difficulty {s['difficulty']}, {s['split']} seeds {s['seeds'][0]}.."
        f"{s['seeds'][1]}): {s['problems']} problems x {s['samples_per_problem']} samples = {s['samples']} "
        f"completions (temperature {s['temperature']:g}, max_new_tokens {s['max_new_tokens']})",
        f"accepted {s['accepted']} of {s['samples']} ({100 * s['acceptance_rate']:.1f}%); "
        f"{s['solved_problems']} of {s['problems']} problems have a verified solution",
    ]
    rejected = {r: c for r, c in s["reasons"].items() if c}
    if rejected:
        lines.append("rejected:")
        lines += [f"  {r:17} {c:5}  e.g. {s['examples'][r]}" for r, c in rejected.items()]
    lines.append(f"wrote {s['rows']} trajectories to {s['output']}; summary: {where}")
    return "\n".join(lines) + "\n"


def read_summary(output: str | Path) -> dict[str, Any]:
    """The summary `run` wrote beside ``output``."""
    return json.loads(summary_path(output).read_text(encoding="utf-8"))
