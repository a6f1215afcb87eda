"""Compiled inner loop of ITML: one sweep of Bregman projections over the constraints.

The kernels trust their inputs (float64, C-contiguous, consistent shapes); the
estimator in :mod:`mlearn.learners.itml` validates them. :func:`itml_sweep_numpy`
is the NumPy reference the tests compare the compiled kernels with.

:func:`itml_sweep` applies each rank-one update to ``A`` as it comes.
:func:`itml_sweep_blocked` makes the same projections in the same order but
keeps the updates of a block of constraints as a low-rank term and folds them
into ``A`` with one matrix product per block, which is faster from about 32
features on (the estimator's ``BLOCKED_MIN_FEATURES`` and ``SWEEP_BLOCK``).
"""

import numpy as np

from .._jit import njit

__all__ = ["itml_sweep", "itml_sweep_blocked", "itml_sweep_numpy"]


@njit(cache=True, nogil=True)
def _rows_times(A, diffs, c, out):
    """out = A @ diffs[c] for symmetric A, as a sum of rows."""
    d = A.shape[0]
    for i in range(d):
        out[i] = 0.0
    for j in range(d):
        vj = diffs[c, j]
        if vj != 0.0:
            for i in range(d):
                out[i] += vj * A[j, i]


@njit(cache=True, nogil=True)
def _project(c, p, signs, targets, lambdas, gamma, gamma_proj):
    """Bregman projection onto constraint ``c``, whose ``v' A v`` is ``p > 0``.

    Updates ``lambdas[c]`` and ``targets[c]``; returns ``beta`` of the
    update ``A += beta (A v)(A v)'``, 0.0 when the constraint leaves ``A``
    as it is.
    """
    delta = signs[c]
    if delta > 0:
        alpha = min(lambdas[c], gamma_proj * (1.0 / p - 1.0 / targets[c]))
    else:
        alpha = min(lambdas[c], gamma_proj * (1.0 / targets[c] - 1.0 / p))
    if alpha == 0.0:
        return 0.0
    lambdas[c] -= alpha
    if np.isfinite(gamma):
        targets[c] = 1.0 / (1.0 / targets[c] + delta * alpha / gamma)
    return delta * alpha / (1.0 - delta * alpha * p)


@njit(cache=True, nogil=True)
def itml_sweep(A, diffs, signs, targets, lambdas, gamma, gamma_proj):
    """Project ``A`` in turn onto each pair constraint, in place.

    Parameters
    ----------
    A : ndarray of shape (d, d)
        Current Mahalanobis matrix, symmetric positive definite; updated.
    diffs : ndarray of shape (n, d)
        ``x_i - x_j`` for each pair; rows must be non-zero.
    signs : ndarray of shape (n,)
        +1 for a similar pair (distance should be at most its target),
        -1 for a dissimilar one (at least its target).
    targets : ndarray of shape (n,)
        Slack-adjusted squared-distance targets; updated.
    lambdas : ndarray of shape (n,)
        Dual variables, non-negative; updated.
    gamma : float
        Slack trade-off (``np.inf`` for hard constraints).
    gamma_proj : float
        ``gamma / (gamma + 1)``, or 1 when ``gamma`` is infinite.

    Returns
    -------
    n_skipped : int
        Pairs whose current squared distance was not positive (skipped).
    """
    n, d = diffs.shape
    n_skipped = 0
    if n == 0:
        return 0
    # cur = A v_c. It is computed as a sum of rows of A (A is symmetric), whose
    # inner loop runs over contiguous memory without a reduction and so
    # vectorises; the rank-one update of constraint c and the product A v_{c+1}
    # share one pass over A.
    # two separate buffers (not views of one array), so that the compiler can
    # tell they do not overlap A and vectorise the loops that write them
    cur = np.empty(d)
    nxt = np.empty(d)
    _rows_times(A, diffs, 0, cur)
    for c in range(n):
        p = 0.0
        for i in range(d):
            p += diffs[c, i] * cur[i]
        beta = 0.0
        if p > 0.0:
            beta = _project(c, p, signs, targets, lambdas, gamma, gamma_proj)
        else:
            n_skipped += 1
        has_next = c + 1 < n
        if beta != 0.0:
            # A += beta (A v)(A v)', and nxt = A_new v_{c+1} in the same pass
            for j in range(d):
                nxt[j] = 0.0
            for i in range(d):
                bi = beta * cur[i]
                vi = diffs[c + 1, i] if has_next else 0.0
                row = A[i]
                for j in range(d):
                    a_ij = row[j] + bi * cur[j]
                    row[j] = a_ij
                    nxt[j] += vi * a_ij
        elif has_next:
            _rows_times(A, diffs, c + 1, nxt)
        cur, nxt = nxt, cur
    return n_skipped


