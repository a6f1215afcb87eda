"""AngularMarginLearner: the four losses, their gradients, the solvers and the estimator."""

import math
import pickle
import warnings

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy.optimize import check_grad
from sklearn.base import clone
from sklearn.datasets import load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlearn import AngularMarginLearner
from mlearn.learners._angular_losses import arcface_target, margin_objective
from mlearn.linalg import power_of_two_scale
from mlearn.metrics import make_retrieval_scorer

LOSSES = ["softmax", "normface", "cosface", "arcface"]


def _problem(seed=0, n=40, d=5, k=4, c=3):
    rng = np.random.RandomState(seed)
    return (
        rng.randn(n, d),
        rng.randint(0, c, n),
        rng.randn(k, d),
        rng.randn(c, k),
        rng.rand(n) + 0.1,
    )


def _brute_force_loss(L, W, X, codes, loss, scale, margin, weights):
    """The loss written out one point at a time with math's functions."""
    total = 0.0
    for x, y, w in zip(X, codes, weights):
        z = L @ x
        logits = []
        for j, proto in enumerate(W):
            if loss == "softmax":
                logits.append(float(z @ proto))
                continue
            cos = float(z @ proto) / (math.sqrt(z @ z) * math.sqrt(proto @ proto))
            if j == y and loss == "cosface":
                cos -= margin
            elif j == y and loss == "arcface":
                theta = math.acos(max(-1.0, min(1.0, cos)))
                cos = (
                    math.cos(theta + margin)
                    if theta + margin <= math.pi
                    else cos - (1 - math.cos(margin))
                )
            logits.append(scale * cos)
        top = max(logits)
        log_norm = top + math.log(sum(math.exp(v - top) for v in logits))
        total += w * (log_norm - logits[y])
    return total / np.sum(weights)


# -- the losses ------------------------------------------------------------------


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("margin", [0.3, 2.5])
def test_loss_value_matches_brute_force(loss, margin):
    X, codes, L, W, weights = _problem()
    value, _, _ = margin_objective(
        L, W, X, codes, loss=loss, scale=3.0, margin=margin, sample_weight=weights
    )
    expected = _brute_force_loss(L, W, X, codes, loss, 3.0, margin, weights)
    assert value == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("margin", [0.3, 2.5])  # 2.5: many points beyond pi - m
def test_gradient_matches_finite_differences(loss, margin):
    X, codes, L, W, weights = _problem(seed=1)
    shape_l = L.shape

    def split(p):
        return p[: L.size].reshape(shape_l), p[L.size :].reshape(W.shape)

    def value(p):
        return margin_objective(
            *split(p), X, codes, loss=loss, scale=3.0, margin=margin, sample_weight=weights
        )[0]

    def gradient(p):
        _, g_l, g_w = margin_objective(
            *split(p), X, codes, loss=loss, scale=3.0, margin=margin, sample_weight=weights
        )
        return np.concatenate([g_l.ravel(), g_w.ravel()])

    p0 = np.concatenate([L.ravel(), W.ravel()])
    error = check_grad(value, gradient, p0, epsilon=1e-7)
    assert error <= 1e-6 * max(1.0, np.linalg.norm(gradient(p0)))


@pytest.mark.parametrize("loss", LOSSES)
def test_penalised_objective_gradient(loss):
    # the learner's objective: the loss plus alpha/2 ||L - L0||^2 (and ||W||^2 for softmax)
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    learner = AngularMarginLearner(loss=loss, alpha=0.7, n_components=3, random_state=0)
    learner.fit(X, y)
    objective = learner._objective(
        learner._lifted(X, reset=False), np.searchsorted(learner.classes_, y)
    )
    rng = np.random.RandomState(0)
    L = learner._lifted_components()
    p = learner._pack(
        (
            L + 0.1 * rng.randn(*L.shape),
            learner.prototypes_ + 0.1 * rng.randn(*learner.prototypes_.shape),
        )
    )
    error = check_grad(lambda q: objective(q)[0], lambda q: objective(q)[1], p, epsilon=1e-7)
    assert error <= 1e-6 * max(1.0, np.linalg.norm(objective(p)[1]))


def test_zero_rows_give_finite_loss_and_no_gradient():
    X, codes, L, W, _ = _problem(seed=2)
    X[3] = 0.0
    value, g_l, g_w = margin_objective(L, W, X, codes, loss="arcface", scale=16.0, margin=0.5)
    assert np.isfinite(value) and np.all(np.isfinite(g_l)) and np.all(np.isfinite(g_w))
    # the zero point contributes the same to the loss whatever L is, and nothing to the gradient
    without = np.delete(np.arange(len(X)), 3)
    _, g_l_rest, _ = margin_objective(
        L, W, X[without], codes[without], loss="arcface", scale=16.0, margin=0.5
    )
    np.testing.assert_allclose(g_l * len(X), g_l_rest * (len(X) - 1), rtol=1e-10, atol=1e-12)


