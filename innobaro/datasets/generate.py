r"""Generate innobaro's synthetic municipal innovation barometer.

The real microdata of KS's *Innovasjonsbarometeret* (2018 edition, fieldwork
12 September - 30 October 2017) are not public. This module builds a
**synthetic** barometer with the published structure and margins, and writes
the two files bundled in ``innobaro/datasets/data/``::

    python -m innobaro.datasets.generate              # rewrite the bundled files
    python -m innobaro.datasets.generate --out DIR    # write them elsewhere
    python -m innobaro.datasets.generate --check      # compare and check (exit 1 if not)
    python -m innobaro.datasets.generate --calibrate  # refit the intercepts (scipy)
    python -m innobaro.datasets.generate --find-seed 1  # redo the choice of SEED

The run is seeded (``SEED``): each stage draws from its own
``np.random.default_rng([SEED, stage])`` and uses only ``Generator.random``
and ``Generator.standard_normal``. The files are plain UTF-8 CSV with fixed
float formats, so a rebuild is byte for byte equal. It reads only
``data/centrality_2017.tsv``.

What is real, published, or chosen
----------------------------------
[S] marks a published figure (sources in ``docs/guide/barometer-data.md``),
[E] a synthetic choice.

1. **Municipalities.** The 426 municipality numbers of 2017 and their SSB
   centrality classes are real (``data/centrality_2017.tsv``: KLASS 128,
   the 2018 version of the index). Counties follow from the first two
   digits, and six regions (*landsdel*) from the counties [E]. Populations
   are synthetic: the score ``-centrality + 0.6 z`` ranks the municipalities
   (the capital, 0301, first), and the size classes take them in that order
   with 224 under 5,000 [S], 86 at 5-10,000 and 57 at 10-20,000 [E], 43 at
   20-50,000 and 16 over 50,000 [E] (59 over 20,000 [S]). The published
   counts 224 + 142 + 59 sum to 425, one short of the 426 municipalities
   [S]; the extra one is in the 5,000-10,000 class, so that class group has
   143 [E]. Within a class the populations are drawn (uniform from 200 under
   5,000; truncated Pareto of shape 1 in the middle classes and of shape 0.7
   up to 700,000 in the top class) and given out in the order of the score;
   the top class is scaled so the mean is 12,200 [S].
2. **Corrected free income** (index, national average 100) [E]:
   ``(96.5 + 3 max(0, ln(20000 / pop)) + 2.5 max(0, ln(pop / 50000))) exp(0.04 z)``:
   highest in small municipalities, lowest at 20-50,000; 20 municipalities
   under 5,000 get a hydropower premium of 30-85 %; one shift puts exactly
   174 municipalities below 100 [S], and each value is rounded to a tenth
   on its side of 100.
3. **Units.** Eight unit types in the two sectors (``UNIT_TYPES``). A
   municipality has ``max(min, floor(a (pop / 10000)^b + u))`` units of a
   type, and a unit ``median (pop / 10000)^g exp(sd z)`` employees, clipped
   [E]. The constants give about 2,820 municipal kindergartens of about 17
   employees (47 % of 5,980 kindergartens are public, 93,952 employees in
   all [S]), 2,620 municipal schools (2,860 schools [S]), 920 nursing homes
   and 1,000 home-care units [E]; 10,399 units in all with ``SEED``.
4. **Sample** [E]. A stratified simple random sample without replacement
   within unit type (the strata), with fractions from 0.30 (kindergartens)
   to 0.70 (upper secondary schools): 4,197 units with ``SEED``.
5. **Nonresponse** [E]. Each sampled leader answers after an exponential
   waiting time with rate ``expit(r_type + 0.25 log2(e / 20) + r_region)``
   (larger units answer sooner; Oslo and Akershus, and the north, later);
   the survey closes at the 1,786th answer [S].
6. **Weights.** Design weight ``N_h / n_h`` in stratum ``h``; the final
   weight post-stratifies the design weights to the population counts of
   units by unit type x region, as the 2018 barometer weighted [S]
   (at least 3 respondents in each of the 48 cells).
7. **Answers.** A respondent innovated (a new or significantly improved
   service, product, way of organising work or of communicating, taken into
   use in the last two years) with probability

   .. math::

      \operatorname{logit} p = \beta_{type} + \beta_s s^2 + \beta_c (c - 3.5)^2
          + \beta_f (f - 100) / 10 + \beta_e \log_2(e / 20) + \beta_n [north]

   with ``s = log10(pop / 20000)``, ``c`` the centrality class, ``f`` the
   corrected free income, ``e`` the unit's employees and ``[north]`` one in
   Northern Norway. The type intercepts carry the sector difference; the
   quadratic terms put the peak at 20,000 inhabitants and at centrality
   3.5. Innovators then answer the items on their newest innovation,
   non-innovators the item on development under way, each item a logistic
   model ``a + b_h [health and care] + b_e log2(e / 20) + b_s s``
   (``ITEMS``). An innovator ticks at least one innovation type (if none,
   one is drawn with probability proportional to the types' probabilities)
   and one to three initiators (the question allowed three [S]; past three,
   employees are kept and the other ticks dropped at random; none gives
   ``initiator_leaders``).

How the coefficients were chosen
--------------------------------
The slopes are choices [E], set so that the unit-weighted population shows
the published patterns. The intercepts are calibrated (:func:`calibrate`):
the type intercepts by weighted least squares, so that the expected weighted
shares among the respondents match 74 % overall, 79 % in education and 69 %
in health and care [S] and a ranking of unit types with the four published
as most innovative on top [E]; each item's intercept so that its expected
weighted share among those asked matches its target. With the sampling and
answer noise of 1,786 respondents, not every seed shows every published
pattern; ``SEED`` is the first seed from 1 whose calibrated data pass all of
:func:`published_checks` (``--find-seed 1``), the checks that
``tests/test_datasets.py`` repeats with innobaro's estimators.

Innovation model (logit scale)
------------------------------
======================  ======  =============================================
term                    value   meaning
======================  ======  =============================================
kindergarten             1.30   type intercepts: the logit at 20,000
primary_school           1.55   inhabitants, centrality 3.5, free income 100,
upper_secondary_school   0.85   20 employees, outside Northern Norway
nursing_home             0.78
home_care                0.35
health_station           2.17
disability_services      0.53
mental_health            1.07
size_quadratic          -0.15   per (log10(pop / 20000))^2: inverted U in size
centrality_quadratic    -0.04   per (centrality - 3.5)^2: inverted U
free_income             -0.15   per 10 index points
employees                0.45   per doubling of the unit's employees
northern                 0.35   Northern Norway (keeps regions within 3 points)
======================  ======  =============================================

Items (logit scale; asked of innovators, development of non-innovators)
-----------------------------------------------------------------------
========================  ======  =====  =====  =====  ======
item                      target  a      b_h    b_e    b_s
========================  ======  =====  =====  =====  ======
inno_service              E 0.60   0.15   0.20
inno_process_org          S 0.63   0.18   0.30   0.10
inno_communication        S 0.40  -0.45  -0.20
initiator_employees       S 0.88   1.93          0.15
initiator_leaders         E 0.70   0.89         -0.10
initiator_users           E 0.25  -1.10   0.20
initiator_private         E 0.08  -2.51   0.40
initiator_politicians     S 0.10  -2.10                -0.20
initiator_research        E 0.04  -3.07
initiator_voluntary       E 0.03  -3.49   0.30
collab_own_municipality   S 0.57   0.16   0.20   0.10
collab_other_public       S 0.20  -1.40                -0.30
collab_private            S 0.21  -1.55   0.50
involved_citizens         S 0.66   0.75  -0.20
development_underway      S 0.25  -1.13          0.20
========================  ======  =====  =====  =====  ======
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

__all__ = [
    "INNOVATION",
    "ITEMS",
    "SEED",
    "UNIT_TYPES",
    "Item",
    "UnitType",
    "build",
    "calibrate",
    "find_seed",
    "main",
    "published_checks",
    "to_csv_bytes",
    "write",
]

SEED = 66  # the first seed from 1 that passes every published check (--find-seed 1)
DATA_DIR = Path(__file__).resolve().with_name("data")
CENTRALITY_FILE = "centrality_2017.tsv"
FRAME_FILE = "barometer_frame.csv"
RESPONDENTS_FILE = "barometer_respondents.csv"

N_RESPONDENTS = 1786  # [S] leaders who answered
N_BELOW_100 = 174  # [S] municipalities with corrected free income below 100 (2018)
MEAN_POPULATION = 12_200  # [S] about 12,200 inhabitants per municipality
CAPITAL = "0301"

# ---------------------------------------------------------------- categories
# county number -> county name (the 19 counties of 2017)
COUNTIES = {
    "01": "Østfold", "02": "Akershus", "03": "Oslo", "04": "Hedmark", "05": "Oppland",
    "06": "Buskerud", "07": "Vestfold", "08": "Telemark", "09": "Aust-Agder",
    "10": "Vest-Agder", "11": "Rogaland", "12": "Hordaland", "14": "Sogn og Fjordane",
    "15": "Møre og Romsdal", "16": "Sør-Trøndelag", "17": "Nord-Trøndelag",
    "18": "Nordland", "19": "Troms", "20": "Finnmark",
}
# region (landsdel) -> (Norwegian label, English description, county numbers)
REGIONS = {
    "oslo_akershus": ("Oslo og Akershus", "Oslo and Akershus", ("02", "03")),
    "eastern": ("Østlandet ellers", "rest of Eastern Norway",
                ("01", "04", "05", "06", "07", "08")),
    "agder": ("Agder (Sørlandet)", "Agder, the south", ("09", "10")),
    "western": ("Vestlandet", "Western Norway", ("11", "12", "14", "15")),
    "trondelag": ("Trøndelag", "Trøndelag", ("16", "17")),
    "northern": ("Nord-Norge", "Northern Norway", ("18", "19", "20")),
}
SECTORS = {
    "education": ("Oppvekst og utdanning", "education and childhood"),
    "health_care": ("Helse og omsorg", "health and care"),
}
# municipality size classes: label, lower bound, count [S]/[E]
SIZE_CLASSES = (
    ("0-4999", 0, 224),  # [S] 224 under 5,000
    ("5000-9999", 5_000, 86),  # [E] about 85; +1 so the classes sum to 426
    ("10000-19999", 10_000, 57),  # [E] about 57 (142 from 5,000 to 20,000 [S])
    ("20000-49999", 20_000, 43),  # [E] about 43 (59 over 20,000 [S])
    ("50000+", 50_000, 16),  # [E] about 16 ([S] about 15)
)
EMPLOYEE_CLASSES = (("1-9", 1), ("10-19", 10), ("20-49", 20), ("50-99", 50), ("100+", 100))


@dataclass(frozen=True)
class UnitType:
    """One unit type: frame size, employees, sampling, response, innovation."""

    name: str
    abbrev: str
    sector: str
    label_no: str
    description: str
    units_a: float  # expected units at 10,000 inhabitants
    units_b: float  # elasticity of the number of units in population
    min_units: int  # units in every municipality
    employees_median: float  # at 10,000 inhabitants
    employees_g: float  # elasticity of unit size in population
    employees_sd: float  # log-normal spread
    employees_range: tuple[int, int]
    sample_fraction: float
    response_logit: float
    innovation_logit: float  # beta_type, calibrated


UNIT_TYPES: tuple[UnitType, ...] = (
    UnitType("kindergarten", "BH", "education", "Barnehage (kommunal)",
             "municipal kindergarten", 5.94, 0.90, 1, 15.0, 0.08, 0.35, (4, 60),
             0.30, -0.10, 1.30),
    UnitType("primary_school", "GS", "education", "Grunnskole",
             "primary and lower secondary school", 6.30, 0.75, 1, 27.0, 0.15, 0.45, (4, 150),
             0.40, 0.10, 1.55),
    UnitType("upper_secondary_school", "VGS", "education", "Videregående skole (fylkeskommunal)",
             "upper secondary school (run by the county)", 0.85, 0.85, 0, 85.0, 0.10, 0.40,
             (15, 350), 0.70, 0.20, 0.85),
    UnitType("nursing_home", "SH", "health_care", "Sykehjem",
             "nursing and care home", 1.98, 0.80, 1, 60.0, 0.12, 0.45, (8, 300),
             0.45, 0.00, 0.78),
    UnitType("home_care", "HT", "health_care", "Hjemmetjeneste",
             "home-care service", 2.16, 0.80, 1, 45.0, 0.12, 0.50, (6, 250),
             0.45, -0.10, 0.35),
    UnitType("health_station", "HS", "health_care", "Helsestasjon og skolehelsetjeneste",
             "health station and school health service", 0.42, 0.85, 1, 9.0, 0.18, 0.50,
             (2, 60), 0.60, 0.10, 2.17),
    UnitType("disability_services", "FH", "health_care",
             "Tjenester for personer med funksjonsnedsettelse",
             "services and housing for people with disabilities", 3.72, 0.85, 1, 22.0, 0.10,
             0.50, (4, 120), 0.35, -0.20, 0.53),
    UnitType("mental_health", "PR", "health_care", "Psykisk helse og rus",
             "mental health and substance abuse service", 0.55, 0.85, 1, 13.0, 0.12, 0.50,
             (2, 80), 0.60, -0.10, 1.07),
)
# response propensity: region shift on the logit scale [E]
RESPONSE_REGION = {"oslo_akershus": -0.20, "eastern": 0.0, "agder": 0.0, "western": 0.05,
                   "trondelag": 0.05, "northern": -0.10}
RESPONSE_EMPLOYEES = 0.25  # per doubling of employees [E]

# innovation model: slopes and the region term are choices [E]; the type
# intercepts (UnitType.innovation_logit) are calibrated
INNOVATION = {
    "size_quadratic": -0.15,  # per (log10(population / 20,000))^2
    "centrality_quadratic": -0.04,  # per (centrality - 3.5)^2
    "free_income": -0.15,  # per 10 index points
    "employees": 0.45,  # per doubling of the unit's employees
    "northern": 0.35,  # Northern Norway (keeps the regions within +-3 points)
}


@dataclass(frozen=True)
class Item:
    """A yes/no item on the newest innovation (or, for non-innovators, development)."""

    name: str
    group: str  # "type", "initiator", "collaboration", "development"
    label_no: str
    description: str
    target: float  # the published (or chosen) share, of those asked
    status: str  # "S" published target, "E" synthetic choice
    intercept: float  # calibrated
    health: float = 0.0
    employees: float = 0.0
    size: float = 0.0


ITEMS: tuple[Item, ...] = (
    Item("inno_service", "type", "Ny eller vesentlig forbedret tjeneste eller produkt",
         "the newest innovation is a new or improved service or product",
         0.60, "E", 0.15, health=0.20),
    Item("inno_process_org", "type", "Ny måte å organisere arbeidet på (prosess/organisering)",
         "the newest innovation is a process or organisational innovation",
         0.63, "S", 0.18, health=0.30, employees=0.10),
    Item("inno_communication", "type", "Ny måte å kommunisere med omverdenen på",
         "the newest innovation is a communication innovation",
         0.40, "S", -0.45, health=-0.20),
    Item("initiator_employees", "initiator", "Medarbeidere",
         "employees started or carried out the newest innovation",
         0.88, "S", 1.93, employees=0.15),
    Item("initiator_leaders", "initiator", "Ledere",
         "leaders started or carried out the newest innovation",
         0.70, "E", 0.89, employees=-0.10),
    Item("initiator_users", "initiator", "Tjenestemottakere eller innbyggere",
         "service users or citizens started or carried out the newest innovation",
         0.25, "E", -1.10, health=0.20),
    Item("initiator_private", "initiator", "Private virksomheter",
         "private firms started or carried out the newest innovation",
         0.08, "E", -2.51, health=0.40),
    Item("initiator_politicians", "initiator", "Politisk ledelse",
         "the political leadership was an important cause of the newest innovation",
         0.10, "S", -2.10, size=-0.20),
    Item("initiator_research", "initiator", "Utdannings- eller forskningsinstitusjoner",
         "education or research institutions started or carried out the newest innovation",
         0.04, "E", -3.07),
    Item("initiator_voluntary", "initiator", "Frivillige organisasjoner",
         "voluntary organisations started or carried out the newest innovation",
         0.03, "E", -3.49, health=0.30),
    Item("collab_own_municipality", "collaboration", "Samarbeid med andre i egen kommune",
         "the newest innovation involved collaboration within the own municipality",
         0.57, "S", 0.16, health=0.20, employees=0.10),
    Item("collab_other_public", "collaboration",
         "Samarbeid med offentlige aktører utenfor kommunen",
         "collaboration with public bodies outside the municipality",
         0.20, "S", -1.40, size=-0.30),
    Item("collab_private", "collaboration", "Private virksomheter involvert",
         "private firms were involved in the newest innovation",
         0.21, "S", -1.55, health=0.50),
    Item("involved_citizens", "collaboration", "Innbyggere eller brukere involvert",
         "citizens or users were involved in the newest innovation",
         0.66, "S", 0.75, health=-0.20),
    Item("development_underway", "development", "Utviklingsarbeid i gang (uten innovasjon)",
         "a unit without innovation has development work under way",
         0.25, "S", -1.13, employees=0.20),
)


# ------------------------------------------------------------------- helpers
def _rng(stage: int, seed: int) -> np.random.Generator:
    """The generator of one stage: stages draw independently of each other."""
    return np.random.default_rng([seed, stage])


def _expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _classify(values: np.ndarray, classes: Sequence[tuple]) -> np.ndarray:
    bounds = np.array([c[1] for c in classes[1:]])
    labels = np.array([c[0] for c in classes], dtype=object)
    return labels[np.searchsorted(bounds, values, side="right")]


def read_centrality(path: Path | None = None) -> pd.DataFrame:
    """The 426 municipality numbers of 2017 with their SSB centrality class."""
    path = DATA_DIR / CENTRALITY_FILE if path is None else path
    df = pd.read_csv(path, sep="\t", comment="#", header=None,
                     names=["municipality_code", "centrality"],
                     dtype={"municipality_code": str, "centrality": np.int64})
    return df.sort_values("municipality_code", kind="stable").reset_index(drop=True)


# ------------------------------------------------------------ municipalities
def _populations(centrality: np.ndarray, capital: np.ndarray,
                 rng: np.random.Generator) -> np.ndarray:
    n = centrality.size
    score = -centrality + 0.6 * rng.standard_normal(n)
    score[capital] = np.inf
    order = np.argsort(-score, kind="stable")  # largest first
    pop = np.zeros(n)
    first = 0
    for k in range(len(SIZE_CLASSES) - 1, -1, -1):  # the largest class first
        _, lo, count = SIZE_CLASSES[k]
        ranks = np.arange(first, first + count)
        first += count
        u = np.sort(rng.random(count))[::-1]  # largest draw to the highest score
        if k == 0:  # under 5,000: uniform from 200
            values = 200 + 4_800 * u
        elif k + 1 < len(SIZE_CLASSES):  # truncated Pareto, shape 1
            upper = SIZE_CLASSES[k + 1][1]
            values = lo / (1 - u * (1 - lo / upper))
        else:  # truncated Pareto, shape 0.7, up to 700,000
            values = lo * (1 - u * (1 - (lo / 700_000) ** 0.7)) ** (-1 / 0.7)
        pop[order[ranks]] = np.floor(values)
    # scale the excess of the 50,000+ class so the mean is MEAN_POPULATION
    big = pop >= 50_000
    rest = MEAN_POPULATION * n - pop[~big].sum() - 50_000 * big.sum()
    pop[big] = 50_000 + np.floor((pop[big] - 50_000) * rest / (pop[big] - 50_000).sum())
    return pop.astype(np.int64)


def _free_income(pop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = pop.size
    mu = (96.5 + 3.0 * np.maximum(0.0, np.log(20_000 / pop))
          + 2.5 * np.maximum(0.0, np.log(pop / 50_000)))
    index = mu * np.exp(0.04 * rng.standard_normal(n))
    # hydropower: 20 small municipalities, chosen at random, 30-85 % above
    small = np.flatnonzero(pop < 5_000)
    keys = rng.random(small.size)
    hydro = small[np.argsort(keys, kind="stable")[:20]]
    index[hydro] *= 1.30 + 0.55 * rng.random(hydro.size)
    # a shift that puts exactly N_BELOW_100 below 100; round to tenths, each
    # value keeping its side of 100
    v = np.sort(index)
    index = index + 100.0 - (v[N_BELOW_100 - 1] + v[N_BELOW_100]) / 2
    below = index < 100
    return np.where(below, np.minimum(np.round(index, 1), 99.9),
                    np.maximum(np.round(index, 1), 100.0))


def make_municipalities(seed: int = SEED) -> pd.DataFrame:
    """Norway's 426 municipalities of 2017 with synthetic population and free income."""
    rng = _rng(1, seed)
    df = read_centrality()
    county = df["municipality_code"].str[:2]
    region_of = {c: r for r, (_, _, counties) in REGIONS.items() for c in counties}
    df.insert(1, "county", county.map(COUNTIES))
    df.insert(2, "region", county.map(region_of))
    pop = _populations(df["centrality"].to_numpy(),
                       (df["municipality_code"] == CAPITAL).to_numpy(), rng)
    df.insert(3, "population", pop)
    df.insert(4, "municipality_size", _classify(pop, SIZE_CLASSES))
    df["free_income"] = _free_income(pop, rng)
    return df


