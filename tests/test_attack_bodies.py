"""Oversized and malformed bodies on every endpoint that takes one. Every route of the app's route
list that accepts a body (read when this module is collected: a new route is asked by itself) gets,
logged in as an administrator with the CSRF token and with objects that exist in the path:

- whole bodies that are not what it takes: not JSON, JSON under another content type, invalid
  UTF-8, an array, null, a string, JSON nested 100,000 deep, more than the body limit;
- each field of its body, read from its OpenAPI schema, set to what nobody should send: a 100,000
  character string, a NUL, a lone UTF-16 surrogate, a right-to-left override, a thousand
  combining accents, numbers past 64 bits, NaN and infinity, the wrong type.

No answer may be a 5xx; each must be a 4xx (or the request's own success, for oddities that are
valid text) with a message, and a 422 names the field. schemathesis (tests/test_api_fuzz.py) sends
random bodies too; these are the ones an attacker picks on purpose.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from alarm_center.live import AlarmFeed
from console.auth.current import UNSAFE_METHODS
from console.body_limit import DEFAULT_LIMIT
from console.context import ConsoleContext
from core.clock import FakeClock
from core.db.engine import make_engine, make_session_factory
from opaska.console_app import console_app
from simulator.lab.staff import create_staff, log_in
from tests.support.databases import Template, drop_database, fresh_database
from tests.test_access_matrix import ACCESS, BASE, DATA_KEY, Side, _municipality, _seed_side, served_routes

# Machines' hooks check their secret before they read a body; logging out would end the session.
NOT_ASKED = ("/twilio/", "/mqtt/emqx/")
LOGOUT = ("POST", "/api/logout")


def _openapi_and_routes() -> tuple[dict[str, Any], list[tuple[str, str]]]:
    sessions = make_session_factory(make_engine("sqlite+aiosqlite://"))
    app = console_app(ConsoleContext(sessions, AlarmFeed(sessions), run_feed=False), emqx_hooks=None)
    routes = sorted(
        (method, path)
        for method, path in served_routes(app)
        if method in UNSAFE_METHODS and not path.startswith(NOT_ASKED) and (method, path) != LOGOUT
    )
    return app.openapi(), routes


OPENAPI, ROUTES = _openapi_and_routes()

WHOLE_BODIES: dict[str, tuple[bytes, str]] = {
    "not JSON": (b"{this is not json", "application/json"),
    "JSON as text/plain": (b'{"note": "x"}', "text/plain"),
    "JSON as a form": (b'{"note": "x"}', "application/x-www-form-urlencoded"),
    "XML": (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
        "application/xml",
    ),
    "invalid UTF-8": (b'{"note": "\xff\xfe\xc3\x28"}', "application/json"),
    "an array": (b"[1, 2, 3]", "application/json"),
    "null": (b"null", "application/json"),
    "a string": (b'"x"', "application/json"),
    "nested 100,000 deep": (b"[" * 100_000 + b"]" * 100_000, "application/json"),
    "objects nested 50,000 deep": (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "application/json"),
    "over the limit": (b'{"note": "' + b"x" * (DEFAULT_LIMIT + 10) + b'"}', "application/json"),
    "empty": (b"", "application/json"),
}
HUGE = "ą" * 100_000  # 200 KB in UTF-8: under the body limit, far over any field's
STRINGS: dict[str, Any] = {
    "a 100,000 character string": HUGE,
    "NUL": "a\x00b",
    "a lone surrogate": "\ud800x",
    "right-to-left override": "\u202etxt.exe",
    "a thousand combining accents": "e" + "\u0301" * 1000,
    "emoji": "🚑" * 50,
}
NUMBERS: dict[str, Any] = {
    "2**64": 2**64,
    "-2**63 - 1": -(2**63) - 1,
    "10**400": 10**400,
    "NaN": math.nan,
    "Infinity": math.inf,
    "-Infinity": -math.inf,
    "1e308 * 10": 1e308 * 10,
}
WRONG_TYPES: dict[str, Any] = {"an object": {"$gt": ""}, "a list": [[[]]], "true": True}


def _schema_of(method: str, path: str) -> dict[str, Any] | None:
    operation = OPENAPI["paths"].get(path, {}).get(method.lower(), {})
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return None
    return _resolve(content["application/json"].get("schema", {}))


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = OPENAPI["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _types(schema: dict[str, Any]) -> set[str]:
    schema = _resolve(schema)
    found = {schema["type"]} if isinstance(schema.get("type"), str) else set()
    for choice in schema.get("anyOf", []) + schema.get("oneOf", []):
        found |= _types(choice)
    return found


BODY_ROUTES = [route for route in ROUTES if _schema_of(*route) is not None]


@dataclass
class Centre:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    clock: FakeClock
    app: FastAPI
    municipality: tuple[int, str]
    http: httpx.AsyncClient


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def centre(db_template: Template, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Centre]:
    url = await fresh_database(db_template, tmp_path_factory.mktemp("bodies"))
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    clock = FakeClock(datetime.now(UTC))
    context = ConsoleContext(sessions, AlarmFeed(sessions), run_feed=False, data_key=DATA_KEY)
    app = console_app(context, emqx_hooks=None, clock=clock)
    municipality = await _municipality(sessions, clock, "")
    admin = await create_staff(sessions, clock, role="administrator")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url=BASE
    ) as http:
        await log_in(http, admin)
        yield Centre(engine, sessions, clock, app, municipality, http)
    await engine.dispose()
    await drop_database(db_template, url)


def _judge(label: str, answer: httpx.Response, *, may_pass: bool = False) -> str | None:
    """What is wrong with the answer, or None."""
    status = answer.status_code
    if status >= 500:
        return f"{label}: server error {status} {answer.text[:200]}"
    if status < 400:
        return None if may_pass else f"{label}: accepted ({status}) {answer.text[:120]}"
    try:
        detail = answer.json().get("detail")
    except (ValueError, AttributeError):
        return f"{label}: {status} without a JSON message: {answer.text[:120]}"
    if not detail:
        return f"{label}: {status} without a message"
    if status == 422 and isinstance(detail, list) and not all(item.get("loc") for item in detail):
        return f"{label}: 422 naming no field: {detail}"
    return None


async def _send(centre: Centre, method: str, url: str, body: bytes, content_type: str) -> httpx.Response:
    return await centre.http.request(method, url, content=body, headers={"content-type": content_type})


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize(("method", "path"), BODY_ROUTES, ids=[f"{m} {p}" for m, p in BODY_ROUTES])
async def test_hostile_bodies_get_a_clear_4xx_never_a_server_error(centre: Centre, method: str, path: str) -> None:
    side: Side = await _seed_side(centre.sessions, centre.clock, centre.municipality, "")
    rule = ACCESS.get((method, path))
    url = path.format(**(side.path_params() | (rule.path(side) if rule and rule.path else {})))
    base = rule.body(side) if rule and rule.body else None
    base = base if isinstance(base, dict) else {}
    schema = _schema_of(method, path)
    assert schema is not None
    wrong: list[str] = []

    for label, (body, content_type) in WHOLE_BODIES.items():
        # No body (empty, or null) is a fine answer to a route whose body is optional.
        found = _judge(label, await _send(centre, method, url, body, content_type), may_pass=label in ("empty", "null"))
        wrong.append(found) if found else None

    for field, field_schema in schema.get("properties", {}).items():
        types = _types(field_schema)
        hostile: dict[str, Any] = dict(WRONG_TYPES)
        if "string" in types:
            hostile |= STRINGS
        if types & {"integer", "number"}:
            hostile |= NUMBERS
        for label, value in hostile.items():
            if "array" in types and label == "a list":
                continue
            # Python's json writes NaN and Infinity as JavaScript does, and reads them back: so would the console.
            body = json.dumps({**base, field: value}).encode("utf-8", errors="surrogatepass")
            answer = await _send(centre, method, url, body, "application/json")
            # Odd but valid text (an override, accents, emoji) may be stored: shown as text, never run.
            valid_text = label in ("right-to-left override", "a thousand combining accents", "emoji")
            # true is 1 to a number field (pydantic's lax mode), as in JavaScript: odd, harmless.
            lax = label == "true" and bool(types & {"boolean", "integer", "number"})
            found = _judge(f"{field} = {label}", answer, may_pass=valid_text or lax)
            wrong.append(found) if found else None
    assert wrong == []


@pytest.mark.asyncio(loop_scope="module")
async def test_text_that_cannot_be_stored_is_refused_by_field_and_valid_text_is_kept(centre: Centre) -> None:
    """console/body_text.py: a lone surrogate or a NUL is a 422 naming the field; a surrogate pair
    (an emoji written as escapes) and a backslash followed by "ud800" are text like any other."""
    side = await _seed_side(centre.sessions, centre.clock, centre.municipality, "")
    url = f"/api/alarms/{side.alarm_id}/notes"
    for raw in (
        rb'{"note": "x\ud800"}',
        rb'{"note": "\udc00"}',
        rb'{"note": "a\u0000b"}',
        rb'{"note": "ok", "x": ["\ud800"]}',
    ):
        answer = await _send(centre, "POST", url, raw, "application/json")
        assert answer.status_code == 422, (raw, answer.text)
        assert answer.json()["detail"][0]["loc"][:2] == ["body", "note" if b'"x"' not in raw else "x"]
    for raw, stored in ((rb'{"note": "karetka \ud83d\ude91"}', "karetka 🚑"), (rb'{"note": "C:\\ud800"}', "C:\\ud800")):
        answer = await _send(centre, "POST", url, raw, "application/json")
        assert answer.status_code < 300, answer.text
        timeline = (await centre.http.get(f"/api/alarms/{side.alarm_id}")).text
        assert json.dumps(stored, ensure_ascii=False)[1:-1] in timeline


@pytest.mark.asyncio(loop_scope="module")
async def test_a_refused_input_is_not_repeated_in_the_answer(centre: Centre) -> None:
    """FastAPI's own 422 repeated the input: a password sent as a list came back in the answer
    (and a NaN made the answer itself fail with a 500)."""
    refused = await centre.http.post("/api/login", json={"username": "anna", "password": ["hasło-tajne-5521"]})
    assert refused.status_code == 422
    assert "hasło-tajne-5521" not in refused.text
    assert refused.json()["detail"][0]["loc"] == ["body", "password"]
