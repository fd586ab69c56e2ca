"""An operator takes an alarm: raised → claimed, audited, and the band told "help is coming".

The full lifecycle (every move, outcome codes, escalation) is the alarm engine's; this is the
move the band must hear about.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms import repository
from alarm_center.alarms.model import PRIORITY_BY_KIND, Alarm, AlarmKind, AlarmPriority, AlarmStatus
from gateway import downlink
from gateway.model import BandMessage
from opaska.clock import Clock


class ClaimRefused(Exception):
    """The alarm is not open, or someone else claimed it first; the message says which."""


@dataclass(frozen=True)
class Claimed:
    alarm_id: int
    staff_id: int


async def claim_alarm(session: AsyncSession, clock: Clock, *, alarm_id: int, staff_id: int) -> Claimed:
    """Does not commit. Two operators claiming at once: exactly one wins, the other gets ClaimRefused."""
    now = clock.now()
    moved = await session.execute(
        update(Alarm)
        .where(Alarm.id == alarm_id, Alarm.status == AlarmStatus.RAISED)
        .values(status=AlarmStatus.CLAIMED, claimed_at=now, claimed_by=staff_id)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        current = (await session.execute(select(Alarm.status, Alarm.claimed_by).where(Alarm.id == alarm_id))).first()
        if current is None:
            raise ClaimRefused(f"alarm {alarm_id} does not exist")
        if current.status == AlarmStatus.CLAIMED:
            raise ClaimRefused(f"alarm {alarm_id} is already claimed by staff {current.claimed_by}")
        raise ClaimRefused(f"alarm {alarm_id} is {current.status}, not open")
    await repository.add_event(
        session,
        alarm_id=alarm_id,
        at=now,
        type="claimed",
        actor_type="staff",
        actor_id=staff_id,
        from_status=AlarmStatus.RAISED,
        to_status=AlarmStatus.CLAIMED,
    )
    alarm = (await session.execute(select(Alarm).where(Alarm.id == alarm_id))).scalar_one()
    if PRIORITY_BY_KIND[AlarmKind(alarm.kind)] == AlarmPriority.LIFE:
        msg_id = None
        if alarm.first_message_id is not None:
            msg_id = (
                await session.execute(select(BandMessage.message_id).where(BandMessage.id == alarm.first_message_id))
            ).scalar_one_or_none()
        await downlink.alarm_claimed(
            session, band_id=alarm.band_id, alarm_id=alarm.id, kind=alarm.kind, msg_id=msg_id, at=now
        )
    return Claimed(alarm_id, staff_id)
