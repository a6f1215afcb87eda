"""A small timing harness shared by every benchmark script.

Each benchmark measures mlearn and its reference in the same run, takes the
median of at least five repeats, and writes its rows to
``benchmarks/results/<name>.json`` and ``benchmarks/results/<name>.md``.

A row is a plain dict; by convention it holds ``case`` (what was measured),
the median times in seconds of each side, ``ratio`` (reference time / mlearn
time unless the benchmark says otherwise), ``target`` and ``met``.
"""

import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"
REFERENCE_ENV = Path(__file__).resolve().parent / ".venv-reference"


def time_call(func, *args, repeat=5, warmup=1, **kwargs):
    """Median wall time of ``func(*args, **kwargs)`` over ``repeat`` runs.

    Returns ``(median_seconds, all_times, last_result)``. ``warmup`` calls run
    first and are not timed (compilation, caches).
    """
    if repeat < 5:
        raise ValueError(f"repeat must be at least 5 for a median, got {repeat}")
    result = None
    for _ in range(warmup):
        result = func(*args, **kwargs)
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = func(*args, **kwargs)
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, result


def time_interleaved(first, second, repeat=5, warmup=1):
    """Median wall times of two no-argument callables, timed alternately.

    On a shared machine the load drifts between runs; alternating the two
    calls exposes both to the same drift, so the ratio of their medians is
    steadier than that of two consecutive series. Returns
    ``(median_first, median_second, times_first, times_second)``.
    """
    if repeat < 5:
        raise ValueError(f"repeat must be at least 5 for a median, got {repeat}")
    for _ in range(warmup):
        first()
        second()
    times = ([], [])
    for _ in range(repeat):
        for func, series in zip((first, second), times):
            gc.collect()
            start = time.perf_counter()
            result = func()
            series.append(time.perf_counter() - start)
            del result
    return statistics.median(times[0]), statistics.median(times[1]), *times


def peak_memory_of(func, *args, setup=None, **kwargs):
    """Peak resident memory increase (bytes) of running ``func`` in a child process.

    ``func`` (and ``setup``) must be importable module-level functions. When
    ``setup`` is given, the child first calls ``setup()``, which returns the
    positional arguments for ``func`` (imports, data, compilation happen
    there), and only the call of ``func`` is measured: its peak RSS minus the
    RSS just before it.
    """
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_peak_child, args=(queue, func, args, kwargs, setup))
    proc.start()
    out = queue.get()
    proc.join()
    if isinstance(out, BaseException):
        raise out
    return out


def _peak_child(queue, func, args, kwargs, setup=None):
    try:
        if setup is not None:
            args = tuple(setup()) + tuple(args)
        gc.collect()
        reset = _reset_peak_rss()
        before = _current_rss()
        baseline_peak = _peak_rss()
        func(*args, **kwargs)
        peak = _peak_rss()
        if not reset:  # the lifetime peak may be the setup's: report only growth past it
            peak = max(peak, baseline_peak)
        queue.put(max(peak - before, 0))
    except BaseException as exc:  # sent back to the parent to re-raise
        queue.put(exc)


