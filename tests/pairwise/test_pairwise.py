from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.spatial.distance import cdist
from sklearn.metrics import pairwise_distances as sk_pairwise_distances
from sklearn.metrics.pairwise import euclidean_distances as sk_euclidean
from sklearn.neighbors import NearestNeighbors

from mlearn.pairwise import (
    METRIC_NAMES,
    _api,
    _host_kernels,
    _numba,
    _numpy,
    _xp,
    kneighbors,
    paired_distances,
    pairwise_distances,
)
from mlearn.pairwise._codes import ROOT
from mlearn.pairwise._metrics import METRICS
from mlearn.pairwise._operands import gemm_operands

from ._oracles import make_data, make_params, oracle

CPU_BACKENDS = ["numpy", "numba", "xp"]
RTOL = {np.float64: 1e-10, np.float32: 2e-4}


def _compute(X, Y, name, backend, working_memory=None, **params):
    """Public API for the CPU backends; 'xp' runs the CuPy code with NumPy."""
    if backend != "xp":
        return pairwise_distances(
            X, Y, name, backend=backend, working_memory=working_memory, **params
        )
    return _api._pairwise_on(np, "cupy", X, Y, name, params, working_memory or 64)


def _close(actual, expected, dtype=np.float64, rtol=None):
    rtol = RTOL[dtype] if rtol is None else rtol
    scale = max(np.max(np.abs(expected)), 1.0)
    atol = (1e-13 if dtype == np.float64 else 1e-5) * scale
    assert_allclose(actual, expected, rtol=rtol, atol=atol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("name", METRIC_NAMES)
def test_matches_oracle(name, backend, dtype):
    rng = np.random.default_rng(0)
    metric = METRICS[name]
    X, Y = make_data(metric, 23, 17, 6, rng, dtype)
    params = make_params(name, 6, rng)
    D = _compute(X, Y, name, backend, **params)
    assert D.dtype == dtype
    assert D.shape == (23, 17)
    _close(D, oracle(name, X, Y, params), dtype)


@pytest.mark.parametrize("name", METRIC_NAMES)
def test_matches_oracle_across_row_and_column_blocks(name):
    # more columns than one block of the direct kernels (256) and a row
    # count that leaves a partial group of rows
    rng = np.random.default_rng(4)
    metric = METRICS[name]
    X, Y = make_data(metric, 13, 600, 5, rng)
    params = make_params(name, 5, rng)
    D = _compute(X, Y, name, "numba", **params)
    _close(D, oracle(name, X, Y, params), np.float64)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("name", METRIC_NAMES)
def test_y_none_matches_x_against_itself(name, backend):
    rng = np.random.default_rng(1)
    metric = METRICS[name]
    X, _ = make_data(metric, 19, 1, 5, rng)
    params = make_params(name, 5, rng)
    D = _compute(X, None, name, backend, **params)
    _close(D, oracle(name, X, X, params))


@pytest.mark.parametrize("name", ["euclidean", "manhattan", "cosine", "chebyshev"])
def test_agrees_with_scikit_learn(name):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((30, 8))
    Y = rng.standard_normal((20, 8))
    _close(pairwise_distances(X, Y, name), sk_pairwise_distances(X, Y, metric=name))


@pytest.mark.parametrize("p", [1, 1.5, 2, 4, np.inf])
def test_minkowski_p(p):
    rng = np.random.default_rng(3)
    X, Y = rng.standard_normal((10, 7)), rng.standard_normal((12, 7))
    ref = cdist(X, Y, "chebyshev") if np.isinf(p) else cdist(X, Y, "minkowski", p=p)
    for backend in CPU_BACKENDS:
        _close(_compute(X, Y, "minkowski", backend, p=p), ref)


def _far_near_duplicates(rng, spread, n=40, d=16):
    """Points at ‖x‖ ~ 1e4 with near-duplicates 1e-3 apart (and exact copies)."""
    base = rng.standard_normal((n, d)) * spread + 1e4 / np.sqrt(d)
    X = np.vstack([base, base[:10]])
    Y = np.vstack([base + 1e-3 * rng.standard_normal((n, d)), base[5:8]])
    return X, Y


@pytest.mark.parametrize("spread", [1.0, 1e4])
@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("name", ["euclidean", "sqeuclidean", "mahalanobis"])
def test_near_duplicates_far_from_origin(name, backend, spread):
    rng = np.random.default_rng(4)
    X, Y = _far_near_duplicates(rng, spread)
    params = {}
    if name == "mahalanobis":
        A = rng.standard_normal((16, 16))
        params = {"M": A @ A.T + 16 * np.eye(16)}
    ref = oracle(name, X, Y, params)
    D = _compute(X, Y, name, backend, **params)
    assert_allclose(D, ref, rtol=1e-10, atol=0)
    # many small tiles (each thread's own products) give the same
    D = _compute(X, Y, name, backend, working_memory=2e-3, **params)
    assert_allclose(D, ref, rtol=1e-10, atol=0)
    # the product form without corrections is far off here: the test has teeth
    if name == "euclidean":
        naive = sk_euclidean(X, Y)
        assert np.max(np.abs(naive - ref) / np.maximum(ref, 1e-300)) > 1e-6


@pytest.mark.parametrize("same", [True, False])
def test_centring_only_when_the_offset_matters(same):
    # nearly centred data is used as given (no copy); an offset one is centred,
    # near-duplicate pairs included, and both stay exact
    rng = np.random.default_rng(6)
    X = rng.standard_normal((300, 8))
    Y = X if same else rng.standard_normal((200, 8))
    ops = gemm_operands(np, METRICS["euclidean"], X, Y, {}, same)
    assert ops.A is X and ops.B is Y
    for offset in (0.5, 100.0):
        Xo, Yo = X + offset, (X + offset if same else Y + offset)
        Yo[:5] = Xo[:5] + 1e-9  # near duplicates, far from the origin for 100
        ops = gemm_operands(np, METRICS["euclidean"], Xo, Yo, {}, same and offset == 0)
        assert ops.A is not Xo
        assert_allclose(_compute(Xo, Yo, "euclidean", "numba"), cdist(Xo, Yo), rtol=1e-10, atol=0)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_mahalanobis_L_far_from_origin(backend):
    rng = np.random.default_rng(5)
    X, Y = _far_near_duplicates(rng, 10.0)
    L = rng.standard_normal((5, 16))
    D = _compute(X, Y, "mahalanobis", backend, L=L)
    assert_allclose(D, oracle("mahalanobis", X, Y, {"L": L}), rtol=1e-10, atol=1e-12)
    # the learners' form: project then compare
    assert_allclose(
        _compute(X @ L.T, Y @ L.T, "euclidean", backend),
        cdist(X @ L.T, Y @ L.T),
        rtol=1e-10,
        atol=0,
    )


def test_cosine_near_parallel_vectors():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((20, 10))
    Y = 3 * X + 1e-7 * rng.standard_normal((20, 10))
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    Yn = Y / np.linalg.norm(Y, axis=1, keepdims=True)
    exact = 0.5 * cdist(Xn, Yn, "sqeuclidean")
    for backend in CPU_BACKENDS:
        D = _compute(X, Y, "cosine", backend)
        assert_allclose(np.diag(D), np.diag(exact), rtol=1e-6)
        _close(D, cdist(X, Y, "cosine"))


def test_zero_rows_cosine():
    X = np.array([[0.0, 0.0], [1.0, 0.0]])
    for backend in CPU_BACKENDS:
        assert_allclose(_compute(X, X, "cosine", backend), [[1, 1], [1, 0]], atol=1e-15)
        assert_allclose(_compute(X, X, "cosine_similarity", backend), [[0, 0], [0, 1]], atol=1e-15)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("name", ["euclidean", "manhattan", "kl", "mahalanobis"])
def test_chunking_under_tiny_working_memory(name, backend):
    rng = np.random.default_rng(7)
    metric = METRICS[name]
    X, Y = make_data(metric, 37, 29, 4, rng)
    params = make_params(name, 4, rng)
    D = _compute(X, Y, name, backend, working_memory=1e-4, **params)
    _close(D, oracle(name, X, Y, params))


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("name", METRIC_NAMES)
def test_paired_matches_oracle(name, backend):
    rng = np.random.default_rng(8)
    metric = METRICS[name]
    A, B = make_data(metric, 15, 15, 6, rng)
    params = make_params(name, 6, rng)
    expected = np.array(
        [oracle(name, A[i : i + 1], B[i : i + 1], params)[0, 0] for i in range(15)]
    )
    _close(paired_distances(A, B, name, backend=backend, **params), expected)
    _close(_api._paired_on(np, "cupy", A, B, name, params, 1.0), expected)


def test_paired_near_duplicates_and_float32():
    rng = np.random.default_rng(9)
    X, Y = _far_near_duplicates(rng, 1e4)
    n = min(len(X), len(Y))
    ref = np.sqrt(np.sum((X[:n] - Y[:n]) ** 2, axis=1))
    assert_allclose(paired_distances(X[:n], Y[:n]), ref, rtol=1e-12, atol=0)
    out = paired_distances(X[:n].astype(np.float32), Y[:n].astype(np.float32))
    assert out.dtype == np.float32


def test_dtype_rules():
    rng = np.random.default_rng(10)
    X = rng.standard_normal((5, 3))
    assert pairwise_distances(X.astype(np.float32)).dtype == np.float32
    assert pairwise_distances(X.astype(np.float32), X).dtype == np.float64
    assert pairwise_distances(X.astype(int)).dtype == np.float64


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_inputs_not_modified(backend):
    rng = np.random.default_rng(11)
    for name in METRIC_NAMES:
        metric = METRICS[name]
        X, Y = make_data(metric, 8, 6, 4, rng)
        params = make_params(name, 4, rng)
        copies = [X.copy(), Y.copy()] + [np.array(v, copy=True) for v in params.values()]
        pairwise_distances(X, Y, name, backend=backend, **params)
        paired_distances(X[:6], Y, name, backend=backend, **params)
        kneighbors(X, Y, 3, name, backend=backend, **params)
        for before, after in zip(copies, [X, Y, *params.values()]):
            assert_array_equal(before, after)


# --- validation -----------------------------------------------------------------


@pytest.mark.parametrize("bad, name", [(np.nan, "X"), (np.inf, "Y")])
def test_non_finite_input_names_argument(bad, name):
    X = np.ones((3, 2))
    Y = np.ones((3, 2))
    (X if name == "X" else Y)[0, 0] = bad
    with pytest.raises(ValueError, match=name):
        pairwise_distances(X, Y)
    with pytest.raises(ValueError, match=name):
        kneighbors(X, Y, 1)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ["euclidean", "sqeuclidean", "cosine", "mahalanobis"])
