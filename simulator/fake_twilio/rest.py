"""The REST resources the `twilio` library calls: Messages and Calls (create, fetch, list), authenticated and
recorded as Twilio would see them, with faults acted out around each create."""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Awaitable, Callable
from datetime import timedelta

from aiohttp import web

from simulator.fake_twilio.autoplay import AutoPlayer
from simulator.fake_twilio.config import FakeConfig, Resource
from simulator.fake_twilio.errors import Dropped, TwilioError, drop, not_found
from simulator.fake_twilio.faults import FaultQueue
from simulator.fake_twilio.listing import list_page
from simulator.fake_twilio.messaging import Messaging
from simulator.fake_twilio.records import API_VERSION, FakeCall, FakeMessage, RecordedRequest
from simulator.fake_twilio.store import Store
from simulator.fake_twilio.voice import Voice
from simulator.fake_twilio.voice_rest import VoiceRest

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class RestApi:
    def __init__(
        self,
        config: FakeConfig,
        store: Store,
        faults: FaultQueue,
        messaging: Messaging,
        voice: Voice,
        autoplay: AutoPlayer,
        voice_rest: VoiceRest,
    ) -> None:
        self._config = config
        self._store = store
        self._faults = faults
        self._messaging = messaging
        self._voice = voice
        self._autoplay = autoplay
        self._voice_rest = voice_rest

    def add_routes(self, router: web.UrlDispatcher) -> None:
        api = f"/{API_VERSION}/Accounts/{{account}}"
        router.add_route("*", api + "/Messages.json", self._collection("messages"))
        router.add_route("*", api + "/Messages/{sid}.json", self._instance(self._store.messages))
        router.add_route("*", api + "/Calls.json", self._collection("calls"))
        router.add_route(
            "*", api + "/Calls/{sid}.json", self._instance(self._store.calls, self._voice_rest.update_call)
        )
        self._voice_rest.add_routes(router, self._handle)

    async def not_found(self, request: web.Request) -> web.Response:
        """Any other path: recorded, then Twilio's 404."""
        await self._record(request)
        return not_found(request.path).response()

    def _collection(self, resource: Resource) -> _Handler:
        """Messages.json / Calls.json: POST creates, GET lists."""

        async def handle(request: web.Request) -> web.StreamResponse:
            if request.method == "POST":
                return await self._handle(request, lambda recorded: self._create(recorded, resource))
            if request.method == "GET":
                return await self._handle(request, lambda _: self._list(request, resource))
            return _method_not_allowed()

        return handle

    def _instance(
        self,
        records: list[FakeMessage] | list[FakeCall],
        update: Callable[[web.Request, RecordedRequest], Awaitable[web.Response]] | None = None,
    ) -> _Handler:
        """Messages/{sid}.json / Calls/{sid}.json: GET fetches; POST updates (a live call: hang up, redirect)."""

        async def handle(request: web.Request) -> web.StreamResponse:
            if request.method == "POST" and update is not None:
                return await self._handle(request, lambda recorded: update(request, recorded))
            if request.method != "GET":
                return _method_not_allowed()
            return await self._handle(request, lambda _: _fetch(request, records))

        return handle

    async def _handle(
        self, request: web.Request, work: Callable[[RecordedRequest], Awaitable[web.Response]]
    ) -> web.Response:
        recorded = await self._record(request)
        try:
            self._check(request, recorded)
            response = await work(recorded)
        except TwilioError as error:
            response = error.response()
        except Dropped:
            recorded.status = None
            return drop(request)
        recorded.status = response.status
        self._store.touch()
        return response

    async def _record(self, request: web.Request) -> RecordedRequest:
        form = list((await request.post()).items()) if request.method == "POST" else []
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            query=list(request.query.items()),
            form=[(key, str(value)) for key, value in form],
            authorized=self._authorized(request),
        )
        self._store.requests.append(recorded)
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
        return hmac.compare_digest(user, self._config.account_sid) and hmac.compare_digest(
            password, self._config.auth_token
        )

    def _check(self, request: web.Request, recorded: RecordedRequest) -> None:
        if not recorded.authorized:
            raise TwilioError(401, 20003, "Authenticate")
        if request.match_info["account"] != self._config.account_sid:
            raise not_found(request.path)

    async def _create(self, recorded: RecordedRequest, resource: Resource) -> web.Response:
        fault = self._faults.take(resource)
        if fault is not None:
            recorded.fault = fault.kind
            await self._faults.before_create(fault)
        form: dict[str, list[str]] = {}
        for key, value in recorded.form:
            form.setdefault(key, []).append(value)
        record: FakeMessage | FakeCall
        if resource == "messages":
            record = self._messaging.create(form)
            self._autoplay.message_created(record)
        else:
            record = self._voice.create(form)
            script = self._config.scripts.get(record.to)
            if script is not None:
                self._voice_rest.model.start_outbound(record, script)  # the voice model acts it out
            else:
                self._autoplay.call_created(record)
        if fault is not None:
            await self._faults.after_create(fault)
        return web.json_response(record.to_json(), status=201)

    async def _list(self, request: web.Request, resource: Resource) -> web.Response:
        visible_before = None
        if self._config.list_lag_s > 0:
            visible_before = self._config.now() - timedelta(seconds=self._config.list_lag_s)
        records = self._store.messages if resource == "messages" else self._store.calls
        body = list_page(request.path, request.query, resource, records, visible_before=visible_before)
        return web.json_response(body)


async def _fetch(request: web.Request, records: list[FakeMessage] | list[FakeCall]) -> web.Response:
    sid = request.match_info["sid"]
    for record in records:
        if record.sid == sid:
            return web.json_response(record.to_json())
    raise not_found(request.path)


def _method_not_allowed() -> web.Response:
    return TwilioError(405, 20004, "Method not allowed").response()
