"""Input checks, kept apart from the mathematics.

Each function either returns clean numpy arrays or raises an
:class:`~innobaro.errors.InnobaroError` subclass whose message names the
column, stratum or domain at fault.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .errors import DesignError, EstimationError, InnobaroError, MissingValueError

__all__ = [
    "as_column_list",
    "check_column_arg",
    "check_columns",
    "check_unique_columns",
    "factorize_columns",
    "numeric_column",
    "plain",
    "values_by_label",
]


def as_column_list(spec: str | Sequence[str] | None, what: str) -> list[str]:
    """Normalise a column name or a list of names to a list (empty for None)."""
    if spec is None:
        return []
    if isinstance(spec, str):
        return [spec]
    try:
        names = list(spec)
    except TypeError:
        raise DesignError(f"{what} must be a column name or a list of column names, "
                          f"not {type(spec).__name__}") from None
    for name in names:
        if not isinstance(name, str):
            raise DesignError(f"{what} must be column names (strings); got {name!r}")
    return names


def check_column_arg(value: Any, what: str) -> None:
    """Raise unless ``value`` is None or one column name."""
    if value is not None and not isinstance(value, str):
        raise DesignError(f"{what} must be the name of a column of the data (a string), not "
                          f"a {type(value).__name__}; add the values to the data as a "
                          f"column and pass its name")


def check_unique_columns(data: pd.DataFrame) -> None:
    """Raise if the data have duplicated column names (a column would be ambiguous)."""
    if data.columns.has_duplicates:
        dup = list(dict.fromkeys(data.columns[data.columns.duplicated()]))
        raise DesignError(f"the data have duplicated column names: "
                          f"{', '.join(repr(str(c)) for c in dup)}; rename them")


def check_columns(data: pd.DataFrame, names: Sequence[str], what: str) -> None:
    """Raise if any of ``names`` is not a column of ``data``."""
    missing = [c for c in names if c not in data.columns]
    if missing:
        listed = ", ".join(repr(c) for c in missing)
        raise DesignError(f"{what}: column {listed} not found in the data "
                          f"(columns are {_preview(data.columns)})")


def _preview(cols: Any, k: int = 8) -> str:
    cols = [str(c) for c in cols]
    head = ", ".join(cols[:k])
    return head + (", ..." if len(cols) > k else "")


def numeric_column(data: pd.DataFrame, name: str, what: str, *,
                   allow_nan: bool = False) -> np.ndarray:
    """Return a column as float64, raising on non-numeric data or (optionally) NaN."""
    col = data[name]
    if isinstance(col.dtype, pd.CategoricalDtype) or not (
        pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)
    ):
        raise DesignError(f"{what} column {name!r} must be numeric, not {col.dtype}")
    values = col.to_numpy(dtype=np.float64, na_value=np.nan)
    if not allow_nan:
        nan = np.isnan(values)
        if nan.any():
            raise MissingValueError(
                f"{what} column {name!r} has {int(nan.sum())} missing value(s) "
                f"(first at row {_row_label(data, int(np.argmax(nan)))})")
    return values


def _row_label(data: pd.DataFrame, pos: int) -> str:
    return _plain(data.index[pos])


def _plain(value: Any) -> str:
    """A value as a user would write it: numpy scalars as plain numbers."""
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value) if isinstance(value, str) else str(value)


def factorize_columns(data: pd.DataFrame, names: Sequence[str], what: str, *,
                      labels: bool = True) -> tuple[np.ndarray, list[np.ndarray]]:
    """Integer codes for the combination of several columns, in sorted order.

    Returns ``codes`` (0..k-1, one per row) and, when ``labels`` is true, one
    array per column holding that column's value for each of the k levels.
    Missing values are an error naming the column.
    """
    n = len(data)
    if not names:
        return np.zeros(n, dtype=np.int64), []
    combined = np.zeros(n, dtype=np.int64)
    level_values: list[np.ndarray] = []
    for name in names:
        col = data[name]
        nmiss = int(col.isna().sum())
        if nmiss:
            raise MissingValueError(f"{what} column {name!r} has {nmiss} missing value(s)")
        codes, uniques = _factorize_sorted(col)
        combined, keys = _compact(combined * len(uniques) + codes)
        if labels:
            prev, this = np.divmod(keys, len(uniques))
            level_values = [v[prev] for v in level_values] + [uniques[this]]
    return combined, level_values


def _factorize_sorted(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes = col.cat.codes.to_numpy().astype(np.int64)
        return codes, np.asarray(col.cat.categories, dtype=object)
    try:
        codes, uniques = pd.factorize(col, sort=True)
    except TypeError:  # mixed, unorderable types
        codes, uniques = pd.factorize(col.astype(str), sort=True)
    return codes.astype(np.int64), np.asarray(uniques, dtype=object)


def _compact(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map arbitrary non-negative int keys to 0..k-1 preserving order."""
    if keys.size == 0:
        return keys, keys
    kmax = int(keys.max())
    if kmax < 4 * keys.size + 1024:
        present = np.zeros(kmax + 1, dtype=bool)
        present[keys] = True
        uniq = np.flatnonzero(present)
        lookup = np.cumsum(present) - 1
        return lookup[keys].astype(np.int64), uniq
    uniq, codes = np.unique(keys, return_inverse=True)
    return codes.astype(np.int64).reshape(-1), uniq


def compact_codes(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Public wrapper of the key compaction (codes, unique keys)."""
    return _compact(np.asarray(keys, dtype=np.int64))


def check_binary(values: np.ndarray, name: str) -> None:
    """Raise unless every non-missing value is 0 or 1."""
    v = values[~np.isnan(values)]
    bad = (v != 0) & (v != 1)
    if bad.any():
        raise EstimationError(
            f"proportion needs a binary (0/1 or boolean) variable; column {name!r} "
            f"has other values, e.g. {_plain(v[bad][0])}. Use mean() for a numeric "
            f"variable or pass a categorical column for the share of each level")


def values_by_label(values: dict[Any, Any] | pd.Series, labels: Sequence[Any], missing: str
                    ) -> np.ndarray:
    """The value of every label in ``labels`` (float), from a dict or Series keyed by label.

    Raises :class:`~innobaro.errors.InnobaroError` ``"<missing> [labels]"``
    naming the labels that have no value.
    """
    s = pd.Series(values)
    absent = [lab for lab in labels if lab not in s.index]
    if absent:
        raise InnobaroError(f"{missing} {absent}")
    return s.reindex(labels).to_numpy(dtype=float)


plain = _plain


def check_iterations(max_iter: Any, tol: Any) -> None:
    """Refuse an iteration limit that is not a positive integer, or a tolerance
    that is not positive (the fitting functions' shared check).

    Parameters
    ----------
    max_iter : object
    tol : object

    Raises
    ------
    EstimationError
        Naming the argument and its value.
    """
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) \
            or max_iter < 1:
        raise EstimationError(f"max_iter must be a positive integer; got {max_iter!r}")
    if not tol > 0:
        raise EstimationError(f"tol must be positive; got {tol!r}")
