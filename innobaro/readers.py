"""Reading survey files as analysts have them: CSV from spreadsheets, SPSS, Stata, Parquet, Excel.

:func:`read_survey` reads one file into a pandas DataFrame ready for
:class:`innobaro.Design`, and can say what it found (:class:`ReadInfo`):

- **CSV** (``.csv``, ``.txt``, ``.tsv``, ``.tab``) as Excel writes it on a
  Norwegian (or German, French, ...) Windows: ``;`` between fields, decimal
  commas (``12,5``), cp1252 or UTF-8 with a byte-order mark, ``æøå`` in
  column names and labels. The encoding, the separator and the decimal mark
  are detected, and each can be given instead.
- **SPSS** ``.sav``/``.zsav`` (needs pyreadstat): value labels become pandas
  Categoricals in the order of their codes, ordered for ordinal variables;
  user-missing values are missing; whole-number variables become integers.
- **Stata** ``.dta`` (pandas): value labels the same way.
- **Parquet** (needs pyarrow) and **Excel** ``.xlsx`` (needs openpyxl).

Column names are kept exactly as the file has them: they are data, never
code (a header such as ``w') + __import__('os')...`` is just a string).

Missing values: empty cells and ``NA`` (also ``NaN`` and ``#N/A``) in CSV
files, empty strings in SPSS, Stata and Excel string columns, SPSS
user-missing values and Stata's ``.a``-``.z``; and the codes the caller names
in ``na_values`` in every column of every format.
"""

from __future__ import annotations

import codecs
import csv
import importlib
import io
import math
import os
import re
from collections.abc import Hashable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np
import pandas as pd

from .errors import InnobaroError

__all__ = ["MissingDependencyError", "ReadInfo", "read_survey"]

#: File suffixes read, by format.
SUFFIXES: dict[str, tuple[str, ...]] = {
    "csv": (".csv", ".txt", ".tsv", ".tab"),
    "parquet": (".parquet", ".pq"),
    "spss": (".sav", ".zsav"),
    "stata": (".dta",),
    "excel": (".xlsx", ".xlsm"),
}

#: Separators :func:`read_survey` considers in a CSV file, in order of preference.
SEPARATORS: tuple[str, ...] = (";", ",", "\t", "|")

#: Cell texts that are missing in a CSV file (after stripping spaces).
MISSING_TEXTS: tuple[str, ...] = ("", "NA", "NaN", "#N/A")

_SAMPLE_CHARS = 65536  # the first 64 KiB of text are enough to see the dialect
_SEP_NAMES = {";": "';'", ",": "','", "\t": "tab", "|": "'|'"}
_SPACES = "\u0020\u00a0\u202f"  # space, no-break space, narrow no-break space
_EXP = r"(?:[eE][+-]?\d+)?"
#: a number with a decimal point, optionally grouped by spaces: 12, -1.5, 1 234.5, 1e-3
_DOT = re.compile(rf"[+-]?(?:(?:\d{{1,3}}(?:[{_SPACES}]\d{{3}})+|\d+)(?:\.\d*)?|\.\d+){_EXP}")
#: a number with a decimal comma, optionally grouped by spaces or points: 12,5, 1.234,5
_COMMA = re.compile(rf"[+-]?(?:(?:\d{{1,3}}(?:[{_SPACES}.]\d{{3}})+|\d+)(?:,\d*)?|,\d+){_EXP}")
_GROUPED = re.compile(rf"\d[{_SPACES}.]\d{{3}}")
_LEADING_ZERO = re.compile(r"[+-]?0\d")
_LONG_INTEGER = re.compile(r"[+-]?\d{16,}$")  # identifiers beyond float64's exact integers


class MissingDependencyError(InnobaroError, ImportError):
    """Reading this kind of file needs an optional package that is not installed.

    The message names the ``pip install`` command. The error is both an
    :class:`~innobaro.InnobaroError` and an :class:`ImportError`.
    """