# --------------------------------------------------------------------- units
def make_units(munis: pd.DataFrame, seed: int = SEED) -> pd.DataFrame:
    """Municipal units by type, with their municipality's traits and employees."""
    rng = _rng(2, seed)
    pop10k = munis["population"].to_numpy() / 10_000
    parts = []
    for t, ut in enumerate(UNIT_TYPES):
        lam = ut.units_a * pop10k ** ut.units_b
        count = np.maximum(ut.min_units, np.floor(lam + rng.random(lam.size))).astype(np.int64)
        rows = np.repeat(np.arange(len(munis)), count)
        k = np.arange(rows.size) - np.repeat(np.cumsum(count) - count, count) + 1
        median = ut.employees_median * pop10k[rows] ** ut.employees_g
        emp = np.rint(median * np.exp(ut.employees_sd * rng.standard_normal(rows.size)))
        emp = np.clip(emp, *ut.employees_range).astype(np.int64)
        parts.append(pd.DataFrame({"row": rows, "type_order": t, "k": k, "employees": emp}))
    units = pd.concat(parts, ignore_index=True)
    units = units.sort_values(["row", "type_order", "k"], kind="stable").reset_index(drop=True)
    m = munis.iloc[units["row"].to_numpy()].reset_index(drop=True)
    abbrev = np.array([ut.abbrev for ut in UNIT_TYPES], dtype=object)[units["type_order"]]
    frame = pd.DataFrame({
        "unit_id": (m["municipality_code"] + "-" + abbrev
                    + units["k"].map("{:03d}".format)).to_numpy(),
    })
    frame = pd.concat([frame, m], axis=1)
    frame["sector"] = np.array([ut.sector for ut in UNIT_TYPES], dtype=object)[
        units["type_order"]]
    frame["unit_type"] = np.array([ut.name for ut in UNIT_TYPES], dtype=object)[
        units["type_order"]]
    frame["employees"] = units["employees"].to_numpy()
    frame["employee_class"] = _classify(frame["employees"].to_numpy(), EMPLOYEE_CLASSES)
    return frame


