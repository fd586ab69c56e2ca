"""Welfare calls: a coordinator plans calls to residents (one resident, or every active resident of a
municipality at once); operators see the calls due in their shift and record how each went.

What an outcome does:
- reached: done;
- no answer: done, and a retry is planned 30 minutes later (attempt 2); a second no answer in a row
  raises a `welfare_call` alarm, so someone finds out why;
- needs a visit: done, and a `welfare_call` alarm is raised at once, for an operator to arrange it.
A call planned to repeat weekly plans its next week's call when done, whatever the outcome.

Everything is in the database (no timers in memory): the list is a query, a retry is a row.
None of these functions commits; the request owns the transaction.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from sqlalchemy import Table, and_, exists, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from alarm_center.alarms import intake
from alarm_center.alarms import repository as alarms
from alarm_center.alarms.model import OPEN_STATUSES, Alarm, AlarmKind
from alarm_center.care.welfare_model import WelfareCall, WelfareOutcome, WelfareReason
from alarm_center.escalation.policy import PolicyBook
from core.db.base import UtcDateTime
from registry.errors import Conflict, Duplicate, NotFound, RegistryError
from registry.model import Band, BandStatus, Municipality, Resident, StaffUser

# After no answer, the operator tries again this much later.
RETRY_AFTER = timedelta(minutes=30)
# The attempt whose no answer raises the alarm (the first no answer plans a retry).
LAST_ATTEMPT = 2
WEEK = timedelta(days=7)
# A call is planned from yesterday on (typed in late today), not further back: a slip of the year.
PAST_ALLOWED = timedelta(days=1)
FUTURE_ALLOWED = timedelta(days=366)
# Of a resident's calls done, the newest this many are listed with those still planned.
RECENT_DONE = 20


class WelfareCallView(BaseModel):
    """A welfare call as the console shows it: in the shift's list and on the resident's page."""

    id: int
    resident_id: int
    resident_name: str
    # The resident's own phone, and the band's (a band with a SIM takes calls), whichever there is.
    phone: str | None
    band_phone: str | None
    address: str
    municipality_id: int
    municipality: str
    due_at: datetime
    reason: str
    note: str
    repeat_weekly: bool
    attempt: int
    created_at: datetime
    created_by_name: str | None
    done_at: datetime | None
    done_by_name: str | None
    outcome: str | None
    outcome_note: str
    alarm_id: int | None


@dataclass(frozen=True)
class Recorded:
    """What recording an outcome did besides closing the call."""

    call_id: int
    # The welfare_call alarm raised (or joined, when one was open already).
    alarm_id: int | None
    # The retry planned after a first no answer.
    retry_id: int | None
    # Next week's call, for a call that repeats weekly.
    next_id: int | None


def _check_due(due_at: datetime, now: datetime) -> None:
    if due_at < now - PAST_ALLOWED:
        raise RegistryError(field="due_at", message="termin rozmowy jest w przeszłości")
    if due_at > now + FUTURE_ALLOWED:
        raise RegistryError(field="due_at", message="termin rozmowy jest dalej niż za rok")


async def _zone(session: AsyncSession, municipality_id: int) -> ZoneInfo:
    name = (await session.execute(select(Municipality.timezone).where(Municipality.id == municipality_id))).scalar_one()
    return ZoneInfo(name)


def _local_day(due_at: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The municipality's calendar day of `due_at`, as [start, end) instants."""
    day = due_at.astimezone(zone).date()
    return datetime.combine(day, time(0), zone), datetime.combine(day + timedelta(days=1), time(0), zone)


def _same_day_open(resident_id: Any, reason: str, day: tuple[datetime, datetime]) -> Any:
    """An open call of the resident for this reason on that day: planning it twice helps nobody."""
    return exists().where(
        WelfareCall.resident_id == resident_id,
        WelfareCall.done_at.is_(None),
        WelfareCall.reason == reason,
        WelfareCall.due_at >= day[0],
        WelfareCall.due_at < day[1],
    )


async def plan_call(
    session: AsyncSession,
    *,
    resident_id: int,
    due_at: datetime,
    reason: WelfareReason,
    note: str,
    repeat_weekly: bool,
    by: int | None,
    now: datetime,
) -> WelfareCall:
    """Plan one call to an active resident; Duplicate if one for the same reason is open that day."""
    _check_due(due_at, now)
    resident = await session.get(Resident, resident_id)
    if resident is None:
        raise NotFound(field="resident_id", message=f"nie ma mieszkańca o id {resident_id}")
    if not resident.active:
        raise Conflict(field="resident_id", message="mieszkaniec nie uczestniczy już w programie")
    day = _local_day(due_at, await _zone(session, resident.municipality_id))
    if (await session.execute(select(_same_day_open(resident_id, reason.value, day)))).scalar():
        raise Duplicate(field="due_at", message="ta rozmowa jest już zaplanowana na ten dzień")
    call = WelfareCall(
        municipality_id=resident.municipality_id,
        resident_id=resident_id,
        due_at=due_at,
        reason=reason.value,
        note=note,
        repeat_weekly=repeat_weekly,
        attempt=1,
        created_at=now,
        created_by=by,
        outcome_note="",
    )
    session.add(call)
    await session.flush()
    return call


