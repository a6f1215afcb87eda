"""The general learners streaming dask arrays (solver='sgd'), and partial_fit on a stream.

Unit tests run on dask's synchronous scheduler, where ``ComputeCounter``
counts the graphs a fit computes and a recording loader sees which blocks
are alive; one test runs on the session's two-process LocalCluster.
"""

import copy
import warnings
import weakref

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.datasets import load_digits, load_iris
from sklearn.model_selection import StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from mlearn import (
    Constraints,
    MetricLearner,
    PairsMetricLearner,
    QuadrupletsMetricLearner,
    TripletsMetricLearner,
)

from ..conftest import ComputeCounter

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")

X_IRIS, Y_IRIS = load_iris(return_X_y=True)


@pytest.fixture(autouse=True)
def synchronous_scheduler():
    # the session's LocalCluster client, once started, is dask's default
    # scheduler: unit tests here run locally, where ComputeCounter sees them.
    # Minibatch steps are small products, which a second BLAS thread slows
    # down many times over when the other core is busy
    with dask.config.set(scheduler="synchronous"), threadpool_limits(1):
        yield


def _iris_pairs(n=300, random_state=0):
    pairs, y = Constraints(Y_IRIS).pairs(n // 2, random_state=random_state)
    order = np.random.RandomState(random_state).permutation(len(y))
    return X_IRIS[pairs[order]], y[order]


def _relative(kind, n=300):
    c = Constraints(Y_IRIS)
    if kind == "triplets":
        return X_IRIS[c.triplets(n, random_state=0)]
    a, b, cc, d = c.positive_negative_pairs(n, random_state=0)
    return X_IRIS[np.column_stack([a, b, cc, d])]


def _chunked(array, rows):
    return da.from_array(array, chunks=(rows,) + array.shape[1:])


def _knn_accuracy(learner, X_train, y_train, X_test, y_test):
    knn = KNeighborsClassifier(3).fit(learner.transform(X_train), y_train)
    return knn.score(learner.transform(X_test), y_test)


def _digits_folds(n_points, n_splits):
    X, y = load_digits(return_X_y=True)
    X, y = X[:n_points], y[:n_points]
    cv = StratifiedKFold(n_splits, shuffle=True, random_state=0)
    for train, test in cv.split(X, y):
        scaler = StandardScaler().fit(X[train])
        yield scaler.transform(X[train]), y[train], scaler.transform(X[test]), y[test]


class RecordingBlocks:
    """A dask array whose blocks come from a loader that records what it made.

    ``loads`` lists the blocks loaded, in order; ``alive_at_load`` how many
    earlier blocks were still referenced when each block was loaded.
    """

    def __init__(self, X, rows):
        self.X = X
        self.loads, self.alive_at_load, self._made = [], [], []
        starts = range(0, len(X), rows)
        parts = [
            da.from_delayed(
                dask.delayed(self._load, pure=False)(start, rows),
                shape=(min(rows, len(X) - start),) + X.shape[1:],
                dtype=X.dtype,
            )
            for start in starts
        ]
        self.array = da.concatenate(parts)

    def _load(self, start, rows):
        # no gc.collect(): a block must be freed as soon as it is let go of,
        # not only once a reference cycle is collected
        self.alive_at_load.append(sum(ref() is not None for ref in self._made))
        block = self.X[start : start + rows].copy()
        self._made.append(weakref.ref(block))
        self.loads.append(start // rows)
        return block


# -- streamed fits against in-memory fits ---------------------------------------------------


def test_streamed_pairs_fit_starts_where_the_in_memory_fit_starts_and_learns_as_much():
    pairs, y = _iris_pairs()
    memory = PairsMetricLearner(solver="sgd", random_state=0).fit(pairs, y)
    streamed = PairsMetricLearner(solver="sgd", random_state=0).fit(
        _chunked(pairs, 60), _chunked(y, 60)
    )
    # the margins and thresholds come from every pair's distance under the
    # start (a streamed reduction), as in memory
    for name in ("margin_", "lower_", "upper_"):
        assert_allclose(getattr(streamed, name), getattr(memory, name), rtol=1e-12)
    assert_allclose(streamed.prior_metric_, memory.prior_metric_)
    assert streamed.n_features_in_ == 4
    assert streamed.n_iter_ == len(streamed.objective_history_) - 1
    # the minibatches differ (drawn within blocks), the solution's quality does not
    accuracy = [np.mean(learner.predict(pairs) == y) for learner in (memory, streamed)]
    assert accuracy[1] >= accuracy[0] - 0.02
    assert accuracy[1] > 0.85
    # threshold_ is calibrated on every training pair, as in memory: no other
    # threshold does better on them
    distances = streamed.pair_distance(pairs)
    best = max(np.mean(np.where(distances <= t, 1, -1) == y) for t in distances)
    assert np.mean(streamed.predict(pairs) == y) == pytest.approx(best)


@pytest.mark.parametrize("kind", ["triplets", "quadruplets"])
def test_streamed_relative_fit_matches_in_memory(kind):
    cls = TripletsMetricLearner if kind == "triplets" else QuadrupletsMetricLearner
    tuples = _relative(kind)
    memory = cls(solver="sgd", random_state=0).fit(tuples)
    streamed = cls(solver="sgd", random_state=0).fit(_chunked(tuples, 75))
    assert_allclose(streamed.margin_, memory.margin_, rtol=1e-12)
    assert streamed.score(tuples) >= memory.score(tuples) - 0.02
    assert streamed.score(tuples) > 0.95


def test_streamed_fit_with_a_preprocessor_streams_the_identifiers():
    pairs, y = Constraints(Y_IRIS).pairs(150, random_state=0)
    with_points = PairsMetricLearner(solver="sgd", random_state=0).fit(
        _chunked(X_IRIS[pairs], 60), _chunked(y, 60)
    )
    with_indices = PairsMetricLearner(solver="sgd", random_state=0, preprocessor=X_IRIS).fit(
        _chunked(pairs, 60), y
    )  # labels may stay in memory
    assert_allclose(with_indices.components_, with_points.components_, rtol=1e-10)
    labels = MetricLearner(solver="sgd", random_state=0, preprocessor=X_IRIS).fit(
        _chunked(np.arange(150), 50), Y_IRIS
    )
    assert labels.components_.shape == (4, 4)


def _blobs_in_noise(n, random_state):
    """Four classes apart in 2 dimensions, hidden among 6 dimensions of loud noise."""
    rng = np.random.RandomState(random_state)
    y = rng.randint(4, size=n)
    centres = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])
    return np.hstack([centres[y] + 0.5 * rng.randn(n, 2), 3.0 * rng.randn(n, 6)]), y


