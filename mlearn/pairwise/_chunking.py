"""Splitting pairwise work into pieces that fit a memory budget.

The backends cut their work with :func:`slices`; inside :func:`reporting`
(``verbose=True`` of the public functions) the outermost cut made reports
each of its pieces once done, so the progress shown is that of the loop that
really runs and the computation is the same with or without it.
"""

import contextlib
import contextvars
from numbers import Real

import sklearn

from .._progress import progress
from .._sklearn_compat import Interval

#: ``kneighbors`` keeps whole rows of the distance matrix in a tile unless
#: fewer than this many rows would fit the budget; then it splits columns too.
KNN_MIN_ROWS = 16

#: Tile of the matrix-product path of ``kneighbors``, per thread (1 MiB in
#: float64): small enough to stay in cache while it is reduced to the top k,
#: and to keep the search's own memory small beside its output.
KNN_TILE_ROWS = 256
KNN_TILE_COLS = 512

#: Rows per BLAS product when the data are projected (``X @ L.T`` for
#: mahalanobis, ``X @ M`` for bilinear): products cut at fixed multiples of
#: it give every row the same bits however many rows are projected at once.
PROJECT_ROWS = 512

#: Square tile of ``kneighbors`` when the rows are compared with themselves
#: (each distance is computed once and offered to both of its rows' heaps).
KNN_SAME_TILE = 512

#: Largest tile of ``pairwise_distances``' matrix-product path. Each tile is
#: one BLAS call writing straight into the output, then finished in place;
#: large tiles amortise BLAS's packing of its operands over more of the
#: output (see docs/user_guide/distances.rst for the measured choice).
GEMM_TILE_ROWS = 1024
GEMM_TILE_COLS = 2048

#: Smallest tile the matrix-product path splits down to, and how many tiles
#: per thread it aims for, so that small outputs still use every thread.
GEMM_MIN_ROWS = 64
GEMM_MIN_COLS = 256
GEMM_TILES_PER_THREAD = 4

#: A memory budget: positive and finite (MiB).
POSITIVE_MIB = Interval(Real, 0, None, closed="neither")


def resolve_working_memory(working_memory):
    """The budget in MiB: the argument (checked by the public functions), or
    scikit-learn's global setting, checked here."""
    if working_memory is not None:
        return float(working_memory)
    configured = sklearn.get_config()["working_memory"]
    if not POSITIVE_MIB.is_satisfied_by(configured):
        raise ValueError(
            "working_memory is None, and scikit-learn's working_memory setting must "
            f"then be a positive number of MiB, got {configured!r}"
        )
    return float(configured)


def chunk_rows(n_rows, bytes_per_row, working_memory):
    """How many rows of ``bytes_per_row`` fit in ``working_memory`` MiB (at least 1)."""
    budget = working_memory * 2**20
    return int(max(1, min(n_rows, budget // max(bytes_per_row, 1))))


def slices(n, size):
    """Consecutive ``slice`` objects of at most ``size`` covering ``range(n)``.

    Within :func:`reporting`, the first call's pieces are reported as they
    are done (the list iterates as a plain list otherwise).
    """
    size = max(int(size), 1)
    parts = [slice(start, min(start + size, n)) for start in range(0, n, size)]
    report = _REPORT.get()
    return parts if report is None else report.pieces(parts)


#: The report of the computation running in this context, or None.
_REPORT = contextvars.ContextVar("mlearn_pairwise_report", default=None)


@contextlib.contextmanager
def reporting(desc, enabled):
    """Report, on stderr through :func:`mlearn._progress.progress`, the
    pieces of the first :func:`slices` called inside (the backend's outer
    loop; the cuts nested in it are parts of its pieces). Work that runs in
    one piece (one parallel Numba call over all its tiles) is reported as
    ``1/1`` when done. ``enabled=False`` changes nothing."""
    if not enabled:
        yield
        return
    with contextlib.ExitStack() as stack:
        report = _Report(desc, stack)
        token = _REPORT.set(report)
        try:
            yield
        finally:
            _REPORT.reset(token)
        if report.bar is None:
            with progress(1, desc) as bar:
                bar.update(1)


class _Report:
    def __init__(self, desc, stack):
        self.desc = desc
        self.stack = stack
        self.bar = None

    def pieces(self, parts):
        if self.bar is not None:  # a cut within a piece already counted
            return parts
        self.bar = self.stack.enter_context(progress(len(parts), self.desc))
        return _ReportedPieces(parts, self.bar)


class _ReportedPieces(list):
    """A list of slices whose iteration reports each piece once its work is done."""

    def __init__(self, parts, bar):
        super().__init__(parts)
        self._bar = bar

    def __iter__(self):
        for part in super().__iter__():
            yield part  # the caller works on ``part`` until it asks for the next
            self._bar.update(1)


def knn_tiles(n_rows, n_cols, itemsize, working_memory):
    """(rows, columns) of the distance tiles streamed by ``kneighbors``."""
    budget = working_memory * 2**20
    cols = n_cols
    if cols * itemsize * KNN_MIN_ROWS > budget:
        cols = max(1, int(budget // (itemsize * KNN_MIN_ROWS)))
    return chunk_rows(n_rows, cols * itemsize, working_memory), cols


def _power_of_two_floor(value):
    return 1 << (max(int(value), 1).bit_length() - 1)


def knn_product_tiles(n_cols, itemsize, working_memory):
    """(rows, columns) of one thread's tile in ``kneighbors``' product path.

    A cache-sized tile (``KNN_TILE_ROWS`` x ``KNN_TILE_COLS``) within
    ``working_memory`` MiB (the thread's share), all columns when fewer.
    Its sides are powers of two (or the number of columns), so that the
    tiles of a block of rows or columns starting at a multiple of
    ``KNN_TILE_COLS`` line up with those of the whole.
    """
    rows, cols = knn_tiles(KNN_TILE_ROWS, min(n_cols, KNN_TILE_COLS), itemsize, working_memory)
    if cols < n_cols:
        cols = _power_of_two_floor(cols)
        rows = chunk_rows(KNN_TILE_ROWS, cols * itemsize, working_memory)
    return _power_of_two_floor(rows), cols


def gemm_tiles(n_rows, n_cols, itemsize, n_threads, working_memory):
    """(rows, columns) of the tiles of ``pairwise_distances``' product path.

    Start from the largest tile and halve it, columns first, until there are
    ``GEMM_TILES_PER_THREAD`` tiles per thread or the smallest tile is
    reached; then shrink to the per-thread share of ``working_memory``.
    """

    def count(r, c):
        return -(-n_rows // r) * -(-n_cols // c)

    rows, cols = min(n_rows, GEMM_TILE_ROWS), min(n_cols, GEMM_TILE_COLS)
    wanted = GEMM_TILES_PER_THREAD * max(int(n_threads), 1)
    while count(rows, cols) < wanted and cols > GEMM_MIN_COLS:
        cols = max(GEMM_MIN_COLS, cols // 2)
    while count(rows, cols) < wanted and rows > GEMM_MIN_ROWS:
        rows = max(GEMM_MIN_ROWS, rows // 2)
    per_thread = working_memory / max(int(n_threads), 1)
    return knn_tiles(rows, cols, itemsize, per_thread)
