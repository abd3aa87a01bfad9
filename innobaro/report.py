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
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .design import SurveyDesign
from .document import Report, Section
from .errors import EstimationError, InnobaroWarning
from .flags import reliability

__all__ = ["REPORT_SE", "BarometerReport", "Report", "Section", "barometer_designs",
           "barometer_report", "claims_ledger", "editions_design", "reliability", "report_se",
           "survey_report"]

#: The standard errors the reports use on a linearisation design: Bell and
#: McCaffrey's bias-reduced linearisation with Satterthwaite degrees of
#: freedom under an exchangeable working correlation, which the coverage study
#: (docs/guide/coverage.md) found to keep nominal 95% intervals at 95% on a
#: barometer-like design where R's default linearisation covers 0.93-0.94.
REPORT_SE = "bell-mccaffrey-2"


def report_se(design: SurveyDesign) -> str:
    """The ``se=`` the reports use on ``design``.

    :data:`REPORT_SE` on a linearisation design; ``"linearized"`` where no
    small-sample correction exists (replicate designs, whose replicate
    variance is used as it is, and two-phase designs).

    Parameters
    ----------
    design : Design or ReplicateDesign

    Returns
    -------
    str

    Examples
    --------
    >>> import pandas as pd
    >>> import innobaro as ib
    >>> from innobaro.report import report_se
    >>> d = ib.Design(pd.DataFrame({"w": [1.0, 2.0, 3.0]}), weights="w")
    >>> report_se(d), report_se(d.replicate("jk1"))
    ('bell-mccaffrey-2', 'linearized')
    """
    from .design import Design
    from .twophase import TwoPhaseDesign

    plain = isinstance(design, Design) and not isinstance(design, TwoPhaseDesign)
    return REPORT_SE if plain else "linearized"


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
    "collab_own_municipality": "Collaborated within the municipality",
    "collab_other_public": "Collaborated with other public bodies",
    "collab_private": "Collaborated with private firms",
    "involved_citizens": "Involved citizens or users",
}

#: who started or carried the newest innovation: a multi-select question (up to
#: three ticked), reported as a multiple-response table
INITIATORS = {
    "initiator_employees": "Employees",
    "initiator_leaders": "Leaders",
    "initiator_users": "Users or relatives",
    "initiator_politicians": "Political leadership",
    "initiator_private": "Private firms",
    "initiator_research": "Research institutions",
    "initiator_voluntary": "Voluntary organisations",
}


# ----------------------------------------------------------------------------
# building blocks
# ----------------------------------------------------------------------------
def share_table(design: SurveyDesign, outcome: str, by: str | None = None, *,
                na_rm: bool = True, se: str | None = None) -> pd.DataFrame:
    """Shares of a binary outcome with Korn-Graubard intervals and NCHS flags
    with their reasons (:func:`innobaro.flags.flagged_shares`), with the
    report's standard errors (``se=None``: :func:`report_se`).

    Examples
    --------
    >>> from innobaro.datasets import barometer_design
    >>> from innobaro.report import share_table
    >>> share_table(barometer_design(), "innovated").columns.tolist()
    ['share', 'lower', 'upper', 'se', 'n', 'n_eff', 'df', 'flag', 'reason']
    """
    from .flags import flagged_shares

    return flagged_shares(design, outcome, by, na_rm=na_rm,
                          se=report_se(design) if se is None else se)


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
#: the model KS's claims suggest, as innobaro's first report fitted it
MODEL = ("innovated ~ C(municipality_size) + C(centrality, Treatment(3)) "
         "+ free_income + np.log(employees)")

#: the model that answers the claims: unit type and region added, free income per
#: 10 index points, unit size per doubling of employees
CLAIMS_MODEL = ("innovated ~ C(unit_type) + C(region) + C(municipality_size) "
                "+ C(centrality, Treatment(3)) + free_income_10 + log2_employees")

#: the same with sector for unit type (unit type is nested in sector): for the
#: adjusted difference between the sectors
SECTOR_MODEL = CLAIMS_MODEL.replace("C(unit_type)", "C(sector)")

#: how the model's derived variables are shown
MODEL_NAMES = {"free_income_10": "corrected free income (per 10 points)",
               "log2_employees": "unit size (per doubling of employees)"}

MEDIUM_SIZE = ("10000-19999", "20000-49999")
MEDIUM_CENTRALITY = (3, 4)

#: employees and free-income values at which the report gives predictive margins
EMPLOYEES_AT = (5, 10, 20, 50, 100, 200)
FREE_INCOME_AT = (90, 95, 100, 105, 110, 120)

#: published Danish benchmarks (BAROMETER.md): item -> Danish share
DANISH = {"collab_own_municipality": 0.56, "collab_private": 0.27}


@dataclass
class BarometerReport(Report):
    """The barometer report, whose JSON also carries the claims ledger as a
    top-level ``"claims"`` list (one object per claim)."""

    claims: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        return {"title": out.pop("title"), "claims": self.claims, **out}


def barometer_designs() -> dict[str, SurveyDesign]:
    """The designs of the barometer report, on the bundled synthetic data.

    - ``"report"``: the stratified sample of units by unit type with the
      finite population correction (population counts of the strata), the
      design weights post-stratified to the unit counts by unit type x region
      of the frame, and the post-stratification carried into the variance;
    - ``"clusters"``: the same weighting, municipalities within unit types as
      primary sampling units drawn with replacement (a sensitivity analysis:
      municipality size, centrality and free income vary only between
      municipalities, and innovation is correlated within them);
    - ``"published"``: the published final weights taken as fixed, without
      fpc (:func:`innobaro.datasets.barometer_design`).

    Each has the columns ``free_income_10`` (free income / 10) and
    ``log2_employees`` added for the model.

    Returns
    -------
    dict of str to Design

    Examples
    --------
    >>> from innobaro.report import barometer_designs
    >>> d = barometer_designs()
    >>> sorted(d), d["report"].has_fpc, d["clusters"].n_psu
    (['clusters', 'published', 'report'], True, 1143)
    """
    from .datasets import barometer_design, load_barometer, load_barometer_frame
    from .design import Design

    data = load_barometer()
    frame = load_barometer_frame()
    cells = frame.groupby(["unit_type", "region"], observed=True).size()
    population = cells.rename("units").reset_index()
    extra = {"free_income_10": data["free_income"] / 10,
             "log2_employees": np.log2(data["employees"])}
    report = Design(data, weights="design_weight", strata="stratum", fpc="stratum_units")
    clusters = Design(data, weights="design_weight", strata="stratum",
                      psu="municipality_code", nest=True)
    return {"report": report.poststratify(["unit_type", "region"], population)
            .with_columns(extra),
            "clusters": clusters.poststratify(["unit_type", "region"], population)
            .with_columns(extra),
            "published": barometer_design(data).with_columns(extra)}


