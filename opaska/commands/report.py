"""`opaska report` (opaska/report_commands.py): a municipality's monthly report."""

from __future__ import annotations

from opaska.commands.table import Command, arg

FORMATS = ("csv", "pdf", "json")
# One municipality or the whole centre: exactly one of the two (argparse says so when neither or both).
WHICH = (
    arg("--municipality", metavar="CODE", help="the municipality's code"),
    arg("--centre", action="store_true", help="the whole centre: every municipality, each person counted once"),
)

EXPORT = Command(
    "report-export",
    help="the funder's figures over a quarter or a year, a line per month (CSV)",
    description="The funder's figures of one municipality (participants joined and left, bands, alarms by type, "
    "interventions by type, answer times against the 60 s / 180 s targets) for each month of a quarter or a year "
    "and for the whole period, as CSV for a spreadsheet. Columns: docs/reports.md.",
    run="opaska.report_commands:run_export",
    args=(
        *WHICH,
        arg("--period", required=True, metavar="PERIOD", help="a quarter (2026-Q4), a year (2026) or a month"),
        arg("--lang", choices=("pl", "en"), default="pl"),
        arg("--out", metavar="FILE", help="write to this file (default: standard output)"),
    ),
)

COMMAND = Command(
    "report",
    help="a municipality's monthly report (CSV, PDF or JSON; no personal data)",
    description="The monthly report of one municipality: participants, bands, alarms by kind and outcome, "
    "answer times against the 60 s / 180 s targets, technical alarms, notifications. "
    "CSV and JSON go to standard output unless --out is given; a PDF goes to "
    "report-CODE-YYYY-MM.pdf unless --out is given.",
    run="opaska.report_commands:run",
    args=(
        *WHICH,
        arg("--month", required=True, metavar="YYYY-MM", help="a calendar month, e.g. 2026-11"),
        arg("--format", choices=FORMATS, default="csv"),
        arg("--lang", choices=("pl", "en"), default="pl"),
        arg("--out", metavar="FILE", help="write to this file"),
    ),
)
