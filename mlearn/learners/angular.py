"""Angular-margin softmax learners: NormFace, CosFace and ArcFace on a linear map."""

import numbers
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import softmax
from sklearn.base import ClassifierMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._sklearn_compat import Interval, StrOptions, _fit_context
from .._validation import check_class_labels
from ..base import BaseMetricLearner
from ..linalg import initialize_components, power_of_two_scale
from ..solvers import Adam, sgd

# the module, not the class: a class in this namespace counts as one of its estimators
from . import _cosine_base
from ._angular_losses import LOSSES, affine_in_range, margin_objective, rows_in_range, unit_rows
from ._doc_pieces import fill_pieces
from ._dtypes import fitted_components
from ._scaling import FEATURE_SCALING_CONSTRAINT, feature_statistics, map_to_fitted_units
from ._tags import TargetRequiredMixin

__all__ = ["AngularMarginLearner"]

#: Scale and margin used when they are left to None, per loss (ArcFace's
#: margin is chosen in benchmarks/bench_angular.py; CosFace's is its paper's).
DEFAULT_SCALE = {"normface": 16.0, "cosface": 16.0, "arcface": 16.0}
DEFAULT_MARGIN = {"cosface": 0.35, "arcface": 0.5}


@fill_pieces
class AngularMarginLearner(
    TargetRequiredMixin,
    _cosine_base.CosineMixin,
    ClassifierMixin,
    TransformerMixin,
    BaseMetricLearner,
):
    """A linear map and class prototypes on the unit sphere, learned with an angular margin.

    The learner maps a point ``x`` to the direction ``u = z / ||z||`` of
    ``z = Lx + b`` (``b = 0`` without ``fit_intercept``) and keeps one
    prototype ``w_j`` per class; with ``cos(theta_j) = <u, w_j> / ||w_j||``
    it minimises the mean cross-entropy of a softmax over the
    classes, whose logits are, for the true class ``y`` and the others
    ``j != y``:

    ============  ==========================  ===================
    loss          true class ``y``            other classes
    ============  ==========================  ===================
    'softmax'     ``<Lx, w_y>``               ``<Lx, w_j>``
    'normface'    ``s cos(theta_y)``          ``s cos(theta_j)``
    'cosface'     ``s (cos(theta_y) - m)``    ``s cos(theta_j)``
    'arcface'     ``s cos(theta_y + m)``      ``s cos(theta_j)``
    ============  ==========================  ===================

    plus ``alpha / 2 ||L - L_0||_F^2``, which keeps the map near its start
    ``L_0`` (with an intercept, ``L`` and ``L_0`` act on the lifted points
    below; the cosine losses do not change when ``L`` is multiplied by a
    number, so the term also fixes the scale of ``L``; for 'softmax' it adds
    ``alpha / 2 ||W||_F^2``, without which the logits of separable classes
    would grow without bound). ``cos(theta + m)`` is extended beyond
    ``theta = pi - m`` by the line ``cos(theta) - (1 - cos(m))``, so that a
    larger angle never scores higher (see the user guide). The gradients are
    exact through both normalisations.

    The cosine of centred points says nothing of how far from the centre
    they lie, and a linear map keeps the origin in place. With
    ``fit_intercept`` (the default) the map acts on the lifted point
    ``(x - mean, c)``: the training mean is subtracted and a constant
    coordinate ``c``, ``intercept_scaling`` times the training points'
    root-mean-square distance from their mean, is appended; ``L`` starts
    as the identity on both. At the start, then, two points' cosine falls
    as their Euclidean distance grows (the lifted points lie on a plane at
    height ``c``), and the fit learns an affine map ``z = Lx + b``
    (``components_`` and ``intercept_``) that does not depend on where the
    data sit.

    ``transform`` returns the unit vectors ``u``, so that a cosine (or,
    equivalently, Euclidean) k-NN search or retrieval on its output ranks by
    the learned similarity; ``predict`` picks the class of the most similar
    prototype.

    Parameters
    ----------
    loss : {'softmax', 'normface', 'cosface', 'arcface'}, default='arcface'
        The logits above. 'softmax' is the un-normalised baseline: it uses
        neither ``scale`` nor ``margin``.
    scale : float, default=None
        ``s``, the norm the cosines are stretched to: the softmax of
        cosines in [-1, 1] cannot get close to one without it. None means
        16 for the cosine losses. Must be None for 'softmax'.
    margin : float, default=None
        ``m``: a cosine margin for 'cosface' (None: 0.35), an angle in
        radians, below pi, for 'arcface' (None: 0.5). Must be None (or 0)
        for 'softmax' and 'normface'.
    n_components : int, default=None
        Dimension of the embedding (rows of ``components_``), counting the
        lift's coordinate with ``fit_intercept``: at most n_features + 1
        then, at most n_features without. None keeps every dimension. (One
        dimension has no room for the lift: its cosines are signs.)
    init : {'auto', 'identity', 'pca', 'lda', 'random'} or array-like of shape \
            (n_components - fit_intercept, n_features), default='auto'
        Initial map ``L_0`` of the features; with ``fit_intercept`` the
        lift's coordinate is appended to it as one more output (unless
        ``n_components=1``). 'auto' is
        'identity' when every dimension is kept, 'pca' otherwise. The
        prototypes start at the mean direction of each class under ``L_0``.
    alpha : float, default=0.1
        Weight of ``||L - L_0||_F^2 / 2`` (see above).
    fit_intercept : bool, default=True
        Learn an affine map from the lifted points (see above). False learns
        a linear map of the points as given (cosines about the origin).
    intercept_scaling : float, default=2.0
        Height ``c`` of the lift, in units of the training points'
        root-mean-square distance from their mean: the larger, the closer
        the starting cosine neighbours are to Euclidean ones. Unused
        without ``fit_intercept``.
    solver : {'lbfgs', 'sgd'}, default='lbfgs'
        'lbfgs': SciPy's L-BFGS-B on all the points at once; 'sgd':
        minibatches of ``batch_size`` points with Adam
        (:func:`mlearn.solvers.sgd`), ``max_iter`` epochs.
    max_iter : int, default=200
        Maximum number of L-BFGS iterations, or of epochs for 'sgd'.
    tol : float, default=1e-6
        Stop when the objective decreases by less than ``tol`` (relative;
        L-BFGS's ``ftol``, or the epoch objective for 'sgd').
    batch_size : int, default=256
        Points per minibatch ('sgd' and :meth:`partial_fit`).
    learning_rate : float, default=0.01
        Adam's step ('sgd' and :meth:`partial_fit`).
    random_state : int, RandomState instance or None, default=None
        Seeds ``init='random'``, the PCA, the minibatch order and the
        prototype of a class first seen after the first :meth:`partial_fit`.
    verbose : bool or int, default=False
        Print the objective at every iteration.
    {preprocessor_points}
    feature_scaling : {'range', 'standard'} or None, default='range'
        'range' fits on the features divided by their ranges (largest
        minus smallest training value) times one common factor that makes
        their variances average 1, 'standard' by their standard
        deviations (the lift then centres them); the division is folded into
        ``components_``, which still maps raw ``X``: ``fit(X @ D + c)`` for
        a positive diagonal ``D`` learns the same neighbourhoods as
        ``fit(X)`` (without ``fit_intercept``, ``fit(X @ D)`` does). An
        ``init`` array is read in the data's units. None fits on ``X`` as
        given. See the user guide, "Do I need a scaler?".

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The map ``L``, before the normalisation.
    intercept_ : ndarray of shape (n_components,)
        The offset ``b`` (zeros without ``fit_intercept``).
    prototypes_ : ndarray of shape (n_classes, n_components)
        The class prototypes, of unit norm (for 'softmax', as learned).
    classes_ : ndarray of shape (n_classes,)
        The class labels, in the order of ``prototypes_``.
    n_iter_ : int
        Number of L-BFGS iterations or epochs run (by the last call).
    objective_history_ : list of float
        The objective (penalised loss) at the start and after each of the
        ``n_iter_`` iterations or epochs of the last call; see
        :func:`mlearn.plotting.plot_objective`.
    {fitted_feature_scale}
    {fitted_features}

    See Also
    --------
    mlearn.CosineMetricLearner : a cosine similarity learned from pairs.
    mlearn.NCA : a Mahalanobis distance learned for k-NN classification.

    Notes
    -----
    The defaults ``alpha=0.1``, ``fit_intercept=True``,
    ``intercept_scaling=2`` and ArcFace's ``margin=0.5`` were chosen, with
    ``scale`` held at 16, as the entry of a grid (``alpha`` in {0.1, 0.3,
    1}, ``margin`` in {0.2, 0.5}, no intercept or ``intercept_scaling`` in
    {0.25, 0.5, 1, 2}) with the largest mean cosine 3-NN accuracy over
    iris, wine, breast_cancer and digits (standardised) on
    cross-validation shuffles 5 to 7, not those the benchmark reports
    (``benchmarks/bench_angular.py``, ``results/angular_defaults.md``).
    CosFace's 0.35 is its authors' value, not tuned here.

    The loss is not convex; L-BFGS reaches a local minimum from ``L_0``.

    Only the directions of the mapped points count, so the fit does not
    depend on a common scale of ``X``; with ``feature_scaling`` set (the
    default, 'range') it does not depend on the scale of each feature either (nor, with
    ``fit_intercept``, on their origin). With ``feature_scaling=None``,
    data whose largest magnitude lies outside
    ``[2**-100, 2**100]`` are fitted divided by a power of two (exactly), and
    rows far from that range are brought into it one by one before the
    products, so that ``fit(c * X)`` learns the ``components_`` of
    ``fit(X)`` (and ``c`` times its ``intercept_``) for a power of two
    ``c``, and nothing overflows.

    References
    ----------
    .. [1] F. Wang, X. Xiang, J. Cheng and A. L. Yuille, "NormFace: L2
       Hypersphere Embedding for Face Verification", ACM MM 2017.
    .. [2] H. Wang et al., "CosFace: Large Margin Cosine Loss for Deep Face
       Recognition", CVPR 2018.
    .. [3] J. Deng, J. Guo, N. Xue and S. Zafeiriou, "ArcFace: Additive
       Angular Margin Loss for Deep Face Recognition", CVPR 2019.

    Examples
    --------
    >>> from sklearn.datasets import load_wine
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from mlearn import AngularMarginLearner
    >>> X, y = load_wine(return_X_y=True)
    >>> pipe = make_pipeline(StandardScaler(), AngularMarginLearner(random_state=0),
    ...                      KNeighborsClassifier(3, metric="cosine"))
    >>> pipe.fit(X, y).score(X, y) > 0.95
    True
    >>> learner = pipe[1]
    >>> learner.transform(StandardScaler().fit_transform(X)).shape  # 13 features + the lift
    (178, 14)
    >>> learner.prototypes_.shape
    (3, 14)
    """

    _parameter_constraints: dict = {
        **BaseMetricLearner._parameter_constraints,
        "loss": [StrOptions(set(LOSSES))],
        "scale": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "margin": [Interval(numbers.Real, 0, None, closed="left"), None],
        "n_components": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "init": [StrOptions({"auto", "identity", "pca", "lda", "random"}), "array-like"],
        "alpha": [Interval(numbers.Real, 0, None, closed="left")],
        "fit_intercept": ["boolean"],
        "intercept_scaling": [Interval(numbers.Real, 0, None, closed="neither")],
        "solver": [StrOptions({"lbfgs", "sgd"})],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "feature_scaling": FEATURE_SCALING_CONSTRAINT,
    }

    def __init__(
        self,
        loss="arcface",
        scale=None,
        margin=None,
        n_components=None,
        init="auto",
        alpha=0.1,
        fit_intercept=True,
        intercept_scaling=2.0,
        solver="lbfgs",
        max_iter=200,
        tol=1e-6,
        batch_size=256,
        learning_rate=0.01,
        random_state=None,
        verbose=False,
        preprocessor=None,
        feature_scaling="range",
    ):
        self.feature_scaling = feature_scaling
        self.loss = loss
        self.scale = scale
        self.margin = margin
        self.n_components = n_components
        self.init = init
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.intercept_scaling = intercept_scaling
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.random_state = random_state
        self.verbose = verbose
        super().__init__(preprocessor=preprocessor)

    # -- fitting ----------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: ArrayLike, y: ArrayLike) -> "AngularMarginLearner":
        """Learn the map and the prototypes from labelled points.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training points, or a 1-D array of indices when a preprocessor
            is set.
        y : array-like of shape (n_samples,)
            Class labels (at least two classes).

        Returns
        -------
        self : AngularMarginLearner
        """
        X, codes, dtype = self._start(X, y, classes=None)
        X = self._lifted(X, reset=True)
        params = self._pack(self._initial_state(X, codes))
        if self.solver == "lbfgs":
            params = self._run_lbfgs(X, codes, params)
        else:
            self._optimizer_ = Adam(self.learning_rate)
            params = self._run_sgd(X, codes, params, self.max_iter, warn=True)
        self._set_fitted(params, dtype)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(
        self, X: ArrayLike, y: ArrayLike, classes: ArrayLike | None = None
    ) -> "AngularMarginLearner":
        """One epoch of minibatch Adam steps on ``(X, y)``, continuing from the last call.

        On an unfitted learner the first call initialises the map and the
        prototypes as :meth:`fit` does (its batch gives the lift's mean and
        height, kept for later calls) and needs ``classes``, every label of
        the stream, so that each has a prototype from the start; on a fitted
        learner (after :meth:`fit` or an earlier call) it continues from the
        fitted state, its Adam moments carried between calls.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Labels, each in ``classes`` (or in ``classes_``).
        classes : array-like of shape (n_classes,), default=None
            All the labels of the stream; needed on the first call, and if
            given later it must equal ``classes_``.

        Returns
        -------
        self : AngularMarginLearner

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn.datasets import load_wine
        >>> from sklearn.preprocessing import StandardScaler
        >>> from mlearn import AngularMarginLearner
        >>> X, y = load_wine(return_X_y=True)
        >>> X = StandardScaler().fit_transform(X)
        >>> chunks = np.array_split(np.random.RandomState(0).permutation(len(X)), 3)
        >>> learner = AngularMarginLearner(learning_rate=0.05, random_state=0)
        >>> for epoch in range(10):
        ...     for rows in chunks:
        ...         learner = learner.partial_fit(X[rows], y[rows], classes=[0, 1, 2])
        >>> learner.score(X, y) > 0.95
        True
        """
        first = not hasattr(self, "components_")
        if first and classes is None:
            raise ValueError(
                "classes must be given on the first call to partial_fit: every label "
                "of the stream, e.g. classes=np.unique(y_all)"
            )
        X, codes, dtype = self._start(X, y, classes=classes, first=first)
        X = self._lifted(X, reset=first)
        if first:
            params = self._pack(self._initial_state(X, codes))
            self._optimizer_ = Adam(self.learning_rate)
        else:
            params = self._pack((self._lifted_components(), self.prototypes_))
            if not hasattr(self, "_optimizer_"):
                self._optimizer_ = Adam(self.learning_rate)
        params = self._run_sgd(X, codes, params, 1, warn=False)
        self._set_fitted(params, dtype)
        return self

    def _start(self, X, y, *, classes, first=True):
        """Validated points (float64), class codes and the points' dtype; sets
        ``classes_`` and the loss settings."""
        self._scale, self._margin = self._loss_settings()
        X, y = self._prepare_points(X, y, reset=first, ensure_min_samples=2 if first else 1)
        check_class_labels(y)
        dtype = X.dtype
        X = np.asarray(X, dtype=np.float64)
        if classes is None and first:
            self.classes_, codes = np.unique(y, return_inverse=True)
            if len(self.classes_) < 2:
                raise ValueError(
                    f"{type(self).__name__} needs at least two classes in y, got one "
                    f"class: {self.classes_[0]!r}"
                )
            return X, codes.ravel(), dtype
        if classes is not None:
            classes = np.unique(np.asarray(classes))
            if first:
                if len(classes) < 2:
                    raise ValueError(f"classes must hold at least two labels, got {classes!r}")
                self.classes_ = classes
            elif not np.array_equal(classes, self.classes_):
                raise ValueError(
                    f"classes={classes!r} differs from the classes of the first call, "
                    f"{self.classes_!r}"
                )
        codes = np.searchsorted(self.classes_, y)
        codes = np.minimum(codes, len(self.classes_) - 1)
        unknown = self.classes_[codes] != y
        if np.any(unknown):
            raise ValueError(
                f"y holds labels not in classes: {np.unique(np.asarray(y)[unknown])!r}; "
                f"expected labels among {self.classes_!r}"
            )
        return X, codes, dtype

    def _loss_settings(self):
        """The effective ``(scale, margin)``; a setting the loss does not use must be None."""
        loss, scale, margin = self.loss, self.scale, self.margin
        if loss == "softmax" and scale is not None:
            raise ValueError(
                f"scale={scale!r} is not used by loss='softmax' (its logits are not "
                "cosines); leave scale=None or choose a cosine loss"
            )
        if loss in ("softmax", "normface") and margin not in (None, 0, 0.0):
            raise ValueError(
                f"margin={margin!r} is not used by loss={loss!r}; leave margin=None or "
                "use loss='cosface' or 'arcface'"
            )
        if loss == "arcface" and margin is not None and margin >= np.pi:
            raise ValueError(f"margin for loss='arcface' is an angle below pi, got {margin!r}")
        scale = DEFAULT_SCALE.get(loss, 1.0) if scale is None else float(scale)
        margin = DEFAULT_MARGIN.get(loss, 0.0) if margin is None else float(margin)
        return scale, margin

    def _lifted(self, X, *, reset):
        """The points the fit maps: with ``fit_intercept``, ``[x / p - mean, lift]``.

        ``p`` is the features' divisors (``feature_scale_``), or, with
        ``feature_scaling=None``, a power of two that brings the first fit's
        data within 2**±100 (exact); ``mean`` their mean and ``lift`` ``intercept_scaling``
        times their root-mean-square distance from it; all three are those
        of the fit (or of the first :meth:`partial_fit`) and kept for later
        calls. Without an intercept ``X`` is only divided by its own ``p``:
        only directions count, so the map is the same.
        """
        if reset:
            if self.feature_scaling is None:
                self.feature_scale_ = None
                p = power_of_two_scale(X)
            else:
                p = self.feature_scale_ = feature_statistics(X, self.feature_scaling)[1]
            self._lift = (p, None, None)
            if self.fit_intercept:
                mean = np.mean(X / p, axis=0)
                spread = np.sqrt(np.mean(np.sum((X / p - mean) ** 2, axis=1)))
                self._lift = (p, mean, self.intercept_scaling * (spread if spread > 0 else 1.0))
        p, mean, lift = self._lift
        if mean is None:
            if self.feature_scale_ is None:
                # only directions count: each call divides by its own power of two
                return X / power_of_two_scale(X)
            return X / p
        return np.hstack([X / p - mean, np.full((len(X), 1), lift)])

    def _map_factor(self):
        """``(p, f)``: the map of ``X`` is ``f`` times the fitted map of ``X / p``.

        With ``feature_scaling=None``, ``p`` is a power of two and ``f = p``
        (the map is kept as it acts on the data's scale, which changes no
        direction); with 'range' or 'standard', ``p`` is the features'
        divisors and
        ``f = 1``. Both are those of the fit (or first :meth:`partial_fit`)
        that set them, whatever ``feature_scaling`` says since.
        """
        p = self._lift[0]
        return p, (p if self.feature_scale_ is None else 1.0)

    def _lifted_components(self):
        """The fitted map on the points :meth:`_lifted` returns."""
        p, factor = self._map_factor()
        features = self.components_ * (p / factor)
        _, mean, lift = self._lift
        if mean is None:
            return features
        last = (self.intercept_ / factor + features @ mean) / lift
        return np.hstack([features, last[:, None]])

    def _initial_state(self, X, codes):
        """``L_0`` (kept as the regulariser's anchor) and the class prototypes.

        With an intercept ``X`` holds the lift in its last column, and
        ``L_0`` is the map chosen by ``init`` on the features, with the lift
        coordinate appended as one more output.
        """
        lifted = int(self.fit_intercept)
        n_features = X.shape[1] - lifted
        n_components = self.n_components
        if n_components is not None and n_components > n_features + lifted:
            extra = " + 1 (the lift of fit_intercept=True)" if lifted else ""
            raise ValueError(
                f"n_components={n_components} must be at most n_features{extra}="
                f"{n_features + lifted}"
            )
        # one output has no room for the lift's coordinate: it is then the
        # init's one row of the features, the lift's column starting at zero
        lift_row = lifted and n_components != 1
        n_rows = None if n_components is None else n_components - lift_row
        init = self.init
        if isinstance(init, str) and init == "auto":
            init = "identity" if n_rows in (None, n_features) else "pca"
        if not isinstance(init, str):
            init = np.asarray(init)
            if init.ndim != 2 or init.shape[1] != n_features:
                raise ValueError(
                    f"init given as an array must have shape (n_components"
                    f"{' - 1' if lifted else ''}, {n_features}), got shape {init.shape}"
                )
            if self.feature_scaling is not None:
                init = map_to_fitted_units(init, self._lift[0])
        rng = check_random_state(self.random_state)
        L0 = initialize_components(
            init, X[:, :n_features], codes, n_components=n_rows, random_state=rng
        )
        if not np.any(L0):
            raise ValueError("init must not be the zero map: the points would have no direction")
        if lifted:
            L0 = np.hstack([L0, np.zeros((len(L0), 1))])
        if lift_row:
            L0 = np.vstack([L0, np.eye(1, n_features + 1, n_features)])
        self._anchor = L0.copy()
        return L0, self._class_directions(rows_in_range(X) @ L0.T, codes, rng)

    def _class_directions(self, Z, codes, rng):
        """Mean direction of each class's mapped points; a random one for a class absent here."""
        n_classes = len(self.classes_)
        U = unit_rows(Z)
        W = np.zeros((n_classes, Z.shape[1]))
        np.add.at(W, codes, U)
        empty = ~np.any(W, axis=1)
        W[empty] = rng.standard_normal((int(empty.sum()), Z.shape[1]))
        return unit_rows(W)

    def _pack(self, state):
        L, W = state
        self._shapes = (np.shape(L), np.shape(W))
        return np.concatenate([np.ravel(L), np.ravel(W)]).astype(np.float64)

    def _unpack(self, params):
        (k, d), shape_w = self._shapes
        return params[: k * d].reshape(k, d), params[k * d :].reshape(shape_w)

    def _objective(self, X, codes):
        """``f(params, rows) -> (value, gradient)`` of the penalised loss on ``X[rows]``."""
        X = rows_in_range(X)

        def value_and_gradient(params, rows=None):
            L, W = self._unpack(params)
            Xr, cr = (X, codes) if rows is None else (X[rows], codes[rows])
            value, grad_L, grad_W = margin_objective(
                L, W, Xr, cr, loss=self.loss, scale=self._scale, margin=self._margin
            )
            shift = L - self._anchor
            value += 0.5 * self.alpha * float(np.sum(shift * shift))
            grad_L = grad_L + self.alpha * shift
            if self.loss == "softmax":
                value += 0.5 * self.alpha * float(np.sum(W * W))
                grad_W = grad_W + self.alpha * W
            return value, np.concatenate([grad_L.ravel(), grad_W.ravel()])

        return value_and_gradient

    def _run_lbfgs(self, X, codes, params):
        name = type(self).__name__
        objective = self._objective(X, codes)
        history = [objective(params)[0]]

        def after_iteration(intermediate_result):
            history.append(float(intermediate_result.fun))
            if self.verbose:
                print(f"[{name}] iteration {len(history) - 1:4d}  objective {history[-1]:.8g}")

        result = minimize(
            objective,
            params,
            jac=True,
            method="L-BFGS-B",
            callback=after_iteration,
            options={"maxiter": self.max_iter, "ftol": self.tol},
        )
        stopped = result.status == 1 and result.nit >= self.max_iter
        self._record_solve(
            len(history) - 1, history, not stopped, detail=f"objective {float(result.fun):.6g}"
        )
        return result.x

    def _run_sgd(self, X, codes, params, epochs, *, warn):
        objective = self._objective(X, codes)
        result = sgd(
            objective,
            params,
            len(codes),
            batch_size=self.batch_size,
            max_iter=epochs,
            optimizer=self._optimizer_,
            tol=self.tol,
            random_state=self.random_state,
            verbose=int(self.verbose),
            name=type(self).__name__,
        )
        # one partial_fit is one epoch: not converging there is the rule
        self._record_solve(
            result.n_iter, result.history, result.converged or not warn, what="epochs"
        )
        return result.x

    def _set_fitted(self, params, dtype=np.float64):
        L, W = self._unpack(params)
        if not (np.all(np.isfinite(L)) and np.all(np.isfinite(W))):
            raise ValueError(
                f"{type(self).__name__} diverged (non-finite parameters); lower "
                "learning_rate or scale, or increase alpha"
            )
        p, factor = self._map_factor()
        _, mean, lift = self._lift
        if mean is None:
            self.components_ = fitted_components(L * (factor / p), dtype)
            self.intercept_ = fitted_components(np.zeros(len(L)), dtype)
        else:
            # L acts on [x / p - mean, lift]: f (L[:, :-1] (x / p) + b) maps x in
            # the same direction, with b = lift L[:, -1] - L[:, :-1] mean
            features = L[:, :-1]
            self.components_ = fitted_components(features * (factor / p), dtype)
            self.intercept_ = fitted_components(
                factor * (lift * L[:, -1] - features @ mean), dtype
            )
        self.prototypes_ = W.copy() if self.loss == "softmax" else unit_rows(W)

    # -- prediction -------------------------------------------------------------

    def _class_logits(self, X):
        """Logits of each class for the points ``X``, without margin: ``scale *
        cos(theta_j)`` for the cosine losses, ``<Lx, w_j>`` for 'softmax'."""
        check_is_fitted(self, "components_")
        X = self._prepare_points(X, reset=False)
        if self.loss == "softmax":
            Z = affine_in_range(X, *self._map_arguments(X.dtype))
            return Z @ self.prototypes_.T
        U = _cosine_base.cosine_map(X, *self._map_arguments(X.dtype))
        return self._loss_settings()[0] * (U @ self.prototypes_.T)

    def predict_proba(self, X: ArrayLike) -> NDArray[np.floating]:
        """The model's class probabilities: the softmax of the logits without margin.

        The logits are ``scale * cos(theta_j)`` for the cosine losses and
        ``<Lx, w_j>`` for 'softmax'.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        return softmax(self._class_logits(X), axis=1)

    def predict(self, X: ArrayLike) -> NDArray[Any]:
        """Class of the most similar prototype (cosine; largest logit for 'softmax').

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        logits = self._class_logits(X)
        return self.classes_[np.argmax(logits, axis=1)]

    def score(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
        """Accuracy of :meth:`predict` (the nearest prototype) on ``X`` against ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
            The (weighted) fraction of correctly predicted samples.
        """
        return ClassifierMixin.score(self, X, y, sample_weight=sample_weight)
