import numpy as np
import pytest

from mlearn.objectives import (
    PAIR_LOSSES,
    REGULARIZERS,
    RELATIVE_LOSSES,
    MetricObjective,
    pair_loss,
    regularization,
    relative_loss,
)


def _spd(d, rng, scale=1.0):
    A = rng.randn(d, d)
    return scale * (A @ A.T / d + 0.5 * np.eye(d))


def _fd_check_M(func, M, rng, n_dirs=4, h=1e-6):
    """Central differences of func along random symmetric directions vs <grad, E>."""
    _, grad = func(M)
    for _ in range(n_dirs):
        E = rng.randn(*M.shape)
        E = (E + E.T) / 2
        numeric = (func(M + h * E)[0] - func(M - h * E)[0]) / (2 * h)
        assert np.sum(grad * E) == pytest.approx(numeric, rel=1e-5, abs=1e-7)


def _fd_check_L(func, L, rng, n_dirs=4, h=1e-6):
    _, grad = func(L)
    for _ in range(n_dirs):
        E = rng.randn(*L.shape)
        numeric = (func(L + h * E)[0] - func(L - h * E)[0]) / (2 * h)
        assert np.sum(grad * E) == pytest.approx(numeric, rel=1e-5, abs=1e-7)


def _pairs_and_relative(rng, n=40, d=4):
    X = rng.randn(3 * n, d)
    pairs = np.stack([X[:n], X[n : 2 * n]], axis=1)
    y = np.where(rng.rand(n) < 0.5, 1, -1)
    triplets = np.stack([X[:n], X[n : 2 * n], X[2 * n :]], axis=1)
    quadruplets = np.stack([X[:n], X[n : 2 * n], X[2 * n :], X[::-1][:n]], axis=1)
    return pairs, y, triplets, quadruplets


# -- elementwise losses against closed forms ---------------------------------------------


def test_pair_losses_closed_forms():
    d = np.array([0.2, 0.2, 3.0, 3.0])
    y = np.array([1, -1, 1, -1])
    v, g = pair_loss(d, y, "contrastive", margin=1.0)
    np.testing.assert_allclose(v, [0.2, 0.8, 3.0, 0.0])
    np.testing.assert_allclose(g, [1, -1, 1, 0])
    v, g = pair_loss(d, y, "smooth_contrastive", margin=1.0)
    np.testing.assert_allclose(v, [0.2, 0.32, 3.0, 0.0])
    np.testing.assert_allclose(g, [1, -0.8, 1, 0])
    v, g = pair_loss(d, y, "hinge", lower=2.0, upper=1.0)
    np.testing.assert_allclose(v, [0.0, 1.8, 2.0, 0.0])
    np.testing.assert_allclose(g, [0, -1, 1, 0])
    v, g = pair_loss(d, y, "logistic", threshold=1.0)
    np.testing.assert_allclose(v, np.log1p(np.exp(y * (d - 1.0))))
    np.testing.assert_allclose(g, y / (1 + np.exp(-y * (d - 1.0))))


def test_relative_losses_closed_forms():
    near, far = np.array([1.0, 1.0, 5.0]), np.array([0.5, 3.0, 1.0])
    z = 1.0 + near - far
    v, g = relative_loss(near, far, "hinge")
    np.testing.assert_allclose(v, np.maximum(z, 0))
    v, g = relative_loss(near, far, "squared_hinge", margin=1.0)
    np.testing.assert_allclose(v, np.maximum(z, 0) ** 2 / 2)
    np.testing.assert_allclose(g, np.maximum(z, 0))
    v, g = relative_loss(near, far, "softplus")
    np.testing.assert_allclose(v, np.log1p(np.exp(z)))


def test_logistic_loss_is_stable_for_large_arguments():
    v, g = pair_loss(np.array([1e4, 0.0]), np.array([1, -1]), "logistic", threshold=0.0)
    np.testing.assert_allclose(v, [1e4, np.log(2)])
    assert np.all(np.isfinite(g))


def test_unknown_names_are_rejected():
    with pytest.raises(ValueError, match="pair loss"):
        pair_loss(np.ones(2), np.ones(2), "square")
    with pytest.raises(ValueError, match="relative loss"):
        relative_loss(np.ones(2), np.ones(2), "exp")
    with pytest.raises(ValueError, match="regularizer"):
        regularization(np.eye(2), "nuclear")
    with pytest.raises(ValueError, match="lower and upper"):
        pair_loss(np.ones(2), np.ones(2), "hinge")


# -- regularisers against independent formulas ---------------------------------------------


def test_regularizers_values():
    rng = np.random.RandomState(0)
    M, M0 = _spd(4, rng), _spd(4, rng)
    assert regularization(M, "fro", M0)[0] == pytest.approx(np.linalg.norm(M - M0, "fro") ** 2)
    assert regularization(M, "trace")[0] == pytest.approx(np.trace(M))
    off = M - np.diag(np.diag(M))
    assert regularization(M, "l1")[0] == pytest.approx(np.abs(off).sum())
    # Burg divergence from its eigenvalue form: sum(l - log l - 1), l = eig(M0^-1 M)
    lam = np.linalg.eigvals(np.linalg.solve(M0, M)).real
    assert regularization(M, "logdet", M0)[0] == pytest.approx(np.sum(lam - np.log(lam) - 1))
    assert regularization(M0, "logdet", M0)[0] == pytest.approx(0.0, abs=1e-10)
    assert regularization(M, None)[0] == 0.0


