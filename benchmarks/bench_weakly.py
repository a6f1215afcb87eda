"""Accuracy and fit time of ITML, MMC and SDML (the _Supervised forms) against metric-learn 0.7.

Runs the shared protocol (``protocol.evaluate``: 5-fold stratified CV,
StandardScaler, 3-NN) on iris, wine, breast_cancer and digits for mlearn's
ITML_Supervised, MMC_Supervised (full and diagonal) and SDML_Supervised and for
metric-learn's, with one BLAS/OpenMP thread on both sides, and writes
``results/weakly.{json,md}``. A second table, ``results/weakly_pairs.{json,md}``,
gives the pair-verification ROC AUC of the tuple forms (ITML, MMC, SDML) on
held-out pairs.

metric-learn is slow (ITML_Supervised runs 1000 sweeps on digits), so its
results are cached in ``results/weakly_reference.json``; pass ``--refresh`` to
rerun it. ``--datasets iris,wine`` restricts the run.

    python benchmarks/bench_weakly.py [--refresh] [--datasets ...]

``--itml-same-moment`` times ITML_Supervised on one digits fold with both
sides back to back; ``--itml-kernels`` times ITML's two sweep kernels (update
by update, and blocked) against each other by number of features.

The mlearn _Supervised learners run with ``feature_scaling=None``
(metric-learn's behaviour) so that both sides fit the same problem; the tuple
forms of the pair-verification table have no such parameter.
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
    harness.one_thread_for_this_script(numba=False)

import numpy as np
from harness import RESULTS_DIR, run_reference, single_threaded_env, write_results
from protocol import DATASETS, evaluate, load

CACHE = RESULTS_DIR / "weakly_reference.json"

# (row label, mlearn class, metric-learn class, parameters for both sides,
#  extra parameters for mlearn only)
CONFIGS = [
    ("MMC_Supervised", "MMC_Supervised", "MMC_Supervised", {}, {}),
    ("MMC_Supervised diagonal", "MMC_Supervised", "MMC_Supervised", {"diagonal": True}, {}),
    ("SDML_Supervised", "SDML_Supervised", "SDML_Supervised", {}, {}),
    ("ITML_Supervised", "ITML_Supervised", "ITML_Supervised", {}, {}),
    # same metric-learn run (its defaults), mlearn stopped after 50 sweeps
    (
        "ITML_Supervised (mlearn max_iter=50)",
        "ITML_Supervised",
        "ITML_Supervised",
        {},
        {"max_iter": 50},
    ),
]
SPEED_TARGETS = {("ITML_Supervised", "digits"): 20.0, ("MMC_Supervised", "digits"): 5.0}


def reference_key(cls_name, params):
    return f"{cls_name} {json.dumps(params, sort_keys=True)}"


def reference_results(datasets, configs, refresh=False):
    cache = json.loads(CACHE.read_text()) if CACHE.exists() else {}
    done = set()
    for _, _, ref_cls, params, _ in configs:
        key = reference_key(ref_cls, params)
        if key in done:
            continue
        done.add(key)
        have = {row["dataset"] for row in cache.get(key, [])}
        missing = [d for d in datasets if refresh or d not in have]
        if not missing:
            continue
        print(f"metric-learn {key} on {missing} ...", flush=True)
        rows = run_reference(
            HERE / "reference_metric_learn.py",
            {"learner": ref_cls, "params": {**params, "random_state": 0}, "datasets": missing},
            env=single_threaded_env(),
        )
        kept = [r for r in cache.get(key, []) if r["dataset"] not in missing]
        cache[key] = kept + rows
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        CACHE.write_text(json.dumps(cache, indent=2) + "\n")
    return cache


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refresh", action="store_true", help="rerun metric-learn")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--reference-only", action="store_true")
    parser.add_argument(
        "--learners",
        default="",
        help="comma-separated row labels to run (default: all); rows of "
        "other learners already in results/weakly.json are kept",
    )
    parser.add_argument("--no-pairs", action="store_true", help="skip the pair-verification table")
    parser.add_argument(
        "--itml-kernels",
        action="store_true",
        help="only time ITML's two sweep kernels against each other "
        "by number of features (results/weakly_itml_kernels.*)",
    )
    parser.add_argument(
        "--itml-same-moment",
        action="store_true",
        help="only time ITML_Supervised on one digits fold, both sides "
        "back to back (results/weakly_itml_speed.*)",
    )
    args = parser.parse_args(argv)
    datasets = args.datasets.split(",")
    wanted = [s for s in args.learners.split(",") if s]
    configs = [c for c in CONFIGS if not wanted or c[0] in wanted]
    if args.itml_kernels:
        rows = itml_kernels()
        write_results(
            "weakly_itml_kernels",
            rows,
            title="ITML: one sweep, update by update against blocked updates",
            notes=(
                "4000 random pair differences, all constraints active, one thread; "
                "median of 5 sweeps each, the two kernels timed alternately. The "
                "estimator uses the blocked sweep from BLOCKED_MIN_FEATURES features on."
            ),
        )
        return
    if args.itml_same_moment:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):
            rows = itml_same_moment()
        write_results(
            "weakly_itml_speed",
            rows,
            title="ITML_Supervised: both sides timed back to back (digits, one fold)",
            notes=(
                "Median of 5 fits each, 100 sweeps (max_iter=100) on both sides, one "
                "thread; wall and process CPU time. The per-sweep cost dominates: "
                "a default fit runs 1000 sweeps on digits on both sides."
            ),
        )
        return
    cache = reference_results(datasets, configs, refresh=args.refresh)
    if args.reference_only:
        return
    from threadpoolctl import threadpool_limits

    import mlearn

    rows = []
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for label, cls_name, ref_cls, params, extra in configs:
            cls = getattr(mlearn, cls_name)
            refs = {r["dataset"]: r for r in cache.get(reference_key(ref_cls, params), [])}
            for dataset in datasets:
                # feature_scaling=None: metric-learn's behaviour, the comparison
                # is of the same algorithm
                ours = evaluate(
                    lambda c=cls, p=params, e=extra: c(
                        random_state=0, feature_scaling=None, **p, **e
                    ),
                    dataset,
                )
                ref = refs.get(dataset, {})
                row = {
                    "learner": label,
                    "dataset": dataset,
                    "mlearn_accuracy": ours["accuracy"],
                    "metric_learn_accuracy": ref.get("accuracy", float("nan")),
                    "mlearn_fit_s": ours["median_fit_time"],
                    "metric_learn_fit_s": ref.get("median_fit_time", float("nan")),
                }
                if "error" in ref:
                    row["metric_learn_accuracy"] = "fails"
                    row["note"] = ref["error"][:120]
                else:
                    row["accuracy_gap"] = ours["accuracy"] - ref["accuracy"]
                    row["speedup"] = ref["median_fit_time"] / ours["median_fit_time"]
                    row["accuracy_met"] = bool(row["accuracy_gap"] >= -0.01)
                    target = SPEED_TARGETS.get((label, dataset))
                    if target:
                        row["speed_target"] = target
                        row["speed_met"] = bool(row["speedup"] >= target)
                rows.append(row)
                print(row, flush=True)
    previous = RESULTS_DIR / "weakly.json"
    if previous.exists():
        fresh = {(r["learner"], r["dataset"]) for r in rows}
        kept = [
            r
            for r in json.loads(previous.read_text())["rows"]
            if (r["learner"], r["dataset"]) not in fresh
        ]
        order = {c[0]: i for i, c in enumerate(CONFIGS)}
        rows = sorted(
            kept + rows,
            key=lambda r: (order.get(r["learner"], 99), list(DATASETS).index(r["dataset"])),
        )
    write_results(
        "weakly",
        rows,
        title="ITML, MMC, SDML (_Supervised) vs metric-learn 0.7: 3-NN accuracy and fit time",
        notes=(
            "5-fold stratified CV (random_state=0), StandardScaler, 3-NN on the "
            "transformed data; fit time is the median over the 5 folds, one thread "
            "on both sides, metric-learn 0.7 with scikit-learn 1.5.2 in its own "
            "environment, both with random_state=0. metric-learn's SDML fails on "
            "every data set with scikit-learn's graphical lasso. metric-learn's numbers "
            "come from results/weakly_reference.json (run once, at another moment of "
            "the shared machine's load; --refresh reruns them), so speed-ups carry "
            "that noise. The 'mlearn max_iter=50' rows compare mlearn stopped after 50 "
            "sweeps with metric-learn's default run (equal accuracy). MMC: "
            "results/mmc_same_pairs.md fits both libraries on identical pairs and "
            "shows where metric-learn's accuracy comes from (it returns a multiple "
            "of the identity on breast_cancer folds; its diagonal version stops "
            "short of the minimum of its objective)."
        ),
        columns=[
            "learner",
            "dataset",
            "mlearn_accuracy",
            "metric_learn_accuracy",
            "accuracy_gap",
            "accuracy_met",
            "mlearn_fit_s",
            "metric_learn_fit_s",
            "speedup",
            "speed_target",
            "speed_met",
            "note",
        ],
    )
    if args.no_pairs:
        return
    pair_rows = pair_verification(datasets)
    write_results(
        "weakly_pairs",
        pair_rows,
        title="ITML, MMC, SDML on pairs: verification ROC AUC on held-out pairs",
        notes=(
            "Pairs drawn from the labels (mlearn.Constraints, 20 * n_classes^2 similar "
            "and as many dissimilar) among the training points of a stratified 50/50 "
            "split, and likewise among the test points; StandardScaler fitted on the "
            "training points. ROC AUC of decision_function (negated learned distance) "
            "on the test pairs; 'euclidean' is the baseline."
        ),
    )


_SWEEP_SCRIPT = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
sys.path.insert(0, {here!r})
from protocol import load
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state
import metric_learn
X, y = load("digits")
train, _ = next(StratifiedKFold(5, shuffle=True, random_state=0).split(X, y))
X = StandardScaler().fit_transform(X[train])
times = []
for _ in range(5):
    model = metric_learn.ITML_Supervised(random_state=0, max_iter={max_iter})
    start = time.perf_counter(); cpu = time.process_time()
    model.fit(X, y[train])
    times.append((time.perf_counter() - start, time.process_time() - cpu))
print(json.dumps(times))
"""


