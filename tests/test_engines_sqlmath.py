"""The normal distribution in DuckDB SQL (``innobaro.engines.sqlmath``) is exact to ~1 ulp.

DuckDB evaluates :func:`norm_cdf`, :func:`norm_pdf` and :func:`norm_quantile`
over dense grids, tails included, and the values are compared with

- the exact values, computed here in 40-digit decimal arithmetic (the error
  function by its power series and continued fraction; the quantile by one
  Newton step from the value under test, whose error is then squared):
  at most 1e-15 relative wherever the value is a normal double
  (reached: 5e-16 for the distribution function and the density, 7e-16 for
  the quantile);
- scipy's ``ndtr`` and ``ndtri`` at 2e-15 relative: ``ndtri`` over the whole
  range, ``ndtr`` where scipy itself is within 1e-15 of the exact value (it
  squares a rounded :math:`x/\\sqrt 2` and loses up to 2e-13 relative in the
  lower tail below about -3, where the SQL is closer to the exact value);
- the numpy twins (the same arithmetic, operation by operation): within 8 units
  in the last place (DuckDB's ``exp`` and numpy's may round differently).

NULL and NaN pass through, the infinite and the exact points are checked, and
no ``ln`` in the SQL sees a value that is not positive (DuckDB 1.0 raises
there: the oldest-dependencies CI job runs this file on it). Skipped without
duckdb.
"""

from __future__ import annotations

import re
from decimal import Decimal, localcontext
from typing import Any

import numpy as np
import pytest
from scipy import special

from innobaro.engines.sqlmath import (
    norm_cdf,
    norm_cdf_numpy,
    norm_pdf,
    norm_pdf_numpy,
    norm_quantile,
    norm_quantile_numpy,
)

duckdb = pytest.importorskip("duckdb")

DIGITS = 40
TINY = float(np.finfo(float).tiny)
SUBNORMAL = float(np.nextafter(0.0, 1.0))
#: grids: x over [-38, 38] (steps of 0.05 and the splits of Cody's regions),
#: p from 1e-300 to 1 - 1e-16
X = np.unique(np.concatenate([np.linspace(-38.0, 38.0, 1521), np.linspace(-1.0, 1.0, 81),
                              [0.67448975, -0.67448975, np.sqrt(32.0), -np.sqrt(32.0),
                               -37.5193, -8.2924, 8.2924, 1e-300, -1e-300]]))
P = np.unique(np.concatenate([10.0 ** np.linspace(-300.0, -1.0, 600),
                              np.linspace(0.0, 1.0, 401)[1:-1],
                              1.0 - 10.0 ** np.linspace(-16.0, -1.0, 200),
                              [0.075, 0.925, 0.5, 0.5 + 2 ** -53, np.exp(-25.0)]]))


# ----------------------------------------------------------------------------
# the exact values, in decimal arithmetic
# ----------------------------------------------------------------------------
def _pi() -> Decimal:
    """pi by Machin's formula at the context's precision."""
    def arctan_inv(n: int) -> Decimal:
        x = Decimal(1) / n
        x2, term, total, k = x * x, x, x, 1
        while True:
            term = -term * x2
            add = term / (2 * k + 1)
            if add == 0:
                return total
            total += add
            k += 1
    return 16 * arctan_inv(5) - 4 * arctan_inv(239)


def _erfc(z: Decimal, sqrt_pi: Decimal) -> Decimal:
    """erfc(z), z >= 0: the power series of erf (all terms positive) up to 3, the
    continued fraction beyond."""
    if z <= 3:
        z2, term = z * z, z
        total, n = term, 0
        while term > total * Decimal(10) ** -(DIGITS + 2):
            n += 1
            term = term * 2 * z2 / (2 * n + 1)
            total += term
        return 1 - 2 / sqrt_pi * (-z2).exp() * total
    t = z
    for k in range(200, 0, -1):
        t = z + Decimal(k) / 2 / t
    return (-(z * z)).exp() / sqrt_pi / t


