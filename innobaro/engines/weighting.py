"""Weighting an engine design: post-stratification, raking and calibration.

Each weighting is a few passes of grouped sums, and the weighted design's
estimates equal those of :mod:`innobaro.weighting` on the same rows, with the
weighting carried into the variance (:mod:`innobaro.variance.calibration`):

- **post-stratification** and **raking** multiply each row's weight by a
  factor of its cell (of the post-strata, or of the cross-classification of
  the margins). One pass gives the weight totals per (PSU, cell); the factors
  come from :func:`innobaro.weighting.poststratify` or
  :func:`~innobaro.weighting.rake` run on those totals (every pass of
  iterative proportional fitting is a pass over the cells, not the rows), and
  every later pass multiplies its cell sums by the cell's factor. Post-strata
  are then cells of the in-memory design, whose post-stratification residuals
  are the in-memory ones. Raking's residuals (R's ``svyrecvar``: centring
  :math:`z/w_k` within each margin's levels, unweighted) also need the
  unweighted sums of the variables over the rows with positive weight: each
  pass adds them (the column divided by the weight).
- **calibration**: the calibrated weight :math:`w_{0i}\\, s\\, F(x_i^T \\lambda /
  \\sigma^2_i)` is a column the engine computes lazily, row by row, on every
  later pass (SQL in DuckDB, numpy per partition on Dask). The linear distance
  without bounds takes one pass (:math:`X^T W_0 \\Sigma^{-1} X`, :math:`X^T w_0`
  and the checks) and solves for :math:`\\lambda`. The raking, logit and sinh
  distances and bounds (constants or columns, on the g-weights or with
  ``bounds_const`` on the weights) take that pass (with the bounds' checks
  and the range of totals the bounds can reach), then one pass per Newton
  step of :func:`innobaro.weighting.calibrate`: :math:`\\sum_i w_{0i} s F'(u_i)
  x_i x_i^T / \\sigma^2_i` and :math:`\\sum_i w_{0i} s (F(u_i) - 1) x_i` at
  :math:`u_i = x_i^T \\lambda / \\sigma^2_i`, with the same pre-scaling
  :math:`s`, step halving, stopping rule, tolerance and ``max_iter``, so both
  stop at the same :math:`\\lambda`. A formula's categorical columns have their
  levels found in one more pass, and the model matrix is built per partition
  with the encoding those levels give. The residuals :math:`z - w x^T K F^T z`
  need :math:`F^T z = \\sum_i x_i w_{0i} u_i / f_i` (:math:`f_i = \\sigma^2_i` for
  the linear distance, else 1, as R; a pass with those weights: the totals
  of :math:`w_0 x / f` and :math:`w_0 x y / f` per domain) and the totals of
  :math:`w x` per cell.

A **replicate-weight design** over an engine is post-stratified or raked
replicate by replicate (R's ``svrepdesign`` weighting): one pass gives the
full-sample and replicate weight totals per cell of the weighting's columns,
the in-memory weighting of a :class:`~innobaro.ReplicateDesign` of those cells
gives a factor per (cell, replicate), and every later pass scales each
replicate's cell totals by its factor; the degrees of freedom come from the
replicate Gram sums per (domain, cell), scaled by the factors.
Its calibration (``variance=`` and ``formula=`` as above; not
``bounds_const``) sums :math:`X^T W_r \\Sigma^{-1} X` and :math:`X^T w_r` for the full sample
and every replicate in one pass, solves each replicate's :math:`\\lambda_r`, and
makes every calibrated weight :math:`w_{ri} (1 + x_i^T \\lambda_r / \\sigma^2_i)` a
column the engine computes: a replicate design over those columns, whose
variance and degrees of freedom need no residuals. The other distances and
bounds take Newton steps for every replicate at once, one pass per step
(the sums of each still-active replicate), with the in-memory per-replicate
pre-scaling, reachable ranges, step halving and shared iteration count.

The influence values of mean, total, ratio and proportion are affine in the
row's values, :math:`u_i = \\alpha_d + \\beta_d^T y_i` within domain :math:`d`, so
every sum above is a combination of cell totals; the residuals' totals per
cell go to :func:`innobaro.variance.linearization.linearized_vcov`, the one
variance engine (strata, fpc, lonely PSUs), on the design of the cells.

References
----------
.. [1] Deville, J.-C. and Särndal, C.-E. (1992). Calibration estimators in
   survey sampling. *JASA* 87, 376-382.
.. [2] Lumley, T. (2010). *Complex Surveys*, ch. 7. Wiley.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from .._validate import as_column_list
from ..design import Design
from ..errors import (
    DesignError,
    EngineError,
    EstimationError,
    InnobaroWarning,
    MissingValueError,
    UnsupportedDesignError,
)
from ..formula import ModelSpec
from ..results import Estimate
from ..variance.calibration import Basis, CalibrationStep, project_influence
from ..variance.linearization import Influence, linearized_vcov
from .core import EngineDesign, FrameSource, Source
from .replicates import ReplicateEngineDesign
from .sums import COMPLETE, NPOS, PREFIX, SW, WBAD, N, SumsSpec, check_rows

__all__ = ["calibrate", "poststratify", "rake"]

#: the weight total of a cell before a cell factor (added by the scaling source)
_SW0 = PREFIX + "sw0"
#: the calibrated weight, a column the engine computes
_WCAL = PREFIX + "wcal"
#: the factor column of a table of cell factors
_G = PREFIX + "g"
#: the weight column of a replicate design of cells
_W0 = PREFIX + "w"
#: prefix of a variable divided by the design weight (zero where it is not positive)
_PERW = PREFIX + "perw_"
_INTERCEPT = ("Intercept", "(Intercept)")


# ---------------------------------------------------------------------------
# sources: derived columns, and cell factors
# ---------------------------------------------------------------------------
class _Derived:
    """A source with columns computed from the rows, lazily, on every pass.

    ``__ib_perw_<y>`` is ``y / w0`` (zero where ``w0`` is not positive) for any
    numeric column. With ``cal`` (a calibration's rows, :math:`\\lambda` and the
    pre-scaling :math:`s`): ``__ib_wcal`` is the calibrated weight
    :math:`w_0\\, s\\, F(x^T \\lambda / \\sigma^2)`, ``__ib_w0f`` is
    :math:`w_0 / \\sigma^2`, and ``__ib_calx<j>`` the model matrix's column ``j``.
    ``w0`` is the design weight (``weights``, ``1 / probs`` or 1).
    """

    def __init__(self, inner: Source, weights: str | None, probs: str | None,
                 cal: tuple[_CalRows, tuple[float, ...], float] | None = None) -> None:
        self.inner = inner
        self.engine = inner.engine
        self.weights, self.probs = weights, probs
        self.cal = cal

    def _cal_columns(self) -> list[str]:
        if self.cal is None:
            return []
        m = self.cal[0]
        xs = [_XCOL + str(j) for j in range(len(m.aux)) if m.spec is not None
              and (m.keep is None or m.keep[j])]
        return [_WCAL, _W0F, *xs]

    def columns(self) -> list[str]:
        """The source's columns, and the derived ones."""
        cols = self.inner.columns()
        return cols + [_PERW + c for c in cols if self.inner.numeric(c)] + self._cal_columns()

    def numeric(self, name: str) -> bool:
        """Whether a column is numeric (every derived column is)."""
        return (name.startswith(_PERW) or name in self._cal_columns()
                or self.inner.numeric(name))

    def _wanted(self, spec: SumsSpec) -> list[str]:
        names = [*spec.variables, *([spec.weights] if spec.weights else [])]
        derived = set(self._cal_columns())
        return [c for c in dict.fromkeys(names) if c.startswith(_PERW) or c in derived]

    def sums(self, spec: SumsSpec) -> pd.DataFrame:
        """Grouped sums, with the derived columns the spec names computed by the engine."""
        wanted = self._wanted(spec)
        if not wanted:
            return self.inner.sums(spec)
        return _with_columns(self.inner, wanted, self).sums(spec)

    def sql_columns(self, names: list[str]) -> list[str]:
        """``<expression> AS <name>`` of each derived column."""
        if self.weights is not None:
            w0 = _num(self.weights)
        elif self.probs is not None:
            w0 = f"(1.0 / {_num(self.probs)})"
        else:
            w0 = "1.0"
        out = []
        for name in names:  # over derived columns
            if name.startswith(_PERW):
                y = _num(name[len(_PERW):])
                out.append(f"CASE WHEN {w0} > 0 THEN {y} / {w0} WHEN {y} IS NULL OR "
                           f"isnan({y}) THEN {y} ELSE 0.0 END AS {_q(name)}")
                continue
            assert self.cal is not None
            m, eta, scale = self.cal
            out.append(f"{_sql_cal_column(m, eta, scale, name)} AS {_q(name)}")
        return out


