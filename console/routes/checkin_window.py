"""A resident's daily check-in window (alarm_center/care/checkin.py): read by all staff of their
municipality, set by technicians and supervisors. Both ends, or neither (no daily check-in)."""

from datetime import time
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from console.auth.current import AnyStaff, StaffPrincipal, require_role
from console.bounds import DbId
from console.deps import SessionDep
from console.routes.registry_common import PolishRoute, field_error, visible_resident
from registry.model import StaffRole

router = APIRouter(tags=["registry"], route_class=PolishRoute)
CareEditor = Annotated[StaffPrincipal, Depends(require_role(StaffRole.TECHNICIAN, StaffRole.SUPERVISOR))]


class CheckinWindow(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    # Local time of the resident's municipality; both null: no daily check-in.
    opens: Annotated[time | None, Field(alias="from")] = None
    closes: Annotated[time | None, Field(alias="until")] = None


@router.get("/api/registry/residents/{resident_id}/checkin-window", response_model_by_alias=True)
async def get_checkin_window(resident_id: DbId, user: AnyStaff, session: SessionDep) -> CheckinWindow:
    """The resident's daily check-in window (`from`, `until`: local times), or nulls."""
    async with session.begin():
        resident = await visible_resident(session, user, resident_id)
        return CheckinWindow(opens=resident.checkin_from, closes=resident.checkin_until)


@router.put("/api/registry/residents/{resident_id}/checkin-window", response_model_by_alias=True)
async def set_checkin_window(
    resident_id: DbId, body: CheckinWindow, user: CareEditor, session: SessionDep
) -> CheckinWindow:
    """Set the window (e.g. {"from": "08:00", "until": "10:00"}), or remove it (both null). A window
    may pass midnight (22:00–01:00)."""
    if (body.opens is None) != (body.closes is None):
        missing = "until" if body.closes is None else "from"
        raise field_error(422, missing, "podaj obie godziny okna meldunku albo żadnej")
    if body.opens is not None and body.opens == body.closes:
        raise field_error(422, "until", "okno meldunku musi trwać: godzina końca jak godzina początku")
    async with session.begin():
        resident = await visible_resident(session, user, resident_id)
        resident.checkin_from = body.opens.replace(second=0, microsecond=0) if body.opens else None
        resident.checkin_until = body.closes.replace(second=0, microsecond=0) if body.closes else None
        return CheckinWindow(opens=resident.checkin_from, closes=resident.checkin_until)
