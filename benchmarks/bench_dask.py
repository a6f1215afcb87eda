"""Scaling out: exact search and transforms of a gallery larger than each worker's memory.

The data: a gallery of 2,000,000 x 64 float32 points (488 MiB) written to an
uncompressed zarr store on disk, in chunks of 65,536 rows, and 20,000
queries in memory, drawn from one mixture: 10 classes apart in 16 of the
features, the other 48 noise three times as wide. The metric is learned by
``NCA`` on 4,000 labelled points of the same mixture; its ``components_``
is the ``L`` of the ``mahalanobis`` search.

The cluster: ``distributed.LocalCluster`` of 2 worker processes x 1 thread,
each with a memory limit below the gallery's size (``--memory-limit-mib``,
448 by default: a worker that has imported NumPy, SciPy, scikit-learn, Numba
and distributed and loaded the search's kernels already holds about
300 MiB, so a limit of 256 MiB cannot hold the runtime itself).
The search runs with ``working_memory=64`` (MiB a task).

1. ``kneighbors(queries, gallery, 10, metric='mahalanobis', L=L)`` with the
   gallery as a dask array read from the zarr store, against the same call
   on the gallery loaded into memory (one process, its two Numba threads),
   timed alternately, median of ``--repeat`` rounds. Checked: neighbours and
   distances equal to the bit; every worker's peak resident memory (VmHWM,
   reset before the rounds) under its limit; the same worker processes
   before and after (none restarted).
2. Transform throughput: the learner's ``transform`` of the whole gallery,
   lazily from the zarr store on the cluster and reduced by ``.sum()``,
   against NumPy's in-memory ``X @ L.T`` (two BLAS threads, the data
   already in memory); for context also the cluster reading the store alone
   (``.sum()``), mlearn's in-memory transform, the dask transform of the
   in-memory array under the threaded scheduler (2 threads), and the
   cluster's transform and read of the same data from a ``.npy`` file, by
   plain reads and memory-mapped by each task. Median of ``--repeat-transform``
   interleaved rounds; an
   in-memory call (which allocates a 488 MiB result) is timed right after an
   untimed one of its own, so that it is measured in steady state rather
   than paying the page faults of a fresh allocation.

Run: ``python benchmarks/bench_dask.py [--n-gallery N] [--repeat 3]``; results
in ``benchmarks/results/dask_search.md`` and ``dask_transform.md``. The
store is written once into ``--data-dir`` (default: the system's temporary
directory) and reused.
"""

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import harness  # noqa: E402
import numpy as np  # noqa: E402

N_FEATURES, N_INFORMATIVE, N_CLASSES = 64, 16, 10
CHUNK_ROWS, WRITE_ROWS = 65_536, 250_000
N_NEIGHBORS, N_TRAIN = 10, 4000
WORKING_MEMORY = 64
TARGET_ZARR = "dask transform on the cluster, from zarr, .sum()"


def mixture(n, seed):
    """``n`` points of the mixture and their classes, float32."""
    centres = np.random.RandomState(0).normal(scale=1.5, size=(N_CLASSES, N_INFORMATIVE))
    rng = np.random.default_rng(seed)
    y = rng.integers(N_CLASSES, size=n)
    X = rng.standard_normal((n, N_FEATURES), dtype=np.float32)
    X[:, N_INFORMATIVE:] *= 3
    X[:, :N_INFORMATIVE] += centres[y].astype(np.float32)
    return X, y.astype(np.int8)


