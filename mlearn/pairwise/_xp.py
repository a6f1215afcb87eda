"""Array-namespace backend (``backend="cupy"``), written against a module ``xp``.

With ``xp = cupy`` the matrix-product metrics (euclidean, sqeuclidean,
mahalanobis, cosine, bilinear) run as cuBLAS products followed by elementwise
finishing, and the other metrics run in one CUDA kernel (``_DIRECT_SOURCE``).
With ``xp = numpy`` the same code runs on the CPU, which is how the test-suite
checks its logic on machines without a GPU; the direct metrics then use
broadcasting over tiles bounded by ``working_memory``. ``pairwise``,
``paired`` and ``kneighbors`` are the backend's entry points (see
``_backends``).
"""

import numpy as np

from ._chunking import chunk_rows, slices
from ._codes import (
    CHEBYSHEV,
    CHI2,
    CLIP,
    COSINE,
    DIRECT_CODES,
    EUCLIDEAN,
    HAMMING,
    JENSEN_SHANNON,
    KL,
    MANHATTAN,
    MINKOWSKI,
    RAW,
    ROOT,
    SQEUCLIDEAN,
    SQUARED,
)
from ._limits import POWER_SUM_LOW
from ._operands import gemm_operands


def _exact_sq(xp, RX, RY, L):
    diff = RX - RY
    if L.shape[0]:
        diff = diff @ L.T
    return xp.sum(diff * diff, axis=1)


# d² = ‖x‖² + ‖y‖² − 2 x·y, its square root, and the flag of the pairs whose
# product form lost too much to cancellation, in one pass over the block.
_FINISH_SOURCE = """
T s = x + y;
T d2 = s - 2 * g;
flag = d2 <= tau * s;
d = root ? sqrt(d2 > 0 ? d2 : (T)0) : d2;
"""

_finish_kernel = []


def _fused_finish(cupy, G, ops, rows, cols, working_memory, out):
    """The GPU's finish of euclidean, sqeuclidean and mahalanobis blocks.

    One elementwise kernel writes the distances straight into ``out`` and
    flags the cancellation-prone pairs, which are then recomputed by
    difference; the generic path below makes five passes over the block.
    """
    if not _finish_kernel:
        _finish_kernel.append(
            cupy.ElementwiseKernel(
                "T g, T x, T y, T tau, bool root",
                "T d, bool flag",
                _FINISH_SOURCE,
                "mlearn_finish_sq",
            )
        )
    root = ops.mode == ROOT
    d = cupy.empty_like(G) if out is None else out
    flagged = cupy.empty(G.shape, dtype=bool)
    _finish_kernel[0](
        G,
        ops.xx[rows][:, None],
        ops.yy[cols][None, :],
        G.dtype.type(ops.tau),
        bool(root),
        d,
        flagged,
    )
    ii, jj = cupy.nonzero(flagged)
    if ii.shape[0]:
        RX, RY = ops.RX[rows], ops.RY[cols]
        per_pair = 3 * RX.shape[1] * RX.dtype.itemsize
        size = chunk_rows(ii.shape[0], per_pair, working_memory)
        for part in slices(ii.shape[0], size):
            exact = _exact_sq(cupy, RX[ii[part]], RY[jj[part]], ops.L)
            d[ii[part], jj[part]] = cupy.sqrt(exact) if root else exact
    return d


