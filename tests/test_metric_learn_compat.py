"""Code written for metric-learn 0.7 runs on mlearn by changing the import.

One test (or parametrised test) per behaviour metric-learn's users rely on:
deprecated methods and argument names, the exceptions it raises, its
``init='auto'`` rule, preprocessors of any identifiers, k-NN triplets from
small classes, ROC AUC as the pairs score, tuple learners without
``fit_transform``, and a ``get_metric`` that pickles. Oracles are
scikit-learn, scipy and brute force written in the tests.
"""

import pickle
import warnings

import numpy as np
import pytest
from numpy.linalg import LinAlgError
from scipy.spatial.distance import mahalanobis
from sklearn.base import TransformerMixin, clone
from sklearn.datasets import load_iris, make_regression
from sklearn.exceptions import NotFittedError
from sklearn.metrics import precision_score, roc_auc_score
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors
from sklearn.pipeline import make_pipeline

import mlearn
from mlearn import (
    ITML,
    LFDA,
    LMNN,
    LSML,
    MLKR,
    MMC,
    NCA,
    SCML,
    SDML,
    Constraints,
    ITML_Supervised,
    LSML_Supervised,
    MMC_Supervised,
    RCA_Supervised,
    SDML_Supervised,
)
from mlearn.base import MahalanobisDistance, MahalanobisMixin, PairsClassifierMixin
from mlearn.exceptions import NonPSDError, PreprocessorError
from mlearn.linalg import auto_init, components_from_metric

from .conftest import tuple_dataset

# the learners run a few iterations only: their convergence is not the point here
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def iris():
    return load_iris(return_X_y=True)


@pytest.fixture(scope="module")
def iris_pairs(iris):
    X, y = iris
    idx, y_pairs = Constraints(y).pairs(40, random_state=0)
    return X, idx, y_pairs


TUPLE_LEARNERS = [
    ITML(max_iter=20),
    MMC(max_iter=5),
    SDML(balance_param=1e-3),
    LSML(max_iter=20),
    SCML(n_basis=20, max_iter=200, output_iter=50, random_state=0),
    mlearn.PairsMetricLearner(max_iter=10),
    mlearn.TripletsMetricLearner(max_iter=10),
    mlearn.QuadrupletsMetricLearner(max_iter=10),
]
_ids = [type(e).__name__ for e in TUPLE_LEARNERS]


# -- score_pairs, set_threshold before fit ----------------------------------------------


def test_score_pairs_warns_and_equals_pair_distance(iris_pairs):
    X, idx, y = iris_pairs
    itml = ITML(max_iter=20).fit(X[idx], y)
    with pytest.warns(FutureWarning, match="score_pairs is deprecated.*pair_distance"):
        scores = itml.score_pairs(X[idx])
    np.testing.assert_array_equal(scores, itml.pair_distance(X[idx]))
    # the learned distance, computed independently
    M = itml.get_mahalanobis_matrix()
    expected = [mahalanobis(a, b, M) for a, b in X[idx]]
    np.testing.assert_allclose(scores, expected, rtol=1e-10)


@pytest.mark.parametrize("learner", [ITML(), MMC(), SDML()], ids=lambda e: type(e).__name__)
def test_unfitted_pairs_learner_raises_not_fitted(learner, iris_pairs):
    X, idx, y = iris_pairs
    with pytest.raises(NotFittedError), pytest.warns(FutureWarning):
        learner.score_pairs(X[idx])
    with pytest.raises(NotFittedError):
        learner.set_threshold(0.5)
    with pytest.raises(NotFittedError):
        learner.calibrate_threshold(X[idx], y)
    with pytest.raises(NotFittedError):
        learner.predict(X[idx])


# -- NonPSDError and PreprocessorError ---------------------------------------------------


def test_exception_classes_catch_both_ways():
    assert issubclass(NonPSDError, LinAlgError) and issubclass(NonPSDError, ValueError)
    assert issubclass(PreprocessorError, ValueError)
    assert mlearn.exceptions.NonPSDError is NonPSDError


