"""What the outbox and Twilio's webhooks do to notifications and alarms: statuses, a relative's SMS
and key presses. What they queue in answer is written by queue.py. No commits here: the caller's
transaction (a sender's pass, a webhook request) owns them."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms import repository as alarms
from alarm_center.alarms.model import OPEN_STATUSES, Alarm
from alarm_center.escalation.responses import on_call_unanswered, on_contact_response
from alarm_center.notify import repository
from alarm_center.notify.metrics import CONTACT_RESPONSES, NOTIFICATIONS
from alarm_center.notify.model import Channel, Notification, NotificationStatus
from alarm_center.notify.notifier import mask_phone
from alarm_center.notify.queue import queue_alert, queue_all_clear, queue_reply
from alarm_center.notify.repository import RESPONSE_EVENT
from alarm_center.notify.status_link import StatusLinks
from alarm_center.notify.templates import alarm_code, language_of, parse_alarm_code
from registry.model import Contact

log = logging.getLogger(__name__)

S = NotificationStatus
# A status never goes back: callbacks arrive out of order, and a late "sent" must not undo "delivered".
RANK = {S.PENDING: 0, S.SENDING: 1, S.SENT: 2, S.DELIVERED: 3, S.FAILED: 3, S.NO_ANSWER: 3, S.CANCELLED: 3}
FINAL = frozenset({S.DELIVERED, S.FAILED, S.NO_ANSWER, S.CANCELLED})

# Twilio's statuses, as ours. Missing ones (queued, accepted, ...) change nothing.
SMS_STATUS = {"sent": S.SENT, "delivered": S.DELIVERED, "undelivered": S.FAILED, "failed": S.FAILED}
CALL_STATUS = {
    "initiated": S.SENT,
    "ringing": S.SENT,
    "in-progress": S.SENT,
    "completed": S.DELIVERED,  # picked up (by a person or a voicemail); the key press says more
    "busy": S.NO_ANSWER,
    "no-answer": S.NO_ANSWER,
    "failed": S.FAILED,
    "canceled": S.FAILED,
}


# Twilio's own statuses, in the order a message or a call goes through them. The row keeps the
# furthest one reached, for the operator: a late "ringing" must not hide "busy". Ends rank highest.
SMS_PROGRESS = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
    "canceled": 4,
    "partially_delivered": 4,
    "read": 5,
}
CALL_PROGRESS = {
    "queued": 0,
    "initiated": 1,
    "ringing": 2,
    "in-progress": 3,
    "completed": 4,
    "busy": 4,
    "no-answer": 4,
    "failed": 4,
    "canceled": 4,
}
PROVIDER_END = 4
# The alarm event for how a message or call ended (the timeline, and the live feed, which reloads the
# alarm page); its detail: notification_id, channel, template, contact_id, provider_status, and
# error_code / to_phone (masked) when there are. provider_status is Twilio's word, or TEST_MODE_NOT_SENT.
DELIVERY_EVENT = "delivery"
TEST_MODE_NOT_SENT = "not_sent_test_mode"


class Answer(StrEnum):
    GOING = "going"
    CANNOT = "cannot"
    STOP = "stop"
    START = "start"


WORDS = {
    **dict.fromkeys(("TAK", "OK", "1", "YES", "JADE", "JADĘ"), Answer.GOING),
    **dict.fromkeys(("NIE", "2", "NO"), Answer.CANNOT),
    **dict.fromkeys(("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"), Answer.STOP),
    **dict.fromkeys(("START", "UNSTOP"), Answer.START),
}


@dataclass(frozen=True)
class Reply:
    answer: Answer | None
    alarm_id: int | None


def parse_reply(body: str) -> Reply:
    """ "TAK 57", "57 tak", "1", "nie, 57" → the answer and the alarm code, each None if absent.

    A word (TAK, NIE, OK…) is the answer whenever there is one, and every number is then a code:
    "2 TAK" about alarm 2 is "going", never "cannot". Only a reply without a word answers with a
    key's digit (1 going, 2 cannot), the first of them; another number is then the code."""
    tokens = [token for token in re.split(r"[\s,.;:!?]+", body.strip().upper()) if token]
    words = [index for index, token in enumerate(tokens) if token in WORDS and not token.isdigit()]
    digits = [index for index, token in enumerate(tokens) if token in WORDS and token.isdigit()]
    answer_at = words[0] if words else digits[0] if digits else -1
    answer = WORDS[tokens[answer_at]] if answer_at >= 0 else None
    alarm_id = next(
        (code for index, token in enumerate(tokens) if index != answer_at and (code := parse_alarm_code(token))),
        None,
    )
    return Reply(answer, alarm_id)


