"""Base classes shared by every metric learner.

- :class:`BaseMetricLearner` holds the ``preprocessor`` and validates inputs.
- :class:`MahalanobisMixin` gives a fitted ``components_`` (L, with
  M = LᵀL) its public surface: ``transform``, ``get_mahalanobis_matrix``,
  ``get_metric``, ``pair_distance``, ``pair_score``.
- :class:`PairsClassifierMixin`, :class:`TripletsClassifierMixin` and
  :class:`QuadrupletsClassifierMixin` turn a learner on tuples into a
  classifier of tuples (``predict``, ``decision_function``, ``score``), with
  threshold calibration for pairs.
- :class:`MahalanobisDistance` is what ``get_metric`` returns: the learned
  distance as a picklable callable.
- :class:`BilinearMixin` gives a fitted ``components_`` (W) the surface of a
  learned similarity ``s(x, y) = xᵀ W y``: ``get_bilinear_matrix``,
  ``pair_score``, ``get_metric`` (a :class:`BilinearSimilarity`); it has no
  distance and no ``transform``. The pairs and triplets classifiers work on
  it with scores in place of distances (higher is more similar).

A learner combines them left to right, mixins first, as scikit-learn expects.
A learner fitted on points is also a scikit-learn transformer; a learner
fitted on tuples is not (its ``transform`` takes points, not the tuples its
``fit`` takes, so it has no ``fit_transform``)::

    class LMNN(MahalanobisMixin, TransformerMixin, BaseMetricLearner): ...
    class ITML(MahalanobisMixin, PairsClassifierMixin, _BaseITML): ...

Every mixin derives from :class:`BaseMetricLearner`, so a class built from
mixins alone is a complete scikit-learn estimator.
"""

import functools
import inspect
import numbers
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import roc_auc_score
from sklearn.utils.validation import check_is_fitted

from ._sklearn_compat import ClassifierTags, check_array, validate_data
from ._validation import (
    FLOAT_DTYPES,
    check_calibration_args,
    check_dask_points,
    check_lazy_output,
    check_pair_labels,
    check_point_indices,
    check_preprocessor,
    check_tuples,
    dask_stand_in,
    is_dask_array,
    materialise_dask,
    preprocess_points,
    user_stacklevel,
)
from .linalg import metric_from_components

# the unvalidated entry: the learner has checked its arguments
from .pairwise._api import _paired_distances as paired_distances

__all__ = [
    "BaseMetricLearner",
    "BilinearMixin",
    "BilinearSimilarity",
    "MahalanobisDistance",
    "MahalanobisMixin",
    "PairsClassifierMixin",
    "QuadrupletsClassifierMixin",
    "TripletsClassifierMixin",
]

_PREPROCESSOR_CONSTRAINT = [None, "array-like", callable]

#: A learned distance, score or margin per tuple (float32 for float32 input).
_Scores = NDArray[np.floating]
#: +1 / -1 per tuple.
_Labels = NDArray[np.int_]
_PairsClassifier = TypeVar("_PairsClassifier", bound="PairsClassifierMixin")


def warn_not_converged(name, max_iter, *, what="iterations", detail="", tol_name="tol"):
    """Warn that estimator ``name`` stopped at ``max_iter`` without converging.

    The ``ConvergenceWarning`` points at the user's call (see
    :func:`~mlearn._validation.user_stacklevel`). ``detail`` (e.g. the last objective) is added in
    parentheses; ``tol_name`` is the estimator's tolerance parameter.
    """
    detail = f" ({detail})" if detail else ""
    warnings.warn(
        f"{name} did not converge within max_iter={max_iter} {what}{detail}; "
        f"increase max_iter or loosen {tol_name}",
        ConvergenceWarning,
        stacklevel=user_stacklevel(),
    )