def _fit(formula: str, design: SurveyDesign) -> Any:
    from .models import glm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InnobaroWarning)
        return glm(formula, design, family="binomial", se=report_se(design))


def _medium_contrast(levels: Sequence[Any], medium: Sequence[Any]) -> dict[Any, float]:
    """Weights of "the medium levels on average minus the others on average"."""
    inside = [v for v in levels if v in medium]
    outside = [v for v in levels if v not in medium]
    return {**{v: 1 / len(inside) for v in inside}, **{v: -1 / len(outside) for v in outside}}


def _entry(est: Any, null: float = 0.0, row: Any = 0) -> dict[str, float]:
    """Estimate, interval, se and test of one entry of an Estimate."""
    ci = est.ci()
    test = est.test(null)
    i = row if isinstance(row, int) else list(est.estimate.index).index(row)
    return {"estimate": float(est.estimate.iloc[i]), "lower": float(ci["lower"].iloc[i]),
            "upper": float(ci["upper"].iloc[i]), "se": float(est.se.iloc[i]),
            "p_value": float(test["pvalue"].iloc[i])}


def _odds_ratio(model: Any, term: str) -> dict[str, float]:
    ors = model.odds_ratios()
    return {"estimate": float(ors.loc[term, "odds_ratio"]),
            "lower": float(ors.loc[term, "lower"]), "upper": float(ors.loc[term, "upper"]),
            "se": float(model.se[term]), "p_value": float(model.pvalues[term])}


def _claim_numbers(design: SurveyDesign) -> dict[str, dict[str, Any]]:
    """Every number of the claims ledger on one design: ``{claim: {"bivariate":
    {...}, "adjusted": {...}}}``, each from the library's estimators and tests."""
    from .contrasts import contrast
    from .estimators import proportion
    from .independence import chisq_test

    data = design.data
    model = _fit(CLAIMS_MODEL, design)
    by_sector = _fit(SECTOR_MODEL, design)
    innovators = design.subset(data["innovated"] == 1)
    out: dict[str, dict[str, Any]] = {}
    se = report_se(design)
    overall = proportion(design, "innovated", method="beta", se=se)
    out["three_in_four"] = {"bivariate": _entry(overall, 0.75)}
    sector = proportion(design, "innovated", by="sector", method="beta", se=se)
    out["education_80"] = {"bivariate": _entry(sector, 0.80, ("education", "innovated"))}
    out["health_70"] = {"bivariate": _entry(sector, 0.70, ("health_care", "innovated"))}
    difference = {"education": 1.0, "health_care": -1.0}
    out["education_above_health"] = {
        "bivariate": _entry(contrast(sector, difference)),
        "adjusted": _entry(contrast(by_sector.margins("sector"), difference))}
    employees = proportion(innovators, "initiator_employees", method="beta", se=se)
    out["employees_88"] = {"bivariate": _entry(employees, 0.88)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InnobaroWarning)
        regions = chisq_test(design, "innovated", "region")
    out["all_over_the_country"] = {
        "bivariate": {"p_value": float(regions.pvalue)},
        "adjusted": {"p_value": float(model.wald_test("C(region)").pvalue)}}
    for claim, var, medium in (("medium_size", "municipality_size", MEDIUM_SIZE),
                               ("medium_centrality", "centrality", MEDIUM_CENTRALITY)):
        shares = proportion(design, "innovated", by=var, method="beta", se=se)
        levels = [k[0] for k in shares.estimate.index]
        margins = model.margins(var)
        out[claim] = {
            "bivariate": _entry(contrast(shares, _medium_contrast(levels, medium))),
            "adjusted": _entry(contrast(margins, _medium_contrast(
                list(margins.estimate.index), medium)))}
    for claim, var in (("low_free_income", "free_income_10"),
                       ("large_units", "log2_employees")):
        alone = _fit(f"innovated ~ {var}", design)
        out[claim] = {"bivariate": _odds_ratio(alone, var),
                      "adjusted": _odds_ratio(model, var)}
    for item, share in DANISH.items():
        out[f"denmark_{item}"] = {"bivariate": _entry(
            proportion(innovators, item, method="beta", se=se), share)}
    out["_models"] = {"claims": model, "sector": by_sector}
    return out


#: the claims KS published (BAROMETER.md), in the order of its launch text:
#: key, short label, claim, published figure, kind, measure, sign, null value
CLAIMS: tuple[tuple[str, str, str, str, str, str, int, float], ...] = (
    (
        "three_in_four",
        "3 in 4 units innovated",
        "Three in four units introduced at least one innovation in the last two years",
        "74% (three in four)",
        "level",
        "share of all units",
        1,
        0.75,
    ),
    (
        "education_80",
        "education: 8 in 10",
        "Eight in ten units in education innovated",
        "about 80%",
        "level",
        "share of education units",
        1,
        0.8,
    ),
    (
        "health_70",
        "health and care: 7 in 10",
        "Seven in ten units in health and care innovated",
        "about 70%",
        "level",
        "share of health and care units",
        1,
        0.7,
    ),
    (
        "education_above_health",
        "education above health and care",
        "Education innovates more than health and care",
        "80% against 70%",
        "direction",
        "difference of shares, education - health and care (adjusted: of predictive "
        "margins)",
        1,
        0.0,
    ),
    (
        "employees_88",
        "employees initiated: 88%",
        "88% say employees initiated or carried the newest innovation",
        "88%",
        "level",
        "share of innovating units",
        1,
        0.88,
    ),
    (
        "all_over_the_country",
        "all over the country",
        "Innovation happens all over the country",
        "within a few points",
        "no difference",
        "Rao-Scott F test of region (adjusted: Wald F test of the region term)",
        1,
        0.0,
    ),
    (
        "medium_size",
        "medium-sized municipalities",
        "The innovative municipality is medium-sized (10-50,000 inhabitants)",
        "highest at 10-50,000",
        "direction",
        "medium sizes minus the other sizes, on average (a 1-df contrast of shares; "
        "adjusted: of predictive margins)",
        1,
        0.0,
    ),
    (
        "medium_centrality",
        "medium centrality",
        "The innovative municipality is of medium centrality (classes 3-4)",
        "highest at medium centrality",
        "direction",
        "classes 3-4 minus the other classes, on average (1-df contrast)",
        1,
        0.0,
    ),
    (
        "low_free_income",
        "low free income",
        "The innovative municipality has a low corrected free income",
        "more innovation where free income is low",
        "direction",
        "odds ratio per 10 index points",
        -1,
        1.0,
    ),
    (
        "large_units",
        "large units",
        "Large units innovate more",
        "about 60% under 10 employees to 85% at 100 or more",
        "direction",
        "odds ratio per doubling of employees",
        1,
        1.0,
    ),
    (
        "denmark_collab_own_municipality",
        "Denmark: own municipality 56%",
        "On a par with Denmark: collaboration within the municipality",
        "57% (Denmark 56%)",
        "no difference",
        "share of innovating units against Denmark's 56%, taken as fixed",
        1,
        0.56,
    ),
    (
        "denmark_collab_private",
        "Denmark: private firms 27%",
        "On a par with Denmark: private firms involved",
        "21% (Denmark 27%)",
        "no difference",
        "share of innovating units against Denmark's 27%, taken as fixed",
        1,
        0.27,
    ),
    (
        "learn_from_each_other",
        "learn from each other",
        "Municipalities learn from each other and reuse ideas",
        "stated in the launch text",
        "not measured",
        "no item in the data asks it",
        1,
        0.0,
    ),
)

