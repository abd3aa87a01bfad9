"""Replicate weights made from a linearisation design, as R's ``as.svrepdesign``.

These functions make weights; they compute no variance. The variance of a
replicate design is :func:`innobaro.variance.replicates.replicate_vcov`.

Weight makers (from a linearisation :class:`~innobaro.Design`, as R's
``as.svrepdesign``):

- ``jk1``: unstratified delete-one-PSU jackknife; multipliers 0 for the
  dropped PSU and :math:`n/(n-1)` for the others; scale :math:`(1-f)(n-1)/n`.
- ``jkn``: stratified delete-one jackknife; multipliers :math:`n_h/(n_h-1)`
  within the dropped PSU's stratum; ``rscales`` :math:`(1-f_h)(n_h-1)/n_h`.
- ``brr`` and ``fay``: balanced half-samples from a Hadamard matrix, two PSUs
  per stratum; multipliers :math:`2-\\rho` and :math:`\\rho`; scale
  :math:`1/(R(1-\\rho)^2)` (McCarthy 1969; Judkins 1990).
- ``bootstrap``: Rao-Wu-Yue rescaling bootstrap with :math:`m_h = n_h - 1`
  PSUs drawn with replacement per stratum, multipliers
  :math:`1 - a_h + a_h\\, n_h/m_h\\, k_{hi}` with :math:`a_h = \\sqrt{1-f_h}`
  and :math:`k_{hi}` the times PSU :math:`i` was drawn; scale
  :math:`1/(R-1)` (Rao, Wu and Yue 1992).
- ``subbootstrap``: the same without finite population correction (R's
  ``subbootstrap``).
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING

import numpy as np

from .errors import DesignError, InnobaroWarning, LonelyPSUError

if TYPE_CHECKING:
    from .design import Design

__all__ = ["BUILD_METHODS", "hadamard", "make_replicate_weights"]

BUILD_METHODS = ("jk1", "jkn", "brr", "fay", "bootstrap", "subbootstrap")


# ----------------------------------------------------------------------------
# Hadamard matrices
# ----------------------------------------------------------------------------
_BASE4 = np.array([[1, 1, 1, 1], [1, 0, 1, 0], [1, 1, 0, 0], [1, 0, 0, 1]], dtype=np.int8)
#: Orders of the matrices R's survey package tabulates.
_R_TABULATED = (4, 16, 28, 36)
#: R's Paley construction uses primes p = 3 (mod 4) up to this bound.
_PALEY_MAX = 7919


def _double(H: np.ndarray) -> np.ndarray:
    return np.block([[H, H], [H, 1 - H]])


def _is_prime(p: int) -> bool:
    if p < 2:
        return False
    return all(p % d for d in range(2, int(p ** 0.5) + 1))


def _paley_prime(p: int) -> bool:
    return 3 <= p <= _PALEY_MAX and (p + 1) % 4 == 0 and _is_prime(p)


def _paley(p: int) -> np.ndarray:
    """0/1 Hadamard matrix of order p + 1 for a prime p = 3 (mod 4) (Paley 1933).

    Entry (i, j) of the core is 0 when (i + j) mod p is zero or a quadratic
    residue and 1 otherwise, bordered by a row and a column of ones (the
    arrangement of R's ``survey:::paley``).
    """
    residues = np.zeros(p, dtype=bool)
    residues[0] = True
    residues[(np.arange(1, (p - 1) // 2 + 1) ** 2) % p] = True
    core = np.where(residues[np.add.outer(np.arange(p), np.arange(p)) % p], 0, 1)
    H = np.ones((p + 1, p + 1), dtype=np.int8)
    H[1:, 1:] = core
    return H


def _r_paley(n: int, nmax: int) -> np.ndarray | None:
    """R's ``paley(n, nmax)``: a Paley matrix of order at least n + 1, or None."""
    nceil = nn = n + 4 - n % 4
    if n % 4 + 4 == n % 8:
        while nn % 8 == 0:
            nn //= 2
        if _paley_prime(nn - 1):
            M = _paley(nn - 1)
            while nn < nceil:
                M = _double(M)
                nn *= 2
            return M
    if n > _PALEY_MAX:
        return None
    p = n
    while not _paley_prime(p):
        p += 1
    if p + 1 > nceil + 4 and nceil + 4 < nmax:
        return _r_paley(nceil + 3, 2 * (nceil + 3))
    if p > nmax:
        return None
    return _paley(p)


def _tabulated(order: int) -> np.ndarray:
    """R's tabulated matrix of ``order`` where innobaro can build the same one."""
    if order == 4:
        return _BASE4
    if order == 16:  # R's tabulated order-16 matrix is the Sylvester matrix
        return _double(_double(_BASE4))
    # orders 28 and 36 are tabulated in R; build a balanced matrix at least as large
    size = 4
    while size < order:
        size *= 2
    p = order - 1
    while not _paley_prime(p):
        p += 1
    if p + 1 < size:
        return _paley(p)
    H = _BASE4
    while H.shape[0] < size:
        H = _double(H)
    return H


def hadamard(n: int) -> np.ndarray:
    """A 0/1 Hadamard matrix with more than ``n`` rows, for BRR with ``n`` strata.

    The order is chosen by R's ``survey:::hadamard`` rule, and the matrix is
    the one R uses (Sylvester doubling of the order-4 matrix, or R's Paley
    construction), except where R takes its tabulated matrices of order 28 or
    36 (or those doubled), which innobaro cannot rebuild: there it uses a
    Sylvester or Paley matrix of a larger order (32 for 28, 44 for 36, 64 for
    56, ...), so it makes more replicates than R. They are equally balanced
    but different half-samples; pass ``hadamard=`` to :meth:`Design.replicate`
    to use a specific matrix.
    """
    m = n - n % 4
    pre = [s for s in _R_TABULATED if m < s <= m + 4]
    if pre:
        return _tabulated(min(pre))
    sizes = [s * 2 ** max(0, math.ceil(math.log2((n + 1) / s))) for s in _R_TABULATED]
    best = int(np.argmin([s - n for s in sizes]))
    H = None
    if sizes[best] - n > 4:
        H = _r_paley(n, sizes[best])
    if H is None:
        H = _tabulated(_R_TABULATED[best])
        while H.shape[0] < sizes[best]:
            H = _double(H)
    return H


# ----------------------------------------------------------------------------
# weight makers
# ----------------------------------------------------------------------------
def make_replicate_weights(design: Design, method: str, *, replicates: int | None = None,
                           seed: int | np.random.Generator | None = None,
                           rho: float | None = None,
                           hadamard_matrix: np.ndarray | None = None
                           ) -> tuple[np.ndarray, float, np.ndarray]:
    """Replicate multipliers for the PSUs of ``design``.

    Returns
    -------
    multipliers : (n_psu, R) float64
        Multiplier of each first-stage unit's weight in each replicate.
    scale : float
    rscales : (R,) float64
    """
    if method not in BUILD_METHODS:
        raise DesignError(f"method must be one of {', '.join(BUILD_METHODS)}; got {method!r}")
    st = design.stages[0]
    if method == "jk1":
        if design.strata_columns:
            raise DesignError("jk1 is for unstratified designs; use method='jkn'")
        return _jk1(st)
    if method == "jkn":
        if not design.strata_columns:
            raise DesignError("jkn needs a stratified design; use method='jk1'")
        return _jkn(design, st)
    if method in ("brr", "fay"):
        if method == "fay":
            if rho is None:
                raise DesignError("method='fay' needs rho, Fay's coefficient in [0, 1)")
        rho = 0.0 if rho is None else float(rho)
        if not 0 <= rho < 1:
            raise DesignError(f"rho must be in [0, 1); got {rho!r}")
        if design.has_fpc:
            warnings.warn("finite population corrections are not used by BRR or Fay "
                          "replicates (as in R)", InnobaroWarning, stacklevel=3)
        return _brr(design, st, rho, hadamard_matrix)
    return _bootstrap(design, st, replicates if replicates is not None else 50, seed,
                      use_fpc=(method == "bootstrap"))


def _first_rows(st) -> np.ndarray:
    """Row of each unit's first appearance in the data."""
    first = np.full(st.unit_stratum.size, -1, dtype=np.int64)
    first[st.unit[::-1]] = np.arange(st.unit.size)[::-1]
    return first


def _jk1(st) -> tuple[np.ndarray, float, np.ndarray]:
    n = st.unit_stratum.size
    if n < 2:
        raise DesignError("jk1 needs at least two PSUs")
    f = float(st.fpc_factor[0])
    mult = np.full((n, n), n / (n - 1))
    # replicate r drops the r-th PSU in order of appearance in the data, as R
    mult[np.argsort(_first_rows(st), kind="stable"), np.arange(n)] = 0.0
    return mult, f * (n - 1) / n, np.ones(n)


def _jkn(design: Design, st) -> tuple[np.ndarray, float, np.ndarray]:
    nh = st.n_units
    f = st.fpc_factor
    n_units = st.unit_stratum.size
    H = st.n_strata
    lonely = nh == 1
    selfrep = f <= 0  # fully sampled strata need no replicates (R drops them)
    rule = design.lonely_psu
    if (lonely & ~selfrep).any() and rule == "fail":
        names = [design.strata_labels[h] for h in np.flatnonzero(lonely & ~selfrep)]
        raise LonelyPSUError(f"strata with a single PSU: {', '.join(names)}; choose "
                             f"lonely_psu for the design")
    # one replicate per PSU of every stratum with 2+ PSUs that is not
    # self-representing; in R's order: strata, then PSUs, by first appearance
    use_unit = (~lonely & ~selfrep)[st.unit_stratum]
    first = _first_rows(st)
    stratum_first = np.full(H, np.iinfo(np.int64).max)
    np.minimum.at(stratum_first, st.unit_stratum, first)
    order = np.lexsort((first, stratum_first[st.unit_stratum]))
    units = order[use_unit[order]]
    R_main = units.size
    mult = np.ones((n_units, R_main))
    h_of = st.unit_stratum[units]
    same = st.unit_stratum[:, None] == h_of[None, :]
    factor = (nh / np.maximum(nh - 1, 1))[h_of]
    mult = np.where(same, factor[None, :], mult)
    mult[units, np.arange(R_main)] = 0.0
    rscales = (f * (nh - 1) / np.maximum(nh, 1))[h_of]
    scale = 1.0
    adjust = lonely & ~selfrep if rule == "adjust" else np.zeros(H, bool)
    if adjust.any():
        # one replicate per lonely stratum: its PSU out, all others up by H/(H-1)
        lh = np.flatnonzero(adjust)
        extra = np.where(st.unit_stratum[:, None] == lh[None, :], 0.0, H / (H - 1))
        mult = np.hstack([mult, extra])
        rscales = np.concatenate([rscales, np.full(lh.size, (H - 1) / H)])
    if mult.shape[1] == 0:
        raise DesignError("every stratum was sampled exhaustively: there is no sampling "
                          "variance to replicate")
    if rule == "average" and mult.shape[1] < n_units:
        scale = n_units / mult.shape[1]
    return mult, scale, rscales


def _brr(design: Design, st, rho: float, hadamard_matrix: np.ndarray | None
         ) -> tuple[np.ndarray, float, np.ndarray]:
    nh = st.n_units
    if not (nh == 2).all():
        bad = [design.strata_labels[h] for h in np.flatnonzero(nh != 2)[:20]]
        raise DesignError(f"brr and fay need exactly two PSUs per stratum; strata "
                          f"{', '.join(bad)} have "
                          f"{', '.join(str(int(nh[h])) for h in np.flatnonzero(nh != 2)[:20])}")
    H_strata = st.n_strata
    # R orders the strata by their labels as text, and the two PSUs of a stratum
    # by their first appearance in the data
    order_text = np.argsort(np.array(design.strata_labels, dtype=object).astype(str),
                            kind="stable")
    rank = np.empty(H_strata, dtype=np.int64)
    rank[order_text] = np.arange(H_strata)
    first_row = np.full(st.unit_stratum.size, -1, dtype=np.int64)
    first_row[st.unit[::-1]] = np.arange(st.unit.size)[::-1]
    unit_order = np.lexsort((first_row, st.unit_stratum))
    position = np.empty(st.unit_stratum.size, dtype=np.int64)  # 0 or 1 within stratum
    position[unit_order] = np.arange(unit_order.size) % 2
    if hadamard_matrix is None:
        Hm = hadamard(H_strata)
    else:
        Hm = _check_hadamard(hadamard_matrix, H_strata)
    rows = Hm[1 + rank[st.unit_stratum], :]  # (units, R): Hadamard row of its stratum
    # R: column 1 when H = 0 gives the first PSU weight 0 (rho), column 2 when H = 1
    # gives the first PSU weight 1 (2 - rho); the second PSU the opposite
    first_in = (rows == 1)
    in_half = np.where(position[:, None] == 0, first_in, ~first_in)
    mult = np.where(in_half, 2.0 - rho, rho)
    R = Hm.shape[1]
    return mult, 1.0 / (R * (1 - rho) ** 2), np.ones(R)


def _check_hadamard(H: np.ndarray, n_strata: int) -> np.ndarray:
    H = np.asarray(H)
    values = np.unique(H)
    if H.ndim != 2 or values.size != 2 or H.shape[0] < n_strata + 1:
        raise DesignError(f"hadamard must be a two-valued matrix with at least "
                          f"{n_strata + 1} rows")
    B = np.where(H == values[0], 0, 1)
    if (B[0] == 0).all():
        B = 1 - B
    S = 2.0 * B - 1
    if not np.allclose(S.T @ S, S.shape[0] * np.eye(S.shape[1])):
        raise DesignError("hadamard is not a Hadamard matrix (columns not orthogonal)")
    return B.astype(np.int8)


def _bootstrap(design: Design, st, replicates: int, seed, use_fpc: bool
               ) -> tuple[np.ndarray, float, np.ndarray]:
    if replicates < 2:
        raise DesignError("bootstrap needs at least two replicates")
    rng = np.random.default_rng(seed)
    nh = st.n_units
    m = np.maximum(nh - 1, 0)
    n_units = st.unit_stratum.size
    # all draws of one replicate: m_h draws in each stratum
    draw_stratum = np.repeat(np.arange(st.n_strata), m)
    u = rng.random((replicates, draw_stratum.size))
    unit = st.starts[draw_stratum] + np.floor(u * nh[draw_stratum]).astype(np.int64)
    key = (np.arange(replicates)[:, None] * n_units + unit).ravel()
    counts = np.bincount(key, minlength=replicates * n_units).reshape(replicates, n_units).T
    f = st.fpc_factor if use_fpc else np.ones(st.n_strata)
    a = np.sqrt(np.clip(f, 0, 1))[st.unit_stratum]
    with np.errstate(divide="ignore", invalid="ignore"):
        up = np.where(m > 0, nh / np.maximum(m, 1), 0.0)[st.unit_stratum]
    mult = 1 - a[:, None] + a[:, None] * up[:, None] * counts
    lonely = (nh == 1)[st.unit_stratum]
    mult[lonely] = 1.0
    return mult, 1.0 / (replicates - 1), np.ones(replicates)
