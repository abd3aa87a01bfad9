"""Speed of post-stratification, raking and calibration. Not part of the test run.

Usage::

    python benchmarks/bench_weighting.py [--rows 1000000]

Each timing is printed beside its floor (the same numbers computed by bare
numpy) or its target, with the load average of the machine (timings on a
machine busy with other work are not comparable). Post-stratification and a
mean with its standard error: ``rows`` rows, 50 strata, 2,000 PSUs, 20
cells, against a numpy floor that computes the same estimate and standard
error (target: within 3x). Raking: three margins with 10, 20 and 50 levels;
the time per pass against one ``np.bincount`` pass per margin (target: within
10x), and the number of passes. Calibration: linear calibration to 30
auxiliary totals (target: under a second), against a numpy floor that solves
the same GREG system from the prebuilt matrix; 30 columns given by a
formula (a 10-level factor and 20 numeric columns: patsy builds the matrix);
the same with a heteroscedastic ``variance=`` column (target: under a
second); and
calibration to 5 totals with ``variance=`` and per-unit bounds on the
g-weights that bind, which iterates (R's ``grake``; target: under 2 seconds).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

import innobaro as ib


def best(f: Callable[[], Any], repeat: int = 3) -> float:
    """The shortest of ``repeat`` timings of ``f()``, in seconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return min(times)


