"""Does a learner's 3-NN accuracy depend on how the data were scaled?

Every label learner of mlearn (the classes of ``mlearn.learners.__all__``
whose ``fit`` takes ``(X, y)`` with class labels, plus the Euclidean metric
as a baseline) is run as

    make_pipeline(scaler, learner(..., random_state=0), KNeighborsClassifier(3))

with three scalers, fitted on the training folds inside the pipeline: none,
``MinMaxScaler`` and ``StandardScaler``, and in two configurations of the
learner, measured in the same run:

- ``before``: ``feature_scaling=None``, the learner fits on the features as
  given (the previous behaviour, metric-learn's);
- ``after``: the learner's defaults, ``feature_scaling='range'``: it fits
  on the features centred and divided by their ranges, all by one common
  factor that brings their variances to an average of 1, and folds the
  division into ``components_``.

The Euclidean metric has no learner: its row is the same in both. The
accuracy is the mean over 10-fold stratified cross-validation shuffled with
``random_state`` 0 and 1 (20 folds); the json also holds each shuffle's mean
and every fold. The spread of a row is the largest minus the smallest of its
three accuracies, in percentage points; the target is at most 0.5 point
after. AngularMarginLearner is scored with cosine 3-NN, as its own
documentation does. A fit that raises is counted (``failed``) and left out of
the mean; the fits that raise a ``ConvergenceWarning`` and those that raise
any other warning are counted too. Per data set, the learner with the best
mean accuracy over the three scalers after is compared with the Euclidean
metric on ``StandardScaler`` data.

MLKR (a regression learner), RCA (its ``y`` holds chunklet ids, not class
labels; RCA_Supervised draws chunklets from labels) and OASIS_Supervised (a
bilinear similarity without a linear map) are left out.

The (learner, data set, configuration, scaler) cells run in ``--jobs``
processes at once (default 2), each on one thread.

Usage::

    python benchmarks/bench_preprocessing.py [--quick] [--jobs N]

``--quick`` (a smoke run) runs iris and wine with one shuffle of 5 folds and
only prints its rows; the full run writes ``results/preprocessing.{json,md}``.
"""

import argparse
import functools
import inspect
import json
import sys
import time
import warnings
from pathlib import Path

# one thread when run as a script (a test importing a helper from here keeps
# its own settings); set before NumPy loads, and inherited by the worker
# processes, which are started after it
import harness

if __name__ == "__main__":
    harness.one_thread_for_this_script(force=True)

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from protocol import DATASETS, load

import mlearn

#: Learners whose fit takes (X, y) but which this table leaves out, and why.
SKIPPED = {
    "MLKR": "a regression learner (y is a real target)",
    "RCA": "its y holds chunklet ids, not class labels (RCA_Supervised is run)",
    "OASIS_Supervised": "a bilinear similarity with no linear map to run 3-NN on",
}
#: Learners scored with cosine 3-NN (their documentation's protocol).
COSINE_KNN = ("AngularMarginLearner",)
PREPROCESSINGS = {
    "none": lambda: None,
    "MinMaxScaler": MinMaxScaler,
    "StandardScaler": StandardScaler,
}
#: The learner's parameters besides random_state in each configuration.
CONFIGURATIONS = {
    "before": {"feature_scaling": None},  # the previous behaviour
    "after": {},  # the defaults, feature_scaling included
}
SPREAD_TARGET = 0.5  # percentage points
COUNTS = ("failed", "convergence_warnings", "other_warnings")


def label_learners():
    """Names of the learners of ``mlearn.learners`` whose fit takes ``(X, y)``."""
    names = []
    for name in mlearn.learners.__all__:
        cls = getattr(mlearn.learners, name)
        if not (inspect.isclass(cls) and hasattr(cls, "fit")):
            continue
        params = list(inspect.signature(cls.fit).parameters)[1:3]
        if params == ["X", "y"]:
            names.append(name)
    return names


def learners_to_run():
    """The learners of the table, in ``__all__`` order, after the skipped ones."""
    found = label_learners()
    unknown = set(SKIPPED) - set(found)
    if unknown:
        raise RuntimeError(f"SKIPPED names learners that are not found: {sorted(unknown)}")
    return [name for name in found if name not in SKIPPED]


