"""Tests for SimCLR, MoCo, BYOL and RotationPrediction on small digit images."""

import copy
import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.datasets import load_digits
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier

torch = pytest.importorskip("torch")

from mlearn.deep._models import SmallConvNet  # noqa: E402
from mlearn.deep.augment import GaussianNoise, PerSample, RandomFlip  # noqa: E402
from mlearn.deep.self_supervised import (  # noqa: E402
    BYOL,
    MoCo,
    RotationPrediction,
    SimCLR,
    _KeyQueue,
)
from mlearn.features import DeepEmbedding  # noqa: E402

METHODS = {
    "SimCLR": (SimCLR, {}),
    "MoCo": (MoCo, {"queue_size": 32}),
    "BYOL": (BYOL, {"hidden_dim": 64}),
    "RotationPrediction": (RotationPrediction, {}),
}


@pytest.fixture(scope="module")
def digits():
    data = load_digits()
    X = (data.images / 16).reshape(-1, 1, 8, 8).astype(np.float32)
    return X, data.target


def _net(seed=0, **kwargs):
    torch.manual_seed(seed)
    return SmallConvNet(embedding_dim=16, width=8, **kwargs)


def _make(name, **kwargs):
    cls, defaults = METHODS[name]
    params = {"batch_size": 64, "max_iter": 3, "random_state": 0, "device": "cpu"}
    model = kwargs.pop("model", None)
    return cls(_net() if model is None else model, **{**params, **defaults, **kwargs})


def _weights(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


@pytest.mark.parametrize("name", list(METHODS))
def test_loss_decreases_and_transform_uses_the_backbone(name, digits):
    X = digits[0][:200]
    net = _net()
    before = _weights(net)
    rng_state = torch.random.get_rng_state()
    est = _make(name, model=net, learning_rate=0.005).fit(X)
    history = est.objective_history_
    assert len(history) == est.n_iter_ == 3
    if name == "MoCo":
        # the queue starts as random unit vectors, easier negatives than the
        # keys that replace them during the first epoch
        assert history[2] < history[1]
    else:
        assert history[2] < history[1] < history[0]
    # the user's module and global random state are left alone
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())
    assert torch.equal(torch.random.get_rng_state(), rng_state)
    Z = est.transform(X[:50])
    assert Z.shape == (50, 16) and Z.dtype == np.float32
    assert_allclose(est.transform(X[:50]), Z)
    # oracle: the trained backbone alone, in eval mode; the heads are unused
    with torch.no_grad():
        expected = est.model_.eval()(torch.from_numpy(X[:50])).numpy()
    assert_allclose(Z, expected, rtol=1e-5, atol=1e-6)
    trained = est.model_.state_dict()
    assert any(not torch.equal(v, trained[k]) for k, v in before.items())


@pytest.mark.parametrize("name", list(METHODS))
def test_random_state_gives_identical_weights(name, digits):
    X = digits[0][:96]
    a = _make(name, max_iter=1).fit(X)
    b = _make(name, max_iter=1).fit(X)
    c = _make(name, max_iter=1, random_state=1).fit(X)
    for key, value in a.model_.state_dict().items():
        assert torch.equal(value, b.model_.state_dict()[key])
    assert a.objective_history_ == b.objective_history_
    assert not np.allclose(a.transform(X), c.transform(X))


