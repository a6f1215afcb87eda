"""Operands of the fast paths, written once against an array namespace ``xp``.

The Numba backend calls these with ``xp = numpy``, the CuPy backend with
``xp = cupy``.
"""

from dataclasses import dataclass

import numpy as np

from .._blas import blas_threads_inside
from .._lazy import lazy_module
from ._chunking import PROJECT_ROWS
from ._codes import CLIP, COSINE, RAW, SQUARED
from ._limits import POWER_SUM_LOW, check_kl_floor
from ._scaling import sum_of_squares

# imported on first use, so that importing mlearn does not import Numba
_host_kernels = lazy_module("mlearn.pairwise._host_kernels")

#: Pairs with d² <= TAU (‖x‖² + ‖y‖²) (centred norms) are recomputed by
#: difference. The product form's relative error on d is about
#: sqrt(d) * eps / (2 * TAU), i.e. ~1e-11 in float64 and ~1e-5 in float32.
TAU = {8: 1e-4, 4: 3e-2}


@dataclass
class GemmOperands:
    """``G = A @ B.T`` then finished by ``mode`` (``_codes``); see
    ``_numba.finish_gemm``."""

    A: object
    B: object
    xx: object
    yy: object
    RX: object  # rows used to recompute cancellation-prone pairs
    RY: object
    L: object  # (k, d) projection for the recomputation, or (0, d) for identity
    mode: int
    tau: float


def _row_sq(xp, A):
    return xp.einsum("ij,ij->i", A, A)


#: Centring is skipped when the mean's squared norm is below this fraction
#: of the points' spread (mean squared distance to the mean): the product
#: form then loses at most ~1% more to cancellation than on centred data,
#: and no centred copy of the operands is made.
CENTRED_ENOUGH = 1e-2


@dataclass(frozen=True)
class Centre:
    """The point the product-form metrics subtract from X and Y: the mean of
    X ∪ Y, or None when the data are centred enough as they are."""

    mean: object


def column_sums(xp, X):
    """``X.sum(axis=0)`` in X's dtype; on the host by groups of rows added in
    order (``_host_kernels.column_sums``), so that blocks of rows give the
    sums of the whole to the bit."""
    if xp is not np:
        return xp.sum(X, axis=0)
    return _host_kernels.column_sums(np.ascontiguousarray(X))[0]


def centre_from(xp, sums, squares, count):
    """The :class:`Centre` of points with column ``sums`` and sum of squares
    ``squares`` (a float), ``count`` of them."""
    mean = sums / count
    offset = float(xp.dot(mean, mean))
    spread = float(squares) / count - offset
    return Centre(None if offset <= CENTRED_ENOUGH * spread else mean)


def centre_of(xp, X, Y, same):
    """The :class:`Centre` of X ∪ Y (of X when ``same``)."""
    sums = column_sums(xp, X)
    squares = sum_of_squares(xp, X)
    count = X.shape[0]
    if not same:
        sums = sums + column_sums(xp, Y)
        squares = squares + sum_of_squares(xp, Y)
        count += Y.shape[0]
    return centre_from(xp, sums, squares, count)


def project(xp, X, mean, B):
    """``(X - mean) @ B.T`` (``X @ B.T`` when ``mean`` is None).

    On the host, in products of ``PROJECT_ROWS`` rows
    (``_host_kernels.project_rows``),
    so that each row gets the same bits whichever block of rows it is
    projected in.
    """
    if xp is not np:
        return (X if mean is None else X - mean) @ B.T
    X = np.ascontiguousarray(X)
    out = np.empty((X.shape[0], B.shape[0]), dtype=X.dtype)
    no_mean = np.empty(0, dtype=X.dtype)
    with blas_threads_inside(PROJECT_ROWS * X.shape[1] * B.shape[0]):
        _host_kernels.project_rows(
            X,
            no_mean if mean is None else mean,
            np.ascontiguousarray(B),
            out,
            np.int64(PROJECT_ROWS),
        )
    return out


def _rows_to_unit_scale(xp, R):
    """Each row divided by the power of two that brings its largest magnitude
    into [0.5, 1) (exact; zero rows stay zero)."""
    _, exponent = xp.frexp(xp.max(xp.abs(R), axis=1))
    return xp.ldexp(R, -exponent[:, None])


def _unit_rows(xp, X):
    """Rows divided by their norms (zero rows stay zero), at any scale."""
    with np.errstate(over="ignore"):
        sq = _row_sq(xp, X)
    norm = xp.sqrt(sq)
    safe = xp.where(norm > 0, norm, xp.ones_like(norm))
    U = X / safe[:, None]
    # norms of rows beyond ~1e154 overflow and those below ~1e-154 underflow:
    # recomputed from the rows brought near 1 (cheap: one test per row)
    extreme = xp.nonzero(
        ~((sq >= POWER_SUM_LOW[X.dtype.itemsize]) & (sq <= np.finfo(X.dtype).max))
    )[0]
    if extreme.shape[0]:
        R = _rows_to_unit_scale(xp, X[extreme])
        norm = xp.sqrt(_row_sq(xp, R))
        U[extreme] = R / xp.where(norm > 0, norm, xp.ones_like(norm))[:, None]
    return U


