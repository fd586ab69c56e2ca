"""JSON bodies whose text cannot be stored are refused before any route reads them, and bad
input is answered without echoing it.

JSON may carry a lone UTF-16 surrogate (`"\\ud800"`): Python reads it into a str that no UTF-8
encoder takes, so the first write to the database, a log line or the answer echoing it failed with
a 500. And `"\\u0000"`: PostgreSQL text cannot hold a NUL, so a note with one was a 500 there
(fields of the registry refused it, alarm notes and outcomes did not). Every route would need its
own check; this one is in front of them all: such a body is a 422 naming the field, like any
other bad input. Bodies are already bounded (console/body_limit.py) when this reads them.

FastAPI's own 422 repeats the input it refused; a NaN there (JSON as Python reads it takes NaN
and Infinity) made that answer itself fail, a 500, and a password sent as a list came back in the
answer. `validation_failed` answers the same shape without the input.
"""

import json
import re
from collections.abc import MutableMapping
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from console.body_limit import ASGIApp, Message, Receive, Scope, Send

# A \uD800-\uDFFF or \u0000 escape: only a body with one can hold a surrogate or a NUL (raw
# UTF-8 cannot encode a surrogate, and a raw NUL in a JSON string is not JSON).
_ESCAPE = re.compile(rb"\\u(?:[dD][89a-fA-F][0-9a-fA-F]{2}|0000)")
MESSAGE = "tekst zawiera niedozwolony znak (NUL albo pojedynczy surogat UTF-16)"


def unstorable_text(value: Any) -> list[str | int] | None:
    """Where in a parsed JSON value a string that cannot be stored is (its path), or None.
    Walked without recursion: a deeply nested body cannot exhaust the stack here."""
    stack: list[tuple[list[str | int], Any]] = [([], value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if not _encodes(item):
                return path
        elif isinstance(item, dict):
            for key, child in item.items():
                if not _encodes(key):
                    return path
                stack.append(([*path, key], child))
        elif isinstance(item, list):
            stack.extend(([*path, index], child) for index, child in enumerate(item))
    return None


def _encodes(text: str) -> bool:
    """Whether `text` can be stored: UTF-8 encodes it and it holds no NUL."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


class JsonText:
    """Refuses (422) a JSON request body holding a lone surrogate or a NUL; passes everything else on as it came."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        content_type = dict(scope.get("headers") or []).get(b"content-type", b"").lower()
        # FastAPI reads a body without a content type as JSON too.
        if content_type and b"json" not in content_type:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message], receive), send)
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        where = _where_unstorable(body)
        if where is not None:
            await _refuse(send, where)
            return
        await self.app(scope, _replay([{"type": "http.request", "body": body, "more_body": False}], receive), send)


def _where_unstorable(body: bytes) -> list[str | int] | None:
    if not _ESCAPE.search(body):
        return None
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        # Not JSON: the route answers that itself.
        return None
    return unstorable_text(value)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    async def replayed() -> MutableMapping[str, Any]:
        return messages.pop(0) if messages else await receive()

    return replayed


async def _refuse(send: Send, where: list[str | int]) -> None:
    detail = [{"loc": ["body", *where], "msg": MESSAGE, "type": "unicode"}]
    body = json.dumps({"detail": detail}, ensure_ascii=False).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 422, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def validation_failed(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 (each error's field, message and type), without the refused input."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    detail = [
        {"loc": list(error.get("loc", ())), "msg": error.get("msg", ""), "type": error.get("type", "")}
        for error in errors
    ]
    return JSONResponse({"detail": detail}, status_code=422)
