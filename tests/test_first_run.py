"""Importing mlearn without Numba, compiling on first use, and Numba's on-disk cache."""

import importlib
import os
import subprocess
import sys
import textwrap

import pytest

from mlearn._jit import COMPILE_NOTICE

KERNEL_MODULES = [
    "mlearn.features._color_kernels",
    "mlearn.features._lbp_kernels",
    "mlearn.learners._itml_kernels",
    "mlearn.learners._lmnn_kernels",
    "mlearn.learners._nca_kernels",
    "mlearn.learners._oasis_kernels",
    "mlearn.learners._scml_kernels",
    "mlearn.pairwise._host_kernels",
    "mlearn.pairwise._numba",
]


def run_python(code, cache_dir=None):
    env = dict(os.environ)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = str(cache_dir)
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def test_import_leaves_numba_and_the_kernels_out():
    proc = run_python("""
        import sys
        import numpy as np
        from scipy.spatial.distance import cdist
        import mlearn
        print(sorted(m for m in sys.modules if m.split(".")[0] == "numba"
                     or m.startswith("mlearn.") and m.endswith(("_kernels", "._numba"))))
        X = np.random.RandomState(0).randn(30, 4)
        D = mlearn.pairwise.pairwise_distances(X[:10], X)
        assert np.allclose(D, cdist(X[:10], X), rtol=1e-10, atol=1e-12)
        Z = mlearn.LMNN(n_neighbors=2, max_iter=5, random_state=0).fit(X, np.arange(30) % 2)
        print("numba" in sys.modules, "mlearn.learners._lmnn_kernels" in sys.modules)
    """)
    first, after = proc.stdout.splitlines()
    assert first == "[]"
    assert after == "True True"  # the kernels were imported when first used


def public_modules():
    """``mlearn`` and every module below it whose dotted name has no private part."""
    import pkgutil

    import mlearn

    names = ["mlearn"]
    for info in pkgutil.walk_packages(mlearn.__path__, "mlearn."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return names


def test_importing_any_public_module_leaves_numba_out():
    modules = public_modules()
    assert {
        "mlearn.features",
        "mlearn.features.lbp",
        "mlearn.features.color",
        "mlearn.learners",
        "mlearn.learners.nca",
        "mlearn.metrics",
        "mlearn.pairwise",
        "mlearn.plotting",
    } <= set(modules)
    proc = run_python(f"""
        import importlib
        import sys
        for name in {modules!r}:
            try:
                importlib.import_module(name)
            except ImportError:  # an optional dependency (torch for mlearn.deep)
                continue
            if "numba" in sys.modules:
                print(name)
                break
    """)
    assert proc.stdout == "", f"importing {proc.stdout.strip()} imported numba"


def test_no_two_kernels_share_a_cache_entry():
    # Numba's cache keys a compiled function by module, qualified name and first
    # line, not by its options: two dispatchers with one key load each other's code
    keys = {}
    for name in KERNEL_MODULES:
        module = importlib.import_module(name)
        for value in vars(module).values():
            func = getattr(value, "py_func", None)
            if func is None or getattr(value, "_cache", None) is None:
                continue
            key = (func.__module__, func.__qualname__, func.__code__.co_firstlineno)
            keys.setdefault(key, set()).add(id(value))
    shared = {key: len(ids) for key, ids in keys.items() if len(ids) > 1}
    assert not shared


SERIAL_THEN_PARALLEL = """
    import numba
    import numpy as np
    from mlearn.learners import _lmnn_kernels as K
    from mlearn.learners._scml_kernels import triplet_hinge_mean

    def threads_started():
        try:
            numba.threading_layer()
        except ValueError:  # no parallel code has run
            return False
        return True

    Z = np.random.RandomState(0).randn(20, 3)
    a, b = np.arange(10), np.arange(10, 20)
    out = np.empty(10)
    {first}(Z, a, b, out)
    np.testing.assert_allclose(out, ((Z[a] - Z[b]) ** 2).sum(axis=1), rtol=1e-12)
    triplet_hinge_mean(Z, np.array([[0, 1, 2], [3, 4, 5]]))
    print(threads_started())
"""


@pytest.mark.parametrize("first, second", [("serial", "parallel"), ("parallel", "serial")])
def test_compiling_says_so_once_and_the_cache_keeps_variants_apart(tmp_path, first, second):
    def run(variant):
        code = SERIAL_THEN_PARALLEL.format(first=f"K._paired_sqdist_{variant}")
        return run_python(code, cache_dir=tmp_path)

    cold = run(first)
    # a fresh cache: compiled, and said once on stderr for several kernels
    assert cold.stderr.count(COMPILE_NOTICE) == 1
    assert cold.stdout.strip() == str(first == "parallel")
    other = run(second)
    # the other variant is compiled (not loaded as the first one's code)
    assert other.stdout.strip() == str(second == "parallel")
    warm = run(first)
    assert COMPILE_NOTICE not in warm.stderr  # everything came from the cache
    assert warm.stdout.strip() == str(first == "parallel")


def test_lazy_stand_ins_pickle_copy_and_follow_patches(monkeypatch):
    import copy
    import pickle

    import numpy.linalg

    from mlearn._lazy import lazy_callable, lazy_module

    linalg = lazy_module("numpy.linalg")
    norm = lazy_callable("numpy.linalg", "norm")
    for stand_in in (linalg, norm):
        for twin in (pickle.loads(pickle.dumps(stand_in)), copy.deepcopy(stand_in)):
            assert repr(twin) == repr(stand_in)
    assert pickle.loads(pickle.dumps(norm))([3.0, 4.0]) == 5.0
    assert pickle.loads(pickle.dumps(linalg)).norm([6.0, 8.0]) == 10.0
    # every use reads the module, so a patch on it is seen
    monkeypatch.setattr(numpy.linalg, "norm", lambda x: "patched")
    assert norm([1.0]) == linalg.norm([1.0]) == "patched"
