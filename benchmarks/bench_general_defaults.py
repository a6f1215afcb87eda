"""How MetricLearner's default neighbour counts were chosen, and how they hold up.

1. Grid (selection): 3-NN accuracy of ``MetricLearner(k_genuine=g,
   k_impostor=i, impostors=s)`` over ``GENUINE`` x ``IMPOSTOR[s]`` for both
   impostor schemes ``s`` on iris, wine,
   breast_cancer and digits, averaged over the selection splits (5-fold
   stratified CV shuffled with ``random_state`` 0..N-1, ``--splits N``,
   default 5; split 0 is the shared protocol's), with the total fit time of
   all those fits. The defaults are the row that reduces the Euclidean
   metric's 3-NN error most on the data set where it reduces it least
   (``worst_error_reduction``: the smallest over the four data sets of
   ``1 - error / euclidean_error``, on the mean accuracies). The mean
   accuracy over the four (``mean_all``) would weight one iris test point
   as much as twelve of digits, and its best row, (8, 3), falls below the
   Euclidean metric on digits on the held-out splits.
2. Held-out check: the default ``MetricLearner()`` against the Euclidean
   metric on the four data sets and against metric-learn's
   ``ITML_Supervised`` and ``MMC_Supervised`` (``random_state=0``, their
   defaults otherwise) on iris, wine and breast_cancer, averaged over the
   selection splits and, separately, over N further splits
   (``random_state`` N..2N-1) that the grid does not use.

One thread per fit on both sides (``--jobs`` grid points at once).
metric-learn's runs are cached in ``results/general_splits_reference.json``
(``--refresh`` reruns them). ``--schemes`` fits the grid of the schemes
named only; the rows of the others are carried over from the last
``results/general_defaults.json`` (their ``measured`` column gives when),
and the defaults are chosen over all rows.

Run: ``python benchmarks/bench_general_defaults.py [--splits N] [--refresh]
[--skip-grid] [--skip-splits] [--jobs N] [--schemes nearest per_class]``
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
SPLIT_DATASETS = ["iris", "wine", "breast_cancer"]
REFERENCES = ["ITML_Supervised", "MMC_Supervised"]
GENUINE = (3, 5, 6, 7, 8, 9, 10, 12, 15)
#: Impostor counts of each scheme: in all ('nearest'), per other class ('per_class').
IMPOSTOR = {"nearest": (1, 2, 3, 4, 5, 8, 20), "per_class": (1, 2, 3, 4)}
#: Counts measured beside the grid (the best of an earlier, larger-count grid).
BEYOND_GRID = [(10, 40, "nearest")]
REFERENCE_CACHE = harness.RESULTS_DIR / "general_splits_reference.json"


def accuracies(params, dataset, splits, fit_times=None):
    """3-NN accuracy of MetricLearner(**params) on each split (``random_state`` in ``splits``).

    The fits' times are appended to ``fit_times`` when it is given.
    """
    from mlearn import MetricLearner

    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for seed in splits:
            row = evaluate(
                lambda: MetricLearner(random_state=0, **params), dataset, random_state=seed
            )
            out.append(row["accuracy"])
            if fit_times is not None:
                fit_times.extend(row["fit_times"])
    return out


def euclidean_accuracies(dataset, splits):
    """3-NN accuracy of the Euclidean metric on each split."""
    return [evaluate(None, dataset, random_state=seed)["accuracy"] for seed in splits]


def _grid_point(point):
    g, i, scheme, n_splits = point
    fit_times = []
    params = {"k_genuine": g, "k_impostor": i, "impostors": scheme}
    runs = {d: accuracies(params, d, range(n_splits), fit_times) for d in GRID_DATASETS}
    return runs, sum(fit_times)


def _case(g, i, scheme):
    return f"k_genuine={g}, k_impostor={i}, impostors={scheme}"


def carried_rows(schemes, n_splits):
    """The last results' grid rows of the schemes not in ``schemes``."""
    path = harness.RESULTS_DIR / "general_defaults.json"
    if set(schemes) >= set(IMPOSTOR) or not path.exists():
        return []
    last = json.loads(path.read_text())
    if f"0..{n_splits - 1};" not in last["notes"]:
        raise RuntimeError(f"{path.name} was measured on other splits; rerun every scheme")
    rows = []
    for row in last["rows"]:
        if not row["case"].startswith("k_genuine="):
            continue
        if "impostors=" not in row["case"]:  # results from before the schemes
            row["case"] += ", impostors=nearest"
        if row["case"].rsplit("=", 1)[1] not in schemes:
            row.setdefault("measured", last["environment"]["date"])
            rows.append(row)
    return rows


def worst_error_reduction(row, euclidean):
    """Smallest share, over the data sets, of the Euclidean 3-NN error that ``row`` removes."""
    return min(1 - (1 - row[f"{d}_mean"]) / (1 - euclidean[d]) for d in GRID_DATASETS)


