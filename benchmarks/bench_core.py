"""Speed of the core estimators against a bare numpy pass (and R when present).

Not part of the test run. Usage::

    python benchmarks/bench_core.py [--rows 1000000] [--no-r]

Seeded data: ``rows`` rows, 50 strata, 2,000 PSUs (40 per stratum), a
20-level domain with string labels. It prints the time of building the design
(factorising strata, PSU and labels), of building it from the same data as a
polars DataFrame and a pyarrow Table when those are installed (target: at
most 2x the pandas frame), of ``ib.mean`` with its standard error,
of ``ib.mean(..., by=domain)``, and of one bare numpy pass (weighted PSU
totals by ``np.bincount``), with their ratios; with R and the survey package
installed, also R's ``svymean`` and ``svyby`` on the same data.

``--descriptives`` times issue 17's descriptives instead (``ib.var``,
``ib.ranktest``, ``ib.goodness_of_fit``, ``ib.standardize`` with a mean,
``ib.quantile`` with each ``qrule`` and the score interval, ``ib.cdf``,
``ib.histogram``, ``ib.boxplot_stats``), each beside a bare numpy pass that
computes the same sums (the floor: the sorting, the weighted PSU totals of
the statistic's influence columns), with the ratio; the target is 3x. It
also times ``ib.chisq_test`` on a 5x4 table (``band`` by ``size``) beside
one bincount over cell x PSU and the 20 x 20 covariance (target 5x, issue
18). ``--only TEXT ...`` times only the statistics whose name contains one
of the words.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import innobaro as ib


def make_data(rows: int, seed: int = 20261128) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_strata, n_psu = 50, 2000
    psu = rng.integers(0, n_psu, rows)
    stratum = psu // (n_psu // n_strata)
    domain = rng.integers(0, 20, rows)
    w = rng.uniform(1, 100, rows)
    y = rng.normal(50, 10, rows) + psu % 7
    return pd.DataFrame({
        "stratum": np.char.add("s", stratum.astype(str)),
        "psu": psu,
        "domain": np.char.add("d", domain.astype(str)),
        "w": w,
        "y": y,
        "group": (y + rng.normal(0, 10, rows) > 53).astype(float),
        "band": pd.Categorical.from_codes(rng.integers(0, 5, rows),
                                          ["a", "b", "c", "d", "e"]),
        "size": pd.Categorical.from_codes(rng.integers(0, 4, rows),
                                          ["micro", "small", "medium", "large"]),
    })


def best_of(fn, repeat: int = 5) -> float:
    """Best time of ``repeat`` runs (each program is timed the same way)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def frame_times(df: pd.DataFrame) -> list[tuple[str, float, float]]:
    """Time ``ib.Design`` on the data as a pandas DataFrame, a polars DataFrame
    and a pyarrow Table (those installed), and the first ``ib.mean(...,
    by=domain)`` on a new design (which factorises the domain and, for polars
    and pyarrow, converts the two columns it reads); making the frames from
    pandas is not timed."""
    frames: list[tuple[str, object]] = [("pandas DataFrame", df)]
    try:
        import polars as pl

        frames.append(("polars DataFrame", pl.from_pandas(df)))
    except ImportError:
        pass
    try:
        import pyarrow as pa

        frames.append(("pyarrow Table", pa.Table.from_pandas(df, preserve_index=False)))
    except ImportError:
        pass
    out = []
    for kind, data in frames:
        t = best_of(lambda data=data: ib.Design(data, weights="w", strata="stratum",
                                                psu="psu"), 3)

        def first_by(data: object = data) -> pd.Series:
            return ib.mean(ib.Design(data, weights="w", strata="stratum", psu="psu"), "y",
                           by="domain").se

        t_by = best_of(first_by, 3) - t
        out.append((kind, t, t_by))
    return out


def run_r(df: pd.DataFrame, body: str) -> list[float] | None:
    """Run R code on ``df`` (as ``des``: a stratified cluster design of the
    benchmark columns) and return the numbers it prints, or None without R."""
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.csv"
        df.to_csv(path, index=False)
        script = f"""
suppressMessages(library(survey))
d <- read.csv("{path}")
des <- svydesign(ids=~psu, strata=~stratum, weights=~w, data=d)
{body}
"""
        out = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True,
                             check=False)
        if out.returncode != 0:
            return None
        return [float(v) for v in out.stdout.split()]


def r_times(df: pd.DataFrame) -> tuple[float, float] | None:
    out = run_r(df, """t1 <- system.time(svymean(~y, des))[["elapsed"]]
t2 <- system.time(svyby(~y, ~domain, des, svymean))[["elapsed"]]
cat(t1, t2, "\\n")""")
    return None if out is None else (out[0], out[1])


