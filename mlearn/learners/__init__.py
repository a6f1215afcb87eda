"""The metric learners, one module per algorithm."""

from .covariance import Covariance
from .general import (MetricLearner, PairsMetricLearner, QuadrupletsMetricLearner,
                      TripletsMetricLearner)
from .itml import ITML, ITML_Supervised
from .lsml import LSML, LSML_Supervised
from .mmc import MMC, MMC_Supervised
from .scml import SCML, SCML_Supervised
from .sdml import SDML, SDML_Supervised

__all__ = [
    "Covariance",
    "ITML",
    "ITML_Supervised",
    "LSML",
    "LSML_Supervised",
    "MMC",
    "MMC_Supervised",
    "SCML",
    "SCML_Supervised",
    "SDML",
    "SDML_Supervised",
    "MetricLearner",
    "PairsMetricLearner",
    "QuadrupletsMetricLearner",
    "TripletsMetricLearner",
]
