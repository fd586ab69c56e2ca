"""A fake Twilio: the REST subset the `twilio` library uses for SMS and calls, and signed webhooks back to opaska.

The real `twilio.rest.Client` talks to it over HTTP (`FakeTwilio.client()`, or `point_client`), so the code under
test is the code that runs in production. It records every request and everything created, sends status callbacks,
SMS replies and key presses signed exactly as Twilio signs them, and acts out the faults a sender must survive:
5xx/429 answers, hangs past the client's timeout, and "created, but the response was lost".

`FakeTwilio` puts the parts together: `rest` (the HTTP resources), `messaging` and `voice` (what happens to a
message or call, as webhooks), `webhooks` (signing and delivery), `faults`, `autoplay`, `control` (curl for
demos) and `store` (what was seen), all sharing one `FakeConfig`.

Voice model (`model`, `twiml`, `voice_rest`, `clock`): calls are acted out as Twilio would, in virtual time.

    fake.phone(OPERATOR).script("answer", after=3)          # or "busy", "no-answer", "failed", "rings"
    fake.phone(BAND).script("answer", after=2, hang_up_after=40, digits=["1"])
    fake.voice_numbers[CENTRE] = VoiceNumber(voice_url=f"{PUBLIC}/twilio/voice/in", status_callback=…)

    call = await client.calls.create_async(to=OPERATOR, from_=CENTRE, url=…, status_callback=…,
                                           status_callback_event=[…], record=True, recording_status_callback=…)
    await fake.settle()             # everything that happens at once has happened (callbacks, TwiML fetches)
    await fake.advance(3)           # 3 s of voice time: the operator answers, the TwiML is fetched and followed
    fake.conference("alarm-12")     # FakeConference: .status, .call_sids, .numbers, .participants, .sid
    fake.queue("alarm-12")          # FakeQueue: .members (call_sid, number, enqueued_at), .call_sids
    fake.call(sid).heard            # ["say: …", "play: …", "pause: 2"]; .notifications: Twilio debugger errors
    ringing = await fake.incoming_call(from_=BAND_SIM, to=CENTRE)   # signed POST to the number's voice_url
    await ringing.hang_up()         # the caller gives up (in a queue: the Enqueue action gets QueueResult=hangup)
    await fake.hang_up(sid)         # the far end of any call hangs up
    fake.recordings, fake.recording(sid); await fake.replay(fake.callbacks[-1])

A call to an *unscripted* number is not acted out: the test drives it by hand (`call_status`, `answer_call`,
`press`), as before the model. Every <Dial>ed leg and API-added participant is modelled; an unscripted one rings
until `RingingCall.answer()` (or its timeout). TwiML supported: see `twiml`. Nothing sleeps for real: what takes
time waits for `advance` (or, standalone, `voice_realtime=True`). A call placed by opaska in the background may
not have reached the fake yet: `await fake.phone(n).expect_call()` before advancing. `fake.legs(parent=sid)` lists
the calls a <Dial> placed; `fake.voice_errors` collects crashes of call tasks (a test should end with none).
REST: Calls/{sid}.json POST (Status=completed|canceled, Url, Twiml), Conferences (list by FriendlyName/Status,
fetch, Status=completed), …/Participants (create by conference sid or FriendlyName, list, fetch, update Muted/Hold,
delete), Queues and …/Members (list, fetch, POST Url on a member or "Front"), Recordings (list, fetch .json,
media .wav/.mp3/bare, DELETE 204 then 404). Webhooks are always POSTed (a `…Method` of GET is ignored).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Generic, TypeVar

from aiohttp import web
from twilio.http.async_http_client import AsyncTwilioHttpClient  # type: ignore[import-untyped]  # no py.typed
from twilio.rest import Client  # type: ignore[import-untyped]

from simulator.fake_twilio.autoplay import AutoPlayer
from simulator.fake_twilio.config import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    DEFAULT_NUMBER,
    AutoPlay,
    CallScript,
    FakeConfig,
    VoiceNumber,
)
from simulator.fake_twilio.control import ControlApi
from simulator.fake_twilio.faults import FaultQueue
from simulator.fake_twilio.messaging import Messaging
from simulator.fake_twilio.model import Inbound, VoiceModel
from simulator.fake_twilio.phone import Phone, RingingCall
from simulator.fake_twilio.records import CallbackResult, FakeCall
from simulator.fake_twilio.rest import RestApi
from simulator.fake_twilio.store import Store
from simulator.fake_twilio.voice import Voice
from simulator.fake_twilio.voice_rest import VoiceRest
from simulator.fake_twilio.webhooks import WebhookSender

T = TypeVar("T")


class _Setting(Generic[T]):
    """A `FakeConfig` field read and written through the fake, so `fake.list_lag_s = 5` reaches every part."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    def __get__(self, fake: FakeTwilio, owner: type | None = None) -> T:
        value: T = getattr(fake.config, self._name)
        return value

    def __set__(self, fake: FakeTwilio, value: T) -> None:
        setattr(fake.config, self._name, value)


