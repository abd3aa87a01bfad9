"""Bad input: every error is an InnobaroError that names the culprit.

Each test breaks one thing in a small stratified cluster sample and checks
that the exception (or warning) is innobaro's own and that its message names
the column, stratum, PSU, domain or value at fault, so that a user can find
it without reading innobaro's source.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

import innobaro as ib


# ---------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------
def make_frame(seed: int) -> pd.DataFrame:
    """Three strata ``s0, s1, s2`` of three PSUs each (ids 1..9), 2-4 rows per PSU.

    ``fpc`` is 10 + 10 h PSUs in stratum ``h``; ``y`` and ``x`` are numeric
    (``x`` positive), ``b`` is 0/1, ``region`` has three levels with at least
    two rows each, ``cat`` is categorical.
    """
    rng = np.random.default_rng(seed)
    stratum, psu, fpc = [], [], []
    for h in range(3):
        for j in range(3):
            m = int(rng.integers(2, 5))
            stratum += [f"s{h}"] * m
            psu += [3 * h + j + 1] * m
            fpc += [10.0 + 10 * h] * m
    n = len(stratum)
    return pd.DataFrame({
        "stratum": stratum,
        "psu": np.asarray(psu, dtype=np.int64),
        "fpc": fpc,
        "w": rng.uniform(1.0, 4.0, n),
        "y": rng.normal(10.0, 2.0, n),
        "x": rng.uniform(1.0, 3.0, n),
        "b": rng.integers(0, 2, n),
        "region": rng.permutation(np.resize(np.array(["east", "north", "west"]), n)),
        "cat": pd.Categorical(rng.choice(["lo", "hi"], n), categories=["lo", "hi"]),
    })


@pytest.fixture
def frame() -> pd.DataFrame:
    return make_frame(20240601)


def design(data: pd.DataFrame, **kwargs) -> ib.Design:
    spec = {"weights": "w", "strata": "stratum", "psu": "psu", **kwargs}
    return ib.Design(data, **spec)


def psu_rows(data: pd.DataFrame, stratum: str, k: int = 0) -> pd.Series:
    """Rows of the ``k``-th PSU of ``stratum``."""
    ids = data.loc[data["stratum"] == stratum, "psu"].unique()
    return data["psu"] == ids[k]


def name(col: str) -> str:
    """Pattern for a quoted column name in a message."""
    return re.escape(repr(col))


# the estimators, each with a variable it accepts: (design, variable, by) -> Estimate
ESTIMATORS: dict[str, tuple[Callable[..., ib.Estimate], str]] = {
    "mean": (lambda d, v, by=None, **kw: ib.mean(d, v, by=by, **kw), "y"),
    "total": (lambda d, v, by=None, **kw: ib.total(d, v, by=by, **kw), "y"),
    "ratio_numerator": (lambda d, v, by=None, **kw: ib.ratio(d, v, "x", by=by, **kw), "y"),
    "ratio_denominator": (lambda d, v, by=None, **kw: ib.ratio(d, "y", v, by=by, **kw), "x"),
    "proportion": (lambda d, v, by=None, **kw: ib.proportion(d, v, by=by, **kw), "b"),
    "quantile": (lambda d, v, by=None, **kw: ib.quantile(d, v, [0.5], by=by, **kw), "y"),
}


# ---------------------------------------------------------------------------
# missing columns
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(("kwargs", "culprit"), [
    (dict(weights="wt"), "wt"),
    (dict(weights=None, probs="prob"), "prob"),
    (dict(strata="strat"), "strat"),
    (dict(strata=["stratum", "substrat"]), "substrat"),
    (dict(psu="cluster"), "cluster"),
    (dict(psu=["psu", "household"]), "household"),
    (dict(fpc="popsize"), "popsize"),
])
def test_missing_design_column(frame: pd.DataFrame, kwargs: dict, culprit: str) -> None:
    with pytest.raises(ib.InnobaroError, match=name(culprit)):
        design(frame, **kwargs)


@pytest.mark.parametrize("estimator", list(ESTIMATORS))
def test_missing_variable(frame: pd.DataFrame, estimator: str) -> None:
    f, good = ESTIMATORS[estimator]
    d = design(frame)
    with pytest.raises(ib.InnobaroError, match=name("income")):
        f(d, "income")
    if estimator in ("mean", "total", "proportion", "quantile"):
        with pytest.raises(ib.InnobaroError, match=name("income")):
            f(d, [good, "income"])


@pytest.mark.parametrize("estimator", list(ESTIMATORS))
def test_missing_by_column(frame: pd.DataFrame, estimator: str) -> None:
    f, good = ESTIMATORS[estimator]
    d = design(frame)
    with pytest.raises(ib.InnobaroError, match=name("sector")):
        f(d, good, by="sector")
    with pytest.raises(ib.InnobaroError, match=name("sector")):
        f(d, good, by=["region", "sector"])


# ---------------------------------------------------------------------------
# missing values in the design
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("column", ["w", "stratum", "psu", "fpc"])
def test_nan_in_design_column(frame: pd.DataFrame, column: str) -> None:
    bad = frame.copy()
    if bad[column].dtype.kind in "iu":
        bad[column] = bad[column].astype(float)
    bad.loc[bad.index[4], column] = np.nan
    with pytest.raises(ib.InnobaroError, match=name(column)):
        design(bad, fpc="fpc")


def test_nan_in_probs(frame: pd.DataFrame) -> None:
    bad = frame.assign(p=1.0 / frame["w"])
    bad.loc[bad.index[2], "p"] = np.nan
    with pytest.raises(ib.InnobaroError, match=name("p")):
        design(bad, weights=None, probs="p")


def test_nan_in_by_column(frame: pd.DataFrame) -> None:
    bad = frame.copy()
    bad.loc[bad.index[3], "region"] = np.nan
    with pytest.raises(ib.InnobaroError, match=name("region")):
        ib.mean(design(bad), "y", by="region")


# ---------------------------------------------------------------------------
# weights
# ---------------------------------------------------------------------------
def test_negative_weight(frame: pd.DataFrame) -> None:
    bad = frame.copy()
    bad.loc[bad.index[5], "w"] = -2.0
    with pytest.raises(ib.InnobaroError, match=f"{name('w')}.*negative"):
        design(bad)


def test_all_weights_zero(frame: pd.DataFrame) -> None:
    with pytest.raises(ib.InnobaroError, match=name("w")):
        design(frame.assign(w=0.0))


def test_zero_weights_are_allowed_and_do_not_count_in_df(frame: pd.DataFrame) -> None:
    full = design(frame)
    assert full.df == 9 - 3

    # a whole PSU with weight zero: one PSU fewer in the degrees of freedom
    gone = psu_rows(frame, "s1")
    zero = frame.copy()
    zero.loc[gone, "w"] = 0.0
    d = design(zero)
    assert d.n == len(frame)
    assert d.df == full.df - 1
    kept = design(frame[~gone])
    for f in (lambda d: ib.mean(d, ["y", "cat"], by="region"),
              lambda d: ib.total(d, "y"),
              lambda d: ib.ratio(d, "y", "x"),
              lambda d: ib.proportion(d, "b", by="region"),
              lambda d: ib.quantile(d, "y", [0.25, 0.5], by="region")):
        est = f(d)
        assert np.isfinite(est.estimate).all()
        if est.kind != "quantile":  # Woodruff: NaN in small domains, as in R
            assert (est.se >= 0).all()
        np.testing.assert_allclose(est.estimate, f(kept).estimate, rtol=1e-12)
        np.testing.assert_array_equal(np.atleast_1d(est.df), np.atleast_1d(f(kept).df))
    assert ib.mean(d, "y").df == full.df - 1

    # a whole stratum with weight zero: its PSUs and the stratum leave the df
    zero = frame.copy()
    zero.loc[zero["stratum"] == "s2", "w"] = 0.0
    assert design(zero).df == full.df - 2
    assert ib.mean(design(zero), "y").df == full.df - 2

    # single rows with weight zero inside PSUs that keep other rows: df unchanged
    zero = frame.copy()
    first_rows = zero.groupby("psu").head(1).index
    zero.loc[first_rows, "w"] = 0.0
    assert design(zero).df == full.df
    assert ib.mean(design(zero), "y").df == full.df


def test_weights_and_probs_both_given(frame: pd.DataFrame) -> None:
    data = frame.assign(p=1.0 / frame["w"])
    with pytest.raises(ib.InnobaroError, match=r"weights.*probs"):
        design(data, weights="w", probs="p")


@pytest.mark.parametrize("value", [0.0, 1.5, -0.2, np.inf])
def test_probs_outside_unit_interval(frame: pd.DataFrame, value: float) -> None:
    data = frame.assign(p=0.25)
    data.loc[data.index[6], "p"] = value
    with pytest.raises(ib.InnobaroError, match=name("p")):
        design(data, weights=None, probs="p")
    data.loc[data.index[6], "p"] = 1.0  # the bound is allowed
    design(data, weights=None, probs="p")


# ---------------------------------------------------------------------------
# missing values in the variables
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("estimator", list(ESTIMATORS))
def test_nan_in_variable_names_it_and_na_rm_works(frame: pd.DataFrame, estimator: str) -> None:
    f, good = ESTIMATORS[estimator]
    data = frame.copy()
    data["v_na"] = data[good].astype(float)
    data.loc[data.index[[1, 7]], "v_na"] = np.nan
    d = design(data)
    with pytest.raises(ib.MissingValueError, match=name("v_na")):
        f(d, "v_na")
    with pytest.raises(ib.InnobaroError, match=name("v_na")):
        f(d, "v_na", by="region")
    est = f(d, "v_na", na_rm=True)
    assert np.isfinite(est.estimate).all()
    assert np.isfinite(est.se).all()
    est = f(d, "v_na", by="region", na_rm=True)
    assert np.isfinite(est.estimate).all()


def test_nan_in_categorical_variable(frame: pd.DataFrame) -> None:
    data = frame.copy()
    data["cat_na"] = data["cat"].where(np.arange(len(data)) != 3)
    d = design(data)
    for f in (ib.mean, ib.total, ib.proportion):
        with pytest.raises(ib.InnobaroError, match=name("cat_na")):
            f(d, "cat_na")
        est = f(d, "cat_na", na_rm=True)
        assert list(est.estimate.index) == ["cat_na[lo]", "cat_na[hi]"]


# ---------------------------------------------------------------------------
# PSUs, strata and fpc
# ---------------------------------------------------------------------------
def test_psu_in_two_strata_without_nest(frame: pd.DataFrame) -> None:
    bad = frame.copy()
    bad.loc[psu_rows(frame, "s0"), "psu"] = 777
    bad.loc[psu_rows(frame, "s1"), "psu"] = 777
    with pytest.raises(ib.DesignError, match="777") as info:
        design(bad)
    info.match("s0")
    info.match("s1")
    info.match("nest")
    # with nest=True the two PSUs 777 are different PSUs: the original design
    nested = design(bad, nest=True)
    assert nested.n_psu == 9
    assert nested.df == design(frame).df
    a, b = ib.mean(nested, "y"), ib.mean(design(frame), "y")
    np.testing.assert_allclose(a.estimate, b.estimate, rtol=1e-12)
    np.testing.assert_allclose(a.se, b.se, rtol=1e-12)


def test_psu_ids_restarting_in_each_stratum(frame: pd.DataFrame) -> None:
    reused = frame.assign(psu=(frame["psu"] - 1) % 3 + 1)
    with pytest.raises(ib.DesignError, match="nest=True"):
        design(reused)
    a, b = ib.total(design(reused, nest=True), "y"), ib.total(design(frame), "y")
    np.testing.assert_allclose(a.se, b.se, rtol=1e-12)


def test_fpc_smaller_than_sampled_psus(frame: pd.DataFrame) -> None:
    bad = frame.copy()
    bad.loc[bad["stratum"] == "s1", "fpc"] = 2.0  # three PSUs were sampled there
    with pytest.raises(ib.DesignError, match=r"\bs1\b") as info:
        design(bad, fpc="fpc")
    info.match(name("fpc"))
    assert "s0" not in str(info.value) and "s2" not in str(info.value)


def test_fpc_varying_within_a_stratum(frame: pd.DataFrame) -> None:
    bad = frame.copy()
    rows = bad.index[bad["stratum"] == "s2"]
    bad.loc[rows[1], "fpc"] = bad.loc[rows[1], "fpc"] + 1
    with pytest.raises(ib.DesignError, match=r"\bs2\b") as info:
        design(bad, fpc="fpc")
    info.match(name("fpc"))


# ---------------------------------------------------------------------------
# lonely PSUs
# ---------------------------------------------------------------------------
@pytest.fixture
def lonely_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with a single PSU in strata s0 and s2."""
    out = frame.copy()
    out.loc[out["stratum"] == "s0", "psu"] = 1
    out.loc[out["stratum"] == "s2", "psu"] = 7
    return out


