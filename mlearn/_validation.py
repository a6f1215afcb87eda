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

Dask arrays are recognised by :func:`is_dask_array` without importing dask.
A learner that needs all its data at once loads one into memory through
:func:`materialise_dask`, under ``mlearn.get_config()["materialise_budget"]``;
:func:`check_dask_points` validates one lazily instead, for ``transform``.
"""

import math
import numbers
import os
import sys
import warnings
from collections.abc import Callable
from types import FrameType
from typing import Any, cast

import joblib
import numpy as np
import sklearn
from numpy.typing import ArrayLike, NDArray
from sklearn.exceptions import DataConversionWarning
from sklearn.utils.multiclass import check_classification_targets

from ._config import get_config
from ._sklearn_compat import check_array, output_container
from .exceptions import NonPSDError, PreprocessorError

__all__ = [
    "STREAMING_LEARNERS",
    "TUPLE_NAMES",
    "ArrayIndexer",
    "check_calibration_args",
    "check_calibration_params",
    "check_class_labels",
    "check_dask_points",
    "check_lazy_output",
    "check_n_components",
    "check_pair_labels",
    "check_points",
    "check_preprocessor",
    "check_psd_matrix",
    "check_tuples",
    "check_weights",
    "dask_stand_in",
    "is_dask_array",
    "materialise_dask",
    "preprocess_points",
    "user_stacklevel",
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

    def __init__(self, X: ArrayLike) -> None:
        self.X = check_array(
            X, dtype=FLOAT_DTYPES, ensure_all_finite=True, input_name="preprocessor"
        )

    def __call__(self, indices: ArrayLike) -> NDArray[np.floating]:
        return self.take(indices, "indices")

    def take(self, indices: ArrayLike, name: str) -> NDArray[np.floating]:
        """The points at ``indices``, after checking them; ``name`` is used in messages."""
        return self.X[check_point_indices(indices, self.X.shape[0], name)]


def check_preprocessor(
    preprocessor: ArrayLike | Callable[..., Any] | None,
) -> Callable[..., Any] | None:
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


def check_point_indices(indices: ArrayLike, n_points: int, name: str) -> NDArray[np.integer]:
    """``indices`` as an integer array of rows of an array preprocessor of
    ``n_points`` points: a TypeError for other dtypes, a PreprocessorError
    for an index outside ``[0, n_points)`` (negative ones included)."""
    array = np.asarray(indices)
    if array.dtype.kind not in "iu":
        raise TypeError(
            f"{name} given with an array preprocessor must hold integer indices, "
            f"got dtype {array.dtype}"
        )
    outside = (array < 0) | (array >= n_points)
    if outside.any():
        raise PreprocessorError(
            f"{name} holds index {array[outside].flat[0]}, which the preprocessor "
            f"rejected: its array has {n_points} points, so indices must lie in "
            f"[0, {n_points - 1}] (negative indices are not accepted)"
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
            f"the preprocessor raised {type(exc).__name__} on the identifiers in {name}: {exc}"
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
            f"the preprocessor must return {expected} of numbers; it returned dtype {points.dtype}"
        )
    return points


def preprocess_points(
    X: ArrayLike, preprocessor: Callable[..., Any], name: str = "X"
) -> NDArray[np.floating]:
    """Points for a 1-D array of identifiers ``X``, through ``preprocessor``.

    Returns
    -------
    points : ndarray of shape (len(X), n_features)
    """
    return _apply_preprocessor(preprocessor, np.asarray(X), name)


def check_points(
    X: ArrayLike,
    *,
    preprocessor: Callable[..., Any] | None = None,
    name: str = "X",
    dtype: Any = FLOAT_DTYPES,
    ensure_min_samples: int = 1,
) -> NDArray[np.floating]:
    """Validate a 2-D array of points (n_samples, n_features).

    With a preprocessor, ``X`` may instead be a 1-D array of identifiers,
    which the preprocessor maps to points. A dask array is loaded into
    memory by :func:`materialise_dask`.
    """
    X = materialise_dask(X, name)
    if preprocessor is not None and np.ndim(X) == 1:
        X = preprocess_points(X, preprocessor, name)
    return check_array(
        X,
        dtype=dtype,
        ensure_all_finite=True,
        ensure_min_samples=ensure_min_samples,
        input_name=name,
    )


def check_tuples(
    tuples: ArrayLike,
    *,
    tuple_size: int,
    preprocessor: Callable[..., Any] | None = None,
    name: str | None = None,
    dtype: Any = FLOAT_DTYPES,
    ensure_min_tuples: int = 1,
    caller: str | None = None,
) -> NDArray[np.floating]:
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
    caller : str, optional
        Who validates (the learner's class name), for the messages about a
        dask array, which is loaded into memory by :func:`materialise_dask`.

    Returns
    -------
    tuples : ndarray of shape (n_tuples, tuple_size, n_features)
    """
    name = name or TUPLE_NAMES.get(tuple_size, "tuples")
    tuples = materialise_dask(tuples, name, caller=caller)
    if tuples is None:
        raise ValueError(f"{name} must be an array of {name}, got None")
    if hasattr(tuples, "toarray") or hasattr(tuples, "tocsr"):
        raise TypeError(f"{name} must be a dense array; sparse input is not supported")
    try:
        array = np.asarray(tuples)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"{name} must be a rectangular array: {exc}") from exc
    expected = f"an array of shape (n_{name}, {tuple_size}, n_features)" + (
        f" or, with a preprocessor, (n_{name}, {tuple_size}) identifiers"
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


def check_class_labels(y: ArrayLike) -> None:
    """Refuse targets that are not class labels (continuous or multi-output).

    One-dimensional integer or boolean labels are class labels by their type;
    everything else goes through scikit-learn's
    ``check_classification_targets``, which raises its usual ``ValueError``.
    """
    if isinstance(y, np.ndarray) and y.ndim == 1 and y.dtype.kind in "biu":
        return
    check_classification_targets(y)


def check_pair_labels(y: ArrayLike, n_pairs: int, name: str = "y") -> NDArray[np.int64]:
    """Validate pair labels: a 1-D array of +1 (similar) and -1 (dissimilar).

    A dask array is loaded into memory by :func:`materialise_dask`.
    """
    if y is None:
        raise ValueError(f"{name} is required: one label in {{+1, -1}} per pair")
    y = np.asarray(materialise_dask(y, name))
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


def check_psd_matrix(
    M: ArrayLike, n_features: int | None = None, name: str = "M", tol: float = 1e-8
) -> NDArray[np.float64]:
    """Validate a symmetric positive semidefinite matrix and return it as float64.

    A matrix is accepted when it is square, finite, symmetric to
    ``tol * max|M|`` and its smallest eigenvalue is at least ``-tol`` times its
    largest absolute eigenvalue. A negative eigenvalue beyond that raises
    :class:`~mlearn.exceptions.NonPSDError` (a ``ValueError``); the other
    failures raise ``ValueError``.
    """
    M = cast(
        NDArray[np.float64],
        check_array(M, dtype=np.float64, ensure_all_finite=True, input_name=name),
    )
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
    # halves first: M + M.T overflows for entries beyond half the largest float
    eigvals = np.linalg.eigvalsh(M / 2 + M.T / 2)
    if eigvals[0] < -tol * max(np.abs(eigvals).max(), np.finfo(np.float64).tiny):
        raise NonPSDError(
            f"{name} must be symmetric positive semidefinite; its smallest "
            f"eigenvalue is {eigvals[0]:.3g}"
        )
    return M


CALIBRATION_STRATEGIES = ("accuracy", "f_beta", "max_tpr", "max_tnr")


def _is_real(value):
    return (
        not isinstance(value, (bool, np.bool_))
        and isinstance(value, numbers.Real)
        and bool(np.isfinite(value))
    )


def check_calibration_args(strategy: Any, min_rate: Any, beta: Any) -> None:
    """Validate the arguments of ``calibrate_threshold`` before any work is done.

    ``strategy`` must be one of :data:`CALIBRATION_STRATEGIES`; 'max_tpr' and
    'max_tnr' need ``min_rate`` in [0, 1]; 'f_beta' needs ``beta`` to be a
    finite real number (any sign: only its square is used).
    """
    if not isinstance(strategy, str) or strategy not in CALIBRATION_STRATEGIES:
        raise ValueError(f"strategy must be one of {CALIBRATION_STRATEGIES}, got {strategy!r}")
    if strategy in ("max_tpr", "max_tnr") and not (_is_real(min_rate) and 0 <= min_rate <= 1):
        raise ValueError(
            f"strategy={strategy!r} needs min_rate, a number in [0, 1]; got {min_rate!r}"
        )
    if strategy == "f_beta" and not _is_real(beta):
        raise ValueError(f"beta must be a finite real number, got {beta!r}")


#: The arguments of ``calibrate_threshold`` a ``calibration_params`` dict may hold.
CALIBRATION_KEYS = ("strategy", "min_rate", "beta")


def check_calibration_params(calibration_params: dict[str, Any] | None) -> dict[str, Any]:
    """Validate the ``calibration_params`` dict handed to a pairs learner's ``fit``.

    Its keys and values are checked here, before the learner's solver runs.
    """
    if calibration_params is None:
        return {}
    if not isinstance(calibration_params, dict):
        raise TypeError(
            "calibration_params must be a dict of calibrate_threshold arguments or None, "
            f"got {type(calibration_params).__name__}"
        )
    unknown = sorted(set(calibration_params) - set(CALIBRATION_KEYS))
    if unknown:
        raise ValueError(
            f"calibration_params has unknown keys {unknown}; calibrate_threshold "
            f"takes {list(CALIBRATION_KEYS)}"
        )
    check_calibration_args(
        calibration_params.get("strategy", "accuracy"),
        calibration_params.get("min_rate"),
        calibration_params.get("beta", 1.0),
    )
    return dict(calibration_params)


def check_n_components(n_components: int | None, n_features: int) -> int:
    """``n_components`` resolved against ``n_features``: None keeps them all.

    More components than features is an error, with one message for every
    learner.
    """
    if n_components is None:
        return n_features
    if n_components < 1:
        raise ValueError(f"n_components={n_components} must be at least 1")
    if n_components > n_features:
        raise ValueError(f"n_components={n_components} must be at most n_features={n_features}")
    return int(n_components)


def check_weights(
    weights: ArrayLike | None, n: int, name: str, *, what: str = "constraint"
) -> NDArray[np.float64] | None:
    """Weights of ``n`` constraints (or samples), one per ``what``: a new float64 array.

    They must be numeric, finite and non-negative; None stays None. The
    array returned is a copy, which the caller may normalise in place.
    """
    if weights is None:
        return None
    w = np.asarray(weights)
    if w.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be numeric, got dtype {w.dtype}")
    w = w.astype(np.float64)
    if w.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), one weight per {what}; got {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"{name} must be finite and non-negative")
    return w


