"""A design cannot be changed once built, and derived designs are made in one place.

Options are read-only properties; the arrays a design hands out (weights,
rows present, stages, replicate weights, level codes) and a model's arrays
are read-only; ``subset``, ``with_columns``, ``with_weights`` and the
weighting methods return new designs with their own cache and leave the
original as it was. The degrees-of-freedom rule has one owner,
:mod:`innobaro.variance`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import innobaro as ib
from innobaro.design import DesignCache, read_only
from innobaro.errors import DesignError
from innobaro.variance import combined_df, degrees_of_freedom, model_df, residual_df


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({"h": [1, 1, 1, 2, 2, 2, 3, 3], "psu": range(8),
                         "w": [2.0, 2, 3, 3, 4, 4, 5, 5], "g": list("abababab"),
                         "x": [1.0, 2, 3, 4, 5, 6, 7, 8], "y": [1.0, 3, 2, 5, 4, 4, 6, 7]})


@pytest.fixture
def design(frame: pd.DataFrame) -> ib.Design:
    return ib.Design(frame, weights="w", strata="h", psu="psu", lonely_psu="adjust")


def _not_writable(a: np.ndarray) -> None:
    assert not a.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        a[...] = 0


def test_options_cannot_be_reassigned(design: ib.Design) -> None:
    for name, value in [("lonely_psu", "remove"), ("df", 3.0), ("data", None),
                        ("new_option", 1)]:
        with pytest.raises(AttributeError, match="immutable"):
            setattr(design, name, value)
    rd = design.replicate("jkn")
    for name in ["scale", "rscales", "method", "rho", "mse", "given_df", "df"]:
        with pytest.raises(AttributeError, match="immutable"):
            setattr(rd, name, getattr(rd, name))
    assert design.lonely_psu == "adjust" and rd.method == "jkn" and rd.mse is False


def test_arrays_are_read_only(design: ib.Design) -> None:
    sub = design.subset("g == 'a'")
    for d in (design, sub):
        _not_writable(d.present)
        _not_writable(d.unmasked_weights)
        _not_writable(d.weight_values)
        _not_writable(d.level_codes(["g"])[0])
        for st in d.stages:
            for a in (st.unit, st.unit_stratum, st.n_units, st.popsize, st.starts):
                _not_writable(a)
    rd = design.replicate("jkn")
    _not_writable(rd.rscales)
    _not_writable(rd.unmasked_replicate_weights)
    m = ib.glm("y ~ x", design)
    for a in (m.beta, m.beta_cov, m.influence, m.model_matrix, m.fit_rows, m.fit_weights):
        _not_writable(a)
    _not_writable(ib.mean(design, "y", by="g").df_values)
    # the caller's arrays stay writable: the design holds read-only views
    w = np.arange(4.0)
    assert not read_only(w).flags.writeable and w.flags.writeable


def test_derived_designs_leave_the_original_alone(design: ib.Design) -> None:
    before = ib.mean(design, "y", by="g")
    weights = design.weight_values.copy()
    cached = len(design.cache)
    for new in (design.subset("x > 2"), design.with_columns(z=design.data["x"] * 2),
                design.with_weights(2 * weights), design.poststratify("g", {"a": 30, "b": 30}),
                design.calibrate({"Intercept": 60.0, "x": 300.0}),
                design.trim_weights(upper=4.5)):
        assert type(new) is type(design) and new.cache is not design.cache
        # a post-stratified design (positive factors: every weight keeps its sign)
        # shares the original's domains and degrees of freedom; the rest start empty
        assert len(new.cache) == (cached if new.weighting_log[-1:] and
                                  new.weighting_log[-1].step == "poststratify" else 0)
        ib.mean(new, "y", by="g")
    np.testing.assert_array_equal(design.weight_values, weights)
    assert design.present.all() and not design.calibration_steps
    assert design.weighting_log == () and design.rows_at_calibration is None
    assert len(design.cache) == cached
    after = ib.mean(design, "y", by="g")
    np.testing.assert_array_equal(after.estimate, before.estimate)
    np.testing.assert_array_equal(after.vcov, before.vcov)


def test_with_columns_keeps_only_the_level_codes_of_unchanged_columns(design: ib.Design) -> None:
    codes_g, _ = design.level_codes(["g"])
    codes_h, _ = design.level_codes(["h"])
    new = design.with_columns(g=list("aabbaabb"))
    assert new.level_codes(["h"])[0] is codes_h
    assert new.level_codes(["g"])[0].tolist() == [0, 0, 1, 1, 0, 0, 1, 1]
    assert design.level_codes(["g"])[0] is codes_g
    assert design.subset("x > 2").level_codes(["g"])[0] is codes_g  # shared by subsets


def test_with_weights(design: ib.Design) -> None:
    sub = design.subset("x > 4")
    new = sub.with_weights(np.full(design.n, 10.0))
    assert new.unmasked_weights.tolist() == [2.0, 2, 3, 3, 10, 10, 10, 10]
    assert new.domain_label == "x > 4" and new.present.tolist() == sub.present.tolist()
    cal = design.calibrate({"Intercept": 60.0, "x": 300.0})
    assert len(cal.calibration_steps) == 1 and cal.rows_at_calibration == design.n
    again = cal.with_weights(cal.weight_values, calibration=cal.calibration_steps[0])
    assert len(again.calibration_steps) == 2 and again.rows_at_calibration == design.n
    with pytest.raises(DesignError, match="shape"):
        design.with_weights(np.ones(3))
    with pytest.raises(DesignError, match="no replicate weights"):
        design.with_weights(np.ones(design.n), np.ones((design.n, 2)))
    rd = design.replicate("jkn")
    with pytest.raises(DesignError, match="replicate"):
        rd.with_weights(np.ones(design.n), calibration=cal.calibration_steps[0])
    with pytest.raises(DesignError, match="shape"):
        rd.with_weights(np.ones(design.n), np.ones((design.n, 1)))
    doubled = rd.with_weights(2 * rd.weight_values, 2 * rd.unmasked_replicate_weights)
    np.testing.assert_allclose(ib.mean(doubled, "y").se, ib.mean(rd, "y").se, rtol=1e-12)


def test_design_cache_keys_by_kind() -> None:
    cache = DesignCache()
    calls = []

    def compute() -> np.ndarray:
        calls.append(1)
        return np.array([1.0, 2.0])

    codes = np.array([0, 1, -1])
    first = cache.domain_df("by", codes, compute)
    assert cache.domain_df("by", codes.copy(), compute) is first  # equal codes: a hit
    cache.domain_df("by", np.array([1, 0, -1]), compute)  # other codes: recomputed
    assert len(calls) == 2 and not first.flags.writeable
    assert cache.model_df(None, lambda: 3.0) == 3.0
    assert cache.domains_if_cached(("g",)) is None


def test_the_degrees_of_freedom_rule_has_one_owner(design: ib.Design) -> None:
    # PSUs minus strata, counted where the weight is nonzero, within a domain
    assert design.df == float(degrees_of_freedom(design)[0]) == 8 - 3
    sub = design.subset("x > 3")
    assert sub.df == 5 - 2
    codes = np.where(design.data["g"] == "a", 0, 1)
    assert degrees_of_freedom(design, codes, 2).tolist() == [1.0, 1.0]
    est = ib.mean(design, "y", by="g")
    assert est.df_values.tolist() == [1.0, 1.0]
    complete = design.data["x"].to_numpy() > 1
    m = ib.glm("y ~ x", design)
    assert m.df_resid == residual_df(design, np.ones(design.n, bool), 2) == 5 + 1 - 2
    assert model_df(design, complete) == 7 - 3
    rd = design.replicate("jkn")
    assert rd.given_df is None and rd.df == float(degrees_of_freedom(rd)[0])
    assert rd.with_df(12).df == 12.0 == rd.with_df(12).given_df
    assert combined_df(np.array([5.0, 2.0, 7.0])) == 2.0
    assert combined_df([5.0, 2.0, 7.0], np.array([True, False, True])) == 5.0


def test_estimate_with_interval_is_a_copy(design: ib.Design) -> None:
    est = ib.mean(design, "y")

    def fixed(level: float, df: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(1), np.ones(1)

    other = est.with_interval(fixed, "fixed")
    assert other.ci().values.tolist() == [[0.0, 1.0]] and other.interval_method == "fixed"
    assert est.interval_method == "wald" and est.ci().values.tolist() != [[0.0, 1.0]]


def test_group_sums_read_design_arrays_without_copying_or_writing_them() -> None:
    from innobaro._linalg import bincount

    codes, weights = np.array([0, 2, 2, 1]), np.array([1.0, 2.0, 3.0, 4.0])
    ro_codes, ro_weights = read_only(codes), read_only(weights)
    out = bincount(ro_codes, ro_weights, minlength=4)
    assert out.tolist() == np.bincount(codes, weights, minlength=4).tolist() == [1, 4, 5, 0]
    assert not ro_codes.flags.writeable and not ro_weights.flags.writeable
    frozen = np.array([0, 1, 1])
    frozen.setflags(write=False)  # read-only all the way down: numpy copies it
    assert bincount(frozen).tolist() == [1, 2]


def test_an_unpickled_design_is_as_read_only(design: ib.Design) -> None:
    import pickle

    cal = design.poststratify("g", {"a": 30, "b": 30})
    before = ib.mean(cal, "y", by="g")
    for d in (design, cal, design.replicate("jkn")):
        copy = pickle.loads(pickle.dumps(d))
        _not_writable(copy.present)
        _not_writable(copy.unmasked_weights)
        _not_writable(copy.level_codes(["g"])[0])
        with pytest.raises(AttributeError, match="immutable"):
            copy.lonely_psu = "remove"  # type: ignore[misc]
    for st in pickle.loads(pickle.dumps(design)).stages:
        _not_writable(st.unit)
    again = ib.mean(pickle.loads(pickle.dumps(cal)), "y", by="g")
    np.testing.assert_array_equal(again.vcov, before.vcov)


def test_a_reweighted_design_shares_only_what_its_weights_leave_unchanged() -> None:
    """Post-stratification by positive factors keeps every weight's sign: the new
    design shares the original's domains and degrees of freedom (both ways), and
    every number equals a design built from scratch with the new weights."""
    rng = np.random.default_rng(3)
    n = 60
    df = pd.DataFrame({"psu": rng.integers(0, 12, n), "h": rng.integers(0, 3, n),
                       "g": rng.choice(["a", "b", "c"], n), "y": rng.normal(size=n),
                       "w": rng.uniform(1, 3, n)})
    df.loc[:4, "w"] = 0.0  # rows of zero weight stay zero
    design = ib.Design(df, psu="psu", strata="h", weights="w", nest=True)
    post = design.poststratify("g", {"a": 50.0, "b": 40.0, "c": 30.0})
    first = ib.mean(post, "y", by="h")  # fills the shared entries
    fresh = ib.Design(df.assign(w=post.weight_values), psu="psu", strata="h", weights="w",
                      nest=True)
    np.testing.assert_array_equal(first.df_values, ib.mean(fresh, "y", by="h").df_values)
    np.testing.assert_array_equal(ib.mean(design, "y", by="h").df_values, first.df_values)
    assert len(design.cache) > 0
    # a cell whose weights are all zero gets factor 0: nothing is shared
    df2 = df.assign(g=np.where(df.index < 5, "z", df.g))
    d2 = ib.Design(df2, psu="psu", strata="h", weights="w", nest=True)
    p2 = d2.poststratify("g", {"a": 50.0, "b": 40.0, "c": 30.0, "z": 1.0}, partial=True)
    assert len(p2.cache) == 0
