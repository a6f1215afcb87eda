"""Feature scaling inside the learned map: metrics that do not depend on the data's units.

A learner with ``feature_scaling`` set ('range', the default of every
learner fitted on points with labels, or 'standard') fits on rescaled
features and folds the rescaling into what it returns: with ``mu`` the
features' means and ``s`` their spreads (ranges times one factor common to
all features that makes the rescaled variances average 1, or standard
deviations), it
solves on ``Z = (X - mu) / s`` and keeps ``components_ = L_Z / s`` (each
column ``j`` divided by ``s_j``), so that ``transform`` still takes raw
``X``::

    transform(X) = X @ components_.T = (X / s) @ L_Z.T

Distances between mapped points do not see ``mu``. Fitting on ``X @ D + c``
(``D`` a positive diagonal matrix: other units, a min-max or standard
scaler) gives the same ``Z``, so the same solve and the same neighbourhoods,
up to round-off. The learned Mahalanobis matrix is
``M = diag(1/s) M_Z diag(1/s)``: the identity (or any prior) a solver starts
from in ``Z`` is ``diag(1/s**2)`` in the data's units, the scale-aware
starting metric. ``feature_scaling=None`` fits on ``X`` as given, as
metric-learn does. The default, 'range', was chosen over 'standard' by the
rule of ``benchmarks/bench_feature_scaling_rule.py``.

A constant feature (spread zero, up to round-off) is divided by its
absolute value (by 1 when it is zero everywhere), so that it too scales
with the data. Arrays the user gives in the data's units (an ``init`` map,
a prior metric, bases) are carried into ``Z``'s units by
:func:`map_to_fitted_units` and :func:`metric_to_fitted_units`.

Learners whose similarity is not a distance of differences (cosine, bilinear)
do not centre (``center=False``, see :meth:`FeatureScalingMixin._fitting_points`)
or fold the centre into an intercept themselves.
"""

from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

from .._sklearn_compat import StrOptions
from ..linalg import power_of_two_scale

__all__ = [
    "FEATURE_SCALING_CONSTRAINT",
    "FeatureScalingMixin",
    "feature_statistics",
    "map_to_fitted_units",
    "metric_to_fitted_units",
    "statistics_from_summaries",
]

#: ``_parameter_constraints`` entry of ``feature_scaling``.
FEATURE_SCALING_CONSTRAINT = [StrOptions({"standard", "range"}), None]

#: A feature whose spread (standard deviation or range) is at most this
#: fraction of its largest magnitude is constant up to round-off.
_CONSTANT = 1e-12


