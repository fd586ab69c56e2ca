"""Welfare calls (alarm_center/care/welfare_calls.py) in the console.

Operators and supervisors get the calls due in their shift and record each one's outcome; whoever
plans care (technicians at installation, supervisors, operators arranging a call back) plans a
resident's call or removes one not yet made; supervisors plan a call for every resident of a
municipality at once. Everyone sees only their municipalities' calls.
"""

from datetime import datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.care import welfare_calls
from alarm_center.care.welfare_calls import Recorded, WelfareCallView
from alarm_center.care.welfare_model import WelfareCall, WelfareOutcome, WelfareReason
from console.api.scope import not_yours
from console.auth.current import AlarmHandler, AnyStaff, StaffPrincipal, Supervisor, require_role
from console.bounds import DbId
from console.deps import ClockDep, SessionDep
from console.routes.registry_common import PolishRoute, Text, field_error, not_found, registry_errors, visible_resident
from registry.model import Municipality, StaffRole

router = APIRouter(tags=["welfare calls"], route_class=PolishRoute)
CallPlanner = Annotated[
    StaffPrincipal, Depends(require_role(StaffRole.OPERATOR, StaffRole.TECHNICIAN, StaffRole.SUPERVISOR))
]

MAX_NOTE = 2000
# The longest shift the list looks ahead for (two 24-hour duties back to back at most).
MAX_SHIFT_HOURS = 48


class PlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # With a zone ("…Z", "+01:00"); without one, the municipality's local time.
    due_at: datetime
    reason: WelfareReason
    note: Annotated[Text, Field(max_length=MAX_NOTE)] = ""
    repeat_weekly: bool = False


class OutcomeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: WelfareOutcome
    note: Annotated[Text, Field(max_length=MAX_NOTE)] = ""


class Planned(BaseModel):
    created: int


async def _due_at(session: AsyncSession, body: PlanIn, municipality_id: int) -> datetime:
    if body.due_at.tzinfo is not None:
        return body.due_at
    municipality = await session.get(Municipality, municipality_id)
    if municipality is None:
        raise not_found(f"nie ma gminy o id {municipality_id}", "municipality_id")
    return body.due_at.replace(tzinfo=ZoneInfo(municipality.timezone))


async def _visible_call(session: AsyncSession, user: StaffPrincipal, call_id: int) -> WelfareCall:
    call = await session.get(WelfareCall, call_id)
    if call is None:
        raise not_found(f"nie ma rozmowy kontrolnej o id {call_id}")
    if not user.sees(call.municipality_id):
        raise not_yours(f"welfare call {call_id}")
    return call


@router.get("/api/welfare-calls/due")
async def due_calls(
    user: AlarmHandler,
    session: SessionDep,
    clock: ClockDep,
    hours: Annotated[int, Query(ge=1, le=MAX_SHIFT_HOURS, description="how far the shift reaches ahead")] = 12,
) -> list[WelfareCallView]:
    """The shift's calls: those overdue, then those due within `hours`, soonest first."""
    async with session.begin():
        return await welfare_calls.due_calls(
            session, municipality_ids=user.municipality_ids, until=clock.now() + timedelta(hours=hours)
        )


@router.get("/api/registry/residents/{resident_id}/welfare-calls")
async def resident_calls(resident_id: DbId, user: AnyStaff, session: SessionDep) -> list[WelfareCallView]:
    """The resident's planned calls (soonest first), then the latest done."""
    async with session.begin():
        await visible_resident(session, user, resident_id)
        return await welfare_calls.calls_of(session, resident_id=resident_id)


@router.post("/api/registry/residents/{resident_id}/welfare-calls", status_code=status.HTTP_201_CREATED)
async def plan_call(
    resident_id: DbId, body: PlanIn, user: CallPlanner, session: SessionDep, clock: ClockDep
) -> WelfareCallView:
    """Plan a call to the resident; 409 if one for the same reason is planned that day already."""
    async with session.begin():
        resident = await visible_resident(session, user, resident_id)
        with registry_errors():
            call = await welfare_calls.plan_call(
                session,
                resident_id=resident_id,
                due_at=await _due_at(session, body, resident.municipality_id),
                reason=body.reason,
                note=body.note.strip(),
                repeat_weekly=body.repeat_weekly,
                by=user.id,
                now=clock.now(),
            )
        return await welfare_calls.view_of(session, call.id)


@router.post("/api/registry/municipalities/{municipality_id}/welfare-calls", status_code=status.HTTP_201_CREATED)
async def plan_for_municipality(
    municipality_id: DbId, body: PlanIn, user: Supervisor, session: SessionDep, clock: ClockDep
) -> Planned:
    """Plan the call for every active resident of the municipality; those with the same call open
    that day are left out. How many were planned."""
    if not user.sees(municipality_id):
        raise not_yours(f"municipality {municipality_id}")
    async with session.begin():
        with registry_errors():
            created = await welfare_calls.plan_for_municipality(
                session,
                municipality_id=municipality_id,
                due_at=await _due_at(session, body, municipality_id),
                reason=body.reason,
                note=body.note.strip(),
                repeat_weekly=body.repeat_weekly,
                by=user.id,
                now=clock.now(),
            )
    return Planned(created=created)


@router.post("/api/welfare-calls/{welfare_call_id}/outcome")
async def record_outcome(
    welfare_call_id: DbId, body: OutcomeIn, user: AlarmHandler, session: SessionDep, clock: ClockDep
) -> Recorded:
    """How the call went: reached, no_answer (a retry in 30 min; the second raises an alarm) or
    needs_visit (raises a welfare_call alarm; say why in `note`). 409 when it has an outcome."""
    note = body.note.strip()
    if body.outcome == WelfareOutcome.NEEDS_VISIT and not note:
        raise field_error(422, "note", "napisz, dlaczego potrzebna jest wizyta")
    async with session.begin():
        await _visible_call(session, user, welfare_call_id)
        with registry_errors():
            return await welfare_calls.record_outcome(
                session, call_id=welfare_call_id, outcome=body.outcome, note=note, by=user.id, now=clock.now()
            )


@router.delete("/api/welfare-calls/{welfare_call_id}", status_code=status.HTTP_204_NO_CONTENT)
async def cancel_call(welfare_call_id: DbId, user: CallPlanner, session: SessionDep) -> None:
    """Remove a call not yet made; 409 for one done (its outcome stays in the history)."""
    async with session.begin():
        await _visible_call(session, user, welfare_call_id)
        with registry_errors():
            await welfare_calls.cancel_call(session, call_id=welfare_call_id)
