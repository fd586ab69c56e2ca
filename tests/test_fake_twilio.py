"""The fake Twilio, driven by the real `twilio` library (async client) over HTTP, and its signed webhooks checked the
way opaska checks them: RequestValidator over the *public* URL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from twilio.base.exceptions import TwilioRestException  # type: ignore[import-untyped]
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from simulator.fake_twilio import AutoPlay, CallbackRefused, FakeTwilio, gather_action

pytestmark = [
    pytest.mark.asyncio,
    # twilio 9.13 still hands aiohttp 3.14 a BasicAuth; not ours to fix, and not what these tests are about.
    pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The 'auth' parameter is deprecated:DeprecationWarning"),
]

PUBLIC = "https://opaska.example"
OURS = "+48221234567"
RELATIVE = "+48600000001"
OTHER = "+48600000002"


@dataclass
class Receiver:
    """A stand-in for opaska's webhooks: refuses (403) anything not signed for its public URL with `token`."""

    token: str
    url: str = ""
    accepted: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        params = {key: str(value) for key, value in (await request.post()).items()}
        public_url = PUBLIC + request.path_qs
        signature = request.headers.get("X-Twilio-Signature", "")
        if not RequestValidator(self.token).validate(public_url, params, signature):
            self.refused.append(public_url)
            return web.Response(status=403)
        self.accepted.append((public_url, params))
        if request.path == "/twilio/voice":
            twiml = '<Response><Gather numDigits="1" action="gather?n=7"><Say>Wciśnij 1</Say></Gather></Response>'
            return web.Response(text=twiml, content_type="text/xml")
        return web.Response(text="<Response/>", content_type="text/xml")

    def params(self, path: str) -> list[dict[str, str]]:
        return [p for url, p in self.accepted if url.startswith(PUBLIC + path)]


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio(phone_number=OURS) as fake:
        yield fake


@pytest_asyncio.fixture
async def receiver(fake: FakeTwilio) -> AsyncIterator[Receiver]:
    receiver = Receiver(fake.auth_token)
    app = web.Application()
    app.router.add_post("/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert isinstance(server, asyncio.Server)
    receiver.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    fake.url_map[PUBLIC] = receiver.url
    fake.inbound_sms_url = f"{PUBLIC}/twilio/sms"
    yield receiver
    await runner.cleanup()


async def test_sms_is_created_fetched_and_listed_by_the_real_client(fake: FakeTwilio) -> None:
    client = fake.client()
    before = datetime.now(UTC)
    sent = await client.messages.create_async(
        to=RELATIVE, from_=OURS, body="SOS: Anna", status_callback=f"{PUBLIC}/twilio/status?n=1"
    )
    assert sent.sid.startswith("SM")
    assert len(sent.sid) == 34
    assert (sent.status, sent.to, sent.from_, sent.body) == ("queued", RELATIVE, OURS, "SOS: Anna")
    assert sent.date_created is not None
    assert sent.date_created.tzinfo is not None
    [recorded] = fake.messages
    assert (recorded.sid, recorded.status_callback) == (sent.sid, f"{PUBLIC}/twilio/status?n=1")

    fetched = await client.messages(sent.sid).fetch_async()
    assert (fetched.sid, fetched.body) == (sent.sid, "SOS: Anna")

    await client.messages.create_async(to=OTHER, from_=OURS, body="SOS: Jan")
    listed = await client.messages.list_async(to=RELATIVE, date_sent_after=before - timedelta(seconds=1))
    assert [m.sid for m in listed] == [sent.sid]
    assert await client.messages.list_async(to=RELATIVE, date_sent_after=before + timedelta(minutes=5)) == []
    assert fake.requests[0].field("Body") == "SOS: Anna"


async def test_listing_pages_are_followed_by_the_library(fake: FakeTwilio) -> None:
    client = fake.client()
    for n in range(5):
        await client.messages.create_async(to=RELATIVE, from_=OURS, body=f"nr {n}")
    listed = await client.messages.list_async(to=RELATIVE, page_size=2)
    assert sorted(m.body for m in listed) == [f"nr {n}" for n in range(5)]
    assert sum(1 for r in fake.requests if r.method == "GET") == 3


async def test_call_is_created_fetched_and_listed_by_the_real_client(fake: FakeTwilio) -> None:
    client = fake.client()
    before = datetime.now(UTC)
    call = await client.calls.create_async(
        to=RELATIVE,
        from_=OURS,
        url=f"{PUBLIC}/twilio/voice?n=2",
        status_callback=f"{PUBLIC}/twilio/call-status?n=2",
        status_callback_event=["initiated", "ringing", "answered", "completed"],
    )
    assert call.sid.startswith("CA")
    assert len(call.sid) == 34
    assert (call.status, call.to, call._from) == ("queued", RELATIVE, OURS)
    [recorded] = fake.calls
    assert recorded.url == f"{PUBLIC}/twilio/voice?n=2"
    assert recorded.status_callback_events == ("initiated", "ringing", "answered", "completed")

    assert (await client.calls(call.sid).fetch_async()).sid == call.sid
    listed = await client.calls.list_async(to=RELATIVE, start_time_after=before - timedelta(seconds=1))
    assert [c.sid for c in listed] == [call.sid]
    assert await client.calls.list_async(to=OTHER) == []

    inline = await client.calls.create_async(to=OTHER, from_=OURS, twiml="<Response><Say>Test</Say></Response>")
    assert fake.call(inline.sid).twiml == "<Response><Say>Test</Say></Response>"


async def test_wrong_auth_token_is_401(fake: FakeTwilio) -> None:
    client = fake.client(auth_token="not-the-token")
    with pytest.raises(TwilioRestException) as caught:
        await client.messages.create_async(to=RELATIVE, from_=OURS, body="x")
    assert (caught.value.status, caught.value.code) == (401, 20003)
    assert fake.messages == []
    assert fake.requests[0].authorized is False


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"to": "600 000 001", "from_": OURS, "body": "x"}, 21211),
        ({"to": "+48123", "from_": OURS, "body": "x"}, 21211),
        ({"to": RELATIVE, "body": "x"}, 21603),
        ({"to": RELATIVE, "from_": OURS, "body": ""}, 21602),
        ({"to": RELATIVE, "from_": OURS, "body": "x", "status_callback": "not a url"}, 21609),
    ],
)
async def test_invalid_message_fields_are_400(fake: FakeTwilio, fields: dict[str, str], code: int) -> None:
    client = fake.client()
    with pytest.raises(TwilioRestException) as caught:
        await client.messages.create_async(**fields)
    assert (caught.value.status, caught.value.code) == (400, code)
    assert fake.messages == []


