"""The synthetic barometer: reproducible files, documented variables, published margins.

Published figures ([S]) and figures read from charts or chosen ([E]) are those
collected for the project from the sources named at each check:

- KS, "Kommunesektoren er innovativ" (ks.no, 2018): 74 % innovated; about 80 %
  in education and childhood, 70 % in health and care; the four most
  innovative unit types; most innovation in medium-sized municipalities
  (10-50,000) and at medium centrality; a rise with the number of employees;
  one in four non-innovators with development under way.
- KS, "Ledere og medarbeidere betyr mest" (ks.no, 2018): 88 % say employees
  started or carried out the newest innovation (up to three answers).
- KS, "Hvor innovative er lokalpolitikerne våre?" (ks.no): 10 % named the
  political leadership an important cause.
- KS, "Hva er innovasjonsbarometeret" (ks.no, 2018): 1,786 leaders answered.
- KS, "Innovasjonsbarometeret 2020 - metodeskriv" (ks.no): the 2018 results
  were weighted by unit type and region (landsdel).
- COI, "De norske tal" (innovationsbarometer.coi.dk): innovation types
  (process/organisation 63 %, communication 40 %) and collaboration (own
  municipality 57 %, other public bodies 20 %, private firms 21 %, citizens
  66 %).
- The municipality frame of 2017: 426 municipalities; 224 under 5,000, 142
  from 5,000 to 20,000, 59 over 20,000 (these sum to 425); SSB centrality
  classes; 174 municipalities with corrected free income below 100 (2018).

The tolerances allow for the sampling error of 1,786 respondents (about 1 point
overall, 2-4 points in a size class); each is stated beside its check.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import innobaro as ib
from innobaro.datasets import (
    barometer_design,
    data_dictionary,
    generate,
    load_barometer,
    load_barometer_frame,
    load_municipalities,
)

REPO = Path(__file__).resolve().parents[1]
DATA = Path(generate.__file__).resolve().with_name("data")


@pytest.fixture(scope="module")
def resp() -> pd.DataFrame:
    return load_barometer()


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return load_barometer_frame()


@pytest.fixture(scope="module")
def design(resp: pd.DataFrame) -> ib.Design:
    data = resp.assign(
        size3=np.select([resp["population"] < 5_000, resp["population"] < 10_000,
                         resp["population"] < 50_000], ["<5k", "5-10k", "10-50k"], "50k+"),
        centrality3=np.select([resp["centrality"] <= 2, resp["centrality"] <= 4],
                              ["1-2", "3-4"], "5-6"),
        income_below_100=(resp["free_income"] < 100).astype(int),
    )
    return barometer_design(data)


def share(design: ib.Design, by: str) -> pd.Series:
    """Weighted share of innovating units by domain, with innobaro's estimator."""
    est = ib.proportion(design, "innovated", by=by).estimate
    return est.droplevel("variable")


