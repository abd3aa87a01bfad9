"""Distributions as data against R's survey package.

Reference numbers from ``tests/reference/make_cdf.R`` (run from the repository
root: ``Rscript tests/reference/make_cdf.R``), stored in
``tests/reference/cdf.json``; every case is compared at rtol 1e-8:

==============================  ===============================================
innobaro                        R
==============================  ===============================================
``cdf(d, y, by=)``              ``svycdf`` at every distinct value, domains as
                                subsets
``histogram(d, y, bins=)``      ``svyhist``'s ``hist`` object: breaks, mids,
                                counts, density
``boxplot_stats(d, y, by=)``    ``svyboxplot``'s stats, n and outliers (the
                                quantile at p = 0 by the definition)
==============================  ===============================================

Then identities, R's ``pretty`` and bad input.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from _harness import close, hypothesis_case_design, load

import innobaro as ib
from innobaro.empirical import pretty_breaks

RTOL = 1e-8


def _cases(kind: str) -> list[dict]:
    return [c for c in load("cdf")["cases"] if c["kind"] == kind]


def _design(case: dict) -> ib.SurveyDesign:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ib.InnobaroWarning)
        return hypothesis_case_design(case)


@pytest.mark.parametrize("case", _cases("cdf"), ids=[c["id"] for c in _cases("cdf")])
def test_cdf_against_r(case: dict) -> None:
    call, res = case["call"], case["result"]
    out = ib.cdf(_design(case), call["y"], by=call.get("by"))
    assert (out["variable"] == call["y"]).all()
    if call.get("by"):
        assert out[call["by"]].astype(str).tolist() == res["domain"]
    close("value", out["value"].to_numpy(), np.array(res["value"], float), RTOL)
    close("cdf", out["cdf"].to_numpy(), np.array(res["cdf"], float), RTOL)


@pytest.mark.parametrize("case", _cases("histogram"), ids=[c["id"] for c in _cases("histogram")])
def test_histogram_against_r(case: dict) -> None:
    call, res = case["call"], case["result"]
    out = ib.histogram(_design(case), call["y"], bins=call["bins"], by=call.get("by"),
                       right=call["right"])
    if call.get("by"):
        assert out[call["by"]].astype(str).tolist() == res["domain"]
    for ours, theirs in [("left", "left"), ("right", "right"), ("mid", "mid"),
                         ("count", "count"), ("density", "density")]:
        close(ours, out[ours].to_numpy(), np.array(res[theirs], float), RTOL)
    # the shares are the densities times the widths, and add up to one per domain
    close("proportion", out["proportion"].to_numpy(),
          (out["density"] * (out["right"] - out["left"])).to_numpy(), 1e-12)
    keys = out[call["by"]] if call.get("by") else np.zeros(len(out))
    assert np.allclose(out.groupby(keys)["proportion"].sum(), 1.0)


@pytest.mark.parametrize("case", _cases("boxplot"), ids=[c["id"] for c in _cases("boxplot")])
def test_boxplot_against_r(case: dict) -> None:
    call, res = case["call"], case["result"]
    out = ib.boxplot_stats(_design(case), call["y"], by=call.get("by"),
                           all_outliers=call["all_outliers"])
    if call.get("by"):
        assert out.index.astype(str).tolist() == res["domain"]
    stats = out[["whisker_low", "q1", "median", "q3", "whisker_high"]].to_numpy()
    close("stats", stats.ravel(), np.array(res["stats"], float).ravel(), RTOL)
    close("n", out["n"].to_numpy(), np.array(res["n"], float), RTOL)
    for ours, theirs in zip(out["outliers"], res["out"], strict=True):
        assert len(ours) == len(theirs)
        if theirs:
            close("outliers", np.array(ours), np.array(theirs, float), RTOL)
    if case["same_as_r"]:  # where R's p = 0 quirk does not matter, R as it is
        close("stats", stats.ravel(),
              np.array(case["result_r"]["stats"], float).ravel(), RTOL)


def test_p0_quirk_is_the_only_difference_from_r() -> None:
    """Where survey's qrule_math differs (the second-smallest value at p = 0),
    only the lower whisker or the lowest outlier can differ."""
    for case in _cases("boxplot"):
        if case["same_as_r"]:
            continue
        ours = np.array(case["result"]["stats"], float)
        r = np.array(case["result_r"]["stats"], float)
        np.testing.assert_array_equal(ours[:, 1:], r[:, 1:])


def _small() -> ib.Design:
    df = pd.DataFrame({"psu": range(8), "w": [1.0, 2, 1, 4, 2, 2, 1, 1],
                       "y": [1.0, 2, 3, 3, 4, 5, 6, np.nan], "g": list("abababab"),
                       "s": ["x"] * 8})
    return ib.Design(df, weights="w", psu="psu")


def test_cdf_steps_by_hand() -> None:
    out = ib.cdf(_small(), "y")
    # weights of the values 1..6 (the NaN row out): 1, 2, 1+4, 2, 2, 1 of 13
    np.testing.assert_allclose(out["cdf"], np.cumsum([1, 2, 5, 2, 2, 1]) / 13)
    assert out["value"].tolist() == [1, 2, 3, 4, 5, 6]


def test_cdf_of_a_subset_is_the_domain() -> None:
    d = _small()
    by = ib.cdf(d, "y", by="g")
    sub = ib.cdf(d.subset(d.data["g"] == "b"), "y")
    np.testing.assert_array_equal(by.loc[by["g"] == "b", "cdf"], sub["cdf"])


def test_the_users_frame_is_not_changed() -> None:
    d = _small()
    before = d.data.copy()
    ib.cdf(d, "y", by="g")
    ib.histogram(d, "y", by="g")
    ib.boxplot_stats(d, "y", by="g", all_outliers=True)
    pd.testing.assert_frame_equal(d.data, before)


@pytest.mark.parametrize(("low", "high", "n", "expected"), [
    (0.3, 9.6, 5, [0, 2, 4, 6, 8, 10]),
    (-1.25, 1.1, 4, [-1.5, -1, -0.5, 0, 0.5, 1, 1.5]),
    (5.0, 5.0, 3, [0.0, 5.0]),  # R: pretty(c(5, 5), 3, min.n = 1) and hist(5) give 0, 5
    (0.0, 0.0, 1, [-1.0, 0.0]),  # R's pretty(0, n = 1, min.n = 1): -1, 0
    (120.0, 940.0, 9, [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]),
])
def test_pretty_as_r(low: float, high: float, n: int, expected: list[float]) -> None:
    # values of R 4.2's pretty(c(low, high), n, min.n = 1)
    np.testing.assert_allclose(pretty_breaks(low, high, n), expected, rtol=0, atol=1e-12)


def test_bad_input_is_named() -> None:
    d = _small()
    with pytest.raises(ib.EstimationError, match="outside the breaks"):
        ib.histogram(d, "y", bins=[2, 4, 6])
    with pytest.raises(ib.EstimationError, match="bins"):
        ib.histogram(d, "y", bins="scott")
    with pytest.raises(ib.EstimationError, match="bins"):
        ib.histogram(d, "y", bins=0)
    with pytest.raises(ib.EstimationError, match="breaks"):
        ib.histogram(d, "y", bins=[1, 1, 7])
    with pytest.raises(ib.EstimationError, match="'g' must be numeric"):
        ib.cdf(d, "g")
    with pytest.raises(ib.EstimationError, match="one column"):
        ib.boxplot_stats(d, ["y"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="design"):
        ib.cdf(d.data, "y")  # type: ignore[arg-type]
    df = d.data.assign(y=np.nan)
    with pytest.raises(ib.DomainError, match="'y'"):
        ib.cdf(ib.Design(df, weights="w", psu="psu"), "y")
    df = d.data.assign(g=[None, *"bababab"])
    with pytest.raises(ib.MissingValueError, match="'g'"):
        ib.cdf(ib.Design(df, weights="w", psu="psu"), "y", by="g")
    df = d.data.assign(y=[1.0, 2, 3, 3, 4, 5, 6, np.inf])
    with pytest.raises(ib.EstimationError, match="infinite"):
        ib.boxplot_stats(ib.Design(df, weights="w", psu="psu"), "y")


def test_an_empty_domain_is_named_and_left_out() -> None:
    df = _small().data.assign(y=[1.0, np.nan, 3, np.nan, 4, np.nan, 6, np.nan])
    d = ib.Design(df, weights="w", psu="psu")
    with pytest.warns(ib.InnobaroWarning, match="g=b"):
        out = ib.boxplot_stats(d, "y", by="g")
    assert out.index.tolist() == ["a"]
