"""Replicate-weight designs over an engine: per-domain replicate totals in one pass.

For replicate weights :math:`w_{ri}` (full weights), every estimator here is a
ratio of totals, so its replicate estimates need only the totals
:math:`T_c(w_r)` and :math:`T_c(w_r y)` of each cell :math:`c` of (domain,
completeness): the mean of replicate :math:`r` in domain :math:`d` is
:math:`\\sum_{c \\in d} T_c(w_r y) / \\sum_{c \\in d} T_c(w_r)`. The engine sums
them for every replicate in the pass of the full-sample sums (extra aggregates
of the same ``GROUP BY`` in DuckDB; the same partition task on Dask), which
checks the rows as :class:`~innobaro.engines.EngineDesign` does, and the
in-memory estimator runs on a small :class:`~innobaro.ReplicateDesign` whose
rows are the cells once per replicate: row :math:`(c, r)` has replicate weight
:math:`T_c(w_r)` in column :math:`r` only and the value
:math:`T_c(w_r y) / T_c(w_r)`, row :math:`(c, 0)` the full weight and value. Its
replicate estimates, hence the replicate variance (R's ``svrVar``), are those
of the rows.

The degrees of freedom are R's rule, the rank of the domain's replicate
weights minus one (:func:`~innobaro.variance.replicates.replicate_rank_df`),
taken from the Gram matrix :math:`\\sum_{i \\in d} w_{ri} w_{si}` summed per
domain in one more pass (once per set of domains): the rank by LINPACK's
limited pivoting is a function of the Gram matrix of the columns scaled to
unit norm (Wolter 2007, ch. 3-5; Lumley 2010, sec. 2.8).

A quantile's passes (:mod:`innobaro.engines.quantile`) carry every replicate's
weights: the histogram (to bracket each replicate's quantile, for R's
``interval.type="quantile"``), the bracketed rows and the sums between the
brackets; :func:`innobaro.quantile` runs on them as a small replicate design,
once per distinct domain df (the covariance across domains of different df is
:math:`s_i s_j C_{ij}`, from the replicate covariance :math:`C` of the
distribution functions at the quantiles). A table's cells carry every replicate's totals
(:meth:`ReplicateEngineDesign.table_design`). Models refit every replicate
(:mod:`innobaro.engines.replicate_glm`).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._validate import as_column_list
from ..design import ReplicateDesign
from ..errors import (
    DesignError,
    EngineError,
    EstimationError,
    InnobaroWarning,
    UnsupportedDesignError,
)
from ..estimators import mean as _mean_of
from ..intervals import proportion_interval
from ..results import Estimate
from ..variance.replicates import replicate_rank_df, replicate_vcov
from .core import EngineDesign, Source
from .dask_engine import compute
from .duckdb_engine import run_query
from .sums import COMPLETE, SW, N, SumsSpec, cells_design_frame, check_rows, reduce_frame

if TYPE_CHECKING:  # the models' module imports on demand
    from .replicate_glm import ReplicateGLMResult

__all__ = ["ReplicateEngineDesign", "column_range", "gram_rank_df", "gram_sums",
           "replicate_frame", "replicate_totals"]

_W = "__ib_w"
_RW = "__ib_rw"
#: the bin and gap columns of a quantile's passes (:mod:`innobaro.engines.quantile`)
_BIN = "__ib_bin"
_GAP = "__ib_gap"


def _rep_name(k: int) -> str:
    return f"{_RW}{k}"


def _rep_y_name(k: int, j: int) -> str:
    return f"{_RW}{k}_y{j}"


def _gram_name(k: int, m: int) -> str:
    return f"{_RW}g{k}_{m}"


def _rep_total(i: int) -> str:
    """Column of a replicate total in the merged sums (apart from the full sample's)."""
    return f"{_RW}t{i}"


def replicate_frame(frame: pd.DataFrame, keep: Sequence[str], replicates: Sequence[str],
                    weights: str | None, combined: bool, variables: Sequence[str]
                    ) -> pd.DataFrame:
    """The per-row products whose totals a replicate estimate needs (numpy, per partition).

    Parameters
    ----------
    frame : pandas.DataFrame
        Rows (a partition of a Dask frame, or an in-memory frame).
    keep : sequence of str
        Columns passed through (domains, a categorical variable).
    replicates : sequence of str
        Replicate weight columns.
    weights : str or None
        The full-sample weight column (multiplies the replicate columns
        when they are multipliers).
    combined : bool
        Whether the replicate columns are full weights.
    variables : sequence of str
        Numeric variables :math:`y_j`.

    Returns
    -------
    pandas.DataFrame
        ``keep``, then :math:`w_{ri}` and :math:`w_{ri} y_{ij}` (missing where
        :math:`y_{ij}` is).
    """
    F = np.column_stack([frame[c].to_numpy(dtype=float, na_value=np.nan)
                         for c in replicates])  # over replicate columns
    if not combined and weights is not None:
        F = F * frame[weights].to_numpy(dtype=float, na_value=np.nan)[:, None]
    R = F.shape[1]
    out: dict[str, Any] = {c: frame[c] for c in keep}
    Y = np.column_stack([frame[c].to_numpy(dtype=float, na_value=np.nan)
                         for c in variables]) if variables else np.empty((len(frame), 0))
    FY = (F[:, :, None] * Y[:, None, :]).reshape(len(frame), R * Y.shape[1])
    names = [_rep_name(k) for k in range(R)] + [
        _rep_y_name(k, j) for k in range(R) for j in range(len(variables))]
    block = pd.DataFrame(np.concatenate([F, FY], axis=1), index=frame.index, columns=names)
    return pd.concat([pd.DataFrame(out, index=frame.index), block], axis=1)


def gram_sums(frame: pd.DataFrame, by: Sequence[str], replicates: Sequence[str],
              weights: str | None, combined: bool) -> pd.DataFrame:
    """Gram sums of the replicate weights per domain of one frame (or partition).

    Parameters
    ----------
    frame : pandas.DataFrame
    by : sequence of str
        Domain columns (none: the whole frame).
    replicates : sequence of str
        Replicate weight columns.
    weights : str or None
        The full-sample weight column (for multipliers).
    combined : bool
        Whether the replicate columns are full weights.

    Returns
    -------
    pandas.DataFrame
        One row per domain present: the domain's values, then
        :math:`G_{rs} = \\sum_{i \\in d} w_{ri} w_{si}` for :math:`r \\le s`.

    Notes
    -----
    One sparse product :math:`E^\\top F` with :math:`F` the (n, R) replicate
    weights and :math:`E` the (n, D R) matrix holding row :math:`i`'s weights in
    the block of its domain, so no (n, R^2) array is formed.
    """
    from scipy import sparse

    F = np.column_stack([frame[c].to_numpy(dtype=float, na_value=np.nan)
                         for c in replicates])  # over replicate columns
    if not combined and weights is not None:
        F = F * frame[weights].to_numpy(dtype=float, na_value=np.nan)[:, None]
    n, R = F.shape
    by = list(by)
    if by and not n:  # an empty partition (pandas 1.5 cannot factorise its index)
        codes = np.zeros(0, dtype=np.int64)
        keys = frame[by].iloc[:0].reset_index(drop=True)
    elif by:
        codes, uniques = pd.factorize(pd.MultiIndex.from_frame(frame[by]),
                                      use_na_sentinel=False)
        keys = pd.MultiIndex.from_tuples(list(uniques), names=by).to_frame(index=False) \
            if len(uniques) else frame[by].iloc[:0].reset_index(drop=True)
    else:
        codes = np.zeros(n, dtype=np.int64)
        keys = pd.DataFrame(index=range(1 if n else 0))
    D = len(keys)
    E = sparse.csr_matrix((F.ravel(), (np.repeat(np.arange(n), R),
                                       (codes[:, None] * R + np.arange(R)).ravel())),
                          shape=(n, D * R))
    G = np.asarray(E.T @ F).reshape(D, R, R)
    iu, ju = np.triu_indices(R)
    packed = pd.DataFrame(G[:, iu, ju], columns=[_gram_name(int(k), int(m))
                                                 for k, m in zip(iu, ju, strict=True)])
    for c in by:  # the domain's values, in their dtype
        packed.insert(len(packed.columns) - len(iu), c, keys[c].to_numpy())
    return packed


def gram_rank_df(gram: np.ndarray) -> float:
    """R's replicate degrees of freedom from the Gram matrix of the replicate weights.

    Parameters
    ----------
    gram : (R, R) array
        :math:`G_{rs} = \\sum_i w_{ri} w_{si}` over the rows of a domain.

    Returns
    -------
    float
        The rank minus one, by the rule of
        :func:`~innobaro.variance.replicates.replicate_rank_df`: the rank of
        :math:`L^\\top` for a factor :math:`G = L L^\\top` equals that of the
        weights, and the rule's scaled Gram matrix is the same; a
        symmetric square root of the Gram matrix scaled to unit diagonal
        (from its eigenvalues), its columns scaled back, is a matrix of ``R``
        rows with Gram matrix :math:`G`, to which the rule applies as to the
        weights.
    """
    norms = np.sqrt(np.clip(np.diag(gram), 0.0, None))
    scale = np.where(norms > 0, norms, 1.0)
    vals, vecs = np.linalg.eigh(gram / np.outer(scale, scale))
    root = (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T
    return replicate_rank_df(root * norms)


def replicate_totals(frame: pd.DataFrame, spec: SumsSpec, replicates: Sequence[str],
                     combined: bool) -> pd.DataFrame:
    """The grouped sums of ``spec`` and, per cell, every replicate's totals (numpy).

    Parameters
    ----------
    frame : pandas.DataFrame
        Rows (a partition of a Dask frame, or an in-memory frame).
    spec : SumsSpec
    replicates : sequence of str
        Replicate weight columns.
    combined : bool
        Whether they are full weights (else multipliers of ``spec.weights``).

    Returns
    -------
    pandas.DataFrame
        :func:`~innobaro.engines.sums.reduce_frame`'s columns, then
        :math:`T_c(w_r)` for every replicate and :math:`T_c(w_r y_j)` for every
        replicate and variable, in the same cells.
    """
    base = reduce_frame(frame, spec)
    names = list(dict.fromkeys([*spec.key_columns, *spec.variables]))
    rows = replicate_frame(frame, names, replicates, spec.weights, combined,
                           list(spec.variables))
    Y = np.column_stack([frame[c].to_numpy(dtype=float, na_value=np.nan)
                         for c in spec.variables]) if spec.variables else None
    complete = ~np.isnan(Y).any(axis=1) if Y is not None else np.ones(len(frame), bool)
    if spec.level:
        complete &= ~frame[spec.level].isna().to_numpy()
    R, q = len(replicates), len(spec.variables)
    cols = [_rep_name(k) for k in range(R)] + [_rep_y_name(k, j) for k in range(R)
                                                for j in range(q)]
    rows = rows[spec.key_columns + cols].assign(**{COMPLETE: complete})
    extra = rows.groupby(spec.group, dropna=False, observed=True, sort=False)[cols].sum()
    extra = extra.rename(columns={c: _rep_total(i) for i, c in enumerate(cols)}).reset_index()
    return base.merge(extra, on=spec.group, how="left")


class _OnePass:
    """A source whose grouped sums carry every replicate's totals, in the same pass."""

    def __init__(self, source: Source, replicates: list[str], combined: bool) -> None:
        self.engine = source.engine
        self.inner: Any = source
        self.replicates = replicates
        self.combined = combined

    def columns(self) -> list[str]:
        return self.inner.columns()  # type: ignore[no-any-return]

    def numeric(self, name: str) -> bool:
        return self.inner.numeric(name)  # type: ignore[no-any-return]

    def sums(self, spec: SumsSpec) -> pd.DataFrame:
        args = (spec, self.replicates, self.combined)
        if self.engine == "duckdb":
            from .duckdb_engine import build_sql

            w = spec.weights
            full = [_num(c) if self.combined or w is None else f"({_num(c)} * {_num(w)})"
                    for c in self.replicates]
            q = len(spec.variables)
            extra = [f"sum({f}) AS {_quote(_rep_total(k))}" for k, f in enumerate(full)]
            extra += [f"sum({f} * {_num(v)}) AS {_quote(_rep_total(len(full) + k * q + j))}"
                      for k, f in enumerate(full) for j, v in enumerate(spec.variables)]
            head, tail = build_sql(spec).rsplit(" FROM ", 1)
            view = tail.split()[0]
            out = run_query(lambda: self.inner.relation.query(
                view, f"{head}, {', '.join(extra)} FROM {tail}").df(), "replicate sums")
            floats = {SW, *(spec.total(j) for j in range(q)),
                      *(spec.cross(j, k) for j, k in spec.pairs)}
            for c in spec.sum_columns:  # counts of an empty sum are NULL in SQL
                out[c] = out[c].astype(float) if c in floats else \
                    out[c].fillna(0).astype("int64")
            out[COMPLETE] = out[COMPLETE].astype(bool)
            return out
        if self.engine == "dask":
            import dask

            frame = self.inner.frame
            used = list(dict.fromkeys([*spec.key_columns, *spec.variables, *self.replicates,
                                       *([spec.weights] if spec.weights else []),
                                       *([spec.probs] if spec.probs else [])]))
            level = [dask.delayed(replicate_totals)(part, *args)
                     for part in frame[used].to_delayed()]
            k = self.inner.split_every
            while len(level) > 1:
                level = [dask.delayed(_add_up)(level[i:i + k], spec)
                         for i in range(0, len(level), k)]
            (out,) = compute(level[0], what="replicate sums")
            return _add_up([out], spec)
        return replicate_totals(self.inner.frame, *args)


def _add_up(parts: Sequence[pd.DataFrame], spec: SumsSpec) -> pd.DataFrame:
    """Partial sums added per cell (every column but the group's is a sum)."""
    frame = pd.concat(list(parts), ignore_index=True)
    if len(parts) == 1:
        return frame
    return frame.groupby(spec.group, dropna=False, observed=True, sort=False).sum(
        ).reset_index()


def _quote(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def _num(name: str) -> str:
    return f"CAST({_quote(name)} AS DOUBLE)"


def column_range(source: Source, cols: list[str]) -> tuple[np.ndarray, np.ndarray,
                                                           np.ndarray]:
    """Minimum, maximum and count of missing values of each column (one pass).

    Parameters
    ----------
    source : Source
        A DuckDB, Dask or pandas source.
    cols : list of str
        Numeric columns.

    Returns
    -------
    tuple of numpy.ndarray
        :math:`\\min_i x_i`, :math:`\\max_i x_i` (over the values present) and
        the count of missing values, one of each per column.
    """
    if source.engine == "duckdb":
        def q(name: str) -> str:
            return '"' + str(name).replace('"', '""') + '"'

        aggs = []
        for c in cols:
            v = f"CAST({q(c)} AS DOUBLE)"
            aggs += [f"min({v})", f"max({v})", f"count_if(coalesce(isnan({v}), TRUE))"]
        row = run_query(lambda: source.relation.aggregate(  # type: ignore[attr-defined]
            ", ".join(aggs)).fetchall()[0], "column range")
        vals = np.array([np.nan if x is None else float(x) for x in row]).reshape(-1, 3)
        return vals[:, 0], vals[:, 1], vals[:, 2]
    frame = source.frame[cols]  # type: ignore[attr-defined]
    if source.engine == "dask":
        lo, hi, miss = compute(frame.min(), frame.max(), frame.isna().sum(),
                               what="column range")
    else:
        lo, hi, miss = frame.min(), frame.max(), frame.isna().sum()
    return (np.asarray(lo, dtype=float), np.asarray(hi, dtype=float),
            np.asarray(miss, dtype=float))


class ReplicateEngineDesign(EngineDesign):
    """A replicate-weight design over rows held by an engine (DuckDB, Dask, pandas).

    Built by :meth:`innobaro.Design.from_parquet`, :meth:`~innobaro.Design.from_duckdb`
    or :meth:`~innobaro.Design.from_dask` with ``replicate_weights=``; the
    arguments are those of :class:`~innobaro.ReplicateDesign`. ``mean``,
    ``total``, ``ratio``, ``proportion``, ``quantile``, ``table``,
    ``chisq_test``, ``glm`` and ``logit`` give the in-memory replicate
    design's numbers.

    Parameters
    ----------
    source : Source
        The engine's rows.
    weights : str or None
        Full-sample weights (every weight 1 without).
    replicate_weights : list of str
    method, scale, rscales, rho, mse, combined_weights, df
        As for :class:`~innobaro.ReplicateDesign`.

    Notes
    -----
    :math:`\\hat V = c \\sum_r c_r (\\hat\\theta_r - \\tilde\\theta)^2` from the
    replicate estimates :math:`\\hat\\theta_r`, ratios of the per-domain
    replicate totals (see :mod:`innobaro.engines.replicates`; Wolter 2007,
    ch. 3-5).

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> from innobaro.engines import FrameSource
    >>> from innobaro.engines.replicates import ReplicateEngineDesign
    >>> df = pd.DataFrame({"w": [1.0, 1, 1, 1], "y": [1.0, 2, 3, 4],
    ...                    "r1": [0, 4/3, 4/3, 4/3], "r2": [4/3, 0, 4/3, 4/3],
    ...                    "r3": [4/3, 4/3, 0, 4/3], "r4": [4/3, 4/3, 4/3, 0]})
    >>> e = ReplicateEngineDesign(FrameSource(df), weights="w",
    ...                           replicate_weights=["r1", "r2", "r3", "r4"],
    ...                           method="jk1", scale=3 / 4)
    >>> e.mean("y").se.round(6).tolist()
    [0.645497]
    """

    def __init__(self, source: Source, *, weights: str | None,
                 replicate_weights: Sequence[str] | str, method: str,
                 scale: float | None = None, rscales: Sequence[float] | None = None,
                 rho: float | None = None, mse: bool = False,
                 combined_weights: bool = True, df: float | None = None) -> None:
        reps = as_column_list(replicate_weights, "replicate_weights")
        if not reps:
            raise DesignError("replicate_weights: give the replicate weight columns")
        have = set(source.columns())
        for what, cols in (("weights", [weights] if weights else []),
                           ("replicate_weights", reps)):
            for c in cols:
                if c not in have:
                    raise DesignError(f"{what} column {c!r} is not in the data")
                if not source.numeric(c):
                    raise DesignError(f"{what} column {c!r} must be numeric")
        self._raw = source
        self._source = _OnePass(source, reps, bool(combined_weights))
        self._psu = []
        self._args = {}
        self._spec = SumsSpec(keys=(), weights=weights)
        sums = source.sums(self._spec)  # the structure pass: checks the weights
        check_rows(sums, self._spec, "design", na_rm=True)
        self._n = int(sums[N].sum())
        self._wsum = float(sums[SW].sum())
        lo, hi, miss = column_range(source, reps)
        for c, m, low in zip(reps, miss, lo, strict=True):  # over replicate columns
            if m:
                raise DesignError(f"replicate weight column {c!r} has {int(m)} missing "
                                  f"value(s)")
            if low < 0:
                raise DesignError(f"replicate weight column {c!r} has negative values")
        zero = (lo == 0) & (hi == 0)
        if zero.any():
            warnings.warn(f"replicate weight column(s) {', '.join(np.array(reps)[zero])} "
                          f"are zero in every row", InnobaroWarning, stacklevel=3)
        # R's scale and rscales, from a one-row design holding each column's
        # largest value (the defaults read the largest multiplier)
        one = pd.DataFrame(hi[None, :], columns=reps)
        one[_W] = 1.0
        template = ReplicateDesign(one, weights=_W, replicate_weights=reps, method=method,
                                   scale=scale, rscales=rscales, rho=rho, mse=mse,
                                   combined_weights=combined_weights, df=df)
        self._reps = reps
        self._combined = bool(combined_weights)
        self._scale = template.scale
        self._rscales = np.asarray(template.rscales)
        self._mse = bool(mse)
        self._method = template.method
        self._given_df = None if df is None else float(df)
        self._grams: dict[tuple[str, ...], pd.DataFrame] = {}

    # -------------------------------------------------------------- properties
    @property
    def n_psu(self) -> int:
        """Not defined for a replicate design (its PSUs are in the weights)."""
        raise UnsupportedDesignError("a replicate design has no PSUs; its variance comes "
                                     "from the replicate weights")

    @property
    def n_replicates(self) -> int:
        """Number of replicates."""
        return len(self._reps)

    @property
    def method(self) -> str:
        """The replication method."""
        return self._method

    @property
    def scale(self) -> float:
        """Overall multiplier of the replicate variance."""
        return self._scale

    @property
    def rscales(self) -> np.ndarray:
        """Multiplier of each replicate's squared deviation."""
        return self._rscales.copy()

    @property
    def df(self) -> float:
        """Degrees of freedom: given, else the rank of the replicate weights minus one."""
        if self._given_df is not None:
            return self._given_df
        gram = self._gram(())
        return gram_rank_df(self._gram_matrix(gram.sum(axis=0).to_numpy()[None, :])[0])

    def __repr__(self) -> str:
        return (f"Replicate design ({self.engine} engine): {self._n} rows, "
                f"{self.n_replicates} {self._method} replicates")

    # ----------------------------------------------------------------- passes
    def _gram(self, by: tuple[str, ...]) -> pd.DataFrame:
        """Gram sums of the replicate weights per domain (cached per set of domains)."""
        if by not in self._grams:
            self._grams[by] = self._gram_of(self._raw, by)
        return self._grams[by]

    def _gram_of(self, source: Any, by: tuple[str, ...]) -> pd.DataFrame:
        """Gram sums of the replicate weights per domain of ``source``'s rows (one pass)."""
        R = len(self._reps)
        cols = [_gram_name(k, m) for k in range(R) for m in range(k, R)]
        args = (list(by), self._reps, self._spec.weights, self._combined)
        if source.engine == "duckdb":  # R (R + 1) / 2 sums in one GROUP BY
            w = self._spec.weights
            full = [_num(c) if self._combined or w is None else
                    f"({_num(c)} * {_num(w)})" for c in self._reps]
            sel = [_quote(c) for c in by] + [
                f"sum({full[k]} * {full[m]}) AS {_quote(_gram_name(k, m))}"
                for k in range(R) for m in range(k, R)]
            sql = f"SELECT {', '.join(sel)} FROM __ib_gram" + (
                " GROUP BY ALL" if by else "")
            sums = run_query(lambda: source.relation.query("__ib_gram", sql).df(),
                             "replicate Gram sums")
        elif source.engine == "dask":  # one sparse product per partition
            empty = pd.DataFrame({c: pd.Series(dtype=t)
                                  for c, t in source.frame.dtypes.items()})
            (sums,) = compute(source.frame.map_partitions(
                gram_sums, *args, meta=gram_sums(empty, *args)), what="replicate Gram sums")
        else:
            sums = gram_sums(source.frame, *args)
        return (sums.groupby(list(by), observed=True, dropna=False)[cols].sum() if by
                else sums[cols].sum().to_frame().T)

    def _gram_matrix(self, packed: np.ndarray) -> np.ndarray:
        R = len(self._reps)
        iu, ju = np.triu_indices(R)
        G = np.zeros((packed.shape[0], R, R))
        G[:, iu, ju] = packed
        G[:, ju, iu] = packed
        return G

    def _run(self, what: str, variables: list[str], by: str | Sequence[str] | None,
             na_rm: bool, binary: bool = False
             ) -> tuple[Any, pd.DataFrame, SumsSpec, list[str]]:
        by_cols = as_column_list(by, "by")
        if self._categorical(what, variables):
            spec = replace(self._spec, by=tuple(by_cols), level=variables[0])
        else:
            spec = replace(self._spec, by=tuple(by_cols),
                           variables=tuple(dict.fromkeys(variables)), binary=binary)
        merged = self._pass(spec, what, na_rm)  # with every replicate's totals
        return self._replicate_cells(merged, spec), merged, spec, by_cols

    def _replicate_cells(self, merged: pd.DataFrame, spec: SumsSpec) -> ReplicateDesign:
        """The cells once for the full sample and once per replicate, as rows."""
        C = len(merged)
        R = len(self._reps)
        q = len(spec.variables)
        S = R + 1
        cell = np.repeat(np.arange(C), S)
        slot = np.tile(np.arange(S), C)
        complete = merged[COMPLETE].to_numpy(dtype=bool)
        tw = np.column_stack([merged[SW].to_numpy(dtype=float)] + [
            merged[_rep_total(k)].to_numpy(dtype=float) for k in range(R)])  # (C, S)
        out: dict[str, Any] = {c: merged[c].to_numpy()[cell] for c in spec.key_columns}
        out[_W] = np.where(slot == 0, tw[cell, 0], 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            for j, name in enumerate(spec.variables):  # over variables
                ty = np.column_stack([merged[spec.total(j)].to_numpy(dtype=float)] + [
                    merged[_rep_total(R + k * q + j)].to_numpy(dtype=float)
                    for k in range(R)])  # over replicates: columns of the cells' sums
                v = np.where(tw != 0, ty / tw, 0.0)
                v[~complete] = np.nan
                out[name] = v.ravel()
        frame = pd.DataFrame(out)
        W = np.zeros((C * S, R))
        rows = np.flatnonzero(slot > 0)
        W[rows, slot[rows] - 1] = tw[cell[rows], slot[rows]]
        names = [f"__ib_rep{k}" for k in range(R)]
        frame = pd.concat([frame, pd.DataFrame(W, columns=names)], axis=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InnobaroWarning)
            return ReplicateDesign(frame, weights=_W, replicate_weights=names,
                                   method="other", scale=self._scale,
                                   rscales=self._rscales.tolist(), mse=self._mse, df=1.0)

    def quantile(self, y: str, q: float | Sequence[float], *,
                 by: str | Sequence[str] | None = None, level: float = 0.95,
                 na_rm: bool = False, interval_type: str = "mean") -> Estimate:
        """Quantiles, exactly, with the intervals of :func:`innobaro.quantile` on a
        replicate design.

        Parameters
        ----------
        y : str
            One numeric column.
        q : float or list of float
            Probabilities in [0, 1].
        by : str or list of str, optional
        level : float, default 0.95
            The interval's level (a Woodruff interval's ``ci()`` gives it at this
            level only).
        na_rm : bool, default False
        interval_type : {"mean", "xlogit", "asin", "quantile"}, default "mean"
            R's ``interval.type``: a Woodruff interval from the replicate variance
            of :math:`\\hat F(\\hat Q(p))`, or ``"quantile"``, the quantile
            recomputed with each replicate's weights and a Wald interval from
            their replicate variance.

        Returns
        -------
        Estimate
            Equal to :func:`innobaro.quantile` with ``qrule="math"`` on the rows.

        Notes
        -----
        :math:`\\hat Q(p) = \\min\\{x : \\hat F(x) \\ge p\\}` (R's ``qrule="math"``):
        a histogram pass sums the weights per (domain, bin), and with
        ``interval_type="quantile"`` every replicate's weights too, which brackets
        the full-sample quantile and each replicate's; a second pass brings the
        rows in the union of the brackets, with their replicate weights, and sums
        the others per (domain, gap between brackets) under every replicate. On
        those rows and sums (as the rows of a small replicate design) every
        replicate's distribution function is the rows' inside the brackets, so
        the quantiles, :math:`\\hat F_r(\\hat Q(p))` and the replicate quantiles
        are (Woodruff 1952; Lumley 2010, sec. 2.4; see
        :mod:`innobaro.engines.quantile` for the passes).
        """
        from . import quantile as quantile_module
        from .quantile import BINS, Bins, ExtendedSource

        if not isinstance(y, str):
            raise EstimationError("quantile on an engine design: give one column (y=\"name\")")
        if interval_type not in ("mean", "xlogit", "asin", "quantile"):
            raise UnsupportedDesignError(
                f"quantile on a replicate design over an engine: interval_type must be "
                f"'mean', 'xlogit', 'asin' or 'quantile' (the others need the rows' "
                f"counts); got {interval_type!r}")
        probs = np.atleast_1d(np.asarray(q, dtype=float))
        if probs.ndim != 1 or ((probs < 0) | (probs > 1) | np.isnan(probs)).any():
            raise EstimationError(f"quantile probabilities must be in [0, 1]; got {q!r}")
        by_cols = as_column_list(by, "by")
        # the variable's missing values and the domains' columns, named as in memory
        self._pass(replace(self._spec, by=tuple(by_cols), variables=(y,)), "quantile", na_rm)
        lo_, hi_, miss = column_range(self._raw, [y])
        lo, hi = float(lo_[0]), float(hi_[0])
        if np.isnan(lo):
            raise EstimationError(f"quantile: column {y!r} has no values")
        scale = BINS / (hi - lo) if hi > lo else 0.0
        R = len(self._reps)
        each = interval_type == "quantile"  # every replicate's quantile is read
        # pass 1: the weight per (domain, bin), and each replicate's
        ext = ExtendedSource(self._raw, y, Bins(lo, scale), None)
        hist = (_OnePass(ext.inner, self._reps, self._combined) if each else ext).sums(
            SumsSpec(keys=(), by=(*by_cols, _BIN), variables=(y,), weights=self._spec.weights))
        hist = hist[hist[COMPLETE].to_numpy(dtype=bool)]
        if by_cols:
            codes, uniques = pd.factorize(pd.MultiIndex.from_frame(hist[by_cols]))
            D = len(uniques)
        else:
            codes, D = np.zeros(len(hist), dtype=np.int64), 1
        weights = [SW, *([_rep_total(k) for k in range(R)] if each else [])]
        W = np.zeros((D, len(weights), BINS))  # (domain, full sample and replicates, bin)
        bins = hist[_BIN].to_numpy(dtype=np.int64)
        for s, c in enumerate(weights):  # over the weight columns: one scatter each
            np.add.at(W[:, s, :], (codes, bins), hist[c].to_numpy(dtype=float))
        rows = np.bincount(codes, weights=hist[N].to_numpy(dtype=float), minlength=D)
        counts = np.bincount(bins, weights=hist[N].to_numpy(dtype=float), minlength=BINS)
        # one row per (domain, weight vector) with weight: a replicate without
        # weight has no quantile; each brackets its shares as the plain design's
        ok = (W.sum(axis=2) > 0).ravel()
        W_ok = W.reshape(-1, BINS)[ok]
        delta = np.repeat(quantile_module.first_delta(rows), len(weights), axis=0)[ok]
        while True:
            wanted = quantile_module.bracket_leaves(W_ok, probs, delta)
            if counts[wanted].sum() > quantile_module.MAX_ROWS:
                raise EngineError(
                    f"quantile of {y!r}: {int(counts[wanted].sum())} rows lie near the "
                    f"quantiles, more than the {quantile_module.MAX_ROWS} brought to memory "
                    f"with their replicate weights (a replicate design's bins are not "
                    f"refined); ask for fewer probabilities or domains at once, or load "
                    f"the rows and use ib.quantile")
            result = self._bracketed_quantile(y, probs, by_cols, lo, scale, hi, wanted,
                                              level, na_rm, interval_type,
                                              bool(miss[0]) and na_rm)
            if result is not None:
                return result
            delta = delta * 2

    def _bracketed_quantile(self, y: str, probs: np.ndarray, by_cols: list[str], lo: float,
                            scale: float, hi: float, wanted: np.ndarray, level: float,
                            na_rm: bool, interval_type: str, missing: bool
                            ) -> Estimate | None:
        """Pass 2 and the in-memory quantile; None when a value read lies in a gap."""
        from ..estimators import quantile as _quantile_of
        from ..intervals import FixedInterval
        from .quantile import BINS, Bins, ExtendedSource

        R = len(self._reps)
        run = np.cumsum(np.r_[0, np.diff(wanted.astype(np.int64)) != 0])  # run of each bin
        gaps = np.where(wanted, -1, run)
        ext = ExtendedSource(self._raw, y, Bins(lo, scale), gaps)
        weight = self._spec.weights
        cols = list(dict.fromkeys([*by_cols, y, *([weight] if weight else []), *self._reps]))
        rows = ext.bracketed_rows(cols)
        agg = _OnePass(ext.inner, self._reps, self._combined).sums(
            SumsSpec(keys=(), by=(*by_cols, _GAP), variables=(y,), weights=weight))
        agg = agg[agg[_GAP].to_numpy() != -1]
        # a value for each gap between the brackets around it: halfway between the
        # largest bracketed value below and the smallest above (the ends: the
        # smallest and largest values)
        vals = rows[y].to_numpy(dtype=float)
        at = np.clip(np.floor((vals - lo) * scale), 0, BINS - 1).astype(np.int64)
        top = np.full(BINS, -np.inf)
        np.maximum.at(top, at, vals)
        bottom = np.full(BINS, np.inf)
        np.minimum.at(bottom, at, vals)
        below = np.r_[-np.inf, np.maximum.accumulate(top)[:-1]]  # before each bin
        after = np.r_[np.minimum.accumulate(bottom[::-1])[::-1][1:], np.inf]
        code = agg[_GAP].to_numpy(dtype=np.int64)
        ids = np.arange(BINS)
        first_bin = np.full(run[-1] + 1, BINS)
        np.minimum.at(first_bin, run[~wanted], ids[~wanted])
        last_bin = np.full(run[-1] + 1, -1)
        np.maximum.at(last_bin, run[~wanted], ids[~wanted])
        g = np.maximum(code, 0)
        s, e = first_bin[g], last_bin[g]
        b_lo = below[np.clip(s, 0, BINS - 1)]
        b_hi = after[np.clip(e, 0, BINS - 1)]
        rep = np.where((s == 0) | ~np.isfinite(b_lo), lo,
                       np.where((e == BINS - 1) | ~np.isfinite(b_hi), hi, (b_lo + b_hi) / 2))
        rep = np.where(code >= 0, rep, np.nan)  # -2: the rows with a missing value
        w = rows[weight].to_numpy(dtype=float) if weight else np.ones(len(rows))
        F = np.column_stack([rows[c].to_numpy(dtype=float) for c in self._reps])
        if not self._combined:
            F = F * w[:, None]
        names = [f"__ib_rep{k}" for k in range(R)]
        frame = pd.concat([
            pd.DataFrame({**{k: rows[k].to_numpy() for k in by_cols}, y: vals, _W: w,
                          **dict(zip(names, F.T, strict=True))}),
            pd.DataFrame({**{k: agg[k].to_numpy() for k in by_cols}, y: rep,
                          _W: agg[SW].to_numpy(dtype=float),
                          **{names[k]: agg[_rep_total(k)].to_numpy(dtype=float)
                             for k in range(R)}})], ignore_index=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InnobaroWarning)
            cells = ReplicateDesign(frame, weights=_W, replicate_weights=names,
                                    method="other", scale=self._scale,
                                    rscales=self._rscales.tolist(), mse=self._mse, df=1.0)

        def run_at(df: float) -> Estimate:
            return _quantile_of(cells.with_df(df), y, list(probs), by=by_cols or None,
                                level=level, na_rm=na_rm, interval_type=interval_type)

        # the first run's warnings about replicates are the rows' (the others
        # would be about the cells: their rows are not the design's)
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            first = run_at(1.0)
        df = self._quantile_df(first, by_cols, y, lo, scale, missing)
        groups, group = np.unique(df, return_inverse=True)
        group = group.ravel()
        est = first.estimate.to_numpy()
        m = est.size
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InnobaroWarning)
            runs = [] if interval_type == "quantile" else [
                run_at(float(d)) for d in groups]  # one per distinct df (usually one)
            if interval_type == "quantile":  # the replicate quantiles: Wald on each df
                read = est
                V = first.vcov.to_numpy()
                ci = None
            else:
                cis = np.stack([r.ci(level).to_numpy(dtype=float) for r in runs])  # (g, m, 2)
                ci = cis[group, np.arange(m)]
                read = np.concatenate([est, ci.ravel()])
                V = runs[0].vcov.to_numpy() if len(runs) == 1 else self._woodruff_vcov(
                    cells, y, by_cols, probs, first, ci, df, level, na_rm)
        used = agg[COMPLETE].to_numpy(dtype=bool) & (agg[SW].to_numpy(dtype=float) > 0)
        if np.isin(read, rep[used & (code >= 0)]).any():
            return None
        for w in seen:  # over the first run's warnings
            if issubclass(w.category, InnobaroWarning) and "replicate" in str(w.message):
                warnings.warn(str(w.message), w.category, stacklevel=3)
        out = Estimate(est, V, first.estimate.index, df=df, kind=first.kind, level=level,
                       method=first.method, notes=first.notes)
        if ci is None:
            return out
        return out.with_interval(FixedInterval(ci[:, 0], ci[:, 1], level,
                                               "engine quantile's Woodruff", df))

    @staticmethod
    def _woodruff_vcov(cells: ReplicateDesign, y: str, by_cols: list[str],
                       probs: np.ndarray, first: Estimate, ci: np.ndarray, df: np.ndarray,
                       level: float, na_rm: bool) -> np.ndarray:
        """The Woodruff covariance of quantiles whose domains differ in df, as in
        memory: :math:`V_{ij} = s_i s_j C_{ij}`, :math:`C` the replicate covariance
        of :math:`\\hat F(\\hat Q(p))` (the means of :math:`[y \\le \\hat Q(p)]` in
        each domain) and :math:`s_i = (U_i - L_i) / (2 t_{df_i} \\sqrt{C_{ii}})` the
        slope of entry :math:`i`'s interval on its own df."""
        from ..intervals import t_quantile

        P = probs.size
        est = first.estimate.to_numpy()
        D = est.size // P
        data = cells.data
        if by_cols:
            index = first.estimate.index.droplevel("variable")[::P]
            table = (index.to_frame(index=False) if isinstance(index, pd.MultiIndex)
                     else pd.DataFrame({by_cols[0]: np.asarray(index)}))
            table.columns = by_cols
        else:
            table = pd.DataFrame(index=range(1))
        qs = [f"__ib_q{j}" for j in range(P)]
        for j, c in enumerate(qs):  # over probabilities: each domain's quantile
            table[c] = est.reshape(D, P)[:, j]
        merged = (data[by_cols].merge(table, on=by_cols, how="left") if by_cols else
                  pd.DataFrame({c: np.full(len(data), table[c].iloc[0]) for c in qs}))
        inside = merged[qs[0]].notna().to_numpy()
        yv = data[y].to_numpy(dtype=float)
        names = [f"__ib_le{j}" for j in range(P)]
        with np.errstate(invalid="ignore"):
            cols = {n: np.where(np.isnan(yv), np.nan,
                                (yv <= merged[q].to_numpy(dtype=float)).astype(float))
                    for n, q in zip(names, qs, strict=True)}
        shares = _mean_of(cells.with_columns(cols).subset(inside), names,
                          by=by_cols or None, na_rm=na_rm)
        C = shares.vcov.to_numpy()
        seF = np.sqrt(np.diag(C))
        with np.errstate(divide="ignore", invalid="ignore"):
            slope = np.where(seF > 0, (ci[:, 1] - ci[:, 0]) / (2 * t_quantile(level, df) * seF),
                             0.0)
        return C * np.outer(slope, slope)  # type: ignore[no-any-return]

    def _quantile_df(self, est: Estimate, by_cols: list[str], y: str, lo: float,
                     scale: float, missing: bool) -> np.ndarray:
        """Each entry's degrees of freedom: the rank of its domain's replicate
        weights among the rows with a value of ``y``, minus one (as in memory)."""
        from .quantile import BINS, Bins, ExtendedSource

        m = len(est.estimate)
        if self._given_df is not None:
            return np.full(m, self._given_df)
        if missing:  # the rows with a value: gap -1 (every bin), the others -2
            ext = ExtendedSource(self._raw, y, Bins(lo, scale), np.full(BINS, -1))
            gram = self._gram_of(ext.inner, (*by_cols, _GAP)).reset_index()
            gram = gram[gram[_GAP].to_numpy() == -1].drop(columns=_GAP)
            gram = (gram.groupby(by_cols, observed=True, dropna=False).sum() if by_cols
                    else gram.sum().to_frame().T)
        else:
            gram = self._gram(tuple(by_cols))
        if not by_cols:
            return np.full(m, gram_rank_df(self._gram_matrix(
                gram.to_numpy(dtype=float).sum(axis=0)[None, :])[0]))
        index = est.estimate.index.droplevel("variable")
        if len(by_cols) == 1 and isinstance(index, pd.MultiIndex):
            index = index.get_level_values(0)
        domains = index.unique()
        per = np.array([gram_rank_df(G) for G in self._gram_matrix(
            gram.reindex(domains).to_numpy(dtype=float))])  # over domains: one rank each
        return per[domains.get_indexer(index)]

    # ------------------------------------------------------------------ models
    def glm(self, formula: str, *, family: Any = "gaussian", link: str | None = None,
            variance: str | None = None, theta: float | None = None,
            domain: str | None = None, offset: str | None = None, tol: float = 1e-12,
            max_iter: int = 100) -> ReplicateGLMResult:
        """Fit a survey GLM with replicate standard errors, as :func:`innobaro.glm`
        on a replicate design.

        Parameters
        ----------
        formula : str
            As for :meth:`EngineDesign.glm`.
        family : str or statsmodels family, default "gaussian"
            As for :meth:`EngineDesign.glm` (the same families on each engine).
        link : str, optional
        variance, theta : optional
            The ``quasi`` family's variance and the negative binomial's theta, as
            for :func:`innobaro.glm`.
        domain : str, optional
            A column whose nonzero rows are the domain (``ib.glm`` on
            ``design.subset(column != 0)``).
        offset : str, optional
        tol : float, default 1e-12
        max_iter : int, default 100
            For the full-sample fit and every replicate's refit, as in memory.

        Returns
        -------
        ReplicateGLMResult
            :class:`~innobaro.engines.glm.EngineGLMResult` with the replicate
            covariance and ``replicates``, the refitted coefficients.

        Notes
        -----
        :math:`\\hat V = c \\sum_r c_r (\\hat\\beta_r - \\bar\\beta)(\\hat\\beta_r -
        \\bar\\beta)^\\top`, each :math:`\\hat\\beta_r` refitted by IRLS under replicate
        :math:`r`'s weights from :math:`\\hat\\beta`, every replicate's
        :math:`X^\\top W_r X` summed in one pass per iteration
        (:mod:`innobaro.engines.replicate_glm`; Lumley 2010, sec. 5.2).
        """
        from .replicate_glm import fit_replicate_glm

        names = [f"__ib_rep{k}" for k in range(len(self._reps))]
        one = pd.DataFrame({_W: [1.0], **{c: [1.0] for c in names}})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InnobaroWarning)
            template = ReplicateDesign(one, weights=_W, replicate_weights=names,
                                       method="other", scale=self._scale,
                                       rscales=self._rscales.tolist(), mse=self._mse, df=1.0)
        return fit_replicate_glm(self._raw, formula, family=family, link=link,
                                 variance=variance, theta=theta,
                                 weights=self._spec.weights, replicates=self._reps,
                                 combined=self._combined, template=template,
                                 model_df=self._model_df, n_rows=self._n,
                                 weight_total=self._wsum, domain=domain, offset=offset,
                                 tol=tol, max_iter=max_iter)

    def _model_df(self, domain: str | None) -> float:
        """The design df among the domain's rows (nonzero ``domain``), R's rank rule."""
        if self._given_df is not None or domain is None:
            return self.df
        gram = self._gram((domain,))
        values = pd.to_numeric(pd.Series(gram.index), errors="coerce").to_numpy(dtype=float)
        inside = (values != 0) & ~np.isnan(values)
        return gram_rank_df(self._gram_matrix(
            gram.to_numpy(dtype=float)[inside].sum(axis=0)[None, :])[0])

    def table_design(self, sums: pd.DataFrame, spec: SumsSpec) -> ReplicateDesign:
        """The in-memory replicate design whose rows are a table's cells (advanced).

        Parameters
        ----------
        sums : pandas.DataFrame
            One pass of ``spec``'s sums with every replicate's totals.
        spec : SumsSpec

        Returns
        -------
        ReplicateDesign
            One row per cell :math:`c` of the table's levels: weight
            :math:`T_c(w)`, replicate weights :math:`T_c(w_r)`, and this
            design's scale, ``rscales``, ``mse`` and degrees of freedom. A
            table's counts and shares are totals and ratios of totals of the
            cells' indicators, so their replicate estimates are those of the
            rows (Wolter 2007, ch. 3-5).
        """
        frame = cells_design_frame(sums, spec, _W)
        names = [f"__ib_rep{k}" for k in range(len(self._reps))]
        reps = pd.DataFrame(np.column_stack([
            sums[_rep_total(k)].to_numpy(dtype=float) for k in range(len(self._reps))]),
            columns=names, index=frame.index)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InnobaroWarning)
            return ReplicateDesign(pd.concat([frame, reps], axis=1), weights=_W,
                                   replicate_weights=names, method="other", scale=self._scale,
                                   rscales=self._rscales.tolist(), mse=self._mse, df=self.df)

    def proportion(self, y: str | Sequence[str], *, by: str | Sequence[str] | None = None,
                   method: str = "logit", level: float = 0.95,
                   na_rm: bool = False) -> Estimate:
        """Proportion of binary columns with the method's interval, as
        :func:`innobaro.proportion` on a replicate design.

        Parameters
        ----------
        y : str or list of str
            Binary columns (0/1 or boolean), or one categorical (text) column.
        by : str or list of str, optional
        method : str, default "logit"
            As for :func:`innobaro.proportion`.
        level : float, default 0.95
        na_rm : bool, default False

        Returns
        -------
        Estimate

        Notes
        -----
        As R's ``svyciprop``, the logit interval's variance is the replicate
        variance of the replicates' logits :math:`\\log(\\hat p_r / (1 - \\hat p_r))`;
        the other methods use :math:`\\hat V(\\hat p)` (Korn and Graubard 1998).
        """
        if method != "logit":
            return super().proportion(y, by=by, method=method, level=level, na_rm=na_rm)
        cols = as_column_list(y, "y")
        cells, sums, spec, by_cols = self._run("proportion", cols, by, na_rm, binary=True)
        for j, name in enumerate(spec.variables):
            bad = int(sums[spec.nonbinary(j)].sum())
            if bad:
                raise EstimationError(
                    f"proportion needs a binary (0/1 or boolean) variable; column {name!r} "
                    f"has {bad} other value(s). Use mean() for a numeric variable")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InnobaroWarning)
            result = _mean_of(cells, cols, by=by_cols or None, na_rm=na_rm)
        est = self._rebuild(result, sums, spec, by_cols, "proportion", cols, level=level,
                            method=method)
        p = est.estimate.to_numpy()
        var = np.diag(est.vcov.to_numpy()).copy()
        n_rows, n_obs = self._counts(sums, spec, by_cols, est)
        reps = self._replicate_means(sums, spec, by_cols, est)
        extreme = ((reps <= 0) | (reps >= 1)) & np.isfinite(reps)
        if extreme.any():
            warnings.warn("proportion: the replicate proportion is 0 or 1 in some "
                          "replicates, so its logit is infinite and is left out of the logit "
                          "variance; method='beta' does not depend on it", InnobaroWarning,
                          stacklevel=2)
        lr = np.where(extreme, np.nan, _logit(reps))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InnobaroWarning)
            logit_var = np.diag(replicate_vcov(cells, _logit(p), lr)).copy()
        degenerate = ((p <= 0) | (p >= 1)) & (var <= 0)
        if degenerate.any():
            names = [str(est.estimate.index[i]) for i in np.flatnonzero(degenerate)[:5]]
            warnings.warn(f"proportion of 0 or 1 in {', '.join(names)}: the logit interval "
                          f"collapses to the point; method='beta' or 'wilson' gives a "
                          f"one-sided interval", InnobaroWarning, stacklevel=2)
        return est.with_interval(functools.partial(
            proportion_interval, method, p, var, n_rows=n_rows, n_obs=n_obs,
            logit_var=logit_var), method=method)

    def _replicate_means(self, sums: pd.DataFrame, spec: SumsSpec, by_cols: list[str],
                         est: Estimate) -> np.ndarray:
        """(R, m) replicate means of the entries of ``est`` (domain-major)."""
        R = len(self._reps)
        den = self._domain_sums(sums, by_cols, est, [_rep_total(k) for k in range(R)],
                                True)  # (D, R)
        if spec.level:
            rows = sums[sums[COMPLETE].to_numpy(dtype=bool)]
            labels = list(dict.fromkeys(est.estimate.index.get_level_values("variable")))
            values = {f"{spec.level}[{v}]": v for v in rows[spec.level].unique()}
            num = np.stack([np.nan_to_num(self._domain_sums(
                rows[rows[spec.level] == values[lab]] if lab in values else rows.iloc[:0],
                by_cols, est, [_rep_total(k) for k in range(R)], True))
                for lab in labels], axis=2)  # over the levels: (D, R, K)
        else:
            q = len(spec.variables)
            num = np.stack([self._domain_sums(
                sums, by_cols, est, [_rep_total(R + k * q + j) for k in range(R)], True)
                for j in range(q)], axis=2)  # over variables: (D, R, q)
        with np.errstate(divide="ignore", invalid="ignore"):
            theta = num / den[:, :, None]
        return theta.transpose(1, 0, 2).reshape(R, -1)

    def _rebuild(self, result: Estimate, sums: pd.DataFrame, spec: SumsSpec,
                 by_cols: list[str], kind: str, entries: list[Any], *,
                 level: float = 0.95, method: str | None = None) -> Estimate:
        """The estimate with each domain's degrees of freedom (R's rank rule)."""
        if self._given_df is not None:
            df = np.full(len(result.estimate), self._given_df)
        else:
            gram = self._gram(tuple(by_cols))
            if by_cols:
                index = result.estimate.index.droplevel("variable").unique()
                if len(by_cols) == 1 and isinstance(index, pd.MultiIndex):
                    index = index.get_level_values(0)
                packed = gram.reindex(index).to_numpy(dtype=float)
            else:
                packed = gram.to_numpy(dtype=float)
            per = np.array([gram_rank_df(G) for G in self._gram_matrix(packed)])
            df = np.repeat(per, len(result.estimate) // max(1, per.size))
        fixed = Estimate(result.estimate.to_numpy(), result.vcov.to_numpy(),
                         result.estimate.index, df=df, kind=result.kind, notes=result.notes)
        return super()._rebuild(fixed, sums, spec, by_cols, kind, entries, level=level,
                                method=method)


def replicate_engine_design(source: Source, weights: str | None, probs: str | None,
                            replicate_weights: Sequence[str] | str | None,
                            options: dict[str, Any], **design: Any) -> ReplicateEngineDesign:
    """The replicate design the ``Design.from_*`` constructors build.

    Parameters
    ----------
    source : Source
    weights, probs : str or None
        Full-sample weights (``probs`` is not taken: give weights).
    replicate_weights : list of str
    options : dict
        ``method``, ``scale``, ``rscales``, ``rho``, ``mse``,
        ``combined_weights``, ``df``, as for :class:`~innobaro.ReplicateDesign`.
    **design
        ``strata``, ``psu``, ``fpc`` as given (they must not be: the
        replicate weights hold the design).

    Returns
    -------
    ReplicateEngineDesign
    """
    if replicate_weights is None:
        raise TypeError(f"{', '.join(options)}: only for a replicate design "
                        f"(replicate_weights=)")
    if probs is not None:
        raise UnsupportedDesignError("a replicate design takes weights=, not probs=")
    given = [k for k, v in design.items() if v is not None]
    if given:
        raise DesignError(f"a replicate design has no {', '.join(given)}: the replicate "
                          f"weights carry the design (leave out {', '.join(given)}=)")
    if "method" not in options:
        raise DesignError("a replicate design needs method= (e.g. 'jk1', 'brr', "
                          "'bootstrap', as for ib.ReplicateDesign)")
    return ReplicateEngineDesign(source, weights=weights, replicate_weights=replicate_weights,
                                 **options)


def _logit(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.log(p / (1 - p)))
