"""Reliability flags (innobaro.flags) and the report's outputs (innobaro.document).

The flags follow the NCHS Data Presentation Standards for Proportions
(Parker et al. 2017, Vital Health Stat 2(175)); each test of a rule builds
inputs on both sides of its threshold and states the rule (in our words: the
steps as the standard orders them and as NCHS's R package surveytable,
``.lpe_percents``, implements them). The outputs:
suppressed cells blank with footnotes in text, Markdown, HTML and Excel and
kept in JSON; the publication style; Norwegian labels; the methods appendix;
the self-contained HTML page; the Excel workbook; figures; the command line.
"""

from __future__ import annotations

import base64
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import innobaro as ib
from innobaro.document import (
    TRANSLATIONS,
    Report,
    Section,
    _display,
    _sheet_names,
    labels_from_dictionary,
)
from innobaro.errors import EstimationError
from innobaro.flags import (
    flag_differences,
    flag_proportions,
    flagged_shares,
    nchs_flags,
    reliability,
)
from innobaro.intervals import proportion_interval
from innobaro.results import Estimate


def flags_of(p, var, lower, upper, n, df=50):
    f = nchs_flags([p], [var], [lower], [upper], [n], [df])
    return f["flag"].iloc[0], f["reason"].iloc[0]


# ---------------------------------------------------------------------------
# the NCHS rules, one by one
# ---------------------------------------------------------------------------
def test_effective_sample_size_below_30_is_suppressed() -> None:
    # step 1: suppress when the effective sample size n* = p(1 - p) / Var(p),
    # at most n, is below 30: 0.25 / 0.0125 = 20 and 0.25 / 0.0025 = 100
    assert flags_of(0.5, 0.0125, 0.45, 0.55, 200) == ("suppress", "n_eff < 30")
    assert flags_of(0.5, 0.0025, 0.45, 0.55, 200) == ("ok", "")
    # n* is capped at the sample size: 2500 computed, 25 rows
    f = nchs_flags([0.5], [0.0001], [0.48], [0.52], [25], [50])
    assert f["n_eff"].iloc[0] == 25 and f["flag"].iloc[0] == "suppress"
    # exactly 30 passes (the rule is "below 30")
    assert flags_of(0.5, 0.25 / 30, 0.45, 0.55, 200)[0] == "ok"


def test_absolute_width_of_030_or_more_is_suppressed() -> None:
    # step 2: suppress when the absolute width of the 95% interval is 0.30 or more
    assert flags_of(0.5, 0.005, 0.34, 0.66, 200) == ("suppress", "CI width >= 0.30")
    assert flags_of(0.5, 0.005, 0.0, 0.3, 200) == ("suppress", "CI width >= 0.30")
    assert flags_of(0.5, 0.005, 0.36, 0.64, 200) == ("ok", "")


def test_relative_width_over_130_percent_is_suppressed() -> None:
    # step 3: with an absolute width between 0.05 and 0.30, suppress when the
    # relative width (width / p) is more than 130%: 0.09 / 0.04 = 225%
    var = 0.04 * 0.96 / 100  # n* = 100
    assert flags_of(0.04, var, 0.01, 0.10, 500) == ("suppress", "relative CI width > 130%")
    # 0.09 / 0.10 = 90%: shown
    assert flags_of(0.10, 0.10 * 0.9 / 100, 0.06, 0.15, 500) == ("ok", "")
    # a width of 0.05 or less is shown whatever the relative width (0.016 / 0.01 = 160%)
    assert flags_of(0.01, 0.01 * 0.99 / 1000, 0.004, 0.02, 2000) == ("ok", "")


def test_complement_relative_width_over_130_percent_is_reviewed() -> None:
    # the 130% relative-width test applied to the complement 1 - p:
    # 0.09 / (1 - 0.96) = 225% > 130%, while 0.09 / 0.96 passes for p itself
    var = 0.96 * 0.04 / 100
    assert flags_of(0.96, var, 0.90, 0.99, 500) == ("review", "complement CI width > 130%")
    # a width of 0.05 or less is exempt, as for p: 0.02 / 0.01 = 200%
    assert flags_of(0.99, 0.99 * 0.01 / 1000, 0.98, 1.0, 2000) == ("ok", "")
    # the complement of 0.5 is 0.5: 0.2 / 0.5 = 40%
    assert flags_of(0.5, 0.0025, 0.40, 0.60, 200) == ("ok", "")


