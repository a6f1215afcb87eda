"""Colour histograms of images as a scikit-learn transformer."""

from collections.abc import Sequence
from numbers import Integral
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._docstrings import fill_doc
from .._lazy import lazy_module
from .._sklearn_compat import Interval, StrOptions, _fit_context
from .._validation import check_lazy_output, is_dask_array
from ._codes import SPACE_CODES
from ._image_input import (
    TRANSFORM_DOC,
    ImageGroup,
    Images,
    cell_index,
    check_dask_images,
    check_grid,
    check_images,
    check_unit_range,
    dynamic_schedule,
    lazy_image_features,
    n_row_blocks,
)
from .lbp import _normalize

__all__ = ["ColorHistogram"]

# the kernels import Numba: imported on first use
K = lazy_module("mlearn.features._color_kernels")

_CHANNEL_NAMES = {
    "rgb": ("r", "g", "b"),
    "hsv": ("h", "s", "v"),
    "lab": ("L", "a", "b"),
    "gray": ("gray",),
}

# Default ranges: [0, 1] for RGB, HSV and grey; for Lab the lightness range
# and a box holding every sRGB colour (a in [-86.2, 98.3], b in [-107.9, 94.5]).
_DEFAULT_RANGES = {
    "rgb": ((0.0, 1.0),) * 3,
    "hsv": ((0.0, 1.0),) * 3,
    "lab": ((0.0, 100.0), (-87.0, 99.0), (-108.0, 95.0)),
    "gray": ((0.0, 1.0),),
}


def _scale_of(dtype):
    if dtype == np.uint8:
        return 1.0 / 255
    if dtype == np.uint16:
        return 1.0 / 65535
    if dtype.kind == "f":
        return 1.0
    raise TypeError(
        "X must hold uint8, uint16 or floating-point images (floats in [0, 1]) for "
        f"ColorHistogram; got dtype {dtype}. Convert 8-bit values with "
        "X.astype(np.uint8)."
    )


def _check_group(group):
    """The scale of a group's pixel values to [0, 1], after checking them."""
    scale = _scale_of(group.batch.dtype)
    check_unit_range(group, "X")
    return scale


