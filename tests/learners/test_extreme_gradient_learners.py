"""Extreme scales and degenerate data for the gradient-based learners (NCA,
MLKR, LMNN, SCML and the general learners), as hypothesis property tests.

None of these learners is invariant to the scale of the data (a softmax over
``exp(-d²)``, a unit margin, an identity prior), so across the scale sweep the
properties are: finite ``components_`` (never NaN, inf or an internal error),
never a zero metric without a warning, and, for data whose largest magnitude
lies outside ``[2**-100, 2**100]``, a fit that is exactly the fit of the data
divided by the power of two ``s`` that brings them into range, with
``components_`` divided by ``s``.
"""

import re
import warnings

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning

from mlearn import (
    LMNN,
    MLKR,
    NCA,
    SCML,
    MetricLearner,
    PairsMetricLearner,
    QuadrupletsMetricLearner,
    SCML_Supervised,
    TripletsMetricLearner,
)
from mlearn.linalg import power_of_two_scale

# -- inputs built from labelled points ------------------------------------------------


def labelled_points(seed, n_per_class=8, n_features=3, n_classes=3):
    rng = np.random.RandomState(seed)
    y = np.repeat(np.arange(n_classes), n_per_class)
    X = rng.randn(len(y), n_features) + 2.0 * np.eye(n_classes, n_features)[y]
    return X, y


def _pairs(X, y, rng):
    n = len(X)
    a, b = rng.randint(n, size=(2, 4 * n))
    keep = a != b
    a, b = a[keep], b[keep]
    labels = np.where(y[a] == y[b], 1, -1)
    # both labels, whatever the draw
    a = np.r_[a, 0, 0]
    b = np.r_[b, np.flatnonzero(y == y[0])[-1], np.flatnonzero(y != y[0])[0]]
    labels = np.r_[labels, 1, -1]
    return np.stack([X[a], X[b]], axis=1), labels


def _triplets_index(y, rng):
    rows = []
    for i in range(len(y)):
        same = np.flatnonzero((y == y[i]) & (np.arange(len(y)) != i))
        other = np.flatnonzero(y != y[i])
        if len(same) and len(other):
            rows.append([i, rng.choice(same), rng.choice(other)])
    return np.array(rows, dtype=np.intp).reshape(-1, 3)


def _triplets(X, y, rng):
    return X[_triplets_index(y, rng)], None


def _quadruplets(X, y, rng):
    t = _triplets_index(y, rng)
    # (a, p) similar, (a', n) dissimilar, a' another point of a's class
    return X[np.column_stack([t[:, 0], t[:, 1], t[:, 1], t[:, 2]])], None


def _regression(X, y, rng):
    return X, X[:, 0] + 0.1 * rng.randn(len(X))


LEARNERS = {
    "NCA": (lambda: NCA(max_iter=15), lambda X, y, rng: (X, y)),
    "MLKR": (lambda: MLKR(max_iter=15), _regression),
    "LMNN": (lambda: LMNN(n_neighbors=2, max_iter=30, min_iter=5), lambda X, y, rng: (X, y)),
    "SCML": (lambda: SCML(max_iter=200, output_iter=100, random_state=0), _triplets),
    "SCML_Supervised": (
        lambda: SCML_Supervised(
            k_genuine=2, k_impostor=3, n_basis=8, max_iter=200, output_iter=100, random_state=0
        ),
        lambda X, y, rng: (X, y),
    ),
    "MetricLearner": (
        lambda: MetricLearner(k_genuine=2, max_iter=20, random_state=0),
        lambda X, y, rng: (X, y),
    ),
    "PairsMetricLearner": (lambda: PairsMetricLearner(max_iter=30, random_state=0), _pairs),
    "TripletsMetricLearner": (lambda: TripletsMetricLearner(max_iter=30), _triplets),
    "QuadrupletsMetricLearner": (lambda: QuadrupletsMetricLearner(max_iter=30), _quadruplets),
}


