"""Train a network with a supervised metric-learning loss, as a transformer."""

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .._docstrings import fill_doc
from .._sklearn_compat import Interval, StrOptions
from ..metrics import mean_average_precision_at_r
from ._losses import LOSSES, MINING, PROTOTYPE_LOSSES, metric_loss
from ._torch import import_torch, seed_from
from ._training import (
    _NOTES,
    _attributes_doc,
    _parameters_doc,
    _store_params,
    _take,
    _TrainedEmbedding,
)

torch = import_torch()

__all__ = ["DeepMetricLearner"]

#: Margins used when ``margin=None``: on squared distances of unit-norm
#: embeddings for the pair and tuple losses, in cosine or radians for the
#: angular ones.
DEFAULT_MARGIN = {
    "contrastive": 1.0,
    "triplet": 0.2,
    "margin_ranking": 0.2,
    "cosface": 0.35,
    "arcface": 0.5,
}
#: Scales used when ``scale=None`` (those of :class:`mlearn.AngularMarginLearner`).
DEFAULT_SCALE = {"normface": 16.0, "cosface": 16.0, "arcface": 16.0}


_EARLY_STOPPING = """
early_stopping : bool, default=False
    Hold out part of the data (as ``validation_split`` says) and stop when
    the MAP@R among the held-out samples (see Notes) has not improved by
    ``tol`` for ``n_iter_no_change`` epochs; the weights of the best epoch
    are restored.
validation_split : {'samples', 'classes'}, default='samples'
    What ``early_stopping`` holds out: ``validation_fraction`` of the
    samples, stratified by class ('samples'), or whole classes
    ('classes'): ``max(1, round(validation_fraction * n_classes))`` of
    them, drawn with ``random_state``, none of whose samples is trained
    on, so that training stops when the embedding is best for classes it
    has not seen. 'classes' needs at least 2 classes held out (the MAP@R
    of one class is always 1) and 2 left for training.
validation_fraction : float, default=0.1
    Share of the samples, or of the classes, held out with
    ``early_stopping``.
"""


