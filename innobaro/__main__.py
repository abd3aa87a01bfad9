"""Command line: ``python -m innobaro`` (also the ``innobaro`` console script).

Usage::

    python -m innobaro                      # the barometer report on the bundled data
    python -m innobaro report FILE --weights COL [--strata COL] [--psu COL]
                       [--outcome COL] [--by COL ...] [--format text|markdown|html|json]
                       [--out PATH] [--figures DIR]

``FILE`` may be CSV, Parquet (needs pyarrow) or SPSS ``.sav`` (needs
pyreadstat; value labels are kept). Errors in the input are reported in one
line on standard error with exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

FORMATS = ("text", "markdown", "html", "json")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="innobaro",
        description="Design-based survey report: the innovation barometer on the bundled "
                    "synthetic data, or the same report on your own survey file.")
    p.add_argument("--format", choices=FORMATS, default="text", help="output format")
    p.add_argument("--out", help="write the report to this file instead of the screen")
    p.add_argument("--figures", help="write PNG figures to this folder (needs matplotlib)")
    sub = p.add_subparsers(dest="command")
    r = sub.add_parser("report", help="the report on your own survey file")
    r.add_argument("file", help="CSV, Parquet or SPSS .sav file, one row per respondent")
    r.add_argument("--weights", required=True, help="column of sampling weights")
    r.add_argument("--strata", help="column of strata")
    r.add_argument("--psu", help="column of primary sampling units (clusters)")
    r.add_argument("--fpc", help="column of population counts or sampling fractions")
    r.add_argument("--lonely-psu", dest="lonely_psu", default="fail",
                   choices=("fail", "remove", "adjust", "average", "certainty"),
                   help="what a stratum with a single PSU contributes to the variance "
                        "(R's survey.lonely.psu; default: fail)")
    r.add_argument("--outcome", default="innovated", help="binary (0/1) outcome column")
    r.add_argument("--by", nargs="*", default=[], help="columns to break the shares down by")
    r.add_argument("--format", dest="format_", choices=FORMATS, help="output format")
    r.add_argument("--out", dest="out_", help="output file")
    r.add_argument("--figures", dest="figures_", help="folder for PNG figures")
    return p


def read_table(path: str) -> pd.DataFrame:
    """Read a survey file: CSV, Parquet or SPSS ``.sav`` (with value labels)."""
    import pandas as pd

    file = Path(path)
    if not file.exists():
        raise FileNotFoundError(f"no such file: {path}")
    suffix = file.suffix.lower()
    if suffix in (".csv", ".txt"):
        return pd.read_csv(file)
    if suffix in (".parquet", ".pq"):
        try:
            return pd.read_parquet(file)
        except ImportError:
            raise RuntimeError("reading Parquet needs pyarrow: pip install pyarrow") from None
    if suffix == ".sav":
        try:
            import pyreadstat
        except ImportError:
            raise RuntimeError("reading SPSS files needs pyreadstat: "
                               "pip install 'innobaro[spss]'") from None
        data, _meta = pyreadstat.read_sav(str(file), apply_value_formats=True)
        return data
    raise ValueError(f"cannot read {file.name}: use a .csv, .parquet or .sav file")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    fmt = getattr(args, "format_", None) or args.format
    out = getattr(args, "out_", None) or args.out
    figures = getattr(args, "figures_", None) or args.figures
    try:
        from .errors import InnobaroError
        from .report import barometer_report, survey_report

        if args.command == "report":
            from .design import Design

            data = read_table(args.file)
            design = Design(data, weights=args.weights, strata=args.strata, psu=args.psu,
                            fpc=args.fpc, lonely_psu=args.lonely_psu)
            report = survey_report(design, args.outcome, args.by)
        else:
            report = barometer_report()
        text = report.render(fmt)
        if out:
            Path(out).write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
        if figures:
            report.figures(figures)
    except (InnobaroError, FileNotFoundError, RuntimeError, ValueError, KeyError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        message = message.replace("Choose lonely_psu=", "Choose --lonely-psu ")
        sys.stderr.write(f"innobaro: error: {message}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
