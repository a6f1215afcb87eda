import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.spatial.distance import pdist
from scipy.stats import spearmanr
from sklearn.datasets import load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlearn import (
    MetricLearner,
    PairsMetricLearner,
    QuadrupletsMetricLearner,
    TripletsMetricLearner,
)


def _is_psd(M):
    return np.allclose(M, M.T, atol=1e-10) and np.linalg.eigvalsh(M).min() >= -1e-8 * max(
        1.0, np.abs(M).max()
    )


def _known_metric(random_state=0, n=150, d=5):
    rng = np.random.RandomState(random_state)
    X = rng.randn(n, d)
    L_true = rng.randn(d, d) * np.array([3.0, 2.0, 1.0, 0.5, 0.1])[:, None]
    return rng, X, L_true


def _spearman(learner, X, L_true):
    learned = pdist(learner.transform(X))
    true = pdist(X @ L_true.T)
    return spearmanr(learned, true).correlation


# -- recovery of a known metric ---------------------------------------------------------


@pytest.mark.parametrize("solver", ["pgd", "lbfgs"])
def test_pairs_learner_recovers_a_known_metric(solver):
    rng, X, L_true = _known_metric(0)
    a, b = rng.randint(len(X), size=(2, 3000))
    keep = a != b
    a, b = a[keep], b[keep]
    d_true = np.sum(((X[a] - X[b]) @ L_true.T) ** 2, axis=1)
    y = np.where(d_true < np.median(d_true), 1, -1)
    pairs = np.stack([X[a], X[b]], axis=1)
    learner = PairsMetricLearner(solver=solver, alpha=1e-4, random_state=0).fit(pairs, y)
    assert _spearman(learner, X, L_true) >= 0.98
    assert _is_psd(learner.get_mahalanobis_matrix())
    assert np.mean(learner.predict(pairs) == y) > 0.95  # accuracy; score() is the ROC AUC


@pytest.mark.parametrize("solver", ["pgd", "lbfgs"])
def test_triplets_learner_recovers_a_known_metric(solver):
    rng, X, L_true = _known_metric(1)
    t = rng.randint(len(X), size=(3000, 3))
    t = t[(t[:, 0] != t[:, 1]) & (t[:, 0] != t[:, 2]) & (t[:, 1] != t[:, 2])]
    Z = X @ L_true.T
    near = np.sum((Z[t[:, 0]] - Z[t[:, 1]]) ** 2, axis=1)
    far = np.sum((Z[t[:, 0]] - Z[t[:, 2]]) ** 2, axis=1)
    t[near > far] = t[near > far][:, [0, 2, 1]]
    learner = TripletsMetricLearner(solver=solver, alpha=1e-4).fit(X[t])
    assert _spearman(learner, X, L_true) >= 0.98
    assert _is_psd(learner.get_mahalanobis_matrix())


def test_quadruplets_learner_recovers_a_known_metric():
    rng, X, L_true = _known_metric(2)
    q = rng.randint(len(X), size=(3000, 4))
    Z = X @ L_true.T
    first = np.sum((Z[q[:, 0]] - Z[q[:, 1]]) ** 2, axis=1)
    second = np.sum((Z[q[:, 2]] - Z[q[:, 3]]) ** 2, axis=1)
    q[first > second] = q[first > second][:, [2, 3, 0, 1]]
    learner = QuadrupletsMetricLearner(alpha=1e-4).fit(X[q])
    assert _spearman(learner, X, L_true) >= 0.98


# -- solvers, losses and regularisers ----------------------------------------------------------


def _iris_pairs(n=150, random_state=0):
    from mlearn import Constraints

    X, labels = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    pairs, y = Constraints(labels).pairs(n, random_state=random_state)
    return X, X[pairs], y


