"""The rest of R's descriptives: :func:`var` (R's ``svyvar``: variances,
covariance and correlation matrices with design-based standard errors),
:func:`standardize` (R's ``svystandardize``: direct standardisation) and
:func:`design_effects` (design effects and Stata's misspecification effects).

As every estimator, :func:`var` computes its point estimate, its influence
values and a function re-estimating it under replicate weights, and hands
them to the design's variance engine (:func:`innobaro.variance.vcov_of`).

References
----------
.. [1] Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*.
   Wiley, sec. 2.2 (variances) and 7.1 (standardisation).
.. [2] Skinner, C. J. (1989). Introduction to part A. In Skinner, Holt and
   Smith (eds.), *Analysis of Complex Surveys*. Wiley, 23-58
   (misspecification effects).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ._linalg import bincount
from ._validate import as_column_list, check_columns
from .design import Design, ReplicateDesign, SurveyDesign, check_design
from .errors import DomainError, EstimationError, InnobaroWarning, MissingValueError
from .estimators import check_se_design, satterthwaite_df
from .results import Estimate
from .variance import Influence, Working, degrees_of_freedom, vcov_of

__all__ = ["VAR_STATISTICS", "design_effects", "standardize", "var"]

Columns = str | Sequence[str]
VarStatistic = Literal["variance", "covariance", "correlation"]
VAR_STATISTICS = ("variance", "covariance", "correlation")




def _numeric_matrix(design: SurveyDesign, cols: list[str], what: str) -> np.ndarray:
    data = design.data
    check_columns(data, cols, what)
    mats = []
    for c in cols:
        col = data[c]
        if isinstance(col.dtype, pd.CategoricalDtype) or not (
                pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
            raise EstimationError(f"{what}: column {c!r} must be numeric, not {col.dtype}")
        values = col.to_numpy(dtype=np.float64, na_value=np.nan)
        inf = np.isinf(values) & design.present
        if inf.any():
            raise EstimationError(f"{what}: column {c!r} has {int(inf.sum())} infinite "
                                  f"value(s); recode them, or set them missing and pass "
                                  f"na_rm=True")
        mats.append(values)
    return mats[0][:, None] if len(mats) == 1 else np.column_stack(mats)


def _domain_codes(design: SurveyDesign, by_cols: list[str], rows: np.ndarray, what: str
                  ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], int]:
    """Domain code of each analysed row (-1 outside), the codes before rows with
    missing values were left out, the by-values of each domain, their number."""
    present = design.present
    w = design.unmasked_weights
    if not by_cols:
        dom = np.where(rows, 0, -1).astype(np.int64, copy=False)
        dom_df = dom if present is rows else np.where(present, 0, -1).astype(np.int64,
                                                                             copy=False)
        if not (rows & (w > 0)).any():
            raise DomainError(f"{what}: the domain has no rows with positive weight")
        return dom, dom_df, [], 1
    check_columns(design.data, by_cols, "by")
    codes, values = design.level_codes(by_cols)
    nan_by = (codes < 0) & present
    if nan_by.any():
        raise MissingValueError(f"{what}: by column(s) {', '.join(map(repr, by_cols))} have "
                                f"{int(nan_by.sum())} missing value(s) in the domain; leave "
                                f"them out with design.subset(...)")
    n_levels = len(values[0])
    dom = np.where(rows, codes, -1)
    inside = dom >= 0
    has_weight = bincount(dom[inside], weights=(w[inside] > 0).astype(float),
                          minlength=n_levels) > 0
    if not has_weight.any():
        raise DomainError(f"{what}: every row of the domains has weight zero")
    dom_df = np.where(present, codes, -1)
    had = bincount(dom_df[dom_df >= 0], weights=(w[dom_df >= 0] > 0).astype(float),
                   minlength=n_levels) > 0
    emptied = np.flatnonzero(had & ~has_weight)
    if emptied.size:
        names = ["; ".join(f"{c}={v[k]}" for c, v in zip(by_cols, values, strict=True))
                 for k in emptied[:10]]
        warnings.warn(f"{what}: every row of domain(s) {', '.join(names)} misses a variable; "
                      f"they are left out of the result", InnobaroWarning, stacklevel=3)
    remap = np.where(has_weight, np.cumsum(has_weight) - 1, -1)
    dom = np.where(dom >= 0, remap[np.maximum(dom, 0)], -1)
    dom_df = np.where(dom_df >= 0, remap[np.maximum(dom_df, 0)], -1)
    return dom, dom_df, [v[has_weight] for v in values], int(has_weight.sum())


def _domain_totals(dom: np.ndarray, D: int, A: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Domain totals of the columns of ``A`` (n, k) under the (n, R) weights ``W``:
    (R, D, k), by one (sparse) matrix product."""
    n, k = A.shape
    keep = dom >= 0
    d = np.where(keep, dom, 0)
    indices = (d[:, None] * k + np.arange(k)).ravel()
    data = np.where(keep[:, None], A, 0.0).ravel()
    S = sp.csc_matrix((data, indices, np.arange(0, n * k + 1, k)), shape=(D * k, n))
    return np.asarray(S @ W).T.reshape(W.shape[1], D, k)


