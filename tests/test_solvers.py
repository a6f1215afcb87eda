import warnings

import numpy as np
import pytest
from scipy.linalg import eigh
from scipy.optimize import minimize
from sklearn.exceptions import ConvergenceWarning

from mlearn.solvers import (
    Adam,
    Momentum,
    lbfgs_on_components,
    projected_gradient,
    sgd,
    sgd_blocks,
)


def _clip_eigen(T):
    w, V = eigh((T + T.T) / 2)
    return (V * np.clip(w, 0, None)) @ V.T


def _random_symmetric(d, rng):
    A = rng.randn(d, d)
    return (A + A.T) / 2


def _is_psd(M, tol=1e-10):
    return np.allclose(M, M.T, atol=1e-12) and eigh(M, eigvals_only=True).min() >= -tol


# -- projected gradient ---------------------------------------------------------


def test_pgd_nearest_psd_matches_eigenvalue_clipping():
    rng = np.random.RandomState(0)
    T = _random_symmetric(6, rng)

    def func(M):
        diff = M - T
        return np.sum(diff**2), 2 * diff

    M, n_iter, history, _ = projected_gradient(func, np.eye(6), tol=1e-14)
    np.testing.assert_allclose(M, _clip_eigen(T), atol=1e-8)
    assert n_iter >= 1


def _trace_regression(rng, d=5, n=60):
    """f(M) = sum_i (tr(A_i M) - b_i)^2 with a PSD-constrained minimiser."""
    A = np.array([_random_symmetric(d, rng) for _ in range(n)])
    W = rng.randn(d, 2)
    b = np.einsum("nij,ji->n", A, W @ W.T) + 0.3 * rng.randn(n)

    def func(M):
        r = np.einsum("nij,ji->n", A, M) - b
        return np.sum(r**2), 2 * np.einsum("n,nij->ij", r, A)

    return func


def test_pgd_reaches_the_convex_optimum_found_by_an_independent_solver():
    rng = np.random.RandomState(1)
    func = _trace_regression(rng)
    d = 5
    M, _, history, _ = projected_gradient(func, np.eye(d), tol=1e-13, gtol=1e-10, max_iter=5000)
    assert _is_psd(M)

    # oracle: scipy's BFGS over a full factor L (M = L.T L covers the whole cone)
    def fL(flat):
        L = flat.reshape(d, d)
        value, G = func(L.T @ L)
        return value, (2 * L @ G).ravel()

    best = min(
        minimize(
            fL,
            np.random.RandomState(s).randn(d * d),
            jac=True,
            method="BFGS",
            options={"gtol": 1e-10, "maxiter": 20000},
        ).fun
        for s in range(3)
    )
    assert history[-1] == pytest.approx(best, rel=1e-6, abs=1e-9)


def test_pgd_objective_never_increases_on_a_nonsmooth_objective():
    rng = np.random.RandomState(2)
    d, n = 4, 80
    U = rng.randn(n, d)
    y = np.where(rng.rand(n) < 0.5, 1, -1)

    def func(M):
        dist = np.einsum("ij,jk,ik->i", U, M, U)
        slack = 1 + y * (dist - 2.0)
        active = slack > 0
        value = np.sum(slack[active]) + 0.1 * np.trace(M)
        coef = np.where(active, y, 0.0)
        return value, (U * coef[:, None]).T @ U + 0.1 * np.eye(d)

    M, n_iter, history, _ = projected_gradient(func, np.eye(d), max_iter=300, tol=0)
    assert n_iter > 5
    assert np.all(np.diff(history) <= 0)
    assert history[-1] < history[0]
    assert _is_psd(M)


def test_pgd_custom_projection_box_constraints_match_lbfgsb():
    rng = np.random.RandomState(3)
    Q = rng.randn(6, 6)
    Q = Q @ Q.T + np.eye(6)
    c = rng.randn(6) * 3

    def func(x):
        return 0.5 * x @ Q @ x - c @ x, Q @ x - c

    x = projected_gradient(
        func,
        np.zeros(6),
        project=lambda v: np.clip(v, -0.5, 0.5),
        tol=1e-14,
        gtol=1e-12,
        max_iter=5000,
    ).x
    ref = minimize(
        func,
        np.zeros(6),
        jac=True,
        method="L-BFGS-B",
        bounds=[(-0.5, 0.5)] * 6,
        options={"ftol": 1e-15, "gtol": 1e-12},
    )
    np.testing.assert_allclose(x, ref.x, atol=1e-5)