def make_pipe(learner_name, preprocessing, configuration="after", random_state=0):
    """The pipeline ``scaler -> learner -> 3-NN`` (``learner_name`` None: Euclidean)."""
    steps = []
    scaler = PREPROCESSINGS[preprocessing]()
    if scaler is not None:
        steps.append(scaler)
    metric = "minkowski"
    if learner_name is not None:
        cls = getattr(mlearn, learner_name)
        defaults = cls().get_params()
        if defaults.get("feature_scaling") is None:
            raise RuntimeError(f"{learner_name} does not scale its features by default")
        params = dict(CONFIGURATIONS[configuration])
        if "random_state" in defaults:
            params["random_state"] = random_state
        steps.append(cls(**params))
        if learner_name in COSINE_KNN:
            metric = "cosine"
    steps.append(KNeighborsClassifier(3, metric=metric))
    return make_pipeline(*steps)


def evaluate(learner_name, preprocessing, X, y, shuffles, n_splits, configuration="after"):
    """Fold accuracies, fit times and warning counts of one (learner, scaler, configuration)."""
    per_shuffle, fit_times = [], []
    failed, convergence, other, errors = 0, 0, 0, []
    template = make_pipe(learner_name, preprocessing, configuration)
    for shuffle in shuffles:
        cv = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=shuffle)
        folds = []
        for train, test in cv.split(X, y):
            pipe = clone(template)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                start = time.perf_counter()
                try:
                    pipe.fit(X[train], y[train])
                    fit_times.append(time.perf_counter() - start)
                    folds.append(float(pipe.score(X[test], y[test])))
                except Exception as exc:  # counted, not raised: the table records it
                    failed += 1
                    errors.append(f"{type(exc).__name__}: {exc}"[:160])
            kinds = {w.category for w in caught}
            convergence += any(issubclass(k, ConvergenceWarning) for k in kinds)
            other += any(not issubclass(k, ConvergenceWarning) for k in kinds)
        per_shuffle.append(folds)
    finished = [a for folds in per_shuffle for a in folds]
    return {
        "accuracy": float(np.mean(finished)) if finished else None,
        "shuffle_accuracies": [float(np.mean(f)) if f else None for f in per_shuffle],
        "fold_accuracies": per_shuffle,
        "median_fit_time": float(np.median(fit_times)) if fit_times else None,
        "failed": failed,
        "convergence_warnings": convergence,
        "other_warnings": other,
        "errors": sorted(set(errors)),
    }


@functools.lru_cache(maxsize=None)
def _data(dataset):
    return load(dataset)


def run_cell(cell):
    """One job: ``cell = (learner or None, dataset, configuration, scaler, shuffles, n_splits)``.

    Returns ``(result of evaluate, wall seconds)``; module-level, so a worker
    process can run it.
    """
    name, dataset, configuration, preprocessing, shuffles, n_splits = cell
    X, y = _data(dataset)
    start = time.perf_counter()
    result = evaluate(name, preprocessing, X, y, list(shuffles), n_splits, configuration)
    return result, time.perf_counter() - start


def summarize(results):
    """The accuracies, spread and counts of one configuration's three scalers."""
    accs = [results[p]["accuracy"] for p in PREPROCESSINGS]
    complete = all(a is not None for a in accs)
    spread = 100 * (max(accs) - min(accs)) if complete else None
    summary = dict(zip(PREPROCESSINGS, accs))
    summary["mean"] = float(np.mean(accs)) if complete else None
    summary["spread_points"] = spread
    summary["spread_met"] = spread <= SPREAD_TARGET if complete else None
    for key in COUNTS:
        summary[key] = "/".join(str(results[p][key]) for p in PREPROCESSINGS)
    return summary


def make_row(label, dataset, results):
    """A table row from ``results[configuration][scaler]`` (the evaluate dicts)."""
    row = {"learner": label, "dataset": dataset}
    summaries = {c: summarize(results[c]) for c in CONFIGURATIONS}
    for configuration, summary in summaries.items():
        for key in (*PREPROCESSINGS, "mean", "spread_points", "spread_met"):
            row[f"{configuration}_{key}"] = summary[key]
    for key in COUNTS:
        row[key] = " → ".join(summaries[c][key] for c in CONFIGURATIONS)
    row["details"] = results
    return row


