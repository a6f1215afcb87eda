"""Sparse Compositional Metric Learning (SCML), on triplets and from labels."""

import warnings
from numbers import Integral, Real
from typing import cast

import numpy as np
from numpy.typing import ArrayLike
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_limits

from .._lazy import lazy_callable
from .._sklearn_compat import Interval, StrOptions, _fit_context, check_array
from .._validation import user_stacklevel
from ..base import BaseMetricLearner, MahalanobisMixin, TripletsClassifierMixin
from ..constraints import Constraints
from ..linalg import components_from_metric, power_of_two_scale

# the unvalidated entry: the learner has checked its arguments
from ..pairwise._api import _kneighbors as kneighbors
from ._doc_pieces import fill_pieces
from ._dtypes import fitted_components
from ._scaling import FEATURE_SCALING_CONSTRAINT, map_to_fitted_units
from ._supervised import SupervisedMixin

__all__ = ["SCML", "SCML_Supervised"]

scml_dual_averaging = lazy_callable("mlearn.learners._scml_kernels", "scml_dual_averaging")
triplet_hinge_mean = lazy_callable("mlearn.learners._scml_kernels", "triplet_hinge_mean")
# scikit-learn's clustering adds about 0.1 s to importing mlearn; only fit needs it
KMeans = lazy_callable("sklearn.cluster", "KMeans")

# AdaGrad's floor in the step size (avoids dividing by a zero gradient history).
_DELTA = 1e-3


def _stage_random_states(random_state):
    """A function giving each stage of a fit (bases, k-means, mini-batches) its random state.

    Every stage starts from the same state: that of ``RandomState(seed)`` for
    an integer seed, a fresh generator per stage as metric-learn seeds them,
    so that a seed gives the same bases and batches there and here; for a
    RandomState instance (NumPy's global one for None), a copy of its
    current state, after which the instance is advanced by one draw. So
    ``RandomState(0)`` fits as ``0`` does, and a second fit with the same
    instance draws afresh, as scikit-learn's convention has it.
    """
    if isinstance(random_state, Integral) and not isinstance(random_state, bool):
        state = np.random.RandomState(random_state).get_state()
    else:
        rng = check_random_state(random_state)
        state = rng.get_state()
        rng.random_sample()

    def stage():
        rng = np.random.RandomState()
        rng.set_state(state)
        return rng

    return stage


def scml_objective(Z, triplets, weights, beta):
    """SCML's objective for basis weights ``weights`` and ``Z = X @ L.T``, ``M = L.T @ L``.

    ``beta * sum(weights) + mean_t max(0, 1 + d_M(a_t, p_t)**2 - d_M(a_t, n_t)**2)``.
    """
    return beta * float(np.sum(weights)) + triplet_hinge_mean(Z, triplets)


def satisfiable_triplets(X, triplets, name):
    """The triplets ``(a, p, n)`` whose negative is not the anchor's point.

    When ``x_n == x_a``, ``d(a, n) = 0`` under every metric, so the hinge
    ``1 + d(a, p) - d(a, n)`` is at least 1 whatever the weights: such a
    triplet can never be satisfied and only pulls the metric towards zero.
    They are left out with a warning; none left is an error.

    Parameters
    ----------
    X : ndarray of shape (n_points, n_features)
    triplets : ndarray of shape (n_triplets, 3)
        Indices into ``X``.
    name : str
        The learner's name, for the messages.

    Returns
    -------
    triplets : ndarray of shape (n_kept, 3)
    """
    same = np.all(X[triplets[:, 0]] == X[triplets[:, 2]], axis=1)
    if not same.any():
        return triplets
    if same.all():
        raise ValueError(
            f"{name} needs triplets whose negative differs from the anchor: in all "
            f"{len(triplets)} triplets the anchor and the negative are identical points, "
            "at distance 0 under every metric"
        )
    warnings.warn(
        f"{name}: in {int(same.sum())} of {len(triplets)} triplets the anchor and the "
        "negative are identical points (distance 0 under every metric), so no metric "
        "satisfies them; they are left out",
        UserWarning,
        stacklevel=user_stacklevel(),
    )
    return triplets[~same]


