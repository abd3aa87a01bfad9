"""Weighting to the population: post-stratification, raking, calibration, trimming
and nonresponse adjustment.

Each function returns a new design whose weights reproduce the targets and
whose variance accounts for the weighting: a linearisation design records the
weighting model (:mod:`innobaro.variance.calibration`), so every estimator, model and
test uses the residuals of that model; a replicate design repeats the
weighting in every replicate (Lumley 2010, ch. 7; Wolter 2007, sec. 3.7).

References
----------
.. [1] Deville, J.-C. and Särndal, C.-E. (1992). Calibration estimators in
   survey sampling. *JASA* 87, 376-382.
.. [2] Särndal, C.-E., Swensson, B. and Wretman, J. (1992). *Model Assisted
   Survey Sampling*, ch. 6-7. Springer.
.. [3] Lumley, T. (2010). *Complex Surveys*, ch. 7.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ._frames import pandas_if_frame
from ._linalg import bincount, replicate_support, tall_dot, weighted_gram
from ._validate import as_column_list, check_columns
from .design import ReplicateDesign, SurveyDesign
from .errors import DesignError, EstimationError, InnobaroWarning, MissingValueError, warn
from .variance.calibration import Basis, CalibrationStep

__all__ = [
    "CalibrationError",
    "WeightsSummary",
    "adjust_nonresponse",
    "adjust_propensity",
    "calibrate",
    "calibration_totals",
    "not_converged",
    "poststratify",
    "rake",
    "trim_weights",
    "weights_summary",
]


class CalibrationError(EstimationError):
    """Calibration could not reach the totals (no convergence, or bounds too tight)."""


@dataclass(frozen=True)
class _LogEntry:
    step: str
    weights: np.ndarray
    targets: dict[str, float] = field(default_factory=dict)
    achieved: dict[str, float] = field(default_factory=dict)
    response: pd.DataFrame | None = None  # response by cell (nonresponse steps)
    collapsed: tuple[dict[str, Any], ...] = ()  # classes joined


# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------
def _weights_matrix(design: SurveyDesign) -> np.ndarray:
    """Main weights (column 0) and, for replicate designs, the replicates, for
    the rows present (zero elsewhere)."""
    w = design.weight_values[:, None]
    if isinstance(design, ReplicateDesign):
        W = design.unmasked_replicate_weights * design.present[:, None]
        return np.concatenate([w, W], axis=1)
    return w


def _new_design(design: SurveyDesign, Wnew: np.ndarray, step: CalibrationStep | None,
                entry: _LogEntry, same_support: bool = False) -> Any:
    """The weighted design: new weights (and replicate weights) for the rows
    present, the weighting model for linearisation variances, and the log;
    ``same_support``: every weight kept its sign (see ``with_weights``)."""
    # the design's weights are read-only and never change: no copy
    log = design.weighting_log or (_LogEntry("design", design.weight_values),)
    replicate = isinstance(design, ReplicateDesign)
    return design.with_weights(Wnew[:, 0], Wnew[:, 1:] if replicate else None,
                               calibration=None if replicate else step,
                               weighting_log=(*log, entry), same_support=same_support)


def _cells(design: SurveyDesign, by: list[str], what: str
           ) -> tuple[np.ndarray, list[np.ndarray]]:
    check_columns(design.data, by, what)
    codes, values = design.level_codes(by)
    present = design.present
    every = bool(present.all())
    if (codes.min(initial=0) if every else codes[present].min(initial=0)) < 0:
        bad = [c for c in by if design.data[c].isna().to_numpy()[present].any()]
        raise MissingValueError(f"{what}: column {', '.join(map(repr, bad))} has missing "
                                f"values")
    return codes if every else np.where(present, codes, -1), values


def _cell_label(values: list[np.ndarray], i: int | np.integer) -> str:
    parts = [str(v[i]) for v in values]
    return parts[0] if len(parts) == 1 else "|".join(parts)


def _population_vector(totals: Any, by: list[str], values: list[np.ndarray], what: str
                       ) -> tuple[np.ndarray, list[str]]:
    """Population count of each sample cell (NaN if not given), and the labels of
    population cells with a positive count that are not among the sample cells."""
    totals = pandas_if_frame(totals, f"{what} totals")  # a polars or pyarrow table
    if isinstance(totals, pd.DataFrame):
        cols = [c for c in totals.columns if c not in by]
        check_columns(totals, by, f"{what} totals")
        if len(cols) != 1:
            raise DesignError(f"{what}: the totals DataFrame must have the columns {by} and "
                              f"one column of population counts; found {list(totals.columns)}")
        keys = [tuple(r) for r in totals[by].itertuples(index=False)]
        counts = totals[cols[0]].to_numpy(dtype=float)
        mapping = dict(zip(keys, counts, strict=True))
    else:
        items = dict(totals).items()
        mapping = {}
        for k, v in items:
            key = k if isinstance(k, tuple) else (k,)
            if len(key) != len(by):
                raise DesignError(f"{what}: total key {k!r} does not match the columns {by}")
            mapping[key] = float(v)
    n_cells = len(values[0])
    sample_keys = [tuple(v[i] for v in values) for i in range(n_cells)]
    by_text = {tuple(str(x) for x in k): c for k, c in mapping.items()}
    pop = np.full(n_cells, np.nan)
    used = set()
    for i, key in enumerate(sample_keys):  # over cells, to match labels
        if key in mapping:
            pop[i] = mapping[key]
            used.add(key)
        else:
            tkey = tuple(str(x) for x in key)
            if tkey in by_text:
                pop[i] = by_text[tkey]
                used.add(next(k for k in mapping if tuple(str(x) for x in k) == tkey))
    extra = ["|".join(str(x) for x in k) for k, c in mapping.items()
             if k not in used and c > 0]
    return pop, extra


def _cell_totals(codes: np.ndarray, W: np.ndarray, n_cells: int) -> np.ndarray:
    """Weighted totals of every cell for every weight column: (C, k)."""
    if W.shape[1] == 1 and codes.min() >= 0:
        return bincount(codes, weights=W[:, 0], minlength=n_cells)[:, None]
    keep = codes >= 0
    c = codes[keep]
    Wk = W[keep]
    if Wk.shape[1] == 1:
        return bincount(c, weights=Wk[:, 0], minlength=n_cells)[:, None]
    import scipy.sparse as sp

    E = sp.csr_matrix((np.ones(c.size), (c, np.arange(c.size))), shape=(n_cells, c.size))
    return np.asarray(E @ Wk)


def _check_replicate_cells(S: np.ndarray, labels: list[str], what: str) -> None:
    """Every replicate must have weight in every cell the sample has (``S``:
    (C, 1 + R) cell totals of the main and replicate weights): a replicate that
    drops every unit of a cell cannot be weighted to its total. R stops there
    (0/0 weights, or a singular calibration system)."""
    if S.shape[1] < 2:
        return
    empty = (S[:, :1] > 0) & (S[:, 1:] <= 0)
    if empty.any():
        cells = [labels[i] for i in np.flatnonzero(empty.any(axis=1))]
        raise DesignError(
            f"{what}: {int(empty.any(axis=0).sum())} of {S.shape[1] - 1} replicates have no "
            f"weight in {', '.join(cells[:10])}{', ...' if len(cells) > 10 else ''} (they "
            f"drop every unit there), so they cannot be weighted to its total. Collapse "
            f"the cell with another, or weight the design before making its replicates")


# ----------------------------------------------------------------------------
# post-stratification
# ----------------------------------------------------------------------------
def poststratify(design: SurveyDesign, by: str | Sequence[str], totals: Any, *,
                 partial: bool = False) -> Any:
    """Post-stratify the weights so each cell's weights add up to its population count.

    Parameters
    ----------
    design : Design or ReplicateDesign
    by : str or list of str
        Post-stratification columns (their combination is the cell).
    totals : dict, pandas.Series or pandas.DataFrame
        Population count of each cell: keyed by level (a tuple of levels for
        several columns), or a DataFrame with the ``by`` columns and one
        column of counts.
    partial : bool, default False
        Ignore population cells that have no sample (with a warning) instead
        of raising.

    Returns
    -------
    A design of the same kind, with weights :math:`w_i N_c / \\hat N_c` for
    row :math:`i` in cell :math:`c`.

    Notes
    -----
    The variance uses the residuals from the cell means,
    :math:`\\tilde z_i = z_i - w_i \\bar u_c` with :math:`\\bar u_c` the mean of
    :math:`u = z/w` in the cell under the weights before post-stratification
    (Holt and Smith 1979; R's ``postStratify``). Replicate designs are
    post-stratified replicate by replicate.

    Raises
    ------
    DesignError
        Naming every sample cell with no population count, every cell with a
        population count of zero but sampled units, and every population cell
        with no sample (unless ``partial``).

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({"psu": range(6), "w": [10.0] * 6,
    ...                    "sector": ["edu", "edu", "edu", "health", "health", "health"],
    ...                    "y": [1.0, 0, 1, 1, 1, 0]})
    >>> d = ib.Design(df, weights="w", psu="psu").poststratify(
    ...     "sector", {"edu": 40, "health": 20})
    >>> d.weights.round(4).tolist()
    [13.3333, 13.3333, 13.3333, 6.6667, 6.6667, 6.6667]
    """
    by_cols = as_column_list(by, "by")
    codes, values = _cells(design, by_cols, "poststratify")
    n_cells = len(values[0])
    pop, extra = _population_vector(totals, by_cols, values, "poststratify")
    W = _weights_matrix(design)
    S = _cell_totals(codes, W, n_cells)
    sampled = S[:, 0] > 0
    labels = [_cell_label(values, i) for i in range(n_cells)]
    _check_replicate_cells(S, labels, "poststratify")
    missing = sampled & np.isnan(pop)
    if missing.any():
        raise DesignError("poststratify: no population count for sample cell(s) "
                          + ", ".join(_cell_label(values, i) for i in np.flatnonzero(missing)))
    zero_pop = sampled & (pop == 0)
    if zero_pop.any():
        raise DesignError("poststratify: population count zero for sampled cell(s) "
                          + ", ".join(_cell_label(values, i) for i in np.flatnonzero(zero_pop)))
    unsampled = (~sampled & (pop > 0))
    names = [_cell_label(values, i) for i in np.flatnonzero(unsampled)] + extra
    if names:
        msg = "poststratify: population cell(s) with no sample: " + ", ".join(names)
        if not partial:
            raise DesignError(msg + " (collapse cells, or pass partial=True to ignore them)")
        warnings.warn(msg + "; ignored", InnobaroWarning, stacklevel=3)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(S > 0, pop[:, None] / S, 0.0)
    inside = codes >= 0
    every = bool(inside.all())  # every row in a cell: no masks over the rows
    cell = codes if every else np.maximum(codes, 0)
    if W.shape[1] == 1:
        row_factor = np.take(factor[:, 0], cell)
        if not every:
            row_factor[~inside] = 1.0
        Wnew = np.multiply(W[:, 0], row_factor, out=row_factor)[:, None]
    else:
        Wnew = W * np.where(inside[:, None], factor[cell], 1.0)
    step = None
    if not isinstance(design, ReplicateDesign):
        w1 = Wnew[:, 0]
        # F = (w0/w1) e_c: the inverse of the cell's factor on the row (zero
        # where the new weight is not positive or the row is in no cell)
        with np.errstate(divide="ignore"):
            inv = np.where(factor[:, 0] > 0, 1.0 / factor[:, 0], 0.0)
        fval = np.take(inv, cell)
        if not w1.min(initial=1.0) > 0:
            fval[~(w1 > 0)] = 0.0
        a_values = w1
        if not every:
            fval[~inside] = 0.0
            a_values = np.where(inside, w1, 0.0)
        # the cell totals of the weights before the step: S's first column
        with np.errstate(divide="ignore"):
            K = np.diag(np.where(S[:, 0] > 0, 1.0 / S[:, 0], 0.0))
        basis = Basis(K=K, codes=cell, a_values=a_values, f_values=fval)
        step = CalibrationStep(bases=(basis,), kind="poststratify")
    # each cell's total of the new weights: its rows share one factor, so the
    # total is S_c f_c (rather than a second pass over the rows)
    achieved = S[:, 0] * factor[:, 0]
    entry = _LogEntry("poststratify", Wnew[:, 0],  # Wnew is new: no copy
                      {labels[i]: float(pop[i]) for i in np.flatnonzero(sampled)},
                      {labels[i]: float(achieved[i])
                       for i in np.flatnonzero(sampled)})
    # every cell's weights summing to a positive total means every row in a cell
    # was multiplied by a positive factor (and the rows in none keep theirs)
    return _new_design(design, Wnew, step, entry, same_support=bool((S[:, 0] > 0).all()))


# ----------------------------------------------------------------------------
# raking
# ----------------------------------------------------------------------------
def rake(design: SurveyDesign, margins: dict[str, Any], *, max_iter: int = 50,
         tol: float = 1e-7) -> Any:
    """Rake the weights to several margins by iterative proportional fitting.

    Parameters
    ----------
    design : Design or ReplicateDesign
    margins : dict
        ``{column: totals}``, each ``totals`` as in :func:`poststratify`
        (``{level: count}`` or a Series).
    max_iter : int, default 50
        Passes over all margins.
    tol : float, default 1e-7
        Convergence: the largest change of a weighted cell count of the
        cross-classification of all margins between two passes, below
        ``tol * sum(weights)`` when ``tol < 1`` and below ``tol`` otherwise
        (R's ``rake`` ``epsilon``).

    Returns
    -------
    A design of the same kind. A warning says when raking did not converge.

    Notes
    -----
    Each pass post-stratifies to every margin in turn (Deming and Stephan
    1940). The variance removes the projection on the margins as R's
    ``svyrecvar`` does: ten backfitting sweeps that centre the influence
    values within the levels of each margin.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({"psu": range(8), "w": [5.0] * 8,
    ...                    "a": list("xxyyxxyy"), "b": list("ppppqqqq")})
    >>> d = ib.Design(df, weights="w", psu="psu").rake(
    ...     {"a": {"x": 30, "y": 10}, "b": {"p": 20, "q": 20}})
    >>> ib.total(d, "a").estimate.round(6).tolist()
    [30.0, 10.0]
    """
    if not isinstance(margins, dict) or not margins:
        raise DesignError("rake: margins must be a dict {column: {level: total}}")
    cols = list(margins)
    check_columns(design.data, cols, "rake")
    info = []
    for col in cols:
        codes, values = _cells(design, [col], "rake")
        pop, extra = _population_vector(margins[col], [col], values, "rake")
        if np.isnan(pop).any() or extra:
            bad = [_cell_label(values, i) for i in np.flatnonzero(np.isnan(pop))] + extra
            raise DesignError(f"rake: margin {col!r} does not match the sample at "
                              f"level(s) {', '.join(bad)}")
        info.append((codes, values, pop))
    cross, _ = _cells(design, cols, "rake")
    n_cross = int(cross.max()) + 1
    W = _weights_matrix(design)
    for col, (codes, values, _pop) in zip(cols, info, strict=True):
        _check_replicate_cells(_cell_totals(codes, W, len(values[0])),
                               [f"{col}={v}" for v in values[0]], "rake")
    eps = tol * W[:, 0].sum() if tol < 1 else tol
    old = _cell_totals(cross, W[:, :1], n_cross)[:, 0]
    after = [W[:, 0]] * len(cols)
    converged = False
    it = 0
    while it < max_iter:  # passes of iterative proportional fitting
        for k, (codes, values, pop) in enumerate(info):
            S = _cell_totals(codes, W, len(values[0]))
            with np.errstate(divide="ignore", invalid="ignore"):
                factor = np.where(S > 0, pop[:, None] / S, 0.0)
            W = W * np.where(codes[:, None] >= 0, factor[np.maximum(codes, 0)], 1.0)
            after[k] = W[:, 0].copy()
        new = _cell_totals(cross, W[:, :1], n_cross)[:, 0]
        if np.max(np.abs(old - new)) < eps:
            converged = True
            break
        old = new
        it += 1
    if not converged:
        warnings.warn(f"raking did not converge after {it} passes (largest change "
                      f"{np.max(np.abs(old - new)):.3g}, tolerance {eps:.3g})",
                      InnobaroWarning, stacklevel=3)
    step = None
    if not isinstance(design, ReplicateDesign):
        bases = []
        for (codes, values, _pop), wk in zip(info, after, strict=True):
            n_l = bincount(codes[codes >= 0], minlength=len(values[0])).astype(float)
            with np.errstate(divide="ignore"):
                K = np.diag(np.where(n_l > 0, 1.0 / n_l, 0.0))
                inv = np.where((codes >= 0) & (wk > 0), 1.0 / np.where(wk > 0, wk, 1), 0.0)
            bases.append(Basis(K=K, codes=np.maximum(codes, 0),
                               a_values=np.where(codes >= 0, wk, 0.0), f_values=inv))
        step = CalibrationStep(bases=tuple(bases), sweeps=10, kind="rake")
    targets, achieved = {}, {}
    for col, (codes, values, pop) in zip(cols, info, strict=True):
        tot = _cell_totals(codes, W[:, :1], len(values[0]))[:, 0]
        for i in range(len(values[0])):  # over levels, for the log
            targets[f"{col}={values[0][i]}"] = float(pop[i])
            achieved[f"{col}={values[0][i]}"] = float(tot[i])
    passes = it + 1 if converged else it
    return _new_design(design, W, step,
                       _LogEntry(f"rake ({passes} passes)", W[:, 0].copy(), targets, achieved))


# ----------------------------------------------------------------------------
# calibration
# ----------------------------------------------------------------------------
_INTERCEPT = ("Intercept", "(Intercept)", "1")


def _calibration_matrix(design: SurveyDesign, totals: Any, formula: str | None
                        ) -> tuple[np.ndarray, list[str], np.ndarray]:
    data = design.data
    present = design.present
    tot: dict[Any, Any] = (dict(totals.items()) if isinstance(totals, pd.Series)
                          else dict(totals))
    if formula is not None:
        from .formula import model_frame

        _, X, spec, kept = model_frame(formula, data, response=False)
        if not kept[present].all():
            raise MissingValueError(f"calibrate: the variables of {formula!r} have missing "
                                    f"values in {int((~kept[present]).sum())} row(s)")
        if kept.all():  # the model matrix itself (new on every call): no copy
            full = np.require(X, dtype=float, requirements=["F", "W"])
        else:
            full = np.zeros((len(data), X.shape[1]), order="F")
            full[kept] = X
        names = spec.column_names
    else:
        # each column written once, straight into the matrix (no per-column copies)
        names = []
        full = np.empty((len(data), len(tot)), order="F")
        for j, key in enumerate(tot):  # over auxiliary variables
            column = full[:, j]
            if key in _INTERCEPT:
                column[:] = 1.0
            else:
                check_columns(data, [key], "calibrate")
                col = data[key]
                if not pd.api.types.is_numeric_dtype(col):
                    raise DesignError(f"calibrate: column {key!r} is not numeric; give a "
                                      f"formula to calibrate to the counts of its levels")
                column[:] = col.to_numpy(dtype=float, na_value=np.nan)
                finite = np.isfinite(column)
                if not finite.all():
                    if np.isnan(column[present]).any():
                        raise MissingValueError(f"calibrate: column {key!r} has missing "
                                                f"values")
                    np.nan_to_num(column, copy=False)
            names.append(key)
    pop = calibration_totals(tot, names)
    if not present.all():
        full[~present] = 0.0
    return full, names, pop


def calibration_totals(totals: dict[Any, Any], names: list[str]) -> np.ndarray:
    """The population totals in the order of the model matrix's columns.

    Parameters
    ----------
    totals : dict
        Totals keyed by model-matrix column; R's ``"(Intercept)"`` (or ``"1"``)
        is patsy's ``"Intercept"``.
    names : list of str
        The model matrix's column names.

    Returns
    -------
    numpy.ndarray
        One total per column of ``names``.

    Raises
    ------
    DesignError
        Naming the columns without a total and the totals matching no column.
    """
    lookup = {("Intercept" if k in _INTERCEPT else k): v for k, v in totals.items()}
    missing = [n for n in names if n not in lookup]
    extra = [k for k in lookup if k not in names]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"no total for {', '.join(map(repr, missing))}")
        if extra:
            parts.append(f"totals for {', '.join(map(repr, extra))} match no column")
        raise DesignError(f"calibrate: {'; '.join(parts)} (model-matrix columns: {names})")
    return np.array([float(lookup[n]) for n in names])


def _gram(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    """:math:`X^\\top \\operatorname{diag}(w) X` (p, p) for one weight vector ``w`` (n,).

    Summed over blocks of rows small enough (at most :math:`2^{18}/p^2` rows,
    and at least 256) that the BLAS computes each block's product on one
    thread. The threaded product of the whole tall matrix is no faster on
    two cores and, on a machine busy with other work, waits for its threads:
    it took 10 to 100 times as long (0.1 s against 1 to 10 s for
    :math:`10^6 \\times 30`; ``benchmarks/bench_weighting.py``). Blocks of
    :math:`\\sqrt{w} X` use the symmetric rank-k update; with a negative
    weight, one product.
    """
    n, p = X.shape
    if not (w >= 0).all():
        return X.T @ (X * w[:, None])
    step = max(256, (1 << 18) // max(p * p, 1))
    out = np.zeros((p, p))
    buf = np.empty((p, min(step, max(n, 1))))
    XT = X.T
    root = np.sqrt(w)
    for a in range(0, n, step):  # blocks of rows
        block = buf[:, :min(n, a + step) - a]
        np.multiply(XT[:, a:a + step], root[a:a + step], out=block)
        out += block @ block.T
    return out


def _calfun(method: str) -> tuple[Callable[..., np.ndarray], Callable[..., np.ndarray]]:
    """Distance function ``F(u) - 1`` and its derivative, for bounds ``lo``,
    ``hi`` that broadcast with ``u`` (per row, or per row and weight column;
    Deville and Särndal 1992; R's ``cal.linear``, ``cal.raking``,
    ``cal.logit`` and ``cal.sinh``)."""
    if method == "linear":
        return (lambda u, lo, hi: np.minimum(np.maximum(u + 1, lo), hi) - 1,
                lambda u, lo, hi: ((u < hi - 1) & (u > lo - 1)).astype(float))
    if method == "raking":
        def fm1(u: np.ndarray, lo: Any, hi: Any) -> np.ndarray:
            with np.errstate(over="ignore"):
                return np.minimum(np.maximum(np.exp(u), lo), hi) - 1

        def df(u: np.ndarray, lo: Any, hi: Any) -> np.ndarray:
            with np.errstate(over="ignore"):
                return np.where((u < hi - 1) & (u > lo - 1), np.exp(u), 0.0)
        return fm1, df
    if method == "logit":
        def fm1(u: np.ndarray, lo: Any, hi: Any) -> np.ndarray:
            A = (hi - lo) / ((hi - 1) * (1 - lo))
            with np.errstate(over="ignore", invalid="ignore"):
                e = np.exp(A * u)
                out = (lo * (hi - 1) + hi * (1 - lo) * e) / (hi - 1 + (1 - lo) * e) - 1
            return np.where(np.isinf(e), hi - 1, out)

        def df(u: np.ndarray, lo: Any, hi: Any) -> np.ndarray:
            A = (hi - lo) / ((hi - 1) * (1 - lo))
            with np.errstate(over="ignore", invalid="ignore"):
                e = np.exp(A * u)
                den = hi - 1 + (1 - lo) * e
                out = (hi * (1 - lo) * e * A / den
                       - (lo * (hi - 1) + hi * (1 - lo) * e) * ((1 - lo) * e * A) / den ** 2)
            return np.where(np.isinf(e), 0.0, out)
        return fm1, df
    if method == "sinh":
        # R's cal.sinh (alpha = 1): F(u) = (a + sqrt(a^2 + 4)) / 2, a = asinh(2u),
        # the inverse of the derivative of the distance u - 1/u ... bounded by clipping
        def fm1(u: np.ndarray, lo: Any, hi: Any) -> np.ndarray:
            a = np.arcsinh(2 * u)
            return np.minimum(np.maximum((a + np.sqrt(a * a + 4)) / 2, lo), hi) - 1

        def df(u: np.ndarray, lo: Any, hi: Any) -> np.ndarray:
            a = np.arcsinh(2 * u)
            d = (1 + a / np.sqrt(a * a + 4)) / np.sqrt(1 + 4 * u * u)
            return np.where((u < hi - 1) & (u > lo - 1), d, 0.0)
        return fm1, df
    raise DesignError(f"calibrate: method must be 'linear', 'raking', 'logit' or 'sinh'; got "
                      f"{method!r}")


def _check_bounds(method: str, lo: np.ndarray, hi: np.ndarray, rows: np.ndarray,
                  what: str) -> None:
    """Bounds that the distance cannot use, named (``rows``: the rows present)."""
    lo_r, hi_r = lo[rows], hi[rows]
    if np.isnan(lo_r).any() or np.isnan(hi_r).any():
        raise MissingValueError(f"calibrate: the bounds{what} have missing values in "
                                f"{int((np.isnan(lo_r) | np.isnan(hi_r)).any(axis=1).sum())} "
                                f"row(s)")
    crossed = (lo_r > hi_r).any(axis=1)
    if crossed.any():
        raise DesignError(f"calibrate: the lower bound is above the upper bound{what} in "
                          f"{int(crossed.sum())} row(s)")
    if method in ("logit", "sinh"):
        if not (np.isfinite(lo_r).all() and np.isfinite(hi_r).all()):
            raise DesignError(f"calibrate: method={method!r} needs finite bounds (lower, "
                              f"upper){what} with lower < 1 < upper")
    if method == "logit":
        bad = ((lo_r >= 1) | (hi_r <= 1)).any(axis=1)
        if bad.any():
            raise DesignError(f"calibrate: logit bounds must satisfy lower < 1 < upper"
                              f"{what}; {int(bad.sum())} row(s) do not")


def _grake(X: np.ndarray, W: np.ndarray, pop: np.ndarray, method: str,
           lo: np.ndarray, hi: np.ndarray, sigma2: np.ndarray, tol: float, max_iter: int,
           names: list[str]) -> np.ndarray:
    """g-weights for every weight column of ``W`` (R's ``grake``), vectorised.

    Newton steps on the calibration equations with a generalised inverse,
    step halving when the distance is undefined, convergence when every
    ``|misfit| / (1 + |total|) < tol``; each column stops when it converges.
    ``lo``, ``hi``: bounds on the g-weights, (n, 1) or (n, k); ``sigma2``: the
    (n,) heteroscedastic variances (R's ``variance``), so that
    :math:`g_i = F(x_i^\\top \\eta / \\sigma^2_i)`.
    """
    n, p = X.shape
    k = W.shape[1]
    fm1, df = _calfun(method)
    inv_s2 = 1.0 / sigma2

    def sel(b: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return b if b.shape[1] == 1 else b[:, idx]

    sample = X.T @ W  # (p, k)
    scale = np.ones(k)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = pop[:, None] / sample
    big = np.nanmin(np.where(np.isfinite(ratios), ratios, np.nan), axis=0) > 20
    bounded = bool(np.isfinite(lo).any() or np.isfinite(hi).any())
    if big.any():  # R's pre-scaling for weights far below the totals
        scale = np.where(big, np.nanmean(np.where(np.isfinite(ratios), ratios, np.nan),
                                         axis=0), 1.0)
        if bounded:
            warnings.warn(f"calibration bounds are applied after rescaling the weights by "
                          f"{scale[big][0]:.3g}", InnobaroWarning, stacklevel=4)
    Ws = W * scale
    sample = sample * scale
    if bounded:
        _check_reachable(X, Ws, pop, lo, hi, names)
    eta = np.zeros((p, k))
    u = np.zeros((n, k))
    g = 1 + fm1(u, lo, hi)
    deriv = df(u, lo, hi)
    active = np.ones(k, dtype=bool)
    it = 1
    # the misfit at the start; afterwards each iteration's closing misfit is
    # the next one's starting point (no second pass over X per iteration)
    misfit = pop[:, None] - sample - X.T @ (Ws * fm1(u, lo, hi))
    while True:
        idx = np.flatnonzero(active)
        lo_i, hi_i = sel(lo, idx), sel(hi, idx)
        if idx.size == 1:
            T = _gram(X, Ws[:, idx[0]] * deriv[:, idx[0]] * inv_s2)[None]
        else:
            T = weighted_gram(X, Ws[:, idx] * deriv[:, idx] * inv_s2[:, None])
        mis = misfit[:, idx]
        # the small (p, p) pseudo-inverses of every active column, in one call
        Tinv = np.linalg.pinv(T, rcond=256 * np.finfo(float).eps, hermitian=True)
        step = np.einsum("jab,bj->aj", Tinv, mis)
        eta[:, idx] += step
        u[:, idx] = tall_dot(X, eta[:, idx]) * inv_s2[:, None]
        g[:, idx] = 1 + fm1(u[:, idx], lo_i, hi_i)
        deriv[:, idx] = df(u[:, idx], lo_i, hi_i)
        bad = ~(np.isfinite(g[:, idx]).all(axis=0) & np.isfinite(deriv[:, idx]).all(axis=0))
        while it < max_iter and bad.any():  # step halving
            it += 1
            cols = idx[bad]
            lo_c, hi_c = sel(lo, cols), sel(hi, cols)
            step[:, bad] /= 2
            eta[:, cols] -= step[:, bad]
            u[:, cols] = tall_dot(X, eta[:, cols]) * inv_s2[:, None]
            g[:, cols] = 1 + fm1(u[:, cols], lo_c, hi_c)
            deriv[:, cols] = df(u[:, cols], lo_c, hi_c)
            bad = ~(np.isfinite(g[:, idx]).all(axis=0)
                    & np.isfinite(deriv[:, idx]).all(axis=0))
        misfit[:, idx] = (pop[:, None] - sample[:, idx]
                          - X.T @ (Ws[:, idx] * fm1(u[:, idx], lo_i, hi_i)))
        done = (np.abs(misfit[:, idx]) / (1 + np.abs(pop[:, None])) < tol).all(axis=0)
        active[idx[done]] = False
        if not active.any():
            break
        it += 1
        if it > max_iter:
            raise not_converged(method, max_iter, misfit, pop, names)
    return g * scale


def not_converged(method: str, max_iter: int, misfit: np.ndarray, pop: np.ndarray,
                  names: list[str]) -> CalibrationError:
    """The error of a calibration that did not reach its totals.

    Parameters
    ----------
    method : str
        The distance.
    max_iter : int
    misfit : (p,) or (p, R) array
        Totals minus the calibrated sums (per column of the model matrix, and
        per weight vector).
    pop : (p,) array
        The totals.
    names : list of str
        The model matrix's columns.

    Returns
    -------
    CalibrationError
        Naming the largest relative misfit :math:`|m| / (1 + |T|)` and its total.
    """
    rel = np.abs(misfit) / (1 + np.abs(pop.reshape(-1, *([1] * (misfit.ndim - 1)))))
    worst = int(np.argmax(rel.reshape(rel.shape[0], -1).max(axis=1)))
    return CalibrationError(
        f"calibration ({method}) did not converge in {max_iter} iterations: "
        f"largest relative misfit {rel.max():.3g}, for the total of "
        f"{names[worst]!r}. The bounds may be too tight for these totals, or the "
        f"totals inconsistent with the sample; widen the bounds, raise max_iter, "
        f"or collapse categories")


def _check_reachable(X: np.ndarray, W: np.ndarray, pop: np.ndarray, lo: np.ndarray,
                     hi: np.ndarray, names: list[str]) -> None:
    """Each total must lie between the smallest and the largest total that
    g-weights within the bounds can give: :math:`\\sum_i w_i x_{ij} l_i` and
    :math:`\\sum_i w_i x_{ij} u_i` (the bounds swapped where
    :math:`x_{ij} < 0`). A necessary condition, checked for every weight column."""
    with np.errstate(invalid="ignore"):
        pos = np.maximum(X, 0.0)
        neg = np.minimum(X, 0.0)
        # 0 * inf is nan where a row has no weight in the column or x is zero
        lo_w = np.nan_to_num(W * lo, nan=0.0, posinf=np.inf, neginf=-np.inf)
        hi_w = np.nan_to_num(W * hi, nan=0.0, posinf=np.inf, neginf=-np.inf)
        low = _safe_dot(pos, lo_w) + _safe_dot(neg, hi_w)
        high = _safe_dot(pos, hi_w) + _safe_dot(neg, lo_w)
    slack = 1e-9 * (1 + np.abs(pop))
    out = (pop[:, None] < low - slack[:, None]) | (pop[:, None] > high + slack[:, None])
    if out.any():
        c = int(np.argwhere(out)[0][1])
        where = "" if c == 0 else f" in replicate {c}"
        parts = [f"{names[j]!r} ({pop[j]:.6g}; reachable {low[j, c]:.6g} to {high[j, c]:.6g})"
                 for j in np.flatnonzero(out[:, c])]
        raise CalibrationError(
            f"calibrate: the total(s) of {', '.join(parts)} cannot be met with g-weights "
            f"within the bounds{where}. Widen the bounds, or check the totals")


def _safe_dot(X: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``X.T @ B`` where ``B`` may hold infinities: a zero in ``X`` times an
    infinite bound counts zero, as it should for a total (n, p) x (n, k) -> (p, k)."""
    finite = np.isfinite(B)
    out = X.T @ np.where(finite, B, 0.0)
    if not finite.all():
        pp, nn = (X > 0).astype(float), (X < 0).astype(float)
        pinf, ninf = np.isposinf(B).astype(float), np.isneginf(B).astype(float)
        up = pp.T @ pinf + nn.T @ ninf
        down = pp.T @ ninf + nn.T @ pinf
        out = np.where((up > 0) & (down > 0), np.nan,
                       np.where(up > 0, np.inf, np.where(down > 0, -np.inf, out)))
    return out


def _row_values(design: SurveyDesign, value: Any, what: str) -> np.ndarray:
    """A per-row float array from a scalar, a column name or an (n,) array."""
    if isinstance(value, str):
        check_columns(design.data, [value], f"calibrate ({what})")
        col = design.data[value]
        if not pd.api.types.is_numeric_dtype(col):
            raise DesignError(f"calibrate: {what} column {value!r} is not numeric")
        return col.to_numpy(dtype=float, na_value=np.nan)
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        return np.full(design.n, float(arr))
    if arr.shape != (design.n,):
        raise DesignError(f"calibrate: {what} has shape {arr.shape}; give a number, a "
                          f"column name or one value per row of the design ({design.n})")
    return arr


def _variance_values(design: SurveyDesign, variance: Any, X: np.ndarray, names: list[str]
                     ) -> np.ndarray:
    """R's ``calibrate(variance=)``: one variance per row (a column or an array),
    or one coefficient per auxiliary (then :math:`\\sigma^2_i = x_i^\\top v`)."""
    present = design.present
    label = repr(variance) if isinstance(variance, str) else "variance"
    if not isinstance(variance, str):
        arr = np.asarray(variance, dtype=float)
        if arr.ndim == 1 and arr.size == X.shape[1] and arr.size != design.n:
            s2 = X @ arr
            label = f"variance (x @ {arr.tolist()})"
        else:
            s2 = _row_values(design, variance, "variance")
    else:
        s2 = _row_values(design, variance, "variance")
    s2p = s2[present]
    if np.isnan(s2p).any():
        raise MissingValueError(f"calibrate: {label} has missing values in "
                                f"{int(np.isnan(s2p).sum())} row(s)")
    bad = ~(np.isfinite(s2p) & (s2p > 0))
    if bad.any():
        raise DesignError(f"calibrate: {label} must be positive and finite in every row; "
                          f"{int((s2p == 0).sum())} row(s) are zero, {int((s2p < 0).sum())} "
                          f"negative and {int(np.isinf(s2p).sum())} infinite")
    return np.where(present, s2, 1.0)


def _group_mean(codes: np.ndarray, M: np.ndarray) -> np.ndarray:
    """Means of the columns of ``M`` (n, k) within groups ``codes`` (-1: left
    as they are), placed back on the rows (R's ``ave``)."""
    import scipy.sparse as sp

    keep = codes >= 0
    n_groups = int(codes.max()) + 1 if keep.any() else 0
    rows = np.flatnonzero(keep)
    E = sp.csr_matrix((np.ones(rows.size), (codes[keep], rows)), shape=(n_groups, M.shape[0]))
    counts = np.asarray(E.sum(axis=1)).ravel()
    means = np.asarray(E @ M) / counts[:, None]
    out = M.copy()
    out[keep] = means[codes[keep]]
    return out


def _aggregate_codes(design: SurveyDesign, aggregate_stage: int | None,
                     aggregate_index: str | None) -> tuple[np.ndarray, str] | None:
    """Group codes of the clusters whose rows share one g-weight (R's
    ``aggregate.stage`` and ``aggregate.index``), -1 for rows not present."""
    if aggregate_stage is None and aggregate_index is None:
        return None
    if aggregate_stage is not None and aggregate_index is not None:
        raise DesignError("calibrate: give aggregate_stage or aggregate_index, not both")
    if aggregate_stage is not None:
        stages = getattr(design, "stages", None)
        if isinstance(design, ReplicateDesign) or stages is None:
            raise DesignError("calibrate: aggregate_stage needs a design with sampling "
                              "stages; for a replicate design give aggregate_index, the "
                              "column of the clusters")
        if not 1 <= int(aggregate_stage) <= len(stages):
            raise DesignError(f"calibrate: aggregate_stage={aggregate_stage}, but the design "
                              f"has {len(stages)} stage(s)")
        codes = np.asarray(stages[int(aggregate_stage) - 1].unit, dtype=np.int64)
        label = f"stage {int(aggregate_stage)}"
    else:
        assert aggregate_index is not None
        codes, _ = _cells(design, [aggregate_index], "calibrate (aggregate_index)")
        label = repr(aggregate_index)
    return np.where(design.present, codes, -1), label


def calibrate(design: SurveyDesign, totals: Any, *, formula: str | None = None,
              method: str = "linear", bounds: tuple[Any, Any] | None = None,
              bounds_const: bool = False, variance: Any = None,
              aggregate_stage: int | None = None, aggregate_index: str | None = None,
              max_iter: int = 50, tol: float = 1e-7) -> Any:
    """Calibrate the weights to known population totals of auxiliary variables.

    Parameters
    ----------
    design : Design or ReplicateDesign
    totals : dict or pandas.Series
        Population total of each column of the model matrix: with
        ``formula``, keyed by patsy's column names (``"Intercept"``,
        ``"stype[T.H]"``, ``"api99"``; R's ``"(Intercept)"`` is accepted);
        without it, keyed by numeric column names (and ``"Intercept"`` for
        the population size).
    formula : str, optional
        A patsy formula without response, e.g. ``"~ stype + api99"``.
    method : {"linear", "raking", "logit", "sinh"}, default "linear"
        The distance of Deville and Särndal (1992): linear (GREG),
        raking (multiplicative), logit (bounded) or sinh (R's ``cal.sinh``,
        between linear and raking; needs finite bounds).
    bounds : (lower, upper), optional
        Bounds on the g-weights :math:`w_{new}/w` (required for logit and
        sinh). Each may be a number, a column name or an array with one
        value per row (per-unit bounds, R's ``bounds`` given as vectors).
    bounds_const : bool, default False
        The bounds are on the calibrated weights themselves, not on the
        g-weights: row :math:`i`'s g-bounds are ``bounds / w_i`` (R's
        ``bounds.const``).
    variance : str or array-like, optional
        Heteroscedastic variances :math:`\\sigma^2_i` of the calibration
        model (R's ``variance``): a column or one positive value per row, or
        one coefficient per auxiliary (then :math:`\\sigma^2_i = x_i^\\top v`).
        The distance weighs row :math:`i` by :math:`1/\\sigma^2_i`.
    aggregate_stage : int, optional
        Equal g-weights within the sampling units of this stage (1 for the
        PSUs; R's ``aggregate.stage``): the auxiliaries, weights and
        variances are averaged within each unit before calibrating, as
        integrated household weighting needs. Linearisation designs only.
    aggregate_index : str, optional
        The same with the clusters given by a column (R's
        ``aggregate.index``; any design).
    max_iter : int, default 50
    tol : float, default 1e-7
        Convergence when every :math:`|\\hat T_k - T_k|/(1 + |T_k|) < tol`.

    Returns
    -------
    A design of the same kind.

    Notes
    -----
    The calibrated weights are :math:`w_i g_i` with :math:`g_i = F(x_i^\\top
    \\lambda / \\sigma^2_i)` and :math:`\\lambda` solving :math:`\\sum_i w_i
    F(x_i^\\top \\lambda/\\sigma^2_i) x_i = T`; for the linear distance without
    bounds, :math:`g_i = 1 + x_i^\\top (X^\\top W \\Sigma^{-1} X)^{-1}(T - X^\\top
    w)/\\sigma^2_i` (GREG). The variance uses the residuals of the weighted
    regression of the influence values on the auxiliaries,
    :math:`\\tilde z = z - g w X \\hat\\beta`, :math:`\\hat\\beta = (X^\\top W
    \\Sigma^{-1} X)^{-1} X^\\top (z/(g\\sigma^2))` (Deville and Särndal 1992;
    R's ``calibrate``). As in R, the bounded and non-linear distances use
    :math:`\\Sigma = I` in this regression, and with aggregation :math:`X`,
    :math:`w` and :math:`\\sigma^2` are the cluster means. Unlike R 4.1,
    the variances are averaged within clusters for every distance (R
    averages them only for the linear one), so the g-weights are equal
    within a cluster; the weights are equal there when the design weights
    are, and a warning says when they are not. Replicate designs repeat the
    calibration in every replicate; with ``bounds_const`` each replicate's
    g-bounds are the bounds over its own weights (R 4.1 ignores
    ``bounds.const`` for replicate designs).

    Raises
    ------
    CalibrationError
        When a total lies outside the range that g-weights within the
        bounds can give (naming the total and the range), or the iterations
        do not reach the totals (naming the worst total).
    DesignError
        Naming a variance that is zero, negative or infinite, crossed
        bounds, or bounds a distance cannot use.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({"psu": range(6), "w": [10.0] * 6,
    ...                    "x": [1.0, 2, 3, 4, 5, 6], "y": [2.0, 3, 5, 4, 6, 8]})
    >>> d = ib.Design(df, weights="w", psu="psu").calibrate({"Intercept": 60, "x": 240})
    >>> ib.total(d, "x").estimate.round(6).tolist()
    [240.0]
    >>> d = ib.Design(df, weights="w", psu="psu").calibrate({"x": 240}, variance="x")
    >>> d.weights.round(4).tolist()  # the ratio estimator: g = 240 / 210 for every row
    [11.4286, 11.4286, 11.4286, 11.4286, 11.4286, 11.4286]
    """
    X, names, pop = _calibration_matrix(design, totals, formula)
    W = _weights_matrix(design)
    present = design.present
    _calfun(method)  # validate early
    given = bounds is not None
    if bounds is None:
        bounds = (-np.inf, np.inf)
    if isinstance(bounds, str) or len(bounds) != 2:
        raise DesignError(f"calibrate: bounds must be (lower, upper); got {bounds!r}")
    if given or method != "linear":
        lo = np.where(present, _row_values(design, bounds[0], "lower bound"), -np.inf)[:, None]
        hi = np.where(present, _row_values(design, bounds[1], "upper bound"), np.inf)[:, None]
        if bounds_const:
            with np.errstate(divide="ignore", invalid="ignore"):
                lo = np.where(W > 0, lo / W, lo)
                hi = np.where(W > 0, hi / W, hi)
        what = " (on the weights, bounds_const=True)" if bounds_const else ""
        _check_bounds(method, lo, hi, present, what)
        unbounded = bool(np.isneginf(lo[present]).all() and np.isposinf(hi[present]).all())
    else:  # linear without bounds: no per-row bounds to build or check
        lo = hi = np.empty((0, 1))
        unbounded = True
    sigma2 = (np.ones(design.n) if variance is None
              else _variance_values(design, variance, X, names))
    agg = _aggregate_codes(design, aggregate_stage, aggregate_index)
    Xa, Wa = X, W
    if agg is not None:
        codes, label = agg
        Wa = _group_mean(codes, W)
        spread = np.abs(W[:, 0] - Wa[:, 0])[present]
        if spread.size and spread.max() > 1e-8 * np.abs(Wa[:, 0][present]).max():
            warn(f"calibrate: the weights are not constant within the clusters of {label}; "
                 f"the clusters' g-weights are equal but their weights are not, and the "
                 f"totals are met for the cluster means of the weights (as R)")
        Xa = _group_mean(codes, X)
        sigma2 = _group_mean(codes, sigma2[:, None])[:, 0]
    sample = Xa.T @ Wa[:, 0]
    drop = (sample == 0) & (pop == 0)
    if drop.any():  # only these columns can be all zero
        drop[drop] = ~Xa[:, drop].any(axis=0)
    if drop.any():
        X, Xa, pop, sample = X[:, ~drop], Xa[:, ~drop], pop[~drop], sample[~drop]
        names = [n for n, d in zip(names, drop, strict=True) if not d]
    if W.shape[1] > 1:  # each replicate needs rows for every auxiliary the sample has
        support = (W > 0).T.astype(float) @ (X != 0).astype(float)  # (1 + R, p)
        _check_replicate_cells(support.T, [repr(n) for n in names], "calibrate")
        # auxiliaries that become dependent among a replicate's rows (a level
        # left alone, or fewer rows than auxiliaries)
        lost = replicate_support(X, W[:, 1:], every_column=True)
        if lost.any():
            raise DesignError(
                f"calibrate: {int(lost.sum())} of {lost.size} replicates cannot be calibrated: "
                f"among their rows the auxiliaries {names} are linearly dependent (a level "
                f"left alone, or fewer rows than auxiliaries). Collapse levels, or calibrate "
                f"the design before making its replicates")
    inv_s2 = 1.0 / sigma2
    linear = method == "linear" and unbounded
    gram0 = None
    if linear:
        if Wa.shape[1] == 1:
            gram0 = _gram(Xa, Wa[:, 0] * inv_s2 if variance is not None else Wa[:, 0])
            T = gram0[None]
        else:
            T = weighted_gram(Xa, Wa * inv_s2[:, None])
            gram0 = T[0]
        rhs = pop[:, None] - (sample[:, None] if Wa.shape[1] == 1 else Xa.T @ Wa)
        try:
            # all the small (p, p) systems, one per weight column, in one call
            lam = np.linalg.solve(T, rhs.T[:, :, None])[:, :, 0].T
        except np.linalg.LinAlgError:
            raise CalibrationError(
                "calibrate: the auxiliary variables are collinear in the sample "
                f"(columns {names}); drop redundant totals") from None
        G = 1 + tall_dot(Xa, lam) * inv_s2[:, None]
    else:
        G = _grake(Xa, Wa, pop, method, lo, hi, sigma2, tol, max_iter, names)
    Wnew = W * G
    kind = f"calibrate ({method}" + (", variance" if variance is not None else "") + \
        (f", aggregated by {agg[1]}" if agg is not None else "") + ")"
    step = None
    if not isinstance(design, ReplicateDesign):
        g = G[:, 0]
        wa = Wa[:, 0]
        # R's residuals: Sigma in the regression for the linear distance only
        f_s2 = sigma2 if linear else np.ones(design.n)
        # columns scaled to unit weighted norm: a well-conditioned projection
        gram = gram0 if gram0 is not None else _gram(Xa, wa)
        norm = np.sqrt(np.diag(gram))
        norm = np.where(norm > 0, norm, 1.0)
        K = np.linalg.pinv(gram / np.outer(norm, norm), hermitian=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            fval = np.where(g != 0, 1.0 / (g * f_s2), 0.0)
        basis = Basis(K=K, x=Xa, scale=norm, a_values=g * wa, f_values=fval)
        step = CalibrationStep(bases=(basis,), kind=kind)
    achieved = X.T @ Wnew[:, 0]
    entry = _LogEntry(kind, Wnew[:, 0].copy(),
                      dict(zip(names, map(float, pop), strict=True)),
                      dict(zip(names, map(float, achieved), strict=True)))
    return _new_design(design, Wnew, step, entry)


# ----------------------------------------------------------------------------
# trimming and nonresponse
# ----------------------------------------------------------------------------
def trim_weights(design: SurveyDesign, lower: float | None = None,
                 upper: float | None = None, *, strict: bool = False) -> Any:
    """Trim weights to ``[lower, upper]`` and share the trimmed mass out equally.

    Parameters
    ----------
    design : Design or ReplicateDesign
    lower, upper : float, optional
        Bounds on the weights.
    strict : bool, default False
        Repeat until no weight is outside the bounds (the shared-out mass can
        push weights past them).

    Returns
    -------
    A design of the same kind; the total of the weights is unchanged.

    Notes
    -----
    As R's ``trimWeights``: weights outside the bounds are set to the bound,
    and the trimmed amount :math:`\\sum_i (w_i - w_i^{trim})` is added in
    equal parts to every weight that was inside. The variance treats the
    trimmed weights as design weights, as R does. For replicate designs each
    replicate is trimmed the same way (R's ``trimWeights`` for replicate
    designs leaves the full-sample weights unchanged, which innobaro does
    not copy).

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({"psu": range(4), "w": [1.0, 2, 3, 10]})
    >>> ib.Design(df, weights="w", psu="psu").trim_weights(upper=6).weights.round(4).tolist()
    [2.3333, 3.3333, 4.3333, 6.0]
    """
    lo = -np.inf if lower is None else float(lower)
    hi = np.inf if upper is None else float(upper)
    if lo > hi:
        raise DesignError(f"trim_weights: lower {lo} is above upper {hi}")
    W = _weights_matrix(design)
    present = design.present[:, None]
    fixed = np.zeros(W.shape, dtype=bool)  # weights trimmed in some round
    for _ in range(1000 if strict else 1):
        outside = present & ((W < lo) | (W > hi))
        if not outside.any():
            break
        fixed |= outside
        clipped = np.clip(W, lo, hi)
        trimmed = np.where(outside, W - clipped, 0.0).sum(axis=0)
        # the trimmed mass goes, in equal parts, to weights never trimmed
        # (survey >= 4.2; 4.1 could give it back to a weight trimmed earlier)
        inside = present & ~fixed
        n_in = inside.sum(axis=0)
        if (n_in == 0).any():
            raise DesignError("trim_weights: every weight is outside the bounds")
        W = np.where(inside, W + trimmed / n_in, np.where(outside, clipped, W))
    else:
        if strict:
            raise DesignError("trim_weights: could not bring every weight within the bounds")
    entry = _LogEntry("trim", W[:, 0].copy(), {}, {})
    return _new_design(design, W, None, entry)


def _respondents(design: SurveyDesign, respondent: Any, what: str) -> np.ndarray:
    """The respondent indicator over all rows: a column (no missing values;
    bool or 0/1) or a mask."""
    if isinstance(respondent, str):
        check_columns(design.data, [respondent], what)
        col = design.data[respondent]
        if col.isna().to_numpy()[design.present].any():
            raise MissingValueError(f"{what}: column {respondent!r} has missing values")
        values = col.to_numpy()
        if values.dtype != bool:
            num = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
            ok = np.isnan(num) | np.isin(num, (0.0, 1.0))
            if not ok[design.present].all() or np.isnan(num[design.present]).any():
                raise DesignError(f"{what}: column {respondent!r} must be boolean or 0/1")
            return np.nan_to_num(num) == 1
        return values.astype(bool)
    return design.row_mask(respondent)


def _class_adjustment(design: SurveyDesign, W: np.ndarray, resp: np.ndarray,
                      codes: np.ndarray, n_cls: int, labels: list[str], what: str,
                      factor: np.ndarray | None = None
                      ) -> tuple[np.ndarray, CalibrationStep | None, np.ndarray, np.ndarray]:
    """Weighting-class adjustment: respondents of class ``c`` get
    ``w * factor_c`` (``factor``: (C, k), by default the inverse weighted
    response rate), nonrespondents zero; rows outside every class keep their
    weights. Returns the new weights, the variance step (for the rate
    factor on a linearisation design), and the full and respondent class totals."""
    full = _cell_totals(codes, W, n_cls)
    rcodes = np.where(resp, codes, -1)
    rtot = _cell_totals(rcodes, W, n_cls)
    empty = (full[:, 0] > 0) & (rtot[:, 0] <= 0)
    if empty.any():
        raise DesignError(f"{what}: no respondents (with positive weight) in class(es) "
                          + ", ".join(labels[i] for i in np.flatnonzero(empty)))
    _check_replicate_cells(rtot, labels, what)
    rate_factor = factor is None
    if factor is None:
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = np.where(rtot > 0, full / rtot, 0.0)
    Wnew = np.where((rcodes >= 0)[:, None], W * factor[np.maximum(codes, 0)], 0.0)
    Wnew = np.where((codes >= 0)[:, None], Wnew, W)
    step = None
    if rate_factor and not isinstance(design, ReplicateDesign):
        w0, w1 = W[:, 0], Wnew[:, 0]
        new_tot = _cell_totals(codes, Wnew[:, :1], n_cls)[:, 0]
        with np.errstate(divide="ignore"):
            K = np.diag(np.where(new_tot > 0, 1.0 / new_tot, 0.0))
        inside = codes >= 0
        basis = Basis(K=K, codes=np.maximum(codes, 0), a_values=np.where(inside, w1 - w0, 0.0),
                      f_values=inside.astype(float))
        step = CalibrationStep(bases=(basis,), kind="nonresponse")
    return Wnew, step, full, rtot


def _response_table(codes: np.ndarray, resp: np.ndarray, w: np.ndarray, labels: list[str],
                    classes: np.ndarray, class_labels: list[str], factor: np.ndarray
                    ) -> pd.DataFrame:
    """Response by cell: sampled and responding units, unweighted and
    weighted response rates, the cell's class (after collapsing) and its
    adjustment factor."""
    n_cells = len(labels)
    inside = codes >= 0
    c = codes[inside]
    n = bincount(c, minlength=n_cells).astype(float)
    r = bincount(c, weights=resp[inside].astype(float), minlength=n_cells)
    wf = bincount(c, weights=w[inside], minlength=n_cells)
    wr = bincount(c, weights=np.where(resp, w, 0.0)[inside], minlength=n_cells)
    with np.errstate(divide="ignore", invalid="ignore"):
        return pd.DataFrame({"cell": labels, "n": n.astype(int), "respondents": r.astype(int),
                             "response_rate": r / n, "weighted_response_rate": wr / wf,
                             "class": [class_labels[k] for k in classes],
                             "factor": factor[classes]})


def _collapse_cells(design: SurveyDesign, by: list[str], codes: np.ndarray,
                    values: list[np.ndarray], resp: np.ndarray, w: np.ndarray,
                    min_respondents: int, max_factor: float, max_weight: float
                    ) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Join sparse cells with a neighbour until none is sparse.

    The rule (survey's ``sparseCells`` flags, joined as ``joinCells``): a class
    is sparse when it has fewer than ``min_respondents`` respondents, an
    adjustment factor (full-sample over respondents' weight) above
    ``max_factor``, or a mean adjusted weight per respondent above
    ``max_weight``, or no respondents. The first sparse class in the order
    of R's arrays (the first ``by`` column varying fastest; a class is placed
    at its first cell) is joined with the adjacent class (a cell one level
    away in one column) whose weighted response rate is closest to its own,
    the first in that order on a tie. Returns the class of every cell and the
    joins made."""
    n_cells = len(values[0])
    cell_rows = np.full(n_cells, -1, dtype=np.int64)
    inside = codes >= 0
    cell_rows[codes[inside]] = np.flatnonzero(inside)  # one row of each cell
    coords = np.empty((n_cells, len(by)), dtype=np.int64)
    dims = []
    for j, col in enumerate(by):  # over the classing columns
        col_codes, col_values = design.level_codes([col])
        coords[:, j] = col_codes[cell_rows]
        dims.append(len(col_values[0]))
    key = coords @ np.concatenate([[1], np.cumprod(dims)[:-1]]).astype(np.int64)
    order = np.argsort(key, kind="stable")
    rank = np.empty(n_cells, dtype=np.int64)
    rank[order] = np.arange(n_cells)
    adjacent = np.abs(coords[:, None, :] - coords[None, :, :]).sum(axis=2) == 1
    c = codes[inside]
    full = bincount(c, weights=w[inside], minlength=n_cells)
    rw = bincount(c, weights=np.where(resp, w, 0.0)[inside], minlength=n_cells)
    rn = bincount(c, weights=resp[inside].astype(float), minlength=n_cells)
    group = rank.copy()  # a class is named by the smallest rank of its cells
    labels = [_cell_label(values, i) for i in range(n_cells)]
    joins: list[dict[str, Any]] = []
    while True:  # one join per pass
        gF = np.bincount(group, weights=full, minlength=n_cells)
        gR = np.bincount(group, weights=rw, minlength=n_cells)
        gN = np.bincount(group, weights=rn, minlength=n_cells)
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = np.where(gR > 0, gF / gR, np.inf)
            mean_w = np.where(gN > 0, gF / gN, np.inf)
        reasons = {"fewer than min_respondents respondents": gN < min_respondents,
                   "factor above max_factor": factor > max_factor,
                   "mean weight above max_weight": mean_w > max_weight,
                   "no respondents": gR <= 0}
        sparse = (gF > 0) & np.logical_or.reduce(list(reasons.values()))
        if not sparse.any():
            break
        g = int(np.flatnonzero(sparse)[0])  # the first sparse class in R's order
        members = group == g
        name = " + ".join(labels[i] for i in order if members[i])
        why = "; ".join(k for k, v in reasons.items() if v[g])
        near = np.unique(group[adjacent[members].any(axis=0) & ~members])
        if near.size == 0:
            raise DesignError(
                f"adjust_nonresponse: class {name} is sparse ({why}: {int(gN[g])} respondents, "
                f"factor {factor[g]:.4g}) and has no adjacent class left to join; relax "
                f"min_respondents, max_factor or max_weight, or use fewer classing columns")
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = gR / gF
        pick = int(near[np.argmin(np.abs(rate[near] - rate[g]))])
        joins.append({"class": name,
                      "joined_with": " + ".join(labels[i] for i in order if group[i] == pick),
                      "reason": why, "respondents": int(gN[g]), "factor": float(factor[g])})
        group[group == max(g, pick)] = min(g, pick)
    return group, joins


def adjust_nonresponse(design: SurveyDesign, respondent: Any, *,
                       by: str | Sequence[str] | None = None, min_respondents: int = 0,
                       max_factor: float | None = None, max_weight: float | None = None
                       ) -> Any:
    """Weighting-class nonresponse adjustment, keeping the design of the full sample.

    Parameters
    ----------
    design : Design or ReplicateDesign
        The design of the full sample, respondents and nonrespondents.
    respondent : str or array-like of bool
        Column (boolean or 0/1) or mask marking respondents.
    by : str or list of str, optional
        Weighting classes; one class by default.
    min_respondents : int, default 0
        Collapse classes with fewer respondents (R's ``sparseCells(count=)``).
    max_factor : float, optional
        Collapse classes whose adjustment factor (full-sample weight over
        respondents' weight) is above this (R's ``sparseCells(nrweight=)``).
    max_weight : float, optional
        Collapse classes whose mean adjusted weight per respondent is above
        this (R's ``sparseCells(totalweight=)``).

    Returns
    -------
    A design of the same kind in which nonrespondents keep their place with
    weight zero, and respondents in class :math:`c` have weights
    :math:`w_i \\sum_{c} w / \\sum_{c, resp} w`. Its :meth:`weights_summary`
    gives the response rates by class (``response``) and the classes joined
    (``collapsed``).

    Notes
    -----
    Collapsing (when any of ``min_respondents``, ``max_factor``,
    ``max_weight`` is given) follows a stated rule: while some class is
    sparse (by those limits, or with no respondents), the first sparse class
    in the order of R's arrays (the first ``by`` column varying fastest) is
    joined with the adjacent class (one level away in one column) whose
    weighted response rate is closest to its own, the first in that order on
    a tie (survey's ``sparseCells``, ``neighbours`` and ``joinCells``, which
    leave the choice to the user; Kalton and Flores-Cervantes 2003 advise
    joining cells of similar response rates).

    The variance treats the adjustment factors as estimated: the influence
    values become :math:`\\tilde z_i = z_i - (w_i^{adj} - w_i) \\bar u_c` with
    :math:`\\bar u_c = \\sum_{c} z / \\sum_{c} w^{adj}`, the linearisation of
    the class-wise ratio (Kalton and Flores-Cervantes 2003; Valliant, Dever
    and Kreuter 2018, ch. 13). Response is treated as fixed: the variance is
    that of the full sample's design (its strata, clusters and fpc) for the
    adjusted estimator, not a two-phase variance with a random response
    mechanism, which would be larger.

    Raises
    ------
    DesignError
        Naming every class with no respondents (without collapsing), or the
        sparse class that has no neighbour left to join.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({"psu": range(4), "w": [10.0] * 4, "resp": [True, False, True, True]})
    >>> ib.Design(df, weights="w", psu="psu").adjust_nonresponse("resp").weights.round(4).tolist()
    [13.3333, 0.0, 13.3333, 13.3333]
    >>> df = pd.DataFrame({"psu": range(6), "w": [10.0] * 6, "age": [1, 1, 2, 2, 3, 3],
    ...                    "resp": [True, True, False, True, False, False]})
    >>> d = ib.Design(df, weights="w", psu="psu").adjust_nonresponse(
    ...     "resp", by="age", min_respondents=1)
    >>> d.weights.round(4).tolist()  # age 3 has no respondent: joined with age 2
    [10.0, 10.0, 0.0, 40.0, 0.0, 0.0]
    """
    what = "adjust_nonresponse"
    resp = _respondents(design, respondent, what)
    by_cols = as_column_list(by, "by")
    if by_cols:
        codes, values = _cells(design, by_cols, what)
    else:
        codes = np.where(design.present, 0, -1)
        values = [np.array(["(all)"], dtype=object)]
    n_cells = len(values[0])
    labels = [_cell_label(values, i) for i in range(n_cells)]
    W = _weights_matrix(design)
    collapse = min_respondents > 0 or max_factor is not None or max_weight is not None
    joins: list[dict[str, Any]] = []
    if collapse and by_cols:
        group, joins = _collapse_cells(
            design, by_cols, codes, values, resp, W[:, 0], int(min_respondents),
            np.inf if max_factor is None else float(max_factor),
            np.inf if max_weight is None else float(max_weight))
        _, cls_of_cell = np.unique(group, return_inverse=True)
        cls_of_cell = cls_of_cell.ravel()
        n_cls = int(cls_of_cell.max()) + 1
        order = np.argsort(group, kind="stable")
        cls_labels = [" + ".join(labels[i] for i in order if cls_of_cell[i] == k)
                      for k in range(n_cls)]
    else:
        cls_of_cell = np.arange(n_cells)
        n_cls, cls_labels = n_cells, labels
    cls_codes = np.where(codes >= 0, cls_of_cell[np.maximum(codes, 0)], -1)
    Wnew, step, full, rtot = _class_adjustment(design, W, resp, cls_codes, n_cls, cls_labels,
                                               what)
    with np.errstate(divide="ignore", invalid="ignore"):
        fac = np.where(rtot[:, 0] > 0, full[:, 0] / rtot[:, 0], np.nan)
    achieved = _cell_totals(cls_codes, Wnew[:, :1], n_cls)[:, 0]
    entry = _LogEntry("nonresponse", Wnew[:, 0].copy(),
                      {cls_labels[i]: float(full[i, 0]) for i in range(n_cls)},
                      {cls_labels[i]: float(achieved[i]) for i in range(n_cls)},
                      response=_response_table(codes, resp, W[:, 0], labels, cls_of_cell,
                                               cls_labels, fac),
                      collapsed=tuple(joins))
    return _new_design(design, Wnew, step, entry)


def _fit_response(X: np.ndarray, y: np.ndarray, W: np.ndarray, names: list[str],
                  max_iter: int, tol: float) -> np.ndarray:
    """Weighted logistic regressions of ``y`` on ``X`` for every weight column
    of ``W`` at once (Newton's method; the weighted MLE, which is R's
    ``svyglm(family = quasibinomial())``): fitted propensities (n, k).
    Raises when the response separates."""
    from scipy.special import expit

    p = X.shape[1]
    k = W.shape[1]
    beta = np.zeros((p, k))
    yc = y[:, None].astype(float)
    eps = 10 * np.finfo(float).eps
    converged = singular = False
    for _ in range(max_iter):  # Newton iterations, all columns together
        mu = expit(tall_dot(X, beta))
        H = weighted_gram(X, W * mu * (1 - mu))
        score = X.T @ (W * (yc - mu))
        try:
            step = np.linalg.solve(H, score.T[:, :, None])[:, :, 0].T
        except np.linalg.LinAlgError:
            singular = True
            break
        beta = beta + step
        if np.max(np.abs(step) / (np.abs(beta) + 1e-3)) < tol:
            converged = True
            break
    mu = expit(tall_dot(X, beta))
    swing = np.abs(beta[:, 0]) * (X.max(axis=0) - X.min(axis=0))
    term = names[int(np.argmax(swing))] if swing.any() else names[0]
    zero = (W > 0) & (mu < eps)
    one = (W > 0) & (mu > 1 - eps)
    if zero.any():
        cols = int(zero.any(axis=0).sum())
        raise EstimationError(
            f"adjust_propensity: the response model separates respondents from "
            f"nonrespondents: {int(zero[:, 0].sum())} row(s) have a fitted propensity of 0"
            f"{'' if k == 1 else f' ({cols} of {k} weight columns affected)'}, driven by "
            f"{term!r}, and no respondent can carry their weight. Drop or coarsen that "
            f"covariate, or use weighting classes (adjust_nonresponse)")
    if singular:
        raise EstimationError(f"adjust_propensity: the response model cannot be fitted: its "
                              f"covariates (columns {names}) are collinear among the rows "
                              f"with weight")
    if not converged or one.any():
        warn(f"adjust_propensity: the response model did not converge in {max_iter} "
             f"iterations; {int(one[:, 0].sum())} row(s) have a fitted propensity of 1 "
             f"(every unit like them responded, driven by {term!r}), so their weights are "
             f"not adjusted")
    return mu


def adjust_propensity(design: SurveyDesign, respondent: Any, formula: str, *,
                      method: str = "inverse", n_classes: int = 5,
                      class_factor: str = "rate", max_iter: int = 50,
                      tol: float = 1e-10) -> Any:
    """Response-propensity nonresponse adjustment.

    Parameters
    ----------
    design : Design or ReplicateDesign
        The design of the full sample, respondents and nonrespondents.
    respondent : str or array-like of bool
        Column (boolean or 0/1) or mask marking respondents.
    formula : str
        The covariates of the response model, a patsy formula without
        response, e.g. ``"~ age + C(region)"``; known for respondents and
        nonrespondents alike.
    method : {"inverse", "classes"}, default "inverse"
        Divide each respondent's weight by its estimated propensity, or form
        propensity classes and adjust within them.
    n_classes : int, default 5
        Number of propensity classes for ``method="classes"``: quintiles by
        default (Cochran's five classes remove about 90% of the bias;
        Valliant, Dever and Kreuter 2018, sec. 13.5).
    class_factor : {"rate", "mean"}, default "rate"
        The factor of a class: the inverse of its weighted response rate
        (the weighting-class adjustment with propensity classes), or the
        inverse of the base-weighted mean propensity of all its units,
        respondents and nonrespondents.
    max_iter : int, default 50
        Newton iterations of the logistic fit.
    tol : float, default 1e-10
        Convergence of the fit: the largest relative change of a coefficient.

    Returns
    -------
    A design of the same kind in which nonrespondents keep their place with
    weight zero.

    Notes
    -----
    The propensity :math:`\\hat p_i = \\operatorname{expit}(x_i^\\top \\hat\\beta)` comes from
    the survey-weighted logistic regression of the response indicator on
    the covariates over the full sample (R's ``svyglm(family =
    quasibinomial())``). ``"inverse"`` gives respondents
    :math:`w_i / \\hat p_i`. ``"classes"`` cuts :math:`\\hat p` at its
    unweighted quantiles over the sample (R's ``cut(p, quantile(p,
    0:n/n), include.lowest = TRUE)``) and gives respondents of class
    :math:`c` :math:`w_i \\sum_c w / \\sum_{c, resp} w` (``"rate"``) or
    :math:`w_i \\sum_c w / \\sum_c w \\hat p` (``"mean"``) (Valliant, Dever and
    Kreuter 2018, sec. 13.5). A replicate design refits the model with
    every replicate's weights (the classes stay those of the full sample).
    On a linearisation design the class-rate adjustment has the variance of
    :func:`adjust_nonresponse` with the propensity classes; ``"inverse"`` and
    ``"mean"`` treat the adjusted weights as design weights, ignoring the
    estimation of the propensities, which Kim and Kim (2007) show is
    usually conservative for means; use a replicate design to include it.

    Raises
    ------
    EstimationError
        When the response model separates so that some units have a fitted
        propensity of 0 (their weight would be lost), naming the covariate
        that drives it; a warning when propensities of 1 stop the fit from
        converging (those respondents keep their weights).
    DesignError
        When the quantiles of the propensities are tied, or a class has no
        respondents.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({"psu": range(8), "w": [10.0] * 8,
    ...                    "x": [0, 0, 0, 0, 1, 1, 1, 1],
    ...                    "resp": [1, 1, 1, 0, 1, 0, 0, 1]})
    >>> d = ib.Design(df, weights="w", psu="psu").adjust_propensity("resp", "~ x")
    >>> d.weights.round(4).tolist()  # propensities 3/4 and 1/2
    [13.3333, 13.3333, 13.3333, 0.0, 20.0, 0.0, 0.0, 20.0]
    """
    what = "adjust_propensity"
    if method not in ("inverse", "classes"):
        raise DesignError(f"{what}: method must be 'inverse' or 'classes'; got {method!r}")
    if class_factor not in ("rate", "mean"):
        raise DesignError(f"{what}: class_factor must be 'rate' or 'mean'; got "
                          f"{class_factor!r}")
    resp = _respondents(design, respondent, what)
    present = design.present
    from .formula import model_frame

    _, Xk, spec, kept = model_frame(formula, design.data, response=False)
    if not kept[present].all():
        raise MissingValueError(f"{what}: the covariates of {formula!r} have missing values in "
                                f"{int((~kept[present]).sum())} row(s); the response model "
                                f"needs them for nonrespondents too")
    X = np.zeros((design.n, Xk.shape[1]))
    X[kept] = Xk
    X[~present] = 0.0
    W = _weights_matrix(design)
    P = _fit_response(X, resp & present, W, list(spec.column_names), max_iter, tol)
    if method == "inverse":
        with np.errstate(divide="ignore", invalid="ignore"):
            Wnew = np.where((resp & present)[:, None], W / P, 0.0)
        Wnew = np.where(present[:, None], Wnew, W)
        entry = _LogEntry("propensity (inverse)", Wnew[:, 0].copy())
        return _new_design(design, Wnew, None, entry)
    if int(n_classes) < 2:
        raise DesignError(f"{what}: n_classes must be at least 2; got {n_classes}")
    p0 = P[present, 0]
    cuts = np.quantile(p0, np.linspace(0, 1, int(n_classes) + 1))
    if np.unique(cuts).size < cuts.size:
        raise DesignError(f"{what}: the {n_classes} quantiles of the propensities are not "
                          f"distinct (many tied propensities); use fewer classes")
    cls = np.searchsorted(cuts[1:-1], P[:, 0], side="left")
    codes = np.where(present, cls, -1)
    labels = [f"({cuts[i]:.4g}, {cuts[i + 1]:.4g}]" if i else f"[{cuts[0]:.4g}, {cuts[1]:.4g}]"
              for i in range(int(n_classes))]
    factor = None
    if class_factor == "mean":
        full = _cell_totals(codes, W, int(n_classes))
        wp = _cell_totals(codes, W * P, int(n_classes))
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = np.where(wp > 0, full / wp, 0.0)
    Wnew, step, full, rtot = _class_adjustment(design, W, resp & present, codes,
                                               int(n_classes), labels, what, factor)
    fac = (factor[:, 0] if factor is not None else full[:, 0] / rtot[:, 0])
    entry = _LogEntry(f"propensity ({n_classes} classes, {class_factor})", Wnew[:, 0].copy(),
                      response=_response_table(codes, resp, W[:, 0], labels,
                                               np.arange(int(n_classes)), labels, fac))
    return _new_design(design, Wnew, step, entry)


# ----------------------------------------------------------------------------
# reporting
# ----------------------------------------------------------------------------
@dataclass(frozen=True)
class WeightsSummary:
    """What the weighting did: weight statistics per step and achieved totals.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per step (``design`` first): ``n`` (nonzero weights),
        ``sum``, ``min``, ``max``, ``mean``, ``cv`` (coefficient of variation
        of the nonzero weights, divisor n), ``n_eff`` (Kish's effective
        sample size :math:`(\\sum w)^2/\\sum w^2`) and ``deff_w`` (Kish's
        design effect due to weighting, :math:`n \\sum w^2/(\\sum w)^2 =
        1 + cv^2`).
    totals : pandas.DataFrame
        For every weighting step, each target and the total achieved.
    response : pandas.DataFrame
        For every nonresponse step, response by cell: ``n`` sampled units,
        ``respondents``, the unweighted and weighted response rates, the
        ``class`` the cell was adjusted in (after collapsing) and the
        class's adjustment ``factor`` (empty without such steps).
    collapsed : pandas.DataFrame
        For every nonresponse step that collapsed cells, each join in order:
        the sparse ``class``, the class it was ``joined_with``, the
        ``reason``, and its ``respondents`` and ``factor`` before the join.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({"psu": range(4), "w": [1.0, 2, 3, 10], "g": list("aabb")})
    >>> d = ib.Design(df, weights="w", psu="psu").poststratify("g", {"a": 6, "b": 10})
    >>> d.weights_summary().totals[["target", "population", "achieved"]].values.tolist()
    [['a', 6.0, 6.0], ['b', 10.0, 10.0]]
    """

    table: pd.DataFrame
    totals: pd.DataFrame
    response: pd.DataFrame = field(default_factory=pd.DataFrame)
    collapsed: pd.DataFrame = field(default_factory=pd.DataFrame)

    def __repr__(self) -> str:
        out = ["Weights by step",
               self.table.to_string(float_format=lambda v: f"{v:.6g}")]
        if len(self.totals):
            out += ["", "Targets and achieved totals",
                    self.totals.to_string(float_format=lambda v: f"{v:.6g}")]
        if len(self.collapsed):
            out += ["", "Classes collapsed",
                    self.collapsed.to_string(float_format=lambda v: f"{v:.6g}")]
        if len(self.response):
            out += ["", "Response by cell",
                    self.response.to_string(float_format=lambda v: f"{v:.6g}")]
        return "\n".join(out)

    def to_frame(self) -> pd.DataFrame:
        """The weight statistics per step (:attr:`table`).

        Returns
        -------
        pandas.DataFrame
            One row per step: ``n``, ``sum``, ``min``, ``max``, ``mean``, ``cv``,
            ``n_eff`` and ``deff_w``.

        Examples
        --------
        >>> import pandas as pd
        >>> import innobaro as ib
        >>> df = pd.DataFrame({"psu": range(4), "w": [1.0, 2, 3, 10], "g": list("aabb")})
        >>> d = ib.Design(df, weights="w", psu="psu").poststratify("g", {"a": 6, "b": 10})
        >>> d.weights_summary().to_frame().columns.tolist()
        ['n', 'sum', 'min', 'max', 'mean', 'cv', 'n_eff', 'deff_w']
        """
        return self.table


def weights_summary(design: SurveyDesign) -> WeightsSummary:
    """Weight statistics before and after each weighting step, and achieved totals.

    Parameters
    ----------
    design : Design or ReplicateDesign
        A design, weighted or not.

    Returns
    -------
    WeightsSummary
        The statistics of the weights after each step (``table``), each
        step's targets beside the totals achieved (``totals``), the response
        by cell of the nonresponse steps (``response``) and the classes they
        joined (``collapsed``).

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({"psu": range(4), "w": [1.0, 2, 3, 10], "g": list("aabb")})
    >>> s = ib.Design(df, weights="w", psu="psu").poststratify("g", {"a": 6, "b": 10})
    >>> s.weights_summary().table["sum"].tolist()
    [16.0, 16.0]
    """
    log = design.weighting_log or (_LogEntry("design", design.weight_values),)
    rows, tot_rows = [], []
    response, collapsed = [], []
    for i, entry in enumerate(log):  # over weighting steps
        if entry.response is not None:
            response.append(entry.response.assign(step=f"{i}: {entry.step}"))
        collapsed += [{"step": f"{i}: {entry.step}", **join} for join in entry.collapsed]
        w = entry.weights[design.present]
        w = w[w != 0]
        s, s2 = w.sum(), (w * w).sum()
        n = w.size
        rows.append({"step": f"{i}: {entry.step}", "n": n, "sum": s, "min": w.min(),
                     "max": w.max(), "mean": s / n, "cv": w.std() / w.mean(),
                     "n_eff": s * s / s2, "deff_w": n * s2 / (s * s)})
        for key, target in entry.targets.items():
            tot_rows.append({"step": f"{i}: {entry.step}", "target": key, "population": target,
                             "achieved": entry.achieved.get(key, np.nan)})
    table = pd.DataFrame(rows).set_index("step")
    totals = pd.DataFrame(tot_rows, columns=["step", "target", "population", "achieved"])
    if len(totals):
        totals["difference"] = totals["achieved"] - totals["population"]
    resp = (pd.concat(response, ignore_index=True) if response else
            pd.DataFrame(columns=["step", "cell", "n", "respondents", "response_rate",
                                  "weighted_response_rate", "class", "factor"]))
    resp = resp[["step"] + [c for c in resp.columns if c != "step"]]
    joins = pd.DataFrame(collapsed, columns=["step", "class", "joined_with", "reason",
                                             "respondents", "factor"])
    return WeightsSummary(table=table, totals=totals, response=resp, collapsed=joins)
