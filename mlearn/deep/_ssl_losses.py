"""Losses of self-supervised methods, on batches of embeddings.

Each loss is a plain function of tensors, differentiable with autograd, and
is tested against a sample-by-sample computation.
"""

from ._torch import import_torch

torch = import_torch()

F = torch.nn.functional

__all__ = ["byol_loss", "info_nce_with_queue", "nt_xent", "rotate_batch"]


def _check_pair(a, b, names):
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(
            f"{names[0]} and {names[1]} must be 2-D of the same shape (n_samples, dim); "
            f"got {tuple(a.shape)} and {tuple(b.shape)}"
        )


def _check_temperature(temperature):
    if not temperature > 0:
        raise ValueError(f"temperature must be positive; got {temperature!r}")


def nt_xent(z1, z2, temperature=0.5):
    """SimCLR's normalised temperature-scaled cross-entropy (NT-Xent).

    The ``2N`` views ``z1[0], ..., z1[N-1], z2[0], ..., z2[N-1]`` are scaled
    to unit norm; view ``i``'s positive is the other view of the same
    sample, and the remaining ``2N - 2`` views are its negatives. The loss is
    the mean over the ``2N`` views of

    ``-log(exp(s(i, j(i)) / T) / sum_{k != i} exp(s(i, k) / T))``,

    with ``s`` the cosine similarity and ``j(i)`` the positive.

    Parameters
    ----------
    z1, z2 : torch.Tensor of shape (N, dim)
        Projections of two views of the same N samples.
    temperature : float, default=0.5
        ``T``; smaller values weigh the hardest negatives more.

    Returns
    -------
    torch.Tensor
        The scalar loss.

    References
    ----------
    T. Chen, S. Kornblith, M. Norouzi and G. Hinton, "A simple framework for
    contrastive learning of visual representations", ICML 2020.

    Examples
    --------
    >>> import torch
    >>> from mlearn.deep._ssl_losses import nt_xent
    >>> z = torch.eye(4)
    >>> round(nt_xent(z, z, temperature=0.5).item(), 4)  # views agree
    0.5944
    """
    _check_pair(z1, z2, ("z1", "z2"))
    _check_temperature(temperature)
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = z @ z.T / temperature
    self_mask = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(self_mask, float("-inf"))
    index = torch.arange(n, device=z.device)
    targets = torch.cat([index + n, index])
    return F.cross_entropy(logits, targets)


def info_nce_with_queue(q, k, queue, temperature=0.2):
    """MoCo's InfoNCE loss: each query against its key and a queue of negatives.

    Queries and keys are scaled to unit norm; the logits of query ``i`` are
    ``[q_i . k_i, q_i . queue_1, ..., q_i . queue_K] / T`` and the loss is
    the mean cross-entropy with the positive (index 0) as the target.

    Parameters
    ----------
    q : torch.Tensor of shape (N, dim)
        Queries (the online encoder's projections of one view).
    k : torch.Tensor of shape (N, dim)
        Keys (the momentum encoder's projections of the other view); the
        caller computes them without gradient.
    queue : torch.Tensor of shape (K, dim)
        Negatives, used as given (keys of earlier batches, already of unit
        norm).
    temperature : float, default=0.2
        ``T``.

    Returns
    -------
    torch.Tensor
        The scalar loss.

    References
    ----------
    K. He, H. Fan, Y. Wu, S. Xie and R. Girshick, "Momentum contrast for
    unsupervised visual representation learning", CVPR 2020.

    Examples
    --------
    >>> import torch
    >>> from mlearn.deep._ssl_losses import info_nce_with_queue
    >>> q = torch.eye(2)
    >>> queue = -torch.eye(2)
    >>> round(info_nce_with_queue(q, q, queue, temperature=1.0).item(), 4)
    0.4076
    """
    _check_pair(q, k, ("q", "k"))
    if queue.ndim != 2 or queue.shape[1] != q.shape[1]:
        raise ValueError(f"queue must have shape (K, {q.shape[1]}); got {tuple(queue.shape)}")
    _check_temperature(temperature)
    q = F.normalize(q, dim=1)
    k = F.normalize(k, dim=1)
    positive = (q * k).sum(dim=1, keepdim=True)
    negative = q @ queue.T
    logits = torch.cat([positive, negative], dim=1) / temperature
    targets = torch.zeros(q.shape[0], dtype=torch.long, device=q.device)
    return F.cross_entropy(logits, targets)


def byol_loss(p, z):
    """BYOL's regression loss: ``2 - 2 cos(p, z)``, averaged over the batch.

    Equal to the squared Euclidean distance between ``p`` and ``z`` after
    scaling both to unit norm.

    Parameters
    ----------
    p : torch.Tensor of shape (N, dim)
        Predictions of the online network.
    z : torch.Tensor of shape (N, dim)
        Targets (the target network's projections of the other view); the
        caller detaches them.

    Returns
    -------
    torch.Tensor
        The scalar loss, in [0, 4].

    References
    ----------
    J.-B. Grill et al., "Bootstrap your own latent: a new approach to
    self-supervised learning", NeurIPS 2020.

    Examples
    --------
    >>> import torch
    >>> from mlearn.deep._ssl_losses import byol_loss
    >>> byol_loss(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 3.0]])).item()
    2.0
    """
    _check_pair(p, z, ("p", "z"))
    return (2 - 2 * F.cosine_similarity(p, z, dim=1)).mean()


def rotate_batch(x):
    """The four rotations of each image, with the rotation as label.

    Parameters
    ----------
    x : torch.Tensor of shape (N, C, H, H) or (N, H, H)
        Square images.

    Returns
    -------
    views : torch.Tensor of shape (4N, C, H, H) or (4N, H, H)
        ``x`` rotated by 0, 90, 180 and 270 degrees counter-clockwise (as
        :func:`torch.rot90` over the last two axes), in four blocks of N.
    labels : torch.Tensor of shape (4N,)
        0, 1, 2 or 3: the number of quarter turns.

    Examples
    --------
    >>> import torch
    >>> from mlearn.deep._ssl_losses import rotate_batch
    >>> views, labels = rotate_batch(torch.arange(4.0).reshape(1, 1, 2, 2))
    >>> views[1]
    tensor([[[1., 3.],
             [0., 2.]]])
    >>> labels
    tensor([0, 1, 2, 3])
    """
    if x.ndim < 3 or x.shape[-1] != x.shape[-2]:
        raise ValueError(
            "rotation prediction needs square images of shape (N, C, H, H) or (N, H, H); "
            f"got {tuple(x.shape)}"
        )
    views = torch.cat([torch.rot90(x, k, dims=(-2, -1)) for k in range(4)])
    labels = torch.arange(4, device=x.device).repeat_interleave(x.shape[0])
    return views, labels
