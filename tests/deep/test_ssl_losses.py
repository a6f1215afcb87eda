"""Tests for the self-supervised losses: a loop over samples in numpy as the
oracle, and autograd against finite differences."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

torch = pytest.importorskip("torch")

from mlearn.deep._ssl_losses import (  # noqa: E402
    byol_loss,
    info_nce_with_queue,
    nt_xent,
    rotate_batch,
)


def _rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _unit(a):
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def _nt_xent_loop(z1, z2, t):
    z = _unit(np.vstack([z1, z2]))
    n = len(z1)
    total = 0.0
    for i in range(2 * n):
        positive = i + n if i < n else i - n
        denominator = sum(np.exp(z[i] @ z[k] / t) for k in range(2 * n) if k != i)
        total += -np.log(np.exp(z[i] @ z[positive] / t) / denominator)
    return total / (2 * n)


def _info_nce_loop(q, k, queue, t):
    q, k = _unit(q), _unit(k)
    total = 0.0
    for i in range(len(q)):
        logits = np.concatenate([[q[i] @ k[i]], [q[i] @ neg for neg in queue]]) / t
        total += -logits[0] + np.log(np.exp(logits).sum())
    return total / len(q)


@pytest.mark.parametrize("temperature", [0.1, 0.5, 2.0])
def test_nt_xent_matches_loop(temperature):
    z1, z2 = _rand(6, 5, seed=1), _rand(6, 5, seed=2)
    expected = _nt_xent_loop(z1.numpy(), z2.numpy(), temperature)
    assert_allclose(nt_xent(z1, z2, temperature).item(), expected, rtol=1e-10)


def test_nt_xent_invariant_to_scale_and_swap():
    z1, z2 = _rand(5, 4, seed=3), _rand(5, 4, seed=4)
    value = nt_xent(z1, z2).item()
    assert_allclose(nt_xent(3 * z1, 0.5 * z2).item(), value, rtol=1e-12)
    assert_allclose(nt_xent(z2, z1).item(), value, rtol=1e-12)


@pytest.mark.parametrize("temperature", [0.07, 0.2, 1.0])
def test_info_nce_matches_loop(temperature):
    q, k = _rand(4, 6, seed=5), _rand(4, 6, seed=6)
    queue = torch.nn.functional.normalize(_rand(9, 6, seed=7), dim=1)
    expected = _info_nce_loop(q.numpy(), k.numpy(), queue.numpy(), temperature)
    assert_allclose(info_nce_with_queue(q, k, queue, temperature).item(), expected, rtol=1e-10)


def test_byol_loss_matches_loop_and_distance():
    p, z = _rand(7, 3, seed=8), _rand(7, 3, seed=9)
    pn, zn = p.numpy(), z.numpy()
    expected = np.mean(
        [2 - 2 * pn[i] @ zn[i] / (np.linalg.norm(pn[i]) * np.linalg.norm(zn[i])) for i in range(7)]
    )
    assert_allclose(byol_loss(p, z).item(), expected, rtol=1e-12)
    squared = ((_unit(pn) - _unit(zn)) ** 2).sum(axis=1).mean()
    assert_allclose(byol_loss(p, z).item(), squared, rtol=1e-10)


def test_gradients_match_finite_differences():
    z1 = _rand(4, 3, seed=10).requires_grad_()
    z2 = _rand(4, 3, seed=11).requires_grad_()
    queue = _rand(5, 3, seed=12).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: nt_xent(a, b, 0.3), (z1, z2))
    assert torch.autograd.gradcheck(
        lambda a, b, c: info_nce_with_queue(a, b, c, 0.5), (z1, z2, queue)
    )
    assert torch.autograd.gradcheck(byol_loss, (z1, z2))


def test_rotate_batch_views_and_labels():
    x = _rand(3, 2, 5, 5, seed=13)
    views, labels = rotate_batch(x)
    assert views.shape == (12, 2, 5, 5)
    assert labels.tolist() == [0] * 3 + [1] * 3 + [2] * 3 + [3] * 3
    xn = x.numpy()
    for k in range(4):
        expected = np.rot90(xn, k, axes=(2, 3))
        assert_allclose(views[3 * k : 3 * k + 3].numpy(), expected)
    # one quarter turn is counter-clockwise: the top row becomes the left column reversed
    assert_allclose(views[3, 0, :, 0].numpy(), xn[0, 0, 0, ::-1])


def test_bad_inputs():
    with pytest.raises(ValueError, match="same shape"):
        nt_xent(_rand(3, 2), _rand(4, 2))
    with pytest.raises(ValueError, match="temperature"):
        nt_xent(_rand(3, 2), _rand(3, 2), temperature=0)
    with pytest.raises(ValueError, match="queue must have shape"):
        info_nce_with_queue(_rand(3, 2), _rand(3, 2), _rand(5, 3))
    with pytest.raises(ValueError, match="square images"):
        rotate_batch(_rand(2, 1, 4, 5))
