"""Numba kernels for colour histograms.

Two paths, both parallel over (image, block of rows):

* :func:`histogram_lut` for 8-bit images whose channels are binned as they are
  (RGB, or grey levels): every channel value goes through a 256-entry lookup
  table ``value -> bin`` computed once with the exact bin edges, so the
  per-pixel work is three table reads and one increment.
* :func:`histogram_float` for everything else: each pixel is scaled to
  [0, 1], converted to the colour space (HSV, CIE Lab, luminance) and binned
  against the bin edges.

Binning follows :func:`numpy.histogramdd` with ``bins=n`` and
``range=(lo, hi)``: bin ``k`` holds ``edges[k] <= x < edges[k + 1]`` with
``edges = numpy.linspace(lo, hi, n + 1)``; ``x == hi`` falls in the last bin
and values outside ``[lo, hi]`` are not counted.

Conversions follow the formulas of ``skimage.color`` (sRGB with the D65
white point and 2 degree observer for Lab; BT.709 luminance for grey).
"""

import numpy as np

from .._jit import njit, prange
from ._codes import SPACE_CODES

__all__ = [
    "SPACE_CODES",
    "bin_lookup",
    "convert_pixels",
    "histogram_float",
    "histogram_lut",
]

# sRGB (linear) -> CIE XYZ, and the D65 / 2 degree reference white.
_XYZ_FROM_RGB = np.array(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ]
)
_WHITE_D65 = np.array([0.95047, 1.0, 1.08883])
_GRAY = np.array([0.2125, 0.7154, 0.0721])


def bin_lookup(edges, n_values, scale):
    """Bins of the integers ``0 .. n_values - 1`` times ``scale``; -1 if not counted."""
    values = np.arange(n_values) * scale
    return _bin_values(values, edges)


def _bin_values(values, edges):
    n_bins = len(edges) - 1
    idx = np.searchsorted(edges, values, side="right") - 1
    idx[values == edges[-1]] = n_bins - 1
    idx[(values < edges[0]) | (values > edges[-1])] = -1
    return idx.astype(np.int64)


@njit(cache=True, nogil=True)
def _find_bin(x, edges, ch, n_bins):
    lo = edges[ch, 0]
    hi = edges[ch, n_bins]
    if x < lo or x > hi:
        return -1
    k = np.int64((x - lo) * (n_bins / (hi - lo)))
    if k > n_bins - 1:
        k = n_bins - 1
    if k < 0:
        k = 0
    while k > 0 and x < edges[ch, k]:
        k -= 1
    while k < n_bins - 1 and x >= edges[ch, k + 1]:
        k += 1
    return k


@njit(cache=True, nogil=True)
def _hsv(r, g, b):
    v = max(r, g, b)
    delta = v - min(r, g, b)
    if delta == 0.0:
        return 0.0, 0.0, v
    s = delta / v
    # Where channels tie for the maximum, blue wins over green over red.
    if b == v:
        h = 4.0 + (r - g) / delta
    elif g == v:
        h = 2.0 + (b - r) / delta
    else:
        h = (g - b) / delta
    return (h / 6.0) % 1.0, s, v


@njit(cache=True, nogil=True)
def _linear(u):
    if u > 0.04045:
        return ((u + 0.055) / 1.055) ** 2.4
    return u / 12.92


@njit(cache=True, nogil=True)
def _lab_f(t):
    if t > 0.008856:
        return np.cbrt(t)
    return 7.787 * t + 16.0 / 116.0


@njit(cache=True, nogil=True)
def _lab(r, g, b, m, white):
    r = _linear(r)
    g = _linear(g)
    b = _linear(b)
    x = (r * m[0, 0] + g * m[0, 1] + b * m[0, 2]) / white[0]
    y = (r * m[1, 0] + g * m[1, 1] + b * m[1, 2]) / white[1]
    z = (r * m[2, 0] + g * m[2, 1] + b * m[2, 2]) / white[2]
    fx = _lab_f(x)
    fy = _lab_f(y)
    fz = _lab_f(z)
    return 116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)


@njit(cache=True, nogil=True)
def _convert(px, space, source, scale, m, white, gray, out):
    """Channel values of one pixel ``px`` (its input channels) into ``out``."""
    if space == 0:
        for ch in range(source.shape[0]):
            out[ch] = px[source[ch]] * scale
    elif space == 3:
        out[0] = px[0] * scale * gray[0] + px[1] * scale * gray[1] + px[2] * scale * gray[2]
    else:
        r = px[source[0]] * scale
        g = px[source[1]] * scale
        b = px[source[2]] * scale
        if space == 1:
            out[0], out[1], out[2] = _hsv(r, g, b)
        else:
            out[0], out[1], out[2] = _lab(r, g, b, m, white)


