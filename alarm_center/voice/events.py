"""Every step of a call on the alarm's timeline: one alarm event type, "call", whose detail names
the call and the step (the shapes are listed in alarm_center/alarms/timeline_text.py's `_call`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms import repository
from alarm_center.voice.model import VoiceCall

CALL_EVENT = "call"


def call_detail(call: VoiceCall, event: str, **more: object) -> dict[str, object]:
    """A "call" event's detail: call_id, direction, target, target_id, event, and the extras."""
    return {
        "call_id": call.id,
        "direction": call.direction,
        "target": call.target,
        "target_id": call.target_id,
        "event": event,
        **more,
    }


async def add_call_event(
    session: AsyncSession,
    call: VoiceCall,
    event: str,
    *,
    at: datetime,
    staff_id: int | None = None,
    **more: object,
) -> None:
    """One "call" event: a person's act (`staff_id`), or the system's (Twilio's word, a sweep)."""
    await repository.add_event(
        session,
        alarm_id=call.alarm_id,
        at=at,
        type=CALL_EVENT,
        actor_type="staff" if staff_id is not None else "system",
        actor_id=staff_id,
        detail=call_detail(call, event, **more),
    )
