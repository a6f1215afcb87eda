"""Tests for mlearn.features.DeepEmbedding.

The oracle for every torch test is the network itself, run by hand in eval
mode (or a submodule of it, for layer hooks); the plain-callable tests need
no torch at all.
"""

import copy
import functools
import pickle
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import (
    check_param_validation,
    parametrize_with_checks,
)

import mlearn
from mlearn.features import DeepEmbedding

RNG_SEED = 0


# ---------------------------------------------------------------------------
# plain callables (no torch)
# ---------------------------------------------------------------------------


def _toy_model(batch):
    """A module-level callable model, so that the estimator pickles."""
    batch = np.asarray(batch, dtype=float)
    return np.tanh(0.5 * batch) + 0.1 * batch.sum(axis=1, keepdims=True)


def _text_model(batch):
    """Character statistics of a list of strings."""
    return np.array([[len(s), s.count(" "), sum(c.isupper() for c in s)] for s in batch])


@parametrize_with_checks([DeepEmbedding(_toy_model)])
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_param_validation():
    check_param_validation("DeepEmbedding", DeepEmbedding(_toy_model))


def test_callable_matches_direct_call_for_any_batch_size():
    X = np.random.default_rng(RNG_SEED).normal(size=(23, 5))
    expected = _toy_model(X)
    for batch_size in (1, 7, 23, 100):
        out = DeepEmbedding(_toy_model, batch_size=batch_size).fit_transform(X)
        assert out.dtype == np.float32
        assert_allclose(out, expected, rtol=1e-6, atol=1e-6)
    out64 = DeepEmbedding(_toy_model, dtype="float64", batch_size=4).fit_transform(X)
    assert out64.dtype == np.float64
    assert_array_equal(out64, expected)


def test_batches_are_bounded():
    seen = []

    def model(batch):
        seen.append(len(batch))
        return np.asarray(batch)[:, :2]

    X = np.arange(40.0).reshape(20, 2)
    DeepEmbedding(model, batch_size=6).fit(X).transform(X)
    # one sample in fit, then ceil(20 / 6) batches
    assert seen == [1, 6, 6, 6, 2]


def test_text_input_with_callable():
    texts = ["a b", "Hello World", "three little words", "X"]
    emb = DeepEmbedding(_text_model, batch_size=3).fit(texts)
    assert emb.n_features_out_ == 3
    assert not hasattr(emb, "n_features_in_")
    assert_array_equal(emb.transform(texts), _text_model(texts))
    assert_array_equal(emb.transform(("X", "a b")), _text_model(["X", "a b"]))


def test_text_as_array_or_series():
    texts = ["a b", "Hello World", "three little words"]
    expected = _text_model(texts)
    as_array = np.array(texts)
    out = DeepEmbedding(_text_model).fit(as_array).transform(as_array)
    assert_array_equal(out, expected)
    pd = pytest.importorskip("pandas")
    series = pd.Series(texts)
    assert_array_equal(DeepEmbedding(_text_model).fit_transform(series), expected)


def test_text_mixed_with_other_objects_raises():
    with pytest.raises(TypeError, match="X mixes strings"):
        DeepEmbedding(_text_model).fit(["a", 3, "b"])


def test_refit_on_text_forgets_array_features():
    X = np.ones((3, 2))
    emb = DeepEmbedding(lambda b: np.ones((len(b), 2))).fit(X)
    assert emb.n_features_in_ == 2
    emb.fit(["some", "text"])
    assert not hasattr(emb, "n_features_in_")


def test_list_of_variable_size_samples():
    rng = np.random.default_rng(RNG_SEED)
    images = [rng.random((s, s)) for s in (4, 6, 5, 8, 4)]

    def crop(batch):
        return np.stack([im[:4, :4].ravel() for im in batch])

    out = DeepEmbedding(_toy_model, preprocess=crop, batch_size=2).fit_transform(images)
    assert_allclose(out, _toy_model(crop(images)), rtol=1e-6)

    with pytest.raises(ValueError, match="different shapes"):
        DeepEmbedding(_toy_model).fit_transform(images)
    # same-shape samples are stacked without preprocess
    same = [rng.random(3) for _ in range(4)]
    assert_allclose(
        DeepEmbedding(_toy_model).fit_transform(same),
        _toy_model(np.stack(same)),
        rtol=1e-6,
    )


