"""The backends, looked up by name, and where an array lives.

A backend is a module with three entry points of one signature each::

    pairwise(xp, metric, X, Y, params, same, working_memory, n_jobs=None,
             centre=None) -> distances of shape (n, m)
    paired(xp, metric, A, B, params, working_memory, n_jobs=None)
        -> distances of shape (n,)
    kneighbors(xp, metric, X, Y, params, same, n_neighbors, exclude_self,
               working_memory, n_jobs=None, centre=None) -> (distances, indices)

``xp`` is the array namespace of the inputs, ``metric`` the registry entry
(``_metrics.Metric``), ``X``, ``Y`` (``A``, ``B``) validated inputs of one
floating dtype, rescaled where their magnitude requires it (``Y is X`` when
``same``), ``params`` the checked metric parameters in ``xp`` and the inputs'
dtype, ``n_jobs`` the threads of the Numba kernels and ``centre`` the point
the centred product metrics subtract (``_operands.Centre``; None: that of
the inputs). The results are those of the rescaled inputs: the caller
multiplies them back (``_scaling.scale_back``).

The modules are imported when first used: the Numba kernels load (or
compile) only when a computation needs them.
"""

import importlib

#: Backend name -> the module that implements it.
BACKENDS = {"numpy": "._numpy", "numba": "._numba", "cupy": "._xp"}

#: Every name ``backend=`` accepts.
BACKEND_OPTIONS = frozenset(BACKENDS) | {"auto"}


def resolve_backend(backend, on_gpu):
    """The backend that runs: ``"auto"`` is ``"cupy"`` for inputs on a GPU and
    ``"numba"`` otherwise."""
    if backend == "auto":
        return "cupy" if on_gpu else "numba"
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {sorted(BACKEND_OPTIONS)}, got {backend!r}")
    return backend


def get_backend(backend):
    """The module of ``backend`` (a name of :data:`BACKENDS`)."""
    return importlib.import_module(BACKENDS[resolve_backend(backend, False)], __package__)


def is_cupy_array(array):
    """Whether ``array`` is a CuPy array, found without importing CuPy."""
    return type(array).__module__.split(".")[0] == "cupy"


def import_cupy():
    """The ``cupy`` module, or an ImportError saying how to install it."""
    try:
        import cupy
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            'backend="cupy" needs CuPy; install it with pip install "mlearn-metric[gpu]"'
        ) from exc
    return cupy
