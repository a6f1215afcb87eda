"""The shared estimator machinery, exercised through small learners defined here.

The learners below are deliberately simple (closed-form M), so the tests
check the mixins — transform, distances, metric callables, threshold
calibration, tuple classifiers, preprocessors, model selection — against
independent computations (scipy, scikit-learn, brute force).
"""

import pickle
from numbers import Real

import numpy as np
import pytest
from scipy.spatial.distance import mahalanobis
from sklearn.base import clone
from sklearn.datasets import load_iris
from sklearn.metrics import accuracy_score, fbeta_score, roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlearn import Constraints, Covariance
from mlearn._sklearn_compat import Interval, _fit_context
from mlearn._validation import check_pair_labels
from mlearn.base import (
    BaseMetricLearner,
    BilinearMixin,
    BilinearSimilarity,
    MahalanobisMixin,
    PairsClassifierMixin,
    QuadrupletsClassifierMixin,
    TripletsClassifierMixin,
)
from mlearn.constraints import wrap_pairs
from mlearn.linalg import components_from_metric


class ShrunkPairs(MahalanobisMixin, PairsClassifierMixin, BaseMetricLearner):
    """M = (covariance of similar-pair differences + shrinkage * I)^-1."""

    _parameter_constraints = {
        **BaseMetricLearner._parameter_constraints,
        "shrinkage": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, shrinkage=1.0, preprocessor=None):
        super().__init__(preprocessor=preprocessor)
        self.shrinkage = shrinkage

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, pairs, y):
        pairs = self._prepare_tuples(pairs, reset=True)
        y = check_pair_labels(y, len(pairs))
        diff = pairs[y == 1, 0] - pairs[y == 1, 1]
        S = diff.T @ diff / max(len(diff), 1) + self.shrinkage * np.eye(pairs.shape[2])
        self.components_ = components_from_metric(np.linalg.inv(S))
        return self.calibrate_threshold(pairs, y)


class IdentityTriplets(MahalanobisMixin, TripletsClassifierMixin, BaseMetricLearner):
    def fit(self, triplets, y=None):
        t = self._prepare_tuples(triplets, reset=True)
        self.components_ = np.eye(t.shape[2])
        return self


class IdentityQuadruplets(MahalanobisMixin, QuadrupletsClassifierMixin, BaseMetricLearner):
    def fit(self, quadruplets, y=None):
        q = self._prepare_tuples(quadruplets, reset=True)
        self.components_ = np.eye(q.shape[2])
        return self


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def iris_pairs(iris):
    X, y = iris
    pairs, labels = wrap_pairs(X, Constraints(y).positive_negative_pairs(100, random_state=0))
    order = np.random.RandomState(0).permutation(len(labels))
    return pairs[order], labels[order]


# -- MahalanobisMixin -------------------------------------------------------------


def test_transform_and_metric_agree_with_scipy(iris):
    X, _ = iris
    cov = Covariance().fit(X)
    M = cov.get_mahalanobis_matrix()
    L = cov.components_
    np.testing.assert_allclose(L.T @ L, M, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cov.transform(X), X @ L.T)
    metric = cov.get_metric()
    for i, j in [(0, 1), (5, 120), (33, 77)]:
        expected = mahalanobis(X[i], X[j], M)
        assert metric(X[i], X[j]) == pytest.approx(expected, rel=1e-10)
        assert metric(X[i], X[j], squared=True) == pytest.approx(expected**2, rel=1e-10)


def test_get_metric_is_independent_of_later_fits(iris):
    X, _ = iris
    cov = Covariance().fit(X)
    metric = cov.get_metric()
    before = metric(X[0], X[1])
    cov.fit(X * 3.0)
    assert metric(X[0], X[1]) == before


def test_get_metric_rejects_wrong_shapes(iris):
    metric = Covariance().fit(iris[0]).get_metric()
    with pytest.raises(ValueError, match="u must be a 1-D point with 4 features"):
        metric(np.zeros(3), np.zeros(4))


