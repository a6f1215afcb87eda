import warnings

import numpy as np
import pytest
from scipy.optimize import minimize
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlearn import LSML, Constraints, LSML_Supervised
from mlearn.learners.lsml import _residual_gradient


def textbook_loss(M, quadruplets, weights=None, prior=None):
    """LSML's objective, one quadruplet at a time, straight from the definition."""
    n, _, d = quadruplets.shape
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    w = w / w.sum()
    P = np.eye(d) if prior is None else prior
    total = 0.0
    for (a, b, c, e), wi in zip(quadruplets, w):
        d_ab = np.sqrt((a - b) @ M @ (a - b))
        d_cd = np.sqrt((c - e) @ M @ (c - e))
        if d_ab > d_cd:
            total += wi * (d_ab - d_cd) ** 2
    sign, logdet = np.linalg.slogdet(M)
    assert sign > 0
    return total + np.trace(M @ np.linalg.inv(P)) - logdet


def iris_quadruplets(n=60, seed=0):
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    a, b, c, d = Constraints(y).positive_negative_pairs(n, same_length=True, random_state=seed)
    return X[np.column_stack([a, b, c, d])]


def toy_quadruplets(n=40, d=3, seed=0):
    """Similarity is decided by feature 0 only; the other features are noise."""
    rng = np.random.RandomState(seed)
    q = rng.randn(n, 4, d) * 3
    q[:, 1, 0] = q[:, 0, 0] + 0.1 * rng.randn(n)  # a, b agree on feature 0
    q[:, 3, 0] = q[:, 2, 0] + 4 + rng.rand(n)  # c, d disagree on it
    return q


def fit_quiet(est, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(*args)


def test_loss_matches_textbook_definition():
    q = iris_quadruplets()
    lsml = LSML().fit(q)
    M = lsml.get_mahalanobis_matrix()
    assert lsml.loss_ == pytest.approx(textbook_loss(M, q), rel=1e-9)


def test_loss_decreases_every_iteration():
    q = toy_quadruplets()
    losses = [textbook_loss(np.eye(3), q)]
    for k in range(1, 7):
        lsml = fit_quiet(LSML(max_iter=k, tol=0.0), q)
        losses.append(textbook_loss(lsml.get_mahalanobis_matrix(), q))
    assert np.all(np.diff(losses) < 0), losses


def test_gradient_matches_finite_differences():
    rng = np.random.RandomState(0)
    q = toy_quadruplets(n=25)
    w = rng.rand(len(q))
    A = rng.randn(3, 3)
    M = A @ A.T + np.eye(3)
    diff_ab, diff_cd = q[:, 0] - q[:, 1], q[:, 2] - q[:, 3]
    d_ab = np.einsum("ij,jk,ik->i", diff_ab, M, diff_ab)
    d_cd = np.einsum("ij,jk,ik->i", diff_cd, M, diff_cd)
    G = _residual_gradient(diff_ab, diff_cd, d_ab, d_cd, w / w.sum())
    G += np.eye(3) - np.linalg.inv(M)
    eps = 1e-6
    for i in range(3):
        for j in range(i, 3):
            E = np.zeros((3, 3))
            E[i, j] = E[j, i] = 1.0
            numeric = (textbook_loss(M + eps * E, q, w) - textbook_loss(M - eps * E, q, w)) / (
                2 * eps
            )
            analytic = np.sum(G * E)
            assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-7)


def test_reaches_the_minimum_found_by_scipy():
    """An independent solver (L-BFGS over a Cholesky factor) finds the same optimum."""
    q = toy_quadruplets(n=30)

    def objective(theta):
        L = np.zeros((3, 3))
        L[np.tril_indices(3)] = theta
        return textbook_loss(L @ L.T + 1e-12 * np.eye(3), q)

    best = minimize(
        objective,
        np.eye(3)[np.tril_indices(3)],
        method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000},
    )
    lsml = LSML(tol=1e-8, max_iter=5000).fit(q)
    ours = textbook_loss(lsml.get_mahalanobis_matrix(), q)
    assert ours <= best.fun + 1e-6
    assert ours == pytest.approx(best.fun, rel=1e-5)