def test_normalize():
    X = np.random.default_rng(RNG_SEED).normal(size=(10, 4))
    X[3] = 0.0

    def identity(batch):
        return batch

    out = DeepEmbedding(identity, normalize=True, dtype="float64").fit_transform(X)
    norms = np.linalg.norm(X, axis=1)
    expected = np.zeros_like(X)
    expected[norms > 0] = X[norms > 0] / norms[norms > 0, None]
    assert_allclose(out, expected, rtol=1e-12)
    assert_array_equal(out[3], 0.0)


def test_pooling_on_numpy_maps():
    X = np.random.default_rng(RNG_SEED).normal(size=(6, 3, 4, 5))

    def maps(batch):
        return batch * 2.0

    kw = {"dtype": "float64", "batch_size": 4}
    assert_allclose(
        DeepEmbedding(maps, pooling="avg", **kw).fit_transform(X),
        2 * X.mean(axis=(2, 3)),
    )
    assert_allclose(
        DeepEmbedding(maps, pooling="max", **kw).fit_transform(X),
        2 * X.max(axis=(2, 3)),
    )
    assert_allclose(
        DeepEmbedding(maps, pooling="flatten", **kw).fit_transform(X),
        2 * X.reshape(6, -1),
    )
    assert_allclose(
        DeepEmbedding(maps, pooling=lambda o: o[:, :, 0, 0], **kw).fit_transform(X),
        2 * X[:, :, 0, 0],
    )
    with pytest.raises(ValueError, match="pooling="):
        DeepEmbedding(maps).fit(X)


def test_input_not_modified():
    X = np.random.default_rng(RNG_SEED).normal(size=(8, 3))
    X_copy = X.copy()

    def scaler(batch):
        batch *= 3.0  # a careless model that works in place
        return batch

    out = DeepEmbedding(scaler, batch_size=3).fit(X).transform(X)
    assert_array_equal(X, X_copy)
    assert_allclose(out, 3 * X, rtol=1e-6)
    out = DeepEmbedding(_toy_model, normalize=True).fit(X).transform(X)
    assert_array_equal(X, X_copy)
    assert not np.shares_memory(out, X)


def test_factory_is_called_once_per_fit():
    calls = []

    def factory():
        calls.append(1)
        return _toy_model

    X = np.ones((4, 2))
    emb = DeepEmbedding(factory).fit(X)
    assert emb.model_ is _toy_model
    emb.transform(X)
    assert len(calls) == 1
    assert_allclose(emb.transform(X), _toy_model(X), rtol=1e-6)


def test_factory_must_return_callable():
    with pytest.raises(TypeError, match="factory"):
        DeepEmbedding(lambda: 3).fit(np.ones((2, 2)))


@pytest.mark.parametrize(
    "params, X, error, match",
    [
        ({"device": "gpu"}, np.ones((2, 2)), ValueError, "device must be"),
        ({"layer": "fc"}, np.ones((2, 2)), ValueError, "needs a torch.nn.Module"),
        ({"model": "no-such-model"}, np.ones((2, 2)), ValueError, "not a registered"),
        (
            {"model": lambda b: np.ones((1, 2))},
            np.ones((3, 2)),
            ValueError,
            "one embedding per",
        ),
        ({}, np.array([[1.0, np.nan]]), ValueError, "NaN"),
    ],
)
def test_bad_input(params, X, error, match):
    params = {"model": _toy_model, **params}
    with pytest.raises(error, match=match):
        DeepEmbedding(**params).fit_transform(X)


def test_wrong_feature_count_in_transform():
    emb = DeepEmbedding(_toy_model).fit(np.ones((3, 4)))
    with pytest.raises(ValueError, match="4 features"):
        emb.transform(np.ones((3, 5)))


