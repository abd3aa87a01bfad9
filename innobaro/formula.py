"""Formulas: the only module that imports patsy.

patsy parses the formula and learns the encoding from the data (levels,
contrasts, stateful transforms such as ``center(x)``); innobaro then builds
the model matrix itself from patsy's public :class:`patsy.DesignInfo`. The
columns are the ones patsy's ``dmatrix`` gives, bit for bit (the tests check
this), but built column by column into column-major storage, which is several
times faster on a million rows than patsy's row-major fill and is the layout
the model fits read (one contiguous block of rows of every column at a time).

A :class:`ModelSpec` remembers the encoding, so the same columns can be rebuilt
on new data for predictions and margins. Keeping patsy behind this module means
a move to another formula library touches one file.

patsy's objects refuse to pickle (patsy issue 26), so a :class:`ModelSpec`
pickles as plain data: the formula, and for each variable of it its code, its
levels (categorical) or width (numerical), the names its code reads from the
formula's environment (numpy and patsy by name) and the fitted state of its
stateful transforms (``center``, ``bs``, ...); for each term its contrast
matrices. Unpickling rebuilds patsy's ``DesignInfo`` from these, without the
data, so a fitted model can be cached, saved or sent to another process and
still predict new data.

R spellings: ``factor(x)``, ``relevel(x, ref)``, ``log(x)``, ``log(x, base)``,
``log2``, ``log10``, ``log1p``, ``exp``, ``expm1`` and ``sqrt`` work in
formulas with R's meaning (:data:`R_FUNCTIONS`); ``as.factor(x)``, ``poly``,
``ns``, ``ifelse``, R's ``.`` and ``^`` inside ``I()`` (exclusive or in
Python, not a power) are errors that say what to write instead.
"""

from __future__ import annotations

import importlib
import io
import pickle
import re
import sys
import tokenize
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType, ModuleType
from typing import Any

import numpy as np
import pandas as pd

from .errors import EstimationError

__all__ = ["R_FUNCTIONS", "ModelSpec", "model_frame"]


