"""The barometer report: shares with intervals, tests, a model and margins.

:func:`barometer_report` answers the innovation barometer's questions on the
bundled synthetic data; :func:`survey_report` makes the same kind of report
for any survey with a binary outcome. A :class:`Report` renders as text,
Markdown, HTML or JSON, and can draw figures when matplotlib is installed.

Every share carries a reliability flag after the NCHS Data Presentation
Standards for Proportions (:mod:`innobaro.flags`); the document and its
formats are :mod:`innobaro.document`.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .design import SurveyDesign
from .document import Report, Section
from .errors import EstimationError, InnobaroWarning
from .flags import reliability

__all__ = ["Report", "Section", "barometer_report", "reliability", "survey_report"]

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
        EFFECTIVE_N_NOTE,
    ]
    metadata = {**_package_metadata(),
                "source": {"data": "innobaro.datasets.load_barometer()", "synthetic": True},
                "design": _design_metadata(design),
                "outcome": {"column": "innovated", "event": "1"},
                "model": MODEL, "rows": {"in_data": len(data), "in_design": int(design.n)}}
    return Report("Innovation in Norwegian municipal units: the barometer, re-analysed",
                  preamble, sections, metadata=metadata)


#: a categorical term of a formula, ``C(var[, contrast])``, and its level column
_CATEGORICAL_TERM = re.compile(
    r"^C\((?P<var>[A-Za-z_][A-Za-z_0-9]*)\s*(?:,\s*(?P<contrast>.*))?\)"
    r"(?:\[T\.(?P<level>.*)\])?$", re.DOTALL)
_TREATMENT = re.compile(r"^Treatment\((?:reference\s*=\s*)?(?P<ref>.*)\)$", re.DOTALL)


def _literal(text: str) -> str:
    """The printed form of a literal in a formula (``'a'`` -> ``a``, ``3`` -> ``3``)."""
    import ast

    try:
        return str(ast.literal_eval(text))
    except (ValueError, SyntaxError):
        return text


class _TermLabels:
    """Model terms as the reader should see them: ``sector: health care (vs
    education)`` rather than ``C(_ib_column_1)[T.health care]``.

    ``names`` maps the variables of the formula (aliases) to the names to
    show; the reference level of a categorical term is the level that has
    no column (the first present level, or the ``Treatment`` reference).
    """

    def __init__(self, design: SurveyDesign, columns: Sequence[str],
                 names: dict[str, str]) -> None:
        self.names = names
        self.design = design
        levels: dict[tuple[str, str], list[str]] = {}
        for col in columns:  # over the model's columns
            m = _CATEGORICAL_TERM.match(col)
            if m and m.group("level") is not None:
                key = (m.group("var"), m.group("contrast") or "")
                levels.setdefault(key, []).append(m.group("level"))
        self.references = {key: self._reference(*key, set(seen))
                           for key, seen in levels.items()}

    def _reference(self, var: str, contrast: str, seen: set[str]) -> str:
        t = _TREATMENT.match(contrast.strip())
        if t:
            return _literal(t.group("ref"))
        if var in self.design.data.columns:
            _codes, values = self.design.level_codes([var])
            for v in values[0]:  # over the levels of one factor
                if str(v) not in seen:
                    return str(v)
        return ""

    def name(self, var: str) -> str:
        return self.names.get(var, var)

    def __call__(self, label: str) -> str:
        m = _CATEGORICAL_TERM.match(label)
        if not m:
            for alias, name in self.names.items():
                label = label.replace(alias, name)
            return label
        var, level = m.group("var"), m.group("level")
        if level is None:
            return self.name(var)
        ref = self.references.get((var, m.group("contrast") or ""), "")
        return f"{self.name(var)}: {level}" + (f" (vs {ref})" if ref else "")


def _model_sections(design: SurveyDesign, formula: str, margin_vars: Sequence[str],
                    title: str = "What predicts innovation? Survey logistic model "
                                 "(odds ratios)", *, names: dict[str, str] | None = None,
                    shown: str | None = None) -> list[Section]:
    """The model's sections; ``names`` maps the variables of ``formula`` (aliases)
    to the names to show, and ``shown`` is the formula as the reader should see it."""
    from .models import glm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InnobaroWarning)
        model = glm(formula, design, family="binomial")
    if not model.df_resid > 0:
        raise EstimationError(f"the model has {model.rank} coefficients and the design "
                              f"{design.df:g} degrees of freedom, which leaves none for "
                              f"intervals and tests; use fewer breakdowns")
    label = _TermLabels(design, model.spec.column_names, names or {})
    ors = model.odds_ratios()
    ors["p_value"] = model.pvalues.to_numpy()
    ors = ors.drop(index="Intercept")
    ors.index = pd.Index([label(str(i)) for i in ors.index], name="term")
    dropped = f" {model.n_dropped} rows with a missing value were left out." \
        if model.n_dropped else ""
    notes = [f"Model: {shown or formula}, fitted on {model.nobs} rows.{dropped} "
             f"Design-based standard errors; t intervals on {model.df_resid:g} residual "
             f"degrees of freedom. A categorical variable's odds ratios compare each level "
             f"with the reference level named in brackets."]
    aliased = model.aliased.to_numpy()
    if aliased.any():
        names_ = [label(c) for c, a in zip(model.spec.column_names, aliased, strict=True) if a]
        notes.append(f"Not estimable, left blank (R's NA): {'; '.join(names_)}. These "
                     f"columns are combinations of the ones before them, as when one "
                     f"breakdown is nested in another or a level has no rows.")
    sections = [Section(title, ors, notes, key="odds_ratios")]
    tests = []
    for term, columns in model.spec.term_columns.items():  # over the model's terms
        if term == "Intercept" or aliased[columns].all():
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


#: the label of the rows with a missing value in a breakdown (``by_missing="row"``)
MISSING_LABEL = "(missing)"


def _breakdown(values: pd.Series, missing_row: bool) -> pd.Series:
    """A breakdown column as a categorical of printable labels in the data's
    order: a categorical's categories as they are ordered (SPSS and Stata
    value labels in code order), other values sorted, whole numbers printed
    without ``.0``, and the missing as a last level ``(missing)`` when asked."""
    present = values.dropna()
    if isinstance(values.dtype, pd.CategoricalDtype):
        order = list(values.cat.categories)
    else:
        try:
            order = sorted(present.unique().tolist())
        except TypeError:  # mixed types: sort by the printed form
            order = sorted(present.unique().tolist(), key=str)

    def printed(v: Any) -> str:
        if isinstance(v, (float, np.floating)) and float(v).is_integer():
            return str(int(v))
        return str(v)

    labels = [printed(v) for v in order]
    if len(set(labels)) < len(labels):  # two values print the same: keep them apart
        labels = [repr(v) for v in order]
    mapping = dict(zip(order, labels, strict=True))
    shown = values.map(mapping)
    categories = list(dict.fromkeys(labels))
    if missing_row and values.isna().any():
        missing = MISSING_LABEL if MISSING_LABEL not in categories else f"{MISSING_LABEL} "
        shown = shown.astype(object).where(values.notna(), missing)
        categories.append(missing)
    return pd.Series(pd.Categorical(shown, categories=categories), index=values.index,
                     name=values.name)


_YES = {"ja", "j", "yes", "y", "true", "1", "sant"}


def _likely_event(values: pd.Series) -> Any:
    """The value to suggest as the event: a yes-word if there is one, else the
    last category (code order: 0 no, 1 yes) or the last value sorted."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        order = [c for c in values.cat.categories if (values == c).any()]
    else:
        order = sorted(values.dropna().unique().tolist(), key=str)
    for v in order:  # over the outcome's few values
        if str(v).strip().lower() in _YES:
            return v
    return order[-1] if order else "yes"


