"""Information Theoretic Metric Learning (ITML), on pairs and from labels."""

from numbers import Integral, Real
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.utils import check_random_state

from .._docstrings import fill_doc
from .._lazy import lazy_callable
from .._sklearn_compat import Interval, StrOptions, _fit_context
from ..base import BaseMetricLearner, MahalanobisMixin, PairsClassifierMixin
from ..exceptions import NonPSDError
from ..linalg import components_from_metric, initialize_metric

# the unvalidated entry: the learner has checked its arguments
from ..pairwise._api import _pairwise_distances as pairwise_distances
from ._doc_pieces import fill_pieces
from ._dtypes import fitted_components
from ._scaling import metric_to_fitted_units
from ._supervised import (
    SUPERVISED_PARAMETER_CONSTRAINTS,
    PairsFitMixin,
    SupervisedMixin,
    scaled_pairs,
)

__all__ = ["ITML", "ITML_Supervised"]

itml_sweep = lazy_callable("mlearn.learners._itml_kernels", "itml_sweep")
itml_sweep_blocked = lazy_callable("mlearn.learners._itml_kernels", "itml_sweep_blocked")

#: From this many features on, the fit uses ``itml_sweep_blocked``, which is
#: faster there (benchmarks/results/weakly_itml_kernels.md).
BLOCKED_MIN_FEATURES = 32

#: Constraints per block of ``itml_sweep_blocked``.
SWEEP_BLOCK = 16

# Above this many distinct points the default bounds are estimated on a sample.
_MAX_BOUND_POINTS = 4000


def check_prior_pd(M, name, learner):
    """A prior or starting matrix that must be strictly positive definite.

    A singular one raises :class:`~mlearn.exceptions.NonPSDError`.
    """
    w = np.linalg.eigvalsh(M)
    if not w[0] > 1e-10 * max(abs(w[-1]), np.finfo(np.float64).tiny):
        raise NonPSDError(
            f"{learner} needs a strictly positive definite {name}; this one has smallest "
            f"eigenvalue {w[0]:.3g} (largest {w[-1]:.3g}). With prior='covariance' this "
            "happens when features are constant or collinear: use prior='identity' or "
            "remove those features."
        )
    return M


def rescale_given_metric(M, given, scale, name, learner, given_scale=1.0):
    """``M`` in the units of the data divided by ``scale``.

    A learner that fits on data / ``scale`` (see
    :func:`mlearn.linalg.power_of_two_scale`) takes a metric the user gave as
    an array in the units of the data times ``scale**2``; one it built from a
    string (``given``) is already in the units it fits in. A ``_Supervised``
    form that fits on features divided by ``given_scale`` (an array, see
    :mod:`mlearn.learners._scaling`) first carries the given array into
    those units.
    """
    if isinstance(given, str):
        return M
    if np.ndim(given_scale) or given_scale != 1.0:
        M = metric_to_fitted_units(M, given_scale)
    if scale == 1.0:
        return M
    with np.errstate(over="ignore", under="ignore"):  # checked right below
        scaled = (M * scale) * scale
    if not np.all(np.isfinite(scaled)) or (np.any(M) and not np.any(scaled)):
        raise ValueError(
            f"{learner}: {name} is given in the units of the data, whose magnitude "
            f"needs scaling by {scale:.3g} to be fitted; {name} times {scale:.3g}**2 "
            f"leaves float64's range. Pass {name} as a string, or rescale the data "
            f"and {name} together."
        )
    return scaled


#: The fitted attribute both forms of ITML record.
_OBJECTIVE_HISTORY_DOC = """
objective_history_ : list of float
    ITML's objective, the LogDet divergence of ``M`` to the prior plus
    ``gamma`` times that of the slack to the bounds, at the start (0)
    and after each sweep."""


class _Objective:
    """ITML's objective ``D_ld(M, M0) + gamma D_ld(slack, slack0)``, from ``M0`` and ``slack0``.

    ``D_ld`` is the LogDet divergence, ``tr(M M0^-1) - log det(M M0^-1) - n``
    (for vectors, of their diagonal matrices). It costs one ``O(n_features^3)``
    product and determinant a sweep, which is small next to the sweep's
    ``O(n_pairs n_features^2)``.
    """

    def __init__(self, M0, slack0, gamma):
        self.M0_inv = np.linalg.inv(M0)
        self.slack0 = slack0.copy()
        self.gamma = gamma

    def __call__(self, M, slack):
        P = M @ self.M0_inv
        value = np.trace(P) - np.linalg.slogdet(P)[1] - len(M)
        if np.isfinite(self.gamma):  # an infinite gamma leaves the slack at slack0
            ratio = slack / self.slack0
            value += self.gamma * float(np.sum(ratio - np.log(ratio) - 1.0))
        return float(value)


