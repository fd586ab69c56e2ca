"""`opaska report` (opaska/report_commands.py): a municipality's monthly report."""

from __future__ import annotations

from opaska.commands.table import Command, arg

FORMATS = ("csv", "pdf", "json")
# The report's own language; not given, the command line's (opaska --lang, the locale).
REPORT_LANGUAGE = arg("--lang", choices=("pl", "en"), help="arg.report.lang")
# One municipality or the whole centre: exactly one of the two (argparse says so when neither or both).
WHICH = (
    arg("--municipality", metavar="CODE", help="arg.municipality"),
    arg("--centre", action="store_true", help="arg.centre"),
)

EXPORT = Command(
    "report-export",
    help="cmd.report-export",
    description="cmd.report-export.about",
    run="opaska.report_commands:run_export",
    args=(
        *WHICH,
        arg("--period", required=True, metavar="PERIOD", help="arg.report-export.period"),
        REPORT_LANGUAGE,
        arg("--out", metavar="FILE", help="arg.report-export.out"),
    ),
)

COMMAND = Command(
    "report",
    help="cmd.report",
    description="cmd.report.about",
    run="opaska.report_commands:run",
    args=(
        *WHICH,
        arg("--month", required=True, metavar="YYYY-MM", help="arg.report.month"),
        arg("--format", choices=FORMATS, default="csv", help="arg.report.format"),
        REPORT_LANGUAGE,
        arg("--out", metavar="FILE", help="arg.report.out"),
    ),
)
