"""SDML and SDML_Supervised: graphical lasso against scikit-learn's, closed forms, shifts."""

import warnings

import numpy as np
import pytest
from scipy.linalg import eigh
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


def test_admm_matches_scikit_learn_graphical_lasso():
    rng = np.random.RandomState(0)
    X = rng.randn(200, 6) @ rng.randn(6, 6)
    S = np.cov(X, rowvar=False)
    alpha = 0.05 * np.mean(np.diag(S))
    _, expected = graphical_lasso(S, alpha=alpha, mode="lars", tol=1e-12, max_iter=1000)
    P, _, converged = graphical_lasso_admm(S, alpha, max_iter=5000, tol=1e-10)
    assert converged
    np.testing.assert_allclose(P, expected, atol=1e-5 * np.abs(expected).max())


def test_unpenalised_solution_is_the_inverse():
    # with sparsity_param=0 the minimiser of tr(MS) - log det M is S^-1
    pairs, y = _iris_pairs()
    eta = 1e-3
    sdml = SDML(balance_param=eta, sparsity_param=0.0).fit(pairs, y)
    S = np.eye(4) + eta * _laplacian_term(pairs, y)
    np.testing.assert_allclose(sdml.get_mahalanobis_matrix(), np.linalg.inv(S), rtol=1e-5)


def test_sparsity_zeroes_off_diagonal_entries():
    pairs, y = _iris_pairs()
    dense = SDML(balance_param=1e-3, sparsity_param=0.0).fit(pairs, y)
    sparse = SDML(balance_param=1e-3, sparsity_param=0.5).fit(pairs, y)
    off = ~np.eye(4, dtype=bool)
    n_zero = lambda M: int(np.sum(np.abs(M[off]) < 1e-12))
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
    for p, labels in [(pairs[y == 1], y[y == 1]), (pairs[y == -1], y[y == -1]),
                      (pairs[:1], y[:1]), (np.concatenate([pairs, pairs]), np.r_[y, y])]:
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
    a = SDML_Supervised(n_constraints=20, balance_param=1e-3, random_state=0,
                        n_components=2).fit(X, y)
    idx, labels = Constraints(y).pairs(20, random_state=np.random.RandomState(0))
    b = SDML(balance_param=1e-3).fit(X[idx], labels)
    w, V = np.linalg.eigh(b.get_mahalanobis_matrix())
    expected = (V[:, -2:] * w[-2:]) @ V[:, -2:].T
    np.testing.assert_allclose(a.get_mahalanobis_matrix(), expected, atol=1e-10)
