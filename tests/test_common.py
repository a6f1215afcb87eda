"""scikit-learn conformance of every public estimator, discovered by walking mlearn.

Estimators that take points (X, y) run scikit-learn's full estimator checks.
Estimators that take tuples (pairs, triplets, quadruplets) cannot: scikit-learn
feeds only 2-D points, so they run ``check_param_validation`` (parameter
validation happens before any data is read) and the tuple checks below.
Image transformers take images, not tabular rows, so they get the checks that
do not depend on the input format.
"""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.utils.estimator_checks import check_param_validation, parametrize_with_checks

from .conftest import discover_estimators, tuple_dataset

ESTIMATORS = discover_estimators()

# Constructor arguments an estimator needs before scikit-learn's checks can run
# (keyed by class name). An estimator that cannot be built with its defaults
# and has no entry here makes test_every_estimator_is_constructible fail.
CHECK_PARAMS = {
    "DeepEmbedding": {"model": np.tanh},
    # a tiny torch module factory; LazyLinear adapts to any number of features
    "DeepMetricLearner": lambda: {"model": _tiny_torch_module, "max_iter": 1},
    # tabular rows take a noise augmentation instead of the image crops
    "SimCLR": lambda: _self_supervised_params(),
    "MoCo": lambda: _self_supervised_params(),
    "BYOL": lambda: _self_supervised_params(),
    "RotationPrediction": lambda: {"model": _tiny_torch_module, "max_iter": 1},
    # fewer iterations keep the checks quick; defaults are tested in its own module
    "SCML_Supervised": {"max_iter": 1000, "output_iter": 100},
    # on check_transformer_n_iter's two tight blobs, standardised, the default
    # start is already stationary (loss 1e-7, zero iterations under the default
    # gradient); tol=0 makes the check see the solver iterate
    "MLKR": {"tol": 0.0},
}

# Learner-specific parameter grids for the tuple GridSearchCV check.
TUPLE_GRIDS = {
    "ITML": {"gamma": [0.5, 1.0]},
    "MMC": {"diagonal": [False, True]},
    "SDML": {"balance_param": [0.01, 0.1]},
    "PairsMetricLearner": {"alpha": [0.01, 0.1]},
    "TripletsMetricLearner": {"alpha": [0.01, 0.1]},
    "QuadrupletsMetricLearner": {"alpha": [0.01, 0.1]},
}


def _tiny_torch_module():
    """A trainable torch module for any number of numeric features (the checks
    also feed integer arrays, which a network computing in float32 casts)."""
    import torch

    class _Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.LazyLinear(3)

        def forward(self, x):
            return self.linear(x.float())

    return _Net()


def _self_supervised_params():
    from mlearn.deep.augment import GaussianNoise

    return {"model": _tiny_torch_module, "max_iter": 1, "augmentation": GaussianNoise(0.1)}


def _build(cls):
    params = CHECK_PARAMS.get(cls.__name__, {})
    return cls(**(params() if callable(params) else params))


def _kind(cls):
    return getattr(cls, "_input_kind", "points")


def _instances(kinds):
    out = []
    for cls in ESTIMATORS:
        if _kind(cls) in kinds:
            try:
                out.append(_build(cls))
            except TypeError:  # reported by test_every_estimator_is_constructible
                pass
    return out


TUPLE_KINDS = ("pairs", "triplets", "quadruplets")
# a DeepEmbedding around a NumPy callable takes tabular rows like any transformer
POINT_KINDS = ("points", "deep")
POINT_ESTIMATORS = _instances(POINT_KINDS)
TUPLE_ESTIMATORS = _instances(TUPLE_KINDS)
OTHER_ESTIMATORS = _instances({_kind(c) for c in ESTIMATORS} - {*POINT_KINDS, *TUPLE_KINDS})


def test_discovery_finds_the_learners():
    names = {c.__name__ for c in ESTIMATORS}
    assert "Covariance" in names
    assert "BaseMetricLearner" not in names


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_every_estimator_is_constructible(cls):
    est = _build(cls)
    assert clone(est).get_params().keys() == est.get_params().keys()


@parametrize_with_checks(POINT_ESTIMATORS)
def test_sklearn_checks_points(estimator, check):
    check(estimator)


@pytest.mark.parametrize(
    "estimator",
    POINT_ESTIMATORS + TUPLE_ESTIMATORS + OTHER_ESTIMATORS,
    ids=lambda e: type(e).__name__,
)
def test_param_validation(estimator):
    # not part of parametrize_with_checks
    check_param_validation(type(estimator).__name__, estimator)


# -- tuple learners ------------------------------------------------------------