def test_callable_path_does_not_import_torch():
    code = (
        "import sys, numpy as np\n"
        "from mlearn.features import DeepEmbedding\n"
        "f = lambda b: np.asarray(b) * 2\n"
        "out = DeepEmbedding(f).fit_transform(np.ones((3, 2)))\n"
        "assert out.shape == (3, 2)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_clone_shares_model_and_pickles():
    X = np.random.default_rng(RNG_SEED).normal(size=(5, 3))
    emb = DeepEmbedding(_toy_model, batch_size=2).fit(X)
    twin = clone(emb)
    assert twin.model is emb.model
    assert twin.get_params() == emb.get_params()
    assert not hasattr(twin, "model_")
    restored = pickle.loads(pickle.dumps(emb))
    assert_array_equal(restored.transform(X), emb.transform(X))


def test_progress_bar(capsys):
    X = np.ones((9, 2))
    DeepEmbedding(_toy_model, batch_size=2, progress=True).fit(X).transform(X)
    assert capsys.readouterr().err != ""
    DeepEmbedding(_toy_model, batch_size=2).fit(X).transform(X)
    assert capsys.readouterr().err == ""


# ---------------------------------------------------------------------------
# torch models
# ---------------------------------------------------------------------------


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _mlp(torch, n_in=6, n_out=5, seed=RNG_SEED):
    torch.manual_seed(seed)
    nn = torch.nn
    return nn.Sequential(
        nn.Linear(n_in, 16),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(16, n_out),
    )


def _cnn(torch, seed=RNG_SEED):
    torch.manual_seed(seed)
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Conv2d(4, 6, 3),
        nn.Dropout2d(0.3),
        nn.ReLU(),
    )


def _reference(torch, module, X, *, dtype=None):
    """Forward pass by hand, on an eval-mode copy."""
    module = copy.deepcopy(module).eval()
    tensor = torch.as_tensor(X, dtype=dtype or torch.float32)
    if dtype is not None:
        module = module.to(dtype)
    with torch.no_grad():
        return module(tensor).numpy()


def _train_batchnorm(torch, cnn):
    # give BatchNorm non-trivial running statistics
    with torch.no_grad():
        cnn.train()
        for _ in range(3):
            cnn(torch.randn(8, 3, 7, 7) * 2 + 1)
    return cnn


def test_mlp_shape_and_values(torch):
    X = np.random.default_rng(RNG_SEED).normal(size=(30, 6)).astype(np.float32)
    net = _mlp(torch)
    emb = DeepEmbedding(net, device="cpu").fit(X)
    out = emb.transform(X)
    assert out.shape == (30, 5) and out.dtype == np.float32
    assert emb.n_features_out_ == 5 and emb.n_features_in_ == 6
    assert_allclose(out, _reference(torch, net, X), rtol=1e-5, atol=1e-6)
    assert_array_equal(emb.get_feature_names_out(), [f"deepembedding{i}" for i in range(5)])


def test_batch_size_invariance(torch):
    rng = np.random.default_rng(RNG_SEED)
    X = rng.normal(size=(20, 6))
    images = rng.normal(size=(11, 3, 7, 7))
    for net, data, pooling in ((_mlp(torch), X, None), (_cnn(torch), images, "avg")):
        outs = [
            DeepEmbedding(net, batch_size=b, pooling=pooling).fit_transform(data)
            for b in (1, 7, len(data))
        ]
        assert_allclose(outs[0], outs[2], rtol=1e-5, atol=1e-6)
        assert_allclose(outs[1], outs[2], rtol=1e-5, atol=1e-6)


