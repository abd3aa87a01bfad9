"""Linear and nonlinear combinations of the entries of an estimate, as R's
``svycontrast``: :func:`contrast` and :class:`Nonlinear` (the delta method,
with an exact gradient from a small expression evaluator or a given one).

A contrast uses the ``vcov`` of the estimate it combines (a mean, domain
means, predictive margins, a model's coefficients); nothing here computes a
variance (Lumley 2010, sec. 2.4)."""

from __future__ import annotations

import ast
import math
import re
import warnings
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .errors import EstimationError
from .results import Estimate, as_estimate
from .variance import combined_df

__all__ = ["Nonlinear", "contrast", "linear_combination"]


try:
    from numpy.exceptions import ComplexWarning
except ImportError:  # numpy < 1.25
    from numpy import ComplexWarning  # type: ignore[attr-defined,no-redef]


def linear_combination(est: Estimate, G: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """G theta and G V G' over the entries G uses."""
    theta = est.estimate.to_numpy()
    V = est.vcov.to_numpy()
    used = (G != 0).any(axis=0)
    Gu = G[:, used]
    return Gu @ theta[used], Gu @ V[np.ix_(used, used)] @ Gu.T


class _Labels:
    """Finds an Estimate's entries by label, short domain label or R-style name.

    - the label itself: a value of ``estimate.estimate.index`` (a tuple for
      domain estimates);
    - for domain estimates of one variable, the domain alone: the by-value,
      or a tuple of by-values for several by columns;
    - names as R's ``svyby`` gives them: the by-values joined by ``.``, then
      ``:variable`` (the domain alone when there is one variable); for an
      estimate without domains, the label as a string.
    """

    def __init__(self, index: pd.Index) -> None:
        self.index = index
        self.labels = list(index)
        self.lookup: dict[Hashable, int | None] = {}
        if isinstance(index, pd.MultiIndex):
            one_var = index.get_level_values(-1).nunique() == 1
            for i, lab in enumerate(self.labels):
                self._add(lab, i)
                dom = tuple(lab[:-1])
                for dom_name in _names(dom):
                    self._add(f"{dom_name}:{lab[-1]}", i)
                    if one_var:
                        self._add(dom_name, i)
                if one_var:
                    self._add(dom if len(dom) > 1 else dom[0], i)
        else:
            for i, lab in enumerate(self.labels):
                self._add(lab, i)
                for name in _names((lab,)):
                    self._add(name, i)

    def _add(self, key: Hashable, i: int) -> None:
        try:
            hash(key)
        except TypeError:
            return
        if key in self.lookup and self.lookup[key] != i:
            self.lookup[key] = None  # ambiguous
        else:
            self.lookup[key] = i

    def find(self, key: Any) -> int | None:
        if isinstance(key, list):
            key = tuple(key)
        try:
            return self.lookup.get(key)
        except TypeError:
            return None

    def positions(self, keys: Sequence[Any], what: str) -> list[int]:
        out: list[int] = []
        unmatched: list[Any] = []
        ambiguous: list[Any] = []
        for key in keys:
            i = self.find(key)
            if i is None:
                (ambiguous if _hashable(key) and key in self.lookup else unmatched).append(key)
            out.append(-1 if i is None else i)
        if unmatched or ambiguous:
            parts = []
            if unmatched:
                parts.append(f"{', '.join(map(repr, unmatched))} "
                             f"{'is' if len(unmatched) == 1 else 'are'} not among the "
                             f"estimate's entries")
            if ambiguous:
                parts.append(f"{', '.join(map(repr, ambiguous))} matches several entries")
            preview = ", ".join(repr(lab) for lab in self.labels[:8])
            if len(self.labels) > 8:
                preview += ", ..."
            raise EstimationError(f"{what}: {'; '.join(parts)}. The entries are {preview} "
                                  f"(labels of estimate.estimate.index)")
        return out


def _hashable(key: Any) -> bool:
    try:
        hash(key)
    except TypeError:
        return False
    return True


def _names(values: tuple) -> list[str]:
    """R-style names of a tuple of label values joined by '.' (with the plain and the
    R formatting of numbers)."""
    plain = ".".join(str(v) for v in values)
    r_like = ".".join(_r_format(v) for v in values)
    return [plain] if r_like == plain else [plain, r_like]


def _r_format(v: Any) -> str:
    if isinstance(v, (float, np.floating)) and math.isfinite(v):
        return f"{float(v):.15g}"
    return str(v)


class _Values(Mapping):
    """The entries of an estimate, by any key :class:`_Labels` understands.

    Passed to a user's function; records which entries it reads.
    """

    def __init__(self, labels: _Labels, values: np.ndarray) -> None:
        self._labels = labels
        self._values = values
        self.used: set[int] = set()

    def __getitem__(self, key: Any) -> Any:
        i = self._labels.find(key)
        if i is None:
            self._labels.positions([key], "contrast")  # raises, naming the key
        assert i is not None
        self.used.add(i)
        return self._values[i]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._labels.labels)

    def __len__(self) -> int:
        return len(self._labels.labels)