def test_lonely_psu_fail_names_every_lonely_stratum(lonely_frame: pd.DataFrame) -> None:
    with pytest.raises(ib.LonelyPSUError, match=r"\bs0\b") as info:
        design(lonely_frame)
    info.match(r"\bs2\b")
    assert not re.search(r"\bs1\b", str(info.value))
    assert isinstance(info.value, ib.InnobaroError)
    with pytest.raises(ib.LonelyPSUError, match=r"\bs0\b.*\bs2\b"):
        design(lonely_frame, lonely_psu="fail")


def test_lonely_psu_rules(lonely_frame: pd.DataFrame) -> None:
    var = {}
    for rule in ("remove", "adjust", "average", "certainty"):
        d = design(lonely_frame, lonely_psu=rule)
        assert d.df == 5 - 3
        for f in (lambda d: ib.mean(d, "y", by="region"),
                  lambda d: ib.total(d, ["y", "cat"]),
                  lambda d: ib.ratio(d, "y", "x"),
                  lambda d: ib.proportion(d, "b"),
                  lambda d: ib.quantile(d, "y", 0.5)):
            est = f(d)
            assert np.isfinite(est.estimate).all(), rule
            if est.kind != "quantile":  # Woodruff: NaN in small samples, as in R
                assert (est.se >= 0).all(), rule
        var[rule] = ib.total(d, "y").se.iloc[0] ** 2
    # "remove" and "certainty" drop the lonely strata from the variance,
    # "average" scales the rest up by strata / strata with two PSUs (3 / 1),
    # "adjust" adds the lonely PSUs' squared deviations
    np.testing.assert_allclose(var["certainty"], var["remove"], rtol=1e-12)
    np.testing.assert_allclose(var["average"], 3 * var["remove"], rtol=1e-12)
    assert var["adjust"] > var["remove"]


