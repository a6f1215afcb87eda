import warnings

import numpy as np
import pytest
from scipy.optimize import linprog
from sklearn.base import clone
from sklearn.datasets import load_iris, load_wine
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlearn import SCML, Constraints, SCML_Supervised
from mlearn.learners._scml_kernels import (
    scml_dual_averaging,
    scml_dual_averaging_numpy,
    triplet_hinge_mean,
    triplet_hinge_mean_numpy,
)
from mlearn.learners.scml import (
    lda_basis,
    lda_directions,
    pair_diffs_basis,
    triplet_diffs_basis,
)


def toy_triplets(n=30, d=3, seed=0):
    """Triplets decided by feature 0 only; the other features are noise."""
    rng = np.random.RandomState(seed)
    t = rng.randn(n, 3, d) * 2
    t[:, 1, 0] = t[:, 0, 0] + 0.2 * rng.randn(n)
    t[:, 2, 0] = t[:, 0, 0] + rng.choice([-1, 1], n) * (2 + rng.rand(n))
    return t


def test_dual_averaging_kernel_matches_numpy_reference():
    rng = np.random.RandomState(0)
    XB = rng.randn(30, 12)
    triplets = rng.randint(0, 30, size=(50, 3)).astype(np.int64)
    batches = rng.randint(0, 50, size=(40, 5)).astype(np.int64)
    states = []
    for kernel in ("numba", "numpy"):
        w, avg, ada = np.zeros(12), np.zeros(12), np.zeros(12)
        for start in (0, 20):  # two blocks, as the estimator runs them
            block = batches[start : start + 20]
            if kernel == "numba":
                scml_dual_averaging(
                    XB,
                    triplets,
                    block,
                    start,
                    w,
                    avg,
                    ada,
                    1e-3,
                    0.5,
                    1e-3,
                    np.empty((5, 12)),
                    np.empty(12),
                )
            else:
                scml_dual_averaging_numpy(XB, triplets, block, start, w, avg, ada, 1e-3, 0.5, 1e-3)
        states.append((w, avg, ada))
    for a, b in zip(*states):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert np.all(states[0][0] >= 0) and np.any(states[0][0] > 0)


def test_hinge_kernel_matches_numpy_reference():
    rng = np.random.RandomState(1)
    Z = rng.randn(40, 5)
    triplets = rng.randint(0, 40, size=(100, 3)).astype(np.int64)
    assert triplet_hinge_mean(Z, triplets) == pytest.approx(
        triplet_hinge_mean_numpy(Z, triplets), rel=1e-12
    )


def test_objective_reaches_the_linear_programming_optimum():
    """With fixed bases SCML's objective is a linear program: compare with scipy's."""
    t = toy_triplets()
    n, _, d = t.shape
    beta = 1e-2
    dd = (t[:, 0] - t[:, 1]) ** 2 - (t[:, 0] - t[:, 2]) ** 2  # axis bases
    # variables (w, xi): min beta*sum(w) + mean(xi), xi >= 1 + dd @ w, w, xi >= 0
    c = np.concatenate([beta * np.ones(d), np.ones(n) / n])
    lp = linprog(c, A_ub=np.hstack([dd, -np.eye(n)]), b_ub=-np.ones(n), bounds=(0, None))
    assert lp.status == 0
    scml = SCML(basis=np.eye(d), beta=beta, gamma=1.0, output_iter=100, random_state=0).fit(t)
    w = np.diag(scml.get_mahalanobis_matrix())  # M = diag(w) for axis bases
    objective = beta * w.sum() + np.mean(np.maximum(0.0, 1.0 + dd @ w))
    assert lp.fun - 1e-9 <= objective <= 1.02 * lp.fun
    assert objective < 1.0  # the objective at w = 0


@pytest.mark.parametrize("basis", ["pair_diffs", "axes"])
def test_objective_history_is_the_objective_of_the_checkpoints(basis):
    """The history holds ``beta * sum(w) + mean hinge``, recomputed here from ``components_``.

    The bases are unit vectors, so ``sum(w) = trace(M)``; ``components_`` come
    from the checkpoint with the lowest objective.
    """
    t = toy_triplets(n=60)
    beta = 1e-2
    scml = SCML(
        basis=np.eye(3) if basis == "axes" else basis,
        beta=beta,
        max_iter=700,
        output_iter=200,
        random_state=0,
    ).fit(t)
    history = scml.objective_history_
    # at the start (every weight zero, every hinge 1) and at iterations 200, 400, 600, 700
    assert scml.n_iter_ == 700 and len(history) == 5
    assert history[0] == 1.0
    M = scml.get_mahalanobis_matrix()
    d_pos = np.einsum("ti,ij,tj->t", t[:, 0] - t[:, 1], M, t[:, 0] - t[:, 1])
    d_neg = np.einsum("ti,ij,tj->t", t[:, 0] - t[:, 2], M, t[:, 0] - t[:, 2])
    objective = beta * np.trace(M) + np.mean(np.maximum(0.0, 1.0 + d_pos - d_neg))
    assert min(history[1:]) == pytest.approx(objective, rel=1e-9)


