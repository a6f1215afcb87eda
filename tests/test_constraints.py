import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.neighbors import NearestNeighbors

from mlearn import Constraints
from mlearn.constraints import wrap_pairs

Y = np.repeat([0, 1, 2], [5, 6, 7])


def test_positive_negative_pairs_are_valid_distinct_and_reproducible():
    a, b, c, d = Constraints(Y).positive_negative_pairs(30, random_state=0)
    assert len(a) == len(c) == 30
    assert np.all(Y[a] == Y[b]) and np.all(a != b)
    assert np.all(Y[c] != Y[d])
    assert len({tuple(sorted(p)) for p in zip(a, b)}) == 30
    assert len({tuple(sorted(p)) for p in zip(c, d)}) == 30
    again = Constraints(Y).positive_negative_pairs(30, random_state=0)
    for u, v in zip((a, b, c, d), again):
        np.testing.assert_array_equal(u, v)


def test_asking_for_more_pairs_than_exist_warns_and_returns_all():
    # 10 + 15 + 21 = 46 similar pairs exist
    with pytest.warns(UserWarning, match="only 46 distinct similar pairs exist"):
        a, b, c, d = Constraints(Y).positive_negative_pairs(60, random_state=0)
    assert len(a) == 46
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a, b, c, d = Constraints(Y).positive_negative_pairs(60, same_length=True, random_state=0)
    assert len(a) == len(c) == 46


@pytest.mark.parametrize("labels", [np.repeat([0, 1, 2], [320, 60, 3])])
def test_asking_for_nearly_every_pair_returns_distinct_valid_pairs(labels):
    # drawing almost every pair by rejection stalls on the last few; the
    # brute-force oracle is itertools' enumeration of all pairs
    import itertools

    y = np.random.RandomState(0).permutation(labels)
    similar = {(i, j) for i, j in itertools.combinations(range(len(y)), 2) if y[i] == y[j]}
    dissimilar = {(i, j) for i, j in itertools.combinations(range(len(y)), 2) if y[i] != y[j]}
    n = len(similar) - 1
    a, b, c, d = Constraints(y).positive_negative_pairs(n, random_state=0)
    drawn_similar = {(min(u, v), max(u, v)) for u, v in zip(a.tolist(), b.tolist())}
    drawn_dissimilar = {(min(u, v), max(u, v)) for u, v in zip(c.tolist(), d.tolist())}
    assert len(a) == len(drawn_similar) == n and drawn_similar <= similar
    assert len(c) == len(drawn_dissimilar) == min(n, len(dissimilar))
    assert drawn_dissimilar <= dissimilar
    with pytest.warns(UserWarning, match="distinct similar pairs exist"):
        a, b, _, _ = Constraints(y).positive_negative_pairs(len(similar) + 5, random_state=1)
    assert {(min(u, v), max(u, v)) for u, v in zip(a.tolist(), b.tolist())} == similar


def test_unlabelled_points_are_left_out():
    y = Y.copy()
    y[:3] = -1
    a, b, c, d = Constraints(y).positive_negative_pairs(20, random_state=1)
    used = np.concatenate([a, b, c, d])
    assert not np.isin(used, [0, 1, 2]).any()


def test_pairs_and_wrap_pairs():
    X = np.arange(len(Y) * 2, dtype=float).reshape(-1, 2)
    idx, y = Constraints(Y).pairs(10, random_state=0)
    assert idx.shape == (20, 2) and set(y) == {1, -1}
    np.testing.assert_array_equal(Y[idx[y == 1, 0]], Y[idx[y == 1, 1]])
    pairs, labels = wrap_pairs(X, Constraints(Y).positive_negative_pairs(10, random_state=0))
    assert pairs.shape == (20, 2, 2)
    np.testing.assert_array_equal(pairs, X[idx])
    np.testing.assert_array_equal(labels, y)


def test_triplets():
    t = Constraints(Y).triplets(40, random_state=0)
    assert t.shape == (40, 3)
    assert np.all(Y[t[:, 0]] == Y[t[:, 1]]) and np.all(t[:, 0] != t[:, 1])
    assert np.all(Y[t[:, 0]] != Y[t[:, 2]])


def test_chunks():
    chunks = Constraints(Y).chunks(n_chunks=5, chunk_size=2, random_state=0)
    assert chunks.shape == Y.shape
    ids = np.unique(chunks[chunks >= 0])
    np.testing.assert_array_equal(ids, np.arange(5))
    for k in ids:
        members = np.flatnonzero(chunks == k)
        assert len(members) == 2 and len(set(Y[members])) == 1
    with pytest.raises(ValueError, match="enough for 8 chunks. Lower n_chunks or chunk_size"):
        Constraints(Y).chunks(n_chunks=9, chunk_size=2)


def test_too_few_points_for_pairs():
    with pytest.raises(
        ValueError, match="similar pairs need a class with at least 2 labelled points"
    ):
        Constraints(np.array([0, 1, 2])).positive_negative_pairs(3)


def test_knn_triplets_match_sklearn_neighbours():
    X, y = load_iris(return_X_y=True)
    X, y = X[::3], y[::3]
    triplets = Constraints(y).generate_knntriplets(X, k_genuine=2, k_impostor=3)
    assert triplets.shape == (len(X) * 6, 3)
    for i in (0, 17, 40):
        same = np.flatnonzero(y == y[i])
        other = np.flatnonzero(y != y[i])
        nn_same = NearestNeighbors(n_neighbors=3).fit(X[same])
        expected_pos = same[nn_same.kneighbors(X[i : i + 1], return_distance=False)[0]]
        expected_pos = [j for j in expected_pos if j != i][:2]
        expected_neg = other[
            NearestNeighbors(n_neighbors=3)
            .fit(X[other])
            .kneighbors(X[i : i + 1], return_distance=False)[0]
        ]
        rows = triplets[triplets[:, 0] == i]
        assert set(rows[:, 1]) == set(expected_pos)
        assert set(rows[:, 2]) == set(expected_neg)
    # a class smaller than k_genuine + 1 gives each point all its classmates, with a warning
    sizes = np.bincount(y)
    with pytest.warns(UserWarning, match="fewer than k_genuine=20"):
        triplets = Constraints(y).generate_knntriplets(X, k_genuine=20, k_impostor=1)
    assert len(triplets) == int(np.sum(sizes * (sizes - 1)))


def test_bad_labels_and_counts():
    with pytest.raises(ValueError, match="partial_labels must be 1-D"):
        Constraints(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="n_constraints must be a positive integer"):
        Constraints(Y).positive_negative_pairs(0)
    with pytest.raises(TypeError, match="n_constraints must be a positive integer"):
        Constraints(Y).triplets(2.5)
