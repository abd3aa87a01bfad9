"""The normal distribution in SQL: its density, distribution function and quantile.

DuckDB's SQL has no ``erf``, ``pnorm`` or ``qnorm``, which the probit link
needs. This module writes them as SQL expressions of DOUBLE arithmetic and
functions that exist in DuckDB 1.0 and 2.x (``exp``, ``ln``, ``sqrt``,
``abs``, ``trunc``, ``greatest``, ``isnan``, ``CASE``), with the
published rational approximations R uses:

- the distribution function :math:`\\Phi(x)` by W. J. Cody's rational
  Chebyshev approximations of the error function (1969), as R's ``pnorm``
  (``nmath/pnorm.c``) evaluates them: a rational function of :math:`x^2` for
  :math:`|x| \\le 0.674`, of :math:`|x|` for :math:`|x| \\le \\sqrt{32}` and
  of :math:`1/x^2` beyond, the last two times :math:`e^{-x^2/2}` computed as
  :math:`e^{-s^2/2} e^{-(x-s)(x+s)/2}` with :math:`s = \\lfloor 16x \\rfloor / 16`,
  so that :math:`s^2` is exact and the tail keeps its relative accuracy down
  to the smallest normal double (:math:`x \\approx -37.5`); the upper half is
  :math:`1 - \\Phi(-x)`;
- the quantile :math:`\\Phi^{-1}(p)` by M. J. Wichura's algorithm AS 241
  (PPND16, 1988), R's ``qnorm``: a rational function of :math:`(p - 1/2)^2`
  for :math:`|p - 1/2| \\le 0.425`, else of :math:`r = \\sqrt{-\\ln \\min(p, 1-p)}`
  on :math:`r \\le 5` and :math:`r > 5`;
- the density :math:`\\phi(x) = e^{-x^2/2} / \\sqrt{2\\pi}` as R's ``dnorm``
  evaluates it in the tails, with :math:`x = x_1 + x_2`, :math:`x_1` a
  multiple of :math:`2^{-16}`, so that :math:`x_1^2` is exact.

Each function takes the SQL of its argument (a column, or a short
expression: it is repeated in the result, so pass a column where it is
long) and returns the SQL of the value; each has a numpy twin,
``*_numpy``, which does the same arithmetic operation by operation (both
are built from one description of the algorithm), so that DuckDB and numpy
agree to a few units in the last place (their ``exp`` and ``ln`` may round
differently). NULL stays NULL and NaN stays NaN; :math:`\\Phi(\\pm\\infty)`
is 1 or 0, :math:`\\phi(\\pm\\infty) = 0`, :math:`\\Phi^{-1}(0) = -\\infty`,
:math:`\\Phi^{-1}(1) = \\infty` and :math:`\\Phi^{-1}(p)` is NaN outside
:math:`[0, 1]`, as in scipy's ``ndtr``, ``ndtri``. No branch evaluates ``ln`` of
a value that is not positive (DuckDB 1.0 raises an error there, and may
evaluate every branch of a ``CASE``).

Accuracy, measured against the exact values (50-digit arithmetic) on dense
grids: :math:`\\Phi` within 5e-16 relative on :math:`[-37.5, 38]` (where it
is a normal double), :math:`\\Phi^{-1}` within 5e-16 relative on
:math:`[10^{-300}, 1 - 10^{-16}]`, :math:`\\phi` within 5e-16 relative on
:math:`[-37, 37]` (``tests/test_engines_sqlmath.py``).

References
----------
.. [1] Cody, W. J. (1969). Rational Chebyshev approximations for the error
   function. *Mathematics of Computation* 23, 631-637.
.. [2] Wichura, M. J. (1988). Algorithm AS 241: The percentage points of the
   normal distribution. *Applied Statistics* 37, 477-484.
.. [3] R Core Team. R's mathematical library, ``nmath/pnorm.c``,
   ``nmath/qnorm.c`` and ``nmath/dnorm.c``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["norm_cdf", "norm_cdf_numpy", "norm_pdf", "norm_pdf_numpy", "norm_quantile",
           "norm_quantile_numpy"]

# ----------------------------------------------------------------------------
# the published coefficients
# ----------------------------------------------------------------------------
#: Cody (1969), |x| <= 0.674: Phi(x) = 1/2 + x A(x^2) / B(x^2)
_A = (2.2352520354606839287, 161.02823106855587881, 1067.6894854603709582,
      18154.981253343561249, 0.065682337918207449113)
_B = (47.20258190468824187, 976.09855173777669322, 10260.932208618978205,
      45507.789335026729956)
#: 0.674 < |x| <= sqrt(32): Phi(-|x|) = exp(-x^2/2) C(|x|) / D(|x|)
_C = (0.39894151208813466764, 8.8831497943883759412, 93.506656132177855979,
      597.27027639480026226, 2494.5375852903726711, 6848.1904505362823326,
      11602.651437647350124, 9842.7148383839780218, 1.0765576773720192317e-8)
_D = (22.266688044328115691, 235.38790178262499861, 1519.377599407554805,
      6485.558298266760755, 18615.571640885098091, 34900.952721145977266,
      38912.003286093271411, 19685.429676859990727)
#: |x| > sqrt(32): Phi(-|x|) = exp(-x^2/2) (1/sqrt(2 pi) - P(1/x^2) / Q(1/x^2)) / |x|
_P = (0.21589853405795699, 0.1274011611602473639, 0.022235277870649807,
      0.001421619193227893466, 2.9112874951168792e-5, 0.02307344176494017303)
_Q = (1.28426009614491121, 0.468238212480865118, 0.0659881378689285515,
      0.00378239633202758244, 7.29751555083966205e-5)

#: Wichura (1988), AS 241 (PPND16): the numerator and denominator of each
#: region, constant term first
_AS241 = {
    "central": (
        (3.387132872796366608, 133.14166789178437745, 1971.5909503065514427,
         13731.693765509461125, 45921.953931549871457, 67265.770927008700853,
         33430.575583588128105, 2509.0809287301226727),
        (1.0, 42.313330701600911252, 687.1870074920579083, 5394.1960214247511077,
         21213.794301586595867, 39307.89580009271061, 28729.085735721942674,
         5226.495278852854561)),
    "intermediate": (
        (1.42343711074968357734, 4.6303378461565452959, 5.7694972214606914055,
         3.64784832476320460504, 1.27045825245236838258, 0.24178072517745061177,
         0.0227238449892691845833, 7.7454501427834140764e-4),
        (1.0, 2.05319162663775882187, 1.6763848301838038494, 0.68976733498510000455,
         0.14810397642748007459, 0.0151986665636164571966, 5.475938084995344946e-4,
         1.05075007164441684324e-9)),
    "tail": (
        (6.6579046435011037772, 5.4637849111641143699, 1.7848265399172913358,
         0.29656057182850489123, 0.026532189526576123093, 0.0012426609473880784386,
         2.71155556874348757815e-5, 2.01033439929228813265e-7),
        (1.0, 0.59983220655588793769, 0.13692988092273580531, 0.0148753612908506148525,
         7.868691311456132591e-4, 1.8463183175100546818e-5, 1.4215117583164458887e-7,
         2.04426310338993978564e-15)),
}

_M_1_SQRT_2PI = 0.398942280401432677939946059934
_SQRT_32 = 5.656854249492380195206754896838
#: R's split between Cody's first and second regions (qnorm(3/4))
_SPLIT = 0.67448975
#: beyond this |x| the density and both tails are 0 or 1 in doubles
_FAR = 40.0
#: the smallest normal double: ln's argument is never below it
_TINY = float(np.finfo(float).tiny)


# ----------------------------------------------------------------------------
# one description of the arithmetic, evaluated as SQL text or by numpy
# ----------------------------------------------------------------------------
def _lit(value: float) -> str:
    """A DOUBLE literal, exactly the double ``value`` (a plain decimal literal
    would be DuckDB's DECIMAL, and its cast to DOUBLE may round otherwise)."""
    return f"'{float(value)!r}'::DOUBLE"


class _Sql:
    """SQL text that the operators of Python build on (each result parenthesised)."""

    __slots__ = ("code",)

    def __init__(self, code: str) -> None:
        self.code = code

    def _op(self, op: str, other: Any, right: bool = False) -> _Sql:
        a, b = self.code, _code(other)
        return _Sql(f"({b} {op} {a})" if right else f"({a} {op} {b})")

    def __add__(self, other: Any) -> _Sql:
        return self._op("+", other)

    def __radd__(self, other: Any) -> _Sql:
        return self._op("+", other, right=True)

    def __sub__(self, other: Any) -> _Sql:
        return self._op("-", other)

    def __rsub__(self, other: Any) -> _Sql:
        return self._op("-", other, right=True)

    def __mul__(self, other: Any) -> _Sql:
        return self._op("*", other)

    def __rmul__(self, other: Any) -> _Sql:
        return self._op("*", other, right=True)

    def __truediv__(self, other: Any) -> _Sql:
        return self._op("/", other)

    def __rtruediv__(self, other: Any) -> _Sql:
        return self._op("/", other, right=True)

    def __neg__(self) -> _Sql:
        return _Sql(f"(-{self.code})")

    def __lt__(self, other: Any) -> _Sql:
        return self._op("<", other)

    def __le__(self, other: Any) -> _Sql:
        return self._op("<=", other)

    def __gt__(self, other: Any) -> _Sql:
        return self._op(">", other)


def _code(value: Any) -> str:
    return value.code if isinstance(value, _Sql) else _lit(value)


def _func(sql: str, numpy: Callable[..., Any]) -> Callable[..., Any]:
    """A function of one argument: ``sql(x)`` in SQL, ``numpy(x)`` in numpy."""
    def apply(x: Any) -> Any:
        return _Sql(f"{sql}({x.code})") if isinstance(x, _Sql) else numpy(x)
    return apply


_exp = _func("exp", np.exp)
_sqrt = _func("sqrt", np.sqrt)
_abs = _func("abs", np.abs)
_trunc = _func("trunc", np.trunc)


def _ln(x: Any) -> Any:
    """``ln(max(x, tiny))``: never the logarithm of a value that is not positive."""
    if isinstance(x, _Sql):
        return _Sql(f"ln(greatest({x.code}, {_lit(_TINY)}))")
    return np.log(np.maximum(x, _TINY))


def _where(cond: Any, a: Any, b: Any) -> Any:
    """``a`` where ``cond`` holds, else ``b``."""
    if isinstance(cond, _Sql):
        return _Sql(f"(CASE WHEN {cond.code} THEN {_code(a)} ELSE {_code(b)} END)")
    return np.where(cond, a, b)


def _within(x: Any, value: Any, below: float, above: float) -> Any:
    """``value`` where :math:`|x| \\le 40`; NaN where ``x`` is NaN (and NULL
    where it is NULL: no branch of the CASE holds); else ``below`` or ``above``,
    the value beyond :math:`\\mp 40` (and at :math:`\\mp\\infty`), where
    the arithmetic would meet infinities."""
    if isinstance(x, _Sql):
        return _Sql(f"(CASE WHEN abs({x.code}) <= {_lit(_FAR)} THEN {value.code} "
                    f"WHEN isnan({x.code}) THEN {x.code} WHEN {x.code} > 0 THEN {_lit(above)} "
                    f"WHEN {x.code} < 0 THEN {_lit(below)} END)")
    return np.where(np.abs(x) <= _FAR, value, np.where(np.isnan(x), x,
                                                      np.where(x > 0, above, below)))


def _passing(x: Any, value: Any) -> Any:
    """``value``, but NULL and NaN where ``x`` is (NULL: ``isnan(NULL)`` is NULL,
    so the CASE takes ``x``)."""
    if isinstance(x, _Sql):
        return _Sql(f"(CASE WHEN NOT isnan({x.code}) THEN {value.code} ELSE {x.code} END)")
    return np.where(np.isnan(x), x, value)


def _horner(coefs: Sequence[float], t: Any) -> Any:
    """:math:`\\sum_k c_k t^k` by Horner's rule, ``coefs`` constant term first."""
    value: Any = coefs[-1]
    for c in coefs[-2::-1]:
        value = value * t + c
    return value


# ----------------------------------------------------------------------------
# the algorithms
# ----------------------------------------------------------------------------
def _gauss_tail(x: Any, rational: Any) -> Any:
    """:math:`e^{-x^2/2}` times ``rational``, :math:`x^2` split so the square is
    exact (R's ``do_del``)."""
    xsq = _trunc(x * 16.0) / 16.0
    delta = (x - xsq) * (x + xsq)
    return _exp(-xsq * xsq * 0.5) * _exp(-delta * 0.5) * rational


def _cdf(x: Any) -> Any:
    """Cody's :math:`\\Phi(x)`, R's ``pnorm_both`` for the lower tail."""
    y = _abs(x)
    # |x| <= 0.674
    xsq = x * x
    xnum, xden = _A[4] * xsq, xsq
    for i in range(3):
        xnum = (xnum + _A[i]) * xsq
        xden = (xden + _B[i]) * xsq
    central = 0.5 + x * (xnum + _A[3]) / (xden + _B[3])
    # 0.674 < |x| <= sqrt(32)
    xnum, xden = _C[8] * y, y
    for i in range(7):
        xnum = (xnum + _C[i]) * y
        xden = (xden + _D[i]) * y
    middle = _gauss_tail(y, (xnum + _C[7]) / (xden + _D[7]))
    # |x| > sqrt(32)
    xsq = 1.0 / (y * y)
    xnum, xden = _P[5] * xsq, xsq
    for i in range(4):
        xnum = (xnum + _P[i]) * xsq
        xden = (xden + _Q[i]) * xsq
    far = _gauss_tail(y, (_M_1_SQRT_2PI - xsq * (xnum + _P[4]) / (xden + _Q[4])) / y)
    lower = _where(y <= _SQRT_32, middle, far)  # Phi(-|x|)
    return _within(x, _where(y <= _SPLIT, central, _where(x > 0.0, 1.0 - lower, lower)),
                   0.0, 1.0)


def _quantile(p: Any) -> Any:
    """Wichura's AS 241 :math:`\\Phi^{-1}(p)`, R's ``qnorm`` for the lower tail."""
    q = p - 0.5
    r = 0.180625 - q * q
    num, den = _AS241["central"]
    central = q * _horner(num, r) / _horner(den, r)
    r = _sqrt(-_ln(_where(q < 0.0, p, 1.0 - p)))
    num, den = _AS241["intermediate"]
    s = r - 1.6
    intermediate = _horner(num, s) / _horner(den, s)
    num, den = _AS241["tail"]
    s = r - 5.0
    tail = _horner(num, s) / _horner(den, s)
    beyond = _where(r <= 5.0, intermediate, tail)
    value = _where(_abs(q) <= 0.425, central, _where(q < 0.0, -beyond, beyond))
    # the ends and outside [0, 1]: p = 0 and 1 would reach ln(tiny) only
    value = _where(p > 0.0, value, _where(p < 0.0, np.nan, -np.inf))
    value = _where(p < 1.0, value, _where(p > 1.0, np.nan, np.inf))
    return _passing(p, value)


def _pdf(x: Any) -> Any:
    """:math:`\\phi(x)` with :math:`x = x_1 + x_2`, :math:`x_1^2` exact (R's ``dnorm``)."""
    y = _abs(x)
    x1 = _trunc(y * 65536.0) / 65536.0
    x2 = y - x1
    return _within(x, _M_1_SQRT_2PI * (_exp(-0.5 * x1 * x1) * _exp((-0.5 * x2 - x1) * x2)),
                   0.0, 0.0)


def _numpy(fn: Callable[[Any], Any], x: Any) -> np.ndarray:
    values = np.asarray(x, dtype=float)
    with np.errstate(all="ignore"):
        return np.asarray(fn(values), dtype=float)


# ----------------------------------------------------------------------------
# public
# ----------------------------------------------------------------------------
def norm_cdf(x: str) -> str:
    """The standard normal distribution function :math:`\\Phi(x)` as a SQL expression.

    W. J. Cody's rational Chebyshev approximations (R's ``pnorm``):
    :math:`\\Phi(x) = 1/2 + x A(x^2)/B(x^2)` for :math:`|x| \\le 0.674`,
    :math:`\\Phi(-|x|) = e^{-x^2/2} C(|x|)/D(|x|)` for :math:`|x| \\le \\sqrt{32}`,
    :math:`\\Phi(-|x|) = e^{-x^2/2} (1/\\sqrt{2\\pi} - x^{-2} P(x^{-2})/Q(x^{-2})) / |x|`
    beyond, and :math:`\\Phi(|x|) = 1 - \\Phi(-|x|)`. The lower tail is accurate
    in relative terms down to the smallest normal double.

    Parameters
    ----------
    x : str
        SQL of a DOUBLE (a column name, or a short expression: it is repeated).

    Returns
    -------
    str
        SQL of :math:`\\Phi(x)` (NULL for NULL, NaN for NaN).

    References
    ----------
    Cody, W. J. (1969). Rational Chebyshev approximations for the error
    function. *Mathematics of Computation* 23, 631-637.

    Examples
    --------
    >>> import duckdb
    >>> duckdb.sql(f"SELECT {norm_cdf('x')} FROM (SELECT -1.0::DOUBLE AS x)").fetchall()
    [(0.15865525393145705,)]
    """
    return str(_cdf(_Sql(f"({x})")).code)


def norm_cdf_numpy(x: Any) -> np.ndarray:
    """:func:`norm_cdf` in numpy, the same arithmetic operation by operation.

    Parameters
    ----------
    x : array_like
        The arguments.

    Returns
    -------
    numpy.ndarray
        :math:`\\Phi(x)`.

    References
    ----------
    Cody, W. J. (1969). Rational Chebyshev approximations for the error
    function. *Mathematics of Computation* 23, 631-637.

    Examples
    --------
    >>> float(norm_cdf_numpy(-1.0))
    0.15865525393145705
    """
    return _numpy(_cdf, x)


def norm_quantile(p: str) -> str:
    """The standard normal quantile :math:`\\Phi^{-1}(p)` as a SQL expression.

    M. J. Wichura's algorithm AS 241 (PPND16, R's ``qnorm``): with
    :math:`q = p - 1/2`, :math:`\\Phi^{-1}(p) = q\\, A(r)/B(r)`,
    :math:`r = 0.180625 - q^2`, for :math:`|q| \\le 0.425`; else, with
    :math:`r = \\sqrt{-\\ln \\min(p, 1 - p)}`, :math:`\\pm C(r - 1.6)/D(r - 1.6)`
    for :math:`r \\le 5` and :math:`\\pm E(r - 5)/F(r - 5)` beyond, the sign of
    :math:`q`. ``ln``'s argument is never below the smallest normal double.

    Parameters
    ----------
    p : str
        SQL of a DOUBLE probability (a column name, or a short expression: it
        is repeated).

    Returns
    -------
    str
        SQL of :math:`\\Phi^{-1}(p)`: :math:`-\\infty` at 0, :math:`\\infty` at 1,
        NaN outside :math:`[0, 1]` and for NaN, NULL for NULL.

    References
    ----------
    Wichura, M. J. (1988). Algorithm AS 241: The percentage points of the
    normal distribution. *Applied Statistics* 37, 477-484.

    Examples
    --------
    >>> import duckdb
    >>> duckdb.sql(f"SELECT {norm_quantile('p')} FROM (SELECT 0.975::DOUBLE AS p)").fetchall()
    [(1.9599639845400536,)]
    """
    return str(_quantile(_Sql(f"({p})")).code)


def norm_quantile_numpy(p: Any) -> np.ndarray:
    """:func:`norm_quantile` in numpy, the same arithmetic operation by operation.

    Parameters
    ----------
    p : array_like
        The probabilities.

    Returns
    -------
    numpy.ndarray
        :math:`\\Phi^{-1}(p)`.

    References
    ----------
    Wichura, M. J. (1988). Algorithm AS 241: The percentage points of the
    normal distribution. *Applied Statistics* 37, 477-484.

    Examples
    --------
    >>> float(norm_quantile_numpy(0.975))
    1.9599639845400536
    """
    return _numpy(_quantile, p)


def norm_pdf(x: str) -> str:
    """The standard normal density :math:`\\phi(x) = e^{-x^2/2}/\\sqrt{2\\pi}` as SQL.

    As R's ``dnorm``: :math:`|x| = x_1 + x_2` with :math:`x_1` a multiple of
    :math:`2^{-16}`, so :math:`x_1^2` is exact, and
    :math:`\\phi(x) = e^{-x_1^2/2}\\, e^{-(x_1 + x_2/2) x_2} / \\sqrt{2\\pi}`,
    accurate in relative terms in the tails, where the rounding of
    :math:`x^2` would cost :math:`x^2/2` units in the last place.

    Parameters
    ----------
    x : str
        SQL of a DOUBLE (a column name, or a short expression: it is repeated).

    Returns
    -------
    str
        SQL of :math:`\\phi(x)` (NULL for NULL, NaN for NaN).

    References
    ----------
    R Core Team. R's mathematical library, ``nmath/dnorm.c``.

    Examples
    --------
    >>> import duckdb
    >>> duckdb.sql(f"SELECT {norm_pdf('x')} FROM (SELECT 0.0::DOUBLE AS x)").fetchall()
    [(0.3989422804014327,)]
    """
    return str(_pdf(_Sql(f"({x})")).code)


def norm_pdf_numpy(x: Any) -> np.ndarray:
    """:func:`norm_pdf` in numpy, the same arithmetic operation by operation.

    Parameters
    ----------
    x : array_like
        The arguments.

    Returns
    -------
    numpy.ndarray
        :math:`\\phi(x)`.

    References
    ----------
    R Core Team. R's mathematical library, ``nmath/dnorm.c``.

    Examples
    --------
    >>> float(norm_pdf_numpy(0.0))
    0.3989422804014327
    """
    return _numpy(_pdf, x)
