"""innobaro's model-matrix builder against patsy's own ``dmatrices``.

innobaro lets patsy parse the formula and learn the encoding, then builds the
columns itself (column-major, several times faster). These tests check that
the matrix, the column names and the response are patsy's bit for bit, over
numeric transforms, stateful transforms, every contrast, interactions of
every kind, text and categorical columns and missing values; that a spec
pickles to an equal spec that builds the same matrix; and that the R
spellings R users type first either work with R's meaning (``factor(x)``,
``log(x)``) or are errors that say what to write (``as.factor(x)``, ``I(x^2)``).
"""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pandas as pd
import patsy
import pytest

import innobaro as ib
from innobaro.errors import EstimationError
from innobaro.formula import R_FUNCTIONS, model_frame


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 200
    df = pd.DataFrame({
        "y": rng.normal(size=n), "x": rng.uniform(1, 5, n), "z": rng.normal(size=n),
        "g": rng.choice(list("abc"), n),
        "h": pd.Categorical(rng.choice(["lo", "mid", "hi"], n), categories=["lo", "mid", "hi"]),
        "k": rng.integers(0, 4, n), "b": rng.random(n) < 0.5,
        "o": pd.Series(rng.choice(["b", "a", "B"], n), dtype=object),
    })
    df.loc[[3, 7], "g"] = None
    df.loc[5, "x"] = np.nan
    df.loc[11, "h"] = np.nan
    return df


FORMULAS = [
    "y ~ x", "y ~ x + g", "y ~ g*x", "y ~ g:h", "y ~ g*h*x", "y ~ x:z + g:x:z",
    "y ~ np.log(x) + I(x**2) + C(k)", "y ~ 0 + g + x", "y ~ -1 + g:h", "y ~ h + g:z",
    "y ~ C(g, Treatment('b')) + h", "y ~ C(g, Sum) + C(h, Helmert)", "y ~ C(k, Poly)",
    "y ~ C(k, levels=[3, 2, 1, 0])", "y ~ b + x:b", "y ~ center(x) + standardize(z)",
    "y ~ o*x", "y ~ C(o, Treatment('b')) + g", "np.log(x) ~ g",
]


@pytest.mark.parametrize("formula", FORMULAS)
def test_matrix_is_patsys_bit_for_bit(formula: str) -> None:
    df = _frame()
    y_ref, X_ref = patsy.dmatrices(formula, df, return_type="matrix")
    y, X, spec, kept = model_frame(formula, df, response=True)
    assert spec.column_names == list(X_ref.design_info.column_names)
    assert np.array_equal(X, np.asarray(X_ref))  # exact: same products in the same order
    assert y is not None and np.array_equal(y, np.asarray(y_ref)[:, 0])
    assert X.flags.f_contiguous
    assert kept.sum() == X.shape[0]
    # the spec rebuilds the same columns on complete rows of new data
    new = df[kept].reset_index(drop=True)
    assert np.array_equal(spec.matrix(new), X)
    # and so does a pickled or deep-copied spec, without the data
    for back in (pickle.loads(pickle.dumps(spec)), copy.deepcopy(spec)):
        assert back == spec and back.terms == spec.terms
        assert np.array_equal(back.matrix(new), X)


def test_within_keeps_only_the_rows_asked_for() -> None:
    df = _frame()
    within = np.arange(len(df)) % 3 == 0
    _, X_all, _, kept = model_frame("y ~ g*x", df, response=True)
    _, X_in, _, kept_in = model_frame("y ~ g*x", df, response=True, within=within)
    assert np.array_equal(kept, kept_in)
    assert np.array_equal(X_in, X_all[within[kept]])


def test_text_columns_and_the_callers_frame() -> None:
    df = _frame()
    before = df.copy()
    model_frame("y ~ g + o", df, response=True)
    pd.testing.assert_frame_equal(df, before)  # not converted in place


