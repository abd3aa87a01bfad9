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

A bin near a quantile that holds more of a domain's weight share than
:math:`\\delta` (a skewed or heaped variable) is refined before pass 2: one pass
finds the smallest and largest value of its rows; a bin of one value becomes an
exact leaf (its rows summed per cell with that value, never brought: ties are
one step of the CDF), any other is cut into :data:`BINS` equal-width bins of its
range, and pass 1 is repeated on the tree of bins (:class:`Bins`; at most
:data:`MAX_ROUNDS` rounds). More than :data:`MAX_ROWS` rows to bring is an
:class:`~innobaro.errors.EngineError`, never a partial result.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from .._validate import as_column_list
from ..errors import (
    EngineError,
    EstimationError,
    InnobaroWarning,
    UnsupportedDesignError,
    warn,
)
from ..estimators import quantile as _quantile_of
from ..intervals import FixedInterval
from ..results import Estimate
from .core import SMALL_DOMAIN, EngineDesign, FrameSource, Source
from .duckdb_engine import run_query
from .replicates import column_range
from .sums import COMPLETE, SW, N, SumsSpec

__all__ = ["BINS", "MAX_ROWS", "Bins", "ExtendedSource", "add_columns", "bracket_leaves",
           "engine_quantile", "first_delta"]

#: number of equal-width bins of a pass (of the first, and of each refined bin)
BINS = 2048
#: at most this many rows are brought to memory around the quantiles; bins
#: holding more are refined first
MAX_ROWS = 2_000_000
#: at most this many rounds of refinement (two passes each)
MAX_ROUNDS = 6
#: at most this many bins refined in one round (the heaviest)
_REFINE = 64
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


def _lit(x: float) -> str:
    return f"CAST({float(x)!r} AS DOUBLE)"


