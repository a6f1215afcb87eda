"""MMC and MMC_Supervised: objective, gradient and optimality against independent solvers."""

import warnings

import numpy as np
import pytest
from scipy.optimize import minimize
from sklearn.datasets import load_digits, load_iris
from sklearn.preprocessing import StandardScaler

from mlearn import MMC, Constraints, MMC_Supervised
from mlearn.learners.mmc import (
    _log_sum_distances,
    _log_sum_distances_grad,
    _project_c1_c2,
)


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


def test_dissimilarity_term_and_gradient():
    pairs, y = _iris_pairs()
    D = (pairs[:, 0] - pairs[:, 1])[y == -1]
    rng = np.random.RandomState(0)
    B = rng.randn(4, 4)
    M = B @ B.T + np.eye(4)
    direct = np.log(sum(np.sqrt(v @ M @ v) for v in D))
    assert _log_sum_distances(M, D) == pytest.approx(direct, rel=1e-12)
    E = rng.randn(4, 4)
    E = (E + E.T) / 2
    h = 1e-6
    numeric = (_log_sum_distances(M + h * E, D) - _log_sum_distances(M - h * E, D)) / (2 * h)
    assert np.vdot(_log_sum_distances_grad(M, D), E) == pytest.approx(numeric, rel=1e-5)


def _dykstra(A, W, t, n_iter=3000):
    """Projection onto {X PSD} ∩ {<W, X> <= t} by Dykstra's alternating algorithm."""
    w = W.ravel() / np.linalg.norm(W)
    tn = t / np.linalg.norm(W)
    X, P, Q = A.copy(), np.zeros_like(A), np.zeros_like(A)
    for _ in range(n_iter):
        Y = X + P
        y = Y.ravel()
        Yh = (y - max(w @ y - tn, 0.0) * w).reshape(A.shape)
        P = Y - Yh
        Z = Yh + Q
        ev, V = np.linalg.eigh((Z + Z.T) / 2)
        X = (V * np.clip(ev, 0, None)) @ V.T
        Q = Z - X
    return X


def test_projection_onto_the_feasible_set():
    rng = np.random.RandomState(0)
    B = rng.randn(5, 3)
    W = B @ B.T  # PSD and singular, like a scatter matrix of few pairs
    A = rng.randn(5, 5)
    A = (A + A.T) / 2 + 2 * np.eye(5)
    t = 0.2 * np.vdot(W, A)
    X, n_proj, satisfied = _project_c1_c2(A, W, t, 1e-9, 10000)
    assert satisfied and n_proj < 200
    assert np.linalg.eigvalsh(X).min() > -1e-10
    np.testing.assert_allclose(X, _dykstra(A, W, t), atol=1e-6)
    # an already feasible PSD matrix is its own projection
    X, n_proj, _ = _project_c1_c2(np.eye(5), W, 2 * np.trace(W), 0.01, 10)
    np.testing.assert_allclose(X, np.eye(5), atol=1e-12)
    assert n_proj == 1


def _ratio(M, pairs, y):
    """Xing et al.'s criterion: sum of dissimilar distances at unit similar scatter."""
    diffs = pairs[:, 0] - pairs[:, 1]
    d2 = np.clip(np.einsum("ij,jk,ik->i", diffs, M, diffs), 0, None)
    return np.sqrt(d2[y == -1]).sum() / np.sqrt(d2[y == 1].sum())


def test_full_version_is_feasible_and_improves_the_criterion():
    pairs, y = _iris_pairs()
    mmc = MMC(tol=1e-6).fit(pairs, y)
    M = mmc.get_mahalanobis_matrix()
    diffs = pairs[:, 0] - pairs[:, 1]
    t = np.sum(diffs[y == 1] ** 2) / 100  # a hundredth of the Euclidean scatter
    d2 = np.einsum("ij,jk,ik->i", diffs, M, diffs)
    assert d2[y == 1].sum() <= 1.01 * t
    assert np.linalg.eigvalsh(M).min() > -1e-10 * np.abs(M).max()
    assert _ratio(M, pairs, y) > 1.5 * _ratio(np.eye(4), pairs, y)


