"""Design-based tests and comparisons.

- :func:`chisq_test`: tests of independence in a two-way table (Rao-Scott
  first- and second-order corrections, Wald tests, the saddlepoint and exact
  distributions of Pearson's statistic), as R's ``svychisq``;
- :func:`ttest`: difference of the means of two groups, as R's ``svyttest``;
- :func:`contrast`: linear and nonlinear combinations of the entries of an
  :class:`~innobaro.Estimate` (delta method), as R's ``svycontrast``;
- :func:`compare`: all pairwise (or against a reference) differences
  between domain means or shares, with optional Holm or Bonferroni
  adjustment;
- :func:`compare_surveys`: the difference of one estimate between two
  independent samples (two waves of a barometer);
- :func:`table`: weighted counts and shares of a one- or two-way table with
  standard errors.

No function here computes a variance. The covariance of the cell shares of a
table is that of :func:`~innobaro.mean` of the cell indicators, the
covariance of cell totals that of :func:`~innobaro.total`, and a contrast
uses the ``vcov`` of the estimate it combines; both come from the design's
variance engine (linearisation or replicate weights). This module only
combines them: linear algebra, the delta method and reference distributions.

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

import ast
import math
import re
import warnings
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import linalg, stats

from ._validate import as_column_list, check_columns
from .design import ReplicateDesign, SurveyDesign
from .distributions import exact_tail as _exact_tail
from .distributions import saddlepoint_tail as _saddlepoint_tail
from .errors import DomainError, EstimationError, MissingValueError
from .estimators import mean, total
from .intervals import t_quantile
from .models import fit_matrix
from .results import Estimate, TestResult, as_estimate

try:
    from numpy.exceptions import ComplexWarning
except ImportError:  # numpy < 1.25
    from numpy import ComplexWarning  # type: ignore[attr-defined,no-redef]

__all__ = [
    "Nonlinear",
    "chisq_test",
    "compare",
    "compare_surveys",
    "contrast",
    "table",
    "ttest",
]

Statistic = Literal["F", "Chisq", "Wald", "adjWald", "lincom", "saddlepoint"]
CHISQ_STATISTICS = ("F", "Chisq", "Wald", "adjWald", "lincom", "saddlepoint")


# ==========================================================================
# helpers shared by the tests
# ==========================================================================
def _check_design(design: Any, what: str) -> None:
    if not isinstance(design, SurveyDesign):
        raise TypeError(f"{what}: design must be an innobaro Design or ReplicateDesign, "
                        f"not {type(design).__name__}")


def _column_name(spec: Any, what: str) -> str:
    names = as_column_list(spec, what)
    if len(names) != 1:
        raise EstimationError(f"{what} must be one column name; got {spec!r}")
    return names[0]


def _internal_names(design: SurveyDesign, *names: str) -> list[str]:
    """Column names for internal indicator columns, not clashing with the data's."""
    taken = set(map(str, design.data.columns))
    out = []
    for name in names:
        candidate = f"__innobaro_{name}__"
        while candidate in taken:
            candidate += "_"
        out.append(candidate)
    return out