def test_learns_the_informative_feature_and_generalises():
    t = toy_triplets(n=100)
    scml = SCML(random_state=0).fit(t)
    M = scml.get_mahalanobis_matrix()
    assert M[0, 0] > 3 * max(M[1, 1], M[2, 2])
    held_out = toy_triplets(n=300, seed=1)
    euclidean = np.mean(
        np.linalg.norm(held_out[:, 0] - held_out[:, 1], axis=1)
        < np.linalg.norm(held_out[:, 0] - held_out[:, 2], axis=1)
    )
    assert scml.score(held_out) > euclidean + 0.1


def triplet_diffs_oracle(X, triplets, chosen):
    """One round of the 'triplet_diffs' construction, written out directly."""
    S = np.zeros((X.shape[1], X.shape[1]))
    for a, p, n in triplets[chosen]:
        S += np.outer(X[a] - X[p], X[a] - X[p]) - np.outer(X[a] - X[n], X[a] - X[n])
    w, V = np.linalg.eigh(S.T @ S)
    return V[w > 1e-10 * w.max()]


def test_triplet_diffs_bases_follow_the_construction():
    rng = np.random.RandomState(0)
    X = rng.randn(40, 6)
    triplets = rng.randint(0, 40, size=(25, 3))
    basis = triplet_diffs_basis(X, triplets, 10, np.random.RandomState(0))
    assert basis.shape == (10, 6)
    np.testing.assert_allclose(np.linalg.norm(basis, axis=1), 1.0)
    # replay the first two rounds' draws
    draw = np.random.RandomState(0)
    first = np.sort(draw.choice(25, size=6, replace=False))
    second = np.sort(draw.choice(25, size=6, replace=False))
    expected = np.vstack(
        [triplet_diffs_oracle(X, triplets, first), triplet_diffs_oracle(X, triplets, second)]
    )[:10]
    # eigenvectors are defined up to sign
    np.testing.assert_allclose(np.abs(np.sum(basis * expected, axis=1)), 1.0, atol=1e-8)


def test_triplet_diffs_with_more_features_than_triplets():
    rng = np.random.RandomState(0)
    X = rng.randn(9, 30)
    triplets = np.array([[0, 1, 2], [3, 4, 5], [6, 7, 8]])
    basis = triplet_diffs_basis(X, triplets, 2400, np.random.RandomState(0))
    # a few rounds of distinct triplet subsets, never an endless loop
    assert 1 <= basis.shape[0] < 2400
    np.testing.assert_allclose(np.linalg.norm(basis, axis=1), 1.0)
    scml = SCML(max_iter=500, random_state=0).fit(X[triplets])
    assert scml.components_.shape == (30, 30)
    assert scml.score(X[triplets]) == 1.0


def test_pair_diffs_bases_are_normalised_differences():
    rng = np.random.RandomState(0)
    X = rng.randn(20, 5)
    triplets = rng.randint(0, 20, size=(8, 3))
    triplets[0] = [3, 3, 3]  # zero differences are left out
    basis = pair_diffs_basis(X, triplets, 100, np.random.RandomState(0))
    expected = []
    for a, p, n in triplets[1:]:
        for other in (p, n):
            if a != other:
                v = X[a] - X[other]
                expected.append(v / np.linalg.norm(v))
    expected = np.unique(np.array(expected), axis=0)
    np.testing.assert_allclose(basis, expected)
    assert pair_diffs_basis(X, triplets, 3, np.random.RandomState(0)).shape == (3, 5)
    scml = SCML(basis="pair_diffs", max_iter=1000, random_state=0).fit(toy_triplets(n=60))
    M = scml.get_mahalanobis_matrix()
    assert M[0, 0] > 3 * max(M[1, 1], M[2, 2])


def test_lda_directions_match_scikit_learn():
    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    ours = lda_directions(X, y, 3)
    scalings = LinearDiscriminantAnalysis().fit(X, y).scalings_.T
    theirs = scalings / np.linalg.norm(scalings, axis=1, keepdims=True)
    assert ours.shape == theirs.shape == (2, 13)
    np.testing.assert_allclose(np.abs(np.sum(ours * theirs, axis=1)), 1.0, atol=1e-8)


def test_lda_basis_shape():
    X, y = load_iris(return_X_y=True)
    basis = lda_basis(X, y, 30, np.random.RandomState(0))
    assert basis.shape == (30, 4)
    np.testing.assert_allclose(np.linalg.norm(basis, axis=1), 1.0)


