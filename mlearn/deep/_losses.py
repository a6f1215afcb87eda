"""Supervised metric losses on a batch of embeddings, in torch.

Each loss is a pure function of the batch's embeddings (n, k) and integer
labels (n,) and returns a scalar tensor, so that autograd gives the network's
gradient. The definitions are those of mlearn's NumPy objectives on squared
Euclidean distances of the embeddings:

- ``'contrastive'``: :func:`mlearn.objectives.pair_loss` ('contrastive')
  averaged over every pair ``i < j`` of the batch;
- ``'triplet'``: the hinge of :func:`mlearn.objectives.relative_loss` over
  triplets ``(a, p, n)`` mined in the batch (:func:`mine_triplets`);
- ``'margin_ranking'``: the same hinge over quadruplets, every positive pair
  against every negative pair of the batch;
- ``'softmax'``, ``'normface'``, ``'cosface'``, ``'arcface'``: the softmax
  losses over class prototypes of
  :func:`mlearn.learners._angular_losses.margin_objective`.
"""

import math

from ._torch import import_torch

torch = import_torch()

__all__ = [
    "LOSSES",
    "MINING",
    "PROTOTYPE_LOSSES",
    "contrastive_loss",
    "margin_ranking_loss",
    "metric_loss",
    "mine_triplets",
    "prototype_loss",
    "squared_distances",
    "triplet_loss",
]

PROTOTYPE_LOSSES = ("softmax", "normface", "cosface", "arcface")
LOSSES = ("contrastive", "triplet", "margin_ranking", *PROTOTYPE_LOSSES)
MINING = ("all", "batch_hard", "semi_hard")


def squared_distances(embeddings):
    """Squared Euclidean distances between the rows, computed from differences.

    Differences keep near-duplicate pairs exact (no cancellation of
    ``|x|² + |y|² - 2 x·y``) and give a zero gradient on the diagonal.
    """
    diff = embeddings[:, None, :] - embeddings[None, :, :]
    return (diff * diff).sum(-1)


def _zero(embeddings):
    # a loss without any tuple: zero, but still part of the graph
    return embeddings.sum() * 0.0


def _label_masks(labels):
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


def contrastive_loss(embeddings, labels, margin):
    """Mean over the pairs ``i < j`` of ``d`` (same label) or ``max(0, m - d)``."""
    n = len(labels)
    if n < 2:
        return _zero(embeddings)
    i, j = torch.triu_indices(n, n, offset=1, device=embeddings.device)
    d = squared_distances(embeddings)[i, j]
    positive = labels[i] == labels[j]
    return torch.where(positive, d, torch.relu(margin - d)).mean()


def mine_triplets(distances, labels, mining, margin):
    """Index arrays ``(a, p, n)`` of the triplets a batch contributes.

    Parameters
    ----------
    distances : tensor of shape (n, n)
        Squared distances (only compared; no gradient flows through mining).
    labels : tensor of shape (n,)
    mining : {'all', 'batch_hard', 'semi_hard'}
        - 'all': every ``(a, p, n)`` with ``p != a`` of ``a``'s class and
          ``n`` of another class;
        - 'batch_hard': per anchor with a positive and a negative, its
          farthest positive and its nearest negative;
        - 'semi_hard': per positive pair ``(a, p)``, the nearest negative
          ``n`` with ``d(a, p) < d(a, n) < d(a, p) + margin``, or the
          nearest negative when there is none in that band.
        Ties go to the lowest index.
    margin : float

    Returns
    -------
    a, p, n : tensors of int64 of shape (n_triplets,)
    """
    d = distances.detach()
    positive, negative = _label_masks(labels)
    if mining == "all":
        valid = positive[:, :, None] & negative[:, None, :]
        return tuple(torch.nonzero(valid, as_tuple=True))
    has_both = positive.any(1) & negative.any(1)
    if mining == "batch_hard":
        inf = torch.tensor(float("inf"), dtype=d.dtype, device=d.device)
        far_pos = torch.where(positive, d, -inf).argmax(1)
        near_neg = torch.where(negative, d, inf).argmin(1)
        anchors = torch.nonzero(has_both, as_tuple=True)[0]
        return anchors, far_pos[anchors], near_neg[anchors]
    if mining == "semi_hard":
        a, p = torch.nonzero(positive & has_both[:, None], as_tuple=True)
        d_ap = d[a, p][:, None]
        d_an = d[a]
        neg = negative[a]
        inf = torch.tensor(float("inf"), dtype=d.dtype, device=d.device)
        band = neg & (d_an > d_ap) & (d_an < d_ap + margin)
        in_band = torch.where(band, d_an, inf)
        hardest = torch.where(neg, d_an, inf).argmin(1)
        n = torch.where(band.any(1), in_band.argmin(1), hardest)
        return a, p, n
    raise ValueError(f"mining must be one of {MINING}, got {mining!r}")


