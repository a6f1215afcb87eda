"""Dask input: lazy transforms, and learners that load dask data under a budget.

Unit tests run on dask's synchronous scheduler, where ``ComputeCounter``
proves that building a result computes nothing; one test runs on the
session's two-process LocalCluster, so that graphs, fitted state and results
travel between processes as on a real cluster.
"""

import functools
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.datasets import load_iris
from sklearn.exceptions import DataConversionWarning

import mlearn
from mlearn._validation import STREAMING_LEARNERS, is_dask_array, materialise_dask
from mlearn.base import MahalanobisMixin
from mlearn.features import ColorHistogram, DeepEmbedding, LocalBinaryPattern

from .conftest import ComputeCounter, discover_estimators, tuple_dataset

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")

ESTIMATORS = discover_estimators()
LEARNERS = [cls for cls in ESTIMATORS if issubclass(cls, MahalanobisMixin)]
IMAGE_TRANSFORMERS = [ColorHistogram, LocalBinaryPattern]
# DeepEmbedding and the estimators that train its network (mlearn.deep) run a
# user's model (often on a GPU) and embed in memory
NOT_LAZY = {cls.__name__ for cls in ESTIMATORS if issubclass(cls, DeepEmbedding)}

X_IRIS, Y_IRIS = load_iris(return_X_y=True)
CHUNKS = 40  # iris in blocks of 40, 40, 40 and 30 rows

FAST_PARAMS = {"SCML_Supervised": {"max_iter": 1000, "output_iter": 100}}


@pytest.fixture(autouse=True)
def synchronous_scheduler():
    # the session's LocalCluster client, once started, is dask's default
    # scheduler: unit tests here run locally, where ComputeCounter sees them
    with dask.config.set(scheduler="synchronous"):
        yield


@functools.cache
def fitted(cls):
    """``cls`` fitted on iris (points, or tuples drawn from iris labels)."""
    est = cls(**FAST_PARAMS.get(cls.__name__, {}))
    kind = cls._input_kind
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence on few iterations
        if kind == "points":
            est.fit(X_IRIS, Y_IRIS)
        else:
            tuples, y = tuple_dataset(kind)
            est.fit(tuples, y)
    return est


def assert_same_product(got, X, components, expected):
    """``got`` and ``expected`` both ``X @ components.T``, up to the product's rounding.

    BLAS may sum each row's products in another order for another block
    shape, so the results need not be bit-identical; both lie within
    ``gamma_d * (|X| @ |components|.T)`` of the exact product (the standard
    bound for a dot product of length d in any order, gamma_d = d u /
    (1 - d u)), hence within twice that of each other.
    """
    assert got.dtype == expected.dtype and got.shape == expected.shape
    d = X.shape[1]
    u = np.finfo(got.dtype).eps / 2
    gamma = d * u / (1 - d * u)
    bound = 2 * gamma * (np.abs(X.astype(np.float64)) @ np.abs(components.astype(np.float64)).T)
    assert np.all(np.abs(got.astype(np.float64) - expected.astype(np.float64)) <= bound)


def n_values_holding(graph, data):
    """How many tasks or data nodes of ``graph`` carry ``data`` (bytes) in their pickle."""
    return sum(data in pickle.dumps(value) for value in dict(graph).values())


def matrix_bytes(components, dtype):
    """``components.T`` in ``dtype`` as it can appear in a pickle (either memory order)."""
    t = np.asarray(components.T, dtype=dtype)
    return {t.tobytes(order="C"), t.tobytes(order="F")}


# -- every transformer is covered ----------------------------------------------------


def test_every_transformer_is_covered():
    with_transform = {cls.__name__ for cls in ESTIMATORS if hasattr(cls, "transform")}
    covered = {cls.__name__ for cls in LEARNERS + IMAGE_TRANSFORMERS}
    assert with_transform - covered == NOT_LAZY
    assert "DeepEmbedding" in NOT_LAZY
    assert len(LEARNERS) >= 20


# -- learners: lazy transform ----------------------------------------------------------


