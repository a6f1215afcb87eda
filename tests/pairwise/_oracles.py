"""Independent oracles for every registered metric (scipy / scikit-learn / brute force)."""

import decimal

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


# --- exact oracle -----------------------------------------------------------
# Every metric in 60-digit decimal arithmetic from the floats as given (each
# float converts to a Decimal exactly), rounded to float64 at the end: no
# overflow, underflow or cancellation at any scale of the inputs.

_CONTEXT = decimal.Context(prec=60, Emax=10**6, Emin=-(10**6))


def _dec(array):
    return [[_CONTEXT.create_decimal(float(v)) for v in row] for row in np.atleast_2d(array)]


def _exact_pair(name, x, y, params):
    c = _CONTEXT
    d = len(x)
    if name in ("euclidean", "sqeuclidean"):
        s = sum(((a - b) ** 2 for a, b in zip(x, y)), c.create_decimal(0))
        return s if name == "sqeuclidean" else s.sqrt(c)
    if name == "manhattan":
        return sum((abs(a - b) for a, b in zip(x, y)), c.create_decimal(0))
    if name == "chebyshev":
        return max(abs(a - b) for a, b in zip(x, y))
    if name == "minkowski":
        p = c.create_decimal(float(params["p"]))
        diffs = [abs(a - b) for a, b in zip(x, y)]
        if not any(diffs):
            return c.create_decimal(0)
        return c.power(sum((c.power(t, p) for t in diffs), c.create_decimal(0)), 1 / p)
    if name == "hamming":
        return c.create_decimal(sum(a != b for a, b in zip(x, y))) / d
    if name in ("cosine", "cosine_similarity"):
        nx = sum(a * a for a in x).sqrt(c)
        ny = sum(b * b for b in y).sqrt(c)
        if nx == 0 or ny == 0:
            return c.create_decimal(0 if name == "cosine_similarity" else 1)
        if name == "cosine_similarity":
            return sum(a * b for a, b in zip(x, y)) / (nx * ny)
        # 1 - cos = |x/|x| - y/|y||^2 / 2: exactly zero for parallel rows
        return sum((a / nx - b / ny) ** 2 for a, b in zip(x, y)) / 2
    if name == "mahalanobis":
        if "M" in params:
            M = _dec(params["M"])
            diff = [a - b for a, b in zip(x, y)]
            s = sum(diff[i] * M[i][j] * diff[j] for i in range(d) for j in range(d))
            return max(s, c.create_decimal(0)).sqrt(c)
        L = _dec(params["L"])
        s = sum(sum(row[k] * (x[k] - y[k]) for k in range(d)) ** 2 for row in L)
        return s.sqrt(c)
    if name == "bilinear":
        M = _dec(params["M"])
        return sum(x[i] * M[i][j] * y[j] for i in range(d) for j in range(d))
    if name == "chi2":
        return sum(
            ((a - b) ** 2 / (a + b) for a, b in zip(x, y) if a + b > 0), c.create_decimal(0)
        )
    if name == "kl":
        eps = c.create_decimal(float(params.get("eps", 1e-10)))
        p = [a + eps for a in x]
        q = [b + eps for b in y]
        sp, sq = sum(p), sum(q)
        return sum(
            ((a / sp) * ((a / sp) / (b / sq)).ln(c) for a, b in zip(p, q)), c.create_decimal(0)
        )
    if name == "jensen_shannon":
        sp, sq = sum(x), sum(y)
        p = [a / sp for a in x]
        q = [b / sq for b in y]
        total = c.create_decimal(0)
        for a, b in zip(p, q):
            m = (a + b) / 2
            if a > 0:
                total += a * (a / m).ln(c)
            if b > 0:
                total += b * (b / m).ln(c)
        return max(total / 2, c.create_decimal(0)).sqrt(c)
    raise ValueError(name)


def exact(name, X, Y, params, paired=False):
    """The metric of the floats as given, computed exactly enough to be
    correctly rounded to float64 (inf where it exceeds float64's range)."""
    with decimal.localcontext(_CONTEXT):
        Xd, Yd = _dec(X), _dec(Y)
        if paired:
            return np.array([float(_exact_pair(name, x, y, params)) for x, y in zip(Xd, Yd)])
        return np.array([[float(_exact_pair(name, x, y, params)) for y in Yd] for x in Xd])
