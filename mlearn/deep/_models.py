"""Small networks for training on small images: a backbone and an MLP head.

:class:`SmallConvNet` is a compact convolutional backbone for the image sizes
found in tests, examples and CPU experiments (8 x 8 digits up to 64 x 64
patches); :func:`projection_head` builds the MLP that self-supervised methods
put on top of a backbone.
"""

from typing import Any

from ._torch import import_torch

torch = import_torch()
nn = torch.nn

__all__ = ["SmallConvNet", "projection_head"]

_NORMS = ("batch", "group", None)


def _norm_layer(norm, n_channels):
    if norm == "batch":
        return nn.BatchNorm2d(n_channels)
    if norm == "group":
        # groups of (up to) 8 channels, at least one group
        return nn.GroupNorm(max(1, n_channels // 8), n_channels)
    return nn.Identity()


class SmallConvNet(nn.Module):  # type: ignore[name-defined]
    """A small convolutional network that maps images to embedding vectors.

    ``depth`` blocks of 3 x 3 convolution, normalisation and ReLU, each block
    after the first halving the spatial size (stride 2) and doubling the
    number of channels, then a global average pool and a linear layer to
    ``embedding_dim``. The global pool makes the network work on any input
    size from 8 x 8 to 64 x 64 (and beyond) without changing its weights.

    Parameters
    ----------
    in_channels : int, default=1
        Number of image channels (1 for grey levels, 3 for colour).
    embedding_dim : int, default=32
        Size of the output vectors.
    width : int, default=16
        Channels of the first block; block ``i`` has ``width * 2**i``.
    depth : int, default=3
        Number of convolutional blocks.
    norm : {'batch', 'group'} or None, default='batch'
        Normalisation after each convolution: batch normalisation, group
        normalisation (groups of 8 channels; independent of the batch, so
        training and inference compute the same function) or none.

    Attributes
    ----------
    features : torch.nn.Sequential
        The convolutional blocks.
    fc : torch.nn.Linear
        The last layer, from the pooled features to the embedding.

    Notes
    -----
    The network accepts batches of shape (N, C, H, W) and, when
    ``in_channels=1``, (N, H, W): the channel axis is added. With the
    defaults it has about 25 000 parameters; ``width=8`` gives about 6 500.

    Examples
    --------
    >>> import torch
    >>> from mlearn.deep import SmallConvNet
    >>> _ = torch.manual_seed(0)
    >>> net = SmallConvNet(in_channels=1, embedding_dim=16, width=8)
    >>> net(torch.rand(5, 1, 8, 8)).shape
    torch.Size([5, 16])
    >>> net(torch.rand(5, 32, 32)).shape  # the channel axis is added
    torch.Size([5, 16])
    """

    def __init__(
        self,
        in_channels: int = 1,
        embedding_dim: int = 32,
        width: int = 16,
        depth: int = 3,
        norm: str | None = "batch",
    ) -> None:
        super().__init__()
        for name, value in (
            ("in_channels", in_channels),
            ("embedding_dim", embedding_dim),
            ("width", width),
            ("depth", depth),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}")
        if norm not in _NORMS:
            raise ValueError(f"norm must be 'batch', 'group' or None; got {norm!r}")
        self.in_channels = in_channels
        self.embedding_dim = embedding_dim
        layers: list = []
        channels = in_channels
        for i in range(depth):
            out_channels = width * 2**i
            layers += [
                nn.Conv2d(
                    channels,
                    out_channels,
                    kernel_size=3,
                    stride=1 if i == 0 else 2,
                    padding=1,
                    bias=norm is None,
                ),
                _norm_layer(norm, out_channels),
                nn.ReLU(inplace=True),
            ]
            channels = out_channels
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(channels, embedding_dim)

    def forward(self, x: Any) -> Any:
        """Embed a batch of images.

        Parameters
        ----------
        x : torch.Tensor of shape (N, C, H, W) or (N, H, W)
            Images, channels first; (N, H, W) only when ``in_channels=1``.

        Returns
        -------
        torch.Tensor of shape (N, embedding_dim)
            The embeddings.
        """
        if x.ndim == 3 and self.in_channels == 1:
            x = x.unsqueeze(1)
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"SmallConvNet expects images of shape (N, {self.in_channels}, H, W)"
                + (" or (N, H, W)" if self.in_channels == 1 else "")
                + f"; got {tuple(x.shape)}"
            )
        h = self.features(x)
        return self.fc(h.mean(dim=(2, 3)))


def projection_head(in_dim: int, hidden_dim: int | None, out_dim: int) -> Any:
    """A multilayer perceptron head: Linear, BatchNorm, ReLU, Linear.

    The projection (and BYOL's prediction) head of self-supervised methods:
    the loss is computed on its output while the backbone's output is kept as
    the representation.

    Parameters
    ----------
    in_dim : int
        Size of the input vectors (the backbone's embedding dimension).
    hidden_dim : int or None
        Size of the hidden layer; ``None`` gives a single linear layer.
    out_dim : int
        Size of the output vectors.

    Returns
    -------
    head : torch.nn.Module
        A :class:`torch.nn.Sequential` mapping (N, in_dim) to (N, out_dim).

    Notes
    -----
    Batch normalisation in training mode needs batches of at least two
    samples.

    Examples
    --------
    >>> import torch
    >>> from mlearn.deep._models import projection_head
    >>> head = projection_head(32, 64, 16)
    >>> [type(layer).__name__ for layer in head]
    ['Linear', 'BatchNorm1d', 'ReLU', 'Linear']
    >>> head(torch.rand(4, 32)).shape
    torch.Size([4, 16])
    """
    for name, value in (("in_dim", in_dim), ("out_dim", out_dim), ("hidden_dim", hidden_dim)):
        if value is None and name == "hidden_dim":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}")
    if hidden_dim is None:
        return nn.Sequential(nn.Linear(in_dim, out_dim))
    return nn.Sequential(
        nn.Linear(in_dim, hidden_dim, bias=False),
        nn.BatchNorm1d(hidden_dim),
        nn.ReLU(inplace=True),
        nn.Linear(hidden_dim, out_dim),
    )