@dataclass(frozen=True)
class ReadInfo:
    """What :func:`read_survey` read, detected and changed.

    Returned by ``read_survey(..., info=True)`` next to the data; every field
    is plain Python (strings, numbers, lists, dicts with string keys), and
    :meth:`to_dict` gives them as one JSON-ready dict.

    Attributes
    ----------
    path : str
        The file read.
    format : str
        ``"csv"``, ``"parquet"``, ``"spss"``, ``"stata"`` or ``"excel"``.
    rows, columns : int
        The size of the data read.
    encoding : str or None
        The text encoding (CSV, and SPSS when given): ``"utf-8"``,
        ``"utf-8-sig"`` (UTF-8 with a byte-order mark), ``"utf-16"``,
        ``"cp1252"``, or the one given.
    sep, decimal : str or None
        CSV only: the separator between fields and the decimal mark
        (``","`` when some column was read with decimal commas).
    detected : list of str
        The settings among ``encoding``, ``sep`` and ``decimal`` that were
        detected rather than given.
    notes : list of str
        Sentences on what was guessed or changed (an encoding that is not
        UTF-8, thousands separators removed, columns kept as text because of
        leading zeros, unlabelled codes, dropped empty columns, ...).
    na_values : list
        The missing-value codes asked for, as given.
    na_counts : dict
        ``{column: {code: cells}}``: how many cells each code made missing in
        each column (columns and codes without any are left out).
    user_missing : dict
        SPSS: ``{column: cells}`` made missing because their value is
        declared user-missing in the file.
    value_labels : dict
        ``{column: {code: label}}`` of the labelled columns turned into
        Categoricals (codes as text: ``"1"``, not ``"1.0"``), in code order.
    ordinal : list of str
        The labelled columns whose Categorical is ordered (SPSS measure
        *ordinal*).
    whole_numbers : list of str
        Float columns with missing values whose other values are all whole
        numbers: print them as integers (``"1"``, not ``"1.0"``). Whole-number
        columns without missing values are already ``int64``.
    sheet : str or None
        Excel: the name of the sheet read.
    """

    path: str
    format: str
    rows: int
    columns: int
    encoding: str | None = None
    sep: str | None = None
    decimal: str | None = None
    detected: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    na_values: list[Any] = field(default_factory=list)
    na_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    user_missing: dict[str, int] = field(default_factory=dict)
    value_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    ordinal: list[str] = field(default_factory=list)
    whole_numbers: list[str] = field(default_factory=list)
    sheet: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The fields as one dict that :func:`json.dumps` accepts.

        Returns
        -------
        dict
            ``{field name: value}`` in the order of the Attributes above.

        Examples
        --------
        >>> from innobaro.readers import ReadInfo
        >>> ReadInfo(path="svar.csv", format="csv", rows=2, columns=3).to_dict()["rows"]
        2
        """
        return asdict(self)


class _Collector:
    """The mutable side of a read: what becomes the ReadInfo's dicts and notes."""

    def __init__(self, codes: list[_Code]) -> None:
        self.codes = codes
        self.notes: list[str] = []
        self.na_counts: dict[str, dict[str, int]] = {}
        self.user_missing: dict[str, int] = {}
        self.value_labels: dict[str, dict[str, str]] = {}
        self.ordinal: list[str] = []

    def count(self, column: Hashable, code: _Code, cells: int) -> None:
        if cells:
            per = self.na_counts.setdefault(str(column), {})
            per[code.key] = per.get(code.key, 0) + cells


@dataclass(frozen=True)
class _Code:
    """A missing-value code: its text, and its number when it has one."""

    key: str
    text: str
    number: float | None


# ---------------------------------------------------------------------------
# the entry point
# ---------------------------------------------------------------------------
@overload
def read_survey(path: str | os.PathLike[str], *, sep: str | None = ...,
                decimal: str | None = ..., encoding: str | None = ...,
                na_values: Iterable[Any] | str | float = ..., sheet: str | int | None = ...,
                info: Literal[False] = ...) -> pd.DataFrame: ...


@overload
def read_survey(path: str | os.PathLike[str], *, sep: str | None = ...,
                decimal: str | None = ..., encoding: str | None = ...,
                na_values: Iterable[Any] | str | float = ..., sheet: str | int | None = ...,
                info: Literal[True]) -> tuple[pd.DataFrame, ReadInfo]: ...


