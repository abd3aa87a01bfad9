"""Survey GLMs over engine designs: IRLS as map-reduce, the influence pass at the end.

A generalised linear model needs, per IRLS iteration, only the sums
:math:`X^\\top W X` and :math:`X^\\top W z` over the rows (Green 1984), and,
for its design-based covariance, the totals per PSU of the influence values
:math:`z_i = r_i\\, x_i^\\top A`, :math:`r_i = w_i (y_i - \\mu_i)\\, \\mu'(\\eta_i) / V(\\mu_i)`,
:math:`A = (X^\\top W X)^{-1}` (Binder 1983). Since :math:`A` is one matrix,
the PSU totals of :math:`z` are the PSU totals of :math:`r_i x_i` times
:math:`A`: linear in cell sums, as the seam of :mod:`innobaro.engines.sums`
asks. So a fit is

1. with categorical variables, one pass for their levels among the rows of
   the fit (the model matrix's encoding, as :func:`innobaro.glm` finds it:
   levels present among the complete rows with positive weight); above
   200,000 rows, one pass for a sample of about 50,000 rows, whose fit is the
   start (read from a few partitions on Dask);
2. one pass per iteration: the normal equations at the current coefficients,
   from R's starting means, with :func:`innobaro.glm`'s convergence rule and
   tolerance, so both stop at the same point; the pass at a step also counts
   the rows where it is invalid, and R's step-halving runs the pass again at
   the halved step (the in-memory steps, and no extra pass without halving);
3. one final pass, at the last step: the normal equations' Gram matrix and,
   per cell of (stratum, PSU[, later stage], fpc, domain membership,
   completeness), the sums of :math:`r_i x_i`, whose product with :math:`A`
   goes to the in-memory variance engine on the cells as rows of a small
   design (the one variance engine, as for means).

DuckDB evaluates the model matrix in SQL (numeric columns, ``np.log``,
``np.exp``, ``np.sqrt``, arithmetic, ``I()``, categorical terms with any
contrast, interactions) and every family's link, variance and deviance
(the probit link's normal distribution function, density and quantile by
:mod:`innobaro.engines.sqlmath`), so each pass is one aggregate query; Dask
(and an in-memory frame) builds it per partition with the formula's encoding
and runs :func:`innobaro.irls.working_pass` on it.

References
----------
.. [1] Binder, D. A. (1983). On the variances of asymptotically normal
   estimators from complex surveys. *International Statistical Review* 51.
.. [2] Green, P. J. (1984). Iteratively reweighted least squares for maximum
   likelihood estimation. *JRSS B* 46, 149-192.
.. [3] Lumley, T. (2010). *Complex Surveys*, ch. 5.
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from .._linalg import gram_clear
from .._validate import check_iterations
from ..design import Design
from ..errors import (
    EngineError,
    EstimationError,
    InnobaroWarning,
    UnsupportedDesignError,
    warn,
)
from ..formula import R_FUNCTIONS, ModelSpec, model_frame
from ..irls import ALIAS_TOL, Family, irls, solve, working_pass
from ..models import Summary, TermTest, make_family
from ..results import Estimate
from ..variance import Influence, residual_df, vcov_of
from .sqlmath import norm_cdf, norm_cdf_numpy, norm_pdf, norm_quantile

__all__ = ["EngineGLMResult", "fit_glm"]

_EPS = float(np.finfo(float).eps)
#: the cells' weight column and membership flag (0 outside the domain, 1 in it
#: but incomplete in the model's variables, 2 in it and complete)
_W = "__ib_w"
_FLAG = "__ib_flag"
_N = "__ib_n"
#: the valid range of each variance's mean, for the messages of step-halving
_RANGE = {"mu(1-mu)": ": fitted probabilities must be in (0, 1)",
          "mu": ": fitted means must be positive", "mu^2": ": fitted means must be positive",
          "mu+mu^2/theta": ": fitted means must be positive"}
_DRIFT = 1e-9
#: buckets of rows whose sums DuckDB computes, added in numpy (see _sql_pass)
_BUCKETS = 1024


# ----------------------------------------------------------------------------
# the model: its factors, their SQL, the encoding
# ----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Plan:
    """What every pass needs (pickled to Dask workers)."""

    fam: Family
    keys: tuple[str, ...]
    psu: str  # the first-stage unit's column
    weights: str | None
    probs: str | None
    domain: str | None
    offset: str | None
    response: str  # the response's code
    columns: tuple[str, ...]  # the data columns the model reads
    categorical: tuple[str, ...]  # those read as categories
    numeric_codes: tuple[str, ...]  # the numeric factors' codes (y's first)
    spec: ModelSpec | None = None
    yspec: ModelSpec | None = None
    keep: np.ndarray | None = None  # the columns not aliased
    sql_x: tuple[str, ...] = ()
    #: each model column's numeric factors' codes (patsy's order), when no factor
    #: is categorical: the matrix is then evaluated on numpy arrays (no pandas)
    np_x: tuple[tuple[str, ...], ...] | None = None
    levels: dict[str, list[Any]] = field(default_factory=dict)


def _names_in(code: str) -> list[str]:
    """The bare names a factor's code reads."""
    try:
        tree = ast.parse(code, mode="eval")
    except SyntaxError:
        return []
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            out.append(node.id)
    return out


def _categorical_column(code: str, columns: set[str], textual: set[str]) -> str | None:
    """The column a factor reads as categories: ``C(col, ...)`` or a bare
    text (or boolean) column; None for a numeric factor."""
    tree = ast.parse(code, mode="eval").body
    if isinstance(tree, ast.Name) and tree.id in textual:
        return tree.id
    if isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name) and tree.func.id in (
            "C", "factor", "relevel") and tree.args and isinstance(tree.args[0], ast.Name) \
            and tree.args[0].id in columns:
        return tree.args[0].id
    if isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name) and tree.func.id in (
            "C", "factor", "relevel"):
        raise UnsupportedDesignError(f"term {code!r}: on an engine design a categorical "
                                     f"term is C(column, ...) of one column")
    return None


def _factors(formula: str) -> tuple[str, list[str]]:
    """The response's code and the codes of the right-hand side's factors."""
    import patsy

    try:
        desc = patsy.ModelDesc.from_formula(formula)
    except (patsy.PatsyError, SyntaxError, TypeError, ValueError) as exc:
        raise EstimationError(f"formula {formula!r}: {str(exc).splitlines()[0]}") from None
    lhs = [f.code for t in desc.lhs_termlist for f in t.factors]
    if len(lhs) != 1:
        raise EstimationError(f"formula {formula!r} needs one response variable (left of '~')")
    rhs = list(dict.fromkeys(f.code for t in desc.rhs_termlist for f in t.factors))
    return lhs[0], rhs


def _plan(source: Any, formula: str, fam: Family, keys: tuple[str, ...], psu: str,
          weights: str | None, probs: str | None, domain: str | None,
          offset: str | None) -> _Plan:
    if not isinstance(formula, str):
        raise EstimationError(f"formula must be a string, not {type(formula).__name__}")
    if "offset(" in formula.replace(" ", ""):
        raise UnsupportedDesignError("on an engine design give the offset as a column, "
                                     "offset='name', not as an offset() term")
    have = source.columns()
    haveset = set(have)
    for what, col in (("domain", domain), ("offset", offset)):
        if col is not None and col not in haveset:
            raise EstimationError(f"glm: {what} column {col!r} is not in the data")
    textual = {c for c in have if not source.numeric(c) or _is_bool(source, c)}
    response, rhs = _factors(formula)
    columns: list[str] = []
    categorical: list[str] = []
    numeric: list[str] = [response]
    for code in [response, *rhs]:
        names = [n for n in _names_in(code) if n in haveset]
        if not names and code not in ("1", "0"):
            unknown = [n for n in _names_in(code) if n not in ("np", "I", "C", *R_FUNCTIONS)]
            if unknown:
                raise EstimationError(f"glm: column {unknown[0]!r} of {code!r} is not in "
                                      f"the data")
        columns.extend(names)
        if code == response:
            _sql_expr(code)
            if response in textual:
                raise EstimationError(f"glm: the response {response!r} must be numeric "
                                      f"(0/1 for a binomial model)")
            continue
        cat = _categorical_column(code, haveset, textual)
        if cat is not None:
            categorical.append(cat)
        else:
            _sql_expr(code)  # row by row, with the functions that SQL has too
            numeric.append(code)
    if offset is not None:
        if not source.numeric(offset):
            raise EstimationError(f"glm: offset column {offset!r} must be numeric")
        columns.append(offset)
    return _Plan(fam=fam, keys=keys, psu=psu, weights=weights, probs=probs, domain=domain,
                 offset=offset, response=response, columns=tuple(dict.fromkeys(columns)),
                 categorical=tuple(dict.fromkeys(categorical)),
                 numeric_codes=tuple(dict.fromkeys(numeric)))


def _is_bool(source: Any, name: str) -> bool:
    """Whether a column is boolean (a factor with levels False, True for patsy)."""
    if source.engine == "duckdb":
        return str(source.relation.types[source.columns().index(name)]).upper() == "BOOLEAN"
    frame = source.frame
    return bool(pd.api.types.is_bool_dtype(frame.dtypes[name]))