@njit(cache=True, nogil=True)
def itml_sweep_blocked(A, diffs, signs, targets, lambdas, gamma, gamma_proj, block):
    """:func:`itml_sweep` (same arguments, same projections in the same order)
    with the rank-one updates applied a block of ``block`` constraints at a time.

    Inside a block ``A = A0 + sum_t beta_t u_t u_t'`` over the block's updates
    so far, so ``A v_c`` is ``A0 v_c`` (one product ``V_block A0`` per block)
    plus ``O(n_features)`` per earlier update; at the end of the block the
    updates are added to ``A`` in one product, so the result differs from
    :func:`itml_sweep`'s only by round-off.
    """
    n, d = diffs.shape
    n_skipped = 0
    U = np.empty((block, d))  # the block's update vectors u_t = A_(t-1) v_t
    scaled = np.empty((block, d))  # beta_t u_t
    beta_u = np.empty(block)
    cur = np.empty(d)
    for c0 in range(0, n, block):
        c1 = min(n, c0 + block)
        P = np.dot(diffs[c0:c1], A)  # row t: A0 v_t (A is symmetric)
        k = 0
        for c in range(c0, c1):
            v = diffs[c]
            for a in range(d):
                cur[a] = P[c - c0, a]
            for t in range(k):
                s = 0.0
                for a in range(d):
                    s += U[t, a] * v[a]
                s *= beta_u[t]
                for a in range(d):
                    cur[a] += s * U[t, a]
            p = 0.0
            for a in range(d):
                p += v[a] * cur[a]
            beta = 0.0
            if p > 0.0:
                beta = _project(c, p, signs, targets, lambdas, gamma, gamma_proj)
            else:
                n_skipped += 1
            if beta != 0.0:
                for a in range(d):
                    U[k, a] = cur[a]
                    scaled[k, a] = beta * cur[a]
                beta_u[k] = beta
                k += 1
        if k > 0:
            A += np.dot(U[:k].T, scaled[:k])
    return n_skipped


def itml_sweep_numpy(A, diffs, signs, targets, lambdas, gamma, gamma_proj):
    """NumPy reference of :func:`itml_sweep` (same in-place updates)."""
    n_skipped = 0
    for c in range(diffs.shape[0]):
        v = diffs[c]
        Av = A @ v
        p = float(v @ Av)
        if not p > 0.0:
            n_skipped += 1
            continue
        delta = signs[c]
        if delta > 0:
            alpha = min(lambdas[c], gamma_proj * (1.0 / p - 1.0 / targets[c]))
        else:
            alpha = min(lambdas[c], gamma_proj * (1.0 / targets[c] - 1.0 / p))
        if alpha == 0.0:
            continue
        lambdas[c] -= alpha
        beta = delta * alpha / (1.0 - delta * alpha * p)
        if np.isfinite(gamma):
            targets[c] = 1.0 / (1.0 / targets[c] + delta * alpha / gamma)
        A += beta * np.outer(Av, Av)
    return n_skipped