def test_single_psu_sampled_with_certainty_is_not_lonely(frame: pd.DataFrame) -> None:
    data = frame.copy()
    data.loc[data["stratum"] == "s0", "psu"] = 1
    data.loc[data["stratum"] == "s0", "fpc"] = 1.0  # the whole population of PSUs
    d = design(data, fpc="fpc")
    assert np.isfinite(ib.mean(d, "y").se).all()


def test_invalid_lonely_psu_value(frame: pd.DataFrame) -> None:
    with pytest.raises(ib.InnobaroError, match=r"lonely_psu.*'drop'"):
        design(frame, lonely_psu="drop")


# ---------------------------------------------------------------------------
# domains
# ---------------------------------------------------------------------------
def test_empty_domain(frame: pd.DataFrame) -> None:
    d = design(frame)
    mask = (frame["region"] == "south").rename("in_south")
    with pytest.raises(ib.DomainError, match="in_south"):
        d.subset(mask)
    with pytest.raises(ib.DomainError, match=re.escape("region == 'south'")):
        d.subset("region == 'south'")
    with pytest.raises(ib.DomainError):
        d.subset(np.zeros(len(frame), dtype=bool))
    # empty only within an existing domain
    sub = d.subset(frame["region"] == "east")
    with pytest.raises(ib.DomainError, match="in_west"):
        sub.subset((frame["region"] == "west").rename("in_west"))