@dataclass(frozen=True, eq=False)
class ModelSpec:
    """How the model matrix of a formula is built.

    Attributes
    ----------
    formula : str
    column_names : list of str
        Names of the model-matrix columns (patsy's, e.g. ``C(x)[T.b]``).
    term_columns : dict
        For each term of the right-hand side, the slice of its columns.
    missing : dict
        For each variable of the formula with missing values among the rows
        asked for, how many rows miss it.

    Notes
    -----
    A spec pickles (and deep-copies) as plain data, patsy's encoding
    included, and compares equal to its copy: same formula, columns, terms,
    levels, contrasts and transform states.
    """

    formula: str
    column_names: list[str]
    term_columns: dict[str, slice]
    _design_info: Any
    _response_info: Any | None
    missing: dict[str, int] = field(default_factory=dict)

    def matrix(self, data: pd.DataFrame, *, terms: Sequence[str] | None = None,
               rows: np.ndarray | None = None,
               at: Mapping[str, Any] | None = None) -> np.ndarray:
        """The model matrix for new data, with the encoding of the fit.

        Column-major (n, p); a missing value or a level the fit never saw is
        an error.

        Parameters
        ----------
        data : pandas.DataFrame
        terms : sequence of str, optional
            Build only the columns of these terms (names as in
            :attr:`term_columns`), in the model's order, evaluating only the
            variables they use; all terms by default.
        rows : numpy.ndarray, optional
            Positions of the rows of ``data`` to use (all by default); only
            the columns the formula reads are taken at these rows.
        at : mapping, optional
            Columns set to one value on every row (as predictive margins
            do), keeping their type and categories. A variable of the formula
            that reads only these columns is evaluated once, on one row.

        Returns
        -------
        numpy.ndarray
        """
        info = self._design_info
        factors = list(info.factor_infos) if terms is None else _factors_of(info, terms)
        sel = np.arange(len(data)) if rows is None else np.asarray(rows)
        n = sel.size
        if not at:
            columns = _Columns(data, rows=rows)
            values, na = _evaluate(info, columns, for_new_data=True, factors=factors)
        else:
            columns = _Columns(data, rows=rows, replace={
                k: constant_column(data[k].iloc[sel], v) for k, v in at.items()})
            one = {k: constant_column(data[k].iloc[sel[:1]], v) for k, v in at.items()}
            values, na = {}, np.zeros(n, dtype=bool)
            for factor in factors:  # over the variables of the terms asked for
                finfo = info.factor_infos[factor]
                use = columns
                if n and _reads_only(factor, finfo.state, data, sel[:1], one):
                    use = _Columns(data, rows=sel[:1], replace=one)
                v, miss = _evaluate_one(factor, finfo, use, for_new_data=True)
                values[factor] = v
                na |= miss
        if na.any():
            bad = _missing_counts(info, values, None)
            raise EstimationError(f"cannot build the model matrix for new data: missing "
                                  f"values in {', '.join(map(repr, bad))}")
        return _assemble(info, values, None, n, terms=terms)

    def terms_reading(self, variable: str, data: pd.DataFrame,
                      rows: np.ndarray | None = None) -> list[str]:
        """The terms whose columns change with the data column ``variable``.

        A variable of the formula reads ``variable`` if its code names it or
        its evaluation looks it up (``Q("x")``), checked on the first of
        ``rows`` of ``data``; a variable that cannot be evaluated there is
        taken to read it.

        Parameters
        ----------
        variable : str
        data : pandas.DataFrame
        rows : numpy.ndarray, optional
            Positions of rows of ``data`` the formula can be evaluated on.

        Returns
        -------
        list of str
            Names as in :attr:`term_columns`, in the model's order.
        """
        info = self._design_info
        first = np.arange(min(len(data), 1)) if rows is None else np.asarray(rows)[:1]
        reading = set()
        for factor, finfo in info.factor_infos.items():  # over the formula's variables
            code = getattr(factor, "code", None)
            if code is None or variable in _code_names(code):
                reading.add(factor)
                continue
            columns = _Columns(data, rows=first)
            try:
                factor.eval(finfo.state, columns)
            except Exception:  # conservatively: it may read the variable
                reading.add(factor)
                continue
            if variable in columns.looked_up:
                reading.add(factor)
        return [name for name, (term, subterms) in zip(
                    self.term_columns, info.term_codings.items(), strict=True)
                if any(f in reading for f in term.factors)]

    @property
    def terms(self) -> list[str]:
        return list(self.term_columns)

    def columns_of(self, terms: str | Sequence[str]) -> tuple[list[str], np.ndarray]:
        """The model-matrix columns of one or several terms.

        A term is found by its name in the formula, with ``"x"`` also finding
        ``"C(x)"`` or ``"C(x, Treatment(3))"``, spaces ignored and the factors
        of an interaction in any order (``"b:a"`` finds ``"a:b"``).

        Parameters
        ----------
        terms : str or sequence of str

        Returns
        -------
        names : list of str
            The terms as given.
        columns : numpy.ndarray
            Their columns' positions, sorted, without repeats.
        """
        names = [terms] if isinstance(terms, str) else list(terms)
        known = self.term_columns
        cols: list[int] = []
        for t in names:  # over the few terms asked for
            key = t.strip()
            if key not in known:
                alt = [k for k in known if same_term(k, key)]
                if not alt:
                    raise EstimationError(f"term {t!r} is not in the model; terms are "
                                          f"{', '.join(k for k in known if k != 'Intercept')}")
                key = alt[0]
            sl = known[key]
            cols.extend(range(sl.start, sl.stop))
        return names, np.array(sorted(set(cols)), dtype=np.int64)

    def __reduce__(self) -> tuple[Callable[..., ModelSpec], tuple]:
        return (_rebuild_spec, (self.formula, self.column_names, self.term_columns,
                                self.missing, _encode_info(self._design_info),
                                _encode_info(self._response_info)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ModelSpec):
            return NotImplemented
        return ((self.formula, self.column_names, self.term_columns, self.missing)
                == (other.formula, other.column_names, other.term_columns, other.missing)
                and _comparable(_encode_info(self._design_info, for_pickle=False))
                == _comparable(_encode_info(other._design_info, for_pickle=False))
                and _comparable(_encode_info(self._response_info, for_pickle=False))
                == _comparable(_encode_info(other._response_info, for_pickle=False)))

    __hash__ = None  # type: ignore[assignment]


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]


