import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.linalg import pinvh
from sklearn.datasets import load_iris

from mlearn.linalg import (
    components_from_metric,
    initialize_components,
    initialize_metric,
    metric_from_components,
    power_of_two_scale,
    project_psd,
)

symmetric = arrays(np.float64, (4, 4), elements=st.floats(-10, 10)).map(lambda A: (A + A.T) / 2)


@settings(max_examples=50, deadline=None)
@given(symmetric)
def test_project_psd_is_the_frobenius_projection(A):
    P = project_psd(A)
    assert np.array_equal(P, P.T)
    assert np.linalg.eigvalsh(P).min() >= -1e-9 * max(1.0, np.abs(A).max())
    # oracle: the projection keeps the positive part of the spectrum
    w, V = np.linalg.eigh(A)
    np.testing.assert_allclose(P, (V * np.maximum(w, 0)) @ V.T, atol=1e-9)
    # idempotent, and no PSD matrix tried here is closer
    np.testing.assert_allclose(project_psd(P), P, atol=1e-9)
    rng = np.random.RandomState(0)
    for _ in range(5):
        B = rng.randn(4, 4)
        Q = P + 0.1 * B @ B.T
        assert np.linalg.norm(A - P) <= np.linalg.norm(A - Q) + 1e-9


@settings(max_examples=50, deadline=None)
@given(arrays(np.float64, (3, 5), elements=st.floats(-5, 5)))
def test_components_roundtrip(L):
    M = metric_from_components(L)
    L2 = components_from_metric(M)
    np.testing.assert_allclose(L2.T @ L2, M, atol=1e-8 * max(1.0, np.abs(M).max()))


def test_components_truncation_is_best_low_rank():
    rng = np.random.RandomState(0)
    A = rng.randn(6, 6)
    M = A @ A.T
    L = components_from_metric(M, n_components=2)
    w, V = np.linalg.eigh(M)
    best = (V[:, -2:] * w[-2:]) @ V[:, -2:].T  # Eckart–Young
    np.testing.assert_allclose(L.T @ L, best, atol=1e-10)
    with pytest.raises(ValueError, match="n_components=7 must be at most n_features=6"):
        components_from_metric(M, n_components=7)


def test_initialisations():
    X, y = load_iris(return_X_y=True)
    np.testing.assert_array_equal(initialize_metric("identity", X), np.eye(4))
    np.testing.assert_allclose(initialize_metric("covariance", X), pinvh(np.cov(X, rowvar=False)))
    R = initialize_metric("random", X, random_state=0)
    assert np.linalg.eigvalsh(R).min() >= 0
    np.testing.assert_array_equal(R, initialize_metric("random", X, random_state=0))
    from sklearn.decomposition import PCA
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    np.testing.assert_allclose(
        initialize_components("pca", X, n_components=2), PCA(2).fit(X).components_
    )
    lda = LinearDiscriminantAnalysis(n_components=2).fit(X, y)
    np.testing.assert_allclose(
        initialize_components("lda", X, y, n_components=2), lda.scalings_[:, :2].T
    )
    assert initialize_components("auto", X, y, n_components=2).shape == (2, 4)
    assert initialize_components("random", X, n_components=3, random_state=0).shape == (3, 4)
    with pytest.raises(ValueError, match="at most n_classes - 1 = 2 components"):
        initialize_components("lda", X, y, n_components=3)
    with pytest.raises(ValueError, match="init must have shape \\(n_components, 4\\)"):
        initialize_components(np.eye(3), X)


@pytest.mark.parametrize("exponent", [-1070, -400, -110, 110, 400, 1000])
def test_power_of_two_scale_brings_extreme_data_into_the_band(exponent):
    X = np.random.RandomState(0).randn(5, 3) * np.ldexp(1.0, exponent)
    s = power_of_two_scale(X)
    assert np.frexp(s)[0] == 0.5  # a power of two
    assert 0.5 <= np.abs(X / s).max() < 1
    np.testing.assert_array_equal((X / s) * s, X)  # exact both ways


def test_power_of_two_scale_leaves_ordinary_data_alone():
    X = np.random.RandomState(0).randn(5, 3)
    assert power_of_two_scale(X) == 1.0
    assert power_of_two_scale(X * 1e25, X) == 1.0
    assert power_of_two_scale(np.zeros((2, 2))) == 1.0
    assert power_of_two_scale(X * 1e-20, X * 1e20) == 1.0