VERDICT_NOTE = (
    "Verdicts (innobaro.claims): a level is supported when the 95% interval contains "
    "the claimed value (a Wald t test does not reject it); a direction is supported when "
    "the estimate has the claimed sign and its test rejects no difference at 5%, "
    "'direction only' when the sign holds but the test does not reject; 'no difference' "
    "is supported when the test does not reject equality; 'not measured' when no item "
    "answers the claim. The verdict is the adjusted one where the model gives one. "
    "Supported for a level or no-difference claim means compatible with the data, not "
    "proven: read the interval.")


def claims_ledger(numbers: dict[str, dict[str, Any]],
                  clustered: dict[str, dict[str, Any]] | None = None
                  ) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The claims ledger: one row per published claim, from :func:`_claim_numbers`.

    Returns the table (indexed by the claim) and the same as a list of JSON
    objects with ``claim``, ``estimate``, ``lower``, ``upper``, ``p_value``
    (null where no test applies) and ``verdict``, and the adjusted and
    municipality-cluster figures.
    """
    from .claims import verdict

    rows, objects = [], []
    for i, (key, short, text, published, kind, measure, sign, null) in enumerate(CLAIMS, 1):
        got = numbers.get(key, {})
        bi = got.get("bivariate", {})
        adj = got.get("adjusted", {})
        cl = (clustered or {}).get(key, {})
        cl_p = (cl.get("adjusted") or cl.get("bivariate") or {}).get("p_value")
        if kind == "not measured":
            judged, judged_bi = "not measured", "not measured"
        else:
            judged_bi = verdict(kind, bi.get("estimate"), null, bi.get("p_value"),
                                sign=sign)
            main = adj if adj else bi
            judged = verdict(kind, main.get("estimate"), null, main.get("p_value"),
                             sign=sign)
        cl_verdict = None
        if cl_p is not None:
            main_cl = cl.get("adjusted") or cl.get("bivariate") or {}
            cl_verdict = verdict(kind, main_cl.get("estimate"), null, cl_p, sign=sign)
        row = {"label": f"[{i}] {short}", "claim": text, "published": published,
               "measure": measure,
               "estimate": bi.get("estimate"), "lower": bi.get("lower"),
               "upper": bi.get("upper"), "p_value": bi.get("p_value"),
               "adjusted": adj.get("estimate"), "adjusted_lower": adj.get("lower"),
               "adjusted_upper": adj.get("upper"), "adjusted_p_value": adj.get("p_value"),
               "clusters_p_value": cl_p, "verdict_bivariate": judged_bi,
               "verdict_clusters": cl_verdict, "verdict": judged}
        objects.append({"key": key, **{k: (None if isinstance(v, float) and np.isnan(v)
                                           else v) for k, v in row.items() if k != "label"}})
        rows.append(row)
    table = pd.DataFrame(rows).set_index("label")
    table.index.name = "claim"
    table = table[["estimate", "lower", "upper", "p_value", "adjusted", "adjusted_lower",
                   "adjusted_upper", "adjusted_p_value", "clusters_p_value", "verdict"]]
    table = table.astype({c: float for c in table.columns if c != "verdict"})
    table.columns = ["estimate", "lower", "upper", "p_value", "adjusted", "adj_lower",
                     "adj_upper", "adj_p_value", "clusters_p_value", "verdict"]
    return table, objects


def _ledger_notes(objects: list[dict[str, Any]]) -> list[str]:
    notes = [VERDICT_NOTE]
    for i, o in enumerate(objects, 1):  # over the claims
        extra = ""
        if o["verdict_clusters"] not in (None, o["verdict"]):
            extra = f"; with municipalities as clusters: {o['verdict_clusters']}"
        if o["verdict_bivariate"] != o["verdict"]:
            extra += f"; bivariate: {o['verdict_bivariate']}"
        notes.append(f"[{i}] {o['claim']} (published: {o['published']}): {o['measure']}; "
                     f"{o['verdict']}{extra}.")
    notes.append("Denmark's figures are taken as fixed benchmarks: Statistics Denmark "
                 "computed no sampling error for them, so the tests ignore it and are too "
                 "ready to reject.")
    return notes


def barometer_report() -> Report:
    """The innovation barometer report on the bundled synthetic data.

    It opens with a ledger of the claims KS published, each with its
    bivariate and model-adjusted estimate, interval, test and a verdict
    (:mod:`innobaro.claims`); then shares of units that innovated overall and
    by sector, unit type, municipality size, centrality, region, corrected
    free income and unit size (Korn-Graubard intervals, NCHS reliability
    flags, Rao-Scott tests); the survey logistic model that answers the
    claims (unit type, region, size, centrality, free income per 10 points,
    unit size per doubling) with odds ratios, Wald tests, pseudo-R-squared,
    predictive margins for every claimed trait, the average marginal effect
    of a doubling of unit size and a collinearity diagnostic; the published
    specification beside it; the standard errors under three variance
    methods; county x sector shares, direct beside the Fay-Herriot
    model-based estimate (:func:`innobaro.sae.county_estimates`); and the
    items on the newest innovation.

    The variance uses the finite population correction and carries the
    post-stratification to unit type x region (:func:`barometer_designs`).

    Examples
    --------
    >>> from innobaro.report import barometer_report
    >>> r = barometer_report()
    >>> float(r.section("share:overall").table["n"].iloc[0])
    1786.0
    >>> r.section("claims").table["verdict"].iloc[0]
    'supported'
    """
    from .datasets import data_dictionary, load_municipalities
    from .diagnostics import gvif
    from .document import labels_from_dictionary
    from .flags import flagged_shares

    designs = barometer_designs()
    design = designs["report"]
    data = design.data
    numbers = _claim_numbers(design)
    clustered = _claim_numbers(designs["clusters"])
    ledger, claims = claims_ledger(numbers, clustered)
    sections = [Section("What KS published, checked: the claims ledger", ledger,
                        _ledger_notes(claims), key="claims")]

    groups = pd.cut(data["free_income"], [-np.inf, 95, 100, 105, np.inf],
                    labels=["below 95", "95-100", "100-105", "105 and above"], right=False)
    design = design.with_columns(free_income_group=groups)
    sections.append(Section("Units that innovated in the last two years (all units)",
                            share_table(design, "innovated"), key="share:overall"))
    for col, title in BREAKDOWNS.items():
        sections.append(Section(f"Units that innovated, by {title.lower()}",
                                share_table(design, "innovated", col), key=f"share:{col}"))
    sections.append(Section("Does innovation differ between groups? (Rao-Scott F tests)",
                            independence_tests(design, "innovated", list(BREAKDOWNS)),
                            ["Second-order Rao-Scott correction of Pearson's chi-square "
                             "for the design (Rao and Scott 1984); degrees of freedom "
                             "may be fractional."], key="tests"))

    sections.append(Section.pivot(
        "Units that innovated, by county and sector", flagged_shares(
            design, "innovated", ["county", "sector"], se=report_se(design)),
        key="county_sector",
        notes=["County (fylke) by sector: the cells where the NCHS standard matters. "
               "Suppressed cells are blank, with the reason in a footnote; the JSON keeps "
               "every number with its flag."]))
    sections.append(_county_model_section(designs["report"]))
    model = numbers["_models"]["claims"]
    sections += _claims_model_sections(design, model)
    collinearity = gvif(model)
    collinearity.index = pd.Index([_TermLabels(design, [], MODEL_NAMES)(t)
                                   for t in collinearity.index], name="term")
    munis = load_municipalities()
    cross = pd.crosstab(munis["municipality_size"], munis["centrality"])
    sections.append(Section(
        "Collinearity: generalised variance-inflation factors (Fox and Monette 1992)",
        collinearity,
        ["GVIF^(1/(2 df)) is on the scale of a standard error: municipality size and "
         "centrality inflate each other's standard errors, because in the municipality "
         "frame they are close to one variable (the table below). Their separate effects "
         "are estimated imprecisely, so 'medium-sized' and 'medium centrality' cannot be "
         "told apart well; the 1-df contrasts in the ledger and the term tests say how "
         "much the data can tell."], key="gvif"))
    cross.index.name = "municipality size"
    cross.columns = [f"centrality {c}" for c in cross.columns]
    sections.append(Section("Municipalities by size and centrality (the 426 of 2017)",
                            cross, key="size_by_centrality"))
    sections += _model_sections(designs["report"], MODEL, [],
                                "The published specification, for comparison (odds "
                                "ratios)", key_prefix="published_")
    sections[-2].notes.append(
        "The specification the published claims suggest. It leaves out unit type, the "
        "strongest predictor (Rao-Scott F above), so unit size stands in for it, and "
        "region, though 'anywhere' is a claim; its odds ratios are per e-fold of "
        "employees and per single free-income point. The claims model above answers the "
        "claims.")
    sections.append(_sensitivity(designs, numbers, clustered))

    innovators = design.subset(data["innovated"] == 1)
    items = pd.concat([share_table(innovators, item).rename(index={"all": label})
                       for item, label in ITEMS.items()])
    items.index.name = "among units that innovated"
    sections.append(Section("About the newest innovation (units that innovated)", items,
                            key="share:items"))
    sections.append(_initiators_section(innovators))
    sections.append(_editions_section())
    idle = share_table(design.subset(data["innovated"] == 0), "development_underway")
    idle.index = pd.Index(["Development under way"], name="among units that did not innovate")
    sections.append(Section("Units that did not innovate: development under way", idle,
                            ["KS published 'one in four' non-innovating units with "
                             "development under way."], key="share:development"))
    summary = design.weights_summary().table
    units = pd.DataFrame({"stratum": data["stratum"], "units": data["stratum_units"],
                          "sampled": data["stratum_sampled"]})
    stratum = units.groupby("stratum", observed=True).agg(
        respondents=("units", "size"), units=("units", "first"), sampled=("sampled", "first"))
    fractions = pd.DataFrame({"sampled": stratum["sampled"] / stratum["units"],
                              "responding": stratum["respondents"] / stratum["units"]})
    preamble = [
        "SYNTHETIC DATA: a simulated barometer built to reproduce the margins KS "
        "published for Innovasjonsbarometeret 2018 (see innobaro.datasets). Do not "
        "read the numbers as facts about real units.",
        f"Design: {design.n} responding units, a stratified simple random sample of the "
        f"frame's units by unit type ({len(stratum)} strata, sampling fractions "
        f"{_span(fractions['sampled'])}; the respondents are {_span(fractions['responding'])} "
        f"of the units, the fraction the finite population correction uses); design "
        f"weights post-stratified to the frame's unit counts by unit "
        f"type x region, the post-stratification carried into the variance (linearisation "
        f"with Bell and McCaffrey's small-sample correction and Satterthwaite degrees of "
        f"freedom, se={REPORT_SE!r}, the method innobaro's coverage study recommends for "
        f"designs like this one); "
        f"Kish effective sample size {summary['n_eff'].iloc[-1]:.0f} (design effect of "
        f"weighting {summary['deff_w'].iloc[-1]:.2f}); design degrees of freedom "
        f"{design.df:g}. A sensitivity analysis treats municipalities within unit types as "
        f"clusters.",
        FLAGS_NOTE,
        EFFECTIVE_N_NOTE,
    ]
    metadata = {**_package_metadata(),
                "source": {"data": "innobaro.datasets.load_barometer()", "synthetic": True},
                "design": {**_design_metadata(designs["report"]),
                           "weights": "design_weight post-stratified to unit_type x region",
                           "strata": "stratum", "fpc": "stratum_units",
                           "variance": "linearisation with the post-stratification",
                           "se": REPORT_SE},
                "outcome": {"column": "innovated", "event": "1"},
                "model": CLAIMS_MODEL, "published_model": MODEL,
                "rows": {"in_data": len(data), "in_design": int(design.n)},
                "methods": _barometer_methods(designs["report"], fractions)}
    dictionary = labels_from_dictionary(data_dictionary())
    labels = {"nb": {**dictionary, **TITLES_NB, **_terms_nb(sections, dictionary)}}
    return BarometerReport("Innovation in Norwegian municipal units: the barometer, "
                           "re-analysed", preamble, sections, metadata=metadata, claims=claims,
                           labels=labels)


def _county_model_section(design: SurveyDesign) -> Section:
    """County x sector shares, direct beside Fay-Herriot (:func:`innobaro.sae.county_estimates`).

    The direct share keeps its NCHS flag per cell (suppressed cells are
    blank); the model-based share has its root MSE (Prasad-Rao), its CV and
    the weight the model gives the direct estimate (the shrinkage factor).
    """
    from .sae import CV_REVIEW, CV_SUPPRESS, county_estimates

    est = county_estimates("innovated", design=design, se=report_se(design))
    table = pd.DataFrame({"n": est["n"], "direct": est["direct"],
                          "direct_se": est["direct_se"], "model": est["eblup"],
                          "model_rmse": est["eblup_rmse"], "model_cv": est["eblup_cv"],
                          "weight_on_direct": est["shrinkage"]}, index=est.index)
    flags = pd.DataFrame("", index=table.index, columns=table.columns)
    reasons = flags.copy()
    flags["direct"] = est["direct_flag"].astype(str)
    reasons["direct"] = est["direct_reason"].astype(str)
    suppressed = int((est["direct_flag"] == "suppress").sum())
    review = int((est["direct_flag"] == "review").sum())
    model_bad = int(est["eblup_flag"].isin(["suppress", "review"]).sum())
    cells = len(est)
    return Section(
        "Counties: direct and model-based shares (Fay-Herriot)", table,
        [f"Of the {cells} county x sector cells, the NCHS standard suppresses {suppressed} "
         f"direct shares and sends {review} to review. The model-based share is the "
         f"Fay-Herriot EBLUP (Fay and Herriot 1979; REML): each cell's direct share, "
         f"with its design-based variance, on the sector "
         f"and the mean centrality and corrected free income of the cell's units in the "
         f"frame; it weighs the direct share by 'weight on direct' and the regression "
         f"prediction by the rest (innobaro.sae.county_estimates).",
         f"Model RMSE: the Prasad-Rao root mean squared error. By the CV rule for "
         f"model-based estimates (review above {CV_REVIEW:.0%}, suppress above "
         f"{CV_SUPPRESS:.0%}), {model_bad} of {cells} model-based shares are flagged. A "
         f"model-based share borrows strength from the other counties: it is as good as "
         f"the model, and the county's own data count for less where they are few."],
        key="county_model", flags=flags, reasons=reasons,
        percent=["direct", "direct_se", "model", "model_rmse"])


def _span(values: pd.Series) -> str:
    return f"{values.min():.2f}-{values.max():.2f}"


def _barometer_methods(design: SurveyDesign, fractions: pd.DataFrame) -> dict[str, str]:
    """The methods appendix of the barometer report (``metadata["methods"]``)."""
    import hashlib
    from importlib.resources import files

    from .datasets import generate

    raw = (files("innobaro.datasets") / "data" / generate.RESPONDENTS_FILE).read_bytes()
    software = _package_metadata()
    return {
        "design": f"Stratified simple random sample of municipal units by unit type "
                  f"({len(fractions)} strata), {design.n} respondents treated as the "
                  f"sample; degrees of freedom {design.df:g} (respondents minus strata).",
        "weighting": "Design weights N_h / n_h post-stratified to the frame's unit counts "
                     "by unit type x region (the published weighting of the 2018 edition).",
        "variance": "Linearisation (Taylor series) with the post-stratification carried "
                    "into the variance (residuals within the post-strata; Lumley 2010, "
                    "sec. 7.4), with Bell and McCaffrey's small-sample correction "
                    "(bias-reduced linearisation, Satterthwaite degrees of freedom under "
                    "an exchangeable working correlation; innobaro's "
                    "se='bell-mccaffrey-2'), which innobaro's coverage study recommends "
                    "for a barometer-like design: R's default linearisation covered 0.94 "
                    "there, the corrected intervals 0.95. Korn-Graubard intervals for "
                    "shares, Wald t intervals and tests for differences, contrasts, "
                    "margins and model coefficients; Rao-Scott F tests of independence; "
                    "municipalities within unit types as clusters as a sensitivity analysis.",
        "fpc": f"Finite population correction from the strata's unit counts: the "
               f"respondents are {_span(fractions['responding'])} of each stratum's units "
               f"(sampling fractions {_span(fractions['sampled'])} before nonresponse), "
               f"taken as a simple random sample of them.",
        "small_area": "County x sector shares also from the Fay-Herriot area-level model "
                      "(REML; Prasad-Rao MSE): direct shares with their design-based "
                      "variances on the sector and the cell's mean centrality and free "
                      "income in the frame (Rao and Molina 2015, ch. 6).",
        "software": f"{software['software']} {software['version']}",
        "data": f"Synthetic barometer, innobaro.datasets ({generate.RESPONDENTS_FILE}).",
        "data_version": "sha256 " + hashlib.sha256(raw).hexdigest()[:16],
        "seed": f"{generate.SEED} (innobaro.datasets.generate)",
    }


_TERM_LABEL = re.compile(r"^(?P<var>[a-z_]+): (?P<level>.+) \(vs (?P<ref>.+)\)$")


def _terms_nb(sections: Sequence[Section], words: dict[str, str]) -> dict[str, str]:
    """Norwegian forms of the model terms shown (``unit_type: home_care (vs
    kindergarten)`` -> ``Virksomhetstype: Hjemmetjeneste (mot Barnehage)``), from
    the data dictionary's labels."""
    out: dict[str, str] = {}
    for s in sections:  # over the report's sections
        for label in map(str, s.table.index):
            m = _TERM_LABEL.match(label)
            if m:
                var, level, ref = m.group("var", "level", "ref")
                out[label] = (f"{words.get(var, var)}: {words.get(level, level)} "
                              f"(mot {words.get(ref, ref)})")
            elif label in words:
                continue
    return out


