"""LMNN: objective against a brute-force evaluation, gradient, behaviour and API."""

import itertools
import re
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlearn import LMNN
from mlearn.learners import _lmnn_kernels as kernels
from mlearn.learners.lmnn import _LMNNProblem

# short fits (small max_iter) are on purpose in many tests below
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# -- an independent, brute-force LMNN objective ----------------------------------


def brute_force_objective(L, X, y, n_neighbors, regularization):
    """LMNN's objective by enumerating every (i, target j, impostor l) triplet.

    Target neighbours: the n_neighbors nearest same-class points in the input
    space (fewer when the class is smaller), ties broken by the smaller index.
    """
    n = len(X)
    D_in = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    Z = X @ L.T
    D = ((Z[:, None, :] - Z[None, :, :]) ** 2).sum(-1)
    pull = push = 0.0
    for i in range(n):
        same = np.flatnonzero((y == y[i]) & (np.arange(n) != i))
        targets = same[np.argsort(D_in[i, same], kind="stable")][:n_neighbors]
        others = np.flatnonzero(y != y[i])
        for j in targets:
            pull += D[i, j]
            for k in others:
                push += max(0.0, 1.0 + D[i, j] - D[i, k])
    return regularization * pull + (1 - regularization) * push


def problem_for(X, y, n_neighbors=3, regularization=0.5, max_impostors=10**6):
    classes, codes = np.unique(y, return_inverse=True)
    return _LMNNProblem(
        X, codes, classes, n_neighbors, regularization, max_impostors, np.random.RandomState(0)
    )