def _finish(xp, G, ops, rows, cols, working_memory, out=None):
    """Distances from the block ``G = A[rows] @ B[cols].T`` (see _numba.finish_gemm).

    With ``out`` (on the GPU, for euclidean, sqeuclidean and mahalanobis)
    the distances are written there; the caller copies any other result.
    """
    if ops.mode == RAW:
        return G
    if xp.__name__ == "cupy" and ops.mode in (SQUARED, ROOT):
        return _fused_finish(xp, G, ops, rows, cols, working_memory, out)
    if ops.mode == CLIP:
        return xp.clip(G, -1, 1)
    xx = ops.xx[rows][:, None]
    yy = ops.yy[cols][None, :]
    s = xx + yy
    d2 = s - 2 * G
    flagged = d2 <= ops.tau * s
    if ops.mode == COSINE:
        zero = (xx == 0) | (yy == 0)
        flagged = flagged & ~zero
    ii, jj = xp.nonzero(flagged)
    if ii.shape[0]:
        RX, RY = ops.RX[rows], ops.RY[cols]
        per_pair = 3 * RX.shape[1] * RX.dtype.itemsize
        for part in slices(ii.shape[0], chunk_rows(ii.shape[0], per_pair, working_memory)):
            d2[ii[part], jj[part]] = _exact_sq(xp, RX[ii[part]], RY[jj[part]], ops.L)
    if ops.mode == SQUARED:
        return d2
    if ops.mode == ROOT:
        return xp.sqrt(d2)
    return xp.where(zero, xp.ones_like(d2), d2 / 2)


def _power_root(xp, code, x, y, p):
    """Euclidean (``code`` EUCLIDEAN) or minkowski distances of broadcast rows.

    Pairs whose sum of powers overflowed, or is small enough to have lost
    terms to underflow, are recomputed with each difference divided by the
    pair's largest (see ``_numba._scaled_root``).
    """
    diff = xp.abs(x - y)
    with np.errstate(over="ignore"):
        sums = xp.sum(diff * diff if code == EUCLIDEAN else diff**p, axis=-1)
    out = xp.sqrt(sums) if code == EUCLIDEAN else sums ** (1 / p)
    extreme = ~((sums >= POWER_SUM_LOW[sums.dtype.itemsize]) & (sums < np.inf))
    if bool(xp.any(extreme)):
        flagged = xp.broadcast_to(diff, extreme.shape + diff.shape[-1:])[extreme]
        largest = xp.max(flagged, axis=-1)
        ratio = flagged / xp.where(largest > 0, largest, xp.ones_like(largest))[:, None]
        sums = xp.sum(ratio * ratio if code == EUCLIDEAN else ratio**p, axis=-1)
        root = xp.sqrt(sums) if code == EUCLIDEAN else sums ** (1 / p)
        out[extreme] = largest * root
    return out


def _log_ratio(xp, a, b):
    """``log(a / b)``; where the ratio overflows (``b`` subnormal), the
    difference of the logarithms."""
    with np.errstate(over="ignore"):
        ratio = a / b
    overflowed = xp.isinf(ratio)
    if bool(xp.any(overflowed)):
        return xp.where(overflowed, xp.log(a) - xp.log(b), xp.log(ratio))
    return xp.log(ratio)


def _direct_values(xp, code, x, y, p):
    """Direct metrics of broadcast rows ``x``, ``y``, reduced over the last axis."""
    if code == SQEUCLIDEAN:
        diff = x - y
        return xp.sum(diff * diff, axis=-1)
    if code in (EUCLIDEAN, MINKOWSKI):
        return _power_root(xp, code, x, y, p)
    if code == MANHATTAN:
        return xp.sum(xp.abs(x - y), axis=-1)
    if code == CHEBYSHEV:
        return xp.max(xp.abs(x - y), axis=-1)
    if code == HAMMING:
        return xp.mean((x != y).astype(x.dtype), axis=-1)
    if code == CHI2:
        total = x + y
        safe = xp.where(total > 0, total, xp.ones_like(total))
        diff = x - y
        # diff * (diff / total), as |diff| <= total: no square to overflow
        return xp.sum(xp.where(total > 0, diff * (diff / safe), 0 * total), axis=-1)
    if code == KL:
        # rows arrive normalised and strictly positive (see direct_operands)
        return xp.sum(x * _log_ratio(xp, x, y), axis=-1)
    if code == JENSEN_SHANNON:
        mid = (x + y) / 2
        safe_mid = xp.where(mid > 0, mid, xp.ones_like(mid))
        left = xp.where(x > 0, x * xp.log(xp.where(x > 0, x, 1 + 0 * x) / safe_mid), 0 * mid)
        right = xp.where(y > 0, y * xp.log(xp.where(y > 0, y, 1 + 0 * y) / safe_mid), 0 * mid)
        return xp.sqrt(xp.maximum(xp.sum(left + right, axis=-1) / 2, 0))
    raise ValueError(f"unknown direct metric code {code}")


