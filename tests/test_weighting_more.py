"""Richer weighting against R (``reference/weighting2.json``) and its bad input.

- ``calibrate`` with ``variance=``, per-unit bounds, ``bounds_const``, the sinh
  distance and cluster-level calibration (``aggregate_stage``/``aggregate_index``)
  against R's ``calibrate`` on linearisation and jackknife designs: final
  weights at 1e-8, means and totals after weighting with their SEs at 1e-7;
- ``adjust_propensity`` against the propensities of R's ``svyglm(quasibinomial)``
  and the weights computed from them (``inverse``, classes with the class mean
  propensity or the weighted response rate), replicate designs refitting the
  model in every replicate;
- the collapsing of sparse nonresponse cells against survey's ``sparseCells``,
  ``neighbours`` and ``joinCells`` driven by the same rule;
- properties (equal g-weights within clusters, bounds respected, the response
  table) and every mistake named.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from _harness import build_design, load, patsy_formula, patsy_name

import innobaro as ib

REF = load("weighting2")
CASES = {c["id"]: c for c in REF["cases"]}
W_RTOL = 1e-8  # final weights
E_RTOL = 1e-7  # estimates and SEs after weighting


def ids(kind: str) -> list[str]:
    return [k for k, c in CASES.items() if c["kind"] == kind]


def base_design(case: dict, extra: dict | None = None) -> ib.SurveyDesign:
    d = build_design({"data": case["data"], "design": case["design"]})
    return d.with_columns(extra) if extra else d


def check_estimates(d: ib.SurveyDesign, case: dict, *, se: bool = True) -> None:
    for key, fn, var in [("mean_api00", ib.mean, "api00"), ("total_api00", ib.total, "api00"),
                         ("mean_ell", ib.mean, "ell")]:
        est = fn(d, var)
        ref = case["estimates"][key]
        np.testing.assert_allclose(np.ravel(est.estimate)[0], np.ravel(ref["estimate"])[0],
                                   rtol=E_RTOL, err_msg=f"{key} estimate")
        if se:
            np.testing.assert_allclose(np.ravel(est.se)[0], np.ravel(ref["se"])[0],
                                       rtol=E_RTOL, err_msg=f"{key} SE")


def bound(value):
    if value is None:
        return None
    return np.asarray(value, dtype=float) if isinstance(value, list) else float(value)


def calibrate_case(case: dict) -> ib.SurveyDesign:
    d = base_design(case)
    no_intercept = case["formula"].endswith("- 1")
    base = case["formula"].removesuffix("- 1").strip()
    formula = patsy_formula(base) + (" - 1" if no_intercept else "")
    totals = {patsy_name(k, {"formula": base}, d.data): v for k, v in case["totals"].items()}
    lo, hi = bound(case["lower"]), bound(case["upper"])
    bounds = None if lo is None and hi is None else (
        -np.inf if lo is None else lo, np.inf if hi is None else hi)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ib.InnobaroWarning)
        return d.calibrate(totals, formula=formula, method=case["method"], bounds=bounds,
                           bounds_const=case["bounds_const"], variance=case["variance"],
                           aggregate_stage=case["aggregate_stage"],
                           aggregate_index=case["aggregate_index"])


# ------------------------------------------------------------------ calibrate
@pytest.mark.parametrize("case_id", ids("calibrate"))
def test_calibrate_against_r(case_id: str) -> None:
    case = CASES[case_id]
    d = calibrate_case(case)
    np.testing.assert_allclose(d.weight_values, case["weights"], rtol=W_RTOL)
    check_estimates(d, case)


def test_aggregate_gives_one_g_weight_per_cluster() -> None:
    case = CASES["clus2_lin_logit_aggregate"]
    d = calibrate_case(case)
    g = d.weight_values / base_design(case).weight_values
    spread = pd.Series(g).groupby(d.data["dnum"].to_numpy()).agg(np.ptp)
    assert spread.max() < 1e-12
    assert pd.Series(g).nunique() > 1


def test_aggregate_warns_when_weights_vary_within_clusters() -> None:
    d = build_design({"data": "apistrat", "design": CASES["strat_lin_sinh"]["design"]})
    with pytest.warns(ib.InnobaroWarning, match="not constant within the clusters of 'cnum'"):
        a = d.calibrate({"Intercept": 6194.0, "api99": 3914069.0}, formula="~ api99",
                        aggregate_index="cnum")
    g = pd.Series(a.weight_values / d.weight_values).groupby(d.data["cnum"].to_numpy())
    assert g.agg(np.ptp).max() < 1e-12


def test_variance_as_coefficients_equals_the_column() -> None:
    d = build_design({"data": "apistrat", "design": CASES["strat_lin_sinh"]["design"]})
    totals = {"Intercept": 6194.0, "api99": 3914069.0}
    by_column = d.calibrate(totals, formula="~ api99", variance="api99")
    by_coef = d.calibrate(totals, formula="~ api99", variance=[0.0, 1.0])
    np.testing.assert_allclose(by_coef.weight_values, by_column.weight_values, rtol=1e-12)
    np.testing.assert_allclose(ib.mean(by_coef, "api00").se, ib.mean(by_column, "api00").se,
                               rtol=1e-12)
    # a constant variance is no variance at all
    plain = d.calibrate(totals, formula="~ api99")
    const = d.calibrate(totals, formula="~ api99", variance=np.full(d.n, 7.0))
    np.testing.assert_allclose(const.weight_values, plain.weight_values, rtol=1e-12)
    np.testing.assert_allclose(ib.mean(const, "api00").se, ib.mean(plain, "api00").se,
                               rtol=1e-12)


def test_per_unit_and_weight_bounds_hold_in_every_replicate() -> None:
    case = CASES["strat_jk1_linear_unit_bounds"]
    d = calibrate_case(case)
    base = base_design(case)
    with np.errstate(invalid="ignore"):
        g = d.replicate_weights.to_numpy() / base.replicate_weights.to_numpy()
    lo, hi = np.array(case["lower"]), np.array(case["upper"])
    ok = np.isfinite(g)
    assert (g >= lo[:, None] - 1e-9)[ok].all() and (g <= hi[:, None] + 1e-9)[ok].all()
    # bounds on the weights themselves: each replicate's weights within them
    totals = {"Intercept": 6194.0, "stype[T.H]": 755.0, "stype[T.M]": 1018.0,
              "api99": 3914069.0}
    r = base.calibrate(totals, formula="~ stype + api99", bounds=(12, 46), bounds_const=True)
    W = np.column_stack([r.weight_values, r.replicate_weights.to_numpy()])
    used = np.column_stack([base.weight_values, base.replicate_weights.to_numpy()]) > 0
    assert W[used].min() >= 12 - 1e-7 and W[used].max() <= 46 + 1e-7


def test_bounds_from_columns_equal_bounds_from_arrays() -> None:
    case = CASES["strat_lin_linear_unit_bounds"]
    d = base_design(case, {"lo": np.array(case["lower"]), "hi": np.array(case["upper"])})
    totals = {"Intercept": 6194.0, "stype[T.H]": 755.0, "stype[T.M]": 1018.0,
              "api99": 3914069.0}
    by_column = d.calibrate(totals, formula="~ stype + api99", bounds=("lo", "hi"))
    np.testing.assert_allclose(by_column.weight_values, case["weights"], rtol=W_RTOL)
    log = by_column.weights_summary().totals
    np.testing.assert_allclose(log["achieved"], log["population"], rtol=1e-7)


# ---------------------------------------------------------------- propensity
def propensity_design(case: dict) -> ib.SurveyDesign:
    return base_design(case, {"resp": np.array(case["respondent"], dtype=int)})


@pytest.mark.parametrize("case_id", ids("propensity"))
def test_propensity_against_r(case_id: str) -> None:
    case = CASES[case_id]
    d = propensity_design(case)
    a = d.adjust_propensity("resp", case["formula"], method=case["method"],
                            n_classes=case["n_classes"], class_factor=case["class_factor"])
    np.testing.assert_allclose(a.weight_values, case["weights"], rtol=W_RTOL, atol=1e-12)
    rate_classes = case["method"] == "classes" and case["class_factor"] == "rate"
    linearisation = not isinstance(d, ib.ReplicateDesign)
    # R's SEs treat the weights as fixed; innobaro's class-rate adjustment on a
    # linearisation design has the weighting-class variance (checked below)
    check_estimates(a, case, se=not (rate_classes and linearisation))
    if case["classes"] is not None:
        resp = a.weights_summary().response
        assert resp["n"].tolist() == np.bincount(case["classes"])[1:].tolist()
    if rate_classes:
        same = d.with_columns({"cls": np.array(case["classes"])}).adjust_nonresponse(
            "resp", by="cls")
        np.testing.assert_allclose(a.weight_values, same.weight_values, rtol=1e-12)
        np.testing.assert_allclose(ib.mean(a, "api00").se, ib.mean(same, "api00").se,
                                   rtol=1e-10)


def test_propensity_keeps_the_full_sample_total_within_classes() -> None:
    case = CASES["strat_lin_propensity_classes_mean"]
    d = propensity_design(case)
    a = d.adjust_propensity("resp", case["formula"], method="classes", class_factor="rate")
    assert a.weight_values.sum() == pytest.approx(d.weight_values.sum(), rel=1e-12)
    table = a.weights_summary().response
    resp = np.array(case["respondent"], dtype=bool)
    assert table["respondents"].sum() == resp.sum()
    np.testing.assert_allclose(table["factor"], 1 / table["weighted_response_rate"], rtol=1e-12)


# ----------------------------------------------------------------- collapsing
def collapse_design(case: dict) -> ib.SurveyDesign:
    return base_design(case, {"resp": np.array(case["respondent"], dtype=bool),
                              "band": np.array(case["band"])})


@pytest.mark.parametrize("case_id", ids("collapse"))
def test_collapse_against_r(case_id: str) -> None:
    case = CASES[case_id]
    d = collapse_design(case)
    a = d.adjust_nonresponse("resp", by=case["by"], min_respondents=case["min_respondents"],
                             max_factor=case["max_factor"], max_weight=case["max_weight"])
    np.testing.assert_allclose(a.weight_values, case["weights"], rtol=W_RTOL, atol=1e-12)
    summary = a.weights_summary()
    # R's cells (band fastest) and the joins it made, as innobaro names them
    bands, stypes = ["b1", "b2", "b3", "b4"], ["E", "H", "M"]
    label = {i + 4 * j + 1: f"{b}|{s}" for j, s in enumerate(stypes)
             for i, b in enumerate(bands)}
    joins = summary.collapsed
    assert len(joins) == len(case["joins"])
    for (_, row), (first, other) in zip(joins.iterrows(), case["joins"], strict=True):
        assert row["class"].split(" + ")[0] == label[first]
        assert row["joined_with"].split(" + ")[0] == label[other]
    # every cell's factor is its final class's, as R's weights(nonresponse)
    resp = summary.response.set_index("cell")
    for index, factor in enumerate(case["factors"], start=1):
        assert resp.loc[label[index], "factor"] == pytest.approx(factor, rel=1e-12)
    assert "Classes collapsed" in repr(summary)


def test_collapsing_joins_a_cell_without_respondents() -> None:
    df = pd.DataFrame({"psu": range(6), "w": [10.0] * 6, "age": [1, 1, 2, 2, 3, 3],
                       "resp": [True, True, False, True, False, False]})
    d = ib.Design(df, weights="w", psu="psu")
    with pytest.raises(ib.DesignError, match=r"no respondents .* class\(es\) 3"):
        d.adjust_nonresponse("resp", by="age")
    a = d.adjust_nonresponse("resp", by="age", min_respondents=1)
    assert a.weight_values.tolist() == [10.0, 10.0, 0.0, 40.0, 0.0, 0.0]
    joins = a.weights_summary().collapsed
    assert joins[["class", "joined_with"]].values.tolist() == [["3", "2"]]
    assert "no respondents" in joins["reason"].iloc[0]
    table = a.weights_summary().response
    assert table["weighted_response_rate"].tolist() == [1.0, 0.5, 0.0]
    assert table["class"].tolist() == ["1", "2 + 3", "2 + 3"]


def test_response_rates_by_cell_without_collapsing() -> None:
    df = pd.DataFrame({"psu": range(6), "w": [1.0, 3, 2, 2, 5, 5], "g": list("aabbbb"),
                       "resp": [1, 0, 1, 1, 0, 1]})
    a = ib.Design(df, weights="w", psu="psu").adjust_nonresponse("resp", by="g")
    t = a.weights_summary().response
    assert t["response_rate"].tolist() == [0.5, 0.75]
    np.testing.assert_allclose(t["weighted_response_rate"], [0.25, 9 / 14], rtol=1e-15)
    np.testing.assert_allclose(t["factor"], [4.0, 14 / 9], rtol=1e-15)


# ------------------------------------------------------------------ bad input
@pytest.fixture
def strat() -> ib.Design:
    return build_design({"data": "apistrat", "design": CASES["strat_lin_sinh"]["design"]})


TOTALS = {"Intercept": 6194.0, "api99": 3914069.0}


def test_unreachable_totals_are_named(strat) -> None:
    with pytest.raises(ib.CalibrationError, match=r"'Intercept' \(6194; reachable"):
        strat.calibrate(TOTALS, formula="~ api99", bounds=(0.5, 0.9))
    with pytest.raises(ib.CalibrationError, match=r"'stype\[T.H\]' \(755; reachable 50 to 500"):
        strat.calibrate({"Intercept": 6194.0, "stype[T.H]": 755.0, "stype[T.M]": 1018.0},
                        formula="~ stype", bounds=(1, 10), bounds_const=True)
    rep = strat.replicate("jkn")
    lo = np.where(strat.data["stype"] == "E", 0.999, 0.5)
    with pytest.raises(ib.CalibrationError, match="cannot be met"):
        rep.calibrate(TOTALS, formula="~ api99", bounds=(lo, 1.0))


@pytest.mark.parametrize("bad,what", [(0.0, "1 row\\(s\\) are zero"),
                                      (-1.0, "1 row\\(s\\) are zero, 0 negative".replace(
                                          "1 row\\(s\\) are zero, 0", "0 row\\(s\\) are zero, 1")),
                                      (np.inf, "1 infinite")])
def test_variance_must_be_positive(strat, bad, what) -> None:
    v = strat.data["enroll"].to_numpy(dtype=float).copy()
    v[3] = bad
    with pytest.raises(ib.DesignError, match=what):
        strat.calibrate(TOTALS, formula="~ api99", variance=v)
    with pytest.raises(ib.DesignError, match=r"'api99'.*zero"):
        strat.with_columns({"api99": np.where(np.arange(strat.n) == 0, 0.0,
                                              strat.data["api99"])}).calibrate(
            {"api99": 3914069.0}, formula="~ api99 - 1", variance="api99")
    with pytest.raises(ib.MissingValueError, match="'ell2' has missing"):
        strat.with_columns({"ell2": np.where(np.arange(strat.n) == 0, np.nan, 1.0)}).calibrate(
            TOTALS, formula="~ api99", variance="ell2")
    with pytest.raises(ib.DesignError, match="shape"):
        strat.calibrate(TOTALS, formula="~ api99", variance=np.ones(7))


def test_bounds_that_cannot_be_used(strat) -> None:
    with pytest.raises(ib.DesignError, match=r"sinh.*finite bounds"):
        strat.calibrate(TOTALS, formula="~ api99", method="sinh")
    with pytest.raises(ib.DesignError, match="lower bound is above the upper bound in 100"):
        strat.calibrate(TOTALS, formula="~ api99",
                        bounds=(np.where(strat.data["stype"] == "E", 2.0, 0.5), 1.5))
    with pytest.raises(ib.DesignError, match=r"lower < 1 < upper.*200 row"):
        strat.calibrate(TOTALS, formula="~ api99", method="logit", bounds=(1.0, 2.0))
    with pytest.raises(ib.DesignError, match="'linear', 'raking', 'logit' or 'sinh'"):
        strat.calibrate(TOTALS, formula="~ api99", method="cube")


def test_aggregate_mistakes(strat) -> None:
    with pytest.raises(ib.DesignError, match="has 1 stage"):
        strat.calibrate(TOTALS, formula="~ api99", aggregate_stage=2)
    with pytest.raises(ib.DesignError, match="aggregate_index"):
        strat.replicate("jkn").calibrate(TOTALS, formula="~ api99", aggregate_stage=1)
    with pytest.raises(ib.DesignError, match="not both"):
        strat.calibrate(TOTALS, formula="~ api99", aggregate_stage=1, aggregate_index="dnum")


def test_separating_response_model_is_named(strat) -> None:
    d = strat.with_columns({"resp": (strat.data["api99"] > 650).to_numpy()})
    with pytest.raises(ib.EstimationError, match=r"separates.*'api99'"):
        d.adjust_propensity("resp", "~ api99")
    with pytest.raises(ib.EstimationError, match="separates"):
        d.replicate("jkn").adjust_propensity("resp", "~ api99")
    # a level in which everyone responded: propensity 1, a warning, weights unchanged
    d = strat.with_columns({"resp": ((strat.data["stype"] == "E")
                                     | (np.arange(strat.n) % 3 > 0)).to_numpy()})
    with pytest.warns(ib.InnobaroWarning, match="propensity of 1.*'stype"):
        a = d.adjust_propensity("resp", "~ stype")
    e = (d.data["stype"] == "E").to_numpy()
    np.testing.assert_allclose(a.weight_values[e], d.weight_values[e], rtol=1e-12)


def test_propensity_mistakes(strat) -> None:
    rng = np.random.default_rng(3)
    d = strat.with_columns({"resp": rng.random(strat.n) < 0.7, "two": np.repeat([0, 1], 100),
                            "code": np.repeat([0, 2], 100)})
    with pytest.raises(ib.DesignError, match=r"quantiles .* not distinct"):
        d.adjust_propensity("resp", "~ two", method="classes")
    with pytest.raises(ib.DesignError, match="'inverse' or 'classes'"):
        d.adjust_propensity("resp", "~ api99", method="weighting")
    with pytest.raises(ib.DesignError, match="'rate' or 'mean'"):
        d.adjust_propensity("resp", "~ api99", method="classes", class_factor="median")
    with pytest.raises(ib.DesignError, match="'code' must be boolean or 0/1"):
        d.adjust_propensity("code", "~ api99")
    with pytest.raises(ib.MissingValueError, match="missing values in 1 row"):
        d.with_columns({"z": np.where(np.arange(d.n) == 5, np.nan, 1.0)}).adjust_propensity(
            "resp", "~ api99 + z")


def test_collapse_that_cannot_be_done_is_named() -> None:
    df = pd.DataFrame({"psu": range(6), "w": [10.0] * 6, "g": list("aabbcc"),
                       "resp": [True, False, False, False, True, False]})
    d = ib.Design(df, weights="w", psu="psu")
    with pytest.raises(ib.DesignError, match=r"class a \+ b \+ c is sparse .*no adjacent"):
        d.adjust_nonresponse("resp", by="g", min_respondents=3)