def test_self_distances_have_an_exact_zero_diagonal(name, dtype):
    # points far from the origin, where the product form cancels worst; a
    # zero row has cosine distance 1 to everything, itself included
    rng = np.random.default_rng(3)
    X = (rng.standard_normal((300, 7)) * 0.01 + 50.0).astype(dtype)
    X[5] = 0.0
    params = {"L": rng.standard_normal((4, 7)).astype(dtype)} if name == "mahalanobis" else {}
    diagonal = np.diag(pairwise_distances(X, metric=name, **params)).copy()
    expected = np.zeros(300, dtype)
    if name == "cosine":
        expected[5] = 1.0
    assert_array_equal(diagonal, expected)


@pytest.mark.parametrize("working_memory", [None, 2e-3])
@pytest.mark.parametrize("name", ["euclidean", "sqeuclidean", "mahalanobis"])
def test_self_distances_of_near_duplicates_beside_the_diagonal(name, working_memory):
    # rows 2k and 2k+1 are near-duplicates far from the origin, so a row's
    # cancelled pair sits in the same tile as its own diagonal entry, which is
    # set rather than recomputed: the other pair must still be recomputed
    rng = np.random.default_rng(8)
    base = rng.standard_normal((30, 6)) + 1e4
    X = np.repeat(base, 2, axis=0)
    X[1::2] += 1e-6 * rng.standard_normal((30, 6))
    params = {"L": rng.standard_normal((6, 6))} if name == "mahalanobis" else {}
    D = pairwise_distances(
        X, metric=name, backend="numba", working_memory=working_memory, **params
    )
    assert_allclose(D, oracle(name, X, X, params), rtol=1e-10, atol=0)
    assert_array_equal(np.diag(D), np.zeros(60))