def metric_from_basis(basis, weights):
    """``M = sum_k weights[k] * outer(basis[k], basis[k])`` over the positive weights."""
    active = weights > 0
    B = basis[active]
    M = (B.T * weights[active]) @ B
    return (M + M.T) / 2


class _BaseSCML(BaseMetricLearner):
    """Parameters and solver shared by :class:`SCML` and :class:`SCML_Supervised`."""

    _parameter_constraints = {
        **BaseMetricLearner._parameter_constraints,
        "beta": [Interval(Real, 0, None, closed="left")],
        "basis": [StrOptions({"triplet_diffs", "pair_diffs"}), "array-like"],
        "n_basis": [Interval(Integral, 1, None, closed="left"), None],
        "gamma": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "output_iter": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
    }

    def _basis_from_array(self, n_features):
        basis = check_array(
            self.basis, dtype=np.float64, ensure_all_finite=True, input_name="basis"
        )
        if basis.shape[1] != n_features:
            raise ValueError(
                f"basis must have shape (n_basis, {n_features}) to match the data's "
                f"{n_features} features, got {basis.shape}"
            )
        if self.n_basis is not None and self.n_basis != basis.shape[0]:
            raise ValueError(
                f"n_basis={self.n_basis} contradicts the {basis.shape[0]} rows of the given "
                "basis; leave n_basis=None with an explicit basis"
            )
        return basis.copy()

    def _fit_triplets(self, X, triplets, basis, stage_rng, scale, dtype):
        """Learn the basis weights on index triplets into ``X`` and set ``components_``.

        ``X`` is the data divided by ``scale``, so ``components_`` is the
        learned map divided by ``scale``, kept in ``dtype`` (the data's);
        ``stage_rng()`` gives the random state of the mini-batches (see
        ``_stage_random_states``).
        """
        name = type(self).__name__
        n_triplets = triplets.shape[0]
        n_basis = basis.shape[0]
        XB = np.ascontiguousarray(X @ basis.T)
        triplets = np.ascontiguousarray(triplets, dtype=np.int64)
        batches = (
            stage_rng()
            .randint(0, n_triplets, size=(self.max_iter, self.batch_size))
            .astype(np.int64)
        )
        w = np.zeros(n_basis)
        avg_grad = np.zeros(n_basis)
        ada_grad = np.zeros(n_basis)
        rows = np.empty((self.batch_size, n_basis))
        grad = np.empty(n_basis)
        # an interval longer than the run means one evaluation, at the end
        every = min(self.output_iter, self.max_iter)
        checkpoints = list(range(every, self.max_iter + 1, every))
        if checkpoints[-1] != self.max_iter:
            checkpoints.append(self.max_iter)
        best_obj, best_w, done = np.inf, None, 0
        # the objective at the start (all weights zero), then at each checkpoint:
        # evaluating it after every mini-batch would cost a pass over all triplets
        history = [scml_objective(np.zeros_like(X), triplets, w, self.beta)]
        # small products in a long loop: extra BLAS threads only add contention
        with threadpool_limits(limits=1, user_api="blas"):
            for stop in checkpoints:
                scml_dual_averaging(
                    XB,
                    triplets,
                    batches[done:stop],
                    done,
                    w,
                    avg_grad,
                    ada_grad,
                    float(self.beta),
                    float(self.gamma),
                    _DELTA,
                    rows,
                    grad,
                )
                done = stop
                L = components_from_metric(metric_from_basis(basis, w), check_psd=False)
                obj = scml_objective(X @ L.T, triplets, w, self.beta)
                history.append(obj)
                if self.verbose:
                    print(
                        f"[{name}] iter {done} obj {obj:.6f} active bases "
                        f"{int(np.count_nonzero(w))}"
                    )
                if obj < best_obj:
                    best_obj, best_w = obj, w.copy()
        # a fixed number of stochastic iterations: there is no convergence to test
        self._record_solve(done, history, converged=True)
        self.n_basis_ = n_basis
        if not np.any(best_w > 0):
            warnings.warn(
                f"{name} gave every basis a zero weight, so the learned metric is zero: "
                "no combination of the bases satisfies the triplets better than none "
                f"(with beta={self.beta}). Lower beta, choose another basis, or check "
                "that the triplets are consistent.",
                UserWarning,
                stacklevel=user_stacklevel(),
            )
        M = metric_from_basis(basis, best_w)
        L = components_from_metric(M, self.n_components, check_psd=False)
        self.components_ = fitted_components(L / scale, dtype)
        return self


