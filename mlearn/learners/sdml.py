"""Sparse Distance Metric Learning (SDML), on pairs and from labels."""

import warnings
from numbers import Integral, Real

import numpy as np
from scipy.linalg import eigh
from sklearn.exceptions import ConvergenceWarning

from .._sklearn_compat import Interval, StrOptions
from .._validation import user_stacklevel
from ..base import BaseMetricLearner, MahalanobisMixin, PairsClassifierMixin
from ..linalg import components_from_metric, initialize_metric
from ._doc_pieces import fill_pieces
from ._dtypes import fitted_components
from ._supervised import (
    SUPERVISED_PARAMETER_CONSTRAINTS,
    PairsFitMixin,
    SupervisedMixin,
    scaled_pairs,
)
from .itml import check_prior_pd, rescale_given_metric

__all__ = ["SDML", "SDML_Supervised", "graphical_lasso_admm"]

# When the matrix handed to the graphical lasso is not positive definite, its
# spectrum is shifted so that its smallest eigenvalue becomes this fraction of
# its largest absolute eigenvalue.
_SHIFT_FRACTION = 0.3

# Range of ADMM's penalty parameter; powers of two, so that rescaling the
# scaled dual variable with it is exact.
_RHO_RANGE = (2.0**-50, 2.0**50)


def graphical_lasso_admm(S, alpha, *, max_iter=1000, tol=1e-6):
    """Sparse inverse of a positive definite matrix by the graphical lasso (ADMM).

    Minimises ``tr(S @ P) - log det P + alpha * sum_{i != j} |P_ij|`` over
    positive definite ``P`` by the alternating direction method of multipliers
    (Boyd et al., 2011, section 6.5), with the penalty parameter adapted to
    balance the primal and dual residuals. The problem is scaled so that
    ``S`` has unit mean diagonal.

    The solver stops when the returned matrix is certified accurate: with
    ``R`` the minimum-norm subgradient of the objective at ``P`` and
    ``lam = ||P^(1/2) R P^(1/2)||_F`` (the Newton decrement), the
    self-concordance of ``-log det`` bounds the distance to the exact
    minimiser ``P*`` by ``||P^(-1/2) (P* - P) P^(-1/2)||_F <= lam / (1 - lam)``
    (Nesterov, 2004, section 4.1), and the solver stops once this bound is
    at most ``tol``. Then ``(1 - tol) P <= P* <= (1 + tol) P`` (in the
    positive semidefinite order: squared Mahalanobis distances under ``P``
    and ``P*`` agree to a factor ``1 ± tol``) and
    ``||P - P*||_F <= tol * ||P||_F``.

    Parameters
    ----------
    S : ndarray of shape (n_features, n_features)
        Symmetric positive definite.
    alpha : float
        Weight of the L1 penalty on the off-diagonal entries (at the scale
        of ``S``).
    max_iter : int, default=1000
    tol : float, default=1e-6
        Guaranteed relative accuracy of the result, as above. Round-off
        limits what can be certified to about ``1e-16`` times the condition
        number of ``S``; below that the solver runs ``max_iter`` iterations
        and reports ``converged=False``.

    Returns
    -------
    P : ndarray of shape (n_features, n_features)
        Symmetric positive definite.
    n_iter : int
    converged : bool
        Whether the accuracy ``tol`` was certified.

    References
    ----------
    .. [1] S. Boyd, N. Parikh, E. Chu, B. Peleato and J. Eckstein,
       "Distributed optimization and statistical learning via the alternating
       direction method of multipliers", Foundations and Trends in Machine
       Learning 3(1), 2011.
    .. [2] Y. Nesterov, "Introductory Lectures on Convex Optimization",
       Kluwer, 2004, section 4.1.

    Examples
    --------
    With no penalty the solution is the inverse, to the relative accuracy
    ``tol``:

    >>> import numpy as np
    >>> from mlearn.learners.sdml import graphical_lasso_admm
    >>> S = np.array([[2.0, 0.5], [0.5, 1.0]])
    >>> P, n_iter, converged = graphical_lasso_admm(S, 0.0, tol=1e-10)
    >>> converged
    True
    >>> exact = np.linalg.inv(S)
    >>> bool(np.linalg.norm(P - exact) <= 1e-10 * np.linalg.norm(P))
    True
    """
    n_features = S.shape[0]
    scale = float(np.mean(np.diag(S)))
    S = S / scale
    penalty = alpha / scale
    off = ~np.eye(n_features, dtype=bool)
    Z = np.diag(1.0 / np.diag(S))
    U = np.zeros_like(S)
    P = Z
    rho = 1.0
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        # P-step: the minimiser of tr(S P) - log det P + rho/2 ||P - Z + U||² has
        # the eigenvectors of rho (Z - U) - S and eigenvalues solving a quadratic
        e, Q = np.linalg.eigh(rho * (Z - U) - S)
        theta = _positive_root(e, rho)
        P = (Q * theta) @ Q.T
        P = (P + P.T) / 2
        # Z-step: soft-threshold the off-diagonal entries
        Z_old = Z
        A = P + U
        Z = A.copy()
        Z[off] = _soft_threshold(A[off], penalty / rho)
        U += P - Z
        # Z is the sparse iterate, P the positive definite one: certify Z
        # when it is positive definite
        w, V = np.linalg.eigh(Z)
        candidate = Z
        if w[0] <= 0:
            candidate, w, V = P, theta, Q
        if _relative_error_bound(candidate, w, V, S, penalty) <= tol:
            converged = True
            break
        primal = np.linalg.norm(P - Z)
        dual = rho * np.linalg.norm(Z - Z_old)
        if primal > 10 * dual and rho < _RHO_RANGE[1]:
            rho *= 2.0
            U /= 2.0
        elif dual > 10 * primal and rho > _RHO_RANGE[0]:
            rho /= 2.0
            U *= 2.0
    else:
        candidate = Z if np.linalg.eigvalsh(Z)[0] > 0 else P
    return candidate / scale, n_iter, converged


