"""The training loop shared by the estimators that train a network.

:class:`_TrainedEmbedding` is a :class:`~mlearn.features.DeepEmbedding` whose
``fit`` trains (a copy of) the network instead of only running it. A
subclass says what one batch costs; the loop, the optimiser, early stopping,
determinism and pickling live here.

Subclass hooks
--------------
``_needs_labels`` : bool
    Whether ``fit`` requires ``y``.
``_min_batch_size`` : int
    A shuffled epoch's last batch is dropped when it is smaller (2 by
    default: pair losses and batch normalisation need two samples).
``_build_heads(embedding_dim, y)`` -> dict of modules
    Extra trainable modules (prototypes, projection heads, predictors),
    built once and optimised with the network; stored in ``heads_``. ``y``
    holds the encoded labels (ints in ``range(len(classes_))``) or None;
    when a pickle is loaded it is ``arange(len(classes_))``, so heads
    must depend on ``y`` only through the set of classes. Initialise them
    with ``self._generator`` (a seeded CPU :class:`torch.Generator`).
``_batch_loss(inputs, targets, generator)`` -> scalar tensor
    The loss of one batch; ``self._forward(inputs)`` gives the embeddings
    with autograd on. ``generator`` is a seeded CPU generator for any
    randomness of the loss (augmentations). ``self._validating`` is True
    while the loss is evaluated on held-out data (no gradient, network in
    eval mode); skip side effects (queues) then.
``_after_step()``
    Called after each optimiser step (momentum updates).
``_loss_is_comparable()`` -> bool
    Asked before each epoch: whether its loss will compare with later ones
    (True by default). While it is False, each epoch counts as the best so
    far and the stopping rule counts no epoch without improvement, so a
    loss that rises for a known reason (MoCo's queue filling with real
    keys) does not stop training.
``_validation_score(samples, codes, index, seed)`` -> float
    The criterion of early stopping on the held-out samples ``index``:
    the mean loss by default (``_validation_higher_is_better = False``);
    a subclass may measure something else (DeepMetricLearner: MAP@R,
    higher is better), named ``_validation_name`` in verbose output.
``_target_modules()`` -> dict of modules
    Called once after ``model_`` and ``heads_`` exist (on the first fit and
    when a pickle is loaded) to build extra modules that are not optimised
    (momentum encoders); stored in ``targets_``, moved to the device, their
    parameters frozen, pickled as state dicts.
"""

import contextlib
import copy
import inspect
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.validation import check_is_fitted

from .._docstrings import format_doc
from .._progress import progress as _progress
from .._sklearn_compat import Interval, StrOptions, _fit_context
from ..features.deep import (
    _DEVICE_PATTERN,
    DeepEmbedding,
    _is_factory,
    _is_torch_module,
)
from ._torch import import_torch, make_generator, resolve_device, seed_from

torch = import_torch()

__all__: list[str] = []

_OPTIMIZERS = {
    "adam": lambda params, lr, wd: torch.optim.Adam(params, lr=lr, weight_decay=wd),
    "adamw": lambda params, lr, wd: torch.optim.AdamW(params, lr=lr, weight_decay=wd),
    "sgd": lambda params, lr, wd: torch.optim.SGD(params, lr=lr, weight_decay=wd, momentum=0.9),
}

_PARAMETERS_TEMPLATE = """
batch_size : int, default=64
    {batch_size}
device : {'auto', 'cpu', 'cuda'} or str, default='auto'
    Where the network trains and runs (``'auto'``: CUDA when available).
preprocess : callable, default=None
    Maps a batch of samples to the network's input, as in
    :class:`~mlearn.features.DeepEmbedding`{preprocess}
layer : str, default=None
    Name of the submodule whose output is the embedding (the network
    after it is not used).
pooling : {'avg', 'max', 'flatten'} or callable, default=None
    Reduction of a ``(batch, channels, *spatial)`` output to 2-D.
{normalize}
dtype : {'float32', 'float64', 'float16', 'bfloat16'}, default='float32'
    Precision of the network's parameters and computation.
progress : bool, default=False
    Report progress over batches on stderr.
optimizer : {'adam', 'adamw', 'sgd'}, default='adam'
    The optimiser (SGD with momentum 0.9).
learning_rate : float, default=1e-3
    Step size of the optimiser.
weight_decay : float, default=0.0
    L2 penalty (decoupled for 'adamw').
max_iter : int, default=10
    Maximum number of epochs (passes over the training data).
{early_stopping}
n_iter_no_change : int, default=5
    Epochs without an improvement by ``tol`` before stopping: of the
    validation criterion with ``early_stopping``, else of the training
    loss.
tol : float, default=1e-4
    Least improvement that counts.
random_state : int, RandomState instance or None, default=None
    Seeds the network copy's lazy initialisation, the heads, the
    shuffling, dropout, any augmentation and the validation split. With an
    int, two fits on the CPU give identical weights. torch's global random
    state is left as it was.
verbose : int, default=0
    1 or more prints the losses of each epoch (and shows progress over the
    batches).
"""

