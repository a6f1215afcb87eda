"""Least Squared-residual Metric Learning (LSML), on quadruplets and from labels."""

from numbers import Integral, Real

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import minimize_scalar
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_limits

from .._sklearn_compat import Interval, StrOptions, _fit_context
from .._validation import check_weights
from ..base import BaseMetricLearner, MahalanobisMixin, QuadrupletsClassifierMixin
from ..exceptions import NonPSDError
from ..linalg import components_from_metric, initialize_metric, power_of_two_scale
from ..solvers import SolverResult
from ._doc_pieces import fill_pieces
from ._dtypes import fitted_components
from ._supervised import SUPERVISED_PARAMETER_CONSTRAINTS, SupervisedMixin
from .itml import rescale_given_metric

__all__ = ["LSML", "LSML_Supervised"]


def lsml_loss(M, diff_ab, diff_cd, weights, prior_inv):
    """The LSML objective at ``M`` (a textbook evaluation, used for reporting).

    ``sum_i w_i * max(0, d_M(a_i, b_i) - d_M(c_i, d_i))**2
    + tr(M @ prior_inv) - log det M`` with ``d_M`` the (unsquared) distance.
    Returns ``inf`` when ``M`` is not positive definite.
    """
    sign, logdet = np.linalg.slogdet(M)
    if sign <= 0:
        return np.inf
    d_ab = np.einsum("ij,jk,ik->i", diff_ab, M, diff_ab)
    d_cd = np.einsum("ij,jk,ik->i", diff_cd, M, diff_cd)
    return _residual_loss(d_ab, d_cd, weights) + float(np.sum(M * prior_inv)) - logdet


def _residual_loss(d_ab, d_cd, weights):
    residual = np.sqrt(np.maximum(d_ab, 0.0)) - np.sqrt(np.maximum(d_cd, 0.0))
    violated = residual > 0
    return float(weights[violated] @ residual[violated] ** 2)


def _residual_gradient(diff_ab, diff_cd, d_ab, d_cd, weights):
    """Gradient in M of the residual term, never dividing by a zero distance.

    For a violated quadruplet the residual is ``r = sqrt(d_ab) - sqrt(d_cd) > 0``
    and its term's gradient ``w r (v_ab v_abᵀ / sqrt(d_ab) - v_cd v_cdᵀ / sqrt(d_cd))``;
    ``d_ab > 0`` whenever ``r > 0``, and ``d_cd = 0`` means ``v_cd = 0`` (M is
    positive definite), whose term vanishes.
    """
    root_ab = np.sqrt(np.maximum(d_ab, 0.0))
    root_cd = np.sqrt(np.maximum(d_cd, 0.0))
    residual = root_ab - root_cd
    violated = np.flatnonzero(residual > 0)
    if violated.size == 0:
        return None
    wr = weights[violated] * residual[violated]
    coef_ab = wr / root_ab[violated]
    coef_cd = np.divide(wr, root_cd[violated], out=np.zeros_like(wr), where=root_cd[violated] > 0)
    V_ab = diff_ab[violated]
    V_cd = diff_cd[violated]
    return (V_ab.T * coef_ab) @ V_ab - (V_cd.T * coef_cd) @ V_cd


def _quadratic_forms(V, D):
    """``v_iᵀ D v_i`` for every row ``v_i`` of ``V``."""
    return np.einsum("ij,ij->i", V @ D, V)


