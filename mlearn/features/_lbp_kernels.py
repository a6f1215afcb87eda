"""Numba kernels for local binary patterns.

The kernels trust their inputs: ``mlearn.features.lbp`` validates images and
parameters and prepares the sampling tables with :func:`sampling_tables`.

Exactness. The codes reproduce ``skimage.feature.local_binary_pattern``
bit for bit. The neighbours sit at ``(r + dr_i, c + dc_i)`` with offsets
rounded to 5 decimals, and each neighbour value is the bilinear interpolation
``(1 - fr) * ((1 - fc) * tl + fc * tr) + fr * ((1 - fc) * bl + fc * br)``
with zeros outside the image. The fractions ``fr`` and ``fc`` are taken
from the absolute positions ``r + dr_i`` (not from ``dr_i`` alone), because
``(r + dr_i) - floor(r + dr_i)`` differs from ``dr_i - floor(dr_i)`` in the
last bits; they are tabulated per row and per column, so the kernel does the
same floating-point operations in the same order as the reference.
"""

import numpy as np

from .._jit import njit, prange
from ._codes import METHOD_CODES

__all__ = [
    "METHOD_CODES",
    "lbp_codes",
    "lbp_histograms",
    "n_codes",
    "ror_table",
    "sampling_tables",
]


def sampling_tables(P, R, height, width):
    """Neighbour offsets and interpolation fractions for a ``height x width`` image.

    Returns ``(lo_r, hi_r, lo_c, hi_c, frac_r, frac_c, margin)``: integer
    offsets (P,) of the floor and ceil rows and columns of each neighbour,
    fractions ``frac_r`` (height, P) and ``frac_c`` (P, width), and the zero
    padding every side needs.
    """
    # R is single precision in scikit-image's kernel; round it the same way.
    R = float(np.float32(R))
    angles = 2 * np.pi * np.arange(P, dtype=np.float64) / P
    rp = np.round(-R * np.sin(angles), 5)
    cp = np.round(R * np.cos(angles), 5)
    lo_r = np.floor(rp).astype(np.int64)
    hi_r = np.ceil(rp).astype(np.int64)
    lo_c = np.floor(cp).astype(np.int64)
    hi_c = np.ceil(cp).astype(np.int64)
    pos_r = np.arange(height, dtype=np.float64)[:, None] + rp[None, :]
    pos_c = np.arange(width, dtype=np.float64)[:, None] + cp[None, :]
    floor_r = np.floor(pos_r)
    floor_c = np.floor(pos_c)
    # The kernel indexes neighbours as r + lo_r[i]; that equals floor(r + rp[i])
    # because the offsets are at least 1e-5 away from an integer or are one.
    if not (
        np.array_equal(floor_r, np.arange(height)[:, None] + lo_r[None, :])
        and np.array_equal(floor_c, np.arange(width)[:, None] + lo_c[None, :])
    ):  # pragma: no cover - would need images of ~1e11 pixels a side
        raise ValueError("image too large for exact LBP sampling")
    frac_r = np.ascontiguousarray(pos_r - floor_r)
    frac_c = np.ascontiguousarray((pos_c - floor_c).T)
    margin = int(
        max(
            np.abs(lo_r).max(),
            np.abs(hi_r).max(),
            np.abs(lo_c).max(),
            np.abs(hi_c).max(),
        )
    )
    return lo_r, hi_r, lo_c, hi_c, frac_r, frac_c, margin


def n_codes(P, method):
    """Number of distinct integer codes (histogram bins) of an integer method."""
    if method == "default":
        return 2**P
    if method == "uniform":
        return P + 2
    if method == "nri_uniform":
        return P * (P - 1) + 3
    raise ValueError(f"no fixed code count for method {method!r}")


def ror_table(P):
    """Rotation-invariant codes: lookup ``code -> bin``, and the distinct codes."""
    codes = np.arange(2**P, dtype=np.int64)
    best = codes.copy()
    rotated = codes.copy()
    for _ in range(1, P):
        rotated = (rotated >> 1) | ((rotated & 1) << (P - 1))
        np.minimum(best, rotated, out=best)
    distinct = np.unique(best)
    return np.searchsorted(distinct, best).astype(np.int64), distinct


@njit(cache=True, nogil=True)
def _popcount(v):
    v = v - ((v >> 1) & 0x5555555555555555)
    v = (v & 0x3333333333333333) + ((v >> 2) & 0x3333333333333333)
    v = (v + (v >> 4)) & 0x0F0F0F0F0F0F0F0F
    return (v * 0x0101010101010101) >> 56


@njit(cache=True, nogil=True)
def _trailing_zeros(v, limit):
    k = 0
    while k < limit and not (v >> k) & 1:
        k += 1
    return k


@njit(cache=True, nogil=True)
def _finish_code(bits, P, method):
    """Integer code of a neighbourhood from its sign bits (bit i = neighbour i)."""
    if method == 0:
        return bits
    if method == 1:
        best = bits
        v = bits
        for _ in range(1, P):
            v = (v >> 1) | ((v & 1) << (P - 1))
            if v < best:
                best = v
        return best
    changes = _popcount((bits ^ (bits >> 1)) & ((np.int64(1) << (P - 1)) - 1))
    if method == 2:
        if changes <= 2:
            return _popcount(bits)
        return P + 1
    # nri_uniform
    if changes > 2:
        return P * (P - 1) + 2
    n_ones = _popcount(bits)
    if n_ones == 0:
        return 0
    if n_ones == P:
        return P * (P - 1) + 1
    first_one = _trailing_zeros(bits, P)
    if first_one == 0:
        rot = n_ones - _trailing_zeros(~bits, P)
    else:
        rot = P - first_one
    return 1 + (n_ones - 1) * P + rot


