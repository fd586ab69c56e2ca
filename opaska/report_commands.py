"""`opaska report`: a municipality's monthly report from the command line (the same as the
console's GET /api/reports/monthly)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from core.clock import Clock, SystemClock
from core.settings import Settings
from core.startup import StartupError
from opaska.registry_cli import reading


async def render(
    settings: Settings, *, municipality: str, month: str, format: str, lang: str, clock: Clock | None = None
) -> bytes:
    """The report's bytes; ReportError for a bad month or an unknown municipality."""
    from alarm_center.reports import render as renderer
    from alarm_center.reports.labels import Lang
    from alarm_center.reports.monthly import monthly_report, parse_month

    parsed = parse_month(month)  # before the database: a typo is told at once
    async with reading(settings) as session:
        report = await monthly_report(
            session,
            municipality_code=municipality,
            month=parsed,
            now=(clock or SystemClock()).now(),
            settings=settings.bands,
        )
    return renderer.render(report, format=format, lang=Lang(lang))


async def run(settings: Settings, *, municipality: str, month: str, format: str, lang: str, out: str | None) -> int:
    """Exit 2 with the reason for a bad month or an unknown municipality, as other commands do for
    bad input."""
    from alarm_center.reports.monthly import ReportError

    try:
        content = await render(settings, municipality=municipality, month=month, format=format, lang=lang)
    except ReportError as exc:
        print(f"opaska: {exc}", file=sys.stderr)
        return 2
    if out is None and format == "pdf":
        out = f"report-{municipality}-{month}.pdf"
    return await _deliver(content, out, f"{format} report of {municipality} for {month}")


async def _deliver(content: bytes, out: str | None, what: str) -> int:
    """To standard output, or to the file `out` with one line on standard error saying what it holds."""
    if out is None:
        sys.stdout.buffer.write(content)
        sys.stdout.flush()
        return 0
    try:
        await asyncio.to_thread(Path(out).write_bytes, content)
    except OSError as exc:
        raise StartupError(f"cannot write {out}: {exc.strerror or exc}") from None
    print(f"{out}: {what} ({len(content)} bytes)", file=sys.stderr)
    return 0


async def run_export(settings: Settings, *, municipality: str, period: str, lang: str, out: str | None) -> int:
    """`opaska report-export`: exit 2 with the reason for a bad period or an unknown municipality."""
    from alarm_center.reports.labels import Lang
    from alarm_center.reports.monthly import ReportError
    from alarm_center.reports.period_export import parse_period, period_csv

    try:
        parse_period(period)  # before the database: a typo is told at once
        async with reading(settings) as session:
            content = await period_csv(
                session, municipality_code=municipality, period=period, now=SystemClock().now(), lang=Lang(lang)
            )
    except ReportError as exc:
        print(f"opaska: {exc}", file=sys.stderr)
        return 2
    return await _deliver(content, out, f"the funder's figures of {municipality} for {period}")
