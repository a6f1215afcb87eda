"""Public entry points: validate, pick a backend, dispatch.

The public functions check their parameters (``validate_params``) and call
private twins of the same signature, ``_pairwise_distances``,
``_paired_distances`` and ``_kneighbors``, which check the arrays but trust
the other arguments: mlearn's own code calls those in its loops.
"""

from numbers import Integral

import numpy as np

from .._sklearn_compat import Interval, Options, StrOptions, validate_params
from . import _dask
from ._backends import (
    BACKEND_OPTIONS,
    get_backend,
    import_cupy,
    is_cupy_array,
    resolve_backend,
)
from ._chunking import POSITIVE_MIB, reporting, resolve_working_memory
from ._inputs import check_candidates, check_one, refuse_sparse
from ._metrics import METRIC_OPTIONS, get_metric
from ._scaling import rescale, scale_back, sum_of_squares

# the arrays are checked by ``_inputs`` (sparse matrices named as such, NaN...)
_CONSTRAINTS = {
    "metric": [StrOptions(set(METRIC_OPTIONS))],
    "backend": [StrOptions(set(BACKEND_OPTIONS))],
    "working_memory": [POSITIVE_MIB, None],
    "n_jobs": [Interval(Integral, 1, None, closed="left"), Options(Integral, {-1}), None],
}


def _prepare(X, Y, metric, metric_params, xp=np, names=("X", "Y"), paired=False):
    """Validated ``(metric entry, X, Y, same, params, exponent)`` in one floating dtype.

    ``same`` is True when Y is None (or is X): the rows are compared with
    themselves and shared work is done once. Inputs of extreme magnitude
    come back rescaled by a power of two (see ``_scaling``): the results
    computed from them are to be multiplied by ``2**exponent``.
    """
    entry = get_metric(metric)
    same = Y is None or Y is X
    X, sq_x = check_one(xp, X, names[0])
    Y, sq_y = (X, sq_x) if same else check_one(xp, Y, names[1])
    if paired:
        if X.shape != Y.shape:
            raise ValueError(
                f"{names[0]} and {names[1]} must have the same shape, got {X.shape} and {Y.shape}"
            )
    elif X.shape[1] != Y.shape[1]:
        raise ValueError(
            f"{names[0]} has {X.shape[1]} features but {names[1]} has "
            f"{Y.shape[1]}; they must match"
        )
    dtype = np.float32 if (X.dtype == np.float32 and Y.dtype == np.float32) else np.float64
    X = X.astype(dtype, copy=False)
    Y = X if same else Y.astype(dtype, copy=False)
    entry.validate_rows(xp, X, names[0])
    if not same:
        entry.validate_rows(xp, Y, names[1])
    params = entry.check_params(metric_params, X.shape[1])
    if entry.matrix:
        params[entry.matrix] = xp.asarray(params[entry.matrix], dtype=dtype)
    exponent = 0
    if entry.degree:
        if sq_x is None:
            sq_x = sum_of_squares(xp, X)
        if same:
            sq_y = sq_x
        elif sq_y is None:
            sq_y = sum_of_squares(xp, Y)
        X, Y, params, exponent = rescale(xp, entry, X, Y, same, params, (sq_x, sq_y))
    return entry, X, Y, same, params, exponent


def _to(xp, array):
    """Move ``array`` into namespace ``xp`` (host <-> device)."""
    if array is None:
        return None
    if xp is np:
        return array.get() if is_cupy_array(array) else np.asarray(array)
    return xp.asarray(array)


def _run(on, X, Y, backend, names, *args):
    """``on(xp, backend, X, Y, *args)`` where the backend lives, returned where
    X lives (``on``: one of the ``_..._on`` functions below). Sparse input is
    refused before anything is converted."""
    refuse_sparse(X, names[0])
    refuse_sparse(Y, names[1])
    on_gpu = is_cupy_array(X) or (Y is not None and is_cupy_array(Y))
    backend = resolve_backend(backend, on_gpu)
    work_xp = import_cupy() if backend == "cupy" else np
    same = Y is None or Y is X
    Xw = _to(work_xp, X)
    Yw = Xw if same else _to(work_xp, Y)
    result = on(work_xp, backend, Xw, None if same else Yw, *args)
    home = import_cupy() if on_gpu else np
    if isinstance(result, tuple):
        return tuple(_to(home, r) for r in result)
    return _to(home, result)


