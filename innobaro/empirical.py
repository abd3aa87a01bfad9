"""Weighted distributions as data: R's ``svycdf``, ``svyhist`` and ``svyboxplot``.

:func:`cdf` gives the weighted empirical distribution function, :func:`histogram`
the weighted histogram (bins, estimated population counts, densities and
shares) and :func:`boxplot_stats` the five numbers and outliers of a survey
boxplot, each by domain if asked, as pandas DataFrames. The drawings are in
:mod:`innobaro.plot` (optional matplotlib); nothing here draws.

These are point estimates of the population's distribution; standard errors
of a share or a quantile come from :func:`~innobaro.proportion`,
:func:`~innobaro.mean` or :func:`~innobaro.quantile`.

References
----------
.. [1] Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*.
   Wiley, ch. 4 (graphics: ``svycdf``, ``svyhist``, ``svyboxplot``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ._linalg import bincount
from ._validate import as_column_list, check_columns
from .design import SurveyDesign, check_design
from .errors import DomainError, EstimationError, MissingValueError, warn

__all__ = ["boxplot_stats", "cdf", "histogram", "pretty_breaks"]

Columns = str | Sequence[str]

#: The five probabilities of a boxplot (R's svyboxplot).
BOX_PROBS = (0.0, 0.25, 0.5, 0.75, 1.0)


@dataclass(frozen=True)
class _Domains:
    """Domain codes of the rows (-1 outside any domain), the by-columns and
    the by-values of each domain."""

    code: np.ndarray
    by: list[str]
    values: list[np.ndarray]
    n: int

    def frame(self, which: np.ndarray) -> pd.DataFrame:
        """The by-columns of domains ``which`` (one row each)."""
        return pd.DataFrame({c: v[which] for c, v in zip(self.by, self.values, strict=True)},
                            index=pd.RangeIndex(len(which)))

    def total(self, w: np.ndarray) -> np.ndarray:
        """The sum of ``w`` over each domain's rows (missing values included)."""
        inside = self.code >= 0
        return bincount(self.code[inside], weights=w[inside], minlength=self.n)

    def index(self) -> pd.Index:
        if not self.by:
            return pd.Index(["all"], name="domain")
        if len(self.by) == 1:
            return pd.Index(self.values[0], name=self.by[0])
        return pd.MultiIndex.from_arrays(self.values, names=self.by)




