"""Run reference test modules and record how close each of their comparisons was.

``docs/validation.py`` computes the differences of the original reference files
(``linearization.json`` … ``edge.json``) itself. Every later reference file is
checked by its own test module (``tests/test_ordinal.py`` reads
``ordinal.json``, and so on), each with comparisons of its own shape. Rather
than restate each module's comparisons here, the page runs the module under
pytest with :class:`Recorder`: while the tests run, ``numpy.testing.
assert_allclose`` and ``pytest.approx`` are wrapped so that every comparison
also records its largest relative difference (absolute where the expected
number is zero) and the tolerance it was checked at, per test item. The page
then shows, per test (one R case or one group of cases), the largest difference
seen, the tolerance and the outcome. Nothing in the tests changes: the wrapped
functions return and raise exactly as the originals.
"""

from __future__ import annotations

import contextlib
import io
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class ItemRecord:
    """What one test item compared."""

    nodeid: str
    rel: float = 0.0          # largest relative difference
    abs_only: float = 0.0     # largest absolute difference where the expected value is 0
    rtol: float = 0.0         # loosest relative tolerance asked for
    atol: float = 0.0         # loosest absolute tolerance asked for
    comparisons: int = 0
    numbers: int = 0
    nan_mismatch: bool = False
    outcome: str = "?"
    message: str = ""
    seconds: float = 0.0

    @property
    def worst(self) -> float:
        return math.inf if self.nan_mismatch else max(self.rel, self.abs_only)

    @property
    def case(self) -> str:
        """The parameter id of the item (the R case), or its test function name."""
        m = re.search(r"\[(.*)\]$", self.nodeid)
        return m.group(1) if m else self.nodeid.rsplit("::", 1)[-1]

    @property
    def function(self) -> str:
        return re.sub(r"\[.*\]$", "", self.nodeid.rsplit("::", 1)[-1])


@dataclass
class Recorder:
    """A pytest plugin that records the comparisons of each test item."""

    items: dict[str, ItemRecord] = field(default_factory=dict)
    current: ItemRecord | None = None
    keep: Callable[[str], bool] | None = None  # which collected node ids to run

    # --- comparisons ------------------------------------------------------
    def record(self, actual: Any, desired: Any, rtol: float | None, atol: float | None) -> None:
        rec = self.current
        if rec is None:
            return
        try:
            a = np.asarray(actual, dtype=float).ravel()
            b = np.asarray(desired, dtype=float).ravel()
        except (TypeError, ValueError):
            return
        if a.size != b.size:
            if a.size == 1 or b.size == 1:
                a, b = np.broadcast_arrays(a, b)
            else:
                rec.nan_mismatch = True
                return
        rec.comparisons += 1
        rec.numbers += int(a.size)
        rec.rtol = max(rec.rtol, float(rtol or 0.0))
        rec.atol = max(rec.atol, float(atol or 0.0))
        one_nan = np.isnan(a) ^ np.isnan(b)
        if one_nan.any():
            rec.nan_mismatch = True
        ok = ~(np.isnan(a) | np.isnan(b))
        d = np.abs(a[ok] - b[ok])
        d = np.where(d <= float(atol or 0.0), 0.0, d)
        scale = np.abs(b[ok])
        rel = scale > 0
        with np.errstate(invalid="ignore", over="ignore"):
            if rel.any():
                rec.rel = max(rec.rel, float(np.nanmax(d[rel] / scale[rel])))
            if (~rel).any():
                rec.abs_only = max(rec.abs_only, float(np.nanmax(d[~rel])))

    @contextlib.contextmanager
    def patched(self) -> Iterator[None]:
        """Wrap ``numpy.testing.assert_allclose`` and ``pytest.approx`` while active."""
        import numpy.testing as npt
        import pytest

        original_close = npt.assert_allclose
        original_approx = pytest.approx
        recorder = self

        def assert_allclose(actual, desired, rtol=1e-7, atol=0, *args, **kwargs):
            recorder.record(actual, desired, rtol, atol)
            return original_close(actual, desired, rtol, atol, *args, **kwargs)

        class RecordingApprox:
            __array_ufunc__ = None
            __array_priority__ = 100

            def __init__(self, expected, rel=None, abs=None, nan_ok=False):
                self._inner = original_approx(expected, rel=rel, abs=abs, nan_ok=nan_ok)
                self._expected = expected
                self._rel = 1e-6 if rel is None and abs is None else (rel or 0.0)
                self._abs = 1e-12 if abs is None else abs

            def __eq__(self, actual):
                recorder.record(actual, self._expected, self._rel, self._abs)
                return self._inner == actual

            def __ne__(self, actual):  # a test that two numbers differ: not recorded
                return not self._inner == actual

            def __repr__(self) -> str:
                return repr(self._inner)

            __hash__ = None  # type: ignore[assignment]

        npt.assert_allclose = assert_allclose
        np.testing.assert_allclose = assert_allclose
        pytest.approx = RecordingApprox
        try:
            yield
        finally:
            npt.assert_allclose = original_close
            np.testing.assert_allclose = original_close
            pytest.approx = original_approx

    # --- pytest hooks -------------------------------------------------------
    def pytest_collection_modifyitems(self, config, items) -> None:
        if self.keep is None:
            return
        chosen = [item for item in items if self.keep(item.nodeid)]
        dropped = [item for item in items if not self.keep(item.nodeid)]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = chosen

    def pytest_runtest_setup(self, item) -> None:
        self.current = self.items.setdefault(item.nodeid, ItemRecord(item.nodeid))

    def pytest_runtest_teardown(self, item) -> None:
        self.current = None

    def pytest_runtest_logreport(self, report) -> None:
        rec = self.items.setdefault(report.nodeid, ItemRecord(report.nodeid))
        if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
            rec.outcome = report.outcome
            rec.seconds += report.duration
            if report.outcome == "failed":
                text = str(report.longrepr).strip().splitlines()
                rec.message = (text[-1] if text else "")[:200]
            elif report.outcome == "skipped" and isinstance(report.longrepr, tuple):
                rec.message = str(report.longrepr[2])[:200]


def run_modules(paths: list[Path], root: Path, keep: Callable[[str], bool] | None = None
                ) -> dict[str, list[ItemRecord]]:
    """Run the test modules under the recorder; the records of each module's items.

    Parameters
    ----------
    paths : list of Path
        Test modules to run (in one pytest session).
    root : Path
        The repository root (pytest's rootdir, so ``tests/conftest.py`` applies).
    keep : callable, optional
        Given a test's node id, whether to run it (all by default).

    Returns
    -------
    dict
        Module file name -> records of its items, in the order pytest ran them.
    """
    import pytest

    recorder = Recorder(keep=keep)
    args = [str(p) for p in paths] + ["-q", "-p", "no:cacheprovider",
                                      "--no-header", "-o", "addopts=", "--rootdir", str(root)]
    with recorder.patched(), contextlib.redirect_stdout(io.StringIO()):
        pytest.main(args, plugins=[recorder])
    out: dict[str, list[ItemRecord]] = {p.name: [] for p in paths}
    for nodeid, rec in recorder.items.items():
        module = Path(nodeid.split("::", 1)[0]).name
        out.setdefault(module, []).append(rec)
    return out
