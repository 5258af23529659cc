"""``srl-gym generate``: model-written solutions, kept only when the env and the verifier accept them."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys

import gymnasium as gym
import pytest

import srl_gym  # noqa: F401  (registers the srl/ ids)
from srl_gym.cli import main
from srl_gym.episodes import make_text_env, solution_examples, verify_solution
from srl_gym.evaluation import ExpertAgent
from srl_gym.prompts import EMPTY_THINK, solution_target
from srl_gym.rewards import MAX_STEP_CHARS
from srl_gym.trajectory import read_jsonl, write_jsonl

pytest.importorskip("torch")
pytest.importorskip("transformers")

from srl_gym.agents import generate as G  # noqa: E402

LONGMUL = "srl/LongMultiplication-v0"


class ScriptedAgent:
    """An agent whose whole solutions are given: ``script(observation, k) -> completion`` for the k-th sample."""

    def __init__(self, script):
        self.script, self.calls, self.count = script, [], {}

    def complete(self, observations, mode="step"):
        assert mode == "solution"
        self.calls.append(list(observations))
        out = []
        for o in observations:
            k = self.count.get(o, 0)
            self.count[o] = k + 1
            out.append(self.script(o, k))
        return out


def expert_completions(env_id, seeds, **kwargs):
    """observation -> the expert's solution as a model would write it (``<think></think>`` + Step lines)."""
    return {e.observation: e.target for e in solution_examples(env_id, seeds, **kwargs)}


def _wrong(target: str, old: str, new: str) -> str:
    assert old in target
    return target.replace(old, new, 1)


# The expert's solution of LongMultiplication seed 0 at level 0 (91 x 2), broken one way per reason.
def _broken_longmul():
    target = solution_examples(LONGMUL, [0])[0].target
    lines = target.split("\n")
    assert lines[-1] == "Step 4: Answer: 182", target
    return {
        "no_think": target.replace(EMPTY_THINK, ""),
        "no_steps": "<think>I give up</think>\n\n",
        "step_unparseable": _wrong(target, "Step 1: 1 x 2 = 2", "Step 1: multiply things"),
        "step_illegal": _wrong(target, "Step 1: 1 x 2 = 2, write 2", "Step 1: 1 x 2 = 3, write 3"),
        "step_too_long": _wrong(target, "Step 1: ", "Step 1: " + "x" * (MAX_STEP_CHARS + 1) + " "),
        "steps_after_end": target + "\nStep 5: Answer: 182",
        "unfinished": "\n".join(lines[:-1]),
        "verifier_rejects": _wrong(target, "Answer: 182", "Answer: 183"),
    }


@pytest.mark.parametrize("reason", G.REASONS)
def test_each_rejection_reason(reason):
    completion = _broken_longmul()[reason]
    example = solution_examples(LONGMUL, [0])[0]
    verdict = G.judge(G.on_policy_env(LONGMUL), example, completion)
    assert verdict.reason == reason and not verdict.accepted and verdict.detail
    assert not verify_solution(example.task, example.problem, completion) or reason == "no_think"


def test_the_experts_solution_is_accepted_with_the_envs_steps_and_answer():
    example = solution_examples(LONGMUL, [0])[0]
    messy = example.target.replace("Step 2: ", "step 2)  ")  # labels as parse_solution reads them
    verdict = G.judge(G.on_policy_env(LONGMUL), example, "<think>easy</think>" + messy[len(EMPTY_THINK) :])
    assert verdict.accepted and verdict.steps == list(example.steps) and verdict.answer == "182"


