"""Diagnostics of fitted survey models: collinearity of their terms.

:func:`gvif` gives Fox and Monette's generalised variance-inflation factor
of each term of a model, from the model's design-based covariance matrix, as
R's ``car::vif`` does for an ``svyglm``.

References
----------
.. [1] Fox, J. and Monette, G. (1992). Generalized collinearity diagnostics.
   *Journal of the American Statistical Association* 87, 178-183.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .errors import EstimationError

if TYPE_CHECKING:
    from .models import GLMResult

__all__ = ["gvif"]


def _logdet(m: np.ndarray) -> float:
    if m.size == 0:
        return 0.0
    sign, value = np.linalg.slogdet(m)
    return float(value) if sign > 0 else float("nan")


def gvif(model: GLMResult) -> pd.DataFrame:
    r"""Generalised variance-inflation factors of a model's terms.

    With :math:`R` the correlation matrix of the coefficients (the design-based
    covariance :math:`\hat V` scaled to unit diagonal, intercept left out),
    the GVIF of a term whose coefficients are the block :math:`R_{11}` is

    .. math:: \mathrm{GVIF} = \det R_{11}\, \det R_{22} / \det R,

    :math:`R_{22}` the block of the other terms (Fox and Monette 1992). It is
    the factor by which the volume of the term's confidence ellipsoid grows
    because the term is correlated with the others; for a term of one
    coefficient it is the usual VIF. :math:`\mathrm{GVIF}^{1/(2\,df)}`, on the
    scale of a standard error, compares terms of different sizes: a value of
    2 (GVIF 4 for one coefficient) is the usual warning sign. Aliased
    coefficients (not estimable) are left out. As R's ``car::vif`` on an
    ``svyglm`` fit.

    Parameters
    ----------
    model : GLMResult
        A fitted model with an intercept and at least two terms.

    Returns
    -------
    pandas.DataFrame
        Indexed by term, with columns ``gvif``, ``df`` (the term's estimable
        coefficients) and ``gvif_scaled`` (:math:`\mathrm{GVIF}^{1/(2\,df)}`).

    References
    ----------
    .. [1] Fox, J. and Monette, G. (1992). Generalized collinearity
       diagnostics. *JASA* 87, 178-183.
    .. [2] Fox, J. and Weisberg, S. (2019). *An R Companion to Applied
       Regression*, 3rd ed., sec. 8.8 (``car::vif``).

    Examples
    --------
    >>> import innobaro as ib
    >>> from innobaro.datasets import barometer_design
    >>> m = ib.logit("innovated ~ C(sector) + free_income + np.log(employees)",
    ...              barometer_design())
    >>> ib.gvif(m).columns.tolist()
    ['gvif', 'df', 'gvif_scaled']
    """
    terms = {t: cols for t, cols in model.spec.term_columns.items() if t != "Intercept"}
    if "Intercept" not in model.spec.term_columns:
        raise EstimationError("gvif needs a model with an intercept (as car::vif): the "
                              "correlations of coefficients without one mix in the level "
                              "of the predictors")
    if len(terms) < 2:
        raise EstimationError("gvif needs a model with at least two terms besides the "
                              "intercept")
    n_coef = len(model.spec.column_names)
    term_of = np.full(n_coef, -1)
    for i, cols in enumerate(terms.values()):  # over the model's few terms
        term_of[cols] = i
    keep = (term_of >= 0) & ~model.aliased.to_numpy()
    v = model.vcov.to_numpy()[np.ix_(keep, keep)]
    sd = np.sqrt(np.diag(v))
    if not np.all(sd > 0):
        raise EstimationError("gvif: a coefficient has zero variance")
    r = v / np.outer(sd, sd)
    owner = term_of[keep]
    logdet_all = _logdet(r)
    rows = []
    for i, term in enumerate(terms):  # over the model's few terms
        own = owner == i
        if not own.any():
            rows.append((term, float("nan"), 0))
            continue
        g = np.exp(_logdet(r[np.ix_(own, own)]) + _logdet(r[np.ix_(~own, ~own)])
                   - logdet_all)
        rows.append((term, float(g), int(own.sum())))
    out = pd.DataFrame(rows, columns=["term", "gvif", "df"]).set_index("term")
    with np.errstate(divide="ignore", invalid="ignore"):
        out["gvif_scaled"] = out["gvif"] ** (1.0 / (2.0 * out["df"]))
    return out
