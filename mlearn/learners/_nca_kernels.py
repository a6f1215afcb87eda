"""Softmax-neighbour objectives shared by NCA and MLKR, computed in row blocks.

Both learners embed the points with ``E = X @ L.T`` and give every point ``i``
a softmax over the others, ``p_ij = exp(-d_ij) / sum_k exp(-d_ik)`` with
``d_ij = ||e_i - e_j||^2`` (``p_ii = 0``). Their losses depend on L only
through the squared distances, so with ``W_ij = d loss / d d_ij`` the
gradient is

    d loss / d L = 2 L sum_ij W_ij (x_i - x_j)(x_i - x_j)^T
                 = 2 Z^T X,   Z = diag(r + c) E - W E - W^T E,

where ``r`` and ``c`` are the row and column sums of ``W``. For both losses
each row of ``W`` sums to zero (``r = 0``), which the kernels rely on. The
same gradient is ``2 L (X^T diag(c) X - T - T^T)`` with ``T = X^T (W X)``,
which needs only the gather ``W X``; ``SoftmaxObjective`` picks the cheaper
form.

Nothing of size n x n x d is ever formed, nor the n x n matrix W: each
thread forms a chunk of rows of the Gram matrix ``E E^T`` in a buffer small
enough to stay in cache, and turns every row into its distances, the
shifted exponentials, the class or target sums and the weights, which it
adds straight into ``W E`` and ``W^T E``, or into ``W X`` (one Numba kernel,
``softmax_weights``). Only the terms that are not negligible (see
``_CUTOFF``) are kept, as a compact list per row, so the sums and the
products cost in proportion to the number of effective neighbours rather
than n. The Gram chunks only screen for those terms, so they are formed in
float32 (half the cost of float64); the kept distances are then computed
exactly, and the screen's margin covers float32's round-off, so the result
is that of a float64 computation. An embedding whose squared norms exceed
float32's range is screened at a power-of-two scale (exact), and the cut is
made on distance differences, so that no row loses its nearest term to
round-off however far the points lie.

The tests compare the kernel with NumPy references (``*_reference``) that
build W in full.
"""

import numpy as np
from numba import get_num_threads

from .._blas import blas_threads_inside
from .._jit import njit, prange, variant
from ..pairwise._numba import sq_euclidean_pair

__all__ = [
    "SoftmaxObjective",
    "mlkr_block_weights_reference",
    "nca_block_weights_reference",
    "screen_scale_of",
    "softmax_weights",
]

#: Exponentials below exp(-_CUTOFF) ~ 2.3e-16 of the largest term in a row
#: (float64 epsilon) are taken as zero: each is below the round-off of the
#: row's sum, which is at least 1. Skipping them skips their share of the
#: gradient products, which is most of the work once the classes separate.
_CUTOFF = 36.0


#: Unit round-off of float32, the precision of the screening product.
_U32 = 2.0**-24

#: Running minima kept by :func:`_row_exponentials` (a vector register's worth).
_LANES = 8

#: Squared norms above this are screened at a power-of-two scale: their
#: float32 products would overflow (float32 stops at 2**128).
_SCREEN_MAX_SQ = 2.0**100


@njit(cache=True, nogil=True)
def _row_exponentials(row, sq, slack, screen_scale, i, E, scratch, idx, val):
    """The non-negligible shifted exponentials of row ``i``, as a compact list.

    ``row`` (float32) holds the screening product ``e_i . e_j`` in single
    precision, of the embedding multiplied by ``sqrt(screen_scale)`` (a power
    of two, 1 unless the squared norms would overflow float32), whose error
    makes every screened distance ``screen_scale (sq_i + sq_j) - 2 row[j]``
    within ``slack`` (in the same units) of ``screen_scale d_ij``. The
    screen lists the ``j`` whose screened distance is within
    ``screen_scale _CUTOFF + 2 slack`` of the screened minimum, a superset of
    those within ``_CUTOFF`` of the true minimum; those few distances are
    then computed exactly, by explicit difference of rows of ``E``.
    ``scratch`` (float64, length n) is work space.

    On exit ``idx[:m]`` lists the ``j != i`` with ``d_ij - d_min < _CUTOFF``
    and ``val[:m]`` their ``exp(d_min - d_ij)``; returns ``m``. Only those
    entries are touched again, which is most of the saving once the classes
    separate.
    """
    n = row.shape[0]
    # screened distances less sq_i (the point itself: +inf) in a vectorised
    # pass, then their minimum over _LANES running minima (a vectorised
    # select; min is exact in any order)
    for j in range(n):
        scratch[j] = screen_scale * sq[j] - 2.0 * row[j]
    scratch[i] = np.inf
    lanes = np.full(_LANES, np.inf)
    stop = n - n % _LANES
    for j0 in range(0, stop, _LANES):
        for c in range(_LANES):
            v = scratch[j0 + c]
            # a select, not min(): it compiles to a vector minimum
            lanes[c] = v if v < lanes[c] else lanes[c]  # noqa: FURB136
    lowest = np.inf
    for c in range(_LANES):
        lowest = min(lowest, lanes[c])
    for j in range(stop, n):
        lowest = min(lowest, scratch[j])
    limit = lowest + screen_scale * _CUTOFF + 2.0 * slack
    m = 0
    for j in range(n):
        if scratch[j] < limit:
            idx[m] = j
            m += 1
    # exact distances of the listed columns, and the exact cut
    d_min = np.inf
    for q in range(m):
        val[q] = sq_euclidean_pair(E, i, E, idx[q])
        d_min = min(d_min, val[q])
    kept = 0
    for q in range(m):
        # the difference, not d_min + _CUTOFF: far out, adding the cutoff to
        # d_min rounds back to d_min and would drop the nearest term itself
        if val[q] - d_min < _CUTOFF:
            idx[kept] = idx[q]
            val[kept] = np.exp(d_min - val[q])
            kept += 1
    return kept


