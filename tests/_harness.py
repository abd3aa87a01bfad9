"""Shared machinery of the R reference tests: build a design from a case's
spec, make the case's call, and compare with R's numbers.

A case (see ``tests/reference/README.md``) names a dataset, a design, optional
weighting steps, a call and R's results.
"""

from __future__ import annotations

import json
import math
import warnings
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

import innobaro as ib

REF = Path(__file__).parent / "reference"
RTOL = 1e-8


@cache
def load(name: str) -> dict:
    """The reference file ``tests/reference/<name>.json``."""
    with open(REF / f"{name}.json") as fh:
        return json.load(fh)


@cache
def _data(name: str) -> pd.DataFrame:
    return pd.read_csv(REF / "data" / f"{name}.csv")


def arr(values) -> np.ndarray:
    if values is None:
        return None
    return np.array([np.nan if v is None or v == "NA" else v for v in values], dtype=float)


def build_design(case: dict) -> ib.SurveyDesign:
    """The case's design: linearisation, replicate, or replicates made from a
    linearisation design; then its weighting steps, if any."""
    spec = case["design"]
    data = _data(case["data"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ib.InnobaroWarning)
        if spec.get("type") == "replicate":
            d = ib.ReplicateDesign(
                data, weights=spec.get("weights"), replicate_weights=spec["replicate_weights"],
                method=spec["method"], scale=spec.get("scale"), rscales=spec.get("rscales"),
                rho=spec.get("rho"), mse=bool(spec.get("mse", False)),
                combined_weights=bool(spec.get("combined_weights", True)))
        else:
            d = ib.Design(data, weights=spec.get("weights"), probs=spec.get("probs"),
                          strata=spec.get("strata"), psu=spec.get("psu"), fpc=spec.get("fpc"),
                          nest=bool(spec.get("nest", False)),
                          lonely_psu=spec.get("lonely_psu", "fail"))
            rep = spec.get("replicate")
            if rep:
                d = d.replicate(rep["method"], rho=rep.get("rho"), mse=bool(rep.get("mse")))
        for step in case.get("weighting") or []:
            d = apply_step(d, step)
    return d


def apply_step(d: ib.SurveyDesign, step: dict) -> ib.SurveyDesign:
    """One weighting step of a case."""
    kind = step["step"]
    if kind == "poststratify":
        by = step["by"]
        totals = {tuple(k.split("|")) if len(by) > 1 else k: v
                  for k, v in step["totals"].items()}
        return d.poststratify(by, totals)
    if kind == "rake":
        return d.rake(step["margins"], max_iter=step.get("max_iter", 50),
                      tol=step.get("tol", 1e-7))
    if kind == "calibrate":
        formula = patsy_formula(step["formula"])
        totals = {patsy_name(k, step, d.data): v for k, v in step["totals"].items()}
        bounds = step.get("bounds")
        return d.calibrate(totals, formula=formula, method=step.get("method", "linear"),
                           bounds=tuple(bounds) if bounds else None,
                           max_iter=step.get("max_iter", 50), tol=step.get("tol", 1e-7))
    if kind == "trim":
        return d.trim_weights(lower=step.get("lower"), upper=step.get("upper"),
                              strict=bool(step.get("strict", False)))
    raise AssertionError(f"unknown weighting step {kind}")


def _variables(formula: str) -> list[str]:
    return [v.strip() for v in formula.replace("~", "").replace("*", "+").split("+")
            if v.strip()]


def patsy_formula(r_formula: str) -> str:
    """R's additive formula in patsy: dotted names quoted with ``Q()``."""
    terms = [f"Q('{v}')" if "." in v else v for v in _variables(r_formula)]
    return "~ " + " + ".join(terms)


def patsy_name(r_name: str, step: dict, data: pd.DataFrame) -> str:
    """patsy's column name for R's model-matrix column name (treatment contrasts)."""
    if r_name == "(Intercept)":
        return "Intercept"
    for v in _variables(step["formula"]):
        quoted = f"Q('{v}')" if "." in v else v
        if r_name == v:
            return quoted
        if r_name.startswith(v) and not pd.api.types.is_numeric_dtype(data[v]):
            return f"{quoted}[T.{r_name[len(v):]}]"
    return r_name


def apply_subset(design: ib.SurveyDesign, sub: dict | None) -> ib.SurveyDesign:
    """The domain ``{"column", "value", "op"}`` of a case (``op`` "==" or "!=")."""
    if not sub:
        return design
    col = design.data[sub["column"]]
    value = sub["value"]
    if pd.api.types.is_numeric_dtype(col):
        value = float(value)
    return design.subset(col != value if sub.get("op") == "!=" else col == value)


def run_call(design: ib.SurveyDesign, call: dict) -> ib.Estimate:
    design = apply_subset(design, call.get("subset"))
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
    return tuple(norm(v) for v in label)


def norm(v) -> str:
    s = str(v)
    try:
        f = float(s)
    except ValueError:
        return s
    return f"{f:g}" if math.isfinite(f) else s


def _ours_keys(est: ib.Estimate) -> list[tuple[str, ...]]:
    idx = est.estimate.index
    if isinstance(idx, pd.MultiIndex):
        return [tuple(norm(v) for v in t) for t in idx]
    return [(norm(v),) for v in idx]


def align(est: ib.Estimate, case: dict) -> np.ndarray:
    ours = _ours_keys(est)
    pos = {k: i for i, k in enumerate(ours)}
    theirs = [_key(lab) for lab in case["result"]["labels"]]
    missing = [k for k in theirs if k not in pos]
    assert not missing, f"labels {missing} not in {ours}"
    assert len(theirs) == len(ours), f"R has {len(theirs)} entries, innobaro {len(ours)}"
    return np.array([pos[k] for k in theirs])


def close(name: str, ours: np.ndarray, theirs: np.ndarray, rtol: float = RTOL,
           atol: float = 0.0) -> None:
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol, equal_nan=True,
                               err_msg=name)


