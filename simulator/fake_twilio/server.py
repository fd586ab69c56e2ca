"""A fake Twilio: the REST subset the `twilio` library uses for SMS and calls, and signed webhooks back to opaska.

The real `twilio.rest.Client` talks to it over HTTP (`FakeTwilio.client()`, or `point_client`), so the code under
test is the code that runs in production. It records every request and everything created, sends status callbacks,
SMS replies and key presses signed exactly as Twilio signs them, and acts out the faults a sender must survive:
5xx/429 answers, hangs past the client's timeout, and "created, but the response was lost".
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import ipaddress
import logging
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlencode, urljoin, urlsplit

import aiohttp
from aiohttp import web
from twilio.http.async_http_client import AsyncTwilioHttpClient  # type: ignore[import-untyped]  # no py.typed
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]
from twilio.rest import Client  # type: ignore[import-untyped]

from simulator.fake_twilio.phone import Phone
from simulator.fake_twilio.records import (
    API_VERSION,
    CALL_EVENT_OF_STATUS,
    CALL_FINAL_STATUSES,
    CALL_STATUSES,
    MESSAGE_STATUSES,
    CallbackResult,
    FakeCall,
    FakeMessage,
    RecordedRequest,
    is_e164,
    is_sender,
    new_sid,
    parse_time_filter,
    rfc2822,
)

log = logging.getLogger(__name__)

DEFAULT_ACCOUNT_SID = "AC" + "0f" * 16
DEFAULT_AUTH_TOKEN = "fa4e" * 8
DEFAULT_NUMBER = "+48221234567"
Resource = Literal["messages", "calls"]


class TwilioError(Exception):
    """An error answered in Twilio's JSON shape: `{"code", "message", "more_info", "status"}`."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def response(self) -> web.Response:
        body = {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }
        headers = {"WWW-Authenticate": 'Basic realm="Twilio API"'} if self.status == 401 else None
        return web.json_response(body, status=self.status, headers=headers)


_SERVER_ERRORS = {500: (20500, "Internal Server Error"), 503: (20503, "Service Unavailable")}


@dataclass
class Fault:
    """What the fake does to one create request (POST Messages.json / Calls.json) instead of answering it well.

    - `error`: nothing is created; the answer is `status` (5xx, or 429 "Too Many Requests") in Twilio's shape.
    - `hang`: the answer never comes; after `seconds` the connection is dropped. With `created`, the
      message/call was created first — a client timeout then hides a success.
    - `lost`: created and recorded, then the answer is lost: a 500 (`lost_as="500"`, what the async client's
      `max_retries` re-POSTs — a second SMS) or a dropped connection (`lost_as="drop"`).
    - `slow`: answered well, but only after `seconds` (a slow provider, within the client's timeout or not).
    """

    kind: Literal["error", "hang", "lost", "slow"]
    status: int = 500
    code: int | None = None
    seconds: float = 5.0
    created: bool = False
    lost_as: Literal["500", "drop"] = "500"
    only: Resource | None = None

    def applies_to(self, resource: Resource) -> bool:
        return self.only is None or self.only == resource


@dataclass
class AutoPlay:
    """Status callbacks delivered by themselves after each create, `delay` seconds apart (for demos).

    `sms`/`call` are the statuses played in order; `by_number` overrides them per `To` (a relative who never
    answers: `{"+48600000002": ("initiated", "ringing", "no-answer")}`). `digits` presses keys on an answered
    call, per `To` (`{"+48600000001": "1"}`).
    """

    delay: float = 0.2
    sms: tuple[str, ...] = ("sent", "delivered")
    call: tuple[str, ...] = ("initiated", "ringing", "in-progress", "completed")
    by_number: dict[str, tuple[str, ...]] = field(default_factory=dict)
    digits: dict[str, str] = field(default_factory=dict)


class CallbackRefused(RuntimeError):
    """A webhook would have left this machine; the fake only ever talks to loopback addresses unless allowed."""


