"""Drawing samples: SRS, systematic, PPS and Poisson selection, in strata and two stages.

Every function takes a ``seed`` (an int or a :class:`numpy.random.Generator`;
the global random state is never used) and returns the selected rows of the
frame with their first-order inclusion probability, ready for
``ib.Design(sample, probs="prob", strata=...)``. Units whose probability
proportional to size reaches 1 are taken with certainty, flagged in the
``certainty`` column and announced by :class:`CertaintyUnitsWarning`.

References: Tillé, Y. (2006). *Sampling Algorithms*, Springer, sections 4.4
(SRS), 5.6 (Poisson), 7.2 (systematic PPS), 7.4 (Brewer) and 7.6 (Sampford);
R package ``sampling`` (``inclusionprobabilities``, ``srswor``,
``UPsystematic``, ``UPbrewer``, ``UPsampford``, ``UPpoisson``,
``UPsystematicpi2``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ._validate import values_by_label
from .errors import InnobaroError, InnobaroWarning, warn

__all__ = [
    "CertaintyUnitsWarning",
    "inclusion_probabilities",
    "joint_inclusion_probabilities",
    "select",
    "select_two_stage",
]

METHODS = ("srs", "systematic", "pps_systematic", "brewer", "sampford", "poisson")
_PPS = ("pps_systematic", "brewer", "sampford", "poisson")


class CertaintyUnitsWarning(InnobaroWarning):
    """Units with a probability proportional to size of 1 or more are taken with certainty."""


def _rng(seed: Any) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def _groups(strata: Any, N: int) -> tuple[np.ndarray, pd.Index]:
    if strata is None:
        return np.zeros(N, dtype=np.int64), pd.Index(["all"])
    codes, levels = pd.factorize(pd.Series(np.asarray(strata)), sort=True)
    if np.any(codes < 0):
        raise InnobaroError("the strata column has missing values")
    return codes.astype(np.int64), pd.Index(levels)


def _per_stratum(n: Any, levels: pd.Index) -> np.ndarray:
    if isinstance(n, (dict, pd.Series)):
        out = values_by_label(n, levels, "n has no sample size for strata")
    else:
        out = np.broadcast_to(np.asarray(n, dtype=float), (len(levels),)).copy()
    if np.any(out < 0) or np.any(out != np.round(out)):
        raise InnobaroError(f"sample sizes must be non-negative whole numbers, got {n!r}")
    return out


def _pik(size: np.ndarray, g: np.ndarray, n_g: np.ndarray, levels: pd.Index) -> np.ndarray:
    """R's inclusionprobabilities in every stratum at once."""
    H = len(levels)
    fixed = np.zeros(size.shape, dtype=bool)
    pik = np.zeros(size.shape)
    for _ in range(size.size + 1):
        rest_n = n_g - np.bincount(g, weights=fixed.astype(float), minlength=H)
        rest_size = np.bincount(g, weights=np.where(fixed, 0.0, size), minlength=H)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(rest_size > 0, rest_n / rest_size, 0.0)
        pik = np.where(fixed, 1.0, size * scale[g])
        new = ~fixed & (pik >= 1 - 1e-12)
        if not new.any():
            return pik
        fixed |= new
    return pik  # pragma: no cover - every pass fixes at least one unit


def inclusion_probabilities(size: Any, n: Any, *, strata: Any = None) -> np.ndarray:
    """Inclusion probabilities proportional to size, capped at 1.

    Parameters
    ----------
    size : array
        Non-negative size measure of every unit.
    n : int, or dict/Series by stratum
        Sample size (in every stratum).
    strata : array, optional
        Stratum of every unit.

    Returns
    -------
    numpy.ndarray
        :math:`\\pi_k`, summing to :math:`n_h` in every stratum.

    Notes
    -----
    :math:`\\pi_k = n\\, x_k / \\sum_U x_j`; units with :math:`\\pi_k \\ge 1`
    get :math:`\\pi_k = 1` and the rest are recomputed with :math:`n` less the
    certainty units, until none exceeds 1 (Tillé 2006, sec. 2.10; R's
    ``sampling::inclusionprobabilities``).

    Examples
    --------
    >>> from innobaro.selection import inclusion_probabilities
    >>> inclusion_probabilities([1, 2, 3, 30], 2).round(4).tolist()
    [0.1667, 0.3333, 0.5, 1.0]
    """
    x = np.asarray(size, dtype=float).ravel()
    if np.any(~np.isfinite(x)) or np.any(x < 0):
        raise InnobaroError("size must be non-negative and finite for every unit")
    g, levels = _groups(strata, x.size)
    n_g = _per_stratum(n, levels)
    N_g = np.bincount(g, weights=(x > 0).astype(float), minlength=len(levels))
    if np.any(n_g > N_g):
        bad = list(levels[n_g > N_g])
        raise InnobaroError(f"n exceeds the number of units with positive size in strata {bad}")
    return _pik(x, g, n_g, levels)


