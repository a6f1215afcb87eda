"""OASIS: the update kernel's speed, MAP@R against the dot product, and the defaults' choice.

Three tables, in ``results/``:

- ``oasis_speed``: the Numba kernel against the plain-NumPy loop of the same
  updates (``oasis_updates_reference``, the tests' oracle), on the same
  triplets in the same order, both on one thread; median of 7 interleaved
  runs (``harness.time_interleaved``). Target: at least 20x.
- ``oasis_quality``: 5-fold stratified CV (shuffled, ``random_state=0``),
  default parameters (``random_state=0``); on each fold a StandardScaler and
  OASIS_Supervised are fitted on the training part and MAP@R is computed on
  the test part (leave-one-out within it) with ``metric='bilinear'`` and the
  learned W, against the dot product (W = I) on the same scaled points.
  Data: digits; LBP histograms of the texture patches
  (``load_textures(patch_size=16, n_patches_per_image=100)``,
  ``LocalBinaryPattern(scales=[(8, 1), (16, 2), (24, 3)])``, 54 bins); and
  a sparse CSR set of 4,096 features, 1 % non-zero, whose classes a hidden
  bilinear W defines (:func:`make_sparse_bilinear_classes`; not scaled, a
  StandardScaler would densify it; the test folds are densified to be
  searched, the training folds never are).
- ``oasis_tuning``: how the defaults were chosen. On one stratified 50/50
  split of digits and of the textures drawn with ``random_state=2026`` (not
  the folds above), every ``c`` in {1e-4, 1e-3, 0.01, 0.1} and ``n_iter``
  in {10000, 50000, 100000} is scored by its MAP@R gain over the dot product on
  the held-out half; the defaults are the pair with the best mean relative
  gain over the two data sets, ties (within 0.002) going to fewer updates.

    python benchmarks/bench_oasis.py [--skip-speed] [--skip-quality] [--skip-tuning]
"""

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

# one thread when run as a script (a test importing a helper from here keeps
# its own settings); set before NumPy loads
import harness

if __name__ == "__main__":
    harness.one_thread_for_this_script()

import numpy as np
import scipy.sparse as sp

SPEED_TARGET = 20.0
C_GRID = (1e-4, 1e-3, 1e-2, 0.1)
N_ITER_GRID = (10000, 50000, 100000)


def make_sparse_bilinear_classes(
    n_samples=2000,
    n_features=4096,
    n_classes=10,
    *,
    vocabulary=300,
    density=0.01,
    class_share=0.5,
    random_state=0,
):
    """Sparse non-negative rows whose classes a hidden bilinear similarity defines.

    Each class owns a disjoint vocabulary of ``vocabulary`` features; the
    remaining features are noise, shared by all classes. A row has
    ``round(density * n_features)`` non-zeros (uniform in [0.5, 1.5]): a
    ``class_share`` of them drawn from its class's vocabulary, the rest from
    the noise features. The hidden similarity is ``s*(x, y) = xᵀ W* y`` with
    ``W* = Σ_c 1_{V_c} 1_{V_c}ᵀ`` (one block of ones per vocabulary): it is
    positive for every pair of one class and zero for every other pair, so
    the classes are exactly those of ``W*`` (a well-posed task). The dot
    product sees a class only where two rows happen to share a feature of
    their vocabulary (about ``nnz² class_share² / vocabulary`` of them).

    Returns
    -------
    X : scipy.sparse.csr_matrix of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
    W_true : scipy.sparse.csr_matrix of shape (n_features, n_features)
    """
    rng = np.random.RandomState(random_state)
    nnz = round(density * n_features)
    n_class = round(class_share * nnz)
    features = rng.permutation(n_features)
    vocabularies = features[: n_classes * vocabulary].reshape(n_classes, vocabulary)
    noise = features[n_classes * vocabulary :]
    y = rng.randint(n_classes, size=n_samples)
    columns = np.empty((n_samples, nnz), dtype=np.int64)
    for i, label in enumerate(y):
        columns[i, :n_class] = rng.choice(vocabularies[label], n_class, replace=False)
        columns[i, n_class:] = rng.choice(noise, nnz - n_class, replace=False)
    rows = np.repeat(np.arange(n_samples), nnz)
    values = rng.uniform(0.5, 1.5, size=n_samples * nnz)
    X = sp.csr_matrix((values, (rows, columns.ravel())), shape=(n_samples, n_features))
    block_rows = np.repeat(vocabularies, vocabulary, axis=1).ravel()
    block_cols = np.tile(vocabularies, (1, vocabulary)).ravel()
    W_true = sp.csr_matrix(
        (np.ones(len(block_rows)), (block_rows, block_cols)), shape=(n_features, n_features)
    )
    return X, y, W_true


