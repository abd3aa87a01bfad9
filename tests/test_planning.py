"""Sample sizes and allocation (innobaro.planning).

Sample sizes agree with the published formulas as computed in R
(tests/reference/make_planning.R, planning.json) to 1e-8 before rounding
up; allocations are checked by their defining identities (total, bounds,
proportionality to the continuous optimum within rounding)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import innobaro as ib
from innobaro.errors import InnobaroError
from innobaro.planning import (
    InfeasibleTargetError,
    allocate,
    publishable_size,
    sample_size_difference,
    sample_size_mean,
    sample_size_proportion,
    sample_size_total,
)

CASES = json.loads((Path(__file__).parent / "reference" / "planning.json").read_text())["cases"]


def _cases(kind: str) -> list[dict]:
    return [c for c in CASES if c["kind"] == kind]


@pytest.mark.parametrize("case", _cases("size_mean"), ids=lambda c: c["id"])
def test_sample_size_mean_matches_r(case: dict) -> None:
    got = sample_size_mean(case["sd"], moe=case.get("moe"), cv=case.get("cv"),
                           mean=case.get("mean"), N=case.get("N"), deff=case["deff"],
                           response_rate=case["rr"], level=case["level"])
    assert got == case["gross"]
    net = sample_size_mean(case["sd"], moe=case.get("moe"), cv=case.get("cv"),
                           mean=case.get("mean"), N=case.get("N"), deff=case["deff"],
                           level=case["level"])
    assert net == int(np.ceil(case["net"] - 1e-9))


@pytest.mark.parametrize("case", _cases("size_proportion"), ids=lambda c: c["id"])
def test_sample_size_proportion_matches_r(case: dict) -> None:
    got = sample_size_proportion(case["p"], moe=case.get("moe"), cv=case.get("cv"),
                                 N=case.get("N"), deff=case["deff"],
                                 response_rate=case["rr"], level=case["level"])
    assert got == case["gross"]


@pytest.mark.parametrize("case", _cases("size_difference"), ids=lambda c: c["id"])
def test_sample_size_difference_matches_r(case: dict) -> None:
    kw = {k: case[k] for k in ("p1", "p2", "sd1", "sd2", "moe", "power") if k in case}
    if "moe" in kw:
        kw["power"] = None
    got = sample_size_difference(**kw, level=case["level"], overlap=case["overlap"],
                                 correlation=case["correlation"], deff=case["deff"],
                                 response_rate=case["rr"])
    assert got == case["gross"]


def test_sizes_are_vectorised_and_total_is_mean_times_n() -> None:
    got = sample_size_proportion(np.array([0.1, 0.3, 0.5]), moe=0.05, N=[500, 800, 1e9])
    single = [sample_size_proportion(p, moe=0.05, N=N)
              for p, N in [(0.1, 500), (0.3, 800), (0.5, 1e9)]]
    assert got.tolist() == single
    assert sample_size_total(4, N=2000, moe=1000) == sample_size_mean(4, moe=0.5, N=2000)
    assert sample_size_total(4, N=2000, cv=0.02, total=20000) == sample_size_mean(
        4, cv=0.02, mean=10, N=2000)


def test_the_size_meets_the_target_and_one_less_does_not() -> None:
    # the defining property of the rounded-up size: deff (1/n - 1/N) S^2 <= V0 < at n - 1
    N, S, e, d = 1200, 7.0, 0.9, 1.6
    n = sample_size_mean(S, moe=e, N=N, deff=d)
    v0 = (e / stats.norm.ppf(0.975)) ** 2
    assert d * (1 / n - 1 / N) * S ** 2 <= v0 < d * (1 / (n - 1) - 1 / N) * S ** 2


def test_deff_from_an_estimate_of_an_earlier_wave() -> None:
    design = ib.report.barometer_designs()["report"]
    est = ib.mean(design, "innovated", by="sector")
    got = sample_size_proportion(est.estimate.to_numpy(), moe=0.05, deff=est)
    want = sample_size_proportion(est.estimate.to_numpy(), moe=0.05,
                                  deff=est.deff.to_numpy())
    assert got.tolist() == want.tolist()
    assert np.all(est.deff.to_numpy() > 0)


def test_publishable_size_passes_the_nchs_rules_and_one_less_fails() -> None:
    p = np.array([0.03, 0.1, 0.3, 0.5, 0.85])
    deff = np.array([1.0, 1.3, 2.0, 1.0, 1.5])
    n = publishable_size(p, deff=deff)

    def flags(n_: np.ndarray) -> np.ndarray:
        neff = n_ / deff
        x = p * neff
        lower = stats.beta.ppf(0.025, x, neff - x + 1)
        upper = stats.beta.ppf(0.975, x + 1, neff - x)
        return ib.flags.nchs_flags(p, p * (1 - p) / neff, lower, upper, neff,
                                   np.full(p.shape, 1e6))["flag"].to_numpy()

    assert np.all(flags(n.astype(float)) != "suppress")
    # with deff 1, one respondent fewer is suppressed
    one = deff == 1
    assert np.all(flags(n.astype(float) - 1)[one] == "suppress")


def test_publishable_size_with_names_and_infeasible_cells() -> None:
    p = pd.Series([0.2, 0.4], index=["Agder", "Oslo"])
    got = publishable_size(p, deff=1.2, N=[400, 5000], response_rate=0.5)
    assert list(got.index) == ["Agder", "Oslo"]
    with pytest.raises(InfeasibleTargetError, match="Agder"):
        publishable_size(p, deff=1.2, N=[40, 5000], response_rate=0.5)
    with pytest.warns(ib.InnobaroWarning, match="Agder"):
        got = publishable_size(p, deff=1.2, N=[40, 5000], response_rate=0.5,
                               infeasible="census")
    assert got["Agder"] == 40 and got["Oslo"] == publishable_size(
        0.4, deff=1.2, N=5000, response_rate=0.5)
    # a response rate per domain
    both = publishable_size(p, deff=1.2, response_rate=[0.5, 0.25])
    assert both["Oslo"] == publishable_size(0.4, deff=1.2, response_rate=0.25)


N = pd.Series([500, 300, 40, 3], index=list("abcd"))


@pytest.mark.parametrize("method,kw", [("proportional", {}),
                                       ("neyman", {"sd": [1.0, 2.0, 10.0, 1.0]}),
                                       ("optimal", {"sd": [1.0, 2.0, 10.0, 1.0],
                                                    "cost": [1.0, 4.0, 9.0, 1.0]})])
def test_allocation_keeps_total_and_bounds(method: str, kw: dict) -> None:
    for n in (10, 77, 200, 843):
        got = allocate(N, n, method=method, **kw)
        assert got.sum() == n and got.dtype.kind == "i"
        assert np.all(got >= np.minimum(2, N)) and np.all(got <= N)


def test_allocation_is_the_continuous_optimum_rounded() -> None:
    sd, cost = np.array([1.0, 2.0, 10.0, 1.0]), np.array([1.0, 4.0, 9.0, 1.0])
    Nf = N.to_numpy(float)
    got = allocate(N, 100, method="optimal", sd=sd, cost=cost, min_n=0)
    x = 100 * Nf * sd / np.sqrt(cost) / (Nf * sd / np.sqrt(cost)).sum()
    assert np.all(np.abs(got.to_numpy() - x) < 1)
    got = allocate(N, 100, method="neyman", sd=sd, min_n=0)
    x = 100 * Nf * sd / (Nf * sd).sum()
    assert np.all(np.abs(got.to_numpy() - x) < 1)


def test_allocation_caps_at_the_stratum_size_and_reallocates() -> None:
    got = allocate(N, 100, method="neyman", sd=[1.0, 1.0, 100.0, 1.0])
    assert got["c"] == 40 and got.sum() == 100
    # the rest in proportion to N_h S_h among a, b (d held at its minimum)
    assert abs(got["a"] / got["b"] - 5 / 3) < 0.1


def test_allocation_on_top_of_a_minimum_per_stratum() -> None:
    floor = np.array([100, 20, 30, 3])
    got = allocate(N, 300, min_n=floor)
    assert got.sum() == 300 and np.all(got >= floor) and np.all(got <= N)
    # the strata above their floor are proportional to N_h (within rounding)
    assert got["c"] == 30 and got["d"] == 3
    assert abs(got["a"] - 267 * 500 / 800) < 1 and abs(got["b"] - 267 * 300 / 800) < 1
    with pytest.raises(InfeasibleTargetError):
        allocate(N, 100, min_n=floor)


def test_allocation_by_budget() -> None:
    cost = [5.0, 10.0, 20.0, 5.0]
    got = allocate(N, method="optimal", sd=[1.0, 2.0, 10.0, 1.0], cost=cost, budget=1000)
    assert float(np.dot(got, cost)) <= 1000
    assert float(np.dot(got, cost)) > 1000 - 20 - 1e-9


@pytest.mark.parametrize("call,error", [
    (lambda: allocate(N, 1), InfeasibleTargetError),
    (lambda: allocate(N, 900), InfeasibleTargetError),
    (lambda: allocate(N, 50, method="neyman"), InnobaroError),
    (lambda: allocate(N, 50, method="ratio"), InnobaroError),
    (lambda: allocate(N, method="optimal", sd=1, cost=1, budget=3), InfeasibleTargetError),
    (lambda: sample_size_mean(3, moe=1, cv=0.1), InnobaroError),
    (lambda: sample_size_mean(3, cv=0.1), InnobaroError),
    (lambda: sample_size_proportion(0.0, moe=0.1), InnobaroError),
    (lambda: sample_size_proportion(0.3, moe=0.1, deff=0), InnobaroError),
    (lambda: sample_size_proportion(0.3, moe=0.1, response_rate=0), InnobaroError),
    (lambda: sample_size_difference(p1=0.3, p2=0.3), InnobaroError),
    (lambda: sample_size_difference(sd1=1.0), InnobaroError),
])
def test_bad_input_is_a_named_error(call, error) -> None:
    with pytest.raises(error):
        call()
