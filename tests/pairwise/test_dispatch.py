"""The backend table, the registry's behaviour, parameter validation and the
distance core's imports."""

import ast
import inspect
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import sklearn
import sklearn.utils._param_validation as param_validation
from numpy.testing import assert_allclose, assert_array_equal
from scipy.spatial.distance import cdist

import mlearn.pairwise
from mlearn.exceptions import NonPSDError
from mlearn.pairwise import (
    _api,
    _codes,
    _xp,
    kneighbors,
    paired_distances,
    pairwise_distances,
)
from mlearn.pairwise._backends import BACKENDS, get_backend, resolve_backend
from mlearn.pairwise._metrics import METRICS, get_metric

PACKAGE = Path(mlearn.pairwise.__file__).parent

ENTRY_POINTS = ("pairwise", "paired", "kneighbors")


@pytest.mark.parametrize("function", ENTRY_POINTS)
def test_every_backend_has_each_entry_point_with_one_signature(function):
    signatures = {
        name: inspect.signature(getattr(get_backend(name), function)) for name in BACKENDS
    }
    assert len(set(map(str, signatures.values()))) == 1, signatures


@pytest.mark.parametrize("name", sorted(BACKENDS))
@pytest.mark.parametrize("metric", ["euclidean", "cityblock", "cosine"])
def test_each_backend_through_the_table_against_scipy(name, metric):
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((30, 4)), rng.standard_normal((20, 4))
    backend = get_backend(name)
    entry = get_metric(metric)
    expected = cdist(X, Y, metric)
    assert_allclose(
        backend.pairwise(np, entry, X, Y, {}, False, 1.0), expected, rtol=1e-10, atol=1e-12
    )
    assert_allclose(
        backend.paired(np, entry, X[:20], Y, {}, 1.0),
        np.diag(expected[:20]),
        rtol=1e-10,
        atol=1e-12,
    )
    dist, ind = backend.kneighbors(np, entry, X, Y, {}, False, 3, False, 1.0)
    order = np.argsort(expected, axis=1, kind="stable")[:, :3]
    assert_array_equal(ind, order)
    assert_allclose(dist, np.take_along_axis(expected, order, 1), rtol=1e-10, atol=1e-12)


def test_backend_names():
    assert resolve_backend("auto", on_gpu=False) == "numba"
    assert resolve_backend("auto", on_gpu=True) == "cupy"
    with pytest.raises(ValueError, match="backend must be one of"):
        resolve_backend("gpu", on_gpu=False)
    # the unvalidated entry still names an unknown backend
    with pytest.raises(ValueError, match="backend must be one of"):
        _api._pairwise_distances(np.ones((2, 2)), backend="gpu")


@pytest.mark.parametrize(
    "p, code",
    [
        (1, _codes.MANHATTAN),
        (2, _codes.EUCLIDEAN),
        (np.inf, _codes.CHEBYSHEV),
        (3, _codes.MINKOWSKI),
        (2.5, _codes.MINKOWSKI),
    ],
)
def test_minkowski_entry_picks_its_kernel(p, code):
    entry = METRICS["minkowski"]
    params = entry.check_params({"p": p}, 3)
    X = np.abs(np.random.default_rng(1).standard_normal((6, 3)))
    assert entry.direct_operands(np, X, X, params, True)[0] == code
    assert_allclose(
        pairwise_distances(X, metric="minkowski", p=p),
        cdist(X, X, "minkowski", p=p),
        rtol=1e-12,
        atol=1e-300,
    )


@pytest.mark.parametrize("name", sorted(METRICS))
def test_registry_entry_checks_rows_and_unknown_parameters(name):
    entry = METRICS[name]
    with pytest.raises(ValueError, match="unexpected parameter"):
        entry.check_params({"nope": 1}, 3)
    negative = -np.ones((2, 3))
    if entry.histogram:
        with pytest.raises(ValueError, match="non-negative"):
            entry.validate_rows(np, negative, "X")
    else:
        entry.validate_rows(np, negative, "X")