def _positive_root(e, rho):
    """Positive root of ``rho * theta**2 - e * theta - 1``, free of cancellation."""
    root = np.sqrt(e * e + 4.0 * rho)
    theta = np.empty_like(e)
    positive = e > 0
    theta[positive] = (e[positive] + root[positive]) / (2.0 * rho)
    # (e + root) / (2 rho) cancels when e < 0 and rho is small (the
    # unpenalised problem drives rho down); this equal form does not
    theta[~positive] = 2.0 / (root[~positive] - e[~positive])
    return theta


def _soft_threshold(A, threshold):
    return np.sign(A) * np.maximum(np.abs(A) - threshold, 0.0)


def _relative_error_bound(P, w, V, S, penalty):
    """Bound on ``||P^(-1/2) (P* - P) P^(-1/2)||_F`` for the graphical lasso minimiser ``P*``.

    ``w, V`` is the eigendecomposition of ``P``; the bound is ``inf`` when
    ``P`` is not positive definite or the Newton decrement is not below 1.
    """
    if w[0] <= 0:
        return np.inf
    # the minimum-norm subgradient is S - P^-1 + penalty * G, with G the sign
    # of the non-zero off-diagonal entries and, on the zero ones, whatever
    # value in [-1, 1] brings the entry closest to 0
    T = S.copy()
    off = ~np.eye(len(P), dtype=bool)
    nonzero = off & (P != 0)
    T[nonzero] += penalty * np.sign(P[nonzero])
    zero = off & (P == 0)
    if penalty > 0 and zero.any():
        inverse = (V / w) @ V.T
        T[zero] += np.clip(inverse[zero] - S[zero], -penalty, penalty)
    # P^(1/2) (T - P^-1) P^(1/2) = V (w^(1/2) V' T V w^(1/2) - I) V', which
    # needs no inverse of P (accurate when P is ill-conditioned)
    root = np.sqrt(w)
    B = root[:, None] * (V.T @ T @ V) * root
    B[np.diag_indices_from(B)] -= 1.0
    decrement = np.linalg.norm(B)
    return decrement / (1.0 - decrement) if decrement < 1 else np.inf


