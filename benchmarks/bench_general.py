"""Benchmarks of the general learner (MetricLearner and its tuple forms).

1. Quality: 3-NN accuracy of ``MetricLearner()`` (default parameters) under
   the shared protocol on iris, wine, breast_cancer and digits, against the
   Euclidean metric.
2. Speed against metric-learn 0.7: total fit time over the 5 folds of iris,
   wine and breast_cancer of ``MetricLearner()`` vs ``ITML_Supervised()`` and
   ``MMC_Supervised()`` (their defaults), with the accuracies. Target: at
   least 5x faster at equal or better accuracy.
3. Solvers: fit time of ``PairsMetricLearner`` on 10,000 pairs of digits for
   each solver (median of 5).

Both sides run with one BLAS/OpenMP thread.

The speed comparison runs in ``--rounds`` rounds (default 5). Round ``r``
runs each reference with ``random_state=r`` on the three data sets, then
times ``MetricLearner`` on them: metric-learn's ``_Supervised`` learners
draw their constraints at random, so both their accuracy and their fit time
depend on the draw, and the load of a shared machine drifts over minutes.
A row's times are the medians over the rounds, its ratio the median of the
rounds' ratios, and the reference accuracy compared is the mean over the
rounds' seeds. The reference runs are cached by seed in
``results/general_reference_seeds.json``; ``--refresh`` runs them again,
interleaved with mlearn's, which is how the committed tables are made.

Run: ``python benchmarks/bench_general.py [--refresh] [--rounds N]
[--skip-solvers]``
"""

import argparse
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import harness  # noqa: E402
import numpy as np  # noqa: E402
from protocol import evaluate, load  # noqa: E402

SEED_CACHE = harness.RESULTS_DIR / "general_reference_seeds.json"
SPEED_DATASETS = ["iris", "wine", "breast_cancer"]
QUALITY_DATASETS = ["iris", "wine", "breast_cancer", "digits"]
REFERENCES = ["ITML_Supervised", "MMC_Supervised"]


def reference_round(seed, refresh):
    """Each reference's protocol results with ``random_state=seed`` (cached by seed)."""
    cache = harness.cached_reference_runs(
        SEED_CACHE,
        [
            (
                learner,
                seed,
                {"learner": learner, "params": {"random_state": seed}, "datasets": SPEED_DATASETS},
            )
            for learner in REFERENCES
        ],
        HERE / "reference_metric_learn.py",
        refresh=refresh,
    )
    return {
        learner: {row["dataset"]: row for row in cache[learner][str(seed)]}
        for learner in REFERENCES
    }


def speed_rounds(n_rounds, refresh):
    """``n_rounds`` of (references with random_state=r, then MetricLearner)."""
    rounds = []
    for seed in range(n_rounds):
        reference = reference_round(seed, refresh)
        ours = mlearn_results(SPEED_DATASETS, euclidean=False)
        rounds.append({"reference": reference, "mlearn": ours})
    return rounds


def mlearn_results(datasets, euclidean=True):
    from mlearn import MetricLearner

    out = {}
    for dataset in datasets:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            row = evaluate(lambda: MetricLearner(random_state=0), dataset)
        out[dataset] = row
        if euclidean:
            row["euclidean"] = evaluate(None, dataset)["accuracy"]
        print(
            f"MetricLearner {dataset}: accuracy {row['accuracy']:.4f}"
            + (f" (Euclidean {row['euclidean']:.4f})" if euclidean else "")
            + f", fit {sum(row['fit_times']):.2f} s over 5 folds",
            flush=True,
        )
    return out


def solver_rows():
    from sklearn.preprocessing import StandardScaler

    from mlearn import Constraints, PairsMetricLearner

    X, y = load("digits")
    X = StandardScaler().fit_transform(X)
    pairs, py = Constraints(y).pairs(5000, random_state=0)
    tuples = X[pairs]
    rows = []
    for solver in ("pgd", "lbfgs", "sgd"):

        def fit(solver=solver):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return PairsMetricLearner(solver=solver, random_state=0).fit(tuples, py)

        median, times, learner = harness.time_call(fit, repeat=5, warmup=1)
        rows.append(
            {
                "case": f"PairsMetricLearner solver={solver}, digits, {len(py)} pairs",
                "median_s": median,
                "n_iter": learner.n_iter_,
                # a pairs learner's score() is its ROC AUC; this row records accuracy
                "train_pair_accuracy": float(np.mean(learner.predict(tuples) == py)),
            }
        )
        print(rows[-1], flush=True)
    return rows


