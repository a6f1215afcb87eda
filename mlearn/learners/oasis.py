"""Online Algorithm for Scalable Image Similarity (OASIS), on triplets and from labels."""

import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike
from sklearn.utils import check_random_state

from .._lazy import lazy_callable
from .._sklearn_compat import Interval, StrOptions, _fit_context, check_array
from .._validation import check_class_labels, check_tuples
from ..base import (
    BaseMetricLearner,
    BilinearMixin,
    SparseRows,
    TripletsClassifierMixin,
    check_bilinear_preprocessor,
)
from ..constraints import Constraints
from ..linalg import project_psd
from ._dtypes import fitted_components
from ._scaling import FEATURE_SCALING_CONSTRAINT, FeatureScalingMixin, metric_to_fitted_units

oasis_updates = lazy_callable("mlearn.learners._oasis_kernels", "oasis_updates")
oasis_updates_dense = lazy_callable("mlearn.learners._oasis_kernels", "oasis_updates_dense")

__all__ = ["OASIS", "OASIS_Supervised", "update_order"]


def update_order(n_triplets, n_iter, random_state):
    """Which triplet each of ``n_iter`` updates takes: shuffled passes over all of them.

    Every triplet is used once per pass, each pass in a new random order,
    the last pass cut at ``n_iter`` updates.

    Returns
    -------
    order : ndarray of shape (n_iter,), int64
    """
    rng = check_random_state(random_state)
    n_passes = -(-n_iter // n_triplets)
    order = np.concatenate([rng.permutation(n_triplets) for _ in range(n_passes)])
    return order[:n_iter].astype(np.int64)


def as_csr_rows(X):
    """``X`` as canonical CSR arrays (indptr, indices, data): int64, int64, float64.

    The user's matrix is never changed: a non-canonical one is copied first.
    """
    X = sp.csr_matrix(X, dtype=np.float64)
    if not X.has_canonical_format:
        # sum_duplicates sorts in place: work on a copy of the user's matrix
        X = X.copy()
        X.sum_duplicates()
    return (
        X.indptr.astype(np.int64),
        X.indices.astype(np.int64),
        X.data.astype(np.float64, copy=False),
    )


def _update_kernel(X, n_features):
    """``update(triplets, order, W, c)``: the kernel for ``X``'s storage, bound to its rows."""
    diff_value = np.empty(n_features, dtype=np.float64)
    anchor_w = np.empty(n_features, dtype=np.float64)
    if not sp.issparse(X):
        X = np.ascontiguousarray(X, dtype=np.float64)
        return lambda triplets, order, W, c: oasis_updates_dense(
            X, triplets, order, W, c, diff_value, anchor_w
        )
    indptr, indices, data = as_csr_rows(X)
    diff_index = np.empty(n_features, dtype=np.int64)
    return lambda triplets, order, W, c: oasis_updates(
        indptr, indices, data, triplets, order, W, c, diff_index, diff_value, anchor_w
    )


def _squared_row_norms(X):
    if sp.issparse(X):
        return np.asarray(X.multiply(X).sum(axis=1)).ravel()
    return np.einsum("ij,ij->i", X, X)


class _BaseOASIS(BaseMetricLearner):
    """Parameters and update loop shared by :class:`OASIS` and :class:`OASIS_Supervised`."""

    _parameter_constraints = {
        **BaseMetricLearner._parameter_constraints,
        "preprocessor": [None, "array-like", "sparse matrix", callable],
        "c": [Interval(Real, 0, None, closed="neither")],
        "n_iter": [Interval(Integral, 1, None, closed="left")],
        "init": [StrOptions({"identity"}), "array-like"],
        "projection": [StrOptions({"symmetric", "psd"}), None],
        "projection_every": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
    }

    def _initial_matrix(self, n_features):
        if isinstance(self.init, str):
            return np.eye(n_features)
        W = check_array(self.init, dtype=np.float64, ensure_all_finite=True, input_name="init")
        if W.shape != (n_features, n_features):
            raise ValueError(
                f"init must be 'identity' or a matrix of shape ({n_features}, {n_features}) "
                f"matching the data's {n_features} features, got shape {W.shape}"
            )
        return W.copy()

    def _usable_triplets(self, X, triplets):
        """The triplets with ``x_a (x_p - x_n)ᵀ != 0``; the others can never be updated on."""
        name = type(self).__name__
        diff = X[triplets[:, 1]] - X[triplets[:, 2]]
        with np.errstate(over="ignore"):
            v_norm2 = _squared_row_norms(X)[triplets[:, 0]] * _squared_row_norms(diff)
        if not np.all(np.isfinite(v_norm2)):
            raise ValueError(
                f"{name} cannot update on these triplets: ||x_a||² ||x_p - x_n||² overflows "
                "float64 (the data's values are too large); rescale the data, e.g. with "
                "StandardScaler"
            )
        degenerate = v_norm2 == 0
        if not degenerate.any():
            return triplets
        if degenerate.all():
            raise ValueError(
                f"{name} needs triplets with a non-zero anchor and a positive different from "
                f"the negative: in all {len(triplets)} triplets x_a (x_p - x_n)ᵀ is zero "
                "(or underflows), so no update can satisfy them"
            )
        warnings.warn(
            f"{name}: in {int(degenerate.sum())} of {len(triplets)} triplets the anchor is "
            "zero or the positive equals the negative, so s(a, p) = s(a, n) for every W; "
            "they are left out",
            UserWarning,
        )
        return triplets[~degenerate]

    def _run_updates(self, X, triplets, order, W):
        """Apply the updates ``triplets[order]`` to ``W`` (in place), projecting as asked."""
        update = _update_kernel(X, W.shape[0])
        every = self.projection_every if self.projection is not None else None
        every = every or len(order)
        for start in range(0, len(order), every):
            update(triplets, order[start : start + every], W, float(self.c))
            self._project(W)
        if not np.all(np.isfinite(W)):
            raise ValueError(
                f"{type(self).__name__}'s updates overflowed (the products of the data's "
                "values exceed float64's range); rescale the data, e.g. with StandardScaler"
            )
        return W

    def _project(self, W):
        if self.projection == "symmetric":
            W[...] = (W + W.T) / 2
        elif self.projection == "psd":
            W[...] = project_psd(W)

    def _fit_rows(self, X, triplets, W, random_state):
        """Fit ``components_`` by ``n_iter`` updates on index triplets into the rows of ``X``."""
        triplets = self._usable_triplets(X, triplets)
        n_iter = self.n_iter
        order = update_order(len(triplets), n_iter, random_state)
        self.components_ = fitted_components(self._run_updates(X, triplets, order, W), X.dtype)
        self.n_iter_ = n_iter
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class OASIS(BilinearMixin, TripletsClassifierMixin, _BaseOASIS):
    r"""Online Algorithm for Scalable Image Similarity, on triplets.

    OASIS (Chechik, Sharma, Shalit and Bengio, 2010) learns a bilinear
    similarity :math:`s_W(x, y) = x^\top W y`, with ``W`` any square matrix
    (neither symmetric nor positive semidefinite), from triplets
    ``(a, p, n)`` stating that ``a`` is more similar to ``p`` than to ``n``.
    It wants a safety margin, :math:`s_W(a, p) \ge s_W(a, n) + 1`, and
    makes one passive-aggressive step per triplet: with
    :math:`V = x_a (x_p - x_n)^\top` and the hinge loss
    :math:`\ell = \max(0, 1 - s_W(a, p) + s_W(a, n))`,

    .. math::

        W \leftarrow W + \tau V, \qquad
        \tau = \min\left(c, \frac{\ell}{\|V\|_F^2}\right),

    the smallest change of ``W`` that satisfies the triplet, capped by the
    aggressiveness ``c``. A step touches only the rows of ``W`` at the
    anchor's non-zero features and the columns at those of ``x_p - x_n``:
    on sparse data (bag-of-words, histograms) its cost does not grow with
    the number of features. The loop runs in a compiled kernel.

    Read more in the :ref:`User Guide <oasis>`.

    Parameters
    ----------
    c : float, default=1e-3
        Aggressiveness: the largest step ``tau``. Smaller is more
        conservative (a stronger pull towards ``init``).
    n_iter : int, default=100000
        Number of updates. They take the triplets in shuffled passes (each
        triplet once per pass, a new order per pass).
    init : 'identity' or array-like of shape (n_features, n_features), default='identity'
        The starting ``W``; the identity starts from the dot product.
    projection : {'symmetric', 'psd'}, default=None
        Keep ``W`` symmetric (``(W + Wᵀ) / 2``) or symmetric positive
        semidefinite (negative eigenvalues of the symmetric part set to
        zero). None keeps the general ``W``.
    projection_every : int, default=None
        Project after every ``projection_every`` updates (and after the last
        one); None projects once, after the last update.
    preprocessor : array-like, sparse matrix, callable or None, default=None
        Lets triplets be given as ``(n_triplets, 3)`` identifiers. A scipy
        sparse matrix (CSR) is kept sparse: the triplets are its row
        indices, and neither fitting nor scoring densifies it.
    random_state : int, RandomState instance or None, default=None
        Seeds the order of the updates.

    Attributes
    ----------
    components_ : ndarray of shape (n_features, n_features)
        The bilinear matrix W.
    n_iter_ : int
        Number of updates run since the learner was (re)initialised by
        ``fit`` or by the first ``partial_fit``.
    n_features_in_ : int
        Number of features of the points.

    See Also
    --------
    OASIS_Supervised : OASIS on triplets drawn from class labels.

    Notes
    -----
    The defaults were chosen on held-out splits of digits and of the
    texture LBP histograms (standardised; one stratified 50/50 split each,
    distinct from the folds the user guide reports): among ``c`` in
    {1e-4, 1e-3, 0.01, 0.1} and ``n_iter`` in {10000, 50000, 100000}, the
    pair with the best mean relative MAP@R gain over the dot product of
    ``OASIS_Supervised``, ties (within 0.002) going to fewer updates
    (``benchmarks/bench_oasis.py``). The margin is one unit of
    similarity, so OASIS is not invariant to the scale of the data:
    standardise, or normalise the rows, first.

    A triplet with a zero anchor, or whose positive equals its negative, has
    ``s(a, p) = s(a, n)`` under every ``W``: such triplets are left out with
    a warning (all of them: a ``ValueError``).

    References
    ----------
    .. [1] G. Chechik, V. Sharma, U. Shalit and S. Bengio, "Large Scale
       Online Learning of Image Similarity Through Ranking", Journal of
       Machine Learning Research 11, 2010.

    Examples
    --------
    >>> import numpy as np
    >>> from mlearn import OASIS
    >>> triplets = np.array([[[1.0, 0.0], [0.9, 0.2], [0.0, 1.0]],
    ...                      [[0.0, 1.0], [0.1, 0.8], [1.0, 0.0]],
    ...                      [[1.0, 0.1], [1.0, 0.0], [0.2, 1.0]]])
    >>> oasis = OASIS(random_state=0).fit(triplets)
    >>> oasis.predict(triplets)
    array([1, 1, 1])
    >>> oasis.get_bilinear_matrix().shape
    (2, 2)
    """

    def __init__(
        self,
        c=1e-3,
        n_iter=100000,
        init="identity",
        projection=None,
        projection_every=None,
        preprocessor=None,
        random_state=None,
    ):
        super().__init__(preprocessor=preprocessor)
        self.c = c
        self.n_iter = n_iter
        self.init = init
        self.projection = projection
        self.projection_every = projection_every
        self.random_state = random_state

    def _triplet_rows(self, triplets, reset):
        """The rows the triplets refer to, and the triplets as indices into them."""
        if reset:
            self.preprocessor_ = check_bilinear_preprocessor(self.preprocessor)
        preprocessor = self.preprocessor_
        if isinstance(preprocessor, SparseRows):
            index = preprocessor.check_index_tuples(triplets, 3, "triplets")
            X = preprocessor.X
        else:
            t = check_tuples(
                triplets, tuple_size=3, preprocessor=preprocessor, caller=type(self).__name__
            )
            X = t.reshape(-1, t.shape[2])
            index = np.arange(X.shape[0], dtype=np.int64).reshape(-1, 3)
        if reset:
            self.n_features_in_ = X.shape[1]
        else:
            self._check_fitted_features(X.shape[1], "triplets")
        return X, index

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, triplets: ArrayLike, y: None = None) -> "OASIS":
        """Learn ``W`` from triplets, starting from ``init``.

        Parameters
        ----------
        triplets : array-like of shape (n_triplets, 3, n_features) or (n_triplets, 3)
            Triplets ``(a, p, n)`` such that ``s(a, p)`` should exceed
            ``s(a, n)``; identifiers when a preprocessor is set.
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : OASIS
        """
        X, index = self._triplet_rows(triplets, reset=True)
        return self._fit_rows(X, index, self._initial_matrix(X.shape[1]), self.random_state)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, triplets: ArrayLike, y: None = None) -> "OASIS":
        """Update ``W`` with one pass over ``triplets``, in the order given.

        The first call starts from ``init``; later calls continue from the
        current ``W``, so that a stream of triplets can be learned batch by
        batch (``n_iter`` and ``random_state`` play no part). Calling it
        on batches ``T1, T2`` gives the ``W`` of one call on ``T1`` followed
        by ``T2`` (projection aside, which follows each call).

        Parameters
        ----------
        triplets : array-like of shape (n_triplets, 3, n_features) or (n_triplets, 3)
        y : None
            Ignored.

        Returns
        -------
        self : OASIS

        Examples
        --------
        >>> import numpy as np
        >>> from mlearn import OASIS
        >>> rng = np.random.RandomState(0)
        >>> oasis = OASIS()
        >>> for _ in range(3):  # a stream of batches of 10 triplets
        ...     oasis = oasis.partial_fit(rng.randn(10, 3, 4))
        >>> oasis.n_iter_
        30
        """
        first = not hasattr(self, "components_")
        X, index = self._triplet_rows(triplets, reset=first)
        # a float32 W continues in float64, as every fit computes
        W = self._initial_matrix(X.shape[1]) if first else self.components_.astype(np.float64)
        index = self._usable_triplets(X, index)
        order = np.arange(len(index), dtype=np.int64)
        self.components_ = fitted_components(self._run_updates(X, index, order, W), X.dtype)
        self.n_iter_ = (0 if first else self.n_iter_) + len(order)
        return self


