"""Large Margin Nearest Neighbor (LMNN) metric learning."""

import numbers
import warnings
from collections import deque
from typing import cast

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import TransformerMixin
from sklearn.utils import check_random_state

from .._lazy import lazy_module
from .._sklearn_compat import Interval, StrOptions, _fit_context
from .._validation import check_n_components
from ..base import BaseMetricLearner, MahalanobisMixin
from ..linalg import initialize_components

# the unvalidated entry: the learner has checked its arguments
from ..pairwise._api import _kneighbors as kneighbors
from ._doc_pieces import fill_pieces
from ._dtypes import fitted_components
from ._scaling import FEATURE_SCALING_CONSTRAINT, FeatureScalingMixin, map_to_fitted_units
from ._tags import TargetRequiredMixin

kernels = lazy_module("mlearn.learners._lmnn_kernels")

__all__ = ["LMNN"]

#: Impostor candidates are kept up to PAD times the margin radius (squared
#: distances), so the candidate set stays a superset of the active impostors
#: while the metric moves, and is searched again only when it may not be.
PAD = 1.2
#: Iterations between two impostor searches when the candidate set is a
#: random subsample (more candidates than ``max_impostors``).
REFRESH_EVERY = 10
#: Memory (MiB) for one block of squared distances in the impostor search.
SEARCH_BLOCK_MIB = 64.0
LBFGS_MEMORY = 10
#: A map under which every squared distance between the points is below
#: float64's epsilon, both in margin units and relative to the starting map,
#: cannot be told from the zero map: the points have collapsed onto one.
COLLAPSE_SQDIST = float(np.finfo(np.float64).eps)


