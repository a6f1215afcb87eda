"""Tests for mlearn.deep.augment: each augmentation against a numpy/scipy oracle."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.ndimage import gaussian_filter

torch = pytest.importorskip("torch")

from mlearn.deep.augment import (  # noqa: E402
    ColorJitter,
    Compose,
    GaussianBlur,
    GaussianNoise,
    PerSample,
    RandomFlip,
    RandomResizedCrop,
    as_batch_augmentation,
    default_augmentation,
)


def _images(n=6, c=1, h=8, w=8, dtype=torch.float32, seed=0):
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


ALL = [
    RandomResizedCrop(),
    RandomFlip(horizontal=True, vertical=True),
    ColorJitter(),
    GaussianBlur(p=1.0),
    GaussianNoise(0.1),
    default_augmentation(1),
    PerSample(lambda image: image.flip(-1)),
]


@pytest.mark.parametrize("augmentation", ALL, ids=lambda a: type(a).__name__)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shape_dtype_kept_and_input_untouched(augmentation, dtype):
    x = _images(dtype=dtype, h=8, w=12)
    before = x.clone()
    out = augmentation(x, _gen())
    assert out.shape == x.shape
    assert out.dtype == dtype
    assert torch.equal(x, before)


@pytest.mark.parametrize("augmentation", ALL[:4], ids=lambda a: type(a).__name__)
def test_three_dimensional_batches_are_one_channel(augmentation):
    x = _images(c=1)
    out3 = augmentation(x[:, 0], _gen(3))
    out4 = augmentation(x, _gen(3))
    assert out3.shape == x[:, 0].shape
    assert torch.equal(out3, out4[:, 0])


@pytest.mark.parametrize("augmentation", ALL, ids=lambda a: type(a).__name__)
def test_same_generator_seed_same_views(augmentation):
    x = _images(c=3, h=16, w=16)
    a = augmentation(x, _gen(5))
    b = augmentation(x, _gen(5))
    assert torch.equal(a, b)


@pytest.mark.parametrize(
    "augmentation",
    [RandomResizedCrop(), RandomFlip(), ColorJitter(), GaussianBlur(p=1.0), GaussianNoise()],
    ids=lambda a: type(a).__name__,
)
def test_different_seeds_differ_and_global_rng_untouched(augmentation):
    x = _images(n=16)
    state = torch.random.get_rng_state()
    a = augmentation(x, _gen(1))
    b = augmentation(x, _gen(2))
    assert not torch.equal(a, b)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_identity_at_zero_strength():
    x = _images(c=3, dtype=torch.float64)
    identity = [
        RandomResizedCrop(scale=(1.0, 1.0), ratio=(1.0, 1.0)),
        RandomFlip(horizontal=True, vertical=True, p=0.0),
        ColorJitter(brightness=0, contrast=0, saturation=0),
        ColorJitter(p=0.0),
        GaussianBlur(p=0.0),
        GaussianNoise(std=0.0),
    ]
    for augmentation in identity:
        assert_allclose(augmentation(x, _gen()).numpy(), x.numpy(), atol=1e-12)


def test_flip_matches_torch_flip():
    x = _images(n=20)
    out = RandomFlip(horizontal=True, p=0.5)(x, _gen(4))
    flipped = [torch.equal(out[i], torch.flip(x[i], dims=(-1,))) for i in range(20)]
    kept = [torch.equal(out[i], x[i]) for i in range(20)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 0 < sum(flipped) < 20
    out = RandomFlip(horizontal=False, vertical=True, p=1.0)(x, _gen())
    assert torch.equal(out, torch.flip(x, dims=(-2,)))
    out = RandomFlip(horizontal=True, vertical=True, p=1.0)(x, _gen())
    assert torch.equal(out, torch.flip(x, dims=(-2, -1)))


@pytest.mark.parametrize("sigma", [0.3, 1.0, 2.7])
def test_blur_matches_scipy_gaussian_filter(sigma):
    # 2.7 gives a radius of 11, larger than the 7-pixel width
    x = _images(n=3, c=2, h=9, w=7, dtype=torch.float64)
    out = GaussianBlur(sigma=sigma, p=1.0)(x, _gen()).numpy()
    expected = np.stack(
        [[gaussian_filter(x[i, c].numpy(), sigma) for c in range(2)] for i in range(3)]
    )
    assert_allclose(out, expected, atol=1e-12)


def test_blur_per_sample_sigma_matches_scipy():
    # random sigmas: each image blurred as scipy would with its own sigma; the
    # sigma is recovered from a delta image blurred alongside
    x = _images(n=8, h=11, w=11, dtype=torch.float64)
    x[0] = 0
    x[0, 0, 5, 5] = 1
    out = GaussianBlur(sigma=(0.3, 2.0), p=1.0)(x, _gen(2)).numpy()
    matched = 0
    for i in range(1, 8):
        if np.allclose(out[i], x[i].numpy()):
            continue
        sigmas = np.linspace(0.3, 2.0, 1701)
        errors = [np.abs(gaussian_filter(x[i, 0].numpy(), s) - out[i, 0]).max() for s in sigmas]
        assert min(errors) < 1e-3
        matched += 1
    assert matched == 7


def test_brightness_and_contrast_formulas():
    x = _images(n=4, c=1, dtype=torch.float64)
    xn = x.numpy()
    out = ColorJitter(brightness=(1.5, 1.5), contrast=0, saturation=0)(x, _gen()).numpy()
    assert_allclose(out, 1.5 * xn, atol=1e-12)
    out = ColorJitter(brightness=0, contrast=(0.3, 0.3), saturation=0)(x, _gen()).numpy()
    mean = xn.mean(axis=(1, 2, 3), keepdims=True)
    assert_allclose(out, 0.3 * xn + 0.7 * mean, atol=1e-12)


def test_colour_contrast_and_saturation_formulas():
    x = _images(n=4, c=3, dtype=torch.float64)
    xn = x.numpy()
    grey = 0.299 * xn[:, 0] + 0.587 * xn[:, 1] + 0.114 * xn[:, 2]
    out = ColorJitter(brightness=0, contrast=(2.0, 2.0), saturation=0)(x, _gen()).numpy()
    mean = grey.mean(axis=(1, 2)).reshape(-1, 1, 1, 1)
    assert_allclose(out, 2.0 * xn + (1 - 2.0) * mean, atol=1e-12)
    out = ColorJitter(brightness=0, contrast=0, saturation=(0.0, 0.0))(x, _gen()).numpy()
    assert_allclose(out, np.repeat(grey[:, None], 3, axis=1), atol=1e-12)


def test_jitter_factors_within_range():
    x = torch.ones(200, 1, 2, 2, dtype=torch.float64)
    out = ColorJitter(brightness=0.4, contrast=0, saturation=0)(x, _gen())
    factors = out[:, 0, 0, 0].numpy()
    assert factors.min() >= 0.6 and factors.max() <= 1.4
    assert factors.std() > 0.1


def test_crop_matches_bilinear_resampling_of_its_box():
    # oracle: scipy's linear interpolation (edge values repeated outside the
    # image) at the pixel centres of the box the crop drew
    from scipy.ndimage import map_coordinates

    x = _images(n=5, c=2, h=10, w=7, dtype=torch.float64)
    crop = RandomResizedCrop(scale=(0.2, 0.9), ratio=(0.5, 2.0))
    out = crop(x, _gen(3)).numpy()
    w, h, cx, cy = (v.numpy() for v in crop._boxes(5, _gen(3), x))
    assert np.all((w * h > 0.2 - 1e-9) | (w == 1) | (h == 1))
    assert np.all(np.abs(cx) + w <= 1 + 1e-12) and np.all(np.abs(cy) + h <= 1 + 1e-12)
    H, W = 10, 7
    u = (2 * np.arange(W) + 1) / W - 1
    v = (2 * np.arange(H) + 1) / H - 1
    for i in range(5):
        cols = ((cx[i] + w[i] * u + 1) * W - 1) / 2
        rows = ((cy[i] + h[i] * v + 1) * H - 1) / 2
        rr, cc = np.meshgrid(rows, cols, indexing="ij")
        for c in range(2):
            expected = map_coordinates(x[i, c].numpy(), [rr, cc], order=1, mode="nearest")
            assert_allclose(out[i, c], expected, atol=1e-10)


def test_per_sample_wraps_plain_callables():
    seen = []

    def transform(image):
        seen.append(tuple(image.shape))
        return image + torch.rand(())  # from the global generator

    wrapped = as_batch_augmentation(transform)
    assert isinstance(wrapped, PerSample)
    x = _images(n=3)
    state = torch.random.get_rng_state()
    a = wrapped(x, _gen(7))
    b = wrapped(x, _gen(7))
    assert torch.equal(a, b)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert seen[:3] == [(1, 8, 8)] * 3
    # a callable with a ``generator`` parameter is a batch augmentation
    batch_fn = as_batch_augmentation(lambda batch, generator: batch * 2)
    assert torch.equal(batch_fn(x, _gen()), 2 * x)
    assert isinstance(as_batch_augmentation([RandomFlip(), transform]), Compose)


def test_shape_change_is_a_value_error_naming_both_shapes():
    crop = PerSample(lambda image: image[:, :4, :4])
    with pytest.raises(ValueError, match=r"\(1, 8, 8\) to \(1, 4, 4\)"):
        crop(_images(), _gen())
    compose = Compose([RandomFlip(), lambda batch, generator: batch[:, :, :4]])
    with pytest.raises(ValueError, match=r"changed the batch shape from \(6, 1, 8, 8\) to"):
        compose(_images(), _gen())


def test_bad_arguments():
    with pytest.raises(ValueError, match="scale"):
        RandomResizedCrop(scale=(0.0, 1.0))
    with pytest.raises(ValueError, match="p must be a probability"):
        RandomFlip(p=1.5)
    with pytest.raises(ValueError, match="sigma must be positive"):
        GaussianBlur(sigma=0)
    with pytest.raises(ValueError, match="brightness"):
        ColorJitter(brightness=-1)
    with pytest.raises(TypeError, match="augmentation must be a callable"):
        as_batch_augmentation(3)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        RandomFlip()(torch.zeros(4, 5), _gen())
    with pytest.raises(TypeError, match="floating"):
        RandomFlip()(torch.zeros(4, 1, 2, 2, dtype=torch.long), _gen())
    with pytest.raises(ValueError, match="n_channels"):
        default_augmentation(0)
