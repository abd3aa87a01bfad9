"""Descriptive estimators: mean, total, ratio, proportion and quantile.

Each estimator computes its point estimate and its weighted influence values
(linearisation), and hands the influence values to the design's variance
engine (:func:`innobaro.variance.vcov`). Domains (``by=``) are estimated with
every row kept in the design: a row outside a domain contributes zero to that
domain's influence values, which is why domain standard errors account for the
random domain sample size (Lumley 2010, sec. 2.3).
"""

from __future__ import annotations

import functools
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ._linalg import bincount
from ._validate import as_column_list, check_binary, check_columns
from .design import Design, ReplicateDesign, SurveyDesign, check_design
from .errors import (
    DomainError,
    EstimationError,
    InnobaroWarning,
    MissingValueError,
    UnsupportedDesignError,
)
from .intervals import PROPORTION_METHODS, proportion_interval, t_quantile
from .results import Estimate
from .variance import Influence, ReplicateFn, Working, degrees_of_freedom, vcov_of
from .variance.linearization import LevelIndicators, LevelInfluence
from .variance.small_sample import adjust as small_sample_adjust
from .variance.small_sample import check_se

__all__ = ["mean", "proportion", "quantile", "ratio", "total", "with_replicates"]

Columns = str | Sequence[str]


# --------------------------------------------------------------------------
# preparation shared by every estimator
# --------------------------------------------------------------------------
@dataclass
class _Prepared:
    """Response matrix and domains, ready for estimation."""

    Y: np.ndarray  # (n, q) zero outside the domains
    labels: list[str]  # one per column of Y
    w: np.ndarray  # (n,) weights, zero outside the domains
    dom: np.ndarray  # (n,) domain code, -1 outside
    n_domains: int
    dom_df: np.ndarray  # (n,) domain code before rows with missing values were left out
    by: list[str]
    domain_values: list[np.ndarray]  # per by column, the value of each domain
    label: str | None = None  # the design's domain (subset) label
    # one categorical variable held as its level codes (Y is then (n, 0)):
    # the level of each row, in 0..K-1 inside the domains
    codes: np.ndarray | None = None

    @property
    def q(self) -> int:
        return len(self.labels)

    def domain_names(self) -> list[str]:
        if not self.by:
            return [self.label or "(all)"]
        return [", ".join(f"{b}={v}" for b, v in zip(self.by, vals, strict=True))
                for vals in zip(*self.domain_values, strict=True)]

    def index(self, labels: list[str] | None = None) -> pd.Index:
        labels = self.labels if labels is None else labels
        q = len(labels)
        if not self.by:
            return pd.Index(labels, name="variable")
        arrays = [np.repeat(v, q) for v in self.domain_values]
        arrays.append(np.tile(np.asarray(labels, dtype=object), self.n_domains))
        return pd.MultiIndex.from_arrays(arrays, names=[*self.by, "variable"])

    @property
    def all_in(self) -> bool:
        """Every row is in some domain (no masking needed)."""
        return bool(self._all_in)

    def __post_init__(self) -> None:
        self._all_in = bool((self.dom >= 0).all())
        self.n_obs: np.ndarray = np.empty(0)

    def domain_sum(self, values: np.ndarray) -> np.ndarray:
        """Sum of ``values`` (n,) or (n, k) within each domain -> (D,) or (D, k)."""
        if self.n_domains == 1 and self.all_in:
            return np.atleast_1d(values.sum(axis=0))[None, ...].reshape(
                (1, *values.shape[1:]))
        if self.all_in:
            d, v = self.dom, values
        else:
            keep = self.dom >= 0
            d, v = self.dom[keep], values[keep]
        if v.ndim == 1:
            return bincount(d, weights=v, minlength=self.n_domains)
        return np.stack([bincount(d, weights=v[:, j], minlength=self.n_domains)
                         for j in range(v.shape[1])], axis=1)  # over variables

    def count(self, positive_weight: bool = False) -> np.ndarray:
        keep = self.dom >= 0
        if positive_weight:
            keep &= self.w > 0
        return bincount(self.dom[keep], minlength=self.n_domains).astype(float)

    def spread_inverse(self, per_domain: np.ndarray) -> np.ndarray:
        """``1 / value`` of each row's domain, zero outside the domains."""
        with np.errstate(divide="ignore"):
            inv = 1.0 / per_domain
        return self.spread(inv)

    def spread(self, per_domain: np.ndarray) -> np.ndarray:
        """Value of each row's domain (zero outside): (D,...) -> (n,...)."""
        if self.n_domains == 1 and self.all_in:
            return per_domain[0]
        out = per_domain[np.maximum(self.dom, 0)]
        if not self.all_in:
            out[self.dom < 0] = 0
        return out


def _response(design: SurveyDesign, columns: list[str], what: str
              ) -> tuple[np.ndarray, list[str], list[str]]:
    """Float matrix of the variables; categorical ones expand to level indicators.

    Returns the matrix (NaN where missing), the label of each column, and the
    source column of each label.
    """
    data = design.data
    check_columns(data, columns, what)
    mats, labels, sources = [], [], []
    for name in columns:
        col = data[name]
        if pd.api.types.is_bool_dtype(col) or (
                pd.api.types.is_numeric_dtype(col)
                and not isinstance(col.dtype, pd.CategoricalDtype)):
            values = col.to_numpy(dtype=np.float64, na_value=np.nan)
            inf = np.isinf(values)
            if inf.any():
                inf &= design.present
            if inf.any():
                raise EstimationError(
                    f"{what}: column {name!r} has {int(inf.sum())} infinite value(s) (first "
                    f"at row {data.index[int(np.argmax(inf))]!r}); an estimate from them is "
                    f"infinite or undefined. Recode them, or set them missing and pass "
                    f"na_rm=True")
            mats.append(values[:, None])
            labels.append(name)
            sources.append(name)
            continue
        if isinstance(col.dtype, pd.CategoricalDtype):
            levels = list(col.cat.categories)
            codes = col.cat.codes.to_numpy()
        else:
            codes, uniq = pd.factorize(col, sort=True)
            levels = list(uniq)
        if not levels:
            raise EstimationError(f"column {name!r} has no non-missing values")
        ind = (codes[:, None] == np.arange(len(levels))[None, :]).astype(np.float64)
        ind[codes < 0] = np.nan
        mats.append(ind)
        labels.extend(f"{name}[{lev}]" for lev in levels)
        sources.extend([name] * len(levels))
    return np.hstack(mats), labels, sources


def _level_codes(design: SurveyDesign, name: str) -> tuple[np.ndarray, list[str]] | None:
    """Level codes (-1 where missing) and labels of a categorical column, or
    None for a numeric or boolean one (as :func:`_response` reads them)."""
    col = design.data[name]
    if isinstance(col.dtype, pd.CategoricalDtype):
        levels = list(col.cat.categories)
        codes = col.cat.codes.to_numpy()  # int8 or int16 for few levels: not widened
    elif pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
        return None
    else:
        codes, uniq = pd.factorize(col, sort=True)
        levels = list(uniq)
    if not levels:
        raise EstimationError(f"column {name!r} has no non-missing values")
    return codes, [f"{name}[{lev}]" for lev in levels]


def _prepare(design: SurveyDesign, columns: list[str], by: Columns | None, na_rm: bool,
             what: str, levels: bool = False,
             given: tuple[np.ndarray, list[str]] | None = None) -> _Prepared:
    """The response and domains. With ``levels``, one categorical variable on a
    linearisation design is held as its level codes (``prep.codes``), not as
    the dense matrix of its level indicators; ``given`` are such codes (-1
    where missing) and labels, of a variable named ``columns[0]`` that is not
    a column of the data."""
    check_design(design)
    if not columns:
        raise EstimationError(f"{what}: no variable given")
    level_codes = given
    if levels and len(columns) == 1 and not isinstance(design, ReplicateDesign):
        check_columns(design.data, columns, what)
        level_codes = _level_codes(design, columns[0])
    if level_codes is not None:
        codes_y, labels = level_codes
        sources = [columns[0]]
        Y = np.empty((design.n, 0))
        nan = (codes_y < 0)[:, None]
    else:
        Y, labels, sources = _response(design, columns, what)
        nan = np.isnan(Y)
    present = present_df = design.present
    has_missing = bool(nan.any())
    missing = nan & present[:, None] if has_missing else nan
    if has_missing and missing.any():
        rows = missing.any(axis=1)
        if not na_rm:
            per_col: dict[str, int] = {}
            for j in np.flatnonzero(missing.any(axis=0)):
                per_col.setdefault(sources[j], int(missing[:, j].sum()))
            listed = ", ".join(f"{c!r} ({k} missing)" for c, k in per_col.items())
            raise MissingValueError(f"{what}: {listed}; pass na_rm=True to estimate "
                                    f"from the rows with values (the rows stay in the "
                                    f"design with weight zero)")
        present = present & ~rows
    by_cols = as_column_list(by, "by")
    w_all = design.unmasked_weights
    # the design's domains are cached on it; after leaving out missing values
    # they are this call's own
    own_rows = present is design.present
    # the rows of positive weight in each domain, counted on the way (the
    # domains with none are left out)
    positive: list[np.ndarray] = []

    def domains() -> tuple[np.ndarray, np.ndarray, list[np.ndarray], int]:
        codes, codes_df, values, n_domains, counts = _domains(design, by_cols, present,
                                                              present_df, what)
        positive.append(counts)
        return codes, codes_df, values, n_domains

    if own_rows:
        codes, codes_df, values, n_domains = design.cache.domains(tuple(by_cols), domains)
    else:
        codes, codes_df, values, n_domains = domains()
    inside = codes >= 0
    if inside.all():
        w = w_all
    else:
        w = np.where(inside, w_all, 0.0)
        Y = np.where(inside[:, None], Y, 0.0)
    if has_missing and level_codes is None:
        Y[np.isnan(Y)] = 0.0
    prep = _Prepared(Y=Y, labels=labels, w=w, dom=codes, n_domains=n_domains, by=by_cols,
                     domain_values=values, dom_df=codes_df, label=design.domain_label,
                     codes=None if level_codes is None else
                     level_codes[0] if w is w_all else np.where(inside, level_codes[0], 0))
    if own_rows:
        prep.n_obs = design.cache.domain_counts(
            tuple(by_cols),
            lambda: positive[0] if positive else prep.count(positive_weight=True))
    else:
        prep.n_obs = positive[0]
    _warn_small_domains(prep, what)
    return prep


def _design_rows(design: SurveyDesign, prep: _Prepared) -> np.ndarray:
    """Rows of each domain's design as R counts them (``nrow(design)``).

    R's subset of a design drops the rows outside it, except for a calibrated
    design, which keeps every row it had when calibrated; rows with missing
    values are still in the design (``na.rm`` works inside the estimator).
    """
    if design.rows_at_calibration is not None:
        return np.full(prep.n_domains, float(design.rows_at_calibration))
    inside = prep.dom_df >= 0
    return bincount(prep.dom_df[inside], minlength=prep.n_domains).astype(float)