def fit(name, data, target):
    """Fit a fresh learner; returns it and the UserWarnings it raised."""
    make, _ = LEARNERS[name]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", ConvergenceWarning)
        learner = make().fit(data, target) if target is not None else make().fit(data)
    return learner, [w for w in caught if issubclass(w.category, UserWarning)]


def assert_finite_and_not_silently_zero(learner, warned, data):
    L = learner.components_
    assert np.all(np.isfinite(L))
    assert np.any(L) or warned, "a zero metric needs a warning"
    points = data.reshape(-1, data.shape[-1])
    assert np.all(np.isfinite(learner.transform(points)))


# -- the scale sweep -------------------------------------------------------------------


@pytest.mark.parametrize("name", list(LEARNERS))
@settings(max_examples=4, deadline=None, derandomize=True)
@given(exponent=st.integers(-150, 150), seed=st.integers(0, 100))
# inside the band, where the arithmetic itself must hold (NCA's kernel
# divided by zero at 1e12), and far below it
@example(exponent=12, seed=0)
@example(exponent=-25, seed=1)
@example(exponent=-150, seed=2)
def test_scale_sweep_is_finite_and_exact_outside_the_band(name, exponent, seed):
    X, y = labelled_points(seed)
    data, target = LEARNERS[name][1](X, y, np.random.RandomState(seed))
    data = data * 10.0**exponent
    learner, warned = fit(name, data, target)
    assert_finite_and_not_silently_zero(learner, warned, data)
    s = power_of_two_scale(data)
    if s != 1.0:
        # fitted on data / s exactly: the same computation, so the same result
        reference, _ = fit(name, data / s, target)
        np.testing.assert_allclose(
            learner.components_ * s, reference.components_, rtol=1e-9, atol=0
        )


# -- duplicated points, a constant feature, a single feature ---------------------------


@pytest.mark.parametrize("name", list(LEARNERS))
@settings(max_examples=4, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 100),
    copies=st.integers(2, 3),
    shape=st.sampled_from(["plain", "constant_feature", "one_feature"]),
)
def test_duplicated_points_give_a_finite_metric(name, seed, copies, shape):
    X, y = labelled_points(seed, n_per_class=4)
    if shape == "constant_feature":
        X[:, 1] = 3.0
    elif shape == "one_feature":
        X = X[:, :1]
    X, y = np.repeat(X, copies, axis=0), np.repeat(y, copies)
    data, target = LEARNERS[name][1](X, y, np.random.RandomState(seed))
    before = data.copy()
    learner, warned = fit(name, data, target)
    assert_finite_and_not_silently_zero(learner, warned, data)
    np.testing.assert_array_equal(data, before)
    M = learner.get_mahalanobis_matrix()
    assert np.linalg.eigvalsh((M + M.T) / 2).min() >= -1e-9 * max(1.0, np.abs(M).max())


# -- tiny classes and tiny samples ------------------------------------------------------

#: What a learner may say when the data are too small for it (else it must fit).
TOO_SMALL = {
    "SCML_Supervised": "at least 2 points in every class",
    "SCML": "basis|triplets",
}


@pytest.mark.parametrize("name", list(LEARNERS))
@settings(max_examples=4, deadline=None, derandomize=True)
@given(seed=st.integers(0, 100), sizes=st.lists(st.integers(1, 3), min_size=2, max_size=3))
def test_tiny_classes_fit_or_say_why(name, seed, sizes):
    rng = np.random.RandomState(seed)
    y = np.repeat(np.arange(len(sizes)), sizes)
    X = rng.randn(len(y), 2) + 2.0 * np.eye(len(sizes), 2)[y]
    data, target = LEARNERS[name][1](X, y, rng)
    if len(data) == 0:  # no triplet can be built: nothing to test
        return
    try:
        learner, warned = fit(name, data, target)
    except ValueError as exc:
        assert name in TOO_SMALL and re.search(TOO_SMALL[name], str(exc)), str(exc)
        return
    assert_finite_and_not_silently_zero(learner, warned, data)
