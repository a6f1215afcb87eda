"""The general metric learner: a regularised loss over pairs, triplets and quadruplets.

    M* = argmin_{M ⪰ 0}  a_P · L_P(M; S, D) + a_R · L_R(M; R) + alpha · Reg(M)

with ``S``/``D`` must-link and cannot-link pairs, ``R`` relative constraints
and ``Reg`` a regulariser; the pieces live in :mod:`mlearn.objectives` and the
solvers in :mod:`mlearn.solvers`. Four estimators share the machinery:

- :class:`PairsMetricLearner` learns from labelled pairs (a pairs classifier);
- :class:`TripletsMetricLearner` from triplets ``(a, p, n)``;
- :class:`QuadrupletsMetricLearner` from quadruplets ``(a, b, c, e)``;
- :class:`MetricLearner` from points and labels (or a continuous target),
  generating the constraints itself.
"""

import warnings
from numbers import Integral, Real
from typing import Any, cast

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import type_of_target

from .._docstrings import fill_doc, format_doc
from .._sklearn_compat import Interval, StrOptions, _fit_context
from .._validation import (
    check_calibration_params,
    check_n_components,
    check_pair_labels,
    check_preprocessor,
    check_weights,
    is_dask_array,
    user_stacklevel,
)
from ..base import (
    BaseMetricLearner,
    MahalanobisMixin,
    PairsClassifierMixin,
    QuadrupletsClassifierMixin,
    TripletsClassifierMixin,
    _best_threshold,
)
from ..constraints import Constraints
from ..linalg import (
    components_from_metric,
    initialize_components,
    metric_from_components,
    power_of_two_scale,
    project_psd,
)
from ..objectives import PAIR_LOSSES, REGULARIZERS, RELATIVE_LOSSES, MetricObjective

# the unvalidated entry: the learner has checked its arguments
from ..pairwise._api import _kneighbors as kneighbors
from ..solvers import (
    Adam,
    SolverResult,
    lbfgs_on_components,
    projected_gradient,
    sgd,
    sgd_blocks,
)
from . import _streaming
from ._doc_pieces import fill_pieces
from ._dtypes import fitted_components
from ._scaling import (
    FEATURE_SCALING_CONSTRAINT,
    FeatureScalingMixin,
    map_to_fitted_units,
    metric_to_fitted_units,
    statistics_from_summaries,
)

__all__ = [
    "MetricLearner",
    "PairsMetricLearner",
    "QuadrupletsMetricLearner",
    "TripletsMetricLearner",
]

#: Each solver's name and the method of :class:`_GeneralMixin` that runs it.
_SOLVER_METHODS = {"pgd": "_solve_pgd", "lbfgs": "_solve_lbfgs", "sgd": "_solve_sgd"}
SOLVERS = tuple(_SOLVER_METHODS)
INITS = ("auto", "identity", "covariance", "random", "pca", "lda")

_COMMON_CONSTRAINTS = {
    **BaseMetricLearner._parameter_constraints,
    "margin": [Interval(Real, 0, None, closed="neither"), None],
    "regularizer": [StrOptions(set(REGULARIZERS)), None],
    "alpha": [Interval(Real, 0, None, closed="left")],
    "init": [StrOptions(set(INITS)), "array-like"],
    "n_components": [Interval(Integral, 1, None, closed="left"), None],
    "solver": [StrOptions(set(SOLVERS))],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "tol": [Interval(Real, 0, None, closed="left")],
    "learning_rate": [Interval(Real, 0, None, closed="neither")],
    "batch_size": [Interval(Integral, 1, None, closed="left")],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}


#: With the LogDet regulariser, projected gradient keeps every eigenvalue of
#: M at least this fraction of the largest.
LOGDET_FLOOR = 1e-10


class _GeneralMixin:
    """Initialisation, solver dispatch and fitted state shared by the four learners."""

    def _initial_components(self, X, y, random_state, scale=1.0):
        """``L`` to start from, for points ``X`` already divided by ``scale``
        (an ``init`` array, in data units, is multiplied by it)."""
        init = map_to_fitted_units(self.init, scale)
        n_features = X.shape[1]
        if isinstance(init, str) and init == "auto":
            if self.n_components is None or self.n_components == n_features:
                init = "identity"
            else:
                init = "pca"
        L = initialize_components(
            init, X, y, n_components=self.n_components, random_state=random_state
        )
        if self.n_components is not None and L.shape[0] != self.n_components:
            raise ValueError(f"init has {L.shape[0]} rows but n_components={self.n_components}")
        return L

    def _check_solver_options(self, n_features):
        low_rank = self.n_components is not None and self.n_components < n_features
        if self.regularizer == "logdet" and low_rank and self.alpha > 0:
            raise ValueError(
                "regularizer='logdet' needs a full-rank metric; use n_components=None "
                f"(or {n_features})"
            )
        check_n_components(self.n_components, n_features)

    def _solve(self, objective, L0, *, random_state, max_iter=None, learn_threshold=False):
        """Minimise ``objective`` from ``L0``; returns ``(L, threshold, result)``.

        ``result`` is the solver's :class:`~mlearn.solvers.SolverResult`
        (its ``x`` packed as the solver needs it).
        """
        solve = getattr(self, _SOLVER_METHODS[self.solver])
        max_iter = self.max_iter if max_iter is None else max_iter
        try:
            return solve(
                objective,
                L0,
                random_state=random_state,
                max_iter=max_iter,
                learn_threshold=learn_threshold,
            )
        except np.linalg.LinAlgError as exc:
            # the data were brought into range before, so only a metric that
            # grew past float64's range can make an eigen-decomposition fail
            raise ValueError(
                f"{type(self).__name__}'s solver {self.solver!r} failed: the metric's "
                f"eigen-decomposition did not converge ({exc}), its entries having "
                "overflowed; increase alpha or use solver='lbfgs'"
            ) from None

    def _solve_pgd(self, objective, L0, *, random_state, max_iter, learn_threshold):
        """Projected gradient on ``M`` (and the threshold), then the best rank-k ``L``."""
        n_components, n_features = L0.shape
        M0 = metric_from_components(L0)
        # a LogDet term is infinite on the cone's boundary: project into its
        # interior (e.g. a warm start whose smallest eigenvalues round to zero)
        floor = LOGDET_FLOOR if self.regularizer == "logdet" and self.alpha > 0 else 0.0

        def project_M(M):
            return project_psd(M, floor=floor)

        def project_packed(x):
            M = project_M(x[:-1].reshape(n_features, n_features))
            return np.append(M.ravel(), x[-1])

        options = {
            "max_iter": max_iter,
            "tol": self.tol,
            "verbose": self.verbose,
            "name": type(self).__name__,
        }
        if learn_threshold:
            result = projected_gradient(
                objective.packed_M,
                np.append(M0.ravel(), objective.threshold),
                project=project_packed,
                **options,
            )
        else:
            result = projected_gradient(
                objective.value_and_grad_M, M0, project=project_M, **options
            )
        M, threshold = _unpack(
            result.x.ravel(), (n_features, n_features), objective.threshold, learn_threshold
        )
        return components_from_metric(M, n_components, check_psd=False), threshold, result

    def _solve_lbfgs(self, objective, L0, *, random_state, max_iter, learn_threshold):
        """L-BFGS on ``L`` (and the threshold)."""
        func = objective.value_and_grad_L
        if learn_threshold:

            def func(x):
                value, grad = objective.packed_L(x.ravel(), L0.shape[0])
                return value, grad.reshape(x.shape)

        x0 = np.append(L0.ravel(), objective.threshold)[None, :] if learn_threshold else L0
        result = lbfgs_on_components(
            func,
            x0,
            max_iter=max_iter,
            tol=self.tol,
            verbose=self.verbose,
            name=type(self).__name__,
        )
        L, threshold = _unpack(result.x.ravel(), L0.shape, objective.threshold, learn_threshold)
        return L, threshold, result

    def _solve_sgd(
        self, objective, L0, *, random_state, max_iter, learn_threshold, optimizer=None
    ):
        """Minibatch Adam on ``L`` (and the threshold); ``optimizer`` continues a former one."""
        x0 = np.append(L0.ravel(), objective.threshold) if learn_threshold else L0.ravel()
        if optimizer is None:
            optimizer = self._new_optimizer(L0)
        result = sgd(
            _batch_function(objective, L0.shape, learn_threshold),
            x0,
            _n_constraints(objective),
            batch_size=self.batch_size,
            max_iter=max_iter,
            optimizer=optimizer,
            tol=self.tol,
            random_state=random_state,
            verbose=self.verbose,
            name=type(self).__name__,
        )
        self._optimizer = optimizer
        return (*_unpack(result.x, L0.shape, objective.threshold, learn_threshold), result)

    def _new_optimizer(self, L0):
        # the learning rate is relative to the scale of the starting map
        return Adam(self.learning_rate * max(float(np.abs(L0).max()), 1e-12))

    def _stream_sgd(
        self, block_objective, n_blocks, L0, threshold, *, random_state, learn_threshold
    ):
        """Minibatch Adam on constraints built block by block: ``(L, threshold, result)``.

        ``block_objective(i, L)`` is the objective of block ``i``'s constraints
        (None when it has none), built under the map ``L`` learned so far.
        """
        shape = L0.shape

        def block_batches(i, x):
            objective = block_objective(i, x[: L0.size].reshape(shape))
            if objective is None:
                return None, 0
            return _batch_function(objective, shape, learn_threshold), _n_constraints(objective)

        x0 = np.append(L0.ravel(), threshold) if learn_threshold else L0.ravel()
        optimizer = self._new_optimizer(L0)
        result = sgd_blocks(
            block_batches,
            x0,
            n_blocks,
            batch_size=self.batch_size,
            max_iter=self.max_iter,
            optimizer=optimizer,
            tol=self.tol,
            random_state=random_state,
            verbose=self.verbose,
            name=type(self).__name__,
        )
        self._optimizer = optimizer
        return (*_unpack(result.x, shape, threshold, learn_threshold), result)

    def _init_needs_moments(self, n_features):
        """Whether the start of a streamed fit needs the data's mean and covariance."""
        init = self.init
        if not isinstance(init, str):
            return False
        if init == "auto":
            return self.n_components is not None and self.n_components < n_features
        return init in ("pca", "covariance")

    def _streamed_components(self, moments, n_features, random_state, scale, center=0.0):
        """``L`` to start a streamed fit from, for the data ``(X - center) / scale``."""
        init = self.init
        if isinstance(init, str) and init == "lda":
            raise ValueError(
                f"{type(self).__name__} cannot start a streamed fit (dask input) from "
                "init='lda', which needs all points at once; use 'identity', 'pca', "
                "'covariance', 'random' or an array"
            )
        if self._init_needs_moments(n_features):
            if isinstance(init, str) and init == "auto":
                init = "pca"
            n, mean, scatter = moments
            # the moments are those of the data as given
            L = _streaming.moments_init(
                init,
                (n, (mean - center) / scale, metric_to_fitted_units(scatter, 1.0 / scale)),
                self.n_components,
            )
        else:
            L = self._initial_components(np.zeros((1, n_features)), None, random_state, scale)
        if self.n_components is not None and L.shape[0] != self.n_components:
            raise ValueError(f"init has {L.shape[0]} rows but n_components={self.n_components}")
        return L

    def _set_fitted(self, L, result, dtype):
        """Keep ``L`` in the data's ``dtype``, and the solver's iterations.

        Warns about a zero metric or no convergence.
        """
        if not np.any(L):
            warnings.warn(
                f"{type(self).__name__} learned the zero metric: every point is at "
                "distance 0 from every other, which carries no information. The "
                "constraints may pull harder than they push (check them, lower alpha "
                "or use another regularizer).",
                UserWarning,
                stacklevel=user_stacklevel(),
            )
        self.components_ = fitted_components(L, dtype)
        what = "epochs" if self.solver == "sgd" else "iterations"
        self._record_solve(result.n_iter, result.history, result.converged, what=what)


