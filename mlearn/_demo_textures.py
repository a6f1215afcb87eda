"""Texture recognition end to end: hand-crafted features, a learned metric, 3-NN.

:func:`texture_benchmark` cross-validates, on the scikit-image textures
(:func:`mlearn.datasets.load_textures`),

* ``FeatureUnion(ColorHistogram, LocalBinaryPattern)`` -> 3-NN with the
  Euclidean distance,
* the same features -> 3-NN with the chi-squared histogram distance,
* the same features, standardised -> a learned Mahalanobis metric (LMNN,
  rank 16 by default) -> 3-NN,

and returns one row per method: the texture table of ``python -m mlearn demo``, printed when
scikit-image is installed.
"""

import time

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import FeatureUnion, make_pipeline
from sklearn.preprocessing import StandardScaler

from .features.color import ColorHistogram
from .features.lbp import LocalBinaryPattern

__all__ = ["texture_benchmark", "texture_features"]


def texture_features():
    """The feature extractor of the example: grey-level and multi-scale LBP histograms.

    Returns
    -------
    union : sklearn.pipeline.FeatureUnion
        ``ColorHistogram(bins=16, color_space='gray')`` beside
        ``LocalBinaryPattern(method='uniform')`` at the scales (8, 1),
        (16, 2) and (24, 3): 16 + 10 + 18 + 26 = 70 features.
    """
    return FeatureUnion(
        [
            ("color", ColorHistogram(bins=16, color_space="gray")),
            (
                "lbp",
                LocalBinaryPattern(method="uniform", scales=[(8, 1.0), (16, 2.0), (24, 3.0)]),
            ),
        ]
    )


class _Chi2KNN:
    """3-NN under the chi-squared distance, computed by :mod:`mlearn.pairwise`."""

    def __init__(self, features, n_neighbors=3):
        self.features = features
        self.n_neighbors = n_neighbors

    def fit(self, X, y):
        from mlearn.pairwise import pairwise_distances

        self.features_ = clone(self.features).fit(X, y)
        self.train_ = self.features_.transform(X)
        self.knn_ = KNeighborsClassifier(self.n_neighbors, metric="precomputed")
        self.knn_.fit(pairwise_distances(self.train_, metric="chi2"), y)
        return self

    def score(self, X, y):
        from mlearn.pairwise import pairwise_distances

        distances = pairwise_distances(self.features_.transform(X), self.train_, metric="chi2")
        return float(np.mean(self.knn_.predict(distances) == y))


def texture_benchmark(
    n_splits=5,
    random_state=0,
    *,
    patch_size=16,
    n_patches_per_image=100,
    n_components=16,
):
    """Cross-validated 3-NN accuracy of texture features under three metrics.

    Parameters
    ----------
    n_splits : int, default=5
        Folds of the stratified cross-validation.
    random_state : int, default=0
        Seeds the patches drawn, the folds and the metric learner.
    patch_size : int, default=16
        Side of the texture patches (small patches make the task harder).
    n_patches_per_image : int, default=100
        Patches per texture (three textures).
    n_components : int or None, default=16
        Rank of the metric LMNN learns (its ``n_components``); a low rank
        keeps the fit short. None learns a full-rank metric on all 70
        features.

    Returns
    -------
    rows : list of dict
        One per method, with ``name``, ``accuracy`` (mean over folds),
        ``accuracy_std`` and ``fit_time`` (mean seconds to fit one fold,
        feature extraction included).

    Raises
    ------
    ImportError
        If scikit-image, which ships the textures, is not installed.

    Examples
    --------
    >>> from mlearn._demo_textures import texture_benchmark
    >>> rows = texture_benchmark(n_splits=3, n_patches_per_image=20)  # doctest: +SKIP
    >>> [row["name"] for row in rows]  # doctest: +SKIP
    ['features + Euclidean 3-NN', 'features + chi2 3-NN', 'features + LMNN + 3-NN']
    """
    from mlearn.datasets import load_textures

    images, target = load_textures(
        patch_size=patch_size,
        n_patches_per_image=n_patches_per_image,
        random_state=random_state,
        return_X_y=True,
    )
    from mlearn import LMNN

    methods = [
        (
            "features + Euclidean 3-NN",
            make_pipeline(texture_features(), KNeighborsClassifier(3)),
        ),
        ("features + chi2 3-NN", _Chi2KNN(texture_features(), 3)),
        (
            "features + LMNN + 3-NN",
            make_pipeline(
                texture_features(),
                StandardScaler(),
                LMNN(n_neighbors=3, n_components=n_components, random_state=random_state),
                KNeighborsClassifier(3),
            ),
        ),
    ]
    # Compile the feature and distance kernels before anything is timed.
    from mlearn.pairwise import pairwise_distances

    pairwise_distances(texture_features().fit_transform(images[:2]), metric="chi2")
    folds = list(
        StratifiedKFold(n_splits, shuffle=True, random_state=random_state).split(images, target)
    )
    rows = []
    for name, model in methods:
        scores, times = [], []
        for train, test in folds:
            fold_model = model if isinstance(model, _Chi2KNN) else clone(model)
            start = time.perf_counter()
            fold_model.fit(images[train], target[train])
            times.append(time.perf_counter() - start)
            scores.append(fold_model.score(images[test], target[test]))
        rows.append(
            {
                "name": name,
                "accuracy": float(np.mean(scores)),
                "accuracy_std": float(np.std(scores)),
                "fit_time": float(np.mean(times)),
            }
        )
    return rows


def format_rows(rows):
    """The rows of :func:`texture_benchmark` as a small text table."""
    width = max(len(row["name"]) for row in rows)
    lines = [f"{'method':<{width}}  accuracy        fit time"]
    for row in rows:
        lines.append(
            f"{row['name']:<{width}}  {row['accuracy']:.3f} "
            f"+- {row['accuracy_std']:.3f}"
            f"  {row['fit_time'] * 1e3:7.1f} ms"
        )
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    print(format_rows(texture_benchmark()))
