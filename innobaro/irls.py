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

from ._linalg import aliased_columns, column_qr, replicate_support, tall_dot, weighted_gram
from .errors import EstimationError, warn

__all__ = ["ALIAS_TOL", "FAMILIES", "Family", "Fit", "aliased", "influence_rows", "irls",
           "solve", "solve_many", "working_pass"]

#: R's default tolerance for aliasing in ``glm.fit`` and ``lm`` (``qr(tol=1e-7)``).
ALIAS_TOL = 1e-7


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


FAMILIES = ("gaussian", "binomial", "poisson")


# ----------------------------------------------------------------------------
# fitting
# ----------------------------------------------------------------------------
def irls(X: np.ndarray, y: np.ndarray, W: np.ndarray, fam: Family, *,
          beta0: np.ndarray | None, tol: float, max_iter: int
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
        return _irls_one(X, y, W[:, 0], fam, beta0=beta0, tol=tol, max_iter=max_iter)
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
        new = solve_many(G, rhs)
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
class Pass:
    """What one pass over the rows at some coefficients gives."""

    G: np.ndarray  # X' W X with the working weights
    rhs: np.ndarray  # X' W z, z the working response
    r: np.ndarray | None  # per row: w (y - mu) mu'(eta) / V(mu), the score residual
    deviance: float
    n_extreme: int  # rows with fitted probabilities within 1e-8 of 0 or 1 (binomial)


def working_pass(X: np.ndarray, y: np.ndarray, w: np.ndarray, fam: Family,
                  beta: np.ndarray | None, eta0: np.ndarray | None, *,
                  deviance: bool = False, residuals: bool = False) -> Pass:
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
    return Pass(G, rhs, r, dev, extreme)


def _irls_one(X: np.ndarray, y: np.ndarray, w: np.ndarray, fam: Family, *,
              beta0: np.ndarray | None, tol: float, max_iter: int
              ) -> tuple[np.ndarray, int, float]:
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
    for it in range(1, max_iter + 1):
        ps = working_pass(X, y, w, fam, beta, eta0, deviance=it >= 7)
        eta0 = None
        new = solve(ps.G, ps.rhs)
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
    h, _ = fam.working(fam.link(mu), mu)
    ww = w * h
    # a fast screen on the Gram matrix: its Schur complements give the squared
    # relative residuals to about 1e-15, so a model whose every column keeps
    # more than 1e-8 of its norm squared (a residual above 1e-4 of the norm,
    # far from R's 1e-7) has no aliased column; otherwise the QR decides
    if _screen_clear(weighted_gram(X, ww[:, None])[0]):
        return np.zeros(X.shape[1], dtype=bool)
    return aliased_columns(column_qr(X, np.sqrt(ww)), tol)


def _screen_clear(G: np.ndarray, cut: float = 1e-8) -> bool:
    """Whether every column of the Gram matrix ``G`` keeps a squared residual
    above ``cut`` (relative to its squared norm) on the columns before it."""
    d = np.sqrt(np.diag(G))
    if not (d > 0).all():
        return False
    S = G / np.outer(d, d)
    try:
        L = np.linalg.cholesky(S)
    except np.linalg.LinAlgError:
        return False
    return bool((np.diag(L) ** 2 > cut).all())


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

    def refit(self, W: np.ndarray) -> np.ndarray:
        """Coefficients under each column of the design-row weights ``W``
        (n_design, R): (R, p) over every model column, 0 for aliased ones.

        A replicate in which some column has no row with positive weight (a
        level absent from it) cannot estimate the model: its row is ``NaN``,
        and the variance engine discards it with a warning, as R's
        ``svrVar`` discards replicates whose ``svyglm`` refit has an ``NA``
        coefficient. Warm-started at the full-sample fit, with the fit's own
        ``tol`` and ``max_iter``; separated or unconverged refits are named
        in a warning.
        """
        Wf = W[self.rows]
        R = Wf.shape[1]
        lost = replicate_support(self.X, Wf)
        out = np.zeros((R, self.keep.size))
        out[lost] = np.nan
        use = np.flatnonzero(~lost)
        if use.size:
            Wu = Wf if use.size == R else Wf[:, use]
            B, _, change = irls(self.X, self.y, Wu, self.family, beta0=self.beta,
                                tol=self.tol, max_iter=self.max_iter)
            self._check_refits(B, change)
            out[np.ix_(use, np.flatnonzero(self.keep))] = B.T
        return out

    def _check_refits(self, B: np.ndarray, change: float) -> None:
        """Warn when replicate refits ran away: separation within some
        replicates (fitted probabilities of 0 or 1, e.g. a sparse level left
        with one outcome in a half-sample), or no convergence. R's ``svyglm``
        says nothing."""
        problems = []
        if self.family.name == "binomial":
            bound = float(special.logit(1 - 1e-8))
            separated = int((np.abs(tall_dot(self.X, B)) > bound).any(axis=0).sum())
            if separated:
                problems.append(f"{separated} of {B.shape[1]} replicate fits have fitted "
                                f"probabilities of 0 or 1 (separation within those "
                                f"replicates)")
        if change < 0 or not np.isfinite(change):
            problems.append(f"some replicate fits did not converge in {self.max_iter} "
                            f"iterations")
        if problems:
            warn("; ".join(problems) + ". Their coefficients are arbitrary, so the "
                 "replicate variance is not reliable: collapse sparse levels or use a "
                 "linearisation design")
