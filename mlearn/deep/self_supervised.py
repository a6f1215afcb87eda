"""Self-supervised pre-training of a network on unlabelled images.

Four methods, each a transformer whose ``fit(X)`` trains (a copy of) the
network on images without labels and whose ``transform`` embeds images with
the trained network, so that a pre-trained backbone drops into a
:class:`~sklearn.pipeline.Pipeline` in front of a metric learner or a
classifier:

- :class:`SimCLR`: two augmented views of each image are pulled together
  and pushed away from the other images of the batch (NT-Xent loss);
- :class:`MoCo`: the same contrast, with the keys computed by a momentum
  copy of the network and the negatives taken from a queue of earlier keys;
- :class:`BYOL`: one view's projection predicts the other's, as computed by
  a momentum copy of the network; no negatives;
- :class:`RotationPrediction`: a linear head predicts by how many quarter
  turns an image was rotated.

The heads the losses need (projection, prediction, classification) and the
momentum copies are trained alongside the network and dropped by
``transform``, as the methods prescribe.
"""

import contextlib
import copy
import numbers
from collections.abc import Callable, Sequence
from typing import Any

from numpy.typing import ArrayLike

from .._docstrings import fill_doc, format_doc
from .._sklearn_compat import Interval
from ._models import projection_head
from ._ssl_losses import byol_loss, info_nce_with_queue, nt_xent, rotate_batch
from ._torch import import_torch
from ._training import (
    _NOTES,
    _attributes_doc,
    _parameters_doc,
    _store_params,
    _TrainedEmbedding,
)
from .augment import apply_augmentation, as_batch_augmentation, default_augmentation

torch = import_torch()

__all__ = ["BYOL", "MoCo", "RotationPrediction", "SimCLR"]


_SHARED_PARAMETERS = _parameters_doc(
    batch_size="Images per optimisation step (contrastive methods see ``2 *\n"
    "batch_size`` views per step; larger batches give more negatives).",
    preprocess="; augmentations apply to its\noutput.",
    normalize="""
normalize : bool, default=False
    Scale the representations to unit norm, in training (before the heads)
    and in ``transform``.""",
    early_stopping="""
early_stopping : bool, default=False
    Hold out ``validation_fraction`` of the images and stop when the loss on
    them (with augmentations drawn the same way every epoch) has not
    improved by ``tol`` for ``n_iter_no_change`` epochs; the weights of the
    best epoch are restored.
validation_fraction : float, default=0.1
    Share of the images held out with ``early_stopping``.""",
)

_SHARED_ATTRIBUTES = _attributes_doc(
    validation_history="Mean validation loss of each epoch (with ``early_stopping``)."
)

_SHARED_NOTES = """
Inputs are images, channels first: an array of shape (n_samples, C, H, W),
or (n_samples, H, W) for grey levels. Other inputs (feature vectors, say)
need an ``augmentation`` that applies to them, such as
:class:`~mlearn.deep.augment.GaussianNoise`.

{training_notes}
"""

_MODEL_PARAMETER = """
model : torch.nn.Module or callable
    The backbone to train, or a factory (a class or a callable taking no
    argument) that builds it; it maps a batch of images to one
    representation per image. It must have trainable parameters. A module
    is deep-copied in ``fit``: the one you pass is never modified.
"""


def _augmentation_parameter(default_text):
    return f"""
augmentation : callable, list of callable or None, default=None
    How the views of a batch are drawn: a batch augmentation
    ``(batch, generator) -> batch`` (see :mod:`mlearn.deep.augment`), a
    per-image transform on a (C, H, W) tensor (a torchvision transform, for
    example; applied image by image, seeded from ``random_state``) or a list
    of them, applied in turn. It must keep the shape of the batch.
    {default_text}
"""


_DEFAULT_VIEWS = (
    "None means :func:`~mlearn.deep.augment.default_augmentation` (crop, flip, colour\n"
    "    jitter and blur) for the number of channels of the input."
)


def _doc(**extra):
    return fill_doc(
        model=_MODEL_PARAMETER,
        shared_parameters=_SHARED_PARAMETERS,
        shared_attributes=_SHARED_ATTRIBUTES,
        shared_notes=format_doc(_SHARED_NOTES, training_notes=_NOTES),
        **extra,
    )


