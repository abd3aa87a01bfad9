"""The documentation in ``docs/``: complete, and its examples right.

None of these tests needs Sphinx:

- every name in ``innobaro.__all__`` is listed in the API reference source
  (``docs/api/index.rst``, whose autosummary lists the build turns into pages);
- every ``pycon`` example in the Markdown pages of ``docs/`` runs and prints
  what the page shows (each page is one doctest session, in page order);
- public functions and methods carry a numpydoc docstring with an Examples
  section; the ones still without are listed in ``MISSING_EXAMPLES``, which may
  only shrink (add an example, then delete the name here);
- every ``python`` block of ``README.md`` runs as printed, and the README's
  promise of agreement with R states the tolerances ``docs/validation.py``
  (the validation page) and the tests use, and about the number of cases.

The HTML build itself (``python -m sphinx -W --keep-going -b html docs
docs/_build/html``) runs in ``.ci/run``.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import innobaro as ib

DOCS = Path(__file__).resolve().parent.parent / "docs"
API = DOCS / "api" / "index.rst"


# ---------------------------------------------------------------------------
# the API reference lists every public name
# ---------------------------------------------------------------------------
def _api_entries() -> list[tuple[str, str]]:
    """``(current module, name)`` of every entry in the autosummary lists of the
    API page, and of its ``.. data::`` entries."""
    text = API.read_text(encoding="utf-8")
    entries: list[tuple[str, str]] = []
    module = "innobaro"
    in_list = False
    for line in text.splitlines():
        m = re.match(r"\.\. currentmodule:: ([\w.]+)", line)
        if m:
            module = m.group(1)
        if line.startswith(".. autosummary::"):
            in_list = True
            continue
        if in_list:
            if line.strip() == "" or line.startswith("   :"):
                continue
            m = re.fullmatch(r" {3}([A-Za-z_][\w.]*)\s*", line)
            if m:
                entries.append((module, m.group(1)))
                continue
            in_list = False
        m = re.match(r"\.\. data:: ([\w.]+)", line)
        if m:
            entries.append((module, m.group(1)))
    return entries


def test_every_public_name_is_in_the_api_reference() -> None:
    if not API.exists():
        pytest.skip("docs/api/index.rst is not in this checkout")
    listed = {name for module, name in _api_entries() if module == "innobaro"}
    missing = [name for name in ib.__all__ if name not in listed]
    assert not missing, (f"add these names of innobaro.__all__ to an autosummary list in "
                         f"{API.relative_to(DOCS.parent)}: {missing}")


def test_the_api_reference_lists_only_real_names() -> None:
    if not API.exists():
        pytest.skip("docs/api/index.rst is not in this checkout")
    stale = [f"{module}.{name}" for module, name in _api_entries()
             if not hasattr(importlib.import_module(module), name)]
    assert not stale, f"the API reference lists names that do not exist: {stale}"


# ---------------------------------------------------------------------------
# the examples on the pages run
# ---------------------------------------------------------------------------
FENCE = re.compile(r"^```pycon[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _pages() -> list[Path]:
    if not DOCS.exists():
        return []
    return sorted(p for p in DOCS.rglob("*.md")
                  if "_build" not in p.parts and p.name != "validation.md")


def _pages_with_examples() -> list[Path]:
    return [p for p in _pages() if FENCE.search(p.read_text(encoding="utf-8"))]


#: pages whose examples need an optional extra: skipped when it is not installed
PAGE_NEEDS = {"larger-than-memory.md": ("duckdb", "pyarrow"),
              "cluster.md": ("dask.dataframe", "distributed")}


@pytest.mark.parametrize("page", _pages_with_examples(),
                         ids=lambda p: str(p.relative_to(DOCS)))
def test_page_examples_run(page: Path) -> None:
    for module in PAGE_NEEDS.get(page.name, ()):
        pytest.importorskip(module)
    text = page.read_text(encoding="utf-8")
    parser = doctest.DocTestParser()
    globs: dict = {"__name__": "__docs__"}
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE
                                   | doctest.ELLIPSIS)
    for match in FENCE.finditer(text):
        lineno = text[:match.start()].count("\n") + 1
        test = parser.get_doctest(match.group(1), globs, f"{page.name}:{lineno}",
                                  str(page), lineno)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ib.InnobaroWarning)
            runner.run(test, clear_globs=False)
        globs.update(test.globs)  # the page is one session: names carry over
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} example(s) on {page.name} failed (see above)"


# ---------------------------------------------------------------------------
# docstrings have Examples
# ---------------------------------------------------------------------------
#: Public functions and methods without an Examples section in their docstring.
#: Remove a name once its docstring has one; the test fails if a name is added.
MISSING_EXAMPLES: set[str] = set()


def _public_callables() -> dict[str, object]:
    """Functions and classes of ``innobaro.__all__`` and their public methods."""
    out: dict[str, object] = {}
    for name in ib.__all__:
        obj = getattr(ib, name)
        if inspect.isfunction(obj):
            out[f"innobaro.{name}"] = obj
        elif inspect.isclass(obj) and not issubclass(obj, (Exception, Warning)):
            out[f"innobaro.{name}"] = obj
            for attr, value in inspect.getmembers(obj):
                if attr.startswith("_") or not callable(value) or isinstance(value, type):
                    continue
                owner = next((k for k in obj.__mro__ if attr in vars(k)), None)
                if owner is None or not owner.__module__.startswith("innobaro"):
                    continue
                out[f"innobaro.{name}.{attr}"] = value
    return out


def _has_examples(obj: object) -> bool:
    doc = inspect.getdoc(obj) or ""
    return bool(re.search(r"^Examples\n-{8}", doc, re.MULTILINE))


def test_public_docstrings_have_examples() -> None:
    missing = {name for name, obj in _public_callables().items() if not _has_examples(obj)}
    new = sorted(missing - MISSING_EXAMPLES)
    assert not new, f"public functions without an Examples section: {new}"


def test_missing_examples_list_is_current() -> None:
    """Names that now have examples (or are gone) leave MISSING_EXAMPLES."""
    callables = _public_callables()
    done = sorted(n for n in MISSING_EXAMPLES
                  if n not in callables or _has_examples(callables[n]))
    assert not done, f"remove from MISSING_EXAMPLES in tests/test_docs.py: {done}"


#: Public properties without a docstring (may only shrink, as above).
MISSING_PROPERTY_DOCS: set[str] = set()


def test_every_property_has_a_docstring() -> None:
    bare = []
    for name in ib.__all__:
        obj = getattr(ib, name)
        if not inspect.isclass(obj):
            continue
        for attr, value in vars(obj).items():
            if isinstance(value, property) and not attr.startswith("_") and not value.__doc__:
                bare.append(f"innobaro.{name}.{attr}")
    new = sorted(set(bare) - MISSING_PROPERTY_DOCS)
    assert not new, f"properties without a docstring: {new}"
    done = sorted(MISSING_PROPERTY_DOCS - set(bare))
    assert not done, f"remove from MISSING_PROPERTY_DOCS in tests/test_docs.py: {done}"


# ---------------------------------------------------------------------------
# the README: its Python runs as printed, its promise is the validation page's
# ---------------------------------------------------------------------------
README = DOCS.parent / "README.md"
PYTHON_FENCE = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _readme_blocks() -> list[str]:
    return PYTHON_FENCE.findall(README.read_text(encoding="utf-8")) if README.exists() else []


@pytest.mark.parametrize("block", range(len(_readme_blocks())))
def test_readme_python_runs_as_printed(block: int) -> None:
    code = _readme_blocks()[block]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ib.InnobaroWarning)
        exec(compile(code, f"README.md python block {block + 1}", "exec"),
             {"__name__": "__readme__"})


def test_readme_has_python_to_run() -> None:
    if not README.exists():
        pytest.skip("README.md is not in this checkout")
    assert any("import innobaro" in block for block in _readme_blocks())


def _validation_settings() -> tuple[dict, dict, list]:
    """TOLERANCE, COLUMN_TOLERANCE and ORDER of docs/validation.py (read, not run)."""
    import ast

    tree = ast.parse((DOCS / "validation.py").read_text(encoding="utf-8"))
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name in ("TOLERANCE", "COLUMN_TOLERANCE", "ORDER"):
                found[name] = ast.literal_eval(node.value)
    return found["TOLERANCE"], found["COLUMN_TOLERANCE"], found["ORDER"]


def test_readme_promise_of_agreement_with_r_is_the_validation_pages() -> None:
    """The README's first paragraphs state the tolerances that the tests and
    the validation page use (no other), and the number of reference cases."""
    import json

    if not README.exists() or not (DOCS / "validation.py").exists():
        pytest.skip("README.md or docs/validation.py is not in this checkout")
    intro = README.read_text(encoding="utf-8").split("\n## ")[0]
    promise = intro[intro.index("R's `survey` package"):]
    tolerance, column_tolerance, order = _validation_settings()
    stated = {float(t) for t in re.findall(r"\b1e-\d+\b", promise)}
    assert stated == set(tolerance.values()) | set(column_tolerance.values()), \
        f"the README states the tolerances {sorted(stated)}; docs/validation.py uses " \
        f"{tolerance} and {column_tolerance}"
    ref = DOCS.parent / "tests" / "reference"
    cases = sum(len(json.loads((ref / f"{name}.json").read_text(encoding="utf-8"))["cases"])
                for name in order)
    claimed = int(re.search(r"about\s+(\d+)\s+reference cases", promise).group(1))
    assert abs(claimed - cases) <= 0.05 * cases, \
        f"the README says about {claimed} reference cases; tests/reference has {cases}"


def test_every_reference_file_is_read_by_a_test_module() -> None:
    """The validation page finds each reference file's test module by name
    (docs/validation.py, other_reference_files): a file no test reads is checked
    by nothing."""
    ref = DOCS.parent / "tests" / "reference"
    texts = [p.read_text(encoding="utf-8") for p in (DOCS.parent / "tests").glob("test_*.py")]
    texts.append((DOCS.parent / "tests" / "_harness.py").read_text(encoding="utf-8"))
    unread = [p.name for p in ref.glob("*.json") if not p.stem.endswith("_designs")
              and not any(re.search(rf"""(load\(["']{p.stem}["']\)|\b{p.stem}\.json)""", t)
                          for t in texts)]
    assert not unread, f"no test module reads {unread}"


def test_recorder_measures_relative_and_absolute_differences() -> None:
    """docs/recorder.py: the largest relative difference (absolute where the
    expected number is 0), NaN in one only, and the tolerance asked for."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_recorder", DOCS / "recorder.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules.setdefault("_recorder", module)
    spec.loader.exec_module(module)
    rec = module.Recorder()
    rec.current = module.ItemRecord("tests/test_x.py::test_y[case-a]")
    rec.record([1.0, 2.0 * (1 + 3e-9), 5e-12], [1.0, 2.0, 0.0], 1e-8, 0.0)
    assert rec.current.rel == pytest.approx(3e-9, rel=1e-6)
    assert rec.current.abs_only == pytest.approx(5e-12)
    assert rec.current.rtol == 1e-8 and rec.current.numbers == 3
    assert rec.current.case == "case-a" and rec.current.function == "test_y"
    rec.record([np.nan], [1.0], 1e-8, 0.0)
    assert rec.current.worst == float("inf")
    with rec.patched():
        np.testing.assert_allclose([1.0], [1.0 + 1e-10], rtol=1e-9)
        assert 2.0 == pytest.approx(2.0 + 2e-10, rel=1e-9)
        with pytest.raises(AssertionError):
            np.testing.assert_allclose([1.0], [1.1], rtol=1e-9)
    assert rec.current.comparisons == 5
    assert np.testing.assert_allclose.__module__ == "numpy.testing._private.utils"


def test_validation_page_finds_every_first_file_case_within_the_tests_tolerance() -> None:
    """docs/validation.py restates the reference tests' comparisons for the first
    reference files; where it compares differently from the tests (a df shape,
    a missing value) the published page would claim a disagreement that is not
    there. Every case must be within the tolerance the tests use."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_validation_page", DOCS / "validation.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.path.insert(0, str(DOCS))
    try:
        spec.loader.exec_module(module)
        bad = []
        for name in module.ORDER:
            rows, _ = module.run_file(name)
            bad += [(name, r["id"], r["error"] or {c: d.text() for c, d in r["diffs"].items()})
                    for r in rows if not module._within(r, name)]
    finally:
        sys.path.remove(str(DOCS))
    assert not bad, f"the validation page reports these cases outside tolerance: {bad[:5]}"


def test_recorder_leaves_inequality_checks_out() -> None:
    """``x != pytest.approx(y)`` asserts that two numbers differ: the page must not
    show it as a large difference."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_recorder", DOCS / "recorder.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules.setdefault("_recorder", module)
    spec.loader.exec_module(module)
    rec = module.Recorder()
    rec.current = module.ItemRecord("tests/test_x.py::test_z")
    with rec.patched():
        assert 1.0 != pytest.approx(2.0, rel=1e-6)
    assert rec.current.comparisons == 0 and rec.current.rel == 0.0
