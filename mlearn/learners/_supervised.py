"""What the ``_Supervised`` forms of the weakly supervised learners share.

A weakly supervised learner (ITML, MMC, SDML, LSML, SCML) trains on tuples:
labelled pairs, triplets or quadruplets. Its ``_Supervised`` form takes class
labels instead, draws the tuples from them with
:class:`mlearn.constraints.Constraints` and hands them to the same solver.
:class:`SupervisedMixin` holds that common part:

- the ``n_constraints`` and ``random_state`` parameters
  (:data:`SUPERVISED_PARAMETER_CONSTRAINTS`; ``n_constraints=None`` means
  ``20 * n_classes ** 2``, metric-learn's default), and ``num_constraints``
  accepted as a deprecated alias of ``n_constraints`` (with a
  ``FutureWarning``, as in metric-learn 0.7);
- being a scikit-learn transformer (``fit(X, y)``, ``transform(X)``,
  ``fit_transform``), which the tuple learners are not;
- validation of ``(X, y)``: at least two samples, classification labels of at
  least two classes (dissimilar constraints need two);
- :meth:`SupervisedMixin._label_pairs` and
  :meth:`SupervisedMixin._label_quadruplets`, which return the tuples as
  point arrays ready for the tuple solver;
- the scikit-learn tags of a transformer that requires ``y``.

The pairs learners (ITML, MMC, SDML, the cosine learner) share one path from
``fit`` to their solver, ``_fit_pairs(pairs, y, random_state, labelled=None,
**options)``: :meth:`PairsFitMixin._fit_labelled_pairs` for the pairs forms
(check ``calibration_params`` and the pairs, solve, calibrate
``threshold_``) and :meth:`SupervisedMixin._fit_drawn_pairs` for the
``_Supervised`` forms (check ``(X, y)``, draw the pairs, solve).
:func:`scaled_pairs` gives a solver the pairs' checked labels, differences
and distinct points at a scale where squared distances stay in range.

A ``_Supervised`` class lists the mixin (a ``TransformerMixin``) first::

    class ITML_Supervised(SupervisedMixin, MahalanobisMixin, _BaseITML):
        _parameter_constraints = {
            **_BaseITML._parameter_constraints,
            **SUPERVISED_PARAMETER_CONSTRAINTS,
        }

        @_fit_context(prefer_skip_nested_validation=True)
        def fit(self, X, y, bounds=None):
            return self._fit_drawn_pairs(X, y, bounds=bounds)
"""

import contextlib
import warnings
from numbers import Integral
from typing import Any, TypeVar

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import TransformerMixin
from sklearn.utils import check_random_state

from .._sklearn_compat import Interval, _fit_context
from .._validation import (
    check_calibration_params,
    check_class_labels,
    check_pair_labels,
)
from ..constraints import Constraints
from ..linalg import power_of_two_scale
from ._doc_pieces import fill_pieces
from ._scaling import FEATURE_SCALING_CONSTRAINT, FeatureScalingMixin

__all__ = [
    "SUPERVISED_PARAMETER_CONSTRAINTS",
    "PairsFitMixin",
    "SupervisedMixin",
    "default_n_constraints",
    "scaled_pairs",
    "split_pairs",
]

_PairsLearner = TypeVar("_PairsLearner", bound="PairsFitMixin")
_SupervisedLearner = TypeVar("_SupervisedLearner", bound="SupervisedMixin")

SUPERVISED_PARAMETER_CONSTRAINTS = {
    "n_constraints": [Interval(Integral, 1, None, closed="left"), None],
    "random_state": ["random_state"],
    "feature_scaling": FEATURE_SCALING_CONSTRAINT,
}


def split_pairs(pairs, y):
    """Pair labels checked, and the difference vector of each pair."""
    y = check_pair_labels(y, pairs.shape[0])
    return np.asarray(pairs[:, 0] - pairs[:, 1], dtype=np.float64), y


