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

Designs with row-level replicate factors (functions returning a
:class:`~innobaro.ReplicateDesign`):

- :func:`mrb_bootstrap`: Preston's (2009) multistage rescaled bootstrap
  (R's ``as.svrepdesign(type="mrbbootstrap")``), every stage with an fpc.
- :func:`sdr_replicates`: successive-difference replication from a sort
  order (Fay and Train 1995), as the US Census Bureau builds the ACS's.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .errors import DesignError, InnobaroWarning, LonelyPSUError, warn

if TYPE_CHECKING:
    from .design import Design, ReplicateDesign

__all__ = ["BUILD_METHODS", "hadamard", "hadamard_of_order", "make_replicate_weights",
           "mrb_bootstrap", "mrb_multipliers", "sdr_factors", "sdr_multipliers",
           "sdr_replicates"]

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
    if method in ("mrbbootstrap", "sdr", "successive-difference"):
        raise DesignError(f"method {method!r} makes replicate factors row by row: use "
                          f"ib.{'mrb_bootstrap' if method == 'mrbbootstrap' else 'sdr_replicates'}"
                          f"(design, ...)")
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


# ----------------------------------------------------------------------------
# row-level replicate factors: Preston's multistage bootstrap, SDR
# ----------------------------------------------------------------------------
def mrb_multipliers(design: Design, replicates: int = 50,
                    seed: int | np.random.Generator | None = None) -> np.ndarray:
    r"""Preston's multistage rescaled bootstrap multipliers, one column per replicate.

    At stage :math:`k`, in each stratum of that stage (a stage-:math:`k-1` unit
    from the second stage on) with :math:`n` sampled units, a simple random
    sample without replacement of :math:`n^* = \lfloor n/2 \rfloor` units is
    drawn (:math:`\delta_i = 1` for the drawn units, 0 for the others), and
    the multiplier of a row whose stage-:math:`k` unit is :math:`i` is

    .. math::

        m = 1 + \sum_k \lambda_k \Big(\prod_{j<k} \sqrt{n_j/n_j^*}\,\delta_{j}\Big)
            \Big(\frac{n_k}{n_k^*}\delta_{k} - 1\Big), \qquad
        \lambda_k = \sqrt{\frac{n_k^* (1 - f_k)}{n_k - n_k^*} \prod_{j<k} f_j},

    with :math:`f_k = n_k/N_k` the sampling fraction of the row's stratum at
    stage :math:`k` (0 without fpc). A stratum with a single unit contributes
    nothing at its stage or below. The replicate variance is
    :math:`\frac{1}{R-1}\sum_r (\hat\theta_r - \bar\theta)^2`, whose
    expectation over the resampling is the without-replacement multistage
    variance of a total (Preston 2009, sec. 3). Stages enter as in
    :attr:`innobaro.Design.active_stages`: every stage when the design has
    an fpc, else the first (R: "only first stage used").

    Parameters
    ----------
    design : Design
        A linearisation design.
    replicates : int, default 50
        Number of replicates :math:`R` (R's default).
    seed : int or numpy.random.Generator, optional
        Seed of the resampling; never the global random state.

    Returns
    -------
    numpy.ndarray
        (n, R) multipliers of each row's weight (they can be negative at
        high sampling fractions, as R's).

    References
    ----------
    .. [1] Preston, J. (2009). Rescaled bootstrap for stratified multistage
       sampling. *Survey Methodology* 35(2), 227-234.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> from innobaro.replicate_weights import mrb_multipliers
    >>> df = pd.DataFrame({"psu": [1, 1, 2, 2, 3, 3, 4, 4], "N": 10.0})
    >>> m = mrb_multipliers(ib.Design(df, psu="psu", fpc="N"), replicates=3, seed=1)
    >>> m.shape, sorted(set(m.round(4).ravel().tolist()))
    ((8, 3), [0.2254, 1.7746])
    """
    factors, unit = mrb_unit_factors(design, replicates, seed)
    return factors[unit]


def mrb_unit_factors(design: Design, replicates: int = 50,
                     seed: int | np.random.Generator | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`mrb_multipliers` as factors of the last active stage's units.

    Every row's multiplier is that of its unit at the last stage that is
    resampled, so the (n, R) multipliers are ``factors[unit]``;
    :meth:`Design.replicate("mrbbootstrap") <innobaro.Design.replicate>`
    keeps the factors (:class:`~innobaro.design.ReplicateFactors`).

    Parameters
    ----------
    design : Design
        A linearisation design.
    replicates : int, default 50
        Number of replicates.
    seed : int or numpy.random.Generator, optional
        Seed of the resampling.

    Returns
    -------
    factors : numpy.ndarray
        (U, R) multiplier of each unit (the formula of :func:`mrb_multipliers`).
    unit : numpy.ndarray
        (n,) unit code of each row.
    """
    if not isinstance(replicates, (int, np.integer)) or replicates < 2:
        raise DesignError(f"replicates must be an integer of at least 2; got {replicates!r}")
    rng = np.random.default_rng(seed)
    R = int(replicates)
    # unit-level recursion: the strata of stage k are the units of stage k-1,
    # so a unit's sums over the stages above are its parent's
    total = carry = step = np.zeros((0, R))
    cumf = f_parent = np.zeros(0)
    stages = design.active_stages
    for k, st in enumerate(stages):
        nh = st.n_units
        nstar = nh // 2
        U = st.unit_stratum.size
        parent = st.unit_stratum
        if k == 0:
            total = np.zeros((U, R))
            carry = np.ones((U, R))
            cumf = np.ones(U)
        else:
            total = total[parent]
            carry = carry[parent] * step[parent]
            cumf = cumf[parent] * f_parent[parent]
        # a simple random sample of n* units per stratum and replicate: the
        # n* smallest of uniform keys within each (contiguous) stratum
        order = np.argsort(parent[None, :] + rng.random((R, U)), axis=1)
        first_places = (np.arange(U) - st.starts[parent]) < nstar[parent]
        kept = np.zeros((R, U), dtype=bool)
        np.put_along_axis(kept, order, first_places[None, :], axis=1)
        kept_u = np.ascontiguousarray(kept.T)  # (U, R)
        drawn = nstar > 0
        lam_h = np.where(drawn, nstar * np.clip(st.fpc_factor, 0, 1)
                         / np.maximum(nh - nstar, 1), 0.0)
        up_h = np.where(drawn, nh / np.maximum(nstar, 1), 0.0)
        lam = np.sqrt(cumf * lam_h[parent])
        up = up_h[parent]
        contribution = np.where(kept_u, (lam * (up - 1.0))[:, None], -lam[:, None])
        total += carry * contribution
        step = np.where(kept_u, np.sqrt(up)[:, None], 0.0)
        f_parent = st.sampling_fraction[parent]
    total += 1.0
    return total, stages[-1].unit


def mrb_bootstrap(design: Design, *, replicates: int = 50,
                  seed: int | np.random.Generator | None = None,
                  mse: bool = False) -> ReplicateDesign:
    r"""Replicate design by Preston's multistage rescaled bootstrap (R's ``mrbbootstrap``).

    The replicate weights are the design weights times
    :func:`mrb_multipliers`; the variance is
    :math:`\frac{1}{R-1}\sum_r (\hat\theta_r - \bar\theta)^2` (R's ``scale = 1``,
    ``rscales = 1/(R-1)``). Unlike the Rao-Wu-Yue bootstrap of
    :meth:`Design.replicate("bootstrap") <innobaro.Design.replicate>`, which
    resamples first-stage units only, every stage with an fpc is resampled,
    so the variance includes the later stages' share as the linearised
    without-replacement variance does.

    Parameters
    ----------
    design : Design
        A linearisation design, with fpc at the stages to resample.
    replicates : int, default 50
        Number of replicates.
    seed : int or numpy.random.Generator, optional
        Seed of the resampling; the same seed gives the same weights. R's
        random numbers cannot be reproduced, so the weights differ from R's
        draw for draw but have the same distribution.
    mse : bool, default False
        Centre the replicates at the full-sample estimate.

    Returns
    -------
    ReplicateDesign
        With ``method == "mrbbootstrap"``, ``scale`` :math:`1/(R-1)` and the
        same rows and domain as ``design`` (the same as
        ``design.replicate("mrbbootstrap", ...)``).

    References
    ----------
    .. [1] Preston, J. (2009). Rescaled bootstrap for stratified multistage
       sampling. *Survey Methodology* 35(2), 227-234.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({"psu": [1, 1, 2, 2, 3, 3, 4, 4], "N": 10.0,
    ...                    "y": [1.0, 2, 3, 4, 5, 6, 7, 9]})
    >>> rd = ib.mrb_bootstrap(ib.Design(df, psu="psu", fpc="N"), replicates=200, seed=1)
    >>> rd.n_replicates, rd.method
    (200, 'mrbbootstrap')
    """
    return design.replicate("mrbbootstrap", replicates=replicates, seed=seed, mse=mse)


def hadamard_of_order(order: int) -> np.ndarray:
    """A Hadamard matrix of exactly ``order`` rows, entries -1 and +1.

    Sylvester's matrix for a power of two, else a Sylvester doubling of a Paley
    matrix of order :math:`p + 1` for a prime :math:`p \\equiv 3 \\pmod 4`
    (Paley 1933): orders 2, 4, 8, 12, 16, 20, 24, 32, 40, 44, 48, 60, 64,
    68, 72, 80 (the ACS's), 84, ... (not 28, 36 or 56) The first row is all ones.

    Parameters
    ----------
    order : int
        The number of rows and columns.

    Returns
    -------
    numpy.ndarray
        (order, order) int8 matrix :math:`S` with :math:`S S^\\top = \\text{order}\\, I`.

    Raises
    ------
    DesignError
        When the order is not one of those constructions.

    Examples
    --------
    >>> from innobaro.replicate_weights import hadamard_of_order
    >>> S = hadamard_of_order(12)
    >>> bool(((S @ S.T) == 12 * np.eye(12)).all())
    True
    """
    order = int(order)
    if order >= 2 and order & (order - 1) == 0:  # a power of two: Sylvester's matrix
        B = np.array([[1]], dtype=np.int8)
        while B.shape[0] < order:
            B = _double(B)
        return (2 * B - 1).astype(np.int8)
    j = 0
    while order >= 4 and order % (2 ** j) == 0:
        m = order // 2 ** j
        if _paley_prime(m - 1):
            B = _paley(m - 1).astype(np.int8)
            while B.shape[0] < order:
                B = _double(B)
            return (2 * B - 1).astype(np.int8)
        j += 1
    raise DesignError(f"no Hadamard matrix of order {order} can be built: choose a number of "
                      f"replicates 2^k (p + 1) with p a prime that is 3 mod 4, e.g. 4, 8, 12, "
                      f"16, 20, 24, ..., 80")


def sdr_factors(n_units: int, replicates: int = 80) -> np.ndarray:
    r"""Successive-difference replicate factors of units in sort order.

    Unit :math:`i = 0, \dots, n-1` (in sort order) is given the rows
    :math:`a(i) = i \bmod R` and :math:`b(i) = (i + 1) \bmod \min(n, R)` of a
    Hadamard matrix :math:`H` of order :math:`R` (entries :math:`\pm 1`): the
    circular assignment (1,2), (2,3), ..., (n,1) when :math:`n \le R` (Fay and
    Train's full SDR), else the cyclic (1,2), ..., (R,1) repeated (Ash 2014's
    RA2); its factor in replicate :math:`r` is

    .. math::

        f_{ir} = 1 + 2^{-3/2} H_{a(i), r} - 2^{-3/2} H_{b(i), r},

    so :math:`f_{ir} \in \{1 - 2^{-1/2},\ 1,\ 1 + 2^{-1/2}\}`. With
    :math:`n \le R` units the rows are distinct and wrap around (the "full",
    circular SDR): for a total :math:`\hat Y = \sum_i z_i`,
    :math:`\frac{4}{R}\sum_r (\hat Y_r - \hat Y)^2 = \frac12 \sum_{i=1}^{n}
    (z_i - z_{i-1})^2` with :math:`z_0 = z_n` exactly, the circular
    successive-difference estimator (Wolter 2007, ch. 8).

    Parameters
    ----------
    n_units : int
        Number of units in the sort order.
    replicates : int, default 80
        :math:`R`, the order of the Hadamard matrix (the ACS uses 80).

    Returns
    -------
    numpy.ndarray
        (n_units, R) factors.

    References
    ----------
    .. [1] Fay, R. E. and Train, G. F. (1995). Aspects of survey and model-based
       postcensal estimation of income and poverty characteristics for
       states and counties. *Proceedings of the Section on Government
       Statistics*, American Statistical Association, 154-159.
    .. [2] Ash, S. (2014). Using successive difference replication for
       estimating variances. *Survey Methodology* 40(1), 47-59.
    .. [3] U.S. Census Bureau (2014). *American Community Survey Design and
       Methodology*, ch. 12.

    Examples
    --------
    >>> from innobaro.replicate_weights import sdr_factors
    >>> sdr_factors(3, 4).round(4)
    array([[1.    , 1.7071, 1.    , 1.7071],
           [1.    , 0.2929, 1.7071, 1.    ],
           [1.    , 1.    , 0.2929, 0.2929]])
    """
    S = hadamard_of_order(replicates).astype(float)
    i = np.arange(int(n_units))
    R = S.shape[0]
    return 1.0 + 2.0 ** -1.5 * (S[i % R] - S[(i + 1) % min(max(i.size, 1), R)])


def sdr_replicates(design: Design, *, sort: str | list[str] | None = None,
                   replicates: int = 80, mse: bool = True) -> ReplicateDesign:
    r"""Replicate design by successive-difference replication (the ACS's method).

    The first-stage units (rows of an element sample) are put in the order
    of ``sort`` (the order the systematic sample was drawn in; the data's
    order by default), given the factors of :func:`sdr_factors`, and the
    variance is

    .. math::

        \hat V = \frac{4}{R} \sum_{r=1}^{R} (\hat\theta_r - \hat\theta)^2

    (Fay and Train 1995; the ACS's with :math:`R = 80`). Strata do not enter
    the assignment: the sort order runs through them as the ACS's
    geographic sort does (put the stratum first in ``sort`` to keep each
    stratum's units together). Finite population corrections are not used.

    Parameters
    ----------
    design : Design
        A linearisation design.
    sort : str or list of str, optional
        Columns giving the sort order of the rows (stable sort); a unit's
        place is that of its first row.
    replicates : int, default 80
        Number of replicates, the order of the Hadamard matrix
        (:func:`hadamard_of_order`).
    mse : bool, default True
        Deviations from the full-sample estimate, as the ACS formula; False
        centres them at the mean of the replicates.

    Returns
    -------
    ReplicateDesign
        ``method == "sdr"``, ``scale`` :math:`4/R`, with this design's data,
        rows and domain (the same as ``design.replicate("sdr", sort=...,
        mse=True)``).

    References
    ----------
    .. [1] Fay, R. E. and Train, G. F. (1995). *Proceedings of the Section on
       Government Statistics*, ASA, 154-159.
    .. [2] Wolter, K. M. (2007). *Introduction to Variance Estimation*, 2nd
       ed., ch. 8.
    .. [3] U.S. Census Bureau (2014). *American Community Survey Design and
       Methodology*, ch. 12.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({"order": [3, 1, 2, 4], "y": [1.0, 2, 4, 3]})
    >>> rd = ib.sdr_replicates(ib.Design(df), sort="order", replicates=4)
    >>> # y in sort order 2, 4, 1, 3: (1/2)(4 + 9 + 4 + 1) / 4^2, circular differences
    >>> round(float(ib.mean(rd, "y").se.iloc[0] ** 2), 12)
    0.5625
    """
    return design.replicate("sdr", sort=sort, replicates=replicates, mse=mse)


def sdr_multipliers(design: Design, sort: str | list[str] | None = None,
                    replicates: int = 80) -> np.ndarray:
    """Successive-difference factors of each row, one column per replicate.

    The first-stage units in the order of ``sort`` (a unit's place is that of
    its first row) get the rows of :func:`sdr_factors`; every row carries its
    unit's. Used by :meth:`Design.replicate("sdr") <innobaro.Design.replicate>`
    and :func:`sdr_replicates`.

    Parameters
    ----------
    design : Design
        A linearisation design.
    sort : str or list of str, optional
        Columns giving the sort order of the rows (stable sort); the data's
        order by default.
    replicates : int, default 80
        Number of replicates (the order of the Hadamard matrix).

    Returns
    -------
    numpy.ndarray
        (n, R) factors, over all the design's rows.
    """
    factors, unit = sdr_unit_factors(design, sort, replicates)
    return factors[unit]


def sdr_unit_factors(design: Design, sort: str | list[str] | None = None,
                     replicates: int = 80) -> tuple[np.ndarray, np.ndarray]:
    """:func:`sdr_multipliers` as factors of the first-stage units.

    Parameters
    ----------
    design : Design
        A linearisation design.
    sort : str or list of str, optional
        Columns giving the sort order of the rows.
    replicates : int, default 80
        Number of replicates.

    Returns
    -------
    factors : numpy.ndarray
        (U, R) factors of each first-stage unit (rows of :func:`sdr_factors`
        in the units' sort order).
    unit : numpy.ndarray
        (n,) unit code of each row.
    """
    if design.has_fpc:
        warn("finite population corrections are not used by successive-difference "
             "replicates (as the ACS's)")
    st = design.stages[0]
    n_units = st.unit_stratum.size
    if sort is None:
        row_order = np.arange(design.n)
    else:
        cols = [sort] if isinstance(sort, str) else list(sort)
        data = design.data
        missing = [c for c in cols if c not in data.columns]
        if missing:
            raise DesignError(f"sort: column {', '.join(map(repr, missing))} not found in "
                              f"the data")
        frame = pd.DataFrame({f"k{j}": pd.Series(data[c]).to_numpy()
                              for j, c in enumerate(cols)})
        bad = [c for j, c in enumerate(cols) if frame[f"k{j}"].isna().any()]
        if bad:
            raise DesignError(f"sort: column {', '.join(map(repr, bad))} has missing values")
        row_order = np.lexsort([frame[f"k{j}"].to_numpy() for j in reversed(range(len(cols)))])
    # each unit's place: the first place of any of its rows in the sort order
    place = np.full(n_units, design.n, dtype=np.int64)
    np.minimum.at(place, st.unit[row_order], np.arange(design.n))
    position = np.empty(n_units, dtype=np.int64)
    position[np.argsort(place, kind="stable")] = np.arange(n_units)
    return sdr_factors(n_units, replicates)[position], st.unit