@fill_doc(
    training_parameters=_parameters_doc(
        batch_size="Samples per optimisation step. Pair and triplet losses need\n"
        "several samples of a class in a batch: with many classes, use\n"
        "batches several times larger than the number of classes.",
        preprocess=".",
        normalize="""
normalize : bool, default=True
    Scale the embeddings to unit norm, in training and in
    ``transform``; the default margins assume it.""",
        early_stopping=_EARLY_STOPPING,
    ),
    training_attributes=_attributes_doc(
        validation_history="MAP@R among the held-out samples after each epoch (with\n"
        "``early_stopping``; higher is better)."
    ),
    training_notes=_NOTES,
)
class DeepMetricLearner(_TrainedEmbedding):
    """Train a neural network so that its embeddings separate the classes.

    The network (a :class:`torch.nn.Module`) is trained with minibatches of
    labelled samples under a metric-learning loss computed on the batch's
    embeddings; ``transform`` then embeds samples like a
    :class:`~mlearn.features.DeepEmbedding` of the trained network, so the
    learner fits in a :class:`~sklearn.pipeline.Pipeline`, a
    :class:`~sklearn.model_selection.GridSearchCV` or a retrieval scorer
    (:func:`mlearn.metrics.make_retrieval_scorer`) like any other.

    Parameters
    ----------
    model : torch.nn.Module or callable
        The network to train, or a factory (a class or a callable taking no
        argument) that builds it. It must have trainable parameters. A
        module is deep-copied in ``fit``: the one you pass is never
        modified.
    loss : {'triplet', 'contrastive', 'margin_ranking', 'softmax', 'normface', \
'cosface', 'arcface'}, default='triplet'
        With ``d`` the squared Euclidean distance of two embeddings and
        ``m`` the margin:

        - 'contrastive': over every pair of the batch, ``d`` for a pair of
          one class and ``max(0, m - d)`` for a pair of two classes;
        - 'triplet': ``max(0, m + d(a, p) - d(a, n))`` over the triplets
          ``mining`` picks in the batch (anchor ``a``, positive ``p`` of
          its class, negative ``n`` of another);
        - 'margin_ranking': ``max(0, m + d(positive pair) - d(negative
          pair))`` over every positive pair × negative pair of the batch;
        - 'softmax': cross-entropy of a linear classification head on the
          embeddings (no bias);
        - 'normface', 'cosface', 'arcface': cross-entropy of the scaled
          cosines to one learned prototype per class, with an additive
          cosine margin (CosFace) or an additive angular margin (ArcFace,
          continued linearly past ``theta = pi - m``), as
          :class:`mlearn.AngularMarginLearner` defines them.

        Each loss is the mean over the tuples (or samples) of the batch.
    margin : float, default=None
        ``m``. None means 1.0 for 'contrastive' (squared distance 1 between
        unit vectors, an angle of 60°), 0.2 for 'triplet' and
        'margin_ranking' (FaceNet's margin on squared distances of unit
        embeddings), 0.35 for 'cosface' and 0.5 radians for 'arcface'.
        'softmax' and 'normface' take no margin.
    scale : float, default=None
        Scale ``s`` of the cosine logits of 'normface', 'cosface' and
        'arcface'; None means 16. The other losses take no scale.
    mining : {'batch_hard', 'semi_hard', 'all'}, default='batch_hard'
        Triplets of ``loss='triplet'`` taken from each batch: per anchor its
        farthest positive and nearest negative ('batch_hard'); per positive
        pair the nearest negative farther than the positive but within the
        margin, or the nearest negative when none is ('semi_hard'); or
        every valid triplet ('all'). Only 'triplet' mines; other losses
        accept only the default.
    {training_parameters}

    Attributes
    ----------
    model_ : torch.nn.Module
        The trained network (in eval mode).
    heads_ : torch.nn.ModuleDict
        The trained prototypes or classification head (``'prototypes'``, a
        bias-free :class:`torch.nn.Linear` whose rows are the classes);
        empty for the pair and triplet losses. Not used by ``transform``.
    classes_ : ndarray of shape (n_classes,)
        The class labels.
    {training_attributes}

    See Also
    --------
    mlearn.features.DeepEmbedding : A frozen network as a transformer.
    mlearn.AngularMarginLearner : The angular losses on a linear map.

    Notes
    -----
    With ``early_stopping``, the criterion is retrieval quality, not the
    loss: after each epoch the held-out samples are embedded as
    ``transform`` does and each queries the others; their MAP@R
    (:func:`mlearn.metrics.mean_average_precision_at_r`) is recorded in
    ``validation_history_``. It applies to every loss, including the
    prototype losses, which have no loss on classes they were not trained
    on. ``validation_split='classes'`` is the usual protocol of open-set
    metric learning (the classes met after training are not those of
    training): the epoch kept is the one whose embeddings transfer best
    to unseen classes, where training on few classes soon specialises the
    network to them.

    {training_notes}

    References
    ----------
    .. [1] F. Schroff, D. Kalenichenko and J. Philbin, "FaceNet: A Unified
       Embedding for Face Recognition and Clustering", CVPR 2015.
    .. [2] A. Hermans, L. Beyer and B. Leibe, "In Defense of the Triplet Loss
       for Person Re-Identification", arXiv:1703.07737, 2017.
    .. [3] J. Deng, J. Guo, N. Xue and S. Zafeiriou, "ArcFace: Additive
       Angular Margin Loss for Deep Face Recognition", CVPR 2019.

    Examples
    --------
    >>> import torch
    >>> from sklearn.datasets import load_digits
    >>> from mlearn.deep import DeepMetricLearner
    >>> X, y = load_digits(return_X_y=True)
    >>> X = (X / 16).astype("float32")
    >>> net = torch.nn.Sequential(
    ...     torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 8)
    ... )
    >>> learner = DeepMetricLearner(net, loss="arcface", max_iter=2, random_state=0)
    >>> learner.fit(X[:300], y[:300]).transform(X[300:305]).shape
    (5, 8)
    >>> len(learner.objective_history_)
    2
    """

    _needs_labels = True

    _parameter_constraints: dict = {
        **_TrainedEmbedding._parameter_constraints,
        "loss": [StrOptions(set(LOSSES))],
        "margin": [Interval(numbers.Real, 0, None, closed="left"), None],
        "scale": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "mining": [StrOptions(set(MINING))],
        "validation_split": [StrOptions({"samples", "classes"})],
    }

    _validation_name = "validation MAP@R"
    _validation_higher_is_better = True

    def __init__(
        self,
        model: Callable[..., Any],
        *,
        loss: str = "triplet",
        margin: float | None = None,
        scale: float | None = None,
        mining: str = "batch_hard",
        batch_size: int = 64,
        device: str = "auto",
        preprocess: Callable[..., Any] | None = None,
        layer: str | None = None,
        pooling: str | Callable[..., Any] | None = None,
        normalize: bool = True,
        dtype: str = "float32",
        progress: bool = False,
        optimizer: str = "adam",
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
        max_iter: int = 10,
        early_stopping: bool = False,
        validation_split: str = "samples",
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 5,
        tol: float = 1e-4,
        random_state: Any = None,
        verbose: int = 0,
    ) -> None:
        _store_params(self, locals())

    def fit(self, X: ArrayLike | Sequence[Any], y: ArrayLike | None = None) -> "DeepMetricLearner":
        """Train a copy of the network on labelled samples.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Training samples, in the layout the network takes.
        y : array-like of shape (n_samples,)
            Class labels.

        Returns
        -------
        self : DeepMetricLearner
            The fitted learner.
        """
        super().fit(X, y)
        return self

    def _resolved_loss_params(self):
        """``(margin, scale)`` for the loss, checking that they apply to it."""
        loss = self.loss
        angular = loss in DEFAULT_SCALE
        if self.margin is not None and loss not in DEFAULT_MARGIN:
            raise ValueError(f"loss={loss!r} takes no margin; got margin={self.margin!r}")
        if self.scale is not None and not angular:
            raise ValueError(
                f"scale applies to 'normface', 'cosface' and 'arcface' only; "
                f"got scale={self.scale!r} with loss={loss!r}"
            )
        if self.mining != "batch_hard" and loss != "triplet":
            raise ValueError(
                f"mining applies to loss='triplet' only; got mining={self.mining!r} "
                f"with loss={loss!r}"
            )
        margin = DEFAULT_MARGIN.get(loss, 0.0) if self.margin is None else float(self.margin)
        scale = DEFAULT_SCALE.get(loss, 1.0) if self.scale is None else float(self.scale)
        if loss == "arcface" and margin >= math.pi:
            raise ValueError(f"loss='arcface' needs a margin below pi radians; got {margin!r}")
        return margin, scale

    def _prepare_data(self, X, y, *, reset, classes):
        self._margin, self._scale = self._resolved_loss_params()
        return super()._prepare_data(X, y, reset=reset, classes=classes)

    def _build_heads(self, embedding_dim: int, y: np.ndarray | None) -> dict:
        if self.loss not in PROTOTYPE_LOSSES:
            return {}
        n_classes = len(self.classes_)
        head = torch.nn.Linear(embedding_dim, n_classes, bias=False)
        with torch.no_grad():
            weight = torch.randn(n_classes, embedding_dim, generator=self._generator)
            head.weight.copy_(weight / math.sqrt(embedding_dim))
        return {"prototypes": head}

    def _batch_loss(self, inputs: Any, targets: Any, generator: Any) -> Any:
        embeddings = self._forward(inputs)
        prototypes = self.heads_["prototypes"].weight if "prototypes" in self.heads_ else None
        return metric_loss(
            embeddings,
            targets,
            self.loss,
            margin=self._margin,
            scale=self._scale,
            mining=self.mining,
            prototypes=prototypes,
        )

    def _split(self, n_samples, codes):
        if self.validation_split == "samples":
            return super()._split(n_samples, codes)
        present = np.unique(codes)
        n_held_out = max(1, round(self.validation_fraction * len(present)))
        if len(present) - n_held_out < 2:
            raise ValueError(
                f"validation_split='classes' with validation_fraction="
                f"{self.validation_fraction} holds out {n_held_out} of the "
                f"{len(present)} classes of y; at least 2 classes must remain for "
                "training (pass more classes or a smaller validation_fraction)"
            )
        if n_held_out < 2:
            raise ValueError(
                f"validation_split='classes' with validation_fraction="
                f"{self.validation_fraction} holds out 1 of the {len(present)} classes "
                "of y, and MAP@R among the samples of one class is always 1; raise "
                "validation_fraction so that at least 2 classes are held out"
            )
        rng = np.random.RandomState(seed_from(self.random_state))
        held_out = rng.choice(present, size=n_held_out, replace=False)
        in_validation = np.isin(codes, held_out)
        val = np.flatnonzero(in_validation)
        if len(val) < self._min_batch_size:
            raise ValueError(
                f"validation_split='classes' holds out {len(val)} sample of the "
                f"class {self.classes_[held_out].tolist()}; the validation needs at "
                f"least {self._min_batch_size}"
            )
        return np.flatnonzero(~in_validation), val

    def _validation_score(self, samples, codes, index, seed):
        """MAP@R among the held-out samples, embedded as ``transform`` does."""
        self.model_.eval()
        embeddings = self._embed(_take(samples, index), progress=False)
        return float(mean_average_precision_at_r(embeddings, codes[index]))
