"""The console's Content-Security-Policy in a real browser (Debian's Chromium driven by Playwright)
against `opaska run` as a process, with map tiles from a local tile server on another origin.

The main pages (the queue, an alarm with its Leaflet map, the registry's resident and band cards,
the supervisor's page with the failed-logins table, the reports) load and work with no CSP
violation; an injected inline handler is refused, and no other site can frame the console.
Screenshot: test-artifacts/screenshots/security-supervisor-login-failures.png.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from gateway.topics import TopicScheme
from simulator.lab.staff import StaffMember
from tests.support.browser import RECONNECTING, SCREENSHOTS, browser, new_page, no_script_errors
from tests.test_console_map_browser import Centre, band_reports_and_presses, running_centre, tile_server

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e, pytest.mark.timeout(300)]
__all__ = ["browser"]

EXPECT_TIMEOUT_MS = 30_000
# Run before any page script, outside the page's CSP: every violation the page meets, kept.
COLLECT_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


@pytest_asyncio.fixture
async def centre(
    sessions: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    database_url: str,
    topics: TopicScheme,
    client_prefix: str,
    tmp_path: Path,
) -> AsyncIterator[tuple[Centre, list[str]]]:
    with tile_server() as (template, asked):
        async with running_centre(
            sessions, clock, database_url, topics, client_prefix, tmp_path, OPASKA_CONSOLE_MAP_TILES_URL=template
        ) as running:
            yield running, asked


async def _logged_in(browser: Browser, centre: Centre, who: StaffMember | None) -> Page:
    assert who is not None
    page = await new_page(browser)
    await page.add_init_script(COLLECT_VIOLATIONS)
    await page.goto(centre.base + "/login")
    await page.fill("#username", who.username)
    await page.fill("#password", who.password)
    await page.click("button[type=submit]")
    await expect(page).to_have_url(centre.base + "/")
    return page


async def _violations(page: Page) -> list[str]:
    found: list[str] = await page.evaluate("window.__cspViolations || []")
    return found


async def test_the_main_pages_work_under_the_content_security_policy(
    centre: tuple[Centre, list[str]],
    browser: Browser,
    topics: TopicScheme,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    running, tiles_asked = centre
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    alarm_id = await band_reports_and_presses(running, topics, sessions)
    # Someone guessing the operator's password from elsewhere: the supervisor's table shows it.
    # From another address (127.0.0.2 is loopback too): the operator's own login from 127.0.0.1 is
    # never slowed by someone else's wrong guesses, which is the point of the throttle.
    elsewhere = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
    async with httpx.AsyncClient(base_url=running.base, transport=elsewhere) as guesser:
        assert running.operator is not None
        for _ in range(3):
            refused = await guesser.post("/api/login", json={"username": running.operator.username, "password": "x1"})
            assert refused.status_code == 401

    page = await _logged_in(browser, running, running.operator)
    with no_script_errors(page, expected=RECONNECTING):
        await expect(page.locator("#connection")).to_have_text("na żywo")  # the WebSocket, under connect-src
        await expect(page.locator("#queue tbody tr")).to_have_count(1)
        await page.goto(f"{running.base}/alarms/{alarm_id}")
        await expect(page.locator("#band-map .leaflet-container")).to_have_count(1)
        await expect(page.locator("#band-map img.leaflet-tile-loaded").first).to_be_visible()  # img-src: the tiles
        await expect(page.locator("#band-map .map-coords")).to_have_text("51.11370, 17.01880 ±15 m")
        assert await _violations(page) == []

    page = await _logged_in(browser, running, running.supervisor)
    with no_script_errors(page, expected=RECONNECTING):
        for path, ready in (
            ("/supervisor", "#login-failures tbody tr"),
            ("/reports", "main"),
            (f"/registry/residents/{running.located.resident_id}", "#resident-map .leaflet-container"),
            (f"/registry/bands/{running.located.band_id}", "#band-map .leaflet-container"),
            ("/registry", "#residents tbody tr"),
        ):
            await page.goto(running.base + path)
            await expect(page.locator(ready).first).to_be_visible()
            if path == "/supervisor":
                await expect(page.locator("#login-failures tbody tr")).to_have_count(3)
                await expect(page.locator("#login-failures tbody tr").first).to_contain_text(running.operator.username)
                await page.screenshot(path=str(SCREENSHOTS / "security-supervisor-login-failures.png"), full_page=True)
            # Let late scripts and images (tiles, the live feed) run before reading the violations.
            await page.wait_for_load_state("networkidle")
            assert await _violations(page) == [], path
    assert tiles_asked

    # The policy is in force: a handler injected as markup does not run, and is reported.
    with no_script_errors(page, expected=(*RECONNECTING, "Content Security Policy", "404 (Not Found)")):
        await page.evaluate(
            """document.body.insertAdjacentHTML("beforeend",
                 '<img id="xss" src="/static/nowhere.png" onerror="window.__injected = 1">')"""
        )
        await expect(page.locator("#xss")).to_have_count(1)
        await asyncio.sleep(0.5)
        assert await page.evaluate("window.__injected === undefined")
        assert any(v.startswith("script-src") for v in await _violations(page))

    # Another site framing the console (click-jacking) gets nothing.
    framer = await new_page(browser)
    with no_script_errors(framer, expected=("frame-ancestors", "X-Frame-Options", "refused to connect")):
        await framer.set_content(f'<iframe id="console" src="{running.base}/login"></iframe>')
        await asyncio.sleep(1.0)
        framed = [frame for frame in framer.frames if frame != framer.main_frame]
        assert len(framed) == 1
        assert await framed[0].locator("#username").count() == 0
