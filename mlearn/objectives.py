"""Losses and regularisers of the general metric-learning objective.

The objective over a Mahalanobis matrix ``M`` (or a factor ``L`` with
``M = L.T @ L``) is

    f(M) = a_P · mean_i w_i ℓ_P(d_i, y_i)  +  a_R · mean_j w_j ℓ_R(d_near_j, d_far_j)
           + alpha · Reg(M)

where ``d = (x - x')ᵀ M (x - x')`` are squared Mahalanobis distances, the
first term runs over labelled pairs (must-link ``y = +1``, cannot-link
``y = -1``), the second over relative constraints (triplets ``(a, p, n)``:
``d(a, p) < d(a, n)``; quadruplets ``(a, b, c, e)``: ``d(a, b) < d(c, e)``) and
``Reg`` is a regulariser. Every piece returns its value and exact gradient.

Pair losses (:func:`pair_loss`), with ``m`` the margin, ``l``/``u`` the lower
and upper thresholds and ``b`` a threshold:

==================== ====================================== ==========================
name                 y = +1 (similar)                       y = -1 (dissimilar)
==================== ====================================== ==========================
'contrastive'        d                                      max(0, m - d)
'smooth_contrastive' d                                      max(0, m - d)² / (2m)
'hinge'              max(0, d - u)                          max(0, l - d)
'logistic'           log(1 + exp(d - b))                    log(1 + exp(b - d))
==================== ====================================== ==========================

Relative losses (:func:`relative_loss`) of ``z = m + d_near - d_far``:
'hinge' ``max(0, z)`` (the triplet hinge, or the margin-ranking hinge for
quadruplets), 'squared_hinge' ``max(0, z)² / (2m)`` and 'softplus'
``log(1 + exp(z))``.

Regularisers (:func:`regularization`): 'fro' ``||M - M0||²_F``, 'trace'
``tr(M)`` (favours low rank), 'logdet' the Burg (LogDet) divergence
``tr(M M0⁻¹) - log det(M M0⁻¹) - d`` used by ITML, and 'l1' the off-diagonal
``Σ_{i≠j} |M_ij|`` (sparse M).
"""

import numbers
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit

from ._validation import check_weights

__all__ = [
    "PAIR_LOSSES",
    "REGULARIZERS",
    "RELATIVE_LOSSES",
    "MetricObjective",
    "pair_loss",
    "regularization",
    "relative_loss",
]

PAIR_LOSSES = ("contrastive", "smooth_contrastive", "hinge", "logistic")
RELATIVE_LOSSES = ("hinge", "squared_hinge", "softplus")
REGULARIZERS = ("fro", "trace", "logdet", "l1")


#: Float64 values, derivatives or gradients.
_Floats = NDArray[np.float64]


def _softplus(z):
    return np.logaddexp(0.0, z)


