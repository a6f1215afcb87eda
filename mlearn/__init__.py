"""mlearn: Mahalanobis metric learning in scikit-learn style."""

__version__ = "0.1.0.dev0"

from . import exceptions, pairwise
from ._config import config_context, get_config, set_config
from .constraints import Constraints
from .learners import *  # noqa: F401,F403
from .learners import __all__ as _learners_all

__all__ = [
    "Constraints",
    "__version__",
    "config_context",
    "exceptions",
    "get_config",
    "pairwise",
    "set_config",
    *_learners_all,
]
