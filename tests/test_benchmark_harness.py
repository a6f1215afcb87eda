import json
import statistics
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import harness  # noqa: E402


def test_time_call_reports_the_median_of_the_timed_runs():
    calls = []
    median, times, result = harness.time_call(lambda x: calls.append(x) or x * 2, 21, repeat=5)
    assert len(calls) == 6  # one warm-up, five timed
    assert len(times) == 5 and median == statistics.median(times)
    assert result == 42
    with pytest.raises(ValueError, match="repeat must be at least 5"):
        harness.time_call(lambda: None, repeat=3)


def test_write_results_json_and_markdown(tmp_path, monkeypatch):
    monkeypatch.setattr(harness, "RESULTS_DIR", tmp_path)
    rows = [{"case": "a", "ratio": 2.34567, "met": True}, {"case": "b", "ratio": 0.5, "met": False}]
    harness.write_results("demo", rows, title="Demo", notes="two rows")
    payload = json.loads((tmp_path / "demo.json").read_text())
    assert payload["rows"] == rows and "numpy" in payload["environment"]
    md = (tmp_path / "demo.md").read_text()
    assert "| case | ratio | met |" in md
    assert "| a | 2.346 | yes |" in md and "| b | 0.5 | no |" in md