def test_first_touch_writes_one_element_per_step():
    flat = np.full(10_000, np.nan)
    _numba.first_touch(flat, 512)
    expected = np.full(10_000, np.nan)
    expected[::512] = 0.0
    assert_array_equal(flat, expected)


@pytest.mark.parametrize("name", ["euclidean", "manhattan", "mahalanobis"])
def test_outputs_touched_first_are_still_exact(name, monkeypatch):
    # large outputs are touched page by page before they are computed; with
    # the threshold at zero, every output here takes that path
    monkeypatch.setattr(_numba, "FIRST_TOUCH_BYTES", 0)
    monkeypatch.setattr(_numba, "PAGE_BYTES", 64)
    touched = []
    kernel = _numba.first_touch

    def spy(flat, step):
        kernel(flat, step)
        touched.append((flat.size, step))

    monkeypatch.setattr(_numba, "first_touch", spy)
    rng = np.random.default_rng(9)
    X, Y = rng.standard_normal((70, 5)), rng.standard_normal((45, 5))
    params = {"L": rng.standard_normal((5, 5))} if name == "mahalanobis" else {}
    D = pairwise_distances(X, Y, metric=name, backend="numba", **params)
    assert touched == [(70 * 45, 8)]
    assert_allclose(D, oracle(name, X, Y, params), rtol=1e-10, atol=1e-13)


