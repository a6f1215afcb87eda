"""Distances at the ends of the floating range, and input the core refuses.

The oracle is ``_oracles.exact``: every metric in 60-digit decimal arithmetic
from the floats as given, so it neither overflows nor underflows. Each case
runs on the NumPy reference, the Numba kernels and the CuPy backend's code
with NumPy as its array namespace ("xp").
"""

import warnings

import numpy as np
import pytest
import scipy.sparse
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.testing import assert_allclose, assert_array_equal

from mlearn.pairwise import (
    METRIC_NAMES,
    _api,
    kneighbors,
    paired_distances,
    pairwise_distances,
)
from mlearn.pairwise._metrics import METRICS

from ._oracles import exact, make_data, make_params

BACKENDS = ["numpy", "numba", "xp"]
RTOL = {np.float64: 1e-10, np.float32: 2e-4}


def _pairwise(X, Y, name, backend, **params):
    """The public function; 'xp' runs the CuPy backend's code with NumPy."""
    if backend == "xp":
        return _api._pairwise_on(np, "cupy", X, Y, name, params, 64)
    return pairwise_distances(X, Y, name, backend=backend, **params)


def _paired(A, B, name, backend, **params):
    if backend == "xp":
        return _api._paired_on(np, "cupy", A, B, name, params, 64)
    return paired_distances(A, B, name, backend=backend, **params)


def _knn(X, Y, k, name, backend, **params):
    if backend == "xp":
        return _api._kneighbors_on(np, "cupy", X, Y, name, params, k, Y is None, 64)
    return kneighbors(X, Y, k, name, backend=backend, **params)


def _agree(actual, expected, dtype=np.float64, rtol=None, atol=None):
    """``actual`` is the oracle rounded to ``dtype``: inf exactly where the
    oracle is beyond the dtype's range, close elsewhere."""
    with np.errstate(over="ignore"):
        expected = np.asarray(expected).astype(dtype)
    rtol = RTOL[dtype] if rtol is None else rtol
    finite = np.isfinite(expected)
    assert_array_equal(np.isfinite(actual), finite)
    assert_array_equal(actual[~finite], expected[~finite])
    scale = np.max(np.abs(expected[finite]), initial=0.0)
    if atol is None:
        atol = (1e-13 if dtype == np.float64 else 1e-5) * scale
    assert_allclose(actual[finite], expected[finite], rtol=rtol, atol=atol)


