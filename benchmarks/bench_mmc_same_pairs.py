"""MMC against metric-learn 0.7's MMC on the same pairs: accuracy and objective.

Run: ``python benchmarks/bench_mmc_same_pairs.py [--datasets iris,wine]``.

``bench_weakly.py`` compares the ``_Supervised`` forms, each drawing its own
pairs. Here both libraries fit their pairs learner (``MMC``, full and
``diagonal=True``) on identical pairs: for each of the protocol's five folds
(stratified, random_state=0, StandardScaler fitted on the training part), the
positive/negative pairs that ``MMC_Supervised`` draws by default
(``20 * n_classes**2`` of each kind, random_state=0). Each row gives, over
the five folds:

- the 3-NN accuracy on the fold's test part under each learned metric;
- how many learned matrices are a multiple of the identity (the Euclidean
  metric up to scale);
- full version: MMC's criterion, ``sum_D d_M / sqrt(sum_S d_M^2)`` (what it
  maximises, free of scale), relative to the identity's;
- diagonal version: the gap between the diagonal objective
  ``s.w - log(sum_D sqrt(q.w))`` at the learned weights (at their best scale)
  and its minimum over ``w >= 0``, found independently by L-BFGS-B.
"""

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import run_reference, write_results  # noqa: E402
from protocol import DATASETS, load  # noqa: E402

HERE = Path(__file__).resolve().parent


def folds(dataset):
    """Training/test data and pairs of the protocol's five folds."""
    from sklearn.model_selection import StratifiedKFold
    from sklearn.preprocessing import StandardScaler

    import mlearn

    X, y = load(dataset)
    n = 20 * len(np.unique(y)) ** 2
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    for train, test in cv.split(X, y):
        scaler = StandardScaler().fit(X[train])
        X_tr, X_te = scaler.transform(X[train]), scaler.transform(X[test])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a, b, c, d = mlearn.Constraints(y[train]).positive_negative_pairs(n, random_state=0)
        pairs = np.concatenate(
            [np.stack([X_tr[a], X_tr[b]], axis=1), np.stack([X_tr[c], X_tr[d]], axis=1)]
        )
        labels = np.r_[np.ones(len(a)), -np.ones(len(c))]
        yield X_tr, y[train], X_te, y[test], pairs, labels


def knn_accuracy(M, X_tr, y_tr, X_te, y_te):
    from sklearn.neighbors import KNeighborsClassifier

    from mlearn.linalg import components_from_metric

    L = components_from_metric(M, check_psd=False)
    knn = KNeighborsClassifier(n_neighbors=3).fit(X_tr @ L.T, y_tr)
    return float(knn.score(X_te @ L.T, y_te))


def is_identity_multiple(M):
    d = M.shape[0]
    trace = np.trace(M)
    return bool(trace > 0 and np.linalg.norm(M * (d / trace) - np.eye(d)) <= 1e-9 * np.sqrt(d))


def criterion(M, pairs, labels):
    """``sum_D d_M / sqrt(sum_S d_M^2)``: MMC's objective, free of scale."""
    diffs = pairs[:, 0] - pairs[:, 1]
    sq = np.maximum(np.einsum("ij,jk,ik->i", diffs, M, diffs), 0.0)
    return float(np.sqrt(sq[labels == -1]).sum() / np.sqrt(sq[labels == 1].sum()))


def diagonal_objective_gap(M, pairs, labels):
    """Diagonal objective at ``diag(M)`` (best scale) minus its bounded minimum."""
    from scipy.optimize import minimize

    diffs = pairs[:, 0] - pairs[:, 1]
    s = np.sum(diffs[labels == 1] ** 2, axis=0)
    Q = diffs[labels == -1] ** 2

    def f(w):
        dist = np.sqrt(np.maximum(Q @ w, 1e-300))
        return s @ w - np.log(dist.sum()), s - Q.T @ (0.5 / dist) / dist.sum()

    def at_best_scale(w):
        return f(w / (2 * (s @ w)))[0]

    w0 = np.ones(len(s)) / (2 * s.sum())
    res = minimize(
        f,
        w0,
        jac=True,
        method="L-BFGS-B",
        bounds=[(0, None)] * len(s),
        options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10000},
    )
    return at_best_scale(np.diag(M)), float(res.fun)