def _event(values: pd.Series, outcome: str, level: Any) -> np.ndarray:
    """The outcome as 0/1 (NaN where missing): a 0/1 or true/false column as
    it is, other values compared with ``level``, the event."""
    from ._validate import check_binary

    missing = values.isna().to_numpy()
    present = values[~missing]
    shown = ", ".join(repr(v) for v in list(dict.fromkeys(present.tolist()))[:6])
    numeric = (pd.api.types.is_numeric_dtype(values)
               and not isinstance(values.dtype, pd.CategoricalDtype))
    if level is None:
        if pd.api.types.is_bool_dtype(values) or numeric:
            y = values.to_numpy(dtype=float, na_value=np.nan)
            check_binary(y, outcome)
            return y
        example = repr(_likely_event(values))
        raise EstimationError(f"the outcome {outcome!r} has the values {shown}: say which "
                              f"one is the event with outcome_level=LABEL, for example "
                              f"outcome_level={example}")
    if numeric:
        try:
            target: Any = float(level)
        except (TypeError, ValueError):
            raise EstimationError(f"outcome_level={level!r} is not a value of the numeric "
                                  f"outcome {outcome!r} (values {shown})") from None
        hit = values.to_numpy(dtype=float, na_value=np.nan) == target
    else:
        hit = values.astype(object).map(str).to_numpy() == str(level)
    if not hit[~missing].any():
        raise EstimationError(f"outcome_level={level!r} does not occur in the outcome "
                              f"{outcome!r} (values {shown})")
    return np.where(missing, np.nan, hit.astype(float))