class FakeTwilio:
    """Start it in a test (`async with FakeTwilio(...) as fake:`) or standalone (`python -m simulator.fake_twilio`).

    `url_map` maps public URL prefixes (what opaska puts in StatusCallback and validates signatures against)
    to where opaska really listens: callbacks are signed over the public URL and delivered to the local one.
    """

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
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.host = host
        self.port = port
        self.phone_number = phone_number
        # When given, a From must be one of "our" numbers (Twilio: 21606 for SMS, 21210 for calls).
        self.numbers = frozenset(numbers) if numbers is not None else None
        self.inbound_sms_url = inbound_sms_url
        self.url_map = dict(url_map or {})
        self.auto = auto
        self.now = now or (lambda: datetime.now(UTC))
        self.callback_timeout = callback_timeout
        self.allow_remote_callbacks = allow_remote_callbacks
        # Twilio's lists are eventually consistent: a message or call shows up in them this long
        # (by `now`) after it was created. A sender that lists at once may not find what it sent.
        self.list_lag_s = list_lag_s

        self.requests: list[RecordedRequest] = []
        self.messages: list[FakeMessage] = []
        self.calls: list[FakeCall] = []
        self.callbacks: list[CallbackResult] = []
        self._faults: deque[Fault] = deque()
        self._changed = asyncio.Event()
        self._closing = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._clients: list[AsyncTwilioHttpClient] = []
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    # -- lifecycle ----------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL to put where the library has `https://api.twilio.com`."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        api = f"/{API_VERSION}/Accounts/{{account}}"
        app.router.add_route("*", api + "/Messages.json", self._messages)
        app.router.add_route("*", api + "/Messages/{sid}.json", self._message)
        app.router.add_route("*", api + "/Calls.json", self._calls)
        app.router.add_route("*", api + "/Calls/{sid}.json", self._call)
        app.router.add_get("/_fake/state", self._control_state)
        app.router.add_post("/_fake/{action}", self._control)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        # A short shutdown: hung requests are woken by `_closing`; nothing else is slow.
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if self.port == 0:
            server = site._server  # aiohttp keeps the bound sockets here; port 0 asks the OS for a free one
            assert isinstance(server, asyncio.Server)
            self.port = int(server.sockets[0].getsockname()[1])
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.callback_timeout))

    async def stop(self) -> None:
        self._closing.set()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for http in self._clients:
            await http.close()
        if self._session is not None:
            await self._session.close()
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

    # -- faults -----------------------------------------------------------------------------------------------

    def fail_next(
        self, n: int = 1, *, status: int = 500, code: int | None = None, only: Resource | None = None
    ) -> None:
        """The next `n` creates get `status` (500/503/429…); nothing is created."""
        self._faults.extend(Fault("error", status=status, code=code, only=only) for _ in range(n))

    def hang_next(
        self, n: int = 1, *, seconds: float = 5.0, created: bool = False, only: Resource | None = None
    ) -> None:
        """The next `n` creates get no answer for `seconds`, then a dropped connection; `created`: made anyway."""
        self._faults.extend(Fault("hang", seconds=seconds, created=created, only=only) for _ in range(n))

    def slow_next(self, n: int = 1, *, seconds: float = 1.0, only: Resource | None = None) -> None:
        """The next `n` creates are answered well, `seconds` late."""
        self._faults.extend(Fault("slow", seconds=seconds, only=only) for _ in range(n))

    def lose_next(self, n: int = 1, *, lost_as: Literal["500", "drop"] = "500", only: Resource | None = None) -> None:
        """The next `n` creates succeed (recorded, callbacks follow) but the answer is a 500 or a dropped line."""
        self._faults.extend(Fault("lost", lost_as=lost_as, only=only) for _ in range(n))

    def clear_faults(self) -> None:
        self._faults.clear()

    @property
    def pending_faults(self) -> int:
        return len(self._faults)

    def _take_fault(self, resource: Resource) -> Fault | None:
        for fault in self._faults:
            if fault.applies_to(resource):
                self._faults.remove(fault)
                return fault
        return None

    # -- looking things up --------------------------------------------------------------------------------------

    def message(self, sid: str) -> FakeMessage:
        return next(m for m in self.messages if m.sid == sid)

    def call(self, sid: str) -> FakeCall:
        return next(c for c in self.calls if c.sid == sid)

    def sent_to(self, number: str) -> list[FakeMessage]:
        """Outbound messages to `number`, oldest first."""
        return [m for m in self.messages if m.to == number and m.direction == "outbound-api"]

    def calls_to(self, number: str) -> list[FakeCall]:
        return [c for c in self.calls if c.to == number]

    def phone(self, number: str) -> Phone:
        """A relative's phone, for tests that read like a story (`await fake.phone(n).expect_sms("SOS")`)."""
        return Phone(self, number)

    async def wait_for(self, predicate: Callable[[], bool], *, timeout: float = 2.0) -> None:
        """Wait until `predicate()` holds; it is checked after every change the fake sees."""
        async with asyncio.timeout(timeout):
            while not predicate():
                changed = self._changed
                await changed.wait()

    async def idle(self, *, timeout: float = 2.0) -> None:
        """Wait until every automatic callback started so far has been delivered."""
        async with asyncio.timeout(timeout):
            while self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)

    def _touch(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # -- acting out: webhooks to opaska ------------------------------------------------------------------------

    async def post_signed(
        self, url: str, params: Mapping[str, str], *, sign_with: str | None = None, signed: bool = True
    ) -> CallbackResult:
        """POST `params` as a form to `url`, signed as Twilio signs: HMAC-SHA1 (auth token) over the URL and the
        sorted POST parameters, base64, in `X-Twilio-Signature`. `sign_with` signs with another token (a forgery);
        `signed=False` sends no signature at all."""
        token = self.auth_token if sign_with is None else sign_with
        signature = RequestValidator(token).compute_signature(url, dict(params)) if signed else None
        target = self._route(url)
        headers = {"User-Agent": "TwilioProxy/1.1", "I-Twilio-Idempotency-Token": new_sid("")}
        if signature is not None:
            headers["X-Twilio-Signature"] = signature
        assert self._session is not None, "start() the fake first"
        async with self._session.post(target, data=dict(params), headers=headers) as response:
            result = CallbackResult(url, target, dict(params), signature, response.status, await response.text())
        self.callbacks.append(result)
        self._touch()
        return result

    def _route(self, url: str) -> str:
        target = url
        for public, local in self.url_map.items():
            if url.startswith(public):
                target = local + url[len(public) :]
                break
        host = urlsplit(target).hostname or ""
        if not self.allow_remote_callbacks and not _is_loopback(host):
            raise CallbackRefused(f"{target} is not on this machine; map it with url_map")
        return target

    async def message_status(
        self,
        sid: str,
        status: str,
        *,
        error_code: int | None = None,
        sign_with: str | None = None,
        signed: bool = True,
    ) -> CallbackResult | None:
        """Move a message to `status` and POST its StatusCallback (if it has one)."""
        if status not in MESSAGE_STATUSES:
            raise ValueError(f"unknown message status {status!r}")
        message = self.message(sid)
        moment = self.now()
        message.status = status
        message.statuses.append(status)
        message.date_updated = moment
        if status == "sent" and message.date_sent is None:
            message.date_sent = moment
        if status in {"failed", "undelivered"}:
            message.error_code = error_code or 30003
        self._touch()
        if not message.status_callback:
            return None
        params = {
            "AccountSid": message.account_sid,
            "ApiVersion": API_VERSION,
            "From": message.from_ or "",
            "MessageSid": message.sid,
            "MessageStatus": status,
            "SmsSid": message.sid,
            "SmsStatus": status,
            "To": message.to,
        }
        if message.messaging_service_sid:
            params["MessagingServiceSid"] = message.messaging_service_sid
        if message.error_code is not None:
            params["ErrorCode"] = str(message.error_code)
        return await self.post_signed(message.status_callback, params, sign_with=sign_with, signed=signed)

    async def call_status(
        self, sid: str, status: str, *, sign_with: str | None = None, signed: bool = True
    ) -> CallbackResult | None:
        """Move a call to `status`; POST its StatusCallback if the call subscribed to that event (Twilio sends
        only the events in StatusCallbackEvent, by default just `completed`)."""
        if status not in CALL_STATUSES:
            raise ValueError(f"unknown call status {status!r}")
        call = self.call(sid)
        moment = self.now()
        call.status = status
        call.statuses.append(status)
        call.date_updated = moment
        if status == "in-progress" and call.start_time is None:
            call.start_time = moment
        if status in CALL_FINAL_STATUSES:
            call.end_time = moment
        self._touch()
        event = CALL_EVENT_OF_STATUS.get(status)
        if not call.status_callback or event not in call.status_callback_events:
            return None
        params = self._call_params(call) | {
            "CallbackSource": "call-progress-events",
            "SequenceNumber": str(len(call.statuses) - 1),
            "Timestamp": rfc2822(moment) or "",
        }
        if status in CALL_FINAL_STATUSES:
            params["CallDuration"] = str(call.duration or 0)
            params["Duration"] = str(-(-(call.duration or 0) // 60))
        return await self.post_signed(call.status_callback, params, sign_with=sign_with, signed=signed)

    async def reply_sms(
        self,
        *,
        from_: str,
        body: str,
        to: str | None = None,
        url: str | None = None,
        sign_with: str | None = None,
        signed: bool = True,
    ) -> CallbackResult:
        """A relative's SMS: recorded as an inbound message (Twilio lists those too) and POSTed to the inbound-SMS
        webhook. `to` defaults to the number that last texted `from_`, else the fake's `phone_number`."""
        target = url or self.inbound_sms_url
        if target is None:
            raise ValueError("no inbound_sms_url configured and no url given")
        if to is None:
            last = next((m for m in reversed(self.sent_to(from_)) if m.from_), None)
            to = last.from_ if last is not None and last.from_ else self.phone_number
        moment = self.now()
        message = FakeMessage(
            sid=new_sid("SM"),
            account_sid=self.account_sid,
            to=to,
            from_=from_,
            body=body,
            status="received",
            date_created=moment,
            date_sent=moment,
            direction="inbound",
            statuses=["received"],
        )
        self.messages.append(message)
        self._touch()
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "Body": body,
            "From": from_,
            "MessageSid": message.sid,
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsMessageSid": message.sid,
            "SmsSid": message.sid,
            "SmsStatus": "received",
            "To": to,
        }
        return await self.post_signed(target, params, sign_with=sign_with, signed=signed)

    async def answer_call(self, sid: str, *, sign_with: str | None = None) -> str:
        """The callee picks up: initiated/ringing/in-progress callbacks (those subscribed), then Twilio fetches the
        call's TwiML — POSTed, signed, to its Url (or the inline Twiml). Returns the TwiML."""
        call = self.call(sid)
        for status in ("initiated", "ringing", "in-progress"):
            if status not in call.statuses:
                await self.call_status(sid, status, sign_with=sign_with)
        if call.twiml is not None:
            call.last_twiml, call.last_twiml_url = call.twiml, None
        else:
            assert call.url is not None
            result = await self.post_signed(call.url, self._call_params(call), sign_with=sign_with)
            call.last_twiml, call.last_twiml_url = result.text, call.url
        self._touch()
        return call.last_twiml

    async def press(
        self, sid: str, digits: str, *, sign_with: str | None = None, signed: bool = True
    ) -> CallbackResult:
        """Key presses on an answered call: POSTed to the action of the <Gather> in the TwiML opaska last gave
        (relative to the URL that TwiML came from; no action means that URL itself, as Twilio does)."""
        call = self.call(sid)
        if call.last_twiml is None:
            await self.answer_call(sid, sign_with=sign_with)
        assert call.last_twiml is not None
        action = gather_action(call.last_twiml)
        if action is None:
            raise ValueError(f"no <Gather> in the TwiML of {sid}: {call.last_twiml!r}")
        base = call.last_twiml_url or call.url or ""
        url = urljoin(base, action) if action else base
        result = await self.gather(url, call_sid=sid, digits=digits, sign_with=sign_with, signed=signed)
        call.last_twiml, call.last_twiml_url = result.text, url
        return result

    async def gather(
        self,
        url: str,
        *,
        call_sid: str,
        digits: str,
        sign_with: str | None = None,
        signed: bool = True,
    ) -> CallbackResult:
        """A <Gather> result POSTed to a given action URL (`Digits`, and the call's parameters)."""
        try:
            call: FakeCall | None = self.call(call_sid)
        except StopIteration:
            call = None
        params = (
            self._call_params(call)
            if call is not None
            else {"AccountSid": self.account_sid, "ApiVersion": API_VERSION, "CallSid": call_sid}
        )
        params |= {"CallStatus": "in-progress", "Digits": digits, "FinishedOnKey": "", "msg": "Gather End"}
        if call is not None:
            call.digits.append(digits)
        return await self.post_signed(url, params, sign_with=sign_with, signed=signed)

    def _call_params(self, call: FakeCall) -> dict[str, str]:
        return {
            "AccountSid": call.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": call.sid,
            "CallStatus": call.status,
            "Called": call.to,
            "Caller": call.from_,
            "Direction": call.direction,
            "From": call.from_,
            "To": call.to,
        }

    # -- automatic callbacks ---------------------------------------------------------------------------------

    def _play(self, coroutine: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await coroutine
            except asyncio.CancelledError:
                raise
            except Exception:
                # A demo's opaska may be down or refuse a callback; the fake keeps serving.
                log.exception("fake twilio: automatic callback failed")

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _auto_message(self, message: FakeMessage, auto: AutoPlay) -> None:
        for status in auto.by_number.get(message.to, auto.sms):
            await asyncio.sleep(auto.delay)
            await self.message_status(message.sid, status)

    async def _auto_call(self, call: FakeCall, auto: AutoPlay) -> None:
        for status in auto.by_number.get(call.to, auto.call):
            await asyncio.sleep(auto.delay)
            if status == "in-progress":
                await self.answer_call(call.sid)
                digits = auto.digits.get(call.to)
                if digits:
                    await asyncio.sleep(auto.delay)
                    await self.press(call.sid, digits)
            else:
                await self.call_status(call.sid, status)

    # -- the REST API --------------------------------------------------------------------------------------------

    async def _record(self, request: web.Request) -> RecordedRequest:
        form = list((await request.post()).items()) if request.method == "POST" else []
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            query=list(request.query.items()),
            form=[(key, str(value)) for key, value in form],
            authorized=self._authorized(request),
        )
        self.requests.append(recorded)
        return recorded

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return hmac.compare_digest(user, self.account_sid) and hmac.compare_digest(password, self.auth_token)

    def _check(self, request: web.Request, recorded: RecordedRequest) -> None:
        if not recorded.authorized:
            raise TwilioError(401, 20003, "Authenticate")
        if request.match_info["account"] != self.account_sid:
            raise TwilioError(404, 20404, f"The requested resource {request.path} was not found")

    async def _handle(
        self, request: web.Request, work: Callable[[RecordedRequest], Awaitable[web.Response]]
    ) -> web.Response:
        recorded = await self._record(request)
        try:
            self._check(request, recorded)
            response = await work(recorded)
        except TwilioError as error:
            response = error.response()
        except _Dropped:
            recorded.status = None
            return _drop(request)
        recorded.status = response.status
        self._touch()
        return response

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        if request.method == "POST":
            return await self._handle(request, lambda recorded: self._create(request, recorded, "messages"))
        if request.method == "GET":
            return await self._handle(request, lambda _: self._list(request, "messages"))
        return _method_not_allowed()

    async def _calls(self, request: web.Request) -> web.StreamResponse:
        if request.method == "POST":
            return await self._handle(request, lambda recorded: self._create(request, recorded, "calls"))
        if request.method == "GET":
            return await self._handle(request, lambda _: self._list(request, "calls"))
        return _method_not_allowed()

    async def _message(self, request: web.Request) -> web.StreamResponse:
        if request.method != "GET":
            return _method_not_allowed()
        return await self._handle(request, lambda _: self._fetch(request, self.messages))

    async def _call(self, request: web.Request) -> web.StreamResponse:
        if request.method != "GET":
            return _method_not_allowed()
        return await self._handle(request, lambda _: self._fetch(request, self.calls))

    async def _not_found(self, request: web.Request) -> web.Response:
        await self._record(request)
        return TwilioError(404, 20404, f"The requested resource {request.path} was not found").response()

    async def _fetch(self, request: web.Request, records: list[FakeMessage] | list[FakeCall]) -> web.Response:
        sid = request.match_info["sid"]
        for record in records:
            if record.sid == sid:
                return web.json_response(record.to_json())
        raise TwilioError(404, 20404, f"The requested resource {request.path} was not found")

    async def _create(self, request: web.Request, recorded: RecordedRequest, resource: Resource) -> web.Response:
        fault = self._take_fault(resource)
        if fault is not None:
            recorded.fault = fault.kind
        if fault is not None and fault.kind == "error":
            code, text = _SERVER_ERRORS.get(fault.status, (20429, "Too Many Requests"))
            raise TwilioError(fault.status, fault.code or code, text)
        if fault is not None and fault.kind == "hang" and not fault.created:
            await self._hang(fault.seconds)
        if fault is not None and fault.kind == "slow":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), fault.seconds)
        form: dict[str, list[str]] = {}
        for key, value in recorded.form:
            form.setdefault(key, []).append(value)
        record = self._new_message(form) if resource == "messages" else self._new_call(form)
        if fault is not None and fault.kind == "hang":
            await self._hang(fault.seconds)
        if fault is not None and fault.kind == "lost":
            if fault.lost_as == "drop":
                raise _Dropped
            raise TwilioError(500, 20500, "Internal Server Error")
        return web.json_response(record.to_json(), status=201)

    async def _hang(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)
        raise _Dropped

    def _new_message(self, form: dict[str, list[str]]) -> FakeMessage:
        def one(name: str) -> str:
            return form.get(name, [""])[-1]

        to, from_, service, body = one("To"), one("From"), one("MessagingServiceSid"), one("Body")
        callback = one("StatusCallback")
        if not to:
            raise TwilioError(400, 21604, "A 'To' phone number is required.")
        if not is_e164(to):
            raise TwilioError(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if not from_ and not service:
            raise TwilioError(400, 21603, "A 'From' phone number is required.")
        if from_ and not is_sender(from_):
            raise TwilioError(400, 21212, f"Invalid From Number (caller ID): {from_}")
        if from_ and self.numbers is not None and from_ not in self.numbers:
            raise TwilioError(
                400,
                21606,
                f"The 'From' phone number provided ({from_}) is not a valid  message-capable Twilio phone number",
            )
        if service and not (service.startswith("MG") and len(service) == 34):
            raise TwilioError(400, 21701, f"The Messaging Service Sid {service} is invalid.")
        if not body and "MediaUrl" not in form:
            raise TwilioError(400, 21602, "Message body is required.")
        if len(body) > 1600:
            raise TwilioError(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        if callback and not _is_http_url(callback):
            raise TwilioError(400, 21609, f"Invalid StatusCallback url: {callback}")
        status = "accepted" if service and not from_ else "queued"
        message = FakeMessage(
            sid=new_sid("SM"),
            account_sid=self.account_sid,
            to=to,
            from_=from_ or None,
            body=body,
            status=status,
            date_created=self.now(),
            messaging_service_sid=service or None,
            status_callback=callback or None,
            form=form,
            statuses=[status],
        )
        self.messages.append(message)
        if self.auto is not None:
            self._play(self._auto_message(message, self.auto))
        return message

    def _new_call(self, form: dict[str, list[str]]) -> FakeCall:
        def one(name: str) -> str:
            return form.get(name, [""])[-1]

        to, from_, url, twiml, callback = one("To"), one("From"), one("Url"), one("Twiml"), one("StatusCallback")
        if not to:
            raise TwilioError(400, 21201, "No 'To' number is specified")
        if not is_e164(to):
            raise TwilioError(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if not from_:
            raise TwilioError(400, 21213, "No 'From' number is specified")
        if not is_e164(from_):
            raise TwilioError(400, 21212, f"Invalid 'From' Phone Number: {from_}")
        if self.numbers is not None and from_ not in self.numbers:
            raise TwilioError(
                400, 21210, f"The source phone number provided, {from_}, is not yet verified for your account."
            )
        if not url and not twiml:
            raise TwilioError(400, 21205, "Url parameter is required.")
        if url and not _is_http_url(url):
            raise TwilioError(400, 21205, f"Url is not a valid URL: {url}")
        if callback and not _is_http_url(callback):
            raise TwilioError(400, 21609, f"The StatusCallback URL {callback} is not a valid URL.")
        events = tuple(event for value in form.get("StatusCallbackEvent", []) for event in value.split())
        unknown = set(events) - {"initiated", "ringing", "answered", "completed"}
        if unknown:
            raise TwilioError(400, 21626, f"Invalid StatusCallbackEvent: {', '.join(sorted(unknown))}")
        call = FakeCall(
            sid=new_sid("CA"),
            account_sid=self.account_sid,
            to=to,
            from_=from_,
            status="queued",
            date_created=self.now(),
            url=url or None,
            twiml=twiml or None,
            status_callback=callback or None,
            # Twilio always sends `completed`; the other events only when asked for.
            status_callback_events=tuple(dict.fromkeys((*events, "completed"))),
            form=form,
            statuses=["queued"],
        )
        self.calls.append(call)
        if self.auto is not None:
            self._play(self._auto_call(call, self.auto))
        return call

    async def _list(self, request: web.Request, resource: Resource) -> web.Response:
        query = request.query
        records: list[Any] = list(self.messages if resource == "messages" else self.calls)
        if self.list_lag_s > 0:
            visible_before = self.now() - timedelta(seconds=self.list_lag_s)
            records = [r for r in records if r.date_created <= visible_before]
        time_field = "DateSent" if resource == "messages" else "StartTime"
        for key in ("To", "From", "Status"):
            if key in query:
                value = query[key]
                records = [r for r in records if getattr(r, "from_" if key == "From" else key.lower()) == value]
        for suffix in ("", ">", "<"):
            key = time_field + suffix
            if key not in query:
                continue
            try:
                bound = parse_time_filter(query[key])
            except ValueError:
                raise TwilioError(400, 20001, f"Invalid {key}: {query[key]}") from None
            records = [r for r in records if _time_matches(r.listing_time(), suffix, bound)]
        # Newest first, as Twilio lists them.
        records.sort(key=lambda r: r.listing_time(), reverse=True)
        try:
            page_size = max(1, min(1000, int(query.get("PageSize", "50"))))
            page = max(0, int(query.get("Page", "0")))
        except ValueError:
            raise TwilioError(400, 20001, "Invalid paging parameters") from None
        chunk = records[page * page_size : (page + 1) * page_size]
        filters = [(k, v) for k, v in query.items() if k not in {"Page", "PageSize", "PageToken"}]

        def page_uri(number: int) -> str:
            return f"{request.path}?{urlencode([*filters, ('PageSize', str(page_size)), ('Page', str(number))])}"

        has_next = (page + 1) * page_size < len(records)
        body = {
            resource: [r.to_json() for r in chunk],
            "end": page * page_size + max(0, len(chunk) - 1),
            "first_page_uri": page_uri(0),
            "next_page_uri": page_uri(page + 1) if has_next else None,
            "page": page,
            "page_size": page_size,
            "previous_page_uri": page_uri(page - 1) if page > 0 else None,
            "start": page * page_size,
            "uri": page_uri(page),
        }
        return web.json_response(body)

    # -- control endpoints for demos (curl), unauthenticated: the fake binds to loopback -----------------------

    async def _control_state(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "messages": [m.to_json() for m in self.messages],
                "calls": [c.to_json() | {"url": c.url, "digits": c.digits} for c in self.calls],
                "callbacks": [{"url": c.url, "status": c.status} for c in self.callbacks],
                "pending_faults": self.pending_faults,
            }
        )

    async def _control(self, request: web.Request) -> web.Response:
        form = {key: str(value) for key, value in (await request.post()).items()}
        action = request.match_info["action"]
        result: CallbackResult | None
        try:
            if action == "reply":
                result = await self.reply_sms(from_=form["From"], body=form["Body"], to=form.get("To"))
            elif action == "press":
                result = await self.press(form["CallSid"], form["Digits"])
            elif action == "answer":
                return web.Response(text=await self.answer_call(form["CallSid"]), content_type="text/xml")
            elif action == "message-status":
                result = await self.message_status(form["Sid"], form["Status"])
            elif action == "call-status":
                result = await self.call_status(form["Sid"], form["Status"])
            elif action == "fault":
                count, kind = int(form.get("Count", "1")), form.get("Kind", "error")
                if kind == "error":
                    self.fail_next(count, status=int(form.get("Status", "500")))
                elif kind == "hang":
                    self.hang_next(count, seconds=float(form.get("Seconds", "30")), created=form.get("Created") == "1")
                else:
                    self.lose_next(count, lost_as="drop" if form.get("LostAs") == "drop" else "500")
                result = None
            else:
                return web.json_response({"error": f"unknown action {action}"}, status=404)
        except (KeyError, ValueError, StopIteration) as error:
            return web.json_response({"error": repr(error)}, status=400)
        body = None if result is None else {"url": result.url, "status": result.status, "text": result.text}
        return web.json_response({"callback": body})


class _Dropped(Exception):
    """The answer is never sent: the connection is cut."""


def _drop(request: web.Request) -> web.Response:
    transport = request.transport
    if transport is not None:
        transport.abort()
    return web.Response(status=500)


def _method_not_allowed() -> web.Response:
    return TwilioError(405, 20004, "Method not allowed").response()


def _is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in {"http", "https"} and bool(parts.netloc)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _time_matches(moment: datetime, suffix: str, bound: datetime | date) -> bool:
    # `DateSent>` arrives as `DateSent>=` on the wire (key, then "="): Twilio's bounds are inclusive.
    if isinstance(bound, datetime):
        value: datetime | date = moment
        bound = bound.replace(microsecond=0)
    else:
        value = moment.astimezone(UTC).date()
    if suffix == ">":
        return value >= bound
    if suffix == "<":
        return value <= bound
    return value == bound


def gather_action(twiml: str) -> str | None:
    """The `action` of the first <Gather> in a TwiML document ("" when it has none), or None without a Gather."""
    root = ET.fromstring(twiml)  # noqa: S314 - TwiML from the opaska under test on this machine
    for element in root.iter():
        if element.tag == "Gather":
            return element.get("action", "")
    return None