def _encoded(plan: _Plan, formula: str, levels: dict[str, list[Any]], sql: bool) -> _Plan:
    """The plan with the formula's encoding, learnt on a small frame holding
    every level found among the rows of the fit (as :func:`innobaro.glm` learns
    it on those rows), and the SQL of each model column."""
    import patsy

    k = max([2, *(len(v) for v in levels.values())])
    proto: dict[str, Any] = {}
    for c in plan.columns:
        if c in levels:
            lv = levels[c]
            if not lv:
                raise EstimationError(f"glm: no row of the fit has a value of {c!r}")
            values = [lv[i % len(lv)] for i in range(k)]
            proto[c] = values if isinstance(lv[0], (bool, np.bool_)) else pd.Categorical(
                values, categories=lv)
        else:
            proto[c] = np.full(k, 1.5)
    frame = pd.DataFrame(proto, index=pd.RangeIndex(k))
    try:
        _, _, spec, _ = model_frame(formula, frame, response=True)
        _, _, yspec, _ = model_frame(f"~ 0 + I({plan.response})", frame, response=False)
        env = patsy.EvalEnvironment([{"np": np, **R_FUNCTIONS}])
        rhs = patsy.ModelDesc.from_formula(formula).rhs_termlist
        info = patsy.dmatrix(patsy.ModelDesc([], rhs), frame, eval_env=env,
                             NA_action="raise").design_info
    except EstimationError as exc:
        raise UnsupportedDesignError(f"glm on an engine design: {exc}") from None
    lhs = patsy.dmatrix(f"0 + I({plan.response})", frame, eval_env=env,
                        NA_action="raise").design_info
    for inf in (info, lhs):
        for f, finfo in inf.factor_infos.items():  # over the formula's variables
            # (the row-by-row check of the codes refuses them first; kept as a guard)
            if isinstance(finfo.state, dict) and finfo.state.get("transforms"):  # pragma: no cover
                raise UnsupportedDesignError(
                    f"term {f.code!r} learns from the data (a stateful transform such as "
                    f"center() or standardize()); on an engine design derive the column "
                    f"in the data or the query")
            if finfo.type == "categorical" and _categorical_name(f.code) not in \
                    plan.categorical:
                raise UnsupportedDesignError(
                    f"term {f.code!r}: on an engine design a categorical term is a text "
                    f"column or C(column, ...) (factor(column)); give its reference level "
                    f"as C(column, Treatment('level'))")
    if list(info.column_names) != list(spec.column_names):  # pragma: no cover - same patsy
        raise UnsupportedDesignError(f"glm on an engine design: formula {formula!r} encodes "
                                     f"differently outside innobaro's model frame")
    return replace(plan, spec=spec, yspec=yspec, levels=levels,
                   sql_x=tuple(_sql_columns(info)) if sql else (),
                   np_x=None if sql else _numeric_columns(info))


# ----------------------------------------------------------------------------
# SQL of the model
# ----------------------------------------------------------------------------
def _q(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def _lit(value: Any) -> str:
    """A SQL literal of a level or a number (a double exactly as Python's)."""
    if isinstance(value, (bool, np.bool_)):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"'{float(value)!r}'::DOUBLE"
    return "'" + str(value).replace("'", "''") + "'"


_SQL_FUNCS = {"log": "ln", "exp": "exp", "sqrt": "sqrt", "log10": "log10", "log2": "log2",
              "abs": "abs", "fabs": "abs"}


def _sql_expr(code: str) -> str:
    """A numeric factor's code as SQL: columns, numbers, + - * / **, I(),
    np.log, np.exp, np.sqrt, np.log2, np.log10, np.abs (R's log, exp, sqrt)."""

    def conv(node: ast.AST) -> str:
        if isinstance(node, ast.Name):
            return f"CAST({_q(node.id)} AS DOUBLE)"
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
                and not isinstance(node.value, bool):
            return _lit(float(node.value))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            return f"({'-' if isinstance(node.op, ast.USub) else ''}{conv(node.operand)})"
        if isinstance(node, ast.BinOp):
            a, b = conv(node.left), conv(node.right)
            if isinstance(node.op, ast.Add):
                return f"({a} + {b})"
            if isinstance(node.op, ast.Sub):
                return f"({a} - {b})"
            if isinstance(node.op, ast.Mult):
                return f"({a} * {b})"
            if isinstance(node.op, ast.Div):
                return f"({a} / {b})"
            if isinstance(node.op, ast.Pow):
                if isinstance(node.right, ast.Constant) and node.right.value == 2:
                    return f"({a} * {a})"
                return f"pow({a}, {b})"
        if isinstance(node, ast.Call) and len(node.args) == 1 and not node.keywords:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) and isinstance(
                func.value, ast.Name) and func.value.id in ("np", "numpy") else \
                func.id if isinstance(func, ast.Name) else None
            if name == "I":
                return conv(node.args[0])
            if name in ("log", "log2", "log10"):
                # as DuckDB 2 (and numpy's -inf at 0, whose rows the checks name):
                # -inf at 0, NULL (a missing value) below; DuckDB 1.0 raises there
                x = conv(node.args[0])
                return (f"(CASE WHEN {x} > 0 THEN {_SQL_FUNCS[name]}({x}) "
                        f"WHEN {x} = 0 THEN '-inf'::DOUBLE END)")
            if name in _SQL_FUNCS:
                return f"{_SQL_FUNCS[name]}({conv(node.args[0])})"
        raise UnsupportedDesignError(
            f"term {code!r}: a model on an engine design evaluates columns, numbers, "
            f"+ - * / **, I(), np.log, np.exp, np.sqrt, np.log2, np.log10 and np.abs, row "
            f"by row (a function of a whole column, such as x.mean(), would see one "
            f"partition); derive other variables in the data or the query")

    try:
        tree = ast.parse(code, mode="eval").body
    except SyntaxError:
        raise UnsupportedDesignError(f"term {code!r} cannot be evaluated in SQL") from None
    return conv(tree)


def _sql_columns(info: Any) -> list[str]:
    """Each model column as SQL: the product, over its subterm's factors, of the
    factor's value (numeric) or of a column of its contrast matrix by level
    (categorical), the first factor's columns varying fastest (patsy's order)."""
    out: list[str] = []
    for subterms in info.term_codings.values():  # over terms, then their subterms
        for sub in subterms:
            pieces: list[list[str]] = []
            for f in sub.factors:  # over the subterm's factors
                finfo = info.factor_infos[f]
                if f in sub.contrast_matrices:
                    m = np.asarray(sub.contrast_matrices[f].matrix, dtype=float)
                    col = _categorical_name(f.code)
                    pieces.append([
                        "(CASE " + _q(col) + " " + " ".join(
                            f"WHEN {_lit(lv)} THEN {_lit(float(m[i, j]))}"
                            for i, lv in enumerate(finfo.categories)) + " END)"
                        for j in range(m.shape[1])])
                else:
                    if finfo.num_columns != 1:
                        raise UnsupportedDesignError(f"term {f.code!r}: one column per "
                                                     f"numeric variable on an engine design")
                    pieces.append([_sql_expr(f.code)])
            if not pieces:
                out.append("1.0")
                continue
            widths = [len(p) for p in pieces]
            grid = np.indices(widths[::-1]).reshape(len(widths), -1).T[:, ::-1]
            for combo in grid:  # over the subterm's columns
                out.append(" * ".join(pieces[i][int(j)] for i, j in enumerate(combo)))
    return out


def _numeric_columns(info: Any) -> tuple[tuple[str, ...], ...] | None:
    """Each model column as the codes of its factors (none: the intercept), in
    patsy's order; None when a factor is categorical or has several columns."""
    out: list[tuple[str, ...]] = []
    for subterms in info.term_codings.values():  # over terms, then their subterms
        for sub in subterms:
            for f in sub.factors:  # over the subterm's factors
                if f in sub.contrast_matrices or info.factor_infos[f].num_columns != 1:
                    return None
            out.append(tuple(f.code for f in sub.factors))
    return tuple(out)


def _np_matrix(part: pd.DataFrame, plan: _Plan) -> tuple[np.ndarray, np.ndarray]:
    """The model matrix (every column) and the response of ``part`` from
    ``plan.np_x``: each factor's code evaluated as patsy evaluates it, on the
    columns' numpy arrays, each column the product of its factors."""
    assert plan.np_x is not None
    env: dict[str, Any] = {"np": np, **R_FUNCTIONS, "I": lambda v: v}
    arrays = {}
    for c in plan.columns:  # over the model's data columns
        col = part[c]
        arrays[c] = col.to_numpy() if isinstance(col.dtype, np.dtype) else col.to_numpy(
            dtype=float, na_value=np.nan)
    values: dict[str, np.ndarray] = {}

    def value(code: str) -> np.ndarray:
        if code not in values:
            with np.errstate(all="ignore"):
                v = eval(code, env, arrays)  # a row-by-row code (_sql_expr checked)
            values[code] = np.broadcast_to(np.asarray(v, dtype=float), (len(part),))
        return values[code]

    X = np.empty((len(part), len(plan.np_x)), order="F")
    for j, codes in enumerate(plan.np_x):  # over the model's columns
        if not codes:
            X[:, j] = 1.0
            continue
        X[:, j] = value(codes[0])
        for code in codes[1:]:  # the subterm's further factors
            X[:, j] *= value(code)
    return X, np.array(value(plan.response))


def _categorical_name(code: str) -> str:
    """The column a categorical factor reads ('' when it is not one column)."""
    tree = ast.parse(code, mode="eval").body
    if isinstance(tree, ast.Call) and tree.args:
        tree = tree.args[0]
    return tree.id if isinstance(tree, ast.Name) else ""


def _can_make_nan(code: str) -> bool:
    """Whether a numeric factor's code has a function call (other than ``I()``),
    a division or a power: operations that make NaN of numbers."""
    for node in ast.walk(ast.parse(code, mode="eval")):
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name)
                                               and node.func.id == "I"):
            return True
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Div, ast.Pow)):
            return True
    return False


def _sql_weight(plan: _Plan) -> str:
    if plan.weights is not None:
        return f"CAST({_q(plan.weights)} AS DOUBLE)"
    if plan.probs is not None:
        return f"(1.0 / CAST({_q(plan.probs)} AS DOUBLE))"
    return "1.0"


def _missing(expr: str) -> str:
    return f"coalesce(isnan({expr}), TRUE)"