def test_domain_with_one_row_warns_naming_it(frame: pd.DataFrame) -> None:
    data = frame.assign(group=np.where(np.arange(len(frame)) == 4, "solo", "many"))
    d = design(data)
    for f in (ib.mean, ib.total, ib.proportion):
        var = "b" if f is ib.proportion else "y"
        with pytest.warns(ib.InnobaroWarning, match="solo") as rec:
            f(d, var, by="group")
        assert not any("many" in str(w.message) for w in rec)


def test_subset_with_one_row_warns_naming_it(frame: pd.DataFrame) -> None:
    d = design(frame).subset(pd.Series(np.arange(len(frame)) == 4, index=frame.index,
                                       name="solo_row"))
    with pytest.warns(ib.InnobaroWarning, match="solo_row"):
        ib.mean(d, "y")


# ---------------------------------------------------------------------------
# proportions
# ---------------------------------------------------------------------------
def test_proportion_of_non_binary_variable(frame: pd.DataFrame) -> None:
    d = design(frame.assign(count=frame["b"] * 2))
    with pytest.raises(ib.EstimationError, match=name("y")):
        ib.proportion(d, "y")
    with pytest.raises(ib.EstimationError, match=name("count")):
        ib.proportion(d, ["b", "count"], by="region")


def test_proportion_zero_logit_warns_and_collapses(frame: pd.DataFrame) -> None:
    d = design(frame.assign(never=0))
    with pytest.warns(ib.InnobaroWarning, match="never"):
        est = ib.proportion(d, "never", method="logit")
    assert est.estimate.iloc[0] == 0.0
    ci = est.ci()
    assert ci["lower"].iloc[0] == 0.0
    assert ci["upper"].iloc[0] == 0.0


