"""MLKR: kernel against its NumPy reference, objective and gradient against
brute force and finite differences, regression behaviour and tags."""

import warnings

import numpy as np
import pytest
from sklearn.base import is_classifier, is_regressor
from sklearn.exceptions import ConvergenceWarning

from mlearn import MLKR
from mlearn._sklearn_compat import SKLEARN_GE_1_6
from mlearn.learners import _nca_kernels as K


def mlkr_loss_brute(L, X, y):
    E = X @ L.T
    D = ((E[:, None, :] - E[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(D, np.inf)
    P = np.exp(-(D - D.min(axis=1, keepdims=True)))
    P /= P.sum(axis=1, keepdims=True)
    return np.sum((P @ y - y) ** 2)


def finite_difference(f, L, h=1e-6):
    g = np.zeros_like(L)
    for idx in np.ndindex(*L.shape):
        Lp, Lm = L.copy(), L.copy()
        Lp[idx] += h
        Lm[idx] -= h
        g[idx] = (f(Lp) - f(Lm)) / (2 * h)
    return g


@pytest.fixture
def small():
    rng = np.random.RandomState(0)
    X = rng.randn(45, 4)
    y = X[:, 0] ** 2 + 0.3 * rng.randn(45)
    return X, y


@pytest.mark.parametrize("block_bytes", [2**21, 8 * 45 * 6])
@pytest.mark.parametrize("n_components", [4, 2])
@pytest.mark.parametrize("gather", [False, True])
def test_objective_and_gradient_match_brute_force_and_finite_differences(
    small, block_bytes, n_components, gather
):
    X, y = small
    L = np.random.RandomState(1).randn(n_components, 4) * 0.7
    objective = K.SoftmaxObjective(X, y, "mlkr", n_components, block_bytes, gather=gather)
    loss, grad = objective.value_and_gradient(L)
    assert loss == pytest.approx(mlkr_loss_brute(L, X, y), rel=1e-12)
    numeric = finite_difference(lambda A: mlkr_loss_brute(A, X, y), L)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-6)


def test_irrelevant_features_are_down_weighted_and_error_drops():
    rng = np.random.RandomState(0)
    X = rng.randn(300, 5)
    y = np.sin(2 * X[:, 0]) + 0.5 * X[:, 1] + 0.05 * rng.randn(300)
    mlkr = MLKR(random_state=0).fit(X, y)
    weights = np.linalg.norm(mlkr.components_, axis=0)
    assert weights[:2].min() > 3 * weights[2:].max()
    assert mlkr_loss_brute(mlkr.components_, X, y) < 0.5 * mlkr_loss_brute(np.eye(5), X, y)


def test_real_valued_targets_and_regression_tags():
    X = np.random.RandomState(0).randn(60, 3)
    y = X[:, 0] * 1.7 + 0.25  # continuous: not class labels
    mlkr = MLKR(max_iter=30, tol=1e-6).fit(X, y)
    assert mlkr.components_.shape == (3, 3)
    assert not is_classifier(mlkr) and not is_regressor(mlkr)
    if SKLEARN_GE_1_6:
        tags = mlkr.__sklearn_tags__()
        assert tags.target_tags.required and tags.target_tags.single_output
        assert not tags.target_tags.multi_output
        assert tags.classifier_tags is None
    else:
        assert mlkr._get_tags()["requires_y"]


def test_parameters_and_errors(capsys):
    X = np.random.RandomState(0).randn(60, 3)
    y = X[:, 0].copy()
    before = X.copy()
    seen = []
    mlkr = MLKR(n_components=2, max_iter=3, verbose=True, callback=lambda L, it: seen.append(it))
    with pytest.warns(ConvergenceWarning):
        mlkr.fit(X, y)
    np.testing.assert_array_equal(X, before)
    assert seen == [1, 2, 3] and mlkr.n_iter_ == 3
    assert "[MLKR]" in capsys.readouterr().out
    with pytest.raises(ValueError, match="init"):
        MLKR(init="lda").fit(X, y)
    with pytest.raises(ValueError, match="n_components=4"):
        MLKR(n_components=4).fit(X, y)
    with pytest.raises(ValueError):
        MLKR().fit(X, np.array(["a", "b"] * 30))
    a = MLKR(init="random", max_iter=5, random_state=1)
    b = MLKR(init="random", max_iter=5, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        np.testing.assert_array_equal(a.fit(X, y).components_, b.fit(X, y).components_)


@pytest.mark.parametrize("factor", [1e200, 1e-200])
def test_extreme_targets_are_fitted_at_a_power_of_two_scale(factor, small):
    # y * 1e200 made the squared errors overflow and the kernel divide by
    # zero; the targets are now divided by a power of two (exactly)
    from mlearn.linalg import power_of_two_scale

    X, y = small
    y_far = y * factor
    s = power_of_two_scale(y_far)
    assert s != 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        far = MLKR(max_iter=10).fit(X, y_far)
        reference = MLKR(max_iter=10).fit(X, y_far / s)
    assert np.all(np.isfinite(far.components_))
    np.testing.assert_allclose(far.components_, reference.components_, rtol=1e-9, atol=0)
