"""Coverage study: do innobaro's 95% intervals cover 95% of the time?

Not part of the test run. One command, seeded, writes the tables the guide
page ``docs/guide/coverage.md`` includes (``coverage_tables.txt``, Markdown that is
not a page of its own, and ``coverage_tables.json``)::

    python benchmarks/coverage_study.py                 # 1000 samples per design, 2 processes
    python benchmarks/coverage_study.py --reps 100 --jobs 1 --out /tmp/cov   # a quick look

Three finite populations, each sampled ``--reps`` times (design-based: the
population is fixed, the sample varies):

- ``barometer``: the barometer's frame (``innobaro.datasets.load_barometer_frame``,
  10,384 municipal units in 426 municipalities), municipalities as PSUs,
  stratified by municipality size (5 strata), 38 municipalities drawn by
  simple random sampling without replacement (fpc), every unit of a drawn
  municipality answering: cluster sizes from 7 to 349 units, a municipality
  effect with an intracluster correlation near 0.06 on every item;
- ``few_psus``: 20 strata of 12 clusters (sizes 8 to 40), 2 clusters drawn per
  stratum (the textbook design with 20 degrees of freedom);
- ``varsize``: 300 clusters with log-normal sizes (3 to about 400), 24
  drawn by simple random sampling with fpc (highly variable cluster sizes).

On each sample, with ``se="linearized"`` (R's), ``"bell-mccaffrey"`` and
``"bell-mccaffrey-2"``: proportions of three items (shares near 0.75, 0.3 and
0.08) with every interval method of ``ib.proportion``, overall and by sector;
the mean of a skewed score overall, by sector and by unit type (small
domains); the ratio of the score to the number of employees; a logistic
model's coefficients; for means and ratios also the jackknife (JKn); the
Rao-Scott test (``ib.chisq_test``) of two items drawn independently on each
sample (each with a cluster effect); and the Wald test of a model
coefficient at its census value. Reported per cell: Monte Carlo coverage of
the nominal 95% interval with its Monte Carlo standard error, mean width, and
mean SE over the Monte Carlo SD of the estimates; test sizes at 5%.
"""

from __future__ import annotations

import os

# one BLAS thread per process: the linear algebra is many small matrices, and
# threads only compete with the other process (three times slower otherwise)
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from multiprocessing import Pool  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import innobaro as ib  # noqa: E402
from innobaro.datasets import load_barometer_frame  # noqa: E402
from innobaro.intervals import PROPORTION_METHODS, proportion_interval  # noqa: E402

SE = ("linearized", "bell-mccaffrey", "bell-mccaffrey-2")
ITEMS = ("item_common", "item_mid", "item_rare")
ICC = 0.06
SEED = 20261204


