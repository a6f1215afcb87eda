"""Mahalanobis Metric for Clustering (MMC), on pairs and from labels."""

import warnings
from numbers import Integral, Real

import numpy as np
from threadpoolctl import threadpool_limits

from .._docstrings import fill_doc
from .._sklearn_compat import Interval, StrOptions
from ..base import BaseMetricLearner, MahalanobisMixin, PairsClassifierMixin
from ..linalg import components_from_metric, initialize_metric, project_psd
from ._doc_pieces import fill_pieces
from ._dtypes import fitted_components
from ._supervised import (
    SUPERVISED_PARAMETER_CONSTRAINTS,
    PairsFitMixin,
    SupervisedMixin,
    scaled_pairs,
)
from .itml import rescale_given_metric
from .lfda import RANK_TOL

__all__ = ["MMC", "MMC_Supervised"]


def _log_sum_distances(A, D):
    """``log(sum_D d_A)``, Xing et al.'s dissimilarity term (-inf when all d_A are 0)."""
    sq = np.einsum("ij,ij->i", D @ A, D)
    total = np.sqrt(np.maximum(sq, 0.0)).sum()
    return float(np.log(total)) if total > 0 else -np.inf


def _log_sum_distances_grad(A, D):
    """Gradient of :func:`_log_sum_distances` with respect to ``A``.

    A pair at zero distance (``A`` singular along it) would weigh infinitely:
    the distances are floored at 1e-6 times their mean, a floor relative to
    the data, so that the direction does not depend on their scale.
    """
    sq = np.einsum("ij,ij->i", D @ A, D)
    dist = np.sqrt(np.maximum(sq, 0.0))
    mean = dist.mean()
    floor = 1e-6 * mean if mean > 0 else 1.0
    grad = (D.T * (0.5 / (dist + floor))) @ D
    return grad / (dist.sum() + floor)


def _orthogonal_direction(grad, other):
    """Unit-norm component of ``grad`` orthogonal to ``other`` (Frobenius)."""
    other = other / np.linalg.norm(other)
    direction = grad - np.vdot(grad, other) * other
    norm = np.linalg.norm(direction)
    if not norm > 1e-12 * np.linalg.norm(grad):
        # grad is parallel to other (e.g. one feature): no ascent direction is left
        return np.zeros_like(grad)
    return direction / norm


def _project_c1_c2(A, W, t, eps, max_proj):
    """Nearest point of ``{X PSD, <W, X> <= t}`` to ``A``, to a relative ``eps`` on ``t``.

    The projection is ``X(mu) = project_psd(A - mu W)`` for the multiplier
    ``mu >= 0`` at which ``<W, X(mu)> = t`` (or ``mu = 0`` when
    ``project_psd(A)`` is already feasible); ``<W, X(mu)>`` decreases with
    ``mu`` (``W`` is PSD), so ``mu`` is found by bisection. Each trial is one
    PSD projection; at most ``max_proj`` of them.

    Returns
    -------
    X : ndarray
    n_proj : int
        Number of PSD projections made.
    satisfied : bool
        Whether ``<W, X> <= (1 + eps) t`` was reached.
    """

    def excess(mu):
        X = project_psd(A - mu * W)
        return X, (np.vdot(W, X) - t) / t

    X, e = excess(0.0)
    n_proj = 1
    if e < eps:
        return X, n_proj, True
    lo, hi = 0.0, np.vdot(W, A) / np.vdot(W, W)  # mu that meets <W, A - mu W> = 0
    while n_proj < max_proj:
        X_hi, e_hi = excess(hi)
        n_proj += 1
        if e_hi < eps:
            break
        lo, hi = hi, 2 * hi
    else:
        return X, n_proj, False
    if e_hi >= 0:
        return X_hi, n_proj, True
    X_best = X_hi
    while n_proj < max_proj and hi - lo > 1e-15 * hi:
        mid = (lo + hi) / 2
        X_mid, e_mid = excess(mid)
        n_proj += 1
        if 0 <= e_mid < eps:
            return X_mid, n_proj, True
        if e_mid >= eps:
            lo = mid
        else:
            hi, X_best = mid, X_mid
    return X_best, n_proj, True