@fill_pieces
class LMNN(
    TargetRequiredMixin, FeatureScalingMixin, MahalanobisMixin, TransformerMixin, BaseMetricLearner
):
    """Large Margin Nearest Neighbor (Weinberger & Saul).

    LMNN learns a linear map ``L`` under which every point's ``n_neighbors``
    nearest same-class points (its *target neighbours*, chosen once in the
    input space) come close, while points of other classes (*impostors*) are
    pushed out of a unit margin. It minimises, over ``L``,

    .. math::

        \\varepsilon(L) = \\mu \\sum_{i, j \\rightsquigarrow i} \\|L(x_i - x_j)\\|^2
        + (1 - \\mu) \\sum_{i, j \\rightsquigarrow i} \\sum_{l: y_l \\neq y_i}
        \\left[1 + \\|L(x_i - x_j)\\|^2 - \\|L(x_i - x_l)\\|^2\\right]_+

    where ``j ⇝ i`` runs over the target neighbours of ``i`` and
    ``μ = regularization`` (the weight of the pull term, as in metric-learn).

    The optimisation follows the authors' fast implementation: impostors are
    searched only inside each point's (padded) margin radius and kept as an
    active set; the objective and its gradient over that set are computed by
    compiled kernels as a sparse weighted sum of outer products; L-BFGS works
    on ``L``. The set is searched again only when a bound on how far the
    points have moved since the last search no longer guarantees that it holds
    every impostor that can be active, so every objective value the solver
    sees is exact (unless ``max_impostors`` forces a subsample).

    Parameters
    ----------
    {init_class_labels}
    n_neighbors : int, default=3
        Number of target neighbours of each point (itself excluded). A class
        with ``m <= n_neighbors`` points gives its points ``m - 1`` target
        neighbours (with a warning); points alone in their class have none
        but still act as impostors. ``k``, its old name, is accepted with a
        ``FutureWarning``.
    min_iter : int, default=50
        Minimum number of iterations before the tolerance may stop the
        optimisation (it still stops earlier when no step decreases the
        objective, or when the points have collapsed onto one; see Notes).
    max_iter : int, default=1000
        Maximum number of iterations.
    learn_rate : float, default=1e-7
        Initial step size of ``solver='gd'``; not used by L-BFGS. It applies
        to the data as fitted, that is after the rescaling described in
        Notes when the data lie outside ``2**±100``.
    regularization : float, default=0.5
        Weight ``μ`` of the pull term; the push (hinge) term has weight
        ``1 - μ``.
    convergence_tol : float, default=0.001
        Stop when one iteration decreases the objective by less than
        ``convergence_tol`` times its value (after ``min_iter``
        iterations). metric-learn compares the absolute change instead.
    verbose : bool or int, default=False
        Print the objective, the number of active triplets and the number of
        impostor candidates at every iteration.
    {preprocessor_points}
    {n_components_space}
    random_state : int, RandomState instance or None, default=None
        Seeds ``init='random'``, the PCA of ``init='pca'`` and the subsampling
        of impostors beyond ``max_impostors``.
    solver : {'lbfgs', 'gd'}, default='lbfgs'
        'lbfgs': limited-memory BFGS on ``L`` with a backtracking line search.
        'gd': metric-learn's gradient descent, whose step starts at
        ``learn_rate``, is halved when the objective would increase and grows
        by 1 % after each accepted step.
    max_impostors : int, default=500_000
        Most impostor candidates (pairs of points of different classes inside
        a margin) kept between two searches; beyond it a uniform random subset
        is kept, which bounds memory on large data sets.
    {feature_scaling}

    Attributes
    ----------
    {fitted_linear_map}
    n_iter_ : int
        Number of iterations run.
    objective_ : float
        Final value of the objective.
    objective_history_ : list of float
        The objective at the start and after each iteration.
    {fitted_feature_scale}
    {fitted_features}

    See Also
    --------
    mlearn.NCA : a smooth, stochastic neighbour objective.

    Notes
    -----
    The margin is one unit of squared distance and the target neighbours
    are Euclidean ones, so the objective is not invariant to the scale of
    ``X``. With ``feature_scaling`` set (the default, 'range') the fit runs
    on rescaled features, so ``fit(X @ D)`` for a positive diagonal ``D``
    learns the same neighbourhoods as ``fit(X)``. With
    ``feature_scaling=None``, data whose largest magnitude lies outside
    ``[2**-100, 2**100]`` are fitted divided by a power of two ``s`` that
    brings it into ``[0.5, 1)`` (exactly, with an ``init`` array multiplied
    by ``s``), and ``components_`` is divided by ``s``: the squared
    distances then stay finite.

    On some data no linear map keeps the target neighbours closer than the
    impostors by the margin, and the objective is smallest when every point
    is mapped to the same one (``L = 0``): for instance two classes that
    interleave along a single feature. The fit then stops as soon as every
    squared distance under ``L`` is below float64's epsilon (both in margin
    units and as a fraction of its value under ``init``), warns, and sets
    ``components_`` to zero. A smaller ``regularization`` (more weight
    on the impostors' push) can keep the map from collapsing.

    References
    ----------
    .. [1] K. Q. Weinberger and L. K. Saul, "Distance Metric Learning for
       Large Margin Nearest Neighbor Classification", Journal of Machine
       Learning Research 10, 2009.
    .. [2] K. Q. Weinberger and L. K. Saul, "Fast Solvers and Efficient
       Implementations for Distance Metric Learning", ICML 2008.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from mlearn import LMNN
    >>> X, y = load_iris(return_X_y=True)
    >>> lmnn = LMNN(n_neighbors=3).fit(X, y)
    >>> lmnn.components_.shape
    (4, 4)
    >>> pipe = make_pipeline(LMNN(), KNeighborsClassifier(3))
    >>> pipe.fit(X, y).score(X, y) > 0.95
    True
    """

    _deprecated_aliases = {"k": "n_neighbors"}

    _parameter_constraints: dict = {
        **BaseMetricLearner._parameter_constraints,
        "init": [StrOptions({"auto", "pca", "lda", "identity", "random"}), "array-like"],
        "n_neighbors": [Interval(numbers.Integral, 1, None, closed="left")],
        "min_iter": [Interval(numbers.Integral, 0, None, closed="left")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "learn_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "regularization": [Interval(numbers.Real, 0, 1, closed="both")],
        "convergence_tol": [Interval(numbers.Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "n_components": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
        "solver": [StrOptions({"lbfgs", "gd"})],
        "max_impostors": [Interval(numbers.Integral, 1, None, closed="left")],
        "feature_scaling": FEATURE_SCALING_CONSTRAINT,
    }

    def __init__(
        self,
        init="auto",
        n_neighbors=3,
        min_iter=50,
        max_iter=1000,
        learn_rate=1e-7,
        regularization=0.5,
        convergence_tol=0.001,
        verbose=False,
        preprocessor=None,
        n_components=None,
        random_state=None,
        solver="lbfgs",
        max_impostors=500_000,
        feature_scaling="range",
    ):
        self.init = init
        self.n_neighbors = n_neighbors
        self.min_iter = min_iter
        self.max_iter = max_iter
        self.learn_rate = learn_rate
        self.regularization = regularization
        self.convergence_tol = convergence_tol
        self.verbose = verbose
        self.n_components = n_components
        self.random_state = random_state
        self.solver = solver
        self.max_impostors = max_impostors
        self.feature_scaling = feature_scaling
        super().__init__(preprocessor=preprocessor)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: ArrayLike, y: ArrayLike) -> "LMNN":
        """Learn the linear map from labelled points.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training points, or a 1-D array of indices when a preprocessor is
            set.
        y : array-like of shape (n_samples,)
            Class labels; at least two classes.

        Returns
        -------
        self : LMNN
        """
        X, y = cast(
            "tuple[np.ndarray, np.ndarray]",
            self._prepare_points(X, y, reset=True, ensure_min_samples=2),
        )
        dtype = X.dtype
        X = np.asarray(X, dtype=np.float64)
        X, scale = self._fitting_points(X)
        classes, y_codes = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(
                f"LMNN needs labels of at least two classes in y, got {len(classes)} class"
            )
        n_features = X.shape[1]
        check_n_components(self.n_components, n_features)
        random_state = check_random_state(self.random_state)
        L0 = initialize_components(
            map_to_fitted_units(self.init, scale),
            X,
            y_codes,
            n_components=self.n_components,
            random_state=random_state,
        )
        problem = _LMNNProblem(
            X,
            y_codes,
            classes,
            self.n_neighbors,
            self.regularization,
            self.max_impostors,
            random_state,
        )
        if problem.n_targets == 0:
            warnings.warn(
                "no class has two samples, so no point has a target neighbour: "
                "LMNN has nothing to learn and components_ is the initialisation",
                UserWarning,
            )
            self.components_ = fitted_components(L0 / scale, dtype)
            self.objective_ = 0.0
            self._record_solve(0, [0.0], True)
            return self

        log = self._log if self.verbose else None
        problem.start_spread = problem.spread(L0)
        history: list[float] = []
        L, f, n_iter, converged = _SOLVERS[self.solver](
            problem,
            L0,
            max_iter=self.max_iter,
            min_iter=self.min_iter,
            tol=self.convergence_tol,
            learn_rate=self.learn_rate,
            log=log,
            history=history,
        )
        if problem.collapsed(L):
            warnings.warn(
                "LMNN's objective is smallest with every point mapped onto the same "
                "one: no linear map keeps the target neighbours closer than the "
                f"impostors by the margin (objective {f:.6g}), so components_ is "
                "zero. A smaller regularization weighs the impostors' push more.",
                UserWarning,
            )
            L = np.zeros_like(L)
            converged = True
        if self.verbose:
            self._log(
                f"{'converged' if converged else 'stopped'} after {n_iter} "
                f"iterations, objective {f:.6e}"
            )
        # the objective depends on L only through L X, which the scaling
        # leaves unchanged
        self.components_ = fitted_components(L / scale, dtype)
        self.objective_ = float(f)
        self._record_solve(
            n_iter, history, converged, detail=f"objective {f:.6g}", tol_name="convergence_tol"
        )
        return self

    def _log(self, message):
        print(f"[{type(self).__name__}] {message}")


class _LMNNProblem:
    """LMNN's objective and gradient as a function of ``L``, with its active set.

    Points are reordered by class internally (classes become contiguous
    blocks, which the impostor search exploits); ``L`` is unaffected.
    """

    def __init__(
        self, X, y_codes, classes, n_neighbors, regularization, max_impostors, random_state
    ):
        order = np.argsort(y_codes, kind="stable")
        self.X = np.ascontiguousarray(X[order])
        self.y = y_codes[order]
        self.n_samples, self.n_features = self.X.shape
        counts = np.bincount(self.y, minlength=len(classes))
        self.starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.reg = float(regularization)
        self.max_impostors = int(max_impostors)
        self.random_state = random_state
        self._select_targets(classes, counts, n_neighbors)
        self.n_targets = len(self.target)
        self.iterations_since_search = 0
        self.n_searches = 0
        self.start_spread = np.inf
        self._Z = self._CZ = self._Z_of = None

    # -- target neighbours -------------------------------------------------------

    def _select_targets(self, classes, counts, n_neighbors):
        small = [(c, m) for c, m in zip(classes, counts) if m <= n_neighbors]
        if small:
            listed = ", ".join(f"{c} ({m} sample{'s' if m > 1 else ''})" for c, m in small[:5])
            warnings.warn(
                f"n_neighbors={n_neighbors} needs at least {n_neighbors + 1} samples "
                f"per class; the points of a class with m samples get m - 1 target "
                f"neighbours: class {listed}" + (" ..." if len(small) > 5 else ""),
                UserWarning,
            )
        anchors, targets = [], []
        for c in range(len(classes)):
            lo, hi = self.starts[c], self.starts[c + 1]
            k = min(n_neighbors, hi - lo - 1)
            if k < 1:
                continue
            _, ind = kneighbors(self.X[lo:hi], n_neighbors=k)
            anchors.append(np.repeat(np.arange(lo, hi), k))
            targets.append(ind.ravel() + lo)
        if anchors:
            self.anchor = np.concatenate(anchors).astype(np.int64)
            self.target = np.concatenate(targets).astype(np.int64)
        else:
            self.anchor = np.empty(0, dtype=np.int64)
            self.target = np.empty(0, dtype=np.int64)
        per_anchor = np.bincount(self.anchor, minlength=self.n_samples)
        self.tptr = np.concatenate([[0], np.cumsum(per_anchor)]).astype(np.int64)

    # -- impostor candidates -----------------------------------------------------

    def search(self, L):
        """Find every impostor candidate under ``L``: the active set for the next steps.

        A pair ``(i, l)`` of different classes is a candidate for anchor ``i``
        when ``||L(x_i - x_l)||² < PAD * (1 + max_j ||L(x_i - x_j)||²)``.
        """
        Z = self.X @ L.T
        d_target = np.empty(self.n_targets)
        kernels.paired_sqdist(Z, self.anchor, self.target, d_target)
        radius = np.full(self.n_samples, -np.inf)
        np.maximum.at(radius, self.anchor, d_target)
        threshold = PAD * (1.0 + radius)  # -inf for points without targets
        # squared distances from products: centring keeps the cancellation
        # error far below the padded radii, which are at least PAD
        Z -= Z.mean(axis=0)
        norms = np.einsum("ij,ij->i", Z, Z)
        # float32 products are twice as fast; use them while their rounding
        # error stays a small fraction of the pad
        rounding = 4.0 * Z.shape[1] * 2.0**-24 * norms.max()
        Z_products = Z.astype(np.float32) if rounding < 0.1 * (PAD - 1.0) else Z

        collected_a, collected_b = [], []
        kept, keep_prob = 0, 1.0
        rng = self.random_state
        n = self.n_samples
        n_classes = len(self.starts) - 1
        empty = np.empty(0, dtype=np.int64)
        for c in range(n_classes - 1):
            lo, hi = int(self.starts[c]), int(self.starts[c + 1])
            Z_rest, norms_rest, thr_rest = Z_products[hi:], norms[hi:], threshold[hi:]
            # per row: the products, and at worst two pairs (two int64 each) per entry
            bytes_per_row = (Z_products.itemsize + 32) * (n - hi)
            rows_per_block = max(1, int(SEARCH_BLOCK_MIB * 2**20 // bytes_per_row))
            for start in range(lo, hi, rows_per_block):
                stop = min(start + rows_per_block, hi)
                G = Z_products[start:stop] @ Z_rest.T
                args = (
                    G,
                    norms[start:stop],
                    norms_rest,
                    threshold[start:stop],
                    thr_rest,
                    start,
                    hi,
                )
                count = kernels.threshold_pairs(*args, empty, empty)
                a = np.empty(count, dtype=np.int64)
                b = np.empty(count, dtype=np.int64)
                kernels.threshold_pairs(*args, a, b)
                if keep_prob < 1.0:
                    keep = rng.random_sample(len(a)) < keep_prob
                    a, b = a[keep], b[keep]
                collected_a.append(a)
                collected_b.append(b)
                kept += len(a)
                if kept > 2 * self.max_impostors:
                    a = np.concatenate(collected_a)
                    b = np.concatenate(collected_b)
                    keep = rng.choice(len(a), self.max_impostors, replace=False)
                    collected_a, collected_b = [a[keep]], [b[keep]]
                    keep_prob *= self.max_impostors / kept
                    kept = self.max_impostors
        a = np.concatenate(collected_a) if collected_a else np.empty(0, np.int64)
        b = np.concatenate(collected_b) if collected_b else np.empty(0, np.int64)
        subsampled = keep_prob < 1.0 or len(a) > self.max_impostors
        if len(a) > self.max_impostors:
            keep = rng.choice(len(a), self.max_impostors, replace=False)
            a, b = a[keep], b[keep]
        order = np.argsort(a, kind="stable")
        self.cand_anchor = np.ascontiguousarray(a[order], dtype=np.int64)
        self.cand_other = np.ascontiguousarray(b[order], dtype=np.int64)
        per_anchor = np.bincount(self.cand_anchor, minlength=n)
        self.cptr = np.concatenate([[0], np.cumsum(per_anchor)]).astype(np.int64)

        self.subsampled = subsampled
        self.iterations_since_search = 0
        self.n_searches += 1
        self._store_reference(Z, radius, threshold)

    @property
    def n_candidates(self):
        return len(self.cand_other)

    def _store_reference(self, Z, radius, threshold):
        """What :meth:`covers` needs to bound distances at a later ``L`` (Z centred)."""
        self.ref_has_targets = np.isfinite(radius)
        self.ref_sqrt_radius = np.sqrt(radius[self.ref_has_targets])
        self.ref_sqrt_threshold = np.sqrt(threshold[self.ref_has_targets])
        self.ref_Z = Z
        self.ref_Z_sqnorm = float(np.einsum("ij,ij->", self.ref_Z, self.ref_Z))

    def covers(self, L):
        """Whether the candidates hold every impostor that can be active at ``L``.

        Compare the points ``z_i = L x_i`` with ``α z_i^ref`` from the last
        search, ``α`` the least-squares scale between them, and let
        ``u_i = ||δ_i - mean(δ)||`` with ``δ_i = z_i - α z_i^ref``. By the
        triangle inequality every distance moved from ``α`` times its value at
        the search by at most ``u_i + u_l``. A pair left out for anchor ``i``
        had ``||z_i^ref - z_l^ref||² ≥ PAD (1 + r_i)``, ``r_i`` being the
        largest squared target distance of ``i``; it cannot be active at
        ``L`` while ``(α √(PAD (1 + r_i)) - u_i - max u)² ≥
        1 + (α √r_i + u_i + max_j u_j)²`` (``j`` over the targets of ``i``).
        A subsampled candidate set is not exact anyway: it is renewed every
        REFRESH_EVERY iterations instead.
        """
        if self.subsampled:
            return True
        Z = self._Z if self._Z_of is L else self.X @ L.T
        alpha = float(np.einsum("ij,ij->", Z, self.ref_Z)) / max(self.ref_Z_sqnorm, 1e-300)
        delta = Z - alpha * self.ref_Z
        delta -= delta.mean(axis=0)
        u = np.sqrt(np.einsum("ij,ij->i", delta, delta))
        u_targets = np.zeros(self.n_samples)
        np.maximum.at(u_targets, self.anchor, u[self.target])
        u_anchor = u[self.ref_has_targets]
        low = np.maximum(alpha * self.ref_sqrt_threshold - u_anchor - u.max(), 0.0) ** 2
        high = (
            1.0 + (alpha * self.ref_sqrt_radius + u_anchor + u_targets[self.ref_has_targets]) ** 2
        )
        return bool(np.all(low >= high))

    def spread(self, L):
        """A bound on the squared distances between the points under ``L``."""
        Z = self._Z if self._Z_of is L else self.X @ L.T
        centred = Z - Z.mean(axis=0)
        # a squared distance is at most 4 times the largest squared norm
        return 4.0 * float(np.einsum("ij,ij->i", centred, centred).max())

    def collapsed(self, L):
        """Whether ``L`` has mapped the points onto one, to float64's resolution.

        Every squared distance must be below ``COLLAPSE_SQDIST`` in margin
        units (the objective cannot tell ``L`` from 0) and that fraction of
        its bound under the starting map ``start_spread`` (so that data
        which start that close, being tiny, are not mistaken for it).
        """
        spread = self.spread(L)
        return spread < COLLAPSE_SQDIST and spread < COLLAPSE_SQDIST * self.start_spread

    def start_iteration(self, L):
        """Renew a subsampled candidate set every REFRESH_EVERY iterations."""
        self.iterations_since_search += 1
        if self.subsampled and self.iterations_since_search > REFRESH_EVERY:
            self.search(L)
            return True
        return False

    # -- objective ---------------------------------------------------------------

    def __call__(self, L):
        """Objective, gradient with respect to ``L`` and number of active triplets."""
        if self._Z is None or self._Z.shape[1] != L.shape[0]:
            self._Z = np.empty((self.n_samples, L.shape[0]))
            self._CZ = np.empty_like(self._Z)
        Z, CZ = self._Z, self._CZ
        np.matmul(self.X, L.T, out=Z)
        self._Z_of = L
        d_target = np.empty(self.n_targets)
        kernels.paired_sqdist(Z, self.anchor, self.target, d_target)
        w_target = np.zeros(self.n_targets)
        w_cand = np.zeros(self.n_candidates)
        push, n_active = kernels.push_terms(
            Z, self.cptr, self.cand_other, self.tptr, d_target, w_target, w_cand
        )
        reg = self.reg
        f = reg * d_target.sum() + (1.0 - reg) * push
        # gradient: 2 L Xᵀ C X = 2 (C Z)ᵀ X with C the Laplacian of the weighted pairs
        CZ.fill(0.0)
        kernels.laplacian_apply(Z, self.anchor, self.target, reg + (1.0 - reg) * w_target, CZ)
        kernels.laplacian_apply(Z, self.cand_anchor, self.cand_other, -(1.0 - reg) * w_cand, CZ)
        G = 2.0 * (CZ.T @ self.X)
        return float(f), G, int(n_active)


# -- solvers -----------------------------------------------------------------------


def _report(log, problem, it, f, n_active, history):
    """Record the objective ``f`` after iteration ``it`` (0: the start) and print it."""
    history.append(float(f))
    if log is not None:
        log(
            f"iter {it:5d}  objective {f:.6e}  active triplets {n_active:8d}  "
            f"impostor candidates {problem.n_candidates:8d}"
        )


def _try_step(problem, L_new, f, decrease):
    """Objective at a trial point if it satisfies ``f_new <= f - decrease``, else None.

    The objective over the candidates never exceeds the true one (it leaves
    out hinge terms, which are non-negative), so a trial that fails with the
    candidates fails for good; one that passes is checked against a fresh
    impostor search unless :meth:`_LMNNProblem.covers` guarantees it exact.
    """
    result = problem(L_new)
    if not result[0] <= f - decrease:  # also rejects a NaN objective
        return None
    if problem.covers(L_new):
        return result
    problem.search(L_new)
    result = problem(L_new)
    return result if result[0] <= f - decrease else None


def _lbfgs(problem, L0, *, max_iter, min_iter, tol, log, history, **_):
    """Limited-memory BFGS on L with an Armijo backtracking line search.

    Returns ``(L, objective, n_iter, converged)``; ``history`` receives the
    objective at the start and after each iteration.
    """
    shape = L0.shape
    x = L0.ravel().copy()
    problem.search(L0)
    f, G, n_active = problem(L0)
    g = G.ravel()
    _report(log, problem, 0, f, n_active, history)
    S, Y = deque(maxlen=LBFGS_MEMORY), deque(maxlen=LBFGS_MEMORY)
    if not np.any(g):
        return L0, f, 0, True
    it = 0
    while it < max_iter:
        it += 1
        if problem.start_iteration(x.reshape(shape)):
            f, G, n_active = problem(x.reshape(shape))
            g = G.ravel()
        d = _two_loop(g, S, Y)
        slope = g @ d
        if not S or slope >= 0:
            S.clear()
            Y.clear()
            d = -g
            slope = -(g @ g)
            if slope == 0.0:  # a gradient whose square underflows: stationary
                return x.reshape(shape), f, it - 1, True
            x_norm = np.linalg.norm(x)
            step = (0.1 * x_norm if x_norm > 0 else 1.0) / np.sqrt(-slope)
        else:
            step = 1.0
        result = None
        for _ in range(40):
            x_new = x + step * d
            result = _try_step(problem, x_new.reshape(shape), f, -1e-4 * step * slope)
            if result is not None:
                break
            step *= 0.5
        if result is None:
            if S:  # the curvature pairs misled the search: retry along the gradient
                S.clear()
                Y.clear()
                it -= 1
                continue
            return x.reshape(shape), f, it - 1, True
        f_new, G_new, n_active = result
        g_new = G_new.ravel()
        s, yv = x_new - x, g_new - g
        if _usable_curvature(s, yv):
            S.append(s)
            Y.append(yv)
        decrease = f - f_new
        x, f, g = x_new, f_new, g_new
        _report(log, problem, it, f, n_active, history)
        if not np.any(g) or problem.collapsed(x.reshape(shape)):
            return x.reshape(shape), f, it, True
        if it >= min_iter and decrease <= tol * abs(f):
            return x.reshape(shape), f, it, True
    return x.reshape(shape), f, it, False


def _usable_curvature(s, y):
    """Whether the pair ``(s, y)`` may enter the L-BFGS memory.

    Its curvature ``s . y`` must be clearly positive, and large enough that
    ``1 / (s . y)`` and ``(s . y) / (y . y)`` are finite: near a minimum at
    ``L = 0`` the steps shrink until those products underflow, and the
    two-loop recursion would turn them into infinities and NaN.
    """
    sy = s @ y
    if not sy > 1e-10 * np.linalg.norm(s) * np.linalg.norm(y):
        return False
    with np.errstate(over="ignore", divide="ignore"):
        return bool(np.isfinite(1.0 / sy) and np.isfinite(sy / (y @ y)))


def _two_loop(g, S, Y):
    """``-H g`` for the L-BFGS inverse-Hessian estimate built from (S, Y)."""
    q = g.copy()
    alphas = []
    for s, y in zip(reversed(S), reversed(Y)):
        rho = 1.0 / (y @ s)
        alpha = rho * (s @ q)
        q -= alpha * y
        alphas.append((rho, alpha))
    if S:
        q *= (S[-1] @ Y[-1]) / (Y[-1] @ Y[-1])
    for (s, y), (rho, alpha) in zip(zip(S, Y), reversed(alphas)):
        beta = rho * (y @ q)
        q += (alpha - beta) * s
    return -q


def _gradient_descent(problem, L0, *, max_iter, min_iter, tol, learn_rate, log, history, **_):
    """metric-learn's adaptive-step gradient descent on the same objective (as :func:`_lbfgs`)."""
    L = L0.copy()
    problem.search(L)
    f, G, n_active = problem(L)
    _report(log, problem, 0, f, n_active, history)
    it = 0
    while it < max_iter:
        it += 1
        if problem.start_iteration(L):
            f, G, n_active = problem(L)
        for _ in range(200):
            L_new = L - learn_rate * G
            result = _try_step(problem, L_new, f, 0.0)
            if result is not None:
                break
            learn_rate /= 2.0
        else:
            return L, f, it - 1, True
        f_new, G_new, n_active = result
        decrease = f - f_new
        L, f, G = L_new, f_new, G_new
        learn_rate *= 1.01
        _report(log, problem, it, f, n_active, history)
        if problem.collapsed(L) or (it >= min_iter and decrease <= tol * abs(f)):
            return L, f, it, True
    return L, f, it, False


#: Each ``solver`` and the function that runs it.
_SOLVERS = {"lbfgs": _lbfgs, "gd": _gradient_descent}