class BaseMetricLearner(BaseEstimator):
    """Base of every mlearn estimator that learns a metric.

    Parameters
    ----------
    preprocessor : array-like of shape (n_samples, n_features), callable or None
        Lets tuples (and points) be given as identifiers. An array ``X``
        maps integer indices ``i`` (``0 <= i < len(X)``) to ``X[i]``; a
        callable is called with a 1-D array of identifiers of any kind
        (indices, file names, keys) and must return an array of shape
        (n_identifiers, n_features).

    Notes
    -----
    A subclass may list deprecated constructor arguments in
    ``_deprecated_aliases`` (``{old name: new name}``): the constructor then
    accepts the old name with a ``FutureWarning`` and stores the value under
    the new one, so ``get_params``, ``clone`` and ``repr`` only know the new
    name.
    """

    #: What ``fit`` takes: "points" (X, y), "pairs", "triplets" or "quadruplets".
    _input_kind = "points"
    _tuple_size: int | None = None

    _parameter_constraints: dict = {"preprocessor": _PREPROCESSOR_CONSTRAINT}

    #: Deprecated constructor arguments still accepted: {old name: new name}.
    _deprecated_aliases: dict = {}

    def __init__(self, preprocessor: ArrayLike | Callable[..., Any] | None = None) -> None:
        self.preprocessor = preprocessor

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" not in vars(cls):
            return
        aliases = {}
        for klass in reversed(cls.__mro__):
            aliases.update(vars(klass).get("_deprecated_aliases", {}))
        parameters = inspect.signature(cls.__init__).parameters
        # an alias applies only where its new name is a parameter of this class
        aliases = {old: new for old, new in aliases.items() if new in parameters}
        if aliases:
            cls.__init__ = _accept_deprecated_aliases(cls.__init__, aliases)

    # -- fitted state of iterative solvers ---------------------------------------

    def _record_solve(self, n_iter, history, converged, **warning):
        """Set ``n_iter_`` and ``objective_history_``; warn unless ``converged``.

        ``history`` holds the objective at the start and after each of the
        ``n_iter`` iterations. ``warning`` goes to :func:`warn_not_converged`
        (``what``, ``detail``, ``tol_name``).
        """
        self.n_iter_ = int(n_iter)
        self.objective_history_ = [float(value) for value in history]
        if not converged:
            warn_not_converged(type(self).__name__, self.max_iter, **warning)

    # -- input handling -----------------------------------------------------------

    def _prepare_points(self, X, y="no_validation", *, reset, lazy=False, **check_params):
        """Validate points (and labels), resolving indices through the preprocessor.

        Returns ``X`` when ``y`` is not given, ``(X, y)`` when it is; a
        supervised learner passes its ``y`` even when it is None, so that a
        missing target is reported as such.

        A dask ``X`` or ``y`` is loaded into memory, under
        ``mlearn.get_config()["materialise_budget"]`` and with a warning
        (see :func:`mlearn._validation.materialise_dask`): the learners that
        call this need all their points at once. With ``lazy=True`` a dask
        ``X`` (given without ``y``) is validated without computing anything
        and returned as a dask array with the same row chunks: its dtype,
        number of features and feature names are checked now (and
        ``n_features_in_`` set when ``reset``), NaN and infinity block by
        block when it is computed, with the in-memory messages.
        """
        if reset:
            self.preprocessor_ = check_preprocessor(self.preprocessor)
        preprocessor = getattr(self, "preprocessor_", None)
        check_params.setdefault("dtype", FLOAT_DTYPES)
        check_params.setdefault("ensure_all_finite", True)
        no_y = isinstance(y, str) and y == "no_validation"
        if lazy and is_dask_array(X):
            if not no_y:
                raise TypeError("lazy validation checks X alone; validate y separately")
            return self._prepare_dask_points(X, reset=reset, **check_params)
        caller = type(self).__name__
        X = materialise_dask(X, "X", caller=caller)
        if preprocessor is not None and np.ndim(X) == 1:
            X = preprocess_points(X, preprocessor)
        if no_y:
            return validate_data(self, X, reset=reset, **check_params)
        y = materialise_dask(y, "y", caller=caller)
        return validate_data(self, X, y, reset=reset, **check_params)

    def _prepare_dask_points(self, X, *, reset, **check_params):
        """A dask ``X`` checked as far as can be without computing it; see ``_prepare_points``."""
        if X.ndim == 1 and getattr(self, "preprocessor_", None) is not None:
            # a preprocessor may return float32 or float64 points, known only
            # once called: the result's dtype could not be declared
            raise ValueError(
                f"{type(self).__name__} got X as a 1-D dask array of identifiers; with "
                "a preprocessor, dask input must be points. Compute the identifiers "
                "(X.compute()) for an in-memory result, or map them to points block by "
                "block first (X.map_blocks(..., new_axis=1))"
            )
        stand_in = dask_stand_in(X, "X", min_rows=check_params.get("ensure_min_samples", 1))
        dtype = validate_data(self, stand_in, reset=reset, **check_params).dtype
        return check_dask_points(
            X,
            dtype=dtype,
            name="X",
            estimator_name=type(self).__name__,
            ensure_all_finite=check_params["ensure_all_finite"],
        )

    def _prepare_tuples(self, tuples, *, reset, name=None, tuple_size=None):
        """Validate tuples as (n_tuples, tuple_size, n_features) floats.

        Dask tuples are loaded into memory under the materialise budget,
        with a warning, as in ``_prepare_points``.
        """
        if reset:
            self.preprocessor_ = check_preprocessor(self.preprocessor)
        tuple_size = tuple_size or self._tuple_size
        tuples = check_tuples(
            tuples,
            tuple_size=tuple_size,
            preprocessor=getattr(self, "preprocessor_", None),
            name=name,
            caller=type(self).__name__,
        )
        if reset:
            self.n_features_in_ = tuples.shape[2]
        elif tuples.shape[2] != self.n_features_in_:
            raise ValueError(
                f"{name or 'tuples'} have {tuples.shape[2]} features, but "
                f"{type(self).__name__} was fitted with {self.n_features_in_} features"
            )
        return tuples

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        if self._input_kind != "points":
            tags.input_tags.two_d_array = False
            tags.input_tags.three_d_array = True
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        if self._input_kind != "points":
            return {"X_types": ["3darray"]}
        return {}


