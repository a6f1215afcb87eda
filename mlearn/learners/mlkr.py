"""Metric Learning for Kernel Regression (MLKR)."""

from typing import cast

import numpy as np
from numpy.typing import ArrayLike

from .._lazy import lazy_callable
from .._sklearn_compat import StrOptions, _fit_context
from ..linalg import power_of_two_scale
from ._doc_pieces import fill_pieces
from ._dtypes import fitted_components
from .nca import _SoftmaxNeighbourLearner

SoftmaxObjective = lazy_callable("mlearn.learners._nca_kernels", "SoftmaxObjective")

__all__ = ["MLKR"]


@fill_pieces
class MLKR(_SoftmaxNeighbourLearner):
    """Metric Learning for Kernel Regression (Weinberger & Tesauro).

    MLKR learns the linear map ``L`` under which a Gaussian-kernel
    (Nadaraya-Watson) regressor predicts real targets best. Each training
    point is predicted from all the others,

    .. math::

        \\hat y_i = \\sum_{j \\neq i} p_{ij} y_j, \\qquad
        p_{ij} = \\frac{\\exp(-\\|L x_i - L x_j\\|^2)}
                       {\\sum_{k \\neq i} \\exp(-\\|L x_i - L x_k\\|^2)},

    and ``fit`` minimises the leave-one-out squared error
    :math:`\\sum_i (\\hat y_i - y_i)^2` with L-BFGS-B on ``L`` using the exact
    gradient

    .. math::

        2 L \\sum_{i, j} 2 (\\hat y_i - y_i)\\, p_{ij}\\, (\\hat y_i - y_j)\\,
        (x_i - x_j)(x_i - x_j)^\\top .

    The softmax is computed in cache-sized blocks of rows by the same
    compiled kernels as :class:`mlearn.NCA`; nothing of size
    n x n x n_features is formed.

    Parameters
    ----------
    {n_components_space}
    init : {'auto', 'pca', 'identity', 'random'} or array-like of shape \
            (n_components, n_features), default='auto'
        Initial linear map. 'auto' uses 'pca' when ``n_components <
        min(n_features, n_samples)`` and 'identity' otherwise (targets are
        real numbers, so there is no 'lda').
    tol : float, default=None
        Convergence tolerance handed to SciPy's L-BFGS-B (both the relative
        decrease of the objective and the largest gradient entry); None uses
        SciPy's defaults, as metric-learn does.
    max_iter : int, default=1000
        Maximum number of L-BFGS iterations.
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
        The objective L-BFGS minimises (the leave-one-out squared error of
        kernel regression) at the start and after each iteration.
    {fitted_feature_scale}
    {fitted_features}

    See Also
    --------
    mlearn.NCA : the same softmax neighbourhood for class labels.

    Notes
    -----
    The scale of ``L`` is the kernel's bandwidth, so it is learned too; the
    initial neighbourhoods should be neither a single point nor the whole
    data set. With ``feature_scaling`` set (the default, 'range') the fit
    starts on rescaled features whatever their units, so ``fit(X @ D)`` for a
    positive diagonal ``D`` learns the same neighbourhoods as ``fit(X)``;
    with ``feature_scaling=None`` scale the features (or choose
    ``init``) yourself.

    With ``feature_scaling=None``, points whose largest magnitude lies
    outside ``[2**-100, 2**100]`` are fitted divided by a power of two that
    brings it into ``[0.5, 1)`` (exactly), so that no squared distance
    overflows; ``components_`` is divided by it (an ``init`` array and
    warm-start ``components_`` multiplied by it). Targets beyond that range
    are divided the same way, so that no squared error overflows. The
    targets' scale multiplies the loss, not its minimisers; ``verbose`` then
    prints the loss of the rescaled targets.

    References
    ----------
    .. [1] K. Q. Weinberger and G. Tesauro, "Metric Learning for Kernel
       Regression", AISTATS 2007.

    Examples
    --------
    >>> import numpy as np
    >>> from mlearn import MLKR
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(200, 4)
    >>> y = 3 * X[:, 0] + 0.1 * rng.randn(200)   # only the first feature matters
    >>> mlkr = MLKR(max_iter=50, random_state=0).fit(X, y)
    >>> weights = np.linalg.norm(mlkr.components_, axis=0)
    >>> int(np.argmax(weights))
    0
    """

    _kind = "mlkr"

    _parameter_constraints: dict = {
        **_SoftmaxNeighbourLearner._parameter_constraints,
        "init": [StrOptions({"auto", "pca", "identity", "random"}), "array-like"],
    }

    def __init__(
        self,
        n_components=None,
        init="auto",
        tol=None,
        max_iter=1000,
        verbose=False,
        preprocessor=None,
        random_state=None,
        warm_start=False,
        callback=None,
        feature_scaling="range",
    ):
        self.n_components = n_components
        self.init = init
        self.tol = tol
        self.max_iter = max_iter
        self.verbose = verbose
        self.random_state = random_state
        self.warm_start = warm_start
        self.callback = callback
        self.feature_scaling = feature_scaling
        super().__init__(preprocessor=preprocessor)

    @fill_pieces
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: ArrayLike, y: ArrayLike) -> "MLKR":
        """Learn the linear map from points and real-valued targets.

        Parameters
        ----------
        {fit_training_points}
        y : array-like of shape (n_samples,)
            Real-valued targets.

        Returns
        -------
        self : MLKR
        """
        X, y = cast(
            "tuple[np.ndarray, np.ndarray]",
            self._prepare_points(X, y, reset=True, ensure_min_samples=2, y_numeric=True),
        )
        dtype = X.dtype
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64).ravel()
        # points and targets beyond 2**±100 are fitted at power-of-two scales
        # (exact): the squared distances and the squared errors stay finite.
        # Scaling the targets multiplies the loss, not its minimisers.
        X, scale = self._fitting_points(X)
        y_scale = power_of_two_scale(y)
        if y_scale != 1.0:
            y = y / y_scale
        L0 = self._initial_components(X, None, X.shape[1], scale)
        objective = SoftmaxObjective(X, y, "mlkr", L0.shape[0])
        self.components_ = fitted_components(self._minimize(objective, L0, scale) / scale, dtype)
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.single_output = True
        tags.target_tags.multi_output = False
        return tags
