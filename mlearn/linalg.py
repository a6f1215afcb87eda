"""Linear algebra of Mahalanobis metrics: the PSD cone, M ⇄ L, initialisations.

A Mahalanobis metric is a symmetric positive semidefinite (PSD) matrix ``M``
of shape (n_features, n_features); any ``L`` of shape (n_components,
n_features) with ``M = L.T @ L`` gives the same distances, and ``L`` is the
linear map that :meth:`transform` applies.
"""

from typing import Literal, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.linalg import pinvh
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.utils import check_random_state

from ._validation import check_n_components, check_psd_matrix

__all__ = [
    "auto_init",
    "components_from_metric",
    "initialize_components",
    "initialize_metric",
    "metric_from_components",
    "power_of_two_scale",
    "project_psd",
]

COMPONENT_INITS = ("auto", "identity", "pca", "lda", "random", "covariance")
METRIC_INITS = ("identity", "covariance", "random", "pca", "lda", "auto")

_Matrix = NDArray[np.float64]
#: What ``random_state`` takes, as in scikit-learn.
_RandomState = int | np.random.RandomState | None


@overload
def project_psd(
    M: ArrayLike, *, return_eigen: Literal[False] = ..., floor: float = ...
) -> _Matrix: ...
@overload
def project_psd(
    M: ArrayLike, *, return_eigen: Literal[True], floor: float = ...
) -> tuple[_Matrix, _Matrix, _Matrix]: ...
@overload
def project_psd(
    M: ArrayLike, *, return_eigen: bool, floor: float = ...
) -> _Matrix | tuple[_Matrix, _Matrix, _Matrix]: ...


def project_psd(
    M: ArrayLike, *, return_eigen: bool = False, floor: float = 0.0
) -> _Matrix | tuple[_Matrix, _Matrix, _Matrix]:
    """Nearest symmetric PSD matrix to ``M`` in Frobenius norm.

    The symmetric part of ``M`` is eigen-decomposed and its negative
    eigenvalues set to zero.

    Parameters
    ----------
    M : array-like of shape (n_features, n_features)
    return_eigen : bool, default=False
        Also return the clipped eigenvalues and the eigenvectors.
    floor : float, default=0.0
        Raise the eigenvalues to at least ``floor`` times the largest one
        (or to ``floor`` when none is positive) instead of zero: the
        projection then stays strictly positive definite, as a LogDet term
        needs.

    Returns
    -------
    M_psd : ndarray of shape (n_features, n_features)
        Symmetric to the last bit (``M_psd == M_psd.T``).

    Examples
    --------
    >>> import numpy as np
    >>> from mlearn.linalg import project_psd
    >>> project_psd(np.array([[1.0, 0.0], [0.0, -2.0]]))
    array([[1., 0.],
           [0., 0.]])
    >>> project_psd(np.array([[1.0, 0.0], [0.0, -2.0]]), floor=1e-3)
    array([[1.   , 0.   ],
           [0.   , 0.001]])
    """
    M = np.asarray(M, dtype=np.float64)
    if M.ndim != 2 or M.shape[0] != M.shape[1]:
        raise ValueError(f"M must be a square matrix, got shape {M.shape}")
    w, V = np.linalg.eigh((M + M.T) / 2)
    lowest = floor * w[-1] if w[-1] > 0 else floor
    w = np.clip(w, lowest, None)
    out = (V * w) @ V.T
    out = (out + out.T) / 2
    if return_eigen:
        return out, w, V
    return out


def components_from_metric(
    M: ArrayLike,
    n_components: int | None = None,
    *,
    tol: float | None = None,
    check_psd: bool = True,
) -> _Matrix:
    """A factor ``L`` with ``L.T @ L == M`` (up to round-off), rows by decreasing weight.

    Parameters
    ----------
    M : array-like of shape (n_features, n_features)
        Symmetric positive semidefinite matrix.
    n_components : int, default=None
        Number of rows of ``L``. ``None`` keeps n_features rows (rows for null
        eigenvalues are zero). A smaller value keeps the leading eigen-directions,
        which gives the best rank-``n_components`` approximation of ``M``.
    tol : float, default=None
        Relative tolerance under which a negative eigenvalue counts as
        round-off; ``None`` uses 1e-8.
    check_psd : bool, default=True
        Raise :class:`~mlearn.exceptions.NonPSDError` (a ``ValueError``)
        when ``M`` is not PSD within ``tol``.

    Returns
    -------
    L : ndarray of shape (n_components, n_features)

    Examples
    --------
    >>> import numpy as np
    >>> from mlearn.linalg import components_from_metric
    >>> M = np.array([[2.0, 1.0], [1.0, 2.0]])
    >>> L = components_from_metric(M)
    >>> np.allclose(L.T @ L, M)
    True
    >>> components_from_metric(M, n_components=1).shape
    (1, 2)
    """
    tol = 1e-8 if tol is None else tol
    if check_psd:
        matrix = check_psd_matrix(M, tol=tol)
    else:
        matrix = np.asarray(M, dtype=np.float64)
    n_features = matrix.shape[0]
    n_components = check_n_components(n_components, n_features)
    w, V = np.linalg.eigh((matrix + matrix.T) / 2)
    order = np.argsort(w)[::-1][:n_components]
    w = np.clip(w[order], 0.0, None)
    return np.sqrt(w)[:, None] * V[:, order].T


