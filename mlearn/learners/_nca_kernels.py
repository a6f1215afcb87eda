"""Softmax-neighbour objectives shared by NCA and MLKR, computed in row blocks.

Both learners embed the points with ``E = X @ L.T`` and give every point ``i``
a softmax over the others, ``p_ij = exp(-d_ij) / sum_k exp(-d_ik)`` with
``d_ij = ||e_i - e_j||^2`` (``p_ii = 0``). Their losses depend on L only
through the squared distances, so with ``W_ij = d loss / d d_ij`` the
gradient is

    d loss / d L = 2 L sum_ij W_ij (x_i - x_j)(x_i - x_j)^T
                 = 2 Z^T X,   Z = diag(r + c) E - W E - W^T E,

where ``r`` and ``c`` are the row and column sums of ``W``. For both losses
each row of ``W`` sums to zero (``r = 0``), which the kernels rely on.

Nothing of size n x n x d is ever formed: ``W`` is built one block of rows at
a time (the whole matrix when it fits the memory budget), and each block
contributes to ``W E`` and ``W^T E`` through two matrix products. The
per-row work (distances from the Gram block, the shifted exponentials, the
class or target sums, the weights and their share of ``W E`` and ``W^T E``)
is fused in one Numba kernel per loss, on a block small enough to stay in
cache. Only the terms that are not negligible (see ``_CUTOFF``) are kept, as
a compact list per row, so the sums and the products cost in proportion to
the number of effective neighbours rather than n.

Each kernel has a NumPy reference (``*_reference``) that the tests compare it
with.
"""

import numpy as np
from numba import get_num_threads, njit, prange

__all__ = [
    "SoftmaxObjective",
    "mlkr_block_weights",
    "mlkr_block_weights_reference",
    "nca_block_weights",
    "nca_block_weights_reference",
]

#: Exponentials below exp(-_CUTOFF) ~ 2.3e-16 of the largest term in a row
#: (float64 epsilon) are taken as zero: each is below the round-off of the
#: row's sum, which is at least 1. Skipping them skips their share of the
#: gradient products, which is most of the work once the classes separate.
_CUTOFF = 36.0


@njit(cache=True, nogil=True)
def _row_exponentials(row, sq, i, idx, val):
    """The non-negligible shifted exponentials of row ``i``, as a compact list.

    ``row`` holds ``e_i . e_j`` on entry and is used as scratch. On exit
    ``idx[:m]`` lists the ``j != i`` with ``d_ij - d_min < _CUTOFF`` and
    ``val[:m]`` their ``exp(d_min - d_ij)``; returns ``m``. Only those
    entries are touched again, which is most of the saving once the classes
    separate.
    """
    n = row.shape[0]
    sq_i = sq[i]
    for j in range(n):
        row[j] = max(sq_i + sq[j] - 2.0 * row[j], 0.0)
    row[i] = np.inf
    # four running minima break the dependency chain (min is exact in any order)
    m0 = m1 = m2 = m3 = np.inf
    n4 = n - n % 4
    for j in range(0, n4, 4):
        m0 = min(m0, row[j])
        m1 = min(m1, row[j + 1])
        m2 = min(m2, row[j + 2])
        m3 = min(m3, row[j + 3])
    for j in range(n4, n):
        m0 = min(m0, row[j])
    limit = min(min(m0, m1), min(m2, m3))
    d_min = limit
    limit += _CUTOFF
    m = 0
    for j in range(n):
        if row[j] < limit:
            idx[m] = j
            val[m] = np.exp(d_min - row[j])
            m += 1
    return m


@njit(cache=True, nogil=True)
def _accumulate_row(i, row, idx, val, m, E, WE, WtE, col_sums):
    """Add row ``i`` of W (``val[:m]`` at columns ``idx[:m]``) to the products.

    Adds to ``(W E)_i``, to ``W^T E`` and to ``W^T 1``, and writes the row of
    W into ``row`` (zero elsewhere).
    """
    k = E.shape[1]
    row[:] = 0.0
    for q in range(m):
        j = idx[q]
        w = val[q]
        row[j] = w
        col_sums[j] += w
        for a in range(k):
            WE[i, a] += w * E[j, a]
            WtE[j, a] += w * E[i, a]


