"""A responder on their way (a relative who answered TAK, a neighbour, a carer), with no login:
what their link shows and what its three buttons record.

The page shows the address, how to get in, and on request the key-safe code (each opening audited,
with the responder as its actor), only while the alarm is open. "Jadę" is the same answer as an SMS
TAK (the arrival timer of the alarm's policy starts: no arrival in time alerts the operators and
the supervisor); "Jestem na miejscu" records the arrival and stops that timer; "Sytuacja
opanowana" reports to the operator, who closes the alarm. Every press is an alarm event, so it is
on the timeline and live on every console.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms import repository as alarms
from alarm_center.alarms.ladder import LADDER, Rung
from alarm_center.alarms.model import OPEN_STATUSES, Alarm
from alarm_center.alarms.readings import KEY_SAFE_OPENED
from alarm_center.escalation import repository as escalations
from alarm_center.notify.service import Answer, record_response
from registry.model import Contact, Resident

RESPONDER_REPORT = "responder_report"
MAX_NOTE = 1000


class Press(StrEnum):
    GOING = "going"  # "Jadę"
    ARRIVED = "arrived"  # "Jestem na miejscu"
    HANDLED = "handled"  # "Sytuacja opanowana", with a note


class AlarmClosed(Exception):
    """The alarm is closed: the link shows nothing any more."""


@dataclass(frozen=True)
class Visit:
    alarm: Alarm
    resident: Resident | None
    responder_name: str


async def open_visit(session: AsyncSession, *, alarm_id: int, contact_id: int | None) -> Visit:
    """The alarm, its resident and who the responder is; AlarmClosed once it is closed (or gone)."""
    alarm = await session.get(Alarm, alarm_id)
    if alarm is None or alarm.status not in OPEN_STATUSES:
        raise AlarmClosed(f"alarm {alarm_id} is closed")
    resident = await session.get(Resident, alarm.resident_id) if alarm.resident_id is not None else None
    contact = await session.get(Contact, contact_id) if contact_id is not None else None
    if contact is not None and (resident is None or contact.resident_id != resident.id):
        contact = None  # a contact moved to another resident since: not named
    return Visit(alarm, resident, contact.name if contact else "osoba udzielająca pomocy")


async def audit_key_safe_opening(session: AsyncSession, visit: Visit, *, contact_id: int | None, at: datetime) -> None:
    """The responder opened the key-safe code: on the alarm's timeline, the responder its actor."""
    await alarms.add_event(
        session,
        alarm_id=visit.alarm.id,
        at=at,
        type=KEY_SAFE_OPENED,
        actor_type="contact",
        actor_id=contact_id,
        from_status=visit.alarm.status,
        to_status=visit.alarm.status,
        detail={"resident_id": visit.alarm.resident_id, "via": "responder_link", "who": visit.responder_name},
    )


async def press(
    session: AsyncSession, visit: Visit, *, contact_id: int | None, what: Press, note: str, at: datetime
) -> int:
    """Record one press; the event's id. Does not commit."""
    alarm_id = visit.alarm.id
    note = note.strip()[:MAX_NOTE]
    if what == Press.GOING:
        return await record_response(
            session, alarm_id=alarm_id, contact_id=contact_id, answer=Answer.GOING, via="link", at=at
        )
    if what == Press.ARRIVED:
        await _arrival_confirmed(session, alarm_id=alarm_id)
        detail = {"action": LADDER, "rung": Rung.ARRIVED.value, "who": visit.responder_name, "via": "responder_link"}
    else:
        detail = {"action": RESPONDER_REPORT, "who": visit.responder_name}
    if note:
        detail["remark"] = note
    event = await alarms.add_event(
        session,
        alarm_id=alarm_id,
        at=at,
        type="note",
        actor_type="contact",
        actor_id=contact_id,
        from_status=visit.alarm.status,
        to_status=visit.alarm.status,
        detail=detail,
    )
    return event.id


async def _arrival_confirmed(session: AsyncSession, *, alarm_id: int) -> None:
    """Someone is at the door: the arrival timer stops (no "arrival not confirmed" alert)."""
    row = await escalations.lock_for_answer(session, alarm_id=alarm_id)
    if row is not None and row.state in (escalations.ARRIVAL, escalations.ARRIVAL_END):
        await escalations.move(session, escalation_id=row.id, values={"state": "done", "next_due_at": None})