def write_gallery(path, n):
    """The gallery and its classes as zarr arrays under ``path`` (written once)."""
    import zarr

    root = Path(path)
    done = root / f"gallery-{n}.done"
    if not done.exists():
        points = zarr.create_array(
            str(root / f"gallery-{n}.zarr"),
            shape=(n, N_FEATURES),
            chunks=(CHUNK_ROWS, N_FEATURES),
            dtype="float32",
            compressors=None,
            overwrite=True,
        )
        labels = zarr.create_array(
            str(root / f"labels-{n}.zarr"),
            shape=(n,),
            chunks=(CHUNK_ROWS,),
            dtype="int8",
            compressors=None,
            overwrite=True,
        )
        for start in range(0, n, WRITE_ROWS):
            X, y = mixture(min(WRITE_ROWS, n - start), seed=1 + start // WRITE_ROWS)
            points[start : start + len(X)] = X
            labels[start : start + len(y)] = y
        done.touch()
    return str(root / f"gallery-{n}.zarr"), str(root / f"labels-{n}.zarr")


def learn_metric():
    import mlearn

    X, y = mixture(N_TRAIN, seed=10_000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a ConvergenceWarning at max_iter is fine here
        return mlearn.NCA(max_iter=100, random_state=0).fit(X, y)


# -- worker memory ----------------------------------------------------------------------


def _vm(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def worker_rss():
    return _vm("VmRSS")


def worker_peak():
    return _vm("VmHWM")


def reset_worker_peak():
    """Reset VmHWM to the current RSS (Linux); False where the kernel refuses."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def vote(labels, neighbours):
    """Majority class of each row's neighbours (ties to the smaller class)."""
    votes = labels[neighbours]
    counts = np.stack([(votes == c).sum(axis=1) for c in range(N_CLASSES)], axis=1)
    return counts.argmax(axis=1)


def timed(func):
    start = time.perf_counter()
    result = func()
    return time.perf_counter() - start, result


# -- 1. the search ------------------------------------------------------------------------


def search(client, gallery_path, labels_path, learner, args):
    import dask
    import dask.array as da

    from mlearn.pairwise import kneighbors

    L = learner.components_.astype(np.float32)
    queries, query_y = mixture(args.n_queries, seed=20_000)
    gallery = da.from_zarr(gallery_path)

    def on_cluster():
        dist, ind = kneighbors(
            queries, gallery, N_NEIGHBORS, "mahalanobis", L=L, working_memory=WORKING_MEMORY
        )
        return dask.compute(dist, ind)

    in_memory_gallery = da.from_zarr(gallery_path).compute(scheduler="threads")

    def in_memory():
        return kneighbors(queries, in_memory_gallery, N_NEIGHBORS, "mahalanobis", L=L)

    # warm-up: Numba kernels loaded in every process, the store's pages cached
    kneighbors(queries[:64], in_memory_gallery, N_NEIGHBORS, "mahalanobis", L=L)
    dask.compute(
        *kneighbors(
            queries[:64], gallery, N_NEIGHBORS, "mahalanobis", L=L, working_memory=WORKING_MEMORY
        )
    )
    pids = client.run(os.getpid)
    idle = client.run(worker_rss)
    reset = all(client.run(reset_worker_peak).values())
    times_cluster, times_memory = [], []
    same = True
    for _ in range(args.repeat):
        t, (d_cluster, i_cluster) = timed(on_cluster)
        times_cluster.append(t)
        t, (d_memory, i_memory) = timed(in_memory)
        times_memory.append(t)
        same &= np.array_equal(i_cluster, i_memory) and np.array_equal(d_cluster, d_memory)
        del d_cluster, d_memory
    peaks = client.run(worker_peak)
    restarted = client.run(os.getpid) != pids
    labels = da.from_zarr(labels_path).compute()
    learned = float(np.mean(vote(labels, i_memory) == query_y))
    _, i_euclid = kneighbors(queries, in_memory_gallery, N_NEIGHBORS, "euclidean")
    euclidean = float(np.mean(vote(labels, i_euclid) == query_y))
    limit = args.memory_limit_mib
    row = {
        "task": (
            f"kneighbors {args.n_queries} x {gallery.shape[0]} x {N_FEATURES}, k={N_NEIGHBORS}"
        ),
        "dask_s": statistics.median(times_cluster),
        "in_memory_s": statistics.median(times_memory),
        "ratio": statistics.median(times_cluster) / statistics.median(times_memory),
        "target": "<= 1.5",
        "equal_bit_for_bit": bool(same),
        "worker_idle_MiB": round(max(idle.values()), 1),
        "worker_peak_MiB": round(max(peaks.values()), 1),
        "worker_limit_MiB": limit,
        "under_limit": bool(max(peaks.values()) < limit and reset),
        "workers_restarted": bool(restarted),
        f"{N_NEIGHBORS}-NN vote accuracy (learned / euclidean)": (
            f"{learned:.4f} / {euclidean:.4f}"
        ),
    }
    details = {
        "dask_times_s": times_cluster,
        "in_memory_times_s": times_memory,
        "worker_idle_MiB": idle,
        "worker_peak_MiB": peaks,
    }
    print(row, flush=True)
    return row, details


# -- 2. transform throughput --------------------------------------------------------------


class NpyRows:
    """Row blocks of a ``.npy`` file read with plain file reads (a memory map
    given to ``da.from_array`` would be pickled whole into the graph)."""

    def __init__(self, path):
        header = np.load(path, mmap_mode="r")
        self.path, self.shape, self.dtype = path, header.shape, header.dtype
        self.offset = header.offset
        self.ndim = 2

    def __getitem__(self, index):
        rows, columns = index
        start, stop, _ = rows.indices(self.shape[0])
        with open(self.path, "rb") as f:
            f.seek(self.offset + start * self.shape[1] * self.dtype.itemsize)
            block = np.fromfile(f, dtype=self.dtype, count=(stop - start) * self.shape[1])
        return block.reshape(stop - start, self.shape[1])[:, columns]


class NpyMapped(NpyRows):
    """Row blocks of a ``.npy`` file as views of a memory map opened by the
    task itself: no copy, and its pages leave the worker's memory with the
    block."""

    def __getitem__(self, index):
        return np.load(self.path, mmap_mode="r")[index]


def transform(client, gallery_path, learner, args):
    import dask.array as da
    from threadpoolctl import threadpool_limits

    gallery = da.from_zarr(gallery_path)
    X = gallery.compute(scheduler="threads")
    npy = gallery_path.replace(".zarr", ".npy")
    if not os.path.exists(npy):
        np.save(npy, X)
    from_npy = da.from_array(
        NpyRows(npy), chunks=(CHUNK_ROWS * 2, N_FEATURES), asarray=False, name="gallery-npy"
    )
    mapped = da.from_array(
        NpyMapped(npy),
        chunks=(CHUNK_ROWS * 2, N_FEATURES),
        asarray=False,
        name="gallery-npy-mapped",
    )
    L = learner.components_.astype(np.float32)
    nbytes = X.nbytes

    # named, so that dask does not hash the 488 MiB at every call
    X_dask = da.from_array(X, chunks=(CHUNK_ROWS * 2, N_FEATURES), name="gallery-in-memory")

    def threaded():
        return learner.transform(X_dask).sum().compute(scheduler="threads", num_workers=2)

    # (name, function, allocates): an in-memory call allocates a 488 MiB
    # result, whose first touch after other work costs page faults (up to 5x
    # the product); it is timed right after an untimed call, in steady state
    candidates = [
        ("NumPy X @ L.T (in memory)", lambda: X @ L.T, True),
        (TARGET_ZARR, lambda: learner.transform(gallery).sum().compute(), False),
        (
            "dask transform on the cluster, from .npy, .sum()",
            lambda: learner.transform(from_npy).sum().compute(),
            False,
        ),
        (
            "dask transform on the cluster, from .npy memory-mapped, .sum()",
            lambda: learner.transform(mapped).sum().compute(),
            False,
        ),
        (
            "dask read alone on the cluster, from zarr, .sum()",
            lambda: gallery.sum().compute(),
            False,
        ),
        (
            "dask read alone on the cluster, from .npy, .sum()",
            lambda: from_npy.sum().compute(),
            False,
        ),
        (
            "dask read alone on the cluster, from .npy memory-mapped, .sum()",
            lambda: mapped.sum().compute(),
            False,
        ),
        ("mlearn transform (in memory)", lambda: learner.transform(X), True),
        ("dask transform, threads, in-memory array, .sum()", threaded, False),
    ]
    times = {name: [] for name, _, _ in candidates}
    with threadpool_limits(2):
        for _, func, _ in candidates:  # warm-up
            func()
        for _ in range(args.repeat_transform):
            for name, func, allocates in candidates:
                if allocates:
                    func()
                t, result = timed(func)
                times[name].append(t)
                del result
    base = statistics.median(times["NumPy X @ L.T (in memory)"])
    rows = []
    for name, series in times.items():
        median = statistics.median(series)
        rows.append(
            {
                "task": f"transform {X.shape[0]} x {N_FEATURES}: {name}",
                "seconds": median,
                "GB/s": nbytes / median / 1e9,
                "throughput / NumPy": base / median,
                "target": ">= 0.7" if name == TARGET_ZARR else "",
            }
        )
        print(rows[-1], flush=True)
    return rows, times


def main():
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-gallery", type=int, default=2_000_000)
    parser.add_argument("--n-queries", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3, help="rounds of the search")
    parser.add_argument("--repeat-transform", type=int, default=5)
    parser.add_argument("--memory-limit-mib", type=int, default=448)
    parser.add_argument(
        "--data-dir", default=os.path.join(tempfile.gettempdir(), "mlearn-bench-dask")
    )
    parser.add_argument("--skip-search", action="store_true")
    parser.add_argument("--skip-transform", action="store_true")
    args = parser.parse_args()

    from distributed import Client, LocalCluster

    os.makedirs(args.data_dir, exist_ok=True)
    gallery_path, labels_path = write_gallery(args.data_dir, args.n_gallery)
    learner = learn_metric()
    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        memory_limit=f"{args.memory_limit_mib}MiB",
        dashboard_address=None,
    )
    setting = (
        f"Gallery {args.n_gallery:,} x {N_FEATURES} float32 "
        f"({args.n_gallery * N_FEATURES * 4 / 2**20:.0f} MiB) in an uncompressed zarr store "
        f"(chunks of {CHUNK_ROWS:,} rows); LocalCluster of 2 workers x 1 thread, memory "
        f"limit {args.memory_limit_mib} MiB each; learned metric: NCA on {N_TRAIN:,} "
        "labelled points."
    )
    with cluster, Client(cluster) as client:
        if not args.skip_search:
            row, details = search(client, gallery_path, labels_path, learner, args)
            write(
                "dask_search",
                [row],
                details,
                "Dask: exact k-NN search of a gallery on disk",
                setting + f" Search with working_memory={WORKING_MEMORY} MiB a task; median "
                f"of {args.repeat} alternated rounds. Peak = VmHWM of each worker process "
                "over the rounds (reset after the warm-up); idle = its RSS before them.",
            )
        if not args.skip_transform:
            rows, times = transform(client, gallery_path, learner, args)
            write(
                "dask_transform",
                rows,
                {"times_s": times},
                "Dask: transform throughput of a gallery on disk",
                setting + f" Median of {args.repeat_transform} interleaved rounds; an "
                "in-memory call is timed right after an untimed one (steady state). "
                "2 BLAS threads in the client process.",
            )


def write(name, rows, details, title, notes):
    import json

    payload = harness.write_results(name, rows, title=title, notes=notes)
    payload["details"] = details
    (harness.RESULTS_DIR / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
