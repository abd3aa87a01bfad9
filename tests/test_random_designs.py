"""Randomised differential tests against R's survey package (issue 12).

``tests/reference/random_designs.py`` makes a small survey dataset, a design
and a list of calls for each seed; ``tests/reference/make_random.R`` has R
compute every call (``tests/reference/random.json``). This test rebuilds each
design in innobaro (``Design``, or ``ReplicateDesign`` given the replicate
weights R built with ``as.svrepdesign``; then ``poststratify``, ``rake`` or
``calibrate``), makes the same calls and compares at 1e-8 relative, with an
absolute tolerance for quantities that are zero in exact arithmetic. One test
item per design and call, named ``seed<seed>-<call>``. A call R stops on must
raise an innobaro error, and the other way round.

Where innobaro deliberately differs from survey 4.1, the comparison is
skipped or transformed by one of the rules in ``DIFFERENCES``; nothing else is
left out. Known innobaro bugs found by these designs are listed in
``KNOWN_BUGS``: their items are ``xfail(strict=True)``, so a fix shows as an
XPASS failure and its entry is then removed.

A larger run (see tests/reference/README.md, "Randomised designs")::

    python tests/reference/random_designs.py --n 3000 --out /tmp/rand
    Rscript tests/reference/make_random.R /tmp/rand
    python -m pytest tests/test_random_designs.py --random-dir /tmp/rand
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import warnings
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
from _harness import norm, run_call
from scipy import stats

import innobaro as ib

REF = Path(__file__).parent / "reference"
RTOL = 1e-8

# ---------------------------------------------------------------------------
# Deliberate differences from survey 4.1: rule -> reason. `rules_for` decides
# which rules apply to a call (from the design and R's flags), and the
# compare_* functions skip or transform only the comparisons a rule names;
# nothing else is skipped.
# ---------------------------------------------------------------------------
DIFFERENCES: dict[str, str] = {
    "adjust_lonely": (
        "lonely_psu='adjust' with a lonely unit: innobaro follows survey >= 4.3 (a lonely "
        "unit centred at the average unit total), survey 4.1 centres at 0. The variances "
        "agree only where the influence values sum to 0 within the design (means, ratios, "
        "shares, models, tests of one-stage unweighted designs); for totals, weighted "
        "designs and lonely units at a later stage only the estimates are compared."),
    "census_proportion": (
        "a proportion with a standard error of 0 (or rounding noise) and 0 < p < 1 (a "
        "census): R's Korn-Graubard ('beta') effective sample size is p(1-p)/0 and its "
        "qbeta interval is meaningless; innobaro returns the estimate itself as both "
        "ends, as every other method does. Compared with that rule (to 1e-7, the "
        "width of an interval from a noise-level variance)."),
    "proportion_0_1": (
        "a proportion of exactly 0 or 1 (no variation, variance 0): R's intervals are "
        "0/0 (NaN) or meaningless; innobaro's beta interval takes the rows with positive "
        "weight as the effective sample size (times the degrees-of-freedom factor) and "
        "the other methods collapse to the point (docs/theory/intervals.md). Compared "
        "with that rule."),
    "logit_replicate_01": (
        "logit interval on a replicate design where a replicate's proportion is 0 or 1: "
        "R keeps glm's unconverged replicate fit (a logit near -22, set by glm's stopping "
        "rule), innobaro leaves the replicate out with a warning (docs: "
        "coming-from-r-stata). The interval is not compared; when every replicate "
        "is 0 or 1 innobaro raises."),
    "likelihood_missing": (
        "likelihood interval with missing values: R's svyglm rescales the weights by their "
        "mean over all rows, those with missing values too; innobaro uses the rows "
        "analysed (docs: coming-from-r-stata). The interval is not compared."),
    "quantile_tie": (
        "the weighted distribution function meets p exactly: the quantile chosen depends "
        "on the last bits of the cumulated weights (docs: coming-from-r-stata). That "
        "quantile is not compared."),
    "woodruff_clipped": (
        "a Woodruff interval whose interval for the distribution function leaves [0, 1]: "
        "survey's woodruffCI returns NaN for that end (and the SE read off the interval); "
        "innobaro clips the probability to [0, 1] and returns the smallest or largest "
        "value (innobaro/estimators.py, _Woodruff.bounds). Compared with that rule."),
    "by_domain_all_missing": (
        "a by= domain where every value is missing: R returns NaN or 0 (or stops, on a "
        "calibrated design), innobaro leaves the domain out with a warning (docs: "
        "coming-from-r-stata). R's entries for it are not compared."),
    "all_replicates_na": (
        "a domain without a value in any replicate: survey's svrVar stops ('All "
        "replicates contained NAs'), innobaro gives the domain a NaN variance. Only "
        "that innobaro computes is checked."),
    "census_quantile_interval": (
        "a quantile's distribution function with a standard error of 0 (a census): both "
        "Woodruff ends are the quantile rule at F(q) itself, an exact tie whose value "
        "depends on rounding (see quantile_tie). The ends and SE are not compared."),
    "deff_one_row": (
        "the design effect of a domain with one row: the SRS variance divides by n - 1 "
        "= 0; R's deff is Inf (or 0), innobaro's NaN. Compared with that rule."),
    "chisq_census": (
        "svychisq on a design without sampling variance (a census): R's F statistic is "
        "Inf with NaN degrees of freedom; innobaro raises an EstimationError that says "
        "there is no sampling error to test against."),
    "lonely_fail_domain": (
        "lonely_psu='fail' on a design with a lonely stratum: innobaro raises a "
        "LonelyPSUError naming the strata when the Design is built, before any estimate; "
        "R stops only when an estimate's rows reach the lonely stratum, so it still "
        "estimates a domain that stays out of it. Deliberate: the rule is a property of "
        "the design, and a domain estimate next to a stratum without a variance estimate "
        "is better flagged than silently computed (docs: coming-from-r-stata)."),
    "empty_domain": (
        "a subset domain with no rows, or none with a value: R returns 0 or NaN, innobaro "
        "raises a DomainError (docs: coming-from-r-stata, missing values)."),
    "chisq_empty_level": (
        "svychisq with a declared level that has no observation: R's statistic is NaN, "
        "innobaro raises a DomainError that says to drop the level (drop_empty=True)."),
    "glm_separated": (
        "a logistic fit with fitted probabilities within 1e-8 of 0 or 1 (separation): "
        "there is no finite maximum, and the coefficients depend on where each program's "
        "IRLS stops (docs/theory/models.md). Not compared beyond both fitting."),
    "glm_replicate_separated": (
        "a replicate refit of a logistic model with fitted probabilities within 1e-8 of "
        "0 or 1: its coefficients depend on where IRLS stops, so the replicate SEs do "
        "too (innobaro warns). The coefficients are compared, the SEs are not."),
    "glm_replicate_lost_level": (
        "a replicate in which a model column has no row with positive weight (a level "
        "lost): R's refit returns an arbitrary value for it (SEs of 1e16), innobaro "
        "leaves such replicates out. The coefficients are compared, the SEs are not."),
    "replicate_calibration_failed": (
        "the calibration of a replicate does not converge: survey 4.1 warns and keeps "
        "the unconverged replicate weights, innobaro raises a CalibrationError."),
    "calibrate_replicate_df": (
        "survey 4.1's calibrate() keeps a replicate design's degrees of freedom from "
        "before calibration, where its postStratify() and rake() recompute them from "
        "the new weights (rank of the analysis weights - 1). make_random.R recomputes "
        "them after calibrate() as postStratify() does; innobaro always recomputes."),
    "fpc_all_ones": (
        "an fpc that is 1 in every row: survey's as.fpc stops (it cannot tell counts from "
        "fractions; 4.1 fails while printing the message), innobaro reads it as sampling "
        "fractions of 1, a census, which is what it means either way. Only that innobaro "
        "computes is checked."),
    "negative_weights": (
        "linear calibration made a weight negative (of the full sample or of a "
        "replicate): the weighted distribution function is not monotone and a share can "
        "leave [0, 1], R's glm refuses negative weights (svyciprop's likelihood "
        "interval) or drops their rows (replicate refits), and innobaro takes a domain "
        "without a positive weight as empty. Means, totals and ratios are compared; for "
        "quantiles, shares' intervals, models and tests only that both compute or that "
        "R stops."),
    "ttest_zero_se": (
        "a t-test whose difference has an SE of 0 in exact arithmetic: t is +-inf, or "
        "+-1e14 from rounding noise, in either program. The estimate, df and the sign "
        "of t are compared."),
    "replicate_selfrep": (
        "as.svrepdesign(type='JKn') with a certainty stratum marks its rows "
        "self-representing, and survey leaves them out of every replicate estimate but "
        "not of the full-sample one (with mse=TRUE, or for a mean, that is not a "
        "variance of the estimate). innobaro is given the replicate weights alone, so R "
        "computes on the same weights given alone (make_random.R's twin design). "
        "Compared as usual."),
    "xlogit_overflow": (
        "xlogit interval with a logit beyond about 709: R's expit exp(x)/(1+exp(x)) is "
        "Inf/Inf = NaN, innobaro's is 1. Compared with that rule."),
    "glm_alias_order": (
        "a rank-deficient model in which R aliases another column than innobaro: R "
        "takes the columns in the formula's order, patsy puts the factor terms first, "
        "and the column found dependent is the later one. The number of aliased "
        "columns and the residual df are compared (applied where the NaN coefficients "
        "differ, in compare_glm)."),
    "glm_replicate_aliased": (
        "a rank-deficient model on a replicate design: survey's svyglm.svyrep.design stops "
        "('Infinite/NA values in estimate'), innobaro gives the aliased coefficient NaN "
        "as on a linearisation design. Only that innobaro computes is checked."),
    "replicate_na_covariance": (
        "a replicate without a value for one domain (no rows of it): survey's svyby "
        "covmat leaves that replicate out of every entry, so its diagonal differs from "
        "its own SEs; innobaro leaves it out of that domain's variances and covariances "
        "only (vcov's diagonal is se^2). The SEs are compared, vcov is not."),
    "glm_predict_offset": (
        "predict(newdata) of a GLM with an offset: innobaro evaluates the model's offset "
        "on newdata and adds it to the linear predictor, as R's predict.glm does, because "
        "a rate model's prediction without its exposure is not the rate of those rows; "
        "survey 4.1's predict.svyglm leaves the offset out. The standard errors agree (the "
        "offset has no variance). The random designs fit no offset; make_families.R "
        "records both fits (predict.glm's and predict.svyglm's) and the tests compare "
        "predict.glm's."),
}

# ---------------------------------------------------------------------------
# innobaro bugs found by the stored designs: (seed, call id) -> description,
# written as one table (description, {seed: calls}), as of innobaro commit
# 809886e (the others these designs found were fixed in cf7c082 and 809886e).
# Their items are xfail(strict=True): a fix shows as an XPASS failure, and the
# entry is then removed (or moved to DIFFERENCES if the difference is kept on
# purpose).
# ---------------------------------------------------------------------------
_BUG_TABLE: list[tuple[str, dict[int, tuple[str, ...]]]] = []
KNOWN_BUGS: dict[tuple[int, str], str] = {
    (seed, call): description
    for description, by_seed in _BUG_TABLE for seed, calls in by_seed.items() for call in calls
}


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------
def _generator():
    spec = importlib.util.spec_from_file_location("random_designs", REF / "random_designs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# the directory of a larger run: --random-dir (tests/conftest.py) or the
# environment variable INNOBARO_RANDOM_DIR; None for the stored set
_RUN: dict[str, Path | None] = {"dir": None}


def random_dir() -> Path | None:
    return _RUN["dir"]


def _paths() -> tuple[Path, Path]:
    d = random_dir()
    if d is None:
        return REF / "data" / "random_designs.json", REF / "random.json"
    return d / "designs.json", d / "random.json"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    value = metafunc.config.getoption("random_dir", default=None) or \
        os.environ.get("INNOBARO_RANDOM_DIR")
    _RUN["dir"] = Path(value) if value else None
    if {"seed", "call_id"} <= set(metafunc.fixturenames):
        metafunc.parametrize(("seed", "call_id"), _items())


def _load() -> tuple[dict[int, dict], dict[int, dict], dict]:
    return _load_from(*_paths())


@cache
def _load_from(designs_path: Path, results_path: Path
               ) -> tuple[dict[int, dict], dict[int, dict], dict]:
    with open(designs_path) as fh:
        designs = {d["seed"]: d for d in json.load(fh)["designs"]}
    with open(results_path) as fh:
        meta = json.load(fh)
    results = {c["seed"]: c for c in meta.pop("cases")}
    assert set(results) == set(designs), "random.json is not R's output for these designs"
    return designs, results, meta


def _items() -> list:
    designs = _load()[0]
    items = []
    for seed, d in designs.items():
        for call in d["calls"]:
            key = (seed, call["id"])
            marks = ()
            if key in KNOWN_BUGS:
                marks = pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[key])
            items.append(pytest.param(seed, call["id"], marks=marks,
                                      id=f"seed{seed:04d}-{call['id']}"))
    return items


# ---------------------------------------------------------------------------
# Designs
# ---------------------------------------------------------------------------
def _frame(d: dict) -> pd.DataFrame:
    data = pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in d["data"].items()})
    for col in data.columns:
        values = [v for v in data[col] if v is not None]
        if values and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                          for v in values):
            data[col] = pd.to_numeric(data[col].astype(float))
    for col, levels in d["levels"].items():
        data[col] = pd.Categorical(data[col], categories=levels)
    return data


def _decode(rep: dict) -> np.ndarray:
    """The replicate multipliers R built: codes index into the distinct values."""
    chars = ("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
             "!#$%&()*+,-./:;<=>?@[]^_{|}~")
    pos = {c: i for i, c in enumerate(chars)}
    levels = np.asarray(rep["levels"], dtype=float)
    return np.array([[levels[pos[c]] for c in row] for row in rep["codes"]], dtype=float)


def _apply_step(design: ib.SurveyDesign, step: dict) -> ib.SurveyDesign:
    kind = step["step"]
    if kind == "poststratify":
        return design.poststratify(step["by"][0], step["totals"])
    if kind == "rake":
        return design.rake(step["margins"], max_iter=step["max_iter"], tol=step["tol"])
    if kind == "calibrate":
        totals = {step["patsy_names"][k]: v for k, v in step["totals"].items()}
        bounds = step.get("bounds")
        return design.calibrate(totals, formula=step["formula"], method=step["method"],
                                bounds=tuple(bounds) if bounds else None)
    raise AssertionError(f"unknown weighting step {kind}")


def build(seed: int) -> ib.SurveyDesign:
    """The design of a seed as innobaro builds it (may raise an innobaro error)."""
    return _build(seed, _paths())


@cache
def _build(seed: int, paths: tuple[Path, Path]) -> ib.SurveyDesign:
    designs, results, _ = _load_from(*paths)
    d, r = designs[seed], results[seed]
    data = _frame(d)
    spec = d["design"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ib.InnobaroWarning)
        if d["replicate"] is not None:
            rep = r.get("replicate")
            if rep is None:
                raise _RFailed(r.get("design_error"))
            M = _decode(rep)
            cols = [f"_rep{k + 1}" for k in range(M.shape[1])]
            data = pd.concat([data, pd.DataFrame(M, columns=cols, index=data.index)], axis=1)
            design: ib.SurveyDesign = ib.ReplicateDesign(
                data, weights="w", replicate_weights=cols, method=rep["method"],
                scale=rep["scale"], rscales=rep["rscales"], rho=rep["rho"],
                mse=bool(rep["mse"]), combined_weights=False)
        else:
            design = ib.Design(data, weights=spec["weights"], probs=spec["probs"],
                               strata=spec["strata"], psu=spec["psu"], fpc=spec["fpc"],
                               nest=bool(spec["nest"]), lonely_psu=spec["lonely_psu"])
        for step in d["weighting"]:
            design = _apply_step(design, step)
    return design


class _RFailed(Exception):
    """R could not build the replicate weights: there is nothing to give innobaro."""


# ---------------------------------------------------------------------------
# Calls
# ---------------------------------------------------------------------------
def _domain(design: ib.SurveyDesign, subset: dict | None) -> ib.SurveyDesign:
    if not subset:
        return design
    col = design.data[subset["column"]]
    mask = col.astype(object).map(lambda v: v is not None and not (isinstance(v, float)
                                                                     and math.isnan(v))
                                  and str(v) == str(subset["value"]))
    return design.subset(mask.to_numpy(dtype=bool))


def run(design: ib.SurveyDesign, call: dict) -> Any:
    fn = call["fn"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ib.InnobaroWarning)
        if fn == "glm":
            return ib.glm(call["formula"], design, family=call["family"])
        if fn == "chisq":
            return {s: ib.chisq_test(design, call["row"], call["col"], statistic=s,
                                     na_rm=bool(call["na_rm"]))
                    for s in ("F", "Chisq")}
        if fn == "ttest":
            return ib.ttest(design, call["y"], call["group"], na_rm=bool(call["na_rm"]))
        if fn == "var":
            return ib.var(_domain(design, call.get("subset")), call["y"],
                          statistic=call["statistic"], na_rm=bool(call["na_rm"]))
    # the estimators, on this file's domains, as the other reference tests call them
    return run_call(_domain(design, call.get("subset")), {**call, "subset": None})


# ---------------------------------------------------------------------------
# Comparison
# ---------------------------------------------------------------------------
def arr(values) -> np.ndarray:
    if values is None:
        return None
    if not isinstance(values, list):
        values = [values]
    # R writes infinities as "Inf" / "-Inf", missing values as null
    return np.array([np.nan if v is None else float(v) for v in values], dtype=float)


class Checker:
    """Compares numbers, remembers the largest relative difference."""

    largest: ClassVar[dict[str, tuple[float, str]]] = {}

    def __init__(self, where: str) -> None:
        self.where = where
        self.compared = 0

    def __call__(self, name: str, ours, theirs, *, rtol: float = RTOL,
                 atol: float = 0.0) -> None:
        ours = np.atleast_1d(np.asarray(ours, dtype=float))
        theirs = np.atleast_1d(np.asarray(theirs, dtype=float))
        assert ours.shape == theirs.shape, \
            f"{self.where} {name}: shape {ours.shape} vs {theirs.shape}"
        np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol, equal_nan=True,
                                   err_msg=f"{self.where} {name}")
        self.compared += ours.size
        # relative differences of the values above the absolute tolerance (a
        # value that is 0 in exact arithmetic has no relative difference)
        both = np.isfinite(ours) & np.isfinite(theirs) & (np.abs(theirs) > max(atol, 0.0))
        both &= theirs != 0
        if both.any():
            rel = np.abs(ours[both] - theirs[both]) / np.abs(theirs[both])
            if rel.max() > Checker.largest.get(name, (0.0, ""))[0]:
                Checker.largest[name] = (float(rel.max()), self.where)


def _keys(est: ib.Estimate) -> list[tuple[str, ...]]:
    idx = est.estimate.index
    if isinstance(idx, pd.MultiIndex):
        return [tuple(norm(v) for v in t) for t in idx]
    return [(norm(v),) for v in idx]


def _align(est: ib.Estimate, labels: list, allow_missing: np.ndarray) -> np.ndarray:
    """Positions in innobaro's result of R's labels (-1: left out by a rule)."""
    pos = {k: i for i, k in enumerate(_keys(est))}
    theirs = [tuple(norm(v) for v in lab) for lab in labels]
    order = np.array([pos.get(k, -1) for k in theirs])
    missing = [k for k, o, ok in zip(theirs, order, allow_missing, strict=True) if o < 0 and not ok]
    assert not missing, f"R's entries {missing} not in innobaro's {list(pos)}"
    assert len(pos) == int((order >= 0).sum()), f"innobaro has {list(pos)}, R {theirs}"
    return order


def _noise(estimate: np.ndarray) -> float:
    """A standard error that is 0 in exact arithmetic is rounding noise."""
    return float(np.nanmax(1e-13 * (np.abs(estimate) + 1), initial=0.0))


def _t(level: float, df) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return stats.t.ppf(1 - (1 - level) / 2, np.asarray(df, dtype=float))


def _beta_0_1(res: dict, level: float) -> tuple[np.ndarray, np.ndarray]:
    """innobaro's Korn-Graubard interval for a share of exactly 0 or 1: the rows
    with positive weight as effective sample size, times the df factor."""
    p = np.where(arr(res["estimate"]) < 0.5, 0.0, 1.0)
    alpha = 1 - level
    df = arr(res["df"])
    factor = (stats.t.ppf(alpha / 2, res["n_rows"] - 1) / stats.t.ppf(alpha / 2, df)) ** 2
    n = res["n_pos"] * factor
    x = n * p
    lower = np.where(p <= 0, 0.0, stats.beta.ppf(alpha / 2, x, n - x + 1))
    upper = np.where(p >= 1, 1.0, stats.beta.ppf(1 - alpha / 2, x + 1, n - x))
    return lower, upper


def compare_estimate(est: ib.Estimate, res: dict, call: dict, rules: set[str],
                     check: Checker) -> None:
    labels = res["labels"]
    estimate = arr(res["estimate"])
    se = arr(res["se"])
    df = arr(res["df"])
    level = call.get("level") or 0.95
    lower, upper = arr(res["lower"]), arr(res["upper"])
    n = len(labels)
    skip_entry = np.zeros(n, bool)     # not compared at all
    no_interval = np.zeros(n, bool)    # estimate only
    if "by_domain_all_missing" in rules:
        skip_entry = np.asarray(res["n_values"]) == 0
    if "quantile_tie" in rules:
        skip_entry |= np.asarray(res["tie"], bool)
    if "census_quantile_interval" in rules:
        no_interval = arr(res["f_se"]) == 0
    if "woodruff_clipped" in rules:
        f_se = arr(res["f_se"])
        clipped = np.isfinite(f_se) & (f_se > 0)
        lower = np.where(np.isnan(lower) & clipped, res["min"], lower)
        upper = np.where(np.isnan(upper) & clipped, res["max"], upper)
        se = np.where(clipped, (upper - lower) / (2 * _t(level, df)), se)
    if "negative_weights" in rules:
        # a domain whose rows all have weights <= 0 is no domain to innobaro
        ours = set(_keys(est))
        skip_entry |= np.array([tuple(norm(v) for v in lab) not in ours for lab in labels])
    order = _align(est, labels, skip_entry)
    keep = ~skip_entry
    idx = order[keep]
    if no_interval.any():
        _compare_estimate_only(est, idx, estimate[keep], df[keep], check)
        keep = keep & ~no_interval
        idx = order[keep]
    check("estimate", est.estimate.to_numpy()[idx], estimate[keep],
          atol=1e-14 * float(np.nanmax(np.abs(estimate), initial=0.0)))
    ours_df = est.df if isinstance(est.df, float) else est.df.to_numpy()[idx]
    check("df", np.broadcast_to(ours_df, idx.shape), df[keep], rtol=0)
    if "adjust_lonely" in rules:
        return
    noise = _noise(estimate[keep])
    check("se", est.se.to_numpy()[idx], se[keep], atol=noise)
    if res.get("vcov") is not None and keep.all() and "replicate_na_covariance" not in rules:
        V = np.array(res["vcov"], dtype=float)
        ours = est.vcov.to_numpy()[np.ix_(idx, idx)]
        scale = np.sqrt(np.outer(np.diag(V), np.diag(V)))
        check("vcov", ours, V, atol=float(RTOL * np.nanmax(scale, initial=0.0)) + noise)
    if "interval_not_compared" in rules:
        return
    if call["fn"] == "proportion":
        method = call["method"]
        if (method == "logit" and "logit_replicate_01" in rules) or (
                method == "likelihood" and "likelihood_missing" in rules):
            return
        if "xlogit_overflow" in rules:
            upper = np.where(np.isnan(upper), 1.0, upper)
        if "census_proportion" in rules:
            ci = est.ci(level)
            check("lower", ci["lower"].to_numpy()[idx], estimate[keep], rtol=1e-7)
            check("upper", ci["upper"].to_numpy()[idx], estimate[keep], rtol=1e-7)
            return
        if "proportion_0_1" in rules:
            if method == "beta":
                lower, upper = _beta_0_1(res, level)
            elif method != "mean":   # R's p -/+ t 0 is already the point
                lower = upper = estimate
    ci = est.ci(level)
    # an interval end is est -/+ t se: its rounding noise is that of the se,
    # and an end near zero is compared on the scale of the half-width (scipy's
    # t quantile is within a few 1e-11 of R's qt, which an end near zero
    # would turn into a large relative difference)
    half = np.abs(upper[keep] - lower[keep]) / 2
    tol = noise * 10 + RTOL * float(np.nanmax(half, initial=0.0))
    check("lower", ci["lower"].to_numpy()[idx], lower[keep], atol=tol)
    check("upper", ci["upper"].to_numpy()[idx], upper[keep], atol=tol)
    if res.get("deff") is not None:
        real = se[keep] > noise
        theirs = arr(res["deff"])[keep]
        if "deff_one_row" in rules:
            theirs = np.where((theirs == 0) | np.isinf(theirs), np.nan, theirs)
        check("deff", est.deff.to_numpy()[idx][real], theirs[real])


def _compare_estimate_only(est: ib.Estimate, idx: np.ndarray, estimate: np.ndarray,
                           df: np.ndarray, check: Checker) -> None:
    check("estimate", est.estimate.to_numpy()[idx], estimate,
          atol=1e-14 * float(np.nanmax(np.abs(estimate), initial=0.0)))
    ours_df = est.df if isinstance(est.df, float) else est.df.to_numpy()[idx]
    check("df", np.broadcast_to(ours_df, idx.shape), df, rtol=0)


def compare_glm(m: ib.GLMResult, res: dict, rules: set[str], check: Checker) -> None:
    names = list(m.params.index)
    theirs = res["patsy_names"]
    assert sorted(names) == sorted(theirs), (names, theirs)
    o = np.array([names.index(n) for n in theirs])
    params = arr(res["params"])
    ours = m.params.to_numpy()[o]
    if not np.array_equal(np.isnan(ours), np.isnan(params)):
        # the same number of aliased columns, on other columns (the order)
        assert np.isnan(ours).sum() == np.isnan(params).sum(), (list(ours), list(params))
        check("df_resid", m.df_resid, res["df_resid"], rtol=0)
        return
    if "glm_separated" in rules:
        return
    check("params", m.params.to_numpy()[o], params,
          atol=1e-12 * float(np.nanmax(np.abs(params), initial=1.0)))
    check("df_resid", m.df_resid, res["df_resid"], rtol=0)
    if not rules & {"adjust_lonely", "glm_replicate_separated", "glm_replicate_lost_level"}:
        # a saturated fit's SEs are 0 in exact arithmetic: rounding noise
        check("bse", m.bse.to_numpy()[o], arr(res["bse"]),
              atol=1e-12 * float(np.nanmax(np.abs(params), initial=1.0)))


def _dfs(result: ib.TestResult) -> list[float]:
    """A test's degrees of freedom as a list (a number, or (ndf, ddf))."""
    df = result.df
    return [float(v) for v in df] if isinstance(df, (tuple, list)) else [float(df)]


