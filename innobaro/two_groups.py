"""The difference of the means of two groups, as R's ``svyttest``:
:func:`ttest`, the group coefficient of a survey regression on the whole
design (Lumley 2010, sec. 2.4 and 5.2)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from ._twoway import check_design, check_missing, column_name, levels_of
from ._validate import check_columns
from .design import SurveyDesign
from .errors import DomainError, EstimationError
from .models import fit_matrix
from .results import TestResult

__all__ = ["ttest"]


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
    check_design(design, "ttest")
    y = column_name(y, "y")
    group = column_name(group, "group")
    check_columns(design.data, [y, group], "ttest")
    col = design.data[y]
    if isinstance(col.dtype, pd.CategoricalDtype) or not (
            pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
        raise EstimationError(f"ttest: y column {y!r} must be numeric, not {col.dtype}")
    missing = check_missing(design, [y, group], na_rm, "ttest")
    d = design.subset(~missing) if missing.any() else design
    codes, levels = levels_of(design.data[group])
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
    fit_rows = design.present & kept & (design.unmasked_weights > 0)  # as glm's rows
    x = (codes[fit_rows] == seen[1]).astype(float)
    yv = design.data[y].to_numpy(dtype=float)[fit_rows]
    if not (x == 1).any() or not (x == 0).any():
        raise DomainError(f"ttest: a level of {group!r} has no rows with positive weight")
    lv = [levels[i] for i in seen]
    m = fit_matrix(design, yv, np.column_stack([np.ones_like(x), x]), kept,
                   ["Intercept", "group"], label=f"{y} ~ {group}")
    diff = float(m.params.iloc[1])
    se = float(m.bse.iloc[1])
    df = m.df_resid
    if math.isnan(se):  # no variance estimate (R: NaN)
        t = math.nan
    else:
        t = diff / se if se > 0 else math.copysign(math.inf, diff)
    p = float(2 * stats.t.sf(abs(t), df)) if df > 0 else math.nan
    b0 = float(m.params.iloc[0])
    return TestResult(statistic=t, df=(1.0, df), pvalue=p, method="t",
                      title="Design-based t-test", statistic_name="t",
                      data=f"{y} by {group} ({lv[1]!r} minus {lv[0]!r})",
                      estimate=diff, se=se, level=level,
                      details={"means": pd.Series([b0, b0 + diff],
                                                  index=pd.Index(lv, name=group), name=y)})
