"""The DuckDB engine: grouped sums in SQL, straight from Parquet files or a query.

The statistics of :class:`~innobaro.engines.sums.SumsSpec` are computed by one
``SELECT ... GROUP BY`` per estimate, so the rows are read by DuckDB (from the
files, in parallel, in bounded memory) and only the cells reach Python.
``duckdb`` is imported when such a design is built, never by ``import innobaro``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import pandas as pd

from ..errors import EngineError
from .sums import COMPLETE, NPOS, SW, WBAD, WMISS, N, SumsSpec

__all__ = ["DuckDBSource", "build_sql", "check_schemas", "parquet_source", "query_source",
           "run_query"]

T = TypeVar("T")

_VIEW = "__ib_src"
_NUMERIC = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
            "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL"}


def _import_duckdb() -> Any:
    try:
        import duckdb
    except ImportError as exc:  # pragma: no cover - the extra is installed in CI
        raise ImportError("a DuckDB design needs duckdb: pip install 'innobaro[duckdb]'"
                          ) from exc
    return duckdb


def run_query(fetch: Callable[[], T], what: str) -> T:
    """Run ``fetch`` (a DuckDB query's fetch), naming what ran out of memory.

    Parameters
    ----------
    fetch : callable
        Runs the query and returns its result.
    what : str
        The estimate, for the message.

    Returns
    -------
    The result of ``fetch``.

    Raises
    ------
    EngineError
        When DuckDB runs out of memory (a result or a row too wide for its
        ``memory_limit``), naming the remedies; other errors pass unchanged.
    """
    try:
        return fetch()
    except MemoryError as exc:
        raise EngineError(_memory_message(what, exc)) from exc
    except Exception as exc:
        if type(exc).__name__ != "OutOfMemoryException":
            raise
        raise EngineError(_memory_message(what, exc)) from exc


def _memory_message(what: str, exc: BaseException) -> str:
    first = (str(exc).splitlines() or [""])[0]
    return (f"{what}: DuckDB ran out of memory ({type(exc).__name__}: {first}); the rows "
            f"or the result are too wide for its memory_limit. Read fewer columns, give "
            f"DuckDB a temp_directory to spill to and a larger memory_limit "
            f"(SET memory_limit = '...'), or fewer domains at once")


def _q(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + str(name).replace('"', '""') + '"'


def _num(name: str) -> str:
    return f"CAST({_q(name)} AS DOUBLE)"


def _missing(expr: str) -> str:
    """NULL or NaN (``isnan`` is NULL on NULL)."""
    return f"coalesce(isnan({expr}), TRUE)"


def build_sql(spec: SumsSpec) -> str:
    """The query computing the grouped sums of ``spec`` over the view ``__ib_src``.

    Parameters
    ----------
    spec : SumsSpec

    Returns
    -------
    str
        ``SELECT <group columns>, <statistics> FROM __ib_src GROUP BY ALL``,
        with the columns of :attr:`SumsSpec.columns`. Sums skip NULLs; a NaN
        value only reaches the sums of a cell of incomplete rows (or of a
        missing weight, which is an error), so no ``CASE`` is needed per row.
    """
    if spec.weights is not None:
        w = _num(spec.weights)
        bad = f"count_if({w} < 0 OR isinf({w}))"
    elif spec.probs is not None:
        p = _num(spec.probs)
        w = f"(1.0 / {p})"
        bad = f"count_if({p} <= 0 OR {p} > 1)"
    else:
        w = "1.0"
        bad = "0"
    vals = [_num(v) for v in spec.variables]
    present = [f"NOT {_missing(v)}" for v in vals]
    if spec.level:
        present.append(f"{_q(spec.level)} IS NOT NULL")
    complete = " AND ".join(present) or "TRUE"
    sel = [_q(c) for c in spec.key_columns]
    sel.append(f"({complete}) AS {_q(COMPLETE)}")
    sel += [f"count(*) AS {_q(N)}", f"count_if({w} > 0) AS {_q(NPOS)}",
            f"count(*) - count({w}) AS {_q(WMISS)}", f"{bad} AS {_q(WBAD)}",
            f"sum({w}) AS {_q(SW)}"]
    sel += [f"sum({w} * {v}) AS {_q(spec.total(j))}" for j, v in enumerate(vals)]
    sel += [f"sum({w} * {vals[j]} * {vals[k]}) AS {_q(spec.cross(j, k))}"
            for j, k in spec.pairs]
    if spec.count_missing:
        sel += [f"count_if({_missing(v)}) AS {_q(spec.missing(j))}" for j, v in enumerate(vals)]
        if spec.level:
            sel.append(f"count_if({_q(spec.level)} IS NULL) AS {_q(spec.level_missing)}")
    if spec.binary:
        sel += [f"count_if(NOT {_missing(v)} AND {v} <> 0 AND {v} <> 1) "
                f"AS {_q(spec.nonbinary(j))}" for j, v in enumerate(vals)]
    return f"SELECT {', '.join(sel)} FROM {_VIEW} GROUP BY ALL"


class DuckDBSource:
    """Rows held by DuckDB: a relation (of Parquet files, a table or a query).

    Parameters
    ----------
    relation : duckdb.DuckDBPyRelation
        Re-read on every pass (it is lazy), so nothing is held in memory.
    connection : duckdb.DuckDBPyConnection, optional
        The relation's connection, kept open as long as the source (older
        DuckDB closes a connection nobody refers to, and its relations with it).
    """

    engine = "duckdb"

    def __init__(self, relation: Any, connection: Any = None) -> None:
        self.relation = relation
        self.connection = connection

    def columns(self) -> list[str]:
        """The relation's column names."""
        return [str(c) for c in self.relation.columns]

    def numeric(self, name: str) -> bool:
        """Whether a column is numeric or boolean."""
        typ = str(self.relation.types[self.columns().index(name)]).upper()
        return typ == "BOOLEAN" or typ.split("(")[0] in _NUMERIC

    def sums(self, spec: SumsSpec) -> pd.DataFrame:
        """One ``GROUP BY`` pass over the rows."""
        out = run_query(lambda: self.relation.query(_VIEW, build_sql(spec)).df(), "sums")
        floats = {SW, *(spec.total(j) for j in range(len(spec.variables))),
                  *(spec.cross(j, k) for j, k in spec.pairs)}
        for c in spec.sum_columns:  # counts of an empty sum are NULL in SQL
            out[c] = out[c].astype(float) if c in floats else out[c].fillna(0).astype("int64")
        out[COMPLETE] = out[COMPLETE].astype(bool)
        return out[spec.columns]