def test_get_metric_as_sklearn_knn_metric(iris):
    X, y = iris
    cov = Covariance().fit(X)
    knn_callable = KNeighborsClassifier(3, metric=cov.get_metric(), algorithm="brute").fit(X, y)
    knn_transformed = KNeighborsClassifier(3).fit(cov.transform(X), y)
    np.testing.assert_array_equal(
        knn_callable.predict(X), knn_transformed.predict(cov.transform(X))
    )


def test_pair_distance_and_score(iris, iris_pairs):
    X, _ = iris
    pairs, _ = iris_pairs
    cov = Covariance().fit(X)
    M = cov.get_mahalanobis_matrix()
    expected = np.array([mahalanobis(a, b, M) for a, b in pairs])
    np.testing.assert_allclose(cov.pair_distance(pairs), expected, rtol=1e-10)
    np.testing.assert_allclose(cov.pair_score(pairs), -expected, rtol=1e-10)


def test_preprocessor_array_and_callable(iris):
    X, _ = iris
    idx = np.array([[0, 1], [10, 120], [3, 3]])
    direct = Covariance().fit(X)
    via_array = Covariance(preprocessor=X).fit(np.arange(len(X)))
    via_callable = Covariance(preprocessor=lambda i: X[i]).fit(np.arange(len(X)))
    for model in (via_array, via_callable):
        np.testing.assert_allclose(model.components_, direct.components_)
        np.testing.assert_allclose(model.pair_distance(idx), direct.pair_distance(X[idx]))
        np.testing.assert_allclose(model.transform(np.array([0, 5])), direct.transform(X[[0, 5]]))


def test_transform_preserves_float32(iris):
    X, _ = iris
    cov = Covariance().fit(X)
    assert cov.transform(X.astype(np.float32)).dtype == np.float32
    assert cov.transform(X).dtype == np.float64


def test_feature_names_out(iris):
    cov = Covariance().fit(iris[0])
    assert list(cov.get_feature_names_out()) == [f"covariance{i}" for i in range(4)]


# -- pairs classifier ---------------------------------------------------------------


def _brute_force_best(distances, y, criterion):
    """Best criterion over every threshold between (and beyond) sorted distances."""
    values = np.unique(distances)
    candidates = np.concatenate(
        [[values[0] - 1], (values[:-1] + values[1:]) / 2, [values[-1] + 1]]
    )
    best = -np.inf
    for t in candidates:
        pred = np.where(distances <= t, 1, -1)
        best = max(best, criterion(y, pred))
    return best


def _rate(y, pred, label):
    mask = y == label
    return np.mean(pred[mask] == label) if mask.any() else 1.0


@pytest.mark.parametrize(
    "strategy, kwargs, criterion",
    [
        ("accuracy", {}, lambda y, p: accuracy_score(y, p)),
        ("f_beta", {"beta": 2.0}, lambda y, p: fbeta_score(y, p, beta=2.0, zero_division=0)),
        (
            "max_tpr",
            {"min_rate": 0.8},
            lambda y, p: _rate(y, p, 1) if _rate(y, p, -1) >= 0.8 else -np.inf,
        ),
        (
            "max_tnr",
            {"min_rate": 0.9},
            lambda y, p: _rate(y, p, -1) if _rate(y, p, 1) >= 0.9 else -np.inf,
        ),
    ],
)
def test_calibrate_threshold_matches_brute_force(iris_pairs, strategy, kwargs, criterion):
    pairs, y = iris_pairs
    learner = ShrunkPairs().fit(pairs, y)
    learner.calibrate_threshold(pairs, y, strategy=strategy, **kwargs)
    achieved = criterion(y, learner.predict(pairs))
    assert achieved == pytest.approx(_brute_force_best(learner.pair_distance(pairs), y, criterion))