class _Exact:
    """Phi, phi and the quantile at DIGITS significant digits (plus guard digits)."""

    def __init__(self) -> None:
        self.prec = DIGITS + 20
        with localcontext() as ctx:
            ctx.prec = self.prec
            pi = _pi()
            self.sqrt_pi, self.sqrt_2pi, self.sqrt2 = pi.sqrt(), (2 * pi).sqrt(), \
                Decimal(2).sqrt()

    def cdf(self, x: float) -> Decimal:
        with localcontext() as ctx:
            ctx.prec = self.prec
            d = Decimal(x)
            if d < 0:
                return _erfc(-d / self.sqrt2, self.sqrt_pi) / 2
            return 1 - _erfc(d / self.sqrt2, self.sqrt_pi) / 2

    def pdf(self, x: float) -> Decimal:
        with localcontext() as ctx:
            ctx.prec = self.prec
            d = Decimal(x)
            return (-(d * d) / 2).exp() / self.sqrt_2pi

    def quantile(self, p: float, near: float) -> Decimal:
        """One Newton step from ``near`` (within 1e-15 relative): error ~1e-30."""
        with localcontext() as ctx:
            ctx.prec = self.prec
            x = Decimal(near)
            return x - (self.cdf(near) - Decimal(p)) / self.pdf(near)


EXACT = _Exact()


def _rel(values: np.ndarray, exact: list[Decimal]) -> np.ndarray:
    with localcontext() as ctx:
        ctx.prec = DIGITS
        return np.array([float(abs((Decimal(float(v)) - e) / e)) if e != 0 else
                         abs(float(v)) for v, e in zip(values, exact, strict=True)])


def _duckdb(sql: str, values: np.ndarray, name: str = "x") -> np.ndarray:
    con = duckdb.connect()
    try:
        con.execute(f"CREATE TABLE t AS SELECT unnest(?::DOUBLE[]) AS {name}",
                    [values.tolist()])
        out = con.execute(f"SELECT {name}, {sql} AS v FROM t ORDER BY {name}").fetchnumpy()
    finally:
        con.close()
    np.testing.assert_array_equal(np.asarray(out[name], dtype=float), np.sort(values))
    return np.asarray(out["v"], dtype=float)


def _ulps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a - b) / np.spacing(np.maximum(np.abs(a), np.abs(b)))


@pytest.fixture(scope="module")
def cdf() -> dict[str, Any]:
    return {"sql": _duckdb(norm_cdf("x"), X), "numpy": norm_cdf_numpy(X),
            "exact": [EXACT.cdf(float(x)) for x in X]}


@pytest.fixture(scope="module")
def pdf() -> dict[str, Any]:
    return {"sql": _duckdb(norm_pdf("x"), X), "numpy": norm_pdf_numpy(X),
            "exact": [EXACT.pdf(float(x)) for x in X]}


@pytest.fixture(scope="module")
def quantile() -> dict[str, Any]:
    sql = _duckdb(norm_quantile("p"), P, "p")
    return {"sql": sql, "numpy": norm_quantile_numpy(P),
            "exact": [EXACT.quantile(float(p), float(q)) for p, q in zip(P, sql, strict=True)]}


# ----------------------------------------------------------------------------
# accuracy
# ----------------------------------------------------------------------------
def test_the_exact_reference_is_right() -> None:
    # identities the decimal reference must meet (its series and continued fraction
    # meet at 3, and Phi(0) = 1/2, Phi(x) + Phi(-x) = 1)
    with localcontext() as ctx:
        ctx.prec = DIGITS
        assert EXACT.cdf(0.0) == Decimal("0.5")
        for x in (0.5, 4.2426406871192848, 4.2426406871192857, 7.0):
            assert abs(EXACT.cdf(x) + EXACT.cdf(-x) - 1) < Decimal(10) ** -(DIGITS - 2)
        # erfc at the series' end and the continued fraction's start agree
        z = Decimal(3)
        a = _erfc(z, EXACT.sqrt_pi)
        b = (-(z * z)).exp() / EXACT.sqrt_pi
        t = z
        for k in range(400, 0, -1):
            t = z + Decimal(k) / 2 / t
        assert abs(a / (b / t) - 1) < Decimal(10) ** -(DIGITS - 5)
    # the reference against scipy where both are accurate (the centre)
    centre = X[np.abs(X) < 0.6]
    np.testing.assert_allclose([float(EXACT.cdf(float(x))) for x in centre],
                               special.ndtr(centre), rtol=3e-16, atol=0)


