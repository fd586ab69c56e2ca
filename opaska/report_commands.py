"""`opaska report`: a municipality's monthly report from the command line (the same as the
console's GET /api/reports/monthly)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from core.clock import Clock, SystemClock
from core.settings import Settings
from opaska.exits import BAD_INPUT, BadInput
from opaska.messages import language, say
from opaska.registry_cli import reading

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from alarm_center.reports.scope import ReportScope


async def _scope(session: AsyncSession, settings: Settings, municipality: str | None) -> ReportScope:
    """One municipality, or (None) the whole centre: every municipality."""
    from alarm_center.reports.scope import centre_scope, municipality_scope

    if municipality is None:
        return await centre_scope(session, settings.reports.centre_name)
    return await municipality_scope(session, municipality)


async def render(
    settings: Settings,
    *,
    municipality: str | None,
    month: str,
    format: str,
    lang: str | None,
    clock: Clock | None = None,
) -> bytes:
    """The report's bytes (`municipality` None: the whole centre's); ReportError for a bad month or
    an unknown municipality."""
    from alarm_center.reports import render as renderer
    from alarm_center.reports.labels import Lang
    from alarm_center.reports.monthly import monthly_report, parse_month

    parsed = parse_month(month)  # before the database: a typo is told at once
    async with reading(settings) as session:
        report = await monthly_report(
            session,
            scope=await _scope(session, settings, municipality),
            month=parsed,
            now=(clock or SystemClock()).now(),
            settings=settings.bands,
            cover=settings.reports,
        )
    return renderer.render(report, format=format, lang=Lang(lang or language()))


def _which(municipality: str | None, centre: bool) -> str | None:
    """The scope's code for file names (CENTRE for the whole centre); None when not exactly one of
    --municipality and --centre was given (told on standard error)."""
    from alarm_center.reports.scope import CENTRE

    if centre == (municipality is not None):
        print(f"opaska: {say('report.which')}", file=sys.stderr)
        return None
    return CENTRE if centre else municipality


async def run(
    settings: Settings,
    *,
    municipality: str | None,
    month: str,
    format: str,
    lang: str | None,
    out: str | None,
    centre: bool = False,
) -> int:
    """Exit 2 with the reason for a bad month or an unknown municipality, as other commands do for
    bad input."""
    from alarm_center.reports.scope import ReportError

    code = _which(municipality, centre)
    if code is None:
        return BAD_INPUT
    try:
        content = await render(
            settings, municipality=None if centre else municipality, month=month, format=format, lang=lang
        )
    except ReportError as exc:
        print(f"opaska: {exc}", file=sys.stderr)
        return BAD_INPUT
    if out is None and format == "pdf":
        out = f"report-{code}-{month}.pdf"
    return await _deliver(content, out, say("report.monthly", format=format, code=code, month=month))


async def _deliver(content: bytes, out: str | None, what: str) -> int:
    """To standard output, or to the file `out` with one line on standard error saying what it holds."""
    if out is None:
        sys.stdout.buffer.write(content)
        sys.stdout.flush()
        return 0
    try:
        await asyncio.to_thread(Path(out).write_bytes, content)
    except OSError as exc:
        raise BadInput(f"--out: {say('cannot_write', path=out, reason=exc.strerror or exc)}") from None
    print(say("report.written", path=out, what=what, size=len(content)), file=sys.stderr)
    return 0


async def run_export(
    settings: Settings,
    *,
    municipality: str | None,
    period: str,
    lang: str | None,
    out: str | None,
    centre: bool = False,
) -> int:
    """`opaska report-export`: exit 2 with the reason for a bad period or an unknown municipality."""
    from alarm_center.reports.labels import Lang
    from alarm_center.reports.period_export import parse_period, period_csv
    from alarm_center.reports.scope import ReportError

    code = _which(municipality, centre)
    if code is None:
        return BAD_INPUT
    try:
        parse_period(period)  # before the database: a typo is told at once
        async with reading(settings) as session:
            scope = await _scope(session, settings, None if centre else municipality)
            content = await period_csv(
                session, scope=scope, period=period, now=SystemClock().now(), lang=Lang(lang or language())
            )
    except ReportError as exc:
        print(f"opaska: {exc}", file=sys.stderr)  # worded by the reports, in Polish
        return BAD_INPUT
    return await _deliver(content, out, say("report.period", code=code, period=period))
