"""ITML and ITML_Supervised against direct computations of the Bregman projections."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from mlearn import ITML, Constraints, ITML_Supervised
from mlearn.learners._itml_kernels import itml_sweep, itml_sweep_blocked, itml_sweep_numpy


def _iris_pairs(n=40, random_state=0):
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idx, labels = Constraints(y).pairs(n, random_state=random_state)
    return X[idx], labels


def _textbook_itml(pairs, y, u, lower, gamma, n_sweeps):
    """Davis et al.'s algorithm 1 written out, one constraint at a time."""
    d = pairs.shape[2]
    A = np.eye(d)
    order = np.concatenate([np.flatnonzero(y == 1), np.flatnonzero(y == -1)])
    lam = np.zeros(len(y))
    xi = np.where(y == 1, u, lower).astype(float)
    gp = gamma / (gamma + 1)
    for _ in range(n_sweeps):
        for i in order:
            v = pairs[i, 0] - pairs[i, 1]
            p = v @ A @ v
            delta = y[i]
            if delta == 1:
                alpha = min(lam[i], gp * (1 / p - 1 / xi[i]))
            else:
                alpha = min(lam[i], gp * (1 / xi[i] - 1 / p))
            beta = delta * alpha / (1 - delta * alpha * p)
            xi[i] = gamma * xi[i] / (gamma + delta * alpha * xi[i])
            lam[i] -= alpha
            A = A + beta * A @ np.outer(v, v) @ A
    return A


def test_kernel_matches_numpy_reference():
    rng = np.random.RandomState(0)
    d, n = 6, 30
    B = rng.randn(d, d)
    A0 = B @ B.T + d * np.eye(d)
    diffs = rng.randn(n, d)
    signs = np.where(rng.rand(n) < 0.5, 1.0, -1.0)
    targets0 = np.where(signs > 0, 2.0, 30.0)
    lam0 = rng.rand(n) * 0.01
    out = []
    for sweep in (itml_sweep, itml_sweep_numpy):
        A, t, lam = A0.copy(), targets0.copy(), lam0.copy()
        for _ in range(3):
            sweep(A, diffs, signs, t, lam, 1.0, 0.5)
        out.append((A, t, lam))
    for a, b in zip(*out):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("d, n, block", [(6, 30, 16), (30, 45, 16), (30, 45, 7), (40, 16, 16)])