def read_survey(path: str | os.PathLike[str], *, sep: str | None = None,
                decimal: str | None = None, encoding: str | None = None,
                na_values: Iterable[Any] | str | float = (), sheet: str | int | None = None,
                info: bool = False) -> pd.DataFrame | tuple[pd.DataFrame, ReadInfo]:
    """Read a survey file (CSV, SPSS, Stata, Parquet, Excel) into a DataFrame.

    The format follows the file's suffix (:data:`~innobaro.readers.SUFFIXES`).
    A CSV file's dialect is detected from its bytes:

    - encoding: a UTF-8 byte-order mark gives ``"utf-8-sig"`` (a UTF-16 one
      ``"utf-16"``, Excel's "Unicode text"); text that is valid UTF-8 is
      ``"utf-8"``; anything else is read as ``"cp1252"`` (Windows Western
      European, which Excel writes on a Norwegian Windows), and the
      information says so;
    - separator: the one a first line such as ``sep=;`` names (a hint Excel
      reads and some programs write; the line is skipped), else of ``;``,
      ``,``, tab and ``|``, the one that splits the
      header into two or more fields and the most of the first 64 KiB of
      lines into as many fields as the header
      (:data:`~innobaro.readers.SEPARATORS` breaks ties);
    - decimal mark: when the separator is not ``,``, a column whose every
      value is a number written with a decimal comma (``12,5``; thousands
      grouped by spaces or points as in ``1 234,5`` and ``1.234,5``) is read
      as numbers. Numbers grouped by spaces (``1 234.5``) are read as well.

    A column becomes numbers when every value that is not missing is a
    number; ``int64`` when they are whole and none is missing. Integers
    written with a leading zero (municipality and postal codes such as
    ``0301``) or with 16 digits or more (identifiers) keep the column as text.
    Text is stripped of surrounding spaces; empty cells and ``NA``, ``NaN``
    and ``#N/A`` are missing (:data:`~innobaro.readers.MISSING_TEXTS`). Rows of
    separators only (as Excel leaves below a table) and empty columns without a
    name are dropped, a column without a name is called ``Unnamed: i``, and
    a repeated name gets ``.1``, ``.2``; the column names are otherwise kept
    exactly as the file has them.

    Parameters
    ----------
    path : str or os.PathLike
        The file: ``.csv``, ``.txt``, ``.tsv``, ``.tab``, ``.parquet``,
        ``.pq``, ``.sav``, ``.zsav``, ``.dta``, ``.xlsx`` or ``.xlsm``.
    sep : str, optional
        CSV: the field separator, one character (``"\\t"`` or ``"tab"`` for a
        tab; ``"semicolon"``, ``"comma"`` and ``"pipe"`` are understood too).
        Detected when not given.
    decimal : str, optional
        CSV: the decimal mark, ``"."`` or ``","``. Detected per column when not
        given; given, it applies to every column.
    encoding : str, optional
        CSV, SPSS: the text encoding, a Python codec name (``"cp1252"``,
        ``"latin-1"``, ``"utf-8"``). Detected when not given.
    na_values : iterable of numbers or strings, optional
        Missing-value codes made missing in every column: a number matches
        the number in numeric columns (``99`` matches ``99`` and ``99.0``) and
        its text in text columns (``"99"``); a string that is a number
        (``"99"``, as from the command line) does the same; other strings
        match text and category labels. SPSS and Stata codes are matched
        before their value labels are applied.
    sheet : str or int, optional
        Excel: the sheet's name or 0-based position; the first sheet when not
        given.
    info : bool, default False
        Return a :class:`~innobaro.readers.ReadInfo` with the data.

    Returns
    -------
    pandas.DataFrame or (pandas.DataFrame, ReadInfo)
        The data, one row per respondent, with the file's column names; with
        ``info=True``, also what was read and detected.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    innobaro.InnobaroError
        The file cannot be read as given: an unknown suffix (the message lists
        the formats read), an encoding that does not fit (naming
        ``--encoding``), a separator that leaves the header in one column
        while another splits it (naming ``--sep``), rows with more fields
        than the header, an Excel sheet that does not exist.
    innobaro.readers.MissingDependencyError
        The optional package the format needs is not installed; the message
        names the ``pip install`` command (``innobaro[spss]``,
        ``innobaro[parquet]``, ``openpyxl``).

    Notes
    -----
    SPSS value labels become a Categorical whose categories are the labels
    in the order of their codes (1 Østlandet, 2 Innlandet, ...), ordered when
    the variable's measure is *ordinal*; a labelled 0/1 variable gets the
    categories ``[label of 0, label of 1]``. Codes without a label become
    categories of their own (``"7"``), in code order, unless more than half
    of the variable's distinct values have no label (a 0-10 scale with
    labelled ends, an age with a labelled "don't know" code): such a variable
    stays numeric. Codes declared user-missing are missing and are not
    categories. SPSS numeric variables
    without labels whose values are all whole numbers become ``int64``, or
    stay ``float64`` when some are missing (listed in
    :attr:`~innobaro.readers.ReadInfo.whole_numbers`). Stata value labels become Categoricals
    the same way, with the labelled codes that occur in the file as
    categories, never ordered (Stata has no measure level).

    Parquet keeps its own types; Excel cells are read by pandas with the
    missing texts above. ``na_values`` applies to every format.

    References
    ----------
    .. [1] Shafranovich, Y. (2005). Common Format and MIME Type for
       Comma-Separated Values (CSV) Files. RFC 4180.
    .. [2] IBM SPSS Statistics, *Command Syntax Reference*: MISSING VALUES,
       VALUE LABELS and VARIABLE LEVEL.

    Examples
    --------
    A file as Excel saves "CSV (semikolondelt)" on a Norwegian Windows:

    >>> import pathlib, tempfile
    >>> import innobaro as ib
    >>> folder = tempfile.TemporaryDirectory()
    >>> path = pathlib.Path(folder.name) / "svar.csv"
    >>> text = ("Kommune;Landsdel;Vekt;Innovert\\r\\n"
    ...         "0301;Østlandet;12,5;1\\r\\n4601;Vestlandet;8;99\\r\\n")
    >>> _ = path.write_bytes(text.encode("cp1252"))
    >>> data, info = ib.read_survey(path, na_values=[99], info=True)
    >>> data
      Kommune    Landsdel  Vekt  Innovert
    0    0301   Østlandet  12.5       1.0
    1    4601  Vestlandet   8.0       NaN
    >>> info.encoding, info.sep, info.decimal, info.na_counts
    ('cp1252', ';', ',', {'Innovert': {'99': 1}})
    >>> folder.cleanup()
    """
    file = Path(path)
    if not file.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if file.is_dir():
        raise InnobaroError(f"{path} is a folder, not a survey file")
    fmt = _format_of(file)
    if fmt != "csv":
        given = [name for name, value in (("sep", sep), ("decimal", decimal)) if value is not None]
        if given:
            flags = ", ".join(f"--{name}" for name in given)
            verb = "applies" if len(given) == 1 else "apply"
            raise InnobaroError(f"{file.name}: {' and '.join(given)} ({flags}) {verb} to CSV "
                                f"files only, and this is a {_FORMAT_NAMES[fmt]} file")
    if encoding is not None and fmt not in ("csv", "spss"):
        raise InnobaroError(f"{file.name}: encoding (--encoding) applies to CSV and SPSS files "
                            f"only, and this is a {_FORMAT_NAMES[fmt]} file")
    if sheet is not None and fmt != "excel":
        raise InnobaroError(f"{file.name}: sheet applies to Excel files only, and this is a "
                            f"{_FORMAT_NAMES[fmt]} file")
    given_codes = _as_list(na_values)
    out = _Collector(_codes(given_codes))
    settings: dict[str, Any] = {}
    if fmt == "csv":
        data = _read_csv(file, sep, decimal, encoding, out, settings)
    elif fmt == "spss":
        data = _read_spss(file, encoding, out)
        settings["encoding"] = encoding
    elif fmt == "stata":
        data = _read_stata(file, out)
    elif fmt == "parquet":
        data = _apply_codes(_read_parquet(file), out)
    else:
        data, settings["sheet"] = _read_excel(file, sheet)
        data = _apply_codes(data, out)
    if fmt in ("spss", "excel"):
        data = _whole_to_int(data)
    if not info:
        return data
    return data, ReadInfo(
        path=str(path), format=fmt, rows=len(data), columns=data.shape[1],
        encoding=settings.get("encoding"), sep=settings.get("sep"),
        decimal=settings.get("decimal"), detected=settings.get("detected", []),
        notes=out.notes, na_values=[_plain(c) for c in given_codes],
        na_counts=out.na_counts, user_missing=out.user_missing,
        value_labels=out.value_labels, ordinal=out.ordinal,
        whole_numbers=_whole_number_columns(data), sheet=settings.get("sheet"))


