"""Splitting pairwise work into pieces that fit a memory budget."""

import numbers

import numpy as np

#: ``kneighbors`` keeps whole rows of the distance matrix in a tile unless
#: fewer than this many rows would fit the budget; then it splits columns too.
KNN_MIN_ROWS = 16

#: Tile of the matrix-product path of ``kneighbors``, per thread (1 MiB in
#: float64): small enough to stay in cache while it is reduced to the top k,
#: and to keep the search's own memory small beside its output.
KNN_TILE_ROWS = 256
KNN_TILE_COLS = 512

#: Tile of ``pairwise_distances``' matrix-product path, per thread.
GEMM_TILE_ROWS = 256
GEMM_TILE_COLS = 1024


def resolve_working_memory(working_memory):
    """The budget in MiB: the argument, or scikit-learn's global setting."""
    if working_memory is None:
        import sklearn

        working_memory = sklearn.get_config()["working_memory"]
    if (
        isinstance(working_memory, bool)
        or not isinstance(working_memory, numbers.Real)
        or not np.isfinite(working_memory)
        or working_memory <= 0
    ):
        raise ValueError(
            f"working_memory must be a positive number of MiB or None, "
            f"got {working_memory!r}"
        )
    return float(working_memory)


def chunk_rows(n_rows, bytes_per_row, working_memory):
    """How many rows of ``bytes_per_row`` fit in ``working_memory`` MiB (at least 1)."""
    budget = working_memory * 2**20
    return int(max(1, min(n_rows, budget // max(bytes_per_row, 1))))


def slices(n, size):
    """Consecutive ``slice`` objects of at most ``size`` covering ``range(n)``."""
    size = max(int(size), 1)
    return [slice(start, min(start + size, n)) for start in range(0, n, size)]


def knn_tiles(n_rows, n_cols, itemsize, working_memory):
    """(rows, columns) of the distance tiles streamed by ``kneighbors``."""
    budget = working_memory * 2**20
    cols = n_cols
    if cols * itemsize * KNN_MIN_ROWS > budget:
        cols = max(1, int(budget // (itemsize * KNN_MIN_ROWS)))
    return chunk_rows(n_rows, cols * itemsize, working_memory), cols
