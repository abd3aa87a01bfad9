"""Small-area estimation: Fay-Herriot (area level) and Battese-Harter-Fuller (unit level).

A domain with few sample rows (a county, a county x sector cell) has a direct
estimate too noisy to publish. A model that links the areas through
covariates known for every area borrows strength across them: the empirical
best linear unbiased predictor (EBLUP) shrinks each direct estimate towards a
regression prediction, the more the noisier the direct estimate.

- :func:`fay_herriot` is the chain from microdata: the direct estimates by
  area and their design-based variances from :func:`innobaro.mean`, then the
  area-level model; :func:`fay_herriot_fit` starts from direct estimates and
  variances. Both return a :class:`FayHerriotResult` (EBLUP, shrinkage
  factors, MSE, synthetic estimates for areas without sample, benchmarking,
  reliability flags).
- :func:`battese_harter_fuller` fits the unit-level nested-error model by
  REML and predicts area means from known population means of the covariates,
  with a parametric-bootstrap MSE (:class:`BHFResult`).
- :func:`county_estimates` gives the synthetic barometer's county x sector
  shares, direct and model-based side by side, with reliability flags.

The model, estimators and MSE formulas are on the documentation's theory page
"Small-area estimation".

References
----------
.. [1] Fay, R. E. and Herriot, R. A. (1979). Estimates of income for small
   places: an application of James-Stein procedures to census data. *JASA* 74,
   269-277.
.. [2] Rao, J. N. K. and Molina, I. (2015). *Small Area Estimation*, 2nd ed.,
   Wiley, chapters 6 and 7.
.. [3] Battese, G. E., Harter, R. M. and Fuller, W. A. (1988). An
   error-components model for prediction of county crop areas using survey and
   satellite data. *JASA* 83, 28-36.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._validate import values_by_label
from .errors import EstimationError, InnobaroError, InnobaroWarning, warn

if TYPE_CHECKING:
    from .design import SurveyDesign

__all__ = [
    "BHFResult",
    "FayHerriotResult",
    "SmallAreaConvergenceWarning",
    "SmallAreaWarning",
    "battese_harter_fuller",
    "county_estimates",
    "fay_herriot",
    "fay_herriot_fit",
]

METHODS = ("REML", "ML", "FH")
TRANSFORMS = (None, "arcsine", "logit")
#: the reliability rule of model-based estimates: coefficient of variation above
#: which an estimate is reviewed, and above which it is suppressed
CV_REVIEW, CV_SUPPRESS = 0.20, 0.30


class SmallAreaWarning(InnobaroWarning):
    """Areas left to the synthetic estimate, or direct estimates of 0 or 1, named."""


class SmallAreaConvergenceWarning(InnobaroWarning):
    """The variance component's iterations stopped before converging."""


# ---------------------------------------------------------------------------
# Fay-Herriot: fitting
# ---------------------------------------------------------------------------