def test_pgd_rejects_infinite_values_and_stays_feasible():
    # -log det M is +inf on the boundary of the cone: steps there are rejected
    T = np.diag([1.0, -1.0])

    def func(M):
        w = np.linalg.eigvalsh(M)
        if w.min() <= 0:
            return np.inf, np.zeros_like(M)
        return np.sum((M - T) ** 2) - np.log(np.linalg.det(M)), 2 * (M - T) - np.linalg.inv(M)

    M, _, history, _ = projected_gradient(func, np.eye(2), tol=1e-14)
    assert np.isfinite(history[-1]) and np.all(np.diff(history) <= 0)
    # stationarity: 2 (m - t) - 1/m = 0 on each diagonal entry
    expected = [(t + np.sqrt(t * t + 2)) / 2 for t in (1.0, -1.0)]
    np.testing.assert_allclose(np.diag(M), expected, rtol=1e-6)


def test_pgd_reports_no_convergence_callback_stops_and_input_is_kept():
    rng = np.random.RandomState(4)
    func = _trace_regression(rng)
    M0 = np.eye(5)
    before = M0.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the solver returns; the estimator warns
        _, n_iter, history, converged = projected_gradient(func, M0, max_iter=2, tol=0, gtol=0)
    assert n_iter == 2 and len(history) == 3 and not converged
    np.testing.assert_array_equal(M0, before)
    calls = []
    result = projected_gradient(
        func, M0, callback=lambda k, M, v: calls.append((k, v)) or k == 3, tol=0, gtol=0
    )
    assert result.n_iter == 3 and result.converged and [k for k, _ in calls] == [1, 2, 3]


def test_pgd_verbose_prints(capsys):
    rng = np.random.RandomState(5)
    projected_gradient(
        _trace_regression(rng), np.eye(5), max_iter=3, verbose=1, name="Learner", tol=0, gtol=0
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and all(line.startswith("[Learner]") for line in lines)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"max_iter": 0}, "max_iter"),
        ({"tol": -1.0}, "tol"),
        ({"step_size": -1.0}, "step_size"),
        ({"shrink": 1.5}, "shrink"),
    ],
)
def test_pgd_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        projected_gradient(lambda M: (0.0, np.zeros_like(M)), np.eye(2), **kwargs)


def test_pgd_bad_gradient_shape_and_nonfinite_start():
    with pytest.raises(ValueError, match="gradient"):
        projected_gradient(lambda M: (0.0, np.zeros(3)), np.eye(2))
    with pytest.raises(ValueError, match="not finite"):
        projected_gradient(lambda M: (np.nan, np.zeros_like(M)), np.eye(2))


# -- L-BFGS on the factor -----------------------------------------------------------


def test_lbfgs_low_rank_factor_is_the_best_rank_one_approximation():
    rng = np.random.RandomState(6)
    B = rng.randn(5, 5)
    T = B @ B.T

    def func_L(L):
        diff = L.T @ L - T
        return np.sum(diff**2), 4 * L @ diff

    L, n_iter, history, _ = lbfgs_on_components(func_L, rng.randn(1, 5), tol=1e-15, gtol=1e-10)
    w, V = eigh(T)
    best = w[-1] * np.outer(V[:, -1], V[:, -1])  # Eckart-Young
    np.testing.assert_allclose(L.T @ L, best, atol=1e-6 * np.abs(T).max())
    assert L.shape == (1, 5)
    assert len(history) == n_iter + 1 and history[-1] <= history[0]


def test_lbfgs_matches_scipy_on_rosenbrock_and_reports_max_iter():
    from scipy.optimize import rosen, rosen_der

    def func_L(L):
        return rosen(L.ravel()), rosen_der(L.ravel()).reshape(L.shape)

    result = lbfgs_on_components(func_L, np.zeros((2, 3)), tol=1e-15, gtol=1e-10, max_iter=5000)
    np.testing.assert_allclose(result.x, np.ones((2, 3)), atol=1e-4)
    assert result.converged and len(result.history) == result.n_iter + 1
    # the history starts at L0 and follows SciPy's iterates
    assert result.history[0] == rosen(np.zeros(6))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        result = lbfgs_on_components(func_L, np.zeros((2, 3)), max_iter=3)
    assert result.n_iter == 3 and not result.converged
    with pytest.raises(ValueError, match="L0"):
        lbfgs_on_components(func_L, np.zeros(6))


def test_lbfgs_callback_can_stop():
    def func_L(L):
        return np.sum((L - 3.0) ** 4), 4 * (L - 3.0) ** 3

    seen = []
    _, n_iter, _, converged = lbfgs_on_components(
        func_L, np.zeros((2, 2)), callback=lambda k, L, v: seen.append(k) or k >= 2
    )
    assert n_iter == 2 and seen == [1, 2] and converged


