"""Public entry points: validate, pick a backend, dispatch."""

import numbers

import numpy as np

from .._blas import blas_threads_for
from .._sklearn_compat import check_array
from . import _cupy, _dask, _numba, _numpy
from ._chunking import resolve_working_memory
from ._metrics import check_backend, check_params, get_metric
from ._scaling import rescale, scale_back, sum_of_squares


def _refuse_sparse(array, name):
    if hasattr(array, "toarray") or hasattr(array, "tocsr"):
        raise TypeError(f"{name} must be a dense array; sparse input is not supported "
                        f"(convert it with {name}.toarray())")


def _check_device_array(xp, array, name):
    """Validation of CuPy inputs, mirroring ``check_array`` without a host copy."""
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got {array.ndim} dimension(s)")
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(f"{name} must have at least one row and one column, "
                         f"got shape {array.shape}")
    if array.dtype not in (np.float32, np.float64):
        array = array.astype(np.float64)
    if not bool(xp.all(xp.isfinite(array))):
        raise ValueError(f"Input {name} contains NaN or infinity.")
    return array


def _check_one(xp, array, name):
    """``(validated array, its sum of squares or None when not yet known)``."""
    if xp is np:
        squares = _plain_finite_squares(array)
        if squares is not None:
            return array, squares
        shape = getattr(array, "shape", ())
        if len(shape) == 2 and 0 in shape:
            raise ValueError(f"{name} must have at least one row and one column, "
                             f"got shape {shape}")
        return check_array(array, dtype=(np.float64, np.float32),
                           ensure_all_finite=True, input_name=name), None
    return _check_device_array(xp, array, name), None


def _plain_finite_squares(array):
    """The sum of squares of a non-empty 2-D float32/float64 ndarray of
    finite values; None for anything else.

    Such an array needs nothing from ``check_array``, whose bookkeeping costs
    more than the distances of a few dozen points. The sum of squares (one
    pass, as cheap as a plain sum) also tells ``_scaling`` whether the data
    are of ordinary magnitude. A non-finite sum sends the array through
    ``check_array``, which names the offending values (or accepts it, when
    only the sum overflowed).
    """
    if not (type(array) is np.ndarray and array.ndim == 2
            and array.dtype in (np.float64, np.float32)
            and array.shape[0] > 0 and array.shape[1] > 0):
        return None
    squares = sum_of_squares(np, array)
    return squares if np.isfinite(squares) else None


def _prepare(X, Y, metric, metric_params, xp=np, names=("X", "Y"), paired=False):
    """Validated ``(metric entry, X, Y, same, params, exponent)`` in one floating dtype.

    ``same`` is True when Y is None (or is X): the rows are compared with
    themselves and shared work is done once. Inputs of extreme magnitude
    come back rescaled by a power of two (see ``_scaling``): the results
    computed from them are to be multiplied by ``2**exponent``.
    """
    entry = get_metric(metric)
    same = Y is None or Y is X
    X, sq_x = _check_one(xp, X, names[0])
    Y, sq_y = (X, sq_x) if same else _check_one(xp, Y, names[1])
    if paired:
        if X.shape != Y.shape:
            raise ValueError(f"{names[0]} and {names[1]} must have the same shape, "
                             f"got {X.shape} and {Y.shape}")
    elif X.shape[1] != Y.shape[1]:
        raise ValueError(f"{names[0]} has {X.shape[1]} features but {names[1]} has "
                         f"{Y.shape[1]}; they must match")
    dtype = np.float32 if (X.dtype == np.float32 and Y.dtype == np.float32) else np.float64
    X = X.astype(dtype, copy=False)
    Y = X if same else Y.astype(dtype, copy=False)
    if entry.histogram:
        for array, name in ((X, names[0]), (Y, names[1])):
            if bool(xp.any(array < 0)):
                raise ValueError(f"metric {entry.name!r} compares histograms: "
                                 f"{name} must be non-negative")
            if entry.name == "jensen_shannon" and not _positive_row_sums(xp, array):
                raise ValueError(f"metric 'jensen_shannon' needs every row of {name} "
                                 "to have a positive sum")
    params = check_params(entry, metric_params, X.shape[1])
    for key in ("L", "M"):
        if key in params:
            params[key] = xp.asarray(params[key], dtype=dtype)
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


def _positive_row_sums(xp, array):
    with np.errstate(over="ignore"):  # a sum that overflows is positive
        return bool(xp.all(xp.sum(array, axis=1) > 0))