def _satisfiable(tuples, sample_weight, name):
    """Triplets or quadruplets without those no metric can satisfy, and their weights.

    The far pair of a triplet ``(a, p, n)`` is ``(a, n)``, of a quadruplet
    ``(a, b, c, e)`` it is ``(c, e)``; when its two points are identical,
    ``d_far = 0`` under every metric, so ``margin + d_near - d_far`` stays
    positive and the constraint only pulls the metric towards zero. Those are
    left out with a warning; none left is an error.
    """
    same = _streaming.unsatisfiable(tuples)
    if not same.any():
        return tuples, sample_weight
    kind = "triplets" if tuples.shape[1] == 3 else "quadruplets"
    _warn_unsatisfiable(name, kind, int(same.sum()), len(tuples))
    keep = ~same
    return tuples[keep], None if sample_weight is None else sample_weight[keep]


def _warn_unsatisfiable(name, kind, n_same, n):
    """Warn that ``n_same`` of ``n`` tuples cannot be satisfied; raise when all of them."""
    what = "the anchor and the negative" if kind == "triplets" else "the third and fourth points"
    if n_same == n:
        raise ValueError(
            f"{name} cannot learn from these {kind}: in all {n} of them "
            f"{what} are identical points, at distance 0 under every metric, so none "
            "can be satisfied"
        )
    warnings.warn(
        f"{name}: in {n_same} of {n} {kind} {what} are identical "
        "points, at distance 0 under every metric, so no metric satisfies them; they "
        "are left out",
        UserWarning,
        stacklevel=user_stacklevel(),
    )


def _check_summaries(summaries, name, n_features, minimum):
    """Total count and number of features of a streamed input, from its blocks' summaries."""
    n = sum(part["n"] for part in summaries)
    if n < minimum:
        raise ValueError(f"{name} holds {n} sample(s), while a minimum of {minimum} is required")
    found = {part["n_features"] for part in summaries if part["n"]}
    if n_features is None and len(found) > 1:
        raise ValueError(f"{name} has blocks with different numbers of features: {sorted(found)}")
    n_features = found.pop() if n_features is None else n_features
    if n_features < 1:
        raise ValueError(f"{name} must have at least one feature, got 0")
    return n, n_features


def _tuple_distances(
    tuples,
    y,
    weights,
    *,
    seed,
    components,
    scale,
    rate,
    tuple_size,
    preprocessor,
    n_features,
    with_labels,
):
    """A sample of one block's constrained squared distances under ``components``.

    Run on the workers by a streamed fit, for the margin and thresholds:
    the pairs' distances, or the near and the far pairs' of each satisfiable
    triplet or quadruplet, for the tuples divided by ``scale``.
    """
    tuples, _, _ = _streaming.tuples_block(
        tuples,
        y,
        weights,
        tuple_size=tuple_size,
        preprocessor=preprocessor,
        n_features=n_features,
        with_labels=with_labels,
    )
    tuples = tuples[~_streaming.unsatisfiable(tuples)] / scale
    if tuple_size == 2:
        diffs = tuples[:, 0] - tuples[:, 1]
    else:
        first, second = (0, 2) if tuple_size == 3 else (2, 3)
        diffs = np.vstack([tuples[:, 0] - tuples[:, 1], tuples[:, first] - tuples[:, second]])
    Z = diffs @ components.T
    return _streaming.sample(np.einsum("ij,ij->i", Z, Z), rate, seed)


def _pair_distances(
    pairs, y, weights, *, learner, tuple_size, preprocessor, n_features, with_labels
):
    """One block's learned pair distances and labels (run on the workers)."""
    pairs, y, _ = _streaming.tuples_block(
        pairs,
        y,
        weights,
        tuple_size=tuple_size,
        preprocessor=preprocessor,
        n_features=n_features,
        with_labels=with_labels,
    )
    if not len(pairs):
        return np.zeros(0), np.zeros(0, dtype=y.dtype)
    return learner.pair_distance(pairs), y


def _auto_margin(d):
    """The default margin: the median of the positive squared distances ``d`` (1 if none)."""
    d = d[d > 0]
    return float(np.median(d)) if len(d) else 1.0


def _flat(value_grad):
    value, grad = value_grad
    return value, np.ravel(grad)


def _n_constraints(objective):
    return len(objective.pair_index) + len(objective.near_index)


def _batch_function(objective, shape, learn_threshold):
    """``func(x, rows)``: value and flat gradient of ``objective`` on constraints ``rows``.

    Rows below the number of pairs are pairs, the others relative
    constraints; ``x`` is ``L.ravel()``, followed by the threshold when it
    is learned.
    """
    n_pairs = len(objective.pair_index)

    def func(x, rows):
        rows = np.sort(rows)
        sub = objective.subset(rows[rows < n_pairs], rows[rows >= n_pairs] - n_pairs)
        if learn_threshold:
            return _flat(sub.packed_L(x, shape[0]))
        return _flat(sub.value_and_grad_L(x.reshape(shape)))

    return func


def _unpack(x, shape, threshold, learn_threshold):
    """``(L, threshold)`` from the solver's flat ``x``."""
    if learn_threshold:
        return x[:-1].reshape(shape), float(x[-1])
    return x.reshape(shape), threshold


_SHARED_PARAMS_TEMPLATE = """\
regularizer : {'fro', 'trace', 'logdet', 'l1'} or None, default='fro'
    ``Reg(M)``: 'fro' is ``||M - M0||²_F``, 'trace' is ``tr(M)`` (low
    rank), 'logdet' the LogDet divergence to ``M0`` (needs a full-rank
    metric), 'l1' the off-diagonal ℓ1 norm (sparse M). ``M0`` is the
    metric of ``init``.
alpha : float, default=0.01
    Weight of the regulariser.
init : {'auto', 'identity', 'covariance', 'random', 'pca', 'lda'} or \
array-like of shape (n_components, n_features), default='auto'
    Starting linear map ``L`` (and ``M0 = L.T @ L``), see
    :func:`mlearn.linalg.initialize_components`. 'auto' is 'identity'
    for a full-rank metric and 'pca' for a smaller n_components.
n_components : int, default=None
    Rows of ``components_``; None keeps n_features. With 'pgd' the
    full matrix is learned and its best rank-n_components approximation
    kept; 'lbfgs' and 'sgd' learn the low-rank map directly.
solver : {'pgd', 'lbfgs', 'sgd'}, default='pgd'
    'pgd': projected gradient on ``M`` with backtracking
    (:func:`mlearn.solvers.projected_gradient`); 'lbfgs': L-BFGS on
    ``L`` (:func:`mlearn.solvers.lbfgs_on_components`); 'sgd': minibatch
    Adam on ``L`` (:func:`mlearn.solvers.sgd`), which also streams dask
    input block by block (:func:`mlearn.solvers.sgd_blocks`).
max_iter : int, default={max_iter}
    Maximum iterations ('pgd', 'lbfgs') or epochs ('sgd'; of each call
    of ``partial_fit``).
tol : float, default={tol}
    Relative decrease of the objective under which the solver stops.
learning_rate : float, default=0.01
    Step of 'sgd', relative to the largest entry of the starting map.
batch_size : int, default=256
    Constraints per minibatch of 'sgd'.
random_state : int, RandomState instance or None, default=None
    Seeds 'random' init, constraint sampling and 'sgd' shuffling.
verbose : bool or int, default=False
    Print the objective at each iteration.
preprocessor : array-like of shape (n_samples, n_features), callable or None, \
default=None
    Lets tuples (or points) be given as indices."""

#: The parameters every general learner has, with the tuple learners' defaults.
_SHARED_PARAMS_DOC = format_doc(_SHARED_PARAMS_TEMPLATE, max_iter="1000", tol="1e-6")

_ATTRIBUTES_DOC = """\
components_ : ndarray of shape (n_components, n_features)
    The learned linear map L; ``M = L.T @ L``.
n_iter_ : int
    Iterations (epochs for 'sgd', summed over the calls of
    ``partial_fit``) of the solver.
objective_history_ : list of float
    The objective at the start and after each iteration (of the
    rescaled data when they were rescaled, see Notes).
n_features_in_ : int
    Number of features seen in ``fit``."""

