"""Small-area estimation (innobaro.sae) and the fast Brewer selection.

Reference numbers: ``reference/sae.json`` from ``reference/make_sae.R``
(metafor's ``rma`` and ``blup`` for the Fay-Herriot fit, lme4's ``lmer`` for
the Battese-Harter-Fuller fit, the MSE formulas of Rao and Molina (2015,
ch. 6) evaluated in R), and the published values of samplics' tests on the
milk data of Arora and Lahiri (1997).
"""

from __future__ import annotations

import itertools
import time

import numpy as np
import pandas as pd

from innobaro.selection import inclusion_probabilities, select

# ---------------------------------------------------------------------------
# Brewer's method: exact probabilities by enumeration, speed
# ---------------------------------------------------------------------------

def _brewer_exact(pik: np.ndarray) -> np.ndarray:
    """First- and second-order inclusion probabilities of Brewer's method by
    enumerating every ordered sequence of draws (Tille 2006, algorithm 7.4)."""
    N, n = pik.size, round(float(pik.sum()))
    pi2 = np.zeros((N, N))
    for seq in itertools.permutations(range(N), n):  # a test: the few sequences
        prob, chosen = 1.0, []
        for i, k in enumerate(seq, start=1):
            a = pik[chosen].sum()
            rest = [j for j in range(N) if j not in chosen]
            w = np.array([pik[j] * (n - a - pik[j]) / (n - a - pik[j] * (n - i + 1))
                          for j in rest])
            prob *= w[rest.index(k)] / w.sum()
            chosen.append(k)
        pi2[np.ix_(chosen, chosen)] += prob
    return pi2


def test_brewer_exact_probabilities_by_enumeration() -> None:
    size = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    pik = inclusion_probabilities(size, 3)
    exact = _brewer_exact(pik)
    np.testing.assert_allclose(np.diag(exact), pik, rtol=1e-12)  # Brewer's property
    frame = pd.DataFrame({"id": np.arange(6), "x": size})
    rng = np.random.default_rng(2024)
    reps = 6000
    hits = np.zeros((6, 6))
    for _ in range(reps):  # a simulation: one sample per pass
        s = np.zeros(6)
        s[select(frame, 3, method="brewer", size="x", seed=rng)["id"].to_numpy()] = 1
        hits += np.outer(s, s)
    freq = hits / reps
    se = np.sqrt(exact * (1 - exact) / reps)
    assert np.all(np.abs(freq - exact) <= 4.5 * se + 1e-12)


def test_brewer_is_fast_on_a_million_units() -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x": rng.lognormal(size=10 ** 6), "h": rng.integers(0, 20, 10 ** 6)})
    t = time.perf_counter()
    s = select(frame, 300, method="brewer", size="x", strata="h", seed=1)
    elapsed = time.perf_counter() - t
    assert len(s) == 20 * 300 and s.groupby("h").size().eq(300).all()
    # about 0.3 s on one core (about 7 s with one pass over the frame per draw)
    assert elapsed < 2.5
    t = time.perf_counter()
    s = select(frame, 500, method="brewer", size="x", seed=2)
    assert len(s) == 500 and time.perf_counter() - t < 2.5
