"""MetricLearner on a continuous target: the neighbour counts against the Euclidean metric.

1. Grid: the 10-NN regression R² of ``MetricLearner(target_type='continuous',
   k_genuine=g, k_impostor=i)`` over ``GENUINE`` x ``IMPOSTOR`` on the data
   sets of ``DATASETS`` (scikit-learn's diabetes data and three generated
   ones), averaged over 5-fold cross-validation shuffled with
   ``random_state`` 0..N-1 (``--splits N``, default 5), with StandardScaler
   fitted on each training fold. Each row is scored as the class-label
   defaults were chosen (``bench_general_defaults.py``): by the share of
   the Euclidean metric's unexplained variance it removes on the data set
   where it removes the least (``worst_variance_reduction``, the smallest
   over the data sets of ``1 - (1 - R²) / (1 - Euclidean R²)``); its
   standard error comes from the score's value on each split. The pick
   keeps the class-label target count (``k_genuine=5``) and takes the
   fewest impostors whose score is within one standard error of the best
   score with that many targets (the best row's standard error;
   ``pick_impostors``); it is the default.
2. Splits: the default ``MetricLearner(target_type='continuous')`` against
   the Euclidean metric and ``MLKR()`` on those splits and on N further
   splits (``random_state`` N..2N-1).

One thread per fit (``--jobs`` grid points at once).

Run: ``python benchmarks/bench_general_regression.py [--splits N] [--jobs N]
[--skip-grid] [--skip-splits]``
"""

import argparse
import os
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import harness  # noqa: E402
import numpy as np  # noqa: E402

DATASETS = ["diabetes", "friedman1", "friedman1_noisy", "sparse_linear"]
GENUINE = (3, 5, 8, 12)
IMPOSTOR = (3, 5, 8, 10, 15, 20, 30)
N_NEIGHBORS = 10
#: MetricLearner's (k_genuine, k_impostor) for a continuous target.
DEFAULTS = (5, 10)
#: The target count of the pick: MetricLearner's default for class labels.
PICK_GENUINE = 5
GRID_COLUMNS = [
    "case",
    *(f"{d}_mean" for d in DATASETS),
    "worst_variance_reduction",
    "score_se",
    "triplets_per_point",
    "fit_s",
    "best_score",
    "pick",
    "default",
]


def load(name):
    """``(X, y)`` of a regression data set: bundled or generated with a fixed seed."""
    from sklearn import datasets

    if name == "diabetes":
        return datasets.load_diabetes(return_X_y=True)
    if name == "friedman1":  # y depends on 5 of the 10 features
        return datasets.make_friedman1(500, 10, noise=1.0, random_state=0)
    if name == "friedman1_noisy":
        return datasets.make_friedman1(300, 10, noise=3.0, random_state=1)
    if name == "sparse_linear":  # 3 informative features of 10
        return datasets.make_regression(400, 10, n_informative=3, noise=10.0, random_state=0)
    raise ValueError(f"unknown data set {name!r}")


def r2_scores(make_learner, dataset, splits, fit_times=None):
    """Mean 10-NN R² over the 5 folds of each split (``random_state`` in ``splits``).

    ``make_learner`` returns a transformer, or is None for the Euclidean
    metric. The fits' times are appended to ``fit_times`` when it is given.
    """
    import time

    from sklearn.model_selection import KFold
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.preprocessing import StandardScaler

    X, y = load(dataset)
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for seed in splits:
            scores = []
            for train, test in KFold(5, shuffle=True, random_state=seed).split(X):
                scaler = StandardScaler().fit(X[train])
                X_train, X_test = scaler.transform(X[train]), scaler.transform(X[test])
                if make_learner is not None:
                    learner = make_learner()
                    start = time.perf_counter()
                    learner.fit(X_train, y[train])
                    if fit_times is not None:
                        fit_times.append(time.perf_counter() - start)
                    X_train, X_test = learner.transform(X_train), learner.transform(X_test)
                knn = KNeighborsRegressor(N_NEIGHBORS).fit(X_train, y[train])
                scores.append(knn.score(X_test, y[test]))
            out.append(float(np.mean(scores)))
    return out


def _metric_learner(**params):
    from mlearn import MetricLearner

    return lambda: MetricLearner(target_type="continuous", random_state=0, **params)


def worst_variance_reduction(row, euclidean):
    """Smallest share, over the data sets, of the Euclidean unexplained variance ``row``
    removes."""
    return min(1 - (1 - row[f"{d}_mean"]) / (1 - euclidean[d]) for d in DATASETS)


def score_standard_error(runs, euclidean_runs):
    """Standard error of ``worst_variance_reduction`` from its value on each split.

    ``runs`` and ``euclidean_runs`` map each data set to its R² on each split.
    """
    n_splits = len(euclidean_runs[DATASETS[0]])
    per_split = [
        worst_variance_reduction(
            {f"{d}_mean": runs[d][s] for d in DATASETS},
            {d: euclidean_runs[d][s] for d in DATASETS},
        )
        for s in range(n_splits)
    ]
    return float(np.std(per_split, ddof=1) / np.sqrt(n_splits))