@pytest.mark.parametrize("cls", LEARNERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_learner_transform_is_lazy_and_matches_numpy(cls, dtype):
    est = fitted(cls)
    X = X_IRIS.astype(dtype)
    X_dask = da.from_array(X, chunks=(CHUNKS, 4))
    with ComputeCounter() as counter:
        result = est.transform(X_dask)
    assert counter.n_graphs == 0
    assert is_dask_array(result)
    n_components = est.components_.shape[0]
    assert result.chunks == (X_dask.chunks[0], (n_components,))
    assert result.dtype == dtype
    # the fitted matrix is one node of the graph, however many blocks there are
    holding = [
        n_values_holding(result.__dask_graph__(), b) for b in matrix_bytes(est.components_, dtype)
    ]
    assert max(holding) == 1
    with ComputeCounter() as counter:
        computed = result.compute()
    assert counter.n_graphs == 1
    assert isinstance(computed, np.ndarray) and computed.dtype == dtype
    assert_same_product(computed, X, est.components_.astype(dtype), est.transform(X))


@pytest.mark.parametrize("cls", LEARNERS, ids=lambda c: c.__name__)
def test_learner_nan_block_raises_at_compute(cls):
    est = fitted(cls)
    X = X_IRIS.copy()
    X[95, 2] = np.nan  # in the third block
    with pytest.raises(ValueError) as in_memory:
        est.transform(X)
    result = est.transform(da.from_array(X, chunks=CHUNKS))  # no error: nothing read yet
    with pytest.raises(ValueError) as lazily:
        result.compute()
    assert str(lazily.value) == str(in_memory.value)
    assert "contains NaN" in str(lazily.value)


def test_infinite_value_raises_at_compute_with_the_in_memory_message():
    est = fitted(mlearn.NCA)
    X = X_IRIS.copy()
    X[10, 0] = -np.inf
    with pytest.raises(ValueError) as in_memory:
        est.transform(X)
    with pytest.raises(ValueError) as lazily:
        est.transform(da.from_array(X, chunks=CHUNKS)).compute()
    assert str(lazily.value) == str(in_memory.value)
    assert "infinity" in str(lazily.value)


def test_numpy_input_still_gives_numpy():
    est = fitted(mlearn.LMNN)
    for dtype in (np.float64, np.float32):
        X = X_IRIS.astype(dtype)
        out = est.transform(X)
        assert type(out) is np.ndarray and out.dtype == dtype
        np.testing.assert_array_equal(out, X @ est.components_.T.astype(dtype))


def test_fewer_components_and_column_chunks():
    est = mlearn.NCA(n_components=2, max_iter=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X_IRIS, Y_IRIS)
    X_dask = da.from_array(X_IRIS, chunks=(CHUNKS, 2))  # two column chunks
    result = est.transform(X_dask)
    assert result.chunks == ((40, 40, 40, 30), (2,))
    assert_same_product(result.compute(), X_IRIS, est.components_, est.transform(X_IRIS))


def test_unknown_row_chunks():
    est = fitted(mlearn.LMNN)
    X_dask = da.from_array(X_IRIS, chunks=CHUNKS)
    kept = X_dask[X_dask[:, 0] > 5.5]  # row counts unknown until computed
    with ComputeCounter() as counter:
        result = est.transform(kept)
    assert counter.n_graphs == 0
    expected_rows = X_IRIS[X_IRIS[:, 0] > 5.5]
    assert_same_product(
        result.compute(), expected_rows, est.components_, est.transform(expected_rows)
    )


def test_integer_input_is_transformed_as_float64():
    est = fitted(mlearn.Covariance)
    X = np.round(X_IRIS * 10).astype(np.int64)
    result = est.transform(da.from_array(X, chunks=CHUNKS))
    assert result.dtype == np.float64
    assert_same_product(result.compute(), X, est.components_, est.transform(X))


def test_shape_and_dtype_are_checked_without_computing():
    est = fitted(mlearn.NCA)
    with ComputeCounter() as counter:
        with pytest.raises(ValueError) as in_memory:
            est.transform(X_IRIS[:, :3])
        with pytest.raises(ValueError) as lazily:
            est.transform(da.from_array(X_IRIS[:, :3], chunks=CHUNKS))
        assert str(lazily.value) == str(in_memory.value)
        assert "3 features" in str(lazily.value)
        with pytest.raises(ValueError, match="2-D array"):
            est.transform(da.from_array(X_IRIS[:, 0], chunks=CHUNKS))
        with pytest.raises(ValueError, match="[Cc]omplex"):
            est.transform(da.from_array(X_IRIS + 1j, chunks=CHUNKS))
        with pytest.raises(ValueError, match="0 sample"):
            est.transform(da.from_array(X_IRIS[:0], chunks=CHUNKS))
    assert counter.n_graphs == 0


def test_unfitted_learner_raises():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        mlearn.NCA().transform(da.from_array(X_IRIS, chunks=CHUNKS))


def test_user_array_is_not_modified_and_refit_leaves_result_unchanged():
    est = mlearn.NCA(max_iter=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X_IRIS, Y_IRIS)
    components = est.components_.copy()
    X = X_IRIS.astype(np.float32)
    before = X.copy()
    expected = est.transform(X)
    result = est.transform(da.from_array(X, chunks=CHUNKS))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X_IRIS[::-1] * 3, Y_IRIS[::-1])  # another metric
    assert_same_product(result.compute(), X, components.astype(np.float32), expected)
    np.testing.assert_array_equal(X, before)