_SCALE_NOTES_DOC = """\
Notes
-----
The margin and the identity prior fix a scale, so the learned metric
depends on the scale of the data. Data whose largest magnitude lies
outside ``[2**-100, 2**100]`` are fitted divided by a power of two ``s``
that brings it into ``[0.5, 1)`` (exactly; an ``init`` array is
multiplied by ``s``), and ``components_`` is divided by ``s``: squared
distances under the learned metric, and so ``margin_`` and the
thresholds, are the same for the data as given and as fitted. A learned
metric that is zero carries no information and is warned about."""

_LABEL_SCALE_NOTES_DOC = """\
Notes
-----
The margin and the identity prior fix a scale, so the objective depends on
the units of the features. With ``feature_scaling`` set (the default,
'range') the constraints are built, and the metric learned, on the
features centred and divided by their spreads ``s``: the identity prior is
``diag(1 / s**2)`` in the data's units, and ``fit(X @ D)`` for a positive
diagonal ``D`` (other units, a min-max or standard scaler) learns the same
neighbourhoods as ``fit(X)``. A streamed fit takes the means and spreads
from its first reduction. With ``feature_scaling=None``, data whose largest
magnitude lies outside ``[2**-100, 2**100]`` are fitted divided by a power
of two ``s`` that brings it into ``[0.5, 1)`` (exactly; an ``init`` array
is multiplied by ``s``), and ``components_`` is divided by ``s``. Either
way squared distances under the learned metric, and so ``margin_``, are
the same for the data as given and as fitted. A learned metric that is
zero carries no information and is warned about."""

_STREAM_DOC = """\
With ``solver='sgd'``, a dask array is streamed rather than loaded:
two reductions on the workers compute what the fit needs from all
of it (size, scale and the moments behind init='pca' or
'covariance', then the margin and thresholds from a sample of at
most about 100,000 squared distances under ``init``; init='lda' is
refused), then each epoch computes its row blocks one at a time, in
a shuffled order, and takes minibatch steps on each block's
constraints, so that at most one block is in memory (see the user
guide, "Learning from a stream"). Labels and weights may be dask arrays (rechunked
to the rows' blocks) or in memory. With a preprocessor the tuples
may be a dask array of identifiers, mapped to points block by
block; the preprocessor itself must be in memory (or a callable
that loads points). Other solvers load a dask array into memory,
within ``mlearn.get_config()["materialise_budget"]``."""

_PARTIAL_FIT_TEMPLATE = """\
The first call initialises the learner as :meth:`fit` does (one
call on all the data is :meth:`fit` with ``solver='sgd'``). Each
call runs minibatch epochs over its own {kind} until their
objective stops improving, as :meth:`fit` does (at most
``max_iter``), continuing the optimizer's state; the map kept is
the mean of the calls' maps weighted by their numbers of {kind},
and the next call starts from it. A stream of calls thus
approaches :meth:`fit` on everything seen (see the user guide,
"Learning from a stream", for how close on digits). A dask
array is streamed: each of its row blocks is one call."""

_RELATIVE_NOTES_DOC = (
    _SCALE_NOTES_DOC
    + """

A constraint whose far pair is one point twice (a triplet's negative at
its anchor, a quadruplet's last two points equal) has ``d_far = 0`` under
every metric and can never be satisfied: such constraints are left out
with a warning, and none left is an error."""
)


class _TupleMetricLearner(_GeneralMixin, MahalanobisMixin, BaseMetricLearner):
    """Shared ``fit`` / ``partial_fit`` of the tuple learners."""

    _default_loss = None
    _losses = ()

    def _build_objective(self, tuples, y, sample_weight, L0, reset):
        raise NotImplementedError

    def _set_distance_scales(self, d):
        """Set ``margin_`` (and the thresholds) from the squared distances ``d`` under the start.

        ``d`` holds the constrained pairs' squared distances (a sample of
        them in a streamed fit); the margin is the median of the positive
        ones.
        """
        self.margin_ = self.margin if self.margin is not None else _auto_margin(d)

    def _learns_threshold(self):
        return False

    def _fit_tuples(self, tuples, y, sample_weight, *, partial):
        if self.solver == "sgd" and is_dask_array(tuples):
            if partial:
                return self._partial_fit_blocks(tuples, y, sample_weight)
            return self._fit_stream(tuples, y, sample_weight)
        reset = not (partial and hasattr(self, "components_"))
        tuples = self._prepare_tuples(tuples, reset=reset)
        if y is not None or self._input_kind == "pairs":
            y = check_pair_labels(y, len(tuples))
        sample_weight = check_weights(
            sample_weight, len(tuples), "sample_weight", what=self._input_kind[:-1]
        )
        if self._input_kind != "pairs":
            tuples, sample_weight = _satisfiable(tuples, sample_weight, type(self).__name__)
        n_features = tuples.shape[2]
        self._check_solver_options(n_features)
        if partial and self.solver != "sgd":
            raise ValueError(f"partial_fit needs solver='sgd', got solver={self.solver!r}")
        if reset:
            # tuples beyond 2**±100 are fitted at a power-of-two scale (exact),
            # so that no squared distance overflows or underflows; later
            # partial fits keep the first one's scale
            self._fit_scale = power_of_two_scale(tuples)
        scale = self._fit_scale
        fitted = tuples / scale if scale != 1.0 else tuples
        if reset:
            random_state = check_random_state(self.random_state)
            points = np.unique(fitted.reshape(-1, n_features), axis=0).astype(np.float64)
            L0 = self._initial_components(points, None, random_state, scale)
            self.random_state_ = random_state
        else:
            random_state = self.random_state_
            # a float32 model resumes in float64, as every fit computes
            L0 = self.components_.astype(np.float64) * scale
        objective, learn_threshold = self._build_objective(fitted, y, sample_weight, L0, reset)
        if partial:
            L, threshold, result = self._partial_step(
                objective,
                L0,
                random_state=random_state,
                learn_threshold=learn_threshold,
                reset=reset,
            )
        else:
            L, threshold, result = self._solve(
                objective, L0, random_state=random_state, learn_threshold=learn_threshold
            )
            # later partial fits average with this fit, weighted by its constraints
            self._n_constraints_seen = _n_constraints(objective)
        self._set_fitted(L / scale, result, tuples.dtype)
        self._after_fit(objective, threshold, tuples, y)
        return self

    def _partial_step(self, objective, L0, *, random_state, learn_threshold, reset):
        """One ``partial_fit`` call: fit the call's constraints from the current map, then average.

        The call runs epochs over its own constraints until their objective
        stops improving (the stopping rule of ``fit``, at most ``max_iter``),
        continuing the optimizer's state. The map kept is the mean of the
        calls' results weighted by their numbers of constraints, and the
        next call starts from it, so that a stream of calls approaches
        ``fit`` on all the constraints seen rather than the last call's.
        """
        optimizer = None if reset else getattr(self, "_optimizer", None)
        L, threshold, result = self._solve_sgd(
            objective,
            L0,
            random_state=random_state,
            max_iter=self.max_iter,
            learn_threshold=learn_threshold,
            optimizer=optimizer,
        )
        n_new = _n_constraints(objective)
        n_seen = 0 if reset else getattr(self, "_n_constraints_seen", 0)
        weight = n_new / (n_seen + n_new)
        L = L0 + weight * (L - L0)
        threshold = objective.threshold + weight * (threshold - objective.threshold)
        self._n_constraints_seen = n_seen + n_new
        if not reset:
            result = result._replace(
                n_iter=self.n_iter_ + result.n_iter,
                history=self.objective_history_ + result.history[1:],
            )
        return L, threshold, result

    def _prior(self, L0, reset):
        """The prior ``M0`` of the objective, for the data as fitted.

        It is kept in those units for later partial fits; ``prior_metric_``
        holds it for the data as given (``M0 / scale**2``).
        """
        if reset:
            self._fitted_prior = metric_from_components(L0)
            scale = self._fit_scale
            self.prior_metric_ = self._fitted_prior / scale / scale
        return self._fitted_prior

    def _after_fit(self, objective, threshold, tuples, y):
        pass

    # -- dask input, streamed -------------------------------------------------------------

    def _blocks(self, tuples, y, sample_weight):
        """``tuples`` (a dask array) and what is aligned with them, as row blocks."""
        kind = self._input_kind
        size = self._tuple_size
        with_points = tuples.ndim == 3
        if (
            not (with_points or (tuples.ndim == 2 and self.preprocessor_ is not None))
            or tuples.shape[1] != size
        ):
            raise ValueError(
                f"{kind} must be a dask array of shape (n_{kind}, {size}, n_features) or, "
                f"with a preprocessor, (n_{kind}, {size}) identifiers; got shape "
                f"{tuples.shape}"
            )
        if kind == "pairs" and y is None:
            check_pair_labels(None, 0)
        return _streaming.RowBlocks(tuples, [y, sample_weight], names=[kind, "y", "sample_weight"])

    def _block_arguments(self, n_features):
        return {
            "tuple_size": self._tuple_size,
            "preprocessor": self.preprocessor_,
            "n_features": n_features,
            "with_labels": self._input_kind == "pairs",
        }

    def _partial_fit_blocks(self, tuples, y, sample_weight):
        """``partial_fit`` on each row block of a dask array in turn, one block in memory."""
        if not hasattr(self, "components_"):
            self.preprocessor_ = check_preprocessor(self.preprocessor)
        blocks = self._blocks(tuples, y, sample_weight)
        for i in range(len(blocks)):
            block, y_block, w_block = blocks.compute(i)
            if len(block):
                self._fit_tuples(block, y_block, w_block, partial=True)
        return self

    def _fit_stream(self, tuples, y, sample_weight):
        """``fit`` on a dask array of tuples, one block of it in memory at a time."""
        name = type(self).__name__
        kind = self._input_kind
        self.preprocessor_ = check_preprocessor(self.preprocessor)
        blocks = self._blocks(tuples, y, sample_weight)
        n_features = int(tuples.shape[2]) if tuples.ndim == 3 else None
        moments = n_features is None or self._init_needs_moments(n_features)
        summaries = blocks.reduce(
            _streaming.tuples_summary, moments=moments, **self._block_arguments(n_features)
        )
        n, n_features = _check_summaries(summaries, kind, n_features, minimum=1)
        self.n_features_in_ = n_features
        if hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self._check_solver_options(n_features)
        n_unsatisfiable = sum(part["n_unsatisfiable"] for part in summaries)
        if n_unsatisfiable:
            _warn_unsatisfiable(name, kind, n_unsatisfiable, n)
        scale = power_of_two_scale(np.array([max(part["max_abs"] for part in summaries)]))
        self._fit_scale = scale
        random_state = check_random_state(self.random_state)
        moments = (
            _streaming.merge_moments([p["moments"] for p in summaries])
            if self._init_needs_moments(n_features)
            else None
        )
        L0 = self._streamed_components(moments, n_features, random_state, scale)
        self.random_state_ = random_state
        self._prior(L0, reset=True)
        seeds = random_state.randint(np.iinfo(np.int32).max, size=len(blocks))
        samples = blocks.reduce(
            _tuple_distances,
            per_block={"seed": seeds},
            components=L0,
            scale=scale,
            rate=_streaming.sample_rate(2 * n),
            **self._block_arguments(n_features),
        )
        self._set_distance_scales(np.concatenate(samples))
        learn_threshold = self._learns_threshold()
        arguments = self._block_arguments(n_features)

        def block_objective(i, L):
            block, y_block, w_block = blocks.compute(i)
            block, y_block, w_block = _streaming.tuples_block(block, y_block, w_block, **arguments)
            keep = ~_streaming.unsatisfiable(block)
            if not keep.any():
                return None
            block = block[keep] / scale
            y_block = None if y_block is None else y_block[keep]
            w_block = None if w_block is None else w_block[keep]
            objective, _ = self._build_objective(block, y_block, w_block, L0, False)
            return objective

        threshold = getattr(self, "loss_threshold_", 1.0)
        L, threshold, result = self._stream_sgd(
            block_objective,
            len(blocks),
            L0,
            threshold,
            random_state=random_state,
            learn_threshold=learn_threshold,
        )
        self._set_fitted(L / scale, result, tuples.dtype)
        self._after_stream(blocks, threshold)
        self._n_constraints_seen = n - n_unsatisfiable
        return self

    def _after_stream(self, blocks, threshold):
        pass

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = self._input_kind == "pairs"
        return tags


