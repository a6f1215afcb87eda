"""Evaluation scores against hand-worked cases and brute-force references."""

import inspect
import warnings

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from sklearn.datasets import load_iris
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import accuracy_score, roc_auc_score, roc_curve
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import (
    InvalidParameterError,
    generate_invalid_param_val,
    make_constraint,
)

from mlearn import Constraints, Covariance, metrics
from mlearn.metrics import (
    _majority,
    equal_error_rate,
    knn_accuracy,
    make_retrieval_scorer,
    make_tuple_scorer,
    mean_average_precision,
    mean_average_precision_at_r,
    pair_roc_auc,
    precision_at_k,
    r_precision,
    recall_at_k,
    verification_accuracy,
)
from mlearn.pairwise import METRIC_NAMES

from .test_base import ShrunkPairs

# -- brute-force references ---------------------------------------------------------


def _rankings(emb, labels, ref, ref_labels):
    """Per query: reference labels sorted by (distance, index), self removed when ref is None."""
    self_ref = ref is None
    if self_ref:
        ref, ref_labels = emb, labels
    D = cdist(emb, ref)
    out = []
    for q in range(len(emb)):
        order = np.lexsort((np.arange(len(ref)), D[q]))
        if self_ref:
            order = order[order != q]
        out.append(ref_labels[order] == labels[q])
    return out


def brute(emb, labels, ref=None, ref_labels=None):
    rel_lists = _rankings(emb, labels, ref, ref_labels)
    res = {"p1": [], "p5": [], "r5": [], "rp": [], "mapr": [], "map": []}
    for rel in rel_lists:
        R = int(rel.sum())
        if R == 0:
            continue
        res["p1"].append(rel[:1].mean())
        res["p5"].append(rel[:5].sum() / min(5, len(rel)))
        res["r5"].append(float(rel[:5].any()))
        res["rp"].append(rel[:R].sum() / R)
        prec = np.cumsum(rel) / np.arange(1, len(rel) + 1)
        res["mapr"].append(np.sum(prec[:R] * rel[:R]) / R)
        res["map"].append(np.sum(prec * rel) / R)
    n_excluded = len(rel_lists) - len(res["p1"])
    return {k: float(np.mean(v)) for k, v in res.items()}, n_excluded


@pytest.fixture(scope="module")
def random_sets():
    rng = np.random.RandomState(0)
    emb = rng.randn(120, 5)
    labels = rng.randint(0, 6, size=120)
    labels[:2] = 99  # a class of two
    labels[2] = 100  # a class with one member: excluded from retrieval scores
    ref = rng.randn(90, 5)
    ref_labels = rng.randint(0, 7, size=90)
    return emb, labels, ref, ref_labels


@pytest.mark.parametrize("with_reference", [False, True])
def test_retrieval_scores_equal_brute_force(random_sets, with_reference):
    emb, labels, ref, ref_labels = random_sets
    kw = {"reference": ref, "reference_labels": ref_labels} if with_reference else {}
    expected, n_excluded = brute(emb, labels, *((ref, ref_labels) if with_reference else ()))
    got = {
        "p1": precision_at_k(emb, labels, k=1, **kw),
        "p5": precision_at_k(emb, labels, k=5, **kw),
        "r5": recall_at_k(emb, labels, k=5, **kw),
        "rp": r_precision(emb, labels, **kw),
        "mapr": mean_average_precision_at_r(emb, labels, **kw),
        "map": mean_average_precision(emb, labels, **kw),
    }
    for key in expected:
        assert got[key] == pytest.approx(expected[key], rel=1e-12, abs=1e-15), key
    _, excluded = r_precision(emb, labels, return_n_excluded=True, **kw)
    assert excluded == n_excluded
    assert excluded >= 1


def test_small_blocks_give_the_same_scores(random_sets):
    emb, labels, _, _ = random_sets
    full = mean_average_precision_at_r(emb, labels)
    tiny = mean_average_precision_at_r(emb, labels, working_memory=0.0005)
    assert tiny == full
    assert knn_accuracy(emb, labels, working_memory=0.0005) == knn_accuracy(emb, labels)