def lsml_solve(
    M0, prior_inv, diff_ab, diff_cd, weights, *, tol, max_iter, verbose=False, name="LSML"
):
    """Minimise the LSML objective from the positive definite ``M0``.

    Natural-gradient descent: the direction is ``-M G M`` (``G`` the Euclidean
    gradient), which makes the log-det regulariser perfectly conditioned, and
    the step is a one-dimensional minimisation along that ray. Along
    ``M + t D`` every squared distance is affine in ``t`` and
    ``log det(M + t D) = log det M + sum_j log(1 + t nu_j)`` with ``nu`` the
    eigenvalues of ``S⁻¹ D S⁻ᵀ`` (``M = S Sᵀ``), so each trial step costs
    O(n_constraints + n_features) and the iterate stays positive definite
    without projection. The solver stops when the gradient's norm in the
    metric's own geometry, ``||M^(1/2) G M^(1/2)||_F`` (``||G||_F`` at the
    identity), falls below ``tol``: unlike ``||G||_F`` it does not change when
    the data and the prior are rescaled together.

    Returns
    -------
    result : SolverResult
        ``x`` is ``M``, of shape (n_features, n_features); ``history`` the
        objective before the first iteration and after each one;
        ``converged`` is False when ``max_iter`` iterations ran with the
        gradient's norm still above ``tol``.
    """
    M = np.array(M0, dtype=np.float64)
    d_ab = _quadratic_forms(diff_ab, M)
    d_cd = _quadratic_forms(diff_cd, M)
    eigvals, eigvecs = np.linalg.eigh(M)
    logdet = float(np.sum(np.log(eigvals)))
    trace_term = float(np.sum(M * prior_inv))
    loss = _residual_loss(d_ab, d_cd, weights) + trace_term - logdet
    losses = [loss]
    if verbose:
        print(f"[{name}] initial loss {loss:.6g}")
    converged = False
    grad_norm = np.inf
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        M_inv = (eigvecs / eigvals) @ eigvecs.T
        G = prior_inv - (M_inv + M_inv.T) / 2
        G_res = _residual_gradient(diff_ab, diff_cd, d_ab, d_cd, weights)
        if G_res is not None:
            G += G_res
        # with M = S Sᵀ, the eigenvalues of S⁻¹ D S⁻ᵀ = -Sᵀ G S give log det along the ray
        S = eigvecs * np.sqrt(eigvals)
        W = -(S.T @ G @ S)
        # the gradient's norm in the metric's own geometry, ||M^(1/2) G M^(1/2)||:
        # unlike ||G|| it does not change with the scale of the data
        grad_norm = float(np.linalg.norm(W))
        if grad_norm < tol:
            converged = True
            break
        D = -(M @ G @ M)
        D = (D + D.T) / 2
        slope_ab = _quadratic_forms(diff_ab, D)
        slope_cd = _quadratic_forms(diff_cd, D)
        nu = np.linalg.eigvalsh((W + W.T) / 2)
        trace_slope = float(np.sum(D * prior_inv))

        def along(
            t,
            nu=nu,
            d_ab=d_ab,
            d_cd=d_cd,
            slope_ab=slope_ab,
            slope_cd=slope_cd,
            trace_term=trace_term,
            trace_slope=trace_slope,
            logdet=logdet,
        ):
            arg = 1.0 + t * nu
            if arg.min() <= 0:
                return np.inf
            return (
                _residual_loss(d_ab + t * slope_ab, d_cd + t * slope_cd, weights)
                + trace_term
                + t * trace_slope
                - logdet
                - np.sum(np.log(arg))
            )

        t_step = _line_search(along, nu, loss)
        if t_step is None:  # no decrease along the descent direction: stalled
            converged = True
            break
        new_loss = along(t_step)
        M = M + t_step * D
        M = (M + M.T) / 2
        d_ab = np.maximum(d_ab + t_step * slope_ab, 0.0)
        d_cd = np.maximum(d_cd + t_step * slope_cd, 0.0)
        eigvals, eigvecs = np.linalg.eigh(M)
        eigvals = np.maximum(eigvals, np.finfo(np.float64).tiny)
        logdet = float(np.sum(np.log(eigvals)))
        trace_term = float(np.sum(M * prior_inv))
        decrease = loss - new_loss
        loss = new_loss
        losses.append(loss)
        if verbose:
            print(
                f"[{name}] iter {n_iter} loss {loss:.6g} gradient norm {grad_norm:.3g} "
                f"step {t_step:.3g}"
            )
        if decrease <= 1e-12 * max(1.0, abs(loss)):
            converged = True
            break
    if len(losses) == n_iter:
        # the last iteration found the gradient below tol, or no decrease,
        # and kept M: its objective is the one before
        losses.append(loss)
    return SolverResult(M, n_iter, losses, converged)


def _line_search(along, nu, loss):
    """A step ``t > 0`` that decreases ``along(t)`` below ``loss``, near its minimum."""
    neg = nu.min()
    t_cap = 0.99 / -neg if neg < 0 else np.inf  # beyond it M + t D is not definite
    t_hi = min(t_cap, 2.0)
    # grow the bracket while the objective still decreases at its upper end
    while t_hi < t_cap and t_hi < 1e8 and along(t_hi) < along(t_hi / 2):
        t_hi = min(4.0 * t_hi, t_cap)
    result = minimize_scalar(
        along, bounds=(0.0, t_hi), method="bounded", options={"xatol": 1e-6 * t_hi, "maxiter": 60}
    )
    t = float(result.x)
    if along(t) < loss:
        return t
    # the minimiser may miss a narrow valley near 0: halve down from t_hi
    t = t_hi
    for _ in range(60):
        t /= 2.0
        if along(t) < loss:
            return t
    return None


