"""Retrieval scores of dask arrays against the in-memory scores.

The scores are computed from the neighbours of ``mlearn.pairwise.kneighbors``,
which on dask arrays are the in-memory neighbours to the bit
(``tests/pairwise/test_dask.py``): every score then equals the in-memory one.
The in-memory scores are checked against brute force in ``test_metrics.py``.
"""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from mlearn import metrics

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")

SCORES = [
    (metrics.knn_accuracy, {"n_neighbors": 5}),
    (metrics.precision_at_k, {"k": 3}),
    (metrics.recall_at_k, {"k": 2}),
    (metrics.r_precision, {}),
    (metrics.mean_average_precision_at_r, {}),
    (metrics.mean_average_precision, {}),
]


@pytest.fixture(autouse=True)
def synchronous():
    with dask.config.set(scheduler="synchronous"):
        yield


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    # integer pixels: many equal distances, ties broken by the smaller index
    return X[:900], y[:900]


def _lazy(array, chunks):
    return da.from_array(array, chunks=chunks)


@pytest.mark.parametrize("score, kwargs", SCORES, ids=[f.__name__ for f, _ in SCORES])
def test_scores_of_dask_arrays_equal_the_in_memory_scores(score, kwargs, digits):
    X, y = digits
    if score is metrics.mean_average_precision:  # the whole ranking of each query
        X, y = X[:450], y[:450]
    Xd, yd = _lazy(X, 250), _lazy(y, 200)
    # leave-one-out, and a small budget: several blocks of queries
    for working_memory in (None, 0.02):
        expected = score(X, y, working_memory=working_memory, **kwargs)
        assert score(Xd, yd, working_memory=working_memory, **kwargs) == expected
        assert score(Xd, y, working_memory=working_memory, **kwargs) == expected
    # queries against a separate reference; dask and NumPy mixed
    Q, yq, R, yr = X[:300], y[:300], X[300:], y[300:]
    expected = score(
        Q, yq, reference=R, reference_labels=yr, metric="mahalanobis", L=np.eye(64)[:16], **kwargs
    )
    for q, lq, r, lr in [
        (Xd[:300], yd[:300], Xd[300:], yd[300:]),
        (Q, yq, Xd[300:], yd[300:]),
        (Xd[:300], yq, R, yr),
    ]:
        assert (
            score(
                q,
                lq,
                reference=r,
                reference_labels=lr,
                metric="mahalanobis",
                L=np.eye(64)[:16],
                **kwargs,
            )
            == expected
        )


def test_scores_report_excluded_queries_like_in_memory(digits):
    X, y = digits
    y = y.copy()
    y[:3] = 99  # a class of three, absent from the reference below
    Q, R = X[:300], X[300:]
    expected = metrics.r_precision(
        Q, y[:300], reference=R, reference_labels=y[300:], return_n_excluded=True
    )
    got = metrics.r_precision(
        _lazy(Q, 100),
        _lazy(y[:300], 100),
        reference=_lazy(R, 200),
        reference_labels=_lazy(y[300:], 200),
        return_n_excluded=True,
    )
    assert got == expected and got[1] == 3


def test_dask_scores_on_a_local_cluster(dask_client, digits):
    X, y = digits
    Xd, yd = _lazy(X, 300), _lazy(y, 300)
    with dask.config.set(scheduler=None):
        got = metrics.knn_accuracy(
            Xd[:200], yd[:200], reference=Xd[200:], reference_labels=yd[200:], n_neighbors=3
        )
    assert got == metrics.knn_accuracy(
        X[:200], y[:200], reference=X[200:], reference_labels=y[200:], n_neighbors=3
    )


def test_bad_dask_labels_are_refused(digits):
    X, y = digits
    Xd = _lazy(X, 300)
    with pytest.raises(ValueError, match="labels has 899 entries but embeddings has 900"):
        metrics.precision_at_k(Xd, _lazy(y[:-1], 300))
    with pytest.raises(ValueError, match="reference_labels has 100 entries but reference"):
        metrics.precision_at_k(
            Xd[:10], y[:10], reference=Xd[10:], reference_labels=_lazy(y[:100], 50)
        )
    with pytest.raises(ValueError, match="must be 1-D"):
        metrics.r_precision(Xd, _lazy(np.c_[y, y], 300))
    nan_labels = y.astype(float)
    nan_labels[500] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        metrics.knn_accuracy(
            Xd[:100], y[:100], reference=Xd[100:], reference_labels=_lazy(nan_labels[100:], 300)
        )
    with pytest.raises(TypeError, match="must hold numbers"):
        metrics.knn_accuracy(
            Xd[:100], y[:100], reference=Xd[100:], reference_labels=_lazy(y[100:].astype(str), 300)
        )
    with pytest.raises(ValueError, match="k=900 is more than the 899"):
        metrics.precision_at_k(Xd, y, k=900)
    bad = X.copy()
    bad[5, 5] = np.inf
    with pytest.raises(ValueError, match="contains NaN or infinity"):
        metrics.precision_at_k(_lazy(bad, 300), y)