# One thread per output entry; T is defined as float or double, and the codes
# of the direct metrics (``_codes``), before compiling. Euclidean and minkowski
# sums that overflowed or fell below ``low`` are recomputed with each
# difference divided by the pair's largest, as in
# ``_numba._scaled_root``; an infinite kl (a ratio p / q that overflowed, for a
# subnormal q) is recomputed as in ``_numba._kl_guarded``.
_DIRECT_SOURCE = r"""
extern "C" __global__ void direct_pairwise(
    const T* X, const T* Y, T* out, long n, long m, long d,
    int code, T p, T inv_p, T low, int paired)
{
    long j = blockIdx.x * (long)blockDim.x + threadIdx.x;
    long i = blockIdx.y * (long)blockDim.y + threadIdx.y;
    if (paired) { i = j; if (i >= n) return; }
    else if (i >= n || j >= m) return;
    const T* x = X + i * d;
    const T* y = Y + j * d;
    T acc = 0;
    for (long k = 0; k < d; ++k) {
        T a = x[k], b = y[k], t = a - b;
        switch (code) {
        case SQEUCLIDEAN: case EUCLIDEAN: acc += t * t; break;
        case MANHATTAN: acc += fabs(t); break;
        case CHEBYSHEV: acc = fmax(acc, fabs(t)); break;
        case MINKOWSKI: acc += pow(fabs(t), p); break;
        case HAMMING: acc += (a != b); break;
        case CHI2: if (a + b > 0) acc += t * (t / (a + b)); break;
        case KL: if (a > 0) acc += a * log(a / b); break;
        default: {  /* JENSEN_SHANNON */
            T mid = (a + b) / 2;
            if (a > 0) acc += a * log(a / mid);
            if (b > 0) acc += b * log(b / mid);
        }
        }
    }
    if ((code == EUCLIDEAN || code == MINKOWSKI) && !(acc >= low && isfinite(acc))) {
        T big = 0;
        for (long k = 0; k < d; ++k) big = fmax(big, fabs(x[k] - y[k]));
        if (big > 0 && isfinite(big)) {
            T s = 0;
            for (long k = 0; k < d; ++k) {
                T r = fabs(x[k] - y[k]) / big;
                s += code == EUCLIDEAN ? r * r : pow(r, p);
            }
            acc = big * (code == EUCLIDEAN ? sqrt(s) : pow(s, inv_p));
        } else acc = big;
    }
    else if (code == KL && isinf(acc)) {
        acc = 0;
        for (long k = 0; k < d; ++k) {
            T a = x[k], b = y[k], r = a / b;
            if (a > 0) acc += a * (isinf(r) ? log(a) - log(b) : log(r));
        }
    }
    else if (code == EUCLIDEAN) acc = sqrt(acc);
    else if (code == MINKOWSKI) acc = pow(acc, inv_p);
    else if (code == HAMMING) acc = acc / d;
    else if (code == JENSEN_SHANNON) acc = sqrt(fmax(acc / 2, (T)0));
    out[paired ? i : i * m + j] = acc;
}
"""

_kernels = {}


def direct_source(ctype):
    """The CUDA source of the direct kernel for C type ``ctype``."""
    defines = "".join(f"#define {name} {code}\n" for name, code in DIRECT_CODES.items())
    return f"typedef {ctype} T;\n" + defines + _DIRECT_SOURCE