@njit(cache=True, nogil=True)
def _pad_rows(image, r0, r1, margin):
    """Rows ``r0 - margin .. r1 + margin`` of ``image`` with zero padding around."""
    h, w = image.shape
    pad = np.zeros((r1 - r0 + 2 * margin, w + 2 * margin))
    for r in range(max(r0 - margin, 0), min(r1 + margin, h)):
        pr = r - r0 + margin
        for c in range(w):
            pad[pr, c + margin] = image[r, c]
    return pad


@njit(cache=True, nogil=True)
def _lbp_row(
    pad,
    pr,
    margin,
    lo_r,
    hi_r,
    lo_c,
    hi_c,
    fr_row,
    frac_c,
    method,
    bits,
    s1,
    s2,
    out_row,
):
    """Codes of one image row (padded row ``pr``) into ``out_row``."""
    P = lo_r.shape[0]
    w = out_row.shape[0]
    is_var = method == 4
    for c in range(w):
        bits[c] = 0
        s1[c] = 0.0
        s2[c] = 0.0
    # Slices that start at column 0 of each neighbour keep every index in the
    # inner loops non-negative, so no wrap-around checks and SIMD code.
    centre = pad[pr, margin : margin + w]
    for i in range(P):
        fr = fr_row[i]
        gr = 1 - fr
        cl = lo_c[i] + margin
        ch = hi_c[i] + margin
        tl = pad[pr + lo_r[i], cl : cl + w]
        tr = pad[pr + lo_r[i], ch : ch + w]
        bl = pad[pr + hi_r[i], cl : cl + w]
        br = pad[pr + hi_r[i], ch : ch + w]
        fc_i = frac_c[i]
        if is_var:
            for c in range(w):
                fc = fc_i[c]
                gc = 1 - fc
                v = gr * (gc * tl[c] + fc * tr[c]) + fr * (gc * bl[c] + fc * br[c])
                s1[c] += v
                s2[c] += v * v
        else:
            bit = np.int64(1) << i
            for c in range(w):
                fc = fc_i[c]
                gc = 1 - fc
                v = gr * (gc * tl[c] + fc * tr[c]) + fr * (gc * bl[c] + fc * br[c])
                bits[c] |= (v - centre[c] >= 0) * bit
    if is_var:
        for c in range(w):
            var = (s2[c] - (s1[c] * s1[c]) / P) / P
            out_row[c] = var if var != 0 else np.nan
    else:
        for c in range(w):
            out_row[c] = _finish_code(bits[c], P, method)


@njit(cache=True, nogil=True)
def _block_codes(image, r0, r1, tables, method, out):
    """Codes of rows ``r0`` to ``r1`` of one image into ``out`` (r1 - r0, w).

    ``tables`` is what :func:`sampling_tables` returns for the image's size.
    """
    lo_r, hi_r, lo_c, hi_c, frac_r, frac_c, margin = tables
    w = image.shape[1]
    pad = _pad_rows(image, r0, r1, margin)
    bits = np.empty(w, dtype=np.int64)
    s1 = np.empty(w)
    s2 = np.empty(w)
    for r in range(r0, r1):
        _lbp_row(
            pad,
            r - r0 + margin,
            margin,
            lo_r,
            hi_r,
            lo_c,
            hi_c,
            frac_r[r],
            frac_c,
            method,
            bits,
            s1,
            s2,
            out[r - r0],
        )


@njit(cache=True, nogil=True, parallel=True)
def lbp_codes(images, tables, method, n_blocks, out):
    """Code images ``out`` (n, h, w) of float64 images (n, h, w), with the
    ``tables`` of :func:`sampling_tables` for their size."""
    n, h, w = images.shape
    rows_per_block = -(-h // n_blocks)
    for task in prange(n * n_blocks):
        k = task // n_blocks
        r0 = (task % n_blocks) * rows_per_block
        r1 = min(r0 + rows_per_block, h)
        if r0 >= r1:
            continue
        _block_codes(images[k], r0, r1, tables, method, out[k, r0:r1])


@njit(cache=True, nogil=True, parallel=True)
def lbp_histograms(
    images,
    tables,
    method,
    lookup,
    var_edges,
    row_cell,
    col_cell,
    n_cells_across,
    n_blocks,
    out,
):
    """Histograms of codes per grid cell, without storing the code images.

    ``tables`` are those of :func:`sampling_tables` for the images' size.
    ``out`` has shape (n * n_blocks, n_cells, n_bins) and must hold zeros;
    block ``b`` of image ``k`` adds its counts to ``out[k * n_blocks + b]``.
    Integer codes go to bin ``lookup[code]`` (or the code itself when
    ``lookup`` is empty); 'var' values to the number of ``var_edges`` at or
    below them (NaN, a flat neighbourhood, to bin 0).
    """
    n, h, w = images.shape
    rows_per_block = -(-h // n_blocks)
    use_lookup = lookup.shape[0] > 0
    n_edges = var_edges.shape[0]
    for task in prange(n * n_blocks):
        k = task // n_blocks
        r0 = (task % n_blocks) * rows_per_block
        r1 = min(r0 + rows_per_block, h)
        if r0 >= r1:
            continue
        hist = out[task]
        block = np.empty((r1 - r0, w))
        _block_codes(images[k], r0, r1, tables, method, block)
        for r in range(r0, r1):
            codes = block[r - r0]
            cell_base = row_cell[r] * n_cells_across
            for c in range(w):
                if method == 4:
                    value = codes[c]
                    b = 0
                    if value == value:
                        while b < n_edges and var_edges[b] <= value:
                            b += 1
                elif use_lookup:
                    b = lookup[np.int64(codes[c])]
                else:
                    b = np.int64(codes[c])
                hist[cell_base + col_cell[c], b] += 1.0