def speed_rows(rounds):
    """Rows comparing the rounds' fit times and accuracies, per data set and in total."""
    rows = []
    for learner in REFERENCES:
        ok_accuracy, totals = True, [[0.0, 0.0] for _ in rounds]
        for dataset in SPEED_DATASETS:
            refs = [r["reference"][learner][dataset] for r in rounds]
            failed = [ref["error"] for ref in refs if "error" in ref]
            if failed:
                rows.append({"case": f"{learner} {dataset}", "note": failed[0]})
                ok_accuracy = False
                continue
            ref_times = [sum(ref["fit_times"]) for ref in refs]
            our_times = [sum(r["mlearn"][dataset]["fit_times"]) for r in rounds]
            for total, ref_time, our_time in zip(totals, ref_times, our_times):
                total[0] += ref_time
                total[1] += our_time
            accuracies = [ref["accuracy"] for ref in refs]
            ours = [r["mlearn"][dataset]["accuracy"] for r in rounds]
            compared = float(np.mean(accuracies))
            spread = f"{min(accuracies):.4f}-{max(accuracies):.4f}"
            ok_accuracy &= bool(min(ours) >= compared)
            rows.append(
                {
                    "case": f"{learner} vs MetricLearner, {dataset}",
                    "reference_fit_s": float(np.median(ref_times)),
                    "mlearn_fit_s": float(np.median(our_times)),
                    "ratio": float(np.median([r / o for r, o in zip(ref_times, our_times)])),
                    "reference_accuracy": f"{compared:.4f} ({spread})",
                    "mlearn_accuracy": float(np.median(ours)),
                }
            )
        ratios = [ref / ours for ref, ours in totals]
        ratio = float(np.median(ratios))
        rows.append(
            {
                "case": f"{learner} vs MetricLearner, total over {', '.join(SPEED_DATASETS)}",
                "reference_fit_s": float(np.median([ref for ref, _ in totals])),
                "mlearn_fit_s": float(np.median([ours for _, ours in totals])),
                "ratio": ratio,
                "ratio_rounds": " ".join(f"{r:.3g}" for r in ratios),
                "target": ">= 5x at equal or better accuracy",
                "met": bool(ratio >= 5 and ok_accuracy),
            }
        )
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--refresh",
        action="store_true",
        help="rerun metric-learn (interleaved with mlearn's runs)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="speed rounds; round r runs the references with random_state=r",
    )
    parser.add_argument("--skip-solvers", action="store_true")
    args = parser.parse_args()
    if args.rounds < 5:
        parser.error(f"--rounds must be at least 5 for a median, got {args.rounds}")

    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    ours = mlearn_results(QUALITY_DATASETS)

    quality_rows = []
    for dataset in QUALITY_DATASETS:
        row = ours[dataset]
        quality_rows.append(
            {
                "case": dataset,
                "MetricLearner_accuracy": row["accuracy"],
                "euclidean_accuracy": row["euclidean"],
                "median_fit_s": row["median_fit_time"],
                "met": row["accuracy"] >= row["euclidean"],
            }
        )
    harness.write_results(
        "general_quality",
        quality_rows,
        title="MetricLearner (defaults): 3-NN accuracy, 5-fold CV",
        notes="Target: at least the Euclidean accuracy on every data set; on digits within "
        "1 point of the best metric-learn learner (0.976-0.982, NOTES.md).",
    )

    harness.write_results(
        "general_vs_metric_learn",
        speed_rows(speed_rounds(args.rounds, args.refresh)),
        title="MetricLearner vs metric-learn ITML_Supervised / MMC_Supervised (defaults)",
        notes=f"Fit time summed over the 5 folds of the shared protocol, one BLAS thread on "
        f"both sides, in {args.rounds} rounds: round r runs metric-learn with "
        f"random_state=r, then MetricLearner. Times are medians over the rounds; "
        f"ratio = metric-learn time / mlearn time, the median of the rounds' ratios "
        f"(ratio_rounds lists them). reference_accuracy is the mean (and range) over "
        f"the rounds' seeds; met needs every data set's MetricLearner accuracy to be "
        f"at least that mean. metric-learn 0.7 runs in its own environment "
        f"(scikit-learn 1.5.2); its runs are cached by seed in "
        f"general_reference_seeds.json"
        + (
            ", and were measured in this run."
            if args.refresh
            else " (not rerun here: pass --refresh)."
        ),
    )
    if not args.skip_solvers:
        harness.write_results(
            "general_solvers",
            solver_rows(),
            title="PairsMetricLearner: fit time per solver on digits (10,000 pairs)",
            notes="Median of 5 fits, one BLAS thread, default parameters otherwise.",
        )


if __name__ == "__main__":
    main()
