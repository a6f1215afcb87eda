"""Sphinx configuration for mlearn's documentation (builds offline)."""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE / "_scripts"))

import mlearn

project = "mlearn"
author = "The mlearn developers"
copyright = "2026, The mlearn developers"
release = mlearn.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.doctest",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

# Cross-links to other projects' docs need the network; off unless asked for.
if os.environ.get("MLEARN_DOCS_INTERSPHINX"):
    extensions.append("sphinx.ext.intersphinx")
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "sklearn": ("https://scikit-learn.org/stable", None),
    }

autosummary_generate = True
# A class page lists the methods and attributes mlearn defines, estimator
# methods first; private helpers and what scikit-learn's bases define
# (get_params, set_output, ...) are left out (see _skip_member below).
autosummary_context = {
    "method_order": [
        "fit",
        "partial_fit",
        "transform",
        "fit_transform",
        "predict",
        "predict_proba",
        "decision_function",
        "score",
        "pair_distance",
        "pair_score",
        "score_pairs",
        "get_mahalanobis_matrix",
        "get_bilinear_matrix",
        "get_metric",
        "calibrate_threshold",
        "set_threshold",
    ],
}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "_templates",
    "**/generated/*.examples",
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
    "auto_examples/*.md5",
    "auto_examples/*.zip",
]

# The gallery runs every examples/plot_*.py while the docs build, offline.
sphinx_gallery_conf = {
    "examples_dirs": str(HERE.parent / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"(^|[/\\])_[^/\\]*\.py$",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    # run times go to the build log, not into a page in the source tree
    "write_computation_times": False,
}

html_theme = "pydata_sphinx_theme"
html_title = "mlearn"
html_static_path = []
html_theme_options = {"navigation_with_keys": False}
suppress_warnings = ["config.cache"]


def _run_figure_scripts(app):
    """Scripts in docs/_scripts with a ``main(outdir)`` make the pictures the pages show."""
    outdir = HERE / "user_guide" / "images"
    for script in sorted((HERE / "_scripts").glob("make_*.py")):
        module = __import__(script.stem)
        module.main(outdir)


def _defined_by_sklearn(obj):
    function = getattr(obj, "fget", obj)  # a property's getter
    return getattr(function, "__module__", "").startswith("sklearn.")


def _skip_member(app, what, name, obj, skip, options):
    # None leaves the decision to autodoc; False puts a member in
    if (getattr(getattr(obj, "fget", obj), "__module__", None) or "").startswith("torch."):
        return True  # torch.nn.Module's own methods, on mlearn's networks
    if name == "__call__":
        return False
    if name.startswith("_"):
        return True
    if _defined_by_sklearn(obj):
        return True
    return None


def setup(app):
    app.connect("builder-inited", _run_figure_scripts)
    app.connect("autodoc-skip-member", _skip_member)
