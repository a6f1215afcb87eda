"""Cosine similarity learners: CosineMixin and CosineMetricLearner.

Oracles: brute-force NumPy cosines in the tests, scikit-learn's
``cosine_similarity`` and ``KNeighborsClassifier``, finite differences for
the gradients.
"""

import doctest
import pickle
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.optimize import approx_fprime
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.datasets import load_digits, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import roc_auc_score
from sklearn.metrics.pairwise import cosine_similarity
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlearn import CosineMetricLearner, CosineMetricLearner_Supervised
from mlearn.constraints import Constraints
from mlearn.learners._cosine_base import CosineDistance, CosineMixin
from mlearn.learners.cosine import cosine_pair_objective
from mlearn.linalg import power_of_two_scale
from mlearn.metrics import make_retrieval_scorer, mean_average_precision_at_r

from ..conftest import ComputeCounter


class FixedCosine(CosineMixin, TransformerMixin, BaseEstimator):
    """A cosine learner whose map is given: ``fit`` only stores it."""

    def __init__(self, components=None, preprocessor=None):
        self.components = components
        self.preprocessor = preprocessor

    def fit(self, X, y=None):
        X = self._prepare_points(X, reset=True)
        self.components_ = np.array(self.components, dtype=np.float64)
        return self


def brute_cosine(a, b):
    """Cosine of each row pair, 0 where a row is zero (scikit-learn's convention)."""
    na = np.sqrt(np.sum(a * a, axis=1))
    nb = np.sqrt(np.sum(b * b, axis=1))
    dot = np.sum(a * b, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((na > 0) & (nb > 0), dot / (na * nb), 0.0)


@pytest.fixture
def fixed():
    rng = np.random.RandomState(0)
    X = rng.randn(60, 5)
    L = rng.randn(3, 5)
    return FixedCosine(L).fit(X), X, L


# -- CosineMixin against brute force --------------------------------------------------


def test_transform_is_normalised_map(fixed):
    est, X, L = fixed
    Z = X @ L.T
    expected = Z / np.sqrt(np.sum(Z * Z, axis=1, keepdims=True))
    out = est.transform(X)
    np.testing.assert_allclose(out, expected, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-14)


def test_zero_row_stays_zero():
    L = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    X = np.array([[0.0, 0.0, 5.0], [3.0, 4.0, 0.0], [0.0, 0.0, 0.0]])
    est = FixedCosine(L).fit(X)
    out = est.transform(X)
    np.testing.assert_array_equal(out[[0, 2]], 0.0)
    np.testing.assert_allclose(out[1], [0.6, 0.8], rtol=1e-15)
    pairs = np.stack([X[[0, 1, 1]], X[[1, 1, 2]]], axis=1)
    np.testing.assert_allclose(est.pair_score(pairs), [0.0, 1.0, 0.0], atol=1e-15)
    np.testing.assert_allclose(est.pair_distance(pairs), [1.0, 0.0, 1.0], atol=1e-15)


def test_extreme_magnitudes_neither_overflow_nor_underflow():
    L = np.eye(2)
    X = np.array([[3e300, 4e300], [3e-310, 4e-310]])
    out = FixedCosine(L).fit(X).transform(X)
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.6, 0.8]], rtol=1e-12)


def test_float32_kept(fixed):
    est, X, _ = fixed
    out = est.transform(X.astype(np.float32))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, est.transform(X), rtol=1e-5, atol=1e-6)