def _pairwise_on(xp, backend, X, Y, metric, metric_params, working_memory, n_jobs=None):
    """``pairwise_distances`` once the namespace ``xp`` and backend are settled."""
    entry, X, Y, same, params, exponent = _prepare(X, Y, metric, metric_params, xp)
    out = get_backend(backend).pairwise(xp, entry, X, Y, params, same, working_memory, n_jobs)
    return scale_back(xp, out, exponent)


def _paired_on(xp, backend, A, B, metric, metric_params, working_memory, n_jobs=None):
    """``paired_distances`` once the namespace ``xp`` and backend are settled."""
    entry, A, B, _, params, exponent = _prepare(
        A, B, metric, metric_params, xp, names=("A", "B"), paired=True
    )
    out = get_backend(backend).paired(xp, entry, A, B, params, working_memory, n_jobs)
    return scale_back(xp, out, exponent)


def _kneighbors_on(
    xp,
    backend,
    X,
    Y,
    metric,
    metric_params,
    n_neighbors,
    exclude_self,
    working_memory,
    n_jobs=None,
):
    """``kneighbors`` once the namespace ``xp`` and backend are settled."""
    entry, X, Y, same, params, exponent = _prepare(X, Y, metric, metric_params, xp)
    check_candidates(X.shape[0], Y.shape[0], n_neighbors, exclude_self)
    dist, ind = get_backend(backend).kneighbors(
        xp, entry, X, Y, params, same, n_neighbors, exclude_self, working_memory, n_jobs
    )
    # ranked on the rescaled data, where no distance overflows
    return scale_back(xp, dist, exponent), ind


# -- the public functions and their unvalidated twins -------------------------------------


