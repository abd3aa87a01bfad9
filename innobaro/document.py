"""A report document: titled sections of tables and notes, rendered as text,
Markdown, HTML, JSON or an Excel workbook, with figures drawn by matplotlib.

The report's tables stay numeric (JSON and :meth:`Report.section` give the
numbers); what the reader sees is formatted here: counts and degrees of
freedom as plain numbers, p-values to four decimals, other numbers to four
significant digits, or, in the ``"publication"`` style, shares as rounded
percentages without standard errors and effective sample sizes.

Suppression is applied when rendering. A table with a ``flag`` column (and
optionally ``reason``), or a section with a per-cell :attr:`Section.flags`
frame, has its ``"suppress"`` estimates and intervals left blank in text,
Markdown, HTML and Excel, with a numbered footnote saying why; ``"review"``
cells are shown with a footnote. JSON keeps every number, with its flag and
reason, for whoever reuses the data.

Labels can be rendered in another language (``lang="nb"``): the report's own
words come from :data:`TRANSLATIONS`, everything else (titles, notes,
variable names, levels) from :attr:`Report.labels`, which
:func:`labels_from_dictionary` fills from a data dictionary's ``label_no``.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
import tempfile
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .flags import REASONS

__all__ = ["LANGUAGES", "STYLES", "TRANSLATIONS", "Report", "Section",
           "labels_from_dictionary"]

#: the languages a report renders in
LANGUAGES = ("en", "nb")
#: ``"default"``: every column, four significant digits; ``"publication"``:
#: shares as rounded percentages, no standard errors or effective sample sizes
STYLES = ("default", "publication")

#: the report's own words in Norwegian (bokmål): column headers, flags, the
#: words of footnotes and of the methods appendix. Titles, notes, variable
#: names and levels come from :attr:`Report.labels`.
TRANSLATIONS: dict[str, dict[str, str]] = {"nb": {
    # column headers and index names
    "share": "andel", "lower": "nedre", "upper": "øvre", "se": "standardfeil", "n": "n",
    "n_eff": "effektiv n", "df": "fg", "flag": "merknad", "reason": "grunn",
    "estimate": "estimat", "odds_ratio": "oddsratio", "p_value": "p-verdi", "F": "F",
    "ndf": "fg teller", "ddf": "fg nevner", "term": "ledd", "breakdown": "inndeling",
    "statistic": "testobservator", "cv": "variasjonskoeffisient", "deff": "designeffekt",
    "rows": "rader", "item": "punkt", "value": "verdi", "all": "alle",
    # the claims ledger
    "claim": "påstand", "adjusted": "justert", "adj_lower": "justert nedre",
    "adj_upper": "justert øvre", "adj_p_value": "justert p-verdi",
    "clusters_p_value": "p-verdi, kommuner som klynger", "verdict": "vurdering",
    "supported": "støttet", "direction only": "bare retningen",
    "not supported": "ikke støttet", "not measured": "ikke målt",
    # flags
    "ok": "ok", "review": "vurderes", "suppress": "skjult",
    # footnotes
    "Suppressed (left blank)": "Skjult (blank celle)",
    "Shown for statistical review": "Vist, til statistisk vurdering",
    "NCHS standard": "NCHS-standarden",
    "effective sample size below 30": "effektivt utvalg under 30",
    "fewer than 30 rows": "færre enn 30 enheter",
    "95% interval 30 percentage points wide or wider":
        "95 %-intervallet er 30 prosentpoeng bredt eller mer",
    "95% interval wider than 130% of the share":
        "95 %-intervallet er bredere enn 130 % av andelen",
    "no variance or interval could be computed":
        "varians eller intervall kunne ikke beregnes",
    "95% interval wider than 130% of the complement (1 - share)":
        "95 %-intervallet er bredere enn 130 % av komplementet (1 - andel)",
    "fewer than 8 design degrees of freedom": "færre enn 8 frihetsgrader i designet",
    "a share of 0% or 100%": "en andel på 0 % eller 100 %",
    "coefficient of variation above 30% (model-based estimate)":
        "variasjonskoeffisient over 30 % (modellbasert estimat)",
    "coefficient of variation above 20% (model-based estimate)":
        "variasjonskoeffisient over 20 % (modellbasert estimat)",
    "no sample in the area: a synthetic (regression) estimate":
        "ingen utvalg i området: et syntetisk (regresjons)estimat",
    "Percentages rounded to whole numbers.": "Prosenter avrundet til hele tall.",
    "Percentages rounded to one decimal.": "Prosenter avrundet til én desimal.",
    # the document's own headings
    "Contents": "Innhold", "Methods": "Metode", "Notes": "Merknader",
    "Figure": "Figur", "figures need matplotlib; none are included":
        "figurene krever matplotlib; ingen er tatt med",
    "share (95% interval)": "andel (95 %-intervall)",
    "odds ratio (95% interval, log scale)": "oddsratio (95 %-intervall, logaritmisk skala)",
    "predictive margin (95% interval)": "predikert andel (95 %-intervall)",
    "suppressed": "skjult",
    # methods appendix
    "Design": "Utvalgsdesign", "Weighting": "Vekting", "Variance estimation": "Variansestimering",
    "Finite population correction": "Endelighetskorreksjon", "Software": "Programvare",
    "Data": "Data", "Data version": "Dataversjon", "Random seed": "Frø for tilfeldige tall",
    "Model": "Modell", "Outcome": "Utfallsvariabel", "Rows": "Rader",
}}

#: what each reason of :mod:`innobaro.flags` means, for the footnotes
REASON_TEXT = REASONS

#: the items of the methods appendix (``metadata["methods"]``), in order
METHOD_ITEMS = {"design": "Design", "weighting": "Weighting", "variance": "Variance estimation",
                "fpc": "Finite population correction", "software": "Software",
                "data": "Data", "data_version": "Data version", "seed": "Random seed",
                "model": "Model", "outcome": "Outcome", "rows": "Rows"}

#: columns blanked in a suppressed row of a table with a ``flag`` column
ESTIMATE_COLUMNS = ("share", "estimate", "odds_ratio", "lower", "upper", "se", "cv", "deff")
#: columns left out in the publication style
TECHNICAL_COLUMNS = ("se", "n_eff", "reason")

STYLESHEET = """
body { font-family: "Segoe UI", Helvetica, Arial, sans-serif; max-width: 60em;
       margin: 2em auto; padding: 0 1em; color: #1a1a1a; line-height: 1.45; }
h1 { font-size: 1.6em; border-bottom: 2px solid #1f4e79; padding-bottom: .3em; }
h2 { font-size: 1.2em; color: #1f4e79; margin-top: 2em; }
nav.toc { background: #f3f6f9; padding: .5em 1.5em; border-radius: 4px; }
nav.toc ol { margin: .3em 0; }
table { border-collapse: collapse; margin: .8em 0; font-size: .92em; }
th, td { padding: .25em .7em; border-bottom: 1px solid #d0d7de; }
thead th { border-bottom: 2px solid #1f4e79; text-align: right; }
tbody th { text-align: left; font-weight: normal; }
td { text-align: right; font-variant-numeric: tabular-nums; }
td.suppressed { background: #f6f6f6; color: #777; }
p.note { font-style: italic; color: #333; }
p.footnote { font-size: .88em; color: #444; margin: .2em 0; }
figure { margin: 1em 0; } figure img { max-width: 100%; }
dl.methods dt { font-weight: bold; margin-top: .4em; }
dl.methods dd { margin-left: 1.5em; }
"""


@dataclass
class Section:
    """One part of a report: a title, a table and notes.

    Attributes
    ----------
    title : str
    table : pandas.DataFrame
        The numbers. A ``flag`` column (``"ok"``, ``"review"``,
        ``"suppress"``) and a ``reason`` column mark whole rows: a suppressed
        row's :attr:`blank` columns are left blank when rendered.
    notes : list of str
    key : str
        How :meth:`Report.section` finds it; ``share:...`` sections are drawn
        as shares, ``margins:...`` as predictive margins, ``odds_ratios`` as a
        forest plot.
    flags, reasons : pandas.DataFrame, optional
        Per-cell flags and reasons, aligned with ``table`` (a cross-table of
        shares, see :meth:`pivot`).
    blank : sequence of str, optional
        Columns left blank in a suppressed row (default: the estimate,
        interval and standard-error columns present).
    percent : sequence of str, optional
        Columns that hold proportions, shown as percentages in the
        publication style (default: ``share``, ``lower``, ``upper`` of a table
        with ``share``; ``estimate``, ``lower``, ``upper`` of a ``margins:``
        section).
    """

    title: str
    table: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    key: str = ""
    flags: pd.DataFrame | None = None
    reasons: pd.DataFrame | None = None
    blank: Sequence[str] | None = None
    percent: Sequence[str] | None = None

    @classmethod
    def pivot(cls, title: str, long: pd.DataFrame, *, value: str = "share", key: str = "",
              notes: Sequence[str] = ()) -> Section:
        """A cross-table section from a long table of flagged estimates.

        Parameters
        ----------
        title : str
        long : pandas.DataFrame
            Indexed by two levels (rows, then columns of the cross-table),
            with the column ``value`` and ``flag`` (and optionally
            ``reason``), as :func:`innobaro.flags.flagged_shares` gives.
        value : str, default "share"
            The column to show in the cells.
        key : str
        notes : sequence of str

        Returns
        -------
        Section
            ``table`` is ``value`` by rows and columns; ``flags`` and
            ``reasons`` the cells' flags, aligned; ``percent`` every column
            when ``value`` is a share.

        Examples
        --------
        >>> import pandas as pd
        >>> from innobaro.document import Section
        >>> long = pd.DataFrame({"share": [0.8, 0.7, 0.6, 0.9],
        ...                      "flag": ["ok", "ok", "suppress", "ok"],
        ...                      "reason": ["", "", "n_eff < 30", ""]},
        ...                     index=pd.MultiIndex.from_product([["A", "B"], ["x", "y"]]))
        >>> s = Section.pivot("Shares", long)
        >>> s.table.shape, s.flags.loc["B", "x"]
        ((2, 2), 'suppress')
        """
        if long.index.nlevels != 2:
            raise ValueError(f"Section.pivot needs a table indexed by two levels (rows, "
                             f"columns); this one has {long.index.nlevels}")
        rows = long.index.get_level_values(0).unique()
        cols = long.index.get_level_values(1).unique()
        table = long[value].unstack().reindex(index=rows, columns=cols)  # the data's order
        flags = long["flag"].unstack().reindex_like(table).fillna("")
        reasons = (long["reason"].unstack().reindex_like(table).fillna("")
                   if "reason" in long.columns else None)
        percent = list(table.columns) if value == "share" else None
        return cls(title, table, list(notes), key=key, flags=flags, reasons=reasons,
                   percent=percent)


def labels_from_dictionary(dictionary: pd.DataFrame, column: str = "label_no"
                           ) -> dict[str, str]:
    """Labels for :attr:`Report.labels` from a data dictionary.

    Parameters
    ----------
    dictionary : pandas.DataFrame
        One row per variable with ``variable``, ``levels`` and the label
        column, as :func:`innobaro.datasets.data_dictionary` gives: a
        categorical variable's levels (``type`` ``"category"`` when there is a
        ``type`` column) are written ``code (Label)`` and separated by ``;``;
        numeric codes are not labelled (they would relabel every number).
    column : str, default "label_no"
        The column with the variables' labels.

    Returns
    -------
    dict
        Variable name to label, and level code to level label.

    Examples
    --------
    >>> import pandas as pd
    >>> from innobaro.document import labels_from_dictionary
    >>> dd = pd.DataFrame({"variable": ["sector"], "label_no": ["Sektor"],
    ...                    "levels": ["education (Oppvekst og utdanning); health_care "
    ...                               "(Helse og omsorg)"]})
    >>> labels_from_dictionary(dd)["health_care"]
    'Helse og omsorg'
    >>> labels_from_dictionary(pd.DataFrame({"variable": ["unit_type"], "label_no": [""],
    ...     "levels": ["kindergarten (Barnehage (kommunal))"]}))
    {'kindergarten': 'Barnehage (kommunal)'}
    """
    labels: dict[str, str] = {}
    empty = pd.Series([""] * len(dictionary), index=dictionary.index)
    levels = dictionary["levels"] if "levels" in dictionary.columns else empty
    kinds = dictionary["type"] if "type" in dictionary.columns else empty
    for var, label, lev, kind in zip(dictionary["variable"], dictionary[column], levels,
                                     kinds, strict=True):  # over the dictionary's variables
        if isinstance(label, str) and label:
            labels[str(var)] = label
        if not isinstance(lev, str) or kind not in ("", "category"):
            continue  # the levels of a scale (1 (Not at all, ...)) are not names
        for part in lev.split(";"):  # over the variable's levels
            m = re.fullmatch(r"\s*([^\s()][^()]*?)\s*\((.*)\)\s*", part)
            if m and not _NUMBER.fullmatch(m.group(1)):
                labels.setdefault(m.group(1), m.group(2).strip())
    return labels


class _Words:
    """Translation of the report's strings: :attr:`Report.labels` first, then
    :data:`TRANSLATIONS`; a string without a translation stays as it is."""

    def __init__(self, lang: str, labels: Mapping[str, Mapping[str, str]]) -> None:
        if lang not in LANGUAGES:
            raise ValueError(f"lang must be one of {', '.join(LANGUAGES)}; got {lang!r}")
        self.lang = lang
        self.table = {} if lang == "en" else {**TRANSLATIONS.get(lang, {}),
                                              **labels.get(lang, {})}
        self.missing: list[str] = []

    def __call__(self, text: Any) -> str:
        s = str(text)
        if self.lang == "en":
            return s
        if s in self.table:
            return self.table[s]
        if s and not _NUMBER.fullmatch(s) and s not in self.missing:
            self.missing.append(s)
        return s


_NUMBER = re.compile(r"[-+0-9.,%<>e ]*")


@dataclass
class _Shown:
    """A section as the reader sees it."""

    title: str
    frame: pd.DataFrame  # strings, headers and index translated
    blanked: pd.DataFrame  # bool, aligned with frame: a suppressed cell
    footnotes: list[str]
    notes: list[str]
    columns: list[Any]  # the table's columns shown, in order


@dataclass
class Report:
    """A report: sections of tables, rendered as text, Markdown, HTML, JSON or Excel.

    Attributes
    ----------
    title : str
    preamble : list of str
    sections : list of Section
    figures_data : dict
    metadata : dict
        innobaro's version, the input, the design, the rows used: all of it
        goes into the JSON output. Its ``"methods"`` entry (a dict) is the
        methods appendix of every format, in the order design, weighting,
        variance, fpc, software, data, data_version, seed, then any other
        keys.
    labels : dict
        Per language (``{"nb": {...}}``), the translation of titles, notes,
        the preamble, variable names and levels: exact strings.
    """

    title: str
    preamble: list[str]
    sections: list[Section]
    figures_data: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, dict[str, str]] = field(default_factory=dict)

    # ------------------------------------------------------------ shown tables
    def _shown(self, s: Section, words: _Words, style: str, decimals: int,
               suppress: bool) -> _Shown:
        t = s.table
        columns = list(t.columns)
        blanked = pd.DataFrame(False, index=t.index, columns=columns)
        marks = pd.DataFrame("", index=t.index, columns=columns)
        footnotes: list[str] = []
        numbers: dict[tuple[str, str], int] = {}

        def number(flag: str, reason: str) -> int:
            key = (flag, reason)
            if key not in numbers:
                numbers[key] = len(numbers) + 1
                what = "Suppressed (left blank)" if flag == "suppress" \
                    else "Shown for statistical review"
                why = "; ".join(words(REASON_TEXT.get(r.strip(), r.strip()))
                                for r in reason.split(";") if r.strip())
                footnotes.append(f"[{numbers[key]}] {words(what)}, {words('NCHS standard')}"
                                 + (f": {why}." if why else "."))
            return numbers[key]

        if s.flags is not None:  # per cell, a cross-table
            flags = s.flags.reindex(index=t.index, columns=columns).fillna("").astype(str)
            reasons = (s.reasons.reindex(index=t.index, columns=columns).fillna("").astype(str)
                       if s.reasons is not None
                       else pd.DataFrame("", index=t.index, columns=columns))
            for i, j in zip(*np.nonzero(flags.isin(["suppress", "review"]).to_numpy()),
                            strict=True):  # over the flagged cells
                flag = flags.iat[i, j]
                marks.iat[i, j] = f"[{number(flag, reasons.iat[i, j])}]"
                blanked.iat[i, j] = suppress and flag == "suppress"
        elif "flag" in columns:  # per row
            flag_col = t["flag"].astype(str).to_numpy()
            reason_col = (t["reason"].fillna("").astype(str).to_numpy()
                          if "reason" in columns else np.full(len(t), ""))
            blank = [c for c in (s.blank if s.blank is not None else ESTIMATE_COLUMNS)
                     if c in columns]
            for i in np.flatnonzero(np.isin(flag_col, ["suppress", "review"])):
                marks.iat[i, columns.index("flag")] = f"[{number(flag_col[i], reason_col[i])}]"
                if suppress and flag_col[i] == "suppress":
                    blanked.iloc[i, [columns.index(c) for c in blank]] = True

        percent = set(self._percent_columns(s)) if style == "publication" else set()
        drop = set()
        if style == "publication":
            drop |= set(TECHNICAL_COLUMNS)
        if "reason" in columns and (s.flags is None):
            drop.add("reason")  # said by the footnotes
        shown: dict[str, list[str]] = {}
        for col in columns:  # over the few columns of a report table
            values = t[col]
            numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(
                values)
            if col in percent and numeric:
                cells = [_percent(float(v), decimals) for v in values]
            elif col in _COUNT_COLUMNS and numeric:
                cells = [_count(float(v)) for v in values]
            elif str(col).endswith("p_value") and numeric:
                cells = [_pvalue(float(v)) for v in values]
            elif col in ("flag", "verdict"):
                cells = [words(v) if isinstance(v, str) else _fmt(v) for v in values]
            else:
                cells = [_fmt(v) for v in values]
            blank_col = blanked[col].to_numpy()
            mark_col = marks[col].to_numpy()
            shown[col] = [m if b else (f"{c} {m}" if m else c)
                          for c, b, m in zip(cells, blank_col, mark_col, strict=True)]
        keep = [c for c in columns if c not in drop]
        frame = pd.DataFrame({c: shown[c] for c in keep}, index=t.index, columns=keep)
        headers = [words(c) + (" (%)" if c in percent else "") for c in keep]
        frame.columns = pd.Index(headers)
        frame.index = t.index if words.lang == "en" else _translated_index(t.index, words)
        if isinstance(t.columns, pd.Index) and t.columns.name:
            frame.columns.name = words(t.columns.name)
        notes = [words(n) for n in s.notes]
        if percent and any(c in keep for c in percent):
            notes.append(words("Percentages rounded to whole numbers." if decimals == 0
                               else "Percentages rounded to one decimal."
                               if decimals == 1 else ""))
            notes = [n for n in notes if n]
        mask = blanked[keep].copy()
        mask.columns = frame.columns
        mask.index = frame.index
        return _Shown(words(s.title), frame, mask, footnotes, notes, keep)

    @staticmethod
    def _percent_columns(s: Section) -> list[str]:
        if s.percent is not None:
            return list(s.percent)
        cols = set(s.table.columns)
        if "share" in cols:
            return [c for c in ("share", "lower", "upper") if c in cols]
        if s.key.startswith("margins:"):
            return [c for c in ("estimate", "lower", "upper") if c in cols]
        return []

    def _methods(self, words: _Words) -> list[tuple[str, str]]:
        """The methods appendix: ``(item, text)`` pairs from ``metadata["methods"]``."""
        methods = self.metadata.get("methods")
        if not isinstance(methods, Mapping) or not methods:
            return []
        items = dict(methods)
        if "software" not in items and self.metadata.get("software"):
            items["software"] = f"{self.metadata['software']} {self.metadata.get('version', '')}"
        ordered = [k for k in METHOD_ITEMS if k in items] + \
            [k for k in items if k not in METHOD_ITEMS]
        return [(words(METHOD_ITEMS.get(k, k.replace("_", " ").capitalize())),
                 words(_plain(items[k]))) for k in ordered]

    def untranslated(self, lang: str = "nb") -> list[str]:
        """The strings the report would leave in English when rendered in ``lang``.

        Parameters
        ----------
        lang : str, default "nb"

        Returns
        -------
        list of str
            Titles, notes, headers, levels, ... in order of appearance, without
            numbers.

        Examples
        --------
        >>> import pandas as pd
        >>> from innobaro.document import Report, Section
        >>> r = Report("Shares", [], [Section("By sector", pd.DataFrame({"share": [0.5]}))],
        ...            labels={"nb": {"Shares": "Andeler"}})
        >>> r.untranslated("nb")
        ['By sector']
        """
        words = _Words(lang, self.labels)
        self._walk(words, "default", 0, True)
        return list(words.missing)

    def _walk(self, words: _Words, style: str, decimals: int, suppress: bool
              ) -> tuple[str, list[str], list[_Shown], list[tuple[str, str]]]:
        title, preamble = words(self.title), [words(p) for p in self.preamble]
        shown = [self._shown(s, words, style, decimals, suppress) for s in self.sections]
        return title, preamble, shown, self._methods(words)

    # ------------------------------------------------------------ rendering
    def to_text(self, *, lang: str = "en", style: str = "default", decimals: int = 0,
                suppress: bool = True) -> str:
        """The report as plain text.

        Parameters
        ----------
        lang : {"en", "nb"}, default "en"
            Language of the labels.
        style : {"default", "publication"}, default "default"
            ``"publication"``: shares as rounded percentages, no standard
            errors or effective sample sizes.
        decimals : int, default 0
            Decimals of the percentages in the publication style.
        suppress : bool, default True
            Leave suppressed estimates blank (with a footnote).

        Returns
        -------
        str

        Examples
        --------
        >>> import pandas as pd
        >>> from innobaro.document import Report, Section
        >>> t = pd.DataFrame({"share": [0.5, 0.9], "flag": ["ok", "suppress"],
        ...                   "reason": ["", "n_eff < 30"]}, index=["a", "b"])
        >>> print(Report("R", [], [Section("Shares", t)]).to_text())
        R
        =
        <BLANKLINE>
        Shares
        ------
          share          flag
        a   0.5            ok
        b        suppress [1]
        [1] Suppressed (left blank), NCHS standard: effective sample size below 30.
        <BLANKLINE>
        """
        _check_style(style)
        words = _Words(lang, self.labels)
        title, preamble, shown, methods = self._walk(words, style, decimals, suppress)
        out = [title, "=" * len(title), *preamble, ""]
        for s in shown:
            out += [s.title, "-" * len(s.title)]
            if len(s.frame.columns):
                out.append(s.frame.to_string())
            out += [*s.footnotes, *s.notes, ""]
        if methods:
            head = words("Methods")
            out += [head, "-" * len(head)] + [f"{k}: {v}" for k, v in methods] + [""]
        return "\n".join(out)

    def to_markdown(self, *, lang: str = "en", style: str = "default", decimals: int = 0,
                    suppress: bool = True) -> str:
        """The report as Markdown (GitHub tables).

        Parameters
        ----------
        lang, style, decimals, suppress
            As :meth:`to_text`.

        Returns
        -------
        str

        Examples
        --------
        >>> import pandas as pd
        >>> from innobaro.document import Report, Section
        >>> t = pd.DataFrame({"share": [0.5]}, index=pd.Index(["a"], name="g"))
        >>> print(Report("R", [], [Section("Shares", t)]).to_markdown(style="publication"))
        # R
        <BLANKLINE>
        <BLANKLINE>
        ## Shares
        <BLANKLINE>
        | g | share (%) |
        |---|---|
        | a | 50 |
        <BLANKLINE>
        _Percentages rounded to whole numbers._
        <BLANKLINE>
        """
        _check_style(style)
        words = _Words(lang, self.labels)
        title, preamble, shown, methods = self._walk(words, style, decimals, suppress)
        out = [f"# {_md(title)}", "", *(_md(p) for p in preamble), ""]
        for s in shown:
            out += [f"## {_md(s.title)}", ""]
            if len(s.frame.columns):
                out += [_markdown_table(s.frame), ""]
            for f in s.footnotes:  # each its own paragraph
                out += [_md(f), ""]
            out += [f"_{_md(n)}_" for n in s.notes] + [""]
        if methods:
            out += [f"## {_md(words('Methods'))}", ""]
            out += [f"- **{_md(k)}**: {_md(v)}" for k, v in methods] + [""]
        return "\n".join(out)

    def to_html(self, *, lang: str = "en", style: str = "default", decimals: int = 0,
                suppress: bool = True, figures: bool = True) -> str:
        """The report as one self-contained HTML page.

        A stylesheet inline, a table of contents, suppressed cells blank with
        their footnotes, and the figures embedded as PNG images (when
        matplotlib is installed; otherwise a note says they are left out).

        Parameters
        ----------
        lang, style, decimals, suppress
            As :meth:`to_text`.
        figures : bool, default True
            Embed the figures.

        Returns
        -------
        str

        Examples
        --------
        >>> import pandas as pd
        >>> from innobaro.document import Report, Section
        >>> page = Report("R", [], [Section("S", pd.DataFrame({"n": [3]}))]).to_html()
        >>> page.startswith("<!DOCTYPE html>"), "<style>" in page, 'href="#s1"' in page
        (True, True, True)
        """
        _check_style(style)
        words = _Words(lang, self.labels)
        title, preamble, shown, methods = self._walk(words, style, decimals, suppress)
        images: dict[str, str] = {}
        missing_plot = False
        if figures:
            try:
                images = self._figure_images(words)
            except ImportError:
                missing_plot = True
        esc = html.escape
        toc = [f'<li><a href="#s{i + 1}">{esc(s.title)}</a></li>' for i, s in enumerate(shown)]
        if methods:
            toc.append(f'<li><a href="#methods">{esc(words("Methods"))}</a></li>')
        parts = [f"<h1>{esc(title)}</h1>"]
        parts += [f"<p>{esc(p)}</p>" for p in preamble]
        parts.append(f'<nav class="toc"><h2>{esc(words("Contents"))}</h2><ol>'
                     + "".join(toc) + "</ol></nav>")
        if missing_plot:
            note = words("figures need matplotlib; none are included")
            parts.append(f'<p class="note">{esc(note)}</p>')
        for i, (s, sec) in enumerate(zip(shown, self.sections, strict=True)):
            parts.append(f'<h2 id="s{i + 1}">{esc(s.title)}</h2>')
            if len(s.frame.columns):
                parts.append(_html_table(s.frame, s.blanked))
            parts += [f'<p class="footnote">{esc(f)}</p>' for f in s.footnotes]
            parts += [f'<p class="note">{esc(n)}</p>' for n in s.notes]
            if sec.key in images:
                parts.append(f'<figure><img alt="{esc(words("Figure"))}: {esc(s.title)}" '
                             f'src="data:image/png;base64,{images[sec.key]}"></figure>')
        if methods:
            parts.append(f'<h2 id="methods">{esc(words("Methods"))}</h2><dl class="methods">'
                         + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in methods)
                         + "</dl>")
        body = "\n".join(parts)
        return (f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8">'
                f'<meta name="viewport" content="width=device-width, initial-scale=1">'
                f"<title>{esc(title)}</title>\n<style>{STYLESHEET}</style></head><body>\n"
                f"{body}\n</body></html>\n")

    def to_dict(self) -> dict[str, Any]:
        """The report as data: every number, with flags and reasons.

        Returns
        -------
        dict
            ``title``, ``metadata``, ``preamble``, ``suppression`` (how the
            flags are kept), ``sections`` (``key``, ``title``, ``notes``,
            ``table`` as records, and ``flags``/``reasons`` records for a
            cross-table) and ``methods`` (the appendix).

        Examples
        --------
        >>> import pandas as pd
        >>> from innobaro.document import Report, Section
        >>> t = pd.DataFrame({"share": [0.9], "flag": ["suppress"]})
        >>> Report("R", [], [Section("S", t)]).to_dict()["sections"][0]["table"]
        [{'index': 0, 'share': 0.9, 'flag': 'suppress'}]
        """
        sections = []
        for s in self.sections:  # over the report's sections
            entry: dict[str, Any] = {"key": s.key, "title": s.title, "notes": s.notes,
                                     "table": _records(s.table) if len(s.table.columns)
                                     else []}
            if s.flags is not None:
                entry["flags"] = _records(s.flags)
            if s.reasons is not None:
                entry["reasons"] = _records(s.reasons)
            sections.append(entry)
        return {"title": self.title, "metadata": self.metadata, "preamble": self.preamble,
                "suppression": "Every estimate is kept here with its flag and reason: "
                               "'suppress' (NCHS standard: not to be published; the text, "
                               "Markdown, HTML and Excel outputs leave it blank), 'review' "
                               "(shown with a footnote) or 'ok'.",
                "sections": sections,
                "methods": [{"item": k, "text": v}
                            for k, v in self._methods(_Words("en", {}))]}

    def to_json(self) -> str:
        """The report as JSON (:meth:`to_dict`).

        Returns
        -------
        str

        Examples
        --------
        >>> import pandas as pd
        >>> from innobaro.document import Report, Section
        >>> '"title": "R"' in Report("R", [], []).to_json()
        True
        """
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False, default=_jsonable)

    def to_xlsx(self, path: str | Path | None = None, *, lang: str = "en",
                style: str = "default", decimals: int = 0, suppress: bool = True) -> bytes:
        """The report as an Excel workbook: one sheet per section (needs openpyxl).

        A first sheet ``Notes`` holds the title, the preamble and the list of
        sheets; each section's sheet its full title, the table (numbers as
        numbers, suppressed cells blank, flags with footnote numbers), the
        footnotes and notes; a last sheet ``Methods`` the methods appendix.
        Sheet names are at most 31 characters and unique.

        Parameters
        ----------
        path : str or Path, optional
            Write the workbook there too.
        lang, style, decimals, suppress
            As :meth:`to_text`.

        Returns
        -------
        bytes
            The ``.xlsx`` file.

        Examples
        --------
        >>> import pandas as pd
        >>> from innobaro.document import Report, Section
        >>> data = Report("R", [], [Section("S", pd.DataFrame({"n": [3]}))]).to_xlsx()
        >>> data[:2]
        b'PK'
        """
        _check_style(style)
        try:
            from openpyxl import Workbook  # type: ignore[import-untyped,unused-ignore]
            from openpyxl.styles import Font  # type: ignore[import-untyped,unused-ignore]
        except ImportError as exc:
            raise RuntimeError("the Excel workbook needs openpyxl: pip install "
                               "'innobaro[xlsx]'") from exc
        words = _Words(lang, self.labels)
        title, preamble, shown, methods = self._walk(words, style, decimals, suppress)
        names = _sheet_names([s.title for s in shown])
        wb = Workbook()
        notes = wb.active
        notes.title = words("Notes")
        bold = Font(bold=True)
        notes.append([title])
        notes["A1"].font = Font(bold=True, size=14)
        for p in preamble:
            notes.append([p])
        notes.append([])
        notes.append([words("Contents")])
        for name, s in zip(names, shown, strict=True):
            notes.append([name, s.title])
        for name, s, sec in zip(names, shown, self.sections, strict=True):
            ws = wb.create_sheet(name)
            ws.append([s.title])
            ws["A1"].font = bold
            ws.append([])
            if len(s.frame.columns):
                values = self._xlsx_values(sec, s, style, decimals)
                index_names = [n or "" for n in s.frame.index.names]
                ws.append(index_names + [str(c) for c in s.frame.columns])
                for cell in ws[ws.max_row]:
                    cell.font = bold
                for label, row in zip(s.frame.index, values, strict=True):
                    labels = list(label) if isinstance(label, tuple) else [label]
                    ws.append([str(v) for v in labels] + row)
            ws.append([])
            for line in [*s.footnotes, *s.notes]:
                ws.append([line])
            ws.column_dimensions["A"].width = min(60, max(12, *(
                len(str(v)) + 2 for v in s.frame.index.get_level_values(0)))) \
                if len(s.frame) else 12
        if methods:
            ws = wb.create_sheet(words("Methods")[:31])
            for k, v in methods:
                ws.append([k, v])
                ws.cell(ws.max_row, 1).font = bold
            ws.column_dimensions["A"].width = 30
            ws.column_dimensions["B"].width = 100
        buffer = io.BytesIO()
        wb.save(buffer)
        data = buffer.getvalue()
        if path is not None:
            Path(path).write_bytes(data)
        return data

    def _xlsx_values(self, sec: Section, s: _Shown, style: str, decimals: int
                     ) -> list[list[Any]]:
        """Cells for Excel: numbers as numbers (percentages rounded in the
        publication style), blanks where suppressed, text where marked."""
        t = sec.table
        keep = s.columns
        percent = set(self._percent_columns(sec)) if style == "publication" else set()
        rows: list[list[Any]] = []
        shown = s.frame.to_numpy()
        blanked = s.blanked.to_numpy()
        for i in range(len(t)):  # over the table's rows (a report table: a few)
            row: list[Any] = []
            for j, c in enumerate(keep):
                v = t[c].iat[i]
                text = shown[i, j]
                if blanked[i, j]:
                    row.append(text or None)
                elif isinstance(v, (float, np.floating, int, np.integer)) and \
                        not isinstance(v, bool) and text == _plain_cell(text):
                    fv = float(v)
                    if np.isnan(fv):
                        row.append(None)
                    elif c in percent:
                        row.append(round(fv * 100, decimals))
                    else:
                        row.append(fv)
                else:
                    row.append(text)
            rows.append(row)
        return rows

    def render(self, fmt: str = "text", *, lang: str = "en", style: str = "default",
               decimals: int = 0, suppress: bool = True) -> str:
        """The report in a text format.

        Parameters
        ----------
        fmt : {"text", "markdown", "md", "html", "json"}
            The Excel workbook is binary: :meth:`write` or :meth:`to_xlsx`.
        lang, style, decimals, suppress
            As :meth:`to_text` (JSON keeps the numbers and ignores them).

        Returns
        -------
        str

        Examples
        --------
        >>> from innobaro.document import Report
        >>> Report("R", [], []).render("markdown").splitlines()[0]
        '# R'
        """
        if fmt in ("text", "txt"):
            return self.to_text(lang=lang, style=style, decimals=decimals, suppress=suppress)
        if fmt in ("markdown", "md"):
            return self.to_markdown(lang=lang, style=style, decimals=decimals,
                                    suppress=suppress)
        if fmt == "html":
            return self.to_html(lang=lang, style=style, decimals=decimals, suppress=suppress)
        if fmt == "json":
            _Words(lang, self.labels)  # the language is checked all the same
            _check_style(style)
            return self.to_json()
        if fmt == "xlsx":
            raise ValueError("xlsx is a binary format: use Report.write(path, 'xlsx') or "
                             "Report.to_xlsx() (on the command line, give --out FILE.xlsx)")
        raise ValueError("format must be one of text, markdown, md, html, json, xlsx")

    def write(self, path: str | Path, fmt: str | None = None, *, lang: str = "en",
              style: str = "default", decimals: int = 0, suppress: bool = True) -> Path:
        """Write the report to a file in any format, Excel included.

        Parameters
        ----------
        path : str or Path
        fmt : str, optional
            ``"text"``, ``"markdown"``, ``"html"``, ``"json"`` or ``"xlsx"``;
            by default from the file's suffix (``.txt``, ``.md``, ``.html``,
            ``.json``, ``.xlsx``).
        lang, style, decimals, suppress
            As :meth:`to_text`.

        Returns
        -------
        Path

        Examples
        --------
        >>> import tempfile, pathlib
        >>> from innobaro.document import Report
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "report.md"
        >>> Report("R", [], []).write(out).read_text(encoding="utf-8").splitlines()[0]
        '# R'
        """
        path = Path(path)
        if fmt is None:
            fmt = {".txt": "text", ".md": "markdown", ".html": "html", ".htm": "html",
                   ".json": "json", ".xlsx": "xlsx"}.get(path.suffix.lower(), "text")
        if fmt == "xlsx":
            self.to_xlsx(path, lang=lang, style=style, decimals=decimals, suppress=suppress)
        else:
            text = self.render(fmt, lang=lang, style=style, decimals=decimals,
                               suppress=suppress)
            path.write_text(text, encoding="utf-8")
        return path

    def section(self, key: str) -> Section:
        """The section with this key.

        Parameters
        ----------
        key : str

        Returns
        -------
        Section

        Examples
        --------
        >>> import pandas as pd
        >>> from innobaro.document import Report, Section
        >>> Report("R", [], [Section("S", pd.DataFrame(), key="k")]).section("k").title
        'S'
        """
        for s in self.sections:
            if s.key == key:
                return s
        raise KeyError(key)

    def __repr__(self) -> str:
        return self.to_text()

    # ------------------------------------------------------------ figures
    def figures(self, directory: str | Path, *, lang: str = "en") -> list[Path]:
        """Draw PNG figures (needs matplotlib).

        Shares with their intervals for each ``share:`` section (suppressed
        shares left out and labelled so), a forest plot of the odds ratios,
        and predictive margins with their intervals.

        Parameters
        ----------
        directory : str or Path
            Created if needed.
        lang : {"en", "nb"}, default "en"

        Returns
        -------
        list of Path
            The files written.

        Examples
        --------
        >>> import tempfile
        >>> import pandas as pd
        >>> from innobaro.document import Report, Section
        >>> t = pd.DataFrame({"share": [0.4], "lower": [0.3], "upper": [0.5]}, index=["a"])
        >>> r = Report("R", [], [Section("S", t, key="share:g")])
        >>> [p.name for p in r.figures(tempfile.mkdtemp())]
        ['share_g.png']
        """
        try:
            import matplotlib  # noqa: F401
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise RuntimeError("figures need matplotlib: pip install 'innobaro[plot]'") \
                from exc
        return list(self._draw(Path(directory), _Words(lang, self.labels)).values())

    def _figure_images(self, words: _Words) -> dict[str, str]:
        """The figures as base64 PNG, by section key (ImportError without matplotlib)."""
        import matplotlib  # noqa: F401

        with tempfile.TemporaryDirectory() as tmp:
            paths = self._draw(Path(tmp), words)
            return {key: base64.b64encode(p.read_bytes()).decode("ascii")
                    for key, p in paths.items()}

    def _draw(self, directory: Path, words: _Words) -> dict[str, Path]:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        directory.mkdir(parents=True, exist_ok=True)
        written: dict[str, Path] = {}
        for s in self.sections:  # over the report's sections
            t = s.table
            if s.key.startswith("share:") and {"share", "lower", "upper"} <= set(t.columns):
                cols, xlabel, log = ("share", "lower", "upper"), "share (95% interval)", False
            elif s.key.startswith("margins:") and {"estimate", "lower", "upper"} <= set(
                    t.columns):
                cols, xlabel, log = (("estimate", "lower", "upper"),
                                     "predictive margin (95% interval)", False)
            elif s.key == "odds_ratios" and {"odds_ratio", "lower", "upper"} <= set(t.columns):
                cols, xlabel, log = (("odds_ratio", "lower", "upper"),
                                     "odds ratio (95% interval, log scale)", True)
            else:
                continue
            if t.empty:
                continue
            est, lo, hi = (t[c].to_numpy(dtype=float) for c in cols)
            hidden = (t["flag"].astype(str).to_numpy() == "suppress") if "flag" in t.columns \
                else np.zeros(len(t), dtype=bool)
            hidden = hidden | np.isnan(est)
            labels = [_wrap(words(_label(i))) + (f" ({words('suppressed')})" if h else "")
                      for i, h in zip(t.index, hidden, strict=True)]
            fig, ax = plt.subplots(figsize=(7.5, 0.42 * len(t) + 1.4))
            y = np.arange(len(t))
            show = ~hidden
            ax.errorbar(est[show], y[show], xerr=[est[show] - lo[show], hi[show] - est[show]],
                        fmt="s" if log else "o", color="#1f4e79", ecolor="#1f4e79", capsize=3)
            ax.set_yticks(y, labels)
            ax.invert_yaxis()
            if log:
                ax.axvline(1, color="grey", linestyle="--", linewidth=1)
                ax.set_xscale("log")
                # plain ticks (0.5, 1, 2) rather than powers of ten
                ticks = np.array([0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5,
                                  10, 20, 50, 100])
                if show.any():
                    ends = np.concatenate([lo[show], hi[show], [1.0]])
                    ends = ends[np.isfinite(ends) & (ends > 0)]
                    ticks = ticks[(ticks >= ends.min() / 1.15) & (ticks <= ends.max() * 1.15)]
                ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(ticks))
                ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(
                    lambda v, _pos: f"{v:g}"))
                ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            else:
                ax.set_xlim(0, 1)
                ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
            ax.grid(axis="x", color="#e0e0e0")
            ax.set_xlabel(words(xlabel))
            ax.set_title("\n".join(textwrap.wrap(words(s.title), 70)), fontsize=10)
            fig.tight_layout()
            name = "odds_ratios" if log else s.key.replace(":", "_")
            path = directory / f"{name}.png"
            fig.savefig(path, dpi=120)
            plt.close(fig)
            written[s.key] = path
        return written


def _check_style(style: str) -> None:
    if style not in STYLES:
        raise ValueError(f"style must be one of {', '.join(STYLES)}; got {style!r}")


def _label(v: Any) -> str:
    return " / ".join(str(x) for x in v) if isinstance(v, tuple) else str(v)


def _wrap(text: str, width: int = 40) -> str:
    return "\n".join(textwrap.wrap(text, width)) or text


def _translated_index(index: pd.Index, words: _Words) -> pd.Index:
    if isinstance(index, pd.MultiIndex):
        arrays = [[words(v) for v in index.get_level_values(i)] for i in range(index.nlevels)]
        return pd.MultiIndex.from_arrays(arrays, names=[words(n) if n else n
                                                        for n in index.names])
    return pd.Index([words(v) if isinstance(v, str) else v for v in index],
                    name=words(index.name) if index.name else index.name)


def _plain_cell(text: str) -> str:
    """A cell's text without a footnote mark."""
    return re.sub(r" \[\d+\]$", "", text)


def _plain(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return " ".join(str(x).strip() for x in v)
    if isinstance(v, Mapping):
        return "; ".join(f"{k}: {_plain(x)}" for k, x in v.items())
    return str(v)


def _records(t: pd.DataFrame) -> list[Any]:
    out: list[Any] = json.loads(t.reset_index().to_json(orient="records",
                                                         double_precision=15))
    return out


def _sheet_names(titles: Sequence[str]) -> list[str]:
    """Excel sheet names: numbered in order, without ``[]:*?/\\``, at most 31
    characters, cut at a word."""
    names = []
    for i, title in enumerate(titles):  # over the sections
        clean = re.sub(r"[\[\]:*?/\\]", " ", title)
        clean = re.sub(r"\s+", " ", clean).strip()
        name = f"{i + 1:02d} {clean}"
        if len(name) > 31:
            cut = name[:31]
            name = cut[:cut.rfind(" ")] if cut.rfind(" ") > 5 else cut
        names.append(name.rstrip(" ,;-("))
    return names


def _fmt(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return "" if np.isnan(v) else f"{v:.4g}"
    return str(v)


#: columns printed as counts (whole numbers, or one decimal when fractional)
_COUNT_COLUMNS = {"n", "n_eff", "df", "ndf", "ddf", "rows"}


def _count(v: float) -> str:
    if np.isnan(v):
        return ""
    if np.isinf(v):
        return "inf"
    return f"{v:.0f}" if abs(v - round(v)) < 0.05 or abs(v) >= 100 else f"{v:.1f}"


def _pvalue(v: float) -> str:
    if np.isnan(v):
        return ""
    return "<0.0001" if v < 1e-4 else f"{v:.4f}"


def _percent(v: float, decimals: int) -> str:
    if np.isnan(v):
        return ""
    return f"{v * 100:.{decimals}f}"


def _display(t: pd.DataFrame) -> pd.DataFrame:
    """The table as the reader sees it: counts and degrees of freedom as plain
    numbers, p-values to four decimals, other numbers to four significant
    digits. The report's tables stay numeric (JSON and ``section()``)."""
    shown = {}
    for col in t.columns:  # over the few columns of a report table
        values = t[col]
        if col in _COUNT_COLUMNS and pd.api.types.is_numeric_dtype(values):
            shown[col] = [_count(float(v)) for v in values]
        elif str(col).endswith("p_value") and pd.api.types.is_numeric_dtype(values):
            shown[col] = [_pvalue(float(v)) for v in values]
        else:
            shown[col] = [_fmt(v) for v in values]
    return pd.DataFrame(shown, index=t.index, columns=t.columns)


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")


def _md(text: Any) -> str:
    """Text with Markdown's inline markup characters (and ``|``, which ends a
    table cell) escaped, and a leading ``#`` that would start a heading."""
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", str(text)).replace("\n", " ")
    return "\\" + escaped if escaped.startswith("#") else escaped


def _markdown_table(frame: pd.DataFrame) -> str:
    """A table of shown strings as a GitHub Markdown table."""
    flat = frame.reset_index()
    cols = [_md(c) for c in flat.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in flat.itertuples(index=False):
        lines.append("| " + " | ".join(_md(v) for v in row) + " |")
    return "\n".join(lines)


def _html_table(frame: pd.DataFrame, blanked: pd.DataFrame) -> str:
    """A table of shown strings as HTML, suppressed cells with a class."""
    esc = html.escape
    nlev = frame.index.nlevels
    names = [esc(str(n)) if n else "" for n in frame.index.names]
    head = "".join(f"<th>{n}</th>" for n in names) + "".join(
        f"<th>{esc(str(c))}</th>" for c in frame.columns)
    rows = []
    cells = frame.to_numpy()
    mask = blanked.to_numpy()
    for i, label in enumerate(frame.index):  # over the table's rows (a report table)
        labels = list(label) if nlev > 1 else [label]
        row = "".join(f"<th>{esc(str(v))}</th>" for v in labels)
        row += "".join(f'<td class="suppressed">{esc(str(v))}</td>' if m else
                       f"<td>{esc(str(v))}</td>"
                       for v, m in zip(cells[i], mask[i], strict=True))
        rows.append(f"<tr>{row}</tr>")
    return (f"<table><thead><tr>{head}</tr></thead><tbody>" + "".join(rows)
            + "</tbody></table>")


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return None if np.isnan(v) else float(v)
    if isinstance(v, np.ndarray):
        return v.tolist()
    return str(v)
