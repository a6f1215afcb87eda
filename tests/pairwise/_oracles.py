"""Independent oracles for every registered metric (scipy / scikit-learn / brute force)."""

import numpy as np
from scipy.spatial.distance import cdist
from scipy.stats import entropy
from sklearn.metrics.pairwise import additive_chi2_kernel
from sklearn.metrics.pairwise import cosine_similarity as sk_cosine_similarity


def make_params(name, n_features, rng):
    """Parameters that exercise a metric (mahalanobis gets an M and an L form)."""
    if name == "minkowski":
        return {"p": 3}
    if name == "mahalanobis":
        A = rng.standard_normal((n_features, n_features))
        return {"M": A @ A.T + n_features * np.eye(n_features)}
    if name == "bilinear":
        return {"M": rng.standard_normal((n_features, n_features))}
    if name == "kl":
        return {"eps": 1e-6}
    return {}


def oracle(name, X, Y, params):
    """The metric computed in float64 by an implementation outside mlearn."""
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if name == "manhattan":
        return cdist(X, Y, "cityblock")
    if name == "minkowski":
        return cdist(X, Y, "minkowski", p=params["p"])
    if name == "mahalanobis":
        if "M" in params:
            M = np.asarray(params["M"], dtype=np.float64)
        else:
            L = np.asarray(params["L"], dtype=np.float64)
            M = L.T @ L
        return cdist(X, Y, "mahalanobis", VI=M)
    if name == "jensen_shannon":
        return cdist(X, Y, "jensenshannon")
    if name == "cosine_similarity":
        return sk_cosine_similarity(X, Y)
    if name == "bilinear":
        return np.einsum("id,de,je->ij", X, np.asarray(params["M"], float), Y)
    if name == "chi2":
        return -additive_chi2_kernel(X, Y)
    if name == "kl":
        eps = params["eps"]
        return entropy((X + eps)[:, None, :], (Y + eps)[None, :, :], axis=-1)
    return cdist(X, Y, name)


def make_data(metric, n, m, d, rng, dtype=np.float64):
    if metric.histogram:
        X = rng.random((n, d))
        Y = rng.random((m, d))
        X[X < 0.2] = 0  # empty bins
        Y[Y < 0.2] = 0
        X[:, 0] += 0.1  # positive sums
        Y[:, 0] += 0.1
    elif metric.name == "hamming":
        X = rng.integers(0, 3, (n, d)).astype(float)
        Y = rng.integers(0, 3, (m, d)).astype(float)
    else:
        X = rng.standard_normal((n, d))
        Y = rng.standard_normal((m, d))
    return X.astype(dtype), Y.astype(dtype)