@fill_doc(shared_params=_SHARED_PARAMS_DOC, attributes=_ATTRIBUTES_DOC, notes=_SCALE_NOTES_DOC)
class PairsMetricLearner(PairsClassifierMixin, _TupleMetricLearner):
    """Metric learning from must-link (+1) and cannot-link (-1) pairs.

    Minimises ``mean_i w_i ℓ(d_i, y_i) + alpha · Reg(M)`` over PSD ``M``,
    where ``d_i`` is the squared learned distance of pair ``i``; then
    calibrates the distance threshold of :meth:`predict` on the training
    pairs (see ``calibration_params`` of :meth:`fit`).

    Parameters
    ----------
    loss : {'contrastive', 'smooth_contrastive', 'hinge', 'logistic'}, \
default='logistic'
        The pair loss (see :mod:`mlearn.objectives`): 'contrastive' is ``d``
        for similar pairs and ``max(0, margin - d)`` for dissimilar ones;
        'smooth_contrastive' squares the hinge; 'hinge' is
        ``max(0, d - upper)`` / ``max(0, lower - d)``; 'logistic' is
        ``log(1 + exp(y (d - threshold)))``.
    margin : float, default=None
        Margin of the contrastive losses, in squared-distance units. None
        uses the median squared distance of the training pairs under
        ``init``.
    lower, upper : float, default=None
        Thresholds (squared distances) of 'hinge'. None uses the 95th and
        the 5th percentiles of the training pairs' squared distances under
        ``init`` (as ITML does).
    threshold : float, default=None
        ``b`` of 'logistic'; None learns it with the metric, starting from
        the median squared distance of the training pairs.
    {shared_params}

    Attributes
    ----------
    {attributes}
    threshold_ : float
        Distance under which (inclusive) a pair is predicted similar.
    loss_threshold_ : float
        The loss's threshold ``b`` ('logistic'), learned or given.
    classes_ : ndarray of shape (2,)
        ``[-1, 1]``.

    {notes}

    Examples
    --------
    >>> import numpy as np
    >>> from mlearn import PairsMetricLearner
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(60, 2) * [1.0, 10.0]              # the 2nd axis is noise
    >>> a, b = rng.randint(60, size=(2, 200))
    >>> y = np.where(np.abs(X[a, 0] - X[b, 0]) < 0.5, 1, -1)
    >>> learner = PairsMetricLearner(random_state=0).fit(np.stack([X[a], X[b]], axis=1), y)
    >>> M = learner.get_mahalanobis_matrix()
    >>> bool(M[0, 0] > 10 * M[1, 1])
    True
    """

    _parameter_constraints = {
        **_COMMON_CONSTRAINTS,
        "loss": [StrOptions(set(PAIR_LOSSES))],
        "lower": [Interval(Real, 0, None, closed="left"), None],
        "upper": [Interval(Real, 0, None, closed="left"), None],
        "threshold": [Interval(Real, None, None, closed="neither"), None],
    }

    def __init__(
        self,
        loss="logistic",
        margin=None,
        lower=None,
        upper=None,
        threshold=None,
        regularizer="fro",
        alpha=0.01,
        init="auto",
        n_components=None,
        solver="pgd",
        max_iter=1000,
        tol=1e-6,
        learning_rate=0.01,
        batch_size=256,
        random_state=None,
        verbose=False,
        preprocessor=None,
    ):
        self.loss = loss
        self.margin = margin
        self.lower = lower
        self.upper = upper
        self.threshold = threshold
        self.regularizer = regularizer
        self.alpha = alpha
        self.init = init
        self.n_components = n_components
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.random_state = random_state
        self.verbose = verbose
        super().__init__(preprocessor=preprocessor)

    def _build_objective(self, pairs, y, sample_weight, L0, reset):
        M0 = self._prior(L0, reset)
        objective = MetricObjective.from_tuples(
            pairs=pairs,
            y=y,
            pair_loss="contrastive",
            pair_weights=sample_weight,
            regularizer=self.regularizer,
            alpha=self.alpha,
            M0=M0,
        )
        if reset:
            # squared distances under the learned metric are the same for the
            # data as given and as fitted: margins and thresholds need no
            # rescaling
            self._set_distance_scales(objective.squared_distances(L=L0))
        objective.pair_loss = self.loss
        objective.margin = self.margin_
        objective.lower, objective.upper = self.lower_, self.upper_
        objective.threshold = self.loss_threshold_
        learn = self._learns_threshold()
        objective.learn_threshold = learn
        return objective, learn

    def _set_distance_scales(self, d):
        """Margin, hinge thresholds and logistic threshold from the pairs' squared distances."""
        median = _auto_margin(d)
        self.margin_ = median if self.margin is None else float(self.margin)
        self.lower_ = float(np.percentile(d, 95)) if self.lower is None else float(self.lower)
        self.upper_ = float(np.percentile(d, 5)) if self.upper is None else float(self.upper)
        self.loss_threshold_ = median if self.threshold is None else float(self.threshold)

    def _learns_threshold(self):
        return self.loss == "logistic" and self.threshold is None

    def _after_fit(self, objective, threshold, pairs, y):
        self.loss_threshold_ = float(threshold)
        self.calibrate_threshold(pairs, y, **self._calibration_params)

    def _after_stream(self, blocks, threshold):
        """Learned threshold, and ``threshold_`` calibrated on every training pair, streamed.

        The workers send back one distance and one label per pair, never
        the pairs.
        """
        self.loss_threshold_ = float(threshold)
        parts = blocks.reduce(
            _pair_distances, learner=self, **self._block_arguments(self.n_features_in_)
        )
        distances = np.concatenate([d for d, _ in parts])
        y = np.concatenate([labels for _, labels in parts])
        # calibration_params were checked by fit
        params = {"strategy": "accuracy", **self._calibration_params}
        self.threshold_ = _best_threshold(
            distances, y, params["strategy"], params.get("min_rate"), params.get("beta", 1.0)
        )
        self.classes_ = np.array([-1, 1])

    @_fit_context(prefer_skip_nested_validation=True)
    @fill_doc(stream=_STREAM_DOC)
    def fit(
        self,
        pairs: ArrayLike,
        y: ArrayLike,
        sample_weight: ArrayLike | None = None,
        calibration_params: dict[str, Any] | None = None,
    ) -> "PairsMetricLearner":
        """Learn the metric from labelled pairs.

        {stream} ``threshold_`` is calibrated on every training pair, from one
        distance and one label a pair sent back by the workers.

        Parameters
        ----------
        pairs : array-like or dask.array.Array of shape (n_pairs, 2, n_features) or (n_pairs, 2)
            Pairs of points, or of indices when a preprocessor is set.
        y : array-like or dask.array.Array of shape (n_pairs,)
            +1 for similar pairs, -1 for dissimilar ones.
        sample_weight : array-like or dask.array.Array of shape (n_pairs,), default=None
            Non-negative weight of each pair.
        calibration_params : dict, default=None
            Arguments of :meth:`calibrate_threshold` (``strategy``,
            ``min_rate``, ``beta``) used on the training pairs; None uses
            ``strategy='accuracy'``.

        Returns
        -------
        self : PairsMetricLearner

        Examples
        --------
        Pairs streamed from a dask array in 4 blocks:

        >>> import numpy as np
        >>> import dask.array as da
        >>> from mlearn import PairsMetricLearner
        >>> rng = np.random.RandomState(0)
        >>> X = rng.randn(100, 2) * [1.0, 10.0]             # the 2nd axis is noise
        >>> a, b = rng.randint(100, size=(2, 400))
        >>> y = np.where(np.abs(X[a, 0] - X[b, 0]) < 0.5, 1, -1)
        >>> pairs = da.from_array(np.stack([X[a], X[b]], axis=1), chunks=(100, 2, 2))
        >>> learner = PairsMetricLearner(solver="sgd", tol=1e-3, random_state=0).fit(pairs, y)
        >>> M = learner.get_mahalanobis_matrix()
        >>> bool(M[0, 0] > 10 * M[1, 1])
        True
        """
        self._calibration_params = check_calibration_params(calibration_params)
        return self._fit_tuples(pairs, y, sample_weight, partial=False)

    @fill_doc(partial_fit=format_doc(_PARTIAL_FIT_TEMPLATE, kind="pairs"))
    def partial_fit(
        self,
        pairs: ArrayLike,
        y: ArrayLike,
        sample_weight: ArrayLike | None = None,
        calibration_params: dict[str, Any] | None = None,
    ) -> "PairsMetricLearner":
        """Continue learning on new pairs (``solver='sgd'``).

        {partial_fit} ``threshold_`` is recalibrated on each call's pairs.

        Parameters
        ----------
        pairs, y, sample_weight, calibration_params
            As for :meth:`fit`.

        Returns
        -------
        self : PairsMetricLearner

        Examples
        --------
        >>> import numpy as np
        >>> from mlearn import PairsMetricLearner
        >>> rng = np.random.RandomState(0)
        >>> X = rng.randn(100, 2) * [1.0, 10.0]
        >>> learner = PairsMetricLearner(solver="sgd", tol=1e-3, random_state=0)
        >>> for _ in range(4):                                 # a stream of batches
        ...     a, b = rng.randint(100, size=(2, 100))
        ...     y = np.where(np.abs(X[a, 0] - X[b, 0]) < 0.5, 1, -1)
        ...     learner = learner.partial_fit(np.stack([X[a], X[b]], axis=1), y)
        >>> M = learner.get_mahalanobis_matrix()
        >>> bool(M[0, 0] > 10 * M[1, 1])
        True
        """
        self._validate_params()
        self._calibration_params = check_calibration_params(calibration_params)
        return self._fit_tuples(pairs, y, sample_weight, partial=True)