def test_learns_the_informative_feature():
    q = toy_quadruplets(n=60)
    lsml = LSML().fit(q)
    M = lsml.get_mahalanobis_matrix()
    assert M[0, 0] > 2 * max(M[1, 1], M[2, 2])
    held_out = toy_quadruplets(n=200, seed=1)
    euclidean = np.mean(
        np.linalg.norm(held_out[:, 0] - held_out[:, 1], axis=1)
        < np.linalg.norm(held_out[:, 2] - held_out[:, 3], axis=1)
    )
    assert lsml.score(held_out) > euclidean + 0.1


def test_zero_weight_drops_a_quadruplet_and_duplicates_count_twice():
    q = toy_quadruplets(n=20)
    w = np.ones(20)
    w[5] = 0.0
    a = LSML(tol=1e-9).fit(q, weights=w)
    b = LSML(tol=1e-9).fit(np.delete(q, 5, axis=0))
    np.testing.assert_allclose(
        a.get_mahalanobis_matrix(), b.get_mahalanobis_matrix(), rtol=1e-6, atol=1e-8
    )
    w = np.ones(20)
    w[3] = 2.0
    c = LSML(tol=1e-9).fit(q, weights=w)
    d = LSML(tol=1e-9).fit(np.concatenate([q, q[3:4]]))
    np.testing.assert_allclose(
        c.get_mahalanobis_matrix(), d.get_mahalanobis_matrix(), rtol=1e-6, atol=1e-8
    )


def test_inputs_not_modified():
    q = toy_quadruplets()
    w = np.arange(1.0, len(q) + 1)
    q0, w0 = q.copy(), w.copy()
    LSML().fit(q, weights=w)
    np.testing.assert_array_equal(q, q0)
    np.testing.assert_array_equal(w, w0)


@pytest.mark.parametrize(
    "quadruplets",
    [
        toy_quadruplets(n=1),  # a single quadruplet
        np.repeat(toy_quadruplets(n=1), 5, axis=0),  # duplicated
        np.zeros((3, 4, 2)),  # every point identical: zero distances
        np.random.RandomState(0).randn(3, 4, 20),  # n_features > n_quadruplets
    ],
    ids=["single", "duplicated", "zero-distances", "wide"],
)
def test_edge_cases_give_a_positive_definite_metric(quadruplets):
    lsml = LSML().fit(quadruplets)
    M = lsml.get_mahalanobis_matrix()
    assert np.all(np.isfinite(M))
    assert np.linalg.eigvalsh(M).min() > 0


def test_violated_quadruplet_with_a_zero_length_pair():
    # d(c, d) = 0 while d(a, b) > 0: the residual gradient has no 1/d(c, d) term
    q = np.array([[[0.0, 0.0], [1.0, 0.0], [2.0, 2.0], [2.0, 2.0]]])
    lsml = LSML().fit(q)
    M = lsml.get_mahalanobis_matrix()
    assert np.all(np.isfinite(M))
    assert M[0, 0] < 1.0  # the violated pair is pulled together


def test_n_components_keeps_the_leading_directions():
    q = iris_quadruplets()
    full = LSML().fit(q)
    low = LSML(n_components=2).fit(q)
    assert low.components_.shape == (2, 4)
    w, V = np.linalg.eigh(full.get_mahalanobis_matrix())
    expected = (V[:, -2:] * w[-2:]) @ V[:, -2:].T
    np.testing.assert_allclose(low.get_mahalanobis_matrix(), expected, atol=1e-10)


