"""Numba kernels: parallel over rows, compiled once and cached on disk.

Kernels trust their inputs: C-contiguous arrays of one floating dtype,
allocated by the caller (``mlearn.pairwise._dispatch``). Accumulation happens
in the input dtype; sums use four independent partial sums, which keeps the
result deterministic while letting the processor overlap the additions.

Every kernel is compared with the NumPy reference (``_numpy.py``) in
``tests/pairwise``.
"""

import contextlib

import numba
import numpy as np
from numba import njit, prange

from ._metrics import (
    CHEBYSHEV,
    CHI2,
    EUCLIDEAN,
    HAMMING,
    JENSEN_SHANNON,
    KL,
    MANHATTAN,
    MINKOWSKI,
    SQEUCLIDEAN,
)

# finish_gemm modes
SQUARED, ROOT, COSINE, CLIP = 0, 1, 2, 3


@njit(cache=True, nogil=True)
def _ipow(t, p_int):
    r = t
    for _ in range(p_int - 1):
        r *= t
    return r


@njit(cache=True, nogil=True)
def _pair_value(X, i, Y, j, code, p, inv_p, p_int):
    """Distance between ``X[i]`` and ``Y[j]`` for the direct metrics."""
    d = X.shape[1]
    zero = X[i, 0] - X[i, 0]
    a0 = zero
    a1 = zero
    a2 = zero
    a3 = zero
    stop = d - d % 4
    if code == SQEUCLIDEAN or code == EUCLIDEAN:
        for k in range(0, stop, 4):
            t0 = X[i, k] - Y[j, k]
            t1 = X[i, k + 1] - Y[j, k + 1]
            t2 = X[i, k + 2] - Y[j, k + 2]
            t3 = X[i, k + 3] - Y[j, k + 3]
            a0 += t0 * t0
            a1 += t1 * t1
            a2 += t2 * t2
            a3 += t3 * t3
        for k in range(stop, d):
            t0 = X[i, k] - Y[j, k]
            a0 += t0 * t0
        s = (a0 + a1) + (a2 + a3)
        if code == EUCLIDEAN:
            return np.sqrt(s)
        return s
    elif code == MANHATTAN:
        for k in range(0, stop, 4):
            a0 += abs(X[i, k] - Y[j, k])
            a1 += abs(X[i, k + 1] - Y[j, k + 1])
            a2 += abs(X[i, k + 2] - Y[j, k + 2])
            a3 += abs(X[i, k + 3] - Y[j, k + 3])
        for k in range(stop, d):
            a0 += abs(X[i, k] - Y[j, k])
        return (a0 + a1) + (a2 + a3)
    elif code == CHEBYSHEV:
        for k in range(0, stop, 4):
            a0 = max(a0, abs(X[i, k] - Y[j, k]))
            a1 = max(a1, abs(X[i, k + 1] - Y[j, k + 1]))
            a2 = max(a2, abs(X[i, k + 2] - Y[j, k + 2]))
            a3 = max(a3, abs(X[i, k + 3] - Y[j, k + 3]))
        for k in range(stop, d):
            a0 = max(a0, abs(X[i, k] - Y[j, k]))
        return max(max(a0, a1), max(a2, a3))
    elif code == MINKOWSKI:
        if p_int > 0:
            for k in range(0, stop, 4):
                a0 += _ipow(abs(X[i, k] - Y[j, k]), p_int)
                a1 += _ipow(abs(X[i, k + 1] - Y[j, k + 1]), p_int)
                a2 += _ipow(abs(X[i, k + 2] - Y[j, k + 2]), p_int)
                a3 += _ipow(abs(X[i, k + 3] - Y[j, k + 3]), p_int)
            for k in range(stop, d):
                a0 += _ipow(abs(X[i, k] - Y[j, k]), p_int)
        else:
            for k in range(0, stop, 4):
                a0 += abs(X[i, k] - Y[j, k]) ** p
                a1 += abs(X[i, k + 1] - Y[j, k + 1]) ** p
                a2 += abs(X[i, k + 2] - Y[j, k + 2]) ** p
                a3 += abs(X[i, k + 3] - Y[j, k + 3]) ** p
            for k in range(stop, d):
                a0 += abs(X[i, k] - Y[j, k]) ** p
        return ((a0 + a1) + (a2 + a3)) ** inv_p
    elif code == HAMMING:
        count = 0
        for k in range(d):
            if X[i, k] != Y[j, k]:
                count += 1
        return count / d
    elif code == CHI2:
        for k in range(0, stop, 4):
            for q in range(4):
                total = X[i, k + q] + Y[j, k + q]
                if total > 0:
                    t = X[i, k + q] - Y[j, k + q]
                    if q == 0:
                        a0 += t * t / total
                    elif q == 1:
                        a1 += t * t / total
                    elif q == 2:
                        a2 += t * t / total
                    else:
                        a3 += t * t / total
        for k in range(stop, d):
            total = X[i, k] + Y[j, k]
            if total > 0:
                t = X[i, k] - Y[j, k]
                a0 += t * t / total
        return (a0 + a1) + (a2 + a3)
    elif code == KL:
        # rows arrive normalised and strictly positive (see prepare_direct)
        for k in range(d):
            if X[i, k] > 0:
                a0 += X[i, k] * np.log(X[i, k] / Y[j, k])
        return a0
    else:  # JENSEN_SHANNON, rows arrive normalised
        for k in range(d):
            pk = X[i, k]
            qk = Y[j, k]
            mk = (pk + qk) * 0.5
            if pk > 0:
                a0 += pk * np.log(pk / mk)
            if qk > 0:
                a0 += qk * np.log(qk / mk)
        return np.sqrt(max(a0 * 0.5, zero))


