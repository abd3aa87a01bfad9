"""Replicate designs held as PSU factors against the (n, R) matrix (issue 18).

Not part of the test run. Usage::

    PYTHONPATH=$PWD python benchmarks/bench_replicates.py [--rows 1000000] [--replicates 80]

Data of ``bench_core.make_data`` (50 strata, 2,000 PSUs, 20 domains). A
bootstrap design built by ``Design.replicate`` holds its replicates as
(PSUs, R) factors; the same design with its replicates as an (n, R) matrix
(``with_weights``, as given replicate weight columns are held) is the path
before. Printed, each the best of a few runs, both paths back to back in one
process:

- the build, in a fresh process (cold: the first ``replicate`` call after
  the imports and the design) and again (warm), with its traced peak memory;
- the first ``ib.mean(rd, "y", by="domain")`` on a new replicate design
  (the rank degrees of freedom of 20 domains are computed then) and the
  next calls;
- ``ib.mean`` with replicate standard errors;

beside the floor: one bincount pass of ``w*y`` and ``w`` by (PSU, domain)
and the (R, PSUs) x (PSUs, 2 x domains) product.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

import innobaro as ib

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_core import best_of, make_data

COLD = """
import json, sys, time, tracemalloc
t0 = time.perf_counter()
import innobaro as ib
t_import = time.perf_counter() - t0
sys.path.insert(0, {bench!r})
from bench_core import make_data
df = make_data({rows})
d = ib.Design(df, weights="w", strata="stratum", psu="psu")
tracemalloc.start()
t0 = time.perf_counter()
rd = d.replicate("bootstrap", replicates={reps}, seed=1)
t_cold = time.perf_counter() - t0
peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
t0 = time.perf_counter()
d.replicate("bootstrap", replicates={reps}, seed=1)
t_warm = time.perf_counter() - t0
t0 = time.perf_counter()
ib.mean(rd, "y", by="domain").se
t_first = time.perf_counter() - t0
print(json.dumps([t_import, t_cold, t_warm, peak, t_first]))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--replicates", type=int, default=80)
    args = parser.parse_args()
    R = args.replicates
    code = COLD.format(bench=str(Path(__file__).resolve().parent), rows=args.rows, reps=R)
    # run from the benchmarks folder, so that PYTHONPATH decides which innobaro
    cold = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True,
                                     text=True, check=True,
                                     cwd=Path(__file__).resolve().parent).stdout)
    t_import, t_cold, t_warm, peak, t_first_fresh = cold

    df = make_data(args.rows)
    d = ib.Design(df, weights="w", strata="stratum", psu="psu")
    ib.mean(d, "y", by="domain")  # the domain codes, shared by derived designs
    rd = d.replicate("bootstrap", replicates=R, seed=1)
    held = getattr(rd, "replicate_factors", None)
    # the path before: the same replicates held as an (n, R) matrix
    W = np.array(rd.unmasked_replicate_weights)
    matrix = rd.with_weights(rd.unmasked_weights, W)

    w = df["w"].to_numpy()
    y = df["y"].to_numpy()
    psu = d.stages[0].unit
    dom = d.level_codes(["domain"])[0]
    F = np.ascontiguousarray(held.factors) if held is not None else None
    U = int(psu.max()) + 1

    def floor() -> np.ndarray:
        key = dom * U + psu
        S = np.empty((U, 40))
        S[:, :20] = np.bincount(key, weights=w * y, minlength=20 * U).reshape(20, U).T
        S[:, 20:] = np.bincount(key, weights=w, minlength=20 * U).reshape(20, U).T
        assert F is not None
        return F.T @ S

    def first(design: ib.ReplicateDesign) -> float:
        new = design.subset(np.ones(design.n, bool))  # a new design: nothing cached
        t0 = time.perf_counter()
        ib.mean(new, "y", by="domain")
        return time.perf_counter() - t0

    rows = []
    for name, design in (("factors", rd), ("n x R matrix", matrix)):
        t_first = min(first(design) for _ in range(2))
        t_by = best_of(lambda design=design: ib.mean(design, "y", by="domain").se, 3)
        t_mean = best_of(lambda design=design: ib.mean(design, "y").se, 3)
        rows.append((name, t_first, t_by, t_mean))
    same = np.allclose(ib.mean(rd, "y", by="domain").se, ib.mean(matrix, "y", by="domain").se,
                       rtol=1e-12, atol=0)
    t_floor = best_of(floor, 5) if F is not None else float("nan")

    print(f"rows: {args.rows:,}; 50 strata, 2,000 PSUs, 20 domains; {R} bootstrap replicates "
          f"(the n x R matrix: {W.nbytes / 2**20:.0f} MiB)")
    print(f"fresh process: import innobaro {t_import:.2f} s; replicate() cold {t_cold:.3f} s, "
          f"warm {t_warm:.3f} s; traced peak of the build {peak / 2**20:.1f} MiB; first "
          f"ib.mean by domain {t_first_fresh:.3f} s")
    if held is not None:
        print(f"held factors: {held.factors.nbytes / 2**20:.2f} MiB")
    print(f"floor (bincount of w*y and w by PSU x domain + ({R}, PSUs) x (PSUs, 40) product): "
          f"{1e3 * t_floor:8.2f} ms")
    for name, t_first, t_by, t_mean in rows:
        print(f"{name:>13}: first mean by domain {1e3 * t_first:8.1f} ms, then "
              f"{1e3 * t_by:7.1f} ms ({t_by / t_floor:5.1f}x floor); mean "
              f"{1e3 * t_mean:7.1f} ms ({t_mean / t_floor:5.1f}x floor)")
    print(f"same standard errors (1e-12): {same}")
    tracemalloc.start()
    ib.mean(rd.subset(np.ones(rd.n, bool)), "y", by="domain")
    print(f"traced peak of a first mean by domain on the factors: "
          f"{tracemalloc.get_traced_memory()[1] / 2**20:.1f} MiB")
    tracemalloc.stop()


if __name__ == "__main__":
    main()
