"""Quantiles, tables, Rao-Scott tests and GLMs of replicate designs on the engines.

Each result of a replicate-weight design over an engine
(``Design.from_parquet``/``from_dask``/``FrameSource`` with
``replicate_weights=``) is compared with the same call on the in-memory
``ib.ReplicateDesign`` over the same rows at rtol 1e-10: estimates,
covariances, degrees of freedom (R's rank rule per domain), intervals, test
statistics and p-values. Bootstrap, JK1, JKn, BRR and Fay replicates made in
memory are given as weight columns; domains, missing values, and (on Dask,
a two-worker ``LocalCluster`` with small partitions of shuffled rows) PSUs
split across partitions.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from _engines import engine_design

import innobaro as ib
from innobaro.engines import FrameSource, ReplicateEngineDesign
from innobaro.errors import MissingValueError, UnsupportedDesignError

RTOL = 1e-10


def _rep_data(method: str, seed: int = 11, n: int = 640) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Rows of 8 strata of 2 PSUs (one stratum of 16 PSUs for JK1), with the
    replicate weights of ``method`` as columns, and the design's arguments."""
    rng = np.random.default_rng(seed)
    h = rng.integers(0, 8, n)
    psu = h * 10 + rng.integers(0, 2, n)
    df = pd.DataFrame({"h": h, "psu": psu, "w": rng.uniform(1, 5, n),
                       "y": np.round(rng.gamma(2.0, 10.0, n), 1), "x": rng.uniform(0, 2, n),
                       "g": rng.choice(["north", "south", "west"], n),
                       "c": rng.choice(["lo", "mid", "hi", "top"], n, p=[.3, .3, .3, .1])})
    df["z"] = np.where(df["h"] < 2, "small", "large")  # a domain in two strata only
    df["inner"] = (df["h"] < 5).astype(int)
    df["b"] = (rng.uniform(size=n) < 1 / (1 + np.exp(2 - df["x"]))).astype(float)
    df.loc[rng.choice(n, 15, replace=False), "y"] = np.nan
    df.loc[rng.choice(n, 3, replace=False), "g"] = None
    df.loc[rng.choice(n, 3, replace=False), "w"] = 0.0
    design = ib.Design(df, weights="w", psu="psu") if method == "jk1" else \
        ib.Design(df, weights="w", strata="h", psu="psu")
    opts = {"bootstrap": dict(replicates=30, seed=4), "fay": dict(rho=0.3)}.get(method, {})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rd = design.replicate(method, **opts)
    W = rd.unmasked_replicate_weights
    names = [f"rep{k + 1}" for k in range(W.shape[1])]
    out = pd.concat([df, pd.DataFrame(W, columns=names, index=df.index)], axis=1)
    kw: dict[str, Any] = dict(weights="w", replicate_weights=names, method="other",
                              scale=rd.scale, rscales=list(rd.rscales))
    return out, kw


def _designs(engine: str, method: str, tmp: Path, request: Any
             ) -> tuple[Any, ib.ReplicateDesign, pd.DataFrame, dict[str, Any]]:
    df, kw = _rep_data(method)
    e = engine_design(engine, df, tmp, request, npartitions=6, **kw)
    return e, ib.ReplicateDesign(df, **kw), df, kw


def _same(a: ib.Estimate, b: ib.Estimate) -> None:
    assert list(a.estimate.index) == list(b.estimate.index)
    np.testing.assert_allclose(a.estimate, b.estimate, rtol=RTOL)
    np.testing.assert_allclose(a.vcov, b.vcov, rtol=RTOL,
                               atol=1e-13 * np.abs(b.vcov.to_numpy()).max())
    np.testing.assert_array_equal(a.df_values, b.df_values)
    np.testing.assert_allclose(a.ci(), b.ci(), rtol=RTOL)
    np.testing.assert_allclose(a.se, b.se, rtol=RTOL, atol=1e-13 * b.se.max())
    assert a.kind == b.kind


def _same_test(a: Any, b: Any) -> None:
    assert (a.statistic_name, a.method, a.title) == (b.statistic_name, b.method, b.title)
    np.testing.assert_allclose([a.statistic, a.pvalue, a.df_num, a.df_denom],
                               [b.statistic, b.pvalue, b.df_num, b.df_denom], rtol=RTOL)
    assert set(a.details) == set(b.details)
    for k in b.details:  # design effects near zero are rounding: compared on their scale
        v = np.asarray(b.details[k], dtype=float)
        np.testing.assert_allclose(a.details[k], v, rtol=RTOL, atol=1e-12 * np.abs(v).max())
    pd.testing.assert_frame_equal(a.observed, b.observed, rtol=RTOL, check_names=False)
    pd.testing.assert_frame_equal(a.expected, b.expected, rtol=RTOL, check_names=False)