def _cuda_direct(cupy, code, X, Y, p, paired):
    ctype = "double" if X.dtype == np.float64 else "float"
    if ctype not in _kernels:
        _kernels[ctype] = cupy.RawKernel(direct_source(ctype), "direct_pairwise")
    kernel = _kernels[ctype]
    X = cupy.ascontiguousarray(X)
    Y = cupy.ascontiguousarray(Y)
    n, d = X.shape
    m = Y.shape[0]
    scalar = X.dtype.type
    if paired:
        out = cupy.empty(n, dtype=X.dtype)
        grid, block = ((n + 255) // 256, 1), (256, 1)
    else:
        out = cupy.empty((n, m), dtype=X.dtype)
        grid, block = ((m + 31) // 32, (n + 7) // 8), (32, 8)
    args = (
        X,
        Y,
        out,
        np.int64(n),
        np.int64(m),
        np.int64(d),
        np.int32(code),
        scalar(p),
        scalar(1.0 / p),
        scalar(POWER_SUM_LOW[X.dtype.itemsize]),
        np.int32(paired),
    )
    kernel(grid, block, args)
    return out


def _direct_block(xp, code, X, Y, p, working_memory):
    if xp.__name__ == "cupy":
        return _cuda_direct(xp, code, X, Y, p, paired=False)
    out = xp.empty((X.shape[0], Y.shape[0]), dtype=X.dtype)
    per_row = 4 * Y.shape[0] * X.shape[1] * X.dtype.itemsize
    for rows in slices(X.shape[0], chunk_rows(X.shape[0], per_row, working_memory)):
        out[rows] = _direct_values(xp, code, X[rows][:, None, :], Y[None, :, :], p)
    return out


def _block_function(xp, metric, X, Y, params, same, working_memory, squared=False, centre=None):
    """A function ``rows -> distances of X[rows] against every row of Y``
    (``centre``: see ``_operands.gemm_operands``)."""
    if metric.gemm:
        ops = gemm_operands(xp, metric, X, Y, params, same, squared=squared, centre=centre)
        cols = slice(0, Y.shape[0])

        def block(rows, out=None):
            return _finish(xp, ops.A[rows] @ ops.B.T, ops, rows, cols, working_memory, out)

        return block
    code, Xp, Yp = metric.direct_operands(xp, X, Y, params, same)
    p = params.get("p", 2.0)
    if squared and code == EUCLIDEAN:
        code = SQEUCLIDEAN

    def block(rows, out=None):
        return _direct_block(xp, code, Xp[rows], Yp, p, working_memory)

    return block


def _rows_per_block(X, Y, working_memory):
    return chunk_rows(X.shape[0], 6 * Y.shape[0] * X.dtype.itemsize, working_memory)


def pairwise(xp, metric, X, Y, params, same, working_memory, n_jobs=None, centre=None):
    """The distances (n, m) of X against Y, by blocks of rows (``centre``: see
    ``_operands.gemm_operands``; ``n_jobs`` changes nothing here)."""
    block = _block_function(xp, metric, X, Y, params, same, working_memory, centre=centre)
    out = xp.empty((X.shape[0], Y.shape[0]), dtype=X.dtype)
    for rows in slices(X.shape[0], _rows_per_block(X, Y, working_memory)):
        view = out[rows]
        result = block(rows, view)
        if result is not view:
            view[...] = result
    return out


def paired(xp, metric, A, B, params, working_memory, n_jobs=None):
    """``out[i] = metric(A[i], B[i])`` from explicit differences, in chunks of rows."""
    n_rows = chunk_rows(A.shape[0], 4 * A.shape[1] * A.dtype.itemsize, working_memory)
    out = xp.empty(A.shape[0], dtype=A.dtype)
    for rows in slices(A.shape[0], n_rows):
        out[rows] = _paired_rows(xp, metric, A[rows], B[rows], params)
    return out


def _paired_rows(xp, metric, a, b, params):
    if metric.centred:
        diff = a - b
        if metric.matrix:
            diff = diff @ params[metric.matrix].T
        value = xp.sum(diff * diff, axis=1)
        return value if metric.finish == SQUARED else xp.sqrt(value)
    if metric.finish in (COSINE, CLIP):
        ops_a = gemm_operands(xp, metric, a, a, params, True)
        ops_b = gemm_operands(xp, metric, b, b, params, True)
        ua, ub = ops_a.A, ops_b.A
        if metric.finish == CLIP:
            return xp.clip(xp.sum(ua * ub, axis=1), -1, 1)
        diff = ua - ub
        zero = (ops_a.xx == 0) | (ops_b.xx == 0)
        half = xp.sum(diff * diff, axis=1) / 2
        return xp.where(zero, xp.ones_like(half), half)
    if metric.finish == RAW:
        return xp.sum((a @ params[metric.matrix]) * b, axis=1)
    code, ap, bp = metric.direct_operands(xp, a, b, params, False)
    if xp.__name__ == "cupy":
        return _cuda_direct(xp, code, ap, bp, params.get("p", 2.0), True)
    return _direct_values(xp, code, ap, bp, params.get("p", 2.0))


#: Columns per group in ``smallest_k``: each group gives its row one minimum.
TOPK_GROUP = 256


def smallest_k(xp, values, k, group=None):
    """Columns of the ``k`` smallest entries of each row, sorted (ties by column).

    Sorting whole rows does far more work than ``k`` entries need. Instead
    each row is cut into groups of ``group`` columns and each group's
    minimum taken: the ``k``-th smallest of these minima is at least the
    row's ``k``-th smallest entry (the ``k`` minima are ``k`` entries no
    larger than it), so only the entries at or below it are candidates.
    Those few are sorted by (row, value, column) and the first ``k`` of each
    row kept. Rows too short for ``k`` groups are sorted whole.
    """
    group = TOPK_GROUP if group is None else group
    n_rows, n_cols = values.shape
    full = n_cols // group
    if -(-n_cols // group) <= k:
        return xp.argsort(values, axis=1, kind="stable")[:, :k]
    minima = values[:, : full * group].reshape(n_rows, full, group).min(axis=2)
    if full * group < n_cols:
        rest = values[:, full * group :].min(axis=1)
        minima = xp.concatenate([minima, rest[:, None]], axis=1)
    bound = xp.sort(minima, axis=1)[:, k - 1]
    # candidates come out row by row, columns ascending within a row
    rows, cols = xp.nonzero(values <= bound[:, None])
    by_value = xp.argsort(values[rows, cols], kind="stable")
    order = by_value[xp.argsort(rows[by_value], kind="stable")]
    counts = xp.bincount(rows, minlength=n_rows)
    starts = xp.cumsum(counts) - counts
    picked = order[starts[:, None] + xp.arange(k)[None, :]]
    return cols[picked]


def kneighbors(
    xp,
    metric,
    X,
    Y,
    params,
    same,
    n_neighbors,
    exclude_self,
    working_memory,
    n_jobs=None,
    centre=None,
):
    """Row blocks of distances, each reduced to its k smallest (stable by index)."""
    block = _block_function(
        xp, metric, X, Y, params, same, working_memory, squared=metric.ranks_squared, centre=centre
    )
    n = X.shape[0]
    dist = xp.empty((n, n_neighbors), dtype=X.dtype)
    ind = xp.empty((n, n_neighbors), dtype=xp.int64)
    sign = -1 if metric.similarity else 1
    for rows in slices(n, _rows_per_block(X, Y, working_memory)):
        values = block(rows)
        if sign < 0:
            values = -values
        if exclude_self:
            local = xp.arange(rows.stop - rows.start)
            values[local, local + rows.start] = xp.inf
        order = smallest_k(xp, values, n_neighbors)
        dist[rows] = xp.take_along_axis(values, order, axis=1)
        ind[rows] = order
    if metric.ranks_squared:
        dist = xp.sqrt(dist)
    return sign * dist, ind
