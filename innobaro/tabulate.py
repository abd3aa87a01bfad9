"""Weighted one- and two-way tables: :func:`table`, counts and shares with
design-based standard errors (the totals and means of the cell indicators,
from the design's variance engine), as R's ``svytable`` with ``svyby``."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from ._twoway import (
    categorical,
    check_missing,
    column_name,
    internal_names,
    levels_of,
)
from ._validate import check_columns
from .design import SurveyDesign, check_design
from .errors import EstimationError
from .estimators import mean, total
from .results import Estimate

__all__ = ["TABLE_COLUMNS", "table"]


TABLE_COLUMNS = ["n", "count", "count_se", "share", "share_se"]


def table(design: SurveyDesign, row: str, col: str | None = None, *,
          shares: Literal["col", "row", "total"] = "col", na_rm: bool = False
          ) -> pd.DataFrame:
    """Weighted counts and shares of a one- or two-way table, with standard errors.

    Parameters
    ----------
    design : Design or ReplicateDesign
    row : str
        Categorical variable of the rows (any dtype).
    col : str, optional
        Categorical variable of the columns.
    shares : {"col", "row", "total"}, default "col"
        For a two-way table, what the shares are shares of: ``"col"``, the
        distribution of ``row`` within each level of ``col`` (each column
        sums to 1); ``"row"``, the distribution of ``col`` within each level
        of ``row``; ``"total"``, the share of the whole population in each
        cell.
    na_rm : bool, default False
        Leave out rows with a missing ``row`` or ``col``.

    Returns
    -------
    pandas.DataFrame
        One row per level (per cell: the row level, then the column level),
        with the level(s) in columns named ``row`` (and ``col``), then ``n``
        (rows with positive weight), ``count`` (estimated population count)
        and ``count_se``, ``share`` and ``share_se``. A column level with no
        observations has undefined (NaN) shares within it.

    Notes
    -----
    Counts are :func:`~innobaro.total` of the level indicators within the
    domains of ``col`` (R's ``svyby(~row, ~col, design, svytotal)``; the
    counts alone are ``svytable(~row + col, design)``). Shares are
    :func:`~innobaro.mean` of the indicators: within the domains of ``col``
    (``svyby(~row, ~col, design, svymean)``), of ``row``, or over the whole
    population (``svymean(~interaction(row, col), design)``). Stata:
    ``svy: tabulate row col, count se`` and ``column se``/``row se``/``cell se``.

    References
    ----------
    .. [1] Lumley, T. (2010). *Complex Surveys*, sec. 2.3 and ch. 6.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({"psu": range(8), "w": [10.0, 20, 10, 20, 10, 20, 10, 20],
    ...                    "innovated": ["yes", "no", "yes", "yes", "no", "no", "yes", "no"],
    ...                    "sector": ["a", "a", "a", "a", "b", "b", "b", "b"]})
    >>> tab = ib.table(ib.Design(df, weights="w", psu="psu"), "innovated", "sector")
    >>> cols = ["innovated", "sector", "n", "count", "share"]
    >>> tab[cols].round(3)  # doctest: +NORMALIZE_WHITESPACE
      innovated sector  n  count  share
    0        no      a  1   20.0  0.333
    1        no      b  3   50.0  0.833
    2       yes      a  3   40.0  0.667
    3       yes      b  1   10.0  0.167
    """
    check_design(design, "table")
    if shares not in ("col", "row", "total"):
        raise EstimationError(f"table: shares must be 'col', 'row' or 'total'; got {shares!r}")
    row = column_name(row, "row")
    cols = [row]
    if col is not None:
        col = column_name(col, "col")
        if col == row:
            raise EstimationError(f"table: row and col are the same column {row!r}")
        cols.append(col)
    check_columns(design.data, cols, "table")
    missing = check_missing(design, cols, na_rm, "table")
    # rows with a missing value leave the domain (they keep their place in the design)
    base = design.subset(~missing) if missing.any() else design
    r, row_levels = levels_of(design.data[row])
    nr = len(row_levels)
    w = base.weights.to_numpy()
    row_name, col_name, cell_name = internal_names(design, "row", "col", "cell")
    if col is None:
        ok = base.present & (r >= 0) & (w > 0)
        ext = base.with_columns({row_name: categorical(r, nr)})
        counts = total(ext, row_name)
        means = mean(ext, row_name)
        return pd.DataFrame({row: row_levels,
                             "n": np.bincount(r[ok], minlength=nr),
                             "count": counts.estimate.to_numpy(),
                             "count_se": counts.se.to_numpy(),
                             "share": means.estimate.to_numpy(),
                             "share_se": means.se.to_numpy()})
    c, col_levels = levels_of(design.data[col])
    nc = len(col_levels)
    ok = base.present & (r >= 0) & (c >= 0)
    cell = np.where((r >= 0) & (c >= 0), r * nc + c, -1)  # row level outer, col inner
    ext = base.with_columns({row_name: categorical(r, nr), col_name: categorical(c, nc),
                             cell_name: categorical(cell, nr * nc)})

    def by_domain(est: Estimate, n_inner: int, n_outer: int) -> tuple[np.ndarray, np.ndarray]:
        """(outer, inner) arrays of estimates and se, NaN for domains without rows."""
        values = np.full((n_outer, n_inner), np.nan)
        ses = np.full((n_outer, n_inner), np.nan)
        doms = np.asarray(est.estimate.index.get_level_values(0), dtype=np.int64)[::n_inner]
        values[doms] = est.estimate.to_numpy().reshape(-1, n_inner)
        ses[doms] = est.se.to_numpy().reshape(-1, n_inner)
        return values, ses

    counts = total(ext, row_name, by=col_name)
    count, count_se = by_domain(counts, nr, nc)  # (nc, nr)
    count, count_se = np.nan_to_num(count.T), np.nan_to_num(count_se.T)  # (nr, nc)
    if shares == "col":
        sh, sh_se = by_domain(mean(ext, row_name, by=col_name), nr, nc)
        sh, sh_se = sh.T, sh_se.T
    elif shares == "row":
        sh, sh_se = by_domain(mean(ext, col_name, by=row_name), nc, nr)
    else:
        m = mean(ext, cell_name)
        sh = m.estimate.to_numpy().reshape(nr, nc)
        sh_se = m.se.to_numpy().reshape(nr, nc)
    n = np.bincount(cell[ok & (w > 0)], minlength=nr * nc).reshape(nr, nc)
    return pd.DataFrame({row: np.repeat(np.asarray(row_levels, dtype=object), nc),
                         col: np.tile(np.asarray(col_levels, dtype=object), nr),
                         "n": n.ravel(), "count": count.ravel(), "count_se": count_se.ravel(),
                         "share": sh.ravel(), "share_se": sh_se.ravel()})