#: Norwegian titles of the barometer report's own sections (the data dictionary
#: gives the variables and levels)
TITLES_NB = {
    "SYNTHETIC DATA: a simulated barometer built to reproduce the margins KS published "
    "for Innovasjonsbarometeret 2018 (see innobaro.datasets). Do not read the numbers as "
    "facts about real units.":
        "SYNTETISKE DATA: et simulert barometer laget for å gjengi fordelingene KS "
        "publiserte for Innovasjonsbarometeret 2018 (se innobaro.datasets). Tallene "
        "sier ikke noe om virkelige enheter.",
    "[1] 3 in 4 units innovated": "[1] 3 av 4 enheter har innovert",
    "[2] education: 8 in 10": "[2] oppvekst: 8 av 10",
    "[3] health and care: 7 in 10": "[3] helse og omsorg: 7 av 10",
    "[4] education above health and care": "[4] oppvekst over helse og omsorg",
    "[5] employees initiated: 88%": "[5] medarbeidere tok initiativet: 88 %",
    "[6] all over the country": "[6] i hele landet",
    "[7] medium-sized municipalities": "[7] mellomstore kommuner",
    "[8] medium centrality": "[8] middels sentralitet",
    "[9] low free income": "[9] lave frie inntekter",
    "[10] large units": "[10] store enheter",
    "[11] Denmark: own municipality 56%": "[11] Danmark: egen kommune 56 %",
    "[12] Denmark: private firms 27%": "[12] Danmark: private virksomheter 27 %",
    "[13] learn from each other": "[13] lærer av hverandre",
    "Units that innovated, by sector": "Enheter som har innovert, etter sektor",
    "Units that innovated, by unit type": "Enheter som har innovert, etter virksomhetstype",
    "Units that innovated, by municipality size (inhabitants)":
        "Enheter som har innovert, etter kommunestørrelse (innbyggere)",
    "Units that innovated, by centrality (ssb class, 1 = most central)":
        "Enheter som har innovert, etter sentralitet (SSBs klasse, 1 = mest sentral)",
    "Units that innovated, by region (landsdel)": "Enheter som har innovert, etter landsdel",
    "Units that innovated, by corrected free income (index, national average = 100)":
        "Enheter som har innovert, etter korrigerte frie inntekter (indeks, landssnitt = 100)",
    "Units that innovated, by unit size (employees)":
        "Enheter som har innovert, etter antall ansatte",
    "free_income_group": "Korrigerte frie inntekter (gruppert)",
    "below 95": "under 95", "105 and above": "105 og over",
    "What predicts innovation? The survey logistic model that answers the claims "
    "(odds ratios)": "Hva henger sammen med innovasjon? Logistisk regresjon for "
                     "utvalgsdata (oddsratioer)",
    "corrected free income (per 10 points)": "korrigerte frie inntekter (per 10 poeng)",
    "unit size (per doubling of employees)": "enhetens størrelse (per dobling av ansatte)",
    "Predictive margins: share innovating if every unit had this municipality size":
        "Predikerte andeler: andel som innoverer om alle enheter hadde denne "
        "kommunestørrelsen",
    "Predictive margins: share innovating if every unit had this centrality":
        "Predikerte andeler: andel som innoverer om alle enheter hadde denne sentraliteten",
    "Predictive margins: share innovating if every unit had this region":
        "Predikerte andeler: andel som innoverer om alle enheter lå i denne landsdelen",
    "Predictive margins: share innovating if every unit had this unit size (employees)":
        "Predikerte andeler: andel som innoverer om alle enheter hadde så mange ansatte",
    "Predictive margins: share innovating if every unit had this corrected free income":
        "Predikerte andeler: andel som innoverer om alle enheter hadde disse frie "
        "inntektene",
    "Average marginal effect of unit size (percentage points per doubling)":
        "Gjennomsnittlig marginal effekt av enhetens størrelse (prosentpoeng per dobling)",
    "Collinearity: generalised variance-inflation factors (Fox and Monette 1992)":
        "Samvariasjon mellom forklaringsvariablene: generaliserte VIF (Fox og Monette 1992)",
    "The published specification, for comparison (odds ratios)":
        "Den publiserte modellen, til sammenligning (oddsratioer)",
    "Who started or carried the newest innovation (multiple response, up to three)":
        "Hvem tok initiativet til eller drev den nyeste innovasjonen (inntil tre svar)",
    "The 2020 edition against 2018, on a common scope":
        "Barometeret 2020 mot 2018, på felles omfang",
    "New or improved services": "Nye eller forbedrede tjenester",
    "New ways of organising work": "Nye måter å organisere arbeidet på",
    "New ways of communicating": "Nye måter å kommunisere på",
    "Collaborated within the municipality": "Samarbeid i egen kommune",
    "Collaborated with other public bodies": "Samarbeid med andre offentlige virksomheter",
    "Collaborated with private firms": "Samarbeid med private virksomheter",
    "Involved citizens or users": "Innbyggere eller brukere involvert",
    "Employees": "Medarbeidere", "Leaders": "Ledere", "Users or relatives":
        "Brukere eller pårørende", "Political leadership": "Politisk ledelse",
    "Private firms": "Private virksomheter", "Research institutions":
        "Forskningsinstitusjoner", "Voluntary organisations": "Frivillige organisasjoner",
    "among units that innovated": "blant enheter som har innovert",
    "who started or carried it": "hvem tok initiativet",
    "Innovation in Norwegian municipal units: the barometer, re-analysed":
        "Innovasjon i kommunale enheter: barometeret analysert på nytt",
    "What KS published, checked: the claims ledger":
        "Det KS publiserte, etterprøvd: påstandene",
    "Units that innovated in the last two years (all units)":
        "Enheter som har innovert de siste to årene (alle enheter)",
    "Does innovation differ between groups? (Rao-Scott F tests)":
        "Er det forskjeller mellom grupper? (Rao-Scott F-tester)",
    "Units that innovated, by county and sector":
        "Enheter som har innovert, etter fylke og sektor",
    "Counties: direct and model-based shares (Fay-Herriot)":
        "Fylker: direkte og modellbaserte andeler (Fay-Herriot)",
    "Term-wise Wald tests (R's regTermTest)": "Wald-tester per ledd (R's regTermTest)",
    "Standard errors under three variance methods":
        "Standardfeil etter tre variansmetoder",
    "About the newest innovation (units that innovated)":
        "Om den nyeste innovasjonen (enheter som har innovert)",
    "Units that did not innovate: development under way":
        "Enheter som ikke har innovert: utviklingsarbeid på gang",
    "Municipalities by size and centrality (the 426 of 2017)":
        "Kommuner etter størrelse og sentralitet (de 426 i 2017)",
}