def test_fewer_than_8_degrees_of_freedom_is_reviewed() -> None:
    # review when the design has fewer than 8 degrees of freedom
    assert flags_of(0.5, 0.0025, 0.40, 0.60, 200, df=5) == ("review", "df < 8")
    assert flags_of(0.5, 0.0025, 0.40, 0.60, 200, df=8) == ("ok", "")
    # suppression comes first: a suppressed estimate is not also reviewed
    assert flags_of(0.5, 0.0125, 0.40, 0.60, 200, df=5) == ("suppress", "n_eff < 30")


def test_zero_and_hundred_percent_are_reviewed_not_ok() -> None:
    # statistical review of 0% and 100%: the domain with p = 0 and
    # n = 111 was "ok"; its Korn-Graubard upper end is 1 - 0.025^(1/111)
    upper = 1 - 0.025 ** (1 / 111)
    assert flags_of(0.0, 0.0, 0.0, upper, 111) == ("review", "0% or 100%")
    assert flags_of(1.0, 0.0, 1 - upper, 1.0, 111) == ("review", "0% or 100%")
    # n* of a share without variance is the sample size, so 20 rows suppress it
    assert flags_of(0.0, 0.0, 0.0, 1 - 0.025 ** (1 / 20), 20) == ("suppress", "n_eff < 30")
    # the width tests do not apply: 40 rows give an upper end of 0.088 (> 0.05,
    # relative width infinite), still shown for review
    assert flags_of(0.0, 0.0, 0.0, 1 - 0.025 ** (1 / 40), 40) == ("review", "0% or 100%")
    # every reason for review is named
    assert flags_of(0.0, 0.0, 0.0, upper, 111, df=4) == ("review", "df < 8; 0% or 100%")


def test_no_interval_is_suppressed() -> None:
    assert flags_of(0.5, np.nan, np.nan, np.nan, 200) == ("suppress", "no interval")


def test_reliability_keeps_its_old_call_and_gives_reasons() -> None:
    args = (np.array([0.5, 0.5, 0.0]), np.array([0.0025, 0.0125, 0.0]),
            np.array([0.40, 0.25, 0.0]), np.array([0.60, 0.75, 0.03]),
            np.array([200, 200, 111]), np.array([50, 50, 50]))
    flags, neff = reliability(*args)
    assert flags.tolist() == ["ok", "suppress", "review"]
    np.testing.assert_allclose(neff, [100, 20, 111])
    flags, neff, why = reliability(*args, reasons=True)
    assert why.tolist() == ["", "n_eff < 30", "0% or 100%"]


def test_flags_are_vectorised_over_many_entries() -> None:
    rng = np.random.default_rng(1)
    p = rng.uniform(0, 1, 10_000)
    var = rng.uniform(1e-5, 1e-2, p.size)
    half = 1.96 * np.sqrt(var)
    f = nchs_flags(p, var, np.clip(p - half, 0, 1), np.clip(p + half, 0, 1),
                   np.full(p.size, 300), np.full(p.size, 40))
    assert set(f["flag"]) <= {"ok", "review", "suppress"}
    assert ((f["flag"] == "ok") == (f["reason"] == "")).all()
    assert (f.loc[f["n_eff"] < 30, "flag"] == "suppress").all()


# ---------------------------------------------------------------------------
# margins, differences, the county table
# ---------------------------------------------------------------------------
def small_survey() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    n = 400
    g = rng.choice(["a", "b"], n)
    x = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(0.3 + 0.8 * (g == "b") + 0.5 * x)))).astype(int)
    return pd.DataFrame({"psu": np.arange(n) // 4, "w": rng.uniform(1, 3, n), "g": g, "x": x,
                         "y": y, "c": rng.choice(["p", "q", "r"], n)})


def test_margins_are_flagged_on_their_korn_graubard_interval() -> None:
    d = ib.Design(small_survey(), weights="w", psu="psu")
    m = ib.logit("y ~ C(g) + x", d)
    margins = m.margins("g")
    f = flag_proportions(margins, m.nobs)
    p = margins.estimate.to_numpy()
    var = margins.se.to_numpy() ** 2
    lo, hi = proportion_interval("beta", p, var, 0.95, margins.df_values,
                                 n_rows=np.full(2, m.nobs), n_obs=np.full(2, m.nobs))
    np.testing.assert_allclose(f["lower"], lo, rtol=1e-14)
    np.testing.assert_allclose(f["upper"], hi, rtol=1e-14)
    expected = nchs_flags(p, var, lo, hi, np.full(2, m.nobs), margins.df_values)
    assert f["flag"].tolist() == expected["flag"].tolist()
    # a proportion from method="beta" keeps its own interval
    est = ib.proportion(d, "y", by="g", method="beta")
    f = flag_proportions(est, [200, 200])
    np.testing.assert_allclose(f["upper"], est.ci()["upper"], rtol=1e-14)


