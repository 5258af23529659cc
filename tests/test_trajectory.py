"""Steps and trajectories: JSONL round-trip, the solution splitter, malformed files, the dataset env."""

from __future__ import annotations

import json

import gymnasium as gym
import pytest

import srl_gym
from srl_gym.trajectory import Step, Trajectory, iter_expert_trajectories, read_jsonl, split_solution, write_jsonl


def test_jsonl_round_trip(tmp_path):
    trajs = [
        Trajectory("2 + 2?", [Step("2 + 2 = 4"), Step("Answer: 4")], "4"),
        Trajectory("plan", [Step("Move disk 1 from A to C", (0, 2))], None, {"seed": 3}),
    ]
    path = tmp_path / "t.jsonl"
    assert write_jsonl(trajs, path) == 2
    back = read_jsonl(path)
    assert back[0] == trajs[0]
    assert back[1].steps[0].action == [0, 2] and back[1].meta == {"seed": 3}
    assert not list(tmp_path.glob(".*tmp"))  # the temp file was renamed away


def test_write_is_atomic_on_failure(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text("old\n")

    def broken():
        yield Trajectory("p", [Step("s")])
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        write_jsonl(broken(), path)
    assert path.read_text() == "old\n" and len(list(tmp_path.iterdir())) == 1


@pytest.mark.parametrize(
    "line, message",
    [
        ("not json", "Expecting value"),
        ('["a list"]', "JSON object"),
        ('{"steps": ["a"]}', "'problem'"),
        ('{"problem": "p"}', "'steps'"),
        ('{"problem": "p", "steps": "one string"}', "must be a list"),
        ('{"problem": "p", "steps": []}', "at least one step"),
        ('{"problem": "p", "steps": ["ok", 3]}', "step 1"),
        ('{"problem": "p", "steps": ["ok"], "answer": [1]}', "'answer'"),
    ],
)
def test_malformed_trajectory_file_names_the_line(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"problem": "fine", "steps": ["a"]}\n\n' + line + "\n")
    with pytest.raises(ValueError, match=rf"bad.jsonl:3: .*{message}"):
        read_jsonl(path)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_jsonl(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(ValueError, match="no trajectories"):
        read_jsonl(tmp_path / "empty.jsonl")


@pytest.mark.parametrize(
    "solution, mode, expected",
    [
        ("Step 1: add 2.\nStep 2: halve it.\nStep 3: Answer: 5", "auto", ["add 2.", "halve it.", "Answer: 5"]),
        ("**Step 1.** add\n## Step 2: halve", "step", ["add", "halve"]),
        ("We start.\n1. add 2\n2) halve\n3. done", "auto", ["We start.", "add 2", "halve", "done"]),
        ("First we add.\n\nThen we\nhalve.\n\nAnswer: 5", "auto", ["First we add.", "Then we halve.", "Answer: 5"]),
        ("a\nb\n\n", "lines", ["a", "b"]),
        ("one line only", "auto", ["one line only"]),
    ],
)
def test_split_solution(solution, mode, expected):
    assert split_solution(solution, mode) == expected


def test_split_solution_rejects_unknown_mode():
    with pytest.raises(ValueError, match="mode must be one of"):
        split_solution("x", "sentences")


def test_trajectories_env_over_a_user_file_with_raw_solutions(tmp_path):
    rows = [
        {
            "problem": f"What is {i} + {i} + 1?",
            "solution": f"1. {i} + {i} = {2 * i}\n2. {2 * i} + 1 = {2 * i + 1}\n3. Answer: {2 * i + 1}",
            "answer": str(2 * i + 1),
        }
        for i in range(40)
    ]
    path = tmp_path / "mine.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    env = gym.make("srl/Trajectories-v0", path=str(path), difficulty=1)
    obs, info = env.reset(seed=0)
    assert "What is" in obs and info["expert_step"].endswith(str(int(info["expert_step"].split()[0]) * 2))
    _, reward, terminated, _, info = env.step("<think>hmm</think> I give up. Answer: -1")
    assert terminated and info["solved"] is False and info["answer"] == "-1"
    assert reward == pytest.approx(info["step_similarity"] - 1)


def test_trajectories_env_errors_name_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError):
        gym.make("srl/Trajectories-v0", path=str(tmp_path / "missing.jsonl"))
    path = tmp_path / "tiny.jsonl"
    path.write_text('{"problem": "only one", "steps": ["a"], "answer": "a"}\n')
    env = gym.make("srl/Trajectories-v0", path=str(path))
    with pytest.raises(ValueError, match="at least three trajectories"):
        env.reset(seed=0)
    with pytest.raises(ValueError, match="split_mode must be one of"):
        gym.make("srl/Trajectories-v0", split_mode="words")


def test_expert_trajectories_match_env_resets():
    task = srl_gym.make_task("srl/Hanoi-v0", difficulty=1)
    trajs = list(iter_expert_trajectories(task, [5, 6]))
    env = gym.make("srl/Hanoi-v0", difficulty=1)
    for traj, seed in zip(trajs, [5, 6], strict=True):
        obs, info = env.reset(seed=seed)
        assert obs.startswith(traj.problem) and info["expert_step"] == traj.steps[0].text
        # planning tasks have no answer apart from the plan: the file gives none, and the plan is what verifies
        assert traj.answer is None
        assert task.verify(env.unwrapped.problem, "\n".join(traj.step_texts))


@pytest.mark.parametrize("env_id", ["srl/Hanoi-v0", "srl/GridMaze-v0", "srl/Arithmetic-v0", "srl/Countdown-v0"])
def test_exported_experts_replay_in_the_trajectories_env(env_id, tmp_path):
    """Any task's export (Arithmetic's Fraction-valued actions too) is a file the expert solves in Trajectories-v0."""
    import os
    import stat

    from srl_gym.evaluation import ExpertAgent, evaluate

    task = gym.make(env_id).unwrapped.task
    path = tmp_path / "experts.jsonl"
    assert write_jsonl(iter_expert_trajectories(task, range(40)), path) == 40
    assert stat.S_IMODE(os.stat(path).st_mode) & 0o044  # readable by others, as any written file (not mkstemp's 0600)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    # a planning task's answer would be the plan itself, which never equals a last step: none is written
    if task.domain == "planning":
        assert all(r.get("answer") is None for r in rows)
    if env_id == "srl/Arithmetic-v0":
        assert all(r["answer"] for r in rows)
    n = len(read_jsonl(path))
    result = evaluate(ExpertAgent(), "srl/Trajectories-v0", episodes=n, path=str(path), split="train")
    assert result.success_rate == 1.0
