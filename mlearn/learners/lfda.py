"""Local Fisher Discriminant Analysis (LFDA)."""

import numbers
import warnings
from typing import cast

import numpy as np
from numpy.typing import ArrayLike
from scipy.linalg import eigh
from sklearn.base import TransformerMixin

from .._sklearn_compat import Interval, StrOptions, _fit_context
from .._validation import check_class_labels, check_n_components
from ..base import BaseMetricLearner, MahalanobisMixin

# the unvalidated entry: the learner has checked its arguments
from ..pairwise._api import _pairwise_distances as pairwise_distances
from ._doc_pieces import fill_pieces
from ._dtypes import fitted_components
from ._scaling import FEATURE_SCALING_CONSTRAINT, FeatureScalingMixin
from ._tags import TargetRequiredMixin

__all__ = ["LFDA"]

#: Relative size under which an eigenvalue of a scatter matrix counts as zero.
RANK_TOL = 1e-10
#: Classes with fewer than this many pairs get their distances on one thread.
SMALL_CLASS_ENTRIES = 2**16


def data_subspace(scatter, learner, what="X"):
    """Orthonormal basis of the directions in which the data vary.

    ``scatter`` is the (total) scatter or covariance matrix of the data.
    Returns ``U`` of shape (n_features, rank); when the rank is smaller than
    n_features (constant or collinear features) a warning says that the
    learner is solved in that subspace and gives the other directions zero
    weight.
    """
    w, V = np.linalg.eigh((scatter + scatter.T) / 2)
    keep = w > RANK_TOL * max(w.max(), 0.0)
    rank, n_features = int(keep.sum()), scatter.shape[0]
    if rank == 0:
        raise ValueError(f"{learner} needs {what} that is not constant: all points are equal")
    if rank < n_features:
        warnings.warn(
            f"{what} spans only {rank} of its {n_features} dimensions (constant or "
            f"collinear features); {learner} reduced the dimension: it is solved in "
            f"that {rank}-dimensional subspace and the other directions get zero weight",
            UserWarning,
        )
    return V[:, keep][:, ::-1]


def group_blocks(codes, n_groups):
    """``(order, bounds)``: ``codes[order]`` is sorted, so that group ``g``
    (codes in ``0..n_groups-1``, each present) is the contiguous block
    ``order[bounds[g]:bounds[g + 1]]``."""
    order = np.argsort(codes, kind="stable")
    bounds = np.concatenate(([0], np.cumsum(np.bincount(codes, minlength=n_groups))))
    return order, bounds


def pad_rows(L, n_rows):
    """``L`` with zero rows appended up to ``n_rows`` rows."""
    if L.shape[0] >= n_rows:
        return L[:n_rows]
    return np.vstack([L, np.zeros((n_rows - L.shape[0], L.shape[1]))])


def flip_signs(V):
    """Make the largest-magnitude entry of each column positive (deterministic output)."""
    idx = np.argmax(np.abs(V), axis=0)
    signs = np.sign(V[idx, np.arange(V.shape[1])])
    signs[signs == 0] = 1.0
    return V * signs


