"""Two-way tables and the Rao-Scott test over an engine: cell x PSU sums by the seam.

The weighted counts and shares of a table, and the cell shares whose
covariance the Rao-Scott correction needs (Rao and Scott 1984), are ratios of
totals of the cells' indicators, whose PSU totals are the sums
:math:`T_{u,rc}(w)` of the weights per (stratum, PSU, row level, column
level). One pass computes them; :func:`innobaro.table` and
:func:`innobaro.chisq_test` run on the in-memory design whose rows are those
cells (weight :math:`T_{u,rc}(w)`). Two numbers count rows rather than
weights and are put back from the sums: the column ``n`` of a table (rows of
positive weight per cell), and the sample size :math:`n` of Pearson's
:math:`X^2 = n \\sum_{rc} (\\hat p_{rc} - \\hat p_{r\\cdot}\\hat p_{\\cdot c})^2 /
(\\hat p_{r\\cdot}\\hat p_{\\cdot c})` and of the design-effect matrix
:math:`\\Delta`, both linear in :math:`n` (so the F statistic
:math:`X^2 / \\mathrm{tr}\\,\\Delta` and its degrees of freedom are not).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from ..design import SurveyDesign
from ..errors import EngineError, EstimationError, InnobaroWarning, MissingValueError
from ..independence import chisq_test as _chisq_of
from ..results import TestResult
from ..tabulate import table as _table_of
from .core import EngineDesign
from .sums import NPOS, SW, N, SumsSpec, check_rows

__all__ = ["engine_chisq_test", "engine_table"]

def _cells(design: EngineDesign, columns: list[str], na_rm: bool, what: str
           ) -> tuple[SurveyDesign, pd.DataFrame]:
    """The (stratum, PSU, level(s)) cells as the rows of an in-memory design."""
    have = set(design.source.columns())
    for c in columns:
        if c not in have:
            raise EstimationError(f"{what}: column {c!r} is not in the data")
    if len(set(columns)) < len(columns):
        raise EstimationError(f"{what}: row and col are the same column {columns[0]!r}")
    base = design.sums_spec
    spec = SumsSpec(keys=base.keys, by=tuple(columns), weights=base.weights, probs=base.probs)
    sums = design.source.sums(spec)
    check_rows(sums, SumsSpec(keys=base.keys, weights=base.weights, probs=base.probs), what,
               na_rm=True)
    if int(sums[N].sum()) != design.n:
        raise EngineError(f"{what}: the {design.engine} source changed since the design was "
                          f"built ({design.n} rows, now {int(sums[N].sum())}); build the "
                          f"design again")
    if not na_rm:
        counts = {c: int(sums.loc[sums[c].isna().to_numpy(), N].sum()) for c in columns}
        listed = ", ".join(f"{c!r} ({k} missing)" for c, k in counts.items() if k)
        if listed:
            raise MissingValueError(f"{what}: {listed}; pass na_rm=True to leave those rows "
                                    f"out")
    return design.table_design(sums, spec), sums


def engine_table(design: EngineDesign, row: str, col: str | None = None, *,
                 shares: str = "col", na_rm: bool = False) -> pd.DataFrame:
    """Weighted counts and shares of a one- or two-way table, as :func:`innobaro.table`.

    Parameters
    ----------
    design : EngineDesign
    row : str
    col : str, optional
    shares : {"col", "row", "total"}, default "col"
    na_rm : bool, default False

    Returns
    -------
    pandas.DataFrame
        As :func:`innobaro.table`: ``n`` (rows with positive weight),
        ``count``, ``count_se``, ``share``, ``share_se`` per cell.

    Notes
    -----
    Counts :math:`\\hat N_{rc} = \\sum_u T_{u,rc}(w)`, shares their ratios
    (Lumley 2010, sec. 2.3).
    """
    columns = [row] if col is None else [row, col]
    cells, sums = _cells(design, columns, na_rm, "table")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*single row with positive weight",
                                category=InnobaroWarning)
        out = _table_of(cells, row, col, shares=shares,  # type: ignore[arg-type]
                        na_rm=na_rm)
    # rows of positive weight per cell, from the sums (the cells design counts cells)
    per = sums.groupby(columns, observed=True, dropna=True)[NPOS].sum()
    # typed columns: pandas 1.5 warns when it indexes numbers held as objects
    levels = out[columns].infer_objects()
    key = pd.MultiIndex.from_frame(levels) if col is not None else pd.Index(levels[row])
    out["n"] = per.reindex(key).fillna(0).to_numpy(dtype=np.int64)
    return out


def engine_chisq_test(design: EngineDesign, row: str, col: str, *, statistic: str = "F",
                      na_rm: bool = False, drop_empty: bool = False) -> TestResult:
    """Rao-Scott test of independence in a two-way table, as :func:`innobaro.chisq_test`.

    Parameters
    ----------
    design : EngineDesign
    row, col : str
    statistic : str, default "F"
        As for :func:`innobaro.chisq_test`.
    na_rm : bool, default False
    drop_empty : bool, default False

    Returns
    -------
    TestResult

    Notes
    -----
    :math:`F = X^2 / \\mathrm{tr}\\,\\Delta` on :math:`d_0 = (\\mathrm{tr}\\,\\Delta)^2 /
    \\mathrm{tr}\\,\\Delta^2` and :math:`d_0 \\nu` degrees of freedom (Rao and Scott
    1984); :math:`X^2` and :math:`\\Delta` are scaled from the cells' count of rows
    to the rows' (see :mod:`innobaro.engines.tables`).
    """
    cells, sums = _cells(design, [row, col], na_rm, "chisq_test")
    res = _chisq_of(cells, row, col, statistic=statistic,  # type: ignore[arg-type]
                    na_rm=na_rm, drop_empty=drop_empty)
    # the rows in the test: all but those of a level without weight
    ok = sums[row].notna().to_numpy() & sums[col].notna().to_numpy()
    w = sums[SW].to_numpy(dtype=float)
    lost = np.zeros(len(sums), dtype=bool)
    for c in (row, col):  # the two margins
        wsum = pd.Series(np.where(ok, w, 0.0)).groupby(sums[c].to_numpy()).sum()
        empty = set(wsum.index[wsum.to_numpy() <= 0])
        lost |= sums[c].isin(empty).to_numpy()
    n_rows = float(sums.loc[~lost, N].sum())
    details: dict[str, Any] = dict(res.details)
    factor = n_rows / float(details["n"])
    scaled = {"pearson", "design_effects", "mean_design_effect"}
    for k in scaled & set(details):
        details[k] = np.asarray(details[k]) * factor if k == "design_effects" else \
            details[k] * factor
    details["n"] = int(n_rows)
    stat = res.statistic * factor if res.statistic_name == "X-squared" else res.statistic
    return TestResult(statistic=stat, df=(res.df_num, res.df_denom), pvalue=res.pvalue,
                      method=res.method, title=res.title, statistic_name=res.statistic_name,
                      data=res.data, observed=res.observed, expected=res.expected,
                      details=details)
