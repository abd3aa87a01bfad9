"""Weighting: properties, GREG identity, and bad input named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import innobaro as ib


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    n = 300
    return pd.DataFrame({"psu": np.repeat(np.arange(60), 5), "h": np.repeat(np.arange(6), 50),
                         "w": rng.uniform(5, 15, n), "x": rng.uniform(0, 10, n),
                         "g": rng.choice(list("abc"), n), "k": rng.choice(list("pq"), n),
                         "y": rng.normal(20, 5, n)})


def design(df: pd.DataFrame) -> ib.Design:
    return ib.Design(df, weights="w", strata="h", psu="psu")


@pytest.mark.parametrize("method,bounds", [("linear", None), ("raking", None),
                                           ("logit", (0.3, 3.0)), ("linear", (0.5, 2.0))])
def test_calibrated_weights_reproduce_every_total(frame, method, bounds) -> None:
    totals = {"Intercept": 3300.0, "g[T.b]": 1200.0, "g[T.c]": 1000.0, "x": 16500.0}
    d = design(frame).calibrate(totals, formula="~ g + x", method=method, bounds=bounds)
    w = d.weights.to_numpy()
    assert w.sum() == pytest.approx(3300.0, rel=1e-7)
    assert w[frame["g"] == "b"].sum() == pytest.approx(1200.0, rel=1e-7)
    assert (w * frame["x"]).sum() == pytest.approx(16500.0, rel=1e-7)
    if bounds:
        g = w / frame["w"].to_numpy()
        assert g.min() >= bounds[0] - 1e-9 and g.max() <= bounds[1] + 1e-9


def test_calibration_to_totals_already_matched_changes_no_weight(frame) -> None:
    w = frame["w"]
    totals = {"Intercept": w.sum(), "x": (w * frame["x"]).sum()}
    for method in ("linear", "raking"):
        d = design(frame).calibrate(totals, method=method)
        np.testing.assert_allclose(d.weights.to_numpy(), w.to_numpy(), rtol=1e-12)


def test_linear_calibration_is_greg(frame) -> None:
    """GREG: Y_hat + (T_x - X_hat)' B with B from the weighted regression of y on x."""
    T = {"Intercept": 3300.0, "x": 16000.0}
    d = design(frame).calibrate(T)
    X = np.column_stack([np.ones(len(frame)), frame["x"]])
    w = frame["w"].to_numpy()
    y = frame["y"].to_numpy()
    B = np.linalg.solve(X.T @ (X * w[:, None]), X.T @ (w * y))
    greg = (w * y).sum() + (np.array([3300.0, 16000.0]) - X.T @ w) @ B
    assert ib.total(d, "y").estimate.iloc[0] == pytest.approx(greg, rel=1e-12)


def test_poststratify_equals_linear_calibration_on_the_cells(frame) -> None:
    counts = {"a": 1100.0, "b": 1200.0, "c": 1000.0}
    ps = design(frame).poststratify("g", counts)
    cal = design(frame).calibrate({"Intercept": 3300.0, "g[T.b]": 1200.0, "g[T.c]": 1000.0},
                                  formula="~ g")
    np.testing.assert_allclose(ps.weights, cal.weights, rtol=1e-12)
    np.testing.assert_allclose(ib.mean(ps, "y").se, ib.mean(cal, "y").se, rtol=1e-10)


def test_weighting_never_modifies_the_callers_frame(frame) -> None:
    copy = frame.copy()
    d = design(frame)
    d.poststratify("g", {"a": 1, "b": 2, "c": 3}).rake(
        {"g": {"a": 1, "b": 2, "c": 3}, "k": {"p": 3, "q": 3}}).trim_weights(upper=1e9)
    d.calibrate({"Intercept": 10.0, "x": 50.0})
    pd.testing.assert_frame_equal(frame, copy)


def test_weights_summary(frame) -> None:
    d = design(frame).poststratify("g", {"a": 1100.0, "b": 1200.0, "c": 1000.0})
    s = d.weights_summary()
    assert list(s.table.index) == ["0: design", "1: poststratify"]
    assert s.table.loc["1: poststratify", "sum"] == pytest.approx(3300.0)
    n = len(frame)
    w = frame["w"]
    assert s.table.loc["0: design", "n_eff"] == pytest.approx(w.sum() ** 2 / (w ** 2).sum())
    assert s.table.loc["0: design", "deff_w"] == pytest.approx(n * (w ** 2).sum() / w.sum() ** 2)
    assert set(s.totals["target"]) == {"a", "b", "c"}
    assert np.allclose(s.totals["difference"], 0, atol=1e-9)
    assert "Targets and achieved totals" in repr(s)


def test_nonresponse_adjustment(frame) -> None:
    rng = np.random.default_rng(5)
    df = frame.assign(resp=rng.random(len(frame)) < 0.7)
    d = design(df).adjust_nonresponse("resp", by="g")
    w = d.weights.to_numpy()
    assert (w[~df["resp"]] == 0).all()
    for level in "abc":
        cls = (df["g"] == level).to_numpy()
        assert w[cls].sum() == pytest.approx(df["w"][cls].sum(), rel=1e-12)
    assert d.n == len(df)  # nonrespondents keep their place
    se = ib.mean(d, "y").se.iloc[0]
    assert np.isfinite(se) and se > 0


def test_replicate_design_repeats_the_weighting(frame) -> None:
    counts = {"a": 1100.0, "b": 1200.0, "c": 1000.0}
    rd = design(frame).replicate("jkn").poststratify("g", counts)
    W = rd.replicate_weights.to_numpy()
    for level, total in counts.items():
        cls = (frame["g"] == level).to_numpy()
        np.testing.assert_allclose(W[cls].sum(axis=0), total, rtol=1e-12)


# ---------------------------------------------------------------- bad input
def test_poststratify_names_cells(frame) -> None:
    with pytest.raises(ib.DesignError, match=r"no population count for sample cell.*c"):
        design(frame).poststratify("g", {"a": 1, "b": 2})
    with pytest.raises(ib.DesignError, match="with no sample: z"):
        design(frame).poststratify("g", {"a": 1, "b": 2, "c": 3, "z": 4})
    with pytest.warns(ib.InnobaroWarning, match="z"):
        design(frame).poststratify("g", {"a": 1, "b": 2, "c": 3, "z": 4}, partial=True)


def test_calibration_failure_names_the_total(frame) -> None:
    with pytest.raises(ib.CalibrationError, match="'x'"):
        design(frame).calibrate({"Intercept": 3300.0, "x": 40000.0}, method="logit",
                                bounds=(0.9, 1.1))


def test_calibration_totals_must_match_columns(frame) -> None:
    with pytest.raises(ib.DesignError, match="no total for 'x'"):
        design(frame).calibrate({"Intercept": 3300.0}, formula="~ x")
    with pytest.raises(ib.DesignError, match="logit"):
        design(frame).calibrate({"Intercept": 3300.0}, method="logit")


def test_rake_margin_must_match(frame) -> None:
    with pytest.raises(ib.DesignError, match=r"margin 'g'.*c"):
        design(frame).rake({"g": {"a": 1, "b": 2}})


def test_nonresponse_class_without_respondents(frame) -> None:
    df = frame.assign(resp=frame["g"] != "c")
    with pytest.raises(ib.DesignError, match="class\\(es\\) c"):
        design(df).adjust_nonresponse("resp", by="g")
