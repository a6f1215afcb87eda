"""Numba kernels the operands and the validation run on the host.

Sums and projections whose bits do not depend on how the rows are blocked:
sums of squares and column sums taken by fixed groups of ``SUM_ROWS`` rows,
and projections by single-threaded BLAS products of ``chunk`` rows each.
The sums of a block of rows starting at a multiple of the group (or chunk)
are those of the same rows within the whole array, so that a dask array
summed or projected block by block gives the in-memory numbers to the bit.
Also ``product_into``, the BLAS product into a tile of a larger output that
the distance kernels of ``_numba`` build on.
"""

import numpy as np
from numba import types

from .._jit import njit, prange

#: Rows summed together before the sums of the groups are added in order
#: (``sum_of_squares``, ``column_sums``): blocks of rows starting at multiples
#: of it give the same group sums as the whole array, so that the sums of an
#: array taken block by block (a dask array's) equal its sums to the bit.
SUM_ROWS = 512


@njit(cache=True, nogil=True)
def square_parts(a, parts):
    """``parts[g]``: the sum of the squared entries of rows ``g * SUM_ROWS``
    to ``(g + 1) * SUM_ROWS`` of a 2-D array, accumulated in float64.

    One pass, each row summed left to right. BLAS's dot product would wake
    BLAS's threads, which then spin beside the kernels that follow.
    """
    n, d = a.shape
    for g in range(parts.shape[0]):
        part = 0.0
        for i in range(g * SUM_ROWS, min(n, (g + 1) * SUM_ROWS)):
            row = 0.0
            for k in range(d):
                t = np.float64(a[i, k])
                row += t * t
            part += row
        parts[g] = part


@njit(cache=True, nogil=True)
def add_in_order(parts, total):
    """``total + parts[0] + parts[1] + ...``, added one after the other."""
    for g in range(parts.shape[0]):
        total += parts[g]
    return total


def n_groups(n_rows):
    """How many groups of ``SUM_ROWS`` rows ``n_rows`` rows make."""
    return max(1, -(-n_rows // SUM_ROWS))


def sum_of_squares(a):
    """The sum of the squared entries of a 2-D array, in float64, by groups of
    ``SUM_ROWS`` rows (see ``square_parts``).

    Tells the validation that the entries are finite (the sum is then
    finite, unless it overflows float64) and ``_scaling`` how large they
    are.
    """
    parts = np.empty(n_groups(a.shape[0]))
    square_parts(a, parts)
    return add_in_order(parts, 0.0)


@njit(cache=True, nogil=True)
def column_parts(a, parts, tiny):
    """``parts[g] = a[g * SUM_ROWS:(g + 1) * SUM_ROWS].sum(axis=0)``, the rows
    added one after the other in ``a``'s dtype.

    Returns how many entries and partial sums were subnormal (nonzero and
    below ``tiny``, the smallest normal number): sums free of them scale
    exactly by powers of two.
    """
    n, d = a.shape
    zero = tiny - tiny
    n_small = 0
    for g in range(parts.shape[0]):
        for k in range(d):
            parts[g, k] = zero
        for i in range(g * SUM_ROWS, min(n, (g + 1) * SUM_ROWS)):
            for k in range(d):
                t = a[i, k]
                s = parts[g, k] + t
                parts[g, k] = s
                n_small += (zero < abs(t) < tiny) + (zero < abs(s) < tiny)
    return n_small


@njit(cache=True, nogil=True)
def add_rows_in_order(parts, sums, tiny):
    """``sums += parts[0] + parts[1] + ...`` row after row; returns how many
    partial sums were subnormal (see ``column_parts``)."""
    zero = tiny - tiny
    n_small = 0
    for g in range(parts.shape[0]):
        for k in range(parts.shape[1]):
            s = sums[k] + parts[g, k]
            sums[k] = s
            n_small += zero < abs(s) < tiny
    return n_small


def column_sums(a):
    """``(a.sum(axis=0), n_small)``: column sums in ``a``'s dtype by groups of
    ``SUM_ROWS`` rows added in order, and how many subnormal values they met."""
    tiny = np.finfo(a.dtype).tiny
    parts = np.empty((n_groups(a.shape[0]), a.shape[1]), dtype=a.dtype)
    n_small = column_parts(a, parts, tiny)
    sums = np.zeros(a.shape[1], dtype=a.dtype)
    return sums, n_small + add_rows_in_order(parts, sums, tiny)


#: BLAS's matrix product as Numba exports it from SciPy's BLAS (the function
#: behind Numba's own ``np.dot``), called directly so that a product can be
#: written into a tile of a larger output. Declared by symbol name, which keeps
#: the kernels that call it cacheable.
_xxgemm = types.ExternalFunction(
    "numba_xxgemm",
    types.intc(
        types.char,
        types.char,
        types.char,
        types.intp,
        types.intp,
        types.intp,
        types.voidptr,
        types.voidptr,
        types.intp,
        types.voidptr,
        types.intp,
        types.voidptr,
        types.voidptr,
        types.intp,
    ),
)


@njit(cache=True, nogil=True)
def product_into(A, B, alpha, beta, out, r0, r1, c0, c1):
    """``out[r0:r1, c0:c1] = alpha * A[r0:r1] @ B[c0:c1].T + beta * out[r0:r1, c0:c1]``.

    ``A``, ``B`` and ``out`` are C-contiguous with one floating dtype. In
    BLAS's column-major terms the tile is ``B[c0:c1] @ A[r0:r1].T`` with
    leading dimension ``out.shape[1]``. ``beta`` is 0 or 1: with 0 the BLAS
    clears the tile first; with 1 it adds to the tile as it stands, which
    saves that pass over memory when the tile is known to hold zeros.
    """
    scalars = np.empty(2, out.dtype)
    scalars[0] = alpha
    scalars[1] = beta
    kind = np.int8(ord("d")) if out.itemsize == 8 else np.int8(ord("s"))
    k = A.shape[1]
    _xxgemm(
        kind,
        np.int8(ord("t")),
        np.int8(ord("n")),
        c1 - c0,
        r1 - r0,
        k,
        scalars[0:].ctypes,
        B[c0:].ctypes,
        k,
        A[r0:].ctypes,
        k,
        scalars[1:].ctypes,
        out[r0, c0:].ctypes,
        out.shape[1],
    )


@njit(cache=True, nogil=True, parallel=True)
def project_rows(X, mean, B, out, chunk):
    """``out = (X - mean) @ B.T`` (``X @ B.T`` when ``mean`` is empty).

    One single-threaded BLAS product per ``chunk`` rows, the chunks shared
    out between the threads. A BLAS product's entries depend on the shape
    of the call that computes them, so cutting the rows at fixed multiples
    of ``chunk`` from the first makes every row's result independent of how
    many rows are projected at once (or by which thread): a block of rows
    starting at a multiple of ``chunk`` projects to the same bits as the
    same rows within the whole. Centred rows are formed one chunk at a time.
    """
    n, d = X.shape
    k = B.shape[0]
    zero = X.dtype.type(0)
    one = X.dtype.type(1)
    for t in prange((n + chunk - 1) // chunk):
        r0 = t * chunk
        r1 = min(n, r0 + chunk)
        if mean.shape[0] == 0:
            product_into(X, B, one, zero, out, r0, r1, 0, k)
        else:
            rows = np.empty((r1 - r0, d), dtype=X.dtype)
            for i in range(r1 - r0):
                for j in range(d):
                    rows[i, j] = X[r0 + i, j] - mean[j]
            product_into(rows, B, one, zero, out[r0:r1], 0, r1 - r0, 0, k)
