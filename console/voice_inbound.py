"""Calls to the centre's number, from Twilio's side and the operator's.

Twilio: the number's "A call comes in" webhook (/twilio/voice/incoming) queues the caller on the
alarm (TwiML <Enqueue>), with what they hear while waiting (/wait) and what happens when they
leave the queue (/left: hung up, or bridged and done); the answering operator's leg fetches
/take (<Dial><Queue>) and reports its progress to the calls' status hook
(/twilio/voice/calls/{call_id}/status?leg=operator, console/voice_hooks.py). Every request is signature-checked by
console/twilio_webhooks.py's `verify_signed` (403 and counted when wrong or missing).

The operator: POST /api/alarms/{alarm_id}/calls/{call_id}/answer ("Odbierz" on the alarm page)
rings the operator's own phone, which takes the caller out of the queue when picked up.

No `from __future__ import annotations`: FastAPI must resolve the Annotated dependencies.
"""

import logging
from xml.sax.saxutils import escape, quoteattr

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.responses import JSONResponse
from sqlalchemy import select

from alarm_center.alarms.intake import IntakeRace
from alarm_center.notify.metrics import WEBHOOKS
from alarm_center.voice import inbound
from alarm_center.voice.calls import OPERATOR_PHONE_MISSING
from alarm_center.voice.model import VoiceCall
from alarm_center.voice.recording import recording_allowed
from alarm_center.voice.telephone import TelephoneUnavailable
from alarm_center.voice.views import CallView, call_view
from console.api.scope import visible_alarm
from console.auth.current import AlarmHandler
from console.bounds import DbId
from console.deps import ClockDep, SessionDep, context_of
from console.twilio_webhooks import say, twiml, verify_signed
from registry.model import StaffUser

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=True)

# Said again each time Twilio plays the wait TwiML (it loops it while the caller waits).
STILL_WAITING = "Proszę czekać, operator zaraz się zgłosi."
WAIT_PAUSE_S = 15
CALLER_GONE = "Dzwoniący już się rozłączył. Oddzwoń z konsoli."
CONNECTING = "Łączę z dzwoniącym."
QUEUE_TROUBLE = "Przepraszamy, nie udało się połączyć z operatorem. Operator oddzwoni."


# ---- Twilio ----------------------------------------------------------------------------------------


@router.post("/twilio/voice/incoming", include_in_schema=False)
async def incoming(request: Request) -> Response:
    """A call to the centre's number: the caller hears who answered and waits in the alarm's queue."""
    verified = await verify_signed(request, "voice_incoming")
    params = verified.params
    context = verified.context
    at = verified.hooks.clock.now()
    for attempt in range(3):
        try:
            async with context.session_factory() as session, session.begin():
                queued = await inbound.receive_call(
                    session,
                    call_sid=params.get("CallSid", ""),
                    from_number=params.get("From", ""),
                    at=at,
                    voice=context.voice,
                )
            break
        except IntakeRace:
            if attempt == 2:
                raise
    WEBHOOKS.labels("voice_incoming", "ok").inc()
    if not queued.replay:
        log.info(
            "incoming call %d from %s: alarm %d (%s)",
            queued.call_id,
            inbound.masked(inbound.normalise(params.get("From", ""))),
            queued.alarm_id,
            "raised" if queued.raised else "joined",
        )
    base = f"{verified.hooks.public_url}/twilio/voice/incoming/{queued.call_id}"
    enqueue = (
        f'<Enqueue action={quoteattr(base + "/left")} method="POST" '
        f'waitUrl={quoteattr(base + "/wait")} waitUrlMethod="POST">{escape(queued.room)}</Enqueue>'
    )
    return twiml(say(inbound.WAIT_MESSAGE, "pl"), enqueue)


@router.post("/twilio/voice/incoming/{call_id}/wait", include_in_schema=False)
async def wait(call_id: DbId, request: Request) -> Response:
    """What the caller hears while waiting (Twilio plays it again and again until dequeued)."""
    await verify_signed(request, "voice_wait")
    WEBHOOKS.labels("voice_wait", "ok").inc()
    return twiml(f'<Pause length="{WAIT_PAUSE_S}"/>', say(STILL_WAITING, "pl"))