# ------------------------------------------------------- sample, nonresponse
def draw_sample(frame: pd.DataFrame, seed: int = SEED) -> pd.DataFrame:
    """Stratified SRS within unit type; exactly N_RESPONDENTS respond."""
    frame = frame.copy()
    rng = _rng(3, seed)
    frac = {ut.name: ut.sample_fraction for ut in UNIT_TYPES}
    stratum = frame["unit_type"].to_numpy()
    frame["stratum"] = stratum
    n_units = frame.groupby("stratum", sort=False)["unit_id"].transform("size").to_numpy()
    n_sample = np.rint(n_units * frame["stratum"].map(frac).to_numpy()).astype(np.int64)
    key = rng.random(len(frame))
    rank = pd.Series(key).groupby(stratum).rank(method="first").to_numpy()
    sampled = rank <= n_sample
    # nonresponse: exponential answer times; the survey closes at the 1,786th answer
    resp_logit = (frame["unit_type"].map({ut.name: ut.response_logit for ut in UNIT_TYPES})
                  + frame["region"].map(RESPONSE_REGION)).to_numpy(dtype=float, copy=True)
    resp_logit += RESPONSE_EMPLOYEES * np.log2(frame["employees"].to_numpy() / 20)
    clock = -np.log(1.0 - rng.random(len(frame))) / _expit(resp_logit)
    clock[~sampled] = np.inf
    first = np.argsort(clock, kind="stable")[:N_RESPONDENTS]
    responded = np.zeros(len(frame), dtype=bool)
    responded[first] = True
    frame["stratum_units"] = n_units
    frame["stratum_sampled"] = n_sample
    frame["sampled"] = sampled.astype(np.int64)
    frame["responded"] = responded.astype(np.int64)
    return frame


