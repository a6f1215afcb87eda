"""Numba backend: kernels parallel over rows, compiled once and cached on disk.

Kernels trust their inputs: C-contiguous arrays of one floating dtype,
allocated by the caller (the drivers at the end of this module).
Accumulation happens in the input dtype; sums use four independent partial
sums, which keeps the result deterministic while letting the processor
overlap the additions.

Every kernel is compared with the NumPy reference (``_numpy.py``) in
``tests/pairwise``. ``pairwise``, ``paired`` and ``kneighbors`` are the
backend's entry points (see ``_backends``).
"""

import contextlib
import math
from dataclasses import dataclass

import numba
import numpy as np

from .._blas import blas_threads_for, blas_threads_inside
from .._jit import njit, prange
from . import _chunking, _xp
from ._codes import (
    CHEBYSHEV,
    CHI2,
    CLIP,
    COSINE,
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
from ._host_kernels import product_into
from ._limits import POWER_SUM_LOW
from ._operands import gemm_operands


@njit(cache=True, nogil=True)
def _ipow(t, p_int):
    r = t
    for _ in range(p_int - 1):
        r *= t
    return r


@njit(cache=True, nogil=True)
def _scaled_root(x, y, code, p, inv_p, p_int):
    """``(sum_k |x_k - y_k|**p)**(1/p)`` (``p = 2`` for EUCLIDEAN), each
    difference divided by the largest first.

    The sum of powers then lies in [1, d]: it neither overflows nor loses
    terms to underflow, whatever p and the scale of the data, as in robust
    norms (hypot, LAPACK's dnrm2). Twice the work of the plain sum, so the
    kernels take it only for the pairs whose plain sum overflowed or is small
    enough to have lost terms.
    """
    zero = x[0] - x[0]
    largest = zero
    for k in range(x.shape[0]):
        largest = max(largest, abs(x[k] - y[k]))
    if largest == 0 or not largest < np.inf:
        return largest
    s = zero
    for k in range(x.shape[0]):
        t = abs(x[k] - y[k]) / largest
        if code == EUCLIDEAN:
            s += t * t
        elif p_int > 0:
            s += _ipow(t, p_int)
        else:
            s += t**p
    if code == EUCLIDEAN:
        return largest * np.sqrt(s)
    return largest * s**inv_p


@njit(cache=True, nogil=True)
def sq_euclidean_pair(X, i, Y, j):
    """``||X[i] - Y[j]||^2`` by explicit difference, in ``X``'s dtype.

    Summed in four interleaved partial sums, added pairwise at the end: a
    fixed order, so the same bits on every machine, that still keeps a
    vector register busy (a single running sum would wait on each addition).
    """
    d = X.shape[1]
    zero = X[i, 0] - X[i, 0]
    a0 = zero
    a1 = zero
    a2 = zero
    a3 = zero
    stop = d - d % 4
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
    return (a0 + a1) + (a2 + a3)


@njit(cache=True, nogil=True)
def _pair_value(X, i, Y, j, code, p, inv_p, p_int, low):
    """Distance between ``X[i]`` and ``Y[j]`` for the direct metrics.

    ``low`` is the least sum of powers (euclidean, minkowski) that cannot
    have lost terms to underflow; smaller or overflowed sums are recomputed
    by ``_scaled_root``.
    """
    d = X.shape[1]
    zero = X[i, 0] - X[i, 0]
    a0 = zero
    a1 = zero
    a2 = zero
    a3 = zero
    stop = d - d % 4
    if code == SQEUCLIDEAN or code == EUCLIDEAN:
        s = sq_euclidean_pair(X, i, Y, j)
        if code == SQEUCLIDEAN:
            return s
        if low <= s < np.inf:
            return np.sqrt(s)
        return _scaled_root(X[i], Y[j], code, p, inv_p, p_int)
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
        s = (a0 + a1) + (a2 + a3)
        if low <= s < np.inf:
            return s**inv_p
        return _scaled_root(X[i], Y[j], code, p, inv_p, p_int)
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
                    # t * (t / total), as |t| <= total: no square to overflow
                    if q == 0:
                        a0 += t * (t / total)
                    elif q == 1:
                        a1 += t * (t / total)
                    elif q == 2:
                        a2 += t * (t / total)
                    else:
                        a3 += t * (t / total)
        for k in range(stop, d):
            total = X[i, k] + Y[j, k]
            if total > 0:
                t = X[i, k] - Y[j, k]
                a0 += t * (t / total)
        return (a0 + a1) + (a2 + a3)
    elif code == KL:
        # rows arrive normalised and strictly positive (see prepare_direct)
        for k in range(d):
            if X[i, k] > 0:
                a0 += X[i, k] * np.log(X[i, k] / Y[j, k])
        if a0 < np.inf:
            return a0
        return _kl_guarded(X[i], Y[j])
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


@njit(cache=True, nogil=True)
def _kl_guarded(p, q):
    """``sum_k p_k log(p_k / q_k)`` of normalised, positive rows, taking
    ``log p_k - log q_k`` where the ratio overflows (a subnormal ``q_k``).

    The kernels sum ``p_k log(p_k / q_k)`` as it stands, which is then inf,
    and recompute only those pairs here: the true divergence is finite.
    """
    s = p[0] - p[0]
    for k in range(p.shape[0]):
        if p[k] > 0:
            ratio = p[k] / q[k]
            if ratio < np.inf:
                s += p[k] * np.log(ratio)
            else:
                s += p[k] * (np.log(p[k]) - np.log(q[k]))
    return s


#: Columns of the output a thread accumulates at once in ``pairwise_direct``.
DIRECT_BLOCK = 256
#: Rows of X that share each pass over a block of Y's columns: the block is
#: read from memory once for all of them and then from the core's cache.
DIRECT_ROWS = 8


@njit(cache=True, nogil=True, parallel=True)
def pairwise_direct(X, Yt, code, p, inv_p, p_int, low, out):
    """``out[i, j] = metric(X[i], Yt[:, j])`` for the direct (non-GEMM) metrics.

    ``Yt`` is Y transposed (n_features, m), so the innermost loop runs over
    a block of columns: each pair's sum still runs over the features in
    order (no reassociation), while the processor works on many pairs at
    once in vector registers. ``DIRECT_ROWS`` rows of X go through each
    block of columns together. Sums of powers (euclidean, minkowski) that
    overflowed or fell below ``low`` are recomputed by ``_scaled_root``.
    """
    n, d = X.shape
    m = Yt.shape[1]
    zero = X[0, 0] - X[0, 0]
    for b in prange((n + DIRECT_ROWS - 1) // DIRECT_ROWS):
        i0 = b * DIRECT_ROWS
        n_rows = min(DIRECT_ROWS, n - i0)
        block = np.empty((DIRECT_ROWS, DIRECT_BLOCK), dtype=X.dtype)
        for j0 in range(0, m, DIRECT_BLOCK):
            w = min(DIRECT_BLOCK, m - j0)
            block[:, :w] = zero
            for k in range(d):
                yk = Yt[k, j0 : j0 + w]
                for r in range(n_rows):
                    xk = X[i0 + r, k]
                    acc = block[r]
                    if code == SQEUCLIDEAN or code == EUCLIDEAN:
                        for j in range(w):
                            t = xk - yk[j]
                            acc[j] += t * t
                    elif code == MANHATTAN:
                        for j in range(w):
                            acc[j] += abs(xk - yk[j])
                    elif code == CHEBYSHEV:
                        for j in range(w):
                            t = abs(xk - yk[j])
                            acc[j] = t if t > acc[j] else acc[j]
                    elif code == MINKOWSKI:
                        if p_int == 3:
                            for j in range(w):
                                t = abs(xk - yk[j])
                                acc[j] += t * t * t
                        elif p_int > 0:
                            for j in range(w):
                                acc[j] += _ipow(abs(xk - yk[j]), p_int)
                        else:
                            for j in range(w):
                                acc[j] += abs(xk - yk[j]) ** p
                    elif code == HAMMING:
                        for j in range(w):
                            acc[j] += xk != yk[j]
                    elif code == CHI2:
                        for j in range(w):
                            total = xk + yk[j]
                            t = xk - yk[j]
                            acc[j] += t * (t / total) if total > 0 else zero
                    elif code == KL:
                        if xk > 0:
                            for j in range(w):
                                acc[j] += xk * np.log(xk / yk[j])
                    else:  # JENSEN_SHANNON
                        for j in range(w):
                            qk = yk[j]
                            mk = (xk + qk) * 0.5
                            if xk > 0:
                                acc[j] += xk * np.log(xk / mk)
                            if qk > 0:
                                acc[j] += qk * np.log(qk / mk)
            for r in range(n_rows):
                acc = block[r]
                for j in range(w):
                    a = acc[j]
                    if code == EUCLIDEAN or code == MINKOWSKI:
                        if not low <= a < np.inf:
                            a = _scaled_root(X[i0 + r], Yt[:, j0 + j], code, p, inv_p, p_int)
                        elif code == EUCLIDEAN:
                            a = np.sqrt(a)
                        else:
                            a = a**inv_p
                    elif code == HAMMING:
                        a = a / d
                    elif code == KL:
                        if not a < np.inf:
                            a = _kl_guarded(X[i0 + r], Yt[:, j0 + j])
                    elif code == JENSEN_SHANNON:
                        a = np.sqrt(max(a * 0.5, zero))
                    out[i0 + r, j0 + j] = a


#: Tile of the output one thread fills in ``pairwise_manhattan``: the
#: ``MANHATTAN_TILE_COLS`` rows of Y it reads stay in the core's cache.
MANHATTAN_TILE_ROWS = 64
MANHATTAN_TILE_COLS = 256


@njit(cache=True, nogil=True, parallel=True)
def pairwise_manhattan(X, Y, out):
    """``out[i, j] = sum_k |X[i, k] - Y[j, k]|``, over (rows, columns) tiles.

    Each pair's sum runs left to right over the contiguous features of both
    rows, so NaN and infinity keep their IEEE meaning.
    """
    n, d = X.shape
    m = Y.shape[0]
    n_row_tiles = (n + MANHATTAN_TILE_ROWS - 1) // MANHATTAN_TILE_ROWS
    n_col_tiles = (m + MANHATTAN_TILE_COLS - 1) // MANHATTAN_TILE_COLS
    zero = X.dtype.type(0)
    for t in prange(n_row_tiles * n_col_tiles):
        r0 = (t // n_col_tiles) * MANHATTAN_TILE_ROWS
        c0 = (t % n_col_tiles) * MANHATTAN_TILE_COLS
        for i in range(r0, min(r0 + MANHATTAN_TILE_ROWS, n)):
            for j in range(c0, min(c0 + MANHATTAN_TILE_COLS, m)):
                s = zero
                for k in range(d):
                    s += abs(X[i, k] - Y[j, k])
                out[i, j] = s


@njit(cache=True, nogil=True, parallel=True)
def paired_direct(A, B, code, p, inv_p, p_int, low, out):
    """``out[i] = metric(A[i], B[i])``."""
    for i in prange(A.shape[0]):
        out[i] = _pair_value(A, i, B, i, code, p, inv_p, p_int, low)


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


@njit(cache=True, nogil=True)
def _finish_row(row, xi, ys, X, i, Y, c0, L, tau, mode, diagonal):
    """Finish one row of a product tile in place.

    ``row`` holds ``-2 a_i . b_j`` for the columns ``c0, c0 + 1, ...`` of the
    tile (``a_i . b_j`` in mode CLIP), ``xi`` the squared norm of ``a_i`` and
    ``ys`` those of the ``b_j``: the rows of the (centred, projected) GEMM
    operands. Where ``d² <= tau (‖a‖² + ‖b‖²)`` the product form has
    cancelled, and the pair is recomputed from ``X[i]``/``Y[c0 + j]``
    (original rows, with ``L`` for mahalanobis) by explicit difference.
    Modes: SQUARED (d²), ROOT (d), COSINE (rows are unit vectors; 1 - cos),
    CLIP (cosine similarity clipped to [-1, 1]). ``diagonal`` (or -1) is the
    column of the pair of a point with itself, set to zero rather than
    recomputed (cosine's zero rows then get their 1).

    The first loop is branch-free and indexes from zero, so that it
    vectorises; it also counts the cancelled pairs, and only rows with some
    take the second, exact loop.
    """
    width = row.shape[0]
    zero = tau - tau
    one = zero + 1
    if mode == CLIP:
        for j in range(width):
            row[j] = min(max(row[j], -one), one)
        return
    # counted rather than or-ed: an integer sum vectorises
    n_cancelled = 0
    if diagonal >= 0:
        # taken out of the count below: the diagonal is set, not recomputed
        s = xi + ys[diagonal]
        n_cancelled -= s + row[diagonal] <= tau * s
    if mode == ROOT:
        for j in range(width):
            s = xi + ys[j]
            d2 = s + row[j]
            n_cancelled += d2 <= tau * s
            row[j] = np.sqrt(max(d2, zero))
    else:
        for j in range(width):
            s = xi + ys[j]
            d2 = s + row[j]
            n_cancelled += d2 <= tau * s
            row[j] = max(d2, zero)
    if diagonal >= 0:
        row[diagonal] = zero
    if n_cancelled > 0:
        # a square root rounds d² by at most an ulp or two: pairs whose root
        # squares back below this bound include every cancelled pair
        tau_root = tau * (one + 1e-6)
        for j in range(width):
            s = xi + ys[j]
            if mode == ROOT:
                if row[j] * row[j] <= tau_root * s and j != diagonal:
                    row[j] = np.sqrt(_exact_sq(X, i, Y, c0 + j, L))
            elif row[j] <= tau * s and j != diagonal:
                row[j] = _exact_sq(X, i, Y, c0 + j, L)
    if mode == COSINE:
        for j in range(width):
            row[j] = one if (xi == 0 or ys[j] == 0) else row[j] * 0.5


@njit(cache=True, nogil=True, parallel=True)
def finish_gemm(G, xx, yy, X, Y, L, tau, mode):
    """Turn ``G = -2 A @ B.T`` (``A @ B.T`` in mode CLIP) into distances, in place.

    ``xx``/``yy`` are the squared norms of the rows of ``A``/``B``; ``X``,
    ``Y`` and ``L`` recompute the cancelled pairs (see :func:`_finish_row`).
    """
    for i in prange(G.shape[0]):
        _finish_row(G[i], xx[i], yy, X, i, Y, 0, L, tau, mode, -1)


#: Outputs at least this large (bytes) are touched once, page by page, before
#: they are computed: see ``first_touch``.
FIRST_TOUCH_BYTES = 1 << 25

#: Bytes between two touched elements: one per page of the smallest size.
PAGE_BYTES = 4096


@njit(cache=True, nogil=True, parallel=True)
def first_touch(flat, step):
    """Write zero to every ``step``-th element of ``flat``, in parallel.

    A fresh output's pages are supplied by the operating system when they are
    first written. Written tile by tile, the supply is spread over the whole
    computation; touched here first, it happens in one sweep at the start, as
    it does for a BLAS product whose output is cleared before it is computed.
    On a virtual machine that hands freed memory back to its host (free page
    reporting), pages taken late in a long computation cost more and vary
    more (measured on 20000 x 20000 outputs: docs/user_guide/distances.rst).
    It writes zeros, so an output that held zeros still does.
    """
    for t in prange((flat.shape[0] + step - 1) // step):
        flat[t * step] = 0


@njit(cache=True, nogil=True, parallel=True)
def pairwise_gemm_tiles(A, B, xx, yy, X, Y, L, tau, mode, out, tile_rows, tile_cols, same):
    """``out = finish(A @ B.T)`` tile by tile, each thread owning its tiles.

    Each thread writes the product of one (tile_rows, tile_cols) tile straight
    into ``out`` with a single-threaded BLAS call (as ``-2 A B^T`` for
    distances), then finishes it in place row by row (see ``_finish_row``):
    the output is written by the product, as a bare product's is, and read
    back once. With ``same`` (the rows compared with themselves) the diagonal
    of a distance is set to zero rather than recomputed as a cancelled entry.
    ``out`` must hold zeros: the products are added to it (BLAS
    ``beta = 1``), which spares the BLAS its pass clearing each tile before
    computing it.
    """
    n = A.shape[0]
    m = B.shape[0]
    n_row_tiles = (n + tile_rows - 1) // tile_rows
    n_col_tiles = (m + tile_cols - 1) // tile_cols
    one = tau - tau + 1
    alpha = one if (mode == CLIP or mode == RAW) else -2 * one
    for t in prange(n_row_tiles * n_col_tiles):
        r0 = (t // n_col_tiles) * tile_rows
        c0 = (t % n_col_tiles) * tile_cols
        r1 = min(n, r0 + tile_rows)
        c1 = min(m, c0 + tile_cols)
        product_into(A, B, alpha, one, out, r0, r1, c0, c1)
        if mode == RAW:
            continue
        ys = yy[c0:c1]
        for i in range(r0, r1):
            diagonal = i - c0 if (same and c0 <= i < c1) else -1
            _finish_row(out[i, c0:c1], xx[i], ys, X, i, Y, c0, L, tau, mode, diagonal)


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


@njit(cache=True, nogil=True)
def _offer(bd, bi, d, idx):
    """Put ``(d, idx)`` in the max-heap ``bd``/``bi`` if it orders before the root."""
    if d < bd[0] or (d == bd[0] and idx < bi[0]):
        _heap_replace_top(bd, bi, d, idx)


@njit(cache=True, nogil=True)
def _offer_row(bd, bi, values, w, c0, skip, sign):
    """Offer ``sign * values[:w]`` (columns ``c0...``) to one row's heap; column
    ``skip`` (or -1) is left out. Only values that can enter reach the heap."""
    for jj in range(w):
        d = sign * values[jj]
        if d <= bd[0] and c0 + jj != skip:
            _offer(bd, bi, d, c0 + jj)


@njit(cache=True, nogil=True, parallel=True)
def topk_update(D, row0, col0, exclude_self, sign, best_d, best_i):
    """Merge the tile ``sign * D`` (rows ``row0...``, columns ``col0...``) into
    the per-row max-heaps ``best_d``/``best_i`` of the k smallest values."""
    n, m = D.shape
    for i in prange(n):
        _offer_row(best_d[i], best_i[i], D[i], m, col0, row0 + i if exclude_self else -1, sign)


@njit(cache=True, nogil=True, parallel=True)
def knn_product_tiles(
    A,
    B,
    xx,
    yy,
    X,
    Y,
    L,
    tau,
    mode,
    sign,
    exclude_self,
    best_d,
    best_i,
    tile_rows,
    tile_cols,
    row0,
    col0,
):
    """k nearest through matrix products, each thread owning whole row tiles.

    Every thread multiplies its own (tile_rows, tile_cols) tile with a
    single-threaded BLAS call into a buffer it reuses, finishes it (see
    ``_finish_row``; nothing to finish in mode RAW) and reduces it to the
    heaps of ``sign`` times the values while it is still in cache. The rows
    of A are rows ``row0...`` of the queries and those of B rows
    ``col0...`` of the points searched: the heaps hold those global
    indices, and ``exclude_self`` leaves out index ``row0 + i`` for row i.
    A tile's entries depend only on its own shape (a BLAS product's do), so
    blocks that start on the tile grid of the whole give the whole's bits.
    """
    n = A.shape[0]
    m = B.shape[0]
    n_tiles = (n + tile_rows - 1) // tile_rows
    zero = tau - tau
    one = zero + 1
    alpha = one if (mode == CLIP or mode == RAW) else -2 * one
    for t in prange(n_tiles):
        r0 = t * tile_rows
        h = min(n, r0 + tile_rows) - r0
        G = np.empty((h, tile_cols), dtype=A.dtype)
        for c0 in range(0, m, tile_cols):
            w = min(m, c0 + tile_cols) - c0
            product_into(A[r0 : r0 + h], B[c0 : c0 + w], alpha, zero, G, 0, h, 0, w)
            for ii in range(h):
                i = r0 + ii
                if mode != RAW:
                    _finish_row(G[ii, :w], xx[i], yy[c0 : c0 + w], X, i, Y, c0, L, tau, mode, -1)
                _offer_row(
                    best_d[i],
                    best_i[i],
                    G[ii],
                    w,
                    col0 + c0,
                    row0 + i if exclude_self else -1,
                    sign,
                )


@njit(cache=True, nogil=True, parallel=True)
def knn_same_block(Aq, Ag, xq, xg, Xq, Xg, L, tau, exclude_self, best_d, best_i, tile, row0, col0):
    """The part of ``knn_sq_tiles_same`` that falls in one block of rows
    (``Aq``, rows ``row0...``) against one block of columns (``Ag``, rows
    ``col0...`` of the same points); both offsets are multiples of ``tile``.

    Each distance is computed by the product ``knn_sq_tiles_same`` computes
    it with: tile ``(I, J)`` with ``I <= J`` directly, and ``(I, J)`` with
    ``I > J`` as the transpose of tile ``(J, I)``, finished by the rows of
    ``J``. The heaps then hold exactly what the whole search gives those
    rows. Each thread owns row tiles (and their heaps).
    """
    nq = Aq.shape[0]
    ng = Ag.shape[0]
    zero = tau - tau
    one = zero + 1
    minus_two = -2 * one
    first_i = row0 // tile
    first_j = col0 // tile
    for t in prange((nq + tile - 1) // tile):
        r0 = t * tile
        h = min(nq, r0 + tile) - r0
        G = np.empty((tile, tile), dtype=Aq.dtype)
        for u in range((ng + tile - 1) // tile):
            c0 = u * tile
            w = min(ng, c0 + tile) - c0
            if first_i + t <= first_j + u:
                diagonal = first_i + t == first_j + u
                product_into(Aq[r0 : r0 + h], Ag[c0 : c0 + w], minus_two, zero, G, 0, h, 0, w)
                for ii in range(h):
                    i = r0 + ii
                    _finish_row(
                        G[ii, :w],
                        xq[i],
                        xg[c0 : c0 + w],
                        Xq,
                        i,
                        Xg,
                        c0,
                        L,
                        tau,
                        SQUARED,
                        ii if diagonal else -1,
                    )
                    _offer_row(
                        best_d[i],
                        best_i[i],
                        G[ii],
                        w,
                        col0 + c0,
                        row0 + i if (diagonal and exclude_self) else -1,
                        one,
                    )
            else:
                product_into(Ag[c0 : c0 + w], Aq[r0 : r0 + h], minus_two, zero, G, 0, w, 0, h)
                for jj in range(w):
                    j = c0 + jj
                    _finish_row(
                        G[jj, :h], xg[j], xq[r0 : r0 + h], Xg, j, Xq, r0, L, tau, SQUARED, -1
                    )
                for ii in range(h):
                    i = r0 + ii
                    for jj in range(w):
                        d = G[jj, ii]
                        if d <= best_d[i, 0]:
                            _offer(best_d[i], best_i[i], d, col0 + c0 + jj)


@njit(cache=True, nogil=True, parallel=True)
def knn_sq_tiles_same(A, xx, X, L, tau, exclude_self, heap_d, heap_i, tile, pairs):
    """k nearest of the rows of A among themselves, each distance computed once.

    The squared distances are symmetric, so only the tiles ``(I, J)`` with
    ``I <= J`` (``pairs``, one per row) are multiplied: a tile is offered to
    the heaps of its rows and, off the diagonal, by columns to the heaps of
    its columns' rows. Thread ``t`` takes every ``n_threads``-th tile and
    keeps its own heaps ``heap_d[t]``/``heap_i[t]`` (no two threads write the
    same heap); ``merge_heaps`` combines them.
    """
    n = A.shape[0]
    n_threads = heap_d.shape[0]
    zero = tau - tau
    one = zero + 1
    minus_two = -2 * one
    for t in prange(n_threads):
        bd_all = heap_d[t]
        bi_all = heap_i[t]
        G = np.empty((tile, tile), dtype=A.dtype)
        tops = np.empty(tile, dtype=A.dtype)
        for p in range(t, pairs.shape[0], n_threads):
            r0 = pairs[p, 0] * tile
            c0 = pairs[p, 1] * tile
            h = min(n, r0 + tile) - r0
            w = min(n, c0 + tile) - c0
            product_into(A[r0 : r0 + h], A[c0 : c0 + w], minus_two, zero, G, 0, h, 0, w)
            diagonal = r0 == c0
            for ii in range(h):
                i = r0 + ii
                _finish_row(
                    G[ii, :w],
                    xx[i],
                    xx[c0 : c0 + w],
                    X,
                    i,
                    X,
                    c0,
                    L,
                    tau,
                    SQUARED,
                    ii if diagonal else -1,
                )
                _offer_row(
                    bd_all[i],
                    bi_all[i],
                    G[ii],
                    w,
                    c0,
                    i if (diagonal and exclude_self) else -1,
                    one,
                )
            if diagonal:
                continue
            # the transposed tile: column jj holds row c0 + jj's distances
            for jj in range(w):
                tops[jj] = bd_all[c0 + jj, 0]
            for ii in range(h):
                i = r0 + ii
                for jj in range(w):
                    if G[ii, jj] <= tops[jj]:
                        j = c0 + jj
                        _offer(bd_all[j], bi_all[j], G[ii, jj], i)
                        tops[jj] = bd_all[j, 0]


@njit(cache=True, nogil=True, parallel=True)
def merge_heaps(heap_d, heap_i):
    """Merge the heaps of threads 1... into those of thread 0, row by row."""
    n_threads, n, k = heap_d.shape
    for i in prange(n):
        bd = heap_d[0, i]
        bi = heap_i[0, i]
        for t in range(1, n_threads):
            for q in range(k):
                _offer(bd, bi, heap_d[t, i, q], heap_i[t, i, q])


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
    return (
        np.int64(code),
        dtype.type(p),
        dtype.type(1.0 / p),
        np.int64(p_int),
        dtype.type(POWER_SUM_LOW[dtype.itemsize]),
    )


# ---------------------------------------------------------------------------
# Drivers: allocate outputs, prepare operands, call the kernels.


def _c(array):
    return np.ascontiguousarray(array)


def pairwise(xp, metric, X, Y, params, same, working_memory, n_jobs=None, centre=None):
    """The distances (n, m) of X against Y on ``n_jobs`` threads (``xp`` is
    NumPy; ``centre``: see ``_operands.gemm_operands``)."""
    with threads(n_jobs):
        return _pairwise(metric, X, Y, params, same, working_memory, centre)


def _pairwise(metric, X, Y, params, same, working_memory, centre):
    # a large zeroed array costs no more than an empty one (its pages come
    # zeroed from the system), and the matrix products are added to it
    out = np.zeros((X.shape[0], Y.shape[0]), dtype=X.dtype)
    if out.nbytes >= FIRST_TOUCH_BYTES:
        first_touch(out.reshape(-1), max(PAGE_BYTES // out.itemsize, 1))

    if metric.gemm:
        return _pairwise_gemm(metric, X, Y, params, same, working_memory, out, centre)
    code, Xp, Yp = metric.direct_operands(np, X, Y, params, same)
    if code == MANHATTAN and X.shape[0] * Y.shape[0] >= MANHATTAN_TILE_COLS:
        pairwise_manhattan(_c(Xp), _c(Yp), out)
        return out
    pairwise_direct(_c(Xp), _c(Yp.T), *direct_args(X.dtype, code, params), out)
    return out


def _pairwise_gemm(metric, X, Y, params, same, working_memory, out, centre):
    n, m = X.shape[0], Y.shape[0]
    ops = gemm_operands(np, metric, X, Y, params, same, centre=centre)
    xx = np.zeros(n, X.dtype) if ops.xx is None else _c(ops.xx)
    yy = np.zeros(m, X.dtype) if ops.yy is None else _c(ops.yy)
    RX = X if ops.RX is None else _c(ops.RX)
    RY = Y if ops.RY is None else _c(ops.RY)
    L = np.zeros((0, X.shape[1]), X.dtype) if ops.L is None else _c(ops.L)
    rows, cols = _chunking.gemm_tiles(n, m, X.itemsize, numba.get_num_threads(), working_memory)
    # each thread runs its own products, one tile at a time
    with blas_threads_inside(rows * cols * ops.A.shape[1]):
        pairwise_gemm_tiles(
            _c(ops.A),
            _c(ops.B),
            xx,
            yy,
            RX,
            RY,
            L,
            X.dtype.type(ops.tau),
            np.int64(ops.mode),
            out,
            np.int64(rows),
            np.int64(cols),
            bool(same),
        )
    return out


def paired(xp, metric, A, B, params, working_memory, n_jobs=None):
    """``out[i] = metric(A[i], B[i])`` on ``n_jobs`` threads (``xp`` is NumPy)."""
    if metric.gemm:
        # products bring nothing to row-by-row work: the difference form of
        # the array-namespace backend
        with blas_threads_for(A.size * A.shape[1]):
            return _xp.paired(np, metric, A, B, params, working_memory)
    out = np.empty(A.shape[0], dtype=A.dtype)
    code, Ap, Bp = metric.direct_operands(np, A, B, params, False)
    with threads(n_jobs):
        paired_direct(_c(Ap), _c(Bp), *direct_args(A.dtype, code, params), out)
    return out


@dataclass(frozen=True)
class KnnGrid:
    """How ``kneighbors`` cuts the work of one search; see :func:`knn_grid`.

    The matrix-product metrics are computed in (``rows``, ``cols``) tiles
    (``knn_product_tiles``) or, for the rows against themselves, in square
    tiles of ``same_tile`` each computed once (``knn_sq_tiles_same``,
    when ``same_tiles``); the direct metrics in tiles of at most
    ``direct_rows`` x ``direct_cols``.
    """

    rows: int
    cols: int
    same_tiles: bool
    same_tile: int
    direct_rows: int
    direct_cols: int


def knn_grid(metric, n, m, n_neighbors, itemsize, same, working_memory, n_threads=None):
    """The tiles of a search of ``n`` queries among ``m`` points.

    Only sizes enter: a block of queries starting at a multiple of
    :func:`knn_alignment` and searched against a block of points starting
    at a multiple of it, with the grid of the whole search, meets every
    product with the shape the whole search gives it, hence the same bits.
    """
    n_threads = max(int(n_threads or numba.get_num_threads()), 1)
    rows, cols = _chunking.knn_product_tiles(m, itemsize, working_memory / n_threads)
    same_tiles = bool(
        metric.centred
        and same
        and same_tiles_fit(n, n_neighbors, itemsize, n_threads, working_memory)
    )
    direct_rows, direct_cols = _chunking.knn_tiles(n, m, itemsize, working_memory)
    return KnnGrid(rows, cols, same_tiles, _chunking.KNN_SAME_TILE, direct_rows, direct_cols)


def knn_alignment(metric, grid, same):
    """``(query_step, point_step)``: the rows at whose multiples blocks of
    the queries and of the points searched may start and still meet every
    product of ``grid`` with the shape the whole search gives it (1 for the
    direct metrics, whose values do not depend on the tiles). A step at
    least as large as the points means one block of points. With ``same``
    (the rows searched among themselves) both are one step."""
    if not metric.gemm:
        return 1, 1
    query_step = math.lcm(grid.rows, _chunking.PROJECT_ROWS)
    point_step = math.lcm(grid.cols, _chunking.PROJECT_ROWS)
    if same:
        query_step = point_step = math.lcm(query_step, point_step)
    if grid.same_tiles:
        query_step = point_step = math.lcm(query_step, grid.same_tile)
    return query_step, point_step


def _knn_operands(metric, X, Y, params, same, centre):
    """Contiguous operands of the product kernels, or of the direct ones."""
    dtype = X.dtype
    if not metric.gemm:
        code, Xp, Yp = metric.direct_operands(np, X, Y, params, same)
        return _c(Xp), _c(Yp.T), direct_args(dtype, code, params)
    ops = gemm_operands(
        np, metric, X, Y, params, same, squared=metric.ranks_squared, centre=centre
    )
    n, m = X.shape[0], Y.shape[0]
    xx = np.zeros(n, dtype) if ops.xx is None else _c(ops.xx)
    yy = np.zeros(m, dtype) if ops.yy is None else _c(ops.yy)
    RX = X if ops.RX is None else _c(ops.RX)
    RY = Y if ops.RY is None else _c(ops.RY)
    L = np.zeros((0, X.shape[1]), dtype) if ops.L is None else _c(ops.L)
    return (_c(ops.A), _c(ops.B), xx, yy, RX, RY, L, dtype.type(ops.tau), np.int64(ops.mode))


def _empty_heaps(n, n_neighbors, dtype):
    return (
        np.full((n, n_neighbors), np.inf, dtype=dtype),
        np.full((n, n_neighbors), np.iinfo(np.int64).max, dtype=np.int64),
    )


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
    """Top-k per query, streaming (rows, columns) tiles of the distance matrix,
    on ``n_jobs`` threads (``xp`` is NumPy).

    ``centre`` is the point the product metrics subtract (see
    ``_operands.gemm_operands``); None computes it from X and Y.
    """
    with threads(n_jobs):
        return _kneighbors(
            metric, X, Y, params, same, n_neighbors, exclude_self, working_memory, centre
        )


def _kneighbors(metric, X, Y, params, same, n_neighbors, exclude_self, working_memory, centre):
    grid = knn_grid(metric, X.shape[0], Y.shape[0], n_neighbors, X.itemsize, same, working_memory)
    ops = _knn_operands(metric, X, Y, params, same, centre)
    if grid.same_tiles:
        A, _, xx, _, RX, _, L, tau, _ = ops
        found = _knn_same(A, xx, RX, L, tau, exclude_self, n_neighbors, working_memory)
        return finish_neighbours(metric, *found)
    best_d, best_i = _empty_heaps(X.shape[0], n_neighbors, X.dtype)
    _knn_into(metric, ops, exclude_self, grid, best_d, best_i, 0, 0)
    return finish_neighbours(metric, best_d, best_i)


def knn_sign(metric, dtype):
    """The factor ``kneighbors`` ranks values by (-1 for similarities)."""
    return dtype.type(-1.0 if metric.similarity else 1.0)


def knn_block(metric, Xq, Xg, params, same, n_neighbors, exclude_self, grid, centre, row0, col0):
    """Heaps (unsorted) of the ``n_neighbors`` nearest rows of ``Xg`` for
    every row of ``Xq``, by global index and ranking value (see
    :func:`finish_neighbours`): the part of a whole search by ``grid`` that
    falls in queries ``row0...`` against points ``col0...``.

    ``Xq`` and ``Xg`` are prepared blocks (validated, rescaled) of the whole
    inputs, starting at multiples of :func:`knn_alignment`; ``same`` says
    that they are one block of one set (``Xq is Xg``), and a search of a set
    against itself with ``grid.same_tiles`` takes each product from the
    tile the whole search computes it in. Rows without enough candidates
    keep ``inf`` (index ``2**63 - 1``) in their last places.
    """
    best_d, best_i = _empty_heaps(Xq.shape[0], n_neighbors, Xq.dtype)
    if grid.same_tiles:
        ops_q = gemm_operands(np, metric, Xq, Xq, params, True, squared=True, centre=centre)
        ops_g = (
            ops_q
            if same
            else gemm_operands(np, metric, Xg, Xg, params, True, squared=True, centre=centre)
        )
        L = np.zeros((0, Xq.shape[1]), Xq.dtype) if ops_q.L is None else _c(ops_q.L)
        tile = grid.same_tile
        with blas_threads_inside(tile * tile * ops_q.A.shape[1]):
            knn_same_block(
                _c(ops_q.A),
                _c(ops_g.A),
                _c(ops_q.xx),
                _c(ops_g.xx),
                _c(ops_q.RX),
                _c(ops_g.RX),
                L,
                Xq.dtype.type(ops_q.tau),
                bool(exclude_self),
                best_d,
                best_i,
                np.int64(tile),
                np.int64(row0),
                np.int64(col0),
            )
        return best_d, best_i
    ops = _knn_operands(metric, Xq, Xg, params, same, centre)
    _knn_into(metric, ops, exclude_self, grid, best_d, best_i, row0, col0)
    return best_d, best_i


def _knn_into(metric, ops, exclude_self, grid, best_d, best_i, row0, col0):
    """Offer every distance of the operands ``ops`` to the heaps."""
    sign = knn_sign(metric, best_d.dtype)
    if metric.gemm:
        A, B, xx, yy, RX, RY, L, tau, mode = ops
        # each thread runs its own products, one tile at a time
        with blas_threads_inside(grid.rows * grid.cols * A.shape[1]):
            knn_product_tiles(
                A,
                B,
                xx,
                yy,
                RX,
                RY,
                L,
                tau,
                mode,
                sign,
                bool(exclude_self),
                best_d,
                best_i,
                np.int64(grid.rows),
                np.int64(grid.cols),
                np.int64(row0),
                np.int64(col0),
            )
        return
    Xp, Ypt, args = ops
    n, m = Xp.shape[0], Ypt.shape[1]
    for rows in _chunking.slices(n, grid.direct_rows):
        for cols in _chunking.slices(m, grid.direct_cols):
            tile = np.empty((rows.stop - rows.start, cols.stop - cols.start), Xp.dtype)
            pairwise_direct(Xp[rows], _c(Ypt[:, cols]), *args, tile)
            topk_update(
                tile,
                np.int64(row0 + rows.start),
                np.int64(col0 + cols.start),
                bool(exclude_self),
                sign,
                best_d[rows],
                best_i[rows],
            )


def same_tiles_fit(n, n_neighbors, itemsize, n_threads, working_memory):
    """Whether every thread's own heaps for all ``n`` rows, beside one square
    tile, fit in half of ``working_memory`` (``knn_sq_tiles_same``)."""
    heap_bytes = n_threads * n * n_neighbors * (itemsize + 8)
    tile_bytes = n_threads * _chunking.KNN_SAME_TILE**2 * itemsize
    return heap_bytes + tile_bytes <= working_memory * 2**20 / 2


def _knn_same(A, xx, X, L, tau, exclude_self, n_neighbors, working_memory):
    """Heaps of the k nearest among the rows themselves (``knn_sq_tiles_same``),
    or None when every thread's own heaps would not fit in half the budget."""
    n = A.shape[0]
    n_threads = max(numba.get_num_threads(), 1)
    if not same_tiles_fit(n, n_neighbors, A.itemsize, n_threads, working_memory):
        return None
    tile = _chunking.KNN_SAME_TILE
    n_tiles = -(-n // tile)
    pairs = np.column_stack(np.triu_indices(n_tiles)).astype(np.int64)
    heap_d = np.full((n_threads, n, n_neighbors), np.inf, dtype=A.dtype)
    heap_i = np.full((n_threads, n, n_neighbors), np.iinfo(np.int64).max, dtype=np.int64)
    with blas_threads_inside(tile * tile * A.shape[1]):
        knn_sq_tiles_same(
            A, xx, X, L, tau, bool(exclude_self), heap_d, heap_i, np.int64(tile), pairs
        )
    merge_heaps(heap_d, heap_i)
    return heap_d[0], heap_i[0]


def finish_neighbours(metric, best_d, best_i):
    """Sorted neighbours (distances or similarities, indices) from heaps of
    ranking values: by value, then by the smaller index."""
    return _sorted_neighbours(best_d, best_i, metric.ranks_squared, knn_sign(metric, best_d.dtype))


def _sorted_neighbours(best_d, best_i, squared, sign):
    order = np.lexsort((best_i, best_d), axis=-1)
    best_d = np.take_along_axis(best_d, order, axis=1)
    best_i = np.take_along_axis(best_i, order, axis=1)
    if squared:
        np.sqrt(best_d, out=best_d)
    return sign * best_d, best_i