def test_hand_worked_case():
    # 1-D points; classes a: {0, 1, 4}, b: {2, 3}
    X = np.array([[0.0], [1.0], [10.0], [11.0], [2.5]])
    y = np.array(["a", "a", "b", "b", "a"])
    # rankings (self removed):  0: 1,4,2,3   1: 0,4,2,3   2: 3,4,1,0   3: 2,4,1,0   4: 1,0,2,3
    assert precision_at_k(X, y, k=1) == 1.0
    assert precision_at_k(X, y, k=2) == pytest.approx((1 + 1 + 0.5 + 0.5 + 1) / 5)
    assert r_precision(X, y) == pytest.approx((1 + 1 + 1 + 1 + 1) / 5)
    # AP for query 2 over the full ranking: relevant at rank 1 only -> 1
    assert mean_average_precision(X, y) == 1.0
    assert knn_accuracy(X, y, n_neighbors=3) == pytest.approx(3 / 5)


@pytest.mark.parametrize("k", [1, 2, 4, 7])
def test_majority_vote_matches_counting_with_ties_to_the_smallest(k):
    codes = np.random.RandomState(k).randint(0, 4, size=(500, k))
    expected = [np.argmax(np.bincount(row, minlength=4)) for row in codes]
    np.testing.assert_array_equal(_majority(codes), expected)
    assert _majority(codes).dtype == codes.dtype


def test_knn_accuracy_matches_sklearn_leave_one_out():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X) + np.random.RandomState(0).randn(*X.shape) * 1e-6
    hits = []
    for i in range(len(X)):
        mask = np.arange(len(X)) != i
        knn = KNeighborsClassifier(5, algorithm="brute").fit(X[mask], y[mask])
        hits.append(knn.predict(X[i : i + 1])[0] == y[i])
    assert knn_accuracy(X, y, n_neighbors=5) == np.mean(hits)
    Xq, Xr = X[::2], X[1::2]
    expected = KNeighborsClassifier(3, algorithm="brute").fit(Xr, y[1::2]).score(Xq, y[::2])
    assert knn_accuracy(Xq, y[::2], reference=Xr, reference_labels=y[1::2]) == expected


def test_pair_scores_against_sklearn_and_brute_force():
    rng = np.random.RandomState(1)
    y = np.where(rng.rand(200) < 0.4, 1, -1)
    scores = np.round(rng.randn(200) + (y == 1), 1)  # rounding makes ties
    assert pair_roc_auc(y, scores) == pytest.approx(roc_auc_score(y, scores), rel=1e-12)
    fpr, tpr, _ = roc_curve(y, scores)
    fnr = 1 - tpr
    j = np.argmax(fnr <= fpr)
    t = (fnr[j - 1] - fpr[j - 1]) / ((fnr[j - 1] - fpr[j - 1]) - (fnr[j] - fpr[j]))
    assert equal_error_rate(y, scores) == pytest.approx(fpr[j - 1] + t * (fpr[j] - fpr[j - 1]))
    assert verification_accuracy(y, scores, 0.5) == np.mean(np.where(scores >= 0.5, 1, -1) == y)