def _sql_masks(plan: _Plan) -> tuple[str, str, str]:
    """SQL of the rows in the domain, complete in the model, and in the fit."""
    if plan.domain is None:
        present = "TRUE"
    else:
        d = f"CAST({_q(plan.domain)} AS DOUBLE)"
        present = f"coalesce({d} <> 0 AND NOT isnan({d}), FALSE)"
    parts = [f"{_q(c)} IS NOT NULL" for c in plan.categorical]
    # a value of + - * of columns is missing where a column is: each column is
    # checked once; an expression that can make a missing value of present
    # ones (a log of a negative number, 0/0) is checked itself
    raw = [n for code in plan.numeric_codes for n in _names_in(code)
           if n in plan.columns and n not in plan.categorical]
    parts += [f"NOT {_missing(f'CAST({_q(c)} AS DOUBLE)')}" for c in dict.fromkeys(raw)]
    parts += [f"NOT {_missing(_sql_expr(code))}" for code in plan.numeric_codes
              if _can_make_nan(code)]
    if plan.offset is not None:
        parts.append(f"NOT {_missing(_sql_expr(plan.offset))}")
        parts.append(f"NOT isinf({_sql_expr(plan.offset)})")
    complete = " AND ".join(parts) or "TRUE"
    fit = f"({present}) AND ({complete}) AND {_sql_weight(plan)} > 0"
    return present, complete, fit


def _ln(x: str) -> str:
    """``ln(x)`` in SQL, NULL where ``x`` is not positive (DuckDB 1.0 raises an
    error there, later versions give NaN; a response out of the family's
    range is then named by the pass's checks, whichever version runs it)."""
    return f"(CASE WHEN ({x}) > 0 THEN ln({x}) END)"


def _expm1(z: str) -> str:
    """:math:`e^z - 1` in SQL, which has no ``expm1``: Kahan's
    :math:`(u - 1)\\, z / \\ln u`, :math:`u = e^z`, accurate to a few units in
    the last place where :math:`e^z - 1` would cancel."""
    u = f"exp({z})"
    return (f"(CASE WHEN {u} = 1.0 THEN {z} WHEN {u} - 1.0 = -1.0 THEN -1.0 "
            f"ELSE ({u} - 1.0) * ({z}) / ln({u}) END)")


#: R's bound on the cauchit linear predictor (-qcauchy(eps)), as the in-memory family's
_CAUCHIT_BOUND = float(-np.tan(np.pi * (_EPS - 0.5)))
#: R's bound on the probit linear predictor (-qnorm(eps)), as the in-memory family's
_PROBIT_BOUND = float(-special.ndtri(_EPS))


def _sql_link(fam: Family) -> tuple[str, str, Callable[[str], str]]:
    """The inverse link and :math:`d\\mu/d\\eta` over a column ``eta`` (and
    ``mu``), with R's bounds as :class:`innobaro.irls.Family` has them, and
    the link of a starting mean. A value that numpy makes infinite or NaN
    (outside the link's domain) is NULL, so DuckDB 1.0 raises no error; the
    step-halving checks name those rows invalid either way."""
    eps, one_eps = _lit(_EPS), _lit(1.0 - _EPS)
    link = fam.link_name
    if link == "identity":
        return "eta", "1.0", lambda m: m
    if link == "logit":
        return (f"least(greatest(1.0 / (1.0 + exp(-eta)), {eps}), {one_eps})",
                f"greatest(mu * (1.0 - mu), {eps})", lambda m: _ln(f"{m} / (1.0 - {m})"))
    if link == "log":
        return f"greatest(exp(eta), {eps})", f"greatest(mu, {eps})", _ln
    if link == "cauchit":
        lo, hi = _lit(-_CAUCHIT_BOUND), _lit(_CAUCHIT_BOUND)
        return (f"(0.5 + atan(least(greatest(eta, {lo}), {hi})) / pi())",
                f"greatest(1.0 / (pi() * (1.0 + eta * eta)), {eps})",
                lambda m: f"tan(pi() * ({m} - 0.5))")
    if link == "cloglog":
        e = "least(eta, 700.0)"
        return (f"least(greatest(-{_expm1('-exp(eta)')}, {eps}), {one_eps})",
                f"greatest(exp({e}) * exp(-exp({e})), {eps})",
                lambda m: _ln(f"-{_ln(f'1.0 - {m}')}"))
    if link == "inverse":
        return ("(CASE WHEN eta <> 0 THEN 1.0 / eta END)",
                "(CASE WHEN eta <> 0 THEN -1.0 / (eta * eta) END)",
                lambda m: f"(CASE WHEN {m} <> 0 THEN 1.0 / {m} END)")
    if link == "1/mu^2":
        return ("(CASE WHEN eta > 0 THEN 1.0 / sqrt(eta) END)",
                "(CASE WHEN eta > 0 THEN -1.0 / (2.0 * pow(eta, 1.5)) END)",
                lambda m: f"(CASE WHEN {m} <> 0 THEN 1.0 / ({m} * {m}) END)")
    if link == "sqrt":
        return "(eta * eta)", "(2.0 * eta)", lambda m: f"(CASE WHEN {m} >= 0 THEN sqrt({m}) END)"
    # probit (the last of irls.LINKS): the normal distribution function, density
    # and quantile by the rational approximations R uses (engines.sqlmath); the
    # mean at R's bounds on eta is Phi(+-bound), as sqlmath's numpy twin gives it
    lo, hi = _lit(-_PROBIT_BOUND), _lit(_PROBIT_BOUND)
    mu_lo, mu_hi = (_lit(float(v)) for v in norm_cdf_numpy([-_PROBIT_BOUND, _PROBIT_BOUND]))
    return (f"(CASE WHEN eta < {lo} THEN {mu_lo} WHEN eta > {hi} THEN {mu_hi} "
            f"ELSE {norm_cdf('eta')} END)",
            f"greatest({norm_pdf('eta')}, {eps})", norm_quantile)


def _sql_family(fam: Family) -> dict[str, str]:
    """The IRLS pieces in SQL over a column ``eta`` (and ``mu``, ``y``): R's
    family functions as :class:`innobaro.irls.Family` evaluates them."""
    mu, d, link_of = _sql_link(fam)
    name, var = fam.name, fam.variance_name
    is_zero = "(CASE WHEN y = 0 THEN 1.0 ELSE 0.0 END)"
    if name in ("binomial", "quasibinomial"):
        start = "((y + 0.5) / 2.0)"
    elif name in ("poisson", "quasipoisson"):
        start = f"(y + {_lit(0.1)})"
    elif name == "negative.binomial":
        start = f"(y + {is_zero} / 6.0)"
    elif name == "quasi" and var == "mu(1-mu)":
        start = f"least(greatest(y, {_lit(0.001)}), {_lit(0.999)})"
    elif name == "quasi" and var in ("mu", "mu^2", "mu^3"):
        start = f"(y + {_lit(0.1)} * {is_zero})"
    else:
        start = "y"
    ok = ["isfinite(eta)"]
    if fam.link_name in ("sqrt", "1/mu^2"):
        ok.append("eta > 0")
    elif fam.link_name == "inverse":
        ok.append("eta <> 0")
    if var == "mu(1-mu)":
        v = "mu * (1.0 - mu)"
        dev = (f"2.0 * ((CASE WHEN y = 0 THEN 0.0 ELSE y * {_ln('y / mu')} END) + "
               f"(CASE WHEN 1.0 - y = 0 THEN 0.0 ELSE (1.0 - y) * "
               f"{_ln('(1.0 - y) / (1.0 - mu)')} END))")
        ok.append("isfinite(mu) AND mu > 0 AND mu < 1")
    elif var == "mu":
        v = "mu"
        dev = f"2.0 * ((CASE WHEN y = 0 THEN 0.0 ELSE y * {_ln('y / mu')} END) - (y - mu))"
        ok.append("isfinite(mu) AND mu > 0")
    elif var == "constant":
        v = "1.0"
        dev = "(y - mu) * (y - mu)"
    elif var == "mu^2":
        v = "mu * mu"
        if name == "Gamma":
            dev = f"-2.0 * ({_ln('CASE WHEN y = 0 THEN 1.0 ELSE y / mu END')} - (y - mu) / mu)"
        else:
            dev = (f"greatest(-2.0 * ({_ln('(CASE WHEN y = 0 THEN 1.0 ELSE y END) / mu')} "
                   f"- (y - mu) / mu), 0.0)")
        ok.append("isfinite(mu) AND mu > 0")
    elif var == "mu^3":
        v = "pow(mu, 3.0)"
        dev = ("(CASE WHEN y * mu * mu <> 0 THEN (y - mu) * (y - mu) / (y * mu * mu) "
               "ELSE 'inf'::DOUBLE END)")
        if name == "quasi":
            ok.append("mu > 0")
    else:  # the negative binomial's mu + mu^2 / theta
        th = _lit(float(fam.theta or 0.0))
        v = f"(mu + mu * mu / {th})"
        dev = (f"2.0 * (y * {_ln('greatest(1.0, y) / mu')} - (y + {th}) * "
               f"{_ln(f'(y + {th}) / (mu + {th})')})")
        ok.append("isfinite(mu) AND mu > 0")
    extreme = f"(mu < {_lit(1e-8)} OR mu > 1.0 - {_lit(1e-8)})" if var == "mu(1-mu)" \
        else "FALSE"
    return {"mu": mu, "d": d, "v": v, "start": link_of(start), "dev": dev,
            "extreme": extreme, "ok": " AND ".join(f"({c})" for c in ok)}


def _products(xs: Sequence[str]) -> tuple[list[str], list[str]]:
    """The Gram matrix's products ``u_j x_k`` (``u_j = ww x_j``) and the right-hand
    side's ``x_j z`` over the columns ``x0 ..``, a constant column of ones
    (the intercept) read as no factor."""
    one = [x == "1.0" for x in xs]
    p = len(xs)
    gram = []
    for j in range(p):
        for k in range(j, p):
            if one[j] and one[k]:
                gram.append("ww")
            elif one[j] or one[k]:
                gram.append(f"u{k if one[j] else j}")
            else:
                gram.append(f"u{j} * x{k}")
    rhs = ["z" if one[j] else f"x{j} * z" for j in range(p)]
    return gram, rhs


