"""/ws/live: a snapshot of the user's open alarms, then every event of their alarms as it commits."""

import asyncio
import contextlib
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from console.auth import sessions
from console.auth.current import StaffPrincipal, principal_for_token
from console.context import ConsoleContext
from console.presence import ConsolePresence
from core.clock import Clock
from registry.model import StaffRole

# How often a live page re-checks its login (and keeps it alive while the page is open).
LIVE_SESSION_CHECK_S = 60.0
# WebSocket close codes: 1008 policy violation (not logged in, or the session ended).
WS_NOT_LOGGED_IN = 1008

ALARM_HANDLING_ROLES = frozenset({StaffRole.OPERATOR, StaffRole.SUPERVISOR, StaffRole.ADMINISTRATOR})

router = APIRouter()


@router.websocket("/ws/live")
async def live(websocket: WebSocket) -> None:
    """A snapshot of the user's open alarms, then every event of their alarms as it commits.
    Needs the session cookie; closed (1008) when the login ends. Reconnect to re-sync."""
    context: ConsoleContext = websocket.app.state.context
    clock: Clock = websocket.app.state.clock
    console: ConsolePresence = websocket.app.state.presence
    user = await _websocket_user(websocket, context, clock)
    if user is None:
        # Before accept: the handshake is refused with 403.
        await websocket.close(code=WS_NOT_LOGGED_IN)
        return
    await websocket.accept()
    # Only someone who can claim an alarm makes the centre attended: a technician's page open on
    # installation tests must not let escalation wait for an operator who is not there.
    attends = user.role in ALARM_HANDLING_ROLES
    if attends:
        await console.connected()
    try:
        await _stream(websocket, user, context, clock)
    finally:
        if attends:
            await console.disconnected()


async def _websocket_user(websocket: WebSocket, context: ConsoleContext, clock: Clock) -> StaffPrincipal | None:
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
    return [alarm for alarm in alarms if user.sees_alarm(alarm.get("municipality_id"), alarm.get("kind"))]


async def _session_alive(websocket: WebSocket, context: ConsoleContext, clock: Clock) -> None:
    """Return when the login behind this socket has ended (logout, expiry); keeps it alive meanwhile."""
    token = websocket.cookies.get(sessions.COOKIE, "")
    while True:
        await asyncio.sleep(LIVE_SESSION_CHECK_S)
        async with context.session_factory() as session:
            if await principal_for_token(session, token=token, now=clock.now(), settings=context.settings) is None:
                return


def _for_user(user: StaffPrincipal, message: dict[str, Any]) -> dict[str, Any] | None:
    """The message as this user may see it; None when it is about an alarm not theirs (or gone)."""
    if message["type"] != "alarm_event":
        return message
    alarm = message.get("alarm")
    if not isinstance(alarm, dict):
        return None  # the alarm is gone: nothing to show, and no municipality to judge by
    rows = _visible_rows(user, [alarm])
    return {**message, "alarm": rows[0]} if rows else None


async def _stream(websocket: WebSocket, user: StaffPrincipal, context: ConsoleContext, clock: Clock) -> None:
    async with context.feed.subscribe() as queue:
        alarms, cursor = await context.feed.snapshot()
        rows = _visible_rows(user, [a.model_dump(mode="json") for a in alarms])
        await websocket.send_json({"type": "snapshot", "cursor": cursor, "alarms": rows})
        receiver = asyncio.create_task(_drain_client(websocket))
        guard = asyncio.create_task(_session_alive(websocket, context, clock))
        try:
            while not receiver.done() and not guard.done():
                getter = asyncio.create_task(queue.get())
                done, _ = await asyncio.wait({getter, receiver, guard}, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    if guard in done:
                        await websocket.close(code=WS_NOT_LOGGED_IN)
                    break
                message = _for_user(user, getter.result())
                if message is None:
                    continue
                await websocket.send_json(message)
                if message["type"] == "overflow":
                    await websocket.close(code=1013)
                    break
        except WebSocketDisconnect:
            pass
        finally:
            receiver.cancel()
            guard.cancel()


async def _drain_client(websocket: WebSocket) -> None:
    """Read (and ignore) what the browser sends, so a closed socket is noticed at once."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            await websocket.receive_text()
