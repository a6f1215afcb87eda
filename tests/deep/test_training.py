"""The shared training loop, through DeepMetricLearner: determinism, copies,
partial_fit, early stopping, pickling, errors."""

import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_digits

torch = pytest.importorskip("torch")

from mlearn.deep._training import _TrainedEmbedding  # noqa: E402
from mlearn.deep.metric import DeepMetricLearner  # noqa: E402


def _mlp(seed=0, dropout=0.0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(64, 32),
        torch.nn.ReLU(),
        torch.nn.Dropout(dropout),
        torch.nn.Linear(32, 16),
    )


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(0)
    index = rng.permutation(len(X))[:240]
    return (X[index] / 16).astype(np.float32), y[index]


def _state(module):
    return {key: value.detach().clone() for key, value in module.state_dict().items()}


def _same_weights(a, b):
    return all(torch.equal(a[key], b[key]) for key in a) and a.keys() == b.keys()


def test_training_lowers_the_loss_and_leaves_the_model_alone(digits):
    X, y = digits
    net = _mlp()
    before = _state(net)
    X_before = X.copy()
    learner = DeepMetricLearner(net, loss="contrastive", max_iter=3, random_state=0).fit(X, y)
    assert learner.n_iter_ == 3
    assert len(learner.objective_history_) == 3
    assert learner.objective_history_[-1] < learner.objective_history_[0]
    # the user's module and data are untouched; the fitted copy moved
    assert learner.model_ is not net
    assert _same_weights(_state(net), before)
    assert net.training
    assert not _same_weights(_state(learner.model_), before)
    assert_array_equal(X, X_before)
    emb = learner.transform(X)
    assert emb.shape == (len(X), 16) and emb.dtype == np.float32
    assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)
    assert learner.n_features_out_ == 16
    assert_array_equal(learner.classes_, np.arange(10))


def test_fits_are_deterministic_and_leave_the_global_rng(digits):
    X, y = digits
    nets = [_mlp(dropout=0.2) for _ in range(3)]
    torch.manual_seed(123)
    rng_before = torch.get_rng_state()
    fits = [
        DeepMetricLearner(net, max_iter=2, random_state=seed).fit(X, y)
        for net, seed in zip(nets, (0, 0, 1))
    ]
    assert torch.equal(torch.get_rng_state(), rng_before)
    first, again, other = (_state(f.model_) for f in fits)
    assert _same_weights(first, again)
    assert not _same_weights(first, other)
    assert fits[0].objective_history_ == fits[1].objective_history_


def test_a_factory_is_called_and_heads_are_seeded(digits):
    X, y = digits
    fits = [
        DeepMetricLearner(_mlp, loss="arcface", max_iter=1, random_state=0).fit(X, y)
        for _ in range(2)
    ]
    W = [f.heads_["prototypes"].weight for f in fits]
    assert W[0].shape == (10, 16)
    assert torch.equal(W[0], W[1])


def test_partial_fit_runs_one_epoch_and_continues(digits):
    X, y = digits
    learner = DeepMetricLearner(_mlp(), random_state=0)
    learner.partial_fit(X[:120], y[:120], classes=np.arange(10))
    assert learner.n_iter_ == 1
    model = learner.model_
    after_one = _state(model)
    learner.partial_fit(X[120:], y[120:])
    assert learner.n_iter_ == 2 and len(learner.objective_history_) == 2
    assert learner.model_ is model  # continued, not rebuilt
    assert not _same_weights(after_one, _state(model))
    with pytest.raises(ValueError, match="not among classes_"):
        DeepMetricLearner(_mlp()).partial_fit(X[:20], np.where(y[:20] == 3, 3, 4)).partial_fit(
            X[:20], y[:20]
        )


def test_early_stopping_restores_the_best_epoch(digits):
    X, y = digits
    params = dict(early_stopping=True, validation_fraction=0.25, random_state=0)
    # with a huge tol only the first epoch counts as an improvement: training
    # stops after n_iter_no_change more epochs and returns to epoch 1
    stopped = DeepMetricLearner(_mlp(), max_iter=10, tol=1e9, n_iter_no_change=2, **params).fit(
        X, y
    )
    assert stopped.n_iter_ == 3
    assert stopped.best_iteration_ == 1
    assert len(stopped.validation_history_) == 3
    one_epoch = DeepMetricLearner(_mlp(), max_iter=1, **params).fit(X, y)
    assert_allclose(stopped.transform(X), one_epoch.transform(X), rtol=1e-6, atol=1e-7)
    # the validation loss is computed on held-out data: it differs from the training loss
    assert stopped.validation_history_[0] != stopped.objective_history_[0]
    with pytest.raises(ValueError, match="validation_fraction"):
        DeepMetricLearner(_mlp(), early_stopping=True, validation_fraction=0.01).fit(
            X[:20], y[:20]
        )


