"""Shared surface of the learners of a cosine similarity.

A learner of ``s(x, y) = <Lx, Ly> / (||Lx|| ||Ly||)`` fits a linear map L,
as a Mahalanobis learner does, but compares the directions of the mapped
points, not their positions. :class:`CosineMixin` gives it its public
surface: ``transform`` (unit-norm rows of ``X @ L.T``), ``pair_score`` (the
cosine), ``pair_distance`` (one minus the cosine) and ``get_metric``.
"""

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ..base import MahalanobisMixin, _as_point, _MapFunction

__all__ = ["CosineDistance", "CosineMixin", "cosine_map", "unit_distance", "unit_rows"]


def _power_of_two_rows(Z):
    """Each row of ``Z`` divided (exactly) by the power of two nearest its
    largest entry, so that sums of squares and products of the rows neither
    overflow nor underflow; zero rows stay zero."""
    largest = np.max(np.abs(Z), axis=1, keepdims=True)
    return np.ldexp(Z, -np.frexp(largest)[1].astype(np.int32))


def unit_rows(Z):
    """Rows of ``Z`` divided by their norms; zero rows stay zero."""
    scaled = _power_of_two_rows(Z)
    norms = np.sqrt(np.sum(scaled * scaled, axis=1, keepdims=True))
    return np.divide(scaled, norms, out=np.zeros_like(scaled), where=norms > 0)


def cosine_map(X, components_t, intercept=None):
    """``unit_rows(X @ components_t + intercept)``, safe from overflow for any finite ``X``.

    Each row and the intercept are divided by the same power of two, one
    that brings the larger of their largest magnitudes near one: the image
    is divided by it too (exactly), which the normalisation removes.
    """
    largest = np.max(np.abs(X), axis=1, keepdims=True)
    if intercept is not None:
        largest = np.maximum(largest, np.max(np.abs(intercept), initial=0.0))
    exponents = np.frexp(largest)[1].astype(np.int32)
    Z = np.ldexp(X, -exponents) @ components_t
    if intercept is not None:
        Z += np.ldexp(np.broadcast_to(intercept, Z.shape), -exponents)
    return unit_rows(Z)


def unit_distance(U, V):
    """``1 - <u, v>`` of unit (or zero) rows, as ``||u - v||**2 / 2``, which
    keeps its accuracy for near-equal rows; 1 where either row is zero."""
    diff = U - V
    half_sq = 0.5 * np.sum(diff * diff, axis=1)
    nonzero = np.any(U != 0, axis=1) & np.any(V != 0, axis=1)
    return np.where(nonzero, half_sq, 1.0)


