"""Neighbourhood Components Analysis (NCA)."""

import contextlib
import numbers
import sys
import time
from typing import cast

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import TransformerMixin
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_limits

from .._lazy import lazy_callable
from .._sklearn_compat import Interval, StrOptions, _fit_context
from .._validation import check_class_labels, check_n_components
from ..base import BaseMetricLearner, MahalanobisMixin
from ..linalg import initialize_components
from ..solvers import lbfgs_on_components
from ._doc_pieces import fill_pieces
from ._dtypes import fitted_components
from ._scaling import FEATURE_SCALING_CONSTRAINT, FeatureScalingMixin, map_to_fitted_units
from ._tags import TargetRequiredMixin

SoftmaxObjective = lazy_callable("mlearn.learners._nca_kernels", "SoftmaxObjective")

__all__ = ["NCA"]


#: Below this many samples the whole fit runs with one BLAS thread: SciPy's
#: L-BFGS-B works on small matrices each iteration, where waking BLAS threads
#: costs more than the products themselves.
THREADED_BLAS_MIN_SAMPLES = 4000

#: SciPy's L-BFGS-B defaults (``ftol``, ``gtol``), used when ``tol`` is None.
_SCIPY_FTOL = 2.2204460492503131e-09
_SCIPY_GTOL = 1e-5


def _blas_threads_for(n_samples):
    if n_samples >= THREADED_BLAS_MIN_SAMPLES:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


class _SoftmaxNeighbourLearner(
    TargetRequiredMixin, FeatureScalingMixin, MahalanobisMixin, TransformerMixin, BaseMetricLearner
):
    """What NCA and MLKR share: a softmax over neighbours, L-BFGS on ``L``."""

    _kind: str | None = None  # "nca" or "mlkr"

    _parameter_constraints: dict = {
        **BaseMetricLearner._parameter_constraints,
        "n_components": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="left"), None],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "callback": [callable, None],
        "feature_scaling": FEATURE_SCALING_CONSTRAINT,
    }

    def _initial_components(self, X, y_init, n_features, scale=1.0):
        """``L`` to start from, for the points ``X`` (already divided by ``scale``).

        A map given in data units (``init`` as an array, or the previous
        ``components_``) acts on ``X * scale``, so it is multiplied by ``scale``.
        """
        check_n_components(self.n_components, n_features)
        if self.warm_start and hasattr(self, "components_"):
            L0 = np.asarray(self.components_, dtype=np.float64)
            if L0.shape[1] != n_features:
                raise ValueError(
                    f"warm_start=True continues from components_ of shape {L0.shape}, "
                    f"which does not match X with {n_features} features"
                )
            if self.n_components is not None and L0.shape[0] != self.n_components:
                raise ValueError(
                    f"warm_start=True continues from components_ with {L0.shape[0]} "
                    f"rows, but n_components={self.n_components}"
                )
            return L0 * scale
        init = self.init if isinstance(self.init, str) else np.asarray(self.init)
        if not isinstance(init, str) and (init.ndim != 2 or init.shape[0] > init.shape[1]):
            raise ValueError(
                "init given as an array must have shape (n_components, n_features) "
                f"with n_components <= n_features, got shape {init.shape}"
            )
        return initialize_components(
            map_to_fitted_units(init, scale),
            X,
            y_init,
            n_components=self.n_components,
            random_state=check_random_state(self.random_state),
        )

    def _minimize(self, objective, L0, scale=1.0):
        """L-BFGS on ``L`` from ``L0`` (:func:`mlearn.solvers.lbfgs_on_components`).

        Sets ``n_iter_`` and ``objective_history_`` (the objective L-BFGS
        minimises). ``objective`` sees the data divided by ``scale``: the
        callback receives ``L / scale``, the map of the data as given.
        """
        name = type(self).__name__
        start = time.perf_counter()
        if self.verbose:
            print(f"[{name}] {'Iteration':>10} {'Objective Value':>20} {'Time(s)':>10}")
            print(f"[{name}] {'-' * 42}")

        def after_iteration(n_iter, L, loss):
            if self.verbose:
                print(
                    f"[{name}] {n_iter:>10} {self._reported(loss):>20.6e} "
                    f"{time.perf_counter() - start:>10.2f}"
                )
                sys.stdout.flush()
            if self.callback is not None:
                self.callback(L / scale, n_iter)

        # SciPy's own defaults when tol is None, as metric-learn leaves them
        tol, gtol = (_SCIPY_FTOL, _SCIPY_GTOL) if self.tol is None else (self.tol, self.tol)
        with _blas_threads_for(objective.X.shape[0]):
            result = lbfgs_on_components(
                objective.value_and_gradient,
                L0,
                max_iter=self.max_iter,
                tol=tol,
                gtol=gtol,
                callback=after_iteration,
            )
        final = self._reported(result.history[-1])
        self._record_solve(
            result.n_iter, result.history, result.converged, detail=f"objective {final:.6g}"
        )
        if self.verbose:
            state = "converged" if result.converged else "stopped at max_iter"
            print(f"[{name}] {state}; training took {time.perf_counter() - start:.2f}s")
        return result.x

    def _reported(self, loss):
        return loss