def test_streamed_metric_learner_reaches_the_in_memory_accuracy():
    # the quality bar on a reduced case: 600 training points in 6 blocks,
    # where the Euclidean 3-NN is at ~0.5 and a learned metric at ~0.94
    scores = []
    for random_state in (0, 1):
        X, y = _blobs_in_noise(2600, random_state)
        X_train, y_train, X_test, y_test = X[:600], y[:600], X[600:], y[600:]
        memory = MetricLearner(solver="sgd", random_state=0).fit(X_train, y_train)
        streamed = MetricLearner(solver="sgd", random_state=0).fit(
            _chunked(X_train, 100), _chunked(y_train, 100)
        )
        euclidean = KNeighborsClassifier(3).fit(X_train, y_train).score(X_test, y_test)
        scores.append(
            [euclidean]
            + [
                _knn_accuracy(learner, X_train, y_train, X_test, y_test)
                for learner in (memory, streamed)
            ]
        )
        assert streamed.classes_.tolist() == [0, 1, 2, 3]
        assert streamed.n_constraints_["triplets"] > 0
    euclidean, memory, streamed = np.mean(scores, axis=0)
    assert memory > euclidean + 0.3
    assert streamed >= memory - 0.01


def test_streamed_pairs_reach_the_in_memory_accuracy():
    scores = []
    for X_train, y_train, X_test, y_test in _digits_folds(600, 3):
        pairs, y = Constraints(y_train).pairs(500, random_state=0)
        order = np.random.RandomState(0).permutation(len(y))
        tuples, y = X_train[pairs[order]], y[order]
        memory = PairsMetricLearner(solver="sgd", random_state=0).fit(tuples, y)
        streamed = PairsMetricLearner(solver="sgd", random_state=0).fit(
            _chunked(tuples, 100), _chunked(y, 100)
        )
        scores.append(
            [
                _knn_accuracy(learner, X_train, y_train, X_test, y_test)
                for learner in (memory, streamed)
            ]
        )
    memory, streamed = np.mean(scores, axis=0)
    assert streamed >= memory - 0.01


