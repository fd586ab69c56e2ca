"""Login throttling (console/auth/rate_limit.py): a guesser is slowed, the operator is never locked
out by someone else's guesses; every failure is audited for supervisors (GET /api/login-failures)
and counted for Prometheus. Addresses are the ASGI client's, or a trusted proxy's X-Forwarded-For."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio
from cryptography.fernet import Fernet
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.live import AlarmFeed
from console.app import create_app
from console.context import ConsoleContext
from core.clock import FakeClock
from core.settings import ConsoleSettings
from simulator.lab.staff import StaffMember, create_staff, log_in
from tests.support.seed import seed_resident_with_band

pytestmark = pytest.mark.asyncio

ATTACKER = "203.0.113.66"
OPERATORS_PC = "192.0.2.10"
PROXY = "10.0.0.2"


@dataclass
class Centre:
    sessions: async_sessionmaker[AsyncSession]
    clock: FakeClock
    operator: StaffMember
    supervisor: StaffMember
    other_supervisor: StaffMember

    def client(self, address: str, **settings: object) -> httpx.AsyncClient:
        context = ConsoleContext(
            self.sessions,
            AlarmFeed(self.sessions),
            run_feed=False,
            settings=ConsoleSettings.model_validate(settings),
            data_key=Fernet(Fernet.generate_key()),
        )
        app = create_app(context, clock=self.clock)
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://console")


@pytest_asyncio.fixture
async def centre(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> Centre:
    here = await seed_resident_with_band(sessions, clock)
    elsewhere = await seed_resident_with_band(sessions, clock)
    operator = await create_staff(sessions, clock, role="operator", municipality_ids=[here.municipality_id])
    supervisor = await create_staff(sessions, clock, role="supervisor", municipality_ids=[here.municipality_id])
    other = await create_staff(sessions, clock, role="supervisor", municipality_ids=[elsewhere.municipality_id])
    return Centre(sessions, clock, operator, supervisor, other)


@pytest_asyncio.fixture
async def client_at(centre: Centre) -> AsyncIterator[Callable[[str], httpx.AsyncClient]]:
    opened: list[httpx.AsyncClient] = []

    def open_at(address: str) -> httpx.AsyncClient:
        opened.append(centre.client(address))
        return opened[-1]

    yield open_at
    for client in opened:
        await client.aclose()


async def _login(http: httpx.AsyncClient, username: str, password: str, **headers: str) -> httpx.Response:
    return await http.post("/api/login", json={"username": username, "password": password}, headers=headers)


async def _fail_until(http: httpx.AsyncClient, centre: Centre, username: str, failures: int, **headers: str) -> int:
    """`failures` wrong passwords, waiting out each 429 as told; returns how many 429s came."""
    throttled = 0
    done = 0
    while done < failures:
        response = await _login(http, username, "wrong guess", **headers)
        if response.status_code == 429:
            throttled += 1
            centre.clock.advance(int(response.headers["retry-after"]))
            continue
        assert response.status_code == 401, response.text
        done += 1
    return throttled


def _failures_counted() -> float:
    return REGISTRY.get_sample_value("opaska_login_failures_total") or 0.0


async def test_a_guesser_elsewhere_never_keeps_the_operator_out(
    centre: Centre, client_at: Callable[[str], httpx.AsyncClient]
) -> None:
    attacker, operators_pc = client_at(ATTACKER), client_at(OPERATORS_PC)
    counted_before = _failures_counted()
    throttled = await _fail_until(attacker, centre, centre.operator.username, 20)
    assert throttled >= 17  # three free failures, then a wait before every one
    assert _failures_counted() - counted_before == 20

    # The operator's own PC: at once, and again after logging out.
    mine = await _login(operators_pc, centre.operator.username, centre.operator.password)
    assert mine.status_code == 200, mine.text

    # The guesser's address is slowed, even with the right password: the cap, not a lockout.
    theirs = await _login(attacker, centre.operator.username, centre.operator.password)
    assert theirs.status_code == 429
    assert theirs.headers["retry-after"] == "60"
    centre.clock.advance(60)
    assert (await _login(attacker, centre.operator.username, centre.operator.password)).status_code == 200


async def test_the_waits_grow_from_one_second_to_the_cap(centre: Centre) -> None:
    waits = []
    async with centre.client(ATTACKER) as http:
        for _ in range(12):
            response = await _login(http, centre.operator.username, "wrong guess")
            if response.status_code == 429:
                wait = int(response.headers["retry-after"])
                waits.append(wait)
                # Asking again during the wait neither helps nor lengthens it.
                again = await _login(http, centre.operator.username, "wrong guess")
                assert again.status_code == 429
                assert int(again.headers["retry-after"]) == wait
                centre.clock.advance(wait)
                assert (await _login(http, centre.operator.username, "wrong guess")).status_code == 401
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    # The failures age out of the window (15 minutes): the address starts afresh.
    centre.clock.advance(900)
    async with centre.client(ATTACKER) as http:
        assert (await _login(http, centre.operator.username, centre.operator.password)).status_code == 200


async def test_many_addresses_guessing_one_name_hit_the_ceiling_but_a_clean_address_does_not(
    centre: Centre,
) -> None:
    settings = {"login_username_ceiling": 12}
    for n in range(6):
        async with centre.client(f"198.51.100.{n + 1}", **settings) as bot:
            for _ in range(2):  # each under its own free failures
                assert (await _login(bot, centre.operator.username, "wrong guess")).status_code == 401
    async with centre.client("198.51.100.1", **settings) as bot:
        refused = await _login(bot, centre.operator.username, centre.operator.password)
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "60"
    async with centre.client(OPERATORS_PC, **settings) as mine:
        assert (await _login(mine, centre.operator.username, centre.operator.password)).status_code == 200


async def test_forwarded_for_counts_only_from_a_trusted_proxy(centre: Centre) -> None:
    trusted = {"trusted_proxies": [PROXY]}
    # Through the proxy, each client is itself: the guesser is slowed, the operator is not.
    async with centre.client(PROXY, **trusted) as proxy:
        await _fail_until(proxy, centre, centre.operator.username, 8, **{"X-Forwarded-For": ATTACKER})
        guesser = await _login(
            proxy, centre.operator.username, centre.operator.password, **{"X-Forwarded-For": ATTACKER}
        )
        assert guesser.status_code == 429
        operator = await _login(
            proxy, centre.operator.username, centre.operator.password, **{"X-Forwarded-For": OPERATORS_PC}
        )
        assert operator.status_code == 200
        # A client-supplied X-Forwarded-For in front of the proxy's own entry is not believed.
        spoofed = await _login(
            proxy,
            centre.operator.username,
            centre.operator.password,
            **{"X-Forwarded-For": f"{OPERATORS_PC}, {ATTACKER}"},
        )
        assert spoofed.status_code == 429
    # From an address that is no trusted proxy, X-Forwarded-For is ignored: a new address per try
    # does not escape the throttle.
    async with centre.client(ATTACKER, **trusted) as direct:
        statuses = [
            (await _login(direct, "someone", "wrong guess", **{"X-Forwarded-For": f"192.0.2.{n}"})).status_code
            for n in range(30, 45)
        ]
    assert 429 in statuses


async def test_a_burst_of_guesses_at_once_gets_no_more_than_the_free_ones(centre: Centre) -> None:
    async with centre.client(ATTACKER) as attacker:
        burst = await asyncio.gather(*(_login(attacker, centre.operator.username, f"guess {n}") for n in range(12)))
    statuses = sorted(response.status_code for response in burst)
    # One try at a time from an address: three reach the password check, the rest wait their turn.
    assert statuses == [401] * 3 + [429] * 9
    async with centre.client(OPERATORS_PC) as mine:
        assert (await _login(mine, centre.operator.username, centre.operator.password)).status_code == 200


async def test_the_audit_lists_every_failure_for_supervisors_without_passwords(
    centre: Centre, client_at: Callable[[str], httpx.AsyncClient], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="console")
    attacker = client_at(ATTACKER)
    await _fail_until(attacker, centre, centre.operator.username, 5)
    # Someone typed a password into the username field: the audit must not show it.
    assert (await _login(attacker, "Tajne-Haslo-123", "x")).status_code == 401

    supervisor = client_at(OPERATORS_PC)
    await log_in(supervisor, centre.supervisor)
    answer = await supervisor.get("/api/login-failures")
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["total"] == 6
    latest, *named = body["failures"]
    assert latest == {
        "at": latest["at"],
        "username": "t… (15 znaków)",
        "known_account": False,
        "full_name": None,
        "client_ip": ATTACKER,
        "factor": "password",
    }
    assert {(f["username"], f["full_name"], f["client_ip"]) for f in named} == {
        (centre.operator.username, centre.operator.full_name, ATTACKER)
    }
    assert len(named) == 5
    assert "wrong guess" not in answer.text
    assert "tajne-haslo" not in answer.text.lower()
    assert "wrong guess" not in caplog.text
    assert "haslo" not in caplog.text.lower()

    # A supervisor of another municipality sees the failures against no account, not ours.
    other = client_at("192.0.2.11")
    await log_in(other, centre.other_supervisor)
    theirs = (await other.get("/api/login-failures")).json()
    assert [f["known_account"] for f in theirs["failures"]] == [False]

    # An operator may not read the audit; bad parameters are field errors.
    operator = client_at("192.0.2.12")
    await log_in(operator, centre.operator)
    assert (await operator.get("/api/login-failures")).status_code == 403
    for query in ("hours=0", "hours=abc", "limit=100000"):
        bad = await supervisor.get(f"/api/login-failures?{query}")
        assert bad.status_code == 422, query
        assert bad.json()["detail"][0]["loc"][0] == "query"

    # Limited to the latest, counted in full; older than asked for: not listed.
    assert len((await supervisor.get("/api/login-failures?limit=2")).json()["failures"]) == 2
    centre.clock.advance(3 * 3600)
    await log_in(supervisor, centre.supervisor)  # the session has gone idle meanwhile
    assert (await supervisor.get("/api/login-failures?hours=1")).json()["total"] == 0
    assert (await supervisor.get("/api/login-failures?hours=4")).json()["total"] == 6