def _matrix_with_eigenvalue(w0, n=4, seed=0):
    rng = np.random.RandomState(seed)
    Q, _ = np.linalg.qr(rng.randn(n, n))
    w = np.abs(rng.randn(n)) + 0.5
    w[0] = w0
    return (Q * w) @ Q.T


@pytest.mark.parametrize("w0", [-1.0, -1e-20, 0.0, 1e-20])
@pytest.mark.parametrize(
    "make, data",
    [
        (lambda M: ITML(prior=M, max_iter=5), "pairs"),
        (lambda M: SDML(prior=M, balance_param=1e-3), "pairs"),
        (lambda M: LSML(prior=M, max_iter=5), "quadruplets"),
        (lambda M: ITML_Supervised(prior=M, max_iter=5), "points"),
    ],
    ids=["ITML", "SDML", "LSML", "ITML_Supervised"],
)
def test_singular_or_non_psd_prior_raises_non_psd_error(make, data, w0, iris):
    M = _matrix_with_eigenvalue(w0)
    assert np.linalg.eigvalsh(M)[0] <= 1e-15  # singular or indefinite, by construction
    X, y = iris
    args = (X, y) if data == "points" else tuple_dataset(data, n=60)
    with pytest.raises(NonPSDError) as raised:
        make(M).fit(*args)
    assert isinstance(raised.value, LinAlgError) and isinstance(raised.value, ValueError)


def test_covariance_prior_of_collinear_features_raises_non_psd_error(iris):
    X, y = iris
    X3 = np.column_stack([X, X[:, :2] @ [2.0, 3.0]])  # a feature that is a combination
    with pytest.raises(NonPSDError, match="strictly positive definite"):
        ITML_Supervised(prior="covariance", max_iter=5, random_state=0).fit(X3, y)


def test_non_psd_init_and_matrix_raise_non_psd_error(iris):
    X, y = iris
    M = _matrix_with_eigenvalue(-10.0)
    with pytest.raises(NonPSDError):
        MMC_Supervised(init=M, max_iter=2, random_state=0).fit(X, y)
    with pytest.raises(NonPSDError):
        components_from_metric(M)
    # a matrix that is not symmetric is another error: a plain ValueError
    with pytest.raises(ValueError, match="not symmetric") as raised:
        components_from_metric(np.triu(np.ones((3, 3))))
    assert not isinstance(raised.value, NonPSDError)


def _bad_preprocessors(X):
    def raises(ids):
        raise KeyError("no such file")

    return {
        "raises": (raises, "raised KeyError"),
        "too few rows": (
            lambda ids: X[: len(ids) - 1],
            r"shape \(\d+, n_features\).*returned shape",
        ),
        "3-D": (lambda ids: X[np.asarray(ids)][:, None, :], "returned shape"),
        "1-D": (lambda ids: X[np.asarray(ids), 0], "returned shape"),
        "strings": (lambda ids: np.array([["a"] * 4] * len(ids)), "of numbers"),
        "ragged": (lambda ids: [[1.0, 2.0]] + [[1.0]] * (len(ids) - 1), "not an array"),
    }


@pytest.mark.parametrize("case", list(_bad_preprocessors(np.zeros((1, 4)))))
def test_preprocessor_returning_junk_raises_preprocessor_error(case, iris_pairs):
    X, idx, y = iris_pairs
    preprocessor, message = _bad_preprocessors(X)[case]
    with pytest.raises(PreprocessorError, match=message):
        ITML(preprocessor=preprocessor, max_iter=5).fit(idx, y)
    with pytest.raises(PreprocessorError, match=message):
        LFDA(preprocessor=preprocessor).fit(np.arange(len(X)), load_iris().target)


def test_preprocessor_error_keeps_the_original_exception(iris_pairs):
    X, idx, y = iris_pairs

    def loader(ids):
        raise KeyError("img9.png")

    with pytest.raises(PreprocessorError) as raised:
        ITML(preprocessor=loader).fit(idx, y)
    assert isinstance(raised.value.__cause__, KeyError)


