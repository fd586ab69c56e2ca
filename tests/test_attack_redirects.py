"""The login's `next` may only lead back into the console. A link to the login page with a `next` of
another site's (a phishing page that says "session expired, type your password again") is the
oldest trick on a login form.

Found by this test: the check was "starts with / and not with //", and browsers read "/\\evil" and
"/<tab>/evil" as "//evil", so both led to another site after the login (by the login page's script,
and by the page's own 303 for someone already logged in). console/pages.py:local_target.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from html import unescape
from urllib.parse import quote, urljoin, urlsplit

import httpx
import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.live import AlarmFeed
from console.context import ConsoleContext
from console.pages import local_target
from core.clock import FakeClock
from opaska.console_app import console_app
from simulator.lab.staff import create_staff, log_in

BASE = "http://console.example"
# What a browser would take for another site, however it is spelled.
ELSEWHERE = [
    "https://evil.example/",
    "//evil.example/",
    "/\\evil.example/",
    "\\\\evil.example/",
    "/\t/evil.example/",
    "/\n/evil.example/",
    "/\\/evil.example/",
    " //evil.example/",
    "javascript:alert(1)",
    "/%2F%2Fevil.example",  # stays a path on the console: allowed, harmless
]
STAYS = ["/", "/alarms/12", "/registry/residents/3?tab=plan", "/reports#sla"]


def _browser_target(next_value: str) -> str:
    """Where a browser goes from a console page for `location.href = next_value`, as the URL
    standard reads it: tabs and newlines dropped, a backslash a slash (for http and https)."""
    cleaned = "".join(c for c in next_value if c not in "\t\n\r").strip(" ").replace("\\", "/")
    return urljoin(BASE + "/login", cleaned)


@pytest.mark.stack_independent
@pytest.mark.parametrize("next_value", ELSEWHERE + STAYS)
def test_the_target_after_login_is_always_on_the_console(next_value: str) -> None:
    target = local_target(next_value)
    assert urlsplit(_browser_target(target)).netloc == urlsplit(BASE).netloc, target
    if next_value in STAYS:
        assert target == next_value


@pytest_asyncio.fixture
async def http(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    app = console_app(ConsoleContext(sessions, AlarmFeed(sessions), run_feed=False), emqx_hooks=None, clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        yield client


def _data_next(page: str) -> str:
    start = page.index('data-next="') + len('data-next="')
    return unescape(page[start : page.index('"', start)])


@pytest.mark.asyncio
@pytest.mark.parametrize("next_value", ELSEWHERE)
async def test_neither_the_login_pages_nor_their_redirect_lead_elsewhere(
    http: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], clock: FakeClock, next_value: str
) -> None:
    query = f"?next={quote(next_value, safe='')}"
    for page in ("/login", "/login/second-factor"):
        answer = await http.get(page + query)
        assert answer.status_code == 200
        netloc = urlsplit(_browser_target(_data_next(answer.text))).netloc
        assert netloc == urlsplit(BASE).netloc, f"{page}: data-next={_data_next(answer.text)!r}"
    # Someone already logged in is sent on at once, by a 303.
    await log_in(http, await create_staff(sessions, clock, role="administrator"))
    answer = await http.get("/login" + query)
    assert answer.status_code == 303
    assert urlsplit(_browser_target(answer.headers["location"])).netloc == urlsplit(BASE).netloc
