"""Survey-weighted ordinal regression (cumulative link models) with design-based inference.

:func:`ologit` fits the cumulative link model of an ordered outcome
:math:`Y \\in \\{1, \\dots, K\\}`,

.. math::

    P(Y_i \\le k \\mid x_i) = F(\\zeta_k - x_i^\\top\\beta), \\qquad
    k = 1, \\dots, K-1, \\quad \\zeta_1 < \\dots < \\zeta_{K-1},

with :math:`F` the logistic (proportional odds), normal (ordered probit),
complementary log-log (:math:`1 - e^{-e^z}`) or log-log
(:math:`e^{-e^{-z}}`) distribution function, by maximising the weighted
pseudo log likelihood :math:`\\ell(\\theta) = \\sum_i w_i \\log \\pi_i(\\theta)`,
:math:`\\pi_i = F(\\zeta_{y_i} - \\eta_i) - F(\\zeta_{y_i - 1} - \\eta_i)`
(:math:`\\zeta_0 = -\\infty`, :math:`\\zeta_K = \\infty`), with Newton's method
on the exact Hessian, as R's ``svyolr`` (which uses BFGS) defines it.

The covariance of :math:`\\hat\\theta = (\\hat\\beta, \\hat\\zeta)` is the
design-based sandwich: the influence values
:math:`z_i = w_i\\, u_i(\\hat\\theta)^\\top J^{-1}`, :math:`u_i` the score of
row :math:`i`'s log likelihood and :math:`J = -\\partial^2\\ell/\\partial\\theta^2`
the weighted information, go to the design's variance engine (Binder 1983);
replicate designs refit the model under every replicate weight (all
replicates at once, warm-started at the full-sample fit).

R's ``svyolr(method = "cloglog")`` on a ``svydesign`` (survey 4.1) computes
:math:`e^{-e^{-z}}`, the log-log link (``link="loglog"`` here), while
``MASS::polr`` and innobaro's ``"cloglog"`` are :math:`1 - e^{-e^{z}}`; see
``tests/reference/make_ordinal.R``.

References
----------
.. [1] McCullagh, P. (1980). Regression models for ordinal data. *Journal of
   the Royal Statistical Society B* 42, 109-142.
.. [2] Binder, D. A. (1983). On the variances of asymptotically normal
   estimators from complex surveys. *International Statistical Review* 51.
.. [3] Lumley, T. (2010). *Complex Surveys*, sec. 6.3; R package survey, ``svyolr``.
.. [4] Brant, R. (1990). Assessing proportionality in the proportional odds
   model for ordinal logistic regression. *Biometrics* 46, 1171-1178.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from ._frames import as_frame
from ._validate import check_iterations
from .design import SurveyDesign, read_only
from .errors import EstimationError, warn
from .formula import ModelSpec, model_frame
from .models import (
    TermTest,
    anova_options,
    likelihood_anova,
    nested_terms,
    same_rows,
    wald_term_test,
)
from .results import Estimate
from .variance import Influence, model_df, small_sample, vcov_of

__all__ = ["LINKS", "OrdinalResult", "ologit"]

#: The links of :func:`ologit` (R's ``svyolr``/``polr`` ``method=`` names in the notes).
LINKS = ("logit", "probit", "cloglog", "loglog")
#: Largest (rows x refits x parameters^2) block of a batch of replicate refits.
_BLOCK = 1 << 25
#: Rows per block of a fit to one weight column (its temporaries stay in cache).
_ROWS_PER_BLOCK = 1 << 15
_R_METHOD = {"logit": "logistic", "probit": "probit", "cloglog": "cloglog",
             "loglog": "loglog"}


# ----------------------------------------------------------------------------
# the link: distribution function, density and the density's derivative
# ----------------------------------------------------------------------------
def _cdf(link: str, z: np.ndarray) -> np.ndarray:
    if link == "logit":
        return special.expit(z)
    if link == "probit":
        return special.ndtr(z)
    if link == "cloglog":
        return -np.expm1(-np.exp(z))
    return np.exp(-np.exp(-z))


def _sf(link: str, z: np.ndarray) -> np.ndarray:
    """1 - F(z), accurate in the upper tail."""
    if link == "logit":
        return special.expit(-z)
    if link == "probit":
        return special.ndtr(-z)
    if link == "cloglog":
        return np.exp(-np.exp(z))
    return -np.expm1(-np.exp(-z))


def _pdf(link: str, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Density f(z) and its derivative f'(z); both 0 at z = -inf, inf."""
    with np.errstate(over="ignore", invalid="ignore"):
        if link == "logit":
            p = special.expit(z)
            f = p * special.expit(-z)
            d = f * (1 - 2 * p)
        elif link == "probit":
            f = np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)
            d = -z * f
        elif link == "cloglog":
            ez = np.exp(z)
            f = np.exp(z - ez)
            d = f * (1 - ez)
        else:
            ez = np.exp(-z)
            f = np.exp(-z - ez)
            d = f * (ez - 1)
    inf = ~np.isfinite(z)
    if inf.any():
        f = np.where(inf, 0.0, f)
        d = np.where(inf, 0.0, d)
    return f, d


def _quantile(link: str, p: np.ndarray) -> np.ndarray:
    if link == "logit":
        return special.logit(p)
    if link == "probit":
        return special.ndtri(p)
    if link == "cloglog":
        return np.log(-np.log1p(-p))
    return -np.log(-np.log(p))


