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

With ``--logit``: ``ib.logit`` with its replicate covariance (one refit
per replicate, warm-started at the full-sample fit) on the data of
``bench_models.make_data`` (a binary outcome, five covariates and a
six-level factor: 11 model columns) with ``--replicates`` bootstrap
replicates, beside a tight numpy floor (each replicate fitted by Newton's
method from the full-sample coefficients to the same tolerance: one
product for the linear predictor, the logistic function, one rank-p
update of the Gram matrix on the square-root-weighted rows and a solve
per step, every row kept), its traced peak memory over the size of the
(n, R) replicate matrix, and, with ``--svy PYTHON`` (an interpreter with
the ``svy`` package, e.g. a separate venv), svy's
``glm.fit(..., family="binomial", method="replication")`` on the same rows
and replicate weights (written to a temporary Parquet file, deleted
after; svy's reading not timed)::

    PYTHONPATH=$PWD python benchmarks/bench_replicates.py --logit \
        [--rows 1000000] [--replicates 80] [--svy /tmp/venv-svy/bin/python]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

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
    parser.add_argument("--logit", action="store_true",
                        help="time the replicate refits of a logit instead")
    parser.add_argument("--svy", metavar="PYTHON",
                        help="with --logit: an interpreter with svy installed, to time svy")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    R = args.replicates
    if args.logit:
        logit_refits(args.rows, R, args.svy, args.repeat)
        return
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


SVY = """
import json, sys, time
import polars as pl
import svy
df = pl.read_parquet({path!r})
design = svy.Design(stratum="stratum", psu="psu", wgt="w",
                    rep_wgts=svy.BootstrapWgts(prefix="rep", n_reps={reps}))
sample = svy.Sample(df, design)
times = []
for _ in range({repeat}):
    t0 = time.perf_counter()
    m = sample.glm.fit(y="y", x=["x1", "x2", "x3", "x4", "x5", svy.Cat("g")],
                       family="binomial", method="replication", tol=1e-12)
    times.append(time.perf_counter() - t0)
print(json.dumps([min(times), [c.est for c in m.fitted.coefs],
                  [c.se for c in m.fitted.coefs]]))
"""


def logit_floor(X: np.ndarray, y: np.ndarray, W: np.ndarray, beta: np.ndarray,
                tol: float = 1e-12) -> tuple[np.ndarray, int]:
    """Each replicate's logit by Newton's method from ``beta``, in plain numpy:
    (R, p) coefficients and the number of steps taken in all."""
    from scipy.special import expit

    R = W.shape[1]
    out = np.empty((R, beta.size))
    steps = 0
    for r in range(R):  # over replicates: the floor is one fit after another
        b = beta.copy()
        w = W[:, r]
        for _ in range(50):  # Newton steps
            mu = expit(X @ b)
            ww = w * mu * (1 - mu)
            Xs = X * np.sqrt(ww)[:, None]
            new = b + np.linalg.solve(Xs.T @ Xs, X.T @ (w * (y - mu)))
            steps += 1
            done = np.max(np.abs(new - b) / (1 + np.abs(new))) < tol ** 0.5 / 10
            b = new
            if done:  # a quadratic step below sqrt(tol)/10 leaves an error below tol
                break
        out[r] = b
    return out, steps


def logit_refits(rows: int, R: int, svy_python: str | None, repeat: int) -> None:
    """ib.logit with replicate refits against a numpy floor (and svy)."""
    from bench_models import FORMULA
    from bench_models import make_data as model_data

    df = model_data(rows)
    d = ib.Design(df, weights="w", strata="stratum", psu="psu")
    rd = d.replicate("bootstrap", replicates=R, seed=1)
    full = ib.logit(FORMULA, d)
    matrix_bytes = 8 * rows * R

    def fit() -> np.ndarray:
        # a new design each time: nothing cached (the (n, R) matrix, if made)
        return ib.logit(FORMULA, rd.subset(np.ones(rd.n, bool))).bse.to_numpy()

    t_full = best_of(lambda: ib.logit(FORMULA, d).bse, repeat)
    t_ib = best_of(fit, repeat)
    tracemalloc.start()
    se = fit()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    tracemalloc.start()
    _ = ib.logit(FORMULA, d).bse
    peak_full = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    X = np.ascontiguousarray(full.model_matrix, dtype=float)
    y = df["y"].to_numpy(dtype=float)
    W = np.array(rd.unmasked_replicate_weights)
    beta = full.params.to_numpy()
    t0 = time.perf_counter()
    B, steps = logit_floor(X, y, W, beta)
    t_floor = time.perf_counter() - t0
    same = np.allclose(B, ib.logit(FORMULA, rd).refit(W), rtol=1e-8, atol=1e-10)

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"rows: {rows:,}; {X.shape[1]} model columns; {R} bootstrap replicates "
          f"(the n x R matrix: {matrix_bytes / 2**20:.0f} MiB); load average {load}")
    print(f"ib.logit, full sample (linearised, best of {repeat}):     {t_full:7.2f} s")
    print(f"ib.logit with {R} replicate refits (best of {repeat}):   {t_ib:7.2f} s "
          f"({t_ib / t_floor:.2f}x floor)")
    print(f"numpy floor ({steps} Newton steps, {steps / R:.1f} per replicate): "
          f"{t_floor:7.2f} s; same coefficients (1e-8): {same}")
    print(f"traced peak memory of the replicate fit: {peak / 2**20:.0f} MiB, "
          f"{peak / matrix_bytes:.2f}x the n x R matrix; of the full-sample fit alone "
          f"{peak_full / 2**20:.0f} MiB, so the replicates add "
          f"{(peak - peak_full) / matrix_bytes:.2f}x the matrix")
    if svy_python:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "rows.parquet")
            out = df.assign(g=df["g"].astype(int))
            reps = pd.DataFrame(W, columns=[f"rep{r + 1}" for r in range(R)], index=df.index)
            pd.concat([out, reps], axis=1).to_parquet(path)
            del reps, out
            res = subprocess.run([svy_python, "-c", SVY.format(path=path, reps=R,
                                                               repeat=repeat)],
                                 capture_output=True, text=True)
        if res.returncode != 0:
            print(f"svy failed: {res.stderr.strip().splitlines()[-1:]}")
        else:
            t_svy, est_svy, se_svy = json.loads(res.stdout.strip().splitlines()[-1])
            # the coefficients in innobaro's order (svy names and orders its own)
            order = [int(np.argmin(np.abs(np.asarray(est_svy) - b))) for b in beta]
            ratio = np.asarray(se_svy, dtype=float)[order] / se
            print(f"svy glm.fit(method='replication') (best of {repeat}): {t_svy:7.2f} s "
                  f"-> innobaro {t_ib / t_svy:.2f}x svy's time; svy's SEs / innobaro's: "
                  f"{ratio.min():.4f} to {ratio.max():.4f} (its bootstrap scale is 1/R, "
                  f"R's 1/(R-1))")


if __name__ == "__main__":
    main()