def descriptives(df: pd.DataFrame, only: list[str] | None = None) -> None:
    """Issue 17's descriptives beside the bare numpy floor of the same sums."""
    d = ib.Design(df, weights="w", strata="stratum", psu="psu")
    w = df["w"].to_numpy()
    y = df["y"].to_numpy()
    psu = df["psu"].to_numpy()
    grp = df["group"].to_numpy()
    band = df["band"].cat.codes.to_numpy()
    size = df["size"].cat.codes.to_numpy().astype(np.int64)
    dom = df["domain"].str[1:].astype(int).to_numpy()
    n_psu = 2000

    def totals(*cols: np.ndarray) -> list[np.ndarray]:  # weighted PSU totals
        return [np.bincount(psu, weights=w * c, minlength=n_psu) for c in cols]

    def floor_var() -> object:  # w, w y, w y^2 by PSU
        return totals(np.ones_like(y), y, y * y)

    def floor_rank() -> object:  # the ranks, then w and w rank by PSU for each group
        r = np.empty(y.size)
        r[np.argsort(y, kind="stable")] = np.arange(1, y.size + 1)
        return totals(grp, grp * r, r)

    def floor_gof() -> object:  # w by PSU and band
        return np.bincount(psu * 5 + band, weights=w, minlength=n_psu * 5)

    def floor_std() -> object:
        # domain x band weight totals (the standardised weights), then w and w y by
        # PSU x domain x band: a domain mean needs its PSU totals, and the
        # post-stratification its residuals within each band
        cells = np.bincount(dom * 5 + band, weights=w, minlength=100)
        ws = w * (0.2 / cells[dom * 5 + band])
        key = (psu * 20 + dom) * 5 + band
        return [np.bincount(key, weights=ws, minlength=n_psu * 100),
                np.bincount(key, weights=ws * y, minlength=n_psu * 100)]

    def floor_chisq() -> object:  # w by PSU and cell, then the 20 x 20 covariance
        t = np.bincount(psu * 20 + band * 4 + size, weights=w,
                        minlength=n_psu * 20).reshape(50, n_psu // 50, 20)
        wt = t.sum(axis=2, keepdims=True)
        z = (t - wt * (t.sum(axis=(0, 1)) / wt.sum())) / wt.sum()
        dev = (z - z.mean(axis=1, keepdims=True)).reshape(n_psu, 20)
        # numpy's own loop: a BLAS call this small waits tens of ms for its
        # threads on a loaded machine
        return np.einsum("ui,uj->ij", dev, dev)

    def floor_quantile() -> object:  # sort, cumulative weights, w [y <= q] by PSU
        o = np.argsort(y, kind="stable")
        c = np.cumsum(w[o])
        q = y[o][np.searchsorted(c, 0.5 * c[-1])]
        return totals(y <= q)

    def floor_cdf() -> object:  # sort by domain then value, cumulative weights
        o = np.lexsort((y, dom))
        return np.cumsum(w[o])

    def floor_hist() -> object:  # bin, then w by domain and bin
        k = np.searchsorted(np.linspace(y.min(), y.max(), 21), y)
        return np.bincount(dom * 22 + k, weights=w, minlength=20 * 22)

    pop = {b: 1.0 for b in df["band"].cat.categories}
    shares = {b: 0.2 for b in df["band"].cat.categories}
    cases: list[tuple[str, object, object]] = [
        ("ib.var(d, 'y')", lambda: ib.var(d, "y").se, floor_var),
        ("ib.ranktest(d, 'y', 'group')", lambda: ib.ranktest(d, "y", "group").pvalue,
         floor_rank),
        ("ib.goodness_of_fit(d, 'band', p)", lambda: ib.goodness_of_fit(d, "band", shares),
         floor_gof),
        ("ib.chisq_test(d, 'band', 'size') (5x4)",
         lambda: ib.chisq_test(d, "band", "size").pvalue, floor_chisq),
        ("ib.mean(ib.standardize(...), by=)",
         lambda: ib.mean(ib.standardize(d, "band", pop, over="domain"), "y",
                         by="domain").se, floor_std),
    ]
    for rule in ("math", "school", "hf1", "hf2", "hf3", "hf4", "hf5", "hf6", "hf7", "hf8",
                 "hf9", "shahvaish"):
        cases.append((f"ib.quantile(d, 'y', 0.5, qrule={rule!r})",
                      lambda rule=rule: ib.quantile(d, "y", 0.5, qrule=rule).se,
                      floor_quantile))
    cases += [
        # the score interval re-estimates F and its SE at every step of R's uniroot
        # (about 20 steps for both ends together): from (PSU, domain) totals updated
        # by the rows between successive points, each step costs those rows and the
        # pairs; its floor is the quantile's: the sort and one CDF evaluation's sums
        ("ib.quantile(..., interval_type='score')",
         lambda: ib.quantile(d, "y", 0.5, interval_type="score").se, floor_quantile),
        ("ib.cdf(d, 'y', by='domain')", lambda: ib.cdf(d, "y", by="domain"), floor_cdf),
        ("ib.histogram(d, 'y', bins=20, by=)",
         lambda: ib.histogram(d, "y", bins=20, by="domain"), floor_hist),
        ("ib.boxplot_stats(d, 'y', by='domain')",
         lambda: ib.boxplot_stats(d, "y", by="domain"), floor_cdf),
    ]
    # issue 18: the Rao-Scott test within 5x of its floor; the rest 3x
    targets = {"ib.chisq_test(d, 'band', 'size') (5x4)": 5.0}
    print(f"{'statistic':<44}{'innobaro':>10}{'numpy floor':>13}{'ratio':>8}  "
          f"(target 3x, chisq_test 5x)")
    for name, fn, floor in cases:
        if only and not any(word in name for word in only):
            continue
        t = best_of(fn, 3)
        t_floor = best_of(floor, 3)
        flag = "" if t <= targets.get(name, 3.0) * t_floor else "  misses"
        print(f"{name:<44}{1e3 * t:8.1f} ms{1e3 * t_floor:10.1f} ms{t / t_floor:7.1f}x{flag}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--no-r", action="store_true", help="skip the comparison with R")
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--descriptives", action="store_true",
                        help="time issue 17's descriptives against their numpy floor")
    parser.add_argument("--only", nargs="+", metavar="TEXT",
                        help="with --descriptives: only the statistics whose name "
                             "contains one of these")
    args = parser.parse_args()
    df = make_data(args.rows)
    if args.descriptives:
        print(f"rows: {args.rows:,}; 50 strata, 2,000 PSUs, 20 domains")
        descriptives(df, args.only)
        return

    w = df["w"].to_numpy()
    y = df["y"].to_numpy()
    psu = df["psu"].to_numpy()

    def bare() -> np.ndarray:
        return np.bincount(psu, weights=w * y, minlength=2000)

    t_bare = best_of(bare)
    t_design = best_of(lambda: ib.Design(df, weights="w", strata="stratum", psu="psu"), 3)
    d = ib.Design(df, weights="w", strata="stratum", psu="psu")
    t_mean = best_of(lambda: ib.mean(d, "y").se)
    t_by = best_of(lambda: ib.mean(d, "y", by="domain").se)
    print(f"rows: {args.rows:,}; 50 strata, 2,000 PSUs, 20 domains")
    print(f"bare numpy pass (bincount of w*y by PSU): {1e3 * t_bare:8.2f} ms")
    print(f"Design(...) (factorise labels once):      {1e3 * t_design:8.2f} ms "
          f"({t_design / t_bare:5.1f}x bare)")
    kinds = frame_times(df)
    for kind, t_kind, t_kind_by in kinds:
        print(f"  from a {kind + ':':<30}{1e3 * t_kind:8.2f} ms "
              f"({t_kind / kinds[0][1]:5.2f}x pandas; target 2x); first ib.mean by "
              f"domain {1e3 * t_kind_by:7.2f} ms ({t_kind_by / kinds[0][2]:5.2f}x pandas)")
    print(f"ib.mean with se:                          {1e3 * t_mean:8.2f} ms "
          f"({t_mean / t_bare:5.1f}x bare; target 3x)")
    print(f"ib.mean by 20 domains with se:            {1e3 * t_by:8.2f} ms "
          f"({t_by / t_bare:5.1f}x bare; target 5x)")
    t_first = best_of(lambda: ib.mean(d.subset(np.ones(len(df), bool)), "y", by="domain").se, 1)
    print(f"  first call on a new design (factorises the domain labels): "
          f"{1e3 * t_first:8.2f} ms")

    # replicate weights: 200 bootstrap replicates, one (n, R) float64 array
    t0 = time.perf_counter()
    rd = d.replicate("bootstrap", replicates=args.replicates, seed=1)
    t_build = time.perf_counter() - t0
    W = rd.unmasked_replicate_weights

    def bare_rep() -> np.ndarray:
        return W.T @ y

    t_bare_rep = best_of(bare_rep, 3)
    t_rmean = best_of(lambda: ib.mean(rd, "y").se, 3)
    t_rby = best_of(lambda: ib.mean(rd, "y", by="domain").se, 3)
    print(f"\n{args.replicates} bootstrap replicates (float64 weights, "
          f"{W.nbytes / 2**30:.2f} GiB, built in {t_build:.2f} s)")
    print(f"bare W.T @ y:                             {1e3 * t_bare_rep:8.2f} ms")
    print(f"ib.mean with replicate se:                {1e3 * t_rmean:8.2f} ms "
          f"({t_rmean / t_bare_rep:5.1f}x bare; target 3x)")
    print(f"ib.mean by 20 domains, replicate se:      {1e3 * t_rby:8.2f} ms "
          f"({t_rby / t_bare_rep:5.1f}x bare; target 3x)")


    if not args.no_r:
        rt = r_times(df)
        if rt is None:
            print("R with the survey package not found: no R comparison")
        else:
            print(f"R svymean:  {1e3 * rt[0]:9.1f} ms ({rt[0] / t_mean:6.1f}x innobaro)")
            print(f"R svyby:    {1e3 * rt[1]:9.1f} ms ({rt[1] / t_by:6.1f}x innobaro)")


if __name__ == "__main__":
    main()
