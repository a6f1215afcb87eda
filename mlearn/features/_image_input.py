"""Turning what users hand to the image transformers into arrays.

The image transformers accept

* an array of images, ``(n_images, height, width)`` for grey-level images or
  ``(n_images, height, width, channels)`` with 1, 3 (RGB) or 4 (RGBA)
  channels;
* a list (or tuple, or 1-D object array) of images, which may differ in size,
  each ``(height, width)`` or ``(height, width, channels)``;
* a list of file paths (``str`` or :class:`os.PathLike`), read with Pillow,
  possibly mixed with arrays.

:func:`check_images` validates any of these and returns the images grouped by
shape and dtype, so that the kernels can process each group as one batch.
A dask array of images is checked without reading its pixels by
:func:`check_dask_images` and transformed block by block by
:func:`lazy_image_features`. Nothing here modifies the caller's arrays.
"""

import copy
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .._lazy import lazy_module

__all__ = [
    "ImageGroup",
    "cell_index",
    "check_dask_images",
    "check_images",
    "check_unit_range",
    "lazy_image_features",
    "read_image",
]

_CHANNELS = (1, 3, 4)

#: What the image transformers take (see the module's docstring); a dask
#: array of images is typed ``Any``, dask having no type hints.
Images = ArrayLike | Sequence[ArrayLike | str | os.PathLike[Any]]

# the parallel kernels' thread count and schedule; imported on first use
numba = lazy_module("numba")

#: Docstring pieces of the image transformers' ``transform`` (for ``fill_doc``).
TRANSFORM_DOC = {
    "dask_input": """
        A dask array of images, chunked along its first axis, gives a lazy
        dask array of features with the same row chunks: nothing is read
        until the result is computed, and each block of images is
        transformed as an array in memory would be (the same values). Its
        shape and dtype are checked at once, its pixel values block by
        block when computed, with the in-memory messages (naming images by
        their index in the whole array).""",
    "X": """
        X : ndarray of shape (n_images, height, width[, channels]) or list
            Images, or a list of images of any sizes or of file paths, or a
            dask array of images.""",
    "raises": """
        ValueError
            For dask input, when the output is set to a DataFrame
            (``set_output(transform="pandas")`` or ``"polars"``), which
            would compute it whole: use ``set_output(transform="default")``.""",
}


@dataclass
class ImageGroup:
    """Images of one shape and dtype, stacked: ``batch[k]`` is image ``indices[k]``."""

    indices: np.ndarray
    batch: np.ndarray  # (k, h, w) for grey images, (k, h, w, c) with c in {3, 4}

    @property
    def n_channels(self):
        return 1 if self.batch.ndim == 3 else self.batch.shape[3]


def _require_pillow():
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            'reading image files needs Pillow; install it with pip install "mlearn-metric[images]"'
        ) from exc
    return Image


def read_image(path):
    """Read one image file with Pillow into an array.

    Grey-level files give ``(h, w)`` arrays, colour files ``(h, w, 3)`` or
    ``(h, w, 4)``; 8-bit files stay ``uint8``, 16-bit files ``uint16`` and
    floating-point files ``float32``. Palette and other colour modes are
    converted to RGB (RGBA when they carry transparency).
    """
    Image = _require_pillow()
    try:
        with Image.open(path) as img:
            mode = img.mode
            if mode in ("L", "RGB", "RGBA", "F") or mode.startswith("I;16"):
                array = np.array(img)
            elif mode in ("1", "LA", "I"):
                array = np.array(img.convert("L") if mode != "I" else img)
            elif "transparency" in img.info or mode in ("PA", "RGBa", "La"):
                array = np.array(img.convert("RGBA"))
            else:
                array = np.array(img.convert("RGB"))
    except (OSError, ValueError, SyntaxError) as exc:
        raise ValueError(f"could not read image file {os.fspath(path)!r}: {exc}") from exc
    if array.dtype.byteorder not in ("=", "|"):
        array = array.astype(array.dtype.newbyteorder("="))
    return array