def test_flag_proportions_refuses_differences() -> None:
    est = Estimate(np.array([-0.2]), np.array([[0.001]]), pd.Index(["d"]), df=np.array([50.0]),
                   kind="contrast")
    with pytest.raises(EstimationError, match="flag_differences"):
        flag_proportions(est, 100)
    with pytest.raises(EstimationError, match="2 entries for 1"):
        flag_differences(est, [100, 200])


def test_differences_rules() -> None:
    # innobaro's rules for differences: n >= 30, a 95% interval narrower than
    # 0.30, review when df < 8; no relative width (a zero difference is a result)
    se = np.array([0.01, 0.08, 0.01, 0.01, 0.01])
    est = Estimate(np.array([0.001, 0.05, 0.05, 0.05, 0.0]), np.diag(se ** 2),
                   pd.Index(list("abcde")), df=np.array([50, 50, 50, 5, 50.0]),
                   kind="marginal effect")
    f = flag_differences(est, [100, 100, 20, 100, 100])
    assert f["flag"].tolist() == ["ok", "suppress", "suppress", "review", "ok"]
    assert f["reason"].tolist() == ["", "CI width >= 0.30", "n < 30", "df < 8", ""]
    np.testing.assert_allclose(f["upper"] - f["lower"], 2 * est.ci()["upper"].sub(
        est.estimate).to_numpy(), rtol=1e-14)


def test_average_marginal_effects_are_flagged() -> None:
    d = ib.Design(small_survey(), weights="w", psu="psu")
    m = ib.logit("y ~ C(g) + x", d)
    ame = m.average_marginal_effect("x")
    f = flag_differences(ame, m.nobs)
    assert f["flag"].tolist() == ["ok"]
    assert f["estimate"].iloc[0] == ame.estimate.iloc[0]


def test_flagged_shares_by_two_breakdowns() -> None:
    df = small_survey()
    d = ib.Design(df, weights="w", psu="psu")
    t = flagged_shares(d, "y", ["g", "c"])
    est = ib.proportion(d, "y", by=["g", "c"], method="beta")
    np.testing.assert_allclose(t["share"], est.estimate, rtol=1e-14)
    np.testing.assert_allclose(t["lower"], est.ci()["lower"], rtol=1e-14)
    counts = df.groupby(["g", "c"]).size()
    assert t["n"].tolist() == counts.reindex(t.index).astype(float).tolist()
    again = nchs_flags(t["share"], t["se"] ** 2, t["lower"], t["upper"], t["n"], t["df"])
    assert t["flag"].tolist() == again["flag"].tolist()
    assert t["reason"].tolist() == again["reason"].tolist()
    # one breakdown, and none
    one = flagged_shares(d, "y", "g")
    assert one.index.name == "g" and one["n"].sum() == len(df)
    assert flagged_shares(d, "y").index.tolist() == ["all"]


def test_flagged_shares_leaves_out_missing_outcomes_and_zero_weights() -> None:
    df = small_survey()
    df.loc[:9, "y"] = np.nan
    df.loc[10:14, "w"] = 0.0
    t = flagged_shares(ib.Design(df, weights="w", psu="psu"), "y", "g")
    keep = df["y"].notna() & (df["w"] > 0)
    assert t["n"].tolist() == df[keep].groupby("g").size().astype(float).tolist()


def test_flagged_shares_on_a_domain_and_a_replicate_design() -> None:
    df = small_survey()
    d = ib.Design(df, weights="w", psu="psu")
    sub = flagged_shares(d.subset((df["c"] == "p").to_numpy()), "y", "g")
    assert sub["n"].tolist() == df[df["c"] == "p"].groupby("g").size().astype(float).tolist()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ib.InnobaroWarning)
        rd = d.replicate("jk1")
        t = flagged_shares(rd, "y", ["g", "c"])
        est = ib.proportion(rd, "y", by=["g", "c"], method="beta")
    np.testing.assert_allclose(t["se"], est.se, rtol=1e-14)
    assert t["n"].sum() == len(df)


