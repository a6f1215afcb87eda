"""Distance core on the CPU: mlearn.pairwise against its lower bound and peers.

Run: ``python benchmarks/bench_pairwise.py [--quick]``. Every ratio compares
two timings taken in this run (median of 5). ``--quick`` shrinks the sizes
for a smoke test; the recorded results use the full sizes of the issue.
"""

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import (  # noqa: E402
    peak_memory_of,
    time_call,
    time_interleaved,
    write_results,
)

from mlearn.pairwise import kneighbors, pairwise_distances  # noqa: E402


def _data(n, m, d, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    Y = rng.standard_normal((m, d))
    L = rng.standard_normal((d, d)) / np.sqrt(d)
    return X, Y, L


def mahalanobis_for_memory(n, d, working_memory):
    """Module-level so that ``peak_memory_of`` can run it in a child process."""
    X, Y, L = _data(n, n, d)
    D = pairwise_distances(X, Y, "mahalanobis", L=L, working_memory=working_memory)
    return D.nbytes


def bench_mahalanobis(n, d, n_scipy, rows):
    from scipy.spatial.distance import cdist

    X, Y, L = _data(n, n, d)
    pairwise_distances(X[:50], Y[:50], "mahalanobis", L=L)  # compile outside timing
    XL, YL = X @ L.T, Y @ L.T

    def bound():
        return XL @ YL.T

    t_bound, t_ours, bound_times, our_times = time_interleaved(
        bound, lambda: pairwise_distances(X, Y, "mahalanobis", L=L), repeat=7, warmup=0
    )
    rows.append(
        {
            "case": f"mahalanobis {n}x{n}, d={d}, float64: time / bare product XL @ YL.T",
            "mlearn_s": t_ours,
            "reference_s": t_bound,
            "ratio": t_ours / t_bound,
            "target": "<= 1.3",
            "met": t_ours / t_bound <= 1.3,
            "mlearn_times": [round(t, 3) for t in our_times],
            "reference_times": [round(t, 3) for t in bound_times],
        }
    )
    Xs, Ys = X[:n_scipy], Y[:n_scipy]
    M = L.T @ L
    t_scipy, _, _ = time_call(cdist, Xs, Ys, "mahalanobis", VI=M, warmup=0)
    t_small, _, _ = time_call(pairwise_distances, Xs, Ys, "mahalanobis", L=L)
    rows.append(
        {
            "case": f"mahalanobis {n_scipy}x{n_scipy}, d={d}: scipy cdist / mlearn",
            "mlearn_s": t_small,
            "reference_s": t_scipy,
            "ratio": t_scipy / t_small,
            "target": ">= 100",
            "met": t_scipy / t_small >= 100,
        }
    )


def bench_direct(n, d, rows):
    from scipy.spatial.distance import cdist
    from sklearn.metrics.pairwise import additive_chi2_kernel

    rng = np.random.default_rng(1)
    X = rng.standard_normal((n, d))
    Y = rng.standard_normal((n, d))
    H1, H2 = np.abs(X), np.abs(Y)
    cases = [
        ("manhattan", {}, X, Y, lambda: cdist(X, Y, "cityblock"), "scipy cdist"),
        ("chebyshev", {}, X, Y, lambda: cdist(X, Y, "chebyshev"), "scipy cdist"),
        ("minkowski", {"p": 3}, X, Y, lambda: cdist(X, Y, "minkowski", p=3), "scipy cdist"),
        # scipy has no chi2; scikit-learn's compiled additive_chi2_kernel is the peer
        ("chi2", {}, H1, H2, lambda: additive_chi2_kernel(H1, H2), "sklearn additive_chi2_kernel"),
    ]
    for name, params, A, B, reference, ref_name in cases:
        pairwise_distances(A[:20], B[:20], name, **params)
        R = reference()
        D = pairwise_distances(A, B, name, **params)
        t_ref, t_ours, _, _ = time_interleaved(
            reference, lambda: pairwise_distances(A, B, name, **params), warmup=0
        )
        scale = np.max(np.abs(R))
        err = float(np.max(np.abs(D - (-R if name == "chi2" else R))) / scale)
        rows.append(
            {
                "case": f"{name} {n}x{n}, d={d}: {ref_name} / mlearn",
                "mlearn_s": t_ours,
                "reference_s": t_ref,
                "ratio": t_ref / t_ours,
                "target": ">= 3",
                "met": t_ref / t_ours >= 3,
                "max_rel_err": err,
            }
        )


def bench_kneighbors(n, d, k, rows):
    from sklearn.neighbors import NearestNeighbors

    X, _, L = _data(n, 1, d)
    XL = X @ L.T
    kneighbors(X[:100], n_neighbors=k, metric="mahalanobis", L=L)

    def sklearn_brute():
        nn = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(XL)
        return nn.kneighbors()

    def ours():
        return kneighbors(X, n_neighbors=k, metric="mahalanobis", L=L)

    def ours_euclidean():
        return kneighbors(XL, n_neighbors=k)

    _, ref_i = sklearn_brute()
    _, ind = ours()
    t_ref, t_ours, _, _ = time_interleaved(sklearn_brute, ours, warmup=0)
    t_ref_euc, t_euc, _, _ = time_interleaved(sklearn_brute, ours_euclidean, warmup=0)
    agree = float(np.mean(ind == ref_i))
    rows.append(
        {
            "case": f"kneighbors k={k}, {n}x{d}, mahalanobis(L): mlearn / sklearn brute "
            "on X @ L.T",
            "mlearn_s": t_ours,
            "reference_s": t_ref,
            "ratio": t_ours / t_ref,
            "target": "<= 1.0",
            "met": t_ours / t_ref <= 1.0,
            "same_indices": agree,
        }
    )
    rows.append(
        {
            "case": f"kneighbors k={k}, {n}x{d}, euclidean on X @ L.T: mlearn / sklearn brute",
            "mlearn_s": t_euc,
            "reference_s": t_ref_euc,
            "ratio": t_euc / t_ref_euc,
            "target": "<= 1.0",
            "met": t_euc / t_ref_euc <= 1.0,
        }
    )


def bench_memory(n, d, rows):
    peak = peak_memory_of(mahalanobis_for_memory, n, d, 256)
    out_bytes = n * n * 8
    rows.append(
        {
            "case": f"peak memory, mahalanobis {n}x{n}, working_memory=256: peak / output",
            "mlearn_s": "",
            "reference_s": "",
            "ratio": peak / out_bytes,
            "target": "< 1.5",
            "met": peak / out_bytes < 1.5,
            "peak_MiB": peak / 2**20,
            "output_MiB": out_bytes / 2**20,
        }
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    parser.add_argument("--only", choices=["mahalanobis", "direct", "knn", "memory"])
    args = parser.parse_args(argv)
    big, direct, small = (2000, 1000, 200) if args.quick else (20000, 5000, 500)
    rows = []
    if args.only in (None, "mahalanobis"):
        bench_mahalanobis(big, 128, small, rows)
    if args.only in (None, "direct"):
        bench_direct(direct, 64, rows)
    if args.only in (None, "knn"):
        bench_kneighbors(big, 128, 10, rows)
    if args.only in (None, "memory"):
        bench_memory(big, 128, rows)
    for row in rows:
        print(row)
    name = "pairwise_quick" if args.quick else "pairwise"
    if args.only:
        name += f"_{args.only}"
    write_results(
        name,
        rows,
        title="mlearn.pairwise on the CPU",
        notes="Ratios are taken within one run (median of 5 each side, 7 for the "
        "mahalanobis bound, the two sides timed alternately), both sides using all cores "
        f"({os.cpu_count()}). scipy's cdist is single-threaded.",
    )


if __name__ == "__main__":
    main()
