"""The discrete Stable-Baselines3 agents: behaviour cloning (`bc`) and (Maskable)PPO (`ppo`).

The learning tests train on 3-disk Hanoi (srl/Hanoi-v0, difficulty 0) and evaluate greedily on
the TEST split. Budgets were measured (CPU, one torch thread, seeds 0-7): BC with DAgger gets
100% on every seed in ~3 s; PPO with the SRL reward gets 92-100% (100% on 7 of 8 seeds) at
16,384 env steps in ~7 s."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch as th
from sb3_contrib import MaskablePPO
from stable_baselines3.common.callbacks import BaseCallback

from srl_gym.agents import bc, ppo
from srl_gym.agents.sb3_common import SB3Agent, evaluate_model, make_env, masked_logits
from srl_gym.evaluation import evaluate

ENV_ID = "srl/Hanoi-v0"
SOLVED = 0.9  # the success rate that counts as "solves 3-disk Hanoi"
PPO_BUDGET = 16_384  # env steps: PPO-srl gets >= 92% test success here on 8 of 8 seeds


def quiet(**kwargs):
    """Options that keep a test run silent and small on disk."""
    return {"verbose": False, "tensorboard": False, **kwargs}


def ppo_args(tmp_path, **kwargs) -> ppo.Args:
    return ppo.Args(out_dir=str(tmp_path), progress_bar=False, **quiet(**kwargs))


def read_log(run_dir) -> list[dict]:
    with open(f"{run_dir}/progress.json", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def report(name: str, metrics: dict, record_property, capsys) -> None:
    """Show a learning test's result in the pytest output and in its JUnit properties."""
    record_property(f"{name}_success_rate", metrics["eval/greedy_success"])
    with capsys.disabled():
        print(
            f"\n{name}: test success {metrics['eval/greedy_success']:.2f}, step similarity "
            f"{metrics['eval/step_similarity']:.3f}, length {metrics['eval/mean_length']:.2f}"
        )


