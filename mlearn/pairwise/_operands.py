"""Operands of the fast paths, written once against an array namespace ``xp``.

The Numba backend calls these with ``xp = numpy``, the CuPy backend with
``xp = cupy``.
"""

from dataclasses import dataclass

import numpy as np

from ._metrics import CHEBYSHEV, EUCLIDEAN, MANHATTAN
from ._limits import POWER_SUM_LOW, check_kl_floor

# modes of the GEMM finish step (_numba._finish_row and _cupy._finish)
SQUARED, ROOT, COSINE, CLIP, RAW = 0, 1, 2, 3, 4

#: Pairs with d² <= TAU (‖x‖² + ‖y‖²) (centred norms) are recomputed by
#: difference. The product form's relative error on d is about
#: sqrt(d) * eps / (2 * TAU), i.e. ~1e-11 in float64 and ~1e-5 in float32.
TAU = {8: 1e-4, 4: 3e-2}


@dataclass
class GemmOperands:
    """``G = A @ B.T`` then finished by ``mode``; see ``finish_gemm``."""

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


def _centred_enough(xp, X, Y, mean, same):
    total = xp.einsum("ij,ij->", X, X) if same else (
        xp.einsum("ij,ij->", X, X) + xp.einsum("ij,ij->", Y, Y))
    count = X.shape[0] if same else X.shape[0] + Y.shape[0]
    offset = float(xp.dot(mean, mean))
    spread = float(total) / count - offset
    return offset <= CENTRED_ENOUGH * spread


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
    extreme = xp.nonzero(~((sq >= POWER_SUM_LOW[X.dtype.itemsize])
                           & (sq <= np.finfo(X.dtype).max)))[0]
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


def gemm_operands(xp, name, X, Y, params, same, squared=False):
    """Operands for the metrics computed through one matrix product.

    ``same`` means ``Y is X``: the operands are then computed once.
    ``squared=True`` asks for d² instead of d (``kneighbors`` ranks by d²).
    """
    n_features = X.shape[1]
    tau = TAU[X.dtype.itemsize]
    identity = xp.zeros((0, n_features), dtype=X.dtype)
    if name in ("euclidean", "sqeuclidean", "mahalanobis"):
        # centring X ∪ Y makes ‖x‖² + ‖y‖² - 2 x·y lose less to cancellation
        if same:
            mean = xp.mean(X, axis=0)
        else:
            mean = (xp.sum(X, axis=0) + xp.sum(Y, axis=0)) / (X.shape[0] + Y.shape[0])
        if _centred_enough(xp, X, Y, mean, same):
            A, B = X, (X if same else Y)
        else:
            A = X - mean
            B = A if same else Y - mean
        L = identity
        if name == "mahalanobis":
            L = params["L"]
            A = A @ L.T
            B = A if same else B @ L.T
        xx = _row_sq(xp, A)
        yy = xx if same else _row_sq(xp, B)
        mode = SQUARED if (squared or name == "sqeuclidean") else ROOT
        return GemmOperands(A, B, xx, yy, X, Y, L, mode, tau)
    if name in ("cosine", "cosine_similarity"):
        A = _unit_rows(xp, X)
        B = A if same else _unit_rows(xp, Y)
        xx = _row_sq(xp, A)
        yy = xx if same else _row_sq(xp, B)
        mode = COSINE if name == "cosine" else CLIP
        return GemmOperands(A, B, xx, yy, A, B, identity, mode, tau)
    if name == "bilinear":
        return GemmOperands(X @ params["M"], Y, None, None, None, None, None, RAW, tau)
    raise ValueError(f"{name!r} is not a matrix-product metric")


def direct_operands(xp, metric, X, Y, params, same):
    """Rows and kernel code for the metrics computed element by element."""
    code = metric.code
    if metric.name == "minkowski":
        p = params["p"]
        if p == float("inf"):
            code = CHEBYSHEV
        elif p == 1:
            code = MANHATTAN
        elif p == 2:
            code = EUCLIDEAN
    if metric.name == "kl":
        eps = params["eps"]
        X, floor = _normalised_rows(xp, X, eps)
        check_kl_floor(floor, eps)
        if not same:
            Y, floor = _normalised_rows(xp, Y, eps)
            check_kl_floor(floor, eps)
    elif metric.name == "jensen_shannon":
        X, _ = _normalised_rows(xp, X)
        if not same:
            Y, _ = _normalised_rows(xp, Y)
    return code, X, (X if same else Y)
