"""Relevant Components Analysis (RCA) and its supervised form."""

import numbers
import warnings
from typing import cast

import numpy as np
from numpy.typing import ArrayLike
from scipy.linalg import eigh
from sklearn.base import TransformerMixin
from sklearn.covariance import ledoit_wolf_shrinkage
from sklearn.utils import check_random_state

from .._sklearn_compat import Interval, _fit_context
from .._validation import check_class_labels, check_n_components
from ..base import BaseMetricLearner, MahalanobisMixin
from ..constraints import Constraints
from ._doc_pieces import fill_pieces
from ._dtypes import fitted_components
from ._scaling import FEATURE_SCALING_CONSTRAINT, FeatureScalingMixin
from ._tags import TargetRequiredMixin
from .lfda import RANK_TOL, data_subspace, flip_signs, group_blocks, pad_rows

__all__ = ["RCA", "RCA_Supervised"]


@fill_pieces
class RCA(
    TargetRequiredMixin, FeatureScalingMixin, MahalanobisMixin, TransformerMixin, BaseMetricLearner
):
    """Relevant Components Analysis (Shental et al., Bar-Hillel et al.).

    RCA learns from *chunklets*: small groups of points known to belong to
    the same (unknown) class. Variation inside a chunklet is irrelevant to
    the class, so RCA whitens the average within-chunklet covariance

    .. math::

        C = \\frac{1}{N} \\sum_{\\text{chunklets } k} \\sum_{i \\in k}
            (x_i - m_k)(x_i - m_k)^\\top, \\qquad M = C^{-1},

    (``m_k`` the chunklet mean, ``N`` the number of points in chunklets),
    so that directions along which chunklet members disagree are shrunk and
    the others stretched. ``components_`` is :math:`C^{-1/2}`.

    With ``n_components`` smaller than the number of directions, the
    directions with the smallest ratio of within-chunklet to total variance
    are kept first (a constrained Fisher discriminant), then whitened.

    Rank deficiency never produces NaN:

    - directions in which ``X`` does not vary (constant or collinear
      features) are left out: RCA reduces the dimension, gives them zero
      weight and warns;
    - when the chunklets are too few to estimate ``C`` in the remaining
      directions (``C`` singular), ``C`` is regularised by Ledoit-Wolf
      shrinkage towards a multiple of the identity, and a warning gives the
      shrinkage coefficient;
    - when ``C`` is zero (every chunklet holds copies of one point, e.g.
      duplicated rows), there is nothing to whiten and ``fit`` raises
      ``ValueError``.

    Whitening is invariant to any linear map of ``X``, but the rank
    tolerance and the shrinkage towards a multiple of the identity are not.
    With ``feature_scaling`` set (the default, 'range') they act on
    rescaled features, so ``fit(X @ D)`` for a positive diagonal ``D``
    learns the same neighbourhoods as ``fit(X)``. With
    ``feature_scaling=None`` the result does not depend on a common scale
    of ``X`` (``fit(c * X)`` gives ``components_ / c``), at any finite
    magnitude: data whose largest magnitude lies outside [2**-100, 2**100]
    are scaled by a power of two (exactly) before the covariances are
    formed.

    Parameters
    ----------
    n_components : int, default=None
        Dimension of the learned space (rows of ``components_``); None keeps
        n_features. Rows beyond the number of directions in which ``X``
        varies are zero.
    {preprocessor_points}
    {feature_scaling}

    Attributes
    ----------
    {fitted_linear_map}
    {fitted_feature_scale}
    {fitted_features}

    See Also
    --------
    RCA_Supervised : draws the chunklets from class labels.

    References
    ----------
    .. [1] N. Shental, T. Hertz, D. Weinshall and M. Pavel, "Adjustment
       Learning and Relevant Component Analysis", ECCV 2002.
    .. [2] A. Bar-Hillel, T. Hertz, N. Shental and D. Weinshall, "Learning a
       Mahalanobis Metric from Equivalence Constraints", Journal of Machine
       Learning Research 6, 2005.

    Examples
    --------
    >>> import numpy as np
    >>> from mlearn import RCA
    >>> X = np.array([[-0.05, 3.0], [0.05, -3.0], [0.1, -3.55], [-0.1, 3.55],
    ...               [-0.95, -0.05], [0.95, 0.05], [0.4, 0.05], [-0.4, -0.05]])
    >>> chunks = [0, 0, 1, 1, 2, 2, 3, 3]
    >>> rca = RCA().fit(X, chunks)
    >>> rca.components_.shape
    (2, 2)

    The same data at another scale give the same metric, scaled:

    >>> tiny = RCA().fit(X * 1e-200, chunks)
    >>> bool(np.allclose(tiny.components_ * 1e-200, rca.components_))
    True
    """

    _parameter_constraints: dict = {
        **BaseMetricLearner._parameter_constraints,
        "n_components": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "feature_scaling": FEATURE_SCALING_CONSTRAINT,
    }

    def __init__(self, n_components=None, preprocessor=None, feature_scaling="range"):
        self.n_components = n_components
        self.feature_scaling = feature_scaling
        super().__init__(preprocessor=preprocessor)

    @fill_pieces
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(
        self, X: ArrayLike, y: ArrayLike | None = None, *, chunks: ArrayLike | None = None
    ) -> "RCA":
        """Learn the linear map from chunklets.

        Parameters
        ----------
        {fit_training_points}
        y : array-like of int, shape (n_samples,)
            The chunklet of each point: ``y[i] = j >= 0`` puts point ``i`` in
            chunklet ``j``; ``y[i] = -1`` leaves it out of every chunklet.
            ``fit(X, chunks)`` as in metric-learn passes them here.
        chunks : array-like of int, shape (n_samples,), default=None
            The same, by keyword (metric-learn's name); give ``y`` or
            ``chunks``, not both.

        Returns
        -------
        self : RCA
        """
        if chunks is not None:
            if y is not None:
                raise ValueError("give the chunklets as y or as chunks, not both")
            y = chunks
        if y is None:
            raise ValueError(
                "RCA requires y to be passed, but the target y is None: give the "
                "chunklet of each point (-1 for none)"
            )
        X, chunks = self._prepare_points(X, y, reset=True, ensure_min_samples=2)
        chunks = _check_chunks(chunks)
        return self._fit_chunks(X, chunks)

    def _fit_chunks(self, X, chunks):
        dtype = X.dtype
        X = np.asarray(X, dtype=np.float64)
        n_features = X.shape[1]
        n_components = check_n_components(self.n_components, n_features)
        X, scale = self._fitting_points(X)
        self.components_ = fitted_components(
            _rca_components(X, chunks, n_components) / scale, dtype
        )
        return self