def editions_design() -> SurveyDesign:
    """The 2018 and 2020 editions stacked on a common scope and one weighting.

    The 2020 respondents of the eight unit types of 2018, with the 2018
    respondents, as one design whose primary sampling unit is the unit (a
    unit that answered both editions is one PSU with two rows, in its
    unit-type stratum), the design weights of each edition post-stratified
    to the 2018 frame's unit counts by sector. Comparing the editions as
    domains of this design accounts for the units they share, which
    :func:`innobaro.compare_surveys` (independent samples) does not.

    Returns
    -------
    Design

    Examples
    --------
    >>> from innobaro.report import editions_design
    >>> d = editions_design()
    >>> sorted(d.data["edition"].unique().tolist())
    [2018, 2020]
    """
    from .datasets import load_barometer, load_barometer_2020, load_barometer_frame
    from .design import Design

    resp = load_barometer()
    resp20 = load_barometer_2020()
    totals = load_barometer_frame().groupby("sector", observed=True).size()
    common = resp20[resp20["unit_type"].isin(resp["unit_type"].cat.categories)].copy()
    for col in ("sector", "unit_type", "stratum"):  # the 2018 categories
        common[col] = common[col].astype(resp[col].dtype)
    both = pd.concat([resp, common], ignore_index=True)
    stacked = Design(both, weights="design_weight", strata="stratum", psu="unit_id")
    return stacked.poststratify(["edition", "sector"],
                                pd.concat({2018: totals, 2020: totals},
                                          names=["edition", "sector"]))


