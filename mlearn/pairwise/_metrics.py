"""The metric registry: one entry per metric drives dispatch, docs and tests.

An entry says how the metric is computed by each backend and which
mathematical properties it has, so that the property tests and the table in
the user guide follow the registry rather than a hand-kept list.
"""

import numbers
from dataclasses import dataclass, field

import numpy as np

from . import _numpy

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
    gemm : bool
        The fast backends compute it through matrix products
        (``x·y``), with the cancellation-prone pairs recomputed by difference.
    code : int or None
        Index of the metric in the Numba/CUDA direct kernels.
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
    """

    name: str
    formula: str
    reference: object
    similarity: bool = False
    symmetric: bool = True
    true_metric: bool = False
    histogram: bool = False
    gemm: bool = False
    code: int = None
    params: dict = field(default_factory=dict)
    scipy: str = None
    degree: int = None


# Codes shared by the Numba and CUDA direct kernels.
SQEUCLIDEAN, EUCLIDEAN, MANHATTAN, CHEBYSHEV, MINKOWSKI = 0, 1, 2, 3, 4
HAMMING, CHI2, KL, JENSEN_SHANNON = 5, 6, 7, 8

METRICS = {
    m.name: m
    for m in [
        Metric(
            "euclidean",
            r"\sqrt{\sum_k (x_k - y_k)^2}",
            _numpy.euclidean,
            true_metric=True,
            gemm=True,
            code=EUCLIDEAN,
            scipy="euclidean",
            degree=1,
        ),
        Metric(
            "sqeuclidean",
            r"\sum_k (x_k - y_k)^2",
            _numpy.sqeuclidean,
            gemm=True,
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
            gemm=True,
            scipy="cosine",
            degree=0,
        ),
        Metric(
            "cosine_similarity",
            r"\frac{x \cdot y}{\|x\|\,\|y\|}",
            _numpy.cosine_similarity,
            similarity=True,
            gemm=True,
            degree=0,
        ),
        Metric(
            "mahalanobis",
            r"\sqrt{(x - y)^\top M (x - y)} = \|L(x - y)\|,\ M = L^\top L",
            _numpy.mahalanobis,
            true_metric=True,
            gemm=True,
            params={"M": None, "L": None},
            scipy="mahalanobis",
            degree=1,
        ),
        Metric(
            "bilinear",
            r"x^\top M y",
            _numpy.bilinear,
            similarity=True,
            symmetric=False,
            gemm=True,
            params={"M": _REQUIRED},
            degree=2,
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
        ),
    ]
}

ALIASES = {
    "cityblock": "manhattan",
    "l1": "manhattan",
    "l2": "euclidean",
    "jensenshannon": "jensen_shannon",
}

BACKENDS = ("auto", "numpy", "numba", "cupy")


def get_metric(metric):
    """The registry entry of ``metric`` (a name or an alias)."""
    if not isinstance(metric, str):
        raise ValueError(
            f"metric must be a string naming a metric, got {type(metric).__name__}; "
            f"valid names: {sorted(METRICS) + sorted(ALIASES)}"
        )
    name = ALIASES.get(metric, metric)
    if name not in METRICS:
        raise ValueError(
            f"Unknown metric {metric!r}; valid names are "
            f"{sorted(METRICS) + sorted(ALIASES)}"
        )
    return METRICS[name]


def check_backend(backend):
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {list(BACKENDS)}, got {backend!r}")
    return backend


#: Relative tolerance for the symmetry and positive semidefiniteness of ``M``.
PSD_TOL = 1e-10


def _as_matrix(value, name, metric, shape_msg):
    if type(value).__module__.split(".")[0] == "cupy":
        # a matrix on the GPU is validated on the host (it is small); the
        # backend moves it to the inputs' device
        value = value.get()
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} for metric {metric!r} must be a numeric array") from exc
    if array.ndim != 2:
        raise ValueError(
            f"{name} for metric {metric!r} must be 2-D {shape_msg}, "
            f"got shape {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} for metric {metric!r} contains NaN or infinity")
    return array


def components_from_psd(M):
    """``L`` with ``L.T @ L == M`` for a symmetric PSD ``M`` (zero rows dropped)."""
    eigval, eigvec = np.linalg.eigh(M)
    keep = eigval > PSD_TOL * max(np.max(np.abs(eigval)), np.finfo(float).tiny)
    return np.sqrt(eigval[keep])[:, None] * eigvec[:, keep].T


def check_params(metric, params, n_features):
    """Validate ``params`` for ``metric``; returns them in computable form.

    For mahalanobis the result always holds ``L`` (float64, shape (k, d)).
    """
    unknown = set(params) - set(metric.params)
    if unknown:
        accepted = sorted(metric.params) or "none"
        raise ValueError(
            f"metric {metric.name!r} got unexpected parameter(s) "
            f"{sorted(unknown)}; accepted parameters: {accepted}"
        )
    out = {}
    for key, default in metric.params.items():
        if key in params:
            out[key] = params[key]
        elif default is _REQUIRED:
            raise ValueError(f"metric {metric.name!r} requires the parameter {key!r}")
        else:
            out[key] = default

    if metric.name == "minkowski":
        p = out["p"]
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or np.isnan(p) or p < 1:
            raise ValueError(f"minkowski needs p >= 1 (inf allowed), got p={p!r}")
        out["p"] = float(p)
    elif metric.name == "kl":
        eps = out["eps"]
        if (
            isinstance(eps, bool)
            or not isinstance(eps, numbers.Real)
            or not np.isfinite(eps)
            or eps <= 0
        ):
            raise ValueError(f"kl needs eps > 0, got eps={eps!r}")
        out["eps"] = float(eps)
    elif metric.name == "bilinear":
        M = _as_matrix(out["M"], "M", "bilinear", "(n_features, n_features)")
        if M.shape != (n_features, n_features):
            raise ValueError(
                f"M for metric 'bilinear' must have shape ({n_features}, "
                f"{n_features}), got {M.shape}"
            )
        out["M"] = M
    elif metric.name == "mahalanobis":
        M, L = out.pop("M"), out.pop("L")
        if (M is None) == (L is None):
            raise ValueError(
                "metric 'mahalanobis' needs exactly one of M (a PSD matrix of shape "
                "(n_features, n_features)) or L (components of shape "
                "(n_components, n_features), M = L.T @ L)"
            )
        if L is not None:
            L = _as_matrix(L, "L", "mahalanobis", "(n_components, n_features)")
            if L.shape[1] != n_features:
                raise ValueError(
                    f"L for metric 'mahalanobis' must have shape (n_components, "
                    f"{n_features}), got {L.shape}"
                )
        else:
            M = _as_matrix(M, "M", "mahalanobis", "(n_features, n_features)")
            if M.shape != (n_features, n_features):
                raise ValueError(
                    f"M for metric 'mahalanobis' must have shape ({n_features}, "
                    f"{n_features}), got {M.shape}"
                )
            # M near the ends of the range is checked and factored as
            # M / 4**e (exact), so that nothing overflows or underflows;
            # then L = 2**e L(M / 4**e)
            half_exponent = _half_exponent(M)
            M = np.ldexp(M, -2 * half_exponent)
            scale = max(np.max(np.abs(M)), np.finfo(float).tiny)
            if np.max(np.abs(M - M.T)) > PSD_TOL * scale * 1e2:
                raise ValueError("M for metric 'mahalanobis' must be symmetric")
            eigval = np.linalg.eigvalsh(M)
            if eigval[0] < -PSD_TOL * max(np.max(np.abs(eigval)), np.finfo(float).tiny):
                smallest = np.ldexp(eigval[0], 2 * half_exponent)
                raise ValueError(
                    "M for metric 'mahalanobis' must be positive semidefinite; its "
                    f"smallest eigenvalue is {smallest:.3g}"
                )
            L = np.ldexp(components_from_psd(0.5 * (M + M.T)), half_exponent)
            if L.shape[0] == 0:
                L = np.zeros((1, n_features))
        out["L"] = L
    return out


#: Largest magnitudes of ``M`` factored as given.
SAFE_MATRIX = (2.0**-100, 2.0**100)


def _half_exponent(M):
    """``e`` such that ``M / 4**e`` has its largest magnitude near 1 (0 when it
    lies in ``SAFE_MATRIX``)."""
    largest = float(np.max(np.abs(M)))
    if largest == 0.0 or SAFE_MATRIX[0] <= largest <= SAFE_MATRIX[1]:
        return 0
    return int(np.frexp(largest)[1]) // 2
