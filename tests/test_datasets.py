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

The 2020 edition (fieldwork 2019) is checked against KS, "Høyt innovasjonstrykk i
kommunesektoren", "Ledere og medarbeidere fremdeles viktigst", "Hva hemmer og hva
fremmer innovasjon" and "Innovasjonsbarometeret 2020 - metodeskriv" (ks.no, 2020):
74 % innovated, most in the social sector, no large differences between sectors or
regions, employees key in 86 %, process innovation almost 60 %, core tasks about
90 %, more than a quarter with two or more types; top promoters employee
participation and internal collaboration, top barrier limited economic resources,
22 % saying limited resources promoted the innovation; weighted by sector.

The tolerances allow for the sampling error of 1,786 (2018) and 2,400 (2020)
respondents (about 1 point overall, 2-4 points in a size class or region); each is
stated beside its check.
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
    barometer_2020_design,
    barometer_design,
    data_dictionary,
    generate,
    load_barometer,
    load_barometer_2020,
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
def resp20() -> pd.DataFrame:
    return load_barometer_2020()


@pytest.fixture(scope="module")
def frame20() -> pd.DataFrame:
    return load_barometer_frame(2020)


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
    names = (generate.FRAME_FILE, generate.RESPONDENTS_FILE, generate.RESPONDENTS_2020_FILE)
    for name in names:
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
                          generate.RESPONDENTS_FILE, generate.RESPONDENTS_2020_FILE}
    assert sum(sizes.values()) < 3_000_000


def test_every_data_file_is_labelled_synthetic() -> None:
    # a copied file keeps its label: in its name and in a column that is 1 on every row
    for path in DATA.glob("*.csv"):
        assert path.name.startswith("synthetic_"), path.name
        df = pd.read_csv(path, dtype=str)
        assert (df["synthetic"] == "1").all(), path.name


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
    unit_types, items, items20, likert = generate.calibrate(generate.SEED)
    assert unit_types == generate.UNIT_TYPES_2020
    assert items == generate.ITEMS
    assert items20 == generate.ITEMS_2020
    assert likert == generate.LIKERT_ITEMS


def test_module_docstring_tabulates_the_coefficients_in_use() -> None:
    doc = generate.__doc__
    for ut in generate.UNIT_TYPES_2020:
        v2018 = "-" if np.isnan(ut.innovation_logit) else f"{ut.innovation_logit:.2f}"
        row = rf"^{ut.name}\s+{re.escape(v2018)}\s+{ut.innovation_logit_2020:.2f}\s"
        assert re.search(row, doc, re.M), ut.name
    for name, value in generate.INNOVATION.items():
        assert re.search(rf"^{name}\s+{value:.2f}\s", doc, re.M), name
    for it in generate.ITEMS + generate.ITEMS_2020:
        row = rf"^{it.name}\s+{it.status} {it.target:.2f}\s+{it.intercept:.2f}\b"
        assert re.search(row, doc, re.M), it.name
    for lk in generate.LIKERT_ITEMS:
        row = rf"^{lk.name}\s+{lk.status}\s+{lk.location:.2f}\b"
        assert re.search(row, doc, re.M), lk.name
    for name in ("MUNICIPALITY_SD", "UNIT_SD", "RESPONSE_UNIT_SD", "ROTATION", "SIZE_NOISE"):
        assert f"{name} = {getattr(generate, name):g}" in doc, name


# ----------------------------------------------------------- the dictionary
def _documented_values(levels: str) -> list[str]:
    return [part.split(" (")[0] for part in levels.split("; ")]


