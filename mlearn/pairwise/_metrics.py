"""The metric registry: one entry per metric drives dispatch, docs and tests.

An entry says how the metric is computed (its NumPy reference, its kernel
code or the finish of its matrix product), which parameters it takes and how
they are checked, what its input rows must satisfy and how they are prepared
for the kernels, and which mathematical properties it has; the backends, the
property tests and the table in the user guide follow the registry rather
than branching on metric names.
"""

from dataclasses import dataclass, field
from numbers import Real

import numpy as np

from .. import _validation
from .._sklearn_compat import Interval
from ..linalg import components_from_metric
from . import _numpy
from ._backends import is_cupy_array
from ._codes import (
    CHEBYSHEV,
    CHI2,
    CLIP,
    COSINE,
    EUCLIDEAN,
    HAMMING,
    JENSEN_SHANNON,
    KL,
    MANHATTAN,
    MINKOWSKI,
    RAW,
    ROOT,
    SQEUCLIDEAN,
    SQUARED,
)
from ._operands import normalise_rows, smooth_and_normalise_rows

_REQUIRED = object()


@dataclass(frozen=True)
class Metric:
    """What mlearn knows about one metric.

    Attributes
    ----------
    name : str
        Canonical name.
    formula : str
        The definition, as shown in the user guide.
    reference : callable
        The NumPy reference in :mod:`mlearn.pairwise._numpy`.
    similarity : bool
        True for similarities (larger means closer); ``kneighbors`` then
        ranks by largest value.
    symmetric, true_metric : bool
        ``d(x, y) == d(y, x)``; and whether the triangle inequality,
        non-negativity and ``d(x, x) == 0`` hold as well (for mahalanobis a
        pseudo-metric when ``M`` is singular).
    histogram : bool
        Inputs must be non-negative (histograms).
    finish : int or None
        For the metrics the fast backends compute through matrix products
        (``x·y``, the cancellation-prone pairs recomputed by difference), how
        the product is finished (``_codes``: SQUARED, ROOT, COSINE, CLIP,
        RAW); None for the direct metrics.
    code : int or None
        The metric's code in the Numba/CUDA direct kernels (``_codes``).
    params : dict
        Accepted keyword parameters and their defaults.
    scipy : str or None
        The name of the same metric in ``scipy.spatial.distance.cdist``.
    degree : int or None
        ``d(c x, c y) == c**degree d(x, y)`` for every ``c > 0`` (0: the
        metric ignores scale); None where no such law holds (kl, whose
        ``eps`` is not scaled with the data). Inputs of metrics of degree 1
        or more are rescaled by a power of two where their magnitude would
        overflow or underflow the kernels (see ``_scaling``).
    matrix : str or None
        The matrix parameter the data are projected by (``L`` of
        mahalanobis, ``M`` of bilinear), rescaled with them.
    check : callable or None
        ``check(params, n_features) -> params``: the metric's own checks of
        its parameters (defaults filled in), returning them in the form the
        kernels take.
    check_rows : callable or None
        ``check_rows(xp, array, name)`` raises ValueError when the rows of an
        input do not suit the metric, beyond the non-negativity of
        histograms (jensen_shannon: rows of positive sum).
    prepare_rows : callable or None
        ``prepare_rows(xp, array, params) -> array``: the rows the direct
        kernels compare (histograms normalised...); None when they compare
        the inputs as they are.
    code_for : callable or None
        ``code_for(params) -> code``: the kernel that computes the metric with
        these parameters, where a faster one than ``code``'s fits (minkowski
        with p = 1, 2 or inf).
    """

    name: str
    formula: str
    reference: object
    similarity: bool = False
    symmetric: bool = True
    true_metric: bool = False
    histogram: bool = False
    finish: int = None
    code: int = None
    params: dict = field(default_factory=dict)
    scipy: str = None
    degree: int = None
    matrix: str = None
    check: object = None
    check_rows: object = None
    prepare_rows: object = None
    code_for: object = None

    @property
    def gemm(self):
        """Whether the fast backends compute the metric by matrix products."""
        return self.finish is not None

    @property
    def centred(self):
        """Whether its products are taken on data centred on their mean
        (euclidean, sqeuclidean, mahalanobis: squared differences, whose
        product form cancels least on centred data)."""
        return self.finish in (SQUARED, ROOT)

    @property
    def ranks_squared(self):
        """Whether ``kneighbors`` ranks by squared distances and returns
        their roots (a root per neighbour rather than per pair)."""
        return self.finish == ROOT

    def check_params(self, params, n_features):
        """Validate ``params`` (a dict of keyword arguments) for inputs of
        ``n_features`` columns; returns them, defaults filled in, in the form
        the kernels take. For mahalanobis the result always holds ``L``
        (float64, shape (k, n_features))."""
        unknown = set(params) - set(self.params)
        if unknown:
            accepted = sorted(self.params) or "none"
            raise ValueError(
                f"metric {self.name!r} got unexpected parameter(s) "
                f"{sorted(unknown)}; accepted parameters: {accepted}"
            )
        out = {}
        for key, default in self.params.items():
            if key in params:
                out[key] = params[key]
            elif default is _REQUIRED:
                raise ValueError(f"metric {self.name!r} requires the parameter {key!r}")
            else:
                out[key] = default
        return out if self.check is None else self.check(out, n_features)

    def validate_rows(self, xp, array, name):
        """Raise ValueError when the rows of input ``name`` do not suit the
        metric (negative histograms...)."""
        if self.histogram and bool(xp.any(array < 0)):
            raise ValueError(
                f"metric {self.name!r} compares histograms: {name} must be non-negative"
            )
        if self.check_rows is not None:
            self.check_rows(xp, array, name)

    def direct_operands(self, xp, X, Y, params, same):
        """``(code, X, Y)``: the direct kernel and the rows it compares
        (``Y`` is ``X`` when ``same``)."""
        code = self.code if self.code_for is None else self.code_for(params)
        if self.prepare_rows is not None:
            X = self.prepare_rows(xp, X, params)
            Y = X if same else self.prepare_rows(xp, Y, params)
        return code, X, (X if same else Y)


