"""NCA: kernels against NumPy references, objective and gradient against brute
force and finite differences, agreement with scikit-learn's NCA, behaviour."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.neighbors import NeighborhoodComponentsAnalysis
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from mlearn import NCA
from mlearn.learners import _nca_kernels as K
from mlearn.linalg import auto_init


def nca_loss_brute(L, X, y):
    """-sum_i p_i from the definition, with explicit pair differences."""
    E = X @ L.T
    D = ((E[:, None, :] - E[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(D, np.inf)
    P = np.exp(-(D - D.min(axis=1, keepdims=True)))
    P /= P.sum(axis=1, keepdims=True)
    return -np.sum(P * (y[:, None] == y[None, :]))


def finite_difference(f, L, h=1e-6):
    g = np.zeros_like(L)
    for idx in np.ndindex(*L.shape):
        Lp, Lm = L.copy(), L.copy()
        Lp[idx] += h
        Lm[idx] -= h
        g[idx] = (f(Lp) - f(Lm)) / (2 * h)
    return g


@pytest.fixture
def small():
    rng = np.random.RandomState(0)
    X = rng.randn(50, 5)
    y = rng.randint(0, 3, 50).astype(np.int64)
    return X, y


@pytest.mark.parametrize("block_bytes", [2**21, 8 * 50 * 7])  # one block, 8 blocks
@pytest.mark.parametrize("n_components", [5, 2])
@pytest.mark.parametrize("gather", [False, True])
def test_objective_and_gradient_match_brute_force_and_finite_differences(
    small, block_bytes, n_components, gather
):
    X, y = small
    L = np.random.RandomState(1).randn(n_components, 5) * 0.6
    objective = K.SoftmaxObjective(X, y, "nca", n_components, block_bytes, gather=gather)
    loss, grad = objective.value_and_gradient(L)
    assert loss == pytest.approx(nca_loss_brute(L, X, y), rel=1e-12)
    numeric = finite_difference(lambda A: nca_loss_brute(A, X, y), L)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-7)


def test_matches_scikit_learn_nca():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    ours = NCA(init="identity", max_iter=50, tol=1e-5, feature_scaling=None).fit(X, y)
    theirs = NeighborhoodComponentsAnalysis(init="identity", max_iter=50, tol=1e-5).fit(X, y)
    L0 = np.eye(4)
    # same objective reached from the same start
    f_ours = nca_loss_brute(ours.components_, X, y)
    f_theirs = nca_loss_brute(theirs.components_, X, y)
    assert f_ours < nca_loss_brute(L0, X, y)
    assert f_ours == pytest.approx(f_theirs, rel=1e-3)
    np.testing.assert_allclose(ours.components_, theirs.components_, atol=5e-3)


def test_default_stop_is_at_the_gradient_tolerance_past_scikit_learns_stop():
    # From the same start (init='auto' is the identity here on both sides),
    # the default stopping rule (SciPy's ftol, gtol=1e-5, as metric-learn)
    # runs past scikit-learn's (ftol=gtol=1e-5): it stops where the gradient
    # is below 1e-5 and reaches at least scikit-learn's objective. On these
    # separable classes the objective is flat near its supremum n, so the
    # extra iterations mostly grow the scale of the map.
    X, y = load_wine(return_X_y=True)
    X = MinMaxScaler().fit_transform(X)
    # both on the min-max-scaled data as given (scikit-learn does not rescale)
    ours = NCA(feature_scaling=None).fit(X, y)
    theirs = NeighborhoodComponentsAnalysis().fit(X, y)
    assert auto_init(*X.shape, 13, n_classes=3) == "identity"

    def loss(L):
        return nca_loss_brute(L, X, y)

    f_ours, f_theirs = loss(ours.components_), loss(theirs.components_)
    assert f_ours <= f_theirs + 1e-9 * abs(f_theirs)
    assert ours.n_iter_ < ours.max_iter
    assert ours.objective_history_[-1] == pytest.approx(f_ours, rel=1e-10)
    grad_ours = finite_difference(loss, ours.components_)
    last_decrease = (ours.objective_history_[-2] - f_ours) / abs(f_ours)
    # SciPy's stop: largest gradient entry <= gtol, or relative decrease <= ftol
    assert np.abs(grad_ours).max() <= 1.01e-5 or last_decrease <= 2.3e-9
    # scikit-learn stopped on its relative decrease while the gradient was
    # still above 1e-5, before the objective was as close to n
    assert np.abs(finite_difference(loss, theirs.components_)).max() > 1e-5
    assert -f_theirs / len(y) < -f_ours / len(y) < 1
    assert np.linalg.norm(ours.components_) > np.linalg.norm(theirs.components_)
    # with scikit-learn's stopping rule the two fits are the same up to that
    # rule: both stop once an iteration gains less than 1e-5 * |f|, so their
    # objectives agree to a few times that whatever the BLAS (here the iterates
    # are the same: the maps agree to 1e-12)
    same = NCA(max_iter=50, tol=1e-5, feature_scaling=None).fit(X, y)
    assert loss(same.components_) == pytest.approx(f_theirs, rel=1e-4)
    gap = np.linalg.norm(same.components_ - theirs.components_)
    assert gap < 1e-2 * np.linalg.norm(theirs.components_)


def test_noise_features_are_down_weighted():
    rng = np.random.RandomState(0)
    n = 300
    y = rng.randint(0, 3, n)
    informative = y[:, None] * 3.0 + rng.randn(n, 2)
    noise = rng.randn(n, 4)
    X = StandardScaler().fit_transform(np.hstack([informative, noise]))
    nca = NCA(n_components=2, init="pca", random_state=0).fit(X, y)
    # share of the learned map on the two informative features (1/3 for a
    # map that ignores the labels)
    weights = (nca.components_**2).sum(axis=0)
    assert weights[:2].sum() / weights.sum() > 0.8


def test_row_blocks_give_the_same_fit():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    L0 = np.random.RandomState(0).randn(2, 4)
    one = K.SoftmaxObjective(X, y.astype(np.int64), "nca", 2)
    many = K.SoftmaxObjective(X, y.astype(np.int64), "nca", 2, block_bytes=8 * 150 * 16)
    assert one.block_rows == 150 and many.block_rows == 16
    f1, g1 = one.value_and_gradient(L0)
    f2, g2 = many.value_and_gradient(L0)
    assert f1 == pytest.approx(f2, rel=1e-13)
    np.testing.assert_allclose(g1, g2, rtol=1e-11, atol=1e-12)


def test_parameters_callback_verbose_and_attributes(capsys):
    X, y = load_iris(return_X_y=True)
    seen = []
    nca = NCA(
        n_components=2,
        max_iter=5,
        verbose=1,
        callback=lambda L, it: seen.append((L.shape, it)),
        feature_scaling=None,  # on iris as given, 5 iterations do not converge
    )
    with pytest.warns(ConvergenceWarning, match="max_iter=5"):
        nca.fit(X, y)
    assert nca.components_.shape == (2, 4)
    assert nca.n_iter_ == 5
    assert seen == [((2, 4), i) for i in range(1, 6)]
    out = capsys.readouterr().out
    assert out.count("[NCA]") >= 6 and "Objective Value" in out


def test_warm_start_continues_from_components():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    starts = []
    nca = NCA(max_iter=3, warm_start=True, callback=lambda L, it: starts.append(L))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        nca.fit(X, y)
        first = nca.components_.copy()
        nca.fit(X, y)
    f = [nca_loss_brute(L, X, y) for L in (first, nca.components_)]
    assert f[1] <= f[0]
    with pytest.raises(ValueError, match="warm_start"):
        nca.fit(X[:, :3], y)


def test_random_init_is_reproducible_and_array_init_is_used():
    X, y = load_iris(return_X_y=True)
    a = NCA(init="random", max_iter=5, random_state=3)
    b = NCA(init="random", max_iter=5, random_state=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        np.testing.assert_array_equal(a.fit(X, y).components_, b.fit(X, y).components_)
    init = np.eye(2, 4)
    nca = NCA(init=init, max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        nca.fit(X, y)
    assert nca.components_.shape == (2, 4)
    np.testing.assert_array_equal(init, np.eye(2, 4))  # not modified


def test_bad_input():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match="n_components=5"):
        NCA(n_components=5).fit(X, y)
    with pytest.raises(ValueError, match="init"):
        NCA(init=np.eye(3)).fit(X, y)
    with pytest.raises(ValueError, match="init has 2 rows"):
        NCA(init=np.eye(2, 4), n_components=3).fit(X, y)
    with pytest.raises(ValueError, match="Unknown label type"):
        NCA().fit(X, X[:, 0] + 0.5)


def test_inputs_not_modified_and_float32():
    X, y = load_iris(return_X_y=True)
    X32 = X.astype(np.float32)
    before = X32.copy()
    nca = NCA(max_iter=20, tol=1e-5).fit(X32, y)
    np.testing.assert_array_equal(X32, before)
    assert nca.transform(X32).dtype == np.float32
    assert np.isfinite(nca.components_).all()


def test_far_out_data_fit_without_a_kernel_error():
    # X * 1e12 raised ZeroDivisionError inside the kernel: the nearest
    # neighbour's term was cut from rows whose distances are ~1e24
    X, y = load_iris(return_X_y=True)
    nca = NCA(max_iter=20).fit(X * 1e12, y)
    assert np.all(np.isfinite(nca.components_))
    # at that scale the softmax is the nearest-neighbour rule: the leave-one-out
    # 1-NN accuracy in the learned space is what NCA's objective counts
    from sklearn.model_selection import cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    accuracy = cross_val_score(KNeighborsClassifier(1), nca.transform(X * 1e12), y, cv=5).mean()
    assert accuracy > 0.9


def test_warm_start_on_data_fitted_at_a_power_of_two_scale():
    # the previous components_ are in data units: they start the next fit
    # multiplied by the scale, so the objective does not go back up
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X) * 1e200
    nca = NCA(max_iter=3, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        nca.fit(X, y)
        first = nca.components_.copy()
        nca.fit(X, y)
    f = [nca_loss_brute(L, X, y) for L in (first, nca.components_)]
    assert np.all(np.isfinite(f)) and f[1] <= f[0]
