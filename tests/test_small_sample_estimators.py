"""Bell-McCaffrey ``se=`` on quantile, var, ttest and ranktest.

References: clubSandwich's ``vcovCR(type = "CR2")``, its cluster-level
estimating functions (``form = "estfun"``) and ``coef_test(test =
"Satterthwaite")`` on the weighted lm fits behind ``var`` (svyvar's centred
products), ``ttest`` (svyttest's regressions) and ``ranktest`` (svyranktest's
regression of the rank scores), from ``estimator_cases`` of
tests/reference/make_small_sample.R, to 1e-8; for ``quantile`` the exact
identities with :func:`innobaro.proportion` of the indicator at the estimate
(its variance, Satterthwaite df and interval, read back through the rule:
Woodruff's construction); for the correlation the delta method's identity
with the covariance's corrected matrix. ``se="linearized"`` leaves the R
reference tests of these functions as they were (their own test files).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import innobaro as ib
from innobaro.errors import EstimationError, UnsupportedDesignError
from innobaro.intervals import t_quantile

REF = Path(__file__).parent / "reference"
CASES = json.loads((REF / "small_sample.json").read_text())["estimator_cases"]
BM = ("bell-mccaffrey", "bell-mccaffrey-2")


def _data(name: str) -> pd.DataFrame:
    df = pd.read_csv(REF / "data" / f"{name}.csv")
    df = df.rename(columns={"sch.wide": "sch_wide"})
    if "dom" in df:
        df["ga"] = df["dom"] == "a"  # R's I(dom == 'a')
    return df


def _check(got, want, rtol: float = 1e-8) -> None:
    got, want = np.asarray(got, float), np.asarray(want, float)
    np.testing.assert_allclose(got, want, rtol=0, atol=rtol * np.abs(want).max())


def _matrix(case: dict, key: str) -> np.ndarray:
    p = np.atleast_1d(case["coef"]).size
    return np.asarray(case[key], float).reshape(p, p)


# the response and group of each case, in innobaro's names
COLUMNS = {
    "small_sample_varsize": {"y": "y", "a": "x", "b": "y", "group": "ga", "by": "dom",
                             "group3": "dom"},
    "apiclus1": {"y": "api00", "a": "api00", "b": "api99", "group": "sch_wide",
                 "group3": "stype"},
}


@pytest.mark.parametrize("name", list(CASES))
def test_agrees_with_clubsandwich(name: str) -> None:
    case = CASES[name]
    df = _data(case["data"])
    design = ib.Design(df, psu=case["design"]["psu"], weights=case["design"]["weights"])
    cols = COLUMNS[case["data"]]
    coef, df_satt = np.atleast_1d(case["coef"]), np.atleast_1d(case["df"])
    V = _matrix(case, "design_vcov")
    what = case["what"]
    if what in ("var", "var_by_dom"):
        est = ib.var(design, cols["y"], by=cols["by"] if what == "var_by_dom" else None,
                     se="bell-mccaffrey")
        _check(est.estimate, coef)
        _check(est.vcov, V)
        _check(est.df_values, df_satt)
    elif what == "cov":
        est = ib.var(design, [cols["a"], cols["b"]], statistic="covariance",
                     se="bell-mccaffrey")
        k = list(est.estimate.index).index((cols["b"], cols["a"]))
        _check(est.estimate.iloc[k], coef)
        _check(est.vcov.to_numpy()[k, k], V)
        _check(est.df_values[k], df_satt)
    elif what.startswith("ttest"):
        if what == "ttest":
            res = ib.ttest(design, cols["y"], cols["group"], se="bell-mccaffrey")
            j = 1
        elif what == "ttest_one":
            res = ib.ttest(design, "api00", mu=600, se="bell-mccaffrey")
            j = 0
        else:
            res = ib.ttest(design, "api00", paired="api99", se="bell-mccaffrey")
            j = 0
        _check(res.estimate, coef[j])
        _check(res.se ** 2, V[j, j])
        _check(res.df[1], df_satt[j])
        t = coef[j] / np.sqrt(V[j, j])
        _check(res.statistic, t)
        _check(res.pvalue, 2 * stats.t.sf(abs(t), df_satt[j]), 1e-7)
    else:  # ranktest
        k = len(coef)
        group = cols["group"] if k == 2 else cols["group3"]
        res = ib.ranktest(design, cols["y"], group, test=case["statistic"],
                          se="bell-mccaffrey")
        if k == 2:
            _check(res.estimate, coef[1])
            _check(res.se ** 2, V[1, 1])
            _check(res.df[1], df_satt[1])
        else:
            beta = coef[1:]
            Vb = V[1:, 1:]
            _check(res.details["coefficients"], beta)
            _check(res.details["vcov"], Vb)
            assert res.df == (k - 1.0, pytest.approx(df_satt[1:].min(), rel=1e-8))
            _check(res.details["chisq"], beta @ np.linalg.solve(Vb, beta))


# --------------------------------------------------------------------------
# quantile: the identity with proportion() of the indicator at the estimate
# --------------------------------------------------------------------------
def _varsize() -> tuple[pd.DataFrame, ib.Design]:
    df = _data("small_sample_varsize")
    return df, ib.Design(df, psu="cl", weights="w")


def _hf1(x: np.ndarray, w: np.ndarray, p: float) -> float:
    """The weighted quantile min{x : F(x) >= p} (qrule "math")."""
    order = np.argsort(x, kind="stable")
    cum = np.cumsum(w[order]) / w.sum()
    return float(x[order][min(np.searchsorted(cum, p, side="left"), x.size - 1)])


@pytest.mark.parametrize("se", BM)
@pytest.mark.parametrize("interval_type", ["mean", "beta", "xlogit", "asin"])
def test_quantile_is_woodruff_on_the_corrected_proportion(interval_type: str, se: str) -> None:
    df, design = _varsize()
    probs = [0.25, 0.5, 0.75]
    est = ib.quantile(design, "y", probs, by="dom", interval_type=interval_type, se=se)
    lin = ib.quantile(design, "y", probs, by="dom", interval_type=interval_type)
    np.testing.assert_array_equal(est.estimate, lin.estimate)
    ci = est.ci().to_numpy()
    for k, dom in enumerate(est.estimate.index.get_level_values("dom")):
        qhat = float(est.estimate.iloc[k])
        ind = df.assign(ind=(df.y <= qhat).astype(int))
        prop = ib.proportion(ib.Design(ind, psu="cl", weights="w"), "ind", by="dom",
                             method=interval_type, se=se)
        row = list(prop.estimate.index).index((dom, "ind"))
        # the Satterthwaite df of the CDF at the quantile are the quantile's
        assert est.df_values[k] == pytest.approx(prop.df_values[row], rel=1e-12)
        mean = ib.mean(ib.Design(ind, psu="cl", weights="w"), "ind", by="dom", se=se)
        assert mean.df_values[row] == pytest.approx(est.df_values[k], rel=1e-12)
        # the interval: the proportion's interval read back through the rule
        p_lo, p_hi = np.clip(prop.ci().to_numpy()[row], 0.0, 1.0)
        sub = df[df.dom == dom]
        x, w = sub.y.to_numpy(), sub.w.to_numpy()
        lo, hi = _hf1(x, w, p_lo), _hf1(x, w, p_hi)
        assert ci[k, 0] == lo and ci[k, 1] == hi
        # the standard error is the interval's width over 2 t (R's svyquantile)
        t = t_quantile(0.95, est.df_values[k])
        assert est.se.iloc[k] == pytest.approx((hi - lo) / (2 * t), rel=1e-10)


@pytest.mark.parametrize("se", BM)
def test_quantile_score_interval_takes_the_corrected_variance(se: str) -> None:
    _, design = _varsize()
    est = ib.quantile(design, "y", [0.25, 0.5], interval_type="score", se=se)
    lin = ib.quantile(design, "y", [0.25, 0.5], interval_type="score")
    wood = ib.quantile(design, "y", [0.25, 0.5], se=se)
    # the df are the Satterthwaite ones of the CDF at the estimate
    np.testing.assert_allclose(est.df_values, wood.df_values, rtol=1e-12)
    assert (est.df_values < lin.df_values).all()
    # the test inverted against larger variances and t quantiles: wider
    lo_b, hi_b = est.ci().to_numpy().T
    lo_l, hi_l = lin.ci().to_numpy().T
    assert (lo_b <= lo_l).all() and (hi_b >= hi_l).all() and ((hi_b - lo_b) > (hi_l - lo_l)).any()
    with pytest.raises(EstimationError, match="computed at level"):
        est.ci(0.9)


def test_quantile_se_linearized_is_the_default() -> None:
    _, design = _varsize()
    for it in ("mean", "beta", "score"):
        a = ib.quantile(design, "y", [0.3, 0.6], by="dom", interval_type=it)
        b = ib.quantile(design, "y", [0.3, 0.6], by="dom", interval_type=it,
                        se="linearized")
        pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())


# --------------------------------------------------------------------------
# var: the correlation is the delta method on the corrected covariance
# --------------------------------------------------------------------------
@pytest.mark.parametrize("se", BM)
def test_correlation_is_the_delta_method_of_the_corrected_covariance(se: str) -> None:
    _, design = _varsize()
    cov = ib.var(design, ["x", "y"], statistic="covariance", se=se)
    cor = ib.var(design, ["x", "y"], statistic="correlation", se=se)
    C = cov.estimate.to_numpy()  # (xx, yx, xy, yy)
    r = C[1] / np.sqrt(C[0] * C[3])
    assert cor.estimate.iloc[1] == pytest.approx(r, rel=1e-12)
    grad = np.array([-r / (2 * C[0]), 1 / np.sqrt(C[0] * C[3]), 0.0, -r / (2 * C[3])])
    assert cor.vcov.to_numpy()[1, 1] == pytest.approx(grad @ cov.vcov.to_numpy() @ grad,
                                                      rel=1e-10)
    assert cor.se.iloc[0] == 0 and np.isfinite(cor.df_values).all()
    lin = ib.var(design, ["x", "y"], statistic="correlation")
    assert cor.df_values[1] < lin.df_values[1]
    if se == "bell-mccaffrey":  # independence: the df depend on the design only
        np.testing.assert_allclose(cor.df_values, cov.df_values, rtol=1e-12)


@pytest.mark.parametrize("se", BM)
def test_var_by_domain_matches_mean_of_the_products(se: str) -> None:
    """ib.var's entry is ib.mean of its products (held-fixed centring)."""
    df, design = _varsize()
    est = ib.var(design, "y", by="dom", se=se)
    u = np.empty(len(df))
    for d in ("a", "b", "c"):
        i = (df.dom == d).to_numpy()
        w, y = df.w.to_numpy()[i], df.y.to_numpy()[i]
        n = i.sum()
        u[i] = n / (n - 1) * (y - np.average(y, weights=w)) ** 2
    m = ib.mean(ib.Design(df.assign(u=u), psu="cl", weights="w"), "u", by="dom", se=se)
    np.testing.assert_allclose(est.estimate, m.estimate, rtol=1e-12)
    np.testing.assert_allclose(est.vcov, m.vcov, rtol=1e-10)
    np.testing.assert_allclose(est.df_values, m.df_values, rtol=1e-10)


