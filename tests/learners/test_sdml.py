"""SDML and SDML_Supervised: graphical lasso against scikit-learn's, closed forms, shifts."""

import warnings

import numpy as np
import pytest
from scipy.linalg import cholesky, eigh, sqrtm
from sklearn.covariance import graphical_lasso
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
from sklearn.preprocessing import StandardScaler

from mlearn import SDML, Constraints, SDML_Supervised
from mlearn.learners.sdml import graphical_lasso_admm


def _iris_pairs(n=20, random_state=0):
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idx, labels = Constraints(y).pairs(n, random_state=random_state)
    return X[idx], labels


def _laplacian_term(pairs, y):
    K = np.zeros((pairs.shape[2],) * 2)
    for (a, b), label in zip(pairs, y):
        K += label * np.outer(a - b, a - b)
    return K


def _certified_error(P, S, alpha):
    """Bound on ||P - P*||_F / ||P||_F, P* the graphical lasso minimiser.

    With R the minimum-norm subgradient of the objective at P and
    lam = ||P^(1/2) R P^(1/2)||_F < 1, self-concordance of -log det gives
    ||P^(-1/2) (P* - P) P^(-1/2)||_F <= lam / (1 - lam). Computed here with
    an explicit inverse and SciPy's square root, apart from the solver.
    """
    R = S - np.linalg.inv(P)
    off = ~np.eye(len(P), dtype=bool)
    R[off] += np.where(P[off] != 0, alpha * np.sign(P[off]), np.clip(-R[off], -alpha, alpha))
    root = sqrtm(P).real
    lam = np.linalg.norm(root @ R @ root)
    assert lam < 1
    return lam / (1 - lam)


def _spd(cond, n=6, random_state=0):
    rng = np.random.RandomState(random_state)
    Q, _ = np.linalg.qr(rng.randn(n, n))
    return (Q * np.logspace(0, np.log10(cond), n)) @ Q.T


def test_admm_matches_scikit_learn_graphical_lasso():
    rng = np.random.RandomState(0)
    X = rng.randn(200, 6) @ rng.randn(6, 6)
    S = np.cov(X, rowvar=False)
    alpha = 0.05 * np.mean(np.diag(S))
    _, expected = graphical_lasso(S, alpha=alpha, mode="lars", tol=1e-12, max_iter=1000)
    tol = 1e-10
    P, _, converged = graphical_lasso_admm(S, alpha, max_iter=5000, tol=tol)
    assert converged
    # both answers are within their certified errors of the minimiser
    bound = tol * np.linalg.norm(P) + _certified_error(expected, S, alpha) * np.linalg.norm(
        expected
    )
    assert np.linalg.norm(P - expected) <= bound
    # and the zeros are the same (here the zero entries' subgradients lie well
    # inside (-alpha, alpha), so round-off cannot move an entry off zero)
    np.testing.assert_array_equal(P == 0, np.abs(expected) < 1e-12)


@pytest.mark.parametrize("tol", [1e-6, 1e-9])
@pytest.mark.parametrize("cond", [10.0, 1e2, 1e3])
@pytest.mark.parametrize("relative_alpha", [0.01, 0.05, 0.2])
def test_admm_result_is_certified_to_tol(relative_alpha, cond, tol):
    S = _spd(cond)
    alpha = relative_alpha * np.mean(np.diag(S))
    P, _, converged = graphical_lasso_admm(S, alpha, max_iter=5000, tol=tol)
    assert converged
    # the test's own bound carries round-off ~ n * eps * cond(P) (its explicit inverse)
    assert _certified_error(P, S, alpha) <= tol + 1e-14 * cond


@pytest.mark.parametrize("tol", [1e-6, 1e-9])
@pytest.mark.parametrize("cond", [1.0, 1e2, 1e4, 1e6])
def test_unpenalised_admm_is_the_inverse_to_tol(cond, tol):
    S = _spd(cond) * 1e3
    P, _, converged = graphical_lasso_admm(S, 0.0, tol=tol)
    assert converged
    # the guarantee: (1 - tol) P <= S^-1 <= (1 + tol) P, i.e. the eigenvalues of
    # C' P C (S = C C') lie in [1 / (1 + tol), 1 / (1 - tol)]; computing them
    # costs round-off ~ eps * cond(S)
    C = cholesky(S, lower=True)
    w = np.linalg.eigvalsh(C.T @ P @ C)
    slack = 1e-15 * cond
    assert w.min() >= 1 / (1 + tol) - slack and w.max() <= 1 / (1 - tol) + slack
    exact = np.linalg.inv(S)
    assert np.linalg.norm(P - exact) <= (tol + slack) * np.linalg.norm(P)


