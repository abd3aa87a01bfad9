"""Bell-McCaffrey (``se=``) for the ordinal and multinomial models.

No R package corrects these models, so the checks are exact identities
(docs/theory/small-sample.md, "Models with several linear predictors"):

- with two categories ``mlogit`` is ``logit`` and ``ologit`` is ``logit``
  with the cutpoint's sign flipped: coefficients, covariance, influence
  values and degrees of freedom equal ``glm(family="binomial", se=...)``'s
  (itself checked against clubSandwich in test_small_sample.py), on a
  stratified cluster design with fpc and on a domain;
- the working regression reproduces the model's information and influence
  values (its unadjusted CR2 is the linearisation), for every link;
- the batched engine on pseudo-rows agrees with a dense transcription of CR2
  with the working model :math:`\\operatorname{Var}(e_i) = c_i W_i^{-1}` in
  the coordinates of the linear predictors (a loop over clusters);
- CR2 is exactly unbiased under that working model;
- invariance to the order of the rows, the labels of the PSUs and (for
  ``mlogit``) the base category; ``se="linearized"`` changes nothing and
  replicate designs are refused.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import innobaro as ib
from innobaro.errors import EstimationError, UnsupportedDesignError
from innobaro.variance import Influence, linearized_vcov
from innobaro.variance import small_sample as ss

BM = ["bell-mccaffrey", "bell-mccaffrey-2"]
ALL = ["linearized", *BM]


def _data(seed: int = 3, n_clusters: int = 27) -> pd.DataFrame:
    """Clusters of 1 to 11 rows in three strata (with fpc), a cluster effect."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 12, n_clusters)
    cl = np.repeat(np.arange(n_clusters), sizes)
    n = cl.size
    df = pd.DataFrame({"cl": cl, "stratum": cl % 3, "w": rng.uniform(1, 9, n),
                       "x": rng.normal(size=n), "g": rng.integers(0, 3, n),
                       "dom": rng.integers(0, 2, n)})
    df["fpc"] = np.array([40, 50, 60])[df.stratum]
    lin = 0.3 + 0.8 * df.x + 0.7 * rng.normal(size=n_clusters)[cl]
    df["yb"] = (rng.uniform(size=n) < 1 / (1 + np.exp(-lin))).astype(float)
    df["y2"] = pd.Categorical(np.where(df.yb > 0, "hi", "lo"), categories=["lo", "hi"],
                              ordered=True)
    # four ordered categories (cumulative logit) and three nominal ones
    cuts = np.array([-1.0, 0.2, 1.3])
    df["y4"] = pd.Categorical((lin.to_numpy()[:, None] + rng.logistic(size=(n, 1))
                               > cuts).sum(axis=1), categories=[0, 1, 2, 3], ordered=True)
    eta = np.c_[np.zeros(n), lin, -0.2 - 0.5 * df.x + 0.4 * df.g]
    p = np.exp(eta) / np.exp(eta).sum(axis=1, keepdims=True)
    u = rng.uniform(size=n)[:, None]
    df["y3"] = pd.Categorical(np.array(["a", "b", "c"])[(u > p.cumsum(axis=1)).sum(axis=1)])
    return df


def _design(df: pd.DataFrame) -> ib.Design:
    return ib.Design(df, psu="cl", weights="w", strata="stratum", fpc="fpc")


def _designs() -> dict[str, ib.SurveyDesign]:
    df = _data()
    d = _design(df)
    return {"full": d, "domain": d.subset(df.dom == 1)}


def _close(got, want, rtol: float = 1e-8) -> None:
    got, want = np.asarray(got, float), np.asarray(want, float)
    np.testing.assert_allclose(got, want, rtol=0, atol=rtol * np.abs(want).max())


def _glm_bm(g, design: ib.SurveyDesign, se: str) -> np.ndarray:
    """glm's adjusted influence values, from its own working regression."""
    f = g._fit
    wk = ss.glm_working(f.X, f.y, f.w, f.family, f.beta, None, f.rows, design.n)
    return ss.adjust(design, wk, se).values