async def apply_provider_status(
    session: AsyncSession,
    *,
    notification_id: int,
    provider_id: str,
    provider_status: str,
    error_code: str | None,
    at: datetime,
) -> Notification | None:
    """A status callback: move the row forward (never back); a failed SMS falls back to a call."""
    row = await session.get(Notification, notification_id, with_for_update=True)
    if row is None:
        return None
    if row.provider_id is not None and provider_id and row.provider_id != provider_id:
        # Signed by Twilio but about another message than the one we recorded: say so, change nothing.
        log.warning("notification %d: status for %s, but it was sent as %s", row.id, provider_id, row.provider_id)
        return row
    table = CALL_STATUS if row.channel == Channel.VOICE else SMS_STATUS
    new = table.get(provider_status)
    if row.provider_id is None and provider_id:
        row.provider_id = provider_id  # the callback outran the sender recording the send
    if _further(row, provider_status):
        row.provider_status, row.provider_status_at = provider_status, at
        if _progress(row.channel, provider_status) >= PROVIDER_END:
            await _delivery_event(session, row, provider_status=provider_status, error_code=error_code, at=at)
    if new is None or RANK[new] <= RANK[S(row.status)] or S(row.status) in FINAL:
        row.updated_at = at
        return row
    row.status = new
    row.deadline = None
    row.updated_at = at
    if new == S.FAILED:
        row.error = f"{provider_status} (Twilio error {error_code})" if error_code else provider_status
    if new in FINAL:
        NOTIFICATIONS.labels(row.channel, new.value).inc()
    if new == S.FAILED:
        await fallback_to_voice(session, row, at=at)
    else:
        await all_clear_if_told_after_close(session, row, at=at)
    if new in (S.NO_ANSWER, S.FAILED):
        await next_contact_if_unanswered(session, row, at=at)
    return row


def _progress(channel: str, provider_status: str) -> int:
    table = CALL_PROGRESS if channel == Channel.VOICE else SMS_PROGRESS
    return table.get(provider_status, -1)


def _further(row: Notification, provider_status: str) -> bool:
    """Is this provider status news: known, and further than the one recorded? (Of two ends, the
    first is kept: both rank the same.)"""
    reached = _progress(row.channel, provider_status)
    recorded = -1 if row.provider_status is None else _progress(row.channel, row.provider_status)
    return reached > recorded


async def _delivery_event(
    session: AsyncSession, row: Notification, *, provider_status: str, error_code: str | None, at: datetime
) -> None:
    """How a message or call about an alarm ended, on the alarm's timeline."""
    if row.alarm_id is None:
        return
    detail: dict[str, Any] = {
        "notification_id": row.id,
        "channel": row.channel,
        "template": row.template,
        "contact_id": row.contact_id,
        "provider_status": provider_status,
    }
    if error_code:
        detail["error_code"] = error_code[:16]
    if row.contact_id is None:
        # Not one of the resident's contacts (the one on duty): as far as an operator needs to tell them apart.
        detail["to_phone"] = mask_phone(row.to_phone)
    await alarms.add_event(
        session, alarm_id=row.alarm_id, at=at, type=DELIVERY_EVENT, actor_type="system", detail=detail
    )


async def record_not_sent_in_test_mode(session: AsyncSession, row: Notification, *, at: datetime) -> None:
    """The offline notifier took the row: nothing left, and the alarm's timeline says so."""
    await _delivery_event(session, row, provider_status=TEST_MODE_NOT_SENT, error_code=None, at=at)


async def next_contact_if_unanswered(session: AsyncSession, row: Notification, *, at: datetime) -> None:
    """An alert call to a contact that nobody answered: the escalation reaches the next one now."""
    if row.channel == Channel.VOICE and row.alarm_id is not None and row.template in repository.ALERT_TEMPLATES:
        await on_call_unanswered(session, alarm_id=row.alarm_id, contact_id=row.contact_id, at=at)


async def all_clear_if_told_after_close(session: AsyncSession, row: Notification, *, at: datetime) -> None:
    """An alert that reached someone after its alarm was closed (it was in flight at the close):
    they get the all-clear too. queue_all_clear sends it once per number, however often this runs."""
    if row.alarm_id is None or row.template not in repository.ALERT_TEMPLATES:
        return
    if not await repository.alarm_is_open(session, row.alarm_id):
        await queue_all_clear(session, alarm_id=row.alarm_id, at=at)