@pytest.mark.parametrize("solver", ["pgd", "lbfgs", "sgd"])
@pytest.mark.parametrize("loss", ["contrastive", "smooth_contrastive", "hinge", "logistic"])
def test_every_pair_loss_and_solver_learns_a_psd_metric(loss, solver):
    X, pairs, y = _iris_pairs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        learner = PairsMetricLearner(loss=loss, solver=solver, max_iter=200, random_state=0).fit(
            pairs, y
        )
    assert _is_psd(learner.get_mahalanobis_matrix())
    # better than the Euclidean metric calibrated the same way
    from mlearn.base import _best_threshold

    d_euclid = np.linalg.norm(pairs[:, 0] - pairs[:, 1], axis=1)
    t = _best_threshold(d_euclid, y, "accuracy", None, 1.0)
    euclid_accuracy = np.mean(np.where(d_euclid <= t, 1, -1) == y)
    assert np.mean(learner.predict(pairs) == y) >= euclid_accuracy
    assert learner.n_iter_ >= 1 and len(learner.objective_history_) >= 2


@pytest.mark.parametrize("regularizer", ["fro", "trace", "logdet", "l1", None])
def test_pgd_objective_is_monotone_for_every_regularizer(regularizer):
    X, pairs, y = _iris_pairs()
    learner = PairsMetricLearner(regularizer=regularizer, alpha=0.1, max_iter=100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        learner.fit(pairs, y)
    history = np.array(learner.objective_history_)
    assert np.all(np.diff(history) <= 1e-12 * np.abs(history[:-1]))
    assert history[-1] < history[0]
    assert _is_psd(learner.get_mahalanobis_matrix())


def test_pgd_with_l1_descends_from_a_diagonal_start():
    # from the identity every off-diagonal entry sits on the l1 term's kink:
    # the fit must still lower the objective by far more than round-off
    # (with the subgradient 0 on the kink no step passed the line search)
    X, pairs, y = _iris_pairs()
    learner = PairsMetricLearner(regularizer="l1", alpha=0.1, init="identity").fit(pairs, y)
    history = learner.objective_history_
    assert history[-1] < (1 - 1e-2) * history[0]
    assert not np.allclose(learner.get_mahalanobis_matrix(), np.eye(4))


def test_trace_regularizer_gives_a_lower_rank_metric():
    X, pairs, y = _iris_pairs()
    # same weight, towards the identity (full rank) or towards a small trace
    weak = PairsMetricLearner(regularizer="fro", alpha=0.5).fit(pairs, y)
    strong = PairsMetricLearner(regularizer="trace", alpha=0.5).fit(pairs, y)

    def effective_rank(M):
        w = np.clip(np.linalg.eigvalsh(M), 0, None)
        return np.sum(w > 1e-6 * w.max())

    assert effective_rank(strong.get_mahalanobis_matrix()) < effective_rank(
        weak.get_mahalanobis_matrix()
    )


def test_l1_regularizer_shrinks_off_diagonal_entries():
    X, pairs, y = _iris_pairs()

    def off_diagonal(M):
        return np.abs(M - np.diag(np.diag(M))).sum() / np.abs(np.diag(M)).sum()

    plain = PairsMetricLearner(regularizer=None).fit(pairs, y)
    sparse = PairsMetricLearner(regularizer="l1", alpha=1.0).fit(pairs, y)
    assert off_diagonal(sparse.get_mahalanobis_matrix()) < off_diagonal(
        plain.get_mahalanobis_matrix()
    )


@pytest.mark.parametrize("solver", ["pgd", "lbfgs", "sgd"])
def test_low_rank_components(solver):
    X, pairs, y = _iris_pairs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        learner = PairsMetricLearner(
            n_components=2, solver=solver, random_state=0, max_iter=200
        ).fit(pairs, y)
    assert learner.components_.shape == (2, 4)
    assert learner.transform(X).shape == (len(X), 2)
    assert np.linalg.matrix_rank(learner.get_mahalanobis_matrix()) <= 2


def test_given_logistic_threshold_is_kept_and_learned_one_moves():
    X, pairs, y = _iris_pairs()
    fixed = PairsMetricLearner(loss="logistic", threshold=3.0).fit(pairs, y)
    assert fixed.loss_threshold_ == 3.0
    learned = PairsMetricLearner(loss="logistic").fit(pairs, y)
    d0 = np.sum((pairs[:, 0] - pairs[:, 1]) ** 2, axis=1)
    assert learned.loss_threshold_ != pytest.approx(np.median(d0))


def test_zero_weights_equal_leaving_the_pairs_out():
    X, pairs, y = _iris_pairs()
    w = np.ones(len(y))
    w[::3] = 0
    weighted = PairsMetricLearner(loss="smooth_contrastive").fit(pairs, y, sample_weight=w)
    dropped = PairsMetricLearner(loss="smooth_contrastive", margin=weighted.margin_).fit(
        pairs[w > 0], y[w > 0]
    )
    np.testing.assert_allclose(
        weighted.get_mahalanobis_matrix(),
        dropped.get_mahalanobis_matrix(),
        rtol=1e-6,
        atol=1e-8,
    )


def test_calibration_params_are_used():
    X, pairs, y = _iris_pairs()
    learner = PairsMetricLearner().fit(
        pairs, y, calibration_params={"strategy": "max_tpr", "min_rate": 0.5}
    )
    pred = learner.predict(pairs)
    tnr = np.mean(pred[y == -1] == -1)
    assert tnr >= 0.5
    with pytest.raises(ValueError, match="calibration_params"):
        PairsMetricLearner().fit(pairs, y, calibration_params={"strategie": "accuracy"})


def test_partial_fit_continues_training_on_a_stream():
    X, pairs, y = _iris_pairs(n=300)
    learner = PairsMetricLearner(solver="sgd", random_state=0, learning_rate=0.05)
    chunks = np.array_split(np.random.RandomState(0).permutation(len(y)), 5)
    epochs = 0
    for chunk in chunks:
        learner.partial_fit(pairs[chunk], y[chunk])
        # each call runs epochs over its pairs until their objective stops improving
        assert learner.n_iter_ > epochs + 1
        epochs = learner.n_iter_
    assert learner.n_iter_ == len(learner.objective_history_) - 1
    assert _is_psd(learner.get_mahalanobis_matrix())
    assert np.mean(learner.predict(pairs) == y) > 0.85
    with pytest.raises(ValueError, match="solver='sgd'"):
        PairsMetricLearner(solver="pgd").partial_fit(pairs, y)
    rng = np.random.RandomState(0)
    t = rng.randint(150, size=(200, 3))
    TripletsMetricLearner(solver="sgd").partial_fit(X[t]).partial_fit(X[t])


# -- the supervised learner ---------------------------------------------------------------------


def test_metric_learner_beats_euclidean_on_wine():
    X, y = load_wine(return_X_y=True)
    euclid = cross_val_score(make_pipeline(StandardScaler(), KNeighborsClassifier(3)), X, y, cv=3)
    learned = cross_val_score(
        make_pipeline(StandardScaler(), MetricLearner(random_state=0), KNeighborsClassifier(3)),
        X,
        y,
        cv=3,
    )
    assert learned.mean() > euclid.mean()


@pytest.mark.parametrize("constraints", ["knn", "random"])
@pytest.mark.parametrize("solver", ["pgd", "lbfgs", "sgd"])
def test_metric_learner_constraints_and_solvers(constraints, solver):
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        learner = MetricLearner(
            constraints=constraints, solver=solver, n_constraints=300, max_iter=100, random_state=0
        ).fit(X, y)
    assert _is_psd(learner.get_mahalanobis_matrix())
    assert learner.n_constraints_["pairs"] > 0 and learner.n_constraints_["triplets"] > 0
    knn = KNeighborsClassifier(3).fit(learner.transform(X), y)
    assert knn.score(learner.transform(X), y) > 0.9


def test_metric_learner_regression_finds_the_relevant_features():
    rng = np.random.RandomState(0)
    X = rng.randn(300, 6)
    y = np.sin(2 * X[:, 0]) + X[:, 1]  # features 2..5 are noise
    learner = MetricLearner(random_state=0).fit(X[:200], y[:200])
    assert learner.target_type_ == "continuous"
    M = learner.get_mahalanobis_matrix()
    assert np.diag(M)[:2].min() > 3 * np.diag(M)[2:].max()
    euclid = KNeighborsRegressor(5).fit(X[:200], y[:200]).score(X[200:], y[200:])
    learned = (
        KNeighborsRegressor(5)
        .fit(learner.transform(X[:200]), y[:200])
        .score(learner.transform(X[200:]), y[200:])
    )
    assert learned > euclid + 0.05
    random = MetricLearner(constraints="random", random_state=0).fit(X[:200], y[:200])
    assert random.n_constraints_["triplets"] > 0


def test_metric_learner_target_type_reads_integer_targets_as_continuous():
    # the regression constraints use only target differences, so an integer
    # target read as continuous gives the metric of the same target shifted
    # off the integers (which 'auto' reads as continuous)
    rng = np.random.RandomState(0)
    X = rng.randn(150, 4)
    y = np.round(10 * X[:, 0] + 3 * X[:, 1]).astype(int)
    forced = MetricLearner(target_type="continuous", random_state=0).fit(X, y)
    shifted = MetricLearner(random_state=0).fit(X, y + 0.5)
    assert forced.target_type_ == shifted.target_type_ == "continuous"
    assert not hasattr(forced, "classes_")
    assert_allclose(forced.components_, shifted.components_)
    with pytest.warns(UserWarning, match="target_type='continuous'") as record:
        auto = MetricLearner(random_state=0).fit(X, y)
    assert record[0].filename == __file__  # points at the caller of fit
    assert auto.target_type_ == "multiclass"
    assert len(auto.classes_) == len(np.unique(y))


def test_metric_learner_target_type_classes_and_errors():
    X, y = load_iris(return_X_y=True)
    labels = y * 0.5 + 0.25  # non-integer labels: 'auto' would read a regression target
    forced = MetricLearner(target_type="classes", random_state=0).fit(X, labels)
    assert forced.target_type_ == "multiclass"
    assert_allclose(forced.classes_, [0.25, 0.75, 1.25])
    assert_allclose(forced.components_, MetricLearner(random_state=0).fit(X, y).components_)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        MetricLearner(random_state=0).fit(X, y)  # large classes: no warning
    with pytest.raises(ValueError, match="needs a numeric y"):
        MetricLearner(target_type="continuous").fit(X, np.array(["a", "b", "c"] * 50))
    with pytest.raises(ValueError, match="target_type"):
        MetricLearner(target_type="ordinal").fit(X, y)


def test_metric_learner_default_neighbour_counts_follow_the_target_type():
    # k_impostor=None: 2 impostors per other class for class labels (5
    # targets, 2 * 2 impostors, 20 triplets per iris point), 10 in all for
    # continuous targets
    X, y = load_iris(return_X_y=True)
    default = MetricLearner(random_state=0).fit(X, y)
    assert_allclose(
        default.components_,
        MetricLearner(k_genuine=5, k_impostor=2, impostors="per_class", random_state=0)
        .fit(X, y)
        .components_,
    )
    assert default.n_constraints_["triplets"] == len(X) * 5 * 2 * 2
    target = X[:, 0] + 0.1 * X[:, 1]
    default = MetricLearner(random_state=0).fit(X[:, 1:], target)
    assert_allclose(
        default.components_,
        MetricLearner(k_genuine=5, k_impostor=10, random_state=0)
        .fit(X[:, 1:], target)
        .components_,
    )


def test_metric_learner_rounds_refresh_impostors():
    X, y = load_iris(return_X_y=True)
    one = MetricLearner(n_rounds=1, random_state=0).fit(X, y)
    two = MetricLearner(n_rounds=2, random_state=0).fit(X, y)
    assert two.n_iter_ > one.n_iter_
    assert not np.allclose(one.components_, two.components_)


def _brute_force_impostors(Z, y, k, scheme):
    """Each point's k nearest other-class points (or k nearest of each other class)."""
    from scipy.spatial.distance import cdist

    D = cdist(Z, Z)
    found = []
    for i, row in enumerate(D):
        if scheme == "nearest":
            groups = [np.flatnonzero(y != y[i])]
        else:
            groups = [np.flatnonzero(y == c) for c in np.unique(y) if c != y[i]]
        found.append({j for g in groups for j in g[np.argsort(row[g], kind="stable")[:k]]})
    return found


@pytest.mark.parametrize("scheme", ["nearest", "per_class"])
def test_metric_learner_impostors_match_brute_force(scheme):
    # 'nearest': the 2 nearest other-class points; 'per_class': the 2
    # nearest of each other class (4 here), found with cdist
    from mlearn.learners.general import _knn_constraints, _target_neighbors

    rng = np.random.RandomState(1)
    X = rng.randn(45, 3) + np.repeat(np.eye(3) * 1.5, 15, axis=0)
    y = np.repeat([0, 1, 2], 15)
    targets = _target_neighbors(X, y, y, 3)
    pairs, pair_y, triplets, found = _knn_constraints(
        X, y, y, targets, 2, per_class=scheme == "per_class"
    )
    expected = _brute_force_impostors(X, y, 2, scheme)
    assert [set(f) for f in found] == expected
    n_imp = 2 if scheme == "nearest" else 4
    assert np.all(y[pairs[pair_y == -1, 0]] != y[pairs[pair_y == -1, 1]])
    assert len(triplets) == 45 * 3 * n_imp
    fitted = MetricLearner(k_genuine=3, k_impostor=2, impostors=scheme, random_state=0).fit(X, y)
    assert fitted.n_constraints_ == {"pairs": 45 * 3 + 45 * n_imp, "triplets": 45 * 3 * n_imp}


def test_metric_learner_impostor_schemes_agree_on_two_classes():
    X, y = load_iris(return_X_y=True)
    X, y = X[y > 0], y[y > 0]
    per_class = MetricLearner(k_impostor=3, impostors="per_class", random_state=0).fit(X, y)
    nearest = MetricLearner(k_impostor=3, impostors="nearest", random_state=0).fit(X, y)
    assert_allclose(per_class.components_, nearest.components_)


@pytest.mark.parametrize("scheme", ["nearest", "per_class"])
def test_metric_learner_rounds_keep_earlier_impostors(scheme):
    # brute force: each point's impostors under the identity (round 1) and
    # under round 1's metric (round 2); round 2's objective holds the union
    rng = np.random.RandomState(0)
    X = rng.randn(60, 4) + np.repeat(np.eye(3, 4) * 2, 20, axis=0)
    y = np.repeat([0, 1, 2], 20)
    k, n_imp = (3, 3) if scheme == "nearest" else (2, 4)
    # impostors under the identity on X as given: metric-learn's units
    params = dict(
        k_genuine=4, k_impostor=k, impostors=scheme, random_state=0, feature_scaling=None
    )
    first = MetricLearner(**params).fit(X, y)
    second = MetricLearner(n_rounds=2, **params).fit(X, y)
    union = [
        a | b
        for a, b in zip(
            _brute_force_impostors(X, y, k, scheme),
            _brute_force_impostors(first.transform(X), y, k, scheme),
        )
    ]
    sizes = np.array([len(u) for u in union])
    assert sizes.max() > n_imp  # the learned metric found new impostors
    assert first.n_constraints_ == {"pairs": 60 * 4 + 60 * n_imp, "triplets": 60 * 4 * n_imp}
    assert second.n_constraints_ == {"pairs": 60 * 4 + sizes.sum(), "triplets": 4 * sizes.sum()}


def test_logdet_warm_start_from_a_nearly_singular_metric():
    # a second round starts from the first round's metric, whose smallest
    # eigenvalues may round to zero; LogDet must still be finite there
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import StratifiedKFold
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    train, _ = next(StratifiedKFold(5, shuffle=True, random_state=0).split(X, y))
    X, y = StandardScaler().fit_transform(X[train]), y[train]
    learner = MetricLearner(regularizer="logdet", alpha=0.001, n_rounds=2, random_state=0)
    # one thread: the round-off that made this start singular, every time
    import numba
    from threadpoolctl import threadpool_limits

    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        with threadpool_limits(limits=1), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            learner.fit(X, y)
    finally:
        numba.set_num_threads(threads)
    M = learner.get_mahalanobis_matrix()
    w = np.linalg.eigvalsh(M)
    assert w.min() > 0 and np.all(np.isfinite(learner.objective_history_))


def test_project_psd_floor_keeps_the_matrix_positive_definite():
    from mlearn.linalg import project_psd

    A = np.diag([4.0, 1e-20, -3.0])
    P = project_psd(A, floor=1e-6)
    np.testing.assert_allclose(np.linalg.eigvalsh(P), [4e-6, 4e-6, 4.0])
    np.testing.assert_array_equal(project_psd(A), np.diag([4.0, 1e-20, 0.0]))


def test_metric_learner_errors_and_warnings():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match="2 classes"):
        MetricLearner().fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="requires y"):
        MetricLearner().fit(X, None)
    with pytest.raises(ValueError, match="logdet"):
        MetricLearner(regularizer="logdet", n_components=2).fit(X, y)
    with pytest.raises(ValueError, match="positive-definite"):
        MetricLearner(regularizer="logdet", init=np.diag([1.0, 1.0, 1.0, 0.0])).fit(X, y)
    with pytest.warns(ConvergenceWarning, match="MetricLearner") as record:
        MetricLearner(max_iter=1, tol=0).fit(X, y)
    assert record[-1].filename == __file__