def _accept_deprecated_aliases(init, aliases):
    """Wrap ``init`` so that it takes the old names in ``aliases`` with a FutureWarning."""

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        name = type(self).__name__
        for old, new in aliases.items():
            if old not in kwargs:
                continue
            if new in kwargs:
                raise TypeError(
                    f"{name} got both {new!r} and {old!r}, its deprecated alias; give {new!r} only"
                )
            warnings.warn(
                f"{name}: {old!r} is a deprecated alias of {new!r} and will be "
                f"removed; use {new}={kwargs[old]!r}",
                FutureWarning,
                stacklevel=2,
            )
            kwargs[new] = kwargs.pop(old)
        init(self, *args, **kwargs)

    return __init__


def _linear_map(block, components_t):
    return block @ components_t


class MahalanobisMixin(ClassNamePrefixFeaturesOutMixin, BaseMetricLearner):
    """The metric ``d(x, y) = ||L x - L y||`` given by a fitted ``components_``.

    The mixin is not a scikit-learn transformer by itself: a learner fitted
    on points adds ``TransformerMixin`` (which brings ``fit_transform`` and
    ``set_output``), a learner fitted on tuples does not.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The linear map L; the Mahalanobis matrix is ``M = L.T @ L``.
    """

    #: What ``transform`` does to a block of points given ``components_.T``
    #: (in memory, and to each block of a dask array); a mixin that finishes
    #: the map otherwise (normalises it) replaces it.
    _map_block = staticmethod(_linear_map)

    def _map_arguments(self, dtype):
        """The arrays ``_map_block`` takes after the block, in ``dtype``:
        ``components_.T`` here (a mixin whose map has more parameters adds them)."""
        return (self.components_.T.astype(dtype, copy=False),)

    def __init_subclass__(cls, **kwargs):
        # scikit-learn's set_output wraps only a transform defined by the class
        # itself: give each transformer built on this mixin its own to wrap
        if issubclass(cls, TransformerMixin) and cls.transform is MahalanobisMixin.transform:
            cls.transform = MahalanobisMixin.transform
        super().__init_subclass__(**kwargs)

    # Any: an ndarray, a dask array for dask input, or set_output's DataFrame
    def transform(self, X: ArrayLike) -> Any:
        """Map points into the learned space: ``X @ components_.T``.

        A dask array gives a lazy dask array: nothing is computed or loaded
        until the result is. Its row chunks are ``X``'s and it has one
        column chunk; each block is ``block @ components_.T`` (equal to the
        in-memory result up to the rounding of the matrix product, whose
        summation order BLAS may choose by block shape). ``components_`` is
        one key of the graph, so a cluster sends it to each worker once,
        not with every chunk; it is copied, so refitting the learner does
        not change a result already built. The number of features and the
        dtype are checked at once; NaN and infinity when each block is
        computed, with the message of the in-memory check.

        Parameters
        ----------
        X : array-like or dask.array.Array of shape (n_samples, n_features)
            Points, or a 1-D array of indices when the learner has a
            preprocessor (in memory only: a 1-D dask array of identifiers is
            refused, since the preprocessor's output is known only once it
            runs; compute the identifiers, or map them to points first).

        Returns
        -------
        X_new : ndarray or dask.array.Array of shape (n_samples, n_components)
            float32 for float32 input, float64 otherwise; a dask array for
            dask input.

        Raises
        ------
        ValueError
            For dask input, when the output is set to a DataFrame
            (``set_output(transform="pandas")`` or ``"polars"``): that
            would compute the whole result in memory. Use
            ``set_output(transform="default")``, or compute ``X`` first.

        Examples
        --------
        >>> import numpy as np
        >>> import dask.array as da
        >>> from mlearn import Covariance
        >>> X = np.random.RandomState(0).randn(1000, 3)
        >>> cov = Covariance().fit(X)
        >>> X_dask = da.from_array(X, chunks=250)
        >>> X_new = cov.transform(X_dask)  # lazy: nothing is computed yet
        >>> X_new.chunks
        ((250, 250, 250, 250), (3,))
        >>> np.allclose(X_new.compute(), cov.transform(X))
        True
        """
        check_is_fitted(self, "components_")
        if is_dask_array(X):
            return self._transform_dask(X)
        points = self._prepare_points(X, reset=False)
        return self._map_block(points, *self._map_arguments(points.dtype))

    def _transform_dask(self, X):
        import dask

        check_lazy_output(self)
        X = self._prepare_points(X, reset=False, lazy=True)
        # copies, in X's dtype and with the layout used in memory; each one
        # graph key, so that the workers receive it once, not per chunk
        arguments = [
            dask.delayed(np.array(a, dtype=X.dtype), pure=True)
            for a in self._map_arguments(X.dtype)
        ]
        X = X.rechunk({1: -1})
        return X.map_blocks(
            self._map_block,
            *arguments,
            chunks=(X.chunks[0], (self.components_.shape[0],)),
            dtype=X.dtype,
            meta=np.empty((0, 0), dtype=X.dtype),
        )

    def get_mahalanobis_matrix(self) -> NDArray[np.float64]:
        """The learned Mahalanobis matrix ``M = components_.T @ components_``.

        Returns
        -------
        M : ndarray of shape (n_features, n_features)
        """
        check_is_fitted(self, "components_")
        return metric_from_components(self.components_)

    def get_metric(self) -> "MahalanobisDistance":
        """The learned distance as a function ``metric(u, v, squared=False)``.

        It works on two 1-D points and can be given to scikit-learn as
        ``metric=`` (e.g. ``KNeighborsClassifier(metric=learner.get_metric())``).
        It is a :class:`MahalanobisDistance` holding a copy of
        ``components_``: refitting the learner does not change it, and it
        pickles with whatever holds it.

        Returns
        -------
        metric : MahalanobisDistance

        Examples
        --------
        >>> import pickle
        >>> import numpy as np
        >>> from mlearn import Covariance
        >>> X = np.random.RandomState(0).randn(50, 3)
        >>> metric = Covariance().fit(X).get_metric()
        >>> d = metric(X[0], X[1])
        >>> pickle.loads(pickle.dumps(metric))(X[0], X[1]) == d
        True
        """
        check_is_fitted(self, "components_")
        return MahalanobisDistance(self.components_)

    def score_pairs(self, pairs: ArrayLike) -> _Scores:
        """Deprecated: the learned distance of each pair, as :meth:`pair_distance`.

        Kept for code written for metric-learn 0.7, where it is deprecated
        too; it warns with a ``FutureWarning``. Use :meth:`pair_distance` for
        distances or :meth:`pair_score` for similarity scores.

        Parameters
        ----------
        pairs : array-like of shape (n_pairs, 2, n_features) or (n_pairs, 2)

        Returns
        -------
        distances : ndarray of shape (n_pairs,)
        """
        warnings.warn(
            "score_pairs is deprecated and will be removed: use pair_distance for "
            "distances or pair_score for similarity scores",
            FutureWarning,
            stacklevel=2,
        )
        return self.pair_distance(pairs)

    def pair_distance(self, pairs: ArrayLike) -> _Scores:
        """Learned distance between the two points of each pair.

        Parameters
        ----------
        pairs : array-like of shape (n_pairs, 2, n_features) or (n_pairs, 2)
            Pairs of points, or of indices when a preprocessor is set.

        Returns
        -------
        distances : ndarray of shape (n_pairs,)
        """
        check_is_fitted(self, "components_")
        checked = self._prepare_tuples(pairs, reset=False, name="pairs", tuple_size=2)
        return self._paired_distance(checked[:, 0], checked[:, 1])

    def pair_score(self, pairs: ArrayLike) -> _Scores:
        """Similarity of each pair: the negated learned distance (higher is more similar).

        Parameters
        ----------
        pairs : array-like of shape (n_pairs, 2, n_features) or (n_pairs, 2)

        Returns
        -------
        scores : ndarray of shape (n_pairs,)
        """
        return -self.pair_distance(pairs)

    def _paired_distance(self, A, B):
        return paired_distances(A, B, metric="mahalanobis", L=self.components_)

    @property
    def _n_features_out(self):
        return self.components_.shape[0]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        if tags.transformer_tags is not None:
            tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"preserves_dtype": [np.float64, np.float32]}