@validate_params({**_CONSTRAINTS, "verbose": ["boolean"]}, prefer_skip_nested_validation=True)
def pairwise_distances(
    X,
    Y=None,
    metric="euclidean",
    *,
    backend="auto",
    working_memory=None,
    n_jobs=None,
    verbose=False,
    **metric_params,
):
    """Distances (or similarities) between every row of X and every row of Y.

    Parameters
    ----------
    X : array-like of shape (n_samples_X, n_features)
        NumPy or CuPy array of any finite magnitude; NaN, infinity and
        sparse matrices (convert them with ``X.toarray()``) are refused.
        A :class:`dask.array.Array` gives a lazy result (see Notes).
    Y : array-like of shape (n_samples_Y, n_features), default=None
        If None, ``Y = X``.
    metric : str, default="euclidean"
        One of ``euclidean``, ``sqeuclidean``, ``manhattan`` (``cityblock``),
        ``chebyshev``, ``minkowski``, ``hamming``, ``cosine``,
        ``cosine_similarity``, ``mahalanobis``, ``bilinear``, ``chi2``,
        ``kl``, ``jensen_shannon``; see the user guide for their definitions.
    backend : {"auto", "numpy", "numba", "cupy"}, default="auto"
        ``"numpy"`` is the plain reference, ``"numba"`` the parallel CPU
        kernels, ``"cupy"`` the GPU. ``"auto"`` picks ``"cupy"`` for CuPy
        arrays and ``"numba"`` otherwise.
    working_memory : float, default=None
        Budget in MiB for temporaries (the output excluded); None uses
        scikit-learn's ``working_memory`` setting.
    n_jobs : int, default=None
        Threads of the Numba kernels; None or -1 uses all.
    verbose : bool, default=False
        Report on stderr the pieces of the work done out of their number
        (a tqdm bar on a terminal when tqdm is installed, otherwise a line
        ``pairwise_distances: 3/17 (2.1 s)`` at most once a second). The
        pieces are those the backend's loop runs: blocks of columns
        (``"numpy"``), of rows (``"cupy"``); the ``"numba"`` kernels run all
        their tiles in one parallel call, reported as one piece. The result
        is the same, to the bit, with or without it. Dask arrays ignore it
        (their scheduler shows their progress, e.g. dask's
        ``ProgressBar``).
    **metric_params
        ``p`` (minkowski, >= 1, may be ``inf``), ``M`` or ``L``
        (mahalanobis: a PSD matrix, or components with ``M = L.T @ L``),
        ``M`` (bilinear), ``eps`` (kl, > 0, default 1e-10).

    Returns
    -------
    distances : ndarray of shape (n_samples_X, n_samples_Y)
        float32 when both inputs are float32, else float64; on the device
        X came from. For ``cosine_similarity`` and ``bilinear`` the entries are
        similarities. A dask array when X or Y is one.

    Notes
    -----
    Inputs at any finite scale give the metric's value to the usual
    accuracy. Data whose squares or products would overflow or underflow
    (float64 beyond about 1e150 or below about 1e-90; float32 beyond about
    1e18 or below 1e-6) are divided by a power of two, which is exact, and
    the results multiplied back; ``L`` and ``M`` get their own power of
    two. minkowski guards its powers pair by pair, cosine normalises rows of
    any norm, the histogram metrics rows of any sum. A value beyond the
    dtype's range (a squared distance of points 1e200 apart) is returned as
    inf, with a ``RuntimeWarning``. See "Extreme scales" in the user guide.

    With a dask array for X or Y (the other may be a NumPy array) the result
    is a lazy dask array whose blocks are X's row chunks by Y's: nothing is
    computed until it is. The block of X's chunk ``i`` and Y's chunk ``j`` is
    one task of ``(chunk i rows) x (chunk j rows)`` values, so choose chunks
    whose products fit a worker. Every block is computed from the whole
    inputs' power of two and mean (taken by one task per chunk first, and
    one to combine them), so the values are those of the in-memory call to
    rounding (products of other shapes). Values are checked when computed:
    NaN or infinity raise the same ValueError then. Chunks of CuPy arrays
    go through the CuPy backend; each task's Numba kernels run on
    ``n_jobs`` threads (None: one, the scheduler running tasks side by side).

    Examples
    --------
    >>> import numpy as np
    >>> from mlearn.pairwise import pairwise_distances
    >>> X = np.array([[0.0, 0.0], [3.0, 4.0]])
    >>> pairwise_distances(X)
    array([[0., 5.],
           [5., 0.]])
    >>> pairwise_distances(X, [[1.0, 0.0]], metric="manhattan")
    array([[1.],
           [6.]])
    >>> pairwise_distances(X, metric="mahalanobis", L=[[2.0, 0.0]])
    array([[0., 6.],
           [6., 0.]])

    Far beyond the square root of the largest float64, and minkowski with a
    large ``p`` on tiny values:

    >>> pairwise_distances(X * 1e200)
    array([[0.e+000, 5.e+200],
           [5.e+200, 0.e+000]])
    >>> pairwise_distances(X * 1e-200, metric="minkowski", p=400)
    array([[0.e+000, 4.e-200],
           [4.e-200, 0.e+000]])

    A dask array, one chunk per row, computed here by the synchronous
    scheduler (a ``distributed.Client`` would send the tasks to its workers):

    >>> import dask
    >>> import dask.array as da
    >>> D = pairwise_distances(da.from_array(X, chunks=1), [[1.0, 0.0]])
    >>> D.chunks
    ((1, 1), (1,))
    >>> with dask.config.set(scheduler="synchronous"):
    ...     D.compute()
    array([[1.        ],
           [4.47213595]])
    """
    return _pairwise_distances(
        X,
        Y,
        metric,
        backend=backend,
        working_memory=working_memory,
        n_jobs=n_jobs,
        verbose=verbose,
        **metric_params,
    )


def _pairwise_distances(
    X,
    Y=None,
    metric="euclidean",
    *,
    backend="auto",
    working_memory=None,
    n_jobs=None,
    verbose=False,
    **metric_params,
):
    """:func:`pairwise_distances` without the check of its parameters."""
    working_memory = resolve_working_memory(working_memory)
    if _dask.involves_dask(X, Y):
        return _dask.pairwise_distances(
            X, Y, metric, backend, working_memory, n_jobs, metric_params
        )
    with reporting("pairwise_distances", verbose):
        return _run(
            _pairwise_on, X, Y, backend, ("X", "Y"), metric, metric_params, working_memory, n_jobs
        )


