"""Confidence intervals: t or normal intervals, and the proportion interval methods.

Every function here is vectorised over entries (domains, variables): ``p``,
``var`` and ``df`` are arrays of the same length.

Degrees of freedom
------------------
innobaro uses t quantiles on the design degrees of freedom (PSUs minus strata)
for every interval by default, as Stata does and as R's ``svyciprop`` does.
R's ``confint`` for means and totals uses normal quantiles; pass
``df=float("inf")`` to reproduce it.

Proportions of exactly 0 or 1
-----------------------------
With no variation in a domain the design variance is zero. ``"beta"`` and
``"wilson"`` then use the number of sampled rows with nonzero weight as the
effective sample size (Korn and Graubard 1998, p. 205), so they still give a
one-sided interval such as ``[0, 0.036]``; ``"mean"``, ``"asin"``,
``"logit"``, ``"xlogit"`` and ``"likelihood"`` collapse to the point, and the
estimator warns.

References
----------
.. [1] Korn, E. L. and Graubard, B. I. (1998). Confidence intervals for
   proportions with small expected number of positive counts estimated from
   survey data. *Survey Methodology* 24, 193-201.
.. [2] Lumley, T. (2010). *Complex Surveys*, sec. 2.4.2 (``svyciprop``).
.. [3] Dean, N. and Pagano, M. (2015). Evaluating confidence interval methods
   for binomial proportions in clustered surveys. *J. Survey Statistics and
   Methodology* 3, 484-503 (the survey Wilson interval).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import special, stats

__all__ = ["PROPORTION_METHODS", "FixedInterval", "brent_roots", "proportion_interval",
           "t_pvalue", "t_quantile", "wald_interval"]

PROPORTION_METHODS = ("logit", "likelihood", "asin", "beta", "mean", "xlogit", "wilson")


def t_quantile(level: float, df: np.ndarray | float) -> np.ndarray:
    """Two-sided critical value ``t_{df}(1 - (1 - level)/2)``; normal where df is inf.

    Degrees of freedom of zero or less give NaN (no interval).

    Examples
    --------
    >>> import numpy as np
    >>> from innobaro.intervals import t_quantile
    >>> t_quantile(0.95, [4, np.inf]).round(4).tolist()
    [2.7764, 1.96]
    """
    _check_level(level)
    df = np.asarray(df, dtype=float)
    prob = 1.0 - (1.0 - level) / 2.0
    with np.errstate(invalid="ignore"):
        t = stats.t.ppf(prob, np.where(np.isinf(df), 1.0, df))
    return np.where(np.isinf(df), stats.norm.ppf(prob), np.where(df > 0, t, np.nan))


def t_pvalue(t: np.ndarray | float, df: np.ndarray | float) -> np.ndarray:
    """Two-sided p-value ``2 P(T_df > |t|)``; normal where df is inf.

    Degrees of freedom of zero or less give NaN, as :func:`t_quantile`.

    Examples
    --------
    >>> import numpy as np
    >>> from innobaro.intervals import t_pvalue
    >>> t_pvalue([2.7764451, 1.959964], [4, np.inf]).round(4).tolist()
    [0.05, 0.05]
    """
    t = np.abs(np.asarray(t, dtype=float))
    df = np.asarray(df, dtype=float)
    with np.errstate(invalid="ignore"):
        p = 2.0 * stats.t.sf(t, np.where(np.isinf(df) | (df <= 0), 1.0, df))
    return np.where(np.isinf(df), 2.0 * stats.norm.sf(t), np.where(df > 0, p, np.nan))


def _check_level(level: float) -> None:
    if not (0 < level < 1):
        from .errors import InnobaroError

        raise InnobaroError(f"level must be between 0 and 1, got {level!r}")


def wald_interval(estimate: np.ndarray, se: np.ndarray, level: float,
                  df: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """``estimate -/+ t * se`` with ``t`` from :func:`t_quantile`.

    Examples
    --------
    >>> import numpy as np
    >>> from innobaro.intervals import wald_interval
    >>> lower, upper = wald_interval(np.array([10.0]), np.array([2.0]), 0.95, 4)
    >>> lower.round(4).tolist(), upper.round(4).tolist()
    ([4.4471], [15.5529])
    """
    t = t_quantile(level, df)
    return estimate - t * se, estimate + t * se


def proportion_interval(method: str, p: np.ndarray, var: np.ndarray, level: float,
                        df: np.ndarray, *, n_rows: np.ndarray, n_obs: np.ndarray,
                        logit_var: np.ndarray | None = None
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Interval for a proportion by one of R's ``svyciprop`` methods.

    Parameters
    ----------
    method : str
        ``"logit"``, ``"likelihood"``, ``"asin"``, ``"beta"``, ``"mean"``,
        ``"xlogit"`` or ``"wilson"``.
    p, var : arrays
        Estimated proportion and its design variance.
    level : float
    df : array
        Design degrees of freedom per entry.
    n_rows : array
        Rows of the domain (zero weights included): the ``nrow(design)`` of
        the Korn-Graubard degrees-of-freedom adjustment.
    n_obs : array
        Rows of the domain with nonzero weight (the effective sample size
        when the variance is zero, and ``n`` in the dispersion ``n/(n-1)``).
    logit_var : array, optional
        Design variance of :math:`\\operatorname{logit}\\hat p` for ``"logit"``
        (R's ``svyglm`` intercept: the delta method under linearisation, the
        replicate variance of the replicates' logits under replicate weights);
        by default the delta method.

    Notes
    -----
    With :math:`t = t_{df}(1-\\alpha/2)` and :math:`\\hat p`, :math:`v` the
    estimate and its variance:

    - ``mean``: :math:`\\hat p \\pm t\\sqrt v`.
    - ``xlogit`` and ``logit``: :math:`\\operatorname{expit}(\\operatorname{logit}
      \\hat p \\pm t \\sqrt v / (\\hat p(1-\\hat p)))` (``logit`` is R's
      intercept-only ``svyglm`` Wald interval, which is the same interval).
    - ``asin``: :math:`\\sin^2(\\arcsin\\sqrt{\\hat p} \\pm t\\sqrt v /
      (2\\sqrt{\\hat p(1-\\hat p)}))`.
    - ``beta`` (Korn and Graubard 1998): effective sample size
      :math:`n^* = \\hat p(1-\\hat p)/v \\cdot (t_{n-1}/t_{df})^2`
      (:math:`n` rows), interval
      :math:`[B^{-1}_{\\alpha/2}(n^*\\hat p, n^*(1-\\hat p)+1),
      B^{-1}_{1-\\alpha/2}(n^*\\hat p + 1, n^*(1-\\hat p))]`.
    - ``wilson``: with :math:`n^* = \\hat p(1-\\hat p)/v`,
      :math:`(\\hat p + t^2/2n^* \\mp (t/2n^*)\\sqrt{4n^*\\hat p(1-\\hat p)+t^2})
      / (1 + t^2/n^*)`.
    - ``likelihood``: the Rao-Scott scaled profile likelihood of the
      intercept-only quasi-binomial model, :math:`\\{\\mu:
      2\\,\\mathrm{KL}(\\hat p\\|\\mu)\\, n/\\phi \\le t^2 \\lambda\\}` with
      design effect :math:`\\lambda = v\\, n/(\\hat p(1-\\hat p))` and
      dispersion :math:`\\phi = n/(n-1)`, solved exactly. R's ``svyciprop``
      reads the same endpoints off a spline through a coarse profile grid,
      which is accurate to about 1e-4; innobaro solves for them to machine
      precision.

    Examples
    --------
    A proportion of 0.2 with standard error 0.05 (variance 0.0025), 20 design
    degrees of freedom and 100 rows:

    >>> import numpy as np
    >>> from innobaro.intervals import proportion_interval
    >>> for method in ("mean", "logit", "beta", "wilson", "likelihood"):
    ...     lo, hi = proportion_interval(method, np.array([0.2]), np.array([0.0025]), 0.95,
    ...                                  np.array([20.0]), n_rows=np.array([100]),
    ...                                  n_obs=np.array([100]))
    ...     print(f"{method:<10} {lo[0]:.4f} {hi[0]:.4f}")
    mean       0.0957 0.3043
    logit      0.1153 0.3242
    beta       0.1064 0.3259
    wilson     0.1164 0.3218
    likelihood 0.1099 0.3169
    """
    p = np.asarray(p, dtype=float)
    var = np.asarray(var, dtype=float)
    df = np.broadcast_to(np.asarray(df, dtype=float), p.shape)
    t = t_quantile(level, df)
    lo, hi = _method_interval(method, p, var, level, df, t, n_rows, n_obs, logit_var)
    # no interval without a variance, and none without a t quantile (no
    # degrees of freedom) except where the method collapses to a proportion
    # of 0 or 1 whatever the quantile; as R's NaN variances and qt(0 df) give
    point = np.isin(method, ("logit", "xlogit", "asin", "likelihood")) & ((p <= 0) | (p >= 1))
    undefined = np.isnan(var) | (np.isnan(t) & ~point)
    # Korn-Graubard's end at a proportion of 0 (or 1) is 0 (or 1) whatever
    # the effective sample size, as R's qbeta gives it
    beta = (method == "beta") & ~np.isnan(var)
    lo = np.where(undefined & ~(beta & (p <= 0)), np.nan, lo)
    hi = np.where(undefined & ~(beta & (p >= 1)), np.nan, hi)
    return lo, hi


