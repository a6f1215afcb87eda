"""mlearn: Mahalanobis metric learning in scikit-learn style."""

__version__ = "0.1.0.dev0"

from . import exceptions, pairwise
from .constraints import Constraints
from .learners import *  # noqa: F401,F403
from .learners import __all__ as _learners_all

__all__ = ["Constraints", "__version__", "exceptions", "pairwise", *_learners_all]