# --------------------------------------------------------------------------
# two categories: the logistic regression
# --------------------------------------------------------------------------
@pytest.mark.parametrize("where", ["full", "domain"])
@pytest.mark.parametrize("se", ALL)
def test_two_categories_are_the_logistic_regression(se: str, where: str) -> None:
    design = _designs()[where]
    g = ib.glm("yb ~ x + C(g)", design, family="binomial", se=se)
    z_glm = g.influence if se == "linearized" else _glm_bm(g, design, se)
    ml = ib.mlogit("y2 ~ x + C(g)", design, se=se)
    _close(ml.estimate, g.params)
    _close(ml.vcov, g.vcov)
    _close(ml.influence, z_glm)
    assert ml.df_resid == pytest.approx(g.df_resid, rel=1e-8)
    # ologit: theta = (slopes, cutpoint), the glm's (intercept, slopes) with
    # the intercept minus the cutpoint
    ol = ib.ologit("y2 ~ x + C(g)", design, se=se)
    T = np.zeros((4, 4))
    T[0, 3] = -1.0
    T[1:, :3] = np.eye(3)
    _close(T @ ol.estimate.to_numpy(), g.params)
    _close(T @ ol.vcov.to_numpy() @ T.T, g.vcov)
    _close(ol.influence @ T.T, z_glm)
    assert ol.df_resid == pytest.approx(g.df_resid, rel=1e-8)
    if se != "linearized":  # the correction does something here
        assert not np.allclose(ml.vcov, ib.mlogit("y2 ~ x + C(g)", design).vcov, rtol=1e-4)


# --------------------------------------------------------------------------
# the working regression is the model's
# --------------------------------------------------------------------------
def _working(model, design, kind: str) -> ss.Working:
    """The model's working regression, rebuilt from the result."""
    from innobaro import multinomial, ordinal
    if kind == "ologit":
        return ordinal._working(model._X, model._y, model._w, model._theta, model.link,
                                len(model.levels), model.fit_rows, design.n)
    f = model._fit
    P = multinomial._probs(f.X @ f.theta.T)
    return multinomial._working(f.X, f.Y, model._w, P, f.rows, design.n)


@pytest.mark.parametrize("link", ["logit", "probit", "cloglog", "loglog"])
def test_ordinal_working_regression_reproduces_the_influence_values(link: str) -> None:
    design = _designs()["domain"]
    lin = ib.ologit("y4 ~ x + C(g)", design, link=link)
    bm = ib.ologit("y4 ~ x + C(g)", design, link=link, se="bell-mccaffrey")
    _close(bm.estimate, lin.estimate, 1e-14)
    adj = ss.adjust(design, _working(bm, design, "ologit"), "bell-mccaffrey")
    _close(adj.raw, lin.influence, 1e-9)  # unadjusted: the model's own
    _close(bm.influence, adj.values, 1e-12)  # adjusted: what the result holds
    _close(bm.vcov, linearized_vcov(design, Influence(
        values=bm.influence, domain=np.where(design.present, 0, -1), n_domains=1)), 1e-12)
    assert bm.df_resid == pytest.approx(float(adj.df.min()), rel=1e-12)
    assert bm.wald_test("x").df[1] == bm.df_resid


def test_multinomial_working_regression_reproduces_the_influence_values() -> None:
    design = _designs()["domain"]
    lin = ib.mlogit("y3 ~ x + C(g)", design)
    bm = ib.mlogit("y3 ~ x + C(g)", design, se="bell-mccaffrey-2")
    adj = ss.adjust(design, _working(bm, design, "mlogit"), "bell-mccaffrey-2")
    _close(adj.raw, lin.influence, 1e-9)
    _close(bm.influence, adj.values, 1e-12)
    assert bm.df_resid == pytest.approx(float(adj.df.min()), rel=1e-12)