@njit(cache=True, nogil=True)
def _accumulate_row(i, idx, val, m, F, WF, WtE, col_sums):
    """Add row ``i`` of W (``val[:m]`` at columns ``idx[:m]``) to the products:
    to ``(W F)_i`` and ``W^T 1``, and unless ``WtE`` has no rows (then ``F``
    is ``E``) to ``W^T E``."""
    for q in range(m):
        col_sums[idx[q]] += val[q]
    f = F.shape[1]
    if WtE.shape[0] == 0:
        # a gather only: every term reads a row of F into the row of WF
        for q in range(m):
            j = idx[q]
            w = val[q]
            for a in range(f):
                WF[i, a] += w * F[j, a]
        return
    for q in range(m):
        j = idx[q]
        w = val[q]
        for a in range(f):
            WF[i, a] += w * F[j, a]
            WtE[j, a] += w * F[i, a]


@njit(cache=True, nogil=True)
def _nca_row(i, row, sq, slack, screen_scale, codes, E, scratch, idx, val, F, WF, WtE, col_sums):
    """NCA weights of row ``i`` (``row``: see :func:`_row_exponentials`); returns ``p_i``.

    ``W_ij = p_ij ([y_i == y_j] - p_i)`` is the derivative of ``-sum_i p_i``
    with respect to ``d_ij``.
    """
    m = _row_exponentials(row, sq, slack, screen_scale, i, E, scratch, idx, val)
    c_i = codes[i]
    total = 0.0
    same = 0.0
    for q in range(m):
        total += val[q]
        if codes[idx[q]] == c_i:
            same += val[q]
    p_i = same / total
    inv_total = 1.0 / total
    for q in range(m):
        if codes[idx[q]] == c_i:
            val[q] = val[q] * inv_total * (1.0 - p_i)
        else:
            val[q] = -val[q] * inv_total * p_i
    _accumulate_row(i, idx, val, m, F, WF, WtE, col_sums)
    return p_i


@njit(cache=True, nogil=True)
def _mlkr_row(i, row, sq, slack, screen_scale, y, E, scratch, idx, val, F, WF, WtE, col_sums):
    """MLKR weights of row ``i`` (``row``: see :func:`_row_exponentials`); returns
    ``yhat_i``.

    ``W_ij = 2 (yhat_i - y_i) p_ij (yhat_i - y_j)`` is the derivative of
    ``sum_i (yhat_i - y_i)^2`` with respect to ``d_ij``, where
    ``yhat_i = sum_j p_ij y_j`` is the leave-one-out kernel regression estimate.
    """
    m = _row_exponentials(row, sq, slack, screen_scale, i, E, scratch, idx, val)
    total = 0.0
    weighted = 0.0
    for q in range(m):
        total += val[q]
        weighted += val[q] * y[idx[q]]
    yhat = weighted / total
    scale = 2.0 * (yhat - y[i]) / total
    for q in range(m):
        val[q] = scale * val[q] * (yhat - y[idx[q]])
    _accumulate_row(i, idx, val, m, F, WF, WtE, col_sums)
    return yhat


