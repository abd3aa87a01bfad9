"""Planning a survey: sample sizes and their allocation across strata.

Every sample size is the size of the *net* sample (respondents) divided by
the expected response rate and rounded up. The variance a design is expected
to give is the simple-random-sampling variance times a design effect
:math:`\\mathrm{deff}`, given or taken from an earlier wave's
:class:`~innobaro.Estimate` (its ``deff``).

References: Cochran, W. G. (1977). *Sampling Techniques*, 3rd ed., Wiley,
sections 4.4-4.6 and 5.5-5.9; Valliant, R., Dever, J. A. and Kreuter, F.
(2018). *Practical Tools for Designing and Weighting Survey Samples*, 2nd ed.,
Springer, chapters 3-4 (R package PracTools: ``nCont``, ``nProp``,
``nPropMoe``, ``nDep2sam``, ``strAlloc``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .errors import InnobaroError, warn

__all__ = [
    "InfeasibleTargetError",
    "allocate",
    "publishable_size",
    "sample_size_difference",
    "sample_size_mean",
    "sample_size_proportion",
    "sample_size_total",
]


class InfeasibleTargetError(InnobaroError):
    """A precision target, cost or bound that no allocation can meet."""


def _deff_values(deff: Any) -> np.ndarray:
    """A design effect as an array: numbers, or an Estimate's ``deff``."""
    if hasattr(deff, "deff") and hasattr(deff, "estimate"):
        deff = deff.deff.to_numpy(dtype=float)
    out = np.asarray(deff, dtype=float)
    if np.any(~np.isfinite(out)) or np.any(out <= 0):
        raise InnobaroError(f"deff must be positive and finite, got {deff!r}")
    return out


def _z(level: float) -> float:
    if not 0 < level < 1:
        raise InnobaroError(f"level must be between 0 and 1, got {level!r}")
    return float(stats.norm.ppf(1 - (1 - level) / 2))


def _gross(n_net: np.ndarray, response_rate: Any) -> Any:
    rr = np.asarray(response_rate, dtype=float)
    if np.any(~(rr > 0)) or np.any(rr > 1):
        raise InnobaroError(f"response_rate must be in (0, 1], got {response_rate!r}")
    # a relative tolerance keeps 99.99999999 from becoming 101 through rounding noise
    out = np.ceil(n_net / rr * (1 - 1e-12)).astype(np.int64)
    return int(out) if out.ndim == 0 else out


def _size(s2: np.ndarray, v0: np.ndarray, deff: np.ndarray, N: Any) -> np.ndarray:
    """Net size n = deff S^2 / (V0 + deff S^2 / N): the solution of
    deff (1/n - 1/N) S^2 = V0."""
    n0 = deff * s2 / v0
    if N is None:
        return np.asarray(n0, dtype=float)
    N = np.asarray(N, dtype=float)
    return np.asarray(n0 / (1 + n0 / N), dtype=float)


def _target_variance(moe: Any, cv: Any, level: float, centre: Any, what: str) -> np.ndarray:
    if (moe is None) == (cv is None):
        raise InnobaroError(f"give exactly one of moe= and cv= for the {what}")
    if moe is not None:
        e = np.asarray(moe, dtype=float)
        if np.any(e <= 0):
            raise InnobaroError(f"moe must be positive, got {moe!r}")
        return np.asarray((e / _z(level)) ** 2)
    c = np.asarray(cv, dtype=float)
    if np.any(c <= 0):
        raise InnobaroError(f"cv must be positive, got {cv!r}")
    if centre is None:
        raise InnobaroError(f"a cv target for the {what} needs its expected value (mean=)")
    return np.asarray((c * np.asarray(centre, dtype=float)) ** 2)