_ATTRIBUTES_TEMPLATE = """
n_features_out_ : int
    Dimension of the embeddings (the network's output).
n_iter_ : int
    Number of epochs run (over all calls of ``partial_fit``).
objective_history_ : list of float
    Mean training loss of each epoch.
validation_history_ : list of float
    {validation_history}
best_iteration_ : int
    Epoch whose weights were kept (with ``early_stopping``).
device_ : str
    The resolved torch device.
n_features_in_ : int
    Number of features seen in ``fit`` (second axis of ``X``).
"""

_NOTES = """
No ConvergenceWarning is raised when training stops at ``max_iter``: a
network is trained for a budget of epochs, not to convergence.

Pickling stores the weights (``state_dict``) of the network and of any
head or momentum copy, not the modules: loading rebuilds them from
``model`` (so a factory must be importable), and a network trained on a
GPU loads on a machine without one.
"""


def _parameters_doc(
    *, batch_size: str, preprocess: str, normalize: str, early_stopping: str
) -> str:
    """The numpydoc entries of the training parameters, ``batch_size`` to
    ``verbose`` in signature order; each estimator supplies the text that
    differs (its ``batch_size`` advice, what ``preprocess`` feeds, the
    ``normalize`` entry and the early-stopping entries)."""
    return format_doc(
        _PARAMETERS_TEMPLATE,
        batch_size=batch_size,
        preprocess=preprocess,
        normalize=normalize,
        early_stopping=early_stopping,
    )


def _attributes_doc(*, validation_history: str) -> str:
    """The numpydoc entries of the fitted attributes every trained estimator has."""
    return format_doc(_ATTRIBUTES_TEMPLATE, validation_history=validation_history)


# Fitted attributes holding modules; pickled as state dicts.
_MODULE_ATTRS = ("model_", "heads_", "targets_")


def _cpu_state(module):
    return {key: value.detach().cpu().clone() for key, value in module.state_dict().items()}


def _to_cpu(value):
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, Mapping):
        return {key: _to_cpu(v) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(v) for v in value)
    return value


def _take(X, index):
    if isinstance(X, np.ndarray):
        return X[index]
    return [X[i] for i in index]


def _store_params(estimator, values):
    """Store each ``__init__`` parameter of ``estimator`` from ``values``.

    The training estimators take DeepEmbedding's nine parameters, the training
    loop's ten and their own; scikit-learn reads them from each class's
    explicit signature, and this stores them without forwarding the list
    through every ``super().__init__``. ``values`` is the caller's ``locals()``.
    """
    for name in inspect.signature(type(estimator).__init__).parameters:
        if name != "self":
            setattr(estimator, name, values[name])