def _domains(design: SurveyDesign, by_cols: list[str], present: np.ndarray,
             present_df: np.ndarray, what: str
             ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], int, np.ndarray]:
    """Domain code of each row (-1 outside), before and after leaving out missing
    values, the by-values of each domain, the number of domains, and the rows
    of positive weight in each domain."""
    w_all = design.unmasked_weights
    if by_cols:
        check_columns(design.data, by_cols, "by")
        all_codes, values = design.level_codes(by_cols)
        nan_by = ((all_codes < 0) & present_df if all_codes.min(initial=0) < 0
                  else np.zeros(1, dtype=bool))
        if nan_by.any():
            bad = [c for c in by_cols if design.data[c].isna().to_numpy()[present_df].any()]
            raise MissingValueError(f"{what}: by column {', '.join(map(repr, bad))} has "
                                    f"{int(nan_by.sum())} missing value(s) in the domain; "
                                    f"leave them out with design.subset(...)")
        codes_df = all_codes if present_df.all() else np.where(present_df, all_codes, -1)
        codes = codes_df if present is present_df else np.where(present, all_codes, -1)
        # keep the domains with at least one row of positive weight (as R's svyby)
        n_levels = len(values[0])
        every = codes.min(initial=0) >= 0  # every row in a domain: no mask
        if every and w_all.min(initial=1.0) > 0:
            positive = bincount(codes, minlength=n_levels).astype(float)
        elif every:
            positive = bincount(codes, weights=(w_all > 0).astype(float), minlength=n_levels)
        else:
            inside = codes >= 0
            positive = bincount(codes[inside], weights=(w_all[inside] > 0).astype(float),
                                minlength=n_levels)
        has_weight = positive > 0
        if not has_weight.any():
            raise DomainError(f"{what}: every row of the domains has weight zero")
        if not has_weight.all() and present is not present_df:
            # domains whose every row misses the variable: R's svyby gives them
            # NaN (0 for a total); say so, as they are left out here
            inside_df = codes_df >= 0
            had_weight = bincount(codes_df[inside_df],
                                     weights=(w_all[inside_df] > 0).astype(float),
                                     minlength=n_levels) > 0
            emptied = np.flatnonzero(had_weight & ~has_weight)
            if emptied.size:
                names = [", ".join(f"{c}={v[k]}" for c, v in zip(by_cols, values, strict=True))
                         for k in emptied[:10]]
                warnings.warn(f"{what}: every row of domain(s) {'; '.join(names)} misses the "
                              f"variable; they are left out of the result",
                              InnobaroWarning, stacklevel=4)
        if not has_weight.all():
            remap = np.where(has_weight, np.cumsum(has_weight) - 1, -1)
            codes = np.where(codes >= 0, remap[np.maximum(codes, 0)], -1)
            codes_df = np.where(codes_df >= 0, remap[np.maximum(codes_df, 0)], -1)
            values = [v[has_weight] for v in values]
        n_domains = int(has_weight.sum())
        positive = positive[has_weight]
    else:
        codes = np.where(present, 0, -1).astype(np.int64)
        codes_df = codes if present_df is present else np.where(present_df, 0, -1)
        values = []
        n_domains = 1
        n_positive = int(np.count_nonzero(present & (w_all > 0)))
        if not n_positive:
            raise DomainError(f"{what}: the domain has no rows with positive weight")
        positive = np.array([float(n_positive)])
    return codes, codes_df, values, n_domains, positive


def _warn_small_domains(prep: _Prepared, what: str) -> None:
    n_obs = prep.n_obs
    small = n_obs < 2
    if small.any():
        names = [prep.domain_names()[i] for i in np.flatnonzero(small)]
        warnings.warn(f"{what}: domain {', '.join(names)} has a single row with positive "
                      f"weight; its standard error is not meaningful",
                      InnobaroWarning, stacklevel=4)


