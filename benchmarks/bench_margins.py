"""Speed of predictive margins of a survey logit against a numpy floor.

Not part of the test run. Usage::

    python benchmarks/bench_margins.py [--rows 1000000] [--repeat 5]

The data of ``bench_models.py`` (``rows`` rows, 50 strata, 2,000 PSUs, five
numeric covariates and a six-level factor ``g``), the logit
``y ~ x1 + x2 + x3 + x4 + x5 + g`` fitted once, then timed:

- ``m.margins("g")``: the six predictive margins with their design-based
  covariance (Taylor linearization, both parts of the influence values);
- ``m.margins("x1", [-1, 0, 1])``: a numeric variable set to three values;
- the floor: one numpy pass computing, for the six levels, the linear
  predictor shifted by the level's coefficient, the fitted values, their
  weighted averages, the gradient ``X'(w mu')/N`` and the influence values
  ``Z beta_influence @ gradient`` (n x p times p x k), given the fitted
  model's arrays. Target: ``margins("g")`` within 3x the floor, and faster
  than svy (0.39 s in the side-by-side run of issue 18).

Times are wall seconds, the best of ``repeat`` runs, the margins and the
floor alternating so a shared machine's load falls on both alike.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from bench_models import FORMULA, make_data  # the benchmarks folder is on the path when run

import innobaro as ib

SVY_SECONDS = 0.39  # issue 18, 1e6 rows, the same model and margins


def floor(m: ib.GLMResult, levels: int) -> np.ndarray:
    """The margins' irreducible arithmetic: fitted values for each level, their
    averages, the gradient and the influence values of the coefficients' part."""
    X, w, b = m.model_matrix, m.fit_weights, m.beta
    names = list(m.params.index)
    gcols = [names.index(f"g[T.{k}]") for k in range(1, levels)]
    shift = np.concatenate([[0.0], b[gcols]])  # level 0 is the reference
    eta = X @ b
    eta0 = eta - X[:, gcols] @ b[gcols]
    N = w.sum()
    F = np.empty((w.size, levels))
    WD = np.empty((w.size, levels))
    for k in range(levels):  # over the levels
        mu = 1 / (1 + np.exp(-(eta0 + shift[k])))
        F[:, k] = mu
        WD[:, k] = w * mu * (1 - mu)
    est = (w @ F) / N
    G = X.T @ WD / N
    Z = (G.T @ m.influence.T).T
    Z += w[:, None] * (F - est) / N
    return est


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    df = make_data(args.rows)
    d = ib.Design(df, weights="w", strata="stratum", psu="psu")
    m = ib.logit(FORMULA, d)
    first = time.perf_counter()
    mg = m.margins("g")
    first = time.perf_counter() - first
    assert np.allclose(floor(m, 6), mg.estimate.to_numpy(), rtol=1e-10, atol=0)
    t_g, t_x, t_floor = [], [], []
    for _ in range(args.repeat):  # alternate, so load falls on each alike
        t0 = time.perf_counter()
        m.margins("g")
        t_g.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        floor(m, 6)
        t_floor.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        m.margins("x1", [-1.0, 0.0, 1.0])
        t_x.append(time.perf_counter() - t0)
    g, x, fl = min(t_g), min(t_x), min(t_floor)
    print(f"{args.rows:,} rows, {FORMULA}; load average {os.getloadavg()[0]:.2f}")
    print(f"margins('g'), 6 levels        {g:7.3f} s  ({g / fl:4.1f}x the floor; target <= 3x; "
          f"svy {SVY_SECONDS} s, {g / SVY_SECONDS:.2f}x)")
    print(f"margins('x1', 3 values)      {x:7.3f} s")
    print(f"floor (numpy, 6 levels)      {fl:7.3f} s")
    print(f"first margins('g') call      {first:7.3f} s")


if __name__ == "__main__":
    main()
