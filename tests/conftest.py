import os

# scikit-learn's array-API estimator check runs only when SciPy was imported
# with array-API support switched on; set it before anything imports SciPy.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import importlib
import importlib.util
import inspect
import pkgutil

import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.datasets import load_iris

import mlearn
from mlearn import Constraints


def _has_cuda():
    try:
        import cupy

        return bool(cupy.is_available())
    except Exception:
        return False


def pytest_collection_modifyitems(config, items):
    if _has_cuda():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device and CuPy")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


def discover_estimators():
    """Every public estimator class defined in mlearn, found by walking the package.

    Public means: its name does not start with an underscore, it subclasses
    scikit-learn's BaseEstimator, and it is not one of the base classes.
    """
    found = {}
    has_torch = importlib.util.find_spec("torch") is not None
    for info in pkgutil.walk_packages(mlearn.__path__, prefix="mlearn."):
        if any(part.startswith("_") for part in info.name.split(".")[1:]):
            continue
        # mlearn.deep needs torch, an optional extra
        if not has_torch and (info.name == "mlearn.deep" or info.name.startswith("mlearn.deep.")):
            continue
        module = importlib.import_module(info.name)
        for name, obj in list(vars(module).items()):
            if (
                inspect.isclass(obj)
                and not name.startswith("_")
                and issubclass(obj, BaseEstimator)
                and obj.__module__.startswith("mlearn.")
                and obj.__module__ != "mlearn.base"
                and not inspect.isabstract(obj)
            ):
                found[name] = obj
    return [found[name] for name in sorted(found)]


@pytest.fixture
def rng():
    return np.random.RandomState(0)


def tuple_dataset(kind, n=120, random_state=0):
    """Tuples drawn from iris labels: (tuples, y) with y None for triplets/quadruplets."""
    X, labels = load_iris(return_X_y=True)
    c = Constraints(labels)
    if kind == "pairs":
        pairs, y = c.pairs(n // 2, random_state=random_state)
        order = np.random.RandomState(random_state).permutation(len(y))
        return X[pairs[order]], y[order]
    if kind == "triplets":
        return X[c.triplets(n, random_state=random_state)], None
    a, b, cc, d = c.positive_negative_pairs(n, random_state=random_state)
    return X[np.column_stack([a, b, cc, d])], None


@pytest.fixture(scope="session")
def dask_client():
    """A client of a real two-process LocalCluster, shared by the session's tests.

    Two worker processes of one thread each, 1 GiB apiece, so that results
    travel between processes (pickled) as on a multi-machine cluster. Tests
    that need a tighter memory limit start their own cluster.
    """
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        memory_limit="1GiB",
        dashboard_address=None,
    )
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


class ComputeCounter:
    """Counts the graphs the local schedulers execute (a dask callback).

    ``with ComputeCounter() as counter: ...`` then ``counter.n_graphs`` is the
    number of ``compute`` calls made inside the block; building a lazy result
    must leave it at 0.
    """

    def __enter__(self):
        from dask.callbacks import Callback

        counter = self

        class _Count(Callback):
            def _start(self, dsk):
                counter.n_graphs += 1

        self.n_graphs = 0
        self._callback = _Count()
        self._callback.__enter__()
        return self

    def __exit__(self, *exc):
        self._callback.__exit__(*exc)
