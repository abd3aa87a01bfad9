"""Multiple imputation and plausible values (innobaro/imputation.py).

Against R's mitools ``MIcombine`` over survey designs on an ``imputationList``
and survey's ``withPV`` (``tests/reference/make_imputation.R``, stored in
``tests/reference/imputation.json``), rtol 1e-8: the combined estimates, Rubin's
total covariance, the degrees of freedom (Rubin's 1987 df, and Barnard-Rubin's
with ``df.complete``) and the fractions of missing information. Then the
identities of Rubin's rules, the published Barnard-Rubin form, and bad input.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _harness import REF, load

import innobaro as ib
from innobaro.imputation import ImputationDesigns

RTOL = 1e-8
REFERENCE = load("imputation")
CASES = REFERENCE["cases"]


def _data(name: str) -> pd.DataFrame:
    return pd.read_csv(REF / "data" / f"{name}.csv")


def _imputed() -> list[pd.DataFrame]:
    long = _data("mi_imputed")
    return [g.drop(columns="imp").reset_index(drop=True) for _, g in long.groupby("imp")]


DESIGN = {"weights": "w", "strata": "stratum", "psu": "psu", "fpc": "Npsu"}


def _action(call: dict):
    fn = call["fn"]
    if fn == "glm":
        return lambda d: ib.glm(call["formula"], d, family=call["family"])
    if fn == "ratio":
        return lambda d: ib.ratio(d, call["y"][0], call["denominator"])
    estimator = {"mean": ib.mean, "total": ib.total}[fn]
    return lambda d: estimator(d, list(call["y"]), by=call.get("by"))


def _run(case: dict) -> ib.MIEstimate:
    action = _action(case["call"])
    if case["data"] == "mi_pv":
        design = ib.Design(_data("mi_pv"), **DESIGN)
        return ib.with_plausible_values(design, REFERENCE["pv"], action,
                                        df_complete=case["df_complete"])
    designs: ImputationDesigns = ib.imputation_designs(_imputed(), **DESIGN)
    if case["replicate"]:
        designs = designs.replicate(case["replicate"]["method"])
    return ib.with_imputations(designs, action, df_complete=case["df_complete"])


def _order(res: ib.MIEstimate, case: dict) -> np.ndarray:
    """Position of each of R's entries among ours (model terms by name)."""
    if case["call"]["fn"] != "glm":
        return np.arange(len(case["names"]))
    ours = [str(k) for k in res.estimate.index]
    patsy = {"(Intercept)": "Intercept", "gb": "g[T.b]", "gc": "g[T.c]"}
    return np.array([ours.index(patsy.get(name, name)) for name in case["names"]])


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_against_mitools(case: dict) -> None:
    res = _run(case)
    assert isinstance(res, ib.MIEstimate) and res.n_imputations == case["m"]
    o = _order(res, case)
    np.testing.assert_allclose(res.estimate.to_numpy()[o], case["estimate"], rtol=RTOL)
    np.testing.assert_allclose(res.vcov.to_numpy()[np.ix_(o, o)], np.array(case["vcov"]),
                               rtol=RTOL)
    np.testing.assert_allclose(res.df_values[o], case["df"], rtol=RTOL)
    np.testing.assert_allclose(res.missing_info.to_numpy()[o], case["missinfo"], rtol=RTOL)


