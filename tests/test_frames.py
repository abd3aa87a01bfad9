"""Any data frame in: polars and pyarrow frames give the pandas answer, exactly.

The same survey (strata, clusters, fpc, a categorical by-variable whose
categories are not in alphabetical order, missing values, a text column, a
boolean column and given replicate weights) is passed to innobaro as a pandas
DataFrame, a polars DataFrame, a pyarrow Table and a pyarrow RecordBatch.
Every estimator, test, model and weighting step must give the pandas
numbers bit for bit, return pandas results, and leave the user's frame as it
was. The design converts only the columns an analysis reads.
"""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import innobaro as ib
from innobaro._frames import FrameView

pl = pytest.importorskip("polars")
pa = pytest.importorskip("pyarrow")

ORDER = ["mid", "low", "high"]  # not alphabetical: the order must survive


def make_pandas() -> pd.DataFrame:
    rng = np.random.default_rng(20261204)
    n_strata, psu_per, rows_per = 4, 6, 5
    n = n_strata * psu_per * rows_per
    psu = np.arange(n) // rows_per
    stratum = psu // psu_per
    y = rng.normal(10, 3, n) + stratum
    y[[3, 40, 77]] = np.nan
    text = rng.choice(["oslo", "bergen", "tromsø"], n).astype(object)
    text[[5, 90]] = None
    df = pd.DataFrame({
        "region": np.array(["north", "south", "east", "west"])[stratum],
        "psu": psu + 100,
        "fpc": np.full(n, 40.0),
        "w": rng.uniform(5, 15, n),
        "y": y,
        "x": rng.uniform(1, 4, n),
        "b": rng.integers(0, 2, n),
        "flag": rng.random(n) < 0.4,
        "size": pd.Categorical(rng.choice(ORDER, n), categories=ORDER),
        "town": text,
    })
    # given replicate weights (JKn of the design), as agencies ship them
    d = ib.Design(df, weights="w", strata="region", psu="psu")
    reps = d.replicate("jkn").replicate_weights
    return pd.concat([df, reps], axis=1)


PANDAS = make_pandas()
REPS = [c for c in PANDAS.columns if c.startswith("rep")]


def to_polars(df: pd.DataFrame) -> object:
    return pl.from_pandas(df).with_columns(pl.col("size").cast(pl.Enum(ORDER)))


def to_arrow(df: pd.DataFrame) -> object:
    return pa.Table.from_pandas(df, preserve_index=False)


MAKERS = {
    "pandas": lambda df: df,
    "polars": to_polars,
    "arrow": to_arrow,
    "batch": lambda df: to_arrow(df).to_batches(max_chunksize=len(df))[0],
}
KINDS = ["polars", "arrow", "batch"]


def design(data: object) -> ib.Design:
    return ib.Design(data, weights="w", strata="region", psu="psu", fpc="fpc")


def replicate_design(data: object) -> ib.ReplicateDesign:
    rscales = np.repeat(5 / 6, len(REPS))
    return ib.ReplicateDesign(data, weights="w", replicate_weights=REPS, method="jkn",
                              rscales=rscales)


def _tables(result: object) -> list[object]:
    """What is compared of a result: its pandas objects and numbers."""
    if isinstance(result, ib.Estimate):
        return [result.to_frame(), result.vcov, result.ci(), result.df]
    if isinstance(result, ib.GLMResult):
        return [result.params, result.bse, result.vcov, result.df_resid,
                result.conf_int(), result.predict(se=True)]
    if isinstance(result, ib.TestResult):
        return [result.statistic, result.df, result.p_value]
    return [result]


