"""Cosine metric learning: a linear map whose cosine separates similar from dissimilar pairs.

The learned similarity is ``cos(Lx, Ly)`` and the learned distance
``d = 1 - cos(Lx, Ly)`` in [0, 2]. The pair losses of the general learner
(:func:`mlearn.objectives.pair_loss`) are applied to ``d``:

    min_L  mean_i ℓ(d_i, y_i) + alpha · ||L - L0||² / ||L0||²

with ``L0`` the initial map; L-BFGS minimises it over ``L``. Since ``d``
does not change when ``L`` is multiplied by a positive number, the
regulariser is what fixes the scale of ``L`` (and keeps it near ``L0``).

- :class:`CosineMetricLearner` learns from labelled pairs (a pairs classifier);
- :class:`CosineMetricLearner_Supervised` draws the pairs from class labels.
"""

from numbers import Integral, Real

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._blas import blas_threads_for
from .._sklearn_compat import Interval, StrOptions
from .._validation import check_n_components, check_pair_labels
from ..base import BaseMetricLearner, PairsClassifierMixin
from ..linalg import initialize_components, power_of_two_scale
from ..objectives import pair_loss
from ..solvers import lbfgs_on_components

# the module, not the mixin: a public class name here would be taken for an estimator
from . import _cosine_base
from ._cosine_base import _power_of_two_rows, cosine_map, unit_distance
from ._doc_pieces import fill_pieces
from ._dtypes import fitted_components
from ._scaling import map_to_fitted_units
from ._supervised import (
    SUPERVISED_PARAMETER_CONSTRAINTS,
    PairsFitMixin,
    SupervisedMixin,
)

__all__ = ["CosineMetricLearner", "CosineMetricLearner_Supervised", "cosine_pair_objective"]

LOSSES = ("contrastive", "hinge", "logistic")
INITS = ("auto", "identity", "pca", "random", "covariance")


def cosine_pair_objective(
    L, A, B, y, *, loss="logistic", margin=1.0, lower=None, upper=None, threshold=1.0, scale=1.0
):
    """Mean pair loss on ``d = 1 - cos(L a, L b)`` and its exact gradients.

    Parameters
    ----------
    L : ndarray of shape (n_components, n_features)
    A, B : ndarray of shape (n_pairs, n_features)
        First and second points of the pairs.
    y : ndarray of shape (n_pairs,)
        +1 for similar pairs, -1 for dissimilar ones.
    loss : {'contrastive', 'hinge', 'logistic'}, default='logistic'
        ``d`` for similar and ``max(0, margin - d)`` for dissimilar pairs;
        ``max(0, d - upper)`` / ``max(0, lower - d)``;
        ``log(1 + exp(y · scale · (d - threshold)))``.
    margin, lower, upper, threshold, scale : float
        The losses' constants, in units of ``d``.

    Returns
    -------
    value : float
    grad_L : ndarray of shape (n_components, n_features)
    grad_threshold : float
        Derivative with respect to ``threshold`` (0 unless 'logistic').

    Notes
    -----
    With ``u = L a`` and ``v = L b``, ``∂cos/∂u = (v̂ - cos · û) / ||u||``
    (and symmetrically for ``v``), so ``∂d/∂L = -(∂cos/∂u) aᵀ - (∂cos/∂v) bᵀ``.
    A pair in which ``L`` maps a point to zero has similarity 0 whatever
    ``L`` does nearby: it contributes no gradient.

    Examples
    --------
    >>> import numpy as np
    >>> from mlearn.learners.cosine import cosine_pair_objective
    >>> A, B = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])   # orthogonal: d = 1
    >>> value, grad, _ = cosine_pair_objective(np.eye(2), A, B, np.array([1]),
    ...                                        loss="contrastive")
    >>> float(value)
    1.0
    """
    # a power of two per point changes no cosine and keeps products in range
    A, B = _power_of_two_rows(A), _power_of_two_rows(B)
    U, V = A @ L.T, B @ L.T
    norm_u = np.sqrt(np.sum(U * U, axis=1))
    norm_v = np.sqrt(np.sum(V * V, axis=1))
    ok = (norm_u > 0) & (norm_v > 0)
    unit_u = U / np.where(ok, norm_u, 1.0)[:, None]
    unit_v = V / np.where(ok, norm_v, 1.0)[:, None]
    diff = unit_u - unit_v
    # 1 - cos as half the squared chord: accurate for near-equal directions
    d = np.where(ok, 0.5 * np.sum(diff * diff, axis=1), 1.0)
    cos = 1.0 - d
    if loss == "logistic":
        values, slope = pair_loss(scale * d, y, "logistic", threshold=scale * threshold)
        slope = scale * slope
    else:
        values, slope = pair_loss(d, y, loss, margin=margin, lower=lower, upper=upper)
    n = len(d)
    weight = np.where(ok, slope, 0.0) / n
    grad_u = -(unit_v - cos[:, None] * unit_u) / np.where(ok, norm_u, 1.0)[:, None]
    grad_v = -(unit_u - cos[:, None] * unit_v) / np.where(ok, norm_v, 1.0)[:, None]
    grad_L = (weight[:, None] * grad_u).T @ A + (weight[:, None] * grad_v).T @ B
    grad_threshold = -float(np.sum(weight)) if loss == "logistic" else 0.0
    return float(np.mean(values)), grad_L, grad_threshold


