"""Seeded random survey designs for the randomised differential tests against R.

Each seed gives one small dataset, one design specification and a list of
calls (estimators, models, tests). ``make_random.R`` reads them, has R's
survey package compute every call and writes its numbers; the test
``tests/test_random_designs.py`` rebuilds each design in innobaro, makes the
same calls and compares. The format is described in
``tests/reference/README.md`` (section "Randomised designs").

Run as a script to write the designs::

    python tests/reference/random_designs.py                  # the stored set
    python tests/reference/random_designs.py --n 3000 --out /tmp/rand

The stored set (seeds 1..300) is ``tests/reference/data/random_designs.json``;
``--out DIR`` writes ``DIR/designs.json``. Only the standard library is used,
and every random draw goes through ``random.Random.random()``, whose stream
Python keeps the same across versions, so a seed gives the same design
everywhere. Importing this module has no side effects.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
STORED = HERE / "data" / "random_designs.json"
N_STORED = 300
FORMAT = 1

LONELY_RULES = ("fail", "remove", "adjust", "average", "certainty")
REPLICATE_METHODS = ("jk1", "jkn", "brr", "fay", "bootstrap")
PROP_METHODS = ("logit", "likelihood", "beta", "asin", "mean", "xlogit")


class Rng:
    """Draws built on ``random.Random.random()`` only (stable across Pythons)."""

    def __init__(self, seed: int) -> None:
        self._r = random.Random(seed)

    def u(self, lo: float = 0.0, hi: float = 1.0) -> float:
        return lo + (hi - lo) * self._r.random()

    def int(self, lo: int, hi: int) -> int:
        """An integer in lo..hi, both included."""
        return lo + min(int(self._r.random() * (hi - lo + 1)), hi - lo)

    def chance(self, p: float) -> bool:
        return self._r.random() < p

    def pick(self, seq, weights=None):
        if weights is None:
            return seq[self.int(0, len(seq) - 1)]
        total = float(sum(weights))
        x = self._r.random() * total
        for item, wt in zip(seq, weights, strict=True):
            x -= wt
            if x < 0:
                return item
        return seq[-1]

    def normal(self, mu: float = 0.0, sd: float = 1.0) -> float:
        u1 = 1.0 - self._r.random()          # in (0, 1]
        u2 = self._r.random()
        return mu + sd * math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)

    def shuffle(self, items: list) -> None:
        for i in range(len(items) - 1, 0, -1):
            j = self.int(0, i)
            items[i], items[j] = items[j], items[i]


# ---------------------------------------------------------------------------
# The sample: strata, clusters (up to three stages), population counts
# ---------------------------------------------------------------------------
def _structure(r: Rng, kind: str, method: str | None) -> dict[str, Any]:
    """Strata, stages, PSUs per stratum, lonely-PSU rule and fpc kind."""
    if kind == "replicate":
        stages = r.pick([0, 1, 1, 1, 2])
        if method == "jk1":
            H, stages = 1, max(stages, 1)
            n_h = [r.int(4, 14)]
        elif method in ("brr", "fay"):
            H = r.int(2, 10)
            stages = max(stages, 1)
            n_h = [2] * H
        elif method == "jkn":
            H = r.int(1, 8)
            n_h = [r.int(2, 5) if stages else r.int(2, 6) for _ in range(H)]
        else:  # bootstrap
            H = r.int(1, 5)
            n_h = [r.int(3, 6) if stages else r.int(4, 10) for _ in range(H)]
        # JKn needs strata (one stratum is fine), JK1 none
        stratified = method == "jkn" or H > 1 or (method == "bootstrap" and r.chance(0.5))
        if method == "jk1":
            stratified = False
        fpc = "none"
        if method in ("jk1", "jkn", "bootstrap") and r.chance(0.5):
            fpc = r.pick(["count", "fraction"])
        return {"H": H, "stratified": stratified, "stages": stages, "n_h": n_h,
                "lonely": "fail", "elements": (0, 5, 3, 2)[stages], "min_elements": 2, "fpc": fpc,
                "certainty_p": 0.15 if method == "jkn" else 0.0,
                "min_sub": 1}
    stratified = r.chance(0.75)
    H = r.pick(list(range(1, 13)), [3, 6, 6, 5, 4, 3, 2, 2, 1, 1, 1, 1]) if stratified else 1
    stages = r.pick([0, 1, 2, 3], [2, 5, 3, 1.5])
    lonely = r.pick(list(LONELY_RULES), [4, 1.5, 1.5, 1.5, 1.5])
    with_lonely = r.chance(0.1) if lonely == "fail" else r.chance(0.6)
    if H == 1:   # unstratified: more PSUs (or rows)
        n_h = [r.int(2, 14) if stages else r.int(6, 40)]
    else:
        n_h = [r.int(2, 8 if stages else 10) for _ in range(H)]
    if with_lonely and stratified:
        for h in range(H):
            if h == 0 or r.chance(0.25):
                n_h[h] = 1
        r.shuffle(n_h)
        if all(n == 1 for n in n_h) and H > 1:
            n_h[0] = 2
    elif with_lonely and not stratified:
        n_h = [1] if r.chance(0.3) else n_h
    fpc = r.pick(["none", "count", "fraction", "stage1"], [3, 4, 3, 1 if stages >= 2 else 0])
    census = fpc in ("count", "fraction") and r.chance(0.04)
    if census:
        # every fpc 1 as fractions is an error in R (ambiguous with counts)
        fpc = "count"
    return {"H": H, "stratified": stratified, "stages": stages, "n_h": n_h, "lonely": lonely,
            "fpc": fpc, "certainty_p": 1.0 if census else 0.1,
            "elements": (0, 4, 3, 2)[stages], "min_elements": 1,
            # a later-stage unit alone in its cluster is a lonely PSU at that stage
            "min_sub": 2 if lonely == "fail" and not with_lonely else 1,
            "census": census}


def _sample(r: Rng, st: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The rows with their design columns, and the design specification."""
    H, stages, nest = st["H"], st["stages"], False
    if stages and st["stratified"] and H > 1:
        nest = r.chance(0.5)
    ssu_repeat = r.chance(0.5)      # later-stage ids restart within each cluster
    rows: list[dict[str, Any]] = []
    next_id = r.int(1, 50)
    fpc_kind = st["fpc"]
    for h in range(H):
        n1 = st["n_h"][h]
        certain = r.chance(st["certainty_p"])
        N1 = n1 if certain else n1 + r.int(1, 25)
        h_eff = r.normal(0, 6)
        h_name = f"s{h + 1:02d}" if r.chance(0.8) else f"S{chr(65 + h)}"
        if stages == 0:
            for _ in range(n1):
                rows.append({"h": h_name, "N": [N1], "n": [n1], "eff": h_eff + r.normal(0, 2)})
            continue
        for i in range(n1):
            if nest:
                c1 = i + 1
            else:
                c1 = next_id
                next_id += r.int(1, 3)
            eff1 = h_eff + r.normal(0, 4)
            units = _subunits(r, stages - 1, st)
            for path, Ns, ns in units:
                rows.append({"h": h_name, "ids": [c1, *path], "N": [N1, *Ns], "n": [n1, *ns],
                             "eff": eff1 + r.normal(0, 2)})
    if not ssu_repeat and stages >= 2:
        # later-stage ids unique over the whole sample
        for k in range(1, stages):
            seen: dict[tuple, int] = {}
            for row in rows:
                key = (row["h"], *row["ids"][: k + 1])
                row["ids"][k] = seen.setdefault(key, len(seen) + 1)
    design: dict[str, Any] = {"weights": None, "probs": None,
                              "strata": "h" if st["stratified"] else None,
                              "psu": None, "fpc": None, "nest": nest,
                              "lonely_psu": st["lonely"]}
    if stages:
        design["psu"] = [f"c{k + 1}" for k in range(stages)]
    n_fpc = max(stages, 1)
    if fpc_kind == "stage1":
        n_fpc = 1
    if fpc_kind != "none":
        prefix = "f" if fpc_kind == "fraction" else "N"
        design["fpc"] = [f"{prefix}{k + 1}" for k in range(n_fpc)]
    for row in rows:
        for k in range(stages):
            row[f"c{k + 1}"] = row["ids"][k] if "ids" in row else None
        if fpc_kind != "none":
            for k in range(n_fpc):
                if fpc_kind == "fraction":
                    row[f"f{k + 1}"] = row["n"][k] / row["N"][k]
                else:
                    row[f"N{k + 1}"] = row["N"][k]
    return rows, design