def test_pair_score_errors():
    with pytest.raises(ValueError, match="y_true must contain both"):
        pair_roc_auc([1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="labels in"):
        equal_error_rate([1, 0], [0.1, 0.2])
    with pytest.raises(ValueError, match="scores must not contain NaN"):
        pair_roc_auc([1, -1], [np.nan, 0.2])
    with pytest.raises(TypeError, match="'threshold' parameter of verification_accuracy must be"):
        verification_accuracy([1, -1], [0.1, 0.2], "0.5")


def test_retrieval_input_errors(random_sets):
    emb, labels, ref, ref_labels = random_sets
    with pytest.raises(ValueError, match="labels has 3 entries but embeddings has 120 rows"):
        precision_at_k(emb, labels[:3])
    with pytest.raises(ValueError, match="reference given without reference_labels"):
        precision_at_k(emb, labels, reference=ref)
    with pytest.raises(ValueError, match="reference has 4 features but embeddings have 5"):
        precision_at_k(emb, labels, reference=ref[:, :4], reference_labels=ref_labels)
    with pytest.raises(ValueError, match="'k' parameter of precision_at_k must be an int"):
        precision_at_k(emb, labels, k=0)
    with pytest.raises(ValueError, match="'score' parameter of make_retrieval_scorer must be"):
        make_retrieval_scorer("ndcg")


def test_retrieval_scorer_in_grid_search():
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), Covariance(), KNeighborsClassifier())
    scorer = make_retrieval_scorer("map_at_r")
    search = GridSearchCV(
        pipe, {"kneighborsclassifier__n_neighbors": [1, 3]}, scoring=scorer, cv=3
    )
    search.fit(X, y)
    # the score only depends on the embedding, the same for both grid points
    scores = search.cv_results_["mean_test_score"]
    assert scores[0] == scores[1]
    # oracle: the same folds computed by hand
    manual = []
    for tr, te in StratifiedKFold(3).split(X, y):
        emb = pipe[:-1].fit(X[tr], y[tr]).transform(X[te])
        manual.append(brute(emb, y[te])[0]["mapr"])
    assert scores[0] == pytest.approx(np.mean(manual), rel=1e-12)
    p1 = cross_val_score(Covariance(), X, y, cv=3, scoring=make_retrieval_scorer("precision_at_1"))
    assert np.all((0 <= p1) & (p1 <= 1))


def test_tuple_scorers():
    X, labels = load_iris(return_X_y=True)
    idx, y = Constraints(labels).pairs(60, random_state=0)
    pairs = X[idx]
    learner = ShrunkPairs().fit(pairs, y)
    auc = make_tuple_scorer("roc_auc")(learner, pairs, y)
    assert auc == pytest.approx(roc_auc_score(y, learner.decision_function(pairs)))
    accuracy = make_tuple_scorer("accuracy")(learner, pairs, y)
    assert accuracy == accuracy_score(y, learner.predict(pairs))
    eer = make_tuple_scorer("equal_error_rate")(learner, pairs, y)
    assert 0 <= eer <= 1
    search = GridSearchCV(
        ShrunkPairs(), {"shrinkage": [0.1, 10.0]}, scoring=make_tuple_scorer("roc_auc"), cv=3
    ).fit(pairs, y)
    assert 0.5 < search.best_score_ <= 1


# -- undefined scores and bad input -------------------------------------------------

RETRIEVAL_SCORES = [
    precision_at_k,
    recall_at_k,
    r_precision,
    mean_average_precision_at_r,
    mean_average_precision,
]


@pytest.mark.parametrize("score", RETRIEVAL_SCORES, ids=lambda f: f.__name__)
def test_score_with_every_query_left_out_warns_and_is_zero(score):
    rng = np.random.RandomState(0)
    emb, ref = rng.randn(6, 3), rng.randn(5, 3)
    singletons = np.arange(6)  # leave-one-out: no query has a relevant point
    assert not any(rel.any() for rel in _rankings(emb, singletons, None, None))
    with pytest.warns(UndefinedMetricWarning, match=f"{score.__name__} is undefined"):
        assert score(emb, singletons, return_n_excluded=True) == (0.0, 6)
    # a reference set that holds none of the queries' classes
    with pytest.warns(UndefinedMetricWarning, match="every query was left out"):
        result = score(emb, np.zeros(6), reference=ref, reference_labels=np.ones(5))
    assert result == 0.0 and not np.isnan(result)


@pytest.mark.parametrize("score", RETRIEVAL_SCORES, ids=lambda f: f.__name__)
def test_some_queries_left_out_is_silent(random_sets, score):
    emb, labels, _, _ = random_sets  # one class of a single member
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, n_excluded = score(emb, labels, return_n_excluded=True)
    assert n_excluded == 1 and 0 <= value <= 1


@pytest.mark.parametrize("score", RETRIEVAL_SCORES + [knn_accuracy], ids=lambda f: f.__name__)
def test_a_single_point_cannot_be_scored_leave_one_out(score):
    with pytest.raises(ValueError, match="need at least 2 embeddings, got 1"):
        score(np.zeros((1, 2)), [0])


