"""Data frames of any library in: pandas as given, the rest through narwhals.

A pandas DataFrame is used as it is (the design keeps a shallow copy). Any
other eager frame that `narwhals <https://narwhals-dev.github.io/narwhals/>`_
supports (polars, pyarrow Tables and RecordBatches, modin, cuDF, ...) is kept
as the user's object inside a :class:`FrameView`, which converts a column to
a pandas Series the first time an estimator, a formula or a weighting step
asks for it, once per design and its derived designs. So a design on a wide
frame converts only the columns the analysis uses, and the user's frame is
never copied whole nor changed.

Each column becomes what pandas itself would hold for the same data, so the
estimates agree exactly with those on the pandas frame:

- numbers keep their dtype; an integer column with nulls becomes float64 with
  NaN (as in pandas); decimals become float64;
- booleans stay booleans; with nulls they become pandas' nullable
  ``boolean`` (missing stays missing);
- strings become pandas strings (object, or ``str`` on pandas 3), nulls
  missing;
- a polars ``Enum`` becomes a pandas categorical with the Enum's categories
  in their order (unused ones included); a polars ``Categorical`` with its
  categories in the order polars sorts them (lexical; the physical order on
  polars versions whose Categorical is ordered physically); an Arrow
  dictionary column as pyarrow converts it (the dictionary's order);
- dates and times become datetime64; anything else object.

narwhals is imported only when a frame that is not pandas comes in, so
``import innobaro`` loads neither narwhals nor polars nor pyarrow.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .errors import DesignError

__all__ = ["ACCEPTED", "FrameView", "as_frame", "as_series", "pandas_if_frame"]

#: What an entry point that takes a data frame accepts, for error messages.
ACCEPTED = ("a pandas DataFrame, a polars DataFrame, a pyarrow Table or RecordBatch, "
            "or another eager data frame that narwhals supports")


def _narwhals() -> Any:
    import narwhals.stable.v2 as nw

    return nw


def _record_batch_as_table(data: Any) -> Any:
    """A pyarrow RecordBatch as a Table (zero copy); anything else as given."""
    pa = sys.modules.get("pyarrow")
    if pa is not None and isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    return data


def _kind(native: Any) -> str:
    """The library and class of a native object, e.g. ``polars DataFrame``."""
    module = type(native).__module__.partition(".")[0]
    return f"{module} {type(native).__name__}"


def as_frame(data: Any, what: str = "data") -> Any:
    """A pandas DataFrame as given, or a :class:`FrameView` of another eager frame.

    Parameters
    ----------
    data : object
        The user's data frame.
    what : str, default "data"
        The argument's name, for error messages.

    Returns
    -------
    pandas.DataFrame or FrameView
        ``data`` itself when it is a pandas DataFrame, else a view of it.

    Raises
    ------
    DesignError
        When ``data`` is not a data frame, is a lazy frame, or has
        duplicated column names.
    """
    if isinstance(data, (pd.DataFrame, FrameView)):
        return data
    if data is None or isinstance(data, (str, bytes, int, float, Mapping, list, tuple,
                                         np.ndarray, pd.Series)):
        raise _not_a_frame(data, what)
    native = _record_batch_as_table(data)
    names = getattr(native, "column_names", None)  # pyarrow allows duplicated names
    if isinstance(names, list):
        _check_unique(names, what)
    nw = _narwhals()
    try:
        frame = nw.from_native(native, eager_only=True)
    except ValueError as exc:  # e.g. a version of the library narwhals does not read
        raise DesignError(f"{what} ({_kind(data)}) cannot be read: {exc}") from None
    except TypeError:
        try:
            lazy = nw.from_native(native)
        except TypeError:
            raise _not_a_frame(data, what) from None
        if isinstance(lazy, nw.LazyFrame):
            raise DesignError(
                f"{what} is a lazy frame ({_kind(data)}): innobaro needs the rows in memory. "
                f"Collect it first, e.g. {what}.collect(), or "
                f"{what}.select([...]).collect() to keep only the columns the analysis "
                f"uses") from None
        raise _not_a_frame(data, what) from None
    columns = list(frame.columns)
    _check_unique(columns, what)
    return FrameView(native, columns=columns, n_rows=len(frame), kind=_kind(data),
                     source=data)


def _not_a_frame(data: Any, what: str) -> DesignError:
    hint = ""
    if isinstance(data, Mapping):
        hint = f"; for a dict of columns, pass pandas.DataFrame({what})"
    elif isinstance(data, pd.Series):
        hint = f"; for one column, pass {what}.to_frame()"
    return DesignError(f"{what} must be a data frame ({ACCEPTED}); got "
                       f"{type(data).__module__.partition('.')[0]}."
                       f"{type(data).__name__}{hint}".replace("builtins.", ""))


def _check_unique(names: Sequence[Any], what: str) -> None:
    counts = Counter(names)
    dup = [c for c in names if counts[c] > 1]
    if dup:
        raise DesignError(f"the {what} have duplicated column names: "
                          f"{', '.join(repr(str(c)) for c in dict.fromkeys(dup))}; "
                          f"rename them")


def as_series(values: Any, index: pd.Index) -> Any:
    """A series of another library as a pandas Series on ``index`` (by position).

    pandas Series, numpy arrays, lists and scalars are returned as given.

    Parameters
    ----------
    values : object
        The values (a polars or pyarrow series, or anything else).
    index : pandas.Index
        The index of the result, one label per value.

    Returns
    -------
    object
        A pandas Series for a series of another library, else ``values``.
    """
    if isinstance(values, (pd.Series, pd.Index, np.ndarray, list, tuple, str, bytes,
                           int, float, bool, np.generic)) or values is None:
        return values
    module = type(values).__module__.partition(".")[0]
    if module in ("builtins", "pandas", "numpy"):
        return values
    nw = _narwhals()
    try:
        series = nw.from_native(values, series_only=True)
    except TypeError:
        return values
    out = _to_pandas(series, getattr(values, "name", None) or None)
    if len(out) != len(index):
        return out.to_numpy()  # the caller reports the length
    return out.set_axis(index)


def _to_pandas(series: Any, name: Any) -> pd.Series:
    """One narwhals Series as the pandas Series pandas would hold (RangeIndex)."""
    nw = _narwhals()
    dtype = series.dtype
    n = len(series)
    index = pd.RangeIndex(n)
    if isinstance(dtype, nw.Enum):
        cats = list(dtype.categories)
        codes = _enum_codes(nw.to_native(series), len(cats))
        if codes is not None:  # polars: an Enum's codes are the positions of its categories
            values = pd.Categorical.from_codes(codes, categories=cats)
        else:
            values = pd.Categorical(series.cast(nw.String).to_numpy(), categories=cats)
        return pd.Series(values, index=index, name=name)
    if isinstance(dtype, nw.Categorical):
        native = nw.to_native(series)
        if type(native).__module__.startswith("pyarrow"):
            out = native.to_pandas()  # the dictionary's order, as pandas reads Arrow
            if isinstance(out.dtype, pd.CategoricalDtype):
                return out.set_axis(index).rename(name)
        values = series.cast(nw.String).to_numpy()
        if getattr(getattr(native, "dtype", None), "ordering", None) == "physical":
            cats = list(series.cat.get_categories().to_list())  # older polars
        else:
            cats = sorted(v for v in series.cast(nw.String).unique().to_list()
                          if v is not None)
        return pd.Series(pd.Categorical(values, categories=cats), index=index, name=name)
    if dtype == nw.Boolean:
        values = series.to_numpy()
        if series.null_count():
            return pd.Series(pd.array(values, dtype="boolean"), index=index, name=name)
        return pd.Series(np.asarray(values, dtype=bool), index=index, name=name, copy=False)
    if dtype == nw.String:
        arrow = _arrow_array(nw.to_native(series))
        if arrow is not None:  # as pandas reads Arrow strings (pandas 3: without a copy)
            out = arrow.to_pandas()
            out.name = name
            return out
        return pd.Series(series.to_numpy(), index=index, name=name)  # pandas' inference
    if dtype == nw.Decimal:
        series = series.cast(nw.Float64)
    return pd.Series(series.to_numpy(), index=index, name=name, copy=False)


def _enum_codes(native: Any, n_categories: int) -> np.ndarray | None:
    """The codes of a polars Enum series (-1 for null), or None for other series."""
    pl = sys.modules.get("polars")
    if pl is None or not isinstance(native, pl.Series):
        return None
    codes = native.to_physical().cast(pl.Int64).fill_null(-1).to_numpy()
    if codes.size and (codes.min() < -1 or codes.max() >= n_categories):
        return None
    return np.asarray(codes, dtype=np.int64)


def _arrow_array(native: Any) -> Any:
    """A pyarrow or polars series as an Arrow array (None for other libraries, or
    for polars without pyarrow installed)."""
    module = type(native).__module__.partition(".")[0]
    if module == "pyarrow":
        return native
    if module == "polars":
        try:
            import pyarrow  # noqa: F401  polars' to_arrow needs it
        except ImportError:
            return None
        return native.to_arrow()
    return None


class FrameView:
    """A read-only view of a data frame that is not pandas, column by column.

    What :attr:`innobaro.Design.data` is when the design was built from a
    polars, pyarrow or other non-pandas frame: ``view["x"]`` is column ``x``
    as a pandas Series, converted when first asked for and kept for the
    design and every design derived from it; ``view[["x", "y"]]`` is a pandas
    DataFrame of those columns; :meth:`to_pandas` converts the whole frame;
    :attr:`native` is the user's object, never modified.

    Parameters
    ----------
    native : object
        The frame to read the columns from (narwhals reads it; a pyarrow
        RecordBatch as a Table).
    columns : list
        Its column names.
    n_rows : int
        Its number of rows.
    kind : str
        The library and class of the user's object, for display.
    source : object, optional
        The user's object, when it is not ``native`` itself.
    """

    def __init__(self, native: Any, *, columns: list[Any], n_rows: int, kind: str,
                 source: Any = None) -> None:
        self._native = native
        self._source = native if source is None else source
        self._kind = kind
        self._names = pd.Index(columns)
        self._n = int(n_rows)
        self._converted: dict[Any, pd.Series] = {}  # shared by every view of the frame
        self._added: dict[Any, pd.Series] = {}      # with_columns / __setitem__ of a copy
        self._rows: np.ndarray | None = None        # positions, for a view of some rows
        self._writable = False

    # ---------------------------------------------------------------- shape
    @property
    def native(self) -> Any:
        """The user's data frame, as given (never modified)."""
        return self._source

    @property
    def converted_columns(self) -> list[Any]:
        """The columns converted to pandas so far (by this design and those derived from it)."""
        return list(self._converted)

    @property
    def columns(self) -> pd.Index:
        """The column names (the frame's, then the columns added), as a pandas Index."""
        extra = [c for c in self._added if c not in self._names]
        return self._names.append(pd.Index(extra)) if extra else self._names

    @property
    def index(self) -> pd.Index:
        """Row labels: the positions 0..n-1 (of the whole frame, for a view of some rows)."""
        full = pd.RangeIndex(self._n)
        return full if self._rows is None else full[self._rows]

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns)."""
        return (len(self), len(self.columns))

    def __len__(self) -> int:
        return self._n if self._rows is None else int(self._rows.size)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.columns)

    def __contains__(self, name: Any) -> bool:
        return name in self._added or name in self._names

    def keys(self) -> pd.Index:
        """The column names (as :meth:`pandas.DataFrame.keys`).

        Returns
        -------
        pandas.Index
        """
        return self.columns

    def __repr__(self) -> str:
        return (f"FrameView of a {self._kind}: {len(self)} rows, {len(self.columns)} columns "
                f"({', '.join(map(str, self.columns[:8]))}"
                f"{', ...' if len(self.columns) > 8 else ''})")

    # ---------------------------------------------------------------- columns
    def _column(self, name: Any) -> pd.Series:
        if name in self._added:  # held over the rows viewed
            return self._added[name]
        if name not in self._names:
            raise KeyError(name)
        col = self._converted.get(name)
        if col is None:
            nw = _narwhals()
            frame = nw.from_native(self._native, eager_only=True)
            col = self._converted[name] = _to_pandas(frame.get_column(name), name)
        return col if self._rows is None else col.iloc[self._rows]

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, (list, tuple, pd.Index)):
            return pd.DataFrame({k: self._column(k) for k in key}, index=self.index,
                                columns=pd.Index(list(key)))
        return self._column(key)

    def get(self, key: Any, default: Any = None) -> Any:
        """Column ``key`` as a pandas Series, or ``default`` when there is none.

        Parameters
        ----------
        key : str
            Column name.
        default : object, optional
            What to return for an unknown name.

        Returns
        -------
        pandas.Series or object
        """
        return self._column(key) if key in self else default

    def to_pandas(self) -> pd.DataFrame:
        """The whole frame as a pandas DataFrame (every column converted).

        Returns
        -------
        pandas.DataFrame
        """
        return self[list(self.columns)]

    def eval(self, expr: str) -> Any:
        """Evaluate an expression over the columns, as :meth:`pandas.DataFrame.eval`.

        Only the columns whose names occur in ``expr`` are converted.

        Parameters
        ----------
        expr : str
            The expression, e.g. ``"age > 30"``.

        Returns
        -------
        pandas.Series or scalar
        """
        used = [c for c in self.columns if str(c) in expr]
        return self[used].eval(expr)

    # ---------------------------------------------------------------- derived views
    def _copy(self) -> FrameView:
        new = object.__new__(FrameView)
        new.__dict__.update(self.__dict__)
        new._added = dict(self._added)
        return new

    def copy(self, deep: bool = True) -> FrameView:
        """A view that can take new columns (``view["z"] = ...``); the frame is shared.

        Parameters
        ----------
        deep : bool, default True
            Ignored: the user's frame is never changed, so it is never copied.

        Returns
        -------
        FrameView
        """
        new = self._copy()
        new._writable = True
        return new

    def with_columns(self, columns: Mapping[Any, Any]) -> FrameView:
        """A read-only view with columns added or replaced (as pandas assigns them).

        Parameters
        ----------
        columns : mapping
            ``{name: values}``; a Series is aligned on :attr:`index`.

        Returns
        -------
        FrameView
        """
        new = self.copy()
        for name, values in columns.items():
            new[name] = values
        new._writable = False
        return new

    def assign(self, **columns: Any) -> FrameView:
        """A read-only view with columns added or replaced, as :meth:`pandas.DataFrame.assign`.

        Parameters
        ----------
        **columns
            ``name=values``; a callable is called with the view.

        Returns
        -------
        FrameView
        """
        return self.with_columns({name: values(self) if callable(values) else values
                                  for name, values in columns.items()})

    def __setitem__(self, name: Any, values: Any) -> None:
        if not self._writable:
            raise TypeError("the data of a design are read-only: derive a design with "
                            "design.with_columns(...), or take view.copy()")
        holder = pd.DataFrame(index=self.index)
        holder[name] = as_series(values, self.index)  # pandas' alignment and broadcasting
        self._added[name] = holder[name]

    @property
    def loc(self) -> _LabelIndexer:
        """Rows and columns by label, as :attr:`pandas.DataFrame.loc`
        (``view.loc[mask, "x"]``); only the columns selected are converted."""
        return _LabelIndexer(self)

    @property
    def iloc(self) -> _RowIndexer:
        """Rows by position: ``view.iloc[positions]`` is a read-only view of those rows."""
        return _RowIndexer(self)


class _LabelIndexer:
    def __init__(self, view: FrameView) -> None:
        self._view = view

    def __getitem__(self, key: Any) -> Any:
        rows, cols = key if isinstance(key, tuple) else (key, slice(None))
        view = self._view
        if isinstance(cols, slice):
            frame = view[list(view.columns)]
        elif isinstance(cols, (list, tuple, pd.Index, np.ndarray)):
            frame = view[list(cols)]
        else:
            frame = view[[cols]]
        return frame.loc[rows, cols]


class _RowIndexer:
    def __init__(self, view: FrameView) -> None:
        self._view = view

    def __getitem__(self, rows: Any) -> FrameView:
        view = self._view
        here = np.arange(len(view))[rows]
        if np.ndim(here) != 1:
            raise TypeError("FrameView.iloc takes positions of rows (a slice, a list, an "
                            "integer array or a boolean mask)")
        new = view._copy()
        new._rows = here if view._rows is None else view._rows[here]
        new._added = {k: v.iloc[here] for k, v in view._added.items()}
        new._writable = False
        return new


def pandas_if_frame(data: Any, what: str) -> Any:
    """A small frame of another library (a table of totals) as a pandas DataFrame.

    Anything that is not a data frame of another library is returned as given.

    Parameters
    ----------
    data : object
        A polars or pyarrow frame, a pandas DataFrame, a dict, a Series, ...
    what : str
        The argument's name, for error messages.

    Returns
    -------
    object
        ``data`` converted whole to pandas when it is a frame of another
        library, else ``data``.
    """
    if isinstance(data, (pd.DataFrame, pd.Series, Mapping, list, tuple, np.ndarray)) \
            or type(data).__module__.partition(".")[0] in ("builtins", "numpy", "pandas"):
        return data
    if isinstance(data, FrameView):
        return data.to_pandas()
    try:
        return as_frame(data, what).to_pandas()
    except DesignError:
        return data