def test_new_data_errors_name_the_variable_and_level() -> None:
    _, _, spec, _ = model_frame("y ~ g + x", _frame(), response=True)
    with pytest.raises(EstimationError, match=r"new data.*'g'.*level 'd'.*never saw"):
        spec.matrix(pd.DataFrame({"g": ["a", "d"], "x": [1.0, 2.0]}))
    with pytest.raises(EstimationError, match="missing values in 'x'"):
        spec.matrix(pd.DataFrame({"g": ["a", "b"], "x": [1.0, np.nan]}))


def test_formula_errors() -> None:
    df = _frame()
    with pytest.raises(EstimationError, match="no response"):
        model_frame("~ x", df, response=True)
    with pytest.raises(EstimationError, match="nope"):
        model_frame("y ~ nope", df, response=True)
    with pytest.raises(EstimationError, match="one column"):
        model_frame("g ~ x", df, response=True)


def test_names_resolve_in_the_callers_scope_then_numpy() -> None:
    import innobaro as ib

    df = pd.DataFrame({"psu": range(10), "w": 1.0, "x": np.arange(1, 11.0),
                       "y": np.arange(10.0) * 2 + 1})
    d = ib.Design(df, weights="w", psu="psu")

    def half(v: pd.Series) -> pd.Series:
        return v / 2

    # a local function of the caller, as in R and statsmodels
    np.testing.assert_allclose(ib.glm("y ~ half(x)", d).params.to_numpy(), [-1.0, 4.0])
    # numpy as np even where the caller has no np, and no innobaro internals
    scope: dict = {"ib": ib, "d": d}
    exec("fit = ib.glm('y ~ np.log(x)', d)", scope)
    assert list(scope["fit"].params.index) == ["Intercept", "np.log(x)"]
    with pytest.raises(EstimationError, match="name 'family' is not defined"):
        ib.glm("y ~ family", d)


@pytest.mark.parametrize("formula", ["y ~ b", "y ~ x + C(b)", "y ~ x:b"])
def test_nullable_booleans_read_as_patsy_reads_booleans(formula: str) -> None:
    # patsy cannot read pandas' nullable "boolean" columns; innobaro reads
    # them as patsy reads numpy booleans (levels False, True), missing kept
    df = _frame()
    flags = np.arange(len(df)) % 3 == 0
    nullable = df.assign(b=pd.array(np.where(np.arange(len(df)) == 4, None, flags),
                                    dtype="boolean"))
    plain = df.assign(b=flags)[np.arange(len(df)) != 4]
    y_ref, X_ref = patsy.dmatrices(formula, plain, return_type="matrix")
    y, X, spec, kept = model_frame(formula, nullable, response=True)
    assert spec.column_names == list(X_ref.design_info.column_names)
    assert np.array_equal(X, np.asarray(X_ref))
    assert y is not None and np.array_equal(y, np.asarray(y_ref)[:, 0])
    assert not kept[4]


def test_unreadable_column_is_an_error_naming_the_formula() -> None:
    df = _frame().assign(bad=[{"a": 1}] * 200)
    with pytest.raises(EstimationError, match="formula 'y ~ bad'"):
        model_frame("y ~ bad", df, response=True)


# ---------------------------------------------------------------------------
# what R users type
# ---------------------------------------------------------------------------
def _design() -> ib.Design:
    df = _frame().dropna().reset_index(drop=True)
    df["psu"] = np.arange(len(df))
    df["w"] = 1.0 + (np.arange(len(df)) % 4)
    df["event"] = (df["y"] > 0).astype(int)
    return ib.Design(df, weights="w", psu="psu")


