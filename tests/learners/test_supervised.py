"""The path the pairs learners share from ``fit`` to their solver."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from mlearn import (
    ITML,
    MMC,
    SDML,
    CosineMetricLearner,
    CosineMetricLearner_Supervised,
    ITML_Supervised,
    MMC_Supervised,
    SDML_Supervised,
)
from mlearn.constraints import Constraints
from mlearn.learners._supervised import scaled_pairs

# each pairs form, its _Supervised form and parameters under which both start
# from the same metric (no initialisation that needs class labels)
PAIRS_FORMS = [
    pytest.param(ITML, ITML_Supervised, {}, id="ITML"),
    pytest.param(MMC, MMC_Supervised, {"init": "identity", "diagonal": True}, id="MMC"),
    pytest.param(SDML, SDML_Supervised, {"balance_param": 0.1}, id="SDML"),
    pytest.param(
        CosineMetricLearner, CosineMetricLearner_Supervised, {"init": "identity"}, id="Cosine"
    ),
]


@pytest.mark.parametrize("pairs_form, supervised_form, params", PAIRS_FORMS)
def test_supervised_form_fits_the_pairs_it_draws(pairs_form, supervised_form, params):
    X, y = load_iris(return_X_y=True)
    n = 40
    supervised = supervised_form(
        n_constraints=n, random_state=0, feature_scaling=None, **params
    ).fit(X, y)
    # the same draw as the supervised form's: Constraints seeded by random_state
    idx, pair_labels = Constraints(y).pairs(n, random_state=check_random_state(0))
    on_pairs = pairs_form(random_state=0, **params).fit(X[idx], pair_labels)
    # the same solver on the same pairs: equal up to round-off (BLAS may round
    # differently on copies of the pairs)
    M = on_pairs.get_mahalanobis_matrix()
    assert_allclose(supervised.get_mahalanobis_matrix(), M, rtol=1e-6, atol=1e-6 * np.abs(M).max())
    # only the pairs form calibrates a threshold, on its training pairs
    assert not hasattr(supervised, "threshold_")
    threshold = on_pairs.threshold_
    assert on_pairs.calibrate_threshold(X[idx], pair_labels).threshold_ == threshold


@pytest.mark.parametrize("pairs_form, supervised_form, params", PAIRS_FORMS)
def test_calibration_params_reach_the_calibration(pairs_form, supervised_form, params):
    X, y = load_iris(return_X_y=True)
    idx, pair_labels = Constraints(y).pairs(40, random_state=0)
    learner = pairs_form(random_state=0, **params)
    learner.fit(X[idx], pair_labels, calibration_params={"strategy": "max_tpr", "min_rate": 0.9})
    # the threshold calibrate_threshold picks for the same strategy, on the same pairs
    expected = learner.calibrate_threshold(
        X[idx], pair_labels, strategy="max_tpr", min_rate=0.9
    ).threshold_
    refitted = pairs_form(random_state=0, **params).fit(
        X[idx], pair_labels, calibration_params={"strategy": "max_tpr", "min_rate": 0.9}
    )
    assert refitted.threshold_ == expected
    with pytest.raises(ValueError, match="unknown keys"):
        pairs_form(**params).fit(X[idx], pair_labels, calibration_params={"strategi": "f_beta"})


def test_mmc_supervised_initialises_from_the_labelled_points():
    # init='lda' needs the labels: only the supervised form has them, and uses
    # its labelled points (negative labels mark unlabelled ones)
    X, y = load_iris(return_X_y=True)
    partly = y.copy()
    partly[::3] = -1
    learner = MMC_Supervised(init="lda", n_components=2, max_iter=1, random_state=0)
    with pytest.warns(ConvergenceWarning):
        learner.fit(X, partly)
    assert learner.components_.shape == (2, 4)
    idx, pair_labels = Constraints(y).pairs(20, random_state=0)
    with pytest.raises(ValueError, match="lda"):
        MMC(init="lda").fit(X[idx], pair_labels)


@pytest.mark.parametrize("factor", [1.0, 2.0**120, 2.0**-120])
def test_scaled_pairs_brings_pairs_into_range_exactly(factor):
    rng = np.random.RandomState(0)
    points = rng.randn(6, 3)
    idx = np.array([[0, 1], [2, 3], [4, 5], [0, 1], [1, 2]])
    pairs = points[idx] * factor
    y = np.array([1, -1, 1, 1, -1])
    diffs, labels, distinct, scale = scaled_pairs(pairs, y)
    # a power of two, so that dividing is exact
    assert np.log2(scale) == np.round(np.log2(scale))
    assert 0.5 <= np.abs(pairs / scale).max() < 1 or scale == 1.0
    assert_array_equal(diffs, (pairs[:, 0] - pairs[:, 1]) / scale)
    assert_array_equal(labels, y)
    # the distinct points of the pairs, once each
    expected = np.unique(np.vstack([pairs[:, 0], pairs[:, 1]]) / scale, axis=0)
    assert_array_equal(distinct, expected)
    assert distinct.shape == (6, 3)
    with pytest.raises(ValueError, match="y"):
        scaled_pairs(pairs, np.array([1, 0, 1, 1, -1]))


@pytest.mark.parametrize("learner", [SDML(balance_param=0.1), SDML_Supervised(balance_param=0.1)])
def test_sdml_shift_warning_points_at_the_fit_call(learner):
    X, y = load_iris(return_X_y=True)
    args = (X, y)
    if isinstance(learner, SDML):
        idx, pair_labels = Constraints(y).pairs(40, random_state=0)
        args = (X[idx], pair_labels)
    with pytest.warns(UserWarning, match="spectrum was shifted") as record:
        learner.fit(*args)
    assert record[0].filename == __file__
