"""Survey GLMs against R's ``svyglm`` and friends.

Numbers from ``tests/reference/make_glm.R`` (``tests/reference/glm.json``),
fitted in R with ``glm.control(epsilon=1e-14, maxit=100)``; innobaro
converges to a relative coefficient change of 1e-12. Compared at rtol 1e-7
(the issue's tolerance for models), aligned on patsy's coefficient names:

- ``params``, ``bse``, ``vcov``, ``df_resid``, ``conf_int``, ``deviance``,
  ``null_deviance``, ``dispersion``, naive (model-based) covariance;
- ``regTermTest`` Wald F and chi-square, the Rao-Scott working LRT and the
  working Wald test (statistic, p-value solved to full precision, design
  effects);
- ``predict(type="link"|"response", se.fit=TRUE)``;
- ``svypredmeans`` (``method="svypredmeans"``) and the full linearisation of
  the predictive margins (innobaro's default);
- ``psrsq`` (Cox-Snell, Nagelkerke), ``AIC.svyglm`` (dAIC), odds ratios.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from _harness import _data, apply_subset, build_design, close, load

import innobaro as ib

META = load("glm")
CASES = [c for c in META["cases"] if c.get("result")]
RTOL = 1e-7


def fit(case: dict) -> ib.GLMResult:
    model = case["model"]
    design = apply_subset(build_design(case), model.get("subset"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ib.InnobaroWarning)
        return ib.glm(model["formula"], design, family=model["family"])


def order(m: ib.GLMResult, case: dict) -> np.ndarray:
    names = list(m.params.index)
    theirs = case["result"]["patsy_names"]
    assert sorted(names) == sorted(theirs), (names, theirs)
    return np.array([names.index(n) for n in theirs])


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_coefficients(case: dict) -> None:
    m = fit(case)
    res = case["result"]
    o = order(m, case)
    close("params", m.params.to_numpy()[o], np.array(res["params"]), rtol=RTOL,
          atol=1e-12 * np.max(np.abs(res["params"])))
    close("bse", m.bse.to_numpy()[o], np.array(res["bse"]), rtol=RTOL)
    # R's covariances carry its IRLS's last step: glm.fit returns the QR and
    # working weights of the iteration before the final coefficients, about
    # 1e-7 relative off at epsilon 1e-14 (the deviance converges quadratically
    # faster than the coefficients). Standard errors, with half that error,
    # are compared at 1e-7; covariance matrices at 1e-6 of the scale.
    V = np.array(res["vcov"])
    ours = m.vcov.to_numpy()[np.ix_(o, o)]
    scale = np.sqrt(np.outer(np.diag(V), np.diag(V)))
    np.testing.assert_array_less(np.abs(ours - V), 1e-6 * scale, err_msg="vcov")
    assert m.df_resid == res["df_resid"]
    # interval ends inherit R's standard errors' last-step error (see above),
    # times the t quantile: compared at 1e-7 of the interval's half-width scale
    ci = m.conf_int().to_numpy()[o]
    half = np.array(res["bse"])[:, None]
    np.testing.assert_array_less(np.abs(ci - np.array(res["conf_int"])), 1e-6 * half + 0 * ci,
                                 err_msg="conf_int")
    close("deviance", m.deviance, res["deviance"], rtol=RTOL)
    close("null_deviance", m.null_deviance, res["null_deviance"], rtol=RTOL)
    # summary.svyglm's dispersion (svyvar of the Pearson residuals; for
    # replicate designs the corrected value the script records)
    close("dispersion", m.dispersion, res["dispersion"], rtol=RTOL)
    if res.get("naive_vcov") is not None:
        V0 = np.array(res["naive_vcov"])
        scale0 = np.sqrt(np.outer(np.diag(V0), np.diag(V0)))
        np.testing.assert_array_less(np.abs(m.naive_cov[np.ix_(o, o)] - V0), 1e-6 * scale0,
                                     err_msg="naive_vcov")


BAROMETER = [c for c in CASES if c["result"].get("term_tests")]


@pytest.mark.parametrize("case", BAROMETER, ids=[c["id"] for c in BAROMETER])
def test_term_tests(case: dict) -> None:
    m = fit(case)
    for t in case["result"]["term_tests"]:
        df = np.inf if t.get("df_arg") == "Inf" else None
        method = {"Wald": "F" if df is None else "chisq", "LRT": "lrt",
                  "WorkingWald": "working_wald"}[t["method"]]
        res = m.wald_test(t["terms"], method=method, df=df)
        expected = t["F"] if method == "F" else t["chisq"]
        close(f"{t['id']} statistic", res.statistic, expected, rtol=RTOL)
        close(f"{t['id']} p", res.p_value, t.get("p_tight", t["p"]), rtol=RTOL)
        assert res.df_num == t["df"]
        if t.get("lambda") is not None:
            close(f"{t['id']} lambda", res.lambdas, np.array(t["lambda"]), rtol=RTOL)


@pytest.mark.parametrize("case", [c for c in BAROMETER if c["result"].get("predict")],
                         ids=lambda c: c["id"])
def test_predict(case: dict) -> None:
    m = fit(case)
    pred = case["result"]["predict"]
    data = _data(case["data"])
    newdata = pd.DataFrame(pred["newdata"]).astype({c: data[c].dtype
                                                    for c in pred["newdata"]})
    for kind in ("link", "response"):
        ours = m.predict(newdata, type=kind, se=True)
        close(f"{kind} fit", ours["fit"].to_numpy(), np.array(pred[kind]["fit"]), rtol=RTOL)
        close(f"{kind} se", ours["se"].to_numpy(), np.array(pred[kind]["se"]), rtol=RTOL)


@pytest.mark.parametrize("case", [c for c in BAROMETER
                                  if c["result"].get("predictive_margins")],
                         ids=lambda c: c["id"])
def test_predictive_margins(case: dict) -> None:
    m = fit(case)
    pm = case["result"]["predictive_margins"]
    variable = pm["r_factor"]
    values = sorted(m.design.data[variable].unique())
    assert [str(v) for v in values] == pm["labels"]
    r_style = m.margins(variable) if False else ib.predictive_margins(
        m, variable, values, method="svypredmeans")
    close("margin", r_style.table["estimate"].to_numpy(), np.array(pm["margin"]), rtol=RTOL)
    close("se (svypredmeans)", r_style.table["se"].to_numpy(), np.array(pm["se"]), rtol=RTOL)
    full = m.margins(variable, values)
    close("se (linearised)", full.table["se"].to_numpy(), np.array(pm["se_linearized"]),
          rtol=RTOL)
    close("vcov (linearised)", full.vcov.to_numpy(), np.array(pm["vcov_linearized"]),
          rtol=RTOL, atol=1e-12)


@pytest.mark.parametrize("case", [c for c in BAROMETER if c["result"].get("psrsq")],
                         ids=lambda c: c["id"])
def test_fit_statistics(case: dict) -> None:
    m = fit(case)
    res = case["result"]
    close("Cox-Snell", m.pseudo_r2("Cox-Snell"), res["psrsq"]["cox_snell"], rtol=RTOL)
    close("Nagelkerke", m.pseudo_r2("Nagelkerke"), res["psrsq"]["nagelkerke"], rtol=RTOL)
    if res.get("daic"):
        aic = m.aic()
        for key, ours in (("eff_p", "eff_p"), ("AIC", "AIC"), ("deltabar", "deltabar")):
            close(key, aic[ours], res["daic"][key], rtol=RTOL)
    if res.get("odds_ratios"):
        o = order(m, case)
        ors = m.odds_ratios().to_numpy()[o]
        for j, key in enumerate(("estimate", "lower", "upper")):
            close(f"odds ratio {key}", ors[:, j], np.array(res["odds_ratios"][key]), rtol=RTOL)


def test_unweighted_srs_matches_statsmodels() -> None:
    """An unweighted simple random sample gives statsmodels' GLM coefficients."""
    import statsmodels.api as sm

    data = _data("glm_barometer").copy()
    data["one"] = 1.0
    d = ib.Design(data, weights="one")
    m = ib.logit("innovated ~ log_pop + free_income + log_employees", d)
    X = sm.add_constant(data[["log_pop", "free_income", "log_employees"]])
    ref = sm.GLM(data["innovated"], X, family=sm.families.Binomial()).fit(tol=1e-14)
    np.testing.assert_allclose(m.params.to_numpy(), ref.params.to_numpy(), rtol=1e-9)