@validate_params(_CONSTRAINTS, prefer_skip_nested_validation=True)
def paired_distances(A, B, metric="euclidean", *, backend="auto", **metric_params):
    """Distance (or similarity) between row i of A and row i of B, for every i.

    This is the form pairs of points take: ``paired_distances(pairs[:, 0],
    pairs[:, 1])``. Every metric is computed from explicit differences, so
    near-duplicate pairs keep full accuracy.

    Parameters
    ----------
    A, B : array-like of shape (n_pairs, n_features)
        NumPy or CuPy arrays of the same shape, of any finite magnitude (see
        :func:`pairwise_distances`); sparse matrices are refused. Dask arrays
        give a lazy result, one task per row chunk of A (B is cut like A).
    metric : str, default="euclidean"
        As for :func:`pairwise_distances`.
    backend : {"auto", "numpy", "numba", "cupy"}, default="auto"
        As for :func:`pairwise_distances`.
    **metric_params
        As for :func:`pairwise_distances`.

    Returns
    -------
    distances : ndarray of shape (n_pairs,)
        A dask array with A's row chunks when A or B is one, whose values
        are those of the in-memory call (the power of two of data of extreme
        magnitude taken from the whole inputs).

    Examples
    --------
    >>> import numpy as np
    >>> from mlearn.pairwise import paired_distances
    >>> A = np.array([[0.0, 0.0], [1.0, 1.0]])
    >>> B = np.array([[3.0, 4.0], [1.0, 2.0]])
    >>> paired_distances(A, B)
    array([5., 1.])
    >>> paired_distances(A, B, metric="chebyshev")
    array([4., 1.])
    >>> paired_distances(A * 1e-300, B * 1e-300)
    array([5.e-300, 1.e-300])
    >>> import dask
    >>> import dask.array as da
    >>> with dask.config.set(scheduler="synchronous"):
    ...     paired_distances(da.from_array(A, chunks=1), B).compute()
    array([5., 1.])
    """
    return _paired_distances(A, B, metric, backend=backend, **metric_params)


def _paired_distances(A, B, metric="euclidean", *, backend="auto", **metric_params):
    """:func:`paired_distances` without the check of its parameters."""
    working_memory = resolve_working_memory(None)
    if _dask.involves_dask(A, B):
        return _dask.paired_distances(A, B, metric, backend, working_memory, metric_params)
    return _run(_paired_on, A, B, backend, ("A", "B"), metric, metric_params, working_memory)


