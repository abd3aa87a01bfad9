"""Weighting on engine designs, the top-level estimators on them, and failures.

Every estimate of a post-stratified, raked or calibrated engine design is
compared with the same weighting and estimator on an ``ib.Design`` over the
same rows at rtol 1e-10 (estimates, covariance matrices, degrees of freedom,
intervals, design effects), on stratified, clustered, fpc and multistage
designs with domains and missing values. Dask runs on a two-worker
``LocalCluster`` (one per module) with small partitions; DuckDB reads Parquet
files written here. A Dask worker that dies mid-computation is replaced and
the answer is the same.
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
from innobaro.engines import EngineDesign, FrameSource
from innobaro.errors import (
    DesignError,
    InnobaroWarning,
    MissingValueError,
    UnsupportedDesignError,
)

RTOL = 1e-10


def _data(seed: int = 3, n: int = 1200) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    h = rng.integers(0, 6, n)
    psu = h * 100 + rng.integers(0, 8, n)
    ssu = psu * 10 + rng.integers(0, 4, n)
    df = pd.DataFrame({"h": h, "psu": psu, "ssu": ssu,
                       "w": rng.uniform(1, 6, n), "y": rng.normal(50, 10, n),
                       "x": rng.uniform(1, 3, n),
                       "b": (rng.uniform(size=n) < 0.3).astype(float),
                       "g": rng.choice(["north", "south", "west"], n),
                       "k": rng.integers(0, 2, n),
                       "r": rng.choice(["lo", "mid", "hi"], n)})
    df["N1"] = 12 + df["h"]
    df["N2"] = 9
    df["p"] = 1.0 / df["w"]
    df.loc[rng.choice(n, 25, replace=False), "y"] = np.nan
    df.loc[rng.choice(n, 5, replace=False), "w"] = 0.0
    return df


def _engine_design(engine: str, df: pd.DataFrame, tmp: Path, request: Any, **kw: Any) -> Any:
    return engine_design(engine, df, tmp, request, npartitions=7, **kw)


def _same(a: ib.Estimate, b: ib.Estimate) -> None:
    assert list(a.estimate.index) == list(b.estimate.index)
    np.testing.assert_allclose(a.estimate, b.estimate, rtol=RTOL)
    np.testing.assert_allclose(a.vcov, b.vcov, rtol=RTOL, atol=1e-13 * np.abs(b.vcov).max().max())
    np.testing.assert_array_equal(a.df_values, b.df_values)
    np.testing.assert_allclose(a.ci(), b.ci(), rtol=RTOL)
    np.testing.assert_allclose(a.deff, b.deff, rtol=1e-8)
    np.testing.assert_allclose(a.deff_replace, b.deff_replace, rtol=1e-8)
    assert a.kind == b.kind


DESIGNS = {
    "stratified-cluster": dict(weights="w", strata="h", psu="psu"),
    "cluster-probs": dict(probs="p", psu="psu"),
    "fpc": dict(weights="w", strata="h", psu="psu", fpc="N1"),
    "multistage-fpc": dict(weights="w", strata="h", psu=["psu", "ssu"], fpc=["N1", "N2"]),
}

POST = {"north": 4000.0, "south": 3000.0, "west": 2000.0}
MARGINS = {"g": POST, "k": {0: 5000.0, 1: 4000.0}}
TOTALS = {"Intercept": 9000.0, "x": 18500.0, "b": 2800.0}


def _weight(design: Any, how: str) -> Any:
    if how == "poststratify":
        return design.poststratify("g", POST)
    if how == "rake":
        return design.rake(MARGINS)
    return design.calibrate(TOTALS)


def _compare(e: Any, d: Any, methods: list[str]) -> None:
    _same(e.mean(["y", "x"], by="k", na_rm=True), ib.mean(d, ["y", "x"], by="k", na_rm=True))
    if e.engine == "dask":  # each pass a round trip to the cluster (CI time)
        _same(e.ratio("b", "x", by="r"), ib.ratio(d, "b", "x", by="r"))
        _same(e.total("r"), ib.total(d, "r"))
        return
    _same(e.total(["x", "b"], by=["g", "k"]), ib.total(d, ["x", "b"], by=["g", "k"]))
    _same(e.ratio(["y", "b"], "x", by="r", na_rm=True),
          ib.ratio(d, ["y", "b"], "x", by="r", na_rm=True))
    _same(e.mean("r", by="g"), ib.mean(d, "r", by="g"))  # a categorical variable's shares
    _same(e.total("r"), ib.total(d, "r"))
    for method in methods:
        a = e.proportion("b", by="r", method=method, level=0.9)
        b = ib.proportion(d, "b", by="r", method=method, level=0.9)
        _same(a, b)
        np.testing.assert_allclose(a.to_frame().to_numpy(dtype=float),
                                   b.to_frame().to_numpy(dtype=float), rtol=RTOL)


WEIGHTINGS = ["poststratify", "rake", "calibrate"]
# DuckDB on two designs (weights from probabilities in SQL; multistage with fpc) and Dask
# on one: each pass is a query or a round trip to the cluster (CI time)
CASES = ([("pandas", d, w) for d in DESIGNS for w in WEIGHTINGS]
         + [("duckdb", d, w) for d in ("cluster-probs", "multistage-fpc") for w in WEIGHTINGS]
         + [("dask", "stratified-cluster", w) for w in WEIGHTINGS])


@pytest.mark.parametrize(("engine", "design", "how"), CASES)
def test_weighted_estimators_match_in_memory(engine: str, design: str, how: str,
                                             tmp_path: Path, request: Any) -> None:
    df = _data()
    kw = DESIGNS[design]
    d = _weight(ib.Design(df, **kw), how)
    e = _weight(_engine_design(engine, df, tmp_path, request, **kw), how)
    assert e.n == len(df) and e.df == d.df and e.engine == engine
    assert how[:4] in repr(e)
    _compare(e, d, ["logit", "beta", "wilson"])


@pytest.mark.parametrize("rule", ["adjust", "average", "certainty"])
@pytest.mark.parametrize("how", WEIGHTINGS)
def test_weighting_with_lonely_psus(rule: str, how: str) -> None:
    df = _data(n=700)
    df.loc[df["h"] == 5, "psu"] = 500  # one PSU in stratum 5
    kw = dict(weights="w", strata="h", psu="psu", lonely_psu=rule)
    d = _weight(ib.Design(df, **kw), how)
    e = _weight(EngineDesign(FrameSource(df), **kw), how)
    _same(e.mean("y", by="g", na_rm=True), ib.mean(d, "y", by="g", na_rm=True))
    _same(e.total("x", by="k"), ib.total(d, "x", by="k"))


def test_poststratify_by_two_columns_and_a_frame_of_totals() -> None:
    df = _data(n=800)
    totals = pd.DataFrame({"g": ["north", "north", "south", "south", "west", "west"],
                           "k": [0, 1, 0, 1, 0, 1],
                           "N": [2000.0, 1800, 1500, 1400, 1100, 900]})
    kw = dict(weights="w", strata="h", psu="psu", fpc="N1")
    d = ib.Design(df, **kw).poststratify(["g", "k"], totals)
    e = EngineDesign(FrameSource(df), **kw).poststratify(["g", "k"], totals)
    _same(e.mean("x", by="r"), ib.mean(d, "x", by="r"))
    np.testing.assert_allclose(e.total("b").estimate, ib.total(d, "b").estimate, rtol=RTOL)


def test_the_estimators_dispatch_to_engine_designs(tmp_path: Path, request: Any) -> None:
    df = _data(n=600)
    kw = dict(weights="w", strata="h", psu="psu")
    for engine in ("pandas", "duckdb"):
        e = _engine_design(engine, df, tmp_path, request, **kw)
        for w in (e, e.rake(MARGINS)):
            _same(ib.mean(w, "x", by="g"), w.mean("x", by="g"))
            _same(ib.total(w, ["x", "b"]), w.total(["x", "b"]))
            _same(ib.ratio(w, "y", "x", na_rm=True), w.ratio("y", "x", na_rm=True))
            _same(ib.proportion(w, "b", method="beta", level=0.9),
                  w.proportion("b", method="beta", level=0.9))
    d = ib.Design(df, **kw)
    _same(ib.mean(e, "x", by="g"), ib.mean(d, "x", by="g"))
    with pytest.raises(UnsupportedDesignError, match="se='bell-mccaffrey' needs the rows"):
        ib.mean(e, "x", se="bell-mccaffrey")
    with pytest.raises(UnsupportedDesignError, match="ratio: se="):
        ib.ratio(e, "y", "x", se="bell-mccaffrey-2")


def test_weighting_errors_are_named_as_in_memory() -> None:
    df = _data(n=500)
    kw = dict(weights="w", strata="h", psu="psu")
    d = ib.Design(df, **kw)
    e = EngineDesign(FrameSource(df), **kw)
    # a sample cell without a population count, and one without sample
    for totals in ({"north": 10.0, "south": 20.0}, {**POST, "east": 5.0}):
        with pytest.raises(DesignError) as mem:
            d.poststratify("g", totals)
        with pytest.raises(DesignError) as eng:
            e.poststratify("g", totals)
        assert str(eng.value) == str(mem.value)
    with pytest.warns(InnobaroWarning, match="population cell.*east; ignored"):
        p = e.poststratify("g", {**POST, "east": 5.0}, partial=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InnobaroWarning)
        dp = d.poststratify("g", {**POST, "east": 5.0}, partial=True)
    _same(p.mean("x"), ib.mean(dp, "x"))
    with pytest.raises(DesignError, match="rake: margin 'g' does not match"):
        e.rake({"g": {"north": 1.0}, "k": {0: 1.0, 1: 2.0}})
    with pytest.raises(DesignError, match="poststratify: column 'nope' is not in the data"):
        e.poststratify("nope", POST)
    with pytest.raises(MissingValueError, match="poststratify: column 'g' has missing"):
        EngineDesign(FrameSource(df.assign(g=df["g"].where(df.index != 4))),
                     **kw).poststratify("g", POST)
    with pytest.raises(UnsupportedDesignError, match="weighted already"):
        e.poststratify("g", POST).rake(MARGINS)
    with pytest.raises(UnsupportedDesignError, match="aggregate_stage= and aggregate_index="):
        e.calibrate(TOTALS, aggregate_stage=1)
    with pytest.raises(DesignError, match="column 'g' is not numeric"):
        e.calibrate({"g": 3.0})
    with pytest.raises(UnsupportedDesignError, match="negative or infinite calibrated weight"):
        e.calibrate({"Intercept": 9000.0, "x": 40000.0})
    with pytest.raises(MissingValueError, match="calibrate: column 'y' has missing"):
        e.calibrate({"y": 1e5})
    assert df.equals(_data(n=500))  # the user's frame is unchanged


def test_weighted_duckdb_source_that_changes_is_refused() -> None:
    duckdb = pytest.importorskip("duckdb")
    df = _data(n=400)
    con = duckdb.connect()
    con.register("frame", df)
    con.execute("CREATE TABLE survey AS SELECT * FROM frame")
    e = ib.Design.from_duckdb("survey", connection=con, weights="w", strata="h",
                              psu="psu").calibrate(TOTALS)
    e.mean("x")
    con.execute("UPDATE survey SET x = x * 2 WHERE h = 1")  # the calibrated weights change
    with pytest.raises(ib.errors.EngineError, match="source changed"):
        e.mean("x")


def test_a_dask_worker_lost_mid_computation(client: Any, tmp_path: Path) -> None:
    """A worker dies while reducing a partition: the scheduler reruns the task on
    another worker (the nanny starts a new one) and the numbers are the same."""
    import dask.dataframe as dd

    df = _data(n=900)
    marker = tmp_path / "died"

    def die_once(part: pd.DataFrame, path: str) -> pd.DataFrame:
        import os

        if len(part) and not os.path.exists(path):
            open(path, "w").close()
            os._exit(1)  # the worker process is lost
        return part

    frame = dd.from_pandas(df, npartitions=6)
    lossy = frame.map_partitions(die_once, str(marker), meta=frame._meta)
    kw = dict(weights="w", strata="h", psu="psu")
    e = ib.Design.from_dask(lossy, split_every=2, **kw)
    assert marker.exists()  # a worker did die during the structure pass
    d = ib.Design(df, **kw)
    _same(e.mean(["y", "x"], by="g", na_rm=True), ib.mean(d, ["y", "x"], by="g", na_rm=True))
    marker.unlink()  # and again, during an estimate of a raked design
    _same(e.rake(MARGINS).total("x", by="k"), ib.total(d.rake(MARGINS), "x", by="k"))
    client.wait_for_workers(2, timeout=60)


@pytest.mark.parametrize("how", WEIGHTINGS)
def test_weighting_columns_as_domains_and_variables(how: str) -> None:
    """A margin (or post-stratum, or auxiliary) that is also the estimated
    variable, a domain, or the stratum column."""
    df = _data(n=800)
    kw = dict(weights="w", strata="h", psu="psu")
    d = _weight(ib.Design(df, **kw), how)
    e = _weight(EngineDesign(FrameSource(df), **kw), how)
    _same(e.mean("g", by="k"), ib.mean(d, "g", by="k"))
    _same(e.proportion("k", by="g"), ib.proportion(d, "k", by="g"))
    _same(e.total(["x", "b"], by="h"), ib.total(d, ["x", "b"], by="h"))
    _same(e.ratio("y", "x", by="g", na_rm=True), ib.ratio(d, "y", "x", by="g", na_rm=True))
    by_stratum = {h: 1000.0 + 100 * h for h in range(6)}
    _same(EngineDesign(FrameSource(df), **kw).poststratify("h", by_stratum).mean(
        "y", by="g", na_rm=True),
          ib.mean(ib.Design(df, **kw).poststratify("h", by_stratum), "y", by="g", na_rm=True))


def test_dask_cells_only_in_some_partitions(client: Any) -> None:
    """Sorted by the post-stratum and the stratum: each post-stratum, margin
    level and stratum lives in a few partitions only, and PSUs straddle them."""
    import dask.dataframe as dd

    df = _data(n=900).sort_values(["g", "h"], kind="stable")
    kw = dict(weights="w", strata="h", psu="psu")
    d = ib.Design(df, **kw)
    e = ib.Design.from_dask(dd.from_pandas(df, npartitions=9), split_every=2, **kw)
    _same(e.poststratify("g", POST).mean("y", by="k", na_rm=True),
          ib.mean(d.poststratify("g", POST), "y", by="k", na_rm=True))
    _same(e.rake(MARGINS).total("b", by="g"), ib.total(d.rake(MARGINS), "b", by="g"))


# ---------------------------------------------------------------------------
# calibration beyond the linear distance: Newton steps as passes
# ---------------------------------------------------------------------------
CALIBRATIONS: dict[str, dict[str, Any]] = {
    "raking": dict(method="raking"),
    "logit": dict(method="logit", bounds=(0.5, 4.0)),
    "sinh": dict(method="sinh", bounds=(0.5, 4.0)),
    "linear-bounds-const": dict(bounds=(2.0, 12.0), bounds_const=True),
    "raking-bound-column": dict(method="raking", bounds=("lo", 4.0)),
    "variance-column": dict(variance="x"),
    "variance-coefficients": dict(variance=[0.0, 1.0, 0.0]),
    "raking-variance": dict(method="raking", variance="x"),
}


def _cal_data(n: int = 1200) -> pd.DataFrame:
    df = _data(n=n)
    df["lo"] = 0.6 + df["h"] / 20  # per-row lower bounds on the g-weights
    return df


def _calibrated_same(e: Any, d: Any, totals: dict[str, float]) -> None:
    """Estimates, covariances, df, intervals and the calibrated weights' totals."""
    _same(e.mean(["y", "x"], by="k", na_rm=True), ib.mean(d, ["y", "x"], by="k", na_rm=True))
    _same(e.total("y", by="g", na_rm=True), ib.total(d, "y", by="g", na_rm=True))
    aux = [a for a in totals if a != "Intercept"]
    np.testing.assert_allclose(e.total(aux).estimate, ib.total(d, aux).estimate, rtol=RTOL)
    np.testing.assert_allclose(e.total(aux).estimate, [totals[a] for a in aux], rtol=1e-6)
    if e.engine != "dask":  # each pass a round trip to the cluster (CI time)
        _same(e.ratio("y", "x", by="r", na_rm=True), ib.ratio(d, "y", "x", by="r", na_rm=True))
        _same(e.proportion("b", by="g", method="logit"),
              ib.proportion(d, "b", by="g", method="logit"))


