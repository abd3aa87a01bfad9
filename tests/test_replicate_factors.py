"""Replicate designs built by innobaro hold their replicates as unit factors
(``ReplicateFactors``: (units, R) factors and each row's unit) and make the
(n, R) matrix only when code asks for it. Checked here: the matrix is the
one built directly, to the last bit; the factor paths (replicate domain
means and proportions, the rank degrees of freedom) equal the (n, R) paths
on every replicate method, with domains and subsets; reweighting and given
columns hold (n, R); a built design at 1e6 x 80 takes a few megabytes until
something needs the matrix; pickles leave the matrix out.
"""

from __future__ import annotations

import pickle
import tracemalloc
import warnings

import numpy as np
import pandas as pd
import pytest

import innobaro as ib
from innobaro.design import ReplicateFactors
from innobaro.replicate_weights import make_replicate_weights, mrb_multipliers, sdr_multipliers
from innobaro.variance.replicates import factor_rank_df, replicate_rank_df


def _frame(seed: int, n_strata: int, psus: int, rows: int, *, fpc: bool = False
           ) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    h = np.repeat(np.arange(n_strata), psus * rows)
    psu = np.repeat(np.arange(n_strata * psus), rows)
    ssu = np.repeat(np.arange(n_strata * psus * 2), (rows + 1) // 2)[:psu.size]
    n = psu.size
    df = pd.DataFrame({
        "h": h, "psu": psu, "ssu": ssu,
        "w": rng.uniform(1, 5, n) * (rng.random(n) > 0.05),  # some zero weights
        "y": rng.normal(10, 3, n), "x": rng.gamma(2.0, 1.0, n),
        "g": rng.choice(list("abcd"), n, p=[0.4, 0.3, 0.2, 0.1]),
        "flag": rng.random(n) < 0.3,
    })
    if fpc:
        df["N1"] = psus * 3.0
        df["N2"] = 2 * 4.0
    return df


def _designs() -> dict[str, ib.ReplicateDesign]:
    strat = ib.Design(_frame(1, 6, 4, 5), weights="w", strata="h", psu="psu")
    unstrat = ib.Design(_frame(2, 1, 12, 8), weights="w", psu="psu")
    pairs = ib.Design(_frame(3, 7, 2, 6), weights="w", strata="h", psu="psu")
    fpc = _frame(4, 4, 4, 6, fpc=True)
    multi = ib.Design(fpc, weights="w", strata="h", psu=["psu", "ssu"], fpc=["N1", "N2"])
    with pytest.warns(ib.InnobaroWarning, match="successive-difference"):
        sdr = multi.replicate("sdr", replicates=12, sort="x")
    return {
        "jk1": unstrat.replicate("jk1"),
        "jkn": strat.replicate("jkn"),
        "brr": pairs.replicate("brr"),
        "fay": pairs.replicate("fay", rho=0.3),
        "bootstrap": strat.replicate("bootstrap", replicates=30, seed=5),
        "subbootstrap": strat.replicate("subbootstrap", replicates=25, seed=6),
        "mrbbootstrap": multi.replicate("mrbbootstrap", replicates=20, seed=7),
        "sdr": sdr,
        "jkn mse": strat.replicate("jkn", mse=True),
    }


DESIGNS = _designs()


def _as_matrix(rd: ib.ReplicateDesign) -> ib.ReplicateDesign:
    """The same design holding its replicates as an (n, R) matrix."""
    out = rd.with_weights(rd.unmasked_weights, np.array(rd.unmasked_replicate_weights))
    assert out.replicate_factors is None
    return out


def _same(a: ib.Estimate, b: ib.Estimate) -> None:
    """Equal to 1e-12: relative for the estimates and the standard errors
    (those above 1e-6 of the largest), and relative to the largest variance for
    the covariance matrix: a domain mean whose replicates all equal it (one
    row, a constant) has a variance of rounding, 0 in one order of summation
    and 1e-17 in the other."""
    np.testing.assert_allclose(a.estimate, b.estimate, rtol=1e-12)
    Va, Vb = a.vcov.to_numpy(), b.vcov.to_numpy()
    np.testing.assert_allclose(Va, Vb, rtol=1e-12, atol=1e-12 * np.nanmax(np.diag(Vb)))
    assert (np.isnan(Va) == np.isnan(Vb)).all()
    real = np.asarray(b.se) > 1e-6 * np.nanmax(np.asarray(b.se))
    np.testing.assert_allclose(np.asarray(a.se)[real], np.asarray(b.se)[real], rtol=1e-12)
    np.testing.assert_array_equal(a.df_values, b.df_values)


@pytest.mark.parametrize("name", list(DESIGNS))
def test_built_designs_hold_factors_and_the_matrix_is_the_direct_one(name: str) -> None:
    rd = DESIGNS[name]
    held = rd.replicate_factors
    assert isinstance(held, ReplicateFactors)
    assert held.shape == (rd.n, rd.n_replicates)
    assert held.factors.shape[0] < rd.n  # one row per unit, not per row
    W = rd.unmasked_replicate_weights
    assert W is rd.unmasked_replicate_weights  # made once
    assert not W.flags.writeable and not held.factors.flags.writeable
    # the same numbers, to the last bit, as multiplying the row multipliers
    d = ib.Design(rd.data, weights="w", strata=None if name == "jk1" else "h",
                  psu=["psu", "ssu"] if name in ("mrbbootstrap", "sdr") else "psu",
                  fpc=["N1", "N2"] if name in ("mrbbootstrap", "sdr") else None)
    if name == "mrbbootstrap":
        mult = mrb_multipliers(d, 20, 7)
    elif name == "sdr":
        with pytest.warns(ib.InnobaroWarning):
            mult = sdr_multipliers(d, "x", 12)
    else:
        method = name.split()[0]
        kw = {"rho": 0.3} if method == "fay" else {}
        seed = {"bootstrap": 5, "subbootstrap": 6}.get(method)
        reps = {"bootstrap": 30, "subbootstrap": 25}.get(method)
        mult = make_replicate_weights(d, method, replicates=reps, seed=seed, **kw)[0][
            d.stages[0].unit]
    np.testing.assert_array_equal(W, mult * d.unmasked_weights[:, None])


@pytest.mark.parametrize("name", list(DESIGNS))
def test_factor_path_equals_the_matrix_path(name: str) -> None:
    rd = DESIGNS[name]
    full = _as_matrix(rd)
    calls = [
        lambda d: ib.mean(d, ["y", "x"]),
        lambda d: ib.mean(d, "y", by="g"),
        lambda d: ib.mean(d, ["y", "x"], by=["g", "flag"]),
        lambda d: ib.proportion(d, "flag", by="g"),
        lambda d: ib.mean(d, "g"),
        lambda d: ib.mean(d.subset(d.data["x"] > 1.5), "y", by="g"),
        lambda d: ib.mean(d.subset(d.data["g"] == "d"), "y"),
        lambda d: ib.quantile(d, "y", [0.25, 0.5]),
    ]
    for call in calls:
        with warnings.catch_warnings():  # replicates with a proportion of 0 or 1
            warnings.simplefilter("ignore", ib.InnobaroWarning)
            _same(call(rd), call(full))
    assert rd.df == full.df
    assert rd.subset(rd.data["g"] == "d").df == full.subset(full.data["g"] == "d").df


def test_the_factor_path_does_not_make_the_matrix() -> None:
    d = ib.Design(_frame(8, 5, 4, 5), weights="w", strata="h", psu="psu")
    rd = d.replicate("bootstrap", replicates=40, seed=2)
    held = rd.replicate_factors
    assert held is not None
    ib.mean(rd, "y", by="g")
    ib.proportion(rd.subset(rd.data["x"] > 1), "flag", by="g", method="beta")
    ib.mean(rd.subset(rd.data["x"] > 1), ["y", "g"], by="flag")
    assert held._full is None  # the lazy matrix is not made
    assert rd.unmasked_replicate_weights is held._full is not None


def test_reweighting_and_given_columns_hold_the_matrix() -> None:
    rd = DESIGNS["jkn"]
    ps = rd.poststratify("g", rd.data.groupby("g")["w"].sum() * 1.1)
    assert ps.replicate_factors is None
    assert ps.unmasked_replicate_weights.shape == (rd.n, rd.n_replicates)
    W = pd.DataFrame(np.asarray(rd.unmasked_replicate_weights),
                     columns=[f"r{j}" for j in range(rd.n_replicates)])
    given = ib.ReplicateDesign(pd.concat([rd.data.reset_index(drop=True), W], axis=1),
                               weights="w", replicate_weights=list(W.columns), method="jkn",
                               rscales=rd.rscales)
    assert given.replicate_factors is None
    _same(ib.mean(given, "y", by="g"), ib.mean(rd, "y", by="g"))
    # a subset and new columns share the factors (and the matrix once made)
    assert rd.subset(rd.data["flag"]).replicate_factors is rd.replicate_factors
    assert rd.with_columns(z=rd.data["y"] * 2).replicate_factors is rd.replicate_factors


@pytest.mark.parametrize("seed", range(12))
def test_rank_from_factors_equals_the_rank_of_the_weights(seed: int) -> None:
    """R's rank rule on w_i F_{u(i)} over a domain's rows equals the rule on
    the (units, R) matrix of rows sqrt(sum w_i^2) F_u: random factors (with
    repeated, proportional and near-dependent columns), weights with zeros,
    domains with no rows or only zero weights."""
    rng = np.random.default_rng(seed)
    U = int(rng.integers(3, 40))
    R = int(rng.integers(2, 30))
    n = int(rng.integers(U, 8 * U))
    F = rng.choice([0.0, 0.5, 1.0, 2.0], (U, R)) if seed % 3 == 0 else rng.gamma(2, 1, (U, R))
    if R > 3:
        F[:, 1] = F[:, 0]  # identical columns
        F[:, 2] = 3 * F[:, 0]  # proportional
        F[:, 3] = F[:, 0] + 1e-7 * rng.standard_normal(U) * (seed % 2)  # near the cut
    unit = rng.integers(0, U, n)
    w = rng.uniform(0.1, 1e3, n) * (rng.random(n) > 0.2)
    n_domains = 5
    domain = rng.integers(-1, n_domains - 1, n)  # domain 4 has no rows
    domain[(domain == 3) & (rng.random(n) < 0.5)] = -1
    w[domain == 3] = np.where(seed % 2, 0.0, w[domain == 3])  # all zero, some seeds
    W = F[unit] * w[:, None]
    expect = [replicate_rank_df(W, np.flatnonzero(domain == d)) for d in range(n_domains)]
    got = factor_rank_df(F, unit, w, domain, n_domains)
    np.testing.assert_array_equal(got, expect)
    assert np.isnan(got[4])


def test_rank_from_factors_with_many_cells() -> None:
    """More (domain, unit) cells than rows: the cells with rows only."""
    rng = np.random.default_rng(3)
    U, R, n = 5000, 20, 3000
    F = rng.gamma(2, 1, (U, R))
    unit = rng.integers(0, U, n)
    w = rng.uniform(1, 2, n)
    domain = rng.integers(0, 30, n)
    W = F[unit] * w[:, None]
    expect = [replicate_rank_df(W, np.flatnonzero(domain == d)) for d in range(30)]
    np.testing.assert_array_equal(factor_rank_df(F, unit, w, domain, 30), expect)
    held = ReplicateFactors(F, unit, w)
    Y = rng.normal(size=(n, 2))
    dom = np.where(rng.random(n) < 0.1, -1, domain)
    T = held.domain_totals(Y, dom, 30)
    direct = np.stack([W[dom == d].T @ Y[dom == d] for d in range(30)], axis=1)
    np.testing.assert_allclose(T, direct, rtol=1e-12)


def test_pickle_leaves_the_matrix_out() -> None:
    rd = DESIGNS["bootstrap"]
    assert rd.unmasked_replicate_weights is rd.unmasked_replicate_weights  # made and kept
    back = pickle.loads(pickle.dumps(rd))
    held = back.replicate_factors
    assert held is not None and held._full is None
    assert not held.factors.flags.writeable and not held.unit.flags.writeable
    np.testing.assert_array_equal(back.unmasked_replicate_weights,
                                  rd.unmasked_replicate_weights)
    _same(ib.mean(back, "y", by="g"), ib.mean(rd, "y", by="g"))


def test_a_built_design_at_a_million_rows_and_80_replicates_takes_a_few_megabytes() -> None:
    n, psus = 1_000_000, 2000
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"h": np.repeat(np.arange(100), n // 100),
                       "psu": np.repeat(np.arange(psus), n // psus),
                       "w": rng.uniform(1, 3, n), "y": rng.normal(size=n),
                       "g": rng.integers(0, 5, n)})
    d = ib.Design(df, weights="w", strata="h", psu="psu")
    ib.mean(d, "y", by="g")  # the design's domain codes, cached and shared
    tracemalloc.start()
    try:
        rd = d.replicate("bootstrap", replicates=80, seed=1)
        built, peak_build = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        est = ib.mean(rd, "y", by="g")
        _, peak_mean = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    matrix = n * 80 * 8  # 640 MB
    assert built < 5e6 and peak_build < 3e7, (built, peak_build)  # the factors: 1.3 MB
    assert peak_mean < matrix / 8, peak_mean
    assert np.isfinite(est.se).all() and est.df_values.tolist() == [79.0] * 5


def test_a_design_pickled_before_factors_unpickles() -> None:
    """A pickle of a replicate design from before this storage (no factors
    field, the (n, R) matrix only) gives the same design."""
    rd = _as_matrix(DESIGNS["jkn"])
    state = dict(rd.__dict__)
    del state["_factors"]
    old = object.__new__(ib.ReplicateDesign)
    old.__setstate__(state)
    assert old.replicate_factors is None
    _same(ib.mean(old, "y", by="g"), ib.mean(rd, "y", by="g"))
