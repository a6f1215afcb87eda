"""Checking what users hand in: points, tuples, labels, preprocessors, matrices.

Every check raises ``ValueError`` or ``TypeError`` with a message that names
the argument, says what was expected and what came. None of them modifies its
input: arrays are converted (and so copied) only where their dtype or layout
must change, and the learners copy before writing.

A preprocessor turns identifiers into points. An array preprocessor ``X``
takes integer indices ``0 .. len(X) - 1``; a callable takes any identifiers
(indices, file names, keys) as a 1-D array and must return one row of numbers
per identifier. What a preprocessor rejects or returns wrongly is reported as
a :class:`~mlearn.exceptions.PreprocessorError`.
"""

import numbers

import numpy as np

from ._sklearn_compat import check_array
from .exceptions import NonPSDError, PreprocessorError

__all__ = [
    "TUPLE_NAMES",
    "ArrayIndexer",
    "check_calibration_args",
    "check_class_labels",
    "check_pair_labels",
    "check_points",
    "check_preprocessor",
    "check_psd_matrix",
    "check_tuples",
    "preprocess_points",
]

TUPLE_NAMES = {2: "pairs", 3: "triplets", 4: "quadruplets"}
FLOAT_DTYPES = (np.float64, np.float32)


class ArrayIndexer:
    """Turn integer indices into points by indexing a fixed array: ``X[indices]``.

    Indices must lie in ``[0, len(X))``: a negative index is refused rather
    than read from the end, so that a stray ``-1`` cannot silently stand for
    the last point.

    Examples
    --------
    >>> import numpy as np
    >>> from mlearn._validation import ArrayIndexer
    >>> ArrayIndexer(np.array([[0.0, 1.0], [2.0, 3.0]]))(np.array([1, 1]))
    array([[2., 3.],
           [2., 3.]])
    """

    def __init__(self, X):
        self.X = check_array(
            X, dtype=FLOAT_DTYPES, ensure_all_finite=True, input_name="preprocessor"
        )

    def __call__(self, indices):
        return self.take(indices, "indices")

    def take(self, indices, name):
        """The points at ``indices``, after checking them; ``name`` is used in messages."""
        indices = _as_index_array(indices, name)
        n_points = self.X.shape[0]
        outside = (indices < 0) | (indices >= n_points)
        if outside.any():
            raise PreprocessorError(
                f"{name} holds index {indices[outside].flat[0]}, which the preprocessor "
                f"rejected: its array has {n_points} points, so indices must lie in "
                f"[0, {n_points - 1}] (negative indices are not accepted)"
            )
        return self.X[indices]