def test_norm_cdf_is_exact_to_an_ulp_or_two(cdf: dict[str, Any]) -> None:
    normal = np.array([e >= Decimal(TINY) for e in cdf["exact"]])
    rel = _rel(cdf["sql"], cdf["exact"])
    assert rel[normal].max() <= 1e-15
    assert normal[X < -37.0].any() and X[normal].min() < -37.5  # tails included
    # below the smallest normal double (x < -37.52): an absolute error of a few
    # subnormal steps, as any double arithmetic there
    sub = np.array([float(abs(Decimal(float(v)) - e)) for v, e, n in
                    zip(cdf["sql"], cdf["exact"], normal, strict=True) if not n])
    assert sub.size and sub.max() <= 4 * SUBNORMAL


def test_norm_cdf_against_scipy(cdf: dict[str, Any]) -> None:
    scipy_rel = _rel(special.ndtr(X), cdf["exact"])
    ours = _rel(cdf["sql"], cdf["exact"])
    accurate = scipy_rel <= 1e-15
    assert accurate.sum() > 600 and X[accurate].min() < -2.0
    np.testing.assert_allclose(cdf["sql"][accurate], special.ndtr(X[accurate]), rtol=2e-15)
    # in the lower tail scipy's ndtr loses relative accuracy (2e-13 at -37) and the
    # SQL does not
    tail = (X < -6.0) & (X > -37.5)
    assert scipy_rel[tail].max() > 1e-14 > 1e-15 >= ours[tail].max()


def test_norm_pdf_is_exact_to_an_ulp_or_two(pdf: dict[str, Any]) -> None:
    normal = np.array([e >= Decimal(TINY) for e in pdf["exact"]])
    assert normal[np.abs(X) > 37.0].any()
    assert _rel(pdf["sql"], pdf["exact"])[normal].max() <= 1e-15
    # R's x1 + x2 split matters: the plain formula loses ~x^2/2 ulps in the tails
    plain = np.exp(-0.5 * X * X) / np.sqrt(2 * np.pi)
    assert _rel(plain, pdf["exact"])[normal].max() > 1e-14


def test_norm_quantile_is_exact_to_an_ulp_or_two(quantile: dict[str, Any]) -> None:
    rel = _rel(quantile["sql"], quantile["exact"])
    assert rel.max() <= 1e-15
    assert P.min() <= 1e-300 and P.max() >= 1 - 1e-16
    np.testing.assert_allclose(quantile["sql"], special.ndtri(P), rtol=2e-15, atol=0)


def test_the_numpy_twins_do_the_same_arithmetic(cdf: dict[str, Any], pdf: dict[str, Any],
                                                quantile: dict[str, Any]) -> None:
    for got in (cdf, pdf, quantile):
        normal = np.abs(got["numpy"]) >= TINY
        assert normal.sum() > 1000
        assert _ulps(got["sql"], got["numpy"])[normal].max() <= 8
        np.testing.assert_allclose(got["sql"][~normal], got["numpy"][~normal], rtol=0,
                                   atol=4 * SUBNORMAL)
    # the twins are as accurate as the SQL
    assert _rel(cdf["numpy"], cdf["exact"])[np.abs(cdf["numpy"]) >= TINY].max() <= 1e-15
    assert _rel(quantile["numpy"], quantile["exact"]).max() <= 1e-15