def _sql_pass(plan: _Plan, beta: np.ndarray | None, *, final: bool = False,
              deviance: bool = True, checks: bool = False, filtered: bool = True) -> str:
    """One pass over the rows, as one aggregate query.

    An iteration's pass (``final`` false) reads the rows of the fit and sums
    the normal equations at ``beta`` (at R's starting means when None), the
    deviance, the rows with fitted probabilities of 0 or 1, the rows whose
    linear predictor or mean is invalid (for step-halving) and (``checks``,
    the first pass) the rows' checks; ``filtered`` false leaves out the test
    of each row when every row of the source is known to be in the fit. Its
    sums are per bucket of rows (a hash of the PSU and the response, 1024
    buckets), added in numpy: DuckDB's parallel ``sum`` adds the rows of a
    group in sequence, with a rounding error growing with the group's rows
    (about 1e-13 relative over millions of rows, varying between runs); per
    bucket of a few thousand rows it stays near 1e-15.

    The final pass sums per cell of the design keys, over the rows of the fit:
    the count and weight total of the rows, the Gram matrix, the sums of
    :math:`r_i x_i`, the deviance and the invalid rows (the other rows'
    counts per cell come from :func:`_sql_cells`, unless every row is in the
    fit).
    """
    fam = _sql_family(plan.fam)
    xs = [x for x, k in zip(plan.sql_x, _keep(plan), strict=True) if k]
    p = len(xs)
    _, _, fit = _sql_masks(plan)
    off = _sql_expr(plan.offset) if plan.offset is not None else "0.0"
    cols = [f"{x} AS x{j}" for j, x in enumerate(xs)]
    cols += [f"{_sql_expr(plan.response)} AS y", f"{_sql_weight(plan)} AS w", f"{off} AS off"]
    where = f" WHERE {fit}" if filtered else ""
    if final:
        cols += [_q(k) for k in plan.keys]
        group = [_q(k) for k in plan.keys]
    else:  # buckets of rows for the sums' accuracy (a PSU may be a row, or a million)
        cols.append(f"hash({_q(plan.psu)}, {_sql_expr(plan.response)}) % {_BUCKETS} "
                    f"AS bucket")
        group = ["bucket"]
    if beta is None:
        eta = fam["start"]
    else:
        eta = " + ".join(f"{_lit(float(b))} * x{j}" for j, b in enumerate(beta)) + " + off"
    us = [f"ww * x{j} AS u{j}" for j, x in enumerate(xs) if x != "1.0"]
    ctes = (f"WITH a AS (SELECT {', '.join(cols)} FROM __ib_src{where}), "
            f"b AS (SELECT *, {eta} AS eta FROM a), "
            f"c AS (SELECT *, {fam['mu']} AS mu FROM b), "
            f"d AS (SELECT *, {fam['d']} AS d, {fam['v']} AS v FROM c), "
            f"e AS (SELECT *, w * (d * (d / v)) AS ww, w * (y - mu) * (d / v) AS r FROM d), "
            f"f AS (SELECT *, {', '.join([*us, 'ww * (eta - off) + r AS z'])} FROM e) ")
    gram, rhs = _products(xs)
    pairs = [(j, k) for j in range(p) for k in range(j, p)]
    sel = list(group)
    if final:
        sel += [f"count(*) AS {_q(_N)}", f"sum(w) AS {_q(_W)}"]
    sel += [f"sum({g}) AS g{j}_{k}" for g, (j, k) in zip(gram, pairs, strict=True)]
    if final:
        sel += [f"sum({'r' if x == '1.0' else f'r * x{j}'}) AS s{j}"
                for j, x in enumerate(xs)]
    else:
        sel += [f"sum({b}) AS b{j}" for j, b in enumerate(rhs)]
    if checks:  # the first pass: the rows of the fit, their checks
        sel += ["count(*) AS nfit", "sum(w) AS swfit", "min(y) AS ymin", "max(y) AS ymax",
                "count_if(NOT isfinite(y)) AS ybad", "count_if(y = 0) AS yzero"]
        sel += [f"count_if(NOT isfinite(x{j})) AS bad{j}" for j in range(p)]
    sel += [f"sum(w * {fam['dev']}) AS dev" if deviance else "0.0 AS dev",
            f"count_if({fam['extreme']}) AS ext"]
    if plan.fam.needs_check and beta is not None:
        sel.append(f"count_if(NOT coalesce({fam['ok']}, FALSE)) AS invalid")
    return ctes + f"SELECT {', '.join(sel)} FROM f GROUP BY ALL"


def _sql_cells(plan: _Plan) -> str:
    """The count and weight total of every row per cell of (design keys, membership)."""
    present, complete, _ = _sql_masks(plan)
    keys = ", ".join(_q(k) for k in plan.keys)
    return (f"SELECT {keys}, (CASE WHEN NOT ({present}) THEN 0 WHEN ({complete}) THEN 2 "
            f"ELSE 1 END) AS {_q(_FLAG)}, count(*) AS {_q(_N)}, sum({_sql_weight(plan)}) "
            f"AS {_q(_W)} FROM __ib_src GROUP BY ALL")


def _keep(plan: _Plan) -> np.ndarray:
    n = len(plan.sql_x) if plan.spec is None else len(plan.spec.column_names)
    return np.ones(n, dtype=bool) if plan.keep is None else plan.keep


def _run_sql(source: Any, sql: str) -> pd.DataFrame:
    from .duckdb_engine import run_query

    try:
        return run_query(lambda: source.relation.query(  # type: ignore[no-any-return]
            "__ib_src", sql).df(), "glm")
    except Exception as exc:  # duckdb's errors: a bad value, a missing function
        if isinstance(exc, (EngineError, EstimationError, UnsupportedDesignError)):
            raise
        raise EngineError(f"glm: the DuckDB query failed: {str(exc).splitlines()[0]}"
                          ) from None