def sample_size_mean(sd: Any, *, moe: Any = None, cv: Any = None, mean: Any = None,
                     N: Any = None, deff: Any = 1.0, response_rate: float = 1.0,
                     level: float = 0.95) -> Any:
    """Sample size for estimating a mean with a target margin of error or CV.

    Parameters
    ----------
    sd : float or array
        The population standard deviation :math:`S` of the variable.
    moe : float or array, optional
        Target half-width of the ``level`` normal interval.
    cv : float or array, optional
        Target coefficient of variation (needs ``mean``).
    mean : float or array, optional
        The expected mean (for a CV target).
    N : float or array, optional
        Population size (finite population correction); None: infinite.
    deff : float, array or Estimate
        Design effect; an :class:`~innobaro.Estimate` gives its ``deff``.
    response_rate : float
        Expected response rate; the net size is divided by it.
    level : float
        Confidence level of the margin of error.

    Returns
    -------
    int or numpy.ndarray
        The gross sample size, rounded up.

    Notes
    -----
    With target variance :math:`V_0 = (e/z_{1-\\alpha/2})^2` or
    :math:`V_0 = (c\\,\\bar Y)^2`, the net size solves
    :math:`\\mathrm{deff}\\,(1/n - 1/N)S^2 = V_0`:
    :math:`n = n_0/(1 + n_0/N)` with :math:`n_0 = \\mathrm{deff}\\,S^2/V_0`
    (Cochran 1977, eq. 4.1 and 4.3; Valliant, Dever and Kreuter 2018, sec. 3.1,
    PracTools ``nCont``). The gross size is :math:`\\lceil n/r \\rceil`.

    Examples
    --------
    >>> from innobaro.planning import sample_size_mean
    >>> sample_size_mean(10, moe=1)
    385
    >>> sample_size_mean(10, cv=0.05, mean=50, N=1000, deff=1.5, response_rate=0.6)
    40
    """
    s2 = np.asarray(sd, dtype=float) ** 2
    v0 = _target_variance(moe, cv, level, mean, "mean")
    return _gross(_size(s2, v0, _deff_values(deff), N), response_rate)


def sample_size_total(sd: Any, N: Any, *, moe: Any = None, cv: Any = None, total: Any = None,
                      deff: Any = 1.0, response_rate: float = 1.0, level: float = 0.95) -> Any:
    """Sample size for estimating a population total with a target margin of error or CV.

    Parameters
    ----------
    sd : float or array
        The population standard deviation :math:`S` of the variable.
    N : float or array
        Population size.
    moe : float or array, optional
        Target half-width of the interval of the total.
    cv : float or array, optional
        Target CV of the total (needs ``total``).
    total : float or array, optional
        The expected total (for a CV target).
    deff : float, array or Estimate
        Design effect.
    response_rate : float
        Expected response rate.
    level : float
        Confidence level of the margin of error.

    Returns
    -------
    int or numpy.ndarray
        The gross sample size, rounded up.

    Notes
    -----
    :math:`\\hat Y = N \\bar y`, so a margin :math:`e` on the total is the margin
    :math:`e/N` on the mean and the CVs are equal (Cochran 1977, sec. 4.5):
    :func:`sample_size_mean` with ``moe=e/N`` or ``cv=c, mean=total/N``.

    Examples
    --------
    >>> from innobaro.planning import sample_size_total
    >>> sample_size_total(10, N=5000, moe=2000)
    1623
    """
    N_ = np.asarray(N, dtype=float)
    moe_m = None if moe is None else np.asarray(moe, dtype=float) / N_
    mean = None if total is None else np.asarray(total, dtype=float) / N_
    return sample_size_mean(sd, moe=moe_m, cv=cv, mean=mean, N=N, deff=deff,
                            response_rate=response_rate, level=level)


def sample_size_proportion(p: Any, *, moe: Any = None, cv: Any = None, N: Any = None,
                           deff: Any = 1.0, response_rate: float = 1.0,
                           level: float = 0.95) -> Any:
    """Sample size for estimating a proportion with a target margin of error or CV.

    Parameters
    ----------
    p : float or array
        The expected proportion, strictly between 0 and 1.
    moe : float or array, optional
        Target half-width of the ``level`` normal interval (in proportion units).
    cv : float or array, optional
        Target coefficient of variation.
    N : float or array, optional
        Population size; None: infinite.
    deff : float, array or Estimate
        Design effect.
    response_rate : float
        Expected response rate.
    level : float
        Confidence level of the margin of error.

    Returns
    -------
    int or numpy.ndarray
        The gross sample size, rounded up.

    Notes
    -----
    :func:`sample_size_mean` with :math:`S^2 = \\frac{N}{N-1}p(1-p)` (the
    population variance of a 0/1 variable; :math:`p(1-p)` when :math:`N` is
    infinite) and mean :math:`p` (Cochran 1977, eq. 4.2; Valliant, Dever and
    Kreuter 2018, sec. 3.1.2, PracTools ``nProp`` and ``nPropMoe``).

    Examples
    --------
    >>> from innobaro.planning import sample_size_proportion
    >>> sample_size_proportion(0.5, moe=0.03)
    1068
    """
    p_ = np.asarray(p, dtype=float)
    if np.any((p_ <= 0) | (p_ >= 1)):
        raise InnobaroError(f"p must be strictly between 0 and 1, got {p!r}")
    s2 = p_ * (1 - p_)
    if N is not None:
        N_ = np.asarray(N, dtype=float)
        s2 = s2 * N_ / (N_ - 1)
    v0 = _target_variance(moe, cv, level, p_, "proportion")
    return _gross(_size(s2, v0, _deff_values(deff), N), response_rate)


