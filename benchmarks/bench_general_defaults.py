"""How MetricLearner's default neighbour counts were chosen, and how they hold up.

1. Grid: 3-NN accuracy of ``MetricLearner(k_genuine=g, k_impostor=i)`` for
   g in 3..6 and i in 10, 15, 20, 30, and a few larger counts beside it
   (``BEYOND_GRID``), on iris, wine, breast_cancer and digits, on the shared
   protocol's split (``random_state=0``) and averaged over the splits
   shuffled with ``random_state`` 0..N-1 (``--splits N``, default 5), with
   the total fit time of all those fits.
2. Other splits: the default ``MetricLearner()`` against metric-learn's
   ``ITML_Supervised`` and ``MMC_Supervised`` (``random_state=0``, their
   defaults otherwise) on iris and wine over the same splits. The
   comparison in ``bench_general.py`` uses only the protocol's split; this
   shows how much one test point there is worth.

One thread per fit on both sides (``--jobs`` grid points at once). metric-learn's runs are cached in
``results/general_splits_reference.json`` (``--refresh`` reruns them).

Run: ``python benchmarks/bench_general_defaults.py [--splits N] [--refresh]
[--skip-grid] [--jobs N]``
"""

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import harness  # noqa: E402
import numpy as np  # noqa: E402
from protocol import evaluate  # noqa: E402

GRID_DATASETS = ["iris", "wine", "breast_cancer", "digits"]
SPLIT_DATASETS = ["iris", "wine"]
REFERENCES = ["ITML_Supervised", "MMC_Supervised"]
#: Larger counts measured beside the grid (more triplets, longer fits).
BEYOND_GRID = [(8, 30), (8, 40), (10, 30), (10, 40), (10, 60), (12, 50)]
REFERENCE_CACHE = harness.RESULTS_DIR / "general_splits_reference.json"


def accuracies(params, dataset, n_splits, fit_times=None):
    """3-NN accuracy of MetricLearner(**params) on each shuffled split.

    The fits' times are appended to ``fit_times`` when it is given.
    """
    from mlearn import MetricLearner

    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for seed in range(n_splits):
            row = evaluate(lambda: MetricLearner(random_state=0, **params), dataset,
                           random_state=seed)
            out.append(row["accuracy"])
            if fit_times is not None:
                fit_times.extend(row["fit_times"])
    return out


def _single_thread():
    import numba
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    numba.set_num_threads(1)


def _grid_point(point):
    g, i, n_splits = point
    fit_times = []
    runs = {d: accuracies({"k_genuine": g, "k_impostor": i}, d, n_splits, fit_times)
            for d in GRID_DATASETS}
    return runs, sum(fit_times)


def grid_rows(n_splits, n_jobs):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    points = [(g, i, n_splits) for g in (3, 4, 5, 6) for i in (10, 15, 20, 30)]
    points += [(g, i, n_splits) for g, i in BEYOND_GRID]
    # spawned, not forked: the parent has OpenMP threads running
    with ProcessPoolExecutor(n_jobs, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_single_thread) as pool:
        results = list(pool.map(_grid_point, points))
    rows = []
    for (g, i, _), (runs, fit_s) in zip(points, results):
        row = {"case": f"k_genuine={g}, k_impostor={i}"}
        for d in GRID_DATASETS:
            row[f"{d}_split0"] = runs[d][0]
        row["mean_split0"] = float(np.mean([runs[d][0] for d in GRID_DATASETS]))
        for d in GRID_DATASETS:
            row[f"{d}_mean"] = float(np.mean(runs[d]))
        row["mean_all"] = float(np.mean([np.mean(runs[d]) for d in GRID_DATASETS]))
        row["fit_s"] = fit_s
        print(row, flush=True)
        rows.append(row)
    return rows


def reference_runs(n_splits, refresh):
    cache = harness.cached_reference_runs(
        REFERENCE_CACHE,
        [(learner, seed, {"learner": learner, "params": {"random_state": 0},
                          "datasets": SPLIT_DATASETS, "cv_random_state": seed})
         for learner in REFERENCES for seed in range(n_splits)],
        HERE / "reference_metric_learn.py", refresh=refresh,
    )
    return {
        learner: {d: [row["accuracy"] for seed in range(n_splits)
                      for row in cache[learner][str(seed)] if row["dataset"] == d]
                  for d in SPLIT_DATASETS}
        for learner in REFERENCES
    }


def split_rows(n_splits, refresh):
    reference = reference_runs(n_splits, refresh)
    rows = []
    for d in SPLIT_DATASETS:
        ours = accuracies({}, d, n_splits)
        row = {"case": d, "MetricLearner": _runs(ours)}
        for learner in REFERENCES:
            row[learner] = _runs(reference[learner][d])
        rows.append(row)
        print(row, flush=True)
    return rows


def _runs(values):
    return f"{np.mean(values):.4f} ({' '.join(f'{v:.3f}' for v in values)})"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--refresh", action="store_true", help="rerun metric-learn")
    parser.add_argument("--skip-grid", action="store_true")
    parser.add_argument("--jobs", type=int, default=os.cpu_count(),
                        help="grid points fitted at once, one thread each")
    args = parser.parse_args()

    _single_thread()
    if not args.skip_grid:
        harness.write_results(
            "general_defaults", grid_rows(args.splits, args.jobs),
            title="MetricLearner: 3-NN accuracy over k_genuine x k_impostor",
            notes=f"split0: the shared protocol's split (5-fold stratified CV shuffled with "
                  f"random_state=0); mean: averaged over the splits shuffled with "
                  f"random_state 0..{args.splits - 1}. mean_split0 / mean_all average the "
                  f"four data sets. fit_s: total fit time of every fit of the row (one "
                  f"thread, {args.jobs} rows at once).",
        )
    harness.write_results(
        "general_splits", split_rows(args.splits, args.refresh),
        title="Default MetricLearner vs metric-learn (random_state=0) on other splits",
        notes=f"3-NN accuracy, mean over the 5-fold splits shuffled with random_state "
              f"0..{args.splits - 1} (each split's figure in brackets); split 0 is the "
              f"shared protocol's.",
    )


if __name__ == "__main__":
    main()
