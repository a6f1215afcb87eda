"""The metric learners, one module per algorithm."""

from .covariance import Covariance
from .general import (
    MetricLearner,
    PairsMetricLearner,
    QuadrupletsMetricLearner,
    TripletsMetricLearner,
)
from .itml import ITML, ITML_Supervised
from .lfda import LFDA
from .lmnn import LMNN
from .lsml import LSML, LSML_Supervised
from .mlkr import MLKR
from .mmc import MMC, MMC_Supervised
from .nca import NCA
from .rca import RCA, RCA_Supervised
from .scml import SCML, SCML_Supervised
from .sdml import SDML, SDML_Supervised

__all__ = [
    "Covariance",
    "ITML",
    "ITML_Supervised",
    "LFDA",
    "LMNN",
    "LSML",
    "LSML_Supervised",
    "MLKR",
    "MMC",
    "MMC_Supervised",
    "MetricLearner",
    "NCA",
    "PairsMetricLearner",
    "QuadrupletsMetricLearner",
    "RCA",
    "RCA_Supervised",
    "SCML",
    "SCML_Supervised",
    "SDML",
    "SDML_Supervised",
    "TripletsMetricLearner",
]
