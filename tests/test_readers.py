"""``innobaro.read_survey``: the files analysts have, written here and read back.

Each test writes a file to ``tmp_path`` with Python (CSV as Norwegian Excel
saves it, SPSS with value labels and user-missing values, Stata, Parquet,
Excel) and checks what comes back and what the information says.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _survey_files import (
    HOSTILE,
    JA_NEI,
    LANDSDELER,
    STORRELSE,
    survey_frame,
    write_excel_csv,
    write_sav,
)

import innobaro as ib
from innobaro.readers import MissingDependencyError, ReadInfo

EXCEL_CSV = ("Kommune;Sektor;Landsdel;Vekt;Innovert;Størrelse\r\n"
             "0301;Helse og omsorg;Østlandet;12,5;1;3\r\n"
             "3401;Oppvekst;Innlandet;8;0;1\r\n"
             "4204;Oppvekst;Sør-Norge;3,25;1;2\r\n"
             "1804;Helse og omsorg;Nord-Norge;10,125;1;1\r\n")


def _write(tmp_path: Path, text: str, encoding: str = "utf-8", name: str = "svar.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def _check_excel_csv(data: pd.DataFrame) -> None:
    assert list(data.columns) == ["Kommune", "Sektor", "Landsdel", "Vekt", "Innovert",
                                  "Størrelse"]
    assert data["Kommune"].tolist() == ["0301", "3401", "4204", "1804"]
    assert data["Landsdel"].tolist() == ["Østlandet", "Innlandet", "Sør-Norge", "Nord-Norge"]
    assert data["Vekt"].dtype == "float64"
    assert data["Vekt"].tolist() == [12.5, 8.0, 3.25, 10.125]
    assert data["Innovert"].dtype == "int64" and data["Innovert"].tolist() == [1, 0, 1, 1]


# ---------------------------------------------------------------------------
# CSV: the dialect
# ---------------------------------------------------------------------------
def test_norwegian_excel_csv_in_cp1252(tmp_path: Path) -> None:
    path = _write(tmp_path, EXCEL_CSV, "cp1252")
    data, info = ib.read_survey(path, info=True)
    _check_excel_csv(data)
    assert (info.format, info.encoding, info.sep, info.decimal) == ("csv", "cp1252", ";", ",")
    assert info.detected == ["encoding", "sep", "decimal"]
    assert any("not UTF-8" in note and "cp1252" in note for note in info.notes)
    assert (info.rows, info.columns) == (4, 6)


def test_norwegian_excel_csv_in_utf8_with_a_bom(tmp_path: Path) -> None:
    path = _write(tmp_path, "\ufeff" + EXCEL_CSV, "utf-8")
    data, info = ib.read_survey(path, info=True)
    _check_excel_csv(data)  # the first column is "Kommune", not "\ufeffKommune"
    assert (info.encoding, info.sep, info.decimal) == ("utf-8-sig", ";", ",")
    assert info.notes == ["kept as text because of numbers with leading zeros: 'Kommune'"]


def test_written_by_the_helper_reads_back(tmp_path: Path) -> None:
    frame = survey_frame()
    for encoding in ("cp1252", "utf-8-sig"):
        path = write_excel_csv(tmp_path / f"{encoding}.csv", frame, encoding=encoding)
        data, info = ib.read_survey(path, info=True)
        assert info.encoding == encoding
        pd.testing.assert_frame_equal(data, frame, check_dtype=False)
        assert data["Vekt"].dtype == "float64" and data["Kommune"].dtype != "int64"


def test_plain_comma_separated_utf8(tmp_path: Path) -> None:
    path = _write(tmp_path, 'id,navn,vekt\n1,"Ås, Viken",1.5\n2,Bodø,2\n')
    data, info = ib.read_survey(path, info=True)
    assert (info.encoding, info.sep, info.decimal) == ("utf-8", ",", ".")
    assert data["navn"].tolist() == ["Ås, Viken", "Bodø"]
    assert data["vekt"].tolist() == [1.5, 2.0] and data["id"].dtype == "int64"


@pytest.mark.parametrize("sep", ["\t", "|", ";", ","])
def test_the_separator_is_detected(tmp_path: Path, sep: str) -> None:
    rows = [["Landsdel", "Vekt", "Svar"], ["Østlandet", "1.5", "Ja; helt"],
            ["Trøndelag", "2", "Nei"]]
    import csv
    import io

    buffer = io.StringIO()
    csv.writer(buffer, delimiter=sep, lineterminator="\n").writerows(rows)
    data, info = ib.read_survey(_write(tmp_path, buffer.getvalue()), info=True)
    assert info.sep == sep
    assert list(data.columns) == ["Landsdel", "Vekt", "Svar"]
    assert data["Svar"].tolist() == ["Ja; helt", "Nei"]


def test_a_first_line_naming_the_separator(tmp_path: Path) -> None:
    data, info = ib.read_survey(_write(tmp_path, "sep=;\r\na;b,c\r\n1,5;2\r\n"), info=True)
    assert list(data.columns) == ["a", "b,c"] and data["a"].tolist() == [1.5]
    assert info.sep == ";" and "sep" in info.detected
    assert any("'sep=;'" in note for note in info.notes)
    data = ib.read_survey(_write(tmp_path, "sep=;\na|b\n1|2\n"), sep="|")
    assert list(data.columns) == ["a", "b"]  # the line is skipped; the given separator wins


def test_excel_unicode_text_is_utf16_with_tabs(tmp_path: Path) -> None:
    text = "Landsdel\tVekt\r\nØstlandet\t1,5\r\nNord-Norge\t2\r\n"
    path = tmp_path / "svar.txt"
    path.write_bytes(text.encode("utf-16"))
    data, info = ib.read_survey(path, info=True)
    assert (info.encoding, info.sep, info.decimal) == ("utf-16", "\t", ",")
    assert data["Vekt"].tolist() == [1.5, 2.0]


def test_thousands_separators(tmp_path: Path) -> None:
    text = "a;b;c;d\n1 234,5;1\u00a0234,5;1.234,5;1 234\n12,5;7;8;5\n"
    data, info = ib.read_survey(_write(tmp_path, text), info=True)
    assert data.iloc[0].tolist() == [1234.5, 1234.5, 1234.5, 1234.0]
    assert data["d"].dtype == "int64"
    assert any("thousands" in note for note in info.notes)


def test_a_column_of_decimal_points_in_a_semicolon_file_stays_points(tmp_path: Path) -> None:
    data, info = ib.read_survey(_write(tmp_path, "a;b\n1.5;2,5\n2;3\n"), info=True)
    assert data["a"].tolist() == [1.5, 2.0] and data["b"].tolist() == [2.5, 3.0]
    assert info.decimal == ","


def test_leading_zeros_keep_a_column_as_text(tmp_path: Path) -> None:
    data, info = ib.read_survey(_write(tmp_path, "Kommune;Postnr\n0301;0150\n4601;5003\n"),
                                info=True)
    assert data["Kommune"].tolist() == ["0301", "4601"]
    assert data["Postnr"].tolist() == ["0150", "5003"]
    assert any("leading zeros" in note for note in info.notes)


def test_long_identifiers_stay_text(tmp_path: Path) -> None:
    text = "id;vekt\n12345678901234567;1\n12345678901234568;2\n"
    data, info = ib.read_survey(_write(tmp_path, text), info=True)
    assert data["id"].tolist() == ["12345678901234567", "12345678901234568"]
    assert data["vekt"].dtype == "int64"
    assert any("16 digits" in note for note in info.notes)


def test_text_is_stripped_and_empty_unnamed_columns_dropped(tmp_path: Path) -> None:
    text = "Landsdel;Vekt;;\r\n Østlandet ;2;;\r\nNord-Norge;3;;\r\n"
    data, info = ib.read_survey(_write(tmp_path, text), info=True)
    assert list(data.columns) == ["Landsdel", "Vekt"]
    assert data["Landsdel"].tolist() == ["Østlandet", "Nord-Norge"]
    assert any("2 empty column(s)" in note for note in info.notes)


def test_rows_of_separators_only_are_dropped(tmp_path: Path) -> None:
    text = "Landsdel;Vekt\r\nØstlandet;1,5\r\n;\r\nNord-Norge;2\r\n; \r\n;\r\n"
    data, info = ib.read_survey(_write(tmp_path, text), info=True)
    assert data["Landsdel"].tolist() == ["Østlandet", "Nord-Norge"]
    assert data.index.tolist() == [0, 1] and data["Vekt"].tolist() == [1.5, 2.0]
    assert "3 empty row(s) (separators only) dropped" in info.notes


def test_utf16_without_a_bom(tmp_path: Path) -> None:
    path = _write(tmp_path, "Landsdel\tVekt\nØstlandet\t1\n", "utf-16-le")
    with pytest.raises(ib.InnobaroError, match=r"NUL bytes.*--encoding utf-16-le"):
        ib.read_survey(path)
    assert ib.read_survey(path, encoding="utf-16-le")["Landsdel"].tolist() == ["Østlandet"]


def test_repeated_and_unnamed_headers(tmp_path: Path) -> None:
    data = ib.read_survey(_write(tmp_path, "a;a;\n1;2;3\n"))
    assert list(data.columns) == ["a", "a.1", "Unnamed: 2"]


# ---------------------------------------------------------------------------
# CSV: what the caller gives wins, and the errors say what to pass
# ---------------------------------------------------------------------------
def test_overrides_win(tmp_path: Path) -> None:
    path = _write(tmp_path, EXCEL_CSV, "cp1252")
    data, info = ib.read_survey(path, sep=";", decimal=".", encoding="latin-1", info=True)
    assert (info.encoding, info.sep, info.decimal, info.detected) == ("latin-1", ";", ".", [])
    assert data["Vekt"].tolist() == ["12,5", "8", "3,25", "10,125"]  # text: no decimal commas
    assert data["Landsdel"].tolist()[0] == "Østlandet"
    data = ib.read_survey(_write(tmp_path, "a|b\n1,5|2\n", name="pipe.csv"), sep="|",
                          decimal=",")
    assert data["a"].tolist() == [1.5]
    tab = ib.read_survey(_write(tmp_path, "a\tb\n1\t2\n", name="tab.csv"), sep="\\t")
    assert list(tab.columns) == ["a", "b"]
    for name in ("tab", "TAB"):
        assert ib.read_survey(tmp_path / "tab.csv", sep=name).shape == (1, 2)
    assert ib.read_survey(tmp_path / "pipe.csv", sep="pipe", decimal=",").shape == (1, 2)


def test_a_wrong_separator_names_the_right_one_and_the_flag(tmp_path: Path) -> None:
    path = _write(tmp_path, "Kommune;Sektor;Landsdel;Vekt\n0301;Oppvekst;Østlandet;1,5\n")
    with pytest.raises(ib.InnobaroError, match=r"seems to use ';'.*--sep ';'"):
        ib.read_survey(path, sep=",")


def test_an_encoding_that_does_not_fit_names_the_flag(tmp_path: Path) -> None:
    path = _write(tmp_path, EXCEL_CSV, "cp1252")
    with pytest.raises(ib.InnobaroError, match=r"not utf-8 text.*--encoding") as err:
        ib.read_survey(path, encoding="utf-8")
    assert "codec" not in str(err.value)
    with pytest.raises(ib.InnobaroError, match=r"unknown encoding 'norsk'.*--encoding"):
        ib.read_survey(path, encoding="norsk")


def test_bytes_neither_utf8_nor_cp1252(tmp_path: Path) -> None:
    path = tmp_path / "svar.csv"
    path.write_bytes(b"a;b\n\x81\x9d;1\n")
    with pytest.raises(ib.InnobaroError, match=r"not UTF-8 text.*nor cp1252.*--encoding") as err:
        ib.read_survey(path)
    assert "codec" not in str(err.value)


def test_a_row_with_too_many_fields(tmp_path: Path) -> None:
    path = _write(tmp_path, "a;b\n1;2\n1;2;3\n")
    with pytest.raises(ib.InnobaroError, match="Expected 2 fields in line 3, saw 3"):
        ib.read_survey(path)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"sep": ";;"}, "one character"),
    ({"decimal": ";"}, "'.' or ','"),
    ({"sep": ",", "decimal": ","}, "both ','"),
])
def test_bad_settings(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ib.InnobaroError, match=message):
        ib.read_survey(_write(tmp_path, "a;b\n1;2\n"), **kwargs)


def test_an_empty_file(tmp_path: Path) -> None:
    with pytest.raises(ib.InnobaroError, match="is empty"):
        ib.read_survey(_write(tmp_path, "\r\n"))


# ---------------------------------------------------------------------------
# missing values and codes
# ---------------------------------------------------------------------------
def test_empty_cells_and_na_are_missing(tmp_path: Path) -> None:
    text = "Landsdel;Vekt;Alder\nØstlandet;1,5;NA\n;;40\nNA;2;#N/A\n"
    data = ib.read_survey(_write(tmp_path, text))
    assert data["Landsdel"].isna().tolist() == [False, True, True]
    assert data["Vekt"].isna().tolist() == [False, True, False]
    assert data["Alder"].isna().tolist() == [True, False, True]
    assert data["Alder"].dtype == "float64"


@pytest.mark.parametrize("codes", [(99, 999), ("99", "999"), (99.0, "999")])
def test_missing_codes_in_every_column(tmp_path: Path, codes: tuple) -> None:
    text = ("Landsdel;Alder;Vekt;Svar\n"
            "Østlandet;99;1,5;99\n"
            "99;40;99,0;Ja\n"
            "Innlandet;999;2;Nei\n"
            "Sør-Norge;50;3;999\n")
    data, info = ib.read_survey(_write(tmp_path, text), na_values=codes, info=True)
    assert data["Landsdel"].tolist()[2:] == ["Innlandet", "Sør-Norge"]
    assert data["Landsdel"].isna().tolist() == [False, True, False, False]
    assert data["Alder"].isna().tolist() == [True, False, True, False]
    assert data["Vekt"].tolist()[0] == 1.5 and np.isnan(data["Vekt"][1])
    assert data["Svar"].isna().tolist() == [True, False, False, True]
    first, second = (str(c) for c in codes)
    assert info.na_counts == {"Landsdel": {first: 1}, "Alder": {first: 1, second: 1},
                              "Vekt": {first: 1}, "Svar": {first: 1, second: 1}}
    assert info.na_values == list(codes)
    assert info.whole_numbers == ["Alder"]


def test_a_text_code_can_leave_a_column_of_numbers(tmp_path: Path) -> None:
    text = "Alder;Landsdel\n40;Østlandet\nUkjent;Vet ikke\n50;Nord-Norge\n"
    data, info = ib.read_survey(_write(tmp_path, text), na_values=["Ukjent", "Vet ikke"],
                                info=True)
    assert data["Alder"].dtype == "float64" and data["Alder"].isna().sum() == 1
    assert data["Landsdel"].isna().tolist() == [False, True, False]
    assert info.na_counts == {"Alder": {"Ukjent": 1}, "Landsdel": {"Vet ikke": 1}}


def test_a_bad_code(tmp_path: Path) -> None:
    with pytest.raises(ib.InnobaroError, match="na_values"):
        ib.read_survey(_write(tmp_path, "a\n1\n"), na_values=[None])


# ---------------------------------------------------------------------------
# SPSS
# ---------------------------------------------------------------------------
def test_spss_value_labels_in_code_order(tmp_path: Path) -> None:
    pytest.importorskip("pyreadstat")
    frame = survey_frame()
    data, info = ib.read_survey(write_sav(tmp_path / "svar.sav", frame), info=True)
    landsdel = data["Landsdel"]
    assert isinstance(landsdel.dtype, pd.CategoricalDtype) and not landsdel.cat.ordered
    assert list(landsdel.cat.categories) == list(LANDSDELER.values())  # not alphabetical
    # 99 "Vet ikke" is user-missing: missing, and not a category
    assert landsdel.isna().tolist()[:4] == [True, True, True, False]
    assert landsdel[3:].tolist() == frame["Landsdel"][3:].tolist()
    assert info.user_missing == {"Landsdel": 3}
    assert info.value_labels["Landsdel"] == {str(k): v for k, v in LANDSDELER.items()}
    size = data["Størrelse"]
    assert size.cat.ordered and list(size.cat.categories) == list(STORRELSE.values())
    assert info.ordinal == ["Størrelse"]
    assert size.min() == "Under 5 000"  # the order of the codes, not of the letters


def test_spss_ja_nei_and_whole_numbers(tmp_path: Path) -> None:
    pytest.importorskip("pyreadstat")
    frame = survey_frame()
    data, info = ib.read_survey(write_sav(tmp_path / "svar.sav", frame), info=True)
    outcome = data["Innovert"]
    assert list(outcome.cat.categories) == [JA_NEI[0], JA_NEI[1]]
    assert (outcome == "Ja").tolist() == (frame["Innovert"] == 1).tolist()
    assert data["Ansatte"].dtype == "int64"           # whole, none missing
    assert data["Alder"].dtype == "float64"           # whole, one missing
    assert info.whole_numbers == ["Alder"]
    assert data["Vekt"].dtype == "float64"
    assert data["Kommune"].tolist() == frame["Kommune"].tolist()
    assert info.to_dict()["value_labels"]["Innovert"] == {"0": "Nei", "1": "Ja"}


def test_spss_codes_unlabelled_user_missing_and_na_values(tmp_path: Path) -> None:
    pyreadstat = pytest.importorskip("pyreadstat")
    data = pd.DataFrame({"q": [1.0, 2.0, 7.0, 8.0, 9.0, 1.0], "t": ["a", "", "b", "x", "a", "a"],
                         "n": [1.5, 8.0, 2.0, 2.0, 9.0, 3.0]})
    path = tmp_path / "koder.sav"
    pyreadstat.write_sav(data, str(path), variable_value_labels={"q": {1: "Ja", 2: "Nei",
                                                                       9: "Vet ikke"}},
                         missing_ranges={"q": [{"lo": 8, "hi": 9}], "t": ["x"]})
    read, info = ib.read_survey(path, na_values=[2, "b"], info=True)
    # 2 made missing by na_values before the labels; 7 has no label; 8 and 9 user-missing
    assert list(read["q"].cat.categories) == ["Ja", "7"]
    assert read["q"][[0, 2, 5]].tolist() == ["Ja", "7", "Ja"]
    assert read["q"].isna().tolist() == [False, True, False, True, True, False]
    assert read["t"].isna().tolist() == [False, True, True, True, False, False]
    assert info.user_missing == {"q": 2, "t": 1}
    assert info.na_counts == {"q": {"2": 1}, "t": {"b": 1}, "n": {"2": 2}}
    assert any("'q'" in note and "7" in note for note in info.notes)
    # a code may name a label
    read, info = ib.read_survey(path, na_values=["Nei"], info=True)
    assert list(read["q"].cat.categories) == ["Ja", "7"]
    assert read["q"].isna().tolist() == [False, True, False, True, True, False]
    assert info.na_counts == {"q": {"Nei": 1}}


def test_spss_labelled_ends_of_a_scale_stay_numbers(tmp_path: Path) -> None:
    pyreadstat = pytest.importorskip("pyreadstat")
    data = pd.DataFrame({"skala": [0.0, 3.0, 5.0, 7.0, 10.0, 8.0],
                         "alder": [34.0, 99.0, 51.0, 28.0, 99.0, 45.0]})
    path = tmp_path / "skala.sav"
    pyreadstat.write_sav(data, str(path),
                         variable_value_labels={"skala": {0: "Svært dårlig", 10: "Svært bra"},
                                                "alder": {99: "Vet ikke"}},
                         missing_ranges={"alder": [99]},
                         variable_measure={"skala": "ordinal", "alder": "scale"})
    read, info = ib.read_survey(path, info=True)
    assert read["skala"].dtype == "int64" and read["skala"].tolist() == [0, 3, 5, 7, 10, 8]
    assert read["alder"].dtype == "float64" and read["alder"].isna().sum() == 2
    assert info.whole_numbers == ["alder"] and info.value_labels == {}
    assert info.user_missing == {"alder": 2}
    assert "'skala': value labels for 2 of its 6 values: kept as numbers" in info.notes


def test_spss_hostile_label_and_header(tmp_path: Path) -> None:
    pytest.importorskip("pyreadstat")
    data = ib.read_survey(write_sav(tmp_path / "svar.sav"))
    assert HOSTILE in list(data["Sektor"].cat.categories)
    # SPSS names cannot carry it: readstat refuses spaces and quotes in a name
    import pyreadstat

    with pytest.raises(Exception, match=r"not allowed|illegal"):
        pyreadstat.write_sav(pd.DataFrame({HOSTILE: [1.0]}), str(tmp_path / "x.sav"))


# ---------------------------------------------------------------------------
# Stata, Parquet, Excel
# ---------------------------------------------------------------------------
def test_stata_value_labels_in_code_order(tmp_path: Path) -> None:
    frame = survey_frame()
    codes = {label: code for code, label in LANDSDELER.items()}
    data = pd.DataFrame({"landsdel": frame["Landsdel"].map(codes).astype("int8"),
                         "innovert": frame["Innovert"].astype("int8"),
                         "vekt": frame["Vekt"]})
    data.loc[0, "landsdel"] = 99
    path = tmp_path / "svar.dta"
    data.to_stata(path, write_index=False,
                  value_labels={"landsdel": LANDSDELER, "innovert": JA_NEI})
    read, info = ib.read_survey(path, na_values=[99], info=True)
    present = [LANDSDELER[c] for c in sorted(set(data["landsdel"][1:]))]
    assert list(read["landsdel"].cat.categories) == present
    assert not read["landsdel"].cat.ordered
    assert read["landsdel"][1:].tolist() == frame["Landsdel"][1:].tolist()
    assert pd.isna(read["landsdel"][0]) and info.na_counts == {"landsdel": {"99": 1}}
    assert list(read["innovert"].cat.categories) == ["Nei", "Ja"]
    assert read["vekt"].tolist() == frame["Vekt"].tolist()


def test_parquet_keeps_types_and_hostile_headers(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    frame = survey_frame(hostile=True)
    frame.loc[2, "Vekt"] = 99.0
    path = tmp_path / "svar.parquet"
    frame.to_parquet(path)
    read, info = ib.read_survey(path, na_values=[99], info=True)
    assert list(read.columns) == list(frame.columns)
    assert read[HOSTILE].tolist() == frame["Sektor"].tolist()
    assert np.isnan(read["Vekt"][2]) and info.na_counts == {"Vekt": {"99": 1}}
    assert read["Innovert"].dtype == "int64" and info.format == "parquet"


def test_excel_sheets(tmp_path: Path) -> None:
    pytest.importorskip("openpyxl")
    frame = survey_frame(hostile=True)
    path = tmp_path / "svar.xlsx"
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        pd.DataFrame({"x": [1]}).to_excel(writer, sheet_name="Om", index=False)
        frame.assign(Alder=[np.nan] + [40.0] * (len(frame) - 1)).to_excel(
            writer, sheet_name="Svar", index=False)
    read, info = ib.read_survey(path, sheet="Svar", info=True)
    assert list(read.columns) == [*frame.columns, "Alder"]
    assert read["Landsdel"].tolist() == frame["Landsdel"].tolist()
    assert read["Kommune"].tolist() == frame["Kommune"].tolist()
    assert read["Innovert"].dtype == "int64" and info.sheet == "Svar"
    assert info.whole_numbers == ["Alder"]
    second, info = ib.read_survey(path, sheet=1, info=True)
    assert second.shape == read.shape and info.sheet == "Svar"
    first, info = ib.read_survey(path, info=True)
    assert first.columns.tolist() == ["x"] and info.sheet == "Om"
    with pytest.raises(ib.InnobaroError, match=r"no sheet 'Ark1'; its sheets are 'Om', 'Svar'"):
        ib.read_survey(path, sheet="Ark1")


# ---------------------------------------------------------------------------
# hostile headers, unknown files, missing packages
# ---------------------------------------------------------------------------
def test_hostile_header_round_trips_in_csv(tmp_path: Path) -> None:
    frame = survey_frame(hostile=True)
    frame[HOSTILE] = HOSTILE  # as a value too
    for encoding in ("cp1252", "utf-8-sig"):
        path = write_excel_csv(tmp_path / "svar.csv", frame, encoding=encoding)
        read = ib.read_survey(path)
        assert list(read.columns) == list(frame.columns)
        assert (read[HOSTILE] == HOSTILE).all()


def test_unknown_suffix_lists_the_formats(tmp_path: Path) -> None:
    path = _write(tmp_path, "a\n", name="svar.sas7bdat")
    with pytest.raises(ib.InnobaroError, match=r"unknown file type '.sas7bdat'.*CSV \(.csv"
                                                r".*Parquet.*SPSS \(.sav.*Stata.*Excel"):
        ib.read_survey(path)
    with pytest.raises(ib.InnobaroError, match=r"save old \.xls workbooks as \.xlsx"):
        ib.read_survey(_write(tmp_path, "a\n", name="svar.xls"))
    with pytest.raises(FileNotFoundError, match="no such file"):
        ib.read_survey(tmp_path / "finnes-ikke.csv")


def test_settings_for_another_format(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    path = tmp_path / "svar.parquet"
    survey_frame().to_parquet(path)
    with pytest.raises(ib.InnobaroError, match=r"--sep.*CSV files only.*Parquet"):
        ib.read_survey(path, sep=";")
    with pytest.raises(ib.InnobaroError, match="sheet applies to Excel"):
        ib.read_survey(path, sheet=0)


@pytest.mark.parametrize(("module", "name", "install"), [
    ("pyreadstat", "svar.sav", "innobaro[spss]"),
    ("pyarrow", "svar.parquet", "innobaro[parquet]"),
    ("openpyxl", "svar.xlsx", "pip install openpyxl"),
])
def test_a_missing_package_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           module: str, name: str, install: str) -> None:
    path = _write(tmp_path, "not read", name=name)
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    with pytest.raises(MissingDependencyError,
                       match=re.escape(f"needs {module}: ") + ".*" + re.escape(install)) as err:
        ib.read_survey(path)
    assert isinstance(err.value, ImportError) and isinstance(err.value, ib.InnobaroError)


def test_optional_packages_load_only_when_asked(tmp_path: Path) -> None:
    path = _write(tmp_path, EXCEL_CSV, "cp1252")
    code = ("import sys, pandas\n"
            "import innobaro as ib\n"
            f"ib.read_survey({str(path)!r})\n"
            "print(','.join(m for m in ('pyreadstat', 'openpyxl') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "" and out.stderr == ""


# ---------------------------------------------------------------------------
# the contract: the information, no printing, ready for a design
# ---------------------------------------------------------------------------
def test_the_information_is_json_and_nothing_is_printed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, info = ib.read_survey(_write(tmp_path, EXCEL_CSV, "cp1252"), na_values=(np.int64(3),),
                                info=True)
    assert isinstance(info, ReadInfo) and isinstance(data, pd.DataFrame)
    loaded = json.loads(json.dumps(info.to_dict()))
    assert list(loaded) == ["path", "format", "rows", "columns", "encoding", "sep", "decimal",
                            "detected", "notes", "na_values", "na_counts", "user_missing",
                            "value_labels", "ordinal", "whole_numbers", "sheet"]
    assert loaded["na_values"] == [3] and loaded["na_counts"] == {"Størrelse": {"3": 1}}
    assert capsys.readouterr() == ("", "")
    assert isinstance(ib.read_survey(_write(tmp_path, EXCEL_CSV)), pd.DataFrame)


def test_a_norwegian_csv_makes_a_design(tmp_path: Path) -> None:
    frame = survey_frame()
    data = ib.read_survey(write_excel_csv(tmp_path / "svar.csv", frame))
    d = ib.Design(data, weights="Vekt", strata="Sektor")
    expected = ib.mean(ib.Design(frame, weights="Vekt", strata="Sektor"), "Innovert",
                       by="Landsdel")
    got = ib.mean(d, "Innovert", by="Landsdel")
    pd.testing.assert_series_equal(got.estimate, expected.estimate)
    pd.testing.assert_series_equal(got.se, expected.se)


# ---------------------------------------------------------------------------
# the corners
# ---------------------------------------------------------------------------
def test_codes_in_categorical_bool_and_date_columns(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    frame = pd.DataFrame({
        "region": pd.Categorical(["Østlandet", "99", "Nord-Norge", "99"],
                                 categories=["Østlandet", "Nord-Norge", "99"]),
        "nivå": pd.Categorical(["lav", "høy", "99", "lav"], categories=["lav", "høy", "99"],
                               ordered=True),
        "svar": [True, False, True, True],
        "dato": pd.to_datetime(["2024-01-01"] * 4),
        "antall": [1, 99, 3, 4],
        "alder": pd.array([40, None, 99, 51], dtype="Int64"),
    })
    path = tmp_path / "svar.parquet"
    frame.to_parquet(path)
    read, info = ib.read_survey(path, na_values=99, info=True)
    categories = ib.read_survey(path)["region"].cat.categories
    assert list(read["region"].cat.categories) == [c for c in categories if c != "99"]
    assert read["region"].isna().tolist() == [False, True, False, True]
    assert list(read["nivå"].cat.categories) == ["lav", "høy"] and read["nivå"].cat.ordered
    assert read["svar"].tolist() == frame["svar"].tolist()
    assert read["antall"].isna().tolist() == [False, True, False, False]
    assert read["alder"].dtype == "Int64" and read["alder"].isna().tolist() == [False, True,
                                                                                True, False]
    assert info.na_counts == {"region": {"99": 2}, "nivå": {"99": 1}, "antall": {"99": 1},
                              "alder": {"99": 1}}
    assert info.whole_numbers == ["antall"] and info.na_values == [99]
    with pytest.raises(ib.InnobaroError, match=r"encoding.*CSV and SPSS files only"):
        ib.read_survey(path, encoding="cp1252")
    assert ib.read_survey(path, na_values=[float("nan")]).equals(ib.read_survey(path))


def test_one_column_and_long_files(tmp_path: Path) -> None:
    data, info = ib.read_survey(_write(tmp_path, "Vekt\n1,5\n2\n", name="one.csv"), info=True)
    assert list(data.columns) == ["Vekt"] and data["Vekt"].tolist() == [1.5, 2.0]
    assert any("one column" in note for note in info.notes)
    rows = "".join(f"Østlandet;{i},5\n" for i in range(20000))  # beyond the 64 KiB sample
    data, info = ib.read_survey(_write(tmp_path, "Landsdel;Vekt\n" + rows, name="long.csv"),
                                info=True)
    assert (info.sep, info.decimal, info.rows) == (";", ",", 20000)
    assert data["Vekt"].iloc[-1] == 19999.5


def test_a_bom_with_a_given_encoding_and_bad_bytes_after_it(tmp_path: Path) -> None:
    path = _write(tmp_path, "\ufeffKommune;Vekt\n0301;1\n")
    assert list(ib.read_survey(path, encoding="utf-8").columns) == ["Kommune", "Vekt"]
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\xef\xbb\xbfa;b\n\xf8;1\n")
    with pytest.raises(ib.InnobaroError, match=r"byte-order mark but is not UTF-8.*--encoding"):
        ib.read_survey(bad)


def test_three_columns_of_one_name(tmp_path: Path) -> None:
    data, info = ib.read_survey(_write(tmp_path, "a;a;a;a.1\n1;2;3;4\n"), info=True)
    assert list(data.columns) == ["a", "a.1", "a.2", "a.1.1"]
    assert sum("more than once" in note for note in info.notes) == 3


@pytest.mark.parametrize(("name", "what"), [
    ("svar.sav", "SPSS"), ("svar.dta", "Stata"), ("svar.parquet", "Parquet"),
    ("svar.xlsx", "Excel"),
])
def test_a_broken_file_is_named(tmp_path: Path, name: str, what: str) -> None:
    pytest.importorskip({"SPSS": "pyreadstat", "Parquet": "pyarrow", "Excel": "openpyxl"}
                        .get(what, "pandas"))
    path = _write(tmp_path, "Kommune;Vekt\n0301;1\n", name=name)
    with pytest.raises(ib.InnobaroError, match=f"cannot read {name} as an? {what}"):
        ib.read_survey(path)
    with pytest.raises(ib.InnobaroError, match="is a folder"):
        ib.read_survey(tmp_path)


def test_stata_labels_pandas_cannot_use(tmp_path: Path) -> None:
    data = pd.DataFrame({"q": np.array([1, 2, 1], dtype="int8")})
    path = tmp_path / "svar.dta"
    data.to_stata(path, write_index=False, value_labels={"q": {1: "Ja", 2: "Ja"}})
    read, info = ib.read_survey(path, info=True)
    assert read["q"].tolist() == [1, 2, 1]
    assert any("value labels not used" in note for note in info.notes)