_FORMAT_NAMES = {"csv": "CSV", "parquet": "Parquet", "spss": "SPSS", "stata": "Stata",
                 "excel": "Excel"}


def _format_of(file: Path) -> str:
    suffix = file.suffix.lower()
    for fmt, suffixes in SUFFIXES.items():
        if suffix in suffixes:
            return fmt
    known = "; ".join(f"{_FORMAT_NAMES[f]} ({', '.join(s)})" for f, s in SUFFIXES.items())
    hint = (" (save old .xls workbooks as .xlsx or CSV)" if suffix == ".xls" else "")
    raise InnobaroError(f"cannot read {file.name}: unknown file type {suffix or '(no suffix)'!r}"
                        f"{hint}; innobaro reads {known}")


def _import(module: str, what: str, install: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(f"reading {what} needs {module}: pip install {install}") \
            from None


# ---------------------------------------------------------------------------
# missing-value codes
# ---------------------------------------------------------------------------
def _as_list(na_values: Iterable[Any] | str | float) -> list[Any]:
    if isinstance(na_values, (str, bytes, int, float)):
        return [na_values]
    return list(na_values)


def _plain(value: Any) -> Any:
    """A code as JSON has it (numpy scalars become Python numbers)."""
    return value.item() if isinstance(value, np.generic) else value


def _number_text(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 2 ** 53 else repr(float(x))


def _codes(given: list[Any]) -> list[_Code]:
    codes: dict[str, _Code] = {}
    for value in given:
        value = _plain(value)
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise InnobaroError(f"na_values: {value!r} is not a number or a string")
        if isinstance(value, str):
            text = value.strip()
            number = _text_number(text)
        else:
            number = float(value)
            if math.isnan(number):
                continue  # NaN is missing already
            text = _number_text(number)
        codes.setdefault(str(value), _Code(str(value), text, number))
    return list(codes.values())


def _text_number(text: str) -> float | None:
    for pattern, mark in ((_DOT, "."), (_COMMA, ",")):
        if pattern.fullmatch(text):
            return float(_normalise(text, mark))
    return None


def _normalise(text: str, mark: str) -> str:
    """Digits, sign, exponent and a decimal point, from a number written with ``mark``."""
    drop = _SPACES if mark == "." else _SPACES + "."
    text = text.translate({ord(c): None for c in drop})
    return text.replace(",", ".") if mark == "," else text


def _parse_numbers(values: pd.Series, mark: str) -> pd.Series:
    """``values`` (strings) as float where they are numbers written with ``mark``, else NaN."""
    pattern = _DOT if mark == "." else _COMMA
    ok = np.asarray(values.str.fullmatch(pattern.pattern, na=False), dtype=bool)
    out = pd.Series(np.nan, index=values.index, dtype="float64")
    if ok.any():
        drop = _SPACES if mark == "." else _SPACES + "."
        text = values[ok].str.replace(f"[{drop}]", "", regex=True)
        if mark == ",":
            text = text.str.replace(",", ".", regex=False)
        out[ok] = pd.to_numeric(text).astype("float64")
    return out


def _code_mask(values: pd.Series, numbers: pd.Series | None, code: _Code) -> pd.Series:
    """Where a column (strings or numbers) holds ``code``."""
    mask = pd.Series(False, index=values.index)
    if numbers is not None and code.number is not None:
        mask |= (numbers == code.number).to_numpy()
    if values.dtype != "float64":
        mask |= (values.astype(object) == code.text).to_numpy()
    return mask


def _apply_codes(data: pd.DataFrame, out: _Collector) -> pd.DataFrame:
    """``data`` with the codes of ``out`` made missing in every column (a new frame)."""
    if not out.codes:
        return data
    columns: dict[Hashable, pd.Series] = {}
    for name in data.columns:
        s = data[name]
        columns[name] = s
        if isinstance(s.dtype, pd.CategoricalDtype):
            cats = pd.Series(s.cat.categories)
            texts = cats.astype(str).str.strip()
            numbers = (pd.to_numeric(cats, errors="coerce") if cats.dtype.kind in "iuf"
                       else _parse_numbers(texts, ".").fillna(_parse_numbers(texts, ",")))
            drop: list[Any] = []
            counts = s.value_counts()
            for code in out.codes:
                hit = _code_mask(texts, numbers, code).to_numpy() & ~cats.isin(drop).to_numpy()
                for cat in cats[hit]:
                    out.count(name, code, int(counts.get(cat, 0)))
                    drop.append(cat)
            if drop:  # set_categories keeps the order (pandas 3's remove_categories sorts)
                columns[name] = s.cat.set_categories(list(cats[~cats.isin(drop)]))
            continue
        if pd.api.types.is_bool_dtype(s) or not (pd.api.types.is_numeric_dtype(s)
                                                 or pd.api.types.is_string_dtype(s)):
            continue
        if pd.api.types.is_numeric_dtype(s):  # numpy or nullable (Int64, Float64)
            numbers = pd.Series(s.to_numpy(dtype="float64", na_value=np.nan), index=s.index)
            values = numbers
        else:  # strings, and the numbers of a mixed column (Excel)
            text = s.astype(object)
            stripped = _stripped(text)
            if stripped is None:
                continue
            values = stripped
            words = values.fillna("")
            numbers = _parse_numbers(words, ".").fillna(_parse_numbers(words, ","))
            numbers = numbers.fillna(pd.to_numeric(text.where(values.isna()), errors="coerce"))
        blank = pd.Series(False, index=s.index)
        for code in out.codes:
            hit = _code_mask(values, numbers, code).to_numpy() & ~blank.to_numpy()
            out.count(name, code, int(hit.sum()))
            blank |= hit
        if blank.any():  # numpy integers become float, nullable ones stay
            columns[name] = s.mask(blank.to_numpy())
    return pd.DataFrame(columns, index=data.index)


def _whole(values: np.ndarray) -> bool:
    finite = values[~np.isnan(values)]
    return bool(finite.size) and bool(np.all(np.isfinite(finite))) \
        and bool(np.all(finite == np.round(finite))) and bool(np.all(np.abs(finite) < 2 ** 53))


def _whole_to_int(data: pd.DataFrame) -> pd.DataFrame:
    """Float columns of whole numbers without missing values as ``int64``."""
    change = [name for name in data.columns
              if data[name].dtype == "float64" and not data[name].isna().any()
              and _whole(data[name].to_numpy())]
    if not change:
        return data
    return data.astype(dict.fromkeys(change, "int64"))


def _whole_number_columns(data: pd.DataFrame) -> list[str]:
    return [str(name) for name in data.columns
            if data[name].dtype == "float64" and data[name].isna().any()
            and _whole(data[name].to_numpy())]


# ---------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------
def _decode(raw: bytes, encoding: str | None, name: str) -> tuple[str, str, list[str]]:
    """The text of a file, the encoding used, and notes."""
    if encoding is not None:
        try:
            codec = codecs.lookup(encoding).name
        except LookupError:
            raise InnobaroError(f"unknown encoding {encoding!r}: give --encoding a Python codec "
                                f"name such as utf-8, cp1252 or latin-1") from None
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as exc:
            raise InnobaroError(
                f"{name} is not {encoding} text (byte 0x{raw[exc.start]:02x} at position "
                f"{exc.start} does not fit); pass another --encoding: cp1252 for Excel on "
                f"Windows, utf-8, or leave it out to detect it") from None
        if codec.startswith("utf") and text.startswith("\ufeff"):
            text = text[1:]
        return text, encoding, []
    if raw.startswith(codecs.BOM_UTF8):
        try:
            return raw[len(codecs.BOM_UTF8):].decode("utf-8"), "utf-8-sig", []
        except UnicodeDecodeError as exc:
            position = exc.start + len(codecs.BOM_UTF8)
            raise InnobaroError(
                f"{name} starts with a UTF-8 byte-order mark but is not UTF-8 text (byte "
                f"0x{raw[position]:02x} at position {position}); pass --encoding "
                f"(cp1252 for Excel on Windows)") from None
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return raw.decode("utf-16"), "utf-16", []
        except UnicodeDecodeError:
            raise InnobaroError(f"{name} starts with a UTF-16 byte-order mark but is not UTF-16 "
                                f"text; pass --encoding") from None
    if b"\x00" in raw[:4096]:
        raise InnobaroError(f"{name} holds NUL bytes: it is UTF-16 text without a byte-order "
                            f"mark (pass --encoding utf-16-le) or not a text file")
    try:
        return raw.decode("utf-8"), "utf-8", []
    except UnicodeDecodeError as exc:
        first = exc.start
    try:
        text = raw.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise InnobaroError(
            f"{name} is not UTF-8 text (byte 0x{raw[first]:02x} at position {first}) nor "
            f"cp1252 (byte 0x{raw[exc.start]:02x} at position {exc.start}); pass --encoding "
            f"with the file's encoding, e.g. --encoding latin-1") from None
    note = (f"the file is not UTF-8 (byte 0x{raw[first]:02x} at position {first}): read as "
            f"cp1252 (Windows Western European, as Excel saves CSV on Windows); pass "
            f"--encoding if letters such as æøå look wrong")
    return text, "cp1252", [note]


def _sample(text: str) -> tuple[str, bool]:
    """The first lines of ``text``, and whether the last of them may be cut."""
    if len(text) <= _SAMPLE_CHARS:
        return text, False
    cut = text.rfind("\n", 0, _SAMPLE_CHARS)
    return (text[:cut] if cut > 0 else text[:_SAMPLE_CHARS]), True


def _fields(sample: str, cut: bool, sep: str) -> np.ndarray:
    """The number of fields of each record of ``sample`` split at ``sep`` (blank lines left out)."""
    try:
        records = [r for r in csv.reader(io.StringIO(sample, newline=""), delimiter=sep) if r]
    except csv.Error:
        return np.zeros(0, dtype=int)
    if cut and len(records) > 1:
        records = records[:-1]
    return np.fromiter(map(len, records), dtype=int, count=len(records))


def _sniff(sample: str, cut: bool, candidates: Iterable[str] = SEPARATORS) -> str | None:
    """The separator that splits the header into fields and the most records like it."""
    best: tuple[float, int, int] | None = None
    found = None
    for rank, sep in enumerate(candidates):
        counts = _fields(sample, cut, sep)
        if counts.size == 0 or counts[0] < 2:
            continue
        key = (float(np.mean(counts == counts[0])), int(counts[0]), -rank)
        if best is None or key > best:
            best, found = key, sep
    return found


def _show(sep: str) -> str:
    return _SEP_NAMES.get(sep, repr(sep))


def _flag(sep: str) -> str:
    return "--sep tab" if sep == "\t" else f"--sep '{sep}'"


def _read_csv(file: Path, sep: str | None, decimal: str | None, encoding: str | None,
              out: _Collector, settings: dict[str, Any]) -> pd.DataFrame:
    detected: list[str] = []
    if sep is not None:
        sep = {"\\t": "\t", "tab": "\t", "semicolon": ";", "comma": ",", "pipe": "|"}.get(
            sep.lower(), sep)
        if len(sep) != 1 or sep in "\"\r\n":
            raise InnobaroError(f"sep (--sep) must be one character such as ';', ',' or tab, "
                                f"not {sep!r}")
    if decimal is not None and decimal not in (".", ","):
        raise InnobaroError(f"decimal (--decimal) must be '.' or ',', not {decimal!r}")
    if sep is not None and decimal is not None and sep == decimal:
        raise InnobaroError(f"sep and decimal are both {sep!r}: give --decimal another mark")
    text, used_encoding, notes = _decode(file.read_bytes(), encoding, file.name)
    out.notes.extend(notes)
    if encoding is None:
        detected.append("encoding")
    if not text.strip():
        raise InnobaroError(f"{file.name} is empty")
    directive = re.match(r"\"?sep=(.)\"?[^\S\r\n]*\r?\n", text, flags=re.IGNORECASE)
    if directive:  # Excel's first line naming the separator, "sep=;"
        text = text[directive.end():]
        if sep is None:
            sep = directive.group(1)
            detected.append("sep")
            out.notes.append(f"the separator {_show(sep)} is named on the file's first line "
                             f"({directive.group(0).strip()!r}), which is skipped")
    sample, cut = _sample(text)
    if sep is None:
        detected.append("sep")
        sep = _sniff(sample, cut)
        if sep is None:  # one column: a separator the file does not hold
            sep = next((c for c in SEPARATORS if c not in text), ",")
            out.notes.append("no separator splits the header: the file is read as one column")
    else:
        fields = _fields(sample, cut, sep)
        other = _sniff(sample, cut, [c for c in SEPARATORS if c != sep])
        if fields.size and fields[0] == 1 and other is not None:
            first = sample.lstrip("\r\n").splitlines()[0]
            raise InnobaroError(
                f"{file.name}: with the separator {_show(sep)} the header is one column "
                f"({first[:60]!r}); the file seems to use {_show(other)}: pass "
                f"{_flag(other)} (sep={other!r} in Python), or leave --sep out to detect it")
    try:
        raw = pd.read_csv(io.StringIO(text), sep=sep, header=None, dtype=str,
                          keep_default_na=False, na_filter=False, engine="c")
    except pd.errors.ParserError as exc:
        raise InnobaroError(f"{file.name} does not read as CSV with the separator {_show(sep)} "
                            f"({str(exc).strip()}): check the line named for a separator in "
                            f"unquoted text, or pass --sep with the file's separator") from None
    except pd.errors.EmptyDataError:
        raise InnobaroError(f"{file.name} is empty") from None
    header = ["" if not isinstance(v, str) else v for v in raw.iloc[0].tolist()]
    body = raw.iloc[1:]
    empty = np.ones(len(body), dtype=bool)
    for position in body.columns:  # rows of separators only, as Excel leaves below a table
        empty &= (body[position].isna() | body[position].str.strip().eq("")).to_numpy(bool)
    if empty.any():
        body = body[~empty]
        out.notes.append(f"{int(empty.sum())} empty row(s) (separators only) dropped")
    body = body.reset_index(drop=True)
    names = _column_names(header, body, out)
    if decimal is None and sep != ",":
        marks: tuple[str, ...] = (".", ",")
        detected.append("decimal")
    else:
        marks = (decimal or ".",)
    columns: dict[str, pd.Series] = {}
    commas: list[str] = []
    grouped: list[str] = []
    leading: list[str] = []
    long: list[str] = []
    for position, name in names:
        column, mark, why = _convert_text(body[position], name, marks, out)
        columns[name] = column
        if mark == ",":
            commas.append(name)
        if why == "grouped":
            grouped.append(name)
        elif why == "leading zero":
            leading.append(name)
        elif why == "long integer":
            long.append(name)
    if grouped:
        out.notes.append(f"thousands separators removed in {_list(grouped)}")
    if leading:
        out.notes.append(f"kept as text because of numbers with leading zeros: {_list(leading)}")
    if long:
        out.notes.append(f"kept as text because of integers of 16 digits or more (identifiers "
                         f"beyond what a float holds exactly): {_list(long)}")
    settings.update(encoding=used_encoding, sep=sep,
                    decimal=decimal or ("," if commas else "."), detected=detected)
    return pd.DataFrame(columns, index=body.index)


def _list(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names)


def _column_names(header: list[str], body: pd.DataFrame,
                  out: _Collector) -> list[tuple[int, str]]:
    """``(position, name)`` of the columns kept: empty unnamed columns are dropped,
    other unnamed ones are called ``Unnamed: i``, repeated names get ``.1``, ``.2``."""
    kept: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    dropped = 0
    for position, name in enumerate(header):
        if name.strip() == "":
            column = body[position]
            if column.isna().all() or column.str.strip().isin(MISSING_TEXTS).all():
                dropped += 1
                continue
            name = f"Unnamed: {position}"
        if name in seen:
            seen[name] += 1
            new = f"{name}.{seen[name]}"
            while new in seen:
                seen[name] += 1
                new = f"{name}.{seen[name]}"
            out.notes.append(f"column {name!r} appears more than once: read as {new!r}")
            name = new
        seen.setdefault(name, 0)
        kept.append((position, name))
    if dropped:
        out.notes.append(f"{dropped} empty column(s) without a name dropped")
    return kept


def _convert_text(column: pd.Series, name: str, marks: tuple[str, ...],
                  out: _Collector) -> tuple[pd.Series, str | None, str | None]:
    """A CSV column of strings as numbers or stripped text, missing values and codes
    made missing; with the decimal mark used and why it was changed.

    ``marks`` holds the decimal marks allowed, the first tried on every value;
    the second (``","`` after ``"."``) only on the values the first does not
    read, and on the whole column when it reads all of them."""
    values = column.str.strip()
    missing = (values.isna() | values.isin(MISSING_TEXTS)).to_numpy()
    present = values.where(~missing, "")
    first = _parse_numbers(present, marks[0])
    numbers = first.to_numpy()
    if len(marks) > 1:  # a number the first mark cannot read has a comma or a point
        maybe = np.isnan(numbers) & ~missing
        if maybe.any():
            maybe[maybe] = present[maybe].str.contains(r"[,.]").to_numpy(dtype=bool)
            numbers = numbers.copy()
            numbers[maybe] = _parse_numbers(present[maybe], marks[1]).to_numpy()
    for code in out.codes:
        hit = _code_mask(present, pd.Series(numbers, index=present.index), code).to_numpy() \
            & ~missing
        out.count(name, code, int(hit.sum()))
        missing = missing | hit
    keep = ~missing
    if np.isnan(numbers[keep]).any():
        return values.where(keep), None, None
    mark = marks[0]
    if np.isnan(first.to_numpy()[keep]).any():  # the second mark, on every value
        mark = marks[1]
        numbers = _parse_numbers(present.where(keep, ""), mark).to_numpy()
        if np.isnan(numbers[keep]).any():
            return values.where(keep), None, None
    text = present[keep]
    if text.str.match(_LEADING_ZERO.pattern).any():
        return values.where(keep), None, "leading zero"
    if text.str.match(_LONG_INTEGER.pattern).any():
        return values.where(keep), None, "long integer"
    numbers = np.where(keep, numbers, np.nan)
    why = "grouped" if text.str.contains(_GROUPED.pattern).any() else None
    result = pd.Series(numbers, index=column.index, name=column.name)
    if keep.all() and _whole(numbers):
        result = result.astype("int64")
    return result, (mark if text.str.contains(",", regex=False).any() else None), why


# ---------------------------------------------------------------------------
# SPSS and Stata: value labels
# ---------------------------------------------------------------------------
def _code_text(code: Any) -> str:
    if isinstance(code, (float, np.floating)) and float(code).is_integer():
        return str(int(code))
    return str(code)


def _labelled(codes: pd.Series, labels: dict[Any, str], ordered: bool, name: str,
              out: _Collector) -> pd.Series:
    """Codes as a Categorical of their labels, the categories in code order.

    A label that is a missing-value code of ``out`` (its code's number, or its
    text) makes its cells missing and is no category. When more than half of
    the distinct values have no label (a 0-10 scale with labelled ends), the
    codes stay numbers."""
    for code in out.codes:
        hit = [c for c, label in labels.items()
               if label == code.text or (code.number is not None and c == code.number)]
        for c in hit:
            mask = (codes == c).to_numpy(dtype=bool)
            out.count(name, code, int(mask.sum()))
            codes = codes.mask(mask)
        labels = {c: label for c, label in labels.items() if c not in hit}
    present = pd.unique(codes.dropna())
    unlabelled = sorted(c for c in present if c not in labels)
    if 2 * len(unlabelled) > len(present):  # a scale with labelled ends, or labelled codes only
        if labels:
            out.notes.append(f"{name!r}: value labels for {len(present) - len(unlabelled)} of "
                             f"its {len(present)} values: kept as numbers")
        return codes
    order = sorted(set(labels) | set(unlabelled))
    names = {code: labels.get(code, _code_text(code)) for code in order}
    if unlabelled:
        out.notes.append(f"{name!r}: codes without a value label kept as their number: "
                         f"{', '.join(_code_text(c) for c in unlabelled)}")
    categories = list(dict.fromkeys(names[c] for c in order))
    values = codes.map(names)
    result = pd.Series(pd.Categorical(values, categories=categories, ordered=ordered),
                       index=codes.index, name=codes.name)
    out.value_labels[str(name)] = {_code_text(c): str(labels[c]) for c in sorted(labels)}
    if ordered:
        out.ordinal.append(str(name))
    return result


def _stripped(values: pd.Series) -> pd.Series | None:
    """The strings of an object column stripped (other cells NaN); None without strings."""
    if pd.api.types.infer_dtype(values, skipna=True) not in ("string", "mixed",
                                                             "mixed-integer"):
        return None
    return values.str.strip()


def _blank_strings(data: pd.DataFrame) -> pd.DataFrame:
    """Empty (or all-space) strings of string columns as missing."""
    columns: dict[Hashable, pd.Series] = {}
    for name in data.columns:
        s = data[name]
        stripped = (_stripped(s.astype(object)) if pd.api.types.is_string_dtype(s)
                    and not isinstance(s.dtype, pd.CategoricalDtype) else None)
        if stripped is not None:
            empty = stripped.eq("").to_numpy(dtype=bool)
            if empty.any():
                s = s.mask(empty)
        columns[name] = s
    return pd.DataFrame(columns, index=data.index)


def _read_spss(file: Path, encoding: str | None, out: _Collector) -> pd.DataFrame:
    pyreadstat = _import("pyreadstat", "SPSS files", "'innobaro[spss]'")
    reader = pyreadstat.read_sav
    try:
        data, meta = reader(str(file), user_missing=True, apply_value_formats=False,
                            encoding=encoding)
    except Exception as exc:  # pyreadstat's errors are not exported consistently
        hint = "" if encoding is None else " (is --encoding right?)"
        raise InnobaroError(f"cannot read {file.name} as an SPSS file{hint}: {exc}") from None
    ranges: dict[str, list[dict[str, Any]]] = dict(getattr(meta, "missing_ranges", {}) or {})
    columns: dict[Hashable, pd.Series] = {}
    user: dict[str, list[Any]] = {}
    for name in data.columns:
        s = data[name]
        spans = ranges.get(name, [])
        if spans:
            mask = np.zeros(len(s), dtype=bool)
            valid = s.notna().to_numpy()
            for span in spans:
                inside = (s[valid] >= span["lo"]) & (s[valid] <= span["hi"])
                mask[valid] |= inside.to_numpy(dtype=bool)
            if mask.any():
                out.user_missing[str(name)] = int(mask.sum())
                s = s.mask(mask)
            user[name] = spans
        columns[name] = s
    data = _apply_codes(_blank_strings(pd.DataFrame(columns, index=data.index)), out)
    measures = dict(getattr(meta, "variable_measure", {}) or {})
    for name, labels in (getattr(meta, "variable_value_labels", {}) or {}).items():
        if name not in data.columns:
            continue
        spans = user.get(name, [])
        kept = {code: label for code, label in labels.items()
                if not any(span["lo"] <= code <= span["hi"] for span in spans)}
        data[name] = _labelled(data[name], kept, measures.get(name) == "ordinal", name, out)
    return data


def _read_stata(file: Path, out: _Collector) -> pd.DataFrame:
    try:
        codes = pd.read_stata(file, convert_categoricals=False)
    except Exception as exc:  # pandas raises ValueError and struct errors alike
        raise InnobaroError(f"cannot read {file.name} as a Stata file: {exc}") from None
    try:
        labelled = pd.read_stata(file, convert_categoricals=True, order_categoricals=False)
    except ValueError as exc:  # labels that are not unique
        out.notes.append(f"value labels not used: {exc}")
        labelled = codes
    codes = _blank_strings(codes)
    raw = codes
    codes = _apply_codes(codes, out)
    for name in codes.columns:
        if not isinstance(labelled[name].dtype, pd.CategoricalDtype):
            continue
        pairs = pd.DataFrame({"code": raw[name], "label": labelled[name].astype(object)})
        pairs = pairs.dropna().drop_duplicates("code")
        labels = {code: label for code, label in zip(pairs["code"], pairs["label"], strict=True)
                  if isinstance(label, str)}
        codes[name] = _labelled(codes[name], labels, False, name, out)
    return codes


# ---------------------------------------------------------------------------
# Parquet and Excel
# ---------------------------------------------------------------------------
def _read_parquet(file: Path) -> pd.DataFrame:
    _import("pyarrow", "Parquet files", "'innobaro[parquet]'")
    try:
        return pd.read_parquet(file, engine="pyarrow")
    except Exception as exc:  # pyarrow's ArrowInvalid and OSError
        raise InnobaroError(f"cannot read {file.name} as a Parquet file: {exc}") from None


def _read_excel(file: Path, sheet: str | int | None) -> tuple[pd.DataFrame, str]:
    """The sheet's data, and the sheet's name."""
    openpyxl = _import("openpyxl", "Excel files", "openpyxl")
    try:
        book = openpyxl.load_workbook(file, read_only=True)
    except Exception as exc:  # a corrupt or encrypted workbook
        raise InnobaroError(f"cannot read {file.name} as an Excel workbook: {exc}") from None
    try:
        sheets = list(book.sheetnames)
    finally:
        book.close()
    which: str | int = 0 if sheet is None else sheet
    if (isinstance(which, int) and not 0 <= which < len(sheets)) or \
            (isinstance(which, str) and which not in sheets):
        raise InnobaroError(f"{file.name} has no sheet {which!r}; its sheets are "
                            f"{_list(sheets)} (give a name or a 0-based position)")
    # object cells, so that text such as "0301" stays text; columns of numbers become numbers
    data = pd.read_excel(file, sheet_name=which, engine="openpyxl", dtype=object,
                         keep_default_na=False, na_values=list(MISSING_TEXTS))
    data = _blank_strings(data)
    numeric = {name: pd.to_numeric(data[name]) for name in data.columns
               if pd.api.types.infer_dtype(data[name], skipna=True)
               in ("integer", "floating", "mixed-integer-float", "empty")}
    if numeric:
        data = pd.DataFrame({name: numeric.get(name, data[name]) for name in data.columns},
                            index=data.index)
    return data, sheets[which] if isinstance(which, int) else which