def test_arcface_target_on_the_arc_and_beyond():
    margin = 0.5
    theta = np.linspace(0.0, np.pi, 1001)
    target, slope = arcface_target(np.cos(theta), margin)
    on_arc = theta <= np.pi - margin
    np.testing.assert_allclose(target[on_arc], np.cos(theta[on_arc] + margin), atol=1e-12)
    np.testing.assert_allclose(
        target[~on_arc], np.cos(theta[~on_arc]) - (1 - np.cos(margin)), atol=1e-12
    )
    # continuous where the two pieces meet: both give -1 at theta = pi - m
    at_join, _ = arcface_target(
        np.array([-np.cos(margin) + 1e-12, -np.cos(margin) - 1e-12]), margin
    )
    np.testing.assert_allclose(at_join, -1.0, atol=1e-9)
    # the derivative in cos, against a central difference away from the join and theta = 0
    cos = np.array([0.9, 0.3, -0.5, -0.95])
    h = 1e-6
    numeric = (arcface_target(cos + h, margin)[0] - arcface_target(cos - h, margin)[0]) / (2 * h)
    np.testing.assert_allclose(arcface_target(cos, margin)[1], numeric, rtol=1e-6)
    assert np.all(np.isfinite(slope))


@settings(max_examples=50, deadline=None, derandomize=True)
@given(st.floats(0.0, 3.0), st.floats(-1.0, 1.0), st.floats(-1.0, 1.0))
def test_arcface_target_is_a_monotone_penalty(margin, a, b):
    lo, hi = sorted([a, b])
    t_lo, t_hi = arcface_target(np.array([lo, hi]), margin)[0]
    assert t_lo <= t_hi + 1e-12  # a larger angle never scores higher
    assert t_hi <= hi + 1e-12  # the margin only lowers the true class's logit


# -- the estimator ---------------------------------------------------------------


