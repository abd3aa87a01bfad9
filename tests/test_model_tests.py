"""Tests between survey GLMs and model fit, against R's survey package.

Numbers from ``tests/reference/make_model_tests.R``
(``tests/reference/model_tests.json``), compared at rtol 1e-7:

- ``anova.svyglm`` for nested models (linearisation and JK1/JKn replicates
  made from it; nested terms, and terms not nested in models whose matrices
  are, R's projection path): the Rao-Scott working likelihood ratio
  (R's default) and the Wald test, each with ``test="F"`` and ``"Chisq"``;
  statistic, degrees of freedom, p-value and (LRT) design effects, with the
  models in either order;
- design effects of the coefficients, ``svyglm(..., deff=TRUE)`` (R's
  ``tests/defftest.R`` identity is checked in the script);
- ``predict(..., total=)``: the regression and ratio estimators of a total,
  as R's ``tests/regpredict.R``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from _harness import _data, build_design, close, load

import innobaro as ib
from innobaro.datasets import barometer_design
from innobaro.errors import EstimationError

META = load("model_tests")
RTOL = 1e-7


def _cases(kind: str) -> list[dict]:
    return [c for c in META["cases"] if c["kind"] == kind]


def _design(case: dict) -> ib.SurveyDesign:
    return build_design(case)


def _glm(formula: str, design: ib.SurveyDesign, family: str, **kw) -> ib.GLMResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ib.InnobaroWarning)
        return ib.glm(formula, design, family=family, **kw)


@pytest.mark.parametrize("case", _cases("anova"), ids=lambda c: c["id"])
def test_anova_matches_r(case: dict) -> None:
    d = _design(case)
    small = _glm(case["small"], d, case["family"])
    big = _glm(case["big"], d, case["family"])
    for t in case["tests"]:
        for a, b in ((small, big), (big, small)):
            res = ib.anova(a, b, method=t["method"], test=t["test"])
            what = f"{case['id']} {t['method']} {t['test']}"
            close(f"{what} statistic", res.statistic, t["statistic"], rtol=RTOL)
            close(f"{what} p", res.pvalue, t["p"], rtol=RTOL)
            assert res.df_num == t["df"]
            assert res.df_denom == (np.inf if t["ddf"] is None else t["ddf"])
            if t["method"] == "LRT":
                close(f"{what} lambda", res.lambdas, np.array(t["lambda"]), rtol=RTOL)
                assert res.method == "lrt"
            else:
                assert res.method == ("F" if t["test"] == "F" else "chisq")
        method_res = big.anova(small, method=t["method"], test=t["test"])
        assert method_res.statistic == res.statistic


R_TO_PATSY = {"(Intercept)": "Intercept", "log(api99)": "np.log(api99)",
              "api.stu": "Q('api.stu')"}


def _patsy(r_name: str, names: list[str]) -> str:
    if r_name in R_TO_PATSY:
        return R_TO_PATSY[r_name]
    if r_name in names:
        return r_name
    for var in ("stype", "centrality"):
        if r_name.startswith(var):
            level = r_name[len(var):]
            cand = [f"{var}[T.{level}]", f"C({var})[T.{level}]"]
            return next(c for c in cand if c in names)
    raise AssertionError(r_name)


@pytest.mark.parametrize("case", _cases("deff"), ids=lambda c: c["id"])
def test_coefficient_design_effects_match_r(case: dict) -> None:
    m = _glm(case["formula"], _design(case), case["family"])
    names = list(m.params.index)
    order = [_patsy(r, names) for r in case["r_names"]]
    assert sorted(order) == sorted(names)
    close(f"{case['id']} deff", m.deff[order].to_numpy(), np.array(case["deff"]), rtol=RTOL)


def test_deff_is_squared_se_ratio_on_equal_weights() -> None:
    # R's tests/defftest.R: with equal weights, the design effect is the squared
    # ratio of the design-based to the ordinary GLM standard error, here the
    # same model on a simple random sample with replacement of the same rows
    data = _data("apiclus1")
    clus = ib.Design(data, weights="pw", psu="dnum")
    srs = ib.Design(data, weights="pw")
    m = _glm("api99 ~ enroll + Q('api.stu')", clus, "gaussian")
    m_srs = _glm("api99 ~ enroll + Q('api.stu')", srs, "gaussian")
    n, p = len(data), 3
    # the ordinary glm's variance: naive covariance times the Pearson dispersion
    resid = data["api99"].to_numpy() - m_srs.predict().to_numpy()
    phi = np.sum(resid ** 2) / (n - p)
    glm_var = np.diag(m_srs.naive_cov) * phi
    np.testing.assert_allclose(m.deff.to_numpy(), m.bse.to_numpy() ** 2 / glm_var, rtol=1e-10)
    assert not np.allclose(m.deff, 1.0)


def test_predict_total_matches_regpredict() -> None:
    (case,) = _cases("predict_total")
    d = _design(case)
    pop = pd.DataFrame({"enroll": [case["enroll_total"]]})
    reg = case["regression"]
    m = _glm(reg["formula"], d, reg["family"])
    out = m.predict(pop, total=case["npop"], se=True)
    close("regression estimator", out["fit"].iloc[0], reg["total"], rtol=RTOL)
    close("regression estimator se", out["se"].iloc[0], reg["se"], rtol=RTOL)
    ratio = case["ratio"]
    m2 = _glm(ratio["formula"], d, ratio["family"], link=ratio["link"],
              variance=ratio["variance"])
    out2 = m2.predict(pop, total=case["npop"], se=True)
    close("ratio estimator", out2["fit"].iloc[0], ratio["total"], rtol=RTOL)
    close("ratio estimator se", out2["se"].iloc[0], ratio["se"], rtol=RTOL)
    # without total= the intercept counts once: a different number
    assert abs(m.predict(pop).iloc[0] - reg["total"]) > 1.0


@pytest.fixture(scope="module")
def baro() -> ib.SurveyDesign:
    return barometer_design()


def test_anova_not_nested_names_the_terms(baro: ib.SurveyDesign) -> None:
    a = ib.logit("innovated ~ C(sector)", baro)
    b = ib.logit("innovated ~ np.log(employees)", baro)
    with pytest.raises(EstimationError, match=r"not nested.*C\(sector\).*np.log\(employees\)"
                       r".*neither model matrix"):
        ib.anova(a, b)


def test_anova_same_terms_and_bad_arguments(baro: ib.SurveyDesign) -> None:
    a = ib.logit("innovated ~ C(sector)", baro)
    b = ib.logit("innovated ~ C(sector) + np.log(employees)", baro)
    with pytest.raises(EstimationError, match="nothing to test"):
        ib.anova(a, a)
    with pytest.raises(EstimationError, match="method must be"):
        ib.anova(a, b, method="score")
    with pytest.raises(EstimationError, match="test must be"):
        ib.anova(a, b, test="t")
    with pytest.raises(EstimationError, match="GLMResult"):
        ib.anova(a, "model")  # type: ignore[arg-type]


def test_anova_different_design_or_rows_or_family(baro: ib.SurveyDesign) -> None:
    a = ib.logit("innovated ~ C(sector)", baro)
    other = barometer_design()
    b = ib.logit("innovated ~ C(sector) + np.log(employees)", other)
    with pytest.raises(EstimationError, match="different designs"):
        ib.anova(a, b)
    data = baro.data.copy()
    data.loc[data.index[:5], "employees"] = np.nan
    d2 = ib.Design(data, weights="final_weight", strata="stratum")
    a2 = _glm("innovated ~ C(sector)", d2, "binomial")
    b2 = _glm("innovated ~ C(sector) + np.log(employees)", d2, "binomial")
    with pytest.raises(EstimationError, match="different rows"):
        ib.anova(a2, b2)
    p = _glm("innovated ~ C(sector) + np.log(employees)", baro, "poisson")
    with pytest.raises(EstimationError, match="different families"):
        ib.anova(a, p)


# ----------------------------------------------------------------------------
# Archer-Lemeshow goodness of fit (Stata's estat gof after svy: logit)
# ----------------------------------------------------------------------------
def _al_by_domain_means(m: ib.GLMResult, design: ib.SurveyDesign, groups: int) -> float:
    """The Wald statistic from innobaro's own domain means of the residuals
    (checked against R's svyby(svymean) elsewhere) over the same groups."""
    t = m.archer_lemeshow(groups)
    data = design.data.copy()
    fitted = m.predict(data).to_numpy()
    data["res"] = data["innovated"] - fitted
    # the group of each row: the fitted probability against the cut points
    table = t.details["table"]
    order = np.argsort(fitted, kind="stable")
    share = np.cumsum(data["final_weight"].to_numpy()[order]) / data["final_weight"].sum()
    at = np.searchsorted(share, np.arange(1, groups) / groups * (1 - 1e-12))
    cuts = fitted[order][at]
    data["grp"] = np.searchsorted(cuts, fitted, side="left") + 1
    d = ib.Design(data, weights="final_weight", strata="stratum")
    est = ib.mean(d, "res", by="grp")
    M = est.estimate.to_numpy()
    np.testing.assert_allclose(M, table["mean_residual"].to_numpy(), rtol=1e-10, atol=1e-14)
    V = est.vcov.to_numpy()
    return float(M @ np.linalg.solve(V, M))


def test_archer_lemeshow_equals_wald_on_domain_means(baro: ib.SurveyDesign) -> None:
    m = ib.logit("innovated ~ C(sector) + np.log(employees)", baro)
    for g in (10, 6):
        t = m.archer_lemeshow(g)
        wald = _al_by_domain_means(m, baro, g)
        close(f"Wald statistic, {g} groups", t.details["wald"], wald, rtol=1e-9)
        f = baro.df
        assert t.df == (g - 1, f - g + 2)
        close("F", t.statistic, (f - g + 2) * wald / (f * (g - 1)), rtol=1e-12)
        table = t.details["table"]
        # deciles of risk: each group about 1/g of the estimated population
        np.testing.assert_allclose(table["weight"] / table["weight"].sum(), 1 / g, atol=0.02)
        assert (np.diff(table["expected"].to_numpy()) > 0).all()


def test_archer_lemeshow_reference_distribution_by_simulation() -> None:
    # A finite population where the logistic model holds (y independent given
    # x; x clustered within PSUs and shifted by stratum); 600 stratified
    # two-stage samples (8 strata, 40 of 120 PSUs each, 5 of 40 units per PSU,
    # weights varying by stratum). Under the null the test rejects at 5% in
    # about 5% of the samples: the tolerance is 3 Monte Carlo standard errors,
    # 3 * sqrt(0.05 * 0.95 / 600) = 0.027. Seeded, so the outcome is fixed.
    # (With few events per group, e.g. 300 rows, the design-based variance
    # of a group with nearly no events is tiny and the test over-rejects;
    # the guide says so.)
    rng = np.random.default_rng(20261204)
    H, A, M = 8, 120, 40
    stratum = np.repeat(np.arange(H), A * M)
    psu = np.repeat(np.arange(H * A), M)
    x = rng.normal(0, 1, H * A)[psu] + rng.normal(0, 1, psu.size) + 0.3 * stratum
    y = (rng.random(psu.size) < 1 / (1 + np.exp(1.0 - 0.8 * x))).astype(float)
    pop = pd.DataFrame({"stratum": stratum, "psu": psu, "x": x, "y": y})
    a, m_units, reps = 40, 5, 600
    pvalues = np.empty(reps)
    for r in range(reps):  # one sample per iteration (the design is rebuilt each time)
        chosen = np.concatenate([h * A + rng.choice(A, a, replace=False) for h in range(H)])
        pick = np.argsort(rng.random((chosen.size, M)), axis=1)[:, :m_units]
        s = pop.iloc[(chosen[:, None] * M + pick).ravel()].reset_index(drop=True)
        s["w"] = (A / a) * (M / m_units) * (1 + s["stratum"] % 3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ib.InnobaroWarning)
            t = ib.logit("y ~ x", ib.Design(s, weights="w", strata="stratum", psu="psu")
                         ).archer_lemeshow()
        pvalues[r] = t.pvalue
    assert t.df == (9.0, H * a - H - 8)
    rate = float(np.mean(pvalues < 0.05))
    assert abs(rate - 0.05) < 3 * np.sqrt(0.05 * 0.95 / reps), rate
    # and the p-values are roughly uniform over the whole range
    assert abs(float(np.mean(pvalues < 0.5)) - 0.5) < 3 * np.sqrt(0.25 / reps)


def test_archer_lemeshow_detects_a_wrong_model() -> None:
    rng = np.random.default_rng(7)
    n = 3000
    # the log-odds are quadratic in x; a model linear in x misses the curvature
    x = rng.uniform(-2, 2, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(0.5 + x - 0.8 * x ** 2)))).astype(float)
    d = ib.Design(pd.DataFrame({"x": x, "y": y, "w": rng.uniform(1, 3, n)}), weights="w")
    assert ib.logit("y ~ x", d).archer_lemeshow().pvalue < 1e-6
    assert ib.logit("y ~ x + I(x**2)", d).archer_lemeshow().pvalue > 0.01