class _MapFunction:
    """A function of two points through a linear map ``L`` (a copy of
    ``components``; a 1-D array is a single row), which pickles."""

    def __init__(self, components: ArrayLike) -> None:
        self.components = np.atleast_2d(np.array(components, dtype=np.float64))
        if self.components.ndim != 2:
            raise ValueError(
                "components must have shape (n_components, n_features), got "
                f"{np.shape(components)}"
            )

    def __repr__(self):
        n_components, n_features = self.components.shape
        return f"{type(self).__name__}(n_components={n_components}, n_features={n_features})"


class MahalanobisDistance(_MapFunction):
    """The distance ``d(u, v) = ||L u - L v||`` of a linear map ``L``, as a callable.

    :meth:`MahalanobisMixin.get_metric` returns one. Unlike a closure it
    pickles, so a fitted ``KNeighborsClassifier(metric=learner.get_metric())``
    (or a pipeline holding one) can be saved.

    Parameters
    ----------
    components : array-like of shape (n_components, n_features) or (n_features,)
        The map ``L`` (copied); a 1-D array is a single row.

    Attributes
    ----------
    components : ndarray of shape (n_components, n_features)

    Examples
    --------
    >>> import numpy as np
    >>> from mlearn.base import MahalanobisDistance
    >>> metric = MahalanobisDistance(np.array([[2.0, 0.0], [0.0, 1.0]]))
    >>> metric([1.0, 1.0], [0.0, 0.0])
    2.23606797749979
    >>> metric([1.0, 1.0], [0.0, 0.0], squared=True)
    5.0
    >>> MahalanobisDistance([3.0])(5, 6.5)  # one feature, scalar points
    4.5
    """

    def __call__(self, u: ArrayLike, v: ArrayLike, squared: bool = False) -> float:
        """The learned distance between the points ``u`` and ``v``.

        Parameters
        ----------
        u, v : array-like of shape (n_features,)
            Points; a scalar or an array with extra axes of length one is
            taken as the point it holds.
        squared : bool, default=False
            Return the squared distance.

        Returns
        -------
        distance : float
        """
        n_features = self.components.shape[1]
        diff = self.components @ (_as_point(u, n_features, "u") - _as_point(v, n_features, "v"))
        d2 = float(diff @ diff)
        return d2 if squared else float(np.sqrt(d2))