def _q(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + str(name).replace('"', '""') + '"'


def _num(name: str) -> str:
    return f"CAST({_q(name)} AS DOUBLE)"


def _derive(frame: pd.DataFrame, names: list[str], weights: str | None, probs: str | None,
            cal: tuple[_CalRows, tuple[float, ...], float] | None) -> pd.DataFrame:
    """``frame`` with the derived columns ``names`` of :class:`_Derived` (a new
    frame; ``frame`` is not changed). Run per partition on Dask."""
    n = len(frame)
    if weights is not None:
        w0 = frame[weights].to_numpy(dtype=float, na_value=np.nan)
    elif probs is not None:
        with np.errstate(divide="ignore"):
            w0 = 1.0 / frame[probs].to_numpy(dtype=float, na_value=np.nan)
    else:
        w0 = np.ones(n)
    new: dict[str, np.ndarray] = {}
    rows: dict[str, np.ndarray] | None = None
    for name in names:  # over derived columns
        if name.startswith(_PERW):
            y = frame[name[len(_PERW):]].to_numpy(dtype=float, na_value=np.nan)
            pos = w0 > 0
            with np.errstate(divide="ignore", invalid="ignore"):
                new[name] = np.where(pos, y / np.where(pos, w0, 1.0),
                                     np.where(np.isnan(y), np.nan, 0.0))
            continue
        assert cal is not None
        m, eta, scale = cal
        if name == _WCAL:
            rows, fm1, _ = _frame_g(frame, m, eta)
            new[name] = rows["w0"] * (scale * (1 + fm1))
            continue
        if rows is None:
            rows = _frame_rows(frame, m)
        if name == _W0F:
            with np.errstate(divide="ignore"):
                new[name] = rows["w0"] * (1.0 / rows["s2"])
        else:
            kept = [j for j in range(len(m.aux)) if m.keep is None or m.keep[j]]
            new[name] = rows["X"][:, kept.index(int(name[len(_XCOL):]))]
    return frame.assign(**new)


def _with_columns(inner: Source, names: list[str], derived: _Derived) -> Source:
    """The inner source with derived columns, computed where the rows are."""
    args = (names, derived.weights, derived.probs, derived.cal)
    if isinstance(inner, FrameSource):
        return FrameSource(_derive(inner.frame, *args))
    if inner.engine == "dask":
        from .dask_engine import DaskSource

        frame = inner.frame  # type: ignore[attr-defined]
        empty = pd.DataFrame({c: pd.Series(dtype=t) for c, t in frame.dtypes.items()})
        meta = _derive(empty, *args)
        return DaskSource(frame.map_partitions(_derive, *args, meta=meta),
                          split_every=inner.split_every)  # type: ignore[attr-defined]
    if inner.engine == "duckdb":
        from .duckdb_engine import DuckDBSource

        rel = inner.relation  # type: ignore[attr-defined]
        return DuckDBSource(rel.project(", ".join(["*", *derived.sql_columns(names)])),
                            inner.connection)  # type: ignore[attr-defined]
    raise UnsupportedDesignError(f"weighting a {inner.engine} design is not supported")


class _CellFactors:
    """A source whose sums are scaled by factors of each cell of the columns
    ``cols`` (found in ``index``): the accessors :class:`_Scaled` and
    :class:`_RepScaled` share."""

    inner: Source
    engine: str
    cols: list[str]
    index: pd.MultiIndex

    def columns(self) -> list[str]:
        """The inner source's columns."""
        return self.inner.columns()

    def numeric(self, name: str) -> bool:
        """As the inner source."""
        return self.inner.numeric(name)

    def lookup(self, sums: pd.DataFrame) -> np.ndarray:
        """Position in the factor table of each cell of ``sums``."""
        at = self.index.get_indexer(pd.MultiIndex.from_frame(sums[self.cols]))
        if (at < 0).any():
            raise EngineError(f"the {self.engine} source has cells of {self.cols} that were "
                              f"not there when the design was weighted; weight it again")
        return np.asarray(at)


class _Scaled(_CellFactors):
    """A source whose weighted sums are multiplied by a factor of the row's cell
    (of the columns ``cols``): the weights ``w g_c``, exact because every row
    of a cell of the sums has the same factor."""

    def __init__(self, inner: Source, cols: list[str], table: pd.DataFrame) -> None:
        self.inner = inner
        self.engine = inner.engine
        self.cols = cols
        self.index = pd.MultiIndex.from_frame(table[cols])
        self.factor = table[_G].to_numpy(dtype=float)

    def sums(self, spec: SumsSpec) -> pd.DataFrame:
        """The inner sums, scaled; ``__ib_sw0`` keeps the weight total before."""
        out = self.inner.sums(spec)
        g = self.factor[self.lookup(out)]
        out[_SW0] = out[SW]
        floats = [SW, *(spec.total(j) for j in range(len(spec.variables))),
                  *(spec.cross(j, k) for j, k in spec.pairs)]
        for c in floats:  # over statistics
            out[c] = out[c].to_numpy(dtype=float) * g
        return out


# ---------------------------------------------------------------------------
# weighted designs
# ---------------------------------------------------------------------------
class _Weighted(EngineDesign):
    """An engine design whose weights were estimated from the sample."""

    _weighting: str

    def __repr__(self) -> str:
        return super().__repr__() + f", {self._weighting}"

    def _counts(self, sums: pd.DataFrame, spec: SumsSpec, by_cols: list[str],
                est: Estimate) -> tuple[np.ndarray, np.ndarray]:
        # R keeps every row in every domain of a weighted design (rows_at_calibration)
        n_rows, n_obs = super()._counts(sums, spec, by_cols, est)
        return np.full(n_rows.shape, float(self._n)), n_obs

    @classmethod
    def _copy(cls, design: EngineDesign, what: str) -> Any:
        """A copy of ``design``'s fields, to weight (a design is weighted once)."""
        if isinstance(design, _Weighted):
            raise UnsupportedDesignError(f"{what}: this {design.engine} design is weighted "
                                         f"already ({design._weighting}); weight the design "
                                         f"once (rake to several margins, or calibrate)")
        new = cls.__new__(cls)
        new.__dict__.update(vars(design))
        return new

    def _check_weights(self, sums: pd.DataFrame) -> None:
        """Refuse weights the engine cannot use (the calibrated ones below zero)."""

    def rows_design(self, frame: pd.DataFrame, weight: str) -> Any:
        """Refused: the weighting's effect on the variance of a table is not
        carried through the cells (but see :class:`_PostStratified`)."""
        raise _not_carried(self, "tables")

    def quantile(self, *args: Any, **kwargs: Any) -> Any:
        """Refused: the quantile of a weighted engine design would miss the
        weighting (:class:`~innobaro.errors.UnsupportedDesignError`).

        Parameters
        ----------
        *args, **kwargs
            As for :meth:`EngineDesign.quantile`.

        Returns
        -------
        Estimate
            Never.
        """
        raise _not_carried(self, "quantiles")

    def glm(self, formula: str, **kwargs: Any) -> Any:
        """Refused: a model on a weighted engine design would miss the weighting's
        effect on its variance (:class:`~innobaro.errors.UnsupportedDesignError`).

        Parameters
        ----------
        formula : str
        **kwargs
            As for :meth:`EngineDesign.glm`.

        Returns
        -------
        EngineGLMResult
            Never.
        """
        raise _not_carried(self, "models")

    def _plain_cells(self, sums: pd.DataFrame, spec: SumsSpec) -> Design:
        """The cells as an in-memory design, with the weights of the sums."""
        return super()._cells_design(sums, spec)

    def _structure(self, cols: list[str], what: str) -> tuple[SumsSpec, Design]:
        """One pass: the weight totals per (design cell, cell of ``cols``), as a design."""
        have = set(self._source.columns())
        for c in cols:
            if c not in have:
                raise DesignError(f"{what}: column {c!r} is not in the data")
        spec = replace(self._spec, keys=tuple(dict.fromkeys([*self._spec.keys, *cols])))
        sums = self._source.sums(spec)
        for c in cols:
            if sums[c].isna().to_numpy().any():
                raise MissingValueError(f"{what}: column {c!r} has missing values")
        check_rows(sums, spec, what, na_rm=True)
        return spec, self._plain_cells(sums, spec)

    def _finish(self, source: Source, spec: SumsSpec, label: str, what: str) -> Any:
        """The structure pass over the weighted rows."""
        self._source, self._spec, self._weighting = source, spec, label
        sums = source.sums(spec)
        self._check_weights(sums)
        check_rows(sums, spec, what, na_rm=True)
        self._wsum = float(sums[SW].sum())
        self._cells = self._cells_design(sums, spec)
        return self


class _PostStratified(_Weighted):
    """Post-strata are keys of the cells; the cells' design is post-stratified."""

    _ps: tuple[list[str], Any, bool]

    def rows_design(self, frame: pd.DataFrame, weight: str) -> Any:
        """The rows' or cells' design, post-stratified as this design: the
        post-strata are keys of every pass's cells, so the in-memory
        post-stratification's residuals are the rows'."""
        by, totals, partial = self._ps
        with warnings.catch_warnings():  # warned once, when the design was weighted
            warnings.simplefilter("ignore", InnobaroWarning)
            return EngineDesign.rows_design(self, frame, weight).poststratify(
                by, totals, partial=partial)

    def _cells_design(self, sums: pd.DataFrame, spec: SumsSpec) -> Design:
        cells = super()._cells_design(sums, spec)
        by, totals, partial = self._ps
        with warnings.catch_warnings():  # warned once, when the design was weighted
            warnings.simplefilter("ignore", InnobaroWarning)
            return cells.poststratify(by, totals, partial=partial)

    def _weigh(self, by: str | Sequence[str], totals: Any, partial: bool) -> Any:
        by_cols = as_column_list(by, "by")
        spec, cells = self._structure(by_cols, "poststratify")
        weighted = cells.poststratify(by_cols, totals, partial=partial)  # errors as in memory
        self._ps = (by_cols, totals, partial)
        return self._finish(_Scaled(self._source, by_cols, _factors(cells, weighted, by_cols)),
                            spec, f"post-stratified by {', '.join(by_cols)}", "poststratify")


def _not_carried(design: Any, what: str) -> UnsupportedDesignError:
    where = "ib.glm" if what == "models" else f"ib.{what.split()[0].rstrip('s')}"
    return UnsupportedDesignError(
        f"{what} on a {design.engine} design {design._weighting}: the weighting's effect "
        f"on their variance is not carried through the engine's cells (means, totals, "
        f"ratios and proportions carry it; tables too after post-stratification); load "
        f"the columns and use {where} on the weighted ib.Design")


class _Residuals(_Weighted):
    """Raking and calibration: the residuals' cell totals, by hand."""

    def _rebuild(self, result: Estimate, sums: pd.DataFrame, spec: SumsSpec,
                 by_cols: list[str], kind: str, entries: list[Any], *,
                 level: float = 0.95, method: str | None = None) -> Estimate:
        vcov = self._vcov(result, sums, spec, by_cols, kind, entries)
        result = Estimate(result.estimate.to_numpy(), vcov, result.estimate.index,
                          df=result.df_values, kind=result.kind, notes=result.notes)
        return super()._rebuild(result, sums, spec, by_cols, kind, entries, level=level,
                                method=method)

    def _vcov(self, result: Estimate, sums: pd.DataFrame, spec: SumsSpec, by_cols: list[str],
              kind: str, entries: list[Any]) -> np.ndarray:
        cols = list(spec.variables)
        labels = list(dict.fromkeys(result.estimate.index.get_level_values("variable")))
        if spec.level:
            # the level indicators are the variables: their cell values are 0 or 1
            values = {f"{spec.level}[{v}]": v for v in sums[spec.level].unique()}
            cell_level = sums[spec.level].to_numpy(dtype=object)
            ind = np.column_stack([cell_level == values.get(lab, object())
                                   for lab in labels]).astype(float)  # over levels
            pairs = [(j, -1) for j in range(len(labels))]
        else:
            ind = None
            pairs = [_pair(cols, e) for e in entries]
        keys = self._domain_keys(result, by_cols)
        dom = _domains(sums, by_cols, keys)
        inside = sums[COMPLETE].to_numpy(dtype=bool) & (dom >= 0)
        D, E = len(keys), len(pairs)
        tw = sums[SW].to_numpy(dtype=float)
        twy = (ind * tw[:, None] if ind is not None else
               np.column_stack([sums[spec.total(j)].to_numpy(dtype=float)
                                for j in range(len(cols))]))  # over variables
        q = twy.shape[1]
        tw_d = np.bincount(dom[inside], weights=tw[inside], minlength=D)
        twy_d = np.stack([np.bincount(dom[inside], weights=twy[inside, j], minlength=D)
                          for j in range(q)], axis=1)  # over variables
        est = result.estimate.to_numpy().reshape(D, E)
        alpha, beta = _coefficients(kind, pairs, est, tw_d, twy_d)
        # the cells' influence values, dense over the (domain, entry) columns
        n_c = len(sums)
        z = np.zeros((n_c, D * E))
        rows = np.flatnonzero(inside)
        d = dom[rows]
        zc = alpha[d] * tw[rows, None] + np.einsum("cev,cv->ce", beta[d], twy[rows])
        z[rows[:, None], d[:, None] * E + np.arange(E)] = zc
        z -= self._correction(sums, spec, ind, rows, d, alpha, beta, (D, E), by_cols, keys,
                              labels)
        cells = self._plain_cells(sums, spec)
        return linearized_vcov(cells, Influence(z, np.zeros(n_c, dtype=np.int64), 1))

    def _correction(self, sums: pd.DataFrame, spec: SumsSpec, ind: np.ndarray | None,
                    rows: np.ndarray, d: np.ndarray, alpha: np.ndarray, beta: np.ndarray,
                    shape: tuple[int, int], by_cols: list[str], keys: list[tuple[Any, ...]],
                    labels: list[str]) -> np.ndarray:
        """(cells, D * E) totals of the weighting model's fit, :math:`A C`."""
        raise NotImplementedError  # pragma: no cover - each weighting defines it


class _Raked(_Residuals):
    """Raked weights: a factor per cell of the margins' cross-classification."""

    _margins: list[str]
    _codes: np.ndarray  # (cells, K) level of each margin, per cell of the factor table
    _after: np.ndarray  # (cells, K) factor after margin k's last step
    _n_levels: list[int]

    def _weigh(self, margins: dict[str, Any], max_iter: int, tol: float) -> Any:
        if not isinstance(margins, dict) or not margins:
            raise DesignError("rake: margins must be a dict {column: {level: total}}")
        cols = list(margins)
        spec, cells = self._structure(cols, "rake")
        weighted = cells.rake(margins, max_iter=max_iter, tol=tol)  # IPF passes over the cells
        table = _factors(cells, weighted, cols)
        # per cell of the cross-classification: each margin's level and its factor
        # after the margin's last step (from the weighting model of the cells' design)
        (step,) = weighted.calibration_steps
        w0 = np.asarray(cells.weights, dtype=float)
        at = pd.MultiIndex.from_frame(table[cols]).get_indexer(
            pd.MultiIndex.from_frame(cells.data[cols]))
        first = np.unique(at, return_index=True)[1]  # a cell of the design per table cell
        with np.errstate(divide="ignore", invalid="ignore"):
            after = np.column_stack([np.where(w0 > 0, b.a_values / w0, np.nan)
                                     for b in step.bases])  # over margins
        self._after = np.nan_to_num(pd.DataFrame(after).groupby(at).max().to_numpy())
        self._codes = np.column_stack([b.codes for b in step.bases])[first]
        self._n_levels = [b.p for b in step.bases]
        source = _Scaled(_Derived(self._source, self._spec.weights, self._spec.probs), cols,
                         table)
        return self._finish(source, spec, f"raked to {', '.join(cols)}", "rake")

    def _pass(self, spec: SumsSpec, what: str, na_rm: bool) -> pd.DataFrame:
        # each variable divided by the design weight: its unweighted sums over
        # the rows with positive weight (raking's residuals are unweighted)
        extra = [_PERW + v for v in spec.variables if not v.startswith(PREFIX)]
        return super()._pass(replace(spec, variables=tuple(dict.fromkeys(
            [*spec.variables, *extra]))), what, na_rm)

    def _correction(self, sums: pd.DataFrame, spec: SumsSpec, ind: np.ndarray | None,
                    rows: np.ndarray, d: np.ndarray, alpha: np.ndarray, beta: np.ndarray,
                    shape: tuple[int, int], by_cols: list[str], keys: list[tuple[Any, ...]],
                    labels: list[str]) -> np.ndarray:
        D, E = shape
        source = self._source
        assert isinstance(source, _Scaled)
        at = source.lookup(sums)
        g = source.factor[at]
        after = self._after[at]
        codes = self._codes[at]
        n_pos = sums[NPOS].to_numpy(dtype=float)
        sw0 = sums[_SW0].to_numpy(dtype=float)
        q = len(spec.variables)
        # sum over the cell's rows with positive weight of z_i / w_final,i * G:
        # G (alpha n+ + beta' sum+ y), the sums+ of y being those of y / w0 scaled by G
        if ind is not None:
            plus = ind * (g * n_pos)[:, None]
        else:
            plus = np.column_stack([sums[spec.total(q + j)].to_numpy(dtype=float)
                                    for j in range(q)])  # over variables
        zt = np.zeros((len(sums), D * E))
        zt[rows[:, None], d[:, None] * E + np.arange(E)] = (
            alpha[d] * (g * n_pos)[rows, None] + np.einsum("cev,cv->ce", beta[d], plus[rows]))
        n_all = sums[N].to_numpy(dtype=float)
        bases = []
        for k, n_levels in enumerate(self._n_levels):  # over margins
            n_l = np.bincount(codes[:, k], weights=n_all, minlength=n_levels)
            with np.errstate(divide="ignore"):
                K = np.diag(np.where(n_l > 0, 1.0 / n_l, 0.0))
                f = np.where(after[:, k] > 0, 1.0 / np.where(after[:, k] > 0, after[:, k], 1), 0)
            bases.append(Basis(K=K, codes=codes[:, k], a_values=n_pos * after[:, k],
                               f_values=f))
        coef = project_influence((CalibrationStep(bases=tuple(bases), sweeps=10, kind="rake"),),
                                 zt, np.zeros(len(sums), dtype=np.int64), 1)
        corr = np.zeros_like(zt)
        for k, (_, C) in enumerate(coef):  # over margins
            corr += (after[:, k] * sw0)[:, None] * C[codes[:, k]]
        return corr


class _Calibrated(_Residuals):
    """Calibration: the weight :math:`w_{0i}\\, s\\, g_i` is a column the engine
    computes, :math:`g_i = 1 + F(x_i^T \\lambda / \\sigma^2_i)` (see :class:`_CalRows`)."""

    _aux: list[str]  # per model-matrix column: "Intercept" or the source's column
    _kinv: np.ndarray  # (X' W0 X)^-1 (with 1 / sigma^2 for the linear distance)
    _w0: SumsSpec  # the weights of the residuals' regression, w0 / f_s2
    passes: int  # passes over the rows that the calibration took

    def _weigh(self, totals: Any, formula: str | None, method: str, bounds: Any,
               bounds_const: bool, variance: Any, max_iter: int, tol: float) -> Any:
        source = self._source
        if method not in _METHODS:
            raise DesignError(f"calibrate: method must be 'linear', 'raking', 'logit' or "
                              f"'sinh'; got {method!r}")
        m, pop = (_formula_rows(self, totals, formula) if formula is not None
                  else _column_rows(self, totals))
        given = bounds is not None
        if bounds is None:
            bounds = (-np.inf, np.inf)
        if isinstance(bounds, str) or len(bounds) != 2:
            raise DesignError(f"calibrate: bounds must be (lower, upper); got {bounds!r}")
        lo, hi = (_row_value(source, b, what) for b, what in
                  zip(bounds, ("lower bound", "upper bound"), strict=True))
        bounded = given or method != "linear"
        m = replace(m, method=method, lo=lo, hi=hi, bounds_const=bool(bounds_const) and given,
                    bounded=bounded)
        if variance is not None:
            m = _with_variance(source, m, variance)
        first = _stats(source, m, "first")  # one pass: X'w0, X'W0X, the checks
        self.passes = 1 + int(formula is not None and bool(m.categorical))
        p = len(m.aux)
        for j in range(p):  # over auxiliaries: the errors in memory's order
            if first[f"miss{j}"]:
                if m.spec is not None:
                    raise MissingValueError(f"calibrate: the variables of {formula!r} have "
                                            f"missing values in {int(first['missrow'])} "
                                            f"row(s)")
                raise MissingValueError(f"calibrate: column {m.aux[j]!r} has missing values")
        unbounded = True
        if bounded:
            what = " (on the weights, bounds_const=True)" if m.bounds_const else ""
            _check_bound_counts(first, method, what)
            unbounded = bool(first["bfree"] == first["n"])
        if variance is not None:
            _check_variance_counts(first, m)
        sample = np.array([first[f"x{j}"] for j in range(p)])
        gram = _square(first, "g", p)
        # memory's rule: drop the columns that are zero in every row with a zero total
        drop = (sample == 0) & (pop == 0) & np.array([first[f"nz{j}"] == 0 for j in range(p)])
        keep = ~drop
        if drop.any():
            m = replace(m, keep=tuple(bool(k) for k in keep))
            pop, sample, gram = pop[keep], sample[keep], gram[np.ix_(keep, keep)]
        names = [a for a, k in zip(m.aux, keep, strict=True) if k]
        linear = method == "linear" and unbounded
        m = replace(m, exact=linear)
        if linear:
            solve = _square(first, "h", p)[np.ix_(keep, keep)] if m.weighted else gram
            try:
                eta = np.linalg.solve(solve[None], (pop - sample)[None, :, None])[0, :, 0]
            except np.linalg.LinAlgError:
                from ..weighting import CalibrationError

                raise CalibrationError("calibrate: the auxiliary variables are collinear in "
                                       f"the sample (columns {names}); drop redundant "
                                       f"totals") from None
            scale = 1.0
            kgram = solve
        else:
            low = np.array([_reach(first, "l", j) for j in range(p)])[keep]
            high = np.array([_reach(first, "u", j) for j in range(p)])[keep]
            eta, scale, passes = _newton(source, m, pop, sample, (low, high),
                                         not unbounded, names, method, tol, max_iter)
            self.passes += passes
            kgram = gram
        norm = np.sqrt(np.abs(np.diag(kgram)))
        norm = np.where(norm > 0, norm, 1.0)
        self._kinv = np.linalg.pinv(kgram / np.outer(norm, norm), hermitian=True) / np.outer(
            norm, norm)
        xnames = [("Intercept" if c is None and m.spec is None else
                   (_XCOL + str(j) if c is None else c)) for j, c in enumerate(m.columns)]
        self._aux = [x for x, k in zip(xnames, keep, strict=True) if k]
        if m.spec is not None:  # the formula's intercept is a column of ones: the weight total
            self._aux = ["Intercept" if a == "Intercept" else x for a, x in
                         zip(names, self._aux, strict=True)]
        cal = (m, tuple(float(e) for e in eta), float(scale))
        derived = _Derived(source, self._spec.weights, self._spec.probs, cal)
        self._w0 = (replace(self._spec, weights=_W0F, probs=None) if linear and m.weighted
                    else self._spec)
        new_spec = replace(self._spec, weights=_WCAL, probs=None)
        label = f"calibrated ({method}) to {', '.join(names)}"
        self.passes += 1
        return self._finish(derived, new_spec, label, "calibrate")

    def _check_weights(self, sums: pd.DataFrame) -> None:
        negative = int(sums[WBAD].sum())
        if negative:
            raise UnsupportedDesignError(
                f"calibrate: {negative} row(s) get a negative or infinite calibrated weight; "
                f"a {self.engine} design needs weights >= 0 (bound the g-weights in memory, "
                f"or calibrate to fewer totals)")

    def _pass(self, spec: SumsSpec, what: str, na_rm: bool) -> pd.DataFrame:
        # the auxiliaries' weighted totals per cell: the A of the residuals
        extra = [a for a in self._aux if a != "Intercept"]
        return super()._pass(replace(spec, variables=tuple(dict.fromkeys(
            [*spec.variables, *extra]))), what, na_rm)

    def _aux_totals(self, sums: pd.DataFrame, spec: SumsSpec) -> np.ndarray:
        """(cells, p) weighted totals of the auxiliaries (x among ``spec``'s variables)."""
        var = list(spec.variables)
        return np.column_stack([sums[SW].to_numpy(dtype=float) if a == "Intercept" else
                                sums[spec.total(var.index(a))].to_numpy(dtype=float)
                                for a in self._aux])  # over auxiliaries

    def _correction(self, sums: pd.DataFrame, spec: SumsSpec, ind: np.ndarray | None,
                    rows: np.ndarray, d: np.ndarray, alpha: np.ndarray, beta: np.ndarray,
                    shape: tuple[int, int], by_cols: list[str], keys: list[tuple[Any, ...]],
                    labels: list[str]) -> np.ndarray:
        D, E = shape
        aux = [a for a in self._aux if a != "Intercept"]
        ys = list(spec.variables)
        full = replace(spec, variables=tuple(dict.fromkeys([*ys, *aux])))
        a_c = self._aux_totals(sums, full)  # (cells, p), calibrated weights
        # F'z = sum_i x_i w0_i u_i: a pass with the design's weights
        s0 = replace(full, weights=self._w0.weights, probs=self._w0.probs, moments=True,
                     binary=False, count_missing=False)
        raw = self._source.sums(s0)
        dom0 = _domains(raw, by_cols, keys)
        in0 = raw[COMPLETE].to_numpy(dtype=bool) & (dom0 >= 0)
        x0 = self._aux_totals(raw, s0)[in0]  # (cells, p): totals of w0 x
        var = list(s0.variables)
        p = len(self._aux)
        if spec.level:
            cell_level = raw[spec.level].to_numpy(dtype=object)[in0]
            values = {f"{spec.level}[{v}]": v for v in raw[spec.level].unique()}
            ind0 = np.column_stack([cell_level == values.get(lab, object())
                                    for lab in labels]).astype(float)  # over levels
            xy = x0[:, :, None] * ind0[:, None, :]  # (cells, p, q)
        else:
            def cross(a: str, j: int) -> np.ndarray:
                if a == "Intercept":
                    return raw[s0.total(j)].to_numpy(dtype=float)[in0]
                i, k = sorted((var.index(a), j))
                return raw[s0.cross(i, k)].to_numpy(dtype=float)[in0]
            xy = np.stack([np.column_stack([cross(a, j) for j in range(len(ys))])
                           for a in self._aux], axis=1)  # over auxiliaries: (cells, p, q)
        d0 = dom0[in0]
        sx = np.stack([np.bincount(d0, weights=x0[:, a], minlength=D) for a in range(p)],
                      axis=1)  # (D, p), over auxiliaries
        q = xy.shape[2]
        sxy = np.zeros((D, p, q))
        for a in range(p):  # over auxiliaries and variables, not rows
            for j in range(q):
                sxy[:, a, j] = np.bincount(d0, weights=xy[:, a, j], minlength=D)
        # (p, D, E): alpha_de sx_d + sxy_d beta_de
        ftz = (np.einsum("dp,de->pde", sx, alpha)
               + np.einsum("dpv,dev->pde", sxy, beta)).reshape(p, D * E)
        return np.asarray(a_c @ (self._kinv @ ftz))


# ---------------------------------------------------------------------------
# calibration: what every pass computes per row (numpy per frame, SQL in DuckDB)
# ---------------------------------------------------------------------------
#: prefix of a model-matrix column computed by the engine (a formula's columns)
_XCOL = PREFIX + "calx"
#: the design weight over the calibration model's variance (the residuals' pass)
_W0F = PREFIX + "w0f"
_METHODS = ("linear", "raking", "logit", "sinh")
#: functions a formula's numeric term may apply, row by row (numpy's, and SQL's)
_ROW_FUNCTIONS = ("log", "log2", "log10", "exp", "sqrt", "abs", "fabs")
#: exp overflows above this (numpy gives inf; older DuckDB raises)
_EXP_MAX = 709.782712893384


@dataclass(frozen=True)
class _Value:
    """A number per row: a constant, or a numeric column."""

    const: float = 0.0
    column: str | None = None


@dataclass(frozen=True)
class _CalRows:
    """A calibration's rows: the model matrix, the design weight :math:`w_0`, the
    bounds on the g-weights, the variances :math:`\\sigma^2`, and the distance.

    Pickled to Dask workers. ``columns[j]`` is the numeric column of model-matrix
    column ``j``, or None (the intercept without a formula; the formula's
    column ``j`` with one). ``keep`` drops columns after the first pass."""

    aux: tuple[str, ...]
    columns: tuple[str | None, ...]
    weights: str | None
    probs: str | None
    method: str = "linear"
    exact: bool = True  # the linear distance without bounds: g = 1 + u
    bounded: bool = False
    lo: _Value = _Value(-np.inf)
    hi: _Value = _Value(np.inf)
    bounds_const: bool = False
    sigma: _Value | None = None  # the variance per row
    sigma_coef: tuple[float, ...] | None = None  # or sigma^2 = x' v
    sigma_label: str = "variance"
    spec: ModelSpec | None = None
    formula: str | None = None
    reads: tuple[str, ...] = ()  # the formula's columns
    categorical: tuple[str, ...] = ()
    keep: tuple[bool, ...] | None = None
    encoding: str = ""  # the formula's levels, for Dask's tokens

    def __dask_tokenize__(self) -> str:
        """A deterministic token (the encoding's patsy objects have none)."""
        return repr(replace(self, spec=None))

    @property
    def weighted(self) -> bool:
        """Whether the calibration model has variances (R's ``variance``)."""
        return self.sigma is not None or self.sigma_coef is not None

    @property
    def used(self) -> list[str]:
        """The source's columns the rows' numbers read."""
        cols = [*self.reads, *(c for c in self.columns if c is not None)]
        for v in (self.lo, self.hi, self.sigma):
            if v is not None and v.column is not None:
                cols.append(v.column)
        cols += [c for c in (self.weights, self.probs) if c is not None]
        return list(dict.fromkeys(cols))


def _row_value(source: Source, value: Any, what: str) -> _Value:
    """A bound or variance: a number or a numeric column of the source."""
    if isinstance(value, str):
        if value not in set(source.columns()):
            raise DesignError(f"calibrate ({what}): column {value!r} is not in the data")
        if not source.numeric(value):
            raise DesignError(f"calibrate: {what} column {value!r} is not numeric")
        return _Value(column=value)
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        return _Value(const=float(arr))
    raise UnsupportedDesignError(f"calibrate: on a {source.engine} design the {what} is a "
                                 f"number or a column name (the rows are not in memory to "
                                 f"align {arr.size} values with)")


def _with_variance(source: Source, m: _CalRows, variance: Any) -> _CalRows:
    """R's ``variance``: a column or number, or one coefficient per auxiliary."""
    if not isinstance(variance, str):
        arr = np.asarray(variance, dtype=float)
        if arr.ndim == 1 and arr.size == len(m.aux):
            return replace(m, sigma_coef=tuple(float(v) for v in arr),
                           sigma_label=f"variance (x @ {arr.tolist()})")
    label = repr(variance) if isinstance(variance, str) else "variance"
    return replace(m, sigma=_row_value(source, variance, "variance"), sigma_label=label)


def _intercept(key: Any) -> bool:
    return isinstance(key, str) and key in ("Intercept", "(Intercept)", "1")


def _column_rows(design: EngineDesign, totals: Any) -> tuple[_CalRows, np.ndarray]:
    """Totals keyed by numeric columns (and ``"Intercept"``)."""
    tot = dict(totals.items()) if isinstance(totals, pd.Series) else dict(totals)
    source = design.source
    have = set(source.columns())
    aux: list[str] = []
    cols: list[str | None] = []
    for key in tot:  # over auxiliaries
        if _intercept(key):
            aux.append("Intercept")
            cols.append(None)
            continue
        if key not in have:
            raise DesignError(f"calibrate: column {key!r} is not in the data")
        if not source.numeric(key):
            raise DesignError(f"calibrate: column {key!r} is not numeric; give a formula to "
                              f"calibrate to the counts of its levels")
        aux.append(str(key))
        cols.append(str(key))
    pop = np.array([float(v) for v in tot.values()])
    spec = design.sums_spec
    return _CalRows(aux=tuple(aux), columns=tuple(cols), weights=spec.weights,
                    probs=spec.probs), pop


def _row_code(code: str, have: set[str]) -> None:
    """Refuse a numeric term that is not a function of the row alone."""
    import ast

    for node in ast.walk(ast.parse(code, mode="eval")):
        if isinstance(node, ast.Call):
            f = node.func
            name = (f.attr if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name)
                    and f.value.id in ("np", "numpy") else
                    f.id if isinstance(f, ast.Name) else None)
            if name != "I" and name not in _ROW_FUNCTIONS:
                raise UnsupportedDesignError(
                    f"calibrate: term {code!r}: a formula on an engine design evaluates "
                    f"columns, numbers, arithmetic, I() and {', '.join(_ROW_FUNCTIONS)} row by "
                    f"row (a function of a whole column would see one partition); derive "
                    f"other variables in the data")
        elif isinstance(node, ast.Name) and node.id not in have and node.id not in (
                "np", "numpy", "I", *_ROW_FUNCTIONS):
            raise DesignError(f"calibrate: column {node.id!r} of {code!r} is not in the data")


