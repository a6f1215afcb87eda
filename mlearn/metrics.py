"""Evaluating a learned metric: retrieval, verification and k-NN scores.

Retrieval scores rank, for every query, the reference points by distance and
look at where the points of the query's class fall. Two settings:

- leave-one-out (``reference=None``): every point queries all the others; a
  query never retrieves itself (other points equal to it still count);
- query/reference: ``embeddings`` query a separate ``reference`` set.

Queries whose class has no member among the reference points (no "relevant"
point to find) are left out of the average; pass ``return_n_excluded=True`` to
get how many were left out. When every query is left out the score is
undefined: it is then 0.0, with an ``UndefinedMetricWarning`` (as
scikit-learn's precision and recall do). Ties in distance are broken by the
smaller reference index, so every score is deterministic.

Neighbours come from :func:`mlearn.pairwise.kneighbors`, in blocks of queries
sized by ``working_memory``, so large sets (100,000 × 128) fit in memory.

The embeddings, the reference set and their labels may be dask arrays (any
mix of dask and NumPy): the blocks of queries are searched through the dask
``kneighbors`` and computed together, and only what the scores need comes
back -- the neighbours' indices (n_queries × the depth searched), their
labels, the query labels and the reference classes' counts -- never the
points. The neighbours, hence the scores, are those of the in-memory call.

Pair verification scores take ``y_true`` in {+1, -1} and ``scores`` where
higher means more similar (a pairs learner's ``decision_function``).

Parameters are checked as in scikit-learn's public functions: a value of the
wrong type or out of its range (``k=0``, ``k=True``, an unknown ``metric``, a
NaN ``threshold``) raises scikit-learn's ``InvalidParameterError``, a
``ValueError`` and a ``TypeError``, naming the parameter and what it accepts.
"""

import warnings
from collections.abc import Callable
from numbers import Integral, Real
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import rankdata
from sklearn.exceptions import UndefinedMetricWarning

from ._docstrings import fill_doc
from ._sklearn_compat import Interval, StrOptions, check_array, validate_params
from ._validation import check_pair_labels
from .pairwise import kneighbors
from .pairwise._dask import involves_dask
from .pairwise._metrics import ALIASES, METRICS

__all__ = [
    "equal_error_rate",
    "knn_accuracy",
    "make_retrieval_scorer",
    "make_tuple_scorer",
    "mean_average_precision",
    "mean_average_precision_at_r",
    "pair_roc_auc",
    "precision_at_k",
    "r_precision",
    "recall_at_k",
    "verification_accuracy",
]

_DEFAULT_WORKING_MEMORY = 256  # MiB for one block of neighbour indices

#: Queries searched at once: enough to keep the distance kernels busy, few
#: enough that a block's neighbour lists and scores stay small.
QUERY_BLOCK = 2048


# -- plumbing -------------------------------------------------------------------


def _check_retrieval_inputs(embeddings, labels, reference, reference_labels):
    """Checked arrays, and whether the queries search themselves (leave-one-out).

    Dask arrays stay dask arrays, checked as far as can be without computing
    them (their values are checked by the search); the query labels, which
    every score needs, are computed.
    """
    emb = _check_points(embeddings, "embeddings")
    labels = _check_labels(labels, emb.shape[0], "labels", "embeddings", compute=True)
    if reference is None:
        if reference_labels is not None:
            raise ValueError("reference_labels given without reference")
        if emb.shape[0] < 2:
            raise ValueError(
                "leave-one-out scores (reference=None) need at least 2 embeddings, "
                f"got {emb.shape[0]}: a single query has nothing to retrieve"
            )
        return emb, labels, emb, labels, True
    if reference_labels is None:
        raise ValueError("reference given without reference_labels")
    ref = _check_points(reference, "reference")
    if ref.shape[1] != emb.shape[1]:
        raise ValueError(
            f"reference has {ref.shape[1]} features but embeddings have {emb.shape[1]}"
        )
    ref_labels = _check_labels(reference_labels, ref.shape[0], "reference_labels", "reference")
    return emb, labels, ref, ref_labels, False


def _check_points(points, name):
    if np.ndim(points) != 2:
        raise ValueError(
            f"{name} must be a 2-D array (n_points, n_features), got shape {np.shape(points)}"
        )
    if involves_dask(points):
        if points.shape[0] == 0:
            raise ValueError(
                f"{name} is empty (shape {points.shape}); at least one point is needed"
            )
        return points
    points = check_array(
        points,
        dtype=(np.float64, np.float32),
        ensure_all_finite=True,
        ensure_min_samples=0,
        input_name=name,
    )
    if points.shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {points.shape}); at least one point is needed")
    return points