def test_proportion_zero_in_one_domain_warns_naming_it(frame: pd.DataFrame) -> None:
    data = frame.assign(flag=np.where(frame["region"] == "west", 0, 1 - frame["b"]))
    data.loc[data.index[data["region"] != "west"][:2], "flag"] = [0, 1]
    with pytest.warns(ib.InnobaroWarning, match="west") as rec:
        ib.proportion(design(data), "flag", by="region")
    assert not any("east" in str(w.message) for w in rec)


def test_proportion_zero_beta_is_one_sided_without_warning(frame: pd.DataFrame) -> None:
    d = design(frame.assign(never=0))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ib.InnobaroWarning)
        est = ib.proportion(d, "never", method="beta")
        ci = est.ci()
    assert est.estimate.iloc[0] == 0.0
    assert ci["lower"].iloc[0] == 0.0
    assert 0.0 < ci["upper"].iloc[0] < 1.0


def test_unknown_proportion_method(frame: pd.DataFrame) -> None:
    with pytest.raises(ib.InnobaroError, match="'exact'"):
        ib.proportion(design(frame), "b", method="exact")


# ---------------------------------------------------------------------------
# quantiles, ratios, intervals
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(("q", "shown"), [(1.5, "1.5"), (-0.1, "-0.1"),
                                          ([0.5, 2.0], "2.0"), (float("nan"), "nan")])
def test_quantile_probability_outside_unit_interval(frame: pd.DataFrame, q, shown: str) -> None:
    with pytest.raises(ib.InnobaroError, match=re.escape(shown)):
        ib.quantile(design(frame), "y", q)


