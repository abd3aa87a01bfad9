"""Design-based rank tests, as R's ``svyranktest`` (Lumley and Scott 2013):
:func:`ranktest` of a numeric variable across groups by the Wilcoxon, van der
Waerden, median or Kruskal-Wallis scores of its estimated population ranks."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from ._twoway import numeric_by_group
from .design import SurveyDesign, check_design
from .errors import DomainError, EstimationError
from .estimators import check_se_design
from .results import TestResult
from .variance import Influence, Working, degrees_of_freedom, vcov_of
from .variance.small_sample import adjust as small_sample_adjust

__all__ = ["RANK_TESTS", "ranktest"]

#: The score functions of :func:`ranktest`, by R's names.
RANK_TESTS = ("wilcoxon", "vanderWaerden", "median", "KruskalWallis")


def ranktest(design: SurveyDesign, y: str, group: str, *, test: str = "wilcoxon",
             na_rm: bool = False, se: str = "linearized") -> TestResult:
    """Design-based rank test of ``y`` across the levels of ``group``.

    Parameters
    ----------
    design : Design or ReplicateDesign
    y : str
        Numeric column.
    group : str
        Column of the groups (two or more levels among the rows analysed).
    test : str, default "wilcoxon"
        The score of the estimated population rank: ``"wilcoxon"`` and
        ``"KruskalWallis"`` (the rank over the population size),
        ``"vanderWaerden"`` (its normal quantile) or ``"median"`` (above half
        the population size).
    na_rm : bool, default False
        Leave out rows with a missing ``y`` or ``group`` (they stay in the
        design with weight zero).
    se : {"linearized", "bell-mccaffrey", "bell-mccaffrey-2"}, default "linearized"
        Standard errors and degrees of freedom, R's ``svyglm(std.errors=)``
        values (R's ``svyranktest`` has no such argument). With the
        Bell-McCaffrey variants the weighted regression of the scores on the
        group indicators (below; R's ``svyranktest`` fits it with
        ``svyglm``) gets bias-reduced linearisation (CR2), the scores held
        fixed, and the statistic is referred to Satterthwaite degrees of
        freedom (clubSandwich's ``coef_test``) under independence
        (``"bell-mccaffrey"``) or an exchangeable correlation within PSUs
        (``"bell-mccaffrey-2"``): two groups, the t statistic on the
        difference's own degrees of freedom; more, the F statistic on
        ``(k - 1, nu)`` with :math:`\\nu` the smallest of the differences'
        degrees of freedom (as innobaro combines degrees of freedom
        elsewhere). Linearisation designs only.

    Returns
    -------
    TestResult
        Two groups: a t statistic of the difference in mean rank score
        (``estimate``, ``se``), ``df = (1, df_design - 1)``. More groups: an
        F statistic :math:`\\chi^2/(k-1)` on ``(k - 1, df_design - (k - 1))``,
        with :math:`\\chi^2` in ``details["chisq"]`` and the differences from
        the first level in ``details["coefficients"]``.

    Notes
    -----
    With the rows sorted by ``y``, weights :math:`w_i` and :math:`\\hat N =
    \\sum w_i`, the estimated population rank is :math:`\\hat R_i = \\sum_{k
    \\le i} w_k - w_i/2`, averaged (unweighted) over rows of equal ``y``. The
    score :math:`s_i` is :math:`\\hat R_i/\\hat N`,
    :math:`\\Phi^{-1}(\\hat R_i/\\hat N)` or :math:`[\\hat R_i > \\hat N/2]`.
    The differences :math:`\\hat\\beta_g = \\bar s_g - \\bar s_1` of the
    weighted mean scores of the groups from the first are the coefficients
    of the weighted least-squares fit of the scores on the group, and their
    covariance is that of the design-based totals of the influence values
    :math:`w_i (s_i - \\bar s_{g(i)})([g(i) = g]/\\hat N_g - [g(i) = 1]/
    \\hat N_1)`, the scores held fixed (on replicate designs: the replicate
    totals of the same values). Two groups: :math:`t = \\hat\\beta/
    \\operatorname{se}` on the design degrees of freedom minus one. More:
    :math:`\\chi^2 = \\hat\\beta^\\top \\hat V^{-1}\\hat\\beta`, referred to
    :math:`F_{k-1, df-(k-1)}` after division by :math:`k - 1`.

    R's ``svyranktest`` stops with an error for more than two groups on a
    replicate design (its ``svy.varcoef`` needs a linearisation design);
    innobaro uses the replicate totals of the influence values there, as R
    does for two groups.

    References
    ----------
    .. [1] Lumley, T. and Scott, A. J. (2013). Two-sample rank tests under
       complex sampling. *Biometrika* 100, 831-842.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({"psu": range(10), "w": [1.0, 2.0] * 5,
    ...                    "y": [3, 1, 4, 1, 5, 9, 2, 6, 5, 3],
    ...                    "g": ["a"] * 5 + ["b"] * 5})
    >>> res = ib.ranktest(ib.Design(df, weights="w", psu="psu"), "y", "g")
    >>> res.statistic_name, res.df
    ('t', (1.0, 8.0))
    """
    check_design(design, "ranktest")
    se_method = check_se_design(design, se, "ranktest")
    if test not in RANK_TESTS:
        raise EstimationError(f"ranktest: test must be one of {', '.join(RANK_TESTS)}; "
                              f"got {test!r}")
    g_ = numeric_by_group(design, y, group, na_rm, "ranktest")
    y, group, d = g_.y, g_.group, g_.design
    codes, levels, rows, seen = g_.codes, g_.levels, g_.rows, g_.seen
    if seen.size < 2:
        raise EstimationError(f"ranktest: group column {group!r} has {seen.size} level(s) "
                              f"in the rows analysed; a rank test compares two or more")
    w_all = d.unmasked_weights
    yv = design.data[y].to_numpy(dtype=float)[rows]
    w = w_all[rows].astype(float)
    g = np.searchsorted(seen, codes[rows])  # 0 .. k-1
    k = seen.size

    # estimated population ranks, tied values sharing their (unweighted) mean
    order = np.argsort(yv, kind="stable")
    ys, ws = yv[order], w[order]
    cum = np.cumsum(ws.astype(np.longdouble)).astype(np.float64)
    mid = cum - ws / 2
    new = np.ones(ys.size, dtype=bool)
    new[1:] = ys[1:] != ys[:-1]
    tie = np.cumsum(new) - 1
    tie_mean = np.bincount(tie, weights=mid) / np.bincount(tie)
    rank = np.empty_like(mid)
    rank[order] = tie_mean[tie]
    N = float(np.sum(w.astype(np.longdouble)))
    if test == "vanderWaerden":
        score = stats.norm.ppf(rank / N)
    elif test == "median":
        score = (rank > N / 2).astype(float)
    else:
        score = rank / N

    Ng = np.bincount(g, weights=w, minlength=k)
    if (Ng <= 0).any():
        empty = [repr(levels[seen[i]]) for i in np.flatnonzero(Ng <= 0)]
        raise DomainError(f"ranktest: level(s) {', '.join(empty)} of {group!r} have no "
                          f"rows with positive weight")
    means = np.bincount(g, weights=w * score, minlength=k) / Ng
    beta = means[1:] - means[0]
    # influence of each difference (scores held fixed), without the weight
    resid = score - means[g]
    onehot = (g[:, None] == np.arange(1, k)[None, :]) / Ng[1:]
    u_rows = resid[:, None] * (onehot - (g == 0)[:, None] / Ng[0])
    u = np.zeros((design.n, k - 1))
    u[rows] = u_rows
    z = u * w_all[:, None]
    dom = np.where(rows, 0, -1).astype(np.int64)
    infl = Influence(values=z, domain=dom, n_domains=1)

    def reps(W: np.ndarray) -> np.ndarray:
        return beta[None, :] + W.T @ u  # the full-sample total of u is zero

    sat_df = None
    if se_method == "linearized":
        V = np.atleast_2d(vcov_of(d, beta, infl, reps))
    else:
        # the regression of the scores on [1, group indicators] (R's svyglm in
        # svyranktest): its coefficients past the intercept are beta
        Xg = np.zeros((d.n, 1, k))
        Xg[rows, 0, 0] = 1.0
        Xg[rows, 0, 1:] = g[:, None] == np.arange(1, k)[None, :]
        resid = np.zeros((d.n, 1))
        resid[rows, 0] = score - means[g]
        block = np.where(rows & (w_all > 0), 0, -1)
        working = Working(U=Xg, UW=Xg * np.where(rows, w_all, 0.0)[:, None, None],
                          resid=np.where(block[:, None] >= 0, resid, 0.0), block=block,
                          n_blocks=1)
        V = np.atleast_2d(vcov_of(d, np.r_[means[0], beta], infl, reps, se=se_method,
                                  working=working))[1:, 1:]
        sat_df = small_sample_adjust(d, working, se_method).df.ravel()[1:]  # type: ignore[arg-type]
    df = float(degrees_of_freedom(d, dom, 1)[0])
    lv = [levels[i] for i in seen]
    title = f"Design-based {test} test"
    if k == 2:
        se_value = math.sqrt(V[0, 0]) if V[0, 0] >= 0 else math.nan
        est = float(beta[0])
        t = est / se_value if se_value > 0 else (math.nan if math.isnan(se_value) or est == 0
                                                 else math.copysign(math.inf, est))
        ddf = df - 1 if sat_df is None else float(sat_df[0])
        p = float(2 * stats.t.sf(abs(t), ddf)) if ddf > 0 else math.nan
        return TestResult(statistic=t, df=(1.0, ddf), pvalue=p, method="t", title=title,
                          statistic_name="t",
                          data=f"{y} by {group} ({lv[1]!r} minus {lv[0]!r})",
                          estimate=est, se=se_value,
                          details={"mean_scores": pd.Series(means, index=pd.Index(
                              lv, name=group), name=y)})
    ndf = float(k - 1)
    try:
        chisq = float(beta @ np.linalg.solve(V, beta))
    except np.linalg.LinAlgError:
        chisq = math.nan
    ddf = df - ndf if sat_df is None else float(sat_df.min())
    F = chisq / ndf
    p = float(stats.f.sf(F, ndf, ddf)) if ddf > 0 else math.nan
    return TestResult(statistic=F, df=(ndf, ddf), pvalue=p, method="F", title=title,
                      statistic_name="F", data=f"{y} by {group}",
                      details={"chisq": chisq,
                               "coefficients": pd.Series(beta, index=pd.Index(
                                   lv[1:], name=group), name=y),
                               "mean_scores": pd.Series(means, index=pd.Index(
                                   lv, name=group), name=y),
                               "vcov": V})