def triplet_loss(embeddings, labels, margin, mining="batch_hard"):
    """Mean of ``max(0, m + d(a, p) - d(a, n))`` over the mined triplets."""
    d = squared_distances(embeddings)
    a, p, n = mine_triplets(d, labels, mining, margin)
    if len(a) == 0:
        return _zero(embeddings)
    return torch.relu(margin + d[a, p] - d[a, n]).mean()


def margin_ranking_loss(embeddings, labels, margin):
    """Mean of ``max(0, m + d(i, j) - d(k, l))`` over positive pairs ``i < j`` × negative
    pairs ``k < l`` of the batch (mlearn's quadruplet hinge)."""
    n = len(labels)
    if n < 2:
        return _zero(embeddings)
    d = squared_distances(embeddings)
    i, j = torch.triu_indices(n, n, offset=1, device=embeddings.device)
    same = labels[i] == labels[j]
    d_pos, d_neg = d[i[same], j[same]], d[i[~same], j[~same]]
    if len(d_pos) == 0 or len(d_neg) == 0:
        return _zero(embeddings)
    return torch.relu(margin + d_pos[:, None] - d_neg[None, :]).mean()


def _arcface_target(cos, margin):
    """``cos(theta + m)``, continued past ``theta = pi - m`` by ``cos - (1 - cos m)``."""
    cos = cos.clamp(-1.0, 1.0)
    tiny = torch.finfo(cos.dtype).tiny
    sin = torch.sqrt((1.0 - cos * cos).clamp_min(tiny))
    cos_m, sin_m = math.cos(margin), math.sin(margin)
    on_arc = cos >= -cos_m
    return torch.where(on_arc, cos * cos_m - sin * sin_m, cos - (1.0 - cos_m))


def prototype_loss(embeddings, labels, prototypes, loss, scale=1.0, margin=0.0):
    """Mean cross-entropy of a softmax over logits from class prototypes.

    ``'softmax'`` uses the raw products ``<e_i, w_j>``; the others the
    cosines ``c_ij`` between embeddings and prototypes: ``s c_ij``
    (normface), the true class's ``s (c - m)`` (cosface) or ``s cos(theta +
    m)`` (arcface).
    """
    if loss == "softmax":
        logits = embeddings @ prototypes.T
    else:
        unit = torch.nn.functional.normalize(embeddings, dim=1)
        unit_w = torch.nn.functional.normalize(prototypes, dim=1)
        cos = unit @ unit_w.T
        rows = torch.arange(len(labels), device=labels.device)
        target = cos[rows, labels]
        if loss == "cosface":
            target = target - margin
        elif loss == "arcface":
            target = _arcface_target(target, margin)
        elif loss != "normface":
            raise ValueError(f"loss must be one of {PROTOTYPE_LOSSES}, got {loss!r}")
        true_class = torch.nn.functional.one_hot(labels, cos.shape[1]).bool()
        logits = scale * torch.where(true_class, target[:, None], cos)
    return torch.nn.functional.cross_entropy(logits, labels)


def metric_loss(
    embeddings, labels, loss, *, margin=0.0, scale=1.0, mining="batch_hard", prototypes=None
):
    """The loss ``loss`` (one of :data:`LOSSES`) of a batch; a scalar tensor."""
    if loss == "contrastive":
        return contrastive_loss(embeddings, labels, margin)
    if loss == "triplet":
        return triplet_loss(embeddings, labels, margin, mining)
    if loss == "margin_ranking":
        return margin_ranking_loss(embeddings, labels, margin)
    if loss in PROTOTYPE_LOSSES:
        return prototype_loss(embeddings, labels, prototypes, loss, scale, margin)
    raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