@dataclass(frozen=True)
class Nonlinear:
    """A nonlinear function of the entries of an estimate, for :func:`contrast`.

    Parameters
    ----------
    fn : callable
        ``fn(values) -> float``, where ``values[key]`` is the entry with that
        key (a label of ``estimate.estimate.index``, or a short or R-style
        name; see :func:`contrast`). Written with arithmetic and numpy
        functions (``np.log``, ``np.exp``, ...), its derivative is computed
        by complex-step differentiation, exact to rounding error.
    gradient : callable, optional
        ``gradient(values) -> {key: derivative}`` (or a sequence with one
        derivative per entry). Needed only for functions that are not
        analytic (``abs``, ``max``, branches) or do not accept complex input.
    name : str
        Label of the result.

    Examples
    --------
    >>> import numpy as np
    >>> import innobaro as ib
    >>> spec = ib.contrast.nonlinear(lambda v: np.log(v["a"] / v["b"]), name="log(a/b)")
    >>> spec.name
    'log(a/b)'
    """

    fn: Callable[[Mapping], Any]
    gradient: Callable[[Mapping], Any] | None = None
    name: str = "contrast"


#: functions allowed in contrast expressions; all analytic and complex-safe
def _logit(z: Any) -> Any:
    return np.log(z / (1 - z))


def _expit(z: Any) -> Any:
    return 1 / (1 + np.exp(-z))


_FUNCTIONS: dict[str, Callable[[Any], Any]] = {
    "log": np.log, "exp": np.exp, "sqrt": np.sqrt, "log10": np.log10, "log2": np.log2,
    "log1p": np.log1p, "expm1": np.expm1, "sin": np.sin, "cos": np.cos, "tan": np.tan,
    "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan, "sinh": np.sinh,
    "cosh": np.cosh, "tanh": np.tanh, "logit": _logit, "qlogis": _logit,
    "expit": _expit, "plogis": _expit,
}
_CONSTANTS = {"pi": math.pi}
_DOTTED = re.compile(r"(?<![\w.])(?:[A-Za-z]|\.(?![0-9]))[\w.]*")


