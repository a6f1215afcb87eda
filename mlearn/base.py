"""Base classes shared by every metric learner.

- :class:`BaseMetricLearner` holds the ``preprocessor`` and validates inputs.
- :class:`MahalanobisMixin` gives a fitted ``components_`` (L, with
  M = LᵀL) its public surface: ``transform``, ``get_mahalanobis_matrix``,
  ``get_metric``, ``pair_distance``, ``pair_score``.
- :class:`PairsClassifierMixin`, :class:`TripletsClassifierMixin` and
  :class:`QuadrupletsClassifierMixin` turn a learner on tuples into a
  classifier of tuples (``predict``, ``decision_function``, ``score``), with
  threshold calibration for pairs.

A learner combines them left to right, mixins first, as scikit-learn expects::

    class ITML(MahalanobisMixin, PairsClassifierMixin, BaseMetricLearner): ...
"""

import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ._sklearn_compat import ClassifierTags, validate_data
from ._validation import (
    FLOAT_DTYPES,
    check_pair_labels,
    check_preprocessor,
    check_tuples,
)
from .linalg import metric_from_components

__all__ = [
    "BaseMetricLearner",
    "MahalanobisMixin",
    "PairsClassifierMixin",
    "QuadrupletsClassifierMixin",
    "TripletsClassifierMixin",
]

_PREPROCESSOR_CONSTRAINT = [None, "array-like", callable]


class BaseMetricLearner(BaseEstimator):
    """Base of every mlearn estimator that learns a metric.

    Parameters
    ----------
    preprocessor : array-like of shape (n_samples, n_features), callable or None
        Lets tuples (and points) be given as integer indices. An array ``X``
        maps indices ``i`` to ``X[i]``; a callable is called with an integer
        array of indices and must return the points.
    """

    #: What ``fit`` takes: "points" (X, y), "pairs", "triplets" or "quadruplets".
    _input_kind = "points"
    _tuple_size = None

    _parameter_constraints: dict = {"preprocessor": _PREPROCESSOR_CONSTRAINT}

    def __init__(self, preprocessor=None):
        self.preprocessor = preprocessor

    # -- input handling -----------------------------------------------------------

    def _prepare_points(self, X, y="no_validation", *, reset, **check_params):
        """Validate points (and labels), resolving indices through the preprocessor.

        Returns ``X`` when ``y`` is not given, ``(X, y)`` when it is; a
        supervised learner passes its ``y`` even when it is None, so that a
        missing target is reported as such.
        """
        if reset:
            self.preprocessor_ = check_preprocessor(self.preprocessor)
        preprocessor = getattr(self, "preprocessor_", None)
        if preprocessor is not None and np.ndim(X) == 1:
            indices = np.asarray(X)
            if indices.dtype.kind not in "iu":
                raise TypeError(
                    "X given as 1-D with a preprocessor must hold integer indices, "
                    f"got dtype {indices.dtype}"
                )
            X = np.asarray(preprocessor(indices))
        check_params.setdefault("dtype", FLOAT_DTYPES)
        check_params.setdefault("ensure_all_finite", True)
        if isinstance(y, str) and y == "no_validation":
            return validate_data(self, X, reset=reset, **check_params)
        return validate_data(self, X, y, reset=reset, **check_params)

    def _prepare_tuples(self, tuples, *, reset, name=None, tuple_size=None):
        """Validate tuples as (n_tuples, tuple_size, n_features) floats."""
        if reset:
            self.preprocessor_ = check_preprocessor(self.preprocessor)
        tuple_size = tuple_size or self._tuple_size
        tuples = check_tuples(
            tuples,
            tuple_size=tuple_size,
            preprocessor=getattr(self, "preprocessor_", None),
            name=name,
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


class MahalanobisMixin(ClassNamePrefixFeaturesOutMixin, TransformerMixin):
    """The metric ``d(x, y) = ||L x - L y||`` given by a fitted ``components_``.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The linear map L; the Mahalanobis matrix is ``M = L.T @ L``.
    """

    def transform(self, X):
        """Map points into the learned space: ``X @ components_.T``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Points, or a 1-D array of indices when the learner has a
            preprocessor.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_components)
            float32 for float32 input, float64 otherwise.
        """
        check_is_fitted(self, "components_")
        X = self._prepare_points(X, reset=False)
        return X @ self.components_.T.astype(X.dtype, copy=False)

    def get_mahalanobis_matrix(self):
        """The learned Mahalanobis matrix ``M = components_.T @ components_``.

        Returns
        -------
        M : ndarray of shape (n_features, n_features)
        """
        check_is_fitted(self, "components_")
        return metric_from_components(self.components_)

    def get_metric(self):
        """A function ``metric(u, v, squared=False)`` computing the learned distance.

        It works on two 1-D points and can be given to scikit-learn as
        ``metric=`` (e.g. ``KNeighborsClassifier(metric=learner.get_metric())``).
        It holds a copy of ``components_``: refitting the learner does not
        change it.
        """
        check_is_fitted(self, "components_")
        L = np.array(self.components_, dtype=np.float64)
        n_features = L.shape[1]

        def metric(u, v, squared=False):
            u = _as_point(u, n_features, "u")
            v = _as_point(v, n_features, "v")
            diff = L @ (u - v)
            d2 = float(diff @ diff)
            return d2 if squared else float(np.sqrt(d2))

        return metric

    def pair_distance(self, pairs):
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
        pairs = self._prepare_tuples(pairs, reset=False, name="pairs", tuple_size=2)
        return self._paired_distance(pairs[:, 0], pairs[:, 1])

    def pair_score(self, pairs):
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
        from .pairwise import paired_distances

        return paired_distances(A, B, metric="mahalanobis", L=self.components_)

    @property
    def _n_features_out(self):
        return self.components_.shape[0]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"preserves_dtype": [np.float64, np.float32]}


