"""Solvers for metric-learning objectives.

Three ways to minimise an objective ``f`` whose value and gradient come from
one call ``func(x) -> (value, grad)``:

- :func:`projected_gradient` works on the Mahalanobis matrix ``M`` itself and
  projects every trial point onto the PSD cone
  (:func:`mlearn.linalg.project_psd`); a backtracking line search accepts a
  step only when the objective decreases, so the objective never increases
  from one accepted iterate to the next.
- :func:`lbfgs_on_components` works on a factor ``L`` (``M = L.T @ L``),
  which is PSD by construction and may have fewer rows than columns (a
  low-rank metric); it wraps SciPy's L-BFGS-B.
- :func:`sgd` runs minibatch Adam or momentum over a set of constraints, with
  an optional projection after each step; :class:`Adam` and :class:`Momentum`
  keep their state between calls, so a learner can continue training on a
  stream of constraints (``partial_fit``). :func:`sgd_blocks` does the same
  over constraints built block by block, for data larger than memory.

All of them return a :class:`SolverResult`: the solution, the number of
iterations (epochs for :func:`sgd`), the objective after each of them,
``history[0]`` being the objective at the starting point, and whether a
stopping rule was met before ``max_iter``. The solvers do not warn: the
estimator that calls one decides whether not converging deserves a
``ConvergenceWarning`` (see :func:`mlearn.base.warn_not_converged`).

With ``verbose`` true (any value >= 1) a solver prints one line per
iteration (epoch) on stdout, ``[name] iter    3  objective ...``, and reports
its progress on stderr through :func:`mlearn._progress.progress`: a tqdm bar
on a terminal when tqdm is installed, otherwise a line ``name: 3/100 (0.4 s)
objective=...`` at most once a second, the first and the last always. With
``verbose=0`` nothing is written.
"""

import numbers
from typing import NamedTuple

import numpy as np
from scipy.optimize import minimize
from sklearn.utils import check_random_state

from ._progress import progress
from .linalg import project_psd

__all__ = [
    "Adam",
    "Momentum",
    "SolverResult",
    "lbfgs_on_components",
    "projected_gradient",
    "sgd",
    "sgd_blocks",
]