@njit(cache=True, nogil=True)
def convert_pixels(images, space, source, scale, n_out, out):
    """Converted channels ``out`` (n, h, w, n_out) of images (n, h, w, c).

    Serial: the transformers convert inside the histogram kernels; this one
    exposes the conversion alone (for tests and figures).
    """
    n, h, w, _ = images.shape
    m = _XYZ_FROM_RGB
    white = _WHITE_D65
    gray = _GRAY
    for k in range(n):
        for r in range(h):
            for c in range(w):
                _convert(images[k, r, c], space, source, scale, m, white, gray, out[k, r, c])


@njit(cache=True, nogil=True)
def _count_row_lut(row, c0, c1, n_ch, joint, s0, s1, s2, lut0, lut1, lut2, hist):
    if n_ch == 1:
        for c in range(c0, c1):
            b = lut0[row[c, s0]]
            if b >= 0:
                hist[b] += 1.0
    elif joint:
        for c in range(c0, c1):
            b = lut0[row[c, s0]] + lut1[row[c, s1]] + lut2[row[c, s2]]
            if b >= 0:
                hist[b] += 1.0
    else:
        for c in range(c0, c1):
            b = lut0[row[c, s0]]
            if b >= 0:
                hist[b] += 1.0
            b = lut1[row[c, s1]]
            if b >= 0:
                hist[b] += 1.0
            b = lut2[row[c, s2]]
            if b >= 0:
                hist[b] += 1.0


@njit(cache=True, nogil=True, parallel=True)
def histogram_lut(images, source, lookup, joint, row_cell, col_bounds, n_blocks, out):
    """Histograms of uint8 images (n, h, w, c) through per-channel lookup tables.

    ``lookup[ch, value]`` is what pixel ``value`` of input channel
    ``source[ch]`` adds to the bin index: for joint histograms the channel's
    bin times its stride, for marginal ones the channel's offset plus its
    bin; a large negative number when the value is not counted. Cell
    ``(row_cell[r], j)`` spans columns ``col_bounds[j]:col_bounds[j + 1]``.
    ``out`` (n * n_blocks, n_cells, n_bins) must hold zeros.
    """
    n, h, w, _ = images.shape
    n_ch = source.shape[0]
    n_across = col_bounds.shape[0] - 1
    rows_per_block = -(-h // n_blocks)
    s0 = source[0]
    s1 = source[min(1, n_ch - 1)]
    s2 = source[min(2, n_ch - 1)]
    lut0 = lookup[0]
    lut1 = lookup[min(1, n_ch - 1)]
    lut2 = lookup[min(2, n_ch - 1)]
    for task in prange(n * n_blocks):
        k = task // n_blocks
        r0 = (task % n_blocks) * rows_per_block
        r1 = min(r0 + rows_per_block, h)
        for r in range(r0, r1):
            row = images[k, r]
            for j in range(n_across):
                _count_row_lut(
                    row,
                    col_bounds[j],
                    col_bounds[j + 1],
                    n_ch,
                    joint,
                    s0,
                    s1,
                    s2,
                    lut0,
                    lut1,
                    lut2,
                    out[task, row_cell[r] * n_across + j],
                )


@njit(cache=True, nogil=True, parallel=True)
def histogram_float(
    images,
    space,
    source,
    scale,
    edges,
    n_bins,
    strides,
    offsets,
    joint,
    row_cell,
    col_cell,
    n_cells_across,
    n_blocks,
    out,
):
    """Histograms of images (n, h, w, c) after scaling by ``scale`` and conversion.

    ``edges[ch, :n_bins[ch] + 1]`` are the bin edges of histogram channel
    ``ch``. Joint histograms use bin ``sum(bin[ch] * strides[ch])``,
    marginal ones ``offsets[ch] + bin[ch]``. ``out`` (n * n_blocks,
    n_cells * bins per cell) must hold zeros.
    """
    n, h, w, _ = images.shape
    n_ch = n_bins.shape[0]
    per_cell = out.shape[1] // (row_cell.max() * n_cells_across + n_cells_across)
    rows_per_block = -(-h // n_blocks)
    m = _XYZ_FROM_RGB
    white = _WHITE_D65
    gray = _GRAY
    for task in prange(n * n_blocks):
        k = task // n_blocks
        r0 = (task % n_blocks) * rows_per_block
        r1 = min(r0 + rows_per_block, h)
        hist = out[task]
        values = np.empty(3)
        for r in range(r0, r1):
            row = images[k, r]
            cell_base = row_cell[r] * n_cells_across
            for c in range(w):
                base = (cell_base + col_cell[c]) * per_cell
                _convert(row[c], space, source, scale, m, white, gray, values)
                if joint:
                    idx = 0
                    for ch in range(n_ch):
                        b = _find_bin(values[ch], edges, ch, n_bins[ch])
                        if b < 0:
                            idx = -1
                            break
                        idx += b * strides[ch]
                    if idx >= 0:
                        hist[base + idx] += 1.0
                else:
                    for ch in range(n_ch):
                        b = _find_bin(values[ch], edges, ch, n_bins[ch])
                        if b >= 0:
                            hist[base + offsets[ch] + b] += 1.0