def test_pairs_predict_score_and_threshold(iris_pairs):
    pairs, y = iris_pairs
    learner = ShrunkPairs().fit(pairs, y)
    d = learner.pair_distance(pairs)
    np.testing.assert_array_equal(learner.decision_function(pairs), -d)
    np.testing.assert_array_equal(learner.predict(pairs), np.where(d <= learner.threshold_, 1, -1))
    # score is the ROC AUC of decision_function, as in metric-learn
    assert learner.score(pairs, y) == pytest.approx(
        roc_auc_score(y, learner.decision_function(pairs))
    )
    learner.set_threshold(np.median(d))
    assert learner.threshold_ == np.median(d)
    assert np.mean(learner.predict(pairs) == 1) == pytest.approx(0.5, abs=0.01)
    assert list(learner.classes_) == [-1, 1]


def test_calibration_errors(iris_pairs):
    pairs, y = iris_pairs
    learner = ShrunkPairs().fit(pairs, y)
    with pytest.raises(ValueError, match="strategy must be one of"):
        learner.calibrate_threshold(pairs, y, strategy="best")
    with pytest.raises(ValueError, match="needs min_rate"):
        learner.calibrate_threshold(pairs, y, strategy="max_tpr")
    with pytest.raises(ValueError, match="needs min_rate"):
        learner.calibrate_threshold(pairs, y, strategy="max_tnr", min_rate=1.5)
    with pytest.raises(ValueError, match="beta must be a finite real number"):
        learner.calibrate_threshold(pairs, y, strategy="f_beta", beta="high")
    with pytest.raises(ValueError, match="threshold must be a finite real number"):
        learner.set_threshold("high")


def test_pairs_learner_in_grid_search_and_cross_val(iris_pairs):
    pairs, y = iris_pairs
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    grid = {"shrinkage": [0.01, 1.0, 100.0]}
    search = GridSearchCV(ShrunkPairs(), grid, cv=cv).fit(pairs, y)
    # oracle: the same cross-validation written out by hand
    means = []
    for s in grid["shrinkage"]:
        fold = [
            ShrunkPairs(shrinkage=s).fit(pairs[tr], y[tr]).score(pairs[te], y[te])
            for tr, te in cv.split(pairs, y)
        ]
        means.append(np.mean(fold))
    np.testing.assert_allclose(search.cv_results_["mean_test_score"], means)
    assert search.best_params_["shrinkage"] == grid["shrinkage"][int(np.argmax(means))]
    auc = cross_val_score(ShrunkPairs(), pairs, y, cv=cv, scoring="roc_auc")
    assert np.all(auc > 0.5)


def test_pairs_learner_with_index_pairs(iris):
    X, labels = iris
    idx, y = Constraints(labels).pairs(50, random_state=1)
    a = ShrunkPairs(preprocessor=X).fit(idx, y)
    b = ShrunkPairs().fit(X[idx], y)
    np.testing.assert_allclose(a.components_, b.components_)
    np.testing.assert_array_equal(a.predict(idx), b.predict(X[idx]))
    restored = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(restored.predict(idx), a.predict(idx))


# -- triplets and quadruplets --------------------------------------------------------


def test_triplets_classifier(iris):
    X, labels = iris
    t = X[Constraints(labels).triplets(60, random_state=0)]
    learner = IdentityTriplets().fit(t)
    d_ap = np.linalg.norm(t[:, 0] - t[:, 1], axis=1)
    d_an = np.linalg.norm(t[:, 0] - t[:, 2], axis=1)
    np.testing.assert_allclose(learner.decision_function(t), d_an - d_ap, atol=1e-12)
    np.testing.assert_array_equal(learner.predict(t), np.where(d_an > d_ap, 1, -1))
    assert learner.score(t) == np.mean(d_an > d_ap)


