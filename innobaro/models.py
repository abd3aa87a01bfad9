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
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from ._linalg import tall_dot, weighted_gram
from .design import ReplicateDesign, SurveyDesign
from .distributions import pfsum
from .errors import EstimationError, InnobaroWarning
from .formula import ModelSpec, model_frame
from .intervals import t_quantile
from .variance import Influence, model_df, vcov_of

__all__ = ["GLMResult", "TermTest", "glm", "logit"]


# ----------------------------------------------------------------------------
# families
# ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Family:
    """A quasi-likelihood family with its canonical link."""

    name: str

    def inverse_link(self, eta: np.ndarray) -> np.ndarray:
        if self.name == "binomial":
            # 1 / (1 + exp(-eta)), bounded away from 0 and 1 as R's
            # binomial()$linkinv; exp overflows to inf for eta below -709,
            # where the bound applies anyway
            eps = np.finfo(float).eps
            with np.errstate(over="ignore"):
                mu = np.exp(-eta)
            mu += 1.0
            np.reciprocal(mu, out=mu)
            return np.clip(mu, eps, 1 - eps, out=mu)
        if self.name == "poisson":
            return np.maximum(np.exp(eta), np.finfo(float).eps)
        return eta

    def link(self, mu: np.ndarray) -> np.ndarray:
        if self.name == "binomial":
            return special.logit(mu)
        if self.name == "poisson":
            return np.log(mu)
        return mu

    def dmu_deta(self, eta: np.ndarray, mu: np.ndarray) -> np.ndarray:
        if self.name == "binomial":
            return np.maximum(mu * (1 - mu), np.finfo(float).eps)
        if self.name == "poisson":
            return np.maximum(mu, np.finfo(float).eps)
        return np.ones_like(eta)

    def d2mu_deta2(self, mu: np.ndarray) -> np.ndarray:
        """Second derivative of the inverse link at ``mu``."""
        if self.name == "binomial":
            return mu * (1 - mu) * (1 - 2 * mu)
        if self.name == "poisson":
            return mu
        return np.zeros_like(mu)

    def variance(self, mu: np.ndarray) -> np.ndarray:
        if self.name == "binomial":
            return mu * (1 - mu)
        if self.name == "poisson":
            return mu
        return np.ones_like(mu)

    def working(self, eta: np.ndarray, mu: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """IRLS factors ``(mu'^2 / V, mu' / V)`` at ``mu``; the second is
        None where it is exactly 1, as for these canonical links except where
        R's bounds on ``mu'`` apply."""
        d = self.dmu_deta(eta, mu)
        v = self.variance(mu)
        if self.name == "gaussian" or np.array_equal(d, v):
            return v, None
        g = d / v
        return d * g, g

    def deviance_residuals(self, y: np.ndarray, mu: np.ndarray) -> np.ndarray:
        """Unit deviance d(y, mu) (summed with weights for the deviance)."""
        if self.name == "binomial":
            return 2 * (special.xlogy(y, y / mu) + special.xlogy(1 - y, (1 - y) / (1 - mu)))
        if self.name == "poisson":
            return 2 * (special.xlogy(y, y / mu) - (y - mu))
        return (y - mu) ** 2

    def start(self, y: np.ndarray, w: np.ndarray) -> np.ndarray:
        if self.name == "binomial":
            return (w * y + 0.5) / (w + 1)  # glm's mustart for binomial
        if self.name == "poisson":
            return y + 0.1
        return y.copy()


_FAMILIES = ("gaussian", "binomial", "poisson")


# ----------------------------------------------------------------------------
# fitting
# ----------------------------------------------------------------------------
def _irls(X: np.ndarray, y: np.ndarray, W: np.ndarray, fam: Family, *,
          beta0: np.ndarray | None, tol: float, max_iter: int,
          check: Callable[[np.ndarray], None] | None = None
          ) -> tuple[np.ndarray, int, float]:
    """IRLS for every column of the weight matrix ``W`` (n, k) at once.

    Returns coefficients (p, k), iterations, and the last largest change,
    negated when some column did not converge.
    Columns stop updating once converged: when the largest coefficient change
    is below ``tol`` relative (or below ``sqrt(tol)/10`` while the changes
    shrink quadratically, which leaves an error below ``tol``), or when the
    deviance no longer changes (relative
    change below 1e-15, as under separation, where coefficients drift off
    without improving the fit). A change of ``inf`` means no convergence.
    """
    n, p = X.shape
    k = W.shape[1]
    if k == 1:
        return _irls_one(X, y, W[:, 0], fam, beta0=beta0, tol=tol, max_iter=max_iter,
                         check=check)
    # row-major weights: every elementwise step below then runs on one layout
    # (replicate weights are often stored column-major)
    W = np.ascontiguousarray(W)
    if beta0 is None:
        mu = fam.start(y, np.ones(n))
        eta = fam.link(mu)
        eta = np.repeat(eta[:, None], k, axis=1)
        beta = np.zeros((p, k))
        first = True
    else:
        beta = np.repeat(beta0[:, None], k, axis=1) if beta0.ndim == 1 else beta0.copy()
        eta = tall_dot(X, beta)
        first = False
    active = np.ones(k, dtype=bool)
    change = np.inf
    dev_old = np.full(k, np.inf)
    prev = np.full(k, np.inf)
    for it in range(1, max_iter + 1):
        idx = np.flatnonzero(active)
        every = idx.size == k
        e = eta if every else eta[:, idx]
        Wa = W if every else W[:, idx]
        mu = fam.inverse_link(e)
        h, g = fam.working(e, mu)
        ww = Wa * h  # working weights
        score = Wa * (y[:, None] - mu)  # score residuals w (y - mu) mu' / V
        if g is not None:
            score *= g
        G = weighted_gram(X, ww)
        # X' W z with the working response z = eta + (y - mu) / mu'
        rhs = X.T @ (ww * e + score)
        new = _solve_many(G, rhs)
        delta = np.abs(new - beta[:, idx]) / (1 + np.abs(new))
        beta[:, idx] = new
        eta[:, idx] = tall_dot(X, new)
        worst = delta.max(axis=0)
        change = float(worst.max())
        flat = np.zeros(idx.size, dtype=bool)
        if it >= 8:  # a fit this slow may be separated: watch the deviance too
            mu_new = fam.inverse_link(eta[:, idx])
            dev = (W[:, idx] * fam.deviance_residuals(y[:, None], mu_new)).sum(axis=0)
            flat = np.abs(dev - dev_old[idx]) <= 1e-15 * (np.abs(dev) + 0.1)
            dev_old[idx] = dev
        done = _converged(worst, prev[idx], tol)
        prev[idx] = worst
        if not first:
            active[idx[done | flat]] = False
        first = False
        if not active.any():
            return beta, it, change
    return beta, max_iter, -change


def _converged(step: np.ndarray, previous: np.ndarray, tol: float) -> np.ndarray:
    """Whether IRLS has converged after a step of relative size ``step``.

    IRLS is Newton's method for these canonical links: once the steps shrink
    quadratically, a step of d leaves an error of about d^2, so besides a step
    below ``tol``, a step below ``sqrt(tol)/10`` that squares the previous one
    is final.
    """
    newton = (step < 0.1 * np.sqrt(tol)) & (step <= 10 * previous ** 2)
    return (step < tol) | newton


_BLOCK = 1 << 15  # rows per block: a block of every column stays in cache


@dataclass
class _Pass:
    """What one pass over the rows at some coefficients gives."""

    G: np.ndarray  # X' W X with the working weights
    rhs: np.ndarray  # X' W z, z the working response
    r: np.ndarray | None  # per row: w (y - mu) mu'(eta) / V(mu), the score residual
    deviance: float
    n_extreme: int  # rows with fitted probabilities within 1e-8 of 0 or 1 (binomial)


def _working_pass(X: np.ndarray, y: np.ndarray, w: np.ndarray, fam: Family,
                  beta: np.ndarray | None, eta0: np.ndarray | None, *,
                  deviance: bool = False, residuals: bool = False) -> _Pass:
    """One pass over the rows in blocks: the IRLS normal equations at ``beta``
    (or at the linear predictor ``eta0``), and optionally the weighted score
    residuals and the deviance.

    ``X`` is read through its transpose, one block of rows of every column at
    a time: contiguous when ``X`` is column-major, as the model matrices are.
    """
    n, p = X.shape
    XT = X.T
    G = np.zeros((p, p))
    rhs = np.zeros(p)
    r = np.empty(n) if residuals else None
    dev = 0.0
    extreme = 0
    buf = np.empty((p, min(n, _BLOCK)))
    for a in range(0, n, _BLOCK):  # blocks of rows, each used once while in cache
        b = min(n, a + _BLOCK)
        Xb = XT[:, a:b]
        eta = beta @ Xb if eta0 is None else eta0[a:b]
        mu = fam.inverse_link(eta)
        h, g = fam.working(eta, mu)
        wb = w[a:b]
        ww = wb * h  # working weights w mu'^2 / V
        rb = wb * (y[a:b] - mu)  # score residuals w (y - mu) mu' / V
        if g is not None:
            rb *= g
        Xs = np.multiply(Xb, np.sqrt(ww), out=buf[:, :b - a])
        G += Xs @ Xs.T
        rhs += Xb @ (ww * eta + rb)
        if r is not None:
            r[a:b] = rb
        if deviance:
            dev += float(np.sum(wb * fam.deviance_residuals(y[a:b], mu)))
        if fam.name == "binomial":
            extreme += int(np.count_nonzero((mu < 1e-8) | (mu > 1 - 1e-8)))
    return _Pass(G, rhs, r, dev, extreme)


def _irls_one(X: np.ndarray, y: np.ndarray, w: np.ndarray, fam: Family, *,
              beta0: np.ndarray | None, tol: float, max_iter: int,
              check: Callable[[np.ndarray], None] | None = None
              ) -> tuple[np.ndarray, int, float]:
    """:func:`_irls` for one weight column, one pass over the rows per iteration.

    ``check`` is called with the first pass's ``X' W X`` (working weights), to
    find constant and aliased columns without a pass of its own.
    """
    if (w < 0).any():  # the blocked pass takes square roots of the working weights
        raise EstimationError("model weights must be non-negative")
    X = np.asfortranarray(X)
    beta = None if beta0 is None else np.asarray(beta0, dtype=float).reshape(-1).copy()
    eta0 = fam.link(fam.start(y, np.ones(y.size))) if beta is None else None
    first = beta is None
    prev = np.inf
    dev_old = np.inf
    change = np.inf
    for it in range(1, max_iter + 1):
        ps = _working_pass(X, y, w, fam, beta, eta0, deviance=it >= 7)
        if check is not None:
            check(ps.G)
            check = None
        eta0 = None
        new = _solve(ps.G, ps.rhs)
        worst = float(np.max(np.abs(new - beta) / (1 + np.abs(new)))) if beta is not None \
            else np.inf
        beta = new
        change = worst
        # the deviance here is at the previous coefficients: flat means separated
        flat = it >= 8 and abs(ps.deviance - dev_old) <= 1e-15 * (abs(ps.deviance) + 0.1)
        dev_old = ps.deviance
        done = bool(_converged(np.asarray(worst), np.asarray(prev), tol))
        prev = worst
        if not first and (done or flat):
            return beta[:, None], it, change
        first = False
    assert beta is not None  # max_iter >= 1, checked by glm
    return beta[:, None], max_iter, -change


def _solve_many(G: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Solve ``G[j] x = B[:, j]`` for every j at once: (p, k)."""
    try:
        return np.linalg.solve(G, B.T[:, :, None])[:, :, 0].T
    except np.linalg.LinAlgError:  # some system is singular: least squares for all
        return np.stack([_solve(G[j], B[:, j]) for j in range(B.shape[1])], axis=1)


def _solve(G: np.ndarray, b: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.solve(G, b)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(G, b, rcond=None)[0]


def glm(formula: str, design: SurveyDesign, *, family: str = "gaussian",
        tol: float = 1e-12, max_iter: int = 100) -> GLMResult:
    """Fit a survey-weighted generalised linear model.

    Parameters
    ----------
    formula : str
        A patsy formula over the design's data, e.g.
        ``"innovated ~ np.log(population) + C(centrality, Treatment('3'))"``.
    design : Design or ReplicateDesign
        The design (or a domain of it, ``design.subset(...)``).
    family : {"gaussian", "binomial", "poisson"}
        Identity, logit and log links; binomial and poisson are
        quasi-likelihood families (R's ``quasibinomial`` and ``quasipoisson``),
        so non-integer responses and weights are fine.
    tol : float, default 1e-12
        Convergence: largest coefficient change relative to ``1 + |beta|``.
    max_iter : int, default 100

    Returns
    -------
    GLMResult

    Notes
    -----
    Rows with a missing value in a model variable are left out of the fit
    (their count is in ``n_dropped`` and the summary) but stay in the design
    with weight zero, so the variance still reflects the full design. The
    residual degrees of freedom are R's: design degrees of freedom + 1 - p.

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
    if family not in _FAMILIES:
        raise EstimationError(f"family must be one of {', '.join(_FAMILIES)}; got {family!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) \
            or max_iter < 1:
        raise EstimationError(f"max_iter must be a positive integer; got {max_iter!r}")
    if not tol > 0:
        raise EstimationError(f"tol must be positive; got {tol!r}")
    if not isinstance(design, SurveyDesign):
        raise TypeError(f"design must be an innobaro design, not {type(design).__name__}")
    fam = Family(family)
    present = design._present
    # the model matrix of the rows in the design that are complete in the model
    # variables (column-major); the rest stay in the design with weight zero
    y, X, spec, kept = model_frame(formula, design.data, response=True, within=present)
    assert y is not None
    n_dropped = int((present & ~kept).sum())
    fit_rows = present & kept
    rows = np.flatnonzero(fit_rows)
    if rows.size == 0 and spec.missing:
        raise EstimationError(f"no complete rows for the model: missing values in "
                              f"{_counts(spec.missing)}")
    w = design._w[rows]
    _check_response(y, w, fam)

    def check(G: np.ndarray) -> None:
        _check_columns(G, spec)

    start = None
    if X.shape[0] > 200_000 and fam.name != "gaussian":
        # a warm start from a systematic subsample saves full-data iterations
        sub = slice(None, None, X.shape[0] // 50_000)
        try:
            b0, _, ch0 = _irls(X[sub], y[sub], w[sub, None], fam, beta0=None, tol=1e-6,
                               max_iter=max_iter)
            start = b0[:, 0] if ch0 >= 0 and np.isfinite(b0).all() else None
        except np.linalg.LinAlgError:
            start = None
    beta, it, change = _irls(X, y, w[:, None], fam, beta0=start, tol=tol, max_iter=max_iter,
                             check=check)
    beta = beta[:, 0]
    converged = change >= 0 and bool(np.isfinite(change))
    # R's cov.unscaled (unscaled weights) and the weighted score residuals at beta
    final = _working_pass(X, y, w, fam, beta, None, residuals=True)
    if not converged and not (final.n_extreme and np.isfinite(beta).all()):
        raise EstimationError(
            f"the model did not converge in {max_iter} iterations (last relative change "
            f"of a coefficient {abs(change):.3g}); check for separation, rescale "
            f"variables or raise max_iter")
    if final.n_extreme:
        # as R, a separated fit is returned with a warning, converged or not
        _check_separation(X, final.n_extreme, beta, spec,
                          stopped=None if converged else max_iter)
    A = np.linalg.inv(final.G)
    assert final.r is not None
    # influence values of beta, z_i = r_i x_i' A, for every row of the design
    z = _influence_rows(X, A, final.r, rows, design.n)
    domain = np.full(design.n, -1, dtype=np.int64)
    domain[present] = 0

    def refit(Wrep: np.ndarray) -> np.ndarray:
        b, _, ch = _irls(X, y, Wrep[rows], fam, beta0=beta, tol=tol, max_iter=max_iter)
        _check_replicate_fits(X, b, fam, ch, max_iter)
        return b.T

    infl = Influence(values=z, domain=domain, n_domains=1)
    V = vcov_of(design, beta, infl, refit)
    df_design = model_df(design, kept)  # R's svyglm counting (see model_df)
    return GLMResult(formula=formula, spec=spec, family=fam, design=design,
                     params=beta, vcov=V, df_resid=df_design + 1 - X.shape[1],
                     X=X, y=y, w=w, rows=rows, A=A, n_dropped=n_dropped, iterations=it,
                     influence=z)


def _influence_rows(X: np.ndarray, A: np.ndarray, r: np.ndarray, rows: np.ndarray,
                    n: int) -> np.ndarray:
    """``z[rows[i]] = r_i x_i' A`` and zero elsewhere: (n, p), column-major,
    computed in blocks of rows as ``A (X' diag(r))`` on the transpose."""
    p = X.shape[1]
    zT = np.zeros((p, n)) if rows.size < n else np.empty((p, n))
    XT = X.T
    buf = np.empty((p, min(rows.size, _BLOCK)))
    for a in range(0, rows.size, _BLOCK):  # blocks of rows, each used once while in cache
        b = min(rows.size, a + _BLOCK)
        part = np.multiply(XT[:, a:b], r[a:b], out=buf[:, :b - a])
        if rows.size == n:
            np.matmul(A, part, out=zT[:, a:b])
        else:
            zT[:, rows[a:b]] = A @ part
    return zT.T


def logit(formula: str, design: SurveyDesign, **kwargs: Any) -> GLMResult:
    """Survey-weighted logistic regression: :func:`glm` with ``family="binomial"``.

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


def _check_response(y: np.ndarray, w: np.ndarray, fam: Family) -> None:
    if fam.name == "binomial":
        bad = (y < 0) | (y > 1)
        if bad.any():
            raise EstimationError(f"binomial response must be in [0, 1]; found "
                                  f"{y[bad][0]!r}. Code the outcome as 0/1 or a proportion")
    if fam.name == "poisson" and (y < 0).any():
        raise EstimationError("poisson response must be non-negative")
    if not (w > 0).any():
        raise EstimationError("no row with positive weight in the model")


def _check_columns(G: np.ndarray, spec: ModelSpec) -> None:
    """Name constant (besides the intercept) and collinear columns.

    Everything comes from ``G = X' W X`` with the working weights of the first
    IRLS pass (positive exactly where the sampling weights are, so the same
    columns are constant or aliased among the rows of the fit; R's ``glm.fit``
    also judges aliasing on the working weights).
    """
    names = spec.column_names
    if "Intercept" in names:
        # weighted means and second moments, from the intercept's row of G
        i0 = names.index("Intercept")
        total = G[i0, i0]
        mean = G[i0] / total
        second = np.diag(G) / total
        spread = second - mean * mean
        const = [names[j] for j in range(G.shape[0])
                 if j != i0 and spread[j] <= 1e-14 * max(second[j], 1e-300)]
        if const:
            raise EstimationError(f"model column(s) {', '.join(map(repr, const))} are "
                                  f"constant among the rows of the fit; drop them or check "
                                  f"the domain")
    # as R: a column that adds nothing to the columns before it is aliased;
    # the residual norm of each column on the earlier ones, from the Gram matrix
    norms = np.sqrt(np.diag(G))
    aliased = []
    for j in range(1, G.shape[0]):  # over model columns
        keep = [i for i in range(j) if names[i] not in aliased]
        Gk = G[np.ix_(keep, keep)]
        b = G[keep, j]
        resid = G[j, j] - b @ np.linalg.lstsq(Gk, b, rcond=None)[0]
        if resid <= (1e-7 * max(norms[j], 1e-300)) ** 2:
            aliased.append(names[j])
    if aliased:
        raise EstimationError(f"model column(s) {', '.join(map(repr, aliased))} are collinear "
                              f"with the others (aliased); drop or recode them")


def _check_replicate_fits(X: np.ndarray, B: np.ndarray, fam: Family, change: float,
                          max_iter: int) -> None:
    """Warn when replicate refits ran away: separation within some replicates
    (fitted probabilities of 0 or 1, e.g. a sparse level left with one outcome
    in a half-sample), or no convergence. R's ``svyglm`` says nothing."""
    problems = []
    if fam.name == "binomial":
        bound = float(special.logit(1 - 1e-8))
        separated = int((np.abs(tall_dot(X, B)) > bound).any(axis=0).sum())
        if separated:
            problems.append(f"{separated} of {B.shape[1]} replicate fits have fitted "
                            f"probabilities of 0 or 1 (separation within those replicates)")
    if change < 0 or not np.isfinite(change):
        problems.append(f"some replicate fits did not converge in {max_iter} iterations")
    if problems:
        warnings.warn("; ".join(problems) + ". Their coefficients are arbitrary, so the "
                      "replicate variance is not reliable: collapse sparse levels or use a "
                      "linearisation design", InnobaroWarning, stacklevel=5)


def _check_separation(X: np.ndarray, n_extreme: int, beta: np.ndarray,
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
    names = [spec.column_names[j] for j in np.flatnonzero(big)] or [
        spec.column_names[int(np.argmax(swing))]]
    terms = [t for t, sl in spec.term_columns.items()
             if any(spec.column_names[j] in names for j in range(sl.start, sl.stop))]
    warnings.warn(
        f"perfect or quasi-complete separation: {n_extreme} row(s) have fitted "
        f"probabilities of 0 or 1, driven by term {', '.join(map(repr, terms))}; its "
        f"coefficients and standard errors are not meaningful. Collapse levels or drop "
        f"the term" + ("" if stopped is None else
                       f". The coefficients ran off to infinity; the fit was stopped "
                       f"after {stopped} iterations"), InnobaroWarning, stacklevel=3)


# ----------------------------------------------------------------------------
# results
# ----------------------------------------------------------------------------
@dataclass(frozen=True)
class TermTest:
    """A test that one or several model terms are zero (R's ``regTermTest``).

    Attributes
    ----------
    terms : list of str
    statistic : float
        F (``method="F"``), chi-square (``"chisq"``), or the working
        likelihood-ratio deviance difference (``"lrt"``).
    df : float
        Numerator degrees of freedom (number of coefficients).
    ddf : float
        Denominator degrees of freedom (``inf`` for chi-square tests).
    p_value : float
    method : str
    lambdas : numpy.ndarray or None
        Generalised design effects (``"lrt"``).


    Examples
    --------
    >>> import innobaro as ib
    >>> from innobaro.datasets import barometer_design
    >>> m = ib.logit("innovated ~ C(sector) + np.log(employees)", barometer_design())
    >>> t = m.wald_test("C(sector)")
    >>> round(t.statistic, 4), t.df, t.ddf
    (24.9708, 1, 1776.0)
    """

    terms: list[str]
    statistic: float
    df: float
    ddf: float
    p_value: float
    method: str
    lambdas: np.ndarray | None = None

    def __repr__(self) -> str:
        name = {"F": "Wald F", "chisq": "Wald chi-square",
                "lrt": "Rao-Scott working likelihood ratio",
                "working_wald": "Rao-Scott working Wald"}[self.method]
        ddf = "" if np.isinf(self.ddf) else f", denominator df = {self.ddf:g}"
        extra = ""
        if self.lambdas is not None:
            # R prints the deviance difference over the mean design effect
            extra = (f" (deviance difference / mean design effect = "
                     f"{self.statistic / np.mean(self.lambdas):.6g})")
        return (f"{name} test for {' + '.join(self.terms)}: statistic = "
                f"{self.statistic:.6g}{extra}, df = {self.df:g}{ddf}, p = {self.p_value:.4g}")

    def to_frame(self) -> pd.DataFrame:
        """The test as a one-row DataFrame.

        Examples
        --------
        >>> import innobaro as ib
        >>> from innobaro.datasets import barometer_design
        >>> m = ib.logit("innovated ~ C(sector) + np.log(employees)", barometer_design())
        >>> m.wald_test("C(sector)").to_frame().columns.tolist()
        ['terms', 'statistic', 'df', 'ddf', 'p_value', 'method']
        """
        return pd.DataFrame([{"terms": " + ".join(self.terms), "statistic": self.statistic,
                              "df": self.df, "ddf": self.ddf, "p_value": self.p_value,
                              "method": self.method}])


class GLMResult:
    """A fitted survey GLM.

    Attributes
    ----------
    params, bse : pandas.Series
        Coefficients and design-based standard errors.
    vcov : pandas.DataFrame
        Design-based covariance of the coefficients.
    df_resid : float
        Design degrees of freedom + 1 - number of coefficients (R's
        ``svyglm``); t quantiles and p-values use it.
    n_dropped : int
        Rows of the design left out for missing values in model variables.


    Examples
    --------
    >>> import innobaro as ib
    >>> from innobaro.datasets import barometer_design
    >>> m = ib.logit("innovated ~ C(sector) + np.log(employees)", barometer_design())
    >>> m.params.round(3).tolist()
    [-0.342, -0.572, 0.512]
    """

    def __init__(self, *, formula: str, spec: ModelSpec, family: Family,
                 design: SurveyDesign, params: np.ndarray, vcov: np.ndarray,
                 df_resid: float, X: np.ndarray, y: np.ndarray, w: np.ndarray,
                 rows: np.ndarray, A: np.ndarray, n_dropped: int, iterations: int,
                 influence: np.ndarray) -> None:
        self.formula = formula
        self.spec = spec
        self.family = family.name
        self._fam = family
        self.design = design
        self._beta = params
        self._V = vcov
        self.df_resid = df_resid
        self._X, self._y, self._w, self._rows, self._A = X, y, w, rows, A
        self.n_dropped = n_dropped
        self.iterations = iterations
        self._infl = influence
        self._names = pd.Index(spec.column_names, name="term")

    # ------------------------------------------------------------------ basics
    @property
    def params(self) -> pd.Series:
        """Estimated coefficients, indexed by patsy's column names."""
        return pd.Series(self._beta, index=self._names, name="coef")

    @property
    def bse(self) -> pd.Series:
        """Design-based standard errors of the coefficients."""
        return pd.Series(np.sqrt(np.diag(self._V)), index=self._names, name="se")

    @property
    def vcov(self) -> pd.DataFrame:
        """Design-based covariance matrix of the coefficients."""
        return pd.DataFrame(self._V, index=self._names, columns=self._names)

    @property
    def nobs(self) -> int:
        """Rows in the fit with positive weight."""
        return int((self._w > 0).sum())

    @property
    def tvalues(self) -> pd.Series:
        """Coefficients over their standard errors."""
        return pd.Series(self._beta / self.bse.to_numpy(), index=self._names, name="t")

    @property
    def pvalues(self) -> pd.Series:
        """Two-sided p-values of the t statistics on the residual degrees of freedom."""
        t = np.abs(self.tvalues.to_numpy())
        if self.df_resid > 0:
            p = 2 * stats.t.sf(t, self.df_resid)
        else:
            p = np.full(t.shape, np.nan)
        return pd.Series(p, index=self._names, name="p_value")

    def conf_int(self, level: float = 0.95) -> pd.DataFrame:
        """Wald intervals with t quantiles on ``df_resid`` (R's ``confint.svyglm``).

        Examples
        --------
        >>> import innobaro as ib
        >>> from innobaro.datasets import barometer_design
        >>> m = ib.logit("innovated ~ C(sector) + np.log(employees)", barometer_design())
        >>> m.conf_int().round(3).values.tolist()
        [[-0.842, 0.158], [-0.796, -0.347], [0.365, 0.659]]
        """
        t = t_quantile(level, self.df_resid if self.df_resid > 0 else np.nan)
        se = self.bse.to_numpy()
        return pd.DataFrame({"lower": self._beta - t * se, "upper": self._beta + t * se},
                            index=self._names)

    def odds_ratios(self, level: float = 0.95) -> pd.DataFrame:
        """exp(coefficients) with exp(interval) — odds ratios for a logistic model.

        Examples
        --------
        >>> import innobaro as ib
        >>> from innobaro.datasets import barometer_design
        >>> m = ib.logit("innovated ~ C(sector) + np.log(employees)", barometer_design())
        >>> m.odds_ratios().round(3).values.tolist()
        [[0.71, 0.431, 1.171], [0.565, 0.451, 0.707], [1.668, 1.44, 1.933]]
        """
        if self.family != "binomial":
            raise EstimationError("odds ratios are for logistic (binomial) models")
        ci = self.conf_int(level)
        return pd.DataFrame({"odds_ratio": np.exp(self._beta), "lower": np.exp(ci["lower"]),
                             "upper": np.exp(ci["upper"])}, index=self._names)

    # ------------------------------------------------------------------ fit statistics
    @property
    def _w_scale(self) -> float:
        """R's svyglm fits with weights divided by their mean over the design's rows
        (rows later dropped for missing values included)."""
        w_all = self.design._effective_weights()[self.design._present]
        return float(w_all.mean())

    def _deviance(self, mu: np.ndarray) -> float:
        """Deviance on the weights rescaled as R's svyglm rescales them."""
        wr = self._w / self._w_scale
        return float(np.sum(wr * self._fam.deviance_residuals(self._y, mu)))

    @property
    def deviance(self) -> float:
        """Deviance of the fit on weights rescaled to mean one (R's ``deviance``)."""
        return self._deviance(self._fam.inverse_link(self._X @ self._beta))

    @property
    def null_deviance(self) -> float:
        """Deviance of the intercept-only fit, on the same weights."""
        ybar = np.sum(self._w * self._y) / np.sum(self._w)
        return self._deviance(np.full_like(self._y, ybar))

    @property
    def naive_cov(self) -> np.ndarray:
        """Model-based (unscaled) covariance on the rescaled weights (R's ``naive.cov``)."""
        return self._A * self._w_scale

    def pseudo_r2(self, method: str = "Nagelkerke") -> float:
        r"""Pseudo-R-squared of a binomial or poisson model, as R's ``psrsq``.

        With deviances :math:`D` and :math:`D_0` (model and intercept-only) on
        weights rescaled to mean one, which add up to :math:`n`,
        Cox-Snell is :math:`1 - \exp((D - D_0)/n)` and Nagelkerke divides it
        by its maximum :math:`1 - \exp(-D_0/n)` (Lumley 2017).


        Examples
        --------
        >>> import innobaro as ib
        >>> from innobaro.datasets import barometer_design
        >>> m = ib.logit("innovated ~ C(sector) + np.log(employees)", barometer_design())
        >>> round(m.pseudo_r2("Nagelkerke"), 4)
        0.0545
        """
        if self.family not in ("binomial", "poisson"):
            raise EstimationError("pseudo R-squared is for binomial and poisson models")
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


        Examples
        --------
        >>> import innobaro as ib
        >>> from innobaro.datasets import barometer_design
        >>> m = ib.logit("innovated ~ C(sector) + np.log(employees)", barometer_design())
        >>> m.aic().round(2).tolist()
        [2.06, 1997.56, 1.03]
        """
        idx = np.array([j for j, name in enumerate(self.spec.column_names)
                        if name != "Intercept"])
        if idx.size == 0:
            return pd.Series({"eff_p": 0.0, "AIC": self.deviance, "deltabar": np.nan})
        V0 = self.naive_cov[np.ix_(idx, idx)]
        lam = np.linalg.eigvals(np.linalg.solve(V0, self._V[np.ix_(idx, idx)])).real
        return pd.Series({"eff_p": float(lam.sum()), "AIC": self.deviance + 2 * lam.sum(),
                          "deltabar": float(lam.mean())})

    # ------------------------------------------------------------------ prediction
    def predict(self, newdata: pd.DataFrame | None = None, type: str = "response",
                se: bool = False) -> pd.Series | pd.DataFrame:
        """Predictions with design-based standard errors.

        Parameters
        ----------
        newdata : DataFrame, optional
            Rows to predict for; the model's data by default.
        type : {"response", "link"}
        se : bool, default False
            Also return standard errors: :math:`\\sqrt{x^\\top V x}` on the
            link scale, times :math:`|\\mu'(\\eta)|` on the response scale.


        Examples
        --------
        >>> import innobaro as ib
        >>> from innobaro.datasets import barometer_design
        >>> m = ib.logit("innovated ~ C(sector) + np.log(employees)", barometer_design())
        >>> import pandas as pd
        >>> new = pd.DataFrame({"sector": ["education", "health_care"], "employees": [20, 20]})
        >>> m.predict(new, se=True).round(4).values.tolist()
        [[0.767, 0.0153], [0.6502, 0.018]]
        """
        if type not in ("response", "link"):
            raise EstimationError("type must be 'response' or 'link'")
        if newdata is None:
            X = self._X
            index = self.design.data.index[self._rows]
        else:
            X = self.spec.matrix(newdata)
            index = newdata.index
        eta = X @ self._beta
        fit = eta if type == "link" else self._fam.inverse_link(eta)
        if not se:
            return pd.Series(fit, index=index, name="fit")
        se_eta = np.sqrt(np.einsum("ij,jk,ik->i", X, self._V, X))
        s = se_eta if type == "link" else se_eta * np.abs(self._fam.dmu_deta(eta, fit))
        return pd.DataFrame({"fit": fit, "se": s}, index=index)

    # ------------------------------------------------------------------ tests
    def _term_index(self, terms: str | Sequence[str]) -> tuple[list[str], np.ndarray]:
        terms = [terms] if isinstance(terms, str) else list(terms)
        cols: list[int] = []
        known = self.spec.term_columns
        for t in terms:
            key = t.strip()
            if key not in known:
                # allow "x" for "C(x)" and a:b in any order
                alt = [k for k in known if _same_term(k, key)]
                if not alt:
                    raise EstimationError(f"term {t!r} is not in the model; terms are "
                                          f"{', '.join(k for k in known if k != 'Intercept')}")
                key = alt[0]
            sl = known[key]
            cols.extend(range(sl.start, sl.stop))
        return terms, np.array(sorted(set(cols)))

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


        Examples
        --------
        >>> import innobaro as ib
        >>> from innobaro.datasets import barometer_design
        >>> m = ib.logit("innovated ~ C(sector) + np.log(employees)", barometer_design())
        >>> m.wald_test("C(sector)")
        Wald F test for C(sector): statistic = 24.9708, df = 1, denominator df = 1776, p = 6.393e-07
        """
        names, idx = self._term_index(terms)
        beta = self._beta[idx]
        V = self._V[np.ix_(idx, idx)]
        k = idx.size
        ddf = self.df_resid if df is None else float(df)
        if method in ("F", "chisq"):
            chisq = float(beta @ np.linalg.solve(V, beta))
            if method == "F" and np.isfinite(ddf):
                F = chisq / k
                return TermTest(names, F, k, ddf, float(stats.f.sf(F, k, ddf)), "F")
            return TermTest(names, chisq, k, np.inf, float(stats.chi2.sf(chisq, k)), "chisq")
        if method in ("lrt", "working_wald"):
            V0 = self.naive_cov[np.ix_(idx, idx)]
            lam = np.sort(np.linalg.eigvals(np.linalg.solve(V0, V)).real)[::-1]
            if method == "working_wald":
                chisq = float(beta @ np.linalg.solve(V0, beta))
                return TermTest(names, chisq, k, ddf, float(pfsum(chisq, lam, ddf)),
                                "working_wald", lambdas=lam)
            keep = np.setdiff1d(np.arange(self._X.shape[1]), idx)
            X0 = self._X[:, keep]
            b0, _, _ = _irls(X0, self._y, self._w[:, None], self._fam,
                             beta0=None, tol=1e-12, max_iter=100)
            dev0 = self._deviance(self._fam.inverse_link(X0 @ b0[:, 0]))
            chisq = dev0 - self.deviance
            p = pfsum(chisq, lam, ddf) if np.isfinite(ddf) else pfsum(chisq, lam, np.inf)
            return TermTest(names, float(chisq), k, ddf, float(p), "lrt", lambdas=lam)
        raise EstimationError("method must be 'F', 'chisq', 'lrt' or 'working_wald'")

    # ------------------------------------------------------------------ margins
    def margins(self, variable: str, values: Sequence[Any] | None = None, *,
                level: float = 0.95, method: str = "unconditional") -> Margins:
        """Predictive margins of ``variable`` (see :func:`innobaro.margins.predictive_margins`).

        Examples
        --------
        >>> import innobaro as ib
        >>> from innobaro.datasets import barometer_design
        >>> m = ib.logit("innovated ~ C(sector) + np.log(employees)", barometer_design())
        >>> m.margins("sector").table.round(3).values.tolist()
        [[0.783, 0.014, 0.755, 0.81], [0.674, 0.017, 0.641, 0.706]]
        """
        from .margins import predictive_margins

        return predictive_margins(self, variable, values, level=level, method=method)

    def average_marginal_effect(self, variable: str, *, level: float = 0.95) -> pd.DataFrame:
        """Average marginal effect of a continuous variable (see :mod:`innobaro.margins`).

        Examples
        --------
        >>> import innobaro as ib
        >>> from innobaro.datasets import barometer_design
        >>> m = ib.logit("innovated ~ C(sector) + np.log(employees)", barometer_design())
        >>> m.average_marginal_effect("employees").round(4).values.tolist()
        [[0.0053, 0.0008, 0.0037, 0.0069]]
        """
        from .margins import average_marginal_effect

        return average_marginal_effect(self, variable, level=level)

    # ------------------------------------------------------------------ summary
    def summary(self, level: float = 0.95) -> Summary:
        """A stable summary table (no dates) that renders as text, DataFrame or HTML.

        Examples
        --------
        >>> import innobaro as ib
        >>> from innobaro.datasets import barometer_design
        >>> m = ib.logit("innovated ~ C(sector) + np.log(employees)", barometer_design())
        >>> print(repr(m.summary()).splitlines()[0])
        Model         binomial GLM, innovated ~ C(sector) + np.log(employees)
        """
        table = pd.DataFrame({"coef": self._beta, "se": self.bse.to_numpy(),
                              "t": self.tvalues.to_numpy(), "p_value": self.pvalues.to_numpy()},
                             index=self._names)
        ci = self.conf_int(level)
        table["lower"] = ci["lower"].to_numpy()
        table["upper"] = ci["upper"].to_numpy()
        kind = "replicate weights" if isinstance(self.design, ReplicateDesign) else \
            "linearisation"
        info = [("Model", f"{self.family} GLM, {self.formula}"),
                ("Variance", f"design-based ({kind})"),
                ("Observations", f"{self.nobs} (rows dropped for missing values: "
                                 f"{self.n_dropped}"
                                 + (f"; {_counts(self.spec.missing)}" if self.n_dropped
                                    else "") + ")"),
                ("Residual df", f"{self.df_resid:g}"),
                ("Interval", f"{100 * level:g}%, t on the residual df")]
        return Summary(info=info, table=table)

    def __repr__(self) -> str:
        return repr(self.summary())


def _same_term(a: str, b: str) -> bool:
    def canon(t: str) -> str:
        return ":".join(sorted(p.strip() for p in t.split(":")))
    if canon(a) == canon(b):
        return True
    return a.startswith("C(") and a[2:].split(",")[0].rstrip(")") == b


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


from .margins import Margins  # noqa: E402  (the result type of GLMResult.margins)