def _design_metadata(design: SurveyDesign) -> dict[str, Any]:
    return {"description": repr(design).splitlines(), "rows": int(design.n),
            "degrees_of_freedom": float(design.df)}


def _package_metadata() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        v = version("innobaro")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        v = "unknown"
    return {"software": "innobaro", "version": v}


EFFECTIVE_N_NOTE = (
    "n is the number of sample rows in the group; n_eff is the share's effective "
    "sample size, p(1 - p) / Var(p) capped at n (the NCHS rule's n*), the size of a "
    "simple random sample that would give the same precision: it accounts for the "
    "weights and the clustering. The Kish effective sample size in the design line, "
    "n / (1 + CV(w)^2), counts only the loss from unequal weights.")


def survey_report(design: SurveyDesign, outcome: str, by: Sequence[str] = (), *,
                  outcome_level: Any = None, by_missing: str = "row",
                  source: dict[str, Any] | None = None) -> Report:
    """The same kind of report for any survey with a binary outcome.

    Shares of ``outcome`` overall and by each ``by`` column with
    Korn-Graubard intervals and NCHS flags, a Rao-Scott test per breakdown,
    and, with breakdowns, a survey logistic model of the outcome on all of
    them with odds ratios and Wald tests. Column names are data: the model
    is fitted on aliases, so no name is ever evaluated as code.

    Parameters
    ----------
    design : Design or ReplicateDesign
        The survey design.
    outcome : str
        The outcome column: 0/1 or true/false, or any values with
        ``outcome_level``.
    by : sequence of str
        Columns to break the shares down by.
    outcome_level : optional
        The value or label of ``outcome`` that is the event (``"Ja"``);
        compared with the printed values, so ``1`` and ``"1"`` both work.
    by_missing : {"row", "drop"}
        Rows with a missing value in a ``by`` column: a last row labelled
        ``(missing)`` in that breakdown (and a level of the model), or left
        out of that breakdown (and of the model), with the count stated.
    source : dict, optional
        What the data came from (file, format, how it was read); goes into
        the report's metadata and preamble.

    Returns
    -------
    Report

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
    from ._validate import check_columns

    by = list(by)
    if by_missing not in ("row", "drop"):
        raise ValueError(f"by_missing must be 'row' or 'drop'; got {by_missing!r}")
    if len(set(by)) < len(by) or outcome in by:
        raise ValueError("name each column once in by, and not the outcome")
    check_columns(design.data, [outcome, *by], "report")
    data = design.data
    sampled = design.present & (design.unmasked_weights > 0)
    # a column name is data, never code: the tables and the model use aliases
    # that are plain identifiers, and show the names
    alias = {c: f"_ib_column_{i}" for i, c in enumerate(by)}
    y = _event(data[outcome], outcome, outcome_level)
    columns: dict[str, Any] = {"_ib_outcome": y}
    used = sampled & ~np.isnan(y)
    missing_by: dict[str, int] = {}
    for c in by:  # over the breakdowns
        missing_by[c] = int((data[c].isna().to_numpy() & used).sum())
        columns[alias[c]] = _breakdown(data[c], by_missing == "row")
    safe = design.with_columns(columns)
    shown_outcome = outcome if outcome_level is None else f"{outcome} = {outcome_level}"
    missing_y = int((np.isnan(y) & sampled).sum())

    sections = [Section(f"Share with {shown_outcome} (all units)",
                        share_table(safe, "_ib_outcome"), key="share:overall")]
    tests = []
    for c in by:  # over the breakdowns
        part = safe
        notes = []
        if missing_by[c] and by_missing == "drop":
            part = safe.subset(data[c].notna().to_numpy())
            notes.append(f"{missing_by[c]} rows with no value of {c} are left out.")
        elif missing_by[c]:
            notes.append(f"{missing_by[c]} rows with no value of {c} are the row "
                         f"{MISSING_LABEL}.")
        table = share_table(part, "_ib_outcome", alias[c])
        table.index.name = c
        sections.append(Section(f"Share with {shown_outcome}, by {c}", table, notes,
                                key=f"share:{c}"))
        tests.append(independence_tests(part, "_ib_outcome", [alias[c]]).rename(
            index={alias[c]: c}))
    if by:
        sections.append(Section("Rao-Scott F tests", pd.concat(tests), key="tests"))
        model_design = safe
        complete = ~np.isnan(y)
        if by_missing == "drop":
            complete &= data[by].notna().all(axis=1).to_numpy()
        model_design = safe.subset(complete)
        formula = "_ib_outcome ~ " + " + ".join(f"C({alias[c]})" for c in by)
        names = {alias[c]: c for c in by}
        title = f"Survey logistic model of {shown_outcome} (odds ratios)"
        try:
            sections += _model_sections(model_design, formula, [], title, names=names,
                                        shown=f"{shown_outcome} ~ {' + '.join(by)}")
        except Exception as exc:  # the model is optional in a user's report
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            for c, a in alias.items():
                reason = reason.replace(a, c)
            sections.append(Section(f"{title}: not fitted", pd.DataFrame(),
                                    [f"The model could not be fitted: {reason}"],
                                    key="odds_ratios"))
    n_used = int(sampled.sum())
    rows = {"in_data": len(data), "in_design": int(design.n), "with_positive_weight": n_used,
            "missing_outcome": missing_y, "with_outcome": int(used.sum()),
            "missing_by": missing_by}
    metadata = {**_package_metadata(), "source": source, "design": _design_metadata(
        design), "outcome": {"column": outcome, "event": None if outcome_level is None
                             else str(outcome_level)},
        "by": by, "by_missing": by_missing, "rows": rows}
    summary = design.weights_summary().table
    preamble = []
    source = source or {}
    file = source.get("path") or source.get("file")
    if file:
        how = ", ".join(f"{k} {source[k]!r}" for k in ("format", "sep", "decimal", "encoding")
                        if source.get(k) is not None)
        preamble.append(f"Data: {file}" + (f" ({how})" if how else "") +
                        f"; {len(data)} rows read.")
    preamble += [f"Reading: {note}" for note in source.get("notes", [])]
    for column, counts in source.get("na_counts", {}).items():  # over the coded columns
        blanked = ", ".join(f"{code!r} in {cells} rows" for code, cells in counts.items())
        preamble.append(f"Missing codes in {column}: {blanked}.")
    first = repr(design).splitlines()
    preamble += [
        f"{' '.join(line.strip() for line in first)}; Kish effective sample size "
        f"{summary['n_eff'].iloc[-1]:.0f} (design effect of weighting "
        f"{summary['deff_w'].iloc[-1]:.2f}).",
        f"Outcome: share with {shown_outcome}"
        + (f"; {missing_y} rows with no value of {outcome} are left out of every table."
           if missing_y else "."),
        "Shares with Korn-Graubard 95% intervals on the design degrees of freedom; "
        "NCHS reliability flags (suppress: n_eff < 30 or an interval too wide; review: "
        "df < 8).",
        EFFECTIVE_N_NOTE,
    ]
    return Report(f"Survey report: {shown_outcome}", preamble, sections, metadata=metadata)
