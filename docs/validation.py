"""Write ``docs/validation.md``: innobaro against every R reference case.

Run by ``docs/conf.py`` at the start of every documentation build (and by hand
with ``python docs/validation.py``). It reads every ``tests/reference/*.json``,
recomputes innobaro's numbers for each case with the reference-test harness
(``tests/_harness.py``, imported by path) and writes, per reference file, the R
and survey versions and a table of cases with the largest relative difference
between innobaro and R over the estimates, standard errors and interval ends.

The page therefore always describes the reference files in the repository and
the innobaro that built the documentation. A case that fails to run is listed
with its error; it does not stop the build (the test suite is what fails).

Relative difference: ``|innobaro - R| / |R|`` per number, the largest over the
entries of a case. Where R's number is zero (or a standard error is rounding
noise, below ``1e-13 (|estimate| + 1)``, as in the tests) the absolute
difference is shown instead and the column is marked ``(abs)``. Numbers that
are missing (NaN) in both programs agree.
"""

from __future__ import annotations

import importlib.util
import json
import math
import platform
import re
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
REF = TESTS / "reference"
OUT = Path(__file__).resolve().parent / "validation.md"

if str(ROOT) not in sys.path:  # the docs build may run from a checkout without install
    sys.path.insert(0, str(ROOT))

import innobaro as ib  # noqa: E402

# the tolerances the test suite uses, per file (see tests/test_reference_*.py)
TOLERANCE = {
    "linearization": 1e-8,
    "replicates": 1e-8,
    "weighting": 1e-7,
    "glm": 1e-7,
    "families": 1e-8,
    "tests": 1e-7,
    "edge": 1e-8,
}
# where a test file compares a column more loosely (tests/test_reference_glm.py:
# interval ends inherit R's last IRLS step, compared at 1e-6 of the standard error)
COLUMN_TOLERANCE = {("glm", "interval"): 1e-6}
ORDER = ["linearization", "replicates", "weighting", "glm", "families", "tests", "edge"]
TITLES = {
    "linearization": "Linearisation designs",
    "replicates": "Replicate-weight designs",
    "weighting": "Weighting: post-stratification, raking, calibration, trimming",
    "glm": "Survey GLMs",
    "families": "GLM families and links (Gamma, inverse Gaussian, probit, cloglog, quasi, "
                "negative binomial, offsets)",
    "tests": "Tests, contrasts and tables",
    "edge": "Degenerate cases: aliasing, empty levels, lonely PSUs, replicate df",
}