def small_data(n=45, n_features=4, n_classes=3, seed=0):
    rng = np.random.RandomState(seed)
    y = np.repeat(np.arange(n_classes), n // n_classes)
    X = rng.randn(len(y), n_features) + 0.8 * y[:, None]
    return X, y


# -- kernels against their NumPy references ---------------------------------------


def test_kernels_match_numpy_references():
    rng = np.random.RandomState(1)
    n, p = 30, 5
    Z = rng.randn(n, p)
    a = rng.randint(0, n, 50).astype(np.int64)
    b = rng.randint(0, n, 50).astype(np.int64)
    w = rng.randn(50)
    np.testing.assert_allclose(
        kernels.paired_sqdist(Z, a, b, np.empty(50)),
        kernels.paired_sqdist_reference(Z, a, b, np.empty(50)),
        rtol=1e-13,
    )
    np.testing.assert_allclose(
        kernels.laplacian_apply(Z, a, b, w, np.zeros((n, p))),
        kernels.laplacian_apply_reference(Z, a, b, w, np.zeros((n, p))),
        atol=1e-12,
    )

    # CSR targets (two per anchor) and candidates (a variable number per anchor)
    tptr = np.arange(0, 2 * n + 1, 2, dtype=np.int64)
    tind = rng.randint(0, n, 2 * n).astype(np.int64)
    d_target = kernels.paired_sqdist(Z, np.repeat(np.arange(n), 2), tind, np.empty(2 * n))
    per = rng.randint(0, 4, n)
    cptr = np.concatenate([[0], np.cumsum(per)]).astype(np.int64)
    cand = rng.randint(0, n, cptr[-1]).astype(np.int64)
    out = []
    for fn in (kernels.push_terms, kernels.push_terms_reference):
        wt, wc = np.zeros(2 * n), np.zeros(len(cand))
        loss, active = fn(Z, cptr, cand, tptr, d_target, wt, wc)
        out.append((loss, active, wt, wc))
    assert out[0][1] == out[1][1] > 0
    np.testing.assert_allclose(out[0][0], out[1][0], rtol=1e-12)
    np.testing.assert_array_equal(out[0][2], out[1][2])
    np.testing.assert_array_equal(out[0][3], out[1][3])

    G = Z[:12] @ Z[12:].T
    norms = (Z**2).sum(1)
    thr = rng.uniform(2, 12, n)
    empty = np.empty(0, dtype=np.int64)
    args = (G, norms[:12], norms[12:], thr[:12], thr[12:], 0, 12)
    count = kernels.threshold_pairs(*args, empty, empty)
    got_a, got_b = np.empty(count, np.int64), np.empty(count, np.int64)
    kernels.threshold_pairs(*args, got_a, got_b)
    ref_a, ref_b = kernels.threshold_pairs_reference(*args)
    assert count > 0
    assert sorted(zip(got_a, got_b)) == sorted(zip(ref_a, ref_b))


# -- objective and gradient ---------------------------------------------------------


@pytest.mark.parametrize("n_components", [4, 2])
@pytest.mark.parametrize("regularization", [0.5, 0.2])
def test_objective_matches_brute_force(n_components, regularization):
    X, y = small_data()
    L = np.random.RandomState(2).randn(n_components, X.shape[1]) * 0.7
    problem = problem_for(X, y, regularization=regularization)
    problem.search(L)
    f, _, n_active = problem(L)
    assert n_active > 0
    np.testing.assert_allclose(f, brute_force_objective(L, X, y, 3, regularization), rtol=1e-10)


def test_gradient_matches_finite_differences():
    X, y = small_data(seed=3)
    rng = np.random.RandomState(4)
    L = rng.randn(3, X.shape[1]) * 0.6
    problem = problem_for(X, y)
    problem.search(L)
    _, G, n_active = problem(L)
    assert n_active > 0
    eps = 1e-6
    numeric = np.empty_like(L)
    for idx in np.ndindex(L.shape):
        E = np.zeros_like(L)
        E[idx] = eps
        numeric[idx] = (
            brute_force_objective(L + E, X, y, 3, 0.5) - brute_force_objective(L - E, X, y, 3, 0.5)
        ) / (2 * eps)
    np.testing.assert_allclose(G, numeric, rtol=1e-5, atol=1e-6)


def test_objective_decreases_along_the_fit():
    X, y = small_data(n=60, seed=5)
    L0 = np.eye(X.shape[1])
    values = [brute_force_objective(L0, X, y, 3, 0.5)]
    for max_iter in (1, 3, 10, 30):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = LMNN(
                init="identity",
                min_iter=0,
                max_iter=max_iter,
                convergence_tol=0.0,
                feature_scaling=None,
            ).fit(X, y)
        values.append(brute_force_objective(est.components_, X, y, 3, 0.5))
    assert all(b <= a * (1 + 1e-9) for a, b in itertools.pairwise(values)), values
    assert values[-1] < 0.8 * values[0]
    # the reported objective is the true one at the returned components
    np.testing.assert_allclose(est.objective_, values[-1], rtol=1e-9)


def test_reported_objective_is_exact_after_convergence():
    X, y = small_data(n=90, seed=6)
    est = LMNN(convergence_tol=1e-6, max_iter=300, feature_scaling=None).fit(X, y)
    assert est.n_iter_ < 300
    np.testing.assert_allclose(
        est.objective_, brute_force_objective(est.components_, X, y, 3, 0.5), rtol=1e-9
    )


# -- behaviour ---------------------------------------------------------------------


def test_noise_features_are_down_weighted():
    # two features carry the class (three clusters on a circle); eight wider
    # noise features do not
    rng = np.random.RandomState(0)
    y = np.repeat([0, 1, 2], 50)
    angles = 2 * np.pi * y / 3
    signal = 2.0 * np.column_stack([np.cos(angles), np.sin(angles)]) + 0.6 * rng.randn(150, 2)
    X = np.hstack([signal, 3.0 * rng.randn(150, 8)])
    lmnn = LMNN(n_neighbors=3).fit(X, y)
    # weight of each feature in the learned squared distance, in units of its spread
    weight = np.diag(lmnn.get_mahalanobis_matrix()) * X.var(axis=0)
    assert weight[:2].mean() > 5 * weight[2:].mean(), weight
    assert weight[2:].max() < weight[:2].min() / 3, weight

    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    knn = KNeighborsClassifier(3)
    before = cross_val_score(knn, X, y, cv=cv).mean()
    after = cross_val_score(make_pipeline(LMNN(), knn), X, y, cv=cv).mean()
    assert before < 0.8 and after > 0.95, (before, after)


def test_no_impostors_does_not_crash():
    rng = np.random.RandomState(0)
    X = np.vstack([rng.randn(20, 3) * 0.01, rng.randn(20, 3) * 0.01 + 100.0])
    y = np.repeat([0, 1], 20)
    problem = problem_for(X, y)
    problem.search(np.eye(3))
    assert problem.n_candidates == 0
    lmnn = LMNN().fit(X, y)
    assert np.isfinite(lmnn.components_).all()
    assert KNeighborsClassifier(3).fit(lmnn.transform(X), y).score(lmnn.transform(X), y) == 1.0
    np.testing.assert_allclose(
        lmnn.objective_, brute_force_objective(lmnn.components_, X, y, 3, 0.5), rtol=1e-9
    )


def test_small_classes_reduce_the_number_of_target_neighbours():
    X, y = small_data(n=30, n_classes=3)
    X = np.vstack([X, [[5.0, 5, 5, 5], [5.2, 5, 5, 5], [-6.0, 0, 0, 0]]])
    y = np.concatenate([y, [7, 7, 9]])  # a class of two and a class of one
    with pytest.warns(UserWarning, match=r"n_neighbors=3 needs at least 4 samples"):
        lmnn = LMNN(n_neighbors=3, feature_scaling=None).fit(X, y)
    assert np.isfinite(lmnn.components_).all()
    np.testing.assert_allclose(
        lmnn.objective_, brute_force_objective(lmnn.components_, X, y, 3, 0.5), rtol=1e-9
    )


@pytest.mark.filterwarnings("ignore:n_neighbors=3 needs")
def test_only_singleton_classes_warns_and_keeps_init():
    X = np.random.RandomState(0).randn(5, 3)
    with pytest.warns(UserWarning, match="no class has two samples"):
        lmnn = LMNN(init="identity").fit(X, np.arange(5))
    # the identity of the rescaled features: diag(1 / s) in X's units
    np.testing.assert_allclose(lmnn.components_, np.diag(1 / lmnn.feature_scale_), rtol=1e-12)
    assert lmnn.n_iter_ == 0
    with pytest.warns(UserWarning, match="no class has two samples"):
        plain = LMNN(init="identity", feature_scaling=None).fit(X, np.arange(5))
    np.testing.assert_array_equal(plain.components_, np.eye(3))


def test_one_class_is_an_error():
    X = np.random.RandomState(0).randn(10, 3)
    with pytest.raises(ValueError, match="at least two classes"):
        LMNN().fit(X, np.zeros(10))


@pytest.mark.parametrize("init", ["auto", "pca", "lda", "identity", "random"])
def test_inits_and_n_components(init):
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    lmnn = LMNN(init=init, n_components=2, random_state=0, max_iter=40).fit(X, y)
    assert lmnn.components_.shape == (2, 4)
    assert lmnn.transform(X).shape == (150, 2)
    assert KNeighborsClassifier(3).fit(lmnn.transform(X), y).score(lmnn.transform(X), y) > 0.9


def test_bad_n_components_and_init_are_errors():
    X, y = small_data()
    with pytest.raises(ValueError, match="n_components=5 must be at most n_features=4"):
        LMNN(n_components=5).fit(X, y)
    with pytest.raises(ValueError, match=re.escape("init must have shape (n_components, 4)")):
        LMNN(init=np.eye(3)).fit(X, y)
    with pytest.raises(ValueError, match="init has 4 rows but n_components=2"):
        LMNN(init=np.eye(4), n_components=2).fit(X, y)
    with pytest.raises(ValueError, match="regularization"):
        LMNN(regularization=1.5).fit(X, y)
    with pytest.raises(ValueError, match="solver"):
        LMNN(solver="newton").fit(X, y)


def test_init_array_is_used_and_not_modified():
    X, y = small_data()
    init = np.diag([1.0, 2.0, 3.0, 4.0])
    before_init, before_X, before_y = init.copy(), X.copy(), y.copy()
    LMNN(init=init, max_iter=5, min_iter=0).fit(X, y)
    np.testing.assert_array_equal(init, before_init)
    np.testing.assert_array_equal(X, before_X)
    np.testing.assert_array_equal(y, before_y)
    one_step = LMNN(init=init, max_iter=1, min_iter=0).fit(X, y).components_
    assert np.abs(one_step - init).max() < np.abs(init).max()


def test_random_state_makes_results_reproducible():
    X, y = small_data()
    a = LMNN(init="random", random_state=3, max_iter=20).fit(X, y).components_
    b = LMNN(init="random", random_state=3, max_iter=20).fit(X, y).components_
    c = LMNN(init="random", random_state=4, max_iter=20).fit(X, y).components_
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_gradient_descent_solver_decreases_the_objective():
    X, y = small_data(seed=7)
    start = brute_force_objective(np.eye(4), X, y, 3, 0.5)
    est = LMNN(init="identity", solver="gd", learn_rate=1e-3, max_iter=100).fit(X, y)
    assert est.n_iter_ > 1
    end = brute_force_objective(est.components_, X, y, 3, 0.5)
    assert end < 0.7 * start


def test_max_impostors_bounds_the_active_set():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    problem = problem_for(X, y, max_impostors=50)
    problem.search(np.eye(4))
    assert problem.n_candidates == 50
    full = problem_for(X, y)
    full.search(np.eye(4))
    assert full.n_candidates > 50
    pairs = set(zip(full.cand_anchor, full.cand_other))
    assert set(zip(problem.cand_anchor, problem.cand_other)) <= pairs
    lmnn = LMNN(max_impostors=50, random_state=0, max_iter=50).fit(X, y)
    assert KNeighborsClassifier(3).fit(lmnn.transform(X), y).score(lmnn.transform(X), y) > 0.9


def test_verbose_prints_the_objective(capsys):
    X, y = small_data()
    LMNN(verbose=True, max_iter=3, min_iter=0).fit(X, y)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) >= 3
    assert all(line.startswith("[LMNN] ") for line in lines)
    assert re.search(r"iter\s+1\s+objective \d\.\d+e[+-]\d+", "\n".join(lines))