def test_product_into_clears_or_adds_to_the_tile():
    rng = np.random.default_rng(4)
    A, B = rng.standard_normal((7, 3)), rng.standard_normal((9, 3))
    base = rng.standard_normal((7, 9))
    cleared = np.full((7, 9), np.nan)
    _host_kernels.product_into(A, B, -2.0, 0.0, cleared, 2, 6, 3, 8)
    added = base.copy()
    _host_kernels.product_into(A, B, -2.0, 1.0, added, 2, 6, 3, 8)
    expected_tile = -2.0 * A[2:6] @ B[3:8].T
    assert_allclose(cleared[2:6, 3:8], expected_tile, rtol=1e-14)
    assert np.isnan(
        np.delete(cleared.ravel(), (np.arange(2, 6)[:, None] * 9 + np.arange(3, 8)).ravel())
    ).all()
    expected = base.copy()
    expected[2:6, 3:8] += expected_tile
    assert_allclose(added, expected, rtol=1e-14)


def test_finite_values_whose_sum_overflows_are_accepted():
    # the plain-array shortcut checks finiteness through the sum; a sum that
    # overflows must fall back to the full check, which accepts these values
    X = np.array([[1e308, 1e308], [1e308, 1e307]])
    Y = np.array([[1e308, 1e308]])
    assert_allclose(pairwise_distances(X, Y, metric="chebyshev"), cdist(X, Y, "chebyshev"))


def test_non_array_and_integer_inputs_go_through_full_checks():
    X = [[0, 0], [3, 4]]
    assert_allclose(pairwise_distances(X), cdist(X, X))
    assert pairwise_distances(np.array(X)).dtype == np.float64
    with pytest.raises(ValueError, match="X"):
        pairwise_distances(np.empty((0, 2)))
    with pytest.raises(ValueError, match="Y must have at least one row"):
        pairwise_distances(np.ones((2, 2)), np.empty((2, 0)))


def test_validation_errors():
    X = np.ones((4, 3))
    with pytest.raises(ValueError, match="features"):
        pairwise_distances(X, np.ones((2, 4)))
    with pytest.raises(ValueError, match="euclidean"):
        pairwise_distances(X, metric="nope")
    with pytest.raises(ValueError, match="numba"):
        pairwise_distances(X, backend="gpu")
    with pytest.raises(ValueError, match="p >= 1"):
        pairwise_distances(X, metric="minkowski", p=0.5)
    with pytest.raises(ValueError, match="unexpected parameter"):
        pairwise_distances(X, p=3)
    with pytest.raises(ValueError, match="working_memory"):
        pairwise_distances(X, working_memory=0)
    with pytest.raises(ValueError, match="same shape"):
        paired_distances(X, np.ones((3, 3)))
    with pytest.raises(ValueError, match="non-negative"):
        pairwise_distances(-X, metric="chi2")
    with pytest.raises(ValueError, match="positive sum"):
        pairwise_distances(np.zeros((2, 3)), metric="jensen_shannon")
    with pytest.raises(ValueError, match="eps"):
        pairwise_distances(X, metric="kl", eps=0)
    with pytest.raises(ValueError, match="requires the parameter 'M'"):
        pairwise_distances(X, metric="bilinear")
    with pytest.raises(ValueError, match="n_neighbors"):
        kneighbors(X, n_neighbors=4)
    with pytest.raises(ValueError, match="n_neighbors"):
        kneighbors(X, n_neighbors=0)
    with pytest.raises(ValueError, match="exclude_self"):
        kneighbors(X, np.ones((2, 3)), n_neighbors=1, exclude_self=True)
    with pytest.raises(ValueError, match="n_jobs"):
        pairwise_distances(X, n_jobs=0)


def test_mahalanobis_parameter_checks():
    X = np.ones((4, 3))
    with pytest.raises(ValueError, match="exactly one of M"):
        pairwise_distances(X, metric="mahalanobis")
    with pytest.raises(ValueError, match="exactly one of M"):
        pairwise_distances(X, metric="mahalanobis", M=np.eye(3), L=np.eye(3))
    with pytest.raises(ValueError, match="M .*positive semidefinite"):
        pairwise_distances(X, metric="mahalanobis", M=np.diag([1.0, -1.0, 1.0]))
    with pytest.raises(ValueError, match="M .*symmetric"):
        pairwise_distances(X, metric="mahalanobis", M=np.triu(np.ones((3, 3))))
    with pytest.raises(ValueError, match="M .*shape"):
        pairwise_distances(X, metric="mahalanobis", M=np.eye(2))
    with pytest.raises(ValueError, match="L .*shape"):
        pairwise_distances(X, metric="mahalanobis", L=np.eye(2))
    # round-off negative eigenvalues of a PSD matrix are accepted
    rng = np.random.default_rng(12)
    L = rng.standard_normal((2, 3))
    M = L.T @ L
    Z = rng.standard_normal((6, 3))
    assert_allclose(
        pairwise_distances(Z, metric="mahalanobis", M=M),
        pairwise_distances(Z, metric="mahalanobis", L=L),
        rtol=1e-10,
        atol=1e-12,
    )