class OASIS_Supervised(FeatureScalingMixin, BilinearMixin, _BaseOASIS):
    """OASIS on triplets drawn from class labels.

    ``n_constraints`` triplets ``(a, p, n)`` are drawn at random, ``a`` and
    ``p`` of one class and ``n`` of another (see
    :meth:`mlearn.Constraints.triplets`), and OASIS runs ``n_iter``
    updates on them. ``X`` may be a scipy sparse matrix: it is used as CSR
    and never densified.

    A bilinear similarity has no ``transform``; retrieve with
    ``mlearn.pairwise.kneighbors(Q, X, metric="bilinear",
    M=learner.get_bilinear_matrix())`` or score with
    ``mlearn.metrics.mean_average_precision_at_r(X, y, metric="bilinear",
    M=...)``.

    Read more in the :ref:`User Guide <oasis>`.

    Parameters
    ----------
    c : float, default=1e-3
        Aggressiveness: the largest step of an update.
    n_iter : int, default=100000
        Number of updates.
    n_constraints : int, default=None
        Number of triplets drawn (their similar pairs distinct); None draws
        ``n_iter``, or half of the similar pairs the labels give when there
        are fewer than ``2 * n_iter``.
    init : 'identity' or array-like of shape (n_features, n_features), default='identity'
    projection : {'symmetric', 'psd'}, default=None
    projection_every : int, default=None
        As in :class:`OASIS`.
    preprocessor : array-like of shape (n_samples, n_features), callable or None, default=None
        Lets ``X`` be given as a 1-D array of identifiers.
    random_state : int, RandomState instance or None, default=None
        Seeds the triplets and the order of the updates.
    feature_scaling : {'range', 'standard'} or None, default='range'
        'range' learns on the features divided by their ranges (largest
        minus smallest training value) times one common factor that makes
        their variances average 1, 'standard' by their standard
        deviations (not centred: a bilinear similarity depends on the
        origin), and folds the division into ``W``, so that
        ``fit(X @ D)`` for a positive diagonal ``D`` gives the same
        rankings as ``fit(X)``; an ``init`` array is read in the data's
        units. Sparse ``X`` stays sparse. None learns on ``X`` as given.

    Attributes
    ----------
    components_ : ndarray of shape (n_features, n_features)
        The bilinear matrix W.
    n_iter_ : int
        Number of updates run.
    feature_scale_ : ndarray of shape (n_features,) or None
        What ``fit`` divided each feature by (with ``feature_scaling`` set),
        or None.
    n_features_in_ : int
        Number of features seen in ``fit``.

    See Also
    --------
    OASIS : the same learner on triplets given directly.

    Notes
    -----
    Defaults as in :class:`OASIS`.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.preprocessing import StandardScaler
    >>> from mlearn import OASIS_Supervised
    >>> from mlearn.metrics import mean_average_precision_at_r
    >>> X, y = load_iris(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> oasis = OASIS_Supervised(random_state=0).fit(X, y)
    >>> W = oasis.get_bilinear_matrix()
    >>> learned = mean_average_precision_at_r(X, y, metric="bilinear", M=W)
    >>> dot = mean_average_precision_at_r(X, y, metric="bilinear", M=np.eye(4))
    >>> bool(learned > dot)
    True
    """

    _parameter_constraints = {
        **_BaseOASIS._parameter_constraints,
        # X itself may be sparse; a preprocessor maps identifiers to dense points
        "preprocessor": BaseMetricLearner._parameter_constraints["preprocessor"],
        "n_constraints": [Interval(Integral, 1, None, closed="left"), None],
        "feature_scaling": FEATURE_SCALING_CONSTRAINT,
    }

    def __init__(
        self,
        c=1e-3,
        n_iter=100000,
        n_constraints=None,
        init="identity",
        projection=None,
        projection_every=None,
        preprocessor=None,
        random_state=None,
        feature_scaling="range",
    ):
        super().__init__(preprocessor=preprocessor)
        self.feature_scaling = feature_scaling
        self.c = c
        self.n_iter = n_iter
        self.n_constraints = n_constraints
        self.init = init
        self.projection = projection
        self.projection_every = projection_every
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: ArrayLike, y: ArrayLike) -> "OASIS_Supervised":
        """Draw triplets from the labels and learn ``W``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class labels of at least 2 classes, one of them with 2 points or
            more; negative integers mark unlabelled points.

        Returns
        -------
        self : OASIS_Supervised
        """
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None: "
                "its triplets are drawn from class labels"
            )
        X, y = self._prepare_points(X, y, reset=True, accept_sparse="csr", ensure_min_samples=2)
        check_class_labels(y)
        rng = check_random_state(self.random_state)
        n_constraints = self._n_constraints(y)
        with warnings.catch_warnings():
            if self.n_constraints is None:
                # the default asks for as many triplets as updates, whatever the data size
                warnings.filterwarnings("ignore", message="only .* distinct", category=UserWarning)
            triplets = Constraints(y).triplets(n_constraints, random_state=rng)
        if sp.issparse(X):
            X = sp.csr_matrix(X)
        n_features = X.shape[1]  # type: ignore[union-attr]  # checked: an array or CSR matrix
        W0 = self._initial_matrix(n_features)
        # a similarity of products, not of differences: no centring
        X, scale = self._fitting_points(X, center=False, power_of_two=False)
        if self.feature_scaling is not None and not isinstance(self.init, str):
            W0 = metric_to_fitted_units(W0, scale)
        self._fit_rows(X, triplets, W0, rng)
        if self.feature_scaling is not None:
            # s_W(x, y) = (x / s)' W (y / s): W / (s s') for the data as given
            # in place: W may be large (n_features ** 2)
            W = self.components_
            learned = bool(np.any(W))
            with np.errstate(over="ignore", under="ignore"):
                W *= (1.0 / scale).astype(W.dtype)[:, None]
                W *= (1.0 / scale).astype(W.dtype)[None, :]
            if not np.all(np.isfinite(W)) or (learned and not np.any(W)):
                raise ValueError(
                    f"{type(self).__name__}: W in the units of the data leaves float64's "
                    "range (the features' spreads are near its limits); divide the data "
                    "by a constant first"
                )
        return self

    def _n_constraints(self, y):
        """``n_constraints``, or by default ``n_iter`` up to half the labels' similar pairs.

        Drawing distinct pairs gets slow as they run out: the default stops
        at half of them (the updates then take them in several passes).
        """
        if self.n_constraints is not None:
            return self.n_constraints
        known = y[y >= 0] if y.dtype.kind in "iuf" else y
        sizes = np.unique(known, return_counts=True)[1].astype(np.int64)
        n_similar = int(np.sum(sizes * (sizes - 1) // 2))
        return max(1, min(self.n_iter, n_similar // 2))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"requires_y": True}