def sample_size_difference(*, sd1: Any = None, sd2: Any = None, p1: Any = None,
                           p2: Any = None, delta: Any = None, power: float | None = 0.8,
                           moe: Any = None, level: float = 0.95, overlap: float = 0.0,
                           correlation: float = 0.0, deff: Any = 1.0,
                           response_rate: float = 1.0) -> Any:
    """Sample size per group to detect, or estimate, a difference of two means or shares.

    The groups are two domains (independent samples) or two waves with a
    share ``overlap`` of the units in both and a ``correlation`` of the
    variable between waves.

    Parameters
    ----------
    sd1, sd2 : float or array, optional
        Standard deviations in the two groups (means).
    p1, p2 : float or array, optional
        Expected shares in the two groups (proportions); instead of ``sd1``, ``sd2``.
    delta : float or array, optional
        The difference to detect (with ``power``); default ``p2 - p1``.
    power : float or None
        Power of the two-sided test at level ``1 - level``; None with ``moe``.
    moe : float or array, optional
        Target half-width of the interval of the difference (instead of power).
    level : float
        Confidence level (the test's size is ``1 - level``).
    overlap : float
        Share :math:`\\gamma` of units in both samples (two waves of a panel).
    correlation : float
        Correlation :math:`\\rho` of the variable in the two waves.
    deff : float, array or Estimate
        Design effect.
    response_rate : float
        Expected response rate.

    Returns
    -------
    int or numpy.ndarray
        The gross sample size in each group, rounded up.

    Notes
    -----
    With :math:`n` in each group, :math:`V(\\hat y_2 - \\hat y_1) =
    \\mathrm{deff}\\,(S_1^2 + S_2^2 - 2\\gamma\\rho S_1 S_2)/n`. For power
    :math:`1-\\beta`: :math:`n = \\mathrm{deff}\\,(z_{1-\\alpha/2} + z_{1-\\beta})^2
    (S_1^2 + S_2^2 - 2\\gamma\\rho S_1 S_2)/\\delta^2`; for a margin :math:`e`:
    :math:`z_{1-\\alpha/2}^2` in place of the sum and :math:`e^2` of
    :math:`\\delta^2` (Cochran 1977, sec. 5A.13 on differences between waves;
    Valliant, Dever and Kreuter 2018, sec. 4.4, PracTools ``nDep2sam`` and
    ``nProp2sam``), with :math:`S_i^2 = p_i(1-p_i)` for shares.

    Examples
    --------
    >>> from innobaro.planning import sample_size_difference
    >>> sample_size_difference(p1=0.40, p2=0.50)
    385
    >>> sample_size_difference(p1=0.40, p2=0.50, overlap=0.5, correlation=0.6)
    270
    """
    if p1 is not None or p2 is not None:
        if p1 is None or p2 is None:
            raise InnobaroError("give both p1= and p2=")
        a, b = np.asarray(p1, dtype=float), np.asarray(p2, dtype=float)
        if np.any((a <= 0) | (a >= 1) | (b <= 0) | (b >= 1)):
            raise InnobaroError("p1 and p2 must be strictly between 0 and 1")
        s1, s2 = np.sqrt(a * (1 - a)), np.sqrt(b * (1 - b))
        if delta is None:
            delta = b - a
    elif sd1 is not None and sd2 is not None:
        s1, s2 = np.asarray(sd1, dtype=float), np.asarray(sd2, dtype=float)
    else:
        raise InnobaroError("give sd1= and sd2= (means) or p1= and p2= (proportions)")
    if not (0 <= overlap <= 1 and -1 <= correlation <= 1):
        raise InnobaroError(f"overlap must be in [0, 1] and correlation in [-1, 1], got "
                            f"{overlap!r} and {correlation!r}")
    s2sum = s1 ** 2 + s2 ** 2 - 2 * overlap * correlation * s1 * s2
    z = _z(level)
    if moe is not None:
        width = np.asarray(moe, dtype=float)
        zz = z ** 2
    else:
        if power is None or not 0 < power < 1:
            raise InnobaroError(f"power must be between 0 and 1, got {power!r}")
        width = np.abs(np.asarray(delta, dtype=float))
        if np.any(width <= 0):
            raise InnobaroError("delta (the difference to detect) must not be 0")
        zz = (z + float(stats.norm.ppf(power))) ** 2
    n = _deff_values(deff) * zz * s2sum / width ** 2
    return _gross(np.asarray(n, dtype=float), response_rate)