def _wine():
    X, y = load_wine(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.mark.parametrize("loss", LOSSES)
def test_fit_lowers_the_objective_and_predicts(loss):
    X, y = _wine()
    learner = AngularMarginLearner(loss=loss, random_state=0).fit(X, y)
    codes = np.searchsorted(learner.classes_, y)
    X_lifted = learner._lifted(X, reset=False)
    objective = learner._objective(X_lifted, codes)
    L0 = learner._anchor
    start = learner._pack(
        (L0, learner._class_directions(X_lifted @ L0.T, codes, np.random.RandomState(0)))
    )
    end = learner._pack((learner._lifted_components(), learner.prototypes_))
    assert objective(end)[0] < objective(start)[0]
    assert learner.score(X, y) > 0.95
    # the embedding is on the unit sphere
    np.testing.assert_allclose(np.linalg.norm(learner.transform(X), axis=1), 1.0, rtol=1e-12)


def test_predict_is_the_nearest_prototype():
    X, y = _wine()
    learner = AngularMarginLearner(random_state=0).fit(X, y)
    Z = X @ learner.components_.T + learner.intercept_
    cos = (Z / np.linalg.norm(Z, axis=1, keepdims=True)) @ learner.prototypes_.T
    np.testing.assert_array_equal(learner.predict(X), learner.classes_[np.argmax(cos, axis=1)])
    proba = learner.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(learner.classes_[np.argmax(proba, axis=1)], learner.predict(X))
    np.testing.assert_allclose(np.linalg.norm(learner.prototypes_, axis=1), 1.0, rtol=1e-12)


def test_string_labels_and_classes():
    X, y = _wine()
    names = np.array(["barolo", "grignolino", "barbera"])[y]
    learner = AngularMarginLearner(random_state=0).fit(X, names)
    np.testing.assert_array_equal(learner.classes_, np.unique(names))
    assert set(learner.predict(X)) <= set(names)


def test_cosine_knn_on_transform_equals_get_metric():
    X, y = _wine()
    learner = AngularMarginLearner(n_components=5, random_state=0).fit(X[::2], y[::2])
    on_transform = KNeighborsClassifier(3).fit(learner.transform(X[::2]), y[::2])
    with_metric = KNeighborsClassifier(3, metric=learner.get_metric(), algorithm="brute")
    with_metric.fit(X[::2], y[::2])
    np.testing.assert_array_equal(
        on_transform.predict(learner.transform(X[1::2])), with_metric.predict(X[1::2])
    )


def test_sgd_solver_and_lbfgs_agree_on_quality():
    X, y = _wine()
    # on standardised wine, fitted as it is (the learning rate suits unit variances)
    lbfgs = AngularMarginLearner(alpha=1.0, random_state=0, feature_scaling="standard").fit(X, y)
    sgd = AngularMarginLearner(
        alpha=1.0,
        solver="sgd",
        max_iter=200,
        batch_size=64,
        learning_rate=0.01,
        random_state=0,
        feature_scaling="standard",
    ).fit(X, y)
    codes = np.searchsorted(lbfgs.classes_, y)
    objective = lbfgs._objective(lbfgs._lifted(X, reset=False), codes)
    best = objective(lbfgs._pack((lbfgs._lifted_components(), lbfgs.prototypes_)))[0]
    reached = objective(sgd._pack((sgd._lifted_components(), sgd.prototypes_)))[0]
    # the same lift and anchor, so the same objective; SGD gets near L-BFGS's minimum
    assert reached < best + 0.03
    assert sgd.score(X, y) > 0.95


def test_partial_fit_learns_from_a_stream():
    X, y = _wine()
    rng = np.random.RandomState(0)
    order = rng.permutation(len(X))
    learner = AngularMarginLearner(batch_size=16, learning_rate=0.05, random_state=0)
    classes = np.unique(y)
    for epoch in range(15):
        for chunk in np.array_split(order, 4):
            learner.partial_fit(X[chunk], y[chunk], classes=classes if epoch == 0 else None)
    assert learner.score(X, y) > 0.95
    assert learner.prototypes_.shape == (3, X.shape[1] + 1)


def test_partial_fit_gives_a_prototype_to_classes_not_seen_yet():
    X, y = _wine()
    first = y != 2
    learner = AngularMarginLearner(random_state=0)
    learner.partial_fit(X[first], y[first], classes=[0, 1, 2])
    assert np.all(np.isfinite(learner.prototypes_)) and learner.prototypes_.shape[0] == 3
    for _ in range(20):
        learner.partial_fit(X, y)
    assert learner.score(X, y) > 0.9


def test_partial_fit_errors():
    X, y = _wine()
    learner = AngularMarginLearner()
    with pytest.raises(ValueError, match="classes must be given"):
        learner.partial_fit(X, y)
    with pytest.raises(ValueError, match="labels not in classes"):
        learner.partial_fit(X, y, classes=[0, 1])
    learner = AngularMarginLearner().partial_fit(X, y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="differs from the classes"):
        learner.partial_fit(X, y, classes=[0, 1, 2, 3])
    with pytest.raises(ValueError, match="features"):
        learner.partial_fit(X[:, :5], y)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"loss": "softmax", "scale": 10.0}, "scale=10.0 is not used by loss='softmax'"),
        ({"loss": "normface", "margin": 0.2}, "margin=0.2 is not used by loss='normface'"),
        ({"loss": "softmax", "margin": 0.2}, "margin=0.2 is not used by loss='softmax'"),
        ({"loss": "arcface", "margin": 3.2}, "angle below pi"),
        ({"n_components": 20}, r"n_components=20 must be at most n_features \+ 1"),
        (
            {"n_components": 14, "fit_intercept": False},
            "n_components=14 must be at most n_features=13",
        ),
        ({"init": np.eye(3)}, r"init given as an array must have shape \(n_components - 1, 13\)"),
        ({"intercept_scaling": 0.0}, "'intercept_scaling' parameter"),
        ({"init": np.zeros((2, 13))}, "zero map"),
        ({"loss": "hinge"}, "'loss' parameter"),
        ({"scale": -1.0}, "'scale' parameter"),
        ({"solver": "newton"}, "'solver' parameter"),
    ],
)
def test_bad_parameters_are_named(params, match):
    X, y = _wine()
    with pytest.raises(ValueError, match=match):
        AngularMarginLearner(**params).fit(X, y)


def test_bad_data():
    X, y = _wine()
    with pytest.raises(ValueError, match="at least two classes"):
        AngularMarginLearner().fit(X, np.zeros(len(X)))
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        AngularMarginLearner().fit(X_nan, y)
    with pytest.raises(ValueError):
        AngularMarginLearner().fit(X, np.linspace(0, 1, len(X)))


