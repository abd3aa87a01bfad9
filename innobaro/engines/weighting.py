"""Weighting an engine design: post-stratification, raking and linear calibration.

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
- **linear calibration**: one pass of :math:`X^T W_0 X` and :math:`X^T w_0`
  gives :math:`\\lambda`; the calibrated weight :math:`w_0 (1 + x^T \\lambda)` is
  a column the engine computes lazily, row by row, on every later pass. The
  residuals :math:`z - w x^T K F^T z` need :math:`F^T z = \\sum_i x_i w_{0i} u_i`
  (a pass with the design's weights: the totals of :math:`w_0 x` and
  :math:`w_0 x y` per domain) and the totals of :math:`w x` per cell.

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
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from .._validate import as_column_list
from ..design import Design
from ..errors import (
    DesignError,
    EngineError,
    InnobaroWarning,
    MissingValueError,
    UnsupportedDesignError,
)
from ..results import Estimate
from ..variance.calibration import Basis, CalibrationStep, project_influence
from ..variance.linearization import Influence, linearized_vcov
from .core import EngineDesign, FrameSource, Source
from .sums import COMPLETE, NPOS, PREFIX, SW, WBAD, N, SumsSpec, check_rows

__all__ = ["calibrate", "poststratify", "rake"]

#: the weight total of a cell before a cell factor (added by the scaling source)
_SW0 = PREFIX + "sw0"
#: the calibrated weight, a column the engine computes
_WCAL = PREFIX + "wcal"
#: the factor column of a table of cell factors
_G = PREFIX + "g"
#: prefix of a variable divided by the design weight (zero where it is not positive)
_PERW = PREFIX + "perw_"
_INTERCEPT = ("Intercept", "(Intercept)")


# ---------------------------------------------------------------------------
# sources: derived columns, and cell factors
# ---------------------------------------------------------------------------
class _Derived:
    """A source with columns computed from the rows, lazily, on every pass.

    ``__ib_perw_<y>`` is ``y / w0`` (zero where ``w0`` is not positive) for any
    numeric column; ``__ib_wcal`` (with ``coefs``) is ``w0 * (c_0 + sum_a c_a x_a)``.
    ``w0`` is the design weight (``weights``, ``1 / probs`` or 1).
    """

    def __init__(self, inner: Source, weights: str | None, probs: str | None,
                 coefs: dict[str, float] | None = None) -> None:
        self.inner = inner
        self.engine = inner.engine
        self.weights, self.probs = weights, probs
        self.coefs = coefs

    def columns(self) -> list[str]:
        """The source's columns, and the derived ones."""
        cols = self.inner.columns()
        out = cols + [_PERW + c for c in cols if self.inner.numeric(c)]
        return out + ([_WCAL] if self.coefs is not None else [])

    def numeric(self, name: str) -> bool:
        """Whether a column is numeric (every derived column is)."""
        return name.startswith(_PERW) or name == _WCAL or self.inner.numeric(name)

    def _wanted(self, spec: SumsSpec) -> list[str]:
        names = [*spec.variables, *([spec.weights] if spec.weights else [])]
        return [c for c in dict.fromkeys(names) if c.startswith(_PERW) or c == _WCAL]

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
            if name == _WCAL:
                assert self.coefs is not None
                terms = [repr(float(self.coefs.get("Intercept", 0.0)))]
                terms += [f"{float(c)!r} * {_num(col)}" for col, c in self.coefs.items()
                          if col != "Intercept"]
                out.append(f"{w0} * ({' + '.join(terms)}) AS {_q(name)}")
            else:
                y = _num(name[len(_PERW):])
                out.append(f"CASE WHEN {w0} > 0 THEN {y} / {w0} WHEN {y} IS NULL OR "
                           f"isnan({y}) THEN {y} ELSE 0.0 END AS {_q(name)}")
        return out