def test_quadruplets_classifier(iris):
    X, labels = iris
    a, b, c, d = Constraints(labels).positive_negative_pairs(40, random_state=0)
    q = X[np.column_stack([a, b, c, d])]
    learner = IdentityQuadruplets().fit(q)
    d_ab = np.linalg.norm(q[:, 0] - q[:, 1], axis=1)
    d_cd = np.linalg.norm(q[:, 2] - q[:, 3], axis=1)
    np.testing.assert_allclose(learner.decision_function(q), d_cd - d_ab, atol=1e-12)
    y = np.where(np.arange(len(q)) % 2 == 0, 1, -1)
    assert learner.score(q, y) == np.mean(learner.predict(q) == y)


def test_tuple_learner_rejects_other_feature_count(iris_pairs):
    pairs, y = iris_pairs
    learner = ShrunkPairs().fit(pairs, y)
    with pytest.raises(ValueError, match="have 3 features, but ShrunkPairs was fitted with 4"):
        learner.predict(pairs[:, :, :3])


# -- scikit-learn integration on labels ------------------------------------------------


def test_pipeline_grid_search_over_labels(iris):
    X, y = iris
    pipe = make_pipeline(Covariance(), KNeighborsClassifier())
    search = GridSearchCV(pipe, {"kneighborsclassifier__n_neighbors": [1, 3, 5]}, cv=3).fit(X, y)
    manual = [
        cross_val_score(make_pipeline(Covariance(), KNeighborsClassifier(k)), X, y, cv=3).mean()
        for k in (1, 3, 5)
    ]
    np.testing.assert_allclose(search.cv_results_["mean_test_score"], manual)


def test_clone_and_pickle_covariance(iris):
    X, _ = iris
    cov = Covariance().fit(X)
    restored = pickle.loads(pickle.dumps(cov))
    np.testing.assert_array_equal(restored.transform(X), cov.transform(X))
    assert not hasattr(clone(cov), "components_")


# -- BilinearMixin: learned similarities ------------------------------------------


class DifferenceBilinearPairs(BilinearMixin, PairsClassifierMixin, BaseMetricLearner):
    """W = mean of x yᵀ over similar pairs minus over dissimilar ones: a non-symmetric W."""

    def fit(self, pairs, y):
        pairs = self._prepare_tuples(pairs, reset=True)
        y = check_pair_labels(y, len(pairs))
        outer = np.einsum("ni,nj->nij", pairs[:, 0], pairs[:, 1])
        self.components_ = outer[y == 1].mean(axis=0) - outer[y == -1].mean(axis=0)
        return self.calibrate_threshold(pairs, y)


class FixedBilinearTriplets(BilinearMixin, TripletsClassifierMixin, BaseMetricLearner):
    def __init__(self, W=None, preprocessor=None):
        super().__init__(preprocessor=preprocessor)
        self.W = W

    def fit(self, triplets, y=None):
        t = self._prepare_tuples(triplets, reset=True)
        self.components_ = (
            np.array(self.W, dtype=float) if self.W is not None else np.eye(t.shape[2])
        )
        return self


