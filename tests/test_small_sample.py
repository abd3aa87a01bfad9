"""Bell-McCaffrey (CR2) standard errors and Satterthwaite degrees of freedom.

References: clubSandwich's ``vcovCR(type = "CR2")`` and
``coef_test(test = "Satterthwaite")`` (tests/reference/make_small_sample.R,
to 1e-8); survey 4.5's own test of ``svyglm(std.errors = "Bell-McCaffrey")``
at the precision of its snapshot; a dense transcription of survey's
``scale_bell_mcaffrey`` (n-by-n matrices, a loop over clusters) for the
batched engine, with weights, domains, several outcomes and the exchangeable
working model; and properties of the stratified and multistage form
(docs/theory/small-sample.md).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import patsy
import pytest
from scipy import stats

import innobaro as ib
from innobaro.errors import EstimationError, InnobaroError
from innobaro.models import make_family
from innobaro.variance.small_sample import (
    Working,
    adjust,
    check_se,
    cr2_vcov,
    glm_working,
)

REF = Path(__file__).parent / "reference"
CASES = json.loads((REF / "small_sample.json").read_text())["cases"]

# innobaro's spelling of each case's model (R's formula -> patsy), and how R's
# coefficient names map to innobaro's
FORMULAS = {
    "api00 ~ api99 + stype": "api00 ~ api99 + C(stype)",
    "api00 ~ api99 + ell": "api00 ~ api99 + ell",
    "y ~ x": "y ~ x",
    "yb ~ x": "yb ~ x",
    "I(sch.wide == 'Yes') ~ ell": "I((sch_wide == 'Yes') * 1.0) ~ ell",
}


def _data(name: str) -> pd.DataFrame:
    df = pd.read_csv(REF / "data" / f"{name}.csv")
    return df.rename(columns={"sch.wide": "sch_wide"})


def _design(case: dict, df: pd.DataFrame) -> ib.Design:
    d = case["design"]
    return ib.Design(df, psu=d["psu"], weights=d["weights"], strata=d.get("strata"))


def _r_name(name: str) -> str:
    name = name.replace("Intercept", "(Intercept)")
    if name.startswith("C(") and "[T." in name:
        var = name[2:name.index(")")]
        return var + name[name.index("[T.") + 3:-1]
    return name


def _check(got: np.ndarray, want: np.ndarray, rtol: float = 1e-8) -> None:
    got, want = np.asarray(got, float), np.asarray(want, float)
    scale = np.abs(want).max()
    np.testing.assert_allclose(got, want, rtol=0, atol=rtol * scale)


MODEL_CASES = [k for k, c in CASES.items() if c["what"] == "glm"]


@pytest.mark.parametrize("name", MODEL_CASES)
def test_models_agree_with_clubsandwich_cr2(name: str) -> None:
    case = CASES[name]
    df = _data(case["data"])
    design = _design(case, df)
    formula = FORMULAS[case["formula"]]
    family = case["family"]
    fit = ib.glm(formula, design, family=family, se="bell-mccaffrey")
    names = list(fit.params.index)
    order = [case["names"].index(_r_name(n)) for n in names]
    want_V = np.asarray(case["vcov"], float).reshape(len(names), len(names))[
        np.ix_(order, order)]
    want_df = np.atleast_1d(case["df"])[order]
    # the engine's CR2 sum, on the model's working regression
    y, X = patsy.dmatrices(formula, df, return_type="dataframe")
    assert list(X.columns) == names
    working = glm_working(X.to_numpy(), y.to_numpy()[:, 0], df[case["weights"]].to_numpy(),
                          make_family(family), fit.params.to_numpy(), None,
                          np.arange(len(df)), len(df))
    adj = adjust(design, working, "bell-mccaffrey")
    _check(cr2_vcov(adj), want_V, 1e-8 if family == "gaussian" else 1e-6)
    _check(adj.df.ravel(), want_df, 1e-8 if family == "gaussian" else 1e-6)
    # the model's residual df is the smallest (R's df.residual with degf=TRUE)
    assert fit.df_resid == pytest.approx(want_df.min(), rel=1e-8 if family == "gaussian"
                                         else 1e-6)


ESTIMATOR_CASES = [k for k, c in CASES.items() if c["what"] != "glm"]


@pytest.mark.parametrize("name", ESTIMATOR_CASES)
def test_estimators_agree_with_clubsandwich_cr2(name: str) -> None:
    case = CASES[name]
    df = _data(case["data"])
    design = _design(case, df)
    y = case["formula"].split(" ~ ")[0]
    w = df[case["design"]["weights"]].to_numpy()
    n = len(df)
    if case["what"] == "ratio":
        # clubSandwich's lm(y ~ 0 + x, weights = w / x): working variance 1
        est = ib.ratio(design, y, "x", se="bell-mccaffrey")
        x = df["x"].to_numpy()
        r = float(est.estimate.iloc[0])
        U, UW, e, block, B = x, w, df[y].to_numpy() - r * x, np.zeros(n, int), 1
        # ib.ratio's working variance is x (the ratio model): the same regression
        # rescaled by sqrt(x)
        ratio_working = Working(U=np.sqrt(x).reshape(n, 1, 1), UW=(w * np.sqrt(x)).reshape(n, 1, 1),
                                resid=(e / np.sqrt(x)).reshape(n, 1), block=block, n_blocks=1)
        ratio_adj = adjust(design, ratio_working, "bell-mccaffrey")
        np.testing.assert_allclose(est.df_values, ratio_adj.df.ravel(), rtol=1e-12)
    elif case["what"] == "mean":
        est = ib.mean(design, y, se="bell-mccaffrey")
        U, UW, e = np.ones(n), w, df[y].to_numpy() - float(est.estimate.iloc[0])
        block, B = np.zeros(n, int), 1
    else:
        by = case["what"].split("_by_")[1]
        est = ib.mean(design, y, by=by, se="bell-mccaffrey")
        codes, levels = pd.factorize(df[by], sort=True)
        U, UW, block, B = np.ones(n), w, codes, len(levels)
        e = df[y].to_numpy() - est.estimate.to_numpy()[codes]
    if case["what"] != "ratio":  # the public estimator's degrees of freedom are clubSandwich's
        _check(est.df_values, np.atleast_1d(case["df"]))
    working = Working(U=U.reshape(n, 1, 1), UW=UW.reshape(n, 1, 1), resid=e.reshape(n, 1),
                      block=block, n_blocks=B)
    adj = adjust(design, working, "bell-mccaffrey")
    _check(cr2_vcov(adj), np.asarray(case["vcov"], float).reshape(B, B))
    # and its variance is the design's linearisation of the adjusted influence
    # values (one stratum, no fpc: n/(n-1) times their centred sum of squares)
    used = ratio_adj if case["what"] == "ratio" else adj
    tot = pd.DataFrame(used.values).groupby(
        (df[case["design"]["psu"]].astype(str) + "|" + pd.Series(block).astype(str)).to_numpy()
    ).sum()
    if B == 1:
        g = len(tot)
        dev = tot.to_numpy() - tot.to_numpy().mean(axis=0)
        _check(est.vcov.to_numpy(), g / (g - 1) * dev.T @ dev, 1e-10)


# --------------------------------------------------------------------------
# survey 4.5's test-bell_mccaffrey.R, at the precision of its snapshot
# (cran/survey tests/testthat/_snaps/bell_mccaffrey.md): svyglm(api00 ~ api99 +
# stype, design = dclus1, std.errors = ...) on apiclus1 with fpc
# --------------------------------------------------------------------------
SNAPSHOT = {
    "se": [18.02030, 0.02734, 5.43114, 6.07011],
    "t": [5.541, 33.039, -3.570, -2.991],
    "p_bm": [0.00218, 2.39e-07, 0.01452, 0.02824],  # degf = TRUE
    "p_bm2": [0.00989, 3.8e-05, 0.03412, 0.05386],
    "degf": [6.308131, 7.061340, 5.304156, 8.979698],  # attr(confint(.), "degf")
}


def _dclus1() -> ib.Design:
    return ib.Design(_data("apiclus1"), psu="dnum", weights="pw", fpc="fpc")


def _table(fit) -> pd.DataFrame:
    """Estimate, se, t and p on the model's residual df (R's summary.svyglm)."""
    out = fit.to_frame()[["estimate", "se"]].copy()
    out["t"] = out.estimate / out.se
    out["pvalue"] = 2 * stats.t.sf(np.abs(out.t), fit.df_resid)
    return out


def _in_r_order(values: pd.Series) -> np.ndarray:
    # innobaro: Intercept, C(stype)[T.H], C(stype)[T.M], api99; R: (Intercept), api99, H, M
    return values.to_numpy()[[0, 3, 1, 2]]


def test_survey_snapshot_bell_mccaffrey() -> None:
    fit = ib.glm("api00 ~ api99 + C(stype)", _dclus1(), se="bell-mccaffrey")
    table = _table(fit)
    np.testing.assert_allclose(_in_r_order(table["se"]), SNAPSHOT["se"], rtol=6e-6)
    np.testing.assert_allclose(_in_r_order(table["t"]), SNAPSHOT["t"], atol=6e-4)
    np.testing.assert_allclose(_in_r_order(table["pvalue"]), SNAPSHOT["p_bm"], rtol=3e-3)
    linear = ib.glm("api00 ~ api99 + C(stype)", _dclus1())
    assert (table["se"] > linear.to_frame()["se"]).all()  # survey's first expectation
    assert fit.df_resid < linear.df_resid
    y, X = patsy.dmatrices("api00 ~ api99 + C(stype)", _data("apiclus1"),
                           return_type="dataframe")
    df = _data("apiclus1")
    working = glm_working(X.to_numpy(), y.to_numpy()[:, 0], df["pw"].to_numpy(),
                          make_family("gaussian"), fit.params.to_numpy(), None,
                          np.arange(len(df)), len(df))
    degf = adjust(_dclus1(), working, "bell-mccaffrey").df.ravel()[[0, 3, 1, 2]]
    np.testing.assert_allclose(degf, SNAPSHOT["degf"], atol=6e-7)


def test_survey_snapshot_bell_mccaffrey_2() -> None:
    fit = ib.glm("api00 ~ api99 + C(stype)", _dclus1(), se="bell-mccaffrey-2")
    table = _table(fit)
    # the same standard errors as "bell-mccaffrey", other degrees of freedom
    np.testing.assert_allclose(_in_r_order(table["se"]), SNAPSHOT["se"], rtol=6e-6)
    np.testing.assert_allclose(_in_r_order(table["pvalue"]), SNAPSHOT["p_bm2"], rtol=3e-3)


# --------------------------------------------------------------------------
# the batched engine against a dense transcription of survey's algorithm
# --------------------------------------------------------------------------
def _dense(U, UW, e, cluster, exchangeable):
    """survey's scale_bell_mcaffrey with a weighted hat matrix, one block."""
    n, p = U.shape
    M = np.linalg.inv(UW.T @ U)
    H = U @ M @ UW.T
    IH = np.eye(n) - H
    G = IH @ IH.T
    et = e.copy()
    gs = []
    ids = np.unique(cluster)
    for g in ids:  # the reference implementation loops over clusters
        i = np.flatnonzero(cluster == g)
        vals, vecs = np.linalg.eigh(G[np.ix_(i, i)])
        f = np.where(vals > 1e-10, 1 / np.sqrt(np.maximum(vals, 1e-300)), 0.0)
        A = (vecs * f) @ vecs.T
        et[i] = A @ e[i]
        gs.append(IH[i].T @ A @ UW[i] @ M)  # (n, p): gamma_g for each coefficient
    V = np.eye(n)
    if exchangeable:
        sigma2 = np.mean(et ** 2)
        same = cluster[:, None] == cluster[None, :]
        tot = pd.Series(et).groupby(cluster).sum().to_numpy()
        sizes = pd.Series(et).groupby(cluster).size().to_numpy()
        rho = (np.sum(tot ** 2) - np.sum(et ** 2)) / (np.sum(sizes ** 2) - n)
        V = np.where(same, rho, 0.0)
        np.fill_diagonal(V, sigma2)
    df = []
    for j in range(p):
        Gj = np.stack([g[:, j] for g in gs], axis=1)
        lam = np.linalg.eigvalsh(Gj.T @ V @ Gj)
        df.append(lam.sum() ** 2 / (lam ** 2).sum())
    z = (UW * et[:, None]) @ M
    return et, z, np.array(df)


