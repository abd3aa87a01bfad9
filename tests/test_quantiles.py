"""Quantile rules and interval types against R's survey package.

Reference numbers from ``tests/reference/make_quantiles.R`` (run from the
repository root: ``Rscript tests/reference/make_quantiles.R``), stored in
``tests/reference/quantiles.json``; every case is compared at rtol 1e-8:

=====================================  ==========================================
innobaro                               R
=====================================  ==========================================
quantile(qrule=, interval_type=)       ``svyquantile(qrule=, interval.type=)``,
                                       domains as svyby's subsets
=====================================  ==========================================

The discrete rules (hf1-hf4) are compared with survey's rule wrapped to give
the smallest value below its weight share (innobaro's documented difference).
The score interval (survey's ffullerCI) is R's root for root: the same uniroot
steps, read back at the same unweighted share. Then the score interval's
level, the root-finder against scipy's brentq, and bad input.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _harness import close, hypothesis_case_design, load
from scipy import optimize, stats

import innobaro as ib

RTOL = 1e-8


def _cases() -> list[dict]:
    return [c for c in load("quantiles")["cases"] if c["kind"] == "quantile"]


@pytest.mark.parametrize("case", _cases(), ids=[c["id"] for c in _cases()])
def test_quantile_against_r(case: dict) -> None:
    d = hypothesis_case_design(case)
    call, res = case["call"], case["result"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ib.InnobaroWarning)
        est = ib.quantile(d, call["y"], call["q"], by=call.get("by"), level=call["level"],
                          qrule=call["qrule"], interval_type=call["interval_type"])
    if call.get("by"):
        domains = est.estimate.index.get_level_values(0).astype(str).tolist()
        P = len(call["q"])
        assert domains == [dom for dom in res["domains"] for _ in range(P)]
    ci = est.ci(call["level"])
    close("estimate", est.estimate.to_numpy(), np.array(res["estimate"]), RTOL)
    close("se", est.se.to_numpy(), np.array(res["se"]), RTOL)
    close("lower", ci.iloc[:, 0].to_numpy(), np.array(res["lower"]), RTOL)
    close("upper", ci.iloc[:, 1].to_numpy(), np.array(res["upper"]), RTOL)
    df = np.broadcast_to(np.asarray(est.df, dtype=float), est.estimate.shape)
    close("df", df, np.repeat(res["df"], len(call["q"])), RTOL)


def _api() -> ib.Design:
    data = pd.read_csv(Path(__file__).parent / "reference" / "data" / "apistrat.csv")
    return ib.Design(data, weights="pw", strata="stype", fpc="fpc")


def _small() -> ib.Design:
    df = pd.DataFrame({"psu": range(10), "w": [1.0] * 10, "y": range(10)})
    return ib.Design(df, weights="w", psu="psu")


@pytest.mark.parametrize("qrule", ["hf10", "type7", ""])
def test_unknown_rule_is_an_error(qrule: str) -> None:
    with pytest.raises(ib.EstimationError, match="qrule"):
        ib.quantile(_small(), "y", 0.5, qrule=qrule)


def test_unknown_interval_is_an_error() -> None:
    with pytest.raises(ib.EstimationError, match="interval_type"):
        ib.quantile(_small(), "y", 0.5, interval_type="Wald")


def test_score_interval_needs_linearisation_design() -> None:
    with pytest.raises(ib.EstimationError, match="linearisation"):
        ib.quantile(_small().replicate("jk1"), "y", 0.5, interval_type="score")


def test_score_interval_is_at_its_level_only() -> None:
    est = ib.quantile(_api(), "api00", 0.5, interval_type="score")
    assert est.ci().equals(est.ci(0.95))
    with pytest.raises(ib.EstimationError, match=r"level=0\.9"):
        est.ci(0.9)
    with pytest.raises(ib.EstimationError, match="degrees of freedom"):
        est.ci(df=float("inf"))
    # the standard error is the interval's width over 2 t, as R's
    t = stats.t.ppf(0.975, est.df)
    lo, hi = est.ci().iloc[0]
    assert est.se.iloc[0] == pytest.approx((hi - lo) / (2 * t), rel=1e-12)


def test_score_interval_without_a_sign_change_is_named() -> None:
    with pytest.raises(ib.EstimationError, match=r"api00\[0.01\].*score test"):
        ib.quantile(_api(), "api00", 0.01, interval_type="score")


def _score_design(rng: np.random.Generator, lonely: str, fpc: bool) -> ib.Design:
    # strata of 1 to 5 PSUs (a lonely one), integer values (ties), some zero weights
    sizes = [1, 6, 4, 8, 5]
    rows = []
    for h, k in enumerate(sizes):
        for u in range(k):
            m = int(rng.integers(10, 30))
            rows.append(pd.DataFrame({"h": h, "u": f"{h}-{u}", "N": 3 * k + 1,
                                      "y": rng.integers(0, 60, m).astype(float),
                                      "x": rng.normal(size=m),
                                      "g": rng.choice(["a", "b", "c"], m),
                                      "w": rng.choice([0.0, 1.0, 2.5, 4.0], m,
                                                      p=[0.05, 0.35, 0.3, 0.3])}))
    df = pd.concat(rows, ignore_index=True)
    return ib.Design(df, weights="w", strata="h", psu="u", fpc="N" if fpc else None,
                     lonely_psu=lonely)


@pytest.mark.parametrize("lonely", ["adjust", "average", "remove", "certainty"])
@pytest.mark.parametrize("fpc", [False, True])
def test_score_interval_from_psu_totals_equals_the_row_pass(
        lonely: str, fpc: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """The score test from (PSU, domain) totals updated between Brent's steps
    gives the interval of the pass over every row at every step."""
    from innobaro import estimators

    rng = np.random.default_rng(17 + 2 * len(lonely) + fpc)
    d = _score_design(rng, lonely, fpc)
    calls = []
    fast_call = estimators._PSUScore.__call__

    def counted(self: object, theta: np.ndarray) -> np.ndarray:
        calls.append(1)
        return fast_call(self, theta)

    def interval(design: ib.Design, **kw: object) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ib.InnobaroWarning)
            est = ib.quantile(design, ["y", "x"], [0.3, 0.5, 0.8], interval_type="score",
                              **kw)  # type: ignore[arg-type]
        return np.column_stack([est.estimate, est.ci()])

    cases = [(d, {}), (d, {"by": "g"}), (d.subset(d.data["g"] != "c"), {"qrule": "hf7"})]
    monkeypatch.setattr(estimators._PSUScore, "__call__", counted)
    fast = [interval(des, **kw) for des, kw in cases]
    assert calls  # the totals were used
    monkeypatch.setattr(estimators._PSUScore, "build", classmethod(lambda cls, *a: None))
    rows = [interval(des, **kw) for des, kw in cases]
    for a, b in zip(fast, rows, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=0)


def test_domain_value_order_is_lexsort() -> None:
    from innobaro.estimators import domain_value_order

    rng = np.random.default_rng(5)
    for n_domains, values in [(1, 4), (1, 10**6), (3, 5), (40, 3), (7, 10**6)]:
        x = rng.integers(0, values, 500).astype(float)
        d = rng.integers(0, n_domains, 500)
        np.testing.assert_array_equal(domain_value_order(x, d, n_domains),
                                      np.lexsort((x, d)))


def test_brent_roots_as_brentq() -> None:
    from innobaro.intervals import brent_roots

    c = np.array([0.5, 2.0, 7.0])
    f = lambda x: np.cos(x) - x / c  # noqa: E731
    lo, hi = np.zeros(3), np.full(3, 8.0)
    hi = np.array([2.0, 2.0, 8.0])
    roots, evals = brent_roots(f, lo, hi, f(lo), f(hi), np.full(3, 1e-12))
    for k in range(3):
        expected = optimize.brentq(lambda x, k=k: np.cos(x) - x / c[k], lo[k], hi[k],
                                   xtol=1e-14)
        assert roots[k] == pytest.approx(expected, abs=1e-11)
    assert (evals > 0).all()


def test_replicate_interval_needs_replicate_design() -> None:
    with pytest.raises(ib.EstimationError, match="replicate"):
        ib.quantile(_small(), "y", 0.5, interval_type="quantile")


def test_discrete_rule_below_first_share_is_smallest_value() -> None:
    # the deliberate difference from survey's qs(): 0.05 is below 1/10
    for rule in ("math", "school", "hf3", "hf4"):
        assert ib.quantile(_small(), "y", 0.05, qrule=rule).estimate.iloc[0] == 0.0


# rank tests (innobaro.ranks.ranktest against R's svyranktest)

def _rank_cases() -> list[dict]:
    return [c for c in load("quantiles")["cases"] if c["kind"] == "ranktest"]


@pytest.mark.parametrize("case", _rank_cases(), ids=[c["id"] for c in _rank_cases()])
def test_ranktest_against_r(case: dict) -> None:
    d = hypothesis_case_design(case)
    call, res = case["call"], case["result"]
    r = ib.ranktest(d, call["y"], call["group"], test=call["test"])
    close("pvalue", np.array([r.pvalue]), np.array([res["pvalue"]]), RTOL)
    if "estimate" in res:
        assert r.statistic_name == "t"
        close("t", np.array([r.statistic]), np.array([res["statistic"]]), RTOL)
        close("estimate", np.array([r.estimate]), np.array([res["estimate"]]), RTOL)
        assert r.df == (1.0, res["df"])
    else:
        assert r.statistic_name == "F"
        close("chisq", np.array([r.details["chisq"]]), np.array([res["chisq"]]), RTOL)
        close("F", np.array([r.statistic]), np.array([res["chisq"] / res["ndf"]]), RTOL)
        assert r.df == (res["ndf"], res["ddf"])


def test_ranktest_unknown_test_is_an_error() -> None:
    with pytest.raises(ib.EstimationError, match="test must be"):
        ib.ranktest(_small(), "y", "psu", test="kruskal")


def test_ranktest_one_group_is_an_error() -> None:
    df = pd.DataFrame({"psu": range(6), "w": 1.0, "y": range(6), "g": "a"})
    with pytest.raises(ib.EstimationError, match="1 level"):
        ib.ranktest(ib.Design(df, weights="w", psu="psu"), "y", "g")


def test_ranktest_groups_on_replicate_design() -> None:
    # R stops here (svy.varcoef needs a linearisation design); innobaro uses the
    # replicate totals of the influence values, as R does for two groups
    df = pd.DataFrame({"psu": range(12), "w": [1.0, 2.0, 3.0] * 4,
                       "y": [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8],
                       "g": ["a", "b", "c"] * 4})
    d = ib.Design(df, weights="w", psu="psu")
    lin = ib.ranktest(d, "y", "g", test="vanderWaerden")
    rep = ib.ranktest(d.replicate("jk1"), "y", "g", test="vanderWaerden")
    assert rep.statistic_name == "F" and rep.df == (2.0, 9.0)
    # same scores and differences, only the variance differs
    pd.testing.assert_series_equal(rep.details["coefficients"], lin.details["coefficients"])
    assert np.isfinite(rep.statistic) and rep.statistic > 0