def _srs_variances(prep: _Prepared, z: np.ndarray, mean_type: bool
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Variance under simple random sampling, for design effects (R's ``deff``).

    For a statistic with influence values ``z_i = w_i u_i`` in a domain of
    ``n`` rows with nonzero weight and estimated size ``N``, the SRS variance
    is ``s^2_w(u) N^2 (N - n) / (N n)`` without replacement and
    ``s^2_w(u) N^2 / n`` with replacement, where ``s^2_w`` is the weighted
    variance with divisor ``n - 1`` (Kish 1965; R's ``svymean(deff=TRUE)``).
    """
    keep = (prep.dom >= 0) & (prep.w > 0)
    w = prep.w[keep]
    d = prep.dom[keep]
    u = z[keep] / w[:, None]
    size = bincount(d, weights=w, minlength=prep.n_domains)
    n = bincount(d, minlength=prep.n_domains).astype(float)
    q = z.shape[1]
    s2 = np.empty((prep.n_domains, q))
    for j in range(q):  # over variables
        ubar = bincount(d, weights=w * u[:, j], minlength=prep.n_domains) / size
        dev = u[:, j] - ubar[d]
        with np.errstate(divide="ignore", invalid="ignore"):
            s2[:, j] = (bincount(d, weights=w * dev * dev, minlength=prep.n_domains)
                        / size * n / (n - 1))
    return srs_from_variances(s2, size, n, mean_type)


def srs_from_variances(s2: np.ndarray, size: np.ndarray, n: np.ndarray, mean_type: bool
                       ) -> tuple[np.ndarray, np.ndarray]:
    r"""SRS variances without and with replacement from the weighted variances.

    ``s2`` (D, q) holds :math:`s^2_w(u)` per domain and entry, ``size`` the
    domains' estimated sizes :math:`\hat N` and ``n`` their rows with nonzero
    weight: :math:`s^2_w \hat N^2 (\hat N - n) / (\hat N n)` and
    :math:`s^2_w \hat N^2 / n` (Kish 1965; R's ``deff``). Where a mean's
    domain has more rows than its estimated size, the first is NaN, with a
    warning.

    Parameters
    ----------
    s2 : (D, q) array
    size, n : (D,) arrays
    mean_type : bool
        A mean or a share (a ratio to the domain's size).

    Returns
    -------
    tuple of numpy.ndarray
        ``(wor, wr)``, each flattened domain-major.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        wor = s2 * (size * size * (size - n) / (size * n))[:, None]
        wr = s2 * (size * size / n)[:, None]
    if mean_type and (size < n).any():
        warnings.warn("sample size greater than population size: are the weights "
                      "correctly scaled? (design effect not available)",
                      InnobaroWarning, stacklevel=5)
        wor[size < n] = np.nan
    return wor.ravel(), wr.ravel()


def _finish(design: SurveyDesign, prep: _Prepared, est: np.ndarray,
            z: np.ndarray | LevelIndicators, statistic: str, replicates: ReplicateFn, *,
            labels: list[str] | None = None,
            deff: bool = True, mean_type: bool = False, interval=None, level: float = 0.95,
            method: str | None = None, notes: tuple[str, ...] = (),
            df: np.ndarray | None = None, se: str = "linearized",
            working: Working | None = None, entry_df: np.ndarray | None = None) -> Estimate:
    if isinstance(z, LevelIndicators):
        # a bound of the influence values (|1[.] - p| <= 1 + |p|) decides whether
        # they need scaling; if so, they are scaled as a dense matrix
        bound = np.abs(z.scale).max(initial=0.0) * (
            1.0 + (0.0 if z.centre is None else np.abs(z.centre).max(initial=0.0)))
        if _variance_scale(est.reshape(-1, z.n_levels), np.full((1, z.n_levels), bound)) \
                is not None:
            z = z.dense(prep.dom)
    if isinstance(z, LevelIndicators):
        col_scale = None
    else:
        col_scale = _variance_scale(est.reshape(-1, z.shape[1]), z)
    scale = None
    if col_scale is not None:  # values near the float range: sums of squares of scaled values
        z = z / col_scale
        scale = np.tile(col_scale, est.size // z.shape[1])  # per entry, domain-major
        replicates = _Scaled(replicates, scale)
        if working is not None:  # the influence values are linear in the residuals
            working = Working(U=working.U, UW=working.UW, resid=working.resid / col_scale,
                              block=working.block, n_blocks=working.n_blocks)
    infl = (LevelInfluence(z, prep.dom, prep.n_domains, all_in=prep.all_in)
            if isinstance(z, LevelIndicators)
            else Influence(values=z, domain=prep.dom, n_domains=prep.n_domains))
    bm = se != "linearized" and working is not None
    V = vcov_of(design, est.ravel() if scale is None else est.ravel() / scale, infl,
                replicates, se=se if bm else "linearized", working=working)
    q = z.shape[1]
    if bm:  # Satterthwaite degrees of freedom of each entry (domain-major)
        assert working is not None
        if entry_df is None:
            entry_df = satterthwaite_df(design, working, se)
        notes = (*notes, f"se={se!r}: Bell-McCaffrey bias-reduced linearisation (CR2) "
                         f"with Satterthwaite degrees of freedom")
    elif df is None:  # each domain's, before leaving out missing values (R's degf)
        df = degrees_of_freedom(design, prep.dom_df, prep.n_domains,
                                key=("by", tuple(prep.by), prep.n_domains,
                                     tuple(len(v) for v in prep.domain_values)))
    srs = (lambda: _srs_variances(prep, infl.values, mean_type)) if deff else None
    if entry_df is None:
        assert df is not None
        entry_df = np.repeat(df, q)
    return Estimate(est.ravel(), V, prep.index(labels), df=entry_df,
                    kind=statistic, interval=interval, srs=srs, level=level,
                    method=method, notes=notes, scale=scale)


class _Scaled:
    """A replicate function divided by ``scale`` (per entry), from the (n, R)
    weights or, when it has ``from_factors``, from unit factors."""

    def __init__(self, replicates: ReplicateFn, scale: np.ndarray) -> None:
        self.replicates = replicates
        self.scale = scale
        if hasattr(replicates, "from_factors"):
            self.from_factors = self._from_factors

    def __call__(self, W: np.ndarray) -> np.ndarray:
        return self.replicates(W) / self.scale

    def _from_factors(self, factors: Any) -> np.ndarray:
        return self.replicates.from_factors(factors) / self.scale  # type: ignore[attr-defined, no-any-return]


def _variance_scale(est: np.ndarray, z: np.ndarray) -> np.ndarray | None:
    """Powers of two, one per variable (column of ``z``; ``est`` is (D, q)),
    to divide the statistics by before their variance is summed, where the
    influence values or estimates are so large (or small) that their squares
    would overflow (or underflow); None otherwise. Dividing by a power of two
    is exact, so the result is the same as unscaled."""
    big = np.maximum(_abs_max(z), _abs_max(est))
    if not ((big > 1e100) | ((big < 1e-100) & (big > 0))).any():
        return None
    return np.where(big > 0, np.exp2(np.round(np.log2(np.where(big > 0, big, 1.0)))), 1.0)


def _abs_max(a: np.ndarray) -> np.ndarray:
    """Largest absolute value of each column (zero for none; NaN left out),
    from the column maxima and minima: no copy of ``a``."""
    big = np.maximum(a.max(axis=0, initial=0.0), -a.min(axis=0, initial=0.0))
    if np.isnan(big).any():
        with np.errstate(invalid="ignore"):
            big = np.nanmax(np.abs(a), axis=0, initial=0.0)
    return big


def _rep_totals(prep: _Prepared, A: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Domain totals of the columns of ``A`` under every replicate: (R, D, k).

    One matrix product with the (n, R) replicate weights, never a loop over
    replicates: dense when there is a single domain, sparse otherwise.
    """
    k = A.shape[1]
    D = prep.n_domains
    if D == 1 and prep.all_in:
        return (W.T @ A)[:, None, :]
    # the (D k, n) domain-indicator matrix in compressed-column form, built
    # directly (one row's k values per column): the product streams through W
    n = A.shape[0]
    keep = prep.dom >= 0
    d = prep.dom if prep.all_in else np.where(keep, prep.dom, 0)
    indices = (d[:, None] * k + np.arange(k)).ravel()
    data = (A if prep.all_in else np.where(keep[:, None], A, 0.0)).ravel()
    indptr = np.arange(0, n * k + 1, k)
    S = sp.csc_matrix((data, indices, indptr), shape=(D * k, n))
    T = np.asarray(S @ W)  # (D k, R)
    return T.T.reshape(W.shape[1], D, k)


def _rep_sizes(design: SurveyDesign, prep: _Prepared, W: np.ndarray) -> np.ndarray:
    """Estimated domain sizes under every replicate, (R, D, 1); cached per design
    for the domains it caches (they do not depend on the variable)."""
    return design.cache.replicate_sizes(
        tuple(prep.by), prep.dom, W, lambda: _rep_totals(prep, np.ones((prep.Y.shape[0], 1)), W))


def _mean_replicates(design: SurveyDesign, prep: _Prepared) -> ReplicateFn:
    return _MeanReplicates(design, prep)


class _MeanReplicates:
    """Replicate domain means: from the (n, R) weights (``__call__``), or from
    unit factors (``from_factors``, used by ``vcov_of`` when the design holds
    its replicates so): per-(unit, domain) sums of w y and w by bincount, then
    one small product (:meth:`~innobaro.design.ReplicateFactors.domain_totals`)."""

    def __init__(self, design: SurveyDesign, prep: _Prepared) -> None:
        self.design = design
        self.prep = prep

    def __call__(self, W: np.ndarray) -> np.ndarray:
        prep = self.prep
        T = _rep_totals(prep, prep.Y, W)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (T / _rep_sizes(self.design, prep, W)).reshape(W.shape[1], -1)

    def from_factors(self, factors: Any) -> np.ndarray:
        """(R, D q) replicate means from a :class:`~innobaro.design.ReplicateFactors`."""
        prep = self.prep
        values = np.empty((prep.Y.shape[0], prep.q + 1))
        values[:, :-1] = prep.Y
        values[:, -1] = 1.0
        T = factors.domain_totals(values, prep.dom, prep.n_domains)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (T[:, :, :-1] / T[:, :, -1:]).reshape(T.shape[0], -1)


class _TotalReplicates:
    """Replicate statistics ``finish(T)`` of the domain totals ``T`` (R, D, k)
    of ``prep.Y``'s columns: from the (n, R) weights (``__call__``), or from
    unit factors (``from_factors``, used by ``vcov_of`` when the design holds
    its replicates so): per-(unit, domain) sums, then one small product
    (:meth:`~innobaro.design.ReplicateFactors.domain_totals`), no (n, R)
    matrix."""

    def __init__(self, prep: _Prepared, finish: Callable[[np.ndarray], np.ndarray]) -> None:
        self.prep = prep
        self.finish = finish

    def __call__(self, W: np.ndarray) -> np.ndarray:
        return self.finish(_rep_totals(self.prep, self.prep.Y, W))

    def from_factors(self, factors: Any) -> np.ndarray:
        """(R, m) replicate statistics from a :class:`~innobaro.design.ReplicateFactors`."""
        prep = self.prep
        return self.finish(factors.domain_totals(prep.Y, prep.dom, prep.n_domains))


def _flat(T: np.ndarray) -> np.ndarray:
    """Replicate totals (R, D, k) as (R, D k): the totals themselves."""
    return T.reshape(T.shape[0], -1)


def _ratios(T: np.ndarray, num_i: np.ndarray, den_j: np.ndarray) -> np.ndarray:
    """Replicate ratios of the totals' columns ``num_i`` to ``den_j``: (R, D m)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return (T[:, :, num_i] / T[:, :, den_j]).reshape(T.shape[0], -1)


class _LogitReplicates:
    """Logits of replicate means (``proportion``'s logit interval), from
    the (n, R) weights or from unit factors as the means themselves
    (:class:`_MeanReplicates`); ``extreme`` collects, per call, how many
    replicate means are 0 or 1 in each entry (their logits are infinite)."""

    def __init__(self, means: _MeanReplicates) -> None:
        self.means = means
        self.extreme: list[np.ndarray] = []

    def _logit(self, r: np.ndarray) -> np.ndarray:
        self.extreme.append(((r <= 0) | (r >= 1)).sum(axis=0))
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(r / (1 - r))

    def __call__(self, W: np.ndarray) -> np.ndarray:
        return self._logit(self.means(W))

    def from_factors(self, factors: Any) -> np.ndarray:
        """(R, D q) replicate logits from a :class:`~innobaro.design.ReplicateFactors`."""
        return self._logit(self.means.from_factors(factors))


def _domain_means(prep: _Prepared, scratch: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    # the weights and the weighted values are summed the same way, so that the
    # mean of a constant is exactly that constant whatever the row order
    if prep.n_domains == 1 and prep.all_in:
        rows = np.empty((prep.q + 1, prep.w.size))
        np.multiply(prep.w[None, :], prep.Y.T, out=rows[:-1])
        rows[-1] = prep.w
        both = rows.sum(axis=1)[None, :]  # pairwise summation of each contiguous row
    else:  # bincount adds in row order, for the weights and the values alike
        both = np.empty((prep.n_domains, prep.q + 1))
        both[:, -1] = prep.domain_sum(prep.w)
        for j in range(prep.q):  # over variables
            # the products in the caller's scratch column (n,), if given: one
            # array fewer to allocate (and fault in) per variable
            wy = np.multiply(prep.w, prep.Y[:, j],
                             out=None if scratch is None else scratch[:, j])
            both[:, j] = prep.domain_sum(wy)
    size = both[:, -1]
    return both[:, :-1] / size[:, None], size


def check_se_design(design: SurveyDesign, se: str, what: str) -> str:
    """Validate ``se=``; the Bell-McCaffrey variants need a linearisation design.

    Every estimator, test and model with ``se=`` checks it here, so that a
    replicate design gets the same error from each.

    Parameters
    ----------
    design : Design or ReplicateDesign
    se : str
        ``"linearized"``, ``"bell-mccaffrey"`` or ``"bell-mccaffrey-2"``.
    what : str
        The function's name, for the error.

    Returns
    -------
    str
        The lower-case name (:func:`innobaro.variance.small_sample.check_se`).

    Raises
    ------
    UnsupportedDesignError
        A Bell-McCaffrey ``se=`` on a replicate design (as ``ib.glm``, ``ib.ologit``
        and ``ib.mlogit`` raise).
    """
    se = check_se(se)
    if se != "linearized" and isinstance(design, ReplicateDesign):
        raise UnsupportedDesignError(
            f"{what}: se={se!r} (Bell-McCaffrey) needs a linearisation design; a "
            f"replicate design's variance has no such correction (R's svyglm for "
            f"replicate designs has no std.errors=). Use se='linearized'")
    return se


def satterthwaite_df(design: SurveyDesign, working: Working, se: str) -> np.ndarray:
    """Satterthwaite degrees of freedom of every coefficient of ``working``, flat.

    Those of :func:`innobaro.variance.small_sample.adjust`; where a
    regression's residuals are all zero (a proportion or distribution
    function of 0 or 1, a correlation's diagonal), the exchangeable working
    model of ``"bell-mccaffrey-2"`` has no variance to estimate its
    correlation from and gives 0/0: those take the independence model's
    degrees of freedom, which depend on the design and regressors only.

    Parameters
    ----------
    design : Design
    working : Working
    se : {"bell-mccaffrey", "bell-mccaffrey-2"}

    Returns
    -------
    numpy.ndarray
        :math:`\\nu_j = (\\operatorname{tr} B)^2 / \\operatorname{tr}(B^2)` of
        Bell and McCaffrey (2002), one per coefficient (block-major).
    """
    df = small_sample_adjust(design, working, se).df.ravel()  # type: ignore[arg-type]
    if se == "bell-mccaffrey-2" and np.isnan(df).any():
        df = np.where(np.isnan(df), small_sample_adjust(
            design, working, "bell-mccaffrey").df.ravel(), df)  # type: ignore[arg-type]
    return np.asarray(df)


def _working(prep: _Prepared, regressor: np.ndarray, weighted: np.ndarray,
             resid: np.ndarray) -> Working:
    """The working regressions of a domain estimator: each column of ``resid``
    (n, q) on its own single regressor, one regression per domain; rows with
    weight zero are left out (they have no influence)."""
    n, q = resid.shape
    block = np.where(prep.w > 0, prep.dom, -1)
    return Working(U=np.broadcast_to(regressor, (n, q)).reshape(n, q, 1),
                   UW=np.broadcast_to(weighted, (n, q)).reshape(n, q, 1),
                   resid=np.where((block >= 0)[:, None], resid, 0.0),
                   block=block, n_blocks=prep.n_domains)


def _mean_working(prep: _Prepared, est: np.ndarray) -> Working:
    """A domain mean is the weighted regression on the domain's indicator."""
    inside = (prep.dom >= 0).astype(float)
    return _working(prep, inside[:, None], (prep.w * inside)[:, None],
                    prep.Y - prep.spread(est))


def _level_influence(prep: _Prepared, centred: bool) -> tuple[np.ndarray, LevelIndicators]:
    """Counts (``centred=False``: a total) or shares (a mean) of the levels of
    one categorical variable held as codes, by domain ((D, K)), and their
    influence values: ``w_i 1[y_i = k]`` for the counts, ``w_i (1[y_i = k] -
    p_dk) / N_d`` for the shares, from one bincount over (domain, level)."""
    assert prep.codes is not None
    K, D = prep.q, prep.n_domains
    if prep.all_in:
        dom, code, w = prep.dom, prep.codes, prep.w
    else:
        keep = prep.dom >= 0
        dom, code, w = prep.dom[keep], prep.codes[keep], prep.w[keep]
    key = code if D == 1 else dom * K + code
    counts = bincount(key, weights=w, minlength=D * K).reshape(D, K)
    if not centred:
        return counts, LevelIndicators(prep.codes, prep.w, None, K)
    size = prep.domain_sum(prep.w)
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = counts / size[:, None]
        inv = np.where(size > 0, 1.0 / size, 0.0)
    return shares, LevelIndicators(prep.codes, prep.w * prep.spread(inv), shares, K)


def level_shares(design: SurveyDesign, codes: np.ndarray, labels: list[str], *,
                 na_rm: bool, what: str) -> Estimate:
    """:func:`mean` of a categorical variable given as level codes (-1 where
    missing) rather than a column, on a linearisation design: the shares of
    the levels, without a copy of the design with the column added (the
    design's cached domains and degrees of freedom are used). Internal: the
    tests of :mod:`innobaro.independence` call it with the cells of a table."""
    if isinstance(design, ReplicateDesign):
        raise TypeError("level_shares: a linearisation design only")
    prep = _prepare(design, [what], None, na_rm, what, given=(codes, labels))
    shares, indicators = _level_influence(prep, centred=True)
    return _finish(design, prep, shares, indicators, "mean", _no_replicates, mean_type=True)


def _no_replicates(W: np.ndarray) -> np.ndarray:
    """The replicate function of an estimate held as level codes, which only
    linearisation designs use."""
    raise AssertionError("level codes are used on linearisation designs only")


def _mean_influence(prep: _Prepared) -> tuple[np.ndarray, np.ndarray]:
    one = prep.n_domains == 1 and prep.all_in
    z = None if one else np.empty_like(prep.Y)
    est, size = _domain_means(prep, z)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(size > 0, 1.0 / size, 0.0)
    if z is None:
        return est, (prep.w * inv[0])[:, None] * (prep.Y - est[0])
    # each row's domain values, by 1-d gathers (fast): 1/N_d and ybar_d, into z
    # (which held the products w y)
    d = prep.dom if prep.all_in else np.maximum(prep.dom, 0)
    a = np.take(inv, d)
    a *= prep.w
    for j in range(prep.q):  # over variables
        np.take(est[:, j], d, out=z[:, j], mode="clip")  # d is in range: unbuffered
        np.subtract(prep.Y[:, j], z[:, j], out=z[:, j])
        np.multiply(z[:, j], a, out=z[:, j])
    if not prep.all_in:
        z[prep.dom < 0] = 0.0
    return est, z


# --------------------------------------------------------------------------
# public estimators
# --------------------------------------------------------------------------

def _on_engine(design: Any, se: str, what: str) -> bool:
    """Whether ``design`` is an :class:`innobaro.engines.EngineDesign` (whose
    methods estimate where the rows are).

    One can only exist once :mod:`innobaro.engines.core` has been imported, so
    the test looks it up among the loaded modules: importing the estimators
    never imports an engine, and there is no registry to keep.
    """
    core = sys.modules.get("innobaro.engines.core")
    if core is None or not isinstance(design, core.EngineDesign):
        return False
    if se != "linearized":
        raise UnsupportedDesignError(f"{what}: se={se!r} needs the rows in memory; a "
                                     f"{design.engine} design gives se='linearized'")
    return True


def mean(design: SurveyDesign, y: Columns, *, by: Columns | None = None,
         na_rm: bool = False, se: str = "linearized") -> Estimate:
    """Population mean of one or several variables, overall or by domain.

    Parameters
    ----------
    design : Design or EngineDesign
    y : str or list of str
        Numeric columns, or categorical (string, categorical dtype) columns,
        which give the share of each level.
    by : str or list of str, optional
        Domain columns; one estimate per combination of levels that occurs
        among rows with positive weight.
    na_rm : bool, default False
        Leave out rows with a missing value in any ``y``; they stay in the
        design with weight zero. Without it, missing values are an error.
    se : {"linearized", "bell-mccaffrey", "bell-mccaffrey-2"}, default "linearized"
        Standard errors and degrees of freedom, R's ``svyglm(std.errors=)``
        values: R's linearisation, or Bell-McCaffrey bias-reduced
        linearisation (CR2) of the mean as the weighted regression on its domain's indicator, with
        Satterthwaite degrees of freedom
        under independence (``"bell-mccaffrey"``) or an exchangeable
        correlation within PSUs (``"bell-mccaffrey-2"``). Linearisation
        designs only. See :mod:`innobaro.variance.small_sample` and the
        guide's coverage study.

    Returns
    -------
    Estimate

    Notes
    -----
    The Hajek estimator :math:`\\hat{\\bar Y}_d = \\sum_i w_i d_i y_i / \\sum_i
    w_i d_i` (:math:`d_i` the domain indicator) has influence values

    .. math:: z_i = w_i d_i (y_i - \\hat{\\bar Y}_d) / \\hat N_d,

    whose design variance is its variance (Binder 1983; Lumley 2010, sec. 2.2).

    References
    ----------
    .. [1] Binder, D. A. (1983). On the variances of asymptotically normal
       estimators from complex surveys. *International Statistical Review*
       51, 279-292.
    .. [2] Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({"psu": [1, 2, 3, 4, 5, 6], "w": [2.0, 2, 3, 3, 4, 4],
    ...                    "y": [1.0, 2, 3, 4, 5, 6]})
    >>> est = ib.mean(ib.Design(df, weights="w", psu="psu"), "y")
    >>> est.estimate.round(4).tolist(), est.se.round(4).tolist()
    ([3.9444], [0.7285])
    """
    if _on_engine(design, se, "mean"):  # rows in DuckDB or Dask: one pass of sums
        return design.mean(y, by=by, na_rm=na_rm)  # type: ignore[attr-defined,no-any-return]
    se = check_se_design(design, se, "mean")
    prep = _prepare(design, as_column_list(y, "y"), by, na_rm, "mean",
                    levels=se == "linearized")
    if prep.codes is not None:  # the shares of one categorical variable
        shares, indicators = _level_influence(prep, centred=True)
        return _finish(design, prep, shares, indicators, "mean", _no_replicates,
                       mean_type=True)
    est, z = _mean_influence(prep)
    return _finish(design, prep, est, z, "mean", _mean_replicates(design, prep), mean_type=True,
                   se=se, working=None if se == "linearized" else _mean_working(prep, est))


def total(design: SurveyDesign, y: Columns, *, by: Columns | None = None,
          na_rm: bool = False, se: str = "linearized") -> Estimate:
    """Population total of one or several variables, overall or by domain.

    Parameters
    ----------
    design : Design or EngineDesign
    y : str or list of str
        Numeric columns, or categorical columns (the estimated count of each level).
    by : str or list of str, optional
        Domain columns.
    na_rm : bool, default False
        Leave out rows with a missing value (they keep weight zero in the design).
    se : {"linearized", "bell-mccaffrey", "bell-mccaffrey-2"}, default "linearized"
        Accepted for one spelling across estimators: a total estimates no
        parameter from the residuals, so the Bell-McCaffrey adjustment is the
        identity and the result is the linearised one (see Notes).

    Returns
    -------
    Estimate

    Notes
    -----
    The Horvitz-Thompson estimator :math:`\\hat Y_d = \\sum_i w_i d_i y_i` is
    linear; its influence values are :math:`z_i = w_i d_i y_i`
    (Horvitz and Thompson 1952; Wolter 2007, ch. 1). Its linearisation
    variance :math:`\\frac{n}{n-1}\\sum_g (Z_g - \\bar Z)^2` is the CR2
    variance of the PSU totals' mean (each PSU has leverage :math:`1/n`, so
    :math:`A_g = (1 - 1/n)^{-1/2}` gives the factor :math:`n/(n-1)`), with
    Satterthwaite degrees of freedom :math:`n - 1`: ``se="bell-mccaffrey"``
    changes nothing.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({"psu": [1, 2, 3, 4], "w": [10.0, 10, 20, 20], "y": [1.0, 0, 1, 1]})
    >>> ib.total(ib.Design(df, weights="w", psu="psu"), "y").estimate.tolist()
    [50.0]
    """
    if _on_engine(design, se, "total"):  # rows in DuckDB or Dask: one pass of sums
        return design.total(y, by=by, na_rm=na_rm)  # type: ignore[attr-defined,no-any-return]
    check_se_design(design, se, "total")
    prep = _prepare(design, as_column_list(y, "y"), by, na_rm, "total", levels=True)
    if prep.codes is not None:  # the counts of one categorical variable
        counts, indicators = _level_influence(prep, centred=False)
        return _finish(design, prep, counts, indicators, "total", _no_replicates)
    z = prep.w[:, None] * prep.Y
    est = prep.domain_sum(z)

    return _finish(design, prep, est, z, "total", _TotalReplicates(prep, _flat))


def ratio(design: SurveyDesign, numerator: Columns, denominator: Columns, *,
          by: Columns | None = None, na_rm: bool = False,
          se: str = "linearized") -> Estimate:
    """Ratio of two population totals, overall or by domain.

    Parameters
    ----------
    design : Design or EngineDesign
    numerator, denominator : str or list of str
        Numeric columns. With several of each, every numerator is divided by
        every denominator (labels ``"num/den"``).
    by : str or list of str, optional
    na_rm : bool, default False
        Leave out rows with a missing numerator or denominator.
    se : {"linearized", "bell-mccaffrey", "bell-mccaffrey-2"}, default "linearized"
        Standard errors and degrees of freedom, R's ``svyglm(std.errors=)``
        values: R's linearisation, or Bell-McCaffrey bias-reduced
        linearisation (CR2) of the ratio as the regression of the numerator on the denominator with
        weights :math:`w_i / x_i` and working variance :math:`x_i` (the ratio model; 1 when a
        denominator is not positive), with Satterthwaite degrees of freedom under that model
        (``"bell-mccaffrey"``) or with an exchangeable correlation within PSUs
        (``"bell-mccaffrey-2"``). Linearisation
        designs only. See :mod:`innobaro.variance.small_sample` and the
        guide's coverage study.

    Returns
    -------
    Estimate

    Notes
    -----
    :math:`\\hat R = \\hat Y / \\hat X` has influence values
    :math:`z_i = w_i (y_i - \\hat R x_i) / \\hat X` (Wolter 2007, sec. 6.5;
    R's ``svyratio``).

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({"psu": [1, 2, 3, 4], "w": [1.0, 1, 2, 2],
    ...                    "y": [1.0, 2, 3, 4], "x": [2.0, 2, 4, 4]})
    >>> ib.ratio(ib.Design(df, weights="w", psu="psu"), "y", "x").estimate.round(4).tolist()
    [0.85]
    """
    if _on_engine(design, se, "ratio"):  # rows in DuckDB or Dask: one pass of sums
        return design.ratio(numerator, denominator, by=by, na_rm=na_rm)  # type: ignore[attr-defined,no-any-return]
    nums = as_column_list(numerator, "numerator")
    dens = as_column_list(denominator, "denominator")
    for c in nums + dens:
        check_columns(design.data, [c], "ratio")
        if not pd.api.types.is_numeric_dtype(design.data[c]) or isinstance(
                design.data[c].dtype, pd.CategoricalDtype):
            raise EstimationError(f"ratio: column {c!r} must be numeric")
    se = check_se_design(design, se, "ratio")
    prep = _prepare(design, nums + dens, by, na_rm, "ratio")
    nn = len(nums)
    sums = prep.domain_sum(prep.w[:, None] * prep.Y)  # (D, nn + nd)
    num_i = np.tile(np.arange(nn), len(dens))
    den_j = np.repeat(np.arange(len(dens)), nn) + nn
    X = sums[:, den_j]
    if (X == 0).any():
        d, j = np.argwhere(X == 0)[0]
        raise EstimationError(f"ratio: the estimated total of {prep.labels[den_j[j]]!r} "
                              f"is zero in domain {prep.domain_names()[d]}")
    est = sums[:, num_i] / X
    z = (prep.w[:, None] * (prep.Y[:, num_i] - prep.spread(est) * prep.Y[:, den_j])
         * prep.spread_inverse(X))
    labels = [f"{prep.labels[i]}/{prep.labels[j]}" for i, j in zip(num_i, den_j, strict=True)]

    reps = _TotalReplicates(prep, functools.partial(_ratios, num_i=num_i, den_j=den_j))
    working = None
    if se != "linearized":
        # y on x with weights w / x (U = x, W U = w) under the ratio model's working
        # variance x (when every denominator is positive): rescaled by sqrt(x),
        # U = sqrt(x), W U = w sqrt(x), e = (y - R x) / sqrt(x)
        inside = (prep.dom >= 0) & (prep.w > 0)
        x = prep.Y[:, den_j]
        positive = np.all((x > 0) | ~inside[:, None], axis=0)
        root = np.sqrt(np.where(positive & inside[:, None], x, 1.0))
        working = _working(prep, np.where(inside[:, None], x / root, 0.0),
                           np.where(inside[:, None], prep.w[:, None] * root, 0.0),
                           (prep.Y[:, num_i] - prep.spread(est) * x) / root)
    return _finish(design, prep, est, z, "ratio", reps, labels=labels, se=se,
                   working=working)


def proportion(design: SurveyDesign, y: Columns, *, by: Columns | None = None,
               method: str = "logit", level: float = 0.95, na_rm: bool = False,
               se: str = "linearized") -> Estimate:
    """Proportion with a confidence interval suited to proportions.

    Parameters
    ----------
    design : Design or EngineDesign
    y : str or list of str
        Binary columns (0/1 or boolean), or categorical columns (the share of
        each level, each with its interval).
    by : str or list of str, optional
    method : str, default "logit"
        Interval method, as R's ``svyciprop``: ``"logit"``, ``"likelihood"``,
        ``"asin"``, ``"beta"`` (Korn-Graubard), ``"mean"``, ``"xlogit"``, or
        ``"wilson"`` (the Wilson interval on the effective sample size).
        See :func:`innobaro.intervals.proportion_interval` for the formulas.
    level : float, default 0.95
        Level of the interval in ``to_frame()``; ``ci(level)`` gives others.
        The confidence level, not the event level: the share of the level
        ``"Ja"`` of a categorical ``y`` is its row ``"y[Ja]"``.
    na_rm : bool, default False
    se : {"linearized", "bell-mccaffrey", "bell-mccaffrey-2"}, default "linearized"
        Standard errors and degrees of freedom, R's ``svyglm(std.errors=)``
        values: R's linearisation, or Bell-McCaffrey bias-reduced
        linearisation (CR2) of the mean (and of the logit for ``method="logit"``); every interval
        method takes the corrected variance and degrees of freedom, with Satterthwaite degrees of
        freedom
        under independence (``"bell-mccaffrey"``) or an exchangeable
        correlation within PSUs (``"bell-mccaffrey-2"``). Linearisation
        designs only. See :mod:`innobaro.variance.small_sample` and the
        guide's coverage study.

    Returns
    -------
    Estimate
        The estimate and standard error are those of the mean; ``ci`` is
        the method's interval on the domain's design degrees of freedom
        (the Satterthwaite ones with the Bell-McCaffrey variants).

    Notes
    -----
    A proportion of exactly 0 or 1 has zero design variance. ``"beta"`` and
    ``"wilson"`` then use the rows with nonzero weight as effective sample
    size (Korn and Graubard 1998) and give a one-sided interval; the other
    methods collapse to the point and a warning says so.

    References
    ----------
    .. [1] Korn, E. L. and Graubard, B. I. (1998). Confidence intervals for
       proportions with small expected number of positive counts estimated
       from survey data. *Survey Methodology* 24, 193-201.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({"psu": range(8), "w": [1.0, 1, 2, 2, 1, 1, 2, 2],
    ...                    "innovated": [1, 0, 1, 1, 0, 1, 1, 0]})
    >>> est = ib.proportion(ib.Design(df, weights="w", psu="psu"), "innovated", method="beta")
    >>> est.estimate.round(4).tolist()
    [0.6667]
    """
    if _on_engine(design, se, "proportion"):  # rows in DuckDB or Dask: one pass of sums
        return design.proportion(y, by=by, method=method, level=level, na_rm=na_rm)  # type: ignore[attr-defined,no-any-return]
    if method not in PROPORTION_METHODS:
        raise EstimationError(f"method must be one of {', '.join(PROPORTION_METHODS)}; "
                              f"got {method!r}")
    cols = as_column_list(y, "y")
    _check_proportion_level(level, cols)
    se = check_se_design(design, se, "proportion")
    prep = _prepare(design, cols, by, na_rm, "proportion")
    for j, lab in enumerate(prep.labels):
        if lab in cols:
            check_binary(np.where(prep.dom >= 0, prep.Y[:, j], 0.0), lab)
    est, z = _mean_influence(prep)
    q = prep.q
    n_rows = np.repeat(_design_rows(design, prep), q)
    n_obs = np.repeat(prep.count(positive_weight=True), q)
    p = est.ravel()
    working = None if se == "linearized" else _mean_working(prep, est)
    result = _finish(design, prep, est, z, "proportion", _mean_replicates(design, prep),
                     mean_type=True, level=level, method=method, se=se, working=working)
    var = np.diag(result.vcov.to_numpy()).copy()
    index = result.estimate.index
    logit_var = None
    if method == "logit":
        # R's svyciprop fits the intercept-only logistic model: its variance is
        # the delta method's under linearisation, and the replicate variance of
        # the replicates' logits under replicate weights
        mean_reps = _MeanReplicates(design, prep)
        with np.errstate(divide="ignore", invalid="ignore"):
            pq = (p * (1 - p))
            zl = z / prep.spread(pq.reshape(est.shape))

            logit_reps = _LogitReplicates(mean_reps)
            extreme = logit_reps.extreme
            lp = np.log(p / (1 - p))
        infl = Influence(values=np.nan_to_num(zl), domain=prep.dom, n_domains=prep.n_domains)
        logit_working = None
        if working is not None:  # the logit's influence is the mean's over p(1 - p)
            with np.errstate(divide="ignore", invalid="ignore"):
                inv_pq = 1.0 / pq.reshape(est.shape)
                inv_pq = prep.spread(np.where(np.isfinite(inv_pq), inv_pq, 0.0))
            logit_working = Working(U=working.U, UW=working.UW,
                                    resid=working.resid * inv_pq, block=working.block,
                                    n_blocks=working.n_blocks)
        logit_var = np.diag(vcov_of(design, lp, infl, logit_reps, se=se,
                                    working=logit_working)).copy()
        if extreme and extreme[0].any():
            hit = np.flatnonzero(extreme[0])
            counts = "; ".join(f"{index[i]}: {int(extreme[0][i])} replicate(s)"
                               for i in hit[:5])
            warnings.warn(f"proportion: the replicate proportion is 0 or 1 ({counts}), so its "
                          f"logit is infinite and is left out of the logit variance (R keeps "
                          f"an unconverged fit instead); the logit interval may understate "
                          f"the uncertainty, and method='beta' does not depend on it",
                          InnobaroWarning, stacklevel=2)

    # a partial of a module-level function, so that the result pickles
    result = result.with_interval(functools.partial(
        proportion_interval, method, p, var, n_rows=n_rows, n_obs=n_obs, logit_var=logit_var))
    degenerate = ((p <= 0) | (p >= 1)) & (var <= 0)
    if degenerate.any() and method not in ("beta", "wilson"):
        names = [str(index[i]) for i in np.flatnonzero(degenerate)[:5]]
        warnings.warn(f"proportion of 0 or 1 in {', '.join(names)}: the {method} interval "
                      f"collapses to the point; method='beta' or 'wilson' gives a "
                      f"one-sided interval", InnobaroWarning, stacklevel=2)
    return result


def _check_proportion_level(level: Any, cols: list[str]) -> None:
    """``level`` is the confidence level; a string there is an event level
    (``level="Ja"``, the habit of other packages), which ``proportion`` reads
    from the rows of a categorical ``y`` instead."""
    if isinstance(level, str):
        col = cols[0]
        raise EstimationError(
            f"level is the confidence level of the interval (a number such as 0.95), "
            f"not the event level {level!r}. For a categorical y, proportion gives the "
            f"share of every level, each with its own interval: take the rows labelled "
            f"'{col}[{level}]' of proportion(d, {col!r}) (without by: "
            f".to_frame().loc['{col}[{level}]'])")
    if isinstance(level, bool) or not isinstance(level, (int, float, np.integer,
                                                           np.floating)) \
            or not 0 < level < 1:
        raise EstimationError(f"level must be a confidence level between 0 and 1, such as "
                              f"0.95; got {level!r}")


QRULES = ("math", "school", "shahvaish", "hf1", "hf2", "hf3", "hf4", "hf5", "hf6", "hf7",
          "hf8", "hf9")
_QRULE_ALIAS = {"math": "hf1", "school": "hf2"}
QUANTILE_INTERVALS = ("mean", "beta", "xlogit", "asin", "score", "quantile")


def quantile(design: SurveyDesign, y: Columns, q: float | Sequence[float], *,
             by: Columns | None = None, level: float = 0.95, na_rm: bool = False,
             qrule: str = "math", interval_type: str = "mean",
             se: str = "linearized") -> Estimate:
    """Population quantiles with Woodruff (or replicate) confidence intervals.

    Parameters
    ----------
    design : Design
    y : str or list of str
        Numeric columns.
    q : float or list of float
        Probabilities in [0, 1].
    by : str or list of str, optional
    level : float, default 0.95
        Level of the interval from which the standard error is read
        (R's ``alpha = 1 - level``), and of the interval in ``to_frame()``.
    na_rm : bool, default False
    qrule : str, default "math"
        R's ``qrule``: ``"math"`` (= ``"hf1"``), ``"school"`` (= ``"hf2"``),
        ``"hf3"`` to ``"hf9"`` (Hyndman and Fan's types on the weighted
        distribution, as survey defines them) or ``"shahvaish"`` (Shah and
        Vaish 2006).
    interval_type : str, default "mean"
        R's ``interval.type``: the Woodruff interval with the interval for
        the distribution function at the quantile by ``"mean"`` (Wald),
        ``"beta"`` (Korn-Graubard), ``"xlogit"`` (Wald on the logit scale) or
        ``"asin"`` (Wald on the arcsine-square-root scale); ``"score"`` on
        linearisation designs (Francisco and Fuller's test inversion, as R's
        ``ffullerCI``, below); or, on replicate designs only,
        ``"quantile"``: the quantile recomputed with every replicate's weights
        and a Wald interval from their variance.
    se : {"linearized", "bell-mccaffrey", "bell-mccaffrey-2"}, default "linearized"
        Standard errors and degrees of freedom of the distribution function
        at the quantile, R's ``svyglm(std.errors=)`` values: R's
        linearisation, or Bell-McCaffrey bias-reduced linearisation (CR2) of
        :math:`\\hat F(\\hat Q(p))` as the weighted regression of the indicator
        :math:`[y_i \\le \\hat Q(p)]` on its domain's indicator, with
        Satterthwaite degrees of freedom under independence
        (``"bell-mccaffrey"``) or an exchangeable correlation within PSUs
        (``"bell-mccaffrey-2"``). Every Woodruff ``interval_type`` (``"mean"``,
        ``"beta"``, ``"xlogit"``, ``"asin"``) takes that variance and those
        degrees of freedom, as :func:`proportion` of the indicator does; the
        ``"score"`` interval takes the corrected variance of the score at
        every :math:`\\theta` and the t quantile on the Satterthwaite degrees
        of freedom at the estimate. Linearisation designs only (the
        ``"quantile"`` type, which is for replicate designs, cannot take it).

    Returns
    -------
    Estimate
        Labels ``"y[q]"``. ``ci(level)`` is the interval; ``se`` is its width
        at ``level`` divided by ``2 t``, as in R's ``svyquantile``.

    Notes
    -----
    With the rows of nonzero weight sorted, :math:`x_{(1)} \\le \\dots \\le
    x_{(n)}`, weights :math:`w_{(i)}`, :math:`C_i = \\sum_{k \\le i} w_{(k)}`
    and :math:`W = C_n`, the rules are survey's (``R/qrule.R``):

    - discrete rules, with :math:`i` the last row with :math:`C_i \\le pW`:
      ``hf1``/``math`` :math:`\\hat Q(p) = \\min\\{x : \\hat F(x) \\ge p\\}`
      (:math:`x_{(i)}` if :math:`C_i = pW`, else :math:`x_{(i+1)}`); ``hf2``/
      ``school`` the same but :math:`(x_{(i)} + x_{(i+1)})/2` where
      :math:`C_i = pW`; ``hf3`` on the distinct values with their summed
      weights, :math:`x_{(i)}` where :math:`C_i = pW` and :math:`i` is even;
      ``hf4`` :math:`x_{(i)}(1-\\gamma) + x_{(i+1)}\\gamma`,
      :math:`\\gamma = (p - C_i/W)/(w_{(i+1)}/W)`;
    - interpolating rules: linear interpolation (constant at the ends) of
      :math:`x_{(i)}` against plotting positions :math:`p_i`: ``hf5``
      :math:`(C_i - w_{(i)}/2)/W`, ``hf6`` :math:`C_i/(W + w_{(n)})`,
      ``hf7`` :math:`C_{i-1}/C_{n-1}`, ``hf8``
      :math:`(C_{i-1}/3 + 2C_i/3)/(W + w_{(n)}/3)`, ``hf9``
      :math:`(3C_{i-1}/8 + 5C_i/8)/(W + w_{(n)}/4)`; ``shahvaish`` the last
      :math:`x_{(i)}` with :math:`p_i \\le p`,
      :math:`p_i = (S_i + 1/2 - w_{(i)}/2)/(n+1)`, :math:`S_i` the cumulative
      sum of :math:`w/\\bar w`.

    For the Woodruff interval (Woodruff 1952) the estimated distribution
    function at the quantile, :math:`\\hat F(\\hat Q(p))`, gets a design-based
    interval :math:`[p_L, p_U]` (by ``interval_type``, on the design degrees
    of freedom, as R's ``svyciprop``) that is mapped back through the rule.
    The influence values are those of :math:`\\hat F(\\hat Q(p))` divided by
    the slope :math:`(p_U - p_L)/(\\hat Q(p_U) - \\hat Q(p_L))`, so the
    covariance between quantiles and domains comes from the design, and the
    standard error equals R's. With ``interval_type="quantile"`` the variance
    is the replicate variance of the replicates' quantiles about the
    estimate (R's ``repCI``) and the interval is Wald.

    The ``"score"`` interval (Francisco and Fuller 1991) inverts the test of
    :math:`F(\\theta) = p`: its ends are the roots in :math:`\\theta` of
    :math:`(p - \\hat F(\\theta)) / \\widehat{se}(\\hat F(\\theta)) = \\pm t`,
    found as R's ``uniroot`` finds them (Brent's method on
    :math:`[\\min x + \\mathrm{IQR}/100, \\max x - \\mathrm{IQR}/100]`, tolerance
    :math:`1/(100\\sqrt n)`, :math:`n` the domain's rows, step for step, by
    :func:`innobaro.intervals.brent_roots`), each read back through the rule
    at the *unweighted* share of the domain's values at or below it, as
    survey's ``ffullerCI`` does. The interval is made at ``level`` only
    (``ci(level)`` at another level is an error); R stops where the test
    does not change sign over that range, innobaro names the quantile.

    Deliberate differences from survey 4.1-4.5: for :math:`p` below the
    smallest value's weight share, R's discrete rules (``hf1``-``hf4``)
    step past the smallest value (``qrule_math`` returns the second-smallest,
    ``hf4`` extrapolates below it); innobaro returns the smallest, which is
    the definition. ``hf4`` at :math:`p = 1` gives the largest value (R:
    NaN). A ``"mean"`` Woodruff end beyond [0, 1] is the smallest or largest
    value (R: NaN).

    References
    ----------
    .. [1] Woodruff, R. S. (1952). Confidence intervals for medians and other
       position measures. *JASA* 47, 635-646.
    .. [2] Hyndman, R. J. and Fan, Y. (1996). Sample quantiles in statistical
       packages. *The American Statistician* 50, 361-365.
    .. [3] Shah, B. V. and Vaish, A. K. (2006). Confidence intervals for
       quantile estimation from complex survey data. *Proceedings of the
       Section on Survey Research Methods*, ASA.
    .. [4] Francisco, C. A. and Fuller, W. A. (1991). Quantile estimation
       with a complex survey design. *Annals of Statistics* 19, 454-469.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({"psu": range(10), "w": [1.0] * 10, "y": range(10)})
    >>> ib.quantile(ib.Design(df, weights="w", psu="psu"), "y", 0.5).estimate.tolist()
    [4.0]
    >>> ib.quantile(ib.Design(df, weights="w", psu="psu"), "y", 0.5,
    ...             qrule="hf7").estimate.tolist()
    [4.5]
    """
    probs = np.atleast_1d(np.asarray(q, dtype=float))
    if probs.ndim != 1 or ((probs < 0) | (probs > 1) | np.isnan(probs)).any():
        raise EstimationError(f"quantile probabilities must be in [0, 1]; got {q!r}")
    if qrule not in QRULES:
        raise EstimationError(f"quantile: qrule must be one of {', '.join(QRULES)}; "
                              f"got {qrule!r}")
    if interval_type not in QUANTILE_INTERVALS:
        raise EstimationError(f"quantile: interval_type must be one of "
                              f"{', '.join(QUANTILE_INTERVALS)}; got {interval_type!r}")
    if interval_type == "quantile" and not isinstance(design, ReplicateDesign):
        raise EstimationError("quantile: interval_type='quantile' needs a replicate-weight "
                              "design (it recomputes the quantile with each replicate's "
                              "weights); use 'mean', 'beta', 'xlogit', 'asin' or 'score'")
    if interval_type == "score" and isinstance(design, ReplicateDesign):
        raise EstimationError("quantile: interval_type='score' needs a linearisation design "
                              "(as R's svyquantile, which offers it for svydesign objects "
                              "only); use 'quantile', 'mean', 'beta', 'xlogit' or 'asin'")
    se = check_se_design(design, se, "quantile")
    rule_name = _QRULE_ALIAS.get(qrule, qrule)
    cols = as_column_list(y, "y")
    for c in cols:
        check_columns(design.data, [c], "quantile")
        if not pd.api.types.is_numeric_dtype(design.data[c]) or isinstance(
                design.data[c].dtype, pd.CategoricalDtype):
            raise EstimationError(f"quantile: column {c!r} must be numeric")
    prep = _prepare(design, cols, by, na_rm, "quantile")
    # each variable's domain rows sorted once: by the rules, and by the score interval
    sorted_rows = [_domain_rows_sorted(prep, j) for j in range(prep.q)]
    rules = [_QuantileRule(prep, j, rule_name, sorted_rows[j]) for j in range(prep.q)]
    P = probs.size
    D = prep.n_domains
    qhat = np.stack([r.lookup(np.broadcast_to(probs, (D, P))) for r in rules], axis=2)
    est = np.concatenate([qhat[:, :, j] for j in range(prep.q)], axis=1)  # (D, qP)
    labels = [f"{lab}[{p:g}]" for lab in prep.labels for p in probs]
    # R's svyquantile counts the degrees of freedom after leaving out missing values
    dfs = degrees_of_freedom(design, prep.dom, D)
    if interval_type == "quantile":
        return _replicate_quantile(design, prep, rules, qrule, probs, est, labels, dfs, level)
    # (D, P, q) -> indicators of x <= qhat, one column per (variable, prob)
    Fcols = np.empty((design.n, prep.q * P))
    for j in range(prep.q):  # over variables
        qrow = qhat[:, :, j][np.maximum(prep.dom, 0)]  # (n, P)
        Fcols[:, j * P:(j + 1) * P] = prep.Y[:, [j]] <= qrow
    Fcols[prep.dom < 0] = 0.0
    fprep = _Prepared(Y=Fcols, labels=[""] * Fcols.shape[1], w=prep.w, dom=prep.dom,
                      n_domains=D, by=prep.by, domain_values=prep.domain_values,
                      dom_df=prep.dom_df)
    fhat, zF = _mean_influence(fprep)  # (D, qP), (n, qP)
    infl = Influence(values=zF, domain=prep.dom, n_domains=D)
    F_reps = _mean_replicates(design, fprep)
    # se=: F at the quantile is the mean of the indicator, a regression on the
    # domain's indicator; its Satterthwaite degrees of freedom replace the design's
    fworking = None if se == "linearized" else _mean_working(fprep, fhat)
    VF = vcov_of(design, fhat.ravel(), infl, F_reps, se=se, working=fworking)
    seF = np.sqrt(np.diag(VF)).reshape(D, prep.q * P)
    dfe = (np.repeat(np.asarray(dfs, dtype=float).reshape(D, 1), prep.q * P, axis=1)
           if fworking is None else
           satterthwaite_df(design, fworking, se).reshape(D, prep.q * P))
    n_rows = _design_rows(design, prep)
    n_obs = prep.count(positive_weight=True)
    interval: Any
    if interval_type == "score":
        from .intervals import FixedInterval, brent_roots

        # R's ffullerCI: roots in theta of (p - F(theta)) / se(F(theta)) = +/- t, found
        # by uniroot on [min + IQR/100, max - IQR/100] to 1 / (100 sqrt(rows)); each root
        # is read back through the rule at the unweighted share of values <= it
        K2 = prep.q * P * 2  # columns: variable, probability, (lower, upper)
        inside = prep.dom >= 0
        rows = bincount(prep.dom[inside], minlength=D).astype(float)
        col_var = np.repeat(np.arange(prep.q), P * 2)
        col_p = np.tile(np.repeat(probs, 2), prep.q)
        t_dom = t_quantile(level, np.repeat(dfe, 2, axis=1))  # (D, K2)
        qlimit = np.where(np.tile([True, False], prep.q * P)[None, :], t_dom, -t_dom)
        ends = np.empty((2, D, K2))
        for j in range(prep.q):  # over variables: unweighted min, max and IQR (type 7)
            xs = prep.Y[sorted_rows[j], j]
            start = np.cumsum(rows) - rows
            last = np.maximum(start + rows - 1, 0).astype(np.int64)

            def type7(pr: float, xs: np.ndarray = xs, start: np.ndarray = start
                      ) -> np.ndarray:
                index = (rows - 1) * pr
                lo_i = np.floor(index)
                h = index - lo_i
                a = xs[(start + lo_i).astype(np.int64)]
                b = xs[(start + np.ceil(index)).astype(np.int64)]
                return np.where(h > 0, (1 - h) * a + h * b, a)

            iqr = type7(0.75) - type7(0.25)
            cols = col_var == j
            ends[0][:, cols] = (xs[start.astype(np.int64)] + iqr / 100)[:, None]
            ends[1][:, cols] = (xs[last] - iqr / 100)[:, None]

        # every variable's sorted domain values, one block per variable, and each
        # (domain, column)'s segment of them
        xs_blocks = np.concatenate([prep.Y[r, j] for j, r in enumerate(sorted_rows)])
        first = ((np.cumsum(rows) - rows)[:, None]
                 + col_var[None, :] * sorted_rows[0].size).ravel().astype(np.int64)
        length = np.repeat(rows, K2).astype(np.int64)
        # the test from (PSU, domain) totals where the variance needs no more, else
        # by a pass over the rows
        score: Callable[[np.ndarray], np.ndarray] = (
            (_PSUScore.build(design, prep, sorted_rows, xs_blocks, first, length, col_p,
                             qlimit) if se == "linearized" else None)
            or _RowScore(design, prep, col_var, col_p, qlimit, se))
        f_lo, f_hi = score(ends[0].ravel()), score(ends[1].ravel())
        with np.errstate(invalid="ignore"):
            bad = np.isnan(f_lo) | np.isnan(f_hi) | (f_lo * f_hi > 0)
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            dk, ck = divmod(k, K2)
            where = f" in domain {prep.domain_names()[dk]}" if prep.by else ""
            raise EstimationError(
                f"quantile: the score interval of {prep.labels[col_var[ck]]}"
                f"[{col_p[ck]:g}]{where} cannot be found: the score test does not change "
                f"sign between min + IQR/100 and max - IQR/100 (R's uniroot stops here "
                f"too); use interval_type='mean' or 'beta'")
        tol = np.repeat(1.0 / (100.0 * np.sqrt(rows)), K2)
        roots, _ = brent_roots(score, ends[0].ravel(), ends[1].ravel(), f_lo, f_hi, tol)
        # the unweighted share of the domain's values at or below each root
        share = sorted_count_le(xs_blocks, first, length, roots).reshape(D, K2) / rows[:, None]
        lookup = np.empty((D, K2))
        for j, rule in enumerate(rules):  # over variables
            cols = col_var == j
            lookup[:, cols] = rule.lookup(share[:, cols])
        lo95, hi95 = lookup[:, 0::2], lookup[:, 1::2]
        interval = FixedInterval(lo95.ravel(), hi95.ravel(), level, "score", dfe.ravel())
    else:
        interval = _Woodruff(fhat, seF, rules, P, interval_type, n_rows, n_obs)
        lo95, hi95 = interval.bounds(level, dfe)
    t95 = t_quantile(level, dfe)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope_inv = np.where(seF > 0, (hi95 - lo95) / (2 * t95 * seF), 0.0)
    z = -zF * prep.spread(slope_inv)
    qworking = None
    if fworking is not None:  # the quantile's influence is F's times -1/slope
        qworking = Working(U=fworking.U, UW=fworking.UW,
                           resid=fworking.resid * -prep.spread(slope_inv),
                           block=fworking.block, n_blocks=fworking.n_blocks)

    slope = slope_inv.ravel()

    def reps(W: np.ndarray) -> np.ndarray:
        # the linearised quantile: qhat - (F_r - F_hat) / f, f the Woodruff slope
        return est.ravel() - (F_reps(W) - fhat.ravel()) * slope

    return _finish(design, prep, est, z, "quantile", reps, labels=labels, deff=False,
                   interval=interval, level=level, df=dfs,
                   method=None if (qrule, interval_type) == ("math", "mean")
                   else f"{qrule}, {interval_type}", se=se, working=qworking,
                   entry_df=None if qworking is None else dfe.ravel())


def _replicate_quantile(design: SurveyDesign, prep: _Prepared, rules: list[_QuantileRule],
                        qrule: str, probs: np.ndarray, est: np.ndarray, labels: list[str],
                        dfs: np.ndarray, level: float) -> Estimate:
    """R's ``repCI``: the quantiles recomputed with each replicate's weights, their
    replicate variance about the estimate and a Wald interval."""
    D, P = prep.n_domains, probs.size

    def reps(W: np.ndarray) -> np.ndarray:
        # W: (n, R) analysis weights of the replicates -> (R, D q P)
        R = W.shape[1]
        out = np.empty((R, D, prep.q * P))
        for j, rule in enumerate(rules):  # over variables
            qr = rule.replicate_lookup(W, probs, prep.dom, prep.Y[:, j])  # (R, D, P)
            out[:, :, j * P:(j + 1) * P] = qr
        return out.reshape(R, -1)

    # the influence values are not used on a replicate design
    z = np.zeros((design.n, prep.q * P))
    return _finish(design, prep, est, z, "quantile", reps, labels=labels, deff=False,
                   level=level, df=dfs, method=f"{qrule}, quantile")


class _RowScore:
    """The score test of the ``"score"`` interval (see :class:`_PSUScore`) by a pass
    over the rows at every point: the mean of :math:`1[y > \\theta] - (1 - p)`
    in each domain and its variance from the design, whatever the design."""

    def __init__(self, design: SurveyDesign, prep: _Prepared, col_var: np.ndarray,
                 col_p: np.ndarray, qlimit: np.ndarray, se: str = "linearized") -> None:
        self.design, self.prep, self.se = design, prep, se
        self.col_var, self.col_p, self.qlimit = col_var, col_p, qlimit

    def __call__(self, theta: np.ndarray) -> np.ndarray:
        prep, design = self.prep, self.design
        D, K2 = prep.n_domains, self.col_p.size
        th = theta.reshape(D, K2)[np.maximum(prep.dom, 0)]  # (n, K2)
        U = (prep.Y[:, self.col_var] > th) - (1.0 - self.col_p)
        U[prep.dom < 0] = 0.0
        uprep = _Prepared(Y=U, labels=[""] * K2, w=prep.w, dom=prep.dom, n_domains=D,
                          by=prep.by, domain_values=prep.domain_values, dom_df=prep.dom_df)
        uhat, zU = _mean_influence(uprep)
        se = self.se
        VU = vcov_of(design, uhat.ravel(), Influence(values=zU, domain=prep.dom, n_domains=D),
                     _mean_replicates(design, uprep), se=se,
                     working=None if se == "linearized" else _mean_working(uprep, uhat))
        with np.errstate(divide="ignore", invalid="ignore"):
            return (uhat / np.sqrt(np.diag(VU)).reshape(D, K2) - self.qlimit).ravel()


def sorted_count_le(x: np.ndarray, first: np.ndarray, length: np.ndarray,
                    theta: np.ndarray) -> np.ndarray:
    """How many values of each sorted segment are at or below a threshold.

    Parameters
    ----------
    x : (N,) array
        Segments of values, each increasing.
    first, length : (k,) int arrays
        Where each segment starts in ``x``, and its length.
    theta : (k,) array
        One threshold per segment.

    Returns
    -------
    (k,) int64 array
        :math:`\\#\\{i : x_{first + i} \\le \\theta,\\ 0 \\le i < length\\}`, by a
        binary search of every segment at once.
    """
    lo = np.zeros(theta.size, dtype=np.int64)
    hi = np.array(length, dtype=np.int64)
    last = np.maximum(hi - 1, 0)
    for _ in range(int(hi.max(initial=0)).bit_length() + 1):  # halvings of the segments
        act = lo < hi
        if not act.any():
            break
        mid = (lo + hi) // 2
        le = x[first + np.minimum(mid, last)] <= theta
        lo = np.where(act & le, mid + 1, lo)
        hi = np.where(act & ~le, mid, hi)
    return lo


#: Largest (PSU x domain) count whose pairs are found by a dense table.
_DENSE_PAIRS = 1 << 24


class _PSUScore:
    """The score test of the ``"score"`` interval, :math:`(p - \\hat F(\\theta)) /
    \\widehat{se}(\\hat F(\\theta)) - t`, at one :math:`\\theta` per (domain,
    column), from (PSU, domain) totals kept up to date between calls.

    The test depends on the rows only through :math:`A_{ud} = \\sum w_i
    1[y_i \\le \\theta]` and :math:`B_{ud} = \\sum w_i` over the rows of PSU
    :math:`u` in domain :math:`d`: :math:`\\hat F = \\sum_u A_{ud} / \\sum_u
    B_{ud}` and the influence total of the pair is :math:`(\\hat F B_{ud} -
    A_{ud}) / \\sum_u B_{ud}`. With each domain's rows sorted by value once,
    the rows whose indicator changes between two calls are a contiguous slice
    of that order, so a call costs the rows between the two points plus the
    pairs, not a pass over the data. Its variance is the variance engine's, on
    a design of one row per pair with the design's strata, PSUs, population
    sizes and lonely-PSU rule (the same unit totals, hence the same variance).
    Built only where the variance depends on the first-stage PSU totals alone:
    one stage in the variance, no weighting model, no unequal-probability
    sampling; elsewhere :meth:`build` returns None and :class:`_RowScore` makes
    the pass over the rows. It is the plain linearisation variance: a variance
    computed otherwise (a small-sample correction of the rows' residuals) takes
    the pass over the rows.
    """

    def __init__(self, design: Design, prep: _Prepared, sorted_rows: list[np.ndarray],
                 xs_blocks: np.ndarray, first: np.ndarray, length: np.ndarray,
                 col_p: np.ndarray, qlimit: np.ndarray) -> None:
        st = design.active_stages[0]
        D, K2 = prep.n_domains, col_p.size
        self.D, self.K2, self.col_p, self.qlimit = D, K2, col_p, qlimit
        rows = np.flatnonzero(prep.dom >= 0)
        dom, unit, w = prep.dom[rows], st.unit[rows], prep.w[rows]
        n_units = st.unit_stratum.size
        key = unit * D + dom  # the (PSU, domain) pair of each row
        if n_units * D <= _DENSE_PAIRS:
            hit = np.zeros(n_units * D, dtype=bool)
            hit[key] = True
            pair_keys = np.flatnonzero(hit)
            pair = (np.cumsum(hit) - 1)[key]
        else:
            pair_keys, pair = np.unique(key, return_inverse=True)
        n_pairs = pair_keys.size
        pair_unit, self.pair_dom = np.divmod(pair_keys, D)
        self.B = bincount(pair, weights=w, minlength=n_pairs)
        self.size = bincount(self.pair_dom, weights=self.B, minlength=D)
        # each variable's rows sorted by (domain, value), one block per variable;
        # each problem's (domain-major: d, column) segment of them
        pair_of_row = np.empty(prep.dom.size, dtype=np.int64)
        pair_of_row[rows] = pair
        self.x, self.first, self.length = xs_blocks, first, length
        self.pair = np.concatenate([pair_of_row[r] for r in sorted_rows])
        self.w = np.concatenate([prep.w[r] for r in sorted_rows])
        self.at = np.zeros(D * K2, dtype=np.int64)  # rows at or below the current point
        self.A = np.zeros(n_pairs * K2)  # (pair, column) totals of w 1[y <= theta]
        # the design of the pairs (and of the PSUs without any, outside the domains)
        alone = np.ones(n_units, dtype=bool)
        alone[pair_unit] = False
        units = np.concatenate([pair_unit, np.flatnonzero(alone)])
        self.row_dom = np.concatenate([self.pair_dom, np.full(int(alone.sum()), -1)])
        frame = {"h": st.unit_stratum[units], "u": units, "w": np.ones(units.size)}
        fpc = None
        if np.isfinite(st.popsize).all():
            frame["N"] = st.popsize[st.unit_stratum[units]]
            fpc = "N"
        self.pairs_design = Design(pd.DataFrame(frame), weights="w", strata="h", psu="u",
                                   fpc=fpc, lonely_psu=design.lonely_psu)

    @classmethod
    def build(cls, design: SurveyDesign, prep: _Prepared, sorted_rows: list[np.ndarray],
              xs_blocks: np.ndarray, first: np.ndarray, length: np.ndarray,
              col_p: np.ndarray, qlimit: np.ndarray) -> _PSUScore | None:
        """The evaluator, or None where the variance needs more than PSU totals."""
        if type(design) is not Design or design.calibration_steps or design.pps is not None \
                or len(design.active_stages) != 1:
            return None
        popsize = design.active_stages[0].popsize
        if not (np.isfinite(popsize).all() or np.isinf(popsize).all()):
            return None
        return cls(design, prep, sorted_rows, xs_blocks, first, length, col_p, qlimit)

    def __call__(self, theta: np.ndarray) -> np.ndarray:
        D, K2 = self.D, self.K2
        new = sorted_count_le(self.x, self.first, self.length, np.asarray(theta, dtype=float))
        # each problem from where fewest rows change: its current point, nothing
        # (no row at or below) or everything (every row)
        step = np.abs(new - self.at)
        from_none = (new < step) & (new <= self.length - new)
        from_all = ~from_none & (self.length - new < step)
        A = self.A.reshape(-1, K2)
        if from_none.any() or from_all.any():
            none_p = from_none.reshape(D, K2)[self.pair_dom]  # (pairs, K2)
            all_p = from_all.reshape(D, K2)[self.pair_dom]
            A[none_p] = 0.0
            A[all_p] = np.broadcast_to(self.B[:, None], A.shape)[all_p]
            self.at = np.where(from_none, 0, np.where(from_all, self.length, self.at))
        a, b = np.minimum(self.at, new), np.maximum(self.at, new)
        n_moved = b - a
        total = int(n_moved.sum())
        if total:  # the rows between the old and the new point, added or taken out
            problem = np.repeat(np.arange(D * K2), n_moved)
            offset = np.arange(total) - np.repeat(np.cumsum(n_moved) - n_moved, n_moved)
            pos = (self.first + a)[problem] + offset
            sign = np.where(new > self.at, 1.0, -1.0)[problem]
            self.A += bincount(self.pair[pos] * K2 + problem % K2,
                               weights=self.w[pos] * sign, minlength=self.A.size)
        self.at = new
        keys = (self.pair_dom[:, None] * K2 + np.arange(K2)).ravel()
        F = bincount(keys, weights=self.A, minlength=D * K2).reshape(D, K2) / self.size[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = 1.0 / self.size[self.pair_dom]
        z = (F[self.pair_dom] * self.B[:, None] - A) * inv[:, None]
        values = np.zeros((self.row_dom.size, K2))
        values[:z.shape[0]] = z
        uhat = self.col_p[None, :] - F
        V = vcov_of(self.pairs_design, uhat.ravel(),
                    Influence(values=values, domain=self.row_dom, n_domains=D),
                    _no_replicates)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (uhat / np.sqrt(np.diag(V)).reshape(D, K2) - self.qlimit).ravel()


class _Woodruff:
    """Woodruff intervals of quantiles: an interval for the estimated CDF (by
    ``method``, as R's ``svyciprop``), read back through each variable's
    quantile rule. An object rather than a closure, so that results pickle."""

    def __init__(self, fhat: np.ndarray, seF: np.ndarray, rules: list[_QuantileRule],
                 P: int, method: str = "mean", n_rows: np.ndarray | None = None,
                 n_obs: np.ndarray | None = None) -> None:
        self.fhat, self.seF, self.rules, self.P = fhat, seF, rules, P
        self.method, self.n_rows, self.n_obs = method, n_rows, n_obs

    def bounds(self, level: float, df_dom: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(D, q P) lower and upper ends for degrees of freedom ``df_dom``: one
        per domain (D,), or one per entry (D, q P) (Satterthwaite's, with ``se=``)."""
        D = self.fhat.shape[0]
        df_dom = np.broadcast_to(np.asarray(df_dom, dtype=float).reshape(D, -1),
                                 self.fhat.shape)
        if self.method == "mean":
            t = t_quantile(level, df_dom)
            # an end beyond [0, 1] is the smallest or largest value: the interval
            # cannot reach past the data, and a CDF of 1 with a rounding-level SE
            # keeps its upper end (R's woodruffCI gives NaN for such an end; a
            # deliberate difference, tests/test_random_designs.py DIFFERENCES)
            p_lo = np.clip(self.fhat - t * self.seF, 0.0, 1.0)
            p_hi = np.clip(self.fhat + t * self.seF, 0.0, 1.0)
        else:
            rows = np.ones(D) if self.n_rows is None else self.n_rows
            obs = np.ones(D) if self.n_obs is None else self.n_obs
            p_lo, p_hi = proportion_interval(
                self.method, self.fhat, self.seF ** 2, level,
                df_dom,
                n_rows=np.asarray(rows, dtype=float).reshape(D, 1),
                n_obs=np.asarray(obs, dtype=float).reshape(D, 1))
        lo = np.empty_like(p_lo)
        hi = np.empty_like(p_hi)
        for j, rule in enumerate(self.rules):  # over variables
            s = slice(j * self.P, (j + 1) * self.P)
            lo[:, s] = rule.lookup(p_lo[:, s])
            hi[:, s] = rule.lookup(p_hi[:, s])
        return lo, hi

    def __call__(self, level: float, df_entries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.bounds(level, df_entries.reshape(self.fhat.shape))
        return lo.ravel(), hi.ravel()


_DISCRETE_RULES = ("hf1", "hf2", "hf3", "hf4")


def domain_value_order(x: np.ndarray, d: np.ndarray, n_domains: int) -> np.ndarray:
    """``np.lexsort((x, d))``: the order by domain, then value, ties in row order.

    Parameters
    ----------
    x : (n,) float array
        The values (no NaN).
    d : (n,) int array
        The domain of each value, in ``0 .. n_domains - 1``.
    n_domains : int

    Returns
    -------
    (n,) int64 array
        The permutation.

    Notes
    -----
    numpy's stable sort of floats is a merge sort, several times slower than
    its introsort: the values are sorted by the introsort, the domains by a
    stable sort of their codes (a radix sort for small codes), and only runs
    of equal (domain, value) pairs are put back in row order.
    """
    order = np.argsort(x)
    if n_domains > 1:
        small = np.int16 if n_domains <= np.iinfo(np.int16).max else np.int64
        order = order[np.argsort(d[order].astype(small), kind="stable")]
    xs = x[order]
    tie = xs[1:] == xs[:-1]
    if n_domains > 1:
        ds = d[order]
        tie &= ds[1:] == ds[:-1]
    if tie.any():  # the rows of each run of ties in row order, as a stable sort
        in_run = np.zeros(x.size, dtype=bool)
        in_run[1:] = tie
        in_run[:-1] |= tie
        at = np.flatnonzero(in_run)
        run = np.cumsum(~np.concatenate([[False], tie]))[at]
        order[at] = order[at][np.lexsort((order[at], run))]
    return order


def _domain_rows_sorted(prep: _Prepared, j: int) -> np.ndarray:
    """The rows of the domains, sorted by domain and then by variable ``j``."""
    rows = np.flatnonzero(prep.dom >= 0)
    return rows[domain_value_order(prep.Y[rows, j], prep.dom[rows], prep.n_domains)]


class _QuantileRule:
    """One of R's quantile rules (``R/qrule.R``) for one variable, vectorised
    over domains and probabilities."""

    def __init__(self, prep: _Prepared | None, j: int = 0, rule: str = "hf1",
                 rows: np.ndarray | None = None) -> None:
        self.rule = rule
        if prep is None:
            return
        if rows is None:  # the domains' rows sorted by (domain, value)
            rows = _domain_rows_sorted(prep, j)
        rows = rows[prep.w[rows] > 0]
        self._setup(prep.Y[rows, j], prep.dom[rows], prep.w[rows], prep.n_domains,
                    presorted=True)

    @classmethod
    def from_arrays(cls, x: np.ndarray, d: np.ndarray, w: np.ndarray, n_domains: int,
                    rule: str) -> _QuantileRule:
        self = cls(None, rule=rule)
        self._setup(x, d, w, n_domains)
        return self

    def _setup(self, x: np.ndarray, d: np.ndarray, w: np.ndarray, n_domains: int,
               presorted: bool = False) -> None:
        if not presorted:  # by domain, then value; stable for ties
            order = domain_value_order(x, d, n_domains)
            x, d, w = x[order], d[order], w[order]
        if self.rule == "hf3" and x.size:  # distinct values with their summed weights
            new = np.ones(x.size, bool)
            new[1:] = (x[1:] != x[:-1]) | (d[1:] != d[:-1])
            group = np.cumsum(new) - 1
            w = np.bincount(group, weights=w)
            x, d = x[new], d[new]
        self.x, self.d, self.w = x, d, np.asarray(w, dtype=np.float64)
        ws = self.w.astype(np.longdouble)
        cum = np.cumsum(ws)  # extended precision, as R's cumsum and sum
        counts = bincount(self.d, minlength=n_domains)
        ends = np.cumsum(counts)
        self.starts = ends - counts
        offset = np.where(self.starts > 0, cum[np.maximum(self.starts - 1, 0)]
                          if cum.size else 0, 0)
        offset = np.asarray(offset, dtype=np.longdouble)
        offset[self.starts == 0] = 0
        self.cumw = (cum - offset[self.d]).astype(np.float64)
        total = np.where(counts > 0, cum[np.maximum(ends - 1, 0)] if cum.size else 0,
                         0) - offset
        self.total = np.asarray(total, dtype=np.float64)
        self.counts = counts
        if self.rule not in _DISCRETE_RULES:
            self.pk = self._positions()
            if self.rule == "shahvaish":  # its positions need not increase: R's approx sorts
                by_pk = np.lexsort((self.pk, self.d))
                self.pk, self.x = self.pk[by_pk], self.x[by_pk]

    def _positions(self) -> np.ndarray:
        """Plotting positions of the interpolating rules, increasing in each domain."""
        C, w, d = self.cumw, self.w, self.d
        if C.size == 0:
            return C
        last = np.maximum(self.starts + self.counts - 1, 0)
        Cprev = np.empty_like(C)  # R's c(0, cumw[-n])
        Cprev[1:] = C[:-1]
        Cprev[self.starts[self.counts > 0]] = 0.0
        W = self.total[d]
        wn = w[last][d]
        if self.rule == "hf5":
            return (C - w / 2) / W
        if self.rule == "hf6":
            return C / (W + wn)
        if self.rule == "hf7":
            return Cprev / Cprev[last][d]
        if self.rule == "hf8":
            return (Cprev * (1 / 3) + C * (2 / 3)) / (W + wn / 3)
        if self.rule == "hf9":
            return (Cprev * (3 / 8) + C * (5 / 8)) / (W + wn / 4)
        # shahvaish: S the cumulative sum of w / mean(w), n the domain's rows
        n = self.counts[d].astype(float)
        S = C / (W / n)
        return (S + 0.5 - w / 2) / (n + 1)

    def _count_le(self, keys: np.ndarray, thr: np.ndarray) -> np.ndarray:
        """For each query (domain, threshold) of ``thr`` (D, k), how many of its
        domain's ``keys`` (increasing within each domain) are <= the threshold:
        the queries merged into the sorted (domain, key) sequence."""
        D, k = thr.shape
        qd = np.repeat(np.arange(D), k)
        keys_d = np.concatenate([self.d, qd])
        keys_v = np.concatenate([keys, thr.ravel()])
        is_query = np.concatenate([np.zeros(self.d.size, bool), np.ones(qd.size, bool)])
        order = np.lexsort((is_query, keys_v, keys_d))
        rank_in_all = np.empty(order.size, dtype=np.int64)
        rank_in_all[order] = np.arange(order.size)
        qpos = rank_in_all[self.d.size:]
        # queries before this one in the merged order, in the same or earlier domains
        q_order = np.argsort(qpos, kind="stable")
        q_before = np.empty(qd.size, dtype=np.int64)
        q_before[q_order] = np.arange(qd.size)
        return qpos - q_before - self.starts[qd]

    def lookup(self, p: np.ndarray) -> np.ndarray:
        """Quantiles at probabilities ``p`` of shape (D, k); NaN outside [0, 1]."""
        D, k = p.shape
        bad = np.isnan(p) | (p < 0) | (p > 1)
        pp = np.where(bad, 0.0, p)
        qd = np.repeat(np.arange(D), k)
        empty = self.counts[qd] == 0
        if self.x.size == 0:
            return np.full((D, k), np.nan)
        first = np.minimum(self.starts[qd], self.x.size - 1)
        last = np.clip(first + self.counts[qd] - 1, first, self.x.size - 1)
        v = pp.ravel()
        if self.rule in _DISCRETE_RULES:
            n_le = self._count_le(self.cumw, pp * self.total[:, None])
            none = n_le <= 0
            pos = np.clip(first + n_le - 1, first, last)
            nxt = np.minimum(pos + 1, last)
            with np.errstate(invalid="ignore", divide="ignore"):
                W = self.total[qd]
                wlow = v - self.cumw[pos] / W
                wup = self.cumw[nxt] / W - v
                qlow, qup = self.x[pos], self.x[nxt]
                # exactly zero, as R: C_i / W can round above p where C_i <= p W
                if self.rule == "hf1":
                    value = np.where(wlow == 0, qlow, qup)
                elif self.rule == "hf2":
                    value = np.where(wlow == 0, (qlow + qup) / 2, qup)
                elif self.rule == "hf3":
                    value = np.where((wlow == 0) & (n_le % 2 == 0), qlow, qup)
                else:  # hf4
                    gamma = wlow / (wup + wlow)
                    value = np.where(wup + wlow > 0, qlow * (1 - gamma) + qup * gamma, qlow)
            # below the smallest value's share: the smallest value (the definition;
            # R's qs steps past it, a deliberate difference)
            value = np.where(none, self.x[first], value)
        else:
            n_le = self._count_le(self.pk, pp)
            i = np.clip(first + n_le - 1, first, last)
            j = np.minimum(i + 1, last)
            if self.rule == "shahvaish":  # approx(method = "constant", f = 0, rule = 2)
                value = self.x[i]
            else:  # approx(method = "linear", rule = 2), as R's approx1
                with np.errstate(invalid="ignore", divide="ignore"):
                    frac = (v - self.pk[i]) / (self.pk[j] - self.pk[i])
                    value = self.x[i] + (self.x[j] - self.x[i]) * frac
                value = np.where((v == self.pk[i]) | (i == j), self.x[i], value)
            value = np.where(n_le <= 0, self.x[first], value)
            value = np.where(n_le >= self.counts[qd], self.x[last], value)
        value = np.where(bad.ravel() | empty, np.nan, value)
        return value.reshape(D, k)

    def replicate_lookup(self, W: np.ndarray, probs: np.ndarray, dom: np.ndarray,
                         x: np.ndarray) -> np.ndarray:
        """Quantiles at ``probs`` under each column of the (n, R) weights ``W``
        (rows of ``dom`` < 0 out): (R, D, P), every replicate a block of domains."""
        R = W.shape[1]
        D = self.counts.size
        keep = (dom >= 0)[:, None] & (W > 0)  # (n, R)
        rows, reps = np.nonzero(keep)
        rule = _QuantileRule.from_arrays(x[rows], reps * D + dom[rows], W[rows, reps],
                                         R * D, self.rule)
        out = rule.lookup(np.broadcast_to(probs, (R * D, probs.size)))
        return out.reshape(R, D, probs.size)


def with_replicates(design: SurveyDesign, statistic: Any, *, vectorized: bool = False,
                    names: Sequence[str] | None = None) -> Estimate:
    """Replicate standard errors for any statistic that is a function of the weights.

    As R's ``withReplicates``: ``statistic`` is computed with the full-sample
    weights and with every replicate's weights, and the replicate variance of
    the design (:func:`innobaro.variance.replicate_vcov`) is its covariance.

    Parameters
    ----------
    design : ReplicateDesign
    statistic : callable
        ``statistic(weights, data)`` returning a number or a 1-d array. With
        ``vectorized=True`` it receives an (n, k) matrix of weight columns and
        returns a (k, m) array, so all replicates are computed at once;
        otherwise it is called once per replicate.
    vectorized : bool, default False
    names : list of str, optional
        Labels of the statistic's entries.

    Returns
    -------
    Estimate
        With the design's degrees of freedom and t intervals.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({"psu": range(6), "w": [1.0, 2, 1, 2, 1, 2],
    ...                    "y": [1.0, 4, 2, 8, 3, 5]})
    >>> rd = ib.Design(df, weights="w", psu="psu").replicate("jk1")
    >>> def weighted_median_gap(w, data):
    ...     return (w * data["y"]).sum() / w.sum() - data["y"].median()
    >>> est = ib.with_replicates(rd, weighted_median_gap, names=["gap"])
    >>> est.se.round(4).tolist() == ib.mean(rd, "y").se.round(4).tolist()
    True
    """
    from .design import ReplicateDesign

    if not isinstance(design, ReplicateDesign):
        raise TypeError("with_replicates needs a ReplicateDesign (use design.replicate(...))")
    data = design.data
    present = design.present
    w = np.where(present, design.unmasked_weights, 0.0)
    W = design.unmasked_replicate_weights * present[:, None]
    if vectorized:
        full = np.atleast_2d(np.asarray(statistic(w[:, None], data), dtype=float))[0]
        reps = np.asarray(statistic(W, data), dtype=float).reshape(W.shape[1], -1)
    else:
        full = np.atleast_1d(np.asarray(statistic(w, data), dtype=float))
        reps = np.stack([np.atleast_1d(np.asarray(statistic(W[:, r], data), dtype=float))
                         for r in range(W.shape[1])])  # the user's function, per replicate
    from .variance import replicate_vcov

    V = replicate_vcov(design, full, reps)
    labels = list(names) if names is not None else [f"stat{i}" for i in range(full.size)]
    if len(labels) != full.size:
        raise EstimationError(f"names has {len(labels)} labels; the statistic has "
                              f"{full.size} entries")
    return Estimate(full, V, pd.Index(labels, name="variable"), df=np.full(full.size,
                    design.df), kind="statistic")