@dataclass
class Bins:
    """Equal-width bins of a window, some refined: the leaves of a tree.

    Bin :math:`b = \\min(\\max(\\lfloor (y - lo) \\cdot scale \\rfloor, 0),
    B - 1)`; a refined bin is either a :class:`Bins` of its own over its rows'
    range, or (a float) the one value all its rows have. The leaves, in the
    order of the values, are numbered ``0 .. leaves() - 1``; the same
    arithmetic in SQL and numpy puts a row in the same leaf.
    """

    lo: float
    scale: float
    children: dict[int, Bins | float] = field(default_factory=dict)

    def leaves(self) -> int:
        """The number of leaves."""
        return BINS + sum(_size(c) - 1 for c in self.children.values())

    def _starts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The refined bins (sorted), the first leaf of each, and the extra leaves
        of the refined bins before each (one more entry: all of them)."""
        ks = np.array(sorted(self.children), dtype=np.int64)
        size = np.array([_size(self.children[int(k)]) - 1 for k in ks], dtype=np.int64)
        extra = np.concatenate([[0], np.cumsum(size)]).astype(np.int64)
        return ks, ks + extra[:-1], extra

    def leaf(self, v: np.ndarray) -> np.ndarray:
        """The leaf of each value (not NaN)."""
        with np.errstate(invalid="ignore"):
            b = np.clip(np.floor((v - self.lo) * self.scale), 0, BINS - 1).astype(np.int64)
        if not self.children:
            return b
        ks, starts, extra = self._starts()
        # the refined bins before each bin add their extra leaves
        out = b + extra[np.searchsorted(ks, b, side="left")]
        for k, start in zip(ks.tolist(), starts.tolist(), strict=True):  # over refined bins (few)
            child = self.children[k]
            if isinstance(child, Bins):
                m = b == k
                out[m] = start + child.leaf(v[m])
        return out

    def sql(self, v: str) -> str:
        """The leaf of the SQL value ``v`` (a DOUBLE expression), as :meth:`leaf`."""
        b = (f"CAST(least(greatest(floor(({v} - {_lit(self.lo)}) * {_lit(self.scale)}), 0), "
             f"{BINS - 1}) AS BIGINT)")
        if not self.children:
            return b
        ks, starts, extra = self._starts()
        whens = []
        for k, start in zip(ks.tolist(), starts.tolist(), strict=True):  # over refined bins (few)
            child = self.children[k]
            if isinstance(child, Bins):
                whens.append(f"WHEN {b} = {k} THEN {start} + ({child.sql(v)})")
        whens += [f"WHEN {b} <= {k} THEN {b} + {int(e)}"
                  for k, e in zip(ks.tolist(), extra[:-1].tolist(), strict=True)]
        return f"CASE {' '.join(whens)} ELSE {b} + {int(extra[-1])} END"

    def locate(self, leaf: int) -> tuple[Bins, int]:
        """The node and bin of a leaf that is an unrefined bin."""
        if self.children:
            ks, starts, _ = self._starts()
            i = int(np.searchsorted(starts, leaf, side="right")) - 1
            if i >= 0:
                k, start = int(ks[i]), int(starts[i])
                child = self.children[k]
                size = _size(child)
                if leaf < start + size:
                    if not isinstance(child, Bins):
                        raise ValueError("an exact leaf is not refined")
                    return child.locate(leaf - start)
                return self, k + 1 + (leaf - start - size)
        return self, leaf

    def exact(self) -> dict[int, float]:
        """The leaves whose rows all have one value, with it."""
        out: dict[int, float] = {}
        if not self.children:
            return out
        ks, starts, _ = self._starts()
        for k, start in zip(ks.tolist(), starts.tolist(), strict=True):  # over refined bins (few)
            child = self.children[k]
            if isinstance(child, Bins):
                out.update({start + j: x for j, x in child.exact().items()})
            else:
                out[start] = child
        return out


def _size(child: Bins | float) -> int:
    return child.leaves() if isinstance(child, Bins) else 1


def _leaves(frame: pd.DataFrame, y: str, bins: Bins) -> np.ndarray:
    v = frame[y].to_numpy(dtype=float, na_value=np.nan)
    nan = np.isnan(v)
    out = np.full(v.size, -1, dtype=np.int64)
    out[~nan] = bins.leaf(v[~nan])
    return out


def add_columns(frame: pd.DataFrame, y: str, bins: Bins,
                gaps: np.ndarray | None) -> pd.DataFrame:
    """The rows with their leaf (pass 1) or their gap between brackets (pass 2).

    Parameters
    ----------
    frame : pandas.DataFrame
        Rows (a partition of a Dask frame, or an in-memory frame).
    y : str
        The variable.
    bins : Bins
        The leaves.
    gaps : (leaves,) int array or None
        The gap of each leaf (-1: inside a bracket); a missing value is gap -2.

    Returns
    -------
    pandas.DataFrame
        ``frame`` with the column ``__ib_bin`` (the leaf), and ``__ib_gap``.
    """
    b = _leaves(frame, y, bins)
    if gaps is None:
        return frame.assign(**{_BIN: b})
    return frame.assign(**{_BIN: b, _GAP: np.where(b < 0, -2, gaps[np.maximum(b, 0)])})


def _gap_sql(gaps: np.ndarray) -> str:
    cases = []
    start = 0
    n = gaps.size
    for k in range(1, n + 1):  # over leaves: one WHEN per run of equal gap codes
        if k == n or gaps[k] != gaps[start]:
            cases.append(f"WHEN {_q(_BIN)} <= {k - 1} THEN {int(gaps[start])}")
            start = k
    return f"CASE {' '.join(cases)} END"


class _Extended:
    """A source of the same engine whose rows carry the leaf (and gap) column."""

    def __init__(self, source: Source, y: str, bins: Bins, gaps: np.ndarray | None) -> None:
        self.engine = source.engine
        self.source = source
        self.y = y
        self.args = (y, bins, gaps)
        if source.engine == "duckdb":
            from .duckdb_engine import DuckDBSource

            v = f"CAST({_q(y)} AS DOUBLE)"
            rel = source.relation.project(  # type: ignore[attr-defined]
                f"*, {bins.sql(v)} AS {_q(_BIN)}")
            if gaps is not None:
                rel = rel.project(f"*, CASE WHEN coalesce(isnan({v}), TRUE) THEN -2 ELSE "
                                  f"{_gap_sql(gaps)} END AS {_q(_GAP)}")
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
        """The rows inside a bracket (gap -1), with ``columns`` and their leaf."""
        cols = [*columns, _BIN]
        if self.engine == "duckdb":
            rel = self.inner.relation.filter(f"{_q(_GAP)} = -1")
            return run_query(lambda: rel.project(", ".join(_q(c) for c in cols)).df(),
                             "quantile")
        if self.engine == "dask":
            from .dask_engine import compute

            frame = self.inner.frame
            (out,) = compute(frame[frame[_GAP] == -1][cols], what="quantile")
            return out  # type: ignore[no-any-return]
        frame = self.inner.frame
        return frame.loc[frame[_GAP].to_numpy() == -1, cols]  # type: ignore

    def ranges(self, leaves: np.ndarray) -> pd.DataFrame:
        """The smallest and largest value of each of ``leaves`` (a pass)."""
        y = self.y
        if self.engine == "duckdb":
            v = f"CAST({_q(y)} AS DOUBLE)"
            inside = ", ".join(str(int(k)) for k in leaves)
            rel = self.inner.relation.filter(
                f"{_q(_BIN)} IN ({inside}) AND NOT coalesce(isnan({v}), TRUE)")
            out = run_query(lambda: rel.aggregate(
                f"{_q(_BIN)} AS leaf, min({v}) AS lo, max({v}) AS hi",
                _q(_BIN)).df(), "quantile")
            return out.set_index("leaf")  # type: ignore[no-any-return]
        wanted = np.asarray(leaves, dtype=np.int64)
        if self.engine == "dask":
            from .dask_engine import compute

            frame = self.inner.frame
            meta = pd.DataFrame({"leaf": pd.Series(dtype="int64"),
                                 "lo": pd.Series(dtype=float), "hi": pd.Series(dtype=float)})
            parts = frame.map_partitions(_ranges, y, wanted, meta=meta)
            (out,) = compute(parts, what="quantile")
            return out.groupby("leaf").agg(lo=("lo", "min"),  # type: ignore[no-any-return]
                                           hi=("hi", "max"))
        return _ranges(self.inner.frame, y, wanted).set_index("leaf")


def _ranges(frame: pd.DataFrame, y: str, leaves: np.ndarray) -> pd.DataFrame:
    """Per leaf of ``leaves``: the smallest and largest value among ``frame``'s rows."""
    v = frame[y].to_numpy(dtype=float, na_value=np.nan)
    b = frame[_BIN].to_numpy(dtype=np.int64)
    m = np.isin(b, leaves) & ~np.isnan(v)
    out = pd.DataFrame({"leaf": b[m], "v": v[m]}).groupby("leaf")["v"].agg(["min", "max"])
    return out.rename(columns={"min": "lo", "max": "hi"}).reset_index()