async def plan_for_municipality(
    session: AsyncSession,
    *,
    municipality_id: int,
    due_at: datetime,
    reason: WelfareReason,
    note: str,
    repeat_weekly: bool,
    by: int | None,
    now: datetime,
) -> int:
    """Plan the call for every active resident of the municipality, in one statement, leaving out
    those who already have one open for the same reason that day; how many were planned."""
    _check_due(due_at, now)
    if await session.get(Municipality, municipality_id) is None:
        raise NotFound(field="municipality_id", message=f"nie ma gminy o id {municipality_id}")
    day = _local_day(due_at, await _zone(session, municipality_id))
    residents = select(
        Resident.municipality_id,
        Resident.id,
        literal(due_at, UtcDateTime()),
        literal(reason.value),
        literal(note),
        literal(repeat_weekly),
        literal(1),
        literal(now, UtcDateTime()),
        literal(by),
        literal(""),
    ).where(
        Resident.municipality_id == municipality_id,
        Resident.active.is_(True),
        ~_same_day_open(Resident.id, reason.value, day),
    )
    table = cast(Table, WelfareCall.__table__)
    columns = [
        "municipality_id",
        "resident_id",
        "due_at",
        "reason",
        "note",
        "repeat_weekly",
        "attempt",
        "created_at",
        "created_by",
        "outcome_note",
    ]
    inserted = await session.execute(table.insert().from_select(columns, residents).returning(table.c.id))
    return len(inserted.all())


def _views_query() -> Any:
    creator, doer = aliased(StaffUser), aliased(StaffUser)
    band_phone = (
        select(func.min(Band.sim_phone))
        .where(Band.resident_id == Resident.id, Band.status == BandStatus.ACTIVE.value)
        .scalar_subquery()
    )
    return (
        select(WelfareCall, Resident, Municipality.name, creator.full_name, doer.full_name, band_phone)
        .join(Resident, Resident.id == WelfareCall.resident_id)
        .join(Municipality, Municipality.id == WelfareCall.municipality_id)
        .outerjoin(creator, creator.id == WelfareCall.created_by)
        .outerjoin(doer, doer.id == WelfareCall.done_by)
    )


async def _views(session: AsyncSession, query: Any) -> list[WelfareCallView]:
    views = []
    for call, resident, municipality, created_by, done_by, band_phone in await session.execute(query):
        views.append(
            WelfareCallView(
                id=call.id,
                resident_id=resident.id,
                resident_name=f"{resident.first_name} {resident.last_name}",
                phone=resident.phone,
                band_phone=band_phone,
                address=resident.address,
                municipality_id=call.municipality_id,
                municipality=municipality,
                due_at=call.due_at,
                reason=call.reason,
                note=call.note,
                repeat_weekly=call.repeat_weekly,
                attempt=call.attempt,
                created_at=call.created_at,
                created_by_name=created_by,
                done_at=call.done_at,
                done_by_name=done_by,
                outcome=call.outcome,
                outcome_note=call.outcome_note,
                alarm_id=call.alarm_id,
            )
        )
    return views


async def due_calls(
    session: AsyncSession, *, municipality_ids: Collection[int] | None, until: datetime
) -> list[WelfareCallView]:
    """Open calls due before `until` (the shift's end), the most overdue first, of active residents
    of these municipalities (None: all)."""
    query = _views_query().where(WelfareCall.done_at.is_(None), WelfareCall.due_at < until, Resident.active.is_(True))
    if municipality_ids is not None:
        query = query.where(WelfareCall.municipality_id.in_(municipality_ids))
    return await _views(session, query.order_by(WelfareCall.due_at, WelfareCall.id))


async def calls_of(session: AsyncSession, *, resident_id: int) -> list[WelfareCallView]:
    """The resident's calls still planned (soonest first), then the newest done ones."""
    planned = _views_query().where(WelfareCall.resident_id == resident_id, WelfareCall.done_at.is_(None))
    done = _views_query().where(WelfareCall.resident_id == resident_id, WelfareCall.done_at.is_not(None))
    return await _views(session, planned.order_by(WelfareCall.due_at, WelfareCall.id)) + await _views(
        session, done.order_by(WelfareCall.done_at.desc(), WelfareCall.id.desc()).limit(RECENT_DONE)
    )


async def get_call(session: AsyncSession, call_id: int) -> WelfareCall:
    call = await session.get(WelfareCall, call_id)
    if call is None:
        raise NotFound(field="id", message=f"nie ma rozmowy kontrolnej o id {call_id}")
    return call


async def cancel_call(session: AsyncSession, *, call_id: int) -> None:
    """Remove a planned call; one done is history and stays (Conflict)."""
    call = await get_call(session, call_id)
    if call.done_at is not None:
        raise Conflict(field="id", message="rozmowa już się odbyła: jej wynik zostaje w historii")
    await session.delete(call)
    await session.flush()


