"""Extreme scales and degenerate data for the spectral and pair learners
(Covariance, LFDA, RCA, MMC, ITML, LSML, SDML), as hypothesis property tests
and regression tests.

Covariance, LFDA and RCA are invariant to the scale of the data by nature, as
are MMC (its bound is relative to the starting metric) and ITML and LSML with
the covariance prior: across magnitudes ``c`` from 1e-150 to 1e150,
``fit(c * X)`` learns the metric of ``fit(X)``, scaled. The learners tied to
the data's units (identity prior, fixed bounds) must stay finite across the
sweep, and beyond ``[2**-100, 2**100]`` fit exactly the data divided by the
power of two ``s`` that brings them into range, with ``components_`` divided
by ``s``. Duplicated rows, tiny classes, rank-deficient data and constant
features give finite, meaningful results or a ``ValueError`` naming the cause.
"""

import warnings

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_digits, load_iris
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier

from mlearn import (
    ITML,
    LFDA,
    LSML,
    MMC,
    RCA,
    SDML,
    Covariance,
    ITML_Supervised,
    LSML_Supervised,
    MMC_Supervised,
    RCA_Supervised,
    SDML_Supervised,
)
from mlearn.base import MahalanobisMixin
from mlearn.linalg import power_of_two_scale

from ..conftest import discover_estimators
from .test_extreme_gradient_learners import LEARNERS

PROPERTY = settings(max_examples=6, deadline=None, derandomize=True)


def blobs(seed, n_per_class=8, n_features=3, n_classes=3):
    """Classes around well separated random centres."""
    rng = np.random.RandomState(seed)
    y = np.repeat(np.arange(n_classes), n_per_class)
    X = rng.randn(len(y), n_features) + 3.0 * rng.randn(n_classes, n_features)[y]
    return X, y


