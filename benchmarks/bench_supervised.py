"""Accuracy and fit time of NCA, LFDA, MLKR, RCA and RCA_Supervised.

Every learner runs the shared protocol (``protocol.evaluate``: 5-fold
stratified CV with random_state=0, StandardScaler, 3-NN) on iris, wine,
breast_cancer and digits, beside metric-learn 0.7 (reference environment)
and, for NCA, scikit-learn's NeighborhoodComponentsAnalysis. All sides run
with one thread (BLAS, OpenMP and Numba), so the fit times compare the
algorithms, not the thread pools.

Rows compare each learner with its defaults against metric-learn's defaults.
NCA is also run with scikit-learn's stopping rule (``max_iter=50,
tol=1e-5``) against scikit-learn's NCA, which uses those defaults. MLKR and
RCA are fitted on the class labels (MLKR treats them as real targets, RCA as
chunklets), on both sides. The mlearn learners run with
``feature_scaling=None`` (metric-learn's behaviour) so that both sides fit
the same problem.

metric-learn results are cached in ``results/supervised_reference.json``;
``--refresh-reference`` measures them again (a full run takes several
minutes, most of it metric-learn's NCA and MLKR on digits). With it, every
row that has a speed target is timed in ``--speed-rounds`` rounds (default
3), each the reference's five folds followed by mlearn's: the load of a
shared machine drifts over minutes, and the median of the rounds' ratios is
steadier than one ratio.

Usage::

    python benchmarks/bench_supervised.py [--refresh-reference] [--datasets iris wine]

A run on all four data sets also rewrites the benchmark tables of the user
guide pages (docs/user_guide/{nca,lfda,mlkr,rca}.rst); ``--docs-only`` does
only that, from ``results/supervised.json``.
"""

import argparse
import json
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

# one thread when run as a script (a test importing a helper from here keeps
# its own settings); set before NumPy loads
import harness

if __name__ == "__main__":
    harness.one_thread_for_this_script(force=True)

import numpy as np
from harness import RESULTS_DIR, run_reference, single_threaded_env, write_results
from protocol import DATASETS, EXTRA_DATASETS, evaluate
from threadpoolctl import threadpool_limits

#: (row name, mlearn class, mlearn params, metric-learn class, metric-learn params)
CASES = [
    ("NCA", "NCA", {}, "NCA", {}),
    ("LFDA", "LFDA", {}, "LFDA", {}),
    ("MLKR", "MLKR", {}, "MLKR", {}),
    ("RCA", "RCA", {}, "RCA", {}),
    (
        "RCA_Supervised",
        "RCA_Supervised",
        {"random_state": 0},
        "RCA_Supervised",
        {"random_state": 0},
    ),
]
SKLEARN_NCA = {"max_iter": 50, "tol": 1e-5}

#: Speed targets on digits: (row, anchor) -> minimum speed-up
TARGETS = {
    ("NCA", "metric-learn"): 10.0,
    ("NCA (max_iter=50, tol=1e-5)", "scikit-learn"): 2.0,
    ("MLKR", "metric-learn"): 5.0,
    ("LFDA", "metric-learn"): 1.0,
    ("RCA", "metric-learn"): 1.0,
    ("RCA_Supervised", "metric-learn"): 1.0,
}

REFERENCE_CACHE = RESULTS_DIR / "supervised_reference.json"


#: Learners whose metric-learn counterpart fails on digits (its constant
#: pixels make the matrices singular) are also timed on digits without them.
VARYING_DIGITS = ("LFDA", "RCA", "RCA_Supervised")


def datasets_of(learner, datasets):
    """The data sets ``learner`` runs on: ``datasets``, plus digits_varying."""
    if learner in VARYING_DIGITS and "digits" in datasets:
        return [*datasets, "digits_varying"]
    return list(datasets)


def measure_reference(ref_name, ref_params, datasets):
    """metric-learn's protocol results on ``datasets``, measured now (one thread).

    On the data-set variants (``EXTRA_DATASETS``) the folds where metric-learn
    runs are timed even when others fail.
    """
    env = single_threaded_env()
    env["NUMBA_NUM_THREADS"] = "1"
    rows = []
    for group in (
        [d for d in datasets if d in DATASETS],
        [d for d in datasets if d in EXTRA_DATASETS],
    ):
        if group:
            rows += run_reference(
                HERE / "reference_metric_learn.py",
                {
                    "learner": ref_name,
                    "params": ref_params,
                    "datasets": group,
                    "skip_failed_folds": group[0] in EXTRA_DATASETS,
                },
                env=env,
            )
    return rows


def reference_results(datasets, refresh, cases=CASES):
    cache = json.loads(REFERENCE_CACHE.read_text()) if REFERENCE_CACHE.exists() else {}
    for name, _, _, ref_name, ref_params in cases:
        have = {r["dataset"] for r in cache.get(ref_name, [])}
        todo = [d for d in datasets_of(name, datasets) if refresh or d not in have]
        if not todo:
            continue
        print(f"metric-learn {ref_name} on {todo} ...", flush=True)
        rows = measure_reference(ref_name, ref_params, todo)
        kept = [r for r in cache.get(ref_name, []) if r["dataset"] not in todo]
        cache[ref_name] = kept + rows
        REFERENCE_CACHE.parent.mkdir(parents=True, exist_ok=True)
        REFERENCE_CACHE.write_text(json.dumps(cache, indent=2) + "\n")
    return cache


