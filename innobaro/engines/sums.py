"""The seam between a data engine and the variance engine: grouped sums per PSU cell.

Mean, total, ratio and proportion are ratios of weighted totals, and their
influence values are linear in the row's weighted values: for a mean,
:math:`z_i = w_i (y_i - \\hat{\\bar y}_d) / \\hat N_d` in domain :math:`d`. The total
of :math:`z` over a PSU (or a final-stage unit) :math:`u` is therefore

.. math::

    Z_{ud} = (T_{ud}(wy) - \\hat{\\bar y}_d\\, T_{ud}(w)) / \\hat N_d,

a linear combination of the cell totals :math:`T_{ud}(wy)` and :math:`T_{ud}(w)`.
Those cell totals (and the counts of rows) are the sufficient statistics of
the estimate and its linearisation variance. An engine only computes them:
:func:`reduce_frame` in numpy/pandas (in memory, and per partition on Dask),
SQL ``GROUP BY`` on DuckDB; :func:`combine_sums` adds partial results (the
tree reduction of Dask). :func:`cells_design` turns them into an in-memory
:class:`~innobaro.Design` with one row per cell, whose weight is
:math:`T_{ud}(w)` and whose values are :math:`T_{ud}(wy) / T_{ud}(w)`: on it
innobaro's own estimators give the same estimates, the same PSU totals of the
influence values, hence the same covariance matrix, degrees of freedom and
lonely-PSU treatment, from the one variance engine (Wolter 2007, sec. 6.5;
Lumley 2010, sec. 2.2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DesignError, MissingValueError

__all__ = ["SumsSpec", "cells_design_frame", "check_rows", "combine_sums", "reduce_frame"]

#: prefix of the statistics' column names (never a user's column)
PREFIX = "__ib_"
COMPLETE = PREFIX + "complete"
N = PREFIX + "n"
NPOS = PREFIX + "npos"
WMISS = PREFIX + "wmiss"
WBAD = PREFIX + "wbad"
SW = PREFIX + "sw"


@dataclass(frozen=True)
class SumsSpec:
    """What an engine sums, per cell of (design keys, domain, completeness).

    Attributes
    ----------
    keys : tuple of str
        Design columns that define the cells: strata, the stages' unit ids
        that the variance needs, fpc columns.
    by : tuple of str
        Domain columns.
    variables : tuple of str
        Numeric columns whose weighted totals are summed.
    weights, probs : str or None
        The weight column, or the inclusion-probability column (weight
        ``1 / probs``); neither: every weight is 1.
    binary : bool
        Also count the values that are neither 0 nor 1 (for proportions).
    moments : bool
        Also sum the weighted cross products of the variables (for design
        effects).
    count_missing : bool
        Also count the missing values of each variable (for the message of
        the error).
    level : str or None
        A categorical variable whose levels are cells of their own (its
        shares or counts); a row without a level is incomplete.
    """

    keys: tuple[str, ...]
    by: tuple[str, ...] = ()
    variables: tuple[str, ...] = ()
    weights: str | None = None
    probs: str | None = None
    binary: bool = False
    moments: bool = False
    count_missing: bool = False
    level: str | None = None

    @property
    def key_columns(self) -> list[str]:
        """The design and domain columns, each once (a domain may be a stratum)."""
        return list(dict.fromkeys([*self.keys, *self.by, *([self.level] if self.level else [])]))

    @property
    def group(self) -> list[str]:
        """The columns the rows are grouped by."""
        return [*self.key_columns, COMPLETE]

    @property
    def pairs(self) -> list[tuple[int, int]]:
        """The pairs of variables whose cross products are summed (with ``moments``)."""
        q = len(self.variables)
        return [(j, k) for j in range(q) for k in range(j, q)] if self.moments else []

    def total(self, j: int) -> str:
        """Column of the weighted total of variable ``j``."""
        return f"{PREFIX}s{j}"

    def cross(self, j: int, k: int) -> str:
        """Column of the weighted total of the product of variables ``j`` and ``k``."""
        return f"{PREFIX}q{j}_{k}"

    def missing(self, j: int) -> str:
        """Column of the count of missing values of variable ``j``."""
        return f"{PREFIX}m{j}"

    @property
    def level_missing(self) -> str:
        """Column of the count of rows without a level (with ``count_missing``)."""
        return f"{PREFIX}mlevel"

    def nonbinary(self, j: int) -> str:
        """Column of the count of values of variable ``j`` other than 0 and 1."""
        return f"{PREFIX}b{j}"

    @property
    def sum_columns(self) -> list[str]:
        """The statistics: every one is a sum, added when partial results are combined."""
        q = len(self.variables)
        cols = [N, NPOS, WMISS, WBAD, SW]
        cols += [self.total(j) for j in range(q)]
        cols += [self.cross(j, k) for j, k in self.pairs]
        if self.count_missing:
            cols += [self.missing(j) for j in range(q)]
            if self.level:
                cols.append(self.level_missing)
        if self.binary:
            cols += [self.nonbinary(j) for j in range(q)]
        return cols

    @property
    def columns(self) -> list[str]:
        """Every column of a result: the group columns, then the statistics."""
        return [*self.group, *self.sum_columns]


def _as_float(frame: pd.DataFrame, name: str, what: str) -> np.ndarray:
    col = frame[name]
    if isinstance(col.dtype, pd.CategoricalDtype) or not (
            pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
        raise DesignError(f"{what} column {name!r} must be numeric, not {col.dtype}")
    return np.asarray(col.to_numpy(dtype=float, na_value=np.nan), dtype=float)


#: largest code space compressed by a dense ``bincount`` rather than by hashing
_DENSE = 1 << 23


def _compress(code: np.ndarray, space: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes ``0 .. G-1`` for the distinct values of ``code`` (in ``0 .. space-1``),
    and those values."""
    if space <= _DENSE:
        cells = np.flatnonzero(np.bincount(code, minlength=space))
        remap = np.zeros(space, dtype=np.int64)
        remap[cells] = np.arange(cells.size)
        return remap[code], cells
    new, cells = pd.factorize(code)
    return new.astype(np.int64), np.asarray(cells, dtype=np.int64)


