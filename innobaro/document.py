"""A report document: titled sections of tables and notes, rendered as text,
Markdown, HTML or JSON, with figures drawn by matplotlib when asked for.

The report's tables stay numeric (JSON and :meth:`Report.section` give the
numbers); what the reader sees is formatted here: counts and degrees of
freedom as plain numbers, p-values to four decimals, other numbers to four
significant digits.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Report", "Section"]


@dataclass
class Section:
    """One part of a report: a title, a table and notes."""

    title: str
    table: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    key: str = ""


@dataclass
class Report:
    """A report: sections of tables, rendered as text, Markdown, HTML or JSON.

    ``metadata`` (innobaro's version, the input, the design, the rows used)
    goes into the JSON output; the preamble says the same in words.
    """

    title: str
    preamble: list[str]
    sections: list[Section]
    figures_data: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------ rendering
    def to_text(self) -> str:
        out = [self.title, "=" * len(self.title), *self.preamble, ""]
        for s in self.sections:
            out += [s.title, "-" * len(s.title)]
            if len(s.table.columns):
                out.append(_display(s.table).to_string())
            out += [*s.notes, ""]
        return "\n".join(out)

    def to_markdown(self) -> str:
        out = [f"# {_md(self.title)}", "", *(_md(p) for p in self.preamble), ""]
        for s in self.sections:
            out += [f"## {_md(s.title)}", ""]
            if len(s.table.columns):
                out += [_markdown_table(s.table), ""]
            out += [f"_{_md(n)}_" for n in s.notes] + [""]
        return "\n".join(out)

    def to_html(self) -> str:
        import html

        parts = [f"<h1>{html.escape(self.title)}</h1>"]
        parts += [f"<p>{html.escape(p)}</p>" for p in self.preamble]
        for s in self.sections:
            parts.append(f"<h2>{html.escape(s.title)}</h2>")
            if len(s.table.columns):
                parts.append(_display(s.table).to_html(na_rep=""))
            parts += [f"<p><em>{html.escape(n)}</em></p>" for n in s.notes]
        body = "\n".join(parts)
        return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
                f"<title>{html.escape(self.title)}</title></head><body>\n{body}\n"
                "</body></html>\n")

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "metadata": self.metadata, "preamble": self.preamble,
                "sections": [{"key": s.key, "title": s.title, "notes": s.notes,
                              "table": json.loads(s.table.reset_index().to_json(
                                  orient="records", double_precision=15))
                              if len(s.table.columns) else []}
                             for s in self.sections]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False, default=_jsonable)

    def render(self, fmt: str = "text") -> str:
        renderers = {"text": self.to_text, "markdown": self.to_markdown,
                     "md": self.to_markdown, "html": self.to_html, "json": self.to_json}
        if fmt not in renderers:
            raise ValueError(f"format must be one of {', '.join(renderers)}")
        return renderers[fmt]()

    def section(self, key: str) -> Section:
        for s in self.sections:
            if s.key == key:
                return s
        raise KeyError(key)

    def __repr__(self) -> str:
        return self.to_text()

    # ------------------------------------------------------------ figures
    def figures(self, directory: str | Path) -> list[Path]:
        """Draw PNG figures (needs matplotlib): shares with intervals by
        breakdown, and a forest plot of odds ratios."""
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise RuntimeError("figures need matplotlib: pip install 'innobaro[plot]'") \
                from exc
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        for s in self.sections:
            if not s.key.startswith("share:") or not {"share", "lower", "upper"} <= set(
                    s.table.columns) or s.table.empty:
                continue
            t = s.table
            fig, ax = plt.subplots(figsize=(6, 0.45 * len(t) + 1.2))
            y = np.arange(len(t))
            ax.errorbar(t["share"], y, xerr=[t["share"] - t["lower"], t["upper"] - t["share"]],
                        fmt="o", color="black", capsize=3)
            ax.set_yticks(y, [str(i) for i in t.index])
            ax.invert_yaxis()
            ax.set_xlim(0, 1)
            ax.set_xlabel("share (95% interval)")
            ax.set_title(s.title, fontsize=10)
            fig.tight_layout()
            path = directory / f"{s.key.replace(':', '_')}.png"
            fig.savefig(path, dpi=120)
            plt.close(fig)
            written.append(path)
        for s in self.sections:
            if s.key != "odds_ratios" or not {"odds_ratio", "lower", "upper"} <= set(
                    s.table.columns) or s.table.empty:
                continue
            t = s.table
            fig, ax = plt.subplots(figsize=(6, 0.45 * len(t) + 1.2))
            y = np.arange(len(t))
            ax.errorbar(t["odds_ratio"], y, xerr=[t["odds_ratio"] - t["lower"],
                                                  t["upper"] - t["odds_ratio"]],
                        fmt="s", color="black", capsize=3)
            ax.axvline(1, color="grey", linestyle="--")
            ax.set_xscale("log")
            ax.set_yticks(y, [str(i) for i in t.index])
            ax.invert_yaxis()
            ax.set_xlabel("odds ratio (95% interval, log scale)")
            ax.set_title(s.title, fontsize=10)
            fig.tight_layout()
            path = directory / "odds_ratios.png"
            fig.savefig(path, dpi=120)
            plt.close(fig)
            written.append(path)
        return written


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


def _display(t: pd.DataFrame) -> pd.DataFrame:
    """The table as the reader sees it: counts and degrees of freedom as plain
    numbers, p-values to four decimals, other numbers to four significant
    digits. The report's tables stay numeric (JSON and ``section()``)."""
    shown = {}
    for col in t.columns:  # over the few columns of a report table
        values = t[col]
        if col in _COUNT_COLUMNS and pd.api.types.is_numeric_dtype(values):
            shown[col] = [_count(float(v)) for v in values]
        elif col == "p_value" and pd.api.types.is_numeric_dtype(values):
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


def _markdown_table(t: pd.DataFrame) -> str:
    frame = _display(t).reset_index()
    cols = [_md(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_md(v) for v in row) + " |")
    return "\n".join(lines)


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return None if np.isnan(v) else float(v)
    if isinstance(v, np.ndarray):
        return v.tolist()
    return str(v)
