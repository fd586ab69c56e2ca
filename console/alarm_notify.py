"""An operator texts or calls one of the resident's relatives by hand, from the alarm.

The notification is an outbox row like an escalation step's (the sender delivers it, with its
retries, fallback and reconciliation), written in the same transaction as the alarm event that
says who asked for it: the logged-in operator.

No `from __future__ import annotations`: FastAPI must resolve the Annotated dependencies.
"""

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms.lifecycle import Actor, Move, MoveRefused, Refusal, apply_move
from alarm_center.notify import repository
from alarm_center.notify.model import Notification, NotificationStatus
from alarm_center.notify.templates import alert_text
from console.api.scope import visible_alarm
from console.auth.current import AlarmHandler
from console.bounds import DbId
from console.deps import ClockDep, SessionDep, get_clock
from registry.model import Contact

router = APIRouter(tags=["alarms"])


__all__ = ["get_clock", "router"]  # get_clock: tests override the console's clock through it


class NotifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact_id: Annotated[DbId, Field(description="one of the alarm's resident's contacts")]
    channel: Literal["sms", "voice"]


class NotifyResult(BaseModel):
    notification_id: int
    alarm_id: int
    contact_id: int
    channel: str
    to_phone: str
    status: str
    event_id: int


REPEAT_GUARD = timedelta(seconds=60)


async def _asked_just_now(
    session: AsyncSession, *, alarm_id: int, contact_id: int, channel: str, now: datetime
) -> bool:
    query = select(Notification.id).where(
        Notification.alarm_id == alarm_id,
        Notification.contact_id == contact_id,
        Notification.channel == channel,
        Notification.created_at > now - REPEAT_GUARD,
        Notification.status != NotificationStatus.CANCELLED,
    )
    return (await session.execute(query.limit(1))).first() is not None


def _field_error(field: str, message: str) -> HTTPException:
    # The shape FastAPI gives its own validation errors, so a client reads both alike.
    detail: list[dict[str, Any]] = [{"loc": ["body", field], "msg": message, "type": "value_error"}]
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=detail)


@router.post("/api/alarms/{alarm_id}/notify", status_code=status.HTTP_201_CREATED)
async def notify_contact(
    alarm_id: DbId,
    body: NotifyRequest,
    user: AlarmHandler,
    session: SessionDep,
    clock: ClockDep,
) -> NotifyResult:
    """Queue an alert SMS or call to one of the resident's contacts, and record who asked for it."""
    now = clock.now()
    async with session.begin():
        alarm = await visible_alarm(session, user, alarm_id)
        contact = await session.get(Contact, body.contact_id)
        if contact is None or alarm.resident_id is None or contact.resident_id != alarm.resident_id:
            raise _field_error("contact_id", f"contact {body.contact_id} is not a contact of this alarm's resident")
        if await _asked_just_now(session, alarm_id=alarm_id, contact_id=contact.id, channel=body.channel, now=now):
            # A double click, or two operators at once: the relative is told once.
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                detail=f"a {body.channel} to contact {contact.id} for alarm {alarm_id} was queued in the last "
                f"{REPEAT_GUARD.seconds} s",
            )
        template, text = await alert_text(session, alarm_id=alarm_id, channel=body.channel, contact_id=contact.id)
        notification_id = await repository.add(
            session,
            alarm_id=alarm_id,
            contact_id=contact.id,
            channel=body.channel,
            to_phone=contact.phone,
            template=template,
            body=text,
            next_attempt_at=None,
            created_at=now,
            updated_at=now,
        )
        try:
            # Recorded as an escalation by a person: the alarm's audit trail shows who was told,
            # how and on whose word, and it counts as the operator's progress on the alarm.
            moved = await apply_move(
                session,
                at=now,
                alarm_id=alarm_id,
                move=Move.ESCALATE,
                actor=Actor.staff(user.id),
                detail={
                    "by_hand": True,
                    "channel": body.channel,
                    "targets": ["contacts"],
                    "contact_id": contact.id,
                    "notification_ids": [notification_id],
                },
            )
        except MoveRefused as refused:
            # Leaving the block by an exception rolls the notification back with it.
            code = status.HTTP_404_NOT_FOUND if refused.reason == Refusal.NOT_FOUND else status.HTTP_409_CONFLICT
            raise HTTPException(code, detail=str(refused)) from None
    return NotifyResult(
        notification_id=notification_id,
        alarm_id=alarm_id,
        contact_id=contact.id,
        channel=body.channel,
        to_phone=contact.phone,
        status="pending",
        event_id=moved.event_id,
    )