def test_logdet_is_infinite_off_the_interior_and_needs_pd_prior():
    singular = np.diag([1.0, 0.0])
    assert regularization(singular, "logdet")[0] == np.inf
    with pytest.raises(ValueError, match="positive-definite M0"):
        MetricObjective(
            np.ones((2, 2)),
            pair_index=[0],
            pair_labels=[1],
            regularizer="logdet",
            alpha=1.0,
            M0=singular,
        )


@pytest.mark.parametrize("regularizer", REGULARIZERS)
def test_regularizer_gradients_finite_differences(regularizer):
    rng = np.random.RandomState(1)
    M, M0 = _spd(5, rng), _spd(5, rng)
    _fd_check_M(lambda A: regularization(A, regularizer, M0), M, rng)


# -- the full objective: every loss x regulariser, in M and in L ---------------------------


CASES = [("pairs", loss) for loss in PAIR_LOSSES] + [
    (kind, loss) for kind in ("triplets", "quadruplets") for loss in RELATIVE_LOSSES
]


def _objective(kind, loss, regularizer, rng, weighted=False):
    pairs, y, triplets, quadruplets = _pairs_and_relative(rng)
    params = dict(regularizer=regularizer, alpha=0.3, M0=_spd(4, rng), margin=1.5)
    n = len(y)
    weights = rng.rand(n) + 0.1 if weighted else None
    if kind == "pairs":
        return MetricObjective.from_tuples(
            pairs=pairs,
            y=y,
            pair_loss=loss,
            lower=3.0,
            upper=6.0,
            threshold=5.0,
            pair_weights=weights,
            **params,
        )
    relative = triplets if kind == "triplets" else quadruplets
    return MetricObjective.from_tuples(
        relative=relative, relative_loss=loss, relative_weights=weights, **params
    )


@pytest.mark.parametrize("regularizer", list(REGULARIZERS) + [None])
@pytest.mark.parametrize("kind, loss", CASES)
def test_objective_gradient_in_M_space(kind, loss, regularizer):
    rng = np.random.RandomState(2)
    obj = _objective(kind, loss, regularizer, rng, weighted=True)
    _fd_check_M(obj.value_and_grad_M, _spd(4, rng), rng)


@pytest.mark.parametrize("regularizer", list(REGULARIZERS) + [None])
@pytest.mark.parametrize("kind, loss", CASES)
def test_objective_gradient_in_L_space(kind, loss, regularizer):
    rng = np.random.RandomState(3)
    obj = _objective(kind, loss, regularizer, rng)
    _fd_check_L(obj.value_and_grad_L, rng.randn(4, 4) + 2 * np.eye(4), rng)
    if regularizer != "logdet":  # a low-rank factor
        _fd_check_L(obj.value_and_grad_L, rng.randn(2, 4), rng)


@pytest.mark.parametrize("alpha", [0.05, 0.3, 5.0])
def test_l1_gradient_on_zero_entries_is_the_steepest_descent_direction(alpha):
    # at a diagonal M every off-diagonal entry sits on the l1 term's kink; the
    # subgradient returned there is the smooth gradient soft-thresholded by
    # alpha (the one of least norm), so that -grad is a descent direction
    rng = np.random.RandomState(9)
    pairs, y, _, _ = _pairs_and_relative(rng)
    params = dict(pairs=pairs, y=y, pair_loss="logistic", threshold=5.0)
    obj = MetricObjective.from_tuples(regularizer="l1", alpha=alpha, **params)
    M = np.diag(rng.rand(4) + 0.5)
    value, grad = obj.value_and_grad_M(M)
    smooth = MetricObjective.from_tuples(regularizer=None, **params).value_and_grad_M(M)[1]
    off = ~np.eye(4, dtype=bool)
    expected = np.sign(smooth[off]) * np.maximum(np.abs(smooth[off]) - alpha, 0.0)
    np.testing.assert_allclose(grad[off], expected, rtol=1e-10, atol=1e-14)
    # the one-sided slope along -grad is -||grad||^2 (finite difference)
    h = 1e-7
    slope = (obj.value_and_grad_M(M - h * grad)[0] - value) / h
    assert slope == pytest.approx(-np.vdot(grad, grad), rel=1e-4)


def test_L_and_M_spaces_agree():
    rng = np.random.RandomState(4)
    for kind, loss in CASES:
        obj = _objective(kind, loss, "fro", rng)
        L = rng.randn(3, 4)
        vL, gL = obj.value_and_grad_L(L)
        vM, gM = obj.value_and_grad_M(L.T @ L)
        assert vL == pytest.approx(vM, rel=1e-12)
        np.testing.assert_allclose(gL, 2 * L @ gM, rtol=1e-9, atol=1e-12)


