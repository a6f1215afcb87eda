"""Dask arrays cut into row blocks, for the general learners' streamed fits.

With ``solver='sgd'`` the general learners learn from a dask array without
loading it. What a fit needs from the whole data (its size and number of
features, the classes, the scale of its entries, the moments behind a 'pca'
or 'covariance' start, a sample of the squared distances that set the
margin) is reduced on the workers, each task holding one block and sending
back only its summary; then every epoch computes one block at a time, on the
client, where the solver steps (:func:`mlearn.solvers.sgd_blocks`).

Everything here that runs on the workers is a module-level function, so that
it pickles; the arrays every task shares (the initial map) enter a graph as
one key.
"""

import math

import numpy as np
from scipy.linalg import pinvh
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import column_or_1d

from .._sklearn_compat import check_array
from .._validation import (
    FLOAT_DTYPES,
    check_pair_labels,
    check_tuples,
    is_dask_array,
    preprocess_points,
)
from ..linalg import components_from_metric, power_of_two_scale

__all__ = ["RowBlocks", "merge_moments", "moments_init"]

#: Squared distances kept, in expectation, to estimate the margin and the
#: thresholds: every distance below this count, a uniform sample above it.
DISTANCE_SAMPLE_SIZE = 100_000


def _dask():
    try:
        import dask
        import dask.array
    except ImportError as exc:  # pragma: no cover - dask arrays imply dask
        raise ImportError(
            'learning from dask arrays needs dask: pip install "mlearn-metric[dask]"'
        ) from exc
    return dask


class RowBlocks:
    """A dask array cut into row blocks, with arrays aligned to its rows.

    The data array is rechunked to one chunk along every axis but the first
    (lazily), and each aligned dask array to the data's row chunks; NumPy
    arrays aligned with it are sliced. ``compute(i)`` computes block ``i``
    of them all in one graph, so that only that block is read;
    :meth:`reduce` maps a function over every block on the workers.

    Parameters
    ----------
    data : dask.array.Array
        Points (n, n_features), tuples (n, tuple_size, n_features) or
        identifiers (n,) / (n, tuple_size).
    aligned : sequence of array-like or None
        One entry (labels, weights) per row of ``data``, or None.
    names : sequence of str
        The arguments' names in messages: ``data``'s, then ``aligned``'s.
    """

    def __init__(self, data, aligned=(), *, names):
        _dask()
        name = names[0]
        if any(math.isnan(size) for size in data.shape):
            raise ValueError(
                f"{name} is a dask array of unknown shape {data.shape}; compute its chunk "
                f"sizes first ({name}.compute_chunk_sizes())"
            )
        if data.ndim > 1:
            data = data.rechunk({axis: -1 for axis in range(1, data.ndim)})
        self.data = data
        self.names = tuple(names)
        self.n_samples = int(data.shape[0])
        self.chunks = tuple(int(c) for c in data.chunks[0])
        self.offsets = np.concatenate([[0], np.cumsum(self.chunks)]).astype(np.intp)
        self.aligned = [self._align(a, n) for a, n in zip(aligned, names[1:])]

    def _align(self, array, name):
        if array is None:
            return None
        if is_dask_array(array):
            if array.ndim == 2 and 1 in array.shape:
                array = array.ravel()
            if array.ndim != 1 or array.shape[0] != self.n_samples:
                raise ValueError(
                    f"{name} must have shape ({self.n_samples},), one entry per row of "
                    f"{self.names[0]}; got a dask array of shape {array.shape}"
                )
            return array.rechunk((self.chunks,))
        array = np.asarray(array)
        if len(array) != self.n_samples:
            raise ValueError(
                f"{name} must have shape ({self.n_samples},), one entry per row of "
                f"{self.names[0]}; got shape {array.shape}"
            )
        return array

    def __len__(self):
        return len(self.chunks)

    def _parts(self, i):
        """Block ``i`` of the data and of each aligned array: lazy or NumPy."""
        rows = slice(self.offsets[i], self.offsets[i + 1])
        parts = [self.data.blocks[i]]
        for array in self.aligned:
            if array is None:
                parts.append(None)
            elif is_dask_array(array):
                parts.append(array.blocks[i])
            else:
                parts.append(array[rows])
        return parts

    def compute(self, i):
        """Block ``i`` of the data and of the aligned arrays, as NumPy arrays (one graph)."""
        dask = _dask()
        parts = self._parts(i)
        lazy = [k for k, part in enumerate(parts) if is_dask_array(part)]
        computed = dask.compute(*[parts[k] for k in lazy])
        for k, value in zip(lazy, computed):
            parts[k] = value
        return parts

    def reduce(self, func, per_block=None, **shared):
        """``[func(*block_i, **per_block_i, **shared) for every block i]``, in one graph.

        Computed on the workers: each task holds one block and returns
        ``func``'s (small) result. ``per_block`` maps keyword names to one
        value per block (seeds); each of ``shared`` enters the graph as one
        key, whatever the number of blocks.
        """
        dask = _dask()
        per_block = per_block or {}
        shared = {key: dask.delayed(value, pure=True) for key, value in shared.items()}
        data = self.data.to_delayed().ravel()
        delayed_aligned = [
            a.to_delayed().ravel() if is_dask_array(a) else None for a in self.aligned
        ]
        tasks = []
        for i in range(len(self)):
            rows = slice(self.offsets[i], self.offsets[i + 1])
            args = [data[i]]
            for array, blocks in zip(self.aligned, delayed_aligned):
                if array is None:
                    args.append(None)
                else:
                    args.append(blocks[i] if blocks is not None else array[rows])
            own = {key: values[i] for key, values in per_block.items()}
            tasks.append(dask.delayed(func, pure=True)(*args, **own, **shared))
        return list(dask.compute(*tasks))