def _offsets(g_sorted: np.ndarray, H: int) -> tuple[np.ndarray, np.ndarray]:
    counts = np.bincount(g_sorted, minlength=H)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return start, counts


def _systematic(pik: np.ndarray, g: np.ndarray, H: int, rng: np.random.Generator) -> np.ndarray:
    """Madow's systematic PPS in frame order within each stratum."""
    order = np.argsort(g, kind="stable")
    p, gs = pik[order], g[order]
    cs = np.cumsum(p)
    totals = np.bincount(gs, weights=p, minlength=H)
    before = np.concatenate([[0.0], np.cumsum(totals)[:-1]])
    hi = cs - before[gs]
    lo = hi - p
    u = rng.random(H)[gs]
    chosen = np.floor(hi - u + 1e-10) > np.floor(lo - u + 1e-10)
    out = np.zeros(pik.size, dtype=bool)
    out[order] = chosen
    return out


def _srs(g: np.ndarray, n_g: np.ndarray, H: int, rng: np.random.Generator) -> np.ndarray:
    order = np.argsort(g + rng.random(g.size))  # stratum, then a random key
    start, _ = _offsets(g[order], H)
    rank = np.arange(g.size) - start[g[order]]
    out = np.zeros(g.size, dtype=bool)
    out[order] = rank < n_g[g[order]]
    return out