async def fallback_to_voice(session: AsyncSession, row: Notification, *, at: datetime) -> int | None:
    """A call to the same person for an alert SMS that failed, while the alarm is open; its id."""
    if row.channel != Channel.SMS or row.alarm_id is None or row.template.startswith("reply_"):
        return None
    if not await repository.alarm_is_open(session, row.alarm_id):
        return None
    if await repository.exists_since(
        session, to_phone=row.to_phone, templates=("fallback_voice",), since=row.created_at, alarm_id=row.alarm_id
    ):
        return None
    new_id = await queue_alert(
        session,
        alarm_id=row.alarm_id,
        channel=Channel.VOICE.value,
        to_phone=row.to_phone,
        links=None,  # a call carries no link
        at=at,
        contact_id=row.contact_id,
        template="fallback_voice",
    )
    NOTIFICATIONS.labels(Channel.SMS.value, "fallback").inc()
    phone = mask_phone(row.to_phone)
    log.info("notification %d: SMS failed; calling %s instead (notification %d)", row.id, phone, new_id)
    return new_id


async def record_response(
    session: AsyncSession,
    *,
    alarm_id: int,
    contact_id: int | None,
    answer: Answer,
    via: str,
    at: datetime,
    notification_id: int | None = None,
    provider_sid: str = "",
    responder_phone: str = "",
) -> int:
    """A relative's "going" / "cannot" as an audited alarm event, the contact as its actor.

    Written whatever the alarm's state: an answer is never fenced away (a "TAK" after the step moved
    on, or after the alarm was closed, still tells the operator who is on the way)."""
    detail: dict[str, Any] = {"answer": answer.value, "via": via}
    if notification_id is not None:
        detail["notification_id"] = notification_id
    if provider_sid:
        detail["provider_sid"] = provider_sid[:64]
    if responder_phone:
        # Not one of the resident's contacts: say who, as far as an operator needs to tell them apart.
        detail["responder_phone"] = mask_phone(responder_phone)
    event = await alarms.add_event(
        session, alarm_id=alarm_id, at=at, type=RESPONSE_EVENT, actor_type="contact", actor_id=contact_id, detail=detail
    )
    # The escalation reacts in this same transaction: recorded and acted on, or neither.
    await on_contact_response(session, alarm_id=alarm_id, contact_id=contact_id, answer=answer.value, at=at)
    CONTACT_RESPONSES.labels(via, answer.value).inc()
    return event.id


@dataclass(frozen=True)
class InboundResult:
    """What an inbound SMS did, for the log and the tests."""

    outcome: str  # recorded, help, not_a_contact, opted_out, opted_in, ignored
    alarm_id: int | None = None
    event_id: int | None = None


async def _responder_link(
    session: AsyncSession, links: StatusLinks | None, *, alarm_id: int, contact_id: int | None, answer: Answer
) -> str:
    """For someone who answered "going": the link with the address, the way in and the buttons."""
    if links is None or answer != Answer.GOING:
        return ""
    alarm = await session.get(Alarm, alarm_id)
    if alarm is None or alarm.status not in OPEN_STATUSES:
        return ""
    return links.responder_url(alarm_id=alarm_id, contact_id=contact_id, raised_at=alarm.raised_at)


