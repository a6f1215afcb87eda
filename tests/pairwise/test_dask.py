"""Distances and neighbours of dask arrays against the in-memory functions.

The in-memory functions are checked against independent oracles in
``test_pairwise.py``; here the dask results are checked against them (and
against the oracles for the pairwise values): ``kneighbors`` on dask arrays
computes every distance with the same operations as the in-memory call, so
its neighbours and distances are the in-memory ones to the bit, ties and
near-ties included.
"""

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from mlearn.pairwise import (
    METRIC_NAMES,
    _api,
    _dask,
    _host_kernels,
    kneighbors,
    paired_distances,
    pairwise_distances,
)
from mlearn.pairwise._metrics import METRICS

from ..conftest import ComputeCounter
from ._oracles import make_data, make_params, oracle

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")


@pytest.fixture(autouse=True)
def synchronous():
    with dask.config.set(scheduler="synchronous"):
        yield


@pytest.fixture
def small_blocks(monkeypatch):
    """Plans with as many blocks as the tile grid allows, even for small data
    on one thread (more blocks than the work is worth)."""
    monkeypatch.setattr(_dask, "MIN_TASK_WORK", 1.0)
    monkeypatch.setattr(_dask, "_parallelism", lambda: 4)


def _params(name, d, rng):
    if name == "mahalanobis":
        return {"L": rng.integers(-2, 3, (2, d)).astype(float)}
    return make_params(name, d, rng)


