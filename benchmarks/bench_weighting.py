"""Speed of raking and calibration. Not part of the test run.

Usage::

    python benchmarks/bench_weighting.py [--rows 1000000]

Raking: ``rows`` rows raked to three margins with 10, 20 and 50 levels; the
time per pass against one ``np.bincount`` pass per margin (target: within
10x), and the number of passes. Calibration: linear calibration to 30
auxiliary totals (target: under a second); the same with a heteroscedastic
``variance=`` column (target: under a second); and calibration to 5 totals with
``variance=`` and per-unit bounds on the g-weights that bind, which iterates
(R's ``grake``; target: under 2 seconds).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

import innobaro as ib


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    rng = np.random.default_rng(20261128)
    n = args.rows
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
    print(f"rows: {n:,}; margins with 10, 20 and 50 levels")
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
    d.calibrate(totals)  # warm-up
    t0 = time.perf_counter()
    d.calibrate(totals)
    t_cal = time.perf_counter() - t0
    print(f"linear calibration to 30 totals: {t_cal:.3f} s (target < 1 s)")

    df["v"] = rng.uniform(0.5, 2.0, n)
    d = ib.Design(df, weights="w", psu="psu")
    t0 = time.perf_counter()
    d.calibrate(totals, variance="v")
    t_var = time.perf_counter() - t0
    print(f"  with variance= (heteroscedastic): {t_var:.3f} s (target < 1 s)")
    lower = np.where(df["a"].to_numpy() < 5, 0.8, 0.5)
    few = {"Intercept": N, **{f"x{j}": float(N * 0.02 * (j + 1)) for j in range(4)}}
    d.calibrate(few, variance="v", bounds=(lower, 2.0))  # warm-up
    t0 = time.perf_counter()
    b = d.calibrate(few, variance="v", bounds=(lower, 2.0))
    t_bnd = time.perf_counter() - t0
    g = b.weight_values / d.weight_values
    print(f"calibration to 5 totals with variance= and per-unit bounds: {t_bnd:.3f} s "
          f"(target < 2 s); g-weights in [{g.min():.3f}, {g.max():.3f}]")


if __name__ == "__main__":
    main()
