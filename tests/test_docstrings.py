import importlib
import inspect
import pkgutil
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import mlearn
import mlearn.learners as learners_package
from mlearn import metrics
from mlearn._docstrings import fill_doc, format_doc
from mlearn.learners import _doc_pieces, general
from mlearn.learners._doc_pieces import PIECES, fill_pieces


def test_format_doc_indents_a_piece_like_its_placeholder():
    piece = """
        alpha : float
            Weight.

            A second paragraph.
    """
    template = "Parameters\n    ----------\n    {params}\n    beta : int"
    assert format_doc(template, params=piece) == (
        "Parameters\n    ----------\n    alpha : float\n        Weight.\n\n"
        "        A second paragraph.\n    beta : int"
    )
    # one piece, two depths: a method's docstring is indented 8
    assert format_doc("        {params}", params=piece).split("\n")[1] == "            Weight."


def test_format_doc_fills_only_the_fields_given():
    text = "{params} of {'a', 'b'}: {{x}} and {other} stay as written"
    assert format_doc(text, params="p") == "p of {'a', 'b'}: {{x}} and {other} stay as written"
    assert format_doc("{a}{a} {b}", a="1", b="2") == "11 2"


def test_format_doc_refuses_a_piece_without_placeholder():
    with pytest.raises(ValueError, match=r"no placeholder for \['parms'\]"):
        format_doc("{params}", params="p", parms="q")


def test_fill_doc_sets_the_docstring_and_keeps_none():
    @fill_doc(what="a class")
    class Documented:
        """This is {what}."""

    assert Documented.__doc__ == "This is a class."

    def bare():
        pass

    assert fill_doc(what="x")(bare) is bare and bare.__doc__ is None


def _documented_parameters(doc):
    section = doc.split("Parameters\n    ----------\n", 1)[1].split("\n\n    Attributes", 1)[0]
    names = re.findall(r"^    (\w+(?:, \w+)*) :", section, flags=re.MULTILINE)
    return {name for group in names for name in group.split(", ")}


@pytest.mark.parametrize(
    "cls",
    [
        general.PairsMetricLearner,
        general.TripletsMetricLearner,
        general.QuadrupletsMetricLearner,
        general.MetricLearner,
    ],
)
def test_general_learners_document_every_parameter_once(cls):
    doc = cls.__doc__
    assert not re.search(r"\{[a-z_]+\}", doc), "a placeholder was left unfilled"
    assert _documented_parameters(doc) == set(inspect.signature(cls).parameters)
    # the shared piece is filled with each learner's own defaults
    for name in ("max_iter", "tol", "alpha", "learning_rate"):
        documented = re.search(rf"\n    {name} : \w+, default=(\S+)\n", doc).group(1)
        assert float(documented) == getattr(cls(), name)
    for method in ("fit", "partial_fit"):
        if hasattr(cls, method):
            assert not re.search(r"\{[a-z_]+\}", getattr(cls, method).__doc__)


def test_metrics_docstrings_are_filled():
    for func in (
        metrics.precision_at_k,
        metrics.recall_at_k,
        metrics.r_precision,
        metrics.mean_average_precision_at_r,
        metrics.mean_average_precision,
        metrics.knn_accuracy,
    ):
        doc = func.__doc__
        assert "{params}" not in doc and "{{" not in doc
        assert "\n    embeddings : " in doc and "\n    working_memory : " in doc
    assert "return_n_excluded : bool" in metrics.precision_at_k.__doc__
    assert "return_n_excluded" not in metrics.knn_accuracy.__doc__


MODULES = [
    "mlearn._validation",
    "mlearn.linalg",
    "mlearn.constraints",
    "mlearn.base",
    "mlearn.objectives",
    "mlearn.solvers",
    "mlearn.plotting",
    "mlearn.metrics",
    "mlearn.learners.general",
    "mlearn.learners.itml",
    "mlearn.learners.lfda",
    "mlearn.learners.lmnn",
    "mlearn.learners._supervised",
    mlearn.__name__,
]


def test_each_module_imports_first_without_a_cycle():
    # a module imported first meets any import cycle among mlearn's modules;
    # each is imported with no mlearn module loaded yet
    code = textwrap.dedent(f"""
        import importlib, sys
        failed = []
        for name in {MODULES!r}:
            for loaded in [m for m in sys.modules if m.split(".")[0] == "mlearn"]:
                del sys.modules[loaded]
            try:
                importlib.import_module(name)
            except ImportError as exc:
                failed.append(f"{{name}}: {{exc}}")
        print(failed)
    """)
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def _public_docstrings():
    """(name, docstring) of every public module, class, function and method of mlearn."""
    for info in pkgutil.walk_packages(mlearn.__path__, "mlearn."):
        # the pieces' own module names them on purpose, to explain them
        if info.name.rsplit(".", 1)[-1].startswith("__") or info.name == _doc_pieces.__name__:
            continue
        module = importlib.import_module(info.name)
        yield info.name, module.__doc__
        for name, obj in vars(module).items():
            if name.startswith("_") or not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            if obj.__module__ != info.name:  # imported: checked where it is defined
                continue
            yield f"{info.name}.{name}", obj.__doc__
            if inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    if not attr.startswith("_") and (
                        inspect.isfunction(member) or isinstance(member, property)
                    ):
                        yield f"{info.name}.{name}.{attr}", member.__doc__


def test_no_docstring_keeps_a_piece_placeholder():
    placeholders = {"{" + name + "}" for name in PIECES}
    checked = 0
    for name, doc in _public_docstrings():
        checked += 1
        left = [p for p in placeholders if p in (doc or "")]
        assert not left, f"{name} keeps {left}"
    assert checked > 200  # the walk reached the learners, not only the package


def test_learner_docstrings_carry_the_filled_pieces():
    assert "Lets ``X`` be given as a 1-D array of indices into the preprocessor's" in (
        mlearn.LMNN.__doc__
    )
    assert "\n        Number of features seen in ``fit``.\n" in mlearn.NCA.__doc__
    assert "\n            +1 for a similar pair, -1 for a dissimilar one.\n" in (
        mlearn.ITML.fit.__doc__
    )
    # the piece is indented like the placeholder it replaces, at both depths
    for doc in (mlearn.MMC.__doc__, mlearn.ITML.fit.__doc__):
        assert not re.search(r"\n\S", doc.strip()), "a piece line lost its indentation"


def test_each_piece_is_shared():
    # a piece is the text of several learners; one used once belongs in its docstring
    sources = [
        path.read_text()
        for path in Path(learners_package.__file__).parent.glob("*.py")
        if path.name != "_doc_pieces.py"
    ]
    for name in PIECES:
        uses = sum(source.count("{" + name + "}") for source in sources)
        assert uses >= 2, f"piece {name} is used {uses} time(s)"


def test_fill_pieces_fills_only_known_pieces():
    @fill_pieces
    def documented():
        """{fitted_features} and {'a', 'b'} and {unknown}"""

    assert documented.__doc__.startswith("n_features_in_ : int\n")
    assert documented.__doc__.endswith("and {'a', 'b'} and {unknown}")