def _same_table(a: pd.DataFrame, b: pd.DataFrame, labels: list[str]) -> None:
    assert list(a.columns) == list(b.columns)
    assert (a[labels].astype(str).to_numpy() == b[labels].astype(str).to_numpy()).all()
    np.testing.assert_array_equal(a["n"], b["n"])
    rest = [c for c in b.columns if c not in [*labels, "n"]]
    np.testing.assert_allclose(a[rest].to_numpy(dtype=float), b[rest].to_numpy(dtype=float),
                               rtol=RTOL, atol=1e-14)


# ------------------------------------------------------------------ quantiles
QUANTILE_CASES = [("pandas", "jk1"), ("pandas", "fay"), ("duckdb", "jkn"),
                  ("duckdb", "bootstrap"), ("dask", "brr")]


@pytest.mark.parametrize(("engine", "method"), QUANTILE_CASES)
def test_quantile_matches_in_memory(engine: str, method: str, tmp_path: Path,
                                    request: Any) -> None:
    e, m, _, _ = _designs(engine, method, tmp_path, request)
    probs = [0.1, 0.5, 0.9]
    # a domain in two strata has its own df: the Woodruff intervals of the
    # domains at two dfs, and their covariance, as in memory
    kinds = ["mean", "xlogit", "asin", "quantile"] if engine == "pandas" else ["mean",
                                                                               "quantile"]
    for kind in kinds:
        _same(e.quantile("y", probs, by="z", na_rm=True, interval_type=kind),
              ib.quantile(m, "y", probs, by="z", na_rm=True, interval_type=kind))
    if engine == "dask":
        return
    _same(e.quantile("x", 0.5), ib.quantile(m, "x", 0.5))
    _same(e.quantile("x", [0.25, 0.75], by=["c", "z"], interval_type="quantile"),
          ib.quantile(m, "x", [0.25, 0.75], by=["c", "z"], interval_type="quantile"))


def test_quantile_on_ties_and_errors_are_named(tmp_path: Path, request: Any) -> None:
    e, _, df, kw = _designs("duckdb", "jkn", tmp_path, request)
    # three distinct values: the quantiles and interval ends sit on heavy ties
    df["t"] = np.minimum(np.floor(df["x"] * 2), 2.0)
    e2 = ReplicateEngineDesign(FrameSource(df), **kw)
    m2 = ib.ReplicateDesign(df, **kw)
    for kind in ("mean", "quantile"):
        _same(e2.quantile("t", [0.2, 0.5, 0.95], by="c", na_rm=True, interval_type=kind),
              ib.quantile(m2, "t", [0.2, 0.5, 0.95], by="c", na_rm=True, interval_type=kind))
    with pytest.raises(MissingValueError, match=r"'y' \(15 missing\)"):
        e.quantile("y", 0.5)
    with pytest.raises(UnsupportedDesignError, match="interval_type"):
        e.quantile("x", 0.5, interval_type="beta")
    with pytest.raises(ib.errors.EstimationError, match="one column"):
        e.quantile(["x", "y"], 0.5)  # type: ignore[arg-type]


def test_quantile_of_a_domain_in_one_psu(tmp_path: Path, request: Any) -> None:
    df, kw = _rep_data("jkn")
    # the replicate dropping the PSU has no quantile there (named, as in memory), the
    # domain's df is 0 (its Woodruff interval is undefined), the other's 8
    df["one"] = np.where(df["psu"] == 31, "solo", "rest")
    e = engine_design("duckdb", df, tmp_path, request, **kw)
    m = ib.ReplicateDesign(df, **kw)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        a = e.quantile("x", [0.4, 0.6], by="one", interval_type="quantile")
    with warnings.catch_warnings(record=True) as want:
        warnings.simplefilter("always")
        b = ib.quantile(m, "x", [0.4, 0.6], by="one", interval_type="quantile")
    _same(a, b)
    assert sorted(a.df_values) == [0.0, 0.0, 8.0, 8.0]
    assert [str(w.message) for w in seen] == [str(w.message) for w in want]
    assert any("replicate" in str(w.message) for w in seen)


# -------------------------------------------------------------- tables, tests
TABLE_CASES = [("pandas", "bootstrap"), ("duckdb", "jkn"), ("duckdb", "fay"),
               ("duckdb", "jk1"), ("dask", "bootstrap")]


@pytest.mark.parametrize(("engine", "method"), TABLE_CASES)
def test_table_and_chisq_match_in_memory(engine: str, method: str, tmp_path: Path,
                                         request: Any) -> None:
    e, m, _, _ = _designs(engine, method, tmp_path, request)
    statistics = ["F", "Wald"] if engine == "dask" else ["F", "Chisq", "Wald", "adjWald",
                                                         "saddlepoint", "lincom"]
    row = "z" if method in ("jkn", "fay") else "c"  # BRR's few df: a 2 x 3 table
    for statistic in statistics:
        _same_test(e.chisq_test(row, "g", statistic=statistic, na_rm=True),
                   ib.chisq_test(m, row, "g", statistic=statistic, na_rm=True))
    shares = ["col"] if engine == "dask" else ["col", "row", "total"]
    for share in shares:
        _same_table(e.table("c", "g", shares=share, na_rm=True),
                    ib.table(m, "c", "g", shares=share, na_rm=True), ["c", "g"])
    _same_table(e.table("c"), ib.table(m, "c"), ["c"])
    with pytest.raises(MissingValueError, match=r"'g' \(3 missing\)"):
        e.chisq_test("c", "g")