class _DeviceMatrix:
    """Stands in for a CuPy array: refuses implicit conversion, has ``get``."""

    __module__ = "cupy._stand_in"

    def __init__(self, array):
        self._array = np.asarray(array)

    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed")

    def get(self):
        return self._array.copy()


@pytest.mark.parametrize(
    "name, key", [("mahalanobis", "L"), ("mahalanobis", "M"), ("bilinear", "M")]
)
def test_metric_matrices_from_the_gpu_are_validated_on_the_host(name, key):
    # a user whose data live on the GPU passes L or M from there too
    rng = np.random.default_rng(13)
    A = rng.standard_normal((3, 3))
    matrix = A @ A.T if key == "M" else A
    Z = rng.standard_normal((6, 3))
    expected = oracle(name, Z, Z, {key: matrix})
    got = pairwise_distances(Z, metric=name, **{key: _DeviceMatrix(matrix)})
    _close(got, expected)
    with pytest.raises(ValueError, match=f"{key} .*shape"):
        pairwise_distances(Z, metric=name, **{key: _DeviceMatrix(np.eye(2))})


# --- kneighbors -----------------------------------------------------------------


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("name", ["euclidean", "manhattan", "cosine", "mahalanobis"])
def test_kneighbors_matches_scikit_learn_brute(name, backend):
    rng = np.random.default_rng(13)
    X = rng.standard_normal((120, 5))
    Q = rng.standard_normal((30, 5))
    params = make_params(name, 5, rng)
    nn_kw = {"metric": {"manhattan": "cityblock"}.get(name, name)}
    if name == "mahalanobis":
        nn_kw["metric_params"] = {"VI": params["M"]}
    nn = NearestNeighbors(n_neighbors=7, algorithm="brute", **nn_kw).fit(X)
    for query, ours in [
        (Q, lambda: _knn(Q, X, 7, name, backend, **params)),
        (None, lambda: _knn(X, None, 7, name, backend, **params)),
    ]:
        ref_d, ref_i = nn.kneighbors(query)
        dist, ind = ours()
        assert_array_equal(ind, ref_i)
        _close(dist, ref_d)


def _knn(X, Y, k, name, backend, working_memory=None, **params):
    if backend != "xp":
        return kneighbors(X, Y, k, name, backend=backend, working_memory=working_memory, **params)
    return _api._kneighbors_on(np, "cupy", X, Y, name, params, k, Y is None, working_memory or 64)


def _brute_knn(D, k, exclude_self, largest=False):
    """Sort each row by (value, index), optionally dropping the diagonal."""
    dist, ind = [], []
    for i, row in enumerate(D):
        cols = np.arange(len(row))
        if exclude_self:
            cols = cols[cols != i]
        values = -row[cols] if largest else row[cols]
        order = np.lexsort((cols, values))[:k]
        dist.append(row[cols][order])
        ind.append(cols[order])
    return np.array(dist), np.array(ind)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("name", METRIC_NAMES)
def test_kneighbors_every_metric_against_brute_force(name, backend):
    rng = np.random.default_rng(14)
    metric = METRICS[name]
    X, Y = make_data(metric, 40, 33, 4, rng)
    params = make_params(name, 4, rng)
    for query, data, exclude in [(X, Y, False), (X, None, True)]:
        ref = oracle(name, query, query if data is None else data, params)
        ref_d, ref_i = _brute_knn(ref, 6, exclude, largest=metric.similarity)
        dist, ind = _knn(query, data, 6, name, backend, working_memory=1e-3, **params)
        assert_array_equal(ind, ref_i)
        _close(dist, ref_d)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_kneighbors_ties_broken_by_index_and_tiles(backend):
    # integer grid: many exactly equal distances
    rng = np.random.default_rng(15)
    X = rng.integers(0, 3, (150, 2)).astype(float)
    from mlearn.pairwise._chunking import knn_tiles

    working_memory = 11 * 8 * 16 / 2**20  # tiles of 16 rows x 11 columns
    assert knn_tiles(150, 150, 8, working_memory) == (16, 11)
    for name in ["euclidean", "manhattan", "chebyshev"]:
        ref_d, ref_i = _brute_knn(
            cdist(X, X, {"manhattan": "cityblock"}.get(name, name)), 9, exclude_self=True
        )
        dist, ind = _knn(X, None, 9, name, backend, working_memory=working_memory)
        assert_array_equal(ind, ref_i)
        assert_allclose(dist, ref_d, rtol=1e-12)
        assert np.all(np.diff(dist, axis=1) >= 0)


