"""Distances and exact nearest neighbours of dask arrays, block by block.

:func:`~mlearn.pairwise.pairwise_distances`, :func:`~mlearn.pairwise.paired_distances`
and :func:`~mlearn.pairwise.kneighbors` send their work here when an input is
a :class:`dask.array.Array`; each returns lazy dask arrays, computed by
whatever scheduler runs them (threads, a ``LocalCluster``, a cluster). Every
block is computed by the in-memory kernels of the backends.

The kernels compute each distance from quantities of the whole inputs: the
power of two that rescales data of extreme magnitude (from their sums of
squares and largest magnitudes), the mean subtracted before the matrix
products of euclidean, sqeuclidean and mahalanobis (and whether to subtract
it), and the shapes of the BLAS products. So that blocks give the numbers
the whole would:

1. one task per block checks its values and sums its groups of
   ``SUM_ROWS`` rows, and one task adds the groups' sums in order, as the
   in-memory kernels sum the whole array (``_summarise``, ``_finish_stats``);
2. ``kneighbors`` cuts queries and points at multiples of the whole search's
   tile grid (``_numba.knn_alignment``), so that every product has the shape
   the whole search gives it; each (query block x point block) task keeps its
   ``n_neighbors`` best by (ranking value, global index);
3. a tree of merges (``SPLIT_EVERY`` lists a task) keeps the best of those,
   ties to the smaller index; one last task finishes them (square roots, the
   power of two) as the in-memory search does.

The pass (1) and the search read their own copies of the blocks, the
search's only once the pass is done (``_fresh_blocks``): no block is held
from one to the other, and a worker holds a few blocks at a time whatever
the size of the data.

With the default (Numba) backend the neighbours and distances are those of
the in-memory call on the same data, to the bit. ``pairwise_distances``
keeps the inputs' blocks, whose products then have other shapes than the
whole's: its values agree with the in-memory ones to rounding (the direct
metrics to the bit but for manhattan's small blocks).
"""

import itertools
import math
import operator
import sys
from dataclasses import dataclass

import numpy as np

from .._lazy import lazy_module
from . import _numpy, _xp
from ._backends import get_backend, import_cupy, is_cupy_array, resolve_backend
from ._chunking import knn_tiles
from ._inputs import check_candidates, check_one, refuse_sparse
from ._metrics import get_metric
from ._operands import Centre, centre_from
from ._scaling import (
    SAFE_SQUARES,
    apply_scales,
    largest_magnitude,
    scale_back,
    scale_exponents,
    sum_of_squares,
)

# imported on first use, so that importing mlearn does not import Numba
_host_kernels = lazy_module("mlearn.pairwise._host_kernels")
_numba = lazy_module("mlearn.pairwise._numba")

#: Partial neighbour lists merged by one task of the tree reduction.
SPLIT_EVERY = 8

#: Share of ``working_memory`` for a block of the points searched (input,
#: its prepared copy and operands), and for a block of queries (the same
#: plus its neighbour lists and their merges).
POINTS_SHARE = 0.5
QUERIES_SHARE = 0.25

_NO_INDEX = np.iinfo(np.int64).max


def is_dask_array(array):
    """Whether ``array`` is a dask array, found without importing dask."""
    if not type(array).__module__.startswith("dask."):
        return False
    import dask.array as da

    return isinstance(array, da.Array)


def involves_dask(*arrays):
    """Whether any of ``arrays`` is a dask array."""
    return any(is_dask_array(a) for a in arrays if a is not None)


def _dask_modules():
    try:
        import dask
        import dask.array as da
    except ImportError as exc:  # pragma: no cover - a dask array implies dask
        raise ImportError(
            'dask arrays need dask; install it with pip install "mlearn-metric[dask]"'
        ) from exc
    return dask, da


# -- inputs ---------------------------------------------------------------------------


def _as_dask(array, name):
    """A 2-D dask array of reals with one chunk of columns, checked as far as
    can be without computing it. NumPy and CuPy arrays (beside a dask
    argument) are checked now and become one-block dask arrays."""
    _, da = _dask_modules()
    if not is_dask_array(array):
        refuse_sparse(array, name)
        xp = import_cupy() if is_cupy_array(array) else np
        array, _ = check_one(xp, array, name)
        return da.from_array(array, chunks=array.shape, asarray=False)
    meta = getattr(array, "_meta", None)
    if hasattr(meta, "toarray") or hasattr(meta, "tocsr"):
        raise TypeError(
            f"{name} must be a dask array of dense blocks; sparse blocks are not supported"
        )
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got {array.ndim} dimension(s)")
    if any(math.isnan(size) for size in array.shape):
        raise ValueError(
            f"{name} has blocks of unknown size (shape {array.shape}); "
            f"call {name}.compute_chunk_sizes() first"
        )
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(
            f"{name} must have at least one row and one column, got shape {array.shape}"
        )
    if array.dtype.kind not in "fiub":
        raise ValueError(f"{name} must hold real numbers, got dtype {array.dtype}")
    if array.dtype not in (np.float32, np.float64):
        array = array.astype(np.float64)
    if len(array.chunks[1]) > 1:
        array = array.rechunk({1: -1})
    return array