def _numeric(design: SurveyDesign, col: str, what: str) -> np.ndarray:
    check_columns(design.data, [col], what)
    s = design.data[col]
    if isinstance(s.dtype, pd.CategoricalDtype) or not (
            pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
        raise EstimationError(f"{what}: column {col!r} must be numeric, not {s.dtype}")
    x = s.to_numpy(dtype=np.float64, na_value=np.nan)
    inf = np.isinf(x) & design.present
    if inf.any():
        raise EstimationError(f"{what}: column {col!r} has {int(inf.sum())} infinite "
                              f"value(s); recode them or set them missing")
    return x


def _domains(design: SurveyDesign, by: Columns | None, what: str) -> _Domains:
    present = design.present
    by_cols = as_column_list(by, "by") if by is not None else []
    if not by_cols:
        return _Domains(np.where(present, 0, -1).astype(np.int64), [], [], 1)
    check_columns(design.data, by_cols, "by")
    codes, values = design.level_codes(by_cols)
    missing = (codes < 0) & present
    if missing.any():
        raise MissingValueError(f"{what}: by column(s) {', '.join(map(repr, by_cols))} have "
                                f"{int(missing.sum())} missing value(s) in the domain; leave "
                                f"them out with design.subset(...)")
    code = np.where(present, codes, -1).astype(np.int64)
    return _Domains(code, by_cols, [np.asarray(v) for v in values], len(values[0]))


def _kept(design: SurveyDesign, x: np.ndarray, doms: _Domains, what: str, col: str
          ) -> tuple[np.ndarray, np.ndarray]:
    """Rows that enter the distribution (in a domain, value present, weight > 0) and
    which domains have any; a warning names the domains left out."""
    w = design.weight_values
    keep = (doms.code >= 0) & ~np.isnan(x) & (w > 0)
    if not keep.any():
        raise DomainError(f"{what}: column {col!r} has no non-missing value with positive "
                          f"weight in the design's domain")
    has = bincount(doms.code[keep], minlength=doms.n) > 0
    seen = bincount(doms.code[doms.code >= 0], minlength=doms.n) > 0
    empty = np.flatnonzero(seen & ~has)
    if empty.size:
        names = ["; ".join(f"{c}={v[k]}" for c, v in zip(doms.by, doms.values, strict=True))
                 for k in empty[:10]]
        warn(f"{what}: domain(s) {', '.join(names)} have no non-missing value of {col!r} "
             f"with positive weight; they are left out")
    return keep, has


def _one_column(design: SurveyDesign, y: Any, by: Columns | None, what: str
                ) -> tuple[_Domains, np.ndarray, np.ndarray, np.ndarray]:
    """The checks and rows of the distribution of one column (histogram, boxplot):
    the domains, the column's values, the rows kept and the domains that have any."""
    check_design(design, what)
    if not isinstance(y, str):
        raise EstimationError(f"{what}: y must be one column name, got {y!r}")
    doms = _domains(design, by, what)
    x = _numeric(design, y, what)
    keep, has = _kept(design, x, doms, what, y)
    return doms, x, keep, has


def _sorted_shares(x: np.ndarray, d: np.ndarray, w: np.ndarray, n_domains: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rows sorted by domain then value, the cumulative weight within the domain
    and the domain's total, as R's ``cumsum(w[order(x)])`` and ``sum(w)`` (extended
    precision sums rounded to double); the domain starts and counts."""
    order = np.lexsort((x, d))
    x, d, w = x[order], d[order], w[order]
    cum = np.cumsum(w.astype(np.longdouble))
    counts = bincount(d, minlength=n_domains).astype(np.int64)
    ends = np.cumsum(counts)
    starts = ends - counts
    before = np.zeros(n_domains, dtype=np.longdouble)
    inner = starts > 0
    before[inner] = cum[starts[inner] - 1]
    cumw = (cum - before[d]).astype(np.float64)
    total = np.zeros(n_domains)
    has = counts > 0
    total[has] = (cum[ends[has] - 1] - before[has]).astype(np.float64)
    return x, d, cumw, total, np.column_stack([starts, counts])


def cdf(design: SurveyDesign, y: Columns, *, by: Columns | None = None) -> pd.DataFrame:
    """Weighted empirical distribution functions (R's ``svycdf``), as data.

    Parameters
    ----------
    design : Design or ReplicateDesign
    y : str or list of str
        Numeric columns; rows with a missing value of a column are left out of
        that column's distribution (R's ``na.rm = TRUE``).
    by : str or list of str, optional
        Domain columns: one distribution function per domain (R's ``svycdf``
        on each domain's subset).

    Returns
    -------
    pandas.DataFrame
        One row per distinct value of each variable in each domain, sorted: the
        by-columns, ``variable``, ``value`` (:math:`x`) and ``cdf``
        (:math:`\\hat F(x)`), the jumps of the step function.

    Notes
    -----
    :math:`\\hat F(x) = \\sum_i w_i [x_i \\le x] / \\sum_i w_i`, the sums over
    the domain's rows with a value: the share of the estimated population
    with a value of at most :math:`x`. Rows of weight zero (outside a subset's
    domain) are left out; R keeps them as jumps of height zero in calibrated
    subsets, which changes no value of the function.

    References
    ----------
    .. [1] Lumley, T. (2010). *Complex Surveys*, sec. 4.2 (``svycdf``).

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({"psu": range(5), "w": [1.0, 2, 1, 4, 2], "y": [3, 1, 2, 2, 5]})
    >>> ib.cdf(ib.Design(df, weights="w", psu="psu"), "y")
      variable  value  cdf
    0        y    1.0  0.2
    1        y    2.0  0.7
    2        y    3.0  0.8
    3        y    5.0  1.0
    """
    check_design(design, "cdf")
    cols = as_column_list(y, "y")
    doms = _domains(design, by, "cdf")
    w = design.weight_values
    parts = []
    for col in cols:  # over variables
        x = _numeric(design, col, "cdf")
        keep, _ = _kept(design, x, doms, "cdf", col)
        xs, ds, cumw, total, _sc = _sorted_shares(x[keep], doms.code[keep], w[keep], doms.n)
        # ties = "max": the last row of each run of equal values in a domain
        last = np.ones(xs.size, bool)
        last[:-1] = (xs[1:] != xs[:-1]) | (ds[1:] != ds[:-1])
        F = cumw[last] / total[ds[last]]
        frame = doms.frame(ds[last])
        frame["variable"] = col
        frame["value"] = xs[last]
        frame["cdf"] = F
        parts.append(frame)
    return pd.concat(parts, ignore_index=True)


def pretty_breaks(low: float, high: float, n: int, min_n: int = 1) -> np.ndarray:
    """About ``n`` equal bins with round ends covering ``[low, high]`` (R's ``pretty``).

    The unit is 1, 2, 5 or 10 times a power of ten, the one nearest the
    range divided by ``n`` with R's default bias towards the larger unit
    (``high.u.bias = 1.5``, ``u5.bias = 2.75``); the breaks are the multiples
    of the unit from the last one not above ``low`` to the first one not
    below ``high``, at least ``min_n`` bins.

    Parameters
    ----------
    low, high : float
        The range to cover.
    n : int
        The number of bins wanted.
    min_n : int, default 1
        The least number of bins (R's ``min.n``; :func:`histogram` passes 1, as
        R's ``hist``).

    Returns
    -------
    numpy.ndarray
        The breaks, increasing.

    References
    ----------
    .. [1] R Core Team. ``pretty`` (base R), and ``hist.default`` for the
       Sturges rule.

    Examples
    --------
    >>> from innobaro.empirical import pretty_breaks
    >>> pretty_breaks(0.3, 9.6, 5).tolist()
    [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    """
    h, h5 = 1.5, 0.5 + 1.5 * 1.5
    eps = np.finfo(float).eps
    dx = high - low
    if dx == 0 and high == 0:
        cell, small = 1.0, True
    else:
        cell = max(abs(low), abs(high))
        bound = (1 + (1 / (1 + h) if h5 >= 1.5 * h + 0.5 else 1.5 / (1 + h5))) \
            * max(1, n) * eps
        small = bool(dx < cell * bound * 3)
    if small:
        if cell > 10:
            cell = 9 + cell / 10
        cell *= 0.75
        if min_n > 1:
            cell /= min_n
    else:
        cell = dx / n if n > 1 else dx
    cell = max(cell, 2.0 ** -20 * np.finfo(float).tiny)
    base = 10.0 ** math.floor(math.log10(cell))
    unit = base
    if 2 * base - cell < h * (cell - unit):
        unit = 2 * base
        if 5 * base - cell < h5 * (cell - unit):
            unit = 5 * base
            if 10 * base - cell < h * (cell - unit):
                unit = 10 * base
    r_eps = 1e-10
    ns = math.floor(low / unit + r_eps)
    nu = math.ceil(high / unit - r_eps)
    while ns * unit > low + r_eps * unit:
        ns -= 1
    while nu * unit < high - r_eps * unit:
        nu += 1
    k = int(0.5 + nu - ns)
    if k < min_n:
        k = min_n - k
        if low == 0 and ns == 0 and high != 0:
            nu += k
        elif high == 0 and nu == 0 and low != 0:
            ns -= k
        elif ns >= 0:
            nu += k // 2
            ns -= k // 2 + k % 2
        else:
            ns -= k // 2
            nu += k // 2 + k % 2
        k = min_n
    lo = min(low, ns * unit)
    hi = max(high, nu * unit)
    # R's seq(lo, hi, length.out = k + 1): from the start in the first half, from
    # the end in the second
    i = np.arange(k + 1, dtype=float)
    by = (hi - lo) / k if k > 0 else 0.0
    out = np.where(i < (k + 1) // 2, lo + i * by, hi - (k - i) * by)
    out[0], out[-1] = lo, hi
    if k:
        out[np.abs(out) < 1e-14 * (hi - lo) / k] = 0.0
    return out


def _breaks(bins: Any, x: np.ndarray, col: str) -> np.ndarray:
    if isinstance(bins, str):
        if bins.lower() != "sturges":
            raise EstimationError(f"histogram: bins must be 'sturges', a number of bins or "
                                  f"the breaks; got {bins!r}")
        n_bins = math.ceil(math.log2(x.size) + 1)
        return pretty_breaks(float(x.min()), float(x.max()), n_bins)
    if np.ndim(bins) == 0:
        if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
            raise EstimationError(f"histogram: bins must be a positive whole number of bins, "
                                  f"'sturges' or the breaks; got {bins!r}")
        return pretty_breaks(float(x.min()), float(x.max()), int(min(bins, 10 ** 6)))
    b = np.sort(np.asarray(bins, dtype=float))
    if b.size < 2 or not np.isfinite(b).all() or (np.diff(b) <= 0).any():
        raise EstimationError(f"histogram: breaks must be at least two distinct finite "
                              f"numbers; got {list(np.asarray(bins).ravel()[:8])}")
    outside = (x < b[0]) | (x > b[-1])
    if outside.any():
        raise EstimationError(f"histogram: {int(outside.sum())} value(s) of {col!r} lie "
                              f"outside the breaks [{b[0]:g}, {b[-1]:g}], e.g. "
                              f"{x[outside][0]:g}; widen the breaks")
    return b


def histogram(design: SurveyDesign, y: str, *, bins: str | int | Sequence[float] = "sturges",
              by: Columns | None = None, right: bool = True) -> pd.DataFrame:
    """A weighted histogram (R's ``svyhist``), as data.

    Parameters
    ----------
    design : Design or ReplicateDesign
    y : str
        A numeric column.
    bins : "sturges", int or sequence of float, default "sturges"
        The breaks: Sturges' number of bins, :math:`\\lceil \\log_2 n + 1
        \\rceil` with :math:`n` the rows with a value, or the given number,
        made round by :func:`pretty_breaks` over the range of the values (R's
        ``hist``); or the breaks themselves, which must cover every value.
    by : str or list of str, optional
        Domain columns: one histogram per domain, all on the same breaks (from
        every row of the design's domain).
    right : bool, default True
        Bins closed on the right, :math:`(b_{k-1}, b_k]`, the first also
        closed on the left (R's ``right = TRUE, include.lowest = TRUE``);
        ``False`` gives :math:`[b_{k-1}, b_k)`, the last closed.

    Returns
    -------
    pandas.DataFrame
        One row per bin (and domain): the by-columns, ``left``, ``right``,
        ``mid``, ``proportion`` (:math:`\\hat p_k`), ``density``
        (:math:`\\hat p_k / (b_k - b_{k-1})`, the heights of R's default
        ``probability = TRUE``) and ``count`` (:math:`\\hat p_k W`, R's
        ``counts``).

    Notes
    -----
    :math:`\\hat p_k = \\sum_i w_i [x_i \\in \\text{bin } k] / \\sum_i w_i`
    over the domain's rows with a value (R's ``svymean`` of the binned
    variable, ``na.rm = TRUE``); :math:`W` is the sum of the weights of all
    the domain's rows, those with a missing value included, as R's
    ``svyhist``, so the counts add up to :math:`W`.

    References
    ----------
    .. [1] Lumley, T. (2010). *Complex Surveys*, sec. 4.3 (``svyhist``).
    .. [2] Sturges, H. A. (1926). The choice of a class interval. *JASA* 21,
       65-66.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({"psu": range(6), "w": [1.0, 2, 1, 4, 2, 2],
    ...                    "y": [0.5, 1.5, 1.7, 2.2, 3.9, 2.0]})
    >>> h = ib.histogram(ib.Design(df, weights="w", psu="psu"), "y", bins=[0, 1, 2, 4])
    >>> h[["left", "right", "proportion", "density", "count"]]
       left  right  proportion   density  count
    0   0.0    1.0    0.083333  0.083333    1.0
    1   1.0    2.0    0.416667  0.416667    5.0
    2   2.0    4.0    0.500000  0.250000    6.0
    """
    doms, x, keep, has = _one_column(design, y, by, "histogram")
    inside = (doms.code >= 0) & ~np.isnan(x)
    b = _breaks(bins, x[inside], y)
    K = b.size - 1
    xk = x[keep]
    if right:
        k = np.clip(np.searchsorted(b, xk, side="left") - 1, 0, K - 1)
    else:
        k = np.clip(np.searchsorted(b, xk, side="right") - 1, 0, K - 1)
    w = design.weight_values
    d = doms.code[keep]
    wk = w[keep]
    sums = bincount(d * K + k, weights=wk, minlength=doms.n * K).reshape(doms.n, K)
    denom = bincount(d, weights=wk, minlength=doms.n)
    W = doms.total(w)
    which = np.flatnonzero(has)
    p = sums[which] / denom[which, None]
    frame = doms.frame(np.repeat(which, K))
    frame["left"] = np.tile(b[:-1], which.size)
    frame["right"] = np.tile(b[1:], which.size)
    frame["mid"] = np.tile(0.5 * (b[:-1] + b[1:]), which.size)
    frame["proportion"] = p.ravel()
    frame["density"] = (p / np.diff(b)).ravel()
    frame["count"] = (p * W[which, None]).ravel()
    return frame


def boxplot_stats(design: SurveyDesign, y: str, *, by: Columns | None = None,
                  all_outliers: bool = False) -> pd.DataFrame:
    """The numbers of a survey boxplot (R's ``svyboxplot``), as data.

    Parameters
    ----------
    design : Design or ReplicateDesign
    y : str
        A numeric column; rows with a missing value are left out.
    by : str or list of str, optional
        Domain columns: one box per domain.
    all_outliers : bool, default False
        R's ``all.outliers``: every distinct value beyond the whiskers; by
        default only the smallest and largest values when they are beyond.

    Returns
    -------
    pandas.DataFrame
        One row per domain (index ``"all"`` without ``by``): ``min``,
        ``whisker_low``, ``q1``, ``median``, ``q3``, ``whisker_high``,
        ``max``, ``n`` (the domain's estimated population, R's ``n``) and
        ``outliers`` (a tuple of values).

    Notes
    -----
    The quartiles are the weighted quantiles
    :math:`\\hat Q(p) = \\min\\{x : \\hat F(x) \\ge p\\}` (R's
    ``qrule = "math"``) at :math:`p = 0, 1/4, 1/2, 3/4, 1`. With
    :math:`\\mathrm{IQR} = \\hat Q(3/4) - \\hat Q(1/4)` the whiskers are
    :math:`\\max(\\hat Q(0), \\hat Q(1/4) - 1.5\\,\\mathrm{IQR})` and
    :math:`\\min(\\hat Q(1), \\hat Q(3/4) + 1.5\\,\\mathrm{IQR})`: the fences
    themselves, not the most extreme data inside them (R's rule, not
    Tukey's). The outliers are the largest then the smallest value where it
    lies beyond its whisker, or with ``all_outliers`` every distinct value
    of the domain's rows below the lower or above the upper whisker, in
    increasing order. Deliberate difference from survey 4.1-4.5: survey's
    ``qrule_math`` gives the second-smallest value at :math:`p = 0`; here
    :math:`\\hat Q(0)` is the smallest, as the definition.

    References
    ----------
    .. [1] Lumley, T. (2010). *Complex Surveys*, sec. 4.3 (``svyboxplot``).

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({"psu": range(8), "w": [1.0, 2, 1, 4, 2, 2, 1, 1],
    ...                    "y": [1.0, 2, 3, 3, 4, 5, 6, 40]})
    >>> b = ib.boxplot_stats(ib.Design(df, weights="w", psu="psu"), "y")
    >>> cols = ["whisker_low", "q1", "median", "q3", "whisker_high", "outliers"]
    >>> b[cols]  # doctest: +NORMALIZE_WHITESPACE
            whisker_low   q1  median   q3  whisker_high outliers
    domain
    all             1.0  3.0     3.0  5.0           8.0  (40.0,)
    """
    doms, x, keep, has = _one_column(design, y, by, "boxplot_stats")
    w = design.weight_values
    xs, ds, cumw, total, sc = _sorted_shares(x[keep], doms.code[keep], w[keep], doms.n)
    starts, counts = sc[:, 0], sc[:, 1]
    probs = np.asarray(BOX_PROBS)
    # R's qs(): pos = the last row with cumw <= p W; the value there if p - cumw/W is 0,
    # else the next one; before the first row, the smallest value (the definition)
    le = cumw[:, None] <= probs[None, :] * total[ds][:, None]  # (m, 5)
    n_le = np.stack([bincount(ds, weights=le[:, j].astype(float), minlength=doms.n)
                     for j in range(probs.size)], axis=1).astype(np.int64)  # (D, 5)
    first = np.minimum(starts, max(xs.size - 1, 0))[:, None]
    last = np.maximum(starts + counts - 1, 0)[:, None]
    pos = np.clip(first + n_le - 1, first, last)
    with np.errstate(invalid="ignore", divide="ignore"):
        exact = probs[None, :] - cumw[pos] / total[:, None] == 0
    q = np.where(n_le <= 0, xs[first], np.where(exact, xs[pos], xs[np.minimum(pos + 1, last)]))
    iqr = q[:, 3] - q[:, 1]
    low = np.maximum(q[:, 0], q[:, 1] - 1.5 * iqr)
    high = np.minimum(q[:, 4], q[:, 3] + 1.5 * iqr)
    n_pop = doms.total(w)
    which = np.flatnonzero(has)
    if all_outliers:
        rows = (doms.code >= 0) & ~np.isnan(x)
        cd = doms.code[rows]
        xv = x[rows]
        beyond = (xv < low[cd]) | (xv > high[cd])
        xo, do = xv[beyond], cd[beyond]
        order = np.lexsort((xo, do))
        xo, do = xo[order], do[order]
        new = np.ones(xo.size, bool)
        new[1:] = (xo[1:] != xo[:-1]) | (do[1:] != do[:-1])
        xo, do = xo[new], do[new]
        cuts = np.searchsorted(do, np.arange(doms.n + 1))
        outliers = [tuple(float(v) for v in xo[cuts[k]:cuts[k + 1]]) for k in which]
    else:
        out_hi = q[:, 4] != high
        out_lo = q[:, 0] != low
        outliers = [tuple([float(q[k, 4])] * bool(out_hi[k]) + [float(q[k, 0])] * bool(out_lo[k]))
                    for k in which]
    index = doms.index()[which]
    return pd.DataFrame({"min": q[which, 0], "whisker_low": low[which], "q1": q[which, 1],
                         "median": q[which, 2], "q3": q[which, 3], "whisker_high": high[which],
                         "max": q[which, 4], "n": n_pop[which],
                         "outliers": pd.Series(outliers, index=index, dtype=object)},
                        index=index)