# ----------------------------------------------------------------------- GLMs
def _same_glm(a: Any, b: ib.GLMResult) -> None:
    np.testing.assert_allclose(a.params, b.params, rtol=RTOL)
    np.testing.assert_allclose(a.vcov, b.vcov, rtol=RTOL,
                               atol=1e-13 * np.abs(b.vcov.to_numpy()).max())
    np.testing.assert_allclose(a.bse, b.bse, rtol=RTOL)
    assert a.df_resid == b.df_resid
    np.testing.assert_allclose(a.conf_int(), b.conf_int(), rtol=RTOL)
    np.testing.assert_allclose(a.pvalues, b.pvalues, rtol=1e-9)
    assert a.nobs == b.nobs and a.n_dropped == b.n_dropped


GLM_CASES = [("pandas", "bootstrap"), ("pandas", "fay"), ("duckdb", "jkn"), ("duckdb", "jk1"),
             ("dask", "jkn")]  # the other models on pandas and DuckDB's JKn


@pytest.mark.parametrize(("engine", "method"), GLM_CASES)
def test_glm_refits_match_in_memory(engine: str, method: str, tmp_path: Path,
                                    request: Any) -> None:
    e, m, df, _ = _designs(engine, method, tmp_path, request)
    # a logit with a factor, in a domain (the rank of its rows' replicates)
    inside = (df["h"] < 5).to_numpy()
    a = e.logit("b ~ x + C(c)", domain="inner")
    _same_glm(a, ib.logit("b ~ x + C(c)", m.subset(inside)))
    assert a.replicates.shape == (m.n_replicates, 5)
    if engine == "dask":  # the rows of a PSU are in several partitions
        parts = e.source.inner.frame.map_partitions(
            lambda f: f[["psu"]].drop_duplicates()).compute()
        assert parts["psu"].duplicated().any()
    if engine == "dask" or (engine, method) == ("duckdb", "jk1"):  # the logit only
        return
    # rows dropped for missing values (y and g), a poisson model with an offset
    _same_glm(e.glm("y ~ x + g"), ib.glm("y ~ x + g", m))
    _same_glm(e.glm("y ~ x", family="poisson", offset="x"),
              ib.glm("y ~ x", m, family="poisson", offset="x"))
    assert "replicate weights" in repr(a.summary())


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_glm_replicates_without_a_level_are_left_out(engine: str, tmp_path: Path,
                                                     request: Any) -> None:
    df, kw = _rep_data("jkn")
    # a level in one PSU only: the replicate dropping that PSU cannot estimate it
    df["rare"] = np.where(df["psu"] == 31, "rare", np.where(df["x"] > 1, "hi", "lo"))
    e = engine_design(engine, df, tmp_path, request, **kw)
    m = ib.ReplicateDesign(df, **kw)
    with pytest.warns(ib.errors.InnobaroWarning, match="replicates"):
        a = e.logit("b ~ x + rare")
    with pytest.warns(ib.errors.InnobaroWarning, match="replicates"):
        b = ib.logit("b ~ x + rare", m)
    _same_glm(a, b)
    assert np.isnan(a.replicates).any(axis=1).sum() == 1
    with pytest.raises(UnsupportedDesignError, match="step-halving"):
        e.glm("y ~ x", family="gaussian", link="inverse")



def test_multipliers_mse_and_given_df(tmp_path: Path, request: Any) -> None:
    df, kw = _rep_data("jkn")
    names = kw["replicate_weights"]
    mult = df.copy()
    w = df["w"].to_numpy()
    mult[names] = np.where(w[:, None] > 0, df[names].to_numpy() / np.where(w > 0, w, 1.0)[:, None],
                           0.0)
    for frame, extra in ((mult, dict(combined_weights=False)), (df, dict(mse=True, df=9.0))):
        m = ib.ReplicateDesign(frame, **kw, **extra)
        e = engine_design("duckdb", frame, tmp_path, request, **kw, **extra)
        for kind in ("mean", "quantile"):
            _same(e.quantile("y", [0.5, 0.75], by="z", na_rm=True, interval_type=kind),
                  ib.quantile(m, "y", [0.5, 0.75], by="z", na_rm=True, interval_type=kind))
        _same_test(e.chisq_test("c", "z"), ib.chisq_test(m, "c", "z"))
        _same_table(e.table("c", "z", shares="total"), ib.table(m, "c", "z", shares="total"),
                    ["c", "z"])
        _same_glm(e.logit("b ~ x"), ib.logit("b ~ x", m))