def test_histogram_rows_prepared_by_their_entry():
    rng = np.random.default_rng(2)
    X = rng.random((5, 4))
    code, P, Q = METRICS["jensen_shannon"].direct_operands(np, X, X, {}, True)
    assert code == _codes.JENSEN_SHANNON and P is Q
    assert_allclose(P, X / X.sum(axis=1, keepdims=True), rtol=1e-15)
    params = METRICS["kl"].check_params({"eps": 0.5}, 4)
    code, P, _ = METRICS["kl"].direct_operands(np, X, X, params, True)
    assert code == _codes.KL
    assert_allclose(P, (X + 0.5) / (X + 0.5).sum(axis=1, keepdims=True), rtol=1e-15)


def test_cuda_source_names_its_codes():
    source = _xp.direct_source("double")
    for name, code in _codes.DIRECT_CODES.items():
        assert f"#define {name} {code}\n" in source
    body = _xp._DIRECT_SOURCE
    assert not re.search(r"case \d|code == \d", body)
    for name in _codes.DIRECT_CODES:
        assert name in body


# -- the PSD check of mahalanobis' M -----------------------------------------------------


def _matrix_with_smallest_eigenvalue(relative, d=4, seed=3):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    eigenvalues = np.array([relative, 0.5, 0.8, 1.0])
    return (Q * eigenvalues) @ Q.T, Q, eigenvalues


def test_mahalanobis_accepts_round_off_below_the_psd_tolerance():
    # -1e-9 relative: round-off by mlearn's one PSD tolerance (1e-8)
    M, Q, eigenvalues = _matrix_with_smallest_eigenvalue(-1e-9)
    M = (M + M.T) / 2
    X = np.random.default_rng(4).standard_normal((7, 4))
    clipped = (Q * np.clip(eigenvalues, 0, None)) @ Q.T
    expected = cdist(X, X, "mahalanobis", VI=clipped)
    assert_allclose(
        pairwise_distances(X, metric="mahalanobis", M=M), expected, rtol=1e-7, atol=1e-12
    )


def test_mahalanobis_refuses_a_negative_eigenvalue_beyond_the_tolerance():
    M, _, _ = _matrix_with_smallest_eigenvalue(-1e-6)
    M = (M + M.T) / 2
    with pytest.raises(NonPSDError, match="M for metric 'mahalanobis'.*-1e-06"):
        pairwise_distances(np.ones((3, 4)), metric="mahalanobis", M=M)


@pytest.mark.parametrize("scale", [1e307, 1e-307])
def test_mahalanobis_m_at_the_ends_of_the_range(scale):
    rng = np.random.default_rng(5)
    A = rng.standard_normal((3, 3))
    M = (A @ A.T + np.eye(3)) / 16
    X = rng.standard_normal((6, 3))
    expected = cdist(X, X, "mahalanobis", VI=M) * np.sqrt(scale)
    assert_allclose(pairwise_distances(X, metric="mahalanobis", M=M * scale), expected, rtol=1e-10)
    bad = M * scale
    bad[0, 0] = -bad[0, 0]
    with pytest.raises(NonPSDError, match="M for metric 'mahalanobis'"):
        pairwise_distances(X, metric="mahalanobis", M=bad)


def test_mahalanobis_m_near_the_largest_float():
    # M + M.T would overflow: the check neither warns nor lets a bad M through
    X = np.random.default_rng(8).standard_normal((5, 3))
    M = np.diag([1.5, 0.7, 0.3]) * 1e308
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        D = pairwise_distances(X, metric="mahalanobis", M=M)
        with pytest.raises(NonPSDError, match="smallest eigenvalue is -3e\\+307"):
            pairwise_distances(X, metric="mahalanobis", M=M * [1, 1, -1])
    assert_allclose(D, cdist(X, X, "mahalanobis", VI=M / 1e308) * 1e154, rtol=1e-12)


# -- parameter validation ----------------------------------------------------------------


