"""The engine designs in the randomised differential test's designs.

Each stored random design (``tests/reference/data/random_designs.json``; its
in-memory numbers are checked against R's survey package by
``test_random_designs.py``) is built again over an in-memory frame engine
(``EngineDesign`` or ``ReplicateEngineDesign`` over ``FrameSource``, an element
sample with its row id as ``psu``), weighted by the same steps, and its
estimators' calls are made on it: ``mean``, ``total``, ``ratio``, ``proportion``
(every method), ``quantile``, ``table``'s test and ``glm``. Each equals the
in-memory design's result at 1e-9 relative, or both raise an innobaro error, or
the engine refuses by name (``UnsupportedDesignError``: what the engines document
they cannot carry). A floor on the share of calls compared keeps the refusals
from hiding everything.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from test_random_designs import _decode, _frame, _load, _RFailed, build

import innobaro as ib
from innobaro.engines import EngineDesign, FrameSource, ReplicateEngineDesign
from innobaro.errors import DesignError, InnobaroError, UnsupportedDesignError

RTOL = 1e-9

#: where the engine's numbers differ from memory's, by design or known; each
#: (seed, call) with its reason (README of the engines: docs/guide/larger-than-memory.md)
DIFFERENT = {
    # a categorical variable's level without rows: memory (as R) gives it a share
    # of 0; the engines' cells hold the levels the rows have, so it is left out
    "empty_level": {"mean_cat", "total_cat"},
}
#: single calls: an exact tie of the cumulative weight with p times the total
#: (36 equal weights, p = 0.75), which R and memory break by their floating-point
#: summation order and the replicate engine's summed gaps break the other way;
#: a domain's replicate rank at the edge of the rank rule's tolerance after raking
KNOWN = {(106, "quantile_y")}
#: a domain's degrees of freedom on a replicate design: the rank of its replicate
#: weights, which the engine takes from their Gram matrix and memory from the
#: weights themselves; at the edge of the rank rule's tolerance the two can differ
#: by one (seeds 219 and 263), so domains' df on replicate designs are not compared


def _engine(d: dict, r: dict) -> Any:
    data = _frame(d)
    spec = d["design"]
    if d["replicate"] is not None:
        rep = r.get("replicate")
        M = _decode(rep)
        cols = [f"_rep{k + 1}" for k in range(M.shape[1])]
        data = pd.concat([data, pd.DataFrame(M, columns=cols, index=data.index)], axis=1)
        e: Any = ReplicateEngineDesign(
            FrameSource(data), weights="w", replicate_weights=cols, method=rep["method"],
            scale=rep["scale"], rscales=rep["rscales"], rho=rep["rho"],
            mse=bool(rep["mse"]), combined_weights=False)
    else:
        psu = spec["psu"]
        if not psu:  # an element sample: each row its own PSU
            data = data.assign(__row=np.arange(len(data)))
            psu = "__row"
        e = EngineDesign(FrameSource(data), weights=spec["weights"], probs=spec["probs"],
                         strata=spec["strata"], psu=psu, fpc=spec["fpc"],
                         nest=bool(spec["nest"]), lonely_psu=spec["lonely_psu"])
    for step in d["weighting"]:
        if step["step"] == "poststratify":
            e = e.poststratify(step["by"][0], step["totals"])
        elif step["step"] == "rake":
            e = e.rake(step["margins"], max_iter=step["max_iter"], tol=step["tol"])
        else:
            totals = {step["patsy_names"][k]: v for k, v in step["totals"].items()}
            bounds = step.get("bounds")
            e = e.calibrate(totals, formula=step["formula"], method=step["method"],
                            bounds=tuple(bounds) if bounds else None)
    return e


def _calls(e: Any, m: Any, call: dict) -> tuple[Any, Any] | None:
    """(engine call, in-memory call) of a stored call, or None for what an engine
    design has no way to ask (a subset: engines take domains by ``by=``)."""
    fn, y, na_rm = call["fn"], call.get("y"), bool(call.get("na_rm", False))
    by = call.get("by")
    if call.get("subset") or fn in ("var", "ttest"):
        return None
    if fn == "mean":
        return (lambda: e.mean(y, by=by, na_rm=na_rm), lambda: ib.mean(m, y, by=by, na_rm=na_rm))
    if fn == "total":
        return (lambda: e.total(y, by=by, na_rm=na_rm),
                lambda: ib.total(m, y, by=by, na_rm=na_rm))
    if fn == "ratio":
        den = call["denominator"]
        return (lambda: e.ratio(y, den, by=by, na_rm=na_rm),
                lambda: ib.ratio(m, y, den, by=by, na_rm=na_rm))
    if fn == "proportion":
        kw = dict(method=call["method"], level=call.get("level") or 0.95, na_rm=na_rm)
        return (lambda: e.proportion(y, by=by, **kw), lambda: ib.proportion(m, y, by=by, **kw))
    if fn == "quantile":
        kw = dict(level=call.get("level") or 0.95, na_rm=na_rm)
        return (lambda: e.quantile(y[0], call["q"], **kw),
                lambda: ib.quantile(m, y[0], call["q"], **kw))
    if fn == "chisq":
        return (lambda: e.chisq_test(call["row"], call["col"], na_rm=na_rm),
                lambda: ib.chisq_test(m, call["row"], call["col"], na_rm=na_rm))
    if fn == "glm":
        return (lambda: e.glm(call["formula"], family=call["family"]),
                lambda: ib.glm(call["formula"], m, family=call["family"]))
    raise AssertionError(f"unknown fn {fn}")


def _same(a: Any, b: Any, separated: bool = False, df: bool = True) -> None:
    if isinstance(b, ib.Estimate):
        np.testing.assert_allclose(a.estimate, b.estimate, rtol=RTOL, atol=1e-12)
        se = np.abs(b.se.to_numpy(dtype=float))
        np.testing.assert_allclose(a.se, b.se, rtol=RTOL,
                                   atol=1e-12 * (1 + float(se[np.isfinite(se)].max(initial=0))))
        if df:
            np.testing.assert_array_equal(a.df_values, b.df_values)
    elif isinstance(b, ib.GLMResult):
        np.testing.assert_allclose(a.params, b.params, rtol=1e-8, atol=1e-10)
        # a separated fit or replicate refit (warned, by both) has standard errors
        # whose digits mean nothing (they follow IRLS's last steps toward infinity)
        if not separated:
            np.testing.assert_allclose(a.bse, b.bse, rtol=1e-8, atol=1e-10)
        assert a.df_resid == b.df_resid
    else:
        np.testing.assert_allclose([a.statistic, a.pvalue], [b.statistic, b.pvalue],
                                   rtol=RTOL, atol=1e-12)


def test_engine_designs_give_the_in_memory_numbers() -> None:
    designs, results, _ = _load()
    compared = refused = both_raise = 0
    for seed in sorted(designs):  # over the stored designs
        d, r = designs[seed], results[seed]
        try:
            m = build(seed)
        except (_RFailed, InnobaroError):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ib.InnobaroWarning)
            try:
                e = _engine(d, r)
            except (UnsupportedDesignError, DesignError):
                # a Fay design whose rho R left unset (memory takes it from the
                # rscales; the engine asks for it by name)
                refused += len(d["calls"])
                continue
            for call in d["calls"]:  # over the design's calls
                pair = _calls(e, m, call)
                if pair is None or (seed, call["id"]) in KNOWN or any(
                        call["id"] in ids for ids in DIFFERENT.values()):
                    continue
                try:
                    with warnings.catch_warnings(record=True) as said:
                        warnings.simplefilter("always")
                        want = pair[1]()
                except InnobaroError:
                    with pytest.raises(InnobaroError):
                        pair[0]()
                    both_raise += 1
                    continue
                try:
                    got = pair[0]()
                except UnsupportedDesignError:
                    refused += 1
                    continue
                try:
                    _same(got, want, any("separation" in str(w.message) for w in said),
                          df=not (d["replicate"] is not None and call.get("by")))
                except AssertionError as exc:
                    raise AssertionError(f"seed {seed}, call {call['id']}: {exc}") from None
                compared += 1
    assert compared > 2000 and compared > 3 * refused, (compared, refused, both_raise)
