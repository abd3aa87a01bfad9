"""Reliability flags for published proportions.

The NCHS Data Presentation Standards for Proportions (Parker et al. 2017)
decide whether a survey share may be published. None of the reference tools
apply them by default; the report does for every share it prints:

- ``suppress`` when the effective sample size :math:`n^* = \\hat p(1-\\hat
  p)/\\widehat{V}(\\hat p)` (at most the sample size; the sample size when the
  variance is zero) is below 30, or the Korn-Graubard 95% interval is 0.30
  wide or wider, or it is wider than 0.05 and wider than 130% of the
  estimate;
- ``review`` when the design has fewer than 8 degrees of freedom;
- ``ok`` otherwise.

References
----------
.. [1] Parker, J. D. et al. (2017). National Center for Health Statistics
   Data Presentation Standards for Proportions. *Vital and Health Statistics*
   2(175).
.. [2] Korn, E. L. and Graubard, B. I. (1998). Confidence intervals for
   proportions with small expected number of positive counts estimated from
   survey data. *Survey Methodology* 24, 193-201.
"""

from __future__ import annotations

import numpy as np

__all__ = ["reliability"]


def reliability(p: np.ndarray, var: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                n: np.ndarray, df: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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

    Returns
    -------
    flags : array of str
        ``"suppress"``, ``"review"`` or ``"ok"``.
    n_eff : array
        The effective sample sizes.

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
    p, var = np.asarray(p, float), np.asarray(var, float)
    n = np.asarray(n, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        neff = np.where(var > 0, p * (1 - p) / var, n)
    neff = np.minimum(neff, n)
    width = np.asarray(upper, float) - np.asarray(lower, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(p > 0, width / p, np.inf)
    suppress = (neff < 30) | (width >= 0.30) | ((width > 0.05) & (relative > 1.30))
    review = np.asarray(df, float) < 8
    flags = np.where(suppress, "suppress", np.where(review, "review", "ok"))
    return flags, neff