def _on_gpu(array):
    return is_cupy_array(getattr(array, "_meta", None))


def _settle(X, Y, backend, names):
    """``(X, Y, same, working dtype, backend, on_gpu)`` of two inputs as dask
    arrays; ``Y`` is ``X`` when ``same`` (``Y`` None or ``X`` itself)."""
    same = Y is None or Y is X
    X = _as_dask(X, names[0])
    Y = X if same else _as_dask(Y, names[1])
    on_gpu = _on_gpu(X) or _on_gpu(Y)
    backend = resolve_backend(backend, on_gpu)
    both32 = X.dtype == np.float32 and Y.dtype == np.float32
    dtype = np.dtype(np.float32 if both32 else np.float64)
    return X, Y, same, dtype, backend, on_gpu


def _parallelism():
    """Threads a computation will likely run on: the cluster's when a
    distributed client is active, else the local scheduler's."""
    import dask

    if "distributed" in sys.modules:
        try:
            from distributed import default_client

            return max(1, sum(default_client().nthreads().values()))
        except (ValueError, OSError):
            pass
    if dask.config.get("scheduler", None) in ("sync", "synchronous", "single-threaded"):
        return 1
    from dask.system import CPU_COUNT

    return max(1, int(dask.config.get("num_workers", None) or CPU_COUNT))


