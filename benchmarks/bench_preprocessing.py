"""Does a learner's 3-NN accuracy depend on how the data were scaled?

Every label learner of mlearn (the classes of ``mlearn.learners.__all__``
whose ``fit`` takes ``(X, y)`` with class labels, plus the Euclidean metric
as a baseline) is run as

    make_pipeline(scaler, learner(defaults, random_state=0), KNeighborsClassifier(3))

with three scalers, fitted on the training folds inside the pipeline: none,
``MinMaxScaler`` and ``StandardScaler``. The accuracy is the mean over 10-fold
stratified cross-validation shuffled with ``random_state`` 0 and 1 (20 folds);
the json also holds each shuffle's mean and every fold. The spread of a row is
the largest minus the smallest of its three accuracies, in percentage points.
AngularMarginLearner is scored with cosine 3-NN, as its own documentation
does. A fit that raises is counted (``failed``) and left out of the mean; the
fits that raise a ``ConvergenceWarning`` and those that raise any other
warning are counted too.

MLKR (a regression learner), RCA (its ``y`` holds chunklet ids, not class
labels; RCA_Supervised draws chunklets from labels) and OASIS_Supervised (a
bilinear similarity without a linear map) are left out.

Usage::

    python benchmarks/bench_preprocessing.py [--quick]

``--quick`` (a smoke run) runs iris and wine with one shuffle of 5 folds and
only prints its rows; the full run writes ``results/preprocessing.{json,md}``.
"""

import argparse
import inspect
import sys
import time
import warnings
from pathlib import Path

# one thread when run as a script (a test importing a helper from here keeps
# its own settings); set before NumPy loads
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

from harness import write_results
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
SPREAD_TARGET = 0.5  # percentage points, the future target


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


def make_pipe(learner_name, preprocessing, random_state=0):
    """The pipeline ``scaler -> learner -> 3-NN`` (``learner_name`` None: Euclidean)."""
    steps = []
    scaler = PREPROCESSINGS[preprocessing]()
    if scaler is not None:
        steps.append(scaler)
    metric = "minkowski"
    if learner_name is not None:
        cls = getattr(mlearn, learner_name)
        params = {"random_state": random_state} if "random_state" in cls().get_params() else {}
        steps.append(cls(**params))
        if learner_name in COSINE_KNN:
            metric = "cosine"
    steps.append(KNeighborsClassifier(3, metric=metric))
    return make_pipeline(*steps)


def evaluate(learner_name, preprocessing, X, y, shuffles, n_splits):
    """Fold accuracies, fit times and warning counts of one (learner, scaler)."""
    per_shuffle, fit_times = [], []
    failed, convergence, other, errors = 0, 0, 0, []
    template = make_pipe(learner_name, preprocessing)
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


def run(datasets, shuffles, n_splits):
    rows = []
    names = [None, *learners_to_run()]
    for dataset in datasets:
        X, y = load(dataset)
        for name in names:
            label = name or "Euclidean"
            start = time.perf_counter()
            results = {p: evaluate(name, p, X, y, shuffles, n_splits) for p in PREPROCESSINGS}
            row = {"learner": label, "dataset": dataset}
            for p, res in results.items():
                row[p] = res["accuracy"]
            accs = [res["accuracy"] for res in results.values()]
            complete = all(a is not None for a in accs)
            row["spread_points"] = 100 * (max(accs) - min(accs)) if complete else None
            row["spread_met"] = row["spread_points"] <= SPREAD_TARGET if complete else None
            for key in ("failed", "convergence_warnings", "other_warnings"):
                row[key] = "/".join(str(res[key]) for res in results.values())
            row["details"] = results
            rows.append(row)
            print(
                f"{label:32s} {dataset:14s} "
                + " ".join(f"{a:.4f}" if a is not None else "  -   " for a in accs)
                + f"  spread {row['spread_points']}  warn {row['convergence_warnings']}"
                + f"  ({time.perf_counter() - start:.1f}s)",
                flush=True,
            )
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="iris and wine, one shuffle, 5 folds")
    args = parser.parse_args(argv)
    if args.quick:
        datasets, shuffles, n_splits = ["iris", "wine"], [0], 5
    else:
        datasets, shuffles, n_splits = list(DATASETS), [0, 1], 10

    import numba
    from threadpoolctl import threadpool_limits

    numba.set_num_threads(1)
    start = time.perf_counter()
    with threadpool_limits(limits=1):
        rows = run(datasets, shuffles, n_splits)
    if args.quick:
        return
    elapsed = time.perf_counter() - start
    n_folds = n_splits * len(shuffles)
    notes = (
        f"Each accuracy is the mean 3-NN accuracy over {n_folds} folds: {n_splits}-fold "
        f"stratified cross-validation shuffled with random_state "
        f"{', '.join(map(str, shuffles))}, as "
        "make_pipeline(scaler, learner(defaults, random_state=0), "
        "KNeighborsClassifier(3)), the scaler (none, MinMaxScaler, StandardScaler) "
        "fitted on the training folds. Euclidean is the pipeline without a learner; "
        "AngularMarginLearner is scored with cosine 3-NN, as its documentation does. "
        "spread_points = (largest - smallest of the three accuracies) x 100; the target "
        f"for scale-equivariant defaults is at most {SPREAD_TARGET} point (spread_met). "
        "failed, convergence_warnings and other_warnings count the fits (of "
        f"{n_folds}) that raised, that raised a ConvergenceWarning and that raised any "
        "other warning, for none/MinMaxScaler/StandardScaler; an accuracy leaves "
        "failed fits out. Left out: "
        + "; ".join(f"{k} ({v})" for k, v in SKIPPED.items())
        + ". Per-shuffle means, fold accuracies, median fit times and error messages are "
        "in preprocessing.json. All computations on one thread; the run took "
        f"{elapsed / 60:.1f} minutes.\n\n"
        "Command: `python benchmarks/bench_preprocessing.py`"
    )
    write_results(
        "preprocessing",
        rows,
        title="Accuracy under preprocessing: before scale-equivariant defaults",
        notes=notes,
        columns=[
            "learner",
            "dataset",
            *PREPROCESSINGS,
            "spread_points",
            "spread_met",
            "failed",
            "convergence_warnings",
            "other_warnings",
        ],
    )


if __name__ == "__main__":
    main()