def test_separation_warns_naming_the_term() -> None:
    df = pd.DataFrame({"psu": range(40), "w": 1.0, "x": np.r_[np.zeros(20), np.ones(20)],
                       "z": np.linspace(0, 1, 40), "y": np.r_[np.zeros(20), np.ones(20)]})
    with pytest.warns(ib.InnobaroWarning, match="separation.*'x'"):
        ib.logit("y ~ x + z", ib.Design(df, weights="w", psu="psu"))


def test_separation_names_the_slope_not_the_larger_intercept() -> None:
    # y separates at x = 10.5, so the intercept is about -10 times the slope
    x = np.arange(1.0, 21.0)
    df = pd.DataFrame({"psu": range(20), "w": 1.0, "x": x, "y": (x > 10).astype(float)})
    with pytest.warns(ib.InnobaroWarning, match="separation.*driven by term 'x'"):
        ib.logit("y ~ x", ib.Design(df, weights="w", psu="psu"))


def test_complete_separation_by_a_continuous_variable_warns_not_fails() -> None:
    # no finite maximum: the slope grows every iteration; as R, the fit is
    # returned with a warning that names the term, not an error
    x = np.arange(100.0)
    df = pd.DataFrame({"psu": range(100), "w": 1.0, "x": x, "y": (x > 50).astype(float)})
    with pytest.warns(ib.InnobaroWarning, match="separation.*term 'x'.*stopped after 100"):
        m = ib.logit("y ~ x", ib.Design(df, weights="w", psu="psu"))
    assert m.iterations == 100 and m.params["x"] > 10


