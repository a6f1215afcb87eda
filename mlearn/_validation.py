"""Checking what users hand in: points, tuples, labels, preprocessors, matrices.

Every check raises ``ValueError`` or ``TypeError`` with a message that names
the argument, says what was expected and what came. None of them modifies its
input: arrays are converted (and so copied) only where their dtype or layout
must change, and the learners copy before writing.
"""

import numbers

import numpy as np

from ._sklearn_compat import check_array

__all__ = [
    "TUPLE_NAMES",
    "check_class_labels",
    "check_pair_labels",
    "check_points",
    "check_preprocessor",
    "check_psd_matrix",
    "check_tuples",
]

TUPLE_NAMES = {2: "pairs", 3: "triplets", 4: "quadruplets"}
FLOAT_DTYPES = (np.float64, np.float32)


class ArrayIndexer:
    """Turn indices into points by indexing a fixed array: ``X[indices]``."""

    def __init__(self, X):
        self.X = check_array(
            X, dtype=FLOAT_DTYPES, ensure_all_finite=True, input_name="preprocessor"
        )

    def __call__(self, indices):
        return self.X[indices]


def check_preprocessor(preprocessor):
    """Return a callable mapping indices to points, or None.

    ``preprocessor`` may be None, an array-like of points (indexed by the
    tuples' integer entries) or a callable.
    """
    if preprocessor is None or callable(preprocessor):
        return preprocessor
    if hasattr(preprocessor, "__array__") or isinstance(preprocessor, (list, tuple)):
        return ArrayIndexer(preprocessor)
    raise TypeError(
        "preprocessor must be None, an array of points or a callable mapping "
        f"indices to points, got {type(preprocessor).__name__}"
    )


def _as_index_array(values, name):
    array = np.asarray(values)
    if array.dtype.kind not in "iu":
        raise TypeError(
            f"{name} given with a preprocessor must hold integer indices, "
            f"got dtype {array.dtype}"
        )
    return array


def _apply_preprocessor(preprocessor, indices, name):
    try:
        points = preprocessor(indices)
    except IndexError as exc:
        raise ValueError(f"{name} holds an index the preprocessor rejected: {exc}") from exc
    return np.asarray(points)


def check_points(X, *, preprocessor=None, name="X", dtype=FLOAT_DTYPES, ensure_min_samples=1):
    """Validate a 2-D array of points (n_samples, n_features).

    With a preprocessor, ``X`` may instead be a 1-D array of integer indices,
    which the preprocessor maps to points.
    """
    if preprocessor is not None:
        array = np.asarray(X)
        if array.ndim == 1:
            X = _apply_preprocessor(preprocessor, _as_index_array(array, name), name)
    return check_array(
        X,
        dtype=dtype,
        ensure_all_finite=True,
        ensure_min_samples=ensure_min_samples,
        input_name=name,
    )


def check_tuples(tuples, *, tuple_size, preprocessor=None, name=None, dtype=FLOAT_DTYPES,
                 ensure_min_tuples=1):
    """Validate tuples of points and return them as a float array.

    Parameters
    ----------
    tuples : array-like of shape (n_tuples, tuple_size, n_features) or (n_tuples, tuple_size)
        Tuples of points, or, with a preprocessor, tuples of integer indices.
    tuple_size : int
        2 for pairs, 3 for triplets, 4 for quadruplets.
    preprocessor : callable or None
        Maps an integer array of indices to the corresponding points, as
        returned by :func:`check_preprocessor`.
    name : str, optional
        The argument's name in messages; defaults to "pairs", "triplets" or
        "quadruplets".

    Returns
    -------
    tuples : ndarray of shape (n_tuples, tuple_size, n_features)
    """
    name = name or TUPLE_NAMES.get(tuple_size, "tuples")
    if tuples is None:
        raise ValueError(f"{name} must be an array of {name}, got None")
    if hasattr(tuples, "toarray") or hasattr(tuples, "tocsr"):
        raise TypeError(f"{name} must be a dense array; sparse input is not supported")
    array = np.asarray(tuples)
    if array.dtype == object:
        raise TypeError(f"{name} must be a numeric array, got an object array")
    expected = (
        f"an array of shape (n_{name}, {tuple_size}, n_features)"
        + (f" or, with a preprocessor, (n_{name}, {tuple_size}) indices")
    )
    if array.ndim == 2:
        if preprocessor is None:
            raise ValueError(
                f"{name} must be {expected}; got a 2-D array of shape {array.shape} "
                "and no preprocessor to turn indices into points"
            )
        _check_tuple_size(array, tuple_size, name)
        indices = _as_index_array(array, name)
        array = _apply_preprocessor(preprocessor, indices, name)
        if array.ndim == 2:  # a preprocessor returning flat points per index
            array = array.reshape(indices.shape[0], tuple_size, -1)
    elif array.ndim != 3:
        raise ValueError(f"{name} must be {expected}; got an array with ndim={array.ndim}")
    _check_tuple_size(array, tuple_size, name)
    if array.shape[0] < ensure_min_tuples:
        raise ValueError(
            f"{name} must hold at least {ensure_min_tuples} tuple(s), got {array.shape[0]}"
        )
    if array.shape[2] < 1:
        raise ValueError(f"{name} must have at least one feature, got shape {array.shape}")
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be numeric, got dtype {array.dtype}")
    out_dtype = array.dtype if array.dtype in FLOAT_DTYPES else np.float64
    if dtype is not None and out_dtype not in np.atleast_1d(dtype):
        out_dtype = np.atleast_1d(dtype)[0]
    array = array.astype(out_dtype, copy=False)
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must not contain NaN or infinity")
    return array


