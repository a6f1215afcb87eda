"""Inputs at the ends of the floating range, rescaled exactly by powers of two.

Squared norms and products of data beyond about 1e154 overflow float64
(1e19 in float32), and squares of data below about 1e-154 underflow, losing
their digits or vanishing. For the metrics whose value scales with the data
(``d(c x, c y) = c**k d(x, y)``, ``Metric.degree = k``) the inputs are then
divided by a power of two, which is exact, the kernels run on data of
magnitude near 1, and the results are multiplied by the matching power of
two. Ordinary data are left as given: the test costs one sum of squares per
input, which the validation takes anyway in place of a plain sum.

The metrics that ignore scale are made safe where they normalise: cosine's
unit rows and the histograms' normalised rows (``_operands``); minkowski's
powers are guarded pair by pair in the kernels.

Written against an array namespace ``xp``, like ``_operands``.
"""

import warnings

import numpy as np

from .._lazy import lazy_callable
from ._codes import RAW

# imported on first use, so that importing mlearn does not import Numba
host_sum_of_squares = lazy_callable("mlearn.pairwise._host_kernels", "sum_of_squares")

#: Bounds on a sum of squares (of X and Y, times that of ``L`` or ``M``)
#: inside which the kernels take the data as given, by itemsize. Below the
#: upper bound no norm, product or (centred) squared distance exceeds 16
#: times it, far from overflow (float64 2**1024, float32 2**128); above the
#: lower one the squares of the data and of their differences down to
#: their last digits are normal numbers, not underflowed.
SAFE_SQUARES = {8: (2.0**-600, 2.0**1000), 4: (2.0**-40, 2.0**120)}


def sum_of_squares(xp, array):
    """The sum of the squared entries of a 2-D array, as a Python float
    (inf if it overflows)."""
    if xp is np:
        return float(host_sum_of_squares(array))
    return float(xp.vdot(array, array))


def largest_magnitude(xp, array):
    """The largest magnitude of an array's entries, as a Python float."""
    return max(float(xp.max(array)), -float(xp.min(array)))


def _exponent(largest):
    """``e`` such that ``largest`` divided by ``2**e`` lies in [0.5, 1); 0
    for 0."""
    return int(np.frexp(largest)[1])


def _ldexp(xp, array, exponent):
    return array if exponent == 0 else xp.ldexp(array, -exponent)


def rescale(xp, metric, X, Y, same, params, squares):
    """The inputs the kernels should see, and the power of two of the results.

    Parameters
    ----------
    xp : module
        The array namespace of ``X`` and ``Y``.
    metric : Metric
        The registry entry.
    X, Y : array of shape (n, d) and (m, d)
        Validated inputs of one floating dtype; ``Y is X`` when ``same``.
    same : bool
    params : dict
        The checked metric parameters (``L`` for mahalanobis, ``M`` for
        bilinear, in the inputs' namespace and dtype).
    squares : tuple of float
        The sums of squares of X and Y.

    Returns
    -------
    X, Y, params, exponent
        The results computed from these are ``2**-exponent`` times the
        results of the inputs as given (``exponent`` is 0 and the inputs are
        returned unchanged for ordinary data).
    """

    def largest():
        largest_x = largest_magnitude(xp, X)
        return largest_x, (largest_x if same else largest_magnitude(xp, Y))

    scales = scale_exponents(xp, metric, same, params, squares, X.dtype, largest)
    return apply_scales(xp, X, Y, same, scales)


def scale_exponents(xp, metric, same, params, squares, dtype, largest):
    """The powers of two of :func:`rescale`: ``(e_x, e_y, params, exponent)``.

    X is to be divided by ``2**e_x`` and Y by ``2**e_y`` (see
    :func:`apply_scales`), ``params`` are the scaled parameters and the
    results are ``2**-exponent`` times those of the inputs as given.
    ``largest`` gives the largest magnitudes in X and in Y (a callable,
    called only for data that need rescaling): blocks of larger inputs are
    rescaled alike when their exponents come from the whole inputs'
    ``squares`` and ``largest``.
    """
    if not metric.degree:
        return 0, 0, params, 0
    low, high = SAFE_SQUARES[np.dtype(dtype).itemsize]
    sq_x, sq_y = squares
    key = metric.matrix
    sq_m = sum_of_squares(xp, params[key]) if key else 1.0
    by_products = metric.finish == RAW  # x·My, not a function of x - y
    if by_products:
        # X @ M, then its products with the rows of Y
        sizes = (sq_x * sq_m, sq_x * sq_m * sq_y)
    else:
        sizes = ((sq_x if same else sq_x + sq_y) * sq_m,)
    if all(low <= size <= high for size in sizes):  # false for nan too
        return 0, 0, params, 0
    largest_x, largest_y = largest()
    if by_products:
        # not compared by differences: X and Y each get their own scale
        e_x = _exponent(largest_x)
        e_y = e_x if same else _exponent(largest_y)
        exponent = e_x + e_y
    else:
        e_x = e_y = _exponent(max(largest_x, largest_y))
        exponent = metric.degree * e_x
    if key:
        e_m = _exponent(largest_magnitude(xp, params[key]))
        params = {**params, key: _ldexp(xp, params[key], e_m)}
        exponent += e_m
    return e_x, e_y, params, exponent


def apply_scales(xp, X, Y, same, scales):
    """``(X / 2**e_x, Y / 2**e_y, params, exponent)`` for the ``scales`` of
    :func:`scale_exponents` (exact; the inputs themselves when 0)."""
    e_x, e_y, params, exponent = scales
    X = _ldexp(xp, X, e_x)
    Y = X if same else _ldexp(xp, Y, e_y)
    return X, Y, params, exponent


def scale_back(xp, values, exponent):
    """``values * 2**exponent``, in place; inf where that exceeds the dtype.

    A result whose true value is beyond the largest finite number of its
    dtype (a squared distance of data near 1e200, say) can only be returned
    as inf; a ``RuntimeWarning`` says so.
    """
    if exponent == 0:
        return values
    with np.errstate(over="ignore", under="ignore"):
        xp.ldexp(values, exponent, out=values)
    if exponent > 0 and not bool(xp.all(xp.isfinite(values))):
        warnings.warn(
            f"some results exceed the largest {values.dtype} "
            f"({float(np.finfo(values.dtype).max):.4g}) in magnitude and are "
            "returned as inf",
            RuntimeWarning,
            stacklevel=7,
        )
    return values
