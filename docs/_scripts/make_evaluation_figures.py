"""Pictures for the evaluation page, drawn with mlearn.plotting on iris."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import mlearn  # noqa: E402
from mlearn import plotting  # noqa: E402


def _learner():
    # the best learner available for the pictures: LMNN when present
    cls = getattr(mlearn, "LMNN", None) or mlearn.Covariance
    return cls


def main(outdir):
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    learner = _learner()().fit(X, y)
    idx, y_pairs = mlearn.Constraints(y).pairs(150, random_state=0)
    figures = {
        "evaluation_matrix.png": lambda: plotting.plot_mahalanobis_matrix(
            learner, feature_names=["sepal l", "sepal w", "petal l", "petal w"]
        ),
        "evaluation_embedding.png": lambda: plotting.plot_embedding(X, y, learner),
        "evaluation_pair_distances.png": lambda: plotting.plot_pair_distances(
            X[idx], y_pairs, learner
        ),
        "evaluation_roc.png": lambda: plotting.plot_roc(learner, X[idx], y_pairs),
    }
    for name, draw in figures.items():
        result = draw()
        ax = result[0] if hasattr(result, "__len__") else result
        ax.figure.tight_layout()
        ax.figure.savefig(outdir / name, dpi=80)
        plt.close(ax.figure)


if __name__ == "__main__":
    main(Path(__file__).resolve().parents[1] / "user_guide" / "images")