def model_frame(formula: str, data: pd.DataFrame, *, response: bool,
                within: np.ndarray | None = None
                ) -> tuple[np.ndarray | None, np.ndarray, ModelSpec, np.ndarray]:
    """Response, model matrix and spec of ``formula`` over ``data``.

    Rows with a missing value in any variable of the formula are left out of
    the matrices; the returned boolean mask marks the complete rows (over all
    rows of ``data``). With ``within`` (a boolean mask over the rows), the
    matrices hold only the complete rows inside it, e.g. a domain's.

    Returns
    -------
    y : (n_kept,) array or None
    X : (n_kept, p) array, column-major
    spec : ModelSpec
    kept : (n,) bool
    """
    import patsy

    if not isinstance(formula, str):
        raise EstimationError(f"formula must be a string, not {type(formula).__name__}")
    if data.index.has_duplicates:
        raise EstimationError("the data's index has duplicates; reset it before modelling")
    try:
        desc = patsy.ModelDesc.from_formula(formula)
        if response and not desc.lhs_termlist:
            raise EstimationError(f"formula {formula!r} has no response (left of '~')")
        termlists = [desc.lhs_termlist, desc.rhs_termlist] if response \
            else [desc.rhs_termlist]
    except (patsy.PatsyError, SyntaxError, TypeError, ValueError) as exc:
        raise EstimationError(f"formula {formula!r}: {_first_line(exc)}"
                              f"{_r_hint(formula)}") from None
    _check_python_spelling(formula, termlists)
    env = _formula_env()
    columns = _Columns(data)
    infos = _builders(formula, termlists, columns, env)
    x_info = infos[-1]
    x_values, x_na = _evaluate(x_info, columns, for_new_data=False)
    kept = ~x_na
    y_values: dict = {}
    missing = _missing_counts(x_info, x_values, within) if x_na.any() else {}
    if response:
        y_info = infos[0]
        y_values, y_na = _evaluate(y_info, columns, for_new_data=False)
        kept &= ~y_na
        if y_na.any():
            missing = {**_missing_counts(y_info, y_values, within), **missing}
        if y_info.column_names and len(y_info.column_names) != 1:
            raise EstimationError(f"formula {formula!r}: the response must be one column "
                                  f"(got {list(y_info.column_names)}); code a binary "
                                  f"factor as 0/1")
    use = kept if within is None else kept & within
    rows = None if use.all() else np.flatnonzero(use)
    if _unused_levels(x_info, x_values, use):
        # as R's glm (model.frame(drop.unused.levels = TRUE)): levels without
        # rows in the fit (outside a domain, or only where a value is missing)
        # are dropped, so the encoding is the one the rows used imply
        rows = np.flatnonzero(use)
        columns = _Columns(data.iloc[rows], drop_unused=True)
        infos = _builders(formula, termlists, columns, env)
        x_info = infos[-1]
        x_values, _ = _evaluate(x_info, columns, for_new_data=False)
        if response:
            y_values, _ = _evaluate(infos[0], columns, for_new_data=False)
        n_all, rows = rows.size, None
    else:
        n_all = len(data)
    X = _assemble(x_info, x_values, rows, n_all)
    yv = _assemble(infos[0], y_values, rows, n_all)[:, 0].copy() if response else None
    spec = ModelSpec(formula=formula, column_names=list(x_info.column_names),
                     term_columns=dict(x_info.term_name_slices.items()),
                     _design_info=x_info, _response_info=infos[0] if response else None,
                     missing=missing)
    return yv, X, spec, kept


def _formula_env() -> Any:
    """Where the names of a formula that are not columns of the data resolve.

    As in R and statsmodels, in the caller's scope: the first frame outside
    innobaro, so a user's own functions and variables work in formulas. numpy
    is always there as ``np`` (``np.log(x)`` works without importing it), then
    the R spellings of :data:`R_FUNCTIONS` (``log``, ``factor``, ...), and
    patsy adds its own (``C``, ``center``, ...). Columns of the data come
    first, the caller's names before numpy's and R's.
    """
    import patsy

    frame: FrameType | None = sys._getframe(1)
    while frame is not None and \
            str(frame.f_globals.get("__name__", "")).partition(".")[0] == "innobaro":
        frame = frame.f_back
    scopes: list[dict[str, Any]] = [] if frame is None else [frame.f_locals, frame.f_globals]
    return patsy.EvalEnvironment([*scopes, {"np": np, **R_FUNCTIONS}])


# ----------------------------------------------------------------------------
# building the matrix from patsy's DesignInfo
# ----------------------------------------------------------------------------
class _Columns(Mapping):
    """The data's columns as formulas see them: text columns as pandas
    categoricals with their sorted values as categories.

    patsy finds the levels of a text column by a Python loop over its rows,
    and innobaro's codes would then hash every row; a categorical carries its
    levels and codes. The levels are the ones patsy finds (the sorted distinct
    strings), so the model matrix is unchanged. Columns are converted when a
    formula first reads them; the caller's DataFrame is not touched.
    """

    def __init__(self, data: pd.DataFrame, *, drop_unused: bool = False,
                 rows: np.ndarray | None = None,
                 replace: Mapping[str, Any] | None = None) -> None:
        self._data = data
        self._drop_unused = drop_unused
        self._rows = rows
        self._replace = dict(replace or {})
        self._seen: dict[Any, Any] = {}
        self.looked_up: set[Any] = set()

    def __getitem__(self, key: Any) -> Any:
        self.looked_up.add(key)
        if key in self._seen:
            return self._seen[key]
        if key in self._replace:
            col = self._replace[key]
        else:
            col = self._data[key]
            if self._rows is not None:
                col = col.iloc[self._rows]
        if isinstance(col, pd.Series) and isinstance(col.dtype, pd.BooleanDtype):
            # pandas' nullable booleans, which patsy cannot read: as numpy
            # booleans, a factor with levels False, True; missing stays missing
            col = col.astype(pd.CategoricalDtype([False, True]))
        elif isinstance(col, pd.Series) and not isinstance(col.dtype, pd.CategoricalDtype) \
                and (pd.api.types.is_string_dtype(col.dtype) or col.dtype == object) \
                and pd.api.types.infer_dtype(col, skipna=True) == "string":
            col = col.astype(pd.CategoricalDtype(sorted(col.dropna().unique())))
        if self._drop_unused and isinstance(col, pd.Series) \
                and isinstance(col.dtype, pd.CategoricalDtype):
            col = col.cat.remove_unused_categories()
        self._seen[key] = col
        return col

    def __iter__(self) -> Iterator[Any]:
        return iter(self._data.columns)

    def has(self, name: str) -> bool:
        """Whether ``name`` is a column of the data (without converting it)."""
        return name in self._data.columns or name in self._replace

    def __len__(self) -> int:
        return len(self._data.columns)

    @property
    def n_rows(self) -> int:
        return len(self._data) if self._rows is None else len(self._rows)