CALLS = {
    "mean_by_size": lambda d: ib.mean(d, "y", by="size", na_rm=True),
    "total_by_town": lambda d: ib.total(d.subset(PANDAS["town"].notna().to_numpy()), "x",
                                        by="town"),
    "ratio": lambda d: ib.ratio(d, "y", "x", na_rm=True),
    "proportion_by_size": lambda d: ib.proportion(d, "b", by="size"),
    "share_of_each_size": lambda d: ib.mean(d, "size"),
    "share_of_flag": lambda d: ib.mean(d, "flag", by="region"),
    "quantile": lambda d: ib.quantile(d, "y", [0.25, 0.5], na_rm=True),
    "chisq_test": lambda d: ib.chisq_test(d, "size", "flag"),
    "ttest": lambda d: ib.ttest(d, "x", "flag"),
    "logit": lambda d: ib.logit("b ~ C(size) + x + town", d),
    "margins": lambda d: ib.logit("b ~ C(size) + x", d).margins("size"),
    "marginal_effect": lambda d: ib.average_marginal_effect(ib.logit("b ~ C(size) + x", d),
                                                            "x"),
    "predictive_margins": lambda d: ib.predictive_margins(ib.logit("b ~ C(size) + x", d),
                                                          "x", values=[1.5, 3.0]),
    "domain_expression": lambda d: ib.mean(d.subset("x > 2 and region != 'west'"), "x"),
    "domain_mask": lambda d: ib.mean(d.subset(PANDAS["x"].to_numpy() > 2), "y", na_rm=True),
    "new_column": lambda d: ib.mean(d.with_columns(z=PANDAS["x"] * 2), "z"),
    "rake": lambda d: ib.mean(d.rake({"size": {"mid": 400, "low": 300, "high": 300},
                                      "region": {"north": 250, "south": 250, "east": 250,
                                                 "west": 250}}), "x"),
    "calibrate": lambda d: ib.mean(d.calibrate({"Intercept": 1000, "C(size)[T.low]": 300,
                                                "C(size)[T.high]": 300, "x": 2500},
                                               formula="~ C(size) + x"), "x"),
    "poststratify": lambda d: ib.total(d.poststratify("size", {"mid": 400, "low": 300,
                                                               "high": 300}), "x"),
    "jkn": lambda d: ib.mean(d.replicate("jkn"), "y", by="size", na_rm=True),
    "bootstrap": lambda d: ib.mean(d.replicate("bootstrap", replicates=20, seed=3), "x"),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("call", list(CALLS))
def test_design_gives_the_pandas_answer_exactly(kind: str, call: str) -> None:
    expected = _tables(CALLS[call](design(PANDAS)))
    got = _tables(CALLS[call](design(MAKERS[kind](PANDAS))))
    for e, g in zip(expected, got, strict=True):
        _assert_same(e, g)


REP_CALLS = {
    "mean_by_size": lambda d: ib.mean(d, "y", by="size", na_rm=True),
    "proportion": lambda d: ib.proportion(d, "flag", by="region"),
    "quantile": lambda d: ib.quantile(d, "x", 0.5),
    "logit": lambda d: ib.logit("b ~ C(size) + x", d),
    "rake": lambda d: ib.total(d.rake({"size": {"mid": 400, "low": 300, "high": 300}}), "x"),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("call", list(REP_CALLS))
def test_replicate_design_gives_the_pandas_answer_exactly(kind: str, call: str) -> None:
    expected = _tables(REP_CALLS[call](replicate_design(PANDAS)))
    got = _tables(REP_CALLS[call](replicate_design(MAKERS[kind](PANDAS))))
    for e, g in zip(expected, got, strict=True):
        _assert_same(e, g)


def _assert_same(expected: object, got: object) -> None:
    assert type(got) is type(expected)
    if isinstance(expected, pd.DataFrame):
        pd.testing.assert_frame_equal(got, expected, check_exact=True)
    elif isinstance(expected, pd.Series):
        pd.testing.assert_series_equal(got, expected, check_exact=True)
    else:
        np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))


@pytest.mark.parametrize("kind", KINDS)
def test_the_users_frame_is_left_alone(kind: str) -> None:
    data = MAKERS[kind](PANDAS)
    before = MAKERS[kind](PANDAS)
    d = design(data)
    for call in CALLS.values():
        call(d)
    replicate_design(data)
    assert d.data.native is data  # held, not copied
    assert data.equals(before)
    assert data.schema == before.schema


@pytest.mark.parametrize("kind", KINDS)
def test_results_are_pandas(kind: str) -> None:
    d = design(MAKERS[kind](PANDAS))
    est = ib.mean(d, "y", by="size", na_rm=True)
    assert isinstance(est.estimate, pd.Series) and isinstance(est.to_frame(), pd.DataFrame)
    assert list(est.estimate.index.get_level_values("size")) == ORDER
    assert isinstance(ib.logit("b ~ C(size)", d).params, pd.Series)
    assert isinstance(d.weights, pd.Series)
    assert isinstance(d.data["town"], pd.Series)
    assert isinstance(d.data.to_pandas(), pd.DataFrame)


def test_only_the_columns_used_are_converted() -> None:
    wide = to_polars(PANDAS).with_columns(
        [pl.lit(float(k)).alias(f"unused{k}") for k in range(50)])
    d = design(wide)
    assert isinstance(d.data, FrameView)
    assert set(d.data.converted_columns) == {"region", "psu", "fpc", "w"}
    ib.mean(d, "y", by="size", na_rm=True)
    ib.mean(d.subset("x > 2"), "y", na_rm=True)  # a derived design shares the columns
    assert set(d.data.converted_columns) == {"region", "psu", "fpc", "w", "y", "size", "x"}
    assert len(d.data.columns) == len(PANDAS.columns) + 50


