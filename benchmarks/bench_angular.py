"""Quality and fit time of AngularMarginLearner (ArcFace on a linear map).

Three parts, all with one BLAS thread:

1. ``angular_defaults``: the default ``alpha``, ``margin``, ``fit_intercept``
   and ``intercept_scaling`` of ``loss='arcface'`` (``scale`` held at 16)
   are chosen on cross-validation
   shuffles 5 to 7 (5-fold stratified, StandardScaler, cosine 3-NN on the
   transform), never on the reported ones: the rule is the largest mean
   accuracy over iris, wine, breast_cancer and digits, ties going to the
   earlier grid entry.
2. ``angular``: the shared protocol (``protocol.evaluate``, shuffle 0, as
   every learner's table reports it) for Euclidean 3-NN, NCA, LMNN and
   ``AngularMarginLearner(loss='arcface')`` with its defaults, plus the mean
   over shuffles 0 to 4. The learner's ``transform`` returns unit vectors,
   on which Euclidean and cosine 3-NN find the same neighbours.
3. ``angular_textures``: MAP@R (``mlearn.metrics.mean_average_precision_at_r``)
   of the test patches of each fold queried against the training patches,
   on standardised LBP histograms of ``mlearn.datasets.load_textures()``:
   Euclidean, NCA (Euclidean on its transform) and the angular learner
   (cosine on its transform).

Usage::

    python benchmarks/bench_angular.py [--skip-choice]
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

# one thread when run as a script (a test importing a helper from here keeps
# its own settings); set before NumPy loads
import harness

if __name__ == "__main__":
    harness.one_thread_for_this_script()

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from harness import write_results
from protocol import DATASETS, evaluate

import mlearn
from mlearn.metrics import mean_average_precision_at_r

CHOICE_SHUFFLES = range(5, 8)
REPORT_SHUFFLES = range(5)
#: scale is held at 16 (a first look on shuffles 5-6 found 32 no better
#: at any alpha and margin); alpha, the arcface margin and the lift
#: (fit_intercept, intercept_scaling) are chosen
GRID = [
    {"alpha": alpha, "scale": 16.0, "margin": margin, "fit_intercept": False}
    for alpha in (0.1, 0.3, 1.0)
    for margin in (0.2, 0.5)
] + [
    {
        "alpha": alpha,
        "scale": 16.0,
        "margin": margin,
        "fit_intercept": True,
        "intercept_scaling": lift,
    }
    for lift in (0.25, 0.5, 1.0, 2.0)
    for alpha in (0.1, 0.3, 1.0)
    for margin in (0.2, 0.5)
]


def _arcface(**params):
    return lambda: mlearn.AngularMarginLearner(loss="arcface", random_state=0, **params)


def _mean_accuracy(make_learner, dataset, shuffles):
    return float(
        np.mean([evaluate(make_learner, dataset, random_state=s)["accuracy"] for s in shuffles])
    )


def choose_defaults():
    rows = []
    for params in GRID:
        row = dict(params)
        for dataset in DATASETS:
            row[dataset] = _mean_accuracy(_arcface(**params), dataset, CHOICE_SHUFFLES)
        row["mean"] = float(np.mean([row[d] for d in DATASETS]))
        rows.append(row)
        print(row, flush=True)
    best = max(range(len(rows)), key=lambda i: (rows[i]["mean"], -i))
    for i, row in enumerate(rows):
        row["chosen"] = "yes" if i == best else ""
    write_results(
        "angular_defaults",
        rows,
        title="AngularMarginLearner(loss='arcface'): choice of defaults",
        columns=[
            "fit_intercept",
            "intercept_scaling",
            "alpha",
            "scale",
            "margin",
            *DATASETS,
            "mean",
            "chosen",
        ],
        notes="Mean cosine 3-NN accuracy over 5-fold stratified CV shuffles 5-7 (StandardScaler); "
        "intercept_scaling is unused without fit_intercept; "
        "the row with the largest mean over the four data sets is the default. The "
        "reported comparison (angular.md) uses shuffles 0-4.",
    )
    return rows[best]


def quality():
    learners = {
        "Euclidean": None,
        "NCA": lambda: mlearn.NCA(random_state=0),
        "LMNN": lambda: mlearn.LMNN(random_state=0),
        "AngularMarginLearner(arcface)": _arcface(),
    }
    rows = []
    for dataset in DATASETS:
        for name, make in learners.items():
            if name == "LMNN" and dataset != "digits":
                continue
            result = evaluate(make, dataset, random_state=0)
            row = {
                "dataset": dataset,
                "method": name,
                "accuracy": result["accuracy"],
                "fit_time": result["median_fit_time"],
            }
            if name in ("Euclidean", "AngularMarginLearner(arcface)"):
                row["accuracy_shuffles_0_4"] = _mean_accuracy(make, dataset, REPORT_SHUFFLES)
            rows.append(row)
            print(row, flush=True)
    _mark_targets(rows)
    write_results(
        "angular",
        rows,
        title="AngularMarginLearner: 3-NN accuracy",
        notes="accuracy: the shared protocol (5-fold stratified CV, random_state=0, "
        "StandardScaler, 3-NN on the transform; the angular learner's transform is unit "
        "vectors, so this is cosine 3-NN); accuracy_shuffles_0_4: its mean over CV "
        "shuffles 0-4. fit_time: median seconds per fold, one thread. Targets: the angular "
        "learner at least Euclidean on every data set, and on digits within 0.5 point "
        "of the best Mahalanobis learner measured here (target_met).",
    )
    return rows


def _mark_targets(rows):
    by = {(r["dataset"], r["method"]): r for r in rows}
    for dataset in DATASETS:
        row = by[(dataset, "AngularMarginLearner(arcface)")]
        euclid = by[(dataset, "Euclidean")]["accuracy"]
        met = row["accuracy"] >= euclid
        note = f">= Euclidean {euclid:.4f}"
        if dataset == "digits":
            best = max(by[(dataset, m)]["accuracy"] for m in ("NCA", "LMNN"))
            met = met and row["accuracy"] >= best - 0.005
            note += f"; within 0.5 point of {best:.4f}"
        row["target"] = note
        row["target_met"] = "yes" if met else "no"


def textures(n_splits=5):
    from mlearn.datasets import load_textures
    from mlearn.features import LocalBinaryPattern

    images, target = load_textures(
        patch_size=16, n_patches_per_image=100, random_state=0, return_X_y=True
    )
    X = LocalBinaryPattern(scales=[(8, 1), (16, 2), (24, 3)]).fit_transform(images)
    X = X.astype(np.float64)
    methods = {
        "Euclidean": (None, "euclidean"),
        "NCA": (lambda: mlearn.NCA(random_state=0), "euclidean"),
        "AngularMarginLearner(arcface)": (_arcface(), "cosine"),
    }
    rows = []
    folds = list(StratifiedKFold(n_splits, shuffle=True, random_state=0).split(X, target))
    for name, (make, metric) in methods.items():
        scores, times = [], []
        for train, test in folds:
            scaler = StandardScaler().fit(X[train])
            X_train, X_test = scaler.transform(X[train]), scaler.transform(X[test])
            if make is not None:
                start = time.perf_counter()
                learner = make().fit(X_train, target[train])
                times.append(time.perf_counter() - start)
                X_train, X_test = learner.transform(X_train), learner.transform(X_test)
            scores.append(
                mean_average_precision_at_r(
                    X_test,
                    target[test],
                    reference=X_train,
                    reference_labels=target[train],
                    metric=metric,
                )
            )
        rows.append(
            {
                "method": name,
                "metric": metric,
                "map_at_r": float(np.mean(scores)),
                "map_at_r_std": float(np.std(scores)),
                "fit_time": float(np.median(times)) if times else 0.0,
            }
        )
        print(rows[-1], flush=True)
    angular = rows[-1]["map_at_r"]
    rows[-1]["target_met"] = "yes" if angular > max(r["map_at_r"] for r in rows[:-1]) else "no"
    write_results(
        "angular_textures",
        rows,
        title="AngularMarginLearner: MAP@R on texture LBP histograms",
        notes=f"{len(target)} patches 16 x 16 of brick, grass and gravel (load_textures, "
        f"random_state=0), LocalBinaryPattern scales (8,1), (16,2), (24,3): {X.shape[1]} "
        "features, standardised per fold. MAP@R of each fold's test patches queried "
        "against its training patches, mean over 5 stratified folds. Target: the angular "
        "learner above Euclidean and above NCA.",
    )
    return rows


DOCS_PAGE = HERE.parent / "docs" / "user_guide" / "angular_margin.rst"
START, END = ".. benchmark table start", ".. benchmark table end"


def rst_tables(quality_rows, texture_rows):
    """The two comparison tables of the user-guide page, as RST list-tables."""
    lines = [
        ".. list-table:: 3-NN accuracy (%)",
        "   :header-rows: 1",
        "",
        "   * - data set",
        "     - method",
        "     - accuracy, shuffle 0",
        "     - mean, shuffles 0-4",
        "     - fit time (s)",
        "     - target met",
    ]
    for row in quality_rows:
        mean = row.get("accuracy_shuffles_0_4")
        lines += [
            f"   * - {row['dataset']}",
            f"     - {row['method']}",
            f"     - {100 * row['accuracy']:.2f}",
            "     - " + (f"{100 * mean:.2f}" if mean is not None else ""),
            f"     - {row['fit_time']:.3g}",
            f"     - {row.get('target_met', '')}",
        ]
    lines += [
        "",
        ".. list-table:: MAP@R on texture LBP histograms",
        "   :header-rows: 1",
        "",
        "   * - method",
        "     - MAP@R",
        "     - fit time (s)",
    ]
    for row in texture_rows:
        lines += [
            f"   * - {row['method']} ({row['metric']})",
            f"     - {row['map_at_r']:.3f} ± {row['map_at_r_std']:.3f}",
            f"     - {row['fit_time']:.3g}",
        ]
    return "\n".join(line.rstrip() for line in lines)


def update_docs(quality_rows, texture_rows):
    """Rewrite the tables between the markers of the user-guide page."""
    text = DOCS_PAGE.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    DOCS_PAGE.write_text(
        head + START + "\n\n" + rst_tables(quality_rows, texture_rows) + "\n\n" + END + tail
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--skip-choice", action="store_true", help="do not rerun the choice of defaults"
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    if not args.skip_choice:
        print("chosen:", choose_defaults())
    update_docs(quality(), textures())


if __name__ == "__main__":
    main()