def test_eval_mode_and_module_left_untouched(torch):
    cnn = _train_batchnorm(torch, _cnn(torch))
    cnn.train()
    state = {k: v.clone() for k, v in cnn.state_dict().items()}
    images = np.random.default_rng(RNG_SEED).normal(size=(9, 3, 7, 7))
    emb = DeepEmbedding(cnn, pooling="flatten", batch_size=4).fit(images)
    first, second = emb.transform(images), emb.transform(images)
    # dropout off and BatchNorm on running statistics: same output twice,
    # equal to the eval-mode forward pass
    assert_array_equal(first, second)
    expected = _reference(torch, cnn, images).reshape(9, -1)
    assert_allclose(first, expected, rtol=1e-5, atol=1e-6)
    # the module passed in is still in training mode, with its weights
    assert cnn.training and all(m.training for m in cnn.modules())
    for key, value in cnn.state_dict().items():
        assert torch.equal(value, state[key])
    assert emb.model_ is not cnn


def test_eval_module_is_shared_not_copied(torch):
    net = _mlp(torch).eval()
    X = np.ones((3, 6))
    emb = DeepEmbedding(net, device="cpu").fit(X)
    assert emb.model_ is net
    assert clone(emb).model is net


@pytest.mark.parametrize("pooling", ["avg", "max", "flatten"])
def test_cnn_pooling(torch, pooling):
    cnn = _train_batchnorm(torch, _cnn(torch))
    images = np.random.default_rng(RNG_SEED).normal(size=(10, 3, 9, 8))
    out = DeepEmbedding(cnn, pooling=pooling, batch_size=3).fit_transform(images)
    maps = _reference(torch, cnn, images)  # (10, 6, 7, 6)
    expected = {
        "avg": maps.mean(axis=(2, 3)),
        "max": maps.max(axis=(2, 3)),
        "flatten": maps.reshape(10, -1),
    }[pooling]
    assert out.shape == expected.shape
    assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_cnn_without_pooling_raises(torch):
    images = np.zeros((2, 3, 5, 5))
    with pytest.raises(ValueError, match="pooling="):
        DeepEmbedding(_cnn(torch)).fit(images)


def test_layer_hook(torch):
    X = np.random.default_rng(RNG_SEED).normal(size=(12, 6))
    net = _mlp(torch)
    out = DeepEmbedding(net, layer="1", batch_size=5).fit_transform(X)
    with torch.no_grad():
        expected = net[:2].eval()(torch.as_tensor(X, dtype=torch.float32)).numpy()
    net.train()
    assert out.shape == (12, 16)
    assert_allclose(out, expected, rtol=1e-5, atol=1e-6)

    cnn = _train_batchnorm(torch, _cnn(torch))
    images = np.random.default_rng(1).normal(size=(4, 3, 6, 6))
    out = DeepEmbedding(cnn, layer="1", pooling="avg").fit_transform(images)
    with torch.no_grad():
        maps = copy.deepcopy(cnn)[:2].eval()(torch.as_tensor(images, dtype=torch.float32))
    assert_allclose(out, maps.mean(dim=(2, 3)).numpy(), rtol=1e-5, atol=1e-6)


def test_layer_hook_stops_the_forward_pass(torch):
    class Boom(torch.nn.Module):
        def forward(self, x):
            raise RuntimeError("the forward pass went past the layer")

    net = torch.nn.Sequential(torch.nn.Linear(3, 4), Boom()).eval()
    out = DeepEmbedding(net, layer="0").fit_transform(np.ones((2, 3)))
    assert out.shape == (2, 4)
    # the hook is removed afterwards
    assert not net[0]._forward_hooks