class ColorHistogram(TransformerMixin, BaseEstimator):
    """Colour histograms of images, joint or per channel, per cell of a grid.

    Pixel values are scaled to [0, 1] (``uint8`` by 1/255, ``uint16`` by
    1/65535; floating-point images must hold values in [0, 1] already, as in
    scikit-image, or a ValueError is raised), converted to ``color_space``
    and counted in a histogram, either joint over the channels (``bins**3``
    bins) or one per channel. With a ``grid`` every cell of the image gets
    its own histogram; the histograms are normalised and concatenated.

    Parameters
    ----------
    bins : int or sequence of int, default=8
        Bins per channel; a sequence gives one number per channel of
        ``color_space``.
    color_space : {'rgb', 'hsv', 'lab', 'gray'}, default='rgb'
        Colour space of the histogram. ``'hsv'`` and ``'lab'`` (CIE L*a*b*,
        D65 white point) follow ``skimage.color.rgb2hsv`` and
        ``skimage.color.rgb2lab``; ``'gray'`` is the luminance
        ``0.2125 R + 0.7154 G + 0.0721 B`` of ``skimage.color.rgb2gray``.
        Grey-level images are taken as RGB images with three equal channels;
        the alpha channel of RGBA images is ignored.
    mode : {'joint', 'marginal'}, default='joint'
        ``'joint'``: one histogram over all channels together;
        ``'marginal'``: one histogram per channel, concatenated.
    grid : int or (int, int), default=(1, 1)
        Number of cells down and across; cells split the image like
        :func:`numpy.array_split`. An int ``g`` means ``(g, g)``.
    normalize : {'l1', 'l2'} or None, default='l1'
        Normalisation of every histogram (per cell, and per channel in
        ``'marginal'`` mode). None keeps pixel counts.
    range : sequence of (float, float), default=None
        ``(low, high)`` of every channel, as in :func:`numpy.histogramdd`,
        in the units of ``color_space`` (for RGB and grey the [0, 1] scale
        of the pixels); values outside are not counted. Default: [0, 1] for RGB, HSV and
        grey; L in [0, 100], a in [-87, 99], b in [-108, 95] for Lab, a box
        that holds every sRGB colour.

    Attributes
    ----------
    bin_edges_ : list of ndarray
        Bin edges of every channel, ``numpy.linspace(low, high, bins + 1)``.
    n_features_out_ : int
        Length of the feature vector of one image.

    See Also
    --------
    LocalBinaryPattern : Texture histograms, the other hand-crafted feature.

    Notes
    -----
    Binning matches :func:`numpy.histogramdd`: bin ``k`` holds
    ``edges[k] <= x < edges[k + 1]`` and the upper edge of the last bin is
    included. ``X`` is an array of images ``(n_images, height, width[,
    channels])``, a list of images of any sizes or a list of file paths.

    Examples
    --------
    >>> import numpy as np
    >>> from mlearn.features import ColorHistogram
    >>> rng = np.random.default_rng(0)
    >>> images = rng.integers(0, 256, size=(5, 16, 16, 3), dtype=np.uint8)
    >>> hist = ColorHistogram(bins=4).fit(images)
    >>> hist.transform(images).shape
    (5, 64)
    >>> marginal = ColorHistogram(bins=4, color_space="hsv", mode="marginal")
    >>> marginal.fit_transform(images).shape
    (5, 12)
    >>> marginal.get_feature_names_out()[:3]
    array(['hsv_cell0_0_h0', 'hsv_cell0_0_h1', 'hsv_cell0_0_h2'], dtype=object)

    Floating-point images hold values in [0, 1]; 8-bit values stored as
    floats are refused rather than counted in no bin:

    >>> hist.transform(images.astype(float))
    Traceback (most recent call last):
        ...
    ValueError: X[0] is a floating-point image with values in [0, 255]; ...
    >>> hist.transform(images / 255).shape
    (5, 64)
    """

    _input_kind = "images"

    _parameter_constraints: dict = {
        "bins": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "color_space": [StrOptions(set(_CHANNEL_NAMES))],
        "mode": [StrOptions({"joint", "marginal"})],
        "grid": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "normalize": [StrOptions({"l1", "l2"}), None],
        "range": ["array-like", None],
    }

    def __init__(
        self,
        bins: int | Sequence[int] = 8,
        color_space: str = "rgb",
        mode: str = "joint",
        grid: int | tuple[int, int] = (1, 1),
        normalize: str | None = "l1",
        range: Sequence[tuple[float, float]] | None = None,
    ) -> None:
        self.bins = bins
        self.color_space = color_space
        self.mode = mode
        self.grid = grid
        self.normalize = normalize
        self.range = range

    def _check_bins_and_range(self):
        n_ch = len(_CHANNEL_NAMES[self.color_space])
        if isinstance(self.bins, (Integral, np.integer)):
            bins = [int(self.bins)] * n_ch
        else:
            bins = list(np.asarray(self.bins).ravel())
            if len(bins) != n_ch or not all(float(b).is_integer() and b >= 1 for b in bins):
                raise ValueError(
                    f"bins must be a positive int or {n_ch} positive ints (one per "
                    f"channel of {self.color_space!r}); got {self.bins!r}"
                )
            bins = [int(b) for b in bins]
        if self.mode == "joint" and np.prod(bins, dtype=float) > 2**24:
            raise ValueError(
                f"a joint histogram with bins={bins} has more than 2**24 bins; "
                "use fewer bins or mode='marginal'"
            )
        if self.range is None:
            ranges = _DEFAULT_RANGES[self.color_space]
        else:
            ranges = np.asarray(self.range, dtype=float)
            if (
                ranges.shape != (n_ch, 2)
                or not np.isfinite(ranges).all()
                or not (ranges[:, 0] < ranges[:, 1]).all()
            ):
                raise ValueError(
                    f"range must be {n_ch} finite (low, high) pairs with low < high, "
                    f"one per channel of {self.color_space!r}; got {self.range!r}"
                )
        return bins, [(float(lo), float(hi)) for lo, hi in ranges]

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Images, y: ArrayLike | None = None) -> "ColorHistogram":
        """Check the parameters and the images; compute the bin edges.

        Parameters
        ----------
        X : ndarray of shape (n_images, height, width[, channels]) or list
            Images, or a list of images of any sizes or of file paths. A
            dask array is not read: its shape and dtype are checked, its
            pixel values when it is transformed.
        y : None
            Ignored.

        Returns
        -------
        self : ColorHistogram
            The fitted transformer.
        """
        grid = check_grid(self.grid)
        bins, ranges = self._check_bins_and_range()
        if is_dask_array(X):
            # nothing is learned from the pixels: check what can be checked
            # without reading them, the values when they are transformed
            _scale_of(check_dask_images(X).dtype)
        else:
            _, groups = check_images(X)
            for group in groups:
                _check_group(group)
        self.grid_ = grid
        self.bin_edges_ = [np.linspace(lo, hi, b + 1) for b, (lo, hi) in zip(bins, ranges)]
        per_cell = int(np.prod(bins)) if self.mode == "joint" else int(sum(bins))
        self.n_features_out_ = grid[0] * grid[1] * per_cell
        return self

    # Any: an ndarray, a dask array for dask input, or set_output's DataFrame
    @fill_doc(**TRANSFORM_DOC)
    def transform(self, X: Images) -> Any:
        """Colour histograms of every image.

        {dask_input} The fitted state is one key of
        the graph, sent to each worker of a cluster once.

        Parameters
        ----------
        {X}

        Returns
        -------
        features : ndarray of shape (n_images, n_features)
            For every cell (row by row), its histogram (joint: bins in C
            order over the channels; marginal: channel after channel).
            ``n_features`` is ``n_features_out_``. A dask array for dask
            input.

        Raises
        ------
        {raises}

        Examples
        --------
        >>> import numpy as np
        >>> import dask.array as da
        >>> from mlearn.features import ColorHistogram
        >>> images = np.random.default_rng(0).integers(0, 256, (40, 8, 8, 3), np.uint8)
        >>> hist = ColorHistogram(bins=4).fit(images)
        >>> features = hist.transform(da.from_array(images, chunks=(10, 8, 8, 3)))
        >>> features.chunks  # lazy: nothing is computed yet
        ((10, 10, 10, 10), (64,))
        >>> np.array_equal(features.compute(), hist.transform(images))
        True
        """
        check_is_fitted(self)
        if is_dask_array(X):
            check_lazy_output(self)
            images = check_dask_images(X)
            _scale_of(images.dtype)
            return lazy_image_features(self, images)
        n_images, groups = check_images(X)
        features = np.empty((n_images, self.n_features_out_))
        for group in groups:
            _check_group(group)
        for group in groups:
            features[group.indices] = self._transform_group(group.batch)
        return features

    def _transform_block(self, block, first):
        """Features of an array of images whose first is image ``first`` of the whole input."""
        _, (group,) = check_images(block)
        group = ImageGroup(group.indices + first, group.batch)
        _check_group(group)
        return self._transform_group(group.batch)

    def _transform_group(self, batch):
        scale = _scale_of(batch.dtype)
        if batch.ndim == 3:
            batch = batch[..., np.newaxis]
        n, h, w, n_in = batch.shape
        gy, gx = self.grid_
        row_cell, col_cell = cell_index(h, gy), cell_index(w, gx)
        n_blocks = n_row_blocks(n, h)
        edges = self.bin_edges_
        n_bins = np.array([len(e) - 1 for e in edges], dtype=np.int64)
        n_ch = len(edges)
        joint = self.mode == "joint"
        strides = np.ones(n_ch, dtype=np.int64)
        for ch in range(n_ch - 2, -1, -1):
            strides[ch] = strides[ch + 1] * n_bins[ch + 1]
        offsets = np.concatenate([[0], np.cumsum(n_bins)[:-1]]).astype(np.int64)
        per_cell = int(np.prod(n_bins)) if joint else int(n_bins.sum())
        hist = np.zeros((n * n_blocks, gy * gx * per_cell))

        grey_input = n_in == 1
        if self.color_space == "gray":
            space = "identity" if grey_input else "gray"
        elif self.color_space == "rgb":
            space = "identity"
        else:
            space = self.color_space
        source = np.zeros(n_ch, np.int64) if grey_input else np.arange(n_ch, dtype=np.int64)

        if batch.dtype == np.uint8 and space == "identity":
            batch = np.ascontiguousarray(batch)
            # Per channel: what a value adds to the bin index; -2**40 when it
            # falls outside the range, so that any sum including it is negative.
            lookup = np.stack([K.bin_lookup(e, 256, scale) for e in edges])
            if joint:
                lookup = np.where(lookup >= 0, lookup * strides[:, None], -(2**40))
            else:
                lookup = np.where(lookup >= 0, lookup + offsets[:, None], -(2**40))
            col_bounds = np.searchsorted(col_cell, np.arange(gx + 1)).astype(np.int64)
            with dynamic_schedule():
                K.histogram_lut(
                    batch,
                    source,
                    lookup,
                    joint,
                    row_cell,
                    col_bounds,
                    n_blocks,
                    hist.reshape(n * n_blocks, gy * gx, per_cell),
                )
        else:
            # One float64 kernel serves every dtype (one compilation): scale
            # here exactly as the kernel would, value * scale in float64.
            if scale != 1.0:
                batch = np.multiply(batch, scale, dtype=np.float64)
                scale = 1.0
            batch = np.ascontiguousarray(batch, dtype=np.float64)
            edge_table = np.zeros((n_ch, int(n_bins.max()) + 1))
            for ch, e in enumerate(edges):
                edge_table[ch, : len(e)] = e
            with dynamic_schedule():
                K.histogram_float(
                    batch,
                    SPACE_CODES[space],
                    source,
                    scale,
                    edge_table,
                    n_bins,
                    strides,
                    offsets,
                    joint,
                    row_cell,
                    col_cell,
                    gx,
                    n_blocks,
                    hist,
                )
        hist = hist.reshape(n, n_blocks, gy * gx, per_cell).sum(axis=1)
        if joint:
            hist = _normalize(hist, self.normalize)
        else:
            hist = np.concatenate(
                [
                    _normalize(hist[..., o : o + b], self.normalize)
                    for o, b in zip(offsets, n_bins)
                ],
                axis=-1,
            )
        return hist.reshape(n, -1)

    def get_feature_names_out(
        self, input_features: ArrayLike | None = None
    ) -> NDArray[np.object_]:
        """Names of the output features: colour space, cell and bin.

        Parameters
        ----------
        input_features : None
            Ignored: images have no input feature names.

        Returns
        -------
        names : ndarray of str objects
            ``{space}_cell{row}_{col}_{channel}{bin}...``, e.g.
            ``rgb_cell0_0_r1_g0_b3`` (joint) or ``hsv_cell0_0_h5`` (marginal).
        """
        check_is_fitted(self)
        gy, gx = self.grid_
        channels = _CHANNEL_NAMES[self.color_space]
        sizes = [len(e) - 1 for e in self.bin_edges_]
        if self.mode == "joint":
            labels = [
                "_".join(f"{ch}{i}" for ch, i in zip(channels, idx)) for idx in np.ndindex(*sizes)
            ]
        else:
            labels = [f"{ch}{i}" for ch, b in zip(channels, sizes) for i in range(b)]
        names = [
            f"{self.color_space}_cell{i}_{j}_{label}"
            for i in range(gy)
            for j in range(gx)
            for label in labels
        ]
        return np.asarray(names, dtype=object)