# --------------------------------------------------------------------------
# a dense transcription in the coordinates of the linear predictors
# --------------------------------------------------------------------------
def _dense_cr2(U, W, s, used, rows, cluster, n):
    """CR2 with the working model Var(e_i) = c_i W_i^{-1}, c_i = det(W_i)^(1/r_i),
    on the residuals e_i = W_i^{-1} s_i of the regression on U_i with weights
    W_i: A_g = Phi_g^{1/2} B_g^{-1/2} Phi_g^{-1/2}, B_g = Phi_g^{-1/2}
    [(I - H) Phi (I - H)']_gg Phi_g^{-1/2}, H = U M U' W; one loop over rows
    to stack the pseudo-rows and one over clusters, n-by-n matrices. Returns
    the influence values by row and the Satterthwaite df (V = Phi)."""
    blocks_U, blocks_W, blocks_e, blocks_phi, owner = [], [], [], [], []
    for i in range(U.shape[0]):  # over rows (the reference is a transcription)
        k = np.flatnonzero(used[i])
        Wi = W[i][np.ix_(k, k)]
        ci = np.linalg.det(Wi) ** (1 / k.size)
        blocks_U.append(U[i][k])
        blocks_W.append(Wi)
        blocks_e.append(np.linalg.solve(Wi, s[i][k]))
        blocks_phi.append(ci * np.linalg.inv(Wi))
        owner += [i] * k.size
    from scipy.linalg import block_diag, sqrtm
    Ud = np.vstack(blocks_U)
    Wd = block_diag(*blocks_W)
    Phi = block_diag(*blocks_phi)
    e = np.concatenate(blocks_e)
    owner = np.asarray(owner)
    N = e.size
    M = np.linalg.inv(Ud.T @ Wd @ Ud)
    IH = np.eye(N) - Ud @ M @ Ud.T @ Wd
    G = IH @ Phi @ IH.T
    cl = cluster[rows[owner]]
    et = e.copy()
    gammas = []
    for g in np.unique(cl):  # the reference loops over clusters
        i = np.flatnonzero(cl == g)
        root = np.real(sqrtm(Phi[np.ix_(i, i)]))
        iroot = np.linalg.inv(root)
        Bg = iroot @ G[np.ix_(i, i)] @ iroot
        vals, vecs = np.linalg.eigh(Bg)
        Ag = root @ (vecs / np.sqrt(vals)) @ vecs.T @ iroot
        # the defining property: A_g [(I-H) Phi (I-H)']_gg A_g' = Phi_gg
        np.testing.assert_allclose(Ag @ G[np.ix_(i, i)] @ Ag.T, Phi[np.ix_(i, i)],
                                   atol=1e-9 * np.abs(Phi[np.ix_(i, i)]).max())
        et[i] = Ag @ e[i]
        gammas.append(IH[i].T @ Ag.T @ Wd[np.ix_(i, i)] @ Ud[i] @ M)
    z_ps = (Wd @ Ud * et[:, None]) @ M
    z = np.zeros((n, U.shape[2]))
    np.add.at(z, rows[owner], z_ps)
    df = []
    for j in range(U.shape[2]):
        Gj = np.stack([gm[:, j] for gm in gammas], axis=1)
        lam = np.linalg.eigvalsh(Gj.T @ Phi @ Gj)
        df.append(lam.sum() ** 2 / (lam ** 2).sum())
    return z, np.array(df)


def _ologit_parts(m) -> tuple[np.ndarray, ...]:
    """U, W, s, used of an ordinal fit, in the linear predictors' coordinates
    (zeta_c - x'beta, zeta_{c-1} - x'beta), from finite differences-free
    closed forms of the logistic link."""
    X, y, w, th = m._X, m._y, m._w, m._theta
    p, q = X.shape[1], len(m.levels) - 1
    zeta = np.r_[-np.inf, th[p:], np.inf]
    hi, lo = zeta[y + 1] - X @ th[:p], zeta[y] - X @ th[:p]
    F = 1 / (1 + np.exp(-np.r_[hi, lo]))
    Fh, Fl = F[:y.size], F[y.size:]
    pi = Fh - Fl
    fh, fl = Fh * (1 - Fh), Fl * (1 - Fl)
    dh, dl = fh * (1 - 2 * Fh), fl * (1 - 2 * Fl)
    A, B = fh / pi, fl / pi
    n = y.size
    U = np.zeros((n, 2, p + q))
    U[:, :, :p] = -X[:, None, :]
    for i in range(n):  # the reference builds each row's derivatives in a loop
        if y[i] < q:
            U[i, 0, p + y[i]] = 1.0
        if y[i] > 0:
            U[i, 1, p + y[i] - 1] = 1.0
    W = np.empty((n, 2, 2))
    W[:, 0, 0] = A * A - dh / pi
    W[:, 1, 1] = B * B + dl / pi
    W[:, 0, 1] = W[:, 1, 0] = -A * B
    W *= w[:, None, None]
    s = w[:, None] * np.c_[A, -B]
    return U, W, s, np.c_[y < q, y > 0]