def _subunits(r: Rng, later: int, st: dict[str, Any]):
    """The sample inside one cluster with `later` stages below it: per row, the
    later-stage ids, population counts and sample counts. The elements of an
    ultimate cluster are all observed (rows without a stage of their own)."""
    if later == 0:
        return [((), (), ())] * r.int(st["min_elements"], st["elements"])
    m = r.int(st["min_sub"], 3)
    if r.chance(0.15) and st["min_sub"] == 1:
        m = 1
    M = m if (st.get("census") or r.chance(0.12)) else m + r.int(1, 10)
    out = []
    for j in range(m):
        for path, Ns, ns in _subunits(r, later - 1, st):
            out.append(((j + 1, *path), (M, *Ns), (m, *ns)))
    return out


# ---------------------------------------------------------------------------
# Weights and variables
# ---------------------------------------------------------------------------
def _weights(r: Rng, rows: list[dict[str, Any]], st: dict[str, Any]) -> None:
    ratio = r.pick([1.0, 3.0, 30.0, 1e3, 1e4], [1, 3, 3, 2, 1.5])
    base = r.u(2, 60)
    for row in rows:
        scale = base if st["fpc"] == "none" else math.prod(
            N / n for N, n in zip(row["N"], row["n"], strict=True))
        factor = math.exp(r.u(0, math.log(ratio))) if ratio > 1 else 1.0
        row["w"] = round(scale * factor, 4)