def test_unpenalised_solution_is_the_inverse():
    # with sparsity_param=0 the minimiser of tr(MS) - log det M is S^-1, which
    # SDML's solver certifies to the relative accuracy tol=1e-6: squared
    # distances within a factor 1 +- 1e-6 of those of S^-1; M = L.T @ L
    # adds round-off (S is well conditioned)
    pairs, y = _iris_pairs()
    eta = 1e-3
    sdml = SDML(balance_param=eta, sparsity_param=0.0).fit(pairs, y)
    S = np.eye(4) + eta * _laplacian_term(pairs, y)
    M = sdml.get_mahalanobis_matrix()
    tol, slack = 1e-6, 1e-12
    C = cholesky(S, lower=True)
    w = np.linalg.eigvalsh(C.T @ M @ C)
    assert w.min() >= 1 / (1 + tol) - slack and w.max() <= 1 / (1 - tol) + slack
    assert np.linalg.norm(M - np.linalg.inv(S)) <= (tol + slack) * np.linalg.norm(M)


def test_sparsity_zeroes_off_diagonal_entries():
    pairs, y = _iris_pairs()
    dense = SDML(balance_param=1e-3, sparsity_param=0.0).fit(pairs, y)
    sparse = SDML(balance_param=1e-3, sparsity_param=0.5).fit(pairs, y)
    off = ~np.eye(4, dtype=bool)

    def n_zero(M):
        return int(np.sum(np.abs(M[off]) < 1e-12))

    assert n_zero(sparse.get_mahalanobis_matrix()) > n_zero(dense.get_mahalanobis_matrix())


def test_indefinite_matrix_is_shifted_with_a_warning():
    pairs, y = _iris_pairs()
    K = _laplacian_term(pairs, y)
    # largest balance_param keeping I + eta K positive definite, found independently
    mu = eigh(K, eigvals_only=True)[0]
    assert mu < 0
    limit = -1.0 / mu
    with pytest.warns(UserWarning, match=f"balance_param < {limit:.3g}"):
        sdml = SDML(balance_param=2 * limit).fit(pairs, y)
    assert np.linalg.eigvalsh(sdml.get_mahalanobis_matrix()).min() > 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SDML(balance_param=0.5 * limit).fit(pairs, y)


@pytest.mark.parametrize("load", [load_iris, load_wine, load_breast_cancer, load_digits])
def test_supervised_works_on_the_classic_data_sets(load):
    X, y = load(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        sdml = SDML_Supervised(random_state=0).fit(X, y)
    M = sdml.get_mahalanobis_matrix()
    assert np.all(np.isfinite(M))
    assert np.linalg.eigvalsh(M).min() > 0


def test_edge_cases():
    pairs, y = _iris_pairs()
    # all pairs of one sign, a single pair, duplicated pairs
    for p, labels in [
        (pairs[y == 1], y[y == 1]),
        (pairs[y == -1], y[y == -1]),
        (pairs[:1], y[:1]),
        (np.concatenate([pairs, pairs]), np.r_[y, y]),
    ]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            sdml = SDML().fit(p, labels)
        assert np.all(np.isfinite(sdml.components_))
    same = pairs[:3].copy()
    same[:, 1] = same[:, 0]
    sdml = SDML(balance_param=1e-3).fit(same, [1, -1, 1])
    np.testing.assert_allclose(sdml.get_mahalanobis_matrix(), np.eye(4), atol=1e-6)
    # more features than pairs
    rng = np.random.RandomState(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        sdml = SDML().fit(rng.randn(3, 2, 15), [1, -1, 1])
    assert sdml.components_.shape == (15, 15)


def test_prior_must_be_positive_definite():
    pairs, y = _iris_pairs()
    with pytest.raises(ValueError, match="strictly positive definite prior"):
        SDML(prior=np.diag([1.0, 1.0, 0.0, 1.0])).fit(pairs, y)


def test_supervised_matches_pairs_form_and_n_components():
    X, y = load_iris(return_X_y=True)
    a = SDML_Supervised(
        n_constraints=20,
        balance_param=1e-3,
        random_state=0,
        n_components=2,
        feature_scaling=None,
    ).fit(X, y)
    idx, labels = Constraints(y).pairs(20, random_state=np.random.RandomState(0))
    b = SDML(balance_param=1e-3).fit(X[idx], labels)
    w, V = np.linalg.eigh(b.get_mahalanobis_matrix())
    expected = (V[:, -2:] * w[-2:]) @ V[:, -2:].T
    np.testing.assert_allclose(a.get_mahalanobis_matrix(), expected, atol=1e-10)