def test_loaders_return_what_the_dictionary_documents(resp: pd.DataFrame, frame: pd.DataFrame,
                                                      resp20: pd.DataFrame,
                                                      frame20: pd.DataFrame) -> None:
    dd = data_dictionary()
    assert dd["variable"].is_unique
    assert set(dd["status"]) <= {"S", "E"}
    assert (dd[["description", "label_no", "type", "model"]] != "").all().all()
    assert dd["label_no"].str.strip().ne("").all()  # --lang nb labels every column
    assert dd["label_no"].is_unique  # and tells the columns apart
    where = dd["dataset"].str.split(", ")
    assert set(where.explode()) == {"frame", "2018", "2020"}
    datasets = [("frame", frame), ("frame", frame20), ("2018", resp), ("2020", resp20)]
    for key, df in datasets:
        names = dd.loc[where.map(lambda w, key=key: key in w), "variable"].tolist()
        assert df.columns.tolist() == names, key
        for row in dd.loc[dd["variable"].isin(names)].itertuples():
            col = df[row.variable]
            if row.type == "category":
                assert isinstance(col.dtype, pd.CategoricalDtype), row.variable
                documented = _documented_values(row.levels)
                # the 2018 data have the first categories (two sectors, eight unit types)
                assert list(col.cat.categories) == documented[:len(col.cat.categories)]
                if df is not resp and df is not frame:
                    assert list(col.cat.categories) == documented, row.variable
                assert col.notna().all()
            elif row.type == "ordinal":
                assert isinstance(col.dtype, pd.CategoricalDtype) and col.cat.ordered
                assert list(col.cat.categories) == [1, 2, 3, 4, 5, 6], row.variable
                assert _documented_values(row.levels)[:6] == ["1", "2", "3", "4", "5", "6"]
                assert col.notna().all() or "missing" in row.levels, row.variable
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


def test_multiselect_sets_are_documented(resp: pd.DataFrame, resp20: pd.DataFrame) -> None:
    dd = data_dictionary()
    initiators = dd.loc[dd["multiselect"] == "initiator", "variable"].tolist()
    assert initiators == [it.name for it in generate.ITEMS if it.group == "initiator"]
    assert "one to three" in dd.set_index("variable").loc["initiator_employees", "model"]
    types = dd.loc[dd["multiselect"] == "type", "variable"].tolist()
    assert types == ["inno_service", "inno_process_org", "inno_communication"]
    for df in (resp, resp20):  # [S] up to three initiators could be ticked
        ticked = df.loc[df["innovated"] == 1, initiators].sum(axis=1)
        assert ticked.between(1, 3).all()
        assert (ticked == 3).any() and (ticked == 1).any()
        assert (df.loc[df["innovated"] == 1, types].sum(axis=1) >= 1).all()


def test_published_items_name_their_source() -> None:
    dd = data_dictionary().set_index("variable")
    targets = [it.name for it in generate.ITEMS if it.status == "S"]
    assert (dd.loc[targets, "published"].str.contains("ks.no|coi.dk")).all()
    assert f"{generate.INNOVATION['employees']:+.2f} log2(e/20)" in dd.loc["innovated", "model"]


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
    # [E] about 85 at 5-10,000, 57 at 10-20,000, 43 at 20-50,000; [S] 15 over 50,000 and
    # 27 under 1,000 (2016)
    counts = m["municipality_size"].value_counts().sort_index().tolist()
    assert counts == [224, 86, 57, 44, 15]
    assert (pop < 1_000).sum() == 27
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
    # [S] innovation happens all over the country; [E] regions within +-3 points on the
    # chart; +-4 here, as the municipality effects make a region's share vary more (se 2-4)
    assert (est - overall).abs().max() <= 0.04


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


# ------------------------------------------------ clustering and size x centrality
def test_small_central_and_large_peripheral_municipalities_exist() -> None:
    m = load_municipalities()
    cross = pd.crosstab(m["municipality_size"], m["centrality"])
    # size is not a function of centrality: small central and larger peripheral exist
    assert cross.loc["0-4999", [1, 2, 3]].sum() >= 10
    assert cross.loc[["20000-49999", "50000+"], [5, 6]].to_numpy().sum() >= 2
    rho = m["population"].rank().corr(m["centrality"].rank())
    assert -0.75 < rho < -0.45


