"""Survey ordinal regression (``ib.ologit``) against R's ``svyolr``.

Numbers from ``tests/reference/make_ordinal.R`` (``tests/reference/ordinal.json``),
fitted in R with ``optim`` control ``reltol=1e-16, ndeps=1e-6`` (see the
script); compared at rtol 1e-7: slopes and cutpoints, standard errors and
covariance, residual degrees of freedom, category probabilities of new rows
with standard errors (``svycontrast`` of the fit) and the Wald F and
chi-square of a term. The cloglog case goes through the exact identity with
survey's log-log fit of the reversed outcome. Then the outcome types, the
bad-input rules, and identities for the test of proportional odds and the
predictive margins.
"""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from _harness import _data, load

import innobaro as ib
from innobaro.datasets import barometer_2020_design

META = load("ordinal")
CASES = META["cases"]
RTOL = 1e-7


def _design(case: dict) -> ib.SurveyDesign:
    """The case's design over its data plus the ordered outcome cut from a column."""
    out = case["outcome"]
    data = _data(case["data"])
    codes = np.searchsorted(np.array(out["breaks"], dtype=float),
                            data[out["column"]].to_numpy(dtype=float), side="left") + 1
    data = data.assign(**{out["name"]: codes})
    spec = case["design"]
    d = ib.Design(data, weights=spec.get("weights"), strata=spec.get("strata"),
                  psu=spec.get("psu"), fpc=spec.get("fpc"), nest=bool(spec.get("nest")))
    rep = spec.get("replicate")
    if rep:
        d = d.replicate(rep["method"])
    sub = case.get("subset")
    return d.subset(data[sub["column"]] == sub["value"]) if sub else d


@pytest.fixture(scope="module", params=CASES, ids=[c["id"] for c in CASES])
def fitted(request: pytest.FixtureRequest) -> tuple[dict, ib.OrdinalResult, np.ndarray]:
    case = request.param
    m = ib.ologit(case["formula"], _design(case), link=case["link"])
    res = case["result"]
    names = list(res["patsy_slopes"]) + list(res["cutpoints"])
    ours = list(m.params.index)
    assert sorted(ours) == sorted(names), (ours, names)
    return case, m, np.array([ours.index(n) for n in names])


def test_coefficients_and_covariance(fitted) -> None:
    case, m, o = fitted
    res = case["result"]
    np.testing.assert_allclose(m.params.to_numpy()[o], res["coef"], rtol=RTOL)
    np.testing.assert_allclose(m.bse.to_numpy()[o], res["se"], rtol=RTOL)
    V = np.array(res["vcov"])
    scale = np.sqrt(np.outer(np.diag(V), np.diag(V)))
    np.testing.assert_array_less(np.abs(m.vcov.to_numpy()[np.ix_(o, o)] - V), RTOL * scale)
    assert m.df_resid == res["df_resid"]
    assert m.levels == [int(v) for v in res["levels"]] or case["link"] == "cloglog"
    assert m.cutpoints.index.tolist() == res["cutpoints"] or case["link"] == "cloglog"


