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
from .errors import DesignError, EstimationError, InnobaroWarning, MissingValueError
from .variance.calibration import Basis, CalibrationStep

__all__ = [
    "CalibrationError",
    "WeightsSummary",
    "adjust_nonresponse",
    "calibrate",
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
                entry: _LogEntry) -> Any:
    """The weighted design: new weights (and replicate weights) for the rows
    present, the weighting model for linearisation variances, and the log."""
    log = design.weighting_log or (_LogEntry("design", design.weight_values.copy()),)
    replicate = isinstance(design, ReplicateDesign)
    return design.with_weights(Wnew[:, 0], Wnew[:, 1:] if replicate else None,
                               calibration=None if replicate else step,
                               weighting_log=(*log, entry))


def _cells(design: SurveyDesign, by: list[str], what: str
           ) -> tuple[np.ndarray, list[np.ndarray]]:
    check_columns(design.data, by, what)
    codes, values = design.level_codes(by)
    present = design.present
    if (codes[present] < 0).any():
        bad = [c for c in by if design.data[c].isna().to_numpy()[present].any()]
        raise MissingValueError(f"{what}: column {', '.join(map(repr, bad))} has missing "
                                f"values")
    return np.where(present, codes, -1), values


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
    _check_replicate_cells(S, [_cell_label(values, i) for i in range(n_cells)],
                           "poststratify")
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
    Wnew = W * np.where(codes[:, None] >= 0, factor[np.maximum(codes, 0)], 1.0)
    step = None
    if not isinstance(design, ReplicateDesign):
        w0, w1 = W[:, 0], Wnew[:, 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            fval = np.where(w1 > 0, w0 / w1, 0.0)
        old_tot = bincount(np.maximum(codes, 0), weights=np.where(codes >= 0, w0, 0),
                              minlength=n_cells)
        with np.errstate(divide="ignore"):
            K = np.diag(np.where(old_tot > 0, 1.0 / old_tot, 0.0))
        basis = Basis(K=K, codes=np.maximum(codes, 0), a_values=np.where(codes >= 0, w1, 0.0),
                      f_values=np.where(codes >= 0, fval, 0.0))
        step = CalibrationStep(bases=(basis,), kind="poststratify")
    achieved = _cell_totals(codes, Wnew[:, :1], n_cells)[:, 0]
    entry = _LogEntry("poststratify", Wnew[:, 0].copy(),
                      {_cell_label(values, i): float(pop[i]) for i in np.flatnonzero(sampled)},
                      {_cell_label(values, i): float(achieved[i])
                       for i in np.flatnonzero(sampled)})
    return _new_design(design, Wnew, step, entry)


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
        full = np.zeros((len(data), X.shape[1]))
        full[kept] = X
        names = spec.column_names
    else:
        names, mats = [], []
        for key in tot:
            if key in _INTERCEPT:
                mats.append(np.ones(len(data)))
            else:
                check_columns(data, [key], "calibrate")
                col = data[key]
                if not pd.api.types.is_numeric_dtype(col):
                    raise DesignError(f"calibrate: column {key!r} is not numeric; give a "
                                      f"formula to calibrate to the counts of its levels")
                v = col.to_numpy(dtype=float, na_value=np.nan)
                if np.isnan(v[present]).any():
                    raise MissingValueError(f"calibrate: column {key!r} has missing values")
                mats.append(np.nan_to_num(v))
            names.append(key)
        full = np.empty((len(data), len(mats)), order="F")
        for j, mat in enumerate(mats):  # over auxiliary variables
            full[:, j] = mat
    # match totals to columns, accepting R's "(Intercept)" for patsy's "Intercept"
    lookup = {("Intercept" if k in _INTERCEPT else k): v for k, v in tot.items()}
    missing = [n for n in names if n not in lookup]
    extra = [k for k in lookup if k not in names]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"no total for {', '.join(map(repr, missing))}")
        if extra:
            parts.append(f"totals for {', '.join(map(repr, extra))} match no column")
        raise DesignError(f"calibrate: {'; '.join(parts)} (model-matrix columns: {names})")
    pop = np.array([float(lookup[n]) for n in names])
    full[~present] = 0.0
    return full, names, pop