def _diagonal_objective(w, s, Q, c, value_only=False):
    """Value, gradient and Hessian of MMC's objective at a diagonal metric ``w``.

    ``f(w) = s.w - c log(sum_D sqrt(q_D.w))`` with ``s`` the similar pairs'
    summed squared differences and ``q_D`` a dissimilar pair's squared
    differences.
    """
    dist = np.sqrt(np.maximum(Q @ w, 0.0))
    total = dist.sum()
    value = float(s @ w) - c * np.log(total) if total > 0 else np.inf
    if value_only:
        return value
    if not total > 0:
        return value, None, None
    safe = np.maximum(dist, 1e-12 * max(dist.max(), 1e-300))
    first = Q.T @ (0.5 / safe)  # d total / dw
    second = -(Q.T * (0.25 / safe**3)) @ Q  # d² total / dw²
    grad = s - c * first / total
    hess = -c * (second / total - np.outer(first, first) / total**2)
    return value, grad, hess


def _best_multiple(w, s, c):
    """The multiple ``k w`` that minimises the diagonal objective along ``w``.

    ``f(k w) = k s.w - (c / 2) log k - c log(sum_D sqrt(q_D.w))``, least at
    ``k = c / (2 s.w)``. The objective's two terms scale differently, so a
    Newton step from a badly scaled point zeroes most weights at once; keeping
    every iterate at its best scale avoids that.
    """
    sw = float(s @ w)
    return w * (c / (2 * sw)) if sw > 0 else w


#: The fitted attribute both forms of MMC record.
_OBJECTIVE_HISTORY_DOC = """
objective_history_ : list of float
    With ``diagonal=False``, ``log`` of the sum of the dissimilar pairs'
    distances (which MMC maximises) under the starting metric and under
    the last accepted metric after each iteration; with
    ``diagonal=True``, the diagonal objective (minimised) at the start
    and after each iteration."""


