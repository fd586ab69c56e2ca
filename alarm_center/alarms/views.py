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


async def callers_waiting(session: AsyncSession, alarm_ids: list[int]) -> dict[int, datetime]:
    """{alarm id: since when its longest-waiting caller waits} for alarms with a call in the queue
    (or being answered): every console shows it, whoever has the alarm."""
    if not alarm_ids:
        return {}
    rows = await session.execute(
        select(VoiceCall.alarm_id, func.min(VoiceCall.created_at))
        .where(
            VoiceCall.alarm_id.in_(alarm_ids),
            VoiceCall.direction == CallDirection.INBOUND.value,
            VoiceCall.status.in_([CallStatus.QUEUED.value, CallStatus.ANSWERING.value]),
        )
        .group_by(VoiceCall.alarm_id)
    )
    return {alarm_id: since for alarm_id, since in rows}


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
    """Views for these alarms, in their order, with four look-ups in all (not four per alarm)."""
    if not alarms:
        return []
    band_ids = {a.band_id for a in alarms if a.band_id is not None}
    resident_ids = {a.resident_id for a in alarms if a.resident_id is not None}
    municipality_ids = {a.municipality_id for a in alarms if a.municipality_id is not None}
    serials = await names_by_id(session, select(Band.id, Band.serial).where(Band.id.in_(band_ids)))
    residents = {
        r.id: r for r in (await session.execute(select(Resident).where(Resident.id.in_(resident_ids)))).scalars()
    }
    municipalities = await names_by_id(
        session, select(Municipality.id, Municipality.name).where(Municipality.id.in_(municipality_ids))
    )
    claimers = {a.claimed_by for a in alarms if a.claimed_by is not None}
    names = await names_by_id(session, select(StaffUser.id, StaffUser.full_name).where(StaffUser.id.in_(claimers)))
    callers = await caller_numbers(session, [a.id for a in alarms if a.kind == AlarmKind.VOICE_CALL.value])
    waiting = await callers_waiting(session, [a.id for a in alarms if a.status in OPEN_STATUSES])
    views = []
    for alarm in alarms:
        resident = residents.get(alarm.resident_id) if alarm.resident_id is not None else None
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
                claimed_by_name=names.get(alarm.claimed_by) if alarm.claimed_by is not None else None,
                overdue_at=alarm.overdue_at,
                municipality_id=alarm.municipality_id,
                # No band: a voice call from a number nobody in the registry has.
                band_serial=serials.get(alarm.band_id, "?") if alarm.band_id is not None else "",
                municipality=municipalities.get(alarm.municipality_id) if alarm.municipality_id else None,
                resident=ResidentSummary(
                    id=resident.id,
                    first_name=resident.first_name,
                    last_name=resident.last_name,
                    address=resident.address,
                )
                if resident
                else None,
                caller_number=callers.get(alarm.id),
                caller_waiting_since=waiting.get(alarm.id),
            )
        )
    return views
