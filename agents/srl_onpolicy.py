"""On-policy SRL: the SRL step reward on the states the model itself reaches, with the oracle's step there.

SRL (`srl_gym.agents.srl`, Deng et al., 2025, arXiv:2510.25992) scores each step against the
expert's along the expert's own trajectory (teacher forcing), so the model never sees a state
its own mistakes lead to: imitation's compounding-error problem, which DAgger (Ross et al., 2011)
solves by asking the expert what to do in the learner's states. Every srl-gym task has an oracle
that answers from ANY state, so SRL can do the same. Training alternates, for ``rounds`` rounds:

1. **Play.** The current model plays ``rollout_problems`` training problems in the env, step by
   step, without teacher forcing (`srl_gym.evaluation.evaluate`, ``teacher_forcing=False``: a
   valid step is applied and the oracle re-plans; an invalid one leaves the state unchanged and
   the episode goes on). Every state it is asked about is recorded with its observation and the
   oracle's next step from there (``info["expert_step"]``); repeats of a (problem, observation)
   are kept once.
2. **Train.** GRPO with the SRL step reward (as `srl`: ``<think>`` then one step, scored by its
   similarity to the oracle's step, dynamic sampling on) for this round's share of
   ``total_updates``, on as many step instances as SRL's data set has: a share ``mix`` drawn from
   the recorded states (repeated when there are fewer), the rest from the expert's own
   trajectories (SRL's instances, drawn without repeats).

``mix=0`` is plain SRL (one round on the expert's instances, no play: the same run as ``srl``
with the same options). Each round is a TRL run in ``RUN/round-K`` started from the previous
round's final model (the optimiser restarts each round: a departure from one continuous GRPO run,
kept because TRL's trainer reads a fixed data set). The recorded states of a round are saved in
``RUN/rollouts/round-K.json`` before it trains, so ``--resume true`` replays neither the play nor
a finished round.

Budget: ``updates`` and ``generated_tokens`` are counted from the start of round 0 and include
the play's generated tokens (also reported alone as ``rollout_tokens``), so a comparison that
fixes updates shows what on-policy data cost. Held-out evaluation (``eval/``): teacher-forced
step similarity on test-split instances, as `srl`, and agent success (the model plays test
problems), which on-policy data should move most.

Run: ``srl-gym train srl-onpolicy --model tiny-longmul --env-id srl/LongMultiplication-v0 --difficulty 1``.
"""

from __future__ import annotations

import dataclasses
import json
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srl_gym.algorithms import Cell, Checkpoint, TrainResult
from srl_gym.datasets import format_prompt
from srl_gym.env import agent_info
from srl_gym.episodes import env_options, make_text_env, problem_texts
from srl_gym.evaluation import is_privileged
from srl_gym.rewards import srl_reward_func
from srl_gym.runs import atomic_write_text, derived_seed, run_cli

from . import srl
from .grpo import named, train_grpo
from .lm_common import cell_options, grpo_cell_options, step_tokens, task_rows
from .trl_common import saved_checkpoints

#: The column a round's rows add to SRL's (`srl_gym.datasets.step_dataset`): "expert" or "onpolicy".
SOURCE = "source"


@dataclass
class Args(srl.Args):
    """On-policy SRL: rounds of playing the model in the env, then SRL's GRPO on its own states and the expert's."""

    run_dir: str = field(default="runs/srl-onpolicy", metadata={"help": "the run directory (round-K/ inside)"})
    mix: float = field(
        default=0.5, metadata={"help": "share of each round's step instances from the model's own states (0: SRL)"}
    )
    rounds: int = field(default=2, metadata={"help": "rounds of play then train (total_updates are split over them)"})
    rollout_problems: int = field(default=32, metadata={"help": "training problems the model plays per round"})
    rollout_temperature: float = field(
        default=1.0, metadata={"help": "sampling temperature of the play (GRPO's own; 0: greedy)"}
    )

    def validate(self) -> None:
        super().validate()
        if isinstance(self.mix, bool) or not 0.0 <= float(self.mix) <= 1.0:
            raise ValueError(f"mix must be in [0, 1] (the share of on-policy states; 0 is plain SRL), got {self.mix!r}")
        if self.rounds < 1 or self.rollout_problems < 1:
            raise ValueError(f"rounds and rollout_problems must be >= 1, got {self.rounds} and {self.rollout_problems}")
        if self.rounds > self.total_updates:
            raise ValueError(f"rounds ({self.rounds}) must not exceed total_updates ({self.total_updates}): "
                             "every round trains at least one update")  # fmt: skip
        if self.rollout_temperature < 0:
            raise ValueError(f"rollout_temperature must be >= 0, got {self.rollout_temperature}")
        task = make_text_env(self.env_id, **env_options(self)).task
        if self.mix > 0 and not task.replans:
            raise ValueError(
                f"{self.env_id} cannot say what the expert would do in the model's own states ({type(task).__name__} "
                "replays fixed trajectories); train it with `srl` (or --mix 0), or use a task with an oracle"
            )