class _BaseSDML(PairsFitMixin, BaseMetricLearner):
    """Parameters and solver shared by :class:`SDML` and :class:`SDML_Supervised`."""

    _parameter_constraints = {
        **BaseMetricLearner._parameter_constraints,
        "balance_param": [Interval(Real, 0, None, closed="left")],
        "sparsity_param": [Interval(Real, 0, None, closed="left")],
        "prior": [StrOptions({"identity", "covariance", "random"}), "array-like"],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
    }

    def _fit_pairs(self, pairs, y, random_state, labelled=None, given_scale=1.0):
        """Run SDML on validated pairs (n_pairs, 2, n_features) with labels +1/-1.

        ``labelled`` is not used.
        """
        name = type(self).__name__
        diffs, y, points, scale = scaled_pairs(pairs, y)
        M0 = initialize_metric(self.prior, points, random_state=random_state, name="prior")
        M0 = rescale_given_metric(M0, self.prior, scale, "prior", name, given_scale)
        M0 = check_prior_pd(M0, "prior", name)
        prior_inv = np.linalg.inv(M0)
        prior_inv = (prior_inv + prior_inv.T) / 2
        # the pairs' Laplacian term: sum of y_i d_i d_i' (similar +, dissimilar -)
        loss = (diffs.T * y) @ diffs
        S = prior_inv + self.balance_param * loss
        S = (S + S.T) / 2
        S = self._make_positive_definite(S, prior_inv, loss, name)
        M, self.n_iter_, converged = graphical_lasso_admm(S, self.sparsity_param)
        if not converged:
            warnings.warn(
                f"{name}: the graphical lasso did not converge in {self.n_iter_} "
                "iterations; the metric is the last iterate",
                ConvergenceWarning,
                stacklevel=user_stacklevel(),
            )
        if self.verbose:
            print(
                f"[{name}] graphical lasso: {self.n_iter_} ADMM iterations, "
                f"{int(np.sum(M[np.triu_indices_from(M, 1)] != 0))} non-zero "
                "off-diagonal entries"
            )
        L = components_from_metric(M, self.n_components, check_psd=False) / scale
        self.components_ = fitted_components(L, pairs.dtype)
        return self

    def _make_positive_definite(self, S, prior_inv, loss, name):
        w = np.linalg.eigvalsh(S)
        top = max(np.abs(w).max(), np.finfo(np.float64).tiny)
        if w[0] > 1e-10 * top:
            return S
        # largest balance_param that keeps prior^-1 + balance_param * loss definite
        mu = eigh(loss, prior_inv, eigvals_only=True)[0]
        limit = -1.0 / mu if mu < 0 else np.inf
        shift = _SHIFT_FRACTION * top - w[0]
        warnings.warn(
            f"{name}: prior^-1 + balance_param * (pairs' Laplacian term) is not positive "
            f"definite (smallest eigenvalue {w[0]:.3g}), so the graphical lasso has no "
            f"solution; its spectrum was shifted by {shift:.3g}. To avoid the shift, use "
            f"balance_param < {limit:.3g} (balance_param={self.balance_param}).",
            UserWarning,
            stacklevel=user_stacklevel(),
        )
        if self.verbose:
            print(f"[{name}] spectrum shifted by {shift:.6g}")
        return S + shift * np.eye(S.shape[0])


@fill_pieces
class SDML(MahalanobisMixin, PairsClassifierMixin, _BaseSDML):
    """Sparse Distance Metric Learning (SDML) on labelled pairs.

    SDML (Qi et al.) learns a sparse Mahalanobis matrix ``M`` that stays
    close to a prior ``M0`` in LogDet divergence while shrinking similar
    pairs and stretching dissimilar ones, with an L1 penalty on the
    off-diagonal entries of ``M``:

    ``min_M  tr(M (M0^-1 + balance_param * K)) - log det M
    + sparsity_param * sum_{i != j} |M_ij|``,

    with ``K = sum_i y_i (x_i - x'_i)(x_i - x'_i)'`` over the pairs (``y_i``
    = +1 similar, -1 dissimilar). This is a graphical lasso problem, solved
    here by ADMM (:func:`graphical_lasso_admm`).

    The problem has a solution only when ``S = M0^-1 + balance_param * K`` is
    positive definite. Dissimilar pairs make ``K`` indefinite, so with many
    pairs ``S`` usually is not: SDML then shifts the spectrum of ``S`` (adds a
    multiple of the identity, so that its smallest eigenvalue becomes 0.3
    times its largest absolute one) and warns, naming the largest
    ``balance_param`` that would need no shift.

    Read more in the :ref:`User Guide <sdml>`.

    Parameters
    ----------
    balance_param : float, default=0.5
        Weight of the pairs' term ``K`` against the prior.
    sparsity_param : float, default=0.01
        Weight of the L1 penalty on the off-diagonal entries of ``M``.
    prior : {'identity', 'covariance', 'random'} or array-like of shape \
            (n_features, n_features), default='identity'
        ``M0``, strictly positive definite. 'covariance' is the inverse
        covariance of the points of the pairs, 'random' a random positive
        definite matrix (seeded by ``random_state``).
    verbose : bool, default=False
        Print the solver's progress.
    {preprocessor_pairs}
    random_state : int, RandomState instance or None, default=None
        Seeds ``prior='random'``.
    {n_components_eigen}

    Attributes
    ----------
    n_iter_ : int
        ADMM iterations run.
    {fitted_eigen_map}
    {fitted_pairs_classifier}

    See Also
    --------
    SDML_Supervised : SDML on pairs drawn from class labels.

    Notes
    -----
    Pairs whose largest magnitude lies outside [2**-100, 2**100], where
    squared distances under- or overflow, are divided by a power of two ``s``
    (exactly) before fitting: an array ``prior`` is taken in the units of the
    data (times ``s**2``) and ``components_`` is divided by ``s``. For
    ordinary data ``s`` is 1.

    References
    ----------
    .. [1] G.-J. Qi, J. Tang, Z.-J. Zha, T.-S. Chua and H.-J. Zhang, "An
       efficient sparse metric learning in high-dimensional space via
       L1-penalized log-determinant regularization", ICML 2009.

    Examples
    --------
    >>> import numpy as np
    >>> from mlearn import SDML
    >>> pairs = np.array([[[1.2, 7.5], [1.3, 1.5]],
    ...                   [[6.4, 2.6], [6.2, 9.7]],
    ...                   [[1.3, 4.5], [3.2, 4.6]],
    ...                   [[6.2, 5.5], [5.4, 5.4]]])
    >>> y = np.array([1, 1, -1, -1])
    >>> sdml = SDML(balance_param=0.2).fit(pairs, y)
    >>> sdml.predict(pairs)
    array([ 1,  1, -1, -1])
    """

    def __init__(
        self,
        balance_param=0.5,
        sparsity_param=0.01,
        prior="identity",
        verbose=False,
        preprocessor=None,
        random_state=None,
        n_components=None,
    ):
        self.balance_param = balance_param
        self.sparsity_param = sparsity_param
        self.prior = prior
        self.verbose = verbose
        self.random_state = random_state
        self.n_components = n_components
        super().__init__(preprocessor=preprocessor)