def final_weights(resp: pd.DataFrame, frame: pd.DataFrame) -> np.ndarray:
    """Design weights post-stratified to the unit counts by unit type x region,
    with innobaro's own :meth:`~innobaro.Design.poststratify`."""
    from ..design import Design

    cells = ["unit_type", "region"]
    counts = resp.groupby(cells, observed=True).size()
    if counts.min() < 3:
        raise RuntimeError("post-stratification needs at least 3 respondents in every "
                           "unit type x region cell")
    totals = frame.groupby(cells, observed=True).size()
    design = Design(resp, weights="design_weight", strata="stratum")
    return design.poststratify(cells, totals).weights.to_numpy()


def respondents(frame: pd.DataFrame) -> pd.DataFrame:
    """The responding units with design and final weights (no answers yet)."""
    resp = frame.loc[frame["responded"] == 1].drop(columns=["sampled", "responded"])
    resp = resp.reset_index(drop=True)
    resp["design_weight"] = resp["stratum_units"] / resp["stratum_sampled"]
    resp["final_weight"] = final_weights(resp, frame)
    return resp


# ------------------------------------------------------------------- answers
def _covariates(df: pd.DataFrame) -> dict[str, np.ndarray]:
    return {
        "size": np.log10(df["population"].to_numpy() / 20_000),
        "centrality": df["centrality"].to_numpy() - 3.5,
        "free_income": (df["free_income"].to_numpy() - 100) / 10,
        "employees": np.log2(df["employees"].to_numpy() / 20),
        "health": (df["sector"] == "health_care").to_numpy(dtype=float),
        "northern": (df["region"] == "northern").to_numpy(dtype=float),
    }