def test_more_neighbours_than_candidates_raises_like_kneighbors():
    rng = np.random.RandomState(1)
    X, y = rng.randn(5, 2), np.array([0, 0, 1, 1, 0])
    ref, ref_y = rng.randn(3, 2), np.array([0, 1, 1])
    # the oracle refuses as well
    with pytest.raises(ValueError, match="n_neighbors"):
        KNeighborsClassifier(4, algorithm="brute").fit(ref, ref_y).predict(X)
    with pytest.raises(ValueError, match=r"n_neighbors=4 is more than the 3 candidate"):
        knn_accuracy(X, y, reference=ref, reference_labels=ref_y, n_neighbors=4)
    with pytest.raises(ValueError, match=r"n_neighbors=5 .* 4 candidate .*less the query"):
        knn_accuracy(X, y, n_neighbors=5)
    for score in (precision_at_k, recall_at_k):
        with pytest.raises(ValueError, match=r"k=5 is more than the 4 candidate"):
            score(X, y, k=5)
        with pytest.raises(ValueError, match=r"k must be at most 3"):
            score(X, y, k=4, reference=ref, reference_labels=ref_y)
    # as many as there are is fine, and agrees with the oracles
    expected = KNeighborsClassifier(3, algorithm="brute").fit(ref, ref_y).score(X, y)
    assert knn_accuracy(X, y, reference=ref, reference_labels=ref_y, n_neighbors=3) == expected
    rel = _rankings(X, y, None, None)
    assert precision_at_k(X, y, k=4) == pytest.approx(np.mean([r.mean() for r in rel]))
    assert recall_at_k(X, y, k=4) == 1.0


def test_a_single_class_scores_one_like_the_oracles():
    X = np.random.RandomState(2).randn(8, 3)
    y = np.full(8, 7)
    for score in RETRIEVAL_SCORES:
        assert score(X, y) == 1.0
    expected = KNeighborsClassifier(3).fit(X[1:], y[1:]).score(X[:1], y[:1])
    assert knn_accuracy(X, y) == expected == 1.0


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"embeddings": np.zeros((0, 2)), "labels": []}, ValueError, "embeddings is empty"),
        (
            {"embeddings": np.zeros(4), "labels": [0, 0, 1, 1]},
            ValueError,
            "embeddings must be a 2-D array",
        ),
        (
            {"reference": np.zeros((0, 2)), "reference_labels": []},
            ValueError,
            "reference is empty",
        ),
        ({"embeddings": [[0.0, np.nan], [1, 1], [2, 2], [3, 3]]}, ValueError, "embeddings"),
        ({"labels": [0.0, np.nan, 1.0, 1.0]}, ValueError, "labels contains NaN"),
        (
            {"reference": np.ones((2, 2)), "reference_labels": [0, np.inf]},
            ValueError,
            "reference_labels contains NaN or infinity",
        ),
        (
            {"labels": np.array([0, None, 1, 1], dtype=object)},
            TypeError,
            "labels must hold class labels of one comparable kind",
        ),
        ({"labels": [0, 0, 1]}, ValueError, "labels has 3 entries but embeddings has 4"),
        ({"working_memory": 0}, ValueError, r"'working_memory' parameter .* range \(0.0, inf\)"),
        ({"working_memory": np.nan}, ValueError, "'working_memory' parameter .* Got nan"),
    ],
)
@pytest.mark.parametrize("score", RETRIEVAL_SCORES + [knn_accuracy], ids=lambda f: f.__name__)
def test_retrieval_bad_input_names_the_argument(score, kwargs, error, match):
    args = {"embeddings": np.arange(8.0).reshape(4, 2), "labels": [0, 0, 1, 1]}
    args.update(kwargs)
    extra = {"n_neighbors": 1} if score is knn_accuracy else {}
    with pytest.raises(error, match=match):
        score(args.pop("embeddings"), args.pop("labels"), **args, **extra)


@pytest.mark.parametrize("k", [0, -1, True, 1.0, "2"])
def test_k_must_be_a_positive_integer(k):
    X, y = np.arange(8.0).reshape(4, 2), [0, 0, 1, 1]
    with pytest.raises(ValueError, match="'k' parameter of precision_at_k must be an int"):
        precision_at_k(X, y, k=k)
    with pytest.raises(ValueError, match="'k' parameter of recall_at_k must be an int"):
        recall_at_k(X, y, k=k)
    with pytest.raises(ValueError, match="'n_neighbors' parameter of knn_accuracy must be an int"):
        knn_accuracy(X, y, n_neighbors=k)