@fill_pieces
class NCA(_SoftmaxNeighbourLearner):
    """Neighbourhood Components Analysis (Goldberger et al.).

    NCA learns the linear map ``L`` that maximises the expected number of
    points classified correctly by a *stochastic* nearest neighbour rule:
    point ``i`` picks neighbour ``j`` with probability

    .. math::

        p_{ij} = \\frac{\\exp(-\\|L x_i - L x_j\\|^2)}
                       {\\sum_{k \\neq i} \\exp(-\\|L x_i - L x_k\\|^2)},
        \\qquad p_{ii} = 0,

    and the objective is :math:`f(L) = \\sum_i \\sum_{j: y_j = y_i} p_{ij}`,
    a smooth stand-in for the leave-one-out accuracy of the nearest
    neighbour classifier. ``fit`` minimises ``-f`` with L-BFGS-B using the
    exact gradient

    .. math::

        \\nabla_L (-f) = 2 L \\sum_{i, j} p_{ij}\\,([y_i = y_j] - p_i)\\,
        (x_i - x_j)(x_i - x_j)^\\top .

    The n x n softmax is computed one cache-sized block of rows at a time
    by a compiled kernel that also accumulates the gradient from the
    non-zero weights, so memory stays ``O(n (n_components + block))`` and
    nothing of size n x n x n_features is ever formed.

    Parameters
    ----------
    {init_class_labels}
    {n_components_space}
    max_iter : int, default=100
        Maximum number of L-BFGS iterations.
    tol : float, default=None
        Convergence tolerance handed to SciPy's L-BFGS-B (both the relative
        decrease of the objective and the largest gradient entry); None uses
        SciPy's defaults (relative decrease 2.2e-9, gradient entry 1e-5), as
        metric-learn does. scikit-learn's NeighborhoodComponentsAnalysis
        uses ``max_iter=50, tol=1e-5``, which usually stops earlier (see
        Notes); pass those to fit as it does.
    verbose : bool or int, default=False
        Print the objective after every iteration.
    {preprocessor_points}
    random_state : int, RandomState instance or None, default=None
        Seeds ``init='random'`` and the PCA of ``init='pca'``.
    {warm_start_callback}
    {feature_scaling}

    Attributes
    ----------
    {fitted_linear_map}
    n_iter_ : int
        Number of L-BFGS iterations run.
    objective_history_ : list of float
        The objective L-BFGS minimises (minus the expected number of points
        classified correctly) at the start and after each iteration.
    {fitted_feature_scale}
    {fitted_features}

    See Also
    --------
    mlearn.LMNN : a large-margin objective on fixed target neighbours.
    mlearn.MLKR : the same softmax neighbourhood for regression targets.

    Notes
    -----
    Softmax terms smaller than ``exp(-36)`` (float64 epsilon) times the
    largest term of their row are dropped: each is below the round-off of the
    row's sum.

    When the training classes can be separated, ``f`` approaches its
    supremum ``n_samples`` only as the scale of ``L`` grows without bound:
    near the end the objective is flat, and the stopping rule decides how far
    ``L`` grows. With ``tol=None`` the fit runs until the largest gradient
    entry falls below 1e-5; scikit-learn's ``tol=1e-5`` also stops once an
    iteration lowers the objective by less than ``1e-5 * |f|``, a few
    iterations earlier, at an objective that is a little lower. From the
    same ``init`` with the same ``max_iter`` and ``tol`` the two fits agree.
    The maps differ slightly, and so may the accuracy of a nearest-neighbour
    classifier on them, in either direction.

    The softmax has a fixed bandwidth, so the objective is not invariant to
    the scale of ``X``. With ``feature_scaling`` set (the default, 'range')
    the fit runs on rescaled features, so ``fit(X @ D)`` for a positive
    diagonal ``D`` (other units, a min-max or standard scaler) learns the
    same neighbourhoods as ``fit(X)``. With ``feature_scaling=None``, data
    whose largest magnitude lies outside ``[2**-100, 2**100]`` are fitted
    divided by a power of two ``s`` that brings it into ``[0.5, 1)``
    (exactly; an ``init`` array and the ``components_`` of a warm start are
    multiplied by ``s``), and ``components_`` is divided by ``s``. Inside
    that range the objective is computed at any scale without overflow;
    far out the softmax becomes the nearest-neighbour rule, whose gradient
    is zero, so the fit stays at ``init``.

    References
    ----------
    .. [1] J. Goldberger, S. Roweis, G. Hinton and R. Salakhutdinov,
       "Neighbourhood Components Analysis", NIPS 2004.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from mlearn import NCA
    >>> X, y = load_iris(return_X_y=True)
    >>> nca = NCA(n_components=2, random_state=0).fit(X, y)
    >>> nca.transform(X).shape
    (150, 2)
    >>> pipe = make_pipeline(StandardScaler(), NCA(), KNeighborsClassifier(3))
    >>> pipe.fit(X, y).score(X, y) > 0.95
    True
    """

    _kind = "nca"

    _parameter_constraints: dict = {
        **_SoftmaxNeighbourLearner._parameter_constraints,
        "init": [StrOptions({"auto", "pca", "lda", "identity", "random"}), "array-like"],
    }

    def __init__(
        self,
        init="auto",
        n_components=None,
        max_iter=100,
        tol=None,
        verbose=False,
        preprocessor=None,
        random_state=None,
        warm_start=False,
        callback=None,
        feature_scaling="range",
    ):
        self.init = init
        self.n_components = n_components
        self.max_iter = max_iter
        self.tol = tol
        self.verbose = verbose
        self.random_state = random_state
        self.warm_start = warm_start
        self.callback = callback
        self.feature_scaling = feature_scaling
        super().__init__(preprocessor=preprocessor)

    @fill_pieces
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: ArrayLike, y: ArrayLike) -> "NCA":
        """Learn the linear map from labelled points.

        Parameters
        ----------
        {fit_training_points}
        y : array-like of shape (n_samples,)
            Class labels.

        Returns
        -------
        self : NCA
        """
        X, y = cast(
            "tuple[np.ndarray, np.ndarray]",
            self._prepare_points(X, y, reset=True, ensure_min_samples=2),
        )
        check_class_labels(y)
        dtype = X.dtype
        X = np.asarray(X, dtype=np.float64)
        X, scale = self._fitting_points(X)
        codes = np.unique(y, return_inverse=True)[1].astype(np.int64).ravel()
        L0 = self._initial_components(X, codes, X.shape[1], scale)
        objective = SoftmaxObjective(X, codes, "nca", L0.shape[0])
        self.components_ = fitted_components(self._minimize(objective, L0, scale) / scale, dtype)
        return self

    def _reported(self, loss):
        # L-BFGS minimises -f; report f, the expected number of points
        # classified correctly
        return -loss
