"""Replicate refits by blocks of rows, and replicate estimates from unit factors.

Model refits under replicate weights run every replicate of a block in one
pass over blocks of rows per IRLS iteration (``irls.irls_rows``), reading
the weights a block of rows at a time (``_linalg.RowWeights``): from the
(n, R) matrix, or from the unit factors of a design built by
``Design.replicate`` without making the matrix. Checked here:

- the row path gives the coefficients of the (n, R) path (``irls.irls``,
  the path before, whose replicate covariances agree with R in
  tests/test_reference_glm.py and tests/test_families.py) to 1e-10, for
  every family and link it takes, with offsets, blocks of rows and BLAS
  slices of every size;
- refits from the factors equal those from the matrix to 1e-12 (the same
  blocks, so the same numbers), and so do ``total``, ``ratio``, the logit
  interval of ``proportion``, predictive margins (both methods) and average
  marginal effects (re-averaged a block of rows at a time; 1e-11 for their
  covariances, summed in another order) and the agreement check of
  imputation designs, with domains, subsets and missing values;
- none of these makes the (n, R) matrix of a factor design (the builder,
  ``ReplicateFactors.full``, raises under the test), and a refit's traced
  peak memory is a small part of that matrix's size.
"""

from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import pandas as pd
import pytest

import innobaro as ib
from innobaro import _linalg, irls
from innobaro._linalg import RowWeights, replicate_support
from innobaro.design import ReplicateFactors
from innobaro.imputation import ImputationDesigns, ImputationError


def _frame(n: int = 900, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"stratum": np.repeat(np.arange(6), n // 6), "psu": np.arange(n) // 6,
                       "w": rng.uniform(1, 3, n), "x": rng.normal(size=n),
                       "u": rng.uniform(0.5, 2.0, n),
                       "g": rng.choice(list("abcd"), n, p=[0.4, 0.3, 0.2, 0.1])})
    eta = -0.3 + 0.8 * df["x"] + (df["g"] == "b") * 0.5
    df["y"] = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    df["c"] = rng.poisson(np.exp(0.5 + 0.3 * df["x"])).astype(float)
    df["pos"] = rng.gamma(3.0, np.exp(0.2 + 0.2 * df["x"]) / 3.0)
    df["z"] = 2.0 + df["x"] + rng.normal(size=n)
    df["logu"] = np.log(df["u"])
    df.loc[rng.choice(n, 12, replace=False), "z"] = np.nan  # missing values
    return df


def _design(df: pd.DataFrame, replicates: int = 37, seed: int = 3) -> ib.ReplicateDesign:
    return ib.Design(df, weights="w", strata="stratum", psu="psu").replicate(
        "bootstrap", replicates=replicates, seed=seed)


def _as_matrix(rd: ib.ReplicateDesign) -> ib.ReplicateDesign:
    """The same design holding its replicates as an (n, R) matrix."""
    out = rd.with_weights(rd.unmasked_weights, np.array(rd.unmasked_replicate_weights))
    assert out.replicate_factors is None
    return out


def _no_matrix(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: ReplicateFactors) -> np.ndarray:
        raise AssertionError("the (n, R) replicate matrix was made")

    monkeypatch.setattr(ReplicateFactors, "full", refuse)


#: (formula, glm keywords): families and links of the row path, with an offset
MODELS = [
    ("y ~ x + g", {"family": "binomial"}),
    ("y ~ x + g", {"family": "quasibinomial", "link": "probit"}),
    ("y ~ x + g", {"family": "binomial", "link": "cloglog"}),
    ("c ~ x + g", {"family": "poisson", "offset": "logu"}),
    ("c ~ x", {"family": "negative.binomial", "theta": 2.0}),
    ("pos ~ x + g", {"family": "Gamma", "link": "log"}),
    ("z ~ x + g", {"family": "gaussian"}),
]