@contextlib.contextmanager
def _seeded_init(generator):
    """Seed torch's global RNG from ``generator`` for module initialisation,
    leaving the caller's global random state as it was."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _ema_(target, online, momentum):
    """``target <- momentum * target + (1 - momentum) * online``, parameter by parameter."""
    with torch.no_grad():
        for t, o in zip(target.parameters(), online.parameters()):
            t.mul_(momentum).add_(o.detach(), alpha=1 - momentum)


class _KeyQueue(torch.nn.Module):  # type: ignore[name-defined]
    """A first-in first-out queue of keys, held in buffers so that it pickles.

    ``keys[pointer]`` is the oldest key, overwritten next; ``n_pushed``
    counts the keys pushed since the start (the random keys are all
    replaced once it reaches the queue's size).
    """

    def __init__(self, size, dim, generator):
        super().__init__()
        start = torch.randn(size, dim, generator=generator)
        self.register_buffer("keys", torch.nn.functional.normalize(start, dim=1))
        self.register_buffer("pointer", torch.zeros((), dtype=torch.long))
        self.register_buffer("n_pushed", torch.zeros((), dtype=torch.long))

    def push(self, keys):
        self.n_pushed.add_(len(keys))
        keys = keys.detach()[-len(self.keys) :]
        size = len(self.keys)
        index = (int(self.pointer) + torch.arange(len(keys), device=keys.device)) % size
        self.keys[index] = keys.to(self.keys.dtype)
        self.pointer.fill_((int(self.pointer) + len(keys)) % size)

    def ordered(self):
        """The keys from the oldest to the newest."""
        return torch.roll(self.keys, -int(self.pointer), dims=0)


class _SelfSupervised(_TrainedEmbedding):
    """Shared plumbing: the views of a batch and forward passes of other copies."""

    _needs_labels = False
    # inputs are signals (images, feature rows), never token ids: integer
    # pixels are augmented and embedded as floats of ``dtype``
    _cast_integer_inputs = True

    _parameter_constraints: dict = {
        **_TrainedEmbedding._parameter_constraints,
        "augmentation": [callable, list, tuple, None],
    }

    def fit(self, X: ArrayLike | Sequence[Any], y: Any = None) -> Any:
        """Pre-train a copy of the network on unlabelled images.

        Parameters
        ----------
        X : array-like of shape (n_samples, C, H, W) or (n_samples, H, W)
            Training images, channels first.
        y : None
            Ignored: the methods use no labels.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return super().fit(X, None)

    def partial_fit(self, X: ArrayLike | Sequence[Any], y: Any = None, classes: Any = None) -> Any:
        """Train for exactly one epoch, starting from the current network.

        Parameters
        ----------
        X : array-like of shape (n_samples, C, H, W) or (n_samples, H, W)
            Training images, channels first.
        y : None
            Ignored.
        classes : None
            Ignored.

        Returns
        -------
        self : object
            The estimator.
        """
        return super().partial_fit(X, None)

    def _augment(self, inputs, generator):
        augmentation = self.augmentation
        if augmentation is None:
            if not isinstance(inputs, torch.Tensor) or inputs.ndim not in (3, 4):
                shape = tuple(getattr(inputs, "shape", ()))
                raise ValueError(
                    f"{type(self).__name__} with augmentation=None augments images of "
                    f"shape (n_samples, C, H, W) or (n_samples, H, W); the network's "
                    f"input has shape {shape}. Pass augmentation= for other inputs"
                )
            n_channels = inputs.shape[1] if inputs.ndim == 4 else 1
            augmentation = default_augmentation(n_channels)
        else:
            augmentation = as_batch_augmentation(augmentation)
        return apply_augmentation(augmentation, inputs, generator)

    def _two_views(self, inputs, generator):
        return self._augment(inputs, generator), self._augment(inputs, generator)

    @contextlib.contextmanager
    def _target_mode(self):
        """Momentum copies run with batch statistics while training, as the
        online network does; in eval mode during validation."""
        if self._validating:
            yield
            return
        self.targets_.train()
        try:
            with torch.no_grad():
                yield
        finally:
            self.targets_.eval()


def _head_dims(self, embedding_dim):
    hidden = embedding_dim if self.hidden_dim is None else self.hidden_dim
    return hidden, self.projection_dim


@_doc(augmentation=_augmentation_parameter(_DEFAULT_VIEWS))
class SimCLR(_SelfSupervised):
    """Contrastive pre-training with SimCLR: two views of an image agree.

    Each step draws two augmented views of every image of the batch, embeds
    them with the network and maps the embeddings through a projection head
    (an MLP); the NT-Xent loss makes the two projections of one image more
    similar (in cosine) than either is to the other ``2 * batch_size - 2``
    views of the batch [1]_. ``transform`` returns the network's output, not
    the projection.

    Parameters
    ----------
    {model}
    temperature : float, default=0.5
        Temperature of the NT-Xent loss (0.5 is the paper's value for small
        images).
    projection_dim : int, default=64
        Output size of the projection head (128 in the paper; smaller for
        small networks).
    hidden_dim : int, default=None
        Hidden size of the projection head; None means the network's output
        size, as in the paper.
    {augmentation}
    {shared_parameters}

    Attributes
    ----------
    model_ : torch.nn.Module
        The trained network (in eval mode).
    heads_ : torch.nn.ModuleDict
        ``'projection'``: the trained projection head.
    {shared_attributes}

    See Also
    --------
    MoCo : Contrast against a queue of keys from a momentum network.
    BYOL : No negatives: predict a momentum network's projection.

    Notes
    -----
    The defaults follow the paper where it applies to small images and
    short CPU runs (Adam instead of LARS, batches of 64 images).

    {shared_notes}

    References
    ----------
    .. [1] T. Chen, S. Kornblith, M. Norouzi and G. Hinton, "A Simple
       Framework for Contrastive Learning of Visual Representations", ICML
       2020.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from mlearn.deep import SimCLR, SmallConvNet
    >>> X = load_digits().images[:64].reshape(-1, 1, 8, 8) / 16
    >>> net = SmallConvNet(embedding_dim=16, width=8)
    >>> simclr = SimCLR(net, max_iter=2, batch_size=32, random_state=0).fit(X)
    >>> simclr.transform(X).shape
    (64, 16)
    >>> len(simclr.objective_history_)
    2
    """

    _parameter_constraints: dict = {
        **_SelfSupervised._parameter_constraints,
        "temperature": [Interval(numbers.Real, 0, None, closed="neither")],
        "projection_dim": [Interval(numbers.Integral, 1, None, closed="left")],
        "hidden_dim": [Interval(numbers.Integral, 1, None, closed="left"), None],
    }

    def __init__(
        self,
        model: Callable[..., Any],
        *,
        temperature: float = 0.5,
        projection_dim: int = 64,
        hidden_dim: int | None = None,
        augmentation: Any = None,
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

    def _build_heads(self, embedding_dim, y):
        hidden, out = _head_dims(self, embedding_dim)
        with _seeded_init(self._generator):
            return {"projection": projection_head(embedding_dim, hidden, out)}

    def _batch_loss(self, inputs, targets, generator):
        view1, view2 = self._two_views(inputs, generator)
        n = view1.shape[0]
        # one pass over both views, so that batch normalisation sees all 2n
        z = self.heads_["projection"](self._forward(torch.cat([view1, view2])))
        return nt_xent(z[:n], z[n:], self.temperature)


@_doc(augmentation=_augmentation_parameter(_DEFAULT_VIEWS))
class MoCo(_SelfSupervised):
    """Contrastive pre-training with momentum contrast (MoCo v2).

    Each step draws two views of every image: the network and a projection
    head map the first to a query; a momentum copy of both (the key
    encoder, not trained by gradient) maps the second to a key. The InfoNCE
    loss makes each query closer (in cosine) to its key than to the keys of
    earlier batches, kept in a first-in first-out queue [1]_, [2]_. After each
    step the key encoder follows the online one, ``theta_k <- momentum *
    theta_k + (1 - momentum) * theta_q``, and the batch's keys replace the
    oldest ones in the queue. ``transform`` returns the online network's
    output.

    Parameters
    ----------
    {model}
    momentum : float, default=0.9
        Momentum of the key encoder. The key encoder averages the online
        one over about ``1 / (1 - momentum)`` steps: the paper's 0.999 (a
        thousand steps) suits runs of a million steps; 0.9 suits runs of a
        few hundred steps on small data. Raise it for long runs.
    queue_size : int, default=256
        Number of negative keys (65536 in the paper). Keep it below the
        number of training images, so that the queue rarely holds a key of
        the query's own image.
    temperature : float, default=0.2
        Temperature of the InfoNCE loss (MoCo v2's value).
    projection_dim : int, default=64
        Output size of the projection head (128 in the paper).
    hidden_dim : int, default=None
        Hidden size of the projection head; None means the network's output
        size, as in MoCo v2.
    {augmentation}
    {shared_parameters}

    Attributes
    ----------
    model_ : torch.nn.Module
        The trained network (in eval mode).
    heads_ : torch.nn.ModuleDict
        ``'projection'``: the trained projection head.
    targets_ : torch.nn.ModuleDict
        The key encoder, ``'key_model'`` and ``'key_projection'``, and
        ``'queue'``, whose buffer ``keys`` (``queue_size`` x
        ``projection_dim``, unit vectors) holds the negatives; the buffer
        ``pointer`` indexes the oldest key and ``n_pushed`` counts the keys
        enqueued so far. The queue starts with random unit vectors drawn
        from ``random_state``, replaced batch by batch.
    {shared_attributes}

    See Also
    --------
    SimCLR : Negatives from the batch instead of a queue.
    BYOL : No negatives: predict a momentum network's projection.

    Notes
    -----
    The key encoder computes batch-normalisation statistics on its own
    batch, as in the paper, but without the paper's shuffling of batch
    normalisation across devices (one device here). Keys are not
    symmetrised (MoCo v2). The training loss usually rises during the
    first epoch, while the keys of real images replace the random unit
    vectors the queue starts with (harder negatives), and falls after. So
    the stopping rule (``n_iter_no_change`` epochs without an improvement of
    the loss by ``tol``) counts only the epochs that start with a queue
    filled with keys of real images (``queue_size`` keys enqueued); until
    then each epoch counts as the best so far (with ``early_stopping``, the
    epoch whose weights would be kept).

    {shared_notes}

    References
    ----------
    .. [1] K. He, H. Fan, Y. Wu, S. Xie and R. Girshick, "Momentum Contrast
       for Unsupervised Visual Representation Learning", CVPR 2020.
    .. [2] X. Chen, H. Fan, R. Girshick and K. He, "Improved Baselines with
       Momentum Contrastive Learning", arXiv:2003.04297, 2020.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from mlearn.deep import MoCo, SmallConvNet
    >>> X = load_digits().images[:64].reshape(-1, 1, 8, 8) / 16
    >>> net = SmallConvNet(embedding_dim=16, width=8)
    >>> moco = MoCo(net, queue_size=64, max_iter=1, batch_size=32, random_state=0)
    >>> moco.fit(X).transform(X).shape
    (64, 16)
    >>> moco.targets_["queue"].keys.shape
    torch.Size([64, 64])
    """

    _parameter_constraints: dict = {
        **_SelfSupervised._parameter_constraints,
        "momentum": [Interval(numbers.Real, 0, 1, closed="both")],
        "queue_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "temperature": [Interval(numbers.Real, 0, None, closed="neither")],
        "projection_dim": [Interval(numbers.Integral, 1, None, closed="left")],
        "hidden_dim": [Interval(numbers.Integral, 1, None, closed="left"), None],
    }

    def __init__(
        self,
        model: Callable[..., Any],
        *,
        momentum: float = 0.9,
        queue_size: int = 256,
        temperature: float = 0.2,
        projection_dim: int = 64,
        hidden_dim: int | None = None,
        augmentation: Any = None,
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

    def _build_heads(self, embedding_dim, y):
        hidden, out = _head_dims(self, embedding_dim)
        with _seeded_init(self._generator):
            return {"projection": projection_head(embedding_dim, hidden, out)}

    def _target_modules(self):
        return {
            "key_model": copy.deepcopy(self.model_),
            "key_projection": copy.deepcopy(self.heads_["projection"]),
            "queue": _KeyQueue(self.queue_size, self.projection_dim, self._generator),
        }

    def _batch_loss(self, inputs, targets, generator):
        view1, view2 = self._two_views(inputs, generator)
        q = self.heads_["projection"](self._forward(view1))
        with self._target_mode():
            k = self.targets_["key_projection"](self._forward(view2, self.targets_["key_model"]))
            k = torch.nn.functional.normalize(k.detach(), dim=1)
        queue = self.targets_["queue"]
        loss = info_nce_with_queue(q, k, queue.keys.detach().clone(), self.temperature)
        if not self._validating:
            queue.push(k)
        return loss

    def _loss_is_comparable(self):
        # while random keys remain in the queue the negatives get harder
        # batch by batch and the loss rises: no stall counts before an epoch
        # starts with a queue of real keys
        return int(self.targets_["queue"].n_pushed) >= self.queue_size

    def _after_step(self):
        _ema_(self.targets_["key_model"], self.model_, self.momentum)
        _ema_(self.targets_["key_projection"], self.heads_["projection"], self.momentum)


@_doc(augmentation=_augmentation_parameter(_DEFAULT_VIEWS))
class BYOL(_SelfSupervised):
    """Pre-training with BYOL: predict a momentum network's view of an image.

    The online branch (the network, a projection head and a prediction
    head) maps one view of an image to a prediction of the target branch's
    projection of another view; the target branch is a momentum copy of the
    network and the projection head, ``theta_t <- momentum * theta_t + (1 -
    momentum) * theta_o`` after each step, not trained by gradient. The loss
    ``2 - 2 cos(prediction, target)`` is summed over both orders of the two
    views (so it lies in [0, 8]) [1]_. No negatives are used. ``transform``
    returns the online network's output.

    Parameters
    ----------
    {model}
    momentum : float, default=0.9
        Momentum of the target network, which averages the online one over
        about ``1 / (1 - momentum)`` steps (kept constant). The paper's 0.996,
        raised to 1 over the run, suits runs of hundreds of thousands of
        steps; 0.9 suits runs of a few hundred steps on small data. Raise
        it for long runs.
    projection_dim : int, default=64
        Output size of the projection and prediction heads (256 in the
        paper).
    hidden_dim : int, default=256
        Hidden size of both heads (4096 in the paper).
    {augmentation}
    {shared_parameters}

    Attributes
    ----------
    model_ : torch.nn.Module
        The trained online network (in eval mode).
    heads_ : torch.nn.ModuleDict
        ``'projection'`` and ``'predictor'``: the online heads.
    targets_ : torch.nn.ModuleDict
        The target branch, ``'target_model'`` and ``'target_projection'``.
    {shared_attributes}

    See Also
    --------
    SimCLR : Contrast with the other images of the batch.
    MoCo : Contrast with a queue of keys from a momentum network.

    Notes
    -----
    The target branch computes batch-normalisation statistics on its own
    batch while training, as in the paper. Scaled down for small images:
    smaller heads, Adam instead of LARS.

    {shared_notes}

    References
    ----------
    .. [1] J.-B. Grill et al., "Bootstrap Your Own Latent: A New Approach to
       Self-Supervised Learning", NeurIPS 2020.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from mlearn.deep import BYOL, SmallConvNet
    >>> X = load_digits().images[:64].reshape(-1, 1, 8, 8) / 16
    >>> net = SmallConvNet(embedding_dim=16, width=8)
    >>> byol = BYOL(net, hidden_dim=32, max_iter=1, batch_size=32, random_state=0)
    >>> byol.fit(X).transform(X).shape
    (64, 16)
    """

    _parameter_constraints: dict = {
        **_SelfSupervised._parameter_constraints,
        "momentum": [Interval(numbers.Real, 0, 1, closed="both")],
        "projection_dim": [Interval(numbers.Integral, 1, None, closed="left")],
        "hidden_dim": [Interval(numbers.Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        model: Callable[..., Any],
        *,
        momentum: float = 0.9,
        projection_dim: int = 64,
        hidden_dim: int = 256,
        augmentation: Any = None,
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

    def _build_heads(self, embedding_dim, y):
        with _seeded_init(self._generator):
            return {
                "projection": projection_head(embedding_dim, self.hidden_dim, self.projection_dim),
                "predictor": projection_head(
                    self.projection_dim, self.hidden_dim, self.projection_dim
                ),
            }

    def _target_modules(self):
        return {
            "target_model": copy.deepcopy(self.model_),
            "target_projection": copy.deepcopy(self.heads_["projection"]),
        }

    def _batch_loss(self, inputs, targets, generator):
        view1, view2 = self._two_views(inputs, generator)
        n = view1.shape[0]
        both = torch.cat([view1, view2])
        predictions = self.heads_["predictor"](self.heads_["projection"](self._forward(both)))
        with self._target_mode():
            z = self.targets_["target_projection"](
                self._forward(both, self.targets_["target_model"])
            ).detach()
        # view 1 predicts the target of view 2 and the other way round
        return byol_loss(predictions[:n], z[n:]) + byol_loss(predictions[n:], z[:n])

    def _after_step(self):
        _ema_(self.targets_["target_model"], self.model_, self.momentum)
        _ema_(self.targets_["target_projection"], self.heads_["projection"], self.momentum)


@_doc(
    augmentation=_augmentation_parameter(
        "None means no augmentation besides the rotations, as in the paper's\n    basic setting."
    )
)
class RotationPrediction(_SelfSupervised):
    """Pre-training by predicting the rotation of an image.

    Each image of a batch is rotated by 0, 90, 180 and 270 degrees; a
    linear head on the network's output is trained with the network to
    tell the four apart (cross-entropy over four classes) [1]_. Recognising
    the orientation needs the shapes of objects, which the network thus
    learns to represent. ``transform`` returns the network's output.

    Parameters
    ----------
    {model}
    {augmentation}
    {shared_parameters}

    Attributes
    ----------
    model_ : torch.nn.Module
        The trained network (in eval mode).
    heads_ : torch.nn.ModuleDict
        ``'classifier'``: the linear head from the representation to the
        four rotations.
    {shared_attributes}

    See Also
    --------
    SimCLR : Contrastive pre-training.

    Notes
    -----
    Images must be square (rotations keep their shape). Each step sees
    ``4 * batch_size`` images.

    {shared_notes}

    References
    ----------
    .. [1] S. Gidaris, P. Singh and N. Komodakis, "Unsupervised
       Representation Learning by Predicting Image Rotations", ICLR 2018.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from mlearn.deep import RotationPrediction, SmallConvNet
    >>> X = load_digits().images[:64].reshape(-1, 1, 8, 8) / 16
    >>> net = SmallConvNet(embedding_dim=16, width=8)
    >>> rot = RotationPrediction(net, max_iter=1, batch_size=32, random_state=0)
    >>> rot.fit(X).transform(X).shape
    (64, 16)
    """

    # square images only: scikit-learn's tabular checks do not apply
    _input_kind = "images"

    def __init__(
        self,
        model: Callable[..., Any],
        *,
        augmentation: Any = None,
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

    def _build_heads(self, embedding_dim, y):
        with _seeded_init(self._generator):
            return {"classifier": torch.nn.Linear(embedding_dim, 4)}

    def _batch_loss(self, inputs, targets, generator):
        if self.augmentation is not None:
            inputs = self._augment(inputs, generator)
        if not isinstance(inputs, torch.Tensor) or inputs.ndim < 3:
            shape = tuple(getattr(inputs, "shape", ()))
            raise ValueError(
                "RotationPrediction needs square images of shape (n_samples, C, H, H) "
                f"or (n_samples, H, H); the network's input has shape {shape}"
            )
        views, labels = rotate_batch(inputs)
        logits = self.heads_["classifier"](self._forward(views))
        return torch.nn.functional.cross_entropy(logits, labels)
