"""Checks of the input arrays, shared by the in-memory and the dask paths."""

import numpy as np

from .._sklearn_compat import check_array
from ._scaling import sum_of_squares


def refuse_sparse(array, name):
    """TypeError for a sparse matrix: the kernels take dense rows."""
    if hasattr(array, "toarray") or hasattr(array, "tocsr"):
        raise TypeError(
            f"{name} must be a dense array; sparse input is not supported "
            f"(convert it with {name}.toarray())"
        )


def _check_device_array(xp, array, name):
    """Validation of CuPy inputs, mirroring ``check_array`` without a host copy."""
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got {array.ndim} dimension(s)")
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(
            f"{name} must have at least one row and one column, got shape {array.shape}"
        )
    if array.dtype not in (np.float32, np.float64):
        array = array.astype(np.float64)
    if not bool(xp.all(xp.isfinite(array))):
        raise ValueError(f"Input {name} contains NaN or infinity.")
    return array


def check_one(xp, array, name):
    """``(validated array, its sum of squares or None when not yet known)``."""
    if xp is np:
        squares = _plain_finite_squares(array)
        if squares is not None:
            return array, squares
        shape = getattr(array, "shape", ())
        if len(shape) == 2 and 0 in shape:
            raise ValueError(
                f"{name} must have at least one row and one column, got shape {shape}"
            )
        return check_array(
            array, dtype=(np.float64, np.float32), ensure_all_finite=True, input_name=name
        ), None
    return _check_device_array(xp, array, name), None


def _plain_finite_squares(array):
    """The sum of squares of a non-empty 2-D float32/float64 ndarray of
    finite values; None for anything else.

    Such an array needs nothing from ``check_array``, whose bookkeeping costs
    more than the distances of a few dozen points. The sum of squares (one
    pass, as cheap as a plain sum) also tells ``_scaling`` whether the data
    are of ordinary magnitude. A non-finite sum sends the array through
    ``check_array``, which names the offending values (or accepts it, when
    only the sum overflowed).
    """
    if not (
        type(array) is np.ndarray
        and array.ndim == 2
        and array.dtype in (np.float64, np.float32)
        and array.shape[0] > 0
        and array.shape[1] > 0
    ):
        return None
    squares = sum_of_squares(np, array)
    return squares if np.isfinite(squares) else None


def check_candidates(n_queries, n_samples, n_neighbors, exclude_self):
    """ValueError unless every query has ``n_neighbors`` candidates."""
    if exclude_self and n_queries != n_samples:
        raise ValueError(
            "exclude_self=True leaves out index i for query i, so X and Y must "
            f"have as many rows; got {n_queries} and {n_samples}"
        )
    available = n_samples - int(bool(exclude_self))
    if n_neighbors > available:
        raise ValueError(
            f"n_neighbors={n_neighbors} is larger than the {available} candidate "
            "neighbours" + (" (self excluded)" if exclude_self else "")
        )