def _check_labels(labels, n, name, of, compute=False):
    """Checked class labels; a dask array is checked by a small computation
    (its NaN), and computed only with ``compute``."""
    if involves_dask(labels):
        return _check_dask_labels(labels, n, name, of, compute)
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {labels.shape}")
    if labels.shape[0] != n:
        raise ValueError(f"{name} has {labels.shape[0]} entries but {of} has {n} rows")
    if labels.dtype.kind in "fc" and not np.isfinite(labels).all():
        raise ValueError(f"{name} contains NaN or infinity; class labels must be finite")
    if labels.dtype.kind == "O":
        try:
            np.unique(labels)
        except TypeError as exc:
            raise TypeError(
                f"{name} must hold class labels of one comparable kind (all numbers or "
                f"all strings): {exc}"
            ) from None
    return labels


def _check_dask_labels(labels, n, name, of, compute):
    if labels.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {labels.shape}")
    if labels.shape[0] != n:
        raise ValueError(f"{name} has {labels.shape[0]} entries but {of} has {n} rows")
    if labels.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} as a dask array must hold numbers (integer or float "
            f"class labels), got dtype {labels.dtype}"
        )
    if compute:
        return _check_labels(labels.compute(), n, name, of)
    if labels.dtype.kind == "f" and not bool(labels.map_blocks(np.isfinite).all()):
        raise ValueError(f"{name} contains NaN or infinity; class labels must be finite")
    return labels


def _class_counts(ref_labels):
    """The reference classes (sorted) and how many reference points each has."""
    if involves_dask(ref_labels):
        import dask
        import dask.array as da

        classes, counts = dask.compute(*da.unique(ref_labels, return_counts=True))
        return np.asarray(classes), np.asarray(counts)
    return np.unique(ref_labels, return_counts=True)


def _check_k_fits(k, name, n_candidates, self_ref):
    """``k`` neighbours must exist for every query, as in scikit-learn's KNeighbors."""
    if k > n_candidates:
        where = (
            f"the {n_candidates + 1} embeddings less the query itself"
            if self_ref
            else "the reference points"
        )
        raise ValueError(
            f"{name}={k} is more than the {n_candidates} candidate neighbours of a query "
            f"({where}); {name} must be at most {n_candidates}"
        )


def _working_memory(working_memory):
    """The budget in MiB (already checked positive and finite)."""
    return _DEFAULT_WORKING_MEMORY if working_memory is None else float(working_memory)


def _n_relevant(labels, classes, ref_counts, self_ref):
    """For each query, how many reference points share its label (itself
    excluded), from the reference classes (sorted) and their counts."""
    pos = np.searchsorted(classes, labels)
    pos = np.clip(pos, 0, len(classes) - 1)
    found = classes[pos] == labels
    counts = np.where(found, ref_counts[pos], 0)
    return counts - int(self_ref)


