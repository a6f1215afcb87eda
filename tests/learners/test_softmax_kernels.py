"""The kernel shared by NCA and MLKR (``softmax_weights``) against the dense
NumPy references, and its threaded path against brute force."""

import numpy as np
import pytest

from mlearn.learners import _nca_kernels as K
from mlearn.pairwise._numba import sq_euclidean_pair

from .test_mlkr import mlkr_loss_brute
from .test_nca import finite_difference, nca_loss_brute

REFERENCES = {"nca": K.nca_block_weights_reference, "mlkr": K.mlkr_block_weights_reference}
LOSSES = {"nca": nca_loss_brute, "mlkr": mlkr_loss_brute}


def _data(kind):
    rng = np.random.RandomState(0)
    X = rng.randn(48, 5)
    if kind == "nca":
        return X, rng.randint(0, 3, 48).astype(np.int64)
    return X, X[:, 0] ** 2 + 0.3 * rng.randn(48)


@pytest.mark.parametrize("kind", ["nca", "mlkr"])
@pytest.mark.parametrize("serial", [False, True])
@pytest.mark.parametrize("n_parts, chunk_rows", [(1, 50), (2, 3), (3, 7)])
@pytest.mark.parametrize("gather", [False, True])
def test_kernel_matches_numpy_reference(kind, serial, n_parts, chunk_rows, gather):
    # every row formed and finished by the part that owns it, in chunks;
    # either W E and W^T E, or the gather W X alone
    X, y = _data(kind)
    E = X @ np.random.RandomState(2).randn(3, 5).T
    n = len(E)
    sq = np.einsum("ij,ij->i", E, E)
    W_ref, stat_ref = REFERENCES[kind](E @ E.T, sq, 0, y)
    stat = np.empty(n)
    F = X if gather else E
    WF = np.zeros_like(F)
    WtE = np.zeros((n_parts, 0 if gather else n, E.shape[1]))
    col = np.zeros((n_parts, n))
    kernel = K._softmax_weights_serial if serial else K.softmax_weights
    E32 = E.astype(np.float32)
    kernel(
        kind == "nca",
        E,
        E32,
        np.ascontiguousarray(E32.T),
        sq,
        y,
        stat,
        F,
        WF,
        WtE,
        col,
        chunk_rows,
    )
    # terms below e^-36 of a row's largest are dropped: absolute error ~1e-15
    np.testing.assert_allclose(stat, stat_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(WF, W_ref @ F, rtol=1e-10, atol=1e-12)
    if not gather:
        np.testing.assert_allclose(WtE.sum(axis=0), W_ref.T @ E, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(col.sum(axis=0), W_ref.sum(axis=0), atol=1e-12)
    # every row of W sums to zero, which the gradient formula relies on
    np.testing.assert_allclose(W_ref.sum(axis=1), 0, atol=1e-12)


@pytest.mark.parametrize("gather", [False, True])
@pytest.mark.parametrize("kind", ["nca", "mlkr"])
def test_threaded_objective_matches_brute_force(kind, gather, monkeypatch):
    # the threaded path is taken for large problems; force it on a small one
    monkeypatch.setattr(K, "PARALLEL_MIN_ENTRIES", 0)
    monkeypatch.setattr(K, "get_num_threads", lambda: 2)
    X, y = _data(kind)
    L = np.random.RandomState(1).randn(2, 5) * 0.6
    objective = K.SoftmaxObjective(X, y, kind, 2, block_bytes=8 * len(X) * 8, gather=gather)
    assert objective.n_parts == 2 and objective.chunk_rows == 4
    loss, grad = objective.value_and_gradient(L)
    assert loss == pytest.approx(LOSSES[kind](L, X, y), rel=1e-12)
    numeric = finite_difference(lambda A: LOSSES[kind](A, X, y), L)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-6)


def test_screen_keeps_the_terms_of_a_far_offset_embedding():
    # large squared norms widen the float32 screen's margin; the kept terms
    # and the weights must still be those of a float64 computation, here by
    # explicit differences (the product form itself loses digits this far out)
    X, y = _data("nca")
    E = X @ np.random.RandomState(3).randn(3, 5).T * 4.0 + 300.0
    D = ((E[:, None, :] - E[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(D, np.inf)
    P = np.exp(-(D - D.min(axis=1, keepdims=True)))
    P /= P.sum(axis=1, keepdims=True)
    same = y[:, None] == y[None, :]
    p_ref = (P * same).sum(axis=1)
    W_ref = P * (same - p_ref[:, None])
    n = len(E)
    sq = np.einsum("ij,ij->i", E, E)
    stat, WE = np.empty(n), np.zeros_like(E)
    WtE, col = np.zeros((1,) + E.shape), np.zeros((1, n))
    E32 = E.astype(np.float32)
    K._softmax_weights_serial(
        True, E, E32, np.ascontiguousarray(E32.T), sq, y, stat, E, WE, WtE, col, 16
    )
    np.testing.assert_allclose(stat, p_ref, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(WE, W_ref @ E, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(WtE[0], W_ref.T @ E, rtol=1e-9, atol=1e-9)


def test_objective_gathers_when_features_are_at_most_twice_the_components():
    # the form of the gradient follows the shapes unless forced
    X, y = _data("nca")  # 5 features
    assert K.SoftmaxObjective(X, y, "nca", 3).gather
    assert not K.SoftmaxObjective(X, y, "nca", 2).gather
    assert K.SoftmaxObjective(X, y, "nca", 2, gather=True).gather
    forced = K.SoftmaxObjective(X, y, "nca", 2, gather=True)
    assert forced.WF.shape == (len(X), 5) and forced.WtE.shape[1] == 0


@pytest.mark.parametrize("kind", ["nca", "mlkr"])
@pytest.mark.parametrize("offset", [1e10, 1e20])
def test_far_points_keep_their_nearest_term(kind, offset):
    # two points far out (their squared distances ~offset**2): adding the
    # cutoff to a row's smallest distance rounds back to it from ~1e17 on,
    # and from ~1e19 the float32 screen's products overflow; either way a
    # row kept no term and the kernel divided by zero. Symmetric, so that
    # centring leaves the near points where they are.
    X, y = _data(kind)
    far = np.zeros((2, 5))
    far[:, 0] = [offset, -offset]
    X = np.vstack([X, far])
    y = np.r_[y, y[:2]]
    L = np.random.RandomState(1).randn(2, 5) * 0.6
    objective = K.SoftmaxObjective(X, y, kind, 2)
    loss, grad = objective.value_and_gradient(L)
    assert loss == pytest.approx(LOSSES[kind](L, X, y), rel=1e-10)
    assert np.all(np.isfinite(grad))
    if offset < 1e15:
        numeric = finite_difference(lambda A: LOSSES[kind](A, X, y), L)
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-6)
    else:
        # the far points' distances to the near ones (~1e40) tie in float64,
        # so their rows spread over several terms; the gradient's column of
        # the far feature is then a difference of terms ~1e40, known only to
        # their round-off, but the other columns must match the defining sum
        expected = brute_force_gradient(kind, L, X, y)
        np.testing.assert_allclose(grad[:, 1:], expected[:, 1:], rtol=1e-6, atol=1e-6)


def brute_force_gradient(kind, L, X, y):
    """``2 L sum_ij W_ij (x_i - x_j)(x_i - x_j)^T`` with W from explicit differences."""
    E = X @ L.T
    D = ((E[:, None, :] - E[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(D, np.inf)
    P = np.exp(-(D - D.min(axis=1, keepdims=True)))
    P /= P.sum(axis=1, keepdims=True)
    if kind == "nca":
        same = y[:, None] == y[None, :]
        W = P * (same - (P * same).sum(axis=1, keepdims=True))
    else:
        yhat = P @ y
        W = 2.0 * (yhat - y)[:, None] * P * (yhat[:, None] - y[None, :])
    diffs = X[:, None, :] - X[None, :, :]
    return 2.0 * L @ np.einsum("ij,ija,ijb->ab", W, diffs, diffs)


def test_screen_scale_keeps_the_float32_products_in_range():
    assert K.screen_scale_of(0.0) == 1.0
    assert K.screen_scale_of(2.0**100) == 1.0
    for sq_max in (2.0**100 * 1.5, 1e40, 1e300):
        scale = K.screen_scale_of(sq_max)
        mantissa, _ = np.frexp(scale)
        assert mantissa == 0.5  # a power of two: exact
        assert 0.25 <= sq_max * scale < 1.0


def test_distances_beyond_float64_give_an_infinite_loss():
    # a line search's trial point far out: the solver must see +inf (and
    # step back), not NaN or an exception from the kernel
    X, y = _data("nca")
    objective = K.SoftmaxObjective(X, y, "nca", 2)
    loss, grad = objective.value_and_gradient(np.full((2, 5), 1e160))
    assert loss == np.inf
    np.testing.assert_array_equal(grad, 0.0)


@pytest.mark.parametrize("n_features", [1, 3, 4, 5, 8, 13])
def test_squared_distance_by_difference(n_features):
    # the pairwise core's kernel that NCA and MLKR use: four partial sums
    # and a remainder loop; every width agrees with NumPy, and a
    # near-duplicate pair keeps its tiny distance (no cancellation)
    rng = np.random.RandomState(n_features)
    E = rng.randn(3, n_features) * 1e3
    E[2] = E[0] + 1e-9 * rng.randn(n_features)
    for i, j in [(0, 1), (1, 0), (0, 2)]:
        expected = np.sum((E[i] - E[j]) ** 2)
        assert sq_euclidean_pair(E, i, E, j) == pytest.approx(expected, rel=1e-14)
    assert sq_euclidean_pair(E, 1, E, 1) == 0.0