@pytest.mark.parametrize("name", list(METHODS))
def test_pickle_round_trip_continues_identically(name, digits):
    X = digits[0][:96]
    est = _make(name, max_iter=1).fit(X)
    restored = pickle.loads(pickle.dumps(est))
    assert_allclose(restored.transform(X), est.transform(X))
    for attr in ("heads_", "targets_"):
        for key, value in getattr(est, attr).state_dict().items():
            assert torch.equal(value, getattr(restored, attr).state_dict()[key]), (attr, key)
    est.partial_fit(X)
    restored.partial_fit(X)
    assert_allclose(restored.transform(X), est.transform(X), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name, online, target", [("MoCo", "key", "key"), ("BYOL", "t", "t")])
def test_momentum_update_follows_the_formula(name, online, target, digits):
    # one step (one batch, one epoch): the momentum copy starts as the
    # initial weights, then theta_t = m * theta_init + (1 - m) * theta_online
    X = digits[0][:32]
    net = _net()
    init = {k: v.detach().clone() for k, v in net.named_parameters()}
    m = 0.75
    est = _make(name, model=net, momentum=m, batch_size=32, max_iter=1).fit(X)
    prefix = "key" if name == "MoCo" else "target"
    copy_model = est.targets_[f"{prefix}_model"]
    online = dict(est.model_.named_parameters())
    for key, value in copy_model.named_parameters():
        expected = m * init[key] + (1 - m) * online[key].detach()
        assert_allclose(value.numpy(), expected.numpy(), rtol=1e-6, atol=1e-7)
        assert not value.requires_grad
    assert not torch.allclose(online["fc.weight"], init["fc.weight"])
    head = dict(est.heads_["projection"].named_parameters())
    head_init = est.targets_[f"{prefix}_projection"]
    # the projection copy also moved towards the online head
    assert any(not torch.equal(v, head[k].detach()) for k, v in head_init.named_parameters())


def test_key_queue_is_first_in_first_out():
    queue = _KeyQueue(5, 2, torch.Generator().manual_seed(0))
    assert_allclose(queue.keys.norm(dim=1).numpy(), 1, rtol=1e-6)
    pushed = []
    for start in (0, 3, 5, 9):
        keys = torch.arange(start, start + 3, dtype=torch.float32).view(-1, 1).repeat(1, 2)
        queue.push(keys)
        pushed.extend(range(start, start + 3))
        # the last five keys, oldest first
        assert queue.ordered()[:, 0].tolist() == pushed[-5:] or len(pushed) < 5
    assert queue.ordered()[:, 0].tolist() == [6.0, 7.0, 9.0, 10.0, 11.0]
    queue.push(torch.arange(7.0).view(-1, 1).repeat(1, 2))  # more than fits
    assert queue.ordered()[:, 0].tolist() == [2.0, 3.0, 4.0, 5.0, 6.0]


def test_moco_queue_holds_the_last_keys(digits):
    X = digits[0][:100]
    est = _make("MoCo", queue_size=48, batch_size=20, max_iter=1).fit(X)
    queue = est.targets_["queue"]
    assert int(queue.pointer) == 100 % 48
    # replay one step with a known generator; the key encoder's output on the
    # second view is the newest block of the queue
    inputs = torch.from_numpy(X[:20])
    est.model_.train()
    est.heads_.train()
    with torch.no_grad():
        est._batch_loss(inputs, None, torch.Generator().manual_seed(5))
        generator = torch.Generator().manual_seed(5)
        est._augment(inputs, generator)
        view2 = est._augment(inputs, generator)
        est.targets_.train()
        keys = est.targets_["key_projection"](est.targets_["key_model"](view2))
        est.targets_.eval()
    expected = torch.nn.functional.normalize(keys, dim=1)
    assert_allclose(queue.ordered()[-20:].numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)
    assert_allclose(queue.keys.norm(dim=1).numpy(), 1, rtol=1e-5)


@pytest.mark.parametrize("name", list(METHODS))
def test_shape_changing_augmentation_is_a_value_error(name, digits):
    crop = PerSample(lambda image: image[:, :4, :4])
    est = _make(name, augmentation=crop, max_iter=1)
    with pytest.raises(
        ValueError, match=r"changed the image shape from \(1, 8, 8\) to \(1, 4, 4\)"
    ):
        est.fit(digits[0][:40])


def test_user_augmentations_and_three_dimensional_images(digits):
    X = digits[0][:64, 0]  # (n, 8, 8)
    calls = []

    def flip(image):
        calls.append(tuple(image.shape))
        return image.flip(-1)

    est = _make("SimCLR", augmentation=[RandomFlip(), flip], max_iter=1).fit(X)
    assert est.transform(X).shape == (64, 16)
    assert calls and calls[0] == (1, 8, 8)
    assert _make("RotationPrediction", max_iter=1).fit(X).transform(X).shape == (64, 16)


def test_tabular_input_needs_an_augmentation():
    X = np.random.default_rng(0).normal(size=(60, 5)).astype(np.float32)

    def mlp():
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))

    with pytest.raises(ValueError, match="augmentation=None augments images"):
        SimCLR(mlp, max_iter=1, random_state=0).fit(X)
    est = BYOL(mlp, augmentation=GaussianNoise(0.1), hidden_dim=8, max_iter=2, random_state=0)
    assert est.fit(X).transform(X).shape == (60, 3)
    with pytest.raises(ValueError, match="square images"):
        RotationPrediction(mlp, max_iter=1).fit(X)
    with pytest.raises(ValueError, match="square images"):
        RotationPrediction(_net, max_iter=1).fit(np.zeros((10, 1, 8, 6), np.float32))