_RELATIVE_PARAMS_DOC = """\
loss : {'hinge', 'squared_hinge', 'softplus'}, default='squared_hinge'
    A function of ``z = margin + d_near - d_far``: ``max(0, z)``,
    ``max(0, z)² / (2 margin)`` or ``log(1 + exp(z))``.
margin : float, default=None
    In squared-distance units; None uses the median squared distance of
    the constrained pairs under ``init``."""

#: What the class docstrings of the relative-constraint learners share.
_RELATIVE_DOCS = {
    "relative_params": _RELATIVE_PARAMS_DOC,
    "shared_params": _SHARED_PARAMS_DOC,
    "attributes": _ATTRIBUTES_DOC,
    "notes": _RELATIVE_NOTES_DOC,
}


class _RelativeMetricLearner(_TupleMetricLearner):
    """Parameters, objective and fits of the triplet and quadruplet learners.

    A subclass names its tuples (``_input_kind``, ``_tuple_size``, set by its
    classifier mixin) and gives ``fit`` and ``partial_fit`` their argument
    name; the constraint ``(near pair, far pair)`` is the same for both.
    """

    _parameter_constraints = {
        **_COMMON_CONSTRAINTS,
        "loss": [StrOptions(set(RELATIVE_LOSSES))],
    }

    def __init__(
        self,
        loss="squared_hinge",
        margin=None,
        regularizer="fro",
        alpha=0.01,
        init="auto",
        n_components=None,
        solver="pgd",
        max_iter=1000,
        tol=1e-6,
        learning_rate=0.01,
        batch_size=256,
        random_state=None,
        verbose=False,
        preprocessor=None,
    ):
        self.loss = loss
        self.margin = margin
        self.regularizer = regularizer
        self.alpha = alpha
        self.init = init
        self.n_components = n_components
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.random_state = random_state
        self.verbose = verbose
        super().__init__(preprocessor=preprocessor)

    def _build_objective(self, tuples, y, sample_weight, L0, reset):
        M0 = self._prior(L0, reset)
        objective = MetricObjective.from_tuples(
            relative=tuples,
            relative_loss=self.loss,
            margin=1.0,
            relative_weights=sample_weight,
            regularizer=self.regularizer,
            alpha=self.alpha,
            M0=M0,
        )
        if reset:
            # squared distances under the learned metric are the same for the
            # data as given and as fitted: the margin needs no rescaling
            self._set_distance_scales(objective.squared_distances(L=L0))
        objective.margin = self.margin_
        return objective, False

    def _fit_relative(self, tuples, sample_weight, *, partial):
        if partial:
            self._validate_params()
        return self._fit_tuples(tuples, None, sample_weight, partial=partial)


@fill_doc(**_RELATIVE_DOCS)
class TripletsMetricLearner(TripletsClassifierMixin, _RelativeMetricLearner):
    """Metric learning from triplets ``(a, p, n)``: ``a`` is closer to ``p`` than to ``n``.

    Minimises ``mean_i w_i ℓ(margin + d(a_i, p_i) - d(a_i, n_i)) + alpha ·
    Reg(M)`` over PSD ``M`` (``d`` squared learned distances).

    Parameters
    ----------
    {relative_params}
    {shared_params}

    Attributes
    ----------
    {attributes}
    margin_ : float
        The margin used.

    {notes}

    Examples
    --------
    >>> import numpy as np
    >>> from mlearn import TripletsMetricLearner
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(50, 2) * [1.0, 10.0]
    >>> t = rng.randint(50, size=(300, 3))
    >>> t = t[(t[:, 0] != t[:, 1]) & (t[:, 0] != t[:, 2])]   # three distinct points
    >>> closer = np.abs(X[t[:, 0], 0] - X[t[:, 1], 0]) < np.abs(X[t[:, 0], 0] - X[t[:, 2], 0])
    >>> t[~closer] = t[~closer][:, [0, 2, 1]]          # orient by the first axis only
    >>> learner = TripletsMetricLearner().fit(X[t])
    >>> learner.score(X[t]) > 0.9
    True
    """

    @_fit_context(prefer_skip_nested_validation=True)
    @fill_doc(stream=_STREAM_DOC)
    def fit(
        self, triplets: ArrayLike, y: None = None, sample_weight: ArrayLike | None = None
    ) -> "TripletsMetricLearner":
        """Learn the metric from triplets.

        {stream}

        Parameters
        ----------
        triplets : array-like or dask.array.Array of shape (n_triplets, 3, n_features) \
or (n_triplets, 3)
            Triplets ``(a, p, n)`` of points, or of indices with a preprocessor.
        y : None
            Ignored.
        sample_weight : array-like or dask.array.Array of shape (n_triplets,), default=None

        Returns
        -------
        self : TripletsMetricLearner
        """
        return self._fit_relative(triplets, sample_weight, partial=False)

    @fill_doc(partial_fit=format_doc(_PARTIAL_FIT_TEMPLATE, kind="triplets"))
    def partial_fit(
        self, triplets: ArrayLike, y: None = None, sample_weight: ArrayLike | None = None
    ) -> "TripletsMetricLearner":
        """Continue learning on new triplets (``solver='sgd'``).

        {partial_fit}

        Parameters
        ----------
        triplets, y, sample_weight
            As for :meth:`fit`.

        Returns
        -------
        self : TripletsMetricLearner
        """
        return self._fit_relative(triplets, sample_weight, partial=True)


@fill_doc(**_RELATIVE_DOCS)
class QuadrupletsMetricLearner(QuadrupletsClassifierMixin, _RelativeMetricLearner):
    """Metric learning from quadruplets ``(a, b, c, e)``: ``d(a, b) < d(c, e)``.

    Minimises ``mean_i w_i ℓ(margin + d(a_i, b_i) - d(c_i, e_i)) + alpha ·
    Reg(M)`` over PSD ``M``; with 'hinge' this is the margin-ranking loss.

    Parameters
    ----------
    {relative_params}
    {shared_params}

    Attributes
    ----------
    {attributes}
    margin_ : float
        The margin used.

    {notes}

    Examples
    --------
    >>> import numpy as np
    >>> from mlearn import QuadrupletsMetricLearner
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(50, 2) * [1.0, 10.0]
    >>> q = rng.randint(50, size=(300, 4))
    >>> q = q[(q[:, 0] != q[:, 1]) & (q[:, 2] != q[:, 3])]   # two pairs of distinct points
    >>> gap = np.abs(X[q[:, 0], 0] - X[q[:, 1], 0]) - np.abs(X[q[:, 2], 0] - X[q[:, 3], 0])
    >>> q[gap > 0] = q[gap > 0][:, [2, 3, 0, 1]]
    >>> QuadrupletsMetricLearner().fit(X[q]).score(X[q]) > 0.9
    True
    """

    @_fit_context(prefer_skip_nested_validation=True)
    @fill_doc(stream=_STREAM_DOC)
    def fit(
        self, quadruplets: ArrayLike, y: None = None, sample_weight: ArrayLike | None = None
    ) -> "QuadrupletsMetricLearner":
        """Learn the metric from quadruplets.

        {stream}

        Parameters
        ----------
        quadruplets : array-like or dask.array.Array of shape (n, 4, n_features) or (n, 4)
            ``(a, b, c, e)`` meaning ``d(a, b) < d(c, e)``.
        y : None
            Ignored.
        sample_weight : array-like or dask.array.Array of shape (n,), default=None

        Returns
        -------
        self : QuadrupletsMetricLearner
        """
        return self._fit_relative(quadruplets, sample_weight, partial=False)

    @fill_doc(partial_fit=format_doc(_PARTIAL_FIT_TEMPLATE, kind="quadruplets"))
    def partial_fit(
        self, quadruplets: ArrayLike, y: None = None, sample_weight: ArrayLike | None = None
    ) -> "QuadrupletsMetricLearner":
        """Continue learning on new quadruplets (``solver='sgd'``).

        {partial_fit}

        Parameters
        ----------
        quadruplets, y, sample_weight
            As for :meth:`fit`.

        Returns
        -------
        self : QuadrupletsMetricLearner
        """
        return self._fit_relative(quadruplets, sample_weight, partial=True)


# -- the supervised learner ------------------------------------------------------------


