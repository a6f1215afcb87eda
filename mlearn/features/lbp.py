"""Local binary patterns: the code image and a histogram transformer."""

from numbers import Integral, Real
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._docstrings import fill_doc
from .._lazy import lazy_module
from .._sklearn_compat import Interval, StrOptions, _fit_context
from .._validation import check_lazy_output, is_dask_array, materialise_dask
from ._codes import METHOD_CODES
from ._image_input import (
    TRANSFORM_DOC,
    ImageGroup,
    Images,
    cell_index,
    check_dask_images,
    check_grid,
    check_images,
    dynamic_schedule,
    lazy_image_features,
    n_row_blocks,
    rgb_to_gray,
)

__all__ = ["LocalBinaryPattern", "local_binary_pattern"]

# the kernels import Numba: imported on first use
K = lazy_module("mlearn.features._lbp_kernels")

_METHODS = tuple(METHOD_CODES)
_MAX_P = 62
# 'default' and 'ror' histograms have up to 2**P bins.
_MAX_P_FULL_HISTOGRAM = 16
# 'var' squares sums of up to 62 neighbours: (62 * 1e150)**2 stays finite.
_MAX_VAR_MAGNITUDE = 1e150


def _check_P_R_method(P, R, method, name_P="P", name_R="R"):
    if not isinstance(P, (Integral, np.integer)) or isinstance(P, bool):
        raise TypeError(f"{name_P} must be an int, got {type(P).__name__}")
    if not 1 <= P <= _MAX_P:
        raise ValueError(f"{name_P} must be in [1, {_MAX_P}], got {P}")
    if not isinstance(R, (Real, np.floating, np.integer)) or isinstance(R, bool):
        raise TypeError(f"{name_R} must be a real number, got {type(R).__name__}")
    if not (np.isfinite(R) and R > 0):
        raise ValueError(f"{name_R} must be a positive finite number, got {R}")
    if method not in METHOD_CODES:
        raise ValueError(f"method must be one of {sorted(METHOD_CODES)}, got {method!r}")
    return int(P), float(R)


def _check_var_magnitude(batch, name, indices=None):
    """Refuse grey levels whose squares overflow in the 'var' code (NaN otherwise)."""
    peak = np.abs(batch).max(axis=(1, 2))
    bad = np.flatnonzero(peak > _MAX_VAR_MAGNITUDE)
    if bad.size:
        k = bad[0]
        where = name if indices is None else f"{name}[{indices[k]}]"
        raise ValueError(
            f"{where} has grey levels up to {peak[k]:.3g} in magnitude; "
            f"method='var' squares them and needs magnitudes of at most "
            f"{_MAX_VAR_MAGNITUDE:g}. Rescale the images."
        )


def _codes_batch(batch, P, R, method):
    """Code images (n, h, w) float64 of a float64 batch (n, h, w)."""
    n, h, w = batch.shape
    tables = K.sampling_tables(P, R, h, w)
    out = np.empty((n, h, w))
    with dynamic_schedule():
        K.lbp_codes(batch, tables, METHOD_CODES[method], n_row_blocks(n, h), out)
    return out