def _resolve(backend, on_gpu):
    check_backend(backend)
    if backend == "auto":
        return "cupy" if on_gpu else "numba"
    return backend


def _placement(X, Y, backend):
    """(namespace to validate in, whether inputs live on a GPU, backend to run)."""
    on_gpu = _cupy.is_cupy_array(X) or (Y is not None and _cupy.is_cupy_array(Y))
    backend = _resolve(backend, on_gpu)
    if backend == "cupy" or on_gpu:
        cupy = _cupy.import_cupy()
        return cupy, on_gpu, backend
    return np, on_gpu, backend


def _to(xp, array):
    """Move ``array`` into namespace ``xp`` (host <-> device)."""
    if array is None:
        return None
    if xp is np:
        return array.get() if _cupy.is_cupy_array(array) else np.asarray(array)
    return xp.asarray(array)


def _run(X, Y, backend, compute, names=("X", "Y")):
    """Run ``compute(xp, backend, X, Y)`` where the backend lives; return where
    X lives. Sparse input is refused before anything is converted."""
    _refuse_sparse(X, names[0])
    _refuse_sparse(Y, names[1])
    xp, on_gpu, backend = _placement(X, Y, backend)
    work_xp = xp if backend == "cupy" else np
    same = Y is None or Y is X
    Xw = _to(work_xp, X)
    Yw = Xw if same else _to(work_xp, Y)
    result = compute(work_xp, backend, Xw, None if same else Yw)
    home = xp if on_gpu else np
    if isinstance(result, tuple):
        return tuple(_to(home, r) for r in result)
    return _to(home, result)


def pairwise_distances(X, Y=None, metric="euclidean", *, backend="auto",
                       working_memory=None, n_jobs=None, **metric_params):
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
    get_metric(metric)
    working_memory = resolve_working_memory(working_memory)
    _check_n_jobs(n_jobs)
    if _dask.involves_dask(X, Y):
        return _dask.pairwise_distances(X, Y, metric, backend, working_memory, n_jobs,
                                        metric_params)

    def compute(xp, backend, X, Y):
        return _pairwise(xp, backend, X, Y, metric, metric_params, working_memory,
                         n_jobs)

    return _run(X, Y, backend, compute)


def _pairwise(xp, backend, X, Y, metric, metric_params, working_memory, n_jobs=None):
    """``pairwise_distances`` once the namespace ``xp`` and backend are settled."""
    entry, X, Y, same, params, exponent = _prepare(X, Y, metric, metric_params, xp)
    return _pairwise_prepared(xp, backend, entry, X, Y, same, params, exponent,
                              working_memory, n_jobs)


def _pairwise_prepared(xp, backend, entry, X, Y, same, params, exponent, working_memory,
                       n_jobs=None, centre=None):
    """``pairwise_distances`` of inputs ``_prepare`` returned (or blocks of
    them, with the whole inputs' ``centre``: see ``_operands.gemm_operands``)."""
    if backend == "cupy":
        out = _cupy.pairwise(xp, entry, X, Y, params, same, working_memory, centre)
    elif backend == "numpy":
        out = np.empty((X.shape[0], Y.shape[0]), dtype=X.dtype)
        _numpy.pairwise(entry.reference, X, Y, params, working_memory, out)
    else:
        with _numba.threads(n_jobs):
            out = _numba.pairwise(entry, X, Y, params, same, working_memory, centre)
    return scale_back(xp, out, exponent)


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
    get_metric(metric)
    working_memory = resolve_working_memory(None)
    if _dask.involves_dask(A, B):
        return _dask.paired_distances(A, B, metric, backend, working_memory, metric_params)

    def compute(xp, backend, A_, B_):
        return _paired(xp, backend, A_, B_, metric, metric_params, working_memory)

    return _run(A, B, backend, compute, names=("A", "B"))


def _paired(xp, backend, A, B, metric, metric_params, working_memory):
    """``paired_distances`` once the namespace ``xp`` and backend are settled."""
    entry, A, B, _, params, exponent = _prepare(A, B, metric, metric_params, xp,
                                                names=("A", "B"), paired=True)
    return _paired_prepared(xp, backend, entry, A, B, params, exponent, working_memory)