class CosineMixin(MahalanobisMixin):
    """The cosine similarity of points mapped by a fitted ``components_``.

    With ``L = components_``, the similarity of ``x`` and ``y`` is
    ``cos(Lx, Ly) = <Lx, Ly> / (||Lx|| ||Ly||)`` and their distance
    ``1 - cos(Lx, Ly)``, in [0, 2]. A point that L maps to zero has no
    direction: its similarity with every point, itself included, is 0 (its
    distance 1), as in :func:`sklearn.metrics.pairwise.cosine_similarity`.

    Everything but the geometry comes from :class:`~mlearn.base.MahalanobisMixin`:
    the ``preprocessor``, the input checks and lazy transforms of dask arrays.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The linear map L, before the normalisation. Multiplying it by a
        positive number does not change the similarity.

    Notes
    -----
    ``get_mahalanobis_matrix()`` still returns ``L.T @ L``, the matrix of the
    un-normalised map: the cosine is ``x.T M y / sqrt(x.T M x * y.T M y)``
    with that ``M``. A learner with an ``intercept_`` ``b`` maps ``x`` to
    ``Lx + b`` before the normalisation (``transform``, ``pair_score``,
    ``get_metric`` and dask transforms all do); ``M`` is then the matrix of
    its linear part only.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from mlearn import CosineMetricLearner_Supervised
    >>> X, y = load_iris(return_X_y=True)
    >>> X = X - X.mean(axis=0)
    >>> learner = CosineMetricLearner_Supervised(random_state=0).fit(X, y)
    >>> Z = learner.transform(X)                        # on the unit sphere
    >>> bool(np.allclose(np.linalg.norm(Z, axis=1), 1.0))
    True
    >>> pairs = np.stack([X[:3], X[50:53]], axis=1)
    >>> bool(np.allclose(learner.pair_score(pairs), np.sum(Z[:3] * Z[50:53], axis=1)))
    True
    >>> # the learned metric in k-NN: 1 - cos is half the squared distance on Z
    >>> knn = KNeighborsClassifier(3, algorithm="brute", metric=learner.get_metric())
    >>> d_metric = knn.fit(X, y).kneighbors(X[:5])[0]
    >>> d_unit = KNeighborsClassifier(3).fit(Z, y).kneighbors(Z[:5])[0]
    >>> bool(np.allclose(d_metric, d_unit**2 / 2))
    True
    """

    # the map takes an intercept, which MahalanobisMixin's does not
    _map_block = staticmethod(cosine_map)  # type: ignore[assignment]

    def _map_arguments(self, dtype):
        intercept = getattr(self, "intercept_", None)
        components_t = self.components_.T.astype(dtype, copy=False)
        if intercept is None:
            return (components_t,)
        return components_t, intercept.astype(dtype, copy=False)

    def __init_subclass__(cls, **kwargs):
        # as in MahalanobisMixin: scikit-learn's set_output wraps only a
        # transform the class defines itself
        if issubclass(cls, TransformerMixin) and cls.transform is CosineMixin.transform:
            cls.transform = CosineMixin.transform
        super().__init_subclass__(**kwargs)

    def transform(self, X: ArrayLike) -> Any:
        """Map points onto the unit sphere: the rows of ``X @ components_.T``, normalised.

        A row that the map sends to zero stays zero. Each row of ``X`` is
        first divided by a power of two near its largest entry (exactly; the
        normalisation removes it), so that points near float64's limits give
        finite directions. A dask array gives a
        lazy dask array with ``X``'s row chunks and one column chunk, as
        :meth:`MahalanobisMixin.transform <mlearn.base.MahalanobisMixin.transform>`
        does; each block is normalised row by row, so the result equals the
        in-memory one up to the rounding of the matrix product.

        Euclidean distances between the transformed points are
        ``sqrt(2 * (1 - cos))``, an increasing function of the learned
        distance, so any Euclidean k-NN or search on the output ranks
        neighbours by the learned cosine.

        Parameters
        ----------
        X : array-like or dask.array.Array of shape (n_samples, n_features)
            Points, or a 1-D array of indices when the learner has a
            preprocessor (in memory only).

        Returns
        -------
        X_new : ndarray or dask.array.Array of shape (n_samples, n_components)
            Rows of unit norm (or zero); float32 for float32 input, float64
            otherwise; a dask array for dask input.
        """
        return super().transform(X)

    def pair_score(self, pairs: ArrayLike) -> NDArray[np.floating]:
        """Cosine similarity of the mapped points of each pair (higher is more similar).

        Parameters
        ----------
        pairs : array-like of shape (n_pairs, 2, n_features) or (n_pairs, 2)
            Pairs of points, or of indices when a preprocessor is set.

        Returns
        -------
        scores : ndarray of shape (n_pairs,)
            In [-1, 1]; 0 where a point is mapped to zero.
        """
        return 1.0 - self.pair_distance(pairs)

    def pair_distance(self, pairs: ArrayLike) -> NDArray[np.floating]:
        """One minus the cosine similarity of the mapped points of each pair.

        It is computed as ``||u - v||**2 / 2`` of the unit vectors ``u`` and
        ``v``, which keeps its relative accuracy for near-duplicate
        directions, where ``1 - cos`` cancels.

        Parameters
        ----------
        pairs : array-like of shape (n_pairs, 2, n_features) or (n_pairs, 2)
            Pairs of points, or of indices when a preprocessor is set.

        Returns
        -------
        distances : ndarray of shape (n_pairs,)
            In [0, 2]; 1 where a point is mapped to zero.
        """
        return super().pair_distance(pairs)

    def _paired_distance(self, A, B):
        arguments = self._map_arguments(A.dtype)
        return unit_distance(cosine_map(A, *arguments), cosine_map(B, *arguments))

    def get_metric(self) -> "CosineDistance":  # type: ignore[override]
        """The learned distance ``1 - cos(Lu, Lv)`` as a function ``metric(u, v)``.

        It works on two 1-D points and can be given to scikit-learn as
        ``metric=``. It is a :class:`CosineDistance` holding a copy of
        ``components_``: refitting the learner does not change it, and it
        pickles with whatever holds it. ``1 - cos`` does not satisfy the
        triangle inequality, which scikit-learn's ball and KD trees assume:
        use ``algorithm="brute"`` with it, or search the output of
        :meth:`transform` with the Euclidean distance instead (same
        neighbours, much faster).

        Returns
        -------
        metric : CosineDistance
        """
        check_is_fitted(self, "components_")
        return CosineDistance(self.components_, getattr(self, "intercept_", None))


