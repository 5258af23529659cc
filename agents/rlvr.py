"""RLVR: outcome-reward GRPO on whole solutions, rewarded by the task's verifier.

The RLVR baseline of the SRL paper (Deng et al., 2025, arXiv:2510.25992), GRPO with a verifiable
reward: the model writes ``<think>...</think>`` and the whole solution, one "Step k: ..." line per
step; the steps are replayed from the problem's start and the task's verifier judges the answer
they end with (for planning tasks the answer is the plan itself). Reward 1 if it is right, else 0
(`srl_gym.agents.data.verify_solution`).

When no rollout of a prompt is ever right, every reward is 0, the group's std is 0 and dynamic
sampling drops it: nothing is learned (the failure SRL is meant to fix). Start from a model that
sometimes succeeds (an SFT or SRL checkpoint). Held-out evaluation: greedy whole solutions on the
test split, checked by the verifier.

Run: ``srl-gym train rlvr --model runs/sft/checkpoints/update-0000100/model --run-dir runs/rlvr``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from srl_gym.rewards import outcome_reward
from srl_gym.runs import run_cli

from srl_gym.episodes import env_options, solution_examples, verify_solution
from .grpo import GRPOArgs, GRPOExample, train_grpo
from .lm_agent import LMAgent, evaluate_solutions
from srl_gym.prompts import render_prompt


@dataclass
class Args(GRPOArgs):
    """RLVR: GRPO on whole solutions with the verifier's 0/1 outcome reward."""

    run_dir: str = field(default="runs/rlvr", metadata={"help": "the run directory (config, metrics, checkpoints)"})
    max_new_tokens: int = field(default=256, metadata={"help": "longest completion (monologue and whole solution)"})


def train(args: Args) -> dict[str, Any]:
    """Run RLVR; return the final metrics (``eval/success_rate``, ..., ``model_dir``)."""
    args.validate()
    options = env_options(args)
    train_problems = solution_examples(args.env_id, range(args.train_seeds), **options)
    held_out = solution_examples(args.env_id, range(args.eval_episodes), split="test", **options)

    def examples(tokenizer: Any) -> list[GRPOExample]:
        return [GRPOExample(render_prompt(tokenizer, e.observation, "solution"), e) for e in train_problems]

    def reward_fn(completions: Sequence[str], batch: Sequence[GRPOExample]) -> list[float]:
        return [
            outcome_reward(verify_solution(e.target.task, e.target.problem, c))
            for c, e in zip(completions, batch, strict=True)
        ]

    def evaluate(agent: LMAgent) -> dict[str, float]:
        return evaluate_solutions(agent, held_out)

    return train_grpo(args, "rlvr", examples, reward_fn, evaluate)


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Command line: ``srl-gym train rlvr --help``."""
    return run_cli(Args, train, argv, prog)


if __name__ == "__main__":
    sys.exit(main())