def _paired_prepared(xp, backend, entry, A, B, params, exponent, working_memory):
    """``paired_distances`` of inputs ``_prepare`` returned (or blocks of them)."""
    if backend == "cupy":
        out = _cupy.paired(xp, entry, A, B, params, working_memory)
    elif entry.gemm and backend == "numba":
        # products bring nothing to row-by-row work: difference form
        with blas_threads_for(A.size * A.shape[1]):
            out = _cupy.paired(xp, entry, A, B, params, working_memory)
    else:
        out = np.empty(A.shape[0], dtype=A.dtype)
        if backend == "numpy":
            _numpy.paired(entry.reference, A, B, params, working_memory, out)
        else:
            _numba.paired(entry, A, B, params, out)
    return scale_back(xp, out, exponent)


def kneighbors(X, Y=None, n_neighbors=5, metric="euclidean", *, exclude_self=None,
               backend="auto", working_memory=None, n_jobs=None, **metric_params):
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
    get_metric(metric)
    working_memory = resolve_working_memory(working_memory)
    _check_n_jobs(n_jobs)
    if exclude_self is None:
        exclude_self = Y is None
    if not isinstance(exclude_self, (bool, np.bool_)):
        raise ValueError(f"exclude_self must be True, False or None, got {exclude_self!r}")
    if (
        isinstance(n_neighbors, (bool, np.bool_))
        or not isinstance(n_neighbors, numbers.Integral)
        or n_neighbors < 1
    ):
        raise ValueError(f"n_neighbors must be a positive integer, got {n_neighbors!r}")
    n_neighbors = int(n_neighbors)
    if _dask.involves_dask(X, Y):
        return _dask.kneighbors(X, Y, n_neighbors, metric, exclude_self, backend,
                                working_memory, n_jobs, metric_params)

    def compute(xp, backend, X, Y):
        return _kneighbors(xp, backend, X, Y, metric, metric_params, n_neighbors,
                           exclude_self, working_memory, n_jobs)

    return _run(X, Y, backend, compute)


def _kneighbors(xp, backend, X, Y, metric, metric_params, n_neighbors, exclude_self,
                working_memory, n_jobs=None):
    """``kneighbors`` once the namespace ``xp`` and backend are settled."""
    entry, X, Y, same, params, exponent = _prepare(X, Y, metric, metric_params, xp)
    if exclude_self and X.shape[0] != Y.shape[0]:
        raise ValueError(
            "exclude_self=True leaves out index i for query i, so X and Y must "
            f"have as many rows; got {X.shape[0]} and {Y.shape[0]}"
        )
    available = Y.shape[0] - int(bool(exclude_self))
    if n_neighbors > available:
        raise ValueError(
            f"n_neighbors={n_neighbors} is larger than the {available} candidate "
            "neighbours" + (" (self excluded)" if exclude_self else "")
        )
    if backend == "cupy":
        dist, ind = _cupy.kneighbors(xp, entry, X, Y, params, same, n_neighbors,
                                     exclude_self, working_memory)
    elif backend == "numpy":
        dist, ind = _numpy_kneighbors(entry, X, Y, params, n_neighbors, exclude_self,
                                      working_memory)
    else:
        with _numba.threads(n_jobs):
            dist, ind = _numba.kneighbors(entry, X, Y, params, same, n_neighbors,
                                          exclude_self, working_memory)
    # ranked on the rescaled data, where no distance overflows
    return scale_back(xp, dist, exponent), ind


def _numpy_kneighbors(entry, X, Y, params, n_neighbors, exclude_self, working_memory):
    """Reference: full rows of distances from the reference backend, then sort."""
    from ._chunking import chunk_rows, slices

    n, m = X.shape[0], Y.shape[0]
    sign = -1 if entry.similarity else 1
    dist = np.empty((n, n_neighbors), dtype=X.dtype)
    ind = np.empty((n, n_neighbors), dtype=np.int64)
    columns = np.arange(m)
    for rows in slices(n, chunk_rows(n, 2 * m * X.itemsize, working_memory)):
        block = np.empty((rows.stop - rows.start, m), dtype=X.dtype)
        _numpy.pairwise(entry.reference, X[rows], Y, params, working_memory, block)
        block *= sign
        for r, i in enumerate(range(rows.start, rows.stop)):
            keep = columns != i if exclude_self else slice(None)
            values, cand = block[r][keep], columns[keep]
            order = np.lexsort((cand, values))[:n_neighbors]
            dist[i], ind[i] = sign * values[order], cand[order]
    return dist, ind


def _check_n_jobs(n_jobs):
    if n_jobs is None:
        return
    if (
        isinstance(n_jobs, (bool, np.bool_))
        or not isinstance(n_jobs, numbers.Integral)
        or (n_jobs < 1 and n_jobs != -1)
    ):
        raise ValueError(f"n_jobs must be None, -1 or a positive integer, got {n_jobs!r}")