def _normalised_rows(xp, X, shift=None):
    """Rows of ``X + shift`` divided by their sums, at any scale.

    Rows whose sum overflows are brought near 1 by a power of two first
    (``shift`` with them). Returns the normalised rows and, with ``shift``,
    each row's normalised shift ``shift / sum`` (the least any entry of the
    row can be, zero where it underflowed); None without.
    """
    with np.errstate(over="ignore"):
        S = X if shift is None else X + shift
        sums = xp.sum(S, axis=1)
    P = S / sums[:, None]
    floor = None if shift is None else shift / sums
    extreme = xp.nonzero(~(sums <= np.finfo(X.dtype).max))[0]
    if extreme.shape[0]:
        R = X[extreme]
        largest = xp.max(R, axis=1)
        if shift is not None:
            largest = xp.maximum(largest, shift)
        _, exponent = xp.frexp(largest)
        R = xp.ldexp(R, -exponent[:, None])
        if shift is not None:
            shifts = xp.ldexp(xp.asarray(shift, dtype=X.dtype), -exponent)
            R = R + shifts[:, None]
        sums = xp.sum(R, axis=1)
        P[extreme] = R / sums[:, None]
        if shift is not None:
            floor[extreme] = shifts / sums
    return P, floor


def gemm_operands(xp, metric, X, Y, params, same, squared=False, centre=None):
    """Operands for the metrics computed through one matrix product.

    ``metric`` is the registry entry (its ``finish``, and the ``matrix`` it
    projects by). ``same`` means ``Y is X``: the operands are then computed
    once. ``squared=True`` asks for d² instead of d (``kneighbors`` ranks by
    d²). ``centre`` is the :class:`Centre` subtracted for the centred metrics
    (euclidean, sqeuclidean, mahalanobis); None takes that of X ∪ Y. Blocks
    of larger inputs given their inputs' centre get the operands of their
    rows in the whole, to the bit (row by row computations, and ``project``
    for products).
    """
    tau = TAU[X.dtype.itemsize]
    if xp is np:
        # row norms are computed alike for every row of C-ordered operands
        X = np.ascontiguousarray(X)
        Y = X if same else np.ascontiguousarray(Y)
    if metric.centred:
        return _centred_operands(xp, metric, X, Y, params, same, squared, centre, tau)
    if metric.finish in (COSINE, CLIP):
        A = _unit_rows(xp, X)
        B = A if same else _unit_rows(xp, Y)
        xx = _row_sq(xp, A)
        yy = xx if same else _row_sq(xp, B)
        identity = xp.zeros((0, X.shape[1]), dtype=X.dtype)
        return GemmOperands(A, B, xx, yy, A, B, identity, metric.finish, tau)
    if metric.finish == RAW:
        # X @ M, as the projection (X @ (M.T).T) for its row-by-row bits
        return GemmOperands(
            project(xp, X, None, params[metric.matrix].T),
            Y,
            None,
            None,
            None,
            None,
            None,
            RAW,
            tau,
        )
    raise ValueError(f"{metric.name!r} is not a matrix-product metric")


def _centred_operands(xp, metric, X, Y, params, same, squared, centre, tau):
    # centring X ∪ Y makes ‖x‖² + ‖y‖² - 2 x·y lose less to cancellation
    mean = (centre_of(xp, X, Y, same) if centre is None else centre).mean
    L = xp.zeros((0, X.shape[1]), dtype=X.dtype)
    if metric.matrix:
        L = params[metric.matrix]
        A = project(xp, X, mean, L)
        B = A if same else project(xp, Y, mean, L)
    elif mean is None:
        A, B = X, (X if same else Y)
    else:
        A = X - mean
        B = A if same else Y - mean
    xx = _row_sq(xp, A)
    yy = xx if same else _row_sq(xp, B)
    mode = SQUARED if squared else metric.finish
    return GemmOperands(A, B, xx, yy, X, Y, L, mode, tau)


# -- rows of the direct metrics (``Metric.prepare_rows``) --------------------------------


def normalise_rows(xp, X, params):
    """Rows divided by their sums (jensen_shannon), at any scale."""
    return _normalised_rows(xp, X)[0]


def smooth_and_normalise_rows(xp, X, params):
    """Rows of ``X + eps`` divided by their sums (kl); refused where ``eps``
    vanishes beside a row's sum."""
    eps = params["eps"]
    P, floor = _normalised_rows(xp, X, eps)
    check_kl_floor(floor, eps)
    return P
