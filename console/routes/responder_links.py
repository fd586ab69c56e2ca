"""An operator sends the responder's link (alarm_center.alarms.responder_visit) to whoever goes: a
relative or neighbour on the resident's contact list, by SMS through the outbox."""

from typing import Annotated

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from alarm_center.alarms.lifecycle import Actor, Move, MoveRefused, apply_move
from alarm_center.alarms.model import OPEN_STATUSES
from alarm_center.notify.queue import queue_reply
from alarm_center.notify.templates import alarm_code
from console.api.alarms import ERRORS, refused
from console.api.scope import visible_alarm
from console.auth.current import AlarmHandler
from console.bounds import DbId
from console.deps import ClockDep, SessionDep, StatusLinksDep
from registry.model import Contact, Resident

router = APIRouter(tags=["alarms"])


class ResponderLinkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact_id: Annotated[DbId, Field(description="one of the alarm's resident's contacts")]


class ResponderLinkSent(BaseModel):
    notification_id: int
    event_id: int


@router.post("/api/alarms/{alarm_id}/responder-link", status_code=status.HTTP_201_CREATED, responses=ERRORS)
async def send_responder_link(
    alarm_id: DbId,
    body: ResponderLinkRequest,
    user: AlarmHandler,
    session: SessionDep,
    clock: ClockDep,
    links: StatusLinksDep,
) -> ResponderLinkSent:
    """Text a contact the link with the address, the way in, the key-safe code and the buttons
    "Jadę" / "Jestem na miejscu" / "Sytuacja opanowana" (409 on a closed or test alarm, or when
    links are not configured: [notify] status_link_secret and [twilio] public_url)."""
    async with session.begin():
        alarm = await visible_alarm(session, user, alarm_id)
        if alarm.is_test or alarm.status not in OPEN_STATUSES:
            raise HTTPException(status.HTTP_409_CONFLICT, detail=f"alarm {alarm_id} is closed or a test: no link")
        found = await session.execute(
            select(Contact, Resident.first_name)
            .join(Resident, Resident.id == Contact.resident_id)
            .where(Contact.id == body.contact_id, Contact.resident_id == alarm.resident_id)
        )
        row = found.first()
        if row is None:
            detail = [
                {"loc": ["body", "contact_id"], "msg": "not a contact of this alarm's resident", "type": "value_error"}
            ]
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=detail)
        contact, first_name = row
        if links is None:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                detail="responder links are off: set [notify] status_link_secret and [twilio] public_url",
            )
        now = clock.now()
        notification_id = await queue_reply(
            session,
            to_phone=contact.phone,
            template="responder_link",
            language=contact.language,
            at=now,
            alarm_id=alarm_id,
            contact_id=contact.id,
            code=alarm_code(alarm_id),
            first_name=first_name,
            link=links.responder_url(alarm_id=alarm_id, contact_id=contact.id, raised_at=alarm.raised_at),
        )
        assert notification_id is not None  # not `once`: always queued
        try:
            moved = await apply_move(
                session,
                at=now,
                alarm_id=alarm_id,
                move=Move.NOTE,
                actor=Actor.staff(user.id),
                note=f"Link dla jadącego wysłany do: {contact.name}",
                detail={"action": "responder_link", "contact_id": contact.id, "notification_id": notification_id},
            )
        except MoveRefused as exc:
            raise await refused(session, exc) from None
    return ResponderLinkSent(notification_id=notification_id, event_id=moved.event_id)
