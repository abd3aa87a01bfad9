"""Distributions of weighted sums of chi-squares, for Rao-Scott type tests.

A design-based test statistic such as the working likelihood ratio is
distributed, under the null, as :math:`\\sum_k \\lambda_k \\chi^2_{1,k}` with
:math:`\\lambda_k` the generalised design effects (Rao and Scott 1984). Its
tail is approximated by Satterthwaite's scaled chi-square or by the
saddlepoint approximation of Kuonen (1999), as R's ``pchisqsum`` and
``pFsum`` do.

References
----------
.. [1] Rao, J. N. K. and Scott, A. J. (1984). On chi-squared tests for
   multiway contingency tables with cell proportions estimated from survey
   data. *Annals of Statistics* 12, 46-60.
.. [2] Kuonen, D. (1999). Saddlepoint approximations for distributions of
   quadratic forms in normal variables. *Biometrika* 86, 929-935.
.. [3] Lumley, T. and Scott, A. J. (2014). Tests for regression models
   fitted to survey data. *Australian & New Zealand Journal of Statistics*
   56, 1-14.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, stats

__all__ = ["pchisqsum", "pfsum", "satterthwaite"]


def satterthwaite(a: np.ndarray) -> tuple[float, float]:
    """Scale and degrees of freedom of the chi-square matching two moments of
    :math:`\\sum_k a_k \\chi^2_1`."""
    a = np.asarray(a, dtype=float)
    tr = a.mean()
    tr2 = (a * a).mean() / tr ** 2
    return float(tr * tr2), float(a.size / tr2)


def _saddle(x: float, lam: np.ndarray) -> float:
    """Upper tail P(sum lam_k chi2_1 > x) by the saddlepoint; NaN near the mean."""
    d = lam.max()
    lam = lam / d
    x = x / d

    def kprime(z: float) -> float:
        return float(np.sum(lam / (1 - 2 * z * lam)))

    if (lam < 0).any():
        lmin = np.max(1 / (2 * lam[lam < 0])) * 0.99999
    elif x > lam.sum():
        lmin = -0.01
    else:
        lmin = -lam.size / (2 * x)
    lmax = np.min(1 / (2 * lam[lam > 0])) * 0.99999
    zeta = optimize.brentq(lambda z: kprime(z) - x, lmin, lmax, xtol=1e-14, rtol=1e-14,
                           maxiter=500)
    k0 = -np.sum(np.log(1 - 2 * zeta * lam)) / 2
    w = np.sign(zeta) * np.sqrt(2 * (zeta * x - k0))
    v = zeta * np.sqrt(2 * np.sum(lam ** 2 / (1 - 2 * zeta * lam) ** 2))
    if abs(zeta) < 1e-4:
        return float("nan")
    return float(stats.norm.sf(w + np.log(v / w) / w))


def pchisqsum(x: float, a: np.ndarray, *, method: str = "saddlepoint") -> float:
    """Upper tail probability of :math:`\\sum_k a_k \\chi^2_1` at ``x``.

    ``method`` is ``"satterthwaite"`` or ``"saddlepoint"`` (which falls back
    to Satterthwaite where the saddlepoint is undefined, as R does).
    """
    a = np.asarray(a, dtype=float)
    scale, df = satterthwaite(a)
    guess = float(stats.chi2.sf(x / scale, df))
    if method == "satterthwaite":
        return guess
    s = _saddle(float(x), a)
    return guess if np.isnan(s) else s


def pfsum(x: float, a: np.ndarray, ddf: float, *, method: str = "saddlepoint") -> float:
    """Upper tail of :math:`\\sum_k a_k \\chi^2_1 / (\\chi^2_{ddf}/ddf)` at ``x``.

    The F analogue used for survey tests with ``ddf`` denominator degrees of
    freedom (R's ``pFsum``); ``ddf = inf`` gives :func:`pchisqsum`.
    """
    a = np.asarray(a, dtype=float)
    if np.isinf(ddf):
        return pchisqsum(x, a, method=method)
    scale, ndf = satterthwaite(a)
    result = float(stats.f.sf(x / ndf / scale, ndf, ddf))
    if method == "saddlepoint":
        lam = np.concatenate([a, np.full(int(ddf), -x / ddf)])
        s = _saddle(0.0, lam)
        if not np.isnan(s):
            result = s
    return result