def best_vs_euclidean(rows, datasets):
    """Per data set, the learner with the best mean accuracy after vs Euclidean + StandardScaler.

    Candidates are the learners with all three accuracies and no failed fit
    after (the first in ``__all__`` order on a tie, the others in
    ``tied_with``); ``margin_points`` is (best mean - Euclidean) x 100.
    """
    out = []
    for dataset in datasets:
        here = [row for row in rows if row["dataset"] == dataset]
        euclidean = next(row for row in here if row["learner"] == "Euclidean")
        candidates = [
            row
            for row in here
            if row["learner"] != "Euclidean"
            and row["after_mean"] is not None
            and all(row["details"]["after"][p]["failed"] == 0 for p in PREPROCESSINGS)
        ]
        if not candidates:
            continue
        best = max(candidates, key=lambda row: row["after_mean"])
        tied = [
            row["learner"]
            for row in candidates
            if row is not best and abs(row["after_mean"] - best["after_mean"]) < 1e-12
        ]
        reference = euclidean["after_StandardScaler"]
        out.append(
            {
                "dataset": dataset,
                "best_learner_after": best["learner"],
                "tied_with": ", ".join(tied),
                "best_mean_after": best["after_mean"],
                "best_lowest_after": min(best[f"after_{p}"] for p in PREPROCESSINGS),
                "euclidean_StandardScaler": reference,
                "margin_points": 100 * (best["after_mean"] - reference),
            }
        )
    return out


def _fmt_acc(value):
    return f"{value:.4f}" if value is not None else "  -   "


def print_row(row):
    for configuration in CONFIGURATIONS:
        accs = [row[f"{configuration}_{p}"] for p in PREPROCESSINGS]
        spread = row[f"{configuration}_spread_points"]
        spread = f"{spread:6.3f}" if spread is not None else "  -   "
        print(
            f"{row['learner']:32s} {row['dataset']:14s} {configuration:6s} "
            + " ".join(_fmt_acc(a) for a in accs)
            + f"  spread {spread}",
            flush=True,
        )
    print(
        f"{'':32s} {'':14s} failed {row['failed']}  convergence {row['convergence_warnings']}"
        f"  other {row['other_warnings']}",
        flush=True,
    )


def print_best(best):
    for entry in best:
        tied = f" (tied with {entry['tied_with']})" if entry["tied_with"] else ""
        print(
            f"{entry['dataset']:14s} best after: {entry['best_learner_after']}{tied} "
            f"{entry['best_mean_after']:.4f} (lowest {entry['best_lowest_after']:.4f}) vs "
            f"Euclidean + StandardScaler {entry['euclidean_StandardScaler']:.4f}: "
            f"{entry['margin_points']:+.2f} points",
            flush=True,
        )


def run_cells(cells, order, n_jobs, record):
    """Run ``cells`` (by :func:`run_cell`) in ``order``, ``n_jobs`` at once.

    ``record(index, result, seconds)`` is called as each cell ends.
    """
    if n_jobs == 1:
        harness.pin_one_thread()
        for index in order:
            record(index, *run_cell(cells[index]))
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # spawned, not forked: fresh interpreters that read the one-thread
    # environment variables set above when they load NumPy
    with ProcessPoolExecutor(
        n_jobs,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=harness.pin_one_thread,
    ) as pool:
        futures = {pool.submit(run_cell, cells[i]): i for i in order}
        for future in as_completed(futures):
            record(futures[future], *future.result())


def run(datasets, shuffles, n_splits, n_jobs):
    """Every cell, ``n_jobs`` at once; the rows in data set, then learner order."""
    names = [None, *learners_to_run()]
    cells = []
    for dataset in datasets:
        for name in names:
            # Euclidean has no learner: measured once, shown in both
            for configuration in CONFIGURATIONS if name is not None else ["after"]:
                for p in PREPROCESSINGS:
                    cells.append((name, dataset, configuration, p, tuple(shuffles), n_splits))
    # the largest data sets first, so that no long cell is left for the end
    size = {d: np.prod(_data(d)[0].shape) for d in datasets}
    order = sorted(range(len(cells)), key=lambda i: -size[cells[i][1]])

    done = {}

    def record(index, result, seconds):
        name, dataset, configuration, p = cells[index][:4]
        done[index] = result
        print(
            f"  [{len(done):3d}/{len(cells)}] {name or 'Euclidean':32s} {dataset:14s} "
            f"{configuration:6s} {p:14s} {_fmt_acc(result['accuracy'])}  ({seconds:.1f}s)",
            flush=True,
        )

    run_cells(cells, order, n_jobs, record)

    results = {}
    for index, cell in enumerate(cells):
        name, dataset, configuration, p = cell[:4]
        results.setdefault((name, dataset), {}).setdefault(configuration, {})[p] = done[index]
    rows = []
    for dataset in datasets:
        for name in names:
            per_configuration = results[(name, dataset)]
            if name is None:
                per_configuration = {c: per_configuration["after"] for c in CONFIGURATIONS}
            rows.append(make_row(name or "Euclidean", dataset, per_configuration))
    return rows