def _kg_ok(p: np.ndarray, neff: np.ndarray, level: float) -> np.ndarray:
    """The NCHS width rules on a Clopper-Pearson interval with ``neff`` units."""
    x = p * neff
    a = (1 - level) / 2
    lower = np.where(x > 0, stats.beta.ppf(a, x, neff - x + 1), 0.0)
    upper = np.where(x < neff, stats.beta.ppf(1 - a, x + 1, neff - x), 1.0)
    w = upper - lower
    return (neff >= 30) & (w < 0.30) & ((w <= 0.05) | (w / p <= 1.30))


def publishable_size(p: Any, *, deff: Any = 1.0, N: Any = None, response_rate: Any = 1.0,
                     level: float = 0.95, infeasible: str = "raise") -> Any:
    """Sample size at which an expected share passes the NCHS reliability rules.

    Parameters
    ----------
    p : float, array or pandas.Series
        Expected shares, strictly between 0 and 1 (one per domain; a Series
        names the domains and gives a Series back).
    deff : float, array or Estimate
        Design effect in each domain.
    N : float or array, optional
        Population size of each domain; None: infinite.
    response_rate : float or array
        Expected response rate (in each domain).
    level : float
        Confidence level of the Korn-Graubard interval (0.95 in the standard).
    infeasible : {"raise", "census"}
        A domain whose size exceeds ``N``: raise :class:`InfeasibleTargetError`
        naming the domains, or ask all ``N`` units there and warn
        (:class:`~innobaro.InnobaroWarning`) naming them.

    Returns
    -------
    int, numpy.ndarray or pandas.Series
        The gross sample size in each domain.

    Notes
    -----
    The NCHS data presentation standards for proportions (Parker et al. 2017;
    :mod:`innobaro.flags`) publish a share when the effective sample size
    :math:`n^* = p(1-p)/V` is at least 30, the Korn-Graubard interval is
    narrower than 0.30 and either at most 0.05 wide or at most 130% of
    :math:`p`. Planning takes the interval as Clopper-Pearson with
    :math:`n^*` trials (Korn and Graubard 1998 without the degrees-of-freedom
    factor), finds the smallest :math:`n^*` that passes, and turns it into
    :math:`n = \\mathrm{deff}\\, n^* / (1 + \\mathrm{deff}\\, n^*/N)`, because
    :math:`V = \\mathrm{deff}\\,(1 - n/N)\\,p(1-p)/n`.

    Examples
    --------
    >>> from innobaro.planning import publishable_size
    >>> publishable_size([0.5, 0.1], deff=1.2).tolist()
    [57, 117]
    """
    if infeasible not in ("raise", "census"):
        raise InnobaroError(f"infeasible must be 'raise' or 'census', got {infeasible!r}")
    p_ = np.atleast_1d(np.asarray(p, dtype=float))
    if np.any((p_ <= 0) | (p_ >= 1)):
        raise InnobaroError("p must be strictly between 0 and 1 (a share of 0 or 1 is "
                            "never published with a width test)")
    # the smallest passing n* by bisection on integers, every domain at once
    lo = np.full(p_.shape, 29.0)
    hi = np.full(p_.shape, 30.0)
    while True:
        bad = ~_kg_ok(p_, hi, level)
        if not bad.any():
            break
        lo = np.where(bad, hi, lo)
        hi = np.where(bad, hi * 2, hi)
    while np.any(hi - lo > 1):
        mid = np.floor((lo + hi) / 2)
        ok = _kg_ok(p_, mid, level)
        hi = np.where(ok, mid, hi)
        lo = np.where(ok, lo, mid)
    d = np.broadcast_to(_deff_values(deff), p_.shape)
    n = d * hi
    if N is not None:
        n = n / (1 + n / np.asarray(N, dtype=float))
    out = _gross(n, response_rate)
    if N is not None:
        over = out > np.asarray(N, dtype=float)
        if over.any():
            names = (list(p.index[over]) if isinstance(p, pd.Series)
                     else np.flatnonzero(over).tolist())
            if infeasible == "census":
                warn(f"the target cannot be met in {int(over.sum())} domain(s); every unit "
                     f"is asked there: {names}")
                out = np.minimum(out, np.broadcast_to(np.asarray(N), out.shape)).astype(np.int64)
                return (pd.Series(out, index=p.index, name="n") if isinstance(p, pd.Series)
                        else out)
            raise InfeasibleTargetError(
                f"the target cannot be met in {int(over.sum())} domain(s) even by asking "
                f"every unit at the expected response rate: {names}")
    if isinstance(p, pd.Series):
        return pd.Series(out, index=p.index, name="n")
    return out if np.ndim(p) else int(out[0])