def _as_image(image, where):
    """One image as an array ``(h, w)`` or ``(h, w, c)``."""
    if isinstance(image, (str, bytes, os.PathLike)):
        return read_image(image)
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3):
        raise ValueError(
            f"{where} must be an image of shape (height, width) or (height, width, "
            f"channels), or a file path; got an array of shape {array.shape}"
        )
    return array


def _check_dtype_and_values(array, where, has_channels):
    _check_dtype_and_channels(array, where, has_channels)
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ValueError(f"{where} contains NaN or infinity; pixel values must be finite")


def _check_dtype_and_channels(array, where, has_channels):
    """What can be checked without reading pixels (a dask array's too)."""
    kind = array.dtype.kind
    if kind not in "uif":
        raise TypeError(
            f"{where} must hold integer or floating-point pixel values "
            f"(uint8, uint16, float32, float64 ...); got dtype {array.dtype}"
        )
    if has_channels:
        channels = array.shape[-1]
        if channels not in _CHANNELS:
            raise ValueError(
                f"{where} must have 1, 3 (RGB) or 4 (RGBA) channels in its last "
                f"axis; got {channels} (shape {array.shape})"
            )


def _spatial_checks(array, where):
    if array.shape[1] == 0 or array.shape[2] == 0:
        raise ValueError(f"{where} has an empty spatial size {array.shape[1:3]}")


def _normalise_float16(array):
    return array.astype(np.float32) if array.dtype == np.float16 else array


def check_images(X, *, name="X"):
    """Validate images and group them by shape and dtype.

    Parameters
    ----------
    X : ndarray, list of array-like or list of paths
        See the module docstring.
    name : str, default="X"
        Name of the argument, used in error messages.

    Returns
    -------
    n_images : int
        Number of images.
    groups : list of ImageGroup
        The images grouped by shape and dtype. A single array is one group
        (no copy is made).
    """
    if isinstance(X, np.ndarray) and X.dtype.kind not in "OUS":
        return _check_array_batch(X, name)
    if isinstance(X, np.ndarray):
        if X.ndim != 1:
            raise ValueError(
                f"{name} given as an array of objects or strings must be 1-D "
                f"(one entry per image); got shape {X.shape}"
            )
        X = list(X)
    if isinstance(X, (str, bytes, os.PathLike)):
        raise TypeError(
            f"{name} must be a list of images or of file paths; got a single path "
            f"{X!r}. Wrap it in a list: [{X!r}]"
        )
    if not isinstance(X, (list, tuple)):
        if hasattr(X, "__array__"):
            return _check_array_batch(np.asarray(X), name)
        raise TypeError(
            f"{name} must be an array of images (n_images, height, width[, channels]), "
            f"a list of images or a list of file paths; got {type(X).__name__}"
        )
    if len(X) == 0:
        raise ValueError(f"{name} is an empty list; at least one image is needed")

    buckets = {}
    for i, item in enumerate(X):
        where = f"{name}[{i}]"
        array = _normalise_float16(_as_image(item, where))
        _check_dtype_and_values(array, where, array.ndim == 3)
        if array.shape[0] == 0 or array.shape[1] == 0:
            raise ValueError(f"{where} has an empty spatial size {array.shape[:2]}")
        key = (array.shape, array.dtype.str)
        buckets.setdefault(key, ([], []))
        buckets[key][0].append(i)
        buckets[key][1].append(array)
    groups = [
        ImageGroup(np.asarray(idx, dtype=np.intp), np.stack(arrays))
        for idx, arrays in buckets.values()
    ]
    return len(X), groups


def _check_array_batch(X, name):
    X = _check_batch_shape(X, name)
    X = _normalise_float16(X)
    _check_dtype_and_values(X, name, X.ndim == 4)
    _spatial_checks(X, name)
    return X.shape[0], [ImageGroup(np.arange(X.shape[0], dtype=np.intp), X)]