@fill_pieces
class SDML_Supervised(SupervisedMixin, MahalanobisMixin, _BaseSDML):  # type: ignore[misc]  # fit(X, y), not the pairs' fit
    """SDML on similar and dissimilar pairs drawn from class labels.

    Pairs of points of the same class are similar, pairs of points of two
    classes dissimilar; :class:`SDML` then learns the metric. The estimator is
    a transformer (``fit(X, y)``, ``transform(X)``) for pipelines.

    Read more in the :ref:`User Guide <sdml>`.

    Parameters
    ----------
    balance_param : float, default=0.5
        Weight of the pairs' term against the prior.
    sparsity_param : float, default=0.01
        Weight of the L1 penalty on the off-diagonal entries of ``M``.
    prior : {'identity', 'covariance', 'random'} or array-like of shape \
            (n_features, n_features), default='identity'
        ``M0``, strictly positive definite.
    {n_constraints_pairs}
    verbose : bool, default=False
        Print the solver's progress.
    {preprocessor_drawn_pairs}
    random_state : int, RandomState instance or None, default=None
        Seeds the drawing of pairs and ``prior='random'``.
    {n_components_eigen}
    {feature_scaling}

    Attributes
    ----------
    n_iter_ : int
        ADMM iterations run.
    {fitted_eigen_map}
    {fitted_feature_scale}
    {fitted_features}

    See Also
    --------
    SDML : the same learner on pairs.

    Examples
    --------
    >>> import warnings
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from mlearn import SDML_Supervised
    >>> X, y = load_iris(return_X_y=True)
    >>> pipe = make_pipeline(SDML_Supervised(random_state=0), KNeighborsClassifier(3))
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # the spectrum shift is reported
    ...     score = pipe.fit(X, y).score(X, y)
    >>> round(score, 2)
    0.97
    """

    _parameter_constraints = {
        **_BaseSDML._parameter_constraints,
        **SUPERVISED_PARAMETER_CONSTRAINTS,
    }

    def __init__(
        self,
        balance_param=0.5,
        sparsity_param=0.01,
        prior="identity",
        n_constraints=None,
        verbose=False,
        preprocessor=None,
        random_state=None,
        n_components=None,
        feature_scaling="range",
    ):
        self.balance_param = balance_param
        self.sparsity_param = sparsity_param
        self.prior = prior
        self.n_constraints = n_constraints
        self.verbose = verbose
        self.random_state = random_state
        self.n_components = n_components
        self.feature_scaling = feature_scaling
        super().__init__(preprocessor=preprocessor)