def _query_blocks(n, depth, self_ref, working_memory):
    """Yield ``(start, stop, k)``: blocks of queries searched together, each
    fetching its deepest query's depth ``k`` (an (n_block, k) index block
    within the budget)."""
    budget = working_memory * 2**20
    start = 0
    while start < n:
        k_max = int(depth[start:].max())
        per_row = max(1, k_max + int(self_ref)) * 16
        stop = min(n, start + max(1, min(QUERY_BLOCK, int(budget // per_row))))
        yield start, stop, int(depth[start:stop].max())
        start = stop


def _search(emb, ref, start, stop, k, self_ref, metric, working_memory, metric_params):
    """The neighbour indices of queries ``start:stop`` (lazy for dask input)."""
    n, n_ref = emb.shape[0], ref.shape[0]
    kk = min(k + int(self_ref), n_ref)
    # all queries at once against themselves: one set of operands
    whole = self_ref and start == 0 and stop == n
    _, ind = kneighbors(
        emb if whole else emb[start:stop],
        None if whole else ref,
        n_neighbors=kk,
        metric=metric,
        exclude_self=False,
        working_memory=working_memory,
        **metric_params,
    )
    return ind


def _own_results_left_out(ind, start, stop, self_ref):
    """``ind`` without each query's own index (leave-one-out): one column fewer."""
    queries = np.arange(start, stop)
    if not self_ref:
        return queries, ind
    keep = ind != queries[:, None]
    # a query tied with more than kk duplicates of lower index is not in
    # its own list: dropping the last column then leaves the right ones
    absent = keep.all(axis=1)
    keep[absent, -1] = False
    return queries, ind[keep].reshape(len(queries), ind.shape[1] - 1)


def _neighbour_blocks(emb, ref, depth, self_ref, metric, working_memory, metric_params):
    """Yield (query indices, neighbour indices) with ``depth[q]`` neighbours kept per block.

    ``depth`` is an array (one depth per query); each block fetches its
    maximum, so the block is (n_block, max depth) indices. With dask input
    every block's search is built first and all are computed together: only
    the neighbour indices come back.
    """
    blocks = list(_query_blocks(emb.shape[0], depth, self_ref, working_memory))
    if involves_dask(emb, ref):
        import dask

        lazy = {
            b: _search(emb, ref, *b, self_ref, metric, working_memory, metric_params)
            for b in blocks
            if b[2] > 0
        }
        found = dict(zip(lazy, dask.compute(*lazy.values())))
    for start, stop, k in blocks:
        if k == 0:
            yield np.arange(start, stop), np.empty((stop - start, 0), dtype=np.int64)
            continue
        if involves_dask(emb, ref):
            ind = found[(start, stop, k)]
        else:
            ind = _search(
                emb, ref, start, stop, k, self_ref, metric, working_memory, metric_params
            )
        yield _own_results_left_out(ind, start, stop, self_ref)


def _relevance(labels, ref_labels, queries, ind):
    return _labels_at(ref_labels, ind) == labels[queries][:, None]


def _labels_at(ref_labels, ind):
    """``ref_labels[ind]``; for dask labels only the entries at ``ind`` are
    computed."""
    if not involves_dask(ref_labels):
        return ref_labels[ind]
    needed, where = np.unique(ind, return_inverse=True)
    return np.asarray(ref_labels[needed].compute())[where].reshape(ind.shape)


def _finish(values, included, return_n_excluded, name):
    n_excluded = int(np.sum(~included))
    if included.any():
        score = float(np.mean(values[included]))
    else:
        warnings.warn(
            f"{name} is undefined and set to 0.0: no query has a reference point of its "
            "own class (every class of the queries is missing from the reference set, "
            "or has a single member when scoring leave-one-out), so every query was "
            "left out",
            UndefinedMetricWarning,
            stacklevel=4,  # the caller of the public score function
        )
        score = 0.0
    return (score, n_excluded) if return_n_excluded else score


def _prepare(embeddings, labels, reference, reference_labels, working_memory, k, k_name):
    """Checked inputs, whether the queries search themselves, and the budget in MiB."""
    emb, labels, ref, ref_labels, self_ref = _check_retrieval_inputs(
        embeddings, labels, reference, reference_labels
    )
    if k is not None:
        _check_k_fits(k, k_name, ref.shape[0] - int(self_ref), self_ref)
    return emb, labels, ref, ref_labels, self_ref, _working_memory(working_memory)


def _retrieval(
    embeddings,
    labels,
    reference,
    reference_labels,
    depth_fn,
    score_fn,
    *,
    metric,
    working_memory,
    metric_params,
    return_n_excluded,
    name,
    k=None,
):
    emb, labels, ref, ref_labels, self_ref, working_memory = _prepare(
        embeddings, labels, reference, reference_labels, working_memory, k, "k"
    )
    n_rel = _n_relevant(labels, *_class_counts(ref_labels), self_ref)
    included = n_rel > 0
    depth = np.where(included, depth_fn(n_rel, ref.shape[0] - int(self_ref)), 0)
    values = np.zeros(emb.shape[0])
    for queries, ind in _neighbour_blocks(
        emb, ref, depth, self_ref, metric, working_memory, metric_params
    ):
        rel = _relevance(labels, ref_labels, queries, ind)
        # a block fetches its deepest query's depth: ignore ranks past each query's own
        rel &= np.arange(rel.shape[1])[None, :] < depth[queries][:, None]
        values[queries] = score_fn(rel, n_rel[queries], depth[queries])
    return _finish(values, included, return_n_excluded, name)


_POINTS_PARAMS_DOC = """
    embeddings : array-like of shape (n_queries, n_features)
        Points in the learned space (e.g. ``learner.transform(X)``); a dask
        array is searched without being gathered (see the module's notes).
    labels : array-like of shape (n_queries,)
        Their classes (numbers, for a dask array).
    reference, reference_labels : array-like, default=None
        The set searched, with its classes; None searches ``embeddings``
        itself, leaving each query out of its own results. Dask arrays are
        read where they are: only the neighbours' labels come back.
    metric : str, default="euclidean"
        Any metric of :func:`mlearn.pairwise.pairwise_distances`.
    working_memory : float, default=None
        MiB for one block of neighbour indices, and for one tile of
        distances in the neighbour search (None: 256).
    **metric_params
        Passed to the distance (e.g. ``p=3`` for minkowski)."""

_RETRIEVAL_PARAMS_DOC = _POINTS_PARAMS_DOC.replace(
    """
    **metric_params""",
    """
    return_n_excluded : bool, default=False
        Also return the number of queries left out because no reference
        point shares their class. When all are left out the score is 0.0
        and an ``UndefinedMetricWarning`` is raised.
    **metric_params""",
)

_POSITIVE_INT = Interval(Integral, 1, None, closed="left")

#: The parameters every retrieval score and knn_accuracy share. ``metric`` is
#: one of :func:`mlearn.pairwise.pairwise_distances`'s names; its parameters
#: (``**metric_params``) are checked by the neighbour search.
_POINTS_CONSTRAINTS: dict[str, list[Any]] = {
    "embeddings": ["array-like"],
    "labels": ["array-like"],
    "reference": ["array-like", None],
    "reference_labels": ["array-like", None],
    "metric": [StrOptions(set(METRICS) | set(ALIASES))],
    "working_memory": [Interval(Real, 0, np.inf, closed="neither"), None],
}
_RETRIEVAL_CONSTRAINTS: dict[str, list[Any]] = {
    **_POINTS_CONSTRAINTS,
    "return_n_excluded": ["boolean"],
}

#: A score, or ``(score, n_excluded)`` with ``return_n_excluded=True``.
_Score = float | tuple[float, int]


# -- retrieval ----------------------------------------------------------------------


@validate_params(
    {**_RETRIEVAL_CONSTRAINTS, "k": [_POSITIVE_INT]}, prefer_skip_nested_validation=False
)
def precision_at_k(
    embeddings: ArrayLike,
    labels: ArrayLike,
    *,
    reference: ArrayLike | None = None,
    reference_labels: ArrayLike | None = None,
    k: int = 1,
    metric: str = "euclidean",
    working_memory: float | None = None,
    return_n_excluded: bool = False,
    **metric_params: Any,
) -> _Score:
    """Mean fraction of a query's ``k`` nearest neighbours that share its class.

    Parameters
    ----------
    {k}
    {params}

    Returns
    -------
    score : float
        In [0, 1]; with ``return_n_excluded`` a tuple ``(score, n_excluded)``.

    Examples
    --------
    >>> import numpy as np
    >>> from mlearn.metrics import precision_at_k
    >>> X = np.array([[0.0], [0.1], [5.0], [5.2], [0.3]])
    >>> y = np.array([0, 0, 1, 1, 1])
    >>> precision_at_k(X, y, k=1)   # the point at 0.3 finds 0.1 (class 0)
    0.8
    """

    def score(rel, n_rel, depth):
        return rel.sum(axis=1) / np.maximum(depth, 1)

    return _retrieval(
        embeddings,
        labels,
        reference,
        reference_labels,
        lambda n_rel, n_ref: np.full_like(n_rel, k),
        score,
        metric=metric,
        working_memory=working_memory,
        metric_params=metric_params,
        return_n_excluded=return_n_excluded,
        name="precision_at_k",
        k=k,
    )


@validate_params(
    {**_RETRIEVAL_CONSTRAINTS, "k": [_POSITIVE_INT]}, prefer_skip_nested_validation=False
)
def recall_at_k(
    embeddings: ArrayLike,
    labels: ArrayLike,
    *,
    reference: ArrayLike | None = None,
    reference_labels: ArrayLike | None = None,
    k: int = 1,
    metric: str = "euclidean",
    working_memory: float | None = None,
    return_n_excluded: bool = False,
    **metric_params: Any,
) -> _Score:
    """Fraction of queries with at least one same-class point among their ``k`` nearest.

    This is the "Recall@K" of the metric-learning literature (a hit rate), not
    the fraction of all relevant points retrieved.

    Parameters
    ----------
    {k}
    {params}

    Returns
    -------
    score : float

    Examples
    --------
    >>> import numpy as np
    >>> from mlearn.metrics import recall_at_k
    >>> X = np.array([[0.0], [0.1], [5.0], [5.2], [0.3]])
    >>> y = np.array([0, 0, 1, 1, 1])
    >>> recall_at_k(X, y, k=2)
    0.8
    """

    def score(rel, n_rel, depth):
        return rel.any(axis=1).astype(float)

    return _retrieval(
        embeddings,
        labels,
        reference,
        reference_labels,
        lambda n_rel, n_ref: np.full_like(n_rel, k),
        score,
        metric=metric,
        working_memory=working_memory,
        metric_params=metric_params,
        return_n_excluded=return_n_excluded,
        name="recall_at_k",
        k=k,
    )


@validate_params(_RETRIEVAL_CONSTRAINTS, prefer_skip_nested_validation=False)
def r_precision(
    embeddings: ArrayLike,
    labels: ArrayLike,
    *,
    reference: ArrayLike | None = None,
    reference_labels: ArrayLike | None = None,
    metric: str = "euclidean",
    working_memory: float | None = None,
    return_n_excluded: bool = False,
    **metric_params: Any,
) -> _Score:
    """Mean precision among the first R results, R being the query's number of relevant points.

    Parameters
    ----------
    {params}

    Returns
    -------
    score : float

    Examples
    --------
    >>> import numpy as np
    >>> from mlearn.metrics import r_precision
    >>> X = np.array([[0.0], [0.1], [0.2], [5.0], [0.15]])
    >>> y = np.array([0, 0, 0, 1, 1])
    >>> r_precision(X, y)   # class 0 finds half its pairs, class 1 none
    0.3
    >>> import dask
    >>> import dask.array as da
    >>> with dask.config.set(scheduler="synchronous"):   # the same, from dask arrays
    ...     r_precision(da.from_array(X, chunks=2), da.from_array(y, chunks=2))
    0.3
    """

    def score(rel, n_rel, depth):
        return rel.sum(axis=1) / np.maximum(n_rel, 1)

    return _retrieval(
        embeddings,
        labels,
        reference,
        reference_labels,
        lambda n_rel, n_ref: n_rel,
        score,
        metric=metric,
        working_memory=working_memory,
        metric_params=metric_params,
        return_n_excluded=return_n_excluded,
        name="r_precision",
    )


def _average_precision(rel, n_rel):
    hits = np.cumsum(rel, axis=1)
    ranks = np.arange(1, rel.shape[1] + 1)
    return (rel * hits / ranks).sum(axis=1) / np.maximum(n_rel, 1)


@validate_params(_RETRIEVAL_CONSTRAINTS, prefer_skip_nested_validation=False)
def mean_average_precision_at_r(
    embeddings: ArrayLike,
    labels: ArrayLike,
    *,
    reference: ArrayLike | None = None,
    reference_labels: ArrayLike | None = None,
    metric: str = "euclidean",
    working_memory: float | None = None,
    return_n_excluded: bool = False,
    **metric_params: Any,
) -> _Score:
    """MAP@R: average precision over the first R results, R the number of relevant points.

    For a query with R relevant points and relevance ``rel(i)`` of the
    result at rank i, ``AP@R = (1/R) Σ_{i ≤ R} P(i) rel(i)`` with ``P(i)``
    the precision of the first i results (Musgrave et al., 2020, "A metric
    learning reality check").

    Parameters
    ----------
    {params}

    Returns
    -------
    score : float

    Examples
    --------
    >>> import numpy as np
    >>> from mlearn.metrics import mean_average_precision_at_r
    >>> X = np.array([[0.0], [0.1], [0.2], [5.0], [5.1]])
    >>> y = np.array([0, 0, 0, 1, 1])
    >>> mean_average_precision_at_r(X, y)
    1.0
    """

    def score(rel, n_rel, depth):
        return _average_precision(rel, n_rel)

    return _retrieval(
        embeddings,
        labels,
        reference,
        reference_labels,
        lambda n_rel, n_ref: n_rel,
        score,
        metric=metric,
        working_memory=working_memory,
        metric_params=metric_params,
        return_n_excluded=return_n_excluded,
        name="mean_average_precision_at_r",
    )


@validate_params(_RETRIEVAL_CONSTRAINTS, prefer_skip_nested_validation=False)
def mean_average_precision(
    embeddings: ArrayLike,
    labels: ArrayLike,
    *,
    reference: ArrayLike | None = None,
    reference_labels: ArrayLike | None = None,
    metric: str = "euclidean",
    working_memory: float | None = None,
    return_n_excluded: bool = False,
    **metric_params: Any,
) -> _Score:
    """Mean average precision over the full ranking of the reference set.

    ``AP = (1/R) Σ_i P(i) rel(i)`` over every rank i.

    Parameters
    ----------
    {params}

    Returns
    -------
    score : float

    Examples
    --------
    >>> import numpy as np
    >>> from mlearn.metrics import mean_average_precision
    >>> X = np.array([[0.0], [1.0], [2.0]])
    >>> y = np.array([0, 1, 0])
    >>> round(mean_average_precision(X, y), 4)   # class 0 ranks its match second
    0.5
    """

    def score(rel, n_rel, depth):
        return _average_precision(rel, n_rel)

    return _retrieval(
        embeddings,
        labels,
        reference,
        reference_labels,
        lambda n_rel, n_ref: np.full_like(n_rel, n_ref),
        score,
        metric=metric,
        working_memory=working_memory,
        metric_params=metric_params,
        return_n_excluded=return_n_excluded,
        name="mean_average_precision",
    )


@validate_params(
    {**_POINTS_CONSTRAINTS, "n_neighbors": [_POSITIVE_INT]}, prefer_skip_nested_validation=False
)
def knn_accuracy(
    embeddings: ArrayLike,
    labels: ArrayLike,
    *,
    reference: ArrayLike | None = None,
    reference_labels: ArrayLike | None = None,
    n_neighbors: int = 3,
    metric: str = "euclidean",
    working_memory: float | None = None,
    **metric_params: Any,
) -> float:
    """Accuracy of the majority vote of each query's ``n_neighbors`` nearest reference points.

    Every query is classified (none is left out). A tied vote goes to the
    smallest label, as in scikit-learn's ``KNeighborsClassifier``, so
    leave-one-out accuracy here equals that of a ``KNeighborsClassifier``
    fitted on the other points.

    Parameters
    ----------
    n_neighbors : int, default=3
        Neighbours that vote; at most the number of reference points
        (``n_queries - 1`` when ``reference`` is None), or a ValueError is
        raised, as scikit-learn's ``KNeighborsClassifier`` does.
    {params}

    Returns
    -------
    accuracy : float

    Examples
    --------
    >>> import numpy as np
    >>> from mlearn.metrics import knn_accuracy
    >>> X = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [5.3]])
    >>> y = np.array([0, 0, 0, 1, 1, 1])
    >>> knn_accuracy(X, y, n_neighbors=1)
    1.0

    Dask arrays give the same score, computed here by the synchronous
    scheduler:

    >>> import dask
    >>> import dask.array as da
    >>> with dask.config.set(scheduler="synchronous"):
    ...     knn_accuracy(da.from_array(X, chunks=3), da.from_array(y, chunks=3),
    ...                  n_neighbors=1)
    1.0
    """
    emb, query_labels, ref, ref_labels, self_ref, working_memory = _prepare(
        embeddings, labels, reference, reference_labels, working_memory, n_neighbors, "n_neighbors"
    )
    classes, codes_of = _class_codes(ref_labels)
    depth = np.full(emb.shape[0], n_neighbors)
    correct = np.zeros(emb.shape[0], dtype=bool)
    for queries, ind in _neighbour_blocks(
        emb, ref, depth, self_ref, metric, working_memory, metric_params
    ):
        predicted = classes[_majority(codes_of(ind))]
        correct[queries] = predicted == query_labels[queries]
    return float(np.mean(correct))


def _class_codes(ref_labels):
    """The reference classes (sorted), and a function giving the class codes
    (indices into them) of the reference points at given indices; for dask
    labels only the entries asked for are computed."""
    if involves_dask(ref_labels):
        classes, _ = _class_counts(ref_labels)
        return classes, lambda ind: np.searchsorted(classes, _labels_at(ref_labels, ind))
    classes, ref_codes = np.unique(ref_labels, return_inverse=True)
    return classes, lambda ind: ref_codes[ind]


def _majority(codes):
    """Most frequent code of each row (the smallest among ties), without an
    (n, n_classes) table: in a sorted row, the first of the codes that occur
    most often is that row's answer."""
    codes = np.sort(codes, axis=1)
    n, k = codes.shape
    best = np.empty(n, dtype=codes.dtype)
    step = max(1, 2**22 // max(k * k, 1))  # rows per (rows, k, k) comparison
    for start in range(0, n, step):
        block = codes[start : start + step]
        counts = (block[:, :, None] == block[:, None, :]).sum(axis=2)
        best[start : start + step] = block[np.arange(len(block)), np.argmax(counts, axis=1)]
    return best


_K_DOC = """
    k : int, default=1
        Neighbours looked at per query; at most the number of reference
        points (``n_queries - 1`` when ``reference`` is None), or a
        ValueError is raised."""

for _f in (precision_at_k, recall_at_k):
    fill_doc(k=_K_DOC, params=_RETRIEVAL_PARAMS_DOC)(_f)
for _f in (r_precision, mean_average_precision_at_r, mean_average_precision):
    fill_doc(params=_RETRIEVAL_PARAMS_DOC)(_f)
del _f
fill_doc(params=_POINTS_PARAMS_DOC)(knn_accuracy)  # every query votes: none left out


# -- pair verification --------------------------------------------------------------


def _check_pair_scores(y_true, scores, both_classes=True):
    try:
        scores = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"scores must be real numbers, one per pair: {exc}") from None
    if scores.ndim != 1:
        raise ValueError(f"scores must be 1-D, got shape {scores.shape}")
    if scores.shape[0] == 0:
        raise ValueError("scores is empty; at least one pair is needed")
    if not np.isfinite(scores).all():
        raise ValueError("scores must not contain NaN or infinity")
    y = check_pair_labels(y_true, len(scores), name="y_true")
    if both_classes and len(np.unique(y)) < 2:
        raise ValueError("y_true must contain both similar (+1) and dissimilar (-1) pairs")
    return y, scores


_PAIR_CONSTRAINTS: dict[str, list[Any]] = {"y_true": ["array-like"], "scores": ["array-like"]}


@validate_params(_PAIR_CONSTRAINTS, prefer_skip_nested_validation=True)
def pair_roc_auc(y_true: ArrayLike, scores: ArrayLike) -> float:
    """Area under the ROC curve of pair verification.

    The probability that a random similar pair scores higher than a random
    dissimilar one (ties count one half).

    Parameters
    ----------
    y_true : array-like of shape (n_pairs,)
        +1 for similar pairs, -1 for dissimilar ones.
    scores : array-like of shape (n_pairs,)
        Higher means more similar (e.g. ``learner.decision_function(pairs)``).

    Returns
    -------
    auc : float

    Examples
    --------
    >>> from mlearn.metrics import pair_roc_auc
    >>> pair_roc_auc([1, 1, -1, -1], [0.9, 0.4, 0.5, 0.1])
    0.75
    """
    return _pair_roc_auc(y_true, scores)


def _pair_roc_auc(y_true, scores):
    y, scores = _check_pair_scores(y_true, scores)
    ranks = rankdata(scores)
    n_pos = np.sum(y == 1)
    n_neg = len(y) - n_pos
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


@validate_params(_PAIR_CONSTRAINTS, prefer_skip_nested_validation=True)
def equal_error_rate(y_true: ArrayLike, scores: ArrayLike) -> float:
    """The error rate at the threshold where false accepts equal false rejects.

    The ROC curve is followed threshold by threshold; where the false
    positive rate and the false negative rate cross, they are linearly
    interpolated between the two neighbouring thresholds.

    Parameters
    ----------
    y_true : array-like of shape (n_pairs,)
        +1 / -1.
    scores : array-like of shape (n_pairs,)
        Higher means more similar.

    Returns
    -------
    eer : float in [0, 1]

    Examples
    --------
    >>> from mlearn.metrics import equal_error_rate
    >>> equal_error_rate([1, 1, -1, -1], [0.9, 0.8, 0.3, 0.1])
    0.0
    >>> equal_error_rate([1, -1, 1, -1], [0.9, 0.8, 0.3, 0.1])
    0.5
    """
    return _equal_error_rate(y_true, scores)


def _equal_error_rate(y_true, scores):
    y, scores = _check_pair_scores(y_true, scores)
    order = np.argsort(-scores, kind="stable")
    s, pos = scores[order], (y[order] == 1)
    # accept the first i pairs (by decreasing score), at each distinct score
    last = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]
    tp = np.r_[0, np.cumsum(pos)[last]]
    fp = np.r_[0, np.cumsum(~pos)[last]]
    fpr = fp / fp[-1]
    fnr = 1 - tp / tp[-1]
    diff = fnr - fpr  # decreasing from 1 to -1
    j = int(np.argmax(diff <= 0))
    if diff[j] == 0 or j == 0:
        return float(fpr[j])
    # crossing between j-1 and j
    t = diff[j - 1] / (diff[j - 1] - diff[j])
    return float(fpr[j - 1] + t * (fpr[j] - fpr[j - 1]))


@validate_params(
    # -inf and inf are the two ends of the ROC curve; NaN calls nothing
    {**_PAIR_CONSTRAINTS, "threshold": [Interval(Real, None, None, closed="both")]},
    prefer_skip_nested_validation=True,
)
def verification_accuracy(y_true: ArrayLike, scores: ArrayLike, threshold: float) -> float:
    """Accuracy of predicting "similar" for pairs whose score is at least ``threshold``.

    Parameters
    ----------
    y_true : array-like of shape (n_pairs,)
        +1 / -1. One class alone is allowed.
    scores : array-like of shape (n_pairs,)
        Higher means more similar; finite.
    threshold : float
        Pairs scoring at least this are called similar. ``-inf`` calls every
        pair similar and ``inf`` none (the two ends of the ROC curve); NaN
        raises a ValueError.

    Returns
    -------
    accuracy : float

    Examples
    --------
    >>> from mlearn.metrics import verification_accuracy
    >>> verification_accuracy([1, 1, -1, -1], [0.9, 0.4, 0.5, 0.1], threshold=0.45)
    0.5
    >>> verification_accuracy([1, 1, -1, -1], [0.9, 0.4, 0.5, 0.1], threshold=float("inf"))
    0.5
    """
    return _verification_accuracy(y_true, scores, threshold)


def _verification_accuracy(y_true, scores, threshold):
    y, scores = _check_pair_scores(y_true, scores, both_classes=False)
    return float(np.mean(np.where(scores >= threshold, 1, -1) == y))


# -- scorers ------------------------------------------------------------------------

_RETRIEVAL_SCORES = {
    "map_at_r": mean_average_precision_at_r,
    "precision_at_1": lambda Z, y, **kw: precision_at_k(Z, y, k=1, **kw),
    "r_precision": r_precision,
    "knn_accuracy": knn_accuracy,
    "mean_average_precision": mean_average_precision,
}


def _bilinear_matrix(estimator):
    """W of a learned bilinear similarity (the estimator or a Pipeline's last step), or None."""
    final = estimator[-1] if hasattr(estimator, "steps") else estimator
    return final.get_bilinear_matrix() if hasattr(final, "get_bilinear_matrix") else None


def _embed(estimator, X):
    if hasattr(estimator, "transform"):
        return estimator.transform(X)
    if not hasattr(estimator, "steps") and _bilinear_matrix(estimator) is not None:
        return X  # a bilinear similarity scores the points themselves
    steps = getattr(estimator, "steps", None)
    if steps is not None and len(steps) > 1:
        return estimator[:-1].transform(X)
    raise TypeError(
        f"{type(estimator).__name__} has no transform: a retrieval scorer needs a "
        "transformer or a Pipeline whose steps before the last transform"
    )


@validate_params(
    {"score": [StrOptions(set(_RETRIEVAL_SCORES))]}, prefer_skip_nested_validation=True
)
def make_retrieval_scorer(score: str = "map_at_r", **kwargs: Any) -> Callable[..., float]:
    """A scorer for ``GridSearchCV`` / ``cross_val_score`` from a retrieval score.

    The scorer embeds the evaluation fold with the fitted estimator's
    ``transform`` (for a Pipeline ending in a classifier, the steps before
    it) and computes the score leave-one-out within that fold. A learned
    bilinear similarity (e.g. :class:`mlearn.OASIS_Supervised`, alone or
    last in a Pipeline) has no transform: the fold (through the steps
    before it) is ranked by its similarity, ``metric="bilinear"`` with its
    ``W``, unless ``metric`` is given.

    Parameters
    ----------
    score : {'map_at_r', 'precision_at_1', 'r_precision', 'knn_accuracy', \
'mean_average_precision'}, default='map_at_r'
    **kwargs
        Passed to the score function (e.g. ``n_neighbors=5`` or ``metric``).

    Returns
    -------
    scorer : callable ``scorer(estimator, X, y) -> float`` (higher is better)

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.model_selection import cross_val_score
    >>> from mlearn import Covariance
    >>> from mlearn.metrics import make_retrieval_scorer
    >>> X, y = load_iris(return_X_y=True)
    >>> scores = cross_val_score(Covariance(), X, y, cv=3,
    ...                          scoring=make_retrieval_scorer("precision_at_1"))
    >>> bool(scores.mean() > 0.8)
    True
    """
    func = _RETRIEVAL_SCORES[score]

    def scorer(estimator, X, y):
        params = kwargs
        W = _bilinear_matrix(estimator)
        if W is not None and "metric" not in kwargs:
            params = {**kwargs, "metric": "bilinear", "M": W}
        return func(_embed(estimator, X), np.asarray(y), **params)

    scorer.__name__ = f"{score}_scorer"
    return scorer


@validate_params(
    {"score": [StrOptions({"roc_auc", "accuracy", "equal_error_rate"})]},
    prefer_skip_nested_validation=True,
)
def make_tuple_scorer(score: str = "roc_auc") -> Callable[..., float]:
    """A scorer for learners on pairs, triplets or quadruplets.

    Parameters
    ----------
    score : {'roc_auc', 'accuracy', 'equal_error_rate'}, default='roc_auc'
        - 'roc_auc': :func:`pair_roc_auc` of ``decision_function`` (pairs).
        - 'accuracy': the fraction of tuples whose ``predict`` matches ``y``
          (all +1 when ``y`` is None), for any tuple learner. A pairs
          learner's own ``score`` is its ROC AUC, not this.
        - 'equal_error_rate': one minus :func:`equal_error_rate`, so that
          higher is better (pairs).

    Returns
    -------
    scorer : callable ``scorer(estimator, tuples, y=None) -> float``

    Examples
    --------
    >>> from mlearn.metrics import make_tuple_scorer
    >>> scorer = make_tuple_scorer("roc_auc")
    """
    if score == "accuracy":

        def scorer(estimator, tuples, y=None):
            predicted = estimator.predict(tuples)
            expected = 1 if y is None else check_pair_labels(y, len(predicted))
            return float(np.mean(predicted == expected))
    elif score == "roc_auc":

        def scorer(estimator, tuples, y=None):
            return _pair_roc_auc(y, estimator.decision_function(tuples))
    else:  # equal_error_rate

        def scorer(estimator, tuples, y=None):
            return 1.0 - _equal_error_rate(y, estimator.decision_function(tuples))

    scorer.__name__ = f"{score}_scorer"
    return scorer
