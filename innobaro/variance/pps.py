"""Variance of unequal-probability designs from their joint inclusion probabilities.

For PSU totals :math:`z_i` of weighted influence values (weight
:math:`1/\\pi_i` included) and :math:`\\check\\Delta_{ij} = (\\pi_{ij} -
\\pi_i\\pi_j)/\\pi_{ij}`, the Horvitz-Thompson and Yates-Grundy variances are

.. math::

    \\hat V_{HT} = \\sum_{i,j} \\check\\Delta_{ij}\\, z_i z_j^\\top,
    \\qquad
    \\hat V_{YG} = \\hat V_{HT} - \\sum_i \\Big(\\sum_j \\check\\Delta_{ij}\\Big) z_i z_i^\\top
    = -\\tfrac12 \\sum_{i \\neq j} \\check\\Delta_{ij} (z_i - z_j)(z_i - z_j)^\\top,

R's ``htvar.matrix`` and ``ygvar.matrix``. :math:`\\check\\Delta` is zero
between strata and, within stratum :math:`h` with :math:`n_h` units and
:math:`i \\neq j`,

- Overton: :math:`\\check\\Delta_{ij} = 1 - (n_h - (\\pi_i + \\pi_j)/2)/(n_h - 1)`;
- Hartley-Rao: :math:`\\check\\Delta_{ij} = 1 - (n_h - \\pi_i - \\pi_j + \\bar P_h)/(n_h - 1)`,
  zero where :math:`\\pi_i + \\pi_j = 1` exactly (R's ``HRDcheck`` quirk, kept);
- given (``ppsmat``): from the matrix, entries below the tolerance set to zero;

and :math:`\\check\\Delta_{ii} = 1 - \\pi_i`. Both approximations are
:math:`a_h(\\pi_i + \\pi_j) + b_h` off the diagonal, so the quadratic forms
reduce to stratum sums :math:`S_h = \\sum_{i \\in h} z_i` and :math:`P_h =
\\sum_{i \\in h} \\pi_i z_i`:

.. math::

    \\sum_{i,j \\in h} \\check\\Delta_{ij} z_i z_j^\\top
    = a_h (P_h S_h^\\top + S_h P_h^\\top) + b_h S_h S_h^\\top
      + \\sum_{i \\in h} (1 - \\pi_i - 2 a_h \\pi_i - b_h) z_i z_i^\\top,

linear in the number of units, with no :math:`n \\times n` matrix (one
vectorised pass over all strata at once). Given joint probabilities are a
sparse matrix (see :data:`innobaro.design.MAX_JOINT_ENTRIES`).

References: Sarndal, Swensson and Wretman (1992), *Model Assisted Survey
Sampling*, sec. 2.8; Overton (1985), *On estimating the variance of
without-replacement sampling*; Hartley and Rao (1962), *Ann. Math. Stat.*
33; Berger (2004), *J. Stat. Plan. Inference* 125; R package survey,
``ppsvar``, ``htvar.matrix``, ``ygvar.matrix``.
"""

from __future__ import annotations

import numpy as np

from ..design import PPSInfo, Stage

__all__ = ["joint_vcov"]