def _evaluate(info: Any, data: _Columns, *, for_new_data: bool,
              factors: Collection[Any] | None = None) -> tuple[dict, np.ndarray]:
    """Every factor of ``info`` (or those in ``factors``) on ``data``:
    numerical factors as float (n, k) arrays, categorical ones as level codes
    (n,) with -1 for missing; and the rows with a missing value in any factor."""
    values: dict = {}
    na = np.zeros(data.n_rows, dtype=bool)
    for factor in info.factor_infos if factors is None else factors:  # the variables
        values[factor], miss = _evaluate_one(factor, info.factor_infos[factor], data,
                                             for_new_data=for_new_data)
        na |= miss
    return values, na


def _evaluate_one(factor: Any, finfo: Any, data: _Columns, *, for_new_data: bool
                  ) -> tuple[np.ndarray, np.ndarray]:
    """One factor's values (see :func:`_evaluate`) and its missing rows."""
    n = data.n_rows
    try:
        raw = factor.eval(finfo.state, data)
    except Exception as exc:  # patsy wraps the user's expression errors
        raise EstimationError(f"cannot evaluate {factor.name()!r}: "
                              f"{_first_line(exc)}") from None
    if finfo.type == "numerical":
        v = _numeric(raw, factor.name(), finfo.num_columns, n)
        return v, np.isnan(v).any(axis=1)
    v = _codes(raw, finfo.categories, factor.name(), n, for_new_data)
    return v, v < 0


def _reads_only(factor: Any, state: Any, data: pd.DataFrame, first: np.ndarray,
                replace: Mapping[str, Any]) -> bool:
    """Whether ``factor`` reads no column of ``data`` other than those of
    ``replace``: by its code's names and by the columns its evaluation on
    the row ``first`` looks up."""
    code = getattr(factor, "code", None)
    if code is None:
        return False
    if any(name in data.columns and name not in replace for name in _code_names(code)):
        return False
    probe = _Columns(data, rows=first, replace=replace)
    try:
        factor.eval(state, probe)
    except Exception:  # evaluated in full, where an error is reported
        return False
    return all(key in replace for key in probe.looked_up if probe.has(key))


def constant_column(col: pd.Series, value: Any) -> pd.Series:
    """A column like ``col`` (its type, categories and index) holding ``value``.

    Parameters
    ----------
    col : pandas.Series
    value : object
        A value of the column (a level of a categorical one; any other value
        is missing, as pandas makes it, and the model matrix refuses it).

    Returns
    -------
    pandas.Series
    """
    n = len(col)
    if isinstance(col.dtype, pd.CategoricalDtype):
        cats = col.cat.categories
        code = cats.get_indexer([value])[0] if value in cats else -1
        if code >= 0:
            values = pd.Categorical.from_codes(np.full(n, code, dtype=col.cat.codes.dtype),
                                               dtype=col.dtype)
        else:  # not a level: missing, as pandas makes it (and the matrix refuses)
            values = pd.Categorical([value] * n, categories=cats)
        return pd.Series(values, index=col.index, name=col.name)
    if isinstance(col.dtype, np.dtype) and col.dtype != object:
        return pd.Series(np.full(n, value, dtype=col.dtype), index=col.index, name=col.name)
    return pd.Series([value] * n, index=col.index, name=col.name).astype(col.dtype)


def _builders(formula: str, termlists: list, columns: _Columns, env: Any) -> list:
    """patsy's encoding (levels, contrasts, stateful transforms) of the
    formula's term lists, learnt from ``columns``."""
    import patsy

    try:
        infos = patsy.design_matrix_builders(termlists, lambda: iter([columns]), env,
                                             NA_action="drop")
    except (patsy.PatsyError, SyntaxError, TypeError, ValueError) as exc:
        raise EstimationError(f"formula {formula!r}: {_first_line(exc)}"
                              f"{_r_hint(formula)}") from None
    for info in infos:
        for factor, finfo in info.factor_infos.items():  # over the formula's variables
            # the names a variable's code reads from the caller's scope, less
            # the data's columns (which the data always provides): what a
            # pickled model carries, and new data lacking a column is then an
            # error rather than a silent read of a variable of the same name
            state = finfo.state
            if isinstance(state, dict) and "eval_env" in state:
                names = [n for n in _code_names(factor.code) if not columns.has(n)]
                state["eval_env"] = state["eval_env"].subset(
                    [n for n in names if n in state["eval_env"].namespace])
    return infos