@fill_pieces
class LFDA(
    TargetRequiredMixin, FeatureScalingMixin, MahalanobisMixin, TransformerMixin, BaseMetricLearner
):
    """Local Fisher Discriminant Analysis (Sugiyama).

    LFDA is Fisher discriminant analysis made local: pairs of points of the
    same class are weighted by an affinity that is large only for nearby
    points, so a class made of several separate clusters (multimodal) need
    not be squeezed into one. With local scaling affinities

    .. math::

        A_{ij} = \\exp\\left(-\\frac{\\|x_i - x_j\\|^2}{\\sigma_i \\sigma_j}\\right),

    ``σ_i`` the distance from ``x_i`` to its ``k``-th nearest neighbour in
    its class (to its nearest distinct point of the class when it has ``k``
    or more duplicates, whose scale would otherwise be zero), the local
    within-class and between-class scatters are

    .. math::

        S^{(w)} = \\tfrac12 \\sum_{i,j} W^{(w)}_{ij} (x_i - x_j)(x_i - x_j)^\\top,
        \\qquad
        S^{(b)} = \\tfrac12 \\sum_{i,j} W^{(b)}_{ij} (x_i - x_j)(x_i - x_j)^\\top,

    with :math:`W^{(w)}_{ij} = A_{ij}/n_c` and
    :math:`W^{(b)}_{ij} = A_{ij}(1/n - 1/n_c)` for two points of the same
    class ``c`` (``n_c`` points), and :math:`W^{(w)}_{ij} = 0`,
    :math:`W^{(b)}_{ij} = 1/n` otherwise. The components are the leading
    solutions of the generalized eigenproblem
    :math:`S^{(b)} \\varphi = \\lambda S^{(w)} \\varphi`.

    Directions in which ``X`` does not vary (constant or collinear features)
    are left out, with a warning, and get zero weight; a singular local
    within-class scatter in the remaining directions is regularised, with a
    warning. ``components_`` has zero rows where fewer than
    ``n_components`` directions exist. Classes that give no within-class
    scatter at all (every class a single point, or all its points equal)
    raise ``ValueError``.

    The scatters are invariant to any linear map of ``X``, but the
    affinities are not: ``σ_i`` and the neighbours come from Euclidean
    distances, and the rank tolerance is relative. With
    ``feature_scaling`` set (the default, 'range') they are computed on
    rescaled features, so ``fit(X @ D)`` for a positive diagonal ``D``
    learns the same neighbourhoods as ``fit(X)``; with 'orthonormalized'
    the rows of ``components_`` are then orthonormal in the rescaled
    units, not in the data's. With ``feature_scaling=None`` the result does
    not depend on a common scale of ``X`` (``fit(c * X)`` gives
    ``components_ / c``), at any finite magnitude: data whose largest
    magnitude lies outside [2**-100, 2**100] are scaled by a power of two
    (exactly) before the scatters are formed.

    Parameters
    ----------
    {n_components_space}
    k : int, default=None
        Neighbour used for the local scale ``σ_i`` (the k-th nearest point of
        the same class; fewer in classes with at most ``k`` points). None
        uses ``min(7, n_features - 1)`` (at least 1), metric-learn's default.
    embedding_type : {'weighted', 'orthonormalized', 'plain'}, default='weighted'
        - 'weighted': eigenvectors scaled by the square roots of their
          eigenvalues, so directions count by how discriminative they are.
        - 'orthonormalized': an orthonormal basis of the same subspace.
        - 'plain': the eigenvectors, normalised so that
          :math:`\\varphi^\\top S^{(w)} \\varphi = 1`.
    {preprocessor_points}
    {feature_scaling}

    Attributes
    ----------
    {fitted_linear_map}
    eigenvalues_ : ndarray of shape (n_components,)
        The generalized eigenvalues of the components (0 for padded rows).
    {fitted_feature_scale}
    {fitted_features}

    References
    ----------
    .. [1] M. Sugiyama, "Dimensionality Reduction of Multimodal Labeled Data
       by Local Fisher Discriminant Analysis", Journal of Machine Learning
       Research 8, 2007.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from mlearn import LFDA
    >>> X, y = load_iris(return_X_y=True)
    >>> lfda = LFDA(n_components=2, k=5).fit(X, y)
    >>> lfda.transform(X).shape
    (150, 2)

    No scaler is needed: a min-max scaler before LFDA changes no
    neighbourhood (``feature_scaling='range'``, the default), where without
    the folded rescaling it does:

    >>> import numpy as np
    >>> from scipy.spatial.distance import pdist
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import MinMaxScaler
    >>> def distances(*steps):
    ...     return pdist(make_pipeline(*steps).fit(X, y).transform(X))
    >>> bool(np.allclose(distances(LFDA(k=5)), distances(MinMaxScaler(), LFDA(k=5))))
    True
    >>> plain = LFDA(k=5, feature_scaling=None)
    >>> bool(np.allclose(distances(plain), distances(MinMaxScaler(), plain)))
    False

    Duplicated rows are no problem (a point's local scale is taken from its
    nearest distinct neighbour), and the metric scales with the data:

    >>> X2, y2 = np.repeat(X, 3, axis=0), np.repeat(y, 3)
    >>> big = LFDA(n_components=2, k=1).fit(X2 * 1e200, y2)
    >>> small = LFDA(n_components=2, k=1).fit(X2, y2)
    >>> bool(np.allclose(big.components_ * 1e200, small.components_))
    True
    """

    _parameter_constraints: dict = {
        **BaseMetricLearner._parameter_constraints,
        "n_components": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "k": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "embedding_type": [StrOptions({"weighted", "orthonormalized", "plain"})],
        "feature_scaling": FEATURE_SCALING_CONSTRAINT,
    }

    def __init__(
        self,
        n_components=None,
        k=None,
        embedding_type="weighted",
        preprocessor=None,
        feature_scaling="range",
    ):
        self.n_components = n_components
        self.k = k
        self.embedding_type = embedding_type
        self.feature_scaling = feature_scaling
        super().__init__(preprocessor=preprocessor)

    @fill_pieces
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: ArrayLike, y: ArrayLike) -> "LFDA":
        """Learn the linear map from labelled points.

        Parameters
        ----------
        {fit_training_points}
        y : array-like of shape (n_samples,)
            Class labels.

        Returns
        -------
        self : LFDA
        """
        X, y = cast(
            "tuple[np.ndarray, np.ndarray]",
            self._prepare_points(X, y, reset=True, ensure_min_samples=2),
        )
        check_class_labels(y)
        _check_within_class_pairs(y)
        dtype = X.dtype
        X = np.asarray(X, dtype=np.float64)
        X, scale = self._fitting_points(X)
        n_features = X.shape[1]
        n_components = check_n_components(self.n_components, n_features)
        k = max(1, min(7, n_features - 1)) if self.k is None else self.k
        S_between, S_within = local_scatters(X, y, k)
        w = np.linalg.eigvalsh(S_within)
        if w[0] > RANK_TOL * max(w[-1], 0.0):
            # S_within is below the total scatter (S_within <= X_c.T X_c), so
            # when it is well conditioned the data span every direction
            U, Sb, Sw = np.eye(n_features), S_between, S_within
        else:
            Xc = X - X.mean(axis=0)
            U = data_subspace(Xc.T @ Xc, "LFDA")
            Sb = U.T @ S_between @ U
            Sw = _regularise_within(U.T @ S_within @ U)
        m = min(n_components, U.shape[1])
        # the m largest; LAPACK's full solver is the faster one for all of them
        subset = None if m == U.shape[1] else [U.shape[1] - m, U.shape[1] - 1]
        try:
            vals, vecs = eigh(Sb, Sw, subset_by_index=subset)
        except np.linalg.LinAlgError as exc:
            raise ValueError(
                "LFDA's generalized eigenproblem failed: the local within-class "
                f"scatter is not numerically positive definite ({exc}); classes with "
                "more distinct points, a larger k or fewer features avoid this"
            ) from exc
        vals, vecs = vals[::-1], flip_signs(vecs[:, ::-1])
        vals = np.clip(vals, 0.0, None)
        if self.embedding_type == "weighted":
            vecs = vecs * np.sqrt(vals)
        elif self.embedding_type == "orthonormalized":
            vecs = flip_signs(np.linalg.qr(vecs)[0])
        self.components_ = fitted_components(pad_rows((U @ vecs).T, n_components) / scale, dtype)
        self.eigenvalues_ = np.concatenate([vals, np.zeros(n_components - m)])
        return self