def round_updates(total: int, rounds: int) -> list[int]:
    """``total`` updates split over ``rounds`` rounds as evenly as possible (the later rounds get the rest)."""
    base, rest = divmod(total, rounds)
    return [base + (1 if k >= rounds - rest else 0) for k in range(rounds)]


class StateRecorder:
    """An agent wrapper that records every state it is asked about: its observation and the oracle's step there.

    It is ``privileged`` (a trainer: `srl_gym.evaluate` hands it the oracle's info keys); the agent it
    wraps is not, unless it says so itself: it gets `srl_gym.agent_info` of each info, and ``bind`` only
    if it is privileged too.
    """

    privileged = True

    def __init__(self, agent: Any) -> None:
        self.agent = agent
        self.states: dict[str, dict[str, Any]] = {}  # by observation (it starts with the problem's text)

    def bind(self, env: Any) -> None:
        if is_privileged(self.agent) and hasattr(self.agent, "bind"):
            self.agent.bind(env)

    def act_batch(self, observations: Sequence[str], infos: Sequence[dict[str, Any]]) -> list[str]:
        for observation, info in zip(observations, infos, strict=True):
            if info["expert_step"] and observation not in self.states:
                self.states[observation] = {"step_index": info["steps_taken"], "observation": observation,
                                            "expert_step": info["expert_step"]}  # fmt: skip
        if not is_privileged(self.agent):
            infos = [agent_info(info) for info in infos]
        return self.agent.act_batch(observations, infos)


def play(args: Args, model_dir: str, round_index: int) -> dict[str, Any]:
    """Round ``round_index``'s play: the states the model at ``model_dir`` reached, and what playing cost."""
    import torch

    import srl_gym.evaluation

    from .lm_agent import LMAgent
    from .models import load_model

    model, tokenizer = load_model(model_dir, args.device or "cpu", seed=args.seed)
    agent = LMAgent(model, tokenizer, temperature=args.rollout_temperature, max_new_tokens=args.max_new_tokens,
                    batch_size=args.rollout_problems, max_length=args.max_length)  # fmt: skip
    recorder = StateRecorder(agent)
    problems = min(args.rollout_problems, args.train_seeds)
    # Consecutive windows over the training seeds, one per round (wrapping around).
    start = (round_index * problems) % max(args.train_seeds - problems + 1, 1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derived_seed(args.seed, round_index, 0x0B5E))
        played = srl_gym.evaluation.evaluate(
            recorder, args.env_id, problems, start, difficulty=args.difficulty, split="train",
            batch_size=problems, **{k: v for k, v in env_options(args).items() if k != "difficulty"},
        )  # fmt: skip
    texts = problem_texts(args.env_id, range(start, start + problems), split="train", difficulty=args.difficulty)
    states = list(recorder.states.values())
    for state in states:  # which problem each state is of: its observation starts with the problem's text
        state["seed"] = next(start + i for i, text in enumerate(texts) if state["observation"].startswith(text))
    return {
        "round": round_index,
        "model": model_dir,
        "seeds": [start, start + problems],
        "success_rate": played.success_rate,
        "mean_length": played.mean_length,
        "valid_fraction": played.valid_fraction,
        "rollout_tokens": agent.generated_tokens,
        "states": states,
    }


def mixed_rows(args: Args, tokenizer: Any, states: Sequence[dict[str, Any]], round_index: int) -> Any:
    """One round's training set: SRL's number of instances, a share ``mix`` of them from ``states``."""
    from datasets import Dataset

    expert = task_rows(args, tokenizer, "step").remove_columns("completion")
    total = len(expert)
    onpolicy = round(args.mix * total) if states else 0
    rng = random.Random(derived_seed(args.seed, round_index, 0x5A3E))
    picks = rng.sample(range(total), total - onpolicy)
    rows = [dict(expert[i], **{SOURCE: "expert"}) for i in sorted(picks)]
    shared = {k: expert[0][k] for k in ("env_id", "split", "difficulty", "env_kwargs")}
    order = list(range(len(states)))
    rng.shuffle(order)
    for n in range(onpolicy):
        state = states[order[n % len(order)]]
        rows.append(
            {
                "prompt": format_prompt(state["observation"], "step", tokenizer),
                "expert_step": state["expert_step"],
                "observation": state["observation"],
                **shared,
                "seed": state["seed"],
                "step_index": state["step_index"],
                SOURCE: "onpolicy",
            }
        )
    return Dataset.from_list(rows)