def test_bilinear_pair_score_is_xt_w_y_and_no_distance(iris_pairs):
    pairs, y = iris_pairs
    learner = DifferenceBilinearPairs().fit(pairs, y)
    W = learner.get_bilinear_matrix()
    assert np.abs(W - W.T).max() > 1e-3  # a general W, not symmetric
    expected = np.array([x @ W @ v for x, v in pairs])
    np.testing.assert_allclose(learner.pair_score(pairs), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(learner.decision_function(pairs), learner.pair_score(pairs))
    with pytest.raises(TypeError, match="no distance.*pair_score"):
        learner.pair_distance(pairs)
    assert not hasattr(learner, "transform") and not hasattr(learner, "get_mahalanobis_matrix")


def test_bilinear_pairs_predict_and_threshold_are_on_the_similarity(iris_pairs):
    pairs, y = iris_pairs
    learner = DifferenceBilinearPairs().fit(pairs, y)
    s = learner.pair_score(pairs)
    # predicted similar when the similarity is at least the threshold
    np.testing.assert_array_equal(learner.predict(pairs), np.where(s >= learner.threshold_, 1, -1))
    assert learner.score(pairs, y) == pytest.approx(roc_auc_score(y, s))
    learner.set_threshold(float(np.median(s)))
    np.testing.assert_array_equal(learner.predict(pairs), np.where(s >= np.median(s), 1, -1))


@pytest.mark.parametrize(
    "strategy, kwargs, criterion",
    [
        ("accuracy", {}, lambda y, p: accuracy_score(y, p)),
        ("f_beta", {"beta": 0.5}, lambda y, p: fbeta_score(y, p, beta=0.5, zero_division=0)),
        (
            "max_tpr",
            {"min_rate": 0.8},
            lambda y, p: _rate(y, p, 1) if _rate(y, p, -1) >= 0.8 else -np.inf,
        ),
    ],
)
def test_bilinear_calibration_matches_brute_force(iris_pairs, strategy, kwargs, criterion):
    pairs, y = iris_pairs
    learner = DifferenceBilinearPairs().fit(pairs, y)
    learner.calibrate_threshold(pairs, y, strategy=strategy, **kwargs)
    achieved = criterion(y, learner.predict(pairs))
    # a higher similarity is a smaller "distance": the brute force runs on -s
    assert achieved == pytest.approx(_brute_force_best(-learner.pair_score(pairs), y, criterion))


def test_bilinear_triplets_predict_whether_s_ap_exceeds_s_an(iris):
    X, y = iris
    W = np.random.RandomState(0).randn(4, 4)
    triplets = X[Constraints(y).triplets(50, random_state=0)]
    learner = FixedBilinearTriplets(W=W).fit(triplets)
    margins = np.array([a @ W @ p - a @ W @ n for a, p, n in triplets])
    np.testing.assert_allclose(
        learner.decision_function(triplets), margins, rtol=1e-10, atol=1e-12
    )
    np.testing.assert_array_equal(learner.predict(triplets), np.where(margins > 0, 1, -1))
    assert learner.score(triplets) == pytest.approx(np.mean(margins > 0))


def test_bilinear_similarity_callable_and_search(iris):
    X, _ = iris
    from mlearn.pairwise import kneighbors

    W = np.random.RandomState(1).randn(4, 4)
    learner = FixedBilinearTriplets(W=W).fit(np.stack([X[:3]] * 3, axis=1))
    similarity = learner.get_metric()
    assert isinstance(similarity, BilinearSimilarity)
    assert similarity(X[0], X[1]) == pytest.approx(X[0] @ W @ X[1], rel=1e-12)
    assert pickle.loads(pickle.dumps(similarity))(X[0], X[1]) == similarity(X[0], X[1])
    with pytest.raises(ValueError, match="square matrix"):
        BilinearSimilarity(np.ones((2, 3)))
    # kneighbors(metric="bilinear") ranks by the largest xᵀ W y, query first
    values, indices = kneighbors(
        X[:10], X, n_neighbors=3, metric="bilinear", M=learner.get_bilinear_matrix()
    )
    brute = X[:10] @ W @ X.T
    expected = np.argsort(-brute, axis=1, kind="stable")[:, :3]
    np.testing.assert_array_equal(indices, expected)
    np.testing.assert_allclose(values, np.take_along_axis(brute, expected, axis=1), rtol=1e-10)


def test_mahalanobis_pairs_semantics_unchanged(iris_pairs):
    pairs, y = iris_pairs
    learner = ShrunkPairs().fit(pairs, y)
    assert learner._threshold_on == "distance"
    d = learner.pair_distance(pairs)
    np.testing.assert_array_equal(learner.predict(pairs), np.where(d <= learner.threshold_, 1, -1))
