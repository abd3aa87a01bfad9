"""innobaro against R's survey package: linearisation designs, case by case.

The numbers come from ``tests/reference/make_reference.R`` (run it with
``Rscript tests/reference/make_reference.R``), stored in
``tests/reference/linearization.json`` with the R and survey versions. Each
case names a dataset, a design, a call and R's results; the test rebuilds the
design with :class:`innobaro.Design`, makes the same call and compares

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

import pytest
from _harness import build_design, compare, load, run_call

CASES = load("linearization")["cases"]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_against_r(case: dict) -> None:
    compare(run_call(build_design(case), case["call"]), case)


def test_reference_file_records_versions() -> None:
    meta = load("linearization")
    assert meta["generated_by"] == "tests/reference/make_reference.R"
    assert meta["R_version"].startswith("R version")
    assert meta["survey_version"]