def _unused_levels(info: Any, values: dict, use: np.ndarray) -> bool:
    """Whether some categorical factor has a level without rows among ``use``."""
    for factor, finfo in info.factor_infos.items():  # over the formula's variables
        if finfo.type != "numerical":
            codes = values[factor][use]
            if (np.bincount(codes[codes >= 0], minlength=len(finfo.categories)) == 0).any():
                return True
    return False


def _missing_counts(info: Any, values: dict, within: np.ndarray | None) -> dict[str, int]:
    """Rows (among ``within``) with a missing value, per variable of the formula."""
    out = {}
    for factor, finfo in info.factor_infos.items():  # over the formula's variables
        v = values[factor]
        miss = np.isnan(v).any(axis=1) if finfo.type == "numerical" else v < 0
        if within is not None:
            miss = miss & within
        count = int(miss.sum())
        if count:
            out[factor.name()] = count
    return out


def _numeric(raw: Any, name: str, width: int, n: int) -> np.ndarray:
    """Float (n, k) values; complex ones stay complex (complex-step derivatives)."""
    if isinstance(raw, (pd.Series, pd.DataFrame)):
        frame = raw.to_frame() if isinstance(raw, pd.Series) else raw
        if not all(pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t)
                   for t in frame.dtypes):
            raise EstimationError(f"variable {name!r} is not numeric")
        kind = complex if any(pd.api.types.is_complex_dtype(t) for t in frame.dtypes) \
            else float
        arr = frame.to_numpy(dtype=kind, na_value=np.nan)
    else:
        arr = np.asarray(raw)
        if not np.issubdtype(arr.dtype, np.number):
            raise EstimationError(f"variable {name!r} is not numeric")
        arr = arr.astype(complex if np.iscomplexobj(arr) else float, copy=False)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape != (n, width):
        raise EstimationError(f"variable {name!r} has shape {arr.shape}; expected "
                              f"{(n, width)}")
    return arr


def _codes(raw: Any, levels: tuple, name: str, n: int, for_new_data: bool) -> np.ndarray:
    """Codes of the values among the fit's ``levels``; -1 where missing."""
    if hasattr(raw, "contrast") and hasattr(raw, "data"):  # patsy's C(x, ...) box
        raw = raw.data
    if isinstance(raw, pd.Series):
        raw = raw.array
    index = pd.Index(list(levels))
    if isinstance(getattr(raw, "dtype", None), pd.CategoricalDtype):
        cat = pd.Categorical(raw)
        if tuple(cat.categories) == levels:
            codes = np.asarray(cat.codes, dtype=np.intp)
        else:
            known = index.get_indexer(cat.categories)
            codes = np.where(cat.codes >= 0, known[cat.codes], -1)
            unseen = (cat.codes >= 0) & (codes < 0)
            if unseen.any():
                value = cat.categories[cat.codes[np.flatnonzero(unseen)[0]]]
                raise _unseen(name, value, levels, for_new_data)
    else:
        arr = np.asarray(raw)
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.ndim != 1 or arr.shape[0] != n:
            raise EstimationError(f"variable {name!r} has shape {arr.shape}; expected ({n},)")
        codes = index.get_indexer(arr)
        lost = codes < 0
        if lost.any():
            unseen = lost & ~pd.isna(arr)
            if unseen.any():
                raise _unseen(name, arr[np.flatnonzero(unseen)[0]], levels, for_new_data)
    if codes.shape[0] != n:
        raise EstimationError(f"variable {name!r} has {codes.shape[0]} values; expected {n}")
    return codes


def _unseen(name: str, value: Any, levels: tuple, for_new_data: bool) -> EstimationError:
    where = "new data" if for_new_data else "the data"
    shown = ", ".join(map(repr, levels[:6])) + (", ..." if len(levels) > 6 else "")
    return EstimationError(f"cannot build the model matrix for {where}: {name!r} has the "
                           f"level {value!r}, which the model never saw (levels: {shown})")


def _factors_of(info: Any, terms: Sequence[str]) -> set:
    """The factors (variables) of the named terms."""
    wanted = set(terms)
    names = [n for n, _ in info.term_name_slices.items()]
    unknown = wanted - set(names)
    if unknown:
        raise EstimationError(f"no term {sorted(unknown)[0]!r} in the model")
    return {f for name, term in zip(names, info.term_codings, strict=True)
            if name in wanted for f in term.factors}


