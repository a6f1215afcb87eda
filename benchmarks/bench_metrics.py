"""k-NN accuracy and MAP@R: mlearn.metrics against a scikit-learn NearestNeighbors computation.

The reference computes the same scores the direct way: one
``NearestNeighbors(algorithm="brute").kneighbors`` call over all queries,
then the vote / average precision in NumPy. Both sides run in the same
process, on the same embeddings, median of 5 runs; peak memory is measured
in fresh child processes. The two sides are timed alternately.

Usage: python benchmarks/bench_metrics.py [--n 100000] [--d 128] [--repeat 5]
"""

import argparse
import sys
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402


def make_data(n, d, n_classes, seed=0):
    rng = np.random.RandomState(seed)
    centres = rng.randn(n_classes, d) * 0.6
    y = rng.randint(0, n_classes, size=n)
    X = centres[y] + rng.randn(n, d)
    return X, y


def sklearn_knn_accuracy(X, y, k=3):
    from scipy.stats import mode
    from sklearn.neighbors import NearestNeighbors

    ind = (
        NearestNeighbors(n_neighbors=k + 1, algorithm="brute")
        .fit(X)
        .kneighbors(X, return_distance=False)
    )
    ind = np.array([row[row != i][:k] for i, row in enumerate(ind)])
    # scipy's mode: the smallest of the most frequent labels, no (n, classes) table
    predicted = mode(y[ind], axis=1, keepdims=False).mode
    return float(np.mean(predicted == y))


def sklearn_map_at_r(X, y):
    from sklearn.neighbors import NearestNeighbors

    _, counts = np.unique(y, return_counts=True)
    R = counts[np.searchsorted(np.unique(y), y)] - 1
    ind = (
        NearestNeighbors(n_neighbors=int(R.max()) + 1, algorithm="brute")
        .fit(X)
        .kneighbors(X, return_distance=False)
    )
    scores = []
    for i, row in enumerate(ind):
        if R[i] == 0:
            continue
        row = row[row != i][: R[i]]
        rel = y[row] == y[i]
        prec = np.cumsum(rel) / np.arange(1, R[i] + 1)
        scores.append(np.sum(prec * rel) / R[i])
    return float(np.mean(scores))


def mlearn_knn_accuracy(X, y):
    from mlearn.metrics import knn_accuracy

    return knn_accuracy(X, y, n_neighbors=3)


def mlearn_map_at_r(X, y):
    from mlearn.metrics import mean_average_precision_at_r

    return mean_average_precision_at_r(X, y)


def _setup_for(n, d, n_classes):
    # imports and compilation (a tiny call of each side), then the data:
    # all before the measured call
    small_X, small_y = make_data(200, d, 10)
    for func in (mlearn_knn_accuracy, mlearn_map_at_r, sklearn_knn_accuracy, sklearn_map_at_r):
        func(small_X, small_y)
    return make_data(n, d, n_classes)


def peak_of(func, n, d, n_classes):
    return harness.peak_memory_of(func, setup=partial(_setup_for, n, d, n_classes))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--d", type=int, default=128)
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    X, y = make_data(args.n, args.d, args.classes)
    rows = []
    for name, ours, theirs in (
        ("knn_accuracy (k=3)", mlearn_knn_accuracy, sklearn_knn_accuracy),
        ("MAP@R", mlearn_map_at_r, sklearn_map_at_r),
    ):
        v_ours, v_ref = ours(X, y), theirs(X, y)
        t_ours, t_ref, _, _ = harness.time_interleaved(
            partial(ours, X, y), partial(theirs, X, y), repeat=args.repeat, warmup=0
        )
        assert abs(v_ours - v_ref) < 1e-12, (name, v_ours, v_ref)
        m_ours = peak_of(ours, args.n, args.d, args.classes)
        m_ref = peak_of(theirs, args.n, args.d, args.classes)
        rows.append(
            {
                "case": f"{name}, n={args.n}, d={args.d}, {args.classes} classes",
                "mlearn_s": t_ours,
                "sklearn_nn_s": t_ref,
                "speed_ratio": t_ref / t_ours,
                "mlearn_peak_mib": m_ours / 2**20,
                "sklearn_nn_peak_mib": m_ref / 2**20,
                "score": v_ours,
                "target": "ratio >= 1, lower peak",
                "met": bool(t_ref / t_ours >= 1 and m_ours < m_ref),
            }
        )
        print(rows[-1], flush=True)
    harness.write_results(
        f"metrics_n{args.n}",
        rows,
        title="Retrieval scores vs scikit-learn NearestNeighbors",
        notes="speed_ratio = scikit-learn NearestNeighbors time / mlearn time (median of "
        f"{args.repeat}, the two timed alternately); peaks are resident-memory "
        "increases of a fresh process. The reference takes the neighbours of all "
        "queries in one kneighbors call, then votes with scipy.stats.mode (k-NN) or "
        "averages the precisions row by row (MAP@R).",
    )


if __name__ == "__main__":
    main()
