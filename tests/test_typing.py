"""The package is typed (PEP 561) and its public functions carry their hints
through scikit-learn's parameter validation."""

import inspect
import typing
from pathlib import Path

import pytest

import mlearn
import mlearn.learners
from mlearn import (
    _config,
    _validation,
    base,
    constraints,
    datasets,
    linalg,
    metrics,
    objectives,
    plotting,
)
from mlearn.features import ColorHistogram, DeepEmbedding, LocalBinaryPattern, lbp
from mlearn.learners._cosine_base import CosineDistance

PUBLIC = [getattr(metrics, name) for name in metrics.__all__] + [
    getattr(datasets, name) for name in datasets.__all__
]

#: Functions annotated without a validating wrapper.
ANNOTATED_FUNCTIONS = [
    getattr(module, name)
    for module in (plotting, constraints, linalg, _config)
    for name in module.__all__
    if not inspect.isclass(getattr(module, name))
] + [lbp.local_binary_pattern]

ANNOTATED_CLASSES = [getattr(base, name) for name in base.__all__] + [
    # private bases whose public methods the public classes inherit
    base._MapFunction,
    base._TupleClassifierMixin,
    constraints.Constraints,
    ColorHistogram,
    LocalBinaryPattern,
    DeepEmbedding,
]


def _public_methods(cls):
    """The methods (and properties) a class defines itself that users call."""
    for name, member in vars(cls).items():
        if name.startswith("_") and name not in ("__init__", "__call__"):
            continue
        if isinstance(member, property):
            yield f"{cls.__name__}.{name}", member.fget
        elif inspect.isfunction(member):
            yield f"{cls.__name__}.{name}", member


ANNOTATED_METHODS = [pair for cls in ANNOTATED_CLASSES for pair in _public_methods(cls)]

#: The classes whose methods users call on a learner: each public learner's
#: bases defined in mlearn.learners (the mixins included), the metric
#: function the cosine learners return, and the objective and indexer that
#: learners build.
LEARNER_CLASSES = {
    cls
    for name in mlearn.learners.__all__
    for cls in getattr(mlearn.learners, name).__mro__
    if cls.__module__.startswith("mlearn.learners.")
} | {CosineDistance, objectives.MetricObjective, _validation.ArrayIndexer}

#: What the learners define for their users (fit, transform, predict, ...);
#: scikit-learn-style constructors only store their arguments.
LEARNER_METHODS = sorted(
    (
        (f"{cls.__module__}.{name}", method)
        for cls in LEARNER_CLASSES
        for name, method in _public_methods(cls)
        if not name.endswith(".__init__")
    ),
    key=lambda pair: pair[0],
)

#: The public functions of the objectives and of the input checks.
LEARNER_FUNCTIONS = [
    func
    for module in (objectives, _validation)
    for name, func in vars(module).items()
    if inspect.isfunction(func) and func.__module__ == module.__name__ and not name.startswith("_")
]


def _names_behind_type_checking():
    """What the modules import for type checkers only (matplotlib is optional)."""
    axes = pytest.importorskip("matplotlib.axes")
    return {"Axes": axes.Axes}


def _assert_fully_annotated(func, name, skip_first=False):
    hints = typing.get_type_hints(func, localns=_names_behind_type_checking())
    assert "return" in hints, f"{name} has no return annotation"
    parameters = list(inspect.signature(func).parameters)
    for parameter in parameters[1:] if skip_first else parameters:
        assert parameter in hints, f"{name}: {parameter} has no annotation"


def test_package_is_marked_typed():
    assert (Path(mlearn.__file__).parent / "py.typed").is_file()


@pytest.mark.parametrize("func", PUBLIC, ids=lambda f: f.__name__)
def test_public_functions_are_fully_annotated(func):
    signature = inspect.signature(func)
    # the validating wrapper shows the function's own signature
    assert signature == inspect.signature(func.__wrapped__)
    hints = typing.get_type_hints(func)  # every annotation evaluates
    assert "return" in hints
    for name in signature.parameters:
        assert name in hints, f"{func.__name__}: {name} has no annotation"


