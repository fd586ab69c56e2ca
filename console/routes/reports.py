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
from alarm_center.reports.monthly import ReportError, find_municipality, monthly_report, parse_month
from alarm_center.reports.period_export import parse_period, period_csv
from console.api.scope import not_yours
from console.auth.current import StaffPrincipal, Supervisor
from console.deps import BandSettingsDep, ClockDep, SessionDep
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


@router.get(
    "/api/reports/monthly",
    responses={200: {"content": {"text/csv": {}, "application/pdf": {}, "application/json": {}}}},
)
async def monthly(
    user: Supervisor,
    session: SessionDep,
    clock: ClockDep,
    band_settings: BandSettingsDep,
    municipality: Annotated[Text, Query(min_length=1, max_length=32, description="the municipality's code")],
    month: Annotated[Text, Query(description="a calendar month, YYYY-MM")],
    format: Literal["csv", "pdf", "json"] = "csv",
    lang: Lang = Lang.PL,
) -> Response:
    """One municipality's report for one Europe/Warsaw month: participants, bands by state, alarms by
    kind and outcome, answer times against the 60 s / 180 s targets, technical alarms and how long
    they lasted, notifications by channel and result. No personal data. 422 for a malformed month,
    404 for an unknown municipality, 403 for one the user is not assigned to."""
    try:
        parsed = parse_month(month)
    except ReportError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=f"month: {exc}") from None
    found = await _municipality(session, user, municipality)
    report = await monthly_report(
        session,
        municipality_code=found.code,
        month=parsed,
        now=clock.now(),
        settings=band_settings,
    )
    # Drawing the charts takes a CPU for a moment: not on the event loop.
    content = await asyncio.to_thread(renderer.render, report, format=format, lang=lang)
    filename = f"{'raport' if lang == Lang.PL else 'report'}-{_SAFE_NAME.sub('_', found.code)}-{parsed}.{format}"
    return Response(
        content,
        media_type=renderer.MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


@router.get("/api/reports/period", responses={200: {"content": {"text/csv": {}}}})
async def period_export(
    user: Supervisor,
    session: SessionDep,
    clock: ClockDep,
    municipality: Annotated[Text, Query(min_length=1, max_length=32, description="the municipality's code")],
    period: Annotated[Text, Query(max_length=16, description="a quarter 2026-Q4, a year 2026, or a month 2026-11")],
    lang: Lang = Lang.PL,
) -> Response:
    """The funder's figures over a quarter or a year as CSV: one line per month and one for the
    period (columns in docs/reports.md). 422 for a malformed period, 404 / 403 as the monthly report."""
    try:
        name, _ = parse_period(period)
    except ReportError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=f"period: {exc}") from None
    found = await _municipality(session, user, municipality)
    content = await period_csv(session, municipality_code=found.code, period=name, now=clock.now(), lang=lang)
    filename = f"{'wskazniki' if lang == Lang.PL else 'figures'}-{_SAFE_NAME.sub('_', found.code)}-{name}.csv"
    return Response(
        content,
        media_type=renderer.MEDIA_TYPES["csv"],
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


@router.get("/reports", include_in_schema=False)
async def reports_page(request: Request, session: SessionDep, clock: ClockDep) -> Response:
    user = await _viewer(request, session, clock)
    if user is None:
        return _to_login(request)
    if user.role not in (StaffRole.SUPERVISOR, StaffRole.ADMINISTRATOR):
        return refusal_page(request, user)
    return _page(request, "reports.html", user)