def _assemble(info: Any, values: dict, rows: np.ndarray | None, n_all: int,
              terms: Sequence[str] | None = None) -> np.ndarray:
    """The model matrix, column-major, for ``rows`` (all ``n_all`` when None);
    only the columns of ``terms`` (in the model's order) when given.

    Each column is the product, over the factors of its subterm, of a column
    of the factor's contrast matrix (categorical) or of its values
    (numerical), multiplied in the subterm's factor order as patsy does, so
    the result is identical to patsy's. Columns of a subterm run with the
    left-most factor changing fastest (patsy's and R's order).
    """
    # the number of rows comes from the data, not from the factors' values: an
    # intercept-only formula has none
    n = n_all if rows is None else rows.size
    chosen = None if terms is None else {
        term for name, term in zip(info.term_name_slices, info.term_codings, strict=True)
        if name in set(terms)}
    p = len(info.column_names) if chosen is None else sum(
        info.term_slices[t].stop - info.term_slices[t].start for t in chosen)
    kind = complex if any(np.iscomplexobj(v) for v in values.values()) else float
    out = np.empty((p, n), dtype=kind).T  # column-major: each column contiguous
    scratch: np.ndarray | None = None  # one column of a factor's contrasts, reused
    picked: dict = {}

    def factor_rows(factor: Any) -> np.ndarray:
        if factor not in picked:
            v = values[factor]
            picked[factor] = v if rows is None else v[rows]
        return picked[factor]

    col = 0
    for term, subterms in info.term_codings.items():  # over terms, then their subterms
        if chosen is not None and term not in chosen:
            continue
        for sub in subterms:
            widths = [sub.contrast_matrices[f].matrix.shape[1] if f in sub.contrast_matrices
                      else info.factor_infos[f].num_columns for f in sub.factors]
            for combo in _combinations(widths):  # over the subterm's columns
                target = out[:, col]
                if not sub.factors:
                    target.fill(1.0)
                for i, (factor, j) in enumerate(zip(sub.factors, combo, strict=True)):
                    v = factor_rows(factor)
                    if factor in sub.contrast_matrices:
                        piece = np.asarray(sub.contrast_matrices[factor].matrix,
                                           dtype=float)[:, j]
                        if i == 0 and kind is float and v.shape[0] == n:
                            np.take(piece, v, out=target)
                            continue
                        if scratch is None:
                            scratch = np.empty(n)
                        part = np.take(piece, v, out=scratch) if v.shape[0] == n \
                            else piece[v]
                    else:
                        part = v[:, j]
                    if i == 0:
                        target[:] = part
                    else:
                        np.multiply(target, part, out=target)
                col += 1
    if col != p:  # pragma: no cover - patsy's DesignInfo is consistent
        raise EstimationError(f"model matrix: built {col} columns, expected {p}")
    return out


def _combinations(widths: list[int]) -> list[tuple[int, ...]]:
    """All column-index tuples of a subterm, the first factor varying fastest."""
    if not widths:
        return [()]
    grid = np.indices(widths[::-1]).reshape(len(widths), -1).T[:, ::-1]
    return [tuple(int(i) for i in row) for row in grid]


# ----------------------------------------------------------------------------
# R spellings
# ----------------------------------------------------------------------------
def factor(x: Any, levels: Any = None) -> Any:
    """R's ``factor(x)``: ``x`` as a categorical variable, as ``C(x)``.

    The levels are the sorted distinct values (a categorical column keeps
    its categories' order), the first the reference, as R's; ``levels=[...]``
    orders them as R's ``factor(x, levels = c(...))``.
    """
    from patsy.builtins import C

    return C(x, levels=levels)


def relevel(x: Any, ref: Any) -> Any:
    """R's ``relevel(x, ref)``: ``x`` categorical with ``ref`` the reference
    level, as ``C(x, Treatment(ref))``."""
    from patsy.builtins import C, Treatment

    return C(x, Treatment(reference=ref))


def log(x: Any, base: float | None = None) -> Any:
    """R's ``log(x, base = exp(1))``: the natural logarithm, or to ``base``."""
    return np.log(x) if base is None else np.log(x) / np.log(base)


def log2(x: Any) -> Any:
    """R's ``log2(x)``."""
    return np.log2(x)


def log10(x: Any) -> Any:
    """R's ``log10(x)``."""
    return np.log10(x)


def log1p(x: Any) -> Any:
    """R's ``log1p(x)``: ``log(1 + x)``."""
    return np.log1p(x)


def exp(x: Any) -> Any:
    """R's ``exp(x)``."""
    return np.exp(x)


def expm1(x: Any) -> Any:
    """R's ``expm1(x)``: ``exp(x) - 1``."""
    return np.expm1(x)


def sqrt(x: Any) -> Any:
    """R's ``sqrt(x)``."""
    return np.sqrt(x)


#: The R functions a formula may use with R's meaning (after the caller's own
#: names and before patsy's): ``factor(x)`` is ``C(x)``, ``relevel(x, "b")`` is
#: ``C(x, Treatment("b"))``, ``log(x)`` is ``np.log(x)`` (``log(x, 10)`` the
#: logarithm to base 10), and so on.
R_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "factor": factor, "relevel": relevel, "log": log, "log2": log2, "log10": log10,
    "log1p": log1p, "exp": exp, "expm1": expm1, "sqrt": sqrt,
}

