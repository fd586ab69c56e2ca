"""/healthz, /readyz and /metrics of the console's process, and the door that answers 503 at once
while the database does not."""

import html
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from console.context import ConsoleContext
from console.notifier_mode import notifier_mode
from core.health import DatabaseWatch, Health

# Served while the database is unreachable: they need none, and /readyz is what says it is down.
# Twilio's webhooks always try the database themselves: a relative's answer ("I am going") is worth
# the attempt, and Twilio gets a real error if it fails rather than a guess from the last probe.
_SERVED_WITHOUT_DATABASE = ("/healthz", "/readyz", "/metrics", "/static/", "/twilio/")

router = APIRouter()


@router.get("/healthz", tags=["health"])
async def healthz(request: Request) -> dict[str, str | bool]:
    """The process is up; and which notifier the centre runs: `test_mode` true means SMS and calls
    are recorded, not sent (no Twilio configured)."""
    mode = notifier_mode(request.app.state.context)
    return {"status": "ok", "notifier": mode, "test_mode": mode == "outbox"}


@router.get("/readyz", tags=["health"])
async def readyz(request: Request) -> JSONResponse:
    """The database answers (within 2 s), the live feed and every worker of this process run
    (the gateway's and engine's too under `opaska run`, with the broker connection), and no
    escalation row is overdue by more than a minute. 503 with the failing checks otherwise."""
    context: ConsoleContext = request.app.state.context
    health: Health = request.app.state.health
    checks = {"database": await request.app.state.check_database()}
    checks["live_feed"] = "ok" if context.feed.healthy else "not running"
    _ready, process_checks = await health.report()
    checks.update(process_checks)
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def database_gate(
    database: DatabaseWatch,
) -> Callable[[Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]]:
    """A middleware: while the database does not answer, pages and the API say so at once (503)
    instead of hanging on a connection attempt; health, metrics and static files are served as ever."""

    async def database_unreachable(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if database.state == "ok" or request.url.path.startswith(_SERVED_WITHOUT_DATABASE):
            return await call_next(request)
        message = f"Baza danych jest nieosiągalna / the database is unreachable ({database.state})."
        if request.url.path.startswith("/api/") or "text/html" not in request.headers.get("accept", ""):
            return JSONResponse({"detail": message, "database": database.state}, status_code=503)
        return HTMLResponse(
            # A meta refresh, not a script: the Content-Security-Policy allows no inline script.
            f"<!doctype html><meta charset=utf-8><meta http-equiv=refresh content=5>"
            f"<title>opaska: baza danych nieosiągalna</title>"
            f"<h1>Baza danych jest nieosiągalna</h1><p>{html.escape(message)}</p>"
            "<p>Alarmy z opasek czekają w opaskach i brokerze; strona odświeży się sama.</p>",
            status_code=503,
        )

    return database_unreachable
