"""Replicate refits of a model run in blocks of bounded memory, with progress.

The blocks do not change the refits (any block size gives the same
coefficients to rounding, and the model's replicate covariance is the one
of R checked in tests/test_reference_replicates.py); the memory a refit
needs beyond the replicate weights is bounded by the block size; the
caller's ``progress(done, total)`` is called after each block.
"""

from __future__ import annotations

import sys
import tracemalloc

import numpy as np
import pandas as pd
import pytest

import innobaro as ib
from innobaro import irls
from innobaro.errors import EstimationError


def _frame(n: int = 600, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"stratum": np.repeat(np.arange(6), n // 6), "psu": np.arange(n) // 5,
                       "w": rng.uniform(1, 3, n), "x": rng.normal(size=n),
                       "g": rng.choice(list("abcd"), n)})
    eta = -0.3 + 0.8 * df["x"] + (df["g"] == "b") * 0.5
    df["y"] = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    df["c"] = rng.poisson(np.exp(0.5 + 0.3 * df["x"])).astype(float)
    return df


def _design(df: pd.DataFrame, replicates: int = 23) -> ib.ReplicateDesign:
    return ib.Design(df, weights="w", strata="stratum", psu="psu").replicate(
        "bootstrap", replicates=replicates, seed=3)


@pytest.mark.parametrize("family", ["binomial", "poisson"])
def test_any_block_size_gives_the_same_refits(family: str) -> None:
    d = _design(_frame())
    m = ib.glm(("y" if family == "binomial" else "c") + " ~ x + g", d, family=family)
    W = d.unmasked_replicate_weights
    whole = m.refit(W)
    for size in (1, 2, 5, 7, 23, 50):  # a few block sizes
        blocks = m._fit.refit(W, block=size)
        np.testing.assert_allclose(blocks, whole, rtol=1e-9, atol=1e-12)


def test_blocks_in_a_domain_and_with_a_lost_replicate() -> None:
    df = _frame()
    d = _design(df, 30).subset("x > -1")
    m = ib.logit("y ~ x + g", d)
    W = d.unmasked_replicate_weights
    W = W.copy()
    W[(df["g"] == "d").to_numpy(), 4] = 0.0  # replicate 4 has no row of level d
    pass_ = m.refit(W)
    assert np.isnan(pass_[4]).all() and np.isfinite(np.delete(pass_, 4, axis=0)).all()
    for size in (1, 3, 4, 8):  # the lost replicate inside and at the edge of a block
        np.testing.assert_allclose(m._fit.refit(W, block=size), pass_, rtol=1e-9,
                                   atol=1e-12)


def test_progress_is_called_after_each_block(monkeypatch: pytest.MonkeyPatch) -> None:
    d = _design(_frame(), 23)
    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(irls, "refit_rows_block", lambda R: 5)
    m = ib.logit("y ~ x + g", d, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(5, 23), (10, 23), (15, 23), (20, 23), (23, 23)]
    plain = ib.logit("y ~ x + g", d)
    np.testing.assert_allclose(m.bse, plain.bse, rtol=1e-10)
    calls.clear()
    m.refit(d.unmasked_replicate_weights, progress=lambda done, total: calls.append(
        (done, total)))
    assert calls[-1] == (23, 23) and len(calls) == 5


def test_progress_tqdm_without_tqdm_is_a_named_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    d = _design(_frame(), 5)
    with pytest.raises(EstimationError, match="tqdm"):
        ib.logit("y ~ x + g", d, progress="tqdm")


def test_progress_tqdm_moves_a_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    updates: list[int] = []

    class Bar:
        def __init__(self, total: int, **kwargs: object) -> None:
            self.total = total

        def update(self, k: int) -> None:
            updates.append(k)

        def close(self) -> None:
            updates.append(-1)

    fake = types.ModuleType("tqdm.auto")
    fake.tqdm = Bar  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tqdm", types.ModuleType("tqdm"))
    monkeypatch.setitem(sys.modules, "tqdm.auto", fake)
    monkeypatch.setattr(irls, "refit_rows_block", lambda R: 4)
    ib.logit("y ~ x + g", _design(_frame(), 10), progress="tqdm")
    assert updates == [4, 4, 2, -1]


@pytest.mark.parametrize("bad", ["bar", 3])
def test_a_bad_progress_is_a_named_error(bad: object) -> None:
    with pytest.raises(EstimationError, match="progress"):
        ib.logit("y ~ x + g", _design(_frame(), 5), progress=bad)


def test_the_block_size_follows_the_memory_budget() -> None:
    per_replicate = 8 * 12 * 1_000_000  # bytes of working arrays per replicate at 1e6 rows
    assert irls.refit_block(1_000_000, 80, 640_000_000) == 640_000_000 // per_replicate == 6
    assert irls.refit_block(1_000, 80) == 80  # small data: every replicate at once
    assert irls.refit_block(10**9, 80) == 1
    assert irls.refit_block(0, 0) == 1
    # the row path's memory does not depend on the block: equal blocks of at most 40
    assert irls.REFIT_ROWS_BLOCK == 40
    assert [irls.refit_rows_block(R) for R in (0, 1, 23, 40, 41, 80, 100, 1786)] == \
        [1, 1, 23, 40, 21, 40, 34, 40]


def _peak(fn) -> tuple[np.ndarray, int]:
    tracemalloc.start()
    try:
        out = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return out, peak


def test_peak_memory_of_the_refits_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    df = pd.concat([_frame(3000, seed=s) for s in range(4)], ignore_index=True)
    df["psu"] = np.arange(len(df)) // 5
    df["stratum"] = df["psu"] // 100
    d = _design(df, 200)  # weights of 19 MB
    W = d.unmasked_replicate_weights
    # a family whose steps are checked (step-halving): (n, block) working
    # arrays, in blocks of the memory budget
    m = ib.glm("c ~ x + g", d, family="poisson", link="sqrt")
    monkeypatch.setattr(irls, "REFIT_MEMORY", 0)  # the budget: the weights' size
    assert irls.refit_block(len(df), 200, W.nbytes) == W.nbytes // (8 * 12 * len(df))
    blocked, peak = _peak(lambda: m.refit(W))
    whole, peak_whole = _peak(lambda: m._fit.refit(W, block=200))
    assert peak < 1.5 * W.nbytes < peak_whole, (peak, W.nbytes, peak_whole)
    np.testing.assert_allclose(blocked, whole, rtol=1e-9, atol=1e-12)
    # the row path (logit): blocks of rows, a few MB whatever the block of replicates
    m = ib.logit("y ~ x + g", d)
    rows, peak_rows = _peak(lambda: m._fit.refit(W, block=200))
    assert peak_rows < 0.25 * W.nbytes, (peak_rows, W.nbytes)
    blocked = m._fit.refit(W, block=7)
    np.testing.assert_allclose(rows, blocked, rtol=1e-9, atol=1e-12)
