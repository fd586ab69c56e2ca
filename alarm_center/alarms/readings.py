"""Reading a resident's secrets through an alarm: medical notes and the key-safe code.

A reading changes no alarm, so it is no lifecycle move; it is audited all the same, as an event
of its own in the alarm's timeline. Use cases here do not commit.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms import repository
from alarm_center.alarms.model import Alarm
from registry.model import Resident

MEDICAL_OPENED = "medical_notes_opened"
KEY_SAFE_OPENED = "key_safe_code_opened"


class MedicalNotes(BaseModel):
    resident_id: int
    medical_notes: str
    # The audit event this reading wrote.
    event_id: int


class KeySafeCode(BaseModel):
    resident_id: int
    code: str
    event_id: int


async def _audit_reading(session: AsyncSession, *, alarm: Alarm, staff_id: int, at: datetime, what: str) -> int:
    # Written directly, not as a lifecycle move: a reading changes nothing, and must be audited on
    # a closed alarm too, where the lifecycle refuses every move.
    event = await repository.add_event(
        session,
        alarm_id=alarm.id,
        at=at,
        type=what,
        actor_type="staff",
        actor_id=staff_id,
        from_status=alarm.status,
        to_status=alarm.status,
        detail={"resident_id": alarm.resident_id},
    )
    return event.id


async def _resident_of(session: AsyncSession, alarm: Alarm) -> Resident | None:
    return await session.get(Resident, alarm.resident_id) if alarm.resident_id is not None else None


async def open_medical_notes(
    session: AsyncSession, *, alarm: Alarm, staff_id: int, at: datetime
) -> MedicalNotes | None:
    """The resident's medical notes, the opening audited; None if the alarm has no resident."""
    resident = await _resident_of(session, alarm)
    if resident is None:
        return None
    event_id = await _audit_reading(session, alarm=alarm, staff_id=staff_id, at=at, what=MEDICAL_OPENED)
    return MedicalNotes(resident_id=resident.id, medical_notes=resident.medical_notes, event_id=event_id)


async def open_key_safe_code(
    session: AsyncSession, *, alarm: Alarm, staff_id: int, at: datetime, decrypt: Callable[[str], str]
) -> KeySafeCode | None:
    """The resident's key-safe code, decrypted by `decrypt` (the console holds the data key), the
    opening audited; None if no code is stored. What `decrypt` raises passes through, unaudited."""
    resident = await _resident_of(session, alarm)
    if resident is None or resident.key_safe_code_encrypted is None:
        return None
    code = decrypt(resident.key_safe_code_encrypted)
    event_id = await _audit_reading(session, alarm=alarm, staff_id=staff_id, at=at, what=KEY_SAFE_OPENED)
    return KeySafeCode(resident_id=resident.id, code=code, event_id=event_id)
