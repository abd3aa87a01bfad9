"""Survey-weighted generalised linear models with design-based inference.

:func:`glm` fits by iteratively reweighted least squares with the sampling
weights, as R's ``svyglm``: quasi-likelihood families, so binomial responses
may be proportions and weights need not be integers. The coefficients'
covariance is the design-based sandwich: the influence values of
:math:`\\hat\\beta`,

.. math::

    z_i = w_i\\, x_i \\frac{(y_i - \\mu_i)\\, \\mu'(\\eta_i)}{V(\\mu_i)}
          \\Big(\\sum_j w_j x_j x_j^\\top \\frac{\\mu'(\\eta_j)^2}{V(\\mu_j)}\\Big)^{-1},

go to the design's variance engine (Binder 1983); replicate designs refit the
model under every replicate weight (all replicates at once, warm-started at
the full-sample fit).

Convergence: innobaro iterates until the largest change of a coefficient is
below ``tol * (1 + |beta|)`` (default 1e-12), far tighter than R's default
``glm.control(epsilon=1e-8)``, whose coefficients and standard errors are off
by about 1e-5 relative; the reference numbers in ``tests/reference/glm.json``
were computed in R with ``glm.control(epsilon=1e-14, maxit=100)``.

References
----------
.. [1] Binder, D. A. (1983). On the variances of asymptotically normal
   estimators from complex surveys. *International Statistical Review* 51.
.. [2] Lumley, T. (2010). *Complex Surveys*, ch. 5-6.
.. [3] Korn, E. L. and Graubard, B. I. (1999). *Analysis of Health Surveys*,
   sec. 4.4 (predictive margins).
.. [4] Lumley, T. and Scott, A. J. (2014). Tests for regression models fitted
   to survey data. *Australian & New Zealand Journal of Statistics* 56, 1-14.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
from scipy import stats

from ._frames import as_frame
from ._linalg import RowWeights
from ._validate import check_iterations
from .design import ReplicateDesign, SurveyDesign, read_only
from .distributions import pfsum
from .errors import EstimationError, InnobaroWarning, warn
from .formula import ModelSpec, model_frame, same_term
from .irls import FAMILIES, Family, Fit, aliased, influence_rows, irls, working_pass
from .results import Estimate, TestContract, TestResult
from .variance import Influence, residual_df, small_sample, vcov_of

if TYPE_CHECKING:  # margins builds on models; models only calls into it
    from .margins import MarginalEffect, Margins

__all__ = ["GLMResult", "TermTest", "glm", "logit"]


def glm(formula: str, design: SurveyDesign, *, family: Any = "gaussian",
        link: str | None = None, variance: str | None = None, theta: float | None = None,
        offset: Any = None, start: Any = None, tol: float = 1e-12,
        max_iter: int = 100, se: str = "linearized", progress: Any = None) -> GLMResult:
    """Fit a survey-weighted generalised linear model.

    Parameters
    ----------
    formula : str
        A patsy formula over the design's data, e.g.
        ``"innovated ~ np.log(population) + C(centrality, Treatment('3'))"``.
        A term ``offset(expr)`` (R's spelling, e.g. ``offset(np.log(exposure))``)
        is an offset: added to the linear predictor with coefficient 1.
    design : Design or ReplicateDesign
        The design (or a domain of it, ``design.subset(...)``).
    family : str or statsmodels family, default "gaussian"
        R's family name: ``"gaussian"``, ``"binomial"``, ``"quasibinomial"``,
        ``"poisson"``, ``"quasipoisson"``, ``"Gamma"``,
        ``"inverse.gaussian"``, ``"negative.binomial"`` (with ``theta``) or
        ``"quasi"`` (with ``variance``); case does not matter
        (``"gamma"`` works). Every family is fitted as a quasi-likelihood
        (as R's ``svyglm``), so non-integer responses and weights are fine,
        and binomial and quasibinomial (poisson and quasipoisson) give the
        same fit. A statsmodels family object
        (``sm.families.Binomial(link=sm.families.links.Probit())``) is
        translated to the same family and link.
    link : str, optional
        R's link name: ``"identity"``, ``"log"``, ``"logit"``, ``"probit"``,
        ``"cauchit"``, ``"cloglog"``, ``"inverse"``, ``"1/mu^2"``, ``"sqrt"``;
        the family's canonical link by default.
    variance : str, optional
        For ``family="quasi"``: ``"constant"`` (default), ``"mu(1-mu)"``,
        ``"mu"``, ``"mu^2"`` or ``"mu^3"`` (R's ``quasi(variance=)``).
    theta : float, optional
        For ``family="negative.binomial"``: the known :math:`\\theta` of
        the variance :math:`\\mu + \\mu^2/\\theta` (R's
        ``MASS::negative.binomial(theta)``).
    offset : str or array-like, optional
        A column of the design's data, or one value per row of it, added to
        the linear predictor (R's ``offset=``); added to any ``offset()``
        terms of the formula. Rows where it is missing are left out.
    start : array-like, optional
        Starting coefficients, one per model column (R's ``start=``).
    tol : float, default 1e-12
        Convergence: largest coefficient change relative to ``1 + |beta|``.
    max_iter : int, default 100
    se : {"linearized", "bell-mccaffrey", "bell-mccaffrey-2"}, default "linearized"
        R's ``std.errors=`` (survey 4.5): the Bell-McCaffrey variants adjust
        the working residuals by the cluster leverages of the weighted
        working regression (CR2) and give Satterthwaite degrees of freedom,
        the smallest of which is the residual df (R's ``degf=TRUE``); see
        :mod:`innobaro.variance.small_sample`. Linearisation designs only.
        The result's ``influence`` holds the adjusted values, so predictions,
        predictive margins, marginal effects, contrasts and term tests built
        on the model carry the correction, with the residual df.
    progress : callable or "tqdm", optional
        On a replicate design, called as ``progress(done, total)`` after each
        block of replicate refits (``"tqdm"``: a tqdm progress bar, if tqdm
        is installed). The refits run in blocks of replicates, each IRLS
        iteration one pass over blocks of rows (:func:`innobaro.irls.irls_rows`;
        blocks of :func:`innobaro.irls.refit_rows_block` replicates), so their
        working memory is a few MB whatever the number of rows.

    Returns
    -------
    GLMResult

    Notes
    -----
    The coefficients solve the weighted quasi-score equations
    :math:`\\sum_i w_i x_i (y_i - \\mu_i)\\mu'(\\eta_i)/V(\\mu_i) = 0`,
    :math:`\\eta_i = x_i^\\top\\beta + \\text{offset}_i`, by iteratively
    reweighted least squares from R's starting means; a step that leaves the
    family's range (a log-binomial probability above 1) is halved, as R's
    ``glm.fit`` does, with a warning naming the family and link. Rows with a
    missing value in a model variable are left out of the fit (their count is
    in ``n_dropped`` and the summary) but stay in the design with weight
    zero, so the variance still reflects the full design. The residual
    degrees of freedom are R's: design degrees of freedom + 1 - p.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({"psu": range(8), "w": [1.0, 2, 1, 2, 1, 2, 1, 2],
    ...                    "x": [1.0, 2, 3, 4, 5, 6, 7, 8],
    ...                    "y": [1.2, 1.9, 3.2, 3.8, 5.1, 6.3, 6.8, 8.1]})
    >>> m = ib.glm("y ~ x", ib.Design(df, weights="w", psu="psu"))
    >>> m.params.round(4).tolist()
    [-0.0154, 1.0122]
    """
    fam = make_family(family, link=link, variance=variance, theta=theta)
    check_iterations(max_iter, tol)
    if not isinstance(design, SurveyDesign):
        raise TypeError(f"design must be an innobaro design, not {type(design).__name__}")
    rest, offsets = _split_offsets(formula)
    offset_all, parts, off_missing = _offset_values(offsets, offset, design.data)
    within = _model_rows(design)
    if offset_all is not None:
        within = within & np.isfinite(offset_all)
    # the model matrix of the rows in the design with positive weight that are
    # complete in the model variables (column-major); the rest stay in the
    # design with weight zero. As R's svyglm (subset = weights > 0), levels of
    # a factor are those among these rows
    y, X, spec, kept = model_frame(rest, design.data, response=True, within=within)
    assert y is not None
    if offset_all is not None:
        ok = np.isfinite(offset_all)
        if not ok.all():
            present = _model_rows(design)
            counted = {name: int((present & ~np.isfinite(v)).sum())
                       for name, v in off_missing.items()}
            spec = replace(spec, missing={**spec.missing,
                                          **{k: v for k, v in counted.items() if v}})
            kept = kept & ok
    spec = replace(spec, formula=formula)
    return _fit(formula, spec, design, y, X, kept, fam, tol, max_iter,
                offset_all=offset_all, offset_parts=parts, start=start,
                se=small_sample.check_se(se), progress=progress)


def make_family(family: Any, *, link: str | None = None, variance: str | None = None,
                theta: float | None = None) -> Family:
    """The :class:`~innobaro.irls.Family` of :func:`glm`'s arguments: R's
    family name with a link (and a variance for ``quasi``, a theta for
    ``negative.binomial``), an innobaro ``Family``, or a statsmodels family
    object (translated; statsmodels is not imported)."""
    if isinstance(family, Family):
        if link is not None or variance is not None or theta is not None:
            raise EstimationError("give link, variance and theta with a family name, not "
                                  "with a Family object")
        return family
    if isinstance(family, str):
        key = family.strip().lower()
        if key in ("logit", "logistic", "probit", "cloglog"):
            raise EstimationError(f"{family!r} is a link, not a family: write "
                                  f"family='binomial', link="
                                  f"{'logit' if key == 'logistic' else key!r}")
        return Family(family, link or "", variance or "", theta)
    if type(family).__module__.startswith("statsmodels"):
        if link is not None or variance is not None or theta is not None:
            raise EstimationError("a statsmodels family carries its own link; do not give "
                                  "link, variance or theta with it")
        return _from_statsmodels(family)
    raise EstimationError(f"family must be a family name ({', '.join(map(repr, FAMILIES))}) "
                          f"or a statsmodels family, not {type(family).__name__}")


_SM_FAMILIES = {"Gaussian": "gaussian", "Binomial": "binomial", "Poisson": "poisson",
                "Gamma": "Gamma", "InverseGaussian": "inverse.gaussian",
                "NegativeBinomial": "negative.binomial"}
_SM_LINKS = {"Identity": "identity", "Log": "log", "Logit": "logit", "Probit": "probit",
             "Cauchy": "cauchit", "CLogLog": "cloglog", "InversePower": "inverse",
             "InverseSquared": "1/mu^2", "Sqrt": "sqrt", "identity": "identity",
             "log": "log", "logit": "logit", "probit": "probit", "cauchy": "cauchit",
             "cloglog": "cloglog", "inverse_power": "inverse", "inverse_squared": "1/mu^2"}
_SM_POWERS = {1.0: "identity", -1.0: "inverse", -2.0: "1/mu^2", 0.5: "sqrt"}


def _from_statsmodels(family: Any) -> Family:
    """innobaro's family for a statsmodels family object, by its class names."""
    kind = type(family).__name__
    name = _SM_FAMILIES.get(kind)
    lk = getattr(family, "link", None)
    lname = type(lk).__name__
    link = _SM_LINKS.get(lname)
    if link is None and lname == "Power":
        link = _SM_POWERS.get(float(getattr(lk, "power", np.nan)))
    if name is None or link is None:
        raise EstimationError(f"statsmodels family {kind} with link {lname} has no R "
                              f"counterpart in innobaro; the families are "
                              f"{', '.join(_SM_FAMILIES)} with links "
                              f"{', '.join(sorted(set(_SM_LINKS) - set(_SM_LINKS.values())))}")
    theta = None
    if name == "negative.binomial":
        theta = 1.0 / float(family.alpha)  # variance mu + alpha mu^2
    return Family(name, link, "", theta)


def _split_offsets(formula: str) -> tuple[str, list[str]]:
    """``formula`` without its ``offset(...)`` terms, and their expressions."""
    if not isinstance(formula, str) or "offset(" not in formula.replace(" ", ""):
        return formula, []
    lhs, tilde, rhs = formula.partition("~")
    exprs: list[str] = []
    kept_terms: list[str] = []
    depth, start = 0, 0
    terms: list[str] = []
    for i, ch in enumerate(rhs):  # split the right-hand side at top-level '+'
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "+" and depth == 0:
            terms.append(rhs[start:i])
            start = i + 1
    terms.append(rhs[start:])
    for term in terms:
        t = term.strip()
        if t.startswith("offset(") and t.endswith(")"):
            exprs.append(t[len("offset("):-1].strip())
        else:
            kept_terms.append(t)
    if any("offset(" in t.replace(" ", "") for t in kept_terms):
        raise EstimationError(f"formula {formula!r}: offset() must be a term of its own on "
                              f"the right-hand side, as 'y ~ x + offset(np.log(n))'")
    body = " + ".join(t for t in kept_terms if t) or "1"
    return f"{lhs.rstrip()} {tilde} {body}", exprs


@dataclass(frozen=True)
class _OffsetPart:
    """One part of a model's offset: a formula term, a column or given values."""

    label: str
    spec: ModelSpec | None = None
    column: str | None = None
    values: pd.Series | None = None

    def on(self, data: pd.DataFrame, fitted: np.ndarray | None) -> np.ndarray:
        if self.spec is not None:
            return self.spec.matrix(data)[:, 0]
        if self.column is not None:
            if self.column not in data.columns:
                raise EstimationError(f"the new data have no offset column {self.column!r}")
            return _numeric_offset(data[self.column], repr(self.column))
        assert self.values is not None
        if fitted is None:
            raise EstimationError("the model's offset was given as values for the rows of "
                                  "the design; give predict(..., offset=...) for new data")
        return self.values.to_numpy(dtype=float)[fitted]


def _numeric_offset(values: Any, name: str) -> np.ndarray:
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise EstimationError(f"offset {name} must be numeric") from None


def _offset_values(exprs: list[str], offset: Any, data: pd.DataFrame
                   ) -> tuple[np.ndarray | None, list[_OffsetPart], dict[str, np.ndarray]]:
    """The offset over all rows of ``data`` (NaN where missing), its parts, and
    each part's values by name (for the missing-value counts)."""
    parts: list[_OffsetPart] = []
    values: dict[str, np.ndarray] = {}
    n = len(data)
    for expr in exprs:
        _, Xo, ospec, okept = model_frame(f"~ 0 + I({expr})", data, response=False)
        if Xo.shape[1] != 1:
            raise EstimationError(f"offset({expr}) must be one numeric column")
        v = np.full(n, np.nan)
        v[okept] = Xo[:, 0]
        label = f"offset({expr})"
        parts.append(_OffsetPart(label, spec=ospec))
        values[label] = v
    if offset is not None:
        if isinstance(offset, str):
            if offset not in data.columns:
                raise EstimationError(f"offset column {offset!r} is not in the data")
            v = _numeric_offset(data[offset], repr(offset))
            parts.append(_OffsetPart(offset, column=offset))
            values[offset] = v
        else:
            if isinstance(offset, pd.Series):
                offset = offset.reindex(data.index)
            v = _numeric_offset(offset, "values").reshape(-1)
            if v.size != n:
                raise EstimationError(f"offset has {v.size} values; the data have {n} rows")
            parts.append(_OffsetPart("offset", values=pd.Series(v, index=data.index)))
            values["offset"] = v
    if not parts:
        return None, [], {}
    total = np.sum(list(values.values()), axis=0)
    total[~np.isfinite(total)] = np.nan
    return total, parts, values


def fit_matrix(design: SurveyDesign, y: np.ndarray, X: np.ndarray, kept: np.ndarray,
               names: list[str], *, label: str, family: str = "gaussian",
               tol: float = 1e-12, max_iter: int = 100,
               se: str = "linearized") -> GLMResult:
    """:func:`glm` on a model matrix built by the caller (for tests that are
    regressions, such as :func:`~innobaro.ttest`).

    ``y`` and ``X`` hold the rows of the design that are in it with positive
    weight and in ``kept`` (a mask over all rows), in order; ``names`` name
    the columns; ``se`` is :func:`glm`'s.
    """
    spec = ModelSpec(formula=label, column_names=list(names),
                     term_columns={n: slice(j, j + 1) for j, n in enumerate(names)},
                     _design_info=None, _response_info=None)
    return _fit(label, spec, design, np.asarray(y, dtype=float),
                np.asfortranarray(X, dtype=float), kept, Family(family), tol, max_iter,
                se=small_sample.check_se(se))


def _fit(formula: str, spec: ModelSpec, design: SurveyDesign, y: np.ndarray, X: np.ndarray,
         kept: np.ndarray, fam: Family, tol: float, max_iter: int, *,
         offset_all: np.ndarray | None = None, offset_parts: Sequence[Any] = (),
         start: Any = None, se: str = "linearized", progress: Any = None) -> GLMResult:
    present = design.present
    n_dropped = int((present & ~kept).sum())
    fit_rows = _model_rows(design) & kept
    rows = np.flatnonzero(fit_rows)
    if rows.size == 0 and spec.missing:
        raise EstimationError(f"no complete rows for the model: missing values in "
                              f"{_counts(spec.missing)}")
    w = design.unmasked_weights[rows]
    off = None if offset_all is None else np.ascontiguousarray(offset_all[rows])
    _check_finite(y, X, spec)
    _check_response(y, w, fam, start is not None)
    # as R's glm.fit: aliased columns (all zero among the rows of the fit, or
    # linear combinations of earlier ones) are left out and reported as NaN
    alias = aliased(X, y, w, fam)
    keep = ~alias
    X_full = X
    names = [n for n, a in zip(spec.column_names, alias, strict=True) if not a]
    if alias.any():
        _warn_aliased(spec, alias)
        if not keep.any():
            raise EstimationError("every column of the model is zero among the rows of the "
                                  "fit; nothing can be estimated")
        X = np.asfortranarray(X[:, keep])
    beta0 = _start(start, X_full.shape[1], keep, spec)
    if beta0 is None and X.shape[0] > 200_000 and \
            not (fam.variance_name == "constant" and fam.link_name == "identity"):
        # a warm start from a systematic subsample saves full-data iterations
        sub = slice(None, None, X.shape[0] // 50_000)
        try:
            with warnings.catch_warnings():  # the full fit warns if it must
                warnings.simplefilter("ignore", InnobaroWarning)
                b0, _, ch0 = irls(X[sub], y[sub], w[sub, None], fam, beta0=None, tol=1e-6,
                                  max_iter=max_iter, offset=None if off is None else off[sub])
            beta0 = b0[:, 0] if ch0 >= 0 and np.isfinite(b0).all() else None
        except (np.linalg.LinAlgError, EstimationError):
            beta0 = None
    beta, it, change = irls(X, y, w[:, None], fam, beta0=beta0, tol=tol, max_iter=max_iter,
                            offset=off)
    beta = beta[:, 0]
    converged = change >= 0 and bool(np.isfinite(change))
    # R's cov.unscaled (unscaled weights) and the weighted score residuals at beta
    final = working_pass(X, y, w, fam, beta, None, residuals=True, offset=off)
    if not converged and not (final.n_extreme and np.isfinite(beta).all()):
        raise EstimationError(
            f"the model did not converge in {max_iter} iterations (last relative change "
            f"of a coefficient {abs(change):.3g}); check for separation, rescale "
            f"variables or raise max_iter")
    if final.n_extreme:
        # as R, a separated fit is returned with a warning, converged or not
        _check_separation(X, final.n_extreme, beta, names, spec,
                          stopped=None if converged else max_iter)
    A = np.linalg.inv(final.G)
    assert final.r is not None
    # influence values of beta, z_i = r_i x_i' A, for every row of the design
    z = influence_rows(X, A, final.r, rows, design.n)
    domain = np.full(design.n, -1, dtype=np.int64)
    domain[present] = 0
    fit = Fit(X=X, y=y, w=w, rows=rows, family=fam, beta=beta, keep=keep, tol=tol,
              max_iter=max_iter, offset=None if off is None else read_only(off))

    def refit(W: np.ndarray) -> np.ndarray:
        return fit.refit(W, progress=progress)[:, keep]

    def refit_factors(factors: Any) -> np.ndarray:  # replicates held as unit factors
        return fit.refit(factors.row_weights(), progress=progress)[:, keep]

    refit.from_factors = refit_factors  # type: ignore[attr-defined]

    infl = Influence(values=z, domain=domain, n_domains=1)
    working = None if se == "linearized" else small_sample.glm_working(
        X, y, w, fam, beta, off, rows, design.n)
    if working is not None:
        # the adjusted influence values are the model's: predictions, margins,
        # contrasts and term tests built on them carry the correction
        infl = small_sample.small_sample_influence(design, infl, working, se)
        z = infl.values
    V = vcov_of(design, beta, infl, refit)
    df_coef = None
    if working is None:
        df_resid = residual_df(design, kept, X.shape[1])
    else:  # R: df.residual the smallest Satterthwaite df, df.coef each coefficient's
        df_coef = small_sample.adjust(design, working, se).df.ravel()  # type: ignore[arg-type]
        df_resid = float(df_coef.min())
    return GLMResult(formula=formula, spec=spec, fit=fit, design=design, X=X_full, vcov=V,
                     df_resid=df_resid, A=A, n_dropped=n_dropped,
                     iterations=it, influence=z, offset_parts=list(offset_parts),
                     df_coef=df_coef)


def _start(start: Any, p: int, keep: np.ndarray, spec: ModelSpec) -> np.ndarray | None:
    """R's ``start=``: one coefficient per model column (aliased ones ignored)."""
    if start is None:
        return None
    try:
        b = np.asarray(start, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise EstimationError("start must be numbers, one per model column") from None
    if b.size != p or not np.isfinite(b).all():
        raise EstimationError(f"start must hold {p} finite numbers, one per model column "
                              f"({', '.join(spec.column_names)}); got {b.size}")
    return b[keep]


def _model_rows(design: SurveyDesign) -> np.ndarray:
    """The rows a model is fitted to: in the design, with positive weight."""
    return design.present & (design.unmasked_weights > 0)


def _warn_aliased(spec: ModelSpec, alias: np.ndarray) -> None:
    cols = [spec.column_names[j] for j in np.flatnonzero(alias)]
    warn(f"model column(s) {', '.join(map(repr, cols))} are aliased: all zero among the "
         f"rows of the fit (a level without rows) or linear combinations of the columns "
         f"before them. Their coefficients are not estimable and are NaN (R's svyglm gives "
         f"NA); the rest of the model is fitted without them")


def logit(formula: str, design: SurveyDesign, **kwargs: Any) -> GLMResult:
    """Survey-weighted logistic regression: :func:`glm` with ``family="binomial"``.

    Parameters
    ----------
    formula : str
        A patsy formula over the design's data with a 0/1 (or proportion)
        response, e.g. ``"innovated ~ C(sector) + np.log(employees)"``.
    design : Design or ReplicateDesign
        The design (or a domain of it, ``design.subset(...)``).
    **kwargs
        Passed to :func:`glm` (``tol``, ``max_iter``).

    Returns
    -------
    GLMResult

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({"psu": range(10), "w": [1.0, 2] * 5,
    ...                    "x": [1.0, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    ...                    "y": [0, 0, 1, 0, 1, 0, 1, 1, 1, 1]})
    >>> m = ib.logit("y ~ x", ib.Design(df, weights="w", psu="psu"))
    >>> m.odds_ratios().round(3).columns.tolist()
    ['odds_ratio', 'lower', 'upper']
    """
    return glm(formula, design, family="binomial", **kwargs)


def _counts(missing: dict[str, int]) -> str:
    return ", ".join(f"{name!r} ({count} row{'s' if count != 1 else ''})"
                     for name, count in missing.items())


def _check_finite(y: np.ndarray, X: np.ndarray, spec: ModelSpec) -> None:
    """Name the response or model columns with infinite values."""
    bad = []
    if not np.isfinite(y).all():
        bad.append("the response")
    finite = np.isfinite(X).all(axis=0)
    bad += [repr(spec.column_names[j]) for j in np.flatnonzero(~finite)]
    if bad:
        raise EstimationError(f"infinite values in {', '.join(bad)} among the rows of the "
                              f"fit (a log of zero?); recode them or set them missing")


def _check_response(y: np.ndarray, w: np.ndarray, fam: Family, has_start: bool) -> None:
    fam.check_response(y, has_start)
    if not (w > 0).any():
        raise EstimationError("no row with positive weight in the model")


def _check_separation(X: np.ndarray, n_extreme: int, beta: np.ndarray, names: list[str],
                      spec: ModelSpec, stopped: int | None) -> None:
    """Warn of separation: ``n_extreme`` rows have fitted probabilities of 0 or 1
    (``stopped``: the iterations after which a fit that ran away was stopped)."""
    # the terms whose coefficients drive the fitted probabilities to 0 or 1:
    # a column moves the linear predictor by |beta_j| times its range across
    # the rows (the intercept's range is zero, so a slope is named before it)
    swing = np.abs(beta) * (X.max(axis=0) - X.min(axis=0))
    if not swing.any():
        swing = np.abs(beta)
    big = swing > 10
    driving = [names[j] for j in np.flatnonzero(big)] or [names[int(np.argmax(swing))]]
    terms = [t for t, sl in spec.term_columns.items()
             if any(spec.column_names[j] in driving for j in range(sl.start, sl.stop))]
    warn(
        f"perfect or quasi-complete separation: {n_extreme} row(s) have fitted "
        f"probabilities of 0 or 1, driven by term {', '.join(map(repr, terms))}; its "
        f"coefficients and standard errors are not meaningful. Collapse levels or drop "
        f"the term" + ("" if stopped is None else
                       f". The coefficients ran off to infinity; the fit was stopped "
                       f"after {stopped} iterations"))


# ----------------------------------------------------------------------------
# results
# ----------------------------------------------------------------------------
class TermTest(TestContract):
    """A test that one or several model terms are zero (R's ``regTermTest``).

    Follows the test contract (:class:`~innobaro.results.TestContract`):
    ``statistic, pvalue = test`` unpacks it.

    Attributes
    ----------
    terms : list of str
    statistic : float
        F (``method="F"``), chi-square (``"chisq"``), or the working
        likelihood-ratio deviance difference (``"lrt"``) or working Wald
        statistic (``"working_wald"``).
    df : tuple of float
        ``(df_num, df_denom)``: the number of coefficients tested, and the
        denominator degrees of freedom (``inf`` for chi-square tests).
    pvalue : float
        Also ``p_value``.
    method : str
        ``"F"``, ``"chisq"``, ``"lrt"`` or ``"working_wald"``.
    title : str
        The test in words.
    lambdas : numpy.ndarray or None
        Generalised design effects (``"lrt"`` and ``"working_wald"``).

    Examples
    --------
    >>> import innobaro as ib
    >>> from innobaro.datasets import barometer_design
    >>> m = ib.logit("innovated ~ C(sector) + np.log(employees)", barometer_design())
    >>> t = m.wald_test("C(sector)")
    >>> round(t.statistic, 4), t.df
    (26.2147, (1.0, 1776.0))
    >>> stat, p = t
    """

    _TITLES: ClassVar[dict[str, str]] = {"F": "Wald F", "chisq": "Wald chi-square",
                                         "lrt": "Rao-Scott working likelihood ratio",
                                         "working_wald": "Rao-Scott working Wald"}

    def __init__(self, terms: list[str], statistic: float, df_num: float, df_denom: float,
                 pvalue: float, method: str, lambdas: np.ndarray | None = None) -> None:
        self.terms = list(terms)
        self.statistic = float(statistic)
        self.df_num = float(df_num)
        self.df_denom = float(df_denom)
        self.pvalue = float(pvalue)
        self.method = method
        self.title = f"{self._TITLES[method]} test"
        self.lambdas = lambdas

    def __repr__(self) -> str:
        ddf = "" if np.isinf(self.df_denom) else f", denominator df = {self.df_denom:g}"
        extra = ""
        if self.lambdas is not None:
            # R prints the deviance difference over the mean design effect
            extra = (f" (deviance difference / mean design effect = "
                     f"{self.statistic / np.mean(self.lambdas):.6g})")
        return (f"{self.title} for {' + '.join(self.terms)}: statistic = "
                f"{self.statistic:.6g}{extra}, df = {self.df_num:g}{ddf}, "
                f"p = {self.pvalue:.4g}")

    def to_frame(self) -> pd.DataFrame:
        """The test as a one-row DataFrame.

        Returns
        -------
        pandas.DataFrame
            ``statistic``, ``df_num``, ``df_denom``, ``pvalue`` and ``method``,
            indexed by the terms tested.

        Examples
        --------
        >>> import innobaro as ib
        >>> from innobaro.datasets import barometer_design
        >>> m = ib.logit("innovated ~ C(sector) + np.log(employees)", barometer_design())
        >>> m.wald_test("C(sector)").to_frame().columns.tolist()
        ['statistic', 'df_num', 'df_denom', 'pvalue', 'method']
        """
        return pd.DataFrame([self._frame_row()],
                            index=pd.Index([" + ".join(self.terms)], name="terms"))


class GLMResult:
    """A fitted survey GLM.

    Attributes
    ----------
    family : str
        R's family name (``"binomial"``, ``"quasipoisson"``, ``"Gamma"``, ...).
    link : str
        R's link name (``"logit"``, ``"probit"``, ``"log"``, ...).
    params, bse : pandas.Series
        Coefficients and design-based standard errors.
    vcov : pandas.DataFrame
        Design-based covariance of the coefficients.
    df_resid : float
        Design degrees of freedom + 1 - number of coefficients (R's
        ``svyglm``); t quantiles and p-values use it. Under
        ``se="bell-mccaffrey[-2]"`` the smallest Satterthwaite df of the
        coefficients (R's ``df.residual``).
    df_coef : pandas.Series or None
        Under ``se="bell-mccaffrey[-2]"``, each coefficient's Satterthwaite
        degrees of freedom (R's ``df.coef``), which its interval
        (:meth:`conf_int`, :meth:`odds_ratios`) uses as R's ``confint``
        does; None otherwise.
    n_dropped : int
        Rows of the design left out for missing values in model variables.


    Examples
    --------
    >>> import innobaro as ib
    >>> from innobaro.datasets import barometer_design
    >>> m = ib.logit("innovated ~ C(sector) + np.log(employees)", barometer_design())
    >>> m.params.round(3).tolist()
    [-0.221, -0.587, 0.477]
    """

    def __init__(self, *, formula: str, spec: ModelSpec, fit: Fit, design: SurveyDesign,
                 X: np.ndarray, vcov: np.ndarray, df_resid: float, A: np.ndarray,
                 n_dropped: int, iterations: int, influence: np.ndarray,
                 offset_parts: Sequence[Any] = (), df_coef: np.ndarray | None = None
                 ) -> None:
        self.formula = formula
        self.spec = spec
        self.family = fit.family.name
        self.link = fit.family.link_name
        self._offset_parts = list(offset_parts)
        self._fam = fit.family
        self._fit = fit
        self.design = design
        keep = fit.keep
        self._keep = keep
        p = keep.size
        both = np.ix_(keep, keep)
        # internally an aliased column has coefficient 0 (and no variance), so
        # predictions and margins use the estimable part; the public
        # coefficients, standard errors and covariance show NaN there
        self._beta = np.zeros(p)
        self._beta[keep] = fit.beta
        self._V = np.zeros((p, p))
        self._V[both] = vcov
        self._A = np.zeros((p, p))
        self._A[both] = A
        if keep.all():
            self._infl = influence
        else:
            self._infl = np.zeros((influence.shape[0], p))
            self._infl[:, keep] = influence
        self.df_resid = df_resid
        self._df_coef: np.ndarray | None = None
        if df_coef is not None:
            self._df_coef = np.full(p, np.nan)
            self._df_coef[keep] = df_coef
        self._X, self._y, self._w, self._rows = X, fit.y, fit.w, fit.rows
        self.n_dropped = n_dropped
        self.iterations = iterations
        self._names = pd.Index(spec.column_names, name="term")

    # ------------------------------------------------------------------ basics
    @property
    def params(self) -> pd.Series:
        """Estimated coefficients, indexed by patsy's column names (``NaN``
        for an aliased column)."""
        return pd.Series(self._masked(self._beta), index=self._names, name="coef")

    @property
    def bse(self) -> pd.Series:
        """Design-based standard errors of the coefficients."""
        return pd.Series(self._masked(np.sqrt(np.diag(self._V))), index=self._names, name="se")

    @property
    def vcov(self) -> pd.DataFrame:
        """Design-based covariance matrix of the coefficients."""
        V = self._V.copy()
        V[~self._keep] = np.nan
        V[:, ~self._keep] = np.nan
        return pd.DataFrame(V, index=self._names, columns=self._names)

    @property
    def aliased(self) -> pd.Series:
        """Whether each coefficient is aliased (not estimable; R's ``NA``)."""
        return pd.Series(~self._keep, index=self._names, name="aliased")

    @property
    def rank(self) -> int:
        """Number of estimable coefficients."""
        return int(self._keep.sum())

    # ------------------------------------------ the fit's arrays (advanced, read-only)
    @property
    def beta(self) -> np.ndarray:
        """The coefficients as an array, 0 (not NaN) for aliased columns, as
        predictions and margins use them (read-only)."""
        return read_only(self._beta)

    @property
    def beta_cov(self) -> np.ndarray:
        """The design-based covariance of :attr:`beta`, 0 (not NaN) in the rows
        and columns of aliased coefficients (read-only)."""
        return read_only(self._V)

    @property
    def influence(self) -> np.ndarray:
        """(n, p) influence values of the coefficients for every row of the
        design (zero for rows outside the fit), 0 for aliased columns (read-only)."""
        return read_only(self._infl)

    @property
    def model_matrix(self) -> np.ndarray:
        """(n_fit, p) model matrix of the rows in the fit, every column
        (aliased ones included), in the order of :attr:`fit_rows` (read-only)."""
        return read_only(self._X)

    @property
    def fit_rows(self) -> np.ndarray:
        """Positions in the design of the rows in the fit: the rows present
        and complete in the model's variables (read-only)."""
        return read_only(self._rows)

    @property
    def fit_weights(self) -> np.ndarray:
        """The weights of the rows in the fit, in the order of :attr:`fit_rows` (read-only)."""
        return read_only(self._w)

    @property
    def fit_offset(self) -> np.ndarray:
        """The offset of the rows in the fit, in the order of :attr:`fit_rows`
        (zeros without an offset; read-only)."""
        off = self._fit.offset
        return read_only(np.zeros(self._rows.size) if off is None else off)

    @property
    def has_offset(self) -> bool:
        """Whether the model has an offset (an ``offset()`` term or ``offset=``)."""
        return bool(self._offset_parts)

    def offset_for(self, data: pd.DataFrame, fitted_rows: bool = False) -> np.ndarray:
        """The model's offset for the rows of ``data`` (zeros without one).

        Parameters
        ----------
        data : pandas.DataFrame
            Rows with the variables of the offset (its ``offset()`` terms or
            column).
        fitted_rows : bool, default False
            ``data`` holds the rows of the fit, in the order of
            :attr:`fit_rows` (with some values changed, as margins do): an
            offset given as values is then taken from the fit; otherwise it
            cannot be evaluated (an error).

        Returns
        -------
        numpy.ndarray
            One value per row of ``data``.

        Examples
        --------
        >>> import pandas as pd
        >>> import innobaro as ib
        >>> df = pd.DataFrame({"psu": range(6), "n": [1.0, 2, 2, 4, 4, 8],
        ...                    "x": [0.0, 1, 0, 1, 0, 1], "y": [1.0, 3, 2, 6, 5, 14]})
        >>> m = ib.glm("y ~ x + offset(np.log(n))", ib.Design(df, psu="psu"),
        ...            family="poisson")
        >>> m.offset_for(pd.DataFrame({"n": [1.0, 10.0]})).round(4).tolist()
        [0.0, 2.3026]
        """
        if not self._offset_parts:
            return np.zeros(len(data))
        fitted = self._rows if fitted_rows else None
        if fitted is not None and len(data) != fitted.size:
            raise EstimationError("fitted_rows=True needs the rows of the fit")
        return np.sum([part.on(data, fitted) for part in self._offset_parts], axis=0)

    @property
    def family_functions(self) -> Family:
        """The family's link, variance and derivative functions
        (:class:`innobaro.irls.Family`; :attr:`family` is its name)."""
        return self._fam

    @property
    def coefficients(self) -> Estimate:
        """The coefficients as an :class:`~innobaro.Estimate` (estimate, se,
        covariance, residual degrees of freedom, Wald intervals), so that
        :func:`~innobaro.contrast` and :func:`~innobaro.compare_surveys` take
        a model as they take a mean.

        Returns
        -------
        Estimate
            Indexed by term; ``NaN`` for aliased coefficients.

        Examples
        --------
        >>> import innobaro as ib
        >>> from innobaro.datasets import barometer_design
        >>> m = ib.logit("innovated ~ C(sector) + np.log(employees)", barometer_design())
        >>> m.coefficients.ci().equals(m.conf_int())
        True
        """
        df = np.full(self._keep.size, float(self.df_resid)) if self._df_coef is None \
            else self._df_coef
        return Estimate(self._masked(self._beta), self.vcov.to_numpy(), self._names,
                        df=df, kind="coefficient")

    @property
    def df_coef(self) -> pd.Series | None:
        """Each coefficient's Satterthwaite degrees of freedom under a
        Bell-McCaffrey ``se=`` (R's ``df.coef``), else None."""
        if self._df_coef is None:
            return None
        return pd.Series(self._df_coef, index=self._names, name="df")

    # the estimate contract, on the coefficients
    @property
    def estimate(self) -> pd.Series:
        """The coefficients (:attr:`params`)."""
        return self.params

    @property
    def se(self) -> pd.Series:
        """Their standard errors (:attr:`bse`)."""
        return self.bse

    @property
    def df(self) -> float:
        """The residual degrees of freedom of t intervals and tests (:attr:`df_resid`)."""
        return float(self.df_resid)

    level = 0.95
    interval_method = "wald"

    def ci(self, level: float | None = None, df: float | None = None) -> pd.DataFrame:
        """Wald intervals of the coefficients (:meth:`conf_int`, with ``df`` as
        :meth:`Estimate.ci`).

        Parameters
        ----------
        level : float, optional
            Confidence level, 0.95 by default.
        df : float, optional
            Degrees of freedom of the t quantile; :attr:`df_resid` by default.

        Returns
        -------
        pandas.DataFrame
            ``lower`` and ``upper`` by term.

        Examples
        --------
        >>> import innobaro as ib
        >>> from innobaro.datasets import barometer_design
        >>> m = ib.logit("innovated ~ C(sector) + np.log(employees)", barometer_design())
        >>> m.ci().equals(m.conf_int())
        True
        """
        return self.coefficients.ci(level, df)

    def to_frame(self) -> pd.DataFrame:
        """The coefficients as a DataFrame: estimate, se, lower, upper, df, cv.

        Returns
        -------
        pandas.DataFrame
            One row per term.

        Examples
        --------
        >>> import innobaro as ib
        >>> from innobaro.datasets import barometer_design
        >>> m = ib.logit("innovated ~ C(sector) + np.log(employees)", barometer_design())
        >>> m.to_frame().columns.tolist()[:4]
        ['estimate', 'se', 'lower', 'upper']
        """
        return self.coefficients.to_frame()

    def _masked(self, values: np.ndarray) -> np.ndarray:
        return np.where(self._keep, values, np.nan)

    def refit(self, weights: np.ndarray | RowWeights, *, progress: Any = None) -> np.ndarray:
        """Refit the model under each column of ``weights``.

        The one entry point for refits under replicate weights (the model's
        replicate variance, predictive margins, marginal effects): the same
        rows, the same aliased columns, the model's own ``tol`` and
        ``max_iter``, warm-started at this fit.

        Parameters
        ----------
        weights : numpy.ndarray or innobaro._linalg.RowWeights
            (n, R): one weight per row of the design and refit; or the same
            read a block of rows at a time (advanced: replicates held as unit
            factors, :meth:`~innobaro.design.ReplicateFactors.row_weights`).
        progress : callable or "tqdm", optional
            Called as ``progress(done, total)`` after each block of refits
            (:func:`innobaro.irls.refit_rows_block`, or
            :func:`innobaro.irls.refit_block` for families whose steps are
            halved); ``"tqdm"``: a tqdm bar.

        Returns
        -------
        numpy.ndarray
            (R, p) coefficients, 0 for aliased columns; a row of ``NaN`` for
            a refit that cannot estimate the model (a factor level without
            rows of positive weight in it).

        Examples
        --------
        >>> import numpy as np
        >>> import pandas as pd
        >>> import innobaro as ib
        >>> df = pd.DataFrame({"psu": range(6), "x": [1.0, 2, 3, 4, 5, 6],
        ...                    "y": [1.1, 2.3, 2.8, 4.2, 4.9, 6.1]})
        >>> m = ib.glm("y ~ x", ib.Design(df, psu="psu"))
        >>> W = np.ones((6, 2))
        >>> W[0, 1] = 0.0  # the second refit leaves out the first row
        >>> m.refit(W).round(3).tolist()
        [[0.147, 0.977], [0.18, 0.97]]
        """
        if isinstance(weights, RowWeights):  # replicates read a block of rows at a time
            return self._fit.refit(weights, progress=progress)
        return self._fit.refit(np.asarray(weights, dtype=float), progress=progress)

    @property
    def nobs(self) -> int:
        """Rows in the fit with positive weight."""
        return int((self._w > 0).sum())

    @property
    def tvalues(self) -> pd.Series:
        """Coefficients over their standard errors."""
        return pd.Series(self._masked(self._beta) / self.bse.to_numpy(), index=self._names,
                         name="t")

    @property
    def pvalues(self) -> pd.Series:
        """Two-sided p-values of the t statistics on the residual degrees of freedom."""
        t = np.abs(self.tvalues.to_numpy())
        if self.df_resid > 0:
            p = 2 * stats.t.sf(t, self.df_resid)
        else:
            p = np.full(t.shape, np.nan)
        return pd.Series(p, index=self._names, name="pvalue")

    def conf_int(self, level: float | None = None) -> pd.DataFrame:
        """Wald intervals with t quantiles on ``df_resid`` (R's ``confint.svyglm``),
        or on each coefficient's :attr:`df_coef` under a Bell-McCaffrey ``se=``.

        Parameters
        ----------
        level : float, default 0.95
            Confidence level.

        Returns
        -------
        pandas.DataFrame
            Columns ``lower`` and ``upper``, one row per coefficient.

        Examples
        --------
        >>> import innobaro as ib
        >>> from innobaro.datasets import barometer_design
        >>> m = ib.logit("innovated ~ C(sector) + np.log(employees)", barometer_design())
        >>> m.conf_int().round(3).values.tolist()
        [[-0.725, 0.283], [-0.812, -0.362], [0.332, 0.623]]
        """
        return self.coefficients.ci(level)

    def odds_ratios(self, level: float = 0.95) -> pd.DataFrame:
        """exp(coefficients) with exp(interval) — odds ratios for a logistic model.

        Parameters
        ----------
        level : float, default 0.95
            Confidence level.

        Returns
        -------
        pandas.DataFrame
            Columns ``odds_ratio``, ``lower`` and ``upper``, one row per
            coefficient.

        Examples
        --------
        >>> import innobaro as ib
        >>> from innobaro.datasets import barometer_design
        >>> m = ib.logit("innovated ~ C(sector) + np.log(employees)", barometer_design())
        >>> m.odds_ratios().round(3).values.tolist()
        [[0.802, 0.484, 1.327], [0.556, 0.444, 0.696], [1.612, 1.394, 1.864]]
        """
        if not (self._fam.is_binomial and self.link == "logit"):
            raise EstimationError(f"odds ratios are for logistic models (binomial family, "
                                  f"logit link); this is {self._fam.label}")
        ci = self.conf_int(level)
        return pd.DataFrame({"odds_ratio": np.exp(self._masked(self._beta)),
                             "lower": np.exp(ci["lower"]), "upper": np.exp(ci["upper"])},
                            index=self._names)

    # ------------------------------------------------------------------ fit statistics
    @property
    def _w_scale(self) -> float:
        """R's svyglm fits with weights divided by their mean over the design's rows
        (rows later dropped for missing values included)."""
        w_all = self.design.weight_values[self.design.present]
        return float(w_all.mean())

    def _deviance(self, mu: np.ndarray) -> float:
        """Deviance on the weights rescaled as R's svyglm rescales them."""
        wr = self._w / self._w_scale
        return float(np.sum(wr * self._fam.deviance_residuals(self._y, mu)))

    def _fitted(self) -> np.ndarray:
        return self._fam.inverse_link(self._X @ self._beta + self.fit_offset)

    @property
    def deviance(self) -> float:
        """Deviance of the fit on weights rescaled to mean one (R's ``deviance``)."""
        return self._deviance(self._fitted())

    @property
    def null_deviance(self) -> float:
        """Deviance of the intercept-only fit (with the offset; without an
        intercept, of the offset alone), on the same weights, as R's
        ``null.deviance``."""
        off = self._fit.offset
        if "Intercept" not in self.spec.column_names:
            return self._deviance(self._fam.inverse_link(self.fit_offset.copy()))
        if off is None:
            ybar = np.sum(self._w * self._y) / np.sum(self._w)
            return self._deviance(np.full_like(self._y, ybar))
        one = np.ones((self._y.size, 1), order="F")
        b, _, _ = irls(one, self._y, self._w[:, None], self._fam, beta0=None,
                       tol=self._fit.tol, max_iter=self._fit.max_iter, offset=off)
        return self._deviance(self._fam.inverse_link(b[0, 0] + off))

    @property
    def dispersion(self) -> float:
        r"""The dispersion R's ``summary.svyglm`` prints: the design-based
        variance (``svyvar``) of the Pearson residuals,
        :math:`\frac{n}{n-1}\sum_i w_i (r_i - \bar r)^2 / \sum_i w_i`,
        :math:`r_i = (y_i - \mu_i)/\sqrt{V(\mu_i)}` (times
        :math:`\sqrt{\bar w_{\rm fit} / \bar w}` when rows were dropped for
        missing values, as R's weights are). It is reported, not used: the
        standard errors are design-based, for every family (so binomial and
        quasibinomial give the same numbers).

        Returns
        -------
        float

        Examples
        --------
        >>> import innobaro as ib
        >>> from innobaro.datasets import barometer_design
        >>> m = ib.logit("innovated ~ C(sector) + np.log(employees)", barometer_design())
        >>> round(m.dispersion, 4)
        0.9939
        """
        mu = self._fitted()
        w = self._w
        # R's prior weights are w / mean(w over the design) and the Pearson
        # residuals carry sqrt(prior / (w / mean(w over the fitted rows)))
        present = self.design.present
        fitted_mean = float(w.sum() / max(int(present.sum()) - self.n_dropped, 1))
        r = (self._y - mu) * np.sqrt(fitted_mean / self._w_scale) \
            / np.sqrt(self._fam.variance(mu))
        n = int((w != 0).sum())
        rbar = np.sum(w * r) / np.sum(w)
        return float(n / (n - 1) * np.sum(w * (r - rbar) ** 2) / np.sum(w))

    @property
    def naive_cov(self) -> np.ndarray:
        """Model-based (unscaled) covariance on the rescaled weights (R's ``naive.cov``)."""
        A = self._A * self._w_scale
        A[~self._keep] = np.nan
        A[:, ~self._keep] = np.nan
        return A

    @property
    def deff(self) -> pd.Series:
        r"""Design effects of the coefficients, as R's ``svyglm(..., deff=TRUE)``.

        The design-based variance of each coefficient over its model-based
        variance from an ordinary GLM on the weights rescaled to mean one:
        :math:`\mathrm{deff}_j = V_{jj} / (\hat\phi\, (V_0)_{jj})`, with
        :math:`V_0` the unscaled model-based covariance (:attr:`naive_cov`)
        and :math:`\hat\phi` the GLM's dispersion (1 for binomial and poisson,
        else Pearson's :math:`\sum_i w_i (y_i-\mu_i)^2/V(\mu_i)` over
        :math:`n - p`). For an unweighted model this is the squared ratio of the
        design-based to the ordinary ``glm`` standard error, as R's
        ``tests/defftest.R`` checks (Lumley 2010, sec. 5.2).

        Returns
        -------
        pandas.Series
            One design effect per coefficient (``NaN`` for an aliased column).

        Examples
        --------
        >>> import innobaro as ib
        >>> from innobaro.datasets import barometer_design
        >>> m = ib.logit("innovated ~ C(sector) + np.log(employees)", barometer_design())
        >>> m.deff.round(3).tolist()
        [1.062, 1.081, 0.934]
        """
        phi = 1.0
        if self._fam.name not in ("binomial", "poisson"):
            mu = self._fitted()
            wr = self._w / self._w_scale
            pos = wr > 0
            pearson = float(np.sum(wr[pos] * (self._y[pos] - mu[pos]) ** 2
                                   / self._fam.variance(mu[pos])))
            phi = pearson / (int(pos.sum()) - self.rank)
        v0 = np.diag(self.naive_cov) * phi
        return pd.Series(self._masked(np.diag(self._V)) / v0, index=self._names,
                         name="deff")

    def anova(self, other: GLMResult, method: str = "LRT", test: str = "F") -> TermTest:
        """Test this model against a nested one (R's ``anova.svyglm``); see :func:`anova`.

        Parameters
        ----------
        other : GLMResult
            The other model, smaller or bigger, on the same design and rows.
        method : {"LRT", "Wald"}, default "LRT"
            The Rao-Scott working likelihood ratio test or the Wald test.
        test : {"F", "Chisq"}, default "F"
            Refer to an F-type distribution on the bigger model's residual
            degrees of freedom, or to a chi-square-type one.

        Returns
        -------
        TermTest

        Examples
        --------
        >>> import innobaro as ib
        >>> from innobaro.datasets import barometer_design
        >>> d = barometer_design()
        >>> small = ib.logit("innovated ~ np.log(employees)", d)
        >>> big = ib.logit("innovated ~ C(sector) + np.log(employees)", d)
        >>> round(big.anova(small, method="Wald").statistic, 4)
        26.2147
        """
        return anova(self, other, method=method, test=test)

    def pseudo_r2(self, method: str = "Nagelkerke") -> float:
        r"""Pseudo-R-squared of a binomial or poisson model, as R's ``psrsq``.

        With deviances :math:`D` and :math:`D_0` (model and intercept-only) on
        weights rescaled to mean one, which add up to :math:`n`,
        Cox-Snell is :math:`1 - \exp((D - D_0)/n)` and Nagelkerke divides it
        by its maximum :math:`1 - \exp(-D_0/n)` (Lumley 2017).

        Parameters
        ----------
        method : {"Nagelkerke", "Cox-Snell"}, default "Nagelkerke"
            Which pseudo-R-squared.

        Returns
        -------
        float

        Examples
        --------
        >>> import innobaro as ib
        >>> from innobaro.datasets import barometer_design
        >>> m = ib.logit("innovated ~ C(sector) + np.log(employees)", barometer_design())
        >>> round(m.pseudo_r2("Nagelkerke"), 4)
        0.0505
        """
        if self._fam.variance_name not in ("mu(1-mu)", "mu"):
            raise EstimationError(f"pseudo R-squared is for binomial and poisson models; "
                                  f"this is {self._fam.label}")
        n = float(np.sum(self._w / self._w_scale))  # R: sum of the prior weights
        cs = 1 - np.exp((self.deviance - self.null_deviance) / n)
        key = method.lower().replace("-", "").replace("_", "").replace(" ", "")
        if key == "coxsnell":
            return float(cs)
        if key == "nagelkerke":
            return float(cs / (1 - np.exp(-self.null_deviance / n)))
        raise EstimationError("method must be 'Cox-Snell' or 'Nagelkerke'")

    def aic(self) -> pd.Series:
        r"""Design-based AIC (Lumley and Scott 2015), as R's ``AIC.svyglm``.

        ``eff_p`` is the sum of the generalised design effects :math:`\lambda`
        of all non-intercept coefficients (the eigenvalues of
        :math:`V_0^{-1}V`), ``AIC`` is the deviance (weights rescaled to mean
        one) plus ``2 eff_p``, and ``deltabar`` the mean of :math:`\lambda`.

        Returns
        -------
        pandas.Series
            ``eff_p``, ``AIC`` and ``deltabar``.

        Examples
        --------
        >>> import innobaro as ib
        >>> from innobaro.datasets import barometer_design
        >>> m = ib.logit("innovated ~ C(sector) + np.log(employees)", barometer_design())
        >>> m.aic().round(2).tolist()
        [2.05, 1994.46, 1.02]
        """
        idx = np.array([j for j, name in enumerate(self.spec.column_names)
                        if name != "Intercept" and self._keep[j]], dtype=int)
        if idx.size == 0:
            return pd.Series({"eff_p": 0.0, "AIC": self.deviance, "deltabar": np.nan})
        V0 = self.naive_cov[np.ix_(idx, idx)]
        lam = np.linalg.eigvals(np.linalg.solve(V0, self._V[np.ix_(idx, idx)])).real
        return pd.Series({"eff_p": float(lam.sum()), "AIC": self.deviance + 2 * lam.sum(),
                          "deltabar": float(lam.mean())})

    # ------------------------------------------------------------------ prediction
    def predict(self, newdata: pd.DataFrame | None = None, type: str = "response",
                se: bool = False, offset: Any = None,
                total: float | None = None) -> pd.Series | pd.DataFrame:
        """Predictions with design-based standard errors.

        The linear predictor includes the model's offset (evaluated on
        ``newdata``), as R's ``predict.glm`` does; R's ``predict.svyglm``
        leaves it out.

        Parameters
        ----------
        newdata : DataFrame, optional
            Rows to predict for (pandas, polars, pyarrow, ... as a design's
            data); the model's data by default.
        type : {"response", "link"}, default "response"
            Predict the mean or the linear predictor.
        se : bool, default False
            Also return standard errors: :math:`\\sqrt{x^\\top V x}` on the
            link scale, times :math:`|\\mu'(\\eta)|` on the response scale.
        offset : array-like, optional
            The offset of the rows predicted for, instead of the model's
            offset evaluated on ``newdata`` (needed when the model's offset
            was given as values).
        total : float, optional
            A population size: the intercept column is multiplied by it, as
            R's ``predict.svyglm(total=)``, so that with ``newdata`` holding
            population totals of the covariates the linear predictor is the
            regression estimator of the outcome's total (:math:`N\\beta_0 +
            \\sum_j t_{x_j}\\beta_j`, Lumley 2010, sec. 7.1). Without an
            intercept it changes nothing (as in R): the prediction on totals
            is then already a total, e.g. the ratio estimator.

        Returns
        -------
        pandas.Series or pandas.DataFrame
            The predictions (``fit``), indexed as the rows predicted for; with
            ``se=True``, a DataFrame with columns ``fit`` and ``se``.

        Examples
        --------
        >>> import innobaro as ib
        >>> from innobaro.datasets import barometer_design
        >>> m = ib.logit("innovated ~ C(sector) + np.log(employees)", barometer_design())
        >>> import pandas as pd
        >>> new = pd.DataFrame({"sector": ["education", "health_care"], "employees": [20, 20]})
        >>> m.predict(new, se=True).round(4).values.tolist()
        [[0.7702, 0.0154], [0.6507, 0.0181]]
        """
        if type not in ("response", "link"):
            raise EstimationError("type must be 'response' or 'link'")
        if newdata is None:
            X = self._X
            index = self.design.data.index[self._rows]
            off = self.fit_offset if offset is None else offset
        else:
            newdata = as_frame(newdata, "newdata")  # polars, pyarrow: read column by column
            X = self.spec.matrix(newdata)
            index = newdata.index
            off = self.offset_for(newdata) if offset is None else offset
        return linear_prediction(self.spec, X, self._beta, self._V, self._fam, off, index,
                                 type=type, se=se, total=total)

    # ------------------------------------------------------------------ tests
    def _term_index(self, terms: str | Sequence[str]) -> tuple[list[str], np.ndarray]:
        return self.spec.columns_of(terms)

    def wald_test(self, terms: str | Sequence[str], method: str = "F",
                  df: float | None = None) -> TermTest:
        """Test that the coefficients of one or several terms are all zero.

        As R's ``regTermTest``: ``method="F"`` gives :math:`F = \\beta^\\top
        V^{-1}\\beta / k` on (k, ``df``) degrees of freedom, ``df`` defaulting
        to the residual degrees of freedom; ``"chisq"`` the Wald chi-square on
        k; ``"lrt"`` the Rao-Scott working likelihood ratio (the weighted
        deviance difference of the model without the terms), referred to the
        distribution of :math:`\\sum_j \\lambda_j \\chi^2_1` (divided by
        :math:`\\chi^2_{df}/df`), :math:`\\lambda` the eigenvalues of
        :math:`V_0^{-1} V`, by the saddlepoint approximation (Lumley and Scott
        2014).

        Parameters
        ----------
        terms : str or list of str
            Model terms as in the formula (``"C(sector)"``, ``"x:z"``; ``"x"``
            also finds ``"C(x)"``).
        method : {"F", "chisq", "lrt", "working_wald"}, default "F"
            The test; ``"working_wald"`` is the Rao-Scott working Wald test.
        df : float, optional
            Denominator degrees of freedom; the residual degrees of freedom by
            default.

        Returns
        -------
        TermTest

        Examples
        --------
        >>> import innobaro as ib
        >>> from innobaro.datasets import barometer_design
        >>> m = ib.logit("innovated ~ C(sector) + np.log(employees)", barometer_design())
        >>> m.wald_test("C(sector)")
        Wald F test for C(sector): statistic = 26.2147, df = 1, denominator df = 1776, p = 3.386e-07
        """
        names, idx = self._term_index(terms)
        idx = idx[self._keep[idx]]  # aliased coefficients are not tested (not estimable)
        if idx.size == 0:
            raise EstimationError(f"every coefficient of {' + '.join(names)} is aliased; "
                                  f"there is nothing to test")
        beta = self._beta[idx]
        V = self._V[np.ix_(idx, idx)]
        k = idx.size
        ddf = self.df_resid if df is None else float(df)
        if method in ("F", "chisq"):
            return wald_term_test(names, beta, V, ddf, method)
        if method in ("lrt", "working_wald"):
            V0 = self.naive_cov[np.ix_(idx, idx)]
            lam = np.sort(np.linalg.eigvals(np.linalg.solve(V0, V)).real)[::-1]
            if method == "working_wald":
                chisq = float(beta @ np.linalg.solve(V0, beta))
                return TermTest(names, chisq, k, ddf, float(pfsum(chisq, lam, ddf)),
                                "working_wald", lambdas=lam)
            keep = np.setdiff1d(np.flatnonzero(self._keep), idx)
            X0 = self._X[:, keep]
            b0, _, _ = irls(X0, self._y, self._w[:, None], self._fam, beta0=None,
                            tol=self._fit.tol, max_iter=self._fit.max_iter,
                            offset=self._fit.offset)
            dev0 = self._deviance(self._fam.inverse_link(X0 @ b0[:, 0] + self.fit_offset))
            chisq = dev0 - self.deviance
            p = pfsum(chisq, lam, ddf) if np.isfinite(ddf) else pfsum(chisq, lam, np.inf)
            return TermTest(names, float(chisq), k, ddf, float(p), "lrt", lambdas=lam)
        raise EstimationError("method must be 'F', 'chisq', 'lrt' or 'working_wald'")

    def archer_lemeshow(self, groups: int = 10) -> TestResult:
        r"""Archer-Lemeshow goodness-of-fit F test of a logistic model (Stata's ``estat gof``).

        The F-adjusted mean residual test of Archer and Lemeshow (2006): the
        rows of the fit are put into ``groups`` groups by deciles of risk,
        cut at the weighted quantiles of the fitted probabilities
        :math:`\hat\pi_i` so that each group holds about ``1/groups`` of the
        estimated population; the residuals are :math:`r_i = y_i - \hat\pi_i`
        and :math:`\hat M_k = \sum_{i\in k} w_i r_i / \sum_{i\in k} w_i` their
        weighted mean in group :math:`k`. With :math:`\hat V` the design-based
        covariance of :math:`\hat M` (the fitted probabilities held fixed:
        linearisation of the ratio means, or their replicates), the Wald
        statistic :math:`W = \hat M^\top \hat V^{-1} \hat M` is F-adjusted as

        .. math:: F = \frac{(f - g + 2)\, W}{f\,(g - 1)} \sim F_{g-1,\, f-g+2},

        :math:`g` the number of groups and :math:`f` the design degrees of
        freedom of the rows of the fit (PSUs minus strata). A small p-value
        says the model's probabilities miss the observed shares in some
        range of risk.

        Parameters
        ----------
        groups : int, default 10
            Number of groups (deciles of risk by default). Groups that tied
            fitted probabilities leave empty are dropped, with a warning.

        Returns
        -------
        TestResult
            ``statistic`` F on ``df`` = (g - 1, f - g + 2); ``details`` holds
            the Wald statistic ``wald``, the design degrees of freedom ``f``
            and a DataFrame ``table`` with each group's weighted size,
            observed and expected share and mean residual.

        Raises
        ------
        EstimationError
            If the model is not binomial, ``groups`` is below 2, or the
            design has too few degrees of freedom (:math:`f \le g - 2`).

        References
        ----------
        Archer, K. J. and Lemeshow, S. (2006). Goodness-of-fit test for a
        logistic regression model fitted using survey sample data. *The Stata
        Journal* 6(1), 97-105.

        Examples
        --------
        >>> import innobaro as ib
        >>> from innobaro.datasets import barometer_design
        >>> m = ib.logit("innovated ~ C(sector) + np.log(employees)", barometer_design())
        >>> t = m.archer_lemeshow()
        >>> t.df
        (9.0, 1770.0)
        """
        if self._fam.variance_name != "mu(1-mu)":
            raise EstimationError(f"the Archer-Lemeshow test is for binomial (logistic) "
                                  f"models; this is {self._fam.label}")
        g = int(groups)
        if g < 2:
            raise EstimationError(f"groups must be at least 2, not {groups!r}")
        mu = self._fitted()
        w = self._w
        resid = self._y - mu
        order = np.argsort(mu, kind="stable")
        share = np.cumsum(w[order]) / w.sum()
        # the cut after group k: the smallest fitted probability at which the
        # cumulative weight share reaches k/g (weighted deciles of risk)
        at = np.searchsorted(share, np.arange(1, g) / g * (1 - 1e-12), side="left")
        cuts = mu[order][np.minimum(at, mu.size - 1)]
        grp = np.searchsorted(cuts, mu, side="left")
        size = np.bincount(grp, weights=w, minlength=g)
        used = np.flatnonzero(size > 0)
        if used.size < g:
            warn(f"Archer-Lemeshow test: tied fitted probabilities leave "
                 f"{g - used.size} of {g} groups empty; the test uses {used.size} groups")
            grp = np.searchsorted(used, grp)
            g = used.size
            size = size[used]
            if g < 2:
                raise EstimationError("Archer-Lemeshow test: every row has the same fitted "
                                      "probability; there is only one group")
        M = np.bincount(grp, weights=w * resid, minlength=g) / size
        rows = self._rows
        design = self.design
        z = np.zeros((design.n, g))
        z[rows, grp] = w * (resid - M[grp]) / size[grp]
        domain = np.full(design.n, -1, dtype=np.int64)
        domain[rows] = 0
        onehot = np.zeros((rows.size, g))
        onehot[np.arange(rows.size), grp] = 1.0

        def replicates(W: np.ndarray) -> np.ndarray:
            Wr = W[rows]
            return (Wr.T @ (onehot * resid[:, None])) / (Wr.T @ onehot)

        V = vcov_of(design, M, Influence(values=z, domain=domain, n_domains=1), replicates)
        wald = float(M @ np.linalg.lstsq(V, M, rcond=None)[0])
        f = float(self.df_resid + self.rank - 1)
        if not f > g - 2:
            raise EstimationError(f"Archer-Lemeshow test: the design has {f:g} degrees of "
                                  f"freedom, too few for {g} groups (needs more than {g - 2})")
        F = (f - g + 2) * wald / (f * (g - 1))
        ddf = f - g + 2
        table = pd.DataFrame({"weight": size,
                              "observed": np.bincount(grp, weights=w * self._y,
                                                      minlength=g) / size,
                              "expected": np.bincount(grp, weights=w * mu, minlength=g) / size,
                              "mean_residual": M},
                             index=pd.RangeIndex(1, g + 1, name="group"))
        return TestResult(statistic=F, df=(float(g - 1), ddf),
                          pvalue=float(stats.f.sf(F, g - 1, ddf)), method="F",
                          title="Archer-Lemeshow F-adjusted mean residual goodness-of-fit test",
                          statistic_name="F", data=self.formula,
                          details={"wald": wald, "f": f, "table": table})

    # ------------------------------------------------------------------ margins
    def margins(self, variable: str, values: Sequence[Any] | None = None, *,
                level: float = 0.95, method: str = "unconditional") -> Margins:
        """Predictive margins of ``variable`` (see :func:`innobaro.margins.predictive_margins`).

        Parameters
        ----------
        variable : str
            A column of the design's data used in the model.
        values : sequence, optional
            Values to set; by default the levels of a categorical variable, or
            the distinct values of a numeric one with at most 20 of them.
        level : float, default 0.95
            Confidence level.
        method : {"unconditional", "svypredmeans"}, default "unconditional"
            The variance: of the influence values with both parts' covariance
            (default), or R's ``svypredmeans`` sum of the two parts' variances.

        Returns
        -------
        Margins

        Examples
        --------
        >>> import innobaro as ib
        >>> from innobaro.datasets import barometer_design
        >>> m = ib.logit("innovated ~ C(sector) + np.log(employees)", barometer_design())
        >>> m.margins("sector").table.round(3).values.tolist()
        [[0.787, 0.014, 0.759, 0.814], [0.675, 0.017, 0.642, 0.708]]
        """
        from .margins import predictive_margins

        return predictive_margins(self, variable, values, level=level, method=method)

    def average_marginal_effect(self, variable: str, *, level: float = 0.95
                                ) -> MarginalEffect:
        """Average marginal effect of a continuous variable (see :mod:`innobaro.margins`).

        Parameters
        ----------
        variable : str
            A numeric column of the design's data used in the model.
        level : float, default 0.95
            Confidence level.

        Returns
        -------
        pandas.DataFrame
            One row (indexed by ``variable``) with ``estimate``, ``se``,
            ``lower`` and ``upper``.

        Examples
        --------
        >>> import innobaro as ib
        >>> from innobaro.datasets import barometer_design
        >>> m = ib.logit("innovated ~ C(sector) + np.log(employees)", barometer_design())
        >>> ame = m.average_marginal_effect("employees")
        >>> ame.to_frame()[["estimate", "se", "lower", "upper"]].round(4).values.tolist()
        [[0.0048, 0.0008, 0.0032, 0.0063]]
        """
        from .margins import average_marginal_effect

        return average_marginal_effect(self, variable, level=level)

    # ------------------------------------------------------------------ summary
    def summary(self, level: float = 0.95) -> Summary:
        """A stable summary table (no dates) that renders as text, DataFrame or HTML.

        Parameters
        ----------
        level : float, default 0.95
            Confidence level of the intervals in the table.

        Returns
        -------
        Summary
            Header lines and the coefficient table (``coef``, ``se``, ``t``,
            ``pvalue``, ``lower``, ``upper``); it prints as text, shows as HTML
            in a notebook, and ``to_frame()`` gives the table.

        Examples
        --------
        >>> import innobaro as ib
        >>> from innobaro.datasets import barometer_design
        >>> m = ib.logit("innovated ~ C(sector) + np.log(employees)", barometer_design())
        >>> print(repr(m.summary()).splitlines()[0])
        Model         binomial GLM, innovated ~ C(sector) + np.log(employees)
        """
        table = pd.DataFrame({"coef": self._masked(self._beta), "se": self.bse.to_numpy(),
                              "t": self.tvalues.to_numpy(), "pvalue": self.pvalues.to_numpy()},
                             index=self._names)
        ci = self.conf_int(level)
        table["lower"] = ci["lower"].to_numpy()
        table["upper"] = ci["upper"].to_numpy()
        kind = "replicate weights" if isinstance(self.design, ReplicateDesign) else \
            "linearisation"
        info = [("Model", f"{self.family} GLM, {self.formula}"
                          + ("" if self._fam.canonical_link and self.family != "quasi"
                             and self.family != "negative.binomial"
                             else f" ({self._fam.label})")),
                ("Variance", f"design-based ({kind})"),
                ("Observations", f"{self.nobs} (rows dropped for missing values: "
                                 f"{self.n_dropped}"
                                 + (f"; {_counts(self.spec.missing)}" if self.n_dropped
                                    else "") + ")"),
                ("Residual df", f"{self.df_resid:g}"),
                ("Dispersion", f"{self.dispersion:.6g} (as R's summary; not used by the "
                               f"design-based standard errors)"),
                ("Interval", f"{100 * level:g}%, t on the residual df")]
        return Summary(info=info, table=table)

    def __repr__(self) -> str:
        return repr(self.summary())


def anova(model_a: Any, model_b: Any, *, method: str = "LRT", test: str = "F") -> TermTest:
    r"""Test two nested survey models against each other, as R's ``anova.svyglm``.

    The models must be nested, fitted on the same design and the same rows
    with the same family; the order of the two arguments does not matter.
    Two ordinal models (:func:`~innobaro.ologit`) or two multinomial models
    (:func:`~innobaro.mlogit`) are compared the same way, by the added
    terms (:meth:`OrdinalResult.anova <innobaro.OrdinalResult.anova>`,
    :meth:`MLogitResult.anova <innobaro.MLogitResult.anova>`).
    When every term of the smaller model is in the bigger one, the test is
    R's ``regTermTest`` of the bigger model for the terms it adds
    (:meth:`GLMResult.wald_test`). When the terms are not nested but the
    model matrices are (``"y ~ I(a + b)"`` in ``"y ~ a + b + c"``), it is R's
    other path: the bigger matrix's columns made orthogonal to the smaller
    one's, :math:`\tilde Z`, are tested in the working linear model at the
    bigger model's fit, with the sandwich (or replicate) covariance of
    their coefficients, and :math:`d` is the smaller of the two residual
    degrees of freedom.

    - ``method="LRT"`` (R's default): the Rao-Scott working likelihood ratio,
      the difference of the weighted deviances :math:`D_0 - D`, referred to
      :math:`\sum_j \lambda_j \chi^2_1` (divided by :math:`\chi^2_{d}/d` for
      ``test="F"``), :math:`\lambda` the eigenvalues of :math:`V_0^{-1}V` of
      the added coefficients, by the saddlepoint approximation (Lumley and
      Scott 2014);
    - ``method="Wald"``: :math:`\beta^\top V^{-1}\beta`, divided by the
      number :math:`k` of added coefficients and referred to
      :math:`F_{k,d}` (``test="F"``), or to :math:`\chi^2_k` (``"Chisq"``).

    :math:`d` is the bigger model's residual degrees of freedom (design
    degrees of freedom + 1 - its number of coefficients) for nested terms.

    Parameters
    ----------
    model_a, model_b : GLMResult, OrdinalResult or MLogitResult
        The two models, of the same kind, in either order.
    method : {"LRT", "Wald"}, default "LRT"
        The working likelihood ratio test or the Wald test.
    test : {"F", "Chisq"}, default "F"
        F-type reference distribution on :math:`d` denominator degrees of
        freedom, or chi-square-type (R's ``test="Chisq"``).

    Returns
    -------
    TermTest
        ``statistic`` (the deviance difference for ``"LRT"``, F or
        chi-square for ``"Wald"``), ``df``, ``pvalue`` and, for ``"LRT"``,
        the design effects ``lambdas``.

    Raises
    ------
    EstimationError
        If the models are not nested (neither in terms nor in model
        matrices), add no term, have different families, are of different
        kinds (a GLM and an ordinal model), or were fitted on different
        designs or rows (the message says which).

    References
    ----------
    Lumley, T. and Scott, A. (2014). Tests for regression models fitted to
    survey data. *Australian & New Zealand Journal of Statistics* 56(1), 1-14.

    Examples
    --------
    >>> import innobaro as ib
    >>> from innobaro.datasets import barometer_design
    >>> d = barometer_design()
    >>> small = ib.logit("innovated ~ np.log(employees)", d)
    >>> big = ib.logit("innovated ~ C(sector) + np.log(employees)", d)
    >>> t = ib.anova(small, big)
    >>> t.method, t.df
    ('lrt', (1.0, 1776.0))
    """
    if not (isinstance(model_a, GLMResult) and isinstance(model_b, GLMResult)):
        kinds = (type(model_a).__name__, type(model_b).__name__)
        if type(model_a) is not type(model_b) or isinstance(model_a, GLMResult) \
                or not callable(getattr(model_a, "anova", None)):
            raise EstimationError(
                f"anova compares two models of the same kind (two GLMs, two ordinal or two "
                f"multinomial models); got {kinds[0]} and {kinds[1]}")
        # ordinal and multinomial models test each other (OrdinalResult.anova,
        # MLogitResult.anova), with the helpers below
        result: TermTest = model_a.anova(model_b, method=method, test=test)
        return result
    key, tkey = anova_options(method, test)
    if model_a.design is not model_b.design:
        raise EstimationError("the models were fitted on different designs; anova compares "
                              "models fitted on the same design object")
    if not np.array_equal(model_a.fit_rows, model_b.fit_rows):
        na, nb = model_a.fit_rows.size, model_b.fit_rows.size
        raise EstimationError(
            f"the models were fitted on different rows ({na} and {nb}: missing values in "
            f"variables of one model only); fit both on the rows complete for both, e.g. "
            f"on a subset of the design")
    if (model_a.family, model_a.link) != (model_b.family, model_b.link):
        raise EstimationError(
            f"the models have different families: {model_a.family}({model_a.link}) and "
            f"{model_b.family}({model_b.link})")
    ta = [t for t in model_a.spec.term_columns if t != "Intercept"]
    tb = [t for t in model_b.spec.term_columns if t != "Intercept"]

    def only_in(src: list[str], dst: list[str]) -> list[str]:
        return [t for t in src if not any(same_term(t, u) for u in dst)]

    a_not_b, b_not_a = only_in(ta, tb), only_in(tb, ta)
    if a_not_b and b_not_a:
        return _anova_columns(model_a, model_b, key, tkey)
    big, added = (model_b, b_not_a) if b_not_a else (model_a, a_not_b)
    if not added:
        raise EstimationError(f"the models have the same terms "
                              f"({', '.join(ta) or 'intercept only'}); there is nothing to test")
    df = np.inf if tkey == "chisq" else None
    if key == "lrt":
        return big.wald_test(added, method="lrt", df=df)
    return big.wald_test(added, method="F" if df is None else "chisq", df=df)


def _anova_columns(model_a: GLMResult, model_b: GLMResult, key: str, tkey: str,
                   tolerance: float = 1e-5) -> TermTest:
    """R's ``anova.svyglm`` for models whose terms are not nested but whose
    model matrices are: the columns the bigger one adds, made orthogonal to
    the smaller one's, are tested in a working linear model at the bigger
    model's fit (R's code path after its term check)."""
    X, Z = model_a.model_matrix, model_b.model_matrix
    small, big = model_a, model_b
    if X.shape[1] > Z.shape[1]:
        X, Z, small, big = Z, X, model_b, model_a
    for m in (model_a, model_b):
        if not m._keep.all():
            raise EstimationError(f"anova of models whose terms are not nested needs models "
                                  f"without aliased columns; {m.formula!r} has some")
    n = X.shape[0]
    # nested: each column of the smaller matrix is (numerically) in the span of
    # an intercept and the bigger one's columns (R: lm(X ~ Z) sigma / sd)
    Z1 = np.column_stack([np.ones(n), Z])
    coef, _, rank_z, _ = np.linalg.lstsq(Z1, X, rcond=None)
    sigma = np.sqrt(np.sum((X - Z1 @ coef) ** 2, axis=0) / max(n - rank_z, 1))
    sd = X.std(axis=0, ddof=1)
    if np.any(sigma / (tolerance + sd) > tolerance):
        raise EstimationError(
            f"the models are not nested: terms {', '.join(_terms(model_a))} and "
            f"{', '.join(_terms(model_b))} are not nested, and neither model matrix lies in "
            f"the span of the other")
    # the bigger matrix's columns, each made orthogonal to the smaller matrix
    # and the earlier columns (R's sequential lm residuals)
    XX = np.empty_like(Z)
    for i in range(Z.shape[1]):  # one least-squares fit per column, as R
        B = np.column_stack([X, Z[:, :i]])
        XX[:, i] = Z[:, i] - B @ np.linalg.lstsq(B, Z[:, i], rcond=None)[0]
    keep = np.abs(XX).mean(axis=0) / (tolerance + np.abs(Z).mean(axis=0)) > tolerance
    XX = XX[:, keep]
    C = np.column_stack([X, XX])
    index = np.arange(X.shape[1], C.shape[1])
    fam = big._fam
    eta = big.model_matrix @ big._beta + big.fit_offset
    mu = fam.inverse_link(eta)
    y = big._y
    dmu = fam.dmu_deta(eta, mu)
    pw = big._w / big._w_scale
    ywork = eta - big.fit_offset + (y - mu) / dmu
    wwork = pw * dmu ** 2 / fam.variance(mu)
    G = C.T @ (C * wwork[:, None])
    Ainv = np.linalg.inv(G)
    coef_w = Ainv @ (C.T @ (wwork * ywork))
    zrows = (C * (wwork * (y - mu) / dmu)[:, None]) @ Ainv[:, index]
    design = big.design
    rows = big.fit_rows
    z = np.zeros((design.n, index.size))
    z[rows] = zrows
    domain = np.full(design.n, -1, dtype=np.int64)
    domain[design.present] = 0
    u = zrows / pw[:, None]

    def replicates(W: np.ndarray) -> np.ndarray:
        # R: vcov(svymean(estfun %*% Ainv / pweights, design)) * n^2
        Wr = W[rows]
        return n * (Wr.T @ u) / Wr.sum(axis=0)[:, None]

    est = n * (pw @ u) / pw.sum()
    V = vcov_of(design, est, Influence(values=z, domain=domain, n_domains=1), replicates)
    k = index.size
    ddf = min(model_a.df_resid, model_b.df_resid)
    names = [f"{big.formula} vs {small.formula}"]
    if key == "lrt":
        V0 = Ainv[np.ix_(index, index)]
        lam = np.sort(np.linalg.eigvals(np.linalg.solve(V0, V)).real)[::-1]
        chisq = small.deviance - big.deviance
        if tkey == "chisq":
            return TermTest(names, chisq, k, np.inf, float(pfsum(chisq, lam, np.inf)), "lrt",
                            lambdas=lam)
        return TermTest(names, chisq, k, ddf, float(pfsum(chisq, lam, ddf)), "lrt",
                        lambdas=lam)
    return wald_term_test(names, coef_w[index], V, np.inf if tkey == "chisq" else ddf,
                          "chisq" if tkey == "chisq" else "F")


def anova_options(method: str, test: str) -> tuple[str, str]:
    """``method`` and ``test`` of :func:`anova`, checked: ("lrt" or "wald", "f" or "chisq")."""
    key = str(method).lower()
    if key not in ("lrt", "wald"):
        raise EstimationError(f"method must be 'LRT' or 'Wald', not {method!r}")
    tkey = str(test).lower()
    if tkey not in ("f", "chisq"):
        raise EstimationError(f"test must be 'F' or 'Chisq', not {test!r}")
    return key, tkey


def same_rows(design_a: SurveyDesign, design_b: SurveyDesign, rows_a: np.ndarray,
              rows_b: np.ndarray) -> None:
    """Raise unless two models were fitted on the same design object and rows."""
    if design_a is not design_b:
        raise EstimationError("the models were fitted on different designs; anova compares "
                              "models fitted on the same design object")
    if not np.array_equal(rows_a, rows_b):
        raise EstimationError(
            f"the models were fitted on different rows ({rows_a.size} and {rows_b.size}: "
            f"missing values in variables of one model only); fit both on the rows complete "
            f"for both, e.g. on a subset of the design")


def nested_terms(terms_a: list[str], terms_b: list[str], what: str) -> tuple[int, list[str]]:
    """Which of two term lists (intercept left out) holds the other, and the terms it adds.

    Returns ``(0, added)`` when ``terms_a`` is the bigger list, ``(1, added)``
    when ``terms_b`` is; raises an :class:`EstimationError` naming the terms
    when neither holds the other or they are the same (``what`` names the
    models, e.g. ``"ordinal models"``).
    """
    def only_in(src: list[str], dst: list[str]) -> list[str]:
        return [t for t in src if not any(same_term(t, u) for u in dst)]

    a_not_b, b_not_a = only_in(terms_a, terms_b), only_in(terms_b, terms_a)
    if a_not_b and b_not_a:
        raise EstimationError(
            f"the {what} are not nested: {', '.join(map(repr, a_not_b))} only in the first, "
            f"{', '.join(map(repr, b_not_a))} only in the second; anova compares a model "
            f"with one that adds terms to it")
    if not a_not_b and not b_not_a:
        raise EstimationError(f"the {what} have the same terms "
                              f"({', '.join(terms_a) or 'intercept only'}); there is nothing "
                              f"to test")
    return (0, a_not_b) if a_not_b else (1, b_not_a)


def working_lrt(names: list[str], chisq: float, V0: np.ndarray, V: np.ndarray,
                ddf: float) -> TermTest:
    r"""The Rao-Scott working likelihood ratio test (R's ``regTermTest(method="LRT")``).

    ``chisq`` is the difference of the working deviances (weights scaled to
    mean 1), ``V0`` the block of the inverse working information (on the same
    scale) and ``V`` the design-based covariance of the coefficients tested;
    the statistic is referred to :math:`\sum_j \lambda_j \chi^2_1`
    (divided by :math:`\chi^2_{ddf}/ddf` when ``ddf`` is finite),
    :math:`\lambda` the eigenvalues of :math:`V_0^{-1}V`, by the saddlepoint
    approximation (Lumley and Scott 2014). Shared by the GLM, ordinal and
    multinomial models.
    """
    lam = np.sort(np.linalg.eigvals(np.linalg.solve(V0, V)).real)[::-1]
    k = int(lam.size)
    return TermTest(names, float(chisq), k, ddf, float(pfsum(chisq, lam, ddf)), "lrt",
                    lambdas=lam)


def likelihood_anova(big: Any, small: Any, added: list[str], key: str, tkey: str,
                     index: Callable[[list[str]], tuple[list[str], np.ndarray]],
                     inverse_information: Callable[[], np.ndarray], vcov: np.ndarray,
                     weight_mean: float) -> TermTest:
    """The anova of two nested likelihood models (ordinal, multinomial), once the
    bigger model ``big`` and its ``added`` terms are known.

    ``key`` ``"wald"``: ``big``'s Wald test of the added terms; ``"lrt"``:
    :func:`working_lrt` of the deviance difference with the weights scaled to
    mean 1 (``weight_mean``), ``V0`` the added coefficients' block of
    ``inverse_information()`` on that scale and ``V`` theirs of ``vcov``.
    ``tkey`` ``"chisq"`` refers the statistic to a chi-square, ``"f"`` to the
    bigger model's residual degrees of freedom. ``index`` maps terms to the
    coefficients' names and positions.
    """
    ddf = np.inf if tkey == "chisq" else big.df_resid
    if key == "wald":
        out: TermTest = big.wald_test(added, method="chisq" if tkey == "chisq" else "F",
                                      df=ddf)
        return out
    names, idx = index(added)
    V0 = inverse_information()[np.ix_(idx, idx)] * weight_mean
    chisq = 2.0 * (big.loglik - small.loglik) / weight_mean
    return working_lrt(names, chisq, V0, vcov[np.ix_(idx, idx)], ddf if ddf > 0 else np.inf)


def _terms(m: GLMResult) -> list[str]:
    return [repr(t) for t in m.spec.term_columns if t != "Intercept"] or ["(intercept only)"]


def linear_prediction(spec: ModelSpec, X: np.ndarray, beta: np.ndarray, V: np.ndarray,
                      fam: Family, offset: Any, index: pd.Index, *, type: str = "response",
                      se: bool = False, total: float | None = None
                      ) -> pd.Series | pd.DataFrame:
    """A GLM's predictions for the rows of ``X`` with standard errors from ``V``.

    Parameters
    ----------
    spec : ModelSpec
        The model's columns (for the intercept with ``total``).
    X : (m, p) array
        The model matrix of the rows predicted for.
    beta, V : arrays
        Coefficients and their covariance matrix.
    fam : Family
    offset : float or (m,) array
    index : pandas.Index
        The rows' labels.
    type : {"response", "link"}
    se : bool
    total : float, optional
        Multiplies the intercept column (R's ``predict.svyglm(total=)``).

    Returns
    -------
    pandas.Series or pandas.DataFrame
        ``fit`` (and ``se``): :math:`\\eta = x^\\top \\beta` + offset with
        :math:`\\sqrt{x^\\top V x}`, or :math:`\\mu(\\eta)` with that times
        :math:`|\\mu'(\\eta)|` (the delta method).
    """
    if total is not None and "Intercept" in spec.term_columns:
        X = X.copy()
        X[:, spec.term_columns["Intercept"]] *= float(total)
    off = np.asarray(offset, dtype=float)
    if off.shape not in ((), (X.shape[0],)):
        raise EstimationError(f"offset has {off.size} values for {X.shape[0]} rows")
    eta = X @ beta + off
    fit = eta if type == "link" else fam.inverse_link(eta)
    if not se:
        return pd.Series(fit, index=index, name="fit")
    se_eta = np.sqrt(np.einsum("ij,jk,ik->i", X, V, X))
    s = se_eta if type == "link" else se_eta * np.abs(fam.dmu_deta(eta, fit))
    return pd.DataFrame({"fit": fit, "se": s}, index=index)


def wald_term_test(names: list[str], beta: np.ndarray, V: np.ndarray, ddf: float,
                   method: str = "F") -> TermTest:
    """The Wald test that coefficients ``beta`` with covariance ``V`` are zero.

    :math:`X^2 = \\beta^\\top V^{-1}\\beta` on :math:`k` degrees of freedom, or,
    for ``method="F"`` with finite ``ddf``, :math:`F = X^2/k` on (k, ``ddf``), as
    R's ``regTermTest``. Shared by the GLM, ordinal and multinomial models.
    """
    chisq = float(beta @ np.linalg.solve(V, beta))
    k = int(np.size(beta))
    if method == "F" and np.isfinite(ddf):
        F = chisq / k
        return TermTest(names, F, k, ddf, float(stats.f.sf(F, k, ddf)), "F")
    return TermTest(names, chisq, k, np.inf, float(stats.chi2.sf(chisq, k)), "chisq")


@dataclass(frozen=True)
class Summary:
    """A model summary: header lines and the coefficient table."""

    info: list[tuple[str, str]]
    table: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        return self.table

    def as_text(self) -> str:
        width = max(len(k) for k, _ in self.info)
        lines = [f"{k:<{width}}  {v}" for k, v in self.info]
        lines.append("")
        lines.append(self.table.to_string(float_format=lambda v: f"{v:.6g}"))
        return "\n".join(lines)

    def as_html(self) -> str:
        head = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in self.info)
        return (f"<table>{head}</table>"
                + self.table.to_html(float_format=lambda v: f"{v:.6g}"))

    def __repr__(self) -> str:
        return self.as_text()

    def _repr_html_(self) -> str:
        return self.as_html()

