"""The one place mlearn.deep imports torch, and small helpers shared by its modules."""

from typing import Any

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["import_torch", "make_generator", "resolve_device", "seed_from"]


def import_torch() -> Any:
    """Import torch, or raise an ImportError that says how to install it.

    Returns
    -------
    torch : module

    Examples
    --------
    >>> from mlearn.deep._torch import import_torch
    >>> import_torch().__name__
    'torch'
    """
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "mlearn.deep trains PyTorch networks and needs torch: "
            'pip install "mlearn-metric[torch]"'
        ) from exc
    return torch


torch = import_torch()


def seed_from(random_state: Any) -> int:
    """A seed for torch drawn from ``random_state`` (None, an int or a RandomState).

    An int gives the same seed every time; None gives a fresh one.

    Examples
    --------
    >>> from mlearn.deep._torch import seed_from
    >>> seed_from(0) == seed_from(0)
    True
    """
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def make_generator(random_state: Any) -> Any:
    """A CPU :class:`torch.Generator` seeded from ``random_state``.

    Examples
    --------
    >>> from mlearn.deep._torch import make_generator
    >>> a = make_generator(0)
    >>> b = make_generator(0)
    >>> bool((torch.rand(3, generator=a) == torch.rand(3, generator=b)).all())
    True
    """
    generator = torch.Generator()
    generator.manual_seed(seed_from(random_state))
    return generator


def resolve_device(device: str) -> str:
    """``'auto'`` as ``'cuda'`` when CUDA is available, else ``'cpu'``; others as given.

    Raises ValueError for a CUDA device on a machine without one, as
    :class:`~mlearn.features.DeepEmbedding` does.

    Examples
    --------
    >>> from mlearn.deep._torch import resolve_device
    >>> resolve_device("cpu")
    'cpu'
    """
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} but no CUDA device is available")
    return device