# --------------------------------------------------------------------------
# ttest and ranktest: the glm path
# --------------------------------------------------------------------------
@pytest.mark.parametrize("se", BM)
def test_ttest_is_the_corrected_regression(se: str) -> None:
    df, design = _varsize()
    res = ib.ttest(design, "y", "ga", se=se)
    fit = ib.glm("y ~ ga", design.with_columns({"ga": df.ga.astype(float)}), se=se)
    assert res.estimate == pytest.approx(fit.params.iloc[1], rel=1e-12)
    assert res.se == pytest.approx(fit.bse.iloc[1], rel=1e-10)
    assert res.df[1] >= fit.df_resid - 1e-9  # glm's is the smallest coefficient df
    one = ib.ttest(design, "y", mu=2, se=se)
    m = ib.mean(design, "y", se=se)
    assert one.se == pytest.approx(m.se.iloc[0], rel=1e-12)
    assert one.df[1] == pytest.approx(m.df_values[0], rel=1e-12)
    assert res.details["se_method"] == se


@pytest.mark.parametrize("se", BM)
def test_ranktest_two_groups_is_the_corrected_ttest_of_the_scores(se: str) -> None:
    df, design = _varsize()
    res = ib.ranktest(design, "y", "ga", test="median", se=se)
    lin = ib.ranktest(design, "y", "ga", test="median")
    assert res.estimate == lin.estimate
    # the same regression as ttest's: the scores held fixed
    n = len(df)
    order = np.argsort(df.y.to_numpy(), kind="stable")
    w = df.w.to_numpy()
    cum = np.cumsum(w[order]) - w[order] / 2
    ys = df.y.to_numpy()[order]
    rank = np.empty(n)
    rank[order] = pd.Series(cum).groupby(ys).transform("mean").to_numpy()
    scored = design.with_columns({"score": (rank > w.sum() / 2).astype(float)})
    t = ib.ttest(scored, "score", "ga", se=se)
    assert res.estimate == pytest.approx(t.estimate, rel=1e-12)
    assert res.se == pytest.approx(t.se, rel=1e-10)
    assert res.df[1] == pytest.approx(t.df[1], rel=1e-10)
    three = ib.ranktest(design, "y", "dom", se=se)
    assert 0 < three.df[1] < ib.ranktest(design, "y", "dom").df[1] + 2


