"""Replicate designs: identities, bootstrap behaviour and bad input."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

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


# ----------------------------------------------------------------------------
# Preston's multistage rescaled bootstrap (ib.mrb_bootstrap)
# ----------------------------------------------------------------------------
def two_stage(seed: int = 5) -> pd.DataFrame:
    """Stratified two-stage sample with fpc at both stages (3 strata; 4, 5 and
    2 PSUs; 2 to 5 units per PSU)."""
    rng = np.random.default_rng(seed)
    rows = []
    for h, (n_psu, N1) in enumerate([(4, 10), (5, 8), (2, 40)]):
        for p in range(n_psu):
            n2 = 2 + (p + h) % 4
            N2 = n2 + 3 * p + 1
            for _ in range(n2):
                rows.append({"h": h, "psu": f"{h}-{p}", "N1": N1, "N2": N2,
                             "w": N1 / n_psu * N2 / n2, "y": rng.normal(20 + 3 * p, 4)})
    return pd.DataFrame(rows)


def preston_values(df: pd.DataFrame) -> tuple[list[set[float]], np.ndarray]:
    """Each row's possible multipliers from Preston's (2009) formula, by hand:
    1 + l1 (n1/n1* k1 - 1) + sqrt(n1/n1*) k1 l2 (n2/n2* k2 - 1), k1, k2 in {0, 1},
    with l1 = sqrt(n1* (1 - f1)/(n1 - n1*)), l2 = sqrt(f1 n2* (1 - f2)/(n2 - n2*))."""
    n1 = df.groupby("h")["psu"].transform("nunique").to_numpy()
    n2 = df.groupby("psu")["psu"].transform("size").to_numpy()
    f1, f2 = n1 / df["N1"].to_numpy(), n2 / df["N2"].to_numpy()
    s1, s2 = n1 // 2, n2 // 2
    l1 = np.sqrt(s1 * (1 - f1) / (n1 - s1))
    l2 = np.sqrt(f1 * s2 * (1 - f2) / (n2 - s2))
    out = []
    for i in range(len(df)):
        vals = {1 - l1[i]}  # k1 = 0: later stages contribute nothing
        for k2 in (0, 1):
            vals.add(1 + l1[i] * (n1[i] / s1[i] - 1)
                     + np.sqrt(n1[i] / s1[i]) * l2[i] * (n2[i] / s2[i] * k2 - 1))
        out.append({round(v, 10) for v in vals})
    return out, 1 - l1


def mrb_design(df: pd.DataFrame) -> ib.Design:
    return ib.Design(df, weights="w", strata="h", psu=["psu", "unit_id"], fpc=["N1", "N2"])


def test_mrb_factors_follow_preston_formula() -> None:
    from innobaro.replicate_weights import mrb_multipliers

    df = two_stage().assign(unit_id=lambda d: np.arange(len(d)))
    d = mrb_design(df)
    mult = mrb_multipliers(d, replicates=400, seed=11)
    expected, low = preston_values(df)
    for i in range(len(df)):
        assert {round(v, 10) for v in mult[i]} == expected[i], f"row {i}"
    # each replicate keeps exactly floor(n/2) PSUs per stratum: the others
    # have the multiplier 1 - lambda_1 in every row
    first = ~df.duplicated("psu").to_numpy()
    n1 = df.groupby("h")["psu"].nunique().to_numpy()
    at_low = pd.DataFrame(np.isclose(mult, low[:, None], rtol=1e-12, atol=0))
    out = at_low.groupby(df["psu"].to_numpy(), sort=False).all()
    up = ~out.to_numpy()
    kept = pd.DataFrame(up).groupby(df["h"].to_numpy()[first]).sum().to_numpy()
    np.testing.assert_array_equal(kept, np.repeat((n1 // 2)[:, None], 400, axis=1))


def _mc_band(totals: np.ndarray) -> tuple[float, float]:
    """Bootstrap variance of replicate totals and its Monte Carlo standard
    error, sqrt((m4 - v^2 (B - 3)/(B - 1)) / B) (the variance of a sample variance)."""
    B = totals.size
    dev = totals - totals.mean()
    v = dev @ dev / (B - 1)
    m4 = np.mean(dev ** 4)
    return v, float(np.sqrt((m4 - v ** 2 * (B - 3) / (B - 1)) / B))


def test_mrb_variance_converges_to_multistage_linearisation() -> None:
    """E*[v_boot] is the without-replacement multistage variance of a total
    (Preston 2009): with 20000 replicates the bootstrap variance is within
    4 Monte Carlo standard errors of it (about 1% here)."""
    df = two_stage().assign(unit_id=lambda d: np.arange(len(d)))
    d = mrb_design(df)
    lin = float(ib.total(d, "y").vcov.iloc[0, 0])
    rd = ib.mrb_bootstrap(d, replicates=20000, seed=2026)
    totals = rd.unmasked_replicate_weights.T @ df["y"].to_numpy()
    v, se = _mc_band(totals)
    assert abs(v - lin) < 4 * se and se < 0.02 * lin
    # the estimators' replicate variance is the variance of these totals
    few = ib.mrb_bootstrap(d, replicates=200, seed=1)
    v200, _ = _mc_band(few.unmasked_replicate_weights.T @ df["y"].to_numpy())
    assert float(ib.total(few, "y").vcov.iloc[0, 0]) == pytest.approx(v200, rel=1e-10)


MRB = json.loads((Path(__file__).parent / "reference" / "mrb.json").read_text())["cases"]


@pytest.mark.parametrize("case", MRB, ids=[c["id"] for c in MRB])
def test_mrb_against_r_mrbbootstrap(case: dict) -> None:
    """R's draws cannot be reproduced: the same per-row multiplier values (the
    structure), the same linearised variance (1e-8), and bootstrap variances of
    the totals within 4 combined Monte Carlo standard errors of R's, whose own
    Monte Carlo errors (the spread of the replicate variance) agree within 30%."""
    data = pd.read_csv(Path(__file__).parent / "reference" / "data" / f"{case['data']}.csv")
    spec = case["design"]
    d = ib.Design(data, weights=spec["weights"], strata=spec["strata"], psu=spec["psu"],
                  fpc=spec["fpc"], nest=spec["nest"])
    B = case["replicates"]
    rd = ib.mrb_bootstrap(d, replicates=B, seed=99)
    mult = rd.unmasked_replicate_weights / d.unmasked_weights[:, None]
    for i, values in enumerate(case["values"]):
        ours = np.unique(np.round(mult[i], 8))
        np.testing.assert_allclose(ours, np.round(values, 8), rtol=1e-8, err_msg=f"row {i}")
    for var, lin in case["linearized"].items():
        est = ib.total(d, var)
        assert est.estimate.iloc[0] == pytest.approx(lin["total"], rel=1e-8)
        assert est.vcov.iloc[0, 0] == pytest.approx(lin["variance"], rel=1e-8)
        v_r, se_r = _mc_band(np.asarray(case["totals"][var]))
        v_i, se_i = _mc_band(rd.unmasked_replicate_weights.T @ data[var].to_numpy())
        assert abs(v_i - v_r) < 4 * np.hypot(se_r, se_i), var
        assert 0.7 < se_i / se_r < 1.3, var


def test_mrb_seeded_no_global_state_and_bad_input() -> None:
    df = two_stage().assign(unit_id=lambda d: np.arange(len(d)))
    d = mrb_design(df)
    state = np.random.get_state()[1].copy()  # noqa: NPY002 (checking it is untouched)
    a = ib.mrb_bootstrap(d, replicates=30, seed=7).unmasked_replicate_weights
    b = ib.mrb_bootstrap(d, replicates=30,
                         seed=np.random.default_rng(7)).unmasked_replicate_weights
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # noqa: NPY002
    assert not np.array_equal(a, ib.mrb_bootstrap(d, replicates=30, seed=8)
                              .unmasked_replicate_weights)
    for bad in (1, 0, 2.5):
        with pytest.raises(ib.DesignError, match="replicates must be an integer"):
            ib.mrb_bootstrap(d, replicates=bad)  # type: ignore[arg-type]
    # Design.replicate builds the same designs as the two functions
    via = d.replicate("mrbbootstrap", replicates=30, seed=7)
    assert via.method == "mrbbootstrap" and via.scale == pytest.approx(1 / 29)
    np.testing.assert_array_equal(via.unmasked_replicate_weights, a)
    sdr = d.replicate("sdr", sort="unit_id", replicates=8, mse=True)
    np.testing.assert_array_equal(
        sdr.unmasked_replicate_weights,
        ib.sdr_replicates(d, sort="unit_id", replicates=8).unmasked_replicate_weights)
    assert sdr.method == "sdr" and sdr.scale == pytest.approx(4 / 8)
    assert list(sdr.data.columns) == list(d.data.columns)  # no columns added
    with pytest.raises(ib.DesignError, match="sort= is for method='sdr'"):
        d.replicate("jk1", sort="unit_id")


def test_mrb_without_fpc_uses_first_stage_and_keeps_domain() -> None:
    df = two_stage().assign(unit_id=lambda d: np.arange(len(d)))
    d = ib.Design(df, weights="w", strata="h", psu=["psu", "unit_id"])
    from innobaro.replicate_weights import mrb_multipliers
    m = mrb_multipliers(d, replicates=50, seed=1)
    # no fpc: lambda_1 = sqrt(n*/(n - n*)), constant within a PSU (stage 2 unused)
    assert (pd.DataFrame(m).groupby(df["psu"].to_numpy()).nunique() == 1).all().all()
    sub = mrb_design(df).subset(df["h"].to_numpy() == 1)
    rd = ib.mrb_bootstrap(sub, replicates=20, seed=1)
    assert rd.present.sum() == (df["h"] == 1).sum()


# ----------------------------------------------------------------------------
# successive-difference replication (ib.sdr_replicates)
# ----------------------------------------------------------------------------
def test_sdr_factors_by_hand() -> None:
    """f_ir = 1 + 2^(-3/2) H[a(i), r] - 2^(-3/2) H[b(i), r] with Sylvester's H4
    written out, rows (1,2), (2,3), (3,1) for three units (circular)."""
    from innobaro.replicate_weights import hadamard_of_order, sdr_factors

    H4 = np.array([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]])
    np.testing.assert_array_equal(hadamard_of_order(4), H4)
    c = 2 ** -1.5
    expected = np.array([[1, 1 + 2 * c, 1, 1 + 2 * c],
                         [1, 1 - 2 * c, 1 + 2 * c, 1],
                         [1, 1, 1 - 2 * c, 1 - 2 * c]])
    np.testing.assert_allclose(sdr_factors(3, 4), expected, rtol=1e-15)
    # n > R: the cyclic assignment (1,2), (2,3), (3,4), (4,1), repeated
    F = sdr_factors(10, 4)
    np.testing.assert_array_equal(F[:4], F[4:8])
    np.testing.assert_allclose(F[3], 1 + c * (H4[3] - H4[0]), rtol=1e-15)
    assert set(np.round(F, 12).ravel()) == {round(1 - 2 ** -0.5, 12), 1.0,
                                            round(1 + 2 ** -0.5, 12)}


@pytest.mark.parametrize("order", [2, 4, 8, 12, 16, 20, 24, 32, 40, 44, 48, 60, 68, 72, 80, 84])
def test_hadamard_of_order(order: int) -> None:
    from innobaro.replicate_weights import hadamard_of_order

    S = hadamard_of_order(order).astype(int)
    assert S.shape == (order, order) and set(np.unique(S)) == {-1, 1}
    np.testing.assert_array_equal(S @ S.T, order * np.eye(order, dtype=int))


@pytest.mark.parametrize("n, R", [(37, 40), (80, 80), (12, 80)])
def test_sdr_equals_circular_successive_difference_variance(n: int, R: int) -> None:
    """Full SDR (n <= R) of a systematic sample: the replicate variance of a mean
    is (1/(2 n^2)) sum_i (y_i - y_{i-1})^2 with y_0 = y_n, exactly (Fay and
    Train 1995; the successive-difference estimator of Wolter 2007, ch. 8)."""
    rng = np.random.default_rng(n)
    order = rng.permutation(n)
    df = pd.DataFrame({"pos": order, "w": 25.0, "y": rng.normal(50, 10, n)})
    rd = ib.sdr_replicates(ib.Design(df, weights="w"), sort="pos", replicates=R)
    y = df.sort_values("pos")["y"].to_numpy()
    v = np.sum((y - np.roll(y, 1)) ** 2) / (2 * n ** 2)
    assert ib.mean(rd, "y").vcov.iloc[0, 0] == pytest.approx(v, rel=1e-12)
    assert rd.method == "sdr" and rd.scale == pytest.approx(4 / R) and rd.mse
    # the total: (1/2) sum of squared differences of the weighted values
    assert ib.total(rd, "y").vcov.iloc[0, 0] == pytest.approx(625 * n ** 2 * v, rel=1e-12)


def test_sdr_clusters_sort_columns_and_domain() -> None:
    df = two_stage()
    d = ib.Design(df, weights="w", strata="h", psu="psu")
    rd = ib.sdr_replicates(d, sort=["h", "psu"], replicates=12)
    factors = rd.unmasked_replicate_weights / df["w"].to_numpy()[:, None]
    # one factor per PSU, and PSUs in sort order take successive row pairs
    assert (pd.DataFrame(factors).groupby(df["psu"].to_numpy()).nunique() == 1).all().all()
    from innobaro.replicate_weights import sdr_factors
    first = ~df.duplicated("psu").to_numpy()
    np.testing.assert_allclose(factors[first], sdr_factors(11, 12), rtol=1e-15)
    sub = ib.sdr_replicates(d.subset(df["h"].to_numpy() == 0), replicates=12)
    assert sub.present.sum() == (df["h"] == 0).sum()
    assert "h" in rd.data.columns and "y" not in d.data.columns.difference(rd.data.columns)
    assert list(df.columns) == ["h", "psu", "N1", "N2", "w", "y"]  # the user's frame


def test_sdr_bad_input() -> None:
    df = two_stage()
    d = ib.Design(df, weights="w", psu="psu")
    with pytest.raises(ib.DesignError, match="sort: column 'nope' not found"):
        ib.sdr_replicates(d, sort="nope")
    with pytest.raises(ib.DesignError, match="no Hadamard matrix of order 6"):
        ib.sdr_replicates(d, replicates=6)
    with pytest.raises(ib.DesignError, match="'y' has missing values"):
        ib.sdr_replicates(ib.Design(df.assign(y=np.where(df.index == 3, np.nan, df.y)),
                                    weights="w", psu="psu"), sort="y")
    with pytest.warns(ib.InnobaroWarning, match="finite population corrections are not used"):
        ib.sdr_replicates(ib.Design(df, weights="w", strata="h", psu="psu", fpc="N1"))
    # a column named as the old helper columns is no obstacle: nothing is added
    rd = ib.sdr_replicates(ib.Design(df.assign(_sdr_3=1.0), weights="w", psu="psu"),
                           replicates=8)
    assert list(rd.data.columns) == [*df.columns, "_sdr_3"]
