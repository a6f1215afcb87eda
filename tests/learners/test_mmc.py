"""MMC and MMC_Supervised: objective, gradient and optimality against independent solvers."""

import warnings

import numpy as np
import pytest
from scipy.optimize import minimize
from sklearn.datasets import load_iris
from sklearn.preprocessing import StandardScaler

from mlearn import MMC, MMC_Supervised, Constraints
from mlearn.learners.mmc import mmc_objective


def _iris_pairs(n=30, random_state=0):
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idx, labels = Constraints(y).pairs(n, random_state=random_state)
    return X[idx], labels


def _objective(M, pairs, y, c=1.0):
    """MMC's objective written from its definition, pair by pair."""
    diffs = pairs[:, 0] - pairs[:, 1]
    d2 = np.array([v @ M @ v for v in diffs])
    return d2[y == 1].sum() - c * np.log(np.sqrt(np.clip(d2[y == -1], 0, None)).sum())


def _split(pairs, y):
    diffs = pairs[:, 0] - pairs[:, 1]
    S, D = diffs[y == 1], diffs[y == -1]
    return S.T @ S, D


def test_objective_and_gradient():
    pairs, y = _iris_pairs()
    scatter, D = _split(pairs, y)
    rng = np.random.RandomState(0)
    B = rng.randn(4, 4)
    M = B @ B.T + np.eye(4)
    value, grad = mmc_objective(M, scatter, D)
    assert value == pytest.approx(_objective(M, pairs, y), rel=1e-12)
    E = rng.randn(4, 4)
    E = (E + E.T) / 2
    h = 1e-6
    numeric = (mmc_objective(M + h * E, scatter, D)[0]
               - mmc_objective(M - h * E, scatter, D)[0]) / (2 * h)
    assert np.vdot(grad, E) == pytest.approx(numeric, rel=1e-6)


def _ratio(M, pairs, y):
    """Xing et al.'s criterion: sum of dissimilar distances at unit similar scatter."""
    diffs = pairs[:, 0] - pairs[:, 1]
    d2 = np.clip(np.einsum("ij,jk,ik->i", diffs, M, diffs), 0, None)
    return np.sqrt(d2[y == -1]).sum() / np.sqrt(d2[y == 1].sum())


def test_full_version_reaches_the_optimum():
    pairs, y = _iris_pairs()
    mmc = MMC(tol=0.0, max_iter=2000).fit(pairs, y)
    M = mmc.get_mahalanobis_matrix()
    ours = _objective(M, pairs, y)
    # an independent solver: BFGS over a factor L of M = L'L, from several starts
    rng = np.random.RandomState(0)
    best = np.inf
    for _ in range(3):
        res = minimize(lambda L: _objective(L.reshape(4, 4).T @ L.reshape(4, 4), pairs, y),
                       rng.randn(16) * 0.3, method="BFGS", options={"gtol": 1e-9})
        best = min(best, res.fun)
    assert ours <= best + 1e-6 * abs(best)
    # the constrained form: better than the Euclidean metric's ratio
    assert _ratio(M, pairs, y) > _ratio(np.eye(4), pairs, y)
    # the minimiser fixes the scale: sum_S d^2 = 1/2 (stationarity along M -> sM)
    diffs = pairs[:, 0] - pairs[:, 1]
    d2 = np.einsum("ij,jk,ik->i", diffs, M, diffs)
    assert d2[y == 1].sum() == pytest.approx(0.5, rel=1e-4)


def test_diagonal_version_against_bounded_solver():
    pairs, y = _iris_pairs()
    c = 2.0
    mmc = MMC(diagonal=True, diagonal_c=c, tol=1e-12, max_iter=500).fit(pairs, y)
    M = mmc.get_mahalanobis_matrix()
    np.testing.assert_allclose(M, np.diag(np.diag(M)), atol=1e-12)
    assert np.all(np.diag(M) >= 0)
    res = minimize(lambda w: _objective(np.diag(w), pairs, y, c), np.ones(4),
                   method="L-BFGS-B", bounds=[(0, None)] * 4,
                   options={"ftol": 1e-14, "gtol": 1e-10})
    assert _objective(M, pairs, y, c) <= res.fun + 1e-7 * abs(res.fun)


def test_needs_both_kinds_of_pairs():
    pairs, y = _iris_pairs()
    with pytest.raises(ValueError, match="both similar"):
        MMC().fit(pairs[y == 1], y[y == 1])
    with pytest.raises(ValueError, match="both similar"):
        MMC().fit(pairs[:1], y[:1])


def test_duplicate_pairs():
    pairs, y = _iris_pairs()
    same = pairs[:2].copy()
    same[:, 1] = same[:, 0]
    # identical points in pairs of both kinds: they add nothing, no division by zero
    with np.errstate(all="raise"):
        a = MMC(tol=1e-9).fit(np.concatenate([pairs, same]), np.concatenate([y, [1, -1]]))
    b = MMC(tol=1e-9).fit(pairs, y)
    np.testing.assert_allclose(a.get_mahalanobis_matrix(), b.get_mahalanobis_matrix(),
                               rtol=1e-6, atol=1e-8)
    with pytest.raises(ValueError, match="distinct points"):
        MMC().fit(np.concatenate([pairs[y == 1], same]), np.r_[y[y == 1], -1, -1])


def test_more_features_than_constraints():
    rng = np.random.RandomState(0)
    pairs = rng.randn(4, 2, 12)
    y = [1, -1, 1, -1]
    mmc = MMC(diagonal=True).fit(pairs, y)
    M = mmc.get_mahalanobis_matrix()
    assert np.all(np.isfinite(M)) and np.all(np.diag(M) >= 0)
    # two similar pairs span 2 of 12 dimensions: the full problem is unbounded
    with pytest.raises(ValueError, match="unbounded"):
        MMC().fit(pairs, y)


def test_n_components_and_init():
    pairs, y = _iris_pairs()
    mmc = MMC(n_components=2, init="covariance").fit(pairs, y)
    assert mmc.components_.shape == (2, 4)
    with pytest.raises(ValueError, match="init"):
        MMC(init=-np.eye(4)).fit(pairs, y)


def test_supervised_matches_pairs_form():
    X, y = load_iris(return_X_y=True)
    X_before = X.copy()
    a = MMC_Supervised(n_constraints=40, random_state=0).fit(X, y)
    np.testing.assert_array_equal(X, X_before)
    idx, labels = Constraints(y).pairs(40, random_state=np.random.RandomState(0))
    b = MMC(tol=1e-6).fit(X[idx], labels)
    np.testing.assert_allclose(a.get_mahalanobis_matrix(), b.get_mahalanobis_matrix(),
                               rtol=1e-10, atol=1e-12)
    Xt = a.transform(X)
    assert Xt.shape == (150, 4)