def test_max_iter_reached_warns():
    from sklearn.exceptions import ConvergenceWarning

    X, y = small_data()
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        est = LMNN(max_iter=2).fit(X, y)
    assert est.n_iter_ == 2


def test_float32_preprocessor_and_feature_names():
    X, y = small_data()
    lmnn = LMNN(max_iter=20).fit(X.astype(np.float32), y)
    assert lmnn.transform(X.astype(np.float32)).dtype == np.float32
    by_index = LMNN(max_iter=20, preprocessor=X).fit(np.arange(len(X)), y)
    direct = LMNN(max_iter=20).fit(X, y)
    np.testing.assert_allclose(by_index.components_, direct.components_)
    np.testing.assert_allclose(by_index.transform(np.arange(5)), direct.transform(X[:5]))
    lmnn = LMNN(n_components=2, max_iter=20).fit(X, y)
    assert list(lmnn.get_feature_names_out()) == ["lmnn0", "lmnn1"]


def test_set_output_pandas():
    pd = pytest.importorskip("pandas")
    X, y = small_data()
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    lmnn = LMNN(n_components=3, max_iter=20).set_output(transform="pandas").fit(frame, y)
    out = lmnn.transform(frame)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == ["lmnn0", "lmnn1", "lmnn2"]
    np.testing.assert_allclose(out.to_numpy(), X @ lmnn.components_.T)