def _method_interval(method: str, p: np.ndarray, var: np.ndarray, level: float,
                     df: np.ndarray, t: np.ndarray, n_rows: np.ndarray,
                     n_obs: np.ndarray, logit_var: np.ndarray | None
                     ) -> tuple[np.ndarray, np.ndarray]:
    se = np.sqrt(var)
    pq = p * (1 - p)
    with np.errstate(divide="ignore", invalid="ignore"):
        if method == "mean":
            return p - t * se, p + t * se
        if method in ("logit", "xlogit"):
            half = t * se / pq
            if method == "logit" and logit_var is not None:
                half = t * np.sqrt(logit_var)
            lp = special.logit(p)
            lo, hi = special.expit(lp - half), special.expit(lp + half)
            return _collapse(p, var, lo, hi)
        if method == "asin":
            half = t * se / (2 * np.sqrt(pq))
            a = np.arcsin(np.sqrt(p))
            return _collapse(p, var, np.sin(a - half) ** 2, np.sin(a + half) ** 2)
        if method in ("beta", "wilson"):
            # no sampling variance (a census, or certainty units only) and
            # 0 < p < 1: the interval is the estimate. The effective sample
            # size is infinite there; the fallback to the rows' count, meant
            # for p of 0 or 1, must not apply (R's beta gives (0.5, 0.5))
            census = (var == 0) & (p > 0) & (p < 1)
            lo, hi = (_beta_interval(p, var, level, df, n_rows, n_obs) if method == "beta"
                      else _wilson_interval(p, var, t, n_obs))
            return np.where(census, p, lo), np.where(census, p, hi)
        if method == "likelihood":
            return _likelihood_interval(p, var, t, n_obs)
    raise ValueError(f"unknown proportion interval method {method!r}")