def scaled_pairs(pairs, y):
    """Pairs at a scale where squared distances stay in range: their labels, differences, points.

    Squared distances of data beyond 2**+-100 under- or overflow: such pairs
    are divided by a power of two ``s`` (exactly, see
    :func:`mlearn.linalg.power_of_two_scale`), and the learner divides the
    map it learns on them by ``s``. For ordinary data ``s`` is 1.

    Parameters
    ----------
    pairs : ndarray of shape (n_pairs, 2, n_features)
    y : array-like of shape (n_pairs,)
        +1 for a similar pair, -1 for a dissimilar one.

    Returns
    -------
    diffs : ndarray of shape (n_pairs, n_features)
        ``pairs[:, 0] - pairs[:, 1]`` of the divided pairs, float64.
    y : ndarray of shape (n_pairs,)
        The labels, checked.
    points : ndarray of shape (n_points, n_features)
        The distinct points of the divided pairs, float64.
    scale : float
        ``s``.
    """
    scale = power_of_two_scale(pairs)
    if scale != 1.0:
        pairs = pairs / scale
    diffs, y = split_pairs(pairs, y)
    points = np.unique(pairs.reshape(-1, pairs.shape[2]), axis=0).astype(np.float64)
    return diffs, y, points, scale


def default_n_constraints(y):
    """metric-learn's default number of constraints: ``20 * n_classes ** 2``."""
    return 20 * len(np.unique(y)) ** 2


class PairsFitMixin:
    """``fit`` of a pairs form: check the pairs, solve, calibrate the threshold.

    Expects the class to derive from
    :class:`mlearn.base.PairsClassifierMixin` and
    :class:`mlearn.base.MahalanobisMixin`, to have a ``random_state``
    parameter and to define ``_fit_pairs(pairs, y, random_state,
    labelled=None, **options)``, which learns ``components_`` from pairs of
    points.
    """

    @fill_pieces
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(
        self: _PairsLearner,
        pairs: ArrayLike,
        y: ArrayLike,
        calibration_params: dict[str, Any] | None = None,
    ) -> _PairsLearner:
        """Learn the metric from labelled pairs, then calibrate ``threshold_`` on them.

        Parameters
        ----------
        {fit_labelled_pairs}
        {fit_calibration_params}

        Returns
        -------
        self : object
            The fitted learner.
        """
        return self._fit_labelled_pairs(pairs, y, calibration_params)

    def _fit_labelled_pairs(self, pairs, y, calibration_params=None, **options):
        """Learn from labelled pairs, then calibrate ``threshold_`` on them.

        ``options`` go to ``_fit_pairs``; ``calibration_params`` (checked
        before the solver runs) to :meth:`calibrate_threshold`.
        """
        calibration_params = check_calibration_params(calibration_params)
        pairs = self._prepare_tuples(pairs, reset=True, name="pairs")
        self._fit_pairs(pairs, y, check_random_state(self.random_state), **options)
        return self.calibrate_threshold(pairs, y, **calibration_params)