def pair_loss(
    d: ArrayLike,
    y: ArrayLike,
    loss: str = "contrastive",
    *,
    margin: float = 1.0,
    lower: float | None = None,
    upper: float | None = None,
    threshold: float = 1.0,
) -> tuple[_Floats, _Floats]:
    """Loss of each labelled pair and its derivative with respect to ``d``.

    Parameters
    ----------
    d : ndarray of shape (n_pairs,)
        Squared distances of the pairs.
    y : ndarray of shape (n_pairs,)
        +1 for similar pairs, -1 for dissimilar ones.
    loss : {'contrastive', 'smooth_contrastive', 'hinge', 'logistic'}, default='contrastive'
        See the module's table.
    margin : float, default=1.0
        ``m`` of the contrastive losses.
    lower, upper : float, default=None
        ``l`` and ``u`` of 'hinge' (required there): similar pairs are
        penalised above ``upper``, dissimilar ones below ``lower``.
    threshold : float, default=1.0
        ``b`` of 'logistic'. Its derivative is minus the derivative with
        respect to ``d``.

    Returns
    -------
    values : ndarray of shape (n_pairs,)
    derivatives : ndarray of shape (n_pairs,)
        ``∂ values / ∂ d`` (a subgradient at the kinks of the hinges).

    Examples
    --------
    >>> import numpy as np
    >>> from mlearn.objectives import pair_loss
    >>> values, derivatives = pair_loss(np.array([0.5, 0.5]), np.array([1, -1]), margin=2.0)
    >>> values, derivatives
    (array([0.5, 1.5]), array([ 1., -1.]))
    """
    d = np.asarray(d, dtype=np.float64)
    positive = np.asarray(y) == 1
    if loss == "contrastive":
        slack = margin - d
        values = np.where(positive, d, np.maximum(slack, 0.0))
        derivatives = np.where(positive, 1.0, np.where(slack > 0, -1.0, 0.0))
    elif loss == "smooth_contrastive":
        slack = np.maximum(margin - d, 0.0)
        values = np.where(positive, d, slack**2 / (2 * margin))
        derivatives = np.where(positive, 1.0, -slack / margin)
    elif loss == "hinge":
        if lower is None or upper is None:
            raise ValueError("loss='hinge' needs both thresholds, lower and upper")
        slack = np.where(positive, d - upper, lower - d)
        values = np.maximum(slack, 0.0)
        derivatives = np.where(slack > 0, np.where(positive, 1.0, -1.0), 0.0)
    elif loss == "logistic":
        sign = np.where(positive, 1.0, -1.0)
        z = sign * (d - threshold)
        values = _softplus(z)
        derivatives = sign * expit(z)
    else:
        raise ValueError(f"pair loss must be one of {PAIR_LOSSES}, got {loss!r}")
    return values, derivatives


def relative_loss(
    d_near: ArrayLike, d_far: ArrayLike, loss: str = "hinge", *, margin: float = 1.0
) -> tuple[_Floats, _Floats]:
    """Loss of each relative constraint ``d_near < d_far`` and its derivative.

    Parameters
    ----------
    d_near, d_far : ndarray of shape (n_constraints,)
        Squared distances that should be small and large respectively.
    loss : {'hinge', 'squared_hinge', 'softplus'}, default='hinge'
        A function of ``z = margin + d_near - d_far``: ``max(0, z)``,
        ``max(0, z)² / (2 margin)`` or ``log(1 + exp(z))``.
    margin : float, default=1.0

    Returns
    -------
    values : ndarray of shape (n_constraints,)
    derivatives : ndarray of shape (n_constraints,)
        ``∂ values / ∂ d_near``; the derivative with respect to ``d_far``
        is its negative.

    Examples
    --------
    >>> import numpy as np
    >>> from mlearn.objectives import relative_loss
    >>> relative_loss(np.array([1.0, 1.0]), np.array([1.5, 3.0]))
    (array([0.5, 0. ]), array([1., 0.]))
    """
    z = margin + np.asarray(d_near, dtype=np.float64) - np.asarray(d_far, dtype=np.float64)
    if loss == "hinge":
        return np.maximum(z, 0.0), (z > 0).astype(np.float64)
    if loss == "squared_hinge":
        zp = np.maximum(z, 0.0)
        return zp**2 / (2 * margin), zp / margin
    if loss == "softplus":
        return _softplus(z), expit(z)
    raise ValueError(f"relative loss must be one of {RELATIVE_LOSSES}, got {loss!r}")


