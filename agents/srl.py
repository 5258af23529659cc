"""SRL: Supervised Reinforcement Learning, GRPO on step-wise instances with the similarity reward.

Deng et al., 2025, "Supervised Reinforcement Learning: From Expert Trajectories to Step-wise
Reasoning", arXiv:2510.25992. Each expert solution y_1..y_N becomes the instances
``[problem, y_1..y_{k-1}] -> y_k`` (`srl_gym.agents.data.step_instances`, read off the env with
teacher forcing). The model writes ``<think>...</think>`` and then only the next step; the reward
is ``difflib.SequenceMatcher(None, step, expert_step).ratio()`` = 2M/T of the text after
``</think>`` (the monologue is never scored), and -1 for a completion without ``</think>`` or
without a step. GRPO with dynamic sampling optimises it (`srl_gym.agents.grpo`).

The student must already follow the format or every reward is -1 (a stated limit of the paper):
start the tiny model from a short SFT warm-up (``--model runs/sft/checkpoints/.../model``).
Held-out evaluation: greedy steps on the test split's instances, scored the same way.

Run: ``srl-gym train srl --model runs/sft/checkpoints/update-0000100/model --run-dir runs/srl``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from srl_gym.rewards import srl_reward
from srl_gym.runs import run_cli

from srl_gym.episodes import env_options, step_instances
from .grpo import GRPOArgs, GRPOExample, train_grpo
from .lm_agent import LMAgent, evaluate_steps
from srl_gym.prompts import render_prompt


@dataclass
class Args(GRPOArgs):
    """SRL: GRPO on step-wise instances with the step-similarity reward (arXiv:2510.25992)."""

    run_dir: str = field(default="runs/srl", metadata={"help": "the run directory (config, metrics, checkpoints)"})
    similarity: Literal["difflib", "lcs", "exact"] = field(
        default="difflib", metadata={"help": "step similarity: difflib (the paper's 2M/T), lcs or exact"}
    )
    require_think: bool = field(
        default=True, metadata={"help": "reward -1 without </think> or without a step (the paper's format rule)"}
    )


def train(args: Args) -> dict[str, Any]:
    """Run SRL; return the final metrics (``eval/step_similarity``, ..., ``model_dir``)."""
    args.validate()
    options = env_options(args)
    train_instances = step_instances(args.env_id, range(args.train_seeds), **options)
    held_out = step_instances(args.env_id, range(args.eval_episodes), split="test", **options)

    def examples(tokenizer: Any) -> list[GRPOExample]:
        return [GRPOExample(render_prompt(tokenizer, i.observation, "step"), i.expert_step) for i in train_instances]

    def reward_fn(completions: Sequence[str], batch: Sequence[GRPOExample]) -> list[float]:
        return [
            srl_reward(c, e.target, require_think=args.require_think, method=args.similarity)
            for c, e in zip(completions, batch, strict=True)
        ]

    def evaluate(agent: LMAgent) -> dict[str, float]:
        return evaluate_steps(agent, held_out)

    return train_grpo(args, "srl", examples, reward_fn, evaluate)


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Command line: ``srl-gym train srl --help``."""
    return run_cli(Args, train, argv, prog)


if __name__ == "__main__":
    sys.exit(main())
