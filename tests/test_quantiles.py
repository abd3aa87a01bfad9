"""Quantile rules and interval types against R's survey package.

Reference numbers from ``tests/reference/make_quantiles.R`` (run from the
repository root: ``Rscript tests/reference/make_quantiles.R``), stored in
``tests/reference/quantiles.json``; every case is compared at rtol 1e-8:

=====================================  ==========================================
innobaro                               R
=====================================  ==========================================
quantile(qrule=, interval_type=)       ``svyquantile(qrule=, interval.type=)``,
                                       domains as svyby's subsets
=====================================  ==========================================

The discrete rules (hf1-hf4) are compared with survey's rule wrapped to give
the smallest value below its weight share (innobaro's documented difference).
Then bad input.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from _harness import close, hypothesis_case_design, load

import innobaro as ib

RTOL = 1e-8


def _cases() -> list[dict]:
    return load("quantiles")["cases"]


@pytest.mark.parametrize("case", _cases(), ids=[c["id"] for c in _cases()])
def test_quantile_against_r(case: dict) -> None:
    d = hypothesis_case_design(case)
    call, res = case["call"], case["result"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ib.InnobaroWarning)
        est = ib.quantile(d, call["y"], call["q"], by=call.get("by"), level=call["level"],
                          qrule=call["qrule"], interval_type=call["interval_type"])
    if call.get("by"):
        domains = est.estimate.index.get_level_values(0).astype(str).tolist()
        P = len(call["q"])
        assert domains == [dom for dom in res["domains"] for _ in range(P)]
    ci = est.ci(call["level"])
    close("estimate", est.estimate.to_numpy(), np.array(res["estimate"]), RTOL)
    close("se", est.se.to_numpy(), np.array(res["se"]), RTOL)
    close("lower", ci.iloc[:, 0].to_numpy(), np.array(res["lower"]), RTOL)
    close("upper", ci.iloc[:, 1].to_numpy(), np.array(res["upper"]), RTOL)
    df = np.broadcast_to(np.asarray(est.df, dtype=float), est.estimate.shape)
    close("df", df, np.repeat(res["df"], len(call["q"])), RTOL)


def _small() -> ib.Design:
    df = pd.DataFrame({"psu": range(10), "w": [1.0] * 10, "y": range(10)})
    return ib.Design(df, weights="w", psu="psu")


@pytest.mark.parametrize("qrule", ["hf10", "type7", ""])
def test_unknown_rule_is_an_error(qrule: str) -> None:
    with pytest.raises(ib.EstimationError, match="qrule"):
        ib.quantile(_small(), "y", 0.5, qrule=qrule)


def test_unknown_interval_is_an_error() -> None:
    with pytest.raises(ib.EstimationError, match="interval_type"):
        ib.quantile(_small(), "y", 0.5, interval_type="score")


def test_replicate_interval_needs_replicate_design() -> None:
    with pytest.raises(ib.EstimationError, match="replicate"):
        ib.quantile(_small(), "y", 0.5, interval_type="quantile")


def test_discrete_rule_below_first_share_is_smallest_value() -> None:
    # the deliberate difference from survey's qs(): 0.05 is below 1/10
    for rule in ("math", "school", "hf3", "hf4"):
        assert ib.quantile(_small(), "y", 0.05, qrule=rule).estimate.iloc[0] == 0.0
