"""Survey-weighted multinomial logistic regression with design-based inference.

:func:`mlogit` fits an unordered outcome with :math:`K` categories, one of
them the base :math:`b`, by weighted maximum likelihood: with
:math:`\\eta_{ik} = x_i^\\top\\beta_k` (:math:`\\beta_b = 0`),

.. math::

    p_{ik} = \\frac{e^{\\eta_{ik}}}{\\sum_l e^{\\eta_{il}}},\\qquad
    \\ell(\\beta) = \\sum_i w_i \\sum_k y_{ik} \\log p_{ik},

maximised by Newton's method (exact Hessian, step halving) until the largest
change of a coefficient is below ``tol * (1 + |beta|)``. The coefficients'
covariance is the design-based sandwich: the influence values

.. math::

    z_i = w_i \\big((y_i - p_i) \\otimes x_i\\big)^\\top
          \\Big(\\sum_j w_j \\big(\\mathrm{diag}(p_j) - p_j p_j^\\top\\big)
          \\otimes x_j x_j^\\top\\Big)^{-1}

(over the non-base categories) go to the design's variance engine (Binder
1983), as :func:`~innobaro.glm`'s do; replicate designs refit the model under
every replicate weight, warm-started at the full-sample fit. Stata's
``svy: mlogit`` computes the same covariance.

References
----------
.. [1] Binder, D. A. (1983). On the variances of asymptotically normal
   estimators from complex surveys. *International Statistical Review* 51.
.. [2] Agresti, A. (2013). *Categorical Data Analysis*, 3rd ed., sec. 8.1.
.. [3] Korn, E. L. and Graubard, B. I. (1999). *Analysis of Health Surveys*,
   sec. 4.4 (predictive margins).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ._frames import as_frame
from ._linalg import aliased_columns, column_qr, gram_clear, tall_dot, weighted_gram
from ._validate import check_iterations
from .design import ReplicateDesign, SurveyDesign
from .errors import EstimationError, warn
from .formula import ModelSpec, model_frame
from .intervals import t_quantile
from .margins import Margins
from .models import (
    TermTest,
    anova_options,
    likelihood_anova,
    nested_terms,
    same_rows,
    wald_term_test,
)
from .results import Estimate
from .variance import Influence, residual_df, small_sample, vcov_of

__all__ = ["MLogitResult", "mlogit"]

# replicate refits hold arrays of (replicates x rows x categories, or
# x columns, or x category pairs) numbers: at most this many in each at once
# (200 MB), so memory stays bounded on large designs
_BLOCK = 25_000_000


def _probs(eta: np.ndarray) -> np.ndarray:
    """Probabilities of the non-base categories from their linear predictors
    (last axis), computed without overflow."""
    m = np.maximum(eta.max(axis=-1, keepdims=True), 0.0)
    e = np.exp(eta - m)
    return e / (np.exp(-m) + e.sum(axis=-1, keepdims=True))


def _state(X: np.ndarray, Y: np.ndarray, w: np.ndarray, theta: np.ndarray
           ) -> tuple[np.ndarray, float]:
    """Probabilities of the non-base categories (n, K-1) and the weighted
    log-likelihood at ``theta``, from one pass over the linear predictors."""
    eta = tall_dot(X, theta.T)
    m = np.maximum(eta.max(axis=1), 0.0)
    e = np.exp(eta - m[:, None])
    den = np.exp(-m) + e.sum(axis=1)
    P = e / den[:, None]
    ll = float(w @ ((Y * eta).sum(axis=1) - m - np.log(den)))
    return P, ll


def _pair_weights(W: np.ndarray, P: np.ndarray) -> np.ndarray:
    """Weights of the Hessian's blocks (a, b), a <= b: ``W p_a (delta_ab - p_b)``
    for ``W`` (..., n) and ``P`` (..., n, K-1); (..., n, pairs)."""
    k = P.shape[-1]
    ia, ib = np.triu_indices(k)
    WP = W[..., None] * P
    C = -WP[..., ia] * P[..., ib]
    C[..., ia == ib] += WP
    return C


#: Rows per block of a pass over the rows: the block's temporaries stay in cache.
_ROWS = 1 << 13


def _sub_rows(size: int) -> int:
    """Rows per sub-block of a matrix product whose size (rows times the
    product's other two dimensions) stays below 2^18 (at least 256 rows), so
    that the BLAS computes it on one thread, as :func:`innobaro.weighting`'s
    Gram matrices: the threaded product of a tall block is no faster on two
    cores and waits for its threads on a busy machine."""
    return max(256, (1 << 18) // max(1, size))


class _Hessian:
    """The Hessian's blocks ``X' diag(w p_a (delta_ab - p_b)) X`` for the
    pairs a <= b of the K-1 categories, summed over blocks of rows: for each
    row the products x_j x_l of its columns (j <= l, the upper triangle),
    weighted by every pair's weight in one matrix product per sub-block."""

    def __init__(self, p: int, k: int, rows: int) -> None:
        self.p, self.k = p, k
        self.pairs = np.triu_indices(k)
        self.upper = np.triu_indices(p)
        size = self.upper[0].size
        self.T = np.zeros((size, self.pairs[0].size))
        self.sub = _sub_rows(size * self.pairs[0].size)
        self.Q = np.empty((size, min(rows, self.sub)))

    def add(self, XT: np.ndarray, w: np.ndarray, P: np.ndarray) -> None:
        """Add a block of rows: transposed model matrix XT (p, rows), weights
        w (rows,), probabilities P (K-1, rows)."""
        ia, ib = self.pairs
        ui, uj = self.upper
        WP = w * P
        C = -WP[ia] * P[ib]  # (pairs, rows)
        C[ia == ib] += WP
        n = XT.shape[1]
        for a in range(0, n, self.sub):  # sub-blocks of rows
            b = min(n, a + self.sub)
            Xs = XT[:, a:b]
            Q = np.multiply(Xs[ui], Xs[uj], out=self.Q[:, :b - a])
            self.T += Q @ C[:, a:b].T

    def matrix(self) -> np.ndarray:
        """The Hessian (k p, k p), category-major."""
        p, k = self.p, self.k
        ia, ib = self.pairs
        ui, uj = self.upper
        B = np.empty((ia.size, p, p))
        B[:, ui, uj] = self.T.T
        B[:, uj, ui] = self.T.T
        G = np.empty((k, p, k, p))
        G[ia, :, ib, :] = B
        G[ib, :, ia, :] = B
        return G.reshape(k * p, k * p)


def _hessian(X: np.ndarray, w: np.ndarray, P: np.ndarray) -> np.ndarray:
    """sum_i w_i (diag(p_i) - p_i p_i') kron x_i x_i', category-major (q, q),
    for X (n, p) and the probabilities P (n, K-1), in blocks of rows."""
    n, p = X.shape
    H = _Hessian(p, P.shape[1], n)
    XT, PT = X.T, P.T
    for a in range(0, n, _ROWS):  # blocks of rows
        H.add(XT[:, a:a + _ROWS], w[a:a + _ROWS], PT[:, a:a + _ROWS])
    return H.matrix()


class _Pass:
    """One pass over the rows at some coefficients: the weighted log
    likelihood, the score total g (K-1, p), the Hessian (q, q) or None, the
    rows' score residuals ``w (y - p)`` (K-1, n) and each category's
    smallest and largest fitted probability (K,, the base first)."""

    __slots__ = ("H", "R", "g", "hi", "ll", "lo")

    def __init__(self, ll: float, g: np.ndarray, H: np.ndarray | None, R: np.ndarray,
                 lo: np.ndarray, hi: np.ndarray) -> None:
        self.ll, self.g, self.H, self.R, self.lo, self.hi = ll, g, H, R, lo, hi


def _pass(XT: np.ndarray, YT: np.ndarray, w: np.ndarray, theta: np.ndarray,
          hessian: bool = True, R: np.ndarray | None = None) -> _Pass:
    """The likelihood, scores and (if ``hessian``) Hessian at ``theta``
    (K-1, p) in one pass over the rows, in blocks of rows whose temporaries
    stay in cache (as the GLMs' IRLS): ``XT`` (p, n) the transposed model
    matrix (C-contiguous), ``YT`` (K-1, n) the non-base indicators; the
    score residuals go to ``R`` (K-1, n) if given."""
    p, n = XT.shape
    k = theta.shape[0]
    ll = 0.0
    g = np.zeros((k, p))
    H = _Hessian(p, k, n) if hessian else None
    if R is None:
        R = np.empty((k, n))
    step = _ROWS
    starts = range(0, n, step)
    # each block's smallest and largest probability of each category
    ext = np.empty((2, k + 1, len(starts)))
    for j, a in enumerate(starts):  # blocks of rows
        b = min(n, a + step)
        Xb = XT[:, a:b]
        eta = theta @ Xb  # (K-1, rows)
        m = np.maximum(eta.max(axis=0), 0.0)
        e = np.exp(eta - m)
        den = np.exp(-m) + e.sum(axis=0)
        P = np.divide(e, den, out=e)
        wb = w[a:b]
        Yb = YT[:, a:b]
        ll += float(wb @ ((Yb * eta).sum(axis=0) - m - np.log(den)))
        r = np.subtract(Yb, P, out=R[:, a:b])
        r *= wb
        g += r @ Xb.T
        base = 1.0 - P.sum(axis=0)
        ext[0, 0, j], ext[1, 0, j] = base.min(), base.max()
        P.min(axis=1, out=ext[0, 1:, j])
        P.max(axis=1, out=ext[1, 1:, j])
        if H is not None:
            H.add(Xb, wb, P)
    return _Pass(ll, g, None if H is None else H.matrix(), R, ext[0].min(axis=1),
                 ext[1].max(axis=1))


def _newton(XT: np.ndarray, YT: np.ndarray, w: np.ndarray, theta0: np.ndarray, tol: float,
            max_iter: int, H0: np.ndarray | None = None
            ) -> tuple[np.ndarray, int, bool, _Pass]:
    """Weighted ML by Newton's method with step halving, one pass over the
    rows per iteration (:func:`_pass`: the derivatives at a step are
    computed with its likelihood, and used when it is accepted); ``YT``
    holds the non-base indicators. ``H0``, if given, is the Hessian taken
    for the first step (a subsample's, scaled), which saves the Hessian at
    the start. Returns the coefficients (K-1, p), the iterations, whether
    it converged and the pass at the coefficients (with the Hessian)."""
    theta = theta0.copy()
    k, p = theta.shape
    # the score residuals of the accepted step and of the next trial: two
    # buffers, not a new array per pass
    spare = np.empty((k, XT.shape[1]))
    cur = _pass(XT, YT, w, theta, hessian=H0 is None)
    H = H0 if H0 is not None else cur.H
    assert H is not None
    prev = np.inf
    for it in range(1, max_iter + 1):
        g = cur.g.reshape(-1)
        try:
            step = np.linalg.solve(H, g).reshape(k, p)
        except np.linalg.LinAlgError:
            step = (np.linalg.pinv(H) @ g).reshape(k, p)
        new = _pass(XT, YT, w, theta + step, R=spare)
        halvings = 0
        while not new.ll >= cur.ll - 1e-12 * abs(cur.ll) and halvings < 30:
            step = step / 2
            new = _pass(XT, YT, w, theta + step, R=spare)
            halvings += 1
        theta, cur, spare = theta + step, new, cur.R
        H = cur.H
        assert H is not None
        # a step below tol, or below sqrt(tol)/10 while the steps shrink
        # quadratically (Newton's method: the error left is about its square)
        change = float(np.max(np.abs(step) / (1 + np.abs(theta))))
        if change <= tol or (change < 0.1 * np.sqrt(tol) and change <= 10 * prev ** 2):
            return theta, it, True, cur
        prev = change
    return theta, max_iter, False, cur


def _influence(XT: np.ndarray, R: np.ndarray, A: np.ndarray, rows: np.ndarray, n: int
               ) -> np.ndarray:
    """Influence values ``z[rows[i]] = ((r_i kron x_i)' A`` and zero
    elsewhere: (n, q), column-major, for the transposed model matrix XT
    (p, m), the score residuals R (K-1, m) and A (q, q); in blocks of rows
    as ``A' (r_i kron x_i)`` on the transpose, each block's product small
    enough for one BLAS thread."""
    p, m = XT.shape
    k = R.shape[0]
    q = k * p
    zT = np.zeros((q, n)) if m < n else np.empty((q, n))
    AT = np.ascontiguousarray(A.T)
    sub = _sub_rows(q * q)
    buf = np.empty((k, p, min(m, _ROWS)))
    for a in range(0, m, _ROWS):  # blocks of rows
        b = min(m, a + _ROWS)
        S = np.multiply(R[:, None, a:b], XT[None, :, a:b], out=buf[:, :, :b - a])
        S = S.reshape(q, b - a)
        for c in range(a, b, sub):  # sub-blocks of rows for the product
            d = min(b, c + sub)
            if m == n:
                np.matmul(AT, S[:, c - a:d - a], out=zT[:, c:d])
            else:
                zT[:, rows[c:d]] = AT @ S[:, c - a:d - a]
    return zT.T


class _Fit:
    """The rows, weights and coefficients of a fit: refits under other weights."""

    def __init__(self, X: np.ndarray, Y: np.ndarray, rows: np.ndarray, theta: np.ndarray,
                 tol: float, max_iter: int) -> None:
        self.X, self.Y, self.rows, self.theta = X, Y, rows, theta
        self.tol, self.max_iter = tol, max_iter

    def refit(self, W: np.ndarray) -> np.ndarray:
        """(n_design, R) weights -> (R, q) coefficients, Newton on all
        replicates at once (in blocks of replicates), warm-started at the fit."""
        Wf = np.asarray(W, dtype=float)[self.rows]
        n, R = Wf.shape
        k, p = self.theta.shape
        size = max(1, _BLOCK // max(1, n * max(k * (k + 1) // 2, p)))
        out = np.empty((R, k * p))
        for start in range(0, R, size):  # blocks of replicates, not one by one
            out[start:start + size] = self._refit_block(Wf[:, start:start + size])
        return out

    def _refit_block(self, W: np.ndarray) -> np.ndarray:
        X, Y = self.X, np.ascontiguousarray(self.Y)  # row-major for the replicate arrays
        R = W.shape[1]
        k, p = self.theta.shape
        theta = np.broadcast_to(self.theta, (R, k, p)).copy()
        active = np.ones(R, dtype=bool)
        for _ in range(self.max_iter):
            idx = np.flatnonzero(active)
            th = theta[idx]
            P = _probs(X @ np.swapaxes(th, 1, 2))  # (r, n, k), one matrix product
            Wa = W[:, idx].T  # (r, n)
            g = np.matmul(np.swapaxes(Wa[:, :, None] * (Y[None] - P), 1, 2), X)
            g = g.reshape(idx.size, -1)
            # every block of every replicate's Hessian in one pass over the rows
            C = np.moveaxis(_pair_weights(Wa, P), 0, 1)  # (n, r, pairs)
            npairs = C.shape[2]
            B = weighted_gram(X, C.reshape(X.shape[0], -1)).reshape(idx.size, npairs, p, p)
            ia, ib = np.triu_indices(k)
            G = np.empty((idx.size, k, p, k, p))
            G[:, ia, :, ib, :] = np.moveaxis(B, 1, 0)
            G[:, ib, :, ia, :] = np.moveaxis(B, 1, 0)
            G2 = G.reshape(idx.size, k * p, k * p)
            try:
                step = np.linalg.solve(G2, g[..., None])[..., 0].reshape(idx.size, k, p)
            except np.linalg.LinAlgError:
                step = np.einsum("rij,rj->ri", np.linalg.pinv(G2), g).reshape(idx.size, k, p)
            theta[idx] = th + step
            done = np.all(np.abs(step) <= self.tol * (1 + np.abs(theta[idx])), axis=(1, 2))
            active[idx[done]] = False
            if not active.any():
                break
        else:
            if active.any():
                warn(f"{int(active.sum())} of {R} replicate fits of the multinomial model "
                     f"did not converge in {self.max_iter} iterations; their coefficients "
                     f"enter the variance as they stand")
        return theta.reshape(R, k * p)


def _levels(values: pd.Series, name: str) -> list[Any]:
    if isinstance(values.dtype, pd.CategoricalDtype):
        return list(values.cat.categories)
    uniq = pd.unique(values.dropna())
    try:
        return sorted(uniq.tolist())
    except TypeError:
        raise EstimationError(f"outcome {name!r} mixes values that cannot be ordered "
                              f"({', '.join(map(repr, uniq[:5]))}); make it a categorical "
                              f"with the levels in the order wanted") from None


def mlogit(formula: str, design: SurveyDesign, base: Any = None, *, tol: float = 1e-10,
           max_iter: int = 100, se: str = "linearized") -> MLogitResult:
    """Survey-weighted multinomial (baseline-category) logistic regression.

    Fits :math:`\\log(p_k / p_b) = x^\\top\\beta_k` for every category
    :math:`k` other than the base :math:`b` by weighted maximum likelihood
    (Newton's method); the covariance of all the coefficients together is
    design-based: the sandwich of their influence values on a
    linearisation design, refits under every replicate weight on a replicate
    design. Stata's ``svy: mlogit``; R's ``withReplicates`` over
    ``nnet::multinom`` on replicate designs.

    Parameters
    ----------
    formula : str
        A patsy formula whose left side is one column of the design's data
        holding the outcome (categorical, strings or numbers), e.g.
        ``"unit_type ~ np.log(employees) + centrality"``.
    design : Design or ReplicateDesign
        The design (or a domain of it, ``design.subset(...)``).
    base : optional
        The base category; the first level (of a categorical, else of the
        sorted values) by default.
    tol : float, default 1e-10
        Convergence: the largest change of a coefficient below
        ``tol * (1 + |beta|)``.
    max_iter : int, default 100
        Newton iterations at most.
    se : {"linearized", "bell-mccaffrey", "bell-mccaffrey-2"}, default "linearized"
        As :func:`~innobaro.glm`'s (R's ``svyglm(std.errors=)``, which R
        has for no multinomial model): the Bell-McCaffrey variants adjust
        each PSU's working residuals by its leverage in the model's working
        regression (CR2; a row has one pseudo-row per non-base category,
        its linear predictors whitened by its information
        :math:`w_i(\\mathrm{diag}(p_i) - p_i p_i^\\top)`, so the result does
        not depend on the base category) and give Satterthwaite degrees of
        freedom, the smallest of which is :attr:`~MLogitResult.df_resid`;
        the adjusted influence values are :attr:`~MLogitResult.influence`,
        so margins and tests use them. With two categories this is
        :func:`~innobaro.logit`'s. See
        :func:`innobaro.variance.small_sample.multivariate_working`.
        Linearisation designs only.

    Returns
    -------
    MLogitResult
        Indexed by (category, term) for the non-base categories.

    Raises
    ------
    EstimationError
        The outcome is not a column, has fewer than two categories among the
        rows of the fit, ``base`` is not one of them, model columns are
        linearly dependent, or the fit does not converge.

    Warns
    -----
    InnobaroWarning
        A category of the outcome without rows in the fit (left out), and a
        separated category (fitted probabilities of 0 or 1), naming it.

    Notes
    -----
    Residual degrees of freedom, for t intervals and F tests, are the design
    degrees of freedom + 1 minus the number of coefficients (all categories
    together), the rule of R's ``svyglm`` and ``svyolr``; with
    ``se="bell-mccaffrey"`` the smallest Satterthwaite degrees of freedom of
    the coefficients.

    References
    ----------
    Binder, D. A. (1983). On the variances of asymptotically normal
    estimators from complex surveys. *International Statistical Review* 51.

    Examples
    --------
    >>> import innobaro as ib
    >>> from innobaro.datasets import barometer_design
    >>> d = barometer_design()
    >>> m = ib.mlogit("municipality_size ~ np.log(employees)", d)
    >>> m.base, m.params.shape
    ('0-4999', (4, 2))
    """
    if not isinstance(design, SurveyDesign):
        raise TypeError(f"design must be an innobaro design, not {type(design).__name__}")
    se = small_sample.check_se(se)
    check_iterations(max_iter, tol)
    if not isinstance(formula, str) or "~" not in formula:
        raise EstimationError(f"formula must be a string 'outcome ~ terms'; got {formula!r}")
    outcome = formula.split("~", 1)[0].strip()
    data = design.data
    if outcome not in data.columns:
        raise EstimationError(f"the outcome {outcome!r} (left of '~') must be a column of the "
                              f"design's data")
    yall = data[outcome]
    y_ok = yall.notna().to_numpy()
    within = design.present & (design.unmasked_weights > 0)
    _, X, spec, kept = model_frame(formula, data, response=False, within=within & y_ok)
    if not y_ok[within].all():
        spec = replace(spec, missing={**spec.missing, outcome: int((within & ~y_ok).sum())})
    kept = kept & y_ok
    rows = np.flatnonzero(within & kept)
    if rows.size == 0:
        raise EstimationError("no complete rows for the model")
    X = np.asarray(X, dtype=float)  # patsy's column-major matrix: every product takes it
    if not np.isfinite(X).all():
        raise EstimationError("the model matrix has infinite values (e.g. the log of 0)")
    w = design.unmasked_weights[rows]
    yv = yall.iloc[rows]
    levels = _levels(yall, outcome)
    if isinstance(yv.dtype, pd.CategoricalDtype):
        level_codes = np.asarray(yv.cat.codes, dtype=np.int64)
    else:
        level_codes = np.asarray(pd.Categorical(yv, categories=levels).codes, dtype=np.int64)
    present = np.bincount(level_codes, minlength=len(levels)) > 0
    empty = [lv for lv, here in zip(levels, present, strict=True) if not here]
    if empty:
        warn(f"outcome {outcome!r}: categor{'y' if len(empty) == 1 else 'ies'} "
             f"{', '.join(map(repr, empty))} ha{'s' if len(empty) == 1 else 've'} no rows in "
             f"the fit and {'is' if len(empty) == 1 else 'are'} left out")
    kept_levels = [lv for lv, here in zip(levels, present, strict=True) if here]
    if len(kept_levels) < 2:
        raise EstimationError(f"outcome {outcome!r} has {len(kept_levels)} category among the "
                              f"rows of the fit ({', '.join(map(repr, kept_levels))}); a "
                              f"multinomial model needs at least two")
    if base is None:
        base = kept_levels[0]
    elif base not in kept_levels:
        raise EstimationError(f"base {base!r} is not a category of {outcome!r} among the rows "
                              f"of the fit; categories are {', '.join(map(repr, kept_levels))}")
    others = [lv for lv in kept_levels if lv != base]
    # the column of each level among the non-base categories (-1: the base)
    lookup = np.array([others.index(lv) if lv in others else -1 for lv in levels],
                      dtype=np.int64)
    codes = lookup[level_codes]
    # the non-base indicators, one row per category (a pass reads blocks of
    # rows of every category); Y (n, K-1) is their transposed view
    YT = np.zeros((len(others), rows.size))
    hit = codes >= 0
    YT[codes[hit], np.flatnonzero(hit)] = 1.0
    Y = YT.T
    X = np.asfortranarray(X)
    XT = X.T  # (p, n), C-contiguous: a pass reads blocks of its columns
    # linearly dependent columns cannot be estimated: R's qr() rule, after a
    # screen on the Gram matrix that clears a model far from aliasing
    if not gram_clear(weighted_gram(X, w[:, None])[0]):
        alias = aliased_columns(column_qr(X, np.sqrt(w)), 1e-7)
        if alias.any():
            bad = [spec.column_names[j] for j in np.flatnonzero(alias)]
            raise EstimationError(f"model column(s) {', '.join(map(repr, bad))} are aliased "
                                  f"(all zero among the rows of the fit, or linear "
                                  f"combinations of other columns); drop them from the formula")
    theta0 = np.zeros((len(others), X.shape[1]))
    if "Intercept" in spec.column_names:  # start at the observed shares
        share = (YT @ w) / w.sum()
        base_share = max(1.0 - share.sum(), 1e-12)
        theta0[:, spec.column_names.index("Intercept")] = np.log(
            np.maximum(share, 1e-12) / base_share)
    H0 = None
    if rows.size > 100_000:
        # a warm start from a systematic subsample (a tenth, 25,000 to 100,000
        # rows) saves full-data iterations; its Hessian, scaled to the sum of
        # the weights, takes the first full step (the error it leaves is of
        # the order of the Newton step's own), which saves a Hessian
        sub = slice(None, None, rows.size // min(100_000, max(25_000, rows.size // 10)))
        t0, _, ok, at0 = _newton(np.ascontiguousarray(XT[:, sub]),
                                 np.ascontiguousarray(YT[:, sub]), w[sub], theta0, 1e-6,
                                 max_iter)
        if ok and np.isfinite(t0).all() and at0.H is not None:
            theta0 = t0
            H0 = at0.H * (w.sum() / w[sub].sum())
    theta, it, converged, last = _newton(XT, YT, w, theta0, tol, max_iter, H0)
    loglik = last.ll
    flagged = (last.lo < 1e-10) | (last.hi > 1 - 1e-10)
    if flagged.any():
        P, _ = _state(X, Y, w, theta)
        Pall = np.column_stack([1.0 - P.sum(axis=1), P])  # base first
        extreme = (Pall < 1e-10) | (Pall > 1 - 1e-10)
        cats = [base, *others]
        bad_cats = [cats[j] for j in np.flatnonzero(extreme.any(axis=0))]
        warn(f"outcome {outcome!r}: category {', '.join(map(repr, bad_cats))} is separated: "
             f"{int(extreme.any(axis=1).sum())} row(s) have fitted probabilities of 0 or 1 "
             f"for it; the coefficients and standard errors are not meaningful. Collapse "
             f"categories or drop terms" + ("" if converged else
                                 f". The fit was stopped after {max_iter} iterations"))
    elif not converged:
        raise EstimationError(f"the multinomial model did not converge in {max_iter} "
                              f"iterations; rescale variables or raise max_iter")
    k, p = theta.shape
    assert last.H is not None
    A = np.linalg.pinv(last.H)  # singular only after separation
    # influence values w_i ((y_i - p_i) kron x_i)' A, column-major
    z = _influence(XT, last.R, A, rows, design.n)
    domain = np.where(design.present, 0, -1).astype(np.int64)
    fit = _Fit(X, Y, rows, theta, tol, max_iter)
    est = theta.reshape(-1)
    working = None if se == "linearized" else _working(X, Y, w, _state(X, Y, w, theta)[0],
                                                         rows, design.n)
    V = vcov_of(design, est, Influence(values=z, domain=domain, n_domains=1), fit.refit,
                se=se, working=working)
    df_resid = residual_df(design, kept, k * p)
    if working is not None:  # the adjusted influence values, Satterthwaite df
        adj = small_sample.adjust(design, working, se)  # type: ignore[arg-type]
        z, df_resid = adj.values, float(adj.df.min())
    return MLogitResult(formula=formula, outcome=outcome, spec=spec, design=design, base=base,
                        categories=others, fit=fit, w=w, vcov=V, influence=z, df_resid=df_resid,
                        iterations=it, converged=converged, loglik=loglik)


def _working(X: np.ndarray, Y: np.ndarray, w: np.ndarray, P: np.ndarray, rows: np.ndarray,
             n: int) -> small_sample.Working:
    """The working regression of the fit for ``se="bell-mccaffrey"``: row i
    has one linear predictor per non-base category k, with derivative
    e_k kron x_i (the coefficients category-major), weighted information
    w_i (diag(p_i) - p_i p_i') and weighted score w_i (y_i - p_i)."""
    m, k = P.shape
    p = X.shape[1]
    U = np.zeros((m, k, k, p))
    idx = np.arange(k)
    U[:, idx, idx, :] = X[:, None, :]
    W = w[:, None, None] * (P[:, :, None] * (np.eye(k) - P[:, None, :]))
    score = w[:, None] * (Y - P)
    return small_sample.multivariate_working(U.reshape(m, k, k * p), W, score,
                                             np.ones((m, k), dtype=bool), rows, n)


class MLogitResult(Estimate):
    """A survey-weighted multinomial logistic regression (:func:`mlogit`).

    An :class:`~innobaro.Estimate` of the coefficients, indexed by
    (category, term) for every category but the base, with their
    design-based covariance across all categories, so
    :func:`~innobaro.contrast` takes it.

    Attributes
    ----------
    formula, outcome : str
    base : object
        The base category.
    categories : list
        The non-base categories, in the order of the coefficients.
    levels : list
        Every category, the base first.
    params : pandas.DataFrame
        The coefficients, one row per non-base category, one column per term.
    df_resid : float
        Residual degrees of freedom (design degrees of freedom + 1 minus the
        number of coefficients).
    loglik : float
        The weighted log-likelihood at the fit.
    deviance : float
        :math:`-2` times the log likelihood with the weights scaled to mean 1.
    iterations : int
    converged : bool

    Examples
    --------
    >>> import innobaro as ib
    >>> from innobaro.datasets import barometer_design
    >>> m = ib.mlogit("municipality_size ~ np.log(employees)", barometer_design())
    >>> m.categories
    ['5000-9999', '10000-19999', '20000-49999', '50000+']
    """

    def __init__(self, *, formula: str, outcome: str, spec: ModelSpec, design: SurveyDesign,
                 base: Any, categories: list[Any], fit: _Fit, w: np.ndarray, vcov: np.ndarray,
                 influence: np.ndarray, df_resid: float, iterations: int, converged: bool,
                 loglik: float) -> None:
        index = pd.MultiIndex.from_product([pd.Index(categories, dtype=object),
                                            pd.Index(spec.column_names, dtype=object)],
                                           names=["category", "term"])
        super().__init__(fit.theta.reshape(-1), vcov, index,
                         df=np.full(index.size, float(df_resid)), kind="coefficient")
        self.formula = formula
        self.outcome = outcome
        self.spec = spec
        self.design = design
        self.base = base
        self.categories = list(categories)
        self.levels = [base, *categories]
        self.df_resid = float(df_resid)
        self.iterations = iterations
        self.converged = converged
        self.loglik = loglik
        self._fit = fit
        self._w = w
        self._infl = influence

    # ------------------------------------------------------------------ accessors
    @property
    def params(self) -> pd.DataFrame:
        """Coefficients: a row per non-base category, a column per term."""
        return pd.DataFrame(self._fit.theta, index=pd.Index(self.categories, name="category"),
                            columns=pd.Index(self.spec.column_names, name="term"))

    @property
    def influence(self) -> np.ndarray:
        """(n, q) influence values of the coefficients (category-major) for
        every row of the design, 0 outside the fit."""
        view = self._infl.view()
        view.setflags(write=False)
        return view

    @property
    def nobs(self) -> int:
        """Number of rows in the fit."""
        return int(self._fit.rows.size)

    def refit(self, weights: np.ndarray) -> np.ndarray:
        """The coefficients refitted under other weights, all at once.

        Parameters
        ----------
        weights : array-like
            (n, R): one weight per row of the design and refit.

        Returns
        -------
        numpy.ndarray
            (R, q) coefficients, in the order of :attr:`estimate`.

        Examples
        --------
        >>> import numpy as np
        >>> import innobaro as ib
        >>> from innobaro.datasets import barometer_design
        >>> d = barometer_design()
        >>> m = ib.mlogit("sector ~ np.log(employees)", d)
        >>> W = np.repeat(np.asarray(d.weights, dtype=float)[:, None], 2, axis=1)
        >>> np.allclose(m.refit(W), m.estimate.to_numpy())
        True
        """
        return self._fit.refit(np.asarray(weights, dtype=float))

    def relative_risk_ratios(self, level: float = 0.95) -> pd.DataFrame:
        """Relative-risk ratios :math:`e^{\\beta}` with intervals (Stata's ``rrr``).

        Parameters
        ----------
        level : float, default 0.95

        Returns
        -------
        pandas.DataFrame
            ``rrr``, ``lower``, ``upper`` (exponentiated t intervals on the
            residual degrees of freedom), indexed by (category, term).

        Examples
        --------
        >>> import innobaro as ib
        >>> from innobaro.datasets import barometer_design
        >>> m = ib.mlogit("sector ~ np.log(employees)", barometer_design())
        >>> m.relative_risk_ratios().columns.tolist()
        ['rrr', 'lower', 'upper']
        """
        ci = self.ci(level)
        return pd.DataFrame({"rrr": np.exp(self._est), "lower": np.exp(ci["lower"].to_numpy()),
                             "upper": np.exp(ci["upper"].to_numpy())}, index=self._index)

    # ------------------------------------------------------------------ tests
    def wald_test(self, terms: str | Sequence[str], method: str = "F",
                  df: float | None = None) -> TermTest:
        """Test that the coefficients of terms are zero in every category at once.

        :math:`F = \\beta^\\top V^{-1}\\beta / k` on (k, ``df``) degrees of
        freedom, k the number of coefficients tested (the term's columns times
        the non-base categories), ``df`` the residual degrees of freedom by
        default; ``method="chisq"`` gives the Wald chi-square on k.

        Parameters
        ----------
        terms : str or list of str
            Model terms as in the formula (``"x"`` also finds ``"C(x)"``).
        method : {"F", "chisq"}, default "F"
        df : float, optional
            Denominator degrees of freedom.

        Returns
        -------
        TermTest

        Examples
        --------
        >>> import innobaro as ib
        >>> from innobaro.datasets import barometer_design
        >>> m = ib.mlogit("municipality_size ~ np.log(employees)", barometer_design())
        >>> m.wald_test("np.log(employees)").df_num
        4.0
        """
        if method not in ("F", "chisq"):
            raise EstimationError("method must be 'F' or 'chisq'")
        names, idx = self._coefficient_index(terms)
        ddf = self.df_resid if df is None else float(df)
        return wald_term_test(names, self._est[idx], self._vcov[np.ix_(idx, idx)], ddf, method)

    def _coefficient_index(self, terms: str | Sequence[str]) -> tuple[list[str], np.ndarray]:
        """The terms found and the positions of their coefficients in every
        category (category-major)."""
        names, columns = self.spec.columns_of(terms)
        p = len(self.spec.column_names)
        cols = columns.tolist()
        return names, np.array([c * p + j for c in range(len(self.categories)) for j in cols])

    @property
    def deviance(self) -> float:
        """-2 log likelihood with the weights scaled to mean 1 over the rows of the fit."""
        return -2.0 * self.loglik / float(self._w.mean())

    def anova(self, other: MLogitResult, method: str = "LRT", test: str = "F") -> TermTest:
        r"""Test this multinomial model against a nested one (as R's ``anova.svyglm``).

        The two models (either order) have the same outcome, base and
        categories, and were fitted on the same design and rows; the terms
        of one are among the other's. Tested: the coefficients the bigger
        model adds, in every non-base category at once (:math:`k` of them).

        - ``method="LRT"`` (the default, as R's): the Rao-Scott working
          likelihood ratio :math:`D_0 - D`, the difference of the deviances
          (:math:`-2\ell` with the weights scaled to mean 1), referred to
          :math:`\sum_j \lambda_j \chi^2_1` (over :math:`\chi^2_d/d` for
          ``test="F"``), :math:`\lambda` the eigenvalues of
          :math:`V_0^{-1} V`: :math:`V` the design-based covariance of the
          added coefficients, :math:`V_0` their block of the inverse
          information (weights scaled to mean 1), by the saddlepoint
          approximation;
        - ``method="Wald"``: :math:`\beta^\top V^{-1}\beta / k` on
          :math:`(k, d)` degrees of freedom (``test="F"``), or the
          chi-square on :math:`k` (``"Chisq"``),

        :math:`d` the bigger model's residual degrees of freedom.

        Parameters
        ----------
        other : MLogitResult
            The other model.
        method : {"LRT", "Wald"}, default "LRT"
        test : {"F", "Chisq"}, default "F"

        Returns
        -------
        TermTest
            ``statistic`` (the deviance difference for ``"LRT"``), ``df``,
            ``pvalue`` and, for ``"LRT"``, the design effects ``lambdas``.

        Raises
        ------
        EstimationError
            The models are not nested, have the same terms, another outcome,
            base or categories, or were fitted on other designs or rows.

        References
        ----------
        Lumley, T. and Scott, A. (2014). Tests for regression models fitted
        to survey data. *Australian & New Zealand Journal of Statistics*
        56(1), 1-14.

        Examples
        --------
        >>> import innobaro as ib
        >>> from innobaro.datasets import barometer_design
        >>> d = barometer_design()
        >>> small = ib.mlogit("municipality_size ~ np.log(employees)", d)
        >>> big = ib.mlogit("municipality_size ~ C(sector) + np.log(employees)", d)
        >>> t = ib.anova(small, big)
        >>> t.method, t.df_num
        ('lrt', 4.0)
        """
        key, tkey = anova_options(method, test)
        if not isinstance(other, MLogitResult):
            raise EstimationError(f"anova compares two multinomial models; got "
                                  f"{type(other).__name__}")
        same_rows(self.design, other.design, self._fit.rows, other._fit.rows)
        if self.outcome != other.outcome or self.levels != other.levels:
            raise EstimationError(
                f"the models have different outcomes or bases: {self.outcome!r} with "
                f"categories {self.levels} and {other.outcome!r} with {other.levels} (the "
                f"base first)")
        which, added = nested_terms(_model_terms(self), _model_terms(other),
                                    "multinomial models")
        big, small = (self, other) if which == 0 else (other, self)
        fit = big._fit

        def inverse_information() -> np.ndarray:
            P, _ = _state(fit.X, fit.Y, big._w, fit.theta)
            return np.linalg.pinv(_hessian(fit.X, big._w, P))

        return likelihood_anova(big, small, added, key, tkey, big._coefficient_index,
                                inverse_information, big.vcov.to_numpy(), float(big._w.mean()))

    # ------------------------------------------------------------------ prediction
    def _probabilities(self, X: np.ndarray, theta: np.ndarray) -> np.ndarray:
        P = _probs(X @ theta.T)
        return np.column_stack([1.0 - P.sum(axis=1), P])

    def _jacobian(self, X: np.ndarray, Pall: np.ndarray) -> np.ndarray:
        """d p_ik / d theta, (n, K, q) with theta category-major."""
        K = Pall.shape[1]
        d = np.eye(K)[:, 1:][None] - Pall[:, None, 1:]  # (n, K, K-1): delta_kl - p_l
        J = Pall[:, :, None, None] * d[:, :, :, None] * X[:, None, None, :]
        return J.reshape(X.shape[0], K, -1)

    def predict(self, newdata: pd.DataFrame | None = None, se: bool = False
                ) -> pd.DataFrame:
        """Predicted probabilities of every category, with delta-method
        standard errors :math:`\\sqrt{J V J^\\top}`.

        Parameters
        ----------
        newdata : DataFrame, optional
            Rows to predict for; the model's rows by default.
        se : bool, default False
            Also return standard errors.

        Returns
        -------
        pandas.DataFrame
            One column per category (the base first), indexed as the rows;
            with ``se=True`` the columns are a MultiIndex (``fit``/``se``,
            category).

        Examples
        --------
        >>> import pandas as pd
        >>> import innobaro as ib
        >>> from innobaro.datasets import barometer_design
        >>> m = ib.mlogit("sector ~ np.log(employees)", barometer_design())
        >>> p = m.predict(pd.DataFrame({"employees": [10, 100]}))
        >>> p.sum(axis=1).round(12).tolist()
        [1.0, 1.0]
        """
        if newdata is None:
            X = self._fit.X
            index = self.design.data.index[self._fit.rows]
        else:
            newdata = as_frame(newdata, "newdata")
            X = self.spec.matrix(newdata)
            index = newdata.index
        Pall = self._probabilities(X, self._fit.theta)
        cols = pd.Index(self.levels, name="category")
        fit = pd.DataFrame(Pall, index=index, columns=cols)
        if not se:
            return fit
        J = self._jacobian(X, Pall)
        s = np.sqrt(np.maximum(np.einsum("nkq,qr,nkr->nk", J, self._vcov, J), 0.0))
        return pd.concat({"fit": fit, "se": pd.DataFrame(s, index=index, columns=cols)},
                         axis=1)

    def margins(self, variable: str, values: Sequence[Any] | None = None, *,
                level: float = 0.95) -> Margins:
        """Predictive margins of every category: the average predicted
        probability with ``variable`` set to each value.

        The influence values combine the sampling of the rows averaged over
        and the estimated coefficients (Korn and Graubard 1999, sec. 4.4);
        replicate designs refit the model and average under each replicate
        weight.

        Parameters
        ----------
        variable : str
            A column of the design's data used in the model.
        values : sequence, optional
            Values to set; the levels of a categorical variable (or the
            distinct values of a numeric one with at most 20) by default.
        level : float, default 0.95

        Returns
        -------
        Margins
            Indexed by (category, value); ``differences`` holds the pairwise
            differences between values within each category.

        Examples
        --------
        >>> import innobaro as ib
        >>> from innobaro.datasets import barometer_design
        >>> m = ib.mlogit("municipality_size ~ sector", barometer_design())
        >>> mg = m.margins("sector")
        >>> mg.estimate.groupby(level="sector").sum().round(12).tolist()
        [1.0, 1.0]
        """
        data = self.design.data
        if variable not in data.columns:
            raise EstimationError(f"{variable!r} is not a column of the design's data")
        rows = self._fit.rows
        sub = data.iloc[rows]
        col = sub[variable]
        if values is None:
            if isinstance(col.dtype, pd.CategoricalDtype):
                values = list(col.cat.categories)
            else:
                uniq = np.sort(pd.unique(col.dropna()))
                if uniq.size > 20:
                    raise EstimationError(f"{variable!r} has {uniq.size} distinct values; "
                                          f"give the values to set")
                values = uniq.tolist()
        values = list(values)
        mats = [self.spec.matrix(_set(sub, variable, v)) for v in values]
        w = self._w
        N = w.sum()
        K = len(self.levels)
        est_parts, z_parts = [], []
        for Xv in mats:  # one pass per value set, each over all rows
            Pall = self._probabilities(Xv, self._fit.theta)
            m = w @ Pall / N
            grad = np.einsum("n,nkq->kq", w, self._jacobian(Xv, Pall)) / N
            zp = np.zeros((self.design.n, K))
            zp[rows] = w[:, None] * (Pall - m) / N
            est_parts.append(m)
            z_parts.append(zp + self._infl @ grad.T)  # (n, K)
        # order: category-major, then value
        est = np.stack(est_parts, axis=1).reshape(-1)
        z = np.stack(z_parts, axis=2).reshape(self.design.n, -1)
        fit = self._fit
        k, p = fit.theta.shape

        def reps(W: np.ndarray) -> np.ndarray:
            thetas = fit.refit(W).reshape(-1, k, p)
            Wf = W[rows]
            out = np.empty((W.shape[1], K, len(values)))
            for j, Xv in enumerate(mats):
                P = _probs(np.einsum("np,rkp->rnk", Xv, thetas))
                Pall = np.concatenate([1.0 - P.sum(axis=2, keepdims=True), P], axis=2)
                out[:, :, j] = np.einsum("nr,rnk->rk", Wf, Pall) / Wf.sum(axis=0)[:, None]
            return out.reshape(W.shape[1], -1)

        domain = np.where(self.design.present, 0, -1).astype(np.int64)
        V = vcov_of(self.design, est, Influence(values=z, domain=domain, n_domains=1), reps)
        index = pd.MultiIndex.from_product([pd.Index(self.levels, dtype=object),
                                            pd.Index(values, dtype=object)],
                                           names=["category", variable])
        df = self.df_resid
        t = t_quantile(level, df)
        nv = len(values)
        i, j = np.triu_indices(nv, k=1)
        ci = (np.arange(K)[:, None] * nv + i[None]).reshape(-1)
        cj = (np.arange(K)[:, None] * nv + j[None]).reshape(-1)
        d = est[cj] - est[ci]
        with np.errstate(invalid="ignore", divide="ignore"):
            s = np.sqrt(V[ci, ci] + V[cj, cj] - 2 * V[ci, cj])
            stat = np.where(s > 0, d / s, np.nan)
        pv = 2 * stats.t.sf(np.abs(stat), df) if df > 0 else np.full(d.shape, np.nan)
        names = pd.MultiIndex.from_tuples(
            [(self.levels[c], f"{values[b]} - {values[a]}")
             for c in range(K) for a, b in zip(i, j, strict=True)],
            names=["category", "contrast"])
        diffs = pd.DataFrame({"estimate": d, "se": s, "lower": d - t * s, "upper": d + t * s,
                              "statistic": stat, "pvalue": pv}, index=names)
        return Margins(variable, est, V, index, df=df, level=level, differences=diffs)

    # ------------------------------------------------------------------ display
    def summary(self) -> pd.DataFrame:
        """The coefficient table: estimate, se, t, p and interval.

        Returns
        -------
        pandas.DataFrame
            Indexed by (category, term).

        Examples
        --------
        >>> import innobaro as ib
        >>> from innobaro.datasets import barometer_design
        >>> m = ib.mlogit("sector ~ np.log(employees)", barometer_design())
        >>> m.summary().columns.tolist()
        ['estimate', 'se', 'statistic', 'pvalue', 'lower', 'upper']
        """
        se = self.se.to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            t = self._est / se
        ci = self.ci()
        return pd.DataFrame({"estimate": self._est, "se": se, "statistic": t,
                             "pvalue": 2 * stats.t.sf(np.abs(t), self.df_resid),
                             "lower": ci["lower"].to_numpy(), "upper": ci["upper"].to_numpy()},
                            index=self._index)

    def __repr__(self) -> str:
        kind = "replicate weights" if isinstance(self.design, ReplicateDesign) else \
            "linearisation"
        head = (f"Survey multinomial logit: {self.formula} (base {self.base!r}), "
                f"{self.nobs} rows, variance by {kind}, df = {self.df_resid:g}")
        return head + "\n" + self.summary().to_string(float_format=lambda v: f"{v:.6g}")


def _model_terms(m: MLogitResult) -> list[str]:
    return [t for t in m.spec.term_columns if t != "Intercept"]


def _set(data: pd.DataFrame, variable: str, value: Any) -> pd.DataFrame:
    out = data.copy()
    col = data[variable]
    if isinstance(col.dtype, pd.CategoricalDtype):
        out[variable] = pd.Categorical([value] * len(out), categories=col.cat.categories)
    else:
        out[variable] = pd.Series([value] * len(out), index=out.index).astype(col.dtype)
    return out
