"""Compiled inner loops of SCML: stochastic dual averaging over triplets, and its objective.

The kernels trust their inputs (float64 / int64, C-contiguous, consistent
shapes); :mod:`mlearn.learners.scml` validates them. :func:`scml_dual_averaging_numpy`
and :func:`triplet_hinge_mean_numpy` are the NumPy references the tests compare
the compiled kernels with.

The triplets' distance differences in the basis space,
``dd[t, k] = (xb[a, k] - xb[p, k])**2 - (xb[a, k] - xb[n, k])**2`` with
``xb = X @ basis.T``, are computed on the fly for the sampled triplets only:
the full (n_triplets, n_basis) table is never built.
"""

import numpy as np

from .._jit import njit

__all__ = [
    "scml_dual_averaging",
    "scml_dual_averaging_numpy",
    "triplet_hinge_mean",
    "triplet_hinge_mean_numpy",
]


@njit(cache=True, nogil=True)
def scml_dual_averaging(
    XB, triplets, batches, start_iter, w, avg_grad, ada_grad, beta, gamma, delta, rows, grad
):
    """Run ``len(batches)`` iterations of regularised dual averaging, in place.

    Parameters
    ----------
    XB : ndarray of shape (n_points, n_basis)
        The points projected on the bases.
    triplets : ndarray of shape (n_triplets, 3), int64
        Indices ``(anchor, positive, negative)`` into ``XB``.
    batches : ndarray of shape (n_iter, batch_size), int64
        Triplet indices sampled for each iteration.
    start_iter : int
        Number of iterations already run (the averaging weight).
    w, avg_grad, ada_grad : ndarray of shape (n_basis,)
        Basis weights, running mean of the gradients and root of their
        running sum of squares; updated.
    beta, gamma, delta : float
        L1 weight, learning-rate scale and the AdaGrad floor.
    rows : ndarray of shape (batch_size, n_basis)
        Scratch space for the batch's distance differences.
    grad : ndarray of shape (n_basis,)
        Scratch space for the batch gradient.
    """
    n_iter, batch_size = batches.shape
    n_basis = XB.shape[1]
    for it in range(n_iter):
        step = start_iter + it
        for k in range(n_basis):
            grad[k] = 0.0
        for j in range(batch_size):
            t = batches[it, j]
            a = triplets[t, 0]
            p = triplets[t, 1]
            n = triplets[t, 2]
            slack = 1.0
            for k in range(n_basis):
                dp = XB[a, k] - XB[p, k]
                dn = XB[a, k] - XB[n, k]
                diff = dp * dp - dn * dn
                rows[j, k] = diff
                slack += w[k] * diff
            if slack > 0.0:
                for k in range(n_basis):
                    grad[k] += rows[j, k]
        for k in range(n_basis):
            g = grad[k] / batch_size
            avg_grad[k] = (step * avg_grad[k] + g) / (step + 1)
            ada_grad[k] = np.sqrt(ada_grad[k] * ada_grad[k] + g * g)
            shifted = avg_grad[k] + beta
            if shifted < 0.0:
                w[k] = -(step + 1) / (gamma * (delta + ada_grad[k])) * shifted
            else:
                w[k] = 0.0


def scml_dual_averaging_numpy(
    XB, triplets, batches, start_iter, w, avg_grad, ada_grad, beta, gamma, delta
):
    """NumPy reference of :func:`scml_dual_averaging` (same in-place updates)."""
    batch_size = batches.shape[1]
    for it in range(batches.shape[0]):
        step = start_iter + it
        t = triplets[batches[it]]
        dd = (XB[t[:, 0]] - XB[t[:, 1]]) ** 2 - (XB[t[:, 0]] - XB[t[:, 2]]) ** 2
        violated = 1.0 + dd @ w > 0
        g = dd[violated].sum(axis=0) / batch_size
        avg_grad[:] = (step * avg_grad + g) / (step + 1)
        ada_grad[:] = np.sqrt(ada_grad**2 + g**2)
        scale = -(step + 1) / (gamma * (delta + ada_grad))
        w[:] = scale * np.minimum(avg_grad + beta, 0.0)


@njit(cache=True, nogil=True)
def triplet_hinge_mean(Z, triplets):
    """Mean over triplets of ``max(0, 1 + |z_a - z_p|**2 - |z_a - z_n|**2)``."""
    total = 0.0
    n_dims = Z.shape[1]
    for t in range(triplets.shape[0]):
        a = triplets[t, 0]
        p = triplets[t, 1]
        n = triplets[t, 2]
        slack = 1.0
        for k in range(n_dims):
            dp = Z[a, k] - Z[p, k]
            dn = Z[a, k] - Z[n, k]
            slack += dp * dp - dn * dn
        if slack > 0.0:
            total += slack
    return total / triplets.shape[0]


def triplet_hinge_mean_numpy(Z, triplets):
    """NumPy reference of :func:`triplet_hinge_mean`."""
    a, p, n = Z[triplets[:, 0]], Z[triplets[:, 1]], Z[triplets[:, 2]]
    slack = 1.0 + np.sum((a - p) ** 2, axis=1) - np.sum((a - n) ** 2, axis=1)
    return float(np.mean(np.maximum(slack, 0.0)))