async def test_invalid_call_fields_are_400(fake: FakeTwilio) -> None:
    client = fake.client()
    with pytest.raises(TwilioRestException) as caught:
        await client.calls.create_async(to="0048600000001", from_=OURS, url=f"{PUBLIC}/v")
    assert (caught.value.status, caught.value.code) == (400, 21211)
    with pytest.raises(TwilioRestException) as caught:
        await client.calls.create_async(to=RELATIVE, from_=OURS)
    assert (caught.value.status, caught.value.code) == (400, 21205)
    assert fake.calls == []


async def test_server_errors_then_success(fake: FakeTwilio) -> None:
    client = fake.client()
    fake.fail_next(1, status=503)
    fake.fail_next(1, status=429)
    seen = []
    for _ in range(2):
        with pytest.raises(TwilioRestException) as caught:
            await client.messages.create_async(to=RELATIVE, from_=OURS, body="SOS")
        seen.append((caught.value.status, caught.value.code))
    assert seen == [(503, 20503), (429, 20429)]
    assert fake.messages == []
    await client.messages.create_async(to=RELATIVE, from_=OURS, body="SOS")
    assert len(fake.messages) == 1


async def test_faults_can_target_calls_only(fake: FakeTwilio) -> None:
    client = fake.client()
    fake.fail_next(1, only="calls")
    await client.messages.create_async(to=RELATIVE, from_=OURS, body="SOS")
    with pytest.raises(TwilioRestException):
        await client.calls.create_async(to=RELATIVE, from_=OURS, url=f"{PUBLIC}/twilio/voice")
    assert fake.pending_faults == 0


async def test_hang_past_the_callers_timeout_may_hide_a_created_message(fake: FakeTwilio) -> None:
    client = fake.client()
    fake.hang_next(1, seconds=5, created=False)
    attempt = datetime.now(UTC)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await client.messages.create_async(to=RELATIVE, from_=OURS, body="SOS")
    assert await client.messages.list_async(to=RELATIVE, date_sent_after=attempt) == []

    fake.hang_next(1, seconds=5, created=True)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await client.messages.create_async(to=RELATIVE, from_=OURS, body="SOS")
    # The reconciliation a sender does before any resend: what went to that number since the attempt?
    [found] = await client.messages.list_async(to=RELATIVE, date_sent_after=attempt)
    assert found.body == "SOS"