def _check_batch_shape(X, name):
    """``X`` (NumPy or dask) as ``(n, h, w)`` or ``(n, h, w, c)``, at least one image.

    A 3-D array whose last axis has 3 or 4 entries is refused: it is far
    more likely one RGB(A) image, as scikit-image's functions take it, than
    ``n`` grey images 3 or 4 pixels wide, and read as the latter it would
    give one row of features per image row without a word.
    """
    if X.ndim == 3 and X.shape[2] in (3, 4) and X.shape[0] > 0:
        raise ValueError(
            f"{name} of shape {X.shape} looks like one colour image (height, width, "
            "channels), but an array of images (n_images, ...) is expected. Pass one "
            f"image as {name}[np.newaxis] or [{name}]; grey images {X.shape[2]} pixels "
            f"wide as {name}[..., np.newaxis]."
        )
    if X.ndim == 4 and X.shape[3] == 1:
        X = X[..., 0]
    if X.ndim not in (3, 4):
        hint = ""
        if X.ndim == 2:
            hint = f" For a single image pass {name}[np.newaxis] or [{name}]."
        raise ValueError(
            f"{name} must be an array of images of shape (n_images, height, width) "
            f"or (n_images, height, width, channels); got a {X.ndim}-D array of "
            f"shape {X.shape}.{hint}"
        )
    if X.shape[0] == 0:
        raise ValueError(f"{name} holds no images (shape {X.shape}); at least one is needed")
    return X


def check_dask_images(X, name="X"):
    """Check a dask array of images as far as can be done without reading a pixel.

    The shape, the channels and the dtype are checked as for an array in
    memory, with the same messages; NaN, infinity and out-of-range values
    are checked block by block when the features are computed.

    Parameters
    ----------
    X : dask.array.Array of shape (n_images, height, width[, channels])
    name : str, default="X"
        Name of the argument, used in error messages.

    Returns
    -------
    X : dask.array.Array
        Lazily squeezed to ``(n_images, height, width)`` for one channel,
        with the row chunks of ``X`` and whole images in each chunk.
    """
    X = _check_batch_shape(X, name)
    if any(math.isnan(size) for size in X.shape):
        raise ValueError(
            f"{name} is a dask array of unknown chunk sizes (shape {X.shape}); compute "
            f"them first ({name}.compute_chunk_sizes())"
        )
    _check_dtype_and_channels(X, name, X.ndim == 4)
    _spatial_checks(X, name)
    return X.rechunk({axis: -1 for axis in range(1, X.ndim)})


def lazy_image_features(transformer, X):
    """The features of a dask array of images, as a lazy dask array.

    Parameters
    ----------
    transformer : ColorHistogram or LocalBinaryPattern
        Fitted. It is copied into the graph as one key, so that a cluster
        sends its fitted state to each worker once, not with every chunk,
        and refitting it does not change the result. Each block of images
        goes through its ``_transform_block(block, first)``, ``first`` being
        the index of the block's first image in ``X``, for messages.
    X : dask.array.Array
        Images, as returned by :func:`check_dask_images`.

    Returns
    -------
    features : dask.array.Array of shape (n_images, n_features_out_), float64
        With the row chunks of ``X`` and one column chunk.
    """
    import dask

    state = dask.delayed(copy.deepcopy(transformer), pure=True)
    return X.map_blocks(
        _features_of_block,
        state,
        drop_axis=list(range(2, X.ndim)),
        chunks=(X.chunks[0], (transformer.n_features_out_,)),
        dtype=np.float64,
        meta=np.empty((0, 0)),
    )


def _features_of_block(block, transformer, block_info=None):
    if block.shape[0] == 0:
        return np.empty((0, transformer.n_features_out_))
    first = block_info[0]["array-location"][0][0]
    return transformer._transform_block(block, first)