@njit(cache=True, nogil=True, parallel=True)
def softmax_weights(
    kind_nca, E, E32, E32t, sq, target, stat, F, WF, WtE, col_sums, chunk_rows, screen_scale=1.0
):
    """Accumulate ``W F``, ``W^T 1`` and (when ``WtE`` has rows) ``W^T E``
    over all rows of W.

    ``F`` is ``E`` or ``X``: see :class:`SoftmaxObjective` for the two forms
    of the gradient.

    ``E32`` and ``E32t`` are ``E * sqrt(screen_scale)`` and its transpose
    (C-contiguous) rounded to float32; their product screens the neighbours
    of every point (see :func:`_row_exponentials`), at half the cost of a
    float64 product. ``screen_scale`` is a power of two that keeps the
    products inside float32's range (see :func:`screen_scale_of`).

    Part ``t`` of ``WtE`` (n_parts, n, k) and ``col_sums`` (n_parts, n)
    belongs to one thread, which takes a contiguous share of the rows and
    walks it in chunks of ``chunk_rows``: it forms ``E32[chunk] @ E32t`` into
    its own buffer (inside a thread the matrix product should run on one
    BLAS thread) and turns each row into weights (:func:`_nca_row` or
    :func:`_mlkr_row`) while the chunk is in cache. ``WF`` (n, f) must be
    zero on entry; with ``WtE`` of shape (n_parts, 0, k) only the gather
    ``W F`` is formed. ``stat`` receives ``p_i`` (NCA, ``target`` the int64 class
    codes) or ``yhat_i`` (MLKR, ``target`` the real targets) for every row.
    """
    n, k = E.shape
    n_parts = col_sums.shape[0]
    sq_max = 0.0
    for j in range(n):
        sq_max = max(sq_max, sq[j])
    # |screened - exact distance| <= (k + 2) u (sq_i + sq_j) for float32's
    # round-off u (rounding of E, then a k-term sum); doubled for safety
    gamma = 2.0 * (k + 2) * _U32
    for t in prange(n_parts):
        idx = np.empty(n, dtype=np.int64)
        val = np.empty(n)
        scratch = np.empty(n)
        buffer = np.empty((chunk_rows, n), dtype=np.float32)
        stop = (t + 1) * n // n_parts
        for r0 in range(t * n // n_parts, stop, chunk_rows):
            r1 = min(r0 + chunk_rows, stop)
            G = buffer[: r1 - r0]
            np.dot(E32[r0:r1], E32t, G)
            for b in range(r1 - r0):
                i = r0 + b
                slack = gamma * screen_scale * (sq[i] + sq_max)
                if kind_nca:
                    stat[i] = _nca_row(
                        i,
                        G[b],
                        sq,
                        slack,
                        screen_scale,
                        target,
                        E,
                        scratch,
                        idx,
                        val,
                        F,
                        WF,
                        WtE[t],
                        col_sums[t],
                    )
                else:
                    stat[i] = _mlkr_row(
                        i,
                        G[b],
                        sq,
                        slack,
                        screen_scale,
                        target,
                        E,
                        scratch,
                        idx,
                        val,
                        F,
                        WF,
                        WtE[t],
                        col_sums[t],
                    )


# The same kernel compiled without threads: launching the thread pool costs
# more than the work on small problems (and on a busy machine, much more). Under a name
# of its own, or Numba's cache would hand it the threaded code (mlearn._jit.variant).
_softmax_weights_serial = njit(cache=True, nogil=True)(variant(softmax_weights.py_func, "serial"))

#: Blocks with fewer entries than this run on one thread.
PARALLEL_MIN_ENTRIES = 2**17


def screen_scale_of(sq_max):
    """The power of two by which the float32 screen multiplies squared distances.

    1.0 while the squared norms (largest ``sq_max``) fit float32's products;
    otherwise ``2**(-2 e)`` with ``sqrt(sq_max) < 2**e``, which brings them
    below 1. Powers of two scale exactly, so the screen's error bound holds
    in the scaled units.
    """
    if sq_max <= _SCREEN_MAX_SQ:
        return 1.0
    _, exponent = np.frexp(np.sqrt(sq_max))
    return float(np.ldexp(1.0, -2 * int(exponent)))


def _softmax_reference(G, sq, row0):
    n_rows = G.shape[0]
    rows = np.arange(n_rows)
    D = np.maximum(sq[row0 : row0 + n_rows, None] + sq[None, :] - 2.0 * G, 0.0)
    D[rows, row0 + rows] = np.inf
    D -= D.min(axis=1, keepdims=True)
    P = np.exp(-D)
    P /= P.sum(axis=1, keepdims=True)
    return P


def nca_block_weights_reference(G, sq, row0, codes):
    """NumPy reference of :func:`nca_block_weights`: returns ``(W, p)``."""
    P = _softmax_reference(G, sq, row0)
    same = codes[row0 : row0 + G.shape[0], None] == codes[None, :]
    p = np.sum(P * same, axis=1)
    return P * (same - p[:, None]), p


def mlkr_block_weights_reference(G, sq, row0, y):
    """NumPy reference of :func:`mlkr_block_weights`: returns ``(W, yhat)``."""
    P = _softmax_reference(G, sq, row0)
    yhat = P @ y
    y_i = y[row0 : row0 + G.shape[0]]
    W = 2.0 * (yhat - y_i)[:, None] * P * (yhat[:, None] - y[None, :])
    return W, yhat


class SoftmaxObjective:
    """Loss and gradient with respect to L of the NCA or MLKR objective.

    The gradient ``2 L sum_ij W_ij (x_i - x_j)(x_i - x_j)^T`` is formed in
    one of two ways, whichever touches fewer numbers per non-negligible
    term of W:

    * ``2 Z^T X`` with ``Z = diag(c) E - W E - W^T E`` (``c = W^T 1``): two
      rows of length n_components per term, one of them scattered;
    * ``2 L (X^T diag(c) X - T - T^T)`` with ``T = X^T (W X)``: one row of
      length n_features per term, gathered; the two d x d products that
      follow are dense. Taken when ``n_features <= 2 n_components``.

    The workspace (the n x k products, and one block of rows of the n x n
    weights on the single-threaded path) is allocated once and reused by
    every evaluation.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float64
        Training points; centred here (distances do not change).
    target : ndarray of shape (n_samples,)
        Class codes (int64) for ``kind="nca"``, real targets for ``kind="mlkr"``.
    kind : {"nca", "mlkr"}
    n_components : int
    block_bytes : int
        Rows of the Gram matrix are formed ``block_bytes // (8 n)`` at a time
        (shared among the threads); the default keeps them in the
        processor's cache while the kernel works on them.
    gather : bool or None
        Force the second form (True) or the first (False); None chooses.
    """

    def __init__(self, X, target, kind, n_components, block_bytes=2**21, gather=None):
        self.X = X - X.mean(axis=0)
        self.target = target
        self.kind = kind
        n, d = X.shape
        n_parts = max(1, min(get_num_threads(), n))
        self.block_rows = int(max(n_parts, min(n, block_bytes // (8 * n))))
        if n_parts == 1 or self.block_rows * n < PARALLEL_MIN_ENTRIES:
            n_parts = 1
            self._kernel = _softmax_weights_serial
        else:
            self._kernel = softmax_weights
        self.n_parts = n_parts
        self.chunk_rows = max(1, self.block_rows // n_parts)
        self.gather = d <= 2 * n_components if gather is None else bool(gather)
        self.E = np.empty((n, n_components))
        self.WF = np.empty((n, d if self.gather else n_components))
        self.WtE = np.empty((n_parts, 0 if self.gather else n, n_components))
        self.col_sums = np.empty((n_parts, n))
        self.stat = np.empty(n)
        self.n_evaluations = 0

    def value_and_gradient(self, L):
        """``(loss, gradient)`` at ``L`` of shape (n_components, n_features).

        The NCA loss is ``-sum_i p_i`` (minimised); the MLKR loss is
        ``sum_i (yhat_i - y_i)^2``.
        """
        X, E = self.X, self.E
        np.dot(X, L.T, out=E)
        sq = np.einsum("ij,ij->i", E, E)
        sq_max = float(sq.max())
        if not np.isfinite(4.0 * sq_max):
            # distances beyond float64's range (a line search's trial step
            # far out): no finite loss, so the solver steps back
            self.n_evaluations += 1
            return np.inf, np.zeros_like(L)
        screen_scale = screen_scale_of(sq_max)
        E32 = (E * np.sqrt(screen_scale) if screen_scale != 1.0 else E).astype(np.float32)
        E32t = np.ascontiguousarray(E32.T)
        for buffer in (self.WF, self.WtE, self.col_sums):
            buffer.fill(0.0)
        F = X if self.gather else E
        args = (
            self.kind == "nca",
            E,
            E32,
            E32t,
            sq,
            self.target,
            self.stat,
            F,
            self.WF,
            self.WtE,
            self.col_sums,
            self.chunk_rows,
            screen_scale,
        )
        if self.n_parts == 1:
            self._kernel(*args)
            col_sums, WtE = self.col_sums[0], self.WtE[0]
        else:
            # each of our threads forms its own Gram chunks
            with blas_threads_inside(self.chunk_rows * E.shape[0] * E.shape[1]):
                self._kernel(*args)
            col_sums, WtE = self.col_sums.sum(axis=0), self.WtE.sum(axis=0)
        if self.gather:
            T = X.T @ self.WF
            gradient = 2.0 * (L @ ((X.T * col_sums) @ X - T - T.T))
        else:
            Z = col_sums[:, None] * E - self.WF - WtE
            gradient = 2.0 * (Z.T @ X)
        if self.kind == "nca":
            loss = -float(np.sum(self.stat))
        else:
            loss = float(np.sum((self.stat - self.target) ** 2))
        self.n_evaluations += 1
        return loss, gradient