def test_county_by_sector_table_of_the_barometer() -> None:
    from innobaro.datasets import barometer_design

    d = barometer_design()
    t = flagged_shares(d, "innovated", ["county", "sector"])
    data = d.data
    assert len(t) == data.groupby(["county", "sector"], observed=True).ngroups
    assert (t["flag"] == "suppress").sum() > len(t) / 4  # the flags matter here
    assert t["n"].sum() == len(data)


# ---------------------------------------------------------------------------
# suppression in the outputs
# ---------------------------------------------------------------------------
def flagged_report(**metadata) -> Report:
    t = pd.DataFrame({"share": [0.7361, 0.9, 0.96], "lower": [0.71, 0.6, 0.90],
                      "upper": [0.76, 0.99, 0.99], "se": [0.01, 0.1, 0.02],
                      "n": [1786.0, 25.0, 500.0], "n_eff": [1661.0, 9.0, 96.0],
                      "flag": ["ok", "suppress", "review"],
                      "reason": ["", "n_eff < 30", "complement CI width > 130%"]},
                     index=pd.Index(["education", "health_care", "other"], name="sector"))
    long = pd.DataFrame({"share": [0.8, 0.7, 0.6, 0.95], "flag": ["ok", "ok", "suppress", "ok"],
                         "reason": ["", "", "CI width >= 0.30", ""]},
                        index=pd.MultiIndex.from_product([["Oslo", "Troms"],
                                                          ["education", "health_care"]],
                                                         names=["county", "sector"]))
    return Report("Barometer", ["SYNTHETIC DATA."],
                  [Section("Innovated, by sector", t, ["A note."], key="share:sector"),
                   Section.pivot("Innovated, by county and sector", long, key="county")],
                  metadata=metadata)


def test_text_blanks_suppressed_estimates_and_footnotes_why() -> None:
    text = flagged_report().to_text()
    row = next(line for line in text.splitlines() if line.startswith("health_care"))
    assert "0.9" not in row and "0.6" not in row and "suppress [1]" in row
    assert row.split()[1:3] == ["25", "9"]  # n and n_eff stay
    assert "[1] Suppressed (left blank), NCHS standard: effective sample size below 30." \
        in text
    assert "[2] Shown for statistical review, NCHS standard: 95% interval wider than 130% " \
           "of the complement (1 - share)." in text
    assert "0.96" in text and "review [2]" in text
    troms = next(line for line in text.splitlines() if line.startswith("Troms"))
    assert troms.split() == ["Troms", "[1]", "0.95"]
    assert "95% interval 30 percentage points wide or wider" in text
    # the reason column is said by the footnotes, not repeated
    assert "reason" not in text
    # without suppression, the numbers come back and the footnote stays
    assert "0.9 " in flagged_report().to_text(suppress=False)


def test_every_format_blanks_and_json_keeps() -> None:
    r = flagged_report()
    md = r.to_markdown()
    assert "| health\\_care |  |  |  |  | 25 | 9 | suppress \\[1\\] |" in md
    page = r.to_html(figures=False)
    assert '<td class="suppressed"></td>' in page and '<td class="suppressed">[1]</td>' in page
    assert "Suppressed (left blank)" in page
    data = json.loads(r.to_json())
    rows = data["sections"][0]["table"]
    assert rows[1]["share"] == 0.9 and rows[1]["flag"] == "suppress"
    assert rows[1]["reason"] == "n_eff < 30"
    assert data["sections"][1]["flags"][1]["education"] == "suppress"
    assert "leave it blank" in data["suppression"]


def test_default_text_of_unflagged_tables_is_unchanged() -> None:
    t = pd.DataFrame({"F": [1.23456, 2.0], "ndf": [1.0, 2.4], "ddf": [50.0, 50.0],
                      "p_value": [0.5, 1e-6]}, index=pd.Index(["a", "b"], name="term"))
    text = Report("R", [], [Section("Tests", t)]).to_text()
    assert _display(t).to_string() in text


def test_publication_style_rounds_percentages_and_drops_se() -> None:
    r = flagged_report()
    text = r.to_text(style="publication")
    header = next(line for line in text.splitlines() if "share (%)" in line)
    assert "se" not in header.split() and "n_eff" not in header
    assert "lower (%)" in header and "upper (%)" in header
    row = next(line for line in text.splitlines() if line.startswith("education"))
    assert row.split()[:4] == ["education", "74", "71", "76"]
    assert "Percentages rounded to whole numbers." in text
    one = r.to_text(style="publication", decimals=1)
    assert "73.6" in one and "Percentages rounded to one decimal." in one
    # the cross-table's shares are percentages too
    troms = next(line for line in text.splitlines() if line.startswith("Troms"))
    assert troms.split() == ["Troms", "[1]", "95"]
    with pytest.raises(ValueError, match="style must be one of"):
        r.to_text(style="glossy")