def _tied(name, n, rng, dtype=np.float64):
    """Points with many exactly equal distances (integer coordinates, repeated
    rows) and, for a fifth of them, distances that differ in the last digits;
    away from the origin, so that the product metrics centre them."""
    metric = METRICS[name]
    if metric.histogram:
        X = rng.integers(0, 3, (n, 3)).astype(float)
        X[:, 0] += 1.0
    else:
        X = rng.integers(-1, 2, (n, 3)).astype(float) + 10.0
        if name != "hamming":
            X[: n // 5] += 1e-9 * rng.standard_normal((n // 5, 3))
    return X.astype(dtype)


def _n_point_blocks(result):
    """How many blocks of points a dask ``kneighbors`` result searched."""
    keys = [
        k for k in result.__dask_graph__() if isinstance(k, tuple) and str(k[0]).endswith("-block")
    ]
    return len({k[2] for k in keys})


def _assert_same_neighbours(lazy, expected):
    dist, ind = dask.compute(*lazy)
    assert_array_equal(ind, expected[1])
    assert_array_equal(dist, expected[0])
    assert dist.dtype == expected[0].dtype and ind.dtype == np.int64


# -- kneighbors ------------------------------------------------------------------------


@pytest.mark.parametrize("name", METRIC_NAMES)
def test_kneighbors_equals_in_memory_for_uneven_blocks(name, small_blocks):
    # queries and points in uneven chunks, cut further by a small budget: the
    # (query block x point block) tasks and their merges give the whole search
    rng = np.random.default_rng(0)
    X = _tied(name, 700, rng)
    Q = X[::3] + (0 if METRICS[name].histogram else 0.5)
    params = _params(name, 3, rng)
    Xd = da.from_array(X, chunks=((300, 1, 99, 300), (3,)))
    Qd = da.from_array(Q, chunks=((17, 100, 117), (3,)))
    expected = kneighbors(Q, X, 7, name, working_memory=0.25, **params)
    lazy = kneighbors(Qd, Xd, 7, name, working_memory=0.25, **params)
    assert _n_point_blocks(lazy[0]) > 1
    _assert_same_neighbours(lazy, expected)
    # one chunk each
    one = kneighbors(da.from_array(Q), da.from_array(X), 7, name, **params)
    _assert_same_neighbours(one, kneighbors(Q, X, 7, name, **params))


@pytest.mark.parametrize("name", METRIC_NAMES)
def test_kneighbors_of_the_points_themselves_equals_in_memory(name, small_blocks):
    # Y=None (and Y is X): each point's own index is left out by default; the
    # product metrics take each distance from the tile the whole search
    # computes it in (10 MiB lets every thread keep its own lists)
    rng = np.random.default_rng(1)
    X = _tied(name, 1100, rng)
    params = _params(name, 3, rng)
    Xd = da.from_array(X, chunks=200)
    lazy = kneighbors(Xd, None, 6, name, working_memory=10, **params)
    assert _n_point_blocks(lazy[0]) > 1
    _assert_same_neighbours(lazy, kneighbors(X, None, 6, name, working_memory=10, **params))
    _assert_same_neighbours(
        kneighbors(Xd, Xd, 6, name, exclude_self=False, working_memory=10, **params),
        kneighbors(X, X, 6, name, exclude_self=False, working_memory=10, **params),
    )


@pytest.mark.parametrize(
    "name", ["euclidean", "mahalanobis", "cosine", "manhattan", "bilinear", "jensen_shannon"]
)
def test_kneighbors_mixes_numpy_and_dask(name):
    # a NumPy side is cut like a dask one; exclude_self with an explicit Y
    # leaves out index i for query i, whichever side is dask
    rng = np.random.default_rng(2)
    X = _tied(name, 600, rng)
    params = _params(name, 3, rng)
    Xd = da.from_array(X, chunks=150)
    expected = kneighbors(X, X.copy(), 5, name, exclude_self=True, working_memory=0.25, **params)
    for Q, Y in [(X, Xd), (Xd, X.copy())]:
        lazy = kneighbors(Q, Y, 5, name, exclude_self=True, working_memory=0.25, **params)
        _assert_same_neighbours(lazy, expected)


@pytest.mark.parametrize(
    "name", ["euclidean", "mahalanobis", "cosine_similarity", "manhattan", "minkowski"]
)
def test_kneighbors_float32_equals_in_memory(name, small_blocks):
    rng = np.random.default_rng(3)
    X = _tied(name, 1100, rng, np.float32)
    params = _params(name, 3, rng)
    Xd = da.from_array(X, chunks=300)
    _assert_same_neighbours(
        kneighbors(Xd[:400], Xd, 8, name, **params), kneighbors(X[:400], X, 8, name, **params)
    )


@pytest.mark.parametrize("name", ["manhattan", "chebyshev", "chi2"])
def test_kneighbors_blocks_smaller_than_the_neighbours(name):
    # a budget of a few rows a block: blocks of points hold fewer rows than
    # n_neighbors, and their lists are padded until the merges fill them
    rng = np.random.default_rng(4)
    X = _tied(name, 40, rng)
    Xd = da.from_array(X, chunks=((3, 5, 2, 30), (3,)))
    lazy = kneighbors(Xd, None, 7, name, working_memory=0.002)
    assert _n_point_blocks(lazy[0]) > 40 // 7
    _assert_same_neighbours(lazy, kneighbors(X, None, 7, name, working_memory=0.002))


def test_kneighbors_far_beyond_the_square_root_of_the_range():
    # data rescaled by powers of two: the exponents and the centre come from
    # the whole data, and the search is still the in-memory one to the bit
    rng = np.random.default_rng(5)
    for scale in (1e200, 1e-200):
        X = (rng.standard_normal((900, 4)) + 3) * scale
        Xd = da.from_array(X, chunks=250)
        for name, params in [
            ("euclidean", {}),
            ("mahalanobis", {"L": np.eye(4)[:2]}),
            ("manhattan", {}),
        ]:
            with np.errstate(over="ignore"):
                _assert_same_neighbours(
                    kneighbors(Xd[:300], Xd, 4, name, **params),
                    kneighbors(X[:300], X, 4, name, **params),
                )


def test_kneighbors_results_are_lazy_and_cut_like_the_queries():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((300, 5))
    Xd = da.from_array(X, chunks=100)
    with ComputeCounter() as counter:
        dist, ind = kneighbors(Xd, Xd[:200], 4, "mahalanobis", L=np.eye(5))
        pd = pairwise_distances(Xd, Xd[:50], "manhattan")
        paired = paired_distances(Xd, Xd[::-1])
    assert counter.n_graphs == 0
    for result in (dist, ind, pd, paired):
        assert isinstance(result, da.Array)
    assert dist.shape == ind.shape == (300, 4)
    assert sum(dist.chunks[0]) == 300 and dist.chunks[1] == (4,)
    with ComputeCounter() as counter:
        dask.compute(dist, ind)
    assert counter.n_graphs == 1


def test_kneighbors_block_plan_fits_the_budget():
    # blocks of points within half the budget (block, copy, operands), on the
    # tile grid (multiples of 512 rows) for the product metrics; the stored
    # chunks are split evenly rather than copied where they line up
    rng = np.random.default_rng(7)
    X = da.from_array(rng.standard_normal((20000, 16)), chunks=4096)
    spec = _dask._Spec(
        "euclidean",
        {},
        np.dtype(np.float64),
        False,
        False,
        "numba",
        False,
        working_memory=1.0,
        n_neighbors=5,
    )
    Q, Y, spec = _dask._plan_search(X[:1000], X, spec)
    assert max(Y.chunks[0]) * (2 * 16 + 16 + 2) * 8 <= 0.5 * 2**20
    assert all(c % 512 == 0 for c in Y.chunks[0][:-1])
    # each block within one stored chunk: every chunk boundary is a block's
    assert set(np.cumsum(X.chunks[0])) <= set(np.cumsum(Y.chunks[0]))
    assert max(Q.chunks[0]) % 512 == 0 or Q.chunks[0] == (1000,)


def test_kneighbors_through_the_reference_and_gpu_code_on_the_cpu(monkeypatch):
    # backend="numpy" runs the reference per block; backend="cupy" its CuPy
    # code, here with NumPy as the array module: both give the in-memory
    # neighbours of the same code (distances to rounding: the blocks'
    # products have other shapes)
    monkeypatch.setattr(_dask, "_work_namespace", lambda spec: np)
    rng = np.random.default_rng(8)
    X = rng.standard_normal((400, 6))
    for name in ["euclidean", "mahalanobis", "cosine_similarity", "manhattan", "kl"]:
        params = _params(name, 6, rng)
        data = np.abs(X) if name == "kl" else X
        data_d = da.from_array(data, chunks=((90, 150, 160), (6,)))
        ref_d, ref_i = kneighbors(data, None, 5, name, backend="numpy", **params)
        dist, ind = dask.compute(
            *kneighbors(data_d, None, 5, name, backend="numpy", working_memory=0.3, **params)
        )
        assert_array_equal(ind, ref_i)
        assert_allclose(dist, ref_d, rtol=1e-12)
        xp_d, xp_i = _api._kneighbors_on(np, "cupy", data, None, name, params, 5, True, 64)
        dist, ind = dask.compute(
            *kneighbors(data_d, None, 5, name, backend="cupy", working_memory=0.3, **params)
        )
        assert_array_equal(ind, xp_i)
        assert_allclose(dist, xp_d, rtol=1e-12)


# -- pairwise and paired distances ----------------------------------------------------------


@pytest.mark.parametrize("name", METRIC_NAMES)
def test_pairwise_distances_blockwise(name):
    # output blocks: X's row chunks by Y's; values those of the oracle (and of
    # the in-memory call, to rounding: a block's products have other shapes)
    rng = np.random.default_rng(9)
    X, Y = make_data(METRICS[name], 90, 70, 5, rng)
    params = make_params(name, 5, rng)
    Xd = da.from_array(X, chunks=((40, 1, 49), (5,)))
    Yd = da.from_array(Y, chunks=((30, 40), (5,)))
    D = pairwise_distances(Xd, Yd, name, **params)
    assert D.chunks == ((40, 1, 49), (30, 40))
    values = D.compute()
    ref = oracle(name, X, Y, params)
    scale = max(1.0, np.abs(ref).max())
    assert_allclose(values, ref, rtol=1e-10, atol=1e-12 * scale)
    assert_allclose(
        values, pairwise_distances(X, Y, name, **params), rtol=1e-12, atol=1e-13 * scale
    )
    # X against itself: square blocks, zero diagonal for the metrics
    S = pairwise_distances(Xd, None, name, **params)
    assert S.chunks == ((40, 1, 49), (40, 1, 49))
    S = S.compute()
    assert_allclose(
        S, oracle(name, X, X, params), rtol=1e-10, atol=1e-12 * max(1.0, np.abs(S).max())
    )
    if METRICS[name].true_metric:
        assert np.all(np.diag(S) == 0)


@pytest.mark.parametrize("name", METRIC_NAMES)
def test_paired_distances_blockwise(name):
    rng = np.random.default_rng(10)
    A, B = make_data(METRICS[name], 80, 80, 5, rng)
    params = make_params(name, 5, rng)
    Ad = da.from_array(A, chunks=30)
    Bd = da.from_array(B, chunks=((80,), (5,)))  # cut like A
    d = paired_distances(Ad, Bd, name, **params)
    assert d.chunks == ((30, 30, 20),)
    values = d.compute()
    ref = np.diag(oracle(name, A, B, params))
    assert_allclose(values, ref, rtol=1e-10, atol=1e-12 * max(1.0, np.abs(ref).max()))
    assert_allclose(values, paired_distances(A, B, name, **params), rtol=1e-13, atol=0)
    assert_allclose(paired_distances(A, Bd, name, **params).compute(), values, rtol=1e-13)


def test_float32_stays_float32():
    rng = np.random.default_rng(11)
    X = da.from_array(rng.standard_normal((50, 4)).astype(np.float32), chunks=20)
    assert pairwise_distances(X, X[:10]).dtype == np.float32
    assert paired_distances(X, X[::-1]).compute().dtype == np.float32
    dist, ind = kneighbors(X, None, 3)
    assert dist.dtype == np.float32 and ind.dtype == np.int64
    # with a float64 side, float64
    assert pairwise_distances(X, X[:10].astype(np.float64)).dtype == np.float64


# -- bad input ----------------------------------------------------------------------------


def test_bad_dask_input_is_refused_when_building():
    rng = np.random.default_rng(12)
    X = da.from_array(rng.standard_normal((30, 4)), chunks=10)
    with pytest.raises(ValueError, match="X and Y must have as many rows"):
        kneighbors(X, X[:20], 3, exclude_self=True)
    with pytest.raises(ValueError, match="n_neighbors=30 is larger than the 29"):
        kneighbors(X, None, 30)
    with pytest.raises(ValueError, match="X has 4 features but Y has 3"):
        kneighbors(X, X[:, :3], 2)
    with pytest.raises(ValueError, match="2-D"):
        pairwise_distances(X[:, 0], X)
    with pytest.raises(ValueError, match="A and B must have the same shape"):
        paired_distances(X, X[:5])
    unknown = X[X[:, 0] > 0]
    with pytest.raises(ValueError, match="unknown size"):
        kneighbors(unknown, X, 2)
    with pytest.raises(ValueError, match="real numbers"):
        pairwise_distances(X.astype(complex), X)
    with pytest.raises(ValueError, match="'metric' parameter of kneighbors"):
        kneighbors(X, None, 2, metric="nope")
    with pytest.raises(ValueError, match="metric must be one of"):
        _api._kneighbors(X, None, 2, metric="nope")
    with pytest.raises(ValueError, match="positive semidefinite"):
        kneighbors(X, None, 2, metric="mahalanobis", M=-np.eye(4))
    with pytest.raises(ValueError, match="Input Y contains NaN"):
        kneighbors(X, np.full((5, 4), np.nan), 2)


def test_bad_values_of_dask_input_are_refused_when_computed():
    # values are checked when the blocks are read: the same errors, raised by
    # compute, and nothing silently wrong
    rng = np.random.default_rng(13)
    X = rng.standard_normal((40, 3))
    bad = X.copy()
    bad[33, 1] = np.nan
    bad_d = da.from_array(bad, chunks=10)
    for lazy in (
        kneighbors(bad_d, None, 3)[0],
        pairwise_distances(X, bad_d),
        paired_distances(bad_d, X),
    ):
        with pytest.raises(ValueError, match="contains NaN or infinity"):
            lazy.compute()
    negative = da.from_array(np.abs(X) - (np.arange(40) == 7)[:, None], chunks=10)
    with pytest.raises(ValueError, match="must be non-negative"):
        kneighbors(negative, None, 3, metric="chi2")[1].compute()
    assert np.isfinite(X).all()  # the inputs are left as they were


# -- clusters ------------------------------------------------------------------------------


def test_kneighbors_on_a_local_cluster_equals_in_memory(dask_client, tmp_path):
    # points stored in zarr, read by two worker processes; blocks, statistics
    # and neighbour lists pickled between them
    zarr = pytest.importorskip("zarr")
    rng = np.random.default_rng(14)
    X = rng.integers(-2, 3, (3000, 6)).astype(float) + 5.0
    L = rng.standard_normal((4, 6))
    store = zarr.create_array(
        tmp_path / "points.zarr", shape=X.shape, chunks=(700, 6), dtype=X.dtype
    )
    store[:] = X
    Xd = da.from_zarr(str(tmp_path / "points.zarr"))
    with dask.config.set(scheduler=None):
        for name, params in [("euclidean", {}), ("mahalanobis", {"L": L})]:
            lazy = kneighbors(Xd[:800], Xd, 9, name, working_memory=1, **params)
            assert _n_point_blocks(lazy[0]) > 1
            _assert_same_neighbours(
                lazy, kneighbors(X[:800], X, 9, name, working_memory=1, **params)
            )
        D = pairwise_distances(Xd[:100], Xd, "manhattan").compute()
    assert_allclose(D, pairwise_distances(X[:100], X, "manhattan"), rtol=1e-13)


def _high_water_mib():
    """This process's peak resident memory (VmHWM), in MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024
    return float("nan")


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads /proc")
def test_kneighbors_searches_points_larger_than_the_workers_memory():
    # 500 MiB of points, each block computed by the worker that needs it (as
    # read from storage, or transformed lazily); two workers allowed
    # 480 MiB each (~300 of which Python, NumPy, SciPy, scikit-learn and the
    # compiled kernels take): the search holds a few blocks per worker at a
    # time, kills no worker and finds the in-memory neighbours
    distributed = pytest.importorskip("distributed")
    rows, d, chunk = 4_096_000, 32, 65_536
    limit = 480 * 2**20
    # a quasi-random lattice (cheap to compute, rich in near-ties)
    i = da.arange(rows, chunks=chunk, dtype=np.float64)[:, None]
    j = np.arange(d, dtype=np.float64)[None, :]
    points = ((i * 0.6180339887 + j * 0.7548776662) % 1.0).astype(np.float32)
    assert points.nbytes > limit
    queries = np.random.default_rng(16).random((40, d), dtype=np.float32)
    expected = kneighbors(queries, points.compute(scheduler="synchronous"), 5)
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        memory_limit=limit,
        dashboard_address=":0",
    )
    try:
        with distributed.Client(cluster, set_as_default=False) as client:
            pids = client.run(os.getpid)
            lazy = kneighbors(queries, points, 5, working_memory=32)
            dist, ind = dask.compute(*lazy, scheduler=client)
            assert client.run(os.getpid) == pids  # no worker restarted
            peaks = client.run(_high_water_mib)
    finally:
        cluster.close()
    assert all(peak * 2**20 < 0.95 * limit for peak in peaks.values()), peaks
    assert_array_equal(ind, expected[1])
    assert_array_equal(dist, expected[0])


# -- GPU -----------------------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["euclidean", "mahalanobis", "cosine", "manhattan"])
def test_cupy_blocks_go_through_the_gpu(name):
    cupy = pytest.importorskip("cupy")
    rng = np.random.default_rng(16)
    X, _ = make_data(METRICS[name], 900, 1, 8, rng)
    params = make_params(name, 8, rng)
    Xg = da.from_array(cupy.asarray(X), chunks=300, asarray=False)
    dist, ind = dask.compute(*kneighbors(Xg, None, 5, name, **params))
    assert isinstance(ind, cupy.ndarray)
    ref_d, ref_i = kneighbors(cupy.asarray(X), None, 5, name, **params)
    assert_array_equal(ind.get(), ref_i.get())
    assert_allclose(dist.get(), ref_d.get(), rtol=1e-10, atol=1e-12)
    D = pairwise_distances(Xg, Xg[:50], name, **params).compute()
    assert isinstance(D, cupy.ndarray)
    assert_allclose(
        D.get(),
        oracle(name, X, X[:50], params),
        rtol=1e-10,
        atol=1e-10 * max(1.0, float(np.abs(D.get()).max())),
    )


# -- the pass over the data --------------------------------------------------------------


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    chunks=st.lists(st.integers(1, 1500), min_size=1, max_size=6),
    d=st.integers(1, 5),
    dtype=st.sampled_from([np.float64, np.float32]),
)
def test_sums_of_blocks_equal_the_sums_of_the_whole(chunks, d, dtype):
    # blocks cut anywhere: the sums taken block by block, groups of 512 rows
    # cut by a block boundary completed from both sides, are the whole
    # array's sums to the bit
    rng = np.random.default_rng(len(chunks) * 7 + d)
    X = (rng.standard_normal((sum(chunks), d)) * 1e3 + 17).astype(dtype)
    checks = _dask._Checks("X", np.dtype(dtype), "euclidean")
    starts = np.concatenate([[0], np.cumsum(chunks)[:-1]])
    summaries = [_dask._summarise(X[a : a + c], checks, int(a)) for a, c in zip(starts, chunks)]
    whole = _dask._whole(summaries, np.dtype(dtype))
    sums, _ = _host_kernels.column_sums(X)
    assert_array_equal(whole.sums, sums)
    assert whole.squares == _host_kernels.sum_of_squares(X)
    assert whole.rows == X.shape[0]
    assert whole.largest == np.abs(X).max()
