"""Every bad input named in DESIGN.md raises a clear error; inputs are never modified."""

import numpy as np
import pytest
from sklearn.datasets import load_iris

from mlearn import Constraints, Covariance
from mlearn._validation import (
    check_class_labels,
    check_pair_labels,
    check_preprocessor,
    check_psd_matrix,
    check_tuples,
)
from mlearn.linalg import components_from_metric, initialize_metric

from .test_base import ShrunkPairs


@pytest.fixture(scope="module")
def data():
    X, y = load_iris(return_X_y=True)
    return X, y


@pytest.fixture(scope="module")
def pairs(data):
    X, y = data
    idx, labels = Constraints(y).pairs(20, random_state=0)
    return X[idx], labels


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_points_with_nan_or_inf(data, bad):
    X = data[0].copy()
    X[3, 2] = bad
    with pytest.raises(ValueError, match="X"):
        Covariance().fit(X)
    fitted = Covariance().fit(data[0])
    with pytest.raises(ValueError, match="X"):
        fitted.transform(X)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_tuples_with_nan_or_inf(pairs, bad):
    P, y = pairs
    P = P.copy()
    P[0, 1, 0] = bad
    with pytest.raises(ValueError, match="pairs must not contain NaN or infinity"):
        ShrunkPairs().fit(P, y)


def test_points_wrong_ndim(data):
    with pytest.raises(ValueError, match="Expected 2D array"):
        Covariance().fit(data[0][0])
    with pytest.raises(ValueError, match="Found array with dim 3"):
        Covariance().fit(data[0][None])


def test_points_wrong_feature_count(data):
    fitted = Covariance().fit(data[0])
    with pytest.raises(ValueError, match="X has 3 features, but Covariance is expecting 4"):
        fitted.transform(data[0][:, :3])


def test_one_sample_needs_two(data):
    with pytest.raises(ValueError, match="1 sample"):
        Covariance().fit(data[0][:1])


@pytest.mark.parametrize(
    "shape, message",
    [
        ((10, 3, 4), "pairs must have 2 points per tuple \\(axis 1\\), got 3"),
        ((10, 2), "got a 2-D array of shape \\(10, 2\\) and no preprocessor"),
        ((10,), "got an array with ndim=1"),
        ((10, 2, 4, 1), "got an array with ndim=4"),
        ((0, 2, 4), "pairs must hold at least 1 tuple"),
    ],
)
def test_tuples_wrong_shapes(shape, message):
    with pytest.raises(ValueError, match=message):
        check_tuples(np.ones(shape), tuple_size=2)


@pytest.mark.parametrize("size, name", [(3, "triplets"), (4, "quadruplets")])
def test_tuple_size_named_by_kind(size, name):
    with pytest.raises(ValueError, match=f"{name} must have {size} points per tuple"):
        check_tuples(np.ones((5, 2, 3)), tuple_size=size)


def test_index_tuples_need_integers(data):
    # an array preprocessor takes integer indices; a callable takes any identifiers
    with pytest.raises(TypeError, match="must hold integer indices"):
        check_tuples(np.ones((5, 2)), tuple_size=2, preprocessor=check_preprocessor(data[0]))


def test_index_out_of_range(data):
    X, _ = data
    learner = ShrunkPairs(preprocessor=X)
    with pytest.raises(ValueError, match="index 500, which the preprocessor rejected"):
        learner.fit(np.array([[0, 1], [2, 500]]), np.array([1, -1]))


def test_bad_preprocessor_type(pairs):
    P, y = pairs
    with pytest.raises(TypeError, match="preprocessor must be None, an array"):
        from mlearn._validation import check_preprocessor

        check_preprocessor(42)


@pytest.mark.parametrize(
    "labels, message",
    [
        (np.array([1, 0, -1, 1]), "labels in \\{\\+1, -1\\}, found \\[0\\]"),
        (np.array([1, 2, -1, 1]), "found \\[2\\]"),
        (np.array([1, -1, 1]), "has 3 labels but there are 4 pairs"),
        (np.array(["a", "b", "a", "b"]), "got dtype <U1"),
        (None, "y is required"),
    ],
)
def test_pair_labels(labels, message):
    with pytest.raises(ValueError, match=message):
        check_pair_labels(labels, 4)


def test_pairs_learner_rejects_bad_labels(pairs):
    P, y = pairs
    with pytest.raises(ValueError, match="labels in \\{\\+1, -1\\}"):
        ShrunkPairs().fit(P, np.where(y == 1, 1, 0))


def test_one_class_where_two_are_needed():
    y = np.zeros(10, dtype=int)
    with pytest.raises(
        ValueError, match="dissimilar pairs need labelled points of at least 2 classes"
    ):
        Constraints(y).positive_negative_pairs(5, random_state=0)
    with pytest.raises(ValueError, match="triplets need labelled points of at least 2 classes"):
        Constraints(y).triplets(5, random_state=0)


def test_non_psd_matrix_is_rejected():
    M = np.array([[1.0, 2.0], [2.0, 1.0]])  # eigenvalues 3 and -1
    with pytest.raises(
        ValueError,
        match="M must be symmetric positive semidefinite; its smallest eigenvalue is -1",
    ):
        check_psd_matrix(M)
    with pytest.raises(ValueError, match="not symmetric"):
        check_psd_matrix(np.array([[1.0, 0.5], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="square"):
        check_psd_matrix(np.ones((2, 3)))
    with pytest.raises(ValueError, match="prior must be symmetric positive semidefinite"):
        initialize_metric(M, np.ones((5, 2)), name="prior")
    with pytest.raises(ValueError, match="must be symmetric positive semidefinite"):
        components_from_metric(M)


def test_psd_matrix_wrong_size():
    with pytest.raises(
        ValueError, match="must have shape \\(3, 3\\) to match the data's 3 features"
    ):
        check_psd_matrix(np.eye(2), n_features=3)


def test_unknown_init_is_rejected(data):
    with pytest.raises(ValueError, match="init must be one of"):
        initialize_metric("spherical", data[0])


def test_inputs_are_not_modified(data, pairs):
    X, _ = data
    X_before = X.copy()
    X_f = np.asfortranarray(X)
    Covariance().fit(X).transform(X)
    Covariance().fit(X_f)
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(X_f, X_before)
    P, y = pairs
    P_before, y_before = P.copy(), y.copy()
    learner = ShrunkPairs().fit(P, y)
    learner.predict(P)
    learner.calibrate_threshold(P, y)
    np.testing.assert_array_equal(P, P_before)
    np.testing.assert_array_equal(y, y_before)
    M = np.array([[2.0, 1.0], [1.0, 2.0]])
    M_before = M.copy()
    components_from_metric(M)
    initialize_metric(M, np.ones((3, 2)))
    np.testing.assert_array_equal(M, M_before)


@pytest.mark.parametrize(
    "y",
    [
        np.array([0, 1, 1]),
        np.array([True, False, True]),
        np.array(["a", "b", "a"]),
        np.array([0.0, 1.0, 1.0]),
        [2, 2, 5],
    ],
)
def test_class_labels_accepted(y):
    check_class_labels(y)


@pytest.mark.parametrize("y", [np.array([0.5, 1.0, 2.0]), np.array([[0.5, 1.0], [1.0, 0.2]])])
def test_non_class_targets_refused(y):
    # scikit-learn's own check is the oracle: mlearn refuses what it refuses
    from sklearn.utils.multiclass import check_classification_targets

    with pytest.raises(ValueError) as theirs:
        check_classification_targets(y)
    with pytest.raises(ValueError, match="target") as ours:
        check_class_labels(y)
    assert str(ours.value) == str(theirs.value)
