"""innobaro against R's survey package: replicate-weight designs.

Numbers from ``tests/reference/make_replicates.R`` in
``tests/reference/replicates.json``. Two kinds of case (compared as in
``test_reference_linearization.py``, rtol 1e-8):

- ``ReplicateDesign`` given the replicate weights R built or published (JK1,
  JKn, BRR, Fay, bootstrap, subbootstrap, successive difference, "other",
  the ``scd`` BRR example), as full weights or multipliers, ``mse`` both ways;
- ``Design.replicate(method)`` building the weights itself (deterministic
  methods: jk1, jkn, brr, fay), which must give R's variances.

Quantile cases whose call asks for ``method="quantile"`` (R's replicate
variance of the quantile itself) are compared on the estimate only:
innobaro's quantile interval is Woodruff's, R's default for replicate designs.
"""

from __future__ import annotations

import numpy as np
import pytest
from _harness import align, arr, build_design, close, compare, load, run_call

CASES = load("replicates")["cases"]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_against_r(case: dict) -> None:
    design = build_design(case)
    call = case["call"]
    if call["fn"] == "quantile" and call.get("method") == "quantile":
        est = run_call(design, {**call, "method": None})
        order = align(est, case)
        close("estimate", est.estimate.to_numpy()[order], arr(case["result"]["estimate"]))
        return
    compare(run_call(design, call), case)


@pytest.mark.parametrize("case", [c for c in CASES if c["design"].get("type") == "linearization"
                                  and c["design"]["replicate"]["method"] in ("brr", "fay")][:4],
                         ids=lambda c: c["id"])
def test_brr_weights_match_r(case: dict) -> None:
    """innobaro's Hadamard matrix and half-samples are R's."""
    design = build_design(case)
    data = design.data
    cols = case["design"]["resolved"]["weights_columns"]
    theirs = data[cols].to_numpy(dtype=float)
    ours = design.replicate_weights.to_numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