def test_margins_are_percentages_in_publication_style() -> None:
    t = pd.DataFrame({"estimate": [0.512], "se": [0.01], "lower": [0.49], "upper": [0.53]},
                     index=pd.Index(["1"], name="centrality"))
    text = Report("R", [], [Section("Margins", t, key="margins:centrality")]).to_text(
        style="publication")
    assert "estimate (%)" in text and " 51 " in text + " "


# ---------------------------------------------------------------------------
# Norwegian labels
# ---------------------------------------------------------------------------
def test_norwegian_labels_from_the_data_dictionary() -> None:
    from innobaro.datasets import data_dictionary

    labels = labels_from_dictionary(data_dictionary())
    assert labels["sector"] == "Sektor"
    assert labels["county"] == "Fylke"
    assert labels["health_care"] == "Helse og omsorg"
    assert labels["kindergarten"] == "Barnehage (kommunal)"
    r = flagged_report()
    r.labels = {"nb": {**labels, "Barometer": "Barometeret",
                       "Innovated, by sector": "Innovert, etter sektor"}}
    text = r.render("text", lang="nb")
    assert text.startswith("Barometeret\n")
    assert "Innovert, etter sektor" in text and "Sektor" in text and "Fylke" in text
    assert "Helse og omsorg" in text and "andel" in text and "skjult [1]" in text
    assert "Skjult (blank celle), NCHS-standarden: effektivt utvalg under 30." in text
    missing = r.untranslated("nb")
    assert "Innovated, by county and sector" in missing and "Innovert" not in missing
    assert "other" in missing and "ok" not in missing
    # English is the default and does not translate
    assert "Helse og omsorg" not in r.render("text")
    with pytest.raises(ValueError, match="lang must be one of"):
        r.render("text", lang="sv")


def test_builtin_translations_cover_the_flag_words_and_reasons() -> None:
    from innobaro.document import REASON_TEXT

    nb = TRANSLATIONS["nb"]
    for word in ("ok", "review", "suppress", "share", "lower", "upper", "Methods"):
        assert word in nb
    for text in REASON_TEXT.values():
        assert text in nb


# ---------------------------------------------------------------------------
# the methods appendix, HTML, Excel, figures
# ---------------------------------------------------------------------------
METHODS = {"design": "Stratified simple random sample of units within unit type.",
           "weighting": "Post-stratified to unit type by region.",
           "variance": "Taylor linearisation with the post-stratification.",
           "fpc": "Yes: sampling fractions 0.30 to 0.70.", "data_version": "synthetic 2018",
           "seed": 2018}


def test_methods_appendix_in_every_format(tmp_path: Path) -> None:
    pytest.importorskip("openpyxl")
    r = flagged_report(software="innobaro", version="9.9", methods=METHODS)
    text = r.to_text()
    tail = text[text.index("Methods\n-------"):]
    lines = tail.splitlines()[2:9]
    assert [line.split(":")[0] for line in lines] == [
        "Design", "Weighting", "Variance estimation", "Finite population correction",
        "Software", "Data version", "Random seed"]
    assert "Software: innobaro 9.9" in text and "Random seed: 2018" in text
    assert "- **Random seed**: 2018" in r.to_markdown()
    assert '<dl class="methods">' in r.to_html(figures=False)
    data = json.loads(r.to_json())
    assert data["methods"][0] == {"item": "Design", "text": METHODS["design"]}
    assert data["metadata"]["methods"]["seed"] == 2018
    from openpyxl import load_workbook

    wb = load_workbook(r.write(tmp_path / "r.xlsx"))
    assert wb.sheetnames[-1] == "Methods"
    assert wb["Methods"]["A7"].value == "Random seed" and wb["Methods"]["B7"].value == "2018"
    nb = r.to_text(lang="nb")
    assert "Metode\n------" in nb and "Frø for tilfeldige tall: 2018" in nb
    # no methods in the metadata: no appendix
    assert "Methods" not in flagged_report().to_text()