def _collapse(p: np.ndarray, var: np.ndarray, lo: np.ndarray, hi: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    degenerate = (p <= 0) | (p >= 1)
    return np.where(degenerate, p, lo), np.where(degenerate, p, hi)


def _effective_n(p: np.ndarray, var: np.ndarray, n_obs: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        neff = p * (1 - p) / var
    return np.where((var <= 0) | ~np.isfinite(neff), np.asarray(n_obs, dtype=float), neff)


def _beta_interval(p: np.ndarray, var: np.ndarray, level: float, df: np.ndarray,
                   n_rows: np.ndarray, n_obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    alpha = 1 - level
    neff = _effective_n(p, var, n_obs)
    n_rows = np.asarray(n_rows, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = stats.t.ppf(alpha / 2, n_rows - 1) / np.where(
            np.isinf(df), stats.norm.ppf(alpha / 2), stats.t.ppf(alpha / 2, df))
        neff = neff * ratio ** 2
        a_lo, b_lo = neff * p, neff * (1 - p) + 1
        a_hi, b_hi = neff * p + 1, neff * (1 - p)
        lo = np.where(a_lo > 0, stats.beta.ppf(alpha / 2, np.maximum(a_lo, 1e-300), b_lo), 0.0)
        hi = np.where(b_hi > 0, stats.beta.ppf(1 - alpha / 2, a_hi, np.maximum(b_hi, 1e-300)),
                      1.0)
    return lo, hi


def _wilson_interval(p: np.ndarray, var: np.ndarray, t: np.ndarray, n_obs: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    neff = _effective_n(p, var, n_obs)
    t2 = t * t
    denom = 1 + t2 / neff
    root = np.sqrt(4 * neff * p * (1 - p) + t2)
    centre = p + t2 / (2 * neff)
    half = t / (2 * neff) * root
    return (centre - half) / denom, (centre + half) / denom


def _kl(p: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """Binomial Kullback-Leibler divergence KL(p || mu), 0 log 0 = 0."""
    return special.xlogy(p, p / mu) + special.xlogy(1 - p, (1 - p) / (1 - mu))


def _likelihood_interval(p: np.ndarray, var: np.ndarray, t: np.ndarray, n_obs: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray]:
    n = np.asarray(n_obs, dtype=float)
    phi = n / (n - 1)
    # 2 n KL / phi = t^2 lambda with lambda = var n / (p (1 - p)):  KL = target
    target = t * t * var * phi / (2 * p * (1 - p))
    ok = (p > 0) & (p < 1) & (var > 0) & np.isfinite(target)
    lp = special.logit(np.where(ok, p, 0.5))

    def solve(lo: np.ndarray, hi: np.ndarray, decreasing: bool) -> np.ndarray:
        # vectorised bisection on the logit scale: KL is monotone on each side of p
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            excess = _kl(np.where(ok, p, 0.5), special.expit(mid)) - np.where(ok, target, 0)
            beyond = excess > 0
            if decreasing:  # lower side: beyond means mid is too far left
                lo = np.where(beyond, mid, lo)
                hi = np.where(beyond, hi, mid)
            else:
                hi = np.where(beyond, mid, hi)
                lo = np.where(beyond, lo, mid)
        return 0.5 * (lo + hi)

    span = 60.0
    lower = special.expit(solve(lp - span, lp, decreasing=True))
    upper = special.expit(solve(lp, lp + span, decreasing=False))
    return np.where(ok, lower, p), np.where(ok, upper, p)


IntervalFn = Callable[[float, np.ndarray], tuple[np.ndarray, np.ndarray]]


def brent_roots(f: Callable[[np.ndarray], np.ndarray], lower: np.ndarray, upper: np.ndarray,
                f_lower: np.ndarray, f_upper: np.ndarray, tol: np.ndarray, *,
                maxiter: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Roots of many functions at once by Brent's method, step for step as R's ``uniroot``.

    Each problem :math:`i` starts from the bracket ``[lower[i], upper[i]]``
    with the function values ``f_lower[i]``, ``f_upper[i]`` of opposite sign
    (R's ``uniroot`` computes them and stops when they are not) and stops
    when the bracket is narrower than :math:`2(2\\epsilon|b| + tol_i/2)` or
    the function is 0 at the best point :math:`b`, which is returned: the
    point of the final bracket with the smaller :math:`|f|`. Each step is an
    inverse quadratic (or secant) interpolation when it falls well inside the
    bracket, else a bisection (Brent 1973, the algorithm of R's C function
    ``R_zeroin2``); infinite values of ``f`` count as the largest finite
    number of their sign, as in R.

    Parameters
    ----------
    f : callable
        ``f(x)`` for an array ``x`` of one point per problem, giving one value
        per problem (called with every problem's current point; the values
        of problems already solved are ignored).
    lower, upper, f_lower, f_upper : arrays
        The brackets and the function values at their ends.
    tol : array
        R's ``tol`` of each problem.
    maxiter : int, default 1000
        R's ``maxiter``.

    Returns
    -------
    tuple of arrays
        The roots, and the number of function evaluations each took (-1 where
        ``maxiter`` was reached without convergence).

    References
    ----------
    .. [1] Brent, R. P. (1973). *Algorithms for Minimization without
       Derivatives*. Prentice-Hall, ch. 4.

    Examples
    --------
    >>> import numpy as np
    >>> from innobaro.intervals import brent_roots
    >>> f = lambda x: x ** 2 - np.array([2.0, 3.0])
    >>> lo, hi = np.zeros(2), np.full(2, 2.0)
    >>> roots, _ = brent_roots(f, lo, hi, f(lo), f(hi), np.full(2, 1e-10))
    >>> roots.round(8).tolist()
    [1.41421356, 1.73205081]
    """
    eps = np.finfo(float).eps
    big = np.finfo(float).max
    a = np.array(lower, dtype=float)
    b = np.array(upper, dtype=float)
    fa = np.array(f_lower, dtype=float)
    fb = np.array(f_upper, dtype=float)
    tol = np.broadcast_to(np.asarray(tol, dtype=float), a.shape)
    c, fc = a.copy(), fa.copy()
    root = np.full(a.shape, np.nan)
    evals = np.zeros(a.shape, dtype=np.int64)
    done = fa == 0
    root[done] = a[done]
    at_b = ~done & (fb == 0)
    root[at_b] = b[at_b]
    done |= at_b
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for _ in range(maxiter + 1):  # over iterations, all problems at once
            act = ~done
            if not act.any():
                break
            prev = b - a
            swap = act & (np.abs(fc) < np.abs(fb))
            a = np.where(swap, b, a)
            fa = np.where(swap, fb, fa)
            b = np.where(swap, c, b)
            fb = np.where(swap, fc, fb)
            c = np.where(swap, a, c)
            fc = np.where(swap, fa, fc)
            tol_act = 2 * eps * np.abs(b) + tol / 2
            step = (c - b) / 2
            conv = act & ((np.abs(step) <= tol_act) | (fb == 0))
            root[conv] = b[conv]
            done |= conv
            act &= ~conv
            if not act.any():
                break
            cb = c - b
            secant = a == c
            t1s = fb / fa
            q_ = fa / fc
            t1 = fb / fc
            t2 = fb / fa
            p = np.where(secant, cb * t1s, t2 * (cb * q_ * (q_ - t1) - (b - a) * (t1 - 1.0)))
            q = np.where(secant, 1.0 - t1s, (q_ - 1.0) * (t1 - 1.0) * (t2 - 1.0))
            q = np.where(p > 0, -q, q)
            p = np.abs(p)
            interp = (act & (np.abs(prev) >= tol_act) & (np.abs(fa) > np.abs(fb))
                      & (p < 0.75 * cb * q - np.abs(tol_act * q) / 2)
                      & (p < np.abs(prev * q / 2)))
            step = np.where(interp, p / q, step)
            step = np.where(np.abs(step) < tol_act, np.where(step > 0, tol_act, -tol_act),
                            step)
            a = np.where(act, b, a)
            fa = np.where(act, fb, fa)
            b = np.where(act, b + step, b)
            value = np.asarray(f(b), dtype=float)
            value = np.where(np.isposinf(value), big, np.where(np.isneginf(value), -big,
                                                                value))
            fb = np.where(act, value, fb)
            evals += act
            same = act & (((fb > 0) & (fc > 0)) | ((fb < 0) & (fc < 0)))
            c = np.where(same, a, c)
            fc = np.where(same, fa, fc)
    failed = ~done
    root[failed] = b[failed]
    evals[failed] = -1
    return root, evals


class FixedInterval:
    """Interval ends computed once, at one level and the design's degrees of freedom.

    For intervals that come from root-finding at a given level (the score
    interval of a quantile), which :meth:`~innobaro.Estimate.ci` can give
    only at that level.

    Parameters
    ----------
    lower, upper : arrays
        The ends, one per entry.
    level : float
        The level they were computed at.
    what : str
        How to say in an error what the interval is and how to get another.

    Examples
    --------
    >>> import numpy as np
    >>> from innobaro.intervals import FixedInterval
    >>> FixedInterval(np.array([1.0]), np.array([2.0]), 0.95, "score")(0.95, None)
    (array([1.]), array([2.]))
    """

    def __init__(self, lower: np.ndarray, upper: np.ndarray, level: float, what: str,
                 df: np.ndarray | None = None) -> None:
        self.lower, self.upper, self.level, self.what = lower, upper, level, what
        self.df = None if df is None else np.asarray(df, dtype=float)

    def __call__(self, level: float, df: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """The ends, when ``level`` (and ``df``) are those they were computed at."""
        from .errors import EstimationError

        if not np.isclose(level, self.level, rtol=0, atol=1e-12):
            raise EstimationError(f"the {self.what} interval was computed at level "
                                  f"{self.level:g}; estimate again with level={level:g} "
                                  f"for another")
        if df is not None and self.df is not None and not np.array_equal(
                np.broadcast_to(np.asarray(df, dtype=float), self.df.shape), self.df):
            raise EstimationError(f"the {self.what} interval was computed on the design's "
                                  f"degrees of freedom; other df are not available")
        return self.lower.copy(), self.upper.copy()
