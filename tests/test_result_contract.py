"""The result contract (docs/guide/results.md): every result type, one test.

Estimate-like results share ``estimate``, ``se``, ``vcov``, ``df``,
``level``, ``interval_method``, ``ci()``, ``conf_int()`` and ``to_frame()``;
test-like results share ``statistic``, ``pvalue`` (and ``p_value``), ``df`` as
``(df_num, df_denom)``, ``method``, ``title``, ``to_frame()`` and unpack as
``statistic, pvalue``. A public result type that is in neither list fails
``test_every_public_result_type_is_held_to_the_contract``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

import innobaro as ib
from innobaro.datasets import barometer_2020_design, barometer_design


@pytest.fixture(scope="module")
def design() -> ib.Design:
    return barometer_design()


@pytest.fixture(scope="module")
def model(design: ib.Design) -> ib.GLMResult:
    return ib.logit("innovated ~ C(sector) + np.log(employees)", design)


ESTIMATES: dict[str, Callable] = {
    "mean": lambda d, m: ib.mean(d, "employees", by="sector"),
    "total": lambda d, m: ib.total(d, "innovated"),
    "ratio": lambda d, m: ib.ratio(d, "innovated", "employees"),
    "proportion": lambda d, m: ib.proportion(d, "innovated", method="beta", level=0.9),
    "quantile": lambda d, m: ib.quantile(d, "employees", [0.25, 0.5], level=0.9),
    "replicate": lambda d, m: ib.mean(d.replicate("jkn"), "innovated"),
    "contrast": lambda d, m: ib.contrast(ib.mean(d, "innovated", by="sector"),
                                         {"gap": {"health_care": 1, "education": -1}}),
    "model contrast": lambda d, m: ib.contrast(m, {"x2": {"np.log(employees)": 2}}),
    "compare_surveys": lambda d, m: ib.compare_surveys(ib.mean(d, "innovated"),
                                                       ib.mean(d, "innovated")),
    "coefficients": lambda d, m: m.coefficients,
    "model": lambda d, m: m,
    "margins": lambda d, m: m.margins("sector", level=0.9),
    "marginal effect": lambda d, m: m.average_marginal_effect("employees", level=0.9),
    "variance": lambda d, m: ib.var(d, "employees", by="sector"),
    "correlation": lambda d, m: ib.var(d, ["employees", "innovated"], statistic="correlation"),
    "mlogit": lambda d, m: ib.mlogit("municipality_size ~ C(sector) + np.log(employees)", d),
    "mlogit margins": lambda d, m: ib.mlogit("municipality_size ~ C(sector)", d)
    .margins("sector", level=0.9),
    "ologit": lambda d, m: _ologit(),
    "ologit margins": lambda d, m: _ologit().margins("sector", level=0.9),
    "mi combine": lambda d, m: ib.with_plausible_values(d, {"v": ["employees", "innovated"]},
                                                        lambda x: ib.mean(x, "v", by="sector")),
    "engine mean": lambda d, m: _engine(d).mean("employees", by="sector"),
    "engine glm": lambda d, m: _engine(d).logit("innovated ~ C(sector) + np.log(employees)"),
    "engine replicate quantile": lambda d, m: _replicates(d).quantile(
        "employees", [0.25, 0.5], interval_type="quantile", level=0.9),
    "engine replicate glm": lambda d, m: _replicates(d).logit(
        "innovated ~ C(sector) + np.log(employees)"),
}

TESTS: dict[str, Callable] = {
    "chisq F": lambda d, m: ib.chisq_test(d, "innovated", "sector"),
    "chisq Chisq": lambda d, m: ib.chisq_test(d, "innovated", "region", statistic="Chisq"),
    "chisq Wald": lambda d, m: ib.chisq_test(d, "innovated", "sector", statistic="Wald"),
    "chisq saddlepoint": lambda d, m: ib.chisq_test(d, "innovated", "region",
                                                    statistic="saddlepoint"),
    "ttest": lambda d, m: ib.ttest(d, "employees", "sector"),
    "ttest one sample": lambda d, m: ib.ttest(d, "employees", mu=20),
    "goodness of fit": lambda d, m: ib.goodness_of_fit(d, "region", [1] * 6),
    "ranktest wilcoxon": lambda d, m: ib.ranktest(d, "employees", "sector"),
    "ranktest kruskal": lambda d, m: ib.ranktest(d, "employees", "region",
                                                 test="KruskalWallis"),
    "wald F": lambda d, m: m.wald_test("C(sector)"),
    "wald chisq": lambda d, m: m.wald_test("C(sector)", method="chisq"),
    "lrt": lambda d, m: m.wald_test("C(sector)", method="lrt"),
    "mlogit wald": lambda d, m: ib.mlogit("municipality_size ~ C(sector)", d).wald_test("sector"),
    "ologit wald": lambda d, m: _ologit().wald_test("sector"),
    "proportional odds": lambda d, m: _ologit().proportional_odds_test(method="chisq"),
    "engine chisq": lambda d, m: _engine(d).chisq_test("innovated", "sector"),
    "engine replicate chisq": lambda d, m: _replicates(d).chisq_test("innovated", "sector"),
}


def _engine(design: ib.Design) -> object:
    """The design's rows on the in-memory frame engine (innobaro.engines)."""
    from innobaro.engines import EngineDesign, FrameSource

    return EngineDesign(FrameSource(design.data), weights="final_weight", strata="stratum",
                        psu="unit_id")


def _replicates(design: ib.Design) -> object:
    """Bootstrap replicate weights of the design as columns, on the frame engine."""
    from innobaro.engines import FrameSource, ReplicateEngineDesign

    rd = design.replicate("bootstrap", replicates=20, seed=1)
    reps = rd.replicate_weights
    return ReplicateEngineDesign(FrameSource(pd.concat([design.data, reps], axis=1)),
                                 weights="final_weight", replicate_weights=list(reps.columns),
                                 method="other", scale=rd.scale, rscales=list(rd.rscales))