def _editions_section() -> Section:
    """2020 against 2018 on the common scope: the difference with the overlap
    accounted for, and the standard error as if the samples were independent."""
    from .comparisons import compare, compare_surveys
    from .estimators import proportion

    stacked = editions_design()
    data = stacked.data
    rows = []
    for name, mask in [("all units", None), *[(str(v), data["sector"] == v) for v in
                                              data["sector"].cat.categories]]:
        part = stacked if mask is None else stacked.subset(mask)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InnobaroWarning)
            se = report_se(part)
            diff = compare(part, "innovated", by="edition", se=se).iloc[0]
            shares = [proportion(part.subset(data["edition"] == e), "innovated", se=se)
                      for e in (2018, 2020)]
            independent = compare_surveys(shares[1], shares[0])
        rows.append({"units": name, "share_2018": float(shares[0].estimate.iloc[0]),
                     "share_2020": float(shares[1].estimate.iloc[0]),
                     "difference": float(diff["estimate"]), "lower": float(diff["lower"]),
                     "upper": float(diff["upper"]), "se": float(diff["se"]),
                     "p_value": float(diff["pvalue"]),
                     "se_independent": float(independent.se.iloc[0])})
    overlap = int(data.loc[data["edition"] == 2018, "panel"].sum())
    return Section(
        "The 2020 edition against 2018, on a common scope", pd.DataFrame(rows)
        .set_index("units"),
        [f"The eight unit types of 2018 in both editions, each edition's design weights "
         f"post-stratified to the 2018 frame's units by sector (KS weighted 2018 by unit "
         f"type x region and 2020 by sector: compare like with like). {overlap} units "
         f"answered both editions: the editions are domains of one stacked design whose "
         f"PSU is the unit, so the covariance of their answers enters the standard error "
         f"(se); se_independent is what compare_surveys gives, which assumes independent "
         f"samples and is conservative here. Neither uses the fpc."],
        key="editions")


