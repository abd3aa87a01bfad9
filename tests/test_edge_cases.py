"""Degenerate cases that once gave wrong numbers without a word (issue 12),
against R's survey package (``tests/reference/make_edge.R``), and the named
errors where R has no answer to compare with.

Each R case is a model, test or estimate on a design built to hit one rule:
aliased columns, factor levels without rows, intercept-only models,
replicate degrees of freedom with weights over four decades, ``svyttest``
under ``lonely_psu="average"``, replicates that lose a factor level, and
quantiles at the top of the distribution.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import innobaro as ib

REF = Path(__file__).parent / "reference"
BAROMETER = Path(ib.__file__).parent / "datasets" / "data" / "synthetic_barometer_2018.csv"
CASES = {c["id"]: c for c in json.loads((REF / "edge.json").read_text())["cases"]}
RTOL = 1e-8


def _data(name: str) -> pd.DataFrame:
    if name == "barometer":
        return pd.read_csv(BAROMETER)  # text columns stay text, as a CSV gives them
    return pd.read_csv(REF / "data" / f"{name}.csv")


def _design(case: dict) -> ib.SurveyDesign:
    spec, data = case["design"], _data(case["data"])
    if spec.get("type") == "replicate":
        return ib.ReplicateDesign(data, weights=spec["weights"],
                                  replicate_weights=spec["replicate_weights"],
                                  method=spec["method"], scale=spec.get("scale"),
                                  rscales=spec.get("rscales"))
    return ib.Design(data, weights=spec.get("weights"), strata=spec.get("strata"),
                     psu=spec.get("psu"), lonely_psu=spec.get("lonely_psu", "fail"))


def _arr(values: list) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _fit(case: dict) -> ib.GLMResult:
    d = _design(case)
    call = case["call"]
    if call.get("subset"):
        d = d.subset(d.data[call["subset"]["column"]] == call["subset"]["value"])
    formula = call["formula"].replace("log(", "np.log(").replace("np.np.", "np.")
    return ib.glm(formula, d, family=call["family"])


GLM_CASES = [k for k, c in CASES.items() if c["call"]["fn"] == "glm"]


@pytest.mark.parametrize("case_id", GLM_CASES)
def test_glm_matches_r(case_id: str) -> None:
    case = CASES[case_id]
    res = case["result"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = _fit(case)
    coef, se = _arr(res["coef"]), _arr(res["se"])
    assert len(m.params) == len(coef), (list(m.params.index), res["terms"])
    np.testing.assert_array_equal(np.isnan(m.params.to_numpy()), np.isnan(coef))
    np.testing.assert_allclose(m.params.to_numpy(), coef, rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(m.bse.to_numpy(), se, rtol=RTOL)
    V = m.vcov.to_numpy()
    keep = ~np.isnan(coef)
    np.testing.assert_allclose(V[np.ix_(keep, keep)], np.array(res["vcov"]), rtol=RTOL,
                               atol=1e-14)
    assert m.df_resid == res["df_resid"]
    messages = [str(w.message) for w in caught]
    if np.isnan(coef).any():  # each aliased column named in an InnobaroWarning
        aliased = [n for n, a in zip(m.params.index, np.isnan(coef), strict=True) if a]
        assert any(all(repr(n) in msg for n in aliased) and "aliased" in msg
                   for msg in messages), messages
        assert list(m.aliased[m.aliased].index) == aliased
    if "discarded" in res:  # R: "k replicates gave NA results and were discarded"
        assert any(f"{res['discarded']} of" in msg and "discarded" in msg
                   for msg in messages), messages


def test_aliased_barometer_model_in_summary_and_odds_ratios() -> None:
    m = _fit(CASES["barometer_aliased"])
    bad = m.aliased[m.aliased].index
    assert len(bad) == 1
    assert np.isnan(m.odds_ratios().loc[bad]).all(axis=None)
    assert np.isnan(m.conf_int().loc[bad]).all(axis=None)
    assert np.isnan(m.summary().table.loc[bad, ["coef", "se", "lower", "upper"]]).all(axis=None)
    # categorical columns give the same fit as text columns
    data = _data("barometer")
    cat = data.astype({"sector": "category", "unit_type": "category"})
    d = ib.Design(cat, weights="final_weight", strata="stratum")
    with pytest.warns(ib.InnobaroWarning, match="aliased"):
        m2 = ib.logit("innovated ~ C(sector) + C(unit_type)", d)
    np.testing.assert_allclose(m2.params.to_numpy(), m.params.to_numpy(), rtol=1e-10)


def test_replicate_df_and_interval_match_r() -> None:
    case = CASES["replicate_df_wide_weights"]
    d = _design(case)
    assert d.df == case["result"]["df"]
    est = ib.mean(d, "y")
    ci = est.ci().iloc[0]
    r = case["result"]
    np.testing.assert_allclose([est.estimate.iloc[0], est.se.iloc[0], ci["lower"], ci["upper"]],
                               [r["estimate"], r["se"], r["lower"], r["upper"]], rtol=RTOL)


def test_ttest_lonely_average_matches_r_and_glm() -> None:
    case = CASES["ttest_lonely_average"]
    d = _design(case)
    res = ib.ttest(d, "y", "g")
    r = case["result"]
    np.testing.assert_allclose([res.statistic, res.p_value, res.estimate],
                               [r["statistic"], r["p_value"], r["estimate"]], rtol=RTOL)
    assert res.df == (1.0, r["df"])
    assert res.statistic == pytest.approx(ib.glm("y ~ g", d).tvalues["g"], rel=1e-12)


def test_replicate_quantile_at_the_top_matches_r() -> None:
    case = CASES["replicate_quantile_top"]
    est = ib.quantile(_design(case), "y", case["call"]["q"])
    r = case["result"]
    np.testing.assert_allclose(est.estimate.to_numpy(), r["estimate"], rtol=RTOL)
    np.testing.assert_allclose(est.se.to_numpy(), r["se"], atol=1e-12)
    ci = est.ci()
    np.testing.assert_allclose(ci["lower"].to_numpy(), r["lower"], rtol=RTOL)
    np.testing.assert_allclose(ci["upper"].to_numpy(), r["upper"], rtol=RTOL)


# ---------------------------------------------------------------- without R
def _small() -> pd.DataFrame:
    rng = np.random.default_rng(12)
    return pd.DataFrame({"st": np.repeat([1, 2, 3], [4, 4, 2]), "psu": range(10),
                         "w": rng.uniform(1, 3, 10), "y": rng.normal(size=10),
                         "b": [1, 0, 0, 1, 1, 0, 1, 0, 0, 1], "g": ["a", "b"] * 5})


def test_proportion_keeps_its_level() -> None:
    d = ib.Design(_small(), weights="w", strata="st", psu="psu")
    for method in ("logit", "beta", "wilson", "likelihood", "mean"):
        est = ib.proportion(d, "b", method=method, level=0.90)
        frame = est.to_frame()
        ci = est.ci()
        assert ci["lower"].iloc[0] == frame["lower"].iloc[0]
        assert ci["upper"].iloc[0] == frame["upper"].iloc[0]
        wider = est.ci(0.95)
        assert wider["lower"].iloc[0] < ci["lower"].iloc[0]


@pytest.mark.parametrize("method", ["beta", "wilson", "logit", "likelihood", "asin"])
def test_interval_on_a_census_is_the_estimate(method: str) -> None:
    df = _small().assign(N=10.0)
    est = ib.proportion(ib.Design(df, fpc="N"), "b", method=method)
    assert est.se.iloc[0] == 0
    lo, hi = est.ci().iloc[0]
    assert lo == pytest.approx(est.estimate.iloc[0], rel=1e-15)
    assert hi == pytest.approx(est.estimate.iloc[0], rel=1e-15)


def test_chisq_test_census_and_nan_variance_are_named() -> None:
    df = _small().assign(N=10.0)
    with pytest.raises(ib.EstimationError, match="no sampling variance"):
        ib.chisq_test(ib.Design(df, fpc="N"), "g", "b")
    # PSU 3 has a single second-stage unit: under "average" (as R's survey
    # with a lonely unit at stage 2) the variance is NaN
    two = pd.DataFrame({"st": [1] * 5 + [2] * 6, "psu": [1, 1, 2, 2, 3, 4, 4, 5, 5, 6, 6],
                        "ssu": [1, 2, 1, 2, 1, 1, 2, 1, 2, 1, 2], "N1": 10.0, "N2": 4.0,
                        "g": list("abababababa"), "b": [1, 0, 0, 1, 1, 1, 1, 0, 0, 1, 0]})
    d = ib.Design(two, strata="st", psu=["psu", "ssu"], fpc=["N1", "N2"],
                  lonely_psu="average")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ib.InnobaroWarning)
        assert np.isnan(ib.mean(d, "b").vcov.to_numpy()).all()
        with pytest.raises(ib.EstimationError, match="cannot be estimated"):
            ib.chisq_test(d, "g", "b")
        with pytest.raises(ib.EstimationError, match="cannot be estimated"):
            ib.chisq_test(d, "g", "b", statistic="Wald")


def test_bad_columns_are_named() -> None:
    df = _small()
    with pytest.raises(ib.DesignError, match="duplicated column names: 'y'"):
        ib.Design(pd.concat([df, df[["y"]]], axis=1))
    with pytest.raises(ib.DesignError, match="weights must be the name of a column"):
        ib.Design(df, weights=df["w"])  # type: ignore[arg-type]
    inf = df.assign(y=[np.inf] + [1.0] * 9)
    with pytest.raises(ib.EstimationError, match="'y' has 1 infinite value"):
        ib.mean(ib.Design(inf), "y")
    with pytest.raises(ib.EstimationError, match=r"infinite values in 'np\.log"):
        ib.glm("y ~ np.log(b)", ib.Design(df))
    assert df.equals(_small())  # the caller's frame is untouched


def test_huge_outcomes_give_representable_standard_errors() -> None:
    df = _small()
    for d in (ib.Design(df, weights="w", strata="st", psu="psu"),
              ib.Design(df, weights="w").replicate("jk1")):
        base = ib.mean(d, "y", by="g")
        big = ib.mean(ib.Design(df.assign(y=df["y"] * 2.0 ** 1000), weights="w",
                                strata="st", psu="psu") if isinstance(d, ib.Design) else
                      ib.Design(df.assign(y=df["y"] * 2.0 ** 1000),
                                weights="w").replicate("jk1"), "y", by="g")
        np.testing.assert_allclose(big.se.to_numpy(), base.se.to_numpy() * 2.0 ** 1000,
                                   rtol=1e-12)
        assert np.isfinite(big.ci().to_numpy()).all()


def test_intercept_only_on_a_subset_equals_whole_design_mean() -> None:
    d = ib.Design(_small(), weights="w", strata="st", psu="psu")
    m = ib.glm("y ~ 1", d)
    est = ib.mean(d, "y")
    assert m.params.iloc[0] == pytest.approx(est.estimate.iloc[0], rel=1e-12)
    assert m.bse.iloc[0] == pytest.approx(est.se.iloc[0], rel=1e-10)


def test_weighting_a_replicate_that_loses_a_cell_is_named() -> None:
    df = pd.DataFrame({"psu": range(8), "w": 2.0, "g": ["a"] + ["b"] * 7,
                       "x": [1.0, 2, 3, 4, 5, 6, 7, 8]})
    d = ib.Design(df, weights="w", psu="psu").replicate("jk1")
    with pytest.raises(ib.DesignError, match="1 of 8 replicates have no weight in a"):
        d.poststratify("g", {"a": 5.0, "b": 20.0})
    with pytest.raises(ib.DesignError, match="rake: 1 of 8 replicates have no weight in g=a"):
        d.rake({"g": {"a": 5.0, "b": 20.0}})
    with pytest.raises(ib.DesignError, match="calibrate: 1 of 8 replicates cannot be"):
        d.calibrate({"Intercept": 25.0, "g[T.b]": 20.0}, formula="~ g")


def test_unused_category_is_dropped_as_r_does() -> None:
    df = _small().assign(g=pd.Categorical(["a", "b"] * 5, categories=["a", "b", "c"]))
    d = ib.Design(df, weights="w", strata="st", psu="psu")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ib.InnobaroWarning)
        m = ib.glm("y ~ g", d)
    assert list(m.params.index) == ["Intercept", "g[T.b]"]
    plain = ib.glm("y ~ g", ib.Design(df.assign(g=df["g"].astype(str)), weights="w",
                                      strata="st", psu="psu"))
    np.testing.assert_allclose(m.params.to_numpy(), plain.params.to_numpy(), rtol=1e-12)