def _bounded(share: np.ndarray, n: float, lower: np.ndarray, upper: np.ndarray,
             names: pd.Index) -> np.ndarray:
    """Continuous allocation proportional to ``share`` within ``[lower, upper]`` summing to n.

    Strata that hit a bound are fixed there and the rest re-shared, as
    Cochran (1977, sec. 5.9) for Neyman allocation beyond the stratum size;
    at most one pass per stratum.
    """
    if lower.sum() > n + 1e-9:
        raise InfeasibleTargetError(
            f"n = {n:g} is below the sum of the lower bounds ({lower.sum():g})")
    if upper.sum() < n - 1e-9:
        raise InfeasibleTargetError(
            f"n = {n:g} is above the sum of the stratum sizes / upper bounds "
            f"({upper.sum():g})")
    fixed = np.zeros(share.shape, dtype=bool)
    x = np.zeros(share.shape)
    for _ in range(share.size + 1):
        free_n = n - x[fixed].sum()
        s = np.where(fixed, 0.0, share)
        total = s.sum()
        x = np.where(fixed, x, free_n * s / total if total > 0 else 0.0)
        over = ~fixed & (x > upper + 1e-12)
        under = ~fixed & (x < lower - 1e-12)
        if not over.any() and not under.any():
            return x
        # fix the side that is violated more, then re-share the rest
        if over.any() and (x[over] - upper[over]).sum() >= (lower[under] - x[under]).sum():
            x = np.where(over, upper, x)
            fixed |= over
        else:
            x = np.where(under, lower, x)
            fixed |= under
    raise InfeasibleTargetError(f"no allocation within the bounds for strata {list(names)}")