def _check_tuple_size(array, tuple_size, name):
    if array.shape[1] != tuple_size:
        raise ValueError(
            f"{name} must have {tuple_size} points per tuple (axis 1), "
            f"got {array.shape[1]} in an array of shape {array.shape}"
        )


def check_class_labels(y):
    """Refuse targets that are not class labels (continuous or multi-output).

    One-dimensional integer or boolean labels are class labels by their type;
    everything else goes through scikit-learn's
    ``check_classification_targets``, which raises its usual ``ValueError``.
    """
    if isinstance(y, np.ndarray) and y.ndim == 1 and y.dtype.kind in "biu":
        return
    from sklearn.utils.multiclass import check_classification_targets

    check_classification_targets(y)


def check_pair_labels(y, n_pairs, name="y"):
    """Validate pair labels: a 1-D array of +1 (similar) and -1 (dissimilar)."""
    if y is None:
        raise ValueError(f"{name} is required: one label in {{+1, -1}} per pair")
    y = np.asarray(y)
    if y.ndim != 1:
        y = np.ravel(y) if y.ndim == 2 and 1 in y.shape else y
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D with one label per pair, got shape {y.shape}")
    if y.shape[0] != n_pairs:
        raise ValueError(f"{name} has {y.shape[0]} labels but there are {n_pairs} pairs")
    if y.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold labels in {{+1, -1}}, got dtype {y.dtype}")
    bad = ~np.isin(y, (1, -1))
    if bad.any():
        found = np.unique(y[bad])[:5]
        raise ValueError(f"{name} must hold labels in {{+1, -1}}, found {found.tolist()}")
    return y.astype(np.int64)


def check_psd_matrix(M, n_features=None, name="M", tol=1e-8):
    """Validate a symmetric positive semidefinite matrix and return it as float64.

    A matrix is accepted when it is square, finite, symmetric to
    ``tol * max|M|`` and its smallest eigenvalue is at least ``-tol`` times its
    largest absolute eigenvalue.
    """
    M = check_array(M, dtype=np.float64, ensure_all_finite=True, input_name=name)
    if M.shape[0] != M.shape[1]:
        raise ValueError(f"{name} must be a square matrix, got shape {M.shape}")
    if n_features is not None and M.shape[0] != n_features:
        raise ValueError(
            f"{name} must have shape ({n_features}, {n_features}) to match the "
            f"data's {n_features} features, got {M.shape}"
        )
    scale = max(np.abs(M).max(), np.finfo(np.float64).tiny)
    if np.abs(M - M.T).max() > tol * scale:
        raise ValueError(f"{name} must be symmetric positive semidefinite; it is not symmetric")
    eigvals = np.linalg.eigvalsh((M + M.T) / 2)
    if eigvals[0] < -tol * max(np.abs(eigvals).max(), np.finfo(np.float64).tiny):
        raise ValueError(
            f"{name} must be symmetric positive semidefinite; its smallest "
            f"eigenvalue is {eigvals[0]:.3g}"
        )
    return M


def check_scalar_int(value, name, *, min_val=None):
    """An integer parameter that is not an estimator's constructor argument."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if min_val is not None and value < min_val:
        raise ValueError(f"{name} must be >= {min_val}, got {value}")
    return int(value)