def texture_features(random_state=0):
    """LBP histograms of 300 texture patches (3 classes) and their labels."""
    from mlearn.datasets import load_textures
    from mlearn.features import LocalBinaryPattern

    images, y = load_textures(
        patch_size=16, n_patches_per_image=100, random_state=random_state, return_X_y=True
    )
    X = LocalBinaryPattern(scales=[(8, 1), (16, 2), (24, 3)]).fit_transform(images)
    return np.asarray(X, dtype=np.float64), y


def _digits():
    from sklearn.datasets import load_digits

    return load_digits(return_X_y=True)


DATASETS = {"digits": _digits, "textures LBP": texture_features}


def map_at_r(X, y, W):
    from mlearn.metrics import mean_average_precision_at_r

    return mean_average_precision_at_r(X, y, metric="bilinear", M=W)


def _fit_score(X_train, y_train, X_test, y_test, scale=True, **params):
    from sklearn.preprocessing import StandardScaler

    from mlearn import OASIS_Supervised

    if scale:
        scaler = StandardScaler().fit(X_train)
        X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    start = time.perf_counter()
    oasis = OASIS_Supervised(random_state=0, **params).fit(X_train, y_train)
    fit_time = time.perf_counter() - start
    if sp.issparse(X_test):
        X_test = X_test.toarray()
    eye = np.eye(X_test.shape[1])
    return map_at_r(X_test, y_test, oasis.components_), map_at_r(X_test, y_test, eye), fit_time


# -- speed ----------------------------------------------------------------------


def speed_rows(repeat=7):
    import harness
    from sklearn.preprocessing import StandardScaler

    from mlearn.constraints import Constraints
    from mlearn.learners._oasis_kernels import (
        oasis_updates_dense,
        oasis_updates_reference,
    )
    from mlearn.learners.oasis import update_order

    rows = []
    X_digits, y_digits = _digits()
    X_texture, y_texture = texture_features()
    cases = [
        ("digits (64 features, dense)", StandardScaler().fit_transform(X_digits), y_digits),
        (
            "textures LBP (54 features, dense)",
            StandardScaler().fit_transform(X_texture),
            y_texture,
        ),
    ]
    n_updates = 20000
    for case, X, y in cases:
        triplets = Constraints(y).triplets(n_updates, random_state=0)
        order = update_order(len(triplets), n_updates, 0)
        d = X.shape[1]
        X = np.ascontiguousarray(X)
        scratch = (np.empty(d), np.empty(d))

        def kernel(X=X, triplets=triplets, order=order, scratch=scratch):
            W = np.eye(X.shape[1])
            oasis_updates_dense(X, triplets, order, W, 0.1, *scratch)
            return W

        def reference(X=X, triplets=triplets, order=order):
            return oasis_updates_reference(X, triplets, order, np.eye(X.shape[1]), 0.1)

        W_kernel, W_reference = kernel(), reference()
        agree = float(np.max(np.abs(W_kernel - W_reference)) / np.max(np.abs(W_reference)))
        t_kernel, t_reference, _, _ = harness.time_interleaved(kernel, reference, repeat=repeat)
        ratio = t_reference / t_kernel
        rows.append(
            {
                "case": f"{case}, {n_updates} updates",
                "numba (ms)": 1e3 * t_kernel,
                "numpy loop (ms)": 1e3 * t_reference,
                "ratio": ratio,
                "max relative difference of W": agree,
                "target": f">= {SPEED_TARGET:g}x",
                "met": bool(ratio >= SPEED_TARGET),
            }
        )
    return rows


