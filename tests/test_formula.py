"""innobaro's model-matrix builder against patsy's own ``dmatrices``.

innobaro lets patsy parse the formula and learn the encoding, then builds the
columns itself (column-major, several times faster). These tests check that
the matrix, the column names and the response are patsy's bit for bit, over
numeric transforms, stateful transforms, every contrast, interactions of
every kind, text and categorical columns and missing values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import patsy
import pytest

from innobaro.errors import EstimationError
from innobaro.formula import model_frame


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
    assert np.array_equal(spec.matrix(df[kept].reset_index(drop=True)), X)


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