def poststratify_mean(n: int, rng: np.random.Generator) -> None:
    """Post-stratification to 20 cells and a mean, against a numpy floor."""
    strata = rng.integers(0, 50, n)
    df = pd.DataFrame({"st": strata, "psu": strata * 40 + rng.integers(0, 40, n),
                       "w": rng.uniform(1, 100, n), "cell": rng.integers(0, 20, n),
                       "y": rng.normal(size=n)})
    d = ib.Design(df, weights="w", psu="psu", strata="st", nest=True)
    pop = {c: float(df["w"].sum() * 1.1 / 20) for c in range(20)}
    cell, w, y = (df[c].to_numpy() for c in ("cell", "w", "y"))
    psu = df["psu"].to_numpy()
    popv = np.array([pop[c] for c in range(20)])
    psu_stratum = np.arange(2000) // 40

    def floor() -> tuple[float, float]:
        # the same estimate and standard error (R's postStratify + svymean):
        # cell totals, new weights, the mean, the cell-centred influence
        # values, PSU totals and the between-PSU variance within strata
        S = np.bincount(cell, w, 20)
        w1 = w * (popv / S)[cell]
        total = w1.sum()
        m = w1 @ y / total
        e = y - m
        z = w1 * (e - (np.bincount(cell, w * e, 20) / S)[cell]) / total
        t = np.bincount(psu, z, 2000)
        nh = np.bincount(psu_stratum, minlength=50)
        s1 = np.bincount(psu_stratum, t, 50)
        s2 = np.bincount(psu_stratum, t * t, 50)
        return m, float(np.sqrt((nh / (nh - 1) * (s2 - s1 * s1 / nh)).sum()))

    def both() -> Any:
        return ib.mean(d.poststratify("cell", pop), "y")

    m0, se0 = floor()
    r = both()
    assert abs(r.se.iloc[0] - se0) < 1e-10 * se0 and abs(r.estimate.iloc[0] - m0) < 1e-10
    t_floor, t_ib = best(floor, 5), best(both, 5)
    print(f"poststratify + mean (50 strata, 2,000 PSUs, 20 cells): {1e3 * t_ib:7.1f} ms; "
          f"numpy floor {1e3 * t_floor:7.1f} ms ({t_ib / t_floor:.1f}x the floor; target 3x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    rng = np.random.default_rng(20261128)
    n = args.rows
    print(f"rows: {n:,}; load average {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    poststratify_mean(n, np.random.default_rng(20261204))
    df = pd.DataFrame({"psu": rng.integers(0, 2000, n), "w": rng.uniform(1, 100, n),
                       "a": rng.integers(0, 10, n), "b": rng.integers(0, 20, n),
                       "c": rng.integers(0, 50, n)})
    d = ib.Design(df, weights="w", psu="psu")
    N = df["w"].sum() * 1.1
    margins = {}
    for col in "abc":
        share = rng.dirichlet(np.ones(df[col].nunique()) * 20)
        margins[col] = dict(zip(sorted(df[col].unique()), N * share, strict=True))

    codes = df["a"].to_numpy()
    w = df["w"].to_numpy()
    t0 = time.perf_counter()
    for _ in range(10):
        np.bincount(codes, weights=w, minlength=10)
    t_bare = (time.perf_counter() - t0) / 10

    d.rake(margins, max_iter=100, tol=1e-7)  # warm-up: labels factorised once per design
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        r = d.rake(margins, max_iter=100, tol=1e-7)
        times.append(time.perf_counter() - t0)
    t_rake = min(times)
    step = r.weights_summary().table.index[-1]  # e.g. "1: rake (3 passes)"
    count = int(step.split("(")[1].split()[0])
    per_pass = t_rake / count
    print("raking to margins with 10, 20 and 50 levels")
    print(f"one bincount pass: {1e3 * t_bare:7.2f} ms; three per raking pass: "
          f"{3e3 * t_bare:7.2f} ms")
    print(f"rake: {t_rake:.3f} s in {count} passes = {1e3 * per_pass:7.2f} ms per pass "
          f"({per_pass / (3 * t_bare):.1f}x the bare passes; target 10x; setup and the "
          f"variance bases included)")

    X = rng.normal(size=(n, 29))
    for j in range(29):
        df[f"x{j}"] = X[:, j]
    d = ib.Design(df, weights="w", psu="psu")
    totals = {"Intercept": N}
    totals.update({f"x{j}": float(N * 0.01 * (j - 14)) for j in range(29)})
    Xfull = np.column_stack([np.ones(n), X])
    target = np.array(list(totals.values()))

    def greg(v: np.ndarray | None = None) -> np.ndarray:
        # the floor: the GREG g-weights from the prebuilt (n, 30) matrix, one
        # BLAS product for X'WX
        wv = w if v is None else w / v
        root = np.sqrt(wv)
        Xs = Xfull * root[:, None]
        lam = np.linalg.solve(Xs.T @ Xs, target - Xfull.T @ w)
        return 1 + (Xfull @ lam) / (1.0 if v is None else v)

    g = d.calibrate(totals).weight_values / w  # warm-up, and the floor's answer
    assert np.allclose(g, greg(), rtol=1e-8, atol=1e-12)
    t_cal = best(lambda: d.calibrate(totals))
    t_floor = best(greg)
    print(f"linear calibration to 30 totals: {t_cal:.3f} s (target < 1 s); numpy floor "
          f"{t_floor:.3f} s")

    formula = "~ C(a) + " + " + ".join(f"x{j}" for j in range(20))
    by_formula = {"Intercept": N, **{f"C(a)[T.{k}]": N / 10 for k in range(1, 10)},
                  **{f"x{j}": totals[f"x{j}"] for j in range(20)}}
    t_form = best(lambda: d.calibrate(by_formula, formula=formula))
    print(f"  the same 30 columns from a formula ({formula[:22]}...): {t_form:.3f} s "
          f"(patsy builds the model matrix on every call)")

    df["v"] = rng.uniform(0.5, 2.0, n)
    d = ib.Design(df, weights="w", psu="psu")
    v = df["v"].to_numpy()
    t_var = best(lambda: d.calibrate(totals, variance="v"))
    t_floor = best(lambda: greg(v))
    print(f"  with variance= (heteroscedastic): {t_var:.3f} s (target < 1 s); numpy floor "
          f"{t_floor:.3f} s")
    lower = np.where(df["a"].to_numpy() < 5, 0.8, 0.5)
    few = {"Intercept": N, **{f"x{j}": float(N * 0.02 * (j + 1)) for j in range(4)}}
    d.calibrate(few, variance="v", bounds=(lower, 2.0))  # warm-up
    t_bnd = best(lambda: d.calibrate(few, variance="v", bounds=(lower, 2.0)))
    b = d.calibrate(few, variance="v", bounds=(lower, 2.0))
    g = b.weight_values / d.weight_values
    print(f"calibration to 5 totals with variance= and per-unit bounds: {t_bnd:.3f} s "
          f"(target < 2 s); g-weights in [{g.min():.3f}, {g.max():.3f}]")


if __name__ == "__main__":
    main()