@pytest.mark.parametrize("func", ANNOTATED_FUNCTIONS, ids=lambda f: f.__name__)
def test_annotated_functions_are_fully_annotated(func):
    _assert_fully_annotated(func, func.__name__)


@pytest.mark.parametrize(
    ("name", "method"), ANNOTATED_METHODS, ids=[n for n, _ in ANNOTATED_METHODS]
)
def test_public_methods_are_fully_annotated(name, method):
    # a method wrapped by scikit-learn's _fit_context shows its own signature
    assert inspect.signature(method) == inspect.signature(inspect.unwrap(method))
    _assert_fully_annotated(method, name, skip_first=True)


@pytest.mark.parametrize(("name", "method"), LEARNER_METHODS, ids=[n for n, _ in LEARNER_METHODS])
def test_learner_methods_are_fully_annotated(name, method):
    assert inspect.signature(method) == inspect.signature(inspect.unwrap(method))
    _assert_fully_annotated(method, name, skip_first=True)


@pytest.mark.parametrize("func", LEARNER_FUNCTIONS, ids=lambda f: f.__name__)
def test_objective_and_check_functions_are_fully_annotated(func):
    _assert_fully_annotated(func, func.__name__)


def test_every_learner_method_is_checked():
    names = {name.removeprefix("mlearn.") for name, _ in LEARNER_METHODS}
    for expected in (
        "learners.itml.ITML.fit",
        "learners.itml.ITML_Supervised.fit",
        "learners.general.PairsMetricLearner.partial_fit",
        "learners.angular.AngularMarginLearner.predict_proba",
        "learners._cosine_base.CosineMixin.get_metric",
        "learners._supervised.SupervisedMixin.fit",
        "learners.oasis.OASIS.partial_fit",
        "learners.rca.RCA.fit",
        "objectives.MetricObjective.value_and_grad_L",
        "_validation.ArrayIndexer.take",
    ):
        assert expected in names, expected


def test_the_annotation_checks_catch_a_missing_hint():
    def partly(a: int, b) -> int:
        return a

    def no_return(a: int):
        return a

    for func in (partly, no_return):
        with pytest.raises(AssertionError):
            _assert_fully_annotated(func, func.__name__)


def test_every_public_mixin_method_is_checked():
    names = {name for name, _ in ANNOTATED_METHODS}
    # the methods users call on a fitted learner, by their documented names
    for expected in (
        "MahalanobisMixin.transform",
        "MahalanobisMixin.pair_distance",
        "MahalanobisMixin.pair_score",
        "MahalanobisMixin.get_mahalanobis_matrix",
        "MahalanobisMixin.get_metric",
        "BilinearMixin.get_bilinear_matrix",
        "PairsClassifierMixin.predict",
        "PairsClassifierMixin.decision_function",
        "PairsClassifierMixin.score",
        "PairsClassifierMixin.calibrate_threshold",
        "PairsClassifierMixin.set_threshold",
        "TripletsClassifierMixin.decision_function",
        "_TupleClassifierMixin.classes_",
        "ColorHistogram.fit",
        "LocalBinaryPattern.transform",
        "DeepEmbedding.fit",
        "Constraints.generate_knntriplets",
    ):
        assert expected in names, expected


USER_CODE = """
import numpy as np
from mlearn.datasets import load_textures
from mlearn.metrics import knn_accuracy, make_tuple_scorer, precision_at_k

X, y = np.zeros((4, 2)), np.array([0, 0, 1, 1])
accuracy: float = knn_accuracy(X, y, n_neighbors=1, metric="manhattan")
score = precision_at_k(X, y, k=2, return_n_excluded=True)
scorer = make_tuple_scorer("roc_auc")
bunch = load_textures(patch_size=16, random_state=0)
precision_at_k(X, y, k="2")  # line 11
knn_accuracy(X, y, working_memory="256")  # line 12
load_textures(return_x_y=True)  # line 13
"""