def var(design: SurveyDesign, y: Columns, *, by: Columns | None = None,
        statistic: VarStatistic = "variance", na_rm: bool = False,
        se: str = "linearized") -> Estimate:
    """Population variances, covariance or correlation matrix, with design-based SEs.

    Parameters
    ----------
    design : Design or ReplicateDesign
    y : str or list of str
        Numeric columns.
    by : str or list of str, optional
        Domain columns; one result per domain.
    statistic : {"variance", "covariance", "correlation"}, default "variance"
        ``"variance"``: the variance of each column (R's ``svyvar`` of one
        variable, the diagonal of its matrix); ``"covariance"``: the whole
        covariance matrix (R's ``svyvar`` of several variables);
        ``"correlation"``: the correlation matrix.
    na_rm : bool, default False
        Leave out rows with a missing value in any ``y`` (complete cases, as R).
    se : {"linearized", "bell-mccaffrey", "bell-mccaffrey-2"}, default "linearized"
        Standard errors and degrees of freedom, R's ``svyglm(std.errors=)``
        values: R's linearisation, or Bell-McCaffrey bias-reduced
        linearisation (CR2) of each entry as the weighted regression of its
        centred products :math:`u_{iab}` (below, the means held fixed) on the
        domain's indicator, with Satterthwaite degrees of freedom under
        independence (``"bell-mccaffrey"``) or an exchangeable correlation
        within PSUs (``"bell-mccaffrey-2"``); a correlation's residuals are
        its delta-method combination of the three regressions' (they share
        the regressor, so the adjustment is the same linear map).
        Linearisation designs only. See
        :mod:`innobaro.variance.small_sample`.

    Returns
    -------
    Estimate
        ``kind`` is ``statistic``. For ``"variance"`` indexed by variable (after
        the ``by`` levels); for the matrices by ``variable`` and ``with``, the
        entries of the :math:`p \\times p` matrix column by column (R's order),
        so that ``est.estimate.unstack()`` is the matrix (without ``by``).

    Notes
    -----
    In a domain with :math:`\\hat N = \\sum_i w_i`, means :math:`\\bar x_a` and
    :math:`n` rows,

    .. math:: \\hat C_{ab} = \\frac{n}{n-1} \\sum_i w_i (x_{ia} - \\bar x_a)
              (x_{ib} - \\bar x_b) / \\hat N,

    the weighted covariance with Kish's divisor. Its linearisation treats it
    as the mean of :math:`u_{iab} = \\frac{n}{n-1}(x_{ia} - \\bar x_a)(x_{ib} -
    \\bar x_b)`, influence values :math:`z_i = w_i (u_{iab} - \\hat C_{ab})/\\hat N`
    (the derivative in the means is zero), as R's ``svyvar``; under replicate
    weights the means are re-estimated in every replicate, as R does.
    :math:`n` counts as R does: on a :class:`~innobaro.Design` the rows of the
    domain with nonzero weight, those with missing values included; on a
    :class:`~innobaro.ReplicateDesign` the rows analysed (missing values left
    out). The correlation :math:`r_{ab} = \\hat C_{ab}/\\sqrt{\\hat C_{aa}\\hat
    C_{bb}}` gets its standard error by the delta method (influence values
    :math:`z^r = z^{ab}/\\sqrt{\\hat C_{aa}\\hat C_{bb}} - \\tfrac{r_{ab}}{2}(z^{aa}/
    \\hat C_{aa} + z^{bb}/\\hat C_{bb})`), or from the replicates' correlations;
    R's ``svyvar`` gives no correlation, and the reference tests check the
    delta method applied to ``svyvar``'s covariance.

    References
    ----------
    .. [1] Lumley, T. (2010). *Complex Surveys*, sec. 2.2.
    .. [2] Kish, L. (1965). *Survey Sampling*. Wiley.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({"psu": range(8), "w": [1.0, 2, 1, 2, 1, 2, 1, 2],
    ...                    "x": [1.0, 3, 2, 5, 4, 6, 5, 8],
    ...                    "y": [2.0, 1, 4, 3, 6, 5, 8, 9]})
    >>> d = ib.Design(df, weights="w", psu="psu")
    >>> ib.var(d, "x").estimate.round(4).tolist()
    [5.0159]
    >>> ib.var(d, ["x", "y"], statistic="correlation").estimate.unstack().round(3)
    ... # doctest: +NORMALIZE_WHITESPACE
    with          x      y
    variable
    x         1.000  0.762
    y         0.762  1.000
    """
    check_design(design, "var")
    se = check_se_design(design, se, "var")
    if statistic not in VAR_STATISTICS:
        raise EstimationError(f"var: statistic must be one of {', '.join(VAR_STATISTICS)}; "
                              f"got {statistic!r}")
    cols = as_column_list(y, "y")
    if not cols:
        raise EstimationError("var: no variable given")
    if len(set(cols)) != len(cols):
        raise EstimationError(f"var: a column is given twice in {cols!r}")
    X = _numeric_matrix(design, cols, "var")
    present = design.present
    missing = np.isnan(X) & present[:, None]
    rows = present
    if missing.any():
        if not na_rm:
            listed = ", ".join(f"{cols[j]!r} ({int(missing[:, j].sum())} missing)"
                               for j in np.flatnonzero(missing.any(axis=0)))
            raise MissingValueError(f"var: {listed}; pass na_rm=True to estimate from the "
                                    f"complete rows (they stay in the design with weight "
                                    f"zero)")
        rows = present & ~missing.any(axis=1)
    by_cols = as_column_list(by, "by")
    dom, dom_df, values, D = _domain_codes(design, by_cols, rows, "var")
    inside = dom >= 0
    all_in = bool(inside.all())
    if all_in:
        w = design.unmasked_weights
    else:
        w = np.where(inside, design.unmasked_weights, 0.0)
        X = np.where(inside[:, None], X, 0.0)
    p = len(cols)
    d = np.maximum(dom, 0) if D > 1 or not all_in else dom
    dom_in = dom if all_in else dom[inside]

    def domain_sums(A: np.ndarray) -> np.ndarray:
        """Weighted domain sums of the columns of A: (D, k), one pass per column."""
        if D == 1 and all_in:  # numpy's own loop (BLAS waits for its threads), column
            # by column, so that a column's sum does not depend on the others
            return np.array([[np.einsum("i,i->", w, np.ascontiguousarray(A[:, j]))
                              for j in range(A.shape[1])]])  # over columns
        return np.stack([bincount(dom_in, weights=(w * A[:, j]) if all_in
                                  else (w * A[:, j])[inside], minlength=D)
                         for j in range(A.shape[1])], axis=1)  # over columns

    N = (np.array([w.sum()]) if D == 1 and all_in else
         bincount(dom_in, weights=w if all_in else w[inside], minlength=D))
    xbar = domain_sums(X) / N[:, None]
    dev = X - (xbar if D == 1 else xbar[d])
    if not all_in:
        dev[~inside] = 0.0
    is_rep = isinstance(design, ReplicateDesign)
    if is_rep:  # R: the rows of the domain's design after leaving out missing values
        n = bincount(dom[inside], minlength=D).astype(float)
    elif D == 1:  # R: rows of the domain's design with nonzero weight, before na.rm
        n = np.array([float(np.count_nonzero((dom_df >= 0) & (design.unmasked_weights > 0)))])
    else:
        keep_df = (dom_df >= 0) & (design.unmasked_weights > 0)
        n = bincount(dom_df[keep_df], minlength=D).astype(float)
    if (n < 2).any():  # R: n/(n-1) is infinite, the variance NaN
        names = [", ".join(f"{c}={v[k]}" for c, v in zip(by_cols, values, strict=True))
                 or (design.domain_label or "(all)") for k in np.flatnonzero(n < 2)[:10]]
        warnings.warn(f"var: domain {'; '.join(names)} has a single row; its variance is "
                      f"not defined (NaN)", InnobaroWarning, stacklevel=2)
    fac = np.where(n > 1, n / np.maximum(n - 1, 1), np.nan)

    if statistic == "variance":
        a_idx = b_idx = np.arange(p)
    else:  # column-major entries of the p x p matrix, as R's svyvar
        a_idx = np.tile(np.arange(p), p)
        b_idx = np.repeat(np.arange(p), p)
    K = a_idx.size
    # (n, K), zero outside the domains
    prods = dev * dev if statistic == "variance" else dev[:, a_idx] * dev[:, b_idx]
    with np.errstate(invalid="ignore"):
        u = prods * (fac[0] if D == 1 else fac[d][:, None])
    C = domain_sums(u) / N[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        z = u - (C if D == 1 else C[d])
        z *= (w / N[0] if D == 1 else w / N[d])[:, None]
        if not all_in:
            z[~inside] = 0.0

    def cov_reps(W: np.ndarray) -> np.ndarray:
        ones_dev = np.column_stack([np.ones(design.n), dev, prods])
        T = _domain_totals(dom, D, ones_dev, W)  # (R, D, 1 + p + K)
        with np.errstate(divide="ignore", invalid="ignore"):
            m = T[:, :, 1:1 + p] / T[:, :, :1]  # replicate mean minus the full one
            c = T[:, :, 1 + p:] / T[:, :, :1] - m[:, :, a_idx] * m[:, :, b_idx]
            return c * fac[None, :, None]  # (R, D, K)

    est = C
    replicates: Callable[[np.ndarray], np.ndarray]
    if statistic == "correlation":
        diag = np.arange(p) * (p + 1)  # positions of the variances among the entries
        sa, sb = C[:, diag[a_idx]], C[:, diag[b_idx]]
        with np.errstate(divide="ignore", invalid="ignore"):
            root = np.sqrt(sa * sb)
            est = C / root
            za, zb = z[:, diag[a_idx]], z[:, diag[b_idx]]
            z = z / root[d] - est[d] / 2 * (za / sa[d] + zb / sb[d])
        z = np.where(inside[:, None], z, 0.0)
        est[:, a_idx == b_idx] = 1.0
        z[:, a_idx == b_idx] = 0.0

        def replicates(W: np.ndarray) -> np.ndarray:
            c = cov_reps(W)
            with np.errstate(divide="ignore", invalid="ignore"):
                r = c / np.sqrt(c[:, :, diag[a_idx]] * c[:, :, diag[b_idx]])
            r[:, :, a_idx == b_idx] = 1.0
            return r.reshape(W.shape[1], -1)
    else:
        def replicates(W: np.ndarray) -> np.ndarray:
            return cov_reps(W).reshape(W.shape[1], -1)

    working = None
    if se != "linearized":
        # each entry is the mean of its products: the regression of u on the
        # domain's indicator, residuals z N / w (the correlation's combination)
        block = np.where(inside & (w > 0), dom, -1)
        ind = (block >= 0).astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            resid = np.where((block >= 0)[:, None],
                             z * (N[0] / w if D == 1 else N[d] / w)[:, None], 0.0)
        working = Working(U=np.broadcast_to(ind[:, None, None], (design.n, K, 1)),
                          UW=np.broadcast_to((w * ind)[:, None, None], (design.n, K, 1)),
                          resid=resid, block=block, n_blocks=D)
    V = vcov_of(design, est.ravel(), Influence(values=z, domain=dom, n_domains=D),
                replicates, se=se, working=working)
    notes: tuple[str, ...] = ()
    if working is not None:  # Satterthwaite degrees of freedom of every entry
        entry_df = satterthwaite_df(design, working, se)
        notes = (f"se={se!r}: Bell-McCaffrey bias-reduced linearisation (CR2) with "
                 f"Satterthwaite degrees of freedom",)
    else:
        # the domains' degrees of freedom depend on the by columns only (cached on
        # the design) unless rows with missing values emptied a domain
        df = degrees_of_freedom(design, dom_df, D, key=("var by", tuple(by_cols), D)
                                if not missing.any() else None)
        entry_df = np.repeat(df, K)
    col_names = np.asarray(cols, dtype=object)
    if statistic == "variance":
        arrays = [np.tile(col_names, D)]
        level_names = ["variable"]
    else:
        arrays = [np.tile(col_names[a_idx], D), np.tile(col_names[b_idx], D)]
        level_names = ["variable", "with"]
    if by_cols:
        arrays = [np.repeat(v, K) for v in values] + arrays
        level_names = [*by_cols, *level_names]
    index = (pd.Index(arrays[0], name="variable") if len(arrays) == 1
             else pd.MultiIndex.from_arrays(arrays, names=level_names))
    return Estimate(est.ravel(), V, index, df=entry_df, kind=statistic, notes=notes)


# ---------------------------------------------------------------------------
# direct standardisation
# ---------------------------------------------------------------------------
def _levels(series: pd.Series) -> tuple[np.ndarray, list[Any]]:
    if isinstance(series.dtype, pd.CategoricalDtype):
        # int8 or int16 for few levels: read, not widened
        return series.cat.codes.to_numpy(), list(series.cat.categories)
    codes, uniq = pd.factorize(series, sort=True)
    return codes, list(uniq)


def _over_levels(design: SurveyDesign, name: str) -> tuple[np.ndarray, list[Any]]:
    """Codes and levels of the ``over`` column: the design's cached level codes
    (factorised once per design), except for a categorical column, whose
    unused categories stay levels."""
    col = design.data[name]
    if isinstance(col.dtype, pd.CategoricalDtype):
        return _levels(col)
    codes, values = design.level_codes([name])
    return codes, list(values[0])


def standardize(design: SurveyDesign, by: str, population: Any, *,
                over: str | None = None,
                excluding_missing: Columns | None = None) -> SurveyDesign:
    """A design whose estimates are directly standardised to a population's shares.

    Parameters
    ----------
    design : Design or ReplicateDesign
    by : str
        The standardising variable (age group, size class, ...).
    population : dict, pandas.Series or sequence
        The standard population's count (or share) of each level of ``by``:
        keyed by level, or in the order of the levels (the categories of a
        categorical column, else the sorted values). Only the shares matter.
    over : str, optional
        The domains to be compared (estimate with ``by=over``); each keeps its
        estimated size. Without it the whole population is standardised.
    excluding_missing : str or list of str, optional
        Leave out rows with a missing value in these columns first (R's
        ``excluding.missing``), so that the standardisation is made on the
        rows analysed.

    Returns
    -------
    SurveyDesign
        The design post-stratified to the cells of ``by`` within ``over``;
        means by ``over`` on it are the standardised means, with standard
        errors that treat the standard shares as fixed.

    Notes
    -----
    With standard shares :math:`\\pi_k` of the levels :math:`k` of ``by`` and
    :math:`\\hat N_g` the estimated size of domain :math:`g` of ``over``, the
    weights are post-stratified to the cell counts
    :math:`\\pi_k \\hat N_g` (R's ``svystandardize``, which calls
    ``postStratify(..., partial = TRUE)``): a domain's mean becomes
    :math:`\\sum_k \\pi_k \\hat{\\bar Y}_{gk}`, the directly standardised mean.
    Cells without sample are left out, with a warning. Stata's
    ``svy: mean y, over(g) stdize(k) stdweight(pi)`` estimates the same
    standardised means; its standard errors (the linearisation of
    :math:`\\sum_k \\pi_k \\hat{\\bar Y}_{gk}`) have not been compared with these.

    References
    ----------
    .. [1] Lumley, T. (2010). *Complex Surveys*, sec. 7.1.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({"psu": range(8), "w": [1.0, 1, 2, 2, 1, 1, 2, 2],
    ...                    "size": ["small", "large"] * 4,
    ...                    "sector": ["a"] * 4 + ["b"] * 4,
    ...                    "y": [1.0, 3, 2, 4, 2, 5, 3, 6]})
    >>> d = ib.Design(df, weights="w", psu="psu")
    >>> std = ib.standardize(d, "size", {"large": 1, "small": 1}, over="sector")
    >>> ib.mean(std, "y", by="sector").estimate.round(4).tolist()
    [2.6667, 4.1667]
    """
    check_design(design, "standardize")
    by_col = as_column_list(by, "by")
    if len(by_col) != 1:
        raise EstimationError(f"standardize: by must be one column name; got {by!r}")
    by = by_col[0]
    over_cols = as_column_list(over, "over")
    if len(over_cols) > 1:
        raise EstimationError(f"standardize: over must be one column name; got {over!r}")
    check_columns(design.data, [by, *over_cols], "standardize")
    if excluding_missing is not None:
        excl = as_column_list(excluding_missing, "excluding_missing")
        check_columns(design.data, excl, "standardize")
        miss = np.zeros(design.n, dtype=bool)
        for c in excl:
            miss |= design.data[c].isna().to_numpy()
        if (miss & design.present).any():
            design = design.subset(~miss)
    codes, levels = _levels(design.data[by])
    present = design.present
    over_levels = [_over_levels(design, c) for c in over_cols]
    for name, cc in [(by, codes)] + [(c, lv[0]) for c, lv in zip(over_cols, over_levels,
                                                                 strict=True)]:
        if cc.min(initial=0) >= 0:
            continue
        bad = (cc < 0) & present
        if bad.any():
            raise MissingValueError(f"standardize: {name!r} has {int(bad.sum())} missing "
                                    f"value(s); leave them out (excluding_missing={name!r})")
    shares = _population_shares(population, levels, by)
    w = design.unmasked_weights
    if over_cols:
        ocodes, olevels = over_levels[0]
        free = (bincount(ocodes, weights=w, minlength=len(olevels)) if present.all() else
                bincount(ocodes[present], weights=w[present], minlength=len(olevels)))
        totals = {(lev, olev): float(s * f) for olev, f in zip(olevels, free, strict=True)
                  for lev, s in zip(levels, shares, strict=True)}
        cells = [by, over_cols[0]]
    else:
        N = float(w[present].sum())
        totals = {lev: float(s * N) for lev, s in zip(levels, shares, strict=True)}
        cells = [by]
    return design.poststratify(cells, totals, partial=True)


def _population_shares(population: Any, levels: list[Any], by: str) -> np.ndarray:
    if isinstance(population, (Mapping, pd.Series)):
        keys = list(population.keys())
        missing = [lev for lev in levels if lev not in population]
        extra = [k for k in keys if k not in set(levels)]
        if missing or extra:
            raise EstimationError(
                f"standardize: population must give every level of {by!r} "
                f"({', '.join(map(repr, levels))}); "
                + (f"missing {', '.join(map(repr, missing))}" if missing else "")
                + ("; " if missing and extra else "")
                + (f"not levels: {', '.join(map(repr, extra))}" if extra else ""))
        values = np.array([float(population[lev]) for lev in levels])
    else:
        values = np.asarray(population, dtype=float).ravel()
        if values.size != len(levels):
            raise EstimationError(f"standardize: population has {values.size} value(s); "
                                  f"{by!r} has {len(levels)} level(s) "
                                  f"({', '.join(map(repr, levels))})")
    if not np.isfinite(values).all() or (values < 0).any() or values.sum() <= 0:
        raise EstimationError(f"standardize: the population of {by!r} must be non-negative "
                              f"finite counts or shares with a positive sum; got "
                              f"{values.tolist()}")
    return values / values.sum()


# ---------------------------------------------------------------------------
# design and misspecification effects
# ---------------------------------------------------------------------------
def naive_design(design: SurveyDesign) -> Design:
    """The design ignored: the same rows, weights and domain, each row its own unit.

    Every row is a PSU of one stratum sampled with replacement (no strata, no
    clusters, no finite population correction, no weighting adjustment in the
    variance); the weights are the design's (final) weights.

    Parameters
    ----------
    design : Design or ReplicateDesign

    Returns
    -------
    Design
        Its estimates' variance is Stata's misspecified-model variance
        :math:`\\hat V_{msp}` (see :func:`design_effects`).

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({"psu": [1, 1, 2, 2], "w": [1.0, 2, 1, 2], "y": [1.0, 2, 4, 3]})
    >>> ib.naive_design(ib.Design(df, weights="w", psu="psu")).df
    3.0
    """
    check_design(design, "naive_design")
    data = design.data
    frame = data if isinstance(data, pd.DataFrame) else data.to_pandas()
    name = "__innobaro_weight__"
    while name in frame.columns:
        name += "_"
    naive = Design(frame.assign(**{name: np.asarray(design.unmasked_weights)}), weights=name)
    present = design.present
    return naive if present.all() else naive.subset(present)


def design_effects(design: SurveyDesign, estimator: Callable[..., Estimate], *args: Any,
                   **kwargs: Any) -> pd.DataFrame:
    """Design effects and misspecification effects of an estimate (Stata's ``estat effects``).

    Parameters
    ----------
    design : Design or ReplicateDesign
    estimator : callable
        An innobaro estimator taking the design first (:func:`~innobaro.mean`,
        :func:`~innobaro.total`, :func:`~innobaro.ratio`, :func:`var`, ...).
    *args, **kwargs
        Its other arguments.

    Returns
    -------
    pandas.DataFrame
        Indexed as the estimate: ``estimate``, ``se``, ``deff`` and ``deft``
        (where the estimator gives design effects), ``meff`` and ``meft``.

    Notes
    -----
    ``deff`` is :attr:`Estimate.deff`: the design variance over that of a
    simple random sample without replacement of the same size (Kish 1965;
    R's ``deff=TRUE``), ``deft`` its square root.

    ``meff`` is the misspecification effect (Skinner 1989; Stata's ``estat
    effects, meff``): the design variance :math:`\\hat V` over the variance
    :math:`\\hat V_{msp}` that the same estimator gets when the design is
    ignored, i.e. computed as if the rows were a simple random sample with
    replacement, with the same weights: every row its own PSU, one stratum,
    no finite population correction (:func:`naive_design`). For an estimator
    with influence values :math:`z_i` over the :math:`n` rows (zero outside a
    domain),

    .. math:: \\hat V_{msp} = \\frac{n}{n-1} \\sum_{i=1}^n (z_i - \\bar z)^2,

    which for a mean is :math:`\\frac{n}{n-1}\\sum_i w_i^2 (y_i - \\bar y)^2 /
    \\hat N^2`. ``meft`` is :math:`\\sqrt{\\text{meff}}`. Unlike ``deff``, the
    naive variance keeps the weights, so ``meff`` leaves out the effect of
    unequal weighting that ``deff`` includes.

    References
    ----------
    .. [1] Skinner, C. J. (1989). In *Analysis of Complex Surveys*, Wiley, 23-58.
    .. [2] Kish, L. (1965). *Survey Sampling*. Wiley.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({"psu": [1, 1, 2, 2, 3, 3], "w": [1.0, 2, 1, 2, 1, 2],
    ...                    "y": [1.0, 2, 4, 3, 6, 5]})
    >>> eff = ib.design_effects(ib.Design(df, weights="w", psu="psu"), ib.mean, "y")
    >>> eff[["deff", "deft", "meff", "meft"]].round(4)  # doctest: +NORMALIZE_WHITESPACE
               deff    deft    meff    meft
    variable
    y         6.825  2.6125  2.3975  1.5484
    """
    check_design(design, "design_effects")
    if not callable(estimator):
        raise TypeError(f"design_effects: estimator must be an innobaro estimator such as "
                        f"ib.mean, not {type(estimator).__name__}")
    est = estimator(design, *args, **kwargs)
    if not isinstance(est, Estimate):
        raise TypeError(f"design_effects: the estimator returned {type(est).__name__}, "
                        f"not an Estimate")
    naive = estimator(naive_design(design), *args, **kwargs)
    out = pd.DataFrame({"estimate": est.estimate.to_numpy(), "se": est.se.to_numpy()},
                       index=est.estimate.index)
    deff = est.deff.to_numpy()
    if not np.isnan(deff).all():
        out["deff"] = deff
        out["deft"] = est.deft.to_numpy()
    v = np.diag(est.vcov.to_numpy())
    v0 = np.diag(naive.vcov.to_numpy())
    with np.errstate(divide="ignore", invalid="ignore"):
        out["meff"] = v / v0
        out["meft"] = np.sqrt(v / v0)
    return out


__all__ += ["naive_design"]