def metric_from_components(L: ArrayLike) -> _Matrix:
    """The Mahalanobis matrix ``M = L.T @ L`` of a linear map ``L``."""
    L = np.asarray(L, dtype=np.float64)
    M = L.T @ L
    return (M + M.T) / 2


#: Largest magnitudes a learner fits on as given. Squared distances, products
#: with an inverse covariance and eigen-decompositions of such data stay far
#: from float64's overflow (about 2**1024) and underflow (2**-1022); data
#: outside the band are brought into it by a power of two, which is exact.
SAFE_MAGNITUDE = (2.0**-100, 2.0**100)


def power_of_two_scale(*arrays: ArrayLike, band: tuple[float, float] = SAFE_MAGNITUDE) -> float:
    """A power of two ``s`` that brings the arrays' largest magnitude into ``band``.

    Returns 1.0 when the largest absolute entry over all ``arrays`` already
    lies in ``band`` (or when every entry is zero); otherwise ``s = 2**e``
    such that the largest magnitude of ``array / s`` lies in [0.5, 1).
    Dividing by a power of two is exact (bar subnormal results), so a learner
    that fits on ``X / s`` and returns ``components_ / s`` gives the map of
    the data as given: ``transform(X) == (X / s) @ (L_fitted / s).T * s``.

    Parameters
    ----------
    *arrays : ndarray
        Finite float arrays (points, tuples or differences).
    band : tuple of float, default=SAFE_MAGNITUDE
        ``(low, high)`` magnitudes inside which no scaling is needed.

    Returns
    -------
    s : float
        A power of two.

    Examples
    --------
    >>> import numpy as np
    >>> from mlearn.linalg import power_of_two_scale
    >>> power_of_two_scale(np.array([[3.0, -4.0]]))
    1.0
    >>> s = power_of_two_scale(np.array([[3e200, -4e200]]))
    >>> float(np.abs(np.array([3e200, -4e200]) / s).max()) < 1
    True
    """
    largest = max((float(np.max(np.abs(a), initial=0.0)) for a in arrays), default=0.0)
    low, high = band
    if largest == 0.0 or low <= largest <= high:
        return 1.0
    _, exponent = np.frexp(largest)
    return float(np.ldexp(1.0, int(exponent)))


def auto_init(
    n_samples: int, n_features: int, n_components: int, n_classes: int | None = None
) -> str:
    """The initialisation ``init='auto'`` stands for, as metric-learn chooses it.

    - 'lda' when there are class labels and
      ``n_components <= min(n_features, n_classes - 1)``;
    - otherwise 'pca' when ``n_components < min(n_features, n_samples)``;
    - otherwise 'identity'.

    Parameters
    ----------
    n_samples, n_features : int
        Shape of the data the initialisation is computed from.
    n_components : int
        Rows of the map to initialise.
    n_classes : int or None, default=None
        Number of classes; None when there are no class labels.

    Returns
    -------
    init : {'lda', 'pca', 'identity'}

    Examples
    --------
    >>> from mlearn.linalg import auto_init
    >>> auto_init(150, 4, 2, n_classes=3), auto_init(150, 4, 3, n_classes=3)
    ('lda', 'pca')
    >>> auto_init(150, 4, 4, n_classes=3), auto_init(2, 4, 3)
    ('identity', 'identity')
    """
    if n_classes is not None and n_components <= min(n_features, n_classes - 1):
        return "lda"
    if n_components < min(n_features, n_samples):
        return "pca"
    return "identity"