def feature_statistics(
    X: Any, kind: str = "standard"
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Each feature's mean and the divisor that rescales it.

    Parameters
    ----------
    X : ndarray or scipy sparse matrix of shape (n_samples, n_features)
        Finite floats.
    kind : {'standard', 'range'}, default='standard'
        The spread that divides: the standard deviation (``ddof=0``), or
        the range (largest minus smallest value) times one factor common to
        all features that makes the rescaled features' variances average 1.

    Returns
    -------
    center : ndarray of shape (n_features,)
        The means.
    scale : ndarray of shape (n_features,)
        The spreads; a feature constant up to round-off gets its largest
        absolute value instead, 1 when that is 0.
        Computed at a power-of-two scale of ``X``, so that data near
        float64's limits do not overflow.

    Examples
    --------
    >>> import numpy as np
    >>> from mlearn.learners._scaling import feature_statistics
    >>> center, scale = feature_statistics(np.array([[1.0, 5.0, 0.0], [3.0, 5.0, 0.0]]))
    >>> center.tolist(), scale.tolist()
    ([2.0, 5.0, 0.0], [1.0, 5.0, 1.0])
    >>> feature_statistics(np.array([[1.0, 5.0], [3.0, 5.0]]), "range")[1].tolist()
    [1.0, 5.0]
    """
    if sp.issparse(X):
        p = power_of_two_scale(X.data) if X.nnz else 1.0
        # column statistics from the stored entries alone: never densified
        Xp = sp.csr_matrix(X / p, dtype=np.float64)
        n, d = Xp.shape
        columns, values = Xp.indices, Xp.data
        center = np.bincount(columns, weights=values, minlength=d) / n
        stored = np.bincount(columns, minlength=d)
        deviations = np.bincount(columns, weights=(values - center[columns]) ** 2, minlength=d)
        variance = (deviations + (n - stored) * center**2) / n
        high = np.where(stored < n, 0.0, -np.inf)
        low = np.where(stored < n, 0.0, np.inf)
        np.maximum.at(high, columns, values)
        np.minimum.at(low, columns, values)
    else:
        X = np.asarray(X, dtype=np.float64)
        p = power_of_two_scale(X)
        Xp = X / p if p != 1.0 else X
        center = Xp.mean(axis=0)
        variance = np.mean((Xp - center) ** 2, axis=0)
        high, low = np.max(Xp, axis=0), np.min(Xp, axis=0)
    scale = _divisors(kind, variance, high - low, np.maximum(np.abs(high), np.abs(low)))
    return np.asarray(center, dtype=np.float64) * p, scale * p


def _divisors(kind, variance, extent, magnitude):
    """Each feature's divisor, from its variance, range and largest magnitude.

    'standard': the standard deviation. 'range': the range times one
    factor common to all features, chosen so that the rescaled features'
    variances average 1 (the overall scale of standardised data, which the
    learners' margins, priors and defaults assume), while their ratios stay
    those of the ranges. A constant feature (spread at most ``_CONSTANT``
    times its magnitude) is divided by its magnitude, or 1 when it is 0.
    """
    variance = np.clip(np.asarray(variance, dtype=np.float64), 0.0, None)
    spread = np.sqrt(variance) if kind == "standard" else np.asarray(extent, dtype=np.float64)
    constant = spread <= _CONSTANT * magnitude
    if kind == "range" and not np.all(constant):
        varying = ~constant
        common = np.sqrt(np.mean(variance[varying] / spread[varying] ** 2))
        spread = spread * common
    return np.where(constant, np.where(magnitude > 0, magnitude, 1.0), spread)


def statistics_from_summaries(
    kind: str,
    moments: tuple[int, ArrayLike, ArrayLike],
    low: ArrayLike,
    high: ArrayLike,
    scale: float = 1.0,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """:func:`feature_statistics` of streamed data, from their blocks' summaries.

    Parameters
    ----------
    kind : {'standard', 'range'}
    moments : tuple
        Count, means and sums of squared deviations of each feature of all
        the points divided by ``scale``.
    low, high : array-like of shape (n_features,)
        Each feature's smallest and largest value (of the data as given).
    scale : float, default=1.0
        The power of two the moments' points were divided by.

    Returns
    -------
    center, scale : ndarray of shape (n_features,)
        As :func:`feature_statistics` returns them.
    """
    n, mean, squares = moments
    mean = np.asarray(mean, dtype=np.float64)
    low = np.asarray(low, dtype=np.float64) / scale
    high = np.asarray(high, dtype=np.float64) / scale
    variance = np.asarray(squares, dtype=np.float64) / max(n, 1)
    divisors = _divisors(kind, variance, high - low, np.maximum(np.abs(high), np.abs(low)))
    return mean * scale, divisors * scale


def map_to_fitted_units(init: Any, scale: Any) -> Any:
    """An ``init`` map given in the data's units, as a map of the fitted points.

    A string is returned as it is. A map ``L`` of ``X`` maps the fitted
    points ``X / scale`` as ``L * scale`` (column ``j`` times ``scale_j``).
    """
    if isinstance(init, str):
        return init
    init = np.asarray(init, dtype=np.float64)
    if init.ndim != 2 or init.shape[1] != np.size(scale) and np.ndim(scale):
        return init  # the wrong shape: the learner's own check reports it
    return init * scale


def metric_to_fitted_units(M: ArrayLike, scale: Any) -> NDArray[np.float64]:
    """A metric (or bilinear matrix) given in the data's units, for the fitted points.

    ``M`` of ``X`` is ``diag(scale) M diag(scale)`` for ``X / scale``.
    """
    M = np.asarray(M, dtype=np.float64)
    scale = np.asarray(scale, dtype=np.float64)
    if scale.ndim == 0:
        return (M * scale) * scale
    if M.shape != (len(scale), len(scale)):
        return M  # the wrong shape: the learner's own check reports it
    return M * scale[:, None] * scale[None, :]


class FeatureScalingMixin:
    """``feature_scaling``: fit on rescaled features, return the map of raw ones.

    Expects a ``feature_scaling`` parameter ('range', 'standard' or None). Sets
    the fitted attribute ``feature_scale_``: the divisor of each feature
    (ndarray of shape (n_features,)), or None when ``feature_scaling=None``.
    """

    feature_scaling: str | None
    feature_scale_: Any
    components_: Any
    _feature_center: Any

    def _fitting_points(
        self, X: Any, *, center: bool = True, power_of_two: bool = True
    ) -> tuple[np.ndarray, Any]:
        """The points a solver fits, and what to divide its map by.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features) or scipy sparse matrix
            Validated points.
        center : bool, default=True
            Subtract the means (when scaling). A metric of
            differences does not see them; it keeps the solver's numbers
            near zero.
        power_of_two : bool, default=True
            With ``feature_scaling=None``, divide data beyond 2**+-100 by a
            power of two (exact), as the learners always have.

        Returns
        -------
        X_fit : ndarray or sparse matrix
            ``(X - mean) / s`` (scaling), ``X / p`` or ``X`` (None).
        scale : ndarray of shape (n_features,) or float
            ``s`` or ``p`` (1.0 when nothing was divided): the fitted map
            ``L`` is ``L / scale`` in the data's units.
        """
        self._feature_center = None
        if self.feature_scaling is None:
            self.feature_scale_ = None
            if not power_of_two or sp.issparse(X):
                return X, 1.0
            p = power_of_two_scale(X)
            return (X / p if p != 1.0 else X), p
        mean, scale = feature_statistics(X, self.feature_scaling)
        self.feature_scale_ = scale
        dtype = np.float32 if X.dtype == np.float32 else np.float64
        if sp.issparse(X):
            return sp.csr_matrix(X @ sp.diags(1.0 / scale), dtype=dtype), scale
        Z = np.asarray(X, dtype=np.float64)
        if center:
            self._feature_center = mean
            Z = Z - mean
        return (Z / scale).astype(dtype, copy=False), scale

    def _fold_feature_scale(self, scale: Any) -> Any:
        """Turn the ``components_`` a solver fitted on ``X / scale`` into the map of ``X``."""
        if self.feature_scaling is not None:
            L = np.asarray(self.components_, dtype=np.float64) / scale
            self.components_ = L.astype(self.components_.dtype)
        return self
