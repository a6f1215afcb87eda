"""The metric learners, one module per algorithm."""

from .covariance import Covariance
from .general import (MetricLearner, PairsMetricLearner, QuadrupletsMetricLearner,
                      TripletsMetricLearner)
from .itml import ITML, ITML_Supervised

__all__ = [
    "Covariance",
    "ITML",
    "ITML_Supervised",
    "MetricLearner",
    "PairsMetricLearner",
    "QuadrupletsMetricLearner",
    "TripletsMetricLearner",
]