@pytest.mark.parametrize("estimator", TUPLE_ESTIMATORS, ids=lambda e: type(e).__name__)
def test_tuple_learner_contract(estimator):
    kind = estimator._input_kind
    tuples, y = tuple_dataset(kind)
    before = tuples.copy()
    est = clone(estimator)
    assert est.fit(tuples, y) is est
    np.testing.assert_array_equal(tuples, before)  # not modified in place
    assert est.n_features_in_ == tuples.shape[2]
    if hasattr(est, "get_bilinear_matrix"):
        # a bilinear similarity's W is any square matrix: nothing to check but its shape
        assert est.get_bilinear_matrix().shape == (tuples.shape[2], tuples.shape[2])
    else:
        M = est.get_mahalanobis_matrix()
        np.testing.assert_allclose(M, M.T, atol=1e-10)
        assert np.linalg.eigvalsh(M).min() >= -1e-8 * max(1.0, np.abs(M).max())
    pred = est.predict(tuples)
    assert set(np.unique(pred)) <= {-1, 1}
    assert 0.0 <= est.score(tuples, y) <= 1.0
    # pickling keeps predictions
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(
        restored.decision_function(tuples), est.decision_function(tuples)
    )
    # a clone is unfitted and has the same parameters
    fresh = clone(est)
    assert not hasattr(fresh, "components_")
    assert fresh.get_params().keys() == est.get_params().keys()


@pytest.mark.parametrize("estimator", TUPLE_ESTIMATORS, ids=lambda e: type(e).__name__)
def test_tuple_learner_model_selection(estimator):
    kind = estimator._input_kind
    tuples, y = tuple_dataset(kind)
    cv = KFold(3, shuffle=True, random_state=0)
    scores = cross_val_score(clone(estimator), tuples, y, cv=cv)
    assert scores.shape == (3,) and np.all((0 <= scores) & (scores <= 1))
    grid = TUPLE_GRIDS.get(type(estimator).__name__, {"preprocessor": [None]})
    search = GridSearchCV(clone(estimator), grid, cv=cv).fit(tuples, y)
    assert hasattr(search.best_estimator_, "components_")


@pytest.mark.parametrize("estimator", TUPLE_ESTIMATORS, ids=lambda e: type(e).__name__)
def test_tuple_learner_preprocessor(estimator):
    """Index tuples with a preprocessor give the same model as explicit tuples."""
    kind = estimator._input_kind
    X, labels = load_iris(return_X_y=True)
    tuples, y = tuple_dataset(kind)
    # rebuild the indices: every tuple point is a row of X
    index = {row.tobytes(): i for i, row in enumerate(X)}
    idx = np.array([[index[p.tobytes()] for p in t] for t in tuples])
    a = (
        clone(estimator).set_params(random_state=0)
        if "random_state" in estimator.get_params()
        else clone(estimator)
    )
    b = clone(a).set_params(preprocessor=X)
    a.fit(tuples, y)
    b.fit(idx, y)
    matrix = (
        "get_bilinear_matrix" if hasattr(a, "get_bilinear_matrix") else "get_mahalanobis_matrix"
    )
    np.testing.assert_allclose(getattr(a, matrix)(), getattr(b, matrix)(), rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(
        a.decision_function(tuples), b.decision_function(idx), rtol=1e-7, atol=1e-10
    )


# -- estimators with other inputs ----------------------------------------------


@pytest.mark.parametrize("estimator", OTHER_ESTIMATORS, ids=lambda e: type(e).__name__)
def test_other_input_estimators_clone_and_params(estimator):
    # scikit-learn's checks feed tabular rows; these estimators take images or
    # model inputs, and their own test modules cover fit/transform/pickle.
    fresh = clone(estimator)
    assert fresh.get_params(deep=False).keys() == estimator.get_params(deep=False).keys()
    fresh.set_params(**estimator.get_params(deep=False))


# -- dtype of the fitted map ------------------------------------------------------

# Every learner that stores ``components_`` (a DeepEmbedding keeps a model).
MAP_LEARNERS = [e for e in POINT_ESTIMATORS + TUPLE_ESTIMATORS if _kind(type(e)) != "deep"]


def _fit_in(estimator, dtype):
    """``estimator`` fitted on iris (points) or tuples drawn from it, cast to ``dtype``.

    The data are rounded to float32 first, so that a float32 and a float64 fit
    see the same values. Returns the learner and points to transform.
    """
    kind = _kind(type(estimator))
    if kind == "points":
        data, y = load_iris(return_X_y=True)
    else:
        data, y = tuple_dataset(kind)
    data = data.astype(np.float32).astype(dtype)
    est = clone(estimator)
    if "random_state" in est.get_params():
        est.set_params(random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(data, y) if y is not None else est.fit(data)
    return est, data.reshape(-1, data.shape[-1])


@pytest.mark.parametrize("estimator", MAP_LEARNERS, ids=lambda e: type(e).__name__)
def test_components_keep_the_input_dtype(estimator):
    """float32 in, float32 ``components_`` (as scikit-learn's PCA); computed in float64."""
    est32, X32 = _fit_in(estimator, np.float32)
    est64, X64 = _fit_in(estimator, np.float64)
    assert est32.components_.dtype == np.float32
    assert est64.components_.dtype == np.float64
    if hasattr(est32, "transform"):
        assert est32.transform(X32).dtype == np.float32
        assert est64.transform(X64).dtype == np.float64
    # the float64 map rounded: nothing was computed in float32
    C64 = est64.components_
    np.testing.assert_allclose(est32.components_, C64, rtol=1e-5, atol=1e-5 * np.abs(C64).max())