def _levels(series: pd.Series) -> tuple[np.ndarray, list[Any]]:
    """Codes (-1 where missing) and levels of a column: the categories of a
    categorical column, else its distinct values in sorted order."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return (series.cat.codes.to_numpy().astype(np.int64),
                list(series.cat.categories))
    try:
        codes, uniques = pd.factorize(series, sort=True)
    except TypeError:  # unorderable mixed types
        codes, uniques = pd.factorize(series.astype(str), sort=True)
    return codes.astype(np.int64), list(uniques)


def _categorical(codes: np.ndarray, k: int) -> pd.Categorical:
    # pandas-stubs want an Index for categories; pandas takes any list-like
    return pd.Categorical.from_codes(  # type: ignore[call-overload]
        codes, categories=list(range(k)))


def _check_missing(design: SurveyDesign, columns: Sequence[str], na_rm: bool, what: str
                   ) -> np.ndarray:
    """Rows of the domain with a missing value in any of ``columns``."""
    present = design.present
    missing = np.zeros(design.n, dtype=bool)
    counts = {}
    for name in columns:
        m = design.data[name].isna().to_numpy() & present
        if m.any():
            counts[name] = int(m.sum())
        missing |= m
    if counts and not na_rm:
        listed = ", ".join(f"{c!r} ({k} missing)" for c, k in counts.items())
        raise MissingValueError(f"{what}: {listed}; pass na_rm=True to leave those rows "
                                f"out (they stay in the design with weight zero)")
    return missing


@dataclass
class _TwoWay:
    """Codes of a two-way table over the rows analysed."""

    row: str
    col: str
    r: np.ndarray  # (n,) row level, -1 where missing
    c: np.ndarray
    row_levels: list[Any]
    col_levels: list[Any]
    missing: np.ndarray  # (n,) rows of the domain with a missing row or col value

    @property
    def nr(self) -> int:
        return len(self.row_levels)

    @property
    def nc(self) -> int:
        return len(self.col_levels)

    def cell(self) -> np.ndarray:
        """Cell code, row level fastest (R's ``interaction(row, col)``); -1 if missing."""
        return np.where((self.r >= 0) & (self.c >= 0), self.r + self.nr * self.c, -1)

    def frame(self, values: np.ndarray) -> pd.DataFrame:
        """(nr * nc,) cell values, row level fastest, as a row-by-col DataFrame."""
        return pd.DataFrame(values.reshape(self.nc, self.nr).T,
                            index=pd.Index(self.row_levels, name=self.row),
                            columns=pd.Index(self.col_levels, name=self.col))


def _two_way(design: SurveyDesign, row: Any, col: Any, na_rm: bool, drop_empty: bool,
             what: str) -> _TwoWay:
    row = _column_name(row, "row")
    col = _column_name(col, "col")
    check_columns(design.data, [row, col], what)
    if row == col:
        raise EstimationError(f"{what}: row and col are the same column {row!r}")
    missing = _check_missing(design, [row, col], na_rm, what)
    r, row_levels = _levels(design.data[row])
    c, col_levels = _levels(design.data[col])
    # weighted margins over the rows analysed: a level without weight is an
    # empty row or column of the table
    w = design.weights.to_numpy()
    ok = design.present & ~missing & (r >= 0) & (c >= 0)
    margins = []
    for codes, levels, name in ((r, row_levels, row), (c, col_levels, col)):
        wsum = np.bincount(codes[ok], weights=w[ok], minlength=len(levels))
        empty = wsum <= 0
        if empty.any():
            if not drop_empty:
                names = ", ".join(repr(levels[i]) for i in np.flatnonzero(empty))
                raise DomainError(
                    f"{what}: the table has an empty {'row' if name == row else 'column'}: "
                    f"level {names} of {name!r} has no observations with positive weight "
                    f"in the rows analysed. Leave the level out (drop_empty=True, or a "
                    f"categorical column without it) or restrict the design to the "
                    f"levels present")
            keep = np.flatnonzero(~empty)
            remap = np.full(len(levels), -1, dtype=np.int64)
            remap[keep] = np.arange(keep.size)
            codes = np.where(codes >= 0, remap[np.maximum(codes, 0)], -1)
            levels = [levels[i] for i in keep]
        margins.append((codes, levels))
    (r, row_levels), (c, col_levels) = margins
    for levels, name in ((row_levels, row), (col_levels, col)):
        if len(levels) < 2:
            raise DomainError(f"{what}: {name!r} has {len(levels)} level(s) with observations "
                              f"in the rows analysed ({', '.join(map(repr, levels))}); a "
                              f"test of independence needs at least two")
    return _TwoWay(row=row, col=col, r=r, c=c, row_levels=row_levels,
                   col_levels=col_levels, missing=missing)


# ==========================================================================
# chisq_test
# ==========================================================================
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
    _check_design(design, "chisq_test")
    if statistic not in CHISQ_STATISTICS:
        raise EstimationError(f"chisq_test: statistic must be one of "
                              f"{', '.join(CHISQ_STATISTICS)}; got {statistic!r}")
    tw = _two_way(design, row, col, na_rm, drop_empty, "chisq_test")
    nr, nc = tw.nr, tw.nc
    K = nr * nc
    k = (nr - 1) * (nc - 1)
    n_rows = int(design.present.sum())
    has_missing = bool(tw.missing.any())
    data_name = f"{tw.row} by {tw.col}"
    cell_name, row_name, col_name, one_name = _internal_names(design, "cell", "row", "col",
                                                              "one")
    cells = _categorical(tw.cell(), K)

    if statistic in ("Wald", "adjWald"):
        ext = design.with_columns({cell_name: cells, row_name: _categorical(tw.r, nr),
                                   col_name: _categorical(tw.c, nc),
                                   one_name: np.ones(design.n)})
        tot = total(ext, [cell_name, row_name, col_name, one_name], na_rm=has_missing)
        nu = _single_df(tot)
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

    ext = design.with_columns({cell_name: cells})
    shares = mean(ext, cell_name, na_rm=has_missing)
    nu = _single_df(shares)
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


def _single_df(est: Estimate) -> float:
    df = est.df
    return float(df) if isinstance(df, float) else float(np.min(df.to_numpy()))


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



# ==========================================================================
def ttest(design: SurveyDesign, y: str, group: str, *, na_rm: bool = False,
          level: float = 0.95) -> TestResult:
    """Design-based t-test of the difference between the means of two groups.

    Parameters
    ----------
    design : Design or ReplicateDesign
    y : str
        Numeric column.
    group : str
        Column with exactly two levels among the rows analysed (any dtype).
    na_rm : bool, default False
        Leave out rows with a missing ``y`` or ``group``.
    level : float, default 0.95
        Level of the interval of ``TestResult.ci()``.

    Returns
    -------
    TestResult
        ``statistic`` (t), ``df`` (``(1, nu)``), ``pvalue`` (two-sided), ``estimate`` (the
        mean of the second level minus the mean of the first) and ``se``;
        ``ci()`` gives the t interval. ``details["means"]`` holds the two
        group means.

    Notes
    -----
    With :math:`\\hat{\\bar Y}_1, \\hat{\\bar Y}_2` the domain means of the
    first and second level (sorted values, or the order of a categorical's
    categories) and their design covariance from :func:`~innobaro.mean`,

    .. math:: t = \\frac{\\hat{\\bar Y}_2 - \\hat{\\bar Y}_1}
              {\\sqrt{v_{11} + v_{22} - 2 v_{12}}}

    on :math:`\\nu - 1` degrees of freedom, :math:`\\nu` the design degrees
    of freedom of the rows analysed (on a replicate design, of all its rows,
    those with missing values included, as R counts them). This is R's ``svyttest(y ~ group)``: the
    coefficient of ``group`` in ``svyglm(y ~ group)``, whose residual degrees
    of freedom are ``degf(design) - 1``. Stata's ``svy: mean y, over(group)``
    followed by ``test`` gives the same t with the design degrees of freedom
    :math:`\\nu`.

    References
    ----------
    .. [1] Lumley, T. (2010). *Complex Surveys*, sec. 2.4 and 5.2.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({"psu": range(10), "w": [1.0, 2, 1, 2, 1, 2, 1, 2, 1, 2],
    ...                    "sales": [3.0, 4, 5, 4, 6, 7, 8, 6, 9, 7],
    ...                    "sector": ["a"] * 5 + ["b"] * 5})
    >>> res = ib.ttest(ib.Design(df, weights="w", psu="psu"), "sales", "sector")
    >>> res
    Design-based t-test
    data: sales by sector ('b' minus 'a')
    t = 5.22853, df = 8, p-value = 0.0007943
    estimate = 2.83929, se = 0.543037
    >>> [round(v, 4) for v in res.ci()]
    [1.587, 4.0915]
    """
    _check_design(design, "ttest")
    y = _column_name(y, "y")
    group = _column_name(group, "group")
    check_columns(design.data, [y, group], "ttest")
    col = design.data[y]
    if isinstance(col.dtype, pd.CategoricalDtype) or not (
            pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
        raise EstimationError(f"ttest: y column {y!r} must be numeric, not {col.dtype}")
    missing = _check_missing(design, [y, group], na_rm, "ttest")
    d = design.subset(~missing) if missing.any() else design
    codes, levels = _levels(design.data[group])
    rows = d.present & (codes >= 0)
    seen = np.unique(codes[rows])
    if seen.size != 2:
        found = ", ".join(repr(levels[i]) for i in seen[:10])
        more = ", ..." if seen.size > 10 else ""
        raise EstimationError(f"ttest: group column {group!r} has {seen.size} level(s) in the "
                              f"rows analysed ({found}{more}); ttest compares two groups. "
                              f"Use compare() for pairwise comparisons of more groups, or "
                              f"subset the design to two levels")
    # R's svyttest: the coefficient of the group indicator in svyglm(y ~ group),
    # one statistic on the whole design (so a lonely-PSU rule acts on the
    # design's strata, not on each group's)
    kept = ~missing & (codes >= 0)
    fit_rows = design.present & kept
    x = (codes[fit_rows] == seen[1]).astype(float)
    yv = design.data[y].to_numpy(dtype=float)[fit_rows]
    wpos = design.weights.to_numpy()[fit_rows] > 0
    if not (wpos & (x == 1)).any() or not (wpos & (x == 0)).any():
        raise DomainError(f"ttest: a level of {group!r} has no rows with positive weight")
    lv = [levels[i] for i in seen]
    m = fit_matrix(design, yv, np.column_stack([np.ones_like(x), x]), kept,
                   ["Intercept", "group"], label=f"{y} ~ {group}")
    diff = float(m.params.iloc[1])
    se = float(m.bse.iloc[1])
    df = m.df_resid
    t = diff / se if se > 0 else math.copysign(math.inf, diff)
    p = float(2 * stats.t.sf(abs(t), df)) if df > 0 else math.nan
    b0 = float(m.params.iloc[0])
    return TestResult(statistic=t, df=(1.0, df), pvalue=p, method="t",
                      title="Design-based t-test", statistic_name="t",
                      data=f"{y} by {group} ({lv[1]!r} minus {lv[0]!r})",
                      estimate=diff, se=se, level=level,
                      details={"means": pd.Series([b0, b0 + diff],
                                                  index=pd.Index(lv, name=group), name=y)})


# ==========================================================================
# contrast
# ==========================================================================
def _linear(est: Estimate, G: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """G theta and G V G' over the entries G uses."""
    theta = est.estimate.to_numpy()
    V = est.vcov.to_numpy()
    used = (G != 0).any(axis=0)
    Gu = G[:, used]
    return Gu @ theta[used], Gu @ V[np.ix_(used, used)] @ Gu.T


def _entry_df(est: Estimate) -> np.ndarray:
    df = est.df
    if isinstance(df, float):
        return np.full(len(est), df)
    return df.to_numpy(dtype=float)


class _Labels:
    """Finds an Estimate's entries by label, short domain label or R-style name.

    - the label itself: a value of ``estimate.estimate.index`` (a tuple for
      domain estimates);
    - for domain estimates of one variable, the domain alone: the by-value,
      or a tuple of by-values for several by columns;
    - names as R's ``svyby`` gives them: the by-values joined by ``.``, then
      ``:variable`` (the domain alone when there is one variable); for an
      estimate without domains, the label as a string.
    """

    def __init__(self, index: pd.Index) -> None:
        self.index = index
        self.labels = list(index)
        self.lookup: dict[Hashable, int | None] = {}
        if isinstance(index, pd.MultiIndex):
            one_var = index.get_level_values(-1).nunique() == 1
            for i, lab in enumerate(self.labels):
                self._add(lab, i)
                dom = tuple(lab[:-1])
                for dom_name in _names(dom):
                    self._add(f"{dom_name}:{lab[-1]}", i)
                    if one_var:
                        self._add(dom_name, i)
                if one_var:
                    self._add(dom if len(dom) > 1 else dom[0], i)
        else:
            for i, lab in enumerate(self.labels):
                self._add(lab, i)
                for name in _names((lab,)):
                    self._add(name, i)

    def _add(self, key: Hashable, i: int) -> None:
        try:
            hash(key)
        except TypeError:
            return
        if key in self.lookup and self.lookup[key] != i:
            self.lookup[key] = None  # ambiguous
        else:
            self.lookup[key] = i

    def find(self, key: Any) -> int | None:
        if isinstance(key, list):
            key = tuple(key)
        try:
            return self.lookup.get(key)
        except TypeError:
            return None

    def positions(self, keys: Sequence[Any], what: str) -> list[int]:
        out: list[int] = []
        unmatched: list[Any] = []
        ambiguous: list[Any] = []
        for key in keys:
            i = self.find(key)
            if i is None:
                (ambiguous if _hashable(key) and key in self.lookup else unmatched).append(key)
            out.append(-1 if i is None else i)
        if unmatched or ambiguous:
            parts = []
            if unmatched:
                parts.append(f"{', '.join(map(repr, unmatched))} "
                             f"{'is' if len(unmatched) == 1 else 'are'} not among the "
                             f"estimate's entries")
            if ambiguous:
                parts.append(f"{', '.join(map(repr, ambiguous))} matches several entries")
            preview = ", ".join(repr(lab) for lab in self.labels[:8])
            if len(self.labels) > 8:
                preview += ", ..."
            raise EstimationError(f"{what}: {'; '.join(parts)}. The entries are {preview} "
                                  f"(labels of estimate.estimate.index)")
        return out


def _hashable(key: Any) -> bool:
    try:
        hash(key)
    except TypeError:
        return False
    return True


def _names(values: tuple) -> list[str]:
    """R-style names of a tuple of label values joined by '.' (with the plain and the
    R formatting of numbers)."""
    plain = ".".join(str(v) for v in values)
    r_like = ".".join(_r_format(v) for v in values)
    return [plain] if r_like == plain else [plain, r_like]


def _r_format(v: Any) -> str:
    if isinstance(v, (float, np.floating)) and math.isfinite(v):
        return f"{float(v):.15g}"
    return str(v)


class _Values(Mapping):
    """The entries of an estimate, by any key :class:`_Labels` understands.

    Passed to a user's function; records which entries it reads.
    """

    def __init__(self, labels: _Labels, values: np.ndarray) -> None:
        self._labels = labels
        self._values = values
        self.used: set[int] = set()

    def __getitem__(self, key: Any) -> Any:
        i = self._labels.find(key)
        if i is None:
            self._labels.positions([key], "contrast")  # raises, naming the key
        assert i is not None
        self.used.add(i)
        return self._values[i]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._labels.labels)

    def __len__(self) -> int:
        return len(self._labels.labels)


@dataclass(frozen=True)
class Nonlinear:
    """A nonlinear function of the entries of an estimate, for :func:`contrast`.

    Parameters
    ----------
    fn : callable
        ``fn(values) -> float``, where ``values[key]`` is the entry with that
        key (a label of ``estimate.estimate.index``, or a short or R-style
        name; see :func:`contrast`). Written with arithmetic and numpy
        functions (``np.log``, ``np.exp``, ...), its derivative is computed
        by complex-step differentiation, exact to rounding error.
    gradient : callable, optional
        ``gradient(values) -> {key: derivative}`` (or a sequence with one
        derivative per entry). Needed only for functions that are not
        analytic (``abs``, ``max``, branches) or do not accept complex input.
    name : str
        Label of the result.

    Examples
    --------
    >>> import numpy as np
    >>> import innobaro as ib
    >>> spec = ib.contrast.nonlinear(lambda v: np.log(v["a"] / v["b"]), name="log(a/b)")
    >>> spec.name
    'log(a/b)'
    """

    fn: Callable[[Mapping], Any]
    gradient: Callable[[Mapping], Any] | None = None
    name: str = "contrast"


#: functions allowed in contrast expressions; all analytic and complex-safe
def _logit(z: Any) -> Any:
    return np.log(z / (1 - z))


def _expit(z: Any) -> Any:
    return 1 / (1 + np.exp(-z))


_FUNCTIONS: dict[str, Callable[[Any], Any]] = {
    "log": np.log, "exp": np.exp, "sqrt": np.sqrt, "log10": np.log10, "log2": np.log2,
    "log1p": np.log1p, "expm1": np.expm1, "sin": np.sin, "cos": np.cos, "tan": np.tan,
    "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan, "sinh": np.sinh,
    "cosh": np.cosh, "tanh": np.tanh, "logit": _logit, "qlogis": _logit,
    "expit": _expit, "plogis": _expit,
}
_CONSTANTS = {"pi": math.pi}
_DOTTED = re.compile(r"(?<![\w.])(?:[A-Za-z]|\.(?![0-9]))[\w.]*")


class _Expression:
    """An arithmetic expression in the entries of an estimate (R syntax).

    Names are entries (see :class:`_Labels`); a name with characters other
    than letters, digits, ``_`` and ``.`` is written in backquotes, as in R.
    ``^`` and ``**`` are powers.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        quoted: dict[str, str] = {}

        def hold(name: str) -> str:
            key = f"_q{len(quoted)}_"
            quoted[key] = name
            return key

        src = re.sub(r"`([^`]*)`", lambda m: hold(m.group(1)), text)
        src = _DOTTED.sub(lambda m: hold(m.group(0)) if "." in m.group(0) else m.group(0),
                          src)
        src = src.replace("^", "**")
        try:
            self.tree = ast.parse(src.strip(), mode="eval")
        except SyntaxError as exc:
            raise EstimationError(f"contrast: cannot read the expression {text!r}: "
                                  f"{exc.msg}") from None
        self.quoted = quoted
        self.names: list[str] = []
        self._collect(self.tree.body)

    def _name(self, node: ast.Name) -> str:
        return self.quoted.get(node.id, node.id)

    def _collect(self, node: ast.AST) -> None:
        if isinstance(node, ast.BinOp):
            if not isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow)):
                self._unsupported(node)
            self._collect(node.left)
            self._collect(node.right)
        elif isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, (ast.USub, ast.UAdd)):
                self._unsupported(node)
            self._collect(node.operand)
        elif isinstance(node, ast.Call):
            if (not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS
                    or len(node.args) != 1 or node.keywords):
                fname = node.func.id if isinstance(node.func, ast.Name) else "?"
                raise EstimationError(
                    f"contrast: {fname}() in {self.text!r} is not available; expressions "
                    f"may use {', '.join(sorted(_FUNCTIONS))} with one argument")
            self._collect(node.args[0])
        elif isinstance(node, ast.Name):
            name = self._name(node)
            if name not in self.names:
                self.names.append(name)
        elif isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            pass
        else:
            self._unsupported(node)

    def _unsupported(self, node: ast.AST) -> None:
        raise EstimationError(f"contrast: {type(node).__name__} is not allowed in the "
                              f"expression {self.text!r}; use numbers, entry names, "
                              f"+ - * / ^ and functions such as log, exp, sqrt")

    def evaluate(self, env: Mapping[str, Any]) -> Any:
        return self._eval(self.tree.body, env)

    def _eval(self, node: ast.AST, env: Mapping[str, Any]) -> Any:
        if isinstance(node, ast.BinOp):
            a, b = self._eval(node.left, env), self._eval(node.right, env)
            op = node.op
            if isinstance(op, ast.Add):
                return a + b
            if isinstance(op, ast.Sub):
                return a - b
            if isinstance(op, ast.Mult):
                return a * b
            if isinstance(op, ast.Div):
                return a / b
            return a ** b
        if isinstance(node, ast.UnaryOp):
            v = self._eval(node.operand, env)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.Call):
            assert isinstance(node.func, ast.Name)
            return _FUNCTIONS[node.func.id](self._eval(node.args[0], env))
        if isinstance(node, ast.Name):
            return env[self._name(node)]
        assert isinstance(node, ast.Constant)
        return node.value


_STEP = 1e-20  # complex step: derivative error of order step^2, no cancellation


@dataclass
class _Combination:
    """One contrast evaluated at the estimate: value and gradient."""

    name: str
    value: float
    gradient: np.ndarray


def _evaluate(spec: Any, name: str | None, labels: _Labels, theta: np.ndarray
              ) -> _Combination:
    """Value and gradient of one contrast specification at theta."""
    k = theta.size
    if isinstance(spec, str):
        return _evaluate_expression(_Expression(spec), name, labels, theta)
    if isinstance(spec, Nonlinear):
        return _evaluate_function(spec, spec.name if name is None else name, labels, theta)
    if callable(spec):
        return _evaluate_function(Nonlinear(spec), name or "contrast", labels, theta)
    if isinstance(spec, pd.Series):
        spec = dict(spec.items())
    if isinstance(spec, Mapping):
        if not spec:
            raise EstimationError("contrast: no coefficients given")
        keys = list(spec.keys())
        pos = labels.positions(keys, "contrast")
        g = np.zeros(k)
        for i, key in zip(pos, keys, strict=True):
            g[i] += _number(spec[key], key)
        return _Combination(name or "contrast", _dot(g, theta), g)
    try:
        g = np.asarray(spec, dtype=float).ravel()
    except (TypeError, ValueError):
        raise EstimationError(f"contrast: cannot read {spec!r} as a contrast; give "
                              f"{{label: coefficient}}, a list of coefficients, an "
                              f"expression string or a function") from None
    if g.size != k:
        raise EstimationError(f"contrast: {g.size} coefficients for an estimate with {k} "
                              f"entries; give one per entry, or a dict {{label: "
                              f"coefficient}}")
    return _Combination(name or "contrast", _dot(g, theta), g)


def _dot(g: np.ndarray, theta: np.ndarray) -> float:
    """g . theta over the entries with a nonzero coefficient (a missing estimate
    with coefficient zero does not make the contrast missing)."""
    used = g != 0
    return float(g[used] @ theta[used])


def _number(value: Any, key: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise EstimationError(f"contrast: the coefficient of {key!r} is not a number: "
                              f"{value!r}") from None


def _evaluate_expression(expr: _Expression, name: str | None, labels: _Labels,
                         theta: np.ndarray) -> _Combination:
    entry_names = [n for n in expr.names
                   if not (n in _CONSTANTS and labels.find(n) is None)]
    pos = labels.positions(entry_names, f"contrast {expr.text!r}")
    env: dict[str, Any] = {n: theta[i] for n, i in zip(entry_names, pos, strict=True)}
    for n in expr.names:
        env.setdefault(n, _CONSTANTS.get(n))
    with np.errstate(all="ignore"):
        value = complex(expr.evaluate(env)).real
        g = np.zeros(theta.size)
        for n, i in zip(entry_names, pos, strict=True):
            step = dict(env)
            step[n] = theta[i] + 1j * _STEP
            g[i] += complex(expr.evaluate(step)).imag / _STEP
    return _Combination(name or expr.text, value, g)


def _evaluate_function(spec: Nonlinear, name: str, labels: _Labels, theta: np.ndarray
                       ) -> _Combination:
    values = _Values(labels, theta.astype(float))
    try:
        value = complex(spec.fn(values)).real
    except (TypeError, ValueError) as exc:
        raise EstimationError(f"contrast {name!r}: the function must return one number; "
                              f"{exc}") from None
    g = np.zeros(theta.size)
    if spec.gradient is not None:
        grad = spec.gradient(_Values(labels, theta.astype(float)))
        if isinstance(grad, Mapping):
            keys = list(grad.keys())
            for i, key in zip(labels.positions(keys, f"contrast {name!r}"), keys, strict=True):
                g[i] += _number(grad[key], key)
        else:
            arr = np.asarray(grad, dtype=float).ravel()
            if arr.size != theta.size:
                raise EstimationError(f"contrast {name!r}: the gradient has {arr.size} "
                                      f"values for {theta.size} entries")
            g = arr
        return _Combination(name, value, g)
    for i in sorted(values.used):
        shifted = theta.astype(complex)
        shifted[i] += 1j * _STEP
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("error", ComplexWarning)
                out = spec.fn(_Values(labels, shifted))
            if not np.iscomplexobj(out):
                raise TypeError("the function dropped the imaginary part")
            g[i] = complex(out).imag / _STEP
        except (TypeError, ValueError, ComplexWarning) as exc:
            raise EstimationError(
                f"contrast {name!r}: cannot differentiate the function by complex step "
                f"({exc}). Write it with arithmetic and numpy functions (np.log, not "
                f"math.log; no float(), abs() or comparisons), or give its gradient: "
                f"ib.contrast.nonlinear(fn, gradient=...)") from None
    return _Combination(name, value, g)


def _is_coefficients(spec: Mapping) -> bool:
    """A mapping of numbers is one linear contrast; otherwise several named ones."""
    kinds = [isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
             for v in spec.values()]
    if all(kinds):
        return True
    if not any(kinds):
        return False
    raise EstimationError("contrast: a dict must be either {label: coefficient} (one "
                          "linear contrast) or {name: contrast} (several named contrasts), "
                          "not a mix of both")


def contrast(estimate: Estimate | Any, weights: Any) -> Estimate:
    """Linear or nonlinear combinations of the entries of an estimate.

    Parameters
    ----------
    estimate : Estimate or GLMResult
        Any estimate with its covariance matrix: several variables, domains
        (``by=``), or both; predictive margins; or a fitted model, whose
        coefficients (labelled by term) are combined with their design-based
        covariance and the model's residual degrees of freedom.
    weights
        One contrast, or several:

        - ``{label: coefficient}``: a linear combination; labels as in
          ``estimate.estimate.index`` (a tuple for domain estimates), see
          below for shorter keys; entries not named get coefficient 0;
        - a list or array with one coefficient per entry;
        - a string expression in the entries, in R's syntax:
          ``"log(E / H)"``, ``"a / (1 - a)"``, ```"`E:api00` / `H:api00`"```;
          functions ``log``, ``exp``, ``sqrt``, ``log10``, ``log2``,
          ``log1p``, ``expm1``, ``logit``/``qlogis``, ``expit``/``plogis``,
          trigonometric and hyperbolic functions; ``^`` is a power;
        - a function ``f(values)`` of the entries (``values[key]``), written
          with arithmetic and numpy functions, or a :class:`Nonlinear` from
          the helpers below;
        - a dict ``{name: contrast}`` of any of these: one entry each, with
          their covariance.

    Returns
    -------
    Estimate
        Indexed by contrast name (``"contrast"`` for a single unnamed linear
        contrast, the expression for a string). ``vcov`` is the full
        covariance of the contrasts; ``df`` is, for each contrast, the
        smallest degrees of freedom of the entries it uses; ``ci()`` gives t
        intervals.

    Notes
    -----
    For a linear contrast :math:`c^\\top\\hat\\theta` the variance is
    :math:`c^\\top \\hat V c` with :math:`\\hat V` the full covariance of the
    estimate (``estimate.vcov``: between domains and variables too, never
    assumed zero). A nonlinear contrast :math:`g(\\hat\\theta)` has the
    delta-method variance :math:`\\nabla g^\\top \\hat V \\nabla g` (Lumley
    2010, sec. 2.4). The gradient is computed by complex-step
    differentiation, :math:`\\partial g/\\partial\\theta_j =
    \\mathrm{Im}\\, g(\\hat\\theta + i h e_j)/h` with :math:`h = 10^{-20}`,
    which is exact to rounding error for analytic :math:`g` (Squire and
    Trapp 1998); R's ``svycontrast`` differentiates symbolically and agrees
    to about 1e-15.

    Keys of an entry (in dicts, in expressions and in ``values[...]``):

    - its label: a value of ``estimate.estimate.index``;
    - for domain estimates of one variable, the domain alone: ``"E"`` for
      ``("E", "api00")``, a tuple for several by columns;
    - R's ``svyby`` names: by-values joined by ``.``, then ``:variable``
      (``"E:api00"``, ``"E.Yes:api00"``), or without ``:variable`` when there
      is one variable. A name matching several entries is an error.

    Helpers for common nonlinear contrasts, each returning a
    :class:`Nonlinear` (``a`` and ``b`` are keys):
    ``contrast.difference(a, b)`` (:math:`a - b`), ``contrast.ratio(a, b)``
    (:math:`a/b`), ``contrast.log_ratio(a, b)``, ``contrast.odds_ratio(a, b)``
    (:math:`\\frac{a/(1-a)}{b/(1-b)}`), ``contrast.log_odds_ratio(a, b)``,
    and ``contrast.nonlinear(fn, gradient=None, name=...)`` for any function.

    This is R's ``svycontrast`` (delta method, as R for linearisation designs
    and for replicate estimates without ``return.replicates``), and Stata's
    ``lincom`` and ``nlcom`` after ``svy:``.

    References
    ----------
    .. [1] Lumley, T. (2010). *Complex Surveys*, sec. 2.4 (``svycontrast``).
    .. [2] Squire, W. and Trapp, G. (1998). Using complex variables to
       estimate derivatives of real functions. *SIAM Review* 40, 110-112.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({"psu": range(8), "w": [2.0, 1, 2, 1, 3, 1, 2, 2],
    ...                    "sales": [10.0, 12, 9, 14, 20, 18, 22, 19],
    ...                    "region": ["north"] * 4 + ["south"] * 4})
    >>> est = ib.mean(ib.Design(df, weights="w", psu="psu"), "sales", by="region")
    >>> diff = ib.contrast(est, {"south": 1, "north": -1})
    >>> diff.estimate.round(4).tolist(), diff.se.round(4).tolist()
    ([9.3333], [1.1167])
    >>> ib.contrast(est, "log(south / north)").estimate.round(4).tolist()
    [0.6286]
    >>> both = ib.contrast(est, {"gap": [-1, 1], "ratio": ib.contrast.ratio("south", "north")})
    >>> both  # doctest: +NORMALIZE_WHITESPACE
    Contrast: 95% interval, df = 3
              estimate       se   lower   upper
    contrast
    gap        9.33333  1.11665 5.77965  12.887
    ratio        1.875 0.170449 1.33256 2.41744
    """
    try:
        estimate = as_estimate(estimate)  # a fitted model: its coefficients
    except TypeError:
        raise TypeError(f"contrast: estimate must be an innobaro Estimate or a fitted "
                        f"model, not {type(estimate).__name__}") from None
    theta = estimate.estimate.to_numpy()
    labels = _Labels(estimate.estimate.index)
    if isinstance(weights, Mapping) and not weights:
        raise EstimationError("contrast: no contrast given")
    if isinstance(weights, Mapping) and not _is_coefficients(weights):
        combos = [_evaluate(spec, str(name), labels, theta) for name, spec in weights.items()]
    else:
        combos = [_evaluate(weights, None, labels, theta)]
    G = np.vstack([c.gradient for c in combos])
    used = (G != 0).any(axis=0)
    V = estimate.vcov.to_numpy()
    Gu = G[:, used]
    vcov = Gu @ V[np.ix_(used, used)] @ Gu.T
    dfs = _entry_df(estimate)
    df = np.array([dfs[c.gradient != 0].min() if (c.gradient != 0).any() else dfs.min()
                   for c in combos])
    index = pd.Index([c.name for c in combos], name="contrast")
    return Estimate(np.array([c.value for c in combos]), vcov, index, df=df,
                    kind="contrast", level=estimate.level)


def _key_text(key: Any) -> str:
    if isinstance(key, tuple):
        return ".".join(str(v) for v in key)
    return str(key)


def _difference(a: Any, b: Any) -> Nonlinear:
    """``a - b``."""
    return Nonlinear(lambda v: v[a] - v[b], name=f"{_key_text(a)} - {_key_text(b)}")


def _ratio(a: Any, b: Any) -> Nonlinear:
    """``a / b``."""
    return Nonlinear(lambda v: v[a] / v[b], name=f"{_key_text(a)}/{_key_text(b)}")


def _log_ratio(a: Any, b: Any) -> Nonlinear:
    """``log(a / b)``."""
    return Nonlinear(lambda v: np.log(v[a] / v[b]),
                     name=f"log({_key_text(a)}/{_key_text(b)})")


def _odds_ratio(a: Any, b: Any) -> Nonlinear:
    """``(a / (1 - a)) / (b / (1 - b))`` for two proportions."""
    return Nonlinear(lambda v: (v[a] / (1 - v[a])) / (v[b] / (1 - v[b])),
                     name=f"OR({_key_text(a)}, {_key_text(b)})")


def _log_odds_ratio(a: Any, b: Any) -> Nonlinear:
    """``logit(a) - logit(b)`` for two proportions."""
    return Nonlinear(lambda v: _logit(v[a]) - _logit(v[b]),
                     name=f"log OR({_key_text(a)}, {_key_text(b)})")


def _nonlinear(fn: Callable[[Mapping], Any], *, gradient: Callable[[Mapping], Any] | None = None,
               name: str = "contrast") -> Nonlinear:
    """Any function of the entries; see :class:`Nonlinear`."""
    return Nonlinear(fn, gradient, name)


contrast.difference = _difference  # type: ignore[attr-defined]
contrast.ratio = _ratio  # type: ignore[attr-defined]
contrast.log_ratio = _log_ratio  # type: ignore[attr-defined]
contrast.odds_ratio = _odds_ratio  # type: ignore[attr-defined]
contrast.log_odds_ratio = _log_odds_ratio  # type: ignore[attr-defined]
contrast.nonlinear = _nonlinear  # type: ignore[attr-defined]


# ==========================================================================
# compare
# ==========================================================================
COMPARE_COLUMNS = ["estimate", "se", "lower", "upper", "statistic", "df", "pvalue",
                   "pvalue_adjusted"]


def _adjust(p: np.ndarray, method: str | None) -> np.ndarray:
    """Holm (1979) or Bonferroni adjusted p-values, as R's ``p.adjust``."""
    m = p.size
    if method is None or m == 0:
        return p.copy()
    if method == "bonferroni":
        return np.minimum(1.0, p * m)
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(1.0, stepped)
    return out


def compare(design: SurveyDesign, y: str | Sequence[str], *, by: str | Sequence[str],
            method: Literal["pairwise", "reference"] = "pairwise", reference: Any = None,
            adjust: Literal["holm", "bonferroni"] | None = None, level: float = 0.95,
            na_rm: bool = False) -> pd.DataFrame:
    """Differences between domain means (or shares), with tests and intervals.

    Parameters
    ----------
    design : Design or ReplicateDesign
    y : str or list of str
        Numeric columns (a 0/1 column gives shares), or categorical columns
        (the share of each level is compared).
    by : str or list of str
        Domain columns.
    method : {"pairwise", "reference"}
        ``"pairwise"``: every pair of domains, later minus earlier in the
        domains' order; ``"reference"``: every domain minus ``reference``.
    reference : optional
        The reference domain (a by-value, a tuple for several by columns);
        the first domain by default.
    adjust : {None, "holm", "bonferroni"}
        Multiple-comparison adjustment of ``pvalue_adjusted`` over all the rows
        returned (Holm 1979; R's ``p.adjust``).
    level : float, default 0.95
        Level of the (unadjusted) t intervals.
    na_rm : bool, default False

    Returns
    -------
    pandas.DataFrame
        Indexed by ``variable`` and ``contrast`` (``"H - E"``), with columns
        ``estimate``, ``se``, ``lower``, ``upper``, ``statistic`` (t),
        ``df``, ``pvalue`` and ``pvalue_adjusted`` (equal to ``pvalue`` without
        ``adjust``).

    Notes
    -----
    The difference :math:`\\hat{\\bar Y}_b - \\hat{\\bar Y}_a` of two domain
    means has variance :math:`v_{aa} + v_{bb} - 2 v_{ab}` from the full
    design covariance of the domain means (:func:`~innobaro.mean` with
    ``by=``; the domains share PSUs, so :math:`v_{ab}` is not zero in
    general). The t statistic is referred to the design degrees of freedom
    of ``design`` (PSUs minus strata), as Stata's ``svy: mean, over()``
    with ``pwcompare``/``lincom`` does; R's ``svyttest`` uses one less (see
    :func:`ttest`). In R: ``svycontrast(svyby(~y, ~g, design, svymean,
    covmat = TRUE), ...)`` with ``2 * pt(-abs(t), degf(design))`` and
    ``p.adjust``.

    References
    ----------
    .. [1] Holm, S. (1979). A simple sequentially rejective multiple test
       procedure. *Scandinavian Journal of Statistics* 6, 65-70.
    .. [2] Lumley, T. (2010). *Complex Surveys*, sec. 2.4.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({"psu": range(9), "w": [1.0, 2, 1, 2, 1, 2, 1, 2, 1],
    ...                    "sales": [3.0, 4, 5, 6, 7, 8, 9, 10, 12],
    ...                    "size": ["small"] * 3 + ["medium"] * 3 + ["large"] * 3})
    >>> out = ib.compare(ib.Design(df, weights="w", psu="psu"), "sales", by="size",
    ...                  adjust="holm")
    >>> out[["estimate", "pvalue_adjusted"]].round(4)  # doctest: +NORMALIZE_WHITESPACE
                              estimate  pvalue_adjusted
    variable contrast
    sales    medium - large     -3.25      0.0057
             small - large      -6.25      0.0001
             small - medium     -3.00      0.0057
    """
    _check_design(design, "compare")
    if method not in ("pairwise", "reference"):
        raise EstimationError(f"compare: method must be 'pairwise' or 'reference'; "
                              f"got {method!r}")
    if adjust not in (None, "holm", "bonferroni"):
        raise EstimationError(f"compare: adjust must be None, 'holm' or 'bonferroni'; "
                              f"got {adjust!r}")
    by_cols = as_column_list(by, "by")
    if not by_cols:
        raise EstimationError("compare: give the domains with by=")
    est = mean(design, y, by=by_cols, na_rm=na_rm)
    index = est.estimate.index
    assert isinstance(index, pd.MultiIndex)
    variables = list(dict.fromkeys(index.get_level_values(-1)))
    rows_G, var_labels, con_labels = [], [], []
    for var in variables:
        pos = np.flatnonzero(index.get_level_values(-1) == var)
        doms = [tuple(index[int(i)][:-1]) for i in pos]
        names = [", ".join(str(v) for v in dom) for dom in doms]
        if method == "pairwise":
            pairs = [(i, j) for i in range(len(doms)) for j in range(i + 1, len(doms))]
        else:
            ref = 0 if reference is None else _find_domain(reference, doms, names)
            pairs = [(ref, j) for j in range(len(doms)) if j != ref]
        for a, b in pairs:
            g = np.zeros(len(est))
            g[pos[b]], g[pos[a]] = 1.0, -1.0
            rows_G.append(g)
            var_labels.append(var)
            con_labels.append(f"{names[b]} - {names[a]}")
    if not rows_G:
        raise DomainError("compare: there is a single domain; nothing to compare")
    G = np.vstack(rows_G)
    diff, V = _linear(est, G)
    se = np.sqrt(np.diag(V))
    df = float(design.df)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = diff / se
    p = 2 * stats.t.sf(np.abs(t), df) if df > 0 else np.full(t.size, np.nan)
    crit = t_quantile(level, df)
    out = pd.DataFrame({"estimate": diff, "se": se, "lower": diff - crit * se,
                        "upper": diff + crit * se, "statistic": t, "df": df, "pvalue": p,
                        "pvalue_adjusted": _adjust(p, adjust)},
                       index=pd.MultiIndex.from_arrays([var_labels, con_labels],
                                                       names=["variable", "contrast"]))
    return out[COMPARE_COLUMNS]


def _find_domain(reference: Any, doms: list[tuple], names: list[str]) -> int:
    key = reference if isinstance(reference, tuple) else (reference,)
    for i, dom in enumerate(doms):
        if dom == key:
            return i
    text = ", ".join(str(v) for v in key)
    for i, name in enumerate(names):
        if name == text:
            return i
    raise EstimationError(f"compare: the reference {reference!r} is not among the domains "
                          f"({', '.join(names)})")


# ==========================================================================
# compare_surveys
# ==========================================================================
def compare_surveys(est_a: Estimate, est_b: Estimate) -> Estimate:
    """Difference of the same estimate from two independent samples.

    Parameters
    ----------
    est_a, est_b : Estimate
        The same statistic (same labels) from two independently drawn
        samples, such as two waves of a barometer with fresh samples.

    Returns
    -------
    Estimate
        ``est_a - est_b`` entry by entry (aligned on the labels of ``est_a``),
        with covariance :math:`V_a + V_b` and Satterthwaite degrees of freedom.

    Notes
    -----
    The samples are independent, so the covariance of the difference is the
    sum of the two covariance matrices, and
    :math:`\\mathrm{se} = \\sqrt{\\mathrm{se}_a^2 + \\mathrm{se}_b^2}`. The
    degrees of freedom of each entry are Satterthwaite's (1946)

    .. math:: \\nu = \\frac{(v_a + v_b)^2}{v_a^2/\\nu_a + v_b^2/\\nu_b},

    with :math:`v` the variances and :math:`\\nu_a, \\nu_b` the entries'
    degrees of freedom in each sample (between :math:`\\min(\\nu_a, \\nu_b)`
    and :math:`\\nu_a + \\nu_b`). Do not use this for overlapping samples
    (panels): their covariance is not zero.

    References
    ----------
    .. [1] Satterthwaite, F. E. (1946). An approximate distribution of
       estimates of variance components. *Biometrics Bulletin* 2, 110-114.
    .. [2] Lumley, T. (2010). *Complex Surveys*, sec. 2.4.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> wave1 = pd.DataFrame({"psu": range(6), "w": [1.0, 2, 1, 2, 1, 2],
    ...                       "innovated": [1, 0, 1, 1, 0, 0]})
    >>> wave2 = pd.DataFrame({"psu": range(6), "w": [2.0, 1, 1, 1, 2, 1],
    ...                       "innovated": [1, 1, 1, 0, 1, 0]})
    >>> a = ib.mean(ib.Design(wave2, weights="w", psu="psu"), "innovated")
    >>> b = ib.mean(ib.Design(wave1, weights="w", psu="psu"), "innovated")
    >>> change = ib.compare_surveys(a, b)
    >>> change.estimate.round(4).tolist(), change.se.round(4).tolist()
    ([0.3056], [0.2943])
    >>> round(change.df, 2)
    9.45
    """
    for name, est in (("est_a", est_a), ("est_b", est_b)):
        if not isinstance(est, Estimate) and not hasattr(est, "coefficients"):
            raise TypeError(f"compare_surveys: {name} must be an innobaro Estimate or a "
                            f"fitted model, not {type(est).__name__}")
    est_a, est_b = as_estimate(est_a), as_estimate(est_b)
    ia = est_a.estimate.index
    la, lb = list(ia), list(est_b.estimate.index)
    pos_b = {lab: i for i, lab in enumerate(lb)}
    set_a = set(la)
    only_a = [lab for lab in la if lab not in pos_b]
    only_b = [lab for lab in lb if lab not in set_a]
    if only_a or only_b or len(la) != len(lb) or len(pos_b) != len(lb):
        parts = []
        if only_a:
            parts.append(f"only in est_a: {', '.join(map(repr, only_a[:10]))}")
        if only_b:
            parts.append(f"only in est_b: {', '.join(map(repr, only_b[:10]))}")
        if not parts:
            parts.append("repeated labels")
        raise EstimationError(f"compare_surveys: the estimates have different entries ("
                              f"{'; '.join(parts)}); compare the same statistic for the "
                              f"same variables and domains")
    order = np.array([pos_b[lab] for lab in la])
    diff = est_a.estimate.to_numpy() - est_b.estimate.to_numpy()[order]
    Va = est_a.vcov.to_numpy()
    Vb = est_b.vcov.to_numpy()[np.ix_(order, order)]
    V = Va + Vb
    va, vb = np.diag(Va), np.diag(Vb)
    dfa, dfb = _entry_df(est_a), _entry_df(est_b)[order]
    with np.errstate(divide="ignore", invalid="ignore"):
        df = (va + vb) ** 2 / (va ** 2 / dfa + vb ** 2 / dfb)
    df = np.where((va + vb) > 0, df, np.minimum(dfa, dfb))
    return Estimate(diff, V, ia, df=df, kind="difference", level=est_a.level)


# ==========================================================================
# table
# ==========================================================================
TABLE_COLUMNS = ["n", "count", "count_se", "share", "share_se"]


def table(design: SurveyDesign, row: str, col: str | None = None, *,
          shares: Literal["col", "row", "total"] = "col", na_rm: bool = False
          ) -> pd.DataFrame:
    """Weighted counts and shares of a one- or two-way table, with standard errors.

    Parameters
    ----------
    design : Design or ReplicateDesign
    row : str
        Categorical variable of the rows (any dtype).
    col : str, optional
        Categorical variable of the columns.
    shares : {"col", "row", "total"}, default "col"
        For a two-way table, what the shares are shares of: ``"col"``, the
        distribution of ``row`` within each level of ``col`` (each column
        sums to 1); ``"row"``, the distribution of ``col`` within each level
        of ``row``; ``"total"``, the share of the whole population in each
        cell.
    na_rm : bool, default False
        Leave out rows with a missing ``row`` or ``col``.

    Returns
    -------
    pandas.DataFrame
        One row per level (per cell: the row level, then the column level),
        with the level(s) in columns named ``row`` (and ``col``), then ``n``
        (rows with positive weight), ``count`` (estimated population count)
        and ``count_se``, ``share`` and ``share_se``. A column level with no
        observations has undefined (NaN) shares within it.

    Notes
    -----
    Counts are :func:`~innobaro.total` of the level indicators within the
    domains of ``col`` (R's ``svyby(~row, ~col, design, svytotal)``; the
    counts alone are ``svytable(~row + col, design)``). Shares are
    :func:`~innobaro.mean` of the indicators: within the domains of ``col``
    (``svyby(~row, ~col, design, svymean)``), of ``row``, or over the whole
    population (``svymean(~interaction(row, col), design)``). Stata:
    ``svy: tabulate row col, count se`` and ``column se``/``row se``/``cell se``.

    References
    ----------
    .. [1] Lumley, T. (2010). *Complex Surveys*, sec. 2.3 and ch. 6.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({"psu": range(8), "w": [10.0, 20, 10, 20, 10, 20, 10, 20],
    ...                    "innovated": ["yes", "no", "yes", "yes", "no", "no", "yes", "no"],
    ...                    "sector": ["a", "a", "a", "a", "b", "b", "b", "b"]})
    >>> tab = ib.table(ib.Design(df, weights="w", psu="psu"), "innovated", "sector")
    >>> cols = ["innovated", "sector", "n", "count", "share"]
    >>> tab[cols].round(3)  # doctest: +NORMALIZE_WHITESPACE
      innovated sector  n  count  share
    0        no      a  1   20.0  0.333
    1        no      b  3   50.0  0.833
    2       yes      a  3   40.0  0.667
    3       yes      b  1   10.0  0.167
    """
    _check_design(design, "table")
    if shares not in ("col", "row", "total"):
        raise EstimationError(f"table: shares must be 'col', 'row' or 'total'; got {shares!r}")
    row = _column_name(row, "row")
    cols = [row]
    if col is not None:
        col = _column_name(col, "col")
        if col == row:
            raise EstimationError(f"table: row and col are the same column {row!r}")
        cols.append(col)
    check_columns(design.data, cols, "table")
    missing = _check_missing(design, cols, na_rm, "table")
    # rows with a missing value leave the domain (they keep their place in the design)
    base = design.subset(~missing) if missing.any() else design
    r, row_levels = _levels(design.data[row])
    nr = len(row_levels)
    w = base.weights.to_numpy()
    row_name, col_name, cell_name = _internal_names(design, "row", "col", "cell")
    if col is None:
        ok = base.present & (r >= 0) & (w > 0)
        ext = base.with_columns({row_name: _categorical(r, nr)})
        counts = total(ext, row_name)
        means = mean(ext, row_name)
        return pd.DataFrame({row: row_levels,
                             "n": np.bincount(r[ok], minlength=nr),
                             "count": counts.estimate.to_numpy(),
                             "count_se": counts.se.to_numpy(),
                             "share": means.estimate.to_numpy(),
                             "share_se": means.se.to_numpy()})
    c, col_levels = _levels(design.data[col])
    nc = len(col_levels)
    ok = base.present & (r >= 0) & (c >= 0)
    cell = np.where((r >= 0) & (c >= 0), r * nc + c, -1)  # row level outer, col inner
    ext = base.with_columns({row_name: _categorical(r, nr), col_name: _categorical(c, nc),
                             cell_name: _categorical(cell, nr * nc)})

    def by_domain(est: Estimate, n_inner: int, n_outer: int) -> tuple[np.ndarray, np.ndarray]:
        """(outer, inner) arrays of estimates and se, NaN for domains without rows."""
        values = np.full((n_outer, n_inner), np.nan)
        ses = np.full((n_outer, n_inner), np.nan)
        doms = np.asarray(est.estimate.index.get_level_values(0), dtype=np.int64)[::n_inner]
        values[doms] = est.estimate.to_numpy().reshape(-1, n_inner)
        ses[doms] = est.se.to_numpy().reshape(-1, n_inner)
        return values, ses

    counts = total(ext, row_name, by=col_name)
    count, count_se = by_domain(counts, nr, nc)  # (nc, nr)
    count, count_se = np.nan_to_num(count.T), np.nan_to_num(count_se.T)  # (nr, nc)
    if shares == "col":
        sh, sh_se = by_domain(mean(ext, row_name, by=col_name), nr, nc)
        sh, sh_se = sh.T, sh_se.T
    elif shares == "row":
        sh, sh_se = by_domain(mean(ext, col_name, by=row_name), nc, nr)
    else:
        m = mean(ext, cell_name)
        sh = m.estimate.to_numpy().reshape(nr, nc)
        sh_se = m.se.to_numpy().reshape(nr, nc)
    n = np.bincount(cell[ok & (w > 0)], minlength=nr * nc).reshape(nr, nc)
    return pd.DataFrame({row: np.repeat(np.asarray(row_levels, dtype=object), nc),
                         col: np.tile(np.asarray(col_levels, dtype=object), nr),
                         "n": n.ravel(), "count": count.ravel(), "count_se": count_se.ravel(),
                         "share": sh.ravel(), "share_se": sh_se.ravel()})
