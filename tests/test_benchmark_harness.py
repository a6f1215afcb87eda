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
    rows = [
        {"case": "a", "ratio": 2.34567, "met": True},
        {"case": "b", "ratio": 0.5, "met": False},
    ]
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


def test_general_speed_rows_take_the_median_of_the_rounds_ratios():
    import bench_general

    datasets = bench_general.SPEED_DATASETS

    def side(time, accuracy):
        return {d: {"fit_times": [time / 5] * 5, "accuracy": accuracy} for d in datasets}

    # round r: each reference takes (r + 1) * 10 s per data set, mlearn 1 s;
    # the reference accuracy is 0.9 except 0.95 in round 4
    rounds = [
        {
            "reference": {
                learner: side((r + 1) * 10.0, 0.95 if r == 4 else 0.9)
                for learner in bench_general.REFERENCES
            },
            "mlearn": side(1.0, 0.92),
        }
        for r in range(5)
    ]
    rows = bench_general.speed_rows(rounds)
    total = [row for row in rows if "total" in row["case"]][0]
    assert total["ratio"] == pytest.approx(statistics.median([10, 20, 30, 40, 50]))
    assert total["ratio_rounds"] == "10 20 30 40 50"
    assert total["reference_fit_s"] == pytest.approx(3 * 30.0)
    assert total["met"]  # 0.92 against the references' mean, 0.91
    rounds[2]["mlearn"]["wine"]["accuracy"] = 0.905  # one data set under the mean
    assert not [row for row in bench_general.speed_rows(rounds) if "total" in row["case"]][0][
        "met"
    ]


def test_general_defaults_carries_the_rows_of_schemes_not_rerun(tmp_path, monkeypatch):
    import bench_general_defaults as bench

    monkeypatch.setattr(harness, "RESULTS_DIR", tmp_path)
    means = {f"{d}_mean": 0.9 for d in bench.GRID_DATASETS}
    rows = [
        {"case": "Euclidean (no learner)", **means},
        {"case": "k_genuine=5, k_impostor=8", **means},  # from before the schemes
        {"case": "k_genuine=5, k_impostor=2, impostors=per_class", **means},
    ]
    payload = {
        "rows": rows,
        "environment": {"date": "2026-01-01 00:00 UTC"},
        "notes": "random_state 0..4; mean_all ...",
    }
    (tmp_path / "general_defaults.json").write_text(json.dumps(payload))
    carried = bench.carried_rows(["per_class"], 5)
    assert [row["case"] for row in carried] == ["k_genuine=5, k_impostor=8, impostors=nearest"]
    assert carried[0]["measured"] == "2026-01-01 00:00 UTC"
    assert bench.carried_rows(["nearest", "per_class"], 5) == []
    with pytest.raises(RuntimeError, match="other splits"):
        bench.carried_rows(["per_class"], 3)
    # the criterion: 0.9 against a Euclidean 0.8 removes half the error, 0.85
    # against 0.8 a quarter; the smallest share counts
    euclidean = {d: 0.8 for d in bench.GRID_DATASETS}
    row = {f"{d}_mean": 0.9 for d in bench.GRID_DATASETS} | {"wine_mean": 0.85}
    assert bench.worst_error_reduction(row, euclidean) == pytest.approx(0.25)


def test_general_regression_scores_and_criterion():
    import bench_general_regression as bench
    from sklearn.model_selection import KFold, cross_val_score
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    # the Euclidean score is scikit-learn's cross-validated 10-NN R²
    X, y = bench.load("diabetes")
    expected = cross_val_score(
        make_pipeline(StandardScaler(), KNeighborsRegressor(10)),
        X,
        y,
        cv=KFold(5, shuffle=True, random_state=3),
        scoring="r2",
    ).mean()
    assert bench.r2_scores(None, "diabetes", [3]) == [pytest.approx(expected)]
    # R² 0.6 against a Euclidean 0.2 removes half the unexplained variance,
    # 0.4 against 0.2 a quarter; the smallest share counts
    euclidean = {d: 0.2 for d in bench.DATASETS}
    row = {f"{d}_mean": 0.6 for d in bench.DATASETS} | {"diabetes_mean": 0.4}
    assert bench.worst_variance_reduction(row, euclidean) == pytest.approx(0.25)
    # two splits where the score is 0.5 and 0.25: standard error
    # std([0.5, 0.25], ddof=1) / sqrt(2) = 0.125
    euclidean_runs = {d: [0.2, 0.2] for d in bench.DATASETS}
    runs = {d: [0.6, 0.6] for d in bench.DATASETS} | {"diabetes": [0.6, 0.4]}
    assert bench.score_standard_error(runs, euclidean_runs) == pytest.approx(0.125)
    with pytest.raises(ValueError, match="unknown data set"):
        bench.load("housing")


def test_general_regression_pick_and_the_recorded_defaults():
    import json

    import bench_general_regression as bench

    # with 5 targets the best score is 0.05 with standard error 0.02: 0.035
    # is within it, 0.01 is not (its own larger error does not count); rows
    # with other target counts are not candidates
    rows = [
        {"k_genuine": 5, "k_impostor": 3, "worst_variance_reduction": 0.01, "score_se": 0.1},
        {"k_genuine": 5, "k_impostor": 8, "worst_variance_reduction": 0.035, "score_se": 0.0},
        {"k_genuine": 5, "k_impostor": 20, "worst_variance_reduction": 0.05, "score_se": 0.02},
        {"k_genuine": 3, "k_impostor": 1, "worst_variance_reduction": 0.9, "score_se": 0.0},
    ]
    assert bench.pick_impostors(rows) is rows[1]
    assert bench.pick_impostors(rows, k_genuine=3) is rows[3]
    # the recorded grid picks the defaults the learner has, and marks them
    recorded = json.loads((bench.HERE / "results" / "general_regression.json").read_text())
    grid = recorded["rows"][1:]
    pick = bench.pick_impostors(grid)
    assert (pick["k_genuine"], pick["k_impostor"]) == bench.DEFAULTS
    assert [row["case"] for row in grid if row["pick"] == "yes"] == [pick["case"]]
    assert [row["case"] for row in grid if row["default"] == "yes"] == [pick["case"]]


def test_general_regression_defaults_are_the_learners():
    import bench_general_regression as bench
    from numpy.testing import assert_allclose

    from mlearn import MetricLearner

    # the row marked 'default' is MetricLearner's continuous-target setting
    X, y = bench.load("friedman1")
    default = MetricLearner(random_state=0).fit(X[:120], y[:120])
    g, i = bench.DEFAULTS
    explicit = MetricLearner(k_genuine=g, k_impostor=i, random_state=0).fit(X[:120], y[:120])
    assert default.n_constraints_ == explicit.n_constraints_
    assert_allclose(default.components_, explicit.components_)
