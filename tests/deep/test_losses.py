"""The torch losses of DeepMetricLearner against mlearn's NumPy objectives.

A linear network ``nn.Linear(d, k, bias=False)`` with weight ``L`` embeds
``X`` as ``X @ L.T``, which is exactly what the NumPy objectives of a linear
metric see: the loss value and its autograd gradient in ``L`` (and in the
prototypes) must match their values and analytic gradients.
"""

import itertools

import numpy as np
import pytest
from numpy.testing import assert_allclose

torch = pytest.importorskip("torch")

from mlearn.deep import _losses  # noqa: E402
from mlearn.learners._angular_losses import margin_objective  # noqa: E402
from mlearn.objectives import MetricObjective  # noqa: E402

RTOL = 1e-6


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(14, 5))
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 0])
    L = rng.normal(size=(4, 5)) / 2
    return X, labels, L


def _torch_loss(X, labels, L, loss, W=None, **kwargs):
    linear = torch.nn.Linear(X.shape[1], L.shape[0], bias=False).double()
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(L))
    embeddings = linear(torch.from_numpy(X))
    prototypes = None if W is None else torch.tensor(W, requires_grad=True)
    value = _losses.metric_loss(
        embeddings, torch.from_numpy(labels), loss, prototypes=prototypes, **kwargs
    )
    value.backward()
    grad_W = None if prototypes is None else prototypes.grad.numpy()
    return float(value.detach()), linear.weight.grad.numpy(), grad_W


def _median_sq_distance(X, L):
    Z = X @ L.T
    return float(np.median(((Z[:, None] - Z[None]) ** 2).sum(-1)))


def test_contrastive_matches_pair_loss(batch):
    X, labels, L = batch
    margin = _median_sq_distance(X, L)
    i, j = np.triu_indices(len(X), 1)
    y = np.where(labels[i] == labels[j], 1, -1)
    objective = MetricObjective.from_tuples(
        pairs=np.stack([X[i], X[j]], axis=1),
        y=y,
        pair_loss="contrastive",
        margin=margin,
        regularizer=None,
    )
    expected, grad = objective.value_and_grad_L(L)
    value, grad_L, _ = _torch_loss(X, labels, L, "contrastive", margin=margin)
    assert 0 < expected
    assert_allclose(value, expected, rtol=RTOL)
    assert_allclose(grad_L, grad, rtol=RTOL, atol=1e-12)


def _all_triplets(labels):
    return np.array(
        [
            (a, p, n)
            for a, p, n in itertools.product(range(len(labels)), repeat=3)
            if a != p and labels[a] == labels[p] and labels[n] != labels[a]
        ]
    )


def test_triplet_all_matches_relative_loss(batch):
    X, labels, L = batch
    margin = _median_sq_distance(X, L) / 2
    triplets = _all_triplets(labels)
    objective = MetricObjective.from_tuples(
        relative=X[triplets], relative_loss="hinge", margin=margin, regularizer=None
    )
    expected, grad = objective.value_and_grad_L(L)
    value, grad_L, _ = _torch_loss(X, labels, L, "triplet", margin=margin, mining="all")
    assert 0 < expected
    assert_allclose(value, expected, rtol=RTOL)
    assert_allclose(grad_L, grad, rtol=RTOL, atol=1e-12)


def test_margin_ranking_matches_quadruplet_hinge(batch):
    X, labels, L = batch
    margin = _median_sq_distance(X, L) / 2
    pairs = list(itertools.combinations(range(len(X)), 2))
    positive = [p for p in pairs if labels[p[0]] == labels[p[1]]]
    negative = [p for p in pairs if labels[p[0]] != labels[p[1]]]
    quads = np.array([(*p, *q) for p in positive for q in negative])
    objective = MetricObjective.from_tuples(
        relative=X[quads], relative_loss="hinge", margin=margin, regularizer=None
    )
    expected, grad = objective.value_and_grad_L(L)
    value, grad_L, _ = _torch_loss(X, labels, L, "margin_ranking", margin=margin)
    assert 0 < expected
    assert_allclose(value, expected, rtol=RTOL)
    assert_allclose(grad_L, grad, rtol=RTOL, atol=1e-12)