def triplet_diffs_basis(X, triplets, n_basis, rng):
    """Rank-one bases from the difference vectors of the triplets' pairs.

    Each round draws ``s`` triplets (``s = n_features`` when there are
    enough, half of them otherwise), forms
    ``S = sum (x_a - x_p)(x_a - x_p)ᵀ - sum (x_a - x_n)(x_a - x_n)ᵀ``,
    eigen-decomposes ``SᵀS = V diag(λ) Vᵀ`` and adds the rows of ``V`` whose
    index has ``λ > 0``: an orthonormal frame per round that depends on the
    drawn differences. This is metric-learn 0.7's construction (it takes the
    rows of ``V``, not its eigenvector columns); on held-out triplets it does
    better than the eigenvectors themselves, whose frames repeat the dominant
    directions of the data. Rounds continue until ``n_basis`` bases are
    collected; with so few triplets that the rounds keep drawing the same
    ones, fewer bases are returned.

    Returns
    -------
    basis : ndarray of shape (n_found, n_features)
        Unit rows, ``n_found <= n_basis``.
    """
    n_triplets = triplets.shape[0]
    n_features = X.shape[1]
    diff_pos = X[triplets[:, 0]] - X[triplets[:, 1]]
    diff_neg = X[triplets[:, 0]] - X[triplets[:, 2]]
    if not (np.any(diff_pos) or np.any(diff_neg)):
        raise ValueError(
            "basis='triplet_diffs' needs triplets whose points differ; every triplet "
            "holds three identical points"
        )
    if n_triplets >= n_features:
        size = n_features
    else:
        size = max(1, (n_triplets + 1) // 2)
    found, seen = [], set()
    with threadpool_limits(limits=1, user_api="blas"):
        _collect_difference_bases(diff_pos, diff_neg, size, n_basis, rng, found, seen)
    if not found:
        raise ValueError(
            "basis='triplet_diffs' found no basis: in every draw of triplets the "
            "positive and negative differences cancel out; use basis='pair_diffs'"
        )
    return np.vstack(found)[:n_basis]


def _collect_difference_bases(diff_pos, diff_neg, size, n_basis, rng, found, seen):
    n_triplets, n_features = diff_pos.shape
    n_found, repeats = 0, 0
    while n_found < n_basis and repeats < 50:
        chosen = np.sort(rng.choice(n_triplets, size=size, replace=False))
        key = chosen.tobytes()
        if key in seen:
            repeats += 1
            continue
        seen.add(key)
        P, N = diff_pos[chosen], diff_neg[chosen]
        S = P.T @ P - N.T @ N
        eigvals, eigvecs = _eigh(S.T @ S, "the triplets' difference products")
        keep = eigvals > n_features * np.finfo(np.float64).eps * max(eigvals.max(), 0.0)
        if eigvals.max() > 0 and keep.any():
            found.append(eigvecs[keep])
            n_found += int(keep.sum())


def _eigh(A, what):
    """``numpy.linalg.eigh`` of a symmetric matrix, with a failure named.

    The data are brought into range before (see ``power_of_two_scale``), so
    the matrix can only be non-finite if its products overflowed; LAPACK
    would then return NaN or fail to converge.
    """
    if not np.all(np.isfinite(A)):
        raise ValueError(
            f"the eigen-decomposition of {what} failed: its entries overflowed "
            "(the data's products exceed float64's range); rescale the data"
        )
    try:
        return np.linalg.eigh(A)
    except np.linalg.LinAlgError as exc:
        raise ValueError(
            f"the eigen-decomposition of {what} failed ({exc}); rescale the data "
            "or give the bases as an array"
        ) from None


def pair_diffs_basis(X, triplets, n_basis, rng):
    """Unit vectors along the triplets' pair differences ``x_a - x_p`` and ``x_a - x_n``.

    ``n_basis`` of the distinct non-zero differences are drawn at random
    (all of them when there are fewer).

    Returns
    -------
    basis : ndarray of shape (n_found, n_features)
    """
    diffs = np.vstack(
        [X[triplets[:, 0]] - X[triplets[:, 1]], X[triplets[:, 0]] - X[triplets[:, 2]]]
    )
    norms = np.linalg.norm(diffs, axis=1)
    if not np.any(norms > 0):
        raise ValueError(
            "basis='pair_diffs' needs triplets whose points differ; every triplet "
            "holds three identical points"
        )
    diffs = np.unique(diffs[norms > 0] / norms[norms > 0, None], axis=0)
    chosen = rng.choice(len(diffs), size=min(n_basis, len(diffs)), replace=False)
    return diffs[np.sort(chosen)]


_BASIS_BUILDERS = {"triplet_diffs": triplet_diffs_basis, "pair_diffs": pair_diffs_basis}


def lda_directions(X, codes, n_classes, tol=1e-4):
    """Unit discriminant directions of a labelled sample (scikit-learn's SVD solver).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    codes : ndarray of shape (n_samples,)
        Class codes in ``range(n_classes)``; every code occurs.

    Returns
    -------
    directions : ndarray of shape (rank, n_features)
        At most ``n_classes - 1`` rows of unit norm.
    """
    n_samples = X.shape[0]
    counts = np.bincount(codes, minlength=n_classes).astype(np.float64)
    onehot = (codes[:, None] == np.arange(n_classes)).astype(np.float64)
    means = (onehot.T @ X) / counts[:, None]
    Xc = X - means[codes]
    std = Xc.std(axis=0)
    std[std == 0] = 1.0
    # singular values and right vectors of the scaled within-class data, from
    # its (n_features, n_features) Gram matrix: cheaper than an SVD of the data
    scaled = Xc / (std * np.sqrt(n_samples))
    eigvals, eigvecs = _eigh(scaled.T @ scaled, "the within-class scatter")
    S = np.sqrt(np.clip(eigvals[::-1], 0.0, None))
    Vt = eigvecs[:, ::-1].T
    rank = int(np.sum(S > tol))
    scalings = (Vt[:rank] / std).T / S[:rank]
    priors = counts / n_samples
    xbar = priors @ means
    fac = 1.0 if n_classes == 1 else 1.0 / (n_classes - 1)
    centred = (np.sqrt(n_samples * priors * fac)[:, None] * (means - xbar)) @ scalings
    _, S, Vt = np.linalg.svd(centred, full_matrices=False)
    if S.size == 0 or S[0] == 0:
        return np.zeros((0, X.shape[1]))
    rank = int(np.sum(S > tol * S[0]))
    directions = (scalings @ Vt.T[:, :rank]).T
    norms = np.linalg.norm(directions, axis=1, keepdims=True)
    return directions[norms[:, 0] > 0] / norms[norms[:, 0] > 0]


def lda_basis(X, y, n_basis, random_state):
    """Locally discriminative bases: LDA directions around k-means centres, at two scales.

    The points are clustered by k-means; around each centre, the nearest
    points of every class (``k`` per class, two scales of ``k``) give an LDA
    whose ``n_classes - 1`` unit directions become bases.

    Returns
    -------
    basis : ndarray of shape (n_found, n_features)
    """
    classes, codes, counts = np.unique(y, return_inverse=True, return_counts=True)
    n_classes = len(classes)
    n_features = X.shape[1]
    num_eig = min(n_classes - 1, n_features)
    n_clusters = int(np.ceil(n_basis / (2 * num_eig)))
    algorithm = "elkan" if n_clusters > 1 else "lloyd"  # elkan needs two clusters
    centres = (
        KMeans(n_clusters=n_clusters, n_init=10, random_state=random_state, algorithm=algorithm)
        .fit(X)
        .cluster_centers_
    )
    scales = (20, 50) if n_features > 50 else (10, 20)
    k_class = np.minimum(counts[None, :], np.array(scales)[:, None])  # (2, n_classes)
    neighbours = []  # per class: (n_clusters, k_class[1, c]) global indices
    for c in range(n_classes):
        members = np.flatnonzero(codes == c)
        _, idx = kneighbors(centres, X[members], n_neighbors=int(k_class[1, c]))
        neighbours.append(members[idx])
    found = []
    # many small decompositions: extra BLAS threads only add contention
    with threadpool_limits(limits=1, user_api="blas"):
        for s in range(len(scales)):
            local_codes = np.repeat(np.arange(n_classes), k_class[s])
            for cluster in range(n_clusters):
                idx = np.concatenate(
                    [neighbours[c][cluster, : k_class[s, c]] for c in range(n_classes)]
                )
                found.append(lda_directions(X[idx], local_codes, n_classes)[:num_eig])
    return np.vstack(found)[:n_basis]


class SCML(MahalanobisMixin, TripletsClassifierMixin, _BaseSCML):
    r"""Sparse Compositional Metric Learning on triplets.

    Each triplet ``(a, p, n)`` states that ``a`` is more similar to ``p``
    than to ``n``. SCML (Shi, Bellet and Sha, 2014) writes the metric as a
    sparse non-negative combination of rank-one bases,
    :math:`M = \sum_k w_k b_k b_k^\top`, and learns the weights by minimising

    .. math::

        \frac{1}{|T|}\sum_{(a, p, n) \in T}
        \max(0, 1 + d_M(a, p)^2 - d_M(a, n)^2) + \beta \sum_k w_k,
        \qquad w \ge 0,

    with regularised dual averaging on mini-batches of triplets (AdaGrad
    steps). Only K weights are learned, whatever the dimension.

    Read more in the :ref:`User Guide <scml>`.

    Parameters
    ----------
    beta : float, default=1e-5
        Weight of the L1 penalty on the basis weights (sparsity).
    basis : {'triplet_diffs', 'pair_diffs'} or array-like, default='triplet_diffs'
        An array holds one basis element per row, of shape (n_basis, n_features).

        - 'triplet_diffs': orthonormal frames from the eigen-decomposition of
          sums of outer products of the triplets' positive minus negative
          differences, ``n_features`` triplets at a time (half of the
          triplets when there are fewer), as metric-learn 0.7 builds them
          (see :func:`mlearn.learners.scml.triplet_diffs_basis`).
        - 'pair_diffs': unit vectors along the triplets' pair differences
          ``x_a - x_p`` and ``x_a - x_n``, drawn at random; often better on
          high-dimensional data (see the user guide's table).
        - an array: the bases as rows.
    n_basis : int, default=None
        Number of bases to generate; None means ``80 * n_features`` for
        'triplet_diffs' and 'pair_diffs'. Leave None with an array ``basis``.
    gamma : float, default=5e-3
        Learning-rate scale of the dual averaging (larger is slower).
    max_iter : int, default=10000
        Number of mini-batch iterations.
    output_iter : int, default=500
        Every ``output_iter`` iterations, and after the last, the full
        objective is evaluated (and printed when ``verbose``); the weights
        with the best objective are kept. A value above ``max_iter`` means
        one evaluation, at the end.
    batch_size : int, default=10
        Triplets per iteration.
    verbose : bool, default=False
        Print the objective at each check.
    preprocessor : array-like of shape (n_samples, n_features), callable or None, default=None
        Lets triplets be given as ``(n_triplets, 3)`` indices.
    random_state : int, RandomState instance or None, default=None
        Seeds the bases and the mini-batches. Each stage starts from the
        seed's state, so ``np.random.RandomState(0)`` gives the result of
        ``0``; a RandomState instance is then advanced, so that the next fit
        with it differs.
    n_components : int, default=None
        Number of rows of ``components_``: the leading eigen-directions of
        M. None keeps n_features.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The linear map L with ``M ≈ L.T @ L``.
    n_iter_ : int
        Number of iterations run.
    objective_history_ : list of float
        The objective ``beta * sum(w) + mean hinge`` at the start (all
        weights zero, so 1.0) and at each evaluation: every ``output_iter``
        iterations and after the last, so ``ceil(n_iter_ / output_iter) + 1``
        values. ``components_`` come from the evaluation with the lowest
        value.
    n_basis_ : int
        Number of bases used.
    n_features_in_ : int
        Number of features of the points.

    See Also
    --------
    SCML_Supervised : SCML on triplets built from class labels.

    Notes
    -----
    A triplet whose negative is the anchor's point has ``d(a, n) = 0`` under
    every metric and can never be satisfied: such triplets are left out with
    a warning (all of them: a ``ValueError``). The margin is one unit of
    squared distance, so SCML is not invariant to the scale of the data;
    points whose largest magnitude lies outside ``[2**-100, 2**100]`` are
    fitted divided by a power of two ``s`` that brings it into ``[0.5, 1)``
    (exactly), and ``components_`` is divided by ``s``.

    References
    ----------
    .. [1] Y. Shi, A. Bellet and F. Sha, "Sparse Compositional Metric
       Learning", AAAI 2014.

    Examples
    --------
    >>> import numpy as np
    >>> from mlearn import SCML
    >>> triplets = np.array([[[1.2, 7.5], [1.3, 1.5], [6.2, 9.7]],
    ...                      [[1.3, 4.5], [3.2, 4.6], [5.4, 5.4]],
    ...                      [[3.2, 7.5], [3.3, 1.5], [8.2, 9.7]],
    ...                      [[3.3, 4.5], [5.2, 4.6], [7.4, 5.4]]])
    >>> scml = SCML(max_iter=1000, random_state=0).fit(triplets)
    >>> scml.predict(triplets)
    array([1, 1, 1, 1])
    """

    def __init__(
        self,
        beta=1e-5,
        basis="triplet_diffs",
        n_basis=None,
        gamma=5e-3,
        max_iter=10000,
        output_iter=500,
        batch_size=10,
        verbose=False,
        preprocessor=None,
        random_state=None,
        n_components=None,
    ):
        super().__init__(preprocessor=preprocessor)
        self.beta = beta
        self.basis = basis
        self.n_basis = n_basis
        self.gamma = gamma
        self.max_iter = max_iter
        self.output_iter = output_iter
        self.batch_size = batch_size
        self.verbose = verbose
        self.random_state = random_state
        self.n_components = n_components

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, triplets: ArrayLike, y: None = None) -> "SCML":
        """Learn the metric from triplets.

        Parameters
        ----------
        triplets : array-like of shape (n_triplets, 3, n_features) or (n_triplets, 3)
            Triplets ``(a, p, n)`` such that ``d(a, p)`` should be smaller
            than ``d(a, n)``; indices when a preprocessor is set.
        y : None
            Ignored; present for API consistency (model selection tools pass it).

        Returns
        -------
        self : SCML
        """
        triplets = cast(np.ndarray, self._prepare_tuples(triplets, reset=True))
        n_features = triplets.shape[2]
        X, index = np.unique(triplets.reshape(-1, n_features), axis=0, return_inverse=True)
        dtype = X.dtype
        X = X.astype(np.float64, copy=False)
        # points beyond 2**±100 are fitted at a power-of-two scale (exact),
        # so that no squared distance overflows or underflows
        scale = power_of_two_scale(X)
        if scale != 1.0:
            X = X / scale
        index = satisfiable_triplets(X, index.reshape(-1, 3), type(self).__name__)
        stage_rng = _stage_random_states(self.random_state)
        if isinstance(self.basis, str):
            n_basis = 80 * n_features if self.n_basis is None else self.n_basis
            basis = _BASIS_BUILDERS[self.basis](X, index, n_basis, stage_rng())
        else:
            basis = self._basis_from_array(n_features)
        return self._fit_triplets(X, index, basis, stage_rng, scale, dtype)


