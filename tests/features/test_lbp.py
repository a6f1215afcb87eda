import pickle
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.base import clone
from sklearn.pipeline import FeatureUnion, make_pipeline
from sklearn.preprocessing import FunctionTransformer

from mlearn.features import ColorHistogram, LocalBinaryPattern, local_binary_pattern
from mlearn.features._lbp_kernels import ror_table

skimage = pytest.importorskip("skimage")
from skimage import data as skdata  # noqa: E402
from skimage.color import rgb2gray  # noqa: E402
from skimage.feature import local_binary_pattern as sk_lbp  # noqa: E402

METHODS = ["default", "ror", "uniform", "nri_uniform", "var"]
P_VALUES = [4, 8, 16, 24]
R_VALUES = [1, 1.5, 2, 3]


def reference(image, P, R, method):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-image warns on float images
        return sk_lbp(image, P, R, method)


def assert_same_codes(ours, theirs, method):
    assert ours.dtype == np.float64 and ours.shape == theirs.shape
    if method == "var":
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=0, equal_nan=True)
    else:
        np.testing.assert_array_equal(ours, theirs)


def _test_images():
    rng = np.random.default_rng(7)
    # Crops of the textures away from the top-left corner keep the default run
    # fast; the full 512 x 512 images are checked under the slow marker.
    images = {
        name: getattr(skdata, name)()[200:296, 150:250] for name in ("brick", "grass", "gravel")
    }
    images["random_uint8"] = rng.integers(0, 256, size=(37, 53), dtype=np.uint8)
    images["random_few_levels"] = rng.integers(0, 4, size=(29, 31)).astype(np.uint8)
    images["random_float"] = rng.random((23, 41))
    images["random_uint16"] = rng.integers(0, 65536, size=(20, 25), dtype=np.uint16)
    return images


TEST_IMAGES = _test_images()


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", sorted(TEST_IMAGES))
def test_codes_match_scikit_image(name, method):
    image = TEST_IMAGES[name]
    for P in P_VALUES:
        for R in R_VALUES:
            assert_same_codes(
                local_binary_pattern(image, P, R, method),
                reference(image, P, R, method),
                method,
            )


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", ["brick", "grass", "gravel"])
def test_codes_match_scikit_image_full_textures(name, method):
    image = getattr(skdata, name)()
    for P in P_VALUES:
        for R in R_VALUES:
            assert_same_codes(
                local_binary_pattern(image, P, R, method),
                reference(image, P, R, method),
                method,
            )


@pytest.mark.parametrize("P, R", [(3, 0.7), (5, 2.3), (12, 1.25), (31, 4.0)])
def test_codes_match_scikit_image_other_radii(P, R):
    image = TEST_IMAGES["random_uint8"]
    for method in METHODS:
        assert_same_codes(
            local_binary_pattern(image, P, R, method),
            reference(image, P, R, method),
            method,
        )


def test_golden_small_image():
    # Worked by hand: pixel (1, 1) = 5 with P=4, R=1 has neighbours
    # right 8 (>= 5: bit 0), up 4 (bit 1 off), left 3 (bit 2 off), down 5 (bit 3).
    image = np.array(
        [
            [5, 4, 2, 2, 1],
            [3, 5, 8, 1, 3],
            [2, 5, 4, 1, 2],
            [4, 3, 7, 2, 7],
            [1, 1, 2, 3, 2],
        ],
        dtype=np.uint8,
    )
    assert local_binary_pattern(image, 4, 1, "default")[1, 1] == 0b1001
    assert local_binary_pattern(image, 4, 1, "ror")[1, 1] == 0b0011
    # bits 1, 0, 0, 1 along the open chain change twice: uniform, two ones.
    assert local_binary_pattern(image, 4, 1, "uniform")[1, 1] == 2
    # neighbours 8, 4, 3, 5 around 5: mean 5, variance (9 + 1 + 4 + 0) / 4.
    assert local_binary_pattern(image, 4, 1, "var")[1, 1] == 3.5
    # corner (0, 0) = 5: right 4, up 0 (outside), left 0, down 3 -> no bit set.
    assert local_binary_pattern(image, 4, 1, "default")[0, 0] == 0