@pytest.mark.parametrize(
    ("loss", "scale", "margin"),
    [
        ("softmax", 1.0, 0.0),
        ("normface", 16.0, 0.0),
        ("cosface", 16.0, 0.35),
        ("arcface", 16.0, 0.5),
        # past theta = pi - m for most samples: the linear continuation
        ("arcface", 4.0, 2.5),
    ],
)
def test_prototype_losses_match_margin_objective(batch, loss, scale, margin):
    X, labels, L = batch
    W = np.random.default_rng(1).normal(size=(3, L.shape[0]))
    expected, grad_L_np, grad_W_np = margin_objective(
        L, W, X, labels, loss=loss, scale=scale, margin=margin
    )
    value, grad_L, grad_W = _torch_loss(X, labels, L, loss, W=W, scale=scale, margin=margin)
    assert_allclose(value, expected, rtol=RTOL)
    assert_allclose(grad_L, grad_L_np, rtol=RTOL, atol=1e-12)
    assert_allclose(grad_W, grad_W_np, rtol=RTOL, atol=1e-12)
    if margin == 2.5:
        cos = (X @ L.T / np.linalg.norm(X @ L.T, axis=1)[:, None]) @ (
            W / np.linalg.norm(W, axis=1)[:, None]
        ).T
        assert np.any(cos[np.arange(len(X)), labels] < -np.cos(margin))


def _distances(X):
    return ((X[:, None] - X[None]) ** 2).sum(-1)


def test_batch_hard_mining_matches_brute_force(batch):
    X, labels, _ = batch
    D = _distances(X)
    expected = []
    for a in range(len(X)):
        pos = [p for p in range(len(X)) if p != a and labels[p] == labels[a]]
        neg = [n for n in range(len(X)) if labels[n] != labels[a]]
        if pos and neg:
            expected.append((a, max(pos, key=lambda p: D[a, p]), min(neg, key=lambda n: D[a, n])))
    got = _losses.mine_triplets(torch.from_numpy(D), torch.from_numpy(labels), "batch_hard", 1.0)
    assert sorted(zip(*(t.tolist() for t in got))) == sorted(expected)


@pytest.mark.parametrize("margin", [0.5, 3.0])
def test_semi_hard_mining_matches_brute_force(batch, margin):
    X, labels, _ = batch
    D = _distances(X)
    expected = []
    n_fallbacks = 0
    for a, p in itertools.permutations(range(len(X)), 2):
        if labels[a] != labels[p]:
            continue
        neg = [n for n in range(len(X)) if labels[n] != labels[a]]
        band = [n for n in neg if D[a, p] < D[a, n] < D[a, p] + margin]
        n_fallbacks += not band
        chosen = min(band or neg, key=lambda n: D[a, n])
        expected.append((a, p, chosen))
    got = _losses.mine_triplets(torch.from_numpy(D), torch.from_numpy(labels), "semi_hard", margin)
    assert sorted(zip(*(t.tolist() for t in got))) == sorted(expected)
    assert 0 < n_fallbacks < len(expected)  # both branches are exercised


def test_batch_hard_loss_uses_the_mined_triplets(batch):
    X, labels, L = batch
    Z = X @ L.T
    D = _distances(Z)
    a, p, n = (
        t.numpy()
        for t in _losses.mine_triplets(
            torch.from_numpy(D), torch.from_numpy(labels), "batch_hard", 0.3
        )
    )
    objective = MetricObjective.from_tuples(
        relative=np.stack([X[a], X[p], X[n]], axis=1), margin=0.3, regularizer=None
    )
    expected, grad = objective.value_and_grad_L(L)
    value, grad_L, _ = _torch_loss(X, labels, L, "triplet", margin=0.3, mining="batch_hard")
    assert_allclose(value, expected, rtol=RTOL)
    assert_allclose(grad_L, grad, rtol=RTOL, atol=1e-12)


def test_no_tuple_gives_a_zero_loss_with_a_gradient():
    embeddings = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    labels = torch.zeros(4, dtype=torch.long)  # one class: no negative
    for loss in ("triplet", "margin_ranking"):
        value = _losses.metric_loss(embeddings, labels, loss, margin=0.2)
        value.backward()
        assert float(value.detach()) == 0.0
        assert torch.all(embeddings.grad == 0)


def test_squared_distances_of_near_duplicates():
    x = torch.tensor([[1e8, 1.0], [1e8, 1.0 + 1e-4]], dtype=torch.float64)
    assert_allclose(_losses.squared_distances(x)[0, 1].item(), 1e-8, rtol=1e-6)
