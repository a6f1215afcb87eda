import sys

import numpy as np
import pytest

from mlearn.features import ColorHistogram, LocalBinaryPattern
from mlearn.features._image_input import cell_index, check_grid, check_images

PIL = pytest.importorskip("PIL")
from PIL import Image  # noqa: E402


def test_array_batches_are_one_group_without_copy():
    images = np.zeros((3, 5, 4, 3), dtype=np.uint8)
    n, groups = check_images(images)
    assert n == 3 and len(groups) == 1
    assert groups[0].batch is images
    np.testing.assert_array_equal(groups[0].indices, [0, 1, 2])
    # a single channel axis is dropped
    n, groups = check_images(np.zeros((2, 5, 4, 1)))
    assert groups[0].batch.shape == (2, 5, 4) and groups[0].n_channels == 1


def test_lists_are_grouped_by_shape_and_dtype_in_order():
    a = np.zeros((4, 5), np.uint8)
    b = np.ones((6, 5, 3), np.uint8)
    c = np.full((4, 5), 2, np.uint8)
    d = np.zeros((4, 5), np.float64)
    n, groups = check_images([a, b, c, d])
    assert n == 4
    by_index = {tuple(g.indices): g.batch for g in groups}
    assert set(by_index) == {(0, 2), (1,), (3,)}
    np.testing.assert_array_equal(by_index[(0, 2)], np.stack([a, c]))


@pytest.mark.parametrize(
    "X, error, match",
    [
        (np.zeros((5, 5)), ValueError, r"X\[np.newaxis\]"),
        (np.zeros((2, 3, 3, 3, 3)), ValueError, "5-D"),
        (np.zeros((0, 3, 3)), ValueError, "no images"),
        (np.zeros((2, 0, 5)), ValueError, "empty spatial size"),
        (np.zeros((2, 3, 3, 2)), ValueError, "1, 3 \\(RGB\\) or 4"),
        (np.zeros((2, 3, 5), dtype=bool), TypeError, "dtype bool"),
        (np.zeros((2, 3, 5), dtype=complex), TypeError, "dtype complex"),
        (np.array([[[1.0, np.inf]]]), ValueError, "NaN or infinity"),
        ([], ValueError, "empty list"),
        ([np.zeros((3, 3)), np.zeros(3)], ValueError, r"X\[1\] must be an image"),
        ([np.zeros((3, 3, 5))], ValueError, r"X\[0\] must have 1, 3"),
        (
            [np.zeros((3, 3)), np.full((2, 2), np.nan)],
            ValueError,
            r"X\[1\] contains NaN",
        ),
        ("image.png", TypeError, "single path"),
        (42, TypeError, "array of images"),
        (np.array([["a.png"]]), ValueError, "1-D"),
    ],
)
def test_errors(X, error, match):
    with pytest.raises(error, match=match):
        check_images(X)


@pytest.fixture
def image_files(tmp_path):
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, size=(12, 10), dtype=np.uint8)
    rgb = rng.integers(0, 256, size=(9, 11, 3), dtype=np.uint8)
    rgba = rng.integers(0, 256, size=(9, 11, 4), dtype=np.uint8)
    deep = rng.integers(0, 65536, size=(8, 8), dtype=np.uint16)
    paths = {}
    for name, array in [("grey", grey), ("rgb", rgb), ("rgba", rgba)]:
        paths[name] = tmp_path / f"{name}.png"
        Image.fromarray(array).save(paths[name])
    paths["deep"] = tmp_path / "deep.png"
    Image.fromarray(deep).save(paths["deep"])
    paths["palette"] = tmp_path / "palette.png"
    Image.fromarray(rgb).convert("P").save(paths["palette"])
    arrays = {"grey": grey, "rgb": rgb, "rgba": rgba, "deep": deep}
    return paths, arrays


def test_reading_files(image_files):
    paths, arrays = image_files
    names = ["grey", "rgb", "rgba", "deep"]
    n, groups = check_images([str(paths[k]) for k in names[:2]] + [paths[k] for k in names[2:]])
    assert n == 4
    for group in groups:
        (i,) = group.indices
        np.testing.assert_array_equal(group.batch[0], arrays[names[i]])
    n, groups = check_images([paths["palette"]])
    assert groups[0].batch.shape == (1, 9, 11, 3)
    # a 1-D array of paths works like a list
    n, groups = check_images(np.array([str(paths["grey"]), str(paths["grey"])]))
    assert n == 2 and groups[0].batch.shape == (2, 12, 10)


def test_transformers_on_files_equal_transformers_on_arrays(image_files):
    paths, arrays = image_files
    files = [paths["rgb"], paths["grey"], paths["rgba"]]
    images = [arrays["rgb"], arrays["grey"], arrays["rgba"]]
    for transformer in (
        ColorHistogram(bins=3, color_space="hsv"),
        LocalBinaryPattern(),
    ):
        fitted = transformer.fit(files)
        np.testing.assert_array_equal(fitted.transform(files), fitted.transform(images))


def test_unreadable_and_missing_files_are_named(tmp_path):
    bad = tmp_path / "not_an_image.png"
    bad.write_text("hello")
    with pytest.raises(ValueError, match="not_an_image.png"):
        check_images([bad])
    missing = tmp_path / "missing.jpg"
    with pytest.raises(ValueError, match="missing.jpg"):
        LocalBinaryPattern().fit([str(missing)])


def test_missing_pillow_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match=r"mlearn-metric\[images\]"):
        check_images([tmp_path / "x.png"])


def test_cell_index_follows_array_split():
    for size in (1, 5, 17, 64):
        for n_cells in (1, 2, 3, 7):
            expected = np.concatenate(
                [
                    np.full(len(part), k)
                    for k, part in enumerate(np.array_split(np.arange(size), n_cells))
                ]
            )
            np.testing.assert_array_equal(cell_index(size, n_cells), expected)


def test_check_grid():
    assert check_grid(3) == (3, 3)
    assert check_grid((2, np.int64(5))) == (2, 5)
    for bad in [(0, 1), (1,), (1.5, 2), "ab", True, None]:
        with pytest.raises(ValueError, match="grid must be"):
            check_grid(bad)


def test_check_unit_range():
    from mlearn.features._image_input import ImageGroup, check_unit_range

    rng = np.random.default_rng(1)
    inside = rng.random((3, 4, 5, 4))
    inside[..., 3] = 7.0  # a fourth (alpha) channel is not read
    inside[0, 0, 0, :3] = (0.0, 1.0, 0.5)
    check_unit_range(ImageGroup(np.array([4, 5, 6]), inside))
    # integer images are always in range
    check_unit_range(ImageGroup(np.arange(2), np.full((2, 3, 3), 65535, np.uint16)))
    with pytest.raises(
        ValueError,
        match=r"images\[4\] is a floating-point image "
        r"with values in \[0, 7\]",
    ):
        check_unit_range(ImageGroup(np.array([4, 5, 6]), inside), "images", channels=4)
    grey = rng.random((3, 4, 5))
    grey[2, 1, 1] = -0.25
    with pytest.raises(ValueError, match=r"X\[2\] .* values in \[-0.25, "):
        check_unit_range(ImageGroup(np.arange(3), grey))
    before = grey.copy()
    with pytest.raises(ValueError):
        check_unit_range(ImageGroup(np.arange(3), grey))
    np.testing.assert_array_equal(grey, before)
