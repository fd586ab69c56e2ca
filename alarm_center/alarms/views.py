"""What an operator sees of an alarm in the queue: only the data needed to act."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import Executable, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms.model import OPEN_STATUSES, Alarm, AlarmKind
from alarm_center.voice.model import CallDirection, CallStatus, VoiceCall
from registry.model import Band, Municipality, Resident, StaffUser


async def caller_numbers(session: AsyncSession, alarm_ids: list[int]) -> dict[int, str]:
    """{alarm id: the number of its first inbound call}: who called, for a voice_call alarm."""
    if not alarm_ids:
        return {}
    rows = await session.execute(
        select(VoiceCall.alarm_id, VoiceCall.number)
        .where(VoiceCall.alarm_id.in_(alarm_ids), VoiceCall.direction == CallDirection.INBOUND.value)
        .order_by(VoiceCall.id.desc())
    )
    # Newest first, so the first call's number is the one left in the dict.
    return {alarm_id: number for alarm_id, number in rows}


class ResidentSummary(BaseModel):
    id: int
    first_name: str
    last_name: str
    address: str


class AlarmView(BaseModel):
    id: int
    kind: str
    priority: int
    status: str
    is_test: bool
    raised_at: datetime
    repeat_count: int
    claimed_at: datetime | None
    claimed_by: int | None
    # The operator's name, so the queue says who has it.
    claimed_by_name: str | None = None
    overdue_at: datetime | None = None
    municipality_id: int | None = None
    band_serial: str
    municipality: str | None
    resident: ResidentSummary | None
    # A voice_call alarm: the number that called (E.164), so an unknown caller shows as their number.
    caller_number: str | None = None
    # A caller waits in the alarm's queue since then (a band or resident calling the centre).
    caller_waiting_since: datetime | None = None


async def names_by_id(session: AsyncSession, query: Executable) -> dict[int, str]:
    """{id: name} from a two-column query."""
    return {int(key): str(value) for key, value in await session.execute(query)}


async def alarm_views(session: AsyncSession, alarms: Sequence[Alarm]) -> list[AlarmView]:
    """Views for these alarms, in their order, in one look-up (two with voice calls): it is on the
    path of every alarm to every console's live feed."""
    if not alarms:
        return []
    waiting_since = (
        select(func.min(VoiceCall.created_at))
        .where(
            VoiceCall.alarm_id == Alarm.id,
            VoiceCall.direction == CallDirection.INBOUND.value,
            VoiceCall.status.in_([CallStatus.QUEUED.value, CallStatus.ANSWERING.value]),
        )
        .correlate(Alarm)
        .scalar_subquery()
    )
    rows = await session.execute(
        select(
            Alarm.id,
            Band.serial,
            Resident.id,
            Resident.first_name,
            Resident.last_name,
            Resident.address,
            Municipality.name,
            StaffUser.full_name,
            waiting_since,
        )
        .select_from(Alarm)
        .outerjoin(Band, Band.id == Alarm.band_id)
        .outerjoin(Resident, Resident.id == Alarm.resident_id)
        .outerjoin(Municipality, Municipality.id == Alarm.municipality_id)
        .outerjoin(StaffUser, StaffUser.id == Alarm.claimed_by)
        .where(Alarm.id.in_({a.id for a in alarms}))
    )
    found = {row[0]: row for row in rows}
    callers = await caller_numbers(session, [a.id for a in alarms if a.kind == AlarmKind.VOICE_CALL.value])
    views = []
    for alarm in alarms:
        row = found.get(alarm.id)
        serial, resident_id, first_name, last_name, address, municipality, claimer, waiting = (
            row[1:] if row is not None else (None,) * 8
        )
        views.append(
            AlarmView(
                id=alarm.id,
                kind=alarm.kind,
                priority=alarm.priority,
                status=alarm.status,
                is_test=alarm.is_test,
                raised_at=alarm.raised_at,
                repeat_count=alarm.repeat_count,
                claimed_at=alarm.claimed_at,
                claimed_by=alarm.claimed_by,
                claimed_by_name=claimer if alarm.claimed_by is not None else None,
                overdue_at=alarm.overdue_at,
                municipality_id=alarm.municipality_id,
                # No band: a voice call from a number nobody in the registry has.
                band_serial=(serial or "?") if alarm.band_id is not None else "",
                municipality=municipality if alarm.municipality_id else None,
                resident=ResidentSummary(id=resident_id, first_name=first_name, last_name=last_name, address=address)
                if resident_id is not None
                else None,
                caller_number=callers.get(alarm.id),
                caller_waiting_since=waiting if alarm.status in OPEN_STATUSES else None,
            )
        )
    return views