class _BaseMMC(PairsFitMixin, BaseMetricLearner):
    """Parameters and solvers shared by :class:`MMC` and :class:`MMC_Supervised`."""

    _parameter_constraints = {
        **BaseMetricLearner._parameter_constraints,
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "max_proj": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "init": [
            StrOptions({"identity", "covariance", "random", "pca", "lda", "auto"}),
            "array-like",
        ],
        "diagonal": ["boolean"],
        "diagonal_c": [Interval(Real, 0, None, closed="neither")],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
    }

    _deprecated_aliases = {"convergence_threshold": "tol"}

    def _fit_pairs(self, pairs, y, random_state, labelled=None, given_scale=1.0):
        """Run MMC on validated pairs (n_pairs, 2, n_features) with labels +1/-1.

        ``labelled``, the points and classes a ``_Supervised`` form drew the
        pairs from, serves init 'pca', 'lda' and 'auto'.
        """
        name = type(self).__name__
        diffs, y, points, scale = scaled_pairs(pairs, y)
        X, classes = (None, None) if labelled is None else labelled
        if X is not None and scale != 1.0:
            X = X / scale
        if not np.any(y == 1) or not np.any(y == -1):
            raise ValueError(
                f"{name} needs both similar (+1) and dissimilar (-1) pairs: it shrinks "
                "the first while keeping the second apart; y holds only "
                f"{'+1' if np.all(y == 1) else '-1'}"
            )
        D = diffs[y == -1]
        if not np.any(D):
            raise ValueError(
                f"{name} needs a dissimilar pair of two distinct points; every "
                "dissimilar pair joins a point to itself"
            )
        S = diffs[y == 1]
        pair_points = points
        labels = None
        if X is not None and isinstance(self.init, str) and self.init in ("pca", "lda", "auto"):
            # the _Supervised form computes these from its labelled points
            points, labels = X, classes
        M0 = initialize_metric(
            self.init,
            points,
            labels,
            n_components=self.n_components,
            random_state=random_state,
            name="init",
        )
        M0 = rescale_given_metric(M0, self.init, scale, "init", name, given_scale)
        if self.diagonal:
            M = self._fit_diagonal(np.diag(M0).copy(), S, D, name)
        else:
            M = self._fit_full(M0, S, D, pair_points, name)
        L = components_from_metric(M, self.n_components, check_psd=False) / scale
        self.components_ = fitted_components(L, pairs.dtype)
        return self

    def _fit_full(self, M0, S, D, points, name):
        """Solve in the span of the similar pairs' differences; 0 elsewhere.

        Along a direction no similar pair spans, ``M`` is free: where no pair
        differs either (constant or collinear features) the objective ignores
        it, and where dissimilar pairs do, ``M`` could grow without limit and
        the problem has no solution. Either way such directions get zero
        weight, with a warning; with fewer similar pairs than dimensions in
        which the points vary, the second case is an error instead.
        """
        scatter = S.T @ S
        n_features = scatter.shape[0]
        w, V = np.linalg.eigh(scatter)
        spanned = w > 1e-10 * max(w[-1], np.finfo(np.float64).tiny)
        rank = int(spanned.sum())
        if rank == n_features:
            return self._solve_full(M0, scatter, D, name)
        if rank == 0:
            raise ValueError(
                f"{name} needs a similar pair of two distinct points; every similar "
                "pair joins a point to itself"
            )
        unbounded = np.linalg.norm(D @ V[:, ~spanned]) > 1e-8 * np.linalg.norm(D)
        if unbounded:
            self._check_enough_similar_pairs(S, points, rank, name)
        reason = (
            "and dissimilar pairs extend beyond them, where MMC's objective is unbounded"
            if unbounded
            else "as no pair differs in the others (constant or collinear features)"
        )
        warnings.warn(
            f"{name}: the similar pairs' differences span only {rank} of the "
            f"{n_features} feature dimensions, {reason}; {name} is solved in that "
            f"{rank}-dimensional subspace and the other directions get zero weight",
            UserWarning,
            stacklevel=5,
        )
        U = V[:, spanned]
        A = self._solve_full(U.T @ M0 @ U, U.T @ scatter @ U, D @ U, name)
        M = U @ A @ U.T
        return (M + M.T) / 2

    def _solve_full(self, A, scatter, D, name):
        # a loop of (n_features, n_features) eigen-decompositions: extra BLAS
        # threads only add contention
        with threadpool_limits(limits=1, user_api="blas"):
            return self._iterative_projections(A, scatter, D, name)

    @staticmethod
    def _check_enough_similar_pairs(S, points, rank, name):
        """Refuse an unbounded problem that too few similar pairs cause."""
        centred = points - points.mean(axis=0)
        w = np.linalg.eigvalsh(centred.T @ centred)
        data_rank = int(np.sum(w > RANK_TOL * max(w[-1], 0.0)))
        n_similar = len(np.unique(S[np.any(S != 0, axis=1)], axis=0))
        if n_similar < data_rank:
            raise ValueError(
                f"{name}: the similar pairs' differences span only {rank} of the "
                f"{S.shape[1]} feature dimensions, and dissimilar pairs extend beyond "
                f"them, so MMC's objective is unbounded: {n_similar} similar pairs of "
                f"distinct points cannot span the {data_rank} dimensions in which the "
                "points vary. Add similar pairs, reduce the features (e.g. PCA), or "
                "use diagonal=True."
            )

    def _iterative_projections(self, A, scatter, D, name):
        """Xing et al.'s algorithm for the full metric.

        Gradient ascent on ``g(A) = log sum_D d_A`` along its component
        orthogonal to the similarity constraint, each step followed by
        alternating projections onto ``C1 = {sum_S d_A^2 <= t}`` (a half-space
        in the entries of ``A``) and ``C2 = {A PSD}``; the step grows by 5%
        after an improving step and is halved otherwise. ``t`` is a hundredth
        of ``sum_S d^2`` under the starting metric (the scale is arbitrary).
        """
        A = np.array(A, dtype=np.float64)
        w = scatter.ravel()
        t = float(w @ A.ravel()) / 100.0
        w_norm = np.linalg.norm(w)
        if not w_norm > 0 or not t > 0:
            raise ValueError(
                f"{name}: every similar pair has zero distance under init, so the "
                "similarity constraint is degenerate; use init='identity'"
            )
        eps = 0.01  # relative tolerance of the projections onto C1 and C2
        # the first step is a tenth of the starting metric's size (0.1 from the
        # identity), so that the iterates scale with the data and the init
        alpha = 0.1 * (np.linalg.norm(A) / np.sqrt(A.shape[0]))
        direction = _orthogonal_direction(scatter, _log_sum_distances_grad(A, D))
        A_old = A.copy()
        value_old = _log_sum_distances(A_old, D)
        history = [value_old]
        delta = np.inf
        cycle = 0
        n_proj = 0
        for cycle in range(self.max_iter):
            A, n_proj, satisfied = _project_c1_c2(A, scatter, t, eps, self.max_proj)
            value = _log_sum_distances(A, D)
            if satisfied and (value > value_old or cycle == 0):
                alpha *= 1.05
                A_old, value_old = A.copy(), value
                direction = _orthogonal_direction(_log_sum_distances_grad(A, D), scatter)
                A = A + alpha * direction
            else:
                alpha /= 2
                A = A_old + alpha * direction
            delta = np.linalg.norm(alpha * direction) / max(np.linalg.norm(A_old), 1e-300)
            history.append(value_old)
            if self.verbose:
                print(f"[{name}] iter {cycle + 1:4d}  conv {delta:.6g}  projections {n_proj}")
            if delta < self.tol:
                break
        self._record_solve(
            cycle + 1,
            history,
            delta < self.tol,
            detail=f"relative step {delta:.3g} > tol={self.tol}",
        )
        return A_old

    def _fit_diagonal(self, w, S, D, name):
        s = np.einsum("ij,ij->j", S, S)
        Q = D * D
        c = float(self.diagonal_c)
        free_growth = (s == 0) & (Q.sum(axis=0) > 0)
        if free_growth.any():
            raise ValueError(
                f"{name}: no similar pair differs in feature(s) "
                f"{np.flatnonzero(free_growth).tolist()}, in which dissimilar pairs do, "
                "so the diagonal objective is unbounded (that weight can grow for free). "
                "Add similar pairs or drop those features."
            )
        w = _best_multiple(np.maximum(w, 0.0), s, c)
        value, grad, hess = _diagonal_objective(w, s, Q, c)
        if not np.isfinite(value):
            raise ValueError(
                f"{name}: the dissimilar pairs all have zero distance under the diagonal "
                "of init; use init='identity'"
            )
        history = [value]
        converged = False
        it = 0
        for it in range(1, self.max_iter + 1):
            # projected Newton (Bertsekas, 1982): features held at zero by the bound
            # (w_j = 0 with a positive gradient) stay there; the others take a
            # Newton step, halved until it decreases the objective sufficiently
            # (Armijo); the new point is then rescaled to its best multiple
            free = (w > 0) | (grad < 0)
            step = np.zeros_like(w)
            if free.any():
                H = hess[np.ix_(free, free)]
                ridge = 1e-10 * max(np.abs(np.diag(H)).max(), 1e-300)
                step[free] = np.linalg.solve(H + ridge * np.eye(H.shape[0]), grad[free])
            if not np.vdot(step, grad) > 0:  # not a descent direction: use the gradient
                step = grad
            found = False
            for direction in (step, grad):
                t = 1.0
                for _ in range(self.max_proj):
                    w_new = np.maximum(w - t * direction, 0.0)
                    value_new = _diagonal_objective(w_new, s, Q, c, value_only=True)
                    # Armijo; a projected step can have grad.(w - w_new) <= 0, so a
                    # decrease is also required outright
                    if value_new <= value - 1e-4 * np.vdot(grad, w - w_new) and value_new < value:
                        found = True
                        break
                    t /= 2
                    if t < 1e-20:
                        break
                if found:
                    break
            if not found:
                converged = True  # no decrease left at machine precision
                history.append(value)
                break
            w_new = _best_multiple(w_new, s, c)
            value_new, grad, hess = _diagonal_objective(w_new, s, Q, c)
            decrease = value - value_new
            w, value = w_new, value_new
            history.append(value)
            if self.verbose:
                print(f"[{name}] iter {it:4d}  objective {value:.8g}  step {t:.3g}")
            if decrease <= self.tol * max(abs(value), 1e-12):
                converged = True
                break
        self._record_solve(it, history, converged)
        return np.diag(w)


