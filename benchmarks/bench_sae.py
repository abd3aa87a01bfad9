"""Speed of small-area estimation and of Brewer's selection. Not part of the test run.

Usage::

    python benchmarks/bench_sae.py [--areas 500] [--units 20000] [--bootstrap 200]

Fay-Herriot: ``areas`` areas with two covariates, fitted by REML, ML and FH
with their MSE (target: well under a second each). Battese-Harter-Fuller:
``units`` units in ``areas`` areas, the REML fit and a parametric bootstrap
of ``bootstrap`` samples (all refitted at once). Brewer: 300 units in each of
20 strata of a frame of 10^6 (target: a second or two).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

import innobaro as ib


def _best(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--areas", type=int, default=500)
    parser.add_argument("--units", type=int, default=20_000)
    parser.add_argument("--bootstrap", type=int, default=200)
    args = parser.parse_args()
    rng = np.random.default_rng(20261204)
    m = args.areas
    cov = pd.DataFrame({"x1": rng.normal(size=m), "x2": rng.uniform(size=m)},
                       index=[f"area{i:04d}" for i in range(m)])
    D = pd.Series(rng.uniform(0.05, 0.5, m), index=cov.index)
    y = 1 + cov["x1"] - cov["x2"] + rng.normal(0, 0.5, m) + rng.normal(0, np.sqrt(D))
    for method in ("REML", "ML", "FH"):
        t = _best(lambda method=method: ib.fay_herriot_fit(y, D, cov, method=method))
        print(f"Fay-Herriot {method:4s} {m} areas: {t * 1000:8.1f} ms")

    area = rng.integers(0, m, args.units)
    units = pd.DataFrame({"area": cov.index[area], "x1": rng.normal(size=args.units)})
    units["y"] = 1 + units["x1"] + rng.normal(0, 0.5, m)[area] + rng.normal(size=args.units)
    means = pd.DataFrame({"x1": np.zeros(m)}, index=cov.index)
    t = _best(lambda: ib.battese_harter_fuller(units, "y ~ x1", "area", means))
    print(f"Battese-Harter-Fuller fit, {args.units} units in {m} areas: {t * 1000:8.1f} ms")
    t = _best(lambda: ib.battese_harter_fuller(units, "y ~ x1", "area", means,
                                               bootstrap=args.bootstrap, seed=1), repeats=1)
    print(f"  with a bootstrap of {args.bootstrap}: {t:8.2f} s")

    frame = pd.DataFrame({"x": rng.lognormal(size=10 ** 6), "h": rng.integers(0, 20, 10 ** 6)})
    t = _best(lambda: ib.select(frame, 300, method="brewer", size="x", strata="h", seed=1))
    print(f"Brewer, 20 x 300 units from 10^6: {t:8.2f} s")


if __name__ == "__main__":
    main()
