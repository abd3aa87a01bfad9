"""A synthetic municipal innovation barometer (KS *Innovasjonsbarometeret* 2018).

**The data are synthetic.** The real microdata of the Norwegian municipal
innovation barometer are not public; these files are drawn from a documented
model (:mod:`innobaro.datasets.generate`) built to reproduce what KS
published: 1,786 responding unit leaders in health and care and in education
and childhood, three in four of whom innovated, with the published
differences by sector, unit type, municipality size, centrality, corrected
free income and unit size, and the published shares on innovation types,
initiators and collaboration. Only the municipality numbers of 2017 and
their SSB centrality classes are real. Do not read the units, populations,
incomes or answers as facts about any municipality.

- :func:`load_barometer`: the 1,786 respondents, one row each, with design
  variables, weights and answers.
- :func:`load_barometer_frame`: the population of municipal units (the
  sampling frame), with their municipality's traits and flags for the
  sampled and responding units.
- :func:`load_municipalities`: Norway's 426 municipalities of 2017 with the
  synthetic population and corrected free income.
- :func:`barometer_design`: an :class:`innobaro.Design` of the respondents as
  the survey would publish it (final weights, strata as sampled).
- :func:`data_dictionary`: every variable, with its English description,
  Norwegian label, type and levels, and whether its value is a published
  target [S] or a synthetic choice [E].

Examples
--------
>>> import innobaro as ib
>>> from innobaro.datasets import barometer_design, load_barometer
>>> len(load_barometer())
1786
>>> d = barometer_design()
>>> est = ib.proportion(d, "innovated", by="sector")
>>> est.estimate.round(2).tolist()
[0.78, 0.68]
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from types import ModuleType

    from ..design import Design
    from .generate import Item

__all__ = [
    "barometer_design",
    "data_dictionary",
    "load_barometer",
    "load_barometer_frame",
    "load_municipalities",
]


def _model() -> ModuleType:
    """The generator module, imported on first use (it holds the model's definitions)."""
    from . import generate

    return generate


_MUNICIPALITY_COLUMNS = ["municipality_code", "county", "region", "population",
                         "municipality_size", "centrality", "free_income"]


def _categories() -> dict[str, pd.CategoricalDtype]:
    g = _model()
    unit_types = [ut.name for ut in g.UNIT_TYPES]
    return {
        "county": pd.CategoricalDtype(list(g.COUNTIES.values())),
        "region": pd.CategoricalDtype(list(g.REGIONS)),
        "municipality_size": pd.CategoricalDtype([c[0] for c in g.SIZE_CLASSES],
                                                 ordered=True),
        "sector": pd.CategoricalDtype(list(g.SECTORS)),
        "unit_type": pd.CategoricalDtype(unit_types),
        "stratum": pd.CategoricalDtype(unit_types),
        "employee_class": pd.CategoricalDtype([c[0] for c in g.EMPLOYEE_CLASSES],
                                              ordered=True),
    }


def _read(name: str) -> pd.DataFrame:
    ref = resources.files(__name__).joinpath("data").joinpath(name)
    with ref.open("rb") as fh:
        df = pd.read_csv(fh, dtype={"unit_id": str, "municipality_code": str},
                         keep_default_na=False, na_values=[""], encoding="utf-8")
    for col, dtype in _categories().items():
        if col in df:
            df[col] = df[col].astype(dtype)
    return df


def load_barometer() -> pd.DataFrame:
    """The 1,786 responding units of the synthetic barometer, one row each.

    Returns
    -------
    pandas.DataFrame
        Unit and municipality traits, design variables (``stratum``,
        ``stratum_units``, ``stratum_sampled``, ``design_weight``,
        ``final_weight``) and the answers: ``innovated`` (0/1) for everyone;
        the items on the newest innovation (0/1, missing for units that did
        not innovate); ``development_underway`` (0/1, missing for units that
        innovated). See :func:`data_dictionary`.

    Examples
    --------
    >>> from innobaro.datasets import load_barometer
    >>> df = load_barometer()
    >>> df.shape[0], round(float(df["final_weight"].sum()))
    (1786, 10399)
    """
    return _read(_model().RESPONDENTS_FILE)


def load_barometer_frame() -> pd.DataFrame:
    """The population of municipal units: the sampling frame of the synthetic barometer.

    One row per unit (kindergartens, schools, nursing homes, home-care
    services, ...) with its municipality's traits, its number of employees,
    its stratum, and the flags ``sampled`` and ``responded`` (0/1).

    Examples
    --------
    >>> from innobaro.datasets import load_barometer_frame
    >>> frame = load_barometer_frame()
    >>> int(frame["sampled"].sum()), int(frame["responded"].sum())
    (4197, 1786)
    """
    return _read(_model().FRAME_FILE)


def load_municipalities() -> pd.DataFrame:
    """Norway's 426 municipalities of 2017 with their (synthetic) traits.

    The municipality numbers and SSB centrality classes are real; population
    and corrected free income are synthetic (see :mod:`innobaro.datasets.generate`).

    Examples
    --------
    >>> from innobaro.datasets import load_municipalities
    >>> m = load_municipalities()
    >>> len(m), int((m["free_income"] < 100).sum())
    (426, 174)
    """
    frame = load_barometer_frame()
    munis = frame[_MUNICIPALITY_COLUMNS].drop_duplicates("municipality_code")
    return munis.reset_index(drop=True)


def barometer_design(data: pd.DataFrame | None = None) -> Design:
    """The respondents as a survey design: final weights, unit-type strata.

    Parameters
    ----------
    data : pandas.DataFrame, optional
        The respondents (default :func:`load_barometer`), for instance with
        columns added.

    Returns
    -------
    innobaro.Design
        ``Design(data, weights="final_weight", strata="stratum")``: the
        stratified sample by unit type, weighted by the design weights
        post-stratified to the unit counts by unit type x region.

    Notes
    -----
    The variance treats the respondents as sampled with replacement within
    strata and the final weights as fixed. Add ``fpc="stratum_units"`` to
    :class:`~innobaro.Design` for the finite population correction of the
    stratified sample. For variances that account for the post-stratification,
    build the design on ``design_weight`` and post-stratify it to the unit
    counts by unit type x region of :func:`load_barometer_frame`: the weights
    are the same.

    Examples
    --------
    >>> import innobaro as ib
    >>> from innobaro.datasets import barometer_design
    >>> d = barometer_design()
    >>> round(float(ib.proportion(d, "innovated").estimate.iloc[0]), 2)
    0.74
    """
    from ..design import Design

    if data is None:
        data = load_barometer()
    return Design(data, weights="final_weight", strata="stratum")


# ------------------------------------------------------------------ dictionary
def _levels(mapping: dict[str, tuple]) -> str:
    return "; ".join(f"{k} ({v[0]})" for k, v in mapping.items())


def _innovation_model() -> str:
    g = _model()
    types = ", ".join(f"{ut.name} {ut.innovation_logit:+.2f}" for ut in g.UNIT_TYPES)
    b = g.INNOVATION
    return (f"logit p = type intercept ({types}) "
            f"{b['size_quadratic']:+.2f} s^2 {b['centrality_quadratic']:+.2f} (c - 3.5)^2 "
            f"{b['free_income']:+.2f} (f - 100)/10 {b['employees']:+.2f} log2(e/20) "
            f"{b['northern']:+.2f} [northern]; s = log10(population/20000), "
            f"c centrality, f free_income, e employees")


def _item_model(it: Item) -> str:
    terms = [f"{it.intercept:+.2f}"]
    for name, label in (("health", "[health_care]"), ("employees", "log2(e/20)"),
                        ("size", "s")):
        value = getattr(it, name)
        if value:
            terms.append(f"{value:+.2f} {label}")
    return "logit p = " + " ".join(terms)


_SOURCES = {
    "headline": "KS, 'Kommunesektoren er innovativ' (ks.no, 2018)",
    "initiators": "KS, 'Ledere og medarbeidere betyr mest' (ks.no, 2018)",
    "politicians": "KS, 'Hvor innovative er lokalpolitikerne våre?' (ks.no)",
    "survey": "KS, 'Hva er innovasjonsbarometeret' (ks.no, 2018)",
    "weighting": "KS, 'Innovasjonsbarometeret 2020 - metodeskriv' (ks.no)",
    "coi": "COI, 'De norske tal' (innovationsbarometer.coi.dk)",
}


def data_dictionary() -> pd.DataFrame:
    """Every variable of the synthetic barometer, documented.

    Returns
    -------
    pandas.DataFrame
        One row per variable, with columns

        - ``variable``: the column name;
        - ``dataset``: ``"frame"``, ``"respondents"`` or ``"both"``;
        - ``description``: what it is, in English;
        - ``label_no``: the Norwegian label;
        - ``type``: ``"id"``, ``"category"``, ``"integer"``, ``"float"`` or
          ``"binary"`` (0/1);
        - ``levels``: the categories (with Norwegian labels) or the range;
        - ``status``: ``"S"`` when the values reproduce a published target or
          are real (municipality numbers, centrality classes), ``"E"`` when
          they are a synthetic choice;
        - ``published``: the published figure the variable is built to
          reproduce, with its source ("" if none);
        - ``model``: how the value is generated.

    Examples
    --------
    >>> from innobaro.datasets import data_dictionary
    >>> dd = data_dictionary()
    >>> row = dd.set_index("variable").loc["innovated"]
    >>> row["status"], row["label_no"]
    ('S', 'Innført innovasjon siste to år')
    """
    g = _model()
    src = _SOURCES
    unit_levels = "; ".join(f"{ut.name} ({ut.label_no})" for ut in g.UNIT_TYPES)
    rows = [
        ("unit_id", "both", "unit identifier: municipality number, unit-type code, serial",
         "Enhet", "id", "e.g. 0301-BH001", "E", "", "synthetic"),
        ("municipality_code", "both", "municipality number (2017)", "Kommunenummer", "id",
         "426 four-digit codes; the first two digits are the county", "S",
         "426 municipalities valid in 2017; SSB KLASS 128", "real (data/centrality_2017.tsv)"),
        ("county", "both", "county (2017), from the municipality number", "Fylke",
         "category", "; ".join(g.COUNTIES.values()), "S", "",
         "from the first two digits of municipality_code"),
        ("region", "both", "region (landsdel), from the county", "Landsdel", "category",
         _levels(g.REGIONS), "E", "weighting cells unit type x landsdel; " + src["weighting"],
         "six regions grouping the counties (a choice of grouping)"),
        ("population", "both", "inhabitants of the municipality (synthetic)",
         "Innbyggere", "integer", "200 to 700000", "E",
         "224 under 5,000, 142 from 5,000 to 20,000, 59 over 20,000 (sum 425 of 426); "
         "mean about 12,200",
         "rank score -centrality + 0.6 z; class counts 224/86/57/43/16; drawn within class; "
         "mean 12,200"),
        ("municipality_size", "both", "municipality size class (inhabitants)",
         "Kommunestørrelse", "category", "; ".join(c[0] for c in g.SIZE_CLASSES), "S",
         "class counts 224 under 5,000 and 59 over 20,000 exact; 143 from 5,000 to 20,000 "
         "where 142 was published (the published counts sum to 425)", "from population"),
        ("centrality", "both", "SSB centrality class (1 most central, 6 least central)",
         "Sentralitet", "integer", "1 to 6", "S",
         "SSB centrality index, KLASS 128 (2018 version): 7, 32, 68, 86, 121 and 112 "
         "municipalities in classes 1 to 6", "real (data/centrality_2017.tsv)"),
        ("free_income", "both",
         "corrected free income per inhabitant, index (national average 100; synthetic)",
         "Korrigerte frie inntekter (indeks)", "float", "80 to 220", "E",
         "174 municipalities below 100 (2018), matched exactly",
         "(96.5 + 3 max(0, ln(20000/pop)) + 2.5 max(0, ln(pop/50000))) exp(0.04 z); "
         "hydropower premium 30-85% for 20 small municipalities; shifted to 174 below 100"),
        ("sector", "both", "sector", "Sektor", "category", _levels(g.SECTORS), "S",
         "the two sectors of the 2018 barometer; " + src["survey"], "from unit_type"),
        ("unit_type", "both", "type of municipal unit", "Virksomhetstype", "category",
         unit_levels, "E",
         "unit types of the frames (schools, kindergartens, nursing homes, ...); "
         + src["survey"],
         "units per municipality max(min, floor(a (pop/10000)^b + u)); see generate.UNIT_TYPES"),
        ("employees", "both", "employees of the unit (synthetic)", "Antall ansatte",
         "integer", "2 to 350", "E",
         "kindergartens about 16 employees on average (93,952 employees in 5,980 "
         "kindergartens, 2016)",
         "median (pop/10000)^g exp(sd z), clipped; see generate.UNIT_TYPES"),
        ("employee_class", "both", "unit size class (employees)", "Antall ansatte (gruppert)",
         "category", "; ".join(c[0] for c in g.EMPLOYEE_CLASSES), "E", "", "from employees"),
        ("stratum", "both", "sampling stratum (the unit type)", "Stratum", "category",
         unit_levels, "E", "", "stratified simple random sampling within unit type"),
        ("stratum_units", "both", "units in the stratum in the frame (N_h)",
         "Enheter i stratum", "integer", "", "E", "", "count of the frame"),
        ("stratum_sampled", "both", "units sampled in the stratum (n_h)", "Utvalg i stratum",
         "integer", "", "E", "",
         "round(f_h N_h), f_h = " + ", ".join(f"{ut.name} {ut.sample_fraction:.2f}"
                                              for ut in g.UNIT_TYPES)),
        ("sampled", "frame", "the unit was sampled (invited)", "Trukket i utvalget",
         "binary", "0/1", "E", "", "stratified simple random sample"),
        ("responded", "frame", "the unit's leader answered", "Svarte", "binary", "0/1", "S",
         "1,786 leaders answered; " + src["survey"],
         "exponential answer times, rate expit(r_type + 0.25 log2(e/20) + r_region); "
         "the survey closes at the 1,786th answer"),
        ("design_weight", "respondents", "sampling weight N_h / n_h", "Designvekt", "float",
         "", "E", "", "stratum_units / stratum_sampled"),
        ("final_weight", "respondents",
         "design weight post-stratified to the unit counts by unit type x region",
         "Sluttvekt", "float", "sums to the frame's units in each unit type x region cell",
         "S", "results weighted by unit type and landsdel; " + src["weighting"],
         "design_weight * N_cell / sum of design_weight over the cell's respondents"),
        ("innovated", "respondents",
         "the unit introduced at least one innovation (new or significantly improved "
         "service, product, way of organising work or of communicating) in the last two years",
         "Innført innovasjon siste to år", "binary", "0/1", "S",
         "74% of units innovated in the last two years; 80% in education, 70% in health "
         "and care; " + src["headline"], _innovation_model()),
    ]
    for it in g.ITEMS:
        asked = ("units without innovation" if it.group == "development"
                 else "units that innovated")
        published = (f"{it.target:.0%} of {asked}; "
                     + (src["politicians"] if it.name == "initiator_politicians"
                        else src["initiators"] if it.group == "initiator"
                        else src["headline"] if it.group == "development"
                        else src["coi"])) if it.status == "S" else ""
        model = _item_model(it)
        if it.group == "type":
            model += "; at least one type ticked"
        elif it.group == "initiator":
            model += "; one to three initiators ticked (employees kept)"
        target = f"target {it.target:.0%} of {asked}"
        rows.append((it.name, "respondents", f"{it.description} (asked of {asked})",
                     it.label_no, "binary", "0/1; missing when not asked", it.status,
                     published, f"{model}; {target}"))
    columns = ["variable", "dataset", "description", "label_no", "type", "levels", "status",
               "published", "model"]
    return pd.DataFrame(rows, columns=columns)
