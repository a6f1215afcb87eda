"""DeepMetricLearner: one optimiser step against NumPy, parameters, model
selection, and retrieval quality on classes unseen in training."""

import itertools

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV

torch = pytest.importorskip("torch")

from mlearn.datasets import load_image_patches  # noqa: E402
from mlearn.deep import SmallConvNet  # noqa: E402
from mlearn.deep.metric import DeepMetricLearner  # noqa: E402
from mlearn.features import DeepEmbedding  # noqa: E402
from mlearn.metrics import make_retrieval_scorer, mean_average_precision_at_r  # noqa: E402
from mlearn.objectives import MetricObjective  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X / 16).astype(np.float32), y


def _linear(L):
    linear = torch.nn.Linear(L.shape[1], L.shape[0], bias=False).double()
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(L))
    return linear


@pytest.mark.parametrize("loss", ["contrastive", "triplet"])
def test_one_sgd_step_follows_the_numpy_gradient(loss):
    # one full batch and one SGD step: the weight moves by -lr times the
    # NumPy objective's gradient (SGD's momentum buffer starts at the gradient)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 5))
    y = np.array(["a", "b", "c"] * 4)
    codes = np.searchsorted(["a", "b", "c"], y)
    L = rng.normal(size=(3, 5)) / 2
    lr = 0.01
    learner = DeepMetricLearner(
        _linear(L),
        loss=loss,
        margin=0.4,
        mining="all" if loss == "triplet" else "batch_hard",
        normalize=False,
        dtype="float64",
        optimizer="sgd",
        learning_rate=lr,
        batch_size=len(X),
        max_iter=1,
        random_state=0,
    ).fit(X, y)
    if loss == "contrastive":
        i, j = np.triu_indices(len(X), 1)
        objective = MetricObjective.from_tuples(
            pairs=np.stack([X[i], X[j]], axis=1),
            y=np.where(codes[i] == codes[j], 1, -1),
            margin=0.4,
            regularizer=None,
        )
    else:
        triplets = np.array(
            [
                (a, p, n)
                for a, p, n in itertools.product(range(len(X)), repeat=3)
                if a != p and codes[a] == codes[p] and codes[n] != codes[a]
            ]
        )
        objective = MetricObjective.from_tuples(relative=X[triplets], margin=0.4, regularizer=None)
    value, grad = objective.value_and_grad_L(L)
    assert value > 0
    assert_allclose(learner.objective_history_[0], value, rtol=1e-10)
    assert_allclose(learner.model_.weight.detach().numpy(), L - lr * grad, rtol=1e-10)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"loss": "normface", "margin": 0.1}, "takes no margin"),
        ({"loss": "softmax", "margin": 0.1}, "takes no margin"),
        ({"loss": "triplet", "scale": 8.0}, "scale applies to"),
        ({"loss": "softmax", "scale": 8.0}, "scale applies to"),
        ({"loss": "contrastive", "mining": "all"}, "mining applies to loss='triplet'"),
        ({"loss": "arcface", "margin": 3.5}, "below pi"),
    ],
)
def test_loss_parameter_combinations_are_checked(digits, params, match):
    X, y = digits
    with pytest.raises(ValueError, match=match):
        DeepMetricLearner(torch.nn.Linear(64, 4), **params).fit(X[:20], y[:20])


def test_unknown_loss_and_mining(digits):
    X, y = digits
    with pytest.raises(ValueError, match="loss"):
        DeepMetricLearner(torch.nn.Linear(64, 4), loss="hinge").fit(X[:20], y[:20])
    with pytest.raises(ValueError, match="mining"):
        DeepMetricLearner(torch.nn.Linear(64, 4), mining="hard").fit(X[:20], y[:20])


@pytest.mark.parametrize("loss", ["margin_ranking", "softmax", "normface", "cosface"])
def test_every_loss_trains(digits, loss):
    X, y = digits
    learner = DeepMetricLearner(
        torch.nn.Linear(64, 8), loss=loss, max_iter=2, learning_rate=1e-2, random_state=0
    ).fit(X[:200], y[:200])
    history = learner.objective_history_
    assert np.all(np.isfinite(history)) and history[-1] < history[0]
    assert ("prototypes" in learner.heads_) == (loss != "margin_ranking")