def compare_chisq(tests: dict, res: dict, rules: set[str], check: Checker) -> None:
    if "adjust_lonely" in rules:
        return
    for s, ours in tests.items():
        r = res[s]
        check(f"chisq {s} statistic", ours.statistic, arr([r["statistic"]]))
        check(f"chisq {s} p_value", ours.p_value, arr([r["p_value"]]), atol=1e-15)
        theirs = arr(r["parameter"])
        check(f"chisq {s} df", _dfs(ours)[: theirs.size], theirs)


def compare_ttest(t: ib.TestResult, res: dict, rules: set[str], check: Checker) -> None:
    check("ttest estimate", t.estimate, res["estimate"],
          atol=1e-13 * abs(res["estimate"] or 0))
    check("ttest df", _dfs(t)[-1], res["df"], rtol=0)
    if "adjust_lonely" in rules:
        return
    theirs = arr([res["statistic"]])
    if abs(t.statistic) > 1e12 or (np.abs(theirs) > 1e12).any():
        # "ttest_zero_se": an SE that is 0 in exact arithmetic
        assert np.sign(t.statistic) == np.sign(theirs[0]), (t.statistic, theirs)
        return
    check("ttest statistic", t.statistic, theirs)
    check("ttest p_value", t.p_value, arr([res["p_value"]]), atol=1e-15)
    lower, upper = t.ci(0.95)
    check("ttest lower", lower, arr([res["lower"]]))
    check("ttest upper", upper, arr([res["upper"]]))


