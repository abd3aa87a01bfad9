"""innobaro against R's survey package, case by case.

The numbers come from ``tests/reference/make_reference.R`` (run it with
``Rscript tests/reference/make_reference.R``), stored in
``tests/reference/linearization.json`` with the R and survey versions. Each
case names a dataset, a design, a call and R's results; this test rebuilds
the design with :class:`innobaro.Design`, makes the same call and compares

==================  ==============================================  =========
quantity            R                                               rtol
==================  ==============================================  =========
estimate            ``coef``                                        1e-8
se                  ``SE``                                          1e-8
vcov                ``vcov`` (``svyby(covmat=TRUE)`` for domains)   1e-8
lower/upper         ``confint(df=degf)``, ``svyciprop``,            1e-8
                    ``svyquantile`` intervals
lower/upper_normal  ``confint()`` (normal quantiles)                1e-8
deff, deff_replace  ``deff=TRUE``, ``deff="replace"``               1e-8
df                  ``degf`` of the (domain) design                 exact
==================  ==============================================  =========

For the ``likelihood`` and ``logit`` proportion intervals the comparison is
with the exact intervals the script computes in R (``lower_exact``), because
``svyciprop`` reads the likelihood interval off a spline (about 1e-4) and
fits the logit model only to IRLS tolerance; R's own interval is compared at
1e-3 for ``likelihood`` and 1e-6 for ``logit``.
"""

from __future__ import annotations

import json
import math
import warnings
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import innobaro as ib

REF = Path(__file__).parent / "reference"
RTOL = 1e-8


@cache
def _load() -> dict:
    with open(REF / "linearization.json") as fh:
        return json.load(fh)


@cache
def _data(name: str) -> pd.DataFrame:
    return pd.read_csv(REF / "data" / f"{name}.csv")


def _cases() -> list[dict]:
    return _load()["cases"]


def _arr(values) -> np.ndarray:
    if values is None:
        return None
    return np.array([np.nan if v is None or v == "NA" else v for v in values], dtype=float)


def build_design(case: dict) -> ib.Design:
    spec = case["design"]
    data = _data(case["data"])
    return ib.Design(data, weights=spec.get("weights"), probs=spec.get("probs"),
                     strata=spec.get("strata"), psu=spec.get("psu"), fpc=spec.get("fpc"),
                     nest=bool(spec.get("nest", False)),
                     lonely_psu=spec.get("lonely_psu", "fail"))


def run_call(design: ib.Design, call: dict) -> ib.Estimate:
    sub = call.get("subset")
    if sub:
        col = design.data[sub["column"]]
        value = sub["value"]
        if pd.api.types.is_numeric_dtype(col):
            value = float(value)
        design = design.subset(col == value)
    fn = call["fn"]
    kw = {"by": call.get("by"), "na_rm": bool(call.get("na_rm", False))}
    y = call.get("y")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ib.InnobaroWarning)
        if fn == "mean":
            return ib.mean(design, y, **kw)
        if fn == "total":
            return ib.total(design, y, **kw)
        if fn == "ratio":
            return ib.ratio(design, y, call["denominator"], **kw)
        if fn == "proportion":
            return ib.proportion(design, y, method=call["method"],
                                 level=call.get("level") or 0.95, **kw)
        if fn == "quantile":
            return ib.quantile(design, y, call["q"], level=call.get("level") or 0.95, **kw)
    raise AssertionError(f"unknown fn {fn}")


def _key(label: list) -> tuple[str, ...]:
    return tuple(_norm(v) for v in label)


def _norm(v) -> str:
    s = str(v)
    try:
        f = float(s)
    except ValueError:
        return s
    return f"{f:g}" if math.isfinite(f) else s


def _ours_keys(est: ib.Estimate) -> list[tuple[str, ...]]:
    idx = est.estimate.index
    if isinstance(idx, pd.MultiIndex):
        return [tuple(_norm(v) for v in t) for t in idx]
    return [(_norm(v),) for v in idx]


def _align(est: ib.Estimate, case: dict) -> np.ndarray:
    ours = _ours_keys(est)
    pos = {k: i for i, k in enumerate(ours)}
    theirs = [_key(lab) for lab in case["result"]["labels"]]
    missing = [k for k in theirs if k not in pos]
    assert not missing, f"labels {missing} not in {ours}"
    assert len(theirs) == len(ours), f"R has {len(theirs)} entries, innobaro {len(ours)}"
    return np.array([pos[k] for k in theirs])


def _close(name: str, ours: np.ndarray, theirs: np.ndarray, rtol: float = RTOL,
           atol: float = 0.0) -> None:
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol, equal_nan=True,
                               err_msg=name)


@pytest.mark.parametrize("case", _cases(), ids=[c["id"] for c in _cases()])
def test_against_r(case: dict) -> None:
    design = build_design(case)
    est = run_call(design, case["call"])
    res = case["result"]
    order = _align(est, case)
    _close("estimate", est.estimate.to_numpy()[order], _arr(res["estimate"]))
    # a standard error that is zero in exact arithmetic comes out as rounding
    # noise in both programs: below 1e-13 of the estimate it counts as zero
    noise = 1e-13 * (np.abs(_arr(res["estimate"])) + 1)
    se = _arr(res.get("se"))
    if se is not None:
        _close("se", est.se.to_numpy()[order], se, atol=float(np.nanmax(noise)))
    if res.get("vcov") is not None:
        V = np.array(res["vcov"], dtype=float)
        ours = est.vcov.to_numpy()[np.ix_(order, order)]
        scale = np.sqrt(np.outer(np.diag(V), np.diag(V)))
        np.testing.assert_array_less(np.abs(ours - V), RTOL * scale + np.outer(noise, noise),
                                     err_msg="vcov")
    if res.get("df") is not None:
        df = est.df
        ours_df = (np.full(len(order), df) if isinstance(df, float)
                   else df.to_numpy()[order])
        _close("df", ours_df, _arr(res["df"]), rtol=0)
    level = case["call"].get("level") or 0.95
    method = case["call"].get("method")
    ci = est.ci(level)
    lower, upper = ci["lower"].to_numpy()[order], ci["upper"].to_numpy()[order]
    if res.get("lower_exact") is not None:
        _close("lower_exact", lower, _arr(res["lower_exact"]))
        _close("upper_exact", upper, _arr(res["upper_exact"]))
        loose = 1e-3 if method == "likelihood" else 1e-6
        _close("lower (R)", lower, _arr(res["lower"]), rtol=loose)
        _close("upper (R)", upper, _arr(res["upper"]), rtol=loose)
    elif res.get("lower") is not None:
        _close("lower", lower, _arr(res["lower"]))
        _close("upper", upper, _arr(res["upper"]))
    if res.get("lower_normal") is not None:
        ci = est.ci(level, df=float("inf"))
        _close("lower_normal", ci["lower"].to_numpy()[order], _arr(res["lower_normal"]))
        _close("upper_normal", ci["upper"].to_numpy()[order], _arr(res["upper_normal"]))
    # a design effect of a variance that is rounding noise is noise too
    real = se > noise if se is not None else np.ones(len(order), bool)
    if res.get("deff") is not None:
        _close("deff", est.deff.to_numpy()[order][real], _arr(res["deff"])[real])
    if res.get("deff_replace") is not None:
        _close("deff_replace", est.deff_replace.to_numpy()[order][real],
               _arr(res["deff_replace"])[real])


def test_reference_file_records_versions() -> None:
    meta = _load()
    assert meta["generated_by"] == "tests/reference/make_reference.R"
    assert meta["R_version"].startswith("R version")
    assert meta["survey_version"]