def _calfun(method: str, bounds: tuple[float, float]
            ) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    """Distance function ``F(u) - 1`` and its derivative (Deville and Särndal 1992)."""
    lo, hi = bounds
    if method == "linear":
        return (lambda u: np.minimum(np.maximum(u + 1, lo), hi) - 1,
                lambda u: ((u < hi - 1) & (u > lo - 1)).astype(float))
    if method == "raking":
        def fm1(u: np.ndarray) -> np.ndarray:
            with np.errstate(over="ignore"):
                return np.minimum(np.maximum(np.exp(u), lo), hi) - 1

        def df(u: np.ndarray) -> np.ndarray:
            with np.errstate(over="ignore"):
                return np.where((u < hi - 1) & (u > lo - 1), np.exp(u), 0.0)
        return fm1, df
    if method == "logit":
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise DesignError("calibrate: method='logit' needs finite bounds (lower, upper) "
                              "with lower < 1 < upper")
        if not lo < 1 < hi:
            raise DesignError(f"calibrate: logit bounds must satisfy lower < 1 < upper; got "
                              f"{bounds}")
        A = (hi - lo) / ((hi - 1) * (1 - lo))

        def fm1(u: np.ndarray) -> np.ndarray:
            with np.errstate(over="ignore", invalid="ignore"):
                e = np.exp(A * u)
                out = (lo * (hi - 1) + hi * (1 - lo) * e) / (hi - 1 + (1 - lo) * e) - 1
            return np.where(np.isinf(e), hi - 1, out)

        def df(u: np.ndarray) -> np.ndarray:
            with np.errstate(over="ignore", invalid="ignore"):
                e = np.exp(A * u)
                den = hi - 1 + (1 - lo) * e
                out = (hi * (1 - lo) * e * A / den
                       - (lo * (hi - 1) + hi * (1 - lo) * e) * ((1 - lo) * e * A) / den ** 2)
            return np.where(np.isinf(e), 0.0, out)
        return fm1, df
    raise DesignError(f"calibrate: method must be 'linear', 'raking' or 'logit'; got {method!r}")


def _grake(X: np.ndarray, W: np.ndarray, pop: np.ndarray, method: str,
           bounds: tuple[float, float], tol: float, max_iter: int, names: list[str]
           ) -> np.ndarray:
    """g-weights for every weight column of ``W`` (R's ``grake``), vectorised.

    Newton steps on the calibration equations with a generalised inverse,
    step halving when the distance is undefined, convergence when every
    ``|misfit| / (1 + |total|) < tol``; each column stops when it converges.
    """
    n, p = X.shape
    k = W.shape[1]
    fm1, df = _calfun(method, bounds)
    sample = X.T @ W  # (p, k)
    scale = np.ones(k)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = pop[:, None] / sample
    big = np.nanmin(np.where(np.isfinite(ratios), ratios, np.nan), axis=0) > 20
    if big.any():  # R's pre-scaling for weights far below the totals
        scale = np.where(big, np.nanmean(np.where(np.isfinite(ratios), ratios, np.nan),
                                         axis=0), 1.0)
        if any(np.isfinite(b) for b in bounds):
            warnings.warn(f"calibration bounds are applied after rescaling the weights by "
                          f"{scale[big][0]:.3g}", InnobaroWarning, stacklevel=4)
    Ws = W * scale
    sample = sample * scale
    eta = np.zeros((p, k))
    u = np.zeros((n, k))
    g = 1 + fm1(u)
    deriv = df(u)
    active = np.ones(k, dtype=bool)
    it = 1
    misfit = np.zeros((p, k))
    while True:
        idx = np.flatnonzero(active)
        T = weighted_gram(X, Ws[:, idx] * deriv[:, idx])
        mis = pop[:, None] - sample[:, idx] - X.T @ (Ws[:, idx] * fm1(u[:, idx]))
        # the small (p, p) pseudo-inverses of every active column, in one call
        Tinv = np.linalg.pinv(T, rcond=256 * np.finfo(float).eps, hermitian=True)
        step = np.einsum("jab,bj->aj", Tinv, mis)
        eta[:, idx] += step
        u[:, idx] = tall_dot(X, eta[:, idx])
        g[:, idx] = 1 + fm1(u[:, idx])
        deriv[:, idx] = df(u[:, idx])
        bad = ~(np.isfinite(g[:, idx]).all(axis=0) & np.isfinite(deriv[:, idx]).all(axis=0))
        while it < max_iter and bad.any():  # step halving
            it += 1
            cols = idx[bad]
            step[:, bad] /= 2
            eta[:, cols] -= step[:, bad]
            u[:, cols] = tall_dot(X, eta[:, cols])
            g[:, cols] = 1 + fm1(u[:, cols])
            deriv[:, cols] = df(u[:, cols])
            bad = ~(np.isfinite(g[:, idx]).all(axis=0)
                    & np.isfinite(deriv[:, idx]).all(axis=0))
        misfit[:, idx] = pop[:, None] - sample[:, idx] - X.T @ (Ws[:, idx] * fm1(u[:, idx]))
        done = (np.abs(misfit[:, idx]) / (1 + np.abs(pop[:, None])) < tol).all(axis=0)
        active[idx[done]] = False
        if not active.any():
            break
        it += 1
        if it > max_iter:
            rel = np.abs(misfit) / (1 + np.abs(pop[:, None]))
            worst = int(np.argmax(rel.max(axis=1)))
            raise CalibrationError(
                f"calibration ({method}) did not converge in {max_iter} iterations: "
                f"largest relative misfit {rel.max():.3g}, for the total of "
                f"{names[worst]!r}. The bounds may be too tight for these totals, or the "
                f"totals inconsistent with the sample; widen the bounds, raise max_iter, "
                f"or collapse categories")
    return g * scale