def local_scatters(X, y, k):
    """Local between-class and within-class scatter matrices of LFDA.

    Returns ``(S_between, S_within)``, both of shape (n_features, n_features).
    """
    n_samples = X.shape[0]
    Xc = X - X.mean(axis=0)
    # 1/2 sum_ij (1/n) x_ij x_ij^T over all pairs is the total scatter
    S_between = Xc.T @ Xc
    S_within = np.zeros((X.shape[1], X.shape[1]))
    # the points sorted by class: each class is one contiguous block
    labels, codes = np.unique(y, return_inverse=True)
    order, bounds = group_blocks(codes.ravel(), len(labels))
    sorted_points = Xc[order]
    for c in range(len(labels)):
        members = sorted_points[bounds[c] : bounds[c + 1]]
        n_c = members.shape[0]
        if n_c < 2:
            continue
        members = members - members.mean(axis=0)
        # small classes: one thread, rather than waking the thread pool
        n_jobs = 1 if n_c * n_c < SMALL_CLASS_ENTRIES else None
        D = pairwise_distances(members, metric="sqeuclidean", n_jobs=n_jobs)
        sigma = _local_scales(D, min(k, n_c - 1))
        A = _affinities(D, sigma)
        local = _laplacian_scatter(members, A)
        S_within += local / n_c
        # the between-class weights of a pair in the class are
        # A_ij (1/n - 1/n_c) - 1/n; the scatter is linear in the weights, and
        # a constant weight of 1 gives n_c * members.T @ members (centred)
        S_between += (1.0 / n_samples - 1.0 / n_c) * local
        S_between -= (n_c / n_samples) * (members.T @ members)
    return (S_between + S_between.T) / 2, (S_within + S_within.T) / 2


