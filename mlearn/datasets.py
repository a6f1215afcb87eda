"""Offline data sets for examples, tests and the demo.

Nothing here downloads anything: the data ship with the packages mlearn
already depends on or with its optional extras.
"""

from numbers import Integral

import numpy as np
from sklearn.utils import Bunch, check_random_state

from ._sklearn_compat import Interval, validate_params

__all__ = ["load_image_patches", "load_textures"]

TEXTURE_NAMES = ("brick", "grass", "gravel")
_SIDE = 512  # pixels, the side of every texture image

#: The images inside scikit-image's wheel (``skimage/data/``) that
#: :func:`load_image_patches` cuts: photographs, micrographs, scans and one
#: drawing, all loaded without a download.
IMAGE_NAMES = (
    "astronaut",
    "brick",
    "camera",
    "cell",
    "chelsea",
    "coffee",
    "coins",
    "grass",
    "gravel",
    "hubble_deep_field",
    "immunohistochemistry",
    "moon",
    "page",
    "text",
    "rocket",
    "clock",
    "retina",
    "shepp_logan_phantom",
)


def _skimage(caller):
    try:
        from skimage import color, data, util
    except ImportError as exc:
        raise ImportError(
            f"{caller} needs scikit-image, which ships the images; "
            'install it with pip install "mlearn-metric[images]"'
        ) from exc
    return color, data, util


def _grey_image(name, caller):
    """scikit-image's image ``name`` in grey levels, uint8."""
    color, data, util = _skimage(caller)
    image = np.asarray(getattr(data, name)())
    if image.ndim == 3:
        image = color.rgb2gray(image[..., :3])
    return util.img_as_ubyte(image)


def _tiles(image, patch_size):
    """The non-overlapping ``patch_size`` squares of ``image``, row by row."""
    rows, cols = image.shape[0] // patch_size, image.shape[1] // patch_size
    image = image[: rows * patch_size, : cols * patch_size]
    tiles = image.reshape(rows, patch_size, cols, patch_size)
    return tiles.transpose(0, 2, 1, 3).reshape(rows * cols, patch_size, patch_size)


def _draw_patches(sources, patch_size, n_patches_per_image, rng):
    """``n_patches_per_image`` tiles of each source image, drawn without
    replacement, and their classes (the image's index), all shuffled together."""
    images, target = [], []
    for label, source in enumerate(sources):
        tiles = _tiles(source, patch_size)
        chosen = rng.choice(len(tiles), size=n_patches_per_image, replace=False)
        images.append(tiles[chosen])
        target.append(np.full(n_patches_per_image, label))
    order = rng.permutation(len(sources) * n_patches_per_image)
    return (
        np.ascontiguousarray(np.concatenate(images)[order], dtype=np.uint8),
        np.concatenate(target)[order],
    )


