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

__all__ = ["factor_rank_df", "replicate_rank_df", "replicate_vcov"]


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


def replicate_rank_df(weights: np.ndarray, rows: np.ndarray | None = None) -> float:
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

    Parameters
    ----------
    weights : numpy.ndarray
        (n, R) replicate weights.
    rows : numpy.ndarray, optional
        Positions of the rows to use (a domain's); all rows by default. The
        rows are read in chunks, never copied whole.

    Returns
    -------
    float
        The rank minus one (NaN without rows, -1 when every weight is zero).

    Notes
    -----
    Identical columns add nothing to the rank (a jackknife restricted to a
    domain has many: every replicate that drops a PSU outside it); they are
    found by two random projections of the columns (identical columns give
    equal projections; columns with equal projections are confirmed equal
    element by element before all but the first are left out, and a copy the
    projections miss only costs time: its residual is zero to rounding). The
    Schur complements are computed in blocks of columns, the trailing update
    of each block one matrix product.
    """
    n = weights.shape[0] if rows is None else rows.size
    if n == 0:
        return float("nan")
    R = weights.shape[1]
    # rows per chunk: about 8 MB of weights (at least R rows, so that each
    # chunk's Gram product outweighs adding it up)
    step = max(1, (1 << 20) // max(R, 1), R)
    rng = np.random.default_rng(20261204)
    keys = np.zeros((2, R))
    for a in range(0, n, step):  # chunks of rows
        chunk = weights[a:a + step] if rows is None else weights[rows[a:a + step]]
        keys += rng.standard_normal((2, chunk.shape[0])) @ chunk
    first = _first_of_identical(weights, rows, keys, step)
    gram = np.zeros((first.size, first.size))
    for a in range(0, n, step):  # chunks of rows
        chunk = weights[a:a + step] if rows is None else weights[rows[a:a + step]]
        if first.size < R:
            chunk = chunk[:, first]
        gram += chunk.T @ chunk
    norms = np.sqrt(np.diag(gram))
    if not (norms > 0).any():
        return -1.0
    scale = np.where(norms > 0, norms, 1.0)
    rank, close = _sequential_rank(gram / np.outer(scale, scale), _RANK_TOL)
    if close:
        cols = (weights if rows is None else weights[rows])[:, first]
        rank = int((~aliased_columns(column_qr(cols / scale), _RANK_TOL)).sum())
    return float(rank - 1)


def factor_rank_df(factors: np.ndarray, unit: np.ndarray, weights: np.ndarray,
                   domain: np.ndarray, n_domains: int) -> np.ndarray:
    r""":func:`replicate_rank_df` of each domain, from replicate weights held as unit factors.

    The replicate weights are :math:`W_{ir} = w_i F_{u(i), r}`. Row :math:`i`
    of :math:`W` is :math:`w_i` times row :math:`u(i)` of :math:`F`, so the
    rows of one unit are proportional, and the Gram matrix of a domain's rows
    is

    .. math::

        W_d^\top W_d = \sum_{i \in d} w_i^2 F_{u(i)}^\top F_{u(i)}
                     = \sum_u s_{du}^2 F_u^\top F_u = \tilde W_d^\top \tilde W_d,
        \qquad s_{du} = \Big(\sum_{i \in d,\, u(i) = u} w_i^2\Big)^{1/2},

    with :math:`\tilde W_d` the (units of the domain, R) matrix of rows
    :math:`s_{du} F_u`. Moreover :math:`W_d = P \tilde W_d` with :math:`P`
    having orthonormal columns (:math:`P_{iu} = w_i / s_{du}` for
    :math:`u(i) = u`, for units with :math:`s_{du} > 0`). R's rule (LINPACK's
    QR with limited pivoting, ``tol = 1e-5``) compares each column's residual
    on the columns before it with the column's norm: residuals and norms are
    those of :math:`P\tilde W_d` and are unchanged by :math:`P`, so the rank of
    :math:`\tilde W_d` by the same rule (the same column norms, the same Gram
    matrix) is the rank of :math:`W_d`. Two columns of :math:`W_d` are equal
    exactly when those of :math:`\tilde W_d` are (on the units with nonzero
    weight), so the same copies are left out. Each domain's rank is then that
    of a (units, R) matrix, from one bincount of :math:`w_i^2` over (domain,
    unit) instead of a pass over the (n, R) weights.

    Parameters
    ----------
    factors : numpy.ndarray
        (U, R) factor of each unit in each replicate.
    unit : numpy.ndarray
        (n,) unit code of each row.
    weights : numpy.ndarray
        (n,) weights the factors multiply.
    domain : numpy.ndarray
        (n,) domain code of each row, -1 for rows in no domain.
    n_domains : int
        Number of domains.

    Returns
    -------
    numpy.ndarray
        Rank minus one per domain (NaN for a domain without rows, -1 when its
        weights are all zero), as :func:`replicate_rank_df` of the domain's rows.
    """
    U = factors.shape[0]
    keep = domain >= 0
    dom = domain[keep]
    key = dom * U + unit[keep]
    w2 = np.square(weights[keep])
    rows = np.bincount(dom, minlength=n_domains)
    cells = n_domains * U
    if cells <= max(key.size, 1 << 16):  # dense (domain, unit) cells
        s2 = np.bincount(key, weights=w2, minlength=cells)
        used = np.flatnonzero(np.bincount(key, minlength=cells))
        s2 = s2[used]
    else:
        used, inverse = np.unique(key, return_inverse=True)
        s2 = np.bincount(inverse.reshape(-1), weights=w2, minlength=used.size)
    # ``used`` is sorted: each domain's units are contiguous
    bounds = np.searchsorted(used // U, np.arange(n_domains + 1))
    scale = np.sqrt(s2)
    out = np.empty(n_domains)
    for d in range(n_domains):  # one rank per domain, of a (units, R) matrix
        if rows[d] == 0:
            out[d] = np.nan
            continue
        a, b = bounds[d], bounds[d + 1]
        out[d] = replicate_rank_df(factors[used[a:b] % U] * scale[a:b, None])
    return out


def _first_of_identical(weights: np.ndarray, rows: np.ndarray | None, keys: np.ndarray,
                        step: int) -> np.ndarray:
    """Positions of the columns to keep: all but the later copies of
    identical columns, in their order. Columns with equal ``keys`` are
    candidates, confirmed equal to the first of their group element by
    element; a candidate that differs is kept."""
    R = keys.shape[1]
    _, first_of_key, group = np.unique(keys.T, axis=0, return_index=True, return_inverse=True)
    lead = first_of_key[group.reshape(-1)]  # the first column with the same keys
    maybe = np.flatnonzero(lead != np.arange(R))
    if maybe.size:
        same = np.ones(maybe.size, dtype=bool)
        n = weights.shape[0] if rows is None else rows.size
        for a in range(0, n, step):  # chunks of rows
            chunk = weights[a:a + step] if rows is None else weights[rows[a:a + step]]
            same &= (chunk[:, maybe] == chunk[:, lead[maybe]]).all(axis=0)
        copies = maybe[same]
    else:
        copies = maybe
    keep = np.ones(R, dtype=bool)
    keep[copies] = False
    return np.flatnonzero(keep)


#: R's tolerance for the rank of the replicate weights (``degf``).
_RANK_TOL = 1e-5

#: Columns per block of the Schur complement updates of :func:`_sequential_rank`.
_RANK_BLOCK = 64


def _sequential_rank(S: np.ndarray, tol: float) -> tuple[int, bool]:
    """Rank by LINPACK's limited pivoting on a Gram matrix ``S`` of columns
    scaled to unit norm (zero columns stay zero): left to right, a column
    counts when its squared residual on the counted columns before it is at
    least ``tol**2``. A right-looking Cholesky that skips the dependent
    columns, by blocks of columns: within a block, one outer-product update
    of the block's remaining columns per counted column; after it, one
    matrix product updates the trailing block. Also returns whether some
    squared residual was within a factor of 1000 of the cut, where the Gram
    matrix's rounding may decide."""
    S = np.array(S, dtype=float)
    m = S.shape[0]
    rank = 0
    cut = tol * tol
    close = False
    for a in range(0, m, _RANK_BLOCK):  # over blocks of columns
        b = min(m, a + _RANK_BLOCK)
        counted = []
        for j in range(a, b):  # over the block's columns, once per design
            d = S[j, j]
            if cut / 1000 < d < cut * 1000 and d != 0:
                close = True
            if not d >= cut:
                continue
            rank += 1
            counted.append(j)
            if j + 1 < b:
                col = S[j + 1:, j]
                S[j + 1:, j + 1:b] -= np.outer(col, S[j + 1:b, j] / d)
        if counted and b < m:
            C = S[b:, counted]
            S[b:, b:] -= (C / np.diag(S)[counted]) @ C.T
    return rank, close
