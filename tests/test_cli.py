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