@pytest.mark.parametrize("where", ["full", "domain"])
def test_ordinal_agrees_with_dense_cr2(where: str) -> None:
    design = _designs()[where]
    m = ib.ologit("y4 ~ x + C(g)", design, se="bell-mccaffrey")
    U, W, s, used = _ologit_parts(m)
    z, df = _dense_cr2(U, W, s, used, m.fit_rows, design.stages[0].unit, design.n)
    _close(m.influence, z, 1e-9)
    adj = ss.adjust(design, _working(m, design, "ologit"), "bell-mccaffrey")
    _close(adj.df.ravel(), df, 1e-9)
    assert m.df_resid == pytest.approx(df.min(), rel=1e-9)


def test_multinomial_agrees_with_dense_cr2() -> None:
    design = _designs()["full"]
    m = ib.mlogit("y3 ~ x + C(g)", design, se="bell-mccaffrey")
    f = m._fit
    X, Y, w = f.X, f.Y, m._w
    eta = X @ f.theta.T
    P = np.exp(eta) / (1 + np.exp(eta).sum(axis=1, keepdims=True))
    k, p = f.theta.shape
    U = np.einsum("ab,nj->nabj", np.eye(k), X).reshape(-1, k, k * p)
    W = w[:, None, None] * (np.einsum("na,ab->nab", P, np.eye(k))
                            - P[:, :, None] * P[:, None, :])
    s = w[:, None] * (Y - P)
    z, df = _dense_cr2(U, W, s, np.ones((X.shape[0], k), bool), f.rows,
                       design.stages[0].unit, design.n)
    _close(m.influence, z, 1e-9)
    assert m.df_resid == pytest.approx(df.min(), rel=1e-9)


# --------------------------------------------------------------------------
# properties
# --------------------------------------------------------------------------
def test_cr2_is_unbiased_under_the_working_model() -> None:
    """E[sum_g z_g z_g'] = M (sum_i c_i U_i' W_i U_i) M when Var(e*) = I on the
    whitened pseudo-rows: the expectation of a quadratic form in (I - H*) y
    is the sum over the columns of I - H*; several rows share a PSU."""
    design = _designs()["full"]
    m = ib.ologit("y4 ~ x + C(g)", design)
    wk = _working(m, design, "ologit")
    Us, UWs = wk.U[:, 0], wk.UW[:, 0]
    N = Us.shape[0]
    M = np.linalg.inv(UWs.T @ Us)
    IH = np.eye(N) - Us @ M @ UWs.T
    cols = ss.Working(U=np.broadcast_to(wk.U, (N, N, Us.shape[1])).copy(),
                      UW=np.broadcast_to(wk.UW, (N, N, Us.shape[1])).copy(), resid=IH,
                      block=wk.block, n_blocks=1, row=wk.row, n_rows=wk.n_rows)
    V = ss.cr2_vcov(ss.adjust(design, cols, "bell-mccaffrey"))
    q = Us.shape[1]
    expected = sum(V[q * k:q * k + q, q * k:q * k + q] for k in range(N))
    np.testing.assert_allclose(expected, M @ UWs.T @ UWs @ M, rtol=1e-8)


