import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.pipeline import FeatureUnion, make_pipeline
from sklearn.preprocessing import StandardScaler

from mlearn.features import ColorHistogram
from mlearn.features._color_kernels import SPACE_CODES, convert_pixels

skcolor = pytest.importorskip("skimage.color")

SPACES = ["rgb", "hsv", "lab", "gray"]


def sk_convert(image, space):
    """Reference conversion of one (h, w, 3) image in [0, 1] (or uint8)."""
    if space == "rgb":
        return _as_float(image)
    if space == "hsv":
        return skcolor.rgb2hsv(image)
    if space == "lab":
        return skcolor.rgb2lab(image)
    return skcolor.rgb2gray(image)[..., np.newaxis]


def _as_float(image):
    if image.dtype == np.uint8:  # as skimage.util.img_as_float
        return image * (1.0 / 255)
    return image.astype(np.float64)


def ours_convert(images, space):
    images = np.ascontiguousarray(_as_float(images))
    n_out = 1 if space == "gray" else 3
    out = np.empty(images.shape[:3] + (n_out,))
    code = SPACE_CODES["identity" if space == "rgb" else space]
    convert_pixels(images, code, np.arange(n_out, dtype=np.int64), 1.0, n_out, out)
    return out


def colour_test_pixels():
    rng = np.random.default_rng(0)
    levels = np.array([0, 1, 2, 127, 128, 254, 255], dtype=np.uint8)
    corners = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), -1).reshape(-1, 3)
    greys = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
    random = rng.integers(0, 256, size=(4000, 3), dtype=np.uint8)
    pixels = np.concatenate([corners, greys, random])
    return pixels.reshape(1, -1, 1, 3)


@pytest.mark.parametrize("dtype", ["uint8", "float64"])
@pytest.mark.parametrize("space", ["hsv", "lab", "gray"])
def test_conversions_match_scikit_image(space, dtype):
    pixels = colour_test_pixels()
    if dtype == "float64":
        rng = np.random.default_rng(1)
        pixels = np.concatenate([pixels * (1.0 / 255), rng.random((1, 3000, 1, 3))], axis=1)
    ours = ours_convert(pixels, space)[0]
    theirs = sk_convert(pixels[0], space)
    if space == "hsv":
        # the same operations in the same order: identical
        np.testing.assert_array_equal(ours, theirs)
    else:
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


def _reference_histogram(values, edges, mode):
    bins = [len(e) - 1 for e in edges]
    ranges = [(e[0], e[-1]) for e in edges]
    if mode == "joint":
        return np.histogramdd(values, bins=bins, range=ranges)[0].ravel()
    return np.concatenate(
        [
            np.histogram(values[:, j], bins=b, range=r)[0]
            for j, (b, r) in enumerate(zip(bins, ranges))
        ]
    )


def _cells(image, grid):
    return [
        cell
        for rows in np.array_split(image, grid[0], axis=0)
        for cell in np.array_split(rows, grid[1], axis=1)
    ]