def itml_kernels(n=4000, features=(8, 16, 24, 32, 64, 128)):
    """Microseconds per constraint of ``itml_sweep`` and ``itml_sweep_blocked``."""
    import numba
    from harness import time_interleaved
    from threadpoolctl import threadpool_limits

    from mlearn.learners._itml_kernels import itml_sweep, itml_sweep_blocked
    from mlearn.learners.itml import BLOCKED_MIN_FEATURES, SWEEP_BLOCK

    numba.set_num_threads(1)
    rng = np.random.default_rng(0)
    signs = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    rows = []
    for d in features:
        diffs = rng.standard_normal((n, d))
        targets = np.where(signs > 0, 0.2 * d, 8.0 * d)

        def sweep(kernel, *extra, diffs=diffs, targets=targets, d=d):
            # every lambda starts positive, so every constraint updates A
            return lambda: kernel(
                np.eye(d), diffs, signs, targets.copy(), np.ones(n), 1.0, 0.5, *extra
            )

        with threadpool_limits(1):
            t_fused, t_blocked, _, _ = time_interleaved(
                sweep(itml_sweep), sweep(itml_sweep_blocked, SWEEP_BLOCK)
            )
        rows.append(
            {
                "n_features": d,
                "fused_us_per_constraint": 1e6 * t_fused / n,
                "blocked_us_per_constraint": 1e6 * t_blocked / n,
                "speedup": t_fused / t_blocked,
                "estimator_uses": "blocked" if d >= BLOCKED_MIN_FEATURES else "fused",
            }
        )
        print(rows[-1], flush=True)
    return rows


