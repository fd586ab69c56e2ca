"""Cross-site request forgery, route by route: every state-changing route the console serves (POST,
PUT, PATCH, DELETE, read from the app's own route list when this module is collected, so a new route
is asked without anyone adding it here) is sent, logged in as an administrator (past every role and
municipality gate) and with a body that would otherwise pass, once without the CSRF token and once
with the token of another live session. Each must be refused (403, "CSRF"), and the whole database
must read the same after as before: a route that acts first and checks afterwards fails here even
though its answer is right.

The second login step's routes are asked with a login step's cookie and no step token. The only
unsafe routes with no token are listed in NO_TOKEN with the reason; a new one there is a decision,
not an accident. tests/test_access_matrix.py asks the same routes for the status alone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy import inspect, select, table, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from alarm_center.live import AlarmFeed
from console.auth import login_steps
from console.auth.current import UNSAFE_METHODS
from console.auth.sessions import COOKIE, CSRF_HEADER
from console.context import ConsoleContext
from core.clock import FakeClock
from core.db.engine import make_engine, make_session_factory
from opaska.console_app import console_app
from registry.second_factor_model import LoginStage
from simulator.lab.staff import StaffMember, create_staff, log_in
from tests.support.databases import Template, drop_database, fresh_database
from tests.test_access_matrix import ACCESS, BASE, DATA_KEY, Rule, Side, _municipality, _seed_side, api, served_routes

# Unsafe routes a browser may send without a session's token, and why that is safe.
NO_TOKEN = {
    ("POST", "/api/login"): "no session yet; throttled, and SameSite=Strict keeps a cross-site answer's cookie",
    ("POST", "/r/{token}/key-safe"): "the signed responder link in the path is the key; no cookie is read",
    ("POST", "/r/{token}/{what}"): "the signed responder link in the path is the key; no cookie is read",
}
# Machines' hooks: their own secret (EMQX's bearer token, Twilio's signature), never a cookie.
HOOK_PREFIXES = ("/twilio/", "/mqtt/emqx/")


def _unsafe_routes() -> list[tuple[str, str]]:
    """(method, path) of every unsafe route the console serves, as the app lists them."""
    sessions = make_session_factory(make_engine("sqlite+aiosqlite://"))
    app = console_app(ConsoleContext(sessions, AlarmFeed(sessions), run_feed=False), emqx_hooks=None)
    return sorted((method, path) for method, path in served_routes(app) if method in UNSAFE_METHODS)


UNSAFE_ROUTES = _unsafe_routes()
CHECKED = [route for route in UNSAFE_ROUTES if route not in NO_TOKEN and not route[1].startswith(HOOK_PREFIXES)]


@dataclass
class Centre:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    clock: FakeClock
    app: FastAPI
    side: Side
    admin: StaffMember
    # The administrator's session (its token set as the client's default header, taken off per request).
    http: httpx.AsyncClient
    # Another live session's CSRF token: a token, just not this session's.
    other_token: str


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def centre(db_template: Template, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Centre]:
    url = await fresh_database(db_template, tmp_path_factory.mktemp("csrf"))
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    clock = FakeClock(datetime.now(UTC))
    app = console_app(
        ConsoleContext(sessions, AlarmFeed(sessions), run_feed=False, data_key=DATA_KEY), emqx_hooks=None, clock=clock
    )
    municipality = await _municipality(sessions, clock, "")
    side = await _seed_side(sessions, clock, municipality, "")
    admin = await create_staff(sessions, clock, role="administrator")
    other_admin = await create_staff(sessions, clock, role="administrator")
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url=BASE) as http,
        httpx.AsyncClient(transport=transport, base_url=BASE) as other,
    ):
        await log_in(http, admin)
        other_login = await log_in(other, other_admin)
        yield Centre(engine, sessions, clock, app, side, admin, http, other_login.csrf_token)
    await engine.dispose()
    await drop_database(db_template, url)


async def _snapshot(engine: AsyncEngine) -> dict[str, list[str]]:
    """Every row of every table (read from the database itself, not the models), as sorted text."""
    async with engine.connect() as connection:
        names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        found: dict[str, list[str]] = {}
        for name in names:
            if name == "alembic_version":
                continue
            rows = (await connection.execute(select(text("*")).select_from(table(name)))).all()
            found[name] = sorted(repr(tuple(row)) for row in rows)
        await connection.rollback()
    return found


def _request(centre: Centre, method: str, path: str, headers: dict[str, str]) -> httpx.Request:
    rule: Rule = ACCESS.get((method, path), api())
    url = path.format(**(centre.side.path_params() | (rule.path(centre.side) if rule.path else {})))
    body: Any = rule.body(centre.side) if rule.body else None
    params = rule.query(centre.side) if rule.query else None
    if isinstance(body, bytes):
        request = centre.http.build_request(
            method, url, params=params, content=body, headers={"content-type": "text/csv", **headers}
        )
    else:
        request = centre.http.build_request(method, url, params=params, json=body, headers=headers)
    request.headers.pop(CSRF_HEADER, None)
    request.headers.update(headers)
    return request


def _changes(before: dict[str, list[str]], after: dict[str, list[str]]) -> list[str]:
    return [
        f"{name}: {sorted(set(after.get(name, [])) - set(rows))[:2]} / gone {sorted(set(rows) - set(after[name]))[:2]}"
        for name, rows in before.items()
        if after.get(name) != rows
    ]


def test_the_route_list_is_read() -> None:
    """The parametrisation below really covers the API (not an empty list from a broken import)."""
    assert len(CHECKED) >= 50
    assert ("POST", "/api/alarms/{alarm_id}/resolve") in CHECKED
    assert ("POST", "/api/registry/residents/{resident_id}/erase") in CHECKED
    assert set(NO_TOKEN) <= set(UNSAFE_ROUTES), "an exemption for a route the app no longer serves"


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize(("method", "path"), CHECKED, ids=[f"{m} {p}" for m, p in CHECKED])
async def test_a_state_changing_request_without_the_csrf_token_is_refused_and_changes_nothing(
    centre: Centre, method: str, path: str
) -> None:
    rule = ACCESS.get((method, path), api())
    step_cookie: dict[str, str] = {}
    if rule.kind == "login_step":
        # Half a login (password right, code to come): its own cookie, its own token, not sent.
        async with centre.sessions() as session, session.begin():
            step = await login_steps.start(
                session, staff_id=centre.admin.id, stage=LoginStage.ENROL, now=centre.clock.now()
            )
        step_cookie = {"Cookie": f"{login_steps.COOKIE}={step.token}"}
    before = await _snapshot(centre.engine)
    assert before["alarm"], "the snapshot reads the tables"
    for wrong in ({}, {CSRF_HEADER: centre.other_token}):
        request = _request(centre, method, path, wrong)
        if step_cookie:
            # The step's cookie alone, not the administrator's session.
            request.headers.update(step_cookie)
        answer = await centre.http.send(request)
        assert (answer.status_code, "CSRF" in answer.text) == (403, True), (
            f"{method} {path} {'with another session' + chr(39) + 's token' if wrong else 'without a token'}: "
            f"{answer.status_code} {answer.text[:300]}"
        )
    assert _changes(before, await _snapshot(centre.engine)) == []
    assert centre.http.cookies.get(COOKIE), "the session is still there for the next route"