def test_var_is_nan_on_flat_neighbourhoods():
    image = np.full((6, 6), 9, dtype=np.uint8)
    codes = local_binary_pattern(image, 8, 1, "var")
    assert np.isnan(codes[2:4, 2:4]).all()
    assert np.isfinite(codes[0, 0])  # zero padding outside the image


def test_code_ranges():
    image = TEST_IMAGES["random_uint8"]
    P = 8
    assert set(np.unique(local_binary_pattern(image, P, 1, "uniform"))) <= set(range(P + 2))
    nri = local_binary_pattern(image, P, 1, "nri_uniform")
    assert nri.min() >= 0 and nri.max() <= P * (P - 1) + 2
    default = local_binary_pattern(image, P, 1, "default")
    assert default.min() >= 0 and default.max() < 2**P


@settings(max_examples=30, deadline=None)
@given(
    arrays(np.uint8, st.tuples(st.integers(3, 12), st.integers(3, 12))),
    st.sampled_from(["default", "ror", "uniform"]),
)
def test_rotation_by_quarter_turn(image, method):
    # With P=4, R=1 the neighbours are pixels; turning the image a quarter
    # turn counter-clockwise shifts every pattern by one neighbour.
    codes = local_binary_pattern(image, 4, 1, method)
    turned = local_binary_pattern(np.rot90(image), 4, 1, method)
    if method in ("ror", "uniform"):
        np.testing.assert_array_equal(turned, np.rot90(codes))
    else:
        bits = np.rot90(codes).astype(int)
        shifted = ((bits << 1) | (bits >> 3)) & 0b1111
        np.testing.assert_array_equal(turned, shifted)


@settings(max_examples=30, deadline=None)
@given(
    arrays(
        np.uint8,
        st.tuples(st.integers(1, 10), st.integers(1, 10)),
        elements=st.integers(1, 80),
    ),
    st.sampled_from(METHODS[:4]),
)
def test_monotone_grey_level_change_keeps_codes(image, method):
    # Integer neighbours (P=4, R=1) and an increasing map of the grey levels
    # (no zero pixels: the zero padding outside the image is not remapped).
    changed = image.astype(np.int64) * 3 + 7
    np.testing.assert_array_equal(
        local_binary_pattern(image, 4, 1, method),
        local_binary_pattern(changed, 4, 1, method),
    )


def test_function_does_not_modify_input():
    image = TEST_IMAGES["random_float"].copy()
    before = image.copy()
    local_binary_pattern(image, 8, 1.5, "var")
    np.testing.assert_array_equal(image, before)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(image=np.zeros((3, 3, 3)), P=8, R=1), ValueError, "2-D"),
        (dict(image=np.zeros((0, 3)), P=8, R=1), ValueError, "empty"),
        (dict(image=np.array([[1, np.nan]]), P=8, R=1), ValueError, "NaN"),
        (dict(image=np.zeros((3, 3), complex), P=8, R=1), TypeError, "dtype"),
        (dict(image=np.zeros((3, 3)), P=0, R=1), ValueError, "P must be"),
        (dict(image=np.zeros((3, 3)), P=2.5, R=1), TypeError, "P must be an int"),
        (dict(image=np.zeros((3, 3)), P=8, R=-1), ValueError, "R must be"),
        (dict(image=np.zeros((3, 3)), P=8, R=1, method="bogus"), ValueError, "method"),
    ],
)
def test_function_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        local_binary_pattern(**kwargs)


# -- the transformer ------------------------------------------------------------


def _cells(image, grid):
    return [
        cell
        for rows in np.array_split(image, grid[0], axis=0)
        for cell in np.array_split(rows, grid[1], axis=1)
    ]


def _ror_bins(P):
    # Brute force: the smallest of the P rotations, then rank among those values.
    def rotations(v):
        return [((v >> k) | (v << (P - k))) & (2**P - 1) for k in range(P)]

    distinct = sorted({min(rotations(v)) for v in range(2**P)})
    return {v: distinct.index(min(rotations(v))) for v in range(2**P)}, len(distinct)