@validate_params(
    {
        "patch_size": [Interval(Integral, 4, 512, closed="both")],
        "n_patches_per_image": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "return_X_y": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def load_textures(
    patch_size: int = 32,
    n_patches_per_image: int = 64,
    random_state: int | np.random.RandomState | None = None,
    *,
    return_X_y: bool = False,
) -> Bunch | tuple[np.ndarray, np.ndarray]:
    """Labelled patches of three real textures: brick, grass and gravel.

    The source images are the 512 x 512 grey-level photographs of brick,
    grass and gravel that ship with scikit-image (``skimage.data.brick``,
    ``grass`` and ``gravel``; public-domain photographs collected by the
    scikit-image project, not data made for mlearn). Each image is cut into a
    grid of non-overlapping ``patch_size x patch_size`` patches, of which
    ``n_patches_per_image`` are drawn at random; the class of a patch is the
    texture it comes from. As the patches do not overlap, no pixel appears
    in two patches, so train/test splits do not leak pixels.

    Parameters
    ----------
    patch_size : int, default=32
        Side of the square patches, in pixels (4 to 512).
    n_patches_per_image : int, default=64
        Patches drawn from each texture, at most ``(512 // patch_size)**2``.
    random_state : int, RandomState instance or None, default=None
        Which patches are drawn, and their order.
    return_X_y : bool, default=False
        If True, return ``(images, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        With ``images`` (ndarray of shape (n_patches, patch_size, patch_size),
        uint8), ``target`` (ndarray of shape (n_patches,), int: 0 brick,
        1 grass, 2 gravel), ``target_names`` and ``DESCR``.
    (images, target) : tuple
        When ``return_X_y`` is True.

    Raises
    ------
    ValueError
        If a parameter has the wrong type or lies outside its range (then a
        scikit-learn ``InvalidParameterError``, also a ``TypeError``), or if
        ``n_patches_per_image`` is more than the patches an image holds.
    ImportError
        If scikit-image is not installed (``pip install "mlearn-metric[images]"``).

    Examples
    --------
    >>> from mlearn.datasets import load_textures
    >>> textures = load_textures(patch_size=32, n_patches_per_image=10,
    ...                          random_state=0)
    >>> textures.images.shape, textures.target_names
    ((30, 32, 32), array(['brick', 'grass', 'gravel'], dtype='<U6'))
    """
    available = (_SIDE // patch_size) ** 2
    if n_patches_per_image > available:
        raise ValueError(
            f"n_patches_per_image must be in [1, {available}] for patch_size="
            f"{patch_size} (non-overlapping patches of a 512 x 512 image), got "
            f"{n_patches_per_image}"
        )
    sources = [_grey_image(name, "load_textures") for name in TEXTURE_NAMES]
    images, target = _draw_patches(
        sources, patch_size, n_patches_per_image, check_random_state(random_state)
    )
    if return_X_y:
        return images, target
    return Bunch(
        images=images,
        target=target,
        target_names=np.array(TEXTURE_NAMES),
        DESCR=(
            "Texture patches: non-overlapping square patches of the brick, grass "
            "and gravel photographs shipped with scikit-image (512 x 512, grey "
            f"levels), {n_patches_per_image} per texture, {patch_size} x "
            f"{patch_size} pixels, uint8. Classes: 0 brick, 1 grass, 2 gravel."
        ),
    )


@validate_params(
    {
        "patch_size": [Interval(Integral, 4, 128, closed="both")],
        "n_patches_per_image": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "return_X_y": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def load_image_patches(
    patch_size: int = 32,
    n_patches_per_image: int = 50,
    random_state: int | np.random.RandomState | None = None,
    *,
    return_X_y: bool = False,
) -> Bunch | tuple[np.ndarray, np.ndarray]:
    """Patches of 18 varied images, labelled by the image they come from.

    The 18 images that ship with scikit-image (:data:`IMAGE_NAMES`:
    photographs such as ``astronaut``, ``camera`` and ``coffee``, textures,
    micrographs, a telescope field, scanned text, a retina and a drawn
    phantom) are turned into grey levels and cut into a grid of
    non-overlapping ``patch_size x patch_size`` squares, of which
    ``n_patches_per_image`` are drawn at random. With 18 classes of very
    different content, the set suits open-set retrieval: learn a metric on
    the patches of some images and retrieve those of the others, which it
    has never seen.

    Parameters
    ----------
    patch_size : int, default=32
        Side of the square patches, in pixels (4 to 128).
    n_patches_per_image : int, default=50
        Patches drawn from each image, at most the number the smallest
        image holds: 60 for ``patch_size=32`` (``page``, 191 x 384).
    random_state : int, RandomState instance or None, default=None
        Which patches are drawn, and their order.
    return_X_y : bool, default=False
        If True, return ``(images, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        With ``images`` (ndarray of shape (n_patches, patch_size, patch_size),
        uint8 grey levels), ``target`` (ndarray of shape (n_patches,), int:
        the index of the source image in ``target_names``), ``target_names``
        and ``DESCR``.
    (images, target) : tuple
        When ``return_X_y`` is True.

    Raises
    ------
    ValueError
        If a parameter has the wrong type or lies outside its range, or if
        ``n_patches_per_image`` is more than the smallest image holds.
    ImportError
        If scikit-image is not installed (``pip install "mlearn-metric[images]"``).

    See Also
    --------
    load_textures : Patches of three textures (brick, grass, gravel).

    Examples
    --------
    >>> from mlearn.datasets import load_image_patches
    >>> patches = load_image_patches(patch_size=16, n_patches_per_image=5,
    ...                              random_state=0)
    >>> patches.images.shape, len(patches.target_names)
    ((90, 16, 16), 18)
    """
    sources = [_grey_image(name, "load_image_patches") for name in IMAGE_NAMES]
    available = min(len(_tiles(source, patch_size)) for source in sources)
    if n_patches_per_image > available:
        raise ValueError(
            f"n_patches_per_image must be in [1, {available}] for patch_size="
            f"{patch_size} (non-overlapping patches of the smallest image), got "
            f"{n_patches_per_image}"
        )
    images, target = _draw_patches(
        sources, patch_size, n_patches_per_image, check_random_state(random_state)
    )
    if return_X_y:
        return images, target
    return Bunch(
        images=images,
        target=target,
        target_names=np.array(IMAGE_NAMES),
        DESCR=(
            "Image patches: non-overlapping square patches of the 18 images shipped "
            f"with scikit-image, in grey levels, {n_patches_per_image} per image, "
            f"{patch_size} x {patch_size} pixels, uint8. The class of a patch is "
            "the index of its image in target_names."
        ),
    )