def _q(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + str(name).replace('"', '""') + '"'


def _num(name: str) -> str:
    return f"CAST({_q(name)} AS DOUBLE)"


def _derive(frame: pd.DataFrame, names: list[str], weights: str | None, probs: str | None,
            coefs: dict[str, float] | None) -> pd.DataFrame:
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
    for name in names:  # over derived columns
        if name == _WCAL:
            assert coefs is not None
            g = np.full(n, coefs.get("Intercept", 0.0))
            for col, c in coefs.items():  # over auxiliaries
                if col != "Intercept":
                    g = g + c * frame[col].to_numpy(dtype=float, na_value=np.nan)
            new[name] = w0 * g
        else:
            y = frame[name[len(_PERW):]].to_numpy(dtype=float, na_value=np.nan)
            pos = w0 > 0
            with np.errstate(divide="ignore", invalid="ignore"):
                new[name] = np.where(pos, y / np.where(pos, w0, 1.0),
                                     np.where(np.isnan(y), np.nan, 0.0))
    return frame.assign(**new)


def _with_columns(inner: Source, names: list[str], derived: _Derived) -> Source:
    """The inner source with derived columns, computed where the rows are."""
    args = (names, derived.weights, derived.probs, derived.coefs)
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


class _Scaled:
    """A source whose weighted sums are multiplied by a factor of the row's cell
    (of the columns ``cols``): the weights ``w g_c``, exact because every row
    of a cell of the sums has the same factor."""

    def __init__(self, inner: Source, cols: list[str], table: pd.DataFrame) -> None:
        self.inner = inner
        self.engine = inner.engine
        self.cols = cols
        self.index = pd.MultiIndex.from_frame(table[cols])
        self.factor = table[_G].to_numpy(dtype=float)

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
    """Linear calibration: the weight is a column the engine computes."""

    _aux: list[str]  # the model matrix's columns ("Intercept" or a column name)
    _kinv: np.ndarray  # (X' W0 X)^-1
    _w0: SumsSpec  # the design's weights

    def _weigh(self, totals: Any) -> Any:
        tot = dict(totals.items()) if isinstance(totals, pd.Series) else dict(totals)
        aux = ["Intercept" if k in _INTERCEPT else str(k) for k in tot]
        pop = np.array([float(v) for v in tot.values()])
        xs = [a for a in aux if a != "Intercept"]
        have = set(self._source.columns())
        for a in xs:
            if a not in have:
                raise DesignError(f"calibrate: column {a!r} is not in the data")
            if not self._source.numeric(a):
                raise DesignError(f"calibrate: column {a!r} is not numeric; give a formula "
                                  f"to calibrate to the counts of its levels (in memory)")
        # one pass: X' W0 X and X' w0
        spec = replace(self._spec, variables=tuple(xs), moments=True, count_missing=True)
        sums = self._source.sums(spec)
        for j, a in enumerate(xs):
            if int(sums[spec.missing(j)].sum()):
                raise MissingValueError(f"calibrate: column {a!r} has missing values")
        sw = float(sums[SW].sum())

        def tot_of(a: str) -> float:
            return sw if a == "Intercept" else float(sums[spec.total(xs.index(a))].sum())

        def cross_of(a: str, b: str) -> float:
            if a == "Intercept":
                return tot_of(b)
            if b == "Intercept":
                return tot_of(a)
            i, k = sorted((xs.index(a), xs.index(b)))
            return float(sums[spec.cross(i, k)].sum())

        gram = np.array([[cross_of(a, b) for b in aux] for a in aux])  # p x p, not rows
        sample = np.array([tot_of(a) for a in aux])
        try:
            lam = np.linalg.solve(gram, pop - sample)
        except np.linalg.LinAlgError:
            from ..weighting import CalibrationError

            raise CalibrationError("calibrate: the auxiliary variables are collinear in the "
                                   f"sample (columns {aux}); drop redundant totals") from None
        coefs = {a: float(c) for a, c in zip(aux, lam, strict=True)}
        coefs["Intercept"] = coefs.get("Intercept", 0.0) + 1.0
        norm = np.sqrt(np.abs(np.diag(gram)))
        norm = np.where(norm > 0, norm, 1.0)
        self._aux = aux
        self._kinv = np.linalg.pinv(gram / np.outer(norm, norm), hermitian=True) / np.outer(
            norm, norm)
        self._w0 = self._spec
        source = _Derived(self._source, self._spec.weights, self._spec.probs, coefs)
        new_spec = replace(self._spec, weights=_WCAL, probs=None)
        return self._finish(source, new_spec, f"calibrated to {', '.join(aux)}", "calibrate")

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
    return _Raked._copy(design, "rake")._weigh(  # type: ignore[no-any-return]
        margins, max_iter, tol)


def calibrate(design: EngineDesign, totals: Any, *, formula: str | None = None,
              method: str = "linear", bounds: Any = None, variance: Any = None,
              aggregate_stage: int | None = None, aggregate_index: str | None = None
              ) -> EngineDesign:
    """Linear calibration of an engine design, as :func:`innobaro.weighting.calibrate`.

    Parameters
    ----------
    design : EngineDesign
    totals : dict or pandas.Series
        Keyed by numeric column names and ``"Intercept"``.
    formula, method, bounds, variance, aggregate_stage, aggregate_index
        Only the defaults (the linear distance on the columns): others need
        the rows in memory.

    Returns
    -------
    EngineDesign
        Weights :math:`w_i (1 + x_i^T \\lambda)`, with
        :math:`\\lambda = (X^T W_0 X)^{-1} (T_x - X^T w_0)`, computed by the engine.
    """
    if (formula is not None or method != "linear" or bounds is not None
            or variance is not None or aggregate_stage is not None
            or aggregate_index is not None):
        raise UnsupportedDesignError(
            f"calibrate: a {design.engine} design calibrates linearly to totals of numeric "
            f"columns (and 'Intercept'); formula=, method=, bounds=, variance= and "
            f"aggregation need the rows in memory")
    return _Calibrated._copy(design, "calibrate")._weigh(totals)  # type: ignore[no-any-return]