def test_bad_parameters_and_models(digits):
    X = digits[0][:20]
    with pytest.raises(ValueError, match="momentum"):
        MoCo(_net(), momentum=1.5).fit(X)
    with pytest.raises(ValueError, match="temperature"):
        SimCLR(_net(), temperature=0).fit(X)
    with pytest.raises(ValueError, match="augmentation"):
        SimCLR(_net(), augmentation="flip").fit(X)
    with pytest.raises(TypeError, match="torch.nn.Module with trainable parameters"):
        BYOL(np.tanh).fit(X)


def test_y_is_ignored(digits):
    X, y = digits[0][:64], digits[1][:64]
    a = _make("SimCLR", max_iter=1).fit(X, y)
    b = _make("SimCLR", max_iter=1).fit(X)
    assert_allclose(a.transform(X), b.transform(X))
    assert not hasattr(a, "classes_")


def _knn_accuracy(Z, y):
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    return cross_val_score(KNeighborsClassifier(3), Z, y, cv=cv).mean()


def test_pretraining_improves_nearest_neighbours(digits):
    # the same network at its random initialisation is the baseline
    X, y = digits[0][:500], digits[1][:500]
    baseline = _knn_accuracy(DeepEmbedding(_net(), device="cpu").fit_transform(X), y)
    est = _make("SimCLR", max_iter=10).fit(X)
    accuracy = _knn_accuracy(est.transform(X), y)
    assert accuracy > baseline + 0.02, (accuracy, baseline)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(METHODS))
def test_pretraining_on_textures_improves_nearest_neighbours(name):
    from mlearn.datasets import load_textures

    textures = load_textures(patch_size=32, random_state=0)
    X = (textures.images / 255.0).astype(np.float32)[:, None]
    y = textures.target

    def net():
        torch.manual_seed(0)
        return SmallConvNet(embedding_dim=32, width=16)

    baseline = _knn_accuracy(DeepEmbedding(net(), device="cpu").fit_transform(X), y)
    extra = {"queue_size": 96} if name == "MoCo" else {}
    cls = METHODS[name][0]
    est = cls(net(), max_iter=20, n_iter_no_change=20, random_state=0, device="cpu", **extra)
    accuracy = _knn_accuracy(est.fit(X).transform(X), y)
    assert accuracy > baseline + 0.05, (accuracy, baseline)


def test_clone_and_get_params():
    from sklearn.base import clone

    est = MoCo(_net(), queue_size=32, augmentation=GaussianNoise(0.2))
    cloned = clone(est)
    assert cloned.get_params()["queue_size"] == 32
    assert cloned.model is est.model
    assert copy.deepcopy(est).get_params()["momentum"] == 0.9


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", list(METHODS))
def test_cuda_training_unpickles_on_cpu(name, digits, monkeypatch):
    X = digits[0][:96]
    est = _make(name, device="cuda", max_iter=2).fit(X)
    assert next(est.model_.parameters()).is_cuda
    for module in (est.heads_, est.targets_):
        assert all(t.is_cuda for t in module.state_dict().values())
    Z = est.transform(X)
    payload = pickle.dumps(est)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    restored = pickle.loads(payload)
    assert restored.device_ == "cpu"
    assert_allclose(restored.transform(X), Z, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("queue_size", [20, 250])
def test_moco_counts_stalls_once_the_queue_holds_real_keys(digits, queue_size):
    X = digits[0][:100]
    # with a huge tol no epoch improves on the first comparable one: training
    # stops one epoch after it. 100 keys are enqueued per epoch, so the first
    # epoch that starts with queue_size real keys is ceil(queue_size / 100) + 1
    est = _make(
        "MoCo", queue_size=queue_size, batch_size=20, max_iter=10, tol=1e9, n_iter_no_change=1
    ).fit(X)
    assert est.n_iter_ == -(-queue_size // 100) + 2
    assert int(est.targets_["queue"].n_pushed) == 100 * est.n_iter_
    # other methods count from the first epoch
    assert _make("SimCLR", max_iter=10, tol=1e9, n_iter_no_change=1).fit(X).n_iter_ == 2