def test_category_order_is_kept() -> None:
    enum = pl.DataFrame({"g": pl.Series(["b", "c", "a", "b"], dtype=pl.Enum(["c", "b", "a"]))})
    assert ib.Design(enum).data["g"].cat.categories.tolist() == ["c", "b", "a"]
    table = pa.table({"g": pa.DictionaryArray.from_arrays(pa.array([0, 1, 2, 0]),
                                                          pa.array(["z", "x", "y"]))})
    assert ib.Design(table).data["g"].cat.categories.tolist() == ["z", "x", "y"]
    # an Enum's unused category is kept, as pandas keeps it
    est = ib.mean(ib.Design(enum), "g")
    assert est.estimate.index.tolist() == ["g[c]", "g[b]", "g[a]"]
    # a polars Categorical is ordered as polars sorts it (lexically in polars 1.32
    # and later, physically before unless asked otherwise)
    cat = pl.DataFrame({"g": pl.Series(["z", "a", "m", "a"], dtype=pl.Categorical)})
    values = ib.Design(cat).data["g"]
    polars_order = list(dict.fromkeys(cat["g"].sort().cast(pl.String).to_list()))
    assert values.cat.categories.tolist() == polars_order


def test_nulls_are_missing_values_named_as_pandas_names_nan() -> None:
    df = PANDAS.copy()
    df.loc[[7, 8], "w"] = np.nan
    df.loc[[9], "size"] = np.nan
    messages = {}
    for kind, make in MAKERS.items():
        data = make(df)
        with pytest.raises(ib.MissingValueError) as err:
            design(data)
        messages[kind] = str(err.value)
        d = ib.Design(data, weights="x", strata="region", psu="psu")
        with pytest.raises(ib.MissingValueError) as err2:
            ib.mean(d, "x", by="size")
        messages[kind + " by"] = str(err2.value)
    assert "'w'" in messages["pandas"] and "'size'" in messages["pandas by"]
    assert {messages[k] for k in MAKERS} == {messages["pandas"]}
    assert {messages[k + " by"] for k in MAKERS} == {messages["pandas by"]}
    # a null in an integer column is missing, as pandas' NaN in a float column
    ints = pl.DataFrame({"psu": [1, 2, 3, 4], "y": pl.Series([1, None, 3, 4], dtype=pl.Int64)})
    est = ib.mean(ib.Design(ints, psu="psu"), "y", na_rm=True)
    assert est.estimate.tolist() == pytest.approx([8 / 3])


def test_booleans_dates_and_text() -> None:
    import datetime as dt

    frame = pl.DataFrame({
        "psu": [1, 2, 3, 4, 5],
        "ok": [True, None, False, True, True],
        "day": [dt.date(2026, 1, k) for k in range(1, 6)],
        "name": ["a", None, "b", "a", "c"],
    })
    d = ib.Design(frame, psu="psu")
    assert isinstance(d.data["ok"].dtype, pd.BooleanDtype)
    assert d.data["ok"].isna().tolist() == [False, True, False, False, False]
    assert ib.mean(d, "ok", na_rm=True).estimate.tolist() == [0.75]
    assert d.data["day"].dtype.kind == "M"
    assert ib.mean(d.subset(d.data["day"] > pd.Timestamp(2026, 1, 2)), "ok",
                   na_rm=True).estimate.tolist() == [2 / 3]
    assert d.data["name"].isna().sum() == 1
    assert d.data["name"].dropna().tolist() == ["a", "b", "a", "c"]