def _formula_rows(design: EngineDesign, totals: Any, formula: str,
                  source: Source | None = None) -> tuple[_CalRows, np.ndarray]:
    """A formula's model matrix: its categorical columns' levels from one pass,
    its encoding learnt on a small frame holding each level (as in memory,
    where the levels are those of the rows)."""
    import ast

    import patsy

    from ..formula import model_frame

    source = design.source if source is None else source
    if source.engine == "duckdb":
        raise UnsupportedDesignError(
            "calibrate: formula= is not available on a duckdb design yet; calibrate to "
            "totals of numeric columns (derive each level's 0/1 indicator in the query), or "
            "use a Dask design")
    if not isinstance(formula, str):
        raise EstimationError(f"formula must be a string, not {type(formula).__name__}")
    try:
        desc = patsy.ModelDesc.from_formula(formula)
    except (patsy.PatsyError, SyntaxError, TypeError, ValueError) as exc:
        raise EstimationError(f"formula {formula!r}: {str(exc).splitlines()[0]}") from None
    have = set(source.columns())
    reads: list[str] = []
    cats: list[str] = []
    for code in dict.fromkeys(f.code for t in desc.rhs_termlist for f in t.factors):
        tree = ast.parse(code, mode="eval").body
        col = None
        if isinstance(tree, ast.Name) and tree.id in have and (
                not source.numeric(tree.id) or _is_bool(source, tree.id)):
            col = tree.id
        elif isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name) and \
                tree.func.id in ("C", "factor", "relevel"):
            if not (tree.args and isinstance(tree.args[0], ast.Name)
                    and tree.args[0].id in have):
                raise UnsupportedDesignError(f"calibrate: term {code!r}: on an engine design "
                                             f"a categorical term is C(column, ...) of one "
                                             f"column")
            col = tree.args[0].id
        if col is not None:
            cats.append(col)
            reads.append(col)
            continue
        _row_code(code, have)
        names = [n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id in have]
        for n in names:  # over the term's columns
            if not source.numeric(n):
                raise DesignError(f"calibrate: column {n!r} of {code!r} is not numeric")
        reads.extend(names)
    levels: dict[str, list[Any]] = {}
    if cats:  # one pass: the levels of the categorical columns among the rows
        found = source.sums(SumsSpec(keys=tuple(dict.fromkeys(cats))))
        dtypes = source.frame.dtypes  # type: ignore[attr-defined]
        for c in dict.fromkeys(cats):  # over categorical columns
            values = [v.item() if isinstance(v, np.generic) else v
                      for v in pd.unique(found[c].dropna())]
            if isinstance(dtypes[c], pd.CategoricalDtype):
                present = set(values)
                levels[c] = [v for v in dtypes[c].categories if v in present]
            else:
                levels[c] = sorted(values)
    k = max([2, *(len(v) for v in levels.values())])
    proto: dict[str, Any] = {}
    for c in dict.fromkeys(reads):  # over the formula's columns
        if c in levels:
            lv = levels[c]
            if not lv:
                raise MissingValueError(f"calibrate: column {c!r} has no value in any row")
            values = [lv[i % len(lv)] for i in range(k)]
            proto[c] = values if isinstance(lv[0], bool) else pd.Categorical(values,
                                                                           categories=lv)
        else:
            proto[c] = np.full(k, 1.5)
    _, _, spec, _ = model_frame(formula, pd.DataFrame(proto, index=pd.RangeIndex(k)),
                                response=False)
    names = list(spec.column_names)
    tot = dict(totals.items()) if isinstance(totals, pd.Series) else dict(totals)
    from ..weighting import calibration_totals

    pop = calibration_totals(tot, names)
    dspec = design.sums_spec
    return _CalRows(aux=tuple(names), columns=(None,) * len(names), weights=dspec.weights,
                    probs=dspec.probs, spec=spec, formula=formula,
                    reads=tuple(dict.fromkeys(reads)), categorical=tuple(dict.fromkeys(cats)),
                    encoding=repr(levels)), pop