# -- validation of one block ---------------------------------------------------------------


def points_block(X, y, *, preprocessor, n_features):
    """One block of points (float64) and its labels, checked as ``fit`` checks them."""
    X = np.asarray(X)
    if preprocessor is not None and X.ndim == 1:
        X = preprocess_points(X, preprocessor)
    X = check_array(
        X, dtype=FLOAT_DTYPES, ensure_all_finite=True, ensure_min_samples=0, input_name="X"
    ).astype(np.float64, copy=False)
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(
            f"X has {X.shape[1]} features in one of its blocks, but {n_features} in another"
        )
    y = column_or_1d(np.asarray(y), warn=False)
    if len(y) != len(X):
        raise ValueError(f"y must have one entry per row of X: got {len(y)} for {len(X)}")
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise ValueError("Input y contains NaN or infinity.")
    return X, y


def tuples_block(tuples, y, weights, *, tuple_size, preprocessor, n_features, with_labels):
    """One block of tuples (float64), labels and weights, checked as ``fit`` checks them."""
    tuples = check_tuples(
        np.asarray(tuples), tuple_size=tuple_size, preprocessor=preprocessor, ensure_min_tuples=0
    ).astype(np.float64, copy=False)
    if n_features is not None and tuples.shape[2] != n_features:
        raise ValueError(
            f"tuples have {tuples.shape[2]} features in one of their blocks, but "
            f"{n_features} in another"
        )
    if with_labels:
        y = check_pair_labels(y, len(tuples))
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
        if not np.all(np.isfinite(weights)) or np.any(weights < 0):
            raise ValueError("sample_weight must be finite and non-negative")
    return tuples, y, weights


def unsatisfiable(tuples):
    """Mask of the triplets / quadruplets whose far pair is one point twice."""
    if tuples.shape[1] == 2:
        return np.zeros(len(tuples), dtype=bool)
    first, second = (0, 2) if tuples.shape[1] == 3 else (2, 3)
    return np.all(tuples[:, first] == tuples[:, second], axis=1)


# -- per-block summaries (run on the workers) ----------------------------------------------


def _moments(X):
    """(count, mean, centred scatter) of the rows of ``X``."""
    n = len(X)
    if n == 0:
        d = X.shape[1]
        return 0, np.zeros(d), np.zeros((d, d))
    mean = X.mean(axis=0)
    centred = X - mean
    return n, mean, centred.T @ centred


def merge_moments(parts):
    """Moments of the union of blocks from the blocks' (count, mean, scatter), in order.

    Chan et al.'s pairwise update: no sum of raw squares, so no cancellation
    when the mean is large. ``scatter`` is the centred scatter matrix, or
    only its diagonal (each feature's sum of squared deviations).
    """
    n, mean, scatter = parts[0]
    for n_b, mean_b, scatter_b in parts[1:]:
        if n_b == 0:
            continue
        total = n + n_b
        delta = mean_b - mean
        mean = mean + delta * (n_b / total)
        cross = np.outer(delta, delta) if np.ndim(scatter) == 2 else delta**2
        scatter = scatter + scatter_b + cross * (n * n_b / total)
        n = total
    return n, mean, scatter


