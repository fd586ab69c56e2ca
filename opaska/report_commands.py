"""`opaska report`: a municipality's monthly report from the command line (the same as the
console's GET /api/reports/monthly)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from core.clock import Clock, SystemClock
from core.db.engine import make_session_factory
from core.settings import Settings
from core.startup import StartupError
from opaska.startup import open_database

FORMATS = ("csv", "pdf", "json")


def add_parser(commands: Any) -> None:
    """Register `opaska report` on the top-level subcommands."""
    report = commands.add_parser(
        "report",
        help="a municipality's monthly report (CSV, PDF or JSON; no personal data)",
        description="The monthly report of one municipality: participants, bands, alarms by kind and outcome, "
        "answer times against the 60 s / 180 s targets, technical alarms, notifications. "
        "CSV and JSON go to standard output unless --out is given; a PDF goes to "
        "report-CODE-YYYY-MM.pdf unless --out is given.",
    )
    report.add_argument("--municipality", required=True, metavar="CODE", help="the municipality's code")
    report.add_argument("--month", required=True, metavar="YYYY-MM", help="a calendar month, e.g. 2026-11")
    report.add_argument("--format", choices=FORMATS, default="csv")
    report.add_argument("--lang", choices=("pl", "en"), default="pl")
    report.add_argument("--out", metavar="FILE", help="write to this file")


async def render(
    settings: Settings, *, municipality: str, month: str, format: str, lang: str, clock: Clock | None = None
) -> bytes:
    """The report's bytes; ReportError for a bad month or an unknown municipality."""
    from alarm_center.reports import render as renderer
    from alarm_center.reports.labels import Lang
    from alarm_center.reports.monthly import monthly_report, parse_month

    parsed = parse_month(month)  # before the database: a typo is told at once
    engine = await open_database(settings, migrate=False)
    try:
        async with make_session_factory(engine)() as session:
            report = await monthly_report(
                session,
                municipality_code=municipality,
                month=parsed,
                now=(clock or SystemClock()).now(),
                settings=settings.bands,
            )
    finally:
        await engine.dispose()
    return renderer.render(report, format=format, lang=Lang(lang))


async def run(settings: Settings, args: argparse.Namespace) -> int:
    """Exit 2 with the reason for a bad month or an unknown municipality, as other commands do for
    bad input."""
    from alarm_center.reports.monthly import ReportError

    try:
        content = await render(
            settings, municipality=args.municipality, month=args.month, format=args.format, lang=args.lang
        )
    except ReportError as exc:
        print(f"opaska: {exc}", file=sys.stderr)
        return 2
    out = args.out
    if out is None and args.format == "pdf":
        out = f"report-{args.municipality}-{args.month}.pdf"
    if out is None:
        sys.stdout.buffer.write(content)
        sys.stdout.flush()
        return 0
    try:
        await asyncio.to_thread(Path(out).write_bytes, content)
    except OSError as exc:
        raise StartupError(f"cannot write {out}: {exc.strerror or exc}") from None
    print(
        f"{out}: {args.format} report of {args.municipality} for {args.month} ({len(content)} bytes)", file=sys.stderr
    )
    return 0
