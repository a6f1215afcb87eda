"""Reference backend: every metric written plainly in NumPy.

Each function takes ``x`` and ``y`` whose last axis holds the features and
which broadcast against each other (one point against many for
``pairwise_distances``, row against row for ``paired_distances``). Distances
are computed from explicit differences, so they carry no cancellation error;
the fast backends are tested against these functions.
"""

import numpy as np

from ._chunking import chunk_rows, slices
from ._limits import check_kl_floor


def sqeuclidean(x, y):
    diff = x - y
    return np.sum(diff * diff, axis=-1)


def euclidean(x, y):
    return np.sqrt(sqeuclidean(x, y))


def manhattan(x, y):
    return np.sum(np.abs(x - y), axis=-1)


def chebyshev(x, y):
    return np.max(np.abs(x - y), axis=-1)


def minkowski(x, y, p):
    if np.isinf(p):
        return chebyshev(x, y)
    # each difference divided by the pair's largest before the power, which
    # then neither overflows nor underflows for any p (as robust norms do)
    diff = np.abs(x - y)
    largest = np.max(diff, axis=-1, keepdims=True)
    ratio = diff / np.where(largest > 0, largest, 1)
    return largest[..., 0] * np.sum(ratio**p, axis=-1) ** (1.0 / p)


def hamming(x, y):
    return np.mean(x != y, axis=-1)


def _near_one(x, floor=0.0):
    """The exponent ``e`` such that ``x / 2**e`` has the largest magnitude of
    its last axis (or ``floor``) in [0.5, 1): an exact division, after which
    squares and sums neither overflow nor underflow."""
    largest = np.maximum(np.max(np.abs(x), axis=-1, keepdims=True), floor)
    return np.frexp(largest)[1]


def _unit_rows(x):
    x = np.ldexp(x, -_near_one(x))
    norm = np.sqrt(np.sum(x * x, axis=-1, keepdims=True))
    return np.where(norm > 0, x / np.where(norm > 0, norm, 1), 0), norm[..., 0] > 0


def cosine_similarity(x, y):
    xn, _ = _unit_rows(x)
    yn, _ = _unit_rows(y)
    return np.sum(xn * yn, axis=-1)


def cosine(x, y):
    # 1 - cos(x, y) = |x/|x| - y/|y||^2 / 2, which keeps its accuracy near 0;
    # a zero vector has similarity 0 (distance 1) with everything.
    xn, x_nonzero = _unit_rows(x)
    yn, y_nonzero = _unit_rows(y)
    half_sq = 0.5 * sqeuclidean(xn, yn)
    return np.where(x_nonzero & y_nonzero, half_sq, 1.0)


def mahalanobis(x, y, L):
    projected = (x - y) @ L.T
    return np.sqrt(np.sum(projected * projected, axis=-1))


def bilinear(x, y, M):
    return np.sum((x @ M) * y, axis=-1)


def chi2(x, y):
    total = x + y
    positive = total > 0
    diff = x - y
    # diff * (diff / total), as |diff| <= total: no square to overflow
    return np.sum(np.where(positive, diff * (diff / np.where(positive, total, 1)), 0), axis=-1)


def _normalise(x, shift=0.0):
    exponent = _near_one(x, shift)
    x = np.ldexp(x, -exponent) + np.ldexp(np.asarray(shift, x.dtype), -exponent)
    return x / np.sum(x, axis=-1, keepdims=True)


def kl(x, y, eps):
    p = _normalise(x, eps)
    q = _normalise(y, eps)
    check_kl_floor(np.min(p, axis=-1), eps)
    check_kl_floor(np.min(q, axis=-1), eps)
    with np.errstate(over="ignore"):
        ratio = p / q
    # p / q overflows where q is subnormal; its logarithm does not
    log_ratio = np.where(np.isinf(ratio), np.log(p) - np.log(q), np.log(ratio))
    return np.sum(p * log_ratio, axis=-1)


def _rel_entr(a, b):
    positive = a > 0
    return np.where(positive, a * np.log(np.where(positive, a, 1) / np.where(positive, b, 1)), 0)


def jensen_shannon(x, y):
    p = _normalise(x)
    q = _normalise(y)
    mid = 0.5 * (p + q)
    js = 0.5 * np.sum(_rel_entr(p, mid) + _rel_entr(q, mid), axis=-1)
    return np.sqrt(np.maximum(js, 0))


# -- the backend's entry points (see ``_backends``) ---------------------------------------


def pairwise(xp, metric, X, Y, params, same, working_memory, n_jobs=None, centre=None):
    """``out[i, j] = metric.reference(X[i], Y[j])``, one row of X at a time.

    Columns are split so that the per-row temporaries (a few arrays of shape
    (n_columns, n_features)) stay within ``working_memory`` MiB. ``xp`` is
    NumPy; ``same``, ``n_jobs`` and ``centre`` change nothing here.
    """
    out = np.empty((X.shape[0], Y.shape[0]), dtype=X.dtype)
    n_cols = chunk_rows(Y.shape[0], 4 * X.shape[1] * X.itemsize, working_memory)
    for cols in slices(Y.shape[0], n_cols):
        Y_part = Y[cols]
        for i in range(X.shape[0]):
            out[i, cols] = metric.reference(X[i], Y_part, **params)
    return out


def paired(xp, metric, A, B, params, working_memory, n_jobs=None):
    """``out[i] = metric.reference(A[i], B[i])``, in chunks of rows."""
    out = np.empty(A.shape[0], dtype=A.dtype)
    n_rows = chunk_rows(A.shape[0], 4 * A.shape[1] * A.itemsize, working_memory)
    for rows in slices(A.shape[0], n_rows):
        out[rows] = metric.reference(A[rows], B[rows], **params)
    return out


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
    """Full rows of reference distances, then a sort: by value, then by index."""
    n, m = X.shape[0], Y.shape[0]
    sign = -1 if metric.similarity else 1
    dist = np.empty((n, n_neighbors), dtype=X.dtype)
    ind = np.empty((n, n_neighbors), dtype=np.int64)
    columns = np.arange(m)
    for rows in slices(n, chunk_rows(n, 2 * m * X.itemsize, working_memory)):
        block = pairwise(xp, metric, X[rows], Y, params, False, working_memory)
        block *= sign
        for r, i in enumerate(range(rows.start, rows.stop)):
            keep = columns != i if exclude_self else slice(None)
            values, cand = block[r][keep], columns[keep]
            order = np.lexsort((cand, values))[:n_neighbors]
            dist[i], ind[i] = sign * values[order], cand[order]
    return dist, ind