@njit(cache=True, nogil=True, parallel=True)
def nca_block_weights(G, sq, row0, codes, E, p_out, WE, WtE, col_sums):
    """NCA weights of a block of rows, accumulated into the gradient products.

    Parameters
    ----------
    G : ndarray of shape (n_rows, n)
        On entry ``E[row0:row0 + n_rows] @ E.T``; on exit
        ``W_ij = p_ij ([y_i == y_j] - p_i)``, the derivative of
        ``-sum_i p_i`` with respect to ``d_ij``.
    sq : ndarray of shape (n,)
        Squared norms of the rows of ``E``.
    row0 : int
        Index of the block's first row.
    codes : ndarray of int64, shape (n,)
        Class of each point.
    E : ndarray of shape (n, k)
        The embedded points.
    p_out : ndarray of shape (n_rows,)
        Receives ``p_i``, the probability that ``i`` picks a neighbour of its class.
    WE : ndarray of shape (n, k)
        Rows ``row0:row0 + n_rows`` receive ``(W E)_i`` (must be zero on entry).
    WtE : ndarray of shape (n_parts, n, k)
        ``W^T E`` accumulated over blocks; part ``t`` belongs to one thread.
    col_sums : ndarray of shape (n_parts, n)
        ``W^T 1`` accumulated the same way.
    """
    n_rows, n = G.shape
    n_parts = WtE.shape[0]
    for t in prange(n_parts):
        idx = np.empty(n, dtype=np.int64)
        val = np.empty(n)
        for b in range(t * n_rows // n_parts, (t + 1) * n_rows // n_parts):
            i = row0 + b
            row = G[b]
            m = _row_exponentials(row, sq, i, idx, val)
            c_i = codes[i]
            total = 0.0
            same = 0.0
            for q in range(m):
                total += val[q]
                if codes[idx[q]] == c_i:
                    same += val[q]
            p_i = same / total
            p_out[b] = p_i
            inv_total = 1.0 / total
            for q in range(m):
                if codes[idx[q]] == c_i:
                    val[q] = val[q] * inv_total * (1.0 - p_i)
                else:
                    val[q] = -val[q] * inv_total * p_i
            _accumulate_row(i, row, idx, val, m, E, WE, WtE[t], col_sums[t])


@njit(cache=True, nogil=True, parallel=True)
def mlkr_block_weights(G, sq, row0, y, E, yhat_out, WE, WtE, col_sums):
    """MLKR weights of a block of rows, accumulated into the gradient products.

    As :func:`nca_block_weights`, with real targets ``y`` of shape (n,):
    on exit ``G`` holds ``W_ij = 2 (yhat_i - y_i) p_ij (yhat_i - y_j)``, the
    derivative of ``sum_i (yhat_i - y_i)^2`` with respect to ``d_ij``, and
    ``yhat_out`` the leave-one-out kernel regression estimates
    ``yhat_i = sum_j p_ij y_j``.
    """
    n_rows, n = G.shape
    n_parts = WtE.shape[0]
    for t in prange(n_parts):
        idx = np.empty(n, dtype=np.int64)
        val = np.empty(n)
        for b in range(t * n_rows // n_parts, (t + 1) * n_rows // n_parts):
            i = row0 + b
            row = G[b]
            m = _row_exponentials(row, sq, i, idx, val)
            total = 0.0
            weighted = 0.0
            for q in range(m):
                total += val[q]
                weighted += val[q] * y[idx[q]]
            yhat = weighted / total
            yhat_out[b] = yhat
            scale = 2.0 * (yhat - y[i]) / total
            for q in range(m):
                val[q] = scale * val[q] * (yhat - y[idx[q]])
            _accumulate_row(i, row, idx, val, m, E, WE, WtE[t], col_sums[t])


# The same kernels compiled without threads: launching the thread pool costs
# more than the work on small blocks (and on a busy machine, much more).
_nca_block_weights_serial = njit(cache=True, nogil=True)(nca_block_weights.py_func)
_mlkr_block_weights_serial = njit(cache=True, nogil=True)(mlkr_block_weights.py_func)

#: Blocks with fewer entries than this run on one thread.
PARALLEL_MIN_ENTRIES = 2**17


def _softmax_reference(G, sq, row0):
    n_rows = G.shape[0]
    rows = np.arange(n_rows)
    D = np.maximum(sq[row0:row0 + n_rows, None] + sq[None, :] - 2.0 * G, 0.0)
    D[rows, row0 + rows] = np.inf
    D -= D.min(axis=1, keepdims=True)
    P = np.exp(-D)
    P /= P.sum(axis=1, keepdims=True)
    return P


def nca_block_weights_reference(G, sq, row0, codes):
    """NumPy reference of :func:`nca_block_weights`: returns ``(W, p)``."""
    P = _softmax_reference(G, sq, row0)
    same = codes[row0:row0 + G.shape[0], None] == codes[None, :]
    p = np.sum(P * same, axis=1)
    return P * (same - p[:, None]), p


def mlkr_block_weights_reference(G, sq, row0, y):
    """NumPy reference of :func:`mlkr_block_weights`: returns ``(W, yhat)``."""
    P = _softmax_reference(G, sq, row0)
    yhat = P @ y
    y_i = y[row0:row0 + G.shape[0]]
    W = 2.0 * (yhat - y_i)[:, None] * P * (yhat[:, None] - y[None, :])
    return W, yhat


class SoftmaxObjective:
    """Loss and gradient with respect to L of the NCA or MLKR objective.

    The workspace (one block of rows of the n x n weights and the n x k
    products) is allocated once and reused by every evaluation.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float64
        Training points; centred here (distances do not change).
    target : ndarray of shape (n_samples,)
        Class codes (int64) for ``kind="nca"``, real targets for ``kind="mlkr"``.
    kind : {"nca", "mlkr"}
    n_components : int
    block_bytes : int
        Size of the block of weights; the default keeps it in the processor's
        cache while the kernel works on it.
    """

    def __init__(self, X, target, kind, n_components, block_bytes=2**21):
        self.X = X - X.mean(axis=0)
        self.target = target
        self.kind = kind
        n = X.shape[0]
        n_parts = max(1, min(get_num_threads(), n))
        self.block_rows = int(max(n_parts, min(n, block_bytes // (8 * n))))
        if n_parts == 1 or self.block_rows * n < PARALLEL_MIN_ENTRIES:
            n_parts = 1
            self._kernel = (_nca_block_weights_serial if kind == "nca"
                            else _mlkr_block_weights_serial)
        else:
            self._kernel = nca_block_weights if kind == "nca" else mlkr_block_weights
        self.block = np.empty((self.block_rows, n))
        self.E = np.empty((n, n_components))
        self.WE = np.empty((n, n_components))
        self.WtE = np.empty((n_parts, n, n_components))
        self.col_sums = np.empty((n_parts, n))
        self.stat = np.empty(n)
        self.n_evaluations = 0

    def value_and_gradient(self, L):
        """``(loss, gradient)`` at ``L`` of shape (n_components, n_features).

        The NCA loss is ``-sum_i p_i`` (minimised); the MLKR loss is
        ``sum_i (yhat_i - y_i)^2``.
        """
        X, E = self.X, self.E
        n = E.shape[0]
        np.dot(X, L.T, out=E)
        Et = np.ascontiguousarray(E.T)
        sq = np.einsum("ij,ij->i", E, E)
        for buffer in (self.WE, self.WtE, self.col_sums):
            buffer.fill(0.0)
        for start in range(0, n, self.block_rows):
            stop = min(start + self.block_rows, n)
            G = self.block[: stop - start]
            np.dot(E[start:stop], Et, out=G)
            self._kernel(G, sq, start, self.target, E, self.stat[start:stop],
                         self.WE, self.WtE, self.col_sums)
        col_sums = self.col_sums.sum(axis=0)
        Z = col_sums[:, None] * E - self.WE - self.WtE.sum(axis=0)
        gradient = 2.0 * (Z.T @ X)
        if self.kind == "nca":
            loss = -float(np.sum(self.stat))
        else:
            loss = float(np.sum((self.stat - self.target) ** 2))
        self.n_evaluations += 1
        return loss, gradient
