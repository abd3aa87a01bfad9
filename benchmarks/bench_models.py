"""Speed of survey logistic regression against statsmodels (and R when present).

Not part of the test run. Needs statsmodels (``pip install -e ".[compare]"``,
or the test extra). Usage::

    python benchmarks/bench_models.py [--rows 1000000] [--no-r] [--replicate-fits 50]
                                      [--categorical-only] [--repeat 3]

Seeded data: ``rows`` rows, 50 strata, 2,000 PSUs, a binary outcome and ten
model columns (five numeric covariates and a six-level factor). Prints the
time of ``ib.logit`` with its design-based covariance, of statsmodels'
unweighted ``GLM(...).fit()`` on the same matrix, and (with R) of
``svyglm``; target: within 2x of statsmodels, at least 10x faster than R.

Then the ordinal and multinomial models (issue 16) on the same rows and
design, with 8 slopes (the five covariates and a four-level factor ``h``):
``ib.ologit`` of a six-category outcome, target within 3x of ``ib.logit``
on the same predictors and at least 10x faster than R's ``svyolr`` (timed
when R is present); ``ib.mlogit`` of a four-category outcome, target within
4x of ``ib.logit``. The times are CPU seconds of this process
(``time.process_time``, best of ``--repeat`` runs, the three models in
turn), which a shared machine disturbs less than wall time; R's svyolr time
is its ``system.time`` user + system CPU. The BLAS threads
(``OPENBLAS_NUM_THREADS``) and the load average are printed with them: a
threaded BLAS counts its threads' waiting as CPU time, so compare both
settings.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd
from bench_core import best_of, run_r  # the benchmarks folder is on the path when run

import innobaro as ib

FORMULA = "y ~ x1 + x2 + x3 + x4 + x5 + g"


def make_data(rows: int, seed: int = 20261128) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    psu = rng.integers(0, 2000, rows)
    X = rng.normal(size=(rows, 5))
    g = rng.integers(0, 6, rows)
    eta = -0.5 + X @ np.array([0.3, -0.2, 0.1, 0.05, 0.4]) + 0.1 * g
    y = (rng.random(rows) < 1 / (1 + np.exp(-eta))).astype(float)
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(1, 6)])
    # a pandas categorical: patsy codes it from its integer codes (C() on a plain
    # column makes patsy code every row in Python)
    df["g"] = pd.Categorical(g)
    df["y"] = y
    df["psu"] = psu
    df["stratum"] = psu // 40
    df["w"] = rng.uniform(1, 100, rows)
    return df


def main() -> None:
    import statsmodels.api as sm
    from patsy import dmatrices

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--no-r", action="store_true")
    parser.add_argument("--replicate-fits", type=int, default=0, metavar="R",
                        help="also time the fit on a bootstrap design with R replicates "
                             "(on --replicate-rows rows; R's svyglm refits each replicate)")
    parser.add_argument("--replicate-rows", type=int, default=100_000)
    parser.add_argument("--categorical-only", action="store_true",
                        help="time only the ordinal and multinomial models")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each categorical model (the best is reported)")
    args = parser.parse_args()
    if args.categorical_only:
        categorical_models(args.rows, not args.no_r, args.repeat)
        return
    df = make_data(args.rows)
    d = ib.Design(df, weights="w", strata="stratum", psu="psu")

    def fit() -> None:
        _ = ib.logit(FORMULA, d).bse

    t_ib = best_of(fit, 3)

    y, X = dmatrices(FORMULA, df, return_type="matrix")
    t_sm = best_of(lambda: sm.GLM(np.asarray(y)[:, 0], np.asarray(X),
                                  family=sm.families.Binomial()).fit(), 3)
    print(f"rows: {args.rows:,}; 50 strata, 2,000 PSUs; {X.shape[1]} model columns")
    print(f"ib.logit with design-based covariance (formula included, best of 3): "
          f"{t_ib:7.3f} s")
    print(f"statsmodels GLM.fit (unweighted, same matrix, formula not timed): {t_sm:7.3f} s "
          f"-> ratio {t_ib / t_sm:.2f} (target <= 2)")
    if not args.no_r:
        out = run_r(df, """t <- replicate(3, system.time(svyglm(y ~ x1+x2+x3+x4+x5+factor(g), des,
                                     family=quasibinomial()))[["elapsed"]])