# ----------------------------------------------------------------------------
# special points, NULL and NaN, DuckDB 1.0's ln
# ----------------------------------------------------------------------------
SPECIAL = ["NULL", "'nan'::DOUBLE", "'inf'::DOUBLE", "'-inf'::DOUBLE", "0.0::DOUBLE",
           "-0.0::DOUBLE", "1.0::DOUBLE", "-1.0::DOUBLE", "0.5::DOUBLE", "1.5::DOUBLE",
           "-1e300::DOUBLE", "1e300::DOUBLE"]
VALUES = [None, np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, 1.5, -1e300, 1e300]


def _special(make: Any) -> list[Any]:
    rows = " UNION ALL ".join(f"SELECT {i} AS i, {v} AS x" for i, v in enumerate(SPECIAL))
    return [r[0] for r in duckdb.sql(f"SELECT {make('x')} FROM ({rows}) ORDER BY i").fetchall()]


def _same(got: list[Any], want: list[Any]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        if w is None:
            assert g is None
        elif np.isnan(w):
            assert g is not None and np.isnan(g)
        else:
            assert g == w, (got, want)


def test_special_points_null_and_nan() -> None:
    finite = [6, 7, 8, 9]  # 1, -1, 0.5, 1.5
    cdf = _special(norm_cdf)
    _same([v for i, v in enumerate(cdf) if i not in finite],
          [None, np.nan, 1.0, 0.0, 0.5, 0.5, 0.0, 1.0])
    pdf = _special(norm_pdf)
    _same([v for i, v in enumerate(pdf) if i not in finite],
          [None, np.nan, 0.0, 0.0, 1 / np.sqrt(2 * np.pi), 1 / np.sqrt(2 * np.pi), 0.0, 0.0])
    q = _special(norm_quantile)
    _same(q, [None, np.nan, np.nan, np.nan, -np.inf, -np.inf, np.inf, np.nan, 0.0, np.nan,
              np.nan, np.nan])
    x = np.array([np.nan if v is None else v for v in VALUES])
    np.testing.assert_allclose([cdf[i] for i in finite], special.ndtr(x[finite]), rtol=5e-16)
    np.testing.assert_allclose([pdf[i] for i in finite],
                               np.exp(-0.5 * x[finite] ** 2) / np.sqrt(2 * np.pi), rtol=5e-16)
    assert cdf[6] + cdf[7] == 1.0 and pdf[6] == pdf[7]
    # the numpy twins: the same values (NULL as NaN; exp may round otherwise), and
    # scipy's at the special points
    for sql, fn in ((cdf, norm_cdf_numpy), (pdf, norm_pdf_numpy), (q, norm_quantile_numpy)):
        np.testing.assert_allclose(fn(x), [np.nan if v is None else v for v in sql],
                                   rtol=8 * np.finfo(float).eps, atol=0)
    np.testing.assert_array_equal(norm_quantile_numpy(x), special.ndtri(x))
    np.testing.assert_array_equal(norm_cdf_numpy(x[:6]), special.ndtr(x[:6]))


def test_ln_never_sees_a_value_that_is_not_positive() -> None:
    # DuckDB 1.0 raises on ln(0) and ln(-1) even in a CASE branch it does not take
    for sql in (norm_cdf("x"), norm_pdf("x"), norm_quantile("x")):
        calls = re.findall(r"\bln\(", sql)
        guarded = re.findall(r"\bln\(greatest\(", sql)
        assert len(calls) == len(guarded)
        assert "log(" not in sql and "erf" not in sql
    assert len(re.findall(r"\bln\(", norm_quantile("x"))) >= 1


def test_an_expression_argument() -> None:
    # the argument may be an expression (it is parenthesised where it is used)
    got = duckdb.sql(f"SELECT {norm_cdf('x - 1.0')}, {norm_quantile('x / 4.0')}, "
                     f"{norm_pdf('-x')} FROM (SELECT 2.0::DOUBLE AS x)").fetchall()[0]
    # the same values to a few ulps (DuckDB 1.0's exp rounds differently from numpy's)
    np.testing.assert_allclose(got, [float(norm_cdf_numpy(1.0)),
                                     float(norm_quantile_numpy(0.5)),
                                     float(norm_pdf_numpy(2.0))], rtol=4e-16, atol=0)
