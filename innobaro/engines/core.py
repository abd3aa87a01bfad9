"""A survey design whose rows stay in an engine: DuckDB, Dask, or an in-memory frame.

:class:`EngineDesign` holds the design's columns and a *source* that can
compute grouped sums (:mod:`innobaro.engines.sums`). Each estimate is one pass
over the rows: the source sums the weighted variables per cell of (stratum,
PSU[, lower-stage unit], domain), and innobaro's own estimator runs on those
cells as the rows of an in-memory design, so the numbers come from the one
variance engine (:mod:`innobaro.variance.linearization`).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd

from .._validate import as_column_list
from ..design import Design, HartleyRao, JointProbabilities, LonelyRule
from ..errors import (
    DesignError,
    EngineError,
    EstimationError,
    InnobaroWarning,
    UnsupportedDesignError,
    warn,
)
from ..estimators import mean as _mean_of
from ..estimators import ratio as _ratio_of
from ..estimators import srs_from_variances
from ..estimators import total as _total_of
from ..intervals import PROPORTION_METHODS, proportion_interval
from ..results import Estimate
from .glm import EngineGLMResult, fit_glm
from .sums import (
    COMPLETE,
    NPOS,
    SW,
    N,
    SumsSpec,
    cells_design_frame,
    check_rows,
    combine_sums,
    reduce_frame,
)

__all__ = ["EngineDesign", "FrameSource", "Source", "design_over"]

#: the weight column of the cells' design
_W = "__ib_w"
#: relative tolerance of the weight total between passes (sums in another order)
_DRIFT = 1e-9
#: the in-memory small-domain warning, which counts cells on an engine
SMALL_DOMAIN = "has a single row with positive weight"


class Source(Protocol):
    """What an engine provides: its column names and grouped sums."""

    engine: str

    def columns(self) -> list[str]: ...

    def numeric(self, name: str) -> bool: ...

    def sums(self, spec: SumsSpec) -> pd.DataFrame: ...


class FrameSource:
    """An in-memory pandas frame, reduced by :func:`~innobaro.engines.sums.reduce_frame`.

    Parameters
    ----------
    frame : pandas.DataFrame
    """

    engine = "pandas"

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame

    def columns(self) -> list[str]:
        """The frame's column names."""
        return [str(c) for c in self.frame.columns]

    def numeric(self, name: str) -> bool:
        """Whether a column is numeric or boolean (not categorical)."""
        col = self.frame[name]
        return not isinstance(col.dtype, pd.CategoricalDtype) and (
            pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col))

    def sums(self, spec: SumsSpec) -> pd.DataFrame:
        """Grouped sums of the frame."""
        return combine_sums([reduce_frame(self.frame, spec)], spec)