def _round(x: np.ndarray, n: int, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Largest-remainder rounding that keeps the total ``n`` and the integer bounds."""
    base = np.clip(np.floor(x + 1e-9), lower, upper)
    short = int(n - base.sum())
    room = base < upper
    frac = np.where(room, x - base, -np.inf)
    if short > 0:
        order = np.argsort(-frac, kind="stable")[:short]
        base[order] += 1
    return base.astype(np.int64)


def allocate(N: Any, n: int | None = None, *, method: str = "proportional", sd: Any = None,
             cost: Any = None, budget: float | None = None, min_n: Any = 2,
             max_n: Any = None) -> pd.Series:
    """Allocate a sample across strata: proportional, Neyman or cost-optimal.

    Parameters
    ----------
    N : pandas.Series or array
        Population size of each stratum (the index names the strata).
    n : int, optional
        Total sample size (``budget`` instead for ``method="optimal"``).
    method : {"proportional", "neyman", "optimal"}
        ``"proportional"``: :math:`n_h \\propto N_h`; ``"neyman"``:
        :math:`n_h \\propto N_h S_h`; ``"optimal"``:
        :math:`n_h \\propto N_h S_h/\\sqrt{c_h}`.
    sd : array, optional
        Standard deviation :math:`S_h` in each stratum (Neyman, optimal).
    cost : array, optional
        Cost :math:`c_h` of a unit in each stratum (optimal).
    budget : float, optional
        Total variable cost :math:`C = \\sum c_h n_h` (optimal, instead of ``n``).
    min_n : int or array
        Smallest sample in a stratum (2: a variance can be estimated), or in
        each stratum (for example :func:`publishable_size` of every domain, so
        that the rest of ``n`` is allocated on top of a precision target); a
        stratum smaller than ``min_n`` is taken whole.
    max_n : array, optional
        Largest sample in each stratum; default and at most :math:`N_h`.

    Returns
    -------
    pandas.Series
        Integer :math:`n_h` by stratum, summing to ``n`` (to the largest total
        the budget allows for ``budget``).

    Notes
    -----
    The continuous allocation (Cochran 1977, eq. 5.26 and 5.60; Valliant,
    Dever and Kreuter 2018, sec. 3.5, PracTools ``strAlloc``) is brought
    into the bounds by fixing strata at a violated bound and re-allocating the
    rest (Cochran 1977, sec. 5.9), then rounded by largest remainders,
    which keeps the total and the bounds.

    Examples
    --------
    >>> import pandas as pd
    >>> from innobaro.planning import allocate
    >>> N = pd.Series([500, 300, 40], index=["a", "b", "c"])
    >>> allocate(N, 100).tolist()
    [59, 36, 5]
    >>> allocate(N, 100, method="neyman", sd=[1, 2, 10]).tolist()
    [33, 40, 27]
    """
    index = N.index if isinstance(N, pd.Series) else pd.RangeIndex(np.size(N))
    N_ = np.asarray(N, dtype=float).ravel()
    if np.any(~np.isfinite(N_)) or np.any(N_ < 1) or np.any(N_ != np.round(N_)):
        raise InnobaroError("N must hold a positive whole number for every stratum")
    upper = N_.copy() if max_n is None else np.minimum(N_, np.asarray(max_n, dtype=float))
    lower = np.minimum(np.broadcast_to(np.asarray(min_n, dtype=float), N_.shape), upper)
    if np.any(lower < 0) or np.any(lower != np.round(lower)):
        raise InnobaroError("min_n must be a non-negative whole number (in every stratum)")
    if method == "proportional":
        share = N_
    elif method in ("neyman", "optimal"):
        if sd is None:
            raise InnobaroError(f"method={method!r} needs sd= (one per stratum)")
        s = np.broadcast_to(np.asarray(sd, dtype=float), N_.shape)
        if np.any(s < 0) or np.any(~np.isfinite(s)):
            raise InnobaroError("sd must be non-negative and finite in every stratum")
        share = N_ * s
        if method == "optimal":
            if cost is None:
                raise InnobaroError("method='optimal' needs cost= (one per stratum)")
            c = np.broadcast_to(np.asarray(cost, dtype=float), N_.shape)
            if np.any(c <= 0) or np.any(~np.isfinite(c)):
                raise InnobaroError("cost must be positive and finite in every stratum")
            share = share / np.sqrt(c)
    else:
        raise InnobaroError(f"unknown method {method!r}: 'proportional', 'neyman' or 'optimal'")
    if budget is not None:
        if method != "optimal" or n is not None:
            raise InnobaroError("budget= goes with method='optimal' and no n=")
        # n from the budget: C = sum c_h n_h with n_h = n share_h / sum(share)
        unit = float((c * share).sum() / share.sum())
        n = int(np.floor(budget / unit + 1e-9))
        if float((c * lower).sum()) > budget:
            raise InfeasibleTargetError(
                f"budget {budget:g} is below the cost of the minimum sample "
                f"({float((c * lower).sum()):g})")
        n = int(min(n, upper.sum()))
        x = _bounded(share, n, lower, upper, index)
        out = _round(x, n, lower, upper)
        while float((c * out).sum()) > budget + 1e-9:  # bounds moved cost: shrink
            n -= 1
            out = _round(_bounded(share, n, lower, upper, index), n, lower, upper)
        return pd.Series(out, index=index, name="n")
    if n is None:
        raise InnobaroError("give n= (the total sample size)")
    x = _bounded(share, float(n), lower, upper, index)
    return pd.Series(_round(x, int(n), lower, upper), index=index, name="n")