class FakeTwilio:
    """Start it in a test (`async with FakeTwilio(...) as fake:`) or standalone (`python -m simulator.fake_twilio`).

    `url_map` maps public URL prefixes (what opaska puts in StatusCallback and validates signatures against)
    to where opaska really listens: callbacks are signed over the public URL and delivered to the local one.
    `scripts` say how the phone at each number treats calls (as `phone(n).script(…)`); `voice_numbers` what our
    numbers do with an incoming call; `voice_realtime` lets voice time follow the wall clock (demos).
    """

    account_sid = _Setting[str]()
    auth_token = _Setting[str]()
    host = _Setting[str]()
    port = _Setting[int]()
    phone_number = _Setting[str]()
    numbers = _Setting[frozenset[str] | None]()
    inbound_sms_url = _Setting[str | None]()
    url_map = _Setting[dict[str, str]]()
    auto = _Setting[AutoPlay | None]()
    now = _Setting[Callable[[], datetime]]()
    callback_timeout = _Setting[float]()
    allow_remote_callbacks = _Setting[bool]()
    list_lag_s = _Setting[float]()
    scripts = _Setting[dict[str, CallScript]]()
    voice_numbers = _Setting[dict[str, VoiceNumber]]()

    def __init__(
        self,
        *,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        host: str = "127.0.0.1",
        port: int = 0,
        phone_number: str = DEFAULT_NUMBER,
        numbers: Iterable[str] | None = None,
        inbound_sms_url: str | None = None,
        url_map: Mapping[str, str] | None = None,
        auto: AutoPlay | None = None,
        now: Callable[[], datetime] | None = None,
        callback_timeout: float = 15.0,
        allow_remote_callbacks: bool = False,
        list_lag_s: float = 0.0,
        scripts: Mapping[str, CallScript] | None = None,
        voice_numbers: Mapping[str, VoiceNumber] | None = None,
        voice_realtime: bool = False,
    ) -> None:
        self.config = FakeConfig(
            account_sid=account_sid,
            auth_token=auth_token,
            host=host,
            port=port,
            phone_number=phone_number,
            numbers=frozenset(numbers) if numbers is not None else None,
            inbound_sms_url=inbound_sms_url,
            url_map=dict(url_map or {}),
            auto=auto,
            now=now or (lambda: datetime.now(UTC)),
            callback_timeout=callback_timeout,
            allow_remote_callbacks=allow_remote_callbacks,
            list_lag_s=list_lag_s,
            scripts=dict(scripts or {}),
            voice_numbers=dict(voice_numbers or {}),
        )
        self.voice_realtime = voice_realtime
        self.store = Store()
        self.faults = FaultQueue()
        self.webhooks = WebhookSender(self.config, self.store)
        self.messaging = Messaging(self.config, self.store, self.webhooks)
        self.voice = Voice(self.config, self.store, self.webhooks)
        self.model = VoiceModel(self.config, self.store, self.webhooks, self.voice)
        self.inbound = Inbound(self.model, self.config, self.store)
        self.autoplay = AutoPlayer(self.config, self.messaging, self.voice)
        self.voice_rest = VoiceRest(self.config, self.store, self.model, self.faults)
        self.rest = RestApi(
            self.config, self.store, self.faults, self.messaging, self.voice, self.autoplay, self.voice_rest
        )
        self.control = ControlApi(self, self.store, self.faults, self.messaging, self.voice)
        self._clients: list[AsyncTwilioHttpClient] = []
        self._realtime: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None
        self._expose_test_api()

    def _expose_test_api(self) -> None:
        """What tests read and do, straight from the part that owns it (`fake.messages`, `fake.press(…)`)."""
        self.requests, self.messages = self.store.requests, self.store.messages
        self.calls, self.callbacks = self.store.calls, self.store.callbacks
        self.message, self.call = self.store.message, self.store.call
        self.sent_to, self.calls_to, self.wait_for = self.store.sent_to, self.store.calls_to, self.store.wait_for
        self.fail_next, self.hang_next = self.faults.fail_next, self.faults.hang_next
        self.slow_next, self.lose_next = self.faults.slow_next, self.faults.lose_next
        self.clear_faults = self.faults.clear_faults
        self.post_signed = self.webhooks.post_signed
        self.message_status, self.reply_sms = self.messaging.message_status, self.messaging.reply_sms
        self.call_status, self.gather = self.voice.call_status, self.voice.gather
        self.settle, self.advance = self.model.clock.settle, self.model.clock.advance
        self.conference, self.queue, self.recording = self.model.conference, self.model.queue, self.model.recording
        self.conferences, self.queues, self.recordings = (
            self.model.conferences,
            self.model.queues,
            self.model.recordings,
        )
        self.voice_errors = self.model.clock.errors

    async def idle(self, *, timeout: float = 2.0) -> None:
        """Wait until every automatic callback started so far has been delivered, and every modelled call waits
        on the voice clock."""
        await self.autoplay.idle(timeout=timeout)
        await self.settle(timeout=timeout)

    # -- voice: acting a phone's part ---------------------------------------------------------------------------

    async def answer_call(self, sid: str, *, sign_with: str | None = None) -> str:
        """The callee picks up. A modelled call (ringing by its script "rings") is put through and follows its
        TwiML; any other call gets its initiated/ringing/in-progress callbacks and its TwiML fetched, by hand.
        Returns the TwiML it was answered with ("" for a <Dial>ed leg, which has none)."""
        leg = self.model.leg(sid)
        if leg is None:
            return await self.voice.answer_call(sid, sign_with=sign_with)
        leg.signal("answer")
        await self.settle()
        return leg.call.last_twiml or ""

    async def press(self, sid: str, digits: str, *, sign_with: str | None = None) -> CallbackResult:
        """Keys pressed on an answered call: to the action of the <Gather> it is at (modelled calls) or of the
        TwiML opaska last gave (by hand)."""
        leg = self.model.leg(sid)
        if leg is None:
            return await self.voice.press(sid, digits, sign_with=sign_with)
        leg.press_result, leg.pressed = None, digits
        leg.signal("digits")
        await self.settle()
        if leg.press_result is None:
            raise ValueError(f"{sid} is not at a <Gather>")
        return leg.press_result

    async def hang_up(self, sid: str, *, status: str | None = None) -> None:
        """The phone at the far end of call `sid` hangs up (or, while it rings, ends it with `status`:
        busy, no-answer, failed). A call not modelled gets the `completed` (or `status`) callback by hand."""
        leg = self.model.leg(sid)
        if leg is None:
            await self.voice.call_status(sid, status or "completed")
            return
        if status is not None and status != "completed" and not leg.answered:
            leg.signal(f"reject:{status}")
        else:
            self.model.hang_up(leg, by="callee")
        await self.settle()

    async def incoming_call(
        self,
        *,
        from_: str,
        to: str | None = None,
        url: str | None = None,
        sign_with: str | None = None,
        signed: bool = True,
    ) -> RingingCall:
        """A call from `from_` to our number `to` (default `phone_number`): Twilio POSTs, signed (or with
        `sign_with`'s token, or unsigned), to the number's `voice_url` (or `url`) and follows the TwiML it gets.
        Returns once everything that happens at once has happened; the caller's side: `.hang_up()`."""
        leg = self.inbound.start(from_=from_, to=to or self.phone_number, url=url, sign_with=sign_with, signed=signed)
        await self.settle()
        return RingingCall(self.phone(from_), leg.call)

    async def replay(
        self, callback: CallbackResult, *, sign_with: str | None = None, signed: bool = True
    ) -> CallbackResult:
        """Send a webhook again, as Twilio does on a retry: same URL, same parameters, signed anew."""
        return await self.post_signed(callback.url, callback.params, sign_with=sign_with, signed=signed)

    def legs(self, *, parent: str | None = None) -> list[FakeCall]:
        """Calls a <Dial> placed, oldest first (those of call `parent` only, when given)."""
        return [c for c in self.store.calls if c.parent_call_sid and (parent is None or c.parent_call_sid == parent)]

    @property
    def pending_faults(self) -> int:
        return self.faults.pending

    def phone(self, number: str) -> Phone:
        """A relative's phone, for tests that read like a story (`await fake.phone(n).expect_sms("SOS")`);
        `.script(…)` says how it treats calls."""
        return Phone(self, number)

    # -- lifecycle ----------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL to put where the library has `https://api.twilio.com`."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        self.rest.add_routes(app.router)
        self.control.add_routes(app.router)
        app.router.add_route("*", "/{tail:.*}", self.rest.not_found)
        # A short shutdown: hung requests are woken by `faults.wake_all`; nothing else is slow.
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if self.port == 0:
            server = site._server  # aiohttp keeps the bound sockets here; port 0 asks the OS for a free one
            assert isinstance(server, asyncio.Server)
            self.port = int(server.sockets[0].getsockname()[1])
        self.webhooks.open()
        if self.voice_realtime:
            self._realtime = asyncio.get_running_loop().create_task(self.model.clock.run_realtime())

    async def stop(self) -> None:
        self.faults.wake_all()
        if self._realtime is not None:
            self._realtime.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._realtime
        await self.autoplay.cancel()
        await self.model.clock.cancel()
        for http in self._clients:
            await http.close()
        await self.webhooks.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeTwilio:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- the real client, pointed here ------------------------------------------------------------------------

    def point_client(self, client: Client) -> Client:
        """Send a real `Client`'s Messages/Calls requests to the fake (the library builds every URL from
        `client.api.base_url`, default `https://api.twilio.com`). Region/edge must stay unset: they rewrite
        the host name."""
        client.api.base_url = self.url
        return client

    def client(
        self,
        *,
        auth_token: str | None = None,
        account_sid: str | None = None,
        max_retries: int | None = None,
        timeout: float | None = None,
    ) -> Client:
        """A real `twilio.rest.Client` with the library's `AsyncTwilioHttpClient`, aimed at the fake; closed by
        `stop()`. `max_retries` is the library's (aiohttp_retry re-POSTs on any 5xx: keep it None in production).
        `timeout` is passed on as the library takes it — and the async client ignores it (see the tests)."""
        http = AsyncTwilioHttpClient(max_retries=max_retries, timeout=timeout)
        self._clients.append(http)
        client = Client(
            account_sid or self.account_sid,
            self.auth_token if auth_token is None else auth_token,
            http_client=http,
            environment={},  # TWILIO_REGION/TWILIO_EDGE from the environment would rewrite our host name
        )
        return self.point_client(client)