@pytest.mark.parametrize(
    "call, argument",
    [
        (lambda X: pairwise_distances(X, metric=3), "metric"),
        (lambda X: pairwise_distances(X, metric="nope"), "metric"),
        (lambda X: pairwise_distances(X, backend="gpu"), "backend"),
        (lambda X: pairwise_distances(X, working_memory=np.inf), "working_memory"),
        (lambda X: pairwise_distances(X, working_memory=np.nan), "working_memory"),
        (lambda X: pairwise_distances(X, working_memory=True), "working_memory"),
        (lambda X: pairwise_distances(X, n_jobs=0), "n_jobs"),
        (lambda X: pairwise_distances(X, n_jobs=-2), "n_jobs"),
        (lambda X: pairwise_distances(X, n_jobs=True), "n_jobs"),
        (lambda X: paired_distances(X, X, backend=None), "backend"),
        (lambda X: paired_distances(X, X, metric=None), "metric"),
        (lambda X: kneighbors(X, n_neighbors=True), "n_neighbors"),
        (lambda X: kneighbors(X, n_neighbors=1.0), "n_neighbors"),
        (lambda X: kneighbors(X, n_neighbors=0), "n_neighbors"),
        (lambda X: kneighbors(X, n_neighbors=1, exclude_self="yes"), "exclude_self"),
        (lambda X: kneighbors(X, n_neighbors=1, n_jobs=1.5), "n_jobs"),
    ],
)
def test_public_functions_name_the_bad_parameter(call, argument):
    with pytest.raises(param_validation.InvalidParameterError, match=f"'{argument}' parameter of"):
        call(np.ones((4, 3)))


def test_valid_parameters_of_every_kind_pass():
    X = np.random.default_rng(6).standard_normal((5, 3))
    expected = cdist(X, X)
    for kwargs in (
        {"n_jobs": -1},
        {"n_jobs": np.int64(1)},
        {"working_memory": 0.5},
        {"backend": "numpy"},
        {"metric": "l2"},
    ):
        assert_allclose(pairwise_distances(X, **kwargs), expected, rtol=1e-10, atol=1e-12)
    _, ind = kneighbors(X, n_neighbors=np.int32(2), exclude_self=np.bool_(True))
    assert_array_equal(ind, np.argsort(expected + np.diag([np.inf] * 5), axis=1)[:, :2])


@pytest.fixture
def validations(monkeypatch):
    """How many times scikit-learn's parameter validation runs."""
    calls = []
    original = param_validation.validate_parameter_constraints

    def counted(*args, **kwargs):
        calls.append(kwargs.get("caller_name", args[-1] if args else None))
        return original(*args, **kwargs)

    monkeypatch.setattr(param_validation, "validate_parameter_constraints", counted)
    return calls


def test_private_entries_skip_the_parameter_validation(validations):
    X = np.random.default_rng(7).standard_normal((9, 3))
    with sklearn.config_context(skip_parameter_validation=False):
        public = (
            pairwise_distances(X),
            paired_distances(X, X[::-1]),
            kneighbors(X, n_neighbors=2),
        )
        assert len(validations) == 3
        private = (
            _api._pairwise_distances(X),
            _api._paired_distances(X, X[::-1]),
            _api._kneighbors(X, n_neighbors=2),
        )
        assert len(validations) == 3
    for a, b in zip(public[:2], private[:2]):
        assert_array_equal(a, b)
    assert_array_equal(public[2][1], private[2][1])
    assert_array_equal(public[2][0], private[2][0])


def test_working_memory_setting_is_checked():
    with sklearn.config_context(working_memory=-1):
        with pytest.raises(ValueError, match="working_memory"):
            pairwise_distances(np.ones((3, 2)))


@pytest.mark.parametrize(
    "call",
    [
        lambda X: pairwise_distances(X, metric="sqeuclidean"),
        lambda X: paired_distances(X, X[::-1], metric="sqeuclidean"),
        lambda X: kneighbors(X, n_neighbors=1, metric="sqeuclidean"),
    ],
)
def test_overflow_warning_points_at_the_caller(call):
    # squared distances of points 1e200 apart exceed float64: inf, with a warning
    X = np.array([[0.0, 1e200], [1e200, 0.0], [3e200, 1e200]])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call(X)
    overflow = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert overflow and overflow[0].filename == __file__


# -- imports -----------------------------------------------------------------------------

#: Optional dependencies, imported inside the functions that need them.
OPTIONAL = ("dask", "distributed", "cupy")


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_no_function_level_imports_but_optional_ones(path):
    tree = ast.parse(path.read_text())
    for function in ast.walk(tree):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert all(n.split(".")[0] in OPTIONAL for n in names), (
                f"{path.name}:{node.lineno} imports {names} inside {function.name}"
            )
