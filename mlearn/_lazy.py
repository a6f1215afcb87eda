"""Modules imported on first use: how ``import mlearn`` stays clear of Numba.

Importing Numba and compiling-module bodies costs about half a second, and
most sessions that import mlearn (to build a pipeline, to unpickle a model)
never run a kernel. The modules that hold Numba kernels are therefore reached
through stand-ins that import them the first time they are used:

>>> from mlearn._lazy import lazy_callable, lazy_module
>>> linalg = lazy_module("numpy.linalg")
>>> float(linalg.norm([3.0, 4.0]))  # numpy.linalg is imported here
5.0
>>> norm = lazy_callable("numpy.linalg", "norm")
>>> float(norm([6.0, 8.0]))
10.0

Every access goes to the module itself, so what a test patches on the module
is what the stand-in sees. Imports go through :func:`importlib.import_module`,
whose per-module lock makes a first use from several threads at once safe.
"""

import importlib

__all__ = ["lazy_callable", "lazy_module"]


class _LazyModule:
    """Stands for the module ``name`` and imports it when an attribute is read."""

    def __init__(self, name):
        self._name = name
        self._module = None

    def __getattr__(self, attr):
        if attr in ("_name", "_module"):  # an instance being unpickled has neither yet
            raise AttributeError(attr)
        module = self._module
        if module is None:
            module = self._module = importlib.import_module(self._name)
        return getattr(module, attr)

    def __reduce__(self):
        return _LazyModule, (self._name,)

    def __repr__(self):
        return f"<module {self._name!r}, imported on first use>"


class _LazyCallable:
    """Stands for ``module.name`` (a function or class) and imports it when called."""

    def __init__(self, module, name):
        self._module = _LazyModule(module)
        self._name = name

    def __call__(self, *args, **kwargs):
        return getattr(self._module, self._name)(*args, **kwargs)

    def __getattr__(self, attr):
        if attr in ("_module", "_name"):  # an instance being unpickled has neither yet
            raise AttributeError(attr)
        return getattr(getattr(self._module, self._name), attr)

    def __reduce__(self):
        return _LazyCallable, (self._module._name, self._name)

    def __repr__(self):
        return f"<{self._module._name}.{self._name}, imported on first use>"


def lazy_module(name):
    """The module ``name``, imported when one of its attributes is first read.

    Parameters
    ----------
    name : str
        Absolute dotted name, e.g. ``"mlearn.pairwise._numba"``.

    Returns
    -------
    module : object
        Reading ``module.attr`` imports ``name`` (once) and returns its
        ``attr``.
    """
    return _LazyModule(name)


def lazy_callable(module, name):
    """The function or class ``name`` of ``module``, imported when first called.

    For a name a module imports with ``from module import name`` and only
    calls: the call site stays as it is.

    Parameters
    ----------
    module : str
        Absolute dotted name of the module.
    name : str
        The callable's name in that module.

    Returns
    -------
    callable : object
        Calling it imports ``module`` (once) and calls ``module.name``.
    """
    return _LazyCallable(module, name)