def _as_point(u, n_features, name):
    u = np.asarray(u, dtype=np.float64)
    if u.ndim != 1 or u.shape[0] != n_features:
        u = np.squeeze(u)
        if u.ndim != 1 or u.shape[0] != n_features:
            raise ValueError(
                f"{name} must be a 1-D point with {n_features} features, got shape "
                f"{np.shape(u)}"
            )
    return u


class _TupleClassifierMixin:
    """Shared part of the tuple classifiers: prediction is the sign of the score."""

    def predict(self, tuples):
        """+1 where the tuple's constraint holds under the learned metric, -1 elsewhere."""
        return np.where(self.decision_function(tuples) > 0, 1, -1)

    def score(self, tuples, y=None):
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

    def decision_function(self, triplets):
        """``d(a, n) - d(a, p)``: positive when the triplet is satisfied.

        Parameters
        ----------
        triplets : array-like of shape (n_triplets, 3, n_features) or (n_triplets, 3)

        Returns
        -------
        scores : ndarray of shape (n_triplets,)
        """
        check_is_fitted(self, "components_")
        t = self._prepare_tuples(triplets, reset=False)
        return self._paired_distance(t[:, 0], t[:, 2]) - self._paired_distance(t[:, 0], t[:, 1])


class QuadrupletsClassifierMixin(_TupleClassifierMixin):
    """A learner on quadruplets ``(a, b, c, d)``: ``d(a, b)`` should be smaller than ``d(c, d)``."""

    _input_kind = "quadruplets"
    _tuple_size = 4

    def decision_function(self, quadruplets):
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


_CALIBRATION_STRATEGIES = ("accuracy", "f_beta", "max_tpr", "max_tnr")


class PairsClassifierMixin:
    """A learner on labelled pairs: +1 for similar, -1 for dissimilar.

    A pair is predicted similar when its learned distance is at most
    ``threshold_``. ``score`` is the accuracy of those predictions, as for any
    scikit-learn classifier (use ``scoring="roc_auc"`` for a threshold-free
    measure; ``decision_function`` is the negated distance).

    Attributes
    ----------
    threshold_ : float
        Distance under which (inclusive) a pair is predicted similar.
    classes_ : ndarray of shape (2,)
        ``[-1, 1]``.
    """

    _input_kind = "pairs"
    _tuple_size = 2
    _estimator_type = "classifier"

    def decision_function(self, pairs):
        """Similarity score of each pair: the negated learned distance.

        Parameters
        ----------
        pairs : array-like of shape (n_pairs, 2, n_features) or (n_pairs, 2)

        Returns
        -------
        scores : ndarray of shape (n_pairs,)
        """
        return self.pair_score(pairs)

    def predict(self, pairs):
        """+1 (similar) for pairs whose distance is at most ``threshold_``, else -1.

        Parameters
        ----------
        pairs : array-like of shape (n_pairs, 2, n_features) or (n_pairs, 2)

        Returns
        -------
        y_pred : ndarray of shape (n_pairs,)
        """
        check_is_fitted(self, "threshold_")
        return np.where(self.pair_distance(pairs) <= self.threshold_, 1, -1)

    def score(self, pairs, y):
        """Accuracy of :meth:`predict` on labelled pairs.

        Parameters
        ----------
        pairs : array-like of shape (n_pairs, 2, n_features) or (n_pairs, 2)
        y : array-like of shape (n_pairs,)
            +1 for similar pairs, -1 for dissimilar ones.

        Returns
        -------
        accuracy : float
        """
        predicted = self.predict(pairs)
        y = check_pair_labels(y, len(predicted))
        return float(np.mean(predicted == y))

    def set_threshold(self, threshold):
        """Set the distance threshold used by :meth:`predict`.

        Parameters
        ----------
        threshold : float
            Pairs at distance at most ``threshold`` are predicted similar.

        Returns
        -------
        self
        """
        if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
            raise TypeError(f"threshold must be a real number, got {threshold!r}")
        if not np.isfinite(threshold):
            raise ValueError(f"threshold must be finite, got {threshold}")
        self.threshold_ = float(threshold)
        self.classes_ = np.array([-1, 1])
        return self

    def calibrate_threshold(self, pairs_valid, y_valid, strategy="accuracy",
                            min_rate=None, beta=1.0):
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
            Weight of recall in 'f_beta'.

        Returns
        -------
        self

        Notes
        -----
        The threshold is placed half-way between the two consecutive
        validation distances that separate the chosen predictions, so that
        :meth:`predict` reproduces the optimum on ``pairs_valid``. Ties in the
        criterion go to the smallest threshold.
        """
        if strategy not in _CALIBRATION_STRATEGIES:
            raise ValueError(
                f"strategy must be one of {_CALIBRATION_STRATEGIES}, got {strategy!r}"
            )
        if strategy in ("max_tpr", "max_tnr"):
            if min_rate is None or isinstance(min_rate, bool) or not isinstance(
                min_rate, numbers.Real
            ) or not 0 <= min_rate <= 1:
                raise ValueError(
                    f"strategy={strategy!r} needs min_rate, a number in [0, 1]; got {min_rate!r}"
                )
        if strategy == "f_beta" and (
            isinstance(beta, bool) or not isinstance(beta, numbers.Real) or beta <= 0
        ):
            raise ValueError(f"beta must be a positive number, got {beta!r}")
        check_is_fitted(self, "components_")
        distances = self.pair_distance(pairs_valid)
        y = check_pair_labels(y_valid, len(distances), name="y_valid")
        self.threshold_ = _best_threshold(distances, y, strategy, min_rate, beta)
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
