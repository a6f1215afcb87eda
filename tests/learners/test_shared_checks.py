"""Checks every learner shares, with one message wherever they apply."""

import numpy as np
import pytest
from sklearn.datasets import load_iris

from mlearn import LSML, PairsMetricLearner, TripletsMetricLearner
from mlearn._validation import check_n_components, check_weights

from ..conftest import discover_estimators, tuple_dataset


def _with_n_components():
    found = []
    for cls in discover_estimators():
        try:
            params = cls().get_params()
        except TypeError:
            continue
        if "n_components" in params and cls.__name__ not in (
            "AngularMarginLearner",
            "SCML",
            "SCML_Supervised",
        ):
            found.append(pytest.param(cls, id=cls.__name__))
    return found


def _fit(learner):
    kind = getattr(learner, "_input_kind", "points")
    if kind == "points":
        X, y = load_iris(return_X_y=True)
        return learner.fit(X, y)
    tuples, y = tuple_dataset(kind)
    return learner.fit(tuples, y) if y is not None else learner.fit(tuples)


@pytest.mark.parametrize("cls", _with_n_components())
def test_too_many_components_is_one_error(cls):
    # iris points have 4 features
    with pytest.raises(ValueError, match=r"^n_components=5 must be at most n_features=4$"):
        _fit(cls(n_components=5))


def test_check_n_components():
    assert check_n_components(None, 3) == 3
    assert check_n_components(2, 3) == 2
    with pytest.raises(ValueError, match="n_components=4 must be at most n_features=3"):
        check_n_components(4, 3)


def test_check_weights_copies_and_names_the_argument():
    given = np.array([1, 2, 3])
    w = check_weights(given, 3, "sample_weight")
    assert w.dtype == np.float64 and not np.shares_memory(w, given)
    w[:] = 0
    np.testing.assert_array_equal(given, [1, 2, 3])
    assert check_weights(None, 3, "sample_weight") is None
    with pytest.raises(
        ValueError,
        match=r"sample_weight must have shape \(3,\), one weight "
        r"per pair; got \(2,\)",
    ):
        check_weights([1.0, 2.0], 3, "sample_weight", what="pair")
    with pytest.raises(ValueError, match="finite and non-negative"):
        check_weights([1.0, -1.0, 0.0], 3, "w")
    with pytest.raises(ValueError, match="finite and non-negative"):
        check_weights([1.0, np.nan, 0.0], 3, "w")
    with pytest.raises(TypeError, match="w must be numeric"):
        check_weights(["a", "b", "c"], 3, "w")


@pytest.mark.parametrize(
    "learner, kind, name",
    [
        (TripletsMetricLearner(max_iter=5), "triplets", "sample_weight"),
        (LSML(max_iter=5), "quadruplets", "weights"),
    ],
)
def test_learners_refuse_the_same_bad_weights(learner, kind, name):
    tuples, _ = tuple_dataset(kind)
    bad = ["x"] * len(tuples)
    with pytest.raises(TypeError, match=f"{name} must be numeric"):
        if name == "weights":
            learner.fit(tuples, weights=bad)
        else:
            learner.fit(tuples, sample_weight=bad)


def test_pairs_learner_checks_calibration_params_before_solving():
    pairs, y = tuple_dataset("pairs")
    calls = []

    class Counting(PairsMetricLearner):
        def _solve(self, *args, **kwargs):
            calls.append(1)
            return super()._solve(*args, **kwargs)

    with pytest.raises(ValueError, match="strategy must be one of"):
        Counting().fit(pairs, y, calibration_params={"strategy": "best"})
    with pytest.raises(ValueError, match="unknown keys"):
        Counting().fit(pairs, y, calibration_params={"stratgy": "accuracy"})
    with pytest.raises(TypeError, match="calibration_params must be a dict"):
        Counting().fit(pairs, y, calibration_params=[("strategy", "accuracy")])
    assert not calls