CAL_CASES = ([("pandas", c) for c in CALIBRATIONS]
             + [("duckdb", c) for c in ("raking", "logit", "raking-bound-column",
                                        "variance-coefficients")]
             + [("dask", c) for c in ("raking", "sinh", "variance-column")])


@pytest.mark.parametrize(("engine", "case"), CAL_CASES)
def test_calibration_methods_match_in_memory(engine: str, case: str, tmp_path: Path,
                                             request: Any) -> None:
    df = _cal_data()
    kw = DESIGNS["stratified-cluster"] if engine != "duckdb" else DESIGNS["cluster-probs"]
    args = CALIBRATIONS[case]
    d = ib.Design(df, **kw).calibrate(TOTALS, **args)
    e = _engine_design(engine, df, tmp_path, request, **kw).calibrate(TOTALS, **args)
    assert "calibrated" in repr(e) and e.df == d.df
    linear = "method" not in args and "bounds" not in args
    # Newton's steps are passes: the structure pass, one per step, the weighted rows'
    assert (e.passes == 2) if linear else (e.passes > 3)
    _calibrated_same(e, d, TOTALS)


def test_calibration_with_lonely_psus_fpc_and_multistage() -> None:
    lonely = _cal_data(n=700)
    lonely.loc[lonely["h"] == 5, "psu"] = 500  # one PSU in stratum 5
    for df, kw in ((lonely, dict(weights="w", strata="h", psu="psu", lonely_psu="adjust")),
                   (_cal_data(n=700), DESIGNS["multistage-fpc"])):
        d = ib.Design(df, **kw).calibrate(TOTALS, method="raking", bounds=(0.5, 5.0))
        e = EngineDesign(FrameSource(df), **kw).calibrate(TOTALS, method="raking",
                                                          bounds=(0.5, 5.0))
        _same(e.mean("y", by="g", na_rm=True), ib.mean(d, "y", by="g", na_rm=True))
        _same(e.total("b", by="k"), ib.total(d, "b", by="k"))


