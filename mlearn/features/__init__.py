"""Feature extractors that feed the metric learners.

The transformers are imported on first use, so that ``import mlearn.features``
does not pull in optional dependencies.
"""

import importlib

_LAZY = {
    "ColorHistogram": ".color",
    "LocalBinaryPattern": ".lbp",
    "local_binary_pattern": ".lbp",
    "DeepEmbedding": ".deep",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return __all__
