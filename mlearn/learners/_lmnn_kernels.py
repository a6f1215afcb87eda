"""Numba kernels of LMNN's objective, each with a NumPy reference.

The kernels trust their inputs: C-contiguous float64 arrays and int64 index
arrays, outputs allocated (and zeroed where they accumulate) by the caller.

Notation: ``Z = X @ L.T`` holds the points in the current space. Target pairs
are ``(anchor[t], target[t])`` for ``t`` in ``tptr[a]:tptr[a + 1]`` when
``anchor[t] == a`` (CSR layout by anchor). Impostor candidates are
``(cand_anchor[c], cand_other[c])`` for ``c`` in ``cptr[a]:cptr[a + 1]``, with
``cand_anchor[c] == a``, also grouped by anchor.
"""

import numpy as np

from .._jit import njit, prange, variant

__all__ = [
    "laplacian_apply",
    "laplacian_apply_reference",
    "paired_sqdist",
    "paired_sqdist_reference",
    "push_terms",
    "push_terms_reference",
    "threshold_pairs",
    "threshold_pairs_reference",
]


@njit(cache=True, nogil=True)
def _sqdist(Z, i, j):
    s0 = 0.0
    s1 = 0.0
    p = Z.shape[1]
    stop = p - p % 2
    for k in range(0, stop, 2):
        t0 = Z[i, k] - Z[j, k]
        t1 = Z[i, k + 1] - Z[j, k + 1]
        s0 += t0 * t0
        s1 += t1 * t1
    for k in range(stop, p):
        t0 = Z[i, k] - Z[j, k]
        s0 += t0 * t0
    return s0 + s1


def _paired_sqdist(Z, a, b, out):
    """``out[t] = ||Z[a[t]] - Z[b[t]]||²`` by explicit differences."""
    for t in prange(a.shape[0]):
        out[t] = _sqdist(Z, a[t], b[t])
    return out


#: Below this much work (pairs x dimensions) threads cost more than they save.
PARALLEL_MIN_WORK = 2_000_000

# Each variant compiles under a name of its own, or Numba's cache would hand one
# the other's code (see mlearn._jit.variant).
_paired_sqdist_serial = njit(cache=True, nogil=True)(variant(_paired_sqdist, "serial"))
_paired_sqdist_parallel = njit(cache=True, nogil=True, parallel=True)(_paired_sqdist)


def paired_sqdist(Z, a, b, out):
    """``out[t] = ||Z[a[t]] - Z[b[t]]||²`` by explicit differences."""
    if a.shape[0] * Z.shape[1] >= PARALLEL_MIN_WORK:
        return _paired_sqdist_parallel(Z, a, b, out)
    return _paired_sqdist_serial(Z, a, b, out)


def paired_sqdist_reference(Z, a, b, out):
    diff = Z[a] - Z[b]
    out[:] = np.einsum("ij,ij->i", diff, diff)
    return out


def _push_terms(Z, cptr, cand_other, tptr, target_sqdist, w_target, w_cand):
    """Hinge terms of every (anchor, target, impostor) triplet among the candidates.

    The triplet ``(a, j, l)`` with ``j`` a target of ``a`` and ``l`` a
    candidate impostor of ``a`` is active when
    ``h = 1 + ||z_a - z_j||² - ||z_a - z_l||² > 0``. Adds one to
    ``w_target[t]`` and ``w_cand[c]`` per active triplet (``w_target`` and
    ``w_cand`` must be zero on entry).

    Returns
    -------
    loss : float
        Sum of the active hinges.
    n_active : int
        Number of active triplets.
    """
    n = cptr.shape[0] - 1
    loss = 0.0
    n_active = 0
    for a in prange(n):
        t0 = tptr[a]
        t1 = tptr[a + 1]
        if t0 == t1:
            continue
        local_loss = 0.0
        local_active = 0
        for c in range(cptr[a], cptr[a + 1]):
            d_imp = _sqdist(Z, a, cand_other[c])
            count = 0
            for t in range(t0, t1):
                h = 1.0 + target_sqdist[t] - d_imp
                if h > 0.0:
                    local_loss += h
                    count += 1
                    w_target[t] += 1.0
            w_cand[c] = count
            local_active += count
        loss += local_loss
        n_active += local_active
    return loss, n_active