def test_priors():
    q = iris_quadruplets()
    points = np.unique(q.reshape(-1, 4), axis=0)
    cov_inv = np.linalg.inv(np.cov(points, rowvar=False))
    lsml = LSML(prior="covariance").fit(q)
    assert lsml.loss_ == pytest.approx(
        textbook_loss(lsml.get_mahalanobis_matrix(), q, prior=cov_inv), rel=1e-8
    )
    P = np.diag([1.0, 2.0, 3.0, 4.0])
    lsml = LSML(prior=P).fit(q)
    assert lsml.loss_ == pytest.approx(
        textbook_loss(lsml.get_mahalanobis_matrix(), q, prior=P), rel=1e-8
    )
    a = LSML(prior="random", random_state=3).fit(q)
    b = LSML(prior="random", random_state=3).fit(q)
    np.testing.assert_array_equal(a.components_, b.components_)


@pytest.mark.parametrize(
    "kwargs, fit_kwargs, match",
    [
        ({}, {"weights": np.ones(3)}, "weights must have shape"),
        ({}, {"weights": -np.ones(40)}, "non-negative"),
        ({}, {"weights": np.zeros(40)}, "not all be zero"),
        ({"prior": np.diag([1.0, 0.0, 1.0])}, {}, "strictly positive definite prior"),
        ({"prior": np.eye(2)}, {}, r"prior must have shape \(3, 3\)"),
    ],
)
def test_clear_errors(kwargs, fit_kwargs, match):
    with pytest.raises(ValueError, match=match):
        LSML(**kwargs).fit(toy_quadruplets(), **fit_kwargs)


def test_singular_covariance_prior_is_a_clear_error():
    q = toy_quadruplets()
    q[:, :, 2] = 1.0  # a constant feature
    with pytest.raises(ValueError, match="prior='identity'"):
        LSML(prior="covariance").fit(q)


def test_wrong_tuple_size():
    with pytest.raises(ValueError, match="quadruplets"):
        LSML().fit(np.zeros((5, 3, 2)))


def test_convergence_warning_and_verbose(capsys):
    with pytest.warns(ConvergenceWarning, match="max_iter=1"):
        LSML(max_iter=1, tol=0.0, verbose=True).fit(toy_quadruplets())
    out = capsys.readouterr().out
    assert out.startswith("[LSML]") and "loss" in out


def test_supervised_equals_lsml_on_the_same_quadruplets():
    X, y = load_iris(return_X_y=True)
    sup = LSML_Supervised(n_constraints=100, random_state=0, feature_scaling=None).fit(X, y)
    a, b, c, d = Constraints(y).positive_negative_pairs(
        100, same_length=True, random_state=np.random.RandomState(0)
    )
    weak = LSML().fit(X[np.column_stack([a, b, c, d])])
    np.testing.assert_allclose(sup.components_, weak.components_, rtol=1e-10, atol=1e-12)


def test_supervised_default_constraints_and_weights():
    X, y = load_iris(return_X_y=True)
    sup = LSML_Supervised(random_state=0).fit(X, y)  # 20 * 3**2 = 180 quadruplets
    w = np.ones(180)
    weighted = LSML_Supervised(weights=w, random_state=0).fit(X, y)
    np.testing.assert_allclose(sup.components_, weighted.components_)
    with pytest.raises(ValueError, match="one entry per drawn quadruplet"):
        LSML_Supervised(weights=np.ones(3), random_state=0).fit(X, y)


def test_supervised_weighs_informative_features_up_in_a_pipeline():
    X, y = load_iris(return_X_y=True)
    noise = np.random.RandomState(0).randn(len(X), 6)
    X = np.hstack([X, noise])  # 6 uninformative features
    Xs = StandardScaler().fit_transform(X)
    M = LSML_Supervised(random_state=0).fit(Xs, y).get_mahalanobis_matrix()
    # the petal measurements (columns 2, 3) separate the classes
    assert np.diag(M)[[2, 3]].min() > np.diag(M)[4:].max()
    knn = KNeighborsClassifier(3)
    base = cross_val_score(make_pipeline(StandardScaler(), knn), X, y, cv=3).mean()
    learned = cross_val_score(
        make_pipeline(StandardScaler(), LSML_Supervised(random_state=0), knn), X, y, cv=3
    ).mean()
    assert learned >= base