def test_innovation_clusters_within_municipalities(resp: pd.DataFrame) -> None:
    # the model's intracluster correlation in the 2018 frame is about 0.06 (issue 19)
    assert 0.05 <= generate.population_icc() <= 0.07
    # the ANOVA estimate on the respondents is positive and of that order
    icc = generate.anova_icc(resp["innovated"].to_numpy(dtype=float),
                             resp["municipality_code"].to_numpy())
    assert 0.0 < icc < 0.15
    # so a design with municipalities as clusters has larger standard errors
    clustered = ib.Design(resp, weights="final_weight", psu="municipality_code")
    plain = ib.Design(resp, weights="final_weight")
    se = [float(ib.proportion(d, "innovated").se.iloc[0]) for d in (clustered, plain)]
    assert se[0] > 1.05 * se[1]


def test_icc_formula_against_the_anova_estimator() -> None:
    rng = np.random.default_rng(1)
    cluster = np.repeat(np.arange(400), 25)
    p = 1 / (1 + np.exp(-(0.5 + 0.9 * rng.standard_normal(400)[cluster])))
    y = (rng.random(p.size) < p).astype(float)
    assert generate.anova_icc(y, cluster) == pytest.approx(
        generate.municipality_icc(p, cluster), abs=0.02)


# ------------------------------------------------------------ the 2020 edition
def test_2020_frame_is_the_2018_frame_with_the_new_unit_types(frame: pd.DataFrame,
                                                              frame20: pd.DataFrame) -> None:
    old = frame20.loc[frame20["unit_type"].isin(frame["unit_type"].cat.categories)]
    assert old["unit_id"].tolist() == frame["unit_id"].tolist()
    new = set(frame20["unit_type"]) - set(frame["unit_type"])
    assert new == {ut.name for ut in generate.UNIT_TYPES_NEW_2020}
    # [S] social, culture and technical sectors added; after-school care to education
    assert list(frame20["sector"].cat.categories) == [
        "education", "health_care", "social", "culture", "technical"]
    assert (frame20.loc[frame20["unit_type"] == "after_school_care", "sector"]
            == "education").all()
    assert frame20["unit_id"].str.fullmatch(r"\d{4}-[A-Z]{2,3}\d{3}").all()
    assert frame20["unit_id"].is_unique
    assert (frame20["responded"] <= frame20["sampled"]).all()
    assert frame20["responded"].sum() == generate.N_RESPONDENTS_2020


def test_2020_weights_are_poststratified_to_sector(resp20: pd.DataFrame,
                                                   frame20: pd.DataFrame) -> None:
    # [S] the 2020 results were weighted at sector level, not by unit type and region
    totals = frame20.groupby("sector", observed=True).size().astype(float)
    weighted = resp20.groupby("sector", observed=True)["final_weight"].sum()
    pd.testing.assert_series_equal(weighted.sort_index(), totals.sort_index(),
                                   check_names=False, atol=1e-3)
    d = barometer_2020_design()
    assert d.n == len(resp20) and d.n_strata == 14
    np.testing.assert_allclose(resp20["design_weight"], resp20["stratum_units"]
                               / resp20["stratum_sampled"], atol=5e-7)


def test_overlap_between_the_editions(resp: pd.DataFrame, resp20: pd.DataFrame) -> None:
    both = set(resp["unit_id"]) & set(resp20["unit_id"])
    assert set(resp.loc[resp["panel"] == 1, "unit_id"]) == both
    assert set(resp20.loc[resp20["panel"] == 1, "unit_id"]) == both
    # [E] about 35-40 % of the 2018 respondents answer again
    assert 0.35 <= len(both) / len(resp) <= 0.40
    # the same unit has the same traits in both editions (one frame, 2017 codes)
    cols = ["municipality_code", "unit_type", "employees", "population", "centrality"]
    a = resp.set_index("unit_id").loc[sorted(both), cols]
    b = resp20.set_index("unit_id").loc[sorted(both), cols]
    pd.testing.assert_frame_equal(a.astype(str), b.astype(str))
    assert (resp["edition"] == 2018).all() and (resp20["edition"] == 2020).all()