def pick_impostors(rows, k_genuine=PICK_GENUINE):
    """The row with ``k_genuine`` targets and the fewest impostors whose score
    is within one standard error of the best score among those rows (the
    one-standard-error rule, with the best row's standard error)."""
    candidates = [row for row in rows if row.get("k_genuine") == k_genuine]
    best = max(candidates, key=lambda row: row["worst_variance_reduction"])
    floor = best["worst_variance_reduction"] - best["score_se"]
    close = [row for row in candidates if row["worst_variance_reduction"] >= floor]
    return min(close, key=lambda row: row["k_impostor"])


def _grid_point(point):
    g, i, n_splits = point
    fit_times = []
    runs = {
        d: r2_scores(_metric_learner(k_genuine=g, k_impostor=i), d, range(n_splits), fit_times)
        for d in DATASETS
    }
    return runs, sum(fit_times)


def grid_rows(n_splits, n_jobs):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    points = [(g, i, n_splits) for g in GENUINE for i in IMPOSTOR]
    # spawned, not forked: the parent has OpenMP threads running
    with ProcessPoolExecutor(
        n_jobs, mp_context=multiprocessing.get_context("spawn"), initializer=harness.pin_one_thread
    ) as pool:
        results = list(pool.map(_grid_point, points))
    euclidean_runs = {d: r2_scores(None, d, range(n_splits)) for d in DATASETS}
    euclidean = {d: float(np.mean(values)) for d, values in euclidean_runs.items()}
    rows = [
        {
            "case": "Euclidean (no learner)",
            **{f"{d}_mean": euclidean[d] for d in DATASETS},
            **{f"{d}_splits": euclidean_runs[d] for d in DATASETS},
        }
    ]
    for (g, i, _), (runs, fit_s) in zip(points, results):
        row = {"case": f"k_genuine={g}, k_impostor={i}", "k_genuine": g, "k_impostor": i}
        for d in DATASETS:
            row[f"{d}_mean"] = float(np.mean(runs[d]))
        row["worst_variance_reduction"] = worst_variance_reduction(row, euclidean)
        row["score_se"] = score_standard_error(runs, euclidean_runs)
        row["triplets_per_point"] = g * i
        row["fit_s"] = fit_s
        row.update({f"{d}_splits": runs[d] for d in DATASETS})
        print(row, flush=True)
        rows.append(row)
    best = max(rows[1:], key=lambda row: row["worst_variance_reduction"])
    pick = pick_impostors(rows[1:])
    for row in rows[1:]:
        row["best_score"] = "yes" if row is best else ""
        row["pick"] = "yes" if row is pick else ""
        row["default"] = "yes" if (row["k_genuine"], row["k_impostor"]) == DEFAULTS else ""
    return rows


def split_rows(n_splits):
    from mlearn import MLKR, MetricLearner

    learners = {
        "MetricLearner": lambda: MetricLearner(target_type="continuous", random_state=0),
        "Euclidean": None,
        "MLKR": lambda: MLKR(random_state=0),
    }
    groups = {"grid": range(n_splits), "further": range(n_splits, 2 * n_splits)}
    rows = []
    for group, splits in groups.items():
        for d in DATASETS:
            runs = {name: r2_scores(make, d, splits) for name, make in learners.items()}
            row = {"case": f"{d}, {group} splits {splits[0]}-{splits[-1]}"}
            row.update({name: harness.format_runs(values) for name, values in runs.items()})
            row["above_euclidean"] = (
                "yes" if np.mean(runs["MetricLearner"]) > np.mean(runs["Euclidean"]) else "no"
            )
            rows.append(row)
            print(row, flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--skip-grid", action="store_true")
    parser.add_argument("--skip-splits", action="store_true")
    parser.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count(),
        help="grid points fitted at once, one thread each",
    )
    args = parser.parse_args()

    harness.pin_one_thread()
    if not args.skip_grid:
        harness.write_results(
            "general_regression",
            grid_rows(args.splits, args.jobs),
            columns=GRID_COLUMNS,
            title="MetricLearner on a continuous target: 10-NN R² over k_genuine x k_impostor",
            notes=f"mean: 10-NN regression R², averaged over the 5-fold CV splits shuffled "
            f"with random_state 0..{args.splits - 1} (StandardScaler fitted on each "
            f"training fold). worst_variance_reduction: the smallest, over the data "
            f"sets, of 1 - (1 - R²) / (1 - Euclidean R²) (best_score: its best row); "
            f"score_se: its standard error from its value on each split. pick: with "
            f"k_genuine={PICK_GENUINE} (the class-label default), the fewest impostors "
            f"whose score is within one standard error (the best row's) of the best "
            f"with that many targets. default: "
            f"MetricLearner's defaults for a continuous target. Each data set's R² on "
            f"each split is in the JSON file. friedman1: make_friedman1(500, 10, "
            f"noise=1, random_state=0); friedman1_noisy: make_friedman1(300, 10, "
            f"noise=3, random_state=1); sparse_linear: make_regression(400, 10, "
            f"n_informative=3, noise=10, random_state=0). fit_s: total fit time of the "
            f"row (one thread, {args.jobs} rows at once).",
        )
    if args.skip_splits:
        return
    harness.write_results(
        "general_regression_splits",
        split_rows(args.splits),
        title="Default MetricLearner on a continuous target vs the Euclidean metric and MLKR",
        notes=f"10-NN regression R², mean over the 5-fold splits shuffled with the "
        f"random_state values given (each split's figure in brackets); the grid "
        f"used splits 0..{args.splits - 1}. above_euclidean: MetricLearner's mean is "
        f"above the Euclidean metric's.",
    )


if __name__ == "__main__":
    main()
