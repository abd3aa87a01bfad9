"""Rows per second of the DuckDB and Dask engines beside issue 18's floors.

Not part of the test run. Usage::

    python benchmarks/bench_engines.py [--rows 3000000] [--files N] [--no-dask]
    python benchmarks/bench_engines.py --rows 50000000      # the issue's scale

The benchmark writes seeded data as Parquet files into a temporary directory
(in chunks of a million rows, so generating them needs little memory) and
deletes them at the end: ``rows`` rows, 50 strata, 2,000 PSUs, a 20-level
domain, weights, two numeric variables and a 0/1 variable. It then times, each
as the minimum of ``--repeat`` runs:

- ``Design.from_parquet`` (the structure pass: one ``GROUP BY`` stratum, PSU)
  and, on it, ``mean`` of one variable and ``mean(..., by=domain)``, each one
  pass of grouped sums in DuckDB;
- the same on ``Design.from_dask`` over ``dask.dataframe.read_parquet`` of the
  files, on a ``LocalCluster`` of two workers with one thread each (the issue's
  setup), unless ``--no-dask``;
- beside each, the bare grouped sums (``sum(w * y), sum(w)`` per PSU [x domain]
  in SQL; one ``bincount`` pair per partition on Dask), the floor measured now,
  on the same loaded machine, with the ratio;
- with ``--rows`` at most 10 million, ``ib.mean`` on the in-memory pandas
  design of the same rows (its design built outside the timing), for scale.

With ``--logit`` it also fits a 6-column logit
(``b ~ y + x + w + I((y - 50) * (x - 2)) + I((x - 2) * (w - 50))``) on each
engine by ``.logit`` (IRLS as map-reduce: a pass for the warm start's sample,
read from four partitions on Dask, one per iteration, and a final one at the
last step for the influence totals) and prints the full fit's rows per second
beside the target (3 M rows/s on DuckDB, 1.5 M on Dask), the rows per second
of each pass beside the issue's floor for one IRLS iteration (33 M rows/s on
DuckDB, 9.5 M on Dask), the CPU seconds the fit took (this process's on
DuckDB; on Dask the workers' and this process's: steadier than the wall time
on a loaded machine), on
DuckDB one iteration in plain SQL (the floor measured now) with the ratio,
and ``ib.logit`` in memory for scale (at most 10 million rows), with the
largest difference of coefficients (in standard errors) and of standard
errors (relative).

It prints rows per second beside the issue's targets (means and domain means
at least 40 M rows/s on DuckDB and 8 M rows/s on Dask) and measured floors
(per-PSU grouped sums 88 M rows/s in DuckDB and 18.6 M rows/s on Dask; per
PSU x domain 95 and 17.5), the peak resident memory of this process after
the DuckDB runs and of each Dask worker (targets: under 1 GB), the machine's
load average, and checks that every engine gives the in-memory numbers (or
each other's, above 10 million rows) to 1e-10.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import innobaro as ib

CHUNK = 1_000_000
TARGET = {"duckdb": 40e6, "dask": 8e6}
FLOOR = {("duckdb", "mean"): 88e6, ("duckdb", "domain mean"): 95e6,
         ("dask", "mean"): 18.6e6, ("dask", "domain mean"): 17.5e6}


def write_data(folder: Path, rows: int, files: int, seed: int = 20261204) -> None:
    """Seeded rows in ``files`` Parquet files, written a chunk at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    per_file = -(-rows // files)
    done = 0
    for f in range(files):
        n_file = min(per_file, rows - done)
        if n_file <= 0:
            break
        with pq.ParquetWriter(folder / f"part-{f:03d}.parquet",
                              pa.schema([("stratum", pa.int32()), ("psu", pa.int32()),
                                         ("domain", pa.int32()), ("w", pa.float64()),
                                         ("y", pa.float64()), ("x", pa.float64()),
                                         ("b", pa.float64())])) as writer:
            for a in range(0, n_file, CHUNK):  # chunks of rows, to bound memory
                m = min(CHUNK, n_file - a)
                psu = rng.integers(0, 2000, m, dtype=np.int32)
                y = rng.normal(50, 10, m) + psu % 7
                writer.write_table(pa.table({
                    "stratum": psu // 40, "psu": psu,
                    "domain": rng.integers(0, 20, m, dtype=np.int32),
                    "w": rng.uniform(1, 100, m), "y": y, "x": rng.uniform(1, 3, m),
                    "b": (y + rng.normal(0, 10, m) > 53).astype(float)}))
        done += n_file


def best(fn: Any, repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def report(engine: str, what: str, rows: int, seconds: float) -> None:
    rate = rows / seconds
    floor = FLOOR.get((engine, what))
    target = TARGET.get(engine) if what != "design" else None
    extra = ""
    if target is not None:
        extra += f"  target >= {target / 1e6:.0f} M ({'ok' if rate >= target else 'BELOW'})"
    if floor is not None:
        extra += f"  issue's floor {floor / 1e6:.1f} M"
    print(f"{engine:7s} {what:12s} {seconds * 1e3:9.1f} ms  {rate / 1e6:8.1f} M rows/s{extra}")


def bare_partition(part: pd.DataFrame, domains: bool) -> np.ndarray:
    """The bare grouped sums of one partition: w*y and w per PSU (x domain)."""
    key = part["psu"].to_numpy(np.int64)
    size = 2000
    if domains:
        key = key * 20 + part["domain"].to_numpy(np.int64)
        size *= 20
    w = part["w"].to_numpy()
    return np.stack([np.bincount(key, weights=w * part["y"].to_numpy(), minlength=size),
                     np.bincount(key, weights=w, minlength=size)])


def bare(engine: str, source: Any, domains: bool) -> Any:
    """The floor measured now: the grouped sums alone, with nothing around them."""
    if engine == "duckdb":
        keys = "stratum, psu, domain" if domains else "stratum, psu"
        return source.query("t", f"SELECT {keys}, sum(w * y), sum(w) FROM t "
                                 f"GROUP BY ALL").fetchnumpy()
    import dask

    parts = [dask.delayed(bare_partition)(p, domains) for p in source.to_delayed()]
    return sum(dask.compute(*parts))


def estimates(design: Any, engine: str, rows: int, repeat: int,
              source: Any = None) -> dict[str, ib.Estimate]:
    out = {}
    for what, by in (("mean", None), ("domain mean", "domain")):
        t, out[what] = best(lambda: design.mean("y", by=by), repeat)  # noqa: B023
        report(engine, what, rows, t)
        if source is not None:
            t_bare, _ = best(lambda: bare(engine, source, by is not None), repeat)  # noqa: B023
            print(f"{'':7s} {'  bare sums':12s} {t_bare * 1e3:9.1f} ms  "
                  f"{rows / t_bare / 1e6:8.1f} M rows/s  (the floor measured now; "
                  f"ratio {t / t_bare:.2f})")
    return out


LOGIT = "b ~ y + x + w + I((y - 50) * (x - 2)) + I((x - 2) * (w - 50))"
LOGIT_TARGET = {"duckdb": 3e6, "dask": 1.5e6}
LOGIT_FLOOR = {"duckdb": 33e6, "dask": 9.5e6}


def bare_iteration(source: Any, beta: np.ndarray) -> Any:
    """The floor measured now on DuckDB: one IRLS iteration of the logit in plain SQL
    (its 21 + 6 sums over the rows, ungrouped), nothing around it."""
    xs = ["1.0", "y", "x", "w", "(y - 50) * (x - 2)", "(x - 2) * (w - 50)"]
    eta = " + ".join(f"{float(b)!r} * ({x})" for b, x in zip(beta, xs, strict=True))
    sums = [f"sum(ww * ({a}) * ({b}))" for i, a in enumerate(xs) for b in xs[i:]]
    sums += [f"sum(({a}) * (ww * eta + w * (b - mu)))" for a in xs]
    return source.query("t", f"WITH e AS (SELECT *, {eta} AS eta FROM t), "
                             f"m AS (SELECT *, 1.0 / (1.0 + exp(-eta)) AS mu FROM e), "
                             f"v AS (SELECT *, w * mu * (1.0 - mu) AS ww FROM m) "
                             f"SELECT {', '.join(sums)} FROM v").fetchall()


def cpu_seconds() -> float:
    """CPU seconds of this process (with DuckDB's threads)."""
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def logit(design: Any, engine: str, rows: int, repeat: int, source: Any = None,
          client: Any = None) -> Any:
    """A full 6-column logit on an engine design, beside the targets and floors."""
    def used() -> float:  # this process's CPU seconds, and the Dask workers'
        return cpu_seconds() + (sum(client.run(cpu_seconds).values()) if client else 0.0)

    t = cpu = np.inf
    fit = None
    for _ in range(repeat):
        c0 = used()
        t0 = time.perf_counter()
        fit = design.logit(LOGIT)
        t = min(t, time.perf_counter() - t0)
        cpu = min(cpu, used() - c0)
    rate = rows / t
    passes = fit.passes  # the sample, one per iteration, the final sums
    print(f"{engine:7s} {'logit':12s} {t * 1e3:9.1f} ms  {rate / 1e6:8.1f} M rows/s  target "
          f">= {LOGIT_TARGET[engine] / 1e6:.1f} M "
          f"({'ok' if rate >= LOGIT_TARGET[engine] else 'BELOW'}); {passes} passes, "
          f"{rows * passes / t / 1e6:.1f} M rows/s each (issue's floor for one IRLS "
          f"iteration {LOGIT_FLOOR[engine] / 1e6:.1f} M); {cpu:.2f} CPU s")
    if source is not None:
        t_bare, _ = best(lambda: bare_iteration(source, fit.params.to_numpy()), repeat)
        print(f"{'':7s} {'  bare iter.':12s} {t_bare * 1e3:9.1f} ms  "
              f"{rows / t_bare / 1e6:8.1f} M rows/s  (one IRLS iteration in plain SQL, the "
              f"floor measured now; a pass of the fit takes {t / passes / t_bare:.2f} times it)")
    return fit


def same_fit(a: Any, b: Any, names: str) -> None:
    """Coefficients' differences in standard errors (a coefficient near zero has no
    meaningful relative difference), and the SEs' relative differences."""
    se = b.bse.to_numpy()
    worst = max(float(np.max(np.abs(a.params.to_numpy() - b.params.to_numpy()) / se)),
                float(np.max(np.abs(a.bse.to_numpy() / se - 1))))
    print(f"{names}: logit's largest difference of coefficients (in SEs) and relative "
          f"difference of SEs {worst:.1e} ({'ok' if worst <= 1e-10 else 'ABOVE 1e-10'})")


def same(a: dict[str, ib.Estimate], b: dict[str, ib.Estimate], names: str) -> None:
    worst = 0.0
    for k in a:
        for attr in ("estimate", "se"):
            x = getattr(a[k], attr).to_numpy()
            y = getattr(b[k], attr).to_numpy()
            worst = max(worst, float(np.max(np.abs(x - y) / np.abs(y))))
    print(f"{names}: largest relative difference of estimates and SEs {worst:.1e} "
          f"({'ok' if worst <= 1e-10 else 'ABOVE 1e-10'})")


def peak_rss_gb() -> float:
    """Peak resident memory of this process (Linux: ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=3_000_000)
    parser.add_argument("--files", type=int, default=None,
                        help="Parquet files (Dask partitions); default one per million "
                             "rows, at least 8")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-dask", action="store_true")
    parser.add_argument("--logit", action="store_true",
                        help="also fit a 6-column logit on each engine")
    args = parser.parse_args()
    rows = args.rows
    if args.files is None:  # partitions of about a million rows bound a worker's memory
        args.files = max(8, -(-rows // 1_000_000))
    print(f"{rows:,} rows in {args.files} Parquet files, 50 strata, 2,000 PSUs, 20 domains; "
          f"load average {os.getloadavg()[0]:.2f}")
    folder = Path(tempfile.mkdtemp(prefix="innobaro-bench-engines-"))
    try:
        t0 = time.perf_counter()
        write_data(folder, rows, args.files)
        print(f"data written in {time.perf_counter() - t0:.1f} s "
              f"({sum(p.stat().st_size for p in folder.iterdir()) / 2**20:.0f} MB)")
        kw = dict(weights="w", strata="stratum", psu="psu")
        results: dict[str, dict[str, ib.Estimate]] = {}

        t, duck = best(lambda: ib.Design.from_parquet(folder, **kw), 1)
        report("duckdb", "design", rows, t)
        import duckdb

        results["duckdb"] = estimates(duck, "duckdb", rows, args.repeat,
                                      duckdb.connect().read_parquet(str(folder / "*.parquet")))
        fits: dict[str, Any] = {}
        if args.logit:
            fits["duckdb"] = logit(duck, "duckdb", rows, args.repeat,
                                   duckdb.connect().read_parquet(str(folder / "*.parquet")))
        print(f"duckdb  peak memory of this process {peak_rss_gb():.2f} GB (target < 1 GB)")

        if not args.no_dask:
            import dask.dataframe as dd
            import distributed

            with distributed.LocalCluster(n_workers=2, threads_per_worker=1,
                                          processes=True, dashboard_address=None,
                                          memory_limit="1GB") as cluster, \
                    distributed.Client(cluster) as client:
                frame = dd.read_parquet(str(folder), columns=[
                    "stratum", "psu", "domain", "w", "y", *(["x", "b"] if args.logit else [])])
                t, dask_design = best(lambda: ib.Design.from_dask(frame, **kw), 1)
                report("dask", "design", rows, t)
                results["dask"] = estimates(dask_design, "dask", rows, args.repeat, frame)
                if args.logit:
                    fits["dask"] = logit(dask_design, "dask", rows, args.repeat,
                                         client=client)
                peaks = client.run(peak_rss_gb)
                print("dask    peak memory per worker " + ", ".join(
                    f"{v:.2f} GB" for v in peaks.values()) + " (target < 1 GB)")
            same(results["dask"], results["duckdb"], "dask vs duckdb")
            if args.logit:
                same_fit(fits["dask"], fits["duckdb"], "dask vs duckdb")

        if rows <= 10_000_000:
            data = pd.read_parquet(folder)
            design = ib.Design(data, **kw)
            memory = {}
            t, memory["mean"] = best(lambda: ib.mean(design, "y"), args.repeat)
            report("memory", "mean", rows, t)
            t, memory["domain mean"] = best(lambda: ib.mean(design, "y", by="domain"),
                                            args.repeat)
            report("memory", "domain mean", rows, t)
            same(results["duckdb"], memory, "duckdb vs in memory")
            if args.logit:
                t, fit = best(lambda: ib.logit(LOGIT, design), args.repeat)
                print(f"{'memory':7s} {'logit':12s} {t * 1e3:9.1f} ms  "
                      f"{rows / t / 1e6:8.1f} M rows/s  ({fit.iterations} iterations)")
                same_fit(fits["duckdb"], fit, "duckdb vs in memory")
        print("weighting, replicate weights, quantiles and tables on the engines: "
              "benchmarks/bench_engines_weighting.py and bench_engines_more.py")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