def local_binary_pattern(
    image: ArrayLike, P: int, R: float, method: str = "default"
) -> NDArray[np.float64]:
    """Local binary pattern codes of a grey-level image.

    Each pixel is compared with ``P`` neighbours spaced evenly on a circle of
    radius ``R`` around it (values between pixels are interpolated
    bilinearly; outside the image they are 0). Neighbour ``i`` sits at row
    offset ``-R sin(2 pi i / P)`` and column offset ``R cos(2 pi i / P)``,
    both rounded to 5 decimals, and sets bit ``i`` when it is not darker than
    the centre. The codes are identical to those of
    ``skimage.feature.local_binary_pattern``.

    Parameters
    ----------
    image : array-like of shape (height, width)
        Grey-level image, integer or floating point, with finite values of
        any range (the codes depend only on the order of the grey levels;
        for ``'var'`` magnitudes up to 1e150). Integer images are
        preferable: tiny differences between floating-point pixels flip bits.
    P : int
        Number of neighbours on the circle, 1 to 62 (the paper's P).
    R : float
        Radius of the circle in pixels (the paper's R). It is rounded to
        single precision, as scikit-image does.
    method : {'default', 'ror', 'uniform', 'nri_uniform', 'var'}, default='default'
        How the neighbours' sign bits become a code:

        - ``'default'``: the bits as an integer, ``0 .. 2**P - 1`` (grey-scale
          invariant, not rotation invariant).
        - ``'ror'``: the smallest value over the ``P`` circular rotations of
          the bits (rotation invariant).
        - ``'uniform'``: for patterns with at most two 0/1 changes along the
          open chain of neighbours 0 .. P-1, the number of ones; ``P + 1``
          for all others. Codes ``0 .. P + 1``.
        - ``'nri_uniform'``: each uniform pattern its own code
          ``0 .. P * (P - 1) + 1`` and ``P * (P - 1) + 2`` for the rest (not
          rotation invariant).
        - ``'var'``: the variance (``ddof=0``) of the ``P`` neighbour values,
          NaN where it is 0; rotation invariant, not grey-scale invariant.

    Returns
    -------
    codes : ndarray of shape (height, width), dtype float64
        The code of every pixel (the variance for ``'var'``).

    See Also
    --------
    LocalBinaryPattern : Histograms of these codes as a transformer.

    References
    ----------
    .. [1] T. Ojala, M. Pietikainen and T. Maenpaa, "Multiresolution
       gray-scale and rotation invariant texture classification with local
       binary patterns", IEEE TPAMI 24(7), 971-987, 2002.
    .. [2] T. Ahonen, A. Hadid and M. Pietikainen, "Face description with
       local binary patterns: application to face recognition", IEEE TPAMI
       28(12), 2037-2041, 2006.

    Examples
    --------
    >>> import numpy as np
    >>> from mlearn.features import local_binary_pattern
    >>> image = np.array([[5, 4, 2, 2, 1],
    ...                   [3, 5, 8, 1, 3],
    ...                   [2, 5, 4, 1, 2],
    ...                   [4, 3, 7, 2, 7],
    ...                   [1, 1, 2, 3, 2]], dtype=np.uint8)
    >>> local_binary_pattern(image, P=4, R=1, method="default").astype(int)
    array([[ 0, 12, 13,  4, 12],
           [ 3,  9,  0, 15,  0],
           [11,  2, 14, 15, 10],
           [ 0,  7,  0, 13,  0],
           [ 3,  7,  3,  0,  6]])
    >>> local_binary_pattern(image, P=4, R=1, method="uniform").astype(int)
    array([[0, 2, 3, 1, 2],
           [2, 2, 0, 4, 0],
           [3, 1, 3, 4, 5],
           [0, 3, 0, 3, 0],
           [2, 3, 2, 0, 2]])
    """
    P, R = _check_P_R_method(P, R, method)
    array = np.asarray(image)
    if array.ndim != 2:
        raise ValueError(
            f"image must be a 2-D grey-level array (height, width); got shape "
            f"{array.shape}. Convert colour images to grey first."
        )
    if array.dtype.kind not in "uifb":
        raise TypeError(f"image must hold real pixel values; got dtype {array.dtype}")
    if array.size == 0:
        raise ValueError(f"image is empty (shape {array.shape})")
    batch = np.ascontiguousarray(array, dtype=np.float64)[np.newaxis]
    if not np.isfinite(batch).all():
        raise ValueError("image contains NaN or infinity; pixel values must be finite")
    if method == "var":
        _check_var_magnitude(batch, "image")
    return _codes_batch(batch, P, R, method)[0]


def _check_colour_dtype(batch):
    if batch.ndim == 4 and batch.dtype.kind == "i":
        raise TypeError(
            "colour images for LocalBinaryPattern must be unsigned integers or "
            f"floats; got dtype {batch.dtype}"
        )


def _grey_batch(group, method):
    """A group's images as a float64 grey-level batch (n, h, w)."""
    batch = group.batch
    _check_colour_dtype(batch)
    if batch.ndim == 3:
        grey = np.ascontiguousarray(batch, dtype=np.float64)
    else:
        kind = batch.dtype.kind
        scale = 1.0 / np.iinfo(batch.dtype).max if kind == "u" else 1.0
        grey = rgb_to_gray(batch, scale)
    if method == "var":
        _check_var_magnitude(grey, "X", group.indices)
    return grey