@njit(cache=True, nogil=True, parallel=True)
def pairwise_direct(X, Y, code, p, inv_p, p_int, out):
    """``out[i, j] = metric(X[i], Y[j])`` for the direct (non-GEMM) metrics."""
    for i in prange(X.shape[0]):
        for j in range(Y.shape[0]):
            out[i, j] = _pair_value(X, i, Y, j, code, p, inv_p, p_int)


@njit(cache=True, nogil=True, parallel=True)
def paired_direct(A, B, code, p, inv_p, p_int, out):
    """``out[i] = metric(A[i], B[i])``."""
    for i in prange(A.shape[0]):
        out[i] = _pair_value(A, i, B, i, code, p, inv_p, p_int)


@njit(cache=True, nogil=True)
def _exact_sq(X, i, Y, j, L):
    """``|L (X[i] - Y[j])|^2`` by explicit difference (identity when L has no rows)."""
    d = X.shape[1]
    acc = X[i, 0] - X[i, 0]
    if L.shape[0] == 0:
        for k in range(d):
            t = X[i, k] - Y[j, k]
            acc += t * t
    else:
        for r in range(L.shape[0]):
            z = acc - acc
            for k in range(d):
                z += L[r, k] * (X[i, k] - Y[j, k])
            acc += z * z
    return acc


@njit(cache=True, nogil=True, parallel=True)
def finish_gemm(G, xx, yy, X, Y, L, tau, mode):
    """Turn ``G = Xc @ Yc.T`` into distances, in place.

    ``xx``/``yy`` hold the squared norms of the rows of the (centred,
    projected) GEMM operands. Where ``d² <= tau (‖x‖² + ‖y‖²)`` the product
    form has cancelled, and the pair is recomputed from ``X``/``Y`` (original
    rows, with ``L`` for mahalanobis) by explicit difference.
    Modes: SQUARED (d²), ROOT (d), COSINE (rows are unit vectors; 1 - cos),
    CLIP (cosine similarity clipped to [-1, 1]).
    """
    n, m = G.shape
    one = tau - tau + 1
    for i in prange(n):
        for j in range(m):
            g = G[i, j]
            if mode == CLIP:
                G[i, j] = min(max(g, -one), one)
                continue
            s = xx[i] + yy[j]
            if mode == COSINE and (xx[i] == 0 or yy[j] == 0):
                G[i, j] = one
                continue
            d2 = s - (g + g)
            if d2 <= tau * s:
                d2 = _exact_sq(X, i, Y, j, L)
            if mode == SQUARED:
                G[i, j] = d2
            elif mode == ROOT:
                G[i, j] = np.sqrt(d2)
            else:
                G[i, j] = d2 * 0.5


@njit(cache=True, nogil=True)
def _heap_replace_top(bd, bi, d, idx):
    """Replace the root of a max-heap ordered by (value, index) and sift down."""
    k = bd.shape[0]
    pos = 0
    while True:
        child = 2 * pos + 1
        if child >= k:
            break
        right = child + 1
        if right < k and (
            bd[right] > bd[child] or (bd[right] == bd[child] and bi[right] > bi[child])
        ):
            child = right
        if bd[child] > d or (bd[child] == d and bi[child] > idx):
            bd[pos] = bd[child]
            bi[pos] = bi[child]
            pos = child
        else:
            break
    bd[pos] = d
    bi[pos] = idx


@njit(cache=True, nogil=True, parallel=True)
def topk_update(D, row0, col0, exclude_self, sign, best_d, best_i):
    """Merge the tile ``sign * D`` (rows ``row0...``, columns ``col0...``) into
    the per-row max-heaps ``best_d``/``best_i`` of the k smallest values."""
    n, m = D.shape
    for i in prange(n):
        bd = best_d[i]
        bi = best_i[i]
        self_col = row0 + i
        for j in range(m):
            idx = col0 + j
            if exclude_self and idx == self_col:
                continue
            d = sign * D[i, j]
            if d < bd[0] or (d == bd[0] and idx < bi[0]):
                _heap_replace_top(bd, bi, d, idx)


