"""CuPy backend on a real GPU (skipped when no CUDA device is present)."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from mlearn.pairwise import METRIC_NAMES, kneighbors, paired_distances, pairwise_distances
from mlearn.pairwise._metrics import METRICS

from ._oracles import make_data, make_params, oracle

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def cupy():
    cupy = pytest.importorskip("cupy")
    if not cupy.is_available():
        pytest.skip("no CUDA device")
    return cupy


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", METRIC_NAMES)
def test_cupy_matches_oracle_and_stays_on_device(cupy, name, dtype):
    rng = np.random.default_rng(0)
    X, Y = make_data(METRICS[name], 70, 50, 9, rng, dtype)
    params = make_params(name, 9, rng)
    ref = oracle(name, X, Y, params)
    rtol, atol = (1e-10, 1e-12) if dtype == np.float64 else (2e-4, 1e-5)
    D = pairwise_distances(cupy.asarray(X), cupy.asarray(Y), name, **params)
    assert isinstance(D, cupy.ndarray) and D.dtype == dtype
    assert_allclose(D.get(), ref, rtol=rtol, atol=atol * max(1, np.abs(ref).max()))
    # NumPy in, backend="cupy": the result comes back to the host
    D_host = pairwise_distances(X, Y, name, backend="cupy", **params)
    assert isinstance(D_host, np.ndarray)
    assert_allclose(D_host, D.get())
    pd = paired_distances(cupy.asarray(X[:50]), cupy.asarray(Y), name, **params)
    assert isinstance(pd, cupy.ndarray)
    assert_allclose(
        pd.get(),
        np.diag(oracle(name, X[:50], Y, params)),
        rtol=rtol,
        atol=atol * max(1, np.abs(ref).max()),
    )


@pytest.mark.parametrize("name", ["euclidean", "manhattan", "mahalanobis", "cosine"])
def test_cupy_kneighbors(cupy, name):
    rng = np.random.default_rng(1)
    X, _ = make_data(METRICS[name], 300, 1, 8, rng)
    params = make_params(name, 8, rng)
    d_ref, i_ref = kneighbors(X, n_neighbors=5, metric=name, backend="numpy", **params)
    dist, ind = kneighbors(cupy.asarray(X), n_neighbors=5, metric=name, **params)
    assert isinstance(ind, cupy.ndarray)
    assert_array_equal(ind.get(), i_ref)
    assert_allclose(dist.get(), d_ref, rtol=1e-10, atol=1e-12)


def test_cupy_near_duplicates_far_from_origin(cupy):
    rng = np.random.default_rng(2)
    base = rng.standard_normal((50, 16)) * 1e4
    Y = base + 1e-3 * rng.standard_normal((50, 16))
    D = pairwise_distances(cupy.asarray(base), cupy.asarray(Y)).get()
    assert_allclose(D, oracle("euclidean", base, Y, {}), rtol=1e-10, atol=0)


@pytest.mark.parametrize("name", ["euclidean", "mahalanobis", "manhattan", "cosine_similarity"])
def test_cupy_kneighbors_chosen_from_group_minima(cupy, name):
    # 3000 candidates per query are more than k groups of TOPK_GROUP columns,
    # so the neighbours come from the candidates under the group minima's bound
    from mlearn.pairwise import _xp

    assert 3000 // _xp.TOPK_GROUP > 10
    rng = np.random.default_rng(3)
    X, _ = make_data(METRICS[name], 3000, 1, 6, rng)
    params = make_params(name, 6, rng)
    for query, data in [(X[:400], X), (X, None)]:
        d_ref, i_ref = kneighbors(query, data, 10, name, backend="numpy", **params)
        dist, ind = kneighbors(
            cupy.asarray(query), None if data is None else cupy.asarray(data), 10, name, **params
        )
        assert_array_equal(ind.get(), i_ref)
        assert_allclose(dist.get(), d_ref, rtol=1e-10, atol=1e-12)


def test_cupy_kneighbors_ties_broken_by_index(cupy):
    # an integer grid: distances repeat exactly, the smaller index comes first
    rng = np.random.default_rng(4)
    X = rng.integers(0, 4, (2500, 2)).astype(float)
    for name in ["euclidean", "manhattan", "chebyshev"]:
        d_ref, i_ref = kneighbors(X, n_neighbors=12, metric=name, backend="numpy")
        dist, ind = kneighbors(cupy.asarray(X), n_neighbors=12, metric=name)
        assert_array_equal(ind.get(), i_ref)
        assert_allclose(dist.get(), d_ref, rtol=1e-12)


@pytest.mark.parametrize(
    "name, key", [("mahalanobis", "L"), ("mahalanobis", "M"), ("bilinear", "M")]
)
def test_cupy_metric_matrix_on_the_gpu(cupy, name, key):
    rng = np.random.default_rng(5)
    A = rng.standard_normal((7, 7))
    matrix = A @ A.T if key == "M" else A
    X = rng.standard_normal((40, 7))
    D = pairwise_distances(cupy.asarray(X), metric=name, **{key: cupy.asarray(matrix)})
    assert isinstance(D, cupy.ndarray)
    assert_allclose(D.get(), oracle(name, X, X, {key: matrix}), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "name, scale, params",
    [
        ("euclidean", 1e200, {}),
        ("euclidean", 1e-170, {}),
        ("sqeuclidean", 1e150, {}),
        ("mahalanobis", 1e-200, {"L": np.eye(5)[:3] * 1e250}),
        ("manhattan", 1e300, {}),
        ("minkowski", 10.0, {"p": 400}),
        ("minkowski", 0.01, {"p": 400}),
        ("minkowski", 1e-200, {"p": 2}),
        ("chi2", 1e300, {}),
        ("kl", 1e300, {}),
        ("jensen_shannon", 1e307, {}),
    ],
)
def test_cupy_extreme_scales(cupy, name, scale, params):
    # the CUDA kernel's guarded powers and kl ratios, and the rescaling of
    # device arrays, against the decimal oracle
    from ._oracles import exact

    rng = np.random.default_rng(6)
    X, Y = make_data(METRICS[name], 9, 7, 5, rng)
    X, Y = X * scale, Y * scale
    ref = exact(name, X, Y, params)
    D = pairwise_distances(cupy.asarray(X), cupy.asarray(Y), name, **params).get()
    assert_allclose(D, ref, rtol=1e-9, atol=1e-13 * np.max(np.abs(ref)))
    pd = paired_distances(cupy.asarray(X[:7]), cupy.asarray(Y), name, **params).get()
    assert_allclose(
        pd, exact(name, X[:7], Y, params, paired=True), rtol=1e-9, atol=1e-13 * np.max(np.abs(ref))
    )
    dist, ind = kneighbors(cupy.asarray(X), cupy.asarray(Y), 3, name, **params)
    assert_array_equal(ind.get(), np.argsort(ref, axis=1, kind="stable")[:, :3])


def test_cupy_cosine_of_rows_of_any_norm(cupy):
    from ._oracles import exact

    rng = np.random.default_rng(7)
    norms = np.array([[1e200], [1e-170], [1e300], [1.0], [1e-300]])
    X = rng.standard_normal((5, 3)) * norms
    D = pairwise_distances(cupy.asarray(X), metric="cosine").get()
    assert_allclose(D, exact("cosine", X, X, {}), rtol=1e-10, atol=1e-15)
    assert_array_equal(np.diag(D), 0)
