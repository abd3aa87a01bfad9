"""The barometer report: shares with intervals, tests, a model and margins.

:func:`barometer_report` answers the innovation barometer's questions on the
bundled synthetic data; :func:`survey_report` makes the same kind of report
for any survey with a binary outcome. A :class:`Report` renders as text,
Markdown, HTML or JSON, and can draw figures when matplotlib is installed.

Every share carries a reliability flag after the NCHS Data Presentation
Standards for Proportions (Parker et al. 2017), which none of the reference
tools apply by default:

- ``suppress`` when the effective sample size :math:`n^* = \\hat p(1-\\hat
  p)/\\widehat{V}(\\hat p)` (at most the sample size; the sample size when the
  variance is zero) is below 30, or the Korn-Graubard 95% interval is 0.30
  wide or wider, or it is wider than 0.05 and wider than 130% of the
  estimate;
- ``review`` when the design has fewer than 8 degrees of freedom;
- ``ok`` otherwise.

References
----------
.. [1] Parker, J. D. et al. (2017). National Center for Health Statistics
   Data Presentation Standards for Proportions. *Vital and Health Statistics*
   2(175).
.. [2] Korn, E. L. and Graubard, B. I. (1998). Confidence intervals for
   proportions with small expected number of positive counts estimated from
   survey data. *Survey Methodology* 24, 193-201.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .design import SurveyDesign
from .errors import EstimationError, InnobaroWarning

__all__ = ["Report", "barometer_report", "reliability", "survey_report"]

BREAKDOWNS = {
    "sector": "Sector",
    "unit_type": "Unit type",
    "municipality_size": "Municipality size (inhabitants)",
    "centrality": "Centrality (SSB class, 1 = most central)",
    "region": "Region (landsdel)",
    "free_income_group": "Corrected free income (index, national average = 100)",
    "employee_class": "Unit size (employees)",
}

ITEMS = {
    "inno_service": "New or improved services",
    "inno_process_org": "New ways of organising work",
    "inno_communication": "New ways of communicating",
    "initiator_employees": "Employees started or carried the newest innovation",
    "initiator_leaders": "Leaders started it",
    "initiator_users": "Users or relatives started it",
    "collab_own_municipality": "Collaborated within the municipality",
    "collab_other_public": "Collaborated with other public bodies",
    "collab_private": "Collaborated with private firms",
}


def reliability(p: np.ndarray, var: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                n: np.ndarray, df: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NCHS reliability flag of proportions and their effective sample size.

    Parameters
    ----------
    p, var : arrays
        Estimated proportions and their design variances.
    lower, upper : arrays
        Korn-Graubard 95% interval.
    n : array
        Sample sizes (rows with positive weight).
    df : array
        Design degrees of freedom.

    Returns
    -------
    flags : array of str
        ``"suppress"``, ``"review"`` or ``"ok"``.
    n_eff : array
        The effective sample sizes.

    Examples
    --------
    >>> import numpy as np
    >>> from innobaro.report import reliability
    >>> flags, neff = reliability(np.array([0.5, 0.5]), np.array([0.0025, 0.0125]),
    ...                           np.array([0.40, 0.25]), np.array([0.60, 0.75]),
    ...                           np.array([200, 200]), np.array([50, 50]))
    >>> flags.tolist(), neff.round().tolist()
    (['ok', 'suppress'], [100.0, 20.0])
    """
    p, var = np.asarray(p, float), np.asarray(var, float)
    n = np.asarray(n, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        neff = np.where(var > 0, p * (1 - p) / var, n)
    neff = np.minimum(neff, n)
    width = np.asarray(upper, float) - np.asarray(lower, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(p > 0, width / p, np.inf)
    suppress = (neff < 30) | (width >= 0.30) | ((width > 0.05) & (relative > 1.30))
    review = np.asarray(df, float) < 8
    flags = np.where(suppress, "suppress", np.where(review, "review", "ok"))
    return flags, neff


@dataclass
class Section:
    """One part of a report: a title, a table and notes."""

    title: str
    table: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    key: str = ""


@dataclass
class Report:
    """A report: sections of tables, rendered as text, Markdown, HTML or JSON."""

    title: str
    preamble: list[str]
    sections: list[Section]
    figures_data: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------ rendering
    def to_text(self) -> str:
        out = [self.title, "=" * len(self.title), *self.preamble, ""]
        for s in self.sections:
            out += [s.title, "-" * len(s.title),
                    s.table.to_string(float_format=_fmt), *s.notes, ""]
        return "\n".join(out)

    def to_markdown(self) -> str:
        out = [f"# {self.title}", "", *self.preamble, ""]
        for s in self.sections:
            out += [f"## {s.title}", "", _markdown_table(s.table), ""]
            out += [f"_{n}_" for n in s.notes] + [""]
        return "\n".join(out)

    def to_html(self) -> str:
        import html

        parts = [f"<h1>{html.escape(self.title)}</h1>"]
        parts += [f"<p>{html.escape(p)}</p>" for p in self.preamble]
        for s in self.sections:
            parts.append(f"<h2>{html.escape(s.title)}</h2>")
            parts.append(s.table.to_html(float_format=_fmt, na_rep=""))
            parts += [f"<p><em>{html.escape(n)}</em></p>" for n in s.notes]
        body = "\n".join(parts)
        return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
                f"<title>{html.escape(self.title)}</title></head><body>\n{body}\n"
                "</body></html>\n")

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "preamble": self.preamble,
                "sections": [{"key": s.key, "title": s.title, "notes": s.notes,
                              "table": json.loads(s.table.reset_index().to_json(
                                  orient="records", double_precision=15))}
                             for s in self.sections]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    def render(self, fmt: str = "text") -> str:
        renderers = {"text": self.to_text, "markdown": self.to_markdown,
                     "html": self.to_html, "json": self.to_json}
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
            if not s.key.startswith("share:"):
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
            if s.key != "odds_ratios":
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


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def _markdown_table(t: pd.DataFrame) -> str:
    frame = t.reset_index()
    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.itertuples(index=False):
        cells = [_fmt(v) if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------
# building blocks
# ----------------------------------------------------------------------------
def share_table(design: SurveyDesign, outcome: str, by: str | None = None, *,
                na_rm: bool = True) -> pd.DataFrame:
    """Shares of a binary outcome with Korn-Graubard intervals and NCHS flags.

    Examples
    --------
    >>> from innobaro.datasets import barometer_design
    >>> from innobaro.report import share_table
    >>> share_table(barometer_design(), "innovated").columns.tolist()
    ['share', 'lower', 'upper', 'se', 'n', 'n_eff', 'df', 'flag']
    """
    from .estimators import proportion

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InnobaroWarning)
        est = proportion(design, outcome, by=by, method="beta", na_rm=na_rm)
    ci = est.ci(0.95)
    frame = est.to_frame()
    index = est.estimate.index
    if isinstance(index, pd.MultiIndex):
        index = index.droplevel(-1)
    else:
        index = pd.Index(["all"], name="")
    n = _counts(design, outcome, by, na_rm)
    p = est.estimate.to_numpy()
    var = est.se.to_numpy() ** 2
    df = frame["df"].to_numpy()
    flags, neff = reliability(p, var, ci["lower"].to_numpy(), ci["upper"].to_numpy(),
                              n, df)
    return pd.DataFrame({"share": p, "lower": ci["lower"].to_numpy(),
                         "upper": ci["upper"].to_numpy(), "se": np.sqrt(var), "n": n,
                         "n_eff": neff, "df": df, "flag": flags}, index=index)


def _counts(design: SurveyDesign, outcome: str, by: str | None, na_rm: bool) -> np.ndarray:
    data = design.data
    keep = design.present & (design.unmasked_weights > 0)
    if na_rm:
        keep &= data[outcome].notna().to_numpy()
    if by is None:
        return np.array([float(keep.sum())])
    counts = data.loc[keep, by].value_counts(sort=False)
    _codes, values = design.level_codes([by])
    levels = values[0]
    present = [v for v in levels if v in counts.index and counts[v] > 0]
    return np.array([float(counts[v]) for v in present])


def independence_tests(design: SurveyDesign, outcome: str, breakdowns: Sequence[str]
                       ) -> pd.DataFrame:
    """Rao-Scott F test of independence of the outcome and each breakdown."""
    from .independence import chisq_test

    rows = []
    for b in breakdowns:  # over the report's breakdowns
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InnobaroWarning)
            t = chisq_test(design, outcome, b, statistic="F", na_rm=True, drop_empty=True)
        ndf, ddf = t.df if isinstance(t.df, tuple) else (t.df, np.inf)
        rows.append({"breakdown": b, "F": t.statistic, "ndf": ndf, "ddf": ddf,
                     "p_value": t.p_value})
    return pd.DataFrame(rows).set_index("breakdown")