@pytest.fixture(scope="module")
def rgb_uint8():
    return np.random.default_rng(2).integers(0, 256, size=(4, 21, 17, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def rgb_float():
    return np.random.default_rng(3).random((4, 19, 22, 3))


@pytest.mark.parametrize("mode", ["joint", "marginal"])
@pytest.mark.parametrize("space", SPACES)
@pytest.mark.parametrize("images", ["rgb_uint8", "rgb_float"])
def test_histograms_match_numpy(images, space, mode, request):
    images = request.getfixturevalue(images)
    grid = (2, 3)
    hist = ColorHistogram(bins=5, color_space=space, mode=mode, grid=grid, normalize=None).fit(
        images
    )
    features = hist.transform(images)
    per_cell = hist.n_features_out_ // 6
    for image, row in zip(images, features):
        converted = sk_convert(image, space)
        if space in ("hsv", "rgb"):
            # identical conversions: the bins must agree exactly
            expected = [
                _reference_histogram(c.reshape(-1, c.shape[-1]), hist.bin_edges_, mode)
                for c in _cells(converted, grid)
            ]
            np.testing.assert_array_equal(row, np.concatenate(expected))
        else:
            # conversions agree to ~1e-15; bin our own converted values with numpy
            ours = ours_convert(image[np.newaxis], space)[0]
            np.testing.assert_allclose(ours, converted, rtol=1e-12, atol=1e-12)
            expected = [
                _reference_histogram(c.reshape(-1, c.shape[-1]), hist.bin_edges_, mode)
                for c in _cells(ours, grid)
            ]
            np.testing.assert_array_equal(row, np.concatenate(expected))
        assert row.size == 6 * per_cell


def test_uint8_rgb_bins_all_levels_like_numpy():
    # every 8-bit level, including those on bin edges (0, 255 and k * 255 / 8)
    levels = np.arange(256, dtype=np.uint8)
    image = np.stack([levels, levels[::-1], np.roll(levels, 100)], axis=-1)[np.newaxis]
    image = image.reshape(1, 16, 16, 3)
    for bins in (8, 3, 7):
        hist = ColorHistogram(bins=bins, normalize=None).fit(image)
        expected = np.histogramdd(
            image.reshape(-1, 3) * (1.0 / 255), bins=bins, range=[(0, 1)] * 3
        )[0].ravel()
        np.testing.assert_array_equal(hist.transform(image)[0], expected)


def test_other_dtypes_and_grey_input(rgb_float):
    u16 = (rgb_float * 65535).astype(np.uint16)
    hist = ColorHistogram(bins=4, normalize=None).fit(u16)
    expected = np.histogramdd(u16[0].reshape(-1, 3) * (1.0 / 65535), bins=4, range=[(0, 1)] * 3)[
        0
    ].ravel()
    np.testing.assert_array_equal(hist.transform(u16)[0], expected)

    f32 = rgb_float.astype(np.float32)
    expected = np.histogramdd(
        f32[1].reshape(-1, 3).astype(np.float64), bins=4, range=[(0, 1)] * 3
    )[0].ravel()
    np.testing.assert_array_equal(hist.transform(f32)[1], expected)

    # grey images are RGB images with three equal channels
    grey = (rgb_float[..., 0] * 255).astype(np.uint8)
    as_rgb = np.repeat(grey[..., np.newaxis], 3, axis=-1)
    for space in SPACES:
        for mode in ("joint", "marginal"):
            h = ColorHistogram(bins=4, color_space=space, mode=mode).fit(grey)
            np.testing.assert_allclose(h.transform(grey), h.transform(as_rgb), rtol=0, atol=1e-15)
    # the alpha channel is ignored
    rgba = np.concatenate([rgb_float, rgb_float[..., :1] * 0.5], axis=-1)
    np.testing.assert_array_equal(hist.transform(rgba), hist.transform(rgb_float))


def test_grey_space_on_grey_images_is_a_histogram_of_the_levels():
    rng = np.random.default_rng(4)
    grey = rng.integers(0, 256, size=(3, 10, 12), dtype=np.uint8)
    hist = ColorHistogram(bins=16, color_space="gray", normalize=None).fit(grey)
    for image, row in zip(grey, hist.transform(grey)):
        expected = np.histogram(image * (1.0 / 255), bins=16, range=(0, 1))[0]
        np.testing.assert_array_equal(row, expected)


def test_lab_default_range_holds_every_srgb_colour():
    levels = np.array([0, 1, 50, 128, 200, 254, 255], dtype=np.uint8)
    cube = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), -1)
    rng = np.random.default_rng(5)
    random = rng.integers(0, 256, size=(7, 7, 7, 3), dtype=np.uint8)
    image = np.concatenate([cube, random], axis=0).reshape(1, -1, 7, 3)
    counts = ColorHistogram(color_space="lab", normalize=None).fit(image).transform(image)
    assert counts.sum() == image.shape[1] * image.shape[2]


def test_custom_range_drops_values_outside(rgb_float):
    ranges = [(0.25, 0.75), (0.0, 1.0), (0.5, 1.0)]
    hist = ColorHistogram(bins=(2, 3, 4), range=ranges, normalize=None).fit(rgb_float)
    assert [len(e) - 1 for e in hist.bin_edges_] == [2, 3, 4]
    row = hist.transform(rgb_float)[0]
    expected = np.histogramdd(rgb_float[0].reshape(-1, 3), bins=(2, 3, 4), range=ranges)[0].ravel()
    np.testing.assert_array_equal(row, expected)
    assert row.sum() < rgb_float[0].shape[0] * rgb_float[0].shape[1]


@pytest.mark.parametrize("mode", ["joint", "marginal"])
def test_normalisation(rgb_uint8, mode):
    raw = ColorHistogram(bins=3, mode=mode, grid=2, normalize=None).fit_transform(rgb_uint8)
    l1 = ColorHistogram(bins=3, mode=mode, grid=2).fit_transform(rgb_uint8)
    l2 = ColorHistogram(bins=3, mode=mode, grid=2, normalize="l2").fit_transform(rgb_uint8)
    size = 27 if mode == "joint" else 3
    blocks = raw.reshape(len(raw), -1, size)
    np.testing.assert_allclose(
        l1.reshape(blocks.shape), blocks / blocks.sum(axis=2, keepdims=True)
    )
    np.testing.assert_allclose(
        l2.reshape(blocks.shape), blocks / np.linalg.norm(blocks, axis=2, keepdims=True)
    )