class _BaseLSML(BaseMetricLearner):
    """Parameters and solver shared by :class:`LSML` and :class:`LSML_Supervised`."""

    _parameter_constraints = {
        **BaseMetricLearner._parameter_constraints,
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "prior": [StrOptions({"identity", "covariance", "random"}), "array-like"],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
    }

    def _fit_quadruplets(self, quadruplets, weights, random_state, given_scale=1.0):
        name = type(self).__name__
        n_quadruplets, _, n_features = quadruplets.shape
        # squared distances of data beyond 2**+-100 under- or overflow: fit on
        # quadruplets / s (exact) and scale the map back
        scale = power_of_two_scale(quadruplets)
        if scale != 1.0:
            quadruplets = quadruplets / scale
        diff_ab = np.asarray(quadruplets[:, 0] - quadruplets[:, 1], dtype=np.float64)
        diff_cd = np.asarray(quadruplets[:, 2] - quadruplets[:, 3], dtype=np.float64)
        weights = _normalised_weights(weights, n_quadruplets)
        if isinstance(self.prior, str) and self.prior == "covariance":
            points = np.unique(quadruplets.reshape(-1, n_features), axis=0)
            prior = initialize_metric("covariance", points, name="prior")
        else:
            prior = initialize_metric(
                self.prior, np.zeros((0, n_features)), random_state=random_state, name="prior"
            )
        prior = rescale_given_metric(prior, self.prior, scale, "prior", name, given_scale)
        prior_inv = _inverse_pd(prior, name)
        # a loop of (n_features, n_features) products: extra BLAS threads only add
        # contention
        with threadpool_limits(limits=1, user_api="blas"):
            result = lsml_solve(
                prior,
                prior_inv,
                diff_ab,
                diff_cd,
                weights,
                tol=self.tol,
                max_iter=self.max_iter,
                verbose=self.verbose,
                name=name,
            )
        # in the units of the data, log det M is lower by 2 n_features log(scale)
        self.loss_ = result.history[-1] + 2 * n_features * np.log(scale)
        L = components_from_metric(result.x, self.n_components, check_psd=False) / scale
        self.components_ = fitted_components(L, quadruplets.dtype)
        self._record_solve(result.n_iter, result.history, result.converged)
        return self


def _normalised_weights(weights, n_quadruplets):
    """The quadruplets' weights, checked, summing to one (uniform when None)."""
    w = check_weights(weights, n_quadruplets, "weights", what="quadruplet")
    if w is None:
        return np.full(n_quadruplets, 1.0 / n_quadruplets)
    total = w.sum()
    if not total > 0:
        raise ValueError("weights must not all be zero")
    return w / total


def _inverse_pd(prior, learner):
    w, V = np.linalg.eigh(prior)
    if not w[0] > 1e-10 * max(abs(w[-1]), np.finfo(np.float64).tiny):
        raise NonPSDError(
            f"{learner} needs a strictly positive definite prior; this one has smallest "
            f"eigenvalue {w[0]:.3g} (largest {w[-1]:.3g}). With prior='covariance' this "
            "happens when features are constant or collinear, or when there are fewer "
            "distinct points than features: use prior='identity' or remove those features."
        )
    inv = (V / w) @ V.T
    return (inv + inv.T) / 2