def test_without_early_stopping_training_stops_when_the_loss_stalls(digits):
    X, y = digits
    learner = DeepMetricLearner(_mlp(), max_iter=10, tol=1e9, n_iter_no_change=1).fit(X, y)
    assert learner.n_iter_ == 2
    assert not hasattr(learner, "best_iteration_")


def test_pickle_holds_state_dicts(digits):
    X, y = digits
    learner = DeepMetricLearner(_mlp, loss="cosface", max_iter=1, random_state=0).fit(X, y)
    state = learner.__getstate__()
    modules = [k for k, v in state.items() if isinstance(v, torch.nn.Module)]
    assert modules == []
    assert set(state["_module_states"]) == {"model_", "heads_", "targets_"}
    assert all(
        isinstance(t, torch.Tensor) for s in state["_module_states"].values() for t in s.values()
    )
    loaded = pickle.loads(pickle.dumps(learner))
    assert_array_equal(loaded.transform(X), learner.transform(X))
    assert torch.equal(loaded.heads_["prototypes"].weight, learner.heads_["prototypes"].weight)
    # training goes on identically from the loaded copy
    learner.partial_fit(X, y)
    loaded.partial_fit(X, y)
    assert_allclose(loaded.transform(X), learner.transform(X), rtol=1e-5, atol=1e-6)
    # an unfitted learner pickles as a plain estimator
    assert pickle.loads(pickle.dumps(DeepMetricLearner(_mlp))).get_params()["loss"] == "triplet"


def test_verbose_prints_a_line_per_epoch(digits, capsys):
    X, y = digits
    DeepMetricLearner(_mlp(), max_iter=2, verbose=1, random_state=0).fit(X, y)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert all(line.startswith("DeepMetricLearner: epoch") for line in lines)


@pytest.mark.parametrize(
    ("model", "match"),
    [
        (np.tanh, "torch.nn.Module with trainable parameters"),
        ("all-MiniLM-L6-v2", "torch.nn.Module with trainable parameters"),
        (torch.nn.ReLU(), "without trainable parameters"),
    ],
)
def test_a_model_without_parameters_is_refused(digits, model, match):
    X, y = digits
    with pytest.raises(TypeError, match=match):
        DeepMetricLearner(model).fit(X, y)


def test_input_errors(digits):
    X, y = digits
    with pytest.raises(ValueError, match="could not embed the input"):
        DeepMetricLearner(_mlp()).fit(X[:, :10], y)
    with pytest.raises(ValueError, match="needs the labels y"):
        DeepMetricLearner(_mlp()).fit(X)
    with pytest.raises(ValueError, match="one per sample"):
        DeepMetricLearner(_mlp()).fit(X, y[:-1])
    with pytest.raises(ValueError, match="at least 2 samples"):
        DeepMetricLearner(_mlp()).fit(X[:1], y[:1])
    with pytest.raises(ValueError, match="device must be"):
        DeepMetricLearner(_mlp(), device="gpu").fit(X, y)


def test_the_base_has_the_documented_hooks():
    for hook in ("_build_heads", "_batch_loss", "_after_step", "_target_modules", "_forward"):
        assert callable(getattr(_TrainedEmbedding, hook))
    assert _TrainedEmbedding._needs_labels is False


class _Momentum(_TrainedEmbedding):
    """A minimal user of the target-module hooks: a frozen copy that tracks the model."""

    def _target_modules(self):
        import copy

        return {"momentum": copy.deepcopy(self.model_)}

    def _batch_loss(self, inputs, targets, generator):
        noise = torch.randn(inputs.shape, generator=generator).to(inputs)
        return ((self._forward(inputs) - self._forward(inputs + 0.1 * noise)) ** 2).mean()

    def _after_step(self):
        with torch.no_grad():
            for t, p in zip(self.targets_["momentum"].parameters(), self.model_.parameters()):
                t.mul_(0.5).add_(p, alpha=0.5)


def test_target_modules_are_frozen_moved_and_pickled(digits):
    X, _ = digits
    learner = _Momentum(_mlp(), max_iter=2, random_state=0).fit(X)
    momentum = learner.targets_["momentum"]
    assert not any(p.requires_grad for p in momentum.parameters())
    assert not _same_weights(_state(momentum), _state(learner.model_))
    loaded = pickle.loads(pickle.dumps(learner))
    assert _same_weights(_state(loaded.targets_["momentum"]), _state(momentum))
    again = _Momentum(_mlp(), max_iter=2, random_state=0).fit(X)
    assert _same_weights(_state(again.model_), _state(learner.model_))


