"""Selection algorithms (innobaro.selection).

Inclusion probabilities and the exact joint probabilities of systematic and
Sampford selection agree with R's sampling package (planning.json) to 1e-8. The
algorithms are checked by simulation: with R seeded draws, every empirical
first- and second-order inclusion frequency lies within 4.5 Monte Carlo
standard errors, sqrt(pi (1 - pi) / R), of its exact value (R's
UPsampfordpi2 for Sampford, UPsystematicpi2 for systematic, the closed forms
for SRS)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import innobaro as ib
from innobaro.errors import InnobaroError
from innobaro.selection import (
    CertaintyUnitsWarning,
    inclusion_probabilities,
    joint_inclusion_probabilities,
    select,
    select_two_stage,
)

CASES = json.loads((Path(__file__).parent / "reference" / "planning.json").read_text())["cases"]


def _case(id_: str) -> dict:
    return next(c for c in CASES if c["id"] == id_)


@pytest.mark.parametrize("case", [c for c in CASES if c["kind"] == "inclusionprobabilities"],
                         ids=lambda c: c["id"])
def test_inclusion_probabilities_match_r(case: dict) -> None:
    got = inclusion_probabilities(case["size"], case["n"])
    np.testing.assert_allclose(got, case["pik"], rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("case", [c for c in CASES if c["kind"] == "systematic_pi2"],
                         ids=lambda c: c["id"])
def test_systematic_joint_probabilities_match_r(case: dict) -> None:
    got = joint_inclusion_probabilities(case["pik"], "pps_systematic")
    np.testing.assert_allclose(got, np.array(case["pi2"]), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("case", [c for c in CASES if c["kind"] == "sampford_pi2"],
                         ids=lambda c: c["id"])
def test_sampford_joint_probabilities_match_r(case: dict) -> None:
    got = joint_inclusion_probabilities(case["pik"], "sampford")
    np.testing.assert_allclose(got, np.array(case["pi2"]), rtol=1e-8, atol=1e-12)


def _simulate(method: str, size: list[float], n: int, reps: int, seed: int) -> np.ndarray:
    frame = pd.DataFrame({"id": np.arange(len(size)), "x": size})
    rng = np.random.default_rng(seed)
    hits = np.zeros((len(size), len(size)))
    for _ in range(reps):
        s = np.zeros(len(size))
        s[select(frame, n, method=method, size="x", seed=rng)["id"].to_numpy()] = 1
        hits += np.outer(s, s)
    return hits / reps


def _within_mc_error(freq: np.ndarray, exact: np.ndarray, reps: int) -> None:
    se = np.sqrt(exact * (1 - exact) / reps)
    assert np.all(np.abs(freq - exact) <= 4.5 * se + 1e-12), np.abs(freq - exact).max()


REPS = 3000


def test_sampford_first_and_second_order_by_simulation() -> None:
    case = _case("sampford_pi2_small")
    freq = _simulate("sampford", _case("inclusionprobabilities_small")["size"], 3, REPS, 1)
    _within_mc_error(freq, np.array(case["pi2"]), REPS)


def test_brewer_first_order_by_simulation() -> None:
    size = _case("inclusionprobabilities_certainty")["size"]
    pik = np.array(_case("inclusionprobabilities_certainty")["pik"])
    with pytest.warns(CertaintyUnitsWarning):
        freq = _simulate("brewer", size, 4, REPS, 2)
    _within_mc_error(np.diag(freq), pik, REPS)
    # fixed size: every sample has 4 units
    assert abs(freq.sum() - 16) < 1e-9 * REPS


def test_systematic_and_poisson_and_srs_by_simulation() -> None:
    case = _case("systematic_pi2_small")
    freq = _simulate("pps_systematic", _case("inclusionprobabilities_small")["size"], 3, REPS, 3)
    _within_mc_error(freq, np.array(case["pi2"]), REPS)
    size = _case("inclusionprobabilities_small")["size"]
    pik = inclusion_probabilities(size, 3)
    freq = _simulate("poisson", size, 3, REPS, 4)
    _within_mc_error(freq, joint_inclusion_probabilities(pik, "poisson"), REPS)
    freq = _simulate("srs", size, 3, REPS, 5)
    _within_mc_error(freq, joint_inclusion_probabilities(np.full(8, 3 / 8), "srs"), REPS)


@pytest.mark.filterwarnings("ignore::innobaro.selection.CertaintyUnitsWarning")
def test_stratified_selection_sizes_and_probabilities() -> None:
    frame = pd.DataFrame({"h": np.repeat(["a", "b", "c"], [50, 30, 5]),
                          "x": np.arange(1, 86, dtype=float)})
    before = frame.copy()
    n = {"a": 5, "b": 3, "c": 5}
    for method in ("srs", "systematic", "pps_systematic", "brewer"):
        s = select(frame, n, method=method, size="x", strata="h", seed=7)
        assert s.groupby("h").size().to_dict() == n
        pik = inclusion_probabilities(frame["x"], n, strata=frame["h"])
        if method in ("srs", "systematic"):
            pik = frame.groupby("h")["x"].transform("size").rdiv(frame["h"].map(n)).to_numpy()
        np.testing.assert_allclose(s["prob"], pik[s.index], rtol=1e-12)
    pd.testing.assert_frame_equal(frame, before)


def test_seeded_and_no_global_state() -> None:
    frame = pd.DataFrame({"x": np.arange(1, 101, dtype=float)})
    a = select(frame, 10, method="brewer", size="x", seed=11)
    np.random.seed(0)  # noqa: NPY002 - the global state must stay untouched
    state = np.random.get_state()[1].copy()  # noqa: NPY002
    b = select(frame, 10, method="brewer", size="x", seed=np.random.default_rng(11))
    assert a.index.tolist() == b.index.tolist()
    assert np.array_equal(np.random.get_state()[1], state)  # noqa: NPY002


def test_certainty_units_are_taken_and_said() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 5.0, 60.0, 7.0, 8.0, 40.0, 2.0]})
    with pytest.warns(CertaintyUnitsWarning, match="2 unit"):
        s = select(frame, 4, method="pps_systematic", size="x", seed=1)
    assert {5, 8} <= set(s.index) and s.loc[[5, 8], "certainty"].all()
    assert np.all(s.loc[[5, 8], "prob"] == 1)


def test_two_stage_sample_feeds_a_design() -> None:
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"h": np.repeat(["n", "s"], 500),
                          "psu": np.repeat(np.arange(40), 25),
                          "y": rng.normal(size=1000)})
    s = select_two_stage(frame, "psu", 4, 5, strata="h", seed=9)
    assert len(s) == 40 and s.groupby("h")["psu"].nunique().tolist() == [4, 4]
    np.testing.assert_allclose(s["prob"], 4 / 20 * 5 / 25)
    d = ib.Design(s, probs="prob", strata="h", psu="psu")
    assert abs(float(ib.total(d, "y").estimate.iloc[0]) - float(s["y"].sum() * 25)) < 1e-9


def test_speed_of_the_sequential_methods() -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x": rng.lognormal(size=10 ** 6), "h": rng.integers(0, 20, 10 ** 6)})
    for method in ("srs", "systematic", "pps_systematic", "poisson"):
        t = time.perf_counter()
        select(frame, 500, method=method, size="x", strata="h", seed=1)
        # about 0.1 s on one core; 1 s leaves room for a shared CI machine
        assert time.perf_counter() - t < 1.0, method


@pytest.mark.parametrize("kw", [
    {"n": 3, "method": "cluster"},
    {"n": 3, "method": "brewer"},
    {"n": 30, "method": "srs"},
    {"n": 2.5, "method": "srs"},
    {"n": {"a": 1}, "method": "srs", "strata": "h"},
    {"n": 1, "method": "sampford", "size": "x", "strata": "h"},
])
def test_bad_input_is_a_named_error(kw: dict) -> None:
    frame = pd.DataFrame({"h": ["a"] * 5 + ["b"] * 5, "x": np.arange(1.0, 11.0)})
    with pytest.raises(InnobaroError):
        select(frame, **kw)
    with pytest.raises(InnobaroError, match="prob"):
        select(frame.assign(prob=1), 2)
    with pytest.raises(InnobaroError):
        joint_inclusion_probabilities([0.5, 0.5], "brewer")
