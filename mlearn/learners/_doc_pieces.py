"""Numpydoc text that several learners share, written once.

:data:`PIECES` maps a placeholder name to its text; a learner's docstring
(or its ``fit``'s) names a piece as ``{name}`` and :func:`fill_pieces` fills
it with :func:`mlearn._docstrings.format_doc`, indented like the placeholder.
A piece holds only what means the same for every learner that uses it: the
parameters, fitted attributes and ``fit`` arguments that differ from one
learner to the next stay written in the learner's own docstring.

The pieces live here, beside the learners, rather than in
:mod:`mlearn._docstrings`: that module is the filling mechanism, used by the
metrics too, and knows nothing of what a learner documents.
"""

import re
from typing import TypeVar

from .._docstrings import fill_doc

__all__ = ["PIECES", "fill_pieces"]

_Documented = TypeVar("_Documented")

#: Placeholder name -> numpydoc text, written without indentation.
PIECES = {
    # -- constructor parameters ------------------------------------------------
    "preprocessor_points": """
preprocessor : array-like of shape (n_samples, n_features), callable or None, \
default=None
    Lets ``X`` be given as a 1-D array of indices into the preprocessor's
    points (or fed to a callable that returns them).""",
    "preprocessor_pairs": """
preprocessor : array-like of shape (n_samples, n_features), callable or None, \
default=None
    Lets pairs be given as indices, ``(n_pairs, 2)``, into these points.""",
    "preprocessor_drawn_pairs": """
preprocessor : array-like of shape (n_samples, n_features), callable or None, \
default=None
    Lets ``X`` be given as a 1-D array of indices into these points.""",
    "n_constraints_pairs": """
n_constraints : int, default=None
    Number of similar pairs, and of dissimilar pairs, to draw; None means
    ``20 * n_classes ** 2``. ``num_constraints``, its old name, is
    accepted with a ``FutureWarning``.""",
    "init_class_labels": """
init : {'auto', 'pca', 'lda', 'identity', 'random'} or array-like of shape \
(n_components, n_features), default='auto'
    Initial linear map. 'auto' uses 'lda' when ``n_components`` is at
    most ``min(n_features, n_classes - 1)``, 'pca' when
    ``n_components < min(n_features, n_samples)``, and 'identity'
    otherwise (metric-learn's rule, :func:`mlearn.linalg.auto_init`).""",
    "n_components_space": """
n_components : int, default=None
    Dimension of the learned space (rows of ``components_``); None keeps
    n_features.""",
    "n_components_eigen": """
n_components : int, default=None
    Rows of ``components_``: the leading eigen-directions of ``M`` are
    kept. None keeps n_features.""",
    "warm_start_callback": """
warm_start : bool, default=False
    Start from the ``components_`` of the previous ``fit`` (their shape
    must match) instead of ``init``.
callback : callable, default=None
    ``callback(components, n_iter)`` after every iteration, with the
    current ``L`` of shape (n_components, n_features).""",
    "feature_scaling": """
feature_scaling : {'range', 'standard'} or None, default='range'
    'range' fits on the features centred and divided by their ranges
    (largest minus smallest training value), all brought by one common
    factor to variances that average 1; 'standard' divides by their
    standard deviations. Either way the division is folded into
    ``components_``, which still maps raw ``X``, so the learned
    neighbourhoods do not depend on the features' units, nor on a scaler
    placed before the learner. An array given in the data's units
    (``init``, a prior) is read in those units. None fits on ``X`` as
    given, as metric-learn does. See the user guide, "Do I need a
    scaler?", for the rule that chose the default.""",
    # -- fitted attributes -----------------------------------------------------
    "fitted_feature_scale": """
feature_scale_ : ndarray of shape (n_features,) or None
    What ``fit`` divided each feature by (its range times the common
    factor, or its standard deviation; for a constant feature, its
    absolute value), None with
    ``feature_scaling=None``.""",
    "fitted_features": """
n_features_in_ : int
    Number of features seen in ``fit``.
feature_names_in_ : ndarray of shape (n_features,)
    Names of the features, when ``X`` has string column names.""",
    "fitted_linear_map": """
components_ : ndarray of shape (n_components, n_features)
    The learned linear map ``L``; ``M = L.T @ L``.""",
    "fitted_eigen_map": """
components_ : ndarray of shape (n_components, n_features)
    ``L`` with ``M = L.T @ L``.""",
    "fitted_pairs_classifier": """
threshold_ : float
    Distance under which a pair is predicted similar, calibrated on the
    training pairs at the end of ``fit``.
classes_ : ndarray of shape (2,)
    ``[-1, 1]``.
n_features_in_ : int
    Number of features of the points.""",
    # -- arguments of fit ------------------------------------------------------
    "fit_training_points": """
X : array-like of shape (n_samples, n_features)
    Training points (at least two), or a 1-D array of indices when a
    preprocessor is set.""",
    "fit_labelled_pairs": """
pairs : array-like of shape (n_pairs, 2, n_features) or (n_pairs, 2)
    Pairs of points, or of indices into the preprocessor's points.
y : array-like of shape (n_pairs,)
    +1 for a similar pair, -1 for a dissimilar one.""",
    "fit_calibration_params": """
calibration_params : dict, default=None
    Arguments of :meth:`calibrate_threshold` (``strategy``,
    ``min_rate``, ``beta``) for the calibration that ends ``fit``.""",
    "fit_labelled_points": """
X : array-like of shape (n_samples, n_features)
    Points (or indices into the preprocessor's points).
y : array-like of shape (n_samples,)
    Class labels; negative integers mark unlabelled points.""",
}

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def fill_pieces(obj: _Documented) -> _Documented:
    """Decorator filling the :data:`PIECES` a docstring names as ``{name}``.

    Other braces (``{'identity', 'covariance'}``) are left as they are.

    Parameters
    ----------
    obj : function or class
        Its docstring is the template; without one (Python run with
        ``-OO``) it is returned unchanged.

    Returns
    -------
    obj : function or class
        The same object, its docstring filled.

    Examples
    --------
    >>> @fill_pieces
    ... class Learner:
    ...     '''A learner.
    ...
    ...     Attributes
    ...     ----------
    ...     {fitted_features}
    ...     '''
    >>> print(Learner.__doc__)
    A learner.
    <BLANKLINE>
        Attributes
        ----------
        n_features_in_ : int
            Number of features seen in ``fit``.
        feature_names_in_ : ndarray of shape (n_features,)
            Names of the features, when ``X`` has string column names.
    <BLANKLINE>
    """
    names = set(_PLACEHOLDER.findall(obj.__doc__ or "")) & PIECES.keys()
    return fill_doc(**{name: PIECES[name] for name in names})(obj)
