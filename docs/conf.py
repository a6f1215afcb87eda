"""Sphinx configuration for mlearn's documentation (builds offline)."""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE / "_scripts"))

import mlearn  # noqa: E402

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
# Methods inherited from mlearn's own bases are documented on each learner;
# scikit-learn's own (get_params, set_output, ...) are left to its docs.
autodoc_default_options = {
    "members": True,
    "inherited-members": "BaseEstimator, TransformerMixin, ClassNamePrefixFeaturesOutMixin, "
    "_SetOutputMixin, _MetadataRequester, ClassifierMixin, RegressorMixin, object",
}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
templates_path = []
exclude_patterns = ["_build", "**/generated/*.examples"]
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


def _skip_sklearn_routing(app, what, name, obj, skip, options):
    # scikit-learn generates set_<method>_request for fit parameters beyond X, y;
    # they are documented in scikit-learn's metadata-routing guide
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return skip


def setup(app):
    app.connect("builder-inited", _run_figure_scripts)
    app.connect("autodoc-skip-member", _skip_sklearn_routing)