@pytest.mark.gpu
def test_cuda_fit_matches_cpu_and_unpickles_on_cpu(digits):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    X, y = digits
    params = dict(loss="arcface", max_iter=2, random_state=0)
    gpu = DeepMetricLearner(_mlp(), device="cuda", **params).fit(X, y)
    assert gpu.device_ == "cuda"
    assert next(gpu.model_.parameters()).is_cuda
    cpu = DeepMetricLearner(_mlp(), device="cpu", **params).fit(X, y)
    assert_allclose(gpu.transform(X), cpu.transform(X), rtol=1e-3, atol=1e-3)
    state = pickle.loads(pickle.dumps(gpu)).__getstate__()
    assert all(
        t.device.type == "cpu" for s in state["_module_states"].values() for t in s.values()
    )
    # unpickling where CUDA is unavailable lands on the CPU
    original = torch.cuda.is_available
    torch.cuda.is_available = lambda: False
    try:
        on_cpu = pickle.loads(pickle.dumps(gpu))
    finally:
        torch.cuda.is_available = original
    assert on_cpu.device_ == "cpu"
    assert_allclose(on_cpu.transform(X), gpu.transform(X), rtol=1e-4, atol=1e-5)


class _RecordingLearner(DeepMetricLearner):
    """Records the labels of every training batch."""

    def _batch_loss(self, inputs, targets, generator):
        if not self._validating:
            self.seen_codes_ = getattr(self, "seen_codes_", set()) | set(targets.tolist())
        return super()._batch_loss(inputs, targets, generator)


def _brute_force_map_at_r(Z, labels):
    """MAP@R by sorting each query's distances to the other samples."""
    scores = []
    for i in range(len(Z)):
        others = np.delete(np.arange(len(Z)), i)
        relevant = labels[others] == labels[i]
        r = int(relevant.sum())
        if r == 0:
            continue
        order = np.argsort(np.linalg.norm(Z[others] - Z[i], axis=1), kind="stable")[:r]
        hits = relevant[order]
        precision = np.cumsum(hits) / np.arange(1, r + 1)
        scores.append(float(np.sum(precision * hits)) / r)
    return float(np.mean(scores))


def test_class_split_holds_out_whole_classes_and_scores_their_retrieval(digits):
    X, y = digits
    params = dict(
        early_stopping=True,
        validation_split="classes",
        validation_fraction=0.3,
        max_iter=3,
        n_iter_no_change=1,
        random_state=0,
    )
    learner = _RecordingLearner(_mlp(), **params).fit(X, y)
    # round(0.3 * 10) = 3 classes held out; none of their samples was trained on
    trained = {learner.classes_[c] for c in learner.seen_codes_}
    held_out = sorted(set(learner.classes_) - trained)
    assert len(held_out) == 3
    # the criterion is MAP@R among the held-out samples (higher is better);
    # the kept epoch is the best one, and the restored network reproduces it
    history = learner.validation_history_
    assert 1 <= len(history) <= 3 and learner.n_iter_ == len(history)
    assert learner.best_iteration_ == 1 + int(np.argmax(history))
    mask = np.isin(y, held_out)
    oracle = _brute_force_map_at_r(learner.transform(X[mask]), y[mask])
    assert history[learner.best_iteration_ - 1] == pytest.approx(oracle, abs=1e-6)
    # deterministic: the same classes, history and weights
    again = _RecordingLearner(_mlp(), **params).fit(X, y)
    assert again.seen_codes_ == learner.seen_codes_
    assert again.validation_history_ == history
    assert_array_equal(again.transform(X), learner.transform(X))
    # another random_state draws other classes
    other = _RecordingLearner(_mlp(), **{**params, "random_state": 1, "max_iter": 1}).fit(X, y)
    assert other.seen_codes_ != learner.seen_codes_


def test_sample_split_scores_map_at_r_of_the_held_out_samples(digits):
    X, y = digits
    learner = DeepMetricLearner(
        _mlp(), early_stopping=True, validation_fraction=0.25, max_iter=1, random_state=0
    ).fit(X, y)
    # the held-out samples are the stratified draw of the base class
    _, val = learner._split(len(X), np.searchsorted(learner.classes_, y))
    oracle = _brute_force_map_at_r(learner.transform(X[val]), y[val])
    assert learner.validation_history_ == [pytest.approx(oracle, abs=1e-6)]


def test_class_split_needs_two_classes_on_each_side(digits):
    X, y = digits
    four = np.isin(y, [0, 1, 2, 3])
    params = dict(early_stopping=True, validation_split="classes", max_iter=1)
    # three of four classes held out leave one to train on
    with pytest.raises(ValueError, match="at least 2 classes must remain"):
        DeepMetricLearner(_mlp(), validation_fraction=0.75, **params).fit(X[four], y[four])
    # one class held out: its MAP@R would be 1 whatever the network
    with pytest.raises(ValueError, match="at least 2 classes are held out"):
        DeepMetricLearner(_mlp(), validation_fraction=0.1, **params).fit(X, y)
    with pytest.raises(ValueError, match="validation_split"):
        DeepMetricLearner(_mlp(), early_stopping=True, validation_split="folds").fit(X, y)
    # two and two: fine
    learner = DeepMetricLearner(_mlp(), validation_fraction=0.5, **params).fit(X[four], y[four])
    assert len(learner.validation_history_) == 1