_push_terms_serial = njit(cache=True, nogil=True)(variant(_push_terms, "serial"))
_push_terms_parallel = njit(cache=True, nogil=True, parallel=True)(_push_terms)


def push_terms(Z, cptr, cand_other, tptr, target_sqdist, w_target, w_cand):
    """Hinge terms of the candidate triplets; see ``_push_terms``."""
    if cand_other.shape[0] * Z.shape[1] >= PARALLEL_MIN_WORK:
        kernel = _push_terms_parallel
    else:
        kernel = _push_terms_serial
    return kernel(Z, cptr, cand_other, tptr, target_sqdist, w_target, w_cand)


def push_terms_reference(Z, cptr, cand_other, tptr, target_sqdist, w_target, w_cand):
    n = len(cptr) - 1
    cand_anchor = np.repeat(np.arange(n), np.diff(cptr))
    d_imp = np.einsum("ij,ij->i", Z[cand_anchor] - Z[cand_other], Z[cand_anchor] - Z[cand_other])
    loss, n_active = 0.0, 0
    for c in range(len(cand_other)):
        a = cand_anchor[c]
        t = np.arange(tptr[a], tptr[a + 1])
        h = 1.0 + target_sqdist[t] - d_imp[c]
        active = h > 0
        loss += h[active].sum()
        n_active += int(active.sum())
        w_target[t[active]] += 1.0
        w_cand[c] = active.sum()
    return loss, n_active


@njit(cache=True, nogil=True)
def laplacian_apply(Z, a, b, w, out):
    """``out += C @ Z`` for the graph Laplacian ``C`` of the weighted pairs.

    ``C = sum_t w[t] (e_a - e_b)(e_a - e_b)ᵀ``, so that
    ``Xᵀ C X = sum_t w[t] (x_a - x_b)(x_a - x_b)ᵀ``: each pair adds
    ``w (z_a - z_b)`` to row ``a`` and subtracts it from row ``b``.
    """
    p = Z.shape[1]
    for t in range(a.shape[0]):
        wt = w[t]
        if wt == 0.0:
            continue
        i = a[t]
        j = b[t]
        for k in range(p):
            v = wt * (Z[i, k] - Z[j, k])
            out[i, k] += v
            out[j, k] -= v
    return out


def laplacian_apply_reference(Z, a, b, w, out):
    v = w[:, None] * (Z[a] - Z[b])
    np.add.at(out, a, v)
    np.add.at(out, b, -v)
    return out


@njit(cache=True, nogil=True)
def threshold_pairs(G, norms_r, norms_c, thr_r, thr_c, row0, col0, out_a, out_b):
    """Pairs of a block of squared distances that fall inside either point's radius.

    The block is ``D[i, j] = norms_r[i] + norms_c[j] - 2 G[i, j]`` with
    ``G = Z_r @ Z_c.T`` from BLAS. Pair ``(row0 + i, col0 + j)`` is written
    (anchor first) when ``D[i, j] < thr_r[i]``, and ``(col0 + j, row0 + i)``
    when ``D[i, j] < thr_c[j]``. With ``out_a`` of length zero only counts.

    Returns the number of pairs found.
    """
    count = 0
    write = out_a.shape[0] > 0
    for i in range(G.shape[0]):
        ni = norms_r[i]
        ti = thr_r[i]
        for j in range(G.shape[1]):
            d = ni + norms_c[j] - 2.0 * G[i, j]
            if d < ti:
                if write:
                    out_a[count] = row0 + i
                    out_b[count] = col0 + j
                count += 1
            if d < thr_c[j]:
                if write:
                    out_a[count] = col0 + j
                    out_b[count] = row0 + i
                count += 1
    return count


def threshold_pairs_reference(G, norms_r, norms_c, thr_r, thr_c, row0, col0):
    D = norms_r[:, None] + norms_c[None, :] - 2.0 * G
    i1, j1 = np.nonzero(D < thr_r[:, None])
    i2, j2 = np.nonzero(D < thr_c[None, :])
    return (np.concatenate([i1 + row0, j2 + col0]), np.concatenate([j1 + col0, i2 + row0]))