def test_rejections_are_counted_and_one_row_is_kept_per_problem():
    seeds = range(6)
    targets = expert_completions(LONGMUL, seeds)
    broken = _broken_longmul()
    first = solution_examples(LONGMUL, [0])[0].observation
    reasons = list(G.REASONS)

    def script(observation, k):
        if observation == first:  # seed 0: every reason once, then the expert's solution twice
            return broken[reasons[k]] if k < len(reasons) else targets[observation]
        return targets[observation] if k >= 8 else "junk"  # the others: 8 x no_think, then accepted twice

    samples = len(reasons) + 2
    agent = ScriptedAgent(script)
    result = G.generate_trajectories(agent, LONGMUL, seeds, samples=samples, meta={"model": "scripted"})
    assert len(agent.calls) == 1 and len(agent.calls[0]) == 6 * samples  # one batch, samples per problem
    assert (result.problems, result.samples, result.accepted, result.solved_problems) == (6, 6 * samples, 12, 6)
    assert result.reasons == {r: 1 for r in reasons} | {"no_think": 1 + 5 * 8}
    assert sum(result.reasons.values()) + result.accepted == result.samples
    assert set(result.examples) == set(reasons) and result.examples["step_illegal"].startswith("seed 0: step 1")
    assert result.acceptance_rate == pytest.approx(12 / (6 * samples))
    rows = result.trajectories
    assert len(rows) == 6 and [r.meta["seed"] for r in rows] == list(seeds)  # the same solution twice: kept once
    assert rows[0].meta["sample"] == len(reasons) and rows[0].meta["model"] == "scripted"
    again = G.generate_trajectories(ScriptedAgent(script), LONGMUL, seeds, samples=samples, keep_per_problem=3)
    assert [t.step_texts for t in again.trajectories] == [t.step_texts for t in rows]  # a duplicate is kept once


def test_keep_per_problem_keeps_distinct_solutions():
    """Hanoi has more than one legal solution: a detour that still solves is a second distinct row."""
    seeds = [0]
    target = expert_completions("srl/Hanoi-v0", seeds)
    example = solution_examples("srl/Hanoi-v0", seeds)[0]
    detour = example.steps[0].replace("Move disk 1 from C to B", "Move disk 1 from C to A")
    assert detour != example.steps[0]
    back = "Move disk 1 from A to C"
    alt = EMPTY_THINK + "\n" + "\n".join([detour, back, *example.steps])
    script = lambda o, k: target[o] if k == 0 else alt  # noqa: E731
    one = G.generate_trajectories(ScriptedAgent(script), "srl/Hanoi-v0", seeds, samples=2)
    two = G.generate_trajectories(ScriptedAgent(script), "srl/Hanoi-v0", seeds, samples=2, keep_per_problem=2)
    assert one.accepted == two.accepted == 2 and len(one.trajectories) == 1 and len(two.trajectories) == 2
    assert two.trajectories[1].step_texts[:2] == [detour, back]


def test_planning_rows_replay_in_trajectories_v0(tmp_path):
    """A planning task's answer is its plan: rows give none, so Trajectories-v0 checks the last step (and solves)."""
    seeds = range(12)
    targets = expert_completions("srl/Hanoi-v0", seeds, difficulty=1)
    result = G.generate_trajectories(ScriptedAgent(lambda o, k: targets[o]), "srl/Hanoi-v0", seeds, difficulty=1)
    assert result.accepted == len(targets) and all(t.answer is None for t in result.trajectories)
    path = tmp_path / "hanoi.jsonl"
    write_jsonl(result.trajectories, path)
    assert_expert_replays(path, {t.problem for t in result.trajectories})


def assert_expert_replays(path, problems):
    """The file loads in Trajectories-v0 and the ExpertAgent replaying it solves every problem at every level."""
    seen = set()
    for level in range(3):
        env = gym.make("srl/Trajectories-v0", path=str(path), difficulty=level)
        for seed in range(40):
            obs, info = env.reset(seed=seed)
            seen.add(env.unwrapped.problem.text)
            done = False
            while not done:
                obs, _, terminated, truncated, info = env.step(ExpertAgent().act(obs, info))
                done = terminated or truncated
            assert info["solved"], (level, seed, env.unwrapped.problem.text)
    assert seen == problems  # every row was played


# ---------------------------------------------------------------------- the command
def run_generate(*argv):
    out = io.StringIO()
    code = main(["generate", *argv], out=out)
    return code, out.getvalue()