def test_archer_lemeshow_on_replicate_design(baro: ib.SurveyDesign) -> None:
    rep = baro.replicate("jkn") if hasattr(baro, "replicate") else None
    assert rep is not None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ib.InnobaroWarning)
        m = ib.logit("innovated ~ C(sector) + np.log(employees)", rep)
        m_lin = ib.logit("innovated ~ C(sector) + np.log(employees)", baro)
    t, t_lin = m.archer_lemeshow(), m_lin.archer_lemeshow()
    pd.testing.assert_frame_equal(t.details["table"], t_lin.details["table"])
    # the jackknife variance of the group means is close to the linearised one
    assert 0.8 < t.details["wald"] / t_lin.details["wald"] < 1.25


def test_archer_lemeshow_bad_input(baro: ib.SurveyDesign) -> None:
    m = ib.logit("innovated ~ C(sector) + np.log(employees)", baro)
    with pytest.raises(EstimationError, match="groups must be at least 2"):
        m.archer_lemeshow(1)
    g = ib.glm("employees ~ C(sector)", baro, family="poisson")
    with pytest.raises(EstimationError, match="binomial"):
        g.archer_lemeshow()
    # a single binary covariate: two distinct fitted probabilities, so most
    # of ten groups are empty, with a warning naming the number used
    m2 = ib.logit("innovated ~ C(sector)", baro)
    with pytest.warns(ib.InnobaroWarning, match="groups empty; the test uses 2 groups"):
        t = m2.archer_lemeshow()
    assert t.df[0] == 1.0