def _random_design(seed: int, n_clusters: int = 9) -> tuple[pd.DataFrame, ib.Design]:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 9, n_clusters)
    cl = np.repeat(np.arange(n_clusters), sizes)
    n = cl.size
    df = pd.DataFrame({"cl": cl, "stratum": cl % 2, "w": rng.uniform(1, 9, n),
                       "x": rng.uniform(1, 4, n), "d": rng.integers(0, 2, n)})
    df["y"] = 1 + df.x + rng.normal(size=n_clusters)[cl] + rng.normal(size=n)
    df["y2"] = rng.normal(size=n) ** 2
    return df, ib.Design(df, psu="cl", weights="w", strata="stratum")


@pytest.mark.parametrize("se", ["bell-mccaffrey", "bell-mccaffrey-2"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_engine_matches_dense_algorithm(seed: int, se: str) -> None:
    df, design = _random_design(seed)
    n = len(df)
    U = np.c_[np.ones(n), df.x]
    UW = U * df.w.to_numpy()[:, None]
    e = df.y.to_numpy() - U @ np.linalg.lstsq(UW.T @ U, UW.T @ df.y.to_numpy(), rcond=None)[0]
    working = Working(U=U[:, None], UW=UW[:, None], resid=e[:, None],
                      block=np.zeros(n, int), n_blocks=1)
    adj = adjust(design, working, se)
    et, z, df_dense = _dense(U, UW, e, df.cl.to_numpy(), se.endswith("-2"))
    np.testing.assert_allclose(adj.resid[:, 0], et, rtol=1e-9, atol=1e-9 * np.abs(et).max())
    np.testing.assert_allclose(adj.values, z, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(adj.df.ravel(), df_dense, rtol=1e-9)


@pytest.mark.parametrize("se", ["bell-mccaffrey", "bell-mccaffrey-2"])
def test_domains_and_outcomes_are_separate_regressions(se: str) -> None:
    """mean(by=) of two variables = each domain's and variable's own regression."""
    df, design = _random_design(7, n_clusters=12)
    est = ib.mean(design, ["y", "y2"], by="d", se=se)
    for d in (0, 1):
        sub = df[df.d == d]
        for k, var in enumerate(["y", "y2"]):
            m = float(est.estimate.loc[(d, var)])
            _, _, df_dense = _dense(np.ones((len(sub), 1)), sub.w.to_numpy()[:, None],
                                    sub[var].to_numpy() - m, sub.cl.to_numpy(),
                                    se.endswith("-2"))
            assert est.df_values[2 * d + k] == pytest.approx(df_dense[0], rel=1e-9)


# --------------------------------------------------------------------------
# properties of the design-based form (docs/theory/small-sample.md)
# --------------------------------------------------------------------------
def test_cr2_is_unbiased_under_the_working_model() -> None:
    """E[sum_g z_g z_g'] = M U'W W U M when Var(y) = I, exactly: the expectation
    of a quadratic form in e = (I - H) y is the sum over the columns of I - H."""
    df, design = _random_design(11, n_clusters=10)
    n = len(df)
    U = np.c_[np.ones(n), df.x]
    UW = U * df.w.to_numpy()[:, None]
    M = np.linalg.inv(UW.T @ U)
    IH = np.eye(n) - U @ M @ UW.T
    c = n  # one working regression per column of I - H, sharing U and clusters
    working = Working(U=np.broadcast_to(U[:, None], (n, c, 2)).copy(),
                      UW=np.broadcast_to(UW[:, None], (n, c, 2)).copy(), resid=IH,
                      block=np.zeros(n, int), n_blocks=1)
    V = cr2_vcov(adjust(design, working, "bell-mccaffrey"))
    expected = sum(V[2 * k:2 * k + 2, 2 * k:2 * k + 2] for k in range(c))
    truth = M @ UW.T @ UW @ M
    np.testing.assert_allclose(expected, truth, rtol=1e-9)
    # the uncorrected sandwich is biased downwards (this is what CR2 repairs)
    raw = np.zeros((2, 2))
    for k in range(c):
        zk = (UW * IH[:, k][:, None]) @ M
        tot = pd.DataFrame(zk).groupby(df.cl.to_numpy()).sum().to_numpy()
        raw += tot.T @ tot
    assert np.all(np.diag(raw) < np.diag(truth))


@pytest.mark.parametrize("se", ["bell-mccaffrey", "bell-mccaffrey-2"])
def test_invariances(se: str) -> None:
    df, design = _random_design(5, n_clusters=11)
    base = ib.ratio(design, "y", "x", by="d", se=se)
    # scaling the weights
    df2 = df.assign(w=df.w * 37.5)
    scaled = ib.ratio(ib.Design(df2, psu="cl", weights="w", strata="stratum"), "y", "x",
                      by="d", se=se)
    np.testing.assert_allclose(scaled.se, base.se, rtol=1e-10)
    np.testing.assert_allclose(scaled.df_values, base.df_values, rtol=1e-10)
    # permuting the rows
    perm = np.random.default_rng(0).permutation(len(df))
    df3 = df.iloc[perm].reset_index(drop=True)
    permuted = ib.ratio(ib.Design(df3, psu="cl", weights="w", strata="stratum"), "y", "x",
                        by="d", se=se)
    np.testing.assert_allclose(permuted.se, base.se, rtol=1e-10)
    np.testing.assert_allclose(permuted.df_values, base.df_values, rtol=1e-10)
    # relabelling the clusters
    df4 = df.assign(cl=df.cl * 7 + 100)
    relabelled = ib.ratio(ib.Design(df4, psu="cl", weights="w", strata="stratum"), "y", "x",
                          by="d", se=se)
    np.testing.assert_allclose(relabelled.se, base.se, rtol=1e-10)
    # the Bell-McCaffrey standard errors are larger than the linearised ones here
    assert (base.se > ib.ratio(design, "y", "x", by="d").se).all()


def test_one_row_clusters_give_the_linearised_variance_inflated_by_leverage() -> None:
    """With one row per PSU and a mean, A_g = (1 - h_g)^(-1/2) (HC2)."""
    df, _ = _random_design(3, n_clusters=15)
    df = df.assign(cl=np.arange(len(df)))
    design = ib.Design(df, psu="cl", weights="w")
    est = ib.mean(design, "y", se="bell-mccaffrey")
    w = df.w.to_numpy()
    W = w.sum()
    # H = 1 w'/W: G_gg = 1 - 2 w_g/W + sum(w^2)/W^2
    G = 1 - 2 * w / W + (w ** 2).sum() / W ** 2
    z = w * (df.y.to_numpy() - est.estimate.iloc[0]) / W / np.sqrt(G)
    n = len(df)
    np.testing.assert_allclose(est.vcov.to_numpy()[0, 0],
                               n / (n - 1) * ((z - z.mean()) ** 2).sum(), rtol=1e-10)


def test_total_is_unchanged_and_stratified_multistage_runs() -> None:
    df, design = _random_design(4)
    a = ib.total(design, "y", by="d", se="bell-mccaffrey")
    b = ib.total(design, "y", by="d")
    np.testing.assert_allclose(a.se, b.se)
    np.testing.assert_allclose(a.df_values, b.df_values)
    two_stage = ib.Design(df.assign(ssu=np.arange(len(df)) // 2), psu=["cl", "ssu"],
                          weights="w", strata="stratum")
    est = ib.mean(two_stage, "y", se="bell-mccaffrey")
    one_stage = ib.mean(design, "y", se="bell-mccaffrey")
    # without fpc only the first stage counts: the same as the one-stage design
    np.testing.assert_allclose(est.se, one_stage.se, rtol=1e-12)
    assert np.isfinite(est.df_values).all()


@pytest.mark.parametrize("method", ["logit", "likelihood", "asin", "beta", "mean", "xlogit",
                                    "wilson"])
def test_every_proportion_interval_takes_the_corrected_variance_and_df(method: str) -> None:
    df, design = _random_design(8, n_clusters=12)
    df = df.assign(b=(df.y > df.y.median()).astype(int))
    design = ib.Design(df, psu="cl", weights="w", strata="stratum")
    lin = ib.proportion(design, "b", method=method)
    bm = ib.proportion(design, "b", method=method, se="bell-mccaffrey")
    assert bm.se.iloc[0] > lin.se.iloc[0]
    assert bm.df_values[0] < lin.df_values[0]
    lo_l, hi_l = lin.ci().to_numpy()[0]
    lo_b, hi_b = bm.ci().to_numpy()[0]
    assert hi_b - lo_b > hi_l - lo_l
    mean = ib.mean(design, "b", se="bell-mccaffrey")
    np.testing.assert_allclose(bm.se, mean.se)
    np.testing.assert_allclose(bm.df_values, mean.df_values)


def test_bad_input_and_replicate_designs() -> None:
    df, design = _random_design(2)
    with pytest.raises(EstimationError, match="se must be one of"):
        ib.mean(design, "y", se="CR2")
    with pytest.raises(EstimationError, match="se must be one of"):
        ib.glm("y ~ x", design, se="sandwich")
    assert check_se("Bell-McCaffrey") == "bell-mccaffrey"
    assert check_se("linearised") == "linearized"
    rep = ib.Design(df, psu="cl", weights="w").replicate("jk1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(InnobaroError, match="linearisation design"):
            ib.mean(rep, "y", se="bell-mccaffrey")
        with pytest.raises(InnobaroError, match="linearisation design"):
            ib.glm("y ~ x", rep, se="bell-mccaffrey")


def test_user_data_unchanged() -> None:
    df, design = _random_design(6)
    before = df.copy()
    ib.mean(design, "y", by="d", se="bell-mccaffrey-2")
    ib.glm("y ~ x", design, se="bell-mccaffrey")
    pd.testing.assert_frame_equal(df, before)


# --------------------------------------------------------------------------
# a corrected model's influence values carry the correction to what is built
# on them: predictive margins, contrasts, term tests
# --------------------------------------------------------------------------
def _logit_case(seed: int) -> tuple[pd.DataFrame, ib.Design]:
    df, _ = _random_design(seed, n_clusters=14)
    df = df.assign(b=(df.y > df.y.median()).astype(int))
    return df, ib.Design(df, psu="cl", weights="w", strata="stratum")


@pytest.mark.parametrize("se", ["bell-mccaffrey", "bell-mccaffrey-2"])
def test_model_influence_is_the_adjusted_one_and_margins_use_it(se: str) -> None:
    df, design = _logit_case(11)
    fit = ib.glm("b ~ x + C(d)", design, family="binomial", se=se)
    X = patsy.dmatrix("x + C(d)", df, return_type="matrix")
    beta = fit.params.to_numpy()
    working = glm_working(np.asarray(X), df.b.to_numpy(float), df.w.to_numpy(),
                          make_family("binomial"), beta, None, np.arange(len(df)), len(df))
    adjusted = adjust(design, working, se).values
    np.testing.assert_allclose(fit.influence, adjusted, rtol=1e-10, atol=1e-14)
    # the design's linearisation variance of these values is the model's covariance
    z = pd.DataFrame(fit.influence, columns=["z0", "z1", "z2"])
    zdesign = ib.Design(df.assign(one=1.0, **z), psu="cl", weights="one", strata="stratum")
    totals = ib.total(zdesign, ["z0", "z1", "z2"])
    np.testing.assert_allclose(totals.vcov.to_numpy(), fit.vcov.to_numpy(), rtol=1e-9)
    # predictive margins of d: average prediction with d set to each level,
    # influence = w (mu - m)/W + z_beta' g, g = sum w mu(1-mu) x / W
    m = fit.margins("d")
    w = df.w.to_numpy()
    sd = []
    for level in (0, 1):
        Xk = np.asarray(X).copy()
        Xk[:, X.design_info.column_names.index("C(d)[T.1]")] = level
        mu = 1 / (1 + np.exp(-Xk @ beta))
        est = (w * mu).sum() / w.sum()
        g = (w * mu * (1 - mu))[:, None] * Xk
        zk = w * (mu - est) / w.sum() + fit.influence @ (g.sum(axis=0) / w.sum())
        zdesign = ib.Design(df.assign(one=1.0, zk=zk), psu="cl", weights="one",
                            strata="stratum")
        sd.append(float(ib.total(zdesign, "zk").se.iloc[0]))
        assert float(m.estimate.iloc[level]) == pytest.approx(est, rel=1e-10)
    np.testing.assert_allclose(m.se.to_numpy(), sd, rtol=1e-8)
    assert m.df == fit.df_resid
    # and they are not the linearised ones
    lin = ib.glm("b ~ x + C(d)", design, family="binomial").margins("d")
    assert not np.allclose(lin.se.to_numpy(), m.se.to_numpy(), rtol=1e-6)


@pytest.mark.parametrize("se", ["bell-mccaffrey", "bell-mccaffrey-2"])
@pytest.mark.parametrize("sizes", [(1, 8), (1, 2), (3, 12)])
def test_row_space_and_p_space_give_the_same_adjustment(se: str, sizes: tuple,
                                                        monkeypatch) -> None:
    """A_g formed in the cluster's rows (small clusters) = in the 2p-space of L_g."""
    from innobaro.variance import small_sample

    rng = np.random.default_rng(sum(sizes))
    cl = np.repeat(np.arange(30), rng.integers(*sizes, 30))
    n = cl.size
    df = pd.DataFrame({"cl": cl, "stratum": cl % 3, "w": rng.uniform(1, 5, n),
                       "x": rng.normal(size=n), "d": rng.integers(0, 2, n)})
    df["y"] = (df.x + rng.normal(size=30)[cl] + rng.normal(size=n) > 0).astype(int)
    design = ib.Design(df, psu="cl", weights="w", strata="stratum")

    df["k"] = np.digitize(df.x + rng.normal(size=n), [-0.5, 0.5])
    design = ib.Design(df, psu="cl", weights="w", strata="stratum")

    def run():
        fit = ib.glm("y ~ x + C(d)", design, family="binomial", se=se)
        est = ib.mean(design, "x", by="d", se=se)
        ordinal = ib.ologit("k ~ x + C(d)", design, se=se)
        multi = ib.mlogit("k ~ x", design, se=se)
        return (fit.vcov.to_numpy(), fit.df_resid, est.vcov.to_numpy(), est.df_values,
                ordinal.vcov.to_numpy(), ordinal.df_resid, multi.vcov.to_numpy(),
                multi.df_resid)

    monkeypatch.setattr(small_sample, "_row_space_limit", lambda p: 10**9)
    rows = run()
    monkeypatch.setattr(small_sample, "_row_space_limit", lambda p: 0)
    p_space = run()
    for got, want in zip(rows, p_space, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-9)


@pytest.mark.parametrize("se", ["bell-mccaffrey", "bell-mccaffrey-2"])
def test_comparisons_flags_and_fay_herriot_take_the_corrected_variance(se: str) -> None:
    """compare, flagged_shares and fay_herriot pass se= to the domain estimates:
    a difference is referred to the smaller Satterthwaite df of its two means."""
    from innobaro.flags import flagged_shares

    _, design = _logit_case(5)
    est = ib.mean(design, "b", by="d", se=se)
    out = ib.compare(design, "b", by="d", se=se).iloc[0]
    c = ib.contrast(est, {(1, "b"): 1.0, (0, "b"): -1.0})
    assert out["estimate"] == pytest.approx(c.estimate.iloc[0], rel=1e-12)
    assert out["se"] == pytest.approx(c.se.iloc[0], rel=1e-12)
    assert out["df"] == pytest.approx(min(est.df_values), rel=1e-12)
    assert out["lower"] == pytest.approx(c.ci()["lower"].iloc[0], rel=1e-12)
    lin = ib.compare(design, "b", by="d").iloc[0]
    assert lin["df"] == design.df
    shares = flagged_shares(design, "b", "d", se=se)
    prop = ib.proportion(design, "b", by="d", method="beta", se=se)
    np.testing.assert_allclose(shares["se"], prop.se, rtol=1e-12)
    np.testing.assert_allclose(shares["df"], prop.df_values, rtol=1e-12)
    np.testing.assert_allclose(shares["lower"], prop.ci()["lower"], rtol=1e-12)
    fh = ib.fay_herriot(design, "y", ["stratum", "d"], se=se, formula="~ 1")
    direct = ib.mean(design, "y", by=["stratum", "d"], se=se)
    np.testing.assert_allclose(fh.areas["direct_var"].to_numpy(),
                               direct.se.to_numpy() ** 2, rtol=1e-12)


@pytest.mark.parametrize("se", ["bell-mccaffrey", "bell-mccaffrey-2"])
def test_model_intervals_take_each_coefficients_df_and_tests_the_smallest(se: str) -> None:
    """R 4.5: confint.svyglm uses df.coef (each coefficient's Satterthwaite df),
    summary.svyglm's p-values df.residual (their minimum)."""
    df, design = _logit_case(11)
    fit = ib.glm("b ~ x + C(d)", design, family="binomial", se=se)
    X = patsy.dmatrix("x + C(d)", df, return_type="matrix")
    working = glm_working(np.asarray(X), df.b.to_numpy(float), df.w.to_numpy(),
                          make_family("binomial"), fit.params.to_numpy(), None,
                          np.arange(len(df)), len(df))
    nu = adjust(design, working, se).df.ravel()
    np.testing.assert_allclose(fit.df_coef.to_numpy(), nu, rtol=1e-12)
    assert fit.df_resid == pytest.approx(nu.min(), rel=1e-12)
    t = stats.t.ppf(0.975, nu)
    np.testing.assert_allclose(fit.conf_int()["lower"].to_numpy(),
                               fit.params.to_numpy() - t * fit.bse.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(fit.odds_ratios()["upper"].to_numpy(),
                               np.exp(fit.params.to_numpy() + t * fit.bse.to_numpy()),
                               rtol=1e-10)
    p = 2 * stats.t.sf(np.abs(fit.tvalues.to_numpy()), nu.min())
    np.testing.assert_allclose(fit.pvalues.to_numpy(), p, rtol=1e-10)
    assert ib.glm("b ~ x + C(d)", design, family="binomial").df_coef is None
