"""mlearn.pairwise on a GPU: the CuPy backend against the Numba backend.

Prepared for a machine with CUDA and CuPy; run from the repository root:

    python -m pytest tests/pairwise -m gpu -q
    python benchmarks/bench_pairwise_gpu.py [--out DIR]

It times, in one run and with the median of 5 repeats each side,
- mahalanobis (L) n = m = 20000, d = 128, float64 and float32;
- manhattan, chebyshev, minkowski p=3, chi2 at n = m = 5000, d = 64;
- kneighbors k=10 on 20000 x 128 (euclidean and mahalanobis), and on
  200000 x 128 (the Numba side there runs 2000 of the queries, with an
  eleventh neighbour for the query itself, and its time is scaled by 100,
  which the row says);
- at 20000 x 128, the GPU's k smallest per row from the group minima's bound
  (``_xp.smallest_k``) against sorting whole rows.
GPU timings synchronise the device before the clock stops; transfers are not
included (inputs already on the device, results left there). Each row is
printed as soon as it is measured.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import environment, time_call, write_results  # noqa: E402

from mlearn.pairwise import (  # noqa: E402
    _xp,  # noqa: E402
    kneighbors,
    pairwise_distances,
)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--out", default=None, help="also write the JSON and markdown results here"
    )
    args = parser.parse_args(argv)

    import cupy

    def gpu(func, *a, **kw):
        def run():
            result = func(*a, **kw)
            cupy.cuda.Device().synchronize()
            return result

        return run

    rng = np.random.default_rng(0)
    rows = []

    def add(row):
        rows.append(row)
        print(row, flush=True)

    for dtype in (np.float64, np.float32):
        X = rng.standard_normal((20000, 128)).astype(dtype)
        Y = rng.standard_normal((20000, 128)).astype(dtype)
        L = (rng.standard_normal((128, 128)) / np.sqrt(128)).astype(dtype)
        Xg, Yg = cupy.asarray(X), cupy.asarray(Y)
        t_gpu, _, _ = time_call(gpu(pairwise_distances, Xg, Yg, "mahalanobis", L=L))
        XLg, YLg = Xg @ cupy.asarray(L).T, Yg @ cupy.asarray(L).T
        t_bound, _, _ = time_call(gpu(lambda: XLg @ YLg.T))
        t_cpu, _, _ = time_call(pairwise_distances, X, Y, "mahalanobis", L=L, backend="numba")
        add(
            {
                "case": f"mahalanobis 20000x20000 d=128 {np.dtype(dtype).name}",
                "cupy_s": t_gpu,
                "numba_s": t_cpu,
                "speedup": t_cpu / t_gpu,
                "cupy_over_bare_product": t_gpu / t_bound,
            }
        )

    X = rng.standard_normal((5000, 64))
    Y = rng.standard_normal((5000, 64))
    for name, params, A, B in [
        ("manhattan", {}, X, Y),
        ("chebyshev", {}, X, Y),
        ("minkowski", {"p": 3}, X, Y),
        ("chi2", {}, np.abs(X), np.abs(Y)),
    ]:
        Ag, Bg = cupy.asarray(A), cupy.asarray(B)
        t_gpu, _, Dg = time_call(gpu(pairwise_distances, Ag, Bg, name, **params))
        t_cpu, _, D = time_call(pairwise_distances, A, B, name, backend="numba", **params)
        err = float(np.max(np.abs(Dg.get() - D)) / np.max(np.abs(D)))
        add(
            {
                "case": f"{name} 5000x5000 d=64",
                "cupy_s": t_gpu,
                "numba_s": t_cpu,
                "speedup": t_cpu / t_gpu,
                "max_rel_diff": err,
            }
        )

    for n in (20000, 200000):
        X = rng.standard_normal((n, 128))
        Xg = cupy.asarray(X)
        t_gpu, _, (dg, ig) = time_call(gpu(kneighbors, Xg, n_neighbors=10))
        if n <= 20000:
            t_cpu, _, (d, i) = time_call(kneighbors, X, n_neighbors=10, backend="numba")
            note = f"indices equal: {bool((ig.get() == i).all())}"
        else:
            # the queries are among the points searched: an eleventh
            # neighbour stands for the query itself, which the GPU leaves out
            sub = 2000
            t_sub, _, (d, i) = time_call(kneighbors, X[:sub], X, n_neighbors=11, backend="numba")
            t_cpu = t_sub * n / sub
            same = bool((i[:, 0] == np.arange(sub)).all() and (ig[:sub].get() == i[:, 1:]).all())
            note = f"numba time scaled from {sub} queries; indices of those equal: {same}"
        add(
            {
                "case": f"kneighbors k=10 {n}x128",
                "cupy_s": t_gpu,
                "numba_s": t_cpu,
                "speedup": t_cpu / t_gpu,
                "note": note,
            }
        )
        if n == 20000:
            L = rng.standard_normal((128, 128)) / np.sqrt(128)
            t_gpu, _, (dg, ig) = time_call(
                gpu(kneighbors, Xg, n_neighbors=10, metric="mahalanobis", L=L)
            )
            t_cpu, _, (d, i) = time_call(
                kneighbors, X, n_neighbors=10, metric="mahalanobis", L=L, backend="numba"
            )
            add(
                {
                    "case": f"kneighbors mahalanobis k=10 {n}x128",
                    "cupy_s": t_gpu,
                    "numba_s": t_cpu,
                    "speedup": t_cpu / t_gpu,
                    "note": f"indices equal: {bool((ig.get() == i).all())}",
                }
            )
            group = _xp.TOPK_GROUP
            _xp.TOPK_GROUP = n  # one group per row: whole rows are sorted
            try:
                t_sort, _, (_, i_sort) = time_call(gpu(kneighbors, Xg, n_neighbors=10))
            finally:
                _xp.TOPK_GROUP = group
            t_groups, _, (_, i_groups) = time_call(gpu(kneighbors, Xg, n_neighbors=10))
            same = bool((i_sort.get() == i_groups.get()).all())
            add(
                {
                    "case": f"kneighbors k=10 {n}x128, GPU: whole-row sort / group minima",
                    "cupy_s": t_groups,
                    "sort_s": t_sort,
                    "speedup": t_sort / t_groups,
                    "note": f"indices equal: {same}",
                }
            )

    import numba

    device = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
    notes = (
        f"GPU: {device}, CuPy {cupy.__version__}; Numba on "
        f"{numba.get_num_threads()} threads. Median of 5 each side, "
        "measured in one run."
    )
    payload = write_results("pairwise_gpu", rows, title="mlearn.pairwise on the GPU", notes=notes)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "pairwise_gpu.json").write_text(
            json.dumps({**payload, "environment": environment()}, indent=2) + "\n"
        )
        (out / "pairwise_gpu.md").write_text(
            (Path(__file__).resolve().parent / "results" / "pairwise_gpu.md").read_text()
        )


if __name__ == "__main__":
    main()