def test_preprocessor_with_dask_identifiers_is_refused():
    est = mlearn.Covariance(preprocessor=X_IRIS).fit(np.arange(150))
    ids = da.from_array(np.arange(150), chunks=CHUNKS)
    with pytest.raises(ValueError, match="1-D dask array of identifiers"):
        est.transform(ids)
    # points as a dask array are transformed lazily as usual
    result = est.transform(da.from_array(X_IRIS, chunks=CHUNKS))
    assert_same_product(result.compute(), X_IRIS, est.components_, est.transform(X_IRIS))


@settings(max_examples=10, deadline=None, derandomize=True)
@given(st.lists(st.integers(0, 60), min_size=1, max_size=6))
def test_any_row_chunking_is_kept(sizes):
    sizes = [s for s in sizes if s] or [1]
    n = sum(sizes)
    X = np.resize(X_IRIS, (n, 4))
    est = fitted(mlearn.LMNN)
    with dask.config.set(scheduler="synchronous"):
        result = est.transform(da.from_array(X, chunks=(tuple(sizes), 4)))
        assert result.chunks[0] == tuple(sizes)
        assert_same_product(result.compute(), X, est.components_, est.transform(X))


# -- set_output ------------------------------------------------------------------------


@pytest.mark.parametrize("container", ["pandas", "polars"])
def test_set_output_dataframe_with_dask_input_is_a_clear_error(container):
    pytest.importorskip(container)
    est = clone(fitted(mlearn.NCA))
    est.components_ = fitted(mlearn.NCA).components_
    est.n_features_in_ = 4
    est.set_output(transform=container)
    X_dask = da.from_array(X_IRIS, chunks=CHUNKS)
    with ComputeCounter() as counter:
        with pytest.raises(ValueError, match=r"set_output\(transform='default'\)"):
            est.transform(X_dask)
    assert counter.n_graphs == 0
    assert type(est.transform(X_IRIS)).__module__.startswith(container)  # NumPy as before
    est.set_output(transform="default")
    assert is_dask_array(est.transform(X_dask))


def test_global_transform_output_with_dask_input_is_a_clear_error():
    pytest.importorskip("pandas")
    import sklearn

    est = fitted(mlearn.LMNN)
    images = np.zeros((4, 8, 8), np.uint8)
    hist = ColorHistogram(bins=2).fit(images)
    with sklearn.config_context(transform_output="pandas"):
        with pytest.raises(ValueError, match="'pandas'"):
            est.transform(da.from_array(X_IRIS, chunks=CHUNKS))
        with pytest.raises(ValueError, match="'pandas'"):
            hist.transform(da.from_array(images, chunks=2))
    # a learner fitted on tuples has no set_output: its transform stays lazy
    itml = fitted(mlearn.ITML)
    with sklearn.config_context(transform_output="pandas"):
        assert is_dask_array(itml.transform(da.from_array(X_IRIS, chunks=CHUNKS)))


# -- image features ----------------------------------------------------------------------

RNG = np.random.default_rng(0)
RGB8 = RNG.integers(0, 256, size=(24, 12, 12, 3), dtype=np.uint8)
GREY8 = RNG.integers(0, 256, size=(24, 16, 16), dtype=np.uint8)
RGB_FLOAT = RNG.random((24, 12, 12, 3))

IMAGE_CASES = [
    ("rgb-lut", lambda: ColorHistogram(bins=4), RGB8),
    (
        "hsv-marginal-grid",
        lambda: ColorHistogram(bins=5, color_space="hsv", mode="marginal", grid=2),
        RGB_FLOAT,
    ),
    (
        "lab-float32",
        lambda: ColorHistogram(bins=3, color_space="lab"),
        RGB_FLOAT.astype(np.float32),
    ),
    ("lbp-uniform", lambda: LocalBinaryPattern(P=8, R=1, grid=2), GREY8),
    (
        "lbp-var",
        lambda: LocalBinaryPattern(method="var", var_bins=6, scales=[(4, 1), (8, 2)]),
        GREY8,
    ),
    ("lbp-colour", lambda: LocalBinaryPattern(P=8, R=1.5), RGB_FLOAT),
]