def _load_harness():
    spec = importlib.util.spec_from_file_location("_innobaro_harness", TESTS / "_harness.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


H = _load_harness()


# ----------------------------------------------------------------------------
# differences
# ----------------------------------------------------------------------------
class Diff:
    """Largest relative difference of a group of numbers (absolute where R is 0)."""

    def __init__(self) -> None:
        self.rel = 0.0
        self.abs_only = 0.0
        self.used = False
        self.nan_mismatch = False

    def add(self, ours, theirs, atol: float = 0.0, scale=None) -> None:
        """Compare ``ours`` with R's ``theirs``; ``scale`` replaces ``|theirs|`` as the
        denominator (e.g. the standard error, for interval ends near zero)."""
        if theirs is None:
            return
        a = _to_array(ours)
        b = _to_array(theirs)
        if a.size != b.size:
            self.nan_mismatch = True
            self.used = True
            return
        self.used = True
        one_nan = np.isnan(a) ^ np.isnan(b)
        if one_nan.any():
            self.nan_mismatch = True
        ok = ~(np.isnan(a) | np.isnan(b))
        d = np.abs(a[ok] - b[ok])
        d = np.where(d <= atol, 0.0, d)
        scale = np.abs(b[ok]) if scale is None else np.broadcast_to(
            _to_array(scale), a.shape)[ok]
        rel_ok = scale > 0
        if rel_ok.any():
            self.rel = max(self.rel, float(np.max(d[rel_ok] / scale[rel_ok])))
        if (~rel_ok).any():
            self.abs_only = max(self.abs_only, float(np.max(d[~rel_ok])))

    @property
    def worst(self) -> float:
        if self.nan_mismatch:
            return math.inf
        return max(self.rel, self.abs_only)

    def text(self) -> str:
        if not self.used:
            return "–"
        if self.nan_mismatch:
            return "**NaN/size mismatch**"
        out = _fmt(self.rel)
        if self.abs_only > 0:
            out += f" ({_fmt(self.abs_only)} abs)"
        return out


def _to_array(values) -> np.ndarray:
    """A flat float array; R's missing values (None, "NA") become NaN."""
    def clean(v):
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return np.nan if v is None or v == "NA" else v
    if isinstance(values, (list, tuple)):
        values = clean(values)
    return np.atleast_1d(np.asarray(values, dtype=float)).ravel()


def _fmt(x: float) -> str:
    if x == 0:
        return "0"
    if not math.isfinite(x):
        return str(x)
    return f"{x:.1e}"


# ----------------------------------------------------------------------------
# descriptions
# ----------------------------------------------------------------------------
def describe_design(case: dict) -> str:
    spec = case["design"]
    data = case["data"]
    if spec.get("type") == "replicate":
        method = spec.get("method")
        extra = " mse" if spec.get("mse") else ""
        form = "" if spec.get("combined_weights", True) else ", multipliers"
        return f"{data}: {method} weights ({len(spec['replicate_weights'])}{form}){extra}"
    parts = []
    if spec.get("strata"):
        s = spec["strata"]
        parts.append("strata " + ("×".join(s) if isinstance(s, list) else s))
    psu = spec.get("psu")
    if psu:
        parts.append(("PSU " if isinstance(psu, str) or len(psu) == 1 else "stages ")
                     + (" > ".join(psu) if isinstance(psu, list) else psu))
    if spec.get("fpc"):
        parts.append("fpc")
    if spec.get("probs"):
        parts.append("probs")
    if spec.get("nest"):
        parts.append("nest")
    if spec.get("lonely_psu", "fail") != "fail":
        parts.append(f"lonely {spec['lonely_psu']}")
    text = f"{data}: " + (", ".join(parts) if parts else "SRS")
    rep = spec.get("replicate") or (case.get("replicate") and {"method": case["replicate"]})
    if rep:
        text += f" → {rep['method']}" + (f" ρ={rep['rho']}" if rep.get("rho") else "") \
            + (" mse" if rep.get("mse") else "")
    steps = case.get("weighting") or []
    if steps:
        kinds = []
        for s in steps:
            k = s["step"]
            if k == "calibrate":
                k = f"calibrate {s.get('method', 'linear')}" + (" bounded" if s.get("bounds")
                                                                 else "")
            if k == "trim" and s.get("strict"):
                k = "trim strict"
            kinds.append(k)
        text += "; " + " + ".join(kinds)
    return text


def describe_call(call: dict) -> str:
    fn = call["fn"]
    y = call.get("y")
    ys = ", ".join(y) if isinstance(y, list) else str(y)
    if fn == "ratio":
        den = call["denominator"]
        ys += "/" + (", ".join(den) if isinstance(den, list) else den)
    text = f"{fn}({ys})"
    if fn == "proportion" and call.get("method"):
        text = f"{fn}({ys}, {call['method']})"
    if fn == "quantile":
        q = call.get("q")
        qs = ", ".join(f"{v:g}" for v in (q if isinstance(q, list) else [q]))
        text = f"quantile({ys}, {qs}" + (f", {call['method']}" if call.get("method") else "") \
            + ")"
    if call.get("by"):
        by = call["by"]
        text += " by " + (", ".join(by) if isinstance(by, list) else by)
    if call.get("subset"):
        text += f" in {call['subset']['column']}={call['subset']['value']}"
    if call.get("na_rm"):
        text += " na_rm"
    level = call.get("level")
    if level and level != 0.95:
        text += f" level {level:g}"
    return text


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


# ----------------------------------------------------------------------------
# estimator cases: linearization.json, replicates.json, weighting.json
# ----------------------------------------------------------------------------
def estimate_case(case: dict, name: str) -> tuple[dict[str, Diff], str]:
    design = H.build_design(case)
    call = case["call"]
    note = ""
    res = case["result"]
    diffs = {k: Diff() for k in ("estimate", "se", "interval")}
    if name == "weighting":
        strict = any(s["step"] == "trim" and s.get("strict") for s in case["weighting"])
        expected = case.get("weights_survey_4_2") if strict else case["weights"]
        diffs["weights"] = Diff()
        diffs["weights"].add(design.weights.to_numpy(), np.array(expected, dtype=float))
        if strict:
            note = "weights compared with survey ≥ 4.2's strict trimming"
            return diffs, note
    quantile_method = call["fn"] == "quantile" and call.get("method") == "quantile"
    est = H.run_call(design, {**call, "method": None} if quantile_method else call)
    order = H.align(est, case)
    r_est = H.arr(res["estimate"])
    diffs["estimate"].add(est.estimate.to_numpy()[order], r_est)
    if quantile_method:
        return diffs, "R's interval.type='quantile': estimate only (innobaro uses Woodruff)"
    noise = float(np.nanmax(1e-13 * (np.abs(r_est) + 1)))
    if res.get("se") is not None:
        diffs["se"].add(est.se.to_numpy()[order], H.arr(res["se"]), atol=noise)
    level = call.get("level") or 0.95
    ci = est.ci(level)
    lower, upper = ci["lower"].to_numpy()[order], ci["upper"].to_numpy()[order]
    if res.get("lower_exact") is not None:
        diffs["interval"].add(lower, H.arr(res["lower_exact"]))
        diffs["interval"].add(upper, H.arr(res["upper_exact"]))
        r_spline = Diff()
        r_spline.add(lower, H.arr(res["lower"]))
        r_spline.add(upper, H.arr(res["upper"]))
        note = (f"interval vs exact root in R; vs svyciprop's own "
                f"{_fmt(r_spline.worst)}")
    elif res.get("lower") is not None:
        diffs["interval"].add(lower, H.arr(res["lower"]))
        diffs["interval"].add(upper, H.arr(res["upper"]))
    if res.get("lower_normal") is not None:
        cin = est.ci(level, df=float("inf"))
        diffs["interval"].add(cin["lower"].to_numpy()[order], H.arr(res["lower_normal"]))
        diffs["interval"].add(cin["upper"].to_numpy()[order], H.arr(res["upper_normal"]))
    if res.get("vcov") is not None:
        V = np.array(res["vcov"], dtype=float)
        ours = est.vcov.to_numpy()[np.ix_(order, order)]
        scale = np.sqrt(np.outer(np.diag(V), np.diag(V)))
        floor = np.outer(1e-13 * (np.abs(r_est) + 1), 1e-13 * (np.abs(r_est) + 1))
        excess = np.maximum(np.abs(ours - V) - floor, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = np.where(excess > 0, excess / scale, 0.0)
        diffs["se"].rel = max(diffs["se"].rel, float(np.nanmax(rel)) if rel.size else 0.0)
    return diffs, note


# ----------------------------------------------------------------------------
# glm.json
# ----------------------------------------------------------------------------
def glm_case(case: dict) -> tuple[dict[str, Diff], str]:
    model = case["model"]
    design = H.apply_subset(H.build_design(case), model.get("subset"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ib.InnobaroWarning)
        kwargs = {k: model[k] for k in ("link", "variance", "theta") if model.get(k)}
        m = ib.glm(model["formula"], design, family=model["family"], **kwargs)
    res = case["result"]
    names = list(m.params.index)
    o = np.array([names.index(n) for n in res["patsy_names"]])
    diffs = {k: Diff() for k in ("estimate", "se", "interval", "tests")}
    diffs["estimate"].add(m.params.to_numpy()[o], np.array(res["params"]))
    diffs["se"].add(m.bse.to_numpy()[o], np.array(res["bse"]))
    # interval ends relative to the standard error, as the tests compare them
    # (an end near zero would inflate a relative difference)
    bse = np.array(res["bse"])
    if res.get("conf_int") is not None:
        diffs["interval"].add(m.conf_int().to_numpy()[o], np.array(res["conf_int"]),
                              scale=np.column_stack([bse, bse]))
    notes = []
    if m.df_resid != res["df_resid"]:
        notes.append(f"df_resid {m.df_resid:g} vs R {res['df_resid']:g}")
    for t in res.get("term_tests") or []:
        df = np.inf if t.get("df_arg") == "Inf" else None
        method = {"Wald": "F" if df is None else "chisq", "LRT": "lrt",
                  "WorkingWald": "working_wald"}[t["method"]]
        out = m.wald_test(t["terms"], method=method, df=df)
        diffs["tests"].add(out.statistic, t["F"] if method == "F" else t["chisq"])
        diffs["tests"].add(out.p_value, t.get("p_tight", t["p"]))
    wald = res.get("wald")
    if wald:
        out = m.wald_test(wald["terms"])
        diffs["tests"].add(out.statistic, wald["F"])
        diffs["tests"].add(out.p_value, wald["p"])
    if res.get("dispersion") is not None:
        diffs["estimate"].add(m.dispersion, res["dispersion"])
    pred = res.get("predict")
    if pred:
        data = H._data(case["data"])
        newdata = pd.DataFrame(pred["newdata"]).astype({c: data[c].dtype
                                                        for c in pred["newdata"]})
        for kind in ("link", "response"):
            p = m.predict(newdata, type=kind, se=True)
            diffs["estimate"].add(p["fit"].to_numpy(), pred[kind]["fit"])
            diffs["se"].add(p["se"].to_numpy(), pred[kind]["se"])
    pm = res.get("predictive_margins")
    if pm:
        variable = pm.get("r_factor", pm.get("variable"))
        values = sorted(m.design.data[variable].unique())
        r_style = ib.predictive_margins(m, variable, values, method="svypredmeans")
        diffs["estimate"].add(r_style.table["estimate"].to_numpy(), pm["margin"])
        diffs["se"].add(r_style.table["se"].to_numpy(), pm["se"])
        if pm.get("se_linearized") is not None:
            full = m.margins(variable, values)
            diffs["se"].add(full.table["se"].to_numpy(), pm["se_linearized"])
    extras = [k for k in ("term_tests", "wald", "predict", "predictive_margins", "psrsq",
                          "daic") if res.get(k)]
    if extras:
        notes.append("with " + ", ".join(extras))
    return diffs, "; ".join(notes)


def describe_glm(case: dict) -> str:
    model = case["model"]
    text = f"{model['family']}: {model['formula']}"
    if model.get("link"):
        text = f"{model['family']}({model['link']}): {model['formula']}"
    sub = model.get("subset")
    if sub:
        text += f" in {sub['column']}{sub.get('op', '==')}{sub['value']}"
    return text


# ----------------------------------------------------------------------------
# tests.json
# ----------------------------------------------------------------------------
def tests_case(case: dict) -> tuple[dict[str, Diff], str]:
    design = H.hypothesis_case_design(case)
    call, res = case["call"], case["result"]
    diffs = {k: Diff() for k in ("estimate", "se", "interval", "tests")}
    kind = case["kind"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ib.InnobaroWarning)
        if kind == "chisq":
            for statistic, r in res["statistics"].items():
                out = ib.chisq_test(design, call["row"], call["col"], statistic=statistic,
                                    na_rm=call["na_rm"])
                diffs["tests"].add(out.statistic, r["statistic"])
                diffs["tests"].add(out.p_value, r["p_value"])
                par = r["parameter"]
                if par is not None and len(par) == 2:
                    diffs["tests"].add(out.df, par)
                elif par is not None:  # one df: the numerator's (R's chi-square)
                    diffs["tests"].add(out.df_num, par[0])
            diffs["estimate"].add(out.observed.to_numpy(), res["observed"])
            return diffs, ", ".join(res["statistics"])
        if kind == "ttest":
            out = ib.ttest(design, call["y"], call["group"], na_rm=call["na_rm"])
            diffs["tests"].add(out.statistic, res["statistic"])
            diffs["tests"].add(out.p_value, res["p_value"])
            diffs["tests"].add(out.df_denom, res["df"])  # t's df (the contract's denominator)
            diffs["estimate"].add(out.estimate, res["estimate"])
            diffs["interval"].add(out.ci(), [res["lower"], res["upper"]])
            return diffs, ""
        fn = {"mean": ib.mean, "total": ib.total}
        if kind in ("contrast", "compare_surveys"):
            est = fn[call.get("fn", "mean")](design, call["y"], by=call.get("by"),
                                             na_rm=bool(call.get("na_rm", False)))
            if kind == "contrast":
                out = ib.contrast(est, call["contrasts"])
            else:
                other = H.hypothesis_case_design({"data": call["data_b"],
                                                   "design": call["design_b"]})
                est_b = fn[call.get("fn", "mean")](other, call["y"], by=call.get("by"),
                                                   na_rm=bool(call.get("na_rm", False)))
                out = ib.compare_surveys(est, est_b)
                df = out.df
                diffs["tests"].add(np.full(len(out), df) if isinstance(df, float) else df,
                                   res["df"])
            diffs["estimate"].add(out.estimate.to_numpy(), res["estimate"])
            diffs["se"].add(out.se.to_numpy(), res["se"])
            return diffs, ""
        if kind == "compare":
            out = ib.compare(design, call["y"], by=call["by"], method=call["method"],
                             reference=call.get("reference"), adjust=call.get("adjust"),
                             level=call["level"])
            diffs["estimate"].add(out["estimate"].to_numpy(), res["estimate"])
            diffs["se"].add(out["se"].to_numpy(), res["se"])
            diffs["interval"].add(out[["lower", "upper"]].to_numpy(),
                                  np.column_stack([res["lower"], res["upper"]]))
            diffs["tests"].add(out[["statistic", "pvalue", "pvalue_adjusted"]].to_numpy(),
                               np.column_stack([res["statistic"], res["p_value"],
                                                res["p_adjusted"]]))
            return diffs, f"{call['method']}" + (f", {call['adjust']}" if call.get("adjust")
                                                 else "")
        if kind == "table":
            out = ib.table(design, call["row"], call.get("col"), shares=call["shares"])
            keys = [call["row"]] + ([call["col"]] if call.get("col") else [])
            labels = [tuple(H.norm(v) for v in r) for r in out[keys].itertuples(index=False)]
            pos = {k: i for i, k in enumerate(labels)}
            order = [pos[tuple(H.norm(v) for v in lab)] for lab in res["labels"]]
            diffs["estimate"].add(out[["count", "share"]].to_numpy()[order],
                                  np.column_stack([res["count"], res["share"]]))
            diffs["se"].add(out[["count_se", "share_se"]].to_numpy()[order],
                            np.column_stack([res["count_se"], res["share_se"]]))
            return diffs, f"shares by {call['shares']}"
    raise ValueError(f"unknown kind {kind}")


def describe_tests(case: dict) -> str:
    call = case["call"]
    kind = case["kind"]
    if kind in ("chisq", "table"):
        return f"{kind}({call['row']}" + (f" × {call['col']}" if call.get("col") else "") + ")"
    if kind == "ttest":
        return f"ttest({call['y']} by {call['group']})"
    y = call.get("y")
    ys = ", ".join(y) if isinstance(y, list) else str(y)
    by = call.get("by")
    text = f"{kind}({call.get('fn', 'mean')} {ys}" + (
        f" by {', '.join(by) if isinstance(by, list) else by}" if by else "") + ")"
    if kind == "compare_surveys":
        text += f" vs {call['data_b']}"
    return text


def describe_tests_design(case: dict) -> str:
    text = describe_design({**case, "weighting": None})
    if case.get("subset"):
        text += f"; domain {case['subset']['column']}={case['subset']['value']}"
    return text


# ----------------------------------------------------------------------------
# edge.json (tests/test_edge_cases.py builds the designs and models)
# ----------------------------------------------------------------------------
def _load_edge():
    spec = importlib.util.spec_from_file_location("_innobaro_edge", TESTS / "test_edge_cases.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def edge_case(case: dict) -> tuple[dict[str, Diff], str]:
    E = _load_edge()
    diffs = {k: Diff() for k in ("estimate", "se", "interval", "tests")}
    res, fn = case["result"], case["call"]["fn"]
    notes = []
    if fn == "glm":
        m = E._fit(case)
        diffs["estimate"].add(m.params.to_numpy(), res["coef"])
        diffs["se"].add(m.bse.to_numpy(), res["se"])
        aliased = int(m.aliased.sum())
        if aliased:
            notes.append(f"{aliased} aliased coefficient(s), NaN as R's NA")
        if res.get("discarded"):
            notes.append(f"{res['discarded']} replicates discarded, as R")
    elif fn == "mean":
        d = E._design(case)
        est = ib.mean(d, case["call"]["y"])
        diffs["estimate"].add(est.estimate.to_numpy(), [res["estimate"]])
        diffs["se"].add(est.se.to_numpy(), [res["se"]])
        diffs["interval"].add(est.ci().to_numpy().ravel(), [res["lower"], res["upper"]])
        notes.append(f"replicate df {d.df:g} (R {res['df']:g})")
    elif fn == "ttest":
        call = case["call"]
        t = ib.ttest(E._design(case), call["y"], call["group"])
        diffs["estimate"].add(t.estimate, res["estimate"])
        diffs["tests"].add(t.statistic, res["statistic"])
        diffs["tests"].add(t.pvalue, res["p_value"])
    elif fn == "quantile":
        q = ib.quantile(E._design(case), case["call"]["y"], case["call"]["q"])
        diffs["estimate"].add(q.estimate.to_numpy(), res["estimate"])
        diffs["se"].add(q.se.to_numpy(), res["se"], atol=1e-12)
        ci = q.ci()
        diffs["interval"].add(np.column_stack([ci["lower"], ci["upper"]]).ravel(),
                              np.column_stack([res["lower"], res["upper"]]).ravel())
    if case.get("note"):
        notes.append(_md(case["note"]))
    return diffs, "; ".join(notes)


def describe_edge(case: dict) -> str:
    call = case["call"]
    if call["fn"] == "glm":
        text = f"{call['family']}: {call['formula']}"
        if call.get("subset"):
            text += f" in {call['subset']['column']}=={call['subset']['value']}"
        return text
    if call["fn"] == "ttest":
        return f"ttest {call['y']} by {call['group']}"
    return describe_call(call)


# ----------------------------------------------------------------------------
# the page
# ----------------------------------------------------------------------------
COLUMNS = ["estimate", "se", "interval"]


def run_file(name: str) -> tuple[list[dict], dict]:
    meta = H.load(name)
    rows = []
    for case in meta["cases"]:
        if name in ("glm", "families") and not case.get("result"):
            rows.append({"id": case["id"], "design": describe_design(case),
                         "statistic": describe_glm(case), "diffs": {},
                         "note": "no numbers: " + _md(case.get("note", ""))[:160],
                         "error": None})
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if name in ("glm", "families"):
                    diffs, note = glm_case(case)
                    stat = describe_glm(case)
                    design = describe_design(case)
                elif name == "tests":
                    diffs, note = tests_case(case)
                    stat = describe_tests(case)
                    design = describe_tests_design(case)
                elif name == "edge":
                    diffs, note = edge_case(case)
                    stat = describe_edge(case)
                    design = case["data"]
                else:
                    diffs, note = estimate_case(case, name)
                    stat = describe_call(case["call"])
                    design = describe_design(case)
            rows.append({"id": case["id"], "design": design, "statistic": stat,
                         "diffs": diffs, "note": note, "error": None})
        except Exception as exc:  # reported on the page, not raised
            rows.append({"id": case["id"], "design": case.get("data", ""),
                         "statistic": "", "diffs": {}, "note": "",
                         "error": f"{type(exc).__name__}: {exc}".splitlines()[0][:200]})
    return rows, meta


def _tolerance(name: str, column: str) -> float:
    return COLUMN_TOLERANCE.get((name, column), TOLERANCE.get(name, 1e-7))


def _within(row: dict, name: str) -> bool:
    if row["error"]:
        return False
    return all(d.worst <= _tolerance(name, c) for c, d in row["diffs"].items() if d.used)


def _worst(row: dict) -> float:
    if row["error"]:
        return math.inf
    values = [d.worst for d in row["diffs"].values() if d.used]
    return max(values) if values else 0.0


def render(results: dict[str, tuple[list[dict], dict]], seconds: float) -> str:
    import numpy
    import scipy

    total = sum(len(rows) for rows, _ in results.values())
    lines = [
        "<!-- generated by docs/validation.py on every documentation build; do not edit -->",
        "",
        "# Validation against R's survey package",
        "",
        "Every number below is recomputed by innobaro when this documentation is built",
        "and compared with the reference numbers that R's `survey` package computed for",
        "the same data, design and call (`tests/reference/*.json`, made by the R scripts",
        "beside them; see `tests/reference/README.md` for what each case contains). The",
        "test suite checks the same cases at the tolerance given for each file; this page",
        "shows how close each case actually is.",
        "",
        f"This build: innobaro {ib.__version__}, Python {platform.python_version()}, "
        f"numpy {numpy.__version__}, scipy {scipy.__version__}, pandas {pd.__version__}; "
        f"{total} cases in {seconds:.0f} s.",
        "",
        "**How to read the tables.** Each column is the largest relative difference",
        "`|innobaro - R| / |R|` over the entries of the case (domains, variables,",
        "coefficients): *estimate* (point estimates; for models also predictions and",
        "margins), *se* (standard errors, and covariances relative to",
        "`sqrt(V_ii V_jj)`), *interval* (t and normal interval ends), and for models and",
        "tests *tests* (statistics, degrees of freedom, p-values). Where R's number is",
        "exactly zero the absolute difference is given, marked *abs*; a standard error",
        "below `1e-13 (|estimate| + 1)` is rounding noise in both programs and counts as",
        "zero. A dash: not compared for that case.",
        "",
        "Documented differences that the comparison takes into account are noted per",
        "case: the likelihood proportion interval is compared with the exact root",
        "computed in R (R reads it off a spline), the logit interval with the exact",
        "Wald interval on the logit scale, strict trimming with survey 4.2's rule, and",
        "replicate quantiles with `interval.type = \"quantile\"` on the estimate only",
        "(see [Coming from R or Stata](coming-from-r-stata.md)).",
        "",
        "## Summary",
        "",
        "| reference file | R | survey | cases | tolerance in the tests | largest difference |"
        " within tolerance |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for name in ORDER:
        if name not in results:
            continue
        rows, meta = results[name]
        tol = TOLERANCE.get(name, 1e-7)
        worst = [(_worst(r), r["id"]) for r in rows]
        big = max(worst) if worst else (0.0, "")
        within = sum(1 for r in rows if _within(r, name))
        r_version = meta.get("R_version", "?").replace("R version ", "")
        loose = "".join(f" ({c} {t:g})" for (n, c), t in COLUMN_TOLERANCE.items()
                        if n == name)
        lines.append(f"| {{ref}}`{name}.json <validation-{name}>` | {r_version} | "
                     f"{meta.get('survey_version')} | {len(rows)} | {tol:g}{loose} | "
                     f"{_fmt(big[0])} | {within} of {len(rows)} |")
    lines.append("| every other reference file | | | | | see "
                 "{ref}`its own tests <validation-other>` | |")
    lines.append("")
    lines.append("A case above the tolerance of the tests is compared there in a different "
                 "way (a looser tolerance or an absolute one, as the case notes say) or is a "
                 "known difference; the test files say which.")
    for name in ORDER:
        if name not in results:
            continue
        rows, meta = results[name]
        tol = TOLERANCE.get(name, 1e-7)
        extra = "tests" if name in ("glm", "tests") else None
        cols = COLUMNS + ([extra] if extra else []) + (["weights"] if name == "weighting"
                                                        else [])
        lines += ["", f"(validation-{name})=", f"## {TITLES[name]} (`{name}.json`)", ""]
        loose = [f"{c} at {t:g}" for (n, c), t in COLUMN_TOLERANCE.items() if n == name]
        lines.append(f"Made by `{meta.get('generated_by')}` with "
                     f"{meta.get('R_version')} and survey {meta.get('survey_version')}. "
                     f"{len(rows)} cases; the tests compare them at {tol:g}"
                     + (f" ({', '.join(loose)} of the standard error)" if loose else "")
                     + ".")
        lines.append("")
        errors = [r for r in rows if r["error"]]
        if errors:
            lines.append(f"**{len(errors)} case(s) could not be computed** (listed with "
                         f"their error).")
            lines.append("")
        lines.append("| case | design | statistic | " + " | ".join(cols) + " | note |")
        lines.append("| --- | --- | --- | " + " | ".join("---:" for _ in cols) + " | --- |")
        for r in rows:
            if r["error"]:
                cells = ["**error**"] + [""] * (len(cols) - 1)
                note = r["error"]
            else:
                cells = [r["diffs"][c].text() if c in r["diffs"] else "–" for c in cols]
                note = r["note"]
                if not _within(r, name):
                    note = ("**above the tests' tolerance** " + note).strip()
            lines.append(f"| `{r['id']}` | {_md(r['design'])} | {_md(r['statistic'])} | "
                         + " | ".join(cells) + f" | {_md(note)} |")
    lines.append("")
    return "\n".join(lines)


# ----------------------------------------------------------------------------
# every other reference file: its own test module, run under docs/recorder.py
# ----------------------------------------------------------------------------
def other_reference_files(names: list[str] | None = None) -> dict[str, list[Path]]:
    """Reference files outside :data:`ORDER`, each with the test modules that read it.

    A test module reads ``<name>.json`` if its text names the file or calls
    ``load("<name>")`` (the harness's loader); a file no module reads is listed
    with no modules, and the page says so.
    """
    modules = sorted(TESTS.glob("test_*.py"))
    texts = {m: m.read_text(encoding="utf-8") for m in modules}
    out: dict[str, list[Path]] = {}
    for path in sorted(REF.glob("*.json")):
        name = path.stem
        if name in ORDER or (names is not None and name not in names):
            continue
        if name.endswith("_designs"):  # inputs of another file's script, not results
            continue
        pattern = re.compile(rf"""(load\(["']{re.escape(name)}["']\)|\b{re.escape(name)}\.json)""")
        out[name] = [m for m, text in texts.items() if pattern.search(text)]
    return out


def _case_ids(name: str) -> set[str]:
    meta = json.loads((REF / f"{name}.json").read_text(encoding="utf-8"))
    cases = meta.get("cases", []) if isinstance(meta, dict) else []
    return {str(c["id"]) for c in cases if isinstance(c, dict) and "id" in c}


def run_recorded(files: dict[str, list[Path]]) -> dict[str, list]:
    """Run the test modules of ``files`` once, under the recorder; records per file.

    A module that reads only one of these files contributes all its tests to
    it; a module that reads several (or also a file of :data:`ORDER`) only the
    tests whose parameter id names a case of the file.
    """
    import recorder

    reads: dict[str, set[str]] = {}
    for name, ms in files.items():
        for m in ms:
            reads.setdefault(m.name, set()).add(name)
    order_readers = other_reference_files_of(ORDER)
    ids = {name: _case_ids(name) for name in files}

    def owners(nodeid: str) -> list[str]:
        module = Path(nodeid.split("::", 1)[0]).name
        names = reads.get(module, set())
        if len(names) == 1 and module not in order_readers:
            return list(names)
        m = re.search(r"\[(.*)\]$", nodeid)
        param = m.group(1) if m else ""
        return [n for n in names if any(part in ids[n] for part in re.split(r"[-\[\]]", param))
                or param in ids[n]]

    modules = sorted({m for ms in files.values() for m in ms})
    if not modules:
        return {name: [] for name in files}
    by_module = recorder.run_modules(modules, ROOT, keep=lambda nodeid: bool(owners(nodeid)))
    out: dict[str, list] = {name: [] for name in files}
    for recs in by_module.values():
        for rec in recs:
            for name in owners(rec.nodeid):
                out[name].append(rec)
    return out


def other_reference_files_of(names: list[str]) -> set[str]:
    """Names of the test modules that read any of the reference files ``names``."""
    out = set()
    for path in TESTS.glob("test_*.py"):
        text = path.read_text(encoding="utf-8")
        if any(re.search(rf"""(load\(["']{re.escape(n)}["']\)|\b{re.escape(n)}\.json)""", text)
               for n in names):
            out.add(path.name)
    return out


def render_recorded(files: dict[str, list[Path]], records: dict[str, list]) -> list[str]:
    """The page's part for the reference files checked by their own test modules."""
    if not files:
        return []
    lines = ["", "(validation-other)=", "## Reference files checked by their own tests", "",
             "The files below are compared with innobaro by their own test modules, each in",
             "the shape its statistic needs (model coefficients and their covariance,",
             "predicted probabilities, test statistics, quantiles by rule, sample sizes,",
             "inclusion probabilities). To show how close each comparison is, the page runs",
             "those modules while recording every `assert_allclose` and `pytest.approx`",
             "comparison (`docs/recorder.py`): per test, the largest relative difference",
             "(absolute where R's number is 0), the tolerance it was checked at and the",
             "outcome. A test that compares several R cases shows them together.", "",
             "| reference file | made by | tests | comparisons | largest difference |"
             " loosest rtol | passed |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    details = []
    for name, modules in files.items():
        meta = json.loads((REF / f"{name}.json").read_text(encoding="utf-8"))
        recs = [r for r in records.get(name, []) if r.comparisons or r.outcome != "passed"]
        made = (meta.get("generated_by") or meta.get("script") or "?") \
            if isinstance(meta, dict) else "?"
        if not modules:
            lines.append(f"| `{name}.json` | `{made}` | **no test module reads it** | | | | |")
            continue
        worst = max((r.worst for r in recs), default=0.0)
        rtol = max((r.rtol for r in recs), default=0.0)
        passed = sum(r.outcome == "passed" for r in recs)
        lines.append(f"| {{ref}}`{name}.json <validation-{name.replace('_', '-')}>` | "
                     f"`{made}` | {len(recs)} | {sum(r.comparisons for r in recs)} | "
                     f"{_fmt(worst)} | {rtol:g} | {passed} of {len(recs)} |")
        versions = ", ".join(
            (v.replace("R version ", "R ") if k.lower() == "r_version" else f"{k[:-8]} {v}")
            for k, v in meta.items() if k.endswith("_version") and isinstance(v, str))
        details += ["", f"(validation-{name.replace('_', '-')})=",
                    f"### `{name}.json`", "",
                    f"Made by `{made}`" + (f" ({_md(versions)})" if versions else "")
                    + "; read by " + ", ".join(f"`tests/{m.name}`" for m in modules) + ".", "",
                    "| test | case | numbers | largest difference | rtol | outcome |",
                    "| --- | --- | ---: | ---: | ---: | --- |"]
        for r in recs:
            diff = "**NaN/size mismatch**" if r.nan_mismatch else (
                _fmt(r.rel) + (f" ({_fmt(r.abs_only)} abs)" if r.abs_only > 0 else ""))
            outcome = r.outcome if r.outcome == "passed" else f"**{r.outcome}** {_md(r.message)}"
            details.append(f"| `{r.function}` | `{_md(r.case)}` | {r.numbers} | {diff} | "
                           f"{r.rtol:g} | {outcome} |")
    return lines + details


def main(out: Path = OUT, names: list[str] | None = None,
         log: Callable[[str], None] = print) -> Path:
    start = time.perf_counter()
    results = {}
    for name in [n for n in (names or ORDER) if n in ORDER]:
        if not (REF / f"{name}.json").exists():
            continue
        t0 = time.perf_counter()
        try:
            results[name] = run_file(name)
        except Exception:  # a whole file failing is reported, not raised
            log(f"validation: {name}.json failed:\n{traceback.format_exc()}")
            continue
        log(f"validation: {name}.json, {len(results[name][0])} cases in "
            f"{time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    files = other_reference_files(names)
    try:
        records = run_recorded(files)
    except Exception:  # reported, not raised: the test suite is what fails
        log(f"validation: recorded files failed:\n{traceback.format_exc()}")
        records = {}
    log(f"validation: {len(files)} files checked by their own tests in "
        f"{time.perf_counter() - t0:.1f} s")
    text = render(results, time.perf_counter() - start)
    text = text.rstrip("\n") + "\n" + "\n".join(render_recorded(files, records)) + "\n"
    if not out.exists() or out.read_text(encoding="utf-8") != text:
        out.write_text(text, encoding="utf-8")
    return out


if __name__ == "__main__":
    main()
