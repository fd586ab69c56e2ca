"""The console application: pages, JSON API and the live WebSocket."""

import asyncio
import contextlib
import html
import logging
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from alarm_center.escalation import presence
from alarm_center.escalation.auditor import EscalationAuditor
from console.alarm_notify import router as alarm_notify_router
from console.api.alarms import router as alarms_router
from console.api.residents import router as residents_router
from console.api.supervisor import router as supervisor_router
from console.auth import sessions
from console.auth.api import router as login_router
from console.auth.current import StaffPrincipal, principal_for_token
from console.band_rejects import router as band_rejects_router
from console.body_limit import BodyLimit
from console.context import ConsoleContext
from console.pages import router as pages_router
from console.relative_status import router as relative_status_router
from console.routes import feature_routers
from console.twilio_webhooks import router as twilio_webhooks_router
from core.clock import Clock, SystemClock
from core.health import DatabaseWatch, Health, database_check

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent


# How often a live page re-checks its login (and keeps it alive while the page is open).
LIVE_SESSION_CHECK_S = 60.0
# WebSocket close codes: 1008 policy violation (not logged in, or the session ended).
WS_NOT_LOGGED_IN = 1008
# Served while the database is unreachable: they need none, and /readyz is what says it is down.
# Twilio's webhooks always try the database themselves: a relative's answer ("I am going") is worth
# the attempt, and Twilio gets a real error if it fails rather than a guess from the last probe.
_SERVED_WITHOUT_DATABASE = ("/healthz", "/readyz", "/metrics", "/static/", "/twilio/")


class ConsolePresence:
    """This console's row in `service_state`: alive, and whether a live client is connected, so
    escalation can tell a centre with operators at their screens from one with nobody there."""

    def __init__(self, context: ConsoleContext, clock: Clock) -> None:
        self._sessions = context.session_factory
        self._clock = clock
        self.name = f"{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.clients = 0
        self._since: Any = None

    async def connected(self) -> None:
        self.clients += 1
        if self.clients == 1:
            self._since = self._clock.now()
        await self.record()

    async def disconnected(self) -> None:
        self.clients -= 1
        if self.clients == 0:
            self._since = None
        await self.record()

    async def record(self) -> None:
        try:
            async with self._sessions() as session, session.begin():
                await presence.record_console(session, name=self.name, clients_since=self._since, now=self._clock.now())
        except Exception as exc:  # the database is away: alarms report it; the next beat tries again
            log.debug("console presence not recorded: %s", exc)

    async def run(self) -> None:
        while True:
            await self.record()
            await self._clock.sleep(presence.EVERY_S)
            await asyncio.sleep(0)  # a FakeClock moved far ahead returns without yielding


