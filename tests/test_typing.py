"""The package is typed (PEP 561) and its public functions carry their hints
through scikit-learn's parameter validation."""

import inspect
import typing
from pathlib import Path

import pytest

import mlearn
from mlearn import datasets, metrics

PUBLIC = [getattr(metrics, name) for name in metrics.__all__] + [
    getattr(datasets, name) for name in datasets.__all__
]


def test_package_is_marked_typed():
    assert (Path(mlearn.__file__).parent / "py.typed").is_file()


@pytest.mark.parametrize("func", PUBLIC, ids=lambda f: f.__name__)
def test_public_functions_are_fully_annotated(func):
    signature = inspect.signature(func)
    # the validating wrapper shows the function's own signature
    assert signature == inspect.signature(func.__wrapped__)
    hints = typing.get_type_hints(func)  # every annotation evaluates
    assert "return" in hints
    for name in signature.parameters:
        assert name in hints, f"{func.__name__}: {name} has no annotation"


USER_CODE = """
import numpy as np
from mlearn.datasets import load_textures
from mlearn.metrics import knn_accuracy, make_tuple_scorer, precision_at_k

X, y = np.zeros((4, 2)), np.array([0, 0, 1, 1])
accuracy: float = knn_accuracy(X, y, n_neighbors=1, metric="manhattan")
score = precision_at_k(X, y, k=2, return_n_excluded=True)
scorer = make_tuple_scorer("roc_auc")
bunch = load_textures(patch_size=16, random_state=0)
precision_at_k(X, y, k="2")  # line 11
knn_accuracy(X, y, working_memory="256")  # line 12
load_textures(return_x_y=True)  # line 13
"""


@pytest.mark.slow
def test_type_checkers_see_the_hints_through_the_validation(tmp_path, monkeypatch):
    mypy_api = pytest.importorskip("mypy.api")
    source = tmp_path / "user_code.py"
    source.write_text(USER_CODE)
    monkeypatch.setenv("MYPYPATH", str(Path(mlearn.__file__).parents[1]))
    out, err, status = mypy_api.run(
        [
            "--ignore-missing-imports",
            "--follow-imports=silent",
            "--no-error-summary",
            "--cache-dir",
            str(tmp_path / "cache"),
            str(source),
        ]
    )
    assert status == 1, out + err
    error_lines = sorted(
        int(line.split(":")[1]) for line in out.splitlines() if ": error:" in line
    )
    # the bad calls only: behind an untyped decorator all three would pass
    assert error_lines == [11, 12, 13], out