def grid_rows(n_splits, n_jobs, schemes):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    carried = carried_rows(schemes, n_splits)
    points = [(g, i, s, n_splits) for s in schemes for g in GENUINE for i in IMPOSTOR[s]]
    points += [(g, i, s, n_splits) for g, i, s in BEYOND_GRID if s in schemes]
    # spawned, not forked: the parent has OpenMP threads running
    with ProcessPoolExecutor(
        n_jobs, mp_context=multiprocessing.get_context("spawn"), initializer=harness.pin_one_thread
    ) as pool:
        results = list(pool.map(_grid_point, points))
    euclidean = {
        d: float(np.mean(euclidean_accuracies(d, range(n_splits)))) for d in GRID_DATASETS
    }
    rows = [
        {
            "case": "Euclidean (no learner)",
            **{f"{d}_mean": euclidean[d] for d in GRID_DATASETS},
            "mean_all": float(np.mean(list(euclidean.values()))),
        }
    ]
    today = harness.environment()["date"]
    for (g, i, scheme, _), (runs, fit_s) in zip(points, results):
        row = {"case": _case(g, i, scheme)}
        row["mean_split0"] = float(np.mean([runs[d][0] for d in GRID_DATASETS]))
        for d in GRID_DATASETS:
            row[f"{d}_mean"] = float(np.mean(runs[d]))
        row["mean_all"] = float(np.mean([row[f"{d}_mean"] for d in GRID_DATASETS]))
        row["worst_error_reduction"] = worst_error_reduction(row, euclidean)
        row["fit_s"] = fit_s
        row["measured"] = today
        print(row, flush=True)
        rows.append(row)
    for row in carried:
        row["worst_error_reduction"] = worst_error_reduction(row, euclidean)
        rows.append(row)
    best = max(rows[1:], key=lambda row: row["worst_error_reduction"])
    for row in rows[1:]:
        row["best"] = "yes" if row is best else ""
    return rows


def reference_runs(splits, refresh):
    cache = harness.cached_reference_runs(
        REFERENCE_CACHE,
        [
            (
                learner,
                seed,
                {
                    "learner": learner,
                    "params": {"random_state": 0},
                    "datasets": SPLIT_DATASETS,
                    "cv_random_state": seed,
                },
            )
            for learner in REFERENCES
            for seed in splits
        ],
        HERE / "reference_metric_learn.py",
        refresh=refresh,
    )
    runs = {
        learner: {
            d: [
                row["accuracy"]
                for seed in splits
                for row in cache[learner][str(seed)]
                if row["dataset"] == d
            ]
            for d in SPLIT_DATASETS
        }
        for learner in REFERENCES
    }
    for learner, by_dataset in runs.items():
        for d, values in by_dataset.items():
            if len(values) != len(splits):
                raise RuntimeError(
                    f"{REFERENCE_CACHE.name} has {len(values)} of {len(splits)} {learner} "
                    f"runs on {d} (a cache written for other data sets?); rerun with --refresh"
                )
    return runs


def split_rows(n_splits, refresh):
    groups = {"selection": range(n_splits), "held-out": range(n_splits, 2 * n_splits)}
    rows = []
    for group, splits in groups.items():
        reference = reference_runs(splits, refresh)
        refresh = False
        for d in GRID_DATASETS:
            ours = accuracies({}, d, splits)
            others = {"Euclidean": euclidean_accuracies(d, splits)}
            if d in SPLIT_DATASETS:
                others.update({learner: reference[learner][d] for learner in REFERENCES})
            row = {
                "case": f"{d}, {group} splits {splits[0]}-{splits[-1]}",
                "MetricLearner": harness.format_runs(ours),
            }
            for name in ["Euclidean", *REFERENCES]:
                row[name] = harness.format_runs(others[name]) if name in others else ""
            row["at_least_all"] = (
                "yes"
                if all(np.mean(ours) >= np.mean(values) for values in others.values())
                else "no"
            )
            rows.append(row)
            print(row, flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--refresh", action="store_true", help="rerun metric-learn")
    parser.add_argument("--skip-grid", action="store_true")
    parser.add_argument("--skip-splits", action="store_true")
    parser.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count(),
        help="grid points fitted at once, one thread each",
    )
    parser.add_argument(
        "--schemes",
        nargs="+",
        choices=sorted(IMPOSTOR),
        default=sorted(IMPOSTOR),
        help="impostor schemes whose grid is fitted (the others' rows are "
        "carried over from the last results)",
    )
    args = parser.parse_args()

    harness.pin_one_thread()
    if not args.skip_grid:
        harness.write_results(
            "general_defaults",
            grid_rows(args.splits, args.jobs, args.schemes),
            title="MetricLearner: 3-NN accuracy over k_genuine x k_impostor x impostors",
            notes=f"mean: averaged over the 5-fold stratified CV splits shuffled with "
            f"random_state 0..{args.splits - 1}; mean_all averages those means over "
            f"the four data sets. worst_error_reduction: the smallest, over the four, "
            f"of 1 - error / Euclidean error (on those means); its best row (best) "
            f"gives the defaults. "
            f"mean_split0: the four data sets' mean on the shared protocol's split "
            f"(random_state=0). fit_s: total fit time of every fit of the row (one "
            f"thread, {args.jobs} rows at once). impostors: a point's k_impostor "
            f"nearest other-class points (nearest) or k_impostor nearest of each "
            f"other class (per_class). measured: when the row was fitted.",
        )
    if args.skip_splits:
        return
    harness.write_results(
        "general_splits",
        split_rows(args.splits, args.refresh),
        title="Default MetricLearner vs metric-learn (random_state=0) over shuffled splits",
        notes=f"3-NN accuracy, mean over the 5-fold splits shuffled with the random_state "
        f"values given (each split's figure in brackets). The selection splits "
        f"0..{args.splits - 1} chose the defaults (split 0 is the shared protocol's); "
        f"the held-out splits {args.splits}..{2 * args.splits - 1} did not. "
        f"at_least_all: MetricLearner's mean is at least the Euclidean metric's "
        f"and each reference's (metric-learn's are not run on digits).",
    )


if __name__ == "__main__":
    main()