FORMULA = "~ g + C(k) + np.log(x) + I(x * b)"
FORMULA_TOTALS = {"Intercept": 9000.0, "g[T.south]": 3000.0, "g[T.west]": 2000.0,
                  "C(k)[T.1]": 4000.0, "np.log(x)": 6000.0, "I(x * b)": 5500.0}


@pytest.mark.parametrize(("engine", "method"), [("pandas", "linear"), ("pandas", "raking"),
                                                ("dask", "raking")])
def test_calibration_formula_matches_in_memory(engine: str, method: str, tmp_path: Path,
                                               request: Any) -> None:
    df = _cal_data()
    kw = DESIGNS["stratified-cluster"]
    d = ib.Design(df, **kw).calibrate(FORMULA_TOTALS, formula=FORMULA, method=method)
    e = _engine_design(engine, df, tmp_path, request, **kw).calibrate(
        FORMULA_TOTALS, formula=FORMULA, method=method)
    _same(e.mean(["y", "x"], by="k", na_rm=True), ib.mean(d, ["y", "x"], by="k", na_rm=True))
    np.testing.assert_allclose(e.total("g").estimate, [4000.0, 3000.0, 2000.0], rtol=1e-6)
    np.testing.assert_allclose(e.total("g").estimate, ib.total(d, "g").estimate, rtol=RTOL)
    if engine == "pandas":
        _same(e.ratio("y", "x", by="g", na_rm=True), ib.ratio(d, "y", "x", by="g", na_rm=True))
        # a pandas categorical's own order of levels, with one level unused
        cat = df.assign(g=pd.Categorical(df["g"], categories=["west", "east", "south",
                                                                 "north"]))
        tot = {"Intercept": 9000.0, "g[T.south]": 3000.0, "g[T.north]": 4000.0}
        d2 = ib.Design(cat, **kw).calibrate(tot, formula="~ g", method=method)
        e2 = EngineDesign(FrameSource(cat), **kw).calibrate(tot, formula="~ g", method=method)
        _same(e2.mean("y", by="k", na_rm=True), ib.mean(d2, "y", by="k", na_rm=True))


