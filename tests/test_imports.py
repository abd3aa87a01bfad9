"""Importing innobaro is light, and its subpackages load on first use."""

from __future__ import annotations

import subprocess
import sys


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return out.stdout.strip()


def test_import_is_light_and_subpackages_are_lazy() -> None:
    # what innobaro adds to its dependencies' own imports (pandas may import
    # pyarrow itself when it is installed)
    loaded = _run(
        "import sys, numpy, pandas, scipy.stats, patsy\n"
        "before = set(sys.modules)\n"
        "import innobaro as ib\n"
        "heavy = ['matplotlib', 'pyarrow', 'pyreadstat', 'statsmodels', 'innobaro.datasets',\n"
        "         'innobaro.report', 'narwhals', 'polars', 'duckdb', 'dask', 'innobaro.engines']\n"
        "print(','.join(m for m in heavy if m in set(sys.modules) - before))")
    assert loaded == ""
    # ib.datasets works without importing innobaro.datasets first (as scipy's subpackages)
    assert _run("import innobaro as ib; print(len(ib.datasets.load_barometer()))") == "1786"
    assert _run("import innobaro as ib; print(ib.report.__name__)") == "innobaro.report"
    assert _run("import innobaro as ib; print('datasets' in dir(ib))") == "True"


def test_unknown_attribute_is_an_attribute_error() -> None:
    out = _run("import innobaro as ib\n"
               "try:\n    ib.no_such_thing\nexcept AttributeError as e:\n    print(e)")
    assert "no attribute 'no_such_thing'" in out


def test_old_module_path_still_imports() -> None:
    assert _run("from innobaro.hypotheses import contrast, chisq_test; "
                "print(contrast.__module__, chisq_test.__module__)") == \
        "innobaro.contrasts innobaro.independence"


def test_plot_module_imports_matplotlib_only_when_drawing() -> None:
    loaded = _run("import sys, innobaro.plot\n"
                  "print('matplotlib' in sys.modules, 'innobaro.plot' in sys.modules)")
    assert loaded == "False True"