def points_summary(X, y, *, preprocessor, n_features, moments, columns=False):
    """What a streamed ``MetricLearner.fit`` needs from one block of points."""
    X, y = points_block(X, y, preprocessor=preprocessor, n_features=n_features)
    numeric = y.dtype.kind in "biuf"
    return {
        "n": len(X),
        "n_features": X.shape[1],
        "max_abs": float(np.abs(X).max()) if X.size else 0.0,
        # each feature's extremes, for feature_scaling='range' (and its constants)
        "low": X.min(axis=0) if len(X) else np.full(X.shape[1], np.inf),
        "high": X.max(axis=0) if len(X) else np.full(X.shape[1], -np.inf),
        "labels": np.unique(y),
        "continuous": bool(len(y)) and numeric and type_of_target(y) == "continuous",
        "numeric": numeric,
        "moments": _moments(X) if moments else None,
        "columns": column_moments(X) if columns else None,
    }


def column_moments(X):
    """Count, means and sums of squared deviations of each feature of a block.

    Computed on the block divided by its own power of two (exact), so that
    no square leaves float64's range; returns ``(n, mean, squares, p)``
    for that ``X / p``. :func:`merge_column_moments` brings the blocks'
    parts to one power of two and combines them.
    """
    if len(X) == 0:
        return 0, np.zeros(X.shape[1]), np.zeros(X.shape[1]), 1.0
    p = power_of_two_scale(X)
    X = X / p
    mean = X.mean(axis=0)
    return len(X), mean, np.sum((X - mean) ** 2, axis=0), p


def merge_column_moments(parts, scale):
    """:func:`column_moments` of the union of blocks, for the data divided by ``scale``.

    ``scale`` is a power of two at least each block's own (that of the whole
    data), so each part is brought to it exactly, without overflow, before
    :func:`merge_moments` combines them.
    """
    return merge_moments(
        [
            (n_b, mean_b * (p_b / scale), squares_b * (p_b / scale) ** 2)
            for n_b, mean_b, squares_b, p_b in parts
        ]
    )


def tuples_summary(
    tuples, y, weights, *, tuple_size, preprocessor, n_features, with_labels, moments
):
    """What a streamed tuple learner's ``fit`` needs from one block of tuples."""
    tuples, y, weights = tuples_block(
        tuples,
        y,
        weights,
        tuple_size=tuple_size,
        preprocessor=preprocessor,
        n_features=n_features,
        with_labels=with_labels,
    )
    return {
        "n": len(tuples),
        "n_features": tuples.shape[2],
        "max_abs": float(np.abs(tuples).max()) if tuples.size else 0.0,
        "n_unsatisfiable": int(unsatisfiable(tuples).sum()),
        "moments": _moments(tuples.reshape(-1, tuples.shape[2])) if moments else None,
    }


def sample(values, rate, seed):
    """A Bernoulli sample of ``values`` at ``rate`` (all of them when ``rate >= 1``)."""
    if rate >= 1:
        return values
    keep = np.random.default_rng(seed).random(len(values)) < rate
    return values[keep]


def sample_rate(expected):
    """The Bernoulli rate that keeps about :data:`DISTANCE_SAMPLE_SIZE` of ``expected`` values."""
    return min(1.0, DISTANCE_SAMPLE_SIZE / max(expected, 1))


# -- initial maps from moments ----------------------------------------------------------------


def moments_init(init, moments, n_components):
    """The 'pca' or 'covariance' start computed from streamed moments.

    'pca': the leading eigenvectors of the covariance, as unit rows, each
    signed so that its largest entry is positive. 'covariance': a factor of
    the (pseudo-)inverse covariance, as :func:`mlearn.linalg.initialize_components`
    computes it in memory.
    """
    n, _, scatter = moments
    n_features = scatter.shape[0]
    n_components = n_features if n_components is None else n_components
    if n < 2:
        raise ValueError(f"init={init!r} needs at least 2 points, got {n}")
    cov = scatter / (n - 1)
    if init == "covariance":
        M = pinvh(cov)
        return components_from_metric((M + M.T) / 2, n_components, check_psd=False)
    if n_components > min(n, n_features):
        raise ValueError(
            f"init='pca' gives at most min(n_samples, n_features)={min(n, n_features)} "
            f"components, n_components={n_components}"
        )
    values, vectors = np.linalg.eigh(cov)
    L = vectors[:, np.argsort(values)[::-1][:n_components]].T
    signs = np.sign(L[np.arange(len(L)), np.argmax(np.abs(L), axis=1)])
    return L * np.where(signs == 0, 1.0, signs)[:, None]
