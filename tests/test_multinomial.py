"""ib.mlogit: R's withReplicates over nnet::multinom on replicate designs
(tests/reference/make_multinomial.R), and identities on linearisation designs.

Tolerances: replicate designs at 1e-6 (nnet's BFGS stops within about 1e-7 of
the optimum, checked in the R script by a Newton polish; innobaro's Newton
converges to 1e-10); the two-category identity with ib.logit at 1e-8; the
linearisation covariance against a jackknife on 400 PSUs at 10% (the two
estimators agree asymptotically, not exactly).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import innobaro as ib
from tests._harness import build_design, load

CASES = load("multinomial")["cases"]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_replicates_match_r(case: dict) -> None:
    d = build_design(case)
    m = ib.mlogit(case["formula"], d, base=case["base"])
    assert m.base == case["base"] and m.categories == case["categories"]
    assert len(m.params.columns) == len(case["terms"])
    assert len(m.estimate) == len(case["coef"])
    np.testing.assert_allclose(m.estimate.to_numpy(), case["coef"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(m.vcov.to_numpy(), np.array(case["vcov"]), rtol=1e-6,
                               atol=1e-6 * np.abs(np.array(case["vcov"])).max())


ANOVA = [c for c in CASES if c.get("anova")]


@pytest.mark.parametrize("case", ANOVA, ids=[c["id"] for c in ANOVA])
def test_anova_matches_r_replicates(case: dict) -> None:
    # the working LRT and Wald test computed in make_multinomial.R from
    # multinom fits and withReplicates (survey has no multinomial anova)
    d = build_design(case)
    ref = case["anova"]
    big = ib.mlogit(case["formula"], d, base=case["base"])
    small = ib.mlogit(ref["small_formula"], d, base=case["base"])
    assert big.deviance == pytest.approx(ref["deviance_big"], rel=1e-9)
    assert small.deviance == pytest.approx(ref["deviance_small"], rel=1e-9)
    for a, b in ((small, big), (big, small)):
        lrt = ib.anova(a, b)
        assert lrt.method == "lrt" and lrt.df == (float(ref["df"]), float(ref["ddf"]))
        assert lrt.statistic == pytest.approx(ref["chisq"], rel=1e-6)
        np.testing.assert_allclose(lrt.lambdas, ref["lambdas"], rtol=1e-6)
        assert lrt.pvalue == pytest.approx(ref["p_F"], rel=1e-5)
        chi = ib.anova(a, b, test="Chisq")
        assert np.isinf(chi.df_denom) and chi.pvalue == pytest.approx(ref["p_chisq"], rel=1e-5)
        wald = ib.anova(a, b, method="Wald")
        assert wald.statistic == pytest.approx(ref["wald_F"], rel=1e-6)
        assert wald.pvalue == pytest.approx(ref["p_wald_F"], rel=1e-5)
        wchi = ib.anova(a, b, method="Wald", test="Chisq")
        assert wchi.statistic == pytest.approx(ref["wald_chisq"], rel=1e-6)
        assert wchi.pvalue == pytest.approx(ref["p_wald_chisq"], rel=1e-5)


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    rng = np.random.default_rng(20261204)
    n_psu, size = 400, 5
    psu = np.repeat(np.arange(n_psu), size)
    stratum = psu % 20
    x = rng.normal(size=psu.size) + 0.3 * rng.normal(size=n_psu)[psu]
    g = rng.choice(["a", "b", "c"], size=psu.size)
    eta = np.column_stack([np.zeros(psu.size), 0.5 + 0.8 * x, -0.3 - 0.5 * x + (g == "b")])
    p = np.exp(eta) / np.exp(eta).sum(axis=1, keepdims=True)
    u = rng.random(psu.size)[:, None]
    y = np.array(["no", "maybe", "yes"])[(u > np.cumsum(p, axis=1)).sum(axis=1)]
    w = rng.uniform(1, 4, size=psu.size)
    return pd.DataFrame({"psu": psu, "stratum": stratum, "x": x, "g": g, "y": y, "w": w,
                         "y2": np.where(y == "yes", "yes", "no"),
                         "y01": (y == "yes").astype(float)})


@pytest.fixture(scope="module")
def design(sample: pd.DataFrame) -> ib.Design:
    return ib.Design(sample, weights="w", strata="stratum", psu="psu")


def test_two_categories_is_logit(design: ib.Design) -> None:
    m = ib.mlogit("y2 ~ x + C(g)", design)
    lg = ib.logit("y01 ~ x + C(g)", design)
    assert m.base == "no" and m.categories == ["yes"]
    np.testing.assert_allclose(m.estimate.to_numpy(), lg.params.to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(m.vcov.to_numpy(), lg.vcov.to_numpy(), rtol=1e-8)
    assert m.df_resid == lg.df_resid
    t1, t2 = m.wald_test("g"), lg.wald_test("C(g)")
    assert t1.statistic == pytest.approx(t2.statistic, rel=1e-8) and t1.df == t2.df
    new = pd.DataFrame({"x": [-1.0, 0.5], "g": ["a", "c"]})
    p1, p2 = m.predict(new, se=True), lg.predict(new, se=True)
    np.testing.assert_allclose(p1[("fit", "yes")], p2["fit"], rtol=1e-8)
    np.testing.assert_allclose(p1[("se", "yes")], p2["se"], rtol=1e-7)
    np.testing.assert_allclose(p1[("se", "no")], p2["se"], rtol=1e-7)
    mg1, mg2 = m.margins("g"), lg.margins("g")
    np.testing.assert_allclose(mg1.estimate.loc["yes"].to_numpy(), mg2.estimate.to_numpy(),
                               rtol=1e-8)
    np.testing.assert_allclose(mg1.se.loc["yes"].to_numpy(), mg2.se.to_numpy(), rtol=1e-7)


def test_anova_two_categories_is_the_logit_anova(design: ib.Design) -> None:
    # same rows, weights scaled over the same rows (no missing values): equal
    for method in ("LRT", "Wald"):
        m = ib.anova(ib.mlogit("y2 ~ x", design), ib.mlogit("y2 ~ x + C(g)", design),
                     method=method)
        g = ib.anova(ib.logit("y01 ~ x", design), ib.logit("y01 ~ x + C(g)", design),
                     method=method)
        assert m.statistic == pytest.approx(g.statistic, rel=1e-8)
        assert m.pvalue == pytest.approx(g.pvalue, rel=1e-7) and m.df == g.df
        if method == "LRT":
            np.testing.assert_allclose(m.lambdas, g.lambdas, rtol=1e-7)


def test_anova_linearisation_agrees_with_jackknife(design: ib.Design) -> None:
    # the working LRT's design effects from the sandwich and from a jackknife
    # on 400 PSUs: the same deviance difference, eigenvalues within 15%
    lin = ib.anova(ib.mlogit("y ~ x", design), ib.mlogit("y ~ x + C(g)", design))
    jd = design.replicate("jkn")
    jk = ib.anova(ib.mlogit("y ~ x", jd), ib.mlogit("y ~ x + C(g)", jd))
    assert jk.statistic == pytest.approx(lin.statistic, rel=1e-9)
    np.testing.assert_allclose(jk.lambdas, lin.lambdas, rtol=0.15)
    assert lin.df_num == 4 and lin.pvalue < 0.05


def test_anova_bad_input(design: ib.Design, sample: pd.DataFrame) -> None:
    a, b = ib.mlogit("y ~ x", design), ib.mlogit("y ~ C(g)", design)
    with pytest.raises(ib.EstimationError, match=r"multinomial models are not nested: 'x' "
                                                 r"only in the first, 'C\(g\)' only"):
        ib.anova(a, b)
    with pytest.raises(ib.EstimationError, match="same terms"):
        ib.anova(a, ib.mlogit("y ~ x", design))
    with pytest.raises(ib.EstimationError, match="different outcomes or bases"):
        ib.anova(a, ib.mlogit("y ~ x + C(g)", design, base="yes"))
    with pytest.raises(ib.EstimationError, match="got MLogitResult and GLMResult"):
        ib.anova(a, ib.logit("y01 ~ x", design))
    with pytest.raises(ib.EstimationError, match="two multinomial models; got str"):
        a.anova("model")  # type: ignore[arg-type]
    with pytest.raises(ib.EstimationError, match="test must be"):
        ib.anova(a, ib.mlogit("y ~ x + C(g)", design), test="t")
    df = sample.assign(x2=(sample["x"] ** 2).where(sample.index > 2))
    d2 = ib.Design(df, weights="w", strata="stratum", psu="psu")
    with pytest.raises(ib.EstimationError, match="different rows"):
        ib.anova(ib.mlogit("y ~ x", d2), ib.mlogit("y ~ x + x2", d2))
    with pytest.raises(ib.EstimationError, match="different designs"):
        ib.anova(a, ib.mlogit("y ~ x + C(g)", ib.Design(sample, weights="w",
                                                         strata="stratum", psu="psu")))


def test_linearisation_agrees_with_jackknife(design: ib.Design) -> None:
    m = ib.mlogit("y ~ x + C(g)", design)
    j = ib.mlogit("y ~ x + C(g)", design.replicate("jkn"))
    np.testing.assert_allclose(j.estimate.to_numpy(), m.estimate.to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(j.se.to_numpy(), m.se.to_numpy(), rtol=0.1)
    mg, mgj = m.margins("g"), j.margins("g")
    np.testing.assert_allclose(mgj.estimate.to_numpy(), mg.estimate.to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(mgj.se.to_numpy(), mg.se.to_numpy(), rtol=0.1)


def test_base_and_levels(design: ib.Design, sample: pd.DataFrame) -> None:
    m = ib.mlogit("y ~ x", design)
    assert m.levels == ["maybe", "no", "yes"]
    mb = ib.mlogit("y ~ x", design, base="no")
    assert mb.base == "no" and mb.categories == ["maybe", "yes"]
    # the log odds of maybe against yes, both ways
    a = m.params.loc["yes"] - 0
    b = mb.params.loc["yes"] - mb.params.loc["maybe"]
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=1e-7, atol=1e-9)
    # a categorical keeps its level order; an empty level is left out with a warning
    df = sample.assign(yc=pd.Categorical(sample["y"], categories=["yes", "none", "no", "maybe"]))
    with pytest.warns(ib.InnobaroWarning, match="'none' has no rows"):
        mc = ib.mlogit("yc ~ x", ib.Design(df, weights="w", strata="stratum", psu="psu"))
    assert mc.levels == ["yes", "no", "maybe"]
    assert sample.equals(sample.copy())  # not changed
    rrr = m.relative_risk_ratios()
    np.testing.assert_allclose(rrr["rrr"].to_numpy(), np.exp(m.estimate.to_numpy()))
    p = m.predict()
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert m.margins("g").estimate.groupby(level="g").sum().round(12).eq(1).all()


def test_bad_input(design: ib.Design, sample: pd.DataFrame) -> None:
    with pytest.raises(ib.EstimationError, match="base 'never' is not a category of 'y'"):
        ib.mlogit("y ~ x", design, base="never")
    with pytest.raises(ib.EstimationError, match="outcome 'nothere'"):
        ib.mlogit("nothere ~ x", design)
    one = sample.assign(c="only")
    with pytest.raises(ib.EstimationError, match="'c' has 1 category"):
        ib.mlogit("c ~ x", ib.Design(one, weights="w", strata="stratum", psu="psu"))
    with pytest.raises(ib.EstimationError, match="term 'z' is not in the model"):
        ib.mlogit("y ~ x", design).wald_test("z")
    dup = sample.assign(x2=2 * sample["x"])
    with pytest.raises(ib.EstimationError, match="'x2' are aliased"):
        ib.mlogit("y ~ x + x2", ib.Design(dup, weights="w", strata="stratum", psu="psu"))


def test_category_empty_in_a_domain_is_named(design: ib.Design, sample: pd.DataFrame) -> None:
    dom = design.subset((sample["y"] != "maybe").to_numpy())
    with pytest.warns(ib.InnobaroWarning, match="outcome 'y': category 'maybe' has no rows in "
                                                "the fit and is left out"):
        m = ib.mlogit("y ~ x", dom)
    assert m.levels == ["no", "yes"]
    with pytest.raises(ib.EstimationError, match="base 'maybe' is not a category of 'y' among "
                                                 "the rows of the fit"), \
            pytest.warns(ib.InnobaroWarning, match="'maybe' has no rows"):
        ib.mlogit("y ~ x", dom, base="maybe")
    only = design.subset((sample["y"] == "yes").to_numpy())
    with pytest.raises(ib.EstimationError, match=r"'y' has 1 category among the rows of the "
                                                 r"fit \('yes'\)"), \
            pytest.warns(ib.InnobaroWarning, match="have no rows"):
        ib.mlogit("y ~ x", only)


def test_separated_category_is_named(sample: pd.DataFrame) -> None:
    # "yes" never occurs where flag is 1: that category is separated
    df = sample.assign(flag=(sample["y"] != "yes") & (sample["x"] > 0.5))
    df["flag"] = df["flag"].astype(float)
    d = ib.Design(df, weights="w", strata="stratum", psu="psu")
    with pytest.warns(ib.InnobaroWarning, match="category 'yes' is separated"):
        ib.mlogit("y ~ x + flag", d)


def test_chisq_test_and_contract(design: ib.Design) -> None:
    m = ib.mlogit("y ~ x + C(g)", design)
    f, c = m.wald_test("g"), m.wald_test(["C(g)"], method="chisq")
    assert f.df == (4.0, m.df_resid) and c.df_num == 4.0 and np.isinf(c.df_denom)
    assert c.statistic == pytest.approx(4 * f.statistic, rel=1e-12)
    one = ib.contrast(m, {"x both": {("no", "x"): 1, ("yes", "x"): -1}})
    v = m.vcov.to_numpy()
    i, k = m.estimate.index.get_loc(("no", "x")), m.estimate.index.get_loc(("yes", "x"))
    assert one.se.iloc[0] == pytest.approx(np.sqrt(v[i, i] + v[k, k] - 2 * v[i, k]), rel=1e-10)


def _large_sample(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    g = rng.integers(0, 3, n)
    latent = x @ np.array([0.5, -0.3]) + 0.2 * g + rng.logistic(size=n)
    psu = rng.integers(0, 300, n)
    return pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "g": g, "psu": psu,
                         "stratum": psu // 20, "w": rng.uniform(1, 5, n),
                         "y": np.digitize(latent + rng.normal(size=n), [-1.0, 0.3, 1.5])})


def test_large_fit_is_the_maximum_and_its_influence(monkeypatch: pytest.MonkeyPatch) -> None:
    # more than 100,000 rows: a warm start from a subsample whose Hessian takes
    # the first step, passes over blocks of rows, the influence values in
    # blocks. The estimate is where the score vanishes, the influence values
    # are w_i ((y_i - p_i) kron x_i)' H^-1 from the formula, and a fit in one
    # block of rows agrees
    from innobaro import multinomial

    df = _large_sample(120_000, 7)
    df.loc[df.index[:500], "w"] = 0.0  # rows outside the fit: zero influence
    d = ib.Design(df, weights="w", strata="stratum", psu="psu")
    m = ib.mlogit("y ~ x1 + x2 + C(g)", d)
    rows = np.flatnonzero(df["w"].to_numpy() > 0)
    names = list(m.params.columns)  # patsy's order of the columns
    assert names == ["Intercept", "C(g)[T.1]", "C(g)[T.2]", "x1", "x2"]
    X = np.column_stack([np.ones(rows.size),
                         (df["g"].to_numpy()[rows, None] == np.array([1, 2])).astype(float),
                         df[["x1", "x2"]].to_numpy()[rows]])
    w = df["w"].to_numpy()[rows]
    Y = (df["y"].to_numpy()[rows, None] == np.array([1, 2, 3])).astype(float)
    theta = m.params.to_numpy()
    eta = X @ theta.T
    P = np.exp(eta) / (1 + np.exp(eta).sum(axis=1, keepdims=True))
    R = w[:, None] * (Y - P)
    score = (R.T @ X).ravel()
    H = np.zeros((15, 15))
    for a in range(3):
        for b in range(3):
            H[a * 5:a * 5 + 5, b * 5:b * 5 + 5] = X.T @ (
                X * (w * P[:, a] * ((a == b) - P[:, b]))[:, None])
    assert np.max(np.abs(score)) < 1e-9 * np.max(np.abs(X.T @ (w[:, None] * Y)))
    S = (R[:, :, None] * X[:, None, :]).reshape(rows.size, 15)
    z = np.zeros((len(df), 15))
    z[rows] = S @ np.linalg.inv(H)
    np.testing.assert_allclose(m.influence, z, rtol=1e-9, atol=1e-12 * np.abs(z).max())
    monkeypatch.setattr(multinomial, "_ROWS", 1 << 30)
    whole = ib.mlogit("y ~ x1 + x2 + C(g)", d)
    np.testing.assert_allclose(whole.params.to_numpy(), theta, rtol=1e-10)
    np.testing.assert_allclose(whole.vcov.to_numpy(), m.vcov.to_numpy(), rtol=1e-9)
    assert whole.deviance == pytest.approx(m.deviance, rel=1e-12)
