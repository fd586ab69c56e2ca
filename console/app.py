"""The console application: pages, JSON API and the live WebSocket."""

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.alarms import repository
from alarm_center.alarms.views import AlarmView, alarm_views
from alarm_center.escalation import presence
from console.alarm_notify import router as alarm_notify_router
from console.band_rejects import router as band_rejects_router
from console.context import ConsoleContext
from console.mqtt_hooks import router as mqtt_hooks_router
from console.twilio_webhooks import router as twilio_webhooks_router
from opaska.clock import Clock, SystemClock

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    context: ConsoleContext = request.app.state.context
    async with context.session_factory() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(_session)]


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


def create_app(context: ConsoleContext, *, clock: Clock | None = None) -> FastAPI:
    console = ConsolePresence(context, clock or SystemClock())

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        feed_task = asyncio.create_task(context.feed.run(), name="live-feed") if context.run_feed else None
        presence_task = asyncio.create_task(console.run(), name="console-presence")
        try:
            yield
        finally:
            for task in (presence_task, feed_task):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    # No Swagger UI or ReDoc: they load from a CDN, and a centre's console must work offline.
    # The OpenAPI document itself is served at /openapi.json.
    app = FastAPI(title="opaska console", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.context = context
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = Jinja2Templates(directory=HERE / "templates")
    app.include_router(mqtt_hooks_router)
    app.include_router(band_rejects_router)
    app.include_router(twilio_webhooks_router)
    app.include_router(alarm_notify_router)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    async def readyz(session: SessionDep) -> JSONResponse:
        """The database answers and the live feed is running."""
        checks: dict[str, str] = {}
        try:
            await session.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unreachable: {type(exc).__name__}"
        checks["live_feed"] = "ok" if context.feed.healthy else "not running"
        ready = all(value == "ok" for value in checks.values())
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/api/alarms", tags=["alarms"])
    async def list_open_alarms(session: SessionDep) -> list[AlarmView]:
        """Open alarms, most urgent first, then oldest first."""
        return await alarm_views(session, await repository.open_alarms(session))

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def queue_page(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(request, "queue.html", {})

    @app.websocket("/ws/live")
    async def live(websocket: WebSocket) -> None:
        """A snapshot of open alarms, then every alarm event as it commits. Reconnect to re-sync."""
        await websocket.accept()
        await console.connected()
        try:
            await _stream(websocket)
        finally:
            await console.disconnected()

    async def _stream(websocket: WebSocket) -> None:
        async with context.feed.subscribe() as queue:
            alarms, cursor = await context.feed.snapshot()
            await websocket.send_json(
                {"type": "snapshot", "cursor": cursor, "alarms": [a.model_dump(mode="json") for a in alarms]}
            )
            receiver = asyncio.create_task(_drain_client(websocket))
            try:
                while not receiver.done():
                    getter = asyncio.create_task(queue.get())
                    done, _ = await asyncio.wait({getter, receiver}, return_when=asyncio.FIRST_COMPLETED)
                    if getter not in done:
                        getter.cancel()
                        break
                    message: dict[str, Any] = getter.result()
                    await websocket.send_json(message)
                    if message["type"] == "overflow":
                        await websocket.close(code=1013)
                        break
            except WebSocketDisconnect:
                pass
            finally:
                receiver.cancel()

    return app


async def _drain_client(websocket: WebSocket) -> None:
    """Read (and ignore) what the browser sends, so a closed socket is noticed at once."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            await websocket.receive_text()