def train(args: Args) -> TrainResult:
    """Run on-policy SRL; return every round's checkpoints (budgets from the start) and the final metrics."""
    args.validate()
    if args.mix == 0:  # plain SRL: the same run as `srl`
        return srl.train(dataclasses.replace(_srl_args(args), run_dir=str(Path(args.run_dir) / "round-0")))
    root = Path(args.run_dir)
    reward = named(srl_reward_func, "srl_reward", require_think=args.require_think, method=args.similarity)
    model_dir, offset, rollout_tokens = args.model, {}, 0.0
    checkpoints: list[Checkpoint] = []
    metrics: dict[str, Any] = {}
    updates = round_updates(args.total_updates, args.rounds)
    for k, count in enumerate(updates):
        record = _load_or_play(args, model_dir, k, root / "rollouts" / f"round-{k}.json")
        rollout_tokens += record["rollout_tokens"]
        round_args = dataclasses.replace(
            _srl_args(args),
            run_dir=str(root / f"round-{k}"), model=model_dir, total_updates=count,
            seed=derived_seed(args.seed, k) % 2**31, eval_before=args.eval_before and k == 0,
            eval_after=args.eval_after and k == len(updates) - 1,
        )  # fmt: skip
        done = saved_checkpoints(Path(round_args.run_dir)) if args.resume else []
        if done and done[-1].budget.get("updates") == count:
            result = TrainResult(done, {})
        else:
            round_args = dataclasses.replace(round_args, resume=args.resume and bool(done))
            result = train_grpo(round_args, "srl-onpolicy",
                                lambda tok, r=record, k=k: mixed_rows(args, tok, r["states"], k),
                                [reward], evaluate_modes=("step", "agent"))  # fmt: skip
        for c in result.checkpoints:
            budget = {key: v + offset.get(key, 0.0) for key, v in c.budget.items()}
            budget["generated_tokens"] = budget.get("generated_tokens", 0.0) + rollout_tokens - offset.get(
                "rollout_tokens", 0.0)
            budget["rollout_tokens"] = rollout_tokens
            checkpoints.append(Checkpoint(c.path, budget))
        offset = dict(checkpoints[-1].budget)
        model_dir = result.model_dir
        metrics |= {f"round{k}/{key}": v for key, v in result.metrics.items()}
        metrics |= {f"round{k}/rollout/success_rate": record["success_rate"],
                    f"round{k}/rollout/states": len(record["states"])}  # fmt: skip
    final = {key.split("/", 1)[1]: v for key, v in metrics.items() if key.startswith(f"round{len(updates) - 1}/eval/")}
    return TrainResult(_on_schedule(checkpoints, args.checkpoint_every), metrics | final | {"model_dir": model_dir})


def _srl_args(args: Args) -> srl.Args:
    """The SRL options of ``args`` (a round is an SRL run on its own data)."""
    return srl.Args(**{f.name: getattr(args, f.name) for f in dataclasses.fields(srl.Args)})


def _load_or_play(args: Args, model_dir: str, k: int, path: Path) -> dict[str, Any]:
    """Round ``k``'s recorded states: read back on resume (the same model), else played and saved first."""
    if args.resume and path.is_file():
        record = json.loads(path.read_text(encoding="utf-8"))
        if record.get("model") == model_dir:
            return record
    record = play(args, model_dir, k)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(record) + "\n")
    return record


def _on_schedule(checkpoints: list[Checkpoint], every: int) -> list[Checkpoint]:
    """The checkpoints at multiples of ``every`` updates, and the last (a round's end is saved for the next)."""
    if every <= 0:
        return checkpoints[-1:]
    return [c for i, c in enumerate(checkpoints) if i == len(checkpoints) - 1 or c.step % every == 0]


def train_cell(cell: Cell) -> TrainResult:
    """On-policy SRL in a comparison: the comparison's updates over ``onpolicy_rounds`` rounds, its mix."""
    config = cell.config
    return train(
        Args(
            run_dir=str(cell.run_dir / "srl-onpolicy"),
            total_updates=config.updates,
            learning_rate=config.learning_rate("srl", cell.model),
            max_new_tokens=step_tokens(cell),
            mix=config.onpolicy_mix,
            rounds=min(config.onpolicy_rounds, config.updates),
            rollout_problems=config.onpolicy_problems,
            **grpo_cell_options(cell),
            **cell_options(cell),
        )
    )


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Command line: ``srl-gym train srl-onpolicy --help``."""
    return run_cli(Args, train, argv, prog)


if __name__ == "__main__":
    sys.exit(main())