@pytest.mark.parametrize("bad", [-1, 150, 10**6])
def test_out_of_range_index_with_array_preprocessor_is_an_error(bad, iris_pairs):
    X, idx, y = iris_pairs
    idx = idx.copy()
    idx[3, 1] = bad
    before = idx.copy()
    with pytest.raises(PreprocessorError, match=f"index {bad}, which the preprocessor rejected"):
        ITML(preprocessor=X).fit(idx, y)
    np.testing.assert_array_equal(idx, before)
    fitted = ITML(preprocessor=X, max_iter=5).fit(np.abs(before) % len(X), y)
    with pytest.raises(PreprocessorError, match="negative indices are not accepted"):
        fitted.transform(np.array([0, -1]))


# -- get_metric ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "u, v", [(5, 6.7), ([5], [6.7]), ([[5]], [[6.7]]), (np.array([5.0]), np.array([[6.7]]))]
)
def test_get_metric_with_one_dimensional_components(u, v, iris):
    X, y = iris
    learner = LMNN(max_iter=5).fit(X[:, :1], y)
    learner.components_ = np.array([3.1])  # scalar points: a 1-D map
    metric = learner.get_metric()
    assert metric(u, v) == pytest.approx(3.1 * 1.7)
    assert metric(u, v, squared=True) == pytest.approx((3.1 * 1.7) ** 2)


def test_get_metric_is_the_learned_distance_and_refuses_bad_points(iris):
    X, y = iris
    learner = NCA(max_iter=10, random_state=0).fit(X, y)
    metric = learner.get_metric()
    M = learner.get_mahalanobis_matrix()
    for i, j in [(0, 1), (5, 120), (40, 41)]:
        assert metric(X[i], X[j]) == pytest.approx(mahalanobis(X[i], X[j], M), rel=1e-10)
    for u, v in [(X[0].tolist() + [5.2], X[1]), (X[0:4], X[1:5]), (["a"] * 4, X[1])]:
        with pytest.raises(ValueError):
            metric(u, v)


def test_get_metric_pickles_inside_a_fitted_knn_pipeline(iris):
    X, y = iris
    learner = NCA(max_iter=10, random_state=0).fit(X, y)
    metric = learner.get_metric()
    assert isinstance(metric, MahalanobisDistance)
    knn = KNeighborsClassifier(3, metric=metric, algorithm="brute").fit(X, y)
    restored = pickle.loads(pickle.dumps(knn))
    np.testing.assert_array_equal(restored.predict(X), knn.predict(X))
    # oracle: the same classifier on the embedded points with the Euclidean metric
    euclidean = KNeighborsClassifier(3, algorithm="brute").fit(learner.transform(X), y)
    np.testing.assert_array_equal(knn.predict(X), euclidean.predict(learner.transform(X)))
    pipe = make_pipeline(KNeighborsClassifier(3, metric=learner.get_metric())).fit(X, y)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(pipe)).predict(X), pipe.predict(X))
    # a copy of components_: refitting the learner leaves it alone
    learner.fit(np.sin(X), y)
    assert metric(X[0], X[1]) == restored.effective_metric_(X[0], X[1])


# -- calibrate_threshold(strategy='f_beta', beta=0) -----------------------------------


@pytest.mark.parametrize("beta", [0, 0.0, -1.0, -5])
def test_f_beta_accepts_any_real_beta(beta, iris_pairs):
    X, idx, y = iris_pairs
    itml = ITML(max_iter=20).fit(X[idx], y)
    itml.calibrate_threshold(X[idx], y, strategy="f_beta", beta=beta)
    predicted = itml.predict(X[idx])
    distances = itml.pair_distance(X[idx])
    cuts = np.concatenate([[distances.min() - 1], distances])
    if beta == 0:  # F_0 is the precision: brute force over every cut
        best = max(
            precision_score(y, np.where(distances <= t, 1, -1), zero_division=0) for t in cuts
        )
        assert precision_score(y, predicted) == pytest.approx(best)
    else:  # only beta ** 2 enters F-beta
        same = clone(itml).fit(
            X[idx], y, calibration_params={"strategy": "f_beta", "beta": abs(beta)}
        )
        np.testing.assert_array_equal(same.predict(X[idx]), predicted)


