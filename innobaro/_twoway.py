"""What the tests and tables share: argument checks, levels of a column, the
two-way classification of a design's rows, and the names of the helper
columns they add to a copy of the design's data."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ._linalg import bincount
from ._validate import as_column_list, check_columns
from .design import SurveyDesign
from .errors import DomainError, EstimationError, MissingValueError


def column_name(spec: Any, what: str) -> str:
    names = as_column_list(spec, what)
    if len(names) != 1:
        raise EstimationError(f"{what} must be one column name; got {spec!r}")
    return names[0]


def internal_names(design: SurveyDesign, *names: str) -> list[str]:
    """Column names for internal indicator columns, not clashing with the data's."""
    taken = set(map(str, design.data.columns))
    out = []
    for name in names:
        candidate = f"__innobaro_{name}__"
        while candidate in taken:
            candidate += "_"
        out.append(candidate)
    return out


def levels_of(series: pd.Series) -> tuple[np.ndarray, list[Any]]:
    """Codes (-1 where missing) and levels of a column: the categories of a
    categorical column, else its distinct values in sorted order."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return (series.cat.codes.to_numpy().astype(np.int64),
                list(series.cat.categories))
    try:
        codes, uniques = pd.factorize(series, sort=True)
    except TypeError:  # unorderable mixed types
        codes, uniques = pd.factorize(series.astype(str), sort=True)
    return codes.astype(np.int64), list(uniques)


def categorical(codes: np.ndarray, k: int) -> pd.Categorical:
    """A categorical of the levels ``0 .. k-1`` from codes known to lie in
    ``-1 .. k-1`` (not checked again where pandas allows it, >= 2.1: a pass over
    the rows saved)."""
    dtype = pd.CategoricalDtype(range(k))
    try:
        return pd.Categorical.from_codes(codes, dtype=dtype, validate=False)
    except TypeError:  # pandas < 2.1 has no validate= and always checks
        return pd.Categorical.from_codes(codes, dtype=dtype)


def check_missing(design: SurveyDesign, columns: Sequence[str], na_rm: bool, what: str
                   ) -> np.ndarray:
    """Rows of the domain with a missing value in any of ``columns``."""
    present = design.present
    missing = np.zeros(design.n, dtype=bool)
    counts = {}
    for name in columns:
        m = design.data[name].isna().to_numpy() & present
        if m.any():
            counts[name] = int(m.sum())
        missing |= m
    if counts and not na_rm:
        listed = ", ".join(f"{c!r} ({k} missing)" for c, k in counts.items())
        raise MissingValueError(f"{what}: {listed}; pass na_rm=True to leave those rows "
                                f"out (they stay in the design with weight zero)")
    return missing


@dataclass
class TwoWay:
    """Codes of a two-way table over the rows analysed."""

    row: str
    col: str
    r: np.ndarray  # (n,) row level, -1 where missing
    c: np.ndarray
    row_levels: list[Any]
    col_levels: list[Any]
    missing: np.ndarray  # (n,) rows of the domain with a missing row or col value
    dropped: np.ndarray  # (n,) rows of a level left out for having no weight
    cells: np.ndarray | None = None  # (n,) the cell codes, when two_way has them

    @property
    def nr(self) -> int:
        return len(self.row_levels)

    @property
    def nc(self) -> int:
        return len(self.col_levels)

    def cell(self) -> np.ndarray:
        """Cell code, row level fastest (R's ``interaction(row, col)``); -1 if missing."""
        if self.cells is not None:
            return self.cells
        return np.where((self.r >= 0) & (self.c >= 0), self.r + self.nr * self.c, -1)

    def frame(self, values: np.ndarray) -> pd.DataFrame:
        """(nr * nc,) cell values, row level fastest, as a row-by-col DataFrame."""
        return pd.DataFrame(values.reshape(self.nc, self.nr).T,
                            index=pd.Index(self.row_levels, name=self.row),
                            columns=pd.Index(self.col_levels, name=self.col))


@dataclass(frozen=True)
class Groups:
    """A numeric column by the levels of a group column, as the two-group and
    rank tests read them: the design without rows missing either (``design``),
    each row's group code (-1 where missing) and the levels, the rows in the
    analysis (``rows``), the group codes seen there (``seen``), and the rows
    missing ``y`` or ``group`` (``missing``)."""

    y: str
    group: str
    design: SurveyDesign
    missing: np.ndarray
    codes: np.ndarray
    levels: list[Any]
    rows: np.ndarray
    seen: np.ndarray


def numeric_by_group(design: SurveyDesign, y: Any, group: Any, na_rm: bool,
                     what: str) -> Groups:
    """Check a numeric ``y`` and a ``group`` column and find the groups in the
    rows analysed (errors name ``what``, the calling test)."""
    y = column_name(y, "y")
    group = column_name(group, "group")
    check_columns(design.data, [y, group], what)
    col = design.data[y]
    if isinstance(col.dtype, pd.CategoricalDtype) or not (
            pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
        raise EstimationError(f"{what}: y column {y!r} must be numeric, not {col.dtype}")
    missing = check_missing(design, [y, group], na_rm, what)
    d = design.subset(~missing) if missing.any() else design
    codes, levels = levels_of(design.data[group])
    rows = d.present & (codes >= 0)
    return Groups(y, group, d, missing, codes, levels, rows, np.unique(codes[rows]))


def two_way(design: SurveyDesign, row: Any, col: Any, na_rm: bool, drop_empty: bool,
             what: str) -> TwoWay:
    row = column_name(row, "row")
    col = column_name(col, "col")
    check_columns(design.data, [row, col], what)
    if row == col:
        raise EstimationError(f"{what}: row and col are the same column {row!r}")
    missing = check_missing(design, [row, col], na_rm, what)
    left_out = np.zeros(len(missing), dtype=bool)
    r, row_levels = levels_of(design.data[row])
    c, col_levels = levels_of(design.data[col])
    # weighted margins over the rows analysed: a level without weight is an
    # empty row or column of the table
    w = design.unmasked_weights
    ok = design.present & ~missing & (r >= 0) & (c >= 0)
    nr, nc = len(row_levels), len(col_levels)
    cell = r + nr * c
    every = bool(ok.all())
    table = (bincount(cell, weights=w, minlength=nr * nc) if every else
             bincount(cell[ok], weights=w[ok], minlength=nr * nc)).reshape(nc, nr)
    margins = []
    for codes, levels, name, wsum in ((r, row_levels, row, table.sum(axis=0)),
                                      (c, col_levels, col, table.sum(axis=1))):
        empty = wsum <= 0
        if empty.any():
            if not drop_empty:
                names = ", ".join(repr(levels[i]) for i in np.flatnonzero(empty))
                raise DomainError(
                    f"{what}: the table has an empty {'row' if name == row else 'column'}: "
                    f"level {names} of {name!r} has no observations with positive weight "
                    f"in the rows analysed. Leave the level out (drop_empty=True, or a "
                    f"categorical column without it) or restrict the design to the "
                    f"levels present")
            keep = np.flatnonzero(~empty)
            remap = np.full(len(levels), -1, dtype=np.int64)
            remap[keep] = np.arange(keep.size)
            dropped = (codes >= 0) & empty[np.maximum(codes, 0)]
            codes = np.where(codes >= 0, remap[np.maximum(codes, 0)], -1)
            levels = [levels[i] for i in keep]
            left_out |= dropped
        margins.append((codes, levels))
    (r, row_levels), (c, col_levels) = margins
    for levels, name in ((row_levels, row), (col_levels, col)):
        if len(levels) < 2:
            raise DomainError(f"{what}: {name!r} has {len(levels)} level(s) with observations "
                              f"in the rows analysed ({', '.join(map(repr, levels))}); a "
                              f"test of independence needs at least two")
    # the rows of a dropped level (all of weight zero) leave the table as rows
    # with a missing value do, and leave the design as R's subset() would
    # every row has both values and no level was left out: the cells are those above
    known = every and len(row_levels) == nr and len(col_levels) == nc
    return TwoWay(row=row, col=col, r=r, c=c, row_levels=row_levels,
                   col_levels=col_levels, missing=missing | left_out, dropped=left_out,
                   cells=cell if known else None)