class EngineDesign:
    """A survey design over rows held by an engine (DuckDB, Dask or a pandas frame).

    Built by :meth:`innobaro.Design.from_parquet`, :meth:`~innobaro.Design.from_duckdb`
    or :meth:`~innobaro.Design.from_dask`; the arguments are those of
    :class:`~innobaro.Design`. Each estimator is one pass of grouped sums over
    the rows in the engine, then the in-memory variance engine on the sums.

    Parameters
    ----------
    source : Source
        The engine's rows.
    weights, probs, strata, psu, fpc, nest, lonely_psu
        As for :class:`~innobaro.Design`. ``psu`` is required; without
        ``weights`` or ``probs`` every weight is 1 (``fpc`` then needs weights).
    pps, variance
        As for :class:`~innobaro.Design`: ``"brewer"``, ``"overton"`` or
        :func:`~innobaro.HR`, with the PSUs' sampling probabilities in ``fpc``.
        Their variances need only the PSU totals and probabilities, which the
        cells carry; :func:`~innobaro.ppsmat`'s joint probabilities are indexed
        by the rows and need them in memory.

    Notes
    -----
    The estimate, covariance matrix, degrees of freedom, lonely-PSU rule and
    intervals are those of the in-memory design on the same rows: the
    estimators here are ratios of totals whose influence values have PSU
    totals that are linear in the cell totals (see :mod:`innobaro.engines.sums`).
    Only the first-stage units are kept without fpc (only the first stage
    contributes then); with fpc every stage's units are.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> from innobaro.engines import EngineDesign, FrameSource
    >>> df = pd.DataFrame({"stratum": ["a"] * 4 + ["b"] * 4, "psu": [1, 1, 2, 2, 3, 3, 4, 4],
    ...                    "w": [10.0, 10, 12, 12, 8, 8, 9, 9],
    ...                    "y": [1.0, 2, 3, 5, 4, 5, 6, 8]})
    >>> d = EngineDesign(FrameSource(df), weights="w", strata="stratum", psu="psu")
    >>> d.mean("y").se.round(6).tolist() == ib.mean(
    ...     ib.Design(df, weights="w", strata="stratum", psu="psu"), "y").se.round(6).tolist()
    True
    """

    def __init__(self, source: Source, *, weights: str | None = None,
                 probs: str | None = None, strata: str | Sequence[str] | None = None,
                 psu: str | Sequence[str] | None = None,
                 fpc: str | Sequence[str] | None = None, nest: bool = False,
                 lonely_psu: LonelyRule = "fail", pps: str | HartleyRao | None = None,
                 variance: Literal["HT", "YG"] = "HT") -> None:
        if weights is not None and probs is not None:
            raise DesignError("give either weights or probs, not both")
        if pps is not None:
            if isinstance(pps, JointProbabilities):
                raise UnsupportedDesignError(
                    f"pps=ppsmat(...) on a {source.engine} design: joint probabilities are "
                    f"indexed by the rows, which an engine does not hold in order; use "
                    f"'brewer', 'overton' or ib.HR(), or load the rows and use ib.Design")
            if fpc is None:
                raise UnsupportedDesignError(
                    f"pps={pps!r} on a {source.engine} design: give the PSUs' sampling "
                    f"probabilities in fpc= (and weights= or probs=)")
        strata_cols = as_column_list(strata, "strata")
        psu_cols = as_column_list(psu, "psu")
        fpc_cols = as_column_list(fpc, "fpc")
        if not psu_cols:
            raise UnsupportedDesignError(
                f"a {source.engine} design needs psu= (the clusters whose totals the "
                f"engine computes); for an element sample, load the data and use "
                f"ib.Design")
        if fpc_cols and weights is None and probs is None:
            raise UnsupportedDesignError(f"a {source.engine} design with fpc needs "
                                         f"weights= or probs=")
        have = set(source.columns())
        for what, cols in (("weights", [weights] if weights else []),
                           ("probs", [probs] if probs else []), ("strata", strata_cols),
                           ("psu", psu_cols), ("fpc", fpc_cols)):
            for c in cols:
                if c not in have:
                    raise DesignError(f"{what} column {c!r} is not in the data")
        self._source = source
        # without fpc only the first stage contributes: its units are the cells
        self._psu = psu_cols if fpc_cols else psu_cols[:1]
        self._args: dict[str, Any] = {"strata": strata_cols or None, "psu": self._psu,
                                      "fpc": fpc_cols or None, "nest": bool(nest),
                                      "lonely_psu": lonely_psu}
        if pps is not None:
            self._args.update(pps=pps, variance=variance)
        self._spec = SumsSpec(keys=tuple(dict.fromkeys([*strata_cols, *self._psu,
                                                        *fpc_cols])),
                              weights=weights, probs=probs)
        sums = source.sums(self._spec)  # the structure pass: also checks the design
        check_rows(sums, self._spec, "design", na_rm=True)
        self._n = int(sums[N].sum())
        self._wsum = float(sums[SW].sum())
        self._cells = self._cells_design(sums, self._spec)

    # ----------------------------------------------------------------- helpers
    def _cells_design(self, sums: pd.DataFrame, spec: SumsSpec) -> Design:
        frame = cells_design_frame(sums, spec, _W)
        return Design(frame, weights=_W, **self._args)

    def _pass(self, spec: SumsSpec, what: str, na_rm: bool) -> pd.DataFrame:
        have = set(self._source.columns())
        for c in [*spec.by, *spec.variables]:
            if c not in have:
                raise EstimationError(f"{what}: column {c!r} is not in the data")
        for c in spec.variables:
            if not self._source.numeric(c):
                raise EstimationError(
                    f"{what}: column {c!r} is not numeric; the {self.engine} engine estimates "
                    f"numeric and 0/1 columns, or one categorical column alone (the share "
                    f"or count of each level)")
        sums = self._source.sums(spec)
        n, wsum = int(sums[N].sum()), float(sums[SW].sum())
        if n != self._n or abs(wsum - self._wsum) > _DRIFT * abs(self._wsum):
            raise EngineError(f"{what}: the {self._source.engine} source changed since the "
                              f"design was built ({self._n} rows with weight total "
                              f"{self._wsum:.10g}, now {n} rows with {wsum:.10g}); build "
                              f"the design again")
        if not na_rm and not sums[COMPLETE].to_numpy(dtype=bool).all():
            # count the missing values, for the error's message (a second pass)
            check_rows(self._source.sums(replace(spec, count_missing=True)), replace(
                spec, count_missing=True), what, na_rm=na_rm)
        check_rows(sums, spec, what, na_rm=na_rm)
        return sums

    def _run(self, what: str, variables: list[str], by: str | Sequence[str] | None,
             na_rm: bool, binary: bool = False
             ) -> tuple[Design, pd.DataFrame, SumsSpec, list[str]]:
        by_cols = as_column_list(by, "by")
        if self._categorical(what, variables):  # its levels are cells: shares or counts
            spec = replace(self._spec, by=tuple(by_cols), level=variables[0])
        else:
            spec = replace(self._spec, by=tuple(by_cols),
                           variables=tuple(dict.fromkeys(variables)), binary=binary)
        sums = self._pass(spec, what, na_rm)
        return self._cells_design(sums, spec), sums, spec, by_cols

    def _categorical(self, what: str, variables: list[str]) -> bool:
        """One variable that is not numeric: the estimator of each of its levels."""
        if len(variables) != 1 or what == "ratio":
            return False
        name = variables[0]
        return name in set(self._source.columns()) and not self._source.numeric(name)

    # -------------------------------------------------------------- properties
    @property
    def engine(self) -> str:
        """The engine holding the rows: ``"duckdb"``, ``"dask"`` or ``"pandas"``."""
        return self._source.engine

    @property
    def n(self) -> int:
        """Number of rows in the source."""
        return self._n

    @property
    def n_psu(self) -> int:
        """Number of primary sampling units."""
        return int(self._cells.stages[0].unit_stratum.size)

    @property
    def df(self) -> float:
        """Design degrees of freedom: PSUs minus strata (R's ``degf``)."""
        return float(self._cells.df)

    def __repr__(self) -> str:
        st = self._cells.stages[0]
        return (f"Design ({self.engine} engine): {self._n} rows, {self.n_psu} PSUs in "
                f"{st.n_strata} strata, df = {self.df:g}")

    # -------------------------------------------------------------- estimators
    def sums(self, variables: str | Sequence[str], *,
             by: str | Sequence[str] | None = None) -> pd.DataFrame:
        """The grouped sums an estimate of ``variables`` needs (advanced).

        Parameters
        ----------
        variables : str or list of str
        by : str or list of str, optional

        Returns
        -------
        pandas.DataFrame
            One row per cell (stratum, PSU, [fpc,] domain, completeness) with
            the count of rows ``__ib_n``, the weight total ``__ib_sw`` and
            the weighted totals ``__ib_s<j>`` of the variables (see
            :class:`~innobaro.engines.sums.SumsSpec`).
        """
        spec = replace(self._spec, by=tuple(as_column_list(by, "by")),
                       variables=tuple(as_column_list(variables, "variables")))
        return self._pass(spec, "sums", na_rm=True)

    def mean(self, y: str | Sequence[str], *, by: str | Sequence[str] | None = None,
             na_rm: bool = False) -> Estimate:
        """Mean of numeric columns, overall or by domain, as :func:`innobaro.mean`.

        Parameters
        ----------
        y : str or list of str
            Numeric (or boolean) columns, or one categorical (text) column: the
            share of each of its levels.
        by : str or list of str, optional
        na_rm : bool, default False

        Returns
        -------
        Estimate

        Notes
        -----
        :math:`\\hat{\\bar y}_d = T_d(wy) / T_d(w)`, with PSU totals of the influence
        values :math:`(T_{ud}(wy) - \\hat{\\bar y}_d T_{ud}(w)) / T_d(w)` (Lumley 2010,
        sec. 2.2).
        """
        cols = as_column_list(y, "y")
        cells, sums, spec, by_cols = self._run("mean", cols, by, na_rm)
        result = _quiet(_mean_of, cells, cols, by=by_cols or None, na_rm=na_rm)
        return self._rebuild(result, sums, spec, by_cols, "mean", cols)

    def total(self, y: str | Sequence[str], *, by: str | Sequence[str] | None = None,
              na_rm: bool = False) -> Estimate:
        """Total of numeric columns, overall or by domain, as :func:`innobaro.total`.

        Parameters
        ----------
        y : str or list of str
            Numeric (or boolean) columns, or one categorical (text) column: the
            estimated count of each of its levels.
        by : str or list of str, optional
        na_rm : bool, default False

        Returns
        -------
        Estimate

        Notes
        -----
        :math:`\\hat Y_d = \\sum_u T_{ud}(wy)`, influence PSU totals :math:`T_{ud}(wy)`
        (Lumley 2010, sec. 2.2).
        """
        cols = as_column_list(y, "y")
        cells, sums, spec, by_cols = self._run("total", cols, by, na_rm)
        result = _quiet(_total_of, cells, cols, by=by_cols or None, na_rm=na_rm)
        return self._rebuild(result, sums, spec, by_cols, "total", cols)

    def ratio(self, numerator: str | Sequence[str], denominator: str | Sequence[str], *,
              by: str | Sequence[str] | None = None, na_rm: bool = False) -> Estimate:
        """Ratio of two totals, as :func:`innobaro.ratio`.

        Parameters
        ----------
        numerator, denominator : str or list of str
            With several of each, every numerator over every denominator.
        by : str or list of str, optional
        na_rm : bool, default False

        Returns
        -------
        Estimate

        Notes
        -----
        :math:`\\hat R_d = T_d(wy) / T_d(wx)`, influence PSU totals
        :math:`(T_{ud}(wy) - \\hat R_d T_{ud}(wx)) / T_d(wx)` (Wolter 2007, sec. 6.5).
        """
        nums = as_column_list(numerator, "numerator")
        dens = as_column_list(denominator, "denominator")
        cells, sums, spec, by_cols = self._run("ratio", nums + dens, by, na_rm)
        result = _quiet(_ratio_of, cells, nums, dens, by=by_cols or None, na_rm=na_rm)
        pairs = [(n, d) for d in dens for n in nums]
        return self._rebuild(result, sums, spec, by_cols, "ratio", pairs)

    def proportion(self, y: str | Sequence[str], *, by: str | Sequence[str] | None = None,
                   method: str = "logit", level: float = 0.95,
                   na_rm: bool = False) -> Estimate:
        """Proportion of binary columns with the method's interval, as
        :func:`innobaro.proportion`.

        Parameters
        ----------
        y : str or list of str
            Binary columns (0/1 or boolean), or one categorical (text) column:
            the share of each level, each with its interval.
        by : str or list of str, optional
        method : str, default "logit"
            ``"logit"``, ``"likelihood"``, ``"asin"``, ``"beta"``, ``"mean"``,
            ``"xlogit"`` or ``"wilson"`` (see :func:`innobaro.proportion`).
        level : float, default 0.95
        na_rm : bool, default False

        Returns
        -------
        Estimate

        Notes
        -----
        The mean of the 0/1 values and its variance; the logit method's
        variance is the delta method's, :math:`V(\\hat p) / (\\hat p (1 - \\hat p))^2`
        (R's ``svyciprop``; Korn and Graubard 1998 for ``"beta"``).
        """
        if method not in PROPORTION_METHODS:
            raise EstimationError(f"method must be one of {', '.join(PROPORTION_METHODS)}; "
                                  f"got {method!r}")
        cols = as_column_list(y, "y")
        cells, sums, spec, by_cols = self._run("proportion", cols, by, na_rm, binary=True)
        for j, name in enumerate(spec.variables if spec.binary else ()):
            bad = int(sums[spec.nonbinary(j)].sum())
            if bad:
                raise EstimationError(
                    f"proportion needs a binary (0/1 or boolean) variable; column {name!r} "
                    f"has {bad} other value(s). Use mean() for a numeric variable")
        result = _quiet(_mean_of, cells, cols, by=by_cols or None, na_rm=na_rm)
        est = self._rebuild(result, sums, spec, by_cols, "proportion", cols, level=level,
                            method=method)
        p = est.estimate.to_numpy()
        var = np.diag(est.vcov.to_numpy()).copy()
        n_rows, n_obs = self._counts(sums, spec, by_cols, est)
        logit_var = None
        if method == "logit":
            pq = p * (1 - p)
            with np.errstate(divide="ignore", invalid="ignore"):
                logit_var = np.where(pq > 0, var / (pq * pq), 0.0)
        out = est.with_interval(functools.partial(
            proportion_interval, method, p, var, n_rows=n_rows, n_obs=n_obs,
            logit_var=logit_var), method=method)
        degenerate = ((p <= 0) | (p >= 1)) & (var <= 0)
        if degenerate.any() and method not in ("beta", "wilson"):
            index = est.estimate.index
            names = [str(index[i]) for i in np.flatnonzero(degenerate)[:5]]
            warnings.warn(f"proportion of 0 or 1 in {', '.join(names)}: the {method} "
                          f"interval collapses to the point; method='beta' or 'wilson' "
                          f"gives a one-sided interval", InnobaroWarning, stacklevel=2)
        return out

    # ------------------------------------------------------ row-level numbers
    def _domain_sums(self, sums: pd.DataFrame, by_cols: list[str], est: Estimate,
                     columns: list[str], complete_only: bool) -> np.ndarray:
        """(D, k) sums of ``columns`` per domain of ``est``, in its order."""
        rows = sums[sums[COMPLETE].to_numpy(dtype=bool)] if complete_only else sums
        if not by_cols:
            return rows[columns].to_numpy(dtype=float).sum(axis=0)[None, :]
        per = rows.groupby(by_cols, observed=True, dropna=False)[columns].sum()
        index = est.estimate.index.droplevel("variable").unique()
        if len(by_cols) == 1:
            index = index.get_level_values(0) if isinstance(index, pd.MultiIndex) else index
        return per.reindex(index).to_numpy(dtype=float)

    def _counts(self, sums: pd.DataFrame, spec: SumsSpec, by_cols: list[str],
                est: Estimate) -> tuple[np.ndarray, np.ndarray]:
        q = len(est.estimate) // max(1, self._n_domains(est, by_cols))
        n_rows = self._domain_sums(sums, by_cols, est, [N], False)[:, 0]
        n_obs = self._domain_sums(sums, by_cols, est, [NPOS], True)[:, 0]
        return np.repeat(n_rows, q), np.repeat(n_obs, q)

    def warn_small_domains(self, result: Estimate, sums: pd.DataFrame, by_cols: list[str],
                           kind: str) -> None:
        """Warn of the domains of ``result`` with fewer than two rows of positive
        weight, counted in the rows' ``sums`` (the cells' estimator counts cells).

        Parameters
        ----------
        result : Estimate
        sums : pandas.DataFrame
            A pass of sums per cell with ``by_cols``.
        by_cols : list of str
        kind : str
            The estimator's name, for the message.
        """
        n_obs = self._domain_sums(sums, by_cols, result, [NPOS], True)[:, 0]
        if n_obs.size and (n_obs < 2).any():
            names = [", ".join(f"{b}={v}" for b, v in zip(by_cols, key, strict=True))
                     if by_cols else "(all)" for key in self._domain_keys(result, by_cols)]
            small = [names[i] for i in np.flatnonzero(n_obs < 2)]
            warn(f"{kind}: domain {', '.join(small)} {SMALL_DOMAIN}; its standard error "
                 f"is not meaningful")

    @staticmethod
    def _n_domains(est: Estimate, by_cols: list[str]) -> int:
        if not by_cols:
            return 1
        return len(est.estimate.index.droplevel("variable").unique())

    def _rebuild(self, result: Estimate, sums: pd.DataFrame, spec: SumsSpec,
                 by_cols: list[str], kind: str, entries: list[Any], *,
                 level: float = 0.95, method: str | None = None) -> Estimate:
        """The cells' estimate with the row-level numbers: the small-domain
        warning counts rows, not cells, and design effects (asked for later)
        come from a pass that sums the weighted cross products of the rows."""
        self.warn_small_domains(result, sums, by_cols, kind)
        srs: Any
        if spec.level:  # indicators: their squares are themselves, no second pass
            srs = self._level_srs(sums, spec, by_cols, result, kind)
        else:
            srs = functools.partial(self._srs_pass, replace(spec, moments=True), by_cols,
                                    result, kind, [_entry(list(spec.variables), e)
                                                   for e in entries])
        return Estimate(result.estimate.to_numpy(), result.vcov.to_numpy(),
                        result.estimate.index, df=result.df_values, kind=kind, srs=srs,
                        level=level, method=method, notes=result.notes)

    def _level_srs(self, sums: pd.DataFrame, spec: SumsSpec, by_cols: list[str],
                   result: Estimate, kind: str) -> Any:
        """The SRS variances of the level shares (or counts), from the sums at hand."""
        assert spec.level is not None
        level = spec.level
        rows = sums[sums[COMPLETE].to_numpy(dtype=bool)]
        labels = list(dict.fromkeys(result.estimate.index.get_level_values("variable")))
        values = {f"{level}[{v}]": v for v in rows[level].unique()}
        per_level = [self._domain_sums(rows[rows[level] == values[lab]] if lab in values
                                       else rows.iloc[:0], by_cols, result, [SW], True)[:, 0]
                     for lab in labels]  # over the levels
        S = np.nan_to_num(np.column_stack(per_level))
        D = self._domain_sums(sums, by_cols, result, [SW, NPOS], True)
        K = S.shape[1]
        Q = [[S[:, j] for _ in range(K)] for j in range(K)]
        return functools.partial(_srs, kind, [(j, -1) for j in range(K)], D[:, 0], D[:, 1],
                                 S, Q, kind in ("mean", "proportion"))

    def _srs_pass(self, spec: SumsSpec, by_cols: list[str], result: Estimate, kind: str,
                  entries: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
        """Variances under simple random sampling: one more pass, for the
        weighted cross products of the variables per domain."""
        sums = self._pass(spec, kind, na_rm=True)
        q = len(spec.variables)
        cols = [SW, NPOS] + [spec.total(j) for j in range(q)] + [
            spec.cross(j, k) for j, k in spec.pairs]
        D = self._domain_sums(sums, by_cols, result, cols, True)
        pair_col = {p: i for i, p in enumerate(spec.pairs)}
        Q = [[D[:, 2 + q + pair_col[(min(j, k), max(j, k))]] for k in range(q)]
             for j in range(q)]
        return _srs(kind, entries, D[:, 0], D[:, 1], D[:, 2:2 + q], Q,
                    kind in ("mean", "proportion"))

    @staticmethod
    def _domain_keys(result: Estimate, by_cols: list[str]) -> list[tuple[Any, ...]]:
        if not by_cols:
            return [()]
        index = result.estimate.index.droplevel("variable").unique()
        return [k if isinstance(k, tuple) else (k,) for k in index]

    # --------------------------------------------------------------- weighting
    def poststratify(self, by: str | Sequence[str], totals: Any, *,
                     partial: bool = False) -> EngineDesign:
        """Post-stratify the weights to known population counts, as
        :meth:`innobaro.Design.poststratify`.

        Parameters
        ----------
        by : str or list of str
            Post-stratification columns (their combination is the cell).
        totals : dict, pandas.Series or pandas.DataFrame
            Population count of each cell, as for :meth:`innobaro.Design.poststratify`.
        partial : bool, default False
            Ignore population cells that have no sample (with a warning).

        Returns
        -------
        EngineDesign
            The weights :math:`w_i N_c / \\hat N_c`, applied by the engine on every
            pass; the variance uses the residuals from the cell means (Holt and
            Smith 1979; R's ``postStratify``). One pass of weight totals per
            (PSU, cell) when called.

        Examples
        --------
        >>> import pandas as pd
        >>> from innobaro.engines import EngineDesign, FrameSource
        >>> df = pd.DataFrame({"psu": range(6), "w": [10.0] * 6, "g": list("aabbbb"),
        ...                    "y": [1.0, 2, 3, 4, 5, 6]})
        >>> d = EngineDesign(FrameSource(df), weights="w", psu="psu")
        >>> float(d.poststratify("g", {"a": 30, "b": 30}).total("y").estimate.iloc[0])
        180.0
        """
        from .weighting import poststratify

        return poststratify(self, by, totals, partial=partial)

    def rake(self, margins: dict[str, Any], *, max_iter: int = 50,
             tol: float = 1e-7) -> EngineDesign:
        """Rake the weights to several margins, as :meth:`innobaro.Design.rake`.

        Parameters
        ----------
        margins : dict
            ``{column: totals}``, each as in :meth:`poststratify`.
        max_iter : int, default 50
            Passes of iterative proportional fitting (over the cells of the
            margins' cross-classification, not over the rows).
        tol : float, default 1e-7
            Convergence, as :meth:`innobaro.Design.rake`.

        Returns
        -------
        EngineDesign
            The weights :math:`w_i g_c`, :math:`g_c` the product of the margins'
            factors in the row's cell of the cross-classification, applied by the
            engine; the variance removes the projection on the margins as R's
            ``svyrecvar`` does (Deming and Stephan 1940; Lumley 2010, ch. 7).

        Examples
        --------
        >>> import pandas as pd
        >>> from innobaro.engines import EngineDesign, FrameSource
        >>> df = pd.DataFrame({"psu": range(8), "w": [5.0] * 8,
        ...                    "a": list("xxyyxxyy"), "b": list("ppppqqqq")})
        >>> d = EngineDesign(FrameSource(df), weights="w", psu="psu").rake(
        ...     {"a": {"x": 30, "y": 10}, "b": {"p": 20, "q": 20}})
        >>> d.total("a").estimate.round(6).tolist()
        [30.0, 10.0]
        """
        from .weighting import rake

        return rake(self, margins, max_iter=max_iter, tol=tol)

    def calibrate(self, totals: Any, *, formula: str | None = None, method: str = "linear",
                  bounds: tuple[Any, Any] | None = None, bounds_const: bool = False,
                  variance: Any = None, aggregate_stage: int | None = None,
                  aggregate_index: str | None = None, max_iter: int = 50,
                  tol: float = 1e-7) -> EngineDesign:
        """Calibrate the weights to population totals, as :meth:`innobaro.Design.calibrate`.

        Parameters
        ----------
        totals : dict or pandas.Series
            Population total of each auxiliary: keyed by numeric column names
            and ``"Intercept"``, or, with ``formula``, by the model matrix's
            column names (``"Intercept"``, ``"g[T.south]"``, ``"x"``).
        formula : str, optional
            A formula without response: text columns and ``C(column)`` are
            categorical (their levels found in one pass), numeric terms are
            columns, numbers, arithmetic, ``I()`` and ``np.log``, ``np.exp``,
            ``np.sqrt``, ``np.log2``, ``np.log10``, ``np.abs``, evaluated row
            by row. On Dask and in-memory frames; not yet on DuckDB.
        method : {"linear", "raking", "logit", "sinh"}, default "linear"
            The distance of Deville and Särndal (1992), as in memory.
        bounds : (lower, upper), optional
            Bounds on the g-weights (required for logit and sinh): each a
            number or a numeric column.
        bounds_const : bool, default False
            The bounds are on the calibrated weights (g-bounds ``bounds / w_i``).
        variance : str, float or sequence of float, optional
            Heteroscedastic variances :math:`\\sigma^2_i`: a column or a number,
            or one coefficient per auxiliary (:math:`\\sigma^2_i = x_i^T v`).
        aggregate_stage, aggregate_index
            Not available on an engine design
            (:class:`~innobaro.errors.UnsupportedDesignError`).
        max_iter : int, default 50
        tol : float, default 1e-7
            Newton's stopping rule, as in memory: every
            :math:`|\\hat T_k - T_k| / (1 + |T_k|) < tol`.

        Returns
        -------
        EngineDesign
            The weights :math:`w_i g_i`, :math:`g_i = F(x_i^T \\lambda / \\sigma^2_i)`,
            computed by the engine row by row on every later pass. The linear
            distance without bounds takes one pass for :math:`\\lambda =
            (X^T W \\Sigma^{-1} X)^{-1} (T_x - X^T w)`; the others take one pass
            per Newton step on :math:`\\lambda` (sums of :math:`w_i F'(u_i) x_i
            x_i^T / \\sigma^2_i` and :math:`w_i (F(u_i) - 1) x_i`), stopping where
            :meth:`innobaro.Design.calibrate` stops. The variance uses the
            residuals of the calibration regression (Deville and Särndal 1992).
            Its ``passes`` attribute counts the passes over the rows the
            calibration took (the structure pass of the weighted rows included).

        Raises
        ------
        CalibrationError
            Totals out of reach within the bounds, or no convergence in
            ``max_iter`` steps, as in memory.

        Examples
        --------
        >>> import pandas as pd
        >>> from innobaro.engines import EngineDesign, FrameSource
        >>> df = pd.DataFrame({"psu": range(6), "w": [10.0] * 6,
        ...                    "x": [1.0, 2, 3, 4, 5, 6], "y": [2.0, 3, 5, 4, 6, 8]})
        >>> d = EngineDesign(FrameSource(df), weights="w", psu="psu")
        >>> d.calibrate({"Intercept": 60, "x": 240}).total("x").estimate.round(6).tolist()
        [240.0]
        >>> r = d.calibrate({"Intercept": 60, "x": 240}, method="raking")
        >>> r.total("x").estimate.round(6).tolist()
        [240.0]
        """
        from .weighting import calibrate

        return calibrate(self, totals, formula=formula, method=method, bounds=bounds,
                         bounds_const=bounds_const, variance=variance,
                         aggregate_stage=aggregate_stage, aggregate_index=aggregate_index,
                         max_iter=max_iter, tol=tol)

    # ------------------------------------------- quantiles and two-way tables
    @property
    def source(self) -> Source:
        """The engine's rows (advanced)."""
        return self._source

    @property
    def sums_spec(self) -> SumsSpec:
        """The design's columns as a :class:`~innobaro.engines.sums.SumsSpec` (advanced)."""
        return self._spec

    @property
    def design_args(self) -> dict[str, Any]:
        """The arguments of the in-memory :class:`~innobaro.Design` of cells (advanced)."""
        return dict(self._args)

    def checked_sums(self, spec: SumsSpec, what: str, na_rm: bool) -> pd.DataFrame:
        """One pass of grouped sums, checked as every estimator's (advanced).

        Parameters
        ----------
        spec : SumsSpec
        what : str
            The estimator's name, for the messages.
        na_rm : bool

        Returns
        -------
        pandas.DataFrame
            The sums; missing values, bad weights and a changed source are errors.
        """
        return self._pass(spec, what, na_rm)

    def table_design(self, sums: pd.DataFrame, spec: SumsSpec) -> Any:
        """The in-memory design whose rows are the cells of a table's sums (advanced).

        Parameters
        ----------
        sums : pandas.DataFrame
            One pass of ``spec``'s sums (the table's levels are ``spec.by``).
        spec : SumsSpec

        Returns
        -------
        Design or ReplicateDesign
            Rows: the cells, weight :math:`T_c(w)`; :func:`innobaro.table` and
            :func:`innobaro.chisq_test` run on it (:mod:`innobaro.engines.tables`).
        """
        return self.rows_design(cells_design_frame(sums, spec, _W), _W)

    def rows_design(self, frame: pd.DataFrame, weight: str) -> Any:
        """An in-memory design over rows or cells of this design (advanced).

        Parameters
        ----------
        frame : pandas.DataFrame
            Rows (or cells summing rows) with the design's key columns.
        weight : str
            Their weight column.

        Returns
        -------
        Design
            With this design's strata, PSUs, fpc and options (and its weighting,
            where a weighted design can carry it: see
            :mod:`innobaro.engines.weighting`); the quantile and the tables run on it.
        """
        return Design(frame, weights=weight, **self._args)

    def quantile(self, y: str, q: float | Sequence[float], *,
                 by: str | Sequence[str] | None = None, level: float = 0.95,
                 na_rm: bool = False, interval_type: str = "mean") -> Estimate:
        """Quantiles with Woodruff intervals, exactly, as :func:`innobaro.quantile`.

        Parameters
        ----------
        y : str
            One numeric column.
        q : float or list of float
            Probabilities in [0, 1].
        by : str or list of str, optional
        level : float, default 0.95
            The interval's level (``ci()`` gives it at this level only).
        na_rm : bool, default False
        interval_type : {"mean", "xlogit", "asin"}, default "mean"

        Returns
        -------
        Estimate

        Notes
        -----
        :math:`\\hat Q(p) = \\min\\{x : \\hat F(x) \\ge p\\}` (R's ``qrule="math"``), by a
        histogram pass that brackets it and a pass that brings the bracketed
        rows (:mod:`innobaro.engines.quantile`; Woodruff 1952).
        """
        from .quantile import engine_quantile

        return engine_quantile(self, y, q, by=by, level=level, na_rm=na_rm,
                               interval_type=interval_type)


    def table(self, row: str, col: str | None = None, *, shares: str = "col",
              na_rm: bool = False) -> pd.DataFrame:
        """Weighted counts and shares of a one- or two-way table, as :func:`innobaro.table`.

        Parameters
        ----------
        row : str
        col : str, optional
        shares : {"col", "row", "total"}, default "col"
        na_rm : bool, default False

        Returns
        -------
        pandas.DataFrame

        Notes
        -----
        :math:`\\hat N_{rc} = \\sum_u T_{u,rc}(w)` from one pass of (stratum, PSU,
        level) sums (:mod:`innobaro.engines.tables`; Lumley 2010, sec. 2.3).
        """
        from .tables import engine_table

        return engine_table(self, row, col, shares=shares, na_rm=na_rm)

    def chisq_test(self, row: str, col: str, *, statistic: str = "F", na_rm: bool = False,
                   drop_empty: bool = False) -> Any:
        """Rao-Scott test of independence, as :func:`innobaro.chisq_test`.

        Parameters
        ----------
        row, col : str
        statistic : str, default "F"
        na_rm : bool, default False
        drop_empty : bool, default False

        Returns
        -------
        TestResult

        Notes
        -----
        :math:`F = X^2 / \\mathrm{tr}\\,\\Delta` (Rao and Scott 1984) from one pass of
        (stratum, PSU, cell) sums (:mod:`innobaro.engines.tables`).
        """
        from .tables import engine_chisq_test

        return engine_chisq_test(self, row, col, statistic=statistic, na_rm=na_rm,
                                 drop_empty=drop_empty)
    # ------------------------------------------------------------------ models
    def glm(self, formula: str, *, family: Any = "gaussian", link: str | None = None,
            variance: str | None = None, theta: float | None = None,
            domain: str | None = None, offset: str | None = None, tol: float = 1e-12,
            max_iter: int = 100) -> EngineGLMResult:
        """Fit a survey-weighted GLM over the engine's rows, as :func:`innobaro.glm`.

        Parameters
        ----------
        formula : str
            A patsy formula: numeric columns, ``C(column, ...)``,
            ``relevel(column, level)`` and text columns (any contrast),
            interactions, ``I()``, arithmetic, ``np.log``, ``np.exp``,
            ``np.sqrt``, ``np.log2``, ``np.log10`` and ``np.abs``: what is
            evaluated row by row (in SQL on DuckDB), so no ``center()`` or
            ``x.mean()``.
        family : str or statsmodels family, default "gaussian"
            As :func:`innobaro.glm`: every family and link, step-halving
            included (on DuckDB the probit link's normal distribution
            function in SQL, :mod:`innobaro.engines.sqlmath`).
        link, variance, theta : optional
            As :func:`innobaro.glm` (``variance`` for ``quasi``, ``theta`` for
            ``negative.binomial``).
        domain : str, optional
            A column whose nonzero (true) rows are the domain: the model of
            ``ib.glm(formula, design.subset(column != 0))``, the other rows
            staying in the design.
        offset : str, optional
            A numeric column added to the linear predictor (``glm(offset=)``).
        tol : float, default 1e-12
            :func:`innobaro.glm`'s convergence rule and tolerance, from R's
            starting means, so both stop at the same point.
        max_iter : int, default 100

        Returns
        -------
        EngineGLMResult
            Coefficients, covariance, residual df, ``summary()`` and
            ``to_frame()``, ``coefficients`` as an :class:`~innobaro.Estimate`.

        Notes
        -----
        IRLS as map-reduce: one pass per iteration for :math:`X^\\top W X` and
        :math:`X^\\top W z`, then one pass for the PSU totals of
        :math:`r_i x_i`, whose product with :math:`(X^\\top W X)^{-1}` are the
        influence totals of :math:`\\hat\\beta` (Binder 1983), given to the
        in-memory variance engine (see :mod:`innobaro.engines.glm`).
        """
        return fit_glm(self._source, formula, family=family, link=link, variance=variance,
                       theta=theta,
                       keys=self._spec.keys, weights=self._spec.weights,
                       probs=self._spec.probs, design_args=self._args, n_rows=self._n,
                       weight_total=self._wsum, domain=domain, offset=offset, tol=tol,
                       max_iter=max_iter)

    def logit(self, formula: str, **kwargs: Any) -> EngineGLMResult:
        """A logistic regression: :meth:`glm` with ``family="binomial"``.

        Parameters
        ----------
        formula : str
        **kwargs
            As for :meth:`glm`.

        Returns
        -------
        EngineGLMResult

        Notes
        -----
        :math:`\\operatorname{logit} P(y_i = 1) = x_i^\\top \\beta` (Lumley 2010, ch. 6).
        """
        return self.glm(formula, family="binomial", **kwargs)


def design_over(source: Source, *, weights: str | None, probs: str | None,
                strata: Any, psu: Any, fpc: Any, nest: bool, lonely_psu: LonelyRule,
                replicate_weights: Sequence[str] | str | None,
                replicate: dict[str, Any], pps: str | HartleyRao | None = None,
                variance: Literal["HT", "YG"] = "HT") -> EngineDesign:
    """The design over an engine's rows that ``Design.from_parquet``,
    ``from_duckdb`` and ``from_dask`` return: a replicate-weight design when
    ``replicate_weights`` (or a replicate option) is given, else an
    :class:`EngineDesign` with ``Design``'s arguments.

    Parameters
    ----------
    source : Source
    weights, probs, strata, psu, fpc, nest, lonely_psu
        As for :class:`~innobaro.Design`.
    replicate_weights : list of str, optional
    replicate : dict
        ``method``, ``scale``, ``rscales``, ``rho``, ``mse``,
        ``combined_weights``, ``df``.
    pps, variance
        As for :class:`EngineDesign` (not with replicate weights).

    Returns
    -------
    EngineDesign
    """
    if replicate_weights is not None or replicate:
        from .replicates import replicate_engine_design

        if pps is not None:
            raise DesignError("pps= describes a design with PSUs; a replicate-weight design "
                              "takes its variance from the replicate weights")

        return replicate_engine_design(source, weights, probs, replicate_weights, replicate,
                                       strata=strata, psu=psu, fpc=fpc)
    return EngineDesign(source, weights=weights, probs=probs, strata=strata, psu=psu,
                        fpc=fpc, nest=nest, lonely_psu=lonely_psu, pps=pps, variance=variance)


def _entry(var: list[str], entry: Any) -> tuple[int, int]:
    """(numerator, denominator) positions of an entry; -1 without a denominator."""
    if isinstance(entry, tuple):
        return var.index(entry[0]), var.index(entry[1])
    return var.index(entry), -1


def _srs(kind: str, entries: list[tuple[int, int]], size: np.ndarray, n: np.ndarray,
         S: np.ndarray, Q: list[list[np.ndarray]], mean_type: bool
         ) -> tuple[np.ndarray, np.ndarray]:
    """Variances under simple random sampling from domain sums (R's ``deff``).

    For influence values :math:`z_i = w_i u_i` with :math:`\\sum w_i u_i = 0`,
    :math:`s^2_w(u) = \\sum w_i u_i^2 / \\hat N \\cdot n / (n - 1)`, and the SRS
    variances are :math:`s^2_w \\hat N^2 (\\hat N - n) / (\\hat N n)` and
    :math:`s^2_w \\hat N^2 / n` (Kish 1965).
    """
    D = size.size
    s2 = np.empty((D, len(entries)))
    with np.errstate(divide="ignore", invalid="ignore"):
        for e, (j, k) in enumerate(entries):  # over variables
            if k < 0:
                m = S[:, j] / size
                ss = Q[j][j] - 2 * m * S[:, j] + m * m * size  # sum w (y - m)^2
                if kind != "total":
                    ss = ss / (size * size)
            else:
                r = S[:, j] / S[:, k]
                ss = (Q[j][j] - 2 * r * Q[j][k] + r * r * Q[k][k]) / (S[:, k] * S[:, k])
            s2[:, e] = ss / size * n / (n - 1)
    return srs_from_variances(s2, size, n, mean_type)


def _quiet(fn: Any, *args: Any, **kwargs: Any) -> Estimate:
    """Run an estimator on the cells; its count of rows per domain is of cells,
    so its small-domain warning is left to :meth:`EngineDesign._rebuild`."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=f".*{SMALL_DOMAIN}",
                                category=InnobaroWarning)
        return fn(*args, **kwargs)  # type: ignore[no-any-return]