def _mypy_error_lines(code, tmp_path, monkeypatch):
    """The line numbers mypy reports errors on in ``code``, a user's module."""
    mypy_api = pytest.importorskip("mypy.api")
    source = tmp_path / "user_code.py"
    source.write_text(code)
    monkeypatch.setenv("MYPYPATH", str(Path(mlearn.__file__).parents[1]))
    out, err, status = mypy_api.run(
        [
            "--ignore-missing-imports",
            "--follow-imports=silent",
            "--no-error-summary",
            "--cache-dir",
            str(tmp_path / "cache"),
            str(source),
        ]
    )
    assert status == 1, out + err
    lines = sorted(int(line.split(":")[1]) for line in out.splitlines() if ": error:" in line)
    return lines, out


@pytest.mark.slow
def test_type_checkers_see_the_hints_through_the_validation(tmp_path, monkeypatch):
    error_lines, out = _mypy_error_lines(USER_CODE, tmp_path, monkeypatch)
    # the bad calls only: behind an untyped decorator all three would pass
    assert error_lines == [11, 12, 13], out


NEW_USER_CODE = """
import numpy as np
import mlearn
from mlearn.base import MahalanobisMixin, PairsClassifierMixin
from mlearn.linalg import project_psd

M: np.ndarray = project_psd(np.eye(2))
M_psd, eigenvalues, eigenvectors = project_psd(np.eye(2), return_eigen=True)
index, y = mlearn.Constraints([0, 0, 1, 1]).pairs(4, random_state=0)
with mlearn.config_context(materialise_budget=10.0):
    budget: float = mlearn.get_config()["materialise_budget"]

def use(learner: MahalanobisMixin, classifier: PairsClassifierMixin) -> None:
    distances: np.ndarray = learner.pair_distance(np.zeros((3, 2, 2)))
    metric = learner.get_metric()
    metric([0.0, 1.0], [1.0, 0.0], squared="yes")  # line 16
    classifier.set_threshold(0.5).calibrate_threshold(index, y, beta="2")  # line 17

mlearn.set_config(materialise_budget="1 GiB")  # line 19
mlearn.Constraints([0, 1]).pairs("4")  # line 20
project_psd(np.eye(2)).compute()  # line 21
mlearn.features.ColorHistogram().fit([np.zeros((4, 4, 3))], n_bins=8)  # line 22
"""


@pytest.mark.slow
def test_type_checkers_see_the_new_hints(tmp_path, monkeypatch):
    error_lines, out = _mypy_error_lines(NEW_USER_CODE, tmp_path, monkeypatch)
    # the bad calls only; the correct uses above them type-check
    # (line 22: a keyword fit does not take, seen through the typed _fit_context)
    assert error_lines == [16, 17, 19, 20, 21, 22], out


LEARNER_USER_CODE = """
import numpy as np
import mlearn

X, y = np.zeros((4, 2)), np.array([0, 0, 1, 1])
pairs, labels = np.zeros((4, 2, 2)), np.array([1, 1, -1, -1])
lmnn: mlearn.LMNN = mlearn.LMNN().fit(X, y)
itml: mlearn.ITML = mlearn.ITML().fit(pairs, labels, calibration_params={"beta": 2.0})
scores: np.ndarray = itml.decision_function(pairs)
learner = mlearn.PairsMetricLearner().partial_fit(pairs, labels, sample_weight=[1, 1, 1, 1])
mlearn.ITML().fit(pairs, labels, prior="identity")  # line 11
mlearn.LMNN().fit(X, y).transform(X, copy=True)  # line 12
learner.partial_fit(pairs, labels, calibration_params="f_beta")  # line 13
"""


@pytest.mark.slow
def test_type_checkers_see_the_learner_hints(tmp_path, monkeypatch):
    error_lines, out = _mypy_error_lines(LEARNER_USER_CODE, tmp_path, monkeypatch)
    # the bad calls only: a keyword fit does not take (seen through the typed
    # _fit_context), a keyword transform does not take on what fit returned
    # (the learner), a str for a dict (seen through the typed fill_doc)
    assert error_lines == [11, 12, 13], out
