"""A fake Twilio: the REST subset the `twilio` library uses for SMS and calls, and signed webhooks back to opaska.

The real `twilio.rest.Client` talks to it over HTTP (`FakeTwilio.client()`, or `point_client`), so the code under
test is the code that runs in production. It records every request and everything created, sends status callbacks,
SMS replies and key presses signed exactly as Twilio signs them, and acts out the faults a sender must survive:
5xx/429 answers, hangs past the client's timeout, and "created, but the response was lost".

`FakeTwilio` puts the parts together: `rest` (the HTTP resources), `messaging` and `voice` (what happens to a
message or call, as webhooks), `webhooks` (signing and delivery), `faults`, `autoplay`, `control` (curl for
demos) and `store` (what was seen), all sharing one `FakeConfig`.
"""

from __future__ import annotations

import asyncio
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
    FakeConfig,
)
from simulator.fake_twilio.control import ControlApi
from simulator.fake_twilio.faults import FaultQueue
from simulator.fake_twilio.messaging import Messaging
from simulator.fake_twilio.phone import Phone
from simulator.fake_twilio.rest import RestApi
from simulator.fake_twilio.store import Store
from simulator.fake_twilio.voice import Voice
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
        )
        self.store = Store()
        self.faults = FaultQueue()
        self.webhooks = WebhookSender(self.config, self.store)
        self.messaging = Messaging(self.config, self.store, self.webhooks)
        self.voice = Voice(self.config, self.store, self.webhooks)
        self.autoplay = AutoPlayer(self.config, self.messaging, self.voice)
        self.rest = RestApi(self.config, self.store, self.faults, self.messaging, self.voice, self.autoplay)
        self.control = ControlApi(self.store, self.faults, self.messaging, self.voice)
        self._clients: list[AsyncTwilioHttpClient] = []
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
        self.call_status, self.answer_call = self.voice.call_status, self.voice.answer_call
        self.press, self.gather = self.voice.press, self.voice.gather
        self.idle = self.autoplay.idle

    @property
    def pending_faults(self) -> int:
        return self.faults.pending

    def phone(self, number: str) -> Phone:
        """A relative's phone, for tests that read like a story (`await fake.phone(n).expect_sms("SOS")`)."""
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

    async def stop(self) -> None:
        self.faults.wake_all()
        await self.autoplay.cancel()
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