class _TrainedEmbedding(DeepEmbedding):
    """Base of the estimators that train the network behind a DeepEmbedding.

    Not public: see :class:`mlearn.deep.DeepMetricLearner` and the
    self-supervised learners for the parameters, documented there.
    """

    _input_kind = "deep"
    _needs_labels = False
    _min_batch_size = 2
    _validation_name = "validation loss"
    _validation_higher_is_better = False

    _parameter_constraints: dict = {
        **DeepEmbedding._parameter_constraints,
        "optimizer": [StrOptions(set(_OPTIMIZERS))],
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "weight_decay": [Interval(numbers.Real, 0, None, closed="left")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        model: Callable[..., Any] | str,
        *,
        batch_size: int = 64,
        device: str = "auto",
        preprocess: Callable[..., Any] | None = None,
        layer: str | None = None,
        pooling: str | Callable[..., Any] | None = None,
        normalize: bool = False,
        dtype: str = "float32",
        progress: bool = False,
        optimizer: str = "adam",
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
        max_iter: int = 10,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 5,
        tol: float = 1e-4,
        random_state: Any = None,
        verbose: int = 0,
    ) -> None:
        _store_params(self, locals())

    # ------------------------------------------------------------------
    # hooks
    # ------------------------------------------------------------------

    def _build_heads(self, embedding_dim: int, y: np.ndarray | None) -> dict:
        return {}

    def _batch_loss(self, inputs: Any, targets: Any, generator: Any) -> Any:
        raise NotImplementedError

    def _after_step(self) -> None:
        return None

    def _target_modules(self) -> dict:
        return {}

    def _loss_is_comparable(self) -> bool:
        return True

    # ------------------------------------------------------------------
    # public API
    # ------------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: ArrayLike | Sequence[Any], y: ArrayLike | None = None) -> "_TrainedEmbedding":
        """Train a copy of the network on ``X`` (and ``y``) for up to ``max_iter`` epochs.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Training samples, in the layout the network takes (images
            channels-first).
        y : array-like of shape (n_samples,), default=None
            Labels; required by supervised losses, ignored otherwise.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        samples, codes = self._prepare_data(X, y, reset=True, classes=None)
        self._initialize(samples, codes)
        train_index = np.arange(len(samples))
        val_index = None
        if self.early_stopping:
            train_index, val_index = self._split(len(samples), codes)
        self._train(samples, codes, train_index, val_index, self.max_iter)
        return self

    def partial_fit(
        self,
        X: ArrayLike | Sequence[Any],
        y: ArrayLike | None = None,
        classes: ArrayLike | None = None,
    ) -> "_TrainedEmbedding":
        """Train for exactly one epoch, starting from the current network.

        The first call builds the network copy (as ``fit`` does); later
        calls continue from ``model_``. No data are held out: early
        stopping applies to ``fit`` only.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Training samples.
        y : array-like of shape (n_samples,), default=None
            Labels; required by supervised losses.
        classes : array-like of shape (n_classes,), default=None
            All the classes, for the first call of a supervised learner
            when ``y`` does not show them all (its unique values by
            default). Ignored afterwards.

        Returns
        -------
        self : object
            The estimator.
        """
        first = not hasattr(self, "model_")
        if first:
            self._validate_params()
        samples, codes = self._prepare_data(X, y, reset=first, classes=classes)
        if first:
            self._initialize(samples, codes)
        self._train(samples, codes, np.arange(len(samples)), None, 1)
        return self

    # ------------------------------------------------------------------
    # data
    # ------------------------------------------------------------------

    def _prepare_data(self, X, y, *, reset, classes):
        if not _DEVICE_PATTERN.match(self.device):
            raise ValueError(
                "device must be 'auto', 'cpu', 'cuda', 'cuda:<index>' or 'mps'; "
                f"got {self.device!r}"
            )
        samples = self._validate_input(X, reset=reset)
        n_samples = len(samples)
        if n_samples < self._min_batch_size:
            raise ValueError(
                f"{type(self).__name__} needs at least {self._min_batch_size} samples to "
                f"train; got {n_samples} sample{'s' if n_samples != 1 else ''}"
            )
        codes = None
        if self._needs_labels:
            if y is None:
                raise ValueError(
                    f"{type(self).__name__}{self._loss_description()} is supervised: "
                    "fit needs the labels y"
                )
            y = np.asarray(y)
            if y.ndim != 1 or len(y) != n_samples:
                raise ValueError(
                    f"y must be a 1-D array of {n_samples} labels (one per sample); "
                    f"got shape {y.shape}"
                )
            if reset:
                encoder = LabelEncoder().fit(y if classes is None else np.asarray(classes))
                self.classes_ = encoder.classes_
            unknown = ~np.isin(y, self.classes_)
            if unknown.any():
                raise ValueError(
                    f"y has labels not among classes_ {self.classes_.tolist()}: "
                    f"{np.unique(y[unknown]).tolist()}"
                )
            codes = np.searchsorted(self.classes_, y)
        return samples, codes

    def _loss_description(self):
        loss = getattr(self, "loss", None)
        return f" with loss={loss!r}" if loss is not None else ""

    def _split(self, n_samples, codes):
        stratify = None
        if codes is not None and np.bincount(codes).min() >= 2:
            stratify = codes
        train, val = train_test_split(
            np.arange(n_samples),
            test_size=self.validation_fraction,
            stratify=stratify,
            random_state=seed_from(self.random_state),
        )
        if len(val) < self._min_batch_size or len(train) < self._min_batch_size:
            raise ValueError(
                f"validation_fraction={self.validation_fraction} leaves {len(val)} "
                f"validation and {len(train)} training samples; each needs at least "
                f"{self._min_batch_size}"
            )
        return np.sort(train), np.sort(val)

    # ------------------------------------------------------------------
    # modules
    # ------------------------------------------------------------------

    def _new_module(self):
        """A fresh trainable copy of ``model`` (the user's module is never touched)."""
        model = self.model
        if not _is_torch_module(model) and not isinstance(model, str) and _is_factory(model):
            model = model()
        elif _is_torch_module(model):
            model = copy.deepcopy(model)
        if not _is_torch_module(model) or not any(p.requires_grad for p in model.parameters()):
            what = (
                f"a {type(model).__name__}"
                if not _is_torch_module(model)
                else "a torch module without trainable parameters"
            )
            raise TypeError(
                f"{type(self).__name__} trains its model, so model must be a "
                "torch.nn.Module with trainable parameters (or a factory that "
                f"returns one); got {what}"
            )
        return model.to(device=self.device_, dtype=getattr(torch, self.dtype))

    def _modules_on_device(self, codes):
        dtype = getattr(torch, self.dtype)
        self.heads_ = torch.nn.ModuleDict(self._build_heads(self.n_features_out_, codes)).to(
            device=self.device_, dtype=dtype
        )
        targets = torch.nn.ModuleDict(self._target_modules()).to(device=self.device_, dtype=dtype)
        for param in targets.parameters():
            param.requires_grad_(False)
        self.targets_ = targets.eval()

    def _make_optimizer(self):
        params = [
            p
            for p in list(self.model_.parameters()) + list(self.heads_.parameters())
            if p.requires_grad
        ]
        return _OPTIMIZERS[self.optimizer](params, self.learning_rate, self.weight_decay)

    def _initialize(self, samples, codes):
        self.device_ = resolve_device(self.device)
        self._generator = make_generator(self.random_state)
        self._validating = False
        # the first forward pass runs under the fitted seed too, so that
        # lazily initialised layers are reproducible
        with self._seeded():
            self.model_ = self._new_module().eval()
            if self.layer is not None:
                self._find_layer(self.model_)
            try:
                first = self._embed(samples[: self._min_batch_size], progress=False)
            except (RuntimeError, TypeError) as exc:
                raise ValueError(
                    f"the model could not embed the input: given a batch of shape "
                    f"{getattr(samples, 'shape', (len(samples),))[1:]} per sample it "
                    f"raised {type(exc).__name__}: {exc}"
                ) from exc
            self.n_features_out_ = int(first.shape[1])
            self._modules_on_device(codes)
        self._optimizer = self._make_optimizer()
        self.objective_history_ = []
        self.validation_history_ = []
        self.n_iter_ = 0
        if self.early_stopping:
            self.best_iteration_ = 0

    @contextlib.contextmanager
    def _seeded(self):
        """Fork torch's global RNG (CPU, and the CUDA device in use) and seed it
        from the estimator's generator, so that dropout and lazy initialisation
        are reproducible and the caller's RNG state is left as it was."""
        devices = []
        if str(self.device_).startswith("cuda"):
            index = torch.device(self.device_).index
            devices = [torch.cuda.current_device() if index is None else index]
        seed = int(torch.randint(2**62, (1,), generator=self._generator))
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            yield

    # ------------------------------------------------------------------
    # the loop
    # ------------------------------------------------------------------

    def _batch_inputs(self, samples, codes, index):
        batch = _take(samples, index)
        if isinstance(batch, np.ndarray):
            batch = batch.copy()
        inputs = self._to_device(self._default_preprocess(batch), torch)
        targets = None
        if codes is not None:
            targets = torch.as_tensor(codes[index], dtype=torch.long, device=self.device_)
        return inputs, targets

    def _forward(self, inputs, module=None):
        """Embeddings of a batch as ``transform`` computes them, with autograd
        on, by ``model_`` or another copy of the network (a momentum copy)."""
        module = self.model_ if module is None else module
        out = self._module_output(module, inputs, torch)
        if out.ndim != 2:
            raise ValueError(
                f"the model must return one embedding per sample; got shape {tuple(out.shape)}"
            )
        if self.normalize:
            out = torch.nn.functional.normalize(out, dim=1)
        return out

    def _train(self, samples, codes, train_index, val_index, n_epochs):
        name = type(self).__name__
        val_generator_seed = int(torch.randint(2**62, (1,), generator=self._generator))
        best_state = None
        # scores are compared as "lower is better"
        sign = -1.0 if val_index is not None and self._validation_higher_is_better else 1.0
        best_score = np.inf
        n_no_change = 0
        with self._seeded():
            for _ in range(n_epochs):
                comparable = self._loss_is_comparable()
                loss = self._epoch(samples, codes, train_index)
                self.objective_history_.append(loss)
                self.n_iter_ += 1
                message = f"{name}: epoch {self.n_iter_}, loss {loss:.6g}"
                if val_index is not None:
                    value = self._validation_score(samples, codes, val_index, val_generator_seed)
                    self.validation_history_.append(value)
                    message += f", {self._validation_name} {value:.6g}"
                    score = sign * value
                else:
                    score = loss
                if self.verbose:
                    print(message)
                if score < best_score - self.tol:
                    n_no_change = 0
                    if val_index is not None:
                        self.best_iteration_ = self.n_iter_
                        best_state = {
                            attr: copy.deepcopy(getattr(self, attr).state_dict())
                            for attr in _MODULE_ATTRS
                        }
                else:
                    n_no_change += 1
                best_score = min(best_score, score)
                if not comparable:
                    # the loss is still settling: this epoch counted as the
                    # best so far, and the next one sets the baseline anew
                    best_score = np.inf
                    n_no_change = 0
                if n_no_change >= self.n_iter_no_change:
                    if self.verbose:
                        print(f"{name}: no improvement over {n_no_change} epochs, stopping")
                    break
        if best_state is not None:
            for attr, state in best_state.items():
                getattr(self, attr).load_state_dict(state)
        self.model_.eval()
        self.heads_.eval()

    def _epoch(self, samples, codes, index):
        order = index[torch.randperm(len(index), generator=self._generator).numpy()]
        batches = [
            order[start : start + self.batch_size]
            for start in range(0, len(order), self.batch_size)
        ]
        if len(batches) > 1 and len(batches[-1]) < self._min_batch_size:
            batches.pop()
        self.model_.train()
        self.heads_.train()
        total, count = 0.0, 0
        desc = type(self).__name__
        with _progress(len(batches), desc, enabled=bool(self.verbose) or self.progress) as bar:
            for batch in batches:
                inputs, targets = self._batch_inputs(samples, codes, batch)
                self._optimizer.zero_grad(set_to_none=True)
                loss = self._batch_loss(inputs, targets, self._generator)
                loss.backward()
                self._optimizer.step()
                self._after_step()
                value = float(loss.detach())
                total += value * len(batch)
                count += len(batch)
                bar.update(1, loss=value)
        self.model_.eval()
        self.heads_.eval()
        return total / count

    def _validation_score(self, samples, codes, index, seed):
        """Mean loss on the held-out samples ``index``."""
        # the same augmentation draws every epoch, so that the losses compare
        generator = torch.Generator()
        generator.manual_seed(seed)
        total, count = 0.0, 0
        self._validating = True
        try:
            with torch.no_grad():
                for start in range(0, len(index), self.batch_size):
                    batch = index[start : start + self.batch_size]
                    if len(batch) < self._min_batch_size:
                        continue
                    inputs, targets = self._batch_inputs(samples, codes, batch)
                    value = float(self._batch_loss(inputs, targets, generator))
                    total += value * len(batch)
                    count += len(batch)
        finally:
            self._validating = False
        return total / count

    # ------------------------------------------------------------------
    # transform, pickling
    # ------------------------------------------------------------------

    def transform(self, X: ArrayLike | Sequence[Any]) -> np.ndarray:
        """Embed ``X`` with the trained network (in eval mode; heads are not used).

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Samples in the format seen in ``fit``.

        Returns
        -------
        X_new : ndarray of shape (n_samples, `n_features_out_`)
            The embeddings, float32 (float64 when ``dtype='float64'``).
        """
        check_is_fitted(self, "model_")
        self.model_.eval()
        return super().transform(X)

    def __getstate__(self):
        state = self.__dict__.copy()
        if "model_" not in state:
            return state
        state["_module_states"] = {attr: _cpu_state(state.pop(attr)) for attr in _MODULE_ATTRS}
        state["_optimizer_state"] = _to_cpu(state.pop("_optimizer").state_dict())
        state["_generator_state"] = state.pop("_generator").get_state()
        return state

    def __setstate__(self, state):
        module_states = state.pop("_module_states", None)
        optimizer_state = state.pop("_optimizer_state", None)
        generator_state = state.pop("_generator_state", None)
        self.__dict__.update(state)
        if module_states is None:
            return
        if str(self.device_).startswith("cuda") and not torch.cuda.is_available():
            self.device_ = "cpu"
        self._generator = torch.Generator()
        self.model_ = self._new_module()
        self.model_.load_state_dict(module_states["model_"])
        self.model_.eval()
        classes = getattr(self, "classes_", None)
        self._modules_on_device(None if classes is None else np.arange(len(classes)))
        self._generator.set_state(generator_state)
        self.heads_.load_state_dict(module_states["heads_"])
        self.heads_.eval()
        self.targets_.load_state_dict(module_states["targets_"])
        self._optimizer = self._make_optimizer()
        self._optimizer.load_state_dict(optimizer_state)
