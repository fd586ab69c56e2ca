"""Console logins: argon2 passwords, server-side sessions, CSRF, the login rate limit, logout."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio
from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.live import AlarmFeed
from console.app import create_app
from console.context import ConsoleContext
from core.clock import FakeClock
from core.settings import ConsoleSettings
from registry.model import StaffSession, StaffUser
from simulator.lab.staff import StaffMember, create_staff, log_in
from tests.support.seed import seed_resident_with_band

pytestmark = pytest.mark.asyncio


@dataclass
class Console:
    sessions: async_sessionmaker[AsyncSession]
    clock: FakeClock
    operator: StaffMember
    municipality_id: int

    def app(self, **settings: object) -> httpx.AsyncClient:
        context = ConsoleContext(
            self.sessions,
            AlarmFeed(self.sessions),
            run_feed=False,
            settings=ConsoleSettings.model_validate(settings),
            data_key=Fernet(Fernet.generate_key()),
        )
        app = create_app(context, clock=self.clock)
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console")


@pytest_asyncio.fixture
async def console(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> Console:
    seeded = await seed_resident_with_band(sessions, clock)
    operator = await create_staff(sessions, clock, role="operator", municipality_ids=[seeded.municipality_id])
    return Console(sessions, clock, operator, seeded.municipality_id)


@pytest_asyncio.fixture
async def http(console: Console) -> AsyncIterator[httpx.AsyncClient]:
    async with console.app() as client:
        yield client


async def _login(http: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await http.post("/api/login", json={"username": username, "password": password})


async def test_a_login_sets_a_strict_httponly_cookie_and_returns_the_csrf_token(
    console: Console, http: httpx.AsyncClient
) -> None:
    response = await _login(http, console.operator.username.upper(), console.operator.password)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user"]["username"] == console.operator.username
    assert body["user"]["role"] == "operator"
    assert body["user"]["municipality_ids"] == [console.municipality_id]
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("opaska_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Secure" not in cookie  # plain http on 127.0.0.1 by default

    me = await http.get("/api/me")
    assert me.status_code == 200
    assert me.json()["csrf_token"] == body["csrf_token"]

    # Only the token's SHA-256 is stored.
    token = response.cookies["opaska_session"]
    async with console.sessions() as session:
        [stored] = (await session.execute(select(StaffSession.token_hash))).scalars().all()
        password_hash = (await session.execute(select(StaffUser.password_hash))).scalar_one()
    assert stored == hashlib.sha256(token.encode()).hexdigest()
    assert password_hash.startswith("$argon2id$")


async def test_secure_cookies_are_a_setting(console: Console) -> None:
    async with console.app(secure_cookies=True) as http:
        response = await _login(http, console.operator.username, console.operator.password)
    assert "Secure" in response.headers["set-cookie"]


async def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(
    console: Console, http: httpx.AsyncClient
) -> None:
    wrong = await _login(http, console.operator.username, "not the password")
    unknown = await _login(http, "nobody-here", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": "wrong username or password"}
    assert "set-cookie" not in wrong.headers


async def test_bad_login_input_is_a_field_error(http: httpx.AsyncClient) -> None:
    for body in ({}, {"username": "", "password": "x"}, {"username": "a" * 65, "password": "x"}, {"username": 1}):
        response = await http.post("/api/login", json=body)
        assert response.status_code == 422, body
        assert response.json()["detail"][0]["loc"][0] == "body"
    garbage = await http.post("/api/login", content=b"\xff\x00", headers={"content-type": "application/json"})
    assert garbage.status_code == 422


async def test_failures_slow_the_address_down_and_the_wait_outlives_a_restart(console: Console) -> None:
    # The throttle's own cases (other addresses, the audit, the ceiling): tests/test_login_throttle.py.
    async with console.app() as http:
        for _ in range(3):
            assert (await _login(http, console.operator.username, "guess")).status_code == 401
        # Three free failures; the next try waits 1 s, and after a fourth failure 2 s.
        assert (await _login(http, console.operator.username, "guess")).headers["retry-after"] == "1"
        console.clock.advance(1)
        assert (await _login(http, console.operator.username, "guess")).status_code == 401
        refused = await _login(http, console.operator.username, console.operator.password)
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "2"
    # Another console process (or this one restarted) reads the same failures from the database.
    async with console.app() as http:
        assert (await _login(http, console.operator.username, console.operator.password)).status_code == 429
        console.clock.advance(2)
        assert (await _login(http, console.operator.username, console.operator.password)).status_code == 200


async def test_failures_from_one_address_over_many_usernames_slow_it_down(
    console: Console, http: httpx.AsyncClient
) -> None:
    for n in range(10):
        assert (await _login(http, f"someone-{n}", "guess")).status_code == 401
    response = await _login(http, console.operator.username, console.operator.password)
    assert response.status_code == 429
    assert "too many failed logins" in response.json()["detail"]
    assert response.headers["retry-after"] == "1"


async def test_a_good_login_does_not_wait_and_earlier_failures_stay_audited(
    console: Console, http: httpx.AsyncClient
) -> None:
    for _ in range(3):
        assert (await _login(http, console.operator.username, "guess")).status_code == 401
    console.clock.advance(1)
    assert (await _login(http, console.operator.username, console.operator.password)).status_code == 200
    # The good try itself is no failure: the next one waits as after three failures, no longer.
    console.clock.advance(1)
    assert (await _login(http, console.operator.username, "guess")).status_code == 401
    assert (await _login(http, console.operator.username, console.operator.password)).status_code == 429


async def test_every_login_gets_a_new_session_id(console: Console, http: httpx.AsyncClient) -> None:
    first = await log_in(http, console.operator)
    second = await log_in(http, console.operator)
    assert first.session_token != second.session_token
    assert first.csrf_token != second.csrf_token
    # The session the browser came with is gone: a planted or stolen id is worth nothing after login.
    async with console.app() as other:
        other.cookies.set("opaska_session", first.session_token)
        assert (await other.get("/api/me")).status_code == 401


async def test_without_a_login_the_api_answers_401(http: httpx.AsyncClient) -> None:
    for path in ("/api/alarms", "/api/me", "/api/band-rejects", "/api/alarms/1", "/api/supervisor/overview"):
        response = await http.get(path)
        assert response.status_code == 401, path
        assert "log in" in response.json()["detail"]
    assert (await http.post("/api/alarms/1/claim")).status_code == 401
    assert (await http.post("/api/logout")).status_code == 401
    # What stays open: health, metrics, the pages' shell.
    assert (await http.get("/healthz")).status_code == 200
    assert (await http.get("/metrics")).status_code == 200


async def test_a_state_changing_request_without_the_csrf_token_is_refused(
    console: Console, http: httpx.AsyncClient
) -> None:
    login = await log_in(http, console.operator)
    del http.headers["X-CSRF-Token"]
    missing = await http.post("/api/logout")
    assert missing.status_code == 403
    assert "CSRF" in missing.json()["detail"]
    wrong = await http.post("/api/logout", headers={"X-CSRF-Token": login.csrf_token[:-1] + "x"})
    assert wrong.status_code == 403
    # Still logged in; the form field works as well as the header.
    assert (await http.get("/api/me")).status_code == 200
    by_form = await http.post("/api/logout", data={"csrf_token": login.csrf_token})
    assert by_form.status_code == 204


async def test_logout_ends_the_session(console: Console, http: httpx.AsyncClient) -> None:
    login = await log_in(http, console.operator)
    response = await http.post("/api/logout")
    assert response.status_code == 204
    assert 'opaska_session=""' in response.headers["set-cookie"] or "Max-Age=0" in response.headers["set-cookie"]
    assert (await http.get("/api/me")).status_code == 401
    async with console.app() as other:
        other.cookies.set("opaska_session", login.session_token)
        assert (await other.get("/api/me")).status_code == 401
    async with console.sessions() as session:
        assert (await session.execute(select(StaffSession))).first() is None


async def test_an_idle_session_ends_and_so_does_a_long_one(console: Console) -> None:
    async with console.app(session_idle_timeout_s=600, session_max_age_s=3600) as http:
        await log_in(http, console.operator)
        console.clock.advance(599)
        assert (await http.get("/api/me")).status_code == 200
        console.clock.advance(599)  # active: each request moves the idle limit on
        assert (await http.get("/api/me")).status_code == 200
        console.clock.advance(601)
        assert (await http.get("/api/me")).status_code == 401

        await log_in(http, console.operator)
        for _ in range(7):
            console.clock.advance(500)
            assert (await http.get("/api/me")).status_code == 200
        console.clock.advance(200)
        assert (await http.get("/api/me")).status_code == 401  # busy all along, but 3700 s after login


async def test_a_deactivated_account_is_logged_out(console: Console, http: httpx.AsyncClient) -> None:
    await log_in(http, console.operator)
    async with console.sessions() as session, session.begin():
        staff = await session.get(StaffUser, console.operator.id)
        assert staff is not None
        staff.active = False
    assert (await http.get("/api/me")).status_code == 401
    assert (await _login(http, console.operator.username, console.operator.password)).status_code == 401