@fill_doc(
    shared_params=format_doc(_SHARED_PARAMS_TEMPLATE, max_iter="300", tol="1e-5"),
    attributes=_ATTRIBUTES_DOC,
    notes=_LABEL_SCALE_NOTES_DOC,
)
@fill_pieces
class MetricLearner(
    _GeneralMixin, FeatureScalingMixin, MahalanobisMixin, TransformerMixin, BaseMetricLearner
):
    """Metric learning from labels (or a continuous target), with generated constraints.

    Builds must-link pairs ``S``, cannot-link pairs ``D`` and relative
    constraints ``R`` from ``y`` and minimises

        ``pairs_weight · mean_S,D ℓ_P + relative_weight · mean_R ℓ_R + alpha · Reg(M)``

    over PSD ``M``.

    - ``constraints='knn'`` (default): every point's ``k_genuine`` nearest
      same-class points are its target neighbours (``S``); its
      ``k_impostor`` nearest points of each other class under the current
      metric (or of any other class, ``impostors='nearest'``) are
      impostors (``D``), and each (point, target, impostor) is a triplet
      in ``R`` (as in LMNN). With ``n_rounds > 1`` impostors are searched
      again under the learned metric and the solve continues.
    - ``constraints='random'``: ``n_constraints`` random similar and
      dissimilar pairs and ``n_constraints`` random triplets.

    A continuous ``y`` (regression; see ``target_type``) gives relative
    constraints from target differences: point ``j`` should be closer to ``i`` than ``l`` is when
    ``|y_i - y_j| < |y_i - y_l|``. With 'knn', the target neighbours of a
    point are the ``k_genuine`` points of nearest target value among its
    ``3 k_genuine`` nearest neighbours, and its impostors are nearby points
    (under the current metric) whose target is farther than every target
    neighbour's.

    Parameters
    ----------
    constraints : {'knn', 'random'}, default='knn'
    target_type : {'auto', 'classes', 'continuous'}, default='auto'
        How ``y`` is read. 'auto' follows scikit-learn's ``type_of_target``:
        a target is continuous only when some value is not an integer, so
        an integer-valued regression target (counts, scores) needs
        'continuous'. 'auto' warns when it reads more classes than a quarter
        of the number of points.
    n_constraints : int, default=None
        Pairs of each kind and triplets drawn by 'random'; None draws
        ``20 * n_samples`` (at most 20000).
    k_genuine : int, default=5
        Target neighbours per point ('knn').
    k_impostor : int or None, default=None
        Impostors per point ('knn'): per other class with
        ``impostors='per_class'``, in all with 'nearest' and for a
        continuous target (taken there among the ``4 k_impostor`` nearest
        points). None uses 2 (per other class) for class labels and 10 for
        continuous targets; the user guide ("How the defaults were chosen")
        tells how they were chosen. Fewer impostors for a continuous
        target let the pull on the targets shrink the metric.
    impostors : {'per_class', 'nearest'}, default='per_class'
        Which other-class points are impostors ('knn', class labels):
        'per_class' takes the ``k_impostor`` nearest points of every other
        class, so that each competing class is represented (``k_impostor
        * (n_classes - 1)`` per point); 'nearest' takes the ``k_impostor``
        nearest points of any other class (as LMNN does), which keeps the
        count, and the cost, bounded when there are many classes. Both are
        the same for two classes. Not used for a continuous target.
    n_rounds : int, default=1
        Impostor searches ('knn'): the first under ``init``, each further
        one under the metric learned so far, followed by a warm-started
        solve. Impostors found in earlier rounds stay in the objective, so
        a round only adds constraints: a metric that brought back an
        earlier round's impostors would otherwise be free to keep them.
    pair_loss : {'contrastive', 'smooth_contrastive'}, default='smooth_contrastive'
        Loss of the pairs; see :class:`PairsMetricLearner`.
    relative_loss : {'hinge', 'squared_hinge', 'softplus'}, default='squared_hinge'
        Loss of the triplets; see :class:`TripletsMetricLearner`.
    pairs_weight : float, default=0.5
        ``a_P``, weight of the pair term (0 leaves pairs out).
    relative_weight : float, default=1.0
        ``a_R``, weight of the triplet term (0 leaves triplets out).
    margin : float, default=None
        Margin of the losses (squared-distance units); None uses the median
        squared distance of the target-neighbour (or similar) pairs under
        ``init``.
    {shared_params}
    {feature_scaling}

    Attributes
    ----------
    {attributes}
    {fitted_feature_scale}
    margin_ : float
        The margin used.
    n_constraints_ : dict
        Number of pairs and triplets in the last objective.
    target_type_ : str
        'continuous' for a regression target, otherwise 'binary' or
        'multiclass'.
    classes_ : ndarray
        The class labels (not set for a continuous target).

    {notes}

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.model_selection import cross_val_score
    >>> from mlearn import MetricLearner
    >>> X, y = load_iris(return_X_y=True)
    >>> pipe = make_pipeline(MetricLearner(random_state=0), KNeighborsClassifier(3))
    >>> cross_val_score(pipe, X, y, cv=3).mean() > 0.9
    np.True_

    Each iris point has 5 target neighbours and, by default, 2 impostors
    in each of the 2 other classes; 'nearest' takes them from any class:

    >>> MetricLearner(random_state=0).fit(X, y).n_constraints_
    {'pairs': 1350, 'triplets': 3000}
    >>> MetricLearner(impostors="nearest", k_impostor=8, random_state=0).fit(X, y).n_constraints_
    {'pairs': 1950, 'triplets': 6000}

    An integer-valued regression target is read as continuous only when
    asked:

    >>> import numpy as np
    >>> rng = np.random.RandomState(0)
    >>> Z = rng.randn(100, 3)
    >>> counts = np.round(5 * Z[:, 0]).astype(int)
    >>> MetricLearner(target_type="continuous", random_state=0).fit(Z, counts).target_type_
    'continuous'
    """

    _parameter_constraints = {
        **_COMMON_CONSTRAINTS,
        "constraints": [StrOptions({"knn", "random"})],
        "target_type": [StrOptions({"auto", "classes", "continuous"})],
        "n_constraints": [Interval(Integral, 1, None, closed="left"), None],
        "k_genuine": [Interval(Integral, 1, None, closed="left")],
        "k_impostor": [Interval(Integral, 1, None, closed="left"), None],
        "impostors": [StrOptions({"per_class", "nearest"})],
        "n_rounds": [Interval(Integral, 1, None, closed="left")],
        "pair_loss": [StrOptions(set(PAIR_LOSSES) - {"hinge", "logistic"})],
        "relative_loss": [StrOptions(set(RELATIVE_LOSSES))],
        "pairs_weight": [Interval(Real, 0, None, closed="left")],
        "relative_weight": [Interval(Real, 0, None, closed="left")],
        "feature_scaling": FEATURE_SCALING_CONSTRAINT,
    }

    def __init__(
        self,
        constraints="knn",
        target_type="auto",
        n_constraints=None,
        k_genuine=5,
        k_impostor=None,
        impostors="per_class",
        n_rounds=1,
        pair_loss="smooth_contrastive",
        relative_loss="squared_hinge",
        pairs_weight=0.5,
        relative_weight=1.0,
        margin=None,
        regularizer="fro",
        alpha=0.01,
        init="auto",
        n_components=None,
        solver="pgd",
        max_iter=300,
        tol=1e-5,
        learning_rate=0.01,
        batch_size=256,
        random_state=None,
        verbose=False,
        preprocessor=None,
        feature_scaling="range",
    ):
        self.constraints = constraints
        self.target_type = target_type
        self.n_constraints = n_constraints
        self.k_genuine = k_genuine
        self.k_impostor = k_impostor
        self.impostors = impostors
        self.n_rounds = n_rounds
        self.pair_loss = pair_loss
        self.relative_loss = relative_loss
        self.pairs_weight = pairs_weight
        self.relative_weight = relative_weight
        self.margin = margin
        self.regularizer = regularizer
        self.alpha = alpha
        self.init = init
        self.n_components = n_components
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.random_state = random_state
        self.verbose = verbose
        self.feature_scaling = feature_scaling
        super().__init__(preprocessor=preprocessor)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: ArrayLike, y: ArrayLike) -> "MetricLearner":
        """Generate constraints from ``y`` and learn the metric.

        With ``solver='sgd'``, a dask array ``X`` is streamed rather than
        loaded. One reduction on the workers computes what the fit needs
        from all of it (the number of points and features, the classes or
        the target's type, the scale, the moments behind init='pca' or
        'covariance'; init='lda' is refused), a second the margin from a
        sample of at most about 100,000 target-neighbour squared distances
        under ``init``. Then each epoch computes the row blocks one at a
        time, in a shuffled order, and draws the constraints of a block's
        points among that block and the one visited before it (at most two
        blocks in memory), under ``init`` as in memory: a share ``s`` of the
        points (the two blocks' rows over all rows) gives each point its
        ``max(1, round(k_genuine * s))`` nearest same-class points as
        targets, about as near as its ``k_genuine`` nearest among all, and
        its ``k_impostor`` nearest impostors within reach. ``n_rounds`` is
        not used. Blocks should mix the classes (shuffle sorted rows
        first). ``y`` may be a dask array (rechunked to ``X``'s row blocks)
        or in memory; with a preprocessor, ``X`` may be a dask array of
        identifiers, mapped to points block by block. Other solvers load a
        dask array into memory, within
        ``mlearn.get_config()["materialise_budget"]``. See the user guide,
        "Learning from a stream".

        Parameters
        ----------
        X : array-like or dask.array.Array of shape (n_samples, n_features)
            Points (or 1-D indices with a preprocessor).
        y : array-like or dask.array.Array of shape (n_samples,)
            Class labels, or a continuous target (regression).

        Returns
        -------
        self : MetricLearner

        Examples
        --------
        Iris streamed in 5 blocks of 30 rows:

        >>> import dask.array as da
        >>> from sklearn.datasets import load_iris
        >>> from mlearn import MetricLearner
        >>> X, y = load_iris(return_X_y=True)
        >>> learner = MetricLearner(solver="sgd", random_state=0)
        >>> learner = learner.fit(da.from_array(X, chunks=30), da.from_array(y, chunks=30))
        >>> learner.classes_
        array([0, 1, 2])
        """
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None"
            )
        if self.solver == "sgd" and is_dask_array(X):
            return self._fit_stream(X, y)
        X, y = cast(
            "tuple[np.ndarray, np.ndarray]",
            self._prepare_points(X, y, reset=True, ensure_min_samples=2),
        )
        dtype = X.dtype
        X = X.astype(np.float64, copy=False)
        y, codes = self._read_target(y)
        self._check_solver_options(X.shape[1])
        X, scale = self._fitting_points(X)
        random_state = check_random_state(self.random_state)
        L = self._initial_components(X, None if codes is None else y, random_state, scale)
        L, result = self._solve_rounds(X, y, codes, L, random_state)
        self._set_fitted(L / scale, result, dtype)
        return self

    def _read_target(self, y):
        """``y`` as the fit reads it, and its class codes (None for a continuous target).

        Sets ``target_type_`` (and ``classes_``); a continuous target is
        returned as float64.
        """
        if self.target_type == "auto":
            regression = type_of_target(y) == "continuous"
        else:
            regression = self.target_type == "continuous"
        if regression and not np.issubdtype(y.dtype, np.number):
            raise ValueError(f"target_type='continuous' needs a numeric y, got dtype {y.dtype}")
        if regression:
            self.target_type_ = "continuous"
            return y.astype(np.float64), None
        classes, codes = np.unique(y, return_inverse=True)
        self._set_classes(classes, len(y))
        return y, codes

    def _set_classes(self, classes, n_samples):
        """Set ``classes_`` and ``target_type_``; at least two classes are needed.

        With ``target_type='auto'``, more classes than a quarter of the
        points are warned about: ``y`` may be a regression target with
        integer values.
        """
        self.classes_ = classes
        if len(classes) < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 classes in y to build "
                f"dissimilar constraints; got 1 class"
            )
        self.target_type_ = "binary" if len(classes) == 2 else "multiclass"
        if self.target_type == "auto" and 4 * len(classes) > n_samples:
            warnings.warn(
                f"y is read as {len(classes)} classes for {n_samples} points; if y is "
                f"a regression target with integer values, pass "
                f"target_type='continuous' (target_type='classes' keeps the classes "
                f"without this warning)",
                UserWarning,
                stacklevel=user_stacklevel(),
            )

    def _k_impostor(self, regression):
        """``k_impostor``, or its default: 10 for a continuous target, 2 for classes."""
        if self.k_impostor is not None:
            return self.k_impostor
        return 10 if regression else 2

    def _solve_rounds(self, X, y, codes, L, random_state):
        """Build each round's constraints under ``L`` and solve from it; returns ``(L, result)``.

        ``result`` sums the rounds: their iterations, their objective
        histories end to end, converged when every round did. The margin is
        set in the first round, under ``init``, and kept.
        """
        M0 = metric_from_components(L)
        n_rounds = self.n_rounds if self.constraints == "knn" else 1
        k_impostor = self._k_impostor(codes is None)
        history, n_iter, converged = [], 0, True
        neighbours = None
        for round_ in range(n_rounds):
            pairs, pair_y, triplets, neighbours = self._round_constraints(
                X, y, codes, L, k_impostor, neighbours, random_state
            )
            objective = self._constraints_objective(X, pairs, pair_y, triplets, M0)
            if objective is None:
                raise ValueError(
                    "no constraints could be generated from y: every class needs at least "
                    "2 points (or y needs distinct target values)"
                )
            if round_ == 0:
                # squared distances under the learned metric are the same for
                # the data as given and as fitted: the margin needs no rescaling
                self.margin_ = self._first_margin(objective, L)
            objective.margin = self.margin_
            L, _, result = self._solve(objective, L, random_state=random_state)
            history += result.history if not history else result.history[1:]
            n_iter += result.n_iter
            converged = converged and result.converged
        self.n_constraints_ = {
            "pairs": int(len(objective.pair_index)),
            "triplets": int(len(objective.near_index)),
        }
        return L, SolverResult(L, n_iter, history, converged)

    def _round_constraints(self, X, y, codes, L, k_impostor, neighbours, random_state):
        """Pairs, their labels and triplets of one round, under the map ``L``.

        ``neighbours`` carries 'knn' from round to round: the target
        neighbours, found in the first round, and every point's impostors
        found so far (None in the first round). Returns the constraints and
        the updated ``neighbours``.
        """
        if self.constraints == "random":
            pairs, pair_y, triplets = _random_constraints(
                y, codes, self._n_random(len(X)), random_state
            )
            return pairs, pair_y, triplets, None
        Xt = X @ L.T
        if neighbours is None:
            targets, found = _target_neighbors(Xt, y, codes, self.k_genuine), None
        else:
            targets, found = neighbours
        pairs, pair_y, triplets, found = _knn_constraints(
            Xt,
            y,
            codes,
            targets,
            k_impostor,
            found,
            per_class=self.impostors == "per_class",
        )
        return pairs, pair_y, triplets, (targets, found)

    def _constraints_objective(self, X, pairs, pair_y, triplets, M0):
        """The objective of constraints on the points ``X``; None when there are none.

        A term whose weight is zero, or that has no constraints, is left out.
        """
        use_pairs = self.pairs_weight > 0 and len(pairs) > 0
        use_triplets = self.relative_weight > 0 and len(triplets) > 0
        if not (use_pairs or use_triplets):
            return None
        return MetricObjective.from_indices(
            X,
            pairs=pairs if use_pairs else None,
            y=pair_y if use_pairs else None,
            relative=triplets if use_triplets else None,
            pair_loss=self.pair_loss,
            relative_loss=self.relative_loss,
            pairs_weight=self.pairs_weight,
            relative_weight=self.relative_weight,
            regularizer=self.regularizer,
            alpha=self.alpha,
            M0=M0,
        )

    def _first_margin(self, objective, L):
        """``margin``, or the median squared distance of the similar pairs under ``L``.

        The similar pairs are the must-link ones, or the triplets' near pairs
        when the objective has no pairs.
        """
        if self.margin is not None:
            return float(self.margin)
        if len(objective.pair_index):
            near = objective.pair_index[objective.pair_labels == 1]
        else:
            near = objective.near_index
        return _auto_margin(objective.squared_distances(L=L)[near])

    # -- dask input, streamed -------------------------------------------------------------

    def _fit_stream(self, X, y):
        """``fit`` on a dask array of points, one block (and its predecessor) in memory."""
        self.preprocessor_ = check_preprocessor(self.preprocessor)
        if not (X.ndim == 2 or (X.ndim == 1 and self.preprocessor_ is not None)):
            raise ValueError(
                "X must be a dask array of shape (n_samples, n_features) or, with a "
                f"preprocessor, (n_samples,) identifiers; got shape {X.shape}"
            )
        blocks = _streaming.RowBlocks(X, [y], names=["X", "y"])
        n_features = int(X.shape[1]) if X.ndim == 2 else None
        block_arguments = {"preprocessor": self.preprocessor_, "n_features": n_features}
        summaries = blocks.reduce(
            _streaming.points_summary,
            moments=n_features is None or self._init_needs_moments(n_features),
            columns=self.feature_scaling is not None,
            **block_arguments,
        )
        n, n_features = _check_summaries(summaries, "X", n_features, minimum=2)
        block_arguments["n_features"] = n_features
        self.n_features_in_ = n_features
        if hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        classes = self._streamed_target(summaries, n)
        self._check_solver_options(n_features)
        random_state = check_random_state(self.random_state)
        moments = (
            _streaming.merge_moments([p["moments"] for p in summaries])
            if self._init_needs_moments(n_features)
            else None
        )
        scale = power_of_two_scale(np.array([max(part["max_abs"] for part in summaries)]))
        center = 0.0
        self.feature_scale_ = None
        if self.feature_scaling is not None:
            # each feature's spread, from the blocks' moments brought to the
            # power of two of the whole data (no square leaves float64's range)
            columns = [part["columns"] for part in summaries]
            center, scale = statistics_from_summaries(
                self.feature_scaling,
                _streaming.merge_column_moments(columns, scale),
                np.min([part["low"] for part in summaries], axis=0),
                np.max([part["high"] for part in summaries], axis=0),
                scale,
            )
            self.feature_scale_ = scale
        L0 = self._streamed_components(moments, n_features, random_state, scale, center)
        k_impostor = self._k_impostor(classes is None)
        seeds = random_state.randint(np.iinfo(np.int32).max, size=len(blocks))
        # random constraints: each block draws its share of n_constraints
        n_random = (
            [None] * len(blocks)
            if self.constraints == "knn"
            else [max(1, round(self._n_random(n) * size / n)) for size in blocks.chunks]
        )
        if self.margin is not None:
            self.margin_ = float(self.margin)
        else:
            samples = blocks.reduce(
                _near_distances,
                per_block={"seed": seeds, "n_random": n_random},
                components=L0,
                scale=scale,
                center=center,
                classes=classes,
                k_genuine=self.k_genuine,
                use_pairs=self.pairs_weight > 0,
                n_total=n,
                rate=_streaming.sample_rate(n * self.k_genuine),
                **block_arguments,
            )
            self.margin_ = _auto_margin(np.concatenate(samples))
        M0 = metric_from_components(L0)
        previous, counts = {}, {}

        def block_objective(i, L):
            points, labels = _streaming.points_block(*blocks.compute(i), **block_arguments)
            points = (points - center) / scale
            if previous and previous["index"] != i:
                # pairs, neighbours and impostors also span the boundary with
                # the block visited before
                union = np.vstack([points, previous["points"]])
                union_labels = np.concatenate([labels, previous["labels"]])
            else:
                union, union_labels = points, labels
            previous.update(index=i, points=points, labels=labels)
            if len(union) < 2:
                return None
            # the targets stay as near as in memory; each point still pushes
            # its nearest rivals within reach
            share = len(union) / n
            pairs, pair_y, triplets = self._block_constraints(
                union,
                union_labels,
                classes,
                len(points),
                L0,
                random_state,
                k_genuine=_neighbours_in_share(self.k_genuine, share),
                k_impostor=k_impostor,
                n_random=n_random[i],
            )
            counts[i] = (len(pairs), len(triplets))
            objective = self._constraints_objective(union, pairs, pair_y, triplets, M0)
            if objective is not None:
                objective.margin = self.margin_
            return objective

        L, _, result = self._stream_sgd(
            block_objective,
            len(blocks),
            L0,
            1.0,
            random_state=random_state,
            learn_threshold=False,
        )
        self.n_constraints_ = {
            "pairs": int(sum(c[0] for c in counts.values())),
            "triplets": int(sum(c[1] for c in counts.values())),
        }
        self._set_fitted(L / scale, result, X.dtype)
        return self

    def _streamed_target(self, summaries, n):
        """How a streamed ``y`` is read, from its blocks' summaries: the classes, or None."""
        labels = np.unique(np.concatenate([part["labels"] for part in summaries]))
        numeric = all(part["numeric"] for part in summaries if part["n"])
        if self.target_type == "auto":
            regression = any(part["continuous"] for part in summaries)
        else:
            regression = self.target_type == "continuous"
        if regression and not numeric:
            raise ValueError(
                f"target_type='continuous' needs a numeric y, got dtype {labels.dtype}"
            )
        if regression:
            self.target_type_ = "continuous"
            return None
        self._set_classes(labels, n)
        return labels

    def _block_constraints(
        self, X, y, classes, n_anchors, L0, random_state, *, k_genuine, k_impostor, n_random
    ):
        """Constraints of a block: pairs, their labels and triplets, anchored at its first rows.

        ``X`` holds the block's ``n_anchors`` points followed by those of the
        block visited before; every constraint starts at one of the block's
        own points, so that each point anchors constraints once an epoch.
        Target neighbours and impostors are searched under the start ``L0``,
        as ``fit`` does in memory: impostors searched again under the
        metric learned so far would leave out those it has pushed away,
        which then come back.
        """
        codes = None if classes is None else np.searchsorted(classes, y)
        y = y.astype(np.float64) if classes is None else y
        if self.constraints == "random":
            return _random_constraints(y, codes, n_random, random_state)
        Xt = X @ L0.T
        backend = _block_backend(len(X))
        targets = _target_neighbors(Xt, y, codes, k_genuine, backend)
        targets = targets[targets[:, 0] < n_anchors]
        if codes is not None and len(np.unique(codes)) < 2:
            # no other class within reach: the targets alone
            return targets, np.ones(len(targets)), np.zeros((0, 3), dtype=np.intp)
        pairs, pair_y, triplets, _ = _knn_constraints(
            Xt,
            y,
            codes,
            targets,
            k_impostor,
            per_class=self.impostors == "per_class",
            backend=backend,
        )
        keep = pairs[:, 0] < n_anchors
        return pairs[keep], pair_y[keep], triplets

    def _n_random(self, n_samples):
        if self.n_constraints is not None:
            return int(self.n_constraints)
        return int(min(20 * n_samples, 20000))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.target_tags.single_output = True
        tags.target_tags.multi_output = False
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"requires_y": True}