@pytest.mark.parametrize("group", [1, 2, 3, 7, 50])
def test_smallest_k_of_the_gpu_backend_against_a_full_sort(group):
    # the group minima bound the k-th smallest entry; whatever the group size
    # (1: every entry its own group; 50: rows too short, sorted whole) the
    # result is the (value, column) order of a full sort. Integer values make
    # many ties; inf stands for an excluded point, several per row here.
    rng = np.random.default_rng(21)
    values = rng.integers(0, 6, (30, 47)).astype(float)
    values[rng.random(values.shape) < 0.1] = np.inf
    values[0, :] = 3.0  # a row of one value throughout
    for k in (1, 4, 9):
        expected = np.array([np.lexsort((np.arange(47), row))[:k] for row in values])
        assert_array_equal(_xp.smallest_k(np, values, k, group=group), expected)


def test_kneighbors_gpu_backend_picks_from_groups(monkeypatch):
    # the CuPy code with NumPy, with groups small enough that the candidate
    # path (not the whole-row sort) chooses the neighbours, ties included
    monkeypatch.setattr(_xp, "TOPK_GROUP", 4)
    calls = []
    original = _xp.smallest_k

    def spy(xp, values, k, group=None):
        calls.append(values.shape[1] // _xp.TOPK_GROUP > k)
        return original(xp, values, k, group)

    monkeypatch.setattr(_xp, "smallest_k", spy)
    rng = np.random.default_rng(22)
    X = rng.integers(0, 3, (120, 2)).astype(float)
    for name in ["euclidean", "manhattan", "cosine_similarity"]:
        D = oracle(name, X, X, {})
        ref_d, ref_i = _brute_knn(D, 7, exclude_self=True, largest=METRICS[name].similarity)
        dist, ind = _knn(X, None, 7, name, "xp")
        assert_array_equal(ind, ref_i)
        _close(dist, ref_d)
    assert calls and all(calls)


@pytest.mark.parametrize("name", ["euclidean", "sqeuclidean", "mahalanobis"])
def test_kneighbors_of_the_rows_themselves_computes_each_tile_once(name, monkeypatch):
    # Y=None: only tiles (I, J) with I <= J are multiplied, each offered to
    # its rows' heaps and, transposed, to its columns'; tiles of 16 rows give
    # 10 x 10 tiles here, shared out between the threads' own heaps
    from mlearn.pairwise import _chunking

    monkeypatch.setattr(_chunking, "KNN_SAME_TILE", 16)
    calls = []
    kernel = _numba.knn_sq_tiles_same

    def spy(*args):
        calls.append(args[-1].shape[0])
        return kernel(*args)

    monkeypatch.setattr(_numba, "knn_sq_tiles_same", spy)
    rng = np.random.default_rng(16)
    # integer points: many equal distances, which the product form computes
    # exactly (with X and -X the mean is zero, so nothing is centred, and L
    # is integer too); near-duplicates among the first 20 cancel
    half = rng.integers(-1, 2, (75, 3)).astype(float)
    half[:20] += 1e-7 * rng.standard_normal((20, 3))
    X = np.vstack([half, -half])
    params = {"L": rng.integers(-2, 3, (3, 3)).astype(float)} if name == "mahalanobis" else {}
    full = oracle(name, X, X, params)
    for data, exclude in [(None, True), (X, False)]:
        ref_d, ref_i = _brute_knn(full, 9, exclude)
        dist, ind = kneighbors(X, data, 9, name, backend="numba", **params)
        assert_array_equal(ind, ref_i)
        assert_allclose(dist, ref_d, rtol=1e-10, atol=1e-13)
    assert calls == [10 * 11 // 2] * 2


def test_kneighbors_of_the_rows_themselves_falls_back_when_heaps_do_not_fit():
    rng = np.random.default_rng(17)
    A = rng.standard_normal((300, 4))
    xx = np.einsum("ij,ij->i", A, A)
    L = np.zeros((0, 4))
    assert _numba._knn_same(A, xx, A, L, 1e-4, True, 5, working_memory=1e-3) is None
    # every thread holds a 512 x 512 tile: 2 MiB each, 32 MiB on 16 threads;
    # the budget leaves room for 100 threads
    found = _numba._knn_same(A, xx, A, L, 1e-4, True, 5, working_memory=512)
    ref_d, ref_i = _brute_knn(cdist(A, A, "sqeuclidean"), 5, exclude_self=True)
    order = np.lexsort((found[1], found[0]), axis=-1)
    assert_array_equal(np.take_along_axis(found[1], order, axis=1), ref_i)
    assert_allclose(np.take_along_axis(found[0], order, axis=1), ref_d, rtol=1e-10)


@pytest.mark.parametrize(
    "n, m, n_threads",
    [
        (20000, 20000, 2),
        (20000, 20000, 16),
        (3000, 3000, 16),
        (700, 50, 4),
        (5, 3, 8),
    ],
)
def test_gemm_tiles_cover_the_output_and_use_every_thread(n, m, n_threads):
    from mlearn.pairwise import _chunking as ch

    rows, cols = ch.gemm_tiles(n, m, 8, n_threads, working_memory=1024)
    assert 1 <= rows <= min(n, ch.GEMM_TILE_ROWS) and 1 <= cols <= min(m, ch.GEMM_TILE_COLS)
    n_tiles = -(-n // rows) * -(-m // cols)
    # as many tiles as wanted, unless the tiles are already the smallest
    # allowed (or the whole output)
    assert (
        n_tiles >= ch.GEMM_TILES_PER_THREAD * n_threads
        or (rows <= max(ch.GEMM_MIN_ROWS, 1) or rows == n)
        and (cols <= ch.GEMM_MIN_COLS or cols == m)
    )
    if n >= ch.GEMM_TILE_ROWS and m >= ch.GEMM_TILE_COLS and n_threads == 2:
        assert (rows, cols) == (ch.GEMM_TILE_ROWS, ch.GEMM_TILE_COLS)
    # a small budget shrinks the tile to the per-thread share
    rows, cols = ch.gemm_tiles(n, m, 8, n_threads, working_memory=0.01)
    assert rows * cols * 8 <= max(0.01 * 2**20 / n_threads, cols * 8)


def test_kneighbors_exclude_self_semantics():
    X = np.array([[0.0], [0.0], [5.0]])
    # a duplicate at another index is still a neighbour; the point itself is not
    _, ind = kneighbors(X, n_neighbors=1)
    assert_array_equal(ind[:, 0], [1, 0, 0])
    _, ind = kneighbors(X, X, n_neighbors=1)  # explicit Y: self allowed
    assert_array_equal(ind[:, 0], [0, 0, 2])
    _, ind = kneighbors(X, X, n_neighbors=1, exclude_self=True)
    assert_array_equal(ind[:, 0], [1, 0, 0])


def test_kneighbors_similarity_ranks_most_similar_first():
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.1], [-1.0, 0.0]])
    sim, ind = kneighbors(X, n_neighbors=3, metric="cosine_similarity")
    assert_array_equal(ind[0], [2, 1, 3])
    assert np.all(np.diff(sim, axis=1) <= 0)
    M = np.diag([2.0, 1.0])
    sim, ind = kneighbors(X[:1], X, n_neighbors=2, metric="bilinear", M=M)
    assert_array_equal(ind[0], [0, 2])  # equal similarity 2: smaller index first
    assert_allclose(sim[0], [2.0, 2.0])