def test_ratio_with_zero_denominator_in_a_domain(frame: pd.DataFrame) -> None:
    data = frame.assign(den=np.where(frame["region"] == "north", 0.0, frame["x"]))
    d = design(data)
    with pytest.raises(ib.EstimationError, match="north") as info:
        ib.ratio(d, "y", "den", by="region")
    info.match(name("den"))
    assert "east" not in str(info.value) and "west" not in str(info.value)
    with pytest.raises(ib.EstimationError, match=name("den")):
        ib.ratio(design(frame.assign(den=0.0)), "y", "den")
    # the other domains alone are fine
    ib.ratio(d.subset(data["region"] != "north"), "y", "den")


@pytest.mark.parametrize("level", [0.0, 1.0, 1.5, -0.1, 95])
@pytest.mark.parametrize("estimator", ["mean", "total", "ratio_numerator", "proportion",
                                       "quantile"])
def test_ci_level_outside_unit_interval(frame: pd.DataFrame, estimator: str,
                                        level: float) -> None:
    f, good = ESTIMATORS[estimator]
    est = f(design(frame), good)
    with pytest.raises(ib.InnobaroError, match="level"):
        est.ci(level)
    with pytest.raises(ib.InnobaroError, match="level"):
        est.ci(level, df=float("inf"))


def test_proportion_event_level_given_as_level(frame: pd.DataFrame) -> None:
    # level= is the confidence level; "Ja" is the habit of packages where it
    # names the event: the error says which row holds that share
    data = frame.assign(answer=np.where(frame["b"] == 1, "Ja", "Nei"))
    d = design(data)
    with pytest.raises(ib.EstimationError, match=r"level is the confidence level.*not the "
                                                 r"event level 'Ja'.*'answer\[Ja\]'"):
        ib.proportion(d, "answer", level="Ja")
    share = ib.proportion(d, "answer").to_frame().loc["answer[Ja]", "estimate"]
    assert share == pytest.approx(ib.proportion(d, "b").estimate.iloc[0], rel=1e-12)
    for bad in (95, None, True):  # caught when made, not at the first ci()
        with pytest.raises(ib.EstimationError, match="level must be a confidence level"):
            ib.proportion(d, "b", level=bad)


# ---------------------------------------------------------------------------
# message quality
# ---------------------------------------------------------------------------
def _message(frame: pd.DataFrame, case: str) -> str:
    data = frame.copy()
    try:
        if case == "psu in two strata":
            data.loc[psu_rows(frame, "s0"), "psu"] = 777
            data.loc[psu_rows(frame, "s1"), "psu"] = 777
            design(data)
        elif case == "negative weight":
            data.loc[data.index[5], "w"] = -2.0
            design(data)
        elif case == "probs":
            design(data.assign(p=1.5), weights=None, probs="p")
        elif case == "non-binary proportion":
            ib.proportion(design(data.assign(v=2.5)), "v")
    except ib.InnobaroError as exc:
        return str(exc)
    raise AssertionError(f"{case}: no error")


@pytest.mark.parametrize(("case", "plain"), [("psu in two strata", "PSU 777 "),
                                             ("negative weight", "-2.0"),
                                             ("probs", "1.5"),
                                             ("non-binary proportion", "2.5")])
def test_messages_show_plain_values(frame: pd.DataFrame, case: str, plain: str) -> None:
    msg = _message(frame, case)
    assert plain in msg
    assert "np." not in msg


def test_by_domain_whose_every_row_misses_the_variable_is_named() -> None:
    df = pd.DataFrame({"psu": range(8), "w": 1.0, "g": list("aabbaabb"),
                       "y": [1, 2, np.nan, np.nan, 3, 4, np.nan, np.nan]})
    d = ib.Design(df, weights="w", psu="psu")
    with pytest.warns(ib.InnobaroWarning, match="every row of domain.*g=b misses"):
        est = ib.mean(d, "y", by="g", na_rm=True)
    assert [k[0] for k in est.estimate.index] == ["a"]