# --- squares, powers and norms beyond the range ----------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("scale", [1e160, 1e200, 1e300, 1e-170, 1e-300])
def test_euclidean_where_squares_overflow_or_underflow(backend, scale):
    # computed plainly, squares overflow beyond ~1.3e154 (NaN and inf,
    # d(x, x) included) and underflow below ~1e-154 (all zeros), though every
    # distance is a normal number
    rng = np.random.default_rng(0)
    X0 = rng.standard_normal((7, 3))
    X = X0 * scale
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        D = _pairwise(X, None, "euclidean", backend)
    _agree(D, exact("euclidean", X, X, {}))
    assert_array_equal(np.diag(D), 0)
    assert_allclose(D / scale, _pairwise(X0, None, "euclidean", backend), rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("scale", [1e200, 1e-200])
def test_kneighbors_at_extreme_scale_ranks_like_the_unscaled_data(backend, scale):
    # computed plainly, NaN distances at 1e200 would keep the heaps from
    # filling and leave the placeholder index 2**63 - 1 in the result
    rng = np.random.default_rng(1)
    X0 = rng.standard_normal((40, 5))
    X = X0 * scale
    for Y, Y0 in [(X, X0), (None, None)]:
        dist, ind = _knn(X, Y, 4, "euclidean", backend)
        dist0, ind0 = _knn(X0, Y0, 4, "euclidean", backend)
        assert ind.min() >= 0 and ind.max() < 40
        assert_array_equal(ind, ind0)
        assert_allclose(dist / scale, dist0, rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("scale", [1e20, 1e35, 1e-20, 1e-35])
def test_float32_where_squares_overflow_or_underflow(backend, scale):
    # float32 squares overflow at ~1.8e19
    rng = np.random.default_rng(2)
    X = (rng.standard_normal((9, 4)) * scale).astype(np.float32)
    for name in ["euclidean", "sqeuclidean", "mahalanobis", "manhattan", "minkowski"]:
        params = (
            {"L": np.eye(4, dtype=np.float32)[:3]}
            if name == "mahalanobis"
            else ({"p": 3} if name == "minkowski" else {})
        )
        with warnings.catch_warnings():
            # sqeuclidean of 1e20 values is beyond float32's range: inf
            warnings.simplefilter("ignore", RuntimeWarning)
            D = _pairwise(X, None, name, backend, **params)
        assert D.dtype == np.float32
        _agree(D, exact(name, X, X, params), np.float32)
    dist, ind = _knn(X, None, 3, "euclidean", backend)
    ref = exact("euclidean", X, X, {})
    np.fill_diagonal(ref, np.inf)
    assert_array_equal(ind, np.argsort(ref, axis=1, kind="stable")[:, :3])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "dtype, scale, p",
    [
        (np.float64, 10.0, 400),
        (np.float64, 0.01, 400),
        (np.float64, 1.0, 1e6),
        (np.float64, 1e-200, 2),
        (np.float64, 1e-120, 3),
        (np.float64, 1e300, 2.5),
        (np.float32, 1e6, 7),
        (np.float32, 1e-6, 7),
        (np.float32, 1.0, 200),
    ],
)
def test_minkowski_powers_neither_overflow_nor_underflow(backend, dtype, scale, p):
    # 10**400 overflows float64 and 0.01**400 underflows; float32 overflows at
    # (1e6)**7: such pairs are recomputed from differences divided by the largest
    rng = np.random.default_rng(3)
    X = (rng.standard_normal((6, 5)) * scale).astype(dtype)
    Y = (rng.standard_normal((4, 5)) * scale).astype(dtype)
    _agree(_pairwise(X, Y, "minkowski", backend, p=p), exact("minkowski", X, Y, {"p": p}), dtype)
    _agree(
        _paired(X[:4], Y, "minkowski", backend, p=p),
        exact("minkowski", X[:4], Y, {"p": p}, paired=True),
        dtype,
    )
    assert_array_equal(np.diag(_pairwise(X, None, "minkowski", backend, p=p)), 0)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "dtype, norms",
    [
        (np.float64, [1e200, 1e-170, 1e-320, 1.0, 1e300, 1e-300]),
        (np.float32, [1e30, 1e-30, 1e-40, 1.0, 1e38, 1e-38]),
    ],
)
def test_cosine_of_rows_of_any_norm(backend, dtype, norms):
    # squared norms overflow or underflow here (computed plainly, every
    # distance would be 1, d(x, x) included); rows of all these norms together
    rng = np.random.default_rng(4)
    X0 = rng.standard_normal((6, 3))
    X = (X0 * np.array(norms)[:, None]).astype(dtype)
    atol = 1e-15 if dtype == np.float64 else 1e-6
    # a subnormal row (the third) carries few digits of X0's direction: the
    # other rows are X0's up to rounding
    normal = np.array([0, 1, 3, 4, 5])
    for name in ["cosine", "cosine_similarity"]:
        D = _pairwise(X, None, name, backend)
        _agree(D, exact(name, X, X, {}), dtype, atol=atol)
        _agree(
            D[np.ix_(normal, normal)], exact(name, X0[normal], X0[normal], {}), dtype, atol=atol
        )
        _agree(
            _paired(X, X[::-1].copy(), name, backend),
            exact(name, X, X[::-1], {}, paired=True),
            dtype,
            atol=atol,
        )
    assert_array_equal(np.diag(_pairwise(X, None, "cosine", backend)), 0)
    _, ind = _knn(X[normal], None, 2, "cosine", backend)
    _, ind0 = _knn(X0[normal], None, 2, "cosine", backend)
    assert_array_equal(ind, ind0)


