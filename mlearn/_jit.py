"""Numba as mlearn's kernel modules use it: ``njit`` and ``prange``, plus two things.

Kernel modules import ``njit`` and ``prange`` from here rather than from
Numba, so that importing any of them also sets up a note on stderr: the
first time in a process that Numba compiles one of mlearn's kernels, rather
than loading it from its on-disk cache (``cache=True``), one line says so. A
fresh install spends tens of seconds compiling on its first run, which would
otherwise look like a hang; once the cache is filled nothing is printed.

:func:`variant` gives a function compiled twice with different options (with
and without ``parallel=True``) a name of its own: Numba's cache keys a
compiled function by its module, name and first line, not by the options,
so two compilations of one function would load each other's code.

Only kernel modules import this module (it imports Numba); the rest of the
package reaches them through :mod:`mlearn._lazy`.
"""

import sys
import threading
import types

from numba import njit, prange
from numba.core import event

__all__ = ["COMPILE_NOTICE", "njit", "prange", "variant"]

COMPILE_NOTICE = (
    "mlearn: compiling Numba kernels for this machine; the first run takes up to a "
    "minute, later runs load them from Numba's cache"
)


class _CompileNotice(event.Listener):
    """Says once per process that one of mlearn's kernels is being compiled.

    Numba raises the ``numba:compile`` event only when it compiles, not when
    it loads a function from its cache.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self.said = False

    def on_start(self, ev):
        if self.said or not _is_mlearn_kernel(ev.data.get("dispatcher")):
            return
        with self._lock:
            if self.said:
                return
            self.said = True
        if sys.stderr is not None:  # pythonw and some services have no stderr
            print(COMPILE_NOTICE, file=sys.stderr, flush=True)

    def on_end(self, ev):
        pass


def _is_mlearn_kernel(dispatcher):
    module = getattr(getattr(dispatcher, "py_func", None), "__module__", None) or ""
    return module == "mlearn" or module.startswith("mlearn.")


_notice = _CompileNotice()
event.register("numba:compile", _notice)


def variant(func, suffix):
    """A copy of ``func`` named ``<name>_<suffix>``, to be compiled with other options.

    Parameters
    ----------
    func : function
        A plain Python function (not yet compiled).
    suffix : str
        Appended to its name and qualified name.

    Returns
    -------
    copy : function
        The same code, globals, defaults and closure under the new name, so
        that Numba caches its compilation apart from that of ``func``.
    """
    name = f"{func.__name__}_{suffix}"
    copy = types.FunctionType(
        func.__code__, func.__globals__, name, func.__defaults__, func.__closure__
    )
    copy.__qualname__ = f"{func.__qualname__}_{suffix}"
    copy.__module__ = func.__module__
    copy.__doc__ = func.__doc__
    copy.__kwdefaults__ = func.__kwdefaults__
    return copy
