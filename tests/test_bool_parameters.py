"""A bool is never taken for a number by a numeric parameter of any estimator.

``bool`` subclasses ``int``, so scikit-learn's ``Interval`` constraint reads
``n_components=True`` as one component. mlearn's ``Interval`` (from
``mlearn._sklearn_compat``) refuses bools; every numeric range parameter of
every discovered estimator uses it.
"""

from numbers import Integral, Real

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_iris
from sklearn.utils._param_validation import Interval as SklearnInterval
from sklearn.utils._param_validation import InvalidParameterError, make_constraint

from mlearn._sklearn_compat import Interval

from .conftest import discover_estimators, tuple_dataset

ESTIMATORS = discover_estimators()

# Constructor arguments without a default.
# (parameters are validated before a training estimator builds its model)
REQUIRED_PARAMS = {
    "DeepEmbedding": {"model": np.tanh},
    "DeepMetricLearner": {"model": np.tanh},
    "SimCLR": {"model": np.tanh},
    "MoCo": {"model": np.tanh},
    "BYOL": {"model": np.tanh},
    "RotationPrediction": {"model": np.tanh},
}


def _build(cls):
    return cls(**REQUIRED_PARAMS.get(cls.__name__, {}))


def _interval_params(cls):
    """Names of the parameters with an ``Interval`` among their constraints."""
    constraints = getattr(cls, "_parameter_constraints", {})
    return sorted(
        name
        for name, options in constraints.items()
        if any(isinstance(c, SklearnInterval) for c in options)
    )


def _accepts_bools_otherwise(cls, name):
    """Whether a constraint other than the interval admits bools (e.g. 'boolean')."""
    options = cls._parameter_constraints[name]
    return any(
        make_constraint(c).is_satisfied_by(True)
        for c in options
        if not isinstance(c, SklearnInterval)
    )


CASES = [
    pytest.param(cls, name, id=f"{cls.__name__}-{name}")
    for cls in ESTIMATORS
    for name in _interval_params(cls)
    if not _accepts_bools_otherwise(cls, name)
]


def _fit_data(cls):
    kind = getattr(cls, "_input_kind", "points")
    if kind in ("points", "deep"):
        X, y = load_iris(return_X_y=True)
        return X[::3], y[::3]
    if kind == "images":
        images = np.random.default_rng(0).integers(0, 256, (3, 12, 12, 3), np.uint8)
        return images, None
    return tuple_dataset(kind, n=30)


def test_cases_cover_the_count_parameters():
    names = {case.id for case in CASES}
    for cls_name in ("LMNN", "NCA", "ITML", "LFDA", "SCML", "RCA", "MetricLearner"):
        assert f"{cls_name}-n_components" in names
    for expected in (
        "LMNN-n_neighbors",
        "LMNN-max_iter",
        "LFDA-k",
        "ITML_Supervised-n_constraints",
        "ColorHistogram-bins",
        "LocalBinaryPattern-var_bins",
        "DeepEmbedding-batch_size",
    ):
        assert expected in names


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_every_interval_constraint_refuses_bools(cls):
    # scikit-learn's own Interval imported directly would accept bools again
    for name in _interval_params(cls):
        for c in cls._parameter_constraints[name]:
            if isinstance(c, SklearnInterval):
                assert type(c) is Interval, f"{cls.__name__}.{name}"


@pytest.mark.parametrize("cls, name", CASES)
@pytest.mark.parametrize("value", [True, False, np.True_])
def test_bool_parameter_is_refused_by_fit(cls, name, value):
    estimator = _build(cls)
    estimator._validate_params()  # the defaults pass: the bool is what fails
    data = _fit_data(cls)
    bad = clone(estimator).set_params(**{name: value})
    message = rf"'{name}' parameter of {cls.__name__} must be .*not a bool"
    with pytest.raises(InvalidParameterError, match=message):
        bad.fit(*data)
    if hasattr(bad, "partial_fit"):
        with pytest.raises(InvalidParameterError, match=message):
            bad.partial_fit(*data)


@pytest.mark.parametrize(
    "interval, good, bad",
    [
        (Interval(Integral, 1, None, closed="left"), [1, 7, np.int64(2)], [0, 1.0]),
        (Interval(Integral, 0, 5, closed="both"), [0, 5], [-1, 6]),
        (Interval(Real, 0, 1, closed="both"), [0, 0.5, 1, np.float32(0.2)], [1.5]),
    ],
)
def test_interval_agrees_with_sklearn_except_for_bools(interval, good, bad):
    theirs = SklearnInterval(interval.type, interval.left, interval.right, closed=interval.closed)
    for value in good:
        assert interval.is_satisfied_by(value) and theirs.is_satisfied_by(value)
    for value in bad:
        assert not interval.is_satisfied_by(value)
        assert not theirs.is_satisfied_by(value)
    for value in (True, False):
        if theirs.is_satisfied_by(value):  # the difference this class makes
            assert not interval.is_satisfied_by(value)
    assert not interval.is_satisfied_by(np.True_)
    assert "not a bool" in str(interval)
