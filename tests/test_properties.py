"""Property tests and identities of the linearisation estimators.

Each property holds for any data, so the data are drawn at random (by
hypothesis, through a seed for :func:`make_frame`) rather than read from a
reference: invariance under row order and relabelling, scaling of the
weights, the caller's DataFrame left alone, domain identities, and the
textbook formulas of simple random and stratified sampling.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

import innobaro as ib

RTOL = 1e-10
SETTINGS = settings(max_examples=20, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
seeds = st.integers(min_value=0, max_value=2**32 - 1)

# small random designs give domains with a single row or a proportion of 0,
# and innobaro rightly warns; the warnings are not what these tests are about
quiet = pytest.mark.filterwarnings("ignore::innobaro.InnobaroWarning")


# ---------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------
def make_frame(seed: int, n_strata: int | None = None) -> pd.DataFrame:
    """A stratified two-stage cluster sample, made from ``seed``.

    Columns: ``stratum`` (str), ``psu`` (int, unique across strata), ``ssu``
    (1 or 2 within each PSU, both present), ``fpc`` (PSUs in the stratum's
    population, at least the number sampled), ``fpc2`` (SSUs in the PSU's
    population), ``w``, ``y``, ``x`` (positive), ``b`` (0/1), ``region`` (three
    levels, at least two rows each) and ``cat`` (categorical, levels in a
    non-alphabetical order).
    """
    rng = np.random.default_rng(seed)
    n_strata = int(rng.integers(2, 5)) if n_strata is None else n_strata
    stratum, psu, ssu, fpc, fpc2 = [], [], [], [], []
    next_psu = 1
    for h in range(n_strata):
        n_psu = int(rng.integers(2, 5))
        pop_h = n_psu + int(rng.integers(0, 30))  # sometimes n_psu: a certainty stratum
        for _ in range(n_psu):
            m = int(rng.integers(2, 6))
            stratum += [f"s{h}"] * m
            psu += [next_psu] * m
            ssu += list(rng.permutation(np.arange(m) % 2 + 1))
            fpc += [float(pop_h)] * m
            fpc2 += [float(2 + rng.integers(0, 10))] * m
            next_psu += 1
    n = len(stratum)
    region = np.resize(np.array(["north", "south", "west"]), n)
    return pd.DataFrame({
        "stratum": stratum,
        "psu": np.asarray(psu, dtype=np.int64),
        "ssu": np.asarray(ssu, dtype=np.int64),
        "fpc": fpc,
        "fpc2": fpc2,
        "w": rng.uniform(0.5, 5.0, n),
        "y": rng.normal(10.0, 3.0, n),
        "x": rng.uniform(1.0, 4.0, n),
        "b": rng.integers(0, 2, n),
        "region": rng.permutation(region),
        "cat": pd.Categorical(rng.choice(["lo", "mid", "hi"], n),
                              categories=["lo", "mid", "hi"]),
    })


DESIGNS: dict[str, dict] = {
    "strata_psu_fpc": dict(weights="w", strata="stratum", psu="psu", fpc="fpc"),
    "strata_psu": dict(weights="w", strata="stratum", psu="psu"),
    "two_stage_fpc": dict(weights="w", strata="stratum", psu=["psu", "ssu"],
                          fpc=["fpc", "fpc2"]),
    "elements": dict(weights="w"),
}
CLUSTERED = ["strata_psu_fpc", "strata_psu", "two_stage_fpc"]

ESTIMATORS: dict[str, Callable[[ib.Design, str | None], ib.Estimate]] = {
    "mean": lambda d, by: ib.mean(d, ["y", "x", "cat"], by=by),
    "total": lambda d, by: ib.total(d, ["y", "cat"], by=by),
    "ratio": lambda d, by: ib.ratio(d, ["y", "b"], "x", by=by),
    "proportion": lambda d, by: ib.proportion(d, "b", by=by),
    "quantile": lambda d, by: ib.quantile(d, ["y", "x"], [0.25, 0.5, 0.9], by=by),
}


# ---------------------------------------------------------------------------
# comparison helpers
# ---------------------------------------------------------------------------
def _close(actual, desired, rtol: float = RTOL, what: str = "") -> None:
    a = np.asarray(actual, dtype=float)
    b = np.asarray(desired, dtype=float)
    finite = b[np.isfinite(b)]
    scale = float(np.max(np.abs(finite))) if finite.size else 1.0
    np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-12 * max(scale, 1e-300),
                               equal_nan=True, err_msg=what)


def _df_array(est: ib.Estimate) -> np.ndarray:
    df = est.df
    if isinstance(df, pd.Series):
        return df.to_numpy(dtype=float)
    return np.full(len(est.estimate), float(df))


def _quantile_at_domain_max(est: ib.Estimate, df: pd.DataFrame, by: str | None) -> np.ndarray:
    """Entries of a quantile estimate that equal the largest value of their domain.

    There the estimated distribution function is 1 and its variance 0, and
    the Woodruff interval is at the edge of [0, 1]: see
    ``test_quantile_at_the_domain_maximum_does_not_depend_on_row_order``.
    """
    flags = []
    for key, value in est.estimate.items():
        if by is None:
            rows, label = df, key
        else:
            rows, label = df[df[by] == key[0]], key[-1]
        flags.append(value == rows[label.split("[")[0]].max())
    return np.asarray(flags, dtype=bool)


def assert_same(a: ib.Estimate, b: ib.Estimate, rtol: float = RTOL, name: str = "",
                skip: np.ndarray | None = None) -> None:
    """Estimate, se, vcov, df and intervals agree (and the index is identical).

    ``skip`` marks entries whose se, vcov and interval are not compared.
    """
    pd.testing.assert_index_equal(a.estimate.index, b.estimate.index)
    keep = np.ones(len(a.estimate), dtype=bool) if skip is None else ~skip
    _close(a.estimate, b.estimate, rtol, f"{name} estimate")
    _close(a.se[keep], b.se[keep], rtol, f"{name} se")
    _close(a.vcov.to_numpy()[np.ix_(keep, keep)], b.vcov.to_numpy()[np.ix_(keep, keep)],
           rtol, f"{name} vcov")
    np.testing.assert_array_equal(_df_array(a), _df_array(b), err_msg=f"{name} df")
    _close(a.ci()[keep], b.ci()[keep], rtol, f"{name} ci")
    if a.kind != "quantile":
        _close(a.deff, b.deff, 1e-8, f"{name} deff")


def run_all(d: ib.Design, by: str | None) -> dict[str, ib.Estimate]:
    return {name: f(d, by) for name, f in ESTIMATORS.items()}


def assert_all_same(a: dict[str, ib.Estimate], b: dict[str, ib.Estimate], df: pd.DataFrame,
                    by: str | None) -> None:
    for name in a:
        skip = (_quantile_at_domain_max(a[name], df, by) if name == "quantile" else None)
        assert_same(a[name], b[name], name=name, skip=skip)


# ---------------------------------------------------------------------------
# invariance under row order and relabelling
# ---------------------------------------------------------------------------
@quiet
@pytest.mark.parametrize("by", [None, "region"])
@pytest.mark.parametrize("kind", list(DESIGNS))
@SETTINGS
@given(seed=seeds, perm_seed=seeds, reset_index=st.booleans())
def test_row_permutation(kind: str, by: str | None, seed: int, perm_seed: int,
                         reset_index: bool) -> None:
    df = make_frame(seed)
    perm = np.random.default_rng(perm_seed).permutation(len(df))
    shuffled = df.iloc[perm]
    if reset_index:
        shuffled = shuffled.reset_index(drop=True)
    a = run_all(ib.Design(df, **DESIGNS[kind]), by)
    b = run_all(ib.Design(shuffled, **DESIGNS[kind]), by)
    assert_all_same(a, b, df, by)


@quiet
@pytest.mark.parametrize("by", [None, "region"])
@pytest.mark.parametrize("kind", CLUSTERED)
@SETTINGS
@given(seed=seeds, label_seed=seeds, psu_as_str=st.booleans())
def test_relabel_strata_and_psus(kind: str, by: str | None, seed: int, label_seed: int,
                                 psu_as_str: bool) -> None:
    df = make_frame(seed)
    rng = np.random.default_rng(label_seed)
    relabelled = df.copy()
    old_strata = sorted(df["stratum"].unique())
    new_strata = [f"{c}{i}" for i, c in
                  enumerate(rng.permutation(list("zyxwvutsrq"))[:len(old_strata)])]
    relabelled["stratum"] = df["stratum"].map(dict(zip(old_strata, new_strata, strict=True)))
    old_psu = np.unique(df["psu"])
    new_psu = rng.choice(np.arange(-10_000, 10_000), size=old_psu.size, replace=False)
    mapping = dict(zip(old_psu.tolist(), new_psu.tolist(), strict=True))
    relabelled["psu"] = df["psu"].map(mapping)
    if psu_as_str:
        relabelled["psu"] = "u" + relabelled["psu"].astype(str)
    a = run_all(ib.Design(df, **DESIGNS[kind]), by)
    b = run_all(ib.Design(relabelled, **DESIGNS[kind]), by)
    assert_all_same(a, b, df, by)


# ---------------------------------------------------------------------------
# scaling the weights
# ---------------------------------------------------------------------------
@quiet
@pytest.mark.parametrize("by", [None, "region"])
@SETTINGS
@given(seed=seeds, c=st.floats(min_value=1e-3, max_value=1e3))
def test_weight_scaling(by: str | None, seed: int, c: float) -> None:
    df = make_frame(seed)
    scaled = df.copy()
    scaled["w"] = df["w"] * c
    spec = DESIGNS["strata_psu_fpc"]
    d, dc = ib.Design(df, **spec), ib.Design(scaled, **spec)
    for f in (lambda d: ib.mean(d, ["y", "cat"], by=by),
              lambda d: ib.proportion(d, "b", by=by),
              lambda d: ib.ratio(d, "y", "x", by=by)):
        a, b = f(d), f(dc)
        _close(b.estimate, a.estimate, 1e-9, "estimate")
        _close(b.se, a.se, 1e-9, "se")
        _close(b.ci(), a.ci(), 1e-9, "ci")
    a, b = ib.total(d, ["y", "cat"], by=by), ib.total(dc, ["y", "cat"], by=by)
    _close(b.estimate, c * a.estimate, 1e-9, "total")
    _close(b.se, c * a.se, 1e-9, "se of total")
    _close(b.vcov, c * c * a.vcov, 1e-9, "vcov of total")


@quiet
@SETTINGS
@given(seed=seeds, k=st.integers(min_value=-6, max_value=6))
def test_weight_scaling_quantile(seed: int, k: int) -> None:
    # a power of two scales the cumulated weights exactly, so ties of the
    # weighted distribution function with the probabilities stay ties
    df = make_frame(seed)
    scaled = df.copy()
    scaled["w"] = df["w"] * 2.0**k
    spec = DESIGNS["strata_psu_fpc"]
    a = ib.quantile(ib.Design(df, **spec), "y", [0.1, 0.5, 0.75], by="region")
    b = ib.quantile(ib.Design(scaled, **spec), "y", [0.1, 0.5, 0.75], by="region")
    assert_same(a, b, rtol=1e-9)


# ---------------------------------------------------------------------------
# the caller's DataFrame
# ---------------------------------------------------------------------------
@quiet
@pytest.mark.parametrize(("seed", "nullable"), [(0, False), (1, False), (2, True)])
def test_caller_frame_is_never_modified(seed: int, nullable: bool) -> None:
    df = make_frame(seed)
    rng = np.random.default_rng(seed)
    df["y_na"] = np.where(rng.random(len(df)) < 0.2, np.nan, df["y"])
    df["flag"] = df["b"].astype(bool)
    df["label"] = pd.Series(np.where(df["b"] == 1, "yes", "no"), dtype=object)
    df["cat_na"] = df["cat"].where(rng.random(len(df)) > 0.2)
    df["prob"] = 0.5 * df["w"].min() / df["w"]
    df["frac"] = df.groupby("stratum")["psu"].transform("nunique") / df["fpc"]
    df.index = pd.Index([f"r{i}" for i in range(len(df))], name="row")
    if nullable:  # pandas' nullable dtypes: Int64, Float64 with <NA>, boolean, string
        df = df.convert_dtypes()
    before = df.copy(deep=True)
    dtypes = df.dtypes.copy()

    designs = [
        ib.Design(df, **DESIGNS["strata_psu_fpc"]),
        ib.Design(df, **DESIGNS["two_stage_fpc"]),
        ib.Design(df, probs="prob", strata=["stratum", "region"], lonely_psu="certainty"),
        ib.Design(df, strata="stratum", psu="psu", fpc="frac"),
        ib.Design(df, strata="stratum", psu="psu", fpc="fpc", lonely_psu="adjust"),
    ]
    d0 = designs[0]
    designs += [d0.subset(df["region"] == "north"), d0.subset("x > 2"),
                d0.subset(df["b"].to_numpy() == 1).subset(df["region"] != "west")]
    for d in designs:
        for by in (None, "region", ["region", "label"]):
            results = [
                ib.mean(d, ["y", "cat", "label", "flag"], by=by),
                ib.mean(d, ["y_na", "cat_na"], by=by, na_rm=True),
                ib.total(d, ["y", "cat"], by=by),
                ib.total(d, "y_na", by=by, na_rm=True),
                ib.ratio(d, ["y", "y_na"], "x", by=by, na_rm=True),
                ib.proportion(d, "b", by=by, method="beta"),
                ib.proportion(d, "flag", by=by, method="likelihood"),
                ib.proportion(d, "cat", by=by),
                ib.quantile(d, ["y", "y_na"], [0.5, 0.9], by=by, na_rm=True),
            ]
            for r in results:
                r.ci(0.9)
                r.to_frame()
                repr(r)
                _ = r.deff, r.cv, r.vcov
        repr(d)
        _ = d.weights, d.data

    pd.testing.assert_frame_equal(df, before)
    assert df.equals(before)
    pd.testing.assert_series_equal(df.dtypes, dtypes)
    assert list(df["cat"].cat.categories) == ["lo", "mid", "hi"]


# ---------------------------------------------------------------------------
# domains
# ---------------------------------------------------------------------------
def _lonely_frame(df: pd.DataFrame, stratum: str = "s0") -> pd.DataFrame:
    out = df.copy()
    rows = out["stratum"] == stratum
    out.loc[rows, "psu"] = int(out.loc[rows, "psu"].iloc[0])
    return out


@quiet
@pytest.mark.parametrize("lonely", [None, "remove", "adjust", "average", "certainty"])
@SETTINGS
@given(seed=seeds, level=st.sampled_from(["north", "south", "west"]),
       with_fpc=st.booleans())
def test_domain_mean_three_ways(lonely: str | None, seed: int, level: str,
                                with_fpc: bool) -> None:
    df = make_frame(seed).copy()
    if lonely is not None:
        df = _lonely_frame(df)
    df["ind"] = (df["region"] == level).astype(float)
    df["y_ind"] = df["y"] * df["ind"]
    spec = dict(weights="w", strata="stratum", psu="psu",
                lonely_psu=lonely if lonely is not None else "fail")
    if with_fpc:
        spec["fpc"] = "fpc"
    d = ib.Design(df, **spec)

    sub = ib.mean(d.subset(df["region"] == level), "y")
    by = ib.mean(d, "y", by="region")
    est_sub, se_sub = sub.estimate.iloc[0], sub.se.iloc[0]
    noise = 1e-13 * abs(est_sub)  # se can be 0 (a domain in lonely strata only)
    np.testing.assert_allclose(by.estimate.loc[(level, "y")], est_sub, rtol=RTOL)
    np.testing.assert_allclose(by.se.loc[(level, "y")], se_sub, rtol=RTOL, atol=noise)
    assert _df_array(by)[list(by.estimate.index).index((level, "y"))] == sub.df

    if lonely != "average":
        # "average" scales by the strata the statistic reaches, which differ
        # between the domain and the whole sample (as in R)
        rat = ib.ratio(d, "y_ind", "ind")
        np.testing.assert_allclose(rat.estimate.iloc[0], est_sub, rtol=RTOL)
        np.testing.assert_allclose(rat.se.iloc[0], se_sub, rtol=RTOL, atol=noise)


@quiet
@SETTINGS
@given(seed=seeds)
def test_na_rm_is_the_domain_of_rows_with_values(seed: int) -> None:
    df = make_frame(seed).copy()
    rng = np.random.default_rng(seed)
    df["y_na"] = np.where(rng.random(len(df)) < 0.25, np.nan, df["y"])
    df.loc[df.index[0], "y_na"] = 1.0  # at least one value
    d = ib.Design(df, **DESIGNS["strata_psu_fpc"])
    a = ib.mean(d, "y_na", na_rm=True)
    b = ib.mean(d.subset(df["y_na"].notna()), "y_na")
    _close(a.estimate, b.estimate)
    _close(a.se, b.se)
    a = ib.total(d, "y_na", na_rm=True)
    b = ib.total(d.subset(df["y_na"].notna()), "y_na")
    _close(a.estimate, b.estimate)
    _close(a.se, b.se)


@SETTINGS
@given(seed=seeds, frac=st.floats(min_value=0.05, max_value=1.0))
def test_subset_keeps_every_row(seed: int, frac: float) -> None:
    df = make_frame(seed)
    d = ib.Design(df, **DESIGNS["strata_psu_fpc"])
    mask = np.random.default_rng(seed).random(len(df)) < frac
    mask[0] = True
    sub = d.subset(mask)
    assert sub.n == d.n == len(df)
    assert len(sub.weights) == len(df)
    np.testing.assert_array_equal(sub.weights.to_numpy()[~mask], 0.0)
    np.testing.assert_array_equal(sub.weights.to_numpy()[mask], df["w"].to_numpy()[mask])
    inner = sub.subset(df["region"] == df["region"].iloc[0])
    assert inner.n == d.n
    assert d.n == len(df)  # the parent is unchanged
    np.testing.assert_array_equal(d.weights.to_numpy(), df["w"].to_numpy())


# ---------------------------------------------------------------------------
# totals, proportions and population size
# ---------------------------------------------------------------------------
@quiet
@pytest.mark.parametrize("kind", ["strata_psu_fpc", "two_stage_fpc"])
@SETTINGS
@given(seed=seeds)
def test_totals_proportions_and_population_size(kind: str, seed: int) -> None:
    df = make_frame(seed).copy()
    df["one"] = 1.0
    d = ib.Design(df, **DESIGNS[kind])
    size = ib.total(d, "one")
    n_hat, se_n = size.estimate.iloc[0], size.se.iloc[0]
    np.testing.assert_allclose(n_hat, df["w"].sum(), rtol=RTOL)

    # total of a 0/1 variable = proportion x estimated population size
    tot_b = ib.total(d, "b")
    prop_b = ib.proportion(d, "b")
    np.testing.assert_allclose(tot_b.estimate.iloc[0], prop_b.estimate.iloc[0] * n_hat,
                               rtol=RTOL)

    # the level totals of a categorical variable add up to the population size,
    # and so do their variances (with the covariances)
    tot_cat = ib.total(d, "cat")
    assert list(tot_cat.estimate.index) == ["cat[lo]", "cat[mid]", "cat[hi]"]
    np.testing.assert_allclose(tot_cat.estimate.sum(), n_hat, rtol=RTOL)
    ones = np.ones(len(tot_cat.estimate))
    np.testing.assert_allclose(np.sqrt(ones @ tot_cat.vcov.to_numpy() @ ones), se_n,
                               rtol=1e-9)

    # the shares of the levels add up to one, with zero variance
    share = ib.mean(d, "cat")
    np.testing.assert_allclose(share.estimate.sum(), 1.0, rtol=RTOL)
    assert abs(ones @ share.vcov.to_numpy() @ ones) < 1e-12 * max(share.se.max(), 1e-300)

    # domain totals add up to the overall total, with the covariances
    by = ib.total(d, "y", by="region")
    overall = ib.total(d, "y")
    ones = np.ones(len(by.estimate))
    np.testing.assert_allclose(by.estimate.sum(), overall.estimate.iloc[0], rtol=RTOL)
    np.testing.assert_allclose(np.sqrt(ones @ by.vcov.to_numpy() @ ones), overall.se.iloc[0],
                               rtol=1e-9)


@quiet
@SETTINGS
@given(seed=seeds)
def test_vcov_is_symmetric_positive_semidefinite(seed: int) -> None:
    df = make_frame(seed)
    d = ib.Design(df, **DESIGNS["two_stage_fpc"])
    for est in run_all(d, "region").values():
        v = est.vcov.to_numpy()
        if not np.isfinite(v).all():
            continue
        np.testing.assert_allclose(v, v.T, rtol=0, atol=1e-12 * np.abs(v).max())
        assert np.linalg.eigvalsh(v).min() >= -1e-9 * max(np.abs(v).max(), 1e-300)
        np.testing.assert_allclose(est.se.to_numpy() ** 2, np.diag(v), rtol=1e-12)


# ---------------------------------------------------------------------------
# textbook formulas
# ---------------------------------------------------------------------------
def _srs_frame(seed: int, n: int, pop: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"y": rng.gamma(2.0, 3.0, n), "N": float(pop),
                         "f": n / pop, "w": pop / n, "p": n / pop})


@SETTINGS
@given(seed=seeds, n=st.integers(min_value=2, max_value=40),
       extra=st.integers(min_value=1, max_value=2000))
def test_srs_without_replacement(seed: int, n: int, extra: int) -> None:
    pop = n + extra
    df = _srs_frame(seed, n, pop)
    y = df["y"].to_numpy()
    s2 = y.var(ddof=1)
    se_mean = np.sqrt((1 - n / pop) * s2 / n)
    for spec in (dict(weights="w", fpc="N"), dict(fpc="N"), dict(weights="w", fpc="f"),
                 dict(probs="p", fpc="N"), dict(fpc="f", weights="w", psu=None)):
        d = ib.Design(df, **spec)
        m = ib.mean(d, "y")
        t = ib.total(d, "y")
        np.testing.assert_allclose(m.estimate.iloc[0], y.mean(), rtol=RTOL)
        np.testing.assert_allclose(m.se.iloc[0], se_mean, rtol=1e-9)
        np.testing.assert_allclose(t.estimate.iloc[0], pop * y.mean(), rtol=RTOL)
        np.testing.assert_allclose(t.se.iloc[0], pop * se_mean, rtol=1e-9)
        assert m.df == t.df == d.df == n - 1
        np.testing.assert_allclose(m.deff.iloc[0], 1.0, rtol=1e-9)


@SETTINGS
@given(seed=seeds, n=st.integers(min_value=2, max_value=40),
       weight=st.floats(min_value=0.1, max_value=1000.0), weighted=st.booleans())
def test_srs_with_replacement(seed: int, n: int, weight: float, weighted: bool) -> None:
    df = _srs_frame(seed, n, 10 * n)
    df["w"] = weight
    y = df["y"].to_numpy()
    d = ib.Design(df, weights="w") if weighted else ib.Design(df)
    m = ib.mean(d, "y")
    np.testing.assert_allclose(m.estimate.iloc[0], y.mean(), rtol=RTOL)
    np.testing.assert_allclose(m.se.iloc[0], np.sqrt(y.var(ddof=1) / n), rtol=1e-9)
    scale = weight * n if weighted else n
    np.testing.assert_allclose(ib.total(d, "y").se.iloc[0],
                               scale * np.sqrt(y.var(ddof=1) / n), rtol=1e-9)
    assert m.df == n - 1


@SETTINGS
@given(seed=seeds, sizes=st.lists(st.tuples(st.integers(2, 8), st.integers(1, 200)),
                                  min_size=2, max_size=4))
def test_stratified_srs(seed: int, sizes: list[tuple[int, int]]) -> None:
    rng = np.random.default_rng(seed)
    parts = []
    for h, (n_h, extra) in enumerate(sizes):
        pop_h = n_h + extra
        parts.append(pd.DataFrame({"h": f"stratum {h}", "y": rng.normal(5 * h, 1 + h, n_h),
                                   "N": float(pop_h), "w": pop_h / n_h}))
    df = pd.concat(parts, ignore_index=True)
    pop = sum(n_h + extra for n_h, extra in sizes)
    var = 0.0
    ybar = 0.0
    for _, g in df.groupby("h"):
        n_h, pop_h = len(g), g["N"].iloc[0]
        w_h = pop_h / pop
        ybar += w_h * g["y"].mean()
        var += w_h**2 * (1 - n_h / pop_h) * g["y"].var(ddof=1) / n_h
    d = ib.Design(df, weights="w", strata="h", fpc="N")
    m = ib.mean(d, "y")
    np.testing.assert_allclose(m.estimate.iloc[0], ybar, rtol=1e-10)
    np.testing.assert_allclose(m.se.iloc[0], np.sqrt(var), rtol=1e-9)
    np.testing.assert_allclose(ib.total(d, "y").se.iloc[0], pop * np.sqrt(var), rtol=1e-9)
    assert m.df == len(df) - len(sizes)


# ---------------------------------------------------------------------------
# intervals
# ---------------------------------------------------------------------------
@quiet
@pytest.mark.parametrize("by", [None, "region"])
@SETTINGS
@given(seed=seeds, level=st.floats(min_value=0.5, max_value=0.999))
def test_ci_normal_and_t(by: str | None, seed: int, level: float) -> None:
    df = make_frame(seed)
    d = ib.Design(df, **DESIGNS["strata_psu_fpc"])
    for est in (ib.mean(d, ["y", "x"], by=by), ib.total(d, "y", by=by),
                ib.ratio(d, "y", "x", by=by)):
        e, se = est.estimate.to_numpy(), est.se.to_numpy()
        z = stats.norm.ppf(0.5 + level / 2)
        ci = est.ci(level, df=float("inf"))
        assert list(ci.columns) == ["lower", "upper"]
        pd.testing.assert_index_equal(ci.index, est.estimate.index)
        _close(ci["lower"], e - z * se)
        _close(ci["upper"], e + z * se)
        t = stats.t.ppf(0.5 + level / 2, _df_array(est))
        ci = est.ci(level)
        _close(ci["lower"], e - t * se)
        _close(ci["upper"], e + t * se)
        ci = est.ci(level, df=7)
        _close(ci["upper"], e + stats.t.ppf(0.5 + level / 2, 7) * se)


# ---------------------------------------------------------------------------
# numerical hygiene
# ---------------------------------------------------------------------------
def test_estimators_on_domains_raise_no_numpy_warnings() -> None:
    df = make_frame(0)
    d = ib.Design(df, **DESIGNS["strata_psu_fpc"])
    sub = d.subset(df["region"] == "north")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for dd in (d, sub):
            for by in (None, "region"):
                run_all(dd, by)
    other = [f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})"
             for w in caught if not issubclass(w.category, ib.InnobaroWarning)]
    assert other == []


def _nine_rows() -> pd.DataFrame:
    # nine one-row PSUs; with two or more variables the weighted sums and the
    # sum of the weights are rounded differently in this row order
    return pd.DataFrame({"psu": np.arange(9),
                         "w": [3.3, 2.1, 3.9, 0.6, 2.5, 2.2, 2.6, 1.1, 1.5],
                         "y": np.arange(1.0, 10.0), "x": np.arange(1.0, 10.0),
                         "b": 1, "c": [0, 1, 0, 1, 0, 1, 0, 1, 1]})


def test_proportion_of_a_constant_does_not_depend_on_row_order() -> None:
    tiny = _nine_rows()
    for data in (tiny.iloc[::-1], tiny):
        d = ib.Design(data, weights="w", psu="psu")
        est = ib.proportion(d, ["b", "c"], method="beta")
        assert est.estimate.iloc[0] == 1.0
        assert est.se.iloc[0] == 0.0
        ci = est.ci()
        assert 0.5 < ci["lower"].iloc[0] < 1.0
        assert ci["upper"].iloc[0] == 1.0
        with pytest.warns(ib.InnobaroWarning, match="'?b'?"):
            ib.proportion(d, ["b", "c"], method="logit")


def test_quantile_at_the_domain_maximum_does_not_depend_on_row_order() -> None:
    tiny = _nine_rows()
    ests = [ib.quantile(ib.Design(data, weights="w", psu="psu"), ["y", "x"], 0.999)
            for data in (tiny.iloc[::-1], tiny)]
    for est in ests:
        np.testing.assert_array_equal(est.estimate.to_numpy(), [9.0, 9.0])
    np.testing.assert_array_equal(ests[0].se.to_numpy(), ests[1].se.to_numpy())
    np.testing.assert_array_equal(ests[0].ci().to_numpy(), ests[1].ci().to_numpy())


def test_lonely_average_domain_in_lonely_strata_raises_no_numpy_warning() -> None:
    df = pd.DataFrame({"stratum": ["a", "a", "b", "b", "b", "b"], "psu": [1, 1, 2, 2, 3, 3],
                       "w": [1.0, 2, 1, 2, 1, 2], "y": [1.0, 2, 3, 4, 5, 6]})
    d = ib.Design(df, weights="w", strata="stratum", psu="psu", lonely_psu="average")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ib.mean(d.subset(df["stratum"] == "a"), "y")
        ib.mean(d, "y", by="stratum")
    assert [w for w in caught if issubclass(w.category, RuntimeWarning)] == []

