"""The rank of the replicate weights (R's ``degf``) computed in chunks of
rows, with hashed-and-confirmed removal of identical columns and blocked
Schur complements, equals the direct computation it replaced (reproduced
below: ``np.unique`` of the columns, the Gram matrix of the whole domain and
the column-by-column rank) on random designs, methods and domains, and on
matrices built to sit near R's cut. R's own numbers are checked in
tests/test_reference_replicates.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import innobaro as ib
from innobaro._linalg import aliased_columns, column_qr
from innobaro.variance import replicates
from innobaro.variance.replicates import replicate_rank_df


def _direct_rank_df(weights: np.ndarray) -> float:
    """The computation before chunks, hashes and blocks."""
    if weights.shape[0] == 0:
        return float("nan")
    _, first = np.unique(weights.T, axis=0, return_index=True)
    cols = weights[:, np.sort(first)]
    gram = cols.T @ cols
    norms = np.sqrt(np.diag(gram))
    if not (norms > 0).any():
        return -1.0
    scale = np.where(norms > 0, norms, 1.0)
    S = gram / np.outer(scale, scale)
    m, rank, close, cut = S.shape[0], 0, False, 1e-10
    for j in range(m):  # column by column
        d = S[j, j]
        if cut / 1000 < d < cut * 1000 and d != 0:
            close = True
        if not d >= cut:
            continue
        rank += 1
        if j + 1 < m:
            col = S[j + 1:, j]
            S[j + 1:, j + 1:] -= np.outer(col, col / d)
    if close:
        rank = int((~aliased_columns(column_qr(cols / scale), 1e-5)).sum())
    return float(rank - 1)


def _design(seed: int, n_strata: int, psus: int, rows: int) -> ib.Design:
    rng = np.random.default_rng(seed)
    n = n_strata * psus * rows
    df = pd.DataFrame({"stratum": np.repeat(np.arange(n_strata), psus * rows),
                       "psu": np.repeat(np.arange(n_strata * psus), rows),
                       "w": rng.uniform(1, 5, n), "dom": rng.integers(0, 4, n),
                       "big": rng.random(n) < 0.8})
    return ib.Design(df, weights="w", strata="stratum", psu="psu")


CASES = [("jkn", {}), ("jk1", {}), ("bootstrap", {"replicates": 70, "seed": 1}),
         ("subbootstrap", {"replicates": 40, "seed": 2}), ("brr", {}),
         ("fay", {"rho": 0.3}), ("mrbbootstrap", {"replicates": 30, "seed": 4})]


@pytest.mark.parametrize(("method", "kwargs"), CASES)
def test_equal_to_the_direct_rank_on_random_designs_and_domains(method: str,
                                                               kwargs: dict) -> None:
    for seed in range(3):  # a few random designs
        psus = 2 if method in ("brr", "fay") else 3 + seed
        n_strata = 1 if method == "jk1" else 30 + 20 * seed
        d = _design(seed, n_strata, psus, 4)
        if method == "jk1":
            d = ib.Design(d.data, weights="w", psu="psu")
        rep = d.replicate(method, **kwargs)
        W = rep.unmasked_replicate_weights
        df = d.data
        domains = [np.arange(len(df)), np.flatnonzero(df["dom"] == 1),
                   np.flatnonzero(df["big"]), np.flatnonzero(df["stratum"] < 3),
                   np.flatnonzero(df["psu"] == 5), np.arange(0)]
        for rows in domains:  # whole, random, large, a few strata, one PSU, empty
            expected = _direct_rank_df(W[rows])
            got = replicate_rank_df(W, rows)
            assert got == expected or (np.isnan(got) and np.isnan(expected)), \
                (method, seed, rows.size, got, expected)
            assert replicate_rank_df(W[rows]) == got or np.isnan(got)


def test_blocks_of_every_size(monkeypatch: pytest.MonkeyPatch) -> None:
    rep = _design(7, 150, 2, 3).replicate("jkn")  # 300 replicates: several blocks
    W = rep.unmasked_replicate_weights
    rows = np.flatnonzero(rep.data["dom"] < 2)
    expected = _direct_rank_df(W[rows])
    for block in (1, 3, 64, 1000):  # blocks of columns
        monkeypatch.setattr(replicates, "_RANK_BLOCK", block)
        assert replicate_rank_df(W, rows) == expected


def test_near_the_cut_and_with_identical_columns() -> None:
    rng = np.random.default_rng(11)
    base = rng.uniform(1, 2, (400, 12))
    for eps in (1e-3, 1e-5 * 1.0001, 1e-5 * 0.9999, 1e-7, 0.0):  # residuals around the cut
        extra = base[:, :3] @ rng.normal(size=3)
        extra = extra + eps * np.linalg.norm(extra) * rng.normal(size=400) / 20
        W = np.column_stack([base, extra, base[:, 4], base[:, 4], np.zeros(400)])
        for rows in (np.arange(400), np.arange(0, 400, 3)):  # all rows and some
            assert replicate_rank_df(W, rows) == _direct_rank_df(W[rows]), eps


def test_columns_equal_in_the_keys_but_not_identical_are_kept(
        monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    W = rng.uniform(1, 2, (50, 6))
    W[:, 3] = W[:, 1]
    # every column gets the same keys: only the element check tells them apart
    monkeypatch.setattr(np.random, "default_rng", lambda seed=None: _Zero())
    assert replicate_rank_df(W) == _direct_rank_df(W) == 4.0


class _Zero:
    def standard_normal(self, shape: tuple[int, int]) -> np.ndarray:
        return np.zeros(shape)