def test_linearized_is_unchanged_for_tests() -> None:
    _, design = _varsize()
    for f in (lambda **k: ib.ttest(design, "y", "ga", **k),
              lambda **k: ib.ttest(design, "y", paired="x", **k),
              lambda **k: ib.ranktest(design, "y", "dom", **k)):
        a, b = f(), f(se="linearized")
        assert (a.statistic, a.df, a.pvalue) == (b.statistic, b.df, b.pvalue)
    a, b = ib.var(design, ["x", "y"], statistic="covariance"), ib.var(
        design, ["x", "y"], statistic="covariance", se="linearized")
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())


# --------------------------------------------------------------------------
# designs, errors, the user's data
# --------------------------------------------------------------------------
def test_stratified_multistage_designs_run() -> None:
    df, _ = _varsize()
    df = df.assign(stratum=df.cl % 2, ssu=np.arange(len(df)) // 2)
    design = ib.Design(df, psu=["cl", "ssu"], weights="w", strata="stratum")
    for se in BM:
        for est in (ib.quantile(design, "y", 0.5, se=se), ib.var(design, "y", se=se)):
            assert np.isfinite(est.se).all() and np.isfinite(est.df_values).all()
        assert np.isfinite(ib.ttest(design, "y", "ga", se=se).pvalue)
        assert np.isfinite(ib.ranktest(design, "y", "ga", se=se).pvalue)


def test_replicate_designs_raise_as_mean() -> None:
    df, _ = _varsize()
    rep = ib.Design(df, psu="cl", weights="w").replicate("jk1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(UnsupportedDesignError, match="linearisation design") as mean_error:
            ib.mean(rep, "y", se="bell-mccaffrey")
        calls = [lambda: ib.quantile(rep, "y", 0.5, se="bell-mccaffrey"),
                 lambda: ib.quantile(rep, "y", 0.5, interval_type="quantile",
                                     se="bell-mccaffrey-2"),
                 lambda: ib.var(rep, "y", se="bell-mccaffrey"),
                 lambda: ib.ttest(rep, "y", "ga", se="bell-mccaffrey"),
                 lambda: ib.ttest(rep, "y", se="bell-mccaffrey"),
                 lambda: ib.ranktest(rep, "y", "ga", se="bell-mccaffrey"),
                 lambda: ib.glm("y ~ ga", rep, se="bell-mccaffrey"),
                 lambda: ib.total(rep, "y", se="bell-mccaffrey-2"),
                 lambda: ib.ratio(rep, "y", "x", se="bell-mccaffrey")]
        for call in calls:
            with pytest.raises(UnsupportedDesignError, match="linearisation design") as err:
                call()
            assert type(err.value) is type(mean_error.value)
    design = ib.Design(df, psu="cl", weights="w")
    for call in (lambda: ib.quantile(design, "y", 0.5, se="CR2"),
                 lambda: ib.var(design, "y", se="CR2"),
                 lambda: ib.ttest(design, "y", "ga", se="CR2"),
                 lambda: ib.ranktest(design, "y", "ga", se="CR2")):
        with pytest.raises(EstimationError, match="se must be one of"):
            call()


def test_user_data_unchanged() -> None:
    df, design = _varsize()
    before = df.copy()
    ib.quantile(design, "y", [0.5], by="dom", interval_type="score", se="bell-mccaffrey-2")
    ib.var(design, ["x", "y"], statistic="correlation", by="dom", se="bell-mccaffrey")
    ib.ttest(design, "y", "ga", se="bell-mccaffrey-2")
    ib.ranktest(design, "y", "dom", se="bell-mccaffrey-2")
    pd.testing.assert_frame_equal(df, before)


def test_exchangeable_df_where_a_distribution_function_is_zero_or_one() -> None:
    """At q = 1 the indicator's residuals are all zero: the exchangeable model has
    nothing to estimate its correlation from, and the independence model's
    degrees of freedom (which depend on the design only) are used."""
    _, design = _varsize()
    bm2 = ib.quantile(design, "y", [0.0, 0.5, 1.0], interval_type="beta",
                      se="bell-mccaffrey-2")
    bm = ib.quantile(design, "y", [0.0, 0.5, 1.0], interval_type="beta",
                     se="bell-mccaffrey")
    assert np.isfinite(bm2.df_values).all()
    assert bm2.df_values[2] == bm.df_values[2]
    assert bm2.df_values[1] != bm.df_values[1]
    assert np.isfinite(bm2.ci().to_numpy()).all()