# -- minibatch SGD ------------------------------------------------------------------


@pytest.mark.parametrize("method", ["adam", "momentum"])
def test_sgd_least_squares_matches_lstsq(method):
    rng = np.random.RandomState(7)
    A = rng.randn(400, 4)
    b = A @ rng.randn(4) + 0.01 * rng.randn(400)

    def func_batch(w, idx):
        r = A[idx] @ w - b[idx]
        return np.mean(r**2), 2 * A[idx].T @ r / len(idx)

    lr = 0.02 if method == "adam" else 0.01
    w, n_epochs, history, _ = sgd(
        func_batch,
        np.zeros(4),
        400,
        batch_size=40,
        learning_rate=lr,
        method=method,
        max_iter=300,
        random_state=0,
        tol=1e-6,
    )
    ref = np.linalg.lstsq(A, b, rcond=None)[0]
    np.testing.assert_allclose(w, ref, atol=2e-2)
    assert history[-1] < history[0]


def test_sgd_projection_keeps_iterates_psd_and_state_continues():
    rng = np.random.RandomState(8)
    T = _random_symmetric(4, rng)

    def func_batch(M, idx):
        diff = M - T
        return np.sum(diff**2), 2 * diff

    seen = []

    def cb(epoch, M, value):
        seen.append(_is_psd(M))

    from mlearn.linalg import project_psd

    # projected momentum converges to the constrained optimum (a preconditioned
    # Adam step followed by a Euclidean projection need not)
    opt = Momentum(learning_rate=0.02)
    M, _, _, converged = sgd(
        func_batch,
        np.eye(4),
        10,
        batch_size=5,
        max_iter=30,
        optimizer=opt,
        project=project_psd,
        random_state=0,
        callback=cb,
        tol=0,
        n_iter_no_change=100,
    )
    assert all(seen) and not converged
    velocity = opt.velocity.copy()
    M = sgd(
        func_batch,
        M,
        10,
        batch_size=5,
        max_iter=300,
        optimizer=opt,
        project=project_psd,
        random_state=0,
        tol=0,
        n_iter_no_change=100,
    ).x
    assert not np.allclose(opt.velocity, velocity)
    np.testing.assert_allclose(M, _clip_eigen(T), atol=1e-3)


def test_sgd_reports_max_iter_and_validates():
    def func_batch(x, idx):
        return float(x @ x), 2 * x

    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        result = sgd(func_batch, np.ones(2), 10, max_iter=2, tol=0, n_iter_no_change=10)
    assert result.n_iter == 2 and len(result.history) == 3 and not result.converged
    with pytest.raises(ValueError, match="method"):
        sgd(func_batch, np.ones(2), 10, method="rmsprop")
    with pytest.raises(ValueError, match="batch_size"):
        sgd(func_batch, np.ones(2), 10, batch_size=0)


def test_adam_state_continues_across_calls():
    opt = Adam(learning_rate=0.1)

    def func_batch(x, idx):
        return float(x @ x), 2 * x

    x, n_epochs, history, converged = sgd(
        func_batch, np.ones(3), 10, batch_size=5, max_iter=300, optimizer=opt, random_state=0
    )
    assert converged
    assert opt.t == 2 * n_epochs  # two minibatches an epoch
    assert history[-1] < 0.1 * history[0]


def test_momentum_without_nesterov_is_heavy_ball():
    opt = Momentum(learning_rate=0.1, momentum=0.5, nesterov=False)
    x = np.array([1.0])
    x1 = opt.step(x, np.array([2.0]))  # v = -0.2
    x2 = opt.step(x1, np.array([1.0]))  # v = -0.1 - 0.1
    np.testing.assert_allclose([x1[0], x2[0]], [0.8, 0.6])


# -- minibatch SGD over blocks --------------------------------------------------------


def _least_squares_blocks(A, b, n_blocks, visits):
    """``block_batches`` over row blocks of (A, b), recording the blocks visited."""
    edges = np.linspace(0, len(A), n_blocks + 1).astype(int)

    def block_batches(i, x):
        visits.append(i)
        Ai, bi = A[edges[i] : edges[i + 1]], b[edges[i] : edges[i + 1]]

        def func_batch(w, idx):
            r = Ai[idx] @ w - bi[idx]
            return np.mean(r**2), 2 * Ai[idx].T @ r / len(idx)

        return func_batch, len(bi)

    return block_batches