def test_predicted_probabilities(fitted) -> None:
    case, m, _ = fitted
    res = case["result"]
    pr = m.predict(pd.DataFrame(case["newdata"]), se=True)
    K = len(m.levels)
    fit = pr["fit"].to_numpy().reshape(-1, K)
    se = pr["se"].to_numpy().reshape(-1, K)
    # R's probabilities of the reversed log-log fit are 1 - F: a probability
    # of 1e-18 is exact to 1e-16 absolute only
    np.testing.assert_allclose(fit, res["predict_fit"], rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(se, res["predict_se"], rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(m.predict(pd.DataFrame(case["newdata"])).to_numpy(), fit,
                               rtol=1e-14)


TESTED = [c for c in CASES if c["result"].get("term_test")]


@pytest.mark.parametrize("case", TESTED, ids=[c["id"] for c in TESTED])
def test_term_tests(case: dict) -> None:
    m = ib.ologit(case["formula"], _design(case), link=case["link"])
    tt = case["result"]["term_test"]
    F = m.wald_test(tt["term"])
    assert F.statistic == pytest.approx(tt["F"], rel=RTOL)
    assert F.df == (float(tt["df"]), float(tt["ddf"]))
    assert F.pvalue == pytest.approx(tt["p_F"], rel=1e-6)
    chisq = m.wald_test(tt["term"], method="chisq")
    assert chisq.statistic == pytest.approx(tt["chisq"], rel=RTOL)
    assert chisq.pvalue == pytest.approx(tt["p_chisq"], rel=1e-6)


def test_deviance(fitted) -> None:
    case, m, _ = fitted
    # svyolr's deviance: -2 log likelihood over the mean weight (R's pgumbel-based
    # fits end their cumulative probabilities at +-100, not +-inf: below 1e-40)
    assert m.deviance == pytest.approx(case["result"]["deviance"], rel=RTOL)
    w = m.design.unmasked_weights[m.fit_rows]
    assert m.deviance == pytest.approx(-2 * m.loglik / np.mean(w), rel=1e-14)


ANOVA = [c for c in CASES if c["result"].get("anova")]


@pytest.mark.parametrize("case", ANOVA, ids=[c["id"] for c in ANOVA])
def test_anova_matches_r_by_hand(case: dict) -> None:
    d = _design(case)
    big = ib.ologit(case["formula"], d, link=case["link"])
    ref = case["result"]["anova"]
    small = ib.ologit(ref["small_formula"], d, link=case["link"])
    assert small.deviance == pytest.approx(ref["deviance_small"], rel=RTOL)
    for a, b in ((small, big), (big, small)):  # either order
        lrt = ib.anova(a, b)
        assert lrt.method == "lrt" and len(lrt.terms) <= len(ref["added"])
        assert lrt.statistic == pytest.approx(ref["chisq"], rel=1e-7)
        assert lrt.df == (float(ref["df"]), float(ref["ddf"]))
        np.testing.assert_allclose(lrt.lambdas, ref["lambdas"], rtol=1e-7)
        assert lrt.pvalue == pytest.approx(ref["p_F"], rel=1e-6)
        chi = ib.anova(a, b, test="Chisq")
        assert chi.statistic == lrt.statistic and np.isinf(chi.df_denom)
        assert chi.pvalue == pytest.approx(ref["p_chisq"], rel=1e-6)
        wald = ib.anova(a, b, method="Wald")
        assert wald.method == "F" and wald.df == (float(ref["df"]), float(ref["ddf"]))
        assert wald.statistic == pytest.approx(ref["wald_F"], rel=RTOL)
        assert wald.pvalue == pytest.approx(ref["p_wald_F"], rel=1e-6)
        wchi = ib.anova(a, b, method="Wald", test="Chisq")
        assert wchi.statistic == pytest.approx(ref["wald_chisq"], rel=RTOL)
        assert wchi.pvalue == pytest.approx(ref["p_wald_chisq"], rel=1e-6)
    assert big.anova(small).statistic == ib.anova(small, big).statistic


def test_anova_bad_input(baro: ib.Design) -> None:
    small = ib.ologit("promoter_leadership ~ np.log(employees)", baro)
    big = ib.ologit(FORMULA, baro)
    other = ib.ologit("promoter_leadership ~ C(sector) + centrality", baro)
    with pytest.raises(ib.EstimationError, match=r"not nested: 'np.log\(employees\)' only "
                                                 r"in the first, 'centrality' only"):
        ib.anova(big, other)
    with pytest.raises(ib.EstimationError, match="same terms"):
        ib.anova(big, big)
    with pytest.raises(ib.EstimationError, match="different links: logit and probit"):
        ib.anova(small, ib.ologit(FORMULA, baro, link="probit"))
    glm = ib.glm("innovated ~ C(sector) + np.log(employees)", baro, family="binomial")
    with pytest.raises(ib.EstimationError, match=r"same kind .* got OrdinalResult and "
                                                 r"GLMResult"):
        ib.anova(small, glm)
    with pytest.raises(ib.EstimationError, match="two ordinal models; got GLMResult"):
        small.anova(glm)  # type: ignore[arg-type]
    with pytest.raises(ib.EstimationError, match="method must be"):
        ib.anova(small, big, method="score")
    # different rows: a missing value in a term of one model only
    data = baro.data.copy()
    data.loc[data.index[:3], "centrality"] = np.nan
    d2 = ib.Design(data, weights="final_weight", strata="stratum")
    with pytest.raises(ib.EstimationError, match="different rows"):
        ib.anova(ib.ologit(FORMULA, d2), ib.ologit(FORMULA + " + centrality", d2))
    with pytest.raises(ib.EstimationError, match="different designs"):
        ib.anova(small, ib.ologit(FORMULA, barometer_2020_design()))
    # another outcome
    d3 = ib.Design(baro.data.assign(p2=baro.data["promoter_leadership"]),
                   weights="final_weight", strata="stratum")
    with pytest.raises(ib.EstimationError, match="different outcomes"):
        ib.anova(ib.ologit(FORMULA, d3), ib.ologit("p2 ~ C(sector)", d3))


def test_anova_two_categories_is_the_logit_anova(baro: ib.Design) -> None:
    # an ordinal model of a binary outcome is the logistic regression of
    # Y > 1 with the signs of the slopes turned: the same working LRT
    data = baro.data.assign(top=(baro.data["promoter_leadership"] > 4).astype(float))
    data.loc[baro.data["promoter_leadership"].isna().to_numpy(), "top"] = np.nan
    d = ib.Design(data, weights="final_weight", strata="stratum")
    big = ib.ologit("top ~ C(sector) + np.log(employees)", d)
    o = ib.anova(ib.ologit("top ~ np.log(employees)", d), big)
    g = ib.anova(ib.logit("top ~ np.log(employees)", d),
                 ib.logit("top ~ C(sector) + np.log(employees)", d))
    # svyglm scales the weights to mean 1 over all rows of the design, svyolr
    # over the rows of the fit (rows with a missing value differ): the
    # deviance difference and the design effects differ by that one factor,
    # the p-value and their ratio do not
    w = d.unmasked_weights
    factor = np.mean(w) / np.mean(w[big.fit_rows])
    assert o.statistic == pytest.approx(g.statistic * factor, rel=1e-8)
    np.testing.assert_allclose(o.lambdas, g.lambdas * factor, rtol=1e-7)
    assert o.pvalue == pytest.approx(g.pvalue, rel=1e-7)
    assert o.df == g.df


def test_blocked_fit_equals_the_unblocked_one(monkeypatch: pytest.MonkeyPatch) -> None:
    # fits of more than 65,536 rows run Newton block by block over the rows
    # (the R cases are smaller): the same estimates, covariance and tests as
    # the one-pass fit, and the same stopping
    from innobaro import ordinal

    rng = np.random.default_rng(16)
    n = 80_000
    x = rng.normal(size=(n, 2))
    g = rng.integers(0, 3, n)
    latent = x @ np.array([0.5, -0.3]) + 0.2 * g + rng.logistic(size=n)
    psu = rng.integers(0, 400, n)
    df = pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "g": g, "psu": psu,
                       "stratum": psu // 20, "w": rng.uniform(1, 5, n),
                       "y": np.digitize(latent, [-1.0, 0.0, 1.0, 2.0]) + 1})
    d = ib.Design(df, weights="w", strata="stratum", psu="psu")
    formula = "y ~ x1 + x2 + C(g)"
    blocked = ib.ologit(formula, d)
    small = ib.ologit("y ~ x1", d)
    assert ordinal._Problem(blocked._X, blocked._y, 5, "logit")._blocks
    monkeypatch.setattr(ordinal, "_ROWS_PER_BLOCK", 1 << 30)
    whole = ib.ologit(formula, d)
    assert not ordinal._Problem(whole._X, whole._y, 5, "logit")._blocks
    np.testing.assert_allclose(blocked.params.to_numpy(), whole.params.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(blocked.vcov.to_numpy(), whole.vcov.to_numpy(), rtol=1e-8)
    assert blocked.loglik == pytest.approx(whole.loglik, rel=1e-12)
    t1 = ib.anova(small, blocked)
    t2 = ib.anova(ib.ologit("y ~ x1", d), whole)
    assert t1.statistic == pytest.approx(t2.statistic, rel=1e-7)
    np.testing.assert_allclose(t1.lambdas, t2.lambdas, rtol=1e-8)


def test_large_fit_from_a_subsample_is_the_maximum(monkeypatch: pytest.MonkeyPatch) -> None:
    # more than 100,000 rows: a warm start from a subsample whose information
    # takes the first full step, then blocked Newton passes. The estimate is
    # where the score vanishes, and a fit without blocks (every step on the
    # exact information) agrees
    from innobaro import ordinal

    rng = np.random.default_rng(11)
    n = 110_000
    x = rng.normal(size=(n, 2))
    latent = x @ np.array([0.5, -0.3]) + rng.logistic(size=n)
    psu = rng.integers(0, 300, n)
    df = pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "psu": psu, "stratum": psu // 20,
                       "w": rng.uniform(1, 5, n),
                       "y": np.digitize(latent, [-1.0, 0.0, 1.0, 2.0]) + 1})
    d = ib.Design(df, weights="w", strata="stratum", psu="psu")
    m = ib.ologit("y ~ x1 + x2", d)
    prob = ordinal._Problem(m._X, m._y, 5, "logit")
    _, g, J = prob.derivatives(m.params.to_numpy()[None, :], m._w[:, None])
    assert np.max(np.abs(np.linalg.solve(J[0], g[0]))) < 1e-11
    monkeypatch.setattr(ordinal, "_ROWS_PER_BLOCK", 1 << 30)
    whole = ib.ologit("y ~ x1 + x2", d)
    np.testing.assert_allclose(whole.params.to_numpy(), m.params.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(whole.vcov.to_numpy(), m.vcov.to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(whole.influence, m.influence, rtol=1e-8,
                               atol=1e-12 * np.abs(m.influence).max())


def test_influence_values_are_the_weighted_scores_times_the_inverse_information() -> None:
    # the influence values are computed in blocks of the caller's rows
    # (no reorder): w_i u_i' J^-1 from the per-row scores, zero outside the fit
    from innobaro import ordinal

    rng = np.random.default_rng(5)
    n = 70_000
    x = rng.normal(size=(n, 2))
    latent = x @ np.array([0.5, -0.3]) + rng.logistic(size=n)
    psu = rng.integers(0, 300, n)
    df = pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "psu": psu, "stratum": psu // 20,
                       "w": rng.uniform(1, 5, n),
                       "y": np.digitize(latent, [-1.0, 0.0, 1.0, 2.0]) + 1})
    df.loc[df.index[:300], "w"] = 0.0
    d = ib.Design(df, weights="w", strata="stratum", psu="psu")
    for link in ("logit", "probit"):
        m = ib.ologit("y ~ x1 + x2", d, link=link)
        prob = ordinal._Problem(m._X, m._y, 5, link)
        S, _, J = prob.derivatives(m.params.to_numpy()[None, :], m._w[:, None], scores=True)
        assert S is not None
        z = np.zeros((n, 6))
        z[m._rows] = (m._w[:, None] * S[0]) @ np.linalg.inv(J[0])
        np.testing.assert_allclose(m.influence, z, rtol=1e-9, atol=1e-12 * np.abs(z).max())