def itml_same_moment(max_iter=100):
    """ITML_Supervised on one digits fold, both sides back to back, ``max_iter`` sweeps.

    The cached reference of the main table ran at another moment of the
    machine's load; this check times both sides within a minute of each other
    (wall and CPU time, median of 5 fits each, one thread).
    """
    import functools
    import statistics
    import tempfile
    import time

    from sklearn.model_selection import StratifiedKFold
    from sklearn.preprocessing import StandardScaler

    import mlearn

    script = Path(tempfile.mkdtemp()) / "itml_sweeps.py"
    script.write_text(_SWEEP_SCRIPT.format(here=str(HERE), max_iter=max_iter))
    X, y = load("digits")
    train, _ = next(StratifiedKFold(5, shuffle=True, random_state=0).split(X, y))
    X = StandardScaler().fit_transform(X[train])
    ours = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # feature_scaling=None: metric-learn's behaviour, the comparison is of
        # the same algorithm
        itml = functools.partial(mlearn.ITML_Supervised, random_state=0, feature_scaling=None)
        itml(max_iter=2).fit(X, y[train])  # compile
        for _ in range(5):
            start, cpu = time.perf_counter(), time.process_time()
            itml(max_iter=max_iter).fit(X, y[train])
            ours.append((time.perf_counter() - start, time.process_time() - cpu))
    ref = run_reference(script, {}, env=single_threaded_env())
    row = {"case": f"ITML_Supervised, digits fold 0, {max_iter} sweeps"}
    for name, times in (("mlearn", ours), ("metric_learn", ref)):
        row[f"{name}_wall_s"] = statistics.median(t[0] for t in times)
        row[f"{name}_cpu_s"] = statistics.median(t[1] for t in times)
    row["ratio_wall"] = row["metric_learn_wall_s"] / row["mlearn_wall_s"]
    row["ratio_cpu"] = row["metric_learn_cpu_s"] / row["mlearn_cpu_s"]
    print(row, flush=True)
    return [row]


def pair_verification(datasets):
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    import mlearn

    rows = []
    for dataset in datasets:
        X, y = load(dataset)
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.5, stratify=y, random_state=0)
        scaler = StandardScaler().fit(X_tr)
        X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)
        n = 20 * len(np.unique(y)) ** 2
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p_tr, l_tr = mlearn.Constraints(y_tr).pairs(n, random_state=0)
            p_te, l_te = mlearn.Constraints(y_te).pairs(n, random_state=1)
        train_pairs, test_pairs = X_tr[p_tr], X_te[p_te]
        euclid = -np.linalg.norm(test_pairs[:, 0] - test_pairs[:, 1], axis=1)
        row = {
            "dataset": dataset,
            "n_train_pairs": len(l_tr),
            "n_test_pairs": len(l_te),
            "euclidean": roc_auc_score(l_te, euclid),
        }
        for name in ("ITML", "MMC", "SDML"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = getattr(mlearn, name)(random_state=0).fit(train_pairs, l_tr)
            row[name] = roc_auc_score(l_te, model.decision_function(test_pairs))
        rows.append(row)
        print(row, flush=True)
    return rows


if __name__ == "__main__":
    main()
