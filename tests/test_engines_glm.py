"""GLMs on engine designs (DuckDB, Dask, an in-memory frame) give ``ib.glm``'s numbers.

Coefficients, covariance matrices, standard errors, residual degrees of
freedom, intervals and the rows dropped are compared with ``ib.glm`` on an
``ib.Design`` over the same rows at rtol 1e-10: logit, poisson with an offset
and a gaussian model with categorical terms, interactions and transformed
variables, on stratified, clustered, fpc, multistage and probability-weighted
designs, with missing values, domains, aliased columns and (Dask) PSUs split
across partitions. Dask runs on a two-worker ``LocalCluster`` (one per module).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from _engines import engine_design
from scipy import special

import innobaro as ib
from innobaro.engines import EngineDesign, FrameSource
from innobaro.errors import EngineError, EstimationError, InnobaroWarning, UnsupportedDesignError

RTOL = 1e-10


def _data(seed: int = 5, n: int = 1200) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    h = rng.integers(0, 5, n)
    psu = h * 100 + rng.integers(0, 7, n)
    ssu = psu * 10 + rng.integers(0, 3, n)
    x = rng.uniform(1, 3, n)
    g = rng.choice(["north", "south", "west"], n)
    k = rng.integers(0, 2, n)
    eta = -1.0 + 0.6 * x + 0.8 * (g == "south") - 0.4 * k
    df = pd.DataFrame({"h": h, "psu": psu, "ssu": ssu, "w": rng.uniform(1, 6, n), "x": x,
                       "g": g, "k": k, "region": rng.integers(1, 5, n),
                       "b": (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(float),
                       "expo": rng.uniform(0.5, 2.0, n)})
    df["c"] = rng.poisson(df["expo"] * np.exp(0.1 + 0.3 * x)).astype(float)
    df["y"] = 40 + 5 * x + 3 * (g == "west") + rng.normal(0, 4, n)
    df["N1"] = 10 + df["h"]
    df["N2"] = 6
    df["p"] = 1.0 / df["w"]
    df.loc[rng.choice(n, 20, replace=False), "x"] = np.nan
    df.loc[rng.choice(n, 8, replace=False), "g"] = None
    df.loc[rng.choice(n, 5, replace=False), "w"] = 0.0
    df["p"] = 1.0 / df["w"].where(df["w"] > 0, 1.0)
    df["lexpo"] = np.log(df["expo"])
    return df


def _engine_design(engine: str, df: pd.DataFrame, tmp: Path, request: Any, **kw: Any) -> Any:
    return engine_design(engine, df, tmp, request, npartitions=7, **kw)


def _same(a: Any, b: ib.GLMResult) -> None:
    assert list(a.params.index) == list(b.params.index)
    np.testing.assert_allclose(a.params, b.params, rtol=RTOL, atol=1e-13)
    V = b.vcov.to_numpy()
    np.testing.assert_allclose(a.vcov, V, rtol=RTOL, atol=1e-13 * np.nanmax(np.abs(V)))
    np.testing.assert_allclose(a.bse, b.bse, rtol=RTOL)
    assert a.df_resid == b.df_resid
    assert a.n_dropped == b.n_dropped and a.nobs == b.nobs
    np.testing.assert_allclose(a.conf_int(0.9), b.conf_int(0.9), rtol=RTOL)
    np.testing.assert_allclose(a.pvalues, b.pvalues, rtol=1e-8)
    ta, tb = a.to_frame(), b.to_frame()
    assert list(ta.columns) == list(tb.columns)
    np.testing.assert_allclose(ta.to_numpy(dtype=float), tb.to_numpy(dtype=float), rtol=RTOL,
                               atol=1e-12)
    assert list(a.summary().to_frame().columns) == list(b.summary().to_frame().columns)
    assert a.family == b.family and a.link == b.link


DESIGNS = {
    "stratified-cluster": dict(weights="w", strata="h", psu="psu"),
    "cluster-probs": dict(probs="p", psu="psu"),
    "fpc": dict(weights="w", strata="h", psu="psu", fpc="N1"),
    "multistage-fpc": dict(weights="w", strata="h", psu=["psu", "ssu"], fpc=["N1", "N2"]),
}

MODELS = [
    ("b ~ x + C(g) + k", dict(family="binomial")),
    ("c ~ np.log(x) * g + C(region, Treatment(3))", dict(family="poisson", offset="lexpo")),
    ("y ~ x + I(x ** 2) + g:k", dict(family="gaussian")),
]

# every design on the in-memory frame (the same per-frame code as a Dask partition);
# DuckDB where its SQL differs (weights or probabilities, fpc, several stages); Dask
# on one (every IRLS iteration is a round trip to the cluster: CI time)
CASES = ([("pandas", d) for d in DESIGNS]
         + [("duckdb", d) for d in ("cluster-probs", "fpc", "multistage-fpc")]
         + [("dask", "stratified-cluster")])


@pytest.mark.parametrize(("engine", "design"), CASES)
def test_glms_match_in_memory(engine: str, design: str, tmp_path: Path, request: Any) -> None:
    df = _data()
    kw = DESIGNS[design]
    d = ib.Design(df, **kw)
    e = _engine_design(engine, df, tmp_path, request, **kw)
    for formula, fkw in MODELS:
        m = ib.glm(formula, d, **fkw)
        r = e.glm(formula, **fkw)
        _same(r, m)
        assert r.engine == engine and r.iterations == m.iterations
        if fkw["family"] == "gaussian":  # least squares: its second step without a pass
            # the levels of g, the first iteration, the final pass (two DuckDB queries:
            # some rows miss a value)
            assert r.passes == 1 + 1 + 1 + (engine == "duckdb")


@pytest.mark.parametrize("engine", ["pandas", "duckdb", "dask"])
def test_logit_in_a_domain(engine: str, tmp_path: Path, request: Any) -> None:
    """A domain's model: the other rows stay in the design (R's subset.survey.design)."""
    df = _data(n=900)
    kw = DESIGNS["fpc"]
    d = ib.Design(df, **kw)
    e = _engine_design(engine, df, tmp_path, request, **kw)
    m = ib.logit("b ~ x + g", d.subset(df["k"] != 0))
    r = e.logit("b ~ x + g", domain="k")
    _same(r, m)
    assert r.df_resid == m.df_resid


def test_lonely_psus_in_a_domain_follow_the_rule(tmp_path: Path, request: Any) -> None:
    df = _data(n=700)
    # stratum 4 keeps one PSU: lonely, adjusted to the grand mean
    df = df[(df["h"] != 4) | (df["psu"] == 400)].reset_index(drop=True)
    kw = dict(weights="w", strata="h", psu="psu", lonely_psu="adjust")
    d = ib.Design(df, **kw)
    for engine in ("pandas", "duckdb"):
        e = _engine_design(engine, df, tmp_path, request, **kw)
        _same(e.glm("y ~ x + g", domain="k"), ib.glm("y ~ x + g", d.subset(df["k"] != 0)))


def test_dask_partitions_split_psus(request: Any) -> None:
    """Sorted by stratum in many small partitions: PSUs straddle partition edges, and a
    level of g is missing from the first partitions."""
    request.getfixturevalue("client")
    import dask.dataframe as dd

    df = _data(n=800).sort_values(["h", "g"], kind="stable")
    df = df[~((df["h"] == 0) & (df["g"] == "west"))]
    d = ib.Design(df, weights="w", strata="h", psu="psu")
    e = ib.Design.from_dask(dd.from_pandas(df, npartitions=6), weights="w", strata="h",
                            psu="psu", split_every=2)
    _same(e.logit("b ~ x + C(g) + k"), ib.logit("b ~ x + C(g) + k", d))


def test_other_links(request: Any, tmp_path: Path) -> None:
    df = _data(n=800)
    kw = DESIGNS["stratified-cluster"]
    d = ib.Design(df, **kw)
    e = EngineDesign(FrameSource(df), **kw)
    for fam, link in (("binomial", "probit"), ("binomial", "cloglog"), ("quasipoisson", "log")):
        resp = "c" if "poisson" in fam else "b"
        _same(e.glm(f"{resp} ~ x + g", family=fam, link=link),
              ib.glm(f"{resp} ~ x + g", d, family=fam, link=link))
    dd = _engine_design("duckdb", df, tmp_path, request, **kw)
    _same(dd.glm("y ~ x + g", family="gaussian", link="log"),
          ib.glm("y ~ x + g", d, family="gaussian", link="log"))
    for des in (e, dd):  # R's relevel: the reference level first
        _same(des.glm("y ~ relevel(g, 'south') * k"), ib.glm("y ~ relevel(g, 'south') * k", d))
    # probit on DuckDB (the normal distribution in SQL, innobaro.engines.sqlmath): a
    # steep model whose linear predictor reaches Cody's tail region (|eta| > sqrt(32))
    # and R's bound on eta (-qnorm(eps)), with ib.glm's warning of fitted 0 or 1
    df["steep"] = (np.random.default_rng(3).uniform(size=len(df))
                   < special.ndtr(9.0 * (df["x"].fillna(2.0) - 2.0))).astype(float)
    d = ib.Design(df, **kw)
    dd = _engine_design("duckdb", df, tmp_path, request, **kw)
    for fam in ("binomial", "quasibinomial"):
        with pytest.warns(InnobaroWarning, match="fitted probabilities of 0 or 1"):
            m = ib.glm("steep ~ x + k", d, family=fam, link="probit")
        eta = m.params["Intercept"] + m.params["x"] * df["x"] + m.params["k"] * df["k"]
        assert (eta.abs() > -special.ndtri(np.finfo(float).eps)).sum() > 10
        with pytest.warns(InnobaroWarning, match="fitted probabilities of 0 or 1"):
            r = dd.glm("steep ~ x + k", family=fam, link="probit")
        _same(r, m)
        assert r.iterations == m.iterations
        np.testing.assert_allclose(r.deviance, m.deviance, rtol=1e-10)


FAMILIES = [("binomial", "probit", "b", {}), ("quasibinomial", "probit", "b", {}),
            ("binomial", "cauchit", "b", {}), ("binomial", "cloglog", "b", {}),
            ("binomial", "log", "b", {}), ("quasibinomial", "cloglog", "b", {}),
            ("poisson", "identity", "c", {}), ("poisson", "sqrt", "c", {}),
            ("quasipoisson", "sqrt", "c", {}), ("Gamma", "inverse", "pos", {}),
            ("Gamma", "log", "pos", {}), ("Gamma", "identity", "pos", {}),
            ("inverse.gaussian", "1/mu^2", "pos", {}), ("inverse.gaussian", "inverse", "pos", {}),
            ("inverse.gaussian", "log", "pos", {}), ("inverse.gaussian", "identity", "pos", {}),
            ("gaussian", "inverse", "y", {}), ("negative.binomial", "log", "c", {"theta": 2.0}),
            ("negative.binomial", "sqrt", "c", {"theta": 2.0}),
            ("negative.binomial", "identity", "c", {"theta": 2.0}),
            ("quasi", "log", "pos", {"variance": "mu^2"}),
            ("quasi", "log", "pos", {"variance": "mu^3"}),
            ("quasi", "logit", "b", {"variance": "mu(1-mu)"}),
            ("quasi", "identity", "c", {"variance": "mu"}),
            ("quasi", "inverse", "pos", {"variance": "constant"})]


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_every_family_and_link(engine: str, tmp_path: Path, request: Any) -> None:
    """Every family and link of ib.glm (the ones needing R's step-halving too), with
    the iterations of ib.glm; DuckDB evaluates each in SQL."""
    df = _data()
    df["pos"] = np.random.default_rng(8).gamma(2.0, (1.0 + 0.5 * df["x"].fillna(2.0)) / 2.0)
    kw = DESIGNS["stratified-cluster"]
    d = ib.Design(df, **kw)
    e = _engine_design(engine, df, tmp_path, request, **kw)
    for family, link, resp, extra in FAMILIES:
        m = ib.glm(f"{resp} ~ x + g", d, family=family, link=link, **extra)
        r = e.glm(f"{resp} ~ x + g", family=family, link=link, **extra)
        _same(r, m)
        np.testing.assert_allclose(r.deviance, m.deviance, rtol=1e-10)
        assert r.iterations == m.iterations
    # numeric factors only (Dask and in-memory frames evaluate them on numpy arrays)
    for formula in ("c ~ np.log(x) + I(x ** 2) + x:k + I((x - 2) * k)", "c ~ 0 + x + k"):
        _same(e.glm(formula, family="poisson", offset="lexpo"),
              ib.glm(formula, d, family="poisson", offset="lexpo"))


def _halving_data() -> pd.DataFrame:
    """An inverse Gaussian model whose IRLS (from R's starting means) takes a step
    out of the valid region (a negative linear predictor of the 1/mu^2 link)."""
    r = np.random.default_rng(64)
    n = 300
    x, z = r.uniform(0, 1, n), r.normal(size=n)
    df = pd.DataFrame({"h": r.integers(0, 4, n), "psu": r.integers(0, 10, n),
                       "w": r.uniform(1, 4, n), "x": x, "z": z})
    lin = 0.05 + 0.9 * x + r.uniform(0, 0.3) * z
    r.random(n)
    r.poisson(np.clip(lin, 0.01, None) * 3)
    df["pos"] = r.gamma(1.0, np.clip(lin, 0.02, None))
    df["psu"] = df["h"] * 100 + df["psu"]
    return df


@pytest.mark.parametrize("engine", ["pandas", "duckdb", "dask"])
def test_step_halving_takes_the_in_memory_steps(engine: str, tmp_path: Path,
                                                request: Any) -> None:
    df = _halving_data()
    kw = dict(weights="w", strata="h", psu="psu")
    d = ib.Design(df, **kw)
    with pytest.warns(InnobaroWarning, match=r"inverse.gaussian family with 1/mu\^2 link.*"
                                             r"halved"):
        m = ib.glm("pos ~ x + z", d, family="inverse.gaussian")
    e = _engine_design(engine, df, tmp_path, request, **kw)
    with pytest.warns(InnobaroWarning, match=r"inverse.gaussian family with 1/mu\^2 link.*"
                                             r"halved"):
        r = e.glm("pos ~ x + z", family="inverse.gaussian")
    _same(r, m)
    assert r.iterations == m.iterations
    assert r.passes > r.iterations + 1  # the halved steps' passes
    # from R's starting means the first step is invalid: the in-memory error
    df["b"] = (np.random.default_rng(0).random(len(df)) < 0.02 + 0.9 * df["x"] ** 3)
    df["b"] = df["b"].astype(float)
    with pytest.raises(EstimationError, match="binomial family with log link: no valid set"):
        ib.glm("b ~ x", ib.Design(df, **kw), family="binomial", link="log")
    e = _engine_design(engine, df, tmp_path, request, **kw)
    with pytest.raises(EstimationError, match="binomial family with log link: no valid set"):
        e.glm("b ~ x", family="binomial", link="log")


def test_aliased_columns_are_nan_as_in_memory(tmp_path: Path, request: Any) -> None:
    df = _data(n=600)
    df["x2"] = 2 * df["x"]
    d = ib.Design(df, weights="w", strata="h", psu="psu")
    with pytest.warns(InnobaroWarning, match="'x2' are aliased"):
        m = ib.logit("b ~ x + x2 + g", d)
    for engine in ("pandas", "duckdb"):
        e = _engine_design(engine, df, tmp_path, request, weights="w", strata="h", psu="psu")
        with pytest.warns(InnobaroWarning, match="'x2' are aliased"):
            r = e.logit("b ~ x + x2 + g")
        assert np.isnan(r.params["x2"]) and np.isnan(r.bse["x2"])
        keep = [c for c in m.params.index if c != "x2"]
        np.testing.assert_allclose(r.params[keep], m.params[keep], rtol=RTOL)
        np.testing.assert_allclose(r.vcov.loc[keep, keep], m.vcov.loc[keep, keep], rtol=RTOL)
        assert r.df_resid == m.df_resid


def test_bad_input_is_named(tmp_path: Path, request: Any) -> None:
    df = _data(n=300)
    df["nobody"] = 0
    e = EngineDesign(FrameSource(df), weights="w", strata="h", psu="psu")
    dd = _engine_design("duckdb", df, tmp_path, request, weights="w", strata="h", psu="psu")
    for des in (e, dd):
        with pytest.raises(EstimationError, match="binomial response must be in"):
            des.logit("y ~ x")
        with pytest.raises(EstimationError, match="column 'nope' of 'nope' is not in"):
            des.glm("y ~ nope")
        with pytest.raises(EstimationError, match="domain column 'dom' is not in"):
            des.glm("y ~ x", domain="dom")
        with pytest.raises(EstimationError, match="response 'g' must be numeric"):
            des.glm("g ~ x")
        with pytest.raises(EstimationError, match="unknown family"):
            des.glm("y ~ x", family="binomal")
        with pytest.raises(EstimationError, match="no row of the fit has a value of 'g'"):
            des.glm("y ~ x + g", domain="nobody")
    for des in (e, dd):
        with pytest.raises(UnsupportedDesignError, match=r"np\.log, np\.exp"):
            des.glm("y ~ np.tanh(x)")
        with pytest.raises(UnsupportedDesignError, match=r"would see one partition"):
            des.glm("y ~ I(x - x.mean())")
    for des in (e, dd):
        with pytest.raises(EstimationError, match=r"infinite values in 'np\.log\(k\)'"), \
                np.errstate(divide="ignore"):  # numpy's own warning of log(0)
            des.glm("y ~ np.log(k)")
    for des in (e, dd):
        with pytest.raises(UnsupportedDesignError, match="row by row"):
            des.glm("y ~ center(x)")
        with pytest.raises(UnsupportedDesignError, match=r"a categorical term is C\("):
            des.glm("y ~ C(np.floor(x))")
    with pytest.raises(UnsupportedDesignError, match="offset='name'"):
        e.glm("c ~ x + offset(np.log(expo))", family="poisson")


def test_a_source_that_changes_is_refused() -> None:
    duckdb = pytest.importorskip("duckdb")
    df = _data(n=300)
    con = duckdb.connect()
    con.register("frame", df)
    con.execute("CREATE TABLE survey AS SELECT * FROM frame")
    e = ib.Design.from_duckdb("survey", connection=con, weights="w", strata="h", psu="psu")
    e.glm("y ~ x")
    con.execute("UPDATE survey SET w = w * 2 WHERE h = 1")
    with pytest.raises(EngineError, match="source changed since the design was built"):
        e.glm("y ~ x")


def test_summary_and_estimate() -> None:
    df = _data(n=500)
    e = EngineDesign(FrameSource(df), weights="w", strata="h", psu="psu")
    r = e.logit("b ~ x + g")
    m = ib.logit("b ~ x + g", ib.Design(df, weights="w", strata="h", psu="psu"))
    text = repr(r)
    assert text.splitlines()[0] == repr(m.summary()).splitlines()[0]
    assert "pandas engine" in text and "Residual df" in text
    est = r.coefficients
    assert isinstance(est, ib.Estimate) and est.kind == "coefficient"
    np.testing.assert_allclose(est.se, m.coefficients.se, rtol=RTOL)
    np.testing.assert_array_equal(est.df_values, m.coefficients.df_values)
    np.testing.assert_allclose(r.deviance, m.deviance, rtol=1e-10)
    # the levels of g, one pass per iteration, the final sums
    assert r.passes == 1 + r.iterations + 1 and r.converged


def test_large_fits_start_from_a_sample(tmp_path: Path, request: Any) -> None:
    """Above 200,000 rows IRLS starts from a fit to about 50,000 of them (as ib.glm
    does, from another sample): the same estimate."""
    rng = np.random.default_rng(11)
    n = 210_000
    x = rng.normal(size=n)
    df = pd.DataFrame({"psu": rng.integers(0, 300, n), "w": rng.uniform(1, 3, n), "x": x,
                       "b": (rng.uniform(size=n) < 1 / (1 + np.exp(0.3 - x))).astype(float)})
    d = ib.Design(df, weights="w", psu="psu")
    m = ib.logit("b ~ x", d)
    for engine in ("pandas", "duckdb", "dask"):  # Dask: a sample of 4 of 7 partitions
        _same(_engine_design(engine, df, tmp_path, request, weights="w", psu="psu").logit(
            "b ~ x"), m)
    # an aliased column, found after the sample's fit: IRLS starts again from R's start
    df["x2"] = 2 * df["x"]
    with pytest.warns(InnobaroWarning, match="'x2' are aliased"):
        m = ib.logit("b ~ x + x2", ib.Design(df, weights="w", psu="psu"))
    with pytest.warns(InnobaroWarning, match="'x2' are aliased"):
        r = EngineDesign(FrameSource(df), weights="w", psu="psu").logit("b ~ x + x2")
    np.testing.assert_allclose(r.params, m.params, rtol=RTOL)
    np.testing.assert_allclose(r.bse, m.bse, rtol=RTOL)
