"""Behaviour cloning from the oracle expert, with DAgger: the SFT baseline of the discrete agents.

Supervised RL (Deng et al., https://arxiv.org/abs/2510.25992) compares SFT (imitate the expert's
solutions), SRL (a dense step-wise reward for matching the expert) and RLVR (outcome reward
only). This file is the SFT analogue for Stable-Baselines3 policies::

    srl-gym train bc --env-id srl/Hanoi-v0 --difficulty 0

1. Play the oracle on the TRAIN split and record (observation, expert action, legal-move mask).
2. Fit an SB3 policy by cross-entropy on its masked logits.
3. DAgger (``--dagger-iterations``, on by default): play the LEARNER (sampling from its policy,
   plus ``--dagger-noise`` random legal moves), label every state it visits with the oracle's
   move (``info["expert_action"]``: the oracle plans from any state), add them to the data, fit
   again. Plain BC only sees states on the expert's paths; on 3-disk Hanoi 5 of the 14 test
   starts lie on no expert path from a train start, and plain BC gets 26-66% test success
   (50 expert episodes; 66-81% with 200), while the default DAgger gets 100% on 6 of 6 seeds.
   ``--dagger-iterations 0`` gives plain BC.
4. Evaluate greedily on the TEST split (`srl_gym.evaluation.evaluate`).

The result is an ordinary SB3 model (``MaskablePPO`` by default, ``PPO`` with ``--masked false``)
saved as ``RUN_DIR/model.zip``: load it with ``MaskablePPO.load`` or fine-tune it with
``srl-gym train ppo --init-from RUN_DIR/model.zip`` (SFT -> RL). Only its policy network is
trained; the value network (separate, SB3's default) is left as initialised.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
import torch.nn.functional as F

from srl_gym.agents.sb3_common import (
    SB3Agent,
    cell_options,
    evaluate_model,
    make_env,
    make_logger,
    masked_logits,
    model_class,
    resolve_env_id,
    save_model_atomically,
    write_json_atomically,
)
from srl_gym.algorithms import Cell, Checkpoint, TrainResult
from srl_gym.config import parse_config
from srl_gym.env import agent_info


@dataclass
class Args:
    """Behaviour cloning (with DAgger) from the oracle expert on a task's discrete interface."""

    env_id: str = field(default="srl/Hanoi-v0", metadata={"help": "task id (see `srl-gym list`)"})
    difficulty: int = field(default=0, metadata={"help": "difficulty level, 0 the easiest"})
    seed: int = field(default=0, metadata={"help": "seed of the network, the data collection and the shuffling"})
    expert_episodes: int = field(default=50, metadata={"help": "oracle episodes on the train split (plain BC data)"})
    dagger_iterations: int = field(
        default=3, metadata={"help": "DAgger rounds: play the learner, label its states with the oracle; 0 = plain BC"}
    )
    dagger_episodes: int = field(default=50, metadata={"help": "learner episodes per DAgger round"})
    dagger_noise: float = field(
        default=0.2, metadata={"help": "chance of a random legal move in a DAgger rollout (visits states off its path)"}
    )
    epochs: int = field(default=30, metadata={"help": "passes over all the data after each collection"})
    learning_rate: float = field(default=1e-3, metadata={"help": "Adam learning rate"})
    batch_size: int = field(default=64, metadata={"help": "minibatch size"})
    net_arch: tuple[int, ...] = field(default=(64, 64), metadata={"help": "hidden layer sizes of the policy"})
    masked: bool = field(
        default=True, metadata={"help": "build a MaskablePPO model (sb3-contrib); false: a plain PPO model"}
    )
    device: str = field(default="cpu", metadata={"help": "torch device (cpu is faster for these small networks)"})
    torch_threads: int = field(
        default=1, metadata={"help": "torch CPU threads (1 is fastest for these small networks); 0: torch's default"}
    )
    eval_episodes: int = field(default=100, metadata={"help": "test-split episodes of the final evaluation"})
    eval_seed: int = field(default=0, metadata={"help": "seed of the evaluation (the same problems for every agent)"})
    out_dir: str = field(default="runs", metadata={"help": "folder of the runs"})
    run_name: str | None = field(default=None, metadata={"help": "run folder name; default bc-TASK-dD-sSEED"})
    tensorboard: bool = field(default=True, metadata={"help": "also log to TensorBoard (when it is installed)"})
    verbose: bool = field(default=True, metadata={"help": "print progress"})

    def validate(self) -> None:
        resolve_env_id(self.env_id, self.difficulty)
        for name in ("expert_episodes", "epochs", "batch_size", "eval_episodes"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        for name in ("dagger_iterations", "dagger_episodes"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.dagger_noise <= 1.0:
            raise ValueError(f"--dagger-noise must be in [0, 1], got {self.dagger_noise}")
        if not self.learning_rate > 0:
            raise ValueError(f"--learning-rate must be > 0, got {self.learning_rate}")
        if not self.net_arch or min(self.net_arch) < 1:
            raise ValueError(f"--net-arch needs positive layer sizes, got {self.net_arch}")

    def run_dir(self) -> Path:
        name = self.run_name or f"bc-{self.env_id.split('/')[-1]}-d{self.difficulty}-s{self.seed}"
        return Path(self.out_dir) / name


# ---------------------------------------------------------------------------- data: states the oracle labels
@dataclass
class Demonstrations:
    """Observations, the oracle's action in each, and the legal-move masks (growing arrays)."""

    observations: list[np.ndarray] = field(default_factory=list)
    actions: list[int] = field(default_factory=list)
    masks: list[np.ndarray] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.actions)

    def tensors(self) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        obs = th.as_tensor(np.stack(self.observations), dtype=th.float32)
        return obs, th.as_tensor(self.actions, dtype=th.long), th.as_tensor(np.stack(self.masks)).bool()


def collect(
    env: Any,
    episodes: int,
    data: Demonstrations,
    learner: SB3Agent | None = None,
    noise: float = 0.0,
    rng: np.random.Generator | None = None,
) -> float:
    """Play ``episodes`` episodes, recording every state with the oracle's action; return the success rate.

    The oracle plays when ``learner`` is None (plain BC); otherwise the learner plays, with a
    random legal move instead with probability ``noise`` (DAgger). Episodes continue ``env``'s
    own RNG, so the problems follow from the seed of its first reset.
    """
    solved = 0
    for _ in range(episodes):
        obs, info = env.reset()
        while True:
            data.observations.append(obs)
            data.actions.append(int(info["expert_action"]))
            data.masks.append(info["action_mask"])
            if learner is None:
                action = info["expert_action"]
            elif rng is not None and rng.random() < noise:
                action = int(rng.choice(np.flatnonzero(info["action_mask"])))
            else:
                action = learner.act(obs, agent_info(info))  # the learner never sees the oracle's keys
            obs, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                solved += bool(info["solved"])
                break
    return solved / episodes


# ---------------------------------------------------------------------------- the learner: masked cross-entropy
def fit(model: Any, data: Demonstrations, args: Args, generator: th.Generator, logger: Any, epoch0: int) -> int:
    """``args.epochs`` passes of minibatch cross-entropy over ``data``; return the next epoch number."""
    policy = model.policy
    policy.set_training_mode(True)
    observations, actions, masks = data.tensors()
    for epoch in range(epoch0, epoch0 + args.epochs):
        losses, correct = [], 0
        order = th.randperm(len(data), generator=generator)
        for start in range(0, len(data), args.batch_size):
            idx = order[start : start + args.batch_size]
            logits = masked_logits(policy, observations[idx], masks[idx])
            loss = F.cross_entropy(logits, actions[idx])
            policy.optimizer.zero_grad()
            loss.backward()
            policy.optimizer.step()
            losses.append(loss.item())
            correct += int((logits.argmax(dim=1) == actions[idx]).sum())
        logger.record("train/loss", float(np.mean(losses)))
        logger.record("train/accuracy", correct / len(data))
        logger.record("train/samples", len(data))
        logger.record("train/epoch", epoch + 1)
        logger.dump(step=epoch + 1)
    policy.set_training_mode(False)
    return epoch0 + args.epochs


# ---------------------------------------------------------------------------- the run
def train(args: Args) -> TrainResult:
    """Behaviour-clone the oracle (with DAgger rounds), save ``RUN_DIR/model.zip``, evaluate on the test split.

    Returns the model as the run's one checkpoint (its budget: the oracle labels it was fitted on)
    and the ``eval/...`` metrics (see `evaluate_model`) with ``train/...`` totals, the wall time,
    the model path and the run folder; the metrics are also written to ``RUN_DIR/metrics.json``.
    """
    args.validate()
    started = time.perf_counter()
    if args.torch_threads:
        th.set_num_threads(args.torch_threads)
    env_id = resolve_env_id(args.env_id, args.difficulty)
    run_dir = args.run_dir()
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomically(dataclasses.asdict(args), run_dir / "config.json")
    logger = make_logger(run_dir, args.verbose, args.tensorboard)

    env = make_env(env_id, args.difficulty, split="train", masked=args.masked)
    model = model_class(args.masked)(
        "MlpPolicy",
        env,
        learning_rate=args.learning_rate,
        policy_kwargs={"net_arch": list(args.net_arch)},
        seed=args.seed,
        device=args.device,
    )
    env.reset(seed=args.seed)  # seeds the stream of problems that every collect() continues
    rng = np.random.default_rng(args.seed)
    generator = th.Generator().manual_seed(args.seed)

    data = Demonstrations()
    collect(env, args.expert_episodes, data)
    epoch = fit(model, data, args, generator, logger, 0)
    learner = SB3Agent(model, deterministic=False)
    for round_ in range(1, args.dagger_iterations + 1):
        success = collect(env, args.dagger_episodes, data, learner, args.dagger_noise, rng)
        logger.record("rollout/dagger_round", round_)
        logger.record("rollout/success_rate", success)
        epoch = fit(model, data, args, generator, logger, epoch)
    env.close()

    model_path = save_model_atomically(model, run_dir / "model.zip")
    metrics = evaluate_model(model, env_id, args.difficulty, args.eval_episodes, args.eval_seed)
    for key, value in metrics.items():
        logger.record(key, value)
    logger.dump(step=epoch)
    logger.close()
    metrics |= {
        "train/samples": len(data),
        "train/epochs": epoch,
        "time/wall_s": time.perf_counter() - started,
        "model_path": str(model_path),
        "run_dir": str(run_dir),
    }
    write_json_atomically(metrics, run_dir / "metrics.json")
    labels = float(len(data))
    return TrainResult([Checkpoint(str(model_path), {"env_steps": labels, "expert_labels": labels})], metrics)


def train_cell(cell: Cell) -> TrainResult:
    """BC in a comparison: behaviour cloning with DAgger from the oracle (the SFT analogue)."""
    config = cell.config
    return train(
        Args(
            run_name="bc",
            expert_episodes=config.bc_expert_episodes,
            dagger_iterations=config.bc_dagger_iterations,
            dagger_episodes=config.bc_expert_episodes,
            verbose=False,
            **cell_options(cell),
        )
    )


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    args = parse_config(Args, argv, prog=prog)
    metrics = train(args).metrics
    print(
        f"bc {args.env_id} difficulty={args.difficulty}: test success {metrics['eval/greedy_success']:.3f} "
        f"(95% CI {metrics['eval/greedy_success_ci95_low']:.3f}-{metrics['eval/greedy_success_ci95_high']:.3f}), "
        f"step similarity {metrics['eval/step_similarity']:.3f}, length {metrics['eval/mean_length']:.2f}; "
        f"model {metrics['model_path']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
