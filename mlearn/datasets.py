"""Offline data sets for examples, tests and the demo.

Nothing here downloads anything: the data ship with the packages mlearn
already depends on or with its optional extras.
"""

import numpy as np
from sklearn.utils import Bunch, check_random_state

__all__ = ["load_textures"]

TEXTURE_NAMES = ("brick", "grass", "gravel")


def _skimage_data():
    try:
        from skimage import data
    except ImportError as exc:
        raise ImportError(
            "load_textures needs scikit-image, which ships the texture images; "
            'install it with pip install "mlearn[images]"'
        ) from exc
    return data


def load_textures(
    patch_size=32, n_patches_per_image=64, random_state=None, *, return_X_y=False
):
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
    ImportError
        If scikit-image is not installed (``pip install "mlearn[images]"``).

    Examples
    --------
    >>> from mlearn.datasets import load_textures
    >>> textures = load_textures(patch_size=32, n_patches_per_image=10,
    ...                          random_state=0)
    >>> textures.images.shape, textures.target_names
    ((30, 32, 32), array(['brick', 'grass', 'gravel'], dtype='<U6'))
    """
    for name, value in (
        ("patch_size", patch_size),
        ("n_patches_per_image", n_patches_per_image),
    ):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not 4 <= patch_size <= 512:
        raise ValueError(f"patch_size must be in [4, 512], got {patch_size}")
    per_side = 512 // patch_size
    available = per_side * per_side
    if not 1 <= n_patches_per_image <= available:
        raise ValueError(
            f"n_patches_per_image must be in [1, {available}] for patch_size="
            f"{patch_size} (non-overlapping patches of a 512 x 512 image), got "
            f"{n_patches_per_image}"
        )
    data = _skimage_data()
    rng = check_random_state(random_state)
    images, target = [], []
    for label, name in enumerate(TEXTURE_NAMES):
        texture = np.asarray(getattr(data, name)())
        if texture.ndim == 3:  # pragma: no cover - the textures are grey-level
            texture = texture[..., 0]
        texture = texture[: per_side * patch_size, : per_side * patch_size]
        patches = texture.reshape(per_side, patch_size, per_side, patch_size)
        patches = patches.transpose(0, 2, 1, 3).reshape(
            available, patch_size, patch_size
        )
        chosen = rng.choice(available, size=n_patches_per_image, replace=False)
        images.append(patches[chosen])
        target.append(np.full(n_patches_per_image, label))
    images = np.concatenate(images)
    target = np.concatenate(target)
    order = rng.permutation(len(target))
    images = np.ascontiguousarray(images[order], dtype=np.uint8)
    target = target[order]
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
