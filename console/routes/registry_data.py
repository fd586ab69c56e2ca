"""The registry API for data in bulk: the CSV import, and residents' data rights (RODO/GDPR).

The import is for supervisors and administrators: a dry run reports every problem by row and
column in Polish; the import itself writes everything or, with any problem, nothing (and says why
with 422). A supervisor may import only into their own municipalities. The RODO export (everything
held about a resident, as a JSON download) is for supervisors and administrators; the erasure for
administrators only, confirmed by typing the resident's id again.
"""

import json
import logging
import sqlite3
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, TypeAdapter
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from alarm_center import gdpr
from alarm_center.voice import recording
from console.auth.current import StaffPrincipal, Supervisor, require_role
from console.bounds import DbId
from console.deps import ClockDep, SessionDep, context_of
from console.routes.registry_common import PolishRoute, field_error, registry_errors, visible_resident
from registry import csv_import

log = logging.getLogger(__name__)
router = APIRouter(tags=["registry"], route_class=PolishRoute)
Administrator = Annotated[StaffPrincipal, Depends(require_role())]
# The import report as JSON for the 422 answer, which FastAPI does not serialise for us.
IMPORT_REPORT = TypeAdapter(csv_import.ImportReport)


# ---- CSV import -------------------------------------------------------------------------------------------


async def _uploaded(request: Request) -> bytes:
    """The file: a multipart form's `file` field, or the raw request body."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form(max_part_size=csv_import.MAX_BYTES + 1)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise field_error(status.HTTP_422_UNPROCESSABLE_CONTENT, "file", "brak pliku CSV w polu 'file'")
        return await upload.read(csv_import.MAX_BYTES + 1)
    return await request.body()


@router.post(
    "/api/registry/import",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
                },
                "text/csv": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
    responses={422: {"description": "the import found problems and wrote nothing; the report is in `report`"}},
)
async def import_residents(
    request: Request,
    user: Supervisor,
    session: SessionDep,
    clock: ClockDep,
    dry_run: Annotated[bool, Query(description="only check the file and report")] = True,
) -> csv_import.ImportReport:
    """Import residents, their contacts and bands from a MOPS spreadsheet saved as CSV (UTF-8 or
    Windows-1250, `;` or `,`; columns in docs/registry-import.md), sent as a multipart `file` or as
    the raw body. `dry_run=true` (the default) reports every problem by row and column; with
    `dry_run=false` everything is written, or with any problem nothing (422 with the report)."""
    data = await _uploaded(request)
    if b"\x00" in data:
        raise field_error(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "file",
            "plik zawiera bajty zerowe: to nie jest plik CSV (zapisz arkusz jako CSV UTF-8 albo CSV Windows-1250)",
        )
    async with session.begin():
        with registry_errors():
            report = await csv_import.import_csv(
                session, clock, data=data, dry_run=dry_run, staff_id=user.id, municipality_ids=user.municipality_ids
            )
    if not dry_run and not report.written:
        detail = [
            {"loc": ["file", f"wiersz {p.row}", p.column], "msg": p.message, "type": "csv"} for p in report.problems
        ]
        return JSONResponse(  # type: ignore[return-value]  # the 422 carries the report beside the detail
            {"detail": detail, "report": IMPORT_REPORT.dump_python(report, mode="json")},
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )
    return report


# ---- RODO: export and erase ----------------------------------------------------------------------------


@router.get(
    "/api/registry/residents/{resident_id}/export",
    responses={200: {"content": {"application/json": {}}, "description": "everything held about the resident"}},
)
async def export_resident(resident_id: DbId, user: Supervisor, session: SessionDep, clock: ClockDep) -> Response:
    """Everything held about the resident (RODO art. 15): resident, contacts, bands and their history,
    alarms with events and notifications, installation tests; as a JSON download."""
    await visible_resident(session, user, resident_id)
    with registry_errors("path"):
        exported = await gdpr.export_resident(session, clock, resident_id=resident_id)
    body = json.dumps(exported, ensure_ascii=False, indent=2, default=str).encode()
    return Response(
        body,
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="rodo-mieszkaniec-{resident_id}.json"',
            "Cache-Control": "no-store",
        },
    )


class EraseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The resident's id typed again: an erasure cannot be undone.
    confirm_resident_id: DbId


class Erased(BaseModel):
    resident_id: int
    erased: bool
    # Whether the database file was compacted so no erased bytes stay on disk; if not, erase again later.
    compacted: bool
    message: str


@router.post("/api/registry/residents/{resident_id}/erase")
async def erase_resident(
    resident_id: DbId, body: EraseBody, user: Administrator, session: SessionDep, clock: ClockDep, request: Request
) -> Erased:
    """Erase a resident who left the programme (RODO art. 17): their personal data and their
    contacts are removed, their alarms kept as anonymous statistics. Administrators only."""
    if body.confirm_resident_id != resident_id:
        raise field_error(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "confirm_resident_id",
            "wpisz ponownie id usuwanego mieszkańca, aby potwierdzić usunięcie",
        )
    async with session.begin():
        await visible_resident(session, user, resident_id)
        with registry_errors("path"):
            await gdpr.erase_resident(session, clock, resident_id=resident_id, staff_id=user.id)
    # Their call recordings go at the provider now (never failing the erasure: the sweep retries).
    context = context_of(request)
    await recording.delete_erased_recordings(context.session_factory, context.telephone, clock, resident_id=resident_id)
    engine = session.bind
    if not isinstance(engine, AsyncEngine):
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, "no database engine to compact")
    try:
        await gdpr.purge_residue(engine)
    except (sqlite3.Error, DBAPIError) as exc:
        log.warning("resident %d erased; database not compacted now: %s", resident_id, type(exc).__name__)
        return Erased(
            resident_id=resident_id,
            erased=True,
            compacted=False,
            message="Dane osobowe usunięte, ale bazy nie udało się teraz zagęścić: powtórz usunięcie później.",
        )
    return Erased(
        resident_id=resident_id,
        erased=True,
        compacted=True,
        message="Dane osobowe usunięte; alarmy zostały jako anonimowa statystyka.",
    )
