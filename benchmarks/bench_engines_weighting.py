"""Post-stratification, raking and calibration on the DuckDB engine, beside a plain mean.

Not part of the test run. Usage::

    PYTHONPATH=$PWD python benchmarks/bench_engines_weighting.py [--rows 3000000]

Writes the seeded Parquet files of ``bench_engines.py`` (50 strata, 2,000
PSUs, a 20-level domain; deleted at the end) and times, each as the minimum
of ``--repeat`` runs, on ``Design.from_parquet``:

- each weighting step (``poststratify`` by the domain, ``rake`` to the domain
  and stratum margins, ``calibrate`` to the population size and the total of
  ``x``): one pass of grouped sums (two for calibration, which checks the
  calibrated weights), plus the iterations over the cells;
- calibration with the other distances and bounds (``method="raking"``,
  ``"logit"`` and ``"sinh"`` with bounds (0.5, 3), the linear distance with
  bounds (0.5, 2)): one pass per Newton step besides the first and the last;
  the line gives the passes and the rows per second over all of them;
- ``mean(y, by=stratum)`` on the weighted design beside the same on the
  unweighted one (the ratio is the price of carrying the weighting into the
  variance: raking's and calibration's residuals need a wider pass, and
  calibration a second pass with the design weights);
- with ``--rows`` at most 10 million, the same weighting and mean on the
  in-memory ``ib.Design`` of the rows, checking that the numbers agree to 1e-10.

The population totals are the sample's weighted totals scaled by 1.1 (with a
tilt, so the weighting changes the weights): benchmark data, not a survey's.
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
from bench_engines import best, peak_rss_gb, write_data

import innobaro as ib


def totals(folder: Path) -> tuple[dict[int, float], dict[str, Any], dict[str, float]]:
    """Post-stratum counts, raking margins and calibration totals for the data."""
    import duckdb

    rel = duckdb.connect().read_parquet(str(folder / "*.parquet"))
    by_domain = rel.query("t", "SELECT domain, sum(w) FROM t GROUP BY ALL ORDER BY 1").fetchall()
    by_stratum = rel.query("t", "SELECT stratum, sum(w) FROM t GROUP BY ALL ORDER BY 1"
                           ).fetchall()
    ((n_hat, x_hat),) = rel.query("t", "SELECT sum(w), sum(w * x) FROM t").fetchall()
    post = {int(k): float(v) * (1.05 + 0.01 * (int(k) % 10)) for k, v in by_domain}
    scale = sum(post.values()) / n_hat
    margins = {"domain": post,
               "stratum": {int(k): float(v) * scale for k, v in by_stratum}}
    return post, margins, {"Intercept": 1.1 * n_hat, "x": 1.12 * x_hat}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=3_000_000)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = args.rows
    print(f"{rows:,} rows in {args.files} Parquet files, 50 strata, 2,000 PSUs, 20 domains; "
          f"load average {os.getloadavg()[0]:.2f}")
    folder = Path(tempfile.mkdtemp(prefix="innobaro-bench-weighting-"))
    try:
        write_data(folder, rows, args.files)
        post, margins, cal = totals(folder)
        kw = dict(weights="w", strata="stratum", psu="psu")
        d0 = ib.Design.from_parquet(folder, **kw)
        steps = {"poststratify": lambda d: d.poststratify("domain", post),
                 "rake": lambda d: d.rake(margins),
                 "calibrate": lambda d: d.calibrate(cal),
                 "cal-raking": lambda d: d.calibrate(cal, method="raking"),
                 "cal-logit": lambda d: d.calibrate(cal, method="logit", bounds=(0.5, 3)),
                 "cal-sinh": lambda d: d.calibrate(cal, method="sinh", bounds=(0.5, 3)),
                 "cal-bounded": lambda d: d.calibrate(cal, bounds=(0.5, 2))}
        t_plain, _ = best(lambda: d0.mean("y", by="stratum"), args.repeat)
        print(f"{'unweighted':13s} {'':54s} mean by stratum {t_plain * 1e3:8.1f} ms "
              f"{rows / t_plain / 1e6:7.1f} M rows/s")
        engine: dict[str, ib.Estimate] = {}
        for name, step in steps.items():
            t_w, d = best(lambda: step(d0), 1)  # noqa: B023
            t_m, engine[name] = best(lambda: d.mean("y", by="stratum"), args.repeat)  # noqa: B023
            passes = getattr(d, "passes", None)
            scan = (f"{passes:2d} passes {rows * passes / t_w / 1e6:6.1f} M rows/s"
                    if passes else " " * 27)
            print(f"{name:13s} weighting {t_w * 1e3:8.1f} ms {scan}   mean by stratum "
                  f"{t_m * 1e3:8.1f} ms {rows / t_m / 1e6:7.1f} M rows/s "
                  f"(x{t_m / t_plain:.2f} the unweighted mean)")
        print(f"peak memory of this process {peak_rss_gb():.2f} GB")
        if rows <= 10_000_000:
            data = pd.read_parquet(folder)
            m0 = ib.Design(data, **kw)
            for name, step in steps.items():
                t0 = time.perf_counter()
                est = ib.mean(step(m0), "y", by="stratum")
                t = time.perf_counter() - t0
                worst = max(float(np.max(np.abs(getattr(engine[name], a).to_numpy()
                                                - getattr(est, a).to_numpy())
                                         / np.abs(getattr(est, a).to_numpy())))
                            for a in ("estimate", "se"))
                print(f"in memory {name:13s} weighting + mean {t * 1e3:8.1f} ms; duckdb's "
                      f"estimates and SEs within {worst:.1e} ("
                      f"{'ok' if worst <= 1e-10 else 'ABOVE 1e-10'})")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