@fill_pieces
class SCML_Supervised(SupervisedMixin, MahalanobisMixin, _BaseSCML):
    """SCML on triplets built from class labels by nearest neighbours.

    For every point, its ``k_genuine`` nearest neighbours of the same class
    and its ``k_impostor`` nearest points of other classes (Euclidean) give
    ``k_genuine * k_impostor`` triplets. The default bases are locally
    discriminative: LDA directions of the neighbourhoods of k-means centres.
    The result is a transformer for pipelines.

    Read more in the :ref:`User Guide <scml>`.

    Parameters
    ----------
    k_genuine : int, default=3
        Same-class neighbours per point; lowered, with a warning, to one less
        than the smallest class size when that is smaller.
    k_impostor : int, default=10
        Other-class neighbours per point; lowered, with a warning, when the
        largest class leaves fewer points outside it.
    beta : float, default=1e-5
        Weight of the L1 penalty on the basis weights.
    basis : {'lda', 'triplet_diffs', 'pair_diffs'} or array-like of shape \
            (n_basis, n_features), default='lda'
        - 'lda': LDA directions of the ``k`` nearest points of each class
          around ``ceil(n_basis / (2 * (n_classes - 1)))`` k-means centres, at
          two scales (``k`` = 10 and 20, or 20 and 50 above 50 features).
        - 'triplet_diffs', 'pair_diffs': as in :class:`SCML`, from the
          generated triplets.
        - an array: the bases as rows.
    n_basis : int, default=None
        Number of bases; None means ``min(20 * n_features,
        2 * n_samples * (n_classes - 1) - 1)`` for 'lda' and
        ``80 * n_features`` otherwise.
    gamma : float, default=5e-3
        Learning-rate scale of the dual averaging.
    max_iter : int, default=10000
        Number of mini-batch iterations.
    output_iter : int, default=500
        Iterations between evaluations of the full objective (also evaluated
        after the last); above ``max_iter``, one evaluation at the end.
    batch_size : int, default=10
        Triplets per iteration.
    verbose : bool, default=False
        Print the objective at each check.
    preprocessor : array-like of shape (n_samples, n_features), callable or None, default=None
        Lets ``X`` be given as a 1-D array of indices.
    random_state : int, RandomState instance or None, default=None
        Seeds k-means, the bases and the mini-batches, as in :class:`SCML`
        (``np.random.RandomState(0)`` gives the result of ``0``).
    n_components : int, default=None
        Number of rows of ``components_`` (leading eigen-directions of M).
    {feature_scaling}

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The linear map L with ``M ≈ L.T @ L``.
    n_iter_ : int
        Number of iterations run.
    objective_history_ : list of float
        The objective ``beta * sum(w) + mean hinge`` at the start (all
        weights zero, so 1.0) and at each evaluation: every ``output_iter``
        iterations and after the last, so ``ceil(n_iter_ / output_iter) + 1``
        values. ``components_`` come from the evaluation with the lowest
        value.
    n_basis_ : int
        Number of bases used.
    {fitted_feature_scale}
    {fitted_features}

    See Also
    --------
    SCML : the same learner on triplets given directly.

    Notes
    -----
    Data are rescaled as in :class:`SCML` when their largest magnitude lies
    outside ``[2**-100, 2**100]``. A point repeated under two labels is its
    own copy's impostor; the triplets it gives (``d(a, n) = 0``) are left out
    with a warning.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from mlearn import SCML_Supervised
    >>> X, y = load_iris(return_X_y=True)
    >>> scml = SCML_Supervised(random_state=0).fit(X, y)
    >>> scml.transform(X).shape
    (150, 4)
    """

    _parameter_constraints = {
        **_BaseSCML._parameter_constraints,
        "basis": [StrOptions({"lda", "triplet_diffs", "pair_diffs"}), "array-like"],
        "k_genuine": [Interval(Integral, 1, None, closed="left")],
        "k_impostor": [Interval(Integral, 1, None, closed="left")],
        "feature_scaling": FEATURE_SCALING_CONSTRAINT,
    }

    def __init__(
        self,
        k_genuine=3,
        k_impostor=10,
        beta=1e-5,
        basis="lda",
        n_basis=None,
        gamma=5e-3,
        max_iter=10000,
        output_iter=500,
        batch_size=10,
        verbose=False,
        preprocessor=None,
        random_state=None,
        n_components=None,
        feature_scaling="range",
    ):
        super().__init__(preprocessor=preprocessor)
        self.feature_scaling = feature_scaling
        self.k_genuine = k_genuine
        self.k_impostor = k_impostor
        self.beta = beta
        self.basis = basis
        self.n_basis = n_basis
        self.gamma = gamma
        self.max_iter = max_iter
        self.output_iter = output_iter
        self.batch_size = batch_size
        self.verbose = verbose
        self.random_state = random_state
        self.n_components = n_components

    def _neighbour_counts(self, y):
        """``k_genuine`` and ``k_impostor``, lowered (with a warning) when classes are small."""
        _, counts = np.unique(y, return_counts=True)
        k_genuine = min(self.k_genuine, int(counts.min()) - 1)
        k_impostor = min(self.k_impostor, int(len(y) - counts.max()))
        if k_genuine < 1:
            raise ValueError(
                "SCML_Supervised needs at least 2 points in every class to find a "
                f"same-class neighbour; the smallest class has {counts.min()}"
            )
        if (k_genuine, k_impostor) != (self.k_genuine, self.k_impostor):
            warnings.warn(
                f"the classes are too small for k_genuine={self.k_genuine} and "
                f"k_impostor={self.k_impostor}; using k_genuine={k_genuine} and "
                f"k_impostor={k_impostor}",
                UserWarning,
                stacklevel=user_stacklevel(),
            )
        return k_genuine, k_impostor

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: ArrayLike, y: ArrayLike) -> "SCML_Supervised":
        """Build triplets from the labels and learn the metric.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class labels; every class needs at least 2 points.

        Returns
        -------
        self : SCML_Supervised
        """
        X, y = cast("tuple[np.ndarray, np.ndarray]", self._validate_supervised(X, y))
        dtype = X.dtype
        X = np.asarray(X, dtype=np.float64)
        X, scale = self._fitting_points(X)
        k_genuine, k_impostor = self._neighbour_counts(y)
        triplets = Constraints(y).generate_knntriplets(X, k_genuine, k_impostor)
        triplets = satisfiable_triplets(X, triplets, type(self).__name__)
        stage_rng = _stage_random_states(self.random_state)
        n_samples, n_features = X.shape
        if isinstance(self.basis, str) and self.basis == "lda":
            n_classes = len(np.unique(y))
            num_eig = min(n_classes - 1, n_features)
            limit = 2 * n_samples * num_eig
            if self.n_basis is None:
                n_basis = min(20 * n_features, limit - 1)
            elif self.n_basis >= limit:
                raise ValueError(
                    f"basis='lda' gives at most {limit - 1} bases from {n_samples} samples "
                    f"and {n_classes} classes; got n_basis={self.n_basis}"
                )
            else:
                n_basis = self.n_basis
            if n_basis < n_classes:
                warnings.warn(
                    f"n_basis={n_basis} is smaller than the number of classes "
                    f"({n_classes}); the metric may discriminate poorly",
                    UserWarning,
                    stacklevel=user_stacklevel(),
                )
            basis = lda_basis(X, y, n_basis, stage_rng())
        elif isinstance(self.basis, str):
            n_basis = 80 * n_features if self.n_basis is None else self.n_basis
            basis = _BASIS_BUILDERS[self.basis](X, triplets, n_basis, stage_rng())
        else:
            basis = self._basis_from_array(n_features)
            if self.feature_scaling is not None:
                # a basis direction b of the data is b * s for the rescaled points
                basis = map_to_fitted_units(basis, scale)
        return self._fit_triplets(X, triplets, basis, stage_rng, scale, dtype)