def test_metric_learn_parameters_and_model_selection():
    params = LMNN().get_params()
    expected = {
        "init": "auto",
        "n_neighbors": 3,
        "min_iter": 50,
        "max_iter": 1000,
        "learn_rate": 1e-7,
        "regularization": 0.5,
        "convergence_tol": 0.001,
        "verbose": False,
        "preprocessor": None,
        "n_components": None,
        "random_state": None,
    }
    for name, default in expected.items():
        assert params[name] == default, name
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), LMNN(max_iter=30), KNeighborsClassifier(3))
    search = GridSearchCV(pipe, {"lmnn__regularization": [0.3, 0.7]}, cv=3).fit(X, y)
    assert search.best_score_ > 0.9
    assert not hasattr(clone(search.best_estimator_[1]), "components_")


# -- extreme and degenerate inputs ---------------------------------------------------

#: Two classes that interleave along one feature: no map keeps the targets
#: inside the margin without the impostors, and the objective is smallest at 0.
INTERLEAVED = np.array([1.28, -1.46, 1.04, 0.34, -1.52, -1.15, 0.01, -0.35, 1.32, -0.08])


@pytest.mark.parametrize("factor", [1e-10, 1.0, 1e10])
def test_collapse_onto_one_point_warns_and_gives_the_zero_map(factor):
    # L-BFGS shrank L towards 0 until its curvature pairs underflowed, and
    # returned components_ = [[nan]]
    X, y = INTERLEAVED[:, None] * factor, np.repeat([0, 1], 5)
    # the brute-force objective over a grid of 1-D maps is smallest at 0
    grid = np.linspace(-3.0, 3.0, 601) / factor
    values = [brute_force_objective(np.array([[g]]), X, y, 3, 0.5) for g in grid]
    assert grid[np.argmin(values)] == 0.0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lmnn = LMNN().fit(X, y)
    assert any("mapped onto the same one" in str(w.message) for w in caught)
    assert not any(issubclass(w.category, RuntimeWarning) for w in caught)
    np.testing.assert_array_equal(lmnn.components_, [[0.0]])
    assert lmnn.objective_ == pytest.approx(min(values), rel=1e-12)