def test_inputs_are_not_modified():
    X, y = _wine()
    X_copy, y_copy = X.copy(), y.copy()
    learner = AngularMarginLearner(random_state=0).fit(X, y)
    learner.transform(X)
    learner.partial_fit(X, y)
    np.testing.assert_array_equal(X, X_copy)
    np.testing.assert_array_equal(y, y_copy)


def test_pickle_and_clone():
    X, y = _wine()
    learner = AngularMarginLearner(loss="cosface", n_components=4, random_state=0).fit(X, y)
    restored = pickle.loads(pickle.dumps(learner))
    np.testing.assert_array_equal(restored.transform(X), learner.transform(X))
    np.testing.assert_array_equal(restored.predict(X), learner.predict(X))
    restored.partial_fit(X, y)  # the optimiser's state travels too
    assert clone(learner).get_params() == learner.get_params()


def test_pipeline_and_grid_search_with_a_retrieval_scorer():
    X, y = load_wine(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), AngularMarginLearner(max_iter=30, random_state=0))
    search = GridSearchCV(
        pipe,
        {"angularmarginlearner__loss": ["normface", "arcface"]},
        scoring=make_retrieval_scorer("map_at_r", metric="cosine"),
        cv=StratifiedKFold(2, shuffle=True, random_state=0),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X, y)
    assert search.best_score_ > 0.8
    assert search.best_estimator_.transform(X).shape == (178, 14)