@pytest.mark.parametrize("gamma", [1.0, np.inf])
def test_blocked_kernel_matches_numpy_reference(d, n, block, gamma):
    # blocks with a remainder, a block size that does not divide n, n equal
    # to one block; a pair of identical points (skipped) in the middle
    rng = np.random.RandomState(1)
    B = rng.randn(d, d)
    A0 = B @ B.T / d + np.eye(d)
    diffs = rng.randn(n, d)
    diffs[n // 2] = 0.0
    signs = np.where(rng.rand(n) < 0.5, 1.0, -1.0)
    targets0 = np.where(signs > 0, 0.5 * d, 3.0 * d)
    lam0 = rng.rand(n) * 0.01
    gamma_proj = 1.0 if np.isinf(gamma) else gamma / (gamma + 1.0)
    out = []
    for sweep in (itml_sweep_numpy, itml_sweep_blocked):
        A, t, lam = A0.copy(), targets0.copy(), lam0.copy()
        skipped = []
        for _ in range(3):
            args = (A, diffs, signs, t, lam, gamma, gamma_proj)
            skipped.append(sweep(*args, block) if sweep is itml_sweep_blocked else sweep(*args))
        out.append((A, t, lam, skipped))
    (A_ref, t_ref, lam_ref, skip_ref), (A, t, lam, skip) = out
    assert skip == skip_ref == [1, 1, 1]
    assert not np.allclose(A, A0)  # the sweeps did move the metric
    np.testing.assert_allclose(A, A_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(lam, lam_ref, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(t, t_ref, rtol=1e-10)


def test_estimator_uses_the_blocked_sweep_with_many_features(monkeypatch):
    # the same fit with the update-by-update sweep forced: same metric
    from mlearn.learners import itml as itml_module
    from mlearn.learners.itml import BLOCKED_MIN_FEATURES

    rng = np.random.RandomState(0)
    X = rng.randn(120, BLOCKED_MIN_FEATURES + 3)
    y = rng.randint(0, 3, 120)
    X[:, 0] += 2.0 * y
    calls = []
    blocked = itml_module.itml_sweep_blocked
    monkeypatch.setattr(
        itml_module, "itml_sweep_blocked", lambda *args: calls.append(1) or blocked(*args)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fast = ITML_Supervised(max_iter=20, random_state=0).fit(X, y)
        assert calls  # the blocked sweep ran
        monkeypatch.setattr(itml_module, "BLOCKED_MIN_FEATURES", X.shape[1] + 1)
        plain = ITML_Supervised(max_iter=20, random_state=0).fit(X, y)
    np.testing.assert_allclose(
        fast.get_mahalanobis_matrix(), plain.get_mahalanobis_matrix(), rtol=1e-8, atol=1e-10
    )


def test_matches_textbook_algorithm():
    pairs, y = _iris_pairs(15)
    u, lower = 0.5, 6.0
    itml = ITML(gamma=2.0, max_iter=7, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        itml.fit(pairs, y, bounds=(u, lower))
    expected = _textbook_itml(pairs, y, u, lower, 2.0, 7)
    np.testing.assert_allclose(itml.get_mahalanobis_matrix(), expected, rtol=1e-8, atol=1e-10)
    assert itml.n_iter_ == 7


def test_single_pair_is_the_closed_form_projection():
    # projecting I onto {v'Mv = u} in LogDet divergence gives I + beta vv'
    v = np.array([1.0, 2.0, -1.0])
    pairs = np.array([[v, np.zeros(3)]])
    u = 0.5
    itml = ITML(gamma=np.inf).fit(pairs, [1], bounds=(u, 10.0))
    n2 = v @ v
    expected = np.eye(3) + (u - n2) / n2**2 * np.outer(v, v)
    np.testing.assert_allclose(itml.get_mahalanobis_matrix(), expected, rtol=1e-10)
    assert itml.pair_distance(pairs)[0] ** 2 == pytest.approx(u)


def test_hard_constraints_hold_after_convergence():
    # pairs labelled by a hidden metric, with a margin: the constraints are feasible
    rng = np.random.RandomState(0)
    hidden = np.diag([1.0, 0.05, 0.05])
    points = rng.randn(200, 2, 3) * 2
    d2 = np.einsum("ij,jk,ik->i", points[:, 0] - points[:, 1], hidden, points[:, 0] - points[:, 1])
    keep = (d2 < 0.5) | (d2 > 4.0)
    pairs, y = points[keep], np.where(d2[keep] < 0.5, 1, -1)
    u, lower = 1.0, 2.0
    itml = ITML(gamma=np.inf, max_iter=5000, tol=1e-9).fit(pairs, y, bounds=(u, lower))
    learned = itml.pair_distance(pairs) ** 2
    assert np.all(learned[y == 1] <= u * (1 + 1e-4))
    assert np.all(learned[y == -1] >= lower * (1 - 1e-4))


def test_slack_relaxes_constraints():
    # a small gamma lets constraints be violated: the learned metric moves less
    pairs, y = _iris_pairs(20)
    soft = ITML(gamma=0.01).fit(pairs, y, bounds=(1.0, 9.0)).get_mahalanobis_matrix()
    hard = ITML(gamma=100.0).fit(pairs, y, bounds=(1.0, 9.0)).get_mahalanobis_matrix()
    eye = np.eye(4)
    assert np.linalg.norm(soft - eye) < np.linalg.norm(hard - eye)


def test_default_bounds_are_percentiles_of_distances():
    pairs, y = _iris_pairs(20)
    itml = ITML().fit(pairs, y)
    points = np.unique(pairs.reshape(-1, 4), axis=0)
    dist = np.sqrt(((points[:, None] - points[None]) ** 2).sum(-1))
    np.testing.assert_allclose(itml.bounds_, np.percentile(dist, (5, 95)), rtol=1e-10)


def test_duplicate_pairs_are_skipped_and_reported(capsys):
    pairs, y = _iris_pairs(10)
    dup = np.concatenate([pairs, pairs[:1, [0, 0]], pairs[-1:, [1, 1]]])
    y_dup = np.concatenate([y, [1, -1]])
    with np.errstate(all="raise"):
        a = ITML(verbose=True).fit(dup, y_dup, bounds=(1.0, 9.0))
    assert "skipping 2 pair(s) of identical points" in capsys.readouterr().out
    b = ITML().fit(pairs, y, bounds=(1.0, 9.0))
    np.testing.assert_allclose(a.get_mahalanobis_matrix(), b.get_mahalanobis_matrix())


def test_only_identical_points_gives_the_prior():
    pairs = np.array([[[1.0, 2.0], [1.0, 2.0]], [[0.0, 1.0], [0.0, 1.0]]])
    itml = ITML().fit(pairs, [1, -1], bounds=(1.0, 2.0))
    np.testing.assert_allclose(itml.get_mahalanobis_matrix(), np.eye(2))


@pytest.mark.parametrize("sign", [1, -1])
def test_pairs_of_one_sign(sign):
    pairs, y = _iris_pairs(20)
    keep = y == sign
    itml = ITML().fit(pairs[keep], y[keep])
    assert np.all(np.isfinite(itml.components_))
    assert set(itml.predict(pairs)) <= {-1, 1}


def test_more_features_than_constraints():
    rng = np.random.RandomState(0)
    pairs = rng.randn(3, 2, 20)
    itml = ITML().fit(pairs, [1, -1, 1])
    M = itml.get_mahalanobis_matrix()
    assert np.linalg.eigvalsh(M).min() > 0
    assert itml.predict(pairs).tolist() == [1, -1, 1]


def test_n_components_keeps_leading_directions():
    pairs, y = _iris_pairs(20)
    full = ITML().fit(pairs, y)
    low = ITML(n_components=2).fit(pairs, y)
    assert low.components_.shape == (2, 4)
    w, V = np.linalg.eigh(full.get_mahalanobis_matrix())
    expected = (V[:, -2:] * w[-2:]) @ V[:, -2:].T
    np.testing.assert_allclose(low.get_mahalanobis_matrix(), expected, atol=1e-10)
    with pytest.raises(ValueError, match="n_components"):
        ITML(n_components=5).fit(pairs, y)


def test_bad_inputs():
    pairs, y = _iris_pairs(10)
    with pytest.raises(ValueError, match="bounds"):
        ITML().fit(pairs, y, bounds=(1.0,))
    with pytest.raises(ValueError, match="labels in"):
        ITML().fit(pairs, np.where(y == 1, 1, 0))
    with pytest.raises(ValueError, match="calibration_params"):
        ITML().fit(pairs, y, calibration_params={"strategie": "accuracy"})
    with pytest.raises(ValueError, match="prior"):
        ITML(prior=np.diag([1.0, 1.0, 1.0, 0.0])).fit(pairs, y)
    # a constant feature makes the covariance singular
    flat = pairs.copy()
    flat[:, :, 0] = 1.0
    with pytest.raises(ValueError, match="prior='identity'"):
        ITML(prior="covariance").fit(flat, y)


def test_calibration_params_are_used():
    pairs, y = _iris_pairs(20)
    itml = ITML().fit(pairs, y, calibration_params={"strategy": "max_tpr", "min_rate": 0.9})
    d = itml.pair_distance(pairs)
    tnr = np.mean(d[y == -1] > itml.threshold_)
    assert tnr >= 0.9


def test_convergence_warning_and_n_iter():
    pairs, y = _iris_pairs(20)
    with pytest.warns(ConvergenceWarning, match="max_iter=1"):
        itml = ITML(max_iter=1, tol=0.0).fit(pairs, y)
    assert itml.n_iter_ == 1


def test_supervised_draws_pairs_and_is_reproducible():
    X, y = load_iris(return_X_y=True)
    X_before = X.copy()
    a = ITML_Supervised(n_constraints=30, random_state=0, feature_scaling=None).fit(X, y)
    b = ITML_Supervised(n_constraints=30, random_state=0, feature_scaling=None).fit(X, y)
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(a.components_, b.components_)
    # same model as ITML on the pairs the labels give
    idx, labels = Constraints(y).pairs(30, random_state=np.random.RandomState(0))
    c = ITML().fit(X[idx], labels)
    np.testing.assert_allclose(a.get_mahalanobis_matrix(), c.get_mahalanobis_matrix(), rtol=1e-10)


def test_supervised_improves_knn_on_iris():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    rng = np.random.RandomState(0)
    order = rng.permutation(len(y))
    train, test = order[:100], order[100:]
    itml = ITML_Supervised(random_state=0).fit(X[train], y[train])
    knn = KNeighborsClassifier(3).fit(itml.transform(X[train]), y[train])
    assert knn.score(itml.transform(X[test]), y[test]) >= 0.9


def test_supervised_needs_two_classes():
    X = np.random.RandomState(0).randn(10, 3)
    with pytest.raises(ValueError, match="at least 2 classes"):
        ITML_Supervised().fit(X, np.zeros(10, dtype=int))
