"""An operator texts or calls one of the resident's relatives by hand, from the alarm: the route.
What it does is alarm_center/notify/by_hand.py's; here the request is checked and its refusals
become HTTP answers.

No `from __future__ import annotations`: FastAPI must resolve the Annotated dependencies.
"""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from alarm_center.alarms.lifecycle import MoveRefused, Refusal
from alarm_center.notify.by_hand import AskedJustNow, NotAContact, notify_by_hand
from console.api.scope import visible_alarm
from console.auth.current import AlarmHandler
from console.bounds import DbId
from console.deps import ClockDep, SessionDep, StatusLinksDep, get_clock

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
    links: StatusLinksDep,
) -> NotifyResult:
    """Queue an alert SMS or call to one of the resident's contacts, and record who asked for it."""
    async with session.begin():
        alarm = await visible_alarm(session, user, alarm_id)
        if alarm.is_test:
            # A technician's installation test: nobody's relative is to be alarmed by it.
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                detail=f"alarm {alarm_id} is an installation test: relatives are not notified about tests",
            )
        try:
            queued = await notify_by_hand(
                session,
                alarm=alarm,
                contact_id=body.contact_id,
                channel=body.channel,
                staff_id=user.id,
                links=links,
                at=clock.now(),
            )
        except NotAContact as refused:
            raise _field_error("contact_id", str(refused)) from None
        except AskedJustNow as refused:
            raise HTTPException(status.HTTP_409_CONFLICT, detail=str(refused)) from None
        except MoveRefused as refused:
            # Leaving the block by an exception rolls the notification back with it.
            code = status.HTTP_404_NOT_FOUND if refused.reason == Refusal.NOT_FOUND else status.HTTP_409_CONFLICT
            raise HTTPException(code, detail=str(refused)) from None
    return NotifyResult(
        notification_id=queued.notification_id,
        alarm_id=alarm_id,
        contact_id=body.contact_id,
        channel=body.channel,
        to_phone=queued.to_phone,
        status="pending",
        event_id=queued.event_id,
    )