# R spellings that are not Python, and what to write instead
_R_HINTS = [
    (re.compile(r"\bas\.factor\s*\("), "as.factor(x) is R: write C(x) (or factor(x))"),
    (re.compile(r"\bas\.(numeric|integer|double)\s*\("),
     "as.numeric(x) is R: a numeric column enters a formula as it is, write x"),
    (re.compile(r"\bas\.\w+\s*\("),
     "R's as.*() conversions are not Python: convert the column first "
     "(design.with_columns(...)) or use C(x) for a categorical variable"),
    (re.compile(r"\bpoly\s*\("),
     "poly(x, 2) is R: write x + I(x**2) (raw powers) or bs(x, df=3) (a B-spline)"),
    (re.compile(r"\bns\s*\("),
     "ns(x, df) is R: write cr(x, df=4) (a natural cubic regression spline) or "
     "bs(x, df=4)"),
    (re.compile(r"\bifelse\s*\("), "ifelse(cond, a, b) is R: write np.where(cond, a, b)"),
    (re.compile(r"(?:~|\+)\s*\.\s*(?:$|[+\-])"),
     "R's '.' (all other columns) is not supported: name the columns"),
    (re.compile(r"\b(?:TRUE|FALSE)\b"), "TRUE and FALSE are R: write True and False"),
    (re.compile(r"(?<![\w.])c\s*\("), "c(...) is R: write a Python list, ['b', 'a']"),
    (re.compile(r"\^"), "R's ^ is ** here: (a + b)**2 for the interactions up to order 2, "
                        "I(x**2) for a power"),
]


def _r_hint(formula: str) -> str:
    """``"; <what to write instead>"`` for the first R spelling in ``formula``."""
    for pattern, hint in _R_HINTS:
        if pattern.search(formula):
            return f"; {hint}"
    return ""


def _check_python_spelling(formula: str, termlists: list) -> None:
    """``^`` in a variable's code is Python's exclusive or, never a power:
    ``I(x^2)`` would silently give ``x XOR 2`` on integers."""
    for termlist in termlists:
        for term in termlist:
            for factor_ in term.factors:
                code = getattr(factor_, "code", "")
                if "^" in code and any(
                        tok.type == tokenize.OP and tok.string in ("^", "^=")
                        for tok in tokenize.generate_tokens(io.StringIO(code).readline)):
                    raise EstimationError(
                        f"formula {formula!r}: in {code!r}, ^ is Python's exclusive or, not "
                        f"a power as in R; write ** (I(x**2)), or np.logical_xor(a, b) for "
                        f"an exclusive or")


def _code_names(code: str) -> list[str]:
    """The names a variable's Python code reads (``np``, ``C``, ``x`` of
    ``np.log(x)``; not attribute names such as ``log``)."""
    names: list[str] = []
    previous = ""
    for tok in tokenize.generate_tokens(io.StringIO(code).readline):
        if tok.type == tokenize.NAME and previous != "." and tok.string not in names:
            names.append(tok.string)
        previous = tok.string
    return names


# ----------------------------------------------------------------------------
# pickling: patsy's DesignInfo as plain data, and back
# ----------------------------------------------------------------------------
def _rebuild_spec(formula: str, column_names: list[str], term_columns: dict[str, slice],
                  missing: dict[str, int], design_info: dict | None,
                  response_info: dict | None) -> ModelSpec:
    """A :class:`ModelSpec` from what ``ModelSpec.__reduce__`` stored."""
    return ModelSpec(formula=formula, column_names=column_names, term_columns=term_columns,
                     _design_info=_decode_info(design_info),
                     _response_info=_decode_info(response_info), missing=missing)


def _encode_info(info: Any, *, for_pickle: bool = True) -> dict | None:
    """patsy's ``DesignInfo`` as plain, picklable data (factors by position);
    ``for_pickle=False`` (to compare) lets functions pickle cannot find pass."""
    if info is None:
        return None
    factors = list(info.factor_infos)
    position = {f: i for i, f in enumerate(factors)}
    encoded_factors = []
    for f, finfo in info.factor_infos.items():  # over the formula's variables
        code = getattr(f, "code", None)
        if not isinstance(code, str):  # pragma: no cover - patsy's parser makes EvalFactors
            raise TypeError(f"cannot pickle a model whose variable {f!r} is not an "
                            f"expression of the formula")
        encoded_factors.append({
            "code": code, "type": finfo.type,
            "state": _encode_state(code, finfo.state, for_pickle),
            "num_columns": finfo.num_columns,
            "categories": None if finfo.categories is None else tuple(finfo.categories)})
    terms = []
    for term, subterms in info.term_codings.items():  # over the terms
        terms.append((
            [position[f] for f in term.factors],
            [([position[f] for f in sub.factors],
              {position[f]: (np.asarray(cm.matrix), list(cm.column_suffixes))
               for f, cm in sub.contrast_matrices.items()},
              sub.num_columns)
             for sub in subterms]))
    return {"column_names": list(info.column_names), "factors": encoded_factors,
            "terms": terms}