@pytest.mark.parametrize(("formula", "kw"), MODELS)
def test_row_path_gives_the_coefficients_of_the_matrix_path(
        formula: str, kw: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    rd = _design(_frame())
    m = ib.glm(formula, rd, **kw)
    fit = m._fit
    assert not fit.family.needs_check
    W = np.ascontiguousarray(rd.unmasked_replicate_weights[fit.rows])
    before, _, ch_before = irls.irls(fit.X, fit.y, W, fit.family, beta0=fit.beta,
                                     tol=fit.tol, max_iter=fit.max_iter, offset=fit.offset)
    assert ch_before >= 0
    rows, _, ch_rows = irls.irls_rows(fit.X, fit.y, RowWeights(W), fit.family, beta0=fit.beta,
                                      tol=fit.tol, max_iter=fit.max_iter, offset=fit.offset)
    assert ch_rows >= 0
    np.testing.assert_allclose(rows, before, rtol=1e-10, atol=1e-12)
    # many blocks of rows and BLAS slices: the same coefficients
    monkeypatch.setattr(RowWeights, "step", lambda self, per_row=1: 37)
    monkeypatch.setattr(_linalg, "ONE_THREAD", 1)
    small, _, _ = irls.irls_rows(fit.X, fit.y, RowWeights(W), fit.family, beta0=fit.beta,
                                 tol=fit.tol, max_iter=fit.max_iter, offset=fit.offset)
    np.testing.assert_allclose(small, rows, rtol=1e-10, atol=1e-12)
    refits = fit.refit(rd.unmasked_replicate_weights)
    np.testing.assert_allclose(refits[:, fit.keep], before.T, rtol=1e-10, atol=1e-12)


def test_a_family_with_step_halving_keeps_the_matrix_path() -> None:
    rd = _design(_frame())
    m = ib.glm("c ~ x + g", rd, family="poisson", link="sqrt")
    assert m._fit.family.needs_check
    fit = m._fit
    W = np.ascontiguousarray(rd.unmasked_replicate_weights[fit.rows])
    direct, _, _ = irls.irls(fit.X, fit.y, W, fit.family, beta0=fit.beta, tol=fit.tol,
                             max_iter=fit.max_iter)
    np.testing.assert_allclose(fit.refit(rd.replicate_factors.row_weights())[:, fit.keep],
                               direct.T, rtol=1e-10, atol=1e-12)


def test_refits_from_factors_equal_refits_from_the_matrix(
        monkeypatch: pytest.MonkeyPatch) -> None:
    df = _frame()
    rd = _design(df, 41)
    full = _as_matrix(rd)
    sub, sub_full = rd.subset(df["x"] > -1), full.subset(df["x"] > -1)
    cases = [(rd, full, "y ~ x + g", {"family": "binomial"}),
             (sub, sub_full, "y ~ x + g", {"family": "binomial"}),
             (rd, full, "z ~ x + g", {"family": "gaussian"}),  # missing z: fewer rows
             (rd, full, "c ~ x + g", {"family": "poisson", "offset": "logu"})]
    expected = [ib.glm(f, b, **kw) for _, b, f, kw in cases]
    _no_matrix(monkeypatch)
    for (a, _, f, kw), e in zip(cases, expected, strict=True):
        m = ib.glm(f, a, **kw)
        np.testing.assert_allclose(m.vcov.to_numpy(), e.vcov.to_numpy(), rtol=1e-12,
                                   atol=1e-12 * np.max(np.diag(e.vcov.to_numpy())))
        np.testing.assert_allclose(m.bse, e.bse, rtol=1e-12)
        assert m.df_resid == e.df_resid


def test_a_replicate_without_a_level_is_lost_on_both_paths() -> None:
    df = _frame()
    rd = _design(df, 30)
    m = ib.logit("y ~ x + g", rd)
    W = np.array(rd.unmasked_replicate_weights)
    W[(df["g"] == "d").to_numpy(), 4] = 0.0  # replicate 4 has no row of level d
    out = m.refit(W)
    assert np.isnan(out[4]).all() and np.isfinite(np.delete(out, 4, axis=0)).all()
    # the factors: a unit whose factor is zero in a replicate leaves it
    F = np.array(rd.replicate_factors.factors)
    held = rd.replicate_factors
    F[np.unique(held.unit[(df["g"] == "d").to_numpy()]), 7] = 0.0
    src = RowWeights(factors=F, unit=held.unit, weights=held.weights)
    lost = replicate_support(m._fit.X, src.take(m._fit.rows))
    dense = replicate_support(m._fit.X, src.full()[m._fit.rows])
    np.testing.assert_array_equal(lost, dense)
    assert lost[7] and lost.sum() == 1


def test_two_groups_left_alone_are_lost_from_factors() -> None:
    # a replicate keeping one group's rows only: the group's dummy equals the
    # intercept among them (the binary columns' Gram matrix is singular)
    rng = np.random.default_rng(4)
    n = 40
    X = np.column_stack([np.ones(n), np.repeat([0.0, 1.0], n // 2), rng.normal(size=n)])
    unit = np.arange(n) // 4
    F = rng.uniform(0.5, 2.0, (10, 6))
    F[:5, 2] = 0.0  # replicate 2: the units of group 0 left out
    w = rng.uniform(1, 2, n)
    src = RowWeights(factors=F, unit=unit, weights=w)
    lost = replicate_support(X, src)
    np.testing.assert_array_equal(lost, replicate_support(X, src.full()))
    np.testing.assert_array_equal(lost, [False, False, True, False, False, False])


def test_row_weights_read_factors_and_matrices_alike() -> None:
    rd = _design(_frame(), 23)
    held = rd.replicate_factors
    src = held.row_weights()
    W = rd.unmasked_replicate_weights
    rows = np.flatnonzero(rd.data["x"].to_numpy() > 0)
    cols = np.array([3, 0, 22, 5])
    for a, b in ((src, RowWeights(np.array(W))),
                 (src.take(rows).select(cols), RowWeights(np.array(W)).take(rows).select(cols))):
        np.testing.assert_array_equal(a.full(), b.full())
        np.testing.assert_array_equal(a.block(5, 77), b.block(5, 77))
        V = np.random.default_rng(1).normal(size=(a.shape[0], 3))
        for positive in (False, True):
            np.testing.assert_allclose(a.totals(lambda i, j, V=V: V[i:j], 3, positive=positive),
                                       b.totals(lambda i, j, V=V: V[i:j], 3, positive=positive),
                                       rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(src.full(), W)  # the same numbers, to the last bit


ESTIMATES = [
    lambda d: ib.total(d, ["c", "pos"]),
    lambda d: ib.total(d, "c", by="g"),
    lambda d: ib.total(d, "z", by="g", na_rm=True),
    lambda d: ib.total(d.subset(d.data["x"] > 0), "c", by="g"),
    lambda d: ib.ratio(d, "c", "pos"),
    lambda d: ib.ratio(d, ["c", "z"], "pos", by="g", na_rm=True),
    lambda d: ib.ratio(d.subset(d.data["x"] > 0), "c", ["pos", "u"], by="g"),
    lambda d: ib.proportion(d, "y"),
    lambda d: ib.proportion(d, "y", by="g"),
    lambda d: ib.proportion(d.subset(d.data["x"] > 0.5), "y", by="g"),
    lambda d: ib.proportion(d, "g"),
]


@pytest.mark.parametrize("k", range(len(ESTIMATES)))
def test_totals_ratios_and_logit_intervals_from_factors(
        k: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rd = _design(_frame(), 33)
    call = ESTIMATES[k]
    full = _as_matrix(rd)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ib.InnobaroWarning)
        expected = call(full)
        _no_matrix(monkeypatch)
        got = call(rd)
    np.testing.assert_allclose(got.estimate, expected.estimate, rtol=1e-12)
    Vb = expected.vcov.to_numpy()
    np.testing.assert_allclose(got.vcov.to_numpy(), Vb, rtol=1e-12,
                               atol=1e-12 * np.nanmax(np.diag(Vb)))
    np.testing.assert_allclose(got.conf_int().to_numpy(), expected.conf_int().to_numpy(),
                               rtol=1e-12)
    np.testing.assert_array_equal(got.df_values, expected.df_values)


MARGINS = [
    lambda m: m.margins("g"),
    lambda m: m.margins("g", method="svypredmeans"),
    lambda m: m.margins("x", [-1.0, 0.0, 1.5]),
    lambda m: m.average_marginal_effect("x"),
]


@pytest.mark.parametrize("k", range(len(MARGINS)))
@pytest.mark.parametrize(("formula", "kw"), [("y ~ x + g", {"family": "binomial"}),
                                             ("c ~ x * g", {"family": "poisson",
                                                            "offset": "logu"})])
def test_margins_and_marginal_effects_from_factors(
        k: int, formula: str, kw: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    df = _frame()
    rd = _design(df, 29).subset(df["x"] > -1.5)
    full = _as_matrix(_design(df, 29)).subset(df["x"] > -1.5)
    expected = MARGINS[k](ib.glm(formula, full, **kw))
    _no_matrix(monkeypatch)
    got = MARGINS[k](ib.glm(formula, rd, **kw))
    np.testing.assert_allclose(np.asarray(got.estimate), np.asarray(expected.estimate),
                               rtol=1e-12)
    Vb = np.asarray(expected.vcov)
    np.testing.assert_allclose(np.asarray(got.vcov), Vb, rtol=1e-11,
                               atol=1e-12 * np.max(np.abs(np.diag(Vb))))


def test_a_replicate_proportion_of_zero_warns_on_the_factor_path(
        monkeypatch: pytest.MonkeyPatch) -> None:
    df = _frame()
    df["rare"] = 0.0
    df.loc[df.index[:3], "rare"] = 1.0  # in the first PSU only
    rd = _design(df, 30)
    _no_matrix(monkeypatch)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ib.InnobaroWarning)
        ib.proportion(rd, "rare")
    assert any("replicate proportion is 0 or 1" in str(w.message) for w in caught)


def test_imputation_designs_compare_replicates_without_the_matrix(
        monkeypatch: pytest.MonkeyPatch) -> None:
    df = _frame()
    sets = [df.assign(z=df["z"].fillna(v)) for v in (1.0, 2.0)]
    reps = ib.imputation_designs(sets, weights="w", strata="stratum", psu="psu").replicate(
        "bootstrap", replicates=20, seed=4)
    _no_matrix(monkeypatch)
    again = ImputationDesigns(list(reps))  # the same factors: accepted
    assert len(again) == 2
    other = _design(sets[1], 20, seed=5)  # other draws: refused, naming the row
    with pytest.raises(ImputationError, match="replicate weights at row 0"):
        ImputationDesigns([reps[0], other])
    monkeypatch.undo()
    # a factor design against the same replicates held as a matrix: accepted
    ImputationDesigns([reps[0], _as_matrix(reps[1])])
    W = np.array(reps[1].unmasked_replicate_weights)
    W[700, 3] *= 1.5
    changed = reps[1].with_weights(reps[1].unmasked_weights, W)
    with pytest.raises(ImputationError, match="at row 700"):
        ImputationDesigns([reps[0], changed])


def test_a_refit_takes_a_small_part_of_the_matrix_in_memory() -> None:
    df = pd.concat([_frame(3000, seed=s) for s in range(4)], ignore_index=True)
    df["psu"] = np.arange(len(df)) // 6
    df["stratum"] = df["psu"] // 100
    rd = _design(df, 400)
    matrix = 8 * len(df) * 400  # bytes of the (n, R) weights: 38 MB
    ib.logit("y ~ x + g", rd)  # patsy's and numpy's first-call caches
    tracemalloc.start()
    try:
        m = ib.logit("y ~ x + g", rd)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert rd.replicate_factors._full is None
    assert peak < 0.25 * matrix, (peak, matrix)
    assert np.isfinite(m.bse).all()