def _reset_peak_rss():
    """Reset the kernel's peak-RSS counter (Linux >= 4.0); False where it cannot."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_rss():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _current_rss():
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def environment():
    """What the numbers were measured on."""
    import numpy
    import scipy
    import sklearn

    info = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    try:
        import numba

        info["numba"] = numba.__version__
    except ImportError:
        pass
    return info


def write_results(name, rows, *, title=None, notes=None, columns=None):
    """Write rows to ``results/<name>.json`` and a markdown table ``results/<name>.md``."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    payload = {"name": name, "environment": environment(), "rows": rows}
    if notes:
        payload["notes"] = notes
    (RESULTS_DIR / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n")
    (RESULTS_DIR / f"{name}.md").write_text(
        markdown_table(rows, title=title or name, notes=notes, columns=columns)
    )
    return payload


def markdown_table(rows, *, title, notes=None, columns=None):
    """Rows as a markdown table; floats shown with four significant digits."""
    if not rows:
        return f"# {title}\n\n(no rows)\n"
    columns = columns or list(dict.fromkeys(k for row in rows for k in row))
    lines = [f"# {title}", ""]
    lines.append("| " + " | ".join(columns) + " |")
    lines.append("|" + "---|" * len(columns))
    for row in rows:
        lines.append("| " + " | ".join(_fmt(row.get(c, "")) for c in columns) + " |")
    if notes:
        lines += ["", notes]
    env = environment()
    lines += [
        "",
        "Measured on "
        + ", ".join(f"{k} {v}" for k, v in env.items() if k != "date")
        + f" ({env['date']}).",
    ]
    return "\n".join(lines) + "\n"


def _fmt(value):
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def one_thread_for_this_script(*, numba=True, force=False):
    """Pin BLAS/OpenMP (and Numba) to one thread through the environment.

    A benchmark calls it under ``if __name__ == "__main__":`` before it
    imports NumPy, so that the variables act when the libraries load, and so
    that a test importing a helper from the benchmark keeps its own thread
    settings. ``force`` overrides values already set.
    """
    for var in THREAD_VARIABLES + (("NUMBA_NUM_THREADS",) if numba else ()):
        if force:
            os.environ[var] = "1"
        else:
            os.environ.setdefault(var, "1")


def single_threaded_env():
    """Environment variables that pin BLAS/OpenMP/Numba to the same thread count.

    Both sides of a comparison should run with the same count; NOTES.md records
    that a busy second core makes two BLAS threads much slower on small matrices.
    """
    env = dict(os.environ)
    for var in THREAD_VARIABLES:
        env.setdefault(var, "1")
    return env


def pin_one_thread():
    """Run BLAS and Numba on one thread in this process (also a pool initializer)."""
    import numba
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    numba.set_num_threads(1)


def format_runs(values):
    """``'mean (v1 v2 ...)'``: a mean over splits followed by each split's value."""
    import numpy as np

    return f"{np.mean(values):.4f} ({' '.join(f'{v:.3f}' for v in values)})"


def ensure_reference_env(packages=("metric-learn==0.7.0", "scikit-learn==1.5.2")):
    """Create (once) the separate virtual environment holding the references.

    metric-learn 0.7 runs only with scikit-learn < 1.6, so it lives in
    ``benchmarks/.venv-reference`` and is never a dependency of mlearn.
    Returns the path of that environment's python.
    """
    python = REFERENCE_ENV / "bin" / "python"
    marker = REFERENCE_ENV / ".installed"
    wanted = " ".join(sorted(packages))
    if marker.exists() and marker.read_text() == wanted:
        return python
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(REFERENCE_ENV)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "numpy<2.3", *packages],
        check=True,
    )
    marker.write_text(wanted)
    return python


def cached_reference_runs(cache_path, requests, script, *, refresh=False):
    """Results of reference runs, cached in ``cache_path`` by learner and seed.

    ``requests`` holds ``(learner, seed, payload)`` triples; the ones not in
    the cache (all of them with ``refresh``) are run with
    ``run_reference(script, payload)`` on one thread and saved as each
    finishes; entries not requested are kept. Returns the cache,
    ``{learner: {str(seed): result}}``.
    """
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    env = single_threaded_env()
    for learner, seed, payload in requests:
        runs = cache.setdefault(learner, {})
        if str(seed) in runs and not refresh:
            continue
        print(f"running metric-learn {learner} ({seed}) ...", flush=True)
        runs[str(seed)] = run_reference(script, payload, env=env)
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        cache_path.write_text(json.dumps(cache, indent=2) + "\n")
    return cache


def run_reference(script, payload, *, timeout=3600, env=None):
    """Run ``script`` (a path) with the reference environment's python.

    ``payload`` is sent as JSON on standard input; the script must print one
    JSON document on standard output, which is returned.
    """
    python = ensure_reference_env()
    proc = subprocess.run(
        [str(python), str(script)],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"reference script {script} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
