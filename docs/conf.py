"""Sphinx configuration for mpcl_sklearn (build: ``make docs``; warnings are errors)."""

import os
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