async def record_outcome(
    session: AsyncSession,
    *,
    call_id: int,
    outcome: WelfareOutcome,
    note: str,
    by: int,
    now: datetime,
    policies: PolicyBook | None = None,
) -> Recorded:
    """Record how the call went, and do what the outcome calls for (see the module's docstring).
    Conflict when the call has an outcome already: of two operators recording at once, one wins."""
    table = cast(Table, WelfareCall.__table__)
    done = await session.execute(
        update(table)
        .where(table.c.id == call_id, table.c.done_at.is_(None))
        .values(done_at=now, done_by=by, outcome=outcome.value, outcome_note=note)
        .returning(table.c.id)
    )
    if done.scalar_one_or_none() is None:
        await get_call(session, call_id)
        raise Conflict(field="outcome", message="ta rozmowa ma już zapisany wynik")
    call = await session.get(WelfareCall, call_id, populate_existing=True)
    assert call is not None  # just updated in this transaction

    retry_id = next_id = alarm_id = None
    gave_up = outcome == WelfareOutcome.NO_ANSWER and call.attempt >= LAST_ATTEMPT
    if outcome == WelfareOutcome.NO_ANSWER and not gave_up:
        retry_id = (await _follow_up(session, call, due_at=now + RETRY_AFTER, attempt=call.attempt + 1, now=now)).id
    if outcome == WelfareOutcome.NEEDS_VISIT or gave_up:
        alarm_id = await _raise_alarm(session, call, outcome=outcome, note=note, by=by, now=now, policies=policies)
        call.alarm_id = alarm_id
    if call.repeat_weekly:
        due = call.due_at + WEEK
        while due <= now:
            due += WEEK  # recorded more than a week late: the next one still ahead
        next_id = (await _follow_up(session, call, due_at=due, attempt=1, now=now, weekly=True)).id
    await session.flush()
    return Recorded(call_id=call.id, alarm_id=alarm_id, retry_id=retry_id, next_id=next_id)


async def _follow_up(
    session: AsyncSession, call: WelfareCall, *, due_at: datetime, attempt: int, now: datetime, weekly: bool = False
) -> WelfareCall:
    """A new call after this one: its retry (never repeating itself: the first attempt's repeat
    already planned next week), or next week's call."""
    follow = WelfareCall(
        municipality_id=call.municipality_id,
        resident_id=call.resident_id,
        due_at=due_at,
        reason=call.reason,
        note=call.note,
        repeat_weekly=weekly,
        attempt=attempt,
        created_at=now,
        created_by=call.created_by,
        outcome_note="",
    )
    session.add(follow)
    await session.flush()
    return follow


async def _raise_alarm(
    session: AsyncSession,
    call: WelfareCall,
    *,
    outcome: WelfareOutcome,
    note: str,
    by: int,
    now: datetime,
    policies: PolicyBook | None,
) -> int:
    """A welfare_call alarm about the resident, raised by the operator with why in its detail; or,
    when one is open already (an earlier call's), that one, with this call noted on it."""
    detail: dict[str, object] = {
        "outcome": outcome.value,
        "attempt": call.attempt,
        "call_reason": call.reason,
        "welfare_call_id": call.id,
        "note": note,
    }
    open_one = await _open_alarm_of(session, call.resident_id)
    if open_one is None:
        band_id = (
            await session.execute(
                select(func.min(Band.id)).where(
                    Band.resident_id == call.resident_id, Band.status == BandStatus.ACTIVE.value
                )
            )
        ).scalar_one_or_none()
        raised = await intake.raise_welfare_call(
            session,
            band_id=band_id,
            resident_id=call.resident_id,
            municipality_id=call.municipality_id,
            at=now,
            staff_id=by,
            detail=detail,
            policies=policies,
        )
        if raised is not None:
            return raised
        # Raised a moment ago for the same band by another operator's call: join it.
        open_one = await _open_alarm_of(session, call.resident_id)
        if open_one is None:
            raise intake.IntakeRace(f"open welfare_call alarm of resident {call.resident_id} closed during intake")
    await alarms.add_event(
        session,
        alarm_id=open_one,
        at=now,
        type="note",
        actor_type="staff",
        actor_id=by,
        detail={"action": "welfare_call", **detail},
    )
    return open_one


async def _open_alarm_of(session: AsyncSession, resident_id: int) -> int | None:
    return (
        await session.execute(
            select(func.min(Alarm.id)).where(
                and_(
                    Alarm.resident_id == resident_id,
                    Alarm.kind == AlarmKind.WELFARE_CALL.value,
                    Alarm.status.in_(OPEN_STATUSES),
                )
            )
        )
    ).scalar_one_or_none()


async def view_of(session: AsyncSession, call_id: int) -> WelfareCallView:
    [view] = await _views(session, _views_query().where(WelfareCall.id == call_id))
    return view
