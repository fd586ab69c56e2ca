"""Relatives reached through Twilio, end to end: the real `twilio` client talks to the fake Twilio over
HTTP, the fake calls the console's webhooks (served by uvicorn) signed over the public URL, and the
outbox sender delivers, retries, reconciles and falls back. On SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import uvicorn
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from alarm_center.alarms import repository as alarms
from alarm_center.alarms.model import PRIORITY_BY_KIND, Alarm, AlarmEvent, AlarmKind, AlarmStatus
from alarm_center.engine import make_notifier, outbox_policy
from alarm_center.live import AlarmFeed
from alarm_center.notify import repository
from alarm_center.notify.model import Notification, NotificationStatus
from alarm_center.notify.notifier import OfflineNotifier, OutcomeUnknown, OutgoingMessage, mask_phone
from alarm_center.notify.outbox import OutboxPolicy, OutboxSender
from alarm_center.notify.queue import queue_alert, queue_all_clear, queue_notification
from alarm_center.notify.service import parse_reply
from alarm_center.notify.templates import alarm_code
from alarm_center.notify.twilio_notifier import TwilioNotifier
from console.app import create_app
from console.context import ConsoleContext, TwilioHooks
from core.clock import FakeClock
from core.settings import SettingsError, load_settings
from registry import service as registry
from simulator.fake_twilio import FakeTwilio
from tests.support.require import free_port
from tests.support.seed import SeededBand, seed_resident_with_band

pytestmark = [
    pytest.mark.asyncio,
    # twilio 9.13 still hands aiohttp 3.14 a BasicAuth; not ours to fix.
    pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The 'auth' parameter is deprecated:DeprecationWarning"),
]

PUBLIC = "https://alarm.opaska.example"
OURS = "+48221234567"
RELATIVE = "+48601234567"  # the seeded resident's contact ("601 234 567")
SECOND = "+48602000002"
STRANGER = "+48609999999"
POLICY = OutboxPolicy(max_attempts=3, retry_base_s=2, retry_max_s=60, send_deadline_s=30, per_number_per_minute=6)


@dataclass
class Centre:
    """The centre as a relative meets it: a resident with an alarm, the console's webhooks, the
    outbox sender, and the fake Twilio between them."""

    sessions: async_sessionmaker[AsyncSession]
    clock: FakeClock
    fake: FakeTwilio
    seeded: SeededBand
    sender: OutboxSender
    console_url: str

    def new_sender(self, *, timeout_s: float = 0.5, policy: OutboxPolicy = POLICY) -> OutboxSender:
        """A sender as a freshly started engine has it: new objects, nothing remembered."""
        notifier = TwilioNotifier(self.fake.client(), from_number=OURS, public_url=PUBLIC, timeout_s=timeout_s)
        return OutboxSender(self.sessions, notifier, self.clock, policy)

    async def alarm(self, kind: AlarmKind = AlarmKind.SOS) -> int:
        async with self.sessions() as session, session.begin():
            band_id = (
                await registry.register_band(
                    session,
                    self.clock,
                    serial=f"B-{uuid.uuid4().hex[:8]}",
                    model="t",
                    resident_id=self.seeded.resident_id,
                )
            ).band.id
            alarm_id = await alarms.insert_alarm_if_none_open(
                session,
                {
                    "municipality_id": self.seeded.municipality_id,
                    "resident_id": self.seeded.resident_id,
                    "band_id": band_id,
                    "kind": kind.value,
                    "priority": int(PRIORITY_BY_KIND[kind]),
                    "status": AlarmStatus.RAISED.value,
                    "is_test": False,
                    "raised_at": self.clock.now(),
                    "repeat_count": 0,
                    "note": "",
                    "first_message_id": None,
                },
            )
            assert alarm_id is not None
            return alarm_id

    async def contact_id(self, phone: str = RELATIVE) -> int:
        async with self.sessions() as session:
            [contact] = await repository.contacts_with_phone(session, phone)
            return contact.id

    async def notify(self, alarm_id: int, channel: str = "sms", *, to: str = RELATIVE) -> int:
        """What an escalation step writes: a pending notification, in the same words a relative gets."""
        contact_id = await self.contact_id(to) if to in (RELATIVE, SECOND) else None
        now = self.clock.now()
        async with self.sessions() as session, session.begin():
            return await queue_alert(
                session, alarm_id=alarm_id, channel=channel, to_phone=to, links=None, at=now, contact_id=contact_id
            )

    async def row(self, notification_id: int) -> Notification:
        async with self.sessions() as session:
            row = await session.get(Notification, notification_id)
            assert row is not None
            return row

    async def rows(self, **where: Any) -> list[Notification]:
        async with self.sessions() as session:
            query = select(Notification).filter_by(**where).order_by(Notification.id)
            return list((await session.execute(query)).scalars())

    async def events(self, alarm_id: int, type: str) -> list[AlarmEvent]:
        async with self.sessions() as session:
            query = select(AlarmEvent).where(AlarmEvent.alarm_id == alarm_id, AlarmEvent.type == type)
            return list((await session.execute(query.order_by(AlarmEvent.id))).scalars())

    async def pass_after(self, seconds: float) -> int:
        self.clock.advance(seconds)
        return await self.sender.send_due()


@pytest_asyncio.fixture
async def centre(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> AsyncIterator[Centre]:
    seeded = await seed_resident_with_band(sessions, clock, first_name="Helena")
    async with sessions() as session, session.begin():
        await registry.add_contact(
            session,
            clock,
            resident_id=seeded.resident_id,
            name="Piotr Kowalski",
            phone=SECOND,
            priority=2,
            language="en",
        )
    fake = FakeTwilio(phone_number=OURS, inbound_sms_url=f"{PUBLIC}/twilio/sms", now=clock.now)
    hooks = TwilioHooks(fake.auth_token, PUBLIC, clock)
    app = create_app(ConsoleContext(sessions, AlarmFeed(sessions), run_feed=False, twilio_hooks=hooks))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        assert not serving.done(), "the console did not start"
        await asyncio.sleep(0.01)
    fake.url_map[PUBLIC] = f"http://127.0.0.1:{port}"
    async with fake:
        centre = Centre(sessions, clock, fake, seeded, OutboxSender(sessions, OfflineNotifier(), clock), "")
        centre.console_url = f"http://127.0.0.1:{port}"
        centre.sender = centre.new_sender()
        try:
            yield centre
        finally:
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await serving


# -- stories -------------------------------------------------------------------------------------------------


async def test_sms_is_delivered_and_the_relatives_tak_shows_on_the_alarm(centre: Centre) -> None:
    alarm_id = await centre.alarm()
    notification_id = await centre.notify(alarm_id)

    assert await centre.sender.send_due() == 1
    relative = centre.fake.phone(RELATIVE)
    sms = await relative.expect_sms("Helena")
    assert f"TAK {alarm_code(alarm_id)}" in sms.body
    assert sms.message.status_callback == f"{PUBLIC}/twilio/status/{notification_id}"
    row = await centre.row(notification_id)
    assert (row.status, row.provider_id, row.attempts) == (NotificationStatus.SENT, sms.message.sid, 1)

    await sms.deliver()
    assert (await centre.row(notification_id)).status == NotificationStatus.DELIVERED
    assert [c.status for c in centre.fake.callbacks] == [200, 200]

    answered = await sms.reply(f"tak {alarm_code(alarm_id)}")
    assert answered.status == 200
    [response] = await centre.events(alarm_id, "contact_response")
    assert (response.actor_type, response.actor_id) == ("contact", await centre.contact_id())
    assert response.detail == {"answer": "going", "via": "sms", "provider_sid": answered.params["MessageSid"]}
    # Twilio retrying the webhook (or a replay of it): the same answer is not recorded or thanked twice.
    replayed = await centre.fake.post_signed(answered.url, answered.params)
    assert replayed.status == 200
    assert len(await centre.events(alarm_id, "contact_response")) == 1

    # The relative is told it was heard, through the outbox like everything else.
    await centre.sender.send_due()
    thanks = await relative.expect_sms("dziękujemy")
    assert alarm_code(alarm_id) in thanks.body
    assert relative.unseen() == []


async def test_a_reply_without_the_code_counts_for_the_one_open_alarm(centre: Centre) -> None:
    alarm_id = await centre.alarm()
    await centre.notify(alarm_id)
    await centre.sender.send_due()
    sms = await centre.fake.phone(RELATIVE).expect_sms()
    await sms.reply("NIE")
    [response] = await centre.events(alarm_id, "contact_response")
    assert response.detail["answer"] == "cannot"


async def test_a_call_is_answered_and_key_1_is_recorded(centre: Centre) -> None:
    alarm_id = await centre.alarm(AlarmKind.FALL)
    notification_id = await centre.notify(alarm_id, "voice")
    await centre.sender.send_due()

    call = await centre.fake.phone(RELATIVE).expect_call()
    assert call.call.url == f"{PUBLIC}/twilio/voice/{notification_id}"
    assert (await centre.row(notification_id)).provider_id == call.call.sid
    twiml = await call.answer()
    assert '<Say language="pl-PL">' in twiml
    assert "upadek" in twiml
    assert '<Gather numDigits="1"' in twiml

    again = await call.press("7")  # not 1 or 2: the question again, nothing recorded
    assert "<Gather" in again.text
    assert await centre.events(alarm_id, "contact_response") == []

    pressed = await call.press("1")
    assert pressed.status == 200
    assert "Dziękujemy" in pressed.text
    assert "<Hangup/>" in pressed.text
    [response] = await centre.events(alarm_id, "contact_response")
    assert response.detail == {
        "answer": "going",
        "via": "voice",
        "notification_id": notification_id,
        "provider_sid": call.call.sid,
    }
    assert response.actor_id == await centre.contact_id()
    # The same gather again (Twilio retrying it): one answer per call.
    await centre.fake.gather(f"{PUBLIC}/twilio/voice/{notification_id}/gather", call_sid=call.call.sid, digits="1")
    assert len(await centre.events(alarm_id, "contact_response")) == 1

    await call.end("completed")
    assert (await centre.row(notification_id)).status == NotificationStatus.DELIVERED


async def test_an_english_contact_is_called_in_english_and_an_unanswered_call_is_no_answer(centre: Centre) -> None:
    alarm_id = await centre.alarm()
    notification_id = await centre.notify(alarm_id, "voice", to=SECOND)
    await centre.sender.send_due()
    call = await centre.fake.phone(SECOND).expect_call()
    twiml = await call.answer()
    assert '<Say language="en-GB">' in twiml
    assert "press 1" in twiml
    await call.end("no-answer")
    assert (await centre.row(notification_id)).status == NotificationStatus.NO_ANSWER


async def test_forged_or_unsigned_webhooks_are_refused(centre: Centre) -> None:
    alarm_id = await centre.alarm()
    notification_id = await centre.notify(alarm_id)
    await centre.sender.send_due()
    sms = await centre.fake.phone(RELATIVE).expect_sms()

    forged = await centre.fake.message_status(sms.message.sid, "delivered", sign_with="0" * 32)
    unsigned = await centre.fake.message_status(sms.message.sid, "failed", signed=False)
    reply = await sms.reply("TAK", sign_with="0" * 32)
    assert forged is not None
    assert unsigned is not None
    assert (forged.status, unsigned.status, reply.status) == (403, 403, 403)
    assert (await centre.row(notification_id)).status == NotificationStatus.SENT
    assert await centre.events(alarm_id, "contact_response") == []

    # Signed right, but over the URL it arrived on rather than the public one we gave Twilio: refused.
    local = f"{centre.console_url}/twilio/status/{notification_id}"
    params = {"MessageSid": sms.message.sid, "MessageStatus": "delivered"}
    signature = RequestValidator(centre.fake.auth_token).compute_signature(local, params)
    async with (
        aiohttp.ClientSession() as http,
        http.post(local, data=params, headers={"X-Twilio-Signature": signature}) as answer,
    ):
        assert answer.status == 403
    assert (await centre.row(notification_id)).status == NotificationStatus.SENT


# -- faults ----------------------------------------------------------------------------------------------


async def test_a_5xx_then_success_sends_once(centre: Centre) -> None:
    alarm_id = await centre.alarm()
    notification_id = await centre.notify(alarm_id)
    centre.fake.fail_next(1, status=503)

    await centre.sender.send_due()
    row = await centre.row(notification_id)
    assert (row.status, row.attempts) == (NotificationStatus.PENDING, 1)
    assert row.error is not None
    assert "503" in row.error
    assert await centre.sender.send_due() == 0  # backing off

    await centre.pass_after(POLICY.retry_base_s)
    row = await centre.row(notification_id)
    assert (row.status, row.attempts) == (NotificationStatus.SENT, 2)
    assert len(centre.fake.sent_to(RELATIVE)) == 1
    assert row.provider_id == centre.fake.sent_to(RELATIVE)[0].sid


@pytest.mark.parametrize("lost_as", ["500", "drop"])
async def test_a_lost_response_is_reconciled_after_the_deadline_not_resent(centre: Centre, lost_as: str) -> None:
    alarm_id = await centre.alarm()
    notification_id = await centre.notify(alarm_id)
    centre.fake.lose_next(1, lost_as="drop" if lost_as == "drop" else "500")
    # Twilio's lists lag behind its creates: asked at once, they would not show the SMS yet.
    centre.fake.list_lag_s = 5

    await centre.sender.send_due()
    [sms] = centre.fake.sent_to(RELATIVE)
    row = await centre.row(notification_id)
    assert (row.status, row.attempts) == (NotificationStatus.SENDING, 1)
    assert row.error is not None
    assert row.error.startswith("outcome unknown")
    await centre.pass_after(POLICY.reconcile_after_s - 1)
    assert [r.method for r in centre.fake.requests] == ["POST"]  # not asked at once

    await centre.pass_after(2)
    row = await centre.row(notification_id)
    assert (row.status, row.provider_id, row.attempts) == (NotificationStatus.SENT, sms.sid, 1)
    await centre.pass_after(600)
    assert len(centre.fake.sent_to(RELATIVE)) == 1
    assert [r.method for r in centre.fake.requests] == ["POST", "GET"]


async def test_a_status_callback_settles_a_lost_response_without_asking(centre: Centre) -> None:
    alarm_id = await centre.alarm()
    notification_id = await centre.notify(alarm_id)
    centre.fake.lose_next(1)
    await centre.sender.send_due()
    sms = await centre.fake.phone(RELATIVE).expect_sms()
    await sms.deliver()
    row = await centre.row(notification_id)
    assert (row.status, row.provider_id) == (NotificationStatus.DELIVERED, sms.message.sid)
    await centre.pass_after(POLICY.send_deadline_s + 600)
    assert [r.method for r in centre.fake.requests] == ["POST"]
    assert len(centre.fake.sent_to(RELATIVE)) == 1


async def test_a_lost_call_response_is_reconciled(centre: Centre) -> None:
    alarm_id = await centre.alarm()
    notification_id = await centre.notify(alarm_id, "voice")
    centre.fake.lose_next(1, only="calls")
    await centre.sender.send_due()
    [call] = centre.fake.calls_to(RELATIVE)
    await centre.pass_after(POLICY.reconcile_after_s + 1)
    assert (await centre.row(notification_id)).provider_id == call.sid
    await centre.pass_after(600)
    assert len(centre.fake.calls_to(RELATIVE)) == 1


async def test_two_calls_to_one_number_with_lost_answers_are_not_mixed_up(centre: Centre) -> None:
    """Two alarms call the same relative at once and both answers are lost; only one call was made.
    Which alarm's call it was, a list of calls cannot tell: neither row takes it on a guess, the row
    whose callback comes is settled by it, and the other is then sent (its call was never made)."""
    first_alarm, second_alarm = await centre.alarm(), await centre.alarm(AlarmKind.FALL)
    both = {await centre.notify(first_alarm, "voice"), await centre.notify(second_alarm, "voice")}
    centre.fake.hang_next(1, seconds=2, only="calls")  # not created: one times out
    centre.fake.lose_next(1, only="calls")  # created, its answer lost
    await centre.sender.send_due()
    [call] = centre.fake.calls_to(RELATIVE)
    # Which request met which fault is up to the network; the call's Url says whose it is.
    [made] = [n for n in both if call.url == f"{PUBLIC}/twilio/voice/{n}"]
    [never_made] = both - {made}

    await centre.pass_after(POLICY.reconcile_after_s + 1)
    assert (await centre.row(never_made)).provider_id is None  # never the other alarm's call
    assert (await centre.row(made)).provider_id is None
    assert len(centre.fake.calls_to(RELATIVE)) == 1

    ringing = await centre.fake.phone(RELATIVE).expect_call()
    await ringing.answer()  # its callbacks name the notification whose call it is
    assert (await centre.row(made)).provider_id == call.sid
    for _ in range(5):
        await centre.pass_after(POLICY.retry_max_s)
    assert (await centre.row(never_made)).status == NotificationStatus.SENT
    assert len(centre.fake.calls_to(RELATIVE)) == 2
    urls = sorted(c.url or "" for c in centre.fake.calls_to(RELATIVE))
    assert urls == sorted(f"{PUBLIC}/twilio/voice/{n}" for n in (never_made, made))


async def test_timeouts_are_retried_then_failed_and_a_call_is_made_instead(centre: Centre) -> None:
    alarm_id = await centre.alarm()
    notification_id = await centre.notify(alarm_id)
    centre.fake.hang_next(POLICY.max_attempts, seconds=5, only="messages")

    await centre.sender.send_due()
    for attempt in range(1, POLICY.max_attempts + 1):
        # Each timed-out try is looked for at Twilio a little later; not found, it is tried again.
        await centre.pass_after(POLICY.reconcile_after_s + 1)
        if attempt < POLICY.max_attempts:
            assert (await centre.row(notification_id)).status == NotificationStatus.PENDING
            await centre.pass_after(POLICY.backoff(attempt).total_seconds())
    row = await centre.row(notification_id)
    assert (row.status, row.attempts) == (NotificationStatus.FAILED, POLICY.max_attempts)
    assert row.error is not None
    assert "no answer from Twilio" in row.error
    assert centre.fake.sent_to(RELATIVE) == []

    [fallback] = await centre.rows(channel="voice", alarm_id=alarm_id)
    # Written by the pass that gave up on the SMS, and sent in that same pass.
    assert (fallback.to_phone, fallback.template, fallback.status) == (RELATIVE, "fallback_voice", "sent")
    call = await centre.fake.phone(RELATIVE).expect_call()
    await call.press("1")
    assert len(await centre.events(alarm_id, "contact_response")) == 1


async def test_an_undelivered_sms_falls_back_to_a_call(centre: Centre) -> None:
    alarm_id = await centre.alarm()
    notification_id = await centre.notify(alarm_id)
    await centre.sender.send_due()
    sms = await centre.fake.phone(RELATIVE).expect_sms()
    await sms.fail("undelivered", error_code=30003)
    row = await centre.row(notification_id)
    assert row.status == NotificationStatus.FAILED
    assert row.error is not None
    assert "30003" in row.error
    await sms.fail("failed")  # a repeated callback makes no second call
    assert len(await centre.rows(channel="voice", alarm_id=alarm_id)) == 1


async def test_a_bad_number_fails_at_once_without_retrying(centre: Centre) -> None:
    alarm_id = await centre.alarm()
    notification_id = await centre.notify(alarm_id, "voice", to="+4812")
    await centre.sender.send_due()
    row = await centre.row(notification_id)
    assert (row.status, row.attempts) == (NotificationStatus.FAILED, 1)
    assert row.error is not None
    assert "21211" in row.error


async def test_a_restarted_sender_reconciles_instead_of_resending(centre: Centre) -> None:
    alarm_id = await centre.alarm()
    sent_before_crash = await centre.notify(alarm_id)
    never_sent = await centre.notify(alarm_id, to=SECOND)

    # The engine claims both, gets the first out to Twilio, and is killed before recording anything.
    claimed = await centre.sender._claim_due()
    assert [message.notification_id for message, _ in claimed] == [sent_before_crash, never_sent]
    dying = TwilioNotifier(centre.fake.client(), from_number=OURS, public_url=PUBLIC)
    sid = (await dying.send(claimed[0][0])).provider_id

    # A new engine, the clock moved on; before the deadline nothing is touched.
    restarted = centre.new_sender()
    assert await restarted.send_due() == 0
    centre.clock.advance(POLICY.send_deadline_s + 1)
    await restarted.send_due()

    first, second = await centre.row(sent_before_crash), await centre.row(never_sent)
    assert (first.status, first.provider_id) == (NotificationStatus.SENT, sid)
    assert len(centre.fake.sent_to(RELATIVE)) == 1
    # Not found at Twilio: a failed try, then sent once after the backoff.
    assert (second.status, second.attempts) == (NotificationStatus.PENDING, 1)
    centre.clock.advance(POLICY.retry_base_s)
    await restarted.send_due()
    assert (await centre.row(never_sent)).status == NotificationStatus.SENT
    assert len(centre.fake.sent_to(SECOND)) == 1

    # And another restart later sends nothing again.
    centre.clock.advance(3600)
    await centre.new_sender().send_due()
    assert len(centre.fake.sent_to(RELATIVE)) == len(centre.fake.sent_to(SECOND)) == 1


async def test_one_number_gets_at_most_n_per_minute(centre: Centre) -> None:
    policy = OutboxPolicy(per_number_per_minute=2)
    sender = centre.new_sender(policy=policy)
    alarm_id = await centre.alarm()
    ids = [await centre.notify(alarm_id) for _ in range(5)]
    assert await sender.send_due() == 2
    assert len(centre.fake.sent_to(RELATIVE)) == 2
    centre.clock.advance(30)
    assert await sender.send_due() == 0
    centre.clock.advance(31)
    assert await sender.send_due() == 2
    centre.clock.advance(61)
    await sender.send_due()
    assert {(await centre.row(i)).status for i in ids} == {NotificationStatus.SENT}
    assert len(centre.fake.sent_to(RELATIVE)) == 5


# -- what relatives send that is not an answer ---------------------------------------------------------------


async def test_a_stranger_and_an_unreadable_reply_get_help_once(centre: Centre) -> None:
    alarm_id = await centre.alarm()
    await centre.notify(alarm_id)
    await centre.sender.send_due()
    relative = centre.fake.phone(RELATIVE)
    sms = await relative.expect_sms()

    stranger = centre.fake.phone(STRANGER)
    for _ in range(2):
        assert (await stranger.reply(f"TAK {alarm_code(alarm_id)}")).status == 200
    for _ in range(2):
        assert (await sms.reply("kto to?")).status == 200
    assert await centre.events(alarm_id, "contact_response") == []

    await centre.sender.send_due()
    help_for_stranger = await stranger.expect_sms("nie jest zapisany")
    assert "112" in help_for_stranger.body
    assert "TAK" in (await relative.expect_sms("nie rozumiemy")).body
    assert stranger.unseen() == []
    assert relative.unseen() == []


async def test_stop_is_honoured_and_start_undoes_it(centre: Centre) -> None:
    alarm_id = await centre.alarm()
    await centre.notify(alarm_id)
    await centre.sender.send_due()
    relative = centre.fake.phone(RELATIVE)
    await relative.expect_sms()
    await relative.reply("STOP")
    await centre.sender.send_due()
    await relative.expect_sms("nie będziemy")

    stopped = await centre.notify(alarm_id)
    await centre.sender.send_due()
    row = await centre.row(stopped)
    assert (row.status, row.error) == (NotificationStatus.FAILED, "opted out (STOP)")
    [call] = await centre.rows(channel="voice", alarm_id=alarm_id)
    assert call.template == "fallback_voice"

    await relative.reply("START")
    await centre.sender.send_due()
    assert len(centre.fake.calls_to(RELATIVE)) == 1
    await relative.expect_sms("znów")
    again = await centre.notify(alarm_id)
    await centre.sender.send_due()
    assert (await centre.row(again)).status == NotificationStatus.SENT


async def test_stop_from_a_number_before_any_alarm_is_kept(centre: Centre) -> None:
    second = centre.fake.phone(SECOND)
    await second.reply("STOP")
    await centre.sender.send_due()
    await second.expect_sms()  # "you will get no more SMS", in English for this contact

    alarm_id = await centre.alarm()
    stopped = await centre.notify(alarm_id, to=SECOND)
    await centre.sender.send_due()
    assert (await centre.row(stopped)).status == NotificationStatus.FAILED
    [call] = await centre.rows(channel="voice", alarm_id=alarm_id)
    assert (call.to_phone, call.template) == (SECOND, "fallback_voice")


async def test_a_responder_alerted_by_sms_can_answer_it(centre: Centre) -> None:
    alarm_id = await centre.alarm()
    await centre.notify(alarm_id, to=STRANGER)  # as a step to a named responder or the one on duty writes it
    await centre.sender.send_due()
    responder = centre.fake.phone(STRANGER)
    await (await responder.expect_sms()).reply("TAK")
    [answer] = await centre.events(alarm_id, "contact_response")
    assert answer.actor_id is None
    assert (answer.detail["answer"], answer.detail["responder_phone"]) == ("going", mask_phone(STRANGER))
    await centre.sender.send_due()
    await responder.expect_sms(alarm_code(alarm_id))  # thanked, like a relative


async def test_a_replayed_reply_counts_once_even_when_the_copies_arrive_together(centre: Centre) -> None:
    alarm_id = await centre.alarm()
    await centre.notify(alarm_id)
    await centre.sender.send_due()
    await centre.fake.phone(RELATIVE).expect_sms()
    params = {
        "AccountSid": centre.fake.account_sid,
        "MessageSid": "SM" + "7" * 32,
        "From": RELATIVE,
        "To": OURS,
        "Body": f"TAK {alarm_code(alarm_id)}",
    }
    signature = RequestValidator(centre.fake.auth_token).compute_signature(f"{PUBLIC}/twilio/sms", params)
    async with aiohttp.ClientSession() as http:

        async def post() -> int:
            headers = {"X-Twilio-Signature": signature}
            async with http.post(f"{centre.console_url}/twilio/sms", data=params, headers=headers) as answer:
                return answer.status

        assert await asyncio.gather(*(post() for _ in range(4))) == [200] * 4
    assert len(await centre.events(alarm_id, "contact_response")) == 1


async def test_the_offline_notifier_records_without_network(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    await seed_resident_with_band(sessions, clock)
    now = clock.now()
    async with sessions() as session, session.begin():
        notification_id = await queue_notification(
            session,
            alarm_id=None,
            contact_id=None,
            channel="sms",
            to_phone=RELATIVE,
            template="sms_alert",
            body="test",
            at=now,
        )
    sender = OutboxSender(sessions, OfflineNotifier(), clock)
    assert await sender.send_due() == 1
    async with sessions() as session:
        row = await session.get(Notification, notification_id)
        assert row is not None
        assert (row.status, row.provider_id) == (NotificationStatus.SENT, f"offline-{notification_id}")


async def test_replies_are_read_generously() -> None:
    assert (parse_reply("TAK 57").answer, parse_reply("TAK 57").alarm_id) == ("going", 57)
    assert (parse_reply("57 nie").answer, parse_reply("57 nie").alarm_id) == ("cannot", 57)
    assert (parse_reply("1").answer, parse_reply("1").alarm_id) == ("going", None)
    assert (parse_reply("1 57").answer, parse_reply("1 57").alarm_id) == ("going", 57)
    assert (parse_reply(" ok, #12! ").answer, parse_reply(" ok, #12! ").alarm_id) == ("going", 12)
    assert parse_reply("Stop").answer == "stop"
    assert parse_reply("kto to?").answer is None


async def test_two_open_alarms_need_the_code_and_a_late_answer_still_counts(centre: Centre) -> None:
    first, second = await centre.alarm(), await centre.alarm()
    await centre.notify(first)
    await centre.notify(second)
    await centre.sender.send_due()
    relative = centre.fake.phone(RELATIVE)
    await relative.expect_sms(f"TAK {alarm_code(first)}")
    await relative.expect_sms(f"TAK {alarm_code(second)}")

    await relative.reply("TAK")  # which one? help, nothing recorded
    assert await centre.events(first, "contact_response") == await centre.events(second, "contact_response") == []
    await relative.reply(f"TAK {alarm_code(second)}")
    assert len(await centre.events(second, "contact_response")) == 1

    async with centre.sessions() as session, session.begin():
        await alarms.move_alarm_if_status(
            session,
            alarm_id=first,
            from_status=AlarmStatus.RAISED,
            values={"status": AlarmStatus.RESOLVED, "closed_at": centre.clock.now(), "outcome": "false_alarm"},
        )
    await relative.reply(f"NIE {alarm_code(first)}")
    [late] = await centre.events(first, "contact_response")
    assert late.detail["answer"] == "cannot"

    await centre.sender.send_due()
    assert "TAK" in (await relative.expect_sms("nie rozumiemy")).body
    assert len([m for m in centre.fake.sent_to(RELATIVE) if "dziękujemy" in m.body]) == 2


async def test_twilio_mode_needs_its_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPASKA_NOTIFY_MODE", "twilio")
    monkeypatch.setenv("OPASKA_TWILIO_AUTH_TOKEN", "tw-token-7f3c")
    settings = load_settings()
    with pytest.raises(SettingsError, match=r"twilio.account_sid \(OPASKA_TWILIO_ACCOUNT_SID\)"):
        make_notifier(settings)
    assert TwilioHooks.from_settings(settings) is None  # no public URL: the webhooks are off

    monkeypatch.setenv("OPASKA_TWILIO_ACCOUNT_SID", "AC" + "0" * 32)
    monkeypatch.setenv("OPASKA_TWILIO_FROM_NUMBER", OURS)
    monkeypatch.setenv("OPASKA_TWILIO_PUBLIC_URL", f"{PUBLIC}/")
    settings = load_settings()
    notifier = make_notifier(settings)
    assert isinstance(notifier, TwilioNotifier)
    await notifier.aclose()
    hooks = TwilioHooks.from_settings(settings)
    assert hooks is not None
    assert (hooks.public_url, hooks.auth_token) == (PUBLIC, "tw-token-7f3c")
    assert "tw-token-7f3c" not in repr(settings) + repr(hooks)  # a printed setting never shows the token


async def test_the_send_deadline_must_outlast_a_request_to_twilio(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPASKA_TWILIO_TIMEOUT_S", "40")
    with pytest.raises(SettingsError, match=r"notify.send_deadline_s \(60\) must be more than twice twilio.timeout_s"):
        load_settings()
    monkeypatch.setenv("OPASKA_NOTIFY_SEND_DEADLINE_S", "120")
    monkeypatch.setenv("OPASKA_NOTIFY_MAX_ATTEMPTS", "3")
    policy = outbox_policy(load_settings())
    assert (policy.send_deadline_s, policy.max_attempts) == (120, 3)


async def test_the_all_clear_goes_once_to_those_who_were_told(centre: Centre) -> None:
    alarm_id = await centre.alarm()
    await centre.notify(alarm_id)  # SMS to the first relative: sent
    unanswered = await centre.notify(alarm_id, "voice", to=SECOND)  # a call nobody picks up: not told
    await centre.sender.send_due()
    await centre.fake.phone(RELATIVE).expect_sms()
    call = await centre.fake.phone(SECOND).expect_call()
    await call.end("no-answer")
    assert (await centre.row(unanswered)).status == NotificationStatus.NO_ANSWER

    for _ in range(2):  # asked twice (a retried close): one all-clear all the same
        async with centre.sessions() as session, session.begin():
            await queue_all_clear(session, alarm_id=alarm_id, at=centre.clock.now())
    await centre.sender.send_due()
    clear = await centre.fake.phone(RELATIVE).expect_sms("zakończony")
    assert alarm_code(alarm_id) in clear.body
    assert "Helena" in clear.body
    assert len(await centre.rows(template="all_clear")) == 1
    assert centre.fake.sent_to(SECOND) == []


async def test_an_alert_for_an_alarm_closed_before_it_went_out_is_not_sent(centre: Centre) -> None:
    alarm_id = await centre.alarm()
    notification_id = await centre.notify(alarm_id)
    async with centre.sessions() as session, session.begin():
        await session.execute(update(Alarm).where(Alarm.id == alarm_id).values(status="resolved"))
    await centre.sender.send_due()
    row = await centre.row(notification_id)
    assert (row.status, row.error) == (NotificationStatus.CANCELLED, "alarm closed")
    assert centre.fake.messages == []


async def _close(centre: Centre, alarm_id: int) -> None:
    async with centre.sessions() as session, session.begin():
        await session.execute(update(Alarm).where(Alarm.id == alarm_id).values(status="resolved"))


async def test_an_alert_in_flight_at_the_close_is_followed_by_the_all_clear(centre: Centre) -> None:
    alarm_id = await centre.alarm()
    await centre.notify(alarm_id)
    await centre.sender.send_due()
    relative = centre.fake.phone(RELATIVE)
    sms = await relative.expect_sms()
    await _close(centre, alarm_id)  # closed while the SMS was on its way
    await sms.deliver()
    await sms.deliver()  # the same callback again: still one all-clear
    await centre.sender.send_due()
    assert "jest zakończony" in (await relative.expect_sms()).body
    assert relative.unseen() == []
    assert len(await centre.rows(alarm_id=alarm_id, template="all_clear")) == 1


async def test_a_call_picked_up_after_the_close_says_so_and_asks_nothing(centre: Centre) -> None:
    alarm_id = await centre.alarm()
    await centre.notify(alarm_id, "voice")
    await centre.sender.send_due()
    call = await centre.fake.phone(RELATIVE).expect_call()
    await _close(centre, alarm_id)
    twiml = await call.answer()
    assert "<Gather" not in twiml
    assert "zamknięty" in twiml


class _Unreachable:
    """A provider that took the request and then could never be asked about it again."""

    async def send(self, message: OutgoingMessage) -> str:
        raise OutcomeUnknown("connection dropped")

    async def find_sent(self, message: OutgoingMessage, *, since: datetime, known: set[str]) -> list[str]:
        raise OutcomeUnknown("provider unreachable")


async def test_an_alert_whose_outcome_stays_unknown_is_failed_in_the_end_and_a_call_made(centre: Centre) -> None:
    alarm_id = await centre.alarm()
    notification_id = await centre.notify(alarm_id)
    sender = OutboxSender(centre.sessions, _Unreachable(), centre.clock, POLICY)
    await sender.send_due()
    assert (await centre.row(notification_id)).status == NotificationStatus.SENDING  # never resent unasked
    for _ in range(30):
        centre.clock.advance(60)
        await sender.reconcile_stale()
        if (await centre.row(notification_id)).status != NotificationStatus.SENDING:
            break
    assert (await centre.row(notification_id)).status == NotificationStatus.FAILED
    [fallback] = await centre.rows(alarm_id=alarm_id, template="fallback_voice")
    assert fallback.channel == "voice"
