"""The console application: pages, JSON API, the live WebSocket, health and metrics, put together."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles

from alarm_center.escalation.auditor import EscalationAuditor
from console.alarm_notify import router as alarm_notify_router
from console.api.alarms import router as alarms_router
from console.api.residents import router as residents_router
from console.api.supervisor import router as supervisor_router
from console.api.unattended import router as unattended_router
from console.api.voice_calls import router as voice_calls_router
from console.auth.address_locks import AddressLocks
from console.auth.api import router as login_router
from console.auth.failures_api import router as login_failures_router
from console.auth.second_factor_api import router as second_factor_router
from console.band_rejects import router as band_rejects_router
from console.body_limit import BodyLimit
from console.body_text import JsonText, validation_failed
from console.context import ConsoleContext
from console.forwarded import TrustedProxies
from console.health_routes import database_gate
from console.health_routes import router as health_router
from console.live_socket import router as live_router
from console.pages import router as pages_router
from console.presence import ConsolePresence
from console.relative_status import router as relative_status_router
from console.routes import feature_routers
from console.security_headers import SecurityHeaders
from console.twilio_webhooks import router as twilio_webhooks_router
from console.voice_hooks import router as voice_hooks_router
from console.voice_inbound import router as voice_inbound_router
from console.voice_recording import router as voice_recording_router
from core.clock import Clock, SystemClock
from core.health import DatabaseWatch, Health, database_check

HERE = Path(__file__).resolve().parent


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
        canary_task = asyncio.create_task(context.canary.run(), name="alarm-canary") if context.canary else None
        for task in (feed_task, presence_task, database_task, auditor_task, canary_task):
            if task is not None:
                health.watch(task)
        health.add_check("escalation", auditor.check)
        if context.canary is not None:
            health.add_check("alarm canary", context.canary.state)
        try:
            yield
        finally:
            for task in (canary_task, presence_task, feed_task, database_task, auditor_task):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    # No Swagger UI or ReDoc: they load from a CDN, and a centre's console must work offline.
    # The OpenAPI document itself is served at /openapi.json.
    app = FastAPI(title="opaska console", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None)
    # Inside the body limit (BodyLimit, added after it, is outer): it reads only a bounded body.
    app.add_middleware(JsonText)
    app.add_exception_handler(RequestValidationError, validation_failed)
    app.add_middleware(BodyLimit)
    app.state.context = context
    app.state.clock = clock
    app.state.health = health
    app.state.presence = console
    app.state.login_turns = AddressLocks()
    app.state.check_database = database_check(context.session_factory)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.middleware("http")(database_gate(database))
    # Added last, so outermost: every answer of the layers above (413, 503 included) gets the
    # headers, and both see the request as the trusted proxy describes it.
    app.add_middleware(SecurityHeaders, map_tiles_url=context.settings.map_tiles_url)
    app.add_middleware(TrustedProxies, trusted=context.settings.trusted_proxies)
    for router in (
        pages_router,
        relative_status_router,
        *feature_routers(),
        band_rejects_router,
        # Before twilio_webhooks: its /twilio/voice/{notification_id} would take /twilio/voice/incoming.
        voice_inbound_router,
        voice_hooks_router,
        twilio_webhooks_router,
        voice_recording_router,
        login_router,
        login_failures_router,
        second_factor_router,
        alarms_router,
        alarm_notify_router,
        supervisor_router,
        unattended_router,
        residents_router,
        voice_calls_router,
        health_router,
        live_router,
    ):
        app.include_router(router)
    return app