def innovation_logit(df: pd.DataFrame,
                     unit_types: Sequence[UnitType] = UNIT_TYPES) -> np.ndarray:
    """The linear predictor of the innovation model for each row of ``df``."""
    b = INNOVATION
    x = _covariates(df)
    eta = df["unit_type"].map({ut.name: ut.innovation_logit for ut in unit_types}).to_numpy(
        dtype=float)
    return (eta + b["size_quadratic"] * x["size"] ** 2
            + b["centrality_quadratic"] * x["centrality"] ** 2
            + b["free_income"] * x["free_income"] + b["employees"] * x["employees"]
            + b["northern"] * x["northern"])


def item_logit(df: pd.DataFrame, item: Item) -> np.ndarray:
    """The linear predictor of an item for each row of ``df``."""
    x = _covariates(df)
    return (item.intercept + item.health * x["health"] + item.employees * x["employees"]
            + item.size * x["size"])


def _items(group: str, items: Sequence[Item] = ITEMS) -> list[Item]:
    return [it for it in items if it.group == group]


def draw_answers(resp: pd.DataFrame, seed: int = SEED, *,
                 unit_types: Sequence[UnitType] = UNIT_TYPES,
                 items: Sequence[Item] = ITEMS) -> pd.DataFrame:
    """The questionnaire answers of the respondents (0/1; missing when not asked)."""
    rng = _rng(4, seed)
    n = len(resp)
    out = pd.DataFrame(index=resp.index)
    innovated = rng.random(n) < _expit(innovation_logit(resp, unit_types))
    out["innovated"] = innovated.astype(np.int64)
    for group in ("type", "initiator", "collaboration", "development"):
        its = _items(group, items)
        p = np.column_stack([_expit(item_logit(resp, it)) for it in its])
        ticked = rng.random(p.shape) < p
        if group == "type":  # at least one type
            none = ~ticked.any(axis=1)
            share = np.cumsum(p, axis=1) / p.sum(axis=1, keepdims=True)
            pick = (rng.random(n)[:, None] > share).sum(axis=1)
            ticked[none, pick[none]] = True
        elif group == "initiator":  # one to three; employees kept
            names = [it.name for it in its]
            prio = rng.random(p.shape)
            prio[:, names.index("initiator_employees")] = -1.0
            prio = np.where(ticked, prio, np.inf)
            rank = np.argsort(np.argsort(prio, axis=1, kind="stable"), axis=1, kind="stable")
            ticked &= rank < 3
            ticked[~ticked.any(axis=1), names.index("initiator_leaders")] = True
        asked = ~innovated if group == "development" else innovated
        for j, it in enumerate(its):
            # np.where accepts any scalar; its stub does not list pd.NA's type
            na = cast(Any, pd.NA)
            out[it.name] = pd.array(np.where(asked, ticked[:, j].astype(int), na), dtype="Int64")
    return out


