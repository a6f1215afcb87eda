"""The metric learners, one module per algorithm."""

from .covariance import Covariance

__all__ = [
    "Covariance",
]
