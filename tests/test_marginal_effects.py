"""Average marginal effects: identities that pin the estimate and its
standard error, and the complex-step derivative against differences.

R's survey package has no average marginal effect, so these tests use exact
identities instead of reference numbers: in a linear model with ``x``
entering linearly the AME is the coefficient and its standard error the
coefficient's; in a logistic model with ``x`` linear it is
``sum(w mu (1 - mu)) beta_x / sum(w)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import innobaro as ib
from innobaro.margins import average_marginal_effect
from innobaro.models import Family


def _frame(n: int = 600, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"stratum": np.repeat(np.arange(6), n // 6),
                       "psu": np.arange(n) // 5, "w": rng.uniform(1, 4, n),
                       "x": rng.uniform(1, 5, n), "g": rng.choice(list("abc"), n)})
    eta = -1.5 + 0.6 * df["x"] + (df["g"] == "b") * 0.4
    df["y"] = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    df["z"] = 2.0 + 0.7 * df["x"] + rng.normal(size=n)
    return df


def _design(df: pd.DataFrame) -> ib.Design:
    return ib.Design(df, weights="w", strata="stratum", psu="psu")


def test_linear_model_ame_is_the_coefficient_with_its_se() -> None:
    m = ib.glm("z ~ x + g", _design(_frame()))
    ame = m.average_marginal_effect("x")
    np.testing.assert_allclose(ame.estimate.iloc[0], m.params["x"], rtol=1e-12)
    np.testing.assert_allclose(ame.se.iloc[0], m.bse["x"], rtol=1e-10)


def test_linear_model_ame_on_a_replicate_design() -> None:
    d = _design(_frame()).replicate("jkn")
    m = ib.glm("z ~ x + g", d)
    ame = m.average_marginal_effect("x")
    np.testing.assert_allclose(ame.se.iloc[0], m.bse["x"], rtol=1e-8)


def test_logistic_ame_with_x_linear() -> None:
    df = _frame()
    m = ib.logit("y ~ x + g", _design(df))
    mu = m.predict()
    expected = np.sum(df["w"] * mu * (1 - mu)) * m.params["x"] / df["w"].sum()
    np.testing.assert_allclose(m.average_marginal_effect("x").estimate.iloc[0],
                               expected, rtol=1e-12)


@pytest.mark.parametrize("formula", ["y ~ np.log(x) * g + I(x**2)", "y ~ center(x) + g"])
def test_complex_step_agrees_with_differences_of_predictions(formula: str) -> None:
    df = _frame()
    m = ib.logit(formula, _design(df))
    exact = m.average_marginal_effect("x")
    h = 1e-6
    up = m.predict(df.assign(x=df["x"] + h))
    down = m.predict(df.assign(x=df["x"] - h))
    by_predictions = np.sum(df["w"] * (up - down) / (2 * h)) / df["w"].sum()
    np.testing.assert_allclose(exact.estimate.iloc[0], by_predictions, rtol=1e-7)
    central = average_marginal_effect(m, "x", step=1e-5)
    cols = ["estimate", "se", "lower", "upper"]
    np.testing.assert_allclose(exact.to_frame()[cols].to_numpy(),
                               central.to_frame()[cols].to_numpy(), rtol=1e-7)


@pytest.mark.parametrize("name", ["binomial", "poisson", "gaussian"])
def test_second_derivative_of_the_inverse_link(name: str) -> None:
    fam = Family(name)
    eta = np.linspace(-3, 2, 11)
    h = 1e-6
    numeric = (fam.dmu_deta(eta + h, fam.inverse_link(eta + h))
               - fam.dmu_deta(eta - h, fam.inverse_link(eta - h))) / (2 * h)
    np.testing.assert_allclose(fam.d2mu_deta2(fam.inverse_link(eta)), numeric, rtol=1e-7,
                               atol=1e-12)


def test_ame_bad_input() -> None:
    m = ib.logit("y ~ x + g", _design(_frame()))
    with pytest.raises(ib.EstimationError, match="'g' is not numeric"):
        m.average_marginal_effect("g")
    with pytest.raises(ib.EstimationError, match="no model term uses 'z'"):
        m.average_marginal_effect("z")


def test_logistic_ame_se_by_an_independent_delta_method() -> None:
    # AME(beta) = sum w mu'(X beta) beta_x / N for x linear: differentiate it
    # numerically in beta, form the influence values, and take the variance
    # of their total through ib.total
    df = _frame()
    d = _design(df)
    m = ib.logit("y ~ x + g", d)
    X, w, beta = m.spec.matrix(df), df["w"].to_numpy(), m.params.to_numpy()
    j = list(m.params.index).index("x")

    def ame(b: np.ndarray) -> float:
        mu = 1 / (1 + np.exp(-X @ b))
        return float(np.sum(w * mu * (1 - mu)) * b[j] / w.sum())

    grad = np.array([(ame(beta + 1e-6 * e) - ame(beta - 1e-6 * e)) / 2e-6
                     for e in np.eye(beta.size)])
    mu = 1 / (1 + np.exp(-X @ beta))
    est = ame(beta)
    z = w * (mu * (1 - mu) * beta[j] - est) / w.sum() + m.influence @ grad
    se = ib.total(d.with_columns(u=z / w), "u").se
    ours = m.average_marginal_effect("x")
    np.testing.assert_allclose(ours.estimate.iloc[0], est, rtol=1e-12)
    np.testing.assert_allclose(ours.se.iloc[0], float(np.asarray(se).ravel()[0]), rtol=1e-6)