def _row_chunks(array, max_rows, step, n_blocks=1):
    """Row blocks for ``array``: about ``n_blocks`` blocks (as the rows allow)
    of at most ``max_rows`` rows, each starting at a multiple of ``step``.

    Blocks follow the array's chunks, so that a task reading a block loads
    what no other block needs: chunks too large are split into even parts
    (views), small ones grouped. A chunk boundary off the multiples of
    ``step`` gets a block of its own, the ``step`` rows around it (the only
    rows copied from two chunks into one block); with many such boundaries
    the rows are cut anew into even blocks.
    """
    n = array.shape[0]
    if step >= n:
        return (n,)
    max_rows = max(step, int(max_rows) // step * step)
    n_blocks = min(max(int(n_blocks), -(-n // max_rows)), -(-n // step))
    size = min(max_rows, _ceil_div(_ceil_div(n, n_blocks), step) * step)
    ends = np.cumsum(array.chunks[0])[:-1].tolist()
    odd = [b for b in ends if b % step]
    if len(odd) > max(n_blocks, n // size):
        return (size,) * (n // size) + ((n % size,) if n % size else ())
    cuts = {0, n} | {b for b in ends if b % step == 0}
    for b in odd:
        cuts |= {b // step * step, min(n, b // step * step + step)}
    cuts = sorted(cuts)
    blocks, grouping = [], False
    for lo, hi in itertools.pairwise(cuts):
        length = hi - lo
        if any(lo < b < hi for b in odd):  # the rows around an odd boundary
            blocks.append(length)
            grouping = False
        elif length > size:
            parts = _ceil_div(length, size)
            part = _ceil_div(_ceil_div(length, parts), step) * step
            blocks += [part] * (length // part) + ([length % part] if length % part else [])
            grouping = False
        elif grouping and blocks[-1] + length <= size:
            blocks[-1] += length
        else:
            blocks.append(length)
            grouping = True
    return tuple(blocks)


def _ceil_div(a, b):
    return -(-a // b)


def _rechunk(array, rows):
    return array if array.chunks[0] == tuple(rows) else array.rechunk({0: rows})


def _offsets(chunks):
    return np.concatenate([[0], np.cumsum(chunks)[:-1]]).astype(int).tolist()


def _token(*args):
    from dask.base import tokenize

    return tokenize(*args)


# -- the pass over the data -------------------------------------------------------------


@dataclass
class _Summary:
    """What the pass gathers from one block of rows ``row0...``.

    The in-memory kernels sum the rows of a whole array by groups of
    ``SUM_ROWS`` (``_host_kernels.column_sums``, ``sum_of_squares``): the block
    sums its whole groups (column sums, and sums of squares as the in-memory
    validation takes them) and keeps the rows of a group it holds only part
    of (``head``, ``tail``: fewer than ``SUM_ROWS`` rows each), which
    ``_whole`` completes with its neighbours' rows. Also: how many
    subnormal values its sums met, its largest magnitude, and its sum of
    squares as ``(value, e)``, ``value * 4**e``, which neither overflows nor
    underflows.
    """

    rows: int
    head: object
    column_parts: object
    square_parts: object
    tail: object
    n_small: int
    largest: float
    scaled_squares: tuple


@dataclass(frozen=True)
class _Checks:
    """How ``_summarise`` reads the blocks of one input."""

    name: str
    dtype: object
    metric: str


def _namespace(block):
    return import_cupy() if is_cupy_array(block) else np


def _summarise(block, checks, row0):
    """The ``_Summary`` of one block (rows ``row0...`` of its input), its
    values checked as the in-memory validation checks them."""
    xp = _namespace(block)
    block = xp.ascontiguousarray(xp.asarray(block, dtype=checks.dtype))
    n = block.shape[0]
    if xp is np:
        group = _host_kernels.SUM_ROWS
        first = min(n, -row0 % group)  # rows before the block's first whole group
        last = first + (n - first) // group * group
        if first == n:  # within one group
            last = n
        head, body, tail = block[:first], block[first:last], block[last:]
        columns, squares, n_small = _group_sums(body, checks.dtype)
        total = float(_host_kernels.sum_of_squares(block))
    else:
        # on the GPU the block is summed at once (no bitwise promise there)
        total = float(xp.vdot(block, block))
        head = tail = np.empty((0, block.shape[1]), dtype=checks.dtype)
        squares = np.array([total])
        columns = xp.asnumpy(xp.sum(block, axis=0))[None, :]
        n_small = 0
    if not np.isfinite(total) and not bool(xp.all(xp.isfinite(block))):
        raise ValueError(f"Input {checks.name} contains NaN or infinity.")
    get_metric(checks.metric).validate_rows(xp, block, checks.name)
    largest = largest_magnitude(xp, block)
    return _Summary(
        n,
        np.array(head),
        columns,
        squares,
        np.array(tail),
        n_small,
        largest,
        _scaled_squares(xp, block, total, largest),
    )


def _group_sums(rows, dtype):
    """Column sums and sums of squares of ``rows`` by groups of ``SUM_ROWS``
    (rows a multiple of it, or a group's rows), as the in-memory kernels
    take them; and how many subnormal values the column sums met."""
    n_groups = -(-rows.shape[0] // _host_kernels.SUM_ROWS)
    squares = np.empty(n_groups)
    columns = np.empty((n_groups, rows.shape[1]), dtype=dtype)
    if n_groups:
        _host_kernels.square_parts(rows, squares)
        n_small = int(_host_kernels.column_parts(rows, columns, np.finfo(dtype).tiny))
    else:
        n_small = 0
    return columns, squares, n_small


def _scaled_squares(xp, block, total, largest):
    """The block's sum of squares ``total`` as ``(value, e)``, ``value * 4**e``,
    taken again from the block divided by a power of two where ``total``
    overflowed or lost its digits."""
    if total == 0 or SAFE_SQUARES[8][0] <= total <= SAFE_SQUARES[8][1]:
        return total, 0
    exponent = int(np.frexp(largest)[1])
    return sum_of_squares(xp, xp.ldexp(block, -exponent)), exponent


def _add_scaled(a, b):
    exponent = max(a[1], b[1])
    return (
        math.ldexp(a[0], 2 * (a[1] - exponent)) + math.ldexp(b[0], 2 * (b[1] - exponent)),
        exponent,
    )


@dataclass(frozen=True)
class _Whole:
    """One input's summaries put together, as the in-memory kernels sum the
    whole array: the groups' sums added in order."""

    rows: int
    sums: object
    n_small: int
    squares: float
    largest: float
    scaled_squares: tuple


def _whole(summaries, dtype):
    """The sums of a whole input from its blocks' summaries, in order: each
    group of rows cut by a block boundary summed from its pieces' rows."""
    columns, squares, pending = [], [], []
    n_small = 0
    for s in summaries:
        pieces = [s.head] if len(s.head) else []
        if len(s.column_parts) or len(s.tail):
            # the block closes the group its head belongs to
            if pending or pieces:
                c, q, small = _group_sums(np.concatenate(pending + pieces), dtype)
                columns.append(c)
                squares.append(q)
                n_small += small
            pending = [s.tail] if len(s.tail) else []
        else:
            pending += pieces
        columns.append(s.column_parts)
        squares.append(s.square_parts)
        n_small += s.n_small
    if pending:
        c, q, small = _group_sums(np.concatenate(pending), dtype)
        columns.append(c)
        squares.append(q)
        n_small += small
    columns = np.concatenate(columns)
    tiny = np.finfo(dtype).tiny
    sums = np.zeros(columns.shape[1], dtype=dtype)
    n_small += int(_host_kernels.add_rows_in_order(columns, sums, tiny))
    scaled = (0.0, 0)
    for s in summaries:
        scaled = _add_scaled(scaled, s.scaled_squares)
    return _Whole(
        sum(s.rows for s in summaries),
        sums,
        n_small,
        float(_host_kernels.add_in_order(np.concatenate(squares), 0.0)),
        max(s.largest for s in summaries),
        scaled,
    )


@dataclass(frozen=True)
class _Spec:
    """What every task of one computation needs to know (one object in the
    graph, shared by reference)."""

    metric: str
    params: dict
    dtype: object
    same: bool
    paired: bool
    backend: str
    on_gpu: bool
    working_memory: float
    n_jobs: int = 1
    n_neighbors: int = 0
    exclude_self: bool = False
    grid: object = None


@dataclass
class _Stats:
    """The whole inputs' quantities the blocks are computed from: the powers
    of two of ``_scaling.scale_exponents`` and the ``Centre`` of the product
    metrics (None for the others)."""

    scales: tuple
    centre: object


def _finish_stats(summaries_x, summaries_y, spec):
    """The ``_Stats`` of the whole inputs from the summaries of their blocks,
    computed as ``_api._prepare`` and ``_operands.centre_of`` compute them in
    memory."""
    entry = get_metric(spec.metric)
    sx = _whole(summaries_x, spec.dtype)
    sy = sx if spec.same else _whole(summaries_y, spec.dtype)
    params = {
        key: (np.asarray(value, dtype=spec.dtype) if key in ("L", "M") else value)
        for key, value in spec.params.items()
    }
    scales = scale_exponents(
        np,
        entry,
        spec.same,
        params,
        (sx.squares, sy.squares),
        spec.dtype,
        lambda: (sx.largest, sy.largest),
    )
    centre = None
    if entry.centred and spec.backend != "numpy":
        centre = _whole_centre(sx, sy, spec.same, scales[0])
    return _Stats(scales, centre)


def _whole_centre(sx, sy, same, exponent):
    """``_operands.centre_of`` of the (rescaled) whole inputs from their sums."""
    parts = [sx] if same else [sx, sy]
    if exponent == 0:
        sums = [p.sums for p in parts]
        squares = [p.squares for p in parts]
    else:
        # scaling by a power of two commutes with sums free of subnormal and
        # infinite values; the sums of squares decide only whether to centre
        exact = all(p.n_small == 0 and np.all(np.isfinite(p.sums)) for p in parts)
        if not exact:
            return Centre(None)  # uncentred products stay exact to TAU
        sums = [np.ldexp(p.sums, -exponent) for p in parts]
        squares = [
            math.ldexp(p.scaled_squares[0], 2 * (p.scaled_squares[1] - exponent)) for p in parts
        ]
    total_sums, total_squares = sums[0], squares[0]
    for more_sums, more_squares in zip(sums[1:], squares[1:]):
        total_sums = total_sums + more_sums
        total_squares = total_squares + more_squares
    return centre_from(np, total_sums, total_squares, sum(p.rows for p in parts))


def _stats_layer(name, arrays, names, spec):
    """Tasks of the pass over ``arrays`` (one per block, on fresh copies of
    the blocks: see ``_fresh_blocks``) and of the ``_Stats`` they give, under
    key ``(name,)``."""
    tasks, summaries = {}, []
    for index, (array, label) in enumerate(zip(arrays, names)):
        if array is None:
            summaries.append(None)
            continue
        copies, blocks = _fresh_blocks(array, f"{name}-copy{index}")
        tasks.update(copies)
        checks = _Checks(label, spec.dtype, spec.metric)
        keys = [(f"{name}-pass{index}", i) for i in range(len(blocks))]
        tasks.update(
            {
                key: (_summarise, block, checks, row0)
                for key, block, row0 in zip(keys, blocks, _offsets(array.chunks[0]))
            }
        )
        summaries.append(keys)
    tasks[(name,)] = (_finish_stats, summaries[0], summaries[1], spec)
    return tasks


def _gated_blocks(tasks, name, X, Y, gate):
    """Keys of the blocks of X and of Y (X's when Y is None) that the work
    reads: copies that start once ``gate`` (the whole inputs' statistics) is
    computed; their tasks are added to ``tasks``."""
    copies, x_blocks = _fresh_blocks(X, f"{name}-x", gate=(gate,))
    tasks.update(copies)
    if Y is None:
        return x_blocks, x_blocks
    copies, y_blocks = _fresh_blocks(Y, f"{name}-y", gate=(gate,))
    tasks.update(copies)
    return x_blocks, y_blocks


def _after(_, value):
    return value


def _fresh_blocks(array, prefix, gate=None):
    """``(tasks, keys)``: tasks computing ``array``'s blocks again under new
    (prefixed) keys, and the keys of its blocks among them.

    The pass over the data and the search each read their own copies: a
    block is then held by neither between the two. With ``gate`` (a key),
    the copies' first tasks wait for it, so that no block is read before the
    search can use it. Blocks that are already data (a persisted array's)
    are read as they are. Before dask 2024.12 (no ``dask._task_spec``) the
    blocks themselves are returned.
    """
    from dask.core import flatten

    keys = list(flatten(array.__dask_keys__()))
    try:
        from dask._task_spec import DataNode, Task, TaskRef, convert_legacy_graph
    except ImportError:  # pragma: no cover - older dask
        return {}, keys
    from dask.utils import ensure_dict

    tasks = convert_legacy_graph(ensure_dict(array.__dask_graph__().cull(set(keys))))

    def renamed(key):
        if isinstance(key, tuple):
            return (f"{prefix}-{key[0]}", *key[1:])
        return f"{prefix}-{key}"

    names = {key: renamed(key) for key in tasks}
    copies = {}
    for key, node in tasks.items():
        node = node.substitute(names, key=names[key])
        if gate is not None and not node.dependencies:
            inner = (
                DataNode(None, node.value)
                if isinstance(node, DataNode)
                else Task(None, node.func, *node.args, **node.kwargs)
            )
            node = Task(names[key], _after, TaskRef(gate), inner)
        copies[names[key]] = node
    return copies, [names.get(key, key) for key in keys]


def _graph(name, tasks, dependencies):
    from dask.highlevelgraph import HighLevelGraph

    return HighLevelGraph.from_collections(name, tasks, dependencies=dependencies)


def _array_from(graph, parent, name, tasks, chunks, dtype, meta):
    """A dask array of ``tasks`` (keys ``(name, i, ...)``) on top of ``graph``."""
    from dask.highlevelgraph import HighLevelGraph

    _, da = _dask_modules()
    layers = {**graph.layers, name: tasks}
    dependencies = {**graph.dependencies, name: {parent}}
    return da.Array(HighLevelGraph(layers, dependencies), name, chunks, dtype=dtype, meta=meta)


def _meta(on_gpu, dtype, ndim):
    xp = import_cupy() if on_gpu else np
    return xp.empty((0,) * ndim, dtype=dtype)


# -- blocks ---------------------------------------------------------------------------


def _work_namespace(spec):
    return import_cupy() if spec.backend == "cupy" else np


def _block(xp, block, spec):
    """A block in the namespace and dtype the kernels work in, C-ordered."""
    if xp is np and is_cupy_array(block):
        block = block.get()
    return xp.ascontiguousarray(xp.asarray(block, dtype=spec.dtype))


def _prepared(xp, spec, stats, x, y, same_block):
    """``(X, Y, params, exponent)`` of two blocks, rescaled as the whole."""
    X = _block(xp, x, spec)
    Y = X if same_block else _block(xp, y, spec)
    e_x, e_y, params, exponent = stats.scales
    params = {
        key: (xp.asarray(value) if key in ("L", "M") else value) for key, value in params.items()
    }
    X, Y, params, exponent = apply_scales(xp, X, Y, same_block, (e_x, e_y, params, exponent))
    return X, Y, params, exponent


def _centre_in(xp, centre):
    if centre is None or centre.mean is None or xp is np:
        return centre
    return Centre(xp.asarray(centre.mean))


def _home(spec, array):
    """``array`` where the inputs live (the device for CuPy blocks)."""
    if spec.on_gpu:
        return import_cupy().asarray(array)
    return array.get() if is_cupy_array(array) else array


def _pairwise_block(x, y, stats, spec, same_block):
    xp = _work_namespace(spec)
    X, Y, params, exponent = _prepared(xp, spec, stats, x, y, same_block)
    out = get_backend(spec.backend).pairwise(
        xp,
        get_metric(spec.metric),
        X,
        Y,
        params,
        same_block,
        spec.working_memory,
        spec.n_jobs,
        _centre_in(xp, stats.centre),
    )
    return _home(spec, scale_back(xp, out, exponent))


def _paired_block(a, b, stats, spec):
    xp = _work_namespace(spec)
    A, B, params, exponent = _prepared(xp, spec, stats, a, b, spec.same)
    out = get_backend(spec.backend).paired(
        xp, get_metric(spec.metric), A, B, params, spec.working_memory, spec.n_jobs
    )
    return _home(spec, scale_back(xp, out, exponent))


def _knn_block(xq, xg, stats, spec, row0, col0, same_block):
    """The (unsorted) ``n_neighbors`` best of points ``col0...`` for queries
    ``row0...``: ``(ranking values, global indices)``, on the host."""
    xp = _work_namespace(spec)
    entry = get_metric(spec.metric)
    Xq, Xg, params, _ = _prepared(xp, spec, stats, xq, xg, same_block)
    if spec.backend == "numba":
        with _numba.threads(spec.n_jobs):
            return _numba.knn_block(
                entry,
                Xq,
                Xg,
                params,
                same_block,
                spec.n_neighbors,
                spec.exclude_self,
                spec.grid,
                stats.centre,
                row0,
                col0,
            )
    return _knn_block_by_values(xp, entry, Xq, Xg, params, stats, spec, row0, col0, same_block)


def _knn_block_by_values(xp, entry, Xq, Xg, params, stats, spec, row0, col0, same_block):
    """The NumPy and CuPy backends: the block's distances, then its best."""
    r, c = Xq.shape[0], Xg.shape[0]
    squared = _knn_squared(entry, spec)
    if spec.backend == "numpy":
        values = _numpy.pairwise(np, entry, Xq, Xg, params, False, spec.working_memory)
    else:
        block = _xp._block_function(
            xp,
            entry,
            Xq,
            Xg,
            params,
            same_block,
            spec.working_memory,
            squared=squared,
            centre=_centre_in(xp, stats.centre),
        )
        values = block(slice(0, r))
    if entry.similarity:
        values = -values
    if spec.exclude_self:
        rows = xp.arange(r) + row0 - col0
        inside = (rows >= 0) & (rows < c)
        values[xp.arange(r)[inside], rows[inside]] = xp.inf
    k = min(spec.n_neighbors, c)
    order = _xp.smallest_k(xp, values, k)
    keys = xp.take_along_axis(values, order, axis=1)
    keys, order = _to_host(keys), _to_host(order)
    best_d = np.full((r, spec.n_neighbors), np.inf, dtype=spec.dtype)
    best_i = np.full((r, spec.n_neighbors), _NO_INDEX, dtype=np.int64)
    best_d[:, :k] = keys
    best_i[:, :k] = np.where(np.isinf(keys), _NO_INDEX, order + col0)
    return best_d, best_i


def _to_host(array):
    return array.get() if is_cupy_array(array) else np.asarray(array)


def _knn_squared(entry, spec):
    """Whether the ranking values are squared distances (roots taken last)."""
    return spec.backend != "numpy" and entry.ranks_squared


def _merge(parts, n_neighbors):
    """The ``n_neighbors`` best of several ``(values, indices)`` lists per row,
    sorted by value then index."""
    values = np.concatenate([p[0] for p in parts], axis=1)
    indices = np.concatenate([p[1] for p in parts], axis=1)
    order = np.lexsort((indices, values), axis=-1)[:, :n_neighbors]
    return (np.take_along_axis(values, order, axis=1), np.take_along_axis(indices, order, axis=1))


def _finish_knn(part, stats, spec):
    """Sorted distances (similarities) and indices, as the in-memory search
    returns them."""
    entry = get_metric(spec.metric)
    best_d, best_i = part
    dist, ind = _numba._sorted_neighbours(
        best_d, best_i, _knn_squared(entry, spec), _numba.knn_sign(entry, best_d.dtype)
    )
    dist = scale_back(np, dist, stats.scales[3])
    return _home(spec, dist), _home(spec, ind)


# -- the public functions' dask paths ---------------------------------------------------


def pairwise_distances(X, Y, metric, backend, working_memory, n_jobs, metric_params):
    """:func:`mlearn.pairwise.pairwise_distances` of dask arrays: one task per
    (block of X, block of Y), lazy."""
    entry = get_metric(metric)
    X, Y, same, dtype, backend, on_gpu = _settle(X, Y, backend, ("X", "Y"))
    _check_features(X, Y, ("X", "Y"))
    spec = _Spec(
        entry.name,
        entry.check_params(metric_params, X.shape[1]),
        dtype,
        same,
        False,
        backend,
        on_gpu,
        working_memory,
        n_jobs or 1,
    )
    name = f"pairwise-distances-{_token(X.name, Y.name, spec)}"
    stats = f"{name}-stats"
    tasks = _stats_layer(stats, [X, None if same else Y], ("X", "Y"), spec)
    x_blocks, y_blocks = _gated_blocks(tasks, name, X, None if same else Y, stats)
    for i, x in enumerate(x_blocks):
        for j, y in enumerate(y_blocks):
            tasks[(name, i, j)] = (_pairwise_block, x, y, (stats,), spec, same and i == j)
    graph = _graph(name, tasks, [X, Y])
    _, da = _dask_modules()
    return da.Array(
        graph, name, (X.chunks[0], Y.chunks[0]), dtype=dtype, meta=_meta(on_gpu, dtype, 2)
    )


def paired_distances(A, B, metric, backend, working_memory, metric_params):
    """:func:`mlearn.pairwise.paired_distances` of dask arrays: one task per
    block of rows (B cut like A), lazy."""
    entry = get_metric(metric)
    A, B, same, dtype, backend, on_gpu = _settle(A, B, backend, ("A", "B"))
    if A.shape != B.shape:
        raise ValueError(f"A and B must have the same shape, got {A.shape} and {B.shape}")
    B = B if same else _rechunk(B, A.chunks[0])
    spec = _Spec(
        entry.name,
        entry.check_params(metric_params, A.shape[1]),
        dtype,
        same,
        True,
        backend,
        on_gpu,
        working_memory,
    )
    name = f"paired-distances-{_token(A.name, B.name, spec)}"
    stats = f"{name}-stats"
    tasks = _stats_layer(stats, [A, None if same else B], ("A", "B"), spec)
    a_blocks, b_blocks = _gated_blocks(tasks, name, A, None if same else B, stats)
    for i, (a, b) in enumerate(zip(a_blocks, b_blocks)):
        tasks[(name, i)] = (_paired_block, a, b, (stats,), spec)
    graph = _graph(name, tasks, [A, B])
    _, da = _dask_modules()
    return da.Array(graph, name, (A.chunks[0],), dtype=dtype, meta=_meta(on_gpu, dtype, 1))


def _check_features(X, Y, names):
    if X.shape[1] != Y.shape[1]:
        raise ValueError(
            f"{names[0]} has {X.shape[1]} features but {names[1]} has "
            f"{Y.shape[1]}; they must match"
        )


def kneighbors(
    X, Y, n_neighbors, metric, exclude_self, backend, working_memory, n_jobs, metric_params
):
    """:func:`mlearn.pairwise.kneighbors` of dask arrays: lazy ``(distances,
    indices)`` whose row blocks are the blocks of queries searched."""
    entry = get_metric(metric)
    X, Y, same, dtype, backend, on_gpu = _settle(X, Y, backend, ("X", "Y"))
    _check_features(X, Y, ("X", "Y"))
    check_candidates(X.shape[0], Y.shape[0], n_neighbors, exclude_self)
    params = entry.check_params(metric_params, X.shape[1])
    spec = _Spec(
        entry.name,
        params,
        dtype,
        same,
        False,
        backend,
        on_gpu,
        working_memory,
        n_jobs or 1,
        n_neighbors,
        bool(exclude_self),
    )
    given_x, given_y = X, Y
    X, Y, spec = _plan_search(X, Y, spec, n_jobs)
    name = f"kneighbors-{_token(X.name, Y.name, spec)}"
    stats = f"{name}-stats"
    # the pass reads the inputs as given: one chunk a task, nothing copied
    tasks = _stats_layer(stats, [given_x, None if same else given_y], ("X", "Y"), spec)
    x_blocks, y_blocks = _gated_blocks(tasks, name, X, None if same else Y, stats)
    point_starts = _offsets(Y.chunks[0])
    for i, (x, row0) in enumerate(zip(x_blocks, _offsets(X.chunks[0]))):
        parts = []
        for j, (y, col0) in enumerate(zip(y_blocks, point_starts)):
            key = (f"{name}-block", i, j)
            tasks[key] = (_knn_block, x, y, (stats,), spec, row0, col0, same and i == j)
            parts.append(key)
        level = 0
        while len(parts) > 1:
            merged = []
            for g in range(0, len(parts), SPLIT_EVERY):
                key = (f"{name}-merge", i, level, g // SPLIT_EVERY)
                tasks[key] = (_merge, parts[g : g + SPLIT_EVERY], n_neighbors)
                merged.append(key)
            parts, level = merged, level + 1
        tasks[(name, i)] = (_finish_knn, parts[0], (stats,), spec)
    graph = _graph(name, tasks, [X, Y])
    chunks = (X.chunks[0], (n_neighbors,))
    outputs = []
    for which, suffix, out_dtype in ((0, "distances", dtype), (1, "indices", np.int64)):
        out_name = f"{name}-{suffix}"
        out_tasks = {
            (out_name, i, 0): (operator.getitem, (name, i), which) for i in range(X.numblocks[0])
        }
        outputs.append(
            _array_from(
                graph, name, out_name, out_tasks, chunks, out_dtype, _meta(on_gpu, out_dtype, 2)
            )
        )
    return tuple(outputs)


#: Blocks of points per thread that ``kneighbors`` aims for (fewer when the
#: tasks would get small): enough for the threads to end together.
TASKS_PER_THREAD = 4

#: Least work (multiply-adds) worth a task of its own, beside the ~ms a
#: task costs the scheduler.
MIN_TASK_WORK = 2e8


def _n_point_blocks(m, query_rows, width, parallel):
    """How many blocks of points to aim for: ``TASKS_PER_THREAD`` per thread,
    each worth ``MIN_TASK_WORK`` at least, a multiple of the threads."""
    worth = max(1, int(m * query_rows * (width + 8) // MIN_TASK_WORK))
    n_blocks = min(TASKS_PER_THREAD * parallel, worth)
    return -(-n_blocks // parallel) * parallel


def _plan_search(X, Y, spec, n_jobs=None):
    """Blocks of queries and points for ``kneighbors`` under the memory budget,
    on the tile grid of the in-memory search with ``n_jobs``, and the grid in
    ``spec``."""
    entry = get_metric(spec.metric)
    n, m, d = X.shape[0], Y.shape[0], X.shape[1]
    itemsize = spec.dtype.itemsize
    budget = spec.working_memory * 2**20
    width = spec.params["L"].shape[0] if entry.matrix == "L" else d
    # a block, its prepared copy, its operands and row norms
    point_bytes = (2 * d + width + 2) * itemsize
    lists = spec.n_neighbors * (itemsize + 8) * (SPLIT_EVERY + 2)
    with _numba.threads(n_jobs):
        grid = _numba.knn_grid(
            entry, n, m, spec.n_neighbors, itemsize, spec.same, spec.working_memory
        )
    query_step, point_step = _numba.knn_alignment(entry, grid, spec.same)
    if spec.backend != "numba":
        query_step = point_step = 1
    max_points = POINTS_SHARE * budget / point_bytes
    max_queries = QUERIES_SHARE * budget / (point_bytes + lists)
    if spec.backend != "numba":
        # whole blocks of distances: each side within a share of the budget
        side = math.sqrt(QUERIES_SHARE * budget / itemsize)
        max_points, max_queries = min(max_points, side), min(max_queries, side)
    parallel = _parallelism()
    if spec.same:
        rows = _row_chunks(
            X, min(max_points, max_queries), query_step, _n_point_blocks(n, n, width, parallel)
        )
        X = Y = _rechunk(X, rows)
    else:
        X = _rechunk(X, _row_chunks(X, max_queries, query_step))
        n_blocks = _n_point_blocks(m, max(X.chunks[0]), width, parallel)
        Y = _rechunk(Y, _row_chunks(Y, max_points, point_step, n_blocks))
    block_grid = grid
    if not entry.gemm or spec.backend != "numba":
        # the direct kernels' values do not depend on their tiles: a share of
        # the budget for the block's
        rows, cols = knn_tiles(
            max(X.chunks[0]), max(Y.chunks[0]), itemsize, QUERIES_SHARE * spec.working_memory
        )
        block_grid = _numba.KnnGrid(
            grid.rows, grid.cols, grid.same_tiles, grid.same_tile, rows, cols
        )
    spec = _Spec(**{**spec.__dict__, "grid": block_grid})
    return X, Y, spec