@pytest.mark.parametrize(
    "make, images", [c[1:] for c in IMAGE_CASES], ids=[c[0] for c in IMAGE_CASES]
)
def test_image_features_are_lazy_and_equal_in_memory(make, images):
    transformer = make().fit(images)
    chunks = (6,) + images.shape[1:]
    with ComputeCounter() as counter:
        result = transformer.transform(da.from_array(images, chunks=chunks))
    assert counter.n_graphs == 0
    assert result.chunks == ((6, 6, 6, 6), (transformer.n_features_out_,))
    assert result.dtype == np.float64
    # the fitted state is one node of the graph, not one per block
    assert n_values_holding(result.__dask_graph__(), b"n_features_out_") == 1
    # every image's histogram counts whole pixels, exactly, whatever the
    # batch: the features are the same values as in memory
    np.testing.assert_array_equal(result.compute(), transformer.transform(images))


def test_image_chunks_across_pixels_and_single_channel():
    images = RGB8[..., :1]  # (n, h, w, 1) is grey
    hist = ColorHistogram(bins=4).fit(images)
    result = hist.transform(da.from_array(images, chunks=(5, 6, 12, 1)))
    assert result.chunks[0] == (5, 5, 5, 5, 4)
    np.testing.assert_array_equal(result.compute(), hist.transform(images))


@pytest.mark.parametrize(
    "transformer", [ColorHistogram(bins=4), LocalBinaryPattern()], ids=["color", "lbp"]
)
def test_bad_pixels_raise_at_compute_with_in_memory_message(transformer):
    transformer = clone(transformer).fit(RGB_FLOAT)
    images = RGB_FLOAT.copy()
    images[13, 2, 2, 1] = np.nan  # third block of 6
    with pytest.raises(ValueError) as in_memory:
        transformer.transform(images)
    result = transformer.transform(da.from_array(images, chunks=(6, 12, 12, 3)))
    with pytest.raises(ValueError) as lazily:
        result.compute()
    assert str(lazily.value) == str(in_memory.value)
    assert "NaN" in str(lazily.value)


def test_out_of_range_image_is_named_by_its_index_in_the_whole_array():
    hist = ColorHistogram(bins=4).fit(RGB_FLOAT)
    images = RGB_FLOAT.copy()
    images[13] *= 255
    with pytest.raises(ValueError) as in_memory:
        hist.transform(images)
    with pytest.raises(ValueError) as lazily:
        hist.transform(da.from_array(images, chunks=(6, 12, 12, 3))).compute()
    assert str(lazily.value) == str(in_memory.value)
    assert "X[13]" in str(lazily.value)


def test_image_shape_and_dtype_are_checked_without_computing():
    hist = ColorHistogram(bins=4).fit(RGB8)
    lbp = LocalBinaryPattern().fit(RGB8)
    bad = {
        "2-D": RGB8[0, :, :, 0],
        "5 channels": np.zeros((4, 8, 8, 5), np.uint8),
        "int16 colour": RGB8.astype(np.int16),
        "complex": RGB8.astype(np.complex64),
        "no image": RGB8[:0],
    }
    with ComputeCounter() as counter:
        for transformer in (hist, lbp):
            for images in bad.values():
                with pytest.raises((ValueError, TypeError)) as in_memory:
                    transformer.transform(images)
                with pytest.raises(type(in_memory.value)) as lazily:
                    transformer.transform(da.from_array(images, chunks=2))
                assert str(lazily.value) == str(in_memory.value)
    assert counter.n_graphs == 0


def test_image_fit_on_dask_reads_nothing_except_for_var():
    images = da.from_array(RGB8, chunks=(6, 12, 12, 3))
    with ComputeCounter() as counter:
        hist = ColorHistogram(bins=4).fit(images)
        lbp = LocalBinaryPattern().fit(images)
    assert counter.n_graphs == 0
    np.testing.assert_array_equal(hist.transform(RGB8), ColorHistogram(bins=4).fit_transform(RGB8))
    np.testing.assert_array_equal(lbp.transform(RGB8), LocalBinaryPattern().fit_transform(RGB8))
    # 'var' learns its bin edges from every pixel: it loads them, with a warning
    with pytest.warns(DataConversionWarning, match="LocalBinaryPattern loads X"):
        var = LocalBinaryPattern(method="var").fit(images)
    expected = LocalBinaryPattern(method="var").fit(RGB8)
    for got, want in zip(var.var_bin_edges_, expected.var_bin_edges_):
        np.testing.assert_array_equal(got, want)
    with mlearn.config_context(materialise_budget=0.001):
        with pytest.raises(ValueError, match="materialise_budget"):
            LocalBinaryPattern(method="var").fit(images)