class _BaseITML(PairsFitMixin, BaseMetricLearner):
    """Parameters and solver shared by :class:`ITML` and :class:`ITML_Supervised`."""

    _deprecated_aliases = {"convergence_threshold": "tol"}

    _parameter_constraints = {
        **BaseMetricLearner._parameter_constraints,
        "gamma": [Interval(Real, 0, None, closed="right")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "prior": [StrOptions({"identity", "covariance", "random"}), "array-like"],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
    }

    def _fit_pairs(self, pairs, y, random_state, labelled=None, bounds=None, given_scale=1.0):
        """Run ITML on validated pairs (n_pairs, 2, n_features) with labels +1/-1.

        The bounds are on learned distances, which the pairs' rescaling (see
        :func:`~mlearn.learners._supervised.scaled_pairs`) leaves unchanged.
        ``labelled`` is not used.
        """
        name = type(self).__name__
        diffs, y, points, scale = scaled_pairs(pairs, y)
        self.bounds_ = self._resolve_bounds(bounds, points, random_state)
        A = initialize_metric(self.prior, points, random_state=random_state, name="prior")
        A = rescale_given_metric(A, self.prior, scale, "prior", name, given_scale)
        A = np.array(check_prior_pd(A, "prior", name), dtype=np.float64, order="C")

        # A pair of identical points constrains nothing (its distance is 0 under
        # every metric) and would divide by zero: leave it out.
        nonzero = np.any(diffs != 0, axis=1)
        n_duplicates = int(np.sum(~nonzero))
        if self.verbose and n_duplicates:
            print(f"[{name}] skipping {n_duplicates} pair(s) of identical points")
        # similar pairs first, then dissimilar ones, each in the given order
        order = np.concatenate(
            [np.flatnonzero(nonzero & (y == 1)), np.flatnonzero(nonzero & (y == -1))]
        )
        if len(order) > 0:
            A = self._solve(A, diffs[order], y[order].astype(np.float64), name)
        else:
            self._record_solve(0, [0.0], True)
            if self.verbose:
                print(f"[{name}] no pair of distinct points: the metric is the prior")
        L = components_from_metric(A, self.n_components, check_psd=False) / scale
        self.components_ = fitted_components(L, pairs.dtype)
        return self

    def _resolve_bounds(self, bounds, points, random_state):
        if bounds is not None:
            bounds = np.asarray(bounds, dtype=np.float64).ravel()
            if bounds.size != 2 or not np.all(np.isfinite(bounds)) or np.any(bounds < 0):
                raise ValueError(
                    "bounds must be two finite non-negative numbers (u, l): similar pairs "
                    "within u, dissimilar pairs beyond l (squared distances); got "
                    f"{np.asarray(bounds).tolist()}"
                )
            bounds = bounds.copy()
        else:
            if points.shape[0] > _MAX_BOUND_POINTS:
                rng = check_random_state(random_state)
                points = points[rng.choice(points.shape[0], _MAX_BOUND_POINTS, replace=False)]
            # percentiles over the full square matrix (zero diagonal included), as
            # in the reference implementation, so that default bounds agree with it
            bounds = np.percentile(pairwise_distances(points), (5, 95))
        bounds[bounds == 0] = 1e-9
        return bounds

    def _solve(self, A, diffs, signs, name):
        n = diffs.shape[0]
        gamma = float(self.gamma)
        gamma_proj = 1.0 if np.isinf(gamma) else gamma / (gamma + 1.0)
        # squared-distance targets, updated with the slack
        targets = np.where(signs > 0, self.bounds_[0], self.bounds_[1]).astype(np.float64)
        lambdas = np.zeros(n)
        lambdas_old = np.zeros(n)
        diffs = np.ascontiguousarray(diffs)
        blocked = diffs.shape[1] >= BLOCKED_MIN_FEATURES
        objective = _Objective(A, targets, gamma)
        history = [0.0]
        conv = np.inf
        converged = False
        for it in range(1, self.max_iter + 1):
            if blocked:
                n_skipped = itml_sweep_blocked(
                    A, diffs, signs, targets, lambdas, gamma, gamma_proj, SWEEP_BLOCK
                )
            else:
                n_skipped = itml_sweep(A, diffs, signs, targets, lambdas, gamma, gamma_proj)
            history.append(objective(A, targets))
            norm_sum = np.linalg.norm(lambdas) + np.linalg.norm(lambdas_old)
            if norm_sum == 0:
                # every constraint already holds under the prior
                conv, converged = 0.0, True
                break
            conv = np.abs(lambdas_old - lambdas).sum() / norm_sum
            if self.verbose:
                extra = f", {n_skipped} pair(s) at zero distance skipped" if n_skipped else ""
                print(f"[{name}] iter {it:4d}  conv {conv:.6g}{extra}")
            if conv < self.tol:
                converged = True
                break
            lambdas_old[:] = lambdas
        if not np.all(np.isfinite(A)):
            raise ValueError(
                f"{name} diverged (non-finite metric); lower gamma or check the pairs"
            )
        self._record_solve(
            it, history, converged, what="sweeps", detail=f"conv={conv:.3g} > tol={self.tol}"
        )
        if self.verbose:
            state = "converged" if converged else "stopped"
            print(f"[{name}] {state} after {it} sweep(s), conv {conv:.6g}")
        return (A + A.T) / 2


@fill_doc(objective_history=_OBJECTIVE_HISTORY_DOC)
@fill_pieces
class ITML(MahalanobisMixin, PairsClassifierMixin, _BaseITML):
    """Information Theoretic Metric Learning (ITML) on labelled pairs.

    ITML finds the Mahalanobis matrix ``M`` closest to a prior ``M0`` in
    LogDet divergence, ``tr(M M0^-1) - log det(M M0^-1) - n_features``, such
    that the squared distance of similar pairs is at most ``u`` and that of
    dissimilar pairs at least ``l``, each constraint with a slack weighted by
    ``gamma``. It solves the problem by cyclic Bregman projections: each pair
    in turn moves ``M`` by a rank-one update, ``O(n_features^2)`` per pair,
    and ``M`` stays positive definite without any eigen-decomposition.

    Read more in the :ref:`User Guide <itml>`.

    Parameters
    ----------
    gamma : float, default=1.0
        Slack trade-off: the larger, the harder the distance bounds are
        enforced (``np.inf`` makes them hard constraints).
    max_iter : int, default=1000
        Maximum number of sweeps over the pairs.
    tol : float, default=1e-3
        Stop when the dual variables ``lambda`` change little between sweeps:
        ``sum|lambda - lambda_old| / (||lambda|| + ||lambda_old||) < tol``.
        ``convergence_threshold``, its old name, is accepted with a
        ``FutureWarning``.
    prior : {'identity', 'covariance', 'random'} or array-like of shape \
            (n_features, n_features), default='identity'
        The matrix ``M0`` the metric stays close to; it must be strictly
        positive definite. 'covariance' is the inverse covariance of the
        points in the pairs, 'random' a random positive definite matrix
        (seeded by ``random_state``).
    verbose : bool, default=False
        Print the convergence measure after each sweep, and how many pairs of
        identical points were left out.
    {preprocessor_pairs}
    random_state : int, RandomState instance or None, default=None
        Seeds ``prior='random'`` (and the sample the default bounds are
        estimated on when the pairs hold more than 4000 distinct points).
    {n_components_eigen}

    Attributes
    ----------
    bounds_ : ndarray of shape (2,)
        ``(u, l)``: the squared learned distance of similar pairs should be at
        most ``u``, that of dissimilar ones at least ``l``. Unless given to
        ``fit``, the 5th and 95th percentiles of the Euclidean distances
        (not squared, as metric-learn does) between the points of the pairs
        (divided by ``s``, see Notes).
    n_iter_ : int
        Number of sweeps run.
    {objective_history}
    {fitted_eigen_map}
    {fitted_pairs_classifier}

    See Also
    --------
    ITML_Supervised : ITML on pairs drawn from class labels.

    Notes
    -----
    A pair of identical points says nothing about the metric (its distance
    is zero under every ``M``); such pairs are left out of the projections.

    Pairs whose largest magnitude lies outside [2**-100, 2**100], where
    squared distances under- or overflow, are divided by a power of two
    ``s`` (exactly) before fitting: an array ``prior`` is taken in the units
    of the data (times ``s**2``), the default bounds are computed on the
    divided points, given bounds are used as they are (they bound learned
    distances, which do not change), and ``components_`` is divided by
    ``s``. For ordinary data ``s`` is 1. With ``prior='covariance'`` and
    given bounds, ``fit(c * pairs)`` learns ``components_ / c``.

    References
    ----------
    .. [1] J. V. Davis, B. Kulis, P. Jain, S. Sra and I. S. Dhillon,
       "Information-theoretic metric learning", ICML 2007.

    Examples
    --------
    >>> import numpy as np
    >>> from mlearn import ITML
    >>> pairs = np.array([[[1.2, 7.5], [1.3, 1.5]],
    ...                   [[6.4, 2.6], [6.2, 9.7]],
    ...                   [[1.3, 4.5], [3.2, 4.6]],
    ...                   [[6.2, 5.5], [5.4, 5.4]]])
    >>> y = np.array([1, 1, -1, -1])
    >>> itml = ITML().fit(pairs, y)
    >>> itml.predict(pairs)
    array([ 1,  1, -1, -1])
    """

    def __init__(
        self,
        gamma=1.0,
        max_iter=1000,
        tol=1e-3,
        prior="identity",
        verbose=False,
        preprocessor=None,
        random_state=None,
        n_components=None,
    ):
        self.gamma = gamma
        self.max_iter = max_iter
        self.tol = tol
        self.prior = prior
        self.verbose = verbose
        self.random_state = random_state
        self.n_components = n_components
        super().__init__(preprocessor=preprocessor)

    @fill_pieces
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(  # type: ignore[override]  # bounds before calibration_params
        self,
        pairs: ArrayLike,
        y: ArrayLike,
        bounds: ArrayLike | None = None,
        calibration_params: dict[str, Any] | None = None,
    ) -> "ITML":
        """Learn the metric from labelled pairs, then calibrate ``threshold_`` on them.

        Parameters
        ----------
        {fit_labelled_pairs}
        bounds : array-like of 2 floats, default=None
            ``(u, l)``; None takes the 5th and 95th percentiles of the
            distances between the points of the pairs.
        {fit_calibration_params}

        Returns
        -------
        self : ITML
        """
        return self._fit_labelled_pairs(pairs, y, calibration_params, bounds=bounds)


@fill_doc(objective_history=_OBJECTIVE_HISTORY_DOC)
@fill_pieces
class ITML_Supervised(SupervisedMixin, MahalanobisMixin, _BaseITML):
    """ITML on similar and dissimilar pairs drawn from class labels.

    Pairs of points of the same class are similar, pairs of points of two
    classes dissimilar; :class:`ITML` then learns the metric. The estimator is
    a transformer (``fit(X, y)``, ``transform(X)``) for pipelines.

    Read more in the :ref:`User Guide <itml>`.

    Parameters
    ----------
    gamma : float, default=1.0
        Slack trade-off (``np.inf`` for hard constraints).
    max_iter : int, default=1000
        Maximum number of sweeps over the pairs.
    tol : float, default=1e-3
        Convergence tolerance on the change of the dual variables
        (``convergence_threshold``, its old name, is accepted with a
        ``FutureWarning``).
    {n_constraints_pairs}
    prior : {'identity', 'covariance', 'random'} or array-like of shape \
            (n_features, n_features), default='identity'
        Strictly positive definite matrix the metric stays close to.
    verbose : bool, default=False
        Print progress.
    {preprocessor_drawn_pairs}
    random_state : int, RandomState instance or None, default=None
        Seeds the drawing of pairs and ``prior='random'``.
    {n_components_eigen}
    {feature_scaling}

    Attributes
    ----------
    bounds_ : ndarray of shape (2,)
        ``(u, l)`` used for the similar and dissimilar pairs.
    n_iter_ : int
        Number of sweeps run.
    {objective_history}
    {fitted_eigen_map}
    {fitted_feature_scale}
    {fitted_features}

    See Also
    --------
    ITML : the same learner on pairs.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from mlearn import ITML_Supervised
    >>> X, y = load_iris(return_X_y=True)
    >>> pipe = make_pipeline(ITML_Supervised(random_state=0), KNeighborsClassifier(3))
    >>> round(pipe.fit(X, y).score(X, y), 2)
    0.97
    """

    _parameter_constraints = {
        **_BaseITML._parameter_constraints,
        **SUPERVISED_PARAMETER_CONSTRAINTS,
    }

    def __init__(
        self,
        gamma=1.0,
        max_iter=1000,
        tol=1e-3,
        n_constraints=None,
        prior="identity",
        verbose=False,
        preprocessor=None,
        random_state=None,
        n_components=None,
        feature_scaling="range",
    ):
        self.gamma = gamma
        self.max_iter = max_iter
        self.tol = tol
        self.n_constraints = n_constraints
        self.prior = prior
        self.verbose = verbose
        self.random_state = random_state
        self.n_components = n_components
        self.feature_scaling = feature_scaling
        super().__init__(preprocessor=preprocessor)

    @fill_pieces
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(  # type: ignore[override]  # fit(X, y), not the pairs' fit
        self, X: ArrayLike, y: ArrayLike, bounds: ArrayLike | None = None
    ) -> "ITML_Supervised":
        """Draw pairs from the labels and learn the metric.

        Parameters
        ----------
        {fit_labelled_points}
        bounds : array-like of 2 floats, default=None
            ``(u, l)``; None takes the 5th and 95th percentiles of the
            distances between the points of the drawn pairs.

        Returns
        -------
        self : ITML_Supervised
        """
        return self._fit_drawn_pairs(X, y, bounds=bounds)