def test_kneighbors_float32():
    rng = np.random.default_rng(16)
    X = rng.standard_normal((50, 4)).astype(np.float32)
    dist, ind = kneighbors(X, n_neighbors=3)
    assert dist.dtype == np.float32 and ind.dtype == np.int64
    ref_d, ref_i = _brute_knn(cdist(X, X), 3, exclude_self=True)
    assert_array_equal(ind, ref_i)
    assert_allclose(dist, ref_d, rtol=1e-4)


def test_n_jobs_gives_same_result():
    rng = np.random.default_rng(17)
    X = rng.standard_normal((40, 6))
    assert_array_equal(
        pairwise_distances(X, metric="manhattan", n_jobs=1),
        pairwise_distances(X, metric="manhattan"),
    )


def test_numba_kernels_against_reference_directly():
    """Each Numba kernel against the NumPy reference, without the dispatcher."""
    rng = np.random.default_rng(18)
    X, Y = rng.standard_normal((9, 5)), rng.standard_normal((7, 5))
    for name in ["sqeuclidean", "euclidean", "manhattan", "chebyshev", "minkowski"]:
        code = METRICS[name].code
        out = np.empty((9, 7))
        _numba.pairwise_direct(
            X, np.ascontiguousarray(Y.T), *_numba.direct_args(X.dtype, code, {"p": 3.0}), out
        )
        ref = (
            _numpy.minkowski(X[:, None], Y[None], 3.0)
            if name == "minkowski"
            else METRICS[name].reference(X[:, None], Y[None])
        )
        assert_allclose(out, ref, rtol=1e-13)
    G = -2 * X @ Y.T
    xx, yy = np.sum(X * X, 1), np.sum(Y * Y, 1)
    _numba.finish_gemm(G, xx, yy, X, Y, np.zeros((0, 5)), 1e-4, ROOT)
    assert_allclose(G, _numpy.euclidean(X[:, None], Y[None]), rtol=1e-12)
    D = cdist(X, Y)
    best_d = np.full((9, 3), np.inf)
    best_i = np.full((9, 3), np.iinfo(np.int64).max)
    _numba.topk_update(D[:, :4].copy(), 0, 0, False, 1.0, best_d, best_i)
    _numba.topk_update(D[:, 4:].copy(), 0, 4, False, 1.0, best_d, best_i)
    assert_array_equal(np.sort(best_i, axis=1), np.sort(np.argsort(D, 1)[:, :3], axis=1))


