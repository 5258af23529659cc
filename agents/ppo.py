"""PPO on a task's discrete interface: the SRL analogue (dense expert-matching reward) and the RL analogue.

Supervised RL (Deng et al., https://arxiv.org/abs/2510.25992) rewards each step by its
similarity to the expert's step; RLVR rewards only a verified final answer. With Stable-Baselines3::

    srl-gym train ppo --reward srl      # SRL analogue: similarity to the oracle's step - 1, + solve bonus
    srl-gym train ppo --reward outcome  # RL analogue: 1 when the problem is solved, else 0
    srl-gym train ppo --init-from runs/bc-Hanoi-v0-d0-s0/model.zip   # SFT -> RL: fine-tune a `bc` model

The agent is sb3-contrib's ``MaskablePPO``, which never picks an illegal move: the mask comes from
the env's own ``action_masks()`` (no ``ActionMasker``); SB3 logs the env's ``info["is_success"]`` as
``rollout/success_rate``. ``--masked false`` gives plain PPO, which
must learn to avoid illegal moves from the env's invalid-step penalty.

Run folder (``--out-dir``/``--run-name``): ``progress.json``/``progress.csv`` (SB3's logger:
``rollout/``, ``train/``, ``time/`` and ``eval/`` keys), TensorBoard events when tensorboard is
installed, ``checkpoints/rl_model_N_steps.zip`` every ``--checkpoint-every`` steps, ``model.zip``
(the final model), ``metrics.json`` (the final test-split evaluation) and ``config.json``.

Checkpoints are written at the start of a rollout, right after an update, so a checkpoint holds
everything that step count paid for; they are saved to a temp file and renamed, so a crash never
leaves a broken one. ``--resume true`` continues the run from its latest checkpoint (model,
optimiser and step count; the hyper-parameters are the checkpoint's), so an interrupted run loses
at most the steps since that checkpoint, and ``progress.json``/``.csv`` keep their rows up to it.
A fixed ``--seed`` gives the same run on CPU.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Literal

import torch as th
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.save_util import load_from_zip_file
from stable_baselines3.common.utils import LinearSchedule
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv

from srl_gym.agents.sb3_common import (
    cell_options,
    evaluate_model,
    make_env,
    make_logger,
    model_class,
    resolve_env_id,
    save_model_atomically,
    write_json_atomically,
)
from srl_gym.algorithms import Cell, Checkpoint, TrainResult
from srl_gym.config import parse_config
from srl_gym.runs import read_json_lines

#: Settings that define what a run learns: resuming with other values is refused.
RUN_IDENTITY = ("env_id", "difficulty", "reward", "similarity", "masked")


@dataclass
class Args:
    """PPO (MaskablePPO by default) on a task's discrete interface, with the SRL or the outcome reward."""

    env_id: str = field(default="srl/Hanoi-v0", metadata={"help": "task id (see `srl-gym list`)"})
    difficulty: int = field(default=0, metadata={"help": "difficulty level, 0 the easiest"})
    reward: Literal["srl", "outcome", "mixed"] = field(
        default="srl", metadata={"help": "srl: dense expert-matching reward; outcome: 1 if solved; mixed: their mean"}
    )
    similarity: Literal["difflib", "lcs", "exact"] = field(
        default="difflib", metadata={"help": "step similarity of the srl reward: difflib (the paper's), lcs, exact"}
    )
    masked: bool = field(
        default=True, metadata={"help": "MaskablePPO with the env's legal-move mask (sb3-contrib); false: plain PPO"}
    )
    total_timesteps: int = field(default=50_000, metadata={"help": "env steps of the whole run"})
    n_envs: int = field(default=8, metadata={"help": "parallel envs"})
    vec_env: Literal["dummy", "subproc"] = field(
        default="dummy", metadata={"help": "dummy: envs in this process (fastest for cheap envs); subproc: one each"}
    )
    seed: int = field(default=0, metadata={"help": "seed of the network, the sampling and the problems"})
    learning_rate: float = field(default=3e-3, metadata={"help": "Adam learning rate (at the start, with --anneal-lr)"})
    anneal_lr: bool = field(default=True, metadata={"help": "decay the learning rate linearly to 0 over the run"})
    n_steps: int = field(default=64, metadata={"help": "steps per env per rollout"})
    batch_size: int = field(default=128, metadata={"help": "minibatch size"})
    n_epochs: int = field(default=10, metadata={"help": "passes over each rollout"})
    gamma: float = field(default=0.99, metadata={"help": "discount factor"})
    gae_lambda: float = field(default=0.95, metadata={"help": "GAE lambda"})
    clip_range: float = field(default=0.2, metadata={"help": "PPO clipping range"})
    ent_coef: float = field(
        default=0.05, metadata={"help": "entropy bonus (lower values let the policy settle into move-undo loops)"}
    )
    net_arch: tuple[int, ...] = field(
        default=(64, 64), metadata={"help": "hidden layer sizes (with --init-from: the checkpoint's)"}
    )
    device: str = field(default="cpu", metadata={"help": "torch device (cpu is faster for these small networks)"})
    torch_threads: int = field(
        default=1, metadata={"help": "torch CPU threads (1 is fastest for these small networks); 0: torch's default"}
    )
    init_from: str | None = field(
        default=None, metadata={"help": "start from this model's policy, e.g. RUN_DIR/model.zip of `srl-gym train bc`"}
    )
    out_dir: str = field(default="runs", metadata={"help": "folder of the runs"})
    run_name: str | None = field(default=None, metadata={"help": "run folder name; default ppo-TASK-dD-REWARD-sSEED"})
    checkpoint_every: int = field(
        default=10_000, metadata={"help": "env steps between checkpoints; 0: only at the end"}
    )
    resume: bool = field(default=False, metadata={"help": "continue the run from its latest checkpoint"})
    eval_every: int = field(
        default=10_000, metadata={"help": "env steps between test-split evaluations (eval/ keys); 0: only at the end"}
    )
    eval_episodes: int = field(default=100, metadata={"help": "test-split episodes per evaluation"})
    eval_seed: int = field(default=0, metadata={"help": "seed of the evaluation (the same problems for every agent)"})
    progress_bar: bool = field(
        default=True, metadata={"help": "show SB3's progress bar (when tqdm and rich are installed)"}
    )
    tensorboard: bool = field(default=True, metadata={"help": "also log to TensorBoard (when it is installed)"})
    verbose: bool = field(default=False, metadata={"help": "print SB3's log table after each rollout"})

    def validate(self) -> None:
        resolve_env_id(self.env_id, self.difficulty)
        for name in ("total_timesteps", "n_envs", "n_steps", "batch_size", "n_epochs", "eval_episodes"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        for name in ("checkpoint_every", "eval_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}")
        if self.n_steps * self.n_envs < 2:
            raise ValueError("--n-steps times --n-envs must be at least 2 (PPO normalises advantages over a rollout)")
        if self.batch_size > self.n_steps * self.n_envs:
            raise ValueError(
                f"--batch-size {self.batch_size} is larger than a rollout (--n-steps x --n-envs = "
                f"{self.n_steps * self.n_envs}); lower it or raise --n-steps"
            )
        if not self.learning_rate > 0:
            raise ValueError(f"--learning-rate must be > 0, got {self.learning_rate}")
        if not self.net_arch or min(self.net_arch) < 1:
            raise ValueError(f"--net-arch needs positive layer sizes, got {self.net_arch}")
        if self.init_from is not None and not self.resume and not Path(self.init_from).is_file():
            raise ValueError(
                f"--init-from: no file {self.init_from!r}; pass the model.zip that `srl-gym train bc` "
                "wrote in its run folder (e.g. runs/bc-Hanoi-v0-d0-s0/model.zip), or leave --init-from out"
            )

    def run_dir(self) -> Path:
        name = self.run_name or f"ppo-{self.env_id.split('/')[-1]}-d{self.difficulty}-{self.reward}-s{self.seed}"
        return Path(self.out_dir) / name


# ---------------------------------------------------------------------------- envs
def make_vec(args: Args, env_id: str, seed: int) -> VecEnv:
    """``args.n_envs`` train-split envs (each in SB3's ``Monitor``), seeded ``seed``, ``seed + 1``, ..."""
    return make_vec_env(
        partial(make_env, env_id, args.difficulty, args.reward, "train", args.masked, similarity=args.similarity),
        n_envs=args.n_envs,
        seed=seed,
        vec_env_cls=SubprocVecEnv if args.vec_env == "subproc" else DummyVecEnv,
    )


# ---------------------------------------------------------------------------- the model
def make_model(args: Args, env: VecEnv) -> Any:
    """A fresh (Maskable)PPO on ``env``; with ``--init-from``, its policy weights come from that model."""
    policy_kwargs: dict[str, Any] = {"net_arch": list(args.net_arch)}
    init_params = None
    if args.init_from is not None:
        data, params, _ = load_from_zip_file(args.init_from, device=args.device)
        if not data or "policy" not in params:
            raise ValueError(f"--init-from: {args.init_from!r} is not a Stable-Baselines3 model file")
        for space in ("observation_space", "action_space"):
            if data.get(space) != getattr(env, space):
                raise ValueError(
                    f"--init-from: {args.init_from} was trained with {space} {data.get(space)}, but "
                    f"{args.env_id} difficulty {args.difficulty} has {getattr(env, space)}; "
                    "use the --env-id and --difficulty it was trained on"
                )
        policy_kwargs = data.get("policy_kwargs") or policy_kwargs
        init_params = {"policy": params["policy"]}
    model = model_class(args.masked)(
        "MlpPolicy",
        env,
        learning_rate=LinearSchedule(args.learning_rate, 0.0, 1.0) if args.anneal_lr else args.learning_rate,
        n_steps=args.n_steps,
        batch_size=args.batch_size,
        n_epochs=args.n_epochs,
        gamma=args.gamma,
        gae_lambda=args.gae_lambda,
        clip_range=args.clip_range,
        ent_coef=args.ent_coef,
        policy_kwargs=policy_kwargs,
        seed=args.seed,
        device=args.device,
    )
    if init_params is not None:
        # The policy only (actor and critic weights): the optimiser starts afresh with PPO's learning rate.
        model.set_parameters(init_params, exact_match=False, device=args.device)
    return model


# ---------------------------------------------------------------------------- checkpoints and evaluation
def checkpoint_path(folder: Path, steps: int) -> Path:
    return folder / f"rl_model_{steps}_steps.zip"  # the name SB3's CheckpointCallback uses


def latest_checkpoint(folder: Path) -> Path | None:
    """The checkpoint with the most steps in ``folder``, or None."""
    found = [
        (int(m.group(1)), p) for p in folder.glob("rl_model_*_steps.zip") if (m := re.search(r"_(\d+)_steps", p.name))
    ]
    return max(found)[1] if found else None


class AtomicCheckpoints(BaseCallback):
    """Saves the model every ``every`` env steps, at the first rollout start past each multiple of ``every``.

    Unlike SB3's ``CheckpointCallback`` (which saves mid-rollout, from the step counter), a save
    here follows an update, so the step count in its name is exactly what its weights have seen,
    and the file is written to a temp name and renamed.
    """

    def __init__(self, folder: Path, every: int) -> None:
        super().__init__()
        self.folder, self.every, self.last = folder, every, 0

    def _on_training_start(self) -> None:
        self.last = self.model.num_timesteps

    def _on_rollout_start(self) -> None:
        steps = self.model.num_timesteps
        if self.every and steps // self.every > self.last // self.every:
            save_model_atomically(self.model, checkpoint_path(self.folder, steps))
            self.last = steps

    def _on_step(self) -> bool:
        return True


class EvalOnTestSplit(BaseCallback):
    """Records ``eval/...`` (test split) every ``every`` env steps, in the same log row as that rollout."""

    def __init__(self, every: int, evaluate: Callable[[Any], dict]) -> None:
        super().__init__()
        self.every, self.evaluate, self.last = every, evaluate, 0

    def _on_training_start(self) -> None:
        self.last = self.model.num_timesteps

    def _on_rollout_end(self) -> None:
        steps = self.model.num_timesteps
        if self.every and steps // self.every > self.last // self.every:
            for key, value in self.evaluate(self.model).items():
                self.logger.record(key, value)
            self.last = steps

    def _on_step(self) -> bool:
        return True


def replay_log(logger: Any, rows: list[dict], upto: int) -> None:
    """Write the previous segment's log rows up to step ``upto`` into the new json/csv files."""
    for row in rows:
        steps = row.get("time/total_timesteps")
        if steps is None or steps > upto:
            continue
        for key, value in row.items():
            logger.record(key, value, exclude=("stdout", "tensorboard"))
        logger.dump(step=int(steps))


def read_log(run_dir: Path) -> list[dict]:
    return read_json_lines(run_dir / "progress.json")


# ---------------------------------------------------------------------------- the run
def train(args: Args, callbacks: Sequence[BaseCallback] = ()) -> TrainResult:
    """Train PPO, checkpointing as it goes; save ``RUN_DIR/model.zip``; evaluate it on the test split.

    Returns the run's checkpoints (each with the env steps it had seen; the last is the final
    model) and the final ``eval/...`` metrics (see `evaluate_model`) with ``train/timesteps``, the
    wall time, the model path and the run folder; the metrics are also written to
    ``RUN_DIR/metrics.json``. ``callbacks`` are extra SB3 callbacks (e.g. to stop early).
    """
    args.validate()
    started = time.perf_counter()
    if args.torch_threads:
        th.set_num_threads(args.torch_threads)
    env_id = resolve_env_id(args.env_id, args.difficulty)
    run_dir = args.run_dir()
    checkpoints = run_dir / "checkpoints"
    resume_from = latest_checkpoint(checkpoints)
    if args.resume:
        if resume_from is None:
            raise ValueError(f"--resume: {checkpoints} holds no checkpoint; start the run without --resume")
        config = run_dir / "config.json"
        saved = json.loads(config.read_text(encoding="utf-8")) if config.is_file() else dataclasses.asdict(args)
        changed = [k for k in RUN_IDENTITY if saved.get(k) != dataclasses.asdict(args)[k]]
        if changed:
            raise ValueError(f"--resume: {run_dir} was run with other {', '.join(changed)}: use the same values")
    elif resume_from is not None:
        raise ValueError(
            f"{run_dir} already holds checkpoints: pass --resume true to continue it, or choose another "
            "--run-name or --out-dir"
        )
    old_rows = read_log(run_dir) if args.resume else []
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomically(dataclasses.asdict(args), run_dir / "config.json")

    if args.resume:
        model = model_class(args.masked).load(resume_from, device=args.device)
        # Seeding from the step count keeps a resumed run reproducible without saving RNG states.
        env = make_vec(args, env_id, seed=args.seed + model.num_timesteps)
        model.set_env(env)
        model.set_random_seed(args.seed + model.num_timesteps)
    else:
        env = make_vec(args, env_id, seed=args.seed)
        model = make_model(args, env)
    logger = make_logger(run_dir, args.verbose, args.tensorboard)
    replay_log(logger, old_rows, upto=model.num_timesteps)
    model.set_logger(logger)

    def evaluate(m: Any) -> dict:
        return evaluate_model(
            m, env_id, args.difficulty, args.eval_episodes, args.eval_seed, args.reward, similarity=args.similarity
        )

    remaining = args.total_timesteps - model.num_timesteps
    try:
        if remaining > 0:
            model.learn(
                total_timesteps=remaining,
                callback=[
                    AtomicCheckpoints(checkpoints, args.checkpoint_every),
                    EvalOnTestSplit(args.eval_every, evaluate),
                    *callbacks,
                ],
                reset_num_timesteps=not args.resume,
                progress_bar=args.progress_bar and find_spec("tqdm") is not None and find_spec("rich") is not None,
            )
        final = checkpoint_path(checkpoints, model.num_timesteps)
        if not final.exists():
            save_model_atomically(model, final)
        model_path = save_model_atomically(model, run_dir / "model.zip")

        metrics = evaluate(model)
        for key, value in metrics.items():
            logger.record(key, value)
        logger.record("time/total_timesteps", model.num_timesteps)
        logger.dump(step=model.num_timesteps)
    finally:
        env.close()
        logger.close()
    metrics |= {
        "train/timesteps": model.num_timesteps,
        "time/wall_s": time.perf_counter() - started,
        "model_path": str(model_path),
        "run_dir": str(run_dir),
    }
    write_json_atomically(metrics, run_dir / "metrics.json")
    return TrainResult(saved_checkpoints(checkpoints), metrics)


def saved_checkpoints(folder: Path) -> list[Checkpoint]:
    """Every checkpoint in ``folder`` in training order, with the env steps its weights have seen."""
    found = sorted(
        (int(m.group(1)), p) for p in folder.glob("rl_model_*_steps.zip") if (m := re.search(r"_(\d+)_steps", p.name))
    )
    return [Checkpoint(str(path), {"env_steps": float(steps), "expert_labels": 0.0}) for steps, path in found]


def train_cell(cell: Cell, reward: str = "srl") -> TrainResult:
    """PPO in a comparison: MaskablePPO with the ``reward`` ("srl" or "outcome") for ``ppo_timesteps`` steps."""
    config = cell.config
    return train(
        Args(
            run_name=f"ppo-{reward}",
            reward=reward,
            total_timesteps=config.ppo_timesteps,
            checkpoint_every=max(1, math.ceil(config.ppo_timesteps / config.curve_points)),
            eval_every=0,
            progress_bar=False,
            **cell_options(cell),
        )
    )


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    args = parse_config(Args, argv, prog=prog)
    try:
        metrics = train(args).metrics
    except KeyboardInterrupt:
        last = latest_checkpoint(args.run_dir() / "checkpoints")
        print(
            f"\ninterrupted; the latest checkpoint is {last}. Continue with the same options and --resume true",
            file=sys.stderr,
        )
        return 130
    print(
        f"ppo ({args.reward} reward) {args.env_id} difficulty={args.difficulty}, {metrics['train/timesteps']} steps: "
        f"test success {metrics['eval/greedy_success']:.3f} "
        f"(95% CI {metrics['eval/greedy_success_ci95_low']:.3f}-{metrics['eval/greedy_success_ci95_high']:.3f}), "
        f"step similarity {metrics['eval/step_similarity']:.3f}, length {metrics['eval/mean_length']:.2f}; "
        f"model {metrics['model_path']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