def test_replicate_case_records_svyolrs_own_variance_nearby() -> None:
    case = next(c for c in CASES if c["design"].get("replicate"))
    m = ib.ologit(case["formula"], _design(case), link=case["link"])
    own = np.array(case["result"]["svyolr_own_vcov"])
    # svyolr's refits stop at optim's default tolerance: about 1e-4 off
    assert np.max(np.abs(m.vcov.to_numpy() - own)) < 1e-3 * np.max(np.diag(own))


# ----------------------------------------------------------------------------
# outcomes
# ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def baro() -> ib.Design:
    return barometer_2020_design()


FORMULA = "promoter_leadership ~ C(sector) + np.log(employees)"


def test_outcome_types_give_the_same_fit(baro: ib.Design) -> None:
    base = ib.ologit(FORMULA, baro)
    data = baro.data
    s = data["promoter_leadership"]
    variants = {
        "integers": s.astype("Float64"),
        "ordered": s.cat.as_ordered(),
        # SPSS value labels: categories in code order, labels as text
        "labels": s.cat.rename_categories([f"level {c}" for c in s.cat.categories]),
    }
    for name, col in variants.items():
        d = ib.Design(data.assign(promoter_leadership=col), weights="final_weight",
                      strata="stratum")
        m = ib.ologit(FORMULA, d)
        np.testing.assert_allclose(m.params.to_numpy(), base.params.to_numpy(), rtol=1e-10,
                                   err_msg=name)
        np.testing.assert_allclose(m.bse.to_numpy(), base.bse.to_numpy(), rtol=1e-10,
                                   err_msg=name)
    assert base.cutpoints.index.tolist() == ["1|2", "2|3", "3|4", "4|5", "5|6"]