def _tiny_net():
    return torch.nn.Sequential(torch.nn.Linear(64, 16), torch.nn.ReLU(), torch.nn.Linear(16, 8))


def test_clone_and_grid_search_with_a_retrieval_scorer(digits):
    X, y = digits
    learner = DeepMetricLearner(_tiny_net, max_iter=1, random_state=0)
    assert clone(learner).get_params()["model"] is _tiny_net
    search = GridSearchCV(
        learner,
        {"loss": ["triplet", "contrastive"], "margin": [0.1, 0.5]},
        scoring=make_retrieval_scorer("map_at_r"),
        cv=2,
    ).fit(X[:200], y[:200])
    assert len(search.cv_results_["params"]) == 4
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.best_estimator_.transform(X[:5]).shape == (5, 8)


def _conv_net():
    # global average pooling: features that do not depend on where a stroke is
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 64, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
    )


def _map_at_r(embedder, X, y):
    return mean_average_precision_at_r(embedder.transform(X), y)


TRIPLET = {"loss": "triplet", "mining": "semi_hard"}
# ArcFace's defaults (scale 16, margin 0.5) move this small network too slowly in
# three epochs on digits; a softer scale and margin do
ARCFACE = {"loss": "arcface", "scale": 8.0, "margin": 0.2}


def _split_digits(X, y):
    images = X.reshape(-1, 1, 8, 8)
    seen, unseen = np.flatnonzero(y < 5), np.flatnonzero(y >= 5)
    return images, seen, unseen


def test_triplet_training_helps_retrieval_of_unseen_classes(digits):
    # train on 300 images of digits 0-4, retrieve among digits 5-9
    X, y = digits
    images, seen, unseen = _split_digits(X, y)
    train = seen[:300]
    net = _conv_net()
    frozen = DeepEmbedding(net, normalize=True).fit(images[train])
    before = _map_at_r(frozen, images[unseen], y[unseen])
    learner = DeepMetricLearner(net, max_iter=3, random_state=0, **TRIPLET)
    after = _map_at_r(learner.fit(images[train], y[train]), images[unseen], y[unseen])
    assert after > before + 0.04, (before, after)


@pytest.fixture(scope="module")
def image_patches():
    pytest.importorskip("skimage")
    # 18 images, 30 patches of 32 x 32 each; a patch's class is its image
    images, labels = load_image_patches(32, 30, random_state=0, return_X_y=True)
    return (images / 255).astype(np.float32)[:, None], labels


@pytest.mark.parametrize("loss", ["arcface", "triplet"])
def test_default_training_helps_retrieval_of_unseen_images(image_patches, loss):
    # open set: train on the patches of 9 images, retrieve among the patches of
    # the 9 others; every parameter of the loss at its default (10 epochs)
    X, y = image_patches
    before, after = [], []
    for seed in (0, 1, 2):
        train_images = np.random.RandomState(seed).permutation(18)[:9]
        seen = np.isin(y, train_images)
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            net = SmallConvNet(embedding_dim=32)
        frozen = DeepEmbedding(net, normalize=True).fit(X[seen])
        before.append(_map_at_r(frozen, X[~seen], y[~seen]))
        learner = DeepMetricLearner(net, loss=loss, random_state=0).fit(X[seen], y[seen])
        after.append(_map_at_r(learner, X[~seen], y[~seen]))
    # measured: the triplet loss gains 0.09 on average here, above the frozen
    # network on every split
    assert np.mean(after) > np.mean(before) + 0.02, (before, after)


@pytest.mark.slow
@pytest.mark.parametrize("params", [TRIPLET, ARCFACE], ids=["triplet", "arcface"])
def test_training_helps_retrieval_of_unseen_classes(digits, params):
    # all ~900 images of digits 0-4 for training, retrieval among digits 5-9
    X, y = digits
    images, seen, unseen = _split_digits(X, y)
    net = _conv_net()
    frozen = DeepEmbedding(net, normalize=True).fit(images[seen])
    before = _map_at_r(frozen, images[unseen], y[unseen])
    learner = DeepMetricLearner(net, max_iter=3, random_state=0, **params)
    after = _map_at_r(learner.fit(images[seen], y[seen]), images[unseen], y[unseen])
    assert after > before + 0.02, (before, after)
