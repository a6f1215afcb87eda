"""What every iterative learner shares: ``n_iter_``, ``objective_history_``, its warning.

The learners are discovered (every public estimator with a ``max_iter``
parameter), so a new iterative learner is checked without being listed.
"""

import warnings

import matplotlib
import numpy as np
import pytest
from scipy.optimize import minimize
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning

from mlearn import MLKR, NCA
from mlearn.learners._nca_kernels import SoftmaxObjective
from mlearn.plotting import plot_objective

from ..conftest import discover_estimators, tuple_dataset

matplotlib.use("Agg")


def _iterative():
    found = []
    for cls in discover_estimators():
        try:
            params = cls().get_params()
        except TypeError:  # needs arguments: reported by test_common
            continue
        if "max_iter" in params:
            found.append(cls)
    return found


ITERATIVE = _iterative()

# Learners whose module does not follow the shared rules yet, and why.
NO_HISTORY: dict[str, str] = {}
# SCML runs a fixed number of stochastic iterations and has no tolerance:
# there is no convergence for it to warn about
WARNS_INSIDE = {
    "SCML": "runs max_iter iterations with no convergence test",
    "SCML_Supervised": "runs max_iter iterations with no convergence test",
}


def _params(not_yet):
    """The iterative learners, those in ``not_yet`` expected to fail (strictly)."""
    return [
        pytest.param(
            cls,
            id=cls.__name__,
            marks=[pytest.mark.xfail(reason=not_yet[cls.__name__], strict=True)]
            if cls.__name__ in not_yet
            else [],
        )
        for cls in ITERATIVE
    ]


def _fit(learner):
    """Fit ``learner`` on iris (points) or tuples drawn from its labels."""
    kind = getattr(learner, "_input_kind", "points")
    if kind == "points":
        X, y = load_iris(return_X_y=True)
        return learner.fit(X, y.astype(np.float64) if isinstance(learner, MLKR) else y)
    tuples, y = tuple_dataset(kind)
    return learner.fit(tuples, y) if y is not None else learner.fit(tuples)


def test_discovery_finds_the_iterative_learners():
    names = {cls.__name__ for cls in ITERATIVE}
    assert {
        "NCA",
        "MLKR",
        "LMNN",
        "ITML",
        "MMC",
        "LSML",
        "MetricLearner",
        "PairsMetricLearner",
        "CosineMetricLearner",
    } <= names


@pytest.mark.parametrize("cls", _params(NO_HISTORY))
def test_history_has_one_value_per_iteration_and_plots(cls):
    learner = cls(max_iter=20)
    # a learner with output_iter evaluates its objective every output_iter
    # iterations and after the last, not after each one
    every = learner.get_params().get("output_iter")
    if every is not None:
        every = 6
        learner.set_params(output_iter=every)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        _fit(learner)
    history = learner.objective_history_
    assert learner.n_iter_ >= 1
    # the objective at the start, then after each iteration (or evaluation)
    n_evaluations = learner.n_iter_ if every is None else -(-learner.n_iter_ // every)
    assert len(history) == n_evaluations + 1
    assert np.all(np.isfinite(history))
    ax = plot_objective(learner)
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), history)
    matplotlib.pyplot.close(ax.figure)


@pytest.mark.parametrize("cls", _params(WARNS_INSIDE))
def test_convergence_warning_points_at_the_fit_call(cls):
    learner = cls(max_iter=1, tol=0) if "tol" in cls().get_params() else cls(max_iter=1)
    if "convergence_tol" in learner.get_params():
        learner.set_params(convergence_tol=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _fit(learner)
    found = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert len(found) == 1, [str(w.message) for w in caught]
    assert found[0].filename == __file__
    assert f"{cls.__name__} did not converge within max_iter=1" in str(found[0].message)


def test_warning_points_at_the_user_through_a_pipeline():
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline

    X, y = load_iris(return_X_y=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        make_pipeline(NCA(max_iter=1, tol=0), KNeighborsClassifier()).fit(X, y)
    found = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert [w.filename for w in found] == [__file__]


@pytest.mark.parametrize(
    "cls, kind, tol", [(NCA, "nca", None), (MLKR, "mlkr", None), (NCA, "nca", 1e-7)]
)
def test_softmax_learners_match_scipy_lbfgs(cls, kind, tol):
    """NCA and MLKR reach the objective of SciPy's L-BFGS-B run on the same objective."""
    X, y = load_iris(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    target = y.astype(np.float64) if kind == "mlkr" else y.astype(np.int64)
    # the oracle minimises on X as given: metric-learn's units
    learner = cls(init="identity", max_iter=200, tol=tol, feature_scaling=None).fit(X, target)
    objective = SoftmaxObjective(X, target, kind, X.shape[1])

    def func(flat):
        value, grad = objective.value_and_gradient(flat.reshape(X.shape[1], -1))
        return value, grad.ravel()

    ref = minimize(
        func,
        np.eye(X.shape[1]).ravel(),
        jac=True,
        method="L-BFGS-B",
        tol=tol,
        options={"maxiter": 200},
    )
    history = learner.objective_history_
    assert history[0] == pytest.approx(func(np.eye(X.shape[1]).ravel())[0], rel=1e-12)
    final = objective.value_and_gradient(learner.components_)[0]
    assert history[-1] == pytest.approx(final, rel=1e-12)
    # at the solver's tolerance (SciPy's ftol when tol is None)
    ftol = 2.220446049250313e-09 if tol is None else tol
    assert abs(final - ref.fun) <= 10 * ftol * max(abs(ref.fun), 1.0)
