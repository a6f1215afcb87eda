"""Each plot renders headless to a non-empty image."""

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402

from mlearn import NCA, Constraints, Covariance  # noqa: E402
from mlearn.plotting import (  # noqa: E402
    plot_embedding,
    plot_mahalanobis_matrix,
    plot_objective,
    plot_pair_distances,
    plot_roc,
)

from .test_base import ShrunkPairs  # noqa: E402


@pytest.fixture(scope="module")
def data():
    X, labels = load_iris(return_X_y=True)
    idx, y = Constraints(labels).pairs(80, random_state=0)
    return X, labels, X[idx], y


def _render(fig, path):
    fig.savefig(path, dpi=60)
    plt.close(fig)
    image = mpimg.imread(path)
    assert image.ndim == 3 and image.shape[0] > 50 and image.shape[1] > 50
    # something was drawn: the picture is not one flat colour
    assert np.ptp(image[..., :3]) > 0.2


def test_matrix_heatmap(data, tmp_path):
    X = data[0]
    ax = plot_mahalanobis_matrix(Covariance().fit(X), feature_names=["a", "b", "c", "d"])
    assert ax.get_title() == "Mahalanobis matrix M"
    assert len(ax.images) == 1
    np.testing.assert_allclose(
        ax.images[0].get_array(), Covariance().fit(X).get_mahalanobis_matrix()
    )
    _render(ax.figure, tmp_path / "m.png")


def test_embedding(data, tmp_path):
    X, labels = data[0], data[1]
    axes = plot_embedding(X, labels, Covariance().fit(X))
    assert len(axes) == 2 and len(axes[1].collections) == 3  # one scatter per class
    _render(axes[0].figure, tmp_path / "e.png")


def test_pair_distances(data, tmp_path):
    X, _, pairs, y = data
    axes = plot_pair_distances(pairs, y, Covariance().fit(X))
    heights = sum(p.get_height() for p in axes[0].patches)
    assert heights == len(y)  # every pair lands in one bin
    _render(axes[0].figure, tmp_path / "h.png")


def test_roc(data, tmp_path):
    _, _, pairs, y = data
    learner = ShrunkPairs().fit(pairs, y)
    ax = plot_roc(learner, pairs, y)
    assert "AUC" in ax.get_legend().get_texts()[0].get_text()
    _render(ax.figure, tmp_path / "r.png")


def test_objective(tmp_path):
    ax = plot_objective([5.0, 3.0, 2.0, 1.5], logy=True)
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), [5.0, 3.0, 2.0, 1.5])
    # the first value is the start: iteration 0
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), [0, 1, 2, 3])
    _render(ax.figure, tmp_path / "o.png")
    with pytest.raises(TypeError, match="keeps no objective history"):
        plot_objective(Covariance())
    with pytest.raises(ValueError, match="non-empty 1-D"):
        plot_objective([])
    with pytest.raises(ValueError, match="needs 2 Axes, got 1"):
        plot_embedding(np.ones((3, 2)), [0, 1, 0], Covariance(), axes=plt.subplots()[1])


def test_objective_axis_counts_a_learners_iterations(data):
    X, labels = data[0], data[1]
    learner = NCA(max_iter=6, random_state=0).fit(X, labels)
    ax = plot_objective(learner)
    x, values = ax.lines[0].get_xdata(), ax.lines[0].get_ydata()
    # the start at 0, then one point per iteration, the last at n_iter_
    assert x[0] == 0 and x[-1] == learner.n_iter_
    np.testing.assert_array_equal(x, np.arange(learner.n_iter_ + 1))
    np.testing.assert_array_equal(values, learner.objective_history_)
    plt.close(ax.figure)

    class Curve:  # scikit-learn's loss_curve_: one loss after each epoch, no start
        loss_curve_ = [0.9, 0.5, 0.4]

    ax = plot_objective(Curve())
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), [1, 2, 3])
    plt.close(ax.figure)