def test_list_of_sizes_and_row_blocks(rgb_uint8):
    rng = np.random.default_rng(6)
    images = [
        rng.integers(0, 256, size=s, dtype=np.uint8)
        for s in [(40, 30, 3), (9, 70, 3), (40, 30, 3), (33, 33)]
    ]
    for space in ("rgb", "hsv"):
        hist = ColorHistogram(bins=4, color_space=space, grid=(3, 2)).fit(images)
        together = hist.transform(images)
        for image, row in zip(images, together):
            np.testing.assert_array_equal(hist.transform([image])[0], row)
            np.testing.assert_array_equal(hist.transform(np.stack([image] * 9))[2], row)


def test_feature_names(rgb_uint8):
    joint = ColorHistogram(bins=(2, 3, 4), grid=(2, 1)).fit(rgb_uint8)
    names = joint.get_feature_names_out()
    assert len(names) == joint.n_features_out_ == 2 * 24
    assert names[0] == "rgb_cell0_0_r0_g0_b0"
    assert names[1] == "rgb_cell0_0_r0_g0_b1"
    assert names[4] == "rgb_cell0_0_r0_g1_b0"
    assert names[-1] == "rgb_cell1_0_r1_g2_b3"
    marginal = ColorHistogram(bins=3, color_space="lab", mode="marginal").fit(rgb_uint8)
    assert list(marginal.get_feature_names_out()) == [
        "lab_cell0_0_L0",
        "lab_cell0_0_L1",
        "lab_cell0_0_L2",
        "lab_cell0_0_a0",
        "lab_cell0_0_a1",
        "lab_cell0_0_a2",
        "lab_cell0_0_b0",
        "lab_cell0_0_b1",
        "lab_cell0_0_b2",
    ]


def test_does_not_modify_input(rgb_float):
    images = rgb_float.copy()
    ColorHistogram(color_space="lab").fit(images).transform(images)
    np.testing.assert_array_equal(images, rgb_float)


def test_clone_pickle_pipeline(rgb_uint8):
    hist = ColorHistogram(bins=4, color_space="hsv", grid=2)
    with pytest.raises(Exception, match="not fitted"):
        hist.transform(rgb_uint8)
    fitted = clone(hist).fit(rgb_uint8)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.transform(rgb_uint8), fitted.transform(rgb_uint8))
    assert not hasattr(clone(fitted), "bin_edges_")
    union = FeatureUnion(
        [
            ("rgb", ColorHistogram(bins=2)),
            ("hsv", ColorHistogram(bins=3, color_space="hsv", mode="marginal")),
        ]
    )
    pipe = make_pipeline(union, StandardScaler())
    assert pipe.fit_transform(rgb_uint8).shape == (4, 8 + 9)
    assert list(union.get_feature_names_out()[[0, 8]]) == [
        "rgb__rgb_cell0_0_r0_g0_b0",
        "hsv__hsv_cell0_0_h0",
    ]


@pytest.mark.parametrize(
    "params, error, match",
    [
        (dict(bins=(2, 3)), ValueError, "bins must be"),
        (dict(bins=(2, 0, 3)), ValueError, "bins must be"),
        (dict(bins=(2.5, 2, 2)), ValueError, "bins must be"),
        (dict(bins=300), ValueError, "2\\*\\*24"),
        (dict(range=[(0, 1)] * 2), ValueError, "range must be"),
        (dict(range=[(0, 1), (1, 1), (0, 1)]), ValueError, "range must be"),
        (dict(color_space="gray", range=[(0, np.inf)]), ValueError, "range must be"),
        (dict(grid=(0, 2)), ValueError, "grid must be"),
    ],
)
def test_parameter_errors(rgb_uint8, params, error, match):
    with pytest.raises(error, match=match):
        ColorHistogram(**params).fit(rgb_uint8)


def test_sklearn_parameter_validation(rgb_uint8):
    from sklearn.utils._param_validation import InvalidParameterError

    for params in (
        dict(bins=0),
        dict(color_space="xyz"),
        dict(mode="both"),
        dict(normalize="max"),
        dict(bins="8"),
    ):
        with pytest.raises(InvalidParameterError):
            ColorHistogram(**params).fit(rgb_uint8)


def test_integer_dtypes_other_than_uint8_uint16_are_refused():
    images = np.zeros((2, 4, 4, 3), dtype=np.int32)
    with pytest.raises(TypeError, match="uint8, uint16 or floating-point"):
        ColorHistogram().fit(images)


def test_input_kind_attribute():
    assert ColorHistogram._input_kind == "images"


# -- pixel values outside [0, 1] ------------------------------------------------------