def _same_error(kind: type, mem: Any, eng: Any) -> None:
    with pytest.raises(kind) as a:
        mem()
    with pytest.raises(kind) as b:
        eng()
    assert str(b.value) == str(a.value)


@pytest.mark.parametrize("engine", ["pandas", "duckdb", "dask"])
def test_calibration_failures_as_in_memory(engine: str, tmp_path: Path, request: Any) -> None:
    df = _cal_data(n=600)
    df.loc[7, "x"] = np.nan  # a missing value in an auxiliary
    kw = DESIGNS["stratified-cluster"]
    d = ib.Design(df, **kw)
    e = _engine_design(engine, df, tmp_path, request, **kw)
    tot = {"Intercept": 4500.0, "x": 9000.0}
    _same_error(MissingValueError, lambda: d.calibrate(tot, method="raking"),
                lambda: e.calibrate(tot, method="raking"))
    # raking with bounds too tight to converge in max_iter steps: the same error
    tot = {"Intercept": 4500.0, "b": 1400.0}
    args = dict(method="raking", bounds=(1.5, 2.6), max_iter=8)
    from innobaro import CalibrationError
    _same_error(CalibrationError, lambda: d.calibrate(tot, **args),
                lambda: e.calibrate(tot, **args))
    if engine != "pandas":
        return
    # bounds and variances the distance cannot use, and totals out of reach
    for kind, args in ((DesignError, dict(method="logit")),
                       (DesignError, dict(method="logit", bounds=(1.2, 3.0))),
                       (DesignError, dict(bounds=(3.0, 2.0))),
                       (MissingValueError, dict(method="raking", bounds=("y", 4.0))),
                       (DesignError, dict(variance="k")),
                       (MissingValueError, dict(variance="y")),
                       (CalibrationError, dict(method="raking", bounds=(0.5, 1.1)))):
        _same_error(kind, lambda a=args: d.calibrate(tot, **a),  # type: ignore[misc]
                    lambda a=args: e.calibrate(tot, **a))  # type: ignore[misc]
    with pytest.raises(UnsupportedDesignError, match="lower bound is a number or a column"):
        e.calibrate(tot, bounds=(np.full(600, 0.5), 3.0))
    with pytest.raises(DesignError, match="column 'nope' is not in the data"):
        e.calibrate(tot, bounds=("nope", 3.0))
    # a formula with a missing value in a term's column
    ftot = {"Intercept": 4500.0, "g[T.south]": 1500.0, "g[T.west]": 1000.0, "x": 9000.0}
    _same_error(MissingValueError, lambda: d.calibrate(ftot, formula="~ g + x"),
                lambda: e.calibrate(ftot, formula="~ g + x"))
    with pytest.raises(UnsupportedDesignError, match="a function of a whole column"):
        e.calibrate(ftot, formula="~ g + center(x)")
    assert df.equals(_cal_data(n=600).assign(x=df["x"]))  # the user's frame is unchanged


