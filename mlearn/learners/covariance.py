"""Covariance: the inverse covariance of the data as a Mahalanobis metric."""

from .._sklearn_compat import _fit_context
from ..base import BaseMetricLearner, MahalanobisMixin
from ..linalg import components_from_metric, initialize_metric

__all__ = ["Covariance"]


class Covariance(MahalanobisMixin, BaseMetricLearner):
    """The classical Mahalanobis distance: M is the inverse covariance of X.

    An unsupervised baseline: distances are measured in units of the data's
    own spread, so that correlated and large-variance features do not
    dominate. A singular covariance (constant or collinear features) is
    inverted with the pseudo-inverse.

    Parameters
    ----------
    preprocessor : array-like of shape (n_samples, n_features), callable or None, \
            default=None
        Lets ``X`` be given as a 1-D array of indices into the preprocessor's
        points (or fed to a callable that returns them).

    Attributes
    ----------
    components_ : ndarray of shape (n_features, n_features)
        L with ``L.T @ L`` the (pseudo-)inverse covariance; ``transform``
        whitens the data.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features,)
        Names of the features, when ``X`` has string column names.

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
    >>> np.round(np.cov(cov.transform(X), rowvar=False), 6)
    array([[ 1.,  0.,  0.],
           [ 0.,  1., -0.],
           [ 0., -0.,  1.]])
    """

    def __init__(self, preprocessor=None):
        super().__init__(preprocessor=preprocessor)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
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
        X = self._prepare_points(X, reset=True, ensure_min_samples=2)
        M = initialize_metric("covariance", X)
        self.components_ = components_from_metric(M, check_psd=False)
        return self