@fill_doc(objective_history=_OBJECTIVE_HISTORY_DOC)
@fill_pieces
class MMC(MahalanobisMixin, PairsClassifierMixin, _BaseMMC):
    """Mahalanobis Metric for Clustering (MMC) on labelled pairs.

    MMC (Xing et al.) makes dissimilar pairs far apart while keeping similar
    pairs close: it maximises the sum of distances of the dissimilar pairs
    subject to the sum of squared distances of the similar pairs being at most
    one (a convex problem). The full version follows Xing et al.'s algorithm:
    gradient ascent on ``log(sum_D d_M)``, each step followed by the
    projection onto the feasible set ``{M PSD, sum_S d_M^2 <= t}``, computed
    exactly as ``project_psd(M - mu W)`` with the multiplier ``mu`` found by
    bisection (``W`` is the similar pairs' scatter matrix). The step grows
    after an improving step and is halved otherwise; ``tol`` bounds the
    relative size of the last step.

    The full version is stopped by ``tol`` / ``max_iter`` well before the
    exact optimum, which is usually of very low rank (rank one for two
    classes) and makes a poor metric for nearest neighbours; the iterate it
    returns keeps more directions.

    Directions in which no similar pair differs leave the full metric
    undetermined (constant or collinear features), or unbounded where
    dissimilar pairs differ along them. The full version is solved in the
    span of the similar pairs' differences and gives the other directions
    zero weight, with a warning; it raises ``ValueError`` only when the
    problem is unbounded because there are fewer distinct similar pairs than
    dimensions in which the points vary.

    The neighbourhoods learned do not depend on the scale of the data (the
    bound and the step sizes are relative to the starting metric); data whose
    largest magnitude lies outside [2**-100, 2**100] are divided by a power of
    two (exactly) before fitting, an ``init`` array being taken in the units
    of the data, and ``components_`` is scaled back.

    With ``diagonal=True`` it learns a diagonal ``M`` (a weight per feature)
    by projected Newton steps on ``sum_S d_M^2 - diagonal_c * log(sum_D d_M)``
    over non-negative weights, each iterate moved to its best scale (known in
    closed form). Its minimiser usually keeps only a few features (a feature
    selection rather than a reweighting).

    Read more in the :ref:`User Guide <mmc>`.

    Parameters
    ----------
    max_iter : int, default=100
        Maximum number of iterations.
    max_proj : int, default=10000
        Maximum number of PSD projections per iteration of the full version
        (trial steps per iteration of the diagonal one).
    tol : float, default=1e-3
        Full version: stop when the step is smaller than ``tol`` times the
        norm of ``M``. Diagonal version: stop when an iteration lowers the
        objective by less than ``tol`` times its magnitude.
        ``convergence_threshold``, its old name, is accepted with a
        ``FutureWarning``.
    init : {'identity', 'covariance', 'random', 'pca', 'lda', 'auto'} or \
            array-like of shape (n_features, n_features), default='identity'
        Starting metric. 'covariance' is the inverse covariance of the points
        of the pairs, 'random' a random PSD matrix (seeded by
        ``random_state``). 'pca' is ``L.T @ L`` for the ``n_components``
        leading principal axes of the points (all axes, hence the identity,
        when n_components is None); 'lda' needs class labels, so only
        :class:`MMC_Supervised` takes it. 'auto' picks 'lda', 'pca' or
        'identity' by :func:`mlearn.linalg.auto_init`. An array is a symmetric
        PSD matrix. The diagonal version starts from its diagonal.
    diagonal : bool, default=False
        Learn a diagonal metric (a scaling of the features).
    diagonal_c : float, default=1.0
        Weight of the dissimilarity term in the diagonal version; ignored when
        ``diagonal=False``.
    verbose : bool, default=False
        Print the objective after each iteration.
    {preprocessor_pairs}
    random_state : int, RandomState instance or None, default=None
        Seeds ``init='random'``.
    {n_components_eigen}

    Attributes
    ----------
    n_iter_ : int
        Number of iterations run.
    {objective_history}
    {fitted_eigen_map}
    {fitted_pairs_classifier}

    See Also
    --------
    MMC_Supervised : MMC on pairs drawn from class labels.

    References
    ----------
    .. [1] E. P. Xing, A. Y. Ng, M. I. Jordan and S. Russell, "Distance metric
       learning, with application to clustering with side-information",
       NIPS 2002.

    Examples
    --------
    >>> import numpy as np
    >>> from mlearn import MMC
    >>> pairs = np.array([[[1.2, 7.5], [1.3, 1.5]],
    ...                   [[6.4, 2.6], [6.2, 9.7]],
    ...                   [[1.3, 4.5], [3.2, 4.6]],
    ...                   [[6.2, 5.5], [5.4, 5.4]]])
    >>> y = np.array([1, 1, -1, -1])
    >>> mmc = MMC().fit(pairs, y)
    >>> mmc.predict(pairs)
    array([ 1,  1, -1, -1])
    """

    def __init__(
        self,
        max_iter=100,
        max_proj=10000,
        tol=1e-3,
        init="identity",
        diagonal=False,
        diagonal_c=1.0,
        verbose=False,
        preprocessor=None,
        random_state=None,
        n_components=None,
    ):
        self.max_iter = max_iter
        self.max_proj = max_proj
        self.tol = tol
        self.init = init
        self.diagonal = diagonal
        self.diagonal_c = diagonal_c
        self.verbose = verbose
        self.random_state = random_state
        self.n_components = n_components
        super().__init__(preprocessor=preprocessor)


