"""LFDA against a direct textbook computation (double loop over pairs)."""

import numpy as np
import pytest
from scipy.linalg import eigh
from sklearn.datasets import load_iris

from mlearn import LFDA


def textbook_scatters(X, y, k):
    """Sugiyama (2007), eqs. (11)-(14), one pair at a time."""
    n, d = X.shape
    sigma = np.zeros(n)
    for i in range(n):
        same = [np.linalg.norm(X[i] - X[j]) for j in range(n) if y[j] == y[i] and j != i]
        sigma[i] = np.sort(same)[min(k, len(same)) - 1]
        distinct = [d for d in same if d > 0]
        if sigma[i] == 0 and distinct:
            # k or more duplicates: the nearest distinct point sets the scale
            sigma[i] = min(distinct)
    Sw, Sb = np.zeros((d, d)), np.zeros((d, d))
    for i in range(n):
        for j in range(n):
            diff = np.outer(X[i] - X[j], X[i] - X[j])
            if y[i] == y[j]:
                n_c = np.sum(y == y[i])
                scale = sigma[i] * sigma[j]
                # only a class of equal points has no scale; its pairs add nothing
                A = np.exp(-np.sum((X[i] - X[j]) ** 2) / scale) if scale > 0 else 0.0
                Sw += 0.5 * A / n_c * diff
                Sb += 0.5 * A * (1 / n - 1 / n_c) * diff
            else:
                Sb += 0.5 / n * diff
    return Sb, Sw


@pytest.fixture
def multimodal():
    rng = np.random.RandomState(0)
    centres = np.array([[0, 0, 0], [4, 0, 0], [0, 4, 0], [4, 4, 0]], dtype=float)
    X = np.vstack([c + rng.randn(12, 3) * [1.0, 1.0, 0.3] for c in centres])
    y = np.repeat([0, 1, 1, 0], 12)  # each class is two separate clusters
    return X, y


@pytest.mark.parametrize("embedding_type", ["weighted", "plain", "orthonormalized"])
def test_matches_textbook(multimodal, embedding_type):
    X, y = multimodal
    k = 3
    Sb, Sw = textbook_scatters(X, y, k)
    vals, vecs = eigh(Sb, Sw)
    vals, vecs = vals[::-1][:2], vecs[:, ::-1][:, :2]
    if embedding_type == "weighted":
        expected = vecs * np.sqrt(vals)
    elif embedding_type == "orthonormalized":
        expected = np.linalg.qr(vecs)[0]
    else:
        expected = vecs
    lfda = LFDA(n_components=2, k=k, embedding_type=embedding_type, feature_scaling=None)
    lfda.fit(X, y)
    got = lfda.components_.T
    signs = np.sign(np.sum(got * expected, axis=0))
    np.testing.assert_allclose(got, expected * signs, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(lfda.eigenvalues_, vals, rtol=1e-8)


def test_default_k_and_metric_learn_default(multimodal):
    X, y = multimodal
    # k=None means min(7, n_features - 1) = 2 here
    np.testing.assert_allclose(LFDA().fit(X, y).components_, LFDA(k=2).fit(X, y).components_)


def test_constant_feature_reduces_dimension_without_nan():
    X, y = load_iris(return_X_y=True)
    X5 = np.hstack([X, np.full((150, 1), 3.0)])
    with pytest.warns(UserWarning, match="reduced the dimension"):
        lfda = LFDA(k=5).fit(X5, y)
    assert lfda.components_.shape == (5, 5)
    np.testing.assert_allclose(lfda.components_[:, 4], 0, atol=1e-10)
    np.testing.assert_allclose(lfda.components_[4], 0)  # padded row
    # on the varying features, the same metric as without the constant one
    ref = LFDA(k=5).fit(X, y)
    np.testing.assert_allclose(
        lfda.get_mahalanobis_matrix()[:4, :4], ref.get_mahalanobis_matrix(), rtol=1e-6, atol=1e-8
    )
    # a collinear feature too
    X6 = np.hstack([X5, X[:, :1] * 2 - X[:, 1:2]])
    with pytest.warns(UserWarning, match="spans only 4 of its 6"):
        assert np.isfinite(LFDA(k=5).fit(X6, y).components_).all()


def test_singular_within_scatter_is_regularised():
    rng = np.random.RandomState(0)
    X = rng.randn(6, 5)
    y = np.array([0, 0, 1, 1, 2, 2])
    with pytest.warns(UserWarning, match="regularised"):
        lfda = LFDA().fit(X, y)
    assert np.isfinite(lfda.components_).all()


def test_errors_and_inputs_unchanged(multimodal):
    X, y = multimodal
    before = X.copy()
    LFDA(k=50).fit(X, y)  # k larger than the classes: capped per class
    np.testing.assert_array_equal(X, before)
    with pytest.raises(ValueError, match="n_components=4"):
        LFDA(n_components=4).fit(X, y)
    with pytest.raises(ValueError, match="embedding_type"):
        LFDA(embedding_type="other").fit(X, y)
    with pytest.raises(ValueError, match="Unknown label type"):
        LFDA().fit(X, X[:, 0])


def test_scatters_with_duplicated_points_match_textbook(multimodal):
    from mlearn.learners.lfda import local_scatters

    X, y = multimodal
    X = X.copy()
    X[1] = X[2] = X[0]  # three copies: with k=2 their 2nd neighbour is a copy
    Sb, Sw = local_scatters(X, y, 2)
    Sb_ref, Sw_ref = textbook_scatters(X, y, 2)
    np.testing.assert_allclose(Sw, Sw_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(Sb, Sb_ref, rtol=1e-10, atol=1e-12)
    Sb, Sw = local_scatters(multimodal[0], y, 3)  # no duplicates: the in-place path
    Sb_ref, Sw_ref = textbook_scatters(multimodal[0], y, 3)
    np.testing.assert_allclose(Sw, Sw_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(Sb, Sb_ref, rtol=1e-10, atol=1e-12)


def test_scatters_with_a_class_of_equal_points_match_textbook(multimodal):
    from mlearn.learners.lfda import local_scatters

    X, y = multimodal
    X, y = X.copy(), y.copy()
    X[:4] = X[0]  # a third class of four copies of one point: no scale at all
    y[:4] = 2
    Sb, Sw = local_scatters(X, y, 2)
    Sb_ref, Sw_ref = textbook_scatters(X, y, 2)
    np.testing.assert_allclose(Sw, Sw_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(Sb, Sb_ref, rtol=1e-10, atol=1e-12)
    assert np.all(np.isfinite(LFDA(k=2).fit(X, y).components_))
