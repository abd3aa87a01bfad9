"""Verdicts on published claims: a fixed vocabulary and the rule for each word.

A published survey makes claims of three kinds; each is checked with a
design-based estimate, its 95% interval and a two-sided test at the 5% level:

- a **level** ("three in four units innovated", "88% say employees
  initiated"): the claimed value is the null hypothesis;
- a **direction** ("education innovates more than health and care", "more
  innovation where free income is low"): a difference (or a log odds ratio,
  or a contrast) has the claimed sign; the null hypothesis is no difference;
- **no difference** ("innovation happens all over the country", "on a par
  with Denmark"): groups, or the estimate and a fixed benchmark, are equal.

A claim that no variable in the data measures is ``"not measured"``.

The verdicts (:data:`VERDICTS`):

- ``supported``: for a level, the Wald t test does not reject the claimed
  value (a Wald interval would contain it); for a direction, the estimate has the claimed
  sign and the test rejects no difference; for no difference, the test does
  not reject equality;
- ``direction only``: for a direction, the estimate has the claimed sign but
  the test does not reject no difference;
- ``not supported``: for a level, the test rejects the claimed value; for a
  direction, the estimate has the other sign (or is exactly null); for no
  difference, the test rejects equality;
- ``not measured``: no variable in the data answers the claim.

"Supported" for a level or a no-difference claim means that the data are
compatible with it, not that they prove it: the interval, printed beside the
verdict, shows which values and differences are compatible as well.
"""

from __future__ import annotations

import numpy as np

__all__ = ["KINDS", "VERDICTS", "verdict"]

#: The verdict words, in order from agreement to absence.
VERDICTS = ("supported", "direction only", "not supported", "not measured")

#: The kinds of claim :func:`verdict` judges.
KINDS = ("level", "direction", "no difference", "not measured")


def verdict(kind: str, estimate: float | None = None, null: float = 0.0,
            pvalue: float | None = None, *, sign: int = 1, alpha: float = 0.05) -> str:
    """The verdict on one claim, by the rules of this module.

    Parameters
    ----------
    kind : {"level", "direction", "no difference", "not measured"}
        What the claim asserts.
    estimate : float, optional
        The estimate (not needed for ``"no difference"`` and ``"not
        measured"``).
    null : float, default 0
        The value the estimate is compared with: the claimed level, or the
        value of no difference (0 for a difference, 1 for an odds ratio).
    pvalue : float, optional
        The two-sided p-value of the test of ``null`` (or of equality).
    sign : {1, -1}, default 1
        For a direction: 1 if the claim says the estimate exceeds ``null``,
        -1 if it says it is below.
    alpha : float, default 0.05
        The level of the test.

    Returns
    -------
    str
        One of :data:`VERDICTS`.

    Examples
    --------
    >>> from innobaro.claims import verdict
    >>> verdict("level", 0.736, 0.75, 0.20)
    'supported'
    >>> verdict("direction", 0.096, 0.0, 1e-5)
    'supported'
    >>> verdict("direction", 0.02, 0.0, 0.51)
    'direction only'
    >>> verdict("direction", 0.92, 1.0, 0.10, sign=-1)   # an odds ratio below 1
    'direction only'
    >>> verdict("no difference", pvalue=0.98)
    'supported'
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, KINDS))}; got {kind!r}")
    if kind == "not measured":
        return "not measured"
    if sign not in (1, -1):
        raise ValueError(f"sign must be 1 or -1; got {sign!r}")
    if pvalue is None or not np.isfinite(pvalue):
        raise ValueError(f"a {kind} claim needs a finite p-value; got {pvalue!r}")
    rejects = pvalue < alpha
    if kind in ("level", "no difference"):
        return "not supported" if rejects else "supported"
    if estimate is None or not np.isfinite(estimate):
        raise ValueError(f"a direction claim needs a finite estimate; got {estimate!r}")
    if sign * (estimate - null) <= 0:
        return "not supported"
    return "supported" if rejects else "direction only"
