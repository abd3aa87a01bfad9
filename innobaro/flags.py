"""Reliability flags for published proportions, margins and effects.

The NCHS Data Presentation Standards for Proportions (Parker et al. 2017)
decide whether a survey share may be published. None of the reference tools
apply them by default; the report does for every share it prints. With
:math:`\\hat p` the share, :math:`[L, U]` its Korn-Graubard 95% interval,
:math:`w = U - L` the interval's width, :math:`n` the rows behind it and
:math:`df` the design degrees of freedom, the standard's steps are, in order:

1. **Sample size.** ``suppress`` when the effective sample size
   :math:`n^* = \\hat p(1-\\hat p)/\\widehat{V}(\\hat p)` is below 30.
   :math:`n^*` is at most :math:`n`, and is :math:`n` when it cannot be
   computed (a share of 0 or 1, or no sampling variance).
2. **Absolute width.** ``suppress`` when :math:`w \\ge 0.30`.
3. **Relative width.** ``suppress`` when :math:`0.05 < w < 0.30` and
   :math:`w / \\hat p > 1.30`; a width of 0.05 or less is shown whatever the
   relative width.
4. **Statistical review** (shown, with a footnote), for a share not
   suppressed:

   - *complement*: :math:`0.05 < w < 0.30` and :math:`w / (1 - \\hat p) > 1.30`,
     the relative-width test of step 3 applied to the complementary share
     :math:`1 - \\hat p` (a share near 100% whose complement would be
     suppressed);
   - *degrees of freedom*: :math:`df < 8`;
   - *0% or 100%*: :math:`\\hat p` is 0 or 1. Such a share has no design
     variance and no relative width, so steps 2 and 3 are not applied to it
     (as NCHS's own implementation, the R package ``surveytable``, does);
     step 1 applies with :math:`n^* = n`.

A share passing every step is ``ok``. The *reason* of a flag names the step:
``"n_eff < 30"``, ``"CI width >= 0.30"``, ``"relative CI width > 130%"``,
``"no interval"`` (the variance or the interval could not be computed);
``"complement CI width > 130%"``, ``"df < 8"``, ``"0% or 100%"`` (reasons
for review, joined by ``"; "`` when several apply).

Predictive margins are proportions and follow the same steps
(:func:`flag_proportions`). Average marginal effects and other differences
of proportions are not proportions and the standard has no rule for them;
innobaro applies the rules that keep their meaning (:func:`flag_differences`):
at least 30 rows, a 95% interval narrower than 0.30 (30 percentage points),
and review when :math:`df < 8`. The relative-width rules are left out: a
difference near zero is a finding, not an unreliable estimate.

References
----------
.. [1] Parker, J. D., Talih, M., Malec, D. J. et al. (2017). National Center
   for Health Statistics Data Presentation Standards for Proportions. *Vital
   and Health Statistics* 2(175).
.. [2] Korn, E. L. and Graubard, B. I. (1998). Confidence intervals for
   proportions with small expected number of positive counts estimated from
   survey data. *Survey Methodology* 24, 193-201.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np
import pandas as pd

from .errors import EstimationError

if TYPE_CHECKING:
    from .design import SurveyDesign
    from .results import Estimate

__all__ = ["FLAGS", "REASONS", "flag_differences", "flag_proportions", "flagged_shares",
           "nchs_flags", "reliability"]

#: the flags, from best to worst
FLAGS = ("ok", "review", "suppress")

#: every reason a flag can give, and what it means (the footnote's words)
REASONS = {
    "n_eff < 30": "effective sample size below 30",
    "n < 30": "fewer than 30 rows",
    "CI width >= 0.30": "95% interval 30 percentage points wide or wider",
    "relative CI width > 130%": "95% interval wider than 130% of the share",
    "no interval": "no variance or interval could be computed",
    "complement CI width > 130%": "95% interval wider than 130% of the complement (1 - share)",
    "df < 8": "fewer than 8 design degrees of freedom",
    "0% or 100%": "a share of 0% or 100%",
    # the CV rule of model-based (small-area) estimates, innobaro.sae
    "CV > 30%": "coefficient of variation above 30% (model-based estimate)",
    "CV > 20%": "coefficient of variation above 20% (model-based estimate)",
    "no sample": "no sample in the area: a synthetic (regression) estimate",
}

#: the 95% interval width above which no estimate is shown, and the width up to
#: which the relative-width tests do not apply (NCHS, steps 2 and 3)
MAX_WIDTH, SMALL_WIDTH = 0.30, 0.05
#: the smallest effective sample size, the largest relative width, the fewest df
MIN_N, MAX_RELATIVE, MIN_DF = 30.0, 1.30, 8.0


def _join(parts: Sequence[np.ndarray], names: Sequence[str]) -> np.ndarray:
    """Per entry, the names whose mask is true, joined by ``"; "``."""
    out = np.full(parts[0].shape, "", dtype=object)
    for mask, name in zip(parts, names, strict=True):  # over the few rules
        out = np.where(mask, np.where(out == "", name, out + "; " + name), out)
    return out


def nchs_flags(p: Any, var: Any, lower: Any, upper: Any, n: Any, df: Any) -> pd.DataFrame:
    """The NCHS flag of each proportion, with its reason.

    Parameters
    ----------
    p, var : array_like
        Estimated proportions and their design variances.
    lower, upper : array_like
        Their Korn-Graubard 95% intervals.
    n : array_like
        Sample sizes (rows with positive weight behind each proportion).
    df : array_like
        Design degrees of freedom.

    Returns
    -------
    pandas.DataFrame
        One row per proportion: ``flag`` (``"ok"``, ``"review"`` or
        ``"suppress"``), ``reason`` (empty for ``ok``; the module docstring
        lists them), ``n_eff``, ``width`` (:math:`U - L`), ``relative_width``
        (:math:`w/\\hat p`) and ``complement_width`` (:math:`w/(1-\\hat p)`).

    Notes
    -----
    The steps of the standard (Parker et al. 2017) in order, with
    :math:`w = U - L` and :math:`n^* = \\min(n, \\hat p(1-\\hat p)/v)`:
    suppress if :math:`n^* < 30`, else if :math:`w \\ge 0.30`, else if
    :math:`0.05 < w` and :math:`w/\\hat p > 1.30`; otherwise review if
    :math:`0.05 < w` and :math:`w/(1-\\hat p) > 1.30` (complement), if
    :math:`df < 8`, or if :math:`\\hat p \\in \\{0, 1\\}` (whose widths are
    not tested). The module docstring gives the details.

    References
    ----------
    .. [1] Parker, J. D. et al. (2017). National Center for Health Statistics
       Data Presentation Standards for Proportions. *Vital and Health
       Statistics* 2(175).

    Examples
    --------
    >>> import numpy as np
    >>> from innobaro.flags import nchs_flags
    >>> f = nchs_flags(p=[0.5, 0.0, 0.97], var=[0.0025, 0.0, 0.0001],
    ...                lower=[0.40, 0.0, 0.90], upper=[0.60, 0.03, 0.99],
    ...                n=[200, 111, 300], df=[50, 50, 50])
    >>> f[["flag", "reason"]].values.tolist()
    [['ok', ''], ['review', '0% or 100%'], ['review', 'complement CI width > 130%']]
    """
    p = np.atleast_1d(np.asarray(p, dtype=float))
    var = np.broadcast_to(np.asarray(var, dtype=float), p.shape)
    n = np.broadcast_to(np.asarray(n, dtype=float), p.shape)
    df = np.broadcast_to(np.asarray(df, dtype=float), p.shape)
    width = np.broadcast_to(np.asarray(upper, dtype=float) - np.asarray(lower, dtype=float),
                            p.shape)
    extreme = (p <= 0) | (p >= 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        neff = p * (1 - p) / var
        relative = np.where(p > 0, width / p, np.inf)
        complement = np.where(p < 1, width / (1 - p), np.inf)
    neff = np.where(extreme | (var <= 0) | ~np.isfinite(neff), n, neff)
    neff = np.minimum(neff, n)
    tested = ~extreme  # 0% and 100% have no width to test
    middle = tested & (width > SMALL_WIDTH) & (width < MAX_WIDTH)
    small_n = ~(neff >= MIN_N)  # NaN counts as too small
    no_interval = tested & (np.isnan(width) | np.isnan(var))
    wide = tested & (width >= MAX_WIDTH)
    relative_wide = middle & (relative > MAX_RELATIVE)
    first = np.select([small_n, no_interval, wide, relative_wide],
                      ["n_eff < 30", "no interval", "CI width >= 0.30",
                       "relative CI width > 130%"], default="")
    suppress = first != ""
    review = _join([~suppress & middle & (complement > MAX_RELATIVE),
                    ~suppress & (df < MIN_DF), ~suppress & extreme],
                   ["complement CI width > 130%", "df < 8", "0% or 100%"])
    flag = np.where(suppress, "suppress", np.where(review != "", "review", "ok"))
    reason = np.where(suppress, first.astype(object), review)
    return pd.DataFrame({"flag": flag.astype(object), "reason": reason, "n_eff": neff,
                         "width": width, "relative_width": relative,
                         "complement_width": complement})


@overload
def reliability(p: Any, var: Any, lower: Any, upper: Any, n: Any, df: Any, *,
                reasons: Literal[False] = ...) -> tuple[np.ndarray, np.ndarray]: ...


@overload
def reliability(p: Any, var: Any, lower: Any, upper: Any, n: Any, df: Any, *,
                reasons: Literal[True]) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...


def reliability(p: Any, var: Any, lower: Any, upper: Any, n: Any, df: Any, *,
                reasons: bool = False) -> tuple[np.ndarray, ...]:
    """NCHS reliability flag of proportions and their effective sample size.

    Parameters
    ----------
    p, var : arrays
        Estimated proportions and their design variances.
    lower, upper : arrays
        Korn-Graubard 95% interval.
    n : array
        Sample sizes (rows with positive weight).
    df : array
        Design degrees of freedom.
    reasons : bool, default False
        Also return the reason of each flag.

    Returns
    -------
    flags : array of str
        ``"suppress"``, ``"review"`` or ``"ok"``, by the rules of
        :func:`nchs_flags`.
    n_eff : array
        The effective sample sizes.
    reasons : array of str
        With ``reasons=True``: why (empty for ``"ok"``).

    Examples
    --------
    >>> import numpy as np
    >>> from innobaro.report import reliability
    >>> flags, neff = reliability(np.array([0.5, 0.5]), np.array([0.0025, 0.0125]),
    ...                           np.array([0.40, 0.25]), np.array([0.60, 0.75]),
    ...                           np.array([200, 200]), np.array([50, 50]))
    >>> flags.tolist(), neff.round().tolist()
    (['ok', 'suppress'], [100.0, 20.0])
    """
    f = nchs_flags(p, var, lower, upper, n, df)
    flags = f["flag"].to_numpy(dtype=str)
    neff = f["n_eff"].to_numpy()
    if reasons:
        return flags, neff, f["reason"].to_numpy(dtype=str)
    return flags, neff


def _counts_like(n: Any, size: int, what: str) -> np.ndarray:
    counts = np.broadcast_to(np.asarray(n, dtype=float), (size,)).copy() \
        if np.ndim(n) == 0 or np.size(n) == size else None
    if counts is None:
        raise EstimationError(f"{what}: n has {np.size(n)} entries for {size} estimates; give "
                              f"one count, or one per estimate")
    return counts


def flag_proportions(estimate: Estimate, n: Any) -> pd.DataFrame:
    """NCHS flags of any Estimate of proportions: shares or predictive margins.

    Parameters
    ----------
    estimate : Estimate
        Proportions: from :func:`innobaro.proportion`, or predictive margins
        of a binomial model (:meth:`innobaro.GLMResult.margins`).
    n : int or array_like
        The rows behind each estimate (one number for all): for margins, the
        rows the model was fitted on (``model.nobs``).

    Returns
    -------
    pandas.DataFrame
        Indexed as the estimate: ``estimate``, ``lower``, ``upper`` (the
        Korn-Graubard 95% interval), ``se``, ``n``, ``n_eff``, ``df``,
        ``flag`` and ``reason``, by the rules of :func:`nchs_flags`.

    Notes
    -----
    The rules are written for the Korn-Graubard interval. An estimate made
    with ``method="beta"`` keeps its own interval; for any other (margins'
    t intervals, a logit interval) the Korn-Graubard interval of the same
    estimate, variance and degrees of freedom is computed,
    :math:`[B^{-1}_{0.025}(n^*\\hat p, n^*(1-\\hat p)+1),
    B^{-1}_{0.975}(n^*\\hat p+1, n^*(1-\\hat p))]` with
    :math:`n^* = \\hat p(1-\\hat p)/v \\cdot (t_{n-1}/t_{df})^2`.

    References
    ----------
    .. [1] Parker, J. D. et al. (2017). National Center for Health Statistics
       Data Presentation Standards for Proportions. *Vital and Health
       Statistics* 2(175).

    Examples
    --------
    >>> import innobaro as ib
    >>> from innobaro.datasets import barometer_design
    >>> from innobaro.flags import flag_proportions
    >>> m = ib.logit("innovated ~ C(sector) + np.log(employees)", barometer_design())
    >>> flag_proportions(m.margins("sector"), m.nobs)["flag"].tolist()
    ['ok', 'ok']
    """
    from .intervals import proportion_interval

    p = estimate.estimate.to_numpy(dtype=float)
    se = estimate.se.to_numpy(dtype=float)
    df = estimate.df_values
    counts = _counts_like(n, len(p), "flag_proportions")
    outside = ~np.isnan(p) & ((p < -1e-12) | (p > 1 + 1e-12))
    if outside.any():
        names = ", ".join(str(estimate.estimate.index[i]) for i in np.flatnonzero(outside)[:5])
        raise EstimationError(f"flag_proportions: {names} is not a proportion (outside 0 to "
                              f"1); use flag_differences for differences and effects")
    if estimate.interval_method == "beta":
        ci = estimate.ci(0.95)
        lower, upper = ci["lower"].to_numpy(), ci["upper"].to_numpy()
    else:
        lower, upper = proportion_interval("beta", p, se ** 2, 0.95, df, n_rows=counts,
                                           n_obs=counts)
    f = nchs_flags(p, se ** 2, lower, upper, counts, df)
    return pd.DataFrame({"estimate": p, "lower": lower, "upper": upper, "se": se, "n": counts,
                         "n_eff": f["n_eff"].to_numpy(), "df": df,
                         "flag": f["flag"].to_numpy(), "reason": f["reason"].to_numpy()},
                        index=estimate.estimate.index)


def flag_differences(estimate: Estimate, n: Any) -> pd.DataFrame:
    """Reliability flags of differences of proportions: marginal effects, contrasts.

    Parameters
    ----------
    estimate : Estimate
        Differences on the probability scale: average marginal effects of a
        binomial model (:meth:`innobaro.GLMResult.average_marginal_effect`),
        or a contrast of proportions or margins.
    n : int or array_like
        The rows behind each estimate (one number for all).

    Returns
    -------
    pandas.DataFrame
        Indexed as the estimate: ``estimate``, ``lower``, ``upper`` (the
        estimate's own 95% interval), ``se``, ``n``, ``df``, ``flag`` and
        ``reason``.

    Notes
    -----
    The NCHS standard is for proportions only. Of its rules those that keep
    their meaning for a difference are applied: suppress when fewer than 30
    rows are behind it (``"n < 30"``), when it has no interval (``"no
    interval"``) or when its 95% interval is 0.30 (30 percentage points) wide
    or wider (``"CI width >= 0.30"``); review when :math:`df < 8`. The
    effective sample size :math:`\\hat p(1-\\hat p)/v` and the relative-width
    rules are for proportions and do not apply: a difference near zero is a
    result, not an unreliable estimate.

    References
    ----------
    .. [1] Parker, J. D. et al. (2017). National Center for Health Statistics
       Data Presentation Standards for Proportions. *Vital and Health
       Statistics* 2(175).

    Examples
    --------
    >>> import innobaro as ib
    >>> from innobaro.datasets import barometer_design
    >>> from innobaro.flags import flag_differences
    >>> m = ib.logit("innovated ~ C(sector) + np.log2(employees)", barometer_design())
    >>> ame = m.average_marginal_effect("employees")
    >>> flag_differences(ame, m.nobs)[["flag", "reason"]].values.tolist()
    [['ok', '']]
    """
    est = estimate.estimate.to_numpy(dtype=float)
    se = estimate.se.to_numpy(dtype=float)
    df = estimate.df_values
    counts = _counts_like(n, len(est), "flag_differences")
    ci = estimate.ci(0.95)
    lower, upper = ci["lower"].to_numpy(dtype=float), ci["upper"].to_numpy(dtype=float)
    width = upper - lower
    first = np.select([~(counts >= MIN_N), np.isnan(width), width >= MAX_WIDTH],
                      ["n < 30", "no interval", "CI width >= 0.30"], default="")
    suppress = first != ""
    review = ~suppress & (df < MIN_DF)
    flag = np.where(suppress, "suppress", np.where(review, "review", "ok"))
    reason = np.where(suppress, first, np.where(review, "df < 8", ""))
    return pd.DataFrame({"estimate": est, "lower": lower, "upper": upper, "se": se,
                         "n": counts, "df": df, "flag": flag.astype(object),
                         "reason": reason.astype(object)}, index=estimate.estimate.index)


def flagged_shares(design: SurveyDesign, outcome: str, by: str | Sequence[str] | None = None,
                   *, na_rm: bool = True, se: str = "linearized") -> pd.DataFrame:
    """Shares of a binary outcome in every cell of one or more breakdowns, flagged.

    Parameters
    ----------
    design : Design or ReplicateDesign
    outcome : str
        A 0/1 or true/false column.
    by : str or list of str, optional
        Breakdowns; two (``["county", "sector"]``) give one row per cell of
        their cross-classification that has rows. None: one share, the
        whole design.
    na_rm : bool, default True
        Leave out rows where ``outcome`` is missing.
    se : {"linearized", "bell-mccaffrey", "bell-mccaffrey-2"}, default "linearized"
        The standard errors (:func:`innobaro.proportion`'s ``se=``). With a
        Bell-McCaffrey correction the interval, the effective sample size and
        the degrees of freedom the flags use are the corrected ones (the
        Satterthwaite df in place of the design df: a stricter reading of the
        standard's df rule, which asks whether the variance estimate is stable).

    Returns
    -------
    pandas.DataFrame
        A long table indexed by the levels of ``by`` (``"all"`` without
        ``by``): ``share``, ``lower``, ``upper`` (Korn-Graubard 95%
        interval), ``se``, ``n`` (rows with positive weight and an outcome),
        ``n_eff``, ``df`` (the cell's design degrees of freedom), ``flag`` and
        ``reason`` (:func:`nchs_flags`). ``table["share"].unstack()`` gives the
        cross-table.

    Notes
    -----
    The shares are :func:`innobaro.proportion` with ``method="beta"``; the
    flags follow the NCHS standard (Parker et al. 2017), as in
    :func:`nchs_flags`.

    References
    ----------
    .. [1] Parker, J. D. et al. (2017). National Center for Health Statistics
       Data Presentation Standards for Proportions. *Vital and Health
       Statistics* 2(175).

    Examples
    --------
    >>> from innobaro.datasets import barometer_design
    >>> from innobaro.flags import flagged_shares
    >>> t = flagged_shares(barometer_design(), "innovated", ["county", "sector"])
    >>> t.columns.tolist()
    ['share', 'lower', 'upper', 'se', 'n', 'n_eff', 'df', 'flag', 'reason']
    >>> len(t), int((t["flag"] == "suppress").sum()) > 0
    (38, True)
    """
    from .errors import InnobaroWarning
    from .estimators import proportion

    cols = [] if by is None else [by] if isinstance(by, str) else list(by)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InnobaroWarning)
        est = proportion(design, outcome, by=cols or None, method="beta", na_rm=na_rm,
                         se=se)
    ci = est.ci(0.95)
    index = est.estimate.index
    keep = np.asarray(design.present) & (np.asarray(design.unmasked_weights) > 0)
    if na_rm:
        keep = keep & np.asarray(design.data[outcome].notna())
    if cols:
        index = index.droplevel(-1)
        codes, values = design.level_codes(cols)
        counts = np.bincount(codes[keep & (codes >= 0)], minlength=len(values[0]))
        levels = (pd.MultiIndex.from_arrays(values, names=cols) if len(cols) > 1
                  else pd.Index(list(values[0]), name=cols[0]))
        n = pd.Series(counts.astype(float), index=levels).reindex(index).fillna(0.0)
        n_values = n.to_numpy()
    else:
        index = pd.Index(["all"], name="")
        n_values = np.array([float(keep.sum())])
    p = est.estimate.to_numpy(dtype=float)
    var = est.se.to_numpy(dtype=float) ** 2
    df = est.df_values
    lower, upper = ci["lower"].to_numpy(), ci["upper"].to_numpy()
    f = nchs_flags(p, var, lower, upper, n_values, df)
    return pd.DataFrame({"share": p, "lower": lower, "upper": upper, "se": np.sqrt(var),
                         "n": n_values, "n_eff": f["n_eff"].to_numpy(), "df": df,
                         "flag": f["flag"].to_numpy(), "reason": f["reason"].to_numpy()},
                        index=index)
