"""Sphinx configuration for mpcl_sklearn (build: ``make docs``; warnings are errors)."""

import os
import re
import sys

sys.path.insert(0, os.path.abspath(".."))

project = "mpcl_sklearn"
author = "mpcl_sklearn developers"
copyright = "2026, mpcl_sklearn developers"
release = "0.1.0"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
exclude_patterns = ["_build"]
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_mock_imports = []
html_theme = "alabaster"
nitpicky = False
suppress_warnings = ["myst.xref_missing"]

# scikit-learn generates ``set_fit_request``/``set_score_request``/... on every estimator class;
# their docstrings cross-reference sklearn's own glossary, which this build does not have.
_SKIPPED_MEMBERS = {"get_metadata_routing", "get_params", "set_params", "set_output"}


def _skip_sklearn_boilerplate(app, what, name, obj, skip, options):
    if name in _SKIPPED_MEMBERS or (name.startswith("set_") and name.endswith("_request")):
        return True
    return None


# Docstrings write shapes the scikit-learn way, ``of shape (n_samples, n_features_in_)``; to
# docutils a word ending in "_" is a hyperlink reference.  Escape those inside "shape (...)"
# before numpydoc parses the docstring.
_SHAPE = re.compile(r"shape \(([^()]*)\)")
_TRAILING_UNDERSCORE = re.compile(r"\b([A-Za-z]\w*?)_(?=[,)\s]|$)")


def _escape_shape(match):
    return "shape (" + _TRAILING_UNDERSCORE.sub(r"\1\\_", match.group(1)) + ")"


def _escape_shapes(app, what, name, obj, options, lines):
    lines[:] = [_SHAPE.sub(_escape_shape, line) for line in lines]


def setup(app):
    app.connect("autodoc-skip-member", _skip_sklearn_boilerplate)
    app.connect("autodoc-process-docstring", _escape_shapes, priority=400)