def calibrate(design: SurveyDesign, totals: Any, *, formula: str | None = None,
              method: str = "linear", bounds: tuple[float, float] | None = None,
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
    method : {"linear", "raking", "logit"}, default "linear"
        The distance of Deville and Särndal (1992): linear (GREG),
        raking (multiplicative), or logit (bounded).
    bounds : (lower, upper), optional
        Bounds on the g-weights :math:`w_{new}/w` (required for logit).
    max_iter : int, default 50
    tol : float, default 1e-7
        Convergence when every :math:`|\\hat T_k - T_k|/(1 + |T_k|) < tol`.

    Returns
    -------
    A design of the same kind.

    Notes
    -----
    The calibrated weights are :math:`w_i g_i` with :math:`g_i = F(x_i^\\top
    \\lambda)` and :math:`\\lambda` solving :math:`\\sum_i w_i F(x_i^\\top
    \\lambda) x_i = T`; for the linear distance without bounds,
    :math:`g_i = 1 + x_i^\\top (X^\\top W X)^{-1}(T - X^\\top w)` (GREG).
    The variance uses the residuals of the weighted regression of the
    influence values on the auxiliaries, :math:`\\tilde z = z - W_{new} X
    \\hat\\beta`, :math:`\\hat\\beta = (X^\\top W X)^{-1} X^\\top (z/g)`
    (Deville and Särndal 1992; R's ``calibrate``).

    Raises
    ------
    CalibrationError
        When the totals cannot be reached (naming the worst total).

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({"psu": range(6), "w": [10.0] * 6,
    ...                    "x": [1.0, 2, 3, 4, 5, 6], "y": [2.0, 3, 5, 4, 6, 8]})
    >>> d = ib.Design(df, weights="w", psu="psu").calibrate({"Intercept": 60, "x": 240})
    >>> ib.total(d, "x").estimate.round(6).tolist()
    [240.0]
    """
    if bounds is None:
        bounds = (-np.inf, np.inf)
    bounds = (float(bounds[0]), float(bounds[1]))
    X, names, pop = _calibration_matrix(design, totals, formula)
    W = _weights_matrix(design)
    sample = X.T @ W[:, 0]
    drop = (sample == 0) & (pop == 0) & ~X.any(axis=0)
    if drop.any():
        X, pop = X[:, ~drop], pop[~drop]
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
    gram0 = None
    if method == "linear" and np.isneginf(bounds[0]) and np.isposinf(bounds[1]):
        T = weighted_gram(X, W)
        gram0 = T[0]
        rhs = pop[:, None] - X.T @ W
        try:
            # all the small (p, p) systems, one per weight column, in one call
            lam = np.linalg.solve(T, rhs.T[:, :, None])[:, :, 0].T
        except np.linalg.LinAlgError:
            raise CalibrationError(
                "calibrate: the auxiliary variables are collinear in the sample "
                f"(columns {names}); drop redundant totals") from None
        G = 1 + tall_dot(X, lam)
    else:
        _calfun(method, bounds)  # validate early
        G = _grake(X, W, pop, method, bounds, tol, max_iter, names)
    Wnew = W * G
    step = None
    if not isinstance(design, ReplicateDesign):
        g = G[:, 0]
        w0 = W[:, 0]
        # columns scaled to unit weighted norm: a well-conditioned projection
        gram = gram0 if gram0 is not None else weighted_gram(X, w0[:, None])[0]
        norm = np.sqrt(np.diag(gram))
        norm = np.where(norm > 0, norm, 1.0)
        K = np.linalg.pinv(gram / np.outer(norm, norm), hermitian=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            fval = np.where(g != 0, 1.0 / g, 0.0)
        basis = Basis(K=K, x=X, scale=norm, a_values=Wnew[:, 0].copy(), f_values=fval)
        step = CalibrationStep(bases=(basis,), kind=f"calibrate ({method})")
    achieved = X.T @ Wnew[:, 0]
    entry = _LogEntry(f"calibrate ({method})", Wnew[:, 0].copy(),
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


def adjust_nonresponse(design: SurveyDesign, respondent: Any, *,
                       by: str | Sequence[str] | None = None) -> Any:
    """Weighting-class nonresponse adjustment, keeping the design of the full sample.

    Parameters
    ----------
    design : Design or ReplicateDesign
        The design of the full sample, respondents and nonrespondents.
    respondent : str or array-like of bool
        Column (or mask) marking respondents.
    by : str or list of str, optional
        Weighting classes; one class by default.

    Returns
    -------
    A design of the same kind in which nonrespondents keep their place with
    weight zero, and respondents in class :math:`c` have weights
    :math:`w_i \\sum_{c} w / \\sum_{c, resp} w`.

    Notes
    -----
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
        Naming every class with no respondents.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({"psu": range(4), "w": [10.0] * 4, "resp": [True, False, True, True]})
    >>> ib.Design(df, weights="w", psu="psu").adjust_nonresponse("resp").weights.round(4).tolist()
    [13.3333, 0.0, 13.3333, 13.3333]
    """
    if isinstance(respondent, str):
        check_columns(design.data, [respondent], "adjust_nonresponse")
        col = design.data[respondent]
        if col.isna().any():
            raise MissingValueError(f"adjust_nonresponse: column {respondent!r} has missing "
                                    f"values")
        resp = col.to_numpy().astype(bool)
    else:
        resp = design.row_mask(respondent)
    by_cols = as_column_list(by, "by")
    if by_cols:
        codes, values = _cells(design, by_cols, "adjust_nonresponse")
    else:
        codes = np.where(design.present, 0, -1)
        values = [np.array(["(all)"], dtype=object)]
    n_cls = len(values[0])
    W = _weights_matrix(design)
    full = _cell_totals(codes, W, n_cls)
    rcodes = np.where(resp, codes, -1)
    rtot = _cell_totals(rcodes, W, n_cls)
    empty = (full[:, 0] > 0) & (rtot[:, 0] <= 0)
    if empty.any():
        raise DesignError("adjust_nonresponse: no respondents (with positive weight) in "
                          "class(es) " + ", ".join(_cell_label(values, i)
                                                   for i in np.flatnonzero(empty)))
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(rtot > 0, full / rtot, 0.0)
    Wnew = np.where((rcodes >= 0)[:, None], W * factor[np.maximum(codes, 0)], 0.0)
    Wnew = np.where((codes >= 0)[:, None], Wnew, W)
    step = None
    if not isinstance(design, ReplicateDesign):
        w0, w1 = W[:, 0], Wnew[:, 0]
        new_tot = _cell_totals(codes, Wnew[:, :1], n_cls)[:, 0]
        with np.errstate(divide="ignore"):
            K = np.diag(np.where(new_tot > 0, 1.0 / new_tot, 0.0))
        inside = codes >= 0
        basis = Basis(K=K, codes=np.maximum(codes, 0), a_values=np.where(inside, w1 - w0, 0.0),
                      f_values=inside.astype(float))
        step = CalibrationStep(bases=(basis,), kind="nonresponse")
    entry = _LogEntry("nonresponse", Wnew[:, 0].copy(),
                      {_cell_label(values, i): float(full[i, 0]) for i in range(n_cls)},
                      {_cell_label(values, i): float(_cell_totals(codes, Wnew[:, :1],
                                                                  n_cls)[i, 0])
                       for i in range(n_cls)})
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

    def __repr__(self) -> str:
        out = ["Weights by step",
               self.table.to_string(float_format=lambda v: f"{v:.6g}")]
        if len(self.totals):
            out += ["", "Targets and achieved totals",
                    self.totals.to_string(float_format=lambda v: f"{v:.6g}")]
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
    for i, entry in enumerate(log):  # over weighting steps
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
    return WeightsSummary(table=table, totals=totals)
