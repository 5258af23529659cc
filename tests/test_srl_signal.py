"""`benchmarks/srl_signal.py`: where SRL's GRPO groups have a reward spread, split by the base's greedy step."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "srl_signal.py"
_spec = importlib.util.spec_from_file_location("srl_signal", _PATH)
srl_signal = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(srl_signal)


def test_the_signal_counts_are_consistent_on_a_few_real_instances(tmp_path):
    assert srl_signal.main(["--out", str(tmp_path), "--problems", "2", "--instances", "12", "--group", "3"]) == 0
    result = json.loads((tmp_path / "signal.json").read_text(encoding="utf-8"))
    rows, summary = result["rows"], result["summary"]
    assert len(rows) == result["instances"] == 12
    assert sum(v["instances"] for v in summary.values()) == 12
    for row in rows:
        assert 0 <= row["exact"] <= 3 and 0 <= row["as_greedy"] <= 3
        if row["greedy_right"]:  # the greedy step is the expert's: a sample equal to one equals the other
            assert row["exact"] == row["as_greedy"]
        if row["exact"] == 3:  # every sample exact: every reward 1, no spread
            assert not row["spread"] and row["mean_reward"] == 1.0
    assert "greedy wrong" in (tmp_path / "signal.md").read_text(encoding="utf-8")


def test_bad_counts_are_refused(capsys, tmp_path):
    import pytest

    with pytest.raises(SystemExit):
        srl_signal.main(["--out", str(tmp_path), "--group", "0"])
    assert "--group must be >= 1" in capsys.readouterr().err