def _decode_info(data: dict | None) -> Any:
    """patsy's ``DesignInfo`` from :func:`_encode_info`'s data."""
    if data is None:
        return None
    import patsy

    factors = [patsy.EvalFactor(f["code"]) for f in data["factors"]]
    factor_infos = {
        factor: patsy.FactorInfo(factor, f["type"], _decode_state(f["state"]),
                                 num_columns=f["num_columns"], categories=f["categories"])
        for factor, f in zip(factors, data["factors"], strict=True)}
    term_codings = OrderedDict()  # patsy asks for one
    for term_factors, subterms in data["terms"]:  # over the terms
        term = patsy.Term([factors[i] for i in term_factors])
        term_codings[term] = [
            patsy.SubtermInfo([factors[i] for i in sub_factors],
                              {factors[i]: patsy.ContrastMatrix(matrix, suffixes)
                               for i, (matrix, suffixes) in contrasts.items()},
                              num_columns)
            for sub_factors, contrasts, num_columns in subterms]
    return patsy.DesignInfo(data["column_names"], factor_infos=factor_infos,
                            term_codings=term_codings)


def _encode_state(code: str, state: Any, for_pickle: bool) -> Any:
    """A variable's memorised state: its environment by name (modules and
    patsy's builtins) or value, its stateful transforms by class and fields."""
    if not (isinstance(state, dict) and "eval_env" in state):  # pragma: no cover
        return state
    env = state["eval_env"]
    namespace = env.namespace
    names = {n: _encode_value(n, namespace[n], for_pickle) for n in _code_names(code)
             if n in namespace}
    transforms = {name: (type(obj), dict(vars(obj)))
                  for name, obj in state["transforms"].items()}
    return {**{k: v for k, v in state.items() if k not in ("eval_env", "transforms")},
            "eval_env": (names, env.flags), "transforms": transforms}


def _decode_state(data: Any) -> Any:
    if not (isinstance(data, dict) and "eval_env" in data):  # pragma: no cover
        return data
    import patsy

    names, flags = data["eval_env"]
    transforms = {}
    for name, (cls, fields) in data["transforms"].items():
        obj = cls.__new__(cls)
        obj.__dict__.update(fields)
        transforms[name] = obj
    env = patsy.EvalEnvironment([{n: _decode_value(v) for n, v in names.items()}], flags)
    return {**data, "eval_env": env, "transforms": transforms}


def _encode_value(name: str, value: Any, for_pickle: bool) -> tuple[str, Any]:
    """Modules by their name, patsy's builtins (whose stateful transforms do
    not pickle by reference) by theirs, anything else as itself."""
    import patsy.builtins

    if isinstance(value, ModuleType):
        return ("module", value.__name__)
    if getattr(patsy.builtins, name, None) is value:
        return ("patsy", name)
    if for_pickle and "<" in getattr(value, "__qualname__", ""):  # <lambda>, <locals>
        return ("local", _Local(name, value))
    return ("value", value)


class _Local:
    """A lambda or local function a formula calls: copies keep it, pickling
    says why it cannot (pickle finds functions by name)."""

    def __init__(self, name: str, value: Any) -> None:
        self.name = name
        self.value = value

    def __reduce__(self) -> tuple:
        raise pickle.PicklingError(
            f"cannot pickle the model: its formula calls {self.name!r}, a lambda or a "
            f"function defined inside another, which pickle cannot find by name; define "
            f"it at the top level of a module")

    def __copy__(self) -> _Local:
        return self

    def __deepcopy__(self, memo: dict) -> _Local:
        return self


def _decode_value(data: tuple[str, Any]) -> Any:
    kind, value = data
    if kind == "local":
        return value.value
    if kind == "module":
        return importlib.import_module(value)
    if kind == "patsy":
        import patsy.builtins

        return getattr(patsy.builtins, value)
    return value


def _comparable(data: Any) -> Any:
    """Encoded data with arrays as their bytes (NaN equal to NaN), so that
    ``==`` compares values."""
    if isinstance(data, np.ndarray):
        if data.dtype == object:
            return ("array", data.shape, _comparable(data.tolist()))
        return ("array", data.dtype.str, data.shape, data.tobytes())
    if isinstance(data, dict):
        return {k: _comparable(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return type(data)(_comparable(v) for v in data)
    return data


def same_term(a: str, b: str) -> bool:
    """Whether ``b`` names the formula term ``a``: the same factors of an
    interaction in any order, spaces ignored, or ``b`` the variable of a
    categorical term ``a = "C(b[, ...])"``."""
    def canon(t: str) -> str:
        return ":".join(sorted(p.replace(" ", "") for p in t.split(":")))
    if canon(a) == canon(b):
        return True
    return a.startswith("C(") and a[2:].split(",")[0].rstrip(")").strip() == b.strip()
