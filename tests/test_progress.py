import io
import sys

import numpy as np
import pytest

from mlearn._progress import progress
from mlearn.features import DeepEmbedding


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self):
        return True


def test_plain_lines_off_a_terminal():
    out = io.StringIO()
    with progress(4, "fit", file=out, min_interval=0) as bar:
        for step in range(4):
            bar.update(1, loss=1.0 / (step + 1), step=step)
    lines = out.getvalue().splitlines()
    assert [line.split(" (")[0] for line in lines] == [f"fit: {k}/4" for k in range(1, 5)]
    assert lines[1].endswith(" loss=0.5 step=1") and lines[2].endswith(" loss=0.3333 step=2")
    assert "\r" not in out.getvalue()


def test_plain_lines_are_throttled_but_show_the_first_and_the_last():
    out = io.StringIO()
    with progress(1000, "kneighbors", file=out, min_interval=3600) as bar:
        for _ in range(1000):
            bar.update(1)
    lines = out.getvalue().splitlines()
    assert [line.split(" (")[0] for line in lines] == [
        "kneighbors: 1/1000",
        "kneighbors: 1000/1000",
    ]


def test_closing_writes_the_count_reached_and_unknown_totals():
    out = io.StringIO()
    with pytest.raises(RuntimeError), progress(None, "solver", file=out, min_interval=3600) as bar:
        for it in range(5):
            bar.update(1, iteration=it)
        raise RuntimeError("stop")
    lines = out.getvalue().splitlines()
    assert [line.split(" (")[0] for line in lines] == ["solver: 1", "solver: 5"]
    assert lines[-1].endswith("iteration=4")


def test_a_tqdm_bar_on_a_terminal(monkeypatch):
    tqdm = pytest.importorskip("tqdm")

    class EveryUpdate(tqdm.tqdm):  # drawn at each update, not every 0.1 s
        def __init__(self, *args, **kwargs):
            super().__init__(*args, mininterval=0, **kwargs)

    monkeypatch.setattr(tqdm, "tqdm", EveryUpdate)
    out = Terminal()
    with progress(3, "demo", file=out) as bar:
        for name in ("a", "b", "c"):
            bar.update(1, learner=name)
    text = out.getvalue()
    assert "\r" in text  # a bar redrawn in place, not lines
    assert "demo" in text and "3/3" in text and "learner=c" in text


def test_plain_lines_on_a_terminal_without_tqdm(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm raises ImportError
    out = Terminal()
    with progress(2, "demo", file=out, min_interval=0) as bar:
        bar.update(1)
        bar.update(1)
    assert [line.split(" (")[0] for line in out.getvalue().splitlines()] == [
        "demo: 1/2",
        "demo: 2/2",
    ]


def test_disabled_writes_nothing(capsys):
    out = Terminal()
    with progress(2, "demo", enabled=False, file=out) as bar:
        bar.update(1, loss=0.5)
    with progress(2, "demo", enabled=False) as bar:
        bar.update(2)
    assert out.getvalue() == ""
    assert capsys.readouterr().err == ""


def test_stderr_is_read_at_call_time(capsys):
    with progress(1, "late", min_interval=0) as bar:
        bar.update(1)
    assert capsys.readouterr().err.startswith("late: 1/1 (")


def test_deep_embedding_reports_its_batches(capsys):
    def model(batch):
        return np.asarray(batch)[:, :2] * 2.0

    X = np.arange(18.0).reshape(9, 2)
    emb = DeepEmbedding(model, batch_size=2, progress=True).fit(X)
    capsys.readouterr()
    np.testing.assert_array_equal(emb.transform(X), 2.0 * X)
    lines = capsys.readouterr().err.splitlines()
    # 5 batches; the first and the last are always reported
    assert lines[0].startswith("DeepEmbedding: 1/5 (") and lines[-1].startswith(
        "DeepEmbedding: 5/5 ("
    )