@pytest.mark.parametrize(
    "triplets",
    [
        toy_triplets(n=1),
        np.repeat(toy_triplets(n=2), 10, axis=0),
        np.random.RandomState(0).randn(4, 3, 25),  # n_features > n_triplets
    ],
    ids=["single", "duplicated", "wide"],
)
def test_edge_cases_give_a_psd_metric(triplets):
    with warnings.catch_warnings():
        # a lone triplet may leave every basis at zero weight (a warned zero metric)
        warnings.simplefilter("ignore", UserWarning)
        scml = SCML(max_iter=1000, random_state=0).fit(triplets)
    M = scml.get_mahalanobis_matrix()
    assert np.all(np.isfinite(M))
    assert np.linalg.eigvalsh(M).min() > -1e-10
    assert scml.predict(triplets).shape == (len(triplets),)


@pytest.mark.parametrize(
    "params, triplets, match",
    [
        ({"basis": np.eye(2)}, toy_triplets(), r"basis must have shape \(n_basis, 3\)"),
        ({"basis": np.eye(3), "n_basis": 5}, toy_triplets(), "n_basis=5 contradicts"),
        ({}, np.ones((5, 3, 2)), "identical points"),
    ],
)
def test_clear_errors(params, triplets, match):
    with pytest.raises(ValueError, match=match):
        SCML(random_state=0, **params).fit(triplets)


def test_no_useful_basis_gives_a_zero_metric_with_a_warning():
    with pytest.warns(UserWarning, match="zero weight"):
        scml = SCML(beta=1e6, max_iter=200, output_iter=100, random_state=0).fit(toy_triplets())
    np.testing.assert_array_equal(scml.get_mahalanobis_matrix(), 0.0)


def test_inputs_not_modified_and_verbose(capsys):
    t = toy_triplets()
    basis = np.eye(3)
    t0 = t.copy()
    SCML(basis=basis, max_iter=200, output_iter=100, verbose=True).fit(t)
    np.testing.assert_array_equal(t, t0)
    np.testing.assert_array_equal(basis, np.eye(3))
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and all(line.startswith("[SCML] iter") for line in out)


def test_n_components_keeps_the_leading_directions():
    t = toy_triplets(n=60)
    full = SCML(max_iter=2000, random_state=0).fit(t)
    low = SCML(max_iter=2000, random_state=0, n_components=1).fit(t)
    assert low.components_.shape == (1, 3)
    w, V = np.linalg.eigh(full.get_mahalanobis_matrix())
    np.testing.assert_allclose(
        low.get_mahalanobis_matrix(), w[-1] * np.outer(V[:, -1], V[:, -1]), atol=1e-8
    )


def test_supervised_equals_scml_on_the_same_triplets():
    X, y = load_iris(return_X_y=True)
    basis = np.random.RandomState(0).randn(20, 4)
    sup = SCML_Supervised(basis=basis, max_iter=1000, random_state=0, feature_scaling=None)
    sup.fit(X, y)
    triplets = Constraints(y).generate_knntriplets(X, 3, 10)
    weak = SCML(basis=basis, max_iter=1000, random_state=0).fit(X[triplets])
    np.testing.assert_allclose(
        sup.get_mahalanobis_matrix(), weak.get_mahalanobis_matrix(), rtol=1e-9, atol=1e-12
    )


def test_supervised_lda_bases_and_errors():
    X, y = load_iris(return_X_y=True)
    scml = SCML_Supervised(n_basis=12, max_iter=1000, random_state=0).fit(X, y)
    assert scml.n_basis_ == 12
    with pytest.raises(ValueError, match="at most 599 bases"):
        SCML_Supervised(n_basis=600).fit(X, y)
    with pytest.warns(UserWarning, match="using k_genuine=49 and k_impostor=100"):
        SCML_Supervised(
            k_genuine=60, k_impostor=120, max_iter=500, n_basis=12, random_state=0
        ).fit(X, y)
    with pytest.raises(ValueError, match="at least 2 points in every class"):
        SCML_Supervised().fit(X[:101], y[:101])
    with pytest.warns(UserWarning, match="smaller than the number of classes"):
        SCML_Supervised(n_basis=2, max_iter=500, random_state=0).fit(X, y)


def test_supervised_in_a_pipeline_improves_on_euclidean():
    X, y = load_iris(return_X_y=True)
    noise = np.random.RandomState(0).randn(len(X), 6)
    X = np.hstack([X, noise])  # 6 uninformative features
    knn = KNeighborsClassifier(3)
    base = cross_val_score(make_pipeline(StandardScaler(), knn), X, y, cv=3).mean()
    learned = cross_val_score(
        make_pipeline(StandardScaler(), SCML_Supervised(max_iter=2000, random_state=0), knn),
        X,
        y,
        cv=3,
    ).mean()
    assert learned > base + 0.03