def check_preprocessor(preprocessor):
    """Return a callable mapping identifiers to points, or None.

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
            f"{name} given with an array preprocessor must hold integer indices, "
            f"got dtype {array.dtype}"
        )
    return array


def _apply_preprocessor(preprocessor, identifiers, name):
    """Points for a 1-D array of identifiers: an array of shape (len(identifiers), n_features)."""
    if isinstance(preprocessor, ArrayIndexer):
        return preprocessor.take(identifiers, name)
    try:
        points = preprocessor(identifiers)
    except Exception as exc:
        raise PreprocessorError(
            f"the preprocessor raised {type(exc).__name__} on the identifiers in "
            f"{name}: {exc}"
        ) from exc
    return _check_preprocessed(points, len(identifiers), name)


def _check_preprocessed(points, n_identifiers, name):
    expected = f"an array of shape ({n_identifiers}, n_features), one row per identifier in {name}"
    try:
        points = np.asarray(points)
    except (TypeError, ValueError) as exc:
        raise PreprocessorError(
            f"the preprocessor must return {expected}; it returned something that is "
            f"not an array: {exc}"
        ) from exc
    if points.ndim != 2 or points.shape[0] != n_identifiers:
        raise PreprocessorError(
            f"the preprocessor must return {expected}; it returned shape {points.shape}"
        )
    if points.dtype.kind not in "biuf":
        raise PreprocessorError(
            f"the preprocessor must return {expected} of numbers; it returned dtype "
            f"{points.dtype}"
        )
    return points


def preprocess_points(X, preprocessor, name="X"):
    """Points for a 1-D array of identifiers ``X``, through ``preprocessor``.

    Returns
    -------
    points : ndarray of shape (len(X), n_features)
    """
    return _apply_preprocessor(preprocessor, np.asarray(X), name)


def check_points(X, *, preprocessor=None, name="X", dtype=FLOAT_DTYPES, ensure_min_samples=1):
    """Validate a 2-D array of points (n_samples, n_features).

    With a preprocessor, ``X`` may instead be a 1-D array of identifiers,
    which the preprocessor maps to points.
    """
    if preprocessor is not None and np.ndim(X) == 1:
        X = preprocess_points(X, preprocessor, name)
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
        Tuples of points, or, with a preprocessor, tuples of identifiers
        (integer indices for an array preprocessor).
    tuple_size : int
        2 for pairs, 3 for triplets, 4 for quadruplets.
    preprocessor : callable or None
        Maps a 1-D array of identifiers to the corresponding points, as
        returned by :func:`check_preprocessor`. It is called once, with the
        identifiers of all tuples in row order.
    name : str, optional
        The argument's name in messages; defaults to "pairs", "triplets" or
        "quadruplets".
    dtype : type or tuple of types, default=(np.float64, np.float32)
        Floating types to return; others are converted to the first.

    Returns
    -------
    tuples : ndarray of shape (n_tuples, tuple_size, n_features)
    """
    name = name or TUPLE_NAMES.get(tuple_size, "tuples")
    if tuples is None:
        raise ValueError(f"{name} must be an array of {name}, got None")
    if hasattr(tuples, "toarray") or hasattr(tuples, "tocsr"):
        raise TypeError(f"{name} must be a dense array; sparse input is not supported")
    try:
        array = np.asarray(tuples)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"{name} must be a rectangular array: {exc}") from exc
    expected = (
        f"an array of shape (n_{name}, {tuple_size}, n_features)"
        + (f" or, with a preprocessor, (n_{name}, {tuple_size}) identifiers")
    )
    if array.ndim == 2:
        if preprocessor is None:
            raise ValueError(
                f"{name} must be {expected}; got a 2-D array of shape {array.shape} "
                "and no preprocessor to turn indices into points"
            )
        _check_tuple_size(array, tuple_size, name)
        _check_n_tuples(array, ensure_min_tuples, name)
        # identifiers go to the preprocessor as one 1-D array, tuple after tuple
        points = _apply_preprocessor(preprocessor, array.ravel(), name)
        array = points.reshape(array.shape[0], tuple_size, points.shape[1])
    elif array.ndim != 3:
        raise ValueError(f"{name} must be {expected}; got an array with ndim={array.ndim}")
    _check_tuple_size(array, tuple_size, name)
    _check_n_tuples(array, ensure_min_tuples, name)
    if array.shape[2] < 1:
        raise ValueError(f"{name} must have at least one feature, got shape {array.shape}")
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be numeric, got dtype {array.dtype}")
    array = array.astype(_float_dtype(array.dtype, dtype), copy=False)
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must not contain NaN or infinity")
    return array


def _float_dtype(current, allowed):
    """``current`` if it is one of the ``allowed`` float types, else the first of them."""
    if allowed is None:
        allowed = FLOAT_DTYPES
    allowed = [np.dtype(d) for d in (allowed if isinstance(allowed, (tuple, list)) else [allowed])]
    return current if current in allowed else allowed[0]


def _check_n_tuples(array, ensure_min_tuples, name):
    if array.shape[0] < ensure_min_tuples:
        raise ValueError(
            f"{name} must hold at least {ensure_min_tuples} tuple(s), got {array.shape[0]}"
        )


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
    largest absolute eigenvalue. A negative eigenvalue beyond that raises
    :class:`~mlearn.exceptions.NonPSDError` (a ``ValueError``); the other
    failures raise ``ValueError``.
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
        raise NonPSDError(
            f"{name} must be symmetric positive semidefinite; its smallest "
            f"eigenvalue is {eigvals[0]:.3g}"
        )
    return M


CALIBRATION_STRATEGIES = ("accuracy", "f_beta", "max_tpr", "max_tnr")


def _is_real(value):
    return (not isinstance(value, (bool, np.bool_)) and isinstance(value, numbers.Real)
            and bool(np.isfinite(value)))


def check_calibration_args(strategy, min_rate, beta):
    """Validate the arguments of ``calibrate_threshold`` before any work is done.

    ``strategy`` must be one of :data:`CALIBRATION_STRATEGIES`; 'max_tpr' and
    'max_tnr' need ``min_rate`` in [0, 1]; 'f_beta' needs ``beta`` to be a
    finite real number (any sign: only its square is used).
    """
    if not isinstance(strategy, str) or strategy not in CALIBRATION_STRATEGIES:
        raise ValueError(
            f"strategy must be one of {CALIBRATION_STRATEGIES}, got {strategy!r}"
        )
    if strategy in ("max_tpr", "max_tnr") and not (_is_real(min_rate) and 0 <= min_rate <= 1):
        raise ValueError(
            f"strategy={strategy!r} needs min_rate, a number in [0, 1]; got {min_rate!r}"
        )
    if strategy == "f_beta" and not _is_real(beta):
        raise ValueError(f"beta must be a finite real number, got {beta!r}")


def check_scalar_int(value, name, *, min_val=None):
    """An integer parameter that is not an estimator's constructor argument."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if min_val is not None and value < min_val:
        raise ValueError(f"{name} must be >= {min_val}, got {value}")
    return int(value)
