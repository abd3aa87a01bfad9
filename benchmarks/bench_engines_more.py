"""Replicate weights, quantiles and two-way tables on the DuckDB engine, beside floors.

Not part of the test run. Usage::

    python benchmarks/bench_engines_more.py [--rows 1000000] [--replicates 40] [--repeat 3]

Writes seeded rows to one Parquet file in a temporary directory (deleted at
the end): 50 strata, 2,000 PSUs, a 20-level domain, weights, a numeric and a
0/1 variable, a 5-level and a 4-level categorical, and ``--replicates``
bootstrap-like replicate weight columns. Times, each the minimum of
``--repeat`` runs:

- a replicate-weight design's ``mean(y, by=domain)`` (the full-sample pass,
  the replicate pass; the Gram pass of the degrees of freedom is paid once
  per set of domains and cached, so it is timed on its own first);
- ``quantile(y, [0.25, 0.5, 0.75])`` on the design with PSUs (the histogram
  pass, the bracketed rows, the in-memory quantile);
- ``chisq_test`` of the two categoricals (one pass of cell x PSU sums);
- beside each, the floor: the bare ``GROUP BY`` sums it needs at the least
  (``sum(w_r), sum(w_r y)`` per domain for every replicate; ``sum(w)`` per
  domain and 2,048 bins; ``sum(w)`` per PSU x cell) in DuckDB, measured now on
  the same machine, with the ratio; and ``ib.*`` on the in-memory design of
  the same rows for scale. It checks the engine's numbers against memory
  (1e-10) and prints the load average.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import innobaro as ib


def make_rows(rows: int, replicates: int, seed: int = 20261204) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    psu = rng.integers(0, 2000, rows)
    y = rng.normal(50, 10, rows) + psu % 7
    df = pd.DataFrame({"stratum": psu // 40, "psu": psu,
                       "domain": rng.integers(0, 20, rows), "w": rng.uniform(1, 100, rows),
                       "y": np.round(y, 2),
                       "a": rng.choice(["a1", "a2", "a3", "a4", "a5"], rows),
                       "c": rng.choice(["c1", "c2", "c3", "c4"], rows)})
    # bootstrap-like replicates: a PSU-level multiplier per replicate
    mult = rng.poisson(1.0, (2000, replicates)).astype(float)
    for r in range(replicates):  # over replicate columns, to write them
        df[f"rep{r + 1}"] = df["w"].to_numpy() * mult[psu, r]
    return df


def best(fn: Any, repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def line(what: str, seconds: float, floor: float, memory: float) -> None:
    print(f"{what:28s} {seconds * 1e3:9.1f} ms   floor {floor * 1e3:8.1f} ms "
          f"({seconds / floor:5.1f}x)   in memory {memory * 1e3:9.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--replicates", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    import duckdb

    folder = Path(tempfile.mkdtemp(prefix="ib-bench-more-"))
    try:
        df = make_rows(args.rows, args.replicates)
        reps = [f"rep{r + 1}" for r in range(args.replicates)]
        df.to_parquet(folder / "rows.parquet")
        con = duckdb.connect()
        rel = con.read_parquet(str(folder / "rows.parquet"))
        print(f"{args.rows} rows, {args.replicates} replicates, load average "
              f"{os.getloadavg()[0]:.2f}")

        # replicate weights
        rd = ib.Design.from_parquet(folder, weights="w", replicate_weights=reps,
                                    method="bootstrap", connection=con)
        t0 = time.perf_counter()
        rd.mean("y", by="domain")  # pays the Gram pass of the domains once
        print(f"{'first replicate mean (Gram)':28s} {(time.perf_counter() - t0) * 1e3:9.1f} ms")
        t_e, est = best(lambda: rd.mean("y", by="domain"), args.repeat)
        sums = ", ".join(f"sum({r}), sum({r} * y)" for r in reps)
        t_f, _ = best(lambda: rel.query("t", f"SELECT domain, {sums} FROM t GROUP BY ALL")
                      .fetchall(), args.repeat)
        mem = ib.ReplicateDesign(df, weights="w", replicate_weights=reps, method="bootstrap")
        ib.mean(mem, "y", by="domain")
        t_m, ref = best(lambda: ib.mean(mem, "y", by="domain"), args.repeat)
        assert np.allclose(est.se, ref.se, rtol=1e-10, atol=0)
        line("replicate mean by domain", t_e, t_f, t_m)

        # quantiles
        d = ib.Design.from_parquet(folder, weights="w", strata="stratum", psu="psu",
                                   connection=con)
        probs = [0.25, 0.5, 0.75]
        t_e, est = best(lambda: d.quantile("y", probs), args.repeat)
        t_f, _ = best(lambda: rel.query(
            "t", "SELECT floor(y * 10) AS b, sum(w) FROM t GROUP BY ALL").fetchall(),
            args.repeat)
        memd = ib.Design(df, weights="w", strata="stratum", psu="psu")
        t_m, ref = best(lambda: ib.quantile(memd, "y", probs), args.repeat)
        assert np.allclose(est.ci(), ref.ci(), rtol=1e-10, atol=0)
        line("quantile (3 probabilities)", t_e, t_f, t_m)

        # a two-way table's test
        t_e, res = best(lambda: d.chisq_test("a", "c"), args.repeat)
        t_f, _ = best(lambda: rel.query(
            "t", "SELECT stratum, psu, a, c, sum(w) FROM t GROUP BY ALL").fetchall(),
            args.repeat)
        t_m, ref = best(lambda: ib.chisq_test(memd, "a", "c"), args.repeat)
        assert np.isclose(res.statistic, ref.statistic, rtol=1e-10, atol=0)
        line("chisq_test 5 x 4", t_e, t_f, t_m)
        print(f"load average {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
