"""The accuracy and fit-time protocol every learner benchmark shares.

5-fold stratified cross-validation (shuffled, ``random_state=0``); in each
fold a StandardScaler and the learner are fitted on the training part, then a
3-nearest-neighbour classifier on the transformed training points is scored on
the transformed test points. The same code runs in mlearn's environment and,
through ``reference_metric_learn.py``, in the reference environment that holds
metric-learn 0.7, so both sides are measured identically.

Only numpy and scikit-learn are imported here (the reference environment has
scikit-learn 1.5).
"""

import time

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
from sklearn.model_selection import StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

DATASETS = {
    "iris": load_iris,
    "wine": load_wine,
    "breast_cancer": load_breast_cancer,
    "digits": load_digits,
}


def _digits_varying(return_X_y=True):
    """digits without the three pixels that are constant over the whole set."""
    X, y = load_digits(return_X_y=True)
    return X[:, X.std(axis=0) > 0], y


#: Variants measured only where a reference fails on the original data set.
EXTRA_DATASETS = {"digits_varying": _digits_varying}


def load(name):
    loader = DATASETS.get(name) or EXTRA_DATASETS[name]
    X, y = loader(return_X_y=True)
    return X.astype(np.float64), y


def evaluate(
    make_learner,
    dataset,
    *,
    n_splits=5,
    n_neighbors=3,
    random_state=0,
    fit_args=None,
    skip_failed_folds=False,
):
    """Cross-validated k-NN accuracy on the learned metric, and fit times.

    Parameters
    ----------
    make_learner : callable or None
        Returns a fresh, unfitted transformer; None measures the Euclidean
        baseline (no learner).
    dataset : str
        A key of ``DATASETS``.
    fit_args : callable, optional
        ``fit_args(X_train, y_train) -> (args, kwargs)`` for learners whose
        fit does not take ``(X, y)``.
    skip_failed_folds : bool, default=False
        Record a fold whose fit or scoring raises in ``failed_folds`` and go
        on, instead of raising. The accuracy is then None (it would not be a
        5-fold figure); the fit times of the fits that finished are kept.

    Returns
    -------
    dict with ``accuracy`` (mean over folds), ``fold_accuracies``,
    ``fit_times`` (seconds, one per finished fit), ``median_fit_time`` and,
    with ``skip_failed_folds``, ``failed_folds`` (fold number and error).
    """
    X, y = load(dataset)
    cv = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    accuracies, fit_times, failed = [], [], []
    for fold, (train, test) in enumerate(cv.split(X, y)):
        try:
            accuracies.append(
                _fold(make_learner, fit_args, X, y, train, test, n_neighbors, fit_times)
            )
        except Exception as exc:
            if not skip_failed_folds:
                raise
            failed.append({"fold": fold, "error": f"{type(exc).__name__}: {exc}"[:200]})
    result = {
        "dataset": dataset,
        "accuracy": None if failed else float(np.mean(accuracies)),
        "fold_accuracies": accuracies,
        "fit_times": fit_times,
        "median_fit_time": float(np.median(fit_times)) if fit_times else None,
    }
    if skip_failed_folds:
        result["failed_folds"] = failed
    return result


def _fold(make_learner, fit_args, X, y, train, test, n_neighbors, fit_times):
    """3-NN accuracy of one fold; its fit time is appended to ``fit_times``."""
    scaler = StandardScaler().fit(X[train])
    X_train, X_test = scaler.transform(X[train]), scaler.transform(X[test])
    if make_learner is not None:
        learner = make_learner()
        args, kwargs = fit_args(X_train, y[train]) if fit_args else ((X_train, y[train]), {})
        start = time.perf_counter()
        learner.fit(*args, **kwargs)
        fit_times.append(time.perf_counter() - start)
        X_train, X_test = learner.transform(X_train), learner.transform(X_test)
    else:
        fit_times.append(0.0)
    knn = KNeighborsClassifier(n_neighbors=n_neighbors).fit(X_train, y[train])
    return float(knn.score(X_test, y[test]))