def test_a_polars_series_as_mask_or_column() -> None:
    d_pd = design(PANDAS)
    d_pl = design(to_polars(PANDAS))
    mask = pl.Series(PANDAS["x"].to_numpy() > 2)
    for d in (d_pd, d_pl):
        assert ib.mean(d.subset(mask), "x").estimate.tolist() == \
            ib.mean(d_pd.subset(PANDAS["x"] > 2), "x").estimate.tolist()
        added = d.with_columns(z=pl.Series(PANDAS["x"].to_numpy() * 2))
        assert ib.mean(added, "z").estimate.tolist() == \
            ib.mean(d_pd.with_columns(z=PANDAS["x"] * 2), "z").estimate.tolist()
    with pytest.raises(ib.MissingValueError, match="missing"):
        d_pl.subset(pl.Series([True, None] * (len(PANDAS) // 2)))


def test_population_totals_as_a_polars_or_arrow_table() -> None:
    totals = pd.DataFrame({"size": ORDER, "N": [400.0, 300, 300]})
    expected = ib.total(design(PANDAS).poststratify("size", totals), "x").to_frame()
    for table in (pl.from_pandas(totals), pa.Table.from_pandas(totals)):
        for data in (PANDAS, to_polars(PANDAS)):
            got = ib.total(design(data).poststratify("size", table), "x").to_frame()
            pd.testing.assert_frame_equal(got, expected, check_exact=True)


def test_the_design_data_are_read_only() -> None:
    d = design(to_polars(PANDAS))
    with pytest.raises(TypeError, match="read-only"):
        d.data["y"] = 0.0
    scratch = d.data.copy()
    scratch["y"] = 0.0  # a copy takes columns; the design's data are unchanged
    assert scratch["y"].eq(0).all() and not d.data["y"].eq(0).all()
    assert d.data.iloc[[0, 2]]["x"].tolist() == PANDAS["x"].iloc[[0, 2]].tolist()


def test_a_design_on_polars_pickles() -> None:
    d = design(to_polars(PANDAS))
    ib.mean(d, "y", na_rm=True)
    again = pickle.loads(pickle.dumps(d))
    pd.testing.assert_frame_equal(ib.mean(again, "y", by="size", na_rm=True).to_frame(),
                                  ib.mean(d, "y", by="size", na_rm=True).to_frame(),
                                  check_exact=True)


@pytest.mark.parametrize("bad, named", [
    ([1, 2, 3], "list"),
    ({"y": [1.0, 2.0]}, "dict"),
    (np.ones((3, 2)), "numpy.ndarray"),
    (None, "NoneType"),
    ("data.csv", "str"),
    (pd.Series([1.0, 2.0]), "pandas.Series"),
])
def test_not_a_data_frame_is_named(bad: object, named: str) -> None:
    with pytest.raises(ib.DesignError, match="must be a data frame") as err:
        ib.Design(bad)
    assert named in str(err.value)
    assert "polars" in str(err.value) and "pyarrow" in str(err.value)
    with pytest.raises(ib.DesignError, match="must be a data frame"):
        ib.ReplicateDesign(bad, weights="w", replicate_weights=["r1"], method="jk1")


def test_a_lazy_frame_must_be_collected() -> None:
    with pytest.raises(ib.DesignError, match=r"lazy frame \(polars LazyFrame\).*collect"):
        design(to_polars(PANDAS).lazy())


def test_duplicated_column_names_in_an_arrow_table() -> None:
    table = pa.table([pa.array([1.0, 2.0]), pa.array([3.0, 4.0])], names=["w", "w"])
    with pytest.raises(ib.DesignError, match="duplicated column names: 'w'"):
        ib.Design(table, weights="w")


@pytest.mark.parametrize("call", ["mean_by_size", "total_by_town", "logit", "rake"])
def test_polars_text_without_pyarrow_gives_the_same_answer(call: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # polars reads its text columns through pyarrow when pyarrow is installed;
    # without it, they go through numpy (slower), to the same pandas column
    import innobaro._frames

    expected = _tables(CALLS[call](design(PANDAS)))
    monkeypatch.setattr(innobaro._frames, "_arrow_array", lambda native: None)
    d = design(to_polars(PANDAS))
    pd.testing.assert_series_equal(d.data["town"], PANDAS["town"], check_exact=True)
    for e, g in zip(expected, _tables(CALLS[call](d)), strict=True):
        _assert_same(e, g)


def test_an_arrow_design_does_not_import_polars() -> None:
    code = ("import sys, pyarrow as pa, innobaro as ib\n"
            "t = pa.table({'psu': [1, 2, 3], 'y': [1.0, 2.0, 4.0], 's': ['a', 'b', 'a']})\n"
            "ib.mean(ib.Design(t, psu='psu'), 'y', by='s')\n"
            "print('polars' in sys.modules, 'narwhals' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["False", "True"]


@pytest.mark.parametrize("kind", KINDS)
def test_predict_on_new_data_of_any_kind(kind: str) -> None:
    model = ib.logit("b ~ C(size) + x + offset(0.1 * x)", design(PANDAS))
    new = PANDAS[["size", "x"]].iloc[[0, 5, 9]].reset_index(drop=True)
    expected = model.predict(new, se=True)
    got = model.predict(MAKERS[kind](new), se=True)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    with pytest.raises(ib.DesignError, match="newdata must be a data frame"):
        model.predict([1.0, 2.0])