DESCRIPTIVE: dict[str, Callable] = {
    "weights summary": lambda d, m: d.weights_summary(),
    "model summary": lambda d, m: m.summary(),
    "fay herriot": lambda d, m: ib.fay_herriot(d, "innovated", "county"),
    "bhf": lambda d, m: ib.battese_harter_fuller(
        d.data, "employees ~ innovated", "county",
        d.data.groupby("county", observed=True)[["innovated"]].mean()),
}

# every public result type and where the contract test makes one
def _ologit() -> ib.OrdinalResult:
    return ib.ologit("promoter_leadership ~ C(sector) + np.log(employees)",
                     barometer_2020_design())


HELD = {ib.Estimate: "mean", ib.Margins: "margins", ib.MarginalEffect: "marginal effect",
        ib.GLMResult: "model", ib.TestResult: "ttest", ib.TermTest: "wald F",
        ib.MLogitResult: "mlogit", ib.OrdinalResult: "ologit",
        ib.WeightsSummary: "weights summary", ib.FayHerriotResult: "fay herriot",
        ib.BHFResult: "bhf", ib.MIEstimate: "mi combine"}


@pytest.mark.parametrize("name", list(ESTIMATES))
def test_estimate_contract(name: str, design: ib.Design, model: ib.GLMResult) -> None:
    res = ESTIMATES[name](design, model)
    est, se = res.estimate, res.se
    assert isinstance(est, pd.Series) and isinstance(se, pd.Series)
    assert est.index.equals(se.index)
    vcov = res.vcov
    assert isinstance(vcov, pd.DataFrame)
    assert vcov.index.equals(est.index) and vcov.columns.equals(est.index)
    np.testing.assert_allclose(np.sqrt(np.diag(vcov.to_numpy())), se.to_numpy(), rtol=1e-12)
    assert isinstance(res.df, (float, pd.Series))
    assert isinstance(res.level, float) and 0 < res.level < 1
    assert isinstance(res.interval_method, str) and res.interval_method
    ci = res.ci()
    assert list(ci.columns) == ["lower", "upper"] and ci.index.equals(est.index)
    pd.testing.assert_frame_equal(ci, res.ci(res.level))  # made at a level, kept
    pd.testing.assert_frame_equal(res.conf_int(), ci)
    frame = res.to_frame()
    assert list(frame.columns[:4]) == ["estimate", "se", "lower", "upper"]
    np.testing.assert_array_equal(frame["lower"].to_numpy(), ci["lower"].to_numpy())
    np.testing.assert_array_equal(frame["estimate"].to_numpy(), est.to_numpy())
    if name in ("proportion", "quantile", "margins", "marginal effect", "mlogit margins"):
        assert res.level == 0.9  # the estimator's level
    # any estimate-like result, a model included, can be combined linearly
    one = ib.contrast(res, [[1.0] + [0.0] * (len(est) - 1)])
    assert one.estimate.iloc[0] == pytest.approx(est.iloc[0], rel=1e-12, nan_ok=True)


@pytest.mark.parametrize("name", list(TESTS))
def test_test_contract(name: str, design: ib.Design, model: ib.GLMResult) -> None:
    res = TESTS[name](design, model)
    assert isinstance(res, ib.TestContract)
    assert isinstance(res.statistic, float)
    assert isinstance(res.pvalue, float) and 0 <= res.pvalue <= 1
    assert res.p_value == res.pvalue
    assert isinstance(res.df, tuple) and len(res.df) == 2
    assert all(isinstance(v, float) for v in res.df)
    assert res.df == (res.df_num, res.df_denom) and res.ddf == res.df_denom
    assert res.df_num > 0 and res.df_denom > 0
    assert isinstance(res.method, str) and isinstance(res.title, str) and res.title
    statistic, pvalue = res  # as scipy's results
    assert (statistic, pvalue) == (res.statistic, res.pvalue)
    assert res[0] == res.statistic and res[1] == res.pvalue and len(res) == 2
    frame = res.to_frame()
    assert len(frame) == 1
    assert list(frame.columns[:5]) == ["statistic", "df_num", "df_denom", "pvalue", "method"]
    assert frame["pvalue"].iloc[0] == res.pvalue
    if res.method in ("Chisq", "chisq"):
        assert math.isinf(res.df_denom)


@pytest.mark.parametrize("name", list(DESCRIPTIVE))
def test_descriptive_contract(name: str, design: ib.Design, model: ib.GLMResult) -> None:
    res = DESCRIPTIVE[name](design, model)
    assert isinstance(res.to_frame(), pd.DataFrame)
    assert isinstance(repr(res), str) and repr(res)


def test_every_public_result_type_is_held_to_the_contract() -> None:
    kinds = {**ESTIMATES, **TESTS, **DESCRIPTIVE}
    public = [obj for name, obj in vars(ib).items()
              if inspect.isclass(obj) and name in ib.__all__
              and not issubclass(obj, (BaseException, ib.SurveyDesign))
              and obj not in (ib.Nonlinear, ib.TestContract)]
    missing = [cls.__name__ for cls in public if cls not in HELD]
    assert not missing, f"result types not in the contract test: {missing}"
    for cls, name in HELD.items():
        assert name in kinds
        assert isinstance(kinds[name](barometer_design(), None if cls is ib.WeightsSummary
                                      else _model()), cls)


def _model() -> ib.GLMResult:
    return ib.logit("innovated ~ C(sector) + np.log(employees)", barometer_design())