def close_to(actual, expected, rtol: float = RTOL) -> None:
    """``actual`` equals ``expected`` to ``rtol`` relative, no absolute slack (a NaN fails)."""
    np.testing.assert_allclose(np.asarray(actual, dtype=float),
                               np.asarray(expected, dtype=float), rtol=rtol, atol=0)




def compare(est: ib.Estimate, case: dict, rtol: float = RTOL) -> None:
    """Compare an Estimate with R's result for the case."""
    res = case["result"]
    order = align(est, case)
    close("estimate", est.estimate.to_numpy()[order], arr(res["estimate"]), rtol=rtol)
    # a standard error that is zero in exact arithmetic comes out as rounding
    # noise in both programs: below 1e-13 of the estimate it counts as zero
    noise = 1e-13 * (np.abs(arr(res["estimate"])) + 1)
    se = arr(res.get("se"))
    if se is not None:
        close("se", est.se.to_numpy()[order], se, rtol=rtol, atol=float(np.nanmax(noise)))
    if res.get("vcov") is not None:
        V = np.array(res["vcov"], dtype=float)
        ours = est.vcov.to_numpy()[np.ix_(order, order)]
        scale = np.sqrt(np.outer(np.diag(V), np.diag(V)))
        np.testing.assert_array_less(np.abs(ours - V), rtol * scale + np.outer(noise, noise),
                                     err_msg="vcov")
    if res.get("df") is not None:
        df = est.df
        ours_df = (np.full(len(order), df) if isinstance(df, float)
                   else df.to_numpy()[order])
        close("df", ours_df, arr(res["df"]), rtol=0)
    level = case["call"].get("level") or 0.95
    method = case["call"].get("method")
    ci = est.ci(level)
    lower, upper = ci["lower"].to_numpy()[order], ci["upper"].to_numpy()[order]
    if res.get("lower_exact") is not None:
        close("lower_exact", lower, arr(res["lower_exact"]), rtol=rtol)
        close("upper_exact", upper, arr(res["upper_exact"]), rtol=rtol)
        loose = 1e-3 if method == "likelihood" else 1e-6
        close("lower (R)", lower, arr(res["lower"]), rtol=loose)
        close("upper (R)", upper, arr(res["upper"]), rtol=loose)
    elif res.get("lower") is not None:
        close("lower", lower, arr(res["lower"]), rtol=rtol)
        close("upper", upper, arr(res["upper"]), rtol=rtol)
    if res.get("lower_normal") is not None:
        ci = est.ci(level, df=float("inf"))
        close("lower_normal", ci["lower"].to_numpy()[order], arr(res["lower_normal"]),
              rtol=rtol)
        close("upper_normal", ci["upper"].to_numpy()[order], arr(res["upper_normal"]),
              rtol=rtol)
    # a design effect of a variance that is rounding noise is noise too
    real = se > noise if se is not None else np.ones(len(order), bool)
    if res.get("deff") is not None:
        close("deff", est.deff.to_numpy()[order][real], arr(res["deff"])[real])
    if res.get("deff_replace") is not None:
        close("deff_replace", est.deff_replace.to_numpy()[order][real],
              arr(res["deff_replace"])[real])


def derive_band(data: pd.DataFrame, derive: dict | None) -> pd.DataFrame:
    """A derived column of make_tests.R: "high" above the cut, "low" at or below."""
    if not derive:
        return data
    x = data[derive["column"]]
    band = np.where(x.isna(), None, np.where(x > derive["cut"], "high", "low"))
    return data.assign(**{derive["name"]: pd.Series(band, index=data.index, dtype=object)})


def hypothesis_case_design(case: dict) -> ib.SurveyDesign:
    """The design of a ``tests.json`` case (a replicate method and a derived
    column may be given beside the design spec)."""
    spec = case["design"]
    data = derive_band(_data(case["data"]), case.get("derive"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ib.InnobaroWarning)
        design: ib.SurveyDesign = ib.Design(
            data, weights=spec.get("weights"), probs=spec.get("probs"),
            strata=spec.get("strata"), psu=spec.get("psu"), fpc=spec.get("fpc"),
            nest=bool(spec.get("nest", False)), lonely_psu=spec.get("lonely_psu", "fail"))
        if case.get("replicate"):
            design = design.replicate(case["replicate"])
    return apply_subset(design, case.get("subset"))