# -- parameters -------------------------------------------------------------------------


#: minkowski's ``p`` (infinity included) and kl's ``eps`` (finite).
P_INTERVAL = Interval(Real, 1, None, closed="both")
EPS_INTERVAL = Interval(Real, 0, None, closed="neither")


def _check_minkowski(params, n_features):
    p = params["p"]
    if not P_INTERVAL.is_satisfied_by(p):
        raise ValueError(f"minkowski needs p >= 1 (inf allowed), got p={p!r}")
    return {"p": float(p)}


def _minkowski_code(params):
    """Manhattan, euclidean and chebyshev are minkowski's p = 1, 2 and inf,
    with faster kernels."""
    return {1.0: MANHATTAN, 2.0: EUCLIDEAN, np.inf: CHEBYSHEV}.get(params["p"], MINKOWSKI)


def _check_kl(params, n_features):
    eps = params["eps"]
    if not EPS_INTERVAL.is_satisfied_by(eps):
        raise ValueError(f"kl needs eps > 0, got eps={eps!r}")
    return {"eps": float(eps)}


def _as_matrix(value, name, metric, shape_msg):
    if is_cupy_array(value):
        # a matrix on the GPU is validated on the host (it is small); the
        # backend moves it to the inputs' device
        value = value.get()
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} for metric {metric!r} must be a numeric array") from exc
    if array.ndim != 2:
        raise ValueError(
            f"{name} for metric {metric!r} must be 2-D {shape_msg}, got shape {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} for metric {metric!r} contains NaN or infinity")
    return array


def _square_matrix(value, metric, n_features):
    M = _as_matrix(value, "M", metric, "(n_features, n_features)")
    if M.shape != (n_features, n_features):
        raise ValueError(
            f"M for metric {metric!r} must have shape ({n_features}, {n_features}), got {M.shape}"
        )
    return M


def _check_bilinear(params, n_features):
    return {"M": _square_matrix(params["M"], "bilinear", n_features)}


def _check_mahalanobis(params, n_features):
    M, L = params["M"], params["L"]
    if (M is None) == (L is None):
        raise ValueError(
            "metric 'mahalanobis' needs exactly one of M (a PSD matrix of shape "
            "(n_features, n_features)) or L (components of shape "
            "(n_components, n_features), M = L.T @ L)"
        )
    if L is None:
        return {"L": _components(_square_matrix(M, "mahalanobis", n_features))}
    L = _as_matrix(L, "L", "mahalanobis", "(n_components, n_features)")
    if L.shape[1] != n_features:
        raise ValueError(
            f"L for metric 'mahalanobis' must have shape (n_components, "
            f"{n_features}), got {L.shape}"
        )
    return {"L": L}


#: Largest magnitudes of ``M`` factored as given.
SAFE_MATRIX = (2.0**-100, 2.0**100)


def _components(M):
    """``L`` with ``L.T @ L == M`` of a PSD matrix ``M`` of any finite magnitude.

    ``M`` near the ends of the range is factored as ``M / 4**e`` (exact), so
    that nothing overflows or underflows; then ``L = 2**e L(M / 4**e)``.
    """
    _validation.check_psd_matrix(M, name="M for metric 'mahalanobis'")
    largest = float(np.max(np.abs(M)))
    half_exponent = 0
    if largest != 0.0 and not SAFE_MATRIX[0] <= largest <= SAFE_MATRIX[1]:
        half_exponent = int(np.frexp(largest)[1]) // 2
    unit = np.ldexp(M, -2 * half_exponent)
    return np.ldexp(components_from_metric(unit, check_psd=False), half_exponent)


# -- rows -------------------------------------------------------------------------------


