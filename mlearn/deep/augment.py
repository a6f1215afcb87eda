"""Random augmentations of image batches, for self-supervised training.

Every augmentation here is a callable ``augmentation(batch, generator)`` on a
floating tensor of shape (N, C, H, W) that returns a tensor of the same shape,
dtype and device. Each sample gets its own random parameters, all drawn from
the :class:`torch.Generator` passed in (never from the global random state),
so that the same seed gives the same views.

The augmentations work on the whole batch at once (a crop is a per-sample
affine resampling, a blur a grouped convolution), which is much faster than a
Python loop over samples. A per-sample transform from another library (for
example a torchvision transform taking one (C, H, W) tensor) is accepted
through :class:`PerSample`.
"""

import inspect
import math
from collections.abc import Callable, Sequence
from typing import Any

from ._torch import import_torch

torch = import_torch()

F = torch.nn.functional

__all__ = [
    "BatchAugmentation",
    "ColorJitter",
    "Compose",
    "GaussianBlur",
    "GaussianNoise",
    "PerSample",
    "RandomFlip",
    "RandomResizedCrop",
    "as_batch_augmentation",
    "default_augmentation",
]


def _uniform(low, high, n, generator, like):
    """``n`` draws from U(low, high) in the dtype and on the device of ``like``."""
    u = torch.rand(n, generator=generator, dtype=torch.float64, device=generator.device)
    return (low + (high - low) * u).to(dtype=like.dtype, device=like.device)


def _bernoulli(p, n, generator, device):
    u = torch.rand(n, generator=generator, dtype=torch.float64, device=generator.device)
    return (u < p).to(device)


def _check_batch(batch, name, images=True):
    if not isinstance(batch, torch.Tensor) or (batch.ndim != 4 if images else batch.ndim < 1):
        shape = tuple(batch.shape) if hasattr(batch, "shape") else type(batch).__name__
        expected = "(N, C, H, W) or (N, H, W)" if images else "(N, ...)"
        raise ValueError(f"{name} expects a tensor of shape {expected}; got {shape}")
    if not batch.is_floating_point():
        raise TypeError(f"{name} expects a floating tensor; got {batch.dtype}")