def test_sgd_blocks_least_squares_matches_lstsq():
    rng = np.random.RandomState(7)
    A = rng.randn(400, 4)
    b = A @ rng.randn(4) + 0.01 * rng.randn(400)
    visits = []
    w, n_epochs, history, _ = sgd_blocks(
        _least_squares_blocks(A, b, 5, visits),
        np.zeros(4),
        5,
        batch_size=40,
        learning_rate=0.02,
        max_iter=300,
        random_state=0,
        tol=1e-6,
    )
    np.testing.assert_allclose(w, np.linalg.lstsq(A, b, rcond=None)[0], atol=2e-2)
    assert len(history) == n_epochs + 1 and history[-1] < history[0]
    # every epoch builds each block once, in its own shuffled order
    epochs = np.array(visits).reshape(n_epochs, 5)
    assert all(sorted(epoch) == list(range(5)) for epoch in epochs)
    assert len({tuple(epoch) for epoch in epochs}) > 1


def test_sgd_blocks_passes_the_current_point_and_skips_empty_blocks():
    seen = []

    def block_batches(i, x):
        seen.append((i, x.copy()))
        if i == 1:
            return None, 0
        return (lambda z, idx: (float(z @ z), 2 * z)), 3

    opt = Adam(learning_rate=0.1)
    _, n_epochs, history, converged = sgd_blocks(
        block_batches,
        np.ones(2),
        2,
        batch_size=3,
        max_iter=3,
        optimizer=opt,
        tol=0,
        n_iter_no_change=10,
        random_state=0,
    )
    assert not converged  # max_iter epochs are not convergence
    assert opt.t == n_epochs == 3  # one minibatch an epoch: block 1 holds none
    # each block is built from the point the previous steps reached
    assert not np.allclose(seen[-1][1], np.ones(2))
    assert history[0] == 2.0  # the first minibatch at x0


def test_sgd_blocks_validates():
    def nothing(i, x):
        return None, 0

    with pytest.raises(ValueError, match="none of the 3 blocks"):
        sgd_blocks(nothing, np.ones(2), 3)
    with pytest.raises(ValueError, match="n_blocks"):
        sgd_blocks(nothing, np.ones(2), 0)
    result = sgd_blocks(
        lambda i, x: ((lambda z, idx: (float(z @ z), 2 * z)), 2),
        np.ones(2),
        2,
        max_iter=2,
        tol=0,
        n_iter_no_change=10,
    )
    assert result.n_iter == 2 and not result.converged


def _iris_fit(solver, verbose, streamed=False):
    from sklearn.datasets import load_iris

    from mlearn import MetricLearner

    X, y = load_iris(return_X_y=True)
    if streamed:
        da = pytest.importorskip("dask.array")
        X, y = da.from_array(X, chunks=50), da.from_array(y, chunks=50)
    learner = MetricLearner(solver=solver, max_iter=3, tol=0, random_state=0, verbose=verbose)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return learner.fit(X, y)


@pytest.mark.parametrize(
    "solver, streamed",
    [("pgd", False), ("lbfgs", False), ("sgd", False), ("sgd", True)],
    ids=["projected_gradient", "lbfgs_on_components", "sgd", "sgd_blocks"],
)
def test_verbose_fit_reports_progress_on_stderr(capsys, solver, streamed):
    fitted = _iris_fit(solver, 1, streamed)
    out, err = capsys.readouterr()
    # the per-iteration lines stay on stdout; the progress goes to stderr,
    # named after the learner, counting iterations out of max_iter and
    # ending on the number run
    assert out.strip() and all(line.startswith("[MetricLearner]") for line in out.splitlines())
    lines = err.strip().splitlines()
    assert lines and all(line.startswith("MetricLearner: ") for line in lines)
    assert "\r" not in err
    assert lines[0].startswith("MetricLearner: 1/3 (") and "objective=" in lines[0]
    assert lines[-1].startswith(f"MetricLearner: {fitted.n_iter_}/3 (")
    last = float(lines[-1].rsplit("objective=", 1)[1])
    assert last == pytest.approx(float(out.splitlines()[-1].split()[4]), rel=1e-3)

    _iris_fit(solver, 0, streamed)
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("verbose", [0, 1])
def test_solvers_progress_does_not_change_results(verbose, capsys):
    rng = np.random.RandomState(5)
    func = _trace_regression(rng)
    quiet = projected_gradient(func, np.eye(5), max_iter=5, tol=0, gtol=0)
    loud = projected_gradient(func, np.eye(5), max_iter=5, tol=0, gtol=0, verbose=verbose)
    assert np.array_equal(quiet.x, loud.x) and quiet.history == loud.history
    err = capsys.readouterr().err
    assert (err != "") == bool(verbose)
    if verbose:
        assert err.startswith("projected_gradient: 1/5 (")
        assert err.strip().splitlines()[-1].startswith("projected_gradient: 5/5 (")