@pytest.mark.slow
def test_junk_model_writes_an_empty_file_and_fails(tmp_path, capsys):
    path = tmp_path / "junk.jsonl"
    code, text = run_generate("tiny", "--env-id", "LongMultiplication", "-n", "2", "--samples", "2",
                              "--max-new-tokens", "12", "-o", str(path))  # fmt: skip
    assert code == 1
    assert path.is_file() and path.read_bytes() == b""
    assert "nothing valid: 0 of 4 completions" in capsys.readouterr().err
    summary = G.read_summary(path)
    assert summary["accepted"] == summary["rows"] == 0 and summary["samples"] == 4 and summary["problems"] == 2
    assert sum(summary["reasons"].values()) == 4 and summary["examples"]
    assert "accepted 0 of 4 (0.0%)" in text and "rejected:" in text
    assert summary["env_id"] == LONGMUL and summary["max_new_tokens"] == 12
    with pytest.raises(ValueError, match="holds no trajectories"):
        read_jsonl(path)


@pytest.mark.slow
def test_warmed_up_model_writes_verified_trajectories(tmp_path):
    path = tmp_path / "out" / "longmul.jsonl"
    code, text = run_generate("tiny-longmul", "--env-id", LONGMUL, "-n", "6", "--samples", "1",
                              "--temperature", "0", "-o", str(path))  # fmt: skip
    summary = G.read_summary(path)
    assert code == 0 and summary["accepted"] > 0, text
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == summary["rows"] == summary["solved_problems"] <= 6
    assert f"accepted {summary['accepted']} of 6" in text
    # Every row checked again, independently of the command: the seed's problem, the steps, the product.
    env = make_text_env(LONGMUL)
    for row in rows:
        assert set(row) == {"problem", "steps", "answer", "meta"}
        assert row["meta"]["model"] == "tiny-longmul" and row["meta"]["env_id"] == LONGMUL
        env.reset(seed=row["meta"]["seed"])
        assert env.problem.text == row["problem"]
        assert verify_solution(env.task, env.problem, solution_target(row["steps"]))
        assert verify_solution(env.task, env.problem, row["meta"]["completion"])
        a, b = map(int, re.match(r"Compute (\d+) x (\d+)", row["problem"]).groups())
        assert row["answer"] == str(a * b) and row["steps"][-1] == f"Answer: {a * b}"
    assert len(rows) >= 3  # Trajectories-v0 has a level per third of the file
    assert_expert_replays(path, {r["problem"] for r in rows})


@pytest.mark.parametrize(
    "flags, message",
    [
        (["tiny", "--env-id", LONGMUL, "-n", "0"], "-n must be at least 1"),
        (["tiny", "--env-id", "srl/Nope-v0", "-n", "2"], "unknown task 'srl/Nope-v0'"),
        (["tiny", "--env-id", LONGMUL, "-n", "2", "--difficulty", "9"], "difficulty"),
        (["no-such-model", "--env-id", LONGMUL, "-n", "2"], "unknown model 'no-such-model'"),
        (["/no/such/dir", "--env-id", LONGMUL, "-n", "2"], "no model directory at /no/such/dir"),
        (["tiny", "--env-id", LONGMUL, "-n", "2", "--temperature", "0"], "give --samples 1"),
        (["tiny", "--env-id", LONGMUL, "-n", "2", "--samples", "0"], "--samples must be at least 1"),
        (["tiny", "--env-id", LONGMUL, "-n", "2", "--keep", "0"], "--keep must be at least 1"),
        (["tiny", "--env-id", LONGMUL, "-n", "2", "--temperature", "-1"], "--temperature must be >= 0"),
        (["tiny", "--env-id", LONGMUL, "-n", "2", "--max-new-tokens", "0"], "--max-new-tokens must be at least 1"),
    ],
)
def test_bad_input_is_a_clear_error_before_any_model_loads(tmp_path, capsys, flags, message):
    path = tmp_path / "out.jsonl"
    with pytest.raises(SystemExit) as exit_info:
        main(["generate", *flags, "-o", str(path)], out=io.StringIO())
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "srl-gym generate: error:" in err and message in err
    assert not path.exists() and list(tmp_path.iterdir()) == []


def test_output_that_is_a_directory_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["generate", "tiny", "--env-id", LONGMUL, "-n", "1", "--samples", "1", "-o", str(tmp_path)])
    assert "is a directory" in capsys.readouterr().err


def test_the_cli_does_not_import_the_agents_until_generate_runs():
    code = "import sys, srl_gym.cli; sys.exit(any(m.startswith('srl_gym.agents.') for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