@validate_params(
    {
        **_CONSTRAINTS,
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "exclude_self": ["boolean", None],
        "verbose": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def kneighbors(
    X,
    Y=None,
    n_neighbors=5,
    metric="euclidean",
    *,
    exclude_self=None,
    backend="auto",
    working_memory=None,
    n_jobs=None,
    verbose=False,
    **metric_params,
):
    """The ``n_neighbors`` nearest rows of Y for every row of X, by brute force.

    The distance matrix is streamed in tiles and only the best
    ``n_neighbors`` per query are kept, so memory stays
    O(n_samples_X * n_neighbors) plus one tile. With Y=None the Numba
    backend computes each distance of euclidean, sqeuclidean and
    mahalanobis once, for both of its points, keeping ``n_neighbors`` per
    point in every thread while that fits in half of ``working_memory``.
    Dask arrays are searched block by block, exactly (see Notes).

    Parameters
    ----------
    X : array-like of shape (n_queries, n_features)
        The queries, of any finite magnitude (see :func:`pairwise_distances`);
        sparse matrices are refused. May be a :class:`dask.array.Array`.
    Y : array-like of shape (n_samples, n_features), default=None
        The points searched; None searches X itself. May be a dask array
        (as may X, either or both).
    n_neighbors : int, default=5
        Neighbours returned per query.
    metric : str, default="euclidean"
        As for :func:`pairwise_distances`. For the similarities
        (``cosine_similarity``, ``bilinear``) the nearest neighbours are the
        most similar rows: values are returned in decreasing order.
    exclude_self : bool, default=None
        Leave out index ``i`` from the neighbours of query ``i`` (a point is
        not its own neighbour; other points equal to it are still returned).
        None means True when Y is None and False otherwise. True with an
        explicit Y requires as many queries as samples (X and Y in the same
        order).
    backend : {"auto", "numpy", "numba", "cupy"}, default="auto"
        As for :func:`pairwise_distances`.
    working_memory : float, default=None
        Budget in MiB for one block of distances; None uses scikit-learn's.
        With dask arrays, the budget of each task (see Notes).
    n_jobs : int, default=None
        Threads of the Numba kernels; None or -1 uses all (with dask arrays,
        None is one per task: the scheduler runs tasks side by side).
    verbose : bool, default=False
        Report on stderr the blocks of queries searched out of their number,
        as for :func:`pairwise_distances` (``"numba"``: blocks of the
        direct metrics; the product metrics search all their tiles in one
        parallel call, reported as one block). The neighbours and distances
        are the same, to the bit, with or without it. Dask arrays ignore it.
    **metric_params
        As for :func:`pairwise_distances`.

    Returns
    -------
    distances : ndarray of shape (n_queries, n_neighbors)
        Sorted ascending (descending for similarities), ties broken by the
        smaller index.
    indices : ndarray of shape (n_queries, n_neighbors)
        Row indices into Y (into X when Y is None), dtype int64.

        Both are lazy dask arrays when X or Y is one, cut in rows like the
        blocks of queries searched (below); the work runs when they are
        computed, on whatever runs dask (threads, a ``distributed.Client``).

    Notes
    -----
    Inputs of extreme magnitude are ranked after the exact rescaling
    described in :func:`pairwise_distances`, so the neighbours and their
    order are those of the true distances at any finite scale, even where
    the distances returned overflow to inf.

    **Dask arrays.** The search is exact: its neighbours and distances are
    those of the in-memory call on the same data, to the bit, ties and
    near-ties included (with the default Numba backend; the NumPy and CuPy
    backends give the in-memory neighbours of their own code, the distances
    to rounding). First one task per chunk reads the inputs, checks their
    values (NaN, infinity and negative histograms raise the in-memory
    ValueError, when computed) and sums them, and one task adds those sums
    as the in-memory kernels do: the power of two of extreme data and the
    mean the product metrics subtract are the whole data's. Then each
    (block of queries, block of points) task runs the in-memory kernels and
    keeps the ``n_neighbors`` best of its points, by global index; a tree of
    merges (8 lists a task) keeps the best of those, ties to the smaller
    index. Blocks start on the tile grid of the whole search (multiples of
    512 rows for the product metrics), so that every BLAS product has the
    shape it has in memory; the inputs' chunks are kept where they line up
    and fit, split evenly where too large, and cut anew otherwise (chunks of
    a multiple of 512 rows are read without copying).

    Memory: a block of points (its rows, a prepared copy and its operands)
    takes at most half of ``working_memory``, a block of queries with its
    neighbour lists a quarter; the distances are never stored beyond one
    cache-sized tile per thread. The points are cut into at least four
    blocks per thread of the cluster where that is worth a task. Each block
    is read twice, by the first pass and by the search, and the search's
    reads wait for the pass: a worker holds a few blocks at a time,
    whatever the size of the data. Persist inputs that are costly to
    compute. With Y=None each block is both queries and points and stays in
    the cluster's memory (or spilled) until its searches are done.

    Examples
    --------
    >>> import numpy as np
    >>> from mlearn.pairwise import kneighbors
    >>> X = np.array([[0.0], [1.0], [3.0], [7.0]])
    >>> dist, ind = kneighbors(X, n_neighbors=2)
    >>> ind
    array([[1, 2],
           [0, 2],
           [1, 0],
           [2, 1]])
    >>> dist[0]
    array([1., 3.])
    >>> dist, ind = kneighbors(X * 1e300, n_neighbors=2)
    >>> dist[0]
    array([1.e+300, 3.e+300])

    The same search on a dask array of two chunks; the result is lazy:

    >>> import dask
    >>> import dask.array as da
    >>> dist, ind = kneighbors(da.from_array(X, chunks=2), n_neighbors=2)
    >>> with dask.config.set(scheduler="synchronous"):
    ...     ind.compute()
    array([[1, 2],
           [0, 2],
           [1, 0],
           [2, 1]])
    """
    return _kneighbors(
        X,
        Y,
        n_neighbors,
        metric,
        exclude_self=exclude_self,
        backend=backend,
        working_memory=working_memory,
        n_jobs=n_jobs,
        verbose=verbose,
        **metric_params,
    )


def _kneighbors(
    X,
    Y=None,
    n_neighbors=5,
    metric="euclidean",
    *,
    exclude_self=None,
    backend="auto",
    working_memory=None,
    n_jobs=None,
    verbose=False,
    **metric_params,
):
    """:func:`kneighbors` without the check of its parameters."""
    working_memory = resolve_working_memory(working_memory)
    if exclude_self is None:
        exclude_self = Y is None
    n_neighbors = int(n_neighbors)
    if _dask.involves_dask(X, Y):
        return _dask.kneighbors(
            X, Y, n_neighbors, metric, exclude_self, backend, working_memory, n_jobs, metric_params
        )
    with reporting("kneighbors", verbose):
        return _run(
            _kneighbors_on,
            X,
            Y,
            backend,
            ("X", "Y"),
            metric,
            metric_params,
            n_neighbors,
            exclude_self,
            working_memory,
            n_jobs,
        )
