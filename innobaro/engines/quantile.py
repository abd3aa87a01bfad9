"""Quantiles over an engine, exactly: a two-pass bracketing of the weighted CDF.

A quantile is not a ratio of totals, but it needs the rows themselves only near it.
Pass 1 sums the weights over ``B`` equal-width bins of the variable per domain (one
``GROUP BY``), which brackets every quantile asked for, and the Woodruff interval's
ends, between two bin edges: the bins whose cumulative weight share is within
:math:`\\delta` of :math:`p` (first a few standard errors of a share, :math:`10 /
\\sqrt{n_d}` in a domain of :math:`n_d` rows, at most 0.05). Pass 2 brings the rows of
those bins to memory, and sums the others per (stratum, PSU, domain, gap between
brackets). In memory, :func:`innobaro.quantile` runs on a design whose rows are the
bracketed rows and, per cell of a gap, one row with the cell's weight total and a
value between the brackets around the gap (the smallest or largest value for the gaps
at the ends). On it the cumulative weights inside the brackets, hence the quantile
(R's ``qrule="math"``, :math:`\\hat Q(p) = \\min\\{x : \\hat F(x) \\ge p\\}`), are
those of the rows; so are the PSU totals of :math:`w_i [y_i \\le \\hat Q(p)]`, hence
:math:`\\hat F(\\hat Q(p))`, its standard error and the Woodruff interval (Woodruff
1952), as long as every value read lies inside a bracket. When one does not, the
bracket is widened (:math:`\\delta` doubled) and pass 2 repeated; with :math:`\\delta
\\ge 1` every row is brought.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from .._validate import as_column_list
from ..design import Design
from ..errors import EstimationError, InnobaroWarning, UnsupportedDesignError
from ..estimators import quantile as _quantile_of
from ..intervals import FixedInterval
from ..results import Estimate
from .core import EngineDesign, FrameSource, Source
from .replicates import column_range
from .sums import COMPLETE, SW, N, SumsSpec

__all__ = ["BINS", "ExtendedSource", "add_columns", "engine_quantile"]

#: number of equal-width bins of the first pass
BINS = 2048
_BIN = "__ib_bin"
_GAP = "__ib_gap"
_W = "__ib_w"
#: the largest share of the weight around each probability first brought to memory
_DELTA = 0.05
#: the first share is _SPREAD / sqrt(rows of the domain), at least _MIN_DELTA
_SPREAD = 10.0
_MIN_DELTA = 1e-4


def _q(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def _bin_sql(y: str, lo: float, scale: float) -> str:
    v = f"CAST({_q(y)} AS DOUBLE)"
    return (f"CAST(least(greatest(floor(({v} - {lo!r}) * {scale!r}), 0), {BINS - 1}) "
            f"AS BIGINT)")


def _bins(frame: pd.DataFrame, y: str, lo: float, scale: float) -> np.ndarray:
    v = frame[y].to_numpy(dtype=float, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        b = np.clip(np.floor((v - lo) * scale), 0, BINS - 1)
    return np.where(np.isnan(v), -1, b).astype(np.int64)


def add_columns(frame: pd.DataFrame, y: str, lo: float, scale: float,
                gaps: np.ndarray | None) -> pd.DataFrame:
    """The rows with their bin (pass 1) or their gap between brackets (pass 2).

    Parameters
    ----------
    frame : pandas.DataFrame
        Rows (a partition of a Dask frame, or an in-memory frame).
    y : str
        The variable.
    lo, scale : float
        Bin :math:`b = \\lfloor (y - lo) \\cdot scale \\rfloor`, clipped to ``0 .. BINS-1``.
    gaps : (BINS,) int array or None
        The gap of each bin (-1: inside a bracket); a missing value is gap -2.

    Returns
    -------
    pandas.DataFrame
        ``frame`` with the column ``__ib_bin`` (or ``__ib_gap``).
    """
    b = _bins(frame, y, lo, scale)
    if gaps is None:
        return frame.assign(**{_BIN: b})
    return frame.assign(**{_GAP: np.where(b < 0, -2, gaps[np.maximum(b, 0)])})


def _gap_sql(y: str, lo: float, scale: float, gaps: np.ndarray) -> str:
    b = _bin_sql(y, lo, scale)
    cases = [f"WHEN coalesce(isnan(CAST({_q(y)} AS DOUBLE)), TRUE) THEN -2"]
    start = 0
    for k in range(1, BINS + 1):  # over bins: one WHEN per run of equal gap codes
        if k == BINS or gaps[k] != gaps[start]:
            cases.append(f"WHEN {b} <= {k - 1} THEN {int(gaps[start])}")
            start = k
    return f"CASE {' '.join(cases)} END"


class _Extended:
    """A source of the same engine whose rows carry the bin or gap column."""

    def __init__(self, source: Source, y: str, lo: float, scale: float,
                 gaps: np.ndarray | None) -> None:
        self.engine = source.engine
        self.source = source
        self.args = (y, lo, scale, gaps)
        name = _BIN if gaps is None else _GAP
        if source.engine == "duckdb":
            from .duckdb_engine import DuckDBSource

            sql = _bin_sql(y, lo, scale) if gaps is None else _gap_sql(y, lo, scale, gaps)
            rel = source.relation.project(f"*, {sql} AS {_q(name)}")  # type: ignore
            self.inner: Any = DuckDBSource(rel, source.connection)  # type: ignore
        elif source.engine == "dask":
            from .dask_engine import DaskSource

            frame = source.frame  # type: ignore[attr-defined]
            empty = pd.DataFrame({c: pd.Series(dtype=t) for c, t in frame.dtypes.items()})
            meta = add_columns(empty, *self.args)
            self.inner = DaskSource(frame.map_partitions(add_columns, *self.args, meta=meta),
                                    split_every=source.split_every)  # type: ignore
        else:
            self.inner = FrameSource(add_columns(source.frame, *self.args))  # type: ignore

    def sums(self, spec: SumsSpec) -> pd.DataFrame:
        return self.inner.sums(spec)  # type: ignore[no-any-return]

    def bracketed_rows(self, columns: list[str]) -> pd.DataFrame:
        """The rows inside a bracket (gap -1), with ``columns``."""
        if self.engine == "duckdb":
            rel = self.inner.relation.filter(f"{_q(_GAP)} = -1")
            return rel.project(", ".join(_q(c) for c in columns)).df()  # type: ignore
        if self.engine == "dask":
            frame = self.inner.frame
            return frame[frame[_GAP] == -1][columns].compute()  # type: ignore
        frame = self.inner.frame
        return frame.loc[frame[_GAP].to_numpy() == -1, columns]  # type: ignore


#: the source whose rows carry the bin or gap column (advanced; the replicate
#: quantile of :mod:`innobaro.engines.replicates` builds on it)
ExtendedSource = _Extended


def engine_quantile(design: EngineDesign, y: str, q: Any, *, by: Any = None,
                    level: float = 0.95, na_rm: bool = False,
                    interval_type: str = "mean") -> Estimate:
    """Quantiles of a column of an engine design, as :func:`innobaro.quantile`.

    Parameters
    ----------
    design : EngineDesign
    y : str
        One numeric column.
    q : float or list of float
        Probabilities in [0, 1].
    by : str or list of str, optional
    level : float, default 0.95
        The level of the Woodruff interval (``ci()`` gives it at this level only).
    na_rm : bool, default False
    interval_type : {"mean", "xlogit", "asin"}, default "mean"
        The interval of :math:`\\hat F(\\hat Q(p))` (R's ``interval.type``).

    Returns
    -------
    Estimate
        Equal to :func:`innobaro.quantile` with ``qrule="math"`` on the rows.

    Notes
    -----
    :math:`\\hat Q(p) = \\min\\{x : \\hat F(x) \\ge p\\}`, with the Woodruff interval
    :math:`[\\hat Q(p_L), \\hat Q(p_U)]` for the interval :math:`[p_L, p_U]` of
    :math:`\\hat F(\\hat Q(p))` (Woodruff 1952); see :mod:`innobaro.engines.quantile`
    for the passes.
    """
    if not isinstance(y, str):
        raise EstimationError("quantile on an engine design: give one column (y=\"name\")")
    if interval_type not in ("mean", "xlogit", "asin"):
        raise UnsupportedDesignError(
            f"quantile on an engine design: interval_type must be 'mean', 'xlogit' or "
            f"'asin' (the others need the rows' counts); got {interval_type!r}")
    probs = np.atleast_1d(np.asarray(q, dtype=float))
    if probs.ndim != 1 or ((probs < 0) | (probs > 1) | np.isnan(probs)).any():
        raise EstimationError(f"quantile probabilities must be in [0, 1]; got {q!r}")
    source: Source = design.source
    base: SumsSpec = design.sums_spec
    by_cols = as_column_list(by, "by")
    # the variable's missing values and the domains' columns, named as in memory
    design.checked_sums(replace(base, by=tuple(by_cols), variables=(y,)), "quantile", na_rm)
    lo_, hi_, _ = column_range(source, [y])
    lo, hi = float(lo_[0]), float(hi_[0])
    if np.isnan(lo):
        raise EstimationError(f"quantile: column {y!r} has no values")
    scale = BINS / (hi - lo) if hi > lo else 0.0
    # pass 1: weight per (domain, bin)
    hist_spec = SumsSpec(keys=(), by=(*by_cols, _BIN), variables=(y,), weights=base.weights,
                         probs=base.probs)
    hist = _Extended(source, y, lo, scale, None).sums(hist_spec)
    hist = hist[hist[COMPLETE].to_numpy(dtype=bool)]
    W: np.ndarray
    if by_cols:
        per = hist.pivot_table(index=by_cols, columns=_BIN, values=SW, aggfunc="sum",
                               observed=True).fillna(0.0)
        W = np.zeros((len(per), BINS))
        W[:, per.columns.to_numpy(dtype=np.int64)] = per.to_numpy(dtype=float)
        rows = hist.groupby(by_cols, observed=True)[N].sum().reindex(per.index).to_numpy()
    else:
        W = np.bincount(hist[_BIN].to_numpy(dtype=np.int64),
                        weights=hist[SW].to_numpy(dtype=float), minlength=BINS)[None, :]
        rows = np.array([hist[N].sum()])
    cum = np.cumsum(W, axis=1)
    total = cum[:, -1:]
    # the first bracket: a few standard errors of a share (design effect up to
    # about 10) in each domain, so the rows brought shrink as the sample grows
    delta = np.clip(_SPREAD / np.sqrt(np.maximum(rows.astype(float), 1.0)), _MIN_DELTA,
                    _DELTA)[:, None]
    while True:
        marks = np.zeros(BINS + 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            share = cum / total
        for p in probs:  # over probabilities: the bins within delta of each, per domain
            first = (share >= p - delta).argmax(axis=1)
            above = share >= p + delta
            last = np.where(above.any(axis=1), above.argmax(axis=1), BINS - 1)
            np.add.at(marks, np.maximum(first - 1, 0), 1.0)
            np.add.at(marks, np.minimum(last + 1, BINS - 1) + 1, -1.0)
        wanted = np.cumsum(marks)[:BINS] > 0
        if (delta >= 1).all():
            wanted[:] = True
        result = _bracketed(design, source, base, y, probs, by_cols, lo, scale, wanted,
                            level, na_rm, interval_type, lo, hi)
        if result is not None:
            return result
        delta *= 2


def _bracketed(design: EngineDesign, source: Source, base: SumsSpec, y: str,
               probs: np.ndarray, by_cols: list[str], lo: float, scale: float,
               wanted: np.ndarray, level: float, na_rm: bool, interval_type: str,
               vmin: float, vmax: float) -> Estimate | None:
    """Pass 2 and the in-memory quantile; None when a value read lies in a gap."""
    run = np.cumsum(np.r_[0, np.diff(wanted.astype(np.int64)) != 0])  # run of each bin
    gaps = np.where(wanted, -1, run)
    ext = _Extended(source, y, lo, scale, gaps)
    weight = base.weights or base.probs
    keys = list(dict.fromkeys([*base.keys, *by_cols]))
    cols = list(dict.fromkeys([*keys, y, *([weight] if weight else [])]))
    rows = ext.bracketed_rows(cols)
    spec = SumsSpec(keys=base.keys, by=(*by_cols, _GAP), variables=(y,), weights=base.weights,
                    probs=base.probs)
    agg = ext.sums(spec)
    agg = agg[agg[_GAP].to_numpy() != -1]
    # a value for each gap between the brackets around it
    bins = _bins(rows, y, lo, scale)
    vals = rows[y].to_numpy(dtype=float)
    code = agg[_GAP].to_numpy(dtype=np.int64)
    rep = np.full(code.size, np.nan)
    start = {int(g): int(np.flatnonzero(gaps == g)[0]) for g in np.unique(code[code >= 0])}
    end = {int(g): int(np.flatnonzero(gaps == g)[-1]) for g in start}
    values: dict[int, float] = {}
    for g in start:  # over the gaps (a few)
        below = vals[bins < start[g]]
        above = vals[bins > end[g]]
        if start[g] == 0 or not below.size:
            values[g] = vmin
        elif end[g] == BINS - 1 or not above.size:
            values[g] = vmax
        else:
            values[g] = (below.max() + above.min()) / 2
        rep[code == g] = values[g]
    if weight is None:
        w = np.ones(len(rows))
    elif base.weights is not None:
        w = rows[weight].to_numpy(dtype=float)
    else:
        w = 1.0 / rows[weight].to_numpy(dtype=float)
    frame = pd.concat([
        pd.DataFrame({**{k: rows[k].to_numpy() for k in keys}, y: vals, _W: w}),
        pd.DataFrame({**{k: agg[k].to_numpy() for k in keys}, y: rep,
                      _W: agg[SW].to_numpy(dtype=float)})], ignore_index=True)
    cells = Design(frame, weights=_W, **design.design_args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InnobaroWarning)
        est = _quantile_of(cells, y, list(probs), by=by_cols or None, level=level,
                           na_rm=na_rm, interval_type=interval_type)
    ci = est.ci(level).to_numpy(dtype=float)
    read = np.concatenate([est.estimate.to_numpy(), ci.ravel()])
    used = agg[COMPLETE].to_numpy(dtype=bool) & (agg[SW].to_numpy(dtype=float) > 0)
    if np.isin(read, rep[used & (code >= 0)]).any():
        return None
    return est.with_interval(FixedInterval(ci[:, 0], ci[:, 1], level,
                                           "engine quantile's Woodruff",
                                           est.df_values))