@pytest.mark.parametrize("beta", [None, "weird", 3 + 2j, np.nan, np.inf])
def test_f_beta_rejects_what_is_not_a_finite_real(beta, iris_pairs):
    X, idx, y = iris_pairs
    itml = ITML(max_iter=5).fit(X[idx], y)
    with pytest.raises(ValueError, match="beta must be a finite real number"):
        itml.calibrate_threshold(X[idx], y, strategy="f_beta", beta=beta)
    # checked before fitting when handed to fit
    with pytest.raises(ValueError, match="beta must be a finite real number"):
        ITML(max_iter=5).fit(X[idx], y, calibration_params={"strategy": "f_beta", "beta": beta})


def test_learner_built_from_mixins_alone_calibrates_extremes():
    """A pairs classifier made of the two mixins only, with a decision
    function of its own: calibration and predict go through that function."""

    class ReversedScores(MahalanobisMixin, PairsClassifierMixin):
        def fit(self, pairs, y):
            self.components_ = np.eye(np.shape(pairs)[2])
            return self

        def decision_function(self, pairs):
            return np.arange(len(pairs), dtype=float)  # the wrong order on purpose

    pairs = np.random.RandomState(0).randn(7, 2, 3)
    clf = ReversedScores(preprocessor=None).fit(pairs, None)
    more_negatives = np.array([1, 1, 1, -1, -1, -1, -1])
    clf.calibrate_threshold(pairs, more_negatives, strategy="accuracy")
    np.testing.assert_array_equal(clf.predict(pairs), -np.ones(7))
    clf.calibrate_threshold(pairs, more_negatives, strategy="max_tpr", min_rate=0.0)
    np.testing.assert_array_equal(clf.predict(pairs), np.ones(7))
    alternate = np.array([1, -1, 1, -1, 1, -1])
    clf.calibrate_threshold(pairs[:6], alternate, strategy="f_beta", beta=1.0)
    np.testing.assert_array_equal(clf.predict(pairs[:6]), np.ones(6))


# -- tuple learners have no fit_transform ---------------------------------------------


@pytest.mark.parametrize("learner", TUPLE_LEARNERS, ids=_ids)
def test_tuple_learners_are_not_transformers(learner, iris):
    X, _ = iris
    assert not hasattr(learner, "fit_transform")
    assert not isinstance(learner, TransformerMixin)
    tuples, y = tuple_dataset(learner._input_kind, n=60)
    fitted = clone(learner).fit(tuples, y)
    assert not hasattr(fitted, "fit_transform")
    # transform still maps points
    np.testing.assert_allclose(fitted.transform(X), X @ fitted.components_.T, rtol=1e-12)
    # a one-step pipeline scores and predicts as the learner does
    pipe = make_pipeline(clone(learner)).fit(tuples, y)
    np.testing.assert_allclose(pipe.predict(tuples), fitted.predict(tuples))
    np.testing.assert_allclose(pipe.score(tuples, y), fitted.score(tuples, y))


@pytest.mark.parametrize(
    "learner",
    [
        ITML_Supervised(max_iter=20, random_state=0),
        MMC_Supervised(max_iter=5, random_state=0),
        SDML_Supervised(balance_param=1e-3, random_state=0),
        LSML_Supervised(random_state=0),
        LMNN(max_iter=10),
        NCA(max_iter=10, random_state=0),
        RCA_Supervised(n_chunks=30, random_state=0),
        mlearn.Covariance(),
        mlearn.MetricLearner(max_iter=10, random_state=0),
    ],
    ids=lambda e: type(e).__name__,
)
def test_label_learners_keep_fit_transform(learner, iris):
    X, y = iris
    assert isinstance(learner, TransformerMixin)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_allclose(
            clone(learner).fit_transform(X, y),
            clone(learner).fit(X, y).transform(X),
            rtol=1e-10,
            atol=1e-12,
        )
        pandas = pytest.importorskip("pandas")
        out = clone(learner).set_output(transform="pandas").fit(X, y).transform(X)
    assert isinstance(out, pandas.DataFrame)