def _range(value, name, *, center=None, minimum=None):
    """A (low, high) pair from a number or a pair, as torchvision reads its arguments."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"{name} must be non-negative; got {value!r}")
        if center is None:
            low, high = value, value
        else:
            low, high = center - value, center + value
    elif isinstance(value, Sequence) and len(value) == 2:
        low, high = (float(v) for v in value)
    else:
        raise ValueError(f"{name} must be a number or a pair (low, high); got {value!r}")
    if minimum is not None:
        low = max(low, minimum)
    if low > high or (minimum is not None and high < minimum):
        raise ValueError(f"{name} must give low <= high, both >= {minimum}; got {value!r}")
    return float(low), float(high)


def _probability(p, name="p"):
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
        raise ValueError(f"{name} must be a probability in [0, 1]; got {p!r}")
    return float(p)


class BatchAugmentation:
    """Base class of the batch augmentations: ``augmentation(batch, generator)``.

    Subclasses implement ``_apply(batch, generator)`` on a (N, C, H, W)
    tensor; calling the object checks the input, accepts (N, H, W) batches
    of one-channel images as well, and checks that the output keeps the
    shape.
    """

    def __call__(self, batch, generator):
        name = type(self).__name__
        squeeze = isinstance(batch, torch.Tensor) and batch.ndim == 3
        if squeeze:
            # (N, H, W): one channel
            batch = batch.unsqueeze(1)
        _check_batch(batch, name)
        out = self._apply(batch, generator)
        if squeeze:
            batch, out = batch.squeeze(1), out.squeeze(1)
        if tuple(out.shape) != tuple(batch.shape):
            raise ValueError(
                f"augmentation {self!r} changed the batch shape from "
                f"{tuple(batch.shape)} to {tuple(out.shape)}"
            )
        return out

    def _apply(self, batch, generator):  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self):
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({params})"


class RandomResizedCrop(BatchAugmentation):
    """Crop a random box of each image and resize it back to the image size.

    The box covers a fraction of the image area drawn uniformly from
    ``scale``; its aspect ratio (relative to the image's) is drawn
    log-uniformly from ``ratio``; its position is uniform over the positions
    that keep it inside the image. The box is resampled bilinearly to the
    input size.

    Parameters
    ----------
    scale : tuple of float, default=(0.5, 1.0)
        Range of the area fraction, in (0, 1].
    ratio : tuple of float, default=(3/4, 4/3)
        Range of width / height of the box, relative to the image's own
        aspect. A box that would stick out of the image is shrunk to fit.

    Examples
    --------
    >>> import torch
    >>> from mlearn.deep.augment import RandomResizedCrop
    >>> images = torch.rand(4, 1, 8, 8)
    >>> crop = RandomResizedCrop(scale=(0.5, 1.0))
    >>> crop(images, torch.Generator().manual_seed(0)).shape
    torch.Size([4, 1, 8, 8])
    """

    def __init__(self, scale=(0.5, 1.0), ratio=(3 / 4, 4 / 3)):
        self.scale = _range(scale, "scale")
        if not 0 < self.scale[0] <= self.scale[1] <= 1:
            raise ValueError(f"scale must be a range inside (0, 1]; got {scale!r}")
        self.ratio = _range(ratio, "ratio")
        if self.ratio[0] <= 0:
            raise ValueError(f"ratio must be a range of positive numbers; got {ratio!r}")

    def _boxes(self, n, generator, like):
        """Per image: width and height (fractions of the image's) and the box
        centre in normalised coordinates [-1, 1]."""
        area = _uniform(*self.scale, n, generator, like)
        log_ratio = _uniform(math.log(self.ratio[0]), math.log(self.ratio[1]), n, generator, like)
        ratio = torch.exp(log_ratio)
        w = torch.sqrt(area * ratio).clamp(max=1.0)
        h = torch.sqrt(area / ratio).clamp(max=1.0)
        # uniform over the positions that keep the box inside the image
        cx = (2 * _uniform(0.0, 1.0, n, generator, like) - 1) * (1 - w)
        cy = (2 * _uniform(0.0, 1.0, n, generator, like) - 1) * (1 - h)
        return w, h, cx, cy

    def _apply(self, batch, generator):
        n = batch.shape[0]
        work = batch if batch.dtype in (torch.float32, torch.float64) else batch.float()
        w, h, cx, cy = self._boxes(n, generator, work)
        theta = torch.zeros(n, 2, 3, dtype=work.dtype, device=work.device)
        theta[:, 0, 0] = w
        theta[:, 0, 2] = cx
        theta[:, 1, 1] = h
        theta[:, 1, 2] = cy
        grid = F.affine_grid(theta, list(work.shape), align_corners=False)
        out = F.grid_sample(
            work, grid, mode="bilinear", padding_mode="border", align_corners=False
        )
        return out.to(batch.dtype)


class RandomFlip(BatchAugmentation):
    """Mirror each image left-right and/or top-bottom with probability ``p``.

    Parameters
    ----------
    horizontal : bool, default=True
        Flip along the width (left-right).
    vertical : bool, default=False
        Flip along the height (top-bottom), decided independently.
    p : float, default=0.5
        Probability of each enabled flip, per image.

    Examples
    --------
    >>> import torch
    >>> from mlearn.deep.augment import RandomFlip
    >>> images = torch.arange(4.0).reshape(1, 1, 2, 2)
    >>> RandomFlip(p=1.0)(images, torch.Generator())
    tensor([[[[1., 0.],
              [3., 2.]]]])
    """

    def __init__(self, horizontal=True, vertical=False, p=0.5):
        self.horizontal = bool(horizontal)
        self.vertical = bool(vertical)
        self.p = _probability(p)

    def _apply(self, batch, generator):
        n = batch.shape[0]
        out = batch
        for enabled, dim in ((self.horizontal, -1), (self.vertical, -2)):
            if not enabled:
                continue
            flip = _bernoulli(self.p, n, generator, batch.device).view(n, 1, 1, 1)
            out = torch.where(flip, torch.flip(out, dims=(dim,)), out)
        return out


def _grey(batch):
    """Luma (ITU-R 601) for 3 channels, the channel mean otherwise; keeps dims."""
    if batch.shape[1] == 3:
        weights = torch.tensor([0.299, 0.587, 0.114], dtype=batch.dtype, device=batch.device)
        return (batch * weights.view(1, 3, 1, 1)).sum(dim=1, keepdim=True)
    return batch.mean(dim=1, keepdim=True)


class ColorJitter(BatchAugmentation):
    """Random brightness, contrast and (for colour images) saturation changes.

    With factors ``b``, ``c`` and ``s`` drawn per image (uniformly in
    ``[max(0, 1 - brightness), 1 + brightness]``, and so on), each image
    ``x`` becomes, in this order,

    - brightness: ``b * x``;
    - contrast: ``c * x + (1 - c) * mean(grey(x))``, the mean over the pixels
      of the grey-level image;
    - saturation (3 channels only): ``s * x + (1 - s) * grey(x)``, pixel by
      pixel.

    ``grey`` is the luma ``0.299 R + 0.587 G + 0.114 B`` for three channels
    and the channel mean otherwise. Values are not clipped, so inputs in any
    range work (standardised images included).

    Parameters
    ----------
    brightness, contrast, saturation : float or tuple of float, default=0.4
        Strength ``t`` (factor in ``[max(0, 1 - t), 1 + t]``) or the factor
        range ``(low, high)`` itself. 0 leaves that property unchanged.
        Saturation is ignored unless the images have 3 channels.
    p : float, default=1.0
        Probability of jittering an image (all three changes together).

    Examples
    --------
    >>> import torch
    >>> from mlearn.deep.augment import ColorJitter
    >>> images = torch.tensor([[[[0.0, 1.0]]]])
    >>> ColorJitter(brightness=(2.0, 2.0), contrast=0)(images, torch.Generator())
    tensor([[[[0., 2.]]]])
    """

    def __init__(self, brightness=0.4, contrast=0.4, saturation=0.4, p=1.0):
        self.brightness = _range(brightness, "brightness", center=1.0, minimum=0.0)
        self.contrast = _range(contrast, "contrast", center=1.0, minimum=0.0)
        self.saturation = _range(saturation, "saturation", center=1.0, minimum=0.0)
        self.p = _probability(p)

    def _apply(self, batch, generator):
        n = batch.shape[0]
        shape = (n, 1, 1, 1)
        b = _uniform(*self.brightness, n, generator, batch).view(shape)
        c = _uniform(*self.contrast, n, generator, batch).view(shape)
        s = _uniform(*self.saturation, n, generator, batch).view(shape)
        apply = _bernoulli(self.p, n, generator, batch.device).view(shape)
        out = batch * b
        mean = _grey(out).mean(dim=(1, 2, 3), keepdim=True)
        out = c * out + (1 - c) * mean
        if batch.shape[1] == 3:
            out = s * out + (1 - s) * _grey(out)
        return torch.where(apply, out, batch)


def _gaussian_kernels(sigma, truncate, dtype, device):
    """One 1-D kernel per sigma, each truncated at its own radius as scipy's.

    Returns the kernels, shape (n, 2 * radius + 1) for the largest radius,
    zero beyond each kernel's own radius and normalised to sum to one.
    """
    radii = torch.floor(truncate * sigma.double() + 0.5).long()
    radius = int(radii.max().item()) if len(radii) else 0
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64, device=sigma.device)
    s = sigma.double().view(-1, 1)
    kernels = torch.exp(-0.5 * (offsets / s) ** 2)
    kernels = kernels * (offsets.abs().view(1, -1) <= radii.view(-1, 1))
    kernels = kernels / kernels.sum(dim=1, keepdim=True)
    return kernels.to(dtype=dtype, device=device), radius


def _symmetric_index(size, radius, device):
    """Indices of a length-``size`` axis padded by ``radius`` with scipy's 'reflect'.

    'reflect' repeats the edge sample (d c b a | a b c d | d c b a), for any
    radius, including radii larger than the axis.
    """
    i = torch.arange(-radius, size + radius, device=device) % (2 * size)
    return torch.where(i >= size, 2 * size - 1 - i, i)


class GaussianBlur(BatchAugmentation):
    """Blur each image with a Gaussian of random width, with probability ``p``.

    The standard deviation (in pixels, the same along both axes) is drawn
    uniformly from ``sigma`` per image. The filter matches
    :func:`scipy.ndimage.gaussian_filter` with its defaults: the kernel is
    truncated at ``int(truncate * sigma + 0.5)`` pixels and the image is
    extended by mirror symmetry about its edge (scipy's ``mode='reflect'``).

    Parameters
    ----------
    sigma : float or tuple of float, default=(0.1, 1.0)
        Fixed standard deviation or range ``(low, high)``, in pixels.
    p : float, default=0.5
        Probability of blurring an image.
    truncate : float, default=4.0
        Kernel radius in standard deviations.

    Examples
    --------
    >>> import torch
    >>> from mlearn.deep.augment import GaussianBlur
    >>> image = torch.zeros(1, 1, 1, 5)
    >>> image[..., 2] = 1.0
    >>> GaussianBlur(sigma=1.0, p=1.0)(image, torch.Generator()).squeeze()
    tensor([0.0584, 0.2421, 0.3989, 0.2421, 0.0584])
    """

    def __init__(self, sigma=(0.1, 1.0), p=0.5, truncate=4.0):
        self.sigma = _range(sigma, "sigma")
        if self.sigma[0] <= 0:
            raise ValueError(f"sigma must be positive; got {sigma!r}")
        self.p = _probability(p)
        if not truncate > 0:
            raise ValueError(f"truncate must be positive; got {truncate!r}")
        self.truncate = float(truncate)

    def _apply(self, batch, generator):
        n, c, h, w = batch.shape
        sigma = _uniform(*self.sigma, n, generator, batch.double())
        apply = _bernoulli(self.p, n, generator, batch.device).view(n, 1, 1, 1)
        kernels, radius = _gaussian_kernels(sigma, self.truncate, batch.dtype, batch.device)
        # one group per (sample, channel): every sample gets its own kernel
        weight = kernels.repeat_interleave(c, dim=0)
        x = batch.reshape(1, n * c, h, w)
        x = x.index_select(3, _symmetric_index(w, radius, batch.device))
        x = F.conv2d(x, weight.view(n * c, 1, 1, -1), groups=n * c)
        x = x.index_select(2, _symmetric_index(h, radius, batch.device))
        x = F.conv2d(x, weight.view(n * c, 1, -1, 1), groups=n * c)
        return torch.where(apply, x.view(n, c, h, w), batch)


class GaussianNoise(BatchAugmentation):
    """Add Gaussian noise of standard deviation ``std`` to every value.

    Works on batches of any shape (N, ...), images or feature vectors: the
    augmentation for self-supervised training on tabular data.

    Parameters
    ----------
    std : float, default=0.1
        Standard deviation of the noise, in the units of the input.

    Examples
    --------
    >>> import torch
    >>> from mlearn.deep.augment import GaussianNoise
    >>> x = torch.zeros(1000, 3)
    >>> noisy = GaussianNoise(std=0.5)(x, torch.Generator().manual_seed(0))
    >>> round(noisy.std().item(), 1)
    0.5
    """

    def __init__(self, std=0.1):
        if isinstance(std, bool) or not isinstance(std, (int, float)) or std < 0:
            raise ValueError(f"std must be a non-negative number; got {std!r}")
        self.std = float(std)

    def __call__(self, batch, generator):
        _check_batch(batch, type(self).__name__, images=False)
        if not batch.is_floating_point():
            raise TypeError(f"GaussianNoise expects a floating tensor; got {batch.dtype}")
        return self._apply(batch, generator)

    def _apply(self, batch, generator):
        noise = torch.randn(
            batch.shape, generator=generator, dtype=torch.float64, device=generator.device
        )
        return batch + (self.std * noise).to(dtype=batch.dtype, device=batch.device)


class PerSample(BatchAugmentation):
    """Apply a per-image transform (a torchvision transform, say) to each image.

    ``transform`` takes one tensor of shape (C, H, W) and returns one of the
    same shape; it may draw random numbers from torch's global generator, as
    torchvision transforms do. That generator is seeded from the ``generator``
    passed to the call, inside :func:`torch.random.fork_rng`, so the views
    are reproducible and the global random state is left as it was.

    Parameters
    ----------
    transform : callable
        Maps a (C, H, W) tensor to a (C, H, W) tensor.

    Examples
    --------
    >>> import torch
    >>> from mlearn.deep.augment import PerSample
    >>> negate = PerSample(lambda image: 1 - image)
    >>> negate(torch.zeros(2, 1, 2, 2), torch.Generator()).sum().item()
    8.0
    """

    def __init__(self, transform):
        if not callable(transform):
            raise TypeError(
                f"transform must be a callable on one (C, H, W) tensor; got "
                f"{type(transform).__name__}"
            )
        self.transform = transform

    def _apply(self, batch, generator):
        seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
        devices = [batch.device] if batch.device.type == "cuda" else []
        outputs = []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            for image in batch:
                out = self.transform(image)
                if not isinstance(out, torch.Tensor):
                    raise TypeError(
                        f"transform {self.transform!r} returned {type(out).__name__}, not a tensor"
                    )
                if tuple(out.shape) != tuple(image.shape):
                    raise ValueError(
                        f"augmentation {self.transform!r} changed the image shape from "
                        f"{tuple(image.shape)} to {tuple(out.shape)}"
                    )
                outputs.append(out.to(dtype=batch.dtype, device=batch.device))
        return torch.stack(outputs)


def _takes_generator(func):
    try:
        parameters = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False
    return "generator" in parameters


class Compose(BatchAugmentation):
    """Apply augmentations one after the other.

    Parameters
    ----------
    augmentations : list of callable
        Batch augmentations ``(batch, generator) -> batch``, or per-image
        transforms (wrapped in :class:`PerSample`); see
        :func:`as_batch_augmentation`.

    Examples
    --------
    >>> import torch
    >>> from mlearn.deep.augment import Compose, GaussianBlur, RandomFlip
    >>> augment = Compose([RandomFlip(), GaussianBlur(p=1.0)])
    >>> augment(torch.rand(3, 1, 8, 8), torch.Generator().manual_seed(0)).shape
    torch.Size([3, 1, 8, 8])
    """

    def __init__(self, augmentations):
        self.augmentations = [as_batch_augmentation(a) for a in augmentations]

    def __call__(self, batch, generator):
        # any input shape: each augmentation checks its own
        for augmentation in self.augmentations:
            batch = apply_augmentation(augmentation, batch, generator)
        return batch

    def _apply(self, batch, generator):
        return self(batch, generator)


def as_batch_augmentation(augmentation: Callable) -> Callable:
    """The batch form of an augmentation.

    A :class:`BatchAugmentation`, or any callable with a parameter named
    ``generator`` (called as ``augmentation(batch, generator)``), is returned
    as is; any other callable is taken as a per-image transform on a
    (C, H, W) tensor and wrapped in :class:`PerSample`; a list or tuple
    becomes a :class:`Compose`.

    Parameters
    ----------
    augmentation : callable or list of callable
        The augmentation.

    Returns
    -------
    callable
        ``(batch, generator) -> batch``.

    Examples
    --------
    >>> from mlearn.deep.augment import as_batch_augmentation
    >>> as_batch_augmentation(lambda image: image.flip(-1))  # doctest: +ELLIPSIS
    PerSample(transform=<function <lambda> at ...>)
    """
    if isinstance(augmentation, BatchAugmentation):
        return augmentation
    if isinstance(augmentation, (list, tuple)):
        return Compose(augmentation)
    if not callable(augmentation):
        raise TypeError(
            "augmentation must be a callable (batch, generator) -> batch, a "
            "per-image transform or a list of them; got "
            f"{type(augmentation).__name__}"
        )
    if _takes_generator(augmentation):
        return augmentation
    return PerSample(augmentation)


def apply_augmentation(augmentation: Callable, batch: Any, generator: Any) -> Any:
    """``augmentation(batch, generator)``, checking that the shape is kept."""
    out = augmentation(batch, generator)
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"augmentation {augmentation!r} returned {type(out).__name__}")
    if tuple(out.shape) != tuple(batch.shape):
        raise ValueError(
            f"augmentation {augmentation!r} changed the batch shape from "
            f"{tuple(batch.shape)} to {tuple(out.shape)}"
        )
    return out


def default_augmentation(n_channels: int = 1) -> Compose:
    """The default views of the self-supervised estimators.

    SimCLR's recipe scaled to small images: a random resized crop (area 50 to
    100 %), a horizontal flip, colour jitter with probability 0.8 (brightness
    and contrast 0.4, saturation 0.4 for colour images) and a Gaussian blur
    (sigma 0.1 to 1 pixel) with probability 0.5. Greyscale conversion and hue
    jitter are left out.

    Parameters
    ----------
    n_channels : int, default=1
        Number of image channels; saturation jitter only for 3.

    Returns
    -------
    Compose
        The augmentation, ``(batch, generator) -> batch``.

    Examples
    --------
    >>> import torch
    >>> from mlearn.deep.augment import default_augmentation
    >>> augment = default_augmentation(n_channels=1)
    >>> views = augment(torch.rand(8, 1, 8, 8), torch.Generator().manual_seed(0))
    >>> views.shape
    torch.Size([8, 1, 8, 8])
    """
    if isinstance(n_channels, bool) or not isinstance(n_channels, int) or n_channels < 1:
        raise ValueError(f"n_channels must be a positive integer; got {n_channels!r}")
    return Compose(
        [
            RandomResizedCrop(scale=(0.5, 1.0)),
            RandomFlip(horizontal=True),
            ColorJitter(
                brightness=0.4,
                contrast=0.4,
                saturation=0.4 if n_channels == 3 else 0.0,
                p=0.8,
            ),
            GaussianBlur(sigma=(0.1, 1.0), p=0.5),
        ]
    )
