"""Errors mlearn raises for matrices and preprocessors that cannot be used.

Both are ``ValueError`` subclasses, so ``except ValueError`` catches them
along with every other bad-input error; :class:`NonPSDError` is also a
``numpy.linalg.LinAlgError``, which is what code written for metric-learn
catches.

Examples
--------
>>> import numpy as np
>>> from mlearn.exceptions import NonPSDError
>>> from mlearn.linalg import components_from_metric
>>> try:
...     components_from_metric(np.array([[1.0, 2.0], [2.0, 1.0]]))
... except NonPSDError as exc:
...     print(type(exc).__name__, isinstance(exc, ValueError))
NonPSDError True
"""

import numpy as np

__all__ = ["NonPSDError", "PreprocessorError"]


class NonPSDError(np.linalg.LinAlgError, ValueError):
    """A matrix handed in is not positive semidefinite, or is singular where
    a strictly positive definite one is needed (a ``prior`` or ``init`` that
    a learner inverts)."""


class PreprocessorError(ValueError):
    """A preprocessor raised, or returned something that is not one row of
    numbers per identifier it was given."""