def _check_positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_nonnegative_float(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
        raise ValueError(f"{name} must be a non-negative number, got {value!r}")
    return float(value)


def _report(name, verbose, line):
    if verbose:
        print(f"[{name}] {line}")


def _progress(max_iter, name, verbose):
    """The progress report of a solver's iterations (epochs), on stderr when ``verbose``."""
    return progress(max_iter, name, enabled=bool(verbose))


class SolverResult(NamedTuple):
    """What a solver returns.

    Attributes
    ----------
    x : ndarray
        The solution (the last accepted point).
    n_iter : int
        Iterations (epochs for :func:`sgd` and :func:`sgd_blocks`) run.
    history : list of float
        The objective at the start, then after each iteration:
        ``n_iter + 1`` values.
    converged : bool
        Whether a stopping rule (or the callback) ended the run before
        ``max_iter`` iterations.
    """

    x: np.ndarray
    n_iter: int
    history: list
    converged: bool


def _call(func, x):
    value, grad = func(x)
    value = float(value)
    grad = np.asarray(grad, dtype=np.float64)
    if grad.shape != x.shape:
        raise ValueError(
            f"func must return a gradient of the same shape as its argument "
            f"{x.shape}, got {grad.shape}"
        )
    return value, grad


def projected_gradient(
    func,
    M0,
    *,
    project=project_psd,
    max_iter=1000,
    tol=1e-6,
    gtol=1e-9,
    step_size=None,
    shrink=0.5,
    max_backtracks=60,
    callback=None,
    verbose=0,
    name="projected_gradient",
):
    """Minimise ``func`` over the set ``project`` maps onto, by projected gradient.

    Each iteration tries ``x_new = project(x - t * grad)`` and accepts it when
    it satisfies the sufficient-decrease condition of projected gradient
    methods,

    ``f(x_new) <= f(x) + <grad, x_new - x> + ||x_new - x||² / (2 t)``,

    halving ``t`` otherwise (backtracking). Since a projection step makes
    ``<grad, x_new - x> <= -||x_new - x||² / t``, the condition implies
    ``f(x_new) <= f(x) - ||x_new - x||² / (2 t)``: accepted steps never
    increase the objective, even on non-smooth objectives (hinge losses),
    where the search simply shrinks the step. A point where the objective is
    ``inf`` (for instance a singular ``M`` under a LogDet regulariser) is
    always rejected. The first trial step of each iteration is the
    Barzilai-Borwein step of the last two iterates, which makes the method
    much faster than a fixed step on ill-conditioned problems.

    Parameters
    ----------
    func : callable
        ``func(x) -> (value, grad)`` with ``grad`` of the shape of ``x``.
        For a metric, ``x`` is the symmetric matrix ``M`` and ``grad`` its
        (symmetric) gradient.
    M0 : array-like
        Starting point; it is projected first. Not modified.
    project : callable, default=:func:`mlearn.linalg.project_psd`
        Euclidean projection onto the feasible set. Pass another one to
        optimise over other sets (e.g. a vector that packs ``M`` with extra
        unconstrained parameters).
    max_iter : int, default=1000
        Maximum number of accepted steps.
    tol : float, default=1e-6
        Stop when an accepted step lowers the objective by less than
        ``tol * max(|f|, 1e-12)`` (relative change).
    gtol : float, default=1e-9
        Stop when the norm of the gradient mapping ``(x - x_new) / t``
        (the gradient, for an interior point) falls below ``gtol``.
    step_size : float, default=None
        First trial step. None picks ``max(||x||, 1) / ||grad||`` (a step
        of the size of ``x``) and lets the line search shrink it.
    shrink : float in (0, 1), default=0.5
        Factor by which a rejected step is multiplied.
    max_backtracks : int, default=60
        Trials per iteration; when all are rejected no step decreases the
        objective at machine precision and the solver stops (converged).
    callback : callable, default=None
        ``callback(n_iter, x, value)`` after each accepted step; return
        True to stop.
    verbose : int, default=0
        Print the objective after each accepted step, prefixed with
        ``name``, and report the progress of the steps (out of ``max_iter``)
        on stderr (see the module's description). 0 writes nothing.
    name : str, default="projected_gradient"
        Prefix of printed lines and of the progress report (e.g. the
        learner's name).

    Returns
    -------
    result : SolverResult
        ``x`` is the last accepted (feasible) point, ``n_iter`` the number of
        accepted steps, ``history`` the objective at the projected start and
        after each accepted step (non-increasing); ``converged`` is False
        when ``max_iter`` steps were taken without meeting a stopping rule.

    Examples
    --------
    The nearest PSD matrix to a target in Frobenius norm:

    >>> import numpy as np
    >>> from mlearn.solvers import projected_gradient
    >>> target = np.array([[2.0, 0.0], [0.0, -1.0]])
    >>> def func(M):
    ...     diff = M - target
    ...     return np.sum(diff ** 2), 2 * diff
    >>> result = projected_gradient(func, np.eye(2))
    >>> np.round(result.x, 6)
    array([[2., 0.],
           [0., 0.]])
    >>> bool(np.all(np.diff(result.history) <= 0)), result.converged
    (True, True)
    """
    max_iter = _check_positive_int(max_iter, "max_iter")
    tol = _check_nonnegative_float(tol, "tol")
    gtol = _check_nonnegative_float(gtol, "gtol")
    max_backtracks = _check_positive_int(max_backtracks, "max_backtracks")
    if not 0 < shrink < 1:
        raise ValueError(f"shrink must be in (0, 1), got {shrink!r}")
    if step_size is not None:
        if (
            isinstance(step_size, bool)
            or not isinstance(step_size, numbers.Real)
            or not step_size > 0
        ):
            raise ValueError(f"step_size must be a positive number or None, got {step_size!r}")

    x = np.array(project(np.array(M0, dtype=np.float64)), dtype=np.float64)
    value, grad = _call(func, x)
    if not np.isfinite(value):
        raise ValueError(f"the objective is not finite at the (projected) starting point: {value}")
    history = [value]
    _report(name, verbose, f"iter    0  objective {value:.8g}")
    grad_norm = float(np.linalg.norm(grad))
    if step_size is None:
        t = max(float(np.linalg.norm(x)), 1.0) / grad_norm if grad_norm > 0 else 1.0
    else:
        t = float(step_size)
    t_min = 1e-300

    n_iter = 0
    converged = grad_norm == 0.0
    with _progress(max_iter, name, verbose) as bar:
        while not converged and n_iter < max_iter:
            accepted = False
            for _ in range(max_backtracks):
                x_new = np.asarray(project(x - t * grad), dtype=np.float64)
                delta = x_new - x
                delta_sq = float(np.vdot(delta, delta))
                if delta_sq == 0.0:
                    break  # x is a fixed point of the projected step: stationary
                value_new, grad_new = _call(func, x_new)
                bound = value + float(np.vdot(grad, delta)) + delta_sq / (2 * t)
                if np.isfinite(value_new) and value_new <= bound and value_new <= value:
                    accepted = True
                    break
                t *= shrink
                if t < t_min:
                    break
            if not accepted:
                converged = True
                break
            n_iter += 1
            gradient_mapping = np.sqrt(delta_sq) / t
            decrease = value - value_new
            # Barzilai-Borwein trial step for the next iteration
            change = grad_new - grad
            curvature = float(np.vdot(delta, change))
            t_next = delta_sq / curvature if curvature > 0 else 2.0 * t
            x, value, grad = x_new, value_new, grad_new
            history.append(value)
            _report(name, verbose, f"iter {n_iter:4d}  objective {value:.8g}  step {t:.3g}")
            bar.update(1, objective=value)
            if callback is not None and callback(n_iter, x, value):
                converged = True
                break
            if decrease <= tol * max(abs(history[-2]), 1e-12) or gradient_mapping <= gtol:
                converged = True
                break
            t = min(max(t_next, t * 1e-3), t * 1e6)
    return SolverResult(x, n_iter, history, converged)


def lbfgs_on_components(
    func_L,
    L0,
    *,
    max_iter=1000,
    tol=1e-6,
    gtol=1e-6,
    max_corrections=10,
    callback=None,
    verbose=0,
    name="lbfgs",
):
    """Minimise ``func_L`` over linear maps ``L`` with SciPy's L-BFGS-B.

    Optimising the factor ``L`` of ``M = L.T @ L`` needs no projection (any
    ``L`` gives a PSD metric) and allows a rank-deficient metric: ``L`` may
    have fewer rows (n_components) than columns (n_features). The objective
    is not convex in ``L``, but for the losses of :mod:`mlearn.objectives`
    the local minima reached from a sensible start are good in practice.

    Parameters
    ----------
    func_L : callable
        ``func_L(L) -> (value, grad)``, ``L`` and ``grad`` of shape
        (n_components, n_features).
    L0 : array-like of shape (n_components, n_features)
        Starting point. Not modified.
    max_iter : int, default=1000
        Maximum number of L-BFGS iterations.
    tol : float, default=1e-6
        Stop when the relative decrease of the objective is below ``tol``
        (SciPy's ``ftol``).
    gtol : float, default=1e-6
        Stop when the largest gradient entry is below ``gtol``.
    max_corrections : int, default=10
        Number of curvature pairs kept (SciPy's ``maxcor``).
    callback : callable, default=None
        ``callback(n_iter, L, value)`` after each iteration.
    verbose : int, default=0
        Print the objective after each iteration, prefixed with ``name``,
        and report the progress of the iterations (out of ``max_iter``) on
        stderr (see the module's description). 0 writes nothing.
    name : str, default="lbfgs"
        Prefix of printed lines and of the progress report.

    Returns
    -------
    result : SolverResult
        ``x`` is ``L``, of shape (n_components, n_features); ``history``
        holds the objective at ``L0`` and after each iteration;
        ``converged`` is False when L-BFGS-B stopped on ``max_iter``.

    Examples
    --------
    >>> import numpy as np
    >>> from mlearn.solvers import lbfgs_on_components
    >>> M_target = np.diag([4.0, 1.0])
    >>> def func_L(L):
    ...     diff = L.T @ L - M_target
    ...     return np.sum(diff ** 2), 4 * L @ diff
    >>> L = lbfgs_on_components(func_L, np.eye(2), tol=1e-12, gtol=1e-10).x
    >>> np.round(L.T @ L, 5)
    array([[4., 0.],
           [0., 1.]])
    """
    max_iter = _check_positive_int(max_iter, "max_iter")
    tol = _check_nonnegative_float(tol, "tol")
    gtol = _check_nonnegative_float(gtol, "gtol")
    L0 = np.array(L0, dtype=np.float64)
    if L0.ndim != 2:
        raise ValueError(
            f"L0 must be a 2-D array (n_components, n_features), got shape {L0.shape}"
        )
    shape = L0.shape

    history = []
    state = {"n_iter": 0, "bar": None}

    def fun(flat):
        value, grad = _call(func_L, flat.reshape(shape))
        if not history:
            # L-BFGS-B evaluates L0 first: that value starts the history,
            # which spares an evaluation (a whole pass over the data)
            history.append(value)
            _report(name, verbose, f"iter    0  objective {value:.8g}")
        return value, grad.ravel()

    def on_iteration(intermediate_result):
        state["n_iter"] += 1
        value = float(intermediate_result.fun)
        history.append(value)
        _report(name, verbose, f"iter {state['n_iter']:4d}  objective {value:.8g}")
        state["bar"].update(1, objective=value)
        if callback is not None and callback(
            state["n_iter"], intermediate_result.x.reshape(shape), value
        ):
            raise StopIteration

    with _progress(max_iter, name, verbose) as state["bar"]:
        result = minimize(
            fun,
            L0.ravel(),
            jac=True,
            method="L-BFGS-B",
            callback=on_iteration,
            options={"maxiter": max_iter, "ftol": tol, "gtol": gtol, "maxcor": max_corrections},
        )
    converged = not (result.status == 1 and state["n_iter"] >= max_iter)
    return SolverResult(result.x.reshape(shape), state["n_iter"], history, converged)


class Adam:
    """Adam updates with state kept between calls (for streams of minibatches).

    Parameters
    ----------
    learning_rate : float, default=0.01
    beta1, beta2 : float, default=0.9, 0.999
        Decay rates of the first and second moment estimates.
    epsilon : float, default=1e-8

    Examples
    --------
    >>> import numpy as np
    >>> from mlearn.solvers import Adam
    >>> opt = Adam(learning_rate=0.1)
    >>> x = np.array([1.0, -1.0])
    >>> for _ in range(200):
    ...     x = opt.step(x, 2 * x)   # gradient of ||x||²
    >>> bool(np.abs(x).max() < 1e-2)
    True
    """

    def __init__(self, learning_rate=0.01, beta1=0.9, beta2=0.999, epsilon=1e-8):
        self.learning_rate = float(learning_rate)
        self.beta1 = float(beta1)
        self.beta2 = float(beta2)
        self.epsilon = float(epsilon)
        self.t = 0
        self.m = None
        self.v = None

    def step(self, x, grad):
        """Return the updated point (``x`` is not modified)."""
        if self.m is None or self.m.shape != grad.shape:
            self.m = np.zeros_like(grad, dtype=np.float64)
            self.v = np.zeros_like(grad, dtype=np.float64)
        self.t += 1
        self.m = self.beta1 * self.m + (1 - self.beta1) * grad
        self.v = self.beta2 * self.v + (1 - self.beta2) * grad * grad
        m_hat = self.m / (1 - self.beta1**self.t)
        v_hat = self.v / (1 - self.beta2**self.t)
        return x - self.learning_rate * m_hat / (np.sqrt(v_hat) + self.epsilon)


class Momentum:
    """Gradient descent with (Nesterov) momentum, state kept between calls.

    Parameters
    ----------
    learning_rate : float, default=0.01
    momentum : float in [0, 1), default=0.9
    nesterov : bool, default=True

    Examples
    --------
    >>> import numpy as np
    >>> from mlearn.solvers import Momentum
    >>> opt = Momentum(learning_rate=0.1)
    >>> x = np.array([1.0, -1.0])
    >>> for _ in range(100):
    ...     x = opt.step(x, 2 * x)
    >>> bool(np.abs(x).max() < 1e-3)
    True
    """

    def __init__(self, learning_rate=0.01, momentum=0.9, nesterov=True):
        self.learning_rate = float(learning_rate)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.velocity = None

    def step(self, x, grad):
        """Return the updated point (``x`` is not modified)."""
        if self.velocity is None or self.velocity.shape != grad.shape:
            self.velocity = np.zeros_like(grad, dtype=np.float64)
        self.velocity = self.momentum * self.velocity - self.learning_rate * grad
        if self.nesterov:
            return x + self.momentum * self.velocity - self.learning_rate * grad
        return x + self.velocity


def sgd(
    func_batch,
    x0,
    n_samples,
    *,
    batch_size=256,
    max_iter=100,
    learning_rate=0.01,
    method="adam",
    optimizer=None,
    project=None,
    tol=1e-4,
    n_iter_no_change=5,
    random_state=None,
    callback=None,
    verbose=0,
    name="sgd",
):
    """Minibatch stochastic optimisation over ``n_samples`` constraints.

    Each epoch shuffles the constraints, cuts them into minibatches and
    updates ``x`` with the optimizer on the gradient of each minibatch,
    projecting after every update when ``project`` is given.

    Parameters
    ----------
    func_batch : callable
        ``func_batch(x, indices) -> (value, grad)``: objective and gradient
        on the constraints ``indices`` (an integer array), as a mean over
        them (plus the regulariser), so that batch sizes are comparable.
    x0 : array-like
        Starting point. Not modified.
    n_samples : int
        Number of constraints.
    batch_size : int, default=256
    max_iter : int, default=100
        Maximum number of epochs.
    learning_rate : float, default=0.01
    method : {'adam', 'momentum'}, default='adam'
        Used when ``optimizer`` is None.
    optimizer : Adam or Momentum, default=None
        An optimizer whose state continues (e.g. across ``partial_fit``
        calls); it is updated in place.
    project : callable, default=None
        Projection applied after each update (e.g.
        :func:`mlearn.linalg.project_psd` when ``x`` is ``M``).
    tol : float, default=1e-4
        Stop when the epoch objective has not improved by more than
        ``tol * |best|`` for ``n_iter_no_change`` epochs.
    n_iter_no_change : int, default=5
    random_state : int, RandomState instance or None
    callback : callable, default=None
        ``callback(epoch, x, value)`` after each epoch; return True to stop.
    verbose : int, default=0
        Print the objective after each epoch, prefixed with ``name``, and
        report the progress of the epochs (out of ``max_iter``) on stderr
        (see the module's description). 0 writes nothing.
    name : str, default="sgd"
        Prefix of printed lines and of the progress report.

    Returns
    -------
    result : SolverResult
        ``n_iter`` counts epochs; ``history`` holds the objective of the
        first minibatch at ``x0``, then the mean minibatch objective of each
        epoch; ``converged`` is False when ``max_iter`` epochs ran without
        the objective ceasing to improve.

    Examples
    --------
    Least squares by minibatches:

    >>> import numpy as np
    >>> from mlearn.solvers import sgd
    >>> rng = np.random.RandomState(0)
    >>> A = rng.randn(500, 3); w_true = np.array([1.0, -2.0, 0.5]); b = A @ w_true
    >>> def func_batch(w, idx):
    ...     r = A[idx] @ w - b[idx]
    ...     return np.mean(r ** 2), 2 * A[idx].T @ r / len(idx)
    >>> result = sgd(func_batch, np.zeros(3), 500, batch_size=50,
    ...              learning_rate=0.05, max_iter=200, random_state=0)
    >>> np.round(result.x, 2)
    array([ 1. , -2. ,  0.5])
    """
    n_samples = _check_positive_int(n_samples, "n_samples")
    x, batch_size, max_iter, optimizer, rng, stop = _sgd_start(
        x0,
        batch_size,
        max_iter,
        n_iter_no_change,
        tol,
        optimizer,
        method,
        learning_rate,
        random_state,
        project,
    )
    first_batch = rng.permutation(n_samples)[:batch_size]
    history = [_call(lambda z: func_batch(z, first_batch), x)[0]]
    _report(name, verbose, f"epoch    0  objective {history[0]:.8g}")
    converged = False
    epoch = 0
    with _progress(max_iter, name, verbose) as bar:
        for epoch in range(1, max_iter + 1):
            x, total, _ = _minibatch_pass(
                func_batch, x, rng.permutation(n_samples), batch_size, optimizer, project
            )
            if _epoch_done(
                total / n_samples, epoch, x, history, stop, callback, name, verbose, bar
            ):
                converged = True
                break
    return SolverResult(x, epoch, history, converged)


def sgd_blocks(
    block_batches,
    x0,
    n_blocks,
    *,
    batch_size=256,
    max_iter=100,
    learning_rate=0.01,
    method="adam",
    optimizer=None,
    project=None,
    tol=1e-4,
    n_iter_no_change=5,
    random_state=None,
    callback=None,
    verbose=0,
    name="sgd",
):
    """Minibatch stochastic optimisation over constraints that come in blocks.

    For constraints too many to hold at once (drawn from data that do not
    fit in memory): each epoch visits the ``n_blocks`` blocks once, in a
    shuffled order, and builds the constraints of a block only when it
    reaches it, by calling ``block_batches(i, x)``; it then takes one
    optimizer step per minibatch of that block's constraints, shuffled.
    Only the current block's constraints are held. Stopping follows
    :func:`sgd`: the epoch objective is the mean minibatch objective over
    all the epoch's constraints.

    Parameters
    ----------
    block_batches : callable
        ``block_batches(i, x) -> (func_batch, n_samples)``: the constraints
        of block ``i`` (``0 <= i < n_blocks``), ``func_batch(x, indices)``
        giving their objective and gradient as for :func:`sgd`. It receives
        the current point, so a block may choose its constraints under the
        metric learned so far. ``n_samples == 0`` skips the block.
    x0 : array-like
        Starting point. Not modified.
    n_blocks : int
        Number of blocks.
    batch_size : int, default=256
        Constraints per minibatch; a block's last minibatch may be smaller.
    max_iter : int, default=100
        Maximum number of epochs (passes over the blocks).
    learning_rate, method, optimizer, project, tol, n_iter_no_change, \
random_state, callback, verbose, name
        As for :func:`sgd`. ``random_state`` draws the order of the blocks
        and of the constraints within each block.

    Returns
    -------
    result : SolverResult
        As for :func:`sgd`.

    Examples
    --------
    Least squares over four blocks of rows, each built when visited:

    >>> import numpy as np
    >>> from mlearn.solvers import sgd_blocks
    >>> rng = np.random.RandomState(0)
    >>> A = rng.randn(400, 3); b = A @ np.array([1.0, -2.0, 0.5])
    >>> def block_batches(i, x):
    ...     Ai, bi = A[100 * i:100 * (i + 1)], b[100 * i:100 * (i + 1)]
    ...     def func_batch(w, idx):
    ...         r = Ai[idx] @ w - bi[idx]
    ...         return np.mean(r ** 2), 2 * Ai[idx].T @ r / len(idx)
    ...     return func_batch, len(bi)
    >>> result = sgd_blocks(block_batches, np.zeros(3), 4, batch_size=50,
    ...                     learning_rate=0.05, max_iter=200, random_state=0)
    >>> np.round(result.x, 2)
    array([ 1. , -2. ,  0.5])
    """
    n_blocks = _check_positive_int(n_blocks, "n_blocks")
    x, batch_size, max_iter, optimizer, rng, stop = _sgd_start(
        x0,
        batch_size,
        max_iter,
        n_iter_no_change,
        tol,
        optimizer,
        method,
        learning_rate,
        random_state,
        project,
    )
    history = []
    converged = False
    epoch = 0
    with _progress(max_iter, name, verbose) as bar:
        for epoch in range(1, max_iter + 1):
            total, count = 0.0, 0
            for i in rng.permutation(n_blocks):
                func_batch, n_samples = block_batches(int(i), x)
                if n_samples == 0:
                    continue
                x, block_total, first = _minibatch_pass(
                    func_batch, x, rng.permutation(n_samples), batch_size, optimizer, project
                )
                if not history:
                    history.append(first)
                    _report(name, verbose, f"epoch    0  objective {first:.8g}")
                total += block_total
                count += n_samples
            if count == 0:
                raise ValueError(f"none of the {n_blocks} blocks holds a constraint")
            if _epoch_done(total / count, epoch, x, history, stop, callback, name, verbose, bar):
                converged = True
                break
    return SolverResult(x, epoch, history, converged)


def _sgd_start(
    x0,
    batch_size,
    max_iter,
    n_iter_no_change,
    tol,
    optimizer,
    method,
    learning_rate,
    random_state,
    project,
):
    """What ``sgd`` and ``sgd_blocks`` start from: ``(x, batch_size,
    max_iter, optimizer, rng, stop)``, the settings checked and ``x0``
    projected."""
    batch_size = _check_positive_int(batch_size, "batch_size")
    max_iter = _check_positive_int(max_iter, "max_iter")
    n_iter_no_change = _check_positive_int(n_iter_no_change, "n_iter_no_change")
    stop = _EarlyStopping(_check_nonnegative_float(tol, "tol"), n_iter_no_change)
    optimizer = _optimizer(optimizer, method, learning_rate)
    rng = check_random_state(random_state)
    x = np.array(x0, dtype=np.float64)
    if project is not None:
        x = np.asarray(project(x), dtype=np.float64)
    return x, batch_size, max_iter, optimizer, rng, stop


def _epoch_done(value, epoch, x, history, stop, callback, name, verbose, bar):
    """Record an epoch's objective ``value`` (printed when ``verbose``,
    reported to the progress ``bar``); whether to stop there (the callback
    says so, or the objective no longer improves)."""
    history.append(value)
    _report(name, verbose, f"epoch {epoch:4d}  objective {value:.8g}")
    bar.update(1, objective=value)
    if callback is not None and callback(epoch, x, value):
        return True
    return stop.update(value)


def _optimizer(optimizer, method, learning_rate):
    """``optimizer``, or a new one of ``method`` with ``learning_rate``."""
    if optimizer is not None:
        return optimizer
    if method == "adam":
        return Adam(learning_rate)
    if method == "momentum":
        return Momentum(learning_rate)
    raise ValueError(f"method must be 'adam' or 'momentum', got {method!r}")


class _EarlyStopping:
    """Stop once an epoch's objective has not improved by ``tol`` for ``patience`` epochs."""

    def __init__(self, tol, patience):
        self.tol = tol
        self.patience = patience
        self.best = np.inf
        self.no_improvement = 0

    def update(self, value):
        """Record an epoch's objective; True when the solver should stop."""
        if not np.isfinite(self.best) or value < self.best - self.tol * abs(self.best):
            self.no_improvement = 0
        else:
            self.no_improvement += 1
        self.best = min(self.best, value)
        return self.no_improvement >= self.patience


def _minibatch_pass(func_batch, x, order, batch_size, optimizer, project):
    """One optimizer step per minibatch of ``order``.

    Returns the new point, the sum over minibatches of ``value * size``
    and the value of the first minibatch (at the starting point).
    """
    total, first = 0.0, None
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        value, grad = _call(lambda z, batch=batch: func_batch(z, batch), x)
        if first is None:
            first = value
        total += value * len(batch)
        x = optimizer.step(x, grad)
        if project is not None:
            x = np.asarray(project(x), dtype=np.float64)
    return x, total, first
