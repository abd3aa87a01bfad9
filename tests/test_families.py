"""Every GLM family and link against R's ``svyglm``, and their bad input.

Numbers from ``tests/reference/make_families.R`` (``tests/reference/families.json``):
each family and link (binomial with probit, cloglog, cauchit and log links;
quasibinomial; quasipoisson and poisson with identity and sqrt links; Gamma,
inverse Gaussian and gaussian with their links; ``quasi`` with a variance
function; the negative binomial with a given theta; an offset) on apistrat's
stratified and apiclus1's cluster design, and most on a jackknife replicate
design built from them. R's fits are polished to IRLS's fixed point (the script
says how), so coefficients, standard errors, covariances, deviances, the
dispersion, predictions, Wald tests and predictive margins are compared at
1e-8 relative. Two quantities are compared at 1e-7, with the reason at the
comparison: the margins' standard errors (svypredmeans refits its model
without the polish) and the p-values (they are tails of the F statistic).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from _harness import _data, build_design, close, load

import innobaro as ib
from innobaro.irls import FAMILIES, Family

META = load("families")
CASES = [c for c in META["cases"] if c.get("result")]
RTOL = 1e-8
ARGS = ("family", "link", "variance", "theta")


def fit(case: dict, **extra) -> ib.GLMResult:
    model = case["model"]
    kwargs = {k: model[k] for k in ARGS if model.get(k) is not None}
    kwargs.update(extra)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ib.InnobaroWarning)
        return ib.glm(model["formula"], build_design(case), **kwargs)


def order(m: ib.GLMResult, case: dict) -> np.ndarray:
    names = list(m.params.index)
    theirs = case["result"]["patsy_names"]
    assert sorted(names) == sorted(theirs), (names, theirs)
    return np.array([names.index(n) for n in theirs])


def test_every_family_and_link_has_a_case() -> None:
    covered = {(c["model"]["family"], c["model"].get("link")) for c in CASES}
    for fam in FAMILIES:
        assert any(f == fam for f, _ in covered), fam
    binomial_links = {lk for f, lk in covered if f == "binomial"}
    assert binomial_links == {"probit", "cloglog", "cauchit", "log"}
    assert any(c["design"].get("replicate") for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_against_r(case: dict) -> None:
    m = fit(case)
    res = case["result"]
    o = order(m, case)
    assert m.family == case["model"]["family"]
    assert m.link == res["r_link"]
    close("params", m.params.to_numpy()[o], np.array(res["params"]), rtol=RTOL)
    close("bse", m.bse.to_numpy()[o], np.array(res["bse"]), rtol=RTOL)
    V = np.array(res["vcov"])
    scale = np.sqrt(np.outer(np.diag(V), np.diag(V)))
    diff = np.abs(m.vcov.to_numpy()[np.ix_(o, o)] - V) / scale
    assert diff.max() < RTOL, f"vcov: {diff.max():.3g}"
    assert m.df_resid == res["df_resid"]
    close("deviance", m.deviance, res["deviance"], rtol=RTOL)
    close("null_deviance", m.null_deviance, res["null_deviance"], rtol=RTOL)
    close("dispersion", m.dispersion, res["dispersion"], rtol=RTOL)


PREDICT = [c for c in CASES if c["result"].get("predict")]


def _newdata(case: dict) -> pd.DataFrame:
    pred = case["result"]["predict"]
    data = _data(case["data"])
    return pd.DataFrame(pred["newdata"]).astype({c: data[c].dtype
                                                 for c in pred["newdata"]})


@pytest.mark.parametrize("case", PREDICT, ids=[c["id"] for c in PREDICT])
def test_predict(case: dict) -> None:
    m = fit(case)
    pred = case["result"]["predict"]
    newdata = _newdata(case)
    for kind in ("link", "response"):
        ours = m.predict(newdata, type=kind, se=True)
        close(f"{kind} fit", ours["fit"].to_numpy(), np.array(pred[kind]["fit"]), rtol=RTOL)
        close(f"{kind} se", ours["se"].to_numpy(), np.array(pred[kind]["se"]), rtol=RTOL)
    close("offset", m.offset_for(newdata), np.array(pred["offset"]), rtol=RTOL)


WALD = [c for c in CASES if c["result"].get("wald")]


@pytest.mark.parametrize("case", WALD, ids=[c["id"] for c in WALD])
def test_wald(case: dict) -> None:
    m = fit(case)
    w = case["result"]["wald"]
    t = m.wald_test(w["terms"])
    close("F", t.statistic, w["F"], rtol=RTOL)
    assert t.df == (w["df"], w["ddf"])
    # a tail probability: its relative error is the statistic's times F's
    # density ratio, up to ~10x RTOL for the smallest p-values here
    close("p", t.pvalue, w["p"], rtol=10 * RTOL)
    if w.get("lrt"):
        lrt = m.wald_test(w["terms"], method="lrt")
        close("LRT deviance difference", lrt.statistic, w["lrt"]["chisq"], rtol=RTOL)
        close("LRT lambda", lrt.lambdas, np.array(w["lrt"]["lambda"]), rtol=RTOL)


MARGINS = [c for c in CASES if c["result"].get("predictive_margins")]


@pytest.mark.parametrize("case", MARGINS, ids=[c["id"] for c in MARGINS])
def test_predictive_margins(case: dict) -> None:
    m = fit(case)
    pm = case["result"]["predictive_margins"]
    values = sorted(m.design.data[pm["variable"]].unique())
    assert [str(v) for v in values] == pm["labels"]
    r_style = ib.predictive_margins(m, pm["variable"], values, method="svypredmeans")
    # svypredmeans refits the model itself, without the script's polish: its
    # coefficients are off by up to ~1e-9 relative, which its margins and
    # standard errors carry; compared at 1e-7
    close("margin", r_style.table["estimate"].to_numpy(), np.array(pm["margin"]), rtol=1e-7)
    close("se", r_style.table["se"].to_numpy(), np.array(pm["se"]), rtol=1e-7)


def test_statsmodels_family_objects_give_the_same_fit() -> None:
    sm = pytest.importorskip("statsmodels.api")
    links = sm.families.links
    pairs = [("binomial", "probit", sm.families.Binomial(link=links.Probit())),
             ("binomial", "cloglog", sm.families.Binomial(link=links.CLogLog())),
             ("Gamma", "log", sm.families.Gamma(link=links.Log())),
             ("inverse.gaussian", None, sm.families.InverseGaussian()),
             ("negative.binomial", None, sm.families.NegativeBinomial(alpha=0.5))]
    for name, link, family in pairs:
        case = next(c for c in CASES if c["model"]["family"] == name
                    and c["model"].get("link") == link and "jk" not in c["id"])
        ours = fit(case)
        model = case["model"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ib.InnobaroWarning)
            theirs = ib.glm(model["formula"], build_design(case), family=family)
        assert (theirs.family, theirs.link) == (ours.family, ours.link)
        if name == "negative.binomial":
            assert theirs.family_functions.theta == 2.0
        np.testing.assert_array_equal(theirs.params.to_numpy(), ours.params.to_numpy())


def test_offset_argument_and_formula_offset_agree() -> None:
    case = next(c for c in CASES if c["id"] == "apistrat_poisson_offset")
    data = _data(case["data"])
    by_formula = fit(case)
    d = build_design(case)
    formula = "Q('api.stu') ~ ell + stype"
    by_column = ib.glm(formula, d, family="quasipoisson",
                       offset=np.log(data["enroll"]).to_numpy())
    np.testing.assert_allclose(by_column.params, by_formula.params, rtol=1e-12)
    np.testing.assert_allclose(by_column.bse, by_formula.bse, rtol=1e-10)
    # new data needs the offset given when it was given as values
    new = _newdata(case)
    with pytest.raises(ib.EstimationError, match="offset="):
        by_column.predict(new)
    np.testing.assert_allclose(
        by_column.predict(new, offset=np.log(new["enroll"]).to_numpy()),
        by_formula.predict(new), rtol=1e-10)
    # the fitted values include the offset: they add up to the weighted
    # response (the score equation of the intercept, canonical link)
    mu = by_formula.predict()
    w = by_formula.fit_weights
    y = data["api.stu"].to_numpy()[by_formula.fit_rows]
    np.testing.assert_allclose(np.sum(w * mu), np.sum(w * y), rtol=1e-10)


def test_offset_as_a_column_name_and_missing_offsets() -> None:
    rng = np.random.default_rng(3)
    n = 60
    df = pd.DataFrame({"psu": np.arange(n), "w": rng.uniform(1, 3, n),
                       "x": rng.normal(size=n), "exposure": rng.uniform(1, 5, n)})
    df["y"] = rng.poisson(df["exposure"] * np.exp(0.3 * df["x"]))
    df["log_exposure"] = np.log(df["exposure"])
    d = ib.Design(df, weights="w", psu="psu")
    a = ib.glm("y ~ x", d, family="poisson", offset="log_exposure")
    b = ib.glm("y ~ x + offset(np.log(exposure))", d, family="poisson")
    np.testing.assert_allclose(a.params, b.params, rtol=1e-12)
    np.testing.assert_allclose(a.predict(df.head(3)), b.predict(df.head(3)), rtol=1e-12)
    df2 = df.assign(exposure=df["exposure"].where(df.index != 5))
    c = ib.glm("y ~ x + offset(np.log(exposure))", ib.Design(df2, weights="w", psu="psu"),
               family="poisson")
    assert c.n_dropped == 1 and c.spec.missing == {"offset(np.log(exposure))": 1}
    copy = df.copy()
    ib.glm("y ~ x", d, family="poisson", offset="log_exposure")
    pd.testing.assert_frame_equal(df, copy)  # the user's data are left alone


def test_log_binomial_without_valid_start_is_a_named_error() -> None:
    case = next(c for c in META["cases"] if c["id"] == "apistrat_binomial_log_invalid")
    assert "no valid set of coefficients" in case["r_error"]
    with pytest.raises(ib.EstimationError,
                       match=r"binomial family with log link: no valid set of coefficients"):
        fit(case)


def test_step_halving_warns_naming_family_and_link() -> None:
    # a log-binomial fit from starting coefficients whose first step leaves
    # (0, 1): the step is halved, as R's glm.fit does, with a named warning
    rng = np.random.default_rng(11)
    n = 200
    x = rng.uniform(0, 1, n)
    df = pd.DataFrame({"psu": np.arange(n), "x": x,
                       "y": (rng.random(n) < 0.1 + 0.85 * x).astype(float)})
    d = ib.Design(df, psu="psu")
    # from R's starting means the first step is invalid: a named error, as in R
    with pytest.raises(ib.EstimationError, match="binomial family with log link: no valid"):
        ib.glm("y ~ x", d, family="binomial", link="log")
    with pytest.warns(ib.InnobaroWarning, match=r"binomial family with log link.*halved"):
        m = ib.glm("y ~ x", d, family="binomial", link="log", start=[-2.0, 0.0])
    assert (m.predict() < 1).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ib.InnobaroWarning)
        direct = ib.glm("y ~ x", d, family="binomial", link="log", start=[-1.0, 0.5])
    np.testing.assert_allclose(m.params, direct.params, rtol=1e-10)
    np.testing.assert_allclose(m.bse, direct.bse, rtol=1e-8)


def test_quasi_families_are_their_families_with_r_names() -> None:
    case = next(c for c in CASES if c["id"] == "apistrat_quasibinomial")
    q = fit(case)
    b = fit(case, family="binomial")
    assert (q.family, b.family) == ("quasibinomial", "binomial")
    np.testing.assert_array_equal(q.params, b.params)
    np.testing.assert_array_equal(q.bse, b.bse)
    assert q.dispersion == b.dispersion
    assert q.odds_ratios().shape == (5, 3) and 0 < q.pseudo_r2() < 1
    assert "quasibinomial GLM" in repr(q.summary())


def test_unknown_family_and_link_list_the_accepted_names() -> None:
    df = pd.DataFrame({"psu": range(8), "x": np.arange(8.0), "y": np.arange(1.0, 9.0)})
    d = ib.Design(df, psu="psu")
    with pytest.raises(ib.EstimationError, match=r"unknown family 'gama'.*'Gamma'.*"
                                                 r"'negative.binomial'.*'quasi'"):
        ib.glm("y ~ x", d, family="gama")
    with pytest.raises(ib.EstimationError, match=r"unknown link 'logt' for the binomial "
                                                 r"family; its links are 'logit', 'probit'"):
        ib.glm("y ~ x", d, family="binomial", link="logt")
    with pytest.raises(ib.EstimationError, match="'probit' is a link, not a family"):
        ib.glm("y ~ x", d, family="probit")
    with pytest.raises(ib.EstimationError, match="needs theta > 0"):
        ib.glm("y ~ x", d, family="negative.binomial")
    with pytest.raises(ib.EstimationError, match=r"theta is for family='negative\.binomial'"):
        ib.glm("y ~ x", d, family="poisson", theta=2)
    with pytest.raises(ib.EstimationError, match=r"unknown variance 'mu\^4'"):
        ib.glm("y ~ x", d, family="quasi", variance="mu^4")
    with pytest.raises(ib.EstimationError, match="needs family='quasi'"):
        ib.glm("y ~ x", d, family="poisson", variance="mu^2")
    with pytest.raises(ib.EstimationError, match="Gamma response must be positive"):
        ib.glm("y ~ x", ib.Design(df.assign(y=df["y"] - 1), psu="psu"), family="Gamma")
    with pytest.raises(ib.EstimationError, match=r"gaussian family with log link.*start="):
        ib.glm("y ~ x", ib.Design(df.assign(y=df["y"] - 1), psu="psu"), link="log")
    with pytest.raises(ib.EstimationError, match="start must hold 2 finite numbers"):
        ib.glm("y ~ x", d, start=[1.0])
    with pytest.raises(ib.EstimationError, match="offset has 3 values; the data have 8"):
        ib.glm("y ~ x", d, offset=[1.0, 2.0, 3.0])
    with pytest.raises(ib.EstimationError, match="offset column 'nope' is not in the data"):
        ib.glm("y ~ x", d, offset="nope")
    assert ib.glm("y ~ x", d, family="gamma").family == "Gamma"  # R's spelling, any case


@pytest.mark.parametrize("link", ["identity", "log", "logit", "probit", "cauchit", "cloglog",
                                  "inverse", "1/mu^2", "sqrt"])
def test_link_functions(link: str) -> None:
    fam = Family("quasi", link)
    eta = {"inverse": np.linspace(0.5, 3, 11), "1/mu^2": np.linspace(0.5, 3, 11),
           "sqrt": np.linspace(0.5, 3, 11)}.get(link, np.linspace(-3, 2, 11))
    mu = fam.inverse_link(eta)
    np.testing.assert_allclose(fam.link(mu), eta, rtol=1e-12, atol=1e-12)
    h = 1e-6
    d1 = (fam.inverse_link(eta + h) - fam.inverse_link(eta - h)) / (2 * h)
    np.testing.assert_allclose(fam.dmu_deta(eta, mu), d1, rtol=1e-7, atol=1e-12)
    d2 = (fam.dmu_deta(eta + h, fam.inverse_link(eta + h))
          - fam.dmu_deta(eta - h, fam.inverse_link(eta - h))) / (2 * h)
    np.testing.assert_allclose(fam.d2mu_deta2(mu), d2, rtol=1e-6, atol=1e-9)


def test_average_marginal_effect_with_a_non_canonical_link() -> None:
    # the AME of a probit model equals the weighted mean of the derivative of
    # the predictions, which the complex step and a difference both give
    case = next(c for c in CASES if c["id"] == "apistrat_binomial_probit")
    m = fit(case)
    data = m.design.data.iloc[m.fit_rows]
    h = 1e-6
    up = m.predict(data.assign(ell=data["ell"] + h))
    down = m.predict(data.assign(ell=data["ell"] - h))
    w = m.fit_weights
    expected = np.sum(w * (up - down) / (2 * h)) / w.sum()
    np.testing.assert_allclose(m.average_marginal_effect("ell").estimate.iloc[0], expected,
                               rtol=1e-7)


def test_margins_of_a_model_with_an_offset() -> None:
    # a predictive margin is the weighted mean of the predictions (offset
    # included) with the variable set to each value, for every row of the fit
    case = next(c for c in CASES if c["id"] == "apistrat_poisson_offset")
    m = fit(case)
    data = m.design.data.iloc[m.fit_rows]
    w = m.fit_weights
    margins = m.margins("stype")
    for level, est in zip(margins.table.index, margins.table["estimate"], strict=True):
        at = data.assign(stype=pd.Categorical([level] * len(data),
                                              categories=sorted(data["stype"].unique())))
        np.testing.assert_allclose(est, np.sum(w * m.predict(at)) / w.sum(), rtol=1e-12)
    # on the replicate design too (refits with the offset)
    rep = fit(next(c for c in CASES if c["id"] == "apistrat_poisson_offset_jkn"))
    np.testing.assert_allclose(rep.margins("stype").table["estimate"],
                               margins.table["estimate"], rtol=1e-12)
    assert (rep.margins("stype").table["se"] > 0).all()


def test_null_deviance_without_intercept_is_at_the_offset() -> None:
    # R's glm.fit: without an intercept the null model's mean is linkinv(offset)
    # (0 for the gaussian family without offset): sum(w y^2) on R's weights
    rng = np.random.default_rng(4)
    df = pd.DataFrame({"psu": range(30), "w": rng.uniform(1, 2, 30),
                       "x": rng.normal(size=30), "y": rng.normal(2, 1, 30)})
    m = ib.glm("y ~ 0 + x", ib.Design(df, weights="w", psu="psu"))
    wr = df["w"] / df["w"].mean()
    np.testing.assert_allclose(m.null_deviance, np.sum(wr * df["y"] ** 2), rtol=1e-12)


def test_average_marginal_effect_through_an_offset() -> None:
    # y ~ x + offset(np.log(x)) with a log link: mu = x exp(b0 + b1 x), so the
    # AME of x includes the offset's derivative 1/x; checked against the
    # derivative of the predictions
    rng = np.random.default_rng(8)
    n = 80
    df = pd.DataFrame({"psu": np.arange(n), "w": rng.uniform(1, 3, n),
                       "x": rng.uniform(1, 4, n)})
    df["y"] = rng.poisson(df["x"] * np.exp(0.2 * df["x"]))
    m = ib.glm("y ~ x + offset(np.log(x))", ib.Design(df, weights="w", psu="psu"),
               family="poisson")
    h = 1e-6
    slope = (m.predict(df.assign(x=df["x"] + h)) - m.predict(df.assign(x=df["x"] - h))) / (2 * h)
    expected = np.sum(df["w"] * slope) / df["w"].sum()
    np.testing.assert_allclose(m.average_marginal_effect("x").estimate.iloc[0], expected,
                               rtol=1e-7)