def test_2020_published_figures(resp20: pd.DataFrame) -> None:
    d = barometer_2020_design()
    overall = ib.proportion(d, "innovated").estimate.iloc[0]
    assert overall == pytest.approx(0.74, abs=0.02)  # [S] 74 % innovated
    sector = share(d, "sector")
    # [S] most activity in the social sector; no large differences between sectors
    assert sector.idxmax() == "social"
    assert (sector - overall).abs().max() <= 0.08
    assert (share(d, "region") - overall).abs().max() <= 0.05  # [S] nor regions
    innovators = d.subset(d.data["innovated"] == 1)
    for item, target, tol in (("initiator_employees", 0.86, 0.02),  # [S] 86 %
                              ("inno_process_org", 0.58, 0.03),  # [S] "almost sixty"
                              ("core_task", 0.90, 0.03)):  # [S] about 90 %
        est = ib.proportion(innovators, item).estimate.iloc[0]
        assert est == pytest.approx(target, abs=tol), item
    # [S] more than a quarter combine two or more types
    inn = resp20.loc[resp20["innovated"] == 1]
    two = (inn[["inno_service", "inno_process_org", "inno_communication"]].sum(axis=1) >= 2)
    assert np.average(two, weights=inn["final_weight"]) > 0.25


def test_promoters_and_barriers(resp20: pd.DataFrame) -> None:
    inn = resp20.loc[resp20["innovated"] == 1]
    likert = [lk.name for lk in generate.LIKERT_ITEMS]
    assert inn[likert].notna().all().all()
    assert resp20.loc[resp20["innovated"] == 0, likert].isna().all().all()
    means = pd.Series({c: np.average(inn[c].astype(int), weights=inn["final_weight"])
                       for c in likert})
    promoters = means[[c for c in likert if c.startswith("promoter_")]]
    barriers = means[[c for c in likert if c.startswith("barrier_")]]
    # [S] top promoters: employee participation and internal collaboration
    assert set(promoters.nlargest(2).index) == {"promoter_employee_participation",
                                                "promoter_internal_collaboration"}
    # [S] top barrier: limited economic resources
    assert barriers.idxmax() == "barrier_economic_resources"
    # [S] 22 % say limited resources promoted the innovation (5 or 6 here)
    high = (inn["promoter_limited_resources"].astype(int) >= 5)
    assert np.average(high, weights=inn["final_weight"]) == pytest.approx(0.22, abs=0.03)
    # every level is used
    for c in likert:
        assert inn[c].value_counts().min() > 0, c


def test_2018_has_no_likert_items(resp: pd.DataFrame) -> None:
    assert not any(c.startswith(("promoter_", "barrier_")) for c in resp.columns)


def test_frame_edition_is_checked() -> None:
    with pytest.raises(ib.DesignError, match="edition=2019"):
        load_barometer_frame(2019)


def test_waves_compare_on_the_common_scope_with_the_overlap(resp: pd.DataFrame,
                                                            resp20: pd.DataFrame) -> None:
    # the guide's recipe: 2018 unit types, one weighting (sector), units as PSUs
    frame = load_barometer_frame()
    totals = frame.groupby("sector", observed=True).size()
    common = resp20.loc[resp20["unit_type"].isin(resp["unit_type"].cat.categories)].copy()
    for col in ("sector", "unit_type", "stratum"):
        common[col] = common[col].astype(resp[col].dtype)
    both = pd.concat([resp, common], ignore_index=True)
    d = ib.Design(both, weights="design_weight", strata="stratum", psu="unit_id")
    d = d.poststratify(["edition", "sector"], pd.concat({2018: totals, 2020: totals},
                                                        names=["edition", "sector"]))
    joint = ib.compare(d, "innovated", by="edition")
    separate = ib.compare_surveys(
        ib.proportion(d.subset(d.data["edition"] == 2020), "innovated"),
        ib.proportion(d.subset(d.data["edition"] == 2018), "innovated"))
    # the same difference; the overlap makes the estimates positively correlated, so
    # the independent-samples standard error of compare_surveys is larger
    assert abs(joint["estimate"].iloc[0]) == pytest.approx(
        abs(separate.estimate.iloc[0]), abs=1e-12)
    assert joint["se"].iloc[0] < separate.se.iloc[0]