cat(min(t))""")
        if out is not None:
            t_r = out[-1]
            print(f"R svyglm (best of 3): {t_r:7.3f} s -> {t_r / t_ib:.1f}x innobaro "
                  f"(target >= 10)")


    if args.replicate_fits:
        replicate_fits(args.replicate_rows, args.replicate_fits, not args.no_r)
    categorical_models(args.rows, not args.no_r, args.repeat)


CAT_RHS = "x1 + x2 + x3 + x4 + x5 + h"


def add_categorical(df: pd.DataFrame, seed: int = 20261204) -> pd.DataFrame:
    """The benchmark data with a four-level factor ``h`` and outcomes from
    one latent logistic variable: ``yb`` binary, ``yo`` six ordered
    categories (1-6), ``ym`` four unordered categories."""
    rng = np.random.default_rng(seed)
    rows = len(df)
    h = rng.integers(0, 4, rows)
    X = df[[f"x{i}" for i in range(1, 6)]].to_numpy()
    latent = X @ np.array([0.3, -0.2, 0.1, 0.05, 0.4]) + 0.2 * h + rng.logistic(size=rows)
    out = df.copy()
    out["h"] = pd.Categorical(h)
    out["yb"] = (latent > 0.3).astype(float)
    out["yo"] = np.digitize(latent, [-1.5, -0.5, 0.3, 1.0, 2.0]) + 1
    out["ym"] = pd.Categorical(np.digitize(latent + rng.normal(size=rows), [-1.0, 0.3, 1.5]))
    return out


def cpu_best_of(fns: dict, repeat: int = 3) -> dict:
    """Best CPU time (this process) of ``repeat`` runs of each function of
    ``fns``, run in turn, so that every one meets the same load."""
    best = dict.fromkeys(fns, np.inf)
    for _ in range(repeat):
        for name, fn in fns.items():
            t0 = time.process_time()
            fn()
            best[name] = min(best[name], time.process_time() - t0)
    return best


def categorical_models(rows: int, with_r: bool, repeat: int = 3) -> None:
    """ologit (6 categories) and mlogit (4 categories) against logit, same predictors."""
    df = add_categorical(make_data(rows))
    d = ib.Design(df, weights="w", strata="stratum", psu="psu")
    t = cpu_best_of({"logit": lambda: ib.logit("yb ~ " + CAT_RHS, d).bse,
                     "ologit": lambda: ib.ologit("yo ~ " + CAT_RHS, d).bse,
                     "mlogit": lambda: ib.mlogit("ym ~ " + CAT_RHS, d).se}, repeat)
    t_logit, t_ologit, t_mlogit = t["logit"], t["ologit"], t["mlogit"]
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nordinal and multinomial models, {rows:,} rows, 8 slopes (CPU s, best of "
          f"{repeat}; OPENBLAS_NUM_THREADS={threads}; load average {load}):")
    print(f"ib.logit  (binary):           {t_logit:7.3f} s")
    print(f"ib.ologit (6 categories):     {t_ologit:7.3f} s -> {t_ologit / t_logit:.1f}x logit "
          f"(target <= 3)")
    print(f"ib.mlogit (4 categories):     {t_mlogit:7.3f} s -> {t_mlogit / t_logit:.1f}x logit "
          f"(target <= 4)")
    if with_r:
        out = run_r(df, """d$yo <- factor(d$yo, ordered = TRUE); d$h <- factor(d$h)
des <- svydesign(ids=~psu, strata=~stratum, weights=~w, data=d)
t <- system.time(svyolr(yo ~ x1+x2+x3+x4+x5+h, des))
t <- t[["user.self"]] + t[["sys.self"]]
cat(t)""")
        if out is not None:
            print(f"R svyolr (one run, CPU): {out[-1]:7.3f} s -> {out[-1] / t_ologit:.1f}x "
                  f"innobaro's CPU time (target >= 10)")


def replicate_fits(rows: int, replicates: int, with_r: bool) -> None:
    """The same model on a bootstrap replicate design: one refit per replicate."""
    df = make_data(rows)
    d = ib.Design(df, weights="w", strata="stratum", psu="psu").replicate(
        "bootstrap", replicates=replicates, seed=1)
    t_ib = best_of(lambda: ib.logit(FORMULA, d).bse, 3)
    print(f"\nbootstrap design, {replicates} replicates, {rows:,} rows: ib.logit with "
          f"replicate covariance (best of 3): {t_ib:7.3f} s")
    if with_r:
        # survey 4.1's svyglm on a replicate design fails when the data has a
        # column named g (it shadows a variable of svyglm's own): rename it
        out = run_r(df, f"""d$grp <- d$g; d$g <- NULL
des <- svydesign(ids=~psu, strata=~stratum, weights=~w, data=d)
rdes <- as.svrepdesign(des, type="bootstrap", replicates={replicates})
t <- system.time(svyglm(y ~ x1+x2+x3+x4+x5+factor(grp), rdes, family=quasibinomial()))
cat(t[["elapsed"]])""")
        if out is not None:
            print(f"R svyglm on the svrepdesign (one run): {out[-1]:7.3f} s -> "
                  f"{out[-1] / t_ib:.1f}x innobaro")


if __name__ == "__main__":
    main()