def test_registry_drives_docs():
    page = Path(__file__).resolve().parents[2] / "docs" / "user_guide" / "distances.rst"
    text = page.read_text()
    for name in METRIC_NAMES:
        assert f"``{name}``" in text, name


@pytest.mark.parametrize(
    "helper, multiply_adds, limited",
    [
        ("blas_threads_for", 10, False),
        ("blas_threads_for", 2**20, True),
        ("blas_threads_for", 10**9, False),
        ("blas_threads_inside", 10, False),
        ("blas_threads_inside", 2**20, True),
        ("blas_threads_inside", 10**9, True),
    ],
)
def test_blas_threads_limited_only_where_it_pays(helper, multiply_adds, limited):
    # a product of its own: limited when mid-sized; products inside mlearn's
    # threads: limited unless BLAS would run them on one thread anyway
    from threadpoolctl import threadpool_info, threadpool_limits

    from mlearn import _blas

    def blas_threads():
        return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]

    with threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        if not before or max(before) < 2:
            pytest.skip("the BLAS library here runs one thread")
        with getattr(_blas, helper)(multiply_adds):
            inside = blas_threads()
        assert inside == ([1] * len(before) if limited else before)
        assert blas_threads() == before


def _progress_lines(err, desc):
    # the one-time notice of Numba's compilation may come first
    lines = [line for line in err.strip().splitlines() if not line.startswith("mlearn: ")]
    assert lines and all(line.startswith(f"{desc}: ") for line in lines), err
    counts = [line.split()[1].split("/") for line in lines]
    return [(int(done), int(total)) for done, total in counts]


@pytest.mark.parametrize(
    "backend, metric, Y_given",
    [
        ("numpy", "euclidean", False),
        ("numpy", "cosine", True),
        ("numba", "manhattan", False),
        ("numba", "chebyshev", True),
        ("numba", "euclidean", False),
        ("numba", "mahalanobis", True),
    ],
)
def test_verbose_reports_chunks_and_changes_no_bit(capsys, backend, metric, Y_given):
    from mlearn.pairwise import kneighbors, pairwise_distances

    rng = np.random.RandomState(0)
    X, Y = rng.rand(300, 4), rng.rand(200, 4)
    X[1] = X[0] + 1e-9  # a near-duplicate
    Y = Y if Y_given else None
    params = {"L": rng.rand(3, 4)} if metric == "mahalanobis" else {}
    m = 200 if Y_given else 300
    budget = 0.05  # MiB: several blocks of queries
    common = dict(backend=backend, working_memory=budget, **params)

    d_quiet, i_quiet = kneighbors(X, Y, 4, metric, **common)
    assert "kneighbors" not in capsys.readouterr().err
    d_loud, i_loud = kneighbors(X, Y, 4, metric, verbose=True, **common)
    assert np.array_equal(d_quiet, d_loud) and np.array_equal(i_quiet, i_loud)
    counts = _progress_lines(capsys.readouterr().err, "kneighbors")
    total = counts[0][1]
    assert counts[0][0] == 1 and counts[-1] == (total, total)
    # the blocks the backend searches: rows of the distance matrix within the
    # budget (two rows per query for "numpy"); one parallel call for the
    # product kernels of "numba"
    if backend == "numpy":
        rows = int(budget * 2**20 // (2 * m * 8))
        assert total == -(-300 // rows) > 1
    elif metric in ("manhattan", "chebyshev"):
        assert total > 1
    else:
        assert total == 1

    D_quiet = pairwise_distances(X, Y, metric, **common)
    assert "pairwise_distances" not in capsys.readouterr().err
    D_loud = pairwise_distances(X, Y, metric, verbose=True, **common)
    assert np.array_equal(D_quiet, D_loud)
    counts = _progress_lines(capsys.readouterr().err, "pairwise_distances")
    assert counts[-1][0] == counts[-1][1] >= 1


@pytest.mark.parametrize("name", ["kneighbors", "pairwise_distances"])
def test_verbose_is_validated(name):
    import mlearn.pairwise

    with pytest.raises(ValueError, match="'verbose' parameter"):
        getattr(mlearn.pairwise, name)(np.eye(3), verbose="yes")