class LocalBinaryPattern(TransformerMixin, BaseEstimator):
    """Histograms of local binary patterns, per cell of a grid, over several scales.

    Each image is turned into local binary pattern codes (see
    :func:`local_binary_pattern`, whose codes match scikit-image's), the
    image is divided into a ``grid`` of cells, and the histogram of codes of
    every cell is computed, normalised and concatenated. With ``scales`` the
    same is done for every ``(P, R)`` pair and the results are concatenated.
    Colour images are first reduced to their luminance
    ``0.2125 R + 0.7154 G + 0.0721 B`` (as ``skimage.color.rgb2gray``).

    Pixel values may have any finite range, floating-point ones included:
    unlike colour histograms, the codes depend only on the order of the grey
    levels. Grey-level images are used as they are, while ``uint8`` and
    ``uint16`` colour images are scaled to [0, 1] before their luminance is
    taken. Only ``'var'`` sees the scale: its bin edges are learned on the
    training images, so transform images of the same kind and scale.

    Parameters
    ----------
    P : int, default=8
        Number of neighbours on the circle (ignored when ``scales`` is set).
    R : float, default=1.0
        Radius of the circle in pixels (ignored when ``scales`` is set).
    method : {'default', 'ror', 'uniform', 'nri_uniform', 'var'}, default='uniform'
        Kind of code, as in :func:`local_binary_pattern`. The histogram has
        ``2**P`` bins for ``'default'`` (P at most 16), one bin per distinct
        rotation-invariant pattern for ``'ror'`` (36 for P=8; P at most 16),
        ``P + 2`` for ``'uniform'``, ``P * (P - 1) + 3`` for
        ``'nri_uniform'`` and ``var_bins`` for ``'var'``.
    grid : int or (int, int), default=(1, 1)
        Number of cells down and across; cells split the image like
        :func:`numpy.array_split`. An int ``g`` means ``(g, g)``.
    scales : list of (int, float), default=None
        ``(P, R)`` pairs; the histograms of all scales are concatenated.
    normalize : {'l1', 'l2'} or None, default='l1'
        Normalisation of every cell's histogram (per scale). None keeps counts.
    var_bins : int, default=16
        Number of bins for ``method='var'``. Their edges are quantiles of the
        local variances of the training images, so every bin holds about the
        same number of training pixels; flat neighbourhoods (variance 0) count
        in the first bin.

    Attributes
    ----------
    scales_ : list of (int, float)
        The ``(P, R)`` pairs used.
    n_bins_ : list of int
        Histogram bins per cell, for every scale.
    var_bin_edges_ : list of ndarray or None
        For ``method='var'``, the ``var_bins - 1`` inner bin edges of every scale.
    n_features_out_ : int
        Length of the feature vector of one image.

    See Also
    --------
    local_binary_pattern : The code image of one image.
    ColorHistogram : Colour histograms, the other hand-crafted image feature.

    Notes
    -----
    Images are not tabular data: ``X`` is an array of images
    ``(n_images, height, width[, channels])``, a list of images of any sizes
    or a list of file paths (read with Pillow).

    Examples
    --------
    >>> import numpy as np
    >>> from mlearn.features import LocalBinaryPattern
    >>> rng = np.random.default_rng(0)
    >>> images = rng.integers(0, 256, size=(4, 32, 32), dtype=np.uint8)
    >>> lbp = LocalBinaryPattern(P=8, R=1, grid=(2, 2)).fit(images)
    >>> features = lbp.transform(images)
    >>> features.shape
    (4, 40)
    >>> np.allclose(features[:, :10].sum(axis=1), 1.0)
    True
    >>> lbp.get_feature_names_out()[:2]
    array(['lbp_p8_r1_uniform_cell0_0_code0', 'lbp_p8_r1_uniform_cell0_0_code1'],
          dtype=object)
    """

    _input_kind = "images"

    _parameter_constraints: dict = {
        "P": [Interval(Integral, 1, _MAX_P, closed="both")],
        "R": [Interval(Real, 0, None, closed="neither")],
        "method": [StrOptions(set(_METHODS))],
        "grid": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "scales": ["array-like", None],
        "normalize": [StrOptions({"l1", "l2"}), None],
        "var_bins": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        P: int = 8,
        R: float = 1.0,
        method: str = "uniform",
        grid: int | tuple[int, int] = (1, 1),
        scales: list[tuple[int, float]] | None = None,
        normalize: str | None = "l1",
        var_bins: int = 16,
    ) -> None:
        self.P = P
        self.R = R
        self.method = method
        self.grid = grid
        self.scales = scales
        self.normalize = normalize
        self.var_bins = var_bins

    def _check_scales(self):
        if self.scales is None:
            pairs = [(self.P, self.R)]
        else:
            try:
                pairs = [tuple(s) for s in self.scales]
            except TypeError:
                pairs = None
            if not pairs or any(len(p) != 2 for p in pairs):
                raise ValueError(
                    f"scales must be a non-empty list of (P, R) pairs, got {self.scales!r}"
                )
        checked = []
        for k, (P, R) in enumerate(pairs):
            P, R = _check_P_R_method(P, R, self.method, f"scales[{k}][0]", f"scales[{k}][1]")
            if self.method in ("default", "ror") and P > _MAX_P_FULL_HISTOGRAM:
                raise ValueError(
                    f"method={self.method!r} histograms have up to 2**P bins; P must "
                    f"be at most {_MAX_P_FULL_HISTOGRAM}, got P={P}. Use 'uniform' "
                    "or 'nri_uniform' for larger P."
                )
            checked.append((P, R))
        return checked

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Images, y: ArrayLike | None = None) -> "LocalBinaryPattern":
        """Check the parameters and images; for 'var', learn the bin edges.

        Parameters
        ----------
        X : ndarray of shape (n_images, height, width[, channels]) or list
            Images, or a list of images of any sizes or of file paths. A
            dask array is not read, except by ``method='var'``: its shape and
            dtype are checked, its pixel values when it is transformed.
            ``'var'`` needs every pixel to learn its bin edges and loads a
            dask array into memory under ``mlearn.get_config()
            ["materialise_budget"]``, with a warning (a larger one is an
            error).
        y : None
            Ignored.

        Returns
        -------
        self : LocalBinaryPattern
            The fitted transformer.
        """
        grid = check_grid(self.grid)
        scales = self._check_scales()
        if is_dask_array(X) and self.method != "var":
            # nothing is learned from the pixels: check what can be checked
            # without reading them, the values when they are transformed
            _check_colour_dtype(check_dask_images(X))
            groups = []
        else:
            # 'var' learns its bin edges from every pixel
            X = materialise_dask(X, "X", caller=type(self).__name__)
            _, groups = check_images(X)
        var_edges = None
        if self.method == "var":
            var_edges = []
            quantiles = np.linspace(0, 1, self.var_bins + 1)[1:-1]
            for P, R in scales:
                values = np.concatenate(
                    [_codes_batch(_grey_batch(g, "var"), P, R, "var").ravel() for g in groups]
                )
                values = values[np.isfinite(values)]
                if values.size == 0:
                    var_edges.append(np.zeros(self.var_bins - 1))
                else:
                    var_edges.append(np.quantile(values, quantiles))
        self.scales_ = scales
        self.grid_ = grid
        self.var_bin_edges_ = var_edges
        self.n_bins_ = [self._n_bins(P) for P, _ in scales]
        self.n_features_out_ = grid[0] * grid[1] * sum(self.n_bins_)
        return self

    def _n_bins(self, P):
        if self.method == "var":
            return self.var_bins
        if self.method == "ror":
            return len(K.ror_table(P)[1])
        return K.n_codes(P, self.method)

    # Any: an ndarray, a dask array for dask input, or set_output's DataFrame
    @fill_doc(**TRANSFORM_DOC)
    def transform(self, X: Images) -> Any:
        """Histograms of LBP codes of every image.

        {dask_input} The fitted state (``'var'`` bin
        edges included) is one key of the graph, sent to each worker of a
        cluster once.

        Parameters
        ----------
        {X}

        Returns
        -------
        features : ndarray of shape (n_images, n_features)
            For every scale and every cell (row by row), the cell's histogram.
            ``n_features`` is ``n_features_out_``. A dask array for dask
            input.

        Raises
        ------
        {raises}

        Examples
        --------
        >>> import numpy as np
        >>> import dask.array as da
        >>> from mlearn.features import LocalBinaryPattern
        >>> images = np.random.default_rng(0).integers(0, 256, (30, 16, 16), np.uint8)
        >>> lbp = LocalBinaryPattern(P=8, R=1).fit(images)
        >>> features = lbp.transform(da.from_array(images, chunks=(10, 16, 16)))
        >>> features.chunks  # lazy: nothing is computed yet
        ((10, 10, 10), (10,))
        >>> np.array_equal(features.compute(), lbp.transform(images))
        True
        """
        check_is_fitted(self)
        if is_dask_array(X):
            check_lazy_output(self)
            X = check_dask_images(X)
            _check_colour_dtype(X)
            return lazy_image_features(self, X)
        n_images, groups = check_images(X)
        features = np.empty((n_images, self.n_features_out_))
        for group in groups:
            grey = _grey_batch(group, self.method)
            features[group.indices] = self._transform_group(grey)
        return features

    def _transform_block(self, block, first):
        """Features of an array of images whose first is image ``first`` of the whole input."""
        _, (group,) = check_images(block)
        group = ImageGroup(group.indices + first, group.batch)
        return self._transform_group(_grey_batch(group, self.method))

    def _transform_group(self, batch):
        n, h, w = batch.shape
        gy, gx = self.grid_
        row_cell, col_cell = cell_index(h, gy), cell_index(w, gx)
        n_blocks = n_row_blocks(n, h)
        method_code = METHOD_CODES[self.method]
        parts = []
        for s, ((P, R), n_bins) in enumerate(zip(self.scales_, self.n_bins_)):
            tables = K.sampling_tables(P, R, h, w)
            lookup = K.ror_table(P)[0] if self.method == "ror" else np.empty(0, np.int64)
            edges = self.var_bin_edges_[s] if self.method == "var" else np.empty(0)
            hist = np.zeros((n * n_blocks, gy * gx, n_bins))
            with dynamic_schedule():
                K.lbp_histograms(
                    batch,
                    tables,
                    method_code,
                    lookup,
                    edges,
                    row_cell,
                    col_cell,
                    gx,
                    n_blocks,
                    hist,
                )
            hist = hist.reshape(n, n_blocks, gy * gx, n_bins).sum(axis=1)
            parts.append(_normalize(hist, self.normalize).reshape(n, -1))
        return np.concatenate(parts, axis=1)

    def get_feature_names_out(
        self, input_features: ArrayLike | None = None
    ) -> NDArray[np.object_]:
        """Names of the output features: scale, cell and code of every bin.

        Parameters
        ----------
        input_features : None
            Ignored: images have no input feature names.

        Returns
        -------
        names : ndarray of str objects
            ``lbp_p{P}_r{R}_{method}_cell{row}_{col}_code{k}`` (``bin{k}``
            for ``'var'``).
        """
        check_is_fitted(self)
        gy, gx = self.grid_
        kind = "bin" if self.method == "var" else "code"
        names: list[str] = []
        for (P, R), n_bins in zip(self.scales_, self.n_bins_):
            stem = f"lbp_p{P}_r{R:g}_{self.method}"
            for i in range(gy):
                for j in range(gx):
                    names.extend(f"{stem}_cell{i}_{j}_{kind}{k}" for k in range(n_bins))
        return np.asarray(names, dtype=object)


def _normalize(hist, normalize):
    """Normalise the last axis of ``hist``; all-zero histograms stay zero."""
    if normalize is None:
        return hist
    if normalize == "l1":
        norm = hist.sum(axis=-1, keepdims=True)
    else:
        norm = np.sqrt((hist * hist).sum(axis=-1, keepdims=True))
    return np.divide(hist, norm, out=np.zeros_like(hist), where=norm > 0)