# -- init='auto' ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "n_samples, n_features, n_components, n_classes, expected",
    [
        (150, 4, 2, 3, "lda"),  # n_components <= min(n_features, n_classes - 1)
        (150, 4, 4, 5, "lda"),  # all features, enough classes: still LDA
        (150, 4, 3, 3, "pca"),  # too many components for LDA, fewer than the features
        (3, 7, 5, 2, "identity"),  # PCA cannot give 5 components from 3 samples
        (150, 4, 4, 3, "identity"),
        (150, 4, 2, None, "pca"),  # no classes (regression, tuples)
    ],
)
def test_auto_init_rule(n_samples, n_features, n_components, n_classes, expected):
    assert auto_init(n_samples, n_features, n_components, n_classes) == expected


def _auto_case_data(n_samples, n_features, n_classes):
    rng = np.random.RandomState(0)
    X = rng.randn(n_samples, n_features)
    y = np.arange(n_samples) % n_classes
    return X, y


@pytest.mark.parametrize("cls", [LMNN, NCA], ids=lambda c: c.__name__)
@pytest.mark.parametrize(
    "n_samples, n_features, n_components, n_classes",
    [(40, 4, 2, 3), (40, 3, 3, 5), (40, 5, 3, 3), (4, 6, 5, 2), (40, 3, 3, 2)],
)
def test_auto_init_equals_the_init_it_picks(cls, n_samples, n_features, n_components, n_classes):
    X, y = _auto_case_data(n_samples, n_features, n_classes)
    expected = auto_init(n_samples, n_features, n_components, n_classes)
    params = {"n_components": n_components, "max_iter": 1}
    if cls is LMNN:
        params["n_neighbors"] = 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        auto = cls(init="auto", **params).fit(X, y)
        explicit = cls(init=expected, **params).fit(X, y)
    np.testing.assert_allclose(auto.components_, explicit.components_, rtol=1e-10, atol=1e-12)


def test_auto_init_for_regression_never_picks_lda():
    X, y = make_regression(n_samples=30, n_features=5, random_state=0)
    for n_components, expected in [(2, "pca"), (5, "identity")]:
        auto = MLKR(init="auto", n_components=n_components, max_iter=1).fit(X, y)
        explicit = MLKR(init=expected, n_components=n_components, max_iter=1).fit(X, y)
        np.testing.assert_allclose(auto.components_, explicit.components_, rtol=1e-10)


def test_mmc_accepts_auto_pca_and_lda(iris):
    X, y = iris
    pairs, y_pairs = tuple_dataset("pairs", n=60)
    for n_components, expected in [(2, "pca"), (None, "identity")]:
        auto = MMC(init="auto", n_components=n_components, max_iter=3).fit(pairs, y_pairs)
        explicit = MMC(init=expected, n_components=n_components, max_iter=3).fit(pairs, y_pairs)
        np.testing.assert_allclose(auto.components_, explicit.components_, rtol=1e-10, atol=1e-12)
    # with labels, one component of three classes: LDA
    params = {"n_components": 1, "max_iter": 3, "random_state": 0}
    auto = MMC_Supervised(init="auto", **params).fit(X, y)
    lda = MMC_Supervised(init="lda", **params).fit(X, y)
    np.testing.assert_allclose(auto.components_, lda.components_, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="needs class labels"):
        MMC(init="lda", max_iter=3).fit(pairs, y_pairs)


# -- preprocessors take any identifiers -----------------------------------------------


class FileLoader:
    """Points stored under file names, as a dataset of images would be."""

    def __init__(self, X):
        self.files = {f"img{i}.png": x for i, x in enumerate(X)}

    def __call__(self, names):
        return np.array([self.files[name] for name in names])


def test_callable_preprocessor_receives_string_identifiers(iris):
    X, y = iris
    idx, y_pairs = Constraints(y).pairs(30, random_state=0)
    names = np.array([[f"img{i}.png" for i in row] for row in idx])
    by_name = ITML(preprocessor=FileLoader(X), max_iter=30).fit(names, y_pairs)
    explicit = ITML(max_iter=30).fit(X[idx], y_pairs)
    np.testing.assert_allclose(by_name.components_, explicit.components_, rtol=1e-12)
    np.testing.assert_allclose(by_name.pair_distance(names), explicit.pair_distance(X[idx]))
    lfda = LFDA(preprocessor=FileLoader(X)).fit(np.array([f"img{i}.png" for i in range(150)]), y)
    np.testing.assert_allclose(lfda.components_, LFDA().fit(X, y).components_, rtol=1e-10)