def reference_histograms(image, P, R, method, grid, n_bins, var_edges=None):
    codes = reference(image, P, R, method)
    if method == "ror":
        mapping, _ = _ror_bins(P)
        codes = np.vectorize(mapping.get)(codes.astype(int))
    elif method == "var":
        codes = np.where(np.isnan(codes), 0, np.digitize(codes, var_edges, right=False))
    out = []
    for cell in _cells(codes, grid):
        out.append(np.bincount(cell.astype(int).ravel(), minlength=n_bins)[:n_bins])
    return np.array(out, dtype=float)


@pytest.fixture(scope="module")
def texture_batch():
    rng = np.random.default_rng(3)
    brick = skdata.brick()
    corners = rng.integers(0, 512 - 40, size=(6, 2))
    return np.stack([brick[r : r + 40, c : c + 36] for r, c in corners])


@pytest.mark.parametrize(
    "method, P, n_bins",
    [
        ("uniform", 8, 10),
        ("nri_uniform", 8, 59),
        ("default", 4, 16),
        ("ror", 8, 36),
        ("var", 8, 6),
    ],
)
@pytest.mark.parametrize("grid", [(1, 1), (2, 3)])
def test_histograms_match_scikit_image_codes(texture_batch, method, P, n_bins, grid):
    lbp = LocalBinaryPattern(P=P, R=1.5, method=method, grid=grid, normalize=None, var_bins=6).fit(
        texture_batch
    )
    assert lbp.n_bins_ == [n_bins]
    features = lbp.transform(texture_batch)
    assert features.shape == (len(texture_batch), grid[0] * grid[1] * n_bins)
    edges = lbp.var_bin_edges_[0] if method == "var" else None
    for image, row in zip(texture_batch, features):
        expected = reference_histograms(image, P, 1.5, method, grid, n_bins, edges)
        np.testing.assert_array_equal(row, expected.ravel())


def test_ror_bin_count_matches_brute_force():
    for P in (4, 8, 10):
        mapping, count = _ror_bins(P)
        lookup, distinct = ror_table(P)
        assert len(distinct) == count
        np.testing.assert_array_equal(lookup, [mapping[v] for v in range(2**P)])


def test_var_edges_are_quantiles_of_training_variances(texture_batch):
    lbp = LocalBinaryPattern(P=8, R=1, method="var", var_bins=5).fit(texture_batch)
    values = np.concatenate([reference(im, 8, 1, "var").ravel() for im in texture_batch])
    values = values[np.isfinite(values)]
    np.testing.assert_allclose(
        lbp.var_bin_edges_[0], np.quantile(values, [0.2, 0.4, 0.6, 0.8]), rtol=1e-12
    )
    counts = (
        LocalBinaryPattern(P=8, R=1, method="var", var_bins=5, normalize=None)
        .fit(texture_batch)
        .transform(texture_batch)
        .sum(axis=0)
    )
    assert np.all(np.abs(counts / counts.sum() - 0.2) < 0.02)


def test_scales_concatenate_and_normalise(texture_batch):
    scales = [(8, 1), (16, 2.0)]
    lbp = LocalBinaryPattern(method="uniform", scales=scales, grid=2).fit(texture_batch)
    features = lbp.transform(texture_batch)
    parts = [
        LocalBinaryPattern(P=P, R=R, method="uniform", grid=2)
        .fit(texture_batch)
        .transform(texture_batch)
        for P, R in scales
    ]
    np.testing.assert_array_equal(features, np.hstack(parts))
    assert lbp.n_bins_ == [10, 18]
    # every cell of every scale sums to one
    cells = np.split(features, np.cumsum([10] * 4 + [18] * 4)[:-1], axis=1)
    for cell in cells:
        np.testing.assert_allclose(cell.sum(axis=1), 1.0)