class LSML(MahalanobisMixin, QuadrupletsClassifierMixin, _BaseLSML):
    r"""Least Squared-residual Metric Learning on quadruplets.

    Each quadruplet ``(a, b, c, d)`` states that ``a`` and ``b`` are more
    similar than ``c`` and ``d``. LSML (Liu et al., 2012) finds the positive
    definite M minimising the weighted squared residuals of the violated
    comparisons plus a log-det divergence to a prior ``M0``:

    .. math::

        \sum_i w_i \max(0, d_M(a_i, b_i) - d_M(c_i, d_i))^2
        + \operatorname{tr}(M M_0^{-1}) - \log\det M

    with :math:`d_M` the (unsquared) Mahalanobis distance and the weights
    normalised to sum to one. The solver is a natural-gradient descent with an
    exact line search that keeps M positive definite.

    Read more in the :ref:`User Guide <lsml>`.

    Parameters
    ----------
    tol : float, default=1e-3
        Stop when the norm of the objective's gradient ``G``, measured in the
        geometry of the current metric, ``||M^(1/2) G M^(1/2)||_F`` (the
        Frobenius norm of ``G`` when ``M`` is the identity), falls below
        ``tol``, or when no step decreases the objective. Measured so, the
        stopping point does not depend on the scale of the data.
    max_iter : int, default=1000
        Maximum number of descent iterations.
    prior : {'identity', 'covariance', 'random'} or array-like, default='identity'
        The matrix ``M0`` of the regulariser, also the starting point, of
        shape (n_features, n_features) when given as an array. Must be
        strictly positive definite.

        - 'identity': the Euclidean metric.
        - 'covariance': the inverse covariance of the distinct points of the
          quadruplets.
        - 'random': a random positive definite matrix (``random_state``).
        - an array: used as given.
    verbose : bool, default=False
        Print the objective at each iteration.
    preprocessor : array-like of shape (n_samples, n_features), callable or None, default=None
        Lets quadruplets be given as ``(n_quadruplets, 4)`` indices.
    random_state : int, RandomState instance or None, default=None
        Seeds ``prior='random'``.
    n_components : int, default=None
        Number of rows of ``components_``: the leading eigen-directions of
        the learned M. None keeps n_features.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The linear map L with ``M ≈ L.T @ L``.
    n_iter_ : int
        Number of iterations run, counting the last one, which may only find
        the gradient below ``tol``.
    objective_history_ : list of float
        The objective (of the data as fitted, when they were rescaled)
        at the start and after each iteration.
    loss_ : float
        The objective at the returned M (before any ``n_components`` truncation).
    n_features_in_ : int
        Number of features of the points.

    See Also
    --------
    LSML_Supervised : LSML on quadruplets drawn from class labels.

    Notes
    -----
    Quadruplets whose largest magnitude lies outside [2**-100, 2**100], where
    squared distances under- or overflow, are divided by a power of two ``s``
    (exactly) before fitting: an array ``prior`` is taken in the units of the
    data (times ``s**2``), ``components_`` is divided by ``s`` and ``loss_``
    is given in the units of the data. For ordinary data ``s`` is 1. With
    ``prior='covariance'``, ``fit(c * quadruplets)`` learns
    ``components_ / c``.

    References
    ----------
    .. [1] E. Y. Liu, Z. Guo, X. Zhang, V. Jojic and W. Wang, "Metric Learning
       from Relative Comparisons by Minimizing Squared Residual", ICDM 2012.

    Examples
    --------
    >>> import numpy as np
    >>> from mlearn import LSML
    >>> rng = np.random.RandomState(0)
    >>> quadruplets = rng.randn(100, 4, 2)
    >>> quadruplets[:, 1, 0] = quadruplets[:, 0, 0]  # a and b agree on feature 0
    >>> quadruplets[:, 3, 0] = quadruplets[:, 2, 0] + 2  # c and d differ on it
    >>> lsml = LSML().fit(quadruplets)
    >>> np.round(lsml.get_mahalanobis_matrix(), 1)  # the solver stops at tol=1e-3
    array([[ 1.1, -0. ],
           [-0. ,  0.9]])
    >>> lsml.score(quadruplets)  # fraction of quadruplets satisfied (0.88 before)
    0.93
    """

    def __init__(
        self,
        tol=1e-3,
        max_iter=1000,
        prior="identity",
        verbose=False,
        preprocessor=None,
        random_state=None,
        n_components=None,
    ):
        super().__init__(preprocessor=preprocessor)
        self.tol = tol
        self.max_iter = max_iter
        self.prior = prior
        self.verbose = verbose
        self.random_state = random_state
        self.n_components = n_components

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, quadruplets: ArrayLike, weights: ArrayLike | None = None) -> "LSML":
        """Learn the metric from quadruplets.

        Parameters
        ----------
        quadruplets : array-like of shape (n_quadruplets, 4, n_features) or (n_quadruplets, 4)
            Quadruplets ``(a, b, c, d)`` such that ``d(a, b)`` should be
            smaller than ``d(c, d)``; indices when a preprocessor is set.
        weights : array-like of shape (n_quadruplets,), default=None
            Non-negative weight of each quadruplet (normalised to sum to one);
            None weighs them equally.

        Returns
        -------
        self : LSML
        """
        quadruplets = self._prepare_tuples(quadruplets, reset=True)
        return self._fit_quadruplets(quadruplets, weights, check_random_state(self.random_state))