def test_array_preprocessor_still_needs_integer_indices(iris):
    X, y = iris
    with pytest.raises(TypeError, match="must hold integer indices"):
        ITML(preprocessor=X).fit(np.array([["0", "1"], ["2", "3"]]), [1, -1])


# -- generate_knntriplets with small classes -----------------------------------------


def _all_triplets(y):
    """Every (anchor, same-class other, other-class) triplet of labelled points."""
    return sorted(
        [i, j, k]
        for i in range(len(y))
        for j in range(len(y))
        for k in range(len(y))
        if y[i] >= 0 and i != j and y[j] == y[i] and y[k] >= 0 and y[k] != y[i]
    )


@pytest.mark.parametrize("k_genuine, k_impostor", [(3, 3), (2, 4), (10, 9), (144, 33)])
def test_knn_triplets_lower_k_for_small_classes(k_genuine, k_impostor):
    X = np.array([[0, 0], [2, 2], [4, 4], [8, 8], [16, 16], [32, 32], [33, 33]], dtype=float)
    y = np.array([1, 1, 1, 2, 2, 2, -1])
    with pytest.warns(UserWarning, match="fewer than k_") as caught:
        triplets = Constraints(y).generate_knntriplets(X, k_genuine, k_impostor)
    # two classes of three: every classmate and every other-class point is used
    assert sorted(triplets.tolist()) == _all_triplets(y)
    assert len(caught) == 2 * ((k_genuine > 2) + (k_impostor > 3))


def test_knn_triplets_from_unequal_classes_match_brute_force_neighbours():
    rng = np.random.RandomState(0)
    X = rng.randn(12, 3)
    y = np.array([0] * 7 + [1] * 3 + [2] * 2)
    with pytest.warns(UserWarning):
        triplets = Constraints(y).generate_knntriplets(X, k_genuine=3, k_impostor=2)
    for i in range(len(X)):
        same = np.flatnonzero((y == y[i]) & (np.arange(len(y)) != i))
        other = np.flatnonzero(y != y[i])
        k = min(3, len(same))
        nn = NearestNeighbors(n_neighbors=k).fit(X[same])
        genuine = set(same[nn.kneighbors(X[i : i + 1], return_distance=False)[0]])
        nn = NearestNeighbors(n_neighbors=2).fit(X[other])
        impostors = set(other[nn.kneighbors(X[i : i + 1], return_distance=False)[0]])
        rows = triplets[triplets[:, 0] == i]
        assert len(rows) == k * 2
        assert set(rows[:, 1]) == genuine and set(rows[:, 2]) == impostors


def test_knn_triplets_need_some_triplet():
    with pytest.raises(ValueError, match="no triplet can be formed"):
        with pytest.warns(UserWarning):
            Constraints(np.array([0, 1, 2])).generate_knntriplets(np.eye(3), 1, 1)


# -- RCA_Supervised and unlabelled points ---------------------------------------------


def test_rca_supervised_leaves_unlabelled_points_out(iris):
    X, y = iris
    y_partial = y.copy()
    y_partial[::4] = -1
    labelled = y_partial >= 0
    # feature_scaling=None: with scaling, the unlabelled points count in the
    # features' standard deviations
    rca = RCA_Supervised(n_chunks=30, random_state=0, feature_scaling=None).fit(X, y_partial)
    assert np.all(rca.chunks_[~labelled] == -1)
    for chunk in np.unique(rca.chunks_[rca.chunks_ >= 0]):
        assert len(np.unique(y_partial[rca.chunks_ == chunk])) == 1
    # the same chunklets as drawn from the labelled points alone
    alone = RCA_Supervised(n_chunks=30, random_state=0, feature_scaling=None)
    alone.fit(X[labelled], y[labelled])
    np.testing.assert_allclose(rca.components_, alone.components_, rtol=1e-10, atol=1e-12)