class _BaseCosine(PairsFitMixin, BaseMetricLearner):
    """Parameters and solver shared by the two cosine learners."""

    _parameter_constraints = {
        **BaseMetricLearner._parameter_constraints,
        "loss": [StrOptions(set(LOSSES))],
        "margin": [Interval(Real, 0, 2, closed="right"), None],
        "lower": [Interval(Real, 0, 2, closed="both"), None],
        "upper": [Interval(Real, 0, 2, closed="both"), None],
        "threshold": [Interval(Real, 0, 2, closed="both"), None],
        "scale": [Interval(Real, 0, None, closed="neither")],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "init": [StrOptions(set(INITS)), "array-like"],
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def _fit_pairs(self, pairs, y, random_state, labelled=None, given_scale=1.0):
        """Learn ``components_`` from validated pairs (n_pairs, 2, n_features).

        ``labelled``, the points and classes the pairs were drawn from (when
        known), serves the initialisation.
        """
        name = type(self).__name__
        y = check_pair_labels(y, pairs.shape[0])
        n_features = pairs.shape[2]
        check_n_components(self.n_components, n_features)
        X, labels = (None, None) if labelled is None else labelled
        if X is None:
            X = np.unique(pairs.reshape(-1, n_features), axis=0)
        L0 = self._initial_components(X, labels, random_state, given_scale)
        A, B = pairs[:, 0], pairs[:, 1]
        self._set_loss_constants(L0, A, B)
        reg_scale = float(np.sum(L0 * L0))
        learn_threshold = self.loss == "logistic" and self.threshold is None
        shape = L0.shape

        def objective(L, threshold):
            value, grad, grad_t = cosine_pair_objective(
                L,
                A,
                B,
                y,
                loss=self.loss,
                margin=self.margin_,
                lower=self.lower_,
                upper=self.upper_,
                threshold=threshold,
                scale=self.scale,
            )
            step = L - L0
            value += self.alpha * float(np.sum(step * step)) / reg_scale
            grad = grad + 2 * self.alpha * step / reg_scale
            return value, grad, grad_t

        # small products: one BLAS thread, as a second costs more than it saves
        with blas_threads_for(A.size * shape[0]):
            L = self._minimise(objective, L0, learn_threshold)
        if not np.all(np.isfinite(L)):
            raise ValueError(f"{name} diverged (non-finite map); increase alpha")
        self.components_ = fitted_components(L, pairs.dtype)
        return self

    def _minimise(self, objective, L0, learn_threshold):
        """L-BFGS on ``L`` (and on the logistic threshold when it is learned)."""
        name = type(self).__name__
        shape = L0.shape
        if learn_threshold:

            def func(x):
                value, grad, grad_t = objective(x[0, :-1].reshape(shape), x[0, -1])
                return value, np.append(grad.ravel(), grad_t)[None, :]

            x0 = np.append(L0.ravel(), self.loss_threshold_)[None, :]
            result = lbfgs_on_components(
                func, x0, max_iter=self.max_iter, tol=self.tol, verbose=self.verbose, name=name
            )
            L, self.loss_threshold_ = result.x[0, :-1].reshape(shape), float(result.x[0, -1])
        else:
            result = lbfgs_on_components(
                lambda L: objective(L, self.loss_threshold_)[:2],
                L0,
                max_iter=self.max_iter,
                tol=self.tol,
                verbose=self.verbose,
                name=name,
            )
            L = result.x
        self._record_solve(result.n_iter, result.history, result.converged)
        return L

    def _initial_components(self, X, labels, random_state, given_scale=1.0):
        init = map_to_fitted_units(self.init, given_scale)
        if isinstance(init, str) and init == "auto" and labels is None:
            low_rank = self.n_components is not None and self.n_components < X.shape[1]
            init = "pca" if low_rank else "identity"
        # cosines do not depend on the data's scale: bring it into range for the
        # initialisation's statistics, and leave a given array as it is
        scaled = X / power_of_two_scale(X)
        L0 = initialize_components(
            init, scaled, labels, n_components=self.n_components, random_state=random_state
        )
        if not np.any(L0):
            raise ValueError("init must not be all zeros: it maps every point to zero")
        return np.array(L0, dtype=np.float64)

    def _set_loss_constants(self, L0, A, B):
        """Margin, hinge thresholds and the logistic threshold's start from the
        pairs' distances ``1 - cos`` under ``L0`` (those not given)."""
        d = unit_distance(cosine_map(A, L0.T), cosine_map(B, L0.T))
        median = float(np.median(d))
        self.margin_ = 1.0 if self.margin is None else float(self.margin)
        self.lower_ = float(np.percentile(d, 95)) if self.lower is None else float(self.lower)
        self.upper_ = float(np.percentile(d, 5)) if self.upper is None else float(self.upper)
        self.loss_threshold_ = median if self.threshold is None else float(self.threshold)


@fill_pieces
class CosineMetricLearner(_cosine_base.CosineMixin, PairsClassifierMixin, _BaseCosine):
    """Cosine metric learning from must-link (+1) and cannot-link (-1) pairs.

    Learns a linear map ``L`` such that the cosine similarity
    ``cos(Lx, Ly)`` of similar pairs is high and that of dissimilar pairs
    low, by minimising ``mean_i ℓ(d_i, y_i) + alpha ||L - L0||² / ||L0||²``
    with L-BFGS, where ``d_i = 1 - cos(L a_i, L b_i)`` and ``L0`` is the
    initial map. Then calibrates the threshold of :meth:`predict` on
    ``d`` over the training pairs.

    Read more in the :ref:`User Guide <cosine>`.

    Parameters
    ----------
    loss : {'contrastive', 'hinge', 'logistic'}, default='logistic'
        The pair loss on ``d = 1 - cos`` (see :func:`mlearn.objectives.pair_loss`):
        'contrastive' is ``d`` for similar pairs and ``max(0, margin - d)``
        for dissimilar ones; 'hinge' is ``max(0, d - upper)`` /
        ``max(0, lower - d)``; 'logistic' is
        ``log(1 + exp(y · scale · (d - threshold)))``.
    margin : float in (0, 2], default=None
        Margin of 'contrastive'; None means 1 (dissimilar pairs are pushed
        to non-positive cosines).
    lower, upper : float in [0, 2], default=None
        Thresholds of 'hinge' on ``d``. None uses the 95th and the 5th
        percentiles of the training pairs' ``d`` under ``init``.
    threshold : float in [0, 2], default=None
        ``threshold`` of 'logistic'; None learns it with ``L``, starting from
        the median ``d`` of the training pairs under ``init``.
    scale : float, default=10.0
        Slope of 'logistic': ``d`` lies in [0, 2], so without it the loss
        could not tell well-separated pairs from barely-separated ones.
    alpha : float, default=3.0
        Weight of the regulariser ``||L - L0||² / ||L0||²``. The default
        (with ``scale``) was chosen on held-out splits of digits; the user
        guide's "Defaults" tells how.
    init : {'auto', 'identity', 'pca', 'random', 'covariance'} or array-like of \
shape (n_components, n_features), default='auto'
        The initial map ``L0``: 'auto' is 'identity' when n_components is
        None (or n_features), else 'pca' (of the pairs' points); see
        :func:`mlearn.linalg.initialize_components`.
    n_components : int, default=None
        Rows of ``L``; None means n_features.
    max_iter : int, default=200
        Maximum number of L-BFGS iterations.
    tol : float, default=1e-6
        Stop when the relative decrease of the objective is below ``tol``.
    random_state : int, RandomState instance or None, default=None
        Seeds ``init='random'``.
    verbose : bool, default=False
        Print the objective after each iteration.
    {preprocessor_pairs}

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The map ``L``; :meth:`transform` returns the rows of ``X @ L.T``
        divided by their norms.
    n_iter_ : int
        Number of L-BFGS iterations run.
    objective_history_ : list of float
        The objective at the start and after each iteration.
    threshold_ : float
        Distance ``1 - cos`` under which (inclusive) a pair is predicted
        similar, calibrated on the training pairs at the end of ``fit``.
    loss_threshold_ : float
        The logistic loss's threshold, learned or given.
    margin_, lower_, upper_ : float
        The loss constants used.
    classes_ : ndarray of shape (2,)
        ``[-1, 1]``.
    n_features_in_ : int
        Number of features of the points.

    See Also
    --------
    CosineMetricLearner_Supervised : the same learner on pairs drawn from labels.
    PairsMetricLearner : the same losses on a Mahalanobis distance.

    Notes
    -----
    :meth:`decision_function` is ``-(1 - cos)``, the negated learned
    distance as for the Mahalanobis pairs learners; :meth:`pair_score` is
    the cosine itself.

    Examples
    --------
    >>> import numpy as np
    >>> from mlearn import CosineMetricLearner
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(100, 3) * [1.0, 1.0, 5.0]          # the 3rd axis is noise
    >>> a, b = rng.randint(100, size=(2, 300))
    >>> angle = np.arctan2(X[:, 1], X[:, 0])
    >>> y = np.where(np.cos(angle[a] - angle[b]) > 0.5, 1, -1)
    >>> pairs = np.stack([X[a], X[b]], axis=1)
    >>> learner = CosineMetricLearner(random_state=0).fit(pairs, y)
    >>> L = learner.components_
    >>> bool(np.abs(L[:, 2]).max() < 0.5 * np.abs(L[:, :2]).max())
    True
    >>> bool(learner.score(pairs, y) > 0.9)
    True
    """

    def __init__(
        self,
        loss="logistic",
        margin=None,
        lower=None,
        upper=None,
        threshold=None,
        scale=10.0,
        alpha=3.0,
        init="auto",
        n_components=None,
        max_iter=200,
        tol=1e-6,
        random_state=None,
        verbose=False,
        preprocessor=None,
    ):
        self.loss = loss
        self.margin = margin
        self.lower = lower
        self.upper = upper
        self.threshold = threshold
        self.scale = scale
        self.alpha = alpha
        self.init = init
        self.n_components = n_components
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.verbose = verbose
        super().__init__(preprocessor=preprocessor)

    def decision_function(self, pairs: ArrayLike) -> NDArray[np.floating]:
        """The negated learned distance ``cos - 1`` of each pair (higher is more similar).

        Parameters
        ----------
        pairs : array-like of shape (n_pairs, 2, n_features) or (n_pairs, 2)

        Returns
        -------
        scores : ndarray of shape (n_pairs,)
            In [-2, 0].
        """
        return -self.pair_distance(pairs)


@fill_pieces
class CosineMetricLearner_Supervised(SupervisedMixin, _cosine_base.CosineMixin, _BaseCosine):  # type: ignore[misc]  # fit(X, y), not the pairs' fit
    """Cosine metric learning on similar and dissimilar pairs drawn from class labels.

    Pairs of points of the same class are similar, pairs of points of two
    classes dissimilar; :class:`CosineMetricLearner` then learns the map.
    The estimator is a transformer (``fit(X, y)``, ``transform(X)``, whose
    rows have unit norm) for pipelines.

    Read more in the :ref:`User Guide <cosine>`.

    Parameters
    ----------
    loss, margin, lower, upper, threshold, scale, alpha, max_iter, tol, verbose
        As for :class:`CosineMetricLearner`.
    init : {'auto', 'identity', 'pca', 'lda', 'random', 'covariance'} or array-like of \
shape (n_components, n_features), default='auto'
        The initial map, computed from ``X`` (and ``y`` for 'lda'); 'auto'
        is chosen by :func:`mlearn.linalg.auto_init`.
    n_components : int, default=None
        Rows of ``L``; None means n_features.
    n_constraints : int, default=None
        Number of similar pairs, and of dissimilar pairs, to draw; None means
        ``20 * n_classes ** 2``.
    random_state : int, RandomState instance or None, default=None
        Seeds the drawing of pairs and ``init='random'``.
    {preprocessor_drawn_pairs}
    feature_scaling : {'range', 'standard'} or None, default='range'
        'range' learns the cosine of the features centred and divided by
        their ranges (largest minus smallest training value) times one
        common factor that makes their variances average 1, 'standard'
        divides by their standard deviations; the rescaling is folded into
        ``components_`` and ``intercept_``, so that ``transform``
        still takes raw ``X`` and the learned neighbourhoods depend neither
        on the features' units nor on their origin (a min-max or standard
        scaler before the learner changes nothing). An ``init`` array is
        read in the data's units. None learns the cosine of ``X`` as given.
        See the user guide, "Do I need a scaler?".

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The map ``L``.
    intercept_ : ndarray of shape (n_components,) or None
        With ``feature_scaling`` set, ``-components_ @ mean``, the
        centring; points map to ``unit(L x + intercept_)``. None with
        ``feature_scaling=None``.
    n_iter_ : int
        Number of L-BFGS iterations run.
    objective_history_ : list of float
        The objective at the start and after each iteration.
    loss_threshold_, margin_, lower_, upper_ : float
        As for :class:`CosineMetricLearner`.
    {fitted_feature_scale}
    {fitted_features}

    See Also
    --------
    CosineMetricLearner : the same learner on pairs.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from mlearn import CosineMetricLearner_Supervised
    >>> X, y = load_iris(return_X_y=True)
    >>> pipe = make_pipeline(CosineMetricLearner_Supervised(random_state=0),
    ...                      KNeighborsClassifier(3))
    >>> bool(pipe.fit(X, y).score(X, y) > 0.9)
    True
    """

    _parameter_constraints = {
        **_BaseCosine._parameter_constraints,
        "init": [StrOptions(set(INITS) | {"lda"}), "array-like"],
        **SUPERVISED_PARAMETER_CONSTRAINTS,
    }

    def __init__(
        self,
        loss="logistic",
        margin=None,
        lower=None,
        upper=None,
        threshold=None,
        scale=10.0,
        alpha=3.0,
        init="auto",
        n_components=None,
        max_iter=200,
        tol=1e-6,
        n_constraints=None,
        random_state=None,
        verbose=False,
        preprocessor=None,
        feature_scaling="range",
    ):
        self.loss = loss
        self.margin = margin
        self.lower = lower
        self.upper = upper
        self.threshold = threshold
        self.scale = scale
        self.alpha = alpha
        self.init = init
        self.n_components = n_components
        self.max_iter = max_iter
        self.tol = tol
        self.n_constraints = n_constraints
        self.random_state = random_state
        self.verbose = verbose
        self.feature_scaling = feature_scaling
        super().__init__(preprocessor=preprocessor)

    def _fold_feature_scale(self, scale):
        """``components_`` of the data as given, and the centring as ``intercept_``."""
        super()._fold_feature_scale(scale)
        if self.feature_scaling is None:
            self.intercept_ = None
        else:
            L = np.asarray(self.components_, dtype=np.float64)
            self.intercept_ = (-(L @ self._feature_center)).astype(self.components_.dtype)
        return self
