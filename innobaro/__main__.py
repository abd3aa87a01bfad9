"""Command line: ``python -m innobaro`` (also the ``innobaro`` console script).

Usage::

    python -m innobaro                      # the barometer report on the bundled data
    python -m innobaro report FILE --weights COL --outcome COL [--by COL ...]
                       [--strata COL ...] [--psu COL ...] [--fpc COL ...] [--nest]
                       [--lonely-psu RULE] [--outcome-level LABEL] [--by-missing row|drop]
                       [--sep SEP] [--decimal CHAR] [--encoding NAME] [--na CODE ...]
                       [--format text|md|html|json|xlsx] [--out PATH] [--figures DIR]
                       [--lang en|nb] [--style default|publication]

``FILE`` may be CSV (any separator, decimal commas, UTF-8 or Windows-1252, as
Excel writes it in Norway), Parquet (needs pyarrow), SPSS ``.sav`` (needs
pyreadstat; value labels and their order are kept), Stata ``.dta`` or Excel
``.xlsx``. Errors in the input are reported in one line on standard error with
exit code 2, with the flag to use where one helps.
"""

from __future__ import annotations

import argparse
import fnmatch
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from .design import SurveyDesign

FORMATS = ("text", "markdown", "md", "html", "json", "xlsx")
LONELY = ("fail", "remove", "adjust", "average", "certainty")
DESIGN_FLAGS = ("weights", "probs", "strata", "psu", "fpc", "nest", "lonely_psu",
                "replicate_weights", "replicate_method", "scale", "rscales", "rho", "mse")
REPLICATE_METHODS = ("jk1", "jkn", "brr", "fay", "bootstrap", "subbootstrap", "mrbbootstrap", "sdr",
                     "other")

