"""Designs over engines (DuckDB, Dask, an in-memory frame) give the in-memory numbers.

Every estimate of an engine design is compared with the same estimator on an
``ib.Design`` over the same rows, at rtol 1e-10: estimates, covariance
matrices, degrees of freedom, intervals (every proportion method) and design
effects, on stratified, clustered, fpc, multistage and lonely-PSU designs with
domains and missing values. Dask runs on a two-worker ``LocalCluster`` with
small partitions (one per module); DuckDB reads Parquet files written here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from _engines import engine_design

import innobaro as ib
from innobaro.engines import EngineDesign, FrameSource, SumsSpec, combine_sums, reduce_frame
from innobaro.errors import (
    DesignError,
    EngineError,
    EstimationError,
    LonelyPSUError,
    MissingValueError,
    UnsupportedDesignError,
)

RTOL = 1e-10
METHODS = ["logit", "likelihood", "asin", "beta", "mean", "xlogit", "wilson"]


def _data(seed: int = 3, n: int = 1500) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    h = rng.integers(0, 6, n)
    psu = h * 100 + rng.integers(0, 8, n)
    ssu = psu * 10 + rng.integers(0, 4, n)
    df = pd.DataFrame({"h": h, "psu": psu, "ssu": ssu,
                       "w": rng.uniform(1, 6, n), "y": rng.normal(50, 10, n),
                       "x": rng.uniform(1, 3, n),
                       "b": (rng.uniform(size=n) < 0.3).astype(float),
                       "g": rng.choice(["north", "south", "west"], n),
                       "k": rng.integers(0, 2, n)})
    df["N1"] = 12 + df["h"]          # PSUs in the stratum's population
    df["N2"] = 9                     # second-stage units per PSU in the population
    df["p"] = 1.0 / df["w"]
    df.loc[rng.choice(n, 25, replace=False), "y"] = np.nan
    df.loc[rng.choice(n, 5, replace=False), "w"] = 0.0
    return df


def _engine_design(engine: str, df: pd.DataFrame, tmp: Path, request: Any, **kw: Any) -> Any:
    return engine_design(engine, df, tmp, request, npartitions=9, **kw)


def _same(a: ib.Estimate, b: ib.Estimate, methods: bool = False) -> None:
    assert list(a.estimate.index) == list(b.estimate.index)
    np.testing.assert_allclose(a.estimate, b.estimate, rtol=RTOL)
    np.testing.assert_allclose(a.vcov, b.vcov, rtol=RTOL, atol=1e-13 * np.abs(b.vcov).max().max())
    np.testing.assert_array_equal(a.df_values, b.df_values)
    np.testing.assert_allclose(a.ci(), b.ci(), rtol=RTOL)
    np.testing.assert_allclose(a.ci(0.9, df=float("inf")), b.ci(0.9, df=float("inf")),
                               rtol=RTOL)
    np.testing.assert_allclose(a.deff, b.deff, rtol=1e-8)
    np.testing.assert_allclose(a.deff_replace, b.deff_replace, rtol=1e-8)
    assert a.kind == b.kind


DESIGNS = {
    "stratified-cluster": dict(weights="w", strata="h", psu="psu"),
    "cluster-probs": dict(probs="p", psu="psu"),
    "fpc": dict(weights="w", strata="h", psu="psu", fpc="N1"),
    "multistage": dict(weights="w", strata="h", psu=["psu", "ssu"]),
    "multistage-fpc": dict(weights="w", strata="h", psu=["psu", "ssu"], fpc=["N1", "N2"]),
}


# Dask on two designs only: each pass costs a round trip to the cluster (CI time);
# the arithmetic after the sums is the same for every engine
CASES = ([(e, d) for e in ("pandas", "duckdb") for d in DESIGNS]
         + [("dask", "stratified-cluster"), ("dask", "multistage-fpc")])


@pytest.mark.parametrize(("engine", "design"), CASES)
def test_estimators_match_in_memory(engine: str, design: str, tmp_path: Path,
                                    request: Any) -> None:
    df = _data()
    kw = DESIGNS[design]
    d = ib.Design(df, **kw)
    e = _engine_design(engine, df, tmp_path, request, **kw)
    assert e.n == len(df) and e.df == d.df and e.engine == engine
    _same(e.mean(["y", "x"], by="g", na_rm=True), ib.mean(d, ["y", "x"], by="g", na_rm=True))
    _same(e.total(["y", "b"], by=["g", "k"], na_rm=True),
          ib.total(d, ["y", "b"], by=["g", "k"], na_rm=True))
    _same(e.ratio(["y", "b"], "x", na_rm=True), ib.ratio(d, ["y", "b"], "x", na_rm=True))
    for method in METHODS if engine != "dask" else ["logit", "beta"]:
        a = e.proportion("b", by="g", method=method, level=0.9)
        b = ib.proportion(d, "b", by="g", method=method, level=0.9)
        _same(a, b)
        np.testing.assert_allclose(a.to_frame().to_numpy(dtype=float),
                                   b.to_frame().to_numpy(dtype=float), rtol=RTOL)


@pytest.mark.parametrize(("engine", "rule"),
                         [(e, r) for e in ("pandas", "duckdb")
                          for r in ("adjust", "average", "remove", "certainty")]
                         + [("dask", "adjust")])
def test_lonely_psus_follow_the_rule(engine: str, rule: str, tmp_path: Path,
                                     request: Any) -> None:
    df = _data(n=600)
    df.loc[df["h"] == 5, "psu"] = 500  # one PSU in stratum 5
    df.loc[(df["h"] == 4) & (df["g"] == "west"), "psu"] = 400  # domain west: lonely too
    kw = dict(weights="w", strata="h", psu="psu", lonely_psu=rule)
    d = ib.Design(df, **kw)
    e = _engine_design(engine, df, tmp_path, request, **kw)
    _same(e.mean("y", by="g", na_rm=True), ib.mean(d, "y", by="g", na_rm=True))
    _same(e.total("x"), ib.total(d, "x"))


def test_lonely_psu_fail_is_named_when_built() -> None:
    df = _data(n=300)
    df.loc[df["h"] == 5, "psu"] = 500
    with pytest.raises(LonelyPSUError, match="single PSU: 5"):
        EngineDesign(FrameSource(df), weights="w", strata="h", psu="psu")


def test_nested_psu_ids(tmp_path: Path, request: Any) -> None:
    df = _data(n=800)
    df["psu"] = df["psu"] % 100  # ids repeat across strata
    d = ib.Design(df, weights="w", strata="h", psu="psu", nest=True)
    for engine in ("pandas", "duckdb"):
        e = _engine_design(engine, df, tmp_path, request, weights="w", strata="h", psu="psu",
                           nest=True)
        _same(e.mean("x", by="g"), ib.mean(d, "x", by="g"))


def test_dask_partitions_split_psus_and_strata(request: Any) -> None:
    """A PSU split across partitions, strata and domains in only some partitions."""
    request.getfixturevalue("client")
    import dask.dataframe as dd

    df = _data(n=900)
    d = ib.Design(df, weights="w", strata="h", psu="psu")
    # sorted by stratum: each partition holds one or two strata (and domain 'west'
    # is left out of the first partitions), and PSUs straddle partition edges
    ordered = df.sort_values(["h", "g"], kind="stable")
    ordered = ordered[~((ordered.index < 300) & (ordered["g"] == "west"))]
    d = ib.Design(ordered, weights="w", strata="h", psu="psu")
    e = ib.Design.from_dask(dd.from_pandas(ordered, npartitions=13), weights="w", strata="h",
                            psu="psu", split_every=2)
    _same(e.mean(["y", "x"], by="g", na_rm=True), ib.mean(d, ["y", "x"], by="g", na_rm=True))
    # a single partition and a tree of many give the same sums
    one = ib.Design.from_dask(dd.from_pandas(ordered, npartitions=1), weights="w", strata="h",
                              psu="psu")
    _same(one.ratio("y", "x", na_rm=True), ib.ratio(d, "y", "x", na_rm=True))


def test_duckdb_relation_and_query(tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    df = _data(n=500)
    con = duckdb.connect()
    con.register("frame", df)
    con.execute("CREATE TABLE survey AS SELECT * FROM frame")
    d = ib.Design(df, weights="w", strata="h", psu="psu")
    expected = ib.mean(d, "x", by="g")
    for source in ("survey", "SELECT * FROM survey", con.table("survey")):
        e = ib.Design.from_duckdb(source, connection=con, weights="w", strata="h", psu="psu")
        _same(e.mean("x", by="g"), expected)
    assert "duckdb engine" in repr(e) and "500 rows" in repr(e)


def test_missing_values_are_named_as_in_memory(tmp_path: Path, request: Any) -> None:
    df = _data(n=400)
    d = ib.Design(df, weights="w", strata="h", psu="psu")
    with pytest.raises(MissingValueError) as mem:
        ib.mean(d, ["x", "y"])
    for engine in ("pandas", "duckdb"):
        e = _engine_design(engine, df, tmp_path, request, weights="w", strata="h", psu="psu")
        with pytest.raises(MissingValueError) as eng:
            e.mean(["x", "y"])
        assert str(eng.value) == str(mem.value)
    bad = df.assign(g=df["g"].where(df.index != 7, None))
    e = EngineDesign(FrameSource(bad), weights="w", strata="h", psu="psu")
    with pytest.raises(MissingValueError, match="by column 'g' has 1 missing"):
        e.mean("x", by="g")
    with pytest.raises(MissingValueError, match="weights column 'w' has 1 missing"):
        EngineDesign(FrameSource(df.assign(w=df["w"].where(df.index != 3))), weights="w",
                     strata="h", psu="psu")


def test_bad_input_is_named(tmp_path: Path) -> None:
    df = _data(n=300)
    src = FrameSource(df)
    with pytest.raises(UnsupportedDesignError, match="needs psu="):
        EngineDesign(src, weights="w", strata="h")
    with pytest.raises(UnsupportedDesignError, match="with fpc needs weights"):
        EngineDesign(src, strata="h", psu="psu", fpc="N1")
    with pytest.raises(DesignError, match="strata column 'stratum' is not in the data"):
        EngineDesign(src, weights="w", strata="stratum", psu="psu")
    with pytest.raises(DesignError, match="295 negative or infinite"):
        EngineDesign(FrameSource(df.assign(w=-df["w"])), weights="w", psu="psu")
    e = EngineDesign(src, weights="w", strata="h", psu="psu")
    with pytest.raises(EstimationError, match="column 'nope' is not in the data"):
        e.mean("nope")
    with pytest.raises(EstimationError, match="column 'x' has 300 other value"):
        e.proportion("x")
    with pytest.raises(EstimationError, match="method must be one of"):
        e.proportion("b", method="exact")


def test_parquet_schemas_must_agree(tmp_path: Path) -> None:
    pytest.importorskip("duckdb")
    pytest.importorskip("pyarrow")
    df = _data(n=200)
    df.iloc[:100].to_parquet(tmp_path / "a.parquet")
    df.iloc[100:].assign(h=df["h"].iloc[100:].astype(str)).to_parquet(tmp_path / "b.parquet")
    with pytest.raises(EngineError, match=r"column 'h' is INT64.* but BYTE_ARRAY"):
        ib.Design.from_parquet(tmp_path, weights="w", strata="h", psu="psu")
    (tmp_path / "b.parquet").unlink()
    df.iloc[100:].drop(columns="k").to_parquet(tmp_path / "b.parquet")
    with pytest.raises(EngineError, match="column 'k' is in"):
        ib.Design.from_parquet([tmp_path / "a.parquet", tmp_path / "b.parquet"],
                               weights="w", strata="h", psu="psu")
    with pytest.raises(EngineError, match="no Parquet files"):
        ib.Design.from_parquet(tmp_path / "none-*.parquet", psu="psu")


def test_a_source_that_changes_is_refused() -> None:
    duckdb = pytest.importorskip("duckdb")
    df = _data(n=300)
    con = duckdb.connect()
    con.register("frame", df)
    con.execute("CREATE TABLE survey AS SELECT * FROM frame")
    e = ib.Design.from_duckdb("survey", connection=con, weights="w", strata="h", psu="psu")
    e.mean("x")
    con.execute("INSERT INTO survey SELECT * FROM frame LIMIT 3")
    with pytest.raises(EngineError, match="source changed since the design was built"):
        e.mean("x")
    con.execute("DELETE FROM survey WHERE rowid >= 300")
    con.execute("UPDATE survey SET w = w * 2 WHERE h = 1")
    with pytest.raises(EngineError, match="300 rows with weight total"):
        e.total("x")


def test_sums_are_the_seam() -> None:
    df = _data(n=300)
    e = EngineDesign(FrameSource(df), weights="w", strata="h", psu="psu")
    sums = e.sums("x", by="g")
    assert int(sums["__ib_n"].sum()) == 300
    np.testing.assert_allclose(sums["__ib_sw"].sum(), df["w"].sum(), rtol=1e-14)
    np.testing.assert_allclose(sums["__ib_s0"].sum(), (df["w"] * df["x"]).sum(), rtol=1e-14)
    # one cell per (stratum, PSU, domain) present in the data
    assert len(sums) == len(df.groupby(["h", "psu", "g"]))


@pytest.mark.parametrize("levels", [7, 5000])  # a dense code space, and one hashed
def test_reduce_frame_is_a_groupby_sum(levels: int) -> None:
    rng = np.random.default_rng(5)
    n = 4000
    df = pd.DataFrame({"a": rng.integers(0, levels, n), "b": rng.integers(0, levels, n),
                       "c": pd.Categorical(rng.choice(["x", "y"], n), categories=["z", "y", "x"]),
                       "w": rng.uniform(0, 2, n), "y": rng.normal(size=n)})
    df.loc[::7, "y"] = np.nan
    df.loc[::11, "a"] = None
    spec = SumsSpec(keys=("a", "b"), by=("c",), variables=("y",), weights="w", moments=True)
    out = reduce_frame(df, spec)
    keys = ["a", "b", "c", "complete"]
    full = df.assign(complete=df["y"].notna(), wy=df["w"] * df["y"],
                     wyy=df["w"] * df["y"] ** 2)
    expected = full.groupby(keys, dropna=False, observed=True)[["w", "wy", "wyy"]].sum(
        min_count=1)
    def keyed(frame: pd.DataFrame) -> pd.DataFrame:  # a missing key as -1, to align on
        frame = frame.rename(columns={"__ib_complete": "complete"})
        return frame.assign(a=frame["a"].fillna(-1), c=frame["c"].astype(str)).set_index(keys)

    want = keyed(expected.reset_index())
    got = keyed(out).reindex(want.index)
    assert len(out) == len(expected) and not got["__ib_n"].isna().any()
    np.testing.assert_allclose(got["__ib_sw"], want["w"], rtol=1e-12)
    done = got.index.get_level_values("complete").to_numpy(dtype=bool)
    np.testing.assert_allclose(got["__ib_s0"][done], want["wy"][done], rtol=1e-12)
    np.testing.assert_allclose(got["__ib_q0_0"][done], want["wyy"][done], rtol=1e-12)
    # partial sums of two halves combine to the whole
    halves = combine_sums([reduce_frame(df.iloc[:1500], spec),
                           reduce_frame(df.iloc[1500:], spec)], spec)
    counts = keyed(full.groupby(keys, dropna=False, observed=True).size().rename(
        "__ib_n").reset_index())
    np.testing.assert_array_equal(keyed(halves).reindex(counts.index)["__ib_n"],
                                  counts["__ib_n"])


def test_domains_by_stratum_and_text_variables(tmp_path: Path, request: Any) -> None:
    df = _data(n=500)
    d = ib.Design(df, weights="w", strata="h", psu="psu")
    for engine in ("pandas", "duckdb"):
        e = _engine_design(engine, df, tmp_path, request, weights="w", strata="h", psu="psu")
        _same(e.mean("x", by="h"), ib.mean(d, "x", by="h"))  # a domain column is a key
        with pytest.raises(EstimationError, match="column 'g' is not numeric"):
            e.mean(["x", "g"])


@pytest.mark.parametrize("engine", ["pandas", "duckdb", "dask"])
def test_categorical_variables_give_level_shares(engine: str, tmp_path: Path,
                                                 request: Any) -> None:
    df = _data(n=900)
    df.loc[::17, "g"] = None  # rows without a level
    kw = dict(weights="w", strata="h", psu="psu", fpc="N1")
    d = ib.Design(df, **kw)
    e = _engine_design(engine, df, tmp_path, request, **kw)
    _same(e.mean("g", by="k", na_rm=True), ib.mean(d, "g", by="k", na_rm=True))
    _same(e.total("g", na_rm=True), ib.total(d, "g", na_rm=True))
    for method in ("logit", "beta") if engine == "dask" else METHODS:
        _same(e.proportion("g", by="k", method=method, na_rm=True),
              ib.proportion(d, "g", by="k", method=method, na_rm=True))
    with pytest.raises(MissingValueError) as mem:
        ib.mean(d, "g")
    with pytest.raises(MissingValueError) as eng:
        e.mean("g")
    assert str(eng.value) == str(mem.value)


def test_an_estimate_pickles_with_its_design_effects() -> None:
    import pickle

    df = _data(n=300)
    e = EngineDesign(FrameSource(df), weights="w", strata="h", psu="psu")
    est = e.mean("x", by="g")
    back = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(back.deff, est.deff)
    np.testing.assert_array_equal(back.se, est.se)
