"""OASIS and OASIS_Supervised: the kernels against a NumPy loop, streams, projections,
sparse input, recovery of a known similarity, and the bilinear learner's API."""

import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr
from sklearn.base import clone
from sklearn.datasets import load_digits, load_iris
from sklearn.model_selection import GridSearchCV, KFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlearn import OASIS, OASIS_Supervised
from mlearn.base import BilinearSimilarity
from mlearn.constraints import Constraints
from mlearn.learners._oasis_kernels import (
    oasis_updates,
    oasis_updates_dense,
    oasis_updates_reference,
)
from mlearn.learners.oasis import as_csr_rows, update_order
from mlearn.metrics import make_retrieval_scorer, mean_average_precision_at_r
from mlearn.pairwise import kneighbors

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from bench_oasis import make_sparse_bilinear_classes


def _random_triplets(n_points, n_triplets, rng):
    """Index triplets whose positive differs from the negative."""
    t = rng.randint(n_points, size=(n_triplets, 3))
    t[:, 2] = np.where(t[:, 1] == t[:, 2], (t[:, 2] + 1) % n_points, t[:, 2])
    return t.astype(np.int64)


def _sparse_rows(n, d, density, rng):
    X = sp.random(n, d, density=density, random_state=rng, format="csr")
    X.data = rng.randn(X.nnz)
    empty = np.diff(X.indptr) == 0
    if empty.any():  # every row gets a non-zero, so that no triplet is degenerate
        X = X.tolil()
        for i in np.flatnonzero(empty):
            X[i, rng.randint(d)] = 1.0
        X = X.tocsr()
    return X


def _bilinear(A, W, B):
    return np.einsum("ij,jk,ik->i", A, W, B)


# -- kernels against the NumPy loop ------------------------------------------------