def _refine(ext: _Extended, bins: Bins, rows: np.ndarray, heavy: np.ndarray) -> None:
    """Refine the heaviest of the ``heavy`` leaves (one pass for their ranges): a
    leaf of one value becomes exact, any other equal-width bins of its range."""
    leaves = np.flatnonzero(heavy)
    leaves = leaves[np.argsort(-rows[leaves], kind="stable")[:_REFINE]]
    ranges = ext.ranges(leaves)
    # from the last leaf: refining one does not renumber the leaves before it
    for leaf in sorted(leaves.tolist(), reverse=True):  # over refined leaves (few)
        if leaf not in ranges.index:
            continue
        lo, hi = float(ranges.at[leaf, "lo"]), float(ranges.at[leaf, "hi"])
        node, k = bins.locate(leaf)
        if hi == lo:
            node.children[k] = lo
        elif np.isfinite(scale := BINS / (hi - lo)):
            node.children[k] = Bins(lo, scale)


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
    checked = design.checked_sums(replace(base, by=tuple(by_cols), variables=(y,)),
                                  "quantile", na_rm)
    lo_, hi_, _ = column_range(source, [y])
    lo, hi = float(lo_[0]), float(hi_[0])
    if np.isnan(lo):
        raise EstimationError(f"quantile: column {y!r} has no values")
    bins = Bins(lo, BINS / (hi - lo) if hi > lo else 0.0)
    hist_spec = SumsSpec(keys=(), by=(*by_cols, _BIN), variables=(y,), weights=base.weights,
                         probs=base.probs)
    # the first bracket: a few standard errors of a share (design effect up to
    # about 10) in each domain, so the rows brought shrink as the sample grows
    delta: np.ndarray | None = None
    rounds = 0
    while True:
        # pass 1: weight and rows per (domain, leaf)
        ext = _Extended(source, y, bins, None)
        W, rows, counts = _histogram(ext.sums(hist_spec), by_cols, bins.leaves())
        if delta is None:
            delta = first_delta(rows)
        with np.errstate(invalid="ignore", divide="ignore"):
            share = W / W.sum(axis=1, keepdims=True)
        exact = bins.exact()
        while True:
            wanted = bracket_leaves(W, probs, delta)
            inside = wanted.copy()
            if exact:
                inside[np.fromiter(exact, dtype=np.int64)] = False
            # a leaf wider than the bracket (in some domain's weight share) brings
            # more rows than the bracket needs: refine it first
            heavy = inside & (counts > 1) & (share > delta).any(axis=0)
            if heavy.any() and rounds < MAX_ROUNDS:
                break
            n_in = int(counts[inside].sum())
            if n_in > MAX_ROWS:
                raise EngineError(
                    f"quantile of {y!r}: {n_in} rows lie near the quantiles, more than the "
                    f"{MAX_ROWS} brought to memory (after {rounds} refinements of the "
                    f"bins); ask for fewer probabilities or domains at once, or load the "
                    f"rows and use ib.quantile")
            with warnings.catch_warnings(record=True) as said:
                warnings.simplefilter("always", InnobaroWarning)
                result = _bracketed(design, source, base, y, probs, by_cols, bins, wanted,
                                    level, na_rm, interval_type, lo, hi)
            if result is not None:
                # the in-memory quantile's warnings, but its count of rows per
                # domain, which counts cells: that one from the rows' sums
                for w in said:
                    if SMALL_DOMAIN not in str(w.message):
                        warn(str(w.message), w.category)
                design.warn_small_domains(result, checked, by_cols, "quantile")
                return result
            delta *= 2
        _refine(ext, bins, counts, heavy)
        rounds += 1


