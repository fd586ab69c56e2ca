"""Monthly reports per municipality: GET /api/reports/monthly (CSV, PDF, JSON) and the /reports page.

Supervisors and administrators, for their own municipalities. The report carries no personal data
(it goes to funders), so whoever may see a municipality may download its report. No `from
__future__ import annotations`: FastAPI resolves the Annotated dependencies at import time.
"""

import asyncio
import re
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.reports import render as renderer
from alarm_center.reports.labels import Lang
from alarm_center.reports.monthly import monthly_report, parse_month
from alarm_center.reports.period_export import parse_period, period_csv
from alarm_center.reports.scope import ReportError, ReportScope, centre_scope, find_municipality
from console.api.scope import not_yours
from console.auth.current import StaffPrincipal, Supervisor
from console.deps import BandSettingsDep, ClockDep, ReportSettingsDep, SessionDep
from console.pages import _page, _to_login, _viewer, refusal_page
from console.routes.registry_common import Text
from registry.model import Municipality, StaffRole

router = APIRouter(tags=["reports"])
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")


class MunicipalityOut(BaseModel):
    id: int
    code: str
    name: str


@router.get("/api/reports/municipalities")
async def report_municipalities(user: Supervisor, session: SessionDep) -> list[MunicipalityOut]:
    """The municipalities whose reports this user may download."""
    rows = (await session.execute(select(Municipality).order_by(Municipality.name))).scalars()
    return [MunicipalityOut(id=m.id, code=m.code, name=m.name) for m in rows if user.sees(m.id)]


async def _scope(
    session: AsyncSession, user: StaffPrincipal, code: str | None, centre: bool, centre_name: str
) -> ReportScope:
    """One municipality, or with `centre` every municipality this user may see (an administrator:
    all of them). 422 for both or neither."""
    if centre == (code is not None):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail="municipality: give a municipality's code or centre=true (the whole centre), not both",
        )
    if code is None:
        try:
            return await centre_scope(session, centre_name, user.sees)
        except ReportError as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None
    found = await _municipality(session, user, code)
    return ReportScope(found.code, found.name, (found.id,), (found.name,))


async def _municipality(session: AsyncSession, user: StaffPrincipal, code: str) -> Municipality:
    """The municipality of `code` if this user may report on it: 422 for a NUL, 404, 403."""
    if "\x00" in code:
        # PostgreSQL text cannot hold NUL: bad input, not a query that fails in the database.
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail="municipality: the code holds a NUL")
    try:
        found = await find_municipality(session, code)
    except ReportError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None
    if not user.sees(found.id):
        raise not_yours(f"municipality {found.code}")
    return found


MunicipalityQuery = Annotated[
    Text | None, Query(min_length=1, max_length=32, description="the municipality's code (or centre=true)")
]
CentreQuery = Annotated[bool, Query(description="the whole centre: every municipality this user may see")]


def _download(content: bytes, media_type: str, filename: str) -> Response:
    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


@router.get(
    "/api/reports/monthly",
    responses={200: {"content": {"text/csv": {}, "application/pdf": {}, "application/json": {}}}},
)
async def monthly(
    user: Supervisor,
    session: SessionDep,
    clock: ClockDep,
    band_settings: BandSettingsDep,
    report_settings: ReportSettingsDep,
    month: Annotated[Text, Query(description="a calendar month, YYYY-MM")],
    municipality: MunicipalityQuery = None,
    centre: CentreQuery = False,
    format: Literal["csv", "pdf", "json"] = "csv",
    lang: Lang = Lang.PL,
) -> Response:
    """One municipality's report, or the whole centre's (`centre=true`: every municipality the user
    may see, each person counted once), for one Europe/Warsaw month: participants (by sex and age
    band, over the last twelve months), bands by state, alarms by kind and outcome, answer times
    against the 60 s / 180 s targets, the funder's figures against the month before and the year
    to date, technical alarms, notifications. No personal data. 422 for a malformed month or for
    both/neither of municipality and centre, 404 for an unknown municipality, 403 for one the user
    is not assigned to."""
    try:
        parsed = parse_month(month)
    except ReportError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=f"month: {exc}") from None
    scope = await _scope(session, user, municipality, centre, report_settings.centre_name)
    report = await monthly_report(
        session, scope=scope, month=parsed, now=clock.now(), settings=band_settings, cover=report_settings
    )
    # Drawing the charts takes a CPU for a moment: not on the event loop.
    content = await asyncio.to_thread(renderer.render, report, format=format, lang=lang)
    filename = f"{'raport' if lang == Lang.PL else 'report'}-{_SAFE_NAME.sub('_', scope.code)}-{parsed}.{format}"
    return _download(content, renderer.MEDIA_TYPES[format], filename)


@router.get("/api/reports/period", responses={200: {"content": {"text/csv": {}}}})
async def period_export(
    user: Supervisor,
    session: SessionDep,
    clock: ClockDep,
    report_settings: ReportSettingsDep,
    period: Annotated[Text, Query(max_length=16, description="a quarter 2026-Q4, a year 2026, or a month 2026-11")],
    municipality: MunicipalityQuery = None,
    centre: CentreQuery = False,
    lang: Lang = Lang.PL,
) -> Response:
    """The funder's figures over a quarter or a year as CSV: one line per month and one for the
    period (columns in docs/reports.md), of a municipality or the whole centre. 422 for a malformed
    period, 404 / 403 as the monthly report."""
    try:
        name, _ = parse_period(period)
    except ReportError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=f"period: {exc}") from None
    scope = await _scope(session, user, municipality, centre, report_settings.centre_name)
    content = await period_csv(session, scope=scope, period=name, now=clock.now(), lang=lang)
    filename = f"{'wskazniki' if lang == Lang.PL else 'figures'}-{_SAFE_NAME.sub('_', scope.code)}-{name}.csv"
    return _download(content, renderer.MEDIA_TYPES["csv"], filename)


@router.get("/reports", include_in_schema=False)
async def reports_page(request: Request, session: SessionDep, clock: ClockDep) -> Response:
    user = await _viewer(request, session, clock)
    if user is None:
        return _to_login(request)
    if user.role not in (StaffRole.SUPERVISOR, StaffRole.ADMINISTRATOR):
        return refusal_page(request, user)
    return _page(request, "reports.html", user)