# -- integer tuples --------------------------------------------------------------------


@pytest.mark.parametrize("learner", TUPLE_LEARNERS[:5], ids=_ids[:5])
def test_integer_tuples_fit_as_floats(learner, iris):
    tuples, y = tuple_dataset(learner._input_kind, n=60)
    as_int = np.round(tuples * 10).astype(np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = clone(learner).fit(as_int, y)
        b = clone(learner).fit(as_int.astype(np.float64), y)
    np.testing.assert_array_equal(a.components_, b.components_)


# -- pairs score is ROC AUC; set_threshold errors ------------------------------------


@pytest.mark.parametrize(
    "learner",
    [ITML(max_iter=20), MMC(max_iter=5), SDML(balance_param=1e-3)],
    ids=lambda e: type(e).__name__,
)
def test_pairs_score_is_roc_auc(learner, iris_pairs):
    X, idx, y = iris_pairs
    fitted = clone(learner).fit(X[idx], y)
    assert fitted.score(X[idx], y) == pytest.approx(
        roc_auc_score(y, fitted.decision_function(X[idx])), rel=1e-12
    )
    with pytest.raises(ValueError, match="needs both similar"):
        fitted.score(X[idx][y == 1], y[y == 1])


@pytest.mark.parametrize(
    "value",
    [
        "ABC",
        None,
        [1, 2, 3],
        {"key": None},
        (1, 2),
        set(),
        np.array([[[0.0], [1.0]]]),
        np.nan,
        True,
    ],
)
def test_set_threshold_refuses_non_numbers_with_value_error(value, iris_pairs):
    X, idx, y = iris_pairs
    itml = ITML(max_iter=5).fit(X[idx], y)
    with pytest.raises(ValueError, match="threshold must be a finite real number"):
        itml.set_threshold(value)
    assert itml.set_threshold(np.float32(0.5)).threshold_ == 0.5


# -- deprecated argument names ---------------------------------------------------------


@pytest.mark.parametrize(
    "cls, old, new, value",
    [
        (ITML, "convergence_threshold", "tol", 0.01),
        (ITML_Supervised, "convergence_threshold", "tol", 0.01),
        (ITML_Supervised, "num_constraints", "n_constraints", 7),
        (MMC, "convergence_threshold", "tol", 0.01),
        (MMC_Supervised, "convergence_threshold", "tol", 0.01),
        (MMC_Supervised, "num_constraints", "n_constraints", 7),
        (SDML_Supervised, "num_constraints", "n_constraints", 7),
        (LSML_Supervised, "num_constraints", "n_constraints", 7),
        (LMNN, "k", "n_neighbors", 4),
        (RCA_Supervised, "num_chunks", "n_chunks", 5),
    ],
)
def test_deprecated_names_are_accepted_with_a_future_warning(cls, old, new, value):
    with pytest.warns(FutureWarning, match=f"'{old}' is a deprecated alias of '{new}'"):
        learner = cls(**{old: value})
    assert learner.get_params()[new] == value
    assert old not in learner.get_params()
    assert clone(learner).get_params()[new] == value
    assert repr(learner) == repr(cls(**{new: value}))
    with pytest.raises(TypeError, match="give '.*' only"):
        cls(**{old: value, new: value})


@pytest.mark.parametrize(
    "cls, old",
    [
        (LMNN, "use_pca"),
        (NCA, "num_dims"),
        (ITML, "A0"),
        (LFDA, "num_dims"),
        (ITML_Supervised, "bounds"),
        (mlearn.MLKR, "A0"),
        (SCML, "num_constraints"),
        (RCA_Supervised, "num_dims"),
        (mlearn.Covariance, "L"),
    ],
)
def test_names_metric_learn_removed_are_refused(cls, old):
    with pytest.raises(TypeError, match=old):
        cls(**{old: 1})


def test_itml_bounds_stay_a_fit_argument(iris):
    X, y = iris
    itml = ITML_Supervised(max_iter=5, random_state=0).fit(X, y, bounds=[0.5, 4.0])
    np.testing.assert_array_equal(itml.bounds_, [0.5, 4.0])


# -- classes_ on tuple learners ------------------------------------------------------


@pytest.mark.parametrize("learner", TUPLE_LEARNERS, ids=_ids)
def test_tuple_learners_have_classes_once_fitted(learner, iris):
    assert not hasattr(clone(learner), "classes_")
    tuples, y = tuple_dataset(learner._input_kind, n=60)
    fitted = clone(learner).fit(tuples, y)
    np.testing.assert_array_equal(fitted.classes_, [-1, 1])
    assert set(np.unique(fitted.predict(tuples))) <= set(fitted.classes_)


# -- the harness that runs metric-learn's own tests ----------------------------------


def _suite_module():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "metric_learn_suite.py"
    spec = importlib.util.spec_from_file_location("metric_learn_suite", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_suite_alias_package_re_exports_mlearn(tmp_path, monkeypatch):
    import io
    import sys
    import tarfile

    suite = _suite_module()
    sdist = tmp_path / "metric-learn-0.7.0.tar.gz"
    files = {
        "metric-learn-0.7.0/test/test_x.py": "def test_x():\n    pass\n",
        "metric-learn-0.7.0/metric_learn/_util.py": "HELPER = 1\n",
        "metric-learn-0.7.0/metric_learn/sklearn_shims.py": "SHIM = 1\n",
        "metric-learn-0.7.0/metric_learn/itml.py": "raise ImportError\n",  # never copied
    }
    with tarfile.open(sdist, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    root = suite.build_suite(sdist, tmp_path / "suite")
    assert (root / "test" / "test_x.py").exists() and (root / "conftest.py").exists()
    monkeypatch.syspath_prepend(str(root))
    for name in [m for m in sys.modules if m == "metric_learn" or m.startswith("metric_learn.")]:
        monkeypatch.delitem(sys.modules, name)
    import metric_learn
    from metric_learn import base_metric, exceptions, itml, sklearn_shims

    assert metric_learn.ITML is ITML and itml.ITML is ITML
    assert itml._BaseITML is mlearn.learners.itml._BaseITML
    assert base_metric._PairsClassifierMixin is PairsClassifierMixin
    assert exceptions.NonPSDError is NonPSDError and sklearn_shims.SHIM == 1
    for name in [m for m in sys.modules if m == "metric_learn" or m.startswith("metric_learn.")]:
        del sys.modules[name]


def test_suite_conftest_makes_warns_none_record_everything(monkeypatch):
    suite = _suite_module()
    monkeypatch.setattr(pytest, "warns", pytest.warns)  # restored after the test
    exec(compile(suite.CONFTEST, "conftest.py", "exec"), {})
    with pytest.warns(None) as record:
        warnings.warn("first", UserWarning)
        warnings.warn("again", DeprecationWarning)
    assert [str(w.message) for w in record] == ["first", "again"]
    with pytest.warns(UserWarning, match="still"):
        warnings.warn("still checks", UserWarning)


def test_suite_sorts_failures_by_cause():
    import xml.etree.ElementTree as ET

    suite = _suite_module()
    report = ET.ElementTree(
        ET.fromstring(
            "<testsuite>"
            '<testcase classname="test.test_utils" name="test_check_input[a]">'
            '<failure message="TypeError: check_array() got an unexpected keyword argument '
            "'force_all_finite'\"/></testcase>"
            '<testcase classname="test.test_base_metric" name="test_new[ITML]">'
            '<failure message="AssertionError: something new"/></testcase>'
            '<testcase classname="test.test_base_metric" name="test_ok"/>'
            '<testcase classname="test.test_base_metric" name="test_skip"><skipped/></testcase>'
            "</testsuite>"
        )
    )
    counts, failures = suite.collect(report)
    assert (counts["passed"], counts["failed"], counts["skipped"]) == (1, 2, 1)
    rows = suite.group(failures)
    assert [(r["test"], r["category"]) for r in rows] == [
        ("test_base_metric::test_new", suite.PUBLIC),
        ("test_utils::test_check_input", suite.OUT_OF_SCOPE),
    ]
    assert rows[0]["cause"].startswith("unexplained")
