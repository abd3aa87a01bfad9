"""Replicate designs, quantiles and two-way tables on the engines give the in-memory numbers.

Each estimate of an engine design is compared with the same estimator on the
in-memory design over the same rows (``ib.ReplicateDesign`` for replicate
weights, ``ib.Design`` otherwise) at rtol 1e-10: estimates, covariance
matrices, degrees of freedom (R's rank rule per domain) and intervals. Dask
runs on a two-worker ``LocalCluster`` with small partitions of shuffled rows
(PSUs and domains split across them); DuckDB reads Parquet files written here.
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
from innobaro.engines import FrameSource
from innobaro.engines.replicates import ReplicateEngineDesign, gram_rank_df, gram_sums
from innobaro.errors import DesignError, MissingValueError
from innobaro.variance.replicates import replicate_rank_df

RTOL = 1e-10


def _data(seed: int = 5, n: int = 900) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    h = rng.integers(0, 4, n)
    psu = h * 100 + rng.integers(0, 5, n)
    df = pd.DataFrame({"h": h, "psu": psu, "ssu": psu * 10 + rng.integers(0, 3, n),
                       "w": rng.uniform(1, 6, n),
                       "y": np.round(rng.normal(50, 10, n), 1), "x": rng.uniform(1, 3, n),
                       "b": (rng.uniform(size=n) < 0.3).astype(float),
                       "g": rng.choice(["north", "south", "west"], n),
                       "c": rng.choice(["lo", "mid", "hi", "top"], n, p=[.3, .3, .3, .1])})
    df["N1"] = 12 + df["h"]
    df["N2"] = 8
    df.loc[rng.choice(n, 20, replace=False), "y"] = np.nan
    df.loc[rng.choice(n, 4, replace=False), "w"] = 0.0
    return df


def _engine(engine: str, frame: pd.DataFrame, tmp: Path, request: Any, **kw: Any) -> Any:
    return engine_design(engine, frame, tmp, request, npartitions=7, **kw)


def _same(a: ib.Estimate, b: ib.Estimate) -> None:
    assert list(a.estimate.index) == list(b.estimate.index)
    np.testing.assert_allclose(a.estimate, b.estimate, rtol=RTOL)
    np.testing.assert_allclose(a.vcov, b.vcov, rtol=RTOL,
                               atol=1e-13 * np.abs(b.vcov).max().max())
    np.testing.assert_array_equal(a.df_values, b.df_values)
    np.testing.assert_allclose(a.ci(), b.ci(), rtol=RTOL)
    assert a.kind == b.kind


# ------------------------------------------------------------------ replicates
def _replicate_data(method: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Rows with replicate weight columns made in memory, and the design's arguments."""
    df = _data()
    d = ib.Design(df, weights="w", strata="h", psu="psu")
    rd = d.replicate(method, replicates=20, seed=3) if method == "bootstrap" else \
        d.replicate(method)
    W = rd.unmasked_replicate_weights
    names = [f"rep{k + 1}" for k in range(W.shape[1])]
    out = pd.concat([df, pd.DataFrame(W, columns=names, index=df.index)], axis=1)
    kw: dict[str, Any] = dict(weights="w", replicate_weights=names, method=rd.method,
                              scale=rd.scale, rscales=list(rd.rscales))
    return out, kw


REP_CASES = [("pandas", "jkn"), ("duckdb", "jkn"), ("duckdb", "bootstrap"),
             ("dask", "jkn")]