def rules_for(d: dict, r: dict, call: dict, res: dict | None) -> set[str]:
    """The rules of DIFFERENCES that apply to one call with R's result `res`."""
    rules: set[str] = set()
    fn = call["fn"]
    if r.get("replicate_calibration_failed"):
        rules.add("replicate_calibration_failed")
    if (r.get("replicate") or {}).get("selfrep"):
        rules.add("replicate_selfrep")
    if r.get("degf_before_recompute") is not None:
        rules.add("calibrate_replicate_df")
    if "subscript out of bounds" in (r.get("design_error") or "") and d["design"]["fpc"] \
            and all(v == 1 for v in d["data"][d["design"]["fpc"][0]]):
        rules.add("fpc_all_ones")
    if d["design"]["lonely_psu"] == "adjust" and r.get("lonely_stages"):
        if fn == "total" or d["weighting"] or max(r["lonely_stages"]) > 1:
            rules.add("adjust_lonely")
    if d["design"]["lonely_psu"] == "fail" and r.get("lonely_stages") and call.get("subset"):
        rules.add("lonely_fail_domain")
    if call.get("subset"):
        sub = call["subset"]
        values = d["data"][call["y"][0]]
        if not any(str(v) == str(sub["value"]) and y is not None
                   for v, y in zip(d["data"][sub["column"]], values, strict=True)):
            rules.add("empty_domain")
    if call.get("by") and call.get("na_rm"):
        col = d["data"][call["by"][0]]
        vals = [d["data"][v] for v in call["y"] + (call.get("denominator") or [])]
        with_value = {c for c, *ys in zip(col, *vals, strict=True)
                      if all(y is not None for y in ys)}
        if with_value != set(col):
            rules.add("by_domain_all_missing")
    if res is not None and "All replicates contained NAs" in (res.get("error") or ""):
        rules.add("all_replicates_na")
    if r.get("negative_weights"):
        rules.add("negative_weights")
    if fn == "glm" and "Infinite/NA values in estimate" in ((res or {}).get("error") or ""):
        rules.add("glm_replicate_aliased")
    if res is None or res.get("error") is not None:
        return rules
    if fn == "proportion":
        p, se, df = arr(res["estimate"]), arr(res["se"]), arr(res["df"])
        zero = se <= _noise(p)
        at_0_1 = (p <= 1e-12) | (p >= 1 - 1e-12)
        if np.all(zero & ~at_0_1 & (df > 0)):
            rules.add("census_proportion")
        if np.all(zero & at_0_1):
            rules.add("proportion_0_1")
        if call["method"] == "logit" and res.get("replicate_p01"):
            rules.add("logit_replicate_01")
        if call["method"] == "likelihood" and call.get("na_rm"):
            rules.add("likelihood_missing")
        if call["method"] == "xlogit" and np.isnan(arr(res["upper"])).any() \
                and np.isfinite(se).all() and (df > 0).all():
            rules.add("xlogit_overflow")
    if fn == "quantile":
        if any(res.get("tie") or []):
            rules.add("quantile_tie")
        f_se = arr(res["f_se"])
        if (f_se == 0).any():
            rules.add("census_quantile_interval")
        nan_end = np.isnan(arr(res["lower"])) | np.isnan(arr(res["upper"]))
        if (nan_end & np.isfinite(f_se) & (f_se > 0)).any():
            rules.add("woodruff_clipped")
    if res.get("deff") is not None:
        deff = arr(res["deff"])
        if ((deff == 0) | np.isinf(deff)).any():
            rules.add("deff_one_row")
    if call.get("by") and res.get("vcov_diagonal_is_se2") is False:
        rules.add("replicate_na_covariance")
    if fn == "chisq":
        F = res["F"]
        if F["statistic"] is None:
            rules.add("chisq_empty_level")
        elif F["statistic"] == "Inf" and all(v is None for v in F["parameter"]):
            rules.add("chisq_census")
    if fn == "glm" and res.get("separated"):
        rules.add("glm_separated")
    if fn == "glm" and res.get("replicate_separated"):
        rules.add("glm_replicate_separated")
    if fn == "glm" and res.get("replicate_lost_column"):
        rules.add("glm_replicate_lost_level")
    return rules