def _gls(A: float, y: np.ndarray, D: np.ndarray, X: np.ndarray
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Weights, (X'V^-1 X)^-1, beta and residuals at A."""
    w = 1.0 / (A + D)
    phi = np.linalg.inv(X.T @ (X * w[:, None]))
    beta = phi @ (X.T @ (w * y))
    return w, phi, beta, y - X @ beta


def _fh_step(method: str, A: float, y: np.ndarray, D: np.ndarray, X: np.ndarray) -> float:
    """One Fisher-scoring (REML, ML) or Newton (FH) step of the variance component."""
    w, phi, _, r = _gls(A, y, D, X)
    if method == "ML":
        score = 0.5 * (np.sum((w * r) ** 2) - np.sum(w))
        info = 0.5 * np.sum(w ** 2)
    elif method == "REML":
        XW2X = X.T @ (X * (w ** 2)[:, None])
        XW3X = X.T @ (X * (w ** 3)[:, None])
        tr_p = np.sum(w) - np.trace(phi @ XW2X)
        M = phi @ XW2X
        tr_pp = np.sum(w ** 2) - 2 * np.trace(phi @ XW3X) + np.trace(M @ M)
        score = 0.5 * (np.sum((w * r) ** 2) - tr_p)
        info = 0.5 * tr_pp
    else:  # Fay-Herriot's moment equation sum w r^2 = m - p; d/dA = -sum w^2 r^2 (envelope)
        m, p = X.shape
        score = np.sum(w * r ** 2) - (m - p)
        info = np.sum((w * r) ** 2)
    if info <= 0:
        return 0.0
    return float(score / info)


def _fit_variance_component(method: str, y: np.ndarray, D: np.ndarray, X: np.ndarray,
                            max_iter: int, tol: float) -> tuple[float, bool, int]:
    """The variance component A >= 0 by scoring from A0, truncated at 0."""
    scale = float(np.median(D))
    A = 0.0 if method == "FH" else scale  # Newton from 0 rises monotonically to FH's root
    for it in range(1, max_iter + 1):  # over the iterations of a scalar equation
        new = max(A + _fh_step(method, A, y, D, X), 0.0)
        if abs(new - A) <= tol * max(new, scale):
            return new, True, it
        A = new
    return A, False, max_iter


@dataclass(frozen=True, eq=False)
class FayHerriotResult:
    """A fitted Fay-Herriot model and its small-area estimates.

    Made by :func:`fay_herriot` and :func:`fay_herriot_fit`; the fields are:

    Parameters
    ----------
    method : str
        ``"REML"``, ``"ML"`` or ``"FH"`` (Fay-Herriot's moment estimator).
    variance_component : float
        :math:`\\hat A`, the variance of the area effects (on the transformed
        scale with a transform).
    coefficients : pandas.Series
        :math:`\\hat\\beta`.
    coef_vcov : pandas.DataFrame
        :math:`(X^\\top \\hat V^{-1} X)^{-1}`.
    areas : pandas.DataFrame
        One row per area (every area of the covariates): ``sampled``,
        ``direct``, ``direct_var``, ``shrinkage`` (:math:`\\hat\\gamma_i`),
        ``eblup``, ``mse``, ``rmse``, ``cv``, ``synthetic``, ``synthetic_mse``,
        ``g1``, ``g2``, ``g3``; with ``transform="arcsine"`` also
        ``eblup_transformed``, ``mse_transformed`` and ``back_bias``.
    converged : bool
    iterations : int
    transform : str or None
    back : str
        The back-transformation (``"naive"`` or ``"corrected"``).
    mse_method : str
        ``"prasad_rao"`` or ``"datta_lahiri"``.
    target : float or None
        The direct national estimate the estimates can be benchmarked to.
    shares : pandas.Series or None
        Each sampled area's estimated population share (benchmarking weights).

    Examples
    --------
    >>> import innobaro as ib
    >>> r = ib.fay_herriot_fit([1.0, 2.0, 1.5, 3.0], [0.2, 0.3, 0.1, 0.4])
    >>> r.method, r.converged, r.shrinkage.round(3).tolist()
    ('REML', True, [0.638, 0.54, 0.779, 0.468])
    """

    method: str
    variance_component: float
    coefficients: pd.Series
    coef_vcov: pd.DataFrame
    areas: pd.DataFrame
    converged: bool
    iterations: int
    transform: str | None
    back: str
    mse_method: str
    target: float | None = None
    shares: pd.Series | None = None

    @property
    def eblup(self) -> pd.Series:
        """The EBLUP of every area (the synthetic estimate where the area has no sample)."""
        return self.areas["eblup"]

    @property
    def mse(self) -> pd.Series:
        """The estimated MSE of :attr:`eblup`."""
        return self.areas["mse"]

    @property
    def shrinkage(self) -> pd.Series:
        """:math:`\\hat\\gamma_i = \\hat A/(\\hat A + D_i)`, the direct estimate's weight."""
        return self.areas["shrinkage"]

    @property
    def synthetic(self) -> pd.Series:
        """The synthetic estimates :math:`x_i^\\top\\hat\\beta`."""
        return self.areas["synthetic"]

    def to_frame(self) -> pd.DataFrame:
        """The per-area table (a copy of :attr:`areas`).

        Returns
        -------
        pandas.DataFrame
            One row per area.

        Examples
        --------
        >>> import innobaro as ib
        >>> r = ib.fay_herriot_fit([1.0, 2.0, 1.5, 3.0], [0.2, 0.3, 0.1, 0.4])
        >>> r.to_frame()[["direct", "eblup"]].round(3).iloc[0].tolist()
        [1.0, 1.279]
        """
        return self.areas.copy()

    def __repr__(self) -> str:
        n = int(self.areas["sampled"].sum())
        return (f"FayHerriotResult(method={self.method!r}, areas={len(self.areas)} "
                f"({n} sampled), A={self.variance_component:.6g}, "
                f"coefficients={self.coefficients.round(6).to_dict()})")

    def benchmark(self, how: str = "ratio", *, target: float | None = None,
                  shares: Any = None) -> pd.Series:
        """Benchmark the sampled areas' EBLUPs to a national total.

        Parameters
        ----------
        how : {"ratio", "difference"}
            Ratio benchmarking multiplies every EBLUP by
            :math:`T / \\sum_i W_i \\tilde\\theta_i`; difference benchmarking
            adds :math:`T - \\sum_i W_i \\tilde\\theta_i`.
        target : float, optional
            :math:`T`, the national figure (default :attr:`target`, the direct
            national estimate of :func:`fay_herriot`).
        shares : Series or dict, optional
            :math:`W_i`, each sampled area's population share, summing to 1
            (default :attr:`shares`, the estimated shares).

        Returns
        -------
        pandas.Series
            The benchmarked estimates of the sampled areas; their
            :math:`W`-weighted mean is :math:`T`.

        Notes
        -----
        Benchmarking makes the small-area estimates add up to the reliable
        national direct estimate (Rao and Molina 2015, sec. 6.2.6). The MSE
        in :attr:`areas` is that of the unbenchmarked EBLUP; the benchmarked
        estimate's MSE is larger by a term of order :math:`1/m`.

        Examples
        --------
        >>> import innobaro as ib
        >>> r = ib.fay_herriot_fit([1.0, 2.0, 1.5, 3.0], [0.2, 0.3, 0.1, 0.4])
        >>> b = r.benchmark(target=2.0, shares=[0.25] * 4)
        >>> round(float(b.mean()), 12)
        2.0
        """
        if how not in ("ratio", "difference"):
            raise InnobaroError(f"how must be 'ratio' or 'difference', not {how!r}")
        sampled = self.areas.index[self.areas["sampled"].to_numpy()]
        T = self.target if target is None else float(target)
        if T is None:
            raise InnobaroError("benchmark needs target= (the national figure) for a model "
                                "fitted with fay_herriot_fit")
        if shares is None:
            if self.shares is None:
                raise InnobaroError("benchmark needs shares= (the areas' population shares) "
                                    "for a model fitted with fay_herriot_fit")
            W = self.shares.reindex(sampled).to_numpy(dtype=float)
        elif isinstance(shares, (pd.Series, dict)):
            W = values_by_label(shares, sampled, "shares has no value for areas")
        else:
            W = np.asarray(shares, dtype=float)
            if W.shape != (len(sampled),):
                raise InnobaroError(f"shares must have one value per sampled area "
                                    f"({len(sampled)}), got shape {W.shape}")
        if not np.isclose(W.sum(), 1.0, atol=1e-6):
            raise InnobaroError(f"the shares must sum to 1 over the sampled areas, "
                                f"they sum to {W.sum():.6g}")
        est = self.areas.loc[sampled, "eblup"].to_numpy(dtype=float)
        now = float(W @ est)
        out = est * (T / now) if how == "ratio" else est + (T - now)
        return pd.Series(out, index=sampled, name=f"eblup_{how}_benchmarked")

    def reliability(self, *, cv_review: float = CV_REVIEW,
                    cv_suppress: float = CV_SUPPRESS) -> pd.DataFrame:
        """Each area's coefficient of variation and flag in the report's vocabulary.

        Parameters
        ----------
        cv_review, cv_suppress : float
            CV (:math:`\\sqrt{\\mathrm{mse}}/\\tilde\\theta`) above which an
            estimate is ``"review"`` and ``"suppress"``.

        Returns
        -------
        pandas.DataFrame
            ``estimate``, ``rmse``, ``cv``, ``flag`` (one of
            :data:`innobaro.flags.FLAGS`) and ``reason`` (``"CV > 30%"``,
            ``"CV > 20%"``, ``"no interval"`` where the MSE could not be
            computed, and ``"no sample"`` for a synthetic estimate, joined by
            ``"; "``).

        Examples
        --------
        >>> import innobaro as ib
        >>> r = ib.fay_herriot_fit([1.0, 2.0, 1.5, 3.0], [0.2, 0.3, 0.1, 0.4])
        >>> r.reliability()["flag"].tolist()
        ['suppress', 'review', 'review', 'review']
        """
        return _cv_flags(self.areas["eblup"].to_numpy(dtype=float),
                         self.areas["rmse"].to_numpy(dtype=float),
                         self.areas["sampled"].to_numpy(dtype=bool), self.areas.index,
                         cv_review, cv_suppress)


def _cv_flags(est: np.ndarray, rmse: np.ndarray, sampled: np.ndarray, index: pd.Index,
              cv_review: float, cv_suppress: float) -> pd.DataFrame:
    with np.errstate(divide="ignore", invalid="ignore"):
        cv = rmse / np.abs(est)
    bad = ~np.isfinite(cv)
    suppress = bad | (cv > cv_suppress)
    review = ~suppress & ((cv > cv_review) | ~sampled)
    flag = np.where(suppress, "suppress", np.where(review, "review", "ok"))
    parts = [bad, ~bad & (cv > cv_suppress), ~bad & (cv > cv_review) & (cv <= cv_suppress),
             ~sampled]
    names = ["no interval", f"CV > {cv_suppress:.0%}", f"CV > {cv_review:.0%}", "no sample"]
    reason = np.full(est.shape, "", dtype=object)
    for mask, name in zip(parts, names, strict=True):  # over the four rules
        reason = np.where(mask, np.where(reason == "", name, reason + "; " + name), reason)
    return pd.DataFrame({"estimate": est, "rmse": rmse, "cv": cv, "flag": flag,
                         "reason": reason}, index=index)


def _names(index: pd.Index, mask: np.ndarray, limit: int = 10) -> str:
    labels = [str(v) for v in index[mask][:limit]]
    more = int(mask.sum()) - len(labels)
    return ", ".join(labels) + (f" and {more} more" if more > 0 else "")


def _covariate_matrix(covariates: Any, formula: str | None, areas: pd.Index
                      ) -> tuple[np.ndarray, list[str], pd.Index]:
    """The model matrix over every area of the covariates."""
    if covariates is None:
        if formula is not None:
            raise InnobaroError("formula= needs covariates= (a frame of area-level data)")
        return np.ones((len(areas), 1)), ["Intercept"], areas
    if not isinstance(covariates, pd.DataFrame):
        raise InnobaroError(f"covariates must be a DataFrame indexed by area, not "
                            f"{type(covariates).__name__}")
    if covariates.index.has_duplicates:
        dup = covariates.index[covariates.index.duplicated()]
        raise InnobaroError(f"covariates has more than one row for areas "
                            f"{[str(v) for v in dup[:10]]}")
    index = covariates.index
    if formula is None:
        bad = [c for c in covariates.columns
               if not pd.api.types.is_numeric_dtype(covariates[c])]
        if bad:
            raise InnobaroError(f"covariate columns {bad} are not numeric; give formula= "
                                f"(e.g. '~ C({bad[0]})') to code them")
        values = covariates.to_numpy(dtype=float)
        nan = np.isnan(values)
        if nan.any():
            rows = nan.any(axis=1)
            cols = [str(c) for c in covariates.columns[nan.any(axis=0)]]
            raise EstimationError(f"covariates {cols} are missing for areas "
                                  f"{_names(index, rows)}")
        X = np.column_stack([np.ones(len(index)), values])
        return X, ["Intercept", *map(str, covariates.columns)], index
    from .formula import model_frame

    data = covariates.copy()
    for name in index.names:  # the index levels, as columns for the formula
        if name is not None and name not in data.columns:
            data[name] = index.get_level_values(name)
    data.index = pd.RangeIndex(len(data))
    _, X, spec, kept = model_frame(formula, data, response=False)
    if not kept.all():
        raise EstimationError(f"covariates of formula {formula!r} are missing for areas "
                              f"{_names(index, ~kept)}")
    return np.asarray(X, dtype=float), list(spec.column_names), index


def _arcsine_inputs(p: np.ndarray, var: np.ndarray, n: np.ndarray, index: pd.Index
                    ) -> tuple[np.ndarray, np.ndarray]:
    """asin(sqrt(p)) and its variance 1/(4 n_eff), n_eff = n / deff."""
    with np.errstate(divide="ignore", invalid="ignore"):
        deff = var / (p * (1 - p) / n)
    ok = np.isfinite(deff) & (deff > 0)
    edge = ~ok & np.isfinite(p)
    if edge.any():
        if not ok.any():
            raise EstimationError("no area has a direct share strictly between 0 and 1 with a "
                                  "positive variance: the design effect cannot be estimated")
        typical = float(np.median(deff[ok]))
        warn(f"direct shares of 0 or 1 (or without variance) in areas {_names(index, edge)}: "
             f"their arcsine variance uses the median design effect of the other areas "
             f"({typical:.3g})", SmallAreaWarning)
        deff = np.where(ok, deff, typical)
    return np.arcsin(np.sqrt(np.clip(p, 0, 1))), deff / (4 * n)


def _fh_result(direct: np.ndarray, D: np.ndarray, X: np.ndarray, columns: list[str],
               index: pd.Index, *, method: str, mse_method: str, transform: str | None,
               back: str, max_iter: int, tol: float, n: np.ndarray | None = None,
               target: float | None = None, shares: pd.Series | None = None
               ) -> FayHerriotResult:
    if method not in METHODS:
        raise InnobaroError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if transform not in TRANSFORMS:
        raise InnobaroError(f"transform must be None, 'arcsine' or 'logit', not {transform!r}")
    if back not in ("naive", "corrected"):
        raise InnobaroError(f"back must be 'naive' or 'corrected', not {back!r}")
    if mse_method not in ("datta_lahiri", "prasad_rao"):
        raise InnobaroError(f"mse must be 'datta_lahiri' or 'prasad_rao', not {mse_method!r}")
    if np.any(D < 0):
        raise EstimationError(f"negative sampling variances in areas {_names(index, D < 0)}")
    raw_direct, raw_var = direct.copy(), D.copy()
    has_direct = np.isfinite(direct)
    if transform is not None and np.any(has_direct & ((direct < 0) | (direct > 1))):
        out = has_direct & ((direct < 0) | (direct > 1))
        raise EstimationError(f"transform={transform!r} needs shares in [0, 1]; areas "
                              f"{_names(index, out)} are outside")
    if transform == "logit":  # the delta method; a share of 0 or 1 has no logit
        with np.errstate(divide="ignore", invalid="ignore"):
            inner = (direct > 0) & (direct < 1)
            direct = np.where(inner, np.log(direct / (1 - direct)), np.nan)
            D = np.where(inner, raw_var / (raw_direct * (1 - raw_direct)) ** 2, np.nan)
    if transform == "arcsine":
        if n is None:
            raise InnobaroError("transform='arcsine' needs n= (the sample size of every area)")
        direct, D = np.full(direct.shape, np.nan), np.full(direct.shape, np.nan)
        direct[has_direct], D[has_direct] = _arcsine_inputs(
            raw_direct[has_direct], raw_var[has_direct], n[has_direct], index[has_direct])
    novar = has_direct & ~(np.isfinite(D) & (D > 0))
    if novar.any():
        hint = ""
        if transform != "arcsine" and np.any(novar & ((raw_direct == 0) | (raw_direct == 1))):
            hint = " (shares of 0 or 1: transform='arcsine' keeps them)"
        warn(f"zero or missing sampling variance in areas {_names(index, novar)}{hint}: "
             f"they get the synthetic estimate, as areas without sample", SmallAreaWarning)
    sampled = has_direct & ~novar
    m, p = int(sampled.sum()), X.shape[1]
    if m <= p:
        raise EstimationError(f"{m} areas with a direct estimate for {p} coefficients "
                              f"({', '.join(columns)}): the model needs more areas than "
                              f"coefficients")
    Xs, ys, Ds = X[sampled], direct[sampled], D[sampled]
    if np.linalg.matrix_rank(Xs) < p:
        raise EstimationError(f"the covariates ({', '.join(columns)}) are collinear over the "
                              f"{m} sampled areas")
    A, converged, iterations = _fit_variance_component(method, ys, Ds, Xs, max_iter, tol)
    if not converged:
        warn(f"the {method} variance component did not converge in {max_iter} iterations "
             f"(last value {A:.6g}); raise max_iter= or try method='FH'",
             SmallAreaConvergenceWarning)
    w, phi, beta, _ = _gls(A, ys, Ds, Xs)
    synthetic = X @ beta
    # per area, with D = infinity (gamma = 0, B = 1) where the area has no sample
    Dall = np.where(sampled, D, np.inf)
    with np.errstate(invalid="ignore"):
        B = np.where(sampled, Dall / (A + Dall), 1.0)
    gamma = 1.0 - B
    est = np.where(sampled, gamma * direct + B * synthetic, synthetic)
    g1 = np.where(sampled, A * B, A)
    g2 = B ** 2 * np.einsum("ij,jk,ik->i", X, phi, X)
    vbar = 2 * m / np.sum(w) ** 2 if method == "FH" else 2 / np.sum(w ** 2)
    g3 = np.where(sampled, B ** 2 / (A + Dall) * vbar, 0.0)
    bias = 0.0
    if mse_method == "datta_lahiri":
        if method == "ML":
            bias = -np.trace(phi @ (Xs.T @ (Xs * (w ** 2)[:, None]))) / np.sum(w ** 2)
        elif method == "FH":
            bias = 2 * (m * np.sum(w ** 2) - np.sum(w) ** 2) / np.sum(w) ** 3
    mse = g1 + g2 + 2 * g3 - bias * B ** 2
    synthetic_mse = A + np.einsum("ij,jk,ik->i", X, phi, X) - bias
    cols: dict[str, Any] = {"sampled": sampled, "direct": raw_direct, "direct_var": raw_var}
    if transform is not None:
        if transform == "arcsine":
            naive = np.sin(est) ** 2
            bias_back = 0.5 * np.cos(2 * est) * (1 - np.exp(-2 * mse))
            slope, syn_p = np.sin(2 * est), np.sin(synthetic) ** 2
            syn_slope = np.sin(2 * synthetic)
        else:  # logit: E expit(phi), phi ~ N(est, mse), by 40-point Gauss-Hermite
            naive = 1 / (1 + np.exp(-est))
            z, wq = np.polynomial.hermite_e.hermegauss(40)
            grid = est[:, None] + np.sqrt(mse)[:, None] * z[None, :]
            bias_back = (1 / (1 + np.exp(-grid))) @ wq / np.sqrt(2 * np.pi) - naive
            slope, syn_p = naive * (1 - naive), 1 / (1 + np.exp(-synthetic))
            syn_slope = syn_p * (1 - syn_p)
        cols.update(eblup_transformed=est, mse_transformed=mse, back_bias=bias_back)
        est_p = naive + bias_back if back == "corrected" else naive
        mse_p = slope ** 2 * mse
        syn_mse_p = syn_slope ** 2 * synthetic_mse
        est, mse, synthetic, synthetic_mse = est_p, mse_p, syn_p, syn_mse_p
    rmse = np.sqrt(mse)
    with np.errstate(divide="ignore", invalid="ignore"):
        cv = rmse / np.abs(est)
    cols.update(shrinkage=gamma, eblup=est, mse=mse, rmse=rmse, cv=cv, synthetic=synthetic,
                synthetic_mse=synthetic_mse, g1=g1, g2=g2, g3=g3)
    table = pd.DataFrame(cols, index=index)
    return FayHerriotResult(
        method=method, variance_component=float(A),
        coefficients=pd.Series(beta, index=columns, name="coefficient"),
        coef_vcov=pd.DataFrame(phi, index=columns, columns=columns), areas=table,
        converged=converged, iterations=iterations, transform=transform, back=back,
        mse_method=mse_method, target=target, shares=shares)


def _as_area_series(values: Any, name: str) -> pd.Series:
    if isinstance(values, pd.Series):
        return values.astype(float)
    if isinstance(values, dict):
        return pd.Series(values, dtype=float)
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise InnobaroError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return pd.Series(arr)


def fay_herriot_fit(direct: Any, variance: Any, covariates: pd.DataFrame | None = None, *,
                    formula: str | None = None, method: str = "REML",
                    mse: str = "datta_lahiri", transform: str | None = None,
                    n: Any = None, back: str = "naive", max_iter: int = 100,
                    tol: float = 1e-10) -> FayHerriotResult:
    """Fay-Herriot EBLUP from direct estimates and their sampling variances.

    Parameters
    ----------
    direct : Series, dict or array
        :math:`\\hat\\theta_i`, the direct estimate of each area with sample,
        indexed by area (an array: by position, as the rows of ``covariates``).
    variance : Series, dict or array
        :math:`D_i`, each direct estimate's sampling variance (treated as known).
    covariates : pandas.DataFrame, optional
        Area-level covariates, one row per area indexed by area, including
        areas without sample (they get the synthetic estimate). Without
        ``formula``, every column (numeric) enters with an intercept. None:
        the intercept alone.
    formula : str, optional
        A right-hand side such as ``"~ C(sector) + centrality"`` over the
        columns (and index levels) of ``covariates``.
    method : {"REML", "ML", "FH"}
        Estimator of the variance component :math:`A`: restricted or full
        maximum likelihood (Fisher scoring), or Fay and Herriot's moment
        equation. Negative solutions are truncated at 0.
    mse : {"datta_lahiri", "prasad_rao"}
        ``"prasad_rao"``: :math:`g_1 + g_2 + 2 g_3`; ``"datta_lahiri"``
        (default) subtracts the bias of :math:`\\hat A` times
        :math:`\\partial g_1/\\partial A` for ML (Datta and Lahiri 2000) and FH
        (Datta, Rao and Smith 2005); the two agree for REML.
    transform : {None, "arcsine", "logit"}
        ``"arcsine"`` for proportions near 0 or 1: the model is fitted to
        :math:`\\arcsin\\sqrt{\\hat p_i}` with variance :math:`1/(4\\tilde n_i)`,
        :math:`\\tilde n_i = n_i/\\mathrm{deff}_i`, and the EBLUP is
        back-transformed by :math:`\\sin^2`. ``"logit"``: fitted to
        :math:`\\log(\\hat p_i/(1-\\hat p_i))` with the delta-method variance
        :math:`D_i/(\\hat p_i(1-\\hat p_i))^2` and back-transformed by the
        logistic function; a share of 0 or 1 has no logit and gets the
        synthetic estimate (with a warning naming the area).
    n : Series, dict or array, optional
        Sample size of each area (needed by ``transform="arcsine"``).
    back : {"naive", "corrected"}
        With a transform: the back-transformed EBLUP (:math:`\\sin^2\\tilde\\theta_i`,
        :math:`1/(1+e^{-\\tilde\\theta_i})`), or its expectation under
        :math:`N(\\tilde\\theta_i, \\mathrm{mse}_i)`:
        :math:`\\tfrac12 - \\tfrac12\\cos(2\\tilde\\theta_i)e^{-2\\,\\mathrm{mse}_i}`
        for the arcsine, a 40-point Gauss-Hermite quadrature for the logit.
        The difference is the column ``back_bias``; the MSE on the share scale
        is the delta method's.
    max_iter : int
        Iterations of the variance component's scoring.
    tol : float
        Convergence: a step below ``tol`` times :math:`\\max(A, \\mathrm{median}\\,D)`.

    Returns
    -------
    FayHerriotResult

    Notes
    -----
    The model is :math:`\\hat\\theta_i = x_i^\\top\\beta + v_i + e_i`,
    :math:`v_i \\sim N(0, A)`, :math:`e_i \\sim N(0, D_i)`. With
    :math:`\\gamma_i = A/(A + D_i)` the EBLUP is
    :math:`\\tilde\\theta_i = \\hat\\gamma_i\\hat\\theta_i + (1-\\hat\\gamma_i)
    x_i^\\top\\hat\\beta`, and its MSE
    :math:`g_{1i} + g_{2i} + 2g_{3i}` (Prasad and Rao 1990) with
    :math:`g_{1i} = \\gamma_i D_i`,
    :math:`g_{2i} = (1-\\gamma_i)^2 x_i^\\top (X^\\top V^{-1}X)^{-1} x_i`,
    :math:`g_{3i} = D_i^2 (A + D_i)^{-3}\\,\\bar V(\\hat A)`. An area without
    sample gets :math:`x_i^\\top\\hat\\beta` with MSE
    :math:`\\hat A + x_i^\\top (X^\\top V^{-1}X)^{-1} x_i` (less the bias term).

    References
    ----------
    .. [1] Rao, J. N. K. and Molina, I. (2015). *Small Area Estimation*, 2nd
       ed., Wiley, section 6.2.

    Examples
    --------
    >>> import innobaro as ib
    >>> r = ib.fay_herriot_fit([1.0, 2.0, 1.5, 3.0], [0.2, 0.3, 0.1, 0.4])
    >>> round(r.variance_component, 4), r.eblup.round(3).tolist()
    (0.3519, [1.279, 1.894, 1.56, 2.345])
    """
    y = _as_area_series(direct, "direct")
    D = _as_area_series(variance, "variance")
    if not isinstance(direct, (pd.Series, dict)) and covariates is not None:
        if len(y) != len(covariates):
            raise InnobaroError(f"direct has {len(y)} values and covariates {len(covariates)} "
                                f"rows; index direct by area to match them")
        y.index = covariates.index
        if not isinstance(variance, (pd.Series, dict)):
            D.index = covariates.index
    elif not isinstance(variance, (pd.Series, dict)):
        if len(D) != len(y):
            raise InnobaroError(f"variance has {len(D)} values for {len(y)} direct estimates")
        D.index = y.index
    missing = [a for a in y.index if a not in D.index]
    if missing:
        raise InnobaroError(f"variance has no value for areas {missing[:10]}")
    areas = y.index if covariates is None else covariates.index
    X, columns, index = _covariate_matrix(covariates, formula, pd.Index(areas))
    unknown = [a for a in y.index if a not in index]
    if unknown:
        raise EstimationError(f"covariates has no row for areas {unknown[:10]}")
    yv = y.reindex(index).to_numpy(dtype=float)
    Dv = D.reindex(y.index).reindex(index).to_numpy(dtype=float)
    nv = None
    if n is not None:
        ns = _as_area_series(n, "n")
        if not isinstance(n, (pd.Series, dict)):
            ns.index = y.index
        nv = ns.reindex(index).to_numpy(dtype=float)
    return _fh_result(yv, Dv, X, columns, index, method=method, mse_method=mse,
                      transform=transform, back=back, max_iter=max_iter, tol=tol, n=nv)


def fay_herriot(design: SurveyDesign, y: str, area: str | Sequence[str], *,
                covariates: pd.DataFrame | None = None, formula: str | None = None,
                method: str = "REML", mse: str = "datta_lahiri",
                transform: str | None = None, back: str = "naive", na_rm: bool = False,
                max_iter: int = 100, tol: float = 1e-10,
                se: str = "linearized") -> FayHerriotResult:
    """Fay-Herriot small-area estimates from a survey design, in one call.

    Parameters
    ----------
    design : Design or ReplicateDesign
    y : str
        The variable (a 0/1 column gives shares).
    area : str or list of str
        The column(s) whose levels (or combinations) are the areas.
    covariates : pandas.DataFrame, optional
        Area-level covariates indexed by area (a MultiIndex for several area
        columns), one row per area, including areas without sample.
    formula : str, optional
        Right-hand side over the covariates' columns and index levels.
    method, mse, transform, back, max_iter, tol
        As in :func:`fay_herriot_fit`.
    na_rm : bool
        Leave out rows where ``y`` is missing.
    se : {"linearized", "bell-mccaffrey", "bell-mccaffrey-2"}, default "linearized"
        The direct estimates' variances (:func:`innobaro.mean`'s ``se=``):
        the Bell-McCaffrey variants give the sampling variances the model
        takes as known their small-sample correction.

    Returns
    -------
    FayHerriotResult
        With :attr:`~FayHerriotResult.target` (the national direct estimate)
        and :attr:`~FayHerriotResult.shares` (the areas' estimated population
        shares) for :meth:`~FayHerriotResult.benchmark`.

    Notes
    -----
    The direct estimates and their design-based variances are
    :func:`innobaro.mean` by ``area`` (the Hajek mean, linearisation or
    replicate variance of the design); the sample size of an area counts its
    rows with a positive weight. Then :func:`fay_herriot_fit`.

    References
    ----------
    .. [1] Fay, R. E. and Herriot, R. A. (1979). Estimates of income for small
       places. *JASA* 74, 269-277.

    Examples
    --------
    >>> import innobaro as ib
    >>> from innobaro.datasets import barometer_design
    >>> r = ib.fay_herriot(barometer_design(), "innovated", "county")
    >>> len(r.areas), round(float(r.shrinkage.mean()), 2)
    (19, 0.46)
    """
    from .estimators import mean

    cols = [area] if isinstance(area, str) else list(area)
    est = mean(design, y, by=cols, na_rm=na_rm, se=se)
    direct = est.estimate.droplevel(-1)
    var = est.se.droplevel(-1) ** 2
    national = float(mean(design, y, na_rm=na_rm).estimate.iloc[0])
    codes, values = design.level_codes(cols)
    keep = np.asarray(design.present) & (np.asarray(design.unmasked_weights) > 0) & (codes >= 0)
    if na_rm:
        keep &= np.asarray(design.data[y].notna())
    k = len(values[0])
    counts = np.bincount(codes[keep], minlength=k).astype(float)
    wsum = np.bincount(codes[keep], weights=np.asarray(design.unmasked_weights)[keep],
                       minlength=k)
    levels = (pd.MultiIndex.from_arrays(values, names=cols) if len(cols) > 1
              else pd.Index(list(values[0]), name=cols[0]))
    n = pd.Series(counts, index=levels).reindex(direct.index)
    shares = pd.Series(wsum, index=levels).reindex(direct.index)
    shares = shares / shares.sum()
    if covariates is None:
        areas = direct.index
        X, columns, index = np.ones((len(areas), 1)), ["Intercept"], areas
    else:
        X, columns, index = _covariate_matrix(covariates, formula, covariates.index)
        unknown = [a for a in direct.index if a not in index]
        if unknown:
            raise EstimationError(f"covariates has no row for areas {unknown[:10]}")
    yv = direct.reindex(index).to_numpy(dtype=float)
    Dv = var.reindex(index).to_numpy(dtype=float)
    nv = n.reindex(index).to_numpy(dtype=float)
    res = _fh_result(yv, Dv, X, columns, index, method=method, mse_method=mse,
                     transform=transform, back=back, max_iter=max_iter, tol=tol, n=nv,
                     target=national, shares=shares)
    res.areas.insert(1, "n", np.nan_to_num(nv))
    return res


# ---------------------------------------------------------------------------
# Battese-Harter-Fuller
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class _Sums:
    """Per-area sums of the unit-level data that the REML profile needs."""

    n: np.ndarray        # (m,) rows per area
    XtX: np.ndarray      # (p, p)
    Sx: np.ndarray       # (m, p) per-area sums of x
    Xty: np.ndarray      # (B, p)
    Sy: np.ndarray       # (B, m)
    Syy: np.ndarray      # (B,)


def _sums(X: np.ndarray, Y: np.ndarray, codes: np.ndarray, m: int) -> _Sums:
    """Sums for B responses at once (Y is (B, N))."""
    order = np.argsort(codes, kind="stable")
    c = codes[order]
    starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
    Xo, Yo = X[order], Y[:, order]
    Sx = np.add.reduceat(Xo, starts, axis=0)
    Sy = np.add.reduceat(Yo, starts, axis=1)
    return _Sums(n=np.bincount(codes, minlength=m).astype(float), XtX=X.T @ X, Sx=Sx,
                 Xty=Y @ X, Sy=Sy, Syy=np.einsum("bn,bn->b", Y, Y))


@dataclass(frozen=True)
class _WSums:
    """Per-area weighted sums for the pseudo-EBLUP (You and Rao 2002)."""

    W: np.ndarray        # (m,) sum of the weights
    W2: np.ndarray       # (m,) sum of the squared weights
    Swx: np.ndarray      # (m, p)
    Sw2x: np.ndarray     # (m, p)
    Swxx: np.ndarray     # (p, p)
    Sw2xx: np.ndarray    # (p, p)
    Swxy: np.ndarray     # (B, p)
    Swy: np.ndarray      # (B, m)


def _wsums(X: np.ndarray, Y: np.ndarray, w: np.ndarray, codes: np.ndarray) -> _WSums:
    order = np.argsort(codes, kind="stable")
    c = codes[order]
    starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
    Xo, wo = X[order], w[order]
    Xw = X * w[:, None]
    return _WSums(W=np.add.reduceat(wo, starts), W2=np.add.reduceat(wo ** 2, starts),
                  Swx=np.add.reduceat(Xo * wo[:, None], starts, axis=0),
                  Sw2x=np.add.reduceat(Xo * (wo ** 2)[:, None], starts, axis=0),
                  Swxx=X.T @ Xw, Sw2xx=Xw.T @ Xw, Swxy=Y @ Xw,
                  Swy=np.add.reduceat(Y[:, order] * wo[None, :], starts, axis=1))


def _pseudo(lam: np.ndarray, ws: _WSums) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                  np.ndarray]:
    """You and Rao's pseudo-EBLUP at lambda (one per response): beta_w, gamma_w, the
    area effects and the matrix M of the estimating equation."""
    gamma = lam[:, None] / (lam[:, None] + (ws.W2 / ws.W ** 2)[None, :])    # (B, m)
    xw = ws.Swx / ws.W[:, None]
    M = ws.Swxx[None] - np.einsum("bm,mp,mq->bpq", gamma, ws.Swx, xw)
    rhs = ws.Swxy - np.einsum("bm,mp,bm->bp", gamma, xw, ws.Swy)
    beta = np.linalg.solve(M, rhs[:, :, None])[:, :, 0]
    v = gamma * (ws.Swy / ws.W[None, :] - np.einsum("mp,bp->bm", xw, beta))
    return beta, gamma, v, M


def _pseudo_vcov(M: np.ndarray, gamma: np.ndarray, ws: _WSums, sigma2_v: float,
                 sigma2_e: float) -> np.ndarray:
    """Model covariance of beta_w = M^-1 sum_i Z_i' y_i, Z_i's rows
    w_ij (x_ij - gamma_i xbar_iw), with V_i = sigma_e^2 I + sigma_v^2 11'."""
    xw = ws.Swx / ws.W[:, None]
    cross = np.einsum("m,mp,mq->pq", gamma, ws.Sw2x, xw)
    zz = ws.Sw2xx - cross - cross.T + np.einsum("m,mp,mq->pq", gamma ** 2 * ws.W2, xw, xw)
    zsum = (1 - gamma)[:, None] * ws.Swx
    S = sigma2_e * zz + sigma2_v * zsum.T @ zsum
    Minv = np.linalg.inv(M)
    return Minv @ S @ Minv.T


def _profile(lam: np.ndarray, s: _Sums, N: int
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """-2 x profiled REML log-likelihood at lambda = sigma_v^2/sigma_e^2 (one per
    response), with beta, r'H^-1 r and (X'H^-1 X)^-1."""
    c = lam[:, None] / (1 + s.n[None, :] * lam[:, None])          # (B, m)
    XHX = s.XtX[None] - np.einsum("bm,mp,mq->bpq", c, s.Sx, s.Sx)
    XHy = s.Xty - np.einsum("bm,mp,bm->bp", c, s.Sx, s.Sy)
    yHy = s.Syy - np.sum(c * s.Sy ** 2, axis=1)
    inv = np.linalg.inv(XHX)
    beta = np.einsum("bpq,bq->bp", inv, XHy)
    rHr = yHy - np.einsum("bp,bp->b", beta, XHy)
    p = s.XtX.shape[0]
    _, logdet = np.linalg.slogdet(XHX)
    crit = np.sum(np.log1p(s.n[None, :] * lam[:, None]), axis=1) + logdet \
        + (N - p) * np.log(rHr)
    return crit, beta, rHr, inv


def _fit_lambda(s: _Sums, N: int) -> np.ndarray:
    """The REML lambda of every response: a grid over t = log(lambda) from -18 to 21,
    golden-section search between the grid neighbours of the best point, all
    responses at once, and lambda = 0 where the boundary is at least as good."""
    B = s.Sy.shape[0]

    def f(t: np.ndarray) -> np.ndarray:
        return _profile(np.exp(t), s, N)[0]

    grid = np.linspace(-18.0, 21.0, 64)
    vals = np.stack([f(np.full(B, t)) for t in grid])  # the 64 grid points
    best = np.argmin(vals, axis=0)
    a = grid[np.maximum(best - 1, 0)]
    b = grid[np.minimum(best + 1, grid.size - 1)]
    g = (np.sqrt(5) - 1) / 2
    x1, x2 = b - g * (b - a), a + g * (b - a)
    f1, f2 = f(x1), f(x2)
    for _ in range(80):  # golden-section iterations, every response at once
        left = f1 < f2  # the minimum is in [a, x2]
        b = np.where(left, x2, b)
        a = np.where(left, a, x1)
        keep_x, keep_f = np.where(left, x1, x2), np.where(left, f1, f2)
        new = np.where(left, b - g * (b - a), a + g * (b - a))
        fn = f(new)
        x1 = np.where(left, new, keep_x)
        f1 = np.where(left, fn, keep_f)
        x2 = np.where(left, keep_x, new)
        f2 = np.where(left, keep_f, fn)
    lam = np.exp((a + b) / 2)
    at0 = f(np.full(B, -np.inf)) <= f(np.log(lam))
    return np.where(at0, 0.0, lam)


@dataclass(frozen=True, eq=False)
class BHFResult:
    """A fitted Battese-Harter-Fuller model and its area-mean EBLUPs.

    Made by :func:`battese_harter_fuller`; the fields are:

    Parameters
    ----------
    sigma2_v, sigma2_e : float
        REML variance components of the area effects and of the units.
    coefficients : pandas.Series
    coef_vcov : pandas.DataFrame
        :math:`(X^\\top \\hat V^{-1} X)^{-1}`.
    random_effects : pandas.Series
        :math:`\\hat v_i` of the sampled areas.
    areas : pandas.DataFrame
        One row per area of ``means``: ``n``, ``sampled``, ``shrinkage``
        (:math:`\\hat\\gamma_i`), ``eblup``, ``synthetic``, ``mse`` and ``rmse``
        (parametric bootstrap; NaN without it), ``cv``.
    bootstrap : int
        Number of bootstrap samples behind ``mse``.
    weights : str or None
        The survey-weight column of a pseudo-EBLUP (None: the EBLUP).

    Examples
    --------
    >>> import numpy as np, pandas as pd, innobaro as ib
    >>> rng = np.random.default_rng(1)
    >>> units = pd.DataFrame({"area": np.repeat(list("abcdef"), 5),
    ...                       "x": rng.normal(size=30)})
    >>> units["y"] = 1 + units["x"] + rng.normal(size=30)
    >>> means = pd.DataFrame({"x": [0.0] * 6}, index=list("abcdef"))
    >>> r = ib.battese_harter_fuller(units, "y ~ x", "area", means, bootstrap=50, seed=2)
    >>> r.random_effects.index.tolist(), bool(r.mse.notna().all())
    (['a', 'b', 'c', 'd', 'e', 'f'], True)
    """

    sigma2_v: float
    sigma2_e: float
    coefficients: pd.Series
    coef_vcov: pd.DataFrame
    random_effects: pd.Series
    areas: pd.DataFrame
    bootstrap: int
    weights: str | None = None

    @property
    def eblup(self) -> pd.Series:
        """The EBLUP of every area mean."""
        return self.areas["eblup"]

    @property
    def mse(self) -> pd.Series:
        """The parametric-bootstrap MSE of :attr:`eblup`."""
        return self.areas["mse"]

    def to_frame(self) -> pd.DataFrame:
        """The per-area table (a copy of :attr:`areas`).

        Returns
        -------
        pandas.DataFrame

        Examples
        --------
        >>> import numpy as np, pandas as pd, innobaro as ib
        >>> rng = np.random.default_rng(1)
        >>> units = pd.DataFrame({"area": np.repeat(list("abcdef"), 5),
        ...                       "x": rng.normal(size=30)})
        >>> units["y"] = 1 + units["x"] + rng.normal(size=30)
        >>> means = pd.DataFrame({"x": [0.0] * 6}, index=list("abcdef"))
        >>> ib.battese_harter_fuller(units, "y ~ x", "area", means).to_frame().shape
        (6, 8)
        """
        return self.areas.copy()

    def __repr__(self) -> str:
        return (f"BHFResult(areas={len(self.areas)}, sigma2_v={self.sigma2_v:.6g}, "
                f"sigma2_e={self.sigma2_e:.6g}, coefficients="
                f"{self.coefficients.round(6).to_dict()}, bootstrap={self.bootstrap})")


def battese_harter_fuller(data: pd.DataFrame, formula: str, area: str, means: pd.DataFrame,
                          *, weights: str | None = None, bootstrap: int = 0,
                          seed: Any = None) -> BHFResult:
    """Unit-level (nested-error) EBLUP of area means, REML, with a bootstrap MSE.

    Parameters
    ----------
    data : pandas.DataFrame
        The sample, one row per unit (not changed).
    formula : str
        ``"y ~ x1 + x2"``: response and unit-level covariates.
    area : str
        Column of the area of each unit.
    means : pandas.DataFrame
        Indexed by area (every area to predict, with or without sample): the
        population mean of every model-matrix column other than the intercept,
        named as the model matrix names it (``"x1"``, ``"C(g)[T.b]"``).
    weights : str, optional
        Column of survey weights: the pseudo-EBLUP of You and Rao (2002),
        design-consistent for every area's mean, instead of the EBLUP.
    bootstrap : int
        Parametric-bootstrap samples for the MSE (0: none).
    seed : int or numpy.random.Generator, optional
        Randomness of the bootstrap (the global state is never used).

    Returns
    -------
    BHFResult

    Notes
    -----
    :math:`y_{ij} = x_{ij}^\\top\\beta + v_i + e_{ij}`,
    :math:`v_i\\sim N(0,\\sigma_v^2)`, :math:`e_{ij}\\sim N(0,\\sigma_e^2)`
    (Battese, Harter and Fuller 1988). REML, profiled over
    :math:`\\lambda = \\sigma_v^2/\\sigma_e^2` and computed from per-area sums.
    The EBLUP of the mean of area :math:`i` is
    :math:`\\bar X_i^\\top\\hat\\beta + \\hat\\gamma_i(\\bar y_i - \\bar x_i^\\top
    \\hat\\beta)`, :math:`\\gamma_i = \\sigma_v^2/(\\sigma_v^2 + \\sigma_e^2/n_i)`
    (the large-population form of R's ``sae::eblupBHF``), and
    :math:`\\bar X_i^\\top\\hat\\beta` for an area without sample. The bootstrap
    (Gonzalez-Manteiga et al. 2008) draws :math:`v^*_i`, :math:`e^*_{ij}` from
    the fitted model, takes :math:`\\bar X_i^\\top\\hat\\beta + v^*_i` as the true
    mean, refits, and averages the squared errors.

    With ``weights`` (You and Rao 2002; Rao and Molina 2015, sec. 7.6.2), with
    :math:`\\delta_{ij} = w_{ij}/\\sum_j w_{ij}`, the weighted area means
    :math:`\\bar y_{iw}, \\bar x_{iw}` and
    :math:`\\gamma_{iw} = \\sigma_v^2/(\\sigma_v^2 + \\sigma_e^2\\sum_j\\delta_{ij}^2)`,
    the coefficients solve
    :math:`\\sum_{ij} w_{ij}(x_{ij} - \\gamma_{iw}\\bar x_{iw})(y_{ij} - x_{ij}^\\top\\beta) = 0`
    and the estimate is :math:`\\gamma_{iw}\\bar y_{iw} + (\\bar X_i -
    \\gamma_{iw}\\bar x_{iw})^\\top\\tilde\\beta_w`; the variance components are
    the unweighted REML ones, ``coef_vcov`` is the model covariance of
    :math:`\\tilde\\beta_w`, and the bootstrap recomputes the pseudo-EBLUP.
    With equal weights within every area it is the EBLUP.

    References
    ----------
    .. [1] Rao, J. N. K. and Molina, I. (2015). *Small Area Estimation*, 2nd
       ed., Wiley, sections 7.1-7.2.

    Examples
    --------
    >>> import numpy as np, pandas as pd, innobaro as ib
    >>> rng = np.random.default_rng(1)
    >>> units = pd.DataFrame({"area": np.repeat(list("abcdef"), 5),
    ...                       "x": rng.normal(size=30)})
    >>> units["y"] = 1 + units["x"] + rng.normal(size=30)
    >>> means = pd.DataFrame({"x": [0.0] * 6}, index=list("abcdef"))
    >>> r = ib.battese_harter_fuller(units, "y ~ x", "area", means)
    >>> r.coefficients.round(3).tolist()
    [0.955, 0.799]
    """
    from .formula import model_frame

    if area not in data.columns:
        raise InnobaroError(f"area column {area!r} is not in the data")
    if bootstrap < 0:
        raise InnobaroError(f"bootstrap must be 0 or more, not {bootstrap}")
    frame = data.reset_index(drop=True)
    yv, X, spec, kept = model_frame(formula, frame, response=True)
    assert yv is not None
    area_values = frame[area].to_numpy()[kept]
    if pd.isna(area_values).any():
        raise InnobaroError(f"the area column {area!r} has missing values")
    columns = list(spec.column_names)
    if not isinstance(means, pd.DataFrame):
        raise InnobaroError("means must be a DataFrame indexed by area")
    need = [c for c in columns if c != "Intercept"]
    missing = [c for c in need if c not in means.columns]
    if missing:
        raise InnobaroError(f"means has no column for {missing}; it needs the population "
                            f"mean of every model-matrix column: {need}")
    Xbar = np.column_stack([np.ones(len(means)) if c == "Intercept"
                            else means[c].to_numpy(dtype=float) for c in columns])
    if np.isnan(Xbar).any():
        raise EstimationError(f"means are missing for areas "
                              f"{_names(means.index, np.isnan(Xbar).any(axis=1))}")
    codes, sampled_areas = pd.factorize(pd.Series(area_values), sort=True)
    unknown = [a for a in sampled_areas if a not in means.index]
    if unknown:
        raise EstimationError(f"means has no row for sampled areas {unknown[:10]}")
    m, N, p = len(sampled_areas), len(yv), X.shape[1]
    if m <= 1:
        raise EstimationError(f"the sample has {m} area: the area variance needs several")
    if N <= p + m - 1 or np.linalg.matrix_rank(X) < p:
        raise EstimationError(f"{N} rows in {m} areas cannot fit {p} coefficients "
                              f"({', '.join(columns)}) and two variance components")
    X = np.asarray(X, dtype=float)
    w = None
    if weights is not None:
        if weights not in frame.columns:
            raise InnobaroError(f"weights column {weights!r} is not in the data")
        w = frame[weights].to_numpy(dtype=float)[kept]
        bad = ~np.isfinite(w) | (w <= 0)
        if bad.any():
            raise InnobaroError(f"the weights column {weights!r} must be positive and finite; "
                                f"it is not in {int(bad.sum())} rows")
    s = _sums(X, yv[None, :], codes, m)
    lam = _fit_lambda(s, N)
    _, beta_b, rHr, inv = _profile(lam, s, N)
    sigma2_e = float(rHr[0] / (N - p))
    sigma2_v = float(lam[0] * sigma2_e)
    if w is None:
        beta = beta_b[0]
        gamma = lam[0] * s.n / (1 + lam[0] * s.n)
        v = gamma * (s.Sy[0] / s.n - (s.Sx / s.n[:, None]) @ beta)
        vcov = sigma2_e * inv[0]
    else:
        ws = _wsums(X, yv[None, :], w, codes)
        beta_w, gamma_w, v_w, M = _pseudo(lam, ws)
        beta, gamma, v = beta_w[0], gamma_w[0], v_w[0]
        vcov = _pseudo_vcov(M[0], gamma, ws, sigma2_v, sigma2_e)
    pos = means.index.get_indexer(sampled_areas)
    v_all = np.zeros(len(means))
    v_all[pos] = v
    gamma_all = np.zeros(len(means))
    gamma_all[pos] = gamma
    n_all = np.zeros(len(means))
    n_all[pos] = s.n
    synthetic = Xbar @ beta
    eblup = synthetic + v_all
    mse = np.full(len(means), np.nan)
    if bootstrap:
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        vstar = rng.normal(0.0, np.sqrt(sigma2_v), (bootstrap, len(means)))
        estar = rng.normal(0.0, np.sqrt(sigma2_e), (bootstrap, N))
        rows = pos[codes]
        Ystar = (X @ beta)[None, :] + vstar[:, rows] + estar
        sb = _sums(X, Ystar, codes, m)
        lam_b = _fit_lambda(sb, N)
        if w is None:
            _, beta_bs, _, _ = _profile(lam_b, sb, N)
            gam_b = lam_b[:, None] * s.n[None, :] / (1 + lam_b[:, None] * s.n[None, :])
            vb = gam_b * (sb.Sy / s.n[None, :]
                          - np.einsum("mp,bp->bm", s.Sx / s.n[:, None], beta_bs))
        else:
            beta_bs, _, vb, _ = _pseudo(lam_b, _wsums(X, Ystar, w, codes))
        est_b = np.einsum("ap,bp->ba", Xbar, beta_bs)
        est_b[:, pos] += vb
        true_b = synthetic[None, :] + vstar
        mse = np.mean((est_b - true_b) ** 2, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        cv = np.sqrt(mse) / np.abs(eblup)
    table = pd.DataFrame({"n": n_all, "sampled": n_all > 0, "shrinkage": gamma_all,
                          "eblup": eblup, "synthetic": synthetic, "mse": mse,
                          "rmse": np.sqrt(mse), "cv": cv}, index=means.index)
    return BHFResult(
        sigma2_v=sigma2_v, sigma2_e=sigma2_e,
        coefficients=pd.Series(beta, index=columns, name="coefficient"),
        coef_vcov=pd.DataFrame(vcov, index=columns, columns=columns),
        random_effects=pd.Series(v, index=pd.Index(sampled_areas, name=area),
                                 name="random_effect"),
        areas=table, bootstrap=int(bootstrap), weights=weights)


# ---------------------------------------------------------------------------
# The barometer's county table
# ---------------------------------------------------------------------------

def county_estimates(outcome: str = "innovated", *, design: SurveyDesign | None = None,
                     frame: pd.DataFrame | None = None, method: str = "REML",
                     transform: str | None = None, cv_review: float = CV_REVIEW,
                     cv_suppress: float = CV_SUPPRESS,
                     se: str = "linearized") -> pd.DataFrame:
    """County x sector shares of the barometer: direct and Fay-Herriot side by side.

    Parameters
    ----------
    outcome : str
        A 0/1 column of the respondents (default ``"innovated"``).
    design : Design, optional
        The respondents' design (default
        :func:`innobaro.datasets.barometer_design`).
    frame : pandas.DataFrame, optional
        The population of units with ``county``, ``sector``, ``centrality``
        and ``free_income`` (default
        :func:`innobaro.datasets.load_barometer_frame`).
    method : {"REML", "ML", "FH"}
        The variance component's estimator.
    transform : {None, "arcsine", "logit"}
        As in :func:`fay_herriot_fit`.
    cv_review, cv_suppress : float
        The CV rule of the model-based estimates.
    se : {"linearized", "bell-mccaffrey", "bell-mccaffrey-2"}, default "linearized"
        The direct shares' standard errors, in the table and as the model's
        sampling variances (:func:`fay_herriot`, :func:`innobaro.flags.flagged_shares`).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``county`` and ``sector`` (every cell of the frame):
        ``n``; the direct share with its ``direct_se``, ``direct_cv``, NCHS
        ``direct_flag`` and
        ``direct_reason`` (:func:`innobaro.flags.flagged_shares`); the model's
        ``eblup``, ``eblup_rmse``, ``eblup_cv``, ``shrinkage``, ``synthetic``,
        ``eblup_flag`` and ``eblup_reason`` (the CV rule of
        :meth:`FayHerriotResult.reliability`).

    Notes
    -----
    The model: the cell's direct share (:func:`innobaro.mean` by county x
    sector) on the sector and the cell's mean centrality and mean corrected
    free income over the units of the frame, by :func:`fay_herriot`.

    References
    ----------
    .. [1] Rao, J. N. K. and Molina, I. (2015). *Small Area Estimation*, 2nd
       ed., Wiley, chapter 6.

    Examples
    --------
    >>> from innobaro.sae import county_estimates
    >>> t = county_estimates()
    >>> len(t), list(t.columns[:4])
    (38, ['n', 'direct', 'direct_se', 'direct_cv'])
    """
    import warnings

    from .datasets import barometer_design, load_barometer_frame
    from .flags import flagged_shares

    design = barometer_design() if design is None else design
    frame = load_barometer_frame() if frame is None else frame
    cols = ["county", "sector"]
    cov = frame.groupby(cols, observed=True)[["centrality", "free_income"]].mean()
    fit = fay_herriot(design, outcome, cols, covariates=cov,
                      formula="~ C(sector) + centrality + free_income", method=method,
                      transform=transform, se=se)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InnobaroWarning)
        direct = flagged_shares(design, outcome, cols, se=se)
    direct.index = direct.index.set_names(cols)
    d = direct.reindex(fit.areas.index)
    rel = fit.reliability(cv_review=cv_review, cv_suppress=cv_suppress)
    return pd.DataFrame({
        "n": d["n"].fillna(0.0), "direct": d["share"], "direct_se": d["se"],
        "direct_cv": d["se"] / d["share"], "direct_flag": d["flag"].fillna("suppress"),
        "direct_reason": d["reason"].fillna("no sample"),
        "eblup": fit.eblup, "eblup_rmse": fit.areas["rmse"], "eblup_cv": rel["cv"],
        "shrinkage": fit.shrinkage, "synthetic": fit.synthetic,
        "eblup_flag": rel["flag"], "eblup_reason": rel["reason"]}, index=fit.areas.index)