async def test_the_async_client_ignores_its_own_timeout(fake: FakeTwilio) -> None:
    """AsyncTwilioHttpClient(timeout=…) stores the value and never uses it: a hung request waits as long as the
    server likes, and a cut connection surfaces as aiohttp's error, not a TwilioException. Production code must
    bound each call itself (asyncio.timeout) and treat aiohttp.ClientError as "outcome unknown"."""
    client = fake.client(timeout=0.1)
    fake.hang_next(1, seconds=0.5)
    started = time.monotonic()
    with pytest.raises(aiohttp.ClientError):
        await client.messages.create_async(to=RELATIVE, from_=OURS, body="SOS")
    assert time.monotonic() - started >= 0.45


@pytest.mark.parametrize("lost_as", ["500", "drop"])
async def test_created_but_the_response_was_lost(fake: FakeTwilio, lost_as: str) -> None:
    client = fake.client()
    fake.lose_next(1, lost_as="drop" if lost_as == "drop" else "500")
    attempt = datetime.now(UTC)
    error: type[Exception] = TwilioRestException if lost_as == "500" else aiohttp.ClientError
    with pytest.raises(error):
        await client.messages.create_async(to=RELATIVE, from_=OURS, body="SOS")
    [found] = await client.messages.list_async(to=RELATIVE, date_sent_after=attempt)
    assert found.sid == fake.messages[0].sid
    assert fake.requests[0].fault == "lost"


async def test_max_retries_re_posts_and_sends_the_sms_twice(fake: FakeTwilio) -> None:
    """Why production turns the async client's max_retries off: Twilio takes no idempotency key, and
    aiohttp_retry re-POSTs on any 5xx — including a 500 that came after the message was created."""
    client = fake.client(max_retries=2)
    fake.lose_next(1)
    sent = await client.messages.create_async(to=RELATIVE, from_=OURS, body="SOS")
    assert [m.body for m in fake.sent_to(RELATIVE)] == ["SOS", "SOS"]
    assert sent.sid == fake.messages[1].sid


async def test_status_callbacks_are_signed_for_the_public_url(fake: FakeTwilio, receiver: Receiver) -> None:
    client = fake.client()
    sms = await client.messages.create_async(
        to=RELATIVE, from_=OURS, body="SOS", status_callback=f"{PUBLIC}/twilio/status?n=1"
    )
    for status in ("sent", "delivered"):
        result = await fake.message_status(sms.sid, status)
        assert result is not None
        assert result.status == 200
        assert result.url == f"{PUBLIC}/twilio/status?n=1"
        assert result.target.startswith(receiver.url)
    assert [p["MessageStatus"] for p in receiver.params("/twilio/status")] == ["sent", "delivered"]
    assert (await client.messages(sms.sid).fetch_async()).status == "delivered"

    failed = await client.messages.create_async(
        to=OTHER, from_=OURS, body="SOS", status_callback=f"{PUBLIC}/twilio/status?n=2"
    )
    await fake.message_status(failed.sid, "undelivered", error_code=30005)
    assert receiver.params("/twilio/status?n=2")[-1]["ErrorCode"] == "30005"


async def test_a_callback_signed_with_the_wrong_token_is_refused(fake: FakeTwilio, receiver: Receiver) -> None:
    client = fake.client()
    sms = await client.messages.create_async(
        to=RELATIVE, from_=OURS, body="SOS", status_callback=f"{PUBLIC}/twilio/status?n=1"
    )
    forged = await fake.message_status(sms.sid, "delivered", sign_with="0" * 32)
    unsigned = await fake.message_status(sms.sid, "delivered", signed=False)
    assert forged is not None
    assert forged.status == 403
    assert unsigned is not None
    assert unsigned.status == 403
    assert receiver.accepted == []
    # What the receiver checks, checked directly: the right token validates, a wrong one does not.
    params = {"MessageSid": sms.sid, "MessageStatus": "delivered"}
    signature = RequestValidator(fake.auth_token).compute_signature(f"{PUBLIC}/x", params)
    assert RequestValidator(fake.auth_token).validate(f"{PUBLIC}/x", params, signature)
    assert not RequestValidator("0" * 32).validate(f"{PUBLIC}/x", params, signature)