# ------------------------------------------------------------- reproducibility
def test_generator_rebuilds_the_bundled_files_byte_for_byte(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "innobaro.datasets.generate",
                           "--out", str(tmp_path)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    for name in (generate.FRAME_FILE, generate.RESPONDENTS_FILE):
        assert (tmp_path / name).read_bytes() == (DATA / name).read_bytes(), name


def test_generator_leaves_the_global_random_state_alone() -> None:
    _, keys, pos, *_ = np.random.get_state()  # noqa: NPY002 - the state under test
    keys = keys.copy()
    generate.build()
    _, keys_after, pos_after, *_ = np.random.get_state()  # noqa: NPY002
    assert pos_after == pos and np.array_equal(keys_after, keys)


def test_bundled_files_are_small() -> None:
    sizes = {p.name: p.stat().st_size for p in DATA.iterdir()}
    assert set(sizes) == {"centrality_2017.tsv", generate.FRAME_FILE,
                          generate.RESPONDENTS_FILE}
    assert sum(sizes.values()) < 2_000_000


def test_package_does_not_read_outside_itself() -> None:
    for path in Path(generate.__file__).parent.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "shared" not in text and "..\\" not in text and "../" not in text, path


def test_import_is_light() -> None:
    # importing the package reads no file; the model module loads on first use
    code = ("import sys, innobaro; assert 'innobaro.datasets' not in sys.modules; "
            "import innobaro.datasets; "
            "assert 'innobaro.datasets.generate' not in sys.modules")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr


def test_stored_intercepts_are_the_calibration_of_the_seed() -> None:
    pytest.importorskip("scipy")
    unit_types, items = generate.calibrate(generate.SEED)
    assert unit_types == generate.UNIT_TYPES
    assert items == generate.ITEMS


def test_module_docstring_tabulates_the_coefficients_in_use() -> None:
    doc = generate.__doc__
    for ut in generate.UNIT_TYPES:
        assert re.search(rf"^{ut.name}\s+{ut.innovation_logit:.2f}\s", doc, re.M), ut.name
    for name, value in generate.INNOVATION.items():
        assert re.search(rf"^{name}\s+{value:.2f}\s", doc, re.M), name
    for it in generate.ITEMS:
        row = rf"^{it.name}\s+{it.status} {it.target:.2f}\s+{it.intercept:.2f}\b"
        assert re.search(row, doc, re.M), it.name


# ----------------------------------------------------------- the dictionary
def _documented_values(levels: str) -> list[str]:
    return [part.split(" (")[0] for part in levels.split("; ")]


def test_loaders_return_what_the_dictionary_documents(resp: pd.DataFrame,
                                                      frame: pd.DataFrame) -> None:
    dd = data_dictionary()
    assert dd["variable"].is_unique
    assert set(dd["status"]) <= {"S", "E"}
    assert (dd[["description", "label_no", "type", "model"]] != "").all().all()
    in_frame = dd.loc[dd["dataset"].isin(["frame", "both"]), "variable"].tolist()
    in_resp = dd.loc[dd["dataset"].isin(["respondents", "both"]), "variable"].tolist()
    assert frame.columns.tolist() == in_frame
    assert resp.columns.tolist() == in_resp
    for row in dd.itertuples():
        for df in [d for d, names in ((frame, in_frame), (resp, in_resp))
                   if row.variable in names]:
            col = df[row.variable]
            if row.type == "category":
                assert isinstance(col.dtype, pd.CategoricalDtype), row.variable
                assert list(col.cat.categories) == _documented_values(row.levels), row.variable
                assert col.notna().all()
            elif row.type == "id":
                assert col.map(type).eq(str).all() and col.notna().all(), row.variable
            elif row.type == "integer":
                assert pd.api.types.is_integer_dtype(col), row.variable
            elif row.type == "float":
                assert pd.api.types.is_float_dtype(col) and col.notna().all(), row.variable
            else:
                assert row.type == "binary"
                assert set(col.dropna().unique()) <= {0, 1}, row.variable
                assert col.notna().all() or "missing" in row.levels, row.variable
            bounds = re.fullmatch(r"(\d+) to (\d+)", row.levels)
            if bounds:
                assert col.between(int(bounds[1]), int(bounds[2])).all(), row.variable


def test_published_items_name_their_source() -> None:
    dd = data_dictionary().set_index("variable")
    targets = [it.name for it in generate.ITEMS if it.status == "S"]
    assert (dd.loc[targets, "published"].str.contains("ks.no|coi.dk")).all()
    assert "0.45 log2(e/20)" in dd.loc["innovated", "model"]


def test_unit_ids_and_municipality_codes(resp: pd.DataFrame, frame: pd.DataFrame) -> None:
    assert frame["unit_id"].is_unique
    assert frame["unit_id"].str.fullmatch(r"\d{4}-[A-Z]{2,3}\d{3}").all()
    assert (frame["unit_id"].str[:4] == frame["municipality_code"]).all()
    assert frame["municipality_code"].str.fullmatch(r"\d{4}").all()


def test_docs_page_lists_every_variable() -> None:
    page = REPO / "docs" / "guide" / "barometer-data.md"
    if not page.exists():
        pytest.skip("docs are not installed")
    text = page.read_text(encoding="utf-8")
    missing = [v for v in data_dictionary()["variable"] if f"`{v}`" not in text]
    assert missing == []


# ------------------------------------------------------------ the frame
def test_426_municipalities_with_the_published_size_classes() -> None:
    m = load_municipalities()
    assert len(m) == 426 and m["municipality_code"].is_unique  # [S] 426 in 2017
    pop = m["population"]
    # [S] 224 under 5,000 and 59 over 20,000, exactly
    assert (pop < 5_000).sum() == 224
    assert (pop > 20_000).sum() == 59
    # [S] 142 from 5,000 to 20,000, but 224 + 142 + 59 = 425: the 426th is here
    assert pop.between(5_000, 20_000).sum() == 143
    # [E] about 85 at 5-10,000, 57 at 10-20,000, 43 at 20-50,000, 16 (about 15 [S]) over 50,000
    counts = m["municipality_size"].value_counts().sort_index().tolist()
    assert counts == [224, 86, 57, 43, 16]
    assert abs(pop.mean() - 12_200) < 1  # [S] mean about 12,200
    assert m.loc[pop.idxmax(), "municipality_code"] == "0301"  # the capital is largest


def test_centrality_classes_are_the_real_ones() -> None:
    m = load_municipalities().set_index("municipality_code")
    real = generate.read_centrality().set_index("municipality_code")["centrality"]
    assert m["centrality"].sort_index().equals(real.sort_index())
    # [S] SSB classes 1-6: 7, 32, 68, 86, 121, 112 municipalities
    assert m["centrality"].value_counts().sort_index().tolist() == [7, 32, 68, 86, 121, 112]


def test_corrected_free_income() -> None:
    m = load_municipalities()
    fi = m["free_income"]
    assert (fi < 100).sum() == 174  # [S] 174 municipalities below 100 (2018)
    # [S] an index with the national (population-weighted) average at 100
    assert abs(np.average(fi, weights=m["population"]) - 100) < 1
    # [E] right-skewed, most between 93 and 105, a few hydropower municipalities far above
    assert fi.between(93, 105).mean() > 0.6 and fi.max() > 150 and fi.median() < fi.mean()
    small = m["population"] < 5_000  # [E] small municipalities higher on average
    assert fi[small].mean() > fi[~small].mean() + 5


def test_regions_group_the_counties(frame: pd.DataFrame) -> None:
    pairs = frame[["county", "region"]].drop_duplicates()
    assert pairs["county"].is_unique and len(pairs) == 19
    for region, (_, _, counties) in generate.REGIONS.items():
        names = {generate.COUNTIES[c] for c in counties}
        assert set(pairs.loc[pairs["region"] == region, "county"]) == names


def test_units_sample_and_respondents(resp: pd.DataFrame, frame: pd.DataFrame) -> None:
    assert len(resp) == 1786  # [S] 1,786 leaders answered
    assert frame["responded"].sum() == 1786
    assert ((frame["responded"] == 1) <= (frame["sampled"] == 1)).all()
    traits = frame.loc[frame["responded"] == 1].drop(columns=["sampled", "responded"])
    pd.testing.assert_frame_equal(traits.reset_index(drop=True),
                                  resp[traits.columns].reset_index(drop=True))
    counts = frame.groupby("stratum", observed=True).agg(
        N=("unit_id", "size"), n=("sampled", "sum"))
    per_row = counts.loc[resp["stratum"]]
    assert (resp["stratum_units"].to_numpy() == per_row["N"].to_numpy()).all()
    assert (resp["stratum_sampled"].to_numpy() == per_row["n"].to_numpy()).all()
    np.testing.assert_allclose(resp["design_weight"], resp["stratum_units"]
                               / resp["stratum_sampled"], atol=5e-7)
    # [E] unit counts near the published ones: 47 % of 5,980 kindergartens public,
    # about 2,860 schools (most municipal), about 900-950 nursing homes, 1,000 home care
    n_type = frame["unit_type"].value_counts()
    assert 2_700 < n_type["kindergarten"] < 2_900
    assert 2_500 < n_type["primary_school"] < 2_860
    assert 900 <= n_type["nursing_home"] <= 950
    assert 950 < n_type["home_care"] < 1_050
    # [E] about 16 employees per kindergarten (93,952 in 5,980), 25-35 per school
    emp = frame.groupby("unit_type", observed=True)["employees"].mean()
    assert 15 < emp["kindergarten"] < 18 and 25 < emp["primary_school"] < 35


def test_final_weights_are_poststratified_to_unit_type_by_region(resp: pd.DataFrame,
                                                                 frame: pd.DataFrame) -> None:
    # [S] the 2018 results were weighted by unit type and landsdel
    cells = ["unit_type", "region"]
    totals = frame.groupby(cells, observed=True).size()
    weighted = resp.groupby(cells, observed=True)["final_weight"].sum()
    # sorted: the order of observed groups of categoricals differs between pandas versions
    pd.testing.assert_series_equal(weighted.sort_index(), totals.astype(float).sort_index(),
                                   check_names=False, atol=1e-3)
    ratio = resp["final_weight"] / resp["design_weight"]
    assert ratio.groupby([resp[c] for c in cells], observed=True).nunique().max() == 1


def test_final_weights_equal_design_poststratify(resp: pd.DataFrame,
                                                 frame: pd.DataFrame) -> None:
    # the generator's post-stratification is the one innobaro's Design does
    totals = frame.groupby(["unit_type", "region"], observed=True).size()
    d = ib.Design(resp, weights="design_weight", strata="stratum").poststratify(
        ["unit_type", "region"], totals)
    np.testing.assert_allclose(d.weights.to_numpy(), resp["final_weight"].to_numpy(),
                               rtol=0, atol=5e-7)  # the file keeps six decimals


def test_barometer_design(resp: pd.DataFrame) -> None:
    d = barometer_design()
    assert isinstance(d, ib.Design)
    assert d.n == 1786 and d.n_strata == 8
    np.testing.assert_array_equal(d.weights.to_numpy(), resp["final_weight"].to_numpy())


def test_skip_patterns(resp: pd.DataFrame) -> None:
    innovated = resp["innovated"] == 1
    asked = [it.name for it in generate.ITEMS if it.group != "development"]
    assert resp.loc[innovated, asked].notna().all().all()
    assert resp.loc[~innovated, asked].isna().all().all()
    assert resp.loc[innovated, "development_underway"].isna().all()
    assert resp.loc[~innovated, "development_underway"].notna().all()
    types = resp.loc[innovated, [c for c in asked if c.startswith("inno_")]].sum(axis=1)
    assert types.min() >= 1  # every innovation has a type
    initiators = resp.loc[innovated, [c for c in asked if c.startswith("initiator_")]]
    assert initiators.sum(axis=1).between(1, 3).all()  # [S] up to three could be ticked


# ------------------------------------------------------- published margins
def test_three_in_four_innovated(design: ib.Design) -> None:
    est = ib.proportion(design, "innovated").estimate.iloc[0]
    # [S] 74 % ("3 of 4"), KS "Kommunesektoren er innovativ"; +-2 points (se about 1.1)
    assert est == pytest.approx(0.74, abs=0.02)


def test_education_above_health_and_care(design: ib.Design) -> None:
    est = share(design, "sector")
    # [S] "eight in ten" in education and childhood, "seven in ten" in health and care,
    # KS "Kommunesektoren er innovativ"; +-3 points (se about 1.5)
    assert est["education"] == pytest.approx(0.80, abs=0.03)
    assert est["health_care"] == pytest.approx(0.70, abs=0.03)
    assert est["education"] - est["health_care"] > 0.05


def test_most_innovative_unit_types(design: ib.Design) -> None:
    est = share(design, "unit_type")
    # [S] most innovation in primary schools, nursing and care homes, upper secondary
    # schools, health stations and school health services (KS "Kommunesektoren er innovativ")
    assert set(est.nlargest(4).index) == generate.MOST_INNOVATIVE


def test_inverted_u_in_municipality_size(design: ib.Design) -> None:
    est = share(design, "size3")
    # [S] highest in medium-sized municipalities, 10-50,000 (KS "Kommunesektoren er
    # innovativ"); [E] about 68 % under 5,000, 77-78 % at 10-50,000, 73 % over 50,000
    # (chart); +-4, +-3, +-4 points (se about 2.5, 1.6, 2.3)
    assert est["10-50k"] > max(est["<5k"], est["5-10k"], est["50k+"])
    assert est["<5k"] == pytest.approx(0.68, abs=0.04)
    assert est["10-50k"] == pytest.approx(0.775, abs=0.03)
    assert est["50k+"] == pytest.approx(0.73, abs=0.04)


def test_inverted_u_in_centrality(design: ib.Design) -> None:
    # [S] most innovation in municipalities of medium centrality (KS "Kommunesektoren
    # er innovativ"); [E] the peak in classes 3-4
    est = share(design, "centrality3")
    assert est["3-4"] > max(est["1-2"], est["5-6"])
    assert share(design, "centrality").idxmax() in (3, 4)


def test_rises_with_unit_size(design: ib.Design) -> None:
    est = share(design, "employee_class")
    # [S] the share rises with the number of employees (KS "Kommunesektoren er
    # innovativ"); [E] about 60 % under 10 employees, 85 % at 100 or more (chart);
    # +-5 points (se about 4.5 and 3.4)
    assert (np.diff(est.to_numpy()) > 0).all()
    assert est["1-9"] == pytest.approx(0.60, abs=0.05)
    assert est["100+"] == pytest.approx(0.85, abs=0.05)


def test_more_innovation_where_free_income_is_low(design: ib.Design) -> None:
    est = share(design, "income_below_100")
    # [S] more innovation where corrected free income is low; [E] a few points (1-7)
    assert 0.01 <= est[1] - est[0] <= 0.07


def test_innovation_all_over_the_country(design: ib.Design) -> None:
    est = share(design, "region")
    overall = ib.proportion(design, "innovated").estimate.iloc[0]
    # [S] innovation happens all over the country; [E] regions within +-3 points
    assert (est - overall).abs().max() <= 0.03


@pytest.mark.parametrize(("item", "target", "tol"), [
    # [S] 88 % say employees started or carried out the newest innovation (KS "Ledere og
    # medarbeidere betyr mest"); +-2 points (se about 1.0)
    ("initiator_employees", 0.88, 0.02),
    # [S] 10 % name the political leadership an important cause (KS "Hvor innovative er
    # lokalpolitikerne våre?"); +-3 points (se about 0.9)
    ("initiator_politicians", 0.10, 0.03),
    # [S] innovation types (COI "De norske tal"): process or organisational 63 %,
    # communication 40 %; +-3 points (se about 1.4)
    ("inno_process_org", 0.63, 0.03),
    ("inno_communication", 0.40, 0.03),
    # [S] collaboration on the newest innovation (COI "De norske tal"): within the own
    # municipality 57 %, other public bodies 20 %, private firms 21 %, citizens 66 %;
    # +-3 points (se 1.2-1.4)
    ("collab_own_municipality", 0.57, 0.03),
    ("collab_other_public", 0.20, 0.03),
    ("collab_private", 0.21, 0.03),
    ("involved_citizens", 0.66, 0.03),
])
def test_items_on_the_newest_innovation(design: ib.Design, item: str, target: float,
                                        tol: float) -> None:
    innovators = design.subset(design.data["innovated"] == 1)
    est = ib.proportion(innovators, item).estimate.iloc[0]
    assert est == pytest.approx(target, abs=tol)


def test_development_under_way_among_non_innovators(design: ib.Design) -> None:
    others = design.subset(design.data["innovated"] == 0)
    est = ib.proportion(others, "development_underway").estimate.iloc[0]
    # [S] one in four units without innovation had development under way (KS
    # "Kommunesektoren er innovativ"); +-4 points (se about 2.0)
    assert est == pytest.approx(0.25, abs=0.04)


def test_generator_checks_agree(resp: pd.DataFrame) -> None:
    failed = [name for name, _, ok in generate.published_checks(resp) if not ok]
    assert failed == []
