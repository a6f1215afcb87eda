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

Two helpers serve the pairs forms too: :func:`check_calibration_params`
(the ``calibration_params`` argument of a pairs learner's ``fit``) and
:func:`split_pairs` (checked labels and difference vectors of pairs).

A ``_Supervised`` class lists the mixin (a ``TransformerMixin``) first::

    class ITML_Supervised(SupervisedMixin, MahalanobisMixin, _BaseITML):
        _parameter_constraints = {
            **_BaseITML._parameter_constraints,
            **SUPERVISED_PARAMETER_CONSTRAINTS,
        }

        @_fit_context(prefer_skip_nested_validation=True)
        def fit(self, X, y):
            X, y = self._validate_supervised(X, y)
            rng = check_random_state(self.random_state)
            pairs, pair_labels = self._label_pairs(X, y, rng)
            ...
"""

import contextlib
import warnings
from numbers import Integral

import numpy as np
from sklearn.base import TransformerMixin

from .._sklearn_compat import Interval
from .._validation import check_calibration_args, check_class_labels, check_pair_labels
from ..constraints import Constraints

__all__ = [
    "SUPERVISED_PARAMETER_CONSTRAINTS",
    "SupervisedMixin",
    "check_calibration_params",
    "default_n_constraints",
    "split_pairs",
]

SUPERVISED_PARAMETER_CONSTRAINTS = {
    "n_constraints": [Interval(Integral, 1, None, closed="left"), None],
    "random_state": ["random_state"],
}


_CALIBRATION_KEYS = ("strategy", "min_rate", "beta")


def check_calibration_params(calibration_params):
    """Validate the ``calibration_params`` dict handed to a pairs learner's ``fit``.

    Its keys and values are checked here, before the learner's solver runs.
    """
    if calibration_params is None:
        return {}
    if not isinstance(calibration_params, dict):
        raise TypeError(
            "calibration_params must be a dict of calibrate_threshold arguments or None, "
            f"got {type(calibration_params).__name__}"
        )
    unknown = sorted(set(calibration_params) - set(_CALIBRATION_KEYS))
    if unknown:
        raise ValueError(
            f"calibration_params has unknown keys {unknown}; calibrate_threshold "
            f"takes {list(_CALIBRATION_KEYS)}"
        )
    check_calibration_args(
        calibration_params.get("strategy", "accuracy"),
        calibration_params.get("min_rate"),
        calibration_params.get("beta", 1.0),
    )
    return dict(calibration_params)


def split_pairs(pairs, y):
    """Pair labels checked, and the difference vector of each pair."""
    y = check_pair_labels(y, pairs.shape[0])
    return np.asarray(pairs[:, 0] - pairs[:, 1], dtype=np.float64), y


def default_n_constraints(y):
    """metric-learn's default number of constraints: ``20 * n_classes ** 2``."""
    return 20 * len(np.unique(y)) ** 2


class SupervisedMixin(TransformerMixin):
    """Turn class labels into the constraints a weakly supervised solver needs.

    Expects the class to have ``n_constraints`` and ``random_state``
    parameters and to derive from :class:`mlearn.base.MahalanobisMixin`
    (for ``_prepare_points``).
    """

    _deprecated_aliases = {"num_constraints": "n_constraints"}

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
                warnings.filterwarnings(
                    "ignore", message="only .* distinct", category=UserWarning
                )
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