# -- extreme and degenerate inputs ---------------------------------------------------


@pytest.mark.parametrize("factor", [1e150, 1e200])
def test_far_out_data_is_fitted_at_a_power_of_two_scale(factor):
    # the eigen-decompositions of the bases met infinite products ("Eigenvalues
    # did not converge") and at 1e200 the neighbour search returned an index
    # out of range (IndexError); the data are now divided by a power of two
    from mlearn.linalg import power_of_two_scale

    X, y = load_iris(return_X_y=True)
    far = X * factor
    s = power_of_two_scale(far)
    params = dict(n_basis=12, max_iter=500, output_iter=250, random_state=0)
    sup = SCML_Supervised(**params).fit(far, y)
    reference = SCML_Supervised(**params).fit(far / s, y)
    assert np.all(np.isfinite(sup.components_))
    np.testing.assert_allclose(sup.components_ * s, reference.components_, rtol=1e-9, atol=0)
    knn = KNeighborsClassifier(3).fit(sup.transform(far), y)
    assert knn.score(sup.transform(far), y) > 0.9

    triplets = far[Constraints(y).generate_knntriplets(X, 3, 10)]
    weak = SCML(max_iter=500, output_iter=250, random_state=0).fit(triplets)
    weak_reference = SCML(max_iter=500, output_iter=250, random_state=0).fit(triplets / s)
    np.testing.assert_allclose(weak.components_ * s, weak_reference.components_, rtol=1e-9, atol=0)
    assert weak.score(triplets) > 0.9


def test_triplets_with_the_negative_at_the_anchor_are_left_out():
    # d(a, n) = 0 under every metric: such a triplet can only pull M to zero
    t = toy_triplets(n=20)
    bad = t[:5].copy()
    bad[:, 2] = bad[:, 0]
    with pytest.warns(UserWarning, match="in 5 of 25 triplets the anchor and the negative"):
        mixed = SCML(max_iter=500, random_state=0).fit(np.vstack([t, bad]))
    clean = SCML(max_iter=500, random_state=0).fit(t)
    np.testing.assert_allclose(
        mixed.get_mahalanobis_matrix(), clean.get_mahalanobis_matrix(), rtol=1e-12, atol=1e-15
    )
    with pytest.raises(ValueError, match="in all 5 triplets the anchor and the negative"):
        SCML(random_state=0).fit(bad)


def test_supervised_leaves_out_triplets_whose_negative_is_a_copy_of_the_anchor():
    # a point repeated under another label is its own impostor
    X, y = load_iris(return_X_y=True)
    X = np.vstack([X, X[:1]])
    y = np.r_[y, 1]
    with pytest.warns(UserWarning, match="triplets the anchor and the negative"):
        scml = SCML_Supervised(n_basis=12, max_iter=500, random_state=0).fit(X, y)
    assert np.all(np.isfinite(scml.components_)) and np.any(scml.components_)


def test_a_failed_eigen_decomposition_is_named():
    from mlearn.learners.scml import _eigh

    with pytest.raises(ValueError, match="eigen-decomposition of the scatter failed"):
        _eigh(np.array([[np.inf, 0.0], [0.0, 1.0]]), "the scatter")


def test_output_iter_beyond_max_iter_evaluates_once_at_the_end(capsys):
    # the default output_iter=500 with a shorter run (a ValueError before)
    X, y = load_iris(return_X_y=True)
    short = SCML_Supervised(max_iter=200, random_state=0, verbose=True).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert short.n_iter_ == 200
    assert len(lines) == 1 and lines[0].startswith("[SCML_Supervised] iter 200 ")
    # the same run with the interval spelled out
    same = SCML_Supervised(max_iter=200, output_iter=200, random_state=0).fit(X, y)
    np.testing.assert_allclose(short.components_, same.components_, rtol=1e-12, atol=1e-15)
    weak = SCML(basis=np.eye(3), max_iter=50, random_state=0).fit(toy_triplets())
    assert weak.n_iter_ == 50


@pytest.mark.parametrize(
    "learner, data",
    [
        (SCML_Supervised(max_iter=500), load_iris(return_X_y=True)),
        (SCML(basis="pair_diffs", max_iter=500), (toy_triplets(n=60),)),
    ],
)
def test_seed_and_random_state_instance_fit_alike(learner, data):
    seeded = clone(learner).set_params(random_state=0).fit(*data)
    rng = np.random.RandomState(0)
    from_instance = clone(learner).set_params(random_state=rng).fit(*data)
    np.testing.assert_allclose(
        from_instance.components_, seeded.components_, rtol=1e-12, atol=1e-15
    )
    # the instance was advanced: fitting with it again draws other batches
    again = clone(learner).set_params(random_state=rng).fit(*data)
    assert not np.allclose(again.components_, seeded.components_)
