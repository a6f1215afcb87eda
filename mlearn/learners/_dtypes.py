"""The floating dtype a learner keeps its fitted arrays in."""

import numpy as np


def fitted_components(L, dtype):
    """``L`` in the floating dtype of the data it was learned from.

    The solvers compute in float64 for accuracy; as scikit-learn's
    transformers do, the map is stored as float32 when the data were float32,
    and as float64 for any other dtype.
    """
    dtype = np.float32 if np.dtype(dtype) == np.float32 else np.float64
    return np.ascontiguousarray(L, dtype=dtype)