def policy_params(model) -> dict[str, th.Tensor]:
    return {k: v.detach().clone() for k, v in model.policy.state_dict().items()}


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Small networks run fastest on one thread (what the agents' --torch-threads 1 does too)."""
    threads = th.get_num_threads()
    th.set_num_threads(1)
    yield
    th.set_num_threads(threads)


@pytest.fixture(scope="module")
def bc_run(tmp_path_factory) -> dict:
    return bc.train(bc.Args(out_dir=str(tmp_path_factory.mktemp("bc")), **quiet())).metrics


# ---------------------------------------------------------------------------- learning happens
def test_untrained_policy_is_far_below_the_bar():
    env = make_env(ENV_ID, 0)
    metrics = evaluate_model(MaskablePPO("MlpPolicy", env, seed=0), ENV_ID, 0, episodes=100, seed=0)
    assert metrics["eval/greedy_success"] < 0.5
    assert metrics["eval/episodes"] == 100


@pytest.mark.slow
def test_bc_with_dagger_solves_3_disk_hanoi(bc_run, record_property, capsys):
    report("bc", bc_run, record_property, capsys)
    assert bc_run["eval/greedy_success"] >= SOLVED, bc_run
    # The saved file is an ordinary SB3 model that plays the same way once loaded.
    model = MaskablePPO.load(bc_run["model_path"], device="cpu")
    again = evaluate_model(model, ENV_ID, 0, episodes=100, seed=0)
    assert again["eval/greedy_success"] == bc_run["eval/greedy_success"]


@pytest.mark.slow
def test_ppo_with_srl_reward_solves_3_disk_hanoi(tmp_path, record_property, capsys):
    metrics = ppo.train(ppo_args(tmp_path, reward="srl", total_timesteps=PPO_BUDGET, eval_every=8192)).metrics
    report(f"ppo_srl_{PPO_BUDGET}_steps", metrics, record_property, capsys)
    assert metrics["eval/greedy_success"] >= SOLVED, metrics
    assert metrics["train/timesteps"] == PPO_BUDGET
    rows = read_log(metrics["run_dir"])
    keys = set().union(*rows)
    assert {"rollout/success_rate", "rollout/ep_rew_mean", "train/loss", "eval/greedy_success"} <= keys
    assert (tmp_path / "ppo-Hanoi-v0-d0-srl-s0" / "progress.csv").is_file()
    saved = json.loads((tmp_path / "ppo-Hanoi-v0-d0-srl-s0" / "metrics.json").read_text())
    assert saved["eval/greedy_success"] == metrics["eval/greedy_success"]


@pytest.mark.slow
def test_ppo_with_outcome_reward_runs_and_reports(tmp_path, record_property, capsys):
    # Expected to trail the SRL reward (it is close on 3-disk Hanoi, where 26% of random episodes
    # solve the problem): only check that it runs and reports.
    metrics = ppo.train(ppo_args(tmp_path, reward="outcome", total_timesteps=PPO_BUDGET, eval_every=0)).metrics
    assert 0.0 <= metrics["eval/greedy_success"] <= 1.0 and metrics["train/timesteps"] == PPO_BUDGET
    report(f"ppo_outcome_{PPO_BUDGET}_steps", metrics, record_property, capsys)


# ---------------------------------------------------------------------------- SFT -> RL: PPO starts from a BC model
def test_init_from_starts_ppo_from_the_bc_policy(bc_run, tmp_path):
    args = ppo_args(tmp_path, init_from=bc_run["model_path"])
    env = ppo.make_vec(args, ENV_ID, seed=0)
    model = ppo.make_model(args, env)
    expected = policy_params(MaskablePPO.load(bc_run["model_path"], device="cpu"))
    assert all(th.equal(v, expected[k]) for k, v in policy_params(model).items())
    assert evaluate_model(model, ENV_ID, 0, 100, 0)["eval/greedy_success"] == bc_run["eval/greedy_success"]

    with pytest.raises(ValueError, match="--init-from.*--difficulty it was trained on"):
        other = ppo_args(tmp_path, init_from=bc_run["model_path"], difficulty=1)
        ppo.make_model(other, ppo.make_vec(other, ENV_ID, seed=0))


# ---------------------------------------------------------------------------- checkpoints and resume
class Interrupt(Exception):
    pass


class InterruptAt(BaseCallback):
    """Raises (like Ctrl-C) once the run passes ``steps`` env steps, in the middle of a rollout."""

    def __init__(self, steps: int) -> None:
        super().__init__()
        self.steps = steps

    def _on_step(self) -> bool:
        if self.num_timesteps >= self.steps:
            raise Interrupt
        return True


def test_interrupted_run_resumes_from_its_latest_checkpoint(tmp_path):
    # A rollout is 4 envs x 64 steps = 256 env steps; checkpoints every 512.
    options = {"n_envs": 4, "n_steps": 64, "batch_size": 128, "n_epochs": 2, "checkpoint_every": 512}
    args = ppo_args(tmp_path, total_timesteps=2048, eval_every=0, **options)
    checkpoints = args.run_dir() / "checkpoints"
    with pytest.raises(Interrupt):
        ppo.train(args, callbacks=[InterruptAt(1100)])
    before = {p.name: p.read_bytes() for p in checkpoints.iterdir()}
    assert sorted(before) == ["rl_model_1024_steps.zip", "rl_model_512_steps.zip"]  # no temp files left either
    assert max(r["time/total_timesteps"] for r in read_log(args.run_dir())) == 1024  # the last rollout before 1100

    with pytest.raises(ValueError, match="--resume"):  # a second start would clobber the run
        ppo.train(args)
    assert MaskablePPO.load(checkpoints / "rl_model_1024_steps.zip").num_timesteps == 1024

    args.resume = True
    metrics = ppo.train(args).metrics
    assert metrics["train/timesteps"] == 2048
    after = sorted(checkpoints.iterdir(), key=lambda p: int(p.name.split("_")[2]))
    assert [p.name for p in after] == [f"rl_model_{n}_steps.zip" for n in (512, 1024, 1536, 2048)]
    assert all(before[name] == (checkpoints / name).read_bytes() for name in before)  # nothing lost or rewritten
    steps = [r["time/total_timesteps"] for r in read_log(args.run_dir()) if "rollout/ep_rew_mean" in r]
    assert steps == list(range(256, 2049, 256))  # one log row per rollout, across the interruption
    assert MaskablePPO.load(metrics["model_path"]).num_timesteps == 2048


def test_resume_without_a_checkpoint_says_so(tmp_path):
    with pytest.raises(ValueError, match="no checkpoint.*without --resume"):
        ppo.train(ppo_args(tmp_path, total_timesteps=256, n_envs=2, resume=True))


def test_ctrl_c_points_to_resume(tmp_path, monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(ppo, "train", interrupted)
    assert ppo.main(["--out-dir", str(tmp_path)]) == 130
    assert "--resume true" in capsys.readouterr().err


# ---------------------------------------------------------------------------- determinism
def test_ppo_same_seed_gives_the_same_run(tmp_path):
    runs = []
    for name in ("a", "b", "c"):
        seed = 1 if name == "c" else 0
        args = ppo_args(tmp_path, run_name=name, seed=seed, total_timesteps=2048, eval_every=1024)
        metrics = ppo.train(args).metrics
        runs.append((metrics, policy_params(MaskablePPO.load(metrics["model_path"], device="cpu"))))
    (m_a, p_a), (m_b, p_b), (_, p_c) = runs
    assert all(th.equal(p_a[k], p_b[k]) for k in p_a)
    assert {k: v for k, v in m_a.items() if k.startswith("eval/")} == {
        k: v for k, v in m_b.items() if k.startswith("eval/")
    }
    assert not all(th.equal(p_a[k], p_c[k]) for k in p_a)


def test_bc_same_seed_gives_the_same_model(tmp_path):
    args = {"expert_episodes": 10, "dagger_iterations": 1, "dagger_episodes": 10, "epochs": 3, "eval_episodes": 20}
    params = []
    for name in ("a", "b"):
        metrics = bc.train(bc.Args(out_dir=str(tmp_path), run_name=name, **quiet(**args))).metrics
        params.append(policy_params(MaskablePPO.load(metrics["model_path"], device="cpu")))
    assert all(th.equal(params[0][k], params[1][k]) for k in params[0])


@pytest.mark.slow
def test_subprocess_envs_give_the_same_run_as_in_process_envs(tmp_path):
    params = []
    for vec_env in ("dummy", "subproc"):
        args = ppo_args(tmp_path, run_name=vec_env, vec_env=vec_env, n_envs=2, total_timesteps=512, eval_every=0)
        metrics = ppo.train(args).metrics
        params.append(policy_params(MaskablePPO.load(metrics["model_path"], device="cpu")))
    assert all(th.equal(params[0][k], params[1][k]) for k in params[0])


# ---------------------------------------------------------------------------- the evaluation adapter
def test_sb3_agent_picks_the_best_legal_action():
    env = make_env(ENV_ID, 0)
    model = MaskablePPO("MlpPolicy", env, seed=0)
    obs, info = env.reset(seed=3)
    expected, _ = model.predict(obs, action_masks=info["action_mask"], deterministic=True)
    assert SB3Agent(model).act(obs, info) == int(expected)
    logits = masked_logits(model.policy, obs[None], info["action_mask"][None])
    assert np.all(logits.detach().numpy()[0][info["action_mask"] == 0] < -1e7)
    result = evaluate(SB3Agent(model), ENV_ID, episodes=5, interface="discrete", split="test")
    assert result.valid_fraction == 1.0  # masked: never an illegal move


# ---------------------------------------------------------------------------- bad input names the fix
@pytest.mark.parametrize("module", [bc, ppo], ids=["bc", "ppo"])
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--env-id", "srl/Nope-v0"], "--env-id: unknown task 'srl/Nope-v0'"),
        (["--difficulty", "9"], "--difficulty must be one of 0..3 for srl/Hanoi-v0"),
        (["--eval-episodes", "0"], "--eval-episodes must be at least 1"),
    ],
)
def test_bad_options_exit_with_an_error_that_names_the_flag(module, argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        module.main(argv, prog=f"srl-gym train {module.__name__.rsplit('.', 1)[-1]}")
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_init_from_a_missing_file_names_the_fix(tmp_path, capsys):
    with pytest.raises(SystemExit):
        ppo.main(["--init-from", str(tmp_path / "nope.zip"), "--out-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert "--init-from: no file" in err and "srl-gym train bc" in err


def test_the_cli_dispatches_to_both_agents(capsys):
    from srl_gym.cli import main

    for algo, flag in (("bc", "--dagger-iterations"), ("ppo", "--total-timesteps")):
        with pytest.raises(SystemExit) as exit_info:
            main(["train", algo, "--help"])
        assert exit_info.value.code == 0
        assert flag in capsys.readouterr().out