def run(datasets):
    import mlearn

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for dataset in datasets:
            data = list(folds(dataset))
            files = []
            for k, (_, _, _, _, pairs, labels) in enumerate(data):
                path = Path(tmp) / f"{dataset}_{k}.npz"
                np.savez(path, pairs=pairs, labels=labels)
                files.append(str(path))
            for diagonal in (False, True):
                reference = run_reference(
                    HERE / "reference_mmc_same_pairs.py", {"files": files, "diagonal": diagonal}
                )
                ours, ours_s = [], []
                for _, _, _, _, pairs, labels in data:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        start = time.perf_counter()
                        learner = mlearn.MMC(diagonal=diagonal, random_state=0).fit(pairs, labels)
                        ours_s.append(time.perf_counter() - start)
                    ours.append(learner.get_mahalanobis_matrix())
                theirs = [np.array(r["M"]) for r in reference]
                row = {"dataset": dataset, "version": "diagonal" if diagonal else "full"}
                for side, Ms in (("mlearn", ours), ("metric_learn", theirs)):
                    row[f"{side}_accuracy"] = float(
                        np.mean(
                            [
                                knn_accuracy(M, X_tr, y_tr, X_te, y_te)
                                for M, (X_tr, y_tr, X_te, y_te, _, _) in zip(Ms, data)
                            ]
                        )
                    )
                    row[f"{side}_identity_folds"] = sum(is_identity_multiple(M) for M in Ms)
                    if diagonal:
                        gaps = []
                        for M, (*_, pairs, labels) in zip(Ms, data):
                            value, optimum = diagonal_objective_gap(M, pairs, labels)
                            gaps.append(value - optimum)
                        row[f"{side}_objective_gap"] = float(np.max(gaps))
                    else:
                        row[f"{side}_criterion_vs_identity"] = float(
                            np.mean(
                                [
                                    criterion(M, pairs, labels)
                                    / criterion(np.eye(M.shape[0]), pairs, labels)
                                    for M, (*_, pairs, labels) in zip(Ms, data)
                                ]
                            )
                        )
                row["mlearn_fit_s"] = float(np.median(ours_s))
                row["metric_learn_fit_s"] = float(np.median([r["fit_s"] for r in reference]))
                rows.append(row)
                print(row, flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    args = parser.parse_args(argv)
    rows = run(args.datasets.split(","))
    write_results(
        "mmc_same_pairs",
        rows,
        title="MMC vs metric-learn 0.7's MMC fitted on the same pairs",
        notes=(
            "Five folds (stratified, random_state=0, StandardScaler on the training part); "
            "both libraries fit MMC (random_state=0, other parameters default) on the same "
            "20 * n_classes**2 similar and as many dissimilar pairs per fold. accuracy: mean "
            "3-NN accuracy on the test parts. identity_folds: learned matrices that are a "
            "multiple of the identity. criterion_vs_identity (full): mean over folds of "
            "sum_D d / sqrt(sum_S d^2) relative to the identity's (MMC maximises it). "
            "objective_gap (diagonal): largest over folds of the diagonal objective at the "
            "learned weights (best scale) minus its minimum over w >= 0 found by L-BFGS-B "
            "(negative: below L-BFGS-B's minimum). fit_s: median over folds."
        ),
        columns=[
            "dataset",
            "version",
            "mlearn_accuracy",
            "metric_learn_accuracy",
            "mlearn_identity_folds",
            "metric_learn_identity_folds",
            "mlearn_criterion_vs_identity",
            "metric_learn_criterion_vs_identity",
            "mlearn_objective_gap",
            "metric_learn_objective_gap",
            "mlearn_fit_s",
            "metric_learn_fit_s",
        ],
    )


if __name__ == "__main__":
    main()