def test_verification_accuracy_threshold_and_inputs():
    y = np.array([1, 1, -1, -1, -1])
    scores = np.array([0.9, 0.4, 0.5, 0.1, -3.0])
    # the ends of the ROC curve: none or every pair called similar
    assert verification_accuracy(y, scores, np.inf) == np.mean(y == -1)
    assert verification_accuracy(y, scores, -np.inf) == np.mean(y == 1)
    assert verification_accuracy(y, scores, np.float32(0.45)) == np.mean(
        np.where(scores >= np.float32(0.45), 1, -1) == y
    )
    # one class alone is a defined accuracy
    assert verification_accuracy([1, 1], [0.3, 0.1], 0.2) == 0.5
    with pytest.raises(ValueError, match=r"'threshold' parameter .* Got (np.float32\()?nan"):
        verification_accuracy(y, scores, np.nan)
    with pytest.raises(ValueError, match=r"'threshold' parameter .* Got (np.float32\()?nan"):
        verification_accuracy(y, scores, np.float32("nan"))
    with pytest.raises(TypeError, match=r"'threshold' parameter .* not a bool"):
        verification_accuracy(y, scores, True)
    with pytest.raises(ValueError, match="scores must not contain NaN"):
        verification_accuracy(y, [0.9, np.nan, 0.5, 0.1, 0.0], 0.5)
    with pytest.raises(ValueError, match="scores is empty"):
        verification_accuracy([], [], 0.5)
    with pytest.raises(ValueError, match="y_true has 4 labels but there are 5 pairs"):
        verification_accuracy(y[:4], scores, 0.5)
    with pytest.raises(ValueError, match="scores must be 1-D"):
        verification_accuracy(y, scores[:, None], 0.5)


@pytest.mark.parametrize("score", [pair_roc_auc, equal_error_rate])
def test_pair_scores_refuse_empty_and_bad_input(score):
    with pytest.raises(ValueError, match="scores is empty"):
        score([], [])
    with pytest.raises(TypeError, match="scores must be real numbers"):
        score([1, -1], ["high", "low"])
    with pytest.raises(ValueError, match="y_true has 1 labels but there are 2 pairs"):
        score([1], [0.1, 0.2])
    with pytest.raises(ValueError, match="scores must not contain NaN or infinity"):
        score([1, -1], [np.inf, 0.2])
    with pytest.raises(ValueError, match="y_true must contain both"):
        score([-1, -1], [0.1, 0.2])


# -- parameter validation (scikit-learn's validate_params) ---------------------------
_X4, _Y4 = np.arange(8.0).reshape(4, 2), np.array([0, 0, 1, 1])
# A valid call of every public function; each parameter is then spoiled in turn.
VALID_CALLS = {
    "precision_at_k": {"embeddings": _X4, "labels": _Y4},
    "recall_at_k": {"embeddings": _X4, "labels": _Y4},
    "r_precision": {"embeddings": _X4, "labels": _Y4},
    "mean_average_precision_at_r": {"embeddings": _X4, "labels": _Y4},
    "mean_average_precision": {"embeddings": _X4, "labels": _Y4},
    "knn_accuracy": {"embeddings": _X4, "labels": _Y4, "n_neighbors": 1},
    "pair_roc_auc": {"y_true": [1, -1], "scores": [0.9, 0.1]},
    "equal_error_rate": {"y_true": [1, -1], "scores": [0.9, 0.1]},
    "verification_accuracy": {"y_true": [1, -1], "scores": [0.9, 0.1], "threshold": 0.5},
    "make_retrieval_scorer": {},
    "make_tuple_scorer": {},
}
PUBLIC = [getattr(metrics, name) for name in metrics.__all__]