# ----------------------------------------------------------------------------
# numpy per frame (a Dask partition, or an in-memory frame)
# ----------------------------------------------------------------------------
def _frame_masks(frame: pd.DataFrame, plan: _Plan
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Weights, and the rows in the domain, complete, and in the fit."""
    n = len(frame)
    if plan.weights is not None:
        w = frame[plan.weights].to_numpy(dtype=float, na_value=np.nan)
    elif plan.probs is not None:
        with np.errstate(divide="ignore"):
            w = 1.0 / frame[plan.probs].to_numpy(dtype=float, na_value=np.nan)
    else:
        w = np.ones(n)
    if plan.domain is None:
        present = np.ones(n, dtype=bool)
    else:
        d = frame[plan.domain].to_numpy(dtype=float, na_value=np.nan)
        present = (d != 0) & ~np.isnan(d)
    complete = np.ones(n, dtype=bool)
    for c in plan.columns:  # over the model's columns
        complete &= frame[c].notna().to_numpy()
    if plan.offset is not None:
        complete &= np.isfinite(frame[plan.offset].to_numpy(dtype=float, na_value=np.nan))
    fit = present & complete & (w > 0)
    return w, present, complete, fit


def _frame_levels(frame: pd.DataFrame, plan: _Plan) -> dict[str, Any]:
    """Per partition: the levels of the categorical columns among the rows of the fit."""
    fit = _frame_masks(frame, plan)[3]
    return {"lv:" + c: list(pd.unique(frame.loc[fit, c].dropna()))
            for c in plan.categorical}


def _frame_model(frame: pd.DataFrame, plan: _Plan, rows: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The model matrix (its columns kept), response and offset of ``rows`` (a
    mask, or positions)."""
    assert plan.spec is not None and plan.yspec is not None
    if rows.dtype == bool:
        part = frame if rows.all() else frame.loc[rows]  # no copy when every row is in
    else:
        part = frame.iloc[rows]
    if plan.np_x is not None:
        X, y = _np_matrix(part, plan)
    else:
        X = plan.spec.matrix(part)
        y = np.ascontiguousarray(plan.yspec.matrix(part)[:, 0])
    if plan.keep is not None and not plan.keep.all():
        X = np.asfortranarray(X[:, plan.keep])
    off = None if plan.offset is None else part[plan.offset].to_numpy(dtype=float)
    return X, y, off


def _invalid(X: np.ndarray, beta: np.ndarray, off: np.ndarray | None, fam: Family) -> int:
    """1 when some row's linear predictor or mean at ``beta`` is invalid (R's
    ``valideta`` and ``validmu``, as :meth:`Family.valid`), else 0."""
    eta = X @ beta
    if off is not None:
        eta += off
    with np.errstate(all="ignore"):
        return int(not fam.valid(eta[:, None], fam.inverse_link(eta)[:, None])[0])


def _frame_pass(frame: pd.DataFrame, plan: _Plan, beta: np.ndarray | None,
                deviance: bool, checks: bool) -> dict[str, Any]:
    """Per partition: one IRLS pass (the normal equations at ``beta``, or at
    R's starting means), with the rows' checks on the first pass."""
    w, _, _, fit = _frame_masks(frame, plan)
    X, y, off = _frame_model(frame, plan, fit)
    wf = w[fit]
    fam = plan.fam
    eta0 = None
    if beta is None:
        with np.errstate(all="ignore"):
            eta0 = fam.link(fam.start(y, np.ones(y.size)))
    with np.errstate(all="ignore"):
        ps = working_pass(X, y, wf, fam, beta, eta0, deviance=deviance, offset=off)
    out: dict[str, Any] = {"G": ps.G, "rhs": ps.rhs, "dev": ps.deviance, "ext": ps.n_extreme}
    if fam.needs_check and beta is not None:
        out["invalid"] = _invalid(X, beta, off, fam)
    if checks:
        out.update(bad=(~np.isfinite(X)).sum(axis=0), ybad=int((~np.isfinite(y)).sum()),
                   yzero=int((y == 0).sum()), nfit=int(y.size), swfit=float(wf.sum()),
                   ymin=float(y.min()) if y.size else np.inf,
                   ymax=float(y.max()) if y.size else -np.inf)
    return out


def _digits(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Codes 0 .. size-1 of a key column's values: an integer column's offsets
    from its minimum when they span few values (no hashing), else a ``factorize``."""
    n = values.size
    if n and values.dtype.kind in "iub":
        lo, hi = int(values.min()), int(values.max())
        if hi - lo < 4 * n + 16:
            return values.astype(np.int64) - lo, hi - lo + 1
    digit, uniques = pd.factorize(values)
    return digit.astype(np.int64), max(len(uniques), 1)


def _compact(code: np.ndarray, space: int) -> tuple[np.ndarray, int]:
    """Codes 0 .. G-1 for the distinct values of ``code`` (in 0 .. space-1)."""
    if space <= 8 * code.size + 64:  # a dense bincount
        seen = np.flatnonzero(np.bincount(code, minlength=space))
        remap = np.zeros(space, dtype=np.int64)
        remap[seen] = np.arange(seen.size)
        return remap[code], int(seen.size)
    new, uniques = pd.factorize(code)
    return new.astype(np.int64), max(len(uniques), 1)


def _cell_codes(frame: pd.DataFrame, keys: tuple[str, ...], flag: np.ndarray
                ) -> tuple[np.ndarray, pd.DataFrame]:
    """Each row's cell of (design keys, membership flag), 0 .. G-1, and the
    cells' key values: the keys' codes (an integer key's offsets, else a
    ``factorize``) as a mixed-radix integer, made compact whenever its range
    outgrows the rows, and at the end."""
    code = flag.astype(np.int64)
    space = 3
    columns = [frame[k].to_numpy() for k in keys]
    for values in columns:  # over the design's key columns
        digit, size = _digits(values)
        if space * size > 8 * code.size + 64:
            code, space = _compact(code, space)
        code = code * size + digit
        space *= size
    cell, n_cells = _compact(code, space)
    row = np.zeros(n_cells, dtype=np.int64)
    row[cell] = np.arange(cell.size)  # a row of each cell (all its rows share the keys)
    cells = pd.DataFrame({k: values[row] for k, values in zip(keys, columns, strict=True)})
    cells[_FLAG] = flag[row]
    return cell, cells


def _frame_final(frame: pd.DataFrame, plan: _Plan, beta: np.ndarray) -> dict[str, Any]:
    """Per partition: the Gram matrix at ``beta``, the deviance, and per cell of
    (design keys, membership) the rows, their weight total and the sums of
    :math:`r_i x_i` over the rows of the fit (one ``bincount`` each)."""
    w, present, complete, fit = _frame_masks(frame, plan)
    X, y, off = _frame_model(frame, plan, fit)
    fam = plan.fam
    with np.errstate(all="ignore"):
        ps = working_pass(X, y, w[fit], fam, beta, None, deviance=True, residuals=True,
                          offset=off)
    assert ps.r is not None
    cell, cells = _cell_codes(frame, plan.keys, np.where(present, np.where(complete, 2, 1), 0))
    G = len(cells)
    cells[_N] = np.bincount(cell, minlength=G)
    cells[_W] = np.bincount(cell, weights=w, minlength=G)
    cf = cell[fit]
    for j in range(X.shape[1]):  # over the model's columns
        cells[f"s{j}"] = np.bincount(cf, weights=X[:, j] * ps.r, minlength=G)
    out = {"G": ps.G, "dev": ps.deviance, "ext": ps.n_extreme, "cells": cells}
    if fam.needs_check:
        out["invalid"] = _invalid(X, beta, off, fam)
    return out


def _frame_sample(frame: pd.DataFrame, plan: _Plan, k: int) -> dict[str, Any]:
    """Per partition: every k-th row of the fit (only those rows' model matrix built)."""
    fit = _frame_masks(frame, plan)[3]
    X, y, off = _frame_model(frame, plan, np.flatnonzero(fit)[::k])
    w = _frame_masks(frame, plan)[0][fit][::k]
    return {"X": np.asfortranarray(X), "y": y, "w": w,
            "off": off if off is not None else np.zeros(y.size)}


def _add(parts: Sequence[dict[str, Any]], keys: tuple[str, ...]) -> dict[str, Any]:
    """Add partial results: arrays and numbers are summed, levels joined, cells
    of the same key added (a PSU split across partitions is one cell again)."""
    out: dict[str, Any] = {}
    for name in parts[0]:
        vals = [p[name] for p in parts]
        if name == "cells":
            frame = pd.concat(vals, ignore_index=True)
            out[name] = frame.groupby([*keys, _FLAG], sort=False, dropna=False,
                                      observed=True).sum().reset_index()
        elif name in ("ymin",):
            out[name] = min(vals)
        elif name in ("ymax",):
            out[name] = max(vals)
        elif name in ("X", "y", "w", "off"):  # a sample's rows: stacked
            out[name] = np.asfortranarray(np.concatenate(vals, axis=0))
        elif name.startswith("lv:"):
            out[name] = list(dict.fromkeys(v for part in vals for v in part))
        else:
            out[name] = sum(vals[1:], vals[0])
    return out


class _Rows:
    """The fit's source, keeping its Dask partitions per set of columns (the
    collection's graph is optimised once per fit, not once per pass)."""

    def __init__(self, source: Any) -> None:
        self.source = source
        self.engine = source.engine
        self.parts: dict[tuple[str, ...], list[Any]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.source, name)

    def partitions(self, used: list[str]) -> list[Any]:
        """The delayed partitions of the columns ``used``."""
        key = tuple(used)
        if key not in self.parts:
            self.parts[key] = list(self.source.frame[used].to_delayed())
        return self.parts[key]


def _map_reduce(source: Any, fn: Callable[..., dict[str, Any]], plan: _Plan,
                *args: Any, keys: bool = False, some: int | None = None) -> dict[str, Any]:
    """``fn`` over the frame (pandas) or over each partition, added up a tree
    (Dask), reading the model's columns (and, with ``keys``, the design's);
    ``some``: over that many partitions only, evenly spaced."""
    used = list(dict.fromkeys([*(plan.keys if keys else ()), *plan.columns,
                               *(c for c in (plan.weights, plan.probs, plan.domain)
                                 if c is not None)]))
    if source.engine == "pandas":
        return fn(source.frame[used], plan, *args)
    import dask

    task = dask.delayed(fn, pure=True)
    shared = dask.delayed(plan, pure=True)  # one copy of the plan in the graph
    parts = source.partitions(used) if isinstance(source, _Rows) else list(
        source.frame[used].to_delayed())
    if some is not None and some < len(parts):
        parts = [parts[int(i)] for i in np.unique(np.linspace(0, len(parts) - 1, some).round())]
    level = [task(part, shared, *args) for part in parts]
    k = source.split_every
    add = dask.delayed(_add, pure=True)
    while len(level) > 1:
        level = [add(level[i:i + k], plan.keys) for i in range(0, len(level), k)]
    from .dask_engine import compute

    (out,) = compute(level[0], what="glm")
    return out  # type: ignore[no-any-return]


# ----------------------------------------------------------------------------
# the passes, per engine
# ----------------------------------------------------------------------------
def _levels(source: Any, plan: _Plan) -> dict[str, list[Any]]:
    """The levels of the categorical columns among the rows of the fit, in
    patsy's order (sorted; a pandas categorical's own order)."""
    if not plan.categorical:
        return {}
    if source.engine == "duckdb":
        _, _, fit = _sql_masks(plan)
        # one query: each column's distinct levels as a list
        lists = ", ".join(f"list(DISTINCT {_q(c)}) FILTER (WHERE {_q(c)} IS NOT NULL) "
                          f"AS l{i}" for i, c in enumerate(plan.categorical))
        row = _run_sql(source, f"SELECT {lists} FROM __ib_src WHERE {fit}")
        cells = [row[f"l{i}"].iloc[0] if len(row) else None
                 for i in range(len(plan.categorical))]
        found = {c: list(v) if isinstance(v, (list, tuple, np.ndarray)) else []
                 for c, v in zip(plan.categorical, cells, strict=True)}
        order: dict[str, list[Any]] = {}
    else:
        got = _map_reduce(source, _frame_levels, plan)
        found = {c: got["lv:" + c] for c in plan.categorical}
        dtypes = source.frame.dtypes
        order = {c: list(dtypes[c].categories) for c in plan.categorical
                 if isinstance(dtypes[c], pd.CategoricalDtype)}
    out = {}
    for c in plan.categorical:  # over the categorical columns
        values = [v.item() if isinstance(v, np.generic) else v for v in found[c]]
        if c in order:
            present = set(values)
            out[c] = [v for v in order[c] if v in present]
        elif values and isinstance(values[0], bool):
            out[c] = [False, True]
        else:
            out[c] = sorted(values)
    return out


def _column_sums(frame: pd.DataFrame, names: list[str]) -> np.ndarray:
    """Sums over the cells (numpy's pairwise summation), NULL as 0."""
    return np.array([np.sum(frame[c].to_numpy(dtype=float, na_value=0.0)) for c in names])


def _gram(frame: pd.DataFrame, p: int) -> np.ndarray:
    pairs = [(j, k) for j in range(p) for k in range(j, p)]
    g = _column_sums(frame, [f"g{j}_{k}" for j, k in pairs])
    G = np.zeros((p, p))
    for i, (j, k) in enumerate(pairs):  # over the Gram matrix's entries
        G[j, k] = G[k, j] = g[i]
    return G


def _sql_sums(source: Any, plan: _Plan, beta: np.ndarray | None, deviance: bool,
              checks: bool, filtered: bool) -> dict[str, Any]:
    frame = _run_sql(source, _sql_pass(plan, beta, deviance=deviance, checks=checks,
                                       filtered=filtered))
    frame = frame.sort_values("bucket", kind="stable")  # one order: the same sums each run
    p = int(_keep(plan).sum())
    out: dict[str, Any] = {"G": _gram(frame, p), "dev": float(_column_sums(frame, ["dev"])[0]),
                           "ext": int(_column_sums(frame, ["ext"])[0]),
                           "rhs": _column_sums(frame, [f"b{j}" for j in range(p)])}
    if "invalid" in frame:
        out["invalid"] = int(_column_sums(frame, ["invalid"])[0])
    if checks:
        nfit = int(_column_sums(frame, ["nfit"])[0])
        out.update(nfit=nfit, swfit=float(_column_sums(frame, ["swfit"])[0]),
                   ymin=float(frame["ymin"].min()) if nfit else 0.0,
                   ymax=float(frame["ymax"].max()) if nfit else 0.0,
                   ybad=int(_column_sums(frame, ["ybad"])[0]),
                   yzero=int(_column_sums(frame, ["yzero"])[0]),
                   bad=_column_sums(frame, [f"bad{j}" for j in range(p)]))
    return out


def _irls_pass(source: Any, plan: _Plan, beta: np.ndarray | None, deviance: bool,
               checks: bool = False, filtered: bool = True) -> dict[str, Any]:
    if source.engine != "duckdb":
        return _map_reduce(source, _frame_pass, plan, beta, deviance, checks)
    return _sql_sums(source, plan, beta, deviance, checks, filtered)


def _final_pass(source: Any, plan: _Plan, beta: np.ndarray, filtered: bool = True
                ) -> dict[str, Any]:
    """The Gram matrix at ``beta``, the deviance, the invalid rows, and the cells:
    the design keys, membership flag, rows, weight total and sums of
    :math:`r_i x_i` (0 outside the fit). On DuckDB one query, or two when
    some row is not in the fit (``filtered``): the cells of every row."""
    p = int(_keep(plan).sum())
    s_cols = [f"s{j}" for j in range(p)]
    if source.engine != "duckdb":
        out = _map_reduce(source, _frame_final, plan, beta, keys=True)
        cells = out["cells"]
    else:
        fits = _run_sql(source, _sql_pass(plan, beta, final=True, filtered=filtered))
        out = {"G": _gram(fits, p), "dev": float(_column_sums(fits, ["dev"])[0]),
               "ext": int(_column_sums(fits, ["ext"])[0])}
        if "invalid" in fits:
            out["invalid"] = int(_column_sums(fits, ["invalid"])[0])
        if filtered:
            cells = _run_sql(source, _sql_cells(plan)).merge(
                fits[[*plan.keys, *s_cols]], on=list(plan.keys), how="left")
        else:  # every row in the fit: each cell complete, its rows counted already
            cells = fits[[*plan.keys, _N, _W, *s_cols]].copy()
            cells[_FLAG] = 2
        cells[_W] = cells[_W].to_numpy(dtype=float, na_value=0.0)
    outside = cells[_FLAG].to_numpy() != 2
    for c in s_cols:  # over the model's columns
        v = cells[c].to_numpy(dtype=float, na_value=0.0).copy()
        v[outside] = 0.0
        cells[c] = v
    return {**out, "cells": cells}


def _dropped(source: Any, plan: _Plan) -> int:
    """Rows in the domain with a missing value in the model (for an error's message)."""
    if source.engine == "duckdb":
        present, complete, _ = _sql_masks(plan)
        return int(_run_sql(source, f"SELECT count_if(({present}) AND NOT ({complete})) "
                                    f"AS dropped FROM __ib_src")["dropped"].iloc[0])
    return int(_map_reduce(source, _frame_dropped, plan)["dropped"])


def _frame_dropped(frame: pd.DataFrame, plan: _Plan) -> dict[str, Any]:
    _, present, complete, _ = _frame_masks(frame, plan)
    return {"dropped": int((present & ~complete).sum())}


# ----------------------------------------------------------------------------
# the fit
# ----------------------------------------------------------------------------
def _scale(fam: Family, G: np.ndarray, mean_w: float) -> np.ndarray | float:
    """The scale of a coefficient's change, as :func:`innobaro.irls.irls` measures
    it: 1 for the canonical identity, logit and log links, else the
    coefficient's model-based standard error on weights of mean one."""
    if fam.newton and fam.link_name in ("identity", "logit", "log"):
        return 1.0
    try:
        inv = np.linalg.inv(G)
    except np.linalg.LinAlgError:
        return 1.0
    out = np.sqrt(np.abs(np.diagonal(inv)) * mean_w)
    return np.where(np.isfinite(out) & (out > 0), out, 1.0)


def _converged(step: float, previous: float, tol: float, quadratic: bool) -> bool:
    """:func:`innobaro.glm`'s rule: a step below ``tol``, or (Newton's method)
    below ``sqrt(tol)/10`` and within 10 times the square of the previous one."""
    if step < tol:
        return True
    return quadratic and step < 0.1 * np.sqrt(tol) and step <= 10 * previous ** 2


def _drifting(step: float, previous: float, tol: float, separable: bool) -> bool:
    noise = step >= previous and step < 1e3 * tol
    return (step > 1e-6 or noise) if separable else noise


def _aliased(G: np.ndarray) -> np.ndarray:
    """Aliased columns from the Gram matrix at the starting weights: a column
    whose squared residual on the columns kept before it (a Schur complement)
    is below ``10 * ALIAS_TOL**2`` of its squared norm, or a column of zeros
    (R's rule, on the Gram matrix rather than a QR of the rows)."""
    p = G.shape[0]
    alias = np.zeros(p, dtype=bool)
    if gram_clear(G):
        return alias
    for j in range(p):  # over the model's columns
        kept = np.flatnonzero(~alias[:j])
        gjj = G[j, j]
        if gjj <= 0:
            alias[j] = True
            continue
        res = gjj
        if kept.size:
            b = G[kept, j]
            res = gjj - b @ np.linalg.solve(G[np.ix_(kept, kept)], b)
        alias[j] = res <= 10 * ALIAS_TOL ** 2 * gjj
    return alias


def fit_glm(source: Any, formula: str, *, family: Any, link: str | None,
            variance: str | None = None, theta: float | None = None,
            keys: tuple[str, ...], weights: str | None, probs: str | None,
            design_args: dict[str, Any], n_rows: int, weight_total: float,
            domain: str | None = None, offset: str | None = None, tol: float = 1e-12,
            max_iter: int = 100) -> EngineGLMResult:
    """Fit a survey GLM over an engine's rows (see :meth:`EngineDesign.glm`).

    Parameters
    ----------
    source : Source
        The engine's rows (DuckDB, Dask or pandas).
    formula : str
    family, link, variance, theta
        As for :func:`innobaro.glm`.
    keys : tuple of str
        The design's cell columns (strata, units, fpc).
    weights, probs : str or None
    design_args : dict
        The in-memory design's arguments for the cells (strata, psu, fpc, nest,
        lonely_psu).
    n_rows, weight_total : int, float
        The design's rows and weight total (a source that changed is refused).
    domain, offset : str, optional
    tol, max_iter
        As for :func:`innobaro.glm`.

    Returns
    -------
    EngineGLMResult

    Notes
    -----
    IRLS: :math:`\\beta_{t+1} = (X^\\top W_t X)^{-1} X^\\top W_t z_t`, one pass of
    sums per step; covariance from the PSU totals of
    :math:`z_i = r_i x_i^\\top A` (Binder 1983; Lumley 2010, ch. 5).
    """
    fam = make_family(family, link=link, variance=variance, theta=theta)
    source = _Rows(source)
    check_iterations(max_iter, tol)
    plan = _plan(source, formula, fam, keys, design_args["psu"][0], weights, probs, domain,
                 offset)
    passes = 0
    levels = _levels(source, plan)
    passes += 1 if plan.categorical else 0
    plan = _encoded(plan, formula, levels, source.engine == "duckdb")
    assert plan.spec is not None
    # the first pass, from a fit to a sample of the rows when there are many (as
    # ib.glm starts), else from R's starting means: the first iteration's sums,
    # with the count of the rows of the fit and the checks of the response's
    # range and finite values; its Gram matrix decides aliasing
    beta = _warm_start(source, plan, n_rows, max_iter)
    passes += 1 if _warms(plan, n_rows) else 0
    ps = _irls_pass(source, plan, beta, False, checks=True)
    passes += 1
    if beta is not None and ps.get("invalid"):  # the sample's fit is invalid on all rows
        beta = None
        ps = _irls_pass(source, plan, None, False, checks=True)
        passes += 1
    if ps["nfit"] == 0:
        dropped = _dropped(source, plan)
        raise EstimationError("no row with positive weight and complete values in the "
                              "model" + (f" ({dropped} row(s) miss a value)" if dropped
                                         else ""))
    _check_first(ps, plan)
    mean_w = ps["swfit"] / ps["nfit"]
    nfit = int(ps["nfit"])
    # every row of the source in the fit: the later passes need not test each row
    filtered = nfit != n_rows
    alias = _aliased(ps["G"])
    if alias.any():
        cols = [plan.spec.column_names[j] for j in np.flatnonzero(alias)]
        warn(f"model column(s) {', '.join(map(repr, cols))} are aliased: all zero among the "
             f"rows of the fit (a level without rows) or linear combinations of the columns "
             f"before them; their coefficients are NaN")
        if alias.all():
            raise EstimationError("every column of the model is zero among the rows of the "
                                  "fit; nothing can be estimated")
        keep = ~alias
        plan = replace(plan, keep=keep)
        if beta is None:
            ps = {**ps, "G": ps["G"][np.ix_(keep, keep)], "rhs": ps["rhs"][keep]}
        else:  # the sample's fit had the aliased columns: from R's starting means
            beta = None
            ps = _irls_pass(source, plan, None, False, filtered=filtered)
            passes += 1
    prev = np.inf
    dev_old = np.inf
    change = np.inf
    it = 0
    converged = False
    halved = False
    final: dict[str, Any] | None = None
    stop = extra = False
    least_squares = fam.variance_name == "constant" and fam.link_name == "identity"
    for it in range(1, max_iter + 1):  # IRLS iterations, one pass each
        new = solve(ps["G"], ps["rhs"])
        first = beta is None
        halvings = 0
        while True:  # R's step-halving: the pass at a step finds whether it is valid
            worst = np.inf if beta is None else float(np.max(
                np.abs(new - beta) / (_scale(fam, ps["G"], mean_w) + np.abs(new))))
            flat = it >= 8 and abs(ps["dev"] - dev_old) <= 1e-15 * (abs(ps["dev"]) + 0.1) \
                and _drifting(worst, prev, tol, fam.separable)
            done = _converged(worst, prev, tol, fam.newton)
            # the sums' rounding (DuckDB's parallel sums vary in the 14th digit) can
            # keep the steps from going below tol: a step below sqrt(tol) that no
            # longer shrinks is at that floor
            stalled = worst >= prev and worst < np.sqrt(tol)
            stop = not first and (done or flat or stalled)
            if least_squares and first and max_iter >= 2:
                # the first step from R's start (eta = y) is the least-squares
                # solution, and the second iteration's sums at it are the first's
                # (the working weights and response do not depend on the
                # coefficients): ib.glm's second step is zero but for rounding, so
                # it is counted without its pass and the pass at the solution is
                # the final one
                stop = extra = True
            last = stop or it == max_iter  # the pass at the last step is the final one
            nxt = _final_pass(source, plan, new, filtered) if last else _irls_pass(
                source, plan, new, it + 1 >= 7, filtered=filtered)
            # DuckDB's final pass is two queries when some row is not in the fit
            passes += 2 if last and filtered and source.engine == "duckdb" else 1
            if not nxt.get("invalid"):
                break
            if beta is None:
                raise EstimationError(
                    f"{fam.name} family with {fam.link_name} link: no valid set of "
                    f"coefficients found from the starting values (the linear predictor or "
                    f"fitted means leave the family's range{_RANGE.get(fam.variance_name, '')}"
                    f"); use another link, or fit in memory with start=")
            if halvings >= max_iter:
                raise EstimationError(
                    f"{fam.name} family with {fam.link_name} link: no valid step after "
                    f"{max_iter} halvings (the fitted means leave the family's range"
                    f"{_RANGE.get(fam.variance_name, '')}); use another link, or fit in "
                    f"memory with start=")
            halvings += 1
            halved = True
            new = (new + beta) / 2
        beta = new
        change = worst
        dev_old = ps["dev"]
        prev = worst
        if last:
            converged = stop
            final = nxt
            break
        ps = nxt
    assert beta is not None and final is not None
    if halved:
        warn(f"{fam.name} family with {fam.link_name} link: an IRLS step left the valid "
             f"range of the model{_RANGE.get(fam.variance_name, '')}, and was halved (R: "
             f"'step size truncated: out of bounds'); if the fit ends at the boundary, its "
             f"standard errors are not reliable. Check the fitted values or use another link")
    cells = final["cells"]
    n, wsum = int(cells[_N].sum()), float(cells[_W].sum())
    if n != n_rows or abs(wsum - weight_total) > _DRIFT * abs(weight_total):
        raise EngineError(f"glm: the {source.engine} source changed since the design was "
                          f"built ({n_rows} rows with weight total {weight_total:.10g}, now "
                          f"{n} rows with {wsum:.10g}); build the design again")
    if not converged and not (final["ext"] and np.isfinite(beta).all()):
        raise EstimationError(
            f"the model did not converge in {max_iter} iterations (last relative change "
            f"of a coefficient {abs(change):.3g}); check for separation, rescale "
            f"variables or raise max_iter")
    if final["ext"]:
        warn(f"perfect or quasi-complete separation: {final['ext']} row(s) have fitted "
             f"probabilities of 0 or 1; the coefficients and standard errors are not "
             f"meaningful. Collapse levels or drop the term driving them")
    A = np.linalg.inv(final["G"])
    p = beta.size
    Z = cells[[f"s{j}" for j in range(p)]].to_numpy(dtype=float) @ A
    flag = cells[_FLAG].to_numpy()
    frame = cells[list(plan.keys)].copy()
    frame[_W] = cells[_W].to_numpy(dtype=float)
    cells_design = Design(frame, weights=_W, **design_args)
    present = flag >= 1
    if domain is not None:
        cells_design = cells_design.subset(present)
    infl = Influence(values=Z, domain=np.where(present, 0, -1).astype(np.int64), n_domains=1)
    V = vcov_of(cells_design, beta, infl, _no_replicates)
    df_resid = residual_df(cells_design, flag == 2, p)
    # R's deviance: on the weights over their mean among the design's (domain's) rows
    w_scale = float(cells[_W].to_numpy()[present].sum()) / float(
        cells[_N].to_numpy()[present].sum())
    keep = _keep(plan)
    assert plan.spec is not None
    return EngineGLMResult(formula=formula, spec=plan.spec, family=fam, keep=keep,
                           beta=beta, vcov=V, df_resid=df_resid, nobs=nfit,
                           n_dropped=int(cells[_N].to_numpy()[flag == 1].sum()),
                           iterations=it + extra,
                           deviance=float(final["dev"]) / w_scale, engine=source.engine,
                           converged=converged, passes=passes, offset=offset)


#: above this many rows of the fit, IRLS starts from a fit to a sample (as ib.glm)
_WARM = 200_000
_SAMPLE = 50_000
#: the partitions of a Dask frame the warm start's sample is read from
_SAMPLE_PARTS = 4


def _warms(plan: _Plan, n_rows: int) -> bool:
    """Whether IRLS starts from a sample's fit (not for least squares: one step)."""
    fam = plan.fam
    return n_rows > _WARM and not (fam.variance_name == "constant"
                                   and fam.link_name == "identity")


def _warm_start(source: Any, plan: _Plan, n_rows: int, max_iter: int) -> np.ndarray | None:
    """Coefficients of the model fitted to about 50,000 rows of the fit (to 1e-6),
    the start of the full IRLS when the design has more than 200,000 rows, as
    :func:`innobaro.glm` starts above 200,000 rows of the fit (saving full
    passes); None when the sample cannot estimate the model (a few rows in a
    domain, a response the family refuses: the first pass names it)."""
    if not _warms(plan, n_rows):
        return None
    fam = plan.fam
    k = n_rows // _SAMPLE
    if source.engine == "duckdb":
        xs = [x for x, kept in zip(plan.sql_x, _keep(plan), strict=True) if kept]
        _, _, fit = _sql_masks(plan)
        off = _sql_expr(plan.offset) if plan.offset is not None else "0.0"
        cols = [f"{x} AS x{j}" for j, x in enumerate(xs)]
        cols += [f"{_sql_expr(plan.response)} AS y", f"{_sql_weight(plan)} AS w",
                 f"{off} AS off"]
        # a deterministic sample: the rows of the fit whose values hash to 0 modulo
        # k (the hash of the columns read, so the model's columns are evaluated
        # on the sample's rows only)
        raw = ", ".join(_q(c) for c in dict.fromkeys(
            [*plan.columns, *(c for c in (plan.weights, plan.probs) if c is not None)]))
        frame = _run_sql(source, f"SELECT {', '.join(cols)} FROM __ib_src WHERE ({fit}) "
                                 f"AND hash({raw}) % {k} = 0")
        X = np.asfortranarray(frame[[f"x{j}" for j in range(len(xs))]].to_numpy(dtype=float))
        y = frame["y"].to_numpy(dtype=float)
        w = frame["w"].to_numpy(dtype=float)
        offset = frame["off"].to_numpy(dtype=float) if plan.offset is not None else None
    else:
        # the sample from a few partitions spread over the rows: reading them all
        # would cost a pass
        some = None
        if source.engine == "dask":
            n_parts = source.frame.npartitions
            some = min(n_parts, _SAMPLE_PARTS)
            k = max(1, int(n_rows * some / n_parts) // _SAMPLE)
        got = _map_reduce(source, _frame_sample, plan, k, some=some)
        X, y, w = got["X"], got["y"], got["w"]
        offset = got["off"] if plan.offset is not None else None
    if y.size <= X.shape[1] or not np.isfinite(y).all() or not np.isfinite(X).all():
        return None
    try:
        with warnings.catch_warnings():  # the full fit warns if it must
            warnings.simplefilter("ignore", InnobaroWarning)
            b0, _, change = irls(X, y, w[:, None], fam, beta0=None, tol=1e-6,
                                 max_iter=max_iter, offset=offset)
    except (np.linalg.LinAlgError, EstimationError, ValueError):
        return None
    return b0[:, 0] if change >= 0 and np.isfinite(b0).all() else None


def _check_first(ps: dict[str, Any], plan: _Plan) -> None:
    """The response's range and infinite values (numpy engines find them here)."""
    assert plan.spec is not None
    bad = []
    if ps.get("ybad"):
        bad.append("the response")
    if "bad" in ps:
        bad += [repr(plan.spec.column_names[j]) for j in np.flatnonzero(ps["bad"])]
    if bad:
        raise EstimationError(f"infinite values in {', '.join(bad)} among the rows of the "
                              f"fit (a log of zero?); recode them or set them missing")
    lo, hi = float(ps["ymin"]), float(ps["ymax"])
    fam = plan.fam
    if fam.is_binomial and fam.name != "quasi" and (lo < 0 or hi > 1):
        raise EstimationError(f"{fam.name} response must be in [0, 1]; found "
                              f"{lo if lo < 0 else hi!r}. Code the outcome as 0/1 or a "
                              f"proportion")
    if fam.name in ("poisson", "quasipoisson", "negative.binomial") and lo < 0:
        raise EstimationError(f"{fam.name} response must be non-negative; found {lo!r}")
    if fam.name in ("Gamma", "inverse.gaussian") and lo <= 0:
        raise EstimationError(f"{fam.name} response must be positive; found {lo!r}")
    link = fam.link_name
    if fam.name == "gaussian" and ((link == "log" and lo <= 0) or (link == "inverse"
                                                                   and ps["yzero"])):
        what = "zero or negative values" if link == "log" else "zeros"
        raise EstimationError(f"gaussian family with {link} link: the response has {what}, "
                              f"so there are no valid starting values (R: 'cannot find "
                              f"valid starting values')")


def _no_replicates(W: np.ndarray) -> np.ndarray:  # pragma: no cover - linearisation only
    raise UnsupportedDesignError("replicate weights are not on the engines' models yet")


# ----------------------------------------------------------------------------
# the result
# ----------------------------------------------------------------------------
class EngineGLMResult:
    """A survey GLM fitted over an engine's rows.

    The numbers of :class:`innobaro.GLMResult` that the sums give:
    coefficients, their design-based covariance, standard errors, t tests and
    intervals on the residual degrees of freedom, the deviance, and the
    summary table. What needs the rows again (predictions, margins,
    residuals, refits) is not kept: the rows stay in the engine.

    Attributes
    ----------
    formula : str
    family, link : str
        R's names.
    params, bse : pandas.Series
    vcov : pandas.DataFrame
    df_resid : float
        Design degrees of freedom among the rows complete in the model + 1 - p
        (R's ``svyglm``).
    nobs, n_dropped, iterations : int
    passes : int
        Queries (DuckDB) or passes over the partitions (Dask) the fit took: the
        levels of categorical variables, the sample of a warm start, one per
        iteration (a least-squares fit's second iteration, whose sums are its
        first's, takes none) and one more per halved step, and the final sums
        (two DuckDB queries when some row is not in the fit).
    deviance : float
        On the weights rescaled to mean one over the design's rows (R's
        ``deviance`` of an ``svyglm``).
    engine : str
    offset : str or None
        The model's offset column.
    """

    level = 0.95
    interval_method = "wald"

    def __init__(self, *, formula: str, spec: ModelSpec, family: Family, keep: np.ndarray,
                 beta: np.ndarray, vcov: np.ndarray, df_resid: float, nobs: int,
                 n_dropped: int, iterations: int, deviance: float, engine: str,
                 converged: bool, passes: int = 0, offset: str | None = None) -> None:
        self.formula = formula
        self.spec = spec
        self.family = family.name
        self.link = family.link_name
        self.family_functions = family
        p = keep.size
        self._keep = keep
        self._beta = np.full(p, np.nan)
        self._beta[keep] = beta
        self._V = np.full((p, p), np.nan)
        self._V[np.ix_(keep, keep)] = vcov
        self.df_resid = float(df_resid)
        self.nobs = nobs
        self.n_dropped = n_dropped
        self.iterations = iterations
        self.deviance = deviance
        self.engine = engine
        self.converged = converged
        self.passes = passes
        self.offset = offset
        self._names = pd.Index(spec.column_names, name="term")

    @property
    def params(self) -> pd.Series:
        """Coefficients by model column (``NaN`` where aliased)."""
        return pd.Series(self._beta.copy(), index=self._names, name="coef")

    @property
    def vcov(self) -> pd.DataFrame:
        """Design-based covariance of the coefficients."""
        return pd.DataFrame(self._V.copy(), index=self._names, columns=self._names)

    @property
    def bse(self) -> pd.Series:
        """Design-based standard errors."""
        return pd.Series(np.sqrt(np.diag(self._V)), index=self._names, name="se")

    @property
    def coefficients(self) -> Estimate:
        """The coefficients as an :class:`~innobaro.Estimate` with the residual df.

        Returns
        -------
        Estimate
        """
        return Estimate(self._beta, np.where(np.isnan(self._V), 0.0, self._V), self._names,
                        df=np.full(self._keep.size, self.df_resid), kind="coefficient")

    @property
    def estimate(self) -> pd.Series:
        """The coefficients (:attr:`params`)."""
        return self.params

    @property
    def se(self) -> pd.Series:
        """Their standard errors (:attr:`bse`)."""
        return self.bse

    @property
    def df(self) -> float:
        """The residual degrees of freedom (:attr:`df_resid`)."""
        return self.df_resid

    @property
    def tvalues(self) -> pd.Series:
        """Coefficients over their standard errors."""
        return pd.Series(self._beta / self.bse.to_numpy(), index=self._names, name="t")

    @property
    def pvalues(self) -> pd.Series:
        """Two-sided p-values on the residual degrees of freedom."""
        t = np.abs(self.tvalues.to_numpy())
        p = 2 * stats.t.sf(t, self.df_resid) if self.df_resid > 0 else np.full(t.shape,
                                                                               np.nan)
        return pd.Series(p, index=self._names, name="pvalue")

    def conf_int(self, level: float | None = None) -> pd.DataFrame:
        """Wald intervals with t quantiles on :attr:`df_resid`.

        Parameters
        ----------
        level : float, default 0.95

        Returns
        -------
        pandas.DataFrame
            ``lower`` and ``upper`` by term.
        """
        return self.coefficients.ci(level)

    def ci(self, level: float | None = None, df: float | None = None) -> pd.DataFrame:
        """Wald intervals (:meth:`conf_int`, with ``df`` as :meth:`Estimate.ci`).

        Parameters
        ----------
        level : float, optional
        df : float, optional

        Returns
        -------
        pandas.DataFrame
        """
        return self.coefficients.ci(level, df)

    def to_frame(self) -> pd.DataFrame:
        """The coefficients as a DataFrame: estimate, se, lower, upper, df, cv.

        Returns
        -------
        pandas.DataFrame
        """
        return self.coefficients.to_frame()

    def summary(self, level: float = 0.95) -> Summary:
        """The summary table of :meth:`innobaro.GLMResult.summary` (without the
        dispersion, which needs the rows again).

        Parameters
        ----------
        level : float, default 0.95

        Returns
        -------
        Summary
        """
        table = pd.DataFrame({"coef": self._beta, "se": self.bse.to_numpy(),
                              "t": self.tvalues.to_numpy(),
                              "pvalue": self.pvalues.to_numpy()}, index=self._names)
        ci = self.conf_int(level)
        table["lower"] = ci["lower"].to_numpy()
        table["upper"] = ci["upper"].to_numpy()
        fam = self.family_functions
        info = [("Model", f"{self.family} GLM, {self.formula}"
                          + ("" if fam.canonical_link else f" ({fam.label})")),
                ("Variance", f"design-based (linearisation; {self.engine} engine)"),
                ("Observations", f"{self.nobs} (rows dropped for missing values: "
                                 f"{self.n_dropped})"),
                ("Residual df", f"{self.df_resid:g}"),
                ("Interval", f"{100 * level:g}%, t on the residual df")]
        return Summary(info=info, table=table)

    def predict(self, newdata: Any, type: str = "response", se: bool = False,
                offset: Any = None, total: float | None = None) -> pd.Series | pd.DataFrame:
        """Predictions for new rows, as :meth:`innobaro.GLMResult.predict` with ``newdata``.

        The rows of the fit stay in the engine, so ``newdata`` is required:
        the covariate values to predict for (a few rows, or population totals
        with ``total=``).

        Parameters
        ----------
        newdata : DataFrame
            Rows to predict for (pandas, polars, pyarrow).
        type : {"response", "link"}, default "response"
        se : bool, default False
            Also return :math:`\\sqrt{x^\\top V x}` (times :math:`|\\mu'(\\eta)|`
            on the response scale).
        offset : array-like, optional
            The offset of the rows; by default the model's ``offset=`` column of
            ``newdata`` (zero without one).
        total : float, optional
            A population size multiplying the intercept column, as R's
            ``predict.svyglm(total=)``.

        Returns
        -------
        pandas.Series or pandas.DataFrame
            ``fit`` (and ``se``), indexed as ``newdata``.

        Examples
        --------
        >>> import pandas as pd
        >>> from innobaro.engines import EngineDesign, FrameSource
        >>> df = pd.DataFrame({"psu": range(8), "x": [0.0, 1, 2, 3, 4, 5, 6, 7],
        ...                    "y": [1.0, 2, 2, 4, 5, 5, 7, 9]})
        >>> m = EngineDesign(FrameSource(df), psu="psu").glm("y ~ x")
        >>> m.predict(pd.DataFrame({"x": [0.0, 10.0]})).round(4).tolist()
        [0.5833, 11.4167]
        """
        if type not in ("response", "link"):
            raise EstimationError("type must be 'response' or 'link'")
        from .._frames import as_frame
        from ..models import linear_prediction

        newdata = as_frame(newdata, "newdata")
        X = self.spec.matrix(newdata)
        if offset is None:
            if self.offset is None:
                offset = 0.0
            else:
                if self.offset not in newdata.columns:
                    raise EstimationError(f"newdata has no column {self.offset!r} (the "
                                          f"model's offset); give it or offset=")
                offset = newdata[self.offset].to_numpy(dtype=float, na_value=np.nan)
        keep = self._keep
        beta = np.where(keep, self._beta, 0.0)
        V = np.where(np.outer(keep, keep), self._V, 0.0)
        return linear_prediction(self.spec, X, beta, V, self.family_functions, offset,
                                 newdata.index, type=type, se=se, total=total)

    def wald_test(self, terms: str | Sequence[str], method: str = "F",
                  df: float | None = None) -> TermTest:
        """Test that the coefficients of one or several terms are all zero, as
        :meth:`innobaro.GLMResult.wald_test` with ``method="F"`` or ``"chisq"``.

        Parameters
        ----------
        terms : str or list of str
            Model terms as in the formula.
        method : {"F", "chisq"}, default "F"
            :math:`F = \\beta^\\top V^{-1}\\beta / k` on (k, ``df``) degrees of
            freedom, or the Wald chi-square on k (R's ``regTermTest``). The
            working likelihood-ratio tests need the rows again.
        df : float, optional
            Denominator degrees of freedom; the residual degrees of freedom by
            default.

        Returns
        -------
        TermTest
        """
        from ..models import wald_term_test

        if method not in ("F", "chisq"):
            raise UnsupportedDesignError(
                f"wald_test on a {self.engine} model: method must be 'F' or 'chisq' (the "
                f"working likelihood-ratio tests refit the model on the rows); got "
                f"{method!r}")
        names, idx = self.spec.columns_of(terms)
        idx = idx[self._keep[idx]]
        if idx.size == 0:
            raise EstimationError(f"every coefficient of {' + '.join(names)} is aliased; "
                                  f"there is nothing to test")
        ddf = self.df_resid if df is None else float(df)
        return wald_term_test(names, self._beta[idx], self._V[np.ix_(idx, idx)], ddf, method)

    def __repr__(self) -> str:
        return repr(self.summary())


# ----------------------------------------------------------------------------
# what innobaro.engines.replicate_glm builds on (public names for the
# architecture rule; the replicate refits share the plan, its SQL and frames)
# ----------------------------------------------------------------------------
Plan = _Plan
plan_model = _plan
model_levels = _levels
encode_model = _encoded
warm_start = _warm_start
irls_pass = _irls_pass
check_first_pass = _check_first
aliased_from_gram = _aliased
rows_dropped = _dropped
kept_columns = _keep
sql_masks = _sql_masks
sql_family = _sql_family
sql_expr = _sql_expr
sql_weight = _sql_weight
run_sql = _run_sql
frame_masks = _frame_masks
frame_model = _frame_model
sql_quote = _q
sql_literal = _lit
step_scale = _scale
converged_step = _converged
drifting_step = _drifting