# ----------------------------------------------------------------------------
# the likelihood, vectorised over rows and over columns of weights
# ----------------------------------------------------------------------------
class _Problem:
    """The rows of a fit: slopes' matrix X (n, p), outcome codes y in 0..K-1."""

    def __init__(self, X: np.ndarray, y: np.ndarray, K: int, link: str,
                 presorted: bool = False) -> None:
        # the rows sorted by category once (stable), so that each category is
        # one slice: sums over a category's rows are then a reduceat or one
        # matrix product over a slice, not a gather. Weights come in the
        # caller's row order and are sorted once per fit; scores go back.
        n = y.size
        self._X0, self._y0 = X, y  # the caller's rows, for the influence values
        # (a stable sort of small integers is a radix sort: one pass)
        self.order = np.arange(n) if presorted else np.argsort(
            y.astype(np.int16) if K < 1 << 15 else y, kind="stable")
        self.X = X if presorted else X[self.order]
        self.y = y if presorted else y[self.order]
        self.K, self.link = K, link
        self.p = X.shape[1]
        self.q = K - 1
        counts = np.bincount(y, minlength=K)
        ends = np.cumsum(counts)
        self._starts, self._ends = ends - counts, ends
        self._nonempty = counts > 0
        # blocks of rows (views of the sorted rows) for fits to one weight
        # column: each Newton iteration is then one pass over the rows whose
        # temporaries stay in cache, as the GLMs' IRLS
        self._blocks: list[tuple[int, int, _Problem]] = []
        if not presorted and n > 2 * _ROWS_PER_BLOCK:
            for a in range(0, n, _ROWS_PER_BLOCK):  # blocks of rows
                b = min(n, a + _ROWS_PER_BLOCK)
                self._blocks.append((a, b, _Problem(self.X[a:b], self.y[a:b], K, link,
                                                   presorted=True)))

    def _pass(self, theta: np.ndarray, w: np.ndarray, keep: np.ndarray | None = None,
              information: bool = True
              ) -> tuple[float, np.ndarray | None, np.ndarray | None]:
        """The log likelihood, score total and information (zeros unless
        ``information``) at theta (m,) for one weight column w (n,, sorted
        rows), block by block; no derivatives where the likelihood is not
        finite. The rows' w A and w B go to ``keep`` (2, n) if given."""
        m = theta.size
        th = theta[None, :]
        ll = 0.0
        g = np.zeros(m)
        J = np.zeros((m, m))
        for a, b, blk in self._blocks:  # blocks of rows
            wb = w[a:b, None]
            st = blk._state(th, wb)
            ll += float(st.ll[0])
            if not np.isfinite(ll):
                return -np.inf, None, None
            _, gb, Jb = blk._derivatives(th, wb, st=st, information=information,
                                         keep=None if keep is None else keep[:, a:b])
            g += gb[0]
            J += Jb[0]
        return ll, g, J

    def _newton1(self, theta: np.ndarray, w: np.ndarray, tol: float, max_iter: int,
                 J0: np.ndarray | None = None
                 ) -> tuple[np.ndarray, bool, int, float, np.ndarray | None, np.ndarray]:
        """:meth:`newton` for one weight column w (n,, sorted rows), one
        blocked pass over the rows per iteration (the derivatives at a step
        are computed with its likelihood, and used when it is accepted).
        ``J0``, if given, is the information taken for the first step (a
        subsample's, scaled), which saves the information at the start.
        Returns the estimate, whether it converged, the iterations, and the
        log likelihood, information (None if not finite) and the rows' w A
        and w B (2, n; sorted rows) at the estimate."""
        # two buffers for w A and w B: the accepted step's and the next trial's
        last, trial = np.empty((2, w.size)), np.empty((2, w.size))
        ll, g, J = self._pass(theta, w, last, information=J0 is None)
        if g is None or J is None:
            return theta, False, 0, ll, None, last
        if J0 is not None:
            J = J0
        prev = np.inf
        for it in range(1, max_iter + 1):  # Newton iterations
            try:
                step = np.linalg.solve(J, g)
            except np.linalg.LinAlgError:
                step = np.linalg.lstsq(J, g, rcond=None)[0]
            h = 1.0
            while True:  # step halving (a bounded number of times)
                new = theta + h * step
                ll_new, g_new, J_new = self._pass(new, w, trial)
                if ll_new >= ll - 1e-12 * abs(ll) and g_new is not None:
                    break
                h /= 2
                if h <= 1e-10:  # no step increases the likelihood: at the maximum
                    return theta, True, it, ll, J, last
            assert g_new is not None and J_new is not None
            change = float(np.max(np.abs(new - theta) / (1 + np.abs(theta))))
            theta, ll, g, J = new, ll_new, g_new, J_new
            last, trial = trial, last
            if change < tol or (change < 0.1 * np.sqrt(tol) and change <= 10 * prev ** 2):
                return theta, True, it, ll, J, last
            prev = change
        return theta, False, max_iter, ll, J, last

    def _by_category(self, values: np.ndarray) -> np.ndarray:
        """Sums of values (n, ...) in sorted row order over the rows of each
        category: (K, ...)."""
        flat = values.reshape(values.shape[0], -1)
        out = np.zeros((self.K, flat.shape[1]))
        out[self._nonempty] = np.add.reduceat(flat, self._starts[self._nonempty], axis=0)
        return out.reshape((self.K, *values.shape[1:]))

    def _x_by_category(self, T: np.ndarray) -> np.ndarray:
        """Sums over the rows of each category of x_i t_i' for the columns
        of T (n, c) in sorted row order: (K, p, c), one matrix product per
        category."""
        out = np.zeros((self.K, self.p, T.shape[1]))
        for k in np.flatnonzero(self._nonempty):  # over the categories: slices of rows
            a, b = self._starts[k], self._ends[k]
            out[k] = self.X[a:b].T @ T[a:b]
        return out

    def bounds(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Upper and lower arguments (n, R) for parameters theta (R, m)."""
        beta, zeta = theta[:, :self.p], theta[:, self.p:]
        eta = self.X @ beta.T  # (n, R)
        z = np.concatenate([np.full((theta.shape[0], 1), -np.inf), zeta,
                            np.full((theta.shape[0], 1), np.inf)], axis=1)  # (R, K+1)
        # the rows are sorted by category: each category's bounds repeated
        counts = self._ends - self._starts
        hi = np.repeat(z[:, 1:].T, counts, axis=0) - eta
        lo = np.repeat(z[:, :-1].T, counts, axis=0) - eta
        return hi, lo

    def _state(self, theta: np.ndarray, W: np.ndarray) -> _State:
        """One pass over the rows at parameters theta (R, m) for the weight
        columns W (n, R, sorted rows): the bounds, P(Y = y), the link's values and the
        weighted log likelihoods (-inf where the cutpoints are not ordered)."""
        hi, lo = self.bounds(theta)
        link = self.link
        Fh, Sh = _cdf(link, hi), _sf(link, hi)
        Fl, Sl = _cdf(link, lo), _sf(link, lo)
        # F(hi) - F(lo), from the upper tail where that is more accurate
        with np.errstate(invalid="ignore"):
            pr = np.where((hi + lo) > 0, Sl - Sh, Fh - Fl)
        ordered = (np.diff(theta[:, self.p:], axis=1) > 0).all(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            ll = np.where(W > 0, W * np.log(pr), 0.0).sum(axis=0)
        ll = np.where(ordered & np.isfinite(ll), ll, -np.inf)
        return _State(hi, lo, pr, Fh, Sh, Fl, Sl, ll)

    def loglik(self, theta: np.ndarray, W: np.ndarray) -> np.ndarray:
        """Weighted log likelihood of each column of W (n, R) at theta (R, m)."""
        return self._state(theta, W[self.order]).ll

    def fit(self, theta: np.ndarray, w: np.ndarray, tol: float, max_iter: int,
            J0: np.ndarray | None = None
            ) -> tuple[np.ndarray, bool, int, float, np.ndarray | None, np.ndarray]:
        """Fit to one weight column w (n,) in the caller's row order from
        theta (m,): the estimate, whether it converged, the iterations, and
        the log likelihood, information (m, m) and the rows' w A and w B
        (2, n; sorted rows, :meth:`_derivatives`) at the estimate, which the
        blocked Newton iterations computed with its last step. ``J0``: the
        information for the first step (:meth:`_newton1`), with blocks."""
        ws = w[self.order]
        if self._blocks:
            return self._newton1(theta.copy(), ws, tol, max_iter, J0)
        t, ok, it = self.newton(theta[None, :], w[:, None], tol, max_iter)
        st = self._state(t, ws[:, None])
        keep = np.empty((2, ws.size))
        _, _, J = self._derivatives(t, ws[:, None], st=st, keep=keep)
        return t[0], bool(ok[0]), it, float(st.ll[0]), J[0], keep

    def influence(self, Jinv: np.ndarray, wAB: np.ndarray) -> np.ndarray:
        """The rows' influence values w_i u_i' J^{-1} (n, m), column-major, in
        the caller's row order, from the rows' w A and w B at the estimate
        (2, n; sorted rows, :meth:`fit`): with A = f(hi)/pi, B = f(lo)/pi,
        row i of category c has the score u_i = (-(A - B) x_i, A e_c - B
        e_{c-1}). w A and w B are put back in the caller's order (two
        vectors); the rest is computed in blocks of the caller's rows as
        ``J^{-1}' (w_i u_i)`` on the transpose, each product small enough
        for one BLAS thread."""
        p, q = self.p, self.q
        m = p + q
        X, y = self._X0, self._y0
        n = y.size
        wAB_sorted = wAB
        wAB = np.empty((2, n))
        wAB[:, self.order] = wAB_sorted
        XT = X.T
        JT = np.ascontiguousarray(Jinv.T)
        zT = np.empty((m, n))
        step = _ROWS_PER_BLOCK
        sub = max(256, (1 << 18) // (m * m))
        cuts = np.arange(q)[:, None]
        buf = np.empty((m, min(n, step)))
        for a in range(0, n, step):  # blocks of rows
            b = min(n, a + step)
            yb = y[a:b]
            wA, wB = wAB[0, a:b], wAB[1, a:b]
            S = buf[:, :b - a]  # the weighted scores w_i u_i of the block, transposed
            np.multiply(XT[:, a:b], -(wA - wB), out=S[:p])
            # zeta_c: + w A in category c's rows, - w B in category c+1's
            S[p:] = np.where(yb == cuts, wA, 0.0) - np.where(yb == cuts + 1, wB, 0.0)
            for c in range(a, b, sub):  # sub-blocks of rows for the product
                d = min(b, c + sub)
                np.matmul(JT, S[:, c - a:d - a], out=zT[:, c:d])
        return zT.T

    def derivatives(self, theta: np.ndarray, W: np.ndarray, scores: bool = False
                    ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
        """:meth:`_derivatives` for weights W (n, R) in the caller's row
        order, the per-row scores returned in that order."""
        S, g, J = self._derivatives(theta, W[self.order], scores)
        if S is not None:
            out = np.empty_like(S)
            out[:, self.order] = S
            S = out
        return S, g, J

    def _densities(self, st: _State) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """f and f' at the upper and lower bounds; the logistic's from F and 1 - F."""
        if self.link != "logit":
            fh, dh = _pdf(self.link, st.hi)
            fl, dl = _pdf(self.link, st.lo)
            return fh, dh, fl, dl
        fh = st.Fh * st.Sh  # 0 at -inf and inf, where F or 1 - F is 0
        fl = st.Fl * st.Sl
        return fh, fh * (st.Sh - st.Fh), fl, fl * (st.Sl - st.Fl)

    def _derivatives(self, theta: np.ndarray, W: np.ndarray, scores: bool = False,
                     st: _State | None = None, information: bool = True,
                     keep: np.ndarray | None = None
                     ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
        """Per-row scores (R, n, m) if ``scores``, total scores (R, m) and
        informations (R, m, m; zeros unless ``information``), for weights W
        (n, R) in sorted row order; ``st`` the :meth:`_state` at theta, if
        known; the rows' w A and w B go to ``keep`` (2, n) if given (R = 1).

        Row i of category c has the score u_i = (-(A - B) x_i, A e_c - B e_{c-1})
        with A = f(hi)/pi, B = f(lo)/pi, and the information
        J = sum_i w_i (u_i u_i' - (f'(hi) U_i U_i' - f'(lo) L_i L_i') / pi_i),
        U_i = (-x_i, e_c), L_i = (-x_i, e_{c-1}); its blocks are weighted
        cross-products of X and sums over the rows of each category.
        """
        p, q = self.p, self.q
        X = self.X
        if st is None:
            st = self._state(theta, W)
        pr = st.pr
        fh, dh, fl, dl = self._densities(st)
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = np.where(W > 0, 1.0 / pr, 0.0)
        A, B = fh * inv, fl * inv  # (n, R)
        Dh, Dl = dh * inv, dl * inv
        AB = A - B
        R = theta.shape[0]
        m = p + q
        g = np.empty((R, m))
        J = np.empty((R, m, m))
        # slopes
        WAB = W * AB
        g[:, :p] = -(WAB.T @ X)
        WA, WB = W * A, W * B
        if keep is not None:
            keep[0], keep[1] = WA[:, 0], WB[:, 0]
        if not information and not scores:
            sums = self._by_category(np.concatenate([WA, WB], axis=1)).reshape(self.K, 2, R)
            g[:, p:] = (sums[:q, 0] - sums[1:, 1]).T
            return None, g, np.zeros((R, m, m))
        C = W * (AB * AB - (Dh - Dl))
        if R == 1:
            J[0, :p, :p] = X.T @ (X * C)
        else:
            J[:, :p, :p] = np.matmul(X.T[None] * C.T[:, None, :], X)
        # cutpoints: category k's rows reach zeta_k through hi, category k+1's through lo
        sums = self._by_category(np.concatenate(
            [WA, WB, WA * A - W * Dh, WB * B + W * Dl, WA * B], axis=1)).reshape(self.K, 5, R)
        sA, sB, d1, d2, off = (sums[:, j] for j in range(5))
        off = -off
        g[:, p:] = (sA[:q] - sB[1:]).T
        J[:, p:, p:] = 0.0
        k = np.arange(q)
        J[:, p + k, p + k] = (d1[:q] + d2[1:]).T
        if q > 1:
            J[:, p + k[:-1], p + k[1:]] = off[1:q].T
            J[:, p + k[1:], p + k[:-1]] = off[1:q].T
        # slopes x cutpoints: sums over the rows of each category of x_i t_i
        T1 = W * Dh - WAB * A
        T2 = WAB * B - W * Dl
        G = self._x_by_category(np.concatenate([T1, T2], axis=1))
        G1, G2 = G[:, :, :R], G[:, :, R:]  # (K, p, R)
        cross = (G1[:q] + G2[1:]).transpose(2, 1, 0)  # (R, p, q)
        J[:, :p, p:] = cross
        J[:, p:, :p] = cross.transpose(0, 2, 1)
        if not scores:
            return None, g, J
        n = X.shape[0]
        S = np.zeros((R, n, m))
        S[:, :, :p] = -AB.T[:, :, None] * X[None]
        rows = np.arange(n)
        up = self.y < q
        lo_rows = self.y > 0
        S[:, rows[up], p + self.y[up]] += A[up].T
        S[:, rows[lo_rows], p + self.y[lo_rows] - 1] -= B[lo_rows].T
        return S, g, J

    def refit(self, theta: np.ndarray, W: np.ndarray, tol: float, max_iter: int
              ) -> np.ndarray:
        """Fits under every column of W (n, R) from theta (m,), NaN where a fit
        did not converge; in blocks of columns, so memory stays bounded."""
        R = W.shape[1]
        m = theta.size
        block = max(1, _BLOCK // max(1, W.shape[0] * (self.p + 4) * m))
        out = np.empty((R, m))
        for start in range(0, R, block):  # blocks of replicates, not one at a time
            cols = slice(start, min(R, start + block))
            Wb = np.ascontiguousarray(W[:, cols])
            t, ok, _ = self.newton(np.repeat(theta[None, :], Wb.shape[1], axis=0), Wb,
                                   tol, max_iter)
            t[~ok] = np.nan
            out[cols] = t
        return out

    def newton(self, theta: np.ndarray, W: np.ndarray, tol: float, max_iter: int
               ) -> tuple[np.ndarray, np.ndarray, int]:
        """Maximise each column's likelihood from theta (R, m); returns the
        estimates, whether each converged, and the iterations used.

        A column stops when its largest step relative to ``1 + |theta|`` is
        below ``tol``, or below ``sqrt(tol)/10`` while the steps shrink
        quadratically (Newton's method: the error left is about the square
        of the step), or when no step along the Newton direction increases
        the likelihood (at the maximum to rounding). The state of the rows
        at the accepted parameters is kept for the next iteration, so each
        iteration is one pass over the rows for the derivatives and one for
        the likelihood of the step. W (n, R) is in the caller's row order."""
        W = W[self.order]
        if W.shape[1] == 1 and theta.shape[0] == 1 and self._blocks:
            t, ok, it1, _, _, _ = self._newton1(theta[0].copy(), W[:, 0], tol, max_iter)
            return t[None, :], np.array([ok]), it1
        theta = theta.copy()
        st = self._state(theta, W)
        ll = st.ll.copy()
        done = np.zeros(theta.shape[0], dtype=bool)
        prev = np.full(theta.shape[0], np.inf)
        it = 0
        for it in range(1, max_iter + 1):  # Newton iterations (all columns at once)
            act = np.flatnonzero(~done)
            if act.size == 0:
                it -= 1
                break
            th, Wa = theta[act], W[:, act]
            _, g, J = self._derivatives(th, Wa, st=st)
            try:
                step = np.linalg.solve(J, g[:, :, None])[:, :, 0]
            except np.linalg.LinAlgError:
                step = np.stack([np.linalg.lstsq(Jr, gr, rcond=None)[0]
                                 for Jr, gr in zip(J, g, strict=True)])
            new = th + step
            nst = self._state(new, Wa)
            new_ll = nst.ll
            h = 1.0
            bad = ~(new_ll >= ll[act] - 1e-12 * np.abs(ll[act]))
            while bad.any() and h > 1e-10:  # step halving (a bounded number of times)
                h /= 2
                new[bad] = th[bad] + h * step[bad]
                nst.replace(bad, self._state(new[bad], Wa[:, bad]))
                new_ll = nst.ll
                bad = ~(new_ll >= ll[act] - 1e-12 * np.abs(ll[act]))
            change = np.max(np.abs(new - th) / (1 + np.abs(th)), axis=1)
            theta[act] = np.where(bad[:, None], th, new)
            ll[act] = np.where(bad, ll[act], new_ll)
            quadratic = (change < 0.1 * np.sqrt(tol)) & (change <= 10 * prev[act] ** 2)
            prev[act] = change
            done[act] = (change < tol) | quadratic | bad
            keep = ~done[act]  # the columns still iterating (bad ones are done)
            st = nst.take(keep)
        return theta, done, it


class _State:
    """The rows' bounds, probabilities and link values at some parameters,
    one column per weight column (n, R), and the log likelihoods (R,)."""

    __slots__ = ("Fh", "Fl", "Sh", "Sl", "hi", "ll", "lo", "pr")

    def __init__(self, hi: np.ndarray, lo: np.ndarray, pr: np.ndarray, Fh: np.ndarray,
                 Sh: np.ndarray, Fl: np.ndarray, Sl: np.ndarray, ll: np.ndarray) -> None:
        self.hi, self.lo, self.pr, self.ll = hi, lo, pr, ll
        self.Fh, self.Sh, self.Fl, self.Sl = Fh, Sh, Fl, Sl

    def take(self, cols: np.ndarray) -> _State:
        """The state of some columns (a boolean mask over the columns)."""
        if cols.all():
            return self
        return _State(self.hi[:, cols], self.lo[:, cols], self.pr[:, cols],
                      self.Fh[:, cols], self.Sh[:, cols], self.Fl[:, cols], self.Sl[:, cols],
                      self.ll[cols])

    def replace(self, cols: np.ndarray, other: _State) -> None:
        """Put ``other`` (one column per True entry of the mask ``cols``)
        into the columns ``cols`` of this state."""
        for name in ("hi", "lo", "pr", "Fh", "Sh", "Fl", "Sl"):
            getattr(self, name)[:, cols] = getattr(other, name)
        self.ll = self.ll.copy()
        self.ll[cols] = other.ll


# ----------------------------------------------------------------------------
# the outcome
# ----------------------------------------------------------------------------
def _outcome(data: pd.DataFrame, name: str) -> tuple[np.ndarray, list[Any]]:
    """Codes (-1 for missing) and levels of an ordered outcome column."""
    if name not in data.columns:
        raise EstimationError(f"the outcome {name!r} is not a column of the design's data")
    s = data[name]
    if isinstance(s.dtype, pd.CategoricalDtype):
        return np.asarray(s.cat.codes, dtype=np.int64), list(s.cat.categories)
    if pd.api.types.is_bool_dtype(s.dtype):
        v = s.to_numpy()
        return v.astype(np.int64), [False, True]
    if pd.api.types.is_numeric_dtype(s.dtype):
        v = s.to_numpy(dtype=float, na_value=np.nan)
        ok = np.isfinite(v)
        if (v[ok] != np.round(v[ok])).any():
            bad = v[ok][v[ok] != np.round(v[ok])][0]
            raise EstimationError(
                f"the outcome {name!r} has non-integer values ({bad:g}); an ordered outcome "
                f"is an ordered Categorical, integers, or value labels")
        levels, codes = np.unique(v[ok], return_inverse=True)
        out = np.full(v.size, -1, dtype=np.int64)
        out[ok] = codes
        as_int = [int(x) for x in levels]
        return out, as_int
    raise EstimationError(
        f"the outcome {name!r} holds strings, which have no order; make it an ordered "
        f"Categorical (pd.Categorical(..., categories=[lowest, ..., highest], "
        f"ordered=True)) or integer codes")


def _split(formula: str) -> tuple[str, str]:
    if not isinstance(formula, str) or "~" not in formula:
        raise EstimationError(f"formula must be a string 'outcome ~ terms'; got {formula!r}")
    lhs, rhs = formula.split("~", 1)
    lhs = lhs.strip()
    if lhs.startswith("Q(") and lhs.endswith(")"):
        lhs = lhs[2:-1].strip().strip("'\"")
    if not lhs:
        raise EstimationError(f"formula {formula!r} has no outcome (left of '~')")
    return lhs, rhs.strip() or "1"


def ologit(formula: str, design: SurveyDesign, *, link: str = "logit", tol: float = 1e-12,
           max_iter: int = 100, se: str = "linearized") -> OrdinalResult:
    """Fit a survey-weighted ordinal regression (cumulative link model).

    R's ``svyolr``; Stata's ``svy: ologit`` (and ``svy: oprobit`` with
    ``link="probit"``).

    Parameters
    ----------
    formula : str
        ``"outcome ~ terms"``: the outcome is a column of the design's data,
        an ordered Categorical (its categories' order is the outcome's order;
        SPSS value labels read by :func:`innobaro.read_spss` are such), or
        integers (ordered by value); the terms are a patsy formula, whose
        intercept is replaced by the cutpoints.
    design : Design or ReplicateDesign
        The design (or a domain of it, ``design.subset(...)``).
    link : {"logit", "probit", "cloglog", "loglog"}, default "logit"
        The distribution function :math:`F` of
        :math:`P(Y \\le k) = F(\\zeta_k - x^\\top\\beta)`: logistic
        (proportional odds), normal, :math:`1 - e^{-e^z}` or :math:`e^{-e^{-z}}`.
    tol : float, default 1e-12
        Convergence: largest Newton step relative to ``1 + |theta|``.
    max_iter : int, default 100
    se : {"linearized", "bell-mccaffrey", "bell-mccaffrey-2"}, default "linearized"
        As :func:`~innobaro.glm`'s (R's ``svyglm(std.errors=)``, which
        ``svyolr`` lacks): the Bell-McCaffrey variants adjust each PSU's
        working residuals by its leverage in the model's working regression
        (CR2; a row has one pseudo-row per linear predictor its likelihood
        depends on, :math:`\\zeta_{y_i} - x_i^\\top\\beta` and
        :math:`\\zeta_{y_i - 1} - x_i^\\top\\beta`, whitened by its
        information) and give Satterthwaite degrees of freedom, the smallest
        of which is :attr:`~OrdinalResult.df_resid`; the adjusted influence
        values are :attr:`~OrdinalResult.influence`, so margins and tests
        use them. With two categories this is :func:`~innobaro.logit`'s
        (the cutpoint is minus the intercept). See
        :func:`innobaro.variance.small_sample.multivariate_working`.
        Linearisation designs only.

    Returns
    -------
    OrdinalResult
        Slopes then cutpoints (named ``"1|2"``, ``"2|3"``, ... as R names
        them), with their design-based covariance.

    Notes
    -----
    The estimates maximise :math:`\\sum_i w_i \\log\\{F(\\zeta_{y_i} -
    x_i^\\top\\beta) - F(\\zeta_{y_i-1} - x_i^\\top\\beta)\\}`; the covariance
    is the sandwich :math:`J^{-1} \\hat V(\\sum_i w_i u_i) J^{-1}` computed
    by the design's variance engine from the influence values
    :math:`w_i u_i^\\top J^{-1}` (linearisation) or by refitting under every
    replicate weight. Rows with a missing value in the outcome or a term are
    left out of the fit but stay in the design. Degrees of freedom of t
    intervals and tests: the design's minus the number of slopes (R's
    ``svyolr``), or with ``se="bell-mccaffrey"`` the smallest
    Satterthwaite degrees of freedom of the coefficients. A category
    without rows in the fit is dropped with a warning that names it.

    Examples
    --------
    >>> import innobaro as ib
    >>> from innobaro.datasets import barometer_2020_design
    >>> m = ib.ologit("promoter_leadership ~ C(sector) + np.log(employees)",
    ...               barometer_2020_design())
    >>> m.cutpoints.round(3).tolist()
    [-2.828, -1.652, -0.608, 0.495, 1.579]
    """
    if link not in LINKS:
        raise EstimationError(f"link must be one of {', '.join(LINKS)}; got {link!r}")
    se = small_sample.check_se(se)
    check_iterations(max_iter, tol)
    if not isinstance(design, SurveyDesign):
        raise TypeError(f"design must be an innobaro design, not {type(design).__name__}")
    name, rhs = _split(formula)
    data = design.data
    codes, levels = _outcome(data, name)
    present = design.present & (design.unmasked_weights > 0)
    y_ok = codes >= 0
    _, X, spec, kept = model_frame(rhs, data, response=False, within=present & y_ok)
    n_missing_y = int((present & ~y_ok).sum())
    if n_missing_y:
        spec = replace(spec, missing={name: n_missing_y, **spec.missing})
    kept = kept & y_ok
    spec = replace(spec, formula=formula)
    rows = np.flatnonzero(present & kept)
    if rows.size == 0:
        raise EstimationError(f"no complete rows with positive weight for the model of "
                              f"{name!r}")
    y = codes[rows]
    w = design.unmasked_weights[rows]
    # categories without rows in the fit carry no cutpoint: dropped, named
    counts = np.bincount(y, minlength=len(levels))
    empty = [levels[k] for k in np.flatnonzero(counts == 0)]
    if len(levels) - len(empty) < 2:
        seen = [levels[k] for k in np.flatnonzero(counts)]
        raise EstimationError(
            f"the outcome {name!r} has a single category among the rows of the fit "
            f"({', '.join(map(repr, seen))}); an ordinal model needs at least two")
    if empty:
        warn(f"categories {', '.join(map(repr, empty))} of the outcome {name!r} have no rows "
             f"in the fit; they are dropped (their cutpoints are not estimable)")
        used = counts > 0
        remap = np.cumsum(used) - 1
        y = remap[y]
        levels = [lv for lv, u in zip(levels, used, strict=True) if u]
    K = len(levels)
    # the intercept is replaced by the cutpoints
    cols = list(spec.column_names)
    if "Intercept" in cols:
        j = cols.index("Intercept")
        slope_cols = [i for i in range(len(cols)) if i != j]
    else:
        warn(f"the formula {formula!r} has no intercept; an ordinal model has one through "
             f"its cutpoints, which is assumed (R's svyolr: 'an intercept is needed and "
             f"assumed')")
        slope_cols = list(range(len(cols)))
    Xs = np.asarray(X[:, slope_cols], dtype=float)  # the fit sorts (copies) its rows
    slope_names = [cols[j] for j in slope_cols]
    if not np.isfinite(Xs).all():
        bad = [repr(slope_names[j]) for j in np.flatnonzero(~np.isfinite(Xs).all(axis=0))]
        raise EstimationError(f"infinite values in {', '.join(bad)} among the rows of the fit")
    if Xs.shape[1]:
        # rank of [1, X] from its (scaled) cross-product, not an SVD of the rows
        ps = Xs.shape[1]
        G = np.empty((ps + 1, ps + 1))
        G[0, 0] = len(w)
        G[0, 1:] = G[1:, 0] = Xs.sum(axis=0)
        G[1:, 1:] = Xs.T @ Xs
        sd = np.sqrt(np.diag(G))
        sd[sd == 0] = 1.0
        ev = np.linalg.eigvalsh(G / np.outer(sd, sd))
        if ev.min() <= 1e-10 * ev.max():
            raise EstimationError(
                f"the model columns {', '.join(map(repr, slope_names))} are linearly "
                f"dependent (or constant) among the rows of the fit; drop or merge terms")
    prob = _Problem(Xs, y, K, link)
    # start: no slopes, cutpoints at the weighted cumulative shares
    share = np.cumsum(np.bincount(y, weights=w, minlength=K))[:-1] / w.sum()
    theta0 = np.concatenate([np.zeros(Xs.shape[1]), _quantile(link, share)])[None, :]
    J0 = None
    if y.size > 100_000:
        # a warm start from a systematic subsample (with every category) saves
        # full-data iterations
        sub = slice(None, None, y.size // min(100_000, max(25_000, y.size // 10)))
        if (np.bincount(y[sub], minlength=K) > 0).all():
            t0, ok, _, _, Jsub, _ = _Problem(Xs[sub], y[sub], K, link).fit(
                theta0[0], w[sub], 1e-6, max_iter)
            if ok and np.isfinite(t0).all():
                theta0 = t0[None, :]
                if Jsub is not None and np.isfinite(Jsub).all():
                    # its information, scaled to the sum of the weights, takes
                    # the first full step (the error it leaves is of the order
                    # of the Newton step's own): saves the information at the start
                    J0 = Jsub * (w.sum() / w[sub].sum())
    est, converged, it, loglik, J, wAB = prob.fit(theta0[0], w, tol, max_iter, J0)
    if not converged or not np.isfinite(est).all() or J is None:
        raise EstimationError(
            f"the ordinal model of {name!r} did not converge in {max_iter} iterations"
            f"{_separation(Xs, y, levels, slope_names)}; raise max_iter if none is")
    try:
        Jinv = np.linalg.inv(J)
    except np.linalg.LinAlgError:
        Jinv = np.full(J.shape, np.nan)
    if not np.isfinite(Jinv).all() or np.linalg.cond(J) > 1e14:
        raise EstimationError(
            f"the ordinal model of {name!r} has a singular information matrix at its "
            f"maximum{_separation(Xs, y, levels, slope_names)}, or the categories are too "
            f"sparse")
    m = Jinv.shape[0]
    z = prob.influence(Jinv, wAB)  # column-major
    if rows.size != design.n:  # rows outside the fit have influence 0
        z_all = np.zeros((m, design.n)).T
        z_all[rows] = z
        z = z_all
    domain = np.where(design.present, 0, -1).astype(np.int64)

    def refit(W: np.ndarray) -> np.ndarray:
        return prob.refit(est, np.asarray(W, dtype=float)[rows], tol, max_iter)

    working = None if se == "linearized" else _working(Xs, y, w, est, link, K, rows, design.n)
    V = vcov_of(design, est, Influence(values=z, domain=domain, n_domains=1), refit,
                se=se, working=working)
    q = K - 1
    cut_names = [f"{levels[k]}|{levels[k + 1]}" for k in range(q)]
    df_resid = model_df(design, kept) - Xs.shape[1]
    if working is not None:  # the adjusted influence values, Satterthwaite df
        adj = small_sample.adjust(design, working, se)  # type: ignore[arg-type]
        z, df_resid = adj.values, float(adj.df.min())
    return OrdinalResult(formula=formula, outcome=name, link=link, levels=levels, spec=spec,
                         slope_names=slope_names, slope_cols=slope_cols,
                         cut_names=cut_names, theta=est, vcov=V, df_resid=df_resid,
                         design=design, rows=rows, weights=w, X=Xs, y=y, influence=z,
                         refit=refit, iterations=it, information=J, loglik=loglik)


# ----------------------------------------------------------------------------
# the result
# ----------------------------------------------------------------------------
class OrdinalResult(Estimate):
    """A fitted survey ordinal regression: an :class:`~innobaro.Estimate` of
    the slopes then the cutpoints (kind ``"coefficient"``, t intervals on
    :attr:`df_resid`), so :func:`~innobaro.contrast` takes it.

    Attributes
    ----------
    outcome : str
    link : str
        ``"logit"``, ``"probit"``, ``"cloglog"`` or ``"loglog"``.
    levels : list
        The outcome's categories in order (those with rows in the fit).
    params, bse : pandas.Series
        Slopes and cutpoints (R's ``coef(svyolr)``, zeta named ``"1|2"``,
        ...) and their design-based standard errors.
    slopes, cutpoints : pandas.Series
    df_resid : float
        The design's degrees of freedom minus the number of slopes.
    n_dropped : int
        Rows of the design left out for missing values.
    loglik : float
        The weighted log likelihood at the fit (sampling weights as given).
    deviance : float
        :math:`-2` times the log likelihood with the weights scaled to mean 1
        over the rows of the fit (R's ``svyolr`` ``deviance``).

    Examples
    --------
    >>> import innobaro as ib
    >>> from innobaro.datasets import barometer_2020_design
    >>> m = ib.ologit("promoter_leadership ~ C(sector)", barometer_2020_design())
    >>> m.slopes.round(3).tolist()
    [-0.011, -0.009, 0.044, -0.067]
    """

    def __init__(self, *, formula: str, outcome: str, link: str, levels: list[Any],
                 spec: ModelSpec, slope_names: list[str], slope_cols: list[int],
                 cut_names: list[str], theta: np.ndarray, vcov: np.ndarray,
                 df_resid: float, design: SurveyDesign, rows: np.ndarray, weights: np.ndarray,
                 X: np.ndarray, y: np.ndarray, influence: np.ndarray,
                 refit: Callable[[np.ndarray], np.ndarray], iterations: int,
                 information: np.ndarray, loglik: float) -> None:
        index = pd.Index(slope_names + cut_names, name="term")
        super().__init__(theta, vcov, index, df=np.full(theta.size, float(df_resid)),
                         kind="coefficient")
        self.formula = formula
        self.outcome = outcome
        self.link = link
        self.levels = list(levels)
        self.spec = spec
        self._slope_names = slope_names
        self._slope_cols = slope_cols
        self._cut_names = cut_names
        self._theta = theta
        self._V = np.asarray(vcov, dtype=float)
        self.df_resid = float(df_resid)
        self.design = design
        self._rows = rows
        self._w = weights
        self._X = X
        self._y = y
        self._infl = influence
        self._refit = refit
        self.iterations = iterations
        self._J = information
        self.loglik = float(loglik)
        self.n_dropped = int((design.present & (design.unmasked_weights > 0)).sum()
                             - rows.size)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_refit"] = None  # a closure over the fit's arrays; refit() rebuilds it
        return state

    # ------------------------------------------------------------------ basics
    @property
    def p(self) -> int:
        """Number of slopes."""
        return len(self._slope_names)

    @property
    def params(self) -> pd.Series:
        """Slopes then cutpoints."""
        return pd.Series(self._theta, index=self._index, name="coef")

    @property
    def bse(self) -> pd.Series:
        """Design-based standard errors of :attr:`params`."""
        return pd.Series(np.sqrt(np.diag(self._V)), index=self._index, name="se")

    @property
    def slopes(self) -> pd.Series:
        """The coefficients :math:`\\beta` of the terms."""
        return self.params.iloc[:self.p]

    @property
    def cutpoints(self) -> pd.Series:
        """The cutpoints :math:`\\zeta_k` (R's ``zeta``)."""
        return self.params.iloc[self.p:]

    @property
    def deviance(self) -> float:
        """-2 log likelihood, weights scaled to mean 1 (R's ``svyolr`` deviance)."""
        return -2.0 * self.loglik / float(self._w.mean())

    @property
    def coefficients(self) -> Estimate:
        """Slopes and cutpoints as a plain :class:`~innobaro.Estimate`."""
        return Estimate(self._theta, self._V, self._index,
                        df=np.full(self._theta.size, self.df_resid), kind="coefficient")

    @property
    def influence(self) -> np.ndarray:
        """(n, p + K - 1) influence values of the estimates for every row of
        the design (zero outside the fit; read-only)."""
        return read_only(self._infl)

    @property
    def fit_rows(self) -> np.ndarray:
        """Positions in the design of the rows in the fit (read-only)."""
        return read_only(self._rows)

    @property
    def nobs(self) -> int:
        """Rows in the fit."""
        return int(self._rows.size)

    def refit(self, weights: np.ndarray) -> np.ndarray:
        """Refit the model under each column of ``weights``.

        Parameters
        ----------
        weights : numpy.ndarray
            (n, R): one weight per row of the design and refit.

        Returns
        -------
        numpy.ndarray
            (R, p + K - 1) slopes then cutpoints, a row of ``NaN`` for a refit
            that did not converge.

        Examples
        --------
        >>> import numpy as np
        >>> import innobaro as ib
        >>> from innobaro.datasets import barometer_2020_design
        >>> d = barometer_2020_design()
        >>> m = ib.ologit("promoter_leadership ~ np.log(employees)", d)
        >>> np.allclose(m.refit(np.ones((d.n, 1)) * d.weight_values[:, None])[0], m.params)
        True
        """
        fn = self._refit
        if fn is None:
            fn = _refitter(self._X, self._y, len(self.levels), self.link, self._rows,
                           self._theta)
            self._refit = fn
        return fn(np.asarray(weights, dtype=float))

    def odds_ratios(self, level: float = 0.95) -> pd.DataFrame:
        """exp(slopes) with exp(interval): cumulative odds ratios of a logit model.

        :math:`e^{\\beta_j}` is the odds ratio of :math:`Y \\le k` per unit of
        :math:`x_j` (the same for every :math:`k`); :math:`e^{-\\beta_j}` that
        of :math:`Y > k`.

        Parameters
        ----------
        level : float, default 0.95

        Returns
        -------
        pandas.DataFrame
            ``odds_ratio``, ``lower``, ``upper`` by slope.

        Examples
        --------
        >>> import innobaro as ib
        >>> from innobaro.datasets import barometer_2020_design
        >>> m = ib.ologit("promoter_leadership ~ np.log(employees)", barometer_2020_design())
        >>> m.odds_ratios().columns.tolist()
        ['odds_ratio', 'lower', 'upper']
        """
        if self.link != "logit":
            raise EstimationError(f"odds ratios are for the logit link; this model's link "
                                  f"is {self.link}")
        ci = self.ci(level).iloc[:self.p]
        return pd.DataFrame({"odds_ratio": np.exp(self.slopes), "lower": np.exp(ci["lower"]),
                             "upper": np.exp(ci["upper"])}, index=self.slopes.index)

    def _term_index(self, terms: str | Sequence[str]) -> tuple[list[str], np.ndarray]:
        terms, columns = self.spec.columns_of(terms)
        cols = [self._slope_cols.index(j) for j in columns if j in self._slope_cols]
        if not cols:
            raise EstimationError(f"{' + '.join(terms)} has no slopes to test")
        return terms, np.array(sorted(set(cols)))

    def wald_test(self, terms: str | Sequence[str], method: str = "F",
                  df: float | None = None) -> TermTest:
        """Test that the slopes of one or several terms are all zero.

        As R's ``regTermTest`` on a ``svyolr`` fit: ``method="F"`` gives
        :math:`F = \\beta^\\top V^{-1}\\beta / k` on (k, ``df``) degrees of
        freedom (``df`` the residual degrees of freedom by default);
        ``"chisq"`` the Wald chi-square on k.

        Parameters
        ----------
        terms : str or list of str
            Terms of the formula (``"C(sector)"``; ``"sector"`` finds it).
        method : {"F", "chisq"}, default "F"
        df : float, optional
            Denominator degrees of freedom.

        Returns
        -------
        TermTest

        Examples
        --------
        >>> import innobaro as ib
        >>> from innobaro.datasets import barometer_2020_design
        >>> m = ib.ologit("promoter_leadership ~ C(sector)", barometer_2020_design())
        >>> t = m.wald_test("C(sector)")
        >>> t.df
        (4.0, 1745.0)
        """
        names, idx = self._term_index(terms)
        if method not in ("F", "chisq"):
            raise EstimationError("method must be 'F' or 'chisq'")
        ddf = self.df_resid if df is None else float(df)
        return wald_term_test(names, self._theta[idx], self._V[np.ix_(idx, idx)],
                              ddf if ddf > 0 else np.inf, method)

    def anova(self, other: OrdinalResult, method: str = "LRT", test: str = "F") -> TermTest:
        r"""Test this ordinal model against a nested one (as R's ``anova.svyglm``).

        The two models (either order) have the same outcome, categories and
        link, and were fitted on the same design and rows; the terms of one
        are among the other's. Tested: the slopes :math:`\beta` the bigger
        model adds.

        - ``method="LRT"`` (the default, as R's): the Rao-Scott working
          likelihood ratio :math:`D_0 - D`, the difference of the deviances
          (:math:`-2\ell` with the weights scaled to mean 1), referred to
          :math:`\sum_j \lambda_j \chi^2_1` (over :math:`\chi^2_d/d` for
          ``test="F"``), :math:`\lambda` the eigenvalues of
          :math:`V_0^{-1} V`: :math:`V` the design-based covariance of the
          added slopes, :math:`V_0` their block of the inverse information
          :math:`J^{-1}` (weights scaled to mean 1), by the saddlepoint
          approximation;
        - ``method="Wald"``: :math:`\beta^\top V^{-1}\beta / k` on
          :math:`(k, d)` degrees of freedom (``test="F"``), or the
          chi-square on :math:`k` (``"Chisq"``),

        :math:`d` the bigger model's residual degrees of freedom.

        Parameters
        ----------
        other : OrdinalResult
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
            categories or link, or were fitted on other designs or rows.

        References
        ----------
        Lumley, T. and Scott, A. (2014). Tests for regression models fitted
        to survey data. *Australian & New Zealand Journal of Statistics*
        56(1), 1-14.

        Examples
        --------
        >>> import innobaro as ib
        >>> from innobaro.datasets import barometer_2020_design
        >>> d = barometer_2020_design()
        >>> small = ib.ologit("promoter_leadership ~ np.log(employees)", d)
        >>> big = ib.ologit("promoter_leadership ~ C(sector) + np.log(employees)", d)
        >>> t = ib.anova(small, big)
        >>> t.method, t.df
        ('lrt', (4.0, 1744.0))
        """
        key, tkey = anova_options(method, test)
        if not isinstance(other, OrdinalResult):
            raise EstimationError(f"anova compares two ordinal models; got "
                                  f"{type(other).__name__}")
        same_rows(self.design, other.design, self._rows, other._rows)
        if self.outcome != other.outcome or self.levels != other.levels:
            raise EstimationError(
                f"the models have different outcomes: {self.outcome!r} with categories "
                f"{self.levels} and {other.outcome!r} with {other.levels}")
        if self.link != other.link:
            raise EstimationError(f"the models have different links: {self.link} and "
                                  f"{other.link}")
        which, added = nested_terms(_model_terms(self), _model_terms(other), "ordinal models")
        big, small = (self, other) if which == 0 else (other, self)
        return likelihood_anova(big, small, added, key, tkey, big._term_index,
                                lambda: np.linalg.inv(big._J), big._V, float(big._w.mean()))

    # ------------------------------------------------------------------ prediction
    def _matrix(self, data: pd.DataFrame) -> np.ndarray:
        X = self.spec.matrix(data)
        return np.asarray(X[:, self._slope_cols], dtype=float)

    def _probs(self, X: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Category probabilities (N, K) and their derivatives (N, K, m)."""
        p, q = self.p, len(self.levels) - 1
        eta = X @ theta[:p]
        arg = theta[p:][None, :] - eta[:, None]  # (N, q)
        cum = _cdf(self.link, arg)
        f, _ = _pdf(self.link, arg)
        N = X.shape[0]
        dcum = np.zeros((N, q, p + q))
        dcum[:, :, :p] = -f[:, :, None] * X[:, None, :]
        dcum[:, np.arange(q), p + np.arange(q)] = f
        cum_all = np.concatenate([np.zeros((N, 1)), cum, np.ones((N, 1))], axis=1)
        d_all = np.concatenate([np.zeros((N, 1, p + q)), dcum, np.zeros((N, 1, p + q))],
                               axis=1)
        return np.diff(cum_all, axis=1), np.diff(d_all, axis=1)

    def predict(self, newdata: pd.DataFrame | None = None, se: bool = False
                ) -> pd.DataFrame:
        """Predicted category probabilities, with delta-method standard errors.

        Parameters
        ----------
        newdata : DataFrame, optional
            Rows to predict for; the rows of the fit by default.
        se : bool, default False
            Also return standard errors, :math:`\\sqrt{d_k^\\top V d_k}`, with
            :math:`d_k` the gradient of :math:`P(Y = k)` in the slopes and
            cutpoints.

        Returns
        -------
        pandas.DataFrame
            One row per row predicted for and one column per category; with
            ``se=True``, rows indexed by (row, category) with columns ``fit``
            and ``se``.

        Examples
        --------
        >>> import pandas as pd
        >>> import innobaro as ib
        >>> from innobaro.datasets import barometer_2020_design
        >>> m = ib.ologit("promoter_leadership ~ np.log(employees)", barometer_2020_design())
        >>> pr = m.predict(pd.DataFrame({"employees": [5, 500]}))
        >>> pr.sum(axis=1).round(12).tolist()
        [1.0, 1.0]
        """
        if newdata is None:
            X = self._X
            index = self.design.data.index[self._rows]
        else:
            newdata = as_frame(newdata, "newdata")
            X = self._matrix(newdata)
            index = newdata.index
        P, D = self._probs(X, self._theta)
        cats = pd.Index(self.levels, name=self.outcome)
        if not se:
            return pd.DataFrame(P, index=index, columns=cats)
        s = np.sqrt(np.einsum("nkj,jl,nkl->nk", D, self._V, D))
        mi = pd.MultiIndex.from_product([index, cats], names=[index.name or "row",
                                                               self.outcome])
        return pd.DataFrame({"fit": P.ravel(), "se": s.ravel()}, index=mi)

    def margins(self, variable: str, values: Sequence[Any] | None = None, *,
                level: float = 0.95) -> Estimate:
        """Predictive margins per category: the average predicted probability
        of each category with ``variable`` set to each value.

        :math:`M_{vk} = \\sum_i w_i P(Y = k \\mid x_i^{(v)}) / \\sum_i w_i` over
        the rows of the fit; the covariance has both parts, the rows' sampling
        and the estimated coefficients (influence values
        :math:`w_i(P_{ik} - M_{vk})/\\sum w + z_i^\\top \\partial M_{vk}/\\partial\\theta`;
        refits and re-averaging on replicate designs), as Korn and Graubard
        (1999) define them.

        Parameters
        ----------
        variable : str
            A column of the design's data used in the model.
        values : sequence, optional
            The values to set; by default the categories of a categorical
            variable, or the distinct values of a numeric one (at most 20).
        level : float, default 0.95

        Returns
        -------
        Estimate
            Kind ``"margin"``, indexed by (value, category).

        Examples
        --------
        >>> import innobaro as ib
        >>> from innobaro.datasets import barometer_2020_design
        >>> m = ib.ologit("promoter_leadership ~ C(sector)", barometer_2020_design())
        >>> mg = m.margins("sector", ["education", "social"])
        >>> mg.estimate.groupby(level=0).sum().round(12).tolist()
        [1.0, 1.0]
        """
        data = self.design.data.iloc[self._rows]
        if variable not in data.columns:
            raise EstimationError(f"{variable!r} is not a column of the design's data")
        col = data[variable]
        if values is None:
            if isinstance(col.dtype, pd.CategoricalDtype):
                values = list(col.cat.categories)
            else:
                uniq = pd.unique(col.dropna())
                if len(uniq) > 20:
                    raise EstimationError(f"{variable!r} has {len(uniq)} distinct values; "
                                          f"give the values to set")
                values = sorted(uniq.tolist())
        values = list(values)
        w = self._w
        W = w.sum()
        mats = [self._matrix(_set(data, variable, v)) for v in values]  # over the values
        probs = [self._probs(Xv, self._theta) for Xv in mats]
        est = np.concatenate([(w[:, None] * P).sum(axis=0) / W for P, _ in probs])
        grads = np.concatenate([np.einsum("n,nkj->kj", w, D) / W for _, D in probs])
        n = self.design.n
        fits = np.concatenate([P for P, _ in probs], axis=1)  # (n_fit, V*K)
        z = np.zeros((n, est.size))
        z[self._rows] = w[:, None] * (fits - est) / W
        z = z + self._infl @ grads.T
        rows = self._rows

        def reps(Wr: np.ndarray) -> np.ndarray:
            T = self.refit(Wr)  # (R, m)
            Wf = Wr[rows]
            out = []
            for Xv in mats:  # over the values of the margin
                Pv = _probs_many(self, Xv, T)  # (R, n_fit, K)
                out.append(np.einsum("nr,rnk->rk", Wf, Pv) / Wf.sum(axis=0)[:, None])
            return np.concatenate(out, axis=1)

        domain = np.where(self.design.present, 0, -1).astype(np.int64)
        V = vcov_of(self.design, est, Influence(values=z, domain=domain, n_domains=1), reps)
        index = pd.MultiIndex.from_product([values, self.levels],
                                           names=[variable, self.outcome])
        return Estimate(est, V, index, df=np.full(est.size, self.df_resid), kind="margin",
                        level=level)

    # ------------------------------------------------------------------ proportional odds
    def proportional_odds_test(self, terms: str | Sequence[str] | None = None,
                               method: str = "F") -> TermTest:
        """Design-based Wald test that the slopes are equal across the cumulative splits.

        Fits the binary model :math:`P(Y \\le k) = F(\\zeta_k - x^\\top\\beta_k)`
        for each split :math:`k = 1, \\dots, K-1` (same link, same weights),
        stacks their influence values (or refits every split under each
        replicate weight) to get the joint design-based covariance :math:`V`
        of :math:`(\\hat\\beta_1, \\dots, \\hat\\beta_{K-1})`, and tests
        :math:`C\\beta = 0`, :math:`C` the differences
        :math:`\\beta_k - \\beta_1`: :math:`X^2 = (C\\hat\\beta)^\\top
        (CVC^\\top)^{-1} C\\hat\\beta` on :math:`p(K-2)` degrees of freedom,
        or :math:`F = X^2/\\{p(K-2)\\}` on the residual degrees of freedom.
        This is Brant's (1990) test with the design-based covariance of the
        split fits in place of their model-based (independent sampling)
        covariance.

        Parameters
        ----------
        terms : str or list of str, optional
            Test only these terms' slopes (Brant's per-variable test); all
            slopes by default.
        method : {"F", "chisq"}, default "F"

        Returns
        -------
        TermTest
            Its ``title`` says "proportional odds"; ``splits`` holds the
            slopes of each split fit (a DataFrame, one column per split).

        Examples
        --------
        >>> import innobaro as ib
        >>> from innobaro.datasets import barometer_2020_design
        >>> m = ib.ologit("promoter_leadership ~ np.log(employees)", barometer_2020_design())
        >>> t = m.proportional_odds_test()
        >>> t.df
        (4.0, 1748.0)
        """
        if method not in ("F", "chisq"):
            raise EstimationError("method must be 'F' or 'chisq'")
        p, q = self.p, len(self.levels) - 1
        if p == 0:
            raise EstimationError("the model has no slopes; there is nothing to test")
        if q < 2:
            raise EstimationError("the outcome has two categories: one split, nothing to "
                                  "compare")
        names, idx = (self._term_index(terms) if terms is not None
                      else (list(self._slope_names), np.arange(p)))
        w, X = self._w, self._X
        probs = [_Problem(X, (self._y > k).astype(np.int64), 2, self.link) for k in range(q)]
        est_parts = []
        z_parts = []
        for k, pr in enumerate(probs):  # over the K-1 splits
            th0 = np.concatenate([self._theta[:p], self._theta[p + k:p + k + 1]])[None, :]
            th, ok, _ = pr.newton(th0, w[:, None], 1e-12, 100)
            if not ok[0]:
                raise EstimationError(f"the binary fit of the split at "
                                      f"{self._cut_names[k]!r} did not converge")
            S, _, J = pr.derivatives(th, w[:, None], scores=True)
            zk = np.zeros((self.design.n, p + 1))
            assert S is not None
            zk[self._rows] = (w[:, None] * S[0]) @ np.linalg.inv(J[0])
            est_parts.append(th[0])
            z_parts.append(zk)
        est = np.concatenate(est_parts)
        z = np.concatenate(z_parts, axis=1)
        rows = self._rows

        def reps(Wr: np.ndarray) -> np.ndarray:
            Wf = Wr[rows]
            outs = []
            for pr, e in zip(probs, est_parts, strict=True):  # over the splits
                outs.append(pr.refit(e, Wf, 1e-12, 100))
            return np.concatenate(outs, axis=1)

        domain = np.where(self.design.present, 0, -1).astype(np.int64)
        V = vcov_of(self.design, est, Influence(values=z, domain=domain, n_domains=1), reps)
        m1 = p + 1
        k_idx = idx.size
        C = np.zeros(((q - 1) * k_idx, q * m1))
        for s in range(1, q):  # the rows of the contrast matrix: split s against split 1
            for a, j in enumerate(idx):
                C[(s - 1) * k_idx + a, j] = -1.0
                C[(s - 1) * k_idx + a, s * m1 + j] = 1.0
        ddf = self.df_resid
        test = wald_term_test(names, C @ est, C @ V @ C.T, ddf if ddf > 0 else np.inf, method)
        test.title = f"Design-based Wald test of proportional odds ({test.title})"
        test.splits = pd.DataFrame(  # type: ignore[attr-defined]
            np.column_stack([e[:p] for e in est_parts]),
            index=pd.Index(self._slope_names, name="term"),
            columns=pd.Index([f"{self.levels[k]}|{self.levels[k + 1]}" for k in range(q)],
                             name="split"))
        return test

    def summary(self) -> pd.DataFrame:
        """The coefficients table: estimate, se, t, p-value, interval.

        Returns
        -------
        pandas.DataFrame

        Examples
        --------
        >>> import innobaro as ib
        >>> from innobaro.datasets import barometer_2020_design
        >>> m = ib.ologit("promoter_leadership ~ np.log(employees)", barometer_2020_design())
        >>> m.summary().columns.tolist()
        ['estimate', 'se', 't', 'pvalue', 'lower', 'upper']
        """
        t = self._theta / np.sqrt(np.diag(self._V))
        pv = 2 * stats.t.sf(np.abs(t), self.df_resid) if self.df_resid > 0 \
            else np.full(t.shape, np.nan)
        ci = self.ci()
        return pd.DataFrame({"estimate": self._theta, "se": np.sqrt(np.diag(self._V)),
                             "t": t, "pvalue": pv, "lower": ci["lower"].to_numpy(),
                             "upper": ci["upper"].to_numpy()}, index=self._index)

    def __repr__(self) -> str:
        return (f"Survey ordinal regression ({self.link} link, R's svyolr method "
                f"{_R_METHOD[self.link]!r}): {self.formula}\n"
                f"{self.nobs} rows, categories {self.levels}, df = {self.df_resid:g}\n"
                + self.summary().to_string(float_format=lambda v: f"{v:.6g}"))


def _working(X: np.ndarray, y: np.ndarray, w: np.ndarray, theta: np.ndarray, link: str,
             K: int, rows: np.ndarray, n: int) -> small_sample.Working:
    """The working regression of the fit for ``se="bell-mccaffrey"``: row i
    (category c) has the linear predictors zeta_c - x_i'beta and
    zeta_{c-1} - x_i'beta (those of its likelihood), with derivatives
    (-x_i, e_c) and (-x_i, e_{c-1}), the weighted score w (A, -B) and
    information w [[A^2 - f'(hi)/pi, -AB], [-AB, B^2 + f'(lo)/pi]] (the
    blocks of the information J the fit inverts)."""
    p, q = X.shape[1], K - 1
    zeta = np.concatenate([[-np.inf], theta[p:], [np.inf]])
    eta = X @ theta[:p]
    hi, lo = zeta[y + 1] - eta, zeta[y] - eta
    with np.errstate(invalid="ignore"):
        pr = np.where(hi + lo > 0, _sf(link, lo) - _sf(link, hi), _cdf(link, hi) - _cdf(link, lo))
    fh, dh = _pdf(link, hi)
    fl, dl = _pdf(link, lo)
    with np.errstate(divide="ignore", invalid="ignore"):
        A, B, Dh, Dl = fh / pr, fl / pr, dh / pr, dl / pr
    m = y.size
    U = np.zeros((m, 2, p + q))
    U[:, :, :p] = -X[:, None, :]
    up, down = y < q, y > 0
    U[np.flatnonzero(up), 0, p + y[up]] = 1.0
    U[np.flatnonzero(down), 1, p + y[down] - 1] = 1.0
    W = w[:, None, None] * np.stack([np.stack([A * A - Dh, -A * B], axis=-1),
                                     np.stack([-A * B, B * B + Dl], axis=-1)], axis=-2)
    score = w[:, None] * np.column_stack([A, -B])
    return small_sample.multivariate_working(U, W, score, np.column_stack([up, down]), rows, n)


def _separation(X: np.ndarray, y: np.ndarray, levels: list[Any], names: list[str]) -> str:
    """Words naming the splits of the outcome that a model column separates
    (completely or quasi-completely: every row at or below the split on one
    side of a value, every row above it on the other), for an error message."""
    K, p = len(levels), X.shape[1]
    if p == 0:
        return ": check for a category that a term separates completely"
    lo = np.full((K, p), np.inf)
    hi = np.full((K, p), -np.inf)
    np.minimum.at(lo, y, X)  # per category and column, in one pass over the rows
    np.maximum.at(hi, y, X)
    below_lo = np.minimum.accumulate(lo, axis=0)[:-1]  # rows with y <= k
    below_hi = np.maximum.accumulate(hi, axis=0)[:-1]
    above_lo = np.minimum.accumulate(lo[::-1], axis=0)[::-1][1:]  # rows with y > k
    above_hi = np.maximum.accumulate(hi[::-1], axis=0)[::-1][1:]
    sep = (below_hi < above_lo) | (above_hi < below_lo)  # (K-1, p): complete
    if not sep.any():  # quasi-complete: the two sides meet at one value
        sep = (below_hi <= above_lo) | (above_hi <= below_lo)
    found = [f"{names[j]!r} separates the categories up to {levels[k]!r} from those above"
             for k, j in zip(*np.nonzero(sep), strict=True)]
    if not found:
        return (": check for a category that a combination of terms separates "
                "completely (cross-tables of the outcome and the terms)")
    more = f" (and {len(found) - 3} more)" if len(found) > 3 else ""
    return ": " + "; ".join(found[:3]) + more + " (separation)"


def _model_terms(m: OrdinalResult) -> list[str]:
    return [t for t in m.spec.term_columns if t != "Intercept"]


def _probs_many(model: OrdinalResult, X: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Category probabilities (R, N, K) for parameter rows T (R, m)."""
    p = model.p
    eta = X @ T[:, :p].T  # (N, R)
    arg = T[:, p:][:, None, :] - eta.T[:, :, None]  # (R, N, q)
    cum = _cdf(model.link, arg)
    R, N = T.shape[0], X.shape[0]
    full = np.concatenate([np.zeros((R, N, 1)), cum, np.ones((R, N, 1))], axis=2)
    return np.diff(full, axis=2)


def _refitter(X: np.ndarray, y: np.ndarray, K: int, link: str, rows: np.ndarray,
              theta: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    prob = _Problem(X, y, K, link)

    def refit(W: np.ndarray) -> np.ndarray:
        return prob.refit(theta, W[rows], 1e-12, 100)
    return refit


def _set(data: pd.DataFrame, variable: str, value: Any) -> pd.DataFrame:
    out = data.copy()
    col = data[variable]
    if isinstance(col.dtype, pd.CategoricalDtype):
        if value not in list(col.cat.categories):
            raise EstimationError(f"{value!r} is not a category of {variable!r}")
        out[variable] = pd.Categorical([value] * len(out), categories=col.cat.categories)
    else:
        out[variable] = pd.Series([value] * len(out), index=out.index).astype(col.dtype)
    return out