def test_pair_score_and_distance_match_brute_force(fixed):
    est, X, L = fixed
    rng = np.random.RandomState(1)
    idx = rng.randint(0, len(X), size=(40, 2))
    pairs = X[idx]
    cos = brute_cosine(pairs[:, 0] @ L.T, pairs[:, 1] @ L.T)
    np.testing.assert_allclose(est.pair_score(pairs), cos, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(est.pair_distance(pairs), 1.0 - cos, rtol=1e-12, atol=1e-14)
    # against scikit-learn on the mapped points
    sk = cosine_similarity(pairs[:, 0] @ L.T, pairs[:, 1] @ L.T).diagonal()
    np.testing.assert_allclose(est.pair_score(pairs), sk, rtol=1e-12, atol=1e-14)


def test_pair_distance_is_accurate_for_near_duplicates():
    L = np.eye(2)
    a = np.array([1.0, 0.0])
    b = np.array([1.0, 1e-6])
    est = FixedCosine(L).fit(np.stack([a, b]))
    # 1 - cos(t) = 2 sin(t/2)^2, exactly, for the angle t between a and b
    t = np.arctan2(1e-6, 1.0)
    np.testing.assert_allclose(est.pair_distance([[a, b]]), [2 * np.sin(t / 2) ** 2], rtol=1e-10)


def test_pairs_through_preprocessor(fixed):
    _, X, L = fixed
    est = FixedCosine(L, preprocessor=X).fit(X)
    idx = np.array([[0, 1], [2, 3], [4, 4]])
    np.testing.assert_allclose(est.pair_distance(idx), est.pair_distance(X[idx]), rtol=1e-15)
    np.testing.assert_allclose(est.pair_distance(idx)[2], 0.0, atol=1e-15)


def test_pairs_of_the_wrong_width_are_refused(fixed):
    est, _, _ = fixed
    with pytest.raises(ValueError, match="features"):
        est.pair_distance(np.zeros((3, 2, 4)))


def test_mahalanobis_matrix_is_that_of_the_unnormalised_map(fixed):
    est, X, L = fixed
    np.testing.assert_allclose(est.get_mahalanobis_matrix(), L.T @ L, rtol=1e-14)
    M = est.get_mahalanobis_matrix()
    x, y = X[0], X[1]
    cos = x @ M @ y / np.sqrt((x @ M @ x) * (y @ M @ y))
    np.testing.assert_allclose(est.pair_score([[x, y]]), [cos], rtol=1e-12)


def test_get_metric_is_one_minus_cosine_and_pickles(fixed):
    est, X, _ = fixed
    metric = pickle.loads(pickle.dumps(est.get_metric()))
    assert isinstance(metric, CosineDistance)
    got = np.array([metric(X[i], X[j]) for i, j in [(0, 1), (2, 5), (7, 7)]])
    pairs = X[np.array([[0, 1], [2, 5], [7, 7]])]
    np.testing.assert_allclose(got, est.pair_distance(pairs), rtol=1e-12, atol=1e-15)
    # the callable keeps its own copy of the map
    est.components_ = est.components_ * 0
    assert metric(X[0], X[1]) == got[0]


def test_get_metric_in_knn_matches_search_on_the_transform(fixed):
    est, X, _ = fixed
    y = np.arange(len(X)) % 3
    train, test = X[:45], X[45:]
    knn_metric = KNeighborsClassifier(
        n_neighbors=3, algorithm="brute", metric=est.get_metric()
    ).fit(train, y[:45])
    knn_metric = pickle.loads(pickle.dumps(knn_metric))
    knn_unit = KNeighborsClassifier(n_neighbors=3).fit(est.transform(train), y[:45])
    dist_m, ind_m = knn_metric.kneighbors(test)
    dist_u, ind_u = knn_unit.kneighbors(est.transform(test))
    np.testing.assert_array_equal(ind_m, ind_u)
    # Euclidean distance of unit vectors: sqrt(2 (1 - cos))
    np.testing.assert_allclose(dist_m, dist_u**2 / 2, rtol=1e-10, atol=1e-14)
    np.testing.assert_array_equal(knn_metric.predict(test), knn_unit.predict(est.transform(test)))


def test_cosine_distance_rejects_bad_points():
    metric = CosineDistance(np.eye(3))
    with pytest.raises(ValueError, match="u must be a 1-D point with 3 features"):
        metric([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="components must have shape"):
        CosineDistance(np.zeros((2, 2, 2)))


def test_user_arrays_are_not_modified(fixed):
    est, X, _ = fixed
    X_before = X.copy()
    est.transform(X)
    est.pair_distance(np.stack([X[:5], X[5:10]], axis=1))
    np.testing.assert_array_equal(X, X_before)


def test_dask_transform_is_lazy_and_matches_memory(fixed):
    da = pytest.importorskip("dask.array")
    import dask

    est, X, _ = fixed
    with dask.config.set(scheduler="synchronous"):
        X_dask = da.from_array(X, chunks=(16, 2))
        with ComputeCounter() as counter:
            result = est.transform(X_dask)
        assert counter.n_graphs == 0
        assert result.chunks == (X_dask.chunks[0], (3,))
        with ComputeCounter() as counter:
            computed = result.compute()
        assert counter.n_graphs == 1
    assert computed.dtype == np.float64
    np.testing.assert_allclose(computed, est.transform(X), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(np.linalg.norm(computed, axis=1), 1.0, rtol=1e-14)


def test_dask_nan_raises_when_computed(fixed):
    da = pytest.importorskip("dask.array")
    est, X, _ = fixed
    X = X.copy()
    X[20, 1] = np.nan
    result = est.transform(da.from_array(X, chunks=16))
    with pytest.raises(ValueError, match="NaN"):
        result.compute(scheduler="synchronous")


def test_set_output_pandas(fixed):
    pd = pytest.importorskip("pandas")
    est, X, _ = fixed
    est.set_output(transform="pandas")
    out = est.transform(X)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == ["fixedcosine0", "fixedcosine1", "fixedcosine2"]
    est.set_output(transform="default")


def test_transform_survives_products_beyond_float64():
    # X @ L.T overflows here, but each row's direction is well defined
    L = np.array([[10.0, 0.0], [0.0, 10.0]])
    X = np.array([[3e307, 4e307], [-1e308, 1e308]])
    out = FixedCosine(L).fit(X).transform(X)
    np.testing.assert_allclose(out, [[0.6, 0.8], [-np.sqrt(0.5), np.sqrt(0.5)]], rtol=1e-12)


# -- the objective: value against brute force, gradients against finite differences ----


LOSS_PARAMS = {
    "contrastive": {"margin": 0.8},
    "hinge": {"lower": 0.9, "upper": 0.3},
    "logistic": {"threshold": 0.7, "scale": 4.0},
}


def brute_loss(L, A, B, y, loss, margin=1.0, lower=None, upper=None, threshold=1.0, scale=1.0):
    d = 1.0 - brute_cosine(A @ L.T, B @ L.T)
    if loss == "contrastive":
        values = np.where(y == 1, d, np.maximum(margin - d, 0.0))
    elif loss == "hinge":
        values = np.where(y == 1, np.maximum(d - upper, 0.0), np.maximum(lower - d, 0.0))
    else:
        values = np.log1p(np.exp(y * scale * (d - threshold)))
    return values.mean()


@pytest.fixture
def pair_data():
    rng = np.random.RandomState(3)
    A, B = rng.randn(30, 4), rng.randn(30, 4)
    B[:10] = A[:10] + 0.3 * rng.randn(10, 4)
    y = np.where(np.arange(30) < 15, 1, -1)
    L = rng.randn(3, 4)
    return L, A, B, y


@pytest.mark.parametrize("loss", sorted(LOSS_PARAMS))
def test_objective_value_matches_brute_force(pair_data, loss):
    L, A, B, y = pair_data
    value, _, _ = cosine_pair_objective(L, A, B, y, loss=loss, **LOSS_PARAMS[loss])
    np.testing.assert_allclose(
        value, brute_loss(L, A, B, y, loss, **LOSS_PARAMS[loss]), rtol=1e-12
    )


@pytest.mark.parametrize("loss", sorted(LOSS_PARAMS))
def test_gradient_matches_finite_differences(pair_data, loss):
    L, A, B, y = pair_data
    params = LOSS_PARAMS[loss]
    d = 1.0 - brute_cosine(A @ L.T, B @ L.T)
    # no pair sits on a kink of the hinges, where the loss has no derivative
    kinks = [params.get(k) for k in ("margin", "lower", "upper") if k in params]
    assert all(np.min(np.abs(d - k)) > 1e-3 for k in kinks)

    def value(flat):
        return cosine_pair_objective(flat.reshape(L.shape), A, B, y, loss=loss, **params)[0]

    _, grad, _ = cosine_pair_objective(L, A, B, y, loss=loss, **params)
    numeric = approx_fprime(L.ravel(), value, 1e-7)
    np.testing.assert_allclose(grad.ravel(), numeric, rtol=1e-4, atol=1e-6)


def test_logistic_threshold_gradient_matches_finite_differences(pair_data):
    L, A, B, y = pair_data

    def value(t):
        return cosine_pair_objective(L, A, B, y, loss="logistic", threshold=t[0], scale=4.0)[0]

    _, _, grad_t = cosine_pair_objective(L, A, B, y, loss="logistic", threshold=0.7, scale=4.0)
    np.testing.assert_allclose(grad_t, approx_fprime(np.array([0.7]), value, 1e-7)[0], rtol=1e-5)


def test_gradient_is_invariant_to_the_scale_of_points(pair_data):
    L, A, B, y = pair_data
    v1, g1, _ = cosine_pair_objective(L, A, B, y, loss="logistic")
    v2, g2, _ = cosine_pair_objective(L, A * 2.0**700, B * 2.0**-700, y, loss="logistic")
    np.testing.assert_allclose(v2, v1, rtol=1e-14)
    np.testing.assert_allclose(g2, g1, rtol=1e-12, atol=1e-15)


def test_point_mapped_to_zero_gives_no_gradient():
    L = np.array([[1.0, 0.0]])
    A = np.array([[0.0, 1.0]])  # L maps it to zero: similarity 0 (d = 1)
    B = np.array([[1.0, 1.0]])
    value, grad, _ = cosine_pair_objective(L, A, B, np.array([1]), loss="contrastive")
    assert value == 1.0
    np.testing.assert_array_equal(grad, 0.0)


# -- CosineMetricLearner on pairs -------------------------------------------------------


def angle_pairs(n_points=120, n_pairs=400, seed=0):
    """Pairs of 3-D points, similar when their directions in the first two
    coordinates are within 60 degrees; the third coordinate is noise."""
    rng = np.random.RandomState(seed)
    X = rng.randn(n_points, 3) * [1.0, 1.0, 4.0]
    a, b = rng.randint(n_points, size=(2, n_pairs))
    angle = np.arctan2(X[:, 1], X[:, 0])
    y = np.where(np.cos(angle[a] - angle[b]) > 0.5, 1, -1)
    return X, np.stack([X[a], X[b]], axis=1), y


@pytest.mark.parametrize("loss", ["contrastive", "hinge", "logistic"])
def test_learner_ignores_the_noise_axis_and_separates_pairs(loss):
    _, pairs, y = angle_pairs()
    learner = CosineMetricLearner(loss=loss, alpha=0.1, random_state=0).fit(pairs, y)
    L = learner.components_
    assert np.abs(L[:, 2]).max() < 0.3 * np.abs(L[:, :2]).max()
    unlearned = roc_auc_score(y, brute_cosine(pairs[:, 0], pairs[:, 1]))
    assert learner.score(pairs, y) > unlearned + 0.05
    # held-out pairs of the same process
    _, pairs_new, y_new = angle_pairs(seed=1)
    assert (
        learner.score(pairs_new, y_new)
        > roc_auc_score(y_new, brute_cosine(pairs_new[:, 0], pairs_new[:, 1])) + 0.05
    )


def test_predict_thresholds_one_minus_cosine():
    _, pairs, y = angle_pairs()
    learner = CosineMetricLearner(random_state=0).fit(pairs, y)
    d = learner.pair_distance(pairs)
    np.testing.assert_allclose(learner.decision_function(pairs), -d, rtol=1e-15)
    np.testing.assert_allclose(learner.pair_score(pairs), 1.0 - d, rtol=1e-15)
    assert 0.0 <= learner.threshold_ <= 2.0
    np.testing.assert_array_equal(learner.predict(pairs), np.where(d <= learner.threshold_, 1, -1))
    # the calibrated threshold is the best accuracy over every cut of the distances
    order = np.sort(d)
    best = max(np.mean(np.where(d <= t, 1, -1) == y) for t in order)
    assert np.mean(learner.predict(pairs) == y) == pytest.approx(best)
    learner.set_threshold(0.25)
    np.testing.assert_array_equal(learner.predict(pairs), np.where(d <= 0.25, 1, -1))


def test_calibration_params_are_used():
    _, pairs, y = angle_pairs()
    learner = CosineMetricLearner(random_state=0).fit(
        pairs, y, calibration_params={"strategy": "max_tpr", "min_rate": 0.9}
    )
    d = learner.pair_distance(pairs)
    predicted = learner.predict(pairs)
    assert np.mean(predicted[y == -1] == -1) >= 0.9
    assert learner.threshold_ < np.max(d)
    with pytest.raises(ValueError, match="calibration_params has unknown keys"):
        CosineMetricLearner().fit(pairs, y, calibration_params={"stratgy": "accuracy"})


def test_large_alpha_keeps_the_initial_map():
    _, pairs, y = angle_pairs()
    learner = CosineMetricLearner(alpha=1e6, init="identity").fit(pairs, y)
    np.testing.assert_allclose(learner.components_, np.eye(3), atol=1e-4)


def test_given_threshold_is_kept_and_learned_one_moves():
    _, pairs, y = angle_pairs()
    fixed = CosineMetricLearner(threshold=0.5, alpha=0.1).fit(pairs, y)
    assert fixed.loss_threshold_ == 0.5
    learned = CosineMetricLearner(alpha=0.1).fit(pairs, y)
    start = float(np.median(1.0 - brute_cosine(pairs[:, 0], pairs[:, 1])))
    assert learned.loss_threshold_ != start


def test_n_components_and_pca_init():
    X, pairs, y = angle_pairs()
    learner = CosineMetricLearner(n_components=2, random_state=0).fit(pairs, y)
    assert learner.components_.shape == (2, 3)
    assert learner.transform(X).shape == (120, 2)
    np.testing.assert_allclose(np.linalg.norm(learner.transform(X), axis=1), 1.0, rtol=1e-14)


def test_fit_is_invariant_to_the_scale_of_the_data():
    X, pairs, y = angle_pairs()
    small = CosineMetricLearner(init="identity").fit(pairs, y)
    huge = CosineMetricLearner(init="identity").fit(pairs * 2.0**900, y)
    np.testing.assert_allclose(huge.components_, small.components_, rtol=1e-12, atol=1e-14)
    assert huge.threshold_ == pytest.approx(small.threshold_, rel=1e-12)
    # and non-power-of-two magnitudes near float64's limits give a finite map
    extreme = CosineMetricLearner(init="identity").fit(pairs * 1e300, y)
    assert np.all(np.isfinite(extreme.components_))
    assert np.all(np.isfinite(extreme.transform(X * 1e300)))


def test_preprocessor_indices_give_the_same_learner():
    rng = np.random.RandomState(0)
    X, _, _ = angle_pairs()
    idx = rng.randint(len(X), size=(300, 2))
    angle = np.arctan2(X[:, 1], X[:, 0])
    y = np.where(np.cos(angle[idx[:, 0]] - angle[idx[:, 1]]) > 0.5, 1, -1)
    by_points = CosineMetricLearner(init="identity").fit(X[idx], y)
    by_index = CosineMetricLearner(init="identity", preprocessor=X).fit(idx, y)
    np.testing.assert_allclose(by_index.components_, by_points.components_, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(by_index.predict(idx), by_points.predict(X[idx]))


def test_inputs_are_not_modified():
    _, pairs, y = angle_pairs()
    pairs_before, y_before = pairs.copy(), y.copy()
    CosineMetricLearner(random_state=0).fit(pairs, y)
    np.testing.assert_array_equal(pairs, pairs_before)
    np.testing.assert_array_equal(y, y_before)


def test_bad_inputs():
    _, pairs, y = angle_pairs()
    with pytest.raises(ValueError, match="n_components=4 must be at most n_features=3"):
        CosineMetricLearner(n_components=4).fit(pairs, y)
    with pytest.raises(ValueError, match="init must not be all zeros"):
        CosineMetricLearner(init=np.zeros((3, 3))).fit(pairs, y)
    with pytest.raises(ValueError, match="init must have shape"):
        CosineMetricLearner(init=np.eye(2)).fit(pairs, y)
    with pytest.raises(ValueError, match=r"\+1|-1"):
        CosineMetricLearner().fit(pairs, np.where(y == 1, 1, 0))
    bad = pairs.copy()
    bad[3, 1, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        CosineMetricLearner().fit(bad, y)
    with pytest.raises(ValueError, match="margin"):
        CosineMetricLearner(loss="contrastive", margin=3.0).fit(pairs, y)
    with pytest.raises(ValueError, match="loss"):
        CosineMetricLearner(loss="squared").fit(pairs, y)
    learner = CosineMetricLearner().fit(pairs, y)
    with pytest.raises(ValueError, match="features"):
        learner.predict(np.zeros((2, 2, 4)))


def test_convergence_warning_and_n_iter():
    _, pairs, y = angle_pairs()
    with pytest.warns(ConvergenceWarning):
        learner = CosineMetricLearner(alpha=0.01, max_iter=2).fit(pairs, y)
    assert learner.n_iter_ == 2


def test_pairs_of_one_label_and_points_at_the_origin():
    _, pairs, y = angle_pairs()
    similar_only = CosineMetricLearner().fit(pairs[y == 1], y[y == 1])
    # every training pair is similar: the calibrated cut predicts all similar
    assert np.all(similar_only.predict(pairs) == 1)
    with_zeros = pairs.copy()
    with_zeros[:5, 0] = 0.0
    learner = CosineMetricLearner().fit(with_zeros, y)
    assert np.all(np.isfinite(learner.components_))
    np.testing.assert_array_equal(learner.pair_distance(with_zeros[:5]), 1.0)


def test_verbose_prints_prefixed_lines(capsys):
    _, pairs, y = angle_pairs()
    CosineMetricLearner(verbose=True).fit(pairs, y)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) >= 2 and all(line.startswith("[CosineMetricLearner]") for line in lines)


def test_pickle_and_clone():
    X, pairs, y = angle_pairs()
    learner = CosineMetricLearner(random_state=0).fit(pairs, y)
    restored = pickle.loads(pickle.dumps(learner))
    np.testing.assert_array_equal(restored.predict(pairs), learner.predict(pairs))
    np.testing.assert_array_equal(restored.transform(X), learner.transform(X))
    assert clone(learner).get_params() == CosineMetricLearner(random_state=0).get_params()


def test_gridsearch_on_pairs():
    _, pairs, y = angle_pairs()
    search = GridSearchCV(CosineMetricLearner(), {"alpha": [0.1, 3.0]}, cv=3).fit(pairs, y)
    assert search.best_params_["alpha"] in (0.1, 3.0)
    assert 0.5 < search.score(pairs, y) <= 1.0


# -- from labels ------------------------------------------------------------------------


def test_supervised_draws_the_pairs_from_labels():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    params = dict(n_constraints=50, random_state=1, feature_scaling=None)
    sup = CosineMetricLearner_Supervised(**params).fit(X, y)
    again = CosineMetricLearner_Supervised(**params).fit(X, y)
    np.testing.assert_array_equal(sup.components_, again.components_)
    # the same pairs handed to the pairs learner give the same map
    idx, pair_y = Constraints(y).pairs(50, random_state=np.random.RandomState(1))
    init = sup._initial_components(X, y, np.random.RandomState(1))
    pairs_learner = CosineMetricLearner(init=init).fit(X[idx], pair_y)
    np.testing.assert_allclose(sup.components_, pairs_learner.components_, rtol=1e-8, atol=1e-10)


def test_supervised_needs_two_classes():
    X, _ = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match="at least 2 classes"):
        CosineMetricLearner_Supervised().fit(X, np.zeros(len(X), dtype=int))


def test_supervised_in_a_pipeline_pickles():
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(
        StandardScaler(), CosineMetricLearner_Supervised(random_state=0), KNeighborsClassifier(3)
    ).fit(X, y)
    restored = pickle.loads(pickle.dumps(pipe))
    np.testing.assert_array_equal(restored.predict(X), pipe.predict(X))
    search = GridSearchCV(pipe, {"cosinemetriclearner_supervised__alpha": [1.0, 3.0]}, cv=3).fit(
        X, y
    )
    assert search.best_score_ > 0.85


def test_gridsearch_with_a_retrieval_scorer():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    scorer = make_retrieval_scorer("map_at_r")
    search = GridSearchCV(
        CosineMetricLearner_Supervised(random_state=0), {"alpha": [1.0, 3.0]}, scoring=scorer, cv=3
    ).fit(X, y)
    # the scorer ranks the fold by the Euclidean distance of the unit-norm
    # outputs, i.e. by the learned cosine: MAP@R computed directly agrees
    best = search.best_estimator_
    direct = mean_average_precision_at_r(best.transform(X), y, metric="cosine")
    assert scorer(best, X, y) == pytest.approx(direct, rel=1e-9)
    assert 0.5 < search.best_score_ <= 1.0


def test_digits_cosine_knn_and_pair_auc_beat_the_unlearned_cosine():
    """5-fold stratified CV on standardised digits with the default parameters.

    Oracle: scikit-learn's cosine 3-NN on the standardised input. The
    learned cosine 3-NN (Euclidean 3-NN on the unit-norm output) must be at
    least as accurate on average, and the learned cosine must rank held-out
    pairs (drawn from the test fold's labels) better than the input's.
    """
    X, y = load_digits(return_X_y=True)
    learned, plain, auc_learned, auc_plain = [], [], [], []
    for train, test in StratifiedKFold(5, shuffle=True, random_state=0).split(X, y):
        scaler = StandardScaler().fit(X[train])
        X_train, X_test = scaler.transform(X[train]), scaler.transform(X[test])
        sup = CosineMetricLearner_Supervised(random_state=0).fit(X_train, y[train])
        knn = KNeighborsClassifier(3).fit(sup.transform(X_train), y[train])
        learned.append(knn.score(sup.transform(X_test), y[test]))
        plain.append(
            KNeighborsClassifier(3, metric="cosine").fit(X_train, y[train]).score(X_test, y[test])
        )
        idx, pair_y = Constraints(y[test]).pairs(500, random_state=np.random.RandomState(0))
        pairs = X_test[idx]
        auc_learned.append(roc_auc_score(pair_y, sup.pair_score(pairs)))
        auc_plain.append(roc_auc_score(pair_y, brute_cosine(pairs[:, 0], pairs[:, 1])))
    assert np.mean(learned) >= np.mean(plain)
    assert np.mean(auc_learned) > np.mean(auc_plain)


def test_user_guide_page_examples_run():
    page = Path(__file__).resolve().parents[2] / "docs" / "user_guide" / "cosine.rst"
    result = doctest.testfile(str(page), module_relative=False, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


# -- properties -------------------------------------------------------------------------


_finite = st.floats(-1e6, 1e6, allow_nan=False, width=64)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    X=arrays(np.float64, (6, 3), elements=_finite),
    L=arrays(np.float64, (2, 3), elements=st.floats(-10, 10, allow_nan=False)),
)
def test_properties_of_the_cosine_surface(X, L):
    est = FixedCosine(L).fit(X)
    out = est.transform(X)
    norms = np.linalg.norm(out, axis=1)
    # unit rows, or zero rows where the map sends the point to zero
    assert np.all((np.abs(norms - 1) < 1e-12) | (norms == 0))
    pairs = np.stack([X[:3], X[3:]], axis=1)
    swapped = pairs[:, ::-1]
    d = est.pair_distance(pairs)
    assert np.all((d >= 0) & (d <= 2))
    np.testing.assert_allclose(d, est.pair_distance(swapped), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(est.pair_score(pairs), 1 - d, rtol=0, atol=1e-15)
    both = (norms[:3] > 0) & (norms[3:] > 0)
    cos = np.sum(out[:3] * out[3:], axis=1)
    np.testing.assert_allclose(d[both], 1 - cos[both], rtol=0, atol=1e-12)


@settings(max_examples=8, deadline=None, derandomize=True)
@given(
    exponent=st.integers(-150, 150),
    seed=st.integers(0, 100),
    copies=st.integers(1, 2),
    supervised=st.booleans(),
)
@example(exponent=150, seed=0, copies=2, supervised=True)
@example(exponent=-150, seed=1, copies=1, supervised=False)
@example(exponent=-150, seed=2, copies=2, supervised=True)
@example(exponent=150, seed=3, copies=1, supervised=False)
@pytest.mark.parametrize("feature_scaling", ["standard", None])
def test_scale_sweep_is_finite_and_invariant(exponent, seed, copies, supervised, feature_scaling):
    """Cosines ignore each point's length: ``fit(c * X)`` is ``fit(X)`` for a power of
    two ``c`` (with ``components_`` divided by ``c`` when the supervised form
    standardises each feature), and any magnitude from 1e-150 to 1e150 (duplicated
    rows included) gives a finite map and finite outputs."""
    rng = np.random.RandomState(seed)
    y = np.repeat(np.arange(3), 6 * copies)
    X = np.repeat(rng.randn(18, 3), copies, axis=0) + 2.0 * np.eye(3)[y]
    data = X * 10.0**exponent
    s = power_of_two_scale(data)
    if supervised:
        params = dict(n_constraints=30, random_state=0, feature_scaling=feature_scaling)
        est = CosineMetricLearner_Supervised(**params).fit(data, y)
        reference = CosineMetricLearner_Supervised(**params).fit(data / s, y)
    else:
        idx, pair_y = Constraints(y).pairs(30, random_state=np.random.RandomState(0))
        est = CosineMetricLearner().fit(data[idx], pair_y)
        reference = CosineMetricLearner().fit(data[idx] / s, pair_y)
    assert np.all(np.isfinite(est.components_)) and np.any(est.components_)
    assert np.all(np.isfinite(est.transform(data)))
    c = s if supervised and feature_scaling is not None else 1.0
    np.testing.assert_allclose(est.components_ * c, reference.components_, rtol=1e-12, atol=0)