def _cells(frame: pd.DataFrame, names: list[str], complete: np.ndarray
           ) -> tuple[np.ndarray, dict[str, Any], np.ndarray]:
    """Cell code of each row (0 .. G-1), the key values of each cell, and its
    completeness.

    The key columns' level codes are combined as a mixed-radix integer,
    compressed to the codes present whenever the code space outgrows the rows
    (by a dense ``bincount`` when it is small, else one ``factorize``)."""
    n = len(frame)
    digits: list[np.ndarray] = []
    levels: list[Any] = []
    for name in names:  # over the key columns, not the rows
        part, uniques = pd.factorize(frame[name], use_na_sentinel=False)
        digits.append(part.astype(np.int64))
        levels.append(uniques)
    sizes = [max(len(u), 1) for u in levels] + [2]
    digits.append(complete.astype(np.int64))
    code = np.zeros(n, dtype=np.int64)
    space = 1
    chain: list[tuple[np.ndarray | None, int]] = []  # per digit: the cells kept, its size
    for i, (d, size) in enumerate(zip(digits, sizes, strict=True)):
        code = code * size + d
        space *= size
        if space > 4 * n or i == len(digits) - 1:
            code, cells = _compress(code, space)
            chain.append((cells, size))
            space = int(cells.size)
        else:
            chain.append((None, size))
    # each cell's digits, from the last
    ids = np.arange(space, dtype=np.int64)
    found: list[np.ndarray] = []
    for cells, size in reversed(chain):
        if cells is not None:
            ids = cells[ids]
        ids, digit = np.divmod(ids, size)
        found.append(digit)
    found.reverse()
    keys = {name: pd.Series(levels[k].take(found[k])) for k, name in enumerate(names)}
    return code, keys, found[-1].astype(bool)