class CosineDistance(_MapFunction):
    """The distance ``d(u, v) = 1 - cos(Lu + b, Lv + b)`` of an affine map, as a callable.

    :meth:`CosineMixin.get_metric` returns one; unlike a closure it pickles.
    A point mapped to zero is at distance 1 from every point.

    Parameters
    ----------
    components : array-like of shape (n_components, n_features) or (n_features,)
        The map ``L`` (copied); a 1-D array is a single row.
    intercept : array-like of shape (n_components,), default=None
        The offset ``b`` (copied); None is a linear map (``b = 0``).

    Attributes
    ----------
    components : ndarray of shape (n_components, n_features)
    intercept : ndarray of shape (n_components,) or None

    Examples
    --------
    >>> import numpy as np
    >>> from mlearn.learners._cosine_base import CosineDistance
    >>> metric = CosineDistance(np.eye(2))
    >>> float(round(metric([1.0, 0.0], [1.0, 1.0]), 12))  # 1 - cos(45 degrees)
    0.292893218813
    >>> metric([1.0, 0.0], [-2.0, 0.0])
    2.0
    >>> # with an offset, opposite points of a line through the origin can be close
    >>> lifted = CosineDistance([[1.0], [0.0]], intercept=[0.0, 10.0])
    >>> float(round(lifted(1.0, -1.0), 6))  # 1 - cos of (1, 10) and (-1, 10)
    0.019802
    """

    def __init__(self, components, intercept=None):
        super().__init__(components)
        self.intercept = None
        if intercept is not None:
            self.intercept = np.array(intercept, dtype=np.float64).reshape(-1)
            if self.intercept.shape != (self.components.shape[0],):
                raise ValueError(
                    f"intercept must have shape ({self.components.shape[0]},), one entry "
                    f"per row of components, got shape {np.shape(intercept)}"
                )

    def __call__(self, u: ArrayLike, v: ArrayLike) -> float:
        """``1 - cos(Lu, Lv)`` for the points ``u`` and ``v``.

        Parameters
        ----------
        u, v : array-like of shape (n_features,)
            Points; a scalar or an array with extra axes of length one is
            taken as the point it holds.

        Returns
        -------
        distance : float
            In [0, 2].
        """
        n_features = self.components.shape[1]
        points = np.stack([_as_point(u, n_features, "u"), _as_point(v, n_features, "v")])
        unit_u, unit_v = cosine_map(points, self.components.T, self.intercept)
        return float(unit_distance(unit_u[None], unit_v[None])[0])