@contextlib.contextmanager
def threads(n_jobs):
    """Run Numba's parallel loops on ``n_jobs`` threads (None or -1: all)."""
    if n_jobs is None or n_jobs == -1:
        yield
        return
    previous = numba.get_num_threads()
    numba.set_num_threads(max(1, min(int(n_jobs), numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(previous)


def direct_args(dtype, code, params):
    """Scalar arguments of the direct kernels, typed like the data."""
    p = float(params.get("p", 2.0))
    p_int = int(p) if float(p).is_integer() and p <= 16 else 0
    return (np.int64(code), dtype.type(p), dtype.type(1.0 / p), np.int64(p_int))


# ---------------------------------------------------------------------------
# Drivers: allocate outputs, prepare operands, call the kernels.

#: Rows of the output filled per matrix product: enough for an efficient
#: product, few enough that the finishing pass finds the block in cache.
GEMM_BLOCK_BYTES = 16 * 2**20


def _c(array):
    return np.ascontiguousarray(array)


def pairwise(metric, X, Y, params, same, working_memory, out):
    """Fill ``out`` (n, m) with the distances of X against Y."""
    from ._chunking import chunk_rows, slices
    from ._operands import CLIP, RAW, direct_operands, gemm_operands

    if metric.gemm:
        ops = gemm_operands(np, metric.name, X, Y, params, same)
        A, Bt = _c(ops.A), _c(ops.B).T
        n_rows = chunk_rows(
            X.shape[0], Y.shape[0] * X.itemsize,
            min(working_memory, GEMM_BLOCK_BYTES / 2**20),
        )
        n_rows = max(n_rows, min(64, X.shape[0]))
        for rows in slices(X.shape[0], n_rows):
            block = out[rows]
            np.matmul(A[rows], Bt, out=block)
            if ops.mode == RAW:
                continue
            if ops.mode == CLIP:
                np.clip(block, -1, 1, out=block)
                continue
            finish_gemm(block, _c(ops.xx[rows]), _c(ops.yy), _c(ops.RX[rows]),
                        _c(ops.RY), _c(ops.L), X.dtype.type(ops.tau), ops.mode)
        return out
    code, Xp, Yp = direct_operands(np, metric, X, Y, params, same)
    pairwise_direct(_c(Xp), _c(Yp), *direct_args(X.dtype, code, params), out)
    return out


def paired(metric, A, B, params, out):
    from ._operands import direct_operands

    code, Ap, Bp = direct_operands(np, metric, A, B, params, False)
    paired_direct(_c(Ap), _c(Bp), *direct_args(A.dtype, code, params), out)
    return out


def kneighbors(metric, X, Y, params, same, n_neighbors, exclude_self, working_memory):
    """Top-k per query, streaming (rows, columns) tiles of the distance matrix."""
    from ._chunking import KNN_TILE_COLS, KNN_TILE_ROWS, chunk_rows, slices
    from ._operands import CLIP, RAW, direct_operands, gemm_operands

    n, m = X.shape[0], Y.shape[0]
    dtype = X.dtype
    squared = metric.name in ("euclidean", "mahalanobis")
    if metric.gemm:
        ops = gemm_operands(np, metric.name, X, Y, params, same, squared=squared)
        A, B = _c(ops.A), _c(ops.B)
        xx, yy, RX, RY, L = _c(ops.xx), _c(ops.yy), _c(ops.RX), _c(ops.RY), _c(ops.L)
        tau = dtype.type(ops.tau)
    else:
        code, Xp, Yp = direct_operands(np, metric, X, Y, params, same)
        Xp, Yp = _c(Xp), _c(Yp)
        args = direct_args(dtype, code, params)
        if squared:
            raise AssertionError("euclidean and mahalanobis go through products")

    tile_cols = min(m, KNN_TILE_COLS)
    tile_rows = min(KNN_TILE_ROWS, chunk_rows(n, tile_cols * X.itemsize, working_memory))
    best_d = np.full((n, n_neighbors), np.inf, dtype=dtype)
    best_i = np.full((n, n_neighbors), np.iinfo(np.int64).max, dtype=np.int64)
    sign = dtype.type(-1.0 if metric.similarity else 1.0)
    for rows in slices(n, tile_rows):
        for cols in slices(m, tile_cols):
            if metric.gemm:
                tile = np.matmul(A[rows], B[cols].T)
                if ops.mode == CLIP:
                    np.clip(tile, -1, 1, out=tile)
                elif ops.mode != RAW:
                    finish_gemm(tile, xx[rows], yy[cols], RX[rows], RY[cols], L, tau,
                                ops.mode)
            else:
                tile = np.empty((rows.stop - rows.start, cols.stop - cols.start), dtype)
                pairwise_direct(Xp[rows], Yp[cols], *args, tile)
            topk_update(tile, np.int64(rows.start), np.int64(cols.start),
                        bool(exclude_self), sign, best_d[rows], best_i[rows])
    order = np.lexsort((best_i, best_d), axis=-1)
    best_d = np.take_along_axis(best_d, order, axis=1)
    best_i = np.take_along_axis(best_i, order, axis=1)
    if squared:
        np.sqrt(best_d, out=best_d)
    return sign * best_d, best_i
