import sys
from collections import Counter

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier
from sklearn.utils._param_validation import InvalidParameterError

from mlearn.datasets import load_image_patches, load_textures

skdata = pytest.importorskip("skimage.data")


def test_patches_are_non_overlapping_tiles_of_the_textures():
    size = 64
    bunch = load_textures(patch_size=size, n_patches_per_image=20, random_state=0)
    assert bunch.images.shape == (60, size, size)
    assert bunch.images.dtype == np.uint8
    assert list(bunch.target_names) == ["brick", "grass", "gravel"]
    np.testing.assert_array_equal(np.bincount(bunch.target), [20, 20, 20])
    assert "scikit-image" in bunch.DESCR
    for label, name in enumerate(bunch.target_names):
        texture = getattr(skdata, name)()
        tiles = {
            texture[r : r + size, c : c + size].tobytes(): (r, c)
            for r in range(0, 512, size)
            for c in range(0, 512, size)
        }
        positions = [tiles.get(patch.tobytes()) for patch in bunch.images[bunch.target == label]]
        assert None not in positions  # every patch is a tile of its own texture
        assert len(set(positions)) == len(positions)  # no tile drawn twice


def test_random_state_and_return_X_y():
    X1, y1 = load_textures(patch_size=16, n_patches_per_image=5, random_state=3, return_X_y=True)
    X2, y2 = load_textures(patch_size=16, n_patches_per_image=5, random_state=3, return_X_y=True)
    X3, _ = load_textures(patch_size=16, n_patches_per_image=5, random_state=4, return_X_y=True)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(X1, X3)
    assert set(np.unique(y1)) == {0, 1, 2}


def test_all_tiles():
    X, _ = load_textures(patch_size=128, n_patches_per_image=16, random_state=0, return_X_y=True)
    assert X.shape == (48, 128, 128)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"patch_size": 2}, ValueError, "patch_size"),
        ({"patch_size": 600}, ValueError, "patch_size"),
        ({"patch_size": 32.0}, TypeError, "'patch_size' parameter of load_textures must be an"),
        ({"patch_size": 128, "n_patches_per_image": 17}, ValueError, r"\[1, 16\]"),
        ({"n_patches_per_image": 0}, ValueError, "n_patches_per_image"),
    ],
)
def test_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        load_textures(**kwargs)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"patch_size": True}, "patch_size"),
        ({"patch_size": 513}, "patch_size"),
        ({"n_patches_per_image": np.True_}, "n_patches_per_image"),
        ({"n_patches_per_image": 2.0}, "n_patches_per_image"),
        ({"random_state": "seed"}, "random_state"),
        ({"random_state": np.random.default_rng(0)}, "random_state"),
        ({"return_X_y": "yes"}, "return_X_y"),
    ],
)
def test_parameters_are_checked_before_any_image_is_read(monkeypatch, kwargs, name):
    # scikit-image absent: the parameter error comes first, not the ImportError
    monkeypatch.setitem(sys.modules, "skimage", None)
    with pytest.raises(
        InvalidParameterError, match=f"The '{name}' parameter of load_textures must be"
    ):
        load_textures(**kwargs)


def test_integer_types_and_the_range_ends_are_accepted():
    for patch_size, n in ((np.int64(4), 1), (512, np.uint8(1))):
        X, y = load_textures(
            patch_size, n, random_state=np.random.RandomState(0), return_X_y=np.bool_(True)
        )
        assert X.shape == (3, patch_size, patch_size)
        np.testing.assert_array_equal(np.sort(y), [0, 1, 2])
    # the whole image as one patch: the texture itself, one per class
    X, y = load_textures(512, 1, random_state=0, return_X_y=True)
    for image, label in zip(X, y):
        texture = getattr(skdata, ("brick", "grass", "gravel")[label])()
        np.testing.assert_array_equal(image, texture)


def test_missing_scikit_image_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "skimage", None)
    with pytest.raises(ImportError, match=r"mlearn-metric\[images\]"):
        load_textures()


def test_texture_example_end_to_end():
    from mlearn._demo_textures import format_rows, texture_benchmark

    rows = texture_benchmark(n_splits=2, random_state=0, patch_size=32, n_patches_per_image=15)
    assert [row["name"].split(" + ")[1] for row in rows][:2] == [
        "Euclidean 3-NN",
        "chi2 3-NN",
    ]
    assert rows[2]["name"].endswith("+ 3-NN")
    for row in rows:
        # three balanced classes: chance is 1/3; these textures are far apart
        assert row["accuracy"] > 0.8
        assert row["fit_time"] > 0
    assert "accuracy" in format_rows(rows)


def test_chi2_baseline_matches_a_brute_force_neighbour_vote():
    from mlearn._demo_textures import _Chi2KNN, texture_features

    X, y = load_textures(patch_size=16, n_patches_per_image=12, random_state=1, return_X_y=True)
    train, test = np.arange(0, 36, 2), np.arange(1, 36, 2)
    model = _Chi2KNN(texture_features(), 3).fit(X[train], y[train])

    def chi2(a, b):
        total = a + b
        keep = total > 0
        return np.sum((a[keep] - b[keep]) ** 2 / total[keep])

    features = texture_features().fit(X[train])
    brute = KNeighborsClassifier(3, metric=chi2, algorithm="brute").fit(
        features.transform(X[train]), y[train]
    )
    expected = np.mean(brute.predict(features.transform(X[test])) == y[test])
    assert model.score(X[test], y[test]) == expected


def test_image_patches_are_non_overlapping_tiles_of_their_grey_image():
    from skimage import color, util

    size = 32
    bunch = load_image_patches(patch_size=size, n_patches_per_image=12, random_state=0)
    n_images = len(bunch.target_names)
    assert n_images == 18
    assert bunch.images.shape == (12 * n_images, size, size)
    assert bunch.images.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(bunch.target), np.full(n_images, 12))
    for label, name in enumerate(bunch.target_names):
        image = getattr(skdata, name)()
        if image.ndim == 3:
            image = color.rgb2gray(image[..., :3])
        image = util.img_as_ubyte(image)
        # how many grid tiles hold each content (a retina's black corners repeat)
        tiles = Counter(
            image[r : r + size, c : c + size].tobytes()
            for r in range(0, image.shape[0] - size + 1, size)
            for c in range(0, image.shape[1] - size + 1, size)
        )
        drawn = Counter(patch.tobytes() for patch in bunch.images[bunch.target == label])
        # every patch is a grid tile of its own image, no tile drawn twice
        assert all(n <= tiles[content] for content, n in drawn.items())


def test_image_patches_are_seeded_and_bounded():
    a = load_image_patches(patch_size=16, n_patches_per_image=4, random_state=1, return_X_y=True)
    b = load_image_patches(patch_size=16, n_patches_per_image=4, random_state=1, return_X_y=True)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    # page (191 x 384) holds 5 x 12 patches of 32 pixels
    assert len(load_image_patches(n_patches_per_image=60, return_X_y=True)[1]) == 60 * 18
    with pytest.raises(ValueError, match=r"n_patches_per_image must be in \[1, 60\]"):
        load_image_patches(n_patches_per_image=61)