class SupervisedMixin(FeatureScalingMixin, TransformerMixin):
    """Turn class labels into the constraints a weakly supervised solver needs.

    Expects the class to have ``n_constraints``, ``random_state`` and
    ``feature_scaling`` parameters and to derive from
    :class:`mlearn.base.MahalanobisMixin` (for ``_prepare_points``). The
    tuples are drawn from the points as the solver fits them (rescaled,
    see :mod:`mlearn.learners._scaling`); ``_fit_pairs`` receives
    ``given_scale``, which carries an array the user gave in the data's
    units (``init``, ``prior``) into the fitted units.
    """

    _deprecated_aliases = {"num_constraints": "n_constraints"}

    @fill_pieces
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self: _SupervisedLearner, X: ArrayLike, y: ArrayLike) -> _SupervisedLearner:
        """Draw pairs from the labels and learn the metric.

        The forms that learn from other tuples (triplets, quadruplets,
        chunklets) define their own ``fit``.

        Parameters
        ----------
        {fit_labelled_points}

        Returns
        -------
        self : object
            The fitted learner.
        """
        return self._fit_drawn_pairs(X, y)

    def _validate_supervised(self, X, y):
        """Validate ``(X, y)``: floats, >= 2 samples, labels of >= 2 classes.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
        """
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None: "
                "its constraints are drawn from class labels"
            )
        X, y = self._prepare_points(X, y, reset=True, ensure_min_samples=2)
        check_class_labels(y)
        known = y[y >= 0] if y.dtype.kind in "iuf" else y
        n_classes = len(np.unique(known))
        if n_classes < 2:
            raise ValueError(
                f"{type(self).__name__} needs labels of at least 2 classes to build "
                f"dissimilar constraints; y has {n_classes} class"
            )
        return X, y

    @staticmethod
    def _labelled(X, y):
        """The labelled points and their labels (negative numbers mark unlabelled points)."""
        if y.dtype.kind not in "iuf":
            return X, y
        known = y >= 0
        return X[known], y[known]

    def _n_constraints(self, y):
        """``n_constraints``, or its default ``20 * n_classes ** 2`` when None."""
        if self.n_constraints is None:
            return default_n_constraints(y)
        return int(self.n_constraints)

    def _label_pairs(self, X, y, random_state):
        """Similar and dissimilar pairs drawn from the labels.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
        random_state : RandomState instance

        Returns
        -------
        pairs : ndarray of shape (n_pairs, 2, n_features)
            Up to ``n_constraints`` similar pairs (first), then up to as many
            dissimilar ones.
        pair_labels : ndarray of shape (n_pairs,)
            +1 for similar, -1 for dissimilar.
        """
        with self._quiet_default_count():
            index_pairs, pair_labels = Constraints(y).pairs(
                self._n_constraints(y), random_state=random_state
            )
        return X[index_pairs], pair_labels

    def _fit_drawn_pairs(self, X, y, **options):
        """``fit(X, y)`` of a pairs learner: pairs drawn from the labels, then ``_fit_pairs``.

        ``_fit_pairs`` also receives ``labelled``, the labelled points and
        their labels, for an initialisation that needs classes, and
        ``given_scale``; ``options`` are passed on.
        """
        X, y = self._validate_supervised(X, y)
        X, scale = self._fitting_points(X, power_of_two=False)
        random_state = check_random_state(self.random_state)
        pairs, pair_labels = self._label_pairs(X, y, random_state)
        self._fit_pairs(
            pairs,
            pair_labels,
            random_state,
            labelled=self._labelled(X, y),
            given_scale=scale,
            **options,
        )
        return self._fold_feature_scale(scale)

    def _label_quadruplets(self, X, y, random_state):
        """Quadruplets ``(a, b, c, d)`` with ``a, b`` of one class and ``c, d`` of two.

        Returns
        -------
        quadruplets : ndarray of shape (n_quadruplets, 4, n_features)
            ``d(a, b)`` should be smaller than ``d(c, d)``.
        """
        with self._quiet_default_count():
            a, b, c, d = Constraints(y).positive_negative_pairs(
                self._n_constraints(y), same_length=True, random_state=random_state
            )
        return X[np.column_stack([a, b, c, d])]

    @contextlib.contextmanager
    def _quiet_default_count(self):
        """Silence "only k distinct pairs exist" when n_constraints was left at None.

        The default asks for ``20 * n_classes ** 2`` pairs whatever the data
        size; on small data sets fewer exist, which the user did not ask about.
        An explicit ``n_constraints`` keeps the warning.
        """
        with warnings.catch_warnings():
            if self.n_constraints is None:
                warnings.filterwarnings("ignore", message="only .* distinct", category=UserWarning)
            yield

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        # TransformerMixin comes before MahalanobisMixin in a _Supervised
        # class and resets the transformer tags: float32 is kept all the same
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"requires_y": True}