COLUMNS = [
    "learner",
    "dataset",
    *(f"before_{p}" for p in PREPROCESSINGS),
    "before_spread_points",
    *(f"after_{p}" for p in PREPROCESSINGS),
    "after_spread_points",
    "after_spread_met",
    *COUNTS,
]
BEST_COLUMNS = [
    "dataset",
    "best_learner_after",
    "tied_with",
    "best_mean_after",
    "best_lowest_after",
    "euclidean_StandardScaler",
    "margin_points",
]


def notes_text(shuffles, n_splits, n_jobs, elapsed, best):
    n_folds = n_splits * len(shuffles)
    table = harness.markdown_table(best, title="", columns=BEST_COLUMNS)
    # markdown_table's title line and environment line are not wanted here
    table_lines = [line for line in table.splitlines() if line.startswith("|")]
    return "\n".join(
        [
            "## Best learner after vs Euclidean on standardised data",
            "",
            *table_lines,
            "",
            "Per data set: the learner with the best mean of its three accuracies after "
            "(best_mean_after; best_lowest_after is the lowest of the three), among those "
            "with no failed fit after (tied_with: the learners with the same mean), against "
            "the Euclidean metric on StandardScaler data; "
            "margin_points = (best_mean_after - euclidean_StandardScaler) x 100.",
            "",
            "## Protocol",
            "",
            f"Each accuracy is the mean 3-NN accuracy over {n_folds} folds: {n_splits}-fold "
            "stratified cross-validation shuffled with random_state "
            f"{', '.join(map(str, shuffles))}, as make_pipeline(scaler, learner(..., "
            "random_state=0), KNeighborsClassifier(3)), the scaler (none, MinMaxScaler, "
            "StandardScaler) fitted on the training folds. before: the learner with "
            "feature_scaling=None, which fits on the features as given (the previous "
            "behaviour, metric-learn's); after: the learner with its defaults, "
            "feature_scaling='range', which centres the features, divides them by their "
            "ranges, all by one common factor that brings their variances to an average "
            "of 1, and folds that division into components_. Both are measured in the "
            "same run. Euclidean is the pipeline without a learner, so its before and "
            "after are the same measurement; AngularMarginLearner is scored with cosine "
            "3-NN, as its documentation does. spread_points = (largest - smallest of the three "
            "accuracies) x 100; the target for the defaults is at most "
            f"{SPREAD_TARGET} point after (after_spread_met). failed, "
            "convergence_warnings and other_warnings count the fits (of "
            f"{n_folds}) that raised, that raised a ConvergenceWarning and that raised "
            "any other warning, for none/MinMaxScaler/StandardScaler, before → after; "
            "an accuracy leaves failed fits out. Left out: "
            + "; ".join(f"{k} ({v})" for k, v in SKIPPED.items())
            + ". Per-shuffle means, fold accuracies, median fit times and error messages "
            "are in preprocessing.json (details, per configuration and scaler). Every "
            f"fit on one thread, {n_jobs} (learner, data set, configuration, scaler) "
            f"cells at once; the run took {elapsed / 60:.1f} minutes.",
            "",
            "Command: `python benchmarks/bench_preprocessing.py"
            + (f" --jobs {n_jobs}" if n_jobs != 2 else "")
            + "`",
        ]
    )


def write(rows, best, notes):
    """``results/preprocessing.{json,md}``: the rows, then the best-vs-Euclidean table."""
    title = "Accuracy under preprocessing: before and after scale-equivariant defaults"
    harness.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    payload = {
        "name": "preprocessing",
        "environment": harness.environment(),
        "rows": rows,
        "best_vs_euclidean": best,
        "notes": notes,
    }
    (harness.RESULTS_DIR / "preprocessing.json").write_text(json.dumps(payload, indent=2) + "\n")
    (harness.RESULTS_DIR / "preprocessing.md").write_text(
        harness.markdown_table(rows, title=title, notes=notes, columns=COLUMNS)
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="iris and wine, one shuffle, 5 folds")
    parser.add_argument(
        "--jobs", type=int, default=2, help="cells fitted at once, one process and thread each"
    )
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    if args.quick:
        datasets, shuffles, n_splits = ["iris", "wine"], [0], 5
    else:
        datasets, shuffles, n_splits = list(DATASETS), [0, 1], 10

    start = time.perf_counter()
    rows = run(datasets, shuffles, n_splits, args.jobs)
    elapsed = time.perf_counter() - start
    best = best_vs_euclidean(rows, datasets)
    print()
    for row in rows:
        print_row(row)
    print()
    print_best(best)
    print(f"\n{elapsed / 60:.1f} minutes with {args.jobs} jobs", flush=True)
    if args.quick:
        return
    write(rows, best, notes_text(shuffles, n_splits, args.jobs, elapsed, best))


if __name__ == "__main__":
    main()
