"""Softmax losses with an angular margin: value and exact gradient.

The learner's parameters are the linear map ``L`` (n_components, n_features)
and one prototype per class, the rows of ``W`` (n_classes, n_components).
With ``u_i = L x_i / ||L x_i||`` and ``v_j = w_j / ||w_j||`` the cosines are
``c_ij = <u_i, v_j>``; every loss is the mean cross-entropy of a softmax over
logits built from them (``'softmax'`` from the raw products ``<L x_i, w_j>``).
The functions here take plain arrays and know nothing of estimators.
"""

import numpy as np
from scipy.special import log_softmax

from ..linalg import SAFE_MAGNITUDE

__all__ = [
    "LOSSES",
    "affine_in_range",
    "arcface_target",
    "margin_objective",
    "rows_in_range",
    "unit_rows",
]

#: The losses, and whether the logits are cosines (so that ``scale`` applies).
LOSSES = ("softmax", "normface", "cosface", "arcface")


def _normalise(rows):
    """Unit rows and the reciprocal norms (0 for a zero row, which stays zero)."""
    norms = np.linalg.norm(rows, axis=1)
    inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return rows * inverse[:, None], inverse


def _out_of_band_exponents(X, band):
    """Per row, the exponent that brings a row whose largest magnitude lies
    outside ``band`` into [0.5, 1); 0 for the other rows (and zero rows)."""
    largest = np.max(np.abs(X), axis=1)
    low, high = band
    out = (largest > 0) & ((largest < low) | (largest > high))
    return np.where(out, np.frexp(largest)[1], 0)


def rows_in_range(X, band=SAFE_MAGNITUDE):
    """``X`` with each row whose largest magnitude lies outside ``band`` divided
    by the power of two that brings it into [0.5, 1).

    Dividing by a power of two is exact, and every loss here depends on a row
    only through the direction of ``L x``, so the loss and its gradient in
    ``L`` are those of ``X``; the products ``X @ L.T`` then neither overflow
    nor underflow. Rows inside ``band`` (all rows of ordinary data) are left
    as they are.
    """
    exponents = _out_of_band_exponents(X, band)
    if not np.any(exponents):
        return X
    return np.ldexp(X, -exponents[:, None])


def affine_in_range(X, components_t, intercept, band=SAFE_MAGNITUDE):
    """``X @ components_t + intercept``, a row and the intercept first divided
    by a power of two where the larger of their largest magnitudes lies
    outside ``band``, so that it comes into [0.5, 1): a positive multiple of
    the image, finite."""
    largest = np.maximum(np.max(np.abs(X), axis=1), np.max(np.abs(intercept), initial=0.0))
    low, high = band
    out = (largest > 0) & ((largest < low) | (largest > high))
    exponents = np.where(out, np.frexp(largest)[1], 0)[:, None]
    return np.ldexp(X, -exponents) @ components_t + np.ldexp(intercept, -exponents)


def unit_rows(rows):
    """``rows`` divided by their norms; a zero row stays zero."""
    return _normalise(rows)[0]


def _through_normalisation(grad_unit, unit, inverse):
    """Gradient with respect to the rows before ``rows / ||rows||``.

    ``d(u)/d(z) = (I - u u^T) / ||z||``: only the part of the gradient
    orthogonal to ``u`` moves the direction. A zero row (``inverse == 0``)
    gets no gradient: the normalisation is not differentiable there.
    """
    radial = np.sum(grad_unit * unit, axis=1)
    return (grad_unit - radial[:, None] * unit) * inverse[:, None]