# ----------------------------------------------------------------------------
# reports
# ----------------------------------------------------------------------------
MODEL = ("innovated ~ C(municipality_size) + C(centrality, Treatment(3)) "
         "+ free_income + np.log(employees)")


def barometer_report() -> Report:
    """The innovation barometer report on the bundled synthetic data.

    Shares of units that innovated, overall and by sector, unit type,
    municipality size, centrality, region, corrected free income and unit
    size, with Korn-Graubard 95% intervals, NCHS reliability flags and a
    Rao-Scott test per breakdown; the survey logistic model of innovation on
    municipality size, centrality, corrected free income and unit size as
    odds ratios with term-wise Wald tests; predictive margins by municipality
    size and centrality; and the headline items among innovating units.

    Examples
    --------
    >>> from innobaro.report import barometer_report
    >>> r = barometer_report()
    >>> float(r.section("share:overall").table["n"].iloc[0])
    1786.0
    """
    from .datasets import barometer_design

    design = barometer_design()
    data = design.data
    groups = pd.cut(data["free_income"], [-np.inf, 95, 100, 105, np.inf],
                    labels=["below 95", "95-100", "100-105", "105 and above"], right=False)
    design = design.with_columns(free_income_group=groups)
    sections = [Section("Units that innovated in the last two years (all units)",
                        share_table(design, "innovated"), key="share:overall")]
    for col, title in BREAKDOWNS.items():
        sections.append(Section(f"Units that innovated, by {title.lower()}",
                                share_table(design, "innovated", col), key=f"share:{col}"))
    sections.append(Section("Does innovation differ between groups? (Rao-Scott F tests)",
                            independence_tests(design, "innovated", list(BREAKDOWNS)),
                            ["Second-order Rao-Scott correction of Pearson's chi-square "
                             "for the design (Rao and Scott 1984); degrees of freedom "
                             "may be fractional."], key="tests"))
    sections += _model_sections(design, MODEL, ["municipality_size", "centrality"])
    innovators = design.subset(data["innovated"] == 1)
    items = pd.concat([share_table(innovators, item).rename(index={"all": label})
                       for item, label in ITEMS.items()])
    items.index.name = "among units that innovated"
    sections.append(Section("About the newest innovation (units that innovated)", items,
                            key="share:items"))
    summary = design.weights_summary().table
    preamble = [
        "SYNTHETIC DATA: a simulated barometer built to reproduce the margins KS "
        "published for Innovasjonsbarometeret 2018 (see innobaro.datasets). Do not "
        "read the numbers as facts about real units.",
        f"Design: {design.n} responding units; weights post-stratified to unit type by "
        f"region; Kish effective sample size {summary['n_eff'].iloc[-1]:.0f} "
        f"(design effect of weighting {summary['deff_w'].iloc[-1]:.2f}); "
        f"design degrees of freedom {design.df:g}.",
        "Shares with Korn-Graubard 95% intervals on the design degrees of freedom; "
        "flag after the NCHS Data Presentation Standards for Proportions "
        "(suppress: effective n < 30 or an interval too wide; review: df < 8).",
    ]
    return Report("Innovation in Norwegian municipal units: the barometer, re-analysed",
                  preamble, sections)