def _rca_components(X, chunks, n_components):
    """RCA's linear map, of shape (n_components, n_features)."""
    n_features = X.shape[1]
    inner, in_chunks = chunklet_covariance(X, chunks)
    if n_components == n_features:
        w, V = np.linalg.eigh(inner)
        if w[0] > RANK_TOL * max(w[-1], 0.0):
            # C is well conditioned, so the data span every direction:
            # the symmetric C^(-1/2), without the subspace below
            return _inverse_sqrt(inner, (w, V))
    Xc = X - X.mean(axis=0)
    U = data_subspace(Xc.T @ Xc, "RCA")
    rank = U.shape[1]
    # coordinates of the chunk-centred points in the data subspace, for
    # the shrinkage estimate
    C = U.T @ inner @ U
    C = _regularise_inner(C, in_chunks, U)
    if n_components < rank:
        # constrained Fisher discriminant: smallest within / total ratio
        Xs = X[chunks >= 0] @ U
        total = np.atleast_2d(np.cov(Xs, rowvar=False))
        # a ridge relative to the data's own variance, so that the result
        # does not depend on their scale
        total = total + RANK_TOL * np.trace(total) * np.eye(rank)
        _, A = eigh(C, total, subset_by_index=[0, n_components - 1])
        A = flip_signs(A)
        L = _inverse_sqrt(A.T @ C @ A) @ A.T
    elif n_components == n_features:
        # the symmetric C^(-1/2), as in the papers (and metric-learn)
        return U @ _inverse_sqrt(C) @ U.T
    else:
        L = _inverse_sqrt(C)
    return pad_rows(L @ U.T, n_components)