def test_separation_within_replicates_warns() -> None:
    # level c has outcomes 1, 1, 0: fine in the full sample, separated in the
    # jackknife replicate that drops its one 0
    rng = np.random.default_rng(5)
    g = np.r_[np.repeat(["a", "b"], 20), ["c"] * 3]
    y = np.r_[rng.random(40) < 0.5, [True, True, False]].astype(float)
    df = pd.DataFrame({"psu": range(43), "w": 1.0, "g": g, "y": y})
    d = ib.Design(df, weights="w", psu="psu")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ib.InnobaroWarning)
        ib.logit("y ~ g", d)  # the full-sample fit is fine
    with pytest.warns(ib.InnobaroWarning, match=r"1 of 43 replicate fits have fitted "
                                                r"probabilities of 0 or 1"):
        ib.logit("y ~ g", d.replicate("jk1"))


def test_bad_input_named() -> None:
    df = pd.DataFrame({"psu": range(10), "w": 1.0, "x": np.arange(10.0), "c": 3.0,
                       "x2": 2 * np.arange(10.0), "y": np.r_[0, 1, 0, 1, 1, 0, 1, 1, 0, 2.0]})
    d = ib.Design(df, weights="w", psu="psu")
    with pytest.raises(ib.EstimationError, match=r"\[0, 1\]"):
        ib.logit("y ~ x", d)
    m = ib.glm("y ~ x", d)
    # a constant column and a multiple of another are aliased, as in R: NaN
    # coefficients, named in a warning, the rest fitted as without them
    for formula, name in (("y ~ x + c", "c"), ("y ~ x + x2", "x2")):
        with pytest.warns(ib.InnobaroWarning, match=f"'{name}' are aliased"):
            a = ib.glm(formula, d)
        assert np.isnan(a.params[name]) and np.isnan(a.bse[name])
        assert np.isnan(a.vcov.loc[name]).all() and a.aliased[name]
        np.testing.assert_allclose(a.params.drop(name), m.params, rtol=1e-12)
        np.testing.assert_allclose(a.bse.drop(name), m.bse, rtol=1e-10)
        assert a.df_resid == m.df_resid
    with pytest.raises(ib.EstimationError, match="not in the model"):
        m.wald_test("nope")
    with pytest.raises(ib.EstimationError, match="max_iter must be a positive integer"):
        ib.glm("y ~ x", d, max_iter=0)
    with pytest.raises(ib.EstimationError, match="tol must be positive"):
        ib.glm("y ~ x", d, tol=-1.0)


def test_constant_column_without_intercept_is_the_intercept() -> None:
    df = pd.DataFrame({"psu": range(10), "w": 1.0, "x": np.arange(10.0), "c": 3.0,
                       "y": np.r_[1.0, 3, 2, 5, 4, 6, 8, 7, 9, 9]})
    d = ib.Design(df, weights="w", psu="psu")
    with_c = ib.glm("y ~ 0 + c + x", d)
    usual = ib.glm("y ~ x", d)
    np.testing.assert_allclose(with_c.params["c"] * 3, usual.params["Intercept"], rtol=1e-12)
    np.testing.assert_allclose(with_c.bse["x"], usual.bse["x"], rtol=1e-10)


def test_missing_values_dropped_and_counted() -> None:
    df = pd.DataFrame({"psu": range(12), "w": 1.0, "x": [np.nan, *np.arange(11.0)],
                       "y": np.arange(12.0) * 0.5 + 1})
    m = ib.glm("y ~ x", ib.Design(df, weights="w", psu="psu"))
    assert m.n_dropped == 1
    assert "dropped for missing values: 1; 'x' (1 row))" in repr(m.summary())
    assert m.spec.missing == {"x": 1}
    with pytest.raises(ib.EstimationError, match=r"no complete rows.*'x' \(12 rows\)"):
        ib.glm("y ~ x", ib.Design(df.assign(x=np.nan), weights="w", psu="psu"))


def test_unseen_level_in_newdata_is_an_error() -> None:
    df = pd.DataFrame({"psu": range(12), "w": 1.0, "g": list("ab") * 6,
                       "y": np.arange(12.0)})
    m = ib.glm("y ~ g", ib.Design(df, weights="w", psu="psu"))
    with pytest.raises(ib.EstimationError, match="new data"):
        m.predict(pd.DataFrame({"g": ["c"]}))


def test_summary_is_stable_and_renders() -> None:
    case = BAROMETER[0]
    m = fit(case)
    text = repr(m.summary())
    assert text == repr(fit(case).summary())
    assert "202" not in text.splitlines()[0]  # no dates
    assert "<table" in m.summary().as_html()
    assert list(m.summary().to_frame().columns) == ["coef", "se", "t", "pvalue", "lower",
                                                    "upper"]


def test_non_convergence_names_iterations_and_change() -> None:
    df = pd.DataFrame({"psu": range(40), "w": 1.0, "x": np.linspace(0, 1, 40),
                       "y": np.r_[np.zeros(15), np.ones(10), np.zeros(15)]})
    with pytest.raises(ib.EstimationError, match=r"did not converge in 2 iterations "
                                                 r"\(last relative change of a coefficient "
                                                 r"[0-9.e-]+\)"):
        ib.logit("y ~ x", ib.Design(df, weights="w", psu="psu"), max_iter=2)