def test_rubin_rules_by_hand() -> None:
    """T = W + (1 + 1/m) B and the mean, from the separate analyses."""
    designs = ib.imputation_designs(_imputed(), **DESIGN)
    parts = ib.with_imputations(designs, lambda d: ib.mean(d, ["y", "z"]), combine=False)
    assert isinstance(parts, list) and len(parts) == 5
    theta = np.array([p.estimate.to_numpy() for p in parts])
    W = np.mean([p.vcov.to_numpy() for p in parts], axis=0)
    B = np.cov(theta, rowvar=False)
    res = ib.mi_combine(parts)
    np.testing.assert_allclose(res.estimate.to_numpy(), theta.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(res.within.to_numpy(), W, rtol=1e-14)
    np.testing.assert_allclose(res.between.to_numpy(), B, rtol=1e-12)
    np.testing.assert_allclose(res.vcov.to_numpy(), W + 1.2 * B, rtol=1e-12)
    # the interval is the t interval on the imputation df
    ci = res.ci()
    from scipy import stats
    half = stats.t.ppf(0.975, res.df_values) * res.se.to_numpy()
    np.testing.assert_allclose(ci["upper"] - res.estimate, half, rtol=1e-12)


def test_barnard_rubin_published_form() -> None:
    """df_method="barnard-rubin": the observed-data df with 1 - gamma = W / T."""
    designs = ib.imputation_designs(_imputed(), **DESIGN)
    parts = ib.with_imputations(designs, lambda d: ib.mean(d, "y"), combine=False)
    res = ib.mi_combine(parts, df_complete=12, df_method="barnard-rubin")
    m = 5
    w = np.mean([p.vcov.to_numpy()[0, 0] for p in parts])
    b = np.var([p.estimate.iloc[0] for p in parts], ddof=1)
    t = w + (1 + 1 / m) * b
    r = (1 + 1 / m) * b / w
    nu_m = (m - 1) * (1 + 1 / r) ** 2
    nu_obs = 13 / 15 * 12 * w / t
    assert res.df == pytest.approx(1 / (1 / nu_m + 1 / nu_obs), rel=1e-12)
    mitools = ib.mi_combine(parts, df_complete=12)
    assert mitools.df != pytest.approx(res.df, rel=1e-6)  # the two forms differ


def test_no_between_variance_gives_infinite_rubin_df() -> None:
    d = ib.Design(_imputed()[0], **DESIGN)
    res = ib.mi_combine([ib.mean(d, "x"), ib.mean(d, "x")])
    assert np.isinf(res.df) and res.missing_info.iloc[0] == 0
    assert ib.mi_combine([ib.mean(d, "x")] * 3, df_complete=12).df == pytest.approx(
        13 / 15 * 12, rel=1e-14)


def test_contract_and_contrast() -> None:
    designs = ib.imputation_designs(_imputed(), **DESIGN)
    res = ib.with_imputations(designs, lambda d: ib.mean(d, "y", by="g"))
    diff = ib.contrast(res, {"a-b": {("a", "y"): 1, ("b", "y"): -1}})
    v = res.vcov.to_numpy()
    assert diff.se.iloc[0] == pytest.approx(np.sqrt(v[0, 0] + v[1, 1] - 2 * v[0, 1]),
                                            rel=1e-12)
    assert "combined over 5 imputations" in repr(res)
    assert res.interval_method == "wald"


def test_subset_and_replicate_designs() -> None:
    designs = ib.imputation_designs(_imputed(), **DESIGN)
    sub = designs.subset(designs[0].data["g"].to_numpy() == "a")
    res = ib.with_imputations(sub, lambda d: ib.mean(d, "y"))
    byg = ib.with_imputations(designs, lambda d: ib.mean(d, "y", by="g"))
    assert res.estimate.iloc[0] == pytest.approx(byg.estimate.iloc[0], rel=1e-12)
    assert "ImputationDesigns: 5 imputations" in repr(designs)


@pytest.mark.parametrize("method, options", [("jkn", {}), ("bootstrap", {"replicates": 30}),
                                             ("mrbbootstrap", {"replicates": 30}),
                                             ("sdr", {"replicates": 16, "sort": "psu"})])
def test_replicate_designs_share_their_weights(method: str, options: dict) -> None:
    """As R's as.svrepdesign of imputation designs: one set of replicate weights."""
    designs = ib.imputation_designs(_imputed(), **DESIGN)
    if method == "sdr":
        with pytest.warns(ib.InnobaroWarning, match="finite population corrections"):
            reps = designs.replicate(method, seed=np.random.default_rng(4), **options)
    else:
        reps = designs.replicate(method, seed=np.random.default_rng(4), **options)
    assert all(isinstance(d, ib.ReplicateDesign) for d in reps)
    for d in reps[1:]:
        np.testing.assert_array_equal(d.unmasked_replicate_weights,
                                      reps[0].unmasked_replicate_weights)
    res = ib.with_imputations(reps, lambda d: ib.mean(d, "y"))
    assert res.n_imputations == 5 and np.isfinite(res.se.iloc[0])
    with pytest.raises(ib.ImputationError, match="already have replicate weights"):
        reps.replicate("jkn")


def test_user_data_unchanged() -> None:
    sets = _imputed()
    copies = [s.copy() for s in sets]
    ib.with_imputations(ib.imputation_designs(sets, **DESIGN), lambda d: ib.mean(d, "y"))
    pv = _data("mi_pv")
    before = pv.copy()
    ib.with_plausible_values(ib.Design(pv, **DESIGN), REFERENCE["pv"],
                             lambda d: ib.mean(d, "score"))
    for s, c in zip(sets, copies, strict=True):
        pd.testing.assert_frame_equal(s, c)
    pd.testing.assert_frame_equal(pv, before)


# ---------------------------------------------------------------- bad input
def test_empty_list() -> None:
    with pytest.raises(ib.ImputationError, match="no imputed data sets"):
        ib.imputation_designs([], **DESIGN)
    with pytest.raises(ib.ImputationError, match="no imputed data sets"):
        ib.with_imputations([], lambda d: ib.mean(d, "y"))
    with pytest.raises(ib.ImputationError, match="a list of data frames"):
        ib.imputation_designs(_imputed()[0], **DESIGN)


def test_different_rows() -> None:
    sets = _imputed()
    sets[2] = sets[2].iloc[:-1]
    with pytest.raises(ib.ImputationError, match="imputed data set 3 has 89 rows"):
        ib.imputation_designs(sets, **DESIGN)


@pytest.mark.parametrize("column", ["psu", "stratum", "w", "Npsu"])
def test_design_column_differs(column: str) -> None:
    sets = _imputed()
    sets[1] = sets[1].copy()
    sets[1].loc[7, column] = sets[1].loc[8, column] if column != "w" else 99.0
    if sets[1].loc[7, column] == sets[0].loc[7, column]:
        sets[1].loc[7, column] = sets[1].loc[40, column]
    with pytest.raises(ib.ImputationError,
                       match=f"imputation 2 differs .*column '{column}'.* row 7"):
        ib.imputation_designs(sets, **DESIGN)


def test_designs_differ() -> None:
    sets = _imputed()
    a = ib.Design(sets[0], **DESIGN)
    b = ib.Design(sets[1].assign(w=sets[1]["w"] * 2), **DESIGN)
    with pytest.raises(ib.ImputationError, match=r"imputation 2 differs .* the weights"):
        ib.with_imputations([a, b], lambda d: ib.mean(d, "y"))
    c = ib.Design(sets[1].iloc[:50], **DESIGN)
    with pytest.raises(ib.ImputationError, match="imputation 2 has 50 rows"):
        ImputationDesigns([a, c])
    with pytest.raises(ib.ImputationError, match="imputation 2 is a ReplicateDesign"):
        ImputationDesigns([a, a.replicate("jkn")])
    with pytest.raises(ib.ImputationError, match="not an innobaro design"):
        ImputationDesigns([a, sets[1]])  # type: ignore[list-item]


def test_results_disagree() -> None:
    d = ib.Design(_imputed()[0], **DESIGN)
    with pytest.raises(ib.ImputationError, match="result 2 has entries"):
        ib.mi_combine([ib.mean(d, "y"), ib.mean(d, "x")])
    with pytest.raises(ib.ImputationError, match="at least two imputations"):
        ib.mi_combine([ib.mean(d, "y")])
    with pytest.raises(ib.ImputationError, match="result 1 is a float"):
        ib.mi_combine([1.0, 2.0])
    with pytest.raises(ib.ImputationError, match="df_method"):
        ib.mi_combine([ib.mean(d, "y")] * 2, df_method="rubin")  # type: ignore[arg-type]


def test_plausible_values_bad_input() -> None:
    design = ib.Design(_data("mi_pv"), **DESIGN)
    mean = lambda d: ib.mean(d, "score")  # noqa: E731
    with pytest.raises(ib.ImputationError, match="'x' is already a column"):
        ib.with_plausible_values(design, {"x": ["pv1", "pv2"]}, mean)
    with pytest.raises(ib.ImputationError, match="same number of plausible values"):
        ib.with_plausible_values(design, {"score": ["pv1", "pv2"], "s2": ["pv3"]}, mean)
    with pytest.raises(ib.ImputationError, match="'pv9' not found"):
        ib.with_plausible_values(design, {"score": ["pv1", "pv9"]}, mean)
    with pytest.raises(ib.ImputationError, match="at least one entry"):
        ib.with_plausible_values(design, {}, mean)