def joint_vcov(pps: PPSInfo, st: Stage, totals: np.ndarray) -> np.ndarray:
    """HT or YG covariance of a statistic from its PSU totals.

    Parameters
    ----------
    pps : PPSInfo
        The design's unequal-probability sampling (not Brewer's).
    st : Stage
        The first stage (units contiguous within strata).
    totals : (U, m) ndarray
        Weighted influence values summed over each PSU, weighting residuals
        taken.

    Returns
    -------
    (m, m) ndarray
    """
    z = totals
    if pps.method == "ppsmat":
        d = pps.dcheck
        vcov = z.T @ np.asarray(d @ z)
        if pps.variance == "YG":
            sums_d = np.asarray(d.sum(axis=0)).ravel()
            vcov -= (z * sums_d[:, None]).T @ z
        return np.asarray(vcov)
    p = pps.unit_prob[0]
    nh = st.n_units.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        if pps.method == "overton":
            a_h = 0.5 / (nh - 1)
            b_h = -1.0 / (nh - 1)
        else:  # Hartley-Rao
            assert pps.psum is not None
            a_h = 1.0 / (nh - 1)
            b_h = -(1.0 + pps.psum) / (nh - 1)
    single = nh <= 1  # no pairs
    a_h = np.where(single, 0.0, a_h)
    b_h = np.where(single, 0.0, b_h)
    h = st.unit_stratum
    a, b = a_h[h], b_h[h]
    sums = np.add.reduceat(z, st.starts, axis=0)          # S_h
    psums = np.add.reduceat(z * p[:, None], st.starts, axis=0)  # P_h
    cross = (psums * a_h[:, None]).T @ sums
    vcov = cross + cross.T + (sums * b_h[:, None]).T @ sums
    diag = 1.0 - p - 2.0 * a * p - b
    colsum: np.ndarray | None = None
    if pps.variance == "YG":
        psum_h = np.add.reduceat(p, st.starts)
        colsum = (1.0 - p) + a * (psum_h[h] - p) + (a * p + b) * (nh[h] - 1)
    if pps.method == "hr":
        vcov, diag, colsum = _hr_unit_pairs(z, p, st, a, b, vcov, diag, colsum)
    vcov = vcov + (z * diag[:, None]).T @ z
    if colsum is not None:
        vcov = vcov - (z * colsum[:, None]).T @ z
    return np.asarray(vcov)


def _hr_unit_pairs(z: np.ndarray, p: np.ndarray, st: Stage, a: np.ndarray, b: np.ndarray,
                   vcov: np.ndarray, diag: np.ndarray, colsum: np.ndarray | None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Take out the pairs of a stratum whose probabilities add up to exactly 1.

    R's ``HRDcheck`` sets their :math:`\\check\\Delta_{ij}` to zero (a test meant
    for certainty pairs in Overton's formula); the stratum sums counted them
    at :math:`a_h + b_h`. Units are grouped by (stratum, probability); the
    groups whose probabilities add to 1 are found with one sorted search.
    """
    h = st.unit_stratum
    order = np.lexsort((p, h))
    hs, ps = h[order], p[order]
    new = np.r_[True, (hs[1:] != hs[:-1]) | (ps[1:] != ps[:-1])]
    starts = np.flatnonzero(new)
    gh, gp = hs[starts], ps[starts]
    # candidates: groups of the same stratum with probability near 1 - p
    key = gh * 4.0 + gp
    lo = np.searchsorted(key, gh * 4.0 + (1.0 - gp) - 1e-7, side="left")
    hi = np.searchsorted(key, gh * 4.0 + (1.0 - gp) + 1e-7, side="right")
    counts = hi - lo
    if not counts.any():
        return vcov, diag, colsum
    g1 = np.repeat(np.arange(gh.size), counts)
    g2 = np.repeat(lo - np.cumsum(np.r_[0, counts[:-1]]), counts) + np.arange(counts.sum())
    hit = (gh[g1] == gh[g2]) & (gp[g1] + gp[g2] == 1.0)
    g1, g2 = g1[hit], g2[hit]
    if not g1.size:
        return vcov, diag, colsum
    group = np.empty(p.size, dtype=np.int64)
    group[order] = np.cumsum(new) - 1
    zg = np.add.reduceat(z[order], starts, axis=0)
    size = np.diff(np.r_[starts, p.size]).astype(float)
    first_unit = order[starts]
    d0 = a[first_unit] + b[first_unit]  # what the stratum sums gave each such pair
    vcov = vcov - (zg[g1] * d0[g1][:, None]).T @ zg[g2]
    # a group paired with itself (p = 1/2): its own units' squares are no pairs
    self_pair = np.zeros(gh.size, dtype=bool)
    self_pair[g1[g1 == g2]] = True
    diag = diag + np.where(self_pair[group], d0[group], 0.0)
    if colsum is not None:
        partners = np.bincount(g1, weights=size[g2], minlength=gh.size) - self_pair
        colsum = colsum - d0[group] * partners[group]
    return vcov, diag, colsum