@pytest.mark.parametrize("c", [1e-3, 0.1, 10.0])
def test_dense_and_sparse_kernels_match_the_numpy_loop(c):
    rng = np.random.RandomState(0)
    X = _sparse_rows(60, 12, 0.3, rng)
    dense = X.toarray()
    triplets = _random_triplets(60, 300, rng)
    order = update_order(len(triplets), 700, 0)
    W0 = rng.randn(12, 12)
    expected = oasis_updates_reference(dense, triplets, order, W0, c)
    scale = np.abs(expected).max()
    W_dense = W0.copy()
    oasis_updates_dense(dense, triplets, order, W_dense, c, np.empty(12), np.empty(12))
    W_sparse = W0.copy()
    oasis_updates(
        *as_csr_rows(X),
        triplets,
        order,
        W_sparse,
        c,
        np.empty(12, dtype=np.int64),
        np.empty(12),
        np.empty(12),
    )
    np.testing.assert_allclose(W_dense, expected, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(W_sparse, expected, rtol=0, atol=1e-12 * scale)
    assert not np.allclose(expected, W0)  # the updates did something


@settings(max_examples=15, deadline=None, derandomize=True)
@given(
    n_features=st.integers(1, 9),
    n_triplets=st.integers(1, 40),
    c=st.sampled_from([1e-4, 0.01, 1.0]),
    seed=st.integers(0, 2**16),
)
def test_fit_matches_the_numpy_loop(n_features, n_triplets, c, seed):
    rng = np.random.RandomState(seed)
    tuples = rng.randn(n_triplets, 3, n_features)
    tuples[:, 2] += 0.5  # positive != negative
    oasis = OASIS(c=c, n_iter=3 * n_triplets + 1, random_state=seed).fit(tuples)
    X = tuples.reshape(-1, n_features)
    index = np.arange(len(X)).reshape(-1, 3)
    order = update_order(n_triplets, 3 * n_triplets + 1, seed)
    expected = oasis_updates_reference(X, index, order, np.eye(n_features), c)
    np.testing.assert_allclose(
        oasis.components_, expected, rtol=0, atol=1e-12 * np.abs(expected).max()
    )
    assert oasis.n_iter_ == 3 * n_triplets + 1


def test_update_order_is_shuffled_passes():
    order = update_order(5, 13, 0)
    assert len(order) == 13
    assert sorted(order[:5]) == list(range(5)) and sorted(order[5:10]) == list(range(5))
    np.testing.assert_array_equal(order, update_order(5, 13, 0))


def test_loss_and_step_of_one_update_by_hand():
    # a = (1, 0), p = (0, 1), n = (0, 0): s(a, p) - s(a, n) = W[0, 1] = 0 under W = I,
    # loss 1, ||V||^2 = 1, so tau = min(c, 1) and W[0, 1] becomes tau
    tuples = np.array([[[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]])
    np.testing.assert_array_equal(
        OASIS(c=0.25, n_iter=1).fit(tuples).components_, [[1.0, 0.25], [0.0, 1.0]]
    )
    np.testing.assert_array_equal(
        OASIS(c=5.0, n_iter=1).fit(tuples).components_, [[1.0, 1.0], [0.0, 1.0]]
    )
    # then the margin is met: more updates change nothing
    np.testing.assert_array_equal(
        OASIS(c=5.0, n_iter=10).fit(tuples).components_, [[1.0, 1.0], [0.0, 1.0]]
    )


# -- streams -----------------------------------------------------------------------


def test_partial_fit_batches_equal_one_pass_and_fit():
    rng = np.random.RandomState(1)
    tuples = rng.randn(50, 3, 5)
    stream = OASIS(c=0.05)
    for batch in np.array_split(tuples, 4):
        stream.partial_fit(batch)
    one_pass = OASIS(c=0.05).partial_fit(tuples)
    np.testing.assert_allclose(stream.components_, one_pass.components_, rtol=1e-12, atol=1e-14)
    assert stream.n_iter_ == 50
    # fit with n_iter = one pass is partial_fit on the triplets in fit's order
    order = update_order(50, 50, 3)
    fitted = OASIS(c=0.05, n_iter=50, random_state=3).fit(tuples)
    np.testing.assert_allclose(
        fitted.components_,
        OASIS(c=0.05).partial_fit(tuples[order]).components_,
        rtol=1e-12,
        atol=1e-14,
    )
    # partial_fit after fit continues from the fitted W
    W_before = fitted.components_.copy()
    fitted.partial_fit(tuples[:5])
    expected = oasis_updates_reference(
        tuples[:5].reshape(-1, 5), np.arange(15).reshape(5, 3), np.arange(5), W_before, 0.05
    )
    np.testing.assert_allclose(fitted.components_, expected, rtol=0, atol=1e-12)


def test_partial_fit_checks_the_number_of_features():
    oasis = OASIS().partial_fit(np.random.RandomState(0).randn(4, 3, 2))
    with pytest.raises(ValueError, match="3 features.*fitted with 2"):
        oasis.partial_fit(np.ones((4, 3, 3)))


# -- projections and init -----------------------------------------------------------


@pytest.mark.parametrize("projection", ["symmetric", "psd"])
@pytest.mark.parametrize("every", [None, 7])
def test_projection_matches_the_loop_with_projections(projection, every):
    rng = np.random.RandomState(2)
    tuples = rng.randn(40, 3, 4)
    oasis = OASIS(
        c=0.1, n_iter=30, projection=projection, projection_every=every, random_state=0
    ).fit(tuples)
    W = oasis.components_
    np.testing.assert_allclose(W, W.T, rtol=0, atol=1e-14)
    if projection == "psd":
        assert np.linalg.eigvalsh(W).min() >= -1e-12
    # oracle: the NumPy loop, projected by hand after every block of updates
    X, index = tuples.reshape(-1, 4), np.arange(120).reshape(-1, 3)
    order = update_order(40, 30, 0)
    expected = np.eye(4)
    step = every or 30
    for start in range(0, 30, step):
        expected = oasis_updates_reference(X, index, order[start : start + step], expected, 0.1)
        expected = (expected + expected.T) / 2
        if projection == "psd":
            w, V = np.linalg.eigh(expected)
            expected = (V * np.clip(w, 0, None)) @ V.T
    np.testing.assert_allclose(W, expected, rtol=0, atol=1e-10)


def test_without_projection_w_is_not_symmetric():
    rng = np.random.RandomState(3)
    W = OASIS(c=0.1, n_iter=200, random_state=0).fit(rng.randn(30, 3, 4)).components_
    assert np.abs(W - W.T).max() > 1e-3


def test_init_array_is_the_starting_point_and_is_not_modified():
    rng = np.random.RandomState(4)
    tuples = rng.randn(10, 3, 3)
    init = rng.randn(3, 3)
    before = init.copy()
    oasis = OASIS(init=init, n_iter=10, random_state=0).fit(tuples)
    np.testing.assert_array_equal(init, before)
    expected = oasis_updates_reference(
        tuples.reshape(-1, 3), np.arange(30).reshape(-1, 3), update_order(10, 10, 0), init, 1e-3
    )
    np.testing.assert_allclose(oasis.components_, expected, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match=r"init must be 'identity' or a matrix of shape \(3, 3\)"):
        OASIS(init=np.eye(2)).fit(tuples)


# -- bad input -------------------------------------------------------------------


def test_degenerate_triplets_are_left_out_or_refused():
    tuples = np.array(
        [
            [[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]],  # positive == negative
            [[0.0, 0.0], [0.0, 1.0], [1.0, 1.0]],  # zero anchor
            [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]],
        ]
    )
    with pytest.warns(UserWarning, match="in 2 of 3 triplets"):
        oasis = OASIS(n_iter=5, random_state=0).fit(tuples)
    expected = OASIS(n_iter=5, random_state=0).fit(tuples[2:]).components_
    np.testing.assert_array_equal(oasis.components_, expected)
    with pytest.raises(ValueError, match="in all 2 triplets"):
        OASIS().fit(tuples[:2])


def test_values_too_large_are_an_error_not_a_silent_identity():
    # ||V||² overflows: the step would be l / inf = 0 and the triplet silently ignored
    tuples = np.array([[[1e200, 0.0], [0.0, 1e200], [1e-200, 0.0]]])
    with pytest.raises(ValueError, match="overflows float64.*rescale the data"):
        OASIS(n_iter=3).fit(tuples)


def test_values_too_small_are_an_error_not_a_silent_identity():
    # ||V||² underflows to zero: no update could ever happen
    tuples = np.random.RandomState(0).randn(5, 3, 2) * 1e-200
    with pytest.raises(ValueError, match="in all 5 triplets.*underflows"):
        OASIS().fit(tuples)


def test_float32_triplets_give_the_float64_fit_in_float32():
    tuples = np.random.RandomState(8).randn(30, 3, 4).astype(np.float32)
    a = OASIS(n_iter=100, random_state=0).fit(tuples)
    b = OASIS(n_iter=100, random_state=0).fit(tuples.astype(np.float64))
    # computed in float64, stored in the data's dtype: the float64 W rounded
    assert a.components_.dtype == np.float32
    np.testing.assert_array_equal(a.components_, b.components_.astype(np.float32))
    assert a.decision_function(tuples).dtype == np.float32


@pytest.mark.parametrize(
    "tuples, error, match",
    [
        (np.ones((4, 2, 3)), ValueError, "triplets"),
        (np.full((2, 3, 2), np.nan), ValueError, "NaN or infinity"),
        (np.ones((2, 3)), ValueError, "no preprocessor"),
    ],
)
def test_bad_triplets(tuples, error, match):
    with pytest.raises(error, match=match):
        OASIS().fit(tuples)


@pytest.mark.parametrize(
    "params",
    [
        {"c": 0},
        {"c": -1.0},
        {"n_iter": 0},
        {"init": "pca"},
        {"projection": "diagonal"},
        {"projection_every": 0},
    ],
)
def test_parameters_are_validated(params):
    with pytest.raises(ValueError, match=next(iter(params))):
        OASIS(**params).fit(np.random.RandomState(0).randn(5, 3, 2))


def test_supervised_needs_labels():
    X = np.random.RandomState(0).randn(10, 2)
    with pytest.raises(ValueError, match="requires y"):
        OASIS_Supervised().fit(X, None)
    with pytest.raises(ValueError, match="at least 2 classes"):
        OASIS_Supervised().fit(X, np.zeros(10))


# -- sparse input --------------------------------------------------------------


def test_sparse_preprocessor_gives_the_dense_result_and_is_not_modified():
    rng = np.random.RandomState(5)
    X = _sparse_rows(40, 30, 0.1, rng)
    # an unsorted, non-canonical copy: the learner must not sort it in place
    X_user = sp.csr_matrix(
        (X.data[::-1].copy(), X.indices[::-1].copy(), X.indptr.copy()), shape=X.shape
    )
    X_user.has_sorted_indices = False
    before = (X_user.data.copy(), X_user.indices.copy())
    triplets = _random_triplets(40, 100, rng)
    sparse = OASIS(preprocessor=X_user, c=0.1, n_iter=250, random_state=0).fit(triplets)
    np.testing.assert_array_equal(X_user.data, before[0])
    np.testing.assert_array_equal(X_user.indices, before[1])
    dense_X = X_user.toarray()
    dense = OASIS(preprocessor=dense_X, c=0.1, n_iter=250, random_state=0).fit(triplets)
    np.testing.assert_allclose(sparse.components_, dense.components_, rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        sparse.decision_function(triplets),
        dense.decision_function(triplets),
        rtol=1e-10,
        atol=1e-12,
    )
    pairs = triplets[:, :2]
    np.testing.assert_allclose(
        sparse.pair_score(pairs),
        _bilinear(dense_X[pairs[:, 0]], dense.components_, dense_X[pairs[:, 1]]),
        rtol=1e-10,
        atol=1e-12,
    )
    with pytest.raises(ValueError, match="must lie in"):
        sparse.pair_score(np.array([[0, 40]]))
    with pytest.raises(TypeError, match="integer indices"):
        sparse.pair_score(np.array([[0.0, 1.0]]))


def test_sparse_fit_never_densifies(monkeypatch):
    X, y, _ = make_sparse_bilinear_classes(n_samples=600, n_features=4096, random_state=1)

    def refuse(self, *args, **kwargs):
        raise AssertionError("a sparse matrix was densified")

    for cls in (sp.csr_matrix, sp.csr_array, sp.coo_matrix, sp.csc_matrix):
        monkeypatch.setattr(cls, "toarray", refuse)
        monkeypatch.setattr(cls, "todense", refuse)
    import tracemalloc

    tracemalloc.start()
    oasis = OASIS_Supervised(n_iter=3000, random_state=0).fit(X, y)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    W_bytes = 4096 * 4096 * 8
    dense_X_bytes = 600 * 4096 * 8
    assert oasis.components_.shape == (4096, 4096)
    # W itself, its starting identity, scratch: nothing the size of a dense X besides
    assert peak < 2 * W_bytes + dense_X_bytes / 2


def test_sparse_classes_beat_the_dot_product():
    X, y, W_true = make_sparse_bilinear_classes(n_samples=2000, random_state=2)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    oasis = OASIS_Supervised(n_iter=20000, random_state=0).fit(X_train, y_train)
    X_test = X_test.toarray()  # the search is dense; the fit above was not
    learned = mean_average_precision_at_r(X_test, y_test, metric="bilinear", M=oasis.components_)
    dot = mean_average_precision_at_r(X_test, y_test, metric="bilinear", M=np.eye(4096))
    hidden = mean_average_precision_at_r(X_test, y_test, metric="bilinear", M=W_true.toarray())
    assert hidden > 0.99  # the generator's classes are those of its hidden W
    assert learned > dot + 0.05


# -- quality -----------------------------------------------------------------------


def test_recovers_a_known_bilinear_similarity():
    rng = np.random.RandomState(6)
    W_true = rng.randn(8, 8)
    X = rng.randn(400, 8)
    train, test = X[:300], X[300:]
    t = _random_triplets(300, 4000, rng)
    swap = _bilinear(train[t[:, 0]], W_true, train[t[:, 1]]) < _bilinear(
        train[t[:, 0]], W_true, train[t[:, 2]]
    )
    t[swap, 1], t[swap, 2] = t[swap, 2], t[swap, 1].copy()
    oasis = OASIS(preprocessor=train, random_state=0).fit(t)
    i, j = rng.randint(100, size=(2, 2000))
    rho = spearmanr(
        _bilinear(test[i], oasis.components_, test[j]), _bilinear(test[i], W_true, test[j])
    ).statistic
    assert rho >= 0.95


def test_digits_map_at_r_above_the_dot_product():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.5, stratify=y, random_state=7
    )
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    W = OASIS_Supervised(random_state=0).fit(X_train, y_train).get_bilinear_matrix()
    learned = mean_average_precision_at_r(X_test, y_test, metric="bilinear", M=W)
    dot = mean_average_precision_at_r(X_test, y_test, metric="bilinear", M=np.eye(64))
    assert learned > dot + 0.05