@pytest.mark.parametrize(
    "transform, low, high",
    [
        (lambda im: im * 300.0, "0", "300"),  # 8-bit-like values kept as floats
        (lambda im: -im, "-1", "-0"),
        (lambda im: im - 0.5, "-0.5", "0.5"),  # standardised images
        (lambda im: (im * 255).astype(np.float32), "0", "255"),
    ],
)
@pytest.mark.parametrize("space", SPACES)
def test_float_images_outside_unit_range_are_refused(transform, low, high, space):
    image = np.zeros((9, 10, 3))
    image[0, 0], image[-1, -1] = 0.0, 1.0
    image[1:-1] = np.random.default_rng(8).random((7, 10, 3))
    bad = transform(image)[np.newaxis]
    # what used to come back: values outside the default range fall in no bin
    counted = np.histogramdd(bad[0].reshape(-1, 3), bins=4, range=[(0, 1)] * 3)[0]
    assert counted.sum() < bad[0].shape[0] * bad[0].shape[1]
    hist = ColorHistogram(bins=4, color_space=space)
    pattern = rf"X\[0\] is a floating-point image with values in \[{low}[0-9.e-]*, "
    pattern += high
    with pytest.raises(ValueError, match=pattern):
        hist.fit(bad)
    fitted = hist.fit(image[np.newaxis])
    with pytest.raises(ValueError, match=r"must hold values in \[0, 1\]. Divide 8-bit"):
        fitted.transform(bad)
    with pytest.raises(ValueError, match=r"X\[2\] is a floating-point image"):
        fitted.transform([image, image[:5], bad[0], (image * 255).astype(np.uint8)])


def test_unit_range_bounds_and_ignored_alpha_are_accepted():
    rng = np.random.default_rng(9)
    image = rng.random((1, 6, 7, 3))
    image[0, 0, 0] = (0.0, 1.0, 0.0)
    hist = ColorHistogram(bins=3, normalize=None).fit(image)
    expected = np.histogramdd(image[0].reshape(-1, 3), bins=3, range=[(0, 1)] * 3)[0]
    np.testing.assert_array_equal(hist.transform(image)[0], expected.ravel())
    assert hist.transform(image).sum() == 6 * 7
    # the alpha channel is not read, so its values do not matter
    rgba = np.concatenate([image, np.full((1, 6, 7, 1), 255.0)], axis=-1)
    np.testing.assert_array_equal(hist.transform(rgba), hist.transform(image))
    # round-off above 1 is refused too: np.clip is the documented fix
    image[0, 1, 1, 2] = np.nextafter(1.0, 2.0)
    with pytest.raises(ValueError, match=r"np\.clip"):
        hist.transform(image)
    np.testing.assert_array_equal(hist.transform(np.clip(image, 0, 1))[0], expected.ravel())


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
def test_non_finite_pixels_are_refused(rgb_float, bad_value):
    images = rgb_float.copy()
    images[1, 2, 3, 0] = bad_value
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        ColorHistogram().fit(images)
    fitted = ColorHistogram().fit(rgb_float)
    with pytest.raises(ValueError, match=r"X\[1\] contains NaN or infinity"):
        fitted.transform(list(images))


def test_signed_integer_images_name_the_argument():
    images = np.zeros((2, 4, 4, 3), dtype=np.int64)
    with pytest.raises(TypeError, match=r"X must hold uint8, uint16 .*astype\("):
        ColorHistogram().fit(images)


@pytest.mark.parametrize("channels", [3, 4])
def test_one_colour_image_is_refused_with_how_to_pass_it(rgb_uint8, channels):
    # an (H, W, 3) array would otherwise be read as H grey images W x 3 pixels
    alpha = np.full(rgb_uint8.shape[1:3] + (1,), 255, np.uint8)
    image = rgb_uint8[0] if channels == 3 else np.concatenate([rgb_uint8[0], alpha], axis=2)
    hist = ColorHistogram()
    with pytest.raises(ValueError, match=r"one colour image .* X\[np\.newaxis\] or \[X\]"):
        hist.fit(image)
    batch = hist.fit(rgb_uint8).transform(rgb_uint8)
    with pytest.raises(ValueError, match="one colour image"):
        hist.transform(image)
    # passed as the message says: the features of that image alone
    np.testing.assert_allclose(hist.transform(image[np.newaxis]), batch[:1], rtol=1e-12)
    np.testing.assert_allclose(hist.transform([image]), batch[:1], rtol=1e-12)


def test_one_colour_image_is_refused_by_lbp_and_as_a_dask_array(rgb_uint8):
    da = pytest.importorskip("dask.array")
    from mlearn.features import LocalBinaryPattern

    image = rgb_uint8[0]
    with pytest.raises(ValueError, match="one colour image"):
        LocalBinaryPattern().fit(image)
    with pytest.raises(ValueError, match="one colour image"):
        ColorHistogram().fit(da.from_array(image, chunks=4))
