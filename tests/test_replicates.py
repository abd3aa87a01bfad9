"""Replicate designs: identities, bootstrap behaviour and bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import innobaro as ib


def paired(n_strata: int = 9, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = n_strata * 2 * 5
    return pd.DataFrame({"h": np.repeat(np.arange(n_strata), 10),
                         "psu": np.repeat(np.arange(n_strata * 2), 5),
                         "w": rng.uniform(1, 5, n), "y": rng.normal(10, 3, n),
                         "x": rng.uniform(1, 2, n)})


@pytest.mark.parametrize("n_strata", [3, 7, 9, 12, 19, 22])
def test_balanced_brr_equals_linearisation_for_a_total(n_strata: int) -> None:
    """Fully balanced BRR reproduces the with-replacement variance of a linear
    statistic exactly (McCarthy 1969), whatever the Hadamard order."""
    d = ib.Design(paired(n_strata), weights="w", strata="h", psu="psu")
    lin = ib.total(d, ["y", "x"]).vcov.to_numpy()
    brr = ib.total(d.replicate("brr"), ["y", "x"]).vcov.to_numpy()
    np.testing.assert_allclose(brr, lin, rtol=1e-10)


def test_fay_equals_linearisation_for_a_total() -> None:
    d = ib.Design(paired(), weights="w", strata="h", psu="psu")
    np.testing.assert_allclose(ib.total(d.replicate("fay", rho=0.3), "y").se,
                               ib.total(d, "y").se, rtol=1e-10)


def test_jk1_mean_under_srs_is_s2_over_n() -> None:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"y": rng.normal(size=40), "w": 1.0})
    rd = ib.Design(df, weights="w").replicate("jk1")
    assert ib.mean(rd, "y").se.iloc[0] == pytest.approx(df["y"].std(ddof=1) / np.sqrt(40),
                                                          rel=1e-12)


def test_jkn_total_equals_linearisation() -> None:
    """The stratified jackknife is exact for a total (Wolter 2007, sec. 4.5)."""
    d = ib.Design(paired(), weights="w", strata="h", psu="psu")
    np.testing.assert_allclose(ib.total(d.replicate("jkn"), "y").se, ib.total(d, "y").se,
                               rtol=1e-10)


def test_bootstrap_same_seed_same_weights_and_no_global_state() -> None:
    d = ib.Design(paired(), weights="w", strata="h", psu="psu")
    state = np.random.get_state()[1].copy()  # noqa: NPY002 (checking it is untouched)
    a = d.replicate("bootstrap", replicates=20, seed=42).replicate_weights
    b = d.replicate("bootstrap", replicates=20, seed=42).replicate_weights
    c = d.replicate("bootstrap", replicates=20, seed=43).replicate_weights
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # noqa: NPY002


def test_bootstrap_variance_converges_to_linearisation() -> None:
    """With R replicates the bootstrap variance has relative standard error
    about sqrt(2/(R-1)) (a chi-square with R-1 df); with R = 4000 that is
    0.022, so the variances agree within 10% (4.5 standard errors)."""
    d = ib.Design(paired(), weights="w", strata="h", psu="psu")
    boot = ib.mean(d.replicate("bootstrap", replicates=4000, seed=7), "y").se.iloc[0] ** 2
    lin = ib.mean(d, "y").se.iloc[0] ** 2
    assert boot == pytest.approx(lin, rel=0.10)


def test_with_replicates_matches_the_estimator() -> None:
    d = ib.Design(paired(), weights="w", strata="h", psu="psu").replicate("jkn")
    def ratio(W, data):
        return (W * data["y"].to_numpy()[:, None]).sum(0) / W.sum(0)
    est = ib.with_replicates(d, lambda w, data: ratio(w[:, None], data)[0], names=["m"])
    vec = ib.with_replicates(d, lambda W, data: ratio(W, data)[:, None], vectorized=True)
    ref = ib.mean(d, "y")
    np.testing.assert_allclose(est.se.to_numpy(), ref.se.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(vec.se.to_numpy(), ref.se.to_numpy(), rtol=1e-12)


def test_df_rank_and_explicit() -> None:
    d = ib.Design(paired(), weights="w", strata="h", psu="psu")
    rd = d.replicate("jkn")
    assert rd.df == d.df  # rank - 1 = PSUs - strata for JKn
    assert rd.with_df(30).df == 30
    assert ib.mean(rd.with_df(30), "y").df == 30


def test_domains_on_replicate_designs_zero_outside() -> None:
    df = paired()
    df["g"] = np.where(df["y"] > 10, "a", "b")
    rd = ib.Design(df, weights="w", strata="h", psu="psu").replicate("jkn")
    by = ib.mean(rd, "y", by="g")
    sub = ib.mean(rd.subset(df["g"] == "a"), "y")
    assert by.estimate.iloc[0] == pytest.approx(sub.estimate.iloc[0], rel=1e-12)
    assert by.se.iloc[0] == pytest.approx(sub.se.iloc[0], rel=1e-12)


# ---------------------------------------------------------------- bad input
def frame_with_reps() -> pd.DataFrame:
    df = paired()
    rd = ib.Design(df, weights="w", strata="h", psu="psu").replicate("jkn")
    return pd.concat([df, rd.replicate_weights], axis=1), list(rd.replicate_weights.columns)


def test_missing_and_non_numeric_replicate_columns() -> None:
    df, cols = frame_with_reps()
    with pytest.raises(ib.DesignError, match="'nope'"):
        ib.ReplicateDesign(df, weights="w", replicate_weights=[*cols, "nope"], method="jkn",
                           rscales=np.ones(len(cols) + 1))
    df = df.assign(txt="a")
    with pytest.raises(ib.DesignError, match="'txt'"):
        ib.ReplicateDesign(df, weights="w", replicate_weights=["txt"], method="other")


def test_negative_and_zero_replicate_weights() -> None:
    df, cols = frame_with_reps()
    bad = df.copy()
    bad.loc[0, cols[0]] = -1.0
    with pytest.raises(ib.DesignError, match=cols[0]):
        ib.ReplicateDesign(bad, weights="w", replicate_weights=cols, method="other")
    zero = df.copy()
    zero[cols[1]] = 0.0
    with pytest.warns(ib.InnobaroWarning, match=cols[1]):
        ib.ReplicateDesign(zero, weights="w", replicate_weights=cols, method="other",
                           scale=1.0, rscales=1.0)


def test_rscales_wrong_length() -> None:
    df, cols = frame_with_reps()
    with pytest.raises(ib.DesignError, match="rscales has 3 values"):
        ib.ReplicateDesign(df, weights="w", replicate_weights=cols, method="jkn",
                           rscales=[1, 2, 3])


def test_brr_needs_two_psus_per_stratum_naming_strata() -> None:
    df = paired()
    df.loc[df["psu"] == 1, "psu"] = 0  # stratum 0 now has one PSU
    d = ib.Design(df, weights="w", strata="h", psu="psu", lonely_psu="remove")
    with pytest.raises(ib.DesignError, match="strata 0 have 1"):
        d.replicate("brr")


def test_fay_rho() -> None:
    d = ib.Design(paired(), weights="w", strata="h", psu="psu")
    with pytest.raises(ib.DesignError, match="needs rho"):
        d.replicate("fay")
    with pytest.raises(ib.DesignError, match=r"\[0, 1\)"):
        d.replicate("fay", rho=1.0)
    df, cols = frame_with_reps()
    with pytest.raises(ib.DesignError, match="rho"):
        ib.ReplicateDesign(df, weights="w", replicate_weights=cols, method="fay")


def test_unknown_method() -> None:
    df, cols = frame_with_reps()
    with pytest.raises(ib.DesignError, match="method must be one of"):
        ib.ReplicateDesign(df, weights="w", replicate_weights=cols, method="jackknife")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ib.DesignError, match="method must be one of"):
            ib.Design(paired(), weights="w", strata="h", psu="psu").replicate("jackknife")


def test_logit_interval_warns_when_a_replicate_proportion_is_0_or_1() -> None:
    # a jackknife replicate that drops the one 0 leaves a share of 1: its
    # logit is infinite, left out of the logit variance, and the user is told
    df = pd.DataFrame({"psu": range(10), "w": 1.0, "y": [1.0, 0, 1, 1, 1, 1, 1, 1, 1, 1]})
    d = ib.Design(df, weights="w", psu="psu").replicate("jk1")
    with pytest.warns(ib.InnobaroWarning) as caught:
        ib.proportion(d, "y", method="logit")
    messages = [str(w.message) for w in caught]
    assert any("replicate proportion is 0 or 1 (y: 1 replicate(s))" in m for m in messages)
    assert any("1 of 10 replicates gave no estimate" in m for m in messages)
