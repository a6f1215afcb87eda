"""CosineMetricLearner_Supervised on digits: the rule behind its defaults, and the figures.

1. Defaults: ``alpha`` in {0.01, 0.1, 0.3, 1, 2, 3, 5, 10} x ``scale`` in
   {5, 10, 20}, scored by the held-out cosine 3-NN accuracy on standardised
   digits, on the first fold of stratified 5-fold CV with shuffles 5, 6 and
   7; the best mean is the default (``alpha=3``, ``scale=10``).
2. Report, on shuffle 0 (all 5 folds), default parameters: the learned
   cosine 3-NN (Euclidean 3-NN on the unit-norm output), the cosine and the
   Euclidean 3-NN on the standardised input, and the ROC AUC of the learned
   and the input's cosine on 500 + 500 pairs drawn from each test fold's
   labels.

Run: ``python benchmarks/bench_cosine.py`` (one BLAS thread; a few minutes).
"""

import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import harness  # noqa: E402
import numpy as np  # noqa: E402
from protocol import load  # noqa: E402

ALPHAS = (0.01, 0.1, 0.3, 1.0, 2.0, 3.0, 5.0, 10.0)
SCALES = (5.0, 10.0, 20.0)


def scaled_folds(X, y, split, first_only=False):
    from sklearn.model_selection import StratifiedKFold
    from sklearn.preprocessing import StandardScaler

    for fold, (train, test) in enumerate(
        StratifiedKFold(5, shuffle=True, random_state=split).split(X, y)
    ):
        scaler = StandardScaler().fit(X[train])
        yield scaler.transform(X[train]), y[train], scaler.transform(X[test]), y[test]
        if first_only:
            return


def knn(A, y_a, B, y_b, metric="euclidean"):
    from sklearn.neighbors import KNeighborsClassifier

    return float(KNeighborsClassifier(3, metric=metric).fit(A, y_a).score(B, y_b))


def defaults_rows(X, y):
    from mlearn import CosineMetricLearner_Supervised

    rows = []
    for alpha in ALPHAS:
        for scale in SCALES:
            scores = []
            for split in (5, 6, 7):
                for A, y_a, B, y_b in scaled_folds(X, y, split, first_only=True):
                    learner = CosineMetricLearner_Supervised(
                        alpha=alpha, scale=scale, random_state=0
                    ).fit(A, y_a)
                    scores.append(knn(learner.transform(A), y_a, learner.transform(B), y_b))
            rows.append({"alpha": alpha, "scale": scale, "accuracy": float(np.mean(scores))})
            print(rows[-1], flush=True)
    best = max(rows, key=lambda r: r["accuracy"])
    for row in rows:
        row["chosen"] = row is best
    return rows


def report_rows(X, y):
    from sklearn.metrics import roc_auc_score

    from mlearn import Constraints, CosineMetricLearner_Supervised

    scores = {k: [] for k in ("learned", "cosine", "euclidean", "auc_learned", "auc_cosine")}
    times = []
    for A, y_a, B, y_b in scaled_folds(X, y, 0):
        start = time.perf_counter()
        learner = CosineMetricLearner_Supervised(random_state=0).fit(A, y_a)
        times.append(time.perf_counter() - start)
        scores["learned"].append(knn(learner.transform(A), y_a, learner.transform(B), y_b))
        scores["cosine"].append(knn(A, y_a, B, y_b, metric="cosine"))
        scores["euclidean"].append(knn(A, y_a, B, y_b))
        idx, pair_y = Constraints(y_b).pairs(500, random_state=np.random.RandomState(0))
        pairs = B[idx]
        unit = pairs / np.linalg.norm(pairs, axis=2, keepdims=True)
        scores["auc_learned"].append(roc_auc_score(pair_y, learner.pair_score(pairs)))
        scores["auc_cosine"].append(roc_auc_score(pair_y, np.sum(unit[:, 0] * unit[:, 1], axis=1)))
    mean = {k: float(np.mean(v)) for k, v in scores.items()}
    return [
        {
            "method": "CosineMetricLearner_Supervised (defaults)",
            "3-NN accuracy": mean["learned"],
            "pair ROC AUC": mean["auc_learned"],
            "fit_s (median)": float(np.median(times)),
        },
        {
            "method": "cosine on the input",
            "3-NN accuracy": mean["cosine"],
            "pair ROC AUC": mean["auc_cosine"],
        },
        {"method": "Euclidean on the input", "3-NN accuracy": mean["euclidean"]},
    ]


def main():
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    X, y = load("digits")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        harness.write_results(
            "cosine_defaults",
            defaults_rows(X, y),
            title="CosineMetricLearner_Supervised: choice of alpha and scale on digits",
            notes=(
                "Held-out cosine 3-NN accuracy, first fold of stratified 5-fold CV, "
                "shuffles 5-7, standardised digits; the best mean is the default."
            ),
        )
        harness.write_results(
            "cosine",
            report_rows(X, y),
            title="CosineMetricLearner_Supervised on digits",
            notes=(
                "5-fold stratified CV, shuffle 0, standardised digits, default "
                "parameters; pair ROC AUC on 500 similar + 500 dissimilar pairs drawn "
                "from each test fold's labels. One BLAS thread."
            ),
        )


if __name__ == "__main__":
    main()