def _is_bool(source: Source, name: str) -> bool:
    frame = getattr(source, "frame", None)
    return frame is not None and bool(pd.api.types.is_bool_dtype(frame.dtypes[name]))


# --------------------------------------------------------------- numpy, per frame
def _frame_w0(frame: pd.DataFrame, m: _CalRows) -> np.ndarray:
    if m.weights is not None:
        return np.asarray(frame[m.weights].to_numpy(dtype=float, na_value=np.nan))
    if m.probs is not None:
        with np.errstate(divide="ignore"):
            return 1.0 / frame[m.probs].to_numpy(dtype=float, na_value=np.nan)
    return np.ones(len(frame))


def _frame_value(frame: pd.DataFrame, v: _Value) -> np.ndarray:
    if v.column is None:
        return np.full(len(frame), v.const)
    return np.asarray(frame[v.column].to_numpy(dtype=float, na_value=np.nan))


def _frame_x(frame: pd.DataFrame, m: _CalRows) -> tuple[np.ndarray, np.ndarray]:
    """The model matrix (NaN where a value is missing) before and after ``keep``."""
    n = len(frame)
    p = len(m.aux)
    if m.spec is not None:
        from ..formula import model_frame

        X = np.full((n, p), np.nan)
        kept = frame[list(m.reads)].notna().all(axis=1).to_numpy() if m.reads else \
            np.ones(n, dtype=bool)
        if n and kept.any():
            try:
                X[kept] = m.spec.matrix(frame, rows=np.flatnonzero(kept))
            except EstimationError:  # a term missing where its columns are not (log(-1))
                assert m.formula is not None
                kept = model_frame(m.formula, frame, response=False)[3]
                X[kept] = m.spec.matrix(frame, rows=np.flatnonzero(kept))
    else:
        X = np.empty((n, p))
        for j, c in enumerate(m.columns):  # over auxiliaries
            X[:, j] = 1.0 if c is None else frame[c].to_numpy(dtype=float, na_value=np.nan)
    full = X
    if m.keep is not None:
        X = X[:, np.asarray(m.keep)]
    return full, X


def _frame_rows(frame: pd.DataFrame, m: _CalRows) -> dict[str, np.ndarray]:
    full, X = _frame_x(frame, m)
    w0 = _frame_w0(frame, m)
    out = {"full": full, "X": X, "w0": w0}
    if m.sigma_coef is not None:
        out["s2"] = full @ np.asarray(m.sigma_coef)
    elif m.sigma is not None:
        out["s2"] = _frame_value(frame, m.sigma)
    else:
        out["s2"] = np.ones(len(frame))
    lo, hi = _frame_value(frame, m.lo), _frame_value(frame, m.hi)
    if m.bounds_const:
        with np.errstate(divide="ignore", invalid="ignore"):
            lo = np.where(w0 > 0, lo / w0, lo)
            hi = np.where(w0 > 0, hi / w0, hi)
    out["lo"], out["hi"] = lo, hi
    return out


