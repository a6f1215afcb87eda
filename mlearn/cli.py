"""``python -m mlearn``: the demo and small command-line tools."""

import argparse
import inspect
import sys
import time
import warnings

import numpy as np
from sklearn import datasets
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from . import learners
from ._progress import progress
from .metrics import make_retrieval_scorer

__all__ = ["demo", "main"]

DEMO_DATASETS = ("iris", "wine", "breast_cancer", "digits")

# argparse prints this as it stands, so it is plain text, not reST
_DESCRIPTION = """\
mlearn command-line tools.

  python -m mlearn demo    compare every metric learner on a scikit-learn data set
                           (cross-validated 3-NN accuracy, MAP@R, precision@1, fit time)

Run "python -m mlearn demo --help" for the demo's options. The first run on a
machine compiles mlearn's Numba kernels (up to a minute); later runs load them
from Numba's cache."""


def _load(name):
    return getattr(datasets, f"load_{name}")(return_X_y=True)


def demo_learners():
    """The learners the demo compares: every public learner that fits on (X, y)
    and transforms points.

    Found from ``mlearn.learners.__all__``, so each new learner appears
    without being listed here. Learners on tuples are represented by their
    ``_Supervised`` forms. The demo's k-NN runs on the transformed points,
    so a similarity learner without a transform (``OASIS_Supervised``, whose
    bilinear similarity is no map of the points) is left out.
    """
    found = []
    for name in learners.__all__:
        cls = getattr(learners, name)
        points = inspect.isclass(cls) and getattr(cls, "_input_kind", None) == "points"
        if points and hasattr(cls, "transform"):
            found.append(cls)
    return found


def evaluate_learner(learner, X, y, *, cv=5, n_neighbors=3, random_state=0):
    """Cross-validated 3-NN accuracy, MAP@R, precision@1 and mean fit time.

    The retrieval scores are computed leave-one-out within each test fold.

    ``learner`` None is the Euclidean baseline. The scaler and learner are fitted
    inside each training fold (a Pipeline), so no test point leaks into them.
    """
    steps = [StandardScaler()] + ([learner] if learner is not None else [])
    pipe = make_pipeline(*steps, KNeighborsClassifier(n_neighbors))
    folds = StratifiedKFold(cv, shuffle=True, random_state=random_state)
    scoring = {
        "knn": "accuracy",
        "map_at_r": make_retrieval_scorer("map_at_r"),
        "p_at_1": make_retrieval_scorer("precision_at_1"),
    }
    result = cross_validate(pipe, X, y, cv=folds, scoring=scoring, error_score="raise")
    return {
        "accuracy": float(np.mean(result["test_knn"])),
        "map_at_r": float(np.mean(result["test_map_at_r"])),
        "precision_at_1": float(np.mean(result["test_p_at_1"])),
        "fit_time": float(np.mean(result["fit_time"])),
    }


def demo(dataset="wine", cv=5, out=None, images=True, verbose=True):
    """Print 3-NN accuracy, MAP@R, precision@1 and fit time for Euclidean and every learner.

    Parameters
    ----------
    dataset : {"iris", "wine", "breast_cancer", "digits"}, default="wine"
        The scikit-learn data set.
    cv : int, default=5
        Number of stratified folds.
    out : file-like, default=None
        Where the table goes; None means ``sys.stdout``.
    images : bool, default=True
        Also run the texture example (needs scikit-image).
    verbose : bool, default=True
        Report on stderr which learner has been evaluated, as each one
        finishes: a tqdm bar on a terminal (when tqdm is installed), a line
        per learner otherwise.

    Returns
    -------
    rows : list of dict
        One per learner: learner, accuracy, map_at_r, precision_at_1,
        fit_time, error.
    """
    out = out or sys.stdout
    X, y = _load(dataset)
    print(
        f"mlearn demo: {dataset} ({X.shape[0]} samples, {X.shape[1]} features, "
        f"{len(np.unique(y))} classes); {cv}-fold CV, StandardScaler -> learner -> 3-NN",
        file=out,
        flush=True,
    )
    candidates = [("Euclidean", None)] + [(c.__name__, c) for c in demo_learners()]
    rows = []
    with progress(len(candidates), "mlearn demo", enabled=verbose, min_interval=0) as bar:
        for name, cls in candidates:
            rows.append(_demo_row(name, cls, X, y, cv))
            bar.update(1, learner=name)
    _print_table(rows, out)
    if images:
        _texture_demo(out)
    return rows


def _demo_row(name, cls, X, y, cv):
    row = {"learner": name, "error": None}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            learner = cls() if cls is not None else None
            if learner is not None and "random_state" in learner.get_params():
                learner.set_params(random_state=0)
            row.update(evaluate_learner(learner, X, y, cv=cv))
    except Exception as exc:  # one failing learner must not hide the others
        row["error"] = f"{type(exc).__name__}: {exc}"
    return row


def _print_table(rows, out):
    width = max(len(r["learner"]) for r in rows)
    print(f"{'learner':<{width}}  3-NN accuracy  MAP@R  P@1    fit time (s)", file=out)
    print(f"{'-' * width}  -------------  -----  -----  ------------", file=out)
    for r in rows:
        if r["error"]:
            print(f"{r['learner']:<{width}}  failed: {r['error'][:60]}", file=out)
        else:
            print(
                f"{r['learner']:<{width}}  {r['accuracy']:13.3f}  {r['map_at_r']:5.3f}  "
                f"{r['precision_at_1']:5.3f}  {r['fit_time']:12.3f}",
                file=out,
            )


def _texture_demo(out):
    try:
        import skimage  # noqa: F401

        from ._demo_textures import texture_benchmark
    except ImportError:
        print("\n(texture example skipped: pip install 'mlearn-metric[images]')", file=out)
        return
    print(
        "\nTextures from scikit-image (brick, grass, gravel, ...): "
        "image features -> metric -> 3-NN",
        file=out,
    )
    start = time.perf_counter()
    rows = texture_benchmark()
    width = max(len(str(r.get("name", r.get("method", "")))) for r in rows)
    for r in rows:
        name = str(r.get("name", r.get("method", "")))
        print(f"{name:<{width}}  {r.get('accuracy', float('nan')):.3f}", file=out)
    print(f"({time.perf_counter() - start:.1f} s)", file=out)


def main(argv=None):
    """Run ``python -m mlearn`` with ``argv`` (None: the command line); returns 0."""
    parser = argparse.ArgumentParser(
        prog="mlearn",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_demo = sub.add_parser("demo", help="compare learners by cross-validated 3-NN accuracy")
    p_demo.add_argument("--dataset", choices=DEMO_DATASETS, default="wine")
    p_demo.add_argument("--cv", type=int, default=5, help="number of folds (default 5)")
    p_demo.add_argument("--no-images", action="store_true", help="skip the texture example")
    p_demo.add_argument(
        "--quiet", action="store_true", help="no progress report on stderr, only the table"
    )
    args = parser.parse_args(argv)
    if args.command == "demo":
        if args.cv < 2:
            parser.error("--cv must be at least 2")
        demo(args.dataset, cv=args.cv, images=not args.no_images, verbose=not args.quiet)
    return 0
