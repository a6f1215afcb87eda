import io
import subprocess
import sys

import numpy as np
from sklearn.datasets import load_iris
from sklearn.model_selection import StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from mlearn import Covariance
from mlearn.cli import demo, demo_learners


def test_demo_reports_every_points_learner():
    out = io.StringIO()
    rows = demo("iris", cv=3, out=out, images=False)
    names = [r["learner"] for r in rows]
    assert names[0] == "Euclidean"
    assert names[1:] == [c.__name__ for c in demo_learners()]
    assert Covariance in demo_learners()
    text = out.getvalue()
    assert "3-NN accuracy" in text and "MAP@R" in text and "P@1" in text
    assert "failed" not in text  # every learner listed can run the demo's pipeline
    assert "Covariance" in text
    # the Euclidean row, recomputed independently
    X, y = load_iris(return_X_y=True)
    folds = StratifiedKFold(3, shuffle=True, random_state=0)
    expected = [
        KNeighborsClassifier(3)
        .fit(StandardScaler().fit(X[tr]).transform(X[tr]), y[tr])
        .score(StandardScaler().fit(X[tr]).transform(X[te]), y[te])
        for tr, te in folds.split(X, y)
    ]
    assert rows[0]["accuracy"] == np.mean(expected)
    # MAP@R of the Euclidean row: leave-one-out within each scaled test fold
    from mlearn.metrics import mean_average_precision_at_r

    expected_map = [
        mean_average_precision_at_r(StandardScaler().fit(X[tr]).transform(X[te]), y[te])
        for tr, te in folds.split(X, y)
    ]
    assert rows[0]["map_at_r"] == np.mean(expected_map)


def test_module_entry_point():
    proc = subprocess.run(
        [sys.executable, "-m", "mlearn", "demo", "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert "--dataset" in proc.stdout and "--no-images" in proc.stdout


def test_bad_cv_is_rejected():
    proc = subprocess.run(
        [sys.executable, "-m", "mlearn", "demo", "--cv", "1"], capture_output=True, text=True
    )
    assert proc.returncode == 2 and "--cv must be at least 2" in proc.stderr


def test_help_is_plain_text():
    proc = subprocess.run(
        [sys.executable, "-m", "mlearn", "--help"], check=False, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert "python -m mlearn demo" in proc.stdout and "demo --help" in proc.stdout
    # no reST markup: inline literals, roles, emphasis
    for markup in ("``", ":func:", ":class:", ":mod:", "**"):
        assert markup not in proc.stdout


def test_demo_reports_progress_on_stderr(capsys, monkeypatch):
    monkeypatch.setattr("mlearn.cli.demo_learners", lambda: [Covariance])
    out = io.StringIO()
    rows = demo("iris", cv=2, out=out, images=False)
    err = capsys.readouterr().err.splitlines()
    # stderr is not a terminal here: one plain line per learner, as each finishes
    assert [line.split(" (")[0] for line in err] == ["mlearn demo: 1/2", "mlearn demo: 2/2"]
    assert err[0].endswith("learner=Euclidean") and err[1].endswith("learner=Covariance")
    assert [r["learner"] for r in rows] == ["Euclidean", "Covariance"]
    assert "Covariance" in out.getvalue() and "1/2" not in out.getvalue()  # table only
    demo("iris", cv=2, out=io.StringIO(), images=False, verbose=False)
    assert capsys.readouterr().err == ""