# -- the bilinear learner's API --------------------------------------------------


@pytest.fixture(scope="module")
def fitted():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    triplets = X[Constraints(y).triplets(200, random_state=0)]
    return OASIS(random_state=0, n_iter=5000).fit(triplets), X, y, triplets


def test_scores_are_bilinear_and_triplets_predicted_by_them(fitted):
    oasis, _, _, triplets = fitted
    W = oasis.get_bilinear_matrix()
    assert W is not oasis.components_ and W.shape == (4, 4)
    pairs = triplets[:, :2]
    np.testing.assert_allclose(
        oasis.pair_score(pairs), _bilinear(pairs[:, 0], W, pairs[:, 1]), rtol=1e-12, atol=1e-12
    )
    margins = _bilinear(triplets[:, 0], W, triplets[:, 1]) - _bilinear(
        triplets[:, 0], W, triplets[:, 2]
    )
    np.testing.assert_allclose(oasis.decision_function(triplets), margins, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(oasis.predict(triplets), np.where(margins > 0, 1, -1))
    assert oasis.score(triplets) == np.mean(margins > 0)
    dot_margins = np.einsum("ij,ij->i", triplets[:, 0], triplets[:, 1]) - np.einsum(
        "ij,ij->i", triplets[:, 0], triplets[:, 2]
    )
    assert oasis.score(triplets) >= np.mean(dot_margins > 0)  # no worse than W = I, its start


def test_pair_distance_is_refused(fitted):
    oasis, _, _, triplets = fitted
    with pytest.raises(TypeError, match="defines no distance.*pair_score"):
        oasis.pair_distance(triplets[:, :2])
    assert not hasattr(oasis, "transform")


def test_get_metric_is_a_picklable_similarity(fitted):
    oasis, X, _, _ = fitted
    similarity = oasis.get_metric()
    assert isinstance(similarity, BilinearSimilarity)
    W = oasis.components_
    assert similarity(X[0], X[1]) == pytest.approx(X[0] @ W @ X[1], rel=1e-12)
    restored = pickle.loads(pickle.dumps(similarity))
    assert restored(X[0], X[1]) == similarity(X[0], X[1])
    with pytest.raises(ValueError, match="u must be a 1-D point with 4 features"):
        similarity(X[0, :3], X[1])


def test_kneighbors_bilinear_returns_the_largest_learned_similarities(fitted):
    oasis, X, _, _ = fitted
    W = oasis.get_bilinear_matrix()
    similarities, indices = kneighbors(X[:20], X, n_neighbors=5, metric="bilinear", M=W)
    brute = X[:20] @ W @ X.T
    expected = np.argsort(-brute, axis=1, kind="stable")[:, :5]
    np.testing.assert_array_equal(indices, expected)
    np.testing.assert_allclose(
        similarities, np.take_along_axis(brute, expected, axis=1), rtol=1e-10
    )
    assert np.all(np.diff(similarities, axis=1) <= 0)


def test_pickle_and_clone(fitted):
    oasis, _, _, triplets = fitted
    restored = pickle.loads(pickle.dumps(oasis))
    np.testing.assert_array_equal(
        restored.decision_function(triplets), oasis.decision_function(triplets)
    )
    fresh = clone(oasis)
    assert not hasattr(fresh, "components_") and fresh.get_params() == oasis.get_params()


def test_supervised_in_pipeline_and_grid_search_with_a_retrieval_scorer():
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), OASIS_Supervised(n_iter=2000, random_state=0))
    scorer = make_retrieval_scorer("map_at_r")
    search = GridSearchCV(
        pipe,
        {"oasis_supervised__c": [1e-4, 1e-2]},
        scoring=scorer,
        cv=KFold(3, shuffle=True, random_state=0),
    ).fit(X, y)
    best = search.best_estimator_
    Z = best[:-1].transform(X)
    expected = mean_average_precision_at_r(
        Z, y, metric="bilinear", M=best[-1].get_bilinear_matrix()
    )
    assert scorer(best, X, y) == pytest.approx(expected, rel=1e-12)
    assert 0 < search.best_score_ <= 1


def test_supervised_accepts_labels_with_unlabelled_points_and_a_preprocessor():
    X, y = load_iris(return_X_y=True)
    y = y.copy()
    y[::4] = -1
    a = OASIS_Supervised(n_iter=500, random_state=0).fit(X, y)
    b = OASIS_Supervised(n_iter=500, random_state=0, preprocessor=X).fit(np.arange(150), y)
    np.testing.assert_allclose(a.components_, b.components_, rtol=0, atol=1e-12)


def test_plot_bilinear_matrix_shows_w_on_a_symmetric_diverging_scale(fitted, tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mlearn.plotting import plot_bilinear_matrix

    oasis = fitted[0]
    ax = plot_bilinear_matrix(oasis, feature_names=["a", "b", "c", "d"])
    W = oasis.get_bilinear_matrix()
    np.testing.assert_array_equal(ax.images[0].get_array(), W)  # not symmetrised
    assert ax.images[0].get_clim() == (-np.abs(W).max(), np.abs(W).max())
    assert ax.get_title() == "Bilinear matrix W"
    ax.figure.savefig(tmp_path / "w.png", dpi=60)
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="square matrix"):
        plot_bilinear_matrix(np.ones((2, 3)))
