"""The metric learners, one module per algorithm."""

from .angular import AngularMarginLearner
from .cosine import CosineMetricLearner, CosineMetricLearner_Supervised
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
from .oasis import OASIS, OASIS_Supervised
from .rca import RCA, RCA_Supervised
from .scml import SCML, SCML_Supervised
from .sdml import SDML, SDML_Supervised

__all__ = [
    "AngularMarginLearner",
    "CosineMetricLearner",
    "CosineMetricLearner_Supervised",
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
    "OASIS",
    "OASIS_Supervised",
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