async def handle_inbound_sms(
    session: AsyncSession,
    *,
    from_phone: str,
    body: str,
    at: datetime,
    message_sid: str = "",
    links: StatusLinks | None = None,
) -> InboundResult:
    """A relative's SMS: an answer to an alarm, STOP/START, or something we answer with help (once).

    The same message again (Twilio retrying a webhook, or a replay) changes nothing."""
    if message_sid and not await repository.first_receipt(session, provider_sid=message_sid, at=at):
        return InboundResult("duplicate", None)
    reply = parse_reply(body)
    contacts = await repository.contacts_with_phone(session, from_phone)
    language = language_of(contacts[0].language if contacts else None)
    if reply.answer in (Answer.STOP, Answer.START):
        return await _opt(session, from_phone=from_phone, contacts=contacts, stop=reply.answer == Answer.STOP, at=at)
    alarm_id = reply.alarm_id
    if alarm_id is None and reply.answer is not None:
        notified = await repository.alarms_notified(session, phone=from_phone)
        open_ones = [alarm for alarm, is_open in notified if is_open]
        if len(open_ones) == 1:
            alarm_id = open_ones[0]
        elif not open_ones and notified:
            alarm_id = notified[0][0]  # a late answer to the last alarm still counts
    if reply.answer is None or alarm_id is None:
        await queue_reply(session, to_phone=from_phone, template="reply_help", language=language, at=at, once=True)
        return InboundResult("help", alarm_id)
    contact = await repository.contact_of_alarm(session, alarm_id=alarm_id, phone=from_phone)
    if contact is None and await repository.alerted(session, alarm_id=alarm_id, phone=from_phone):
        # A responder or the one on duty, alerted about this alarm by SMS: their answer counts too.
        event_id = await record_response(
            session,
            alarm_id=alarm_id,
            contact_id=None,
            answer=reply.answer,
            via="sms",
            at=at,
            provider_sid=message_sid,
            responder_phone=from_phone,
        )
        await queue_reply(
            session,
            to_phone=from_phone,
            template="reply_thanks",
            language=None,
            at=at,
            alarm_id=alarm_id,
            answer=reply.answer.value,
            code=alarm_code(alarm_id),
            link=await _responder_link(session, links, alarm_id=alarm_id, contact_id=None, answer=reply.answer),
        )
        return InboundResult("recorded", alarm_id, event_id)
    if contact is None:
        log.warning("SMS answer from %s for alarm %d: not a contact of it; ignored", mask_phone(from_phone), alarm_id)
        await queue_reply(
            session, to_phone=from_phone, template="reply_unknown_number", language=language, at=at, once=True
        )
        return InboundResult("not_a_contact", alarm_id)
    event_id = await record_response(
        session,
        alarm_id=alarm_id,
        contact_id=contact.id,
        answer=reply.answer,
        via="sms",
        at=at,
        provider_sid=message_sid,
    )
    await queue_reply(
        session,
        to_phone=from_phone,
        template="reply_thanks",
        language=contact.language,
        at=at,
        alarm_id=alarm_id,
        contact_id=contact.id,
        answer=reply.answer.value,
        code=alarm_code(alarm_id),
        link=await _responder_link(session, links, alarm_id=alarm_id, contact_id=contact.id, answer=reply.answer),
    )
    return InboundResult("recorded", alarm_id, event_id)


async def _opt(
    session: AsyncSession, *, from_phone: str, contacts: Sequence[Contact], stop: bool, at: datetime
) -> InboundResult:
    """STOP/START, kept per number (the outbox reads it), and shown on the contact's latest alarm."""
    if stop:
        await repository.opt_out(session, phone=from_phone, at=at)
    else:
        await repository.opt_in(session, phone=from_phone)
    recorded: int | None = None
    for contact in contacts:
        alarm_id = await repository.latest_alarm_of_contact(session, contact.id)
        if alarm_id is None:
            continue
        await alarms.add_event(
            session,
            alarm_id=alarm_id,
            at=at,
            type=repository.OPT_OUT if stop else repository.OPT_IN,
            actor_type="contact",
            actor_id=contact.id,
            detail={"via": "sms"},
        )
        recorded = alarm_id
    language = language_of(contacts[0].language if contacts else None)
    await queue_reply(
        session, to_phone=from_phone, template="reply_stopped" if stop else "reply_started", language=language, at=at
    )
    return InboundResult("opted_out" if stop else "opted_in", recorded)


async def gather_response(
    session: AsyncSession, *, notification_id: int, call_sid: str, digits: str, at: datetime
) -> tuple[Answer | None, Notification | None]:
    """A key pressed on our call: 1 going, 2 cannot (recorded), anything else None (ask again)."""
    row = await session.get(Notification, notification_id)
    if row is None:
        return None, None
    answer = {"1": Answer.GOING, "2": Answer.CANNOT}.get(digits.strip()[:1])
    if answer is None or row.alarm_id is None:
        return answer, row
    if row.provider_id is not None and call_sid and row.provider_id != call_sid:
        log.warning("notification %d: keys from %s, sent as %s; recorded", row.id, call_sid, row.provider_id)
    # One answer per call: the same gather again (Twilio retrying it, or a replay) is not a second one.
    if call_sid and not await repository.first_receipt(session, provider_sid=call_sid, at=at):
        return answer, row
    await record_response(
        session,
        alarm_id=row.alarm_id,
        contact_id=row.contact_id,
        answer=answer,
        via="voice",
        at=at,
        notification_id=row.id,
        provider_sid=call_sid,
    )
    return answer, row
