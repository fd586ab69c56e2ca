"""Every integer the console's HTTP API accepts is bounded: a number out of range in a path, a
query or a body is a 422 naming the field, never a 500, and never reaches the database.

Found by the API fuzz probe: POST /api/alarms/{id}/notify with contact_id 9223372036854775808 (one
past BIGINT's largest) was a 500, because asyncpg and sqlite3 cannot bind an int outside signed 64
bits. The route list is read, not listed here, so a route or body field added later is probed too:
the declarations are checked for bounds, then each int path and query parameter is sent out of
range (with a valid body, signed for Twilio's hooks, so that nothing but the bound stands between
the number and the database), and each request model's int fields likewise. A listener on the
engine fails the test for any statement that binds an int the database cannot hold.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from pydantic import TypeAdapter
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]  # no py.typed

from alarm_center.live import AlarmFeed
from console.app import create_app
from console.bounds import MAX_ID
from console.context import ConsoleContext
from core.db.engine import make_engine, make_session_factory
from simulator.lab.staff import log_in
from tests.support.routes import app_routes
from tests.test_access_matrix import ACCESS, BASE, TWILIO_TOKEN, Centre, Side, centre

__all__ = ["centre"]  # the access matrix's centre (its objects, staff and hooks), used by name

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# One past what the database can hold, either way: the reported bug, and its mirror.
OVERFLOWS = (INT64_MAX + 1, INT64_MIN - 1)
# No row has these ids: they count up from 1.
NOT_IDS = (0, -1)
# The errors of a bound (pydantic's types): what a number out of range must get.
BOUND_ERRORS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}


# ---- the declarations -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    method: str
    path: str
    where: str  # "path", "query", "header", "cookie" or "body"
    name: str
    schema: dict[str, Any]

    @property
    def is_int(self) -> bool:
        return any(node.get("type") == "integer" for node in _nodes(self.schema))

    @property
    def is_id(self) -> bool:
        return self.name.endswith("_id")


def _schema(field: Any) -> dict[str, Any]:
    """The JSON schema of a parameter as the route validates it: its type with its constraints."""
    info = field.field_info
    annotation: Any = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
    schema: dict[str, Any] = TypeAdapter(annotation).json_schema()
    return schema


def _nodes(schema: Any) -> Iterator[dict[str, Any]]:
    """Every object in a JSON schema (definitions, union members and list items included)."""
    if isinstance(schema, dict):
        yield schema
        for value in schema.values():
            yield from _nodes(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _nodes(value)


def _dependants(dependant: Any) -> Iterator[Any]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)


def route_params(app: FastAPI) -> list[Param]:
    """Every parameter of every HTTP route (its dependencies' too), a request body as one."""
    found = []
    for route in app_routes(app):
        dependant = getattr(route, "dependant", None)
        if dependant is None:
            continue  # a mount: static files
        for method in sorted((route.methods or {"WS"}) - {"HEAD"}):
            for each in _dependants(dependant):
                for where in ("path", "query", "header", "cookie", "body"):
                    for field in getattr(each, f"{where}_params"):
                        found.append(Param(method, str(route.path), where, field.alias, _schema(field)))
    return found


def _unbounded(param: Param) -> list[str]:
    """What is wrong with each integer in the parameter's schema: no bound, or one past int64."""
    problems = []
    for node in _nodes(param.schema):
        if node.get("type") != "integer":
            continue
        low = node.get("minimum", node.get("exclusiveMinimum"))
        high = node.get("maximum", node.get("exclusiveMaximum"))
        if low is None or high is None:
            problems.append(f"{param.method} {param.path} {param.where} {param.name}: no bound ({node})")
        elif low < INT64_MIN or high > INT64_MAX:
            problems.append(f"{param.method} {param.path} {param.where} {param.name}: beyond int64 ({node})")
    return problems


def body_int_fields(params: list[Param]) -> set[tuple[str, str, str]]:
    """(method, path, top-level field) of every request-body field holding an integer."""
    fields = set()
    for param in params:
        if param.where != "body":
            continue
        definitions = param.schema.get("$defs", {})
        # The body's own fields: its model's, or its union members' (a nested model's int field is
        # reached through the top-level field that holds it, as `_refers_to_int` sees).
        members = [param.schema.get("$ref")] + [m.get("$ref") for m in param.schema.get("anyOf", [])]
        roots = [param.schema, *(definitions[ref.rsplit("/", 1)[-1]] for ref in members if ref)]
        for model in roots:
            for name, field in model.get("properties", {}).items():
                if any(node.get("type") == "integer" for node in _nodes(field)) or _refers_to_int(field, definitions):
                    fields.add((param.method, param.path, name))
    return fields


def _refers_to_int(field: dict[str, Any], definitions: dict[str, Any]) -> bool:
    refs = [node["$ref"].rsplit("/", 1)[-1] for node in _nodes(field) if "$ref" in node]
    return any(node.get("type") == "integer" for ref in refs for node in _nodes(definitions.get(ref, {})))


def _bare_app() -> FastAPI:
    """The console with nothing behind it: enough to read its routes' declarations."""
    sessions = make_session_factory(make_engine("sqlite+aiosqlite://"))
    return create_app(ConsoleContext(sessions, AlarmFeed(sessions), run_feed=False))


def test_every_integer_the_api_accepts_has_bounds_within_int64() -> None:
    params = route_params(_bare_app())
    ints = [param for param in params if param.is_int]
    # The walk sees what it must: ids in paths, queries and bodies, and the Twilio hooks' numbers.
    seen = {(p.path, p.where, p.name) for p in ints}
    for expected in (
        ("/api/alarms/{alarm_id}/notify", "path", "alarm_id"),
        ("/api/alarms/{alarm_id}/notify", "body", "body"),
        ("/twilio/status/{notification_id}", "path", "notification_id"),
        ("/twilio/voice/{notification_id}", "query", "repeat"),
        ("/api/registry/bands", "query", "municipality_id"),
        ("/api/band-rejects", "query", "limit"),
    ):
        assert expected in seen, f"the walk missed {expected}"
    problems = [problem for param in ints for problem in _unbounded(param)]
    assert not problems, "integers the API accepts without bounds:\n" + "\n".join(problems)


# ---- asking -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    detail: Any
    text: str

    def names(self, loc: tuple[str | int, ...]) -> bool:
        """Does a validation error name this field (FastAPI's shape: loc, msg)?"""
        errors = self.detail if isinstance(self.detail, list) else []
        return any(
            isinstance(error, dict) and tuple(error.get("loc", ())) == loc and error.get("msg") for error in errors
        )

    def bound_refused(self, loc: tuple[str | int, ...]) -> bool:
        errors = self.detail if isinstance(self.detail, list) else []
        return any(
            isinstance(error, dict) and tuple(error.get("loc", ())) == loc and error.get("type") in BOUND_ERRORS
            for error in errors
        )


class Asker:
    """An administrator (past every role and municipality gate), so only validation can stop a
    request; Twilio's hooks are signed, so their handlers would run too."""

    def __init__(self, centre: Centre, client: httpx.AsyncClient) -> None:
        self.centre = centre
        self.client = client

    async def ask(
        self,
        method: str,
        path: str,
        *,
        path_values: dict[str, object] | None = None,
        query: dict[str, Any] | None = None,
        body: Any = None,
    ) -> Answer:
        side = self.centre.own
        rule = ACCESS[(method, path)]
        url = path.format(**{**side.path_params(), **(path_values or {})})
        params = {**(rule.query(side) if rule.query else {}), **(query or {})}
        if params:
            url += "?" + str(httpx.QueryParams(params))
        if body is None and rule.body is not None:
            body = rule.body(side)
        headers = {}
        if rule.kind == "twilio_hook":
            assert isinstance(body, dict)
            headers["X-Twilio-Signature"] = RequestValidator(TWILIO_TOKEN).compute_signature(BASE + url, body)
            request = self.client.build_request(method, url, data=body, headers=headers)
        else:
            request = self.client.build_request(method, url, json=body)
        response = await self.client.send(request)
        try:
            detail = response.json().get("detail")
        except (ValueError, AttributeError):
            detail = None
        return Answer(response.status_code, detail, response.text[:300])


@pytest.fixture
def overflow_binds(db_engine: AsyncEngine) -> Iterator[list[str]]:
    """Statements that bound an int the database cannot hold (there should be none)."""
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        wild = [value for value in _values(parameters) if not INT64_MIN <= value <= INT64_MAX]
        if wild:
            seen.append(f"{statement.split()[0]} ... with {wild}")

    event.listen(db_engine.sync_engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(db_engine.sync_engine, "before_cursor_execute", before)


def _values(parameters: Any) -> Iterator[int]:
    if isinstance(parameters, dict):
        parameters = list(parameters.values())
    if isinstance(parameters, list | tuple):
        for value in parameters:
            yield from _values(value)
    elif isinstance(parameters, int) and not isinstance(parameters, bool):
        yield parameters


@pytest_asyncio.fixture
async def admin(centre: Centre) -> AsyncIterator[Asker]:
    # Its own client, which answers a crash as the 500 a browser would see instead of raising it.
    transport = httpx.ASGITransport(app=centre.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        await log_in(client, centre.staff["administrator"])
        yield Asker(centre, client)


def _probes(param: Param) -> tuple[int, ...]:
    return OVERFLOWS + NOT_IDS if param.is_id else OVERFLOWS


def _judge(answer: Answer, loc: tuple[str | int, ...], what: str) -> str | None:
    if answer.status == 422 and answer.bound_refused(loc) and answer.names(loc):
        return None
    return f"{what}: {answer.status}, not a 422 naming {list(loc)}: {answer.text}"


# ---- path and query parameters --------------------------------------------------------------------------


def _int_params(app: FastAPI, where: str) -> list[Param]:
    return [p for p in route_params(app) if p.where == where and p.is_int]


@pytest.mark.asyncio
async def test_an_int_path_parameter_out_of_range_is_a_422_naming_it(
    centre: Centre, admin: Asker, overflow_binds: list[str]
) -> None:
    params = _int_params(centre.app, "path")
    # Every route with a parameter in its path has an id there, but a relative's status link and a
    # responder's link (a signed token, and the button pressed).
    with_ids = {(method, path) for method, path in ACCESS if "{" in path and not path.startswith(("/s/", "/r/"))}
    assert {(p.method, p.path) for p in params} == with_ids
    failures = []
    for param in params:
        for value in _probes(param):
            answer = await admin.ask(param.method, param.path, path_values={param.name: value})
            failures.append(_judge(answer, ("path", param.name), f"{param.method} {param.path} {param.name}={value}"))
    problems = [failure for failure in failures if failure]
    assert not problems, f"{len(problems)} of {len(failures)} probes:\n" + "\n".join(problems)
    assert not overflow_binds, f"out-of-range ints reached the database: {overflow_binds}"


@pytest.mark.asyncio
async def test_an_int_query_parameter_out_of_range_is_a_422_naming_it(
    centre: Centre, admin: Asker, overflow_binds: list[str]
) -> None:
    params = _int_params(centre.app, "query")
    assert {p.name for p in params} >= {"municipality_id", "limit", "repeat"}
    failures = []
    for param in params:
        for value in _probes(param):
            answer = await admin.ask(param.method, param.path, query={param.name: value})
            failures.append(_judge(answer, ("query", param.name), f"{param.method} {param.path} ?{param.name}={value}"))
    problems = [failure for failure in failures if failure]
    assert not problems, f"{len(problems)} of {len(failures)} probes:\n" + "\n".join(problems)
    assert not overflow_binds, f"out-of-range ints reached the database: {overflow_binds}"


@pytest.mark.asyncio
async def test_the_largest_id_is_answered_by_the_route_itself(
    centre: Centre, admin: Asker, overflow_binds: list[str]
) -> None:
    """The bound is not tighter than the database: the largest id accepted goes through to the
    route, which finds nothing (404, or its own answer), with no error from binding it."""
    failures = []
    for param in _int_params(centre.app, "path") + [p for p in _int_params(centre.app, "query") if p.is_id]:
        if param.where == "path":
            answer = await admin.ask(param.method, param.path, path_values={param.name: MAX_ID})
        else:
            answer = await admin.ask(param.method, param.path, query={param.name: MAX_ID})
        if answer.status >= 500 or answer.bound_refused((param.where, param.name)):
            failures.append(f"{param.method} {param.path} {param.name}={MAX_ID}: {answer.status} {answer.text}")
    assert not failures, "\n".join(failures)
    assert not overflow_binds


# ---- request bodies ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BodyCase:
    """A request model's int field, in a body otherwise valid for the centre's own objects."""

    method: str
    path: str
    loc: tuple[str | int, ...]
    body: Callable[[Side, int], dict[str, Any]]

    @property
    def field(self) -> str:
        return str(self.loc[1])

    @property
    def is_id(self) -> bool:
        return self.field.endswith(("_id", "_ids"))


BODY_CASES = (
    # The reported bug.
    BodyCase(
        "POST",
        "/api/alarms/{alarm_id}/notify",
        ("body", "contact_id"),
        lambda _, n: {"contact_id": n, "channel": "sms"},
    ),
    BodyCase(
        "POST",
        "/api/registry/bands",
        ("body", "resident_id"),
        lambda _, n: {"serial": f"OP-{uuid.uuid4().hex[:8]}".upper(), "model": "test", "resident_id": n},
    ),
    BodyCase("POST", "/api/registry/bands/{band_id}/bind", ("body", "resident_id"), lambda _, n: {"resident_id": n}),
    BodyCase("POST", "/api/registry/bands/{band_id}/swap", ("body", "new_band_id"), lambda _, n: {"new_band_id": n}),
    BodyCase("POST", "/api/registry/bands/{band_id}/test-mode", ("body", "minutes"), lambda _, n: {"minutes": n}),
    BodyCase(
        "POST",
        "/api/registry/residents",
        ("body", "municipality_id"),
        lambda _, n: {"municipality_id": n, "first_name": "Jan", "last_name": "Lis"},
    ),
    BodyCase(
        "POST",
        "/api/registry/residents/{resident_id}/contacts",
        ("body", "priority"),
        lambda _, n: {"name": "Jan Lis", "phone": "601 234 568", "priority": n},
    ),
    BodyCase(
        "PUT",
        "/api/registry/residents/{resident_id}/contacts/order",
        ("body", "contact_ids", 1),
        lambda side, n: {"contact_ids": [side.contact_id, n]},
    ),
    BodyCase(
        "POST",
        "/api/alarms/{alarm_id}/calls",
        ("body", "target_id"),
        lambda _, n: {"target": "contact", "target_id": n},
    ),
    BodyCase(
        "POST",
        "/api/alarms/{alarm_id}/calls/{call_id}/add",
        ("body", "target_id"),
        lambda _, n: {"target": "contact", "target_id": n},
    ),
    BodyCase(
        "POST",
        "/api/alarms/{alarm_id}/ladder",
        ("body", "eta_min"),
        lambda _, n: {"rung": "going", "who": "Jan Lis", "eta_min": n},
    ),
    BodyCase(
        "POST",
        "/api/alarms/{alarm_id}/responder-link",
        ("body", "contact_id"),
        lambda _, n: {"contact_id": n},
    ),
    BodyCase(
        "PUT",
        "/api/registry/residents/{resident_id}/plan",
        ("body", "steps", 0, "contact_id"),
        lambda _, n: {"steps": [{"kind": "call_contact", "contact_id": n}]},
    ),
    BodyCase(
        "PUT",
        "/api/registry/municipalities/{municipality_id}/plan",
        ("body", "steps", 0, "contact_id"),
        lambda _, n: {"steps": [{"kind": "call_key_holder", "contact_id": n}]},
    ),
    BodyCase(
        "PUT",
        "/api/registry/residents/{resident_id}/safe-zone",
        ("body", "radius_m"),
        lambda _, n: {"lat": 51.11, "lon": 17.03, "radius_m": n},
    ),
    BodyCase(
        "POST",
        "/api/registry/residents/{resident_id}/erase",
        ("body", "confirm_resident_id"),
        lambda _, n: {"confirm_resident_id": n},
    ),
)


def test_every_int_body_field_has_a_case() -> None:
    declared = body_int_fields(route_params(_bare_app()))
    cased = {(case.method, case.path, case.field) for case in BODY_CASES}
    assert declared == cased, (
        f"int body fields with no case in BODY_CASES: {sorted(declared - cased)}; cases for no field: "
        f"{sorted(cased - declared)}"
    )


@pytest.mark.asyncio
async def test_the_reported_contact_id_is_a_422_naming_it(
    centre: Centre, admin: Asker, overflow_binds: list[str]
) -> None:
    answer = await admin.ask(
        "POST", "/api/alarms/{alarm_id}/notify", body={"contact_id": 9223372036854775808, "channel": "sms"}
    )
    assert answer.status == 422, answer.text
    assert answer.names(("body", "contact_id")), answer.detail
    assert answer.bound_refused(("body", "contact_id")), answer.detail
    assert not overflow_binds


@pytest.mark.parametrize("case", BODY_CASES, ids=lambda case: f"{case.method} {case.path} {case.field}")
@pytest.mark.asyncio
async def test_an_int_body_field_out_of_range_is_a_422_naming_it(
    case: BodyCase, centre: Centre, admin: Asker, overflow_binds: list[str]
) -> None:
    failures = []
    for value in OVERFLOWS + NOT_IDS:
        answer = await admin.ask(case.method, case.path, body=case.body(centre.own, value))
        failures.append(_judge(answer, case.loc, f"{case.method} {case.path} {case.field}={value}"))
    if case.is_id:
        # The largest id accepted reaches the route, which answers for itself (not found, not hers).
        answer = await admin.ask(case.method, case.path, body=case.body(centre.own, MAX_ID))
        if answer.status >= 500 or answer.bound_refused(case.loc):
            failures.append(f"{case.field}={MAX_ID}: {answer.status} {answer.text}")
    problems = [failure for failure in failures if failure]
    assert not problems, "\n".join(problems)
    assert not overflow_binds, f"out-of-range ints reached the database: {overflow_binds}"


# ---- headers ------------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_content_length_of_thousands_of_digits_is_a_413(centre: Centre, admin: Asker) -> None:
    """The one integer the console reads by hand: Python's int() refuses more than 4300 digits."""
    for announced in ("9" * 20, "9" * 5000):
        request = admin.client.build_request("POST", f"/api/alarms/{centre.own.alarm_id}/notes", content=b"{}")
        request.headers["Content-Length"] = announced
        answer = await admin.client.send(request)
        assert answer.status_code == 413, f"{len(announced)} digits: {answer.status_code} {answer.text[:200]}"