def test_diagonal_version_against_bounded_solver():
    pairs, y = _iris_pairs()
    c = 2.0
    mmc = MMC(diagonal=True, diagonal_c=c, tol=1e-12, max_iter=500).fit(pairs, y)
    M = mmc.get_mahalanobis_matrix()
    np.testing.assert_allclose(M, np.diag(np.diag(M)), atol=1e-12)
    assert np.all(np.diag(M) >= 0)
    # an independent L-BFGS-B run with the exact gradient, from a start at the
    # problem's scale (with finite differences from w = 1 it stalls after two
    # steps, far above the optimum, and the comparison proves nothing)
    diffs = pairs[:, 0] - pairs[:, 1]
    s = np.sum(diffs[y == 1] ** 2, axis=0)
    Q = diffs[y == -1] ** 2

    def f(w):
        dist = np.sqrt(np.maximum(Q @ w, 1e-300))
        return s @ w - c * np.log(dist.sum()), s - c * Q.T @ (0.5 / dist) / dist.sum()

    w0 = np.ones(4) / (2 * s.sum())
    res = minimize(
        f,
        w0,
        jac=True,
        method="L-BFGS-B",
        bounds=[(0, None)] * 4,
        options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 5000},
    )
    assert res.fun < f(w0)[0] - 1.0
    assert _objective(M, pairs, y, c) <= res.fun + 1e-7 * abs(res.fun)


def test_diagonal_version_reaches_the_optimum_from_a_bad_scale():
    # with the identity as start, the similar term dwarfs the log term on
    # 64 standardised features; the default solver must still reach the
    # bounded optimum (an independent L-BFGS-B run with the exact gradient)
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idx, labels = Constraints(y).pairs(400, random_state=0)
    pairs = X[idx]
    M = MMC(diagonal=True).fit(pairs, labels).get_mahalanobis_matrix()
    diffs = pairs[:, 0] - pairs[:, 1]
    s = np.sum(diffs[labels == 1] ** 2, axis=0)
    Q = diffs[labels == -1] ** 2

    def f(w):
        dist = np.sqrt(np.maximum(Q @ w, 1e-300))
        return s @ w - np.log(dist.sum()), s - Q.T @ (0.5 / dist) / dist.sum()

    w0 = np.ones(64) / (2 * s.sum())
    res = minimize(
        f,
        w0,
        jac=True,
        method="L-BFGS-B",
        bounds=[(0, None)] * 64,
        options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 5000},
    )
    assert res.fun < f(w0)[0] - 0.1
    value = _objective(M, pairs, labels)
    assert value <= res.fun + 1e-5 * abs(res.fun)


def test_diagonal_version_rejects_an_unbounded_problem():
    pairs, y = _iris_pairs()
    pairs = pairs.copy()
    pairs[y == 1, 1, 2] = pairs[y == 1, 0, 2]  # no similar pair differs in feature 2
    with pytest.raises(ValueError, match=r"feature\(s\) \[2\].*unbounded"):
        MMC(diagonal=True).fit(pairs, y)


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
    np.testing.assert_allclose(
        a.get_mahalanobis_matrix(), b.get_mahalanobis_matrix(), rtol=1e-6, atol=1e-8
    )
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
    a = MMC_Supervised(n_constraints=40, random_state=0, feature_scaling=None).fit(X, y)
    np.testing.assert_array_equal(X, X_before)
    idx, labels = Constraints(y).pairs(40, random_state=np.random.RandomState(0))
    b = MMC(tol=1e-6).fit(X[idx], labels)
    np.testing.assert_allclose(
        a.get_mahalanobis_matrix(), b.get_mahalanobis_matrix(), rtol=1e-10, atol=1e-12
    )
    Xt = a.transform(X)
    assert Xt.shape == (150, 4)
