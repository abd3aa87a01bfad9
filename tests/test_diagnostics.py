"""Model diagnostics (generalised VIF) and Wald t tests of estimates, against R.

Numbers from ``tests/reference/make_diagnostics.R`` (``diagnostics.json``):
``car::vif`` on ``svyglm`` fits, the p-values of ``summary.svyglm``, and
``2 * pt(-abs((est - null) / SE), degf(design))`` for a mean and a share.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from _harness import build_design, close, load

import innobaro as ib

META = load("diagnostics")
GVIF = [c for c in META["cases"] if c["kind"] == "gvif"]
TESTS = [c for c in META["cases"] if c["kind"] == "test"]


def _patsy_name(r_name: str) -> str:
    """R's coefficient name as patsy writes it (``stypeH`` -> ``C(stype)[T.H]``)."""
    if r_name == "(Intercept)":
        return "Intercept"
    if r_name.startswith("stype"):
        return f"C(stype)[T.{r_name[len('stype'):]}]"
    return r_name


def _fit(case: dict) -> ib.GLMResult:
    design = build_design(case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ib.InnobaroWarning)
        return ib.glm(case["model"]["formula"], design, family=case["model"]["family"]
                      .replace("quasibinomial", "binomial"))


@pytest.mark.parametrize("case", GVIF, ids=[c["id"] for c in GVIF])
def test_gvif_equals_car_vif(case: dict) -> None:
    out = ib.gvif(_fit(case))
    res = case["result"]
    out.index = [t.replace("C(", "").replace(")", "") for t in out.index]  # R's names
    assert sorted(out.index) == sorted(res["terms"])
    out = out.loc[res["terms"]]
    # R's svyglm covariance carries the working weights of the IRLS iteration
    # before its last (test_reference_glm.py): about 1e-7 off for a logistic fit
    rtol = 1e-9 if case["model"]["family"] == "gaussian" else 1e-6
    close("gvif", out["gvif"].to_numpy(), np.array(res["gvif"]), rtol=rtol)
    close("df", out["df"].to_numpy(), np.array(res["df"]), rtol=0)
    close("gvif_scaled", out["gvif_scaled"].to_numpy(), np.array(res["gvif_scaled"]),
          rtol=rtol)


@pytest.mark.parametrize("case", GVIF, ids=[c["id"] for c in GVIF])
def test_coefficient_tests_equal_summary_svyglm(case: dict) -> None:
    m = _fit(case)
    res = case["result"]
    tests = m.coefficients.test()
    r_names = [_patsy_name(n) for n in res["coef_names"]]
    tests = tests.loc[r_names]
    close("pvalue", tests["pvalue"].to_numpy(), np.array(res["pvalues"]), rtol=1e-6)
    assert (tests["df"] == res["df_resid"]).all()
    close("same as GLMResult.pvalues", tests["pvalue"].to_numpy(),
          m.pvalues.loc[r_names].to_numpy(), rtol=1e-12)


@pytest.mark.parametrize("case", TESTS, ids=[c["id"] for c in TESTS])
def test_estimate_test_against_a_value(case: dict) -> None:
    design = build_design(case)
    spec = case["estimate"]
    out = ib.mean(design, spec["variable"], na_rm=True).test(spec["null"])
    res = case["result"]
    assert out["df"].iloc[0] == res["df"]
    close("statistic", out["statistic"].to_numpy(), np.array([res["statistic"]]), rtol=1e-9)
    close("pvalue", out["pvalue"].to_numpy(), np.array([res["pvalue"]]), rtol=1e-8)


def test_a_test_agrees_with_the_wald_interval() -> None:
    df = pd.DataFrame({"w": [1.0, 2, 3, 4] * 5, "y": np.arange(20.0) % 7})
    est = ib.mean(ib.Design(df, weights="w"), "y")
    lower, upper = est.ci(0.95).iloc[0]
    assert est.test(lower)["pvalue"].iloc[0] == pytest.approx(0.05, rel=1e-10)
    assert est.test(upper)["pvalue"].iloc[0] == pytest.approx(0.05, rel=1e-10)
    both = est.test(np.array([lower]), df=float("inf"))
    assert both["pvalue"].iloc[0] < 0.05  # z is narrower than t on 19 df


def test_gvif_of_uncorrelated_terms_is_one_and_bad_models_are_named() -> None:
    x = np.tile([-1.0, 1.0], 8)
    z = np.repeat([-1.0, 1.0], 8)
    y = 1 + x + z + np.tile([0.1, -0.2, 0.3, -0.1], 4)
    d = ib.Design(pd.DataFrame({"x": x, "z": z, "y": y, "w": 1.0}), weights="w")
    out = ib.gvif(ib.glm("y ~ x + z", d))
    np.testing.assert_allclose(out["gvif"], 1.0, atol=0.35)  # sandwich correlations only
    with pytest.raises(ib.EstimationError, match="at least two terms"):
        ib.gvif(ib.glm("y ~ x", d))
    with pytest.raises(ib.EstimationError, match="intercept"):
        ib.gvif(ib.glm("y ~ x + z - 1", d))