@pytest.mark.parametrize("se", BM)
@pytest.mark.parametrize("kind", ["ologit", "mlogit"])
def test_invariant_to_row_order_and_psu_labels(kind: str, se: str) -> None:
    df = _data()
    fit = {"ologit": lambda d: ib.ologit("y4 ~ x + C(g)", d, se=se),
           "mlogit": lambda d: ib.mlogit("y3 ~ x + C(g)", d, se=se)}[kind]
    base = fit(_design(df))
    rng = np.random.default_rng(11)
    perm = rng.permutation(len(df))
    labels = rng.permutation(200)[:df.cl.max() + 1] * 7 + 1000
    other = df.iloc[perm].assign(cl=lambda x: labels[x.cl].astype(str))
    moved = fit(_design(other))
    _close(moved.estimate, base.estimate, 1e-9)
    _close(moved.vcov, base.vcov, 1e-9)
    _close(moved.influence, base.influence[perm], 1e-9)
    assert moved.df_resid == pytest.approx(base.df_resid, rel=1e-9)


def test_multinomial_does_not_depend_on_the_base() -> None:
    """Another base is a linear map of the coefficients; the corrected
    covariance and influence values follow it exactly (the working model
    c_i W_i^{-1} is covariant)."""
    design = _designs()["full"]
    for se in ALL:
        m1 = ib.mlogit("y3 ~ x + C(g)", design, se=se)
        m2 = ib.mlogit("y3 ~ x + C(g)", design, base="b", se=se)
        p = 4  # columns of the model matrix
        eye, zero = np.eye(p), np.zeros((p, p))
        T = np.block([[-eye, zero], [-eye, eye]])  # (b, c) vs a -> (a, c) vs b
        _close(T @ m1.estimate.to_numpy(), m2.estimate, 1e-9)
        _close(T @ m1.vcov.to_numpy() @ T.T, m2.vcov, 1e-9)
        _close(m1.influence @ T.T, m2.influence, 1e-9)


def test_margins_and_predictions_use_the_correction() -> None:
    design = _designs()["full"]
    ml = ib.mlogit("y2 ~ x + C(g)", design, se="bell-mccaffrey")
    ol = ib.ologit("y2 ~ x + C(g)", design, se="bell-mccaffrey")
    lin = ib.mlogit("y2 ~ x + C(g)", design)
    a, b = ml.margins("g"), ol.margins("g")  # (category, g) and (g, category)
    order = [2 * g + c for c in range(2) for g in range(3)]
    _close(a.estimate.to_numpy(), b.estimate.to_numpy()[order], 1e-9)
    _close(a.vcov.to_numpy(), b.vcov.to_numpy()[np.ix_(order, order)], 1e-9)
    assert not np.allclose(a.vcov, lin.margins("g").vcov, rtol=1e-4)
    new = pd.DataFrame({"x": [0.0, 1.0], "g": [0, 2]})
    _close(ml.predict(new, se=True)["se"].to_numpy().ravel(),
           ol.predict(new, se=True)["se"].to_numpy(), 1e-9)
    assert not np.allclose(ml.predict(new, se=True)["se"], lin.predict(new, se=True)["se"],
                           rtol=1e-4)


def test_small_chunks_give_the_same_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    design = _designs()["domain"]
    want = ib.mlogit("y3 ~ x + C(g)", design, se="bell-mccaffrey-2")
    monkeypatch.setattr(ss, "_CHUNK", 50)
    got = ib.mlogit("y3 ~ x + C(g)", design, se="bell-mccaffrey-2")
    _close(got.vcov, want.vcov, 1e-12)
    assert got.df_resid == pytest.approx(want.df_resid, rel=1e-12)


def test_linearized_is_unchanged_and_replicates_are_refused() -> None:
    df = _data()
    d = _design(df)
    for fit in (lambda **k: ib.ologit("y4 ~ x", d, **k),
                lambda **k: ib.mlogit("y3 ~ x", d, **k)):
        a, b = fit(), fit(se="linearized")
        assert np.array_equal(a.vcov, b.vcov) and a.df_resid == b.df_resid
        assert np.array_equal(a.influence, b.influence)
        with pytest.raises(EstimationError, match="se must be one of"):
            fit(se="CR2")
    rep = ib.Design(df, psu="cl", weights="w").replicate("jk1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(UnsupportedDesignError, match="linearisation design"):
            ib.ologit("y4 ~ x", rep, se="bell-mccaffrey")
        with pytest.raises(UnsupportedDesignError, match="linearisation design"):
            ib.mlogit("y3 ~ x", rep, se="Bell-McCaffrey-2")