# -- a real cluster ------------------------------------------------------------------------


def test_transforms_on_a_local_cluster_equal_in_memory(dask_client):
    est = fitted(mlearn.LMNN)
    points = est.transform(da.from_array(X_IRIS, chunks=CHUNKS))
    lbp = LocalBinaryPattern(P=8, R=1, grid=2).fit(GREY8)
    features = lbp.transform(da.from_array(GREY8, chunks=(6, 16, 16)))
    got_points, got_features = dask_client.compute([points, features], sync=True)
    assert_same_product(got_points, X_IRIS, est.components_, est.transform(X_IRIS))
    np.testing.assert_array_equal(got_features, lbp.transform(GREY8))
    # a learner that needs all its points loads them from the cluster
    X_dask = da.from_array(X_IRIS, chunks=CHUNKS)
    with dask.config.set(scheduler=dask_client), pytest.warns(DataConversionWarning):
        cov = mlearn.Covariance().fit(X_dask)
    np.testing.assert_allclose(
        cov.components_, mlearn.Covariance().fit(X_IRIS).components_, rtol=1e-10, atol=1e-12
    )


# -- learners that need all their data: the materialise budget ---------------------------


def test_points_learner_loads_dask_input_under_the_budget_with_a_warning():
    X_dask = da.from_array(X_IRIS, chunks=CHUNKS)
    y_dask = da.from_array(Y_IRIS, chunks=CHUNKS)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lfda = mlearn.LFDA().fit(X_dask, y_dask)
    loads = [w for w in caught if issubclass(w.category, DataConversionWarning)]
    assert [str(w.message).split(",")[0] for w in loads] == ["LFDA loads X", "LFDA loads y"]
    assert "4.7 KiB" in str(loads[0].message)
    assert "materialise_budget=1024 MiB" in str(loads[0].message)
    assert all(w.filename == __file__ for w in loads)  # points at the fit call
    # LFDA is closed form: the same data give the same metric
    np.testing.assert_allclose(
        lfda.components_, mlearn.LFDA().fit(X_IRIS, Y_IRIS).components_, rtol=1e-10, atol=1e-12
    )


def test_points_learner_refuses_dask_input_over_the_budget():
    X_dask = da.from_array(X_IRIS, chunks=CHUNKS)
    with mlearn.config_context(materialise_budget=0.004):  # 4.1 KiB < 4.7 KiB
        with ComputeCounter() as counter:
            with pytest.raises(ValueError) as error:
                mlearn.LMNN().fit(X_dask, Y_IRIS)
    assert counter.n_graphs == 0
    message = str(error.value)
    assert "LMNN needs all of X in memory" in message
    assert "materialise_budget=0.004 MiB" in message
    for name in STREAMING_LEARNERS:
        assert name in message
    assert "solver='sgd'" in message


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_dask_labels_alone_are_loaded_too():
    y_dask = da.from_array(Y_IRIS, chunks=CHUNKS)
    with pytest.warns(DataConversionWarning, match="NCA loads y"):
        nca = mlearn.NCA(max_iter=5).fit(X_IRIS, y_dask)
    assert nca.components_.shape == (4, 4)
    with mlearn.config_context(materialise_budget=0):
        with pytest.raises(ValueError, match="NCA needs all of y in memory"):
            mlearn.NCA(max_iter=5).fit(X_IRIS, y_dask)


def test_budget_boundary_is_inclusive():
    X = np.random.RandomState(0).randn(2**14, 8)  # exactly 1 MiB of float64
    X_dask = da.from_array(X, chunks=4096)
    with mlearn.config_context(materialise_budget=1):
        with pytest.warns(DataConversionWarning, match="1.0 MiB"):
            cov = mlearn.Covariance().fit(X_dask)
    np.testing.assert_allclose(
        cov.components_, mlearn.Covariance().fit(X).components_, rtol=1e-10, atol=1e-12
    )
    with mlearn.config_context(materialise_budget=1 - 2**-20):
        with pytest.raises(ValueError, match="1.0 MiB, more than"):
            mlearn.Covariance().fit(X_dask)


