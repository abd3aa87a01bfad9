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
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import numpy as np
import pandas as pd

from .errors import EstimationError

__all__ = ["ModelSpec", "model_frame"]


@dataclass(frozen=True)
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
    """

    formula: str
    column_names: list[str]
    term_columns: dict[str, slice]
    _design_info: Any
    _response_info: Any | None
    missing: dict[str, int] = field(default_factory=dict)

    def matrix(self, data: pd.DataFrame) -> np.ndarray:
        """The model matrix for new data, with the encoding of the fit.

        Column-major (n, p); a missing value or a level the fit never saw is
        an error.
        """
        values, na = _evaluate(self._design_info, _Columns(data), for_new_data=True)
        if na.any():
            bad = _missing_counts(self._design_info, values, None)
            raise EstimationError(f"cannot build the model matrix for new data: missing "
                                  f"values in {', '.join(map(repr, bad))}")
        return _assemble(self._design_info, values, None, len(data))

    @property
    def terms(self) -> list[str]:
        return list(self.term_columns)


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
    except (patsy.PatsyError, TypeError, ValueError) as exc:
        raise EstimationError(f"formula {formula!r}: {_first_line(exc)}") from None
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
    is always there as ``np`` (``np.log(x)`` works without importing it), and
    patsy adds its own (``C``, ``center``, ...). Columns of the data come first.
    """
    import patsy

    frame: FrameType | None = sys._getframe(1)
    while frame is not None and \
            str(frame.f_globals.get("__name__", "")).partition(".")[0] == "innobaro":
        frame = frame.f_back
    scopes: list[dict[str, Any]] = [] if frame is None else [frame.f_locals, frame.f_globals]
    return patsy.EvalEnvironment([*scopes, {"np": np}])


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

    def __init__(self, data: pd.DataFrame, *, drop_unused: bool = False) -> None:
        self._data = data
        self._drop_unused = drop_unused
        self._seen: dict[Any, Any] = {}

    def __getitem__(self, key: Any) -> Any:
        if key in self._seen:
            return self._seen[key]
        col = self._data[key]
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

    def __len__(self) -> int:
        return len(self._data.columns)

    @property
    def n_rows(self) -> int:
        return len(self._data)


def _evaluate(info: Any, data: _Columns, *, for_new_data: bool
              ) -> tuple[dict, np.ndarray]:
    """Every factor of ``info`` on ``data``: numerical factors as float
    (n, k) arrays, categorical ones as level codes (n,) with -1 for missing;
    and the rows with a missing value in any factor."""
    n = data.n_rows
    values: dict = {}
    na = np.zeros(n, dtype=bool)
    for factor, finfo in info.factor_infos.items():  # over the formula's variables
        try:
            raw = factor.eval(finfo.state, data)
        except Exception as exc:  # patsy wraps the user's expression errors
            raise EstimationError(f"cannot evaluate {factor.name()!r}: "
                                  f"{_first_line(exc)}") from None
        if finfo.type == "numerical":
            v = _numeric(raw, factor.name(), finfo.num_columns, n)
            miss = np.isnan(v).any(axis=1)
        else:
            v = _codes(raw, finfo.categories, factor.name(), n, for_new_data)
            miss = v < 0
        values[factor] = v
        na |= miss
    return values, na


def _builders(formula: str, termlists: list, columns: _Columns, env: Any) -> list:
    """patsy's encoding (levels, contrasts, stateful transforms) of the
    formula's term lists, learnt from ``columns``."""
    import patsy

    try:
        return patsy.design_matrix_builders(termlists, lambda: iter([columns]), env,
                                            NA_action="drop")
    except (patsy.PatsyError, TypeError, ValueError) as exc:
        raise EstimationError(f"formula {formula!r}: {_first_line(exc)}") from None


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


def _assemble(info: Any, values: dict, rows: np.ndarray | None, n_all: int) -> np.ndarray:
    """The model matrix, column-major, for ``rows`` (all ``n_all`` when None).

    Each column is the product, over the factors of its subterm, of a column
    of the factor's contrast matrix (categorical) or of its values
    (numerical), multiplied in the subterm's factor order as patsy does, so
    the result is identical to patsy's. Columns of a subterm run with the
    left-most factor changing fastest (patsy's and R's order).
    """
    # the number of rows comes from the data, not from the factors' values: an
    # intercept-only formula has none
    n = n_all if rows is None else rows.size
    p = len(info.column_names)
    kind = complex if any(np.iscomplexobj(v) for v in values.values()) else float
    out = np.empty((p, n), dtype=kind).T  # column-major: each column contiguous
    picked: dict = {}

    def factor_rows(factor: Any) -> np.ndarray:
        if factor not in picked:
            v = values[factor]
            picked[factor] = v if rows is None else v[rows]
        return picked[factor]

    col = 0
    for subterms in info.term_codings.values():  # over terms, then their subterms
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
                        part = piece[v]
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
