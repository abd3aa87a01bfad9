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

import numpy as np
import pandas as pd

from ..errors import DesignError, MissingValueError

__all__ = ["SumsSpec", "cells_design_frame", "combine_sums", "reduce_frame"]

#: prefix of the statistics' column names (never a user's column)
PREFIX = "__ib_"
COMPLETE = PREFIX + "complete"
N = PREFIX + "n"
NPOS = PREFIX + "npos"
WMISS = PREFIX + "wmiss"
SW = PREFIX + "sw"
WMIN = PREFIX + "wmin"


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
        Numeric columns whose weighted totals (and weighted cross products,
        for design effects) are summed.
    weights, probs : str or None
        The weight column, or the inclusion-probability column (weight
        ``1 / probs``); neither: every weight is 1.
    binary : bool
        Also count the values that are neither 0 nor 1 (for proportions).
    """

    keys: tuple[str, ...]
    by: tuple[str, ...] = ()
    variables: tuple[str, ...] = ()
    weights: str | None = None
    probs: str | None = None
    binary: bool = False

    @property
    def group(self) -> list[str]:
        """The columns the rows are grouped by."""
        return [*self.keys, *self.by, COMPLETE]

    @property
    def pairs(self) -> list[tuple[int, int]]:
        q = len(self.variables)
        return [(j, k) for j in range(q) for k in range(j, q)]

    def total(self, j: int) -> str:
        """Column of the weighted total of variable ``j``."""
        return f"{PREFIX}s{j}"

    def cross(self, j: int, k: int) -> str:
        """Column of the weighted total of the product of variables ``j`` and ``k``."""
        return f"{PREFIX}q{j}_{k}"

    def missing(self, j: int) -> str:
        return f"{PREFIX}m{j}"

    def nonbinary(self, j: int) -> str:
        return f"{PREFIX}b{j}"

    @property
    def sum_columns(self) -> list[str]:
        """The statistics added when partial results are combined."""
        q = len(self.variables)
        cols = [N, NPOS, WMISS, SW]
        cols += [self.total(j) for j in range(q)]
        cols += [self.cross(j, k) for j, k in self.pairs]
        cols += [self.missing(j) for j in range(q)]
        if self.binary:
            cols += [self.nonbinary(j) for j in range(q)]
        return cols

    @property
    def columns(self) -> list[str]:
        """Every column of a result: the group columns, then the statistics."""
        return [*self.group, *self.sum_columns, WMIN]


def _as_float(frame: pd.DataFrame, name: str, what: str) -> np.ndarray:
    col = frame[name]
    if isinstance(col.dtype, pd.CategoricalDtype) or not (
            pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
        raise DesignError(f"{what} column {name!r} must be numeric, not {col.dtype}")
    return np.asarray(col.to_numpy(dtype=float, na_value=np.nan), dtype=float)


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
        positive weight and with a missing weight, the total of the weights,
        the weighted totals and cross products of the variables (over the
        cell's rows; meaningful for complete cells), the count of missing
        values per variable, and the smallest weight.

    Notes
    -----
    One pandas ``groupby`` over the rows: :math:`T_c(v) = \\sum_{i \\in c} v_i`
    for every statistic column :math:`v`.
    """
    n = len(frame)
    if spec.weights is not None:
        w = _as_float(frame, spec.weights, "weights")
    elif spec.probs is not None:
        with np.errstate(divide="ignore"):
            w = 1.0 / _as_float(frame, spec.probs, "probs")
    else:
        w = np.ones(n)
    wmiss = np.isnan(w)
    w0 = np.where(wmiss, 0.0, w)
    stats: dict[str, np.ndarray] = {}
    q = len(spec.variables)
    V = np.empty((n, q))
    for j, name in enumerate(spec.variables):  # over variables
        V[:, j] = _as_float(frame, name, "variable")
    miss = np.isnan(V)
    complete = ~miss.any(axis=1)
    Vz = np.where(miss, 0.0, V)
    stats[N] = np.ones(n, dtype=np.int64)
    stats[NPOS] = (w0 > 0).astype(np.int64)
    stats[WMISS] = wmiss.astype(np.int64)
    stats[SW] = w0
    WV = w0[:, None] * Vz
    for j in range(q):  # over variables
        stats[spec.total(j)] = WV[:, j]
    for j, k in spec.pairs:
        stats[spec.cross(j, k)] = WV[:, j] * Vz[:, k]
    for j in range(q):
        stats[spec.missing(j)] = miss[:, j].astype(np.int64)
    if spec.binary:
        for j in range(q):
            stats[spec.nonbinary(j)] = (~miss[:, j] & (Vz[:, j] != 0)
                                        & (Vz[:, j] != 1)).astype(np.int64)
    stats[WMIN] = np.where(wmiss, np.inf, w)
    keys = {c: frame[c].array for c in [*spec.keys, *spec.by]}
    rows = pd.DataFrame({**{f"{PREFIX}k{i}": v for i, v in enumerate(keys.values())},
                         COMPLETE: complete, **stats}, copy=False)
    group = [f"{PREFIX}k{i}" for i in range(len(keys))] + [COMPLETE]
    agg = {c: "sum" for c in spec.sum_columns}
    agg[WMIN] = "min"
    out = rows.groupby(group, dropna=False, observed=True, sort=False).agg(agg).reset_index()
    out.columns = [*keys.keys(), COMPLETE, *out.columns[len(group):]]
    return out[spec.columns]


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
        One row per cell: the statistics summed (the smallest weight: its
        minimum), so a cell split across partitions is one cell again.

    Notes
    -----
    Sums are associative: :math:`T_c = \\sum_p T_{c,p}` over the parts
    :math:`p`, which is what makes a tree reduction exact.
    """
    frame = pd.concat([p for p in parts], ignore_index=True)
    agg = {c: "sum" for c in spec.sum_columns}
    agg[WMIN] = "min"
    out = frame.groupby(spec.group, dropna=False, observed=True, sort=False).agg(agg)
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
        Whether rows with missing values may be left out.
    """
    wname = spec.weights or spec.probs
    if int(sums[WMISS].sum()):
        raise MissingValueError(f"weights column {wname!r} has {int(sums[WMISS].sum())} "
                                f"missing value(s)")
    wmin = float(sums[WMIN].min())
    if spec.weights is not None and wmin < 0:
        raise DesignError(f"weights column {spec.weights!r} has a negative weight ({wmin})")
    if spec.probs is not None and wmin < 1:
        raise DesignError(f"probs column {spec.probs!r} must be in (0, 1]")
    for name in [*spec.keys, *spec.by]:
        bad = sums[name].isna().to_numpy()
        if bad.any():
            k = int(sums[N].to_numpy()[bad].sum())
            kind = "by" if name in spec.by else "design"
            raise MissingValueError(f"{what}: {kind} column {name!r} has {k} missing "
                                    f"value(s)")
    if not na_rm:
        counts = {name: int(sums[spec.missing(j)].sum())
                  for j, name in enumerate(spec.variables)}
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
    out = {c: sums[c] for c in [*spec.keys, *spec.by]}
    sw = sums[SW].to_numpy(dtype=float)
    complete = sums[COMPLETE].to_numpy(dtype=bool)
    out[weight] = pd.Series(sw, index=sums.index)
    with np.errstate(divide="ignore", invalid="ignore"):
        for j, name in enumerate(spec.variables):  # over variables
            t = sums[spec.total(j)].to_numpy(dtype=float)
            v = np.where(sw != 0, t / sw, 0.0)
            out[name] = pd.Series(np.where(complete, v, np.nan), index=sums.index)
    return pd.DataFrame(out)