def test_objective_value_matches_a_direct_computation():
    rng = np.random.RandomState(5)
    pairs, y, triplets, _ = _pairs_and_relative(rng)
    M = _spd(4, rng)
    w = rng.rand(len(y))

    def sqdist(A, B):
        D = A - B
        return np.einsum("ij,jk,ik->i", D, M, D)

    obj = MetricObjective.from_tuples(
        pairs=pairs,
        y=y,
        relative=triplets,
        pair_loss="contrastive",
        relative_loss="hinge",
        margin=2.0,
        pair_weights=w,
        pairs_weight=0.3,
        relative_weight=0.7,
        regularizer="trace",
        alpha=0.1,
    )
    d = sqdist(pairs[:, 0], pairs[:, 1])
    pair_terms = np.where(y == 1, d, np.maximum(0, 2.0 - d))
    trip = np.maximum(
        0, 2.0 + sqdist(triplets[:, 0], triplets[:, 1]) - sqdist(triplets[:, 0], triplets[:, 2])
    )
    expected = 0.3 * np.sum(w * pair_terms) / w.sum() + 0.7 * trip.mean() + 0.1 * np.trace(M)
    assert obj.value_and_grad_M(M)[0] == pytest.approx(expected, rel=1e-12)


def test_from_indices_deduplicates_and_matches_from_tuples():
    rng = np.random.RandomState(6)
    X = rng.randn(30, 3)
    triplets = np.column_stack([rng.randint(30, size=200) for _ in range(3)])
    pairs = np.column_stack([rng.randint(30, size=50) for _ in range(2)])
    y = np.where(rng.rand(50) < 0.5, 1, -1)
    a = MetricObjective.from_indices(X, pairs=pairs, y=y, relative=triplets, alpha=0.1)
    b = MetricObjective.from_tuples(pairs=X[pairs], y=y, relative=X[triplets], alpha=0.1)
    assert len(a.diffs) < len(b.diffs)
    M = _spd(3, rng)
    va, ga = a.value_and_grad_M(M)
    vb, gb = b.value_and_grad_M(M)
    assert va == pytest.approx(vb, rel=1e-12)
    np.testing.assert_allclose(ga, gb, rtol=1e-10, atol=1e-12)


def test_learned_threshold_gradient_and_subset():
    rng = np.random.RandomState(7)
    pairs, y, _, _ = _pairs_and_relative(rng)
    obj = MetricObjective.from_tuples(
        pairs=pairs, y=y, pair_loss="logistic", learn_threshold=True, regularizer="fro", alpha=0.2
    )
    x = np.append(_spd(4, rng).ravel(), 3.0)
    value, grad = obj.packed_M(x)
    h = 1e-6
    e = np.zeros_like(x)
    e[-1] = 1
    numeric = (obj.packed_M(x + h * e)[0] - obj.packed_M(x - h * e)[0]) / (2 * h)
    assert grad[-1] == pytest.approx(numeric, rel=1e-6)
    xl = np.append(rng.randn(2 * 4), 3.0)
    _, gl = obj.packed_L(xl, 2)
    e = np.zeros_like(xl)
    e[-1] = 1
    numeric = (obj.packed_L(xl + h * e, 2)[0] - obj.packed_L(xl - h * e, 2)[0]) / (2 * h)
    assert gl[-1] == pytest.approx(numeric, rel=1e-6)
    # a minibatch is the objective of the chosen constraints alone
    rows = np.arange(0, 40, 3)
    sub = obj.subset(pair_rows=rows)
    direct = MetricObjective.from_tuples(
        pairs=pairs[rows],
        y=y[rows],
        pair_loss="logistic",
        threshold=obj.threshold,
        regularizer="fro",
        alpha=0.2,
    )
    M = _spd(4, rng)
    assert sub.value_and_grad_M(M)[0] == pytest.approx(direct.value_and_grad_M(M)[0])
    assert len(sub.diffs) == len(rows)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"pair_loss": "square"}, "pair_loss"),
        ({"relative_loss": "exp"}, "relative_loss"),
        ({"regularizer": "nuclear"}, "regularizer"),
        ({"alpha": -1.0}, "alpha"),
        ({"pair_loss": "hinge"}, "lower and upper"),
        ({"pair_weights": np.ones(3)}, "pair_weights"),
        ({"M0": np.eye(3)}, "M0"),
    ],
)
def test_objective_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MetricObjective(np.ones((2, 2)), pair_index=[0, 1], pair_labels=[1, -1], **kwargs)


def test_inputs_are_not_modified():
    rng = np.random.RandomState(8)
    pairs, y, triplets, _ = _pairs_and_relative(rng)
    copies = [a.copy() for a in (pairs, y, triplets)]
    obj = MetricObjective.from_tuples(pairs=pairs, y=y, relative=triplets, alpha=0.1)
    M = _spd(4, rng)
    M_copy = M.copy()
    obj.value_and_grad_M(M)
    for a, b in zip((pairs, y, triplets), copies):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(M, M_copy)
