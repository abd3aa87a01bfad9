"""A synthetic municipal innovation barometer (KS *Innovasjonsbarometeret* 2018 and 2020).

**The data are synthetic.** The real microdata of the Norwegian municipal
innovation barometer are not public; these files are drawn from a documented
model (:mod:`innobaro.datasets.generate`) built to reproduce what KS
published: 1,786 responding unit leaders in health and care and in education
and childhood, three in four of whom innovated, with the published
differences by sector, unit type, municipality size, centrality, corrected
free income and unit size, and the published shares on innovation types,
initiators and collaboration; and a second wave, the 2020 edition (fieldwork
2019), drawn from the same frame with the sectors KS added and an overlap
of units. Only the municipality numbers of 2017 and their SSB centrality
classes are real. Do not read the units, populations, incomes or answers as
facts about any municipality. Every bundled CSV file says so twice: its
name starts with ``synthetic_`` and its column ``synthetic`` is 1 on every
row.

- :func:`load_barometer`: the 1,786 respondents of 2018, one row each, with
  design variables, weights and answers.
- :func:`load_barometer_2020`: the respondents of the 2020 edition, with the
  promoter and barrier items (1-6).
- :func:`load_barometer_frame`: the population of municipal units (the
  sampling frame) of an edition, with their municipality's traits and flags
  for the sampled and responding units.
- :func:`load_municipalities`: Norway's 426 municipalities of 2017 with the
  synthetic population and corrected free income.
- :func:`barometer_design` and :func:`barometer_2020_design`: an
  :class:`innobaro.Design` of the respondents as the survey would publish it
  (final weights, strata as sampled).
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
    from .generate import Item, LikertItem

__all__ = [
    "barometer_2020_design",
    "barometer_design",
    "data_dictionary",
    "load_barometer",
    "load_barometer_2020",
    "load_barometer_frame",
    "load_municipalities",
]

EDITIONS = (2018, 2020)


def _model() -> ModuleType:
    """The generator module, imported on first use (it holds the model's definitions)."""
    from . import generate

    return generate


_MUNICIPALITY_COLUMNS = ["municipality_code", "county", "region", "population",
                         "municipality_size", "centrality", "free_income", "synthetic"]


def _check_edition(edition: int) -> None:
    from ..errors import DesignError

    if edition not in EDITIONS:
        raise DesignError(f"edition={edition!r}: the synthetic barometer has the editions "
                          "2018 and 2020")


def _categories(edition: int) -> dict[str, pd.CategoricalDtype]:
    g = _model()
    types = g.UNIT_TYPES if edition == 2018 else g.UNIT_TYPES_2020
    sectors = g.SECTORS if edition == 2018 else g.SECTORS_2020
    unit_types = [ut.name for ut in types]
    likert = pd.CategoricalDtype(list(range(1, 7)), ordered=True)
    return {
        "county": pd.CategoricalDtype(list(g.COUNTIES.values())),
        "region": pd.CategoricalDtype(list(g.REGIONS)),
        "municipality_size": pd.CategoricalDtype([c[0] for c in g.SIZE_CLASSES],
                                                 ordered=True),
        "sector": pd.CategoricalDtype(list(sectors)),
        "unit_type": pd.CategoricalDtype(unit_types),
        "stratum": pd.CategoricalDtype(unit_types),
        "employee_class": pd.CategoricalDtype([c[0] for c in g.EMPLOYEE_CLASSES],
                                              ordered=True),
        **{it.name: likert for it in g.LIKERT_ITEMS},
    }


def _read(name: str, edition: int) -> pd.DataFrame:
    ref = resources.files(__name__).joinpath("data").joinpath(name)
    with ref.open("rb") as fh:
        df = pd.read_csv(fh, dtype={"unit_id": str, "municipality_code": str},
                         keep_default_na=False, na_values=[""], encoding="utf-8")
    for col, dtype in _categories(edition).items():
        if col in df:
            df[col] = df[col].astype(dtype)
    return df


def load_barometer() -> pd.DataFrame:
    """The 1,786 responding units of the synthetic barometer (2018 edition), one row each.

    Returns
    -------
    pandas.DataFrame
        Unit and municipality traits, design variables (``stratum``,
        ``stratum_units``, ``stratum_sampled``, ``design_weight``,
        ``final_weight``), ``edition`` (2018), ``panel`` (1 for the units that
        answered the 2020 edition too) and the answers: ``innovated`` (0/1) for
        everyone; the items on the newest innovation (0/1, missing for units
        that did not innovate); ``development_underway`` (0/1, missing for
        units that innovated); ``synthetic`` (1). See :func:`data_dictionary`.

    Examples
    --------
    >>> from innobaro.datasets import load_barometer
    >>> df = load_barometer()
    >>> df.shape[0], round(float(df["final_weight"].sum()))
    (1786, 10384)
    """
    return _read(_model().RESPONDENTS_FILE, 2018)


def load_barometer_2020() -> pd.DataFrame:
    """The responding units of the synthetic barometer's 2020 edition (fieldwork 2019).

    The 2020 edition added the social, culture and technical sectors and
    after-school care (SFO) to education, and weighted by sector only [S]. Its
    sample is drawn from the same frame as 2018's (the 2017 municipality codes
    are kept), coordinated so that part of the 2018 respondents answer again:
    ``panel`` is 1 for them, and ``unit_id`` identifies a unit in both editions.

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`load_barometer` (``edition`` 2020), the item
        ``core_task``, and the promoter and barrier items (``promoter_*``,
        ``barrier_*``): ordered categoricals 1 (to a very small extent) to 6
        (to a very large extent), asked of units that innovated.

    Examples
    --------
    >>> from innobaro.datasets import load_barometer_2020
    >>> df = load_barometer_2020()
    >>> len(df), int(df["panel"].sum())
    (2400, 640)
    """
    return _read(_model().RESPONDENTS_2020_FILE, 2020)


def load_barometer_frame(edition: int = 2018) -> pd.DataFrame:
    """The population of municipal units: the sampling frame of the synthetic barometer.

    Parameters
    ----------
    edition : {2018, 2020}
        2018: the units of the eight unit types of the 2018 edition; 2020: the
        same units and those of the unit types the 2020 edition added.

    Returns
    -------
    pandas.DataFrame
        One row per unit (kindergartens, schools, nursing homes, home-care
        services, ...) with its municipality's traits, its number of
        employees, its stratum, the edition's ``stratum_sampled``, and the
        flags ``sampled`` and ``responded`` (0/1) of that edition.

    Examples
    --------
    >>> from innobaro.datasets import load_barometer_frame
    >>> frame = load_barometer_frame()
    >>> int(frame["sampled"].sum()), int(frame["responded"].sum())
    (4188, 1786)
    """
    _check_edition(edition)
    g = _model()
    df = _read(g.FRAME_FILE, 2020)
    if edition == 2018:  # the units of the 2018 unit types, with the 2018 categories
        df = df.loc[df["sampled_2018"].notna()].reset_index(drop=True)
        for col, dtype in _categories(2018).items():
            if col in df:
                df[col] = df[col].astype(str).astype(dtype)
    other = 2020 if edition == 2018 else 2018
    df = df.drop(columns=[f"{c}_{other}" for c in ("stratum_sampled", "sampled", "responded")])
    df = df.rename(columns={f"{c}_{edition}": c
                            for c in ("stratum_sampled", "sampled", "responded")})
    for col in ("stratum_sampled", "sampled", "responded"):
        df[col] = df[col].astype("int64")
    return df


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
    """The 2018 respondents as a survey design: final weights, unit-type strata.

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


def barometer_2020_design(data: pd.DataFrame | None = None) -> Design:
    """The 2020 respondents as a survey design: final weights, unit-type strata.

    Parameters
    ----------
    data : pandas.DataFrame, optional
        The respondents (default :func:`load_barometer_2020`).

    Returns
    -------
    innobaro.Design
        ``Design(data, weights="final_weight", strata="stratum")``, the
        final weights being the design weights post-stratified to the unit
        counts by sector, as KS weighted the 2020 edition.

    Notes
    -----
    As :func:`barometer_design`, the final weights are taken as fixed; build
    the design on ``design_weight`` and post-stratify it to the sector counts
    of ``load_barometer_frame(2020)`` for variances that account for the
    weighting. To compare the editions, see the guide page *The barometer
    data*: on the 2018 unit types, with one weighting, and with the overlap
    of units taken into account.

    Examples
    --------
    >>> import innobaro as ib
    >>> from innobaro.datasets import barometer_2020_design
    >>> d = barometer_2020_design()
    >>> round(float(ib.proportion(d, "innovated").estimate.iloc[0]), 2)
    0.73
    """
    from ..design import Design

    if data is None:
        data = load_barometer_2020()
    return Design(data, weights="final_weight", strata="stratum")


# ------------------------------------------------------------------ dictionary
def _levels(mapping: dict[str, tuple]) -> str:
    return "; ".join(f"{k} ({v[0]})" for k, v in mapping.items())


def _innovation_model() -> str:
    g = _model()
    types = ", ".join(f"{ut.name} {ut.innovation_logit:+.2f}" for ut in g.UNIT_TYPES)
    types20 = ", ".join(f"{ut.name} {ut.innovation_logit_2020:+.2f}" for ut in g.UNIT_TYPES_2020)
    b = g.INNOVATION
    return (f"logit p = type intercept (2018: {types}; 2020: {types20}) "
            f"{b['size_quadratic']:+.2f} s^2 {b['centrality_quadratic']:+.2f} (c - 3.5)^2 "
            f"{b['free_income']:+.2f} (f - 100)/10 {b['employees']:+.2f} log2(e/20) "
            f"{b['northern']:+.2f} [northern] + u_municipality + v_unit; "
            f"s = log10(population/20000), c centrality, f free_income, e employees; "
            f"u ~ N(0, {g.MUNICIPALITY_SD:.2f}^2) centred within region x size class, "
            f"v ~ N(0, {g.UNIT_SD:.2f}^2), the same in both editions; intracluster "
            f"correlation within municipality about 0.06")


def _item_model(it: Item) -> str:
    terms = [f"{it.intercept:+.2f}"]
    for name, label in (("health", "[health_care]"), ("employees", "log2(e/20)"),
                        ("size", "s")):
        value = getattr(it, name)
        if value:
            terms.append(f"{value:+.2f} {label}")
    return "logit p = " + " ".join(terms)


def _likert_model(it: LikertItem) -> str:
    g = _model()
    health = f" {it.health:+.2f} [health_care]" if it.health else ""
    cuts = ", ".join(f"{c:g}" for c in g.LIKERT_CUTS)
    return (f"1 + number of cut points ({cuts}) below {it.location:+.2f}{health} + f + e; "
            f"f ~ N(0, {g.LIKERT_FACTOR_SD:g}^2) a respondent factor common to the "
            f"{it.group} items, e standard logistic (proportional odds)")


_SOURCES = {
    "headline": "KS, 'Kommunesektoren er innovativ' (ks.no, 2018)",
    "initiators": "KS, 'Ledere og medarbeidere betyr mest' (ks.no, 2018)",
    "politicians": "KS, 'Hvor innovative er lokalpolitikerne våre?' (ks.no)",
    "survey": "KS, 'Hva er innovasjonsbarometeret' (ks.no, 2018)",
    "weighting": "KS, 'Innovasjonsbarometeret 2020 - metodeskriv' (ks.no)",
    "coi": "COI, 'De norske tal' (innovationsbarometer.coi.dk)",
    "headline_2020": "KS, 'Høyt innovasjonstrykk i kommunesektoren' (ks.no, 2020)",
    "initiators_2020": "KS, 'Ledere og medarbeidere fremdeles viktigst' (ks.no, 2020)",
    "promoters_2020": "KS, 'Hva hemmer og hva fremmer innovasjon' (ks.no, 2020)",
    "reform": "regjeringen.no, 'Kommunereform'",
}

_UNITS = "frame, 2018, 2020"
_RESPONDENTS = "2018, 2020"


def data_dictionary() -> pd.DataFrame:
    """Every variable of the synthetic barometer, documented.

    Returns
    -------
    pandas.DataFrame
        One row per variable, with columns

        - ``variable``: the column name;
        - ``dataset``: where it is, a comma-separated list of ``frame``
          (:func:`load_barometer_frame`), ``2018`` (:func:`load_barometer`)
          and ``2020`` (:func:`load_barometer_2020`);
        - ``description``: what it is, in English;
        - ``label_no``: the Norwegian label;
        - ``type``: ``"id"``, ``"category"``, ``"integer"``, ``"float"``,
          ``"binary"`` (0/1) or ``"ordinal"`` (an ordered categorical 1-6);
        - ``levels``: the categories (with Norwegian labels) or the range;
          where the 2018 data have fewer categories, they are the first ones;
        - ``multiselect``: the question a 0/1 item belongs to when the
          respondent could tick several of its options (``"initiator"``: one to
          three of seven; ``"type"``: one or more of three), else ``""``;
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
    unit_levels = "; ".join(f"{ut.name} ({ut.label_no})" for ut in g.UNIT_TYPES_2020)
    first8 = "the first eight in 2018"
    rows: list[tuple[str, ...]] = [
        ("unit_id", _UNITS,
         "unit identifier: municipality number, unit-type code, serial; the same unit has "
         "the same identifier in both editions", "Enhet", "id", "e.g. 0301-BH001", "E", "",
         "synthetic"),
        ("municipality_code", _UNITS,
         "municipality number (2017; kept for the 2020 edition too)", "Kommunenummer", "id",
         "426 four-digit codes; the first two digits are the county", "S",
         "426 municipalities valid in 2017; SSB KLASS 128; 356 from 2020, after mergers "
         "(" + src["reform"] + "), not applied here", "real (data/centrality_2017.tsv)"),
        ("county", _UNITS, "county (2017), from the municipality number", "Fylke",
         "category", "; ".join(g.COUNTIES.values()), "S", "",
         "from the first two digits of municipality_code"),
        ("region", _UNITS, "region (landsdel), from the county", "Landsdel", "category",
         _levels(g.REGIONS), "E", "weighting cells unit type x landsdel; " + src["weighting"],
         "six regions grouping the counties (a choice of grouping)"),
        ("population", _UNITS, "inhabitants of the municipality (synthetic)",
         "Innbyggere", "integer", "200 to 700000", "E",
         "224 under 5,000, 142 from 5,000 to 20,000, 59 over 20,000 (sum 425 of 426), "
         "15 over 50,000 and 27 under 1,000 (2016); mean about 12,200",
         f"rank score -centrality + {g.SIZE_NOISE:g} z; class counts 224/86/57/44/15; "
         "drawn within class (27 under 1,000); mean 12,200"),
        ("municipality_size", _UNITS, "municipality size class (inhabitants)",
         "Kommunestørrelse", "category", "; ".join(c[0] for c in g.SIZE_CLASSES), "S",
         "class counts 224 under 5,000, 59 over 20,000 and 15 over 50,000 exact; 143 from "
         "5,000 to 20,000 where 142 was published (the published counts sum to 425)",
         "from population"),
        ("centrality", _UNITS, "SSB centrality class (1 most central, 6 least central)",
         "Sentralitet", "integer", "1 to 6", "S",
         "SSB centrality index, KLASS 128 (2018 version): 7, 32, 68, 86, 121 and 112 "
         "municipalities in classes 1 to 6", "real (data/centrality_2017.tsv)"),
        ("free_income", _UNITS,
         "corrected free income per inhabitant, index (national average 100; synthetic)",
         "Korrigerte frie inntekter (indeks)", "float", "80 to 220", "E",
         "174 municipalities below 100 (2018), matched exactly",
         "(96.5 + 3 max(0, ln(20000/pop)) + 2.5 max(0, ln(pop/50000))) exp(0.04 z); "
         "hydropower premium 30-85% for 20 small municipalities; shifted to 174 below 100"),
        ("sector", _UNITS, "sector", "Sektor", "category", _levels(g.SECTORS_2020), "S",
         "two sectors in 2018 (" + src["survey"] + "); social, culture and technical "
         "added in 2020 (" + src["weighting"] + ")", "from unit_type; the first two in 2018"),
        ("unit_type", _UNITS, "type of municipal unit", "Virksomhetstype", "category",
         unit_levels, "E",
         "unit types of the frames (schools, kindergartens, nursing homes, ...); "
         + src["survey"] + "; after-school care (SFO) added to education in 2020",
         "units per municipality max(min, floor(a (pop/10000)^b + u)); see "
         "generate.UNIT_TYPES and UNIT_TYPES_NEW_2020; " + first8),
        ("employees", _UNITS, "employees of the unit (synthetic)", "Antall ansatte",
         "integer", "1 to 350", "E",
         "kindergartens about 16 employees on average (93,952 employees in 5,980 "
         "kindergartens, 2016)",
         "median (pop/10000)^g exp(sd z), clipped; see generate.UNIT_TYPES"),
        ("employee_class", _UNITS, "unit size class (employees)", "Antall ansatte (gruppert)",
         "category", "; ".join(c[0] for c in g.EMPLOYEE_CLASSES), "E", "", "from employees"),
        ("stratum", _UNITS, "sampling stratum (the unit type)", "Stratum", "category",
         unit_levels, "E", "", "stratified simple random sampling within unit type; "
         + first8),
        ("stratum_units", _UNITS, "units in the stratum in the frame (N_h)",
         "Enheter i stratum", "integer", "", "E", "", "count of the frame"),
        ("stratum_sampled", _UNITS, "units sampled in the stratum in the edition (n_h)",
         "Utvalg i stratum", "integer", "", "E", "",
         "round(f_h N_h), f_h = " + ", ".join(f"{ut.name} {ut.sample_fraction:.2f}"
                                              for ut in g.UNIT_TYPES_2020)),
        ("sampled", "frame", "the unit was sampled (invited) in the edition",
         "Trukket i utvalget", "binary", "0/1", "E", "",
         "stratified simple random sample with permanent random numbers k: the n_h "
         f"smallest k in 2018, the n_h smallest (k - {g.ROTATION:g} n_h/N_h) mod 1 in 2020"),
        ("responded", "frame", "the unit's leader answered in the edition", "Svarte",
         "binary", "0/1", "S",
         "1,786 leaders answered in 2018 (" + src["survey"] + "); 2020: not published, "
         f"{g.N_RESPONDENTS_2020:,} chosen",
         "exponential answer times, rate expit(r_type + 0.25 log2(e/20) + r_region + r_unit), "
         f"r_unit ~ N(0, {g.RESPONSE_UNIT_SD:g}^2) the same in both editions; the survey "
         f"closes at the {g.N_RESPONDENTS:,}th (2018) or {g.N_RESPONDENTS_2020:,}th (2020) "
         "answer"),
        ("design_weight", _RESPONDENTS, "sampling weight N_h / n_h", "Designvekt", "float",
         "", "E", "", "stratum_units / stratum_sampled"),
        ("final_weight", _RESPONDENTS,
         "design weight post-stratified to the unit counts by unit type x region (2018) "
         "or by sector (2020)", "Sluttvekt", "float",
         "sums to the frame's units in each weighting cell", "S",
         "2018 weighted by unit type and landsdel, 2020 by sector; " + src["weighting"],
         "design_weight * N_cell / sum of design_weight over the cell's respondents"),
        ("edition", _RESPONDENTS,
         "edition of the barometer (2018: fieldwork autumn 2017; 2020: fieldwork autumn "
         "2019)", "Utgave", "integer", "2018 to 2020", "S",
         "fieldwork 12 Sept - 30 Oct 2017 and 15 Oct - 6 Dec 2019; " + src["weighting"],
         "constant within a file"),
        ("panel", _RESPONDENTS,
         "the unit answered both editions (unit_id links the rows)",
         "Svarte i begge utgaver", "binary", "0/1", "E",
         "", "coordinated samples and a common response propensity: about 36% of the 2018 "
         "respondents answer again"),
        ("innovated", _RESPONDENTS,
         "the unit introduced at least one innovation (new or significantly improved "
         "service, product, way of organising work or of communicating) in the last two years",
         "Innført innovasjon siste to år", "binary", "0/1", "S",
         "74% of units innovated in the last two years; 80% in education, 70% in health "
         "and care (" + src["headline"] + "); 74% in 2020, most in the social sector ("
         + src["headline_2020"] + ")", _innovation_model()),
    ]
    items18 = {it.name: it for it in g.ITEMS}
    items20 = {it.name: it for it in g.ITEMS_2020}
    for name, it20 in items20.items():
        it = items18.get(name, it20)
        asked = ("units without innovation" if it.group == "development"
                 else "units that innovated")
        sources: list[str] = []
        if name in items18 and it.status == "S":
            sources.append(f"{it.target:.0%} of {asked} in 2018; "
                             + (src["politicians"] if name == "initiator_politicians"
                                else src["initiators"] if it.group == "initiator"
                                else src["headline"] if it.group == "development"
                                else src["coi"]))
        if it20.status == "S":
            sources.append(f"{it20.target:.0%} of {asked} in 2020; "
                             + (src["initiators_2020"] if it20.group == "initiator"
                                else src["headline_2020"]))
        multiselect = it.group if it.group in ("type", "initiator") else ""
        model = f"2018: {_item_model(it)}; " if name in items18 else ""
        model += f"2020: {_item_model(it20)}"
        if it.group == "type":
            model += "; at least one type ticked"
        elif it.group == "initiator":
            model += ("; multi-select: one to three of the seven initiators ticked (past "
                      "three, employees kept and others dropped at random; none gives leaders)")
        targets = (f"target {it.target:.0%} (2018), {it20.target:.0%} (2020)"
                   if name in items18 else f"target {it20.target:.0%} (2020)")
        status = "S" if (it.status == "S" or it20.status == "S") else "E"
        rows.append((name, _RESPONDENTS if name in items18 else "2020",
                     f"{it.description} (asked of {asked})", it.label_no, "binary",
                     "0/1; missing when not asked", status, " / ".join(sources),
                     f"{model}; {targets} of {asked}", multiselect))
    likert_levels = (f"1 ({g.LIKERT_LEVELS[1]}, "
                     f"{g.LIKERT_LEVELS_NO[1]}); 2; 3; 4; 5; 6 ({g.LIKERT_LEVELS[6]}, "
                     f"{g.LIKERT_LEVELS_NO[6]}); missing when not asked")
    for lk in g.LIKERT_ITEMS:
        published = ""
        if lk.name == "promoter_limited_resources":
            published = "22% say limited resources promoted the innovation (5 or 6 here); "
        elif lk.name in ("promoter_employee_participation", "promoter_internal_collaboration"):
            published = "the top promoters: employee participation and internal collaboration; "
        elif lk.name == "barrier_economic_resources":
            published = "the top barrier: limited economic resources; "
        if published:
            published += src["promoters_2020"]
        rows.append((lk.name, "2020",
                     f"how far {lk.description}, from 1 (to a very small extent) to 6 (to a very "
                     "large extent); asked of units that innovated, 2020 edition only",
                     f"{'Fremmet' if lk.group == 'promoter' else 'Hemmet'}: {lk.label_no}",
                     "ordinal", likert_levels, lk.status, published,
                     _likert_model(lk), ""))
    rows.append(("synthetic", "frame, 2018, 2020",
                 "1 on every row: the data are synthetic, not KS's survey",
                 "Syntetiske data (ikke KS' undersøkelse)", "binary", "0/1", "E", "",
                 "constant 1; the file names start with synthetic_ too"))
    columns = ["variable", "dataset", "description", "label_no", "type", "levels", "status",
               "published", "model", "multiselect"]
    out = pd.DataFrame([r if len(r) == 10 else (*r, "") for r in rows], columns=columns)
    return out[["variable", "dataset", "description", "label_no", "type", "levels",
                "multiselect", "status", "published", "model"]]
