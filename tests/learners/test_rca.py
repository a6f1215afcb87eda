"""RCA and RCA_Supervised against a direct textbook computation."""

import numpy as np
import pytest
from sklearn.datasets import load_iris, load_wine

from mlearn import RCA, RCA_Supervised


def textbook_inner_covariance(X, chunks):
    """Bar-Hillel et al. (2005), eq. (2): average within-chunklet covariance."""
    C = np.zeros((X.shape[1], X.shape[1]))
    N = 0
    for c in np.unique(chunks[chunks >= 0]):
        members = X[chunks == c]
        centred = members - members.mean(axis=0)
        for x in centred:
            C += np.outer(x, x)
        N += len(members)
    return C / N


@pytest.fixture
def chunked():
    rng = np.random.RandomState(0)
    X = rng.randn(60, 4) @ rng.randn(4, 4)
    chunks = np.repeat(np.arange(15), 3)
    chunks = np.concatenate([chunks, -np.ones(15, dtype=int)])
    return X, chunks


def test_matches_textbook_whitening(chunked):
    X, chunks = chunked
    C = textbook_inner_covariance(X, chunks)
    w, V = np.linalg.eigh(C)
    expected = V @ np.diag(w**-0.5) @ V.T
    rca = RCA(feature_scaling=None).fit(X, chunks)
    np.testing.assert_allclose(rca.components_, expected, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(rca.get_mahalanobis_matrix(), np.linalg.inv(C), rtol=1e-7)
    # keyword form of metric-learn
    np.testing.assert_allclose(
        RCA(feature_scaling=None).fit(X, chunks=chunks).components_,
        expected,
        rtol=1e-8,
        atol=1e-10,
    )


def test_reduced_dimension_whitens_the_kept_directions(chunked):
    X, chunks = chunked
    C = textbook_inner_covariance(X, chunks)
    rca = RCA(n_components=2).fit(X, chunks)
    L = rca.components_
    assert L.shape == (2, 4)
    np.testing.assert_allclose(L @ C @ L.T, np.eye(2), atol=1e-8)
    # the kept directions have the smallest within-chunklet / total variance ratio
    total = np.cov(X[chunks >= 0], rowvar=False)
    ratios = np.sort(np.linalg.eigvals(np.linalg.solve(total, C)).real)
    kept = np.sort(np.linalg.eigvals(np.linalg.solve(L @ total @ L.T, L @ C @ L.T)).real)
    np.testing.assert_allclose(kept, ratios[:2], rtol=1e-6)


def test_constant_feature_reduces_dimension(chunked):
    X, chunks = chunked
    X = np.hstack([X, np.ones((60, 1))])
    with pytest.warns(UserWarning, match="reduced the dimension"):
        rca = RCA().fit(X, chunks)
    assert np.isfinite(rca.components_).all()
    np.testing.assert_allclose(rca.components_[:, 4], 0, atol=1e-10)
    ref = RCA().fit(X[:, :4], chunks)
    np.testing.assert_allclose(
        rca.get_mahalanobis_matrix()[:4, :4], ref.get_mahalanobis_matrix(), rtol=1e-6
    )


def test_too_few_chunklets_are_regularised():
    rng = np.random.RandomState(0)
    X = rng.randn(40, 6)
    chunks = np.full(40, -1)
    chunks[:6] = [0, 0, 1, 1, 2, 2]  # rank 3 in 6 dimensions
    with pytest.warns(UserWarning, match="Ledoit-Wolf"):
        rca = RCA().fit(X, chunks)
    assert np.isfinite(rca.components_).all()
    M = rca.get_mahalanobis_matrix()
    assert np.linalg.eigvalsh(M).min() > 0


def test_bad_chunks():
    X = np.random.RandomState(0).randn(10, 2)
    with pytest.raises(ValueError, match="at least two points"):
        RCA().fit(X, np.arange(10))
    with pytest.raises(ValueError, match=">= 0, or -1"):
        RCA().fit(X, np.full(10, -2))
    with pytest.raises(ValueError, match="not both"):
        RCA().fit(X, np.zeros(10), chunks=np.zeros(10))
    with pytest.raises(ValueError, match="requires y"):
        RCA().fit(X)
    with pytest.raises(ValueError, match="integer"):
        RCA().fit(X, np.linspace(0, 1, 10))


@pytest.mark.parametrize("load", [load_iris, load_wine])
def test_supervised_default_works_where_chunks_are_scarce(load):
    X, y = load(return_X_y=True)
    before = X.copy()
    with pytest.warns(UserWarning, match="draws the"):
        rca = RCA_Supervised(random_state=0).fit(X, y)
    np.testing.assert_array_equal(X, before)
    assert np.isfinite(rca.components_).all()
    chunks = rca.chunks_
    for c in np.unique(chunks[chunks >= 0]):
        members = np.flatnonzero(chunks == c)
        assert len(members) == 2 and len(set(y[members])) == 1
    # the fit is RCA on those chunklets
    np.testing.assert_allclose(rca.components_, RCA().fit(X, chunks).components_)


def test_supervised_is_reproducible():
    X, y = load_iris(return_X_y=True)
    a = RCA_Supervised(n_chunks=30, random_state=1).fit(X, y)
    b = RCA_Supervised(n_chunks=30, random_state=1).fit(X, y)
    np.testing.assert_array_equal(a.components_, b.components_)
    with pytest.raises(ValueError, match="chunk_size"):
        RCA_Supervised(chunk_size=60).fit(X, y)