class _Expression:
    """An arithmetic expression in the entries of an estimate (R syntax).

    Names are entries (see :class:`_Labels`); a name with characters other
    than letters, digits, ``_`` and ``.`` is written in backquotes, as in R.
    ``^`` and ``**`` are powers.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        quoted: dict[str, str] = {}

        def hold(name: str) -> str:
            key = f"_q{len(quoted)}_"
            quoted[key] = name
            return key

        src = re.sub(r"`([^`]*)`", lambda m: hold(m.group(1)), text)
        src = _DOTTED.sub(lambda m: hold(m.group(0)) if "." in m.group(0) else m.group(0),
                          src)
        src = src.replace("^", "**")
        try:
            self.tree = ast.parse(src.strip(), mode="eval")
        except SyntaxError as exc:
            raise EstimationError(f"contrast: cannot read the expression {text!r}: "
                                  f"{exc.msg}") from None
        self.quoted = quoted
        self.names: list[str] = []
        self._collect(self.tree.body)

    def _name(self, node: ast.Name) -> str:
        return self.quoted.get(node.id, node.id)

    def _collect(self, node: ast.AST) -> None:
        if isinstance(node, ast.BinOp):
            if not isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow)):
                self._unsupported(node)
            self._collect(node.left)
            self._collect(node.right)
        elif isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, (ast.USub, ast.UAdd)):
                self._unsupported(node)
            self._collect(node.operand)
        elif isinstance(node, ast.Call):
            if (not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS
                    or len(node.args) != 1 or node.keywords):
                fname = node.func.id if isinstance(node.func, ast.Name) else "?"
                raise EstimationError(
                    f"contrast: {fname}() in {self.text!r} is not available; expressions "
                    f"may use {', '.join(sorted(_FUNCTIONS))} with one argument")
            self._collect(node.args[0])
        elif isinstance(node, ast.Name):
            name = self._name(node)
            if name not in self.names:
                self.names.append(name)
        elif isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            pass
        else:
            self._unsupported(node)

    def _unsupported(self, node: ast.AST) -> None:
        raise EstimationError(f"contrast: {type(node).__name__} is not allowed in the "
                              f"expression {self.text!r}; use numbers, entry names, "
                              f"+ - * / ^ and functions such as log, exp, sqrt")

    def evaluate(self, env: Mapping[str, Any]) -> Any:
        return self._eval(self.tree.body, env)

    def _eval(self, node: ast.AST, env: Mapping[str, Any]) -> Any:
        if isinstance(node, ast.BinOp):
            a, b = self._eval(node.left, env), self._eval(node.right, env)
            op = node.op
            if isinstance(op, ast.Add):
                return a + b
            if isinstance(op, ast.Sub):
                return a - b
            if isinstance(op, ast.Mult):
                return a * b
            if isinstance(op, ast.Div):
                return a / b
            return a ** b
        if isinstance(node, ast.UnaryOp):
            v = self._eval(node.operand, env)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.Call):
            assert isinstance(node.func, ast.Name)
            return _FUNCTIONS[node.func.id](self._eval(node.args[0], env))
        if isinstance(node, ast.Name):
            return env[self._name(node)]
        assert isinstance(node, ast.Constant)
        return node.value


_STEP = 1e-20  # complex step: derivative error of order step^2, no cancellation


@dataclass
class _Combination:
    """One contrast evaluated at the estimate: value and gradient."""

    name: str
    value: float
    gradient: np.ndarray


def _evaluate(spec: Any, name: str | None, labels: _Labels, theta: np.ndarray
              ) -> _Combination:
    """Value and gradient of one contrast specification at theta."""
    k = theta.size
    if isinstance(spec, str):
        return _evaluate_expression(_Expression(spec), name, labels, theta)
    if isinstance(spec, Nonlinear):
        return _evaluate_function(spec, spec.name if name is None else name, labels, theta)
    if callable(spec):
        return _evaluate_function(Nonlinear(spec), name or "contrast", labels, theta)
    if isinstance(spec, pd.Series):
        spec = dict(spec.items())
    if isinstance(spec, Mapping):
        if not spec:
            raise EstimationError("contrast: no coefficients given")
        keys = list(spec.keys())
        pos = labels.positions(keys, "contrast")
        g = np.zeros(k)
        for i, key in zip(pos, keys, strict=True):
            g[i] += _number(spec[key], key)
        return _Combination(name or "contrast", _dot(g, theta), g)
    try:
        g = np.asarray(spec, dtype=float).ravel()
    except (TypeError, ValueError):
        raise EstimationError(f"contrast: cannot read {spec!r} as a contrast; give "
                              f"{{label: coefficient}}, a list of coefficients, an "
                              f"expression string or a function") from None
    if g.size != k:
        raise EstimationError(f"contrast: {g.size} coefficients for an estimate with {k} "
                              f"entries; give one per entry, or a dict {{label: "
                              f"coefficient}}")
    return _Combination(name or "contrast", _dot(g, theta), g)


def _dot(g: np.ndarray, theta: np.ndarray) -> float:
    """g . theta over the entries with a nonzero coefficient (a missing estimate
    with coefficient zero does not make the contrast missing)."""
    used = g != 0
    return float(g[used] @ theta[used])


def _number(value: Any, key: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise EstimationError(f"contrast: the coefficient of {key!r} is not a number: "
                              f"{value!r}") from None


def _evaluate_expression(expr: _Expression, name: str | None, labels: _Labels,
                         theta: np.ndarray) -> _Combination:
    entry_names = [n for n in expr.names
                   if not (n in _CONSTANTS and labels.find(n) is None)]
    pos = labels.positions(entry_names, f"contrast {expr.text!r}")
    env: dict[str, Any] = {n: theta[i] for n, i in zip(entry_names, pos, strict=True)}
    for n in expr.names:
        env.setdefault(n, _CONSTANTS.get(n))
    with np.errstate(all="ignore"):
        value = complex(expr.evaluate(env)).real
        g = np.zeros(theta.size)
        for n, i in zip(entry_names, pos, strict=True):
            step = dict(env)
            step[n] = theta[i] + 1j * _STEP
            g[i] += complex(expr.evaluate(step)).imag / _STEP
    return _Combination(name or expr.text, value, g)


def _evaluate_function(spec: Nonlinear, name: str, labels: _Labels, theta: np.ndarray
                       ) -> _Combination:
    values = _Values(labels, theta.astype(float))
    try:
        value = complex(spec.fn(values)).real
    except (TypeError, ValueError) as exc:
        raise EstimationError(f"contrast {name!r}: the function must return one number; "
                              f"{exc}") from None
    g = np.zeros(theta.size)
    if spec.gradient is not None:
        grad = spec.gradient(_Values(labels, theta.astype(float)))
        if isinstance(grad, Mapping):
            keys = list(grad.keys())
            for i, key in zip(labels.positions(keys, f"contrast {name!r}"), keys, strict=True):
                g[i] += _number(grad[key], key)
        else:
            arr = np.asarray(grad, dtype=float).ravel()
            if arr.size != theta.size:
                raise EstimationError(f"contrast {name!r}: the gradient has {arr.size} "
                                      f"values for {theta.size} entries")
            g = arr
        return _Combination(name, value, g)
    for i in sorted(values.used):
        shifted = theta.astype(complex)
        shifted[i] += 1j * _STEP
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("error", ComplexWarning)
                out = spec.fn(_Values(labels, shifted))
            if not np.iscomplexobj(out):
                raise TypeError("the function dropped the imaginary part")
            g[i] = complex(out).imag / _STEP
        except (TypeError, ValueError, ComplexWarning) as exc:
            raise EstimationError(
                f"contrast {name!r}: cannot differentiate the function by complex step "
                f"({exc}). Write it with arithmetic and numpy functions (np.log, not "
                f"math.log; no float(), abs() or comparisons), or give its gradient: "
                f"ib.contrast.nonlinear(fn, gradient=...)") from None
    return _Combination(name, value, g)


def _is_coefficients(spec: Mapping) -> bool:
    """A mapping of numbers is one linear contrast; otherwise several named ones."""
    kinds = [isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
             for v in spec.values()]
    if all(kinds):
        return True
    if not any(kinds):
        return False
    raise EstimationError("contrast: a dict must be either {label: coefficient} (one "
                          "linear contrast) or {name: contrast} (several named contrasts), "
                          "not a mix of both")


def contrast(estimate: Estimate | Any, weights: Any) -> Estimate:
    """Linear or nonlinear combinations of the entries of an estimate.

    Parameters
    ----------
    estimate : Estimate or GLMResult
        Any estimate with its covariance matrix: several variables, domains
        (``by=``), or both; predictive margins; or a fitted model, whose
        coefficients (labelled by term) are combined with their design-based
        covariance and the model's residual degrees of freedom.
    weights
        One contrast, or several:

        - ``{label: coefficient}``: a linear combination; labels as in
          ``estimate.estimate.index`` (a tuple for domain estimates), see
          below for shorter keys; entries not named get coefficient 0;
        - a list or array with one coefficient per entry;
        - a string expression in the entries, in R's syntax:
          ``"log(E / H)"``, ``"a / (1 - a)"``, ```"`E:api00` / `H:api00`"```;
          functions ``log``, ``exp``, ``sqrt``, ``log10``, ``log2``,
          ``log1p``, ``expm1``, ``logit``/``qlogis``, ``expit``/``plogis``,
          trigonometric and hyperbolic functions; ``^`` is a power;
        - a function ``f(values)`` of the entries (``values[key]``), written
          with arithmetic and numpy functions, or a :class:`Nonlinear` from
          the helpers below;
        - a dict ``{name: contrast}`` of any of these: one entry each, with
          their covariance.

    Returns
    -------
    Estimate
        Indexed by contrast name (``"contrast"`` for a single unnamed linear
        contrast, the expression for a string). ``vcov`` is the full
        covariance of the contrasts; ``df`` is, for each contrast, the
        smallest degrees of freedom of the entries it uses; ``ci()`` gives t
        intervals.

    Notes
    -----
    For a linear contrast :math:`c^\\top\\hat\\theta` the variance is
    :math:`c^\\top \\hat V c` with :math:`\\hat V` the full covariance of the
    estimate (``estimate.vcov``: between domains and variables too, never
    assumed zero). A nonlinear contrast :math:`g(\\hat\\theta)` has the
    delta-method variance :math:`\\nabla g^\\top \\hat V \\nabla g` (Lumley
    2010, sec. 2.4). The gradient is computed by complex-step
    differentiation, :math:`\\partial g/\\partial\\theta_j =
    \\mathrm{Im}\\, g(\\hat\\theta + i h e_j)/h` with :math:`h = 10^{-20}`,
    which is exact to rounding error for analytic :math:`g` (Squire and
    Trapp 1998); R's ``svycontrast`` differentiates symbolically and agrees
    to about 1e-15.

    Keys of an entry (in dicts, in expressions and in ``values[...]``):

    - its label: a value of ``estimate.estimate.index``;
    - for domain estimates of one variable, the domain alone: ``"E"`` for
      ``("E", "api00")``, a tuple for several by columns;
    - R's ``svyby`` names: by-values joined by ``.``, then ``:variable``
      (``"E:api00"``, ``"E.Yes:api00"``), or without ``:variable`` when there
      is one variable. A name matching several entries is an error.

    Helpers for common nonlinear contrasts, each returning a
    :class:`Nonlinear` (``a`` and ``b`` are keys):
    ``contrast.difference(a, b)`` (:math:`a - b`), ``contrast.ratio(a, b)``
    (:math:`a/b`), ``contrast.log_ratio(a, b)``, ``contrast.odds_ratio(a, b)``
    (:math:`\\frac{a/(1-a)}{b/(1-b)}`), ``contrast.log_odds_ratio(a, b)``,
    and ``contrast.nonlinear(fn, gradient=None, name=...)`` for any function.

    This is R's ``svycontrast`` (delta method, as R for linearisation designs
    and for replicate estimates without ``return.replicates``), and Stata's
    ``lincom`` and ``nlcom`` after ``svy:``.

    References
    ----------
    .. [1] Lumley, T. (2010). *Complex Surveys*, sec. 2.4 (``svycontrast``).
    .. [2] Squire, W. and Trapp, G. (1998). Using complex variables to
       estimate derivatives of real functions. *SIAM Review* 40, 110-112.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> df = pd.DataFrame({"psu": range(8), "w": [2.0, 1, 2, 1, 3, 1, 2, 2],
    ...                    "sales": [10.0, 12, 9, 14, 20, 18, 22, 19],
    ...                    "region": ["north"] * 4 + ["south"] * 4})
    >>> est = ib.mean(ib.Design(df, weights="w", psu="psu"), "sales", by="region")
    >>> diff = ib.contrast(est, {"south": 1, "north": -1})
    >>> diff.estimate.round(4).tolist(), diff.se.round(4).tolist()
    ([9.3333], [1.1167])
    >>> ib.contrast(est, "log(south / north)").estimate.round(4).tolist()
    [0.6286]
    >>> both = ib.contrast(est, {"gap": [-1, 1], "ratio": ib.contrast.ratio("south", "north")})
    >>> both  # doctest: +NORMALIZE_WHITESPACE
    Contrast: 95% interval, df = 3
              estimate       se   lower   upper
    contrast
    gap        9.33333  1.11665 5.77965  12.887
    ratio        1.875 0.170449 1.33256 2.41744
    """
    try:
        estimate = as_estimate(estimate)  # a fitted model: its coefficients
    except TypeError:
        raise TypeError(f"contrast: estimate must be an innobaro Estimate or a fitted "
                        f"model, not {type(estimate).__name__}") from None
    theta = estimate.estimate.to_numpy()
    labels = _Labels(estimate.estimate.index)
    if isinstance(weights, Mapping) and not weights:
        raise EstimationError("contrast: no contrast given")
    if isinstance(weights, Mapping) and not _is_coefficients(weights):
        combos = [_evaluate(spec, str(name), labels, theta) for name, spec in weights.items()]
    else:
        combos = [_evaluate(weights, None, labels, theta)]
    G = np.vstack([c.gradient for c in combos])
    used = (G != 0).any(axis=0)
    V = estimate.vcov.to_numpy()
    Gu = G[:, used]
    vcov = Gu @ V[np.ix_(used, used)] @ Gu.T
    dfs = estimate.df_values
    df = np.array([combined_df(dfs, c.gradient != 0) for c in combos])
    index = pd.Index([c.name for c in combos], name="contrast")
    return Estimate(np.array([c.value for c in combos]), vcov, index, df=df,
                    kind="contrast", level=estimate.level)


def _key_text(key: Any) -> str:
    if isinstance(key, tuple):
        return ".".join(str(v) for v in key)
    return str(key)


def _difference(a: Any, b: Any) -> Nonlinear:
    """``a - b``."""
    return Nonlinear(lambda v: v[a] - v[b], name=f"{_key_text(a)} - {_key_text(b)}")


def _ratio(a: Any, b: Any) -> Nonlinear:
    """``a / b``."""
    return Nonlinear(lambda v: v[a] / v[b], name=f"{_key_text(a)}/{_key_text(b)}")


def _log_ratio(a: Any, b: Any) -> Nonlinear:
    """``log(a / b)``."""
    return Nonlinear(lambda v: np.log(v[a] / v[b]),
                     name=f"log({_key_text(a)}/{_key_text(b)})")


def _odds_ratio(a: Any, b: Any) -> Nonlinear:
    """``(a / (1 - a)) / (b / (1 - b))`` for two proportions."""
    return Nonlinear(lambda v: (v[a] / (1 - v[a])) / (v[b] / (1 - v[b])),
                     name=f"OR({_key_text(a)}, {_key_text(b)})")


def _log_odds_ratio(a: Any, b: Any) -> Nonlinear:
    """``logit(a) - logit(b)`` for two proportions."""
    return Nonlinear(lambda v: _logit(v[a]) - _logit(v[b]),
                     name=f"log OR({_key_text(a)}, {_key_text(b)})")


def _nonlinear(fn: Callable[[Mapping], Any], *, gradient: Callable[[Mapping], Any] | None = None,
               name: str = "contrast") -> Nonlinear:
    """Any function of the entries; see :class:`Nonlinear`."""
    return Nonlinear(fn, gradient, name)


contrast.difference = _difference  # type: ignore[attr-defined]
contrast.ratio = _ratio  # type: ignore[attr-defined]
contrast.log_ratio = _log_ratio  # type: ignore[attr-defined]
contrast.odds_ratio = _odds_ratio  # type: ignore[attr-defined]
contrast.log_odds_ratio = _log_odds_ratio  # type: ignore[attr-defined]
contrast.nonlinear = _nonlinear  # type: ignore[attr-defined]