#: Up to this many points, a block's neighbour searches use the NumPy backend
#: of :func:`mlearn.pairwise.kneighbors`: a streamed fit makes a search per
#: class (and pair of classes) in every block of every epoch, and on small
#: blocks the Numba kernels' parallel start-up costs more than it saves.
SMALL_BLOCK = 4096


def _block_backend(n_points):
    return "numpy" if n_points <= SMALL_BLOCK else "auto"


def _neighbours_in_share(k, share):
    """Neighbours to take among a ``share`` of the points to stay as near as ``k`` among all.

    The ``k``-th nearest of a point among a random share of the points is
    about as far as its ``k / share``-th nearest among all of them, so a
    block that sees a share of the data takes ``k * share`` neighbours (at
    least one) where a fit on all of it takes ``k``.
    """
    return max(1, round(k * share))


def _near_distances(
    X,
    y,
    *,
    seed,
    components,
    scale,
    center,
    classes,
    k_genuine,
    n_random,
    use_pairs,
    rate,
    preprocessor,
    n_features,
    n_total,
):
    """A sample of one block's similar pairs' squared distances under ``components``.

    Run on the workers by a streamed ``MetricLearner.fit``, for the margin:
    the target-neighbour pairs (``n_random`` None, 'knn'), or the similar
    pairs (the triplets' near pairs without ``use_pairs``) of ``n_random``
    random constraints.
    """
    X, y = _streaming.points_block(X, y, preprocessor=preprocessor, n_features=n_features)
    if len(X) < 2:
        return np.zeros(0)
    X = (X - center) / scale
    codes = None if classes is None else np.searchsorted(classes, y)
    y = y.astype(np.float64) if classes is None else y
    if n_random is None:
        k_genuine = _neighbours_in_share(k_genuine, len(X) / n_total)
        near = _target_neighbors(X @ components.T, y, codes, k_genuine, _block_backend(len(X)))
    else:
        pairs, pair_y, triplets = _random_constraints(
            y, codes, n_random, np.random.RandomState(seed)
        )
        near = pairs[pair_y == 1] if use_pairs and len(pairs) else triplets[:, :2]
    Z = (X[near[:, 0]] - X[near[:, 1]]) @ components.T
    return _streaming.sample(np.einsum("ij,ij->i", Z, Z), rate, seed)