async def test_call_status_callbacks_follow_the_subscribed_events(fake: FakeTwilio, receiver: Receiver) -> None:
    client = fake.client()
    only_final = await client.calls.create_async(
        to=RELATIVE, from_=OURS, url=f"{PUBLIC}/twilio/voice", status_callback=f"{PUBLIC}/twilio/call-status?n=1"
    )
    assert await fake.call_status(only_final.sid, "ringing") is None
    result = await fake.call_status(only_final.sid, "no-answer")
    assert result is not None
    assert result.status == 200
    assert [p["CallStatus"] for p in receiver.params("/twilio/call-status?n=1")] == ["no-answer"]

    every = await client.calls.create_async(
        to=OTHER,
        from_=OURS,
        url=f"{PUBLIC}/twilio/voice",
        status_callback=f"{PUBLIC}/twilio/call-status?n=2",
        status_callback_event=["initiated", "ringing", "answered", "completed"],
    )
    for status in ("initiated", "ringing", "in-progress", "completed"):
        await fake.call_status(every.sid, status)
    received = receiver.params("/twilio/call-status?n=2")
    assert [p["CallStatus"] for p in received] == ["initiated", "ringing", "in-progress", "completed"]
    assert received[-1]["CallDuration"] == "0"


async def test_story_sms_reply_and_key_press(fake: FakeTwilio, receiver: Receiver) -> None:
    client = fake.client()
    relative = fake.phone(RELATIVE)
    await client.messages.create_async(to=RELATIVE, from_=OURS, body="SOS Anna. Odpisz TAK")
    sms = await relative.expect_sms("SOS")
    reply = await sms.reply("TAK")
    assert reply.status == 200
    [inbound] = receiver.params("/twilio/sms")
    assert (inbound["From"], inbound["To"], inbound["Body"]) == (RELATIVE, OURS, "TAK")

    await client.calls.create_async(to=RELATIVE, from_=OURS, url=f"{PUBLIC}/twilio/voice?n=7")
    call = await relative.expect_call()
    pressed = await call.press("1")
    assert pressed.status == 200
    # The Gather's relative action is resolved against the voice URL, as Twilio does.
    assert pressed.url == f"{PUBLIC}/twilio/gather?n=7"
    [gathered] = receiver.params("/twilio/gather")
    assert (gathered["Digits"], gathered["CallSid"], gathered["To"]) == ("1", call.call.sid, RELATIVE)
    assert relative.unseen() == []


async def test_gather_and_reply_can_be_forged(fake: FakeTwilio, receiver: Receiver) -> None:
    result = await fake.gather(f"{PUBLIC}/twilio/gather?n=1", call_sid="CA" + "1" * 32, digits="1", sign_with="bad")
    reply = await fake.reply_sms(from_=RELATIVE, body="TAK", sign_with="bad")
    assert (result.status, reply.status) == (403, 403)
    assert receiver.accepted == []


async def test_automatic_callbacks(fake: FakeTwilio, receiver: Receiver) -> None:
    fake.auto = AutoPlay(delay=0.01, by_number={OTHER: ("initiated", "ringing", "no-answer")}, digits={RELATIVE: "1"})
    client = fake.client()
    await client.messages.create_async(to=RELATIVE, from_=OURS, body="SOS", status_callback=f"{PUBLIC}/twilio/s?m=1")
    await client.calls.create_async(
        to=RELATIVE, from_=OURS, url=f"{PUBLIC}/twilio/voice", status_callback=f"{PUBLIC}/twilio/c?c=1"
    )
    await client.calls.create_async(
        to=OTHER, from_=OURS, url=f"{PUBLIC}/twilio/voice", status_callback=f"{PUBLIC}/twilio/c?c=2"
    )
    await fake.idle()
    assert [p["MessageStatus"] for p in receiver.params("/twilio/s")] == ["sent", "delivered"]
    assert [p["CallStatus"] for p in receiver.params("/twilio/c?c=1")] == ["completed"]
    assert [p["CallStatus"] for p in receiver.params("/twilio/c?c=2")] == ["no-answer"]
    assert [p["Digits"] for p in receiver.params("/twilio/gather")] == ["1"]


async def test_callbacks_never_leave_the_machine(fake: FakeTwilio) -> None:
    with pytest.raises(CallbackRefused):
        await fake.post_signed("https://opaska.example.com/twilio/status", {"MessageStatus": "sent"})


async def test_gather_action() -> None:
    assert gather_action('<Response><Gather action="/g?n=1"><Say>x</Say></Gather></Response>') == "/g?n=1"
    assert gather_action("<Response><Gather/></Response>") == ""
    assert gather_action("<Response><Say>x</Say></Response>") is None
