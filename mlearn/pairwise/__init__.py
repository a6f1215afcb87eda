"""Distance core: pairwise, paired and k-nearest-neighbour distances.

Every learner, ``transform``, ``pair_distance`` and ``get_metric`` in mlearn
computes distances through these three functions. They dispatch to a NumPy
reference, parallel Numba kernels or CuPy on the GPU (``backend=``), work in
chunks under ``working_memory`` MiB, and return float32 when both inputs are
float32 (float64 otherwise). Dense input of any finite magnitude is
accepted (data near the ends of the floating range are rescaled exactly by
powers of two); sparse input is refused. Dask arrays give lazy dask results,
computed block by block (``kneighbors`` exactly as in memory; see its notes).

The metrics and their definitions are listed in :data:`METRIC_NAMES` and in
the user guide.
"""

from ._api import kneighbors, paired_distances, pairwise_distances
from ._metrics import ALIASES, METRICS

#: Canonical metric names accepted by the functions of this module.
METRIC_NAMES = tuple(METRICS)

__all__ = ["METRIC_NAMES", "kneighbors", "paired_distances", "pairwise_distances"]

del ALIASES
