"""Plots of a learned metric (needs the ``plot`` extra: matplotlib).

Each function draws into the Axes it is given (or new ones) and returns them,
so plots compose with the rest of a figure. matplotlib is imported only when a
function is called.
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.decomposition import PCA
from sklearn.metrics import roc_curve

from .metrics import pair_roc_auc

if TYPE_CHECKING:  # matplotlib is optional: imported when a plot is drawn
    from matplotlib.axes import Axes

__all__ = [
    "plot_bilinear_matrix",
    "plot_embedding",
    "plot_mahalanobis_matrix",
    "plot_objective",
    "plot_pair_distances",
    "plot_roc",
]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            'mlearn\'s plots need matplotlib: pip install "mlearn-metric[plot]"'
        ) from exc
    return plt


def _axes(ax, n=1, width=4.0):
    plt = _pyplot()
    if ax is not None:
        axes = np.atleast_1d(ax)
        if len(axes) != n:
            raise ValueError(f"this plot needs {n} Axes, got {len(axes)}")
        return axes
    _, axes = plt.subplots(1, n, figsize=(width * n, 3.6), squeeze=False)
    return axes[0]


def _matrix_of(learner_or_M):
    if hasattr(learner_or_M, "get_mahalanobis_matrix"):
        return learner_or_M.get_mahalanobis_matrix()
    M = np.asarray(learner_or_M, dtype=np.float64)
    if M.ndim != 2 or M.shape[0] != M.shape[1]:
        raise ValueError(f"expected a fitted learner or a square matrix, got shape {M.shape}")
    return M


def plot_mahalanobis_matrix(
    learner_or_M: Any,
    *,
    ax: "Axes | None" = None,
    feature_names: Sequence[str] | None = None,
    cmap: str = "RdBu_r",
) -> "Axes":
    """Heatmap of the Mahalanobis matrix M, on a colour scale symmetric about zero.

    Parameters
    ----------
    learner_or_M : fitted learner or array of shape (n_features, n_features)
    ax : matplotlib Axes, default=None
    feature_names : list of str, default=None
        Tick labels.
    cmap : str, default="RdBu_r"

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_iris
    >>> from mlearn import Covariance
    >>> from mlearn.plotting import plot_mahalanobis_matrix
    >>> ax = plot_mahalanobis_matrix(Covariance().fit(load_iris().data))
    """
    return _heatmap(_matrix_of(learner_or_M), ax, feature_names, cmap, "Mahalanobis matrix M")


def plot_bilinear_matrix(
    learner_or_W: Any,
    *,
    ax: "Axes | None" = None,
    feature_names: Sequence[str] | None = None,
    cmap: str = "RdBu_r",
) -> "Axes":
    """Heatmap of a bilinear similarity's matrix W, on a colour scale symmetric about zero.

    ``W`` need not be symmetric: row ``i`` holds the weights of the first
    point's feature ``i`` (the query's), column ``j`` those of the second
    point's feature ``j``. Negative weights (features that make points less
    similar) and positive ones get opposite colours of the diverging map.

    Parameters
    ----------
    learner_or_W : fitted bilinear learner or array of shape (n_features, n_features)
        A learner with ``get_bilinear_matrix`` (e.g. :class:`mlearn.OASIS`).
    ax : matplotlib Axes, default=None
    feature_names : list of str, default=None
        Tick labels.
    cmap : str, default="RdBu_r"
        A diverging colour map, so that zero sits in its middle.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from mlearn import OASIS
    >>> from mlearn.plotting import plot_bilinear_matrix
    >>> triplets = np.random.RandomState(0).randn(20, 3, 4)
    >>> ax = plot_bilinear_matrix(OASIS(n_iter=100, random_state=0).fit(triplets))
    >>> ax.get_title()
    'Bilinear matrix W'
    """
    if hasattr(learner_or_W, "get_bilinear_matrix"):
        W = learner_or_W.get_bilinear_matrix()
    else:
        W = _matrix_of(learner_or_W)
    return _heatmap(W, ax, feature_names, cmap, "Bilinear matrix W")


def _heatmap(M, ax, feature_names, cmap, title):
    ax = _axes(ax)[0]
    limit = np.abs(M).max() or 1.0
    image = ax.imshow(M, cmap=cmap, vmin=-limit, vmax=limit)
    ax.figure.colorbar(image, ax=ax, shrink=0.8)
    if feature_names is not None:
        ticks = np.arange(len(feature_names))
        ax.set_xticks(ticks, feature_names, rotation=90)
        ax.set_yticks(ticks, feature_names)
    ax.set_title(title)
    return ax


def _project_2d(Z):
    if Z.shape[1] == 1:
        return np.column_stack([Z[:, 0], np.zeros(len(Z))])
    return PCA(n_components=2).fit_transform(Z)


def plot_embedding(
    X: ArrayLike,
    y: ArrayLike,
    learner: Any,
    *,
    axes: "Sequence[Axes] | NDArray[np.object_] | None" = None,
    s: float = 12,
) -> NDArray[np.object_]:
    """The data in 2-D before and after the learned metric, coloured by class.

    Both panels show the first two principal components: of ``X`` on the
    left, of ``learner.transform(X)`` on the right.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    learner : fitted learner with ``transform``
    axes : two matplotlib Axes, default=None
    s : float, default=12
        Marker size.

    Returns
    -------
    axes : ndarray of two Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_iris
    >>> from mlearn import Covariance
    >>> from mlearn.plotting import plot_embedding
    >>> X, y = load_iris(return_X_y=True)
    >>> axes = plot_embedding(X, y, Covariance().fit(X))
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    panels = _axes(axes, 2)
    for ax, Z, title in (
        (panels[0], X, "before (Euclidean)"),
        (panels[1], learner.transform(X), "after (learned metric)"),
    ):
        P = _project_2d(np.asarray(Z))
        for label in np.unique(y):
            mask = y == label
            ax.scatter(P[mask, 0], P[mask, 1], s=s, label=str(label))
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
    panels[1].legend(loc="best", fontsize="small", title="class")
    return panels


