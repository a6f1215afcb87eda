"""Property tests: the distance axioms, for the metrics the registry says have them."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mlearn.pairwise import kneighbors, paired_distances, pairwise_distances
from mlearn.pairwise._metrics import METRICS

SETTINGS = settings(max_examples=15, deadline=None, derandomize=True)
DISTANCES = [m for m in METRICS.values() if not m.similarity]
TRUE_METRICS = [m for m in METRICS.values() if m.true_metric]


def _params(name, d):
    rng = np.random.default_rng(0)
    if name == "minkowski":
        return {"p": 3}
    if name == "mahalanobis":
        return {"L": rng.standard_normal((max(d - 1, 1), d))}
    if name == "bilinear":
        return {"M": rng.standard_normal((d, d))}
    return {}


def _points(metric, n=3):
    elements = (
        st.floats(0, 100, allow_nan=False, allow_subnormal=False)
        if metric.histogram
        else st.floats(-100, 100, allow_nan=False, allow_subnormal=False)
    )
    points = st.integers(1, 6).flatmap(lambda d: arrays(np.float64, (n, d), elements=elements))
    if metric.name == "jensen_shannon":
        points = points.map(
            lambda a: a + np.eye(a.shape[0], a.shape[1], dtype=float) + (a.shape[1] < a.shape[0])
        )
    return points


def _scale(P, metric):
    return max(1.0, float(np.max(np.abs(P)))) ** (2 if metric.name == "sqeuclidean" else 1)


@pytest.mark.parametrize("metric", TRUE_METRICS, ids=lambda m: m.name)
def test_true_metric_axioms(metric):
    @SETTINGS
    @given(_points(metric))
    def check(P):
        D = pairwise_distances(P, metric=metric.name, **_params(metric.name, P.shape[1]))
        tol = 1e-9 * _scale(P, metric)
        assert np.all(D >= 0)
        np.testing.assert_allclose(np.diag(D), 0, atol=tol)
        np.testing.assert_allclose(D, D.T, rtol=1e-12, atol=tol)
        for i in range(3):
            for j in range(3):
                for k in range(3):
                    assert D[i, j] <= D[i, k] + D[k, j] + tol

    check()


@pytest.mark.parametrize("metric", DISTANCES, ids=lambda m: m.name)
def test_distances_non_negative_and_zero_on_identity(metric):
    @SETTINGS
    @given(_points(metric, n=4))
    def check(P):
        if metric.name == "cosine":  # a zero vector is at distance 1 from itself
            assume(np.all(np.linalg.norm(P, axis=1) > 0))
        params = _params(metric.name, P.shape[1])
        D = pairwise_distances(P, metric=metric.name, **params)
        tol = 1e-9 * _scale(P, metric)
        assert np.all(D >= -tol)
        np.testing.assert_allclose(
            paired_distances(P, P.copy(), metric=metric.name, **params), 0, atol=tol
        )
        if metric.symmetric:
            np.testing.assert_allclose(D, D.T, rtol=1e-10, atol=tol)

    check()


@SETTINGS
@given(
    arrays(np.float64, (12, 3), elements=st.floats(-10, 10, allow_subnormal=False)),
    st.integers(1, 11),
)
def test_kneighbors_consistent_with_pairwise(P, k):
    D = pairwise_distances(P, metric="manhattan")
    np.fill_diagonal(D, np.inf)
    dist, ind = kneighbors(P, n_neighbors=k, metric="manhattan")
    order = np.lexsort((np.broadcast_to(np.arange(12), D.shape), D), axis=1)[:, :k]
    np.testing.assert_array_equal(ind, order)
    np.testing.assert_allclose(dist, np.take_along_axis(D, order, 1))


@SETTINGS
@given(
    arrays(np.float64, (6, 4), elements=st.floats(-1e3, 1e3, allow_subnormal=False)),
    arrays(np.float64, 4, elements=st.floats(-1e4, 1e4, allow_subnormal=False)),
)
def test_euclidean_translation_invariant(P, shift):
    np.testing.assert_allclose(
        pairwise_distances(P + shift),
        pairwise_distances(P),
        rtol=1e-9,
        atol=1e-9 * (1 + np.max(np.abs(shift))),
    )