def test_verbose_prints_the_objective(capsys):
    X, y = load_iris(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        MetricLearner(verbose=1, max_iter=5, tol=0).fit(X, y)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 6 and all(line.startswith("[MetricLearner]") for line in lines)


def test_inputs_are_not_modified():
    X, y = load_iris(return_X_y=True)
    X_copy, y_copy = X.copy(), y.copy()
    MetricLearner().fit(X, y)
    np.testing.assert_array_equal(X, X_copy)
    np.testing.assert_array_equal(y, y_copy)
    _, pairs, py = _iris_pairs()
    p_copy = pairs.copy()
    w = np.ones(len(py))
    PairsMetricLearner().fit(pairs, py, sample_weight=w)
    np.testing.assert_array_equal(pairs, p_copy)
    np.testing.assert_array_equal(w, 1.0)


@pytest.mark.parametrize(
    "learner, kwargs, match",
    [
        (PairsMetricLearner(), {"sample_weight": np.ones(3)}, "sample_weight"),
        (PairsMetricLearner(), {"sample_weight": -np.ones(150)}, "sample_weight"),
        (PairsMetricLearner(n_components=9), {}, "n_components"),
        (PairsMetricLearner(init="lda"), {}, "lda"),
    ],
)
def test_bad_fit_arguments(learner, kwargs, match):
    _, pairs, y = _iris_pairs(n=75)
    with pytest.raises(ValueError, match=match):
        learner.fit(pairs, y, **kwargs)


def test_bad_pair_labels():
    _, pairs, y = _iris_pairs()
    with pytest.raises(ValueError, match="y"):
        PairsMetricLearner().fit(pairs, np.where(y == 1, 1, 0))


# -- extreme and degenerate inputs ---------------------------------------------------


@pytest.mark.parametrize("factor", [1e150, 1e200])
@pytest.mark.parametrize("solver", ["pgd", "lbfgs"])
def test_pairs_far_out_are_fitted_at_a_power_of_two_scale(factor, solver):
    # the projection's eigen-decomposition failed ("Eigenvalues did not
    # converge") on the overflowing metric
    from mlearn.linalg import power_of_two_scale

    _, pairs, y = _iris_pairs()
    far = pairs * factor
    s = power_of_two_scale(far)
    learner = PairsMetricLearner(solver=solver, max_iter=100).fit(far, y)
    reference = PairsMetricLearner(solver=solver, max_iter=100).fit(far / s, y)
    assert np.all(np.isfinite(learner.components_))
    np.testing.assert_allclose(learner.components_ * s, reference.components_, rtol=1e-9, atol=0)
    # distances under the learned metric do not depend on the data's units
    assert learner.margin_ == reference.margin_
    assert learner.threshold_ == pytest.approx(reference.threshold_, rel=1e-9)
    np.testing.assert_array_equal(learner.predict(far), reference.predict(far / s))
    assert np.mean(learner.predict(far) == y) > 0.8


def _triplets_and_degenerate(kind):
    rng, X, L_true = _known_metric(0, n=60)
    size = 3 if kind == "triplets" else 4
    t = rng.randint(len(X), size=(400, size))
    t = t[np.all(np.diff(np.sort(t, axis=1), axis=1) > 0, axis=1)][:200]  # distinct points
    d = lambda i, j: np.sum(((X[t[:, i]] - X[t[:, j]]) @ L_true.T) ** 2, axis=1)  # noqa: E731
    near, far = (d(0, 1), d(0, 2)) if size == 3 else (d(0, 1), d(2, 3))
    swap = near > far
    t[swap] = t[swap][:, [0, 2, 1]] if size == 3 else t[swap][:, [2, 3, 0, 1]]
    bad = t[:10].copy()
    bad[:, -1] = bad[:, 0] if size == 3 else bad[:, 2]
    return X, t, bad


@pytest.mark.parametrize("kind", ["triplets", "quadruplets"])
def test_constraints_with_an_empty_far_pair_are_left_out(kind):
    # d(a, n) = 0 under every metric: they can never be satisfied, and before
    # they pulled the metric to zero without a word
    learner_class = TripletsMetricLearner if kind == "triplets" else QuadrupletsMetricLearner
    X, t, bad = _triplets_and_degenerate(kind)
    with pytest.raises(ValueError, match=f"cannot learn from these {kind}: in all 10"):
        learner_class().fit(X[bad])
    weights = np.random.RandomState(1).rand(len(t) + len(bad))
    with pytest.warns(UserWarning, match=f"in 10 of 210 {kind}"):
        mixed = learner_class(max_iter=100).fit(X[np.vstack([t, bad])], sample_weight=weights)
    clean = learner_class(max_iter=100).fit(X[t], sample_weight=weights[: len(t)])
    np.testing.assert_allclose(mixed.components_, clean.components_, rtol=1e-12, atol=1e-14)
    assert np.any(mixed.components_)


def test_a_zero_metric_is_not_silent():
    _, pairs, y = _iris_pairs()
    with pytest.warns(UserWarning, match="learned the zero metric"):
        learner = PairsMetricLearner(regularizer="trace", alpha=100.0).fit(pairs, y)
    np.testing.assert_array_equal(learner.components_, 0.0)


def test_a_failed_projection_is_reported_as_a_value_error(monkeypatch):
    import mlearn.learners.general as general

    def failing(M, floor=0.0):
        raise np.linalg.LinAlgError("Eigenvalues did not converge")

    monkeypatch.setattr(general, "project_psd", failing)
    _, pairs, y = _iris_pairs()
    with pytest.raises(ValueError, match="eigen-decomposition did not converge"):
        PairsMetricLearner().fit(pairs, y)


def test_metric_learner_far_out_is_fitted_at_a_power_of_two_scale():
    from mlearn.linalg import power_of_two_scale

    X, y = load_iris(return_X_y=True)
    far = X * 1e-200
    s = power_of_two_scale(far)
    learner = MetricLearner(max_iter=50, random_state=0).fit(far, y)
    reference = MetricLearner(max_iter=50, random_state=0).fit(far / s, y)
    np.testing.assert_allclose(learner.components_ * s, reference.components_, rtol=1e-9, atol=0)
    knn = KNeighborsClassifier(3).fit(learner.transform(far), y)
    assert knn.score(learner.transform(far), y) > 0.9


def test_partial_fit_far_out_keeps_the_first_calls_scale():
    from mlearn.linalg import power_of_two_scale

    X, t, _ = _triplets_and_degenerate("triplets")
    far = X[t] * 1e200
    s = power_of_two_scale(far)
    learner = TripletsMetricLearner(solver="sgd", random_state=0)
    reference = TripletsMetricLearner(solver="sgd", random_state=0)
    for batch in (far[:100], far[100:]):
        learner.partial_fit(batch)
        reference.partial_fit(batch / s)
    np.testing.assert_allclose(learner.components_ * s, reference.components_, rtol=1e-9, atol=0)
    # two calls already satisfy more triplets than the Euclidean metric
    a, p, n = far[:, 0] / s, far[:, 1] / s, far[:, 2] / s
    euclidean = np.mean(np.sum((a - p) ** 2, axis=1) < np.sum((a - n) ** 2, axis=1))
    assert learner.score(far) > euclidean


# -- one relative-constraint learner ------------------------------------------------------


@pytest.mark.parametrize("solver", ["pgd", "lbfgs"])
def test_a_quadruplet_through_an_anchor_is_a_triplet(solver):
    # (a, p, a, n) asks d(a, p) < d(a, n), as the triplet (a, p, n) does: both
    # learners minimise the same objective
    rng, X, L_true = _known_metric(n=60, d=5)
    t = rng.randint(60, size=(300, 3))
    t = t[(t[:, 0] != t[:, 1]) & (t[:, 0] != t[:, 2])]
    Z = X @ L_true.T
    far = np.sum((Z[t[:, 0]] - Z[t[:, 1]]) ** 2, 1) > np.sum((Z[t[:, 0]] - Z[t[:, 2]]) ** 2, 1)
    t[far] = t[far][:, [0, 2, 1]]
    params = {"solver": solver, "random_state": 0, "tol": 1e-10}
    triplets = TripletsMetricLearner(**params).fit(X[t])
    quadruplets = QuadrupletsMetricLearner(**params).fit(X[t[:, [0, 1, 0, 2]]])
    assert quadruplets.margin_ == pytest.approx(triplets.margin_, rel=1e-12)
    M = triplets.get_mahalanobis_matrix()
    assert_allclose(
        quadruplets.get_mahalanobis_matrix(), M, rtol=1e-5, atol=1e-5 * np.abs(M).max()
    )
    assert triplets.get_params() == quadruplets.get_params()


def test_metric_learner_reads_classes_alike_in_memory_and_streamed():
    da = pytest.importorskip("dask.array")
    X, y = load_iris(return_X_y=True)
    one_class = np.zeros(len(X))
    many = np.arange(len(X)) % 50  # 50 classes of 3 points
    for fit in (
        lambda learner, y: learner.fit(X, y),
        lambda learner, y: learner.fit(da.from_array(X, chunks=50), da.from_array(y, chunks=50)),
    ):
        with pytest.raises(ValueError, match="^MetricLearner needs at least 2 classes in y"):
            fit(MetricLearner(solver="sgd"), one_class)
        with pytest.warns(UserWarning, match="y is read as 50 classes for 150 points") as rec:
            learner = fit(MetricLearner(solver="sgd", max_iter=2, random_state=0), many)
        assert rec[0].filename == __file__
        assert learner.target_type_ == "multiclass"
        assert_array_equal(learner.classes_, np.arange(50))


@pytest.mark.parametrize("constraints", ["knn", "random"])
def test_metric_learner_rounds_add_up_in_the_fitted_state(constraints):
    # a fit of n rounds records each round's solve: its iterations and its
    # history after the start, end to end
    X, y = load_iris(return_X_y=True)
    learner = MetricLearner(constraints=constraints, n_rounds=3, max_iter=5, tol=0, random_state=0)
    with pytest.warns(ConvergenceWarning):
        learner.fit(X, y)
    rounds = 3 if constraints == "knn" else 1
    assert learner.n_iter_ == 5 * rounds
    assert len(learner.objective_history_) == learner.n_iter_ + 1
