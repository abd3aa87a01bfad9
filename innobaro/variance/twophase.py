"""Variance of a statistic under a two-phase design (R's ``twophase2var`` and ``twophasevar``).

The statistic's weighted influence values :math:`z_i` on the phase-2 rows give

- ``method="full"`` (Horvitz-Thompson form with both phases' joint
  probabilities): :math:`\\hat V = z^\\top \\check\\Delta z` with
  :math:`\\check\\Delta = \\check\\Delta_1 + \\check\\Delta_2 - \\check\\Delta_1
  \\circ \\check\\Delta_2`. For a stratified (cluster) sample each
  :math:`\\check\\Delta_p` has the form :math:`b_i [h(i) = h(j)] + a_i
  [u(i) = u(j)]` (stratum and unit indicators), so every term is a sum over
  groups of :math:`(\\sum_g c_i z_i)(\\sum_g z_j)^\\top` and no
  :math:`n \\times n` matrix is formed. The phase-2 part is
  :math:`z^\\top \\check\\Delta_2 z`, the phase-1 part the rest; after
  calibration of phase 2 the phase-2 part uses the calibration residuals.
- ``method="approx"``: the phase-1 variance estimated from the phase-2 units
  weighted by the inverse of their chance :math:`p_u` of being represented at
  phase 2, :math:`\\sum_h (1 - f_{1h}) \\frac{n_{1h}}{n_{1h}-1} \\sum_u
  (p_u Z_u - \\bar Z_h)^2 / p_u` with :math:`\\bar Z_h = \\sum_u Z_u/n_{1h}`,
  plus the stratified variance of the phase-2 design given phase 1.

References: Särndal, Swensson and Wretman (1992), *Model Assisted Survey
Sampling*, sec. 9.3; Breslow and Chatterjee (1999), *Applied Statistics* 48,
457-468; Lumley (2010), *Complex Surveys*, ch. 8; R package survey,
``twophase2var`` and ``twophasevar``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._linalg import bincount
from .._validate import compact_codes
from ..design import CERTAINTY_TOL
from ..errors import LonelyPSUError
from ..twophase import TwoPhaseDesign, TwoPhaseStructure
from .calibration import project_influence
from .linearization import Influence

__all__ = ["twophase_phases", "twophase_vcov"]


def twophase_vcov(design: TwoPhaseDesign, infl: Influence) -> np.ndarray:
    """Covariance matrix of a statistic under a two-phase design.

    Parameters
    ----------
    design : TwoPhaseDesign
    infl : Influence
        Weighted influence values on the phase-2 rows.

    Returns
    -------
    (m, m) ndarray
        The sum of the phase-1 and phase-2 parts (:func:`twophase_phases`).
    """
    v1, v2 = twophase_phases(design, infl)
    return v1 + v2


def twophase_phases(design: TwoPhaseDesign, infl: Influence) -> tuple[np.ndarray, np.ndarray]:
    """The phase-1 and phase-2 parts of a two-phase variance (R's ``attr(, "phases")``).

    Parameters
    ----------
    design : TwoPhaseDesign
    infl : Influence

    Returns
    -------
    tuple of (m, m) ndarray
        ``(phase1, phase2)``.
    """
    st = design.structure
    x = _dense(infl)
    steps = design.calibration_steps
    if st.method == "full":
        x2 = _residuals(steps, x) if steps else x
        v1 = _full_quadratic(st, x) - _phase2_quadratic(st, x)
        return v1, _phase2_quadratic(st, x2)
    return _approx_phase1(design, st, infl, x), _approx_phase2(design, st, x, steps)


# ------------------------------------------------------------------ helpers
def _dense(infl: Influence) -> np.ndarray:
    """(n, D*q) influence values, column ``d*q + j`` nonzero in domain ``d`` only."""
    z = np.nan_to_num(np.asarray(infl.values, dtype=float))
    q = z.shape[1]
    if infl.n_domains == 1 and infl.all_in:
        return z
    out = np.zeros((z.shape[0], infl.n_columns))
    rows = np.flatnonzero(infl.domain >= 0)
    out[rows[:, None], infl.domain[rows, None] * q + np.arange(q)] = z[rows]
    return out


def _indicator(group: np.ndarray) -> sp.csr_matrix:
    n = group.size
    return sp.csr_matrix((np.ones(n), (group, np.arange(n))), shape=(int(group.max()) + 1, n))


def _group_cross(group: np.ndarray, coef: np.ndarray, x: np.ndarray) -> np.ndarray:
    """sum_g (sum_{i in g} c_i x_i)(sum_{j in g} x_j)^T = x^T D x, D_ij = c_i [g(i) = g(j)]."""
    if not np.any(coef):
        return np.zeros((x.shape[1], x.shape[1]))
    G = _indicator(group)
    return np.asarray((G @ (coef[:, None] * x)).T @ (G @ x))


def _both(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Codes of the intersection of two groupings."""
    codes, _ = compact_codes(a * (int(b.max()) + 1) + b)
    return codes


#: A term c_i [g(i) = g(j)] of a matrix Delta-check: (group codes, coefficients).
Term = tuple[np.ndarray, np.ndarray]


def _phase1_terms(st: TwoPhaseStructure) -> list[Term]:
    """The phase-1 matrix on the phase-2 rows, stage by stage (R's Dcheck_multi_subset)."""
    n = st.unit1.size
    if st.iid1:  # R's identity: every row its own unit, probability 1 of nothing
        return [(np.arange(n), np.ones(n))]
    terms: list[Term] = []
    for k in range(st.stage_units1.shape[0]):
        pi = st.stage_probs1[k]
        stage: list[Term]
        if k == 0 and st.stage_units1.shape[0] == 1:
            n_h = st.n1_units[st.stratum1]
            wor = np.isfinite(st.popsize1)[st.stratum1] & (n_h > 1)
            with np.errstate(divide="ignore", invalid="ignore"):
                b = np.where(wor, -(1 - pi) / (n_h - 1), 0.0)
            stage = [(st.stage_units1[k], (1 - pi) - b), (st.stratum1, b)]
        else:  # later stages, and every stage of a multistage phase 1: with replacement
            stage = [(st.stage_units1[k], 1 - pi)]
        terms = _combine(terms, stage) if terms else stage
    return terms


def _phase2_terms(st: TwoPhaseStructure) -> list[Term]:
    pi = st.prob2
    n_h = st.n2_units[st.stratum2]
    with np.errstate(divide="ignore", invalid="ignore"):
        b = np.where(n_h > 1, -(1 - pi) / (n_h - 1), 0.0)
    return [(st.unit2, (1 - pi) - b), (st.stratum2, b)]


def _combine(a: list[Term], b: list[Term]) -> list[Term]:
    """R's twophaseDcheck: A + B - A o B, the product over intersections of groups."""
    out = [t for t in a + b if np.any(t[1])]
    for ga, ca in a:
        for gb, cb in b:
            coef = ca * cb
            if np.any(coef):
                out.append((_both(ga, gb), -coef))
    return out


def _quadratic(terms: list[Term], x: np.ndarray) -> np.ndarray:
    v = np.zeros((x.shape[1], x.shape[1]))
    for group, coef in terms:
        v += _group_cross(group, coef, x)
    return v


def _phase2_quadratic(st: TwoPhaseStructure, x: np.ndarray) -> np.ndarray:
    return _quadratic(_phase2_terms(st), x)


def _full_quadratic(st: TwoPhaseStructure, x: np.ndarray) -> np.ndarray:
    """x^T (D1 + D2 - D1 o D2) x."""
    return _quadratic(_combine(_phase1_terms(st), _phase2_terms(st)), x)


def _residuals(steps: tuple, x: np.ndarray) -> np.ndarray:
    """Influence values minus their projection on the calibration model(s)."""
    n = x.shape[0]
    corrections = project_influence(steps, x, np.zeros(n, dtype=np.int64), 1)
    out = x.copy()
    rows = np.arange(n)
    for basis, coef in corrections:
        out -= basis.unit_totals(rows, n) @ coef
    return out


def _first_rows(unit: np.ndarray) -> np.ndarray:
    return np.unique(unit, return_index=True)[1]


def _approx_phase1(design: TwoPhaseDesign, st: TwoPhaseStructure, infl: Influence,
                   x: np.ndarray) -> np.ndarray:
    """R's svyrecvar.phase1 (one stage): phase-1 units weighted by 1/p_u."""
    unit = st.unit1
    first = _first_rows(unit)
    stratum = st.stratum1[first]
    g = design.unmasked_weights / st.base_weights
    p = (st.usu / g)[first]  # R's ph2prob, usu/g after calibration
    X = np.asarray(_indicator(unit) @ x)  # (U, m) unit totals
    m = x.shape[1]
    if design.calibration_steps:
        ptilde = np.repeat(p[:, None], m, axis=1)
    else:
        # R's `[` drops the rows outside a domain; their units come back as zero rows
        # with probability 1 (svyrecvar.phase1 pads the stratum to its phase-2 count)
        q = infl.values.shape[1]
        keep = infl.domain >= 0
        hit = bincount(unit[keep] * infl.n_domains + infl.domain[keep],
                       minlength=p.size * infl.n_domains).reshape(p.size, infl.n_domains) > 0
        ptilde = np.where(np.repeat(hit, q, axis=1), p[:, None], 1.0)
    n_h = st.n1_units
    H = n_h.size
    sums = np.zeros((H, m))
    np.add.at(sums, stratum, X)
    centre = sums / n_h[:, None]
    Y = (X * ptilde - centre[stratum]) / np.sqrt(ptilde)
    with np.errstate(invalid="ignore"):
        f = np.where(np.isinf(st.popsize1), 1.0, (st.popsize1 - n_h) / st.popsize1)
    lonely = n_h == 1
    if np.any(lonely & (f >= CERTAINTY_TOL)) and design.lonely_psu == "fail":
        raise LonelyPSUError("a phase-1 stratum has a single sampled unit; choose "
                             "lonely_psu='remove' or 'certainty', or collapse phase-1 strata")
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(lonely, f, f * n_h / (n_h - 1))
    scale = np.where(f < CERTAINTY_TOL, 0.0, scale)[stratum]
    return np.asarray((Y * scale[:, None]).T @ Y)


def _approx_phase2(design: TwoPhaseDesign, st: TwoPhaseStructure, x: np.ndarray,
                   steps: tuple) -> np.ndarray:
    """R's svyrecvar of the phase-2 design (one stage, fpc = phase-1 units)."""
    u2 = x if st.samescale else x * np.sqrt(st.prob1)[:, None]
    if steps:
        u2 = _residuals(steps, u2)
    unit = st.unit2
    first = _first_rows(unit)
    stratum = st.stratum2[first]
    U = np.asarray(_indicator(unit) @ u2)
    n_h = st.n2_units
    sums = np.zeros((n_h.size, U.shape[1]))
    np.add.at(sums, stratum, U)
    dev = U - (sums / n_h[:, None])[stratum]
    f = 1 - n_h / st.popsize2
    certain = f < CERTAINTY_TOL
    lonely = (n_h == 1) & ~certain
    if lonely.any() and design.lonely_psu == "fail":
        labels = design.strata_labels
        names = ", ".join(labels[i] for i in np.flatnonzero(lonely)[:20])
        raise LonelyPSUError(f"phase-2 strata with a single unit: {names}. Choose "
                             f"lonely_psu='remove' or 'certainty', or collapse strata")
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(certain | lonely, 0.0, f * n_h / (n_h - 1))[stratum]
    return np.asarray((dev * scale[:, None]).T @ dev)
