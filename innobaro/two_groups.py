"""Design-based t-tests, as R's ``svyttest``: :func:`ttest` of the difference
of the means of two groups (the group coefficient of a survey regression on
the whole design), of one mean against a value, and of paired measurements
(the mean of the differences) (Lumley 2010, sec. 2.4 and 5.2)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from ._twoway import (
    check_missing,
    column_name,
    internal_names,
    numeric_by_group,
)
from ._validate import check_columns
from .design import SurveyDesign, check_design
from .errors import DomainError, EstimationError
from .estimators import check_se_design, mean
from .models import fit_matrix, make_family
from .results import TestResult
from .variance import small_sample

__all__ = ["ttest"]


def ttest(design: SurveyDesign, y: str, group: str | None = None, *, mu: float = 0.0,
          paired: str | None = None, na_rm: bool = False, level: float = 0.95,
          se: str = "linearized") -> TestResult:
    """Design-based t-test: two groups, one sample against a value, or paired.

    Parameters
    ----------
    design : Design or ReplicateDesign
    y : str
        Numeric column.
    group : str, optional
        Column with exactly two levels among the rows analysed (any dtype):
        the test of the difference of the two groups' means. Without it (and
        without ``paired``), the one-sample test of the mean of ``y`` against
        ``mu``.
    mu : float, default 0
        The mean under the null hypothesis of a one-sample test, or the mean
        difference of a paired test.
    paired : str, optional
        Numeric column measured on the same units as ``y``: the paired test of
        the mean of ``y - paired`` against ``mu``.
    na_rm : bool, default False
        Leave out rows with a missing ``y``, ``group`` or ``paired``.
    level : float, default 0.95
        Level of the interval of ``TestResult.ci()``.
    se : {"linearized", "bell-mccaffrey", "bell-mccaffrey-2"}, default "linearized"
        Standard error and degrees of freedom, R's ``svyglm(std.errors=)``
        values (R's ``svyttest`` has no such argument: innobaro goes beyond
        it). With the Bell-McCaffrey variants the regression behind the test
        (below) gets bias-reduced linearisation (CR2), and the t statistic is
        referred to the Satterthwaite degrees of freedom of the tested
        coefficient (clubSandwich's ``coef_test``), under independence
        (``"bell-mccaffrey"``) or an exchangeable correlation within PSUs
        (``"bell-mccaffrey-2"``), instead of :math:`\\nu - 1`. Linearisation
        designs only. See :mod:`innobaro.variance.small_sample`.

    Returns
    -------
    TestResult
        ``statistic`` (t), ``df`` (``(1, nu)``), ``pvalue`` (two-sided), ``estimate`` (the
        mean of the second level minus the mean of the first; for one sample
        the mean minus ``mu``; paired, the mean difference minus ``mu``) and ``se``;
        ``ci()`` gives the t interval of the estimate. ``details["means"]``
        holds the two group means (two groups), ``details["mean"]`` the mean
        of ``y`` or of the differences (one sample, paired).

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

    One sample (R's ``svyttest(I(y - mu) ~ 0)``, Stata's ``svy: mean y``
    followed by ``test y = mu``): :math:`t = (\\hat{\\bar Y} - \\mu)/\\widehat{se}`
    with the standard error of :func:`~innobaro.mean`, on :math:`\\nu - 1`
    degrees of freedom as R (Stata uses :math:`\\nu`). Paired: the same test
    of the mean of the differences ``y - paired`` (R's
    ``svyttest(I(y1 - y2) ~ 0)``), whose standard error accounts for the
    correlation of the two measurements within units and PSUs.

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
    >>> one = ib.ttest(ib.Design(df, weights="w", psu="psu"), "sales", mu=5)
    >>> one.title, round(one.statistic, 4), one.df
    ('Design-based one-sample t-test', 1.4552, (1.0, 8.0))
    """
    check_design(design, "ttest")
    se_method = check_se_design(design, se, "ttest")
    if group is None:
        return _one_sample(design, y, mu, paired, na_rm, level, se_method)
    if paired is not None:
        raise EstimationError("ttest: give either group (two groups) or paired (paired "
                              "measurements), not both")
    if mu != 0:
        raise EstimationError(f"ttest: mu={mu!r} is the null value of a one-sample or "
                              f"paired test; the two-group test is of a zero difference")
    g_ = numeric_by_group(design, y, group, na_rm, "ttest")
    y, group, missing = g_.y, g_.group, g_.missing
    codes, levels, seen = g_.codes, g_.levels, g_.seen
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
    fit_rows = design.present & kept & (design.unmasked_weights > 0)  # as glm's rows
    x = (codes[fit_rows] == seen[1]).astype(float)
    yv = design.data[y].to_numpy(dtype=float)[fit_rows]
    if not (x == 1).any() or not (x == 0).any():
        raise DomainError(f"ttest: a level of {group!r} has no rows with positive weight")
    lv = [levels[i] for i in seen]
    X = np.column_stack([np.ones_like(x), x])
    m = fit_matrix(design, yv, X, kept, ["Intercept", "group"], label=f"{y} ~ {group}",
                   se=se_method)
    diff = float(m.params.iloc[1])
    se_value = float(m.bse.iloc[1])
    df = m.df_resid
    if se_method != "linearized":  # the group coefficient's Satterthwaite df
        working = small_sample.glm_working(
            X, yv, design.unmasked_weights[fit_rows], make_family("gaussian"),
            m.params.to_numpy(), None, np.flatnonzero(fit_rows), design.n)
        df = float(small_sample.adjust(design, working,  # type: ignore[arg-type]
                                       se_method).df.ravel()[1])
    if math.isnan(se_value):  # no variance estimate (R: NaN)
        t = math.nan
    else:
        t = diff / se_value if se_value > 0 else math.copysign(math.inf, diff)
    p = float(2 * stats.t.sf(abs(t), df)) if df > 0 else math.nan
    b0 = float(m.params.iloc[0])
    return TestResult(statistic=t, df=(1.0, df), pvalue=p, method="t",
                      title="Design-based t-test", statistic_name="t",
                      data=f"{y} by {group} ({lv[1]!r} minus {lv[0]!r})",
                      estimate=diff, se=se_value, level=level,
                      details={"means": pd.Series([b0, b0 + diff],
                                                  index=pd.Index(lv, name=group), name=y),
                               "se_method": se_method})


def _numeric(design: SurveyDesign, name: str, what: str) -> np.ndarray:
    col = design.data[name]
    if isinstance(col.dtype, pd.CategoricalDtype) or not (
            pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
        raise EstimationError(f"ttest: {what} column {name!r} must be numeric, not {col.dtype}")
    return col.to_numpy(dtype=float, na_value=np.nan)


def _one_sample(design: SurveyDesign, y: str, mu: float, paired: str | None, na_rm: bool,
                level: float, se_method: str) -> TestResult:
    """One-sample and paired t-tests: the mean of ``y - mu`` (or of
    ``y - paired - mu``) against zero, R's ``svyttest(I(...) ~ 0)``."""
    y = column_name(y, "y")
    cols = [y] if paired is None else [y, column_name(paired, "paired")]
    check_columns(design.data, cols, "ttest")
    try:
        mu = float(mu)
    except (TypeError, ValueError):
        raise EstimationError(f"ttest: mu must be a number; got {mu!r}") from None
    if not math.isfinite(mu):
        raise EstimationError(f"ttest: mu must be finite; got {mu!r}")
    values = _numeric(design, y, "y")
    if paired is not None:
        if cols[1] == y:
            raise EstimationError(f"ttest: y and paired are the same column {y!r}")
        values = values - _numeric(design, cols[1], "paired")
    missing = check_missing(design, cols, na_rm, "ttest")
    (name,) = internal_names(design, "difference")
    ext = design.with_columns({name: values - mu})
    est = mean(ext, name, na_rm=bool(missing.any()), se=se_method)
    diff = float(est.estimate.iloc[0])
    se_value = float(est.se.iloc[0])
    # R: degf(design) - 1, the residual df of svyglm(y ~ 1); with se=, the
    # mean's (the intercept's) Satterthwaite df
    df = design.df - 1 if se_method == "linearized" else float(est.df_values[0])
    if math.isnan(se_value):
        t = math.nan
    else:
        t = (diff / se_value if se_value > 0 else
             math.copysign(math.inf, diff) if diff else math.nan)
    p = float(2 * stats.t.sf(abs(t), df)) if df > 0 and not math.isnan(t) else math.nan
    if paired is None:
        title, data = "Design-based one-sample t-test", f"{y} (mean against {mu:g})"
    else:
        title = "Design-based paired t-test"
        data = f"{y} minus {cols[1]}" + (f" (mean against {mu:g})" if mu else "")
    return TestResult(statistic=t, df=(1.0, df), pvalue=p, method="t", title=title,
                      statistic_name="t", data=data, estimate=diff, se=se_value, level=level,
                      details={"mean": diff + mu, "mu": mu, "se_method": se_method})
