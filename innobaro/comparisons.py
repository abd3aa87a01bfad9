"""Comparisons of domains and of surveys.

- :func:`compare`: all pairwise (or against a reference) differences between
  domain means or shares, with optional Holm or Bonferroni adjustment;
- :func:`compare_surveys`: the difference of one estimate between two
  independent samples (two waves of a barometer).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from ._validate import as_column_list
from .contrasts import linear_combination
from .design import SurveyDesign, check_design
from .errors import DomainError, EstimationError
from .estimators import mean
from .intervals import t_quantile
from .results import Estimate, as_estimate
from .variance import combined_df
from .variance.small_sample import check_se

__all__ = ["COMPARE_COLUMNS", "compare", "compare_surveys"]


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
            na_rm: bool = False, se: str = "linearized") -> pd.DataFrame:
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
    se : {"linearized", "bell-mccaffrey", "bell-mccaffrey-2"}, default "linearized"
        The domain means' standard errors (:func:`~innobaro.mean`'s ``se=``).
        With a Bell-McCaffrey correction each difference is referred to the
        smaller Satterthwaite degrees of freedom of its two domain means
        (:func:`~innobaro.variance.combined_df`) instead of the design's.

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
    check_design(design, "compare")
    if method not in ("pairwise", "reference"):
        raise EstimationError(f"compare: method must be 'pairwise' or 'reference'; "
                              f"got {method!r}")
    if adjust not in (None, "holm", "bonferroni"):
        raise EstimationError(f"compare: adjust must be None, 'holm' or 'bonferroni'; "
                              f"got {adjust!r}")
    by_cols = as_column_list(by, "by")
    if not by_cols:
        raise EstimationError("compare: give the domains with by=")
    est = mean(design, y, by=by_cols, na_rm=na_rm, se=se)
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
    diff, V = linear_combination(est, G)
    sd = np.sqrt(np.diag(V))
    if est.df_values.size and check_se(se) != "linearized":
        df = np.array([combined_df(est.df_values, g != 0) for g in G])
    else:
        df = np.full(G.shape[0], float(design.df))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = diff / sd
        p = np.where(df > 0, 2 * stats.t.sf(np.abs(t), np.where(df > 0, df, 1.0)), np.nan)
    crit = t_quantile(level, df)
    out = pd.DataFrame({"estimate": diff, "se": sd, "lower": diff - crit * sd,
                        "upper": diff + crit * sd, "statistic": t, "df": df, "pvalue": p,
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
    dfa, dfb = est_a.df_values, est_b.df_values[order]
    with np.errstate(divide="ignore", invalid="ignore"):
        df = (va + vb) ** 2 / (va ** 2 / dfa + vb ** 2 / dfb)
    df = np.where((va + vb) > 0, df, np.minimum(dfa, dfb))
    return Estimate(diff, V, ia, df=df, kind="difference", level=est_a.level)