def _model_sections(design: SurveyDesign, formula: str, margin_vars: Sequence[str],
                    title: str = "What predicts innovation? Survey logistic model "
                                 "(odds ratios)", *, names: dict[str, str] | None = None,
                    shown: str | None = None) -> list[Section]:
    """The model's sections; ``names`` maps terms of ``formula`` (aliases) to the
    names to show, and ``shown`` is the formula as the reader should see it."""
    from .models import glm

    names = names or {}

    def label(text: str) -> str:
        for term, name in names.items():
            text = text.replace(term, name)
        return text

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InnobaroWarning)
        model = glm(formula, design, family="binomial")
    ors = model.odds_ratios()
    ors["p_value"] = model.pvalues.to_numpy()
    ors = ors.drop(index="Intercept")
    ors.index = pd.Index([label(str(i)) for i in ors.index], name=ors.index.name)
    sections = [Section(title, ors,
                        [f"Model: {shown or formula}. Design-based standard errors; t "
                         f"intervals on {model.df_resid:g} residual degrees of freedom."],
                        key="odds_ratios")]
    tests = []
    for term in model.spec.terms:  # over the model's terms
        if term == "Intercept":
            continue
        t = model.wald_test(term)
        tests.append({"term": label(term), "F": t.statistic, "ndf": t.df_num,
                      "ddf": t.df_denom, "p_value": t.p_value})
    sections.append(Section("Term-wise Wald tests (R's regTermTest)",
                            pd.DataFrame(tests).set_index("term"), key="wald"))
    for var in margin_vars:
        m = model.margins(var)
        sections.append(Section(f"Predictive margins: share innovating if every unit had "
                                f"this {var.replace('_', ' ')}", m.table,
                                ["Korn and Graubard's predictive margins, averaged over the "
                                 "population; design-based standard errors including the "
                                 "model's uncertainty."], key=f"margins:{var}"))
    return sections