def _np_distance(m: _CalRows, u: np.ndarray, lo: np.ndarray, hi: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """:math:`F(u) - 1` and :math:`F'(u)` of Deville and Särndal's distances, as
    :func:`innobaro.weighting.calibrate` (R's ``cal.linear``, ``cal.raking``,
    ``cal.logit``, ``cal.sinh``)."""
    if m.exact:
        return u, np.ones_like(u)
    inside = (u < hi - 1) & (u > lo - 1)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if m.method == "linear":
            return np.minimum(np.maximum(u + 1, lo), hi) - 1, inside.astype(float)
        if m.method == "raking":
            e = np.exp(u)
            return np.minimum(np.maximum(e, lo), hi) - 1, np.where(inside, e, 0.0)
        if m.method == "logit":
            A = (hi - lo) / ((hi - 1) * (1 - lo))
            e = np.exp(A * u)
            den = hi - 1 + (1 - lo) * e
            fm1 = (lo * (hi - 1) + hi * (1 - lo) * e) / den - 1
            d = (hi * (1 - lo) * e * A / den
                 - (lo * (hi - 1) + hi * (1 - lo) * e) * ((1 - lo) * e * A) / den ** 2)
            return np.where(np.isinf(e), hi - 1, fm1), np.where(np.isinf(e), 0.0, d)
        a = np.arcsinh(2 * u)  # sinh
        d = (1 + a / np.sqrt(a * a + 4)) / np.sqrt(1 + 4 * u * u)
        return (np.minimum(np.maximum((a + np.sqrt(a * a + 4)) / 2, lo), hi) - 1,
                np.where(inside, d, 0.0))


def _frame_g(frame: pd.DataFrame, m: _CalRows, eta: Sequence[float]
             ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    r = _frame_rows(frame, m)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        u = (r["X"] @ np.asarray(eta, dtype=float)) * (1.0 / r["s2"])
    fm1, d = _np_distance(m, u, r["lo"], r["hi"])
    return r, fm1, d


def _frame_stats(frame: pd.DataFrame, m: _CalRows, kind: str,
                 eta: Sequence[float] = (), scale: float = 1.0) -> pd.DataFrame:
    """One row of sums over the frame's rows: the first pass's, or a Newton step's."""
    out: dict[str, Any] = {}
    if kind == "first":
        r = _frame_rows(frame, m)
        X = r["X"]
        p = X.shape[1]
        miss = np.isnan(X)
        X0 = np.where(miss, 0.0, X)
        w0 = r["w0"]
        out["n"] = float(len(frame))
        out["missrow"] = float(miss.any(axis=1).sum())
        for j in range(p):  # over auxiliaries
            out[f"miss{j}"] = float(miss[:, j].sum())
            out[f"nz{j}"] = float((X0[:, j] != 0).sum())
            out[f"x{j}"] = float(np.sum(w0 * X0[:, j]))
        s2 = r["s2"]
        good = np.isfinite(s2) & (s2 > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            ws = np.where(good, w0 * (1.0 / s2), 0.0)
        for a in range(p):
            for b in range(a, p):  # over pairs of auxiliaries, not rows
                out[f"g{a}_{b}"] = float(np.sum(w0 * X0[:, a] * X0[:, b]))
                out[f"h{a}_{b}"] = float(np.sum(ws * X0[:, a] * X0[:, b]))
        out["vna"] = float(np.isnan(s2).sum())
        out["vzero"] = float((s2 == 0).sum())
        out["vneg"] = float((s2 < 0).sum())
        out["vinf"] = float(np.isinf(s2).sum())
        lo, hi = r["lo"], r["hi"]
        out["bna"] = float((np.isnan(lo) | np.isnan(hi)).sum())
        out["bcross"] = float((lo > hi).sum())
        out["binf"] = float((~(np.isfinite(lo) & np.isfinite(hi))).sum())
        out["blogit"] = float(((lo >= 1) | (hi <= 1)).sum())
        out["bfree"] = float((np.isneginf(lo) & np.isposinf(hi)).sum())
        with np.errstate(invalid="ignore"):
            lw = np.where(w0 == 0, 0.0, w0 * lo)
            hw = np.where(w0 == 0, 0.0, w0 * hi)
            for j in range(p):  # over auxiliaries: the reachable range of each total
                x = X0[:, j]
                for tag, neg_b, pos_b in (("l", hw, lw), ("u", lw, hw)):
                    c = np.where(x > 0, x * pos_b, np.where(x < 0, x * neg_b, 0.0))
                    fin = np.isfinite(c)
                    out[f"{tag}f{j}"] = float(np.sum(np.where(fin, c, 0.0)))
                    out[f"{tag}p{j}"] = float(np.isposinf(c).sum())
                    out[f"{tag}m{j}"] = float(np.isneginf(c).sum())
    else:
        r, fm1, d = _frame_g(frame, m, eta)
        X = r["X"]
        p = X.shape[1]
        ws = r["w0"] * scale
        with np.errstate(invalid="ignore", over="ignore"):
            v = ws * d * (1.0 / r["s2"])
            for a in range(p):
                for b in range(a, p):  # over pairs of auxiliaries, not rows
                    out[f"t{a}_{b}"] = float(np.sum(v * X[:, a] * X[:, b]))
                out[f"f{a}"] = float(np.sum(ws * fm1 * X[:, a]))
        out["bad"] = float((~(np.isfinite(fm1) & np.isfinite(d))).sum())
    return pd.DataFrame({k: [v] for k, v in out.items()})


# ------------------------------------------------------------------ SQL, DuckDB
def _sql_value(v: _Value) -> str:
    return _num(v.column) if v.column is not None else f"'{float(v.const)!r}'::DOUBLE"


def _sql_w0(m: _CalRows) -> str:
    if m.weights is not None:
        return _num(m.weights)
    if m.probs is not None:
        return f"(1.0 / {_num(m.probs)})"
    return "1.0"


def _sql_x(m: _CalRows) -> list[str]:
    """SQL of every model-matrix column (before ``keep``)."""
    return ["1.0" if c is None else _num(c) for c in m.columns]


def _sql_parts(m: _CalRows) -> dict[str, Any]:
    """SQL of the rows' numbers: the kept model-matrix columns ``xs``, ``w0``,
    ``lo``, ``hi`` and ``s2``."""
    xs = _sql_x(m)
    w0 = _sql_w0(m)
    if m.sigma_coef is not None:  # memory's X @ v, on every column
        s2 = "(" + " + ".join(f"{x} * '{float(c)!r}'::DOUBLE"
                              for x, c in zip(xs, m.sigma_coef, strict=True)) + ")"
    elif m.sigma is not None:
        s2 = _sql_value(m.sigma)
    else:
        s2 = "1.0"
    lo, hi = _sql_value(m.lo), _sql_value(m.hi)
    if m.bounds_const:
        lo = f"(CASE WHEN {w0} > 0 THEN {lo} / {w0} ELSE {lo} END)"
        hi = f"(CASE WHEN {w0} > 0 THEN {hi} / {w0} ELSE {hi} END)"
    kept = [x for j, x in enumerate(xs) if m.keep is None or m.keep[j]]
    return {"xs": kept, "w0": w0, "lo": lo, "hi": hi, "s2": s2}


def _sql_rows(m: _CalRows) -> str:
    """``SELECT`` of the rows' numbers, ``k0, ...`` (the kept model-matrix
    columns), ``w0``, ``lo``, ``hi`` and ``s2``, ``FROM __ib_src``."""
    s = _sql_parts(m)
    cols = [f"{x} AS k{j}" for j, x in enumerate(s["xs"])]
    cols += [f"{s[c]} AS {c}" for c in ("w0", "lo", "hi", "s2")]
    return f"SELECT {', '.join(cols)} FROM __ib_src"


def _sql_cal_column(m: _CalRows, eta: Sequence[float], scale: float, name: str) -> str:
    """SQL of a calibration's derived column (see :class:`_Derived`), row by row."""
    s = _sql_parts(m)
    if name == _W0F:
        return f"({s['w0']} * (1.0 / {s['s2']}))"
    if name != _WCAL:
        raise UnsupportedDesignError("calibrate: a formula's columns are not computed in SQL")
    xe = " + ".join(f"'{float(e)!r}'::DOUBLE * {x}" for e, x in zip(eta, s["xs"], strict=True))
    u = f"(({xe or '0.0'}) * (1.0 / {s['s2']}))"
    fm1, _ = _sql_distance(m, u, s["lo"], s["hi"])
    return f"({s['w0']} * ('{float(scale)!r}'::DOUBLE * (1.0 + {fm1})))"


def _exp(v: str) -> str:
    return f"(CASE WHEN {v} > {_EXP_MAX!r} THEN '+inf'::DOUBLE ELSE exp({v}) END)"


def _sql_exp(m: _CalRows, u: str, lo: str, hi: str) -> str:
    """SQL of the exponential a distance needs (raking's, logit's), or 0."""
    if m.exact or m.method in ("linear", "sinh"):
        return "0.0"
    if m.method == "raking":
        return _exp(u)
    return _exp(f"(({hi} - {lo}) / (({hi} - 1) * (1 - {lo}))) * {u}")


def _sql_distance(m: _CalRows, u: str, lo: str, hi: str, ex: str | None = None
                  ) -> tuple[str, str]:
    """SQL of :math:`F(u) - 1` and :math:`F'(u)` (as :func:`_np_distance`);
    ``ex``: a column holding :func:`_sql_exp`, computed once."""
    if m.exact:
        return u, "1.0"
    inside = f"({u} < {hi} - 1 AND {u} > {lo} - 1)"
    if m.method == "linear":
        return (f"(least(greatest({u} + 1, {lo}), {hi}) - 1)",
                f"(CASE WHEN {inside} THEN 1.0 ELSE 0.0 END)")
    e = ex if ex is not None else _sql_exp(m, u, lo, hi)
    if m.method == "raking":
        return (f"(least(greatest({e}, {lo}), {hi}) - 1)",
                f"(CASE WHEN {inside} THEN {e} ELSE 0.0 END)")
    if m.method == "logit":
        A = f"(({hi} - {lo}) / (({hi} - 1) * (1 - {lo})))"
        den = f"({hi} - 1 + (1 - {lo}) * {e})"
        num = f"({lo} * ({hi} - 1) + {hi} * (1 - {lo}) * {e})"
        fm1 = f"({num} / {den} - 1)"
        d = (f"({hi} * (1 - {lo}) * {e} * {A} / {den} - {num} * ((1 - {lo}) * {e} * {A}) "
             f"/ ({den} * {den}))")
        return (f"(CASE WHEN isinf({e}) THEN {hi} - 1 ELSE {fm1} END)",
                f"(CASE WHEN isinf({e}) THEN 0.0 ELSE {d} END)")
    a = f"asinh(2 * {u})"
    root = f"sqrt({a} * {a} + 4)"
    return (f"(least(greatest(({a} + {root}) / 2, {lo}), {hi}) - 1)",
            f"(CASE WHEN {inside} THEN (1 + {a} / {root}) / sqrt(1 + 4 * {u} * {u}) "
            f"ELSE 0.0 END)")


def _sql_u(eta: Sequence[float]) -> str:
    terms = " + ".join(f"'{float(e)!r}'::DOUBLE * k{j}" for j, e in enumerate(eta))
    return f"(({terms or '0.0'}) * (1.0 / s2))"


def _sql_stats(m: _CalRows, kind: str, eta: Sequence[float], scale: float, p: int) -> str:
    sel: list[str] = []
    if kind == "first":
        x0 = [f"coalesce(CASE WHEN isnan(k{j}) THEN 0.0 ELSE k{j} END, 0.0)" for j in range(p)]
        pre = f"WITH a AS ({_sql_rows(m)}), b AS (SELECT *, " + ", ".join(
            [f"{x} AS z{j}" for j, x in enumerate(x0)]
            + [f"(k{j} IS NULL OR isnan(k{j})) AS m{j}" for j in range(p)]
            + ["(CASE WHEN w0 = 0 THEN 0.0 ELSE w0 * lo END) AS lw",
               "(CASE WHEN w0 = 0 THEN 0.0 ELSE w0 * hi END) AS hw",
               "(CASE WHEN s2 > 0 AND isfinite(s2) THEN w0 * (1.0 / s2) ELSE 0.0 END) AS ws"]
        ) + " FROM a) "
        sel += ["count(*) AS n", "count_if(" + (" OR ".join(f"m{j}" for j in range(p))
                                              or "FALSE") + ") AS missrow"]
        for j in range(p):
            sel += [f"count_if(m{j}) AS miss{j}", f"count_if(z{j} <> 0) AS nz{j}",
                    f"sum(w0 * z{j}) AS x{j}"]
            for tag, pos_b, neg_b in (("l", "lw", "hw"), ("u", "hw", "lw")):
                c = (f"(CASE WHEN z{j} > 0 THEN z{j} * {pos_b} WHEN z{j} < 0 THEN "
                     f"z{j} * {neg_b} ELSE 0.0 END)")
                sel += [f"sum(CASE WHEN isfinite({c}) THEN {c} ELSE 0.0 END) AS {tag}f{j}",
                        f"count_if({c} = '+inf'::DOUBLE) AS {tag}p{j}",
                        f"count_if({c} = '-inf'::DOUBLE) AS {tag}m{j}"]
        sel += [f"sum(w0 * z{a} * z{b}) AS g{a}_{b}" for a in range(p) for b in range(a, p)]
        sel += [f"sum(ws * z{a} * z{b}) AS h{a}_{b}" for a in range(p) for b in range(a, p)]
        sel += ["count_if(s2 IS NULL OR isnan(s2)) AS vna", "count_if(s2 = 0) AS vzero",
                "count_if(s2 < 0) AS vneg", "count_if(isinf(s2)) AS vinf",
                "count_if(lo IS NULL OR isnan(lo) OR hi IS NULL OR isnan(hi)) AS bna",
                "count_if(lo > hi) AS bcross",
                "count_if(NOT coalesce(isfinite(lo) AND isfinite(hi), FALSE)) AS binf",
                "count_if(lo >= 1 OR hi <= 1) AS blogit",
                "count_if(lo = '-inf'::DOUBLE AND hi = '+inf'::DOUBLE) AS bfree"]
        return pre + f"SELECT {', '.join(sel)} FROM b"
    fm1, d = _sql_distance(m, "u", "lo", "hi", "ex")
    pre = (f"WITH a AS ({_sql_rows(m)}), b0 AS (SELECT *, {_sql_u(eta)} AS u FROM a), "
           f"b AS (SELECT *, {_sql_exp(m, 'u', 'lo', 'hi')} AS ex FROM b0), "
           f"c AS (SELECT *, {fm1} AS fm1, {d} AS d FROM b), "
           f"e AS (SELECT *, w0 * '{float(scale)!r}'::DOUBLE AS ws FROM c) ")
    sel += [f"sum(ws * d * (1.0 / s2) * k{a} * k{b}) AS t{a}_{b}"
            for a in range(p) for b in range(a, p)]
    sel += [f"sum(ws * fm1 * k{a}) AS f{a}" for a in range(p)]
    sel.append("count_if(NOT coalesce(isfinite(fm1) AND isfinite(d), FALSE)) AS bad")
    return pre + f"SELECT {', '.join(sel)} FROM e"


def _stats(source: Source, m: _CalRows, kind: str, eta: Sequence[float] = (),
           scale: float = 1.0) -> dict[str, float]:
    """One pass over the rows: the sums of :func:`_frame_stats` (per partition on
    Dask, added up a tree; one aggregate query on DuckDB)."""
    p = len(m.aux) if m.keep is None else int(sum(m.keep))
    if source.engine == "duckdb":
        sql = _sql_stats(m, kind, eta, scale, p)
        try:
            row = source.relation.query("__ib_src", sql).df()  # type: ignore[attr-defined]
        except Exception as exc:  # duckdb's errors: a bad value
            raise EngineError(f"calibrate: the DuckDB query failed: "
                              f"{str(exc).splitlines()[0]}") from None
        return {str(k): float(v) if v is not None and not pd.isna(v) else 0.0
                for k, v in row.iloc[0].items()}
    frame = source.frame[m.used]  # type: ignore[attr-defined]
    if source.engine == "dask":
        empty = pd.DataFrame({c: pd.Series(dtype=t) for c, t in frame.dtypes.items()})
        parts = frame.map_partitions(_frame_stats, m, kind, tuple(eta), scale,
                                     meta=_frame_stats(empty, m, kind, tuple(eta), scale))
        sums = parts.sum(split_every=source.split_every).compute()  # type: ignore[attr-defined]
    else:
        sums = _frame_stats(frame, m, kind, tuple(eta), scale).iloc[0]
    return {str(k): float(v) for k, v in sums.items()}


# ----------------------------------------------------------- checks and Newton
def _square(stats: dict[str, float], tag: str, p: int) -> np.ndarray:
    out = np.zeros((p, p))
    for a in range(p):
        for b in range(a, p):  # over pairs of auxiliaries
            out[a, b] = out[b, a] = stats[f"{tag}{a}_{b}"]
    return out


def _reach(stats: dict[str, float], tag: str, j: int) -> float:
    """The smallest (``tag`` "l") or largest ("u") total of auxiliary ``j`` that
    g-weights within the bounds give (as memory's ``_safe_dot``)."""
    up, down = stats[f"{tag}p{j}"], stats[f"{tag}m{j}"]
    if up and down:
        return float("nan")
    if up:
        return float("inf")
    if down:
        return float("-inf")
    return stats[f"{tag}f{j}"]


def _check_bound_counts(first: dict[str, float], method: str, what: str) -> None:
    """Bounds that the distance cannot use, named (memory's checks, from counts)."""
    if first["bna"]:
        raise MissingValueError(f"calibrate: the bounds{what} have missing values in "
                                f"{int(first['bna'])} row(s)")
    if first["bcross"]:
        raise DesignError(f"calibrate: the lower bound is above the upper bound{what} in "
                          f"{int(first['bcross'])} row(s)")
    if method in ("logit", "sinh") and first["binf"]:
        raise DesignError(f"calibrate: method={method!r} needs finite bounds (lower, "
                          f"upper){what} with lower < 1 < upper")
    if method == "logit" and first["blogit"]:
        raise DesignError(f"calibrate: logit bounds must satisfy lower < 1 < upper"
                          f"{what}; {int(first['blogit'])} row(s) do not")


def _check_variance_counts(first: dict[str, float], m: _CalRows) -> None:
    label = m.sigma_label
    if first["vna"]:
        raise MissingValueError(f"calibrate: {label} has missing values in "
                                f"{int(first['vna'])} row(s)")
    if first["vzero"] or first["vneg"] or first["vinf"]:
        raise DesignError(f"calibrate: {label} must be positive and finite in every row; "
                          f"{int(first['vzero'])} row(s) are zero, {int(first['vneg'])} "
                          f"negative and {int(first['vinf'])} infinite")


def _newton(source: Source, m: _CalRows, pop: np.ndarray, sample: np.ndarray,
            reach: tuple[np.ndarray, np.ndarray], bounded: bool, names: list[str],
            method: str, tol: float, max_iter: int) -> tuple[np.ndarray, float, int]:
    """Newton steps on :math:`\\lambda`, one pass each, as memory's ``grake``: the
    same pre-scaling, step halving, stopping rule, tolerance and ``max_iter``."""
    from ..weighting import CalibrationError, not_converged

    p = pop.size
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = pop / sample
    finite = ratios[np.isfinite(ratios)]
    scale = 1.0
    if finite.size and float(finite.min()) > 20:  # R's pre-scaling
        scale = float(np.mean(finite))
        if bounded:
            warnings.warn(f"calibration bounds are applied after rescaling the weights by "
                          f"{scale:.3g}", InnobaroWarning, stacklevel=5)
    sample = sample * scale
    if bounded:
        low, high = reach[0] * scale, reach[1] * scale
        slack = 1e-9 * (1 + np.abs(pop))
        with np.errstate(invalid="ignore"):
            out = (pop < low - slack) | (pop > high + slack)
        if out.any():
            parts = [f"{names[j]!r} ({pop[j]:.6g}; reachable {low[j]:.6g} to {high[j]:.6g})"
                     for j in np.flatnonzero(out)]
            raise CalibrationError(
                f"calibrate: the total(s) of {', '.join(parts)} cannot be met with g-weights "
                f"within the bounds. Widen the bounds, or check the totals")
    eta = np.zeros(p)
    st = _stats(source, m, "newton", tuple(eta), scale)
    passes = 1
    misfit = pop - sample - np.array([st[f"f{j}"] for j in range(p)])
    it = 1
    while True:
        T = _square(st, "t", p)
        Tinv = np.linalg.pinv(T[None], rcond=256 * np.finfo(float).eps, hermitian=True)[0]
        step = Tinv @ misfit
        eta = eta + step
        st = _stats(source, m, "newton", tuple(eta), scale)
        passes += 1
        while it < max_iter and st["bad"]:  # step halving
            it += 1
            step = step / 2
            eta = eta - step
            st = _stats(source, m, "newton", tuple(eta), scale)
            passes += 1
        misfit = pop - sample - np.array([st[f"f{j}"] for j in range(p)])
        if (np.abs(misfit) / (1 + np.abs(pop)) < tol).all():
            return eta, scale, passes
        it += 1
        if it > max_iter:
            raise not_converged(method, max_iter, misfit, pop, names)


# ---------------------------------------------------------------------------
# replicate designs over an engine: a factor per (cell, replicate)
# ---------------------------------------------------------------------------
class _RepScaled(_CellFactors):
    """The replicate source's sums, each multiplied by its cell's factor: the
    full-sample sums by :math:`g_c`, replicate :math:`r`'s totals by :math:`g_{cr}`
    (every row of a cell of the sums has the same factors)."""

    def __init__(self, inner: Source, cols: list[str], table: pd.DataFrame, g: np.ndarray,
                 G: np.ndarray) -> None:
        self.inner = inner
        self.engine = inner.engine
        self.cols = cols
        self.index = pd.MultiIndex.from_frame(table[cols])
        self.g, self.G = g, G

    def sums(self, spec: SumsSpec) -> pd.DataFrame:
        """The inner sums (with every replicate's totals), scaled."""
        out = self.inner.sums(spec)
        at = self.lookup(out)
        g, G = self.g[at], self.G[at]
        R = G.shape[1]
        for c in [SW, *(spec.total(j) for j in range(len(spec.variables))),
                  *(spec.cross(j, k) for j, k in spec.pairs)]:  # over statistics
            out[c] = out[c].to_numpy(dtype=float) * g
        reps = [c for c in out.columns if c not in set(spec.columns)]
        for i, c in enumerate(reps):  # replicate k's totals: w_r, then w_r y_j
            k = i if i < R else (i - R) // max(1, len(spec.variables))
            out[c] = out[c].to_numpy(dtype=float) * G[:, k]
        return out


def _rep_copy(cls: type[ReplicateEngineDesign], design: ReplicateEngineDesign, what: str) -> Any:
    """A copy of ``design``'s fields as a ``cls``, to weight (once)."""
    if isinstance(design, (_RepWeighted, _RepCalibrated)):
        raise UnsupportedDesignError(f"{what}: this {design.engine} design is weighted "
                                     f"already ({design._weighting}); weight the design "
                                     f"once (rake to several margins, or calibrate)")
    new = cls.__new__(cls)
    new.__dict__.update(vars(design))
    return new


class _RepWeighted(ReplicateEngineDesign):
    """A post-stratified or raked replicate design over an engine: each
    replicate weighted as R's ``svrepdesign`` weighting does, by factors found
    on the cells (one pass of weight totals per cell and replicate)."""

    _weighting: str
    _wcols: list[str]
    _wgrams: dict[tuple[str, ...], pd.DataFrame]

    def __repr__(self) -> str:
        return super().__repr__() + f", {self._weighting}"

    def quantile(self, *args: Any, **kwargs: Any) -> Any:
        """Refused: the replicate quantile of a post-stratified or raked design
        over an engine would miss the weighting (:class:`~innobaro.errors.UnsupportedDesignError`).

        Parameters
        ----------
        *args, **kwargs
            As for :meth:`ReplicateEngineDesign.quantile`.

        Returns
        -------
        Estimate
            Never.
        """
        raise _not_carried(self, "quantiles")

    def glm(self, formula: str, **kwargs: Any) -> Any:
        """Refused: the replicate refits of a post-stratified or raked design over
        an engine would miss the weighting (:class:`~innobaro.errors.UnsupportedDesignError`).

        Parameters
        ----------
        formula : str
        **kwargs
            As for :meth:`ReplicateEngineDesign.glm`.

        Returns
        -------
        ReplicateGLMResult
            Never.
        """
        raise _not_carried(self, "models")

    def _counts(self, sums: pd.DataFrame, spec: SumsSpec, by_cols: list[str],
                est: Estimate) -> tuple[np.ndarray, np.ndarray]:
        # R keeps every row in every domain of a weighted design (rows_at_calibration)
        n_rows, n_obs = super()._counts(sums, spec, by_cols, est)
        return np.full(n_rows.shape, float(self._n)), n_obs

    def _weigh(self, what: str, cols: list[str], weigh: Any, label: str) -> Any:
        """One pass of the weight totals per (cell, replicate); the in-memory
        weighting of those cells as rows gives each cell's factors."""
        have = set(self._source.columns())
        for c in cols:
            if c not in have:
                raise DesignError(f"{what}: column {c!r} is not in the data")
        spec = replace(self._spec, keys=tuple(dict.fromkeys([*self._spec.keys, *cols])))
        sums = self._source.sums(spec)
        for c in cols:
            if sums[c].isna().to_numpy().any():
                raise MissingValueError(f"{what}: column {c!r} has missing values")
        check_rows(sums, spec, what, na_rm=True)
        reps = [c for c in sums.columns if c not in set(spec.columns)]
        R = len(self._reps)
        cells = sums[list(spec.key_columns)].reset_index(drop=True)
        names = [f"__ib_rep{k}" for k in range(R)]
        frame = cells.assign(**{_W0: sums[SW].to_numpy(dtype=float)},
                             **{n: sums[c].to_numpy(dtype=float)
                                for n, c in zip(names, reps[:R], strict=True)})
        from ..design import ReplicateDesign

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InnobaroWarning)
            mem = ReplicateDesign(frame, weights=_W0, replicate_weights=names, method="other",
                                  scale=self._scale, rscales=self._rscales.tolist(),
                                  mse=self._mse)
        weighted = weigh(mem)  # the in-memory errors and warnings
        W0 = np.column_stack([mem.unmasked_weights, mem.unmasked_replicate_weights])
        W1 = np.column_stack([weighted.unmasked_weights, weighted.unmasked_replicate_weights])
        with np.errstate(divide="ignore", invalid="ignore"):
            F = np.where(W0 > 0, W1 / W0, 1.0)
        self._source = _RepScaled(self._source, cols, frame, F[:, 0], F[:, 1:])
        self._spec = spec
        self._wcols = list(cols)
        self._wgrams = {}
        self._weighting = label
        self._wsum = float(np.sum(sums[SW].to_numpy(dtype=float) * F[:, 0]))
        return self

    def _gram(self, by: tuple[str, ...]) -> pd.DataFrame:
        """Gram sums of the weighted replicate weights per domain: the Gram
        sums per (domain, cell), each entry :math:`(r, s)` times :math:`g_{cr} g_{cs}`."""
        if by not in self._wgrams:
            key = tuple(dict.fromkeys([*by, *self._wcols]))
            per = super()._gram(key).reset_index()
            source = self._source
            assert isinstance(source, _RepScaled)
            G = source.G[source.lookup(per)]
            R = G.shape[1]
            iu, ju = np.triu_indices(R)
            packed = [c for c in per.columns if c not in key]
            scaled = per[packed].to_numpy(dtype=float) * G[:, iu] * G[:, ju]
            out = pd.DataFrame(scaled, columns=packed)
            if by:
                out = pd.concat([per[list(by)], out], axis=1).groupby(
                    list(by), observed=True, dropna=False)[packed].sum()
            else:
                out = out.sum().to_frame().T
            self._wgrams[by] = out
        return self._wgrams[by]


# ---------------------------------------------------------------------------
# replicate designs over an engine: linear calibration of every replicate
# ---------------------------------------------------------------------------
#: prefix of a calibrated weight column of a replicate design (0: the full sample)
_RCAL = PREFIX + "rcal"


class _RepCalibrated(ReplicateEngineDesign):
    """A replicate design whose full-sample and replicate weights are calibrated
    columns the engine computes (see :func:`_rep_calibrate`)."""

    _weighting = "calibrated"
    passes: int  # passes over the rows that the calibration took

    def __repr__(self) -> str:
        return super().__repr__() + f", {self._weighting}"

    def _counts(self, sums: pd.DataFrame, spec: SumsSpec, by_cols: list[str],
                est: Estimate) -> tuple[np.ndarray, np.ndarray]:
        # R keeps every row in every domain of a weighted design (rows_at_calibration)
        n_rows, n_obs = super()._counts(sums, spec, by_cols, est)
        return np.full(n_rows.shape, float(self._n)), n_obs

    def _calibrate(self, totals: Any, formula: str | None, variance: Any, method: str,
                   bounds: Any, max_iter: int, tol: float) -> Any:
        """Calibrate every weight column (this object is a copy of the design)."""
        source, full, reps, passes = _rep_calibrate(self, self._raw, self._reps, self._combined,
                                            totals, formula, variance, method, bounds,
                                            max_iter, tol)
        try:
            super().__init__(source, weights=full, replicate_weights=reps,
                             method=self._method, scale=self._scale,
                             rscales=self._rscales.tolist(), mse=self._mse,
                             combined_weights=True, df=self._given_df)
        except DesignError as exc:
            if "negative" not in str(exc):
                raise  # pragma: no cover - the columns are the engine's own
            raise UnsupportedDesignError(
                "calibrate: some calibrated replicate weights are below zero; a replicate "
                "design over an engine needs weights >= 0 (calibrate to fewer totals, or in "
                "memory)") from None
        self._weighting = f"calibrated ({method}) to {', '.join(map(str, totals))}"
        self.passes = passes + 2  # the new design's structure and range passes
        return self


def _frame_rep_weights(frame: pd.DataFrame, w0: np.ndarray, reps: Sequence[str],
                       combined: bool) -> np.ndarray:
    """(n, 1 + R): the full-sample weight, then every replicate's full weight."""
    F = np.column_stack([frame[c].to_numpy(dtype=float, na_value=np.nan) for c in reps])
    if not combined:
        F = F * w0[:, None]
    return np.column_stack([w0, F])


def _pairs(p: int) -> list[tuple[int, int]]:
    return [(a, b) for a in range(p) for b in range(a, p)]


def _frame_rep_stats(frame: pd.DataFrame, m: _CalRows, reps: tuple[str, ...],
                     combined: bool) -> pd.DataFrame:
    """Per weight column: :math:`X^T w_c`, :math:`X^T W_c X` (with and without
    :math:`1/\\sigma^2`) and the rows with weight carrying each auxiliary."""
    r = _frame_rows(frame, m)
    X = np.where(np.isnan(r["X"]), 0.0, r["X"])
    W = _frame_rep_weights(frame, r["w0"], reps, combined)
    p = X.shape[1]
    pairs = _pairs(p)
    with np.errstate(divide="ignore"):
        inv = 1.0 / r["s2"]
    P = np.column_stack([X[:, a] * X[:, b] for a, b in pairs]) if pairs else np.zeros(
        (len(frame), 0))
    blocks = {"x": X.T @ W, "g": P.T @ W, "h": (P * inv[:, None]).T @ W,
              "s": (X != 0).astype(float).T @ (W > 0).astype(float)}
    out = {f"{tag}{i}_{c}": [float(v)] for tag, M in blocks.items()
           for i in range(M.shape[0]) for c, v in enumerate(M[i])}
    if m.bounded:
        out.update(_frame_rep_reach(X, W, r["lo"], r["hi"]))
    return pd.DataFrame(out)


def _sql_rep_stats(m: _CalRows, reps: tuple[str, ...], combined: bool) -> str:
    s = _sql_parts(m)
    w0 = s["w0"]
    wcols = [w0] + [_num(c) if combined else f"({_num(c)} * {w0})" for c in reps]
    cols = [f"{x} AS k{j}" for j, x in enumerate(s["xs"])]
    cols += [f"{w} AS r{c}" for c, w in enumerate(wcols)]
    cols += [f"{s[c]} AS {c}" for c in ("s2", "lo", "hi")]
    p = len(s["xs"])
    sel = []
    for c in range(len(wcols)):  # over weight columns, not rows
        if m.bounded:
            lw = f"(CASE WHEN r{c} = 0 THEN 0.0 ELSE r{c} * lo END)"
            hw = f"(CASE WHEN r{c} = 0 THEN 0.0 ELSE r{c} * hi END)"
            for j in range(p):
                for tag, pos_b, neg_b in (("l", lw, hw), ("u", hw, lw)):
                    e = (f"(CASE WHEN k{j} > 0 THEN k{j} * {pos_b} WHEN k{j} < 0 THEN "
                         f"k{j} * {neg_b} ELSE 0.0 END)")
                    sel += [f"sum(CASE WHEN isfinite({e}) THEN {e} ELSE 0.0 END) AS "
                            f"{tag}f{j}_{c}",
                            f"count_if({e} = '+inf'::DOUBLE) AS {tag}p{j}_{c}",
                            f"count_if({e} = '-inf'::DOUBLE) AS {tag}m{j}_{c}"]
        sel += [f"sum(r{c} * k{j}) AS x{j}_{c}" for j in range(p)]
        sel += [f"sum(r{c} * k{a} * k{b}) AS g{i}_{c}" for i, (a, b) in enumerate(_pairs(p))]
        sel += [f"sum(r{c} * (1.0 / s2) * k{a} * k{b}) AS h{i}_{c}"
                for i, (a, b) in enumerate(_pairs(p))]
        sel += [f"count_if(r{c} > 0 AND k{j} <> 0) AS s{j}_{c}" for j in range(p)]
    return f"WITH a AS (SELECT {', '.join(cols)} FROM __ib_src) SELECT {', '.join(sel)} FROM a"


def _frame_rep_derive(frame: pd.DataFrame, m: _CalRows, lams: tuple[tuple[float, ...], ...],
                      reps: tuple[str, ...], combined: bool, scales: tuple[float, ...]
                      ) -> pd.DataFrame:
    """``frame`` with the calibrated weight columns :math:`w_c s_c F(x^T \\lambda_c /
    \\sigma^2)` (a new frame; run per partition on Dask)."""
    r = _frame_rows(frame, m)
    W = _frame_rep_weights(frame, r["w0"], reps, combined)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        U = (r["X"] @ np.asarray(lams, dtype=float).T) * (1.0 / r["s2"])[:, None]
    if m.exact:
        G = 1 + U
    else:
        fm1, _ = _np_distance(m, U, r["lo"][:, None], r["hi"][:, None])
        G = np.asarray(scales) * (1 + fm1)
    new = W * G
    return frame.assign(**{f"{_RCAL}{c}": new[:, c] for c in range(W.shape[1])})


def _frame_rep_reach(X: np.ndarray, W: np.ndarray, lo: np.ndarray, hi: np.ndarray
                     ) -> dict[str, list[float]]:
    """Per auxiliary and weight column: the finite part and the infinite terms
    of the smallest and largest totals g-weights within the bounds give."""
    out: dict[str, list[float]] = {}
    with np.errstate(invalid="ignore"):
        lw = np.where(W == 0, 0.0, W * lo[:, None])
        hw = np.where(W == 0, 0.0, W * hi[:, None])
        for j in range(X.shape[1]):  # over auxiliaries, each over every column
            x = X[:, j][:, None]
            for tag, neg_b, pos_b in (("l", hw, lw), ("u", lw, hw)):
                c = np.where(x > 0, x * pos_b, np.where(x < 0, x * neg_b, 0.0))
                fin = np.isfinite(c)
                for k, v in enumerate(np.sum(np.where(fin, c, 0.0), axis=0)):
                    out[f"{tag}f{j}_{k}"] = [float(v)]
                for k, v in enumerate(np.isposinf(c).sum(axis=0)):
                    out[f"{tag}p{j}_{k}"] = [float(v)]
                for k, v in enumerate(np.isneginf(c).sum(axis=0)):
                    out[f"{tag}m{j}_{k}"] = [float(v)]
    return out


def _frame_rep_newton(frame: pd.DataFrame, m: _CalRows, reps: tuple[str, ...],
                      combined: bool, cols: tuple[int, ...],
                      etas: tuple[tuple[float, ...], ...], scales: tuple[float, ...]
                      ) -> pd.DataFrame:
    """A Newton step's sums for the weight columns ``cols`` (as :func:`_frame_stats`)."""
    r = _frame_rows(frame, m)
    X = r["X"]
    W = _frame_rep_weights(frame, r["w0"], reps, combined)[:, list(cols)]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        inv = 1.0 / r["s2"]
        U = (X @ np.asarray(etas, dtype=float).T) * inv[:, None]
    fm1, d = _np_distance(m, U, r["lo"][:, None], r["hi"][:, None])
    Ws = W * np.asarray(scales)
    pairs = _pairs(X.shape[1])
    P = np.column_stack([X[:, a] * X[:, b] for a, b in pairs]) if pairs else np.zeros(
        (len(frame), 0))
    with np.errstate(invalid="ignore", over="ignore"):
        blocks = {"t": P.T @ (Ws * d * inv[:, None]), "f": X.T @ (Ws * fm1)}
    out = {f"{tag}{i}_{c}": [float(v)] for tag, M in blocks.items()
           for i in range(M.shape[0]) for c, v in enumerate(M[i])}
    for c, v in enumerate((~(np.isfinite(fm1) & np.isfinite(d))).sum(axis=0)):
        out[f"bad_{c}"] = [float(v)]
    return pd.DataFrame(out)


def _sql_rep_rows(m: _CalRows, reps: tuple[str, ...], combined: bool,
                  cols: Sequence[int]) -> str:
    s = _sql_parts(m)
    w0 = s["w0"]
    wcols = [w0] + [_num(c) if combined else f"({_num(c)} * {w0})" for c in reps]
    sel = [f"{x} AS k{j}" for j, x in enumerate(s["xs"])]
    sel += [f"{wcols[c]} AS r{i}" for i, c in enumerate(cols)]
    sel += [f"{s[c]} AS {c}" for c in ("w0", "lo", "hi", "s2")]
    return f"SELECT {', '.join(sel)} FROM __ib_src"


def _sql_rep_newton(m: _CalRows, reps: tuple[str, ...], combined: bool,
                    cols: tuple[int, ...], etas: tuple[tuple[float, ...], ...],
                    scales: tuple[float, ...]) -> str:
    k = len(cols)
    p = len(etas[0]) if etas else 0
    us = [f"(({' + '.join(repr_d(e) + f' * k{j}' for j, e in enumerate(etas[i])) or '0.0'})"
          f" * (1.0 / s2)) AS u{i}" for i in range(k)]
    exs = [f"{_sql_exp(m, f'u{i}', 'lo', 'hi')} AS ex{i}" for i in range(k)]
    dist = []
    for i in range(k):  # over weight columns, not rows
        fm1, d = _sql_distance(m, f"u{i}", "lo", "hi", f"ex{i}")
        dist += [f"{fm1} AS fm{i}", f"{d} AS d{i}"]
    sel = []
    for i in range(k):
        ws = f"r{i} * {repr_d(scales[i])}"
        sel += [f"sum({ws} * d{i} * (1.0 / s2) * k{a} * k{b}) AS t{n}_{i}"
                for n, (a, b) in enumerate(_pairs(p))]
        sel += [f"sum({ws} * fm{i} * k{j}) AS f{j}_{i}" for j in range(p)]
        sel.append(f"count_if(NOT coalesce(isfinite(fm{i}) AND isfinite(d{i}), FALSE)) "
                   f"AS bad_{i}")
    return (f"WITH a AS ({_sql_rep_rows(m, reps, combined, cols)}), "
            f"b0 AS (SELECT *, {', '.join(us)} FROM a), "
            f"b AS (SELECT *, {', '.join(exs)} FROM b0), "
            f"c AS (SELECT *, {', '.join(dist)} FROM b) SELECT {', '.join(sel)} FROM c")


def repr_d(v: float) -> str:
    """A double as a SQL literal, exactly."""
    return f"'{float(v)!r}'::DOUBLE"


def _rep_pass(raw: Source, fn: Any, sql: str | None, *args: Any) -> dict[str, float]:
    """One pass of a replicate calibration's sums (``fn`` per frame, or ``sql``)."""
    if raw.engine == "duckdb":
        assert sql is not None
        row = raw.relation.query("__ib_src", sql).df().iloc[0]  # type: ignore[attr-defined]
        return {str(k): float(v) if v is not None and not pd.isna(v) else 0.0
                for k, v in row.items()}
    m, reps = args[0], args[1]
    frame = raw.frame[list(dict.fromkeys([*m.used, *reps]))]  # type: ignore[attr-defined]
    if raw.engine == "dask":
        empty = pd.DataFrame({c: pd.Series(dtype=t) for c, t in frame.dtypes.items()})
        sums = frame.map_partitions(fn, *args, meta=fn(empty, *args)).sum(
            split_every=raw.split_every).compute()  # type: ignore[attr-defined]
        return {str(k): float(v) for k, v in sums.items()}
    return {str(k): float(v) for k, v in fn(frame, *args).iloc[0].items()}


def _rep_newton(raw: Source, m: _CalRows, reps: tuple[str, ...], combined: bool,
                pop: np.ndarray, sample: np.ndarray, st: dict[str, float], names: list[str],
                tol: float, max_iter: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Newton steps for every weight column at once, one pass each, as memory's
    ``grake`` on a replicate design: per-column pre-scaling and reachable
    ranges, the active columns only, step halving, the shared iteration count."""
    from ..weighting import CalibrationError, not_converged

    p, C = sample.shape
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = pop[:, None] / sample
    fin = np.where(np.isfinite(ratios), ratios, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        big = np.nanmin(fin, axis=0) > 20
        means = np.nanmean(fin, axis=0)
    scale = np.where(big, means, 1.0) if big.any() else np.ones(C)
    if big.any() and m.bounded:
        warnings.warn(f"calibration bounds are applied after rescaling the weights by "
                      f"{scale[big][0]:.3g}", InnobaroWarning, stacklevel=5)
    sample = sample * scale
    if m.bounded:
        def reach(tag: str, j: int, c: int) -> float:
            up, down = st[f"{tag}p{j}_{c}"], st[f"{tag}m{j}_{c}"]
            if up and down:
                return float("nan")
            if up:
                return float("inf")
            return float("-inf") if down else st[f"{tag}f{j}_{c}"]
        low = np.array([[reach("l", j, c) for c in range(C)] for j in range(p)]) * scale
        high = np.array([[reach("u", j, c) for c in range(C)] for j in range(p)]) * scale
        slack = 1e-9 * (1 + np.abs(pop))
        with np.errstate(invalid="ignore"):
            out = (pop[:, None] < low - slack[:, None]) | (pop[:, None] > high + slack[:, None])
        if out.any():
            c = int(np.argwhere(out)[0][1])
            where = "" if c == 0 else f" in replicate {c}"
            parts = [f"{names[j]!r} ({pop[j]:.6g}; reachable {low[j, c]:.6g} to "
                     f"{high[j, c]:.6g})" for j in np.flatnonzero(out[:, c])]
            raise CalibrationError(
                f"calibrate: the total(s) of {', '.join(parts)} cannot be met with g-weights "
                f"within the bounds{where}. Widen the bounds, or check the totals")
    pairs = _pairs(p)
    eta = np.zeros((p, C))

    def run(cols: np.ndarray) -> dict[str, np.ndarray]:
        args = (m, reps, combined, tuple(int(c) for c in cols),
                tuple(tuple(float(v) for v in eta[:, c]) for c in cols),
                tuple(float(scale[c]) for c in cols))
        s = _rep_pass(raw, _frame_rep_newton, _sql_rep_newton(*args)
                      if raw.engine == "duckdb" else None, *args)
        passes[0] += 1
        k = cols.size
        T = np.zeros((k, p, p))
        for n, (a, b) in enumerate(pairs):
            T[:, a, b] = T[:, b, a] = [s[f"t{n}_{i}"] for i in range(k)]
        F = np.array([[s[f"f{j}_{i}"] for i in range(k)] for j in range(p)]).reshape(p, k)
        bad = np.array([s[f"bad_{i}"] for i in range(k)]) > 0
        return {"T": T, "F": F, "bad": bad}

    every = np.arange(C)
    passes = [0]
    res = run(every)
    T = res["T"]
    misfit = pop[:, None] - sample - res["F"]
    active = np.ones(C, dtype=bool)
    it = 1
    while True:
        idx = np.flatnonzero(active)
        Tinv = np.linalg.pinv(T, rcond=256 * np.finfo(float).eps, hermitian=True)
        step = np.einsum("jab,bj->aj", Tinv, misfit[:, idx])
        eta[:, idx] += step
        res = run(idx)
        bad = res["bad"]
        while it < max_iter and bad.any():  # step halving
            it += 1
            step[:, bad] /= 2
            eta[:, idx[bad]] -= step[:, bad]
            res = run(idx)
            bad = res["bad"]
        misfit[:, idx] = pop[:, None] - sample[:, idx] - res["F"]
        done = (np.abs(misfit[:, idx]) / (1 + np.abs(pop[:, None])) < tol).all(axis=0)
        active[idx[done]] = False
        if not active.any():
            return eta.T, scale, passes[0]
        T = res["T"][~done]
        it += 1
        if it > max_iter:
            raise not_converged(m.method, max_iter, misfit, pop, names)


def _rep_calibrate(design: ReplicateEngineDesign, raw: Source, reps: list[str],
                   combined: bool, totals: Any, formula: str | None, variance: Any,
                   method: str = "linear", bounds: Any = None, max_iter: int = 50,
                   tol: float = 1e-7) -> tuple[Source, str, list[str], int]:
    """Linear calibration of the full sample and of every replicate (R's
    ``calibrate`` on an ``svrepdesign``): one pass of the checks, one of
    :math:`X^T W_c \\Sigma^{-1} X` and :math:`X^T w_c` per weight column; the
    calibrated weights are columns the engine computes. Returns the new
    source, the full-sample weight column and the replicate columns."""
    from ..weighting import CalibrationError

    m, pop = (_formula_rows(design, totals, formula, raw) if formula is not None
              else _column_rows(design, totals))
    if method not in _METHODS:
        raise DesignError(f"calibrate: method must be 'linear', 'raking', 'logit' or "
                          f"'sinh'; got {method!r}")
    given = bounds is not None
    if bounds is None:
        bounds = (-np.inf, np.inf)
    if isinstance(bounds, str) or len(bounds) != 2:
        raise DesignError(f"calibrate: bounds must be (lower, upper); got {bounds!r}")
    lo, hi = (_row_value(raw, b, what) for b, what in
              zip(bounds, ("lower bound", "upper bound"), strict=True))
    bounded = given or method != "linear"
    m = replace(m, method=method, lo=lo, hi=hi, bounded=bounded)
    if variance is not None:
        m = _with_variance(raw, m, variance)
    first = _stats(raw, m, "first")
    p = len(m.aux)
    for j in range(p):  # over auxiliaries: the errors in memory's order
        if first[f"miss{j}"]:
            if m.spec is not None:
                raise MissingValueError(f"calibrate: the variables of {formula!r} have "
                                        f"missing values in {int(first['missrow'])} row(s)")
            raise MissingValueError(f"calibrate: column {m.aux[j]!r} has missing values")
    unbounded = True
    if bounded:
        _check_bound_counts(first, method, "")
        unbounded = bool(first["bfree"] == first["n"])
    if variance is not None:
        _check_variance_counts(first, m)
    m = replace(m, exact=method == "linear" and unbounded)
    sample = np.array([first[f"x{j}"] for j in range(p)])
    drop = (sample == 0) & (pop == 0) & np.array([first[f"nz{j}"] == 0 for j in range(p)])
    if drop.any():
        m = replace(m, keep=tuple(bool(k) for k in ~drop))
        pop = pop[~drop]
    names = [a for a, d in zip(m.aux, drop, strict=True) if not d]
    p = len(names)
    rt = tuple(reps)
    if raw.engine == "duckdb":
        row = raw.relation.query(  # type: ignore[attr-defined]
            "__ib_src", _sql_rep_stats(m, rt, combined)).df().iloc[0]
        st = {str(k): float(v) if v is not None and not pd.isna(v) else 0.0
              for k, v in row.items()}
    else:
        cols = list(dict.fromkeys([*m.used, *reps]))
        frame = raw.frame[cols]  # type: ignore[attr-defined]
        if raw.engine == "dask":
            empty = pd.DataFrame({c: pd.Series(dtype=t) for c, t in frame.dtypes.items()})
            st = {str(k): float(v) for k, v in frame.map_partitions(
                _frame_rep_stats, m, rt, combined,
                meta=_frame_rep_stats(empty, m, rt, combined)).sum(
                split_every=raw.split_every).compute().items()}  # type: ignore[attr-defined]
        else:
            st = {str(k): float(v) for k, v in
                  _frame_rep_stats(frame, m, rt, combined).iloc[0].items()}
    C = len(reps) + 1
    pairs = _pairs(p)
    XW = np.array([[st[f"x{j}_{c}"] for c in range(C)] for j in range(p)])  # (p, C)
    support = np.array([[st[f"s{j}_{c}"] for c in range(C)] for j in range(p)])
    T = np.zeros((C, p, p))
    Gr = np.zeros((C, p, p))
    for i, (a, b) in enumerate(pairs):  # over pairs of auxiliaries
        T[:, a, b] = T[:, b, a] = [st[f"h{i}_{c}"] for c in range(C)]
        Gr[:, a, b] = Gr[:, b, a] = [st[f"g{i}_{c}"] for c in range(C)]
    # every replicate needs rows for every auxiliary the sample has (as in memory)
    empty = (support[:, :1] > 0) & (support[:, 1:] <= 0)
    if empty.any():
        cells = [repr(names[i]) for i in np.flatnonzero(empty.any(axis=1))]
        raise DesignError(
            f"calibrate: {int(empty.any(axis=0).sum())} of {C - 1} replicates have no "
            f"weight in {', '.join(cells[:10])}{', ...' if len(cells) > 10 else ''} (they "
            f"drop every unit there), so they cannot be weighted to its total. Collapse "
            f"the cell with another, or weight the design before making its replicates")
    if p > 1:  # auxiliaries dependent among a replicate's rows (memory's rule)
        d = np.sqrt(np.einsum("rii->ri", Gr[1:]))
        with np.errstate(divide="ignore", invalid="ignore"):
            S = Gr[1:] / (d[:, :, None] * d[:, None, :])
        lost = ~(np.linalg.eigvalsh(np.nan_to_num(S))[:, 0] > 1e-12)
        if lost.any():
            raise DesignError(
                f"calibrate: {int(lost.sum())} of {lost.size} replicates cannot be calibrated: "
                f"among their rows the auxiliaries {names} are linearly dependent (a level "
                f"left alone, or fewer rows than auxiliaries). Collapse levels, or calibrate "
                f"the design before making its replicates")
    if m.exact:
        rhs = pop[:, None] - XW
        try:
            lam = np.linalg.solve(T, rhs.T[:, :, None])[:, :, 0]  # (C, p)
        except np.linalg.LinAlgError:
            raise CalibrationError("calibrate: the auxiliary variables are collinear in "
                                   f"the sample (columns {names}); drop redundant "
                                   f"totals") from None
        scale = np.ones(C)
        passes = 2
    else:
        lam, scale, steps = _rep_newton(raw, m, rt, combined, pop, XW, st, names, tol,
                                        max_iter)
        passes = 2 + steps
    lams = tuple(tuple(float(v) for v in row) for row in lam)
    scales = tuple(float(s) for s in scale)
    wnames = [f"{_RCAL}{c}" for c in range(C)]
    if raw.engine == "duckdb":
        from .duckdb_engine import DuckDBSource

        sp = _sql_parts(m)
        w0 = sp["w0"]
        wcols = [w0] + [_num(c) if combined else f"({_num(c)} * {w0})" for c in reps]
        exprs = []
        for c, w in enumerate(wcols):  # over weight columns, not rows
            xe = " + ".join(f"'{v!r}'::DOUBLE * {x}" for v, x in zip(lams[c], sp["xs"],
                                                                   strict=True))
            u = f"(({xe or '0.0'}) * (1.0 / {sp['s2']}))"
            if m.exact:
                exprs.append(f"{w} * (1.0 + {u}) AS {_q(wnames[c])}")
            else:
                fm1, _ = _sql_distance(m, u, sp["lo"], sp["hi"])
                exprs.append(f"{w} * ({repr_d(scales[c])} * (1.0 + {fm1})) AS "
                             f"{_q(wnames[c])}")
        rel = raw.relation  # type: ignore[attr-defined]
        source: Source = DuckDBSource(rel.project(", ".join(["*", *exprs])),
                                      raw.connection)  # type: ignore[attr-defined]
    elif raw.engine == "dask":
        from .dask_engine import DaskSource

        frame = raw.frame  # type: ignore[attr-defined]
        empty = pd.DataFrame({c: pd.Series(dtype=t) for c, t in frame.dtypes.items()})
        args = (m, lams, rt, combined, scales)
        source = DaskSource(frame.map_partitions(_frame_rep_derive, *args,
                                                 meta=_frame_rep_derive(empty, *args)),
                            split_every=raw.split_every)  # type: ignore[attr-defined]
    else:
        source = FrameSource(_frame_rep_derive(raw.frame, m, lams, rt,  # type: ignore
                                               combined, scales))
    return source, wnames[0], wnames[1:], passes


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def _pair(cols: list[str], entry: Any) -> tuple[int, int]:
    if isinstance(entry, tuple):
        return cols.index(entry[0]), cols.index(entry[1])
    return cols.index(entry), -1


def _domains(sums: pd.DataFrame, by_cols: list[str], keys: list[tuple[Any, ...]]
             ) -> np.ndarray:
    """Domain of each cell, in the order of the estimate's domains (-1: none)."""
    if not by_cols:
        return np.zeros(len(sums), dtype=np.int64)
    index = pd.MultiIndex.from_tuples(keys, names=by_cols)
    return np.asarray(index.get_indexer(pd.MultiIndex.from_frame(sums[by_cols])),
                      dtype=np.int64)


def _coefficients(kind: str, pairs: list[tuple[int, int]], est: np.ndarray,
                  tw_d: np.ndarray, twy_d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``alpha`` (D, E) and ``beta`` (D, E, q) of the influence values
    :math:`u = \\alpha_{de} + \\beta_{de}^T y` of each domain and entry."""
    D, E = est.shape
    q = twy_d.shape[1]
    alpha = np.zeros((D, E))
    beta = np.zeros((D, E, q))
    with np.errstate(divide="ignore", invalid="ignore"):
        for e, (j, k) in enumerate(pairs):  # over entries (variables)
            if kind == "total":
                beta[:, e, j] = 1.0
            elif k < 0:  # mean, proportion: (y - m) / N_d
                alpha[:, e] = -est[:, e] / tw_d
                beta[:, e, j] = 1.0 / tw_d
            else:  # ratio: (y - R x) / X_d
                beta[:, e, j] = 1.0 / twy_d[:, k]
                beta[:, e, k] = -est[:, e] / twy_d[:, k]
    return np.nan_to_num(alpha), np.nan_to_num(beta)


def _factors(cells: Design, weighted: Design, cols: list[str]) -> pd.DataFrame:
    """The factor of each cell of ``cols`` (1 where it has no weight)."""
    w0 = np.asarray(cells.weights, dtype=float)
    w1 = np.asarray(weighted.weights, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.where(w0 > 0, w1 / w0, np.nan)
    table = cells.data[cols].assign(**{_G: g})
    table = table.groupby(cols, observed=True, sort=False, dropna=False)[_G].max()
    return table.fillna(1.0).reset_index()




# ---------------------------------------------------------------------------
# the entry points (EngineDesign's methods)
# ---------------------------------------------------------------------------
def poststratify(design: EngineDesign, by: str | Sequence[str], totals: Any, *,
                 partial: bool = False) -> EngineDesign:
    """Post-stratify an engine design, as :func:`innobaro.weighting.poststratify`.

    Parameters
    ----------
    design : EngineDesign
    by : str or list of str
    totals : dict, pandas.Series or pandas.DataFrame
    partial : bool, default False

    Returns
    -------
    EngineDesign
        Weights :math:`w_i N_c / \\hat N_c`, computed by the engine on every pass.
    """
    if isinstance(design, ReplicateEngineDesign):
        by_cols = as_column_list(by, "by")
        return _rep_copy(_RepWeighted, design, "poststratify")._weigh(  # type: ignore[no-any-return]
            "poststratify", by_cols,
            lambda d: d.poststratify(by_cols, totals, partial=partial),
            f"post-stratified by {', '.join(by_cols)}")
    return _PostStratified._copy(design, "poststratify")._weigh(  # type: ignore[no-any-return]
        by, totals, partial)


def rake(design: EngineDesign, margins: dict[str, Any], *, max_iter: int = 50,
         tol: float = 1e-7) -> EngineDesign:
    """Rake an engine design, as :func:`innobaro.weighting.rake`.

    Parameters
    ----------
    design : EngineDesign
    margins : dict
    max_iter : int, default 50
    tol : float, default 1e-7

    Returns
    -------
    EngineDesign
        Weights :math:`w_i g_c`, :math:`g_c` the product of the margins' factors
        of the row's cell, computed by the engine on every pass.
    """
    if isinstance(design, ReplicateEngineDesign):
        if not isinstance(margins, dict) or not margins:
            raise DesignError("rake: margins must be a dict {column: {level: total}}")
        cols = [str(c) for c in margins]
        return _rep_copy(_RepWeighted, design, "rake")._weigh(  # type: ignore[no-any-return]
            "rake", cols, lambda d: d.rake(margins, max_iter=max_iter, tol=tol),
            f"raked to {', '.join(cols)}")
    return _Raked._copy(design, "rake")._weigh(  # type: ignore[no-any-return]
        margins, max_iter, tol)


def calibrate(design: EngineDesign, totals: Any, *, formula: str | None = None,
              method: str = "linear", bounds: Any = None, bounds_const: bool = False,
              variance: Any = None, aggregate_stage: int | None = None,
              aggregate_index: str | None = None, max_iter: int = 50, tol: float = 1e-7
              ) -> EngineDesign:
    """Calibrate an engine design, as :func:`innobaro.weighting.calibrate`.

    Parameters
    ----------
    design : EngineDesign
    totals : dict or pandas.Series
        Keyed by numeric column names and ``"Intercept"``, or by the model
        matrix's column names with ``formula``.
    formula : str, optional
        Categorical terms (text columns, ``C(column)``) and numeric terms
        computed row by row; on Dask and in-memory frames.
    method : {"linear", "raking", "logit", "sinh"}
    bounds : (lower, upper), optional
        Each a number or a numeric column.
    bounds_const : bool, default False
    variance : str, float or sequence of float, optional
        A column or number, or one coefficient per auxiliary.
    aggregate_stage, aggregate_index
        Not available on an engine design.
    max_iter : int, default 50
    tol : float, default 1e-7

    Returns
    -------
    EngineDesign
        Weights :math:`w_i g_i`, :math:`g_i = F(x_i^T \\lambda / \\sigma^2_i)`, with
        :math:`\\lambda` from Newton steps of one pass each (the linear distance
        without bounds: one pass), computed by the engine.
    """
    if aggregate_stage is not None or aggregate_index is not None:
        raise UnsupportedDesignError(
            f"calibrate: aggregate_stage= and aggregate_index= are not available on a "
            f"{design.engine} design: equal g-weights within a cluster need the cluster "
            f"means of every auxiliary on every row, a second grouping that the passes do "
            f"not make yet; calibrate in memory")
    if isinstance(design, ReplicateEngineDesign):
        if bounds_const and bounds is not None:
            raise UnsupportedDesignError(
                "calibrate: bounds_const=True on a replicate design over an engine is not "
                "available (each replicate's bounds would be over its own weights); "
                "calibrate the replicate design in memory")
        return _rep_copy(_RepCalibrated, design, "calibrate")._calibrate(  # type: ignore
            totals, formula, variance, method, bounds, max_iter, tol)
    return _Calibrated._copy(design, "calibrate")._weigh(  # type: ignore[no-any-return]
        totals, formula, method, bounds, bounds_const, variance, max_iter, tol)
