"""The srl-gym command line."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from srl_gym.cli import build_parser, cmd_play, main
from srl_gym.registration import TASKS
from srl_gym.trajectory import read_jsonl


def run(*argv: str) -> str:
    out = io.StringIO()
    assert main(list(argv), out=out) == 0
    return out.getvalue()


def test_list_names_every_task_with_domain_and_levels():
    text = run("list", "-v")
    for entry in TASKS:
        assert entry.env_id in text and entry.domain in text
    assert "difficulty=2:" in text


def test_show_prints_problem_and_expert_trajectory():
    text = run("show", "srl/Hanoi-v0", "--seed", "3", "--difficulty", "1")
    assert "Tower of Hanoi with 4 disks" in text and "Step 1: Move disk" in text


def test_export_writes_trajectories(tmp_path):
    path = tmp_path / "out" / "hanoi.jsonl"
    run("export", "Hanoi", "-n", "4", "-o", str(path), "--difficulty", "2")
    trajs = read_jsonl(path)
    assert len(trajs) == 4 and all(t.steps for t in trajs)


def test_export_to_a_directory_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["export", "Hanoi", "-n", "2", "-o", str(tmp_path)])
    assert exit_.value.code == 2
    assert f"{tmp_path} is a directory; give the JSONL file's path" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # nothing left behind


def test_export_jsonl_is_the_default_and_unchanged(tmp_path):
    """No --format, --format jsonl and the trajectory writer itself give the same bytes."""
    from srl_gym.registration import task_entry
    from srl_gym.trajectory import iter_expert_trajectories, write_jsonl

    flags = ["-n", "3", "--seed", "2", "--difficulty", "1", "--split", "test"]
    run("export", "Hanoi", *flags, "-o", str(tmp_path / "default.jsonl"))
    run("export", "Hanoi", *flags, "-o", str(tmp_path / "jsonl.jsonl"), "--format", "jsonl")
    task = task_entry("Hanoi").load()(difficulty=1)
    write_jsonl(iter_expert_trajectories(task, range(2, 5), split="test"), tmp_path / "writer.jsonl")
    expected = (tmp_path / "writer.jsonl").read_bytes()
    assert (tmp_path / "default.jsonl").read_bytes() == expected == (tmp_path / "jsonl.jsonl").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["default.jsonl", "jsonl.jsonl", "writer.jsonl"]


def test_export_hf_step_rows_are_the_experts_steps(tmp_path):
    datasets = pytest.importorskip("datasets")
    from srl_gym.episodes import step_instances

    out = tmp_path / "hanoi-steps"
    text = run("export", "Hanoi", "-n", "3", "--difficulty", "1", "--format", "hf", "--unit", "step", "-o", str(out))
    data = datasets.load_from_disk(str(out))
    instances = step_instances("srl/Hanoi-v0", range(3), difficulty=1)
    assert len(data) == len(instances) > 3 and f"wrote {len(data)} step instances" in text
    assert data["completion"] == ["<think></think> " + i.expert_step for i in instances]
    assert data["expert_step"] == [i.expert_step for i in instances]
    assert [(r["env_id"], r["seed"], r["difficulty"], r["split"]) for r in data] == [
        ("srl/Hanoi-v0", i.seed, 1, "train") for i in instances
    ]
    assert data["prompt"][0].endswith(instances[0].observation + "\n\n")
    assert [p.name for p in tmp_path.iterdir()] == ["hanoi-steps"]  # no temp directory left behind


def test_export_hf_solution_rows_are_the_experts_solutions(tmp_path):
    datasets = pytest.importorskip("datasets")
    from srl_gym.datasets import solution_dataset
    from srl_gym.episodes import solution_examples

    out = tmp_path / "empty-dir"
    out.mkdir()  # an empty directory may be written over
    flags = ["--seed", "5", "--difficulty", "2", "--split", "test", "--format", "hf", "-o", str(out)]
    text = run("export", "srl/Hanoi-v0", "-n", "4", *flags)  # --unit solution is the default
    data = datasets.load_from_disk(str(out))
    examples = solution_examples("srl/Hanoi-v0", range(5, 9), split="test", difficulty=2)
    assert len(data) == len(examples) == 4 and "wrote 4 problems" in text
    assert data["completion"] == [e.target for e in examples]
    assert data["expert_steps"] == [list(e.steps) for e in examples]
    assert data["seed"] == [5, 6, 7, 8] and set(data["split"]) == {"test"} and set(data["difficulty"]) == {2}
    built = solution_dataset("srl/Hanoi-v0", 4, split="test", difficulty=2, start_seed=5)
    assert data.to_list() == built.to_list()  # the builder's rows, saved as they are


def test_export_hf_refuses_to_overwrite_and_bad_flags_name_the_fix(tmp_path, capsys):
    pytest.importorskip("datasets")
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    cases = [
        (["-o", str(out), "--format", "hf"], "is not empty; delete it or give a new directory"),
        (["-o", str(out / "keep.txt"), "--format", "hf"], "is a file; a dataset is saved as a directory"),
        (["--format", "hf"], "required: -o/--output"),
        (["-o", str(tmp_path / "x.jsonl"), "--unit", "step"], "--unit step is for --format hf"),
        (["-o", str(tmp_path / "x.jsonl"), "--format", "jsonl", "--unit", "solution"], "add --format hf"),
    ]
    for flags, message in cases:
        with pytest.raises(SystemExit) as exc:
            main(["export", "Hanoi", "-n", "2", *flags])
        assert exc.value.code == 2 and message in capsys.readouterr().err, flags
    assert [p.name for p in out.iterdir()] == ["keep.txt"] and (out / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_play_reads_steps_until_solved():
    # Seed 1 at difficulty 0 starts with disk 3 alone on A and goal peg B.
    args = build_parser().parse_args(["play", "Hanoi", "--seed", "1"])
    steps = ":hint\nbanana\nMove disk 1 from C to B\n"
    out = io.StringIO()
    assert cmd_play(args, out, io.StringIO(steps)) == 0
    text = out.getvalue()
    assert "expert's step: Move disk" in text and "INVALID" in text and "bye" in text


def test_errors_are_clear_and_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["show", "srl/Nope-v0"])
    assert exc.value.code == 2 and "registered: srl/Arithmetic-v0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["show", "Hanoi", "--difficulty", "9"])
    assert "difficulty must be one of" in capsys.readouterr().err


def test_console_script_help():
    result = subprocess.run([sys.executable, "-m", "srl_gym.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "export" in result.stdout and "play" in result.stdout


def test_export_help_names_format_and_unit(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["export", "--help"])
    text = capsys.readouterr().out
    assert exc.value.code == 0 and "--format {jsonl,hf}" in text and "--unit {step,solution}" in text
    assert "load_from_disk" in text and "[problem, y_1..y_k-1] -> y_k" in text