def check_unit_range(group, name="X", channels=3):
    """Refuse floating-point images with values outside [0, 1].

    Floating-point images are taken to hold intensities in [0, 1], as in
    scikit-image (``img_as_ubyte`` refuses floats outside [-1, 1] for the same
    reason): a float image of 8-bit values (0 .. 255) or a standardised one
    would otherwise fall outside every bin and give empty histograms. Only
    the first ``channels`` channels are checked (an ignored alpha channel
    may hold anything). Integer images are always in range.

    Parameters
    ----------
    group : ImageGroup
        Images of one shape and dtype, as from :func:`check_images`.
    name : str, default="X"
        Name of the argument, used in error messages.
    channels : int, default=3
        Number of leading channels that are read.
    """
    batch = group.batch
    if batch.dtype.kind != "f":
        return
    if batch.ndim == 4:
        batch = batch[..., :channels]
    axes = tuple(range(1, batch.ndim))
    low, high = batch.min(axis=axes), batch.max(axis=axes)
    bad = np.flatnonzero((low < 0) | (high > 1))
    if bad.size == 0:
        return
    k = bad[0]
    raise ValueError(
        f"{name}[{group.indices[k]}] is a floating-point image with values in "
        f"[{low[k]:.6g}, {high[k]:.6g}]; floating-point images must hold values in "
        "[0, 1]. Divide 8-bit values by 255 (16-bit values by 65535), pass them as "
        "uint8 or uint16 integers, or clip round-off with np.clip(image, 0, 1)."
    )


def cell_index(size, n_cells):
    """Cell number of every row (or column) for ``n_cells`` near-equal cells.

    The split follows :func:`numpy.array_split`: the first ``size % n_cells``
    cells are one pixel longer than the others.
    """
    base, extra = divmod(size, n_cells)
    lengths = np.full(n_cells, base, dtype=np.intp)
    lengths[:extra] += 1
    return np.repeat(np.arange(n_cells, dtype=np.intp), lengths)


def check_grid(grid, name="grid"):
    """``grid`` as a pair of positive ints (rows of cells, columns of cells)."""
    if isinstance(grid, (int, np.integer)) and not isinstance(grid, bool):
        grid = (grid, grid)
    try:
        pair = tuple(grid)
    except TypeError:
        pair = None
    if (
        pair is None
        or len(pair) != 2
        or not all(isinstance(g, (int, np.integer)) and not isinstance(g, bool) for g in pair)
        or min(pair) < 1
    ):
        raise ValueError(
            f"{name} must be a positive int or a pair of positive ints "
            f"(cells down, cells across); got {grid!r}"
        )
    return int(pair[0]), int(pair[1])


def n_row_blocks(n_images, height, min_rows=16):
    """How many row blocks each image is cut into for the parallel kernels.

    Many images keep one block each (parallel over images); few large images
    are split by rows so that every thread has work.
    """
    threads = numba.get_num_threads()
    if n_images >= 2 * threads:
        return 1
    wanted = -(-4 * threads // n_images)
    return int(max(1, min(wanted, height // min_rows)))


def dynamic_schedule():
    """Context in which parallel kernels hand out their tasks one at a time.

    The tasks (an image, or a block of rows) are coarse, so threads taking
    the next one when free balances the load better than splitting the
    tasks evenly up front, above all when other work shares the cores.
    """
    return numba.parallel_chunksize(1)


def rgb_to_gray(batch, scale):
    """Luminance ``0.2125 R + 0.7154 G + 0.0721 B`` of RGB(A) images, as float64.

    The coefficients are those of ITU-R BT.709, as in
    ``skimage.color.rgb2gray``; ``scale`` multiplies the pixel values first.
    """
    coeffs = np.array([0.2125, 0.7154, 0.0721])
    rgb = batch[..., :3]
    if scale != 1.0:
        rgb = np.multiply(rgb, scale, dtype=np.float64)
    else:
        rgb = rgb.astype(np.float64, copy=False)
    return np.ascontiguousarray(rgb @ coeffs)