def survey_report(design: SurveyDesign, outcome: str, by: Sequence[str] = ()) -> Report:
    """The same kind of report for any survey with a binary outcome.

    Shares of ``outcome`` overall and by each ``by`` column with
    Korn-Graubard intervals and NCHS flags, a Rao-Scott test per breakdown,
    and, with breakdowns, a survey logistic model of the outcome on all of
    them with odds ratios, Wald tests and predictive margins.

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> from innobaro.report import survey_report
    >>> df = pd.DataFrame({"w": [1.0, 2] * 20, "g": list("ab") * 20,
    ...                    "y": [1, 0, 1, 1, 0, 1, 1, 0] * 5})
    >>> r = survey_report(ib.Design(df, weights="w"), "y", ["g"])
    >>> [s.key for s in r.sections][:3]
    ['share:overall', 'share:g', 'tests']
    """
    from ._validate import check_binary, check_columns

    check_columns(design.data, [outcome, *by], "report")
    col = design.data[outcome]
    if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
        raise EstimationError(f"the outcome {outcome!r} must be binary (0/1); it has "
                              f"values such as {col.dropna().iloc[0]!r}")
    check_binary(col.to_numpy(dtype=float, na_value=np.nan), outcome)
    sections = [Section(f"Share with {outcome} (all units)", share_table(design, outcome),
                        key="share:overall")]
    for name in by:  # over the breakdowns
        sections.append(Section(f"Share with {outcome}, by {name}",
                                share_table(design, outcome, name), key=f"share:{name}"))
    if by:
        sections.append(Section("Rao-Scott F tests",
                                independence_tests(design, outcome, list(by)), key="tests"))
        # a column name is data, never code: the model is fitted on aliases
        # that are plain identifiers, and its terms are shown with the names
        columns = [outcome, *by]
        alias = {c: f"_ib_column_{i}" for i, c in enumerate(columns)}
        safe = design.with_columns({alias[c]: design.data[c] for c in columns})
        formula = f"{alias[outcome]} ~ " + " + ".join(f"C({alias[c]})" for c in by)
        names = {f"C({alias[c]})": c for c in by}
        try:
            sections += _model_sections(safe, formula, [],
                                        f"Survey logistic model of {outcome} (odds ratios)",
                                        names=names,
                                        shown=f"{outcome} ~ {' + '.join(by)}")
        except Exception as exc:  # the model is optional in a user's report
            sections.append(Section("Survey logistic model", pd.DataFrame(),
                                    [f"not fitted: {exc}"], key="odds_ratios"))
    preamble = [f"Design: {design.n} rows; design degrees of freedom {design.df:g}.",
                "Shares with Korn-Graubard 95% intervals; NCHS reliability flags."]
    return Report(f"Survey report: {outcome}", preamble, sections)