def check_schemas(connection: Any, files: list[str]) -> None:
    """Raise :class:`~innobaro.errors.EngineError` unless every file has the same
    columns with the same types.

    Parameters
    ----------
    connection : duckdb.DuckDBPyConnection
    files : list of str
    """
    if len(files) < 2:
        return
    rows = connection.execute(
        "SELECT file_name, name, type, converted_type FROM parquet_schema(?) "
        "WHERE num_children IS NULL OR num_children = 0", [files]).fetchall()
    per_file: dict[str, dict[str, tuple[Any, Any]]] = {}
    for file, name, typ, conv in rows:
        per_file.setdefault(file, {})[name] = (typ, conv)
    first = files[0]
    ref = per_file.get(first, {})
    for f in files[1:]:
        cols = per_file.get(f, {})
        for name in sorted(set(ref) | set(cols)):
            if name not in cols or name not in ref:
                where, other = (f, first) if name not in cols else (first, f)
                raise EngineError(f"Parquet files disagree in schema: column {name!r} is in "
                                  f"{other!r} but not in {where!r}")
            if cols[name] != ref[name]:
                raise EngineError(f"Parquet files disagree in schema: column {name!r} is "
                                  f"{'/'.join(map(str, ref[name]))} in {first!r} but "
                                  f"{'/'.join(map(str, cols[name]))} in {f!r}")


def parquet_source(paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], *,
                   connection: Any = None) -> DuckDBSource:
    """A DuckDB source reading Parquet files (paths, globs or directories of files).

    Parameters
    ----------
    paths : str, path, or list of them
    connection : duckdb.DuckDBPyConnection, optional

    Returns
    -------
    DuckDBSource
    """
    duckdb = _import_duckdb()
    con = connection if connection is not None else duckdb.connect()
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    names: list[str] = []
    for p in items:
        p = os.fspath(p)
        names.append(os.path.join(p, "**", "*.parquet") if os.path.isdir(p) else p)
    files = [r[0] for r in con.execute("SELECT file FROM glob(?)", [names]).fetchall()] \
        if names else []
    if not files:
        raise EngineError(f"no Parquet files at {', '.join(map(repr, names))}")
    check_schemas(con, files)
    return DuckDBSource(con.read_parquet(files), con)


def query_source(source: Any, *, connection: Any = None) -> DuckDBSource:
    """A DuckDB source from a relation, a table or view name, or a ``SELECT`` query.

    Parameters
    ----------
    source : duckdb.DuckDBPyRelation or str
    connection : duckdb.DuckDBPyConnection, optional
        The connection a name or query refers to (default: DuckDB's default
        connection).

    Returns
    -------
    DuckDBSource
    """
    duckdb = _import_duckdb()
    if isinstance(source, duckdb.DuckDBPyRelation):
        return DuckDBSource(source)
    if not isinstance(source, str):
        raise TypeError(f"source must be a DuckDB relation or a SQL query or table name, "
                        f"not {type(source).__name__}")
    con = connection if connection is not None else duckdb  # the default connection
    text = source.strip()
    if text.split(None, 1)[0].upper() in ("SELECT", "WITH", "FROM", "VALUES", "("):
        return DuckDBSource(con.sql(text), con)
    return DuckDBSource(con.table(text), con)