def _as_point(u, n_features, name):
    try:
        point = np.asarray(u, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a point of {n_features} numbers: {exc}") from exc
    if point.ndim != 1 or point.shape[0] != n_features:
        # scipy's distances accept scalars and points with extra axes of length one
        point = np.atleast_1d(np.squeeze(point))
        if point.ndim != 1 or point.shape[0] != n_features:
            raise ValueError(
                f"{name} must be a 1-D point with {n_features} features, got shape {np.shape(u)}"
            )
    return point


class BilinearMixin(BaseMetricLearner):
    """The similarity ``s(x, y) = xᵀ W y`` given by a fitted ``components_`` (W).

    ``W`` is any square matrix: neither symmetric nor positive semidefinite
    in general, so ``s`` is no inner product and there is no distance (and
    no map ``x -> L x``) behind it. Higher scores mean more similar; ``x``
    is the first point of a pair (the query, the anchor of a triplet).

    A learner on tuples may take its points from a sparse matrix: with a
    CSR ``preprocessor`` the tuples are row indices into it, and scores
    are computed without densifying it.

    Attributes
    ----------
    components_ : ndarray of shape (n_features, n_features)
        The bilinear matrix W.
    """

    _threshold_on = "similarity"

    def get_bilinear_matrix(self) -> NDArray[np.float64]:
        """The learned bilinear matrix ``W`` (a copy of ``components_``).

        Returns
        -------
        W : ndarray of shape (n_features, n_features)
        """
        check_is_fitted(self, "components_")
        return self.components_.copy()

    def get_metric(self) -> "BilinearSimilarity":
        """The learned similarity as a function ``similarity(u, v) = uᵀ W v``.

        It is a :class:`BilinearSimilarity` holding a copy of ``W``, which
        pickles. It is a similarity (higher is closer), so it is not a
        ``metric=`` for scikit-learn's neighbour searches, which take
        distances; search with ``mlearn.pairwise.kneighbors(X, Y,
        metric="bilinear", M=learner.get_bilinear_matrix())`` instead.

        Returns
        -------
        similarity : BilinearSimilarity
        """
        check_is_fitted(self, "components_")
        return BilinearSimilarity(self.components_)

    def pair_score(self, pairs: ArrayLike) -> _Scores:
        """Learned similarity ``xᵀ W y`` of each pair ``(x, y)`` (higher is more similar).

        Parameters
        ----------
        pairs : array-like of shape (n_pairs, 2, n_features) or (n_pairs, 2)
            Pairs of points, or of indices when a preprocessor is set.

        Returns
        -------
        scores : ndarray of shape (n_pairs,)
        """
        check_is_fitted(self, "components_")
        x, y = self._tuple_rows(pairs, "pairs", 2)
        return bilinear_scores(x, y, self.components_)

    def pair_distance(self, pairs: ArrayLike) -> _Scores:
        """Not available: a bilinear similarity defines no distance.

        Raises
        ------
        TypeError
            Always; use :meth:`pair_score`.
        """
        raise TypeError(
            f"{type(self).__name__} learns a similarity s(x, y) = x.T @ W @ y with W "
            "neither symmetric nor positive semidefinite, which defines no distance; "
            "use pair_score (higher is more similar)"
        )

    def _triplet_margins(self, triplets):
        a, p, n = self._tuple_rows(triplets, "triplets", 3)
        return bilinear_scores(a, p, self.components_) - bilinear_scores(a, n, self.components_)

    def _tuple_rows(self, tuples, name, tuple_size):
        """The points at each position of the tuples: dense arrays, or CSR rows."""
        preprocessor = getattr(self, "preprocessor_", None)
        if isinstance(preprocessor, SparseRows):
            index = preprocessor.check_index_tuples(tuples, tuple_size, name)
            self._check_fitted_features(preprocessor.X.shape[1], name)
            return [preprocessor.X[index[:, j]] for j in range(tuple_size)]
        tuples = self._prepare_tuples(tuples, reset=False, name=name, tuple_size=tuple_size)
        return [tuples[:, j] for j in range(tuple_size)]

    def _check_fitted_features(self, n_features, name):
        if n_features != self.n_features_in_:
            raise ValueError(
                f"{name} have {n_features} features, but {type(self).__name__} was "
                f"fitted with {self.n_features_in_} features"
            )


def bilinear_scores(A, B, W, block=2048):
    """``a_iᵀ W b_i`` for the rows of ``A`` and ``B`` (dense arrays or sparse matrices).

    Sparse rows are multiplied by ``W`` in blocks, so that memory stays
    ``block * n_features`` whatever the number of rows.
    """
    if not (sp.issparse(A) or sp.issparse(B)):
        W = W.astype(np.result_type(A.dtype, B.dtype), copy=False)
        return np.einsum("ij,ij->i", A @ W, B)
    A, B = sp.csr_matrix(A), sp.csr_matrix(B)
    out = np.empty(A.shape[0])
    for start in range(0, A.shape[0], block):
        stop = min(start + block, A.shape[0])
        AW = np.asarray(A[start:stop] @ W)
        out[start:stop] = np.asarray(B[start:stop].multiply(AW).sum(axis=1)).ravel()
    return out


class SparseRows:
    """A sparse matrix of points, indexed by the integer entries of tuples.

    What a bilinear learner keeps of a sparse ``preprocessor``: the rows in
    CSR form (float64, sorted indices, a copy when either had to change).

    Parameters
    ----------
    X : sparse matrix or array of shape (n_samples, n_features)
    """

    def __init__(self, X):
        X = check_array(
            X,
            accept_sparse="csr",
            dtype=np.float64,
            ensure_all_finite=True,
            input_name="preprocessor",
        )
        X = sp.csr_matrix(X)
        if not X.has_sorted_indices:
            X = X.sorted_indices()
        self.X = X

    def check_index_tuples(self, tuples, tuple_size, name):
        """``tuples`` as an (n_tuples, tuple_size) int64 array of valid row indices."""
        if hasattr(tuples, "toarray") or hasattr(tuples, "tocsr"):
            raise TypeError(f"{name} must be a dense array of indices, got a sparse matrix")
        index = np.asarray(tuples)
        if index.ndim != 2 or index.shape[1] != tuple_size or index.shape[0] < 1:
            raise ValueError(
                f"{name} must be an array of shape (n_{name}, {tuple_size}) of row indices "
                f"into the sparse preprocessor, got shape {index.shape}"
            )
        return check_point_indices(index, self.X.shape[0], name).astype(np.int64, copy=False)


def check_bilinear_preprocessor(preprocessor):
    """``check_preprocessor``, with sparse matrices kept sparse (as :class:`SparseRows`)."""
    if sp.issparse(preprocessor):
        return SparseRows(preprocessor)
    return check_preprocessor(preprocessor)


class BilinearSimilarity:
    """The similarity ``s(u, v) = uᵀ W v`` of a square matrix ``W``, as a callable.

    :meth:`BilinearMixin.get_metric` returns one; it pickles.

    Parameters
    ----------
    W : array-like of shape (n_features, n_features)
        The bilinear matrix (copied).

    Attributes
    ----------
    W : ndarray of shape (n_features, n_features)

    Examples
    --------
    >>> import numpy as np
    >>> from mlearn.base import BilinearSimilarity
    >>> similarity = BilinearSimilarity(np.array([[1.0, 2.0], [0.0, 1.0]]))
    >>> similarity([1.0, 0.0], [0.0, 1.0])
    2.0
    >>> similarity([0.0, 1.0], [1.0, 0.0])  # W is not symmetric
    0.0
    """

    def __init__(self, W: ArrayLike) -> None:
        self.W = np.array(W, dtype=np.float64)
        if self.W.ndim != 2 or self.W.shape[0] != self.W.shape[1]:
            raise ValueError(
                f"W must be a square matrix of shape (n_features, n_features), got {np.shape(W)}"
            )

    def __call__(self, u: ArrayLike, v: ArrayLike) -> float:
        """The similarity ``uᵀ W v`` of the points ``u`` and ``v``.

        Parameters
        ----------
        u, v : array-like of shape (n_features,)

        Returns
        -------
        similarity : float
        """
        n_features = self.W.shape[0]
        return float(_as_point(u, n_features, "u") @ self.W @ _as_point(v, n_features, "v"))

    def __repr__(self):
        return f"BilinearSimilarity(n_features={self.W.shape[0]})"


class _TupleClassifierMixin(BaseMetricLearner):
    """Shared part of the triplet and quadruplet classifiers: prediction is the sign of the score.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        ``[-1, 1]``, the labels :meth:`predict` returns; set once fitted.
    """

    @property
    def classes_(self) -> _Labels:
        check_is_fitted(self, "components_")
        return np.array([-1, 1])

    def predict(self, tuples: ArrayLike) -> _Labels:
        """+1 where the tuple's constraint holds under the learned metric, -1 elsewhere."""
        return np.where(self.decision_function(tuples) > 0, 1, -1)

    def score(self, tuples: ArrayLike, y: ArrayLike | None = None) -> float:
        """Accuracy: the fraction of tuples whose prediction matches ``y`` (all +1 by default)."""
        predicted = self.predict(tuples)
        if y is None:
            return float(np.mean(predicted == 1))
        y = check_pair_labels(y, len(predicted))
        return float(np.mean(predicted == y))


class TripletsClassifierMixin(_TupleClassifierMixin):
    """A learner on triplets ``(a, p, n)``: ``a`` should be closer to ``p`` than to ``n``."""

    _input_kind = "triplets"
    _tuple_size = 3

    def decision_function(self, triplets: ArrayLike) -> _Scores:
        """``d(a, n) - d(a, p)``: positive when the triplet is satisfied.

        For a learned similarity (:class:`BilinearMixin`) it is
        ``s(a, p) - s(a, n)``, positive when the triplet is satisfied too.

        Parameters
        ----------
        triplets : array-like of shape (n_triplets, 3, n_features) or (n_triplets, 3)

        Returns
        -------
        scores : ndarray of shape (n_triplets,)
        """
        check_is_fitted(self, "components_")
        return self._triplet_margins(triplets)

    def _triplet_margins(self, triplets):
        t = self._prepare_tuples(triplets, reset=False)
        return self._paired_distance(t[:, 0], t[:, 2]) - self._paired_distance(t[:, 0], t[:, 1])


class QuadrupletsClassifierMixin(_TupleClassifierMixin):
    """A learner on quadruplets ``(a, b, c, d)``: ``d(a, b)`` should be below ``d(c, d)``."""

    _input_kind = "quadruplets"
    _tuple_size = 4

    def decision_function(self, quadruplets: ArrayLike) -> _Scores:
        """``d(c, d) - d(a, b)``: positive when the quadruplet is satisfied.

        Parameters
        ----------
        quadruplets : array-like of shape (n_quadruplets, 4, n_features) or (n_quadruplets, 4)

        Returns
        -------
        scores : ndarray of shape (n_quadruplets,)
        """
        check_is_fitted(self, "components_")
        q = self._prepare_tuples(quadruplets, reset=False)
        return self._paired_distance(q[:, 2], q[:, 3]) - self._paired_distance(q[:, 0], q[:, 1])


class PairsClassifierMixin(BaseMetricLearner):
    """A learner on labelled pairs: +1 for similar, -1 for dissimilar.

    A pair is predicted similar when its learned distance is at most
    ``threshold_``. ``score`` is the ROC AUC of ``decision_function`` (the
    negated distance), a threshold-free measure, as in metric-learn; the
    accuracy of the thresholded predictions is
    ``sklearn.metrics.accuracy_score(y, learner.predict(pairs))``.

    A learner of a similarity (:class:`BilinearMixin`) has no distance: its
    ``decision_function`` is the similarity itself, and a pair is predicted
    similar when its similarity is at least ``threshold_``, which is then a
    similarity. Calibration chooses it with the same strategies.

    Attributes
    ----------
    threshold_ : float
        Distance under which (inclusive) a pair is predicted similar; for a
        similarity learner, the similarity above which (inclusive).
    classes_ : ndarray of shape (2,)
        ``[-1, 1]``.
    """

    _input_kind = "pairs"
    _tuple_size = 2
    _estimator_type = "classifier"
    #: What ``threshold_`` bounds: "distance" (at most) or "similarity" (at least).
    _threshold_on = "distance"

    # fitted state, set by ``fit``, ``set_threshold`` or ``calibrate_threshold``
    threshold_: float
    classes_: _Labels

    def decision_function(self, pairs: ArrayLike) -> _Scores:
        """Similarity score of each pair: the negated learned distance.

        Parameters
        ----------
        pairs : array-like of shape (n_pairs, 2, n_features) or (n_pairs, 2)

        Returns
        -------
        scores : ndarray of shape (n_pairs,)
        """
        return self.pair_score(pairs)

    def predict(self, pairs: ArrayLike) -> _Labels:
        """+1 (similar) for pairs whose distance is at most ``threshold_``, else -1.

        For a similarity learner: +1 for pairs whose similarity is at least
        ``threshold_``.

        Parameters
        ----------
        pairs : array-like of shape (n_pairs, 2, n_features) or (n_pairs, 2)

        Returns
        -------
        y_pred : ndarray of shape (n_pairs,)
        """
        check_is_fitted(self, "threshold_")
        if self._threshold_on == "similarity":
            return np.where(self.decision_function(pairs) >= self.threshold_, 1, -1)
        return np.where(-self.decision_function(pairs) <= self.threshold_, 1, -1)

    def score(self, pairs: ArrayLike, y: ArrayLike) -> float:
        """ROC AUC of :meth:`decision_function` on labelled pairs.

        The probability that a similar pair scores higher (is closer) than a
        dissimilar one; it does not depend on ``threshold_``.

        Parameters
        ----------
        pairs : array-like of shape (n_pairs, 2, n_features) or (n_pairs, 2)
        y : array-like of shape (n_pairs,)
            +1 for similar pairs, -1 for dissimilar ones; both must occur.

        Returns
        -------
        roc_auc : float
        """
        scores = self.decision_function(pairs)
        labels = check_pair_labels(y, len(scores))
        if len(np.unique(labels)) < 2:
            raise ValueError(
                "score is the ROC AUC, which needs both similar (+1) and dissimilar "
                f"(-1) pairs; y holds only {int(labels[0]):+d}"
            )
        return float(roc_auc_score(labels, scores))

    def set_threshold(self: _PairsClassifier, threshold: float) -> _PairsClassifier:
        """Set the distance threshold used by :meth:`predict`.

        Parameters
        ----------
        threshold : float
            Pairs at distance at most ``threshold`` are predicted similar;
            for a similarity learner, pairs of similarity at least
            ``threshold``.

        Returns
        -------
        self

        Raises
        ------
        NotFittedError
            The learner has not been fitted.
        ValueError
            ``threshold`` is not a finite real number.
        """
        check_is_fitted(self, "components_")
        if (
            isinstance(threshold, (bool, np.bool_))
            or not isinstance(threshold, numbers.Real)
            or not np.isfinite(threshold)
        ):
            raise ValueError(f"threshold must be a finite real number, got {threshold!r}")
        self.threshold_ = float(threshold)
        self.classes_ = np.array([-1, 1])
        return self

    def calibrate_threshold(
        self: _PairsClassifier,
        pairs_valid: ArrayLike,
        y_valid: ArrayLike,
        strategy: str = "accuracy",
        min_rate: float | None = None,
        beta: float = 1.0,
    ) -> _PairsClassifier:
        """Choose ``threshold_`` on validation pairs.

        Parameters
        ----------
        pairs_valid : array-like of shape (n_pairs, 2, n_features) or (n_pairs, 2)
        y_valid : array-like of shape (n_pairs,)
            +1 / -1 labels.
        strategy : {'accuracy', 'f_beta', 'max_tpr', 'max_tnr'}, default='accuracy'
            - 'accuracy': maximise accuracy.
            - 'f_beta': maximise the F-beta score of the similar class.
            - 'max_tpr': maximise the true positive rate subject to a true
              negative rate of at least ``min_rate``.
            - 'max_tnr': maximise the true negative rate subject to a true
              positive rate of at least ``min_rate``.
        min_rate : float in [0, 1], default=None
            Required by 'max_tpr' and 'max_tnr'.
        beta : float, default=1.0
            Weight of recall in 'f_beta': any finite real number, only
            ``beta ** 2`` matters; ``beta=0`` maximises the precision.

        Returns
        -------
        self

        Notes
        -----
        The threshold is placed half-way between the two consecutive
        validation distances that separate the chosen predictions, so that
        :meth:`predict` reproduces the optimum on ``pairs_valid``. Ties in the
        criterion go to the smallest threshold. For a similarity learner the
        same holds of the similarities, ties going to the largest threshold
        (the fewest pairs predicted similar, as for a distance).

        Examples
        --------
        >>> import numpy as np
        >>> from mlearn import ITML
        >>> pairs = np.array([[[0.0, 0.0], [0.1, 0.0]], [[1.0, 1.0], [1.0, 1.2]],
        ...                   [[0.0, 0.0], [3.0, 0.0]], [[1.0, 1.0], [1.0, 4.0]]])
        >>> y = np.array([1, 1, -1, -1])
        >>> itml = ITML().fit(pairs, y)
        >>> itml.calibrate_threshold(pairs, y).predict(pairs)
        array([ 1,  1, -1, -1])
        >>> # beta=0 maximises precision: the closest pair alone already reaches 1,
        >>> # and ties go to the smallest threshold
        >>> itml.calibrate_threshold(pairs, y, strategy="f_beta", beta=0).predict(pairs)
        array([ 1, -1, -1, -1])
        """
        check_calibration_args(strategy, min_rate, beta)
        check_is_fitted(self, "components_")
        distances = -self.decision_function(pairs_valid)
        y = check_pair_labels(y_valid, len(distances), name="y_valid")
        threshold = _best_threshold(distances, y, strategy, min_rate, beta)
        # a similarity is a negated "distance" here: its threshold is negated back
        self.threshold_ = -threshold if self._threshold_on == "similarity" else threshold
        self.classes_ = np.array([-1, 1])
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.estimator_type = "classifier"
        tags.classifier_tags = ClassifierTags()
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"binary_only": True}


