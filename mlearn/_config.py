"""Package-wide settings: :func:`get_config`, :func:`set_config`, :func:`config_context`.

One setting for now, ``materialise_budget``: how large a dask array (in MiB)
a learner that needs all its data at once may load into memory. The
settings are process-wide (shared by every thread); on a dask cluster they
matter only in the process that calls ``fit``, where the loading happens.
"""

import contextlib
import math
import numbers
from collections.abc import Iterator

__all__ = ["config_context", "get_config", "set_config"]

#: 1 GiB: what a laptop holds beside the learner's own working arrays.
DEFAULT_MATERIALISE_BUDGET = 1024.0

_config: dict[str, float] = {"materialise_budget": DEFAULT_MATERIALISE_BUDGET}


def get_config() -> dict[str, float]:
    """The current values of mlearn's settings.

    Returns
    -------
    config : dict
        ``{"materialise_budget": float}``, a copy: changing it changes
        nothing; use :func:`set_config` or :func:`config_context`.

        ``materialise_budget`` is the largest dask array, in MiB, that a
        learner which needs all its data at once (LMNN, NCA, ITML, ...)
        loads into memory, with a ``DataConversionWarning``; a larger one is
        refused with a ``ValueError`` naming the learners that stream dask
        input instead. Default 1024 (1 GiB).

    See Also
    --------
    set_config : Change a setting.
    config_context : Change a setting inside a ``with`` block.

    Examples
    --------
    >>> import mlearn
    >>> mlearn.get_config()["materialise_budget"]
    1024.0
    """
    return dict(_config)


def set_config(materialise_budget: float | None = None) -> None:
    """Change mlearn's settings for the whole process.

    Parameters
    ----------
    materialise_budget : float, default=None
        Largest dask array, in MiB, that a learner needing all its data at
        once may load into memory (a non-negative number; ``0`` refuses
        every non-empty dask array, ``float("inf")`` accepts any). Each
        dask argument of ``fit`` (points, tuples, labels) is measured on
        its own, by ``array.nbytes``, before anything is computed. None
        leaves the setting as it is.

    See Also
    --------
    get_config : The current settings.
    config_context : Change a setting inside a ``with`` block only.

    Examples
    --------
    >>> import mlearn
    >>> mlearn.set_config(materialise_budget=4096)  # 4 GiB
    >>> mlearn.get_config()["materialise_budget"]
    4096.0
    >>> mlearn.set_config(materialise_budget=1024)
    """
    if materialise_budget is not None:
        _config["materialise_budget"] = _check_budget(materialise_budget)


@contextlib.contextmanager
def config_context(*, materialise_budget: float | None = None) -> Iterator[None]:
    """Change mlearn's settings inside a ``with`` block; the old values come back after.

    Parameters
    ----------
    materialise_budget : float, default=None
        As in :func:`set_config`; None keeps the current value.

    Examples
    --------
    A learner that needs all its points loads a dask array that fits the
    budget, with a warning, and refuses one that does not:

    >>> import warnings
    >>> import dask.array as da
    >>> import mlearn
    >>> X = da.random.RandomState(0).normal(size=(100, 4), chunks=25)
    >>> y = (X[:, 0] > 0).astype(int)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # X and y are loaded into memory
    ...     nca = mlearn.NCA(max_iter=5).fit(X, y)
    >>> with mlearn.config_context(materialise_budget=0.001):  # 1 KiB
    ...     mlearn.NCA().fit(X, y)
    Traceback (most recent call last):
        ...
    ValueError: NCA needs all of X in memory, but X is a dask array of 3.1 KiB, ...
    >>> mlearn.get_config()["materialise_budget"]
    1024.0
    """
    old = get_config()
    set_config(materialise_budget=materialise_budget)
    try:
        yield
    finally:
        _config.update(old)


def _check_budget(value):
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or math.isnan(value)
        or value < 0
    ):
        raise ValueError(
            "materialise_budget must be a non-negative number of MiB (float('inf') for "
            f"no limit), got {value!r}"
        )
    return float(value)