# -- quality --------------------------------------------------------------------


def quality_rows():
    from sklearn.model_selection import StratifiedKFold

    rows = []
    data = {name: load() for name, load in DATASETS.items()}
    X_sparse, y_sparse, _ = make_sparse_bilinear_classes()
    data["sparse CSR (4096 features, 1 % non-zero)"] = (X_sparse, y_sparse)
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    for name, (X, y) in data.items():
        learned, dot, times = [], [], []
        for train, test in cv.split(np.zeros(len(y)), y):
            m, d, t = _fit_score(X[train], y[train], X[test], y[test], scale=not sp.issparse(X))
            learned.append(m)
            dot.append(d)
            times.append(t)
        rows.append(
            {
                "data": name,
                "OASIS_Supervised MAP@R": _mean_std(learned),
                "dot product MAP@R": _mean_std(dot),
                "fit time (s)": float(np.mean(times)),
                "above the dot product": bool(np.mean(learned) > np.mean(dot)),
            }
        )
        print(rows[-1], flush=True)
    return rows


def _mean_std(values):
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


# -- tuning ---------------------------------------------------------------------


def tuning_rows():
    from sklearn.model_selection import train_test_split

    rows = []
    splits = {}
    for name, load in DATASETS.items():
        X, y = load()
        splits[name] = train_test_split(X, y, test_size=0.5, stratify=y, random_state=2026)
    for c in C_GRID:
        for n_iter in N_ITER_GRID:
            row = {"c": c, "n_iter": n_iter}
            gains = []
            for name, (X_train, X_test, y_train, y_test) in splits.items():
                m, d, _ = _fit_score(X_train, y_train, X_test, y_test, c=c, n_iter=n_iter)
                row[f"{name} MAP@R"] = m
                row[f"{name} dot"] = d
                gains.append(m / d - 1)
            row["mean relative gain"] = float(np.mean(gains))
            rows.append(row)
            print(row, flush=True)
    best = max(r["mean relative gain"] for r in rows)
    chosen = min(
        (r for r in rows if r["mean relative gain"] >= best - 0.002),
        key=lambda r: (r["n_iter"], -r["mean relative gain"]),
    )
    for r in rows:
        r["chosen"] = r is chosen
    return rows


def main(argv=None):
    import harness

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-tuning", action="store_true")
    args = parser.parse_args(argv)
    if not args.skip_speed:
        rows = speed_rows()
        harness.write_results(
            "oasis_speed",
            rows,
            title="OASIS update kernel: Numba against the NumPy loop",
            notes="Same triplets, same order, W from the identity, c=0.1; one thread; "
            "median of 7 interleaved runs.",
        )
        print(harness.markdown_table(rows, title="speed"))
    if not args.skip_tuning:
        rows = tuning_rows()
        harness.write_results(
            "oasis_tuning",
            rows,
            title="OASIS_Supervised defaults: held-out MAP@R",
            notes="One stratified 50/50 split per data set (random_state=2026), "
            "StandardScaler; gain = MAP@R / dot-product MAP@R - 1.",
        )
    if not args.skip_quality:
        rows = quality_rows()
        harness.write_results(
            "oasis_quality",
            rows,
            title="OASIS_Supervised MAP@R against the dot product",
            notes="5-fold stratified CV (random_state=0), StandardScaler (dense data), "
            "default parameters, random_state=0; MAP@R leave-one-out within each "
            "test fold; mean ± std over folds.",
        )
        print(harness.markdown_table(rows, title="quality"))


if __name__ == "__main__":
    main()