def test_streamed_regression_target_learns_the_informative_feature():
    rng = np.random.RandomState(0)
    X = rng.randn(400, 3) * [1.0, 5.0, 5.0]
    target = X[:, 0] + 0.01 * rng.randn(400)
    learner = MetricLearner(solver="sgd", random_state=0).fit(
        _chunked(X, 80), _chunked(target, 80)
    )
    assert learner.target_type_ == "continuous"
    M = learner.get_mahalanobis_matrix()
    assert M[0, 0] > 5 * max(M[1, 1], M[2, 2])


def test_streamed_starts_come_from_the_moments_of_all_blocks():
    from sklearn.decomposition import PCA

    from mlearn.learners import _streaming
    from mlearn.linalg import initialize_metric

    rng = np.random.RandomState(0)
    X = rng.randn(300, 4) @ rng.randn(4, 4) + 1e3  # a large mean: no cancellation
    parts = [_streaming._moments(X[start : start + 70]) for start in range(0, 300, 70)]
    n, mean, scatter = _streaming.merge_moments(parts)
    assert n == 300
    assert_allclose(mean, X.mean(axis=0), rtol=1e-12)
    assert_allclose(scatter / (n - 1), np.cov(X, rowvar=False), rtol=1e-9)
    L = _streaming.moments_init("pca", (n, mean, scatter), 2)
    assert_allclose(np.abs(L), np.abs(PCA(2).fit(X).components_), atol=1e-8)
    L = _streaming.moments_init("covariance", (n, mean, scatter), None)
    assert_allclose(L.T @ L, initialize_metric("covariance", X), rtol=1e-8)
    # a streamed fit with n_components starts from the streamed 'pca' axes
    learner = MetricLearner(solver="sgd", n_components=2, max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one epoch is not convergence
        learner.fit(_chunked(X_IRIS, 30), Y_IRIS)
    assert learner.components_.shape == (2, 4)


def test_streamed_random_constraints_learn():
    learner = MetricLearner(solver="sgd", constraints="random", random_state=0).fit(
        _chunked(X_IRIS, 30), Y_IRIS
    )
    knn = KNeighborsClassifier(3).fit(learner.transform(X_IRIS), Y_IRIS)
    assert knn.score(learner.transform(X_IRIS), Y_IRIS) > 0.9
    assert learner.n_constraints_["pairs"] > 0


# -- bounded memory, nothing materialised ---------------------------------------------------


def test_a_streamed_fit_holds_at_most_two_blocks_and_computes_one_block_a_graph():
    X, y = load_iris(return_X_y=True)
    order = np.random.RandomState(0).permutation(150)
    source = RecordingBlocks(X[order], 25)
    learner = MetricLearner(solver="sgd", random_state=0, max_iter=4, tol=0)
    with ComputeCounter() as counter, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter epochs are not convergence
        learner.fit(source.array, _chunked(y[order], 25))
    n_blocks = 6
    # two reductions (summaries, distances for the margin), then one graph
    # per block visited: never the whole array in one piece
    assert counter.n_graphs == 2 + n_blocks * learner.n_iter_
    assert len(source.loads) == n_blocks * (2 + learner.n_iter_)
    # the current block and the one visited before, never more
    assert max(source.alive_at_load) <= 1
    # each epoch visits every block once, in a shuffled order
    epochs = np.array(source.loads[2 * n_blocks :]).reshape(learner.n_iter_, n_blocks)
    assert all(sorted(epoch) == list(range(n_blocks)) for epoch in epochs)
    assert len({tuple(epoch) for epoch in epochs}) > 1


def test_tuple_fit_holds_one_block_and_builds_no_graph_of_the_whole_array():
    pairs, y = _iris_pairs()
    source = RecordingBlocks(pairs, 50)
    learner = PairsMetricLearner(solver="sgd", random_state=0, max_iter=5, tol=0)
    with ComputeCounter() as counter, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter epochs are not convergence
        learner.fit(source.array, y)
    n_blocks = 6
    # summaries, distances for the thresholds, one graph per block and
    # epoch, and the calibration's distances
    assert counter.n_graphs == 3 + n_blocks * learner.n_iter_
    assert max(source.alive_at_load) <= 1


def test_partial_fit_with_a_dask_array_streams_its_blocks():
    pairs, y = _iris_pairs()
    by_hand = PairsMetricLearner(solver="sgd", random_state=0)
    for start in range(0, 300, 100):
        by_hand.partial_fit(pairs[start : start + 100], y[start : start + 100])
    source = RecordingBlocks(pairs, 100)
    streamed = PairsMetricLearner(solver="sgd", random_state=0).partial_fit(
        source.array, _chunked(y, 100)
    )
    assert source.loads == [0, 1, 2]
    assert max(source.alive_at_load) <= 1
    assert_allclose(streamed.components_, by_hand.components_, rtol=1e-10)
    assert streamed.threshold_ == pytest.approx(by_hand.threshold_)
    # a later NumPy block continues the same stream
    streamed.partial_fit(pairs[:50], y[:50])
    by_hand.partial_fit(pairs[:50], y[:50])
    assert_allclose(streamed.components_, by_hand.components_, rtol=1e-10)


# -- determinism, cluster ---------------------------------------------------------------------


def test_streamed_fits_are_deterministic_given_random_state():
    X = _chunked(X_IRIS, 30)
    first = MetricLearner(solver="sgd", random_state=3).fit(X, Y_IRIS)
    second = MetricLearner(solver="sgd", random_state=3).fit(X, Y_IRIS)
    assert_allclose(first.components_, second.components_, rtol=1e-12, atol=0)
    other = MetricLearner(solver="sgd", random_state=4).fit(X, Y_IRIS)
    assert not np.allclose(first.components_, other.components_)


def test_streamed_fit_on_a_local_cluster(dask_client):
    pairs, y = _iris_pairs()
    tuples = _chunked(pairs, 100)
    params = {"solver": "sgd", "random_state": 0, "learning_rate": 0.05, "max_iter": 10}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter epochs are not convergence
        with dask.config.set(scheduler=dask_client):
            on_cluster = PairsMetricLearner(**params).fit(tuples, _chunked(y, 100))
            points = MetricLearner(**params).fit(_chunked(X_IRIS, 50), Y_IRIS)
        local = PairsMetricLearner(**params).fit(tuples, _chunked(y, 100))
    # the workers reduce what the client then steps on: the same start, and
    # the same learner up to the rounding of their matrix products
    assert_allclose(on_cluster.margin_, local.margin_, rtol=1e-9)
    assert_allclose(on_cluster.components_, local.components_, rtol=1e-6, atol=1e-9)
    assert np.mean(on_cluster.predict(pairs) == y) > 0.85
    knn = KNeighborsClassifier(3).fit(points.transform(X_IRIS), Y_IRIS)
    assert knn.score(points.transform(X_IRIS), Y_IRIS) > 0.9


# -- partial_fit's rule ------------------------------------------------------------------------


def test_partial_fit_over_8_calls_of_500_pairs_learns_on_digits():
    # digits, 8 calls of 500 pairs drawn from each training fold's labels (as
    # in benchmarks/bench_general_stream.py): one epoch a call (two minibatch
    # steps) left the 3-NN accuracy at the Euclidean metric's (+0.001 here);
    # fit on all 4000 pairs in memory gains about 0.005
    scores = []
    for fold, (X_train, y_train, X_test, y_test) in enumerate(_digits_folds(1797, 5)):
        pairs, y = Constraints(y_train).pairs(2000, random_state=fold)
        order = np.random.RandomState(fold).permutation(len(y))
        tuples, y = X_train[pairs[order]], y[order]
        learner = PairsMetricLearner(solver="sgd", random_state=0)
        for start in range(0, 4000, 500):
            learner.partial_fit(tuples[start : start + 500], y[start : start + 500])
        euclidean = KNeighborsClassifier(3).fit(X_train, y_train).score(X_test, y_test)
        scores.append([euclidean, _knn_accuracy(learner, X_train, y_train, X_test, y_test)])
    euclidean, learned = np.mean(scores, axis=0)
    assert learned >= euclidean + 0.002


def test_a_single_partial_fit_call_is_fit():
    pairs, y = _iris_pairs()
    fitted = PairsMetricLearner(solver="sgd", random_state=0).fit(pairs, y)
    partial = PairsMetricLearner(solver="sgd", random_state=0).partial_fit(pairs, y)
    assert_allclose(partial.components_, fitted.components_, rtol=1e-12, atol=0)
    assert partial.n_iter_ == fitted.n_iter_ > 1
    assert partial.threshold_ == fitted.threshold_


def test_partial_fit_keeps_the_mean_of_the_calls_maps():
    pairs, y = _iris_pairs()
    learner = PairsMetricLearner(solver="sgd", random_state=0).partial_fit(pairs[:200], y[:200])
    first, first_threshold = learner.components_.copy(), learner.loss_threshold_
    # the second call's own result: the same call, with nothing seen before
    alone = copy.deepcopy(learner)
    alone._n_constraints_seen = 0
    alone.partial_fit(pairs[200:], y[200:])
    # kept: the mean of the two calls' maps, weighted 200 : 100
    learner.partial_fit(pairs[200:], y[200:])
    assert_allclose(
        learner.components_, first + (alone.components_ - first) / 3, rtol=1e-12, atol=1e-14
    )
    assert learner.loss_threshold_ == pytest.approx(
        first_threshold + (alone.loss_threshold_ - first_threshold) / 3
    )
    assert learner.n_iter_ == len(learner.objective_history_) - 1


# -- errors -------------------------------------------------------------------------------------


def test_streamed_fit_errors_name_the_argument():
    with pytest.raises(ValueError, match="pairs must be a dask array of shape"):
        PairsMetricLearner(solver="sgd").fit(da.zeros((10, 3, 2), chunks=5), np.ones(10))
    with pytest.raises(ValueError, match=r"y must have shape \(10,\)"):
        PairsMetricLearner(solver="sgd").fit(da.zeros((10, 2, 2), chunks=5), np.ones(9))
    bad = np.array(X_IRIS)
    bad[100, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        MetricLearner(solver="sgd").fit(_chunked(bad, 30), Y_IRIS)
    with pytest.raises(ValueError, match="at least 2 classes"):
        MetricLearner(solver="sgd").fit(_chunked(X_IRIS, 30), np.zeros(150))
    with pytest.raises(ValueError, match="init='lda'"):
        MetricLearner(solver="sgd", init="lda").fit(_chunked(X_IRIS, 30), Y_IRIS)
    with pytest.raises(ValueError, match="unknown shape"):
        X = _chunked(X_IRIS, 30)
        MetricLearner(solver="sgd").fit(X[X[:, 0] > 5], Y_IRIS[X_IRIS[:, 0] > 5])
    t = _relative("triplets")
    t[:, 2] = t[:, 0]
    with pytest.raises(ValueError, match="none can be satisfied"):
        TripletsMetricLearner(solver="sgd").fit(_chunked(t, 100))
