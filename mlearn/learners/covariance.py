"""Covariance: the inverse covariance of the data as a Mahalanobis metric."""

import warnings
from typing import cast

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import TransformerMixin

from .._sklearn_compat import _fit_context
from ..base import BaseMetricLearner, MahalanobisMixin
from ..linalg import components_from_metric, initialize_metric
from ._doc_pieces import fill_pieces
from ._dtypes import fitted_components
from ._scaling import FEATURE_SCALING_CONSTRAINT, FeatureScalingMixin
from .lfda import pad_rows

__all__ = ["Covariance"]


@fill_pieces
class Covariance(FeatureScalingMixin, MahalanobisMixin, TransformerMixin, BaseMetricLearner):
    """The classical Mahalanobis distance: M is the inverse covariance of X.

    An unsupervised baseline: distances are measured in units of the data's
    own spread, so that correlated and large-variance features do not
    dominate.

    When ``X`` does not vary in every direction (constant or collinear
    features, duplicated rows, fewer samples than features) the covariance
    is singular: it is inverted in the subspace in which ``X`` varies
    (eigenvalues at the level of round-off count as zero, rather than being
    inverted into weights of 1e15), the other directions get zero weight, and
    a warning says so. Constant ``X`` (all points equal) has no covariance to
    invert and raises ``ValueError``.
    ``X`` of any finite magnitude is handled.

    The inverse covariance is invariant to any linear map of ``X``, but
    the round-off level below which a direction counts as absent is
    relative. With ``feature_scaling`` set (the default, 'range') the
    covariance is formed from rescaled features, so that
    ``fit(X @ D)`` for a positive diagonal ``D`` keeps the same directions
    as ``fit(X)`` also when the covariance is singular. With
    ``feature_scaling=None``, data whose largest magnitude lies outside
    [2**-100, 2**100] are scaled by a power of two (exactly) before the
    covariance is formed.

    Parameters
    ----------
    {preprocessor_points}
    {feature_scaling}

    Attributes
    ----------
    components_ : ndarray of shape (n_features, n_features)
        L with ``L.T @ L`` the (pseudo-)inverse covariance; ``transform``
        whitens the data.
    {fitted_feature_scale}
    {fitted_features}

    See Also
    --------
    mlearn.linalg.initialize_metric : the 'covariance' initialisation the
        other learners share.

    Examples
    --------
    >>> import numpy as np
    >>> from mlearn import Covariance
    >>> X = np.random.RandomState(0).randn(200, 3) * [1.0, 5.0, 0.1]
    >>> cov = Covariance().fit(X)
    >>> C = np.cov(cov.transform(X), rowvar=False)
    >>> np.round(C, 6) + 0.0  # + 0.0 turns the -0. that round-off may leave into 0.
    array([[1., 0., 0.],
           [0., 1., 0.],
           [0., 0., 1.]])

    A feature that repeats another adds no direction: the metric is learned
    in the span of the data, gives the difference of the two copies zero
    weight, and measures the same distances as without the copy:

    >>> import warnings
    >>> X2 = np.hstack([X, X[:, :1]])
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # "X spans only 3 of its 4 dimensions ..."
    ...     cov2 = Covariance().fit(X2)
    >>> M2 = cov2.get_mahalanobis_matrix()
    >>> bool(np.allclose(M2 @ [1.0, 0.0, 0.0, -1.0], 0.0, atol=1e-10))
    True
    >>> bool(np.isclose(cov2.pair_distance(X2[None, :2])[0],
    ...                 cov.pair_distance(X[None, :2])[0]))
    True
    """

    _parameter_constraints: dict = {
        **BaseMetricLearner._parameter_constraints,
        "feature_scaling": FEATURE_SCALING_CONSTRAINT,
    }

    def __init__(self, preprocessor=None, feature_scaling="range"):
        self.feature_scaling = feature_scaling
        super().__init__(preprocessor=preprocessor)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: ArrayLike, y: ArrayLike | None = None) -> "Covariance":
        """Fit the inverse covariance of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            At least two samples.
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : Covariance
        """
        X = cast(np.ndarray, self._prepare_points(X, reset=True, ensure_min_samples=2))
        dtype = X.dtype
        X = np.asarray(X, dtype=np.float64)
        X, scale = self._fitting_points(X)
        self.components_ = fitted_components(_whitening_components(X) / scale, dtype)
        return self


def _whitening_components(X):
    """``L`` with ``L.T @ L`` the inverse covariance of ``X`` in the subspace in
    which ``X`` varies; rows by decreasing weight, zero rows for the other
    directions.

    A numerically singular covariance inverted as it stands would give its
    round-off eigenvalues weights of 1e15 or more; they count as zero here.
    """
    n_features = X.shape[1]
    w, V = np.linalg.eigh(np.atleast_2d(np.cov(X, rowvar=False)))
    # round-off of the eigensolver (relative to the largest eigenvalue) and of
    # the data themselves (relative to their magnitude); real variances far
    # smaller than the largest, as between raw features of very different
    # units, stay above both
    eps = np.finfo(np.float64).eps
    floor = max(10 * n_features * eps * w[-1], (10 * eps * np.abs(X).max()) ** 2)
    keep = w > floor
    rank = int(keep.sum())
    if rank == 0:
        raise ValueError(
            "Covariance needs X that is not constant: all points are equal, so there "
            "is no covariance to invert"
        )
    if rank == n_features:
        M = initialize_metric("covariance", X)
        return components_from_metric(M, check_psd=False)
    warnings.warn(
        f"X spans only {rank} of its {n_features} dimensions (constant or collinear "
        "features, duplicated rows or fewer samples than features); Covariance "
        f"inverts the covariance in that {rank}-dimensional subspace and the other "
        "directions get zero weight",
        UserWarning,
        stacklevel=4,
    )
    # ascending variances: the rows come out by decreasing weight
    return pad_rows((V[:, keep] / np.sqrt(w[keep])).T, n_features)
