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


def test_protocol_skips_failed_folds_only_when_asked():
    import numpy as np
    import protocol
    from sklearn.preprocessing import FunctionTransformer

    class FailsOnSecondFold(FunctionTransformer):
        fits = 0

        def fit(self, X, y=None):
            type(self).fits += 1
            if type(self).fits == 2:
                raise np.linalg.LinAlgError("singular")
            return super().fit(X, y)

    with pytest.raises(np.linalg.LinAlgError):
        protocol.evaluate(FailsOnSecondFold, "iris")
    FailsOnSecondFold.fits = 0
    result = protocol.evaluate(FailsOnSecondFold, "iris", skip_failed_folds=True)
    assert result["accuracy"] is None
    assert [f["fold"] for f in result["failed_folds"]] == [1]
    assert "singular" in result["failed_folds"][0]["error"]
    assert len(result["fit_times"]) == 4 and len(result["fold_accuracies"]) == 4
    baseline = protocol.evaluate(None, "iris")
    assert all(a in baseline["fold_accuracies"] for a in result["fold_accuracies"])
    X, _ = protocol.load("digits_varying")
    assert X.shape[1] == 61 and np.all(X.std(axis=0) > 0)


def test_cached_reference_runs_runs_only_what_the_cache_lacks(tmp_path, monkeypatch):
    ran = []

    def fake_run(script, payload, env=None):
        ran.append(payload["seed"])
        assert env["OPENBLAS_NUM_THREADS"] == "1"
        return [{"accuracy": payload["seed"] / 10}]

    monkeypatch.setattr(harness, "run_reference", fake_run)
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    cache_path = tmp_path / "cache.json"
    requests = [("L", seed, {"seed": seed}) for seed in range(3)]
    cache = harness.cached_reference_runs(cache_path, requests[:2], "script.py")
    assert ran == [0, 1] and json.loads(cache_path.read_text()) == cache
    cache = harness.cached_reference_runs(cache_path, requests, "script.py")
    assert ran == [0, 1, 2]
    assert cache == {"L": {str(s): [{"accuracy": s / 10}] for s in range(3)}}
    cache = harness.cached_reference_runs(cache_path, requests[:1], "script.py", refresh=True)
    assert ran == [0, 1, 2, 0]
    # a refresh reruns what is requested and keeps the other entries
    assert json.loads(cache_path.read_text()) == cache and set(cache["L"]) == {"0", "1", "2"}