def _target_neighbors(Xt, y, codes, k, backend="auto"):
    """Pairs (i, j): j among the k nearest points of i's class (or of nearest target).

    ``backend`` is that of :func:`mlearn.pairwise.kneighbors`.
    """
    n = len(Xt)
    if codes is None:
        # regression: among a point's nearest neighbours in X, those of
        # nearest target value
        kk = min(n - 1, 3 * k)
        _, idx = kneighbors(Xt, n_neighbors=kk, backend=backend)
        gaps = np.abs(y[idx] - y[:, None])
        order = np.argsort(gaps, axis=1, kind="stable")[:, : min(k, kk)]
        chosen = np.take_along_axis(idx, order, axis=1)
        return np.column_stack([np.repeat(np.arange(n), chosen.shape[1]), chosen.ravel()])
    blocks = []
    for code in np.unique(codes):
        members = np.flatnonzero(codes == code)
        kk = min(k, len(members) - 1)
        if kk < 1:
            continue
        _, idx = kneighbors(Xt[members], n_neighbors=kk, backend=backend)
        blocks.append(np.column_stack([np.repeat(members, kk), members[idx.ravel()]]))
    if not blocks:
        return np.zeros((0, 2), dtype=np.intp)
    return np.vstack(blocks)


def _knn_constraints(
    Xt, y, codes, targets, k_impostor, previous=None, per_class=False, backend="auto"
):
    """Target pairs (+1), impostor pairs (-1), triplets (i, target, impostor) and impostors.

    A point's impostors are its ``k_impostor`` nearest other-class points
    under ``Xt``, or with ``per_class`` the ``k_impostor`` nearest of each
    other class. ``previous`` holds each point's impostors from earlier
    rounds; they are kept, and the new ones are added to them. ``backend``
    is that of :func:`mlearn.pairwise.kneighbors`.
    """
    n = len(Xt)
    impostors = [None] * n
    if codes is not None:
        classes = np.unique(codes)
        for code in classes:
            members = np.flatnonzero(codes == code)
            rivals = (
                [codes != code]
                if not per_class
                else [codes == other for other in classes if other != code]
            )
            found = []
            for mask in rivals:
                others = np.flatnonzero(mask)
                _, idx = kneighbors(
                    Xt[members],
                    Xt[others],
                    n_neighbors=min(k_impostor, len(others)),
                    backend=backend,
                )
                found.append(others[idx])
            found = np.hstack(found)
            for row, i in enumerate(members):
                impostors[i] = found[row]
    else:
        # candidates near i under the current metric whose target is farther
        # from y_i than the farthest target neighbour's
        radius = np.zeros(n)
        np.maximum.at(radius, targets[:, 0], np.abs(y[targets[:, 0]] - y[targets[:, 1]]))
        kk = min(n - 1, 4 * k_impostor)
        _, idx = kneighbors(Xt, n_neighbors=kk, backend=backend)
        for i in range(n):
            cand = idx[i][np.abs(y[idx[i]] - y[i]) > radius[i]]
            impostors[i] = cand[:k_impostor]
    if previous is not None:
        impostors = [_union(old, new) for old, new in zip(previous, impostors)]
    imp_counts = np.array([len(v) for v in impostors])
    imp_pairs = np.column_stack(
        [
            np.repeat(np.arange(n), imp_counts),
            np.concatenate([v for v in impostors]) if n else np.zeros(0, dtype=np.intp),
        ]
    ).astype(np.intp)
    anchors = targets[:, 0]
    reps = imp_counts[anchors]
    triplets = np.column_stack(
        [
            np.repeat(anchors, reps),
            np.repeat(targets[:, 1], reps),
            np.concatenate([impostors[i] for i in anchors])
            if len(anchors)
            else np.zeros(0, dtype=np.intp),
        ]
    ).astype(np.intp)
    pairs = np.vstack([targets, imp_pairs]).astype(np.intp)
    pair_y = np.concatenate([np.ones(len(targets)), -np.ones(len(imp_pairs))])
    return pairs, pair_y, triplets, impostors


def _union(old, new):
    """``old`` followed by the entries of ``new`` that are not in it."""
    return np.concatenate([old, new[~np.isin(new, old)]]).astype(np.intp)


def _random_constraints(y, codes, n_constraints, random_state):
    """Random labelled pairs and triplets (regression: triplets oriented by target gaps)."""
    if codes is not None:
        constraints = Constraints(codes)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # fewer distinct pairs than asked
            try:
                pairs, pair_y = constraints.pairs(n_constraints, random_state=random_state)
            except ValueError:
                pairs, pair_y = np.zeros((0, 2), dtype=np.intp), np.zeros(0)
            try:
                triplets = constraints.triplets(n_constraints, random_state=random_state)
            except ValueError:
                triplets = np.zeros((0, 3), dtype=np.intp)
        return pairs, pair_y, triplets
    n = len(y)
    t = random_state.randint(n, size=(n_constraints, 3))
    near = np.abs(y[t[:, 0]] - y[t[:, 1]])
    far = np.abs(y[t[:, 0]] - y[t[:, 2]])
    swap = near > far
    t[swap] = t[swap][:, [0, 2, 1]]
    keep = (near != far) & (t[:, 0] != t[:, 1]) & (t[:, 0] != t[:, 2])
    return np.zeros((0, 2), dtype=np.intp), np.zeros(0), t[keep]