def test_l2_normalisation(texture_batch):
    raw = LocalBinaryPattern(normalize=None).fit(texture_batch).transform(texture_batch)
    l2 = LocalBinaryPattern(normalize="l2").fit(texture_batch).transform(texture_batch)
    np.testing.assert_allclose(l2, raw / np.linalg.norm(raw, axis=1, keepdims=True))
    assert raw.sum(axis=1).tolist() == [40 * 36] * len(texture_batch)


def test_colour_images_use_luminance(texture_batch):
    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 256, size=(3, 24, 20, 3), dtype=np.uint8)
    lbp = LocalBinaryPattern(P=8, R=1, normalize=None).fit(rgb)
    for image, row in zip(rgb, lbp.transform(rgb)):
        codes = reference(rgb2gray(image), 8, 1, "uniform")
        np.testing.assert_array_equal(row, np.bincount(codes.astype(int).ravel(), minlength=10))


def test_list_of_sizes_and_row_blocks():
    rng = np.random.default_rng(11)
    images = [
        rng.integers(0, 256, size=s, dtype=np.uint8)
        for s in [(30, 20), (64, 80), (30, 20), (7, 9)]
    ]
    lbp = LocalBinaryPattern(P=8, R=2, method="nri_uniform", grid=(2, 2)).fit(images)
    together = lbp.transform(images)
    for image, row in zip(images, together):
        # one image alone is split into row blocks; in a batch it is not
        np.testing.assert_array_equal(lbp.transform([image])[0], row)
        np.testing.assert_array_equal(lbp.transform(np.stack([image] * 9))[4], row)


def test_grid_larger_than_image_gives_zero_cells():
    # one grey image 4 pixels wide, its channel axis spelled out
    image = np.arange(12, dtype=np.uint8).reshape(1, 3, 4, 1)
    features = LocalBinaryPattern(P=4, R=1, grid=(4, 1)).fit(image).transform(image)
    cells = features.reshape(4, 6)
    np.testing.assert_allclose(cells[:3].sum(axis=1), 1.0)
    np.testing.assert_array_equal(cells[3], 0.0)


def test_feature_names(texture_batch):
    lbp = LocalBinaryPattern(scales=[(8, 1), (4, 1.5)], grid=(1, 2)).fit(texture_batch)
    names = lbp.get_feature_names_out()
    assert len(names) == lbp.n_features_out_ == lbp.transform(texture_batch).shape[1]
    assert len(set(names)) == len(names)
    assert names[0] == "lbp_p8_r1_uniform_cell0_0_code0"
    assert names[-1] == "lbp_p4_r1.5_uniform_cell0_1_code5"


def test_transformer_does_not_modify_input(texture_batch):
    images = texture_batch.copy()
    LocalBinaryPattern(method="var").fit(images).transform(images)
    np.testing.assert_array_equal(images, texture_batch)


def test_clone_pickle_and_unfitted_error(texture_batch):
    lbp = LocalBinaryPattern(P=16, R=2, method="var", var_bins=4)
    with pytest.raises(Exception, match="not fitted"):
        lbp.transform(texture_batch)
    fitted = clone(lbp).fit(texture_batch)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(
        restored.transform(texture_batch), fitted.transform(texture_batch)
    )
    assert clone(fitted).get_params() == lbp.get_params()
    assert not hasattr(clone(fitted), "scales_")


def test_pipeline_and_feature_union(texture_batch):
    union = FeatureUnion(
        [
            ("color", ColorHistogram(bins=4, color_space="gray")),
            ("lbp", LocalBinaryPattern(P=8, R=1)),
        ]
    )
    pipe = make_pipeline(union, FunctionTransformer())
    features = pipe.fit_transform(texture_batch)
    assert features.shape == (len(texture_batch), 4 + 10)
    names = union.get_feature_names_out()
    assert names[0] == "color__gray_cell0_0_gray0"
    assert names[4] == "lbp__lbp_p8_r1_uniform_cell0_0_code0"
    pipe.set_params(featureunion__lbp__P=4)
    assert pipe.fit_transform(texture_batch).shape == (len(texture_batch), 4 + 6)