#: Python advice in library messages, and what to type on the command line instead
_CLI_ADVICE = (
    ("If PSU ids are reused across strata, pass nest=True",
     "If PSU ids are reused across strata, add --nest"),
    ("pass nest=True", "add --nest"),
    ("Choose lonely_psu=", "Choose --lonely-psu "),
    ("Choose another lonely_psu", "Choose another --lonely-psu"),
    ("lonely_psu=", "--lonely-psu "),
    ("leave them out with design.subset(...)", "choose --by-missing row or drop"),
    ("outcome_level=", "--outcome-level "),
    ("by_missing=", "--by-missing "),
    ("give either weights or probs, not both", "give either --weights or --probs, not both"),
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="innobaro",
        description="Design-based survey report: the innovation barometer on the bundled "
                    "synthetic data, or the same report on your own survey file.")
    p.add_argument("--format", choices=FORMATS, default="text",
                   help="output format (md is Markdown)")
    p.add_argument("--out", metavar="PATH",
                   help="write the report to this file instead of the screen")
    p.add_argument("--figures", metavar="DIR",
                   help="write PNG figures to this folder (needs matplotlib)")
    p.add_argument("--lang", choices=("en", "nb"), default="en",
                   help="language of the labels: en (English) or nb (Norwegian bokmål)")
    p.add_argument("--style", choices=("default", "publication"), default="default",
                   help="publication: shares as rounded percentages, without standard "
                        "errors and effective sample sizes")
    sub = p.add_subparsers(dest="command", metavar="report")
    r = sub.add_parser(
        "report", help="the report on your own survey file",
        description="Shares of a binary outcome, overall and by each --by column, with "
                    "Korn-Graubard intervals, NCHS reliability flags, Rao-Scott tests and "
                    "a survey logistic model, for your own survey file.")
    r.add_argument("file", metavar="FILE",
                   help="CSV, Parquet, SPSS .sav, Stata .dta or Excel .xlsx file, one row "
                        "per respondent")
    data = r.add_argument_group("the outcome and the breakdowns")
    data.add_argument("--outcome", required=True, metavar="COL",
                      help="the outcome column: 0/1, true/false, or labels with "
                           "--outcome-level")
    data.add_argument("--outcome-level", dest="outcome_level", metavar="LABEL",
                      help="the outcome's value or label that counts as the event "
                           "(for example Ja); needed when the outcome is not 0/1")
    data.add_argument("--by", nargs="+", default=[], metavar="COL",
                      help="columns to break the shares down by")
    data.add_argument("--by-missing", dest="by_missing", choices=("row", "drop"),
                      default="row",
                      help="rows with a missing value in a --by column: shown as their "
                           "own row '(missing)' (default), or left out with a stated count")
    design = r.add_argument_group("the design")
    weights = design.add_mutually_exclusive_group(required=True)
    weights.add_argument("--weights", metavar="COL", help="column of sampling weights")
    weights.add_argument("--probs", metavar="COL",
                         help="column of inclusion probabilities (instead of --weights)")
    design.add_argument("--strata", nargs="+", metavar="COL",
                        help="column(s) of strata; several columns are crossed")
    design.add_argument("--psu", nargs="+", metavar="COL",
                        help="column of clusters, one per stage: --psu municipality unit")
    design.add_argument("--fpc", nargs="+", metavar="COL",
                        help="finite population correction, one column per stage: "
                             "population counts or sampling fractions")
    design.add_argument("--nest", action="store_true",
                        help="cluster ids are numbered within strata (the same id in two "
                             "strata is two clusters)")
    design.add_argument("--lonely-psu", dest="lonely_psu", default="fail", choices=LONELY,
                        help="what a stratum with a single PSU contributes to the variance "
                             "(R's survey.lonely.psu; default: fail)")
    design.add_argument("--se", choices=("bell-mccaffrey-2", "bell-mccaffrey", "linearized"),
                        help="standard errors on a linearisation design (default: "
                             "bell-mccaffrey-2, the small-sample correction innobaro's "
                             "coverage study recommends; linearized gives R's numbers)")
    rep = r.add_argument_group("replicate weights (instead of strata and clusters)")
    rep.add_argument("--replicate-weights", dest="replicate_weights", nargs="+",
                     metavar="COL",
                     help="replicate weight columns; patterns such as 'repw*' are expanded")
    rep.add_argument("--replicate-method", dest="replicate_method",
                     choices=REPLICATE_METHODS,
                     help="how the replicates were made (needed with --replicate-weights)")
    rep.add_argument("--scale", type=float, metavar="NUMBER",
                     help="overall scale of the replicate variance")
    rep.add_argument("--rscales", type=float, nargs="+", metavar="NUMBER",
                     help="per-replicate scales (jkn: (n_h - 1) / n_h of each replicate's "
                          "stratum); one number is used for every replicate")
    rep.add_argument("--rho", type=float, metavar="NUMBER", help="Fay's coefficient")
    rep.add_argument("--mse", action="store_true",
                     help="centre the replicate variance on the full-sample estimate")
    read = r.add_argument_group("reading the file (detected when not given)")
    read.add_argument("--sep", metavar="CHAR", help="CSV separator, such as ';' or ','")
    read.add_argument("--decimal", metavar="CHAR", help="CSV decimal mark, '.' or ','")
    read.add_argument("--encoding", metavar="NAME",
                      help="CSV text encoding, such as utf-8 or cp1252")
    read.add_argument("--na", nargs="+", default=[], metavar="CODE",
                      help="codes that mean missing in every column, such as 99 999 "
                           "(empty cells and NA always do)")
    out = r.add_argument_group("output")
    out.add_argument("--format", dest="format_", choices=FORMATS, help="output format")
    out.add_argument("--out", dest="out_", metavar="PATH", help="output file")
    out.add_argument("--figures", dest="figures_", metavar="DIR",
                     help="folder for PNG figures")
    out.add_argument("--lang", dest="lang_", choices=("en", "nb"), help="language of the labels")
    out.add_argument("--style", dest="style_", choices=("default", "publication"),
                     help="publication: rounded percentages")
    return p