def _brewer(pik: np.ndarray, g: np.ndarray, H: int, rng: np.random.Generator) -> np.ndarray:
    """Brewer's draw-by-draw method (R's UPbrewer), all strata at once.

    Draw :math:`i` of :math:`n_h` takes unselected unit :math:`k` with probability
    proportional to :math:`w_k = \\pi_k f(\\pi_k)`, :math:`f(p) = (A - p)/(A - m p)`,
    :math:`A = n_h - \\sum_{\\text{selected}} \\pi_j`, :math:`m = n_h - i + 1`. As
    :math:`f` increases in :math:`p` where :math:`A > m p`, a draw is made by
    rejection: candidates proportional to :math:`\\pi_k` (one binary search each in
    the stratum's cumulative sum), accepted with probability
    :math:`(1 - s_k) f(\\pi_k) / f(\\max_h \\pi)`. That is exact, and costs
    :math:`O(\\log N)` per candidate instead of :math:`O(N)` per draw; a stratum
    where the bound does not hold, or where candidates keep being rejected, takes
    the draw from its explicit weights.
    """
    out = pik >= 1 - 1e-9
    live = (pik > 1e-9) & ~out
    order = np.flatnonzero(live)[np.argsort(g[live], kind="stable")]
    p, gs = pik[order], g[order]
    if p.size == 0:
        return out
    counts = np.bincount(gs, minlength=H)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    end = start + counts
    tot = np.bincount(gs, weights=p, minlength=H)
    n_g = np.rint(tot)
    cp = np.cumsum(p)
    before = np.concatenate([[0.0], np.cumsum(tot)[:-1]])
    pmax = np.zeros(H)
    np.maximum.at(pmax, gs, p)
    s = np.zeros(p.size, dtype=bool)
    a = np.zeros(H)  # sum of pi over the units selected so far, per stratum

    def f(q: np.ndarray, A: np.ndarray, m: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.maximum(np.nan_to_num((A - q) / (A - m * q)), 0.0)

    def explicit(hs: np.ndarray, A: np.ndarray, m: np.ndarray) -> np.ndarray:
        """One draw from the explicit weights of each stratum in ``hs``."""
        picks = np.empty(hs.size, dtype=np.int64)
        for j, h in enumerate(hs):  # over the few strata that need it
            sl = slice(start[h], end[h])
            w = np.where(s[sl], 0.0, p[sl] * f(p[sl], A[j], m[j]))
            c = np.cumsum(w)
            picks[j] = start[h] + min(int(np.searchsorted(c, rng.random() * c[-1],
                                                          side="right")), counts[h] - 1)
        return picks

    for i in range(1, int(n_g.max(initial=0)) + 1):  # over the draws, all strata at once
        hs = np.flatnonzero(i <= n_g)
        A, m = n_g[hs] - a[hs], n_g[hs] - i + 1
        ok = A - m * pmax[hs] > 1e-9 * np.maximum(A, 1.0)
        bound = np.where(ok, f(pmax[hs], A, m), np.inf)
        pick = np.full(hs.size, -1, dtype=np.int64)
        pending = np.flatnonzero(ok)
        k = 4
        for _ in range(12):  # rejection rounds with a growing number of candidates
            if pending.size == 0:
                break
            h = hs[pending]
            target = before[h][:, None] + rng.random((pending.size, k)) * tot[h][:, None]
            idx = np.searchsorted(cp, target, side="right")
            idx = np.clip(idx, start[h][:, None], end[h][:, None] - 1)
            acc = np.where(s[idx], 0.0, f(p[idx], A[pending][:, None], m[pending][:, None])
                           / bound[pending][:, None])
            hit = rng.random((pending.size, k)) < acc
            got = hit.any(axis=1)
            pick[pending[got]] = idx[got, np.argmax(hit[got], axis=1)]
            pending = pending[~got]
            k = min(k * 4, 4096)
        rest = np.flatnonzero(pick < 0)
        if rest.size:
            pick[rest] = explicit(hs[rest], A[rest], m[rest])
        s[pick] = True
        a[hs] += p[pick]
    out[order] = s
    return out


def _sampford(pik: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sampford's rejective method: one draw by pi/n, n-1 by pi/(1-pi) with replacement,
    kept when all n are distinct."""
    out = pik >= 1 - 1e-9
    live = np.flatnonzero((pik > 1e-9) & ~out)
    p = pik[live]
    n = int(np.rint(p.sum()))
    if n == 0:
        return out
    q = p / (1 - p)
    c1, c2 = np.cumsum(p / p.sum()), np.cumsum(q / q.sum())
    batch = 64
    while True:
        first = np.minimum(np.searchsorted(c1, rng.random(batch), side="right"), p.size - 1)
        rest = np.minimum(np.searchsorted(c2, rng.random((batch, n - 1)), side="right"),
                          p.size - 1)
        draws = np.sort(np.column_stack([first, rest]), axis=1)
        ok = np.all(np.diff(draws, axis=1) > 0, axis=1)
        if ok.any():
            out[live[draws[np.argmax(ok)]]] = True
            return out
        batch = min(batch * 4, 1 << 16)


def select(frame: pd.DataFrame, n: Any, *, method: str = "srs", size: str | None = None,
           strata: str | None = None, seed: Any = None, prob: str = "prob") -> pd.DataFrame:
    """Draw a sample from a frame and return it with its inclusion probabilities.

    Parameters
    ----------
    frame : pandas.DataFrame
        The sampling frame, one row per unit (not changed).
    n : int, or dict/Series by stratum
        Sample size; for ``"poisson"`` the expected size.
    method : str
        ``"srs"`` (without replacement), ``"systematic"`` (equal probabilities,
        frame order), ``"pps_systematic"`` (Madow, frame order), ``"brewer"``,
        ``"sampford"`` (PPS without replacement, fixed size) or ``"poisson"``.
    size : str, optional
        Column of the size measure (the PPS methods).
    strata : str, optional
        Column of the strata; ``n`` is then per stratum. ``"sampford"`` draws
        from one stratum only.
    seed : int or numpy.random.Generator, optional
        Source of randomness.
    prob : str
        Name of the inclusion-probability column added to the sample.

    Returns
    -------
    pandas.DataFrame
        The selected rows in frame order, with ``prob`` (first-order inclusion
        probability) and ``certainty`` (taken with probability 1).

    Notes
    -----
    :math:`\\pi_k = n_h/N_h` for SRS and systematic selection, and
    :func:`inclusion_probabilities` (:math:`\\propto x_k`, capped at 1) for the
    PPS methods; the algorithms are those of Tillé (2006, ch. 4-7) and R's
    ``sampling`` package, and select unit :math:`k` with probability exactly
    :math:`\\pi_k`. Second-order probabilities:
    :func:`joint_inclusion_probabilities`.

    Examples
    --------
    >>> import pandas as pd
    >>> from innobaro.selection import select
    >>> frame = pd.DataFrame({"id": range(6), "x": [1, 2, 3, 4, 5, 30]})
    >>> s = select(frame, 2, method="srs", seed=1)
    >>> len(s), s["prob"].tolist()
    (2, [0.3333333333333333, 0.3333333333333333])
    """
    if method not in METHODS:
        raise InnobaroError(f"unknown method {method!r}; one of {', '.join(METHODS)}")
    if prob in frame.columns or "certainty" in frame.columns:
        raise InnobaroError(f"the frame already has a column {prob!r} or 'certainty'; "
                            "choose another prob=")
    N = len(frame)
    strata_values = None if strata is None else frame[strata].to_numpy()
    g, levels = _groups(strata_values, N)
    H = len(levels)
    n_g = _per_stratum(n, levels)
    N_g = np.bincount(g, minlength=H).astype(float)
    rng = _rng(seed)
    if method in _PPS:
        if size is None:
            raise InnobaroError(f"method={method!r} needs size= (a size-measure column)")
        x = frame[size].to_numpy(dtype=float)
        if np.any(~np.isfinite(x)) or np.any(x < 0):
            raise InnobaroError(f"the size column {size!r} must be non-negative and finite")
        N_pos = np.bincount(g, weights=(x > 0).astype(float), minlength=H)
        if np.any(n_g > N_pos):
            bad = list(levels[n_g > N_pos])
            raise InnobaroError(f"n exceeds the units with positive {size!r} in strata {bad}")
        first = np.where(x > 0, n_g[g] * x / np.maximum(
            np.bincount(g, weights=x, minlength=H), 1e-300)[g], 0.0)
        pik = _pik(x, g, n_g, levels)
        certain = pik >= 1 - 1e-12
        if np.any(first > 1):
            k = int(certain.sum())
            labels = list(frame.index[certain][:10])
            warn(f"{k} unit(s) have a probability proportional to {size!r} of 1 or more and "
                 f"are taken with certainty (probability 1), the rest of the sample "
                 f"re-allocated; rows {labels}{' ...' if k > 10 else ''}",
                 CertaintyUnitsWarning)
    else:
        if np.any(n_g > N_g):
            bad = list(levels[n_g > N_g])
            raise InnobaroError(f"n exceeds the stratum size in strata {bad}")
        pik = n_g[g] / N_g[g]
        certain = pik >= 1
    if method == "srs":
        chosen = _srs(g, n_g, H, rng)
    elif method in ("systematic", "pps_systematic"):
        chosen = _systematic(pik, g, H, rng)
    elif method == "brewer":
        chosen = _brewer(pik, g, H, rng)
    elif method == "sampford":
        if H > 1:
            raise InnobaroError("method='sampford' draws from one stratum; call it per "
                                "stratum or use 'brewer' (same first-order probabilities)")
        chosen = _sampford(pik, rng)
    else:
        chosen = rng.random(N) < pik
    out = frame.iloc[np.flatnonzero(chosen)].copy()
    out[prob] = pik[chosen]
    out["certainty"] = certain[chosen]
    return out


def _sampford_pi2(pik: np.ndarray) -> np.ndarray:
    """Sampford's exact joint probabilities of units with 0 < pi < 1 (Sampford 1967;
    the recursion of R's ``UPsampfordpi2``), every pair at once."""
    n = int(np.rint(pik.sum()))
    if n < 2:
        return np.diag(pik)
    p = pik / n
    lam = p / (1 - n * p)
    L = np.zeros(n + 1)
    L[1] = 1.0
    powsum = np.array([0.0] + [float(np.sum(lam ** r)) for r in range(1, n)])
    for i in range(2, n + 1):  # over the sample size, not the units
        r = np.arange(1, i)
        L[i] = np.sum((-1.0) ** (r - 1) * powsum[r] * L[i - r]) / (i - 1)
    if np.any(L[1:] < 0):
        raise InnobaroError("Sampford's joint probabilities cannot be computed for these "
                            "inclusion probabilities (a negative term, as R's UPsampfordpi2)")
    t1 = n + 1 - np.arange(1, n + 1)
    kn = 1.0 / np.sum(t1 * L[1:] / float(n) ** t1)
    a = lam[:, None] + lam[None, :]
    b = lam[:, None] * lam[None, :]
    L2 = [np.zeros_like(a), np.ones_like(a)]
    if n >= 3:
        L2.append(L[2] - a)
    for m in range(3, n):
        L2.append(L[m] - a * L2[m - 1] - b * L2[m - 2])
    total = np.zeros_like(a)
    psum = p[:, None] + p[None, :]
    for t2 in range(1, n):
        total += (t2 + 1 - n * psum) * L2[n - t2] / float(n) ** (t2 - 1)
    out = kn * b * total
    np.fill_diagonal(out, pik)
    return np.asarray(out)


def joint_inclusion_probabilities(pik: Any, method: str, *, strata: Any = None) -> np.ndarray:
    """Second-order inclusion probabilities of a design, where they have a closed form.

    Parameters
    ----------
    pik : array
        First-order inclusion probabilities of every unit of the frame, in frame order.
    method : {"srs", "poisson", "systematic", "pps_systematic", "sampford"}
        The selection method.
    strata : array, optional
        Stratum of every unit (strata are selected independently);
        not with the systematic methods and Sampford's.

    Returns
    -------
    numpy.ndarray
        The :math:`N \\times N` matrix :math:`\\pi_{kl}` (:math:`\\pi_k` on the diagonal).

    Notes
    -----
    SRS: :math:`\\pi_{kl} = n_h(n_h-1)/(N_h(N_h-1))` in a stratum; Poisson and
    different strata: :math:`\\pi_k\\pi_l`. Systematic PPS in frame order:
    the random start :math:`u` is uniform on :math:`[0,1)`, the selected set
    is constant between the fractional parts of the cumulated :math:`\\pi`,
    and :math:`\\pi_{kl}` is the total length of the intervals of :math:`u`
    that select both (Tillé 2006, sec. 7.2; R's ``UPsystematicpi2``).
    Sampford: the exact expression of Sampford (1967) by the recursion of
    R's ``UPsampfordpi2`` (Tillé 2006, sec. 7.6), over all pairs at once.

    Examples
    --------
    >>> from innobaro.selection import joint_inclusion_probabilities
    >>> joint_inclusion_probabilities([0.5, 0.5, 0.5, 0.5], "systematic")[0].tolist()
    [0.5, 0.0, 0.5, 0.0]
    """
    p = np.asarray(pik, dtype=float).ravel()
    if method == "sampford":
        if strata is not None:
            raise InnobaroError("Sampford's method draws from one stratum: call this per "
                                "stratum")
        live = (p > 1e-9) & (p < 1 - 1e-9)
        out = np.outer(p, p)  # a certainty or zero-probability unit: pi_k pi_l
        out[np.ix_(live, live)] = _sampford_pi2(p[live])
        np.fill_diagonal(out, p)
        return np.asarray(out)
    if method in ("systematic", "pps_systematic"):
        if strata is not None:
            raise InnobaroError("joint probabilities of stratified systematic selection: "
                                "call this per stratum")
        cum = np.concatenate([[0.0], np.cumsum(p)])
        cuts = np.unique(np.concatenate([[0.0, 1.0], np.mod(cum, 1.0)]))
        cuts = cuts[(cuts >= 0) & (cuts <= 1)]
        length = np.diff(cuts)
        u = (cuts[:-1] + cuts[1:]) / 2
        sel = (np.floor(cum[1:][None, :] - u[:, None] + 1e-10)
               > np.floor(cum[:-1][None, :] - u[:, None] + 1e-10)).astype(float)
        return np.asarray((sel * length[:, None]).T @ sel)
    g, _ = _groups(strata, p.size)
    same = g[:, None] == g[None, :]
    if method == "srs":
        n_h = np.bincount(g, weights=p)[g]
        N_h = np.bincount(g)[g].astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            within = np.where(N_h > 1, n_h * (n_h - 1) / (N_h * (N_h - 1)), 0.0)
        out = np.where(same, within[:, None] * np.ones_like(p)[None, :], np.outer(p, p))
    elif method == "poisson":
        out = np.outer(p, p)
    else:
        raise InnobaroError(f"no closed form for the joint probabilities of {method!r}; "
                            "'srs', 'poisson', 'systematic', 'pps_systematic' or 'sampford'")
    np.fill_diagonal(out, p)
    return np.asarray(out)


def select_two_stage(frame: pd.DataFrame, psu: str, n_psu: Any, n_units: int, *,
                     strata: str | None = None, size: str | None = None,
                     method: str = "pps_systematic", seed: Any = None) -> pd.DataFrame:
    """Stratified two-stage sample: PSUs by ``method``, then SRS of units in each PSU.

    Parameters
    ----------
    frame : pandas.DataFrame
        The frame of units with their PSU (and stratum) columns.
    psu : str
        Column of the primary sampling units.
    n_psu : int, or dict/Series by stratum
        PSUs to draw (in every stratum).
    n_units : int
        Units to draw in each selected PSU (all of a smaller PSU).
    strata : str, optional
        Column of the strata (constant within a PSU).
    size : str, optional
        Column whose PSU sums are the size measure; None: the number of units.
    method : str
        First-stage method of :func:`select`.
    seed : int or numpy.random.Generator, optional
        Source of randomness.

    Returns
    -------
    pandas.DataFrame
        The selected units with ``prob1`` (PSU), ``prob2`` (unit within PSU),
        ``prob`` = ``prob1 * prob2`` and ``certainty`` (of the PSU).

    Notes
    -----
    :math:`\\pi_k = \\pi_{I}\\,\\pi_{k|I}` with :math:`\\pi_{k|I} = m_I/M_I`
    (Särndal, Swensson and Wretman 1992, sec. 4.3). With
    ``size=None`` and PPS, a self-weighting design within each stratum.

    Examples
    --------
    >>> import pandas as pd
    >>> from innobaro.selection import select_two_stage
    >>> frame = pd.DataFrame({"psu": [1] * 4 + [2] * 6 + [3] * 10, "y": range(20)})
    >>> s = select_two_stage(frame, "psu", 2, 2, seed=3)
    >>> len(s), sorted(s["prob"].round(3).unique().tolist())
    (4, [0.2])
    """
    rng = _rng(seed)
    keys = [psu] if strata is None else [strata, psu]
    if strata is not None and frame.groupby(psu)[strata].nunique().max() > 1:
        raise InnobaroError(f"the strata column {strata!r} varies within a PSU of {psu!r}")
    measure = frame[size] if size is not None else pd.Series(1.0, index=frame.index)
    label = f"{size} of the PSU" if size is not None else "units in the PSU"
    psus = (measure.groupby([frame[k] for k in keys], sort=True).agg(["sum", "size"])
            .rename(columns={"sum": label, "size": "_units"}).reset_index())
    psus.index = pd.Index(psus[psu].to_numpy(), name=psu)  # warnings name PSUs by id
    psus = psus.rename(columns={psu: "_psu"})
    first = select(psus, n_psu, method=method,
                   size=label if method in _PPS else None,
                   strata=strata, seed=rng, prob="prob1")
    chosen = frame[frame[psu].isin(first["_psu"])]
    m = np.minimum(float(n_units), first.set_index("_psu")["_units"].astype(float))
    second = select(chosen, m.to_dict(), method="srs", strata=psu,
                    seed=rng, prob="prob2").drop(columns=["certainty"])
    info = first.set_index("_psu")[["prob1", "certainty"]]
    out = second.join(info, on=psu)
    out["prob"] = out["prob1"] * out["prob2"]
    return out