def _invalid_values(constraints):
    """Values refused by every constraint of a parameter, as scikit-learn's
    ``check_param_validation`` builds them: an object of a type no constraint
    names, and each constraint's own out-of-range value."""
    candidates = [type("BadType", (), {})()]
    for constraint in map(make_constraint, constraints):
        try:
            candidates.append(generate_invalid_param_val(constraint))
        except NotImplementedError:
            pass
    return [
        value
        for value in candidates
        if not any(make_constraint(c).is_satisfied_by(value) for c in constraints)
    ]


def test_every_public_function_has_a_valid_call():
    assert sorted(VALID_CALLS) == sorted(metrics.__all__)
    for func in PUBLIC:
        func(**VALID_CALLS[func.__name__])


@pytest.mark.parametrize("func", PUBLIC, ids=lambda f: f.__name__)
def test_each_named_parameter_is_declared_and_checked(func):
    constraints = func._skl_parameter_constraints
    named = [
        p.name
        for p in inspect.signature(func).parameters.values()
        if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    ]
    assert sorted(constraints) == sorted(named)
    for name, options in constraints.items():
        bad_values = _invalid_values(options)
        assert bad_values, name
        for bad in bad_values:
            args = {**VALID_CALLS[func.__name__], name: bad}
            with pytest.raises(
                InvalidParameterError, match=f"The '{name}' parameter of {func.__name__} must be"
            ):
                func(**args)


@pytest.mark.parametrize(
    "func, name",
    [
        (precision_at_k, "k"),
        (recall_at_k, "k"),
        (knn_accuracy, "n_neighbors"),
        (r_precision, "working_memory"),
        (verification_accuracy, "threshold"),
    ],
)
def test_a_bool_is_not_taken_for_a_number(func, name):
    # True would otherwise read as 1: one neighbour, 1 MiB, a threshold of one
    for value in (True, np.True_):
        with pytest.raises(InvalidParameterError, match=f"'{name}' parameter"):
            func(**{**VALID_CALLS[func.__name__], name: value})


def test_unknown_metric_is_refused_with_the_names_that_exist():
    with pytest.raises(ValueError, match=r"'metric' parameter of r_precision .* Got 'cosin'"):
        r_precision(_X4, _Y4, metric="cosin")
    # every name of the distance core is accepted, aliases too
    for name in METRIC_NAMES + ("l2", "cityblock"):
        params = {"M": np.eye(2)} if name in ("mahalanobis", "bilinear") else {}
        if name in ("chi2", "kl", "jensen_shannon", "hamming"):
            continue  # histograms / binary codes: the points above are neither
        value = r_precision(_X4 + 1.0, _Y4, metric=name, **params)
        assert 0.0 <= value <= 1.0


def test_return_n_excluded_takes_bools_only():
    assert r_precision(_X4, _Y4, return_n_excluded=np.bool_(True)) == (r_precision(_X4, _Y4), 0)
    with pytest.raises(InvalidParameterError, match="'return_n_excluded' parameter"):
        r_precision(_X4, _Y4, return_n_excluded=1)


def test_working_memory_accepts_positive_finite_numbers_only():
    expected = knn_accuracy(_X4, _Y4, n_neighbors=1)
    for ok in (1, 0.001, np.float32(2.5)):
        assert knn_accuracy(_X4, _Y4, n_neighbors=1, working_memory=ok) == expected
    for bad in (-1.0, 0.0, np.inf, np.nan, "256"):
        with pytest.raises(InvalidParameterError, match="'working_memory' parameter"):
            knn_accuracy(_X4, _Y4, n_neighbors=1, working_memory=bad)


def test_scorer_names_are_checked_when_the_scorer_is_made():
    with pytest.raises(InvalidParameterError, match="'score' parameter of make_tuple_scorer"):
        make_tuple_scorer("auc")
    with pytest.raises(InvalidParameterError, match="'score' parameter of make_retrieval_scorer"):
        make_retrieval_scorer(score="precision_at_5")
    # the scorer's own keywords reach the score function, which checks them
    X, y = load_iris(return_X_y=True)
    scorer = make_retrieval_scorer("knn_accuracy", n_neighbors=0)
    with pytest.raises(InvalidParameterError, match="'n_neighbors' parameter of knn_accuracy"):
        scorer(Covariance().fit(X, y), X, y)