def reduce_frame(frame: pd.DataFrame, spec: SumsSpec) -> pd.DataFrame:
    """Grouped sums of one in-memory frame (or one partition of a Dask frame).

    Parameters
    ----------
    frame : pandas.DataFrame
        The rows, with the columns the spec names.
    spec : SumsSpec

    Returns
    -------
    pandas.DataFrame
        One row per cell present in ``frame``, with the columns
        ``spec.columns``: the group values, the count of rows, of rows with
        positive weight, with a missing weight and with an invalid one
        (negative or infinite; probabilities outside (0, 1]), the total of
        the weights, the weighted totals of the variables (meaningful in the
        complete cells; the other cells hold the rows with a missing value),
        and what ``spec`` asks for besides.

    Notes
    -----
    One factorisation of the key columns and one ``bincount`` per
    statistic: :math:`T_c(v) = \\sum_{i \\in c} v_i`.
    """
    n = len(frame)
    if spec.weights is not None:
        w = _as_float(frame, spec.weights, "weights")
        bad = (w < 0) | np.isinf(w)
    elif spec.probs is not None:
        p = _as_float(frame, spec.probs, "probs")
        bad = (p <= 0) | (p > 1)
        with np.errstate(divide="ignore"):
            w = 1.0 / p
    else:
        w = np.ones(n)
        bad = np.zeros(n, dtype=bool)
    q = len(spec.variables)
    V = np.empty((n, q))
    for j, name in enumerate(spec.variables):  # over variables
        V[:, j] = _as_float(frame, name, "variable")
    miss = np.isnan(V)
    complete = np.asarray(~miss.any(axis=1) if q else np.ones(n, dtype=bool), dtype=bool)
    no_level = frame[spec.level].isna().to_numpy() if spec.level else None
    if no_level is not None:
        complete &= ~no_level
    code, keys, cell_complete = _cells(frame, spec.key_columns, complete)
    G = cell_complete.size

    def total(v: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(code, weights=v, minlength=G)

    stats: dict[str, np.ndarray] = {
        N: total().astype(np.int64),
        NPOS: total((w > 0).astype(float)).astype(np.int64),
        WMISS: total(np.isnan(w).astype(float)).astype(np.int64),
        WBAD: total(bad.astype(float)).astype(np.int64),
        SW: total(w)}
    WV = w[:, None] * V  # NaN only in the cells of incomplete rows
    for j in range(q):  # over variables
        stats[spec.total(j)] = total(WV[:, j])
    for j, k in spec.pairs:
        stats[spec.cross(j, k)] = total(WV[:, j] * V[:, k])
    if spec.count_missing:
        for j in range(q):
            stats[spec.missing(j)] = total(miss[:, j].astype(float)).astype(np.int64)
        if no_level is not None:
            stats[spec.level_missing] = total(no_level.astype(float)).astype(np.int64)
    if spec.binary:
        for j in range(q):
            stats[spec.nonbinary(j)] = total(
                (~miss[:, j] & (V[:, j] != 0) & (V[:, j] != 1)).astype(float)).astype(np.int64)
    out: dict[str, Any] = dict(keys)
    out[COMPLETE] = pd.Series(cell_complete)
    out.update({c: pd.Series(v) for c, v in stats.items()})
    return pd.DataFrame(out)[spec.columns]


def combine_sums(parts: Sequence[pd.DataFrame], spec: SumsSpec) -> pd.DataFrame:
    """Add partial grouped sums (of partitions, files, or earlier combinations).

    Parameters
    ----------
    parts : sequence of pandas.DataFrame
        Results of :func:`reduce_frame` (or of the SQL of the DuckDB engine).
    spec : SumsSpec

    Returns
    -------
    pandas.DataFrame
        One row per cell, its statistics summed, so a cell split across
        partitions is one cell again.

    Notes
    -----
    Sums are associative: :math:`T_c = \\sum_p T_{c,p}` over the parts
    :math:`p`, which is what makes a tree reduction exact.
    """
    frame = pd.concat(list(parts), ignore_index=True)
    if len(parts) == 1:
        return frame
    out = frame.groupby(spec.group, dropna=False, observed=True, sort=False)[
        spec.sum_columns].sum()
    return out.reset_index()[spec.columns]


def check_rows(sums: pd.DataFrame, spec: SumsSpec, what: str, *, na_rm: bool) -> None:
    """The errors of bad rows, named as the in-memory design names them.

    Parameters
    ----------
    sums : pandas.DataFrame
        Combined grouped sums.
    spec : SumsSpec
    what : str
        The estimator's name, for the messages.
    na_rm : bool
        Whether rows with missing values may be left out (without, and with
        ``spec.count_missing``, missing values are an error naming their counts).
    """
    wname = spec.weights or spec.probs
    n_miss = int(sums[WMISS].sum())
    if n_miss or np.isnan(sums[SW].to_numpy(dtype=float)).any():
        what_w = "weights" if spec.weights else "probs"
        raise MissingValueError(f"{what_w} column {wname!r} has "
                                f"{n_miss or 'some'} missing value(s)")
    n_bad = int(sums[WBAD].sum())
    if n_bad and spec.weights is not None:
        raise DesignError(f"weights column {spec.weights!r} has {n_bad} negative or "
                          f"infinite value(s); weights must be finite and >= 0")
    if n_bad:
        raise DesignError(f"probs column {spec.probs!r} must be in (0, 1]; {n_bad} row(s) "
                          f"are not")
    for name in spec.key_columns:
        if name == spec.level:
            continue
        bad = sums[name].isna().to_numpy()
        if bad.any():
            k = int(sums[N].to_numpy()[bad].sum())
            kind = "by" if name in spec.by else "design"
            raise MissingValueError(f"{what}: {kind} column {name!r} has {k} missing "
                                    f"value(s)")
    if not na_rm and spec.count_missing:
        counts = {name: int(sums[spec.missing(j)].sum())
                  for j, name in enumerate(spec.variables)}
        if spec.level:
            counts[spec.level] = int(sums[spec.level_missing].sum())
        listed = ", ".join(f"{c!r} ({k} missing)" for c, k in counts.items() if k)
        if listed:
            raise MissingValueError(f"{what}: {listed}; pass na_rm=True to estimate "
                                    f"from the rows with values (the rows stay in the "
                                    f"design with weight zero)")


def cells_design_frame(sums: pd.DataFrame, spec: SumsSpec, weight: str) -> pd.DataFrame:
    """The cells as rows of an in-memory design.

    Parameters
    ----------
    sums : pandas.DataFrame
        Combined grouped sums.
    spec : SumsSpec
    weight : str
        Name of the weight column of the result.

    Returns
    -------
    pandas.DataFrame
        The group columns, the cell's weight :math:`T_c(w)` and, per
        variable, :math:`T_c(wy) / T_c(w)` (0 where the cell's weight is 0,
        missing in the cells of rows with a missing value).
    """
    out = {c: sums[c] for c in spec.key_columns}
    sw = sums[SW].to_numpy(dtype=float)
    complete = sums[COMPLETE].to_numpy(dtype=bool)
    out[weight] = pd.Series(sw, index=sums.index)
    with np.errstate(divide="ignore", invalid="ignore"):
        for j, name in enumerate(spec.variables):  # over variables
            t = sums[spec.total(j)].to_numpy(dtype=float)
            v = np.where(sw != 0, t / sw, 0.0)
            out[name] = pd.Series(np.where(complete, v, np.nan), index=sums.index)
    return pd.DataFrame(out)
