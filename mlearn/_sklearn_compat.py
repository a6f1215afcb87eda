"""The one place that imports scikit-learn's version-sensitive pieces.

mlearn supports scikit-learn 1.5 and newer. Between 1.5 and 1.6 scikit-learn
moved ``validate_data`` from a method to a function, renamed
``force_all_finite`` to ``ensure_all_finite`` and replaced ``_more_tags`` with
``__sklearn_tags__``. Everything else in mlearn imports those pieces from here.

The ``Interval`` parameter constraint exported here is scikit-learn's with
one difference: it refuses bools, which scikit-learn's accepts as the numbers
0 and 1 (so that ``n_components=True`` would silently mean one component).
``validate_params`` is scikit-learn's, typed so that a decorated function
keeps its signature for type checkers.
"""

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numpy as np
import sklearn
from sklearn.base import _fit_context as _sklearn_fit_context
from sklearn.utils import check_array as _check_array
from sklearn.utils._param_validation import HasMethods, InvalidParameterError, Options, StrOptions
from sklearn.utils._param_validation import Interval as _SklearnInterval
from sklearn.utils._param_validation import validate_params as _sklearn_validate_params
from sklearn.utils._set_output import _auto_wrap_is_configured, _get_output_config
from sklearn.utils.fixes import parse_version

SKLEARN_VERSION = parse_version(parse_version(sklearn.__version__).base_version)
SKLEARN_GE_1_6 = SKLEARN_VERSION >= parse_version("1.6")

__all__ = [
    "SKLEARN_GE_1_6",
    "ClassifierTags",
    "HasMethods",
    "Interval",
    "InvalidParameterError",
    "Options",
    "StrOptions",
    "_fit_context",
    "check_array",
    "output_container",
    "validate_data",
    "validate_params",
]


class Interval(_SklearnInterval):
    """scikit-learn's ``Interval`` parameter constraint, refusing bools.

    ``bool`` subclasses ``int``, so scikit-learn's constraint takes ``True``
    for 1 and ``False`` for 0. A bool handed to a count, a size or a
    tolerance is a mistake, never a number: here it fails validation with
    scikit-learn's usual ``InvalidParameterError``.

    Parameters
    ----------
    type : {numbers.Integral, numbers.Real}
        The type of the accepted values.
    left, right : float or int or None
        The bounds of the interval; None for no bound.
    closed : {'left', 'right', 'both', 'neither'}
        Which bounds belong to the interval.

    Examples
    --------
    >>> from numbers import Integral
    >>> positive = Interval(Integral, 1, None, closed="left")
    >>> positive.is_satisfied_by(3), positive.is_satisfied_by(True)
    (True, False)
    >>> str(positive)
    'an int, not a bool, in the range [1, inf)'
    """

    def is_satisfied_by(self, val):
        if isinstance(val, (bool, np.bool_)):
            return False
        return super().is_satisfied_by(val)

    def __str__(self):
        text = super().__str__()
        return text.replace(" in the range", ", not a bool, in the range", 1)


_Function = TypeVar("_Function", bound=Callable[..., Any])


def _fit_context(*, prefer_skip_nested_validation: bool) -> Callable[[_Function], _Function]:
    """scikit-learn's ``_fit_context`` decorator for ``fit`` methods, keeping their type.

    It validates the estimator's parameters (``_parameter_constraints``)
    before the method runs, and sets whether the scikit-learn calls inside
    validate theirs. scikit-learn's own decorator carries no type hints, so
    a type checker would see every decorated ``fit`` as untyped; through
    this one it sees the method's signature.
    """
    decorator = _sklearn_fit_context(prefer_skip_nested_validation=prefer_skip_nested_validation)
    return cast(Callable[[_Function], _Function], decorator)


def validate_params(
    parameter_constraints: dict[str, list[Any]], *, prefer_skip_nested_validation: bool
) -> Callable[[_Function], _Function]:
    """scikit-learn's ``validate_params`` decorator, keeping the function's type.

    The decorated function checks its arguments against
    ``parameter_constraints`` (``"array-like"``, ``"boolean"``,
    ``"random_state"``, :class:`Interval`, ``StrOptions``, ``Options``, None,
    a type...) and raises ``InvalidParameterError``, a subclass of both
    ``ValueError`` and ``TypeError``, naming the parameter, what it accepts
    and what came. ``*args`` and ``**kwargs`` are not checked.

    Parameters
    ----------
    parameter_constraints : dict
        ``{parameter name: list of constraints}``; a value satisfying any one
        of them is accepted.
    prefer_skip_nested_validation : bool
        True skips the validation of the scikit-learn functions and estimators
        called inside (their arguments are the decorated function's own,
        already checked); False where the function passes on arguments it has
        not checked itself.

    Returns
    -------
    decorator : callable
        Returns the validating wrapper of a function, with its name,
        signature and docstring.

    Examples
    --------
    >>> from numbers import Integral
    >>> @validate_params({"k": [Interval(Integral, 1, None, closed="left")]},
    ...                  prefer_skip_nested_validation=True)
    ... def first(values, k=1):
    ...     return values[:k]
    >>> first([3, 1, 2], k=2)
    [3, 1]
    >>> first([3, 1, 2], k=0)
    Traceback (most recent call last):
    ...
    sklearn.utils._param_validation.InvalidParameterError: The 'k' parameter of first \
must be an int, not a bool, in the range [1, inf). Got 0 instead.
    """
    return _sklearn_validate_params(
        parameter_constraints, prefer_skip_nested_validation=prefer_skip_nested_validation
    )


def output_container(estimator, method="transform"):
    """The container ``set_output`` wraps ``method``'s result in: "default", "pandas", "polars".

    "default" (no wrapping) also for an estimator whose ``method`` is not
    wrapped by scikit-learn's ``set_output`` machinery.
    """
    if not _auto_wrap_is_configured(estimator):
        return "default"
    return _get_output_config(method, estimator)["dense"]


def _rename_finite_keyword(kwargs):
    if not SKLEARN_GE_1_6 and "ensure_all_finite" in kwargs:
        kwargs["force_all_finite"] = kwargs.pop("ensure_all_finite")
    return kwargs


def check_array(array, **kwargs):
    """``sklearn.utils.check_array`` with the keywords of scikit-learn >= 1.6."""
    return _check_array(array, **_rename_finite_keyword(kwargs))


if SKLEARN_GE_1_6:
    from sklearn.utils import ClassifierTags
    from sklearn.utils.validation import validate_data as _validate_data

    def validate_data(estimator, /, X="no_validation", y="no_validation", **kwargs):
        """Validate ``X``/``y`` and set or check ``n_features_in_``."""
        return _validate_data(estimator, X=X, y=y, **kwargs)

else:  # pragma: no cover - exercised by the oldest-scikit-learn CI job
    ClassifierTags = None  # tags are plain dicts (``_more_tags``) before 1.6

    def validate_data(estimator, /, X="no_validation", y="no_validation", **kwargs):
        """Validate ``X``/``y`` and set or check ``n_features_in_``."""
        kwargs = _rename_finite_keyword(kwargs)
        return estimator._validate_data(X=X, y=y, **kwargs)
