"""Linearisation (Taylor series) variance: influence values to a covariance matrix.

This is the one place where innobaro turns an estimator's influence values
into a design-based covariance matrix. Estimators, models and tests hand it an
:class:`Influence`; they never compute a variance themselves.

For weighted influence values :math:`z_{i}` (the estimator's linearised
contribution of row :math:`i`, weight included), stage :math:`k` contributes

.. math::

    \\hat V_k = \\sum_{h} \\pi_{h}\\, s_h
        \\sum_{u \\in h} (Z_u - c_h)(Z_u - c_h)^\\top,
    \\qquad s_h = (1 - f_h) \\frac{n_h}{n_h - 1},

where :math:`Z_u` is the total of :math:`z` over unit :math:`u`, :math:`c_h`
the mean of the :math:`n_h` unit totals of stratum :math:`h`, :math:`f_h =
n_h/N_h` (zero without fpc) and :math:`\\pi_h` the product of the sampling
fractions of the stages above (1 at the first stage). Without fpc only the
first stage counts (the ultimate-cluster, with-replacement variance). A
stratum with :math:`f_h = 1` contributes nothing at its stage. Lonely PSUs
follow the design's ``lonely_psu`` rule (see :class:`~innobaro.Design`).

Unequal-probability designs (``Design(pps=...)``): with Brewer's
approximation the fpc factor is per unit, :math:`1 - \\pi_u` in place of
:math:`1 - f_h`, and the stages below unit :math:`u` are multiplied by
:math:`\\pi_u` in place of :math:`f_h` (R's ``svyrecvar`` with ``pps="brewer"``);
the other methods are quadratic forms in the joint probabilities, computed by
:func:`innobaro.variance.pps.joint_vcov` from the same (weighting-corrected)
PSU totals.

References: Wolter (2007), *Introduction to Variance Estimation*, ch. 2;
Lumley (2010), *Complex Surveys*, sec. 2.2 and appendix; R package survey,
``svyrecvar``.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from typing import cast

import numpy as np
import scipy.sparse as sp

from .._linalg import bincount
from ..design import Design, Stage, stage_certain, unit_fpc_factor
from ..errors import InnobaroWarning, LonelyPSUError
from .calibration import project_influence
from .pps import joint_vcov

__all__ = ["Influence", "LevelIndicators", "LevelInfluence", "design_df", "linearized_vcov"]

#: Largest dense (units x columns) block held in memory at once.
_DENSE_LIMIT = 1 << 22

#: Largest (units x columns x columns) cross product done without BLAS.
_SMALL_PRODUCT = 1 << 24


@dataclass(frozen=True)
class Influence:
    """Weighted influence values of an estimator, possibly split by domain.

    The columns of the statistic are ``(domain d, variable j)`` pairs, in the
    order ``d * q + j``. Row ``i`` contributes ``values[i, j]`` to column
    ``(domain[i], j)`` only, so domain estimates need no dense n-by-domain
    matrix.

    Attributes
    ----------
    values : (n, q) float64
        Influence values, weight included (zero outside the domain).
    domain : (n,) int64
        Domain of each row, ``-1`` for rows in no domain (outside the subset
        or removed as missing). These rows also do not count as "present"
        when a lonely-PSU rule counts the strata a domain reaches.
    n_domains : int
        Number of domains ``D``.
    """

    values: np.ndarray
    domain: np.ndarray
    n_domains: int

    @property
    def n_variables(self) -> int:
        """Number of variables ``q`` (columns per domain)."""
        return int(self.values.shape[1])

    @property
    def n_columns(self) -> int:
        return self.n_domains * self.n_variables

    @property
    def all_in(self) -> bool:
        """Every row belongs to some domain."""
        try:
            return self._all_in  # type: ignore[attr-defined,no-any-return]
        except AttributeError:
            value = bool((self.domain >= 0).all())
            object.__setattr__(self, "_all_in", value)
            return value


@dataclass(frozen=True)
class LevelIndicators:
    """Influence values of the ``K`` level indicators of one categorical
    variable, held compactly: row ``i`` has

    .. math:: z_{ik} = s_i\\,(1[c_i = k] - p_{d(i) k}),

    with :math:`c_i` its level, :math:`s_i` its scale (``w_i / \\hat N_d`` for
    the shares of a mean, ``w_i`` for the counts of a total, zero outside the
    domains) and :math:`p_{dk}` the centre of its domain (the shares; none for
    a total). Its PSU totals are one ``bincount`` over (unit, domain, level)
    less the centres times the units' totals of the scale, so no dense
    n-by-K matrix is needed.

    Attributes
    ----------
    code : (n,) integer
        Level of each row, in ``0 .. K-1`` (any level where ``scale`` is zero).
    scale : (n,) float64
    centre : (D, K) float64 or None
    n_levels : int
    """

    code: np.ndarray
    scale: np.ndarray
    centre: np.ndarray | None
    n_levels: int

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.code.size), self.n_levels)

    def dense(self, domain: np.ndarray) -> np.ndarray:
        """The (n, K) influence values (``domain``: each row's domain, -1 outside)."""
        K = self.n_levels
        z = np.zeros((self.code.size, K))
        z[np.arange(self.code.size), self.code] = 1.0
        if self.centre is not None:
            z -= self.centre[np.maximum(domain, 0)]
        z *= self.scale[:, None]
        z[domain < 0] = 0.0
        return z


class LevelInfluence(Influence):
    """An :class:`Influence` of level indicators held as :class:`LevelIndicators`.

    The variance engine sums it per unit without the dense (n, K) matrix;
    ``values`` builds that matrix on first use (weighting corrections,
    two-phase designs, small-sample adjustments read it).
    """

    levels: LevelIndicators

    def __init__(self, levels: LevelIndicators, domain: np.ndarray, n_domains: int, *,
                 all_in: bool | None = None) -> None:
        object.__setattr__(self, "levels", levels)
        object.__setattr__(self, "domain", domain)
        object.__setattr__(self, "n_domains", n_domains)
        if all_in is not None:  # known to the caller: no pass over the rows
            object.__setattr__(self, "_all_in", all_in)

    @property  # type: ignore[override]
    def values(self) -> np.ndarray:
        try:
            return self._values  # type: ignore[attr-defined,no-any-return]
        except AttributeError:
            value = self.levels.dense(self.domain)
            object.__setattr__(self, "_values", value)
            return value

    @property
    def n_variables(self) -> int:
        return self.levels.n_levels


def linearized_vcov(design: Design, infl: Influence) -> np.ndarray:
    """Covariance matrix of a statistic from its influence values.

    Parameters
    ----------
    design : Design
    infl : Influence

    Returns
    -------
    (m, m) ndarray, ``m = infl.n_domains * q``.
    """
    stages = design.active_stages
    m = infl.n_columns
    vcov = np.zeros((m, m))
    # weighting (post-stratification, raking, calibration): residuals of the
    # weighting model, as coefficients on design-level bases
    steps = design.calibration_steps
    corrections = project_influence(steps, infl.values, infl.domain,
                                    infl.n_domains) if steps else []
    pps = design.pps
    if pps is not None and pps.joint:  # Overton, Hartley-Rao, joint probabilities
        return joint_vcov(pps, stages[0], _dense(corrected_unit_totals(design, stages[0], 0,
                                                                       infl, corrections)))
    mult_h = np.ones(stages[0].n_strata)  # product of sampling fractions above, per stratum
    for k, st in enumerate(stages):
        unit_f = unit_fpc_factor(pps, k)  # Brewer: 1 - pi per unit; else None
        vcov += _stage_vcov(design, st, k, infl, mult_h, corrections, unit_f)
        # the strata of stage k + 1 are the units of stage k
        if unit_f is None:
            mult_h = (mult_h * st.sampling_fraction)[st.unit_stratum]
        else:
            assert pps is not None
            mult_h = mult_h[st.unit_stratum] * pps.unit_prob[k]
        if not np.any(mult_h):
            break
    return vcov


def _dense(totals: sp.csr_matrix | np.ndarray) -> np.ndarray:
    if sp.issparse(totals):
        return cast(sp.csr_matrix, totals).toarray()
    return cast(np.ndarray, totals)


def corrected_unit_totals(design: Design, st: Stage, k: int, infl: Influence,
                          corrections: list) -> sp.csr_matrix | np.ndarray:
    """Totals of the influence values per (unit of stage ``k``, column), less the
    weighting corrections (residuals of the weighting models)."""
    totals = _unit_totals(st, infl)
    if corrections:
        totals = _dense(totals)
        n_units = st.unit_stratum.size
        for basis, coef in corrections:
            unit_totals = design.cache.basis_totals(
                basis, k, functools.partial(basis.unit_totals, st.unit, n_units))
            totals = totals - _product(unit_totals, coef)
    return totals


def _product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b``; a small product by numpy's own loop (see :func:`_centred_crossprod`)."""
    if sp.issparse(a) or sp.issparse(b) or a.shape[0] * a.shape[1] * b.shape[1] > _SMALL_PRODUCT:
        return cast(np.ndarray, a @ b)
    return np.einsum("uk,km->um", a, b)


def _unit_totals(st: Stage, infl: Influence) -> sp.csr_matrix | np.ndarray:
    """Totals of the influence values per (unit, column): dense when small."""
    dom = infl.domain
    n_units = st.unit_stratum.size
    if isinstance(infl, LevelInfluence) and n_units * infl.n_columns <= _DENSE_LIMIT:
        return _level_unit_totals(st, infl)
    z = infl.values
    q = z.shape[1]
    keep: slice | np.ndarray
    if infl.all_in:
        keep = slice(None)
        key = st.unit if infl.n_domains == 1 else st.unit * infl.n_domains + dom
        zk = z
    else:
        keep = dom >= 0
        key = st.unit[keep] * infl.n_domains + dom[keep]
        zk = z[keep]
    if n_units * infl.n_columns <= _DENSE_LIMIT:
        size = n_units * infl.n_domains
        out = np.empty((size, q))
        for j in range(q):  # loop over variables, not over rows, units or domains
            out[:, j] = bincount(key, weights=zk[:, j], minlength=size)
        return out.reshape(n_units, infl.n_columns)
    rows = np.repeat(st.unit[keep], q)
    cols = (dom[keep][:, None] * q + np.arange(q)).ravel()
    return sp.csr_matrix((zk.ravel(), (rows, cols)), shape=(n_units, infl.n_columns))


def _level_unit_totals(st: Stage, infl: LevelInfluence) -> np.ndarray:
    """Unit totals of level indicators: one bincount over (unit, domain, level)
    of the scale, less the centres times its sums over the levels."""
    lv = infl.levels
    K, D = lv.n_levels, infl.n_domains
    n_units = st.unit_stratum.size
    if infl.all_in:
        unit, dom, code, s = st.unit, infl.domain, lv.code, lv.scale
    else:
        keep = infl.domain >= 0
        unit, dom, code, s = st.unit[keep], infl.domain[keep], lv.code[keep], lv.scale[keep]
    key = unit if D == 1 else unit * D + dom
    out = bincount(key * K + code, weights=s, minlength=n_units * D * K).reshape(n_units, D * K)
    if lv.centre is not None:  # every row has one level: the unit's total of s is the sum
        per_unit = out.reshape(n_units, D, K).sum(axis=2)
        out -= np.repeat(per_unit, K, axis=1) * lv.centre.ravel()
    return out


def _stage_vcov(design: Design, st: Stage, k: int, infl: Influence,
                mult_h: np.ndarray, corrections: list,
                unit_f: np.ndarray | None = None) -> np.ndarray:
    rule = design.lonely_psu
    m = infl.n_columns
    totals = corrected_unit_totals(design, st, k, infl, corrections)
    nh = st.n_units
    # the fpc factor: per stratum, or (Brewer) per unit and applied below
    f = st.fpc_factor if unit_f is None else np.ones(st.n_strata)
    certain = stage_certain(st, design.pps, k)
    lonely = (nh == 1) & ~certain
    if lonely.any() and rule == "fail":
        labels = design.strata_labels if k == 0 else []
        where = ("strata " + ", ".join(labels[i] for i in np.flatnonzero(lonely)[:20])
                 if k == 0 else f"{int(lonely.sum())} stage-{k} units")
        raise LonelyPSUError(f"single PSU in {where} at stage {k + 1}; choose lonely_psu")
    with np.errstate(divide="ignore", invalid="ignore"):
        scale_h = np.where(nh > 1, f * nh / (nh - 1), f)
    scale_h = np.where(certain, 0.0, scale_h) * mult_h

    # stratum sums of the unit totals, hence the centres
    sums = _stratum_sums(st, totals)
    centre = sums / nh[:, None]
    col_factor = np.ones(m)
    extra = None
    if unit_f is not None and lonely.any():
        # a lonely unit's own factor, for the "adjust" rule below
        scale_h = scale_h.copy()
        scale_h[lonely] = scale_h[lonely] * unit_f[st.starts[lonely]]
    if lonely.any():
        if rule in ("remove", "certainty"):
            scale_h = np.where(lonely, 0.0, scale_h)
        elif rule == "adjust":
            if k == 0:
                extra = _adjust_lonely(design, st, infl, totals, sums, lonely, scale_h)
            # inside a unit the stratum is the unit itself: the average unit total
            # of that call is the lonely unit's own total, which contributes nothing
            scale_h = np.where(lonely, 0.0, scale_h)
        elif rule == "average":
            scale_h = np.where(lonely, 0.0, scale_h)
            col_factor = _average_factor(design, st, k, infl, lonely, certain)
    unit_scale = scale_h[st.unit_stratum]
    if unit_f is not None:
        # lonely strata have the unit's factor in scale_h already
        unit_scale = unit_scale * np.where(lonely[st.unit_stratum], 1.0, unit_f)
    vcov = _centred_crossprod(totals, centre, st.unit_stratum, unit_scale, m)
    if extra is not None:
        vcov += extra
    if not np.all(col_factor == 1.0):
        with np.errstate(invalid="ignore"):
            vcov = vcov * np.sqrt(np.outer(col_factor, col_factor))
        bad = ~np.isfinite(col_factor)
        vcov[bad, :] = np.nan
        vcov[:, bad] = np.nan
    return vcov


def _stratum_sums(st: Stage, totals: sp.csr_matrix | np.ndarray) -> np.ndarray:
    if sp.issparse(totals):
        ind = sp.csr_matrix((np.ones(st.unit_stratum.size),
                             (st.unit_stratum, np.arange(st.unit_stratum.size))),
                            shape=(st.n_strata, st.unit_stratum.size))
        return np.asarray((ind @ totals).todense())
    out = np.zeros((st.n_strata, totals.shape[1]))
    nonempty = st.n_units > 0
    out[nonempty] = np.add.reduceat(totals, st.starts[nonempty], axis=0)
    return out


def _centred_crossprod(totals: sp.csr_matrix | np.ndarray, centre: np.ndarray,
                       unit_stratum: np.ndarray, unit_scale: np.ndarray, m: int) -> np.ndarray:
    """sum_u scale_u (Z_u - c_h(u)) (Z_u - c_h(u))^T, in bounded memory."""
    n_units = unit_stratum.size
    chunk = max(1, _DENSE_LIMIT // max(m, 1))
    out = np.zeros((m, m))
    for a in range(0, n_units, chunk):  # chunks of units, to bound memory
        b = min(n_units, a + chunk)
        block = totals[a:b]
        if sp.issparse(block):
            block = cast(sp.csr_matrix, block).toarray()
        dev = block - centre[unit_stratum[a:b]]
        scaled = dev * unit_scale[a:b, None]
        if (b - a) * m * m <= _SMALL_PRODUCT:
            # a small product: numpy's own loop, as a multi-threaded BLAS call
            # waits for its threads to wake (tens of ms on a loaded machine)
            out += np.einsum("ui,uj->ij", scaled, dev)
        else:
            out += scaled.T @ dev
    return out


def _present_strata(st: Stage, infl: Influence, calibrated: bool = False) -> np.ndarray:
    """(H, D) boolean: does domain d have any present row in stratum h?

    A weighted (calibrated) design keeps every stratum in every domain, as R's
    ``subset`` of a calibrated design keeps every row.
    """
    if calibrated:
        return np.ones((st.n_strata, infl.n_domains), dtype=bool)
    keep = infl.domain >= 0
    h = st.unit_stratum[st.unit[keep]]
    key = h * infl.n_domains + infl.domain[keep]
    counts = bincount(key, minlength=st.n_strata * infl.n_domains)
    return counts.reshape(st.n_strata, infl.n_domains) > 0


def _adjust_lonely(design: Design, st: Stage, infl: Influence, totals: sp.csr_matrix | np.ndarray,
                   sums: np.ndarray, lonely: np.ndarray, scale_h: np.ndarray) -> np.ndarray:
    """Contribution of lonely PSUs under "adjust" (survey >= 4.3).

    Each lonely PSU's total is centred at the average PSU total of the call,
    the grand total over the number of PSUs in the strata the domain reaches
    (R's ``subset`` leaves the other strata out of the design, so a lonely
    stratum that the domain does not reach contributes nothing).
    """
    q = infl.n_variables
    present = _present_strata(st, infl, bool(design.calibration_steps))  # (H, D)
    n_psu = np.repeat((present * st.n_units[:, None]).sum(axis=0), q).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        centre = np.where(n_psu > 0, sums.sum(axis=0) / n_psu, 0.0)
    strata = np.flatnonzero(lonely)
    units = st.starts[strata]  # a lonely stratum has exactly one unit
    block = totals[units]
    if sp.issparse(block):
        block = block.toarray()
    dev = (block - centre) * np.repeat(present[strata], q, axis=1)
    return (dev * scale_h[strata, None]).T @ dev


def _average_factor(design: Design, st: Stage, k: int, infl: Influence,
                    lonely: np.ndarray, certain: np.ndarray) -> np.ndarray:
    """Per-column factor (strata reached) / (strata reached with 2+ PSUs)."""
    q = infl.n_variables
    present = _present_strata(st, infl, bool(design.calibration_steps))  # (H, D)
    if k == 0:
        n_strat = present.sum(axis=0)
        n_ok = (present & ~lonely[:, None]).sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = n_strat / n_ok
        factor = np.where(n_strat == 0, 1.0, factor)
        if ((n_strat > 0) & (n_ok == 0)).any():
            warnings.warn("lonely_psu='average': a domain reaches only strata with a single "
                          "PSU, so there is no stratum to average over; its variance is "
                          "undefined (NaN), as in R", InnobaroWarning, stacklevel=6)
    else:
        # each unit above is its own call with one stratum: a lonely one gives NaN
        hit = (present & lonely[:, None]).any(axis=0)
        if hit.any():
            warnings.warn(f"lonely_psu='average' cannot average over a unit with a single "
                          f"stage-{k + 1} unit; the variance is undefined (NaN), as in R",
                          InnobaroWarning, stacklevel=6)
        factor = np.where(hit, np.nan, 1.0)
    return np.repeat(factor.astype(float), q)


def design_df(design: Design, infl: Influence) -> np.ndarray:
    """Degrees of freedom per domain: PSUs minus strata among nonzero-weight rows.

    Returns one value per domain (R's ``degf`` of the domain's subset design):
    the count behind :func:`innobaro.variance.degrees_of_freedom`, which is
    what the rest of innobaro calls.
    """
    st = design.stages[0]
    w = design.unmasked_weights
    keep = (infl.domain >= 0) & (w != 0)
    d = infl.n_domains
    n_units = st.unit_stratum.size
    if keep.all():
        unit, dom = st.unit, infl.domain
    else:
        unit, dom = st.unit[keep], infl.domain[keep]
    # the distinct (PSU, domain) pairs, then the distinct (stratum, domain)
    # pairs among them: one pass over the rows
    pairs = _distinct(unit if d == 1 else unit * d + dom, n_units * d)
    unit_of, dom_of = np.divmod(pairs, d)
    strata = _distinct(st.unit_stratum[unit_of] * d + dom_of, st.n_strata * d)
    psu_count = bincount(dom_of, minlength=d)
    strat_count = bincount(strata % d, minlength=d)
    return (psu_count - strat_count).astype(float)


def _distinct(keys: np.ndarray, size: int) -> np.ndarray:
    """The distinct values of ``keys`` (in ``0 .. size-1``), sorted."""
    if size <= _DENSE_LIMIT * 4:
        hit = np.zeros(size, dtype=bool)
        hit[keys] = True
        return np.flatnonzero(hit)
    return np.unique(keys.astype(np.int64))