@pytest.mark.parametrize(("engine", "method"), REP_CASES)
def test_replicate_designs_match_in_memory(engine: str, method: str, tmp_path: Path,
                                           request: Any) -> None:
    df, kw = _replicate_data(method)
    m = ib.ReplicateDesign(df, **kw)
    e = _engine(engine, df, tmp_path, request, **kw)
    assert e.df == m.df and e.n_replicates == m.n_replicates and e.engine == engine
    # domains by stratum: each domain's rank is its own (fewer replicates move it)
    _same(e.mean(["y", "x"], by="h", na_rm=True), ib.mean(m, ["y", "x"], by="h", na_rm=True))
    if engine == "dask":  # each estimate is a few round trips to the cluster (CI time)
        _same(e.proportion("b", by="g"), ib.proportion(m, "b", by="g"))
        return
    _same(e.total(["y", "b"], by=["g"], na_rm=True),
          ib.total(m, ["y", "b"], by=["g"], na_rm=True))
    _same(e.ratio("y", "x", by="g", na_rm=True), ib.ratio(m, "y", "x", by="g", na_rm=True))
    _same(e.mean("c", by="g"), ib.mean(m, "c", by="g"))
    for method_ in ("logit", "beta", "wilson", "likelihood"):
        a = e.proportion("b", by="g", method=method_)
        b = ib.proportion(m, "b", by="g", method=method_)
        _same(a, b)
        np.testing.assert_allclose(a.to_frame().to_numpy(dtype=float),
                                   b.to_frame().to_numpy(dtype=float), rtol=RTOL)