def _levels(r: Rng, n: int, names: list[str]) -> list[str]:
    """n draws of names, each name at least once when n allows."""
    vals = [r.pick(names) for _ in range(n)]
    for k, name in enumerate(names[:n]):
        if name not in vals:
            vals[k] = name
    r.shuffle(vals)
    return vals


def _variables(r: Rng, rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    n = len(rows)
    declared: dict[str, list[str]] = {}
    slope = r.u(0.1, 0.8)
    for row in rows:
        x = round(math.exp(r.normal(3.0, 0.5)), 3)
        row["x"] = x
        row["y"] = round(40 + row["eff"] + slope * x + r.normal(0, 5), 3)
    # a binary outcome, sometimes all 0 or all 1 in the whole sample
    p_b = r.pick([0.5, 0.2, 0.05, 0.0, 1.0], [8, 3, 2, 0.4, 0.4])
    for row in rows:
        logit = math.log(p_b / (1 - p_b)) if 0 < p_b < 1 else 0.0
        prob = p_b if p_b in (0.0, 1.0) else 1 / (1 + math.exp(-(logit + 0.08 * row["eff"])))
        row["b"] = 1 if r.u() < prob else 0
    # grouping, factors, domains, weighting margins
    for name, vals in (("grp", _levels(r, n, ["g1", "g2"])),
                       ("f", _levels(r, n, ["f1", "f2", "f3"])),
                       ("ps", _levels(r, n, ["p1", "p2", "p3"][: r.int(2, 3)])),
                       ("rk", _levels(r, n, ["r1", "r2"]))):
        for row, v in zip(rows, vals, strict=True):
            row[name] = v
    cat_levels = ["a", "b", "c"] if r.chance(0.7) else ["lo", "mid", "hi"]
    for row, v in zip(rows, _levels(r, n, cat_levels), strict=True):
        row["cat"] = v
    if r.chance(0.3):
        declared["cat"] = [*sorted(cat_levels), "zz"]         # an unused level
    if r.chance(0.06):
        declared["f"] = ["f1", "f2", "f3", "f4"]               # an unused predictor level
    n_dom = r.int(2, 4)
    doms = _levels(r, n, [f"d{k + 1}" for k in range(n_dom)])
    if r.chance(0.6) and n > 4:                                # a tiny domain: 1-2 rows
        for _ in range(r.int(1, 2)):
            doms[r.int(0, n - 1)] = "dt"
    for row, v in zip(rows, doms, strict=True):
        row["dom"] = v
    if r.chance(0.3):                                          # b constant in domain d1
        const = r.pick([0, 1])
        for row in rows:
            if row["dom"] == "d1":
                row["b"] = const
    # missing values in the outcomes
    if r.chance(0.25):
        share = r.u(0.03, 0.2)
        for row in rows:
            if r.u() < share:
                row["y"] = None
    if r.chance(0.15):
        share = r.u(0.03, 0.15)
        for row in rows:
            if r.u() < share:
                row["b"] = None
    return declared


# ---------------------------------------------------------------------------
# Weighting steps (population totals drawn around the sample's estimates)
# ---------------------------------------------------------------------------
def _cells(rows, var):
    out: dict[str, float] = {}
    for row in rows:
        out[row[var]] = out.get(row[var], 0.0) + row["w"]
    return dict(sorted(out.items()))


def _weighting(r: Rng, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    kind = r.pick(["poststratify", "rake", "calibrate"], [4, 3, 3])
    if kind == "poststratify":
        totals = {k: float(round(v * r.u(0.8, 1.25))) or 1.0 for k, v in _cells(rows, "ps").items()}
        return [{"step": "poststratify", "by": ["ps"], "totals": totals}]
    if kind == "rake":
        N = round(sum(row["w"] for row in rows) * r.u(0.9, 1.1))
        margins = {}
        for var in ("ps", "rk"):
            cells = _cells(rows, var)
            raw = {k: v * r.u(0.8, 1.25) for k, v in cells.items()}
            s = sum(raw.values())
            keys = list(raw)
            tot = {k: float(max(1, round(N * raw[k] / s))) for k in keys[:-1]}
            tot[keys[-1]] = float(N - sum(tot.values()))
            margins[var] = tot
        if min(margins["rk"].values()) <= 0 or min(margins["ps"].values()) <= 0:
            return _weighting(r, rows)
        return [{"step": "rake", "margins": margins, "max_iter": 50, "tol": 1e-7}]
    method = r.pick(["linear", "raking", "logit"], [6, 2.5, 1.5])
    bounds = [0.4, 2.5] if method == "logit" else None
    if method == "linear" and r.chance(0.2):
        bounds = [0.5, 2.0]
    cells = _cells(rows, "ps")
    levels = list(cells)
    W = sum(row["w"] for row in rows)
    # totals near the sample's estimates, so that linear calibration seldom
    # makes a weight negative
    totals = {"(Intercept)": round(W * r.u(0.95, 1.05), 1)}
    for lev in levels[1:]:
        totals[f"ps{lev}"] = round(cells[lev] * r.u(0.93, 1.07), 1)
    totals["x"] = round(sum(row["w"] * row["x"] for row in rows) * r.u(0.95, 1.05), 1)
    names = {"(Intercept)": "Intercept", "x": "x"}
    names.update({f"ps{lev}": f"ps[T.{lev}]" for lev in levels[1:]})
    return [{"step": "calibrate", "formula": "~ps + x", "totals": totals,
             "patsy_names": names, "method": method, "bounds": bounds}]


# ---------------------------------------------------------------------------
# Calls
# ---------------------------------------------------------------------------
def _calls(r: Rng, rows: list[dict[str, Any]], kind: str, declared) -> list[dict[str, Any]]:
    na_y = any(row["y"] is None for row in rows)
    na_b = any(row["b"] is None for row in rows)
    level = 0.9 if r.chance(0.2) else 0.95
    doms = sorted({row["dom"] for row in rows})
    calls: list[dict[str, Any]] = []

    def add(cid: str, fn: str, **kw: Any) -> None:
        calls.append({"id": cid, "fn": fn, **kw})

    add("mean_y", "mean", y=["y"], na_rm=na_y)
    add("total_y", "total", y=["y"], na_rm=na_y)
    add("ratio_y_x", "ratio", y=["y"], denominator=["x"], na_rm=na_y)
    add("mean_cat", "mean", y=["cat"], na_rm=False)
    add("total_cat", "total", y=["cat"], na_rm=False)
    methods = [m for m in PROP_METHODS if not (kind == "replicate" and m == "likelihood")]
    for m in methods:
        add(f"prop_b_{m}", "proportion", y=["b"], method=m, level=level, na_rm=na_b)
    # a domain: usually a real one, sometimes the tiny one or one with no rows
    dom = r.pick(doms)
    if "dt" in doms and r.chance(0.4):
        dom = "dt"
    elif r.chance(0.08):
        dom = "dnone"
    sub = {"column": "dom", "value": dom}
    add("mean_y_dom", "mean", y=["y"], na_rm=na_y, subset=sub)
    add("total_y_dom", "total", y=["y"], na_rm=na_y, subset=sub)
    sub_b = {"column": "dom", "value": "d1"}
    for m in [r.pick(methods), r.pick(methods)]:
        if not any(c["id"] == f"prop_b_d1_{m}" for c in calls):
            add(f"prop_b_d1_{m}", "proportion", y=["b"], method=m, level=level, na_rm=na_b,
                subset=sub_b)
    q = sorted({r.pick([0.1, 0.25, 0.5, 0.75, 0.9]), 0.5,
                r.pick([0.05, 0.25, 0.75, 0.95, 0.0, 1.0], [2, 3, 3, 2, 0.5, 0.5])})
    add("quantile_y", "quantile", y=["y"], q=q, level=level, na_rm=na_y)
    add("by_dom_mean_y", "mean", y=["y"], by=["dom"], na_rm=na_y)
    if r.chance(0.5):
        add("by_dom_total_y", "total", y=["y"], by=["dom"], na_rm=na_y)
    else:
        add("by_grp_ratio_y_x", "ratio", y=["y"], denominator=["x"], by=["grp"], na_rm=na_y)
    add("glm_gaussian", "glm", formula="y ~ x + f", family="gaussian")
    add("glm_binomial", "glm", formula="b ~ x + f", family="binomial")
    if r.chance(0.5):
        add("chisq_cat_grp", "chisq", row="cat", col="grp", na_rm=False)
    else:
        add("chisq_b_f", "chisq", row="b", col="f", na_rm=na_b)
    add("ttest_y_grp", "ttest", y="y", group="grp", na_rm=na_y)
    # R's svyvar (no draws from r here: the designs and the calls above stay as they were)
    add("var_y", "var", y=["y"], statistic="variance", na_rm=na_y)
    add("var_cov_y_x", "var", y=["y", "x"], statistic="covariance", na_rm=na_y)
    add("var_y_dom", "var", y=["y"], statistic="variance", na_rm=na_y, subset=sub)
    return calls


# ---------------------------------------------------------------------------
# One design
# ---------------------------------------------------------------------------
def make_design(seed: int) -> dict[str, Any]:
    """The design of one seed: a JSON-able dict with the data (column lists),
    the design, replicate and weighting specifications and the calls."""
    r = Rng(seed)
    kind = r.pick(["linearization", "replicate"], [6, 4])
    method = r.pick(list(REPLICATE_METHODS)) if kind == "replicate" else None
    st = _structure(r, kind, method)
    rows, design = _sample(r, st)
    _weights(r, rows, st)
    declared = _variables(r, rows)
    if kind == "linearization" and r.chance(0.15):
        design["probs"] = "p"
        for row in rows:
            row["p"] = 1.0 / row["w"]
    else:
        design["weights"] = "w"
    if r.chance(0.5):
        r.shuffle(rows)
    replicate = None
    if kind == "replicate":
        replicate = {"method": method, "mse": r.chance(0.3),
                     "rho": r.pick([0.3, 0.5]) if method == "fay" else None,
                     "replicates": r.int(20, 40) if method == "bootstrap" else None}
    weighting = _weighting(r, rows) if r.chance(0.3) else []
    calls = _calls(r, rows, kind, declared)
    columns = [c for c in ("h", "c1", "c2", "c3", "N1", "N2", "N3", "f1", "f2", "f3", "w", "p")
               if c in rows[0]]
    if design["strata"] is None:
        columns = [c for c in columns if c != "h"]
    columns += ["y", "x", "b", "grp", "f", "cat", "dom", "ps", "rk"]
    return {"seed": seed, "kind": kind, "design": design, "replicate": replicate,
            "weighting": weighting, "levels": declared, "calls": calls,
            "data": {c: [row[c] for row in rows] for c in columns}}


def write_designs(path: Path, seeds) -> None:
    """One JSON object, one design per line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(make_design(s), separators=(",", ":")) for s in seeds]
    with open(path, "w") as fh:
        fh.write('{"generated_by":"tests/reference/random_designs.py",'
                 f'"format":{FORMAT},"designs":[\n')
        fh.write(",\n".join(lines))
        fh.write("\n]}\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=N_STORED, help="number of designs")
    ap.add_argument("--start", type=int, default=1, help="first seed")
    ap.add_argument("--out", type=Path, default=None,
                    help="directory for designs.json (default: the stored set)")
    args = ap.parse_args(argv)
    path = STORED if args.out is None else args.out / "designs.json"
    write_designs(path, range(args.start, args.start + args.n))
    print(f"wrote {args.n} designs to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
