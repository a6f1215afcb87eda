"""Progress of long loops: a tqdm bar on a terminal, plain lines anywhere else.

One context manager serves every loop that reports progress (the demo's
table, :class:`~mlearn.features.DeepEmbedding`'s batches; a solver's
iterations or a chunked neighbour search take it the same way)::

    with progress(total=len(chunks), desc="kneighbors", enabled=verbose) as bar:
        for chunk in chunks:
            ...
            bar.update(1, rows=stop)

* When tqdm is installed and the stream (stderr unless ``file`` is given)
  is a terminal, ``bar`` drives a tqdm bar; the keywords of ``update``
  become its postfix. tqdm is optional: mlearn does not depend on it.
* Otherwise each update may write one line, ``desc: 3/17 (2.1 s) key=value``,
  at most one every ``min_interval`` seconds; the first update and the
  last (when the count reaches ``total``) always write theirs, and closing
  writes the final count if it has not been written. Logs and captured
  output stay short and free of carriage returns.
* With ``enabled=False`` nothing is written and the loop's code stays the
  same.

>>> import io
>>> from mlearn._progress import progress
>>> out = io.StringIO()  # not a terminal: plain lines
>>> with progress(3, "fit", file=out, min_interval=0) as bar:
...     for step in range(3):
...         bar.update(1, loss=1.0 / (step + 1))
>>> print(out.getvalue(), end="")  # doctest: +ELLIPSIS
fit: 1/3 (...) loss=1
fit: 2/3 (...) loss=0.5
fit: 3/3 (...) loss=0.3333
"""

import contextlib
import sys
import time

__all__ = ["progress"]


@contextlib.contextmanager
def progress(total, desc, enabled=True, *, file=None, min_interval=1.0):
    """Report the progress of a loop; yields an object with ``update(n=1, **postfix)``.

    Parameters
    ----------
    total : int or None
        Number of steps, or None when not known in advance.
    desc : str
        What is being done, shown before the count.
    enabled : bool, default=True
        False writes nothing (for a ``verbose`` switch).
    file : file-like, default=None
        Where to write; None means ``sys.stderr`` at the time of the call.
    min_interval : float, default=1.0
        Least number of seconds between two plain lines (tqdm keeps its own
        refresh rate).

    Yields
    ------
    bar : object
        ``bar.update(n=1, **postfix)`` advances the count by ``n`` and shows
        the keywords (numbers are written with 4 significant digits).
    """
    stream = sys.stderr if file is None else file
    if not enabled or stream is None:  # pythonw and some services have no stderr
        bar = _Silent()
    else:
        bar = _tqdm_bar(total, desc, stream) or _Lines(total, desc, stream, min_interval)
    try:
        yield bar
    finally:
        bar.close()


def _tqdm_bar(total, desc, stream):
    """A tqdm bar on ``stream`` when it is a terminal and tqdm is installed, else None."""
    isatty = getattr(stream, "isatty", None)
    if isatty is None or not isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return _Tqdm(tqdm(total=total, desc=desc, file=stream, leave=False))


class _Silent:
    def update(self, n=1, **postfix):
        pass

    def close(self):
        pass


class _Tqdm:
    def __init__(self, bar):
        self._bar = bar

    def update(self, n=1, **postfix):
        if postfix:
            self._bar.set_postfix({k: _format(v) for k, v in postfix.items()}, refresh=False)
        self._bar.update(n)

    def close(self):
        self._bar.close()


class _Lines:
    def __init__(self, total, desc, stream, min_interval):
        self._total = total
        self._desc = desc
        self._stream = stream
        self._min_interval = min_interval
        self._start = time.perf_counter()
        self._count = 0
        self._postfix = {}
        self._last_line = None  # perf_counter of the last line written
        self._written = 0  # the count that line showed

    def update(self, n=1, **postfix):
        self._count += n
        self._postfix.update(postfix)
        now = time.perf_counter()
        if (
            self._last_line is None
            or self._count == self._total
            or now - self._last_line >= self._min_interval
        ):
            self._write(now)

    def close(self):
        if self._last_line is not None and self._written != self._count:
            self._write(time.perf_counter())

    def _write(self, now):
        count = self._count if self._total is None else f"{self._count}/{self._total}"
        extra = "".join(f" {k}={_format(v)}" for k, v in self._postfix.items())
        print(
            f"{self._desc}: {count} ({now - self._start:.1f} s){extra}",
            file=self._stream,
            flush=True,
        )
        self._last_line, self._written = now, self._count


def _format(value):
    return f"{value:.4g}" if isinstance(value, float) else str(value)
