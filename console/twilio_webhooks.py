"""Twilio's webhooks: status callbacks, a relative's SMS, and the voice call's prompt and key press.

Every request must carry a valid `X-Twilio-Signature`, checked with Twilio's RequestValidator over
the *configured* public URL (what we gave Twilio), since behind a proxy the URL a request arrives on
is not the one Twilio signed. Unsigned or forged: 403, and nothing is read or written. A number
out of range in the URL (console/bounds.py) is refused before that, 422: malformed, whoever sent it.
"""

import logging
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape, quoteattr

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from sqlalchemy import select
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]  # no py.typed

from alarm_center.alarms.model import OPEN_STATUSES, Alarm
from alarm_center.notify import service
from alarm_center.notify.metrics import WEBHOOKS
from alarm_center.notify.model import Channel, Notification
from alarm_center.notify.notifier import mask_phone
from alarm_center.notify.templates import SAY_LANGUAGE, contact_language, render
from console.bounds import DbId
from console.context import ConsoleContext, TwilioHooks

log = logging.getLogger(__name__)
router = APIRouter(prefix="/twilio", tags=["twilio webhooks"], include_in_schema=False)

# The prompt is said again this many times when no key (or a wrong one) is pressed, then goodbye.
VOICE_REPEATS = 2
GATHER_TIMEOUT_S = 8
# Twilio's form posts are small; anything bigger is not Twilio.
MAX_BODY = 64 * 1024


@dataclass(frozen=True)
class Verified:
    hooks: TwilioHooks
    context: ConsoleContext
    params: dict[str, str]


async def verify_signed(request: Request, hook: str) -> Verified:
    context: ConsoleContext = request.app.state.context
    hooks = context.twilio_hooks
    if hooks is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Not Found")
    raw = await request.body()
    if len(raw) > MAX_BODY:
        WEBHOOKS.labels(hook, "forbidden").inc()
        raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "too large")
    params = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    url = hooks.public_url + request.url.path + (f"?{request.url.query}" if request.url.query else "")
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature or not RequestValidator(hooks.auth_token).validate(url, params, signature):
        WEBHOOKS.labels(hook, "forbidden").inc()
        raise HTTPException(status.HTTP_403_FORBIDDEN, "invalid or missing X-Twilio-Signature")
    return Verified(hooks, context, params)


def twiml(*verbs: str) -> Response:
    return Response(
        '<?xml version="1.0" encoding="UTF-8"?><Response>' + "".join(verbs) + "</Response>", 200, None, "text/xml"
    )


def say(text: str, language: str) -> str:
    return f"<Say language={quoteattr(SAY_LANGUAGE.get(language, 'pl-PL'))}>{escape(text)}</Say>"


@router.post("/status/{notification_id}")
async def status_callback(notification_id: DbId, request: Request) -> Response:
    """A message's or call's progress: the notification row moves forward (never back)."""
    verified = await verify_signed(request, "status")
    params = verified.params
    sid = params.get("MessageSid") or params.get("CallSid") or ""
    provider_status = params.get("MessageStatus") or params.get("CallStatus") or ""
    async with verified.context.session_factory() as session, session.begin():
        row = await service.apply_provider_status(
            session,
            notification_id=notification_id,
            provider_id=sid,
            provider_status=provider_status,
            error_code=params.get("ErrorCode"),
            at=verified.hooks.clock.now(),
        )
    WEBHOOKS.labels("status", "ok" if row is not None else "unknown").inc()
    return twiml()


@router.post("/sms")
async def inbound_sms(request: Request) -> Response:
    """A relative's SMS: TAK/OK/1 going, NIE/2 cannot (with the alarm code), STOP/START; else help, once.
    Our answers go out through the outbox, not in this response."""
    verified = await verify_signed(request, "sms")
    from_phone = verified.params.get("From", "")
    body = verified.params.get("Body", "")
    if not from_phone:
        WEBHOOKS.labels("sms", "unknown").inc()
        return twiml()
    async with verified.context.session_factory() as session, session.begin():
        result = await service.handle_inbound_sms(
            session,
            from_phone=from_phone,
            body=body,
            at=verified.hooks.clock.now(),
            message_sid=verified.params.get("MessageSid", ""),
            links=verified.context.status_links,
        )
    WEBHOOKS.labels("sms", "ok").inc()
    log.info("SMS from %s: %s (alarm %s)", mask_phone(from_phone), result.outcome, result.alarm_id)
    return twiml()


@router.post("/voice/{notification_id}")
async def voice(
    notification_id: DbId,
    request: Request,
    # Our own redirect counts it up to VOICE_REPEATS: anything else is not from a call of ours.
    repeat: Annotated[int, Query(ge=0, le=VOICE_REPEATS)] = 0,
) -> Response:
    """Twilio asks what to say on our call: the alert, then one key (1 going, 2 cannot)."""
    verified = await verify_signed(request, "voice")
    async with verified.context.session_factory() as session:
        row = await session.get(Notification, notification_id)
        language = await contact_language(session, row.contact_id if row is not None else None)
    if row is None or row.channel != Channel.VOICE:
        WEBHOOKS.labels("voice", "unknown").inc()
        return twiml("<Hangup/>")
    WEBHOOKS.labels("voice", "ok").inc()
    if await _alarm_closed(verified.context, row.alarm_id):
        # Picked up after the alarm was closed: say so, rather than send someone out for nothing.
        return twiml(say(render("voice_closed", language), language), "<Hangup/>")
    return _prompt(verified.hooks, row, language, repeat)


async def _alarm_closed(context: ConsoleContext, alarm_id: int | None) -> bool:
    if alarm_id is None:
        return False
    async with context.session_factory() as session:
        status = (await session.execute(select(Alarm.status).where(Alarm.id == alarm_id))).scalar_one_or_none()
    return status is not None and status not in OPEN_STATUSES


def _prompt(hooks: TwilioHooks, row: Notification, language: str, repeat: int) -> Response:
    base = f"{hooks.public_url}/twilio/voice/{row.id}"
    gather = (
        f'<Gather numDigits="1" method="POST" timeout="{GATHER_TIMEOUT_S}" action={quoteattr(base + "/gather")}>'
        # The whole message each time: a relative who picked up late, or pressed a wrong key, hears it all.
        + say(row.body, language)
        + say(render("voice_keys", language), language)
        + "</Gather>"
    )
    # No key within the timeout: Twilio goes on to the next verb, so ask again, a bounded number of times.
    after = (
        f'<Redirect method="POST">{escape(f"{base}?repeat={repeat + 1}")}</Redirect>'
        if repeat < VOICE_REPEATS
        else "<Hangup/>"
    )
    return twiml(gather, after)


@router.post("/voice/{notification_id}/gather")
async def gather(notification_id: DbId, request: Request) -> Response:
    """The key pressed: 1 or 2 is recorded on the alarm as the relative's answer; anything else repeats."""
    verified = await verify_signed(request, "gather")
    digits = verified.params.get("Digits", "")
    async with verified.context.session_factory() as session, session.begin():
        answer, row = await service.gather_response(
            session,
            notification_id=notification_id,
            call_sid=verified.params.get("CallSid", ""),
            digits=digits,
            at=verified.hooks.clock.now(),
        )
        language = await contact_language(session, row.contact_id if row is not None else None)
    if row is None:
        WEBHOOKS.labels("gather", "unknown").inc()
        return twiml("<Hangup/>")
    WEBHOOKS.labels("gather", "ok").inc()
    if answer is None:
        return _prompt(verified.hooks, row, language, repeat=1)
    return twiml(say(render("voice_answer", language, answer=answer.value), language), "<Hangup/>")