def test_dask_input_of_unknown_size_is_refused():
    X_dask = da.from_array(X_IRIS, chunks=CHUNKS)
    kept = X_dask[X_dask[:, 0] > 5.5]
    with ComputeCounter() as counter:
        with pytest.raises(ValueError, match=r"unknown size .*compute_chunk_sizes"):
            mlearn.Covariance().fit(kept)
    assert counter.n_graphs == 0


def test_dask_identifiers_in_fit_are_loaded_then_preprocessed():
    ids = da.from_array(np.arange(150), chunks=CHUNKS)
    with pytest.warns(DataConversionWarning, match="Covariance loads X"):
        cov = mlearn.Covariance(preprocessor=X_IRIS).fit(ids)
    np.testing.assert_allclose(
        cov.components_, mlearn.Covariance().fit(X_IRIS).components_, rtol=1e-10, atol=1e-12
    )


@pytest.mark.parametrize(
    "kind, cls", [("pairs", mlearn.ITML), ("triplets", mlearn.SCML), ("quadruplets", mlearn.LSML)]
)
def test_tuple_learner_loads_dask_tuples_under_the_budget(kind, cls):
    tuples, y = tuple_dataset(kind)
    tuples_dask = da.from_array(tuples, chunks=(25, -1, -1))
    y_dask = None if y is None else da.from_array(y, chunks=25)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = cls(random_state=0).fit(tuples_dask, y_dask)
    loaded = [str(w.message) for w in caught if issubclass(w.category, DataConversionWarning)]
    assert any(m.startswith(f"{cls.__name__} loads {kind}") for m in loaded)
    if y is not None:
        assert any(m.startswith("mlearn loads y") for m in loaded)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = cls(random_state=0).fit(tuples, y)
    np.testing.assert_allclose(
        est.get_mahalanobis_matrix(), expected.get_mahalanobis_matrix(), rtol=1e-10, atol=1e-12
    )
    with mlearn.config_context(materialise_budget=0.001):
        with pytest.raises(ValueError) as error:
            cls().fit(tuples_dask, y_dask)
    assert f"{cls.__name__} needs all of {kind} in memory" in str(error.value)
    assert all(name in str(error.value) for name in STREAMING_LEARNERS)


def test_materialise_leaves_other_objects_alone():
    X = np.ones((3, 2))
    assert materialise_dask(X, "X") is X
    assert materialise_dask(None, "y") is None


# -- configuration --------------------------------------------------------------------------


def test_config_default_set_and_context():
    assert mlearn.get_config() == {"materialise_budget": 1024.0}
    config = mlearn.get_config()
    config["materialise_budget"] = 1
    assert mlearn.get_config()["materialise_budget"] == 1024.0  # a copy
    try:
        mlearn.set_config(materialise_budget=2048)
        assert mlearn.get_config()["materialise_budget"] == 2048.0
        mlearn.set_config()  # None leaves it
        assert mlearn.get_config()["materialise_budget"] == 2048.0
    finally:
        mlearn.set_config(materialise_budget=1024)
    with pytest.raises(RuntimeError):
        with mlearn.config_context(materialise_budget=float("inf")):
            assert mlearn.get_config()["materialise_budget"] == float("inf")
            raise RuntimeError
    assert mlearn.get_config()["materialise_budget"] == 1024.0


@pytest.mark.parametrize("bad", [-1, float("nan"), True, "1GiB", [1]])
def test_config_refuses_bad_budgets(bad):
    with pytest.raises(ValueError, match="materialise_budget must be a non-negative number"):
        mlearn.set_config(materialise_budget=bad)
    with pytest.raises(ValueError, match="materialise_budget"):
        with mlearn.config_context(materialise_budget=bad):
            pass
    assert mlearn.get_config()["materialise_budget"] == 1024.0


def test_numpy_callers_do_not_import_dask():
    code = (
        "import sys, numpy as np, mlearn\n"
        "from mlearn._validation import is_dask_array\n"
        "assert not is_dask_array(np.zeros(3))\n"
        "X = np.random.RandomState(0).randn(20, 3)\n"
        "mlearn.Covariance().fit(X).transform(X)\n"
        "assert 'dask' not in sys.modules, sorted(m for m in sys.modules if 'dask' in m)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