# --------------------------------------------------------------------------
# populations
# --------------------------------------------------------------------------
def _answers(pop: pd.DataFrame, cluster: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """Items with a cluster effect of intracluster correlation ICC (latent scale)."""
    n_cl = int(cluster.max()) + 1
    n = len(pop)
    sd_latent = np.sqrt(ICC / (1 - ICC) * np.pi ** 2 / 3)  # logistic latent scale
    sector = (pop["sector"] == pop["sector"].iloc[0]).to_numpy().astype(float)
    size = np.log(pop["employees"].to_numpy())
    out = {}
    for item, base in zip(ITEMS, (1.1, -0.85, -2.45), strict=True):
        u = rng.normal(0, sd_latent, n_cl)[cluster]
        eta = base + 0.4 * (sector - 0.5) + 0.3 * (size - size.mean()) + u
        out[item] = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    # a skewed score: cluster effect with ICC 0.06 of the total variance
    e = rng.gamma(2.0, 5.0, n)
    u = rng.normal(0, np.sqrt(ICC / (1 - ICC)) * e.std(), n_cl)[cluster]
    out["score"] = 40 + 4 * sector + u + e
    # a covariate unrelated to the items, clustered
    out["noise"] = rng.normal(0, 1, n_cl)[cluster] + rng.normal(0, 1, n)
    return pop.assign(**out, log_employees=size)


def _three_levels(cluster: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A three-level item with a cluster effect (ICC near 0.06 on the latent scale)."""
    n_cl, n = int(cluster.max()) + 1, cluster.size
    sd_latent = np.sqrt(ICC / (1 - ICC) * np.pi ** 2 / 3)
    u = rng.normal(0, sd_latent, (n_cl, 2))[cluster]
    logits = np.c_[np.zeros(n), u + np.array([0.3, -0.2])]
    pr = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return np.array(["x", "y", "z"])[(rng.random(n)[:, None] > pr.cumsum(axis=1)).sum(axis=1)]


def barometer_population(rng: np.random.Generator) -> tuple[pd.DataFrame, dict]:
    frame = load_barometer_frame()
    pop = frame[["unit_id", "municipality_code", "municipality_size", "sector", "unit_type",
                 "employees"]].copy()
    cluster, _ = pd.factorize(pop["municipality_code"], sort=True)
    pop = _answers(pop.rename(columns={"municipality_size": "stratum"}), cluster, rng)
    pop["cluster"] = cluster
    take = {"0-4999": 12, "5000-9999": 8, "10000-19999": 8, "20000-49999": 6, "50000+": 4}
    return pop, take


def few_psus_population(rng: np.random.Generator) -> tuple[pd.DataFrame, dict]:
    n_strata, per = 20, 12
    sizes = rng.integers(8, 41, n_strata * per)
    cluster = np.repeat(np.arange(sizes.size), sizes)
    n = cluster.size
    pop = pd.DataFrame({
        "stratum": np.repeat(np.arange(n_strata), per)[cluster].astype(str),
        "sector": np.where(rng.random(n) < 0.55, "education", "health_care"),
        "unit_type": np.array(list("ABCDEFGH"))[rng.choice(8, n, p=[.27, .25, .16, .1, .09,
                                                                   .05, .045, .035])],
        "employees": rng.integers(2, 120, n)})
    pop = _answers(pop, cluster, rng)
    pop["cluster"] = cluster
    return pop, {str(h): 2 for h in range(n_strata)}


def varsize_population(rng: np.random.Generator) -> tuple[pd.DataFrame, dict]:
    sizes = np.clip(np.round(np.exp(rng.normal(3.0, 1.0, 300))), 3, None).astype(int)
    cluster = np.repeat(np.arange(sizes.size), sizes)
    n = cluster.size
    pop = pd.DataFrame({
        "stratum": "all",
        "sector": np.where(rng.random(n) < 0.55, "education", "health_care"),
        "unit_type": np.array(list("ABCDEFGH"))[rng.choice(8, n, p=[.27, .25, .16, .1, .09,
                                                                   .05, .045, .035])],
        "employees": rng.integers(2, 120, n)})
    pop = _answers(pop, cluster, rng)
    pop["cluster"] = cluster
    return pop, {"all": 24}


POPULATIONS = {"barometer": barometer_population, "few_psus": few_psus_population,
               "varsize": varsize_population}


def draw(pop: pd.DataFrame, take: dict, rng: np.random.Generator) -> pd.DataFrame:
    """Stratified simple random sample of clusters, every unit of a drawn cluster."""
    clusters = pop.groupby("cluster", sort=True)["stratum"].first()
    key = pd.Series(rng.random(clusters.size), index=clusters.index)
    rank = key.groupby(clusters).rank(method="first")
    n_h = clusters.map(take)
    N_h = clusters.map(clusters.value_counts())
    chosen = rank.index[rank <= n_h]
    sample = pop[pop["cluster"].isin(chosen)].copy()
    sample["N_h"] = sample["cluster"].map(N_h).astype(float)
    sample["w"] = sample["N_h"] / sample["stratum"].map(take).astype(float)
    return sample


# --------------------------------------------------------------------------
# truth and one replicate
# --------------------------------------------------------------------------
MODEL = "item_common ~ C(sector) + log_employees + noise"


def truth(pop: pd.DataFrame) -> dict:
    out: dict = {"p": {}, "mean": {}}
    for item in ITEMS:
        out["p"][(item, "all")] = pop[item].mean()
        for s, v in pop.groupby("sector")[item].mean().items():
            out["p"][(item, s)] = v
    out["mean"][("score", "all")] = pop["score"].mean()
    for col in ("sector", "unit_type"):
        for s, v in pop.groupby(col)["score"].mean().items():
            out["mean"][("score", f"{col}={s}")] = v
    out["ratio"] = {("all",): pop["score"].sum() / pop["employees"].sum()}
    for s, g in pop.groupby("sector"):
        out["ratio"][(s,)] = g["score"].sum() / g["employees"].sum()
    census = ib.glm(MODEL, ib.Design(pop.assign(one=1.0), weights="one"), family="binomial")
    out["coef"] = census.params.to_dict()
    return out


def one_sample(pop: pd.DataFrame, take: dict, rng: np.random.Generator, true: dict) -> list:
    s = draw(pop, take, rng)
    d = ib.Design(s, strata="stratum", psu="cluster", weights="w", fpc="N_h")
    rows: list = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for se in SE:
            for by in (None, "sector"):
                # every interval method of ib.proportion from one call: the
                # proportion's variance and df are the mean's (as
                # tests/test_small_sample.py checks), the rest is the method
                est = ib.mean(d, list(ITEMS), by=by, se=se)
                p, var = est.estimate.to_numpy(), est.se.to_numpy() ** 2
                dfs = est.df_values
                n_rows = (np.full(p.size, float(len(s))) if by is None else
                          np.repeat(s.groupby(by).size().to_numpy(), len(ITEMS)).astype(float))
                for method in PROPORTION_METHODS:
                    lo, hi = proportion_interval(method, p, var, 0.95, dfs, n_rows=n_rows,
                                                 n_obs=n_rows)
                    for k, key in enumerate(est.estimate.index):
                        item, dom = (key, "all") if by is None else (key[1], key[0])
                        rows.append(("proportion", method, se, f"{item}|{dom}",
                                     true["p"][(item, dom)], p[k], np.sqrt(var[k]), lo[k],
                                     hi[k]))
            for by in (None, "sector", "unit_type"):
                _add_rows(rows, "mean", "t", se, ib.mean(d, "score", by=by, se=se), true, by)
            for by in (None, "sector"):
                est = ib.ratio(d, "score", "employees", by=by, se=se)
                _add_rows(rows, "ratio", "t", se, est, true, by)
            fit = ib.glm(MODEL, d, family="binomial", se=se)
            ci = fit.ci(0.95).to_numpy()
            for k, name in enumerate(fit.params.index):
                rows.append(("glm", "wald", se, name, true["coef"][name], fit.params.iloc[k],
                             fit.se.iloc[k], ci[k, 0], ci[k, 1]))
        # the jackknife (JKn, one replicate per PSU) for means and ratios
        dj = d.replicate("jkn")
        for by in (None, "sector", "unit_type"):
            _add_rows(rows, "mean", "t", "jackknife", ib.mean(dj, "score", by=by), true, by)
        for by in (None, "sector"):
            _add_rows(rows, "ratio", "t", "jackknife", ib.ratio(dj, "score", "employees", by=by),
                      true, by)
        # the Rao-Scott test under an exact null: two three-level items drawn
        # independently on the sample (a superpopulation null; a finite
        # population's table is never exactly independent), each with a cluster
        # effect, tested on the design without fpc (with-replacement variance)
        cl = pd.factorize(s["cluster"])[0]
        ab = {name: _three_levels(cl, rng) for name in ("a", "b")}
        d0 = ib.Design(s.assign(**ab), strata="stratum", psu="cluster", weights="w")
        test = ib.chisq_test(d0, "a", "b")
        rows.append(("rao_scott", "F", "linearized", "a x b", np.nan, test.pvalue, np.nan,
                     np.nan, np.nan))
    return rows


def _add_rows(rows: list, statistic: str, method: str, se: str, est: ib.Estimate, true: dict,
              by: str | None) -> None:
    ci = est.ci(0.95).to_numpy()
    for k, key in enumerate(est.estimate.index):
        if statistic == "mean":
            dom = "all" if by is None else f"{by}={key[0]}"
            cell, value = f"score|{dom}", true["mean"][("score", dom)]
        else:
            dom = "all" if by is None else str(key[0])
            cell, value = f"score/employees|{dom}", true["ratio"][(dom,)]
        rows.append((statistic, method, se, cell, value, est.estimate.iloc[k], est.se.iloc[k],
                     ci[k, 0], ci[k, 1]))


def _worker(args: tuple) -> list:
    name, seeds, true = args
    pop, take = POPULATIONS[name](np.random.default_rng(SEED))
    out: list = []
    for seed in seeds:
        out.extend(one_sample(pop, take, np.random.default_rng(seed), true))
    return out


# --------------------------------------------------------------------------
# summaries
# --------------------------------------------------------------------------
def summarise(rows: list, reps: int) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["statistic", "method", "se", "cell", "truth", "estimate",
                                     "se_hat", "lower", "upper"])
    tests = df[df.statistic == "rao_scott"]
    df = df[df.statistic != "rao_scott"]
    g = df.assign(cover=(df.lower <= df.truth) & (df.truth <= df.upper),
                  width=df.upper - df.lower).groupby(
        ["statistic", "method", "se", "cell"], sort=False)
    out = g.agg(coverage=("cover", "mean"), width=("width", "mean"), mean_se=("se_hat", "mean"),
                sd=("estimate", "std"), n=("cover", "size")).reset_index()
    out["mc_se"] = np.sqrt(out.coverage * (1 - out.coverage) / out.n)
    out["se_ratio"] = out.mean_se / out.sd
    rs = pd.DataFrame({"statistic": ["rao_scott"], "method": ["F"], "se": ["linearized"],
                       "cell": ["a x b"], "coverage": [float((tests.estimate < 0.05).mean())],
                       "n": [len(tests)]})
    rs["mc_se"] = np.sqrt(rs.coverage * (1 - rs.coverage) / rs.n)
    return pd.concat([out, rs], ignore_index=True)


def headline(table: pd.DataFrame) -> pd.DataFrame:
    """Per design, statistic, interval method and se=: average and worst coverage."""
    cells = table[table.statistic != "rao_scott"]
    return cells.groupby(["design", "statistic", "method", "se"], sort=False).agg(
        mean_coverage=("coverage", "mean"), min_coverage=("coverage", "min"),
        mean_se_ratio=("se_ratio", "mean"), mean_width=("width", "mean"),
        cells=("cell", "size")).reset_index()


def to_markdown(df: pd.DataFrame, digits: int = 3) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        cells = [f"{v:.{digits}f}" if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--designs", default=",".join(POPULATIONS))
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent.parent
                                             / "docs" / "guide"))
    args = parser.parse_args()
    start = time.perf_counter()
    tables = []
    children = np.random.SeedSequence(SEED).spawn(len(POPULATIONS))
    for (name, make), seq in zip(POPULATIONS.items(), children, strict=True):
        if name not in args.designs.split(","):
            continue
        pop, _ = make(np.random.default_rng(SEED))
        true = truth(pop)
        seeds = [int(s.generate_state(1)[0]) for s in seq.spawn(args.reps)]
        chunks = [(name, seeds[i::args.jobs], true) for i in range(args.jobs)]
        if args.jobs > 1:
            with Pool(args.jobs) as pool:
                parts = pool.map(_worker, chunks)
        else:
            parts = [_worker(chunks[0])]
        rows = [r for part in parts for r in part]
        tables.append(summarise(rows, args.reps).assign(design=name))
        print(f"{name}: {args.reps} samples, {time.perf_counter() - start:.0f} s", flush=True)
    table = pd.concat(tables, ignore_index=True)
    head = headline(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"command": "python benchmarks/coverage_study.py", "reps": args.reps,
            "seed": SEED, "icc": ICC, "innobaro": ib.__version__}
    (out / "coverage_tables.json").write_text(json.dumps(
        {"meta": meta, "headline": head.to_dict("records"),
         "cells": table.replace({np.nan: None}).to_dict("records")}, indent=1) + "\n")
    tests = table[table.statistic == "rao_scott"][["design", "coverage", "mc_se", "n"]].rename(
        columns={"coverage": "size_at_5pct"})
    glm_null = table[(table.statistic == "glm") & (table.cell == "noise")].assign(
        size_at_5pct=lambda t: 1 - t.coverage)[["design", "se", "size_at_5pct", "mc_se"]]
    md = [f"<!-- written by `python benchmarks/coverage_study.py` ({args.reps} samples per "
          f"design, seed {SEED}); do not edit -->",
          "", "### Average and worst coverage of nominal 95% intervals", "",
          to_markdown(head), "",
          "### Size of the Rao-Scott test (ib.chisq_test) of two independent items, 5% level",
          "", to_markdown(tests), "",
          "### Size of the Wald test of the model coefficient of `noise` at its census value",
          "", to_markdown(glm_null), ""]
    (out / "coverage_tables.txt").write_text("\n".join(md))
    print(to_markdown(head[head.design == "barometer"]))
    print(f"done in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