# innobaro raises where R computes, by one of the rules
RAISES_BY_RULE = ("empty_domain", "chisq_empty_level", "replicate_calibration_failed",
                  "chisq_census", "lonely_fail_domain")


def compare_call(seed: int, call_id: str, check: Checker | None = None) -> set[str]:
    """Compare one call of one design with R; returns the rules applied."""
    designs, results, _ = _load()
    d, r = designs[seed], results[seed]
    call = next(c for c in d["calls"] if c["id"] == call_id)
    check = check or Checker(f"seed {seed} {call_id}:")
    if r.get("design_error") is not None and d["replicate"] is not None \
            and r.get("replicate") is None:
        pytest.skip(f"R could not build the replicate weights: {r['design_error']}")
    res = None if r.get("design_error") is not None else \
        next(x for x in r["results"] if x["id"] == call_id)
    r_error = r.get("design_error") or (res or {}).get("error")
    rules = rules_for(d, r, call, res)
    try:
        ours = run(build(seed), call)
    except ib.InnobaroError as exc:
        allowed = [rule for rule in RAISES_BY_RULE if rule in rules]
        # every replicate's proportion 0 or 1 (and the estimate not): innobaro
        # leaves them all out, and has no replicate variance left
        if "logit_replicate_01" in rules and "proportion_0_1" not in rules:
            allowed.append("logit_replicate_01")
        # a domain whose rows all have weights <= 0
        if "negative_weights" in rules and isinstance(exc, ib.DomainError):
            allowed.append("negative_weights")
        assert r_error is not None or allowed, f"innobaro raised {exc!r}, R computed {res}"
        return rules
    if rules & {"fpc_all_ones", "glm_replicate_aliased"} or ("negative_weights" in rules and (
            call["fn"] in ("quantile", "glm", "ttest", "chisq") or r_error is not None
            or call["fn"] == "proportion")):
        if call["fn"] == "proportion" and r_error is None:
            compare_estimate(ours, res, call, rules | {"interval_not_compared"}, check)
        return rules
    if r_error is not None and "by_domain_all_missing" in rules:
        # R stops on the domain without values (a calibrated design), innobaro
        # leaves it out
        col = d["data"][call["by"][0]]
        assert len(ours.estimate) < len(set(col)) * len(call["y"]), "no domain left out"
        return rules
    if "all_replicates_na" in rules:
        # innobaro has no variance for some domain, or has left out a domain
        # without values
        col = call["by"][0] if call.get("by") else None
        domains = {v for v, y in zip(d["data"][col], d["data"][call["y"][0]], strict=True)
                   if y is not None} if col else set()
        assert np.isnan(ours.se.to_numpy()).any() or len(ours.estimate) < len(domains) \
            or (col and len({v for v in d["data"][col]}) > len(domains)), \
            "R: all replicates NA, innobaro has a variance"
        return rules
    assert r_error is None, f"R stopped ({r_error}), innobaro computed {ours!r}"
    if call["fn"] == "glm":
        compare_glm(ours, res, rules, check)
    elif call["fn"] == "chisq":
        assert not rules & {"chisq_empty_level", "chisq_census"}, \
            f"R's statistic is {res['F']['statistic']}, innobaro computed one"
        compare_chisq(ours, res, rules, check)
    elif call["fn"] == "ttest":
        compare_ttest(ours, res, rules, check)
    else:
        compare_estimate(ours, res, call, rules, check)
    return rules


def test_against_r(seed: int, call_id: str) -> None:
    compare_call(seed, call_id)


def test_stored_designs_are_the_generators() -> None:
    """The stored inputs are what the generator makes, and R's output is theirs."""
    if random_dir() is not None:
        pytest.skip("a larger run: its inputs are not stored")
    gen = _generator()
    designs, _, meta = _load()
    assert meta["generated_by"] == "tests/reference/make_random.R"
    assert meta["survey_version"]
    assert sorted(designs) == list(range(1, gen.N_STORED + 1))
    for seed in designs:
        made = json.loads(json.dumps(gen.make_design(seed)))
        assert made == designs[seed], f"seed {seed} differs from the generator's"


def test_rules_are_documented() -> None:
    assert all(len(reason) > 40 for reason in DIFFERENCES.values())
    assert all(len(reason) > 20 for reason in KNOWN_BUGS.values())