def test_barometer_design_matches_the_rebuilt_one(baro: ib.Design) -> None:
    # the rebuilt design of the test above is the dataset's own
    d = ib.Design(baro.data, weights="final_weight", strata="stratum")
    np.testing.assert_allclose(ib.ologit(FORMULA, d).bse, ib.ologit(FORMULA, baro).bse,
                               rtol=1e-12)


def test_reversed_outcome_identity_of_cloglog_and_loglog(baro: ib.Design) -> None:
    data = baro.data
    s = data["promoter_leadership"]
    rev = s.cat.reorder_categories(list(s.cat.categories)[::-1])
    d2 = ib.Design(data.assign(rev=rev), weights="final_weight", strata="stratum")
    a = ib.ologit(FORMULA, baro, link="cloglog")
    b = ib.ologit(FORMULA.replace("promoter_leadership", "rev"), d2, link="loglog")
    np.testing.assert_allclose(a.slopes.to_numpy(), -b.slopes.to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(a.cutpoints.to_numpy(), -b.cutpoints.to_numpy()[::-1],
                               rtol=1e-9)


def test_two_categories_is_the_logistic_regression(baro: ib.Design) -> None:
    m = ib.ologit("innovated ~ C(sector) + free_income", baro)
    g = ib.logit("innovated ~ C(sector) + free_income", baro)
    # P(high = 0) = F(zeta - x'b): the logit's slopes are b, its intercept -zeta
    np.testing.assert_allclose(m.slopes.to_numpy(), g.params.to_numpy()[1:], rtol=1e-8)
    assert m.cutpoints.iloc[0] == pytest.approx(-g.params.iloc[0], rel=1e-8)
    np.testing.assert_allclose(m.bse.to_numpy()[:-1], g.bse.to_numpy()[1:], rtol=1e-7)
    assert m.bse.iloc[-1] == pytest.approx(g.bse.iloc[0], rel=1e-7)


# ----------------------------------------------------------------------------
# bad input
# ----------------------------------------------------------------------------
def test_strings_are_a_named_error(baro: ib.Design) -> None:
    data = baro.data.assign(txt=baro.data["promoter_leadership"].astype(str))
    d = ib.Design(data, weights="final_weight", strata="stratum")
    with pytest.raises(ib.EstimationError, match="'txt' holds strings"):
        ib.ologit("txt ~ np.log(employees)", d)


def test_one_category_is_a_named_error(baro: ib.Design) -> None:
    data = baro.data.assign(one=3)
    d = ib.Design(data, weights="final_weight", strata="stratum")
    with pytest.raises(ib.EstimationError, match=r"'one' has a single category .*\(3\)"):
        ib.ologit("one ~ np.log(employees)", d)


def test_empty_category_is_named_and_dropped(baro: ib.Design) -> None:
    s = baro.data["promoter_leadership"]
    col = s.cat.add_categories([7])
    d = ib.Design(baro.data.assign(p7=col), weights="final_weight", strata="stratum")
    with pytest.warns(ib.InnobaroWarning, match=r"categories 7 of the outcome 'p7'"):
        m = ib.ologit("p7 ~ C(sector) + np.log(employees)", d)
    np.testing.assert_allclose(m.params.to_numpy(), ib.ologit(FORMULA, baro).params.to_numpy(),
                               rtol=1e-12)


def test_separation_is_a_named_error(baro: ib.Design) -> None:
    data = baro.data.assign(high=(baro.data["employees"] > 50).astype(int))
    d = ib.Design(data, weights="final_weight", strata="stratum")
    with pytest.raises(ib.EstimationError, match=r"'high' did not converge .*"
                                                 r"'np.log\(employees\)' separates the "
                                                 r"categories up to 0 from those above"):
        ib.ologit("high ~ np.log(employees)", d)
    # a term that is 1 only in the top category: named with the split it separates
    s = baro.data["promoter_leadership"]
    top = ib.Design(baro.data.assign(top=(s.astype(float) == 6).astype(float)),
                    weights="final_weight", strata="stratum")
    with pytest.raises(ib.EstimationError, match=r"'promoter_leadership' .*'top' separates "
                                                 r"the categories up to 5 from those above"):
        ib.ologit("promoter_leadership ~ top + np.log(employees)", top)


def test_category_empty_in_a_domain_is_named(baro: ib.Design) -> None:
    s = baro.data["promoter_leadership"]
    dom = baro.subset((s != 1).to_numpy() & s.notna().to_numpy())
    with pytest.warns(ib.InnobaroWarning, match=r"categories 1 of the outcome "
                                                r"'promoter_leadership' have no rows"):
        m = ib.ologit(FORMULA, dom)
    assert m.levels == [2, 3, 4, 5, 6] and m.cutpoints.index[0] == "2|3"


def test_other_bad_input(baro: ib.Design) -> None:
    data = baro.data.assign(half=baro.data["free_income"] / 7)
    d = ib.Design(data, weights="final_weight", strata="stratum")
    with pytest.raises(ib.EstimationError, match="'half' has non-integer values"):
        ib.ologit("half ~ np.log(employees)", d)
    with pytest.raises(ib.EstimationError, match="link must be one of"):
        ib.ologit(FORMULA, baro, link="cauchit")
    with pytest.raises(ib.EstimationError, match="'nope' is not a column"):
        ib.ologit("nope ~ employees", baro)
    with pytest.raises(ib.EstimationError, match="term 'region' is not in the model"):
        ib.ologit(FORMULA, baro).wald_test("region")
    with pytest.raises(ib.EstimationError, match="odds ratios are for the logit link"):
        ib.ologit(FORMULA, baro, link="probit").odds_ratios()


def test_missing_outcome_rows_are_left_out_and_counted(baro: ib.Design) -> None:
    m = ib.ologit(FORMULA, baro)
    n_missing = int(baro.data["promoter_leadership"].isna().sum())
    assert m.n_dropped == n_missing and m.nobs == baro.n - n_missing
    assert m.spec.missing == {"promoter_leadership": n_missing}


def test_data_unchanged_and_pickles(baro: ib.Design) -> None:
    before = baro.data.copy()
    m = ib.ologit(FORMULA, baro)
    pd.testing.assert_frame_equal(baro.data, before)
    back = pickle.loads(pickle.dumps(m))
    pd.testing.assert_series_equal(back.params, m.params)


# ----------------------------------------------------------------------------
# odds ratios, proportional odds, margins
# ----------------------------------------------------------------------------
def test_odds_ratios(baro: ib.Design) -> None:
    m = ib.ologit(FORMULA, baro)
    orr = m.odds_ratios(0.9)
    ci = m.ci(0.9).iloc[:m.p]
    np.testing.assert_allclose(orr["odds_ratio"], np.exp(m.slopes), rtol=1e-15)
    np.testing.assert_allclose(orr["upper"], np.exp(ci["upper"]), rtol=1e-15)


def test_proportional_odds_splits_are_the_binary_logits(baro: ib.Design) -> None:
    m = ib.ologit("promoter_leadership ~ np.log(employees) + free_income", baro)
    t = m.proportional_odds_test()
    data = baro.data
    y = data["promoter_leadership"].astype(float)  # NaN where not asked
    for k in range(1, 6):
        # split k: P(Y <= k) = F(zeta_k - x'b_k), i.e. logit of Y > k has slopes b_k
        above = (y > k).astype(float).where(y.notna())
        d = ib.Design(data.assign(above=above), weights="final_weight",
                      strata="stratum")
        g = ib.logit("above ~ np.log(employees) + free_income", d)
        np.testing.assert_allclose(t.splits[f"{k}|{k + 1}"].to_numpy(),
                                   g.params.to_numpy()[1:], rtol=1e-8)
    assert t.df == (2.0 * 4, m.df_resid)
    assert "proportional odds" in t.title
    chisq = m.proportional_odds_test(method="chisq")
    assert chisq.statistic == pytest.approx(t.statistic * 8, rel=1e-12)
    one = m.proportional_odds_test("free_income")
    assert one.df_num == 4.0


def test_proportional_odds_two_splits_by_hand(baro: ib.Design) -> None:
    """K = 3, one slope: the statistic is (b2 - b1)^2 / var(b2 - b1), with the
    covariance of the two binary logits from their stacked influence values."""
    data = baro.data
    y = data["promoter_leadership"].astype(float).to_numpy()
    three = pd.Series(np.select([y <= 3, y <= 5], [1.0, 2.0], 3.0), index=data.index)
    three = three.where(~np.isnan(y))
    d = ib.Design(data.assign(y3=three, a1=(three > 1).astype(float).where(three.notna()),
                              a2=(three > 2).astype(float).where(three.notna())),
                  weights="final_weight", strata="stratum")
    m = ib.ologit("y3 ~ np.log(employees)", d)
    g1 = ib.logit("a1 ~ np.log(employees)", d)
    g2 = ib.logit("a2 ~ np.log(employees)", d)
    from innobaro.variance import Influence, linearized_vcov
    z = np.column_stack([g1.influence[:, 1], g2.influence[:, 1]])
    dom = np.where(d.present, 0, -1).astype(np.int64)
    V = linearized_vcov(d, Influence(values=z, domain=dom, n_domains=1))
    b = g2.params.iloc[1] - g1.params.iloc[1]
    expected = b * b / (V[0, 0] + V[1, 1] - 2 * V[0, 1])
    t = m.proportional_odds_test(method="chisq")
    assert t.statistic == pytest.approx(expected, rel=1e-7)


def test_proportional_odds_on_replicates(baro: ib.Design) -> None:
    rd = baro.replicate("bootstrap", replicates=30, seed=1)
    m = ib.ologit("promoter_leadership ~ np.log(employees)", rd)
    t = m.proportional_odds_test()
    assert np.isfinite(t.statistic) and 0 <= t.pvalue <= 1


def test_margins_are_averages_of_predictions(baro: ib.Design) -> None:
    m = ib.ologit(FORMULA, baro)
    mg = m.margins("sector", ["education", "social"])
    rows = baro.data.iloc[m.fit_rows]
    w = baro.weight_values[m.fit_rows]
    pr = m.predict(rows.assign(sector=pd.Categorical(["social"] * len(rows),
                                                     categories=rows["sector"].cat.categories)))
    np.testing.assert_allclose(mg.estimate.loc["social"].to_numpy(),
                               (w[:, None] * pr.to_numpy()).sum(axis=0) / w.sum(), rtol=1e-12)
    # the categories' shares sum to one, so their sum has no variance
    V = mg.vcov.to_numpy()
    one = np.zeros(V.shape[0])
    one[:6] = 1
    assert abs(one @ V @ one) < 1e-12 * np.trace(V)
    assert mg.kind == "margin"


def test_margins_on_replicates_match_refit_by_hand(baro: ib.Design) -> None:
    rd = baro.replicate("bootstrap", replicates=20, seed=3)
    m = ib.ologit("promoter_leadership ~ C(sector)", rd)
    mg = m.margins("sector", ["education"])
    W = rd.unmasked_replicate_weights
    T = m.refit(W)
    rows = m.fit_rows
    data = rd.data.iloc[rows]
    at = data.assign(sector=pd.Categorical(["education"] * len(rows),
                                           categories=data["sector"].cat.categories))
    reps = []
    for t in T:  # by hand, one replicate at a time
        eta = m.spec.matrix(at)[:, 1:] @ t[:4]
        cum = 1 / (1 + np.exp(-(t[4:][None, :] - eta[:, None])))
        P = np.diff(np.column_stack([np.zeros(len(eta)), cum, np.ones(len(eta))]), axis=1)
        Wf = W[rows]
        reps.append(None)
        reps[-1] = (Wf[:, len(reps) - 1][:, None] * P).sum(axis=0) / Wf[:, len(reps) - 1].sum()
    R = np.array(reps)
    dev = R - R.mean(axis=0)
    V = rd.scale * (dev * rd.rscales[:, None]).T @ dev
    np.testing.assert_allclose(mg.vcov.to_numpy(), V, rtol=1e-8)


def test_repr_and_summary(baro: ib.Design) -> None:
    m = ib.ologit(FORMULA, baro)
    text = repr(m)
    assert "logit link" in text and "1|2" in text
    assert m.summary().index.equals(m.params.index)
    assert m.coefficients.estimate.equals(m.estimate)