def _histogram(hist: pd.DataFrame, by_cols: list[str], n_leaves: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weights per (domain, leaf), rows per domain, and rows per leaf."""
    hist = hist[hist[COMPLETE].to_numpy(dtype=bool)]
    leaf = hist[_BIN].to_numpy(dtype=np.int64)
    W: np.ndarray
    counts = np.bincount(leaf, weights=hist[N].to_numpy(dtype=float), minlength=n_leaves)
    if by_cols:
        per = hist.pivot_table(index=by_cols, columns=_BIN, values=SW, aggfunc="sum",
                               observed=True).fillna(0.0)
        W = np.zeros((len(per), n_leaves))
        W[:, per.columns.to_numpy(dtype=np.int64)] = per.to_numpy(dtype=float)
        rows = hist.groupby(by_cols, observed=True)[N].sum().reindex(per.index).to_numpy()
    else:
        W = np.bincount(leaf, weights=hist[SW].to_numpy(dtype=float),
                        minlength=n_leaves)[None, :]
        rows = np.array([hist[N].sum()])
    return W, rows, counts


def first_delta(rows: np.ndarray) -> np.ndarray:
    """The first bracket's half-width in shares, per domain of ``rows`` rows: a few
    standard errors of a share (design effect up to about 10), so the rows brought
    shrink as the sample grows.

    Parameters
    ----------
    rows : (D,) array
        Rows per domain.

    Returns
    -------
    (D, 1) array
        :math:`\\delta_d = \\min(\\max(10 / \\sqrt{n_d}, 10^{-4}), 0.05)`.
    """
    return np.clip(_SPREAD / np.sqrt(np.maximum(np.asarray(rows, dtype=float), 1.0)),
                   _MIN_DELTA, _DELTA)[:, None]


def bracket_leaves(W: np.ndarray, probs: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """The leaves within ``delta`` of each probability's share, per row of ``W``
    (a domain's weights, or a replicate's), and one beyond on each side.

    Parameters
    ----------
    W : (k, L) array
        Weight per leaf, in the order of the values.
    probs : (m,) array
    delta : (k, 1) array
        Each row's half-width in shares.

    Returns
    -------
    (L,) bool array
        The leaves to bring (all of them once every ``delta`` is at least 1).
    """
    n = W.shape[1]
    cum = np.cumsum(W, axis=1)
    marks = np.zeros(n + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = cum / cum[:, -1:]
    for p in probs:  # over probabilities: the leaves within delta of each, per domain
        first = (share >= p - delta).argmax(axis=1)
        above = share >= p + delta
        last = np.where(above.any(axis=1), above.argmax(axis=1), n - 1)
        np.add.at(marks, np.maximum(first - 1, 0), 1.0)
        np.add.at(marks, np.minimum(last + 1, n - 1) + 1, -1.0)
    wanted = np.cumsum(marks)[:n] > 0
    if (delta >= 1).all():
        wanted[:] = True
    return wanted


def _bracketed(design: EngineDesign, source: Source, base: SumsSpec, y: str,
               probs: np.ndarray, by_cols: list[str], bins: Bins, wanted: np.ndarray,
               level: float, na_rm: bool, interval_type: str,
               vmin: float, vmax: float) -> Estimate | None:
    """Pass 2 and the in-memory quantile; None when a value read lies in a gap."""
    exact = bins.exact()
    n_leaves = wanted.size
    inside = wanted.copy()
    # a gap per run of leaves outside the brackets, and one per leaf of one value
    run = np.cumsum(np.r_[0, np.diff(inside.astype(np.int64)) != 0])
    gaps = np.where(inside, -1, run)
    top = int(run[-1]) + 1
    for j, leaf in enumerate(sorted(exact)):  # over leaves of one value
        if inside[leaf]:
            gaps[leaf] = top + j
    ext = _Extended(source, y, bins, gaps)
    weight = base.weights or base.probs
    keys = list(dict.fromkeys([*base.keys, *by_cols]))
    cols = list(dict.fromkeys([*keys, y, *([weight] if weight else [])]))
    rows = ext.bracketed_rows(cols)
    spec = SumsSpec(keys=base.keys, by=(*by_cols, _GAP), variables=(y,), weights=base.weights,
                    probs=base.probs)
    agg = ext.sums(spec)
    agg = agg[agg[_GAP].to_numpy() != -1]
    # a value for each gap between the brackets around it; a leaf's one value
    leaf = rows[_BIN].to_numpy(dtype=np.int64)
    vals = rows[y].to_numpy(dtype=float)
    code = agg[_GAP].to_numpy(dtype=np.int64)
    rep = np.full(code.size, np.nan)
    known = np.concatenate([leaf, np.fromiter(exact, dtype=np.int64, count=len(exact))])
    known_v = np.concatenate([vals, np.fromiter(exact.values(), dtype=float,
                                                count=len(exact))])
    exact_codes = []
    for g in np.unique(code[code >= 0]).tolist():  # over the gaps (a few)
        members = np.flatnonzero(gaps == g)
        if members.size == 1 and int(members[0]) in exact and g >= top:
            rep[code == g] = exact[int(members[0])]
            exact_codes.append(g)
            continue
        start, end = int(members[0]), int(members[-1])
        below = known_v[known < start]
        above = known_v[known > end]
        if start == 0 or not below.size:
            value = vmin
        elif end == n_leaves - 1 or not above.size:
            value = vmax
        else:
            value = (below.max() + above.min()) / 2
        rep[code == g] = value
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
    cells = design.rows_design(frame, _W)
    est = _quantile_of(cells, y, list(probs), by=by_cols or None, level=level,
                       na_rm=na_rm, interval_type=interval_type)
    ci = est.ci(level).to_numpy(dtype=float)
    read = np.concatenate([est.estimate.to_numpy(), ci.ravel()])
    used = agg[COMPLETE].to_numpy(dtype=bool) & (agg[SW].to_numpy(dtype=float) > 0)
    between = used & (code >= 0) & ~np.isin(code, exact_codes)
    if np.isin(read, rep[between]).any():
        return None
    return est.with_interval(FixedInterval(ci[:, 0], ci[:, 1], level,
                                           "engine quantile's Woodruff",
                                           est.df_values))