@pytest.mark.parametrize(("r_formula", "python_formula"), [
    ("event ~ factor(g) + x", "event ~ C(g) + x"),
    ("event ~ factor(k) * x", "event ~ C(k) * x"),
    ("event ~ factor(g, levels=['c', 'a', 'b']) + x",
     "event ~ C(g, levels=['c', 'a', 'b']) + x"),
    ("event ~ relevel(g, 'b') + x", "event ~ C(g, Treatment('b')) + x"),
    ("event ~ log(x) + sqrt(x) + exp(z)", "event ~ np.log(x) + np.sqrt(x) + np.exp(z)"),
    ("event ~ log(x, 10) + log2(x) + log10(x)",
     "event ~ I(np.log(x) / np.log(10)) + np.log2(x) + np.log10(x)"),
    ("event ~ log1p(x) + expm1(z)", "event ~ np.log1p(x) + np.expm1(z)"),
])
def test_r_spellings_fit_as_their_python_spelling(r_formula: str,
                                                 python_formula: str) -> None:
    d = _design()
    with pytest.warns(ib.InnobaroWarning) if "log2" in r_formula else _no_warning():
        r_fit = ib.logit(r_formula, d)
        py_fit = ib.logit(python_formula, d)
    np.testing.assert_array_equal(r_fit.params.to_numpy(), py_fit.params.to_numpy())
    np.testing.assert_array_equal(r_fit.bse.to_numpy(), py_fit.bse.to_numpy())
    # the terms keep the user's spelling, so tests and margins name them
    assert r_fit.spec.terms[1] == r_formula.split("~ ")[1].split(" + ")[0].split(" * ")[0]
    assert r_fit.wald_test(r_fit.spec.terms[1]).statistic == \
        py_fit.wald_test(py_fit.spec.terms[1]).statistic


def test_the_callers_names_come_before_the_r_spellings() -> None:
    d = _design()

    def log(v: pd.Series) -> pd.Series:  # the caller's own log: a log base 2
        return np.log2(v)

    mine = ib.logit("event ~ log(x)", d)
    assert mine.params["log(x)"] == pytest.approx(
        ib.logit("event ~ np.log2(x)", d).params["np.log2(x)"], rel=1e-12)
    # and a column of the data named like an R function comes first of all
    d2 = d.with_columns(exp=d.data["x"] * 2)
    assert "exp" in ib.logit("event ~ exp", d2).params.index
    assert set(R_FUNCTIONS) >= {"factor", "relevel", "log", "exp", "sqrt"}


@pytest.mark.parametrize(("formula", "advice"), [
    ("event ~ as.factor(g) + x", r"as.factor\(x\) is R: write C\(x\)"),
    ("event ~ as.numeric(x)", r"as.numeric\(x\) is R: .* write x"),
    ("event ~ as.character(k)", r"R's as.\*\(\) conversions"),
    ("event ~ poly(x, 2)", r"poly\(x, 2\) is R: write x \+ I\(x\*\*2\)"),
    ("event ~ ns(x, 3)", r"cr\(x, df=4\)"),
    ("event ~ ifelse(x > 2, 1, 0)", r"np.where\(cond, a, b\)"),
    ("event ~ .", r"R's '.' \(all other columns\)"),
    ("event ~ I(b == TRUE)", r"write True and False"),
    ("event ~ factor(g, levels=c('c', 'a', 'b'))", r"c\(...\) is R: write a Python list"),
])
def test_r_spellings_that_are_not_python_say_what_to_write(formula: str,
                                                           advice: str) -> None:
    with pytest.raises(EstimationError, match=advice):
        ib.logit(formula, _design())


@pytest.mark.parametrize("formula", ["event ~ I(k^2)", "event ~ x + I(x ^ 2)",
                                     "I(k^2) ~ x"])
def test_a_caret_inside_a_variable_is_an_error_not_an_exclusive_or(formula: str) -> None:
    # on integers, Python's ^ is exclusive or: I(k^2) would silently be k XOR 2
    with pytest.raises(EstimationError, match=r"\^ is Python's exclusive or.*I\(x\*\*2\)"):
        model_frame(formula, _design().data, response=True)
    # a ^ in a quoted column name is a name, not an operator
    df = _frame().assign(**{"x^2": _frame()["x"] ** 2})
    _, _, spec, _ = model_frame("y ~ Q('x^2')", df, response=True)
    assert spec.column_names == ["Intercept", "Q('x^2')"]
    # R's formula-level ^ (interactions up to an order) is ** in patsy
    with pytest.raises(EstimationError, match=r"R's \^ is \*\* here: \(a \+ b\)\*\*2"):
        model_frame("y ~ (x + z + g)^2", _frame(), response=True)
    _, _, spec, _ = model_frame("y ~ (x + z + g)**2", _frame(), response=True)
    assert "x:z" in spec.terms and "x:z:g" not in spec.terms


class _no_warning:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