def _initiators_section(innovators: SurveyDesign) -> Section:
    """The multiple-response table of initiators: the share of innovating units
    that ticked each, with the n who answered, and each item against the most
    ticked one, a difference of two shares of the same respondents (its
    covariance from the joint estimate, as a design-based McNemar test)."""
    from .contrasts import contrast
    from .estimators import mean

    items = list(INITIATORS)
    table = pd.concat([share_table(innovators, item).rename(index={"all": INITIATORS[item]})
                       for item in items])
    table.index.name = "who started or carried it"
    joint = mean(innovators, items, na_rm=True, se=report_se(innovators))
    top = items[int(np.argmax(joint.estimate.to_numpy()))]
    differences = contrast(joint, {f"{i} - {top}": {i: 1.0, top: -1.0}
                                   for i in items if i != top})
    tests = differences.test()
    table["difference_from_top"] = [np.nan if i == top else
                                    float(tests.loc[f"{i} - {top}", "estimate"])
                                    for i in items]
    table["p_value"] = [np.nan if i == top else float(tests.loc[f"{i} - {top}", "pvalue"])
                        for i in items]
    return Section(
        "Who started or carried the newest innovation (multiple response, up to three)",
        table,
        [f"Shares of innovating units that ticked each initiator (n: units that answered); "
         f"they add up to more than 100% because up to three could be ticked. "
         f"difference_from_top: the share minus that of '{INITIATORS[top]}', the most "
         f"ticked, with a design-based t test of the difference between two answers of "
         f"the same units (their covariance included; a McNemar test for the design)."],
        key="initiators")


def _claims_model_sections(design: SurveyDesign, model: Any) -> list[Section]:
    """The claims model: odds ratios, term tests, fit, margins and the
    average marginal effect of a doubling of unit size."""
    from .flags import flag_differences, flag_proportions

    label = _TermLabels(design, model.spec.column_names, MODEL_NAMES)
    ors = model.odds_ratios()
    ors["p_value"] = model.pvalues.to_numpy()
    ors = ors.drop(index="Intercept")
    ors.index = pd.Index([label(str(i)) for i in ors.index], name="term")
    sections = [Section(
        "What predicts innovation? The survey logistic model that answers the claims "
        "(odds ratios)", ors,
        [f"Model: {CLAIMS_MODEL}, fitted on {model.nobs} rows; "
         f"{_se_words(report_se(design))} (fpc, post-stratification) {_df_words(model)}. "
         f"Nagelkerke pseudo-R-squared {model.pseudo_r2():.3f}. Each "
         f"trait's odds ratio holds the others fixed: unit type and region are in the "
         f"model because unit type is the strongest predictor (and drives unit size) and "
         f"'anywhere in the country' is a claim."], key="odds_ratios")]
    tests = []
    for term in model.spec.terms:  # over the model's terms
        if term == "Intercept":
            continue
        t = model.wald_test(term)
        tests.append({"term": label(term), "F": t.statistic, "ndf": t.df_num,
                      "ddf": t.df_denom, "p_value": t.p_value})
    sections.append(Section("Term-wise Wald tests (R's regTermTest)",
                            pd.DataFrame(tests).set_index("term"), key="wald"))
    margin_specs = [("municipality_size", None, "municipality size"),
                    ("centrality", None, "centrality"),
                    ("region", None, "region"),
                    ("log2_employees", EMPLOYEES_AT, "unit size (employees)"),
                    ("free_income_10", FREE_INCOME_AT, "corrected free income")]
    for var, at, shown in margin_specs:  # over the claimed traits
        if at is None:
            m = model.margins(var)
        else:
            values = np.log2(at) if var == "log2_employees" else np.asarray(at) / 10
            m = model.margins(var, list(values))
        table = m.table.join(flag_proportions(m, model.nobs)[["flag", "reason"]]
                             .set_axis(m.table.index))
        if at is not None:
            table.index = pd.Index(list(at), name=shown)
        sections.append(Section(f"Predictive margins: share innovating if every unit had "
                                f"this {shown}", table,
                                ["Korn and Graubard's predictive margins, averaged over the "
                                 "population; design-based standard errors including the "
                                 "model's uncertainty."], key=f"margins:{var}"))
    ame = model.average_marginal_effect("log2_employees")
    frame = ame.to_frame()[["estimate", "se", "lower", "upper", "df"]] * [100, 100, 100,
                                                                         100, 1]
    flags = flag_differences(ame, model.nobs)
    frame["flag"] = flags["flag"].to_numpy()
    frame["reason"] = flags["reason"].to_numpy()
    frame.index = pd.Index(["a doubling of employees"], name="unit size")
    sections.append(Section(
        "Average marginal effect of unit size (percentage points per doubling)", frame,
        ["The derivative of the predicted share with respect to log2(employees), averaged "
         "over the population: how many percentage points the share of innovating units "
         "rises per doubling of a unit's employees, the other traits as they are."],
        key="ame:log2_employees"))
    return sections