def plot_pair_distances(
    pairs: ArrayLike,
    y: ArrayLike,
    learner: Any,
    *,
    axes: "Sequence[Axes] | NDArray[np.object_] | None" = None,
    bins: int = 30,
) -> NDArray[np.object_]:
    """Histograms of similar and dissimilar pair distances, Euclidean then learned.

    Parameters
    ----------
    pairs : array-like of shape (n_pairs, 2, n_features)
    y : array-like of shape (n_pairs,)
        +1 for similar pairs, -1 for dissimilar ones.
    learner : fitted learner with ``pair_distance``
    axes : two matplotlib Axes, default=None
    bins : int, default=30

    Returns
    -------
    axes : ndarray of two Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_iris
    >>> from mlearn import Constraints, Covariance
    >>> from mlearn.plotting import plot_pair_distances
    >>> X, labels = load_iris(return_X_y=True)
    >>> idx, y = Constraints(labels).pairs(100, random_state=0)
    >>> axes = plot_pair_distances(X[idx], y, Covariance().fit(X))
    """
    pairs = np.asarray(pairs, dtype=np.float64)
    y = np.asarray(y)
    panels = _axes(axes, 2)
    euclidean = np.linalg.norm(pairs[:, 0] - pairs[:, 1], axis=1)
    learned = learner.pair_distance(pairs)
    for ax, d, title in ((panels[0], euclidean, "Euclidean"), (panels[1], learned, "learned")):
        edges = np.histogram_bin_edges(d, bins=bins)
        ax.hist(d[y == 1], bins=edges, alpha=0.6, label="similar (+1)")
        ax.hist(d[y == -1], bins=edges, alpha=0.6, label="dissimilar (-1)")
        ax.set_title(f"pair distances, {title}")
        ax.set_xlabel("distance")
    panels[0].set_ylabel("pairs")
    panels[1].legend(loc="best", fontsize="small")
    return panels


def plot_roc(
    learner: Any,
    pairs: ArrayLike,
    y: ArrayLike,
    *,
    ax: "Axes | None" = None,
    label: str | None = None,
) -> "Axes":
    """ROC curve of a pairs learner (or any learner with ``pair_score``) on labelled pairs.

    Parameters
    ----------
    learner : fitted learner with ``decision_function`` or ``pair_score``
    pairs : array-like of shape (n_pairs, 2, n_features) or (n_pairs, 2)
    y : array-like of shape (n_pairs,)
    ax : matplotlib Axes, default=None
    label : str, default=None
        Legend label; the learner's class name by default. The AUC is appended.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_iris
    >>> from mlearn import Constraints, Covariance
    >>> from mlearn.plotting import plot_roc
    >>> X, labels = load_iris(return_X_y=True)
    >>> idx, y = Constraints(labels).pairs(100, random_state=0)
    >>> ax = plot_roc(Covariance().fit(X), X[idx], y)
    """
    score = getattr(learner, "decision_function", None) or learner.pair_score
    scores = score(pairs)
    fpr, tpr, _ = roc_curve(np.asarray(y), scores)
    ax = _axes(ax)[0]
    name = label or type(learner).__name__
    ax.plot(fpr, tpr, label=f"{name} (AUC {pair_roc_auc(y, scores):.3f})")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("pair verification ROC")
    ax.legend(loc="lower right", fontsize="small")
    return ax


#: Attributes that may hold a learner's history, and the iteration of their
#: first entry: mlearn's histories start with the objective at the start
#: (iteration 0); scikit-learn's ``loss_curve_`` holds the loss after each epoch.
_HISTORY_ATTRIBUTES = {
    "objective_history_": 0,
    "history_": 0,
    "loss_history_": 0,
    "loss_curve_": 1,
}


def plot_objective(
    history: Any,
    *,
    ax: "Axes | None" = None,
    logy: bool = False,
) -> "Axes":
    """Objective value per iteration, iteration 0 being the start.

    Parameters
    ----------
    history : sequence of float, or a fitted learner
        The objective at the start (drawn at iteration 0), then after each
        iteration, as a learner's ``objective_history_`` holds it. A learner
        is searched for one of the attributes ``objective_history_``,
        ``history_``, ``loss_history_``, ``loss_curve_`` (scikit-learn's,
        without the start: its first entry is drawn at iteration 1).
    ax : matplotlib Axes, default=None
    logy : bool, default=False
        Logarithmic value axis.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from mlearn.plotting import plot_objective
    >>> ax = plot_objective([10.0, 4.0, 2.5, 2.1, 2.0])
    >>> ax.lines[0].get_xdata()  # the start, then 4 iterations
    array([0, 1, 2, 3, 4])
    """
    first = 0
    if not isinstance(history, (list, tuple, np.ndarray)):
        for attribute, first in _HISTORY_ATTRIBUTES.items():
            if hasattr(history, attribute):
                history = getattr(history, attribute)
                break
        else:
            raise TypeError(
                f"{type(history).__name__} keeps no objective history (looked for "
                f"{', '.join(_HISTORY_ATTRIBUTES)}); pass the values instead"
            )
    values = np.asarray(history, dtype=np.float64)
    if values.ndim != 1 or len(values) == 0:
        raise ValueError(f"history must be a non-empty 1-D sequence, got shape {values.shape}")
    ax = _axes(ax)[0]
    ax.plot(
        np.arange(first, first + len(values)), values, marker="." if len(values) < 50 else None
    )
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("objective")
    ax.set_title("objective per iteration")
    return ax
