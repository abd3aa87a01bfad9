"""Tests of independence in a two-way table, as R's ``svychisq``.

:func:`chisq_test`: Rao-Scott first- and second-order corrections of
Pearson's statistic, Wald tests, and the saddlepoint and exact distributions
of Pearson's statistic. No variance is computed here: the covariance of the
cell shares is that of :func:`~innobaro.mean` of the cell indicators (of
:func:`~innobaro.total` of the cell totals for the Wald tests), from the
design's variance engine.

References
----------
.. [1] Rao, J. N. K. and Scott, A. J. (1981). The analysis of categorical
   data from complex sample surveys: chi-squared tests for goodness of fit
   and independence in two-way tables. *JASA* 76, 221-230.
.. [2] Rao, J. N. K. and Scott, A. J. (1984). On chi-squared tests for
   multiway contingency tables with cell proportions estimated from survey
   data. *Annals of Statistics* 12, 46-60.
.. [3] Thomas, D. R. and Rao, J. N. K. (1987). Small-sample comparisons of
   level and power for simple goodness-of-fit statistics under cluster
   sampling. *JASA* 82, 630-636.
.. [4] Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*.
   Wiley, ch. 6 (tables) and sec. 2.4 (contrasts).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import linalg, stats

from ._twoway import (
    categorical,
    check_missing,
    column_name,
    internal_names,
    levels_of,
    two_way,
)
from ._validate import check_columns
from .design import ReplicateDesign, SurveyDesign, check_design
from .distributions import exact_tail as _exact_tail
from .distributions import saddlepoint_tail as _saddlepoint_tail
from .errors import EstimationError
from .estimators import level_shares, mean, total
from .results import TestResult
from .variance import combined_df

__all__ = ["CHISQ_STATISTICS", "chisq_test", "goodness_of_fit"]


Statistic = Literal["F", "Chisq", "Wald", "adjWald", "lincom", "saddlepoint"]
CHISQ_STATISTICS = ("F", "Chisq", "Wald", "adjWald", "lincom", "saddlepoint")


def chisq_test(design: SurveyDesign, row: str, col: str, *, statistic: Statistic = "F",
               na_rm: bool = False, drop_empty: bool = False) -> TestResult:
    """Test of independence in a two-way table, corrected for the design.

    Parameters
    ----------
    design : Design or ReplicateDesign
        A domain (``design.subset(...)``) tests within the domain.
    row, col : str
        The two categorical variables (any dtype: the levels are the
        categories of a categorical column, else the distinct values).
    statistic : {"F", "Chisq", "Wald", "adjWald", "lincom", "saddlepoint"}
        ``"F"`` (default): Rao-Scott second-order correction as an F test;
        ``"Chisq"``: first-order (mean design effect) correction;
        ``"Wald"``, ``"adjWald"``: design-based Wald tests of the interaction;
        ``"saddlepoint"``, ``"lincom"``: Pearson's statistic against its
        asymptotic distribution (a weighted sum of chi-squares), by a
        saddlepoint approximation or computed exactly. The names and
        definitions are those of R's ``svychisq``.
    na_rm : bool, default False
        Leave out rows with a missing ``row`` or ``col`` (they stay in the
        design with weight zero). Without it, missing values are an error.
    drop_empty : bool, default False
        Leave out levels with no observations of positive weight in the rows
        analysed. Without it an empty row or column is an error naming the
        level.

    Returns
    -------
    TestResult
        ``statistic``, ``df`` (``(ndf, ddf)`` for the F tests, fractional for
        ``"F"``; the chi-square df for ``"Chisq"``; ``None`` for
        ``"saddlepoint"`` and ``"lincom"``), ``pvalue``, ``method``,
        ``observed`` and ``expected`` (estimated cell shares and the shares
        expected under independence). ``details`` holds ``pearson``
        (:math:`X^2`), ``design_effects`` (the eigenvalues
        :math:`\\delta_k` below), ``d0``, ``nu`` and ``n``.

    Notes
    -----
    Let :math:`\\hat p_{rc}` be the estimated population shares of the
    :math:`R \\times C` cells (the means of the cell indicators, with design
    covariance :math:`\\hat V` from the design's variance engine),
    :math:`\\hat p_{r\\cdot}, \\hat p_{\\cdot c}` the margins and :math:`n`
    the number of rows of the (domain of the) design. Pearson's statistic on
    the table scaled to :math:`n` is

    .. math:: X^2 = n \\sum_{rc} (\\hat p_{rc} - \\hat p_{r\\cdot}\\hat p_{\\cdot c})^2
              / (\\hat p_{r\\cdot}\\hat p_{\\cdot c}).

    With :math:`C` a basis of the interaction contrasts (the interaction
    columns of the saturated model, residualised on the main effects),
    :math:`D = \\mathrm{diag}(\\hat p)` and the design effect matrix

    .. math:: \\Delta = (C^\\top D^{-1} C / n)^{-1}\\, C^\\top D^{-1} \\hat V D^{-1} C,

    :math:`X^2` is asymptotically :math:`\\sum_k \\delta_k \\chi^2_{1,k}` with
    :math:`\\delta_k` the :math:`(R-1)(C-1)` eigenvalues of :math:`\\Delta`
    (Rao and Scott 1981, 1984). With :math:`\\bar\\delta` their mean,
    :math:`d_0 = (\\sum\\delta_k)^2/\\sum\\delta_k^2` and :math:`\\nu` the design
    degrees of freedom (PSUs minus strata; replicate designs: rank of the
    replicate weights minus one):

    - ``"Chisq"``: :math:`X^2/\\bar\\delta \\sim \\chi^2_{(R-1)(C-1)}`
      (first-order correction);
    - ``"F"``: :math:`F = X^2/\\mathrm{tr}\\,\\Delta \\sim F_{d_0,\\, d_0 \\nu}`
      (second-order correction, Rao and Scott 1984; the F form of Thomas and
      Rao 1987);
    - ``"Wald"``: with :math:`Y_{rc} = \\hat T_{rc} - \\hat T_{r\\cdot}\\hat
      T_{\\cdot c}/\\hat T` from the estimated totals and :math:`V_Y` its
      covariance (delta method on the design covariance of the totals),
      :math:`W = Y^\\top V_Y^{-1} Y` over the cells :math:`r, c \\ge 2`, and
      :math:`W/((R-1)(C-1)) \\sim F_{(R-1)(C-1),\\, \\nu}`;
    - ``"adjWald"``: :math:`W (\\nu - k + 1)/(k \\nu) \\sim F_{k,\\, \\nu-k+1}`
      with :math:`k = (R-1)(C-1)`;
    - ``"saddlepoint"``: the tail of :math:`\\sum\\delta_k\\chi^2_1` at
      :math:`X^2`, with the denominator of the F form: :math:`P(\\sum_k
      \\delta_k\\chi^2_{1,k} - (X^2/d)\\chi^2_{d} > 0)`, :math:`d = d_0\\nu`, by
      the Kuonen (1999) saddlepoint approximation applied as R does (the
      :math:`\\chi^2_d` term as :math:`\\lfloor d \\rfloor` one-df terms);
      replicate designs use the chi-square form
      :math:`P(\\sum_k \\delta_k\\chi^2_{1,k} > X^2)`, as R does;
    - ``"lincom"``: the same probabilities computed exactly by Imhof's (1961)
      inversion of the characteristic function (numerical integration to
      about 1e-10). R's ``"lincom"`` uses the CompQuadForm package, and
      falls back to the saddlepoint without it.

    R's ``svychisq`` removes missing values by default; innobaro asks for
    ``na_rm=True``. Stata's ``svy: tabulate`` reports the same second-order
    Rao-Scott F ("Design-based F") and the Wald tests ("Wald (Pearson)",
    "adjusted Wald").

    References
    ----------
    .. [1] Rao, J. N. K. and Scott, A. J. (1981). *JASA* 76, 221-230.
    .. [2] Rao, J. N. K. and Scott, A. J. (1984). *Annals of Statistics* 12, 46-60.
    .. [3] Thomas, D. R. and Rao, J. N. K. (1987). *JASA* 82, 630-636.
    .. [4] Kuonen, D. (1999). Saddlepoint approximations for distributions of
       quadratic forms in normal variables. *Biometrika* 86, 929-935.
    .. [5] Imhof, J. P. (1961). Computing the distribution of quadratic forms
       in normal variables. *Biometrika* 48, 419-426.
    .. [6] Lumley, T. (2010). *Complex Surveys*, sec. 6.2.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({
    ...     "psu": [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8],
    ...     "w": [3.0, 3, 2, 2, 4, 4, 1, 1, 3, 3, 2, 2, 4, 4, 1, 1],
    ...     "innovated": ["no", "yes", "no", "no", "yes", "yes", "no", "yes",
    ...                   "yes", "yes", "no", "yes", "no", "no", "yes", "no"],
    ...     "sector": ["industry"] * 8 + ["services"] * 8})
    >>> d = ib.Design(df, weights="w", psu="psu")
    >>> res = ib.chisq_test(d, "innovated", "sector")
    >>> res
    Pearson's X^2: Rao & Scott adjustment (second order, F)
    data: innovated by sector
    F = 0.192011, ndf = 1, ddf = 7, p-value = 0.6745
    >>> res.observed  # doctest: +NORMALIZE_WHITESPACE
    sector     industry  services
    innovated
    no              0.2     0.275
    yes             0.3     0.225
    """
    check_design(design, "chisq_test")
    if statistic not in CHISQ_STATISTICS:
        raise EstimationError(f"chisq_test: statistic must be one of "
                              f"{', '.join(CHISQ_STATISTICS)}; got {statistic!r}")
    tw = two_way(design, row, col, na_rm, drop_empty, "chisq_test")
    nr, nc = tw.nr, tw.nc
    K = nr * nc
    k = (nr - 1) * (nc - 1)
    n_rows = int((design.present & ~tw.dropped).sum())
    has_missing = bool(tw.missing.any())
    data_name = f"{tw.row} by {tw.col}"
    cell_name, row_name, col_name, one_name = internal_names(design, "cell", "row", "col",
                                                              "one")
    if statistic in ("Wald", "adjWald"):
        ext = design.with_columns({cell_name: categorical(tw.cell(), K),
                                   row_name: categorical(tw.r, nr),
                                   col_name: categorical(tw.c, nc),
                                   one_name: np.ones(design.n)})
        tot = total(ext, [cell_name, row_name, col_name, one_name], na_rm=has_missing)
        nu = combined_df(tot.df_values)
        T = tot.estimate.to_numpy()
        Tc, Tr, Tk, Tn = T[:K], T[K:K + nr], T[K + nr:K + nr + nc], T[-1]
        rows_of = np.tile(np.arange(nr), nc)  # cell -> row level (row fastest)
        cols_of = np.repeat(np.arange(nc), nr)
        # Y_rc = T_rc - T_r T_c / T and its Jacobian in (cells, rows, cols, total)
        Y = Tc - Tr[rows_of] * Tk[cols_of] / Tn
        J = np.zeros((K, T.size))
        J[:, :K] = np.eye(K)
        J[np.arange(K), K + rows_of] = -Tk[cols_of] / Tn
        J[np.arange(K), K + nr + cols_of] = -Tr[rows_of] / Tn
        J[:, -1] = Tr[rows_of] * Tk[cols_of] / Tn ** 2
        _check_cell_variance(tot.vcov.to_numpy(), data_name)
        VY = J @ tot.vcov.to_numpy() @ J.T
        use = (rows_of > 0) & (cols_of > 0)
        try:
            W = float(Y[use] @ np.linalg.solve(VY[np.ix_(use, use)], Y[use]))
        except np.linalg.LinAlgError:
            raise EstimationError(f"chisq_test: the covariance of the interaction terms of "
                                  f"{data_name} is singular; the Wald test is not "
                                  f"available (try statistic='F')") from None
        if statistic == "Wald":
            ndf, ddf = float(k), nu
            F = W / k
            title = "Design-based Wald test of association"
        else:
            ndf, ddf = float(k), nu - k + 1
            F = W * ddf / (k * nu)
            title = "Design-based adjusted Wald test of association"
        p = float(stats.f.sf(F, ndf, ddf)) if ddf > 0 else math.nan
        observed = tw.frame(Tc / Tn)
        pr, pc = Tr / Tn, Tk / Tn
        expected = tw.frame(pr[rows_of] * pc[cols_of])
        return TestResult(statistic=F, df=(ndf, ddf), pvalue=p, method=statistic, title=title,
                          statistic_name="F", data=data_name, observed=observed,
                          expected=expected,
                          details={"wald": W, "nu": nu, "n": n_rows})

    if isinstance(design, ReplicateDesign):
        ext = design.with_columns({cell_name: categorical(tw.cell(), K)})
        shares = mean(ext, cell_name, na_rm=has_missing)
    else:  # the cells as codes: no copy of the design, its cached domains and df
        shares = level_shares(design, tw.cell(), [str(k) for k in range(K)],
                              na_rm=has_missing, what="chisq_test")
    nu = combined_df(shares.df_values)
    p_hat = shares.estimate.to_numpy()
    V = shares.vcov.to_numpy()
    _check_cell_variance(V, data_name)
    P = p_hat.reshape(nc, nr).T
    pr, pc = P.sum(axis=1), P.sum(axis=0)
    E = np.outer(pr, pc)
    pearson = float(n_rows * ((P - E) ** 2 / E).sum())
    delta, eig = _design_effect_matrix(p_hat, V, nr, nc, n_rows)
    trace = float(np.trace(delta))
    d0 = trace ** 2 / float(np.trace(delta @ delta))
    is_rep = isinstance(design, ReplicateDesign)
    details = {"pearson": pearson, "design_effects": eig, "mean_design_effect": trace / k,
               "d0": d0, "nu": nu, "n": n_rows}
    observed, expected = tw.frame(p_hat), tw.frame(E.T.ravel())
    common: dict[str, Any] = {"data": data_name, "observed": observed,
                              "expected": expected, "details": details}
    if statistic == "F":
        F = pearson / trace
        ddf = d0 * nu
        p = float(stats.f.sf(F, d0, ddf)) if ddf > 0 else math.nan
        return TestResult(statistic=F, df=(d0, ddf), pvalue=p, statistic_name="F",
                          method="F",
                          title="Pearson's X^2: Rao & Scott adjustment (second order, F)",
                          **common)
    if statistic == "Chisq":
        p = float(stats.chi2.sf(pearson / (trace / k), k))
        return TestResult(statistic=pearson, df=(float(k), math.inf), pvalue=p,
                          statistic_name="X-squared", method="Chisq",
                          title="Pearson's X^2: Rao & Scott adjustment (first order)",
                          **common)
    ddf = math.inf if is_rep else d0 * nu
    if statistic == "saddlepoint":
        p = _saddlepoint_tail(pearson, eig, ddf)
        title = "Pearson's X^2: saddlepoint approximation"
    else:
        p = _exact_tail(pearson, eig, ddf)
        title = "Pearson's X^2: asymptotic exact distribution"
    return TestResult(statistic=pearson, df=(float(k), ddf), pvalue=p,
                      statistic_name="X-squared", method=statistic, title=title, **common)


def _check_cell_variance(V: np.ndarray, data_name: str) -> None:
    """A named error where the cells' covariance leaves nothing to test."""
    if not np.isfinite(V).all():
        raise EstimationError(
            f"chisq_test: the variance of the cells of {data_name} cannot be estimated (it "
            f"is NaN): some stratum or stage has no variance estimate, for example a single "
            f"unit at a later stage under lonely_psu='average'. Choose another lonely_psu "
            f"rule or collapse strata")
    if not (V != 0).any():
        raise EstimationError(
            f"chisq_test: the cells of {data_name} have no sampling variance (a census, or "
            f"certainty units only): the table is the population's own, and there is no "
            f"sampling error to test against")


def _design_effect_matrix(p: np.ndarray, V: np.ndarray, nr: int, nc: int, n: int
                          ) -> tuple[np.ndarray, np.ndarray]:
    """Rao-Scott design effect matrix Delta and its eigenvalues (descending)."""
    K = nr * nc
    rows_of = np.tile(np.arange(nr), nc)
    cols_of = np.repeat(np.arange(nc), nr)
    main = [np.ones(K)]
    main += [(rows_of == i).astype(float) for i in range(1, nr)]
    main += [(cols_of == j).astype(float) for j in range(1, nc)]
    X1 = np.column_stack(main)
    X2 = np.column_stack([((rows_of == i) & (cols_of == j)).astype(float)
                          for j in range(1, nc) for i in range(1, nr)])
    coef, *_ = np.linalg.lstsq(X1, X2, rcond=None)
    C = X2 - X1 @ coef  # interaction contrasts orthogonal to the main effects
    with np.errstate(divide="ignore"):
        dinv = np.where(p > 0, 1.0 / p, 0.0)
    DC = dinv[:, None] * C
    A = C.T @ DC / n
    B = DC.T @ V @ DC
    B = (B + B.T) / 2
    try:
        delta = np.linalg.solve(A, B)
    except np.linalg.LinAlgError:
        raise EstimationError("chisq_test: the table's interaction contrasts are "
                              "degenerate (too many empty cells)") from None
    try:
        eig = linalg.eigh(B, A, eigvals_only=True)
    except (linalg.LinAlgError, ValueError):
        eig = np.real(np.linalg.eigvals(delta))
    return delta, np.sort(eig)[::-1]


def goodness_of_fit(design: SurveyDesign, y: str, p: Any, *, na_rm: bool = False
                    ) -> TestResult:
    """Design-based test that a categorical variable has given population shares.

    Parameters
    ----------
    design : Design or ReplicateDesign
        A domain (``design.subset(...)``) tests within the domain.
    y : str
        A categorical column (any dtype: the levels are the categories of a
        categorical column, else the distinct values in sorted order).
    p : dict, pandas.Series or sequence
        The shares under the null hypothesis, keyed by level or in the order
        of the levels; rescaled to sum to one. Every level needs a positive
        share.
    na_rm : bool, default False
        Leave out rows with a missing ``y`` (they stay in the design with
        weight zero).

    Returns
    -------
    TestResult
        ``statistic`` (Pearson's :math:`X^2` on the estimated totals),
        ``df`` (``(nu, inf)``, the Satterthwaite degrees of freedom below),
        ``pvalue``, ``method`` ``"Chisq"``. ``details`` holds ``scale``,
        ``lambda`` (the eigenvalues), ``totals`` (estimated counts of the
        levels) and ``expected`` (the null shares times the estimated size).

    Notes
    -----
    R's ``svygofchisq``. With :math:`\\hat T_k` the estimated population
    count of level :math:`k` (:func:`~innobaro.total`, covariance
    :math:`\\hat V` from the design), :math:`\\hat N = \\sum_k \\hat T_k` and
    :math:`E_k = p_k \\hat N`,

    .. math:: X^2 = \\sum_k (\\hat T_k - E_k)^2 / E_k = \\sum_k X_k^2,
              \\quad X_k = (\\hat T_k - E_k)/\\sqrt{E_k}.

    Under the null, :math:`X^2` is asymptotically
    :math:`\\sum_k \\lambda_k \\chi^2_{1,k}`, :math:`\\lambda_k` the eigenvalues of
    the covariance :math:`J \\hat V J^\\top` of the :math:`X_k` (delta method,
    :math:`J` the Jacobian of :math:`X_k` in the :math:`\\hat T`). As R, the p-value
    is Satterthwaite's approximation: :math:`X^2/s \\sim \\chi^2_\\nu` with
    :math:`s = \\sum\\lambda_k^2/\\sum\\lambda_k` and
    :math:`\\nu = (\\sum\\lambda_k)^2/\\sum\\lambda_k^2`. Stata has no direct
    equivalent; ``svy: proportion`` followed by ``test`` gives a Wald test of
    the same hypothesis.

    References
    ----------
    .. [1] Rao, J. N. K. and Scott, A. J. (1981). *JASA* 76, 221-230.
    .. [2] Satterthwaite, F. E. (1946). An approximate distribution of
       estimates of variance components. *Biometrics Bulletin* 2, 110-114.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({"psu": [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6],
    ...                    "w": [3.0, 3, 2, 2, 4, 4, 1, 1, 3, 3, 2, 2],
    ...                    "sector": list("aabcabbacaab")})
    >>> res = ib.goodness_of_fit(ib.Design(df, weights="w", psu="psu"), "sector",
    ...                          {"a": 0.5, "b": 0.3, "c": 0.2})
    >>> round(res.statistic, 4), round(res.pvalue, 4)
    (0.2333, 0.9457)
    """
    check_design(design, "goodness_of_fit")
    y = column_name(y, "y")
    check_columns(design.data, [y], "goodness_of_fit")
    missing = check_missing(design, [y], na_rm, "goodness_of_fit")
    column = design.data[y]
    categorical_y = isinstance(column.dtype, pd.CategoricalDtype)
    if categorical_y:  # its categories are the levels (total() reads the codes)
        codes, levels = np.empty(0, dtype=np.int64), list(column.cat.categories)
    else:
        codes, levels = levels_of(column)
    K = len(levels)
    if K < 2:
        raise EstimationError(f"goodness_of_fit: {y!r} has {K} level(s); a test of shares "
                              f"needs at least two")
    shares = _null_shares(p, levels, y)
    if categorical_y:  # total() reads a categorical column's levels as levels_of does
        tot = total(design, y, na_rm=bool(missing.any()))
    else:
        (name,) = internal_names(design, "level")
        ext = design.with_columns({name: categorical(codes, K)})
        tot = total(ext, name, na_rm=bool(missing.any()))
    T = tot.estimate.to_numpy()
    V = tot.vcov.to_numpy()
    if not np.isfinite(V).all() or not (V != 0).any():
        why = "no variance estimate (NaN)" if not np.isfinite(V).all() else \
            "no sampling variance"
        raise EstimationError(
            f"goodness_of_fit: the estimated counts of the levels of {y!r} have {why}"
            f": the design fixes them (e.g. {y!r} is the stratum), or a stratum has no "
            f"variance estimate, so there is no sampling error to test against")
    N = T.sum()
    E = shares * N
    X = (T - E) / np.sqrt(E)
    # Jacobian of X_k = (T_k - p_k N) / sqrt(p_k N) in the totals
    J = (np.eye(K) - shares[:, None]) / np.sqrt(E)[:, None] \
        - ((T - E) * shares / (2 * E ** 1.5))[:, None]
    VX = J @ V @ J.T
    lam = np.sort(np.linalg.eigvalsh((VX + VX.T) / 2))[::-1]
    stat = float(X @ X)
    scale = float((lam ** 2).sum() / lam.sum())
    nu = float(lam.sum() ** 2 / (lam ** 2).sum())
    pvalue = float(stats.chi2.sf(stat / scale, nu))
    index = pd.Index(levels, name=y)
    return TestResult(statistic=stat, df=(nu, math.inf), pvalue=pvalue, method="Chisq",
                      title="Design-based chi-squared test for given probabilities",
                      statistic_name="X-squared", data=y,
                      details={"scale": scale, "lambda": lam,
                               "totals": pd.Series(T, index=index, name="total"),
                               "expected": pd.Series(E, index=index, name="expected"),
                               "p": pd.Series(shares, index=index, name="p")})


def _null_shares(p: Any, levels: list[Any], y: str) -> np.ndarray:
    if isinstance(p, (Mapping, pd.Series)):
        missing = [lev for lev in levels if lev not in p]
        extra = [k for k in p.keys() if k not in set(levels)]
        if missing or extra:
            raise EstimationError(
                f"goodness_of_fit: p must give a share for every level of {y!r} "
                f"({', '.join(map(repr, levels))})"
                + (f"; missing {', '.join(map(repr, missing))}" if missing else "")
                + (f"; not levels: {', '.join(map(repr, extra))}" if extra else ""))
        values = np.array([float(p[lev]) for lev in levels])
    else:
        values = np.asarray(p, dtype=float).ravel()
        if values.size != len(levels):
            raise EstimationError(f"goodness_of_fit: p has {values.size} share(s); {y!r} has "
                                  f"{len(levels)} level(s) ({', '.join(map(repr, levels))})")
    if not np.isfinite(values).all() or (values <= 0).any():
        bad = [repr(levels[i]) for i in np.flatnonzero(~(np.isfinite(values) & (values > 0)))]
        raise EstimationError(f"goodness_of_fit: the share of level {', '.join(bad)} of {y!r} "
                              f"must be positive and finite (a level with share zero cannot "
                              f"be tested: leave it out of the data)")
    return values / values.sum()
