"""Request bodies are bounded before anything reads them: a client announcing too much is answered
413 at once, and one that streams more than it announced (or announces nothing) is cut off at the
limit, so a hostile upload never fills the console's memory."""

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Every JSON body the console takes is a few kilobytes; a spreadsheet import is the one big upload.
DEFAULT_LIMIT = 256 * 1024
LIMITS_BY_PREFIX = {"/api/registry/import": 20 * 1024 * 1024, "/api/import": 20 * 1024 * 1024}


class BodyTooLarge(Exception):
    pass


def limit_for(path: str) -> int:
    return next((limit for prefix, limit in LIMITS_BY_PREFIX.items() if path.startswith(prefix)), DEFAULT_LIMIT)


class BodyLimit:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_for(scope["path"])
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and _announces_more(declared, limit):
            await _too_large(send, limit)
            return
        seen = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge:
            if not started:
                await _too_large(send, limit)


def _announces_more(declared: bytes, limit: int) -> bool:
    """Is this Content-Length not a number, or one over the limit?"""
    if not declared.isdigit():
        return True
    digits = declared.lstrip(b"0")
    # Counted before int() reads them: Python refuses to convert more than 4300 digits (a
    # ValueError, a 500), and more digits than the limit has is over it anyway.
    return len(digits) > len(str(limit)) or int(digits or b"0") > limit


async def _too_large(send: Send, limit: int) -> None:
    body = f'{{"detail":"request body too large: at most {limit} bytes"}}'.encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