@fill_pieces
class LSML_Supervised(SupervisedMixin, MahalanobisMixin, _BaseLSML):
    """LSML on quadruplets drawn from class labels.

    Each quadruplet pairs two points of one class with two points of two
    different classes, so that same-class points end up closer. The result
    is a transformer for pipelines.

    Read more in the :ref:`User Guide <lsml>`.

    Parameters
    ----------
    tol : float, default=1e-3
        Gradient-norm tolerance of the solver (see :class:`LSML`).
    max_iter : int, default=1000
        Maximum number of descent iterations.
    prior : {'identity', 'covariance', 'random'} or array-like of shape \
            (n_features, n_features), default='identity'
        Regularisation target and starting point (see :class:`LSML`).
    n_constraints : int, default=None
        Number of quadruplets to draw; None means ``20 * n_classes ** 2``.
        ``num_constraints``, its old name, is accepted with a ``FutureWarning``.
    weights : array-like of shape (n_constraints,), default=None
        Weight of each drawn quadruplet; None weighs them equally.
    verbose : bool, default=False
        Print the objective at each iteration.
    preprocessor : array-like of shape (n_samples, n_features), callable or None, default=None
        Lets ``X`` be given as a 1-D array of indices.
    random_state : int, RandomState instance or None, default=None
        Seeds the drawing of the quadruplets and ``prior='random'``.
    n_components : int, default=None
        Number of rows of ``components_`` (leading eigen-directions of M).
    {feature_scaling}

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The linear map L with ``M ≈ L.T @ L``.
    n_iter_ : int
        Number of iterations run, counting the last one, which may only find
        the gradient below ``tol``.
    objective_history_ : list of float
        The objective (of the data as fitted, when they were rescaled)
        at the start and after each iteration.
    loss_ : float
        The objective at the returned M.
    {fitted_feature_scale}
    {fitted_features}

    See Also
    --------
    LSML : the same learner on quadruplets given directly.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from mlearn import LSML_Supervised
    >>> X, y = load_iris(return_X_y=True)
    >>> lsml = LSML_Supervised(n_constraints=200, random_state=0).fit(X, y)
    >>> lsml.transform(X).shape
    (150, 4)
    """

    _parameter_constraints = {
        **_BaseLSML._parameter_constraints,
        **SUPERVISED_PARAMETER_CONSTRAINTS,
        "weights": ["array-like", None],
    }

    def __init__(
        self,
        tol=1e-3,
        max_iter=1000,
        prior="identity",
        n_constraints=None,
        weights=None,
        verbose=False,
        preprocessor=None,
        random_state=None,
        n_components=None,
        feature_scaling="range",
    ):
        super().__init__(preprocessor=preprocessor)
        self.feature_scaling = feature_scaling
        self.tol = tol
        self.max_iter = max_iter
        self.prior = prior
        self.n_constraints = n_constraints
        self.weights = weights
        self.verbose = verbose
        self.random_state = random_state
        self.n_components = n_components

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: ArrayLike, y: ArrayLike) -> "LSML_Supervised":
        """Draw quadruplets from the labels and learn the metric.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class labels.

        Returns
        -------
        self : LSML_Supervised
        """
        X, y = self._validate_supervised(X, y)
        X, scale = self._fitting_points(X, power_of_two=False)
        rng = check_random_state(self.random_state)
        quadruplets = self._label_quadruplets(X, y, rng)
        weights = self.weights
        if weights is not None and np.shape(weights) != (quadruplets.shape[0],):
            raise ValueError(
                f"weights must have one entry per drawn quadruplet ({quadruplets.shape[0]}), "
                f"got shape {np.shape(weights)}"
            )
        self._fit_quadruplets(quadruplets, weights, rng, given_scale=scale)
        if self.feature_scaling is not None:
            # log det M in the data's units, as for the power-of-two scale
            self.loss_ = self.loss_ + 2 * float(np.sum(np.log(scale)))
        return self._fold_feature_scale(scale)