def read_table(path: str, *, sep: str | None = None, decimal: str | None = None,
               encoding: str | None = None, na_values: Sequence[Any] = ()
               ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a survey file with :func:`innobaro.readers.read_survey`: the data,
    and what was read and detected (:class:`innobaro.readers.ReadInfo` as a dict)."""
    from .readers import read_survey

    data, info = read_survey(path, sep=sep, decimal=decimal, encoding=encoding,
                             na_values=tuple(na_values), info=True)
    return data, info.to_dict()


def _expand(patterns: Sequence[str], columns: Sequence[str]) -> list[str]:
    """Column names, with shell-style patterns expanded in the file's order."""
    names: list[str] = []
    for pattern in patterns:  # over the few patterns typed
        if pattern in columns:
            names.append(pattern)
            continue
        found = [c for c in columns if fnmatch.fnmatchcase(c, pattern)]
        names += found if found else [pattern]  # an unmatched name is reported by Design
    return names


def build_design(data: pd.DataFrame, args: argparse.Namespace) -> SurveyDesign:
    """The design the command-line flags describe."""
    from .design import Design, ReplicateDesign
    from .errors import DesignError

    if args.replicate_weights:
        if args.strata or args.psu or args.fpc or args.nest:
            raise DesignError("--replicate-weights carry the design: leave out --strata, "
                              "--psu, --fpc and --nest")
        if not args.replicate_method:
            raise DesignError("--replicate-weights need --replicate-method (jk1, jkn, brr, "
                              "fay, bootstrap, subbootstrap, sdr or other)")
        if args.probs:
            raise DesignError("--replicate-weights need --weights, not --probs")
        columns = _expand(args.replicate_weights, [str(c) for c in data.columns])
        return ReplicateDesign(data, weights=args.weights, replicate_weights=columns,
                               method=args.replicate_method, scale=args.scale,
                               rscales=args.rscales, rho=args.rho,
                               mse=args.mse)
    for flag in ("replicate_method", "scale", "rscales", "rho"):
        if getattr(args, flag) is not None:
            raise DesignError(f"--{flag.replace('_', '-')} goes with --replicate-weights")
    if args.mse:
        raise DesignError("--mse goes with --replicate-weights")
    return Design(data, weights=args.weights, probs=args.probs, strata=args.strata,
                  psu=args.psu, fpc=args.fpc, nest=args.nest, lonely_psu=args.lonely_psu)


def _cli_message(exc: BaseException) -> str:
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, KeyError) and message.startswith(("'", '"')):
        message = f"no column {message}"
    for python, flag in _CLI_ADVICE:
        message = message.replace(python, flag)
    return message


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    fmt = getattr(args, "format_", None) or args.format
    fmt = "markdown" if fmt == "md" else fmt
    out = getattr(args, "out_", None) or args.out
    figures = getattr(args, "figures_", None) or args.figures
    lang = getattr(args, "lang_", None) or args.lang
    style = getattr(args, "style_", None) or args.style
    try:
        from .errors import InnobaroError
        from .report import barometer_report, survey_report

        if fmt == "xlsx" and not out:
            raise ValueError("--format xlsx writes a binary Excel workbook: give --out "
                             "FILE.xlsx")
        if args.command == "report":
            data, source = read_table(args.file, sep=args.sep, decimal=args.decimal,
                                      encoding=args.encoding, na_values=args.na)
            design = build_design(data, args)
            source = {**source,
                      "design_flags": {k: getattr(args, k) for k in DESIGN_FLAGS
                                       if getattr(args, k) not in (None, False, [])}}
            report = survey_report(design, args.outcome, args.by,
                                   outcome_level=args.outcome_level,
                                   by_missing=args.by_missing, source=source, se=args.se)
        else:
            report = barometer_report()
        if fmt == "xlsx":
            report.write(out, "xlsx", lang=lang, style=style)
        else:
            text = report.render(fmt, lang=lang, style=style)
            if out:
                Path(out).write_text(text, encoding="utf-8")
            else:
                sys.stdout.write(text if text.endswith("\n") else text + "\n")
        if figures:
            report.figures(figures, lang=lang)
    except (InnobaroError, OSError, RuntimeError, ValueError, KeyError,
            UnicodeDecodeError) as exc:
        sys.stderr.write(f"innobaro: error: {_cli_message(exc)}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