def regularization(
    M: ArrayLike,
    regularizer: str | None = "fro",
    M0: ArrayLike | None = None,
    *,
    M0_inverse: ArrayLike | None = None,
) -> tuple[float, _Floats]:
    """Value and gradient of a regulariser of ``M``.

    Parameters
    ----------
    M : ndarray of shape (n_features, n_features)
        Symmetric matrix.
    regularizer : {'fro', 'trace', 'logdet', 'l1'} or None, default='fro'
        None gives 0.
    M0 : ndarray of shape (n_features, n_features), default=None
        The prior of 'fro' and 'logdet' (identity when None); positive
        definite for 'logdet'.
    M0_inverse : ndarray, default=None
        ``inv(M0)`` when already known (saves a factorisation per call).

    Returns
    -------
    value : float
        ``inf`` for 'logdet' when ``M`` is not positive definite.
    grad : ndarray of shape (n_features, n_features)
        Symmetric gradient (a subgradient for 'l1').

    Examples
    --------
    >>> import numpy as np
    >>> from mlearn.objectives import regularization
    >>> M = np.array([[2.0, 0.5], [0.5, 1.0]])
    >>> regularization(M, "trace")[0], regularization(M, "l1")[0]
    (3.0, 1.0)
    >>> value, grad = regularization(np.eye(2), "logdet")
    >>> value
    0.0
    """
    M = np.asarray(M, dtype=np.float64)
    n = M.shape[0]
    if regularizer is None:
        return 0.0, np.zeros_like(M)
    if regularizer == "fro":
        diff = M - (np.eye(n) if M0 is None else np.asarray(M0, dtype=np.float64))
        return float(np.sum(diff * diff)), 2.0 * diff
    if regularizer == "trace":
        return float(np.trace(M)), np.eye(n)
    if regularizer == "l1":
        off = M - np.diag(np.diag(M))
        return float(np.sum(np.abs(off))), np.sign(off)
    if regularizer == "logdet":
        if M0_inverse is None:
            prior_inverse = np.eye(n) if M0 is None else _inverse_pd(M0, "M0")
        else:
            prior_inverse = np.asarray(M0_inverse)
        sym = (M + M.T) / 2
        try:
            chol = np.linalg.cholesky(sym)
        except np.linalg.LinAlgError:
            return np.inf, np.zeros_like(M)
        logdet_M = 2.0 * np.sum(np.log(np.diag(chol)))
        logdet_M0 = 0.0 if M0 is None else np.linalg.slogdet(np.asarray(M0))[1]
        value = float(np.sum(M * prior_inverse) - logdet_M + logdet_M0 - n)
        inv_chol = np.linalg.inv(chol)
        M_inverse = inv_chol.T @ inv_chol
        grad = prior_inverse - M_inverse
        return value, (grad + grad.T) / 2
    raise ValueError(f"regularizer must be one of {REGULARIZERS} or None, got {regularizer!r}")


def _inverse_pd(M, name):
    try:
        chol = np.linalg.cholesky((M + M.T) / 2)
    except np.linalg.LinAlgError:
        raise ValueError(
            f"regularizer='logdet' needs a positive-definite {name}; this one is singular "
            "(choose another init/prior or regularizer)"
        ) from None
    inv_chol = np.linalg.inv(chol)
    return inv_chol.T @ inv_chol


def _weighted_mean(values, weights):
    if len(values) == 0:
        return 0.0, np.zeros(0)
    if weights is None:
        scale = np.full(len(values), 1.0 / len(values))
    else:
        total = weights.sum()
        scale = weights / total if total > 0 else np.zeros(len(values))
    return float(scale @ values), scale