def _check_within_class_pairs(y):
    _, counts = np.unique(y, return_counts=True)
    if counts.max() < 2:
        raise ValueError(
            "LFDA needs a class of y with at least two points: its within-class "
            f"scatter is made of pairs of points of one class, and each of the "
            f"{len(counts)} classes of y has a single point"
        )


def _local_scales(D, k):
    """``sigma_i``: the distance from point ``i`` to its ``k``-th nearest neighbour.

    ``D`` holds the squared distances within one class. A point with ``k`` or
    more duplicates would get a scale of zero, which gives all its pairs zero
    affinity (and, when every point is duplicated, a zero within-class
    scatter); it takes the distance to its nearest distinct point instead,
    and keeps 0 only when every point of the class is equal to it.
    """
    scales = np.partition(D, k, axis=1)[:, k]
    equal = scales == 0
    if equal.any():
        rows = D[equal]
        nearest = np.where(rows > 0, rows, np.inf).min(axis=1)
        scales[equal] = np.where(np.isfinite(nearest), nearest, 0.0)
    return np.sqrt(scales)


def _affinities(D, sigma):
    """``exp(-D_ij / (sigma_i sigma_j))``, 0 where ``sigma_i sigma_j == 0``.

    Computed in place over ``D`` (squared distances, no longer needed).
    """
    if sigma.min() > 0:
        inverse = 1.0 / sigma
        D *= inverse[:, None]
        D *= inverse[None, :]
        np.negative(D, out=D)
        return np.exp(D, out=D)
    # a class whose points are all equal has no scale; its pairs, of
    # identical points, carry no weight anyway
    scale = np.outer(sigma, sigma)
    with np.errstate(divide="ignore", invalid="ignore"):
        A = np.exp(-D / scale)
    A[scale == 0] = 0.0
    return A


def _laplacian_scatter(X, W):
    """``1/2 sum_ij W_ij (x_i - x_j)(x_i - x_j)^T``.

    Expanded, it is ``X.T diag((r + c) / 2) X - (P + P.T) / 2`` with ``r``
    and ``c`` the row and column sums of ``W`` and ``P = X.T W X``, which
    needs neither a symmetric ``W`` nor a symmetrised copy of it.
    """
    P = X.T @ (W @ X)
    degree = (W.sum(axis=0) + W.sum(axis=1)) / 2
    return (X * degree[:, None]).T @ X - (P + P.T) / 2


def _regularise_within(Sw):
    if not np.any(Sw):
        # with local scales taken from distinct neighbours, the closest distinct
        # pair of a class has affinity >= exp(-1): only constant classes are left
        raise ValueError(
            "the local within-class scatter of LFDA is zero: in every class of y "
            "with more than one point, all points are equal (duplicated rows), so "
            "there is no within-class spread to compare the classes against"
        )
    w = np.linalg.eigvalsh(Sw)
    if w[0] > RANK_TOL * max(w[-1], 0.0):
        return Sw
    mean = max(np.trace(Sw) / Sw.shape[0], np.finfo(float).tiny)
    ridge = 1e-3 * mean
    warnings.warn(
        "the local within-class scatter is singular (classes with few points "
        f"or affinities that vanish); LFDA regularised it by adding {ridge:.3g} "
        "(1e-3 times its mean eigenvalue) to its diagonal",
        UserWarning,
    )
    return Sw + ridge * np.eye(Sw.shape[0])