def test_a_smaller_regularization_keeps_the_interleaved_classes_apart():
    X, y = INTERLEAVED[:, None], np.repeat([0, 1], 5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        lmnn = LMNN(regularization=0.1).fit(X, y)
    grid = np.linspace(0.0, 3.0, 3001)
    values = [brute_force_objective(np.array([[g]]), X, y, 3, 0.1) for g in grid]
    assert abs(lmnn.components_[0, 0]) > 0.1
    # a local minimum of the 1-D objective, as good as the grid's best
    assert lmnn.objective_ <= min(values) * (1 + 1e-6)


def test_far_out_data_is_fitted_at_a_power_of_two_scale():
    # X * 1e160 gave components_ = [[nan]]: squared distances overflowed
    from mlearn.linalg import power_of_two_scale

    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X) * 1e160
    s = power_of_two_scale(X)
    far = LMNN(max_iter=30).fit(X, y)
    reference = LMNN(max_iter=30).fit(X / s, y)
    assert np.all(np.isfinite(far.components_))
    np.testing.assert_allclose(far.components_ * s, reference.components_, rtol=1e-9, atol=0)
    assert far.objective_ == reference.objective_
    knn = KNeighborsClassifier(3).fit(far.transform(X), y)
    assert knn.score(far.transform(X), y) > 0.95


def test_underflowing_curvature_pairs_are_not_used():
    from mlearn.learners.lmnn import _usable_curvature

    s = np.array([1.0, 2.0])
    assert _usable_curvature(s, 3.0 * s)
    assert not _usable_curvature(s, -3.0 * s)  # negative curvature
    # 1 / (s . y) would overflow: the pair's products have underflowed
    assert not _usable_curvature(s * 1e-160, s * 1e-160)