def _sensitivity(designs: dict[str, SurveyDesign], numbers: dict[str, Any],
                 clustered: dict[str, Any]) -> Section:
    """Standard errors of the ledger's estimates under the three designs."""
    published = _claim_numbers(designs["published"])
    rows = []
    for i, (key, short, *_rest) in enumerate(CLAIMS, 1):  # over the claims
        for kind in ("bivariate", "adjusted"):
            se = [got.get(key, {}).get(kind, {}).get("se")
                  for got in (numbers, clustered, published)]
            if se[0] is None:
                continue
            rows.append({"estimate": f"[{i}] {short} ({kind})", "se": se[0],
                         "se_clusters": se[1], "se_published": se[2],
                         "published_over_report": se[2] / se[0]})
    table = pd.DataFrame(rows).set_index("estimate")
    return Section(
        "Standard errors under three variance methods", table,
        ["se: the report's design (fpc, post-stratification in the variance); "
         "se_clusters: municipalities within unit types as clusters (with replacement); "
         "se_published: the published weights as fixed, without fpc, as "
         "innobaro.datasets.barometer_design() and most software would by default. "
         "Ignoring the fpc and the post-stratification overstates the standard errors; "
         "ignoring the clustering understates them."], key="sensitivity")


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


def _se_words(se: str) -> str:
    """How the report's standard errors were computed, in words."""
    if se == "linearized":
        return "design-based standard errors"
    return "design-based standard errors with Bell and McCaffrey's small-sample correction"


def _df_words(model: Any) -> str:
    """The degrees of freedom of a model's intervals and tests, in words."""
    if model.df_coef is None:
        return f"and t intervals on {model.df_resid:.4g} residual degrees of freedom"
    return (f"and Satterthwaite degrees of freedom: each coefficient's for its t interval "
            f"(R's confint), the smallest ({model.df_resid:.4g}) for the tests")


def _model_sections(design: SurveyDesign, formula: str, margin_vars: Sequence[str],
                    title: str = "What predicts innovation? Survey logistic model "
                                 "(odds ratios)", *, names: dict[str, str] | None = None,
                    shown: str | None = None, key_prefix: str = "",
                    se: str | None = None) -> list[Section]:
    """The model's sections; ``names`` maps the variables of ``formula`` (aliases)
    to the names to show, and ``shown`` is the formula as the reader should see it."""
    from .models import glm

    se = report_se(design) if se is None else se
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InnobaroWarning)
        model = glm(formula, design, family="binomial", se=se)
    # the design's residual df (R's svyglm) decides whether the model can be
    # tested at all; Satterthwaite df do not count the coefficients
    if not (model.df_resid > 0 and design.df + 1 - model.rank > 0):
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
    words = _se_words(se)
    notes = [f"Model: {shown or formula}, fitted on {model.nobs} rows.{dropped} "
             f"{words[:1].upper()}{words[1:]} {_df_words(model)}. A categorical variable's "
             f"odds ratios compare each level with the reference level named in brackets."]
    aliased = model.aliased.to_numpy()
    if aliased.any():
        names_ = [label(c) for c, a in zip(model.spec.column_names, aliased, strict=True) if a]
        notes.append(f"Not estimable, left blank (R's NA): {'; '.join(names_)}. These "
                     f"columns are combinations of the ones before them, as when one "
                     f"breakdown is nested in another or a level has no rows.")
    sections = [Section(title, ors, notes, key=f"{key_prefix}odds_ratios")]
    tests = []
    for term, columns in model.spec.term_columns.items():  # over the model's terms
        if term == "Intercept" or aliased[columns].all():
            continue
        t = model.wald_test(term)
        tests.append({"term": label(term), "F": t.statistic, "ndf": t.df_num,
                      "ddf": t.df_denom, "p_value": t.p_value})
    sections.append(Section("Term-wise Wald tests (R's regTermTest)",
                            pd.DataFrame(tests).set_index("term"), key=f"{key_prefix}wald"))
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


FLAGS_NOTE = (
    "Shares with Korn-Graubard 95% intervals on each cell's degrees of freedom (the "
    "design's, or Satterthwaite's under the small-sample correction), flagged "
    "after the NCHS Data Presentation Standards for Proportions (innobaro.flags): "
    "suppressed (blank, with the reason in a footnote) when n_eff < 30 or the interval is "
    "too wide; to review when the cell has fewer than 8 degrees of freedom, the "
    "complement's interval is too wide, or the share is 0% or 100%.")

EFFECTIVE_N_NOTE = (
    "n is the number of sample rows in the group; n_eff is the share's effective "
    "sample size, p(1 - p) / Var(p) capped at n (the NCHS rule's n*), the size of a "
    "simple random sample that would give the same precision: it accounts for the "
    "weights and the clustering. The Kish effective sample size in the design line, "
    "n / (1 + CV(w)^2), counts only the loss from unequal weights.")


def survey_report(design: SurveyDesign, outcome: str, by: Sequence[str] = (), *,
                  outcome_level: Any = None, by_missing: str = "row",
                  source: dict[str, Any] | None = None, se: str | None = None) -> Report:
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
    se : {"linearized", "bell-mccaffrey", "bell-mccaffrey-2"}, optional
        The standard errors of the shares and the model. By default
        :func:`report_se`: the Bell-McCaffrey correction the coverage study
        recommends (``"bell-mccaffrey-2"``) on a linearisation design, the
        design's own variance on a replicate design. ``"linearized"`` gives
        R's numbers.

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
    se = report_se(design) if se is None else se

    sections = [Section(f"Share with {shown_outcome} (all units)",
                        share_table(safe, "_ib_outcome", se=se), key="share:overall")]
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
        table = share_table(part, "_ib_outcome", alias[c], se=se)
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
                                        shown=f"{shown_outcome} ~ {' + '.join(by)}", se=se)
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
        "by": by, "by_missing": by_missing, "rows": rows, "se": se}
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
        f"Standard errors: {_se_words(se)}"
        + ("" if se == "linearized" else " and Satterthwaite degrees of freedom")
        + f" (se={se!r}).",
        FLAGS_NOTE,
        EFFECTIVE_N_NOTE,
    ]
    return Report(f"Survey report: {shown_outcome}", preamble, sections, metadata=metadata)