@fill_doc(objective_history=_OBJECTIVE_HISTORY_DOC)
@fill_pieces
class MMC_Supervised(SupervisedMixin, MahalanobisMixin, _BaseMMC):  # type: ignore[misc]  # fit(X, y), not the pairs' fit
    """MMC on similar and dissimilar pairs drawn from class labels.

    Pairs of points of the same class are similar, pairs of points of two
    classes dissimilar; :class:`MMC` then learns the metric. The estimator is
    a transformer (``fit(X, y)``, ``transform(X)``) for pipelines. Directions
    in which no drawn similar pair differs (a constant feature, say) get zero
    weight, with a warning, as in :class:`MMC`.

    Read more in the :ref:`User Guide <mmc>`.

    Parameters
    ----------
    max_iter : int, default=100
        Maximum number of iterations.
    max_proj : int, default=10000
        Maximum number of PSD projections (trial steps, diagonal version) per
        iteration.
    tol : float, default=1e-6
        Relative step size (full version) or relative decrease of the
        objective (diagonal version) under which the solver stops.
        ``convergence_threshold``, its old name, is accepted with a
        ``FutureWarning``.
    {n_constraints_pairs}
    init : {'identity', 'covariance', 'random', 'pca', 'lda', 'auto'} or \
            array-like of shape (n_features, n_features), default='identity'
        Starting metric, as for :class:`MMC`; 'pca', 'lda' and 'auto' are
        computed from ``X`` and its labels (``n_components`` leading
        directions; 'auto' picks by :func:`mlearn.linalg.auto_init`).
    diagonal : bool, default=False
        Learn a diagonal metric.
    diagonal_c : float, default=1.0
        Weight of the dissimilarity term in the diagonal version.
    verbose : bool, default=False
        Print the objective after each iteration.
    {preprocessor_drawn_pairs}
    random_state : int, RandomState instance or None, default=None
        Seeds the drawing of pairs and ``init='random'``.
    {n_components_eigen}
    {feature_scaling}

    Attributes
    ----------
    n_iter_ : int
        Number of iterations run.
    {objective_history}
    {fitted_eigen_map}
    {fitted_feature_scale}
    {fitted_features}

    See Also
    --------
    MMC : the same learner on pairs.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from mlearn import MMC_Supervised
    >>> X, y = load_iris(return_X_y=True)
    >>> pipe = make_pipeline(MMC_Supervised(random_state=0), KNeighborsClassifier(3))
    >>> round(pipe.fit(X, y).score(X, y), 2)
    0.99

    A constant feature gets zero weight:

    >>> import warnings
    >>> import numpy as np
    >>> X5 = np.column_stack([X, np.full(len(X), 2.0)])
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # "... span only 4 of the 5 ..."
    ...     mmc = MMC_Supervised(random_state=0).fit(X5, y)
    >>> float(np.abs(mmc.get_mahalanobis_matrix()[4]).max())
    0.0
    """

    _parameter_constraints = {
        **_BaseMMC._parameter_constraints,
        **SUPERVISED_PARAMETER_CONSTRAINTS,
    }

    def __init__(
        self,
        max_iter=100,
        max_proj=10000,
        tol=1e-6,
        n_constraints=None,
        init="identity",
        diagonal=False,
        diagonal_c=1.0,
        verbose=False,
        preprocessor=None,
        random_state=None,
        n_components=None,
        feature_scaling="range",
    ):
        self.max_iter = max_iter
        self.max_proj = max_proj
        self.tol = tol
        self.n_constraints = n_constraints
        self.init = init
        self.diagonal = diagonal
        self.diagonal_c = diagonal_c
        self.verbose = verbose
        self.random_state = random_state
        self.n_components = n_components
        self.feature_scaling = feature_scaling
        super().__init__(preprocessor=preprocessor)
