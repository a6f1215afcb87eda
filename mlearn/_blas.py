"""How many threads BLAS may use around mlearn's own matrix products.

Two situations: a product mlearn runs itself (``blas_threads_for``: small
products get one BLAS thread, as waking others costs more than they save),
and products that each of mlearn's own threads runs on its share of the work
(``blas_threads_inside``: one BLAS thread each, or the threads would
oversubscribe the cores). The thread counts are read and set directly on
threadpoolctl's controllers of the BLAS libraries: a ``threadpool_limits``
context gathers information on every library first, which costs more than a
small product.
"""

import contextlib

from threadpoolctl import ThreadpoolController

__all__ = ["SERIAL_PRODUCT", "SMALL_PRODUCT", "blas_threads_for", "blas_threads_inside"]

#: Below this many multiply-adds a matrix product runs on one BLAS thread:
#: waking a second thread costs more than it saves (and much more when the
#: other core is busy).
SMALL_PRODUCT = 5e7

#: Below this many multiply-adds BLAS libraries already run a product on one
#: thread (OpenBLAS's own cut-off), so limiting the pool would only cost the
#: tens of microseconds that changing the limit takes.
SERIAL_PRODUCT = 2**18

_blas_libraries = None


def _blas():
    """threadpoolctl's controllers of the BLAS libraries loaded at first use."""
    global _blas_libraries
    if _blas_libraries is None:
        _blas_libraries = ThreadpoolController().select(user_api="blas").lib_controllers
    return _blas_libraries


@contextlib.contextmanager
def _one_blas_thread():
    changed = []
    for lib in _blas():
        previous = lib.get_num_threads()
        if previous is not None and previous > 1:
            lib.set_num_threads(1)
            changed.append((lib, previous))
    try:
        yield
    finally:
        for lib, previous in changed:
            lib.set_num_threads(previous)


def blas_threads_for(multiply_adds):
    """One BLAS thread for a mid-sized product; the library's setting otherwise.

    ``multiply_adds`` is the size of the largest product run in the block.
    """
    if SERIAL_PRODUCT <= multiply_adds < SMALL_PRODUCT:
        return _one_blas_thread()
    return contextlib.nullcontext()


def blas_threads_inside(multiply_adds):
    """One BLAS thread for products run inside mlearn's own threads.

    ``multiply_adds`` is the size of one thread's product; below
    ``SERIAL_PRODUCT`` BLAS runs it on one thread anyway.
    """
    if multiply_adds >= SERIAL_PRODUCT:
        return _one_blas_thread()
    return contextlib.nullcontext()