def check_scalar_int(value: Any, name: str, *, min_val: int | None = None) -> int:
    """An integer parameter that is not an estimator's constructor argument."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if min_val is not None and value < min_val:
        raise ValueError(f"{name} must be >= {min_val}, got {value}")
    return int(value)


# -- dask input -------------------------------------------------------------------

#: The learners whose ``fit`` streams a dask array block by block (with
#: ``solver='sgd'``) instead of loading it into memory.
STREAMING_LEARNERS = (
    "MetricLearner",
    "PairsMetricLearner",
    "TripletsMetricLearner",
    "QuadrupletsMetricLearner",
)


def is_dask_array(x: object) -> bool:
    """Whether ``x`` is a dask array, found out without importing dask.

    Dask is consulted only when ``x``'s type comes from it (so dask is
    already imported): NumPy callers pay one attribute look-up.

    Every entry point routes dask input with this test. Learners that
    stream dask input (the general learners with ``solver='sgd'``) test
    their arguments first and hand NumPy blocks on to the shared input path
    (``BaseMetricLearner._prepare_points`` / ``_prepare_tuples``); a dask
    array that reaches that path whole is loaded into memory by
    :func:`materialise_dask` (under the budget) or, with
    ``_prepare_points(..., lazy=True)``, validated lazily by
    :func:`check_dask_points`.

    Parameters
    ----------
    x : object

    Returns
    -------
    bool

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> from mlearn._validation import is_dask_array
    >>> is_dask_array(da.zeros((4, 2), chunks=2)), is_dask_array(np.zeros((4, 2)))
    (True, False)
    """
    if not type(x).__module__.startswith("dask."):
        return False
    import dask.array as da

    return isinstance(x, da.Array)


def _streaming_hint():
    names = ", ".join(STREAMING_LEARNERS[:-1]) + f" or {STREAMING_LEARNERS[-1]}"
    return f"learn from a stream with {names} (solver='sgd'), which fit dask arrays block by block"


def _format_nbytes(nbytes):
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= size:
            return f"{nbytes / size:.1f} {unit}"
    return f"{int(nbytes)} bytes"


#: Frames in these folders are not the user's: a warning skips them (joblib
#: runs the steps of a scikit-learn Pipeline).
_LIBRARY_DIRS = tuple(
    os.path.dirname(os.path.abspath(path)) + os.sep
    for path in (__file__, sklearn.__file__, joblib.__file__)
)


def user_stacklevel() -> int:
    """``stacklevel`` that makes the caller's warning point at the user's code.

    Counted from the function that calls this one (and then
    ``warnings.warn``): the first frame outside mlearn and scikit-learn,
    such as the line that called ``fit``, even through a ``Pipeline`` or
    scikit-learn's ``_fit_context`` wrapper. A fixed ``stacklevel`` would
    break whenever the call chain inside the package changes.
    """
    frame: FrameType | None = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_code.co_filename.startswith(_LIBRARY_DIRS):
        frame, level = frame.f_back, level + 1
    return level


def materialise_dask(x: Any, name: str, *, caller: str | None = None) -> Any:
    """``x`` loaded into memory if it is a dask array within the budget; anything else as it is.

    For code that needs all its data at once (LMNN, NCA, ITML, ...). A dask
    array of at most ``mlearn.get_config()["materialise_budget"]`` MiB (its
    ``nbytes``, known before anything is computed) is computed, with a
    ``sklearn.exceptions.DataConversionWarning`` that gives its size and the
    budget. A larger one, or one of unknown size, raises a ``ValueError``
    naming the budget and the learners that stream dask input instead
    (:data:`STREAMING_LEARNERS` with ``solver='sgd'``).

    Parameters
    ----------
    x : object
        What the user handed in.
    name : str
        The argument's name in messages ("X", "y", "pairs", ...).
    caller : str, optional
        Who needs the data (the learner's class name), for messages.

    Returns
    -------
    x : ndarray or object
        The computed array when ``x`` is a dask array, else ``x`` itself.

    Examples
    --------
    >>> import warnings
    >>> import dask.array as da
    >>> import mlearn
    >>> from mlearn._validation import materialise_dask
    >>> X = da.ones((1000, 8), chunks=250)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     type(materialise_dask(X, "X", caller="LMNN")).__name__
    'ndarray'
    >>> print(caught[0].message)
    LMNN loads X, a dask array of 62.5 KiB, into memory: it needs all of it at once ...
    >>> with mlearn.config_context(materialise_budget=0.05):  # 51 KiB
    ...     materialise_dask(X, "X", caller="LMNN")
    Traceback (most recent call last):
        ...
    ValueError: LMNN needs all of X in memory, but X is a dask array of 62.5 KiB, more ...
    """
    if not is_dask_array(x):
        return x
    budget = get_config()["materialise_budget"]
    who = caller or "mlearn"
    if math.isnan(x.nbytes):
        raise ValueError(
            f"{who} needs all of {name} in memory, but {name} is a dask array of unknown "
            f"size (shape {x.shape}); compute its chunk sizes first "
            f"({name}.compute_chunk_sizes()), or {_streaming_hint()}"
        )
    size = _format_nbytes(x.nbytes)
    if x.nbytes > budget * 2**20:
        raise ValueError(
            f"{who} needs all of {name} in memory, but {name} is a dask array of {size}, "
            f"more than materialise_budget={budget:g} MiB. If it fits in memory, raise the "
            "budget with mlearn.set_config(materialise_budget=...) or "
            f"mlearn.config_context(materialise_budget=...); otherwise {_streaming_hint()}"
        )
    warnings.warn(
        f"{who} loads {name}, a dask array of {size}, into memory: it needs all of it "
        f"at once (materialise_budget={budget:g} MiB, set by "
        f"mlearn.set_config). To keep the data out of memory, {_streaming_hint()}",
        DataConversionWarning,
        stacklevel=user_stacklevel(),
    )
    return x.compute()


def dask_stand_in(X: Any, name: str = "X", min_rows: int = 1) -> NDArray[Any]:
    """A small NumPy array standing in for a dask array of points, for eager checks.

    It has ``X``'s dtype and number of columns and ``min(n_samples,
    min_rows)`` rows of zeros (``X``'s own shape when ``X`` is empty), so that
    scikit-learn's checks of dtype, number of samples and features, and
    feature names give the messages they give for ``X`` itself, without
    computing ``X``.

    Raises
    ------
    ValueError
        ``X`` is not 2-D, or its number of features is unknown.
    """
    if X.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_samples, n_features); got a "
            f"{X.ndim}-D dask array of shape {X.shape}"
        )
    n_samples, n_features = X.shape
    if math.isnan(n_features):
        raise ValueError(
            f"{name} has an unknown number of features (shape {X.shape}); compute its "
            f"chunk sizes first ({name}.compute_chunk_sizes())"
        )
    rows = min_rows if math.isnan(n_samples) else min(n_samples, min_rows)
    if n_samples == 0 or n_features == 0:
        rows = n_samples
    if X.dtype.kind in "OUSV":
        # what such values hold is known only once computed; the blocks are
        # converted as check_array converts them, errors coming at compute time
        return np.zeros((rows, n_features))
    return np.zeros((rows, n_features), dtype=X.dtype)


def check_dask_points(
    X: Any,
    *,
    dtype: Any,
    name: str = "X",
    estimator_name: str | None = None,
    ensure_all_finite: bool | str = True,
) -> Any:
    """A dask array of points validated block by block when computed.

    Nothing is computed here. Each block is converted to ``dtype`` and
    checked for NaN and infinity by scikit-learn's ``check_array``, so that
    a bad block raises at compute time the error the in-memory check
    raises. Check the shape, dtype and feature names eagerly first, on
    :func:`dask_stand_in`.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
    dtype : numpy dtype
        The floating type of the result, as the eager check chose it.
    name : str, default="X"
        The argument's name in messages.
    estimator_name : str, optional
        The estimator's class name, for messages.
    ensure_all_finite : bool or "allow-nan", default=True

    Returns
    -------
    X_checked : dask.array.Array of shape (n_samples, n_features) and dtype ``dtype``
        Same chunks as ``X``.
    """
    dtype = np.dtype(dtype)
    return X.map_blocks(
        _check_block,
        dtype=dtype,
        meta=np.empty((0, 0), dtype=dtype),
        name_=name,
        estimator_name=estimator_name,
        ensure_all_finite=ensure_all_finite,
        target=dtype,
    )


def _check_block(block, *, name_, estimator_name, ensure_all_finite, target):
    block = check_array(
        block,
        dtype=target,
        ensure_all_finite=ensure_all_finite,
        ensure_min_samples=0,
        ensure_min_features=0,
        input_name=name_,
        estimator=estimator_name,
    )
    return block


def check_lazy_output(estimator: Any, name: str = "X") -> None:
    """Refuse to wrap a lazy result in a DataFrame: ``set_output`` would compute it whole.

    scikit-learn's ``set_output(transform="pandas")`` (or "polars", or the
    global ``transform_output`` setting) turns what ``transform`` returns
    into a DataFrame, which for a dask array means computing all of it in
    memory. ``transform`` calls this before building a dask result, so that
    the user learns how to get either result instead.

    Raises
    ------
    ValueError
        The estimator's ``transform`` output is set to a DataFrame container.
    """
    container = output_container(estimator)
    if container == "default":
        return
    raise ValueError(
        f"{type(estimator).__name__}.transform got a dask array for {name}, but its output "
        f"is set to {container!r} (set_output(transform={container!r}) or scikit-learn's "
        f"transform_output setting), and a {container} DataFrame would compute the whole "
        "result in memory. Call set_output(transform='default') to get a lazy dask array, "
        f"or compute {name} first ({name}.compute()) to get a {container} DataFrame"
    )
