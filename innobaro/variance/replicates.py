"""Replicate-weight variance: the replicate designs' engine and weight makers.

Variance (R's ``svrVar``; Wolter 2007, ch. 3-5): for replicate estimates
:math:`\\hat\\theta_r`, :math:`r = 1..R`,

.. math::

    \\hat V = c \\sum_r c_r (\\hat\\theta_r - \\tilde\\theta)
               (\\hat\\theta_r - \\tilde\\theta)^\\top,

with the method's ``scale`` :math:`c` and ``rscales`` :math:`c_r`, and
:math:`\\tilde\\theta` the full-sample estimate (``mse=True``) or the mean of
the replicates with :math:`c_r > 0` (``mse=False``).

The weights themselves are made by :mod:`innobaro.replicate_weights`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .._linalg import aliased_columns, column_qr
from ..errors import warn

if TYPE_CHECKING:
    from ..design import ReplicateDesign

__all__ = ["replicate_rank_df", "replicate_vcov"]


# ----------------------------------------------------------------------------
# variance
# ----------------------------------------------------------------------------
def replicate_vcov(design: ReplicateDesign, estimate: np.ndarray, reps: np.ndarray
                   ) -> np.ndarray:
    """Covariance matrix from replicate estimates ``reps`` (R, m)."""
    reps = np.asarray(reps, dtype=float)
    rscales = design.rscales
    ok = np.isfinite(reps)
    if ok.all():
        if design.mse:
            centre = np.asarray(estimate, dtype=float)
        else:
            centre = reps[rscales > 0].mean(axis=0)
        dev = reps - centre
        return design.scale * (dev * rscales[:, None]).T @ dev
    # A replicate without a value for some statistic (a domain it leaves
    # empty, a quantile it cannot bound) is left out of that statistic's
    # variance only, as R does by estimating each domain or probability on
    # its own; a covariance uses the replicates with both values.
    lost = ~ok.all(axis=0)
    whole = ~ok.any(axis=1)  # replicates without any estimate
    if whole.all():
        warn(f"none of the {reps.shape[0]} replicates gave an estimate, so the replicate "
             f"variance is NaN (R's svrVar stops: 'All replicates contained NAs')")
        return np.full((reps.shape[1], reps.shape[1]), np.nan)
    if (ok | whole[:, None]).all():
        warn(f"{int(whole.sum())} of {reps.shape[0]} replicates gave no estimate (for "
             f"example a domain, or a level of a model factor, without rows in them) and "
             f"were discarded from the variance, as R's svrVar does")
    else:
        warn(f"{int((~ok.all(axis=1)).sum())} replicate(s) gave missing estimates for "
             f"{int(lost.sum())} of {reps.shape[1]} statistic(s); each variance leaves "
             f"out the replicates without its value (as R's svrVar does)")
    if design.mse:
        centre = np.asarray(estimate, dtype=float)
    else:
        use = ok & (rscales > 0)[:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            centre = np.where(use, reps, 0.0).sum(axis=0) / use.sum(axis=0)
    dev = np.where(ok, reps - centre, 0.0)
    V = design.scale * (dev * rscales[:, None]).T @ dev
    empty = ~ok.any(axis=0) | ~np.isfinite(centre)
    V[empty, :] = np.nan
    V[:, empty] = np.nan
    return V


def replicate_rank_df(weights: np.ndarray) -> float:
    """Rank of a replicate-weight matrix minus one (R's ``degf`` for replicate designs).

    R takes ``qr(weights(design, "analysis"), tol = 1e-5)$rank - 1``: LINPACK's
    QR with limited pivoting, in which a replicate column is dependent when
    its residual on the independent columns before it is below 1e-5 of its
    own norm, so the rank does not depend on the scale of the weights (a
    column that differs from the others only in rows of tiny weight is
    dependent). The rule is first applied to the Gram matrix of the columns
    scaled to unit norm, whose Schur complements are the squared relative
    residuals; where one of them lies within a factor of 1000 of the cut
    (1e-10), where the Gram matrix's rounding could decide it, the rank is
    taken from a QR of the weights themselves, as R's.
    """
    if weights.shape[0] == 0:
        return float("nan")
    # identical columns add nothing to the rank; a jackknife restricted to a
    # domain has many (every replicate that drops a PSU outside it). The first
    # of each kept, in the original order
    _, first = np.unique(weights.T, axis=0, return_index=True)
    cols = weights[:, np.sort(first)]
    gram = cols.T @ cols
    norms = np.sqrt(np.diag(gram))
    if not (norms > 0).any():
        return -1.0
    scale = np.where(norms > 0, norms, 1.0)
    rank, close = _sequential_rank(gram / np.outer(scale, scale), _RANK_TOL)
    if close:
        rank = int((~aliased_columns(column_qr(cols / scale), _RANK_TOL)).sum())
    return float(rank - 1)


#: R's tolerance for the rank of the replicate weights (``degf``).
_RANK_TOL = 1e-5


def _sequential_rank(S: np.ndarray, tol: float) -> tuple[int, bool]:
    """Rank by LINPACK's limited pivoting on a Gram matrix ``S`` of columns
    scaled to unit norm (zero columns stay zero): left to right, a column
    counts when its squared residual on the counted columns before it is at
    least ``tol**2``. One outer-product update of the trailing block per
    counted column (right-looking Cholesky that skips the dependent ones).
    Also returns whether some squared residual was within a factor of 1000
    of the cut, where the Gram matrix's rounding may decide."""
    S = np.array(S, dtype=float)
    m = S.shape[0]
    rank = 0
    cut = tol * tol
    close = False
    for j in range(m):  # over the distinct replicate columns, once per design
        d = S[j, j]
        if cut / 1000 < d < cut * 1000 and d != 0:
            close = True
        if not d >= cut:
            continue
        rank += 1
        if j + 1 < m:
            col = S[j + 1:, j]
            S[j + 1:, j + 1:] -= np.outer(col, col / d)
    return rank, close