@settings(max_examples=8, deadline=None, derandomize=True)
@given(exponent=st.integers(-300, 300), seed=st.integers(0, 100), loss=st.sampled_from(LOSSES))
@example(exponent=300, seed=0, loss="arcface")
@example(exponent=-300, seed=1, loss="softmax")
@pytest.mark.parametrize("feature_scaling", ["standard", None])
def test_scale_sweep_is_finite_and_invariant(exponent, seed, loss, feature_scaling):
    """Only directions count: ``fit(c * X)`` is ``fit(X)`` for a power of two ``c``
    (with ``components_`` divided by ``c`` when each feature is standardised),
    and any magnitude from 1e-300 to 1e300 gives a finite map, outputs and predictions."""
    rng = np.random.RandomState(seed)
    y = np.repeat(np.arange(3), 6)
    X = rng.randn(18, 3) + 2.0 * np.eye(3)[y]
    data = X * 10.0**exponent
    s = power_of_two_scale(data)
    params = dict(loss=loss, random_state=0, feature_scaling=feature_scaling)
    est = AngularMarginLearner(**params).fit(data, y)
    reference = AngularMarginLearner(**params).fit(data / s, y)
    assert np.all(np.isfinite(est.components_)) and np.any(est.components_)
    assert np.all(np.isfinite(est.transform(data)))
    c = 1.0 if feature_scaling is None else s
    np.testing.assert_allclose(est.components_ * c, reference.components_, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(est.predict(data), reference.predict(data / s))


def test_rows_of_very_different_magnitudes_keep_their_directions():
    # a linear map: only the direction of each point counts
    X, y = _wine()
    learner = AngularMarginLearner(fit_intercept=False, random_state=0).fit(X, y)
    mixed = X * np.where(np.arange(len(X)) % 2 == 0, 2.0**-900, 2.0**900)[:, None]
    np.testing.assert_array_equal(learner.predict(mixed), learner.predict(X))
    assert np.all(np.isfinite(learner.predict_proba(mixed)))


def test_intercept_at_extreme_magnitudes():
    # an affine map: a huge point goes where L sends its direction, a tiny one
    # where the intercept points, and nothing overflows
    X, y = _wine()
    learner = AngularMarginLearner(random_state=0).fit(X, y)
    L, b, P = learner.components_, learner.intercept_, learner.prototypes_
    huge, tiny = X[:20] * 2.0**1000, X[:20] * 2.0**-1070
    for points in (huge, tiny):
        assert np.all(np.isfinite(learner.transform(points)))
        assert np.all(np.isfinite(learner.predict_proba(points)))
    np.testing.assert_array_equal(
        learner.predict(huge), learner.classes_[np.argmax(X[:20] @ L.T @ P.T, axis=1)]
    )
    np.testing.assert_array_equal(
        learner.predict(tiny), np.repeat(learner.classes_[np.argmax(P @ b)], 20)
    )


# -- the intercept ---------------------------------------------------------------


def test_affine_map_everywhere_it_is_used():
    da = pytest.importorskip("dask.array")
    X, y = _wine()
    learner = AngularMarginLearner(random_state=0).fit(X[::2], y[::2])
    assert learner.components_.shape == (14, 13) and learner.intercept_.shape == (14,)
    Z = X @ learner.components_.T + learner.intercept_
    U = Z / np.linalg.norm(Z, axis=1, keepdims=True)
    np.testing.assert_allclose(learner.transform(X), U, rtol=1e-12, atol=1e-15)
    lazy = learner.transform(da.from_array(X, chunks=50))
    np.testing.assert_allclose(lazy.compute(), U, rtol=1e-12, atol=1e-15)
    pairs = np.stack([X[:10], X[10:20]], axis=1)
    expected = 1.0 - np.sum(U[:10] * U[10:20], axis=1)
    np.testing.assert_allclose(learner.pair_distance(pairs), expected, rtol=1e-10, atol=1e-14)
    metric = learner.get_metric()
    np.testing.assert_allclose([metric(a, b) for a, b in pairs], expected, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(pickle.loads(pickle.dumps(metric))(X[0], X[1]), metric(X[0], X[1]))


def test_without_intercept_the_map_is_linear():
    X, y = _wine()
    learner = AngularMarginLearner(fit_intercept=False, random_state=0).fit(X, y)
    assert learner.components_.shape == (13, 13)
    np.testing.assert_array_equal(learner.intercept_, np.zeros(13))
    Z = X @ learner.components_.T
    np.testing.assert_allclose(
        learner.transform(X), Z / np.linalg.norm(Z, axis=1, keepdims=True), rtol=1e-12
    )


def test_intercept_fit_does_not_depend_on_where_the_data_sit():
    # the lift is taken about the training mean, at a height set by the spread:
    # translated data give the same lifted points (up to rounding), hence the
    # same objective, minimised to the solver's tolerance
    X, y = _wine()
    shift = np.linspace(-50.0, 50.0, X.shape[1])
    moved = AngularMarginLearner(random_state=0).fit(X + shift, y)
    still = AngularMarginLearner(random_state=0).fit(X, y)
    lifted = still._lifted(X, reset=False)
    np.testing.assert_allclose(moved._lifted(X + shift, reset=False), lifted, rtol=0, atol=1e-12)
    codes = np.searchsorted(still.classes_, y)
    objective = still._objective(lifted, codes)
    at_still = objective(still._pack((still._lifted_components(), still.prototypes_)))[0]
    at_moved = objective(moved._pack((moved._lifted_components(), moved.prototypes_)))[0]
    assert abs(at_moved - at_still) <= 1e-4 * at_still


def test_high_lift_held_at_the_start_gives_euclidean_neighbours():
    # the starting map sends x to (x - mean, c) / norm: as c grows, the chord
    # between two images tends to ||x - x'|| / c, so cosine neighbours become
    # Euclidean ones; a huge alpha keeps the map at its start
    X, y = _wine()
    learner = AngularMarginLearner(intercept_scaling=1e4, alpha=1e12, random_state=0).fit(X, y)
    # Euclidean neighbours of the features as the fit rescales them
    Z = X / learner.feature_scale_
    expected = NearestNeighbors(n_neighbors=5).fit(Z).kneighbors(Z[:40])[1]
    U = learner.transform(X)
    found = NearestNeighbors(n_neighbors=5).fit(U).kneighbors(U[:40])[1]
    np.testing.assert_array_equal(found, expected)
    # without the lift, the cosine of the centred points ranks otherwise
    flat = AngularMarginLearner(fit_intercept=False, alpha=1e12, random_state=0).fit(X, y)
    V = flat.transform(X)
    assert not np.array_equal(
        NearestNeighbors(n_neighbors=5).fit(V).kneighbors(V[:40])[1], expected
    )


def test_partial_fit_keeps_the_first_lift():
    X, y = _wine()
    learner = AngularMarginLearner(random_state=0).partial_fit(X[:60], y[:60], classes=[0, 1, 2])
    first_lift = learner._lift
    components, intercept = learner.components_.copy(), learner.intercept_.copy()
    # the map on the lifted points, rebuilt from components_ and intercept_, gives them back
    learner._set_fitted(learner._pack((learner._lifted_components(), learner.prototypes_)))
    np.testing.assert_allclose(learner.components_, components, rtol=1e-12)
    np.testing.assert_allclose(learner.intercept_, intercept, rtol=1e-10, atol=1e-12)
    # a later batch elsewhere is lifted about the first batch's mean, at its height
    learner.partial_fit(X[60:] + 100.0, y[60:])
    assert learner._lift[2] == first_lift[2]
    np.testing.assert_array_equal(learner._lift[1], first_lift[1])