def _best_threshold(distances, y, strategy, min_rate, beta):
    """Distance threshold optimising ``strategy`` over all cuts of the sorted distances."""
    values, inverse = np.unique(distances, return_inverse=True)
    positives = np.bincount(inverse, weights=(y == 1), minlength=len(values))
    negatives = np.bincount(inverse, weights=(y == -1), minlength=len(values))
    n_pos, n_neg = positives.sum(), negatives.sum()
    # cut k predicts +1 for the k smallest distinct distances (k = 0 .. len(values))
    tp = np.concatenate([[0.0], np.cumsum(positives)])
    fp = np.concatenate([[0.0], np.cumsum(negatives)])
    tn = n_neg - fp
    fn = n_pos - tp
    with np.errstate(divide="ignore", invalid="ignore"):
        tpr = np.where(n_pos > 0, tp / max(n_pos, 1), 1.0)
        tnr = np.where(n_neg > 0, tn / max(n_neg, 1), 1.0)
        if strategy == "accuracy":
            criterion = (tp + tn) / len(distances)
        elif strategy == "f_beta":
            b2 = beta**2
            denom = (1 + b2) * tp + b2 * fn + fp
            criterion = np.where(denom > 0, (1 + b2) * tp / np.where(denom > 0, denom, 1), 0.0)
        elif strategy == "max_tpr":
            criterion = np.where(tnr >= min_rate, tpr, -np.inf)
        else:
            criterion = np.where(tpr >= min_rate, tnr, -np.inf)
    if not np.isfinite(criterion).any():
        raise ValueError(
            f"no threshold reaches min_rate={min_rate} for strategy={strategy!r} "
            "on these validation pairs"
        )
    k = int(np.argmax(criterion))
    if k == 0:
        return float(values[0] - max(1.0, abs(values[0])))
    if k == len(values):
        return float(values[-1] + max(1.0, abs(values[-1])))
    return float((values[k - 1] + values[k]) / 2)