@pytest.mark.parametrize("function", ["pairwise", "paired", "kneighbors"])
@pytest.mark.parametrize("fmt", ["csr_matrix", "csr_array", "coo_matrix"])
def test_sparse_input_is_refused_with_a_clear_message(function, fmt):
    # refused up front, not deep inside NumPy ("setting an array element with a
    # sequence")
    dense = np.eye(4)
    sparse = getattr(scipy.sparse, fmt)(dense)
    call = {
        "pairwise": lambda a, b: pairwise_distances(a, b),
        "paired": lambda a, b: paired_distances(a, b),
        "kneighbors": lambda a, b: kneighbors(a, b, 2),
    }[function]
    first, second = ("A", "B") if function == "paired" else ("X", "Y")
    message = (
        f"{first} must be a dense array; sparse input is not supported "
        rf"\(convert it with {first}.toarray"
    )
    with pytest.raises(TypeError, match=message):
        call(sparse, dense)
    with pytest.raises(TypeError, match=f"{second} must be a dense array"):
        call(dense, sparse)


# --- results beyond the range --------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_results_beyond_the_range_are_inf_with_a_warning(backend):
    # sqeuclidean of points ~1e200 apart is ~1e400: not representable
    rng = np.random.default_rng(5)
    X0 = rng.standard_normal((8, 3))
    X = X0 * 1e200
    with pytest.warns(RuntimeWarning, match="exceed the largest float64"):
        D = _pairwise(X, None, "sqeuclidean", backend)
    assert np.all(np.isinf(D[~np.eye(8, dtype=bool)])) and np.all(np.diag(D) == 0)
    # representable ones are computed, without a warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        D = _pairwise(X0 * 1e150, None, "sqeuclidean", backend)
    _agree(D, exact("sqeuclidean", X0 * 1e150, X0 * 1e150, {}))
    # k-NN ranks on the rescaled data: the order of the infinite distances
    # is still the true one
    with pytest.warns(RuntimeWarning, match="exceed the largest"):
        dist, ind = _knn(X, None, 3, "sqeuclidean", backend)
    assert_array_equal(ind, _knn(X0, None, 3, "sqeuclidean", backend)[1])
    assert np.all(np.isinf(dist))


@pytest.mark.parametrize("backend", BACKENDS)
def test_values_reaching_the_top_of_the_range(backend):
    # differences, sums and x + y themselves overflow here
    X = np.array([[1.7e308, 0.0], [-1.7e308, 0.0], [1e308, 1e308], [0.0, 1e-300]])
    for name in ["euclidean", "manhattan", "chebyshev", "minkowski"]:
        params = {"p": 3} if name == "minkowski" else {}
        with pytest.warns(RuntimeWarning, match="exceed the largest"):
            D = _pairwise(X, None, name, backend, **params)
        _agree(D, exact(name, X, X, params))
    H = np.abs(X)
    with pytest.warns(RuntimeWarning, match="exceed the largest"):
        _agree(_pairwise(H, None, "chi2", backend), exact("chi2", H, H, {}))


# --- parameters and the histogram metrics ---------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "x_scale, key, m_scale",
    [
        (1.0, "M", 1e300),
        (1.0, "M", 1e-300),
        (1.0, "L", 1e200),
        (1e-200, "L", 1e-200),
        (1e-200, "L", 1e200),
        (1e200, "L", 1.0),
        (1e200, "M", 1e-250),
    ],
)
def test_mahalanobis_with_extreme_data_or_matrix(backend, x_scale, key, m_scale):
    rng = np.random.default_rng(6)
    X = rng.standard_normal((7, 4)) * x_scale
    Y = rng.standard_normal((5, 4)) * x_scale
    A = rng.standard_normal((4, 4))
    matrix = (A @ A.T + np.eye(4) if key == "M" else A[:3]) * m_scale
    params = {key: matrix}
    ref = exact("mahalanobis", X, Y, params)
    _agree(_pairwise(X, Y, "mahalanobis", backend, **params), ref)
    _agree(
        _paired(X[:5], Y, "mahalanobis", backend, **params),
        exact("mahalanobis", X[:5], Y, params, paired=True),
    )
    dist, ind = _knn(X, Y, 3, "mahalanobis", backend, **params)
    _agree(dist, np.sort(ref, axis=1)[:, :3])
    # ranked by the true distances, also where they underflow float64 (1e-400
    # at 1e-200 x 1e-200): the order of the unscaled problem
    unscaled = exact("mahalanobis", X / x_scale, Y / x_scale, {key: matrix / m_scale})
    assert_array_equal(ind, np.argsort(unscaled, axis=1, kind="stable")[:, :3])


