"""Every python block of the README runs as printed, imports included, in a fresh interpreter on a CPU.

Each block runs in its own process, in an empty folder (``runs/`` lands there), with nothing added
before it; the only set-up is a file the text asks the reader to bring (``my_solutions.jsonl``). A
block that trains is marked slow; the SB3 block is followed by a check of what it trained. The
README's shell commands for the RL Zoo run too (slow).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```python\n(.*?)```", README, re.S)
#: Blocks that train (minutes on a loaded CPU at worst): run by the README's test command, marked slow.
SLOW = ("MaskablePPO(", "trainer.train()")
#: What runs after a block (never instead of it): the SB3 example must have learnt 3-disk Hanoi.
AFTER = {
    "MaskablePPO(": """
from srl_gym.agents.sb3_common import SB3Agent
from srl_gym.evaluation import evaluate
result = evaluate(SB3Agent(model), "srl/Hanoi-v0", episodes=100, seed=0, interface="discrete", split="test")
assert result.success_rate >= 0.9, result.success_rate
""",
    "trainer.train()": "\nassert trainer.state.global_step >= 1, trainer.state.global_step\n",
}


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", TRL_EXPERIMENTAL_SILENCE="1", PYTHONHASHSEED="0")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def _run(args: list[str], cwd: Path, timeout: int) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{args[:3]} failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    return result


#: A block that talks to the README's `srl-gym serve` on this address needs that server running:
#: tests/test_adapter_openenv.py runs it as printed against one (only the port differs), so not here.
SERVED = "http://127.0.0.1:8000"


def test_the_served_block_is_run_against_a_server_elsewhere():
    served = [block for block in BLOCKS if SERVED in block]
    assert served, "the README's OpenEnv client block is gone (or its address changed)"
    adapter_test = (ROOT / "tests" / "test_adapter_openenv.py").read_text(encoding="utf-8")
    assert f'block.replace("{SERVED}", server)' in adapter_test


def _params():
    for i, block in enumerate(BLOCKS):
        if SERVED in block:
            continue
        first = next(line for line in block.splitlines() if line.strip() and not line.startswith(("from", "import")))
        marks = [pytest.mark.slow] if any(s in block for s in SLOW) else []
        yield pytest.param(block, id=f"{i}-{first[:40].strip()}", marks=marks)


def test_the_readme_has_the_blocks_this_test_runs():
    assert len(BLOCKS) >= 8 and sum(any(s in b for s in SLOW) for b in BLOCKS) == 3
    for block in BLOCKS:  # imports included: no block leans on a name another block defined
        if re.search(r"\bgym\.", block):
            assert "import gymnasium as gym" in block
        if "GRPOTrainer(" in block:
            assert "from trl import" in block and "trainer.train()" in block and "use_cpu=True" in block


@pytest.mark.parametrize("block", list(_params()))
def test_a_readme_block_runs_as_printed(block, tmp_path):
    if "my_solutions.jsonl" in block:  # the reader's own file: here, the example that ships with the package
        shutil.copy(ROOT / "envs" / "dataset" / "data" / "example.jsonl", tmp_path / "my_solutions.jsonl")
    script = block + "".join(after for key, after in AFTER.items() if key in block)
    (tmp_path / "block.py").write_text(script, encoding="utf-8")
    _run([sys.executable, "block.py"], tmp_path, timeout=1200)


def _zoo_commands() -> list[str]:
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README, re.S):
        for command in block.replace("\\\n", " ").splitlines():
            if "rl_zoo3" in command or "train_maskable" in command:
                commands.append(command)
    return commands


@pytest.mark.slow
def test_the_readmes_rl_zoo_command_prints_a_success_rate(tmp_path):
    pytest.importorskip("rl_zoo3")
    commands = _zoo_commands()
    assert commands, "the README's RL Zoo command is gone"
    for command in commands:
        args = shlex.split(command)
        args[0] = sys.executable if args[0] == "python" else args[0]
        args = [str(ROOT / a) if a.startswith("benchmarks/") else a for a in args]
        args += ["-n", "2048", "-f", str(tmp_path / "logs"), "--seed", "0"]  # a short run, logs out of the repo
        out = _run(args, tmp_path, timeout=600).stdout
        assert re.search(r"success_rate\s*\|\s*[0-9.]+", out), out[-2000:]


def test_the_maskable_zoo_launcher_is_documented_and_names_its_algorithm():
    pytest.importorskip("rl_zoo3")
    script = (ROOT / "benchmarks" / "rl_zoo" / "train_maskable.py").read_text(encoding="utf-8")
    assert "--algo ppo_mask" in script and "train_maskable.py --algo ppo_mask" in README
    assert "benchmarks/rl_zoo/planning.yml" in README and (ROOT / "benchmarks" / "rl_zoo" / "planning.yml").is_file()
