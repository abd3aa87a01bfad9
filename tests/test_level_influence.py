"""The shares and counts of a categorical variable held as level codes.

``mean`` and ``total`` of one categorical column on a linearisation design
hand the variance engine the levels as codes (``LevelInfluence``), whose PSU
totals are one bincount over (PSU, domain, level), instead of the dense
n-by-K matrix of level indicators. The numbers must be those of the dense
path: the same estimator on 0/1 indicator columns (numeric, so dense).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import innobaro as ib
from innobaro.variance import linearization


def _data(seed: int = 7, n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    stratum = rng.integers(0, 6, n)
    psu = stratum * 10 + rng.integers(0, 5, n)
    psu[stratum == 5] = 50  # a stratum with a single PSU
    level = rng.choice(["low", "mid", "high", "top"], n, p=[0.4, 0.3, 0.2, 0.1])
    df = pd.DataFrame({
        "stratum": stratum, "psu": psu, "w": rng.uniform(1, 9, n),
        "prob": 0.05 + 0.05 * (psu % 7),  # one inclusion probability per PSU
        "region": rng.choice(["north", "south", "east"], n),
        "level": level,
        # a categorical with an unused category, missing values
        "grade": pd.Categorical(np.where(rng.random(n) < 0.08, None, level),
                                categories=["top", "high", "mid", "low", "none"]),
    })
    return df


def _with_indicators(df: pd.DataFrame, col: str) -> tuple[pd.DataFrame, list[str]]:
    """0/1 float indicators of the levels of ``col`` (NaN where missing)."""
    s = df[col]
    levels = list(s.cat.categories) if isinstance(s.dtype, pd.CategoricalDtype) \
        else sorted(s.dropna().unique())
    out = df.copy()
    names = []
    for lev in levels:
        name = f"i_{lev}"
        out[name] = np.where(s.isna(), np.nan, (s == lev).astype(float))
        names.append(name)
    return out, names


def _designs(df: pd.DataFrame) -> dict[str, ib.Design]:
    out = {
        "adjust": ib.Design(df, weights="w", strata="stratum", psu="psu",
                            lonely_psu="adjust"),
        "average": ib.Design(df, weights="w", strata="stratum", psu="psu",
                             lonely_psu="average"),
        "brewer": ib.Design(df.assign(stratum=df["stratum"].clip(upper=4)),
                            strata="stratum", psu="psu", fpc="prob", pps="brewer",
                            lonely_psu="adjust"),
        "hartley-rao": ib.Design(df.assign(stratum=df["stratum"].clip(upper=4)),
                                 strata="stratum", psu="psu", fpc="prob", pps=ib.HR(),
                                 variance="YG"),
    }
    out["subset"] = out["adjust"].subset(df["region"] != "east")
    out["poststratified"] = out["adjust"].poststratify(
        "region", {"north": 900.0, "south": 1100.0, "east": 1000.0})
    return out


@pytest.mark.parametrize("kind", ["adjust", "average", "brewer", "hartley-rao", "subset",
                                  "poststratified"])
@pytest.mark.parametrize("col", ["level", "grade"])
@pytest.mark.parametrize("by", [None, "region"])
@pytest.mark.parametrize("estimator", [ib.mean, ib.total])
def test_codes_agree_with_indicator_columns(kind: str, col: str, by: str | None,
                                            estimator: object) -> None:
    df, names = _with_indicators(_data(), col)
    design = _designs(df)[kind]
    if kind == "subset" and by is not None:
        by = None  # a domain of a subset is covered by the subset alone
    compact = estimator(design, col, by=by, na_rm=True)  # type: ignore[operator]
    dense = estimator(design, names, by=by, na_rm=True)  # type: ignore[operator]
    np.testing.assert_allclose(compact.estimate.to_numpy(), dense.estimate.to_numpy(),
                               rtol=1e-12, atol=1e-14)
    scale = np.abs(dense.vcov.to_numpy()).max()
    np.testing.assert_allclose(compact.vcov.to_numpy(), dense.vcov.to_numpy(),
                               rtol=1e-9, atol=1e-12 * scale)
    np.testing.assert_array_equal(compact.df_values, dense.df_values)
    np.testing.assert_allclose(compact.deff, dense.deff, rtol=1e-9)


def test_engine_needs_no_dense_indicators(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without weighting the engine sums the codes per PSU directly."""
    def refuse(self: object, domain: np.ndarray) -> np.ndarray:
        raise AssertionError("dense level indicators built")

    monkeypatch.setattr(linearization.LevelIndicators, "dense", refuse)
    df = _data()
    d = ib.Design(df, weights="w", strata="stratum", psu="psu", lonely_psu="adjust")
    est = ib.mean(d, "level", by="region")
    assert est.se.notna().all()
    res = ib.chisq_test(d, "level", "region")
    assert 0 <= res.pvalue <= 1
    res = ib.goodness_of_fit(d, "grade", [1, 1, 1, 1, 1], na_rm=True)
    assert 0 <= res.pvalue <= 1


def test_level_indicators_dense_form() -> None:
    """The dense form is the definition z_ik = s_i (1[c_i = k] - p_dk)."""
    code = np.array([0, 2, 1, 2, 0])
    scale = np.array([0.5, 1.0, 2.0, 0.0, 1.5])
    domain = np.array([0, 1, 0, -1, 1])
    centre = np.array([[0.2, 0.3, 0.5], [0.1, 0.6, 0.3]])
    lv = linearization.LevelIndicators(code, scale, centre, 3)
    want = np.zeros((5, 3))
    for i in range(5):
        if domain[i] >= 0:
            want[i] = scale[i] * ((np.arange(3) == code[i]) - centre[domain[i]])
    np.testing.assert_array_equal(lv.dense(domain), want)
    assert lv.shape == (5, 3)