def create_app(context: ConsoleContext, *, clock: Clock | None = None, health: Health | None = None) -> FastAPI:
    """The console; `health` is the process's (workers of other parts in this process included)."""
    clock = clock or SystemClock()
    health = health or Health()
    console = ConsolePresence(context, clock)
    database = DatabaseWatch(context.session_factory)
    auditor = EscalationAuditor(context.session_factory, clock)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        feed_task = asyncio.create_task(context.feed.run(), name="live-feed") if context.run_feed else None
        presence_task = asyncio.create_task(console.run(), name="console-presence")
        database_task = asyncio.create_task(database.run(), name="console-database-watch")
        auditor_task = asyncio.create_task(auditor.run(), name="escalation-auditor")
        for task in (feed_task, presence_task, database_task, auditor_task):
            if task is not None:
                health.watch(task)
        health.add_check("escalation", auditor.check)
        try:
            yield
        finally:
            for task in (presence_task, feed_task, database_task, auditor_task):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    # No Swagger UI or ReDoc: they load from a CDN, and a centre's console must work offline.
    # The OpenAPI document itself is served at /openapi.json.
    app = FastAPI(title="opaska console", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.add_middleware(BodyLimit)
    app.state.context = context
    app.state.clock = clock
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.middleware("http")
    async def database_unreachable(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        """While the database does not answer, pages and the API say so at once (503) instead of
        hanging on a connection attempt; health, metrics and static files are served as ever."""
        if database.state == "ok" or request.url.path.startswith(_SERVED_WITHOUT_DATABASE):
            return await call_next(request)
        message = f"Baza danych jest nieosiągalna / the database is unreachable ({database.state})."
        if request.url.path.startswith("/api/") or "text/html" not in request.headers.get("accept", ""):
            return JSONResponse({"detail": message, "database": database.state}, status_code=503)
        return HTMLResponse(
            f"<!doctype html><meta charset=utf-8><title>opaska: baza danych nieosiągalna</title>"
            f"<h1>Baza danych jest nieosiągalna</h1><p>{html.escape(message)}</p>"
            "<p>Alarmy z opasek czekają w opaskach i brokerze; strona odświeży się sama.</p>"
            "<script>setTimeout(() => location.reload(), 5000)</script>",
            status_code=503,
        )

    app.include_router(pages_router)
    app.include_router(relative_status_router)
    for router in feature_routers():
        app.include_router(router)
    app.include_router(band_rejects_router)
    app.include_router(twilio_webhooks_router)
    app.include_router(login_router)
    app.include_router(alarms_router)
    app.include_router(alarm_notify_router)
    app.include_router(supervisor_router)
    app.include_router(residents_router)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    check_database = database_check(context.session_factory)

    @app.get("/readyz", tags=["health"])
    async def readyz() -> JSONResponse:
        """The database answers (within 2 s), the live feed and every worker of this process run
        (the gateway's and engine's too under `opaska run`, with the broker connection), and no
        escalation row is overdue by more than a minute. 503 with the failing checks otherwise."""
        checks = {"database": await check_database()}
        checks["live_feed"] = "ok" if context.feed.healthy else "not running"
        _ready, process_checks = await health.report()
        checks.update(process_checks)
        ready = all(value == "ok" for value in checks.values())
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.websocket("/ws/live")
    async def live(websocket: WebSocket) -> None:
        """A snapshot of the user's open alarms, then every event of their alarms as it commits.
        Needs the session cookie; closed (1008) when the login ends. Reconnect to re-sync."""
        user = await _websocket_user(websocket)
        if user is None:
            # Before accept: the handshake is refused with 403.
            await websocket.close(code=WS_NOT_LOGGED_IN)
            return
        await websocket.accept()
        await console.connected()
        try:
            await _stream(websocket, user)
        finally:
            await console.disconnected()

    async def _websocket_user(websocket: WebSocket) -> StaffPrincipal | None:
        origin = websocket.headers.get("origin")
        # Browsers send Origin on every WebSocket handshake; a page of another site is refused.
        if origin and urlsplit(origin).netloc != websocket.headers.get("host"):
            return None
        token = websocket.cookies.get(sessions.COOKIE, "")
        if not token:
            return None
        async with context.session_factory() as session:
            return await principal_for_token(session, token=token, now=clock.now(), settings=context.settings)

    def _visible_rows(user: StaffPrincipal, alarms: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The alarms (views as JSON, which carry their municipality) this user may see."""
        return [alarm for alarm in alarms if user.sees(alarm.get("municipality_id"))]

    async def _session_alive(websocket: WebSocket) -> None:
        """Return when the login behind this socket has ended (logout, expiry); keeps it alive meanwhile."""
        token = websocket.cookies.get(sessions.COOKIE, "")
        while True:
            await asyncio.sleep(LIVE_SESSION_CHECK_S)
            async with context.session_factory() as session:
                if await principal_for_token(session, token=token, now=clock.now(), settings=context.settings) is None:
                    return

    async def _stream(websocket: WebSocket, user: StaffPrincipal) -> None:
        async with context.feed.subscribe() as queue:
            alarms, cursor = await context.feed.snapshot()
            rows = _visible_rows(user, [a.model_dump(mode="json") for a in alarms])
            await websocket.send_json({"type": "snapshot", "cursor": cursor, "alarms": rows})
            receiver = asyncio.create_task(_drain_client(websocket))
            guard = asyncio.create_task(_session_alive(websocket))
            try:
                while not receiver.done() and not guard.done():
                    getter = asyncio.create_task(queue.get())
                    done, _ = await asyncio.wait({getter, receiver, guard}, return_when=asyncio.FIRST_COMPLETED)
                    if getter not in done:
                        getter.cancel()
                        if guard in done:
                            await websocket.close(code=WS_NOT_LOGGED_IN)
                        break
                    message: dict[str, Any] = getter.result()
                    if message["type"] == "alarm_event":
                        alarm = message.get("alarm")
                        if not isinstance(alarm, dict):
                            continue  # the alarm is gone: nothing to show, and no municipality to judge by
                        rows = _visible_rows(user, [alarm])
                        if not rows:
                            continue
                        message = {**message, "alarm": rows[0]}
                    await websocket.send_json(message)
                    if message["type"] == "overflow":
                        await websocket.close(code=1013)
                        break
            except WebSocketDisconnect:
                pass
            finally:
                receiver.cancel()
                guard.cancel()

    return app


async def _drain_client(websocket: WebSocket) -> None:
    """Read (and ignore) what the browser sends, so a closed socket is noticed at once."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            await websocket.receive_text()