def _positive_row_sums(xp, array, name):
    with np.errstate(over="ignore"):  # a sum that overflows is positive
        positive = bool(xp.all(xp.sum(array, axis=1) > 0))
    if not positive:
        raise ValueError(
            f"metric 'jensen_shannon' needs every row of {name} to have a positive sum"
        )


# -- the registry -----------------------------------------------------------------------

METRICS = {
    m.name: m
    for m in [
        Metric(
            "euclidean",
            r"\sqrt{\sum_k (x_k - y_k)^2}",
            _numpy.euclidean,
            true_metric=True,
            finish=ROOT,
            code=EUCLIDEAN,
            scipy="euclidean",
            degree=1,
        ),
        Metric(
            "sqeuclidean",
            r"\sum_k (x_k - y_k)^2",
            _numpy.sqeuclidean,
            finish=SQUARED,
            code=SQEUCLIDEAN,
            scipy="sqeuclidean",
            degree=2,
        ),
        Metric(
            "manhattan",
            r"\sum_k |x_k - y_k|",
            _numpy.manhattan,
            true_metric=True,
            code=MANHATTAN,
            scipy="cityblock",
            degree=1,
        ),
        Metric(
            "chebyshev",
            r"\max_k |x_k - y_k|",
            _numpy.chebyshev,
            true_metric=True,
            code=CHEBYSHEV,
            scipy="chebyshev",
            degree=1,
        ),
        Metric(
            "minkowski",
            r"(\sum_k |x_k - y_k|^p)^{1/p},\ p \ge 1",
            _numpy.minkowski,
            true_metric=True,
            code=MINKOWSKI,
            params={"p": 2.0},
            scipy="minkowski",
            degree=1,
            check=_check_minkowski,
            code_for=_minkowski_code,
        ),
        Metric(
            "hamming",
            r"\frac{1}{d}\,\#\{k : x_k \ne y_k\}",
            _numpy.hamming,
            true_metric=True,
            code=HAMMING,
            scipy="hamming",
            degree=0,
        ),
        Metric(
            "cosine",
            r"1 - \frac{x \cdot y}{\|x\|\,\|y\|}",
            _numpy.cosine,
            finish=COSINE,
            scipy="cosine",
            degree=0,
        ),
        Metric(
            "cosine_similarity",
            r"\frac{x \cdot y}{\|x\|\,\|y\|}",
            _numpy.cosine_similarity,
            similarity=True,
            finish=CLIP,
            degree=0,
        ),
        Metric(
            "mahalanobis",
            r"\sqrt{(x - y)^\top M (x - y)} = \|L(x - y)\|,\ M = L^\top L",
            _numpy.mahalanobis,
            true_metric=True,
            finish=ROOT,
            params={"M": None, "L": None},
            scipy="mahalanobis",
            degree=1,
            matrix="L",
            check=_check_mahalanobis,
        ),
        Metric(
            "bilinear",
            r"x^\top M y",
            _numpy.bilinear,
            similarity=True,
            symmetric=False,
            finish=RAW,
            params={"M": _REQUIRED},
            degree=2,
            matrix="M",
            check=_check_bilinear,
        ),
        Metric(
            "chi2",
            r"\sum_{k:\,x_k + y_k > 0} \frac{(x_k - y_k)^2}{x_k + y_k}",
            _numpy.chi2,
            histogram=True,
            code=CHI2,
            degree=1,
        ),
        Metric(
            "kl",
            r"\sum_k p_k \log(p_k / q_k),\ "
            r"p = \frac{x + \epsilon}{\sum_k (x_k + \epsilon)},\ "
            r"q = \frac{y + \epsilon}{\sum_k (y_k + \epsilon)}",
            _numpy.kl,
            symmetric=False,
            histogram=True,
            code=KL,
            params={"eps": 1e-10},
            check=_check_kl,
            prepare_rows=smooth_and_normalise_rows,
        ),
        Metric(
            "jensen_shannon",
            r"\sqrt{\tfrac12 \mathrm{KL}(p \| m) + \tfrac12 \mathrm{KL}(q \| m)},\ "
            r"m = \tfrac12 (p + q),\ p = x / \textstyle\sum_k x_k",
            _numpy.jensen_shannon,
            true_metric=True,
            histogram=True,
            code=JENSEN_SHANNON,
            scipy="jensenshannon",
            degree=0,
            check_rows=_positive_row_sums,
            prepare_rows=normalise_rows,
        ),
    ]
}

ALIASES = {
    "cityblock": "manhattan",
    "l1": "manhattan",
    "l2": "euclidean",
    "jensenshannon": "jensen_shannon",
}

#: Every name ``metric=`` accepts: canonical names and aliases.
METRIC_OPTIONS = frozenset(METRICS) | frozenset(ALIASES)


def get_metric(metric):
    """The registry entry of ``metric`` (a name or an alias)."""
    name = ALIASES.get(metric, metric) if isinstance(metric, str) else None
    if name not in METRICS:
        raise ValueError(f"metric must be one of {sorted(METRIC_OPTIONS)}, got {metric!r}")
    return METRICS[name]
