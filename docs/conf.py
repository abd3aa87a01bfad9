"""Sphinx configuration of innobaro's documentation.

Build (from the repository root; warnings are errors):

    python -m sphinx -W --keep-going -b html docs docs/_build/html

Every build first regenerates ``docs/validation.md`` from the R reference files
(``docs/validation.py``), and autosummary writes the API reference stubs into
``docs/api/generated/``; both are build products, not sources.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # innobaro from this checkout
sys.path.insert(0, str(HERE))  # docs/validation.py

import innobaro  # noqa: E402

project = "innobaro"
author = "The innobaro developers"
copyright = "the innobaro developers"
version = release = innobaro.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # MathJax 3 from the docs extra, not from a CDN
    "numpydoc",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_templates", "**/README.md", "Thumbs.db", ".DS_Store"]
templates_path = ["_templates"]

# --------------------------------------------------------------------- MyST
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
myst_dmath_double_inline = True

# ---------------------------------------------------- autodoc / autosummary
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # the numpydoc Parameters sections say it, in words
autodoc_inherit_docstrings = True
add_module_names = False

# numpydoc: the docstrings are numpydoc; do not add a second member table
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()

# ------------------------------------------------------------------ MathJax
# The formulas render without network: the sphinx-mathjax-offline package (in
# the docs extra) ships MathJax 3.2.2 and copies it into _static/mathjax/ of
# the build; the pages load it from there instead of from a CDN.
mathjax_path = "mathjax/tex-chtml.js"

# -------------------------------------------------------------------- HTML
html_theme = "pydata_sphinx_theme"
html_title = f"innobaro {release}"
html_static_path: list[str] = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_show_sourcelink = False
html_last_updated_fmt = None

# Pages written by other parts of the project that may not exist in every
# checkout (they are listed in toctrees; a missing one is left out with a
# note instead of failing the build).
OPTIONAL_PAGES = ("guide/tests", "guide/barometer-data")

nitpicky = False
# numpydoc turns every References entry into a citation; a bibliography entry
# that the docstring's text does not cite is not an error
suppress_warnings = ["ref.citation"]


def _generate_validation(app) -> None:
    """Recompute every R reference case and write validation.md (every build)."""
    import validation

    validation.main(log=lambda msg: print(msg))


def _drop_missing_optional(app, docname: str, source: list[str]) -> None:
    """Leave optional pages that do not exist (yet) out of toctrees, and turn
    references to them into plain text, so the build does not depend on them."""
    base = Path(docname).parent
    missing = {page for page in OPTIONAL_PAGES
               if not any((HERE / f"{page}{ext}").exists() for ext in (".md", ".rst"))}
    if not missing:
        return
    text = source[0]
    lines = []
    for line in text.splitlines(keepends=True):
        entry = line.strip()
        if entry and not entry.startswith((":", "`", "#", "{")) and \
                os.path.normpath(base / entry).replace(os.sep, "/") in missing:
            continue
        lines.append(line)
    text = "".join(lines)

    def plain(match: re.Match) -> str:
        target = match.group(2).strip("<>")
        resolved = os.path.normpath(base / target).replace(os.sep, "/")
        return match.group(1) or target if resolved in missing else match.group(0)

    text = re.sub(r"\{doc\}`(?:([^`<]*?)\s*)?<?([^`<>]+)>?`", plain, text)
    if text != source[0]:
        print(f"docs: {docname}: left out missing page(s) {sorted(missing)}")
    source[0] = text


def setup(app) -> dict:
    app.connect("builder-inited", _generate_validation)
    app.connect("source-read", _drop_missing_optional)
    return {"parallel_read_safe": True}
