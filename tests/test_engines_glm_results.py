"""What an engine model gives beyond its coefficients: predictions for new rows
and Wald tests of terms, equal to ``ib.glm``'s on the same rows (rtol 1e-10)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from _engines import engine_design

import innobaro as ib
from innobaro.errors import EstimationError, UnsupportedDesignError

RTOL = 1e-10


def _data(seed: int = 9, n: int = 900) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    h = rng.integers(0, 4, n)
    x = rng.uniform(1, 3, n)
    g = rng.choice(["north", "south", "west"], n)
    eta = -1.0 + 0.6 * x + 0.8 * (g == "south")
    df = pd.DataFrame({"h": h, "psu": h * 100 + rng.integers(0, 6, n),
                       "w": rng.uniform(1, 5, n), "x": x, "g": g,
                       "b": (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(float),
                       "expo": rng.uniform(0.5, 2.0, n)})
    df["c"] = rng.poisson(df["expo"] * np.exp(0.2 + 0.3 * x)).astype(float)
    df["lexpo"] = np.log(df["expo"])
    df.loc[rng.choice(n, 10, replace=False), "x"] = np.nan
    return df


NEW = pd.DataFrame({"x": [1.0, 2.5, 3.0], "g": ["north", "west", "south"],
                    "lexpo": [0.0, 0.5, -0.2]}, index=["a", "b", "c"])


@pytest.mark.parametrize("engine", ["pandas", "duckdb", "dask"])
def test_predictions_and_wald_tests_match_in_memory(engine: str, tmp_path: Path,
                                                     request: Any) -> None:
    df = _data()
    kw = dict(weights="w", strata="h", psu="psu")
    d = ib.Design(df, **kw)
    e = engine_design(engine, df, tmp_path, request, npartitions=5, **kw)
    fit = e.logit("b ~ x + C(g)")
    mem = ib.logit("b ~ x + C(g)", d)
    for type_ in ("response", "link"):
        got = fit.predict(NEW, type=type_, se=True)
        want = mem.predict(NEW, type=type_, se=True)
        pd.testing.assert_frame_equal(got, want, rtol=RTOL, atol=0)
    pd.testing.assert_series_equal(fit.predict(NEW), mem.predict(NEW), rtol=RTOL, atol=0)
    for terms, method in (("C(g)", "F"), (["x", "C(g)"], "chisq"), ("x", "F")):
        a, b = fit.wald_test(terms, method=method), mem.wald_test(terms, method=method)
        np.testing.assert_allclose([a.statistic, a.pvalue], [b.statistic, b.pvalue],
                                   rtol=RTOL)
        assert (a.df, a.ddf) == (b.df, b.ddf)
    a, b = fit.wald_test("C(g)", df=12), mem.wald_test("C(g)", df=12)
    np.testing.assert_allclose(a.pvalue, b.pvalue, rtol=RTOL)
    # a poisson rate model: the offset column of the new rows, or given
    pois = e.glm("c ~ x", family="poisson", offset="lexpo")
    pmem = ib.glm("c ~ x + offset(lexpo)", d, family="poisson")
    pd.testing.assert_frame_equal(pois.predict(NEW, se=True), pmem.predict(NEW, se=True),
                                  rtol=RTOL, atol=0)
    pd.testing.assert_series_equal(pois.predict(NEW, offset=0.0),
                                   pmem.predict(NEW, offset=0.0), rtol=RTOL, atol=0)
    # R's predict.svyglm(total=): the regression estimator of a total
    totals = pd.DataFrame({"x": [2.0 * 5000]})
    lin = e.glm("c ~ x")
    np.testing.assert_allclose(lin.predict(totals, total=5000, se=True).to_numpy(),
                               ib.glm("c ~ x", d).predict(totals, total=5000,
                                                         se=True).to_numpy(), rtol=RTOL)


def test_what_an_engine_model_cannot_do_is_named() -> None:
    from innobaro.engines import EngineDesign, FrameSource

    df = _data(n=300)
    e = EngineDesign(FrameSource(df), weights="w", strata="h", psu="psu")
    fit = e.logit("b ~ x + C(g)")
    with pytest.raises(UnsupportedDesignError, match="working likelihood-ratio"):
        fit.wald_test("C(g)", method="lrt")
    with pytest.raises(EstimationError, match="type must be"):
        fit.predict(NEW, type="odds")
    pois = e.glm("c ~ x", family="poisson", offset="lexpo")
    with pytest.raises(EstimationError, match="no column 'lexpo'"):
        pois.predict(NEW.drop(columns="lexpo"))
