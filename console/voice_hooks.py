"""Twilio's webhooks for the calls operators place from an alarm: the TwiML of each leg and every
leg's status callback (alarm_center/voice/calls.py does the rest).

Signed like every Twilio webhook (console/twilio_webhooks.py `verify_signed`): unsigned or forged is 403
and counted, and nothing is read or written.
"""

from typing import Literal
from xml.sax.saxutils import escape

from fastapi import APIRouter, Request, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms.model import Alarm
from alarm_center.notify.metrics import WEBHOOKS
from alarm_center.voice.model import LIVE_STATUSES, CallTarget, VoiceCall
from alarm_center.voice.views import call_view
from console.api.voice_calls import call_desk
from console.bounds import DbId
from console.context import ConsoleContext
from console.twilio_webhooks import say, twiml, verify_signed
from registry.model import Resident

router = APIRouter(prefix="/twilio/voice/calls", tags=["twilio webhooks"], include_in_schema=False)

# Who the operator is being connected to, said before the conference: "Łączę z: opaska B-17".
TARGET_WORDS = {
    CallTarget.BAND: "opaską",
    CallTarget.RESIDENT: "podopiecznym",
    CallTarget.CONTACT: "osobą bliską",
    CallTarget.RESPONDER: "dyżurnym",
}


def conference(room: str) -> str:
    # No beep and no hold music: the operator hears the far end the moment it picks up; nobody's
    # leaving ends the conference for the others (a three-way call goes on when the operator drops out).
    return (
        '<Dial><Conference beep="false" waitUrl="" startConferenceOnEnter="true" endConferenceOnExit="false">'
        f"{escape(room)}</Conference></Dial>"
    )


async def _call(context: ConsoleContext, call_id: int) -> VoiceCall | None:
    async with context.session_factory() as session:
        return await session.get(VoiceCall, call_id)


@router.post("/{call_id}/operator")
async def operator_leg(call_id: DbId, request: Request) -> Response:
    """The operator picked up: whom they are being connected to, then the alarm's conference."""
    verified = await verify_signed(request, "voice_operator")
    async with verified.context.session_factory() as session:
        row = await session.get(VoiceCall, call_id)
        view = await call_view(session, row) if row is not None else None
        resident = await _resident_name(session, row.alarm_id) if row is not None else None
    if row is None or view is None or row.status not in LIVE_STATUSES:
        WEBHOOKS.labels("voice_operator", "unknown").inc()
        return twiml(say("Połączenie zostało zakończone.", "pl"), "<Hangup/>")
    WEBHOOKS.labels("voice_operator", "ok").inc()
    kind = TARGET_WORDS.get(CallTarget(row.target), "rozmówcą")
    # The band's serial means nothing said aloud: whose band it is does.
    name = resident if row.target == CallTarget.BAND else view.target_name
    words = f"Alarm {row.alarm_id}. Łączę z {kind}" + (f": {name}." if name else ".")
    return twiml(say(words, "pl"), conference(row.room))


async def _resident_name(session: AsyncSession, alarm_id: int) -> str | None:
    found = (
        await session.execute(
            select(Resident.first_name, Resident.last_name)
            .join(Alarm, Alarm.resident_id == Resident.id)
            .where(Alarm.id == alarm_id)
        )
    ).one_or_none()
    return f"{found[0]} {found[1]}" if found is not None else None


@router.post("/{call_id}/far")
async def far_leg(call_id: DbId, request: Request) -> Response:
    """The far end picked up: into the alarm's conference, where the operator waits."""
    verified = await verify_signed(request, "voice_far")
    row = await _call(verified.context, call_id)
    if row is None or row.status not in LIVE_STATUSES:
        WEBHOOKS.labels("voice_far", "unknown").inc()
        return twiml("<Hangup/>")
    WEBHOOKS.labels("voice_far", "ok").inc()
    return twiml(conference(row.room))


@router.post("/{call_id}/status")
async def leg_status(call_id: DbId, request: Request, leg: Literal["operator", "far"]) -> Response:
    """A leg's progress (initiated, ringing, in-progress, completed, busy, no-answer, failed, canceled)."""
    verified = await verify_signed(request, "voice_status")
    known = await call_desk(request, verified.hooks.clock).on_status(call_id, leg, verified.params)
    WEBHOOKS.labels("voice_status", "ok" if known else "unknown").inc()
    return twiml()