def fit_quiet(make, X, y=None, **fit_params):
    """Fit, silencing the warnings that degenerate data bring (tested elsewhere)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make().fit(X, y, **fit_params)


def metric_at_scale(est, c):
    """The learned Mahalanobis matrix of data scaled by ``c``, brought back to units
    of the unscaled data: ``(c L).T (c L)``, formed without squaring tiny numbers."""
    L = est.components_ * c
    return L.T @ L


def normalised_metric(est):
    L = est.components_ / np.abs(est.components_).max()
    return L.T @ L


def assert_finite(est):
    assert np.all(np.isfinite(est.components_))
    assert np.any(est.components_ != 0)


# -- learners invariant to the scale of the data --------------------------------------

# name -> (factory, fit arguments, tolerance on the metric relative to its largest
# entry). The closed-form learners agree to round-off; the iterative ones run the
# same iterations on data that differ by round-off, and may stop one iteration
# apart: their tolerance is that of their stopping rule.
EQUIVARIANT = {
    "Covariance": (lambda: Covariance(), lambda X, y: {}, 1e-9),
    "LFDA": (lambda: LFDA(), lambda X, y: {"y": y}, 1e-9),
    "RCA": (lambda: RCA(), lambda X, y: {"y": y}, 1e-9),
    "RCA_Supervised": (
        lambda: RCA_Supervised(n_chunks=6, random_state=0),
        lambda X, y: {"y": y},
        1e-9,
    ),
    "ITML_Supervised covariance prior": (
        lambda: ITML_Supervised(prior="covariance", n_constraints=30, random_state=0),
        lambda X, y: {"y": y, "bounds": (1.0, 4.0)},
        1e-7,
    ),
    "LSML_Supervised covariance prior": (
        lambda: LSML_Supervised(prior="covariance", n_constraints=60, random_state=0),
        lambda X, y: {"y": y},
        1e-5,
    ),
}


@pytest.mark.parametrize("name", sorted(EQUIVARIANT))
@PROPERTY
@given(seed=st.integers(0, 2**16), exponent=st.integers(-150, 150))
@example(seed=0, exponent=-20)  # inside [2**-100, 2**100]: no rescaling
@example(seed=0, exponent=25)
@example(seed=1, exponent=150)
@example(seed=2, exponent=-150)
def test_scale_invariant_learners_are_equivariant(name, seed, exponent):
    make, fit_args, rtol = EQUIVARIANT[name]
    X, y = blobs(seed)
    c = 10.0**exponent
    reference = fit_quiet(make, X, **fit_args(X, y))
    scaled = fit_quiet(make, X * c, **fit_args(X * c, y))
    assert_finite(scaled)
    expected = metric_at_scale(reference, 1.0)
    np.testing.assert_allclose(
        metric_at_scale(scaled, c), expected, rtol=rtol, atol=rtol * np.abs(expected).max()
    )


@pytest.mark.parametrize("init", ["identity", "covariance"])
@PROPERTY
@given(seed=st.integers(0, 2**16), exponent=st.integers(-150, 150))
@example(seed=0, exponent=-20)
@example(seed=0, exponent=25)
def test_mmc_learns_the_same_metric_at_every_scale(init, seed, exponent):
    # MMC's bound is a fraction of the similar pairs' scatter under the starting
    # metric: from the identity the metric itself does not scale with the data,
    # from the inverse covariance it scales as 1 / c**2; either way its shape
    # (the neighbourhoods) is the same
    X, y = blobs(seed)

    def make():
        return MMC_Supervised(init=init, n_constraints=30, random_state=0)

    reference = fit_quiet(make, X, y)
    scaled = fit_quiet(make, X * 10.0**exponent, y)
    assert_finite(scaled)
    np.testing.assert_allclose(
        normalised_metric(scaled), normalised_metric(reference), rtol=1e-6, atol=1e-8
    )


# -- learners tied to the data's units -------------------------------------------------

UNIT_BOUND = {
    "ITML_Supervised": lambda: ITML_Supervised(n_constraints=30, random_state=0),
    "LSML_Supervised": lambda: LSML_Supervised(n_constraints=60, random_state=0),
    "SDML_Supervised": lambda: SDML_Supervised(n_constraints=30, random_state=0),
    "MMC_Supervised diagonal": lambda: MMC_Supervised(
        diagonal=True, n_constraints=30, random_state=0
    ),
}


@pytest.mark.parametrize("name", sorted(UNIT_BOUND))
@PROPERTY
@given(seed=st.integers(0, 2**16), exponent=st.integers(-150, 150))
@example(seed=0, exponent=-30)
@example(seed=0, exponent=30)
@example(seed=0, exponent=150)
@example(seed=0, exponent=-150)
def test_unit_bound_learners_stay_finite_across_scales(name, seed, exponent):
    X, y = blobs(seed)
    assert_finite(fit_quiet(UNIT_BOUND[name], X * 10.0**exponent, y))


@pytest.mark.parametrize("name", sorted(UNIT_BOUND) + ["LFDA", "RCA_Supervised"])
@PROPERTY
@given(seed=st.integers(0, 2**16), power=st.sampled_from([-900, -500, -110, 110, 500, 900]))
def test_data_out_of_range_are_fitted_divided_by_a_power_of_two(name, seed, power):
    X, y = blobs(seed)
    make = UNIT_BOUND.get(name) or EQUIVARIANT[name][0]
    big = np.ldexp(X, power)
    s = power_of_two_scale(big)
    assert s != 1.0
    scaled = fit_quiet(make, big, y)
    in_range = fit_quiet(make, big / s, y)
    assert_finite(scaled)
    # the same arithmetic on the same numbers; the products with s are exact
    np.testing.assert_allclose(scaled.components_ * s, in_range.components_, rtol=1e-12, atol=0)


# -- duplicated rows and tiny classes, for every learner ------------------------------

SUPERVISED = {
    "Covariance": lambda: Covariance(),
    "LFDA": lambda: LFDA(),
    "LFDA k=1": lambda: LFDA(k=1),
    "RCA": lambda: RCA(),
    "RCA_Supervised": lambda: RCA_Supervised(n_chunks=6, random_state=0),
    "MMC_Supervised": lambda: MMC_Supervised(n_constraints=30, random_state=0),
    "ITML_Supervised": lambda: ITML_Supervised(n_constraints=30, random_state=0),
    "LSML_Supervised": lambda: LSML_Supervised(n_constraints=60, random_state=0),
    "SDML_Supervised": lambda: SDML_Supervised(n_constraints=30, random_state=0),
}


@pytest.mark.parametrize("name", sorted(SUPERVISED))
@PROPERTY
@given(
    seed=st.integers(0, 2**16), copies=st.integers(2, 4), exponent=st.sampled_from([0, -120, 120])
)
def test_duplicated_rows_give_a_finite_metric(name, seed, copies, exponent):
    X, y = blobs(seed)
    X = X * 10.0**exponent
    est = fit_quiet(SUPERVISED[name], np.repeat(X, copies, axis=0), np.repeat(y, copies))
    assert_finite(est)
    # no weight blown up by inverting round-off: within a few orders of the
    # metric of the data without duplicates
    reference = fit_quiet(SUPERVISED[name], X, y)
    ratio = np.abs(est.components_).max() / np.abs(reference.components_).max()
    assert 1e-3 < ratio < 1e3


# what each learner does with classes of one or two points: a finite metric
# (None) or a ValueError matching the pattern
TINY_CLASSES = {
    "Covariance": None,
    "LFDA": "at least two points",
    "LFDA k=1": "at least two points",
    "RCA": "at least two points in one chunklet",
    "RCA_Supervised": "no class of y has chunk_size=2 points",
    "MMC_Supervised": "similar pairs need a class with at least 2",
    "ITML_Supervised": "similar pairs need a class with at least 2",
    "LSML_Supervised": "similar pairs need a class with at least 2",
    "SDML_Supervised": "similar pairs need a class with at least 2",
}


@pytest.mark.parametrize("name", sorted(SUPERVISED))
@PROPERTY
@given(seed=st.integers(0, 2**16), n_classes=st.integers(2, 6))
def test_singleton_classes_give_a_finite_metric_or_a_clear_error(name, seed, n_classes):
    X, y = blobs(seed, n_per_class=1, n_classes=n_classes)
    if TINY_CLASSES[name] is None:
        assert_finite(fit_quiet(SUPERVISED[name], X, y))
    else:
        with pytest.raises(ValueError, match=TINY_CLASSES[name]):
            fit_quiet(SUPERVISED[name], X, y)


@pytest.mark.parametrize("name", sorted(SUPERVISED))
@PROPERTY
@given(seed=st.integers(0, 2**16), n_classes=st.integers(2, 4), n_features=st.integers(1, 6))
def test_classes_of_two_points_give_a_finite_metric(name, seed, n_classes, n_features):
    X, y = blobs(seed, n_per_class=2, n_classes=n_classes, n_features=n_features)
    try:
        est = fit_quiet(SUPERVISED[name], X, y)
    except ValueError as exc:
        # the one refusal: MMC's full problem with fewer similar pairs than
        # dimensions, and dissimilar pairs beyond them, has no solution
        assert name == "MMC_Supervised" and "unbounded" in str(exc)
        return
    assert_finite(est)


# -- rank deficiency and constant features --------------------------------------------


@pytest.mark.parametrize("name", sorted(SUPERVISED))
def test_constant_and_collinear_features_get_zero_or_finite_weight(name):
    X, y = blobs(3, n_per_class=10)
    X5 = np.column_stack([X, np.full(len(X), 7.0), X[:, 0] - 2.0 * X[:, 1]])
    est = fit_quiet(SUPERVISED[name], X5, y)
    assert_finite(est)
    if name in ("Covariance", "LFDA", "LFDA k=1", "RCA", "RCA_Supervised", "MMC_Supervised"):
        # learned in the span of the data: no weight on the constant feature,
        # nor on the difference that the collinear feature repeats
        M = est.get_mahalanobis_matrix()
        # with feature_scaling='standard' the span is that of the standardised
        # features Z = X / s: a direction n of Z with M_Z n = 0 is s**2 * n
        # for M = M_Z / (s s') in the data's units
        units = getattr(est, "feature_scale_", None)
        units = np.ones(5) if units is None else units**2
        for null in (np.eye(5)[3], np.array([1.0, -2.0, 0.0, 0.0, -1.0]) * units):
            assert np.linalg.norm(M @ null) <= 1e-8 * np.abs(M).max()


@pytest.mark.parametrize("make", [LSML_Supervised, ITML_Supervised, SDML_Supervised])
def test_singular_covariance_prior_is_refused(make):
    X, y = blobs(3, n_per_class=10)
    X4 = np.column_stack([X, np.full(len(X), 7.0)])
    with pytest.raises(ValueError, match="strictly positive definite prior"):
        make(prior="covariance", random_state=0).fit(X4, y)


# -- regression tests: the reported cases, before and after ----------------------------


def iris():
    return load_iris(return_X_y=True)


def test_lfda_two_samples_of_two_classes_is_a_clear_error():
    X, y = iris()
    # was: components of inf
    with pytest.raises(ValueError, match="each of the 2 classes of y has a single"):
        LFDA().fit(X[[0, 60]], [0, 1])


def test_lfda_singleton_classes_are_a_clear_error():
    X, _ = iris()
    # was: LinAlgError "Eigenvalues did not converge" from LAPACK
    with pytest.raises(ValueError, match="at least two points"):
        LFDA().fit(X[:10], np.arange(10))


def test_lfda_classes_of_copies_are_a_clear_error():
    X, _ = iris()
    # was: components of NaN
    with pytest.raises(ValueError, match="within-class scatter of LFDA is zero"):
        fit_quiet(LFDA, np.repeat(X[[0, 60, 120]], 4, axis=0), np.repeat([0, 1, 2], 4))


@pytest.mark.parametrize("copies", [2, 3])
def test_lfda_duplicated_rows_learn_the_metric_of_the_distinct_rows(copies):
    # with k=1 every point's nearest neighbour is a copy of it; its local scale
    # comes from its nearest distinct point, which is its nearest neighbour
    # without the copies. Every pair then counts copies**2 times and every class
    # copies times as many points: both scatters scale by `copies`, the
    # eigenvectors (normalised on the within-class scatter) by 1/sqrt(copies)
    X, y = blobs(5, n_per_class=12, n_features=4)
    ref = LFDA(k=1).fit(X, y)
    dup = LFDA(k=1).fit(np.repeat(X, copies, axis=0), np.repeat(y, copies))  # was: inf
    np.testing.assert_allclose(
        dup.get_mahalanobis_matrix() * copies, ref.get_mahalanobis_matrix(), rtol=1e-8, atol=1e-10
    )
    np.testing.assert_allclose(dup.eigenvalues_, ref.eigenvalues_, rtol=1e-8)


def test_rca_chunklets_of_copies_are_a_clear_error():
    X, _ = iris()
    # 0.1 + 0.1 + 0.1 is not 3 * 0.1: a chunklet mean leaves a residue on copies
    pts = np.array([[0.1, 0.7, 0.3], [0.3, 0.2, 0.9], [0.7, 0.1, 0.1]])
    # was: NaN (and whitened round-off residues)
    with pytest.raises(ValueError, match="every chunklet holds copies of one point"):
        RCA().fit(np.repeat(pts, 3, axis=0), np.repeat([0, 1, 2], 3))
    with pytest.raises(ValueError, match="copies of one point"):
        fit_quiet(
            lambda: RCA_Supervised(random_state=0),
            np.repeat(X[[0, 60, 120]], 4, axis=0),
            np.repeat([0, 1, 2], 4),
        )


@pytest.mark.parametrize("copies", [2, 3])
def test_rca_duplicated_rows_leave_the_chunklet_covariance_unchanged(copies):
    # every chunklet's centred points repeat `copies` times, and so does their
    # number: the average within-chunklet covariance is the same
    X, y = blobs(6, n_per_class=10, n_features=4)
    ref = RCA().fit(X, y)
    dup = RCA().fit(np.repeat(X, copies, axis=0), np.repeat(y, copies))
    np.testing.assert_allclose(dup.components_, ref.components_, rtol=1e-9, atol=1e-12)


def test_rca_copies_inside_chunklets_add_exactly_nothing():
    X, y = blobs(7, n_per_class=10, n_features=3)
    chunks = y.copy()
    # a fourth chunklet: three copies of one point (0.1 * 3 rounds)
    X = np.vstack([X, np.full((3, 3), 0.1)])
    chunks = np.r_[chunks, 3, 3, 3]
    with_copies = RCA().fit(X, chunks)
    without = RCA().fit(X[:-3], chunks[:-3])
    # the copies only add to the number of points the covariance averages over
    n = len(chunks)
    np.testing.assert_allclose(
        with_copies.get_mahalanobis_matrix() * (n - 3) / n,
        without.get_mahalanobis_matrix(),
        rtol=1e-10,
    )


def _covariance_in_span(X, rcond=1e-10):
    """Oracle: the pseudo-inverse covariance, from the SVD of the centred data."""
    Xc = X - X.mean(axis=0)
    _, s, Vt = np.linalg.svd(Xc, full_matrices=False)
    keep = s > rcond * s[0]
    V = Vt[keep].T
    return (V / (s[keep] ** 2 / (len(X) - 1))) @ V.T


@pytest.mark.parametrize("copies", [2, 3])
def test_covariance_of_duplicated_rows_inverts_only_the_span(copies):
    X, _ = iris()
    Z = np.repeat(X[:3], copies, axis=0)  # three distinct points: rank 2 in 4-D
    with pytest.warns(UserWarning, match="spans only 2 of its 4 dimensions"):
        cov = Covariance(feature_scaling=None).fit(Z)
    M = cov.get_mahalanobis_matrix()
    # was: weights of ~1e15 on round-off eigenvalues, on some machines
    np.testing.assert_allclose(M, _covariance_in_span(Z), rtol=1e-8, atol=1e-8 * np.abs(M).max())
    np.testing.assert_array_equal(cov.components_[2:], 0.0)


def test_covariance_of_two_points_is_the_inverse_along_their_difference():
    X, _ = iris()
    a, b = X[0], X[60]
    with pytest.warns(UserWarning, match="spans only 1 of its 4"):
        M = Covariance(feature_scaling=None).fit(np.vstack([a, b])).get_mahalanobis_matrix()
    # np.cov of two points is (b - a)(b - a)' / 2, rank one
    diff = b - a
    np.testing.assert_allclose(
        M, 2 * np.outer(diff, diff) / (diff @ diff) ** 2, rtol=1e-10, atol=1e-12
    )


@pytest.mark.parametrize("c", [1e-160, 1e-200, 1e200, 2.0**-1000])
def test_covariance_at_extreme_scales(c):
    X, _ = iris()
    # was: a LinAlgError at 1e-160, an all-zero metric (without a warning) at 1e-200,
    # NaN/inf at 1e200
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cov = Covariance().fit(X * c)
    ref = Covariance().fit(X)
    np.testing.assert_allclose(metric_at_scale(cov, c), ref.get_mahalanobis_matrix(), rtol=1e-9)


def test_covariance_of_constant_data_is_a_clear_error():
    with pytest.raises(ValueError, match="not constant"):
        Covariance().fit(np.full((5, 3), 2.5))


@pytest.mark.parametrize(
    "make",
    [
        lambda: LFDA(),
        lambda: RCA_Supervised(random_state=0),
        lambda: MMC_Supervised(random_state=0),
    ],
)
@pytest.mark.parametrize("c", [1e150, 1e200, 1e-200])
def test_eigensolvers_at_extreme_scales(make, c):
    # was: LinAlgError "Eigenvalues did not converge" at 1e200 (and for MMC a
    # ValueError at 1e-200: every squared distance underflowed to zero)
    X, y = iris()
    ref = fit_quiet(make, X, y)
    est = fit_quiet(make, X * c, y)
    assert_finite(est)
    np.testing.assert_allclose(
        normalised_metric(est), normalised_metric(ref), rtol=1e-6, atol=1e-9
    )


@pytest.mark.parametrize(
    "make, moves_from_prior",
    [
        # feature_scaling=None: the power-of-two path, in metric-learn's units
        (lambda: ITML_Supervised(random_state=0, feature_scaling=None), True),
        # at the scale it is fitted at (|x| < 1), LSML's optimum is close to its
        # identity prior
        (lambda: LSML_Supervised(random_state=0, feature_scaling=None), False),
        (lambda: SDML_Supervised(random_state=0, feature_scaling=None), True),
    ],
)
def test_unit_bound_learners_fit_data_beyond_float_range_of_their_squares(make, moves_from_prior):
    # was: the prior returned as if fitted, after overflow warnings (ITML, LSML),
    # or a LinAlgError (SDML)
    X, y = iris()
    big = X * 1e200
    s = power_of_two_scale(big)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no overflow on the way
        est = fit_quiet(make, big, y)
    in_range = fit_quiet(make, big / s, y)
    np.testing.assert_allclose(est.components_ * s, in_range.components_, rtol=1e-12)
    # fitted, not the prior: the identity in the units of big / s
    at_prior = np.allclose(metric_at_scale(est, s), np.eye(4), atol=1e-3)
    assert at_prior != moves_from_prior


def test_given_prior_is_taken_in_the_units_of_the_data():
    X, y = iris()
    big = np.ldexp(X, 400)
    s = power_of_two_scale(big)
    prior = np.diag([1.0, 2.0, 3.0, 4.0]) * 2.0**-800  # in the units of big
    # the power-of-two path of feature_scaling=None (metric-learn's units)
    a = ITML_Supervised(prior=prior, random_state=0, feature_scaling=None).fit(big, y)
    b = ITML_Supervised(prior=prior * s**2, random_state=0, feature_scaling=None).fit(big / s, y)
    np.testing.assert_allclose(a.components_ * s, b.components_, rtol=1e-12)
    # a prior that cannot be expressed at the scale the data are fitted at
    with pytest.raises(ValueError, match="prior is given in the units of the data"):
        LSML_Supervised(prior=np.eye(4), random_state=0, feature_scaling=None).fit(
            np.ldexp(X, 700), y
        )


def _similar_span_null(est, X, y):
    """Directions no similar pair of the fit differs in (from the pairs it drew)."""
    pairs, labels = est._label_pairs(
        *est._validate_supervised(X, y), np.random.RandomState(est.random_state)
    )
    S = (pairs[:, 0] - pairs[:, 1])[labels == 1]
    w, V = np.linalg.eigh(S.T @ S)
    return V[:, w <= 1e-10 * w[-1]], pairs, labels


def test_mmc_supervised_fits_raw_digits_where_pairs_leave_unbounded_directions():
    X, y = load_digits(return_X_y=True)
    # with these pairs no similar pair differs in pixel 56 (nor in the three
    # constant pixels) but some dissimilar pair does: was a ValueError
    mmc = MMC_Supervised(random_state=5)
    with pytest.warns(UserWarning, match="span only 60 of the 64 .* unbounded"):
        mmc.fit(X, y)
    M = mmc.get_mahalanobis_matrix()
    assert np.all(np.isfinite(M))
    null, pairs, labels = _similar_span_null(mmc, X, y)
    assert null.shape[1] == 4
    np.testing.assert_allclose(M @ null, 0.0, atol=1e-10 * np.abs(M).max())
    # Xing et al.'s criterion: the dissimilar pairs' summed distance at unit
    # similar scatter, well above the Euclidean metric's
    diffs = pairs[:, 0] - pairs[:, 1]

    def ratio(A):
        d2 = np.clip(np.einsum("ij,jk,ik->i", diffs, A, diffs), 0, None)
        return np.sqrt(d2[labels == -1]).sum() / np.sqrt(d2[labels == 1].sum())

    assert ratio(M) > 1.2 * ratio(np.eye(64))
    # nearest neighbours stay sensible (metric-learn's MMC: 0.85 on standardised
    # digits; here 0.88 on 5 folds of raw digits, documented)
    Xt = mmc.transform(X)
    assert cross_val_score(KNeighborsClassifier(3), Xt, y, cv=3).mean() > 0.8


def test_mmc_gives_constant_features_zero_weight_and_keeps_the_rest():
    X, y = blobs(8, n_per_class=10, n_features=4)
    ref = MMC_Supervised(n_constraints=40, random_state=0).fit(X, y)
    X5 = np.column_stack([X, np.full(len(X), 2.5)])
    with pytest.warns(UserWarning, match="no pair differs in the others"):
        mmc = MMC_Supervised(n_constraints=40, random_state=0).fit(X5, y)
    M = mmc.get_mahalanobis_matrix()
    np.testing.assert_array_equal(M[4], 0.0)
    # the solver is rotation invariant: the same metric on the other features
    np.testing.assert_allclose(
        M[:4, :4], ref.get_mahalanobis_matrix(), rtol=1e-7, atol=1e-9 * np.abs(M).max()
    )


def test_mmc_refuses_similar_pairs_too_few_to_span_the_data():
    rng = np.random.RandomState(0)
    pairs = rng.randn(6, 2, 5)
    with pytest.raises(
        ValueError, match="2 similar pairs of distinct points cannot span the 5 dimensions"
    ):
        MMC().fit(pairs, [1, -1, 1, -1, -1, -1])


@pytest.mark.parametrize("make", [ITML, SDML, MMC])
def test_pair_learners_at_extreme_scales_calibrate_on_the_given_pairs(make):
    X, y = iris()
    rng = np.random.RandomState(0)
    a, b = rng.randint(150, size=(2, 200))
    labels = np.where(y[a] == y[b], 1, -1)
    pairs = np.stack([X[a], X[b]], axis=1) * 1e200
    s = power_of_two_scale(pairs)
    est = fit_quiet(make, pairs, labels)
    in_range = fit_quiet(make, pairs / s, labels)
    # the threshold is on learned distances, which the scaled-back map keeps
    assert np.isfinite(est.threshold_)
    assert est.threshold_ == pytest.approx(in_range.threshold_, rel=1e-12)
    np.testing.assert_array_equal(est.predict(pairs), in_range.predict(pairs / s))


def test_lsml_quadruplets_at_extreme_scales():
    rng = np.random.RandomState(0)
    q = rng.randn(60, 4, 3)
    q[:, 1, 0] = q[:, 0, 0]
    q[:, 3, 0] = q[:, 2, 0] + 2
    tiny = q * 1e-200
    s = power_of_two_scale(tiny)
    est = LSML().fit(tiny)  # was: the prior, after overflow and underflow
    in_range = LSML().fit(tiny / s)
    np.testing.assert_allclose(est.components_ * s, in_range.components_, rtol=1e-12)
    # the objective in the units of the data: M is M_in_range / s**2, so its
    # log-determinant is lower by 2 * n_features * log(s)
    assert est.loss_ == pytest.approx(in_range.loss_ + 6 * np.log(s), rel=1e-12)


def test_every_metric_learner_is_swept_across_scales():
    # the sweeps of this file and of test_extreme_gradient_learners.py together
    # cover every learner the package exports; a new learner must join one
    factories = [
        *(make for make, _, _ in EQUIVARIANT.values()),
        *UNIT_BOUND.values(),
        *SUPERVISED.values(),
        *(make for make, _ in LEARNERS.values()),
    ]
    swept = {type(make()).__name__ for make in factories}
    # the tuple forms of the pair and quadruplet learners, swept above
    swept |= {"ITML", "SDML", "MMC", "LSML"}
    # the cosine learners, invariant to each point's scale, are swept in test_cosine.py
    swept |= {"CosineMetricLearner", "CosineMetricLearner_Supervised"}
    # and the angular-margin learner in test_angular.py
    swept |= {"AngularMarginLearner"}
    learners = {cls.__name__ for cls in discover_estimators() if issubclass(cls, MahalanobisMixin)}
    assert learners <= swept, sorted(learners - swept)