def test_layer_not_reached(torch):
    class Skip(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.used = torch.nn.Linear(3, 2)
            self.unused = torch.nn.Linear(3, 2)

        def forward(self, x):
            return self.used(x)

    with pytest.raises(ValueError, match="not called during the forward pass"):
        DeepEmbedding(Skip().eval(), layer="unused").fit(np.ones((2, 3)))


def test_unknown_layer(torch):
    with pytest.raises(ValueError, match="layer='fc9' is not a submodule"):
        DeepEmbedding(_mlp(torch), layer="fc9").fit(np.ones((2, 6)))


def test_determinism_across_instances(torch):
    X = np.random.default_rng(RNG_SEED).normal(size=(15, 6))
    a = DeepEmbedding(_mlp(torch), batch_size=4).fit_transform(X)
    b = DeepEmbedding(_mlp(torch), batch_size=4).fit_transform(X)
    assert_array_equal(a, b)


def test_pickle_with_model(torch):
    X = np.random.default_rng(RNG_SEED).normal(size=(7, 6))
    net = _mlp(torch)
    emb = DeepEmbedding(net, normalize=True).fit(X)
    restored = pickle.loads(pickle.dumps(emb))
    assert restored.model_ is not emb.model_
    assert_array_equal(restored.transform(X), emb.transform(X))
    unfitted = pickle.loads(pickle.dumps(DeepEmbedding(net)))
    assert_array_equal(unfitted.fit_transform(X), DeepEmbedding(net).fit_transform(X))


def test_dtype_float64_and_half(torch):
    X = np.random.default_rng(RNG_SEED).normal(size=(10, 6))
    net = _mlp(torch)
    out64 = DeepEmbedding(net, dtype="float64").fit_transform(X)
    assert out64.dtype == np.float64
    assert_allclose(out64, _reference(torch, net, X, dtype=torch.float64), rtol=1e-12)
    assert next(net.parameters()).dtype == torch.float32
    out_bf16 = DeepEmbedding(net, dtype="bfloat16").fit_transform(X)
    assert out_bf16.dtype == np.float32
    assert_allclose(out_bf16, out64, atol=0.1)


def test_integer_inputs_stay_integer(torch):
    torch.manual_seed(RNG_SEED)
    emb_layer = torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.Flatten()).eval()
    ids = np.array([[1, 2], [3, 9], [0, 0]])
    out = DeepEmbedding(emb_layer, dtype="float64").fit_transform(ids)
    weight = emb_layer[0].weight.detach().numpy()
    assert_allclose(out, weight[ids].reshape(3, -1), rtol=1e-6)


def test_preprocess_and_mapping_output(torch):
    class DictNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(RNG_SEED)
            self.lin = torch.nn.Linear(2, 3)

        def forward(self, features):
            h = self.lin(features["x"]) * features["mask"]
            return {"token_embeddings": h * 0, "sentence_embedding": h}

    net = DictNet().eval()
    texts = ["ab", "c", "def g", ""]

    def tokenize(batch):
        x = torch.tensor([[len(s), s.count(" ")] for s in batch], dtype=torch.float64)
        return {"x": x, "mask": torch.ones(len(batch), 1)}

    out = DeepEmbedding(net, preprocess=tokenize, batch_size=3).fit_transform(texts)
    with torch.no_grad():
        expected = net.lin(tokenize(texts)["x"].float()).numpy()
    assert_allclose(out, expected, rtol=1e-6)
    with pytest.raises(ValueError, match="preprocess="):
        DeepEmbedding(net).fit(texts)


def test_module_class_as_factory(torch):
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(RNG_SEED)
            self.lin = torch.nn.Linear(4, 2)

        def forward(self, x):
            return self.lin(x)

    X = np.random.default_rng(RNG_SEED).normal(size=(5, 4))
    emb = DeepEmbedding(Net).fit(X)
    assert isinstance(emb.model_, Net)
    assert not emb.model_.training
    with torch.no_grad():
        expected = Net()(torch.as_tensor(X, dtype=torch.float32)).numpy()
    assert_allclose(emb.transform(X), expected, rtol=1e-6)
    # a partial with arguments bound is a factory too
    emb = DeepEmbedding(functools.partial(_mlp, torch, 4, 3)).fit(X)
    assert emb.n_features_out_ == 3
    # cloning and pickling the unfitted transformer does not touch weights
    assert clone(DeepEmbedding(Net)).model is Net


def test_tensor_returning_callable(torch):
    def model(batch):
        return torch.as_tensor(batch).to(torch.bfloat16) * 2

    X = np.arange(6.0).reshape(3, 2)
    assert_allclose(DeepEmbedding(model).fit_transform(X), 2 * X)


def test_cuda_unavailable_raises(torch):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(ValueError, match="no CUDA device"):
        DeepEmbedding(_mlp(torch), device="cuda").fit(np.ones((2, 6)))