def mlearn_result(cls_name, params, dataset):
    import mlearn

    cls = getattr(mlearn, cls_name)
    # metric-learn's behaviour (and scikit-learn's, for the NCA rows): the
    # comparison is of the same algorithm
    params = {"feature_scaling": None, **params}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return evaluate(lambda: cls(**params), dataset)


def sklearn_nca_result(dataset):
    from sklearn.neighbors import NeighborhoodComponentsAnalysis

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return evaluate(lambda: NeighborhoodComponentsAnalysis(random_state=0), dataset)


def _reference_row(cache, name, dataset):
    for row in cache.get(name, []):
        if row["dataset"] == dataset:
            return row
    return None


def _accuracy(row):
    if row is None:
        return None
    if "error" in row:
        return None
    acc = row["accuracy"]
    return None if acc is None or not np.isfinite(acc) else acc


def more_rounds(row, n_rounds, measure_anchor, measure_ours):
    """Time ``n_rounds - 1`` more (anchor, mlearn) rounds for ``row``.

    The row's times become the medians over all rounds and its speed-up
    the median of the rounds' ratios; ``speedup_rounds`` lists them.
    """
    ours_times, anchor_times = [row["fit_time"]], [row["anchor_fit_time"]]
    for _ in range(n_rounds - 1):
        anchor_times.append(measure_anchor()["median_fit_time"])
        ours_times.append(measure_ours()["median_fit_time"])
    ratios = [a / o for a, o in zip(anchor_times, ours_times)]
    row["fit_time"] = float(np.median(ours_times))
    row["anchor_fit_time"] = float(np.median(anchor_times))
    row["speedup"] = float(np.median(ratios))
    row["speedup_rounds"] = [round(r, 3) for r in ratios]
    row["speed_met"] = row["speedup"] >= row["speed_target"]


def _compare(rows, learner, dataset, ours, anchor_name, anchor):
    acc_ref = _accuracy(anchor)
    row = {
        "learner": learner,
        "dataset": dataset,
        "accuracy": ours["accuracy"],
        "anchor": anchor_name,
        "anchor_accuracy": acc_ref,
        "fit_time": ours["median_fit_time"],
        "anchor_fit_time": None
        if anchor is None or "error" in anchor
        else anchor["median_fit_time"],
    }
    if anchor is not None and "error" in anchor:
        row["note"] = "anchor failed: " + anchor["error"][:80].replace("\n", " ")
    elif anchor is not None and anchor.get("failed_folds"):
        failed = anchor["failed_folds"]
        row["note"] = (
            f"anchor fails on {len(failed)} of 5 folds ("
            + failed[0]["error"][:60].replace("\n", " ")
            + "); its fit time is the median of "
            "the fits that finished"
        )
    elif acc_ref is None:
        row["note"] = "anchor accuracy is NaN (its components contain NaN)"
    if acc_ref is not None:
        row["accuracy_gap"] = ours["accuracy"] - acc_ref
        row["accuracy_met"] = ours["accuracy"] >= acc_ref - 0.01
    if row["anchor_fit_time"]:
        row["speedup"] = row["anchor_fit_time"] / row["fit_time"]
        on_digits = dataset in ("digits", "digits_varying")
        target = TARGETS.get((learner, anchor_name)) if on_digits else None
        if target is not None:
            row["speed_target"] = target
            row["speed_met"] = row["speedup"] >= target
    rows.append(row)


#: The user-guide page of each row, whose benchmark section this script rewrites.
DOC_PAGES = {
    "nca.rst": ("NCA", "NCA (max_iter=50, tol=1e-5)"),
    "lfda.rst": ("LFDA",),
    "mlkr.rst": ("MLKR",),
    "rca.rst": ("RCA", "RCA_Supervised"),
}
DOCS = HERE.parent / "docs" / "user_guide"
START, END = ".. benchmark table start", ".. benchmark table end"


def _cell(value, fmt):
    if value is None:
        return "—"
    return fmt.format(value)


DATASET_LABELS = {"digits_varying": "digits (61 varying pixels)"}


def rst_table(rows):
    """The rows of one page as an RST list-table (accuracy in %, time in s)."""
    lines = [
        ".. list-table::",
        "   :header-rows: 1",
        "",
        "   * - learner",
        "     - data set",
        "     - accuracy (%)",
        "     - anchor",
        "     - anchor accuracy (%)",
        "     - fit time (s)",
        "     - anchor fit time (s)",
        "     - speed-up",
    ]
    for row in rows:
        anchor_acc = row.get("anchor_accuracy")
        lines += [
            f"   * - {row['learner']}",
            f"     - {DATASET_LABELS.get(row['dataset'], row['dataset'])}",
            f"     - {100 * row['accuracy']:.1f}",
            f"     - {row['anchor']}",
            "     - "
            + (
                f"{100 * anchor_acc:.1f}"
                if anchor_acc is not None
                else "fails"
                if "fail" in row.get("note", "")
                else "NaN"
            ),
            f"     - {row['fit_time']:.3g}",
            "     - " + _cell(row.get("anchor_fit_time"), "{:.3g}"),
            "     - " + _cell(row.get("speedup"), "{:.1f}×"),
        ]
    return "\n".join(lines)