def initialize_components(
    init: str | ArrayLike,
    X: ArrayLike,
    y: ArrayLike | None = None,
    *,
    n_components: int | None = None,
    random_state: _RandomState = None,
) -> _Matrix:
    """Initial linear map ``L`` of shape (n_components, n_features).

    Parameters
    ----------
    init : {'auto', 'identity', 'pca', 'lda', 'random', 'covariance'} or array-like
        - 'identity': the first n_components rows of the identity.
        - 'pca': the leading principal axes of ``X`` (unit rows).
        - 'lda': the leading discriminant axes of ``(X, y)``; needs labels and
          at most n_classes - 1 components.
        - 'random': standard normal entries.
        - 'covariance': a factor of the inverse covariance (whitening).
        - 'auto': chosen by :func:`auto_init` from the data's shape, the
          number of classes of ``y`` (when given) and n_components: 'lda'
          when n_components <= min(n_features, n_classes - 1), otherwise
          'pca' when n_components < min(n_features, n_samples), otherwise
          'identity'.
        - an array of shape (n_components, n_features).
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,), default=None
    n_components : int, default=None
        None means n_features.
    random_state : int, RandomState instance or None

    Returns
    -------
    L : ndarray of shape (n_components, n_features)

    Examples
    --------
    >>> import numpy as np
    >>> from mlearn.linalg import initialize_components
    >>> X = np.random.RandomState(0).randn(20, 3)
    >>> initialize_components("identity", X, n_components=2)
    array([[1., 0., 0.],
           [0., 1., 0.]])
    """
    X = np.asarray(X, dtype=np.float64)
    n_samples, n_features = X.shape
    if not isinstance(init, str):
        L = np.asarray(init, dtype=np.float64)
        if L.ndim != 2 or L.shape[1] != n_features:
            raise ValueError(
                f"init must have shape (n_components, {n_features}) to match X, got {L.shape}"
            )
        if n_components is not None and L.shape[0] != n_components:
            raise ValueError(f"init has {L.shape[0]} rows but n_components={n_components}")
        if not np.isfinite(L).all():
            raise ValueError("init must not contain NaN or infinity")
        return L.copy()
    n_components = check_n_components(n_components, n_features)
    if init == "auto":
        n_classes = None if y is None else len(np.unique(y))
        init = auto_init(n_samples, n_features, n_components, n_classes)
    if init == "identity":
        return np.eye(n_components, n_features)
    if init == "random":
        return check_random_state(random_state).standard_normal((n_components, n_features))
    if init == "pca":
        if n_components > min(n_samples, n_features):
            raise ValueError(
                f"init='pca' gives at most min(n_samples, n_features)="
                f"{min(n_samples, n_features)} components, n_components={n_components}"
            )
        pca = PCA(n_components=n_components, random_state=random_state).fit(X)
        return pca.components_.copy()
    if init == "lda":
        if y is None:
            raise ValueError("init='lda' needs class labels y")
        n_classes = len(np.unique(y))
        if n_components > n_classes - 1:
            raise ValueError(
                f"init='lda' gives at most n_classes - 1 = {n_classes - 1} components, "
                f"n_components={n_components}"
            )
        lda = LinearDiscriminantAnalysis(n_components=n_components).fit(X, y)
        return lda.scalings_[:, :n_components].T.copy()
    if init == "covariance":
        M = _inverse_covariance(X)
        return components_from_metric(M, n_components, check_psd=False)
    raise ValueError(f"init must be one of {COMPONENT_INITS} or an array, got {init!r}")


def initialize_metric(
    init: str | ArrayLike,
    X: ArrayLike,
    y: ArrayLike | None = None,
    *,
    n_components: int | None = None,
    random_state: _RandomState = None,
    name: str = "init",
) -> _Matrix:
    """Initial (or prior) Mahalanobis matrix ``M`` of shape (n_features, n_features).

    Parameters
    ----------
    init : {'identity', 'covariance', 'random', 'pca', 'lda', 'auto'} or array-like
        - 'identity': Euclidean distance.
        - 'covariance': the (pseudo-)inverse of the covariance of ``X``.
        - 'random': a random PSD matrix ``A @ A.T``.
        - 'pca' / 'lda': ``L.T @ L`` of the corresponding
          :func:`initialize_components` with ``n_components`` rows.
        - 'auto': 'lda', 'pca' or 'identity' as :func:`auto_init` picks them
          for ``n_components`` (n_features when None).
        - an array: a symmetric PSD matrix (checked; a matrix with a
          negative eigenvalue raises :class:`~mlearn.exceptions.NonPSDError`).
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,), default=None
    n_components : int, default=None
        Rank of the 'pca' and 'lda' metrics, and what 'auto' chooses for;
        None means n_features. The other inits ignore it.
    random_state : int, RandomState instance or None
    name : str, default="init"
        The argument's name in error messages (e.g. "prior").

    Returns
    -------
    M : ndarray of shape (n_features, n_features)

    Examples
    --------
    >>> import numpy as np
    >>> from mlearn.linalg import initialize_metric
    >>> X = np.random.RandomState(0).randn(500, 2) * [1.0, 2.0]
    >>> M = initialize_metric("covariance", X)   # about diag(1, 1/4)
    >>> np.allclose(M, np.linalg.inv(np.cov(X, rowvar=False)))
    True
    """
    X = np.asarray(X, dtype=np.float64)
    n_features = X.shape[1]
    if not isinstance(init, str):
        return check_psd_matrix(init, n_features=n_features, name=name).copy()
    if init == "identity":
        return np.eye(n_features)
    if init == "covariance":
        return _inverse_covariance(X)
    if init == "random":
        A = check_random_state(random_state).standard_normal((n_features, n_features))
        return A @ A.T
    if init == "auto":
        n_classes = None if y is None else len(np.unique(y))
        init = auto_init(
            X.shape[0], n_features, check_n_components(n_components, n_features), n_classes
        )
        if init == "identity":
            return np.eye(n_features)
    if init in ("pca", "lda"):
        return metric_from_components(
            initialize_components(init, X, y, n_components=n_components, random_state=random_state)
        )
    raise ValueError(f"{name} must be one of {METRIC_INITS} or an array, got {init!r}")


def _inverse_covariance(X):
    if X.shape[0] < 2:
        raise ValueError(f"the covariance needs at least 2 samples, got n_samples={X.shape[0]}")
    cov = np.atleast_2d(np.cov(X, rowvar=False))
    M = pinvh(cov)
    return (M + M.T) / 2