def test_calibration_prescaling_and_formula_on_duckdb(tmp_path: Path, request: Any) -> None:
    df = _cal_data(n=600)
    kw = DESIGNS["cluster-probs"]
    big = {k: 40 * v for k, v in TOTALS.items()}  # weights far below the totals: R's rescaling
    with pytest.warns(InnobaroWarning, match="after rescaling the weights") as mem:
        d = ib.Design(df, **kw).calibrate(big, method="logit", bounds=(0.5, 4.0))
    e = _engine_design("duckdb", df, tmp_path, request, **kw)
    with pytest.warns(InnobaroWarning, match="after rescaling the weights") as eng:
        c = e.calibrate(big, method="logit", bounds=(0.5, 4.0))
    assert str(eng[0].message) == str(mem[0].message)
    _same(c.mean("y", by="k", na_rm=True), ib.mean(d, "y", by="k", na_rm=True))
    with pytest.raises(UnsupportedDesignError, match="formula= is not available on a duckdb"):
        e.calibrate({"Intercept": 1.0}, formula="~ 1")


def _replicate_frame(n: int, method: str, **kw: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
    df = _data(n=n)
    rd = ib.Design(df, weights="w", strata="h", psu="psu").replicate(method=method, **kw)
    names = [f"r{k}" for k in range(rd.n_replicates)]
    frame = pd.concat([df, pd.DataFrame(rd.unmasked_replicate_weights, columns=names)], axis=1)
    return frame, dict(weights="w", replicate_weights=names, method=rd.method, scale=rd.scale,
                       rscales=list(rd.rscales))


# jkn: a replicate per PSU (48); bootstrap: 12 on the engines, whose passes and
# Gram sums grow with the replicates (CI time)
REPLICATE_CASES = ([("pandas", m, how) for m in ("jkn", "bootstrap")
                    for how in ("poststratify", "rake")]
                   + [("duckdb", "bootstrap", "poststratify"), ("duckdb", "bootstrap", "rake"),
                      ("dask", "bootstrap", "rake")])


@pytest.mark.parametrize(("engine", "method", "how"), REPLICATE_CASES)
def test_replicate_weighting_matches_in_memory(engine: str, method: str, how: str,
                                               tmp_path: Path, request: Any) -> None:
    """Each replicate post-stratified or raked (R's svrepdesign weighting), with
    each domain's df by the rank of the weighted replicate weights."""
    frame, kw = _replicate_frame(800, method, **(dict(replicates=12, seed=1)
                                                 if method == "bootstrap" else {}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InnobaroWarning)
        d = _weight(ib.ReplicateDesign(frame, **kw), how)
    e = _weight(_engine_design(engine, frame, tmp_path, request, **kw), how)
    assert e.df == d.df and how[:4] in repr(e)
    _same(e.mean(["y", "x"], by="k", na_rm=True), ib.mean(d, ["y", "x"], by="k", na_rm=True))
    _same(e.total("x", by="r"), ib.total(d, "x", by="r"))
    if engine != "dask":  # each pass a round trip to the cluster (CI time)
        _same(e.mean("r"), ib.mean(d, "r"))
        _same(e.ratio("y", "x", by="g", na_rm=True), ib.ratio(d, "y", "x", by="g", na_rm=True))
        for ci in ("logit", "wilson"):
            _same(e.proportion("b", by="g", method=ci), ib.proportion(d, "b", by="g", method=ci))


def test_replicate_weighting_multipliers_mse_and_errors() -> None:
    frame, kw = _replicate_frame(500, "jkn")
    names = kw["replicate_weights"]
    pos = frame["w"] > 0
    mult = frame.assign(**{c: (frame[c] / frame["w"]).where(pos, 0.0) for c in names})
    for data, extra in ((mult, dict(combined_weights=False)), (frame, dict(mse=True))):
        args = {**kw, **extra}
        from innobaro.engines import ReplicateEngineDesign

        e = ReplicateEngineDesign(FrameSource(data), **args).rake(MARGINS)
        d = ib.ReplicateDesign(data, **args).rake(MARGINS)
        _same(e.mean("y", by="g", na_rm=True), ib.mean(d, "y", by="g", na_rm=True))
    e = ReplicateEngineDesign(FrameSource(frame), **kw)
    m = ib.ReplicateDesign(frame, **kw)
    # a population cell without sample: the in-memory error; weighting twice; calibration
    _same_error(DesignError, lambda: m.poststratify("g", {**POST, "east": 5.0}),
                lambda: e.poststratify("g", {**POST, "east": 5.0}))
    with pytest.raises(UnsupportedDesignError, match="weighted already"):
        e.poststratify("g", POST).rake(MARGINS)
    with pytest.raises(UnsupportedDesignError, match="bounds_const=True on a replicate"):
        e.calibrate(TOTALS, bounds=(1.0, 20.0), bounds_const=True)
    # totals out of reach in a replicate, and no convergence: the in-memory errors
    from innobaro import CalibrationError
    for args in (dict(method="raking", bounds=(0.9, 2.3)),
                 dict(method="raking", bounds=(0.5, 4.0), max_iter=3)):
        _same_error(CalibrationError, lambda a=args: m.calibrate(TOTALS, **a),  # type: ignore
                    lambda a=args: e.calibrate(TOTALS, **a))  # type: ignore[misc]
    with pytest.raises(UnsupportedDesignError, match="weighted already"):
        e.calibrate(TOTALS).poststratify("g", POST)
    with pytest.raises(MissingValueError, match="poststratify: column 'g' has missing"):
        ReplicateEngineDesign(FrameSource(frame.assign(g=frame["g"].where(frame.index != 3))),
                              **kw).poststratify("g", POST)


REP_CALIBRATIONS: list[tuple[str, dict[str, Any]]] = [
    ("pandas", {}), ("pandas", dict(variance="x")), ("pandas", dict(formula=FORMULA)),
    ("pandas", dict(method="logit", bounds=(0.2, 10.0))),
    ("pandas", dict(method="linear", bounds=(0.5, 6.0))),
    ("pandas", dict(method="raking", bounds=("lo", 8.0))),
    ("duckdb", dict(variance="x")), ("duckdb", dict(method="raking")),
    ("dask", {})]  # Dask: each Newton step a round trip to the cluster (CI time)


@pytest.mark.parametrize(("engine", "args"), REP_CALIBRATIONS)
def test_replicate_calibration_matches_in_memory(engine: str, args: dict[str, Any],
                                                 tmp_path: Path, request: Any) -> None:
    """The full sample and every replicate calibrated (R's calibrate on an
    svrepdesign; Newton steps for every replicate at once, one pass each), each
    weight a column the engine computes."""
    frame, kw = _replicate_frame(800, "bootstrap", replicates=12, seed=1)
    frame["lo"] = 0.2 + frame["h"] / 20  # per-row lower bounds on the g-weights
    totals = FORMULA_TOTALS if "formula" in args else TOTALS
    d = ib.ReplicateDesign(frame, **kw).calibrate(totals, **args)
    e = _engine_design(engine, frame, tmp_path, request, **kw).calibrate(totals, **args)
    assert e.df == d.df and "calibrated" in repr(e)
    newton = "method" in args or "bounds" in args
    assert (e.passes > 5) if newton else (e.passes == 4)
    _same(e.mean(["y", "x"], by="k", na_rm=True), ib.mean(d, ["y", "x"], by="k", na_rm=True))
    _same(e.total("y", by="r", na_rm=True), ib.total(d, "y", by="r", na_rm=True))
    if engine != "dask":  # each pass a round trip to the cluster (CI time)
        _same(e.proportion("b", by="g", method="wilson"),
              ib.proportion(d, "b", by="g", method="wilson"))
    if engine == "pandas" and not args:  # multipliers, and a replicate without a level
        names = kw["replicate_weights"]
        pos = frame["w"] > 0
        mult = frame.assign(**{c: (frame[c] / frame["w"]).where(pos, 0.0) for c in names})
        margs = {**kw, "combined_weights": False}
        from innobaro.engines import ReplicateEngineDesign

        a = ReplicateEngineDesign(FrameSource(mult), **margs).calibrate(TOTALS)
        b = ib.ReplicateDesign(mult, **margs).calibrate(TOTALS)
        _same(a.mean("y", by="g", na_rm=True), ib.mean(b, "y", by="g", na_rm=True))
        lone = frame.assign(z=(frame["psu"] == frame["psu"].iloc[0]).astype(float))
        ztot = {"Intercept": 9000.0, "z": 50.0}
        _same_error(DesignError, lambda: ib.ReplicateDesign(lone, **kw).calibrate(ztot),
                    lambda: ReplicateEngineDesign(FrameSource(lone), **kw).calibrate(ztot))


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_tables_quantiles_and_models_of_weighted_designs(engine: str, tmp_path: Path,
                                                          request: Any) -> None:
    """A post-stratified engine design's tables and tests carry the weighting
    (its post-strata are keys of the cells): ib.table's and ib.chisq_test's
    numbers. What a weighted engine design cannot carry through its cells (the
    tables of raked and calibrated designs, quantiles, models) is a named error,
    never a standard error that ignores the weighting."""
    df = _data(n=800)
    kw = dict(weights="w", strata="h", psu="psu")
    d = ib.Design(df, **kw)
    e = _engine_design(engine, df, tmp_path, request, **kw)
    for how in WEIGHTINGS:
        we, wd = _weight(e, how), _weight(d, how)
        if how == "poststratify":
            got, want = we.table("b", "r"), ib.table(wd, "b", "r")
            pd.testing.assert_frame_equal(got, want, rtol=RTOL, check_dtype=False)
            for stat in ("F", "Chisq", "Wald"):
                a = we.chisq_test("b", "r", statistic=stat)
                b = ib.chisq_test(wd, "b", "r", statistic=stat)
                np.testing.assert_allclose([a.statistic, a.pvalue], [b.statistic, b.pvalue],
                                           rtol=RTOL)
        else:
            with pytest.raises(UnsupportedDesignError, match=r"tables on a \w+ design (raked|"
                                                             r"calibrated).*ib\.table"):
                we.table("b", "r")
            with pytest.raises(UnsupportedDesignError, match="tables on"):
                we.chisq_test("b", "r")
        with pytest.raises(UnsupportedDesignError, match=r"quantiles on .*ib\.quantile"):
            we.quantile("x", 0.5)
        with pytest.raises(UnsupportedDesignError, match=r"models on .*ib\.glm"):
            we.glm("x ~ b")
        with pytest.raises(UnsupportedDesignError, match=r"models on"):
            we.logit("b ~ x")


def test_replicate_weighted_tables_carry_the_weighting_and_the_rest_is_named() -> None:
    """Post-stratified and raked replicate designs over an engine: tables and
    their tests are ib.table's (the weighted replicate columns are the cells'),
    quantiles and models a named error; a calibrated one gives them all."""
    from innobaro.engines import ReplicateEngineDesign

    frame, kw = _replicate_frame(600, "jkn")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InnobaroWarning)
        base = ib.ReplicateDesign(frame, **kw)
        for how in WEIGHTINGS:
            d = _weight(base, how)
            e = _weight(ReplicateEngineDesign(FrameSource(frame), **kw), how)
            pd.testing.assert_frame_equal(e.table("b", "r"), ib.table(d, "b", "r"),
                                          rtol=RTOL, check_dtype=False)
            a, b = e.chisq_test("b", "r"), ib.chisq_test(d, "b", "r")
            np.testing.assert_allclose([a.statistic, a.pvalue], [b.statistic, b.pvalue],
                                       rtol=RTOL)
            if how == "calibrate":
                np.testing.assert_allclose(e.quantile("x", 0.5).se,
                                           ib.quantile(d, "x", 0.5).se, rtol=RTOL)
                np.testing.assert_allclose(e.glm("x ~ b").bse, ib.glm("x ~ b", d).bse,
                                           rtol=RTOL)
                continue
            with pytest.raises(UnsupportedDesignError, match="quantiles on"):
                e.quantile("x", 0.5)
            with pytest.raises(UnsupportedDesignError, match="models on"):
                e.glm("x ~ b")