@pytest.mark.gpu
def test_cuda_matches_cpu(torch):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    X = np.random.default_rng(RNG_SEED).normal(size=(50, 6))
    net = _mlp(torch)
    cpu = DeepEmbedding(net, device="cpu").fit_transform(X)
    gpu = DeepEmbedding(net, device="cuda").fit(X)
    assert next(net.parameters()).device.type == "cpu"
    assert_allclose(gpu.transform(X), cpu, rtol=1e-4, atol=1e-5)


def _labelled_blobs(n_per_class=20, n_features=6):
    rng = np.random.default_rng(RNG_SEED)
    centres = rng.normal(scale=2.0, size=(3, n_features))
    X = np.concatenate([c + rng.normal(size=(n_per_class, n_features)) for c in centres])
    y = np.repeat(np.arange(3), n_per_class)
    return X, y


def test_pipeline_with_metric_learner(torch):
    X, y = _labelled_blobs()
    net = _mlp(torch, n_out=8)
    pipe = make_pipeline(
        DeepEmbedding(net, batch_size=16), mlearn.Covariance(), KNeighborsClassifier(3)
    )
    pipe.fit(X, y)

    # the same steps composed by hand
    emb = DeepEmbedding(net, batch_size=16).fit_transform(X)
    learner = mlearn.Covariance().fit(emb)
    knn = KNeighborsClassifier(3).fit(learner.transform(emb), y)
    assert_array_equal(pipe.predict(X), knn.predict(learner.transform(emb)))

    scores = cross_val_score(pipe, X, y, cv=KFold(3, shuffle=True, random_state=RNG_SEED))
    assert scores.shape == (3,) and np.all(scores > 1 / 3)

    search = GridSearchCV(
        pipe,
        {
            "deepembedding__normalize": [False, True],
            "deepembedding__layer": [None, "1"],
        },
        cv=3,
    ).fit(X, y)
    assert set(search.cv_results_["param_deepembedding__layer"]) == {None, "1"}
    assert search.best_estimator_.steps[0][1].model is net


def test_pipeline_with_supervised_itml(torch):
    X, y = _labelled_blobs()
    net = _mlp(torch, n_out=8)
    pipe = make_pipeline(
        DeepEmbedding(net),
        mlearn.ITML_Supervised(random_state=0),
        KNeighborsClassifier(3),
    )
    cv = KFold(3, shuffle=True, random_state=RNG_SEED)
    scores = cross_val_score(pipe, X, y, cv=cv)
    # the same folds, embedding by hand
    emb = DeepEmbedding(net).fit_transform(X)
    manual = cross_val_score(
        make_pipeline(mlearn.ITML_Supervised(random_state=0), KNeighborsClassifier(3)),
        emb,
        y,
        cv=cv,
    )
    assert_allclose(scores, manual)


def test_wrong_output_shape_names_the_input_the_model_was_given():
    # a model that pools over the batch instead of over the features
    def batch_mean(batch):
        return batch.mean(axis=0, keepdims=True)

    X = np.arange(24.0).reshape(4, 2, 3)
    with pytest.raises(
        ValueError,
        match=r"given input of shape \(4, 6\) \(a batch of 4 "
        r"samples\), it returned shape \(1, 6\)",
    ):
        DeepEmbedding(batch_mean, batch_size=4).fit(X[:1].reshape(1, 6)).transform(X.reshape(4, 6))
    # the shape is the one after preprocess, what the model saw
    flat = DeepEmbedding(
        lambda b: b[:1], batch_size=4, preprocess=lambda b: np.asarray(b).reshape(len(b), -1)
    )
    with pytest.raises(ValueError, match=r"given input of shape \(4, 6\)"):
        flat.fit(X[:1]).transform(X)
    tokens = DeepEmbedding(
        lambda d: np.ones((1, 2)),
        batch_size=4,
        preprocess=lambda b: {"ids": np.zeros((len(b), 5), int)},
    )
    with pytest.raises(ValueError, match=r"given input \{'ids': of shape \(4, 5\)\}"):
        tokens.fit(X[:1]).transform(X)
