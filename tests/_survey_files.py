"""Survey files as analysts have them, written from Python for the tests.

- :func:`survey_frame`: a small Norwegian survey (``Kommune``, ``Sektor``,
  ``Landsdel``, ``Vekt``, ``Innovert``), optionally with a hostile column name;
- :func:`write_excel_csv`: a CSV file as Excel saves "CSV (semikolondelt)" on
  a Norwegian Windows: ``;`` between fields, decimal commas, CRLF line ends,
  cp1252 (or UTF-8 with a byte-order mark: ``encoding="utf-8-sig"``);
- :func:`write_sav`: an SPSS file whose ``Landsdel`` and ``Innovert`` carry
  value labels (1 Østlandet ... 6 Nord-Norge; 0 Nei, 1 Ja) and 99 "Vet ikke"
  declared user-missing;
- :data:`HOSTILE`: a column name that runs a shell command when pasted into a
  formula's ``Q('...')``. SPSS and Stata variable names cannot hold it (readstat
  refuses the spaces and quotes), so :func:`write_sav` puts it into a value
  label instead.

Import with ``from _survey_files import ...`` (``tests/`` is on the path, as
for ``_harness``).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

HOSTILE = "w') * 0 + __import__('os').system('echo x') + Q('w"

#: The landsdeler in their code order (alphabetically Østlandet comes last).
LANDSDELER = {1: "Østlandet", 2: "Innlandet", 3: "Sør-Norge", 4: "Vestlandet",
              5: "Trøndelag", 6: "Nord-Norge"}
JA_NEI = {0: "Nei", 1: "Ja"}
#: An ordinal variable (alphabetically "20 000 og over" comes first).
STORRELSE = {1: "Under 5 000", 2: "5 000–19 999", 3: "20 000 og over"}


def survey_frame(n: int = 60, *, seed: int = 15, hostile: bool = False) -> pd.DataFrame:
    """``n`` respondents: municipality numbers with leading zeros, sector,
    landsdel (labels), weights with decimals and a 0/1 outcome."""
    rng = np.random.default_rng(seed)
    region = rng.integers(1, 7, n)
    frame = pd.DataFrame({
        "Kommune": np.array(["0301", "3401", "4204", "4601", "5001", "1804"])[region - 1],
        "Sektor": np.where(rng.random(n) < 0.5, "Helse og omsorg", "Oppvekst"),
        "Landsdel": [LANDSDELER[int(r)] for r in region],
        "Vekt": np.round(rng.uniform(1, 30, n), 2),
        "Innovert": (rng.random(n) < 0.7).astype(int),
    })
    if hostile:
        frame[HOSTILE] = frame["Sektor"]
    return frame


def _cell(value: object) -> str:
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return ""
        text = repr(float(value))
        text = text[:-2] if text.endswith(".0") else text
        return text.replace(".", ",")
    return str(value)


def write_excel_csv(path: Path, frame: pd.DataFrame, *, encoding: str = "cp1252",
                    sep: str = ";") -> Path:
    """``frame`` as Excel writes CSV on a Norwegian Windows; returns ``path``."""
    with open(path, "w", encoding=encoding, newline="") as f:
        writer = csv.writer(f, delimiter=sep, lineterminator="\r\n")
        writer.writerow([str(c) for c in frame.columns])
        writer.writerows([_cell(v) for v in row] for row in frame.itertuples(index=False))
    return path


def write_sav(path: Path, frame: pd.DataFrame | None = None) -> Path:
    """An SPSS file of :func:`survey_frame`'s data with codes and value labels:
    ``Landsdel`` 1-6 (nominal) with 99 "Vet ikke" user-missing in its first
    three rows, ``Innovert`` 0 Nei / 1 Ja, ``Sektor`` 1/2 with :data:`HOSTILE`
    as the label of 2, ``Størrelse`` 1-3 (ordinal, :data:`STORRELSE`);
    unlabelled numbers ``Ansatte`` (whole) and ``Alder`` (whole, one missing)."""
    import pyreadstat

    frame = survey_frame() if frame is None else frame
    codes = {label: code for code, label in LANDSDELER.items()}
    data = pd.DataFrame({
        "Kommune": frame["Kommune"],
        "Sektor": np.where(frame["Sektor"] == "Oppvekst", 2.0, 1.0),
        "Landsdel": frame["Landsdel"].map(codes).astype(float),
        "Vekt": frame["Vekt"].astype(float),
        "Innovert": frame["Innovert"].astype(float),
        "Størrelse": (np.arange(len(frame)) % 3 + 1).astype(float),
        "Ansatte": (np.arange(len(frame)) % 17 + 3).astype(float),
        "Alder": (np.arange(len(frame)) % 40 + 20).astype(float),
    })
    data.loc[data.index[:3], "Landsdel"] = 99.0
    data.loc[data.index[4], "Alder"] = np.nan
    pyreadstat.write_sav(
        data, str(path),
        variable_value_labels={"Landsdel": {**LANDSDELER, 99: "Vet ikke"},
                               "Innovert": JA_NEI,
                               "Sektor": {1: "Helse og omsorg", 2: HOSTILE},
                               "Størrelse": STORRELSE},
        missing_ranges={"Landsdel": [99]},
        variable_measure={"Landsdel": "nominal", "Innovert": "nominal",
                          "Størrelse": "ordinal",
                          "Sektor": "nominal", "Vekt": "scale"})
    return path