def arcface_target(cos, margin):
    """ArcFace's target logit ``cos(theta + m)`` and its derivative in ``cos``.

    ``cos(theta + m)`` decreases in ``theta`` only up to ``theta = pi - m``;
    beyond it, where ``cos < -cos(m)``, the target continues as the line
    ``cos - (1 - cos(m))``, which meets ``cos(pi) = -1`` at the threshold
    and keeps the logit increasing in ``cos`` (a larger angle never scores
    higher). ``1 - cos(m)`` is the margin ArcFace puts on a point at angle
    0, so the extension is a CosFace margin of the same size.

    On the arc, ``d cos(theta + m) / d cos = sin(theta + m) / sin(theta)``;
    it grows without bound as ``theta -> 0``, but the cosine's own gradient
    shrinks as ``sin(theta)``, so their product stays finite; the caller
    multiplies them as they are, and at ``theta = 0`` exactly (a kink)
    ``sin(theta)`` is floored so that the result is finite.

    Parameters
    ----------
    cos : ndarray
        Cosines of the angles to the true class's prototype.
    margin : float
        Angular margin ``m`` in radians, ``0 <= m < pi``.

    Returns
    -------
    target, derivative : ndarray
        ``phi(cos)`` and ``d phi / d cos``, shaped like ``cos``.

    Examples
    --------
    >>> import numpy as np
    >>> from mlearn.learners._angular_losses import arcface_target
    >>> target, slope = arcface_target(np.array([1.0, 0.0, -1.0]), 0.5)
    >>> np.round(target, 4)
    array([ 0.8776, -0.4794, -1.1224])
    """
    cos = np.clip(cos, -1.0, 1.0)
    sin = np.sqrt(np.maximum(1.0 - cos * cos, 0.0))
    cos_m, sin_m = np.cos(margin), np.sin(margin)
    on_arc = cos >= -cos_m
    target = np.where(on_arc, cos * cos_m - sin * sin_m, cos - (1.0 - cos_m))
    # sin(theta + m) / sin(theta) = cos(m) + cos(theta) sin(m) / sin(theta)
    tiny = np.finfo(np.float64).tiny ** 0.5
    slope = np.where(on_arc, cos_m + cos * sin_m / np.maximum(sin, tiny), 1.0)
    return target, slope


def _logits(cos, codes, loss, scale, margin):
    """Logits from the cosines and ``d logit / d cos`` of the true class."""
    rows = np.arange(len(codes))
    logits = cos.copy()
    target = cos[rows, codes]
    slope = np.ones_like(target)
    if loss == "cosface":
        logits[rows, codes] = target - margin
    elif loss == "arcface":
        logits[rows, codes], slope = arcface_target(target, margin)
    logits *= scale
    return logits, slope


def margin_objective(L, W, X, codes, *, loss, scale=1.0, margin=0.0, sample_weight=None):
    """Mean softmax loss of the prototypes ``W`` on ``X @ L.T``, and its gradient.

    Parameters
    ----------
    L : ndarray of shape (n_components, n_features)
    W : ndarray of shape (n_classes, n_components)
        One prototype per class (any norm; only its direction counts, except
        for ``loss='softmax'``).
    X : ndarray of shape (n_samples, n_features)
    codes : ndarray of int of shape (n_samples,)
        Class of each row of ``X``, an index into the rows of ``W``.
    loss : {'softmax', 'normface', 'cosface', 'arcface'}
        - 'softmax': logits ``<L x_i, w_j>`` (no normalisation; ``scale``
          and ``margin`` unused);
        - 'normface': ``s cos(theta_j)``;
        - 'cosface': the true class's logit is ``s (cos(theta_y) - m)``;
        - 'arcface': the true class's logit is ``s cos(theta_y + m)``,
          extended beyond ``theta_y = pi - m`` as in :func:`arcface_target`.
    scale, margin : float
        ``s`` and ``m``.
    sample_weight : ndarray of shape (n_samples,), default=None
        Weights of the rows in the mean (they need not sum to one; the mean
        divides by their sum).

    Returns
    -------
    value : float
    grad_L : ndarray of shape (n_components, n_features)
    grad_W : ndarray of shape (n_classes, n_components)

    Examples
    --------
    >>> import numpy as np
    >>> from mlearn.learners._angular_losses import margin_objective
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0]]); codes = np.array([0, 1])
    >>> value, gL, gW = margin_objective(np.eye(2), np.eye(2), X, codes,
    ...                                  loss="normface", scale=1.0)
    >>> round(value, 4)  # -log(e / (e + 1))
    0.3133
    """
    Z = X @ L.T
    if loss == "softmax":
        logits, slope = Z @ W.T, None
    else:
        U, inv_z = _normalise(Z)
        V, inv_w = _normalise(W)
        logits, slope = _logits(U @ V.T, codes, loss, scale, margin)
    log_p = log_softmax(logits, axis=1)
    rows = np.arange(len(codes))
    weights = (
        np.full(len(codes), 1.0 / len(codes))
        if sample_weight is None
        else sample_weight / np.sum(sample_weight)
    )
    value = -float(np.dot(weights, log_p[rows, codes]))
    # d loss / d logits, each row weighted
    G = np.exp(log_p)
    G[rows, codes] -= 1.0
    G *= weights[:, None]
    if loss == "softmax":
        grad_Z, grad_W = G @ W, G.T @ Z
    else:
        G[rows, codes] *= slope
        G *= scale
        grad_Z = _through_normalisation(G @ V, U, inv_z)
        grad_W = _through_normalisation(G.T @ U, V, inv_w)
    return value, grad_Z.T @ X, grad_W
