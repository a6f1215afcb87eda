"""``feature_scaling``: a learner's neighbourhoods do not depend on the features' units.

The property: fitting on ``X @ D + c`` (``D`` a positive diagonal matrix,
``c`` a shift) gives the same neighbourhoods as fitting on ``X``, for every
learner fitted on points with labels. The oracles are scikit-learn's
``StandardScaler`` (a ``feature_scaling=None`` fit on its output is the
same map), NumPy's standard deviation, and distances computed here.
"""

import inspect
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.spatial.distance import pdist
from sklearn.base import clone
from sklearn.datasets import load_iris, load_wine
from sklearn.preprocessing import MinMaxScaler, StandardScaler

import mlearn
from mlearn.learners._scaling import (
    feature_statistics,
    map_to_fitted_units,
    metric_to_fitted_units,
    statistics_from_summaries,
)
from mlearn.learners._streaming import column_moments, merge_column_moments
from mlearn.linalg import power_of_two_scale

#: Every learner that takes ``fit(X, y)`` with labels (or targets), with
#: settings that keep the test fast; iterative solvers run few enough
#: iterations that round-off differences cannot grow into different local
#: optima (the property is about the problem solved, not about chaos).
CASES = {
    "AngularMarginLearner": dict(max_iter=15),
    "CosineMetricLearner_Supervised": dict(max_iter=15),
    "Covariance": dict(),
    "ITML_Supervised": dict(),
    "LFDA": dict(),
    "LMNN": dict(max_iter=15, min_iter=0),
    "LSML_Supervised": dict(max_iter=20),
    "MLKR": dict(max_iter=15),
    "MMC_Supervised": dict(max_iter=20),
    "MetricLearner": dict(max_iter=30),
    "NCA": dict(max_iter=15),
    "OASIS_Supervised": dict(n_iter=2000),
    "RCA": dict(),
    "RCA_Supervised": dict(n_chunks=30),
    "SCML_Supervised": dict(max_iter=400),
    "SDML_Supervised": dict(),
}

#: Similarities of products: their fit depends on the origin, so the data are
#: only rescaled, not shifted (the cosine learners fold the shift in).
NO_SHIFT = {"OASIS_Supervised"}
COSINE = {"AngularMarginLearner", "CosineMetricLearner_Supervised"}


def _spread(X, kind):
    """Each feature's divisor, computed here from its definition."""
    if kind == "standard":
        return X.std(axis=0)
    extent = np.ptp(X, axis=0)
    # the ranges, times the factor that makes the rescaled variances average 1
    return extent * np.sqrt(np.mean(X.var(axis=0) / extent**2))


def _point_learners():
    """The public learners whose fit takes points (not tuples) and labels or chunklets."""
    names = []
    for name in mlearn.learners.__all__:
        cls = getattr(mlearn, name)
        if getattr(cls, "_input_kind", "points") != "points":
            continue
        names.append(name)
    return sorted(names)


def test_every_point_learner_scales_its_features_by_default():
    # 'range', chosen over 'standard' by benchmarks/bench_feature_scaling_rule.py
    assert _point_learners() == sorted(CASES)
    for name in CASES:
        parameter = inspect.signature(getattr(mlearn, name)).parameters["feature_scaling"]
        assert parameter.default == "range", name


def _data(name):
    X, y = load_wine(return_X_y=True)
    rng = np.random.RandomState(0)
    rows = rng.permutation(len(X))[:90]
    X, y = X[rows], y[rows]
    D = 10.0 ** rng.uniform(-3, 3, X.shape[1])
    c = 0.0 if name in NO_SHIFT else rng.uniform(-50, 50, X.shape[1])
    return X, y, D, c


def _make(name, **params):
    cls = getattr(mlearn, name)
    options = dict(CASES[name])
    if "random_state" in inspect.signature(cls).parameters:
        options["random_state"] = 0
    options.update(params)
    return cls(**options)


