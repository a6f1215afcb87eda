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


def load(name):
    X, y = DATASETS[name](return_X_y=True)
    return X.astype(np.float64), y


def evaluate(make_learner, dataset, *, n_splits=5, n_neighbors=3, random_state=0,
             fit_args=None):
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

    Returns
    -------
    dict with ``accuracy`` (mean over folds), ``fold_accuracies``,
    ``fit_times`` (seconds, one per fold) and ``median_fit_time``.
    """
    X, y = load(dataset)
    cv = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    accuracies, fit_times = [], []
    for train, test in cv.split(X, y):
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
        accuracies.append(float(knn.score(X_test, y[test])))
    return {
        "dataset": dataset,
        "accuracy": float(np.mean(accuracies)),
        "fold_accuracies": accuracies,
        "fit_times": fit_times,
        "median_fit_time": float(np.median(fit_times)),
    }
