"""Tests for SmallConvNet and projection_head."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

torch = pytest.importorskip("torch")

from mlearn.deep._models import SmallConvNet, projection_head  # noqa: E402


@pytest.mark.parametrize("size", [8, 16, 31, 64])
@pytest.mark.parametrize("norm", ["batch", "group", None])
def test_output_shape_for_sizes(size, norm):
    torch.manual_seed(0)
    net = SmallConvNet(in_channels=3, embedding_dim=10, width=4, norm=norm).eval()
    out = net(torch.rand(2, 3, size, size))
    assert out.shape == (2, 10)
    assert torch.isfinite(out).all()


def test_three_dimensional_input_adds_channel():
    torch.manual_seed(0)
    net = SmallConvNet(embedding_dim=5, width=4).eval()
    x = torch.rand(4, 8, 8)
    assert torch.equal(net(x), net(x[:, None]))
    colour = SmallConvNet(in_channels=3, width=4)
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\); got \(4, 8, 8\)"):
        colour(x)
    with pytest.raises(ValueError, match=r"got \(4, 2, 8, 8\)"):
        net(torch.rand(4, 2, 8, 8))


def test_architecture_and_size():
    net = SmallConvNet(width=8, depth=3, embedding_dim=32)
    n_params = sum(p.numel() for p in net.parameters())
    # conv 1->8, 8->16, 16->32 (3x3, no bias), three norms, linear 32->32
    expected = 9 * (8 + 8 * 16 + 16 * 32) + 2 * (8 + 16 + 32) + 32 * 32 + 32
    assert n_params == expected
    strides = [m.stride for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert strides == [(1, 1), (2, 2), (2, 2)]


def test_output_is_linear_in_pooled_features():
    # oracle: the forward pass computed by hand from the submodules
    torch.manual_seed(0)
    net = SmallConvNet(width=4, norm="group").eval()
    x = torch.rand(3, 1, 12, 12)
    pooled = net.features(x).mean(dim=(2, 3))
    expected = pooled @ net.fc.weight.T + net.fc.bias
    assert_allclose(net(x).detach().numpy(), expected.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_trains_with_backprop():
    torch.manual_seed(0)
    net = SmallConvNet(width=4, embedding_dim=2)
    x = torch.rand(16, 1, 8, 8)
    loss = net(x).pow(2).sum()
    loss.backward()
    assert all(p.grad is not None for p in net.parameters())


def test_projection_head():
    torch.manual_seed(0)
    head = projection_head(6, 12, 3)
    assert [type(m).__name__ for m in head] == ["Linear", "BatchNorm1d", "ReLU", "Linear"]
    x = torch.rand(5, 6)
    assert head(x).shape == (5, 3)
    head.eval()
    first, bn, _, last = head
    h = (x @ first.weight.T - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps)
    h = torch.relu(h * bn.weight + bn.bias)
    assert_allclose(
        head(x).detach().numpy(), (h @ last.weight.T + last.bias).detach().numpy(), atol=1e-6
    )
    linear = projection_head(6, None, 3)
    assert len(linear) == 1 and isinstance(linear[0], torch.nn.Linear)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"in_channels": 0}, "in_channels"),
        ({"width": 2.5}, "width"),
        ({"norm": "layer"}, "norm"),
        ({"embedding_dim": True}, "embedding_dim"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SmallConvNet(**kwargs)
    with pytest.raises(ValueError, match="hidden_dim"):
        projection_head(3, 0, 2)


def test_seeded_init_is_reproducible():
    torch.manual_seed(1)
    a = SmallConvNet(width=4)
    torch.manual_seed(1)
    b = SmallConvNet(width=4)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert np.array_equal(pa.detach().numpy(), pb.detach().numpy())