def _fit(learner, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence and small-data warnings
        return learner.fit(X, y)


def _geometry(name, learner, X):
    """What defines the neighbourhoods: distances, cosines, or bilinear scores."""
    if name == "OASIS_Supervised":
        return X @ learner.get_bilinear_matrix() @ X.T
    Z = learner.transform(X)
    if name in COSINE:
        U = Z / np.linalg.norm(Z, axis=1, keepdims=True)
        return U @ U.T
    return pdist(Z)


def _assert_same(name, a, b):
    scale = np.max(np.abs(a))
    assert scale > 0, name
    np.testing.assert_allclose(b / scale, a / scale, rtol=0, atol=1e-7, err_msg=name)


@pytest.mark.parametrize("kind", ["standard", "range"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_fit_on_rescaled_and_shifted_features_gives_the_same_neighbourhoods(name, kind):
    X, y, D, c = _data(name)
    a = _fit(_make(name, feature_scaling=kind), X, y)
    b = _fit(_make(name, feature_scaling=kind), X * D + c, y)
    _assert_same(name, _geometry(name, a, X), _geometry(name, b, X * D + c))
    np.testing.assert_allclose(b.feature_scale_, a.feature_scale_ * D, rtol=1e-10)
    np.testing.assert_allclose(a.feature_scale_, _spread(X, kind), rtol=1e-12)
    Z = (X - X.mean(axis=0)) / a.feature_scale_
    assert np.mean(Z.var(axis=0)) == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize("kind", ["standard", "range"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_scaling_is_a_scaler_folded_into_the_map(name, kind):
    # oracle: scikit-learn's StandardScaler (or a division by the range, then
    # centring), then the learner as metric-learn runs it (feature_scaling=None)
    X, y, _, _ = _data(name)
    learner = _fit(_make(name, feature_scaling=kind), X, y)
    spread = _spread(X, kind)
    if name in NO_SHIFT:
        scaled = X / spread
    elif kind == "standard":
        scaled = StandardScaler().fit_transform(X)
    else:
        scaled = StandardScaler(with_std=False).fit_transform(X / spread)
    plain = _fit(_make(name, feature_scaling=None), scaled, y)
    assert plain.feature_scale_ is None
    _assert_same(name, _geometry(name, plain, scaled), _geometry(name, learner, X))


@pytest.mark.parametrize("name", ["NCA", "LMNN", "MetricLearner", "ITML_Supervised", "LFDA"])
def test_without_scaling_the_units_change_the_metric(name):
    # the property above is the option's doing: metric-learn's behaviour is
    # not invariant
    X, y, D, c = _data(name)
    a = _fit(_make(name, feature_scaling=None), X, y)
    b = _fit(_make(name, feature_scaling=None), X * D + c, y)
    da, db = _geometry(name, a, X), _geometry(name, b, X * D + c)
    assert np.max(np.abs(da / da.max() - db / db.max())) > 1e-3


@pytest.mark.parametrize("scaler", [MinMaxScaler, StandardScaler])
def test_a_scaler_before_the_learner_changes_no_prediction(scaler):
    from sklearn.model_selection import cross_val_predict
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline

    # wine: real-valued features, so no two neighbours tie exactly and the
    # round-off between the two fits (about 1e-13) cannot reorder them; on
    # iris's one-decimal grid exact ties make the order up to round-off
    X, y = load_wine(return_X_y=True)
    knn = KNeighborsClassifier(3)
    raw = cross_val_predict(make_pipeline(mlearn.LFDA(), knn), X, y, cv=5)
    scaled = cross_val_predict(make_pipeline(scaler(), mlearn.LFDA(), knn), X, y, cv=5)
    np.testing.assert_array_equal(raw, scaled)


def test_feature_statistics_are_numpys_mean_and_standard_deviation():
    rng = np.random.RandomState(1)
    X = rng.randn(40, 4) * [1e-3, 1.0, 1e4, 2.0] + [5.0, -3.0, 1e6, 0.0]
    X[:, 3] = 7.0  # constant: divided by its value
    center, scale = feature_statistics(X)
    np.testing.assert_allclose(center, X.mean(axis=0), rtol=1e-13)
    np.testing.assert_allclose(scale[:3], X[:, :3].std(axis=0), rtol=1e-12)
    assert scale[3] == 7.0
    assert feature_statistics(np.zeros((3, 2)))[1].tolist() == [1.0, 1.0]


def test_feature_statistics_do_not_overflow_near_float64s_limits():
    X = np.random.RandomState(2).randn(30, 3) * 1e300
    center, scale = feature_statistics(X)
    expected = (X / 1e300).std(axis=0) * 1e300
    np.testing.assert_allclose(scale, expected, rtol=1e-12)
    assert np.all(np.isfinite(center))


@pytest.mark.parametrize("kind", ["standard", "range"])
def test_sparse_and_dense_statistics_agree(kind):
    dense = sp.random(50, 6, density=0.3, random_state=3).toarray() * 10 - 4 * np.eye(50, 6)
    dense[:, 5] = 3.0  # a full column; negative values in the first ones
    X = sp.csr_matrix(dense)
    for got, expected in zip(feature_statistics(X, kind), feature_statistics(dense, kind)):
        np.testing.assert_allclose(got, expected, rtol=1e-12)
    np.testing.assert_allclose(
        feature_statistics(X, "range")[1][:5], _spread(dense[:, :5], "range")
    )


@pytest.mark.parametrize("magnitude", [1.0, 1e300, 1e-300])
def test_streamed_statistics_equal_the_in_memory_ones(magnitude):
    X = np.random.RandomState(4).randn(60, 3) * [2.0, 0.5, 0.0] + [1.0, 2.0, -4.0]
    X[40:] *= 1e3  # blocks of different magnitudes
    X = X * magnitude
    blocks = [X[:20], X[20:40], X[40:]]
    scale = power_of_two_scale(X)
    moments = merge_column_moments([column_moments(block) for block in blocks], scale)
    # oracle: NumPy on the whole data, divided by the same power of two
    np.testing.assert_allclose(moments[1], (X / scale).mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(moments[2] / 60, (X / scale).var(axis=0), rtol=1e-10)
    for kind in ("standard", "range"):
        center, spread = statistics_from_summaries(
            kind, moments, X.min(axis=0), X.max(axis=0), scale
        )
        expected_center, expected_spread = feature_statistics(X, kind)
        np.testing.assert_allclose(center, expected_center, rtol=1e-12)
        np.testing.assert_allclose(spread, expected_spread, rtol=1e-10)


def test_arrays_in_data_units_are_carried_into_the_fitted_units():
    # a map L of X and a metric M of X give the same distances on X / s
    rng = np.random.RandomState(5)
    X, s = rng.randn(6, 3), np.array([2.0, 0.5, 8.0])
    L = rng.randn(2, 3)
    M = L.T @ L
    Z = X / s
    np.testing.assert_allclose(Z @ map_to_fitted_units(L, s).T, X @ L.T, rtol=1e-12)
    d = X[0] - X[1]
    dz = Z[0] - Z[1]
    np.testing.assert_allclose(dz @ metric_to_fitted_units(M, s) @ dz, d @ M @ d, rtol=1e-12)
    assert map_to_fitted_units("identity", s) == "identity"


def test_an_init_in_data_units_starts_where_it_says():
    # the fitted map given back as init (or by warm start) starts NCA at
    # its own optimum: the first objective is the last of the first fit
    X, y, D, _ = _data("NCA")
    X = X * D
    first = mlearn.NCA(random_state=0).fit(X, y)
    again = mlearn.NCA(init=first.components_, max_iter=5).fit(X, y)
    np.testing.assert_allclose(
        again.objective_history_[0], first.objective_history_[-1], rtol=1e-9
    )
    warm = clone(first).set_params(warm_start=True, max_iter=5)
    warm.components_ = first.components_
    warm.fit(X, y)
    np.testing.assert_allclose(warm.objective_history_[0], first.objective_history_[-1], rtol=1e-9)


def test_a_prior_in_data_units_is_the_metric_it_names():
    # ITML stays at its prior when no constraint is violated: the prior,
    # given in the data's units, comes back as the learned metric
    X, y, D, c = _data("ITML_Supervised")
    X = X * D + c
    M0 = np.diag(1.0 / X.var(axis=0))
    learner = mlearn.ITML_Supervised(prior=M0, max_iter=1, random_state=0)
    learner.fit(X, y, bounds=(1e12, 1e-12))
    np.testing.assert_allclose(learner.get_mahalanobis_matrix(), M0, rtol=1e-8)


def test_cosine_supervised_folds_the_centre_into_its_intercept():
    X, y, D, c = _data("CosineMetricLearner_Supervised")
    learner = _fit(_make("CosineMetricLearner_Supervised"), X, y)
    expected = -(learner.components_ @ X.mean(axis=0))
    np.testing.assert_allclose(learner.intercept_, expected, rtol=1e-10)
    plain = _fit(_make("CosineMetricLearner_Supervised", feature_scaling=None), X, y)
    assert plain.intercept_ is None


def test_oasis_on_sparse_rescaled_features_ranks_alike():
    X = sp.random(60, 8, density=0.4, random_state=6, format="csr")
    y = np.arange(60) % 3
    D = 10.0 ** np.random.RandomState(7).uniform(-2, 2, 8)
    a = mlearn.OASIS_Supervised(n_iter=1000, random_state=0).fit(X, y)
    b = mlearn.OASIS_Supervised(n_iter=1000, random_state=0).fit(X @ sp.diags(D), y)
    assert sp.issparse(X)
    Xd = X.toarray()
    _assert_same("OASIS", Xd @ a.components_ @ Xd.T, (Xd * D) @ b.components_ @ (Xd * D).T)


@pytest.mark.parametrize("kind", ["standard", "range"])
@pytest.mark.parametrize("magnitude", [1e300, 1e-300])
def test_streamed_statistics_stay_in_range_at_float64s_limits(kind, magnitude):
    da = pytest.importorskip("dask.array")
    X, y, _, _ = _data("MetricLearner")
    params = dict(solver="sgd", max_iter=2, random_state=0, feature_scaling=kind)
    big = _fit(mlearn.MetricLearner(**params), da.from_array(X * magnitude, chunks=45), y)
    np.testing.assert_allclose(big.feature_scale_, _spread(X, kind) * magnitude, rtol=1e-10)
    assert np.all(np.isfinite(big.components_)) and np.any(big.components_)


@pytest.mark.parametrize("kind", ["standard", "range"])
def test_streamed_metric_learner_is_equivariant_too(kind):
    da = pytest.importorskip("dask.array")
    X, y, D, c = _data("MetricLearner")
    params = dict(solver="sgd", max_iter=3, random_state=0, feature_scaling=kind)
    a = _fit(mlearn.MetricLearner(**params), da.from_array(X, chunks=45), y)
    b = _fit(mlearn.MetricLearner(**params), da.from_array(X * D + c, chunks=45), y)
    _assert_same("streamed", pdist(a.transform(X)), pdist(b.transform(X * D + c)))
    np.testing.assert_allclose(a.feature_scale_, _spread(X, kind), rtol=1e-10)


def test_angular_partial_fit_keeps_the_first_calls_scale():
    X, y, D, c = _data("AngularMarginLearner")
    learners = []
    for data in (X, X * D + c):
        learner = mlearn.AngularMarginLearner(random_state=0, batch_size=30)
        for rows in np.array_split(np.arange(len(X)), 3):
            learner.partial_fit(data[rows], y[rows], classes=[0, 1, 2])
        learners.append(learner)
    _assert_same(
        "partial_fit",
        _geometry("AngularMarginLearner", learners[0], X),
        _geometry("AngularMarginLearner", learners[1], X * D + c),
    )


def test_partial_fit_keeps_the_fitted_scaling_when_the_parameter_changes():
    X, y, _, _ = _data("AngularMarginLearner")
    learner = mlearn.AngularMarginLearner(random_state=0, max_iter=5)
    _fit(learner, X, y)
    scale = learner.feature_scale_.copy()
    learner.set_params(feature_scaling=None).partial_fit(X, y)
    np.testing.assert_array_equal(learner.feature_scale_, scale)
    assert learner.score(X, y) > 0.9
    _fit(learner, X, y)  # a new fit takes the new setting
    assert learner.feature_scale_ is None


def test_oasis_refuses_a_w_that_leaves_float64s_range():
    X, y, _, _ = _data("OASIS_Supervised")
    with pytest.raises(ValueError, match="float64's"):
        mlearn.OASIS_Supervised(n_iter=500, random_state=0).fit(X * 1e200, y)


def test_bad_feature_scaling_is_refused():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match="feature_scaling"):
        mlearn.NCA(feature_scaling="minmax").fit(X, y)
    with pytest.raises(ValueError, match="feature_scaling"):
        mlearn.LFDA(feature_scaling=True).fit(X, y)
