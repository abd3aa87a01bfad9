"""Tests between survey GLMs and model fit, against R's survey package.

Numbers from ``tests/reference/make_model_tests.R``
(``tests/reference/model_tests.json``), compared at rtol 1e-7:

- ``anova.svyglm`` for nested models: the Rao-Scott working likelihood ratio
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
    d = build_design(case)
    if case["data"] == "glm_barometer":  # centrality is a factor in R
        assert "C(centrality)" in (case.get("big") or case.get("formula"))
    return d


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
    with pytest.raises(EstimationError, match=r"not nested.*C\(sector\).*np.log\(employees\)"):
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