@fill_pieces
class RCA_Supervised(RCA):
    """RCA on chunklets drawn from class labels.

    ``n_chunks`` chunklets of ``chunk_size`` points of the same class are
    drawn at random (disjoint) and handed to :class:`RCA`. When the classes
    hold fewer points than that needs (e.g. the default 100 chunklets of 2
    on a data set of 150 points), as many chunklets as they allow are drawn,
    with a warning.

    Parameters
    ----------
    n_components : int, default=None
        Dimension of the learned space; None keeps n_features.
    n_chunks : int, default=100
        Number of chunklets to draw. ``num_chunks``, its old name, is
        accepted with a ``FutureWarning``.
    chunk_size : int, default=2
        Number of points in each chunklet.
    {preprocessor_points}
    random_state : int, RandomState instance or None, default=None
        Seeds the drawing of the chunklets.
    {feature_scaling}

    Attributes
    ----------
    {fitted_linear_map}
    chunks_ : ndarray of shape (n_samples,)
        The chunklet of each training point (-1 for points in none).
    {fitted_feature_scale}
    {fitted_features}

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from mlearn import RCA_Supervised
    >>> X, y = load_iris(return_X_y=True)
    >>> rca = RCA_Supervised(n_chunks=30, chunk_size=2, random_state=0).fit(X, y)
    >>> rca.transform(X).shape
    (150, 4)
    """

    _deprecated_aliases = {"num_chunks": "n_chunks"}

    _parameter_constraints: dict = {
        **RCA._parameter_constraints,
        "n_chunks": [Interval(numbers.Integral, 1, None, closed="left")],
        "chunk_size": [Interval(numbers.Integral, 2, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        n_components=None,
        n_chunks=100,
        chunk_size=2,
        preprocessor=None,
        random_state=None,
        feature_scaling="range",
    ):
        super().__init__(
            n_components=n_components, preprocessor=preprocessor, feature_scaling=feature_scaling
        )
        self.n_chunks = n_chunks
        self.chunk_size = chunk_size
        self.random_state = random_state

    @fill_pieces
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: ArrayLike, y: ArrayLike) -> "RCA_Supervised":  # type: ignore[override]
        """Draw chunklets from the labels and learn the linear map.

        Parameters
        ----------
        {fit_training_points}
        y : array-like of shape (n_samples,)
            Class labels; negative numbers (e.g. -1) mark unlabelled points,
            which join no chunklet.

        Returns
        -------
        self : RCA_Supervised
        """
        X, y = cast(
            "tuple[np.ndarray, np.ndarray]",
            self._prepare_points(X, y, reset=True, ensure_min_samples=2),
        )
        check_class_labels(y)
        # negative labels mark unlabelled points, which join no chunklet
        labelled = y >= 0 if y.dtype.kind in "iuf" else np.ones(len(y), dtype=bool)
        codes = np.full(len(y), -1, dtype=np.int64)
        codes[labelled] = np.unique(y[labelled], return_inverse=True)[1].ravel()
        capacity = int(np.sum(np.bincount(codes[labelled]) // self.chunk_size))
        if capacity == 0:
            raise ValueError(
                f"no class of y has chunk_size={self.chunk_size} points, so no chunklet "
                "can be drawn; lower chunk_size"
            )
        n_chunks = self.n_chunks
        if capacity < n_chunks:
            warnings.warn(
                f"n_chunks={n_chunks} chunklets of chunk_size={self.chunk_size} points "
                f"need more points per class than y has; RCA_Supervised draws the "
                f"{capacity} chunklets the classes allow",
                UserWarning,
            )
            n_chunks = capacity
        chunks = Constraints(codes).chunks(
            n_chunks=n_chunks,
            chunk_size=self.chunk_size,
            random_state=check_random_state(self.random_state),
        )
        self.chunks_ = chunks
        return self._fit_chunks(X, chunks)


def _check_chunks(chunks):
    chunks = np.asarray(chunks)
    if chunks.dtype.kind not in "iuf" or chunks.ndim != 1:
        raise ValueError(
            "Unknown label type for chunks: expected a 1-D array of integer chunklet "
            f"indices (-1 for no chunklet), got dtype {chunks.dtype} and shape "
            f"{chunks.shape}"
        )
    if chunks.dtype.kind == "f" and not np.all(chunks == np.round(chunks)):
        raise ValueError("chunks must hold integer chunklet indices (-1 for no chunklet)")
    chunks = chunks.astype(np.int64)
    if np.any(chunks < -1):
        raise ValueError(
            "chunks must hold chunklet indices >= 0, or -1 for points in no chunklet; "
            f"got {int(chunks.min())}"
        )
    return chunks


def chunklet_covariance(X, chunks):
    """Average within-chunklet covariance of RCA and the chunk-centred points.

    Returns ``(C, centred)``: ``C`` of shape (n_features, n_features) and the
    points of all chunklets, each minus its chunklet's mean.
    """
    in_chunk = chunks >= 0
    labels, inverse = np.unique(chunks[in_chunk], return_inverse=True)
    sizes = np.bincount(inverse, minlength=len(labels))
    if not np.any(sizes >= 2):
        raise ValueError(
            "chunks must put at least two points in one chunklet; got "
            f"{len(labels)} chunklets of one point each"
        )
    order, bounds = group_blocks(inverse, len(labels))
    # measured from one member of its chunklet, a copy of that member is
    # exactly zero (the chunklet mean, rounded, would leave a residue that
    # RCA would then whiten as if it were variation)
    points = X[in_chunk]
    points = points - points[order[bounds[:-1]]][inverse]
    sums = np.add.reduceat(points[order], bounds[:-1], axis=0)
    centred = points - (sums / sizes[:, None])[inverse]
    if not np.any(centred):
        raise ValueError(
            "every chunklet holds copies of one point (duplicated rows), so the "
            "within-chunklet covariance is zero and RCA has no irrelevant variation "
            "to whiten; chunklets need distinct points"
        )
    C = centred.T @ centred / points.shape[0]
    return (C + C.T) / 2, centred


def _regularise_inner(C, in_chunks, U):
    """``C`` (the inner covariance in the basis ``U``), shrunk when singular."""
    w = np.linalg.eigvalsh(C)
    if w[0] > RANK_TOL * max(w[-1], 0.0):
        return C
    centred = in_chunks @ U
    rank = int(np.sum(w > RANK_TOL * max(w[-1], 0.0)))
    shrinkage = float(ledoit_wolf_shrinkage(centred, assume_centered=True))
    shrinkage = min(max(shrinkage, 1e-3), 1.0)
    mean = np.trace(C) / C.shape[0]
    warnings.warn(
        f"the within-chunklet covariance has rank {rank} in a {C.shape[0]}-dimensional "
        "space (too few chunklets, or chunklet differences that are collinear); RCA "
        f"regularised it by Ledoit-Wolf shrinkage towards {mean:.3g} times the "
        f"identity with coefficient {shrinkage:.3g}. More or larger chunklets avoid this.",
        UserWarning,
    )
    return (1.0 - shrinkage) * C + shrinkage * mean * np.eye(C.shape[0])


def _inverse_sqrt(C, eigen=None):
    """The symmetric ``C^(-1/2)``; ``eigen`` is ``eigh(C)`` when already known."""
    w, V = np.linalg.eigh((C + C.T) / 2) if eigen is None else eigen
    return (V / np.sqrt(w)) @ V.T
