"""R's remaining descriptives against R's survey package.

Reference numbers from ``tests/reference/make_descriptives.R`` (run from the
repository root: ``Rscript tests/reference/make_descriptives.R``), stored in
``tests/reference/descriptives.json``; every case is compared at rtol 1e-8:

==================  =============================================  ====================
innobaro            R                                              compared
==================  =============================================  ====================
var                 ``svyvar`` (one variable, matrices), ``svyby``  estimate, se, vcov
var(correlation)    delta method on ``svyvar``'s covariance;        estimate, se, vcov
                    ``svrVar`` of svyvar's replicates
ttest(mu=, paired=) ``svyttest(I(y - mu) ~ 0)``,                    t, df, p, estimate,
                    ``svyttest(I(y1 - y2) ~ 0)``                    interval
goodness_of_fit     ``svygofchisq``                                 X^2, scale, df, p,
                                                                    eigenvalues
standardize         ``svystandardize`` + ``svymean``/``svyby``      estimate, se (vcov)
design_effects      ``svymean(deff = TRUE)``; meff against          deff, deft, meff,
                    ``svydesign(ids = ~1, weights =)``              meft
==================  =============================================  ====================

Then the misspecification effect against its formula, and bad input.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from _harness import close, hypothesis_case_design, load

import innobaro as ib

RTOL = 1e-8


def _cases(kind: str) -> list[dict]:
    return [c for c in load("descriptives")["cases"] if c["kind"] == kind]


def _ids(kind: str) -> list[str]:
    return [c["id"] for c in _cases(kind)]


def _arr(v) -> np.ndarray:
    return np.array([np.nan if x is None else x for x in np.atleast_1d(v)], dtype=float)


@pytest.mark.parametrize("case", _cases("var"), ids=_ids("var"))
def test_var_against_r(case: dict) -> None:
    d = hypothesis_case_design(case)
    call, res = case["call"], case["result"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ib.InnobaroWarning)
        est = ib.var(d, call["y"], by=call.get("by"), statistic=call["statistic"],
                     na_rm=call["na_rm"])
    close("estimate", est.estimate.to_numpy(), _arr(res["estimate"]), RTOL)
    close("se", est.se.to_numpy(), _arr(res["se"]), RTOL)
    if res.get("vcov") is not None:
        close("vcov", est.vcov.to_numpy(), np.array(res["vcov"], dtype=float).reshape(
            len(est), len(est)), RTOL)
    if res.get("df") is not None:
        assert est.df == res["df"]
    if res.get("domains") is not None:
        by = call["by"][0]
        got = [str(v) for v in est.estimate.index.get_level_values(by).unique()]
        assert got == res["domains"]


@pytest.mark.parametrize("case", _cases("ttest"), ids=_ids("ttest"))
def test_ttest_one_sample_and_paired_against_r(case: dict) -> None:
    d = hypothesis_case_design(case)
    call, res = case["call"], case["result"]
    out = ib.ttest(d, call["y"], mu=call["mu"], paired=call.get("paired"),
                   na_rm=call["na_rm"])
    close("t", out.statistic, res["statistic"], RTOL)
    assert out.df_denom == res["df"]
    close("p", out.pvalue, res["p_value"], RTOL)
    close("estimate", out.estimate, res["estimate"], RTOL)
    close("interval", np.array(out.ci()), np.array([res["lower"], res["upper"]]), RTOL)


@pytest.mark.parametrize("case", _cases("gof"), ids=_ids("gof"))
def test_goodness_of_fit_against_r(case: dict) -> None:
    d = hypothesis_case_design(case)
    call, res = case["call"], case["result"]
    out = ib.goodness_of_fit(d, call["y"], call["p"])
    close("X2", out.statistic, res["statistic"], RTOL)
    close("scale", out.details["scale"], res["scale"], 1e-7)
    close("df", out.df_num, res["df"], 1e-7)
    close("p", out.pvalue, res["p_value"], 1e-7)
    close("totals", out.details["totals"].to_numpy(), _arr(res["totals"]), RTOL)
    lam, theirs = out.details["lambda"], _arr(res["lambda"])
    big = np.abs(theirs) > 1e-8 * np.abs(theirs).max()  # the zero one is rounding noise
    close("lambda", lam[big], theirs[big], 1e-7)
    assert [str(v) for v in out.details["totals"].index] == res["levels"]
    # a dict keyed by level is the same test as the shares in level order
    by_key = ib.goodness_of_fit(d, call["y"], dict(zip(out.details["totals"].index,
                                                       call["p"], strict=True)))
    assert by_key.statistic == out.statistic and by_key.pvalue == out.pvalue


@pytest.mark.parametrize("case", _cases("standardize"), ids=_ids("standardize"))
def test_standardize_against_r(case: dict) -> None:
    d = hypothesis_case_design(case)
    call, res = case["call"], case["result"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ib.InnobaroWarning)
        std = ib.standardize(d, call["by"], call["population"], over=call.get("over"))
        est = ib.mean(std, call["y"], by=call.get("over"))
    close("estimate", est.estimate.to_numpy(), _arr(res["estimate"]), RTOL)
    close("se", est.se.to_numpy(), _arr(res["se"]), RTOL)
    if res.get("vcov") is not None:
        close("vcov", est.vcov.to_numpy(), np.array(res["vcov"], dtype=float).reshape(
            len(est), len(est)), RTOL)


@pytest.mark.parametrize("case", _cases("effects"), ids=_ids("effects"))
def test_design_effects_against_r(case: dict) -> None:
    d = hypothesis_case_design(case)
    call, res = case["call"], case["result"]
    fn = {"mean": ib.mean, "total": ib.total}[call["fn"]]
    out = ib.design_effects(d, fn, call["y"], by=call.get("by"))
    close("estimate", out["estimate"].to_numpy(), _arr(res["estimate"]), RTOL)
    for col in ("deff", "deft", "meff", "meft"):
        close(col, out[col].to_numpy(), _arr(res[col]), RTOL)
    est = fn(d, call["y"], by=call.get("by"))
    close("Estimate.deft", est.deft.to_numpy(), _arr(res["deft"]), RTOL)


# ---------------------------------------------------------------------------
# formulas R does not give directly
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def barometer() -> ib.Design:
    from innobaro.datasets import barometer_design

    return barometer_design()


def test_meff_is_the_with_replacement_variance_of_the_influence_values(barometer) -> None:
    """Stata's V_msp for a mean: n/(n-1) sum (z_i - zbar)^2 over the n rows, with
    z_i = w_i d_i (y_i - ybar_d)/N_d (d_i the domain indicator)."""
    data = barometer.data
    w = barometer.weights.to_numpy()
    y = data["employees"].to_numpy(dtype=float)
    out = ib.design_effects(barometer, ib.mean, "employees", by="sector")
    V = ib.mean(barometer, "employees", by="sector").se.to_numpy() ** 2
    n = len(y)
    expected = []
    for level in out.index.get_level_values("sector"):  # a few domains
        dom = (data["sector"] == level).to_numpy()
        N = w[dom].sum()
        ybar = (w * y)[dom].sum() / N
        z = np.where(dom, w * (y - ybar) / N, 0.0)
        expected.append(n / (n - 1) * ((z - z.mean()) ** 2).sum())
    np.testing.assert_allclose(out["meff"].to_numpy(), V / np.array(expected), rtol=1e-10)
    np.testing.assert_allclose(out["meft"] ** 2, out["meff"], rtol=1e-12)


def test_var_of_one_column_is_the_diagonal_of_the_covariance(barometer) -> None:
    v = ib.var(barometer, ["employees", "innovated"])
    c = ib.var(barometer, ["employees", "innovated"], statistic="covariance")
    diag = c.estimate.loc[[("employees", "employees"), ("innovated", "innovated")]]
    np.testing.assert_allclose(v.estimate.to_numpy(), diag.to_numpy(), rtol=1e-14)
    np.testing.assert_allclose(v.se.to_numpy(), c.se.loc[diag.index].to_numpy(), rtol=1e-12)
    mat = c.estimate.unstack()
    np.testing.assert_allclose(mat.to_numpy(), mat.to_numpy().T, rtol=1e-14)


def test_correlation_on_replicates_matches_the_delta_method_to_first_order(barometer
                                                                          ) -> None:
    lin = ib.var(barometer, ["employees", "innovated"], statistic="correlation")
    rep = ib.var(barometer.replicate("jkn"), ["employees", "innovated"],
                 statistic="correlation")
    np.testing.assert_allclose(rep.estimate.to_numpy(), lin.estimate.to_numpy(), rtol=1e-12)
    off = lin.se.to_numpy() > 0
    np.testing.assert_allclose(rep.se.to_numpy()[off], lin.se.to_numpy()[off], rtol=0.1)
    assert (lin.se.to_numpy()[~off] == 0).all()


def test_paired_ttest_is_the_one_sample_test_of_the_differences(barometer) -> None:
    d = barometer.with_columns(diff=barometer.data["employees"] - 10.0)
    a = ib.ttest(d, "diff")
    b = ib.ttest(barometer, "employees", mu=10)
    c = ib.ttest(barometer.with_columns(ten=10.0), "employees", paired="ten")
    assert a.statistic == pytest.approx(b.statistic, rel=1e-12)
    assert c.statistic == pytest.approx(b.statistic, rel=1e-12)
    assert b.details["mean"] == pytest.approx(ib.mean(barometer, "employees").estimate.iloc[0])
    assert b.df_denom == barometer.df - 1


def test_standardize_gives_the_weighted_average_of_cell_means(barometer) -> None:
    levels = list(barometer.data["employee_class"].cat.categories)
    pop = {lev: k + 1.0 for k, lev in enumerate(levels)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ib.InnobaroWarning)  # an empty cell, if any
        std = ib.standardize(barometer, "employee_class", pop, over="region")
    got = ib.mean(std, "innovated", by="region").estimate
    cells = ib.mean(barometer, "innovated", by=["region", "employee_class"]).estimate
    shares = pd.Series(pop) / sum(pop.values())
    for region in got.index.get_level_values("region"):
        sub = cells.xs(region, level="region").droplevel("variable")
        assert len(sub) == len(levels)  # every cell has a sample here
        assert got.xs(region, level="region").iloc[0] == pytest.approx(
            (sub * shares[sub.index]).sum(), rel=1e-10)


# ---------------------------------------------------------------------------
# bad input, named
# ---------------------------------------------------------------------------
def test_bad_input_is_named(barometer) -> None:
    with pytest.raises(ib.EstimationError, match="statistic must be one of"):
        ib.var(barometer, "employees", statistic="cor")
    with pytest.raises(ib.EstimationError, match="'sector' must be numeric"):
        ib.var(barometer, "sector")
    with pytest.raises(ib.EstimationError, match=r"either group .* or paired"):
        ib.ttest(barometer, "employees", "sector", paired="employees")
    with pytest.raises(ib.EstimationError, match="mu=3 is the null value"):
        ib.ttest(barometer, "employees", "sector", mu=3)
    with pytest.raises(ib.EstimationError, match="same column 'employees'"):
        ib.ttest(barometer, "employees", paired="employees")
    with pytest.raises(ib.EstimationError, match="p has 2 share"):
        ib.goodness_of_fit(barometer, "region", [0.5, 0.5])
    levels = list(barometer.data["region"].cat.categories)
    with pytest.raises(ib.EstimationError, match=f"share of level {levels[0]!r}"):
        ib.goodness_of_fit(barometer, "region", [0.0] + [1.0] * (len(levels) - 1))
    with pytest.raises(ib.EstimationError, match=f"missing {levels[0]!r}; not levels: "
                                                 f"'nowhere'"):
        ib.standardize(barometer, "region", {**{lev: 1 for lev in levels[1:]},
                                             "nowhere": 1})
    with pytest.raises(TypeError, match="innobaro estimator"):
        ib.design_effects(barometer, "mean", "employees")


def test_missing_values_are_named_unless_na_rm() -> None:
    df = pd.DataFrame({"psu": range(8), "y": [1.0, 2, np.nan, 4, 5, 7, 6, 9],
                       "x": [2.0, 1, 3, 5, 4, 6, 8, 7]})
    d = ib.Design(df, psu="psu")
    with pytest.raises(ib.MissingValueError, match="'y' \\(1 missing\\)"):
        ib.var(d, ["x", "y"], statistic="covariance")
    with pytest.raises(ib.MissingValueError, match="'y' \\(1 missing\\)"):
        ib.ttest(d, "x", paired="y")
    full = ib.var(d, ["x", "y"], statistic="covariance", na_rm=True)
    assert np.isfinite(full.se.to_numpy()).all()
    assert not math.isnan(ib.ttest(d, "x", paired="y", na_rm=True).statistic)


def test_a_one_row_domain_has_a_nan_variance_and_a_named_warning() -> None:
    df = pd.DataFrame({"psu": range(6), "g": ["a"] * 5 + ["b"],
                       "y": [1.0, 2, 4, 3, 5, 7]})
    with pytest.warns(ib.InnobaroWarning, match="domain g=b has a single row"):
        est = ib.var(ib.Design(df, psu="psu"), "y", by="g")
    assert np.isnan(est.estimate.iloc[1]) and np.isnan(est.se.iloc[1])
    assert est.estimate.iloc[0] == pytest.approx(np.var([1.0, 2, 4, 3, 5], ddof=1))