class MetricObjective:
    """The regularised constraint objective, as a function of ``M`` or of ``L``.

    Constraints refer to rows of ``diffs``: difference vectors ``x - x'``
    whose squared distances the losses see. Distinct pairs are stored once
    (a triplet set built from target neighbours repeats each positive pair
    many times), so each evaluation costs one pass over the distinct pairs.
    Build it from point tuples with :meth:`from_tuples`, or from index
    tuples into a point array with :meth:`from_indices`.

    Parameters
    ----------
    diffs : ndarray of shape (n_diffs, n_features)
    pair_index : ndarray of shape (n_pairs,), default=None
        Row of ``diffs`` of each labelled pair.
    pair_labels : ndarray of shape (n_pairs,), default=None
        +1 / -1.
    near_index, far_index : ndarray of shape (n_relative,), default=None
        Rows of ``diffs`` of each relative constraint ``d_near < d_far``.
    pair_loss : str, default='contrastive'
        See :func:`pair_loss`.
    relative_loss : str, default='hinge'
        See :func:`relative_loss`.
    margin : float, default=1.0
        Margin of the contrastive and relative losses.
    lower, upper : float, default=None
        Thresholds of the 'hinge' pair loss.
    threshold : float, default=1.0
        ``b`` of the 'logistic' pair loss (the starting value when
        ``learn_threshold``).
    learn_threshold : bool, default=False
        Treat ``threshold`` as a variable: the ``packed_*`` functions then
        optimise it together with the metric.
    pair_weights, relative_weights : ndarray, default=None
        Non-negative weight of each constraint; each term is a weighted mean.
    pairs_weight, relative_weight : float, default=1.0
        Weights ``a_P`` and ``a_R`` of the two terms.
    regularizer : {'fro', 'trace', 'logdet', 'l1'} or None, default='fro'
    alpha : float, default=0.0
        Weight of the regulariser.
    M0 : ndarray of shape (n_features, n_features), default=None
        Prior of 'fro' and 'logdet' (identity when None).

    Examples
    --------
    >>> import numpy as np
    >>> from mlearn.objectives import MetricObjective
    >>> pairs = np.array([[[0.0, 0.0], [1.0, 0.0]], [[0.0, 0.0], [0.0, 1.0]]])
    >>> obj = MetricObjective.from_tuples(pairs=pairs, y=np.array([1, -1]), margin=2.0)
    >>> value, grad = obj.value_and_grad_M(np.eye(2))
    >>> value          # mean of d = 1 (similar) and max(0, 2 - 1) (dissimilar)
    1.0
    >>> grad
    array([[ 0.5,  0. ],
           [ 0. , -0.5]])
    """

    def __init__(
        self,
        diffs,
        *,
        pair_index=None,
        pair_labels=None,
        near_index=None,
        far_index=None,
        pair_loss="contrastive",
        relative_loss="hinge",
        margin=1.0,
        lower=None,
        upper=None,
        threshold=1.0,
        learn_threshold=False,
        pair_weights=None,
        relative_weights=None,
        pairs_weight=1.0,
        relative_weight=1.0,
        regularizer="fro",
        alpha=0.0,
        M0=None,
    ):
        self.diffs = np.asarray(diffs, dtype=np.float64)
        if self.diffs.ndim != 2:
            raise ValueError(
                f"diffs must be 2-D (n_diffs, n_features), got shape {self.diffs.shape}"
            )
        n_features = self.diffs.shape[1]
        empty = np.zeros(0, dtype=np.intp)
        self.pair_index = empty if pair_index is None else np.asarray(pair_index, dtype=np.intp)
        self.pair_labels = (
            np.zeros(0) if pair_labels is None else np.asarray(pair_labels, dtype=np.float64)
        )
        if self.pair_labels.shape != self.pair_index.shape:
            raise ValueError("pair_labels must give one label for each pair")
        self.near_index = empty if near_index is None else np.asarray(near_index, dtype=np.intp)
        self.far_index = empty if far_index is None else np.asarray(far_index, dtype=np.intp)
        if self.near_index.shape != self.far_index.shape:
            raise ValueError("near_index and far_index must have the same length")
        if pair_loss not in PAIR_LOSSES:
            raise ValueError(f"pair_loss must be one of {PAIR_LOSSES}, got {pair_loss!r}")
        if relative_loss not in RELATIVE_LOSSES:
            raise ValueError(
                f"relative_loss must be one of {RELATIVE_LOSSES}, got {relative_loss!r}"
            )
        if regularizer is not None and regularizer not in REGULARIZERS:
            raise ValueError(
                f"regularizer must be one of {REGULARIZERS} or None, got {regularizer!r}"
            )
        if pair_loss == "hinge" and len(self.pair_index) and (lower is None or upper is None):
            raise ValueError("pair_loss='hinge' needs both thresholds, lower and upper")
        for name, value in (
            ("margin", margin),
            ("alpha", alpha),
            ("pairs_weight", pairs_weight),
            ("relative_weight", relative_weight),
        ):
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or value < 0:
                raise ValueError(f"{name} must be a non-negative number, got {value!r}")
        if margin == 0 and (pair_loss == "smooth_contrastive" or relative_loss == "squared_hinge"):
            raise ValueError("the squared hinges need margin > 0")
        self.pair_loss = pair_loss
        self.relative_loss = relative_loss
        self.margin = float(margin)
        self.lower, self.upper = lower, upper
        self.threshold = float(threshold)
        self.learn_threshold = bool(learn_threshold) and pair_loss == "logistic"
        self.pair_weights = check_weights(pair_weights, len(self.pair_index), "pair_weights")
        self.relative_weights = check_weights(
            relative_weights, len(self.near_index), "relative_weights"
        )
        self.pairs_weight = float(pairs_weight)
        self.relative_weight = float(relative_weight)
        self.regularizer = regularizer
        self.alpha = float(alpha)
        if M0 is not None:
            M0 = np.asarray(M0, dtype=np.float64)
            if M0.shape != (n_features, n_features):
                raise ValueError(
                    f"M0 must have shape ({n_features}, {n_features}), got {M0.shape}"
                )
        self.M0 = M0
        self._M0_inverse = None
        if regularizer == "logdet" and self.alpha > 0:
            self._M0_inverse = np.eye(n_features) if M0 is None else _inverse_pd(M0, "M0")

    # -- construction ---------------------------------------------------------------

    @classmethod
    def from_tuples(
        cls,
        pairs: ArrayLike | None = None,
        y: ArrayLike | None = None,
        relative: ArrayLike | None = None,
        **params: Any,
    ) -> "MetricObjective":
        """Objective over point tuples.

        Parameters
        ----------
        pairs : ndarray of shape (n_pairs, 2, n_features), default=None
        y : ndarray of shape (n_pairs,), default=None
            +1 / -1 labels of the pairs.
        relative : ndarray of shape (n, 3, n_features) or (n, 4, n_features), default=None
            Triplets ``(a, p, n)`` meaning ``d(a, p) < d(a, n)`` or quadruplets
            ``(a, b, c, e)`` meaning ``d(a, b) < d(c, e)``.
        **params
            The other parameters of :class:`MetricObjective`.
        """
        blocks, n_features = [], None
        kw: dict[str, Any] = {}
        offset = 0
        if pairs is not None:
            pairs = np.asarray(pairs, dtype=np.float64)
            blocks.append(pairs[:, 0] - pairs[:, 1])
            kw["pair_index"] = np.arange(len(pairs))
            kw["pair_labels"] = y
            offset = len(pairs)
            n_features = pairs.shape[2]
        if relative is not None:
            relative = np.asarray(relative, dtype=np.float64)
            n = len(relative)
            if relative.shape[1] == 3:
                near = relative[:, 0] - relative[:, 1]
                far = relative[:, 0] - relative[:, 2]
            elif relative.shape[1] == 4:
                near = relative[:, 0] - relative[:, 1]
                far = relative[:, 2] - relative[:, 3]
            else:
                raise ValueError(
                    f"relative constraints must be triplets or quadruplets, got tuples of "
                    f"{relative.shape[1]} points"
                )
            blocks += [near, far]
            kw["near_index"] = offset + np.arange(n)
            kw["far_index"] = offset + n + np.arange(n)
            n_features = relative.shape[2]
        if n_features is None:
            raise ValueError("give pairs or relative constraints")
        return cls(np.vstack(blocks), **kw, **params)

    @classmethod
    def from_indices(
        cls,
        X: ArrayLike,
        pairs: ArrayLike | None = None,
        y: ArrayLike | None = None,
        relative: ArrayLike | None = None,
        **params: Any,
    ) -> "MetricObjective":
        """Objective over index tuples into the points ``X``; each distinct pair is stored once.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
        pairs : ndarray of shape (n_pairs, 2), default=None
        y : ndarray of shape (n_pairs,), default=None
        relative : ndarray of shape (n, 3) or (n, 4), default=None
        **params
            The other parameters of :class:`MetricObjective`.
        """
        X = np.asarray(X, dtype=np.float64)
        ends = []
        if pairs is not None:
            ends.append(np.asarray(pairs, dtype=np.intp).reshape(-1, 2))
        n_pairs = len(ends[0]) if ends else 0
        n_rel = 0
        if relative is not None:
            relative = np.asarray(relative, dtype=np.intp)
            n_rel = len(relative)
            if relative.shape[1] == 3:
                ends += [relative[:, [0, 1]], relative[:, [0, 2]]]
            elif relative.shape[1] == 4:
                ends += [relative[:, [0, 1]], relative[:, [2, 3]]]
            else:
                raise ValueError(
                    f"relative constraints must be triplets or quadruplets, got tuples of "
                    f"{relative.shape[1]} indices"
                )
        if not ends:
            raise ValueError("give pairs or relative constraints")
        allpairs = np.sort(np.vstack(ends), axis=1)  # d(i, j) = d(j, i)
        unique, inverse = np.unique(allpairs, axis=0, return_inverse=True)
        inverse = inverse.ravel()
        diffs = X[unique[:, 0]] - X[unique[:, 1]]
        kw: dict[str, Any] = {}
        if pairs is not None:
            kw["pair_index"] = inverse[:n_pairs]
            kw["pair_labels"] = y
        if relative is not None:
            kw["near_index"] = inverse[n_pairs : n_pairs + n_rel]
            kw["far_index"] = inverse[n_pairs + n_rel :]
        return cls(diffs, **kw, **params)

    # -- evaluation -----------------------------------------------------------------

    @property
    def n_features(self) -> int:
        return self.diffs.shape[1]

    def _loss(self, d, threshold):
        """Loss value, its derivative per row of diffs, and its derivative in the threshold."""
        coef = np.zeros(len(d))
        value = 0.0
        d_threshold = 0.0
        if len(self.pair_index) and self.pairs_weight > 0:
            values, deriv = pair_loss(
                d[self.pair_index],
                self.pair_labels,
                self.pair_loss,
                margin=self.margin,
                lower=self.lower,
                upper=self.upper,
                threshold=threshold,
            )
            mean, scale = _weighted_mean(values, self.pair_weights)
            value += self.pairs_weight * mean
            weighted = self.pairs_weight * scale * deriv
            coef += np.bincount(self.pair_index, weights=weighted, minlength=len(d))
            d_threshold = -float(np.sum(weighted))
        if len(self.near_index) and self.relative_weight > 0:
            values, deriv = relative_loss(
                d[self.near_index], d[self.far_index], self.relative_loss, margin=self.margin
            )
            mean, scale = _weighted_mean(values, self.relative_weights)
            value += self.relative_weight * mean
            weighted = self.relative_weight * scale * deriv
            coef += np.bincount(self.near_index, weights=weighted, minlength=len(d))
            coef -= np.bincount(self.far_index, weights=weighted, minlength=len(d))
        return value, coef, d_threshold

    def _regularization(self, M):
        if self.regularizer is None or self.alpha == 0:
            return 0.0, None
        value, grad = regularization(M, self.regularizer, self.M0, M0_inverse=self._M0_inverse)
        return self.alpha * value, self.alpha * grad

    def squared_distances(self, M: ArrayLike | None = None, L: ArrayLike | None = None) -> _Floats:
        """Squared distances of the rows of ``diffs`` under ``M`` or ``L``."""
        if L is not None:
            Z = self.diffs @ np.asarray(L).T
            return np.einsum("ij,ij->i", Z, Z)
        return np.einsum("ij,ij->i", self.diffs @ M, self.diffs)

    def _value_and_grads_M(self, M, threshold):
        M = np.asarray(M, dtype=np.float64)
        U = self.diffs
        d = np.einsum("ij,ij->i", U @ M, U)
        value, coef, d_threshold = self._loss(d, threshold)
        active = coef != 0
        Ua = U[active]
        grad = (Ua * coef[active, None]).T @ Ua
        reg_value, reg_grad = self._regularization(M)
        value += reg_value
        if reg_grad is not None:
            grad += reg_grad
        grad = (grad + grad.T) / 2
        if self.regularizer == "l1" and self.alpha > 0:
            # where an off-diagonal entry is 0 the l1 term has a kink; take the
            # subgradient of least magnitude (steepest descent). With the
            # subgradient 0 there, no projected-gradient step from a diagonal
            # M (the identity start) passes the sufficient-decrease test.
            zero = (M == 0) & ~np.eye(len(M), dtype=bool)
            grad[zero] = np.sign(grad[zero]) * np.maximum(np.abs(grad[zero]) - self.alpha, 0.0)
        return value, grad, d_threshold

    def _value_and_grads_L(self, L, threshold):
        L = np.asarray(L, dtype=np.float64)
        U = self.diffs
        Z = U @ L.T
        d = np.einsum("ij,ij->i", Z, Z)
        value, coef, d_threshold = self._loss(d, threshold)
        active = coef != 0
        grad = 2.0 * (Z[active] * coef[active, None]).T @ U[active]
        if self.regularizer is not None and self.alpha > 0:
            if self.regularizer == "logdet" and L.shape[0] != L.shape[1]:
                raise ValueError(
                    "regularizer='logdet' needs a full-rank metric: n_components must equal "
                    f"n_features ({L.shape[1]}), got {L.shape[0]}"
                )
            reg_value, reg_grad = self._regularization(L.T @ L)
            value += reg_value
            grad += 2.0 * L @ reg_grad
        return value, grad, d_threshold

    def value_and_grad_M(self, M: ArrayLike) -> tuple[float, _Floats]:
        """Objective and its gradient (symmetric) at the Mahalanobis matrix ``M``.

        With ``regularizer='l1'``, at the off-diagonal entries where ``M`` is
        0 the gradient is the subgradient of least magnitude.

        Returns
        -------
        value : float
        grad : ndarray of shape (n_features, n_features)
        """
        value, grad, _ = self._value_and_grads_M(M, self.threshold)
        return value, grad

    def value_and_grad_L(self, L: ArrayLike) -> tuple[float, _Floats]:
        """Objective and its gradient at the linear map ``L`` (``M = L.T @ L``).

        Returns
        -------
        value : float
        grad : ndarray of shape (n_components, n_features)
        """
        value, grad, _ = self._value_and_grads_L(L, self.threshold)
        return value, grad

    def packed_M(self, x: _Floats) -> tuple[float, _Floats]:
        """Objective over ``x = [M.ravel(), threshold]`` (for a learned threshold)."""
        n = self.n_features
        value, grad, d_threshold = self._value_and_grads_M(x[:-1].reshape(n, n), x[-1])
        return value, np.append(grad.ravel(), d_threshold)

    def packed_L(self, x: _Floats, n_components: int) -> tuple[float, _Floats]:
        """Objective over ``x = [L.ravel(), threshold]`` (for a learned threshold)."""
        L = x[:-1].reshape(n_components, self.n_features)
        value, grad, d_threshold = self._value_and_grads_L(L, x[-1])
        return value, np.append(grad.ravel(), d_threshold)

    def subset(
        self, pair_rows: ArrayLike | None = None, relative_rows: ArrayLike | None = None
    ) -> "MetricObjective":
        """The same objective on some of its constraints (a minibatch).

        Only the rows of ``diffs`` those constraints use are kept, so that
        evaluating a minibatch costs in proportion to its size.
        """
        copy = object.__new__(type(self))
        copy.__dict__.update(self.__dict__)
        pair_rows = np.arange(0) if pair_rows is None else np.asarray(pair_rows)
        relative_rows = np.arange(0) if relative_rows is None else np.asarray(relative_rows)
        pair_index = self.pair_index[pair_rows]
        near, far = self.near_index[relative_rows], self.far_index[relative_rows]
        used, inverse = np.unique(np.concatenate([pair_index, near, far]), return_inverse=True)
        n_p, n_r = len(pair_index), len(near)
        copy.diffs = self.diffs[used]
        copy.pair_index = inverse[:n_p]
        copy.pair_labels = self.pair_labels[pair_rows]
        copy.near_index = inverse[n_p : n_p + n_r]
        copy.far_index = inverse[n_p + n_r :]
        if self.pair_weights is not None:
            copy.pair_weights = self.pair_weights[pair_rows]
        if self.relative_weights is not None:
            copy.relative_weights = self.relative_weights[relative_rows]
        return copy
