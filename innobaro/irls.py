"""The fitting core of the survey GLMs: families, IRLS, aliasing and refits.

One module owns how a model is fitted, so that the full-sample fit, the
refits under replicate weights (for the coefficients, the predictive margins
and the marginal effects) and the refits of nested models all go through the
same code with the same settings and the same warnings. :mod:`innobaro.models`
builds the result objects on top of it.

Aliasing follows R's ``glm.fit``: a column of the model matrix whose
residual, after the columns before it are projected out with the working
weights, is below ``1e-7`` of its own norm is aliased (LINPACK's QR with
limited pivoting, ``dqrdc2``). Its coefficient is not estimable: it is left
out of the fit, reported as ``NaN`` and named in a warning.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from ._linalg import (
    RowWeights,
    aliased_columns,
    column_qr,
    gram_clear,
    matmul_into,
    pair_products,
    replicate_support,
    tall_dot,
    tall_matmul,
    weighted_gram,
)
from ._progress import Progress, progress_reporter
from .errors import EstimationError, warn

__all__ = ["ALIAS_TOL", "FAMILIES", "LINKS", "QUASI_VARIANCES", "REFIT_MEMORY",
           "REFIT_ROWS_BLOCK", "Family", "Fit", "aliased", "family_name", "influence_rows",
           "irls", "irls_rows", "link_name", "refit_block", "refit_rows_block", "solve",
           "solve_many", "working_pass"]

#: R's default tolerance for aliasing in ``glm.fit`` and ``lm`` (``qr(tol=1e-7)``).
ALIAS_TOL = 1e-7


_EPS = float(np.finfo(float).eps)
#: R's bounds on the probit and cauchit linear predictor (-qnorm(eps), -qcauchy(eps))
_PROBIT_BOUND = float(-special.ndtri(_EPS))
_CAUCHIT_BOUND = float(-np.tan(np.pi * (_EPS - 0.5)))

#: The links, in R's spelling (``make.link``).
LINKS = ("identity", "log", "logit", "probit", "cauchit", "cloglog", "inverse", "1/mu^2",
         "sqrt")

#: Each family: (R's name, the variance function, the canonical link, R's usual links).
_FAMILY_TABLE: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "gaussian": ("constant", "identity", ("identity", "log", "inverse")),
    "binomial": ("mu(1-mu)", "logit", ("logit", "probit", "cauchit", "log", "cloglog")),
    "quasibinomial": ("mu(1-mu)", "logit", ("logit", "probit", "cauchit", "log", "cloglog")),
    "poisson": ("mu", "log", ("log", "identity", "sqrt")),
    "quasipoisson": ("mu", "log", ("log", "identity", "sqrt")),
    "Gamma": ("mu^2", "inverse", ("inverse", "log", "identity")),
    "inverse.gaussian": ("mu^3", "1/mu^2", ("1/mu^2", "inverse", "log", "identity")),
    "negative.binomial": ("mu+mu^2/theta", "log", ("log", "identity", "sqrt")),
    "quasi": ("constant", "identity", LINKS),
}

#: The family names :func:`~innobaro.glm` accepts, in R's spelling.
FAMILIES = tuple(_FAMILY_TABLE)

#: The variance functions of ``quasi`` (R's ``quasi(variance=)``).
QUASI_VARIANCES = ("constant", "mu(1-mu)", "mu", "mu^2", "mu^3")

_FAMILY_ALIASES = {"gamma": "Gamma", "inverse_gaussian": "inverse.gaussian",
                   "inversegaussian": "inverse.gaussian", "negbin": "negative.binomial",
                   "negative_binomial": "negative.binomial", "negativebinomial":
                   "negative.binomial", "nb": "negative.binomial"}
_LINK_ALIASES = {"inverse_squared": "1/mu^2", "inverse_power": "inverse", "log-log": "cloglog",
                 "complementary log-log": "cloglog"}


def family_name(name: str) -> str:
    """R's spelling of a family name (``"gamma"`` -> ``"Gamma"``); an unknown
    name is an error that lists the accepted ones."""
    if isinstance(name, str):
        if name in _FAMILY_TABLE:
            return name
        key = name.strip().lower().replace(" ", "")
        for known in _FAMILY_TABLE:
            if key == known.lower():
                return known
        if key in _FAMILY_ALIASES:
            return _FAMILY_ALIASES[key]
    raise EstimationError(f"unknown family {name!r}; the families are "
                          f"{', '.join(map(repr, FAMILIES))} (R's spellings), or a "
                          f"statsmodels family object")


def link_name(name: str, family: str) -> str:
    """R's spelling of a link name; an unknown link is an error naming the family
    and its links."""
    if isinstance(name, str):
        key = name.strip().replace(" ", "")
        if key in LINKS:
            return key
        key = key.lower()
        if key in LINKS:
            return key
        if key in _LINK_ALIASES:
            return _LINK_ALIASES[key]
    usual = _FAMILY_TABLE[family][2]
    raise EstimationError(f"unknown link {name!r} for the {family} family; its links are "
                          f"{', '.join(map(repr, usual))} (any of {', '.join(LINKS)} is "
                          f"accepted, as in R)")


@dataclass(frozen=True)
class Family:
    """A quasi-likelihood family: R's ``family`` object, vectorised.

    ``name`` is R's family name (``"binomial"``, ``"quasipoisson"``,
    ``"Gamma"``, ``"inverse.gaussian"``, ``"negative.binomial"``,
    ``"quasi"``, ...), ``link`` R's link name (the canonical one when
    empty), ``variance`` the variance function (set by the family, chosen for
    ``quasi``) and ``theta`` the negative binomial's :math:`\\theta`. Every
    function is R's, bounds included (``make.link``, the families'
    ``linkinv``, ``mu.eta``, ``dev.resids``, ``initialize``, ``validmu``
    and ``valideta``).
    """

    name: str
    link_name: str = ""
    variance_name: str = ""
    theta: float | None = None

    def __post_init__(self) -> None:
        name = family_name(self.name)
        object.__setattr__(self, "name", name)
        var, canonical, _ = _FAMILY_TABLE[name]
        link = link_name(self.link_name, name) if self.link_name else canonical
        object.__setattr__(self, "link_name", link)
        if name == "quasi":
            v = (self.variance_name or "constant").replace(" ", "")
            if v not in QUASI_VARIANCES:
                raise EstimationError(f"unknown variance {self.variance_name!r} for the quasi "
                                      f"family; the variances are "
                                      f"{', '.join(map(repr, QUASI_VARIANCES))}")
            var = v
        elif self.variance_name and self.variance_name.replace(" ", "") != var:
            raise EstimationError(f"the {name} family has variance {var}; a variance "
                                  f"{self.variance_name!r} needs family='quasi'")
        object.__setattr__(self, "variance_name", var)
        if name == "negative.binomial":
            theta = self.theta
            if theta is None or isinstance(theta, bool) or not np.isfinite(theta) \
                    or not theta > 0:
                raise EstimationError(f"the negative.binomial family needs theta > 0 (R's "
                                      f"negative.binomial(theta)); got {theta!r}")
            object.__setattr__(self, "theta", float(theta))
        elif self.theta is not None:
            raise EstimationError(f"theta is for family='negative.binomial', not {name!r}")

    # ------------------------------------------------------------------ naming
    @property
    def label(self) -> str:
        """The family as R prints it: ``binomial(link = "probit")``,
        ``quasi(link = "log", variance = "mu^2")``, ``negative.binomial(2)``."""
        if self.name == "quasi":
            return f'quasi(link = "{self.link_name}", variance = "{self.variance_name}")'
        if self.name == "negative.binomial":
            return f"negative.binomial({self.theta:g})"
        if self.canonical_link:
            return f"{self.name}()"
        return f'{self.name}(link = "{self.link_name}")'

    @property
    def canonical_link(self) -> bool:
        """Whether the link is the family's default (R's) one."""
        return self.link_name == _FAMILY_TABLE[self.name][1]

    @property
    def newton(self) -> bool:
        """IRLS is Newton's method: the canonical link of the variance function."""
        return (self.variance_name, self.link_name) in (
            ("constant", "identity"), ("mu(1-mu)", "logit"), ("mu", "log"),
            ("mu^2", "inverse"), ("mu^3", "1/mu^2"))

    @property
    def separable(self) -> bool:
        """Whether the fit can be separated: a binomial or poisson variance with
        a link whose mean reaches its bound only at an infinite linear
        predictor (the coefficients then run off)."""
        return self.variance_name in ("mu(1-mu)", "mu") and self.link_name in (
            "logit", "probit", "cauchit", "cloglog", "log")

    @property
    def is_binomial(self) -> bool:
        """Binomial variance (fitted values are probabilities)."""
        return self.variance_name == "mu(1-mu)"

    @property
    def needs_check(self) -> bool:
        """Whether a step can leave the valid region of the linear predictor or
        the mean (then IRLS halves it, as R's ``glm.fit``)."""
        link, var = self.link_name, self.variance_name
        if link in ("sqrt", "1/mu^2", "inverse"):
            return True
        if var == "mu(1-mu)":
            return link not in ("logit", "probit", "cauchit", "cloglog")
        if var == "constant":
            return False
        return link != "log"

    # ------------------------------------------------------------------ link
    def link(self, mu: np.ndarray) -> np.ndarray:
        """The link function :math:`\\eta = g(\\mu)`."""
        name = self.link_name
        if name == "identity":
            return np.asarray(mu, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            if name == "logit":
                return special.logit(mu)
            if name == "log":
                return np.log(mu)
            if name == "probit":
                return special.ndtri(mu)
            if name == "cauchit":
                return np.tan(np.pi * (mu - 0.5))
            if name == "cloglog":
                return np.log(-np.log1p(-mu))
            if name == "inverse":
                return 1.0 / mu
            if name == "1/mu^2":
                return 1.0 / mu ** 2
            return np.sqrt(mu)

    def inverse_link(self, eta: np.ndarray) -> np.ndarray:
        """The mean :math:`\\mu = g^{-1}(\\eta)`, with R's bounds."""
        name = self.link_name
        if name == "logit":
            # 1 / (1 + exp(-eta)), bounded away from 0 and 1 as R's
            # binomial()$linkinv; exp overflows to inf for eta below -709,
            # where the bound applies anyway
            with np.errstate(over="ignore"):
                mu = np.exp(-eta)
            mu += 1.0
            np.reciprocal(mu, out=mu)
            return np.clip(mu, _EPS, 1 - _EPS, out=mu)
        if name == "log":
            return np.maximum(np.exp(eta), _EPS)
        if name == "identity":
            return eta
        if name == "probit":
            return special.ndtr(np.clip(eta, -_PROBIT_BOUND, _PROBIT_BOUND))
        if name == "cauchit":
            return 0.5 + np.arctan(np.clip(eta, -_CAUCHIT_BOUND, _CAUCHIT_BOUND)) / np.pi
        if name == "cloglog":
            with np.errstate(over="ignore"):
                return np.clip(-np.expm1(-np.exp(eta)), _EPS, 1 - _EPS)
        with np.errstate(divide="ignore", invalid="ignore"):
            if name == "inverse":
                return 1.0 / eta
            if name == "1/mu^2":
                return 1.0 / np.sqrt(eta)
            return eta * eta  # sqrt

    def dmu_deta(self, eta: np.ndarray, mu: np.ndarray) -> np.ndarray:
        """:math:`d\\mu/d\\eta` at ``eta`` (``mu`` its mean), with R's bounds."""
        name = self.link_name
        if name == "logit":
            return np.maximum(mu * (1 - mu), _EPS)
        if name == "log":
            return np.maximum(mu, _EPS)
        if name == "identity":
            return np.ones_like(eta)
        if name == "probit":
            return np.maximum(np.exp(-0.5 * eta * eta) / np.sqrt(2 * np.pi), _EPS)
        if name == "cauchit":
            return np.maximum(1.0 / (np.pi * (1.0 + eta * eta)), _EPS)
        if name == "cloglog":
            e = np.minimum(eta, 700.0)
            with np.errstate(over="ignore"):
                return np.maximum(np.exp(e) * np.exp(-np.exp(e)), _EPS)
        with np.errstate(divide="ignore", invalid="ignore"):
            if name == "inverse":
                return -1.0 / (eta * eta)
            if name == "1/mu^2":
                return -1.0 / (2 * eta ** 1.5)
            return 2 * eta  # sqrt

    def d2mu_deta2(self, mu: np.ndarray) -> np.ndarray:
        """Second derivative of the inverse link at ``mu``."""
        name = self.link_name
        if name == "logit":
            return mu * (1 - mu) * (1 - 2 * mu)
        if name == "log":
            return mu
        if name == "identity":
            return np.zeros_like(mu)
        eta = self.link(mu)
        if name == "probit":
            return -eta * np.exp(-0.5 * eta * eta) / np.sqrt(2 * np.pi)
        if name == "cauchit":
            return -2 * eta / (np.pi * (1 + eta * eta) ** 2)
        if name == "cloglog":
            e = np.exp(eta)
            return e * np.exp(-e) * (1 - e)
        if name == "inverse":
            return 2.0 / eta ** 3
        if name == "1/mu^2":
            return 0.75 * eta ** -2.5
        return np.full_like(mu, 2.0)  # sqrt

    # ------------------------------------------------------------------ variance
    def variance(self, mu: np.ndarray) -> np.ndarray:
        """The variance function :math:`V(\\mu)`."""
        v = self.variance_name
        if v == "mu(1-mu)":
            return mu * (1 - mu)
        if v == "mu":
            return mu
        if v == "constant":
            return np.ones_like(mu)
        if v == "mu^2":
            return mu * mu
        if v == "mu^3":
            return mu ** 3
        assert self.theta is not None
        return mu + mu * mu / self.theta

    def working(self, eta: np.ndarray, mu: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """IRLS factors ``(mu'^2 / V, mu' / V)`` at ``mu``; the second is
        None where it is exactly 1, as for the canonical links of the
        gaussian, binomial and poisson families except where R's bounds on
        ``mu'`` apply."""
        if self.link_name == "logit" and self.variance_name == "mu(1-mu)":
            v = mu * (1 - mu)  # mu' = max(v, eps) is v itself when v >= eps
            if v.size and v.min() >= _EPS:
                return v, None
        d = self.dmu_deta(eta, mu)
        v = self.variance(mu)
        if self.variance_name == "constant" and self.link_name == "identity":
            return v, None
        if self.newton and self.variance_name in ("mu(1-mu)", "mu") \
                and np.array_equal(d, v):
            return v, None
        g = d / v
        return d * g, g

    def deviance_residuals(self, y: np.ndarray, mu: np.ndarray) -> np.ndarray:
        """Unit deviance d(y, mu) (summed with weights for the deviance), R's
        ``dev.resids`` with unit weights."""
        v = self.variance_name
        if v == "mu(1-mu)":
            return 2 * (special.xlogy(y, y / mu) + special.xlogy(1 - y, (1 - y) / (1 - mu)))
        if v == "mu":
            return 2 * (special.xlogy(y, y / mu) - (y - mu))
        if v == "constant":
            return (y - mu) ** 2
        with np.errstate(divide="ignore", invalid="ignore"):
            if v == "mu^2":
                if self.name == "Gamma":
                    return -2 * (np.log(np.where(y == 0, 1.0, y / mu)) - (y - mu) / mu)
                return np.maximum(-2 * (np.log(np.where(y == 0, 1.0, y) / mu)
                                        - (y - mu) / mu), 0.0)
            if v == "mu^3":
                return (y - mu) ** 2 / (y * mu ** 2)
            theta = self.theta
            assert theta is not None
            return 2 * (y * np.log(np.maximum(1.0, y) / mu)
                        - (y + theta) * np.log((y + theta) / (mu + theta)))

    # ------------------------------------------------------------------ fitting
    def start(self, y: np.ndarray, w: np.ndarray) -> np.ndarray:
        """R's starting means (the family's ``initialize``)."""
        name, v = self.name, self.variance_name
        if name in ("binomial", "quasibinomial"):
            return (w * y + 0.5) / (w + 1)  # glm's mustart for binomial
        if name in ("poisson", "quasipoisson"):
            return y + 0.1
        if name == "negative.binomial":
            return y + (y == 0) / 6.0
        if name == "quasi":
            if v == "mu(1-mu)":
                return np.clip(y, 0.001, 0.999)
            if v in ("mu", "mu^2", "mu^3"):
                return y + 0.1 * (y == 0)
        return y.copy()

    def valid(self, eta: np.ndarray, mu: np.ndarray) -> np.ndarray:
        """R's ``valideta(eta) && validmu(mu)``, for every column of ``eta``
        (rows down): a boolean per column."""
        ok = np.isfinite(eta).all(axis=0)
        link = self.link_name
        if link in ("sqrt", "1/mu^2"):
            ok &= (eta > 0).all(axis=0)
        elif link == "inverse":
            ok &= (eta != 0).all(axis=0)
        v = self.variance_name
        if v == "mu(1-mu)":
            ok &= (np.isfinite(mu) & (mu > 0) & (mu < 1)).all(axis=0)
        elif v in ("mu", "mu^2", "mu+mu^2/theta"):
            ok &= (np.isfinite(mu) & (mu > 0)).all(axis=0)
        elif v == "mu^3" and self.name == "quasi":
            ok &= (mu > 0).all(axis=0)
        return np.asarray(ok)

    def check_response(self, y: np.ndarray, has_start: bool = False) -> None:
        """R's checks of the response in the family's ``initialize`` (the
        gaussian family's only without starting coefficients)."""
        name, link = self.name, self.link_name
        if self.is_binomial and name != "quasi":
            bad = (y < 0) | (y > 1)
            if bad.any():
                raise EstimationError(f"{name} response must be in [0, 1]; found "
                                      f"{y[bad][0]!r}. Code the outcome as 0/1 or a "
                                      f"proportion")
        elif name in ("poisson", "quasipoisson", "negative.binomial") and (y < 0).any():
            raise EstimationError(f"{name} response must be non-negative; found "
                                  f"{y[y < 0][0]!r}")
        elif name in ("Gamma", "inverse.gaussian") and (y <= 0).any():
            raise EstimationError(f"{name} response must be positive; found "
                                  f"{y[y <= 0][0]!r}")
        elif name == "gaussian" and not has_start and (
                (link == "log" and (y <= 0).any()) or (link == "inverse" and (y == 0).any())):
            what = "zero or negative values" if link == "log" else "zeros"
            raise EstimationError(f"gaussian family with {link} link: the response has {what}, "
                                  f"so there are no valid starting values (R: 'cannot find "
                                  f"valid starting values'); give start=")


# ----------------------------------------------------------------------------
# fitting
# ----------------------------------------------------------------------------
def irls(X: np.ndarray, y: np.ndarray, W: np.ndarray, fam: Family, *,
          beta0: np.ndarray | None, tol: float, max_iter: int,
          offset: np.ndarray | None = None) -> tuple[np.ndarray, int, float]:
    """IRLS for every column of the weight matrix ``W`` (n, k) at once.

    ``offset`` (n,) is added to the linear predictor. A step that leaves the
    family's valid region (``Family.valid``: a log-binomial mean above 1, a
    negative inverse-link mean, ...) is halved towards the previous
    coefficients until it is valid, as R's ``glm.fit`` does, with a warning
    naming the family and link; no valid step is an error.

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
                         offset=offset)
    # row-major weights: every elementwise step below then runs on one layout
    # (replicate weights are often stored column-major)
    W = np.ascontiguousarray(W)
    off = None if offset is None else offset[:, None]
    if beta0 is None:
        mu = fam.start(y, np.ones(n))
        eta = fam.link(mu)
        eta = np.repeat(eta[:, None], k, axis=1)
        beta = np.zeros((p, k))
        first = True
    else:
        beta = np.repeat(beta0[:, None], k, axis=1) if beta0.ndim == 1 else beta0.copy()
        eta = tall_dot(X, beta)
        if off is not None:
            eta += off
        first = False
    halved = False
    failed = np.zeros(k, dtype=bool)
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
        # X' W z with the working response z = eta - offset + (y - mu) / mu'
        rhs = X.T @ (ww * (e if off is None else e - off) + score)
        new = solve_many(G, rhs)
        eta_new = tall_dot(X, new)
        if off is not None:
            eta_new += off
        if fam.needs_check:
            new, eta_new, stuck = _halve(X, fam, new, eta_new, None if first else beta[:, idx],
                                         off, max_iter)
            halved |= stuck is not None
            if stuck is not None and stuck.any():
                # these columns keep their coefficients: not converged
                failed[idx[stuck]] = True
        delta = np.abs(new - beta[:, idx]) / (_scale(fam, G, Wa) + np.abs(new))
        beta[:, idx] = new
        eta[:, idx] = eta_new
        worst = delta.max(axis=0)
        change = float(worst.max())
        flat = np.zeros(idx.size, dtype=bool)
        if it >= 8:  # a fit this slow may be separated: watch the deviance too
            mu_new = fam.inverse_link(eta[:, idx])
            dev = (W[:, idx] * fam.deviance_residuals(y[:, None], mu_new)).sum(axis=0)
            flat = np.abs(dev - dev_old[idx]) <= 1e-15 * (np.abs(dev) + 0.1)
            dev_old[idx] = dev
            flat &= _drifting(worst, prev[idx], tol, fam.separable)
        done = _converged(worst, prev[idx], tol, fam.newton)
        prev[idx] = worst
        if not first:
            active[idx[done | flat]] = False
        active &= ~failed
        first = False
        if not active.any():
            _warn_halved(fam, halved)
            return beta, it, -np.inf if failed.any() else change
    _warn_halved(fam, halved)
    return beta, max_iter, -np.inf if failed.any() else -change


def irls_rows(X: np.ndarray, y: np.ndarray, W: RowWeights, fam: Family, *,
              beta0: np.ndarray, tol: float, max_iter: int,
              offset: np.ndarray | None = None) -> tuple[np.ndarray, int, float]:
    """:func:`irls` for every column of ``W`` at once, warm-started at ``beta0``
    (p,), one pass over blocks of rows per iteration: no (n, k) array.

    For families whose steps need no check (not ``Family.needs_check``).
    Each block of rows gives, for every active column, the linear predictor,
    the working weights and the score residuals of its rows, and adds to the
    normal equations: the Gram matrices of every column as one matrix
    product of the rows' pairwise column products (pairs, rows) with the
    working weights (rows, k), the right-hand sides as another. The weights
    are read a block at a time (:class:`~innobaro._linalg.RowWeights`, so
    replicates held as unit factors are never expanded). The same steps and
    stopping rules as :func:`irls`; the deviance that detects separation is
    the one at the coefficients the pass started from, as in the
    one-column fit.

    Returns coefficients (p, k), iterations, and the last largest change,
    negated when some column did not converge.
    """
    n, p = X.shape
    k = W.shape[1]
    XT = X.T  # (p, n): a block of rows is contiguous when X is column-major
    upper_i, upper_j = np.triu_indices(p)
    beta = np.repeat(np.asarray(beta0, dtype=float).reshape(-1)[:, None], k, axis=1)
    cheap = fam.newton and fam.link_name in ("identity", "logit", "log")
    mean_w = None
    active = np.ones(k, dtype=bool)
    prev = np.full(k, np.inf)
    dev_old = np.full(k, np.inf)
    change = np.inf
    for it in range(1, max_iter + 1):
        idx = np.flatnonzero(active)
        src = W if idx.size == k else W.select(idx)
        old = beta[:, idx]
        tri, rhs, dev, wsum = _rows_pass(XT, y, src, fam, old, offset, upper_i, upper_j,
                                         deviance=it >= 7, sums=mean_w is None and not cheap)
        if mean_w is None and not cheap:
            mean_w = wsum / max(n, 1)  # every column is active in the first pass
        G = np.empty((idx.size, p, p))
        G[:, upper_i, upper_j] = tri.T
        G[:, upper_j, upper_i] = tri.T
        new = solve_many(G, rhs)
        scale = 1.0 if cheap else _scale_of(fam, G, None if mean_w is None else mean_w[idx])
        worst = (np.abs(new - old) / (scale + np.abs(new))).max(axis=0)
        change = float(worst.max())
        flat = np.zeros(idx.size, dtype=bool)
        if it >= 8:  # the deviance at the coefficients of the pass: flat means separated
            flat = np.abs(dev - dev_old[idx]) <= 1e-15 * (np.abs(dev) + 0.1)
            flat &= _drifting(worst, prev[idx], tol, fam.separable)
        if it >= 7:
            dev_old[idx] = dev
        done = _converged(worst, prev[idx], tol, fam.newton)
        prev[idx] = worst
        beta[:, idx] = new
        active[idx[done | flat]] = False
        if not active.any():
            return beta, it, change
    return beta, max_iter, -change


def _rows_pass(XT: np.ndarray, y: np.ndarray, W: RowWeights, fam: Family, B: np.ndarray,
               offset: np.ndarray | None, upper_i: np.ndarray, upper_j: np.ndarray, *,
               deviance: bool, sums: bool
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One pass of :func:`irls_rows` at the coefficients ``B`` (p, k): the upper
    triangles of the k Gram matrices (pairs, k), the right-hand sides (p, k),
    and optionally each column's deviance and weight total. The products
    run in slices small enough for one BLAS thread
    (:func:`~innobaro._linalg.matmul_into`)."""
    p, n = XT.shape
    k = B.shape[1]
    same = k > 1 and bool((B == B[:, :1]).all())
    tri = np.zeros((upper_i.size, k))
    rhs = np.zeros((p, k))
    dev = np.zeros(k)
    wsum = np.zeros(k)
    step = W.step(6)
    pairs = np.empty((upper_i.size, step))
    for a in range(0, n, step):  # blocks of rows, each used once while in cache
        b = min(n, a + step)
        Xb = XT[:, a:b]
        Wb = W.block(a, b)  # (rows, k)
        # X beta, without the offset; once when every column starts at the
        # same coefficients (the first pass of refits from the full sample)
        lin = tall_matmul(Xb.T, B[:, :1] if same else B)
        eta = lin if offset is None else lin + offset[a:b, None]
        mu = fam.inverse_link(eta)
        h, g = fam.working(eta, mu)
        yb = y[a:b, None]
        score = (yb - mu) * Wb  # score residuals w (y - mu) mu' / V
        if g is not None:
            score *= g
        if deviance:  # before lin changes (mu is lin itself for the identity link)
            dres = fam.deviance_residuals(yb, mu)
            dev += np.einsum("ij,ij->j", Wb, np.broadcast_to(dres, Wb.shape))
        ww = h * Wb  # working weights w mu'^2 / V
        matmul_into(tri, pair_products(Xb, pairs[:, :b - a]), ww)
        # X' W z with the working response z = eta - offset + (y - mu) / mu'
        z = np.multiply(lin, ww, out=None if same else lin)
        z += score
        matmul_into(rhs, Xb, z)
        if sums:
            wsum += Wb.sum(axis=0)
    return tri, rhs, dev, wsum


def _halve(X: np.ndarray, fam: Family, new: np.ndarray, eta: np.ndarray,
           old: np.ndarray | None, off: np.ndarray | None, max_iter: int
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """R's step-halving: columns of ``new`` (p, k) whose linear predictor
    ``eta`` (n, k) or mean is invalid move half-way back to ``old`` until
    valid, at most ``max_iter`` times. Returns the coefficients, their linear
    predictor, and None when every step was valid, else a mask of the columns
    left invalid (those get ``old`` back). Without ``old`` (the first step
    from the starting means) an invalid step is an error, as in R."""
    ok = fam.valid(eta, fam.inverse_link(eta))
    if ok.all():
        return new, eta, None
    if old is None:
        raise EstimationError(
            f"{fam.name} family with {fam.link_name} link: no valid set of coefficients "
            f"found from the starting values (the linear predictor or fitted means leave "
            f"the family's range{_RANGE.get(fam.variance_name, '')}); give start= or use "
            f"another link")
    new, eta = new.copy(), eta.copy()
    for _ in range(max_iter):  # halvings, each over every invalid column at once
        bad = np.flatnonzero(~ok)
        if bad.size == 0:
            break
        new[:, bad] = (new[:, bad] + old[:, bad]) / 2
        e = tall_dot(X, new[:, bad])
        if off is not None:
            e += off
        eta[:, bad] = e
        ok[bad] = fam.valid(e, fam.inverse_link(e))
    stuck = ~ok
    if stuck.any():
        new[:, stuck] = old[:, stuck]
        e = tall_dot(X, old[:, stuck])
        eta[:, stuck] = e if off is None else e + off
    return new, eta, stuck


_RANGE = {"mu(1-mu)": ": fitted probabilities must be in (0, 1)",
          "mu": ": fitted means must be positive", "mu^2": ": fitted means must be positive",
          "mu+mu^2/theta": ": fitted means must be positive"}


def _warn_halved(fam: Family, halved: bool) -> None:
    if halved:
        warn(f"{fam.name} family with {fam.link_name} link: an IRLS step left the valid "
             f"range of the model{_RANGE.get(fam.variance_name, '')}, and was halved (R: "
             f"'step size truncated: out of bounds'); if the fit ends at the boundary, its "
             f"standard errors are not reliable. Check the fitted values or use another link")


def _converged(step: np.ndarray, previous: np.ndarray, tol: float,
               quadratic: bool = True) -> np.ndarray:
    """Whether IRLS has converged after a step of relative size ``step``.

    IRLS is Newton's method for the canonical links: once the steps shrink
    quadratically, a step of d leaves an error of about d^2, so besides a step
    below ``tol``, a step below ``sqrt(tol)/10`` that squares the previous one
    is final. For other links (Fisher scoring, which converges linearly,
    ``quadratic=False``) only a step below ``tol`` is.
    """
    if not quadratic:
        return step < tol
    newton = (step < 0.1 * np.sqrt(tol)) & (step <= 10 * previous ** 2)
    return (step < tol) | newton


def _scale(fam: Family, G: np.ndarray, w: np.ndarray) -> np.ndarray | float:
    r"""The scale a coefficient's change is measured against, besides its size.

    1 for the gaussian, binomial and poisson families' canonical links, whose
    coefficients are of the order of their variables' scale. Other families
    and links (an inverse link's coefficients are often 1e-6) use each
    coefficient's model-based standard error on weights of mean one,
    :math:`\sqrt{(G^{-1})_{jj} \sum_i w_i / n}`, which does not depend on
    the units of its variable: a change below ``tol`` of it is final.
    ``G`` is (p, p) with ``w`` (n,), or (k, p, p) with ``w`` (n, k).
    """
    if fam.newton and fam.link_name in ("identity", "logit", "log"):
        return 1.0
    return _scale_of(fam, G, w.sum(axis=0) / w.shape[0])


def _scale_of(fam: Family, G: np.ndarray, mean_w: np.ndarray | float | None
              ) -> np.ndarray | float:
    """:func:`_scale` from the mean weight of each column (``mean_w``)."""
    if mean_w is None or (fam.newton and fam.link_name in ("identity", "logit", "log")):
        return 1.0
    try:
        inv = np.linalg.inv(G)
    except np.linalg.LinAlgError:
        return 1.0
    diag = np.diagonal(inv, axis1=-2, axis2=-1)  # (p,) or (k, p)
    out = np.sqrt(np.abs(diag.T) * mean_w)
    return np.where(np.isfinite(out) & (out > 0), out, 1.0)


def _drifting(step: np.ndarray, previous: np.ndarray, tol: float,
              separable: bool) -> np.ndarray:
    """With a deviance that no longer changes: whether the coefficients still
    move for no gain (separation: steps that stay large) or only by rounding
    (tiny steps that no longer shrink), rather than still converging (a
    non-canonical link's Fisher scoring converges linearly, and an
    overdispersed deviance is flat to rounding long before the coefficients
    are final). Only fits that can be separated (``separable``: coefficients
    that run off to infinity as fitted means approach 0 or 1) count large
    steps as drift."""
    noise = (step >= previous) & (step < 1e3 * tol)
    return (step > 1e-6) | noise if separable else noise


_BLOCK = 1 << 15  # rows per block: a block of every column stays in cache


@dataclass
class Pass:
    """What one pass over the rows at some coefficients gives."""

    G: np.ndarray  # X' W X with the working weights
    rhs: np.ndarray  # X' W z, z the working response
    r: np.ndarray | None  # per row: w (y - mu) mu'(eta) / V(mu), the score residual
    deviance: float
    n_extreme: int  # rows with fitted probabilities within 1e-8 of 0 or 1 (binomial)


def working_pass(X: np.ndarray, y: np.ndarray, w: np.ndarray, fam: Family,
                  beta: np.ndarray | None, eta0: np.ndarray | None, *,
                  deviance: bool = False, residuals: bool = False,
                  offset: np.ndarray | None = None) -> Pass:
    """One pass over the rows in blocks: the IRLS normal equations at ``beta``
    (or at the linear predictor ``eta0``, offset included), and optionally
    the weighted score residuals and the deviance; ``offset`` is added to
    ``X beta``.

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
        if eta0 is None:
            eta = beta @ Xb
            if offset is not None:
                eta += offset[a:b]
        else:
            eta = eta0[a:b]
        mu = fam.inverse_link(eta)
        h, g = fam.working(eta, mu)
        wb = w[a:b]
        ww = wb * h  # working weights w mu'^2 / V
        rb = wb * (y[a:b] - mu)  # score residuals w (y - mu) mu' / V
        if g is not None:
            rb *= g
        Xs = np.multiply(Xb, np.sqrt(ww), out=buf[:, :b - a])
        G += Xs @ Xs.T
        rhs += Xb @ (ww * (eta if offset is None else eta - offset[a:b]) + rb)
        if r is not None:
            r[a:b] = rb
        if deviance:
            dev += float(np.sum(wb * fam.deviance_residuals(y[a:b], mu)))
        if fam.is_binomial:
            extreme += int(np.count_nonzero((mu < 1e-8) | (mu > 1 - 1e-8)))
    return Pass(G, rhs, r, dev, extreme)


def _irls_one(X: np.ndarray, y: np.ndarray, w: np.ndarray, fam: Family, *,
              beta0: np.ndarray | None, tol: float, max_iter: int,
              offset: np.ndarray | None = None) -> tuple[np.ndarray, int, float]:
    """:func:`irls` for one weight column, one pass over the rows per iteration."""
    if (w < 0).any():  # the blocked pass takes square roots of the working weights
        raise EstimationError("model weights must be non-negative")
    X = np.asfortranarray(X)
    beta = None if beta0 is None else np.asarray(beta0, dtype=float).reshape(-1).copy()
    eta0 = fam.link(fam.start(y, np.ones(y.size))) if beta is None else None
    first = beta is None
    prev = np.inf
    dev_old = np.inf
    change = np.inf
    halved = False
    for it in range(1, max_iter + 1):
        ps = working_pass(X, y, w, fam, beta, eta0, deviance=it >= 7, offset=offset)
        eta0 = None
        new = solve(ps.G, ps.rhs)
        if fam.needs_check:
            off = None if offset is None else offset[:, None]
            eta_new = X @ new[:, None] if off is None else X @ new[:, None] + off
            res, _, stuck = _halve(X, fam, new[:, None], eta_new,
                                   None if beta is None else beta[:, None], off, max_iter)
            halved |= stuck is not None
            if stuck is not None and stuck.any():
                raise EstimationError(
                    f"{fam.name} family with {fam.link_name} link: no valid step after "
                    f"{max_iter} halvings (the fitted means leave the family's range"
                    f"{_RANGE.get(fam.variance_name, '')}); give start= or use another link")
            new = res[:, 0]
        worst = float(np.max(np.abs(new - beta) / (_scale(fam, ps.G, w) + np.abs(new)))) \
            if beta is not None \
            else np.inf
        beta = new
        change = worst
        # the deviance here is at the previous coefficients: flat means separated
        flat = it >= 8 and abs(ps.deviance - dev_old) <= 1e-15 * (abs(ps.deviance) + 0.1) \
            and bool(_drifting(np.asarray(worst), np.asarray(prev), tol, fam.separable))
        dev_old = ps.deviance
        done = bool(_converged(np.asarray(worst), np.asarray(prev), tol, fam.newton))
        prev = worst
        if not first and (done or flat):
            _warn_halved(fam, halved)
            return beta[:, None], it, change
        first = False
    assert beta is not None  # max_iter >= 1, checked by glm
    _warn_halved(fam, halved)
    return beta[:, None], max_iter, -change


def solve_many(G: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Solve ``G[j] x = B[:, j]`` for every j at once: (p, k)."""
    try:
        return np.linalg.solve(G, B.T[:, :, None])[:, :, 0].T
    except np.linalg.LinAlgError:  # some system is singular: least squares for all
        return np.stack([solve(G[j], B[:, j]) for j in range(B.shape[1])], axis=1)


def solve(G: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``G x = b``, by least squares when ``G`` is singular."""
    try:
        return np.linalg.solve(G, b)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(G, b, rcond=None)[0]


def influence_rows(X: np.ndarray, A: np.ndarray, r: np.ndarray, rows: np.ndarray,
                    n: int) -> np.ndarray:
    """``z[rows[i]] = r_i x_i' A`` and zero elsewhere: (n, p), column-major,
    computed in blocks of rows as ``A (X' diag(r))`` on the transpose. The
    products are taken in sub-blocks of at most ``2^18 / p^2`` rows (at
    least 256), which the BLAS computes on one thread: a threaded product
    of the whole block is no faster on two cores and, on a busy machine,
    spends several times its CPU time waiting for its threads."""
    p = X.shape[1]
    zT = np.zeros((p, n)) if rows.size < n else np.empty((p, n))
    XT = X.T
    buf = np.empty((p, min(rows.size, _BLOCK)))
    sub = max(256, (1 << 18) // max(1, p * p))
    for a in range(0, rows.size, _BLOCK):  # blocks of rows, each used once while in cache
        b = min(rows.size, a + _BLOCK)
        part = np.multiply(XT[:, a:b], r[a:b], out=buf[:, :b - a])
        for c in range(a, b, sub):  # sub-blocks of rows for the product
            d = min(b, c + sub)
            if rows.size == n:
                np.matmul(A, part[:, c - a:d - a], out=zT[:, c:d])
            else:
                zT[:, rows[c:d]] = A @ part[:, c - a:d - a]
    return zT.T




def aliased(X: np.ndarray, y: np.ndarray, w: np.ndarray, fam: Family,
            tol: float = ALIAS_TOL) -> np.ndarray:
    r"""Aliased columns of the model matrix ``X`` among the rows of the fit.

    R's rule (``glm.fit``): a QR with limited pivoting of
    :math:`\sqrt{W} X`, ``W`` the working weights, marks a column aliased when
    its residual on the columns kept before it is below ``tol`` times its
    norm; a column of zeros (a level without rows) always is. The working
    weights are those of the first IRLS step (the sampling weights times a
    factor that is constant for the binomial family), so the same columns
    are found as at R's last step for every exact dependency. The QR runs
    in blocks of rows (:func:`~innobaro._linalg.column_qr`), as stable as
    one QR of the matrix: the Gram matrix would square the column scale and
    leave the decision to rounding error.

    Returns a boolean mask over the columns, True where aliased.
    """
    mu = fam.start(y, np.ones(y.size))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        h, _ = fam.working(fam.link(mu), mu)
    # the columns' dependencies, not the weights, decide: a link without a
    # finite working weight at some starting mean counts that row at weight 1
    h = np.where(np.isfinite(h) & (h > 0), h, 1.0)
    ww = w * h
    # a fast screen on the Gram matrix: its Schur complements give the squared
    # relative residuals to about 1e-15, so a model whose every column keeps
    # more than 1e-8 of its norm squared (a residual above 1e-4 of the norm,
    # far from R's 1e-7) has no aliased column; otherwise the QR decides
    if gram_clear(weighted_gram(X, ww[:, None])[0]):
        return np.zeros(X.shape[1], dtype=bool)
    return aliased_columns(column_qr(X, np.sqrt(ww)), tol)


#: Bytes the working arrays of one block of replicate refits may take (at
#: least; the replicate weights' own size when that is more).
REFIT_MEMORY = 256 * 2 ** 20

#: float64 arrays of n values that IRLS keeps alive per replicate refitted
#: at once (weights, linear predictor, mean, working weights, score, ...).
_REFIT_ARRAYS = 12


def refit_block(n: int, replicates: int, weight_bytes: int = 0) -> int:
    """How many replicates to refit at once: the most whose working arrays
    (about 12 float64 arrays of ``n`` values each) fit in
    ``max(REFIT_MEMORY, weight_bytes)`` bytes, at least one and at most
    ``replicates``. With many rows that is one replicate in twelve, whose
    working arrays take at most about the replicate weights' size (fewer
    replicates at once would save memory but cost time: IRLS forms the
    products of the model's columns once per block).

    Parameters
    ----------
    n : int
        Rows of the fit.
    replicates : int
    weight_bytes : int
        Size of the replicate weights, which may be used when it is more
        than :data:`REFIT_MEMORY`.

    Returns
    -------
    int
    """
    budget = max(REFIT_MEMORY, weight_bytes)
    return int(min(max(replicates, 1), max(1, budget // (8 * _REFIT_ARRAYS * max(n, 1)))))


#: Replicates refitted together on the row path (:func:`irls_rows`), at most:
#: the memory does not grow with them, and the products of the model's
#: columns are formed once per block of rows for all of them; a block is
#: the unit of ``progress=``.
REFIT_ROWS_BLOCK = 40


def refit_rows_block(replicates: int) -> int:
    """How many replicates :func:`irls_rows` refits at once: the replicates
    in equal blocks of at most :data:`REFIT_ROWS_BLOCK`.

    Parameters
    ----------
    replicates : int

    Returns
    -------
    int
    """
    R = max(replicates, 1)
    blocks = -(-R // REFIT_ROWS_BLOCK)
    return -(-R // blocks)


@dataclass(frozen=True)
class Fit:
    """A fitted model's estimable part, with what a refit needs.

    ``X`` holds the columns that are not aliased (``keep``) for the rows of
    the fit (``rows``, positions in the design), column-major; ``beta`` their
    coefficients; ``tol`` and ``max_iter`` the settings of the fit, which
    every refit uses.
    """

    X: np.ndarray
    y: np.ndarray
    w: np.ndarray
    rows: np.ndarray
    family: Family
    beta: np.ndarray
    keep: np.ndarray
    tol: float
    max_iter: int
    offset: np.ndarray | None = None

    def refit(self, W: np.ndarray | RowWeights, *, progress: Progress = None,
              block: int | None = None) -> np.ndarray:
        """Coefficients under each column of the design-row weights ``W``
        (n_design, R): (R, p) over every model column, 0 for aliased ones.

        A replicate in which some column has no row with positive weight (a
        level absent from it) cannot estimate the model: its row is ``NaN``,
        and the variance engine discards it with a warning, as R's
        ``svrVar`` discards replicates whose ``svyglm`` refit has an ``NA``
        coefficient. Warm-started at the full-sample fit, with the fit's own
        ``tol`` and ``max_iter``; separated or unconverged refits are named
        in a warning.

        ``W`` is the (n_design, R) matrix, or a
        :class:`~innobaro._linalg.RowWeights` over the design's rows (the
        replicates held as unit factors, never expanded to (n, R)). Families
        whose steps need no check are refitted by :func:`irls_rows`: every
        replicate of a block in one pass over blocks of rows per iteration,
        so the memory beyond ``W`` is a few MB whatever ``n``; the others
        (step-halving) by :func:`irls` on the block's (n, block) weights,
        whose working arrays take about :data:`REFIT_MEMORY` bytes, or the
        size of ``W`` if that is more (:func:`refit_block`). The replicates
        are refitted in blocks of ``block`` columns (by default
        :func:`refit_block`, or :data:`REFIT_ROWS_BLOCK` on the row path);
        ``progress(done, total)`` is called after each block (or a tqdm bar
        moves, ``progress="tqdm"``).
        """
        src = W if isinstance(W, RowWeights) else RowWeights(np.asarray(W, dtype=float))
        n_design, R = src.shape
        if self.rows.size != n_design:  # the fit's rows are not all rows, in order
            src = src.take(self.rows)
        rows_path = not self.family.needs_check
        if block is not None:
            size = max(1, block)
        elif rows_path:
            size = refit_rows_block(R)
        else:
            size = refit_block(self.rows.size, R, 8 * n_design * R)
        report = progress_reporter(progress, R)
        out = np.zeros((R, self.keep.size))
        estimable = np.flatnonzero(self.keep)
        separated, failed = 0, False
        # the replicates that cannot estimate the model, all at once on the row
        # path (a pass of sums per unit for factors), per block otherwise
        lost_all = replicate_support(self.X, src) if rows_path else None
        for a in range(0, R, size):  # over blocks of replicates
            b = min(R, a + size)
            part = src.select(np.arange(a, b))
            lost = lost_all[a:b] if lost_all is not None else replicate_support(self.X, part)
            out[a:b][lost] = np.nan
            use = np.flatnonzero(~lost)
            if use.size:
                pu = part if use.size == b - a else part.select(use)
                if rows_path:
                    B, _, change = irls_rows(self.X, self.y, pu, self.family, beta0=self.beta,
                                             tol=self.tol, max_iter=self.max_iter,
                                             offset=self.offset)
                else:
                    B, _, change = irls(self.X, self.y, pu.full(), self.family,
                                        beta0=self.beta, tol=self.tol,
                                        max_iter=self.max_iter, offset=self.offset)
                separated += self._separated(B)
                failed |= change < 0 or not np.isfinite(change)
                out[np.ix_(a + use, estimable)] = B.T
            report(b)
        self._check_refits(separated, R, failed)
        return out

    def _separated(self, B: np.ndarray) -> int:
        """How many refits (columns of ``B``) have fitted probabilities of 0
        or 1 in a binomial model (separation within those replicates)."""
        if not self.family.is_binomial:
            return 0
        XT = self.X.T
        n = XT.shape[1]
        extreme = np.zeros(B.shape[1], dtype=bool)
        bound = float(special.logit(1 - 1e-8))
        step = max(256, (1 << 18) // max(1, B.shape[1]))
        for a in range(0, n, step):  # blocks of rows: no (n, k) array
            E = tall_matmul(XT[:, a:a + step].T, B)
            if self.offset is not None:
                E += self.offset[a:a + step, None]
            if self.family.link_name == "logit":
                extreme |= (np.abs(E) > bound).any(axis=0)
            else:
                mu = self.family.inverse_link(E)
                extreme |= ((mu < 1e-8) | (mu > 1 - 1e-8)).any(axis=0)
        return int(extreme.sum())

    def _check_refits(self, separated: int, total: int, failed: bool) -> None:
        """Warn when replicate refits ran away: separation within some
        replicates (fitted probabilities of 0 or 1, e.g. a sparse level left
        with one outcome in a half-sample), or no convergence. R's ``svyglm``
        says nothing."""
        problems = []
        if separated:
            problems.append(f"{separated} of {total} replicate fits have fitted "
                            f"probabilities of 0 or 1 (separation within those "
                            f"replicates)")
        if failed:
            problems.append(f"some replicate fits did not converge in {self.max_iter} "
                            f"iterations")
        if problems:
            warn("; ".join(problems) + ". Their coefficients are arbitrary, so the "
                 "replicate variance is not reliable: collapse sparse levels or use a "
                 "linearisation design")
