"""Numba kernels of OASIS's passive-aggressive updates, for CSR and dense rows.

On CSR rows (:func:`oasis_updates`) each update reads only the non-zero
features of the triplet's three rows, so its cost is
``nnz(a) * (nnz(p) + nnz(n))`` whatever the number of features. Dense rows
(:func:`oasis_updates_dense`) run the same updates with contiguous loops,
skipping the anchor's zero features as the CSR kernel does; the two give
the same ``W``. :func:`oasis_updates_reference` is the plain-NumPy loop both
are tested (and benchmarked) against.
"""

import numpy as np

from .._jit import njit

__all__ = ["oasis_updates", "oasis_updates_dense", "oasis_updates_reference"]


@njit(cache=True, nogil=True)
def _difference(indptr, indices, data, p, n, diff_index, diff_value):
    """Write the non-zeros of ``x_p - x_n`` (merging sorted indices); return their count."""
    i, i_end = indptr[p], indptr[p + 1]
    j, j_end = indptr[n], indptr[n + 1]
    m = 0
    while i < i_end or j < j_end:
        if j == j_end or (i < i_end and indices[i] < indices[j]):
            diff_index[m] = indices[i]
            diff_value[m] = data[i]
            i += 1
        elif i == i_end or indices[j] < indices[i]:
            diff_index[m] = indices[j]
            diff_value[m] = -data[j]
            j += 1
        else:
            diff_index[m] = indices[i]
            diff_value[m] = data[i] - data[j]
            i += 1
            j += 1
        m += 1
    return m


@njit(cache=True, nogil=True)
def oasis_updates(indptr, indices, data, triplets, order, W, c, diff_index, diff_value, anchor_w):
    """Run OASIS's updates for ``triplets[order]``, in that order, on ``W`` in place.

    For the triplet ``(a, p, n)``, with ``V = x_a (x_p - x_n)ᵀ``: the loss
    is ``l = max(0, 1 - x_aᵀ W (x_p - x_n))`` and ``W += tau V`` with
    ``tau = min(c, l / ||V||_F²)``. A triplet with ``V = 0`` is skipped.

    Parameters
    ----------
    indptr, indices, data : ndarray
        The rows in CSR form, indices sorted within each row.
    triplets : ndarray of shape (n_triplets, 3), int64
        Row indices ``(a, p, n)``.
    order : ndarray of shape (n_updates,), int64
        Which triplet each update takes.
    W : ndarray of shape (n_features, n_features), float64
        Updated in place.
    c : float
        Aggressiveness: the largest step.
    diff_index, diff_value : ndarray of shape (n_features,)
        Scratch space (int64, float64) for the non-zeros of ``x_p - x_n``.
    anchor_w : ndarray of shape (n_features,)
        Scratch space (float64) for ``x_aᵀ W`` at those features.

    Returns
    -------
    n_updated : int
        The number of updates that changed ``W`` (positive loss).
    """
    n_updated = 0
    for t in order:
        a, p, n = triplets[t, 0], triplets[t, 1], triplets[t, 2]
        m = _difference(indptr, indices, data, p, n, diff_index, diff_value)
        diff_norm2 = 0.0
        for k in range(m):
            diff_norm2 += diff_value[k] * diff_value[k]
        anchor_norm2 = 0.0
        for ia in range(indptr[a], indptr[a + 1]):
            anchor_norm2 += data[ia] * data[ia]
        v_norm2 = anchor_norm2 * diff_norm2
        if v_norm2 == 0.0:
            continue
        # x_aᵀ W at the difference's features, then the product (as in the dense kernel)
        for k in range(m):
            anchor_w[k] = 0.0
        for ia in range(indptr[a], indptr[a + 1]):
            row = indices[ia]
            for k in range(m):
                anchor_w[k] += data[ia] * W[row, diff_index[k]]
        margin = 0.0
        for k in range(m):
            margin += anchor_w[k] * diff_value[k]
        loss = 1.0 - margin
        if not loss > 0.0:
            continue
        tau = min(c, loss / v_norm2)
        for ia in range(indptr[a], indptr[a + 1]):
            row = indices[ia]
            step = tau * data[ia]
            for k in range(m):
                W[row, diff_index[k]] += step * diff_value[k]
        n_updated += 1
    return n_updated


@njit(cache=True, nogil=True)
def oasis_updates_dense(X, triplets, order, W, c, diff, anchor_w):
    """The updates of :func:`oasis_updates` on dense rows ``X`` (C-contiguous float64).

    ``diff`` and ``anchor_w`` are scratch space of shape (n_features,).
    Returns the number of updates that changed ``W``.
    """
    n_features = X.shape[1]
    n_updated = 0
    for t in order:
        a, p, n = triplets[t, 0], triplets[t, 1], triplets[t, 2]
        diff_norm2 = 0.0
        anchor_norm2 = 0.0
        for j in range(n_features):
            diff[j] = X[p, j] - X[n, j]
            diff_norm2 += diff[j] * diff[j]
            anchor_norm2 += X[a, j] * X[a, j]
        v_norm2 = anchor_norm2 * diff_norm2
        if v_norm2 == 0.0:
            continue
        # x_aᵀ W first, then its product with the difference: the long loop
        # runs along W's rows with no running sum, which compiles to vector code
        for j in range(n_features):
            anchor_w[j] = 0.0
        for i in range(n_features):
            if X[a, i] == 0.0:
                continue
            for j in range(n_features):
                anchor_w[j] += X[a, i] * W[i, j]
        margin = 0.0
        for j in range(n_features):
            margin += anchor_w[j] * diff[j]
        loss = 1.0 - margin
        if not loss > 0.0:
            continue
        tau = min(c, loss / v_norm2)
        for i in range(n_features):
            if X[a, i] == 0.0:
                continue
            step = tau * X[a, i]
            for j in range(n_features):
                W[i, j] += step * diff[j]
        n_updated += 1
    return n_updated


def oasis_updates_reference(X, triplets, order, W, c):
    """The updates of :func:`oasis_updates` as a plain-NumPy loop on dense rows ``X``.

    Returns the updated copy of ``W`` (``W`` itself is left unchanged).
    """
    W = np.array(W, dtype=np.float64)
    for t in order:
        a, p, n = X[triplets[t, 0]], X[triplets[t, 1]], X[triplets[t, 2]]
        V = np.outer(a, p - n)
        v_norm2 = np.sum(V * V)
        if v_norm2 == 0.0:
            continue
        loss = max(0.0, 1.0 - a @ W @ p + a @ W @ n)
        W += min(c, loss / v_norm2) * V
    return W