def update_docs(rows):
    """Rewrite the benchmark table of each learner's user-guide page."""
    for page, learners in DOC_PAGES.items():
        path = DOCS / page
        if not path.exists():
            continue
        text = path.read_text()
        if START not in text or END not in text:
            continue
        chosen = [r for r in rows if r["learner"] in learners]
        if not chosen:
            continue
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        path.write_text(head + START + "\n\n" + rst_table(chosen) + "\n\n" + END + tail)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--speed-rounds",
        type=int,
        default=3,
        help="rounds of the rows with a speed target (with --refresh-reference)",
    )
    parser.add_argument(
        "--refresh-reference",
        action="store_true",
        help="measure metric-learn again instead of using the cache",
    )
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument(
        "--docs-only",
        action="store_true",
        help="only rewrite the docs tables from results/supervised.json",
    )
    args = parser.parse_args(argv)
    if args.docs_only:
        update_docs(json.loads((RESULTS_DIR / "supervised.json").read_text())["rows"])
        return

    import numba

    numba.set_num_threads(1)
    rows = []
    with threadpool_limits(limits=1):
        mlearn_result("NCA", {"max_iter": 2}, "iris")  # compile the kernels once
    # each learner right after its reference, so that both sides see the
    # machine in the same state
    rounds = args.speed_rounds if args.refresh_reference else 1
    for case in CASES:
        name, cls_name, params, ref_name, ref_params = case
        reference = reference_results(args.datasets, args.refresh_reference, [case])
        with threadpool_limits(limits=1):
            for dataset in datasets_of(name, args.datasets):
                print(f"mlearn {name} on {dataset} ...", flush=True)
                ours = mlearn_result(cls_name, params, dataset)
                _compare(
                    rows,
                    name,
                    dataset,
                    ours,
                    "metric-learn",
                    _reference_row(reference, ref_name, dataset),
                )
                if rounds > 1 and "speed_target" in rows[-1]:
                    print(f"  {rounds - 1} more rounds ...", flush=True)
                    more_rounds(
                        rows[-1],
                        rounds,
                        lambda: measure_reference(ref_name, ref_params, [dataset])[0],
                        lambda: mlearn_result(cls_name, params, dataset),
                    )
                if name == "NCA":
                    print(f"scikit-learn NCA on {dataset} ...", flush=True)
                    theirs = sklearn_nca_result(dataset)
                    ours = mlearn_result("NCA", SKLEARN_NCA, dataset)
                    _compare(
                        rows, "NCA (max_iter=50, tol=1e-5)", dataset, ours, "scikit-learn", theirs
                    )
                    if rounds > 1 and "speed_target" in rows[-1]:
                        more_rounds(
                            rows[-1],
                            rounds,
                            lambda: sklearn_nca_result(dataset),
                            lambda: mlearn_result("NCA", SKLEARN_NCA, dataset),
                        )
    order = {d: i for i, d in enumerate([*args.datasets, *EXTRA_DATASETS])}
    rows.sort(key=lambda r: order[r["dataset"]])
    notes = (
        "accuracy: mean 3-NN accuracy over 5 stratified folds (random_state=0) after "
        "StandardScaler; fit_time: median seconds per fold; speedup = anchor time / "
        "mlearn time; every side single-threaded. accuracy_met: mlearn is at most 1 "
        "point below its anchor. Anchors that fail or return NaN are not compared "
        "(metric-learn's LFDA and RCA give NaN on digits, whose three constant pixels "
        "make their matrices singular; its RCA_Supervised default of 100 chunklets "
        "cannot be drawn on iris and wine). LFDA, RCA and RCA_Supervised are also "
        "run on digits_varying, digits without its three constant pixels, where "
        "metric-learn's fits finish on some or all folds: their fit times are the "
        "speed comparison on digits. Rows with a speed target are timed in "
        "rounds (reference, then mlearn, repeated; speedup_rounds), and their times "
        "and speed-up are the medians over the rounds. metric-learn figures come from "
        "results/supervised_reference.json, measured in the same session unless "
        "noted."
    )
    write_results(
        "supervised",
        rows,
        title="Supervised learners: accuracy and fit time",
        notes=notes,
        columns=[
            "learner",
            "dataset",
            "accuracy",
            "anchor",
            "anchor_accuracy",
            "accuracy_met",
            "fit_time",
            "anchor_fit_time",
            "speedup",
            "speed_target",
            "speed_met",
            "speedup_rounds",
            "note",
        ],
    )
    if set(args.datasets) == set(DATASETS):
        update_docs(rows)
    for row in rows:
        print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()})


if __name__ == "__main__":
    main()