def test_mahalanobis_M_checks_still_apply_at_extreme_scale():
    X = np.ones((3, 2))
    with pytest.raises(ValueError, match=r"smallest eigenvalue is -1e\+300"):
        pairwise_distances(X, metric="mahalanobis", M=np.diag([1e300, -1e300]))
    with pytest.raises(ValueError, match="M .*symmetric"):
        pairwise_distances(X, metric="mahalanobis", M=np.array([[1e-300, 1e-300], [0, 1e-300]]))


@pytest.mark.parametrize("backend", BACKENDS)
def test_bilinear_scales_data_and_matrix_each_on_its_own(backend):
    # X @ M @ Y.T with X ~ 1e200, Y ~ 1e-200 and M ~ 1e100: each factor
    # overflows or underflows the products, the result is ~1e100
    rng = np.random.default_rng(7)
    X = rng.standard_normal((5, 3)) * 1e200
    Y = rng.standard_normal((4, 3)) * 1e-200
    M = rng.standard_normal((3, 3)) * 1e100
    _agree(_pairwise(X, Y, "bilinear", backend, M=M), exact("bilinear", X, Y, {"M": M}), rtol=1e-9)
    _agree(
        _paired(X[:4], Y, "bilinear", backend, M=M),
        exact("bilinear", X[:4], Y, {"M": M}, paired=True),
        rtol=1e-9,
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "name, scale",
    [
        ("chi2", 1e308 / 4),
        ("chi2", 1e-310),
        ("jensen_shannon", 1e308 / 4),
        ("jensen_shannon", 1e-320),
        ("kl", 1e300),
        ("kl", 1e305),
        ("kl", 1e-300),
    ],
)
def test_histogram_metrics_at_extreme_scale(backend, name, scale):
    # chi2: (x - y)**2 and x + y overflow; jensen_shannon: row sums overflow;
    # kl at 1e300: p / q overflows where the smoothed q = eps / sum is subnormal
    rng = np.random.default_rng(8)
    H = rng.random((6, 5)) * 3
    H[H < 0.6] = 0
    H[:, 0] += 0.1
    X = H * scale
    rtol = 1e-4 if scale < 1e-305 else 1e-9  # subnormal inputs carry few digits
    _agree(_pairwise(X, X[:4], name, backend), exact(name, X, X[:4], {}), rtol=rtol)
    _agree(
        _paired(X[:4], X[2:], name, backend), exact(name, X[:4], X[2:], {}, paired=True), rtol=rtol
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_kl_refuses_an_eps_that_underflows_beside_the_sums(backend):
    H = np.array([[1e305, 0.0, 1e305], [1e305, 1e305, 0.0]])
    with pytest.raises(ValueError, match="kl.*eps=1e-30.*underflows to zero"):
        _pairwise(H, None, "kl", backend, eps=1e-30)
    # the same histograms with a larger eps are fine
    _agree(
        _pairwise(H, None, "kl", backend, eps=1e-10), exact("kl", H, H, {"eps": 1e-10}), rtol=1e-9
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_hamming_at_extreme_values(backend):
    X = np.array([[1e308, 5e-324, 0.0], [1e308, 0.0, 0.0], [-1e308, 5e-324, 1e-300]])
    assert_allclose(_pairwise(X, None, "hamming", backend), exact("hamming", X, X, {}))


# --- every metric over the whole range --------------------------------------------


def _scaled_data(name, dtype, scale, rng):
    metric = METRICS[name]
    X, Y = make_data(metric, 6, 5, 4, rng)
    return (X * scale).astype(dtype), (Y * scale).astype(dtype)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", METRIC_NAMES)
def test_every_metric_over_the_float64_range(name, backend):
    rng = np.random.default_rng(9)
    params = make_params(name, 4, rng)
    for scale in [1e-300, 1e-200, 1e-100, 1e100, 1e200, 1e300]:
        X, Y = _scaled_data(name, np.float64, scale, rng)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # inf beyond the range
            D = _pairwise(X, Y, name, backend, **params)
            P = _paired(X[:5], Y, name, backend, **params)
        _agree(D, exact(name, X, Y, params), rtol=1e-9)
        _agree(P, exact(name, X[:5], Y, params, paired=True), rtol=1e-9)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", METRIC_NAMES)
def test_every_metric_over_the_float32_range(name, backend):
    rng = np.random.default_rng(10)
    params = make_params(name, 4, rng)
    # float32's range is about 1e-38 (1e-45 subnormal) to 3.4e38
    for scale in [1e-35, 1e-20, 1e-10, 1e10, 1e20, 1e37]:
        X, Y = _scaled_data(name, np.float32, scale, rng)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            D = _pairwise(X, Y, name, backend, **params)
        assert D.dtype == np.float32
        # kl near zero has float32's absolute accuracy, whatever the scale
        atol = 1e-6 if name == "kl" else None
        _agree(D, exact(name, X, Y, params), np.float32, atol=atol)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("scale", [1e300, 1e-300, 1e150, 1e-160])
def test_duplicates_and_near_duplicates_at_extreme_scale(backend, scale):
    # exact copies come out exactly 0 and pairs 1e-9 apart (relative) keep
    # full accuracy, on the product path (cancellation) and the direct one
    rng = np.random.default_rng(11)
    base = rng.standard_normal((5, 4)) + 2.0
    X = np.vstack([base, base[:3], base + 1e-9 * rng.standard_normal((5, 4))]) * scale
    L = rng.standard_normal((3, 4))
    cases = [
        ("euclidean", {}),
        ("sqeuclidean", {}),
        ("mahalanobis", {"L": L}),
        ("manhattan", {}),
        ("minkowski", {"p": 3}),
        ("chebyshev", {}),
    ]
    for name, params in cases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            D = _pairwise(X, None, name, backend, **params)
        E = exact(name, X, X, params)
        _agree(D, E, atol=0)
        assert_array_equal(D[E == 0], 0)
    D = _pairwise(X, None, "cosine", backend)
    _agree(D, exact("cosine", X, X, {}), atol=1e-15)
    assert_array_equal(np.diag(D), 0)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "dtype, largest, relative",
    [
        (np.float64, 1e-90, 1e-45),
        (np.float64, 1e200, 1e-45),
        (np.float64, 1.0, 1e-45),
        (np.float32, 1e-6, 1e-7),
        (np.float32, 1e25, 1e-7),
    ],
)
def test_small_distances_beside_a_large_entry(backend, dtype, largest, relative):
    # one scale for all points: distances down to the documented fraction of
    # the largest entry keep their digits, whether or not the data are rescaled
    X = np.array(
        [
            [largest, 0.0],
            [0.0, 0.0],
            [0.0, largest * relative],
            [largest * relative, largest * relative],
        ],
        dtype=dtype,
    )
    for name, params in [
        ("euclidean", {}),
        ("sqeuclidean", {}),
        ("mahalanobis", {"L": np.array([[1.0, 2.0], [0.0, 3.0]])}),
    ]:
        with warnings.catch_warnings():
            # float32 sqeuclidean of 1e25 is beyond the range: inf
            warnings.simplefilter("ignore", RuntimeWarning)
            D = _pairwise(X, None, name, backend, **params)
        _agree(D, exact(name, X, X, params), dtype, atol=0)


# --- what stays as it was --------------------------------------------------------


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_rescaled_inputs_are_not_modified(backend):
    rng = np.random.default_rng(12)
    X = rng.standard_normal((6, 3)) * 1e250
    Y = rng.standard_normal((4, 3)) * 1e-250
    L = rng.standard_normal((2, 3)) * 1e200
    copies = [X.copy(), Y.copy(), L.copy()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for name in METRIC_NAMES:
            params = (
                {"L": L}
                if name == "mahalanobis"
                else ({"M": np.eye(3)} if name == "bilinear" else {})
            )
            A, B = (np.abs(X), np.abs(Y)) if METRICS[name].histogram else (X, Y)
            pairwise_distances(A, B, name, backend=backend, **params)
            paired_distances(A[:4], B, name, backend=backend, **params)
            kneighbors(A, B, 2, name, backend=backend, **params)
    for before, after in zip(copies, [X, Y, L]):
        assert_array_equal(before, after)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_ordinary_inputs_are_used_as_given(dtype):
    # no copy and no power of two for data of ordinary magnitude: the fast
    # path is the one it was
    rng = np.random.default_rng(13)
    for scale in [1e-5, 1.0, 1e8] if dtype == np.float32 else [1e-80, 1.0, 1e80]:
        X = (rng.standard_normal((20, 5)) * scale).astype(dtype)
        Y = (rng.standard_normal((10, 5)) * scale).astype(dtype)
        for name in ["euclidean", "manhattan", "minkowski"]:
            params = {"p": 3} if name == "minkowski" else {}
            entry, Xp, Yp, same, p, exponent = _api._prepare(X, Y, name, params)
            assert Xp is X and Yp is Y and exponent == 0
    # beyond the band, both inputs are rescaled together
    big = np.asarray(1e200 if dtype == np.float64 else 1e25, dtype=dtype)
    X = rng.standard_normal((20, 5)).astype(dtype)
    entry, Xp, Yp, same, p, exponent = _api._prepare(X * big, X, "euclidean", {})
    assert 0.5 <= np.max(np.abs(np.vstack([Xp, Yp]))) < 1
    assert_array_equal(np.ldexp(Xp, exponent), X * big)


# --- properties: the scale sweep ---------------------------------------------------

SWEEP = settings(max_examples=8, deadline=None, derandomize=True)
PROPERTY_BACKENDS = ["numpy", "numba"]
# magnitudes 1e-3..10 (or 0): scaled by 1e-150..1e150 they stay far from
# underflow, so c * X is X up to one rounding per entry
_SIGNED = st.one_of(st.just(0.0), st.floats(1e-3, 10), st.floats(-10, -1e-3))
_POSITIVE = st.one_of(st.just(0.0), st.floats(1e-3, 10))


def _property_params(name, d, c=1.0):
    """Parameters of the sweep at scale ``c``; kl's ``eps`` scales with the
    data, which makes kl scale-invariant too."""
    rng = np.random.default_rng(0)
    if name == "kl":
        return {"eps": 1e-3 * c}
    if name == "minkowski":
        return {"p": 3.5}
    if name == "mahalanobis":
        return {"L": rng.standard_normal((max(d - 1, 1), d))}
    if name == "bilinear":
        return {"M": rng.standard_normal((d, d))}
    return {}


def _points(metric, n):
    elements = _POSITIVE if metric.histogram else _SIGNED
    points = st.integers(1, 4).flatmap(lambda d: arrays(np.float64, (n, d), elements=elements))
    if metric.histogram:
        # positive row sums, as jensen_shannon needs
        points = points.map(lambda a: a + np.eye(a.shape[0], a.shape[1]) + (a.shape[1] < n))
    return points


def _sweep_tolerance(ref):
    return 1e-9 * max(np.max(np.abs(ref)), 1e-300)


@pytest.mark.parametrize("backend", PROPERTY_BACKENDS)
@pytest.mark.parametrize("name", METRIC_NAMES)
def test_scale_sweep_property(name, backend):
    metric = METRICS[name]

    @SWEEP
    @given(_points(metric, 4), st.integers(-150, 150))
    def check(P, exponent):
        c = 10.0**exponent
        X = P * c
        params = _property_params(name, P.shape[1], c)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            D = pairwise_distances(X, metric=name, backend=backend, **params)
            pd = paired_distances(X, X[::-1].copy(), metric=name, backend=backend, **params)
        ref = exact(name, X, X, params)
        # finite where the oracle is, and close to it
        assert_array_equal(np.isfinite(D), np.isfinite(ref))
        assert_allclose(D, ref, rtol=1e-9, atol=_sweep_tolerance(ref))
        assert_allclose(
            pd, exact(name, X, X[::-1], params, paired=True), rtol=1e-9, atol=_sweep_tolerance(ref)
        )
        D1 = pairwise_distances(
            P, metric=name, backend=backend, **_property_params(name, P.shape[1])
        )
        if metric.degree:
            # homogeneous: c**k times the distances of the unscaled points
            factor = c**metric.degree
            assert_allclose(D / factor, D1, rtol=1e-9, atol=_sweep_tolerance(D1))
        else:  # scale-invariant (kl with its eps scaled too)
            assert_allclose(D, D1, rtol=1e-9, atol=1e-12)
        zero_row = np.any(np.all(P == 0, axis=1))  # cosine: distance 1 to itself
        if not metric.similarity and not (name == "cosine" and zero_row):
            assert_array_equal(np.diag(D), 0)

    check()


@pytest.mark.parametrize("backend", PROPERTY_BACKENDS)
@pytest.mark.parametrize("name", METRIC_NAMES)
def test_kneighbors_scale_sweep_property(name, backend):
    # continuous random data have no ties (hamming: every distance 1, a tie
    # broken by index whatever the scale)
    metric = METRICS[name]

    @SWEEP
    @given(st.integers(0, 2**32 - 1), st.integers(-150, 150))
    def check(seed, exponent):
        rng = np.random.default_rng(seed)
        P, _ = make_data(metric, 12, 1, 3, rng)
        c = 10.0**exponent
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            dist, ind = kneighbors(
                P * c, n_neighbors=4, metric=name, backend=backend, **_property_params(name, 3, c)
            )
        assert ind.min() >= 0 and ind.max() < 12
        dist1, ind1 = kneighbors(
            P, n_neighbors=4, metric=name, backend=backend, **_property_params(name, 3)
        )
        assert_array_equal(ind, ind1)
        factor = c ** (metric.degree or 0)
        assert_allclose(dist / factor, dist1, rtol=1e-9, atol=_sweep_tolerance(dist1))

    check()


@pytest.mark.parametrize("backend", PROPERTY_BACKENDS)
@pytest.mark.parametrize(
    "name", ["euclidean", "sqeuclidean", "mahalanobis", "cosine", "minkowski", "manhattan"]
)
def test_duplicates_scale_sweep_property(name, backend):
    # rows 0..2 and their exact copies, and copies moved by a relative 10**-r
    @SWEEP
    @given(
        arrays(np.float64, (3, 3), elements=_SIGNED), st.integers(-150, 150), st.integers(3, 12)
    )
    def check(P, exponent, r):
        rng = np.random.default_rng(r)
        base = P + 1.0  # away from the origin, where the product form cancels
        X = np.vstack([base, base, base * (1 + 10.0**-r * rng.standard_normal((3, 3)))])
        X *= 10.0**exponent
        params = _property_params(name, 3)
        D = pairwise_distances(X, metric=name, backend=backend, **params)
        ref = exact(name, X, X, params)
        assert_array_equal(D[ref == 0], 0)
        # 1 - cos of nearly parallel rows is known to ~1e-16 absolute
        atol = 1e-15 if name == "cosine" else 0
        assert_allclose(D, ref, rtol=1e-9, atol=atol)

    check()