@router.post("/twilio/voice/incoming/{call_id}/left", include_in_schema=False)
async def left(call_id: DbId, request: Request) -> Response:
    """The Enqueue action: the caller left the queue (QueueResult: hangup, bridged, error...)."""
    verified = await verify_signed(request, "voice_left")
    result = verified.params.get("QueueResult", "")
    async with verified.context.session_factory() as session, session.begin():
        outcome = await inbound.caller_left(
            session,
            call_id=call_id,
            queue_result=result,
            queue_time=verified.params.get("QueueTime"),
            at=verified.hooks.clock.now(),
        )
    WEBHOOKS.labels("voice_left", "ok" if outcome.changed else "unknown").inc()
    if outcome.hang_up_sid is not None:
        # The caller hung up while the operator's phone rang: stop it ringing for nobody.
        try:
            await verified.context.telephone.hang_up(outcome.hang_up_sid)
        except TelephoneUnavailable as exc:
            log.warning("could not stop the operator's leg of call %d: %s", call_id, exc)
    if result in ("hangup", "bridged", "bridging-in-process"):
        return twiml("<Hangup/>")
    return twiml(say(QUEUE_TROUBLE, "pl"), "<Hangup/>")


@router.post("/twilio/voice/incoming/{call_id}/take", include_in_schema=False)
async def take(call_id: DbId, request: Request) -> Response:
    """The answering operator picked up: take the caller out of the alarm's queue."""
    verified = await verify_signed(request, "voice_take")
    context = verified.context
    async with context.session_factory() as session:
        room = await inbound.room_to_take(session, call_id=call_id)
        call = await session.get(VoiceCall, call_id) if room is not None else None
        record = call is not None and await recording_allowed(session, alarm_id=call.alarm_id, voice=context.voice)
    if room is None:
        WEBHOOKS.labels("voice_take", "unknown").inc()
        return twiml(say(CALLER_GONE, "pl"), "<Hangup/>")
    WEBHOOKS.labels("voice_take", "ok").inc()
    # Recorded only where the municipality records calls and the resident consented (RODO).
    hooks = context.twilio_hooks
    recorded = (
        f' record="record-from-answer" recordingStatusCallback='
        f"{quoteattr(f'{hooks.public_url}/twilio/voice/calls/{call_id}/recording')}"
        if record and hooks is not None
        else ""
    )
    return twiml(say(CONNECTING, "pl"), f"<Dial{recorded}><Queue>{escape(room)}</Queue></Dial>")


# ---- the operator ----------------------------------------------------------------------------------


def _field_error(field: str, message: str) -> HTTPException:
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        detail=[{"loc": ["body", field], "msg": message, "type": "value_error"}],
    )


@router.post(
    "/api/alarms/{alarm_id}/calls/{call_id}/answer",
    tags=["voice"],
    response_model=CallView,
    responses={
        404: {"description": "no such incoming call on this alarm"},
        409: {"description": "someone else answers it, or the caller is gone"},
        422: {"description": "the operator has no phone on their account"},
        503: {"description": "the telephone refused: {detail, number} to dial by hand"},
    },
)
async def answer(
    alarm_id: DbId, call_id: DbId, request: Request, user: AlarmHandler, session: SessionDep, clock: ClockDep
) -> CallView | JSONResponse:
    """The "Odbierz" button: ring the operator's own phone; picked up, it takes the waiting caller.
    The operator takes the alarm too if nobody has it. The call as the alarm page shows it (status
    "answering"); 503 {detail, number}: the telephone refused, dial the caller's number by hand."""
    context = context_of(request)
    async with session.begin():
        await visible_alarm(session, user, alarm_id)
        phone = (await session.execute(select(StaffUser.phone).where(StaffUser.id == user.id))).scalar_one_or_none()
        if not phone or not phone.strip():
            raise _field_error("operator_phone", OPERATOR_PHONE_MISSING)
        try:
            answering = await inbound.start_answering(
                session, clock, alarm_id=alarm_id, call_id=call_id, staff_id=user.id, operator_address=phone.strip()
            )
        except inbound.AnswerRefused as refused:
            code = status.HTTP_409_CONFLICT if refused.conflict else status.HTTP_404_NOT_FOUND
            raise HTTPException(code, detail=str(refused)) from None
    # Rung after the commit: the row says "answering" before Twilio can ask for the take TwiML.
    hooks = context.twilio_hooks
    public = hooks.public_url if hooks is not None else ""
    base = f"{public}/twilio/voice/incoming/{call_id}"
    try:
        sid = await context.telephone.call(
            to=answering.operator_address,
            twiml_url=f"{base}/take",
            # The operator leg's progress: the calls' own status hook (console/voice_hooks.py).
            status_url=f"{public}/twilio/voice/calls/{call_id}/status?leg=operator",
            timeout_s=context.voice.operator_ring_s,
        )
    except TelephoneUnavailable as exc:
        async with session.begin():
            await inbound.answer_failed(session, call_id=call_id, staff_id=user.id, error=str(exc), at=clock.now())
        # The caller's number, so the operator can call back by hand at once.
        return JSONResponse(
            {"detail": f"{exc} — numer dzwoniącego: {answering.number}", "number": answering.number},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    async with session.begin():
        row = await inbound.answer_placed(session, call_id=call_id, operator_call_sid=sid, at=clock.now())
        return await call_view(session, row)