# --------------------------------------------------------------------- build
FRAME_COLUMNS = [
    "unit_id", "municipality_code", "county", "region", "population", "municipality_size",
    "centrality", "free_income", "sector", "unit_type", "employees", "employee_class",
    "stratum", "stratum_units", "stratum_sampled", "sampled", "responded",
]
FLOAT_FORMATS = {"free_income": "{:.1f}", "design_weight": "{:.6f}",
                 "final_weight": "{:.6f}"}


def _design_stage(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = draw_sample(make_units(make_municipalities(seed), seed), seed)
    return frame, respondents(frame)


def build(seed: int = SEED, *, unit_types: Sequence[UnitType] = UNIT_TYPES,
          items: Sequence[Item] = ITEMS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The frame of units and the respondents with their answers."""
    frame, resp = _design_stage(seed)
    answers = draw_answers(resp, seed, unit_types=unit_types, items=items)
    return frame[FRAME_COLUMNS], pd.concat([resp, answers], axis=1)


def to_csv_bytes(df: pd.DataFrame) -> bytes:
    """CSV text with fixed float formats, ``\n`` line ends and empty missing values."""
    df = df.copy()
    for col, fmt in FLOAT_FORMATS.items():
        if col in df:
            df[col] = [fmt.format(v) for v in df[col].to_numpy(dtype=float)]
    return df.to_csv(index=False, lineterminator="\n").encode("utf-8")


def write(out_dir: Path | str | None = None, seed: int = SEED) -> dict[str, Path]:
    """Build the data and write the two CSV files; returns their paths."""
    out = DATA_DIR if out_dir is None else Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    frame, resp = build(seed)
    paths = {}
    for name, df in ((FRAME_FILE, frame), (RESPONDENTS_FILE, resp)):
        path = out / name
        path.write_bytes(to_csv_bytes(df))
        paths[name] = path
    return paths


# ------------------------------------------------------------------ published
MOST_INNOVATIVE = {"primary_school", "nursing_home", "upper_secondary_school",
                   "health_station"}  # [S], in no particular order


def published_checks(resp: pd.DataFrame) -> list[tuple[str, float, bool]]:
    """The published patterns, checked on the weighted shares of ``resp``.

    Returns ``(check, value, passed)`` triples; the tolerances are those of
    ``tests/test_datasets.py``, which checks the same with innobaro's estimators.
    """
    w = resp["final_weight"].to_numpy()

    def share(y: str, mask: np.ndarray | None = None) -> float:
        v = resp[y].to_numpy(dtype=float, na_value=np.nan)
        m = ~np.isnan(v) if mask is None else mask & ~np.isnan(v)
        return float((w[m] * v[m]).sum() / w[m].sum())

    def by(col: str, groups: dict[str, Sequence]) -> dict[str, float]:
        values = resp[col].to_numpy()
        return {k: share("innovated", np.isin(values, list(g))) for k, g in groups.items()}

    overall = share("innovated")
    sector = by("sector", {s: [s] for s in SECTORS})
    types = by("unit_type", {ut.name: [ut.name] for ut in UNIT_TYPES})
    size = by("municipality_size", {"<5k": ["0-4999"], "5-10k": ["5000-9999"],
                                    "10-50k": ["10000-19999", "20000-49999"],
                                    "50k+": ["50000+"]})
    cent = by("centrality", {str(c): [c] for c in range(1, 7)})
    cent3 = by("centrality", {"1-2": [1, 2], "3-4": [3, 4], "5-6": [5, 6]})
    emp = list(by("employee_class", {c[0]: [c[0]] for c in EMPLOYEE_CLASSES}).values())
    low = resp["free_income"].to_numpy() < 100
    region = by("region", {r: [r] for r in REGIONS})
    top4 = set(sorted(types, key=types.__getitem__)[-4:])
    out = [
        ("overall 74 +- 2", overall, abs(overall - 0.74) <= 0.02),
        ("education 80 +- 3", sector["education"], abs(sector["education"] - 0.80) <= 0.03),
        ("health and care 70 +- 3", sector["health_care"],
         abs(sector["health_care"] - 0.70) <= 0.03),
        ("most innovative four unit types", len(top4 & MOST_INNOVATIVE), top4 == MOST_INNOVATIVE),
        ("under 5,000: 68 +- 4", size["<5k"], abs(size["<5k"] - 0.68) <= 0.04),
        ("10-50,000: 77.5 +- 3", size["10-50k"], abs(size["10-50k"] - 0.775) <= 0.03),
        ("over 50,000: 73 +- 4", size["50k+"], abs(size["50k+"] - 0.73) <= 0.04),
        ("10-50,000 highest", size["10-50k"],
         size["10-50k"] > max(size["<5k"], size["5-10k"], size["50k+"])),
        ("centrality 3-4 highest", cent3["3-4"], cent3["3-4"] > max(cent3["1-2"], cent3["5-6"])
         and max(cent, key=cent.__getitem__) in ("3", "4")),
        ("1-9 employees: 60 +- 5", emp[0], abs(emp[0] - 0.60) <= 0.05),
        ("100+ employees: 85 +- 5", emp[-1], abs(emp[-1] - 0.85) <= 0.05),
        ("rises with unit size", emp[-1] - emp[0], bool(np.all(np.diff(emp) > 0))),
        ("free income below 100: 1-7 points higher",
         share("innovated", low) - share("innovated", ~low),
         0.01 <= share("innovated", low) - share("innovated", ~low) <= 0.07),
        ("regions within 3 points", max(abs(v - overall) for v in region.values()),
         max(abs(v - overall) for v in region.values()) <= 0.03),
    ]
    for it in ITEMS:
        if it.status == "S":
            tol = 0.02 if it.name == "initiator_employees" else 0.03
            if it.group == "development":
                tol = 0.04
            value = share(it.name)
            out.append((f"{it.name} {it.target:.0%} +- {tol:.0%}", value,
                        abs(value - it.target) <= tol))
    return out


# ----------------------------------------------------------------- calibrate
def calibrate(seed: int = SEED) -> tuple[tuple[UnitType, ...], tuple[Item, ...]]:
    """Refit the calibrated intercepts for ``seed`` (needs scipy).

    The unit-type intercepts of the innovation model are fitted by weighted
    least squares so that the expected weighted shares among the seed's
    respondents match the published overall and sector shares (and the
    ranking of unit types); then each item's intercept so that its expected
    weighted share among those asked matches its target. The slopes stay as
    chosen. Returns the unit types and items with the new intercepts,
    rounded to two decimals (the generator uses the values written into
    ``UNIT_TYPES`` and ``ITEMS``).
    """
    from scipy.optimize import least_squares

    _, resp = _design_stage(seed)
    w = resp["final_weight"].to_numpy()
    groups = {
        "all": np.ones(len(resp), dtype=bool),
        **{s: (resp["sector"] == s).to_numpy() for s in SECTORS},
        **{ut.name: (resp["unit_type"] == ut.name).to_numpy() for ut in UNIT_TYPES},
    }
    # (target, weight): [S] published; the unit types [E], in the published ranking
    targets = {
        "all": (0.74, 4.0), "education": (0.79, 2.0), "health_care": (0.69, 2.0),
        "primary_school": (0.84, 1.0), "upper_secondary_school": (0.84, 1.0),
        "nursing_home": (0.80, 1.0), "health_station": (0.79, 1.0),
        "kindergarten": (0.74, 1.0), "home_care": (0.68, 1.0),
        "mental_health": (0.64, 1.0), "disability_services": (0.62, 1.0),
    }

    def unpack(theta: np.ndarray) -> tuple[UnitType, ...]:
        return tuple(replace(ut, innovation_logit=round(float(v), 2))
                     for ut, v in zip(UNIT_TYPES, theta, strict=True))

    def residuals(theta: np.ndarray) -> np.ndarray:
        uts = tuple(replace(ut, innovation_logit=float(v))
                    for ut, v in zip(UNIT_TYPES, theta, strict=True))
        p = _expit(innovation_logit(resp, uts))
        return np.array([wt * ((w[groups[k]] * p[groups[k]]).sum() / w[groups[k]].sum() - t)
                         for k, (t, wt) in targets.items()])

    theta = least_squares(residuals, [ut.innovation_logit for ut in UNIT_TYPES]).x
    unit_types = unpack(theta)

    innovated = draw_answers(resp, seed, unit_types=unit_types)["innovated"].to_numpy() == 1
    items: list[Item] = []
    for group in ("type", "initiator", "collaboration", "development"):
        its = _items(group)
        asked = ~innovated if group == "development" else innovated
        sub, wa = resp.loc[asked], w[asked]
        target = np.array([it.target for it in its])

        def gap(a: np.ndarray, its: list[Item] = its, sub: pd.DataFrame = sub,
                wa: np.ndarray = wa, group: str = group,
                target: np.ndarray = target) -> np.ndarray:
            p = np.column_stack([_expit(item_logit(sub, replace(it, intercept=v)))
                                 for it, v in zip(its, a, strict=True)])
            return (wa[:, None] * _expected_ticks(p, group)).sum(axis=0) / wa.sum() - target

        a = least_squares(gap, [it.intercept for it in its]).x
        items += [replace(it, intercept=round(float(v), 2)) for it, v in zip(its, a, strict=True)]
    order = [it.name for it in ITEMS]
    return unit_types, tuple(sorted(items, key=lambda it: order.index(it.name)))


def _expected_ticks(p: np.ndarray, group: str) -> np.ndarray:
    """Probability that each option ends up ticked, after the group's rules."""
    if group == "type":
        none = np.prod(1 - p, axis=1, keepdims=True)
        return p + none * p / p.sum(axis=1, keepdims=True)
    if group != "initiator":
        return p
    k = p.shape[1]
    names = [it.name for it in _items("initiator")]
    employees, leaders = names.index("initiator_employees"), names.index("initiator_leaders")
    out = np.zeros_like(p)
    for combo in range(2 ** k):
        on = np.array([(combo >> j) & 1 for j in range(k)], dtype=bool)
        prob = np.prod(np.where(on, p, 1 - p), axis=1)
        m = int(on.sum())
        kept = np.zeros(k)
        if m == 0:
            kept[leaders] = 1.0
        elif m <= 3:
            kept[on] = 1.0
        elif on[employees]:  # employees kept, and 2 of the other m - 1
            kept[on] = 2 / (m - 1)
            kept[employees] = 1.0
        else:
            kept[on] = 3 / m
        out += prob[:, None] * kept[None, :]
    return out


def find_seed(start: int = 1, tries: int = 1000
              ) -> tuple[int, tuple[UnitType, ...], tuple[Item, ...]]:
    """The first seed from ``start`` whose calibrated data pass every published check."""
    for seed in range(start, start + tries):
        try:
            unit_types, items = calibrate(seed)
            _, resp = build(seed, unit_types=unit_types, items=items)
        except RuntimeError:  # a post-stratification cell with under 3 respondents
            continue
        if all(ok for _, _, ok in published_checks(resp)):
            return seed, unit_types, items
    raise RuntimeError(f"no seed in {start}..{start + tries - 1} passes the checks")


# ---------------------------------------------------------------------- main
def _print_coefficients(seed: int, unit_types: Sequence[UnitType],
                        items: Sequence[Item]) -> None:
    print(f"seed {seed}")
    for ut in unit_types:
        print(f"  {ut.name:28s} {ut.innovation_logit: .2f}")
    for it in items:
        print(f"  {it.name:28s} {it.intercept: .2f}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m innobaro.datasets.generate",
        description="Rebuild innobaro's synthetic barometer data (seeded, byte for byte).")
    parser.add_argument("--out", type=Path, default=None,
                        help="directory to write to (default: the bundled data directory)")
    parser.add_argument("--check", action="store_true",
                        help="rebuild in memory and compare with the bundled files")
    parser.add_argument("--calibrate", action="store_true",
                        help="refit the calibrated intercepts for SEED and print them "
                             "(needs scipy)")
    parser.add_argument("--find-seed", type=int, metavar="START", default=None,
                        help="search seeds from START for the first that passes every "
                             "published check, and print it with its intercepts")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    if args.calibrate:
        _print_coefficients(SEED, *calibrate(SEED))
        return 0
    if args.find_seed is not None:
        _print_coefficients(*find_seed(args.find_seed))
        return 0
    if args.check:
        frame, resp = build()
        ok = True
        for name, df in ((FRAME_FILE, frame), (RESPONDENTS_FILE, resp)):
            same = (DATA_DIR / name).read_bytes() == to_csv_bytes(df)
            ok &= same
            print(f"{name}: {'identical' if same else 'DIFFERS'}")
        for check, value, passed in published_checks(resp):
            ok &= passed
            print(f"{'ok  ' if passed else 'FAIL'} {check}: {value:.3f}")
        return 0 if ok else 1
    paths = write(args.out)
    for path in paths.values():
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    print(f"in {time.perf_counter() - start:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
