"""Call recordings in the console: Twilio's recording callback, and a supervisor's playback.

The callback (POST /twilio/voice/calls/{call_id}/recording) is signature-checked like every Twilio
webhook (403 and counted when unsigned or forged); a finished recording goes on its call, once.
Playback (GET /api/alarms/{alarm_id}/calls/{call_id}/recording) is for supervisors and
administrators only: the audio is fetched from the provider, never stored or cached here
(Cache-Control: no-store), and every playback is an alarm event naming who listened.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException, Request, Response, status
from sqlalchemy import select

from alarm_center.notify.metrics import WEBHOOKS
from alarm_center.voice import recording
from alarm_center.voice.events import add_call_event
from alarm_center.voice.model import VoiceCall
from alarm_center.voice.telephone import TelephoneUnavailable
from console.api.scope import visible_alarm
from console.auth.current import Supervisor
from console.bounds import DbId
from console.deps import ClockDep, SessionDep, context_of
from console.twilio_webhooks import twiml, verify_signed

log = logging.getLogger(__name__)
router = APIRouter()

HOOK = "voice_recording"


def _duration(raw: str) -> int | None:
    try:
        return max(int(raw), 0)
    except ValueError:
        return None


@router.post("/twilio/voice/calls/{call_id}/recording", include_in_schema=False)
async def recording_callback(call_id: DbId, request: Request) -> Response:
    """Twilio's RecordingStatusCallback (RecordingSid, RecordingStatus, RecordingDuration, CallSid):
    a finished recording is stored on its call with a "recording" event; a replay changes nothing."""
    verified = await verify_signed(request, HOOK)
    params = verified.params
    report = recording.RecordingReport(
        call_sid=params.get("CallSid", ""),
        recording_sid=params.get("RecordingSid", ""),
        status=params.get("RecordingStatus", ""),
        duration_s=_duration(params.get("RecordingDuration", "")),
    )
    context = verified.context
    async with context.session_factory() as session, session.begin():
        result = await recording.record_callback(
            session, call_id=call_id, report=report, voice=context.voice, at=verified.hooks.clock.now()
        )
    WEBHOOKS.labels(HOOK, "unknown" if result.outcome == recording.CallbackOutcome.UNKNOWN else "ok").inc()
    if result.outcome == recording.CallbackOutcome.UNKNOWN:
        log.info("recording callback for call %d: no such call leg", call_id)
    await recording.settle_callback(context.session_factory, context.telephone, verified.hooks.clock, result)
    return twiml()


def _audio_type(audio: bytes) -> str:
    # Twilio serves a recording as WAV (what the adapter asks for) or MP3.
    if audio[:4] == b"RIFF":
        return "audio/wav"
    if audio[:3] == b"ID3" or audio[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "audio/mpeg"
    return "application/octet-stream"


@router.get(
    "/api/alarms/{alarm_id}/calls/{call_id}/recording",
    tags=["alarms"],
    responses={
        200: {"content": {"audio/wav": {}, "audio/mpeg": {}}, "description": "the call's recording"},
        404: {"description": "no such call on the alarm, or the call was not recorded"},
        410: {"description": "the recording was deleted (retention or erasure)"},
        503: {"description": "the telephone provider cannot be reached now"},
    },
)
async def play_recording(
    alarm_id: DbId, call_id: DbId, request: Request, user: Supervisor, session: SessionDep, clock: ClockDep
) -> Response:
    """The call's recording (supervisors and administrators), fetched from the provider for this
    playback only; the playback is recorded on the alarm's timeline."""
    # The read ends before the provider's round trip: no transaction is held open across it.
    async with session.begin():
        await visible_alarm(session, user, alarm_id)
        call = (
            await session.execute(select(VoiceCall).where(VoiceCall.id == call_id, VoiceCall.alarm_id == alarm_id))
        ).scalar_one_or_none()
    if call is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"alarm {alarm_id} nie ma rozmowy o id {call_id}")
    if call.recording_sid is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "ta rozmowa nie była nagrywana")
    if call.recording_deleted_at is not None:
        raise HTTPException(
            status.HTTP_410_GONE,
            f"nagranie usunięte {call.recording_deleted_at:%Y-%m-%d} (okres przechowywania albo RODO)",
        )
    try:
        audio = await context_of(request).telephone.recording_audio(call.recording_sid)
    except TelephoneUnavailable as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
    async with session.begin():
        await add_call_event(session, call, "recording_played", at=clock.now(), staff_id=user.id)
    return Response(
        audio,
        media_type=_audio_type(audio),
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": f'inline; filename="rozmowa-{call.id}.wav"',
            "X-Content-Type-Options": "nosniff",
        },
    )
