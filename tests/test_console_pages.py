"""The console's pages: without a login they send you to the login page (and back afterwards, but
never to another site); the supervisor's page is for supervisors and administrators only."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.live import AlarmFeed
from console.app import create_app
from console.context import ConsoleContext
from core.clock import FakeClock
from simulator.lab.staff import create_staff, log_in
from tests.support.seed import seed_resident_with_band

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def http(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(ConsoleContext(sessions, AlarmFeed(sessions), run_feed=False), clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as client:
        yield client


@pytest.mark.parametrize("path", ["/", "/alarms/12", "/supervisor"])
async def test_a_page_without_a_login_goes_to_the_login_page_and_back(http: httpx.AsyncClient, path: str) -> None:
    answer = await http.get(path)
    assert (answer.status_code, answer.headers["location"]) == (303, f"/login?next={path}")
    login = await http.get(answer.headers["location"])
    assert login.status_code == 200
    assert f'data-next="{path}"' in login.text


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)"])
async def test_the_login_page_never_sends_you_to_another_site(http: httpx.AsyncClient, target: str) -> None:
    page = await http.get("/login", params={"next": target})
    assert 'data-next="/"' in page.text


async def test_pages_carry_the_csrf_token_and_the_supervisor_page_is_for_supervisors(
    http: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    seeded = await seed_resident_with_band(sessions, clock)
    operator = await create_staff(sessions, clock, role="operator", municipality_ids=[seeded.municipality_id])
    login = await log_in(http, operator)
    queue = await http.get("/")
    assert queue.status_code == 200
    assert f'<meta name="csrf-token" content="{login.csrf_token}">' in queue.text
    assert queue.headers["cache-control"] == "no-store"
    assert "/supervisor" not in queue.text  # no link to a page the operator may not open
    assert "tylko dla koordynatora" in (await http.get("/supervisor")).text
    assert (await http.get("/login")).headers["location"] == "/"  # logged in already

    supervisor = await create_staff(sessions, clock, role="supervisor", municipality_ids=[seeded.municipality_id])
    await log_in(http, supervisor)
    overview = await http.get("/supervisor")
    assert 'id="within-60"' in overview.text