def test_html_is_one_self_contained_page() -> None:
    pytest.importorskip("matplotlib")
    page = flagged_report(methods=METHODS).to_html()
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    assert '<nav class="toc">' in page and 'href="#s1"' in page and 'href="#methods"' in page
    assert "http://" not in page and "https://" not in page  # nothing loaded from elsewhere
    start = page.index("data:image/png;base64,") + len("data:image/png;base64,")
    png = base64.b64decode(page[start:page.index('"', start)])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_html_without_matplotlib_says_so(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    page = flagged_report().to_html()
    assert "figures need matplotlib; none are included" in page
    assert "data:image/png" not in page


def test_xlsx_one_sheet_per_section(tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    r = flagged_report(methods=METHODS)
    path = r.write(tmp_path / "report.xlsx")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Notes", "01 Innovated, by sector",
                             "02 Innovated, by county and", "Methods"]
    ws = wb["01 Innovated, by sector"]
    assert ws["A1"].value == "Innovated, by sector"
    header = [c.value for c in ws[3]]
    assert header == ["sector", "share", "lower", "upper", "se", "n", "n_eff", "flag"]
    assert ws["B4"].value == pytest.approx(0.7361)  # numbers stay numbers
    assert ws["B5"].value is None and ws["C5"].value is None  # suppressed: blank
    assert ws["F5"].value == 25 and ws["H5"].value == "suppress [1]"
    texts = [row[0].value for row in ws.iter_rows(min_row=8)]
    assert any(t and t.startswith("[1] Suppressed") for t in texts)
    pub = openpyxl.load_workbook(r.write(tmp_path / "pub.xlsx", style="publication"))
    ws = pub["01 Innovated, by sector"]
    assert [c.value for c in ws[3]][:4] == ["sector", "share (%)", "lower (%)", "upper (%)"]
    assert ws["B4"].value == 74
    with pytest.raises(ValueError, match="binary"):
        r.render("xlsx")


def test_sheet_names_are_short_unique_and_legal() -> None:
    titles = ["Units that innovated, by municipality size (inhabitants)"] * 3 + [
        "Shares [a/b]: *what?*", "x" * 40]
    names = _sheet_names(titles)
    assert len(set(names)) == len(names)
    assert all(len(n) <= 31 and not set(n) & set("[]:*?/\\") for n in names)
    assert names[0] == "01 Units that innovated, by"


def test_xlsx_without_openpyxl_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "openpyxl", None)
    with pytest.raises(RuntimeError, match=r"innobaro\[xlsx\]"):
        flagged_report().to_xlsx()


def test_figures_of_shares_margins_and_odds_ratios(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    ors = pd.DataFrame({"odds_ratio": [1.5, 0.7], "lower": [1.1, 0.5], "upper": [2.0, 0.95]},
                       index=pd.Index(["sector: health care (vs education)",
                                       "employees (per doubling)"], name="term"))
    margins = pd.DataFrame({"estimate": [0.7, 0.8], "se": [0.02, 0.02],
                            "lower": [0.66, 0.76], "upper": [0.74, 0.84]},
                           index=pd.Index(["a", "b"], name="size"))
    r = flagged_report()
    r.sections += [Section("Odds ratios", ors, key="odds_ratios"),
                   Section("Margins", margins, key="margins:size")]
    files = r.figures(tmp_path)
    assert sorted(f.name for f in files) == ["margins_size.png", "odds_ratios.png",
                                             "share_sector.png"]
    assert all(f.read_bytes()[:4] == b"\x89PNG" for f in files)
    nb = r.figures(tmp_path / "nb", lang="nb")
    assert len(nb) == 3


# ---------------------------------------------------------------------------
# the command line
# ---------------------------------------------------------------------------
def test_cli_xlsx_needs_out(capsys) -> None:
    from innobaro.__main__ import main

    assert main(["--format", "xlsx"]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and err.count("\n") == 1


def test_cli_xlsx_lang_and_style(tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    from innobaro.__main__ import main

    out = tmp_path / "barometer.xlsx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ib.InnobaroWarning)
        assert main(["--format", "xlsx", "--out", str(out), "--lang", "nb",
                     "--style", "publication"]) == 0
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames[0] == "Merknader"
    assert all(len(n) <= 31 for n in wb.sheetnames) and len(wb.sheetnames) > 5
    text_out = tmp_path / "barometer.txt"
    assert main(["--lang", "nb", "--style", "publication", "--out", str(text_out)]) == 0
    text = text_out.read_text(encoding="utf-8")
    assert "andel (%)" in text and "standardfeil" not in text