def test_set_output_pandas(texture_batch):
    pd = pytest.importorskip("pandas")
    frame = LocalBinaryPattern().set_output(transform="pandas").fit_transform(texture_batch)
    assert isinstance(frame, pd.DataFrame)
    assert frame.columns[0] == "lbp_p8_r1_uniform_cell0_0_code0"


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(method="default", P=17), "at most 16"),
        (dict(scales=[(8, 1, 3)]), "scales must be"),
        (dict(scales=[]), "scales must be"),
        (dict(scales=[(8, -1.0)]), r"scales\[0\]\[1\] must be"),
        (dict(grid=(2, 0)), "grid must be"),
        (dict(grid=(1, 2, 3)), "grid must be"),
    ],
)
def test_transformer_parameter_errors(texture_batch, params, match):
    with pytest.raises(ValueError, match=match):
        LocalBinaryPattern(**params).fit(texture_batch)


def test_sklearn_parameter_validation(texture_batch):
    from sklearn.utils._param_validation import InvalidParameterError

    for params in (
        dict(P=0),
        dict(R=0.0),
        dict(method="lbp"),
        dict(normalize="max"),
        dict(var_bins=0),
    ):
        with pytest.raises(InvalidParameterError):
            LocalBinaryPattern(**params).fit(texture_batch)


def test_input_kind_attribute():
    assert LocalBinaryPattern._input_kind == "images"


# -- pixel value ranges ---------------------------------------------------------------


@pytest.mark.parametrize("scale, offset", [(300.0, 0.0), (-1.0, 0.0), (1.0, -0.5), (1e120, 0.0)])
@pytest.mark.parametrize("method", ["uniform", "var"])
def test_float_images_of_any_range_match_scikit_image(scale, offset, method):
    # unlike colour histograms, LBP codes take grey levels of any range
    rng = np.random.default_rng(11)
    images = rng.random((3, 17, 19)) * scale + offset
    lbp = LocalBinaryPattern(P=8, R=1, method=method, var_bins=4, normalize=None)
    features = lbp.fit(images).transform(images)
    edges = lbp.var_bin_edges_[0] if method == "var" else None
    n_bins = lbp.n_bins_[0]
    for image, row in zip(images, features):
        expected = reference_histograms(image, 8, 1, method, (1, 1), n_bins, edges)
        np.testing.assert_array_equal(row, expected.ravel())
        assert row.sum() == 17 * 19


def test_var_refuses_grey_levels_whose_squares_overflow():
    rng = np.random.default_rng(12)
    image = rng.random((12, 12)) * 1e200
    # the squares overflow: the variance would be NaN, read as "flat"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isnan(reference(image, 8, 1, "var")).all()
    with pytest.raises(ValueError, match=r"image has grey levels up to [\d.]+e\+1\d\d"):
        local_binary_pattern(image, 8, 1, "var")
    images = np.stack([image * 1e-200, image])
    with pytest.raises(ValueError, match=r"X\[1\] has grey levels .* at most 1e\+150"):
        LocalBinaryPattern(method="var").fit(images)
    fitted = LocalBinaryPattern(method="var").fit(images[:1])
    with pytest.raises(ValueError, match=r"X\[0\] has grey levels"):
        fitted.transform([image])
    # the codes of the other methods only compare grey levels: no limit
    assert_same_codes(
        local_binary_pattern(image, 8, 1, "uniform"),
        reference(image, 8, 1, "uniform"),
        "uniform",
    )
    assert LocalBinaryPattern().fit(images).transform(images).sum() == 2.0


@pytest.mark.parametrize("bad_value", [np.nan, np.inf])
def test_non_finite_pixels_are_refused(texture_batch, bad_value):
    images = texture_batch.astype(float)
    images[2, 5, 5] = bad_value
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        LocalBinaryPattern().fit(images)
    fitted = LocalBinaryPattern().fit(texture_batch)
    with pytest.raises(ValueError, match=r"X\[2\] contains NaN or infinity"):
        fitted.transform(list(images))
    with pytest.raises(ValueError, match="image contains NaN or infinity"):
        local_binary_pattern(images[2], 8, 1)
