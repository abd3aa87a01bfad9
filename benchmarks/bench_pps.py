"""Speed of unequal-probability (pps) designs against a bare numpy pass. Not part of the test run.

Usage::

    python benchmarks/bench_pps.py [--rows 1000000] [--check]

Seeded data: ``rows`` rows, 50 strata, 2,000 PSUs (40 per stratum) drawn with
inclusion probabilities between 0.05 and 0.6. It prints the time of ``ib.mean``
with its standard error under Brewer's approximation and under Overton's and
Hartley-Rao's (stratum sums, no n x n matrix), each against one bare numpy pass
that computes the same sums (weighted totals and PSU totals by ``np.bincount``,
then the stratum-centred, fpc-weighted sum of squares). The floor: Brewer and
Overton within 3x the bare pass (``--check`` exits with status 1 above it).
Then a design with joint probabilities (``ib.ppsmat``) for ``n = 2,000`` rows,
whose memory is stated: the n x n matrix is 8 n^2 bytes.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd

import innobaro as ib

FLOOR = 3.0  # ib.mean with its SE on a Brewer or Overton design, in bare numpy passes


def make_data(rows: int, seed: int = 20261204) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_strata, n_psu = 50, 2000
    psu = rng.integers(0, n_psu, rows)
    stratum = psu // (n_psu // n_strata)
    p_psu = rng.uniform(0.05, 0.6, n_psu)
    y = rng.normal(50, 10, rows) + psu % 7
    return pd.DataFrame({"stratum": stratum, "psu": psu, "p": p_psu[psu],
                         "w": 1.0 / p_psu[psu] * rng.uniform(5, 15, rows), "y": y})


def best_of(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bare(df: pd.DataFrame) -> float:
    """One numpy pass: the weighted mean, PSU totals of its influence values, the
    stratum-centred sum of squares with a factor per PSU."""
    psu = df["psu"].to_numpy()
    stratum = df["stratum"].to_numpy()
    w, y, p = df["w"].to_numpy(), df["y"].to_numpy(), df["p"].to_numpy()

    def run() -> float:
        mean = np.dot(w, y) / w.sum()
        z = np.bincount(psu, weights=w * (y - mean)) / w.sum()
        f = np.ones(z.size)
        f[psu] = 1 - p  # the PSU's factor
        h = np.zeros(z.size, dtype=np.int64)
        h[psu] = stratum  # the PSU's stratum
        centre = np.bincount(h, weights=z) / np.bincount(h)
        return float(np.sqrt(np.sum(f * (z - centre[h]) ** 2)))

    return best_of(run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--check", action="store_true", help="exit 1 above the floor")
    args = parser.parse_args()
    df = make_data(args.rows)
    t_bare = bare(df)
    print(f"rows: {args.rows:,}; 50 strata, 2,000 PSUs; bare numpy pass {1e3 * t_bare:.1f} ms")
    worst = 0.0
    for label, kw in [("brewer", {"pps": "brewer"}), ("overton", {"pps": "overton"}),
                      ("HR() YG", {"pps": ib.HR(), "variance": "YG"})]:
        t0 = time.perf_counter()
        d = ib.Design(df, weights="w", strata="stratum", psu="psu", fpc="p", **kw)
        t_design = time.perf_counter() - t0
        t_mean = best_of(lambda d=d: ib.mean(d, "y"))
        ratio = t_mean / t_bare
        if label != "HR() YG":
            worst = max(worst, ratio)
        print(f"{label:8s}: design {t_design:.2f} s; ib.mean with SE {1e3 * t_mean:7.1f} ms "
              f"({ratio:4.1f}x bare; floor {FLOOR:g}x)")
    n = 2000
    rng = np.random.default_rng(1)
    p = rng.uniform(0.05, 0.6, n)
    joint = np.outer(p, p) * 0.98
    np.fill_diagonal(joint, p)
    small = pd.DataFrame({"p": p, "y": rng.normal(50, 10, n)})
    t0 = time.perf_counter()
    d = ib.Design(small, fpc="p", pps=ib.ppsmat(joint), variance="YG")
    t_design = time.perf_counter() - t0
    t_mean = best_of(lambda: ib.mean(d, "y"))
    print(f"ppsmat  : n = {n:,}, matrix {8 * n * n / 1e6:.0f} MB; design {t_design:.2f} s; "
          f"ib.mean with SE {1e3 * t_mean:.1f} ms; largest n taken "
          f"{int(ib.design.MAX_JOINT_ENTRIES ** 0.5):,}")
    if args.check and worst > FLOOR:
        print(f"slower than the floor: {worst:.1f}x > {FLOOR:g}x")
        sys.exit(1)


if __name__ == "__main__":
    main()