def test_replicate_options_multipliers_mse_and_given_df(tmp_path: Path) -> None:
    df, kw = _replicate_data("jkn")
    names = kw["replicate_weights"]
    mult = df.copy()
    mult[names] = df[names].to_numpy() / df[["w"]].to_numpy().clip(min=1e-300)
    mult.loc[df["w"] == 0, names] = 1.0
    for extra in (dict(mse=True), dict(df=7.0)):
        m = ib.ReplicateDesign(df, **{**kw, **extra})
        e = _engine("duckdb", df, tmp_path, None, **{**kw, **extra})
        _same(e.mean("y", by="g", na_rm=True), ib.mean(m, "y", by="g", na_rm=True))
    # multipliers of the full weight, rscales read off them as in memory
    kw_m = {k: v for k, v in kw.items() if k != "rscales"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = ib.ReplicateDesign(mult, combined_weights=False, **kw_m)
        e = ReplicateEngineDesign(FrameSource(mult), combined_weights=False, **kw_m)
    np.testing.assert_allclose(e.rscales, m.rscales, rtol=RTOL)
    _same(e.ratio("y", "x", na_rm=True), ib.ratio(m, "y", "x", na_rm=True))


def test_rank_from_the_gram_matrix_is_the_rank_of_the_weights() -> None:
    rng = np.random.default_rng(0)
    base = rng.uniform(0.5, 2, (60, 6))
    W = np.column_stack([base, base[:, 0], base[:, :3] @ [1.0, 2.0, 0.5],
                         1e-4 * base[:, 4], np.zeros(60)])
    assert gram_rank_df(W.T @ W) == replicate_rank_df(W) == 5.0
    assert gram_rank_df(base.T @ base) == replicate_rank_df(base) == 5.0


def test_gram_sums_per_domain_are_the_products_of_the_weights() -> None:
    df, kw = _replicate_data("jkn")
    names = kw["replicate_weights"]
    R = len(names)
    out = gram_sums(df, ["g"], names, "w", True).set_index("g")
    iu, ju = np.triu_indices(R)
    for g, rows in df.groupby("g"):  # over three domains, to check each
        W = rows[names].to_numpy()
        np.testing.assert_allclose(out.loc[g].to_numpy(), (W.T @ W)[iu, ju], rtol=1e-12)
    whole = gram_sums(df, [], names, "w", True)
    W = df[names].to_numpy()
    np.testing.assert_allclose(whole.to_numpy()[0], (W.T @ W)[iu, ju], rtol=1e-12)


def test_replicate_bad_input_is_named(tmp_path: Path) -> None:
    df, kw = _replicate_data("jkn")
    bad = df.copy()
    bad.loc[3, "rep2"] = np.nan
    with pytest.raises(DesignError, match="'rep2' has 1 missing"):
        ReplicateEngineDesign(FrameSource(bad), **kw)
    bad.loc[3, "rep2"] = -1.0
    with pytest.raises(DesignError, match="'rep2' has negative"):
        ReplicateEngineDesign(FrameSource(bad), **kw)
    with pytest.raises(DesignError, match="'nope' is not in the data"):
        ReplicateEngineDesign(FrameSource(df), **{**kw, "replicate_weights": ["nope"]})
    e = ReplicateEngineDesign(FrameSource(df), **kw)
    with pytest.raises(MissingValueError, match="'y' \\(20 missing\\)"):
        e.mean("y")
    with pytest.raises(DesignError, match="method="):
        ib.Design.from_parquet(_write(df, tmp_path), weights="w",
                               replicate_weights=kw["replicate_weights"])
    with pytest.raises(DesignError, match="no strata, psu"):
        ib.Design.from_parquet(_write(df, tmp_path), strata="h", psu="psu", **kw)


def _write(df: pd.DataFrame, tmp: Path) -> Path:
    pytest.importorskip("duckdb")
    pytest.importorskip("pyarrow")
    df.to_parquet(tmp / "all.parquet")
    return tmp / "all.parquet"


# ------------------------------------------------------------------- quantiles
DESIGNS = {
    "stratified-cluster": dict(weights="w", strata="h", psu="psu"),
    "cluster-probs": dict(probs="p", psu="psu"),
    "fpc": dict(weights="w", strata="h", psu="psu", fpc="N1"),
    "multistage-fpc": dict(weights="w", strata="h", psu=["psu", "ssu"], fpc=["N1", "N2"]),
}
Q_CASES = [("pandas", "fpc"), ("pandas", "multistage-fpc"), ("duckdb", "stratified-cluster"),
           ("duckdb", "cluster-probs"), ("duckdb", "fpc"), ("dask", "stratified-cluster")]


def _same_quantile(a: ib.Estimate, b: ib.Estimate, level: float = 0.95) -> None:
    assert list(a.estimate.index) == list(b.estimate.index)
    np.testing.assert_allclose(a.estimate, b.estimate, rtol=RTOL)
    np.testing.assert_allclose(a.vcov, b.vcov, rtol=RTOL,
                               atol=1e-13 * np.abs(b.vcov).max().max())
    np.testing.assert_allclose(a.se, b.se, rtol=RTOL)
    np.testing.assert_array_equal(a.df_values, b.df_values)
    np.testing.assert_allclose(a.ci(level), b.ci(level), rtol=RTOL)


@pytest.mark.parametrize(("engine", "design"), Q_CASES)
def test_quantiles_match_in_memory(engine: str, design: str, tmp_path: Path,
                                   request: Any) -> None:
    df = _data()
    df["p"] = 1.0 / df["w"].where(df["w"] > 0, 1.0)
    kw = DESIGNS[design]
    d = ib.Design(df, **kw)
    e = _engine(engine, df, tmp_path, request, **kw)
    _same_quantile(e.quantile("y", [0.1, 0.5, 0.9], na_rm=True),
                   ib.quantile(d, "y", [0.1, 0.5, 0.9], na_rm=True))
    _same_quantile(e.quantile("x", [0.25, 0.75], by="g", level=0.9),
                   ib.quantile(d, "x", [0.25, 0.75], by="g", level=0.9), 0.9)
    if engine != "dask":
        for it in ("xlogit", "asin"):
            _same_quantile(e.quantile("y", 0.5, by=["g"], na_rm=True, interval_type=it),
                           ib.quantile(d, "y", 0.5, by=["g"], na_rm=True, interval_type=it))
        # ties: a variable of few values, and the ends of the distribution
        _same_quantile(e.quantile("h", [0, 0.3, 0.5, 1]), ib.quantile(d, "h", [0, 0.3, 0.5, 1]))


def test_quantile_dask_psus_split_across_partitions(request: Any) -> None:
    request.getfixturevalue("client")
    import dask.dataframe as dd

    df = _data(n=700).sort_values(["h", "g"], kind="stable")
    d = ib.Design(df, weights="w", strata="h", psu="psu")
    e = ib.Design.from_dask(dd.from_pandas(df, npartitions=11), weights="w", strata="h",
                            psu="psu", split_every=2)
    _same_quantile(e.quantile("y", [0.05, 0.5], by="g", na_rm=True),
                   ib.quantile(d, "y", [0.05, 0.5], by="g", na_rm=True))


def test_quantile_interval_is_at_its_level_and_bad_input_is_named() -> None:
    from innobaro.engines import EngineDesign
    from innobaro.errors import EstimationError, UnsupportedDesignError

    df = _data(n=400)
    e = EngineDesign(FrameSource(df), weights="w", strata="h", psu="psu")
    est = e.quantile("x", 0.5)
    with pytest.raises(EstimationError, match=r"level=0\.9"):
        est.ci(0.9)
    with pytest.raises(MissingValueError, match=r"'y' \(20 missing\)"):
        e.quantile("y", 0.5)
    with pytest.raises(EstimationError, match="one column"):
        e.quantile(["x", "y"], 0.5)  # type: ignore[arg-type]
    with pytest.raises(UnsupportedDesignError, match="interval_type"):
        e.quantile("x", 0.5, interval_type="beta")
    with pytest.raises(EstimationError, match="\\[0, 1\\]"):
        e.quantile("x", 1.5)


# ------------------------------------------------------------ two-way tables
STATISTICS = ["F", "Chisq", "Wald", "adjWald", "saddlepoint", "lincom"]
T_CASES = [("pandas", "fpc"), ("pandas", "multistage-fpc"), ("duckdb", "stratified-cluster"),
           ("duckdb", "fpc"), ("dask", "stratified-cluster")]


def _same_test(a: Any, b: Any) -> None:
    assert (a.statistic_name, a.method, a.title) == (b.statistic_name, b.method, b.title)
    np.testing.assert_allclose([a.statistic, a.pvalue, a.df_num, a.df_denom],
                               [b.statistic, b.pvalue, b.df_num, b.df_denom], rtol=RTOL)
    assert set(a.details) == set(b.details)
    for k in b.details:
        np.testing.assert_allclose(a.details[k], b.details[k], rtol=RTOL)
    pd.testing.assert_frame_equal(a.observed, b.observed, rtol=RTOL, check_names=False)
    pd.testing.assert_frame_equal(a.expected, b.expected, rtol=RTOL, check_names=False)


def _same_table(a: pd.DataFrame, b: pd.DataFrame, labels: list[str]) -> None:
    assert list(a.columns) == list(b.columns)
    assert (a[labels].astype(str).to_numpy() == b[labels].astype(str).to_numpy()).all()
    np.testing.assert_array_equal(a["n"], b["n"])
    rest = [c for c in b.columns if c not in [*labels, "n"]]
    np.testing.assert_allclose(a[rest].to_numpy(dtype=float), b[rest].to_numpy(dtype=float),
                               rtol=RTOL)


@pytest.mark.parametrize(("engine", "design"), T_CASES)
def test_tables_and_chisq_tests_match_in_memory(engine: str, design: str, tmp_path: Path,
                                                request: Any) -> None:
    df = _data()
    df.loc[[3, 7, 11], "c"] = None
    kw = DESIGNS[design]
    d = ib.Design(df, **kw)
    e = _engine(engine, df, tmp_path, request, **kw)
    for st in STATISTICS if engine != "dask" else ["F", "Wald"]:
        _same_test(e.chisq_test("c", "g", statistic=st, na_rm=True),
                   ib.chisq_test(d, "c", "g", statistic=st, na_rm=True))
    for shares in ("col", "row", "total") if engine != "dask" else ("col",):
        _same_table(e.table("c", "g", shares=shares, na_rm=True),
                    ib.table(d, "c", "g", shares=shares, na_rm=True), ["c", "g"])
    _same_table(e.table("g"), ib.table(d, "g"), ["g"])


def test_chisq_test_rows_counted_and_bad_input_named(tmp_path: Path) -> None:
    from innobaro.engines import EngineDesign
    from innobaro.errors import DomainError, EstimationError

    df = _data(n=600)
    df.loc[df["c"] == "top", "w"] = 0.0  # a level without weight
    df.loc[[5, 9], "g"] = None
    kw = dict(weights="w", strata="h", psu="psu")
    d = ib.Design(df, **kw)
    e = EngineDesign(FrameSource(df), **kw)
    a = e.chisq_test("c", "g", na_rm=True, drop_empty=True)
    b = ib.chisq_test(d, "c", "g", na_rm=True, drop_empty=True)
    _same_test(a, b)
    assert a.details["n"] == b.details["n"] < len(df)
    with pytest.raises(DomainError, match="empty row"):
        e.chisq_test("c", "g", na_rm=True)
    with pytest.raises(MissingValueError, match=r"'g' \(2 missing\)"):
        e.chisq_test("c", "g")
    with pytest.raises(EstimationError, match="same column"):
        e.chisq_test("g", "g")
    with pytest.raises(EstimationError, match="'nope' is not in the data"):
        e.table("nope")


def _skewed(n: int = 1500, seed: int = 11) -> pd.DataFrame:
    """Zero-inflated and heavy-tailed variables: most rows in the first of the
    first pass's equal-width bins, and many rows tied at zero."""
    rng = np.random.default_rng(seed)
    h = rng.integers(0, 3, n)
    df = pd.DataFrame({"h": h, "psu": h * 100 + rng.integers(0, 6, n),
                       "w": rng.uniform(1, 4, n), "g": rng.choice(["a", "b"], n)})
    income = np.round(rng.lognormal(10, 1.2, n), 2)
    income[rng.uniform(size=n) < 0.45] = 0.0  # 45% with no income
    income[0] = 1e12  # one outlier stretches the range
    df["income"] = income
    df["tail"] = np.exp(rng.normal(0, 3, n))
    return df


@pytest.mark.parametrize("engine", ["pandas", "duckdb", "dask"])
def test_quantile_of_skewed_and_tied_values_refines_the_bins(
        engine: str, tmp_path: Path, request: Any, monkeypatch: Any) -> None:
    """Near each quantile the engine refines the bins wider than the bracket, and
    sums a leaf whose rows share one value per cell instead of bringing its rows:
    far fewer rows come to memory than with the first pass's bins alone, and the
    numbers are the in-memory ones."""
    from innobaro.engines import quantile as eq

    seen: list[int] = []
    real = eq._Extended.bracketed_rows

    def spy(self: Any, columns: list[str]) -> pd.DataFrame:
        rows = real(self, columns)
        seen.append(len(rows))
        return rows

    monkeypatch.setattr(eq._Extended, "bracketed_rows", spy)
    df = _skewed()
    kw = dict(weights="w", strata="h", psu="psu")
    d = ib.Design(df, **kw)
    e = _engine(engine, df, tmp_path, request, **kw)
    cases = (("income", [0.25, 0.45, 0.5, 0.9], None), ("income", [0.5], "g"),
             ("tail", [0.1, 0.5, 0.99], None))
    brought = []
    for rounds in (eq.MAX_ROUNDS, 0):
        monkeypatch.setattr(eq, "MAX_ROUNDS", rounds)
        for y, q, by in cases:
            seen.clear()
            _same_quantile(e.quantile(y, q, by=by), ib.quantile(d, y, q, by=by))
            brought.append(seen[-1])
    refined, coarse = brought[:3], brought[3:]
    # the median at zero income: the zeros are one exact leaf, never brought
    assert refined[1] < 0.2 * coarse[1]
    assert all(r < c for r, c in zip(refined, coarse, strict=True))


def test_quantile_with_too_many_rows_near_it_is_named(monkeypatch: Any) -> None:
    from innobaro.engines import EngineDesign
    from innobaro.engines import quantile as eq
    from innobaro.errors import EngineError

    monkeypatch.setattr(eq, "MAX_ROWS", 10)
    df = _skewed(n=300)
    e = EngineDesign(FrameSource(df), weights="w", strata="h", psu="psu")
    with pytest.raises(EngineError, match=r"quantile of 'tail': \d+ rows lie near the "
                                          r"quantiles, more than the 10"):
        e.quantile("tail", 0.5)


def test_bins_put_a_value_in_the_same_leaf_in_sql_and_numpy() -> None:
    """The refined tree's leaf arithmetic is the same in DuckDB's SQL and numpy,
    and its leaves are in the order of the values."""
    duckdb = pytest.importorskip("duckdb")
    from innobaro.engines.quantile import BINS, Bins

    rng = np.random.default_rng(3)
    v = np.concatenate([rng.lognormal(0, 3, 5000), [0.0, 0.0, 7.5, 7.5, 1e9]])
    bins = Bins(0.0, BINS / 1e9)
    bins.children[0] = Bins(0.0, BINS / 5e5)
    bins.children[0].children[3] = Bins(700.0, BINS / 300.0)  # type: ignore[union-attr]
    bins.children[0].children[0] = 0.0  # type: ignore[union-attr]
    bins.children[5] = Bins(2.5e6, BINS / 4e5)
    leaf = bins.leaf(v)
    con = duckdb.connect()
    frame = pd.DataFrame({"v": v})
    con.register("frame", frame)
    sql_leaf = con.execute(f"SELECT {bins.sql('v')} AS leaf FROM frame").df()["leaf"]
    np.testing.assert_array_equal(sql_leaf.to_numpy(), leaf)
    order = np.argsort(v, kind="stable")
    assert (np.diff(leaf[order]) >= 0).all()
    assert leaf.max() < bins.leaves()
    assert bins.exact() == {0: 0.0}


def test_duckdb_out_of_memory_is_a_named_error() -> None:
    """Rows or a result too wide for DuckDB's memory_limit: an EngineError naming
    the remedies, not DuckDB's own exception or a partial result."""
    duckdb = pytest.importorskip("duckdb")
    from innobaro.errors import EngineError

    df = pd.DataFrame({"psu": np.arange(300_000), "w": 1.0, "y": 1.0})
    con = duckdb.connect()
    con.register("t", df)
    con.execute("SET memory_limit='1MB'")
    with pytest.raises(EngineError, match=r"sums: DuckDB ran out of memory.*memory_limit"):
        ib.Design.from_duckdb(con.table("t"), weights="w", psu="psu")


def test_dask_worker_out_of_memory_is_a_named_error(request: Any, monkeypatch: Any) -> None:
    """A partition too large for its worker (a task's MemoryError, or a worker
    lost as often as the scheduler allows: KilledWorker) is an EngineError."""
    request.getfixturevalue("client")
    import dask
    import dask.dataframe as dd

    from innobaro.engines import dask_engine
    from innobaro.errors import EngineError

    df = _data(n=300)

    def too_wide(part: pd.DataFrame) -> pd.DataFrame:
        if len(part):
            raise MemoryError("Unable to allocate 80.0 GiB")
        return part

    frame = dd.from_pandas(df, npartitions=3)
    wide = frame.map_partitions(too_wide, meta=frame._meta)
    with pytest.raises(EngineError, match=r"sums: a Dask task failed.*MemoryError.*"
                                          "partition too large"):
        ib.Design.from_dask(wide, weights="w", strata="h", psu="psu")

    class KilledWorker(Exception):
        pass

    def killed(*args: Any, **kwargs: Any) -> Any:
        raise KilledWorker("Attempted to run task reduce_frame-1 on 4 different workers")

    monkeypatch.setattr(dask, "compute", killed)
    with pytest.raises(EngineError, match=r"KilledWorker.*Repartition"):
        dask_engine.compute(frame, what="sums")


# ---------------------------------------------------- unequal-probability PSUs
def _pps_data(seed: int = 8, n: int = 900) -> pd.DataFrame:
    """Two strata of 8 and 10 PSUs drawn with probabilities that vary between
    them (the ``fpc`` column), several rows per PSU."""
    rng = np.random.default_rng(seed)
    h = rng.integers(0, 2, n)
    psu = h * 100 + rng.integers(0, 8 + 2 * h, n)
    prob = 0.1 + 0.6 * ((psu * 7919) % 97) / 97.0
    df = pd.DataFrame({"h": h, "psu": psu, "prob": prob, "w": 1.0 / prob,
                       "y": rng.normal(20, 5, n), "x": rng.uniform(1, 3, n),
                       "g": rng.choice(["a", "b", "c"], n)})
    df.loc[rng.choice(n, 10, replace=False), "y"] = np.nan
    return df


@pytest.mark.parametrize("engine", ["pandas", "duckdb", "dask"])
def test_pps_designs_match_in_memory(engine: str, tmp_path: Path, request: Any) -> None:
    """Brewer's and Overton's approximations and Hartley-Rao's, in both forms, need
    only PSU totals and the PSUs' probabilities: the engine gives ib.Design's
    numbers, for estimates, domains, quantiles, tables and models."""
    df = _pps_data()
    cases = [dict(pps="brewer"), dict(pps="overton"), dict(pps="overton", variance="YG"),
             dict(pps=ib.HR()), dict(pps=ib.HR(0.3), variance="YG")]
    if engine == "dask":
        cases = cases[:2]
    for extra in cases:
        kw = dict(weights="w", strata="h", psu="psu", fpc="prob", **extra)
        d = ib.Design(df, **kw)
        e = _engine(engine, df, tmp_path, request, **kw)
        _same(e.mean(["y", "x"], by="g", na_rm=True),
              ib.mean(d, ["y", "x"], by="g", na_rm=True))
        _same(e.ratio("y", "x", na_rm=True), ib.ratio(d, "y", "x", na_rm=True))
        if extra == cases[0]:
            _same_quantile(e.quantile("x", [0.25, 0.5]), ib.quantile(d, "x", [0.25, 0.5]))
            fit = e.glm("x ~ g")
            mem = ib.glm("x ~ g", d)
            np.testing.assert_allclose(fit.params, mem.params, rtol=RTOL)
            np.testing.assert_allclose(fit.vcov, mem.vcov, rtol=1e-9)


def test_pps_designs_the_engines_cannot_take_are_named(tmp_path: Path) -> None:
    from innobaro.engines import EngineDesign
    from innobaro.errors import UnsupportedDesignError

    df = _pps_data(n=200)
    src = FrameSource(df)
    with pytest.raises(UnsupportedDesignError, match="joint probabilities are indexed"):
        EngineDesign(src, weights="w", psu="psu", fpc="prob",
                     pps=ib.ppsmat(np.eye(len(df))))
    with pytest.raises(UnsupportedDesignError, match=r"sampling probabilities in fpc="):
        EngineDesign(src, weights="w", psu="psu", pps="brewer")
    from innobaro.engines.core import design_over

    with pytest.raises(DesignError, match="replicate-weight design"):
        design_over(src, weights="w", probs=None, strata=None, psu=None, fpc=None,
                    nest=False, lonely_psu="fail", replicate_weights=["w"],
                    replicate={"method": "bootstrap"}, pps="brewer")


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_quantile_warns_as_in_memory(engine: str, tmp_path: Path, request: Any) -> None:
    """A domain whose every row misses the variable, and a domain of one row with
    positive weight (counted in rows, not cells): the in-memory warnings, once."""
    df = _data(n=500)
    df.loc[df["g"] == "west", "y"] = np.nan
    one = df.index[df["c"] == "top"]
    df.loc[one[1:], "w"] = 0.0  # "top" keeps one row with positive weight
    kw = dict(weights="w", strata="h", psu="psu")
    d = ib.Design(df, **kw)
    e = _engine(engine, df, tmp_path, request, **kw)
    for y, by in (("y", "g"), ("x", "c")):
        with warnings.catch_warnings(record=True) as got:
            warnings.simplefilter("always")
            a = e.quantile(y, 0.5, by=by, na_rm=True)
        with warnings.catch_warnings(record=True) as want:
            warnings.simplefilter("always")
            b = ib.quantile(d, y, 0.5, by=by, na_rm=True)
        assert [str(w.message) for w in got] == [str(w.message) for w in want]
        assert want and all(issubclass(w.category, ib.InnobaroWarning) for w in got)
        np.testing.assert_allclose(a.estimate, b.estimate, rtol=RTOL)
