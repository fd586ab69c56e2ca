"""The band's last position on a map, in a real browser (Debian's Chromium), against opaska run as a
real process: the alarm page, the band card and the resident card show the marker, the accuracy
circle, the coordinates ± accuracy and the position's age, and the band's last signal (time and
kind). Without tiles (the tests' setting) the map still draws and the browser fetches nothing from
outside the console; with tiles, from a local tile server, the tiles load. A band never located
says "brak położenia". Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from core.mqtt.endpoint import parse_mqtt_url
from gateway.topics import TopicScheme
from registry.model import Band
from simulator.band import RepeatPolicy, VirtualBand
from simulator.lab.processes import REPO, wait_healthy
from simulator.lab.staff import StaffMember, create_staff
from tests.conftest import TEST_MQTT_URL
from tests.support.browser import RECONNECTING, SCREENSHOTS, browser, new_page, no_script_errors
from tests.support.processes import opaska_process, platform_process_setup
from tests.support.seed import SeededBand, seed_resident_with_band

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e, pytest.mark.timeout(240)]

__all__ = ["browser"]  # the Chromium fixture, from tests/support/browser.py

HOME = (51.11370, 17.01880)
# Any small PNG does as a tile: Leaflet only needs an image to load.
TILE = (REPO / "console" / "static" / "vendor" / "leaflet" / "images" / "layers.png").read_bytes()


@contextlib.contextmanager
def tile_server() -> Iterator[tuple[str, list[str]]]:
    """A local tile server: (its URL template, the paths asked for)."""
    asked: list[str] = []

    class Tiles(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(TILE)))
            self.end_headers()
            self.wfile.write(TILE)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Tiles)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/{{z}}/{{x}}/{{y}}.png", asked
    finally:
        server.shutdown()
        server.server_close()


class Centre:
    """opaska run as a process, a located band and an unlocated one, an operator and a technician."""

    def __init__(self, base: str, broker_url: str, located: SeededBand, unlocated: SeededBand) -> None:
        self.base, self.broker_url, self.located, self.unlocated = base, broker_url, located, unlocated
        self.operator: StaffMember | None = None
        self.supervisor: StaffMember | None = None


@contextlib.asynccontextmanager
async def running_centre(
    sessions: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    database_url: str,
    topics: TopicScheme,
    client_prefix: str,
    tmp_path: Path,
    **env: str,
) -> AsyncIterator[Centre]:
    located = await seed_resident_with_band(sessions, clock, first_name="Helena", last_name="Kowalska")
    unlocated = await seed_resident_with_band(sessions, clock, first_name="Irena", last_name="Kamińska")
    setup = platform_process_setup(database_url, topics.root, client_prefix)
    centre = Centre(setup.console_url, setup.broker_url, located, unlocated)
    centre.operator = await create_staff(sessions, clock, role="operator", municipality_ids=[located.municipality_id])
    centre.supervisor = await create_staff(
        sessions,
        clock,
        role="supervisor",
        municipality_ids=[located.municipality_id, unlocated.municipality_id],
    )
    log_path = tmp_path / "opaska-run.log"
    with opaska_process(["run"], {**setup.env, **env}, log_path) as process:
        await wait_healthy(setup.console_url, process, log_path)
        yield centre


@pytest_asyncio.fixture
async def centre(
    sessions: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    database_url: str,
    topics: TopicScheme,
    client_prefix: str,
    tmp_path: Path,
) -> AsyncIterator[Centre]:
    async with running_centre(sessions, clock, database_url, topics, client_prefix, tmp_path) as found:
        yield found


async def log_in(browser: Browser, centre: Centre, who: StaffMember | None) -> tuple[Page, list[str]]:
    """A logged-in page, and every URL it asked for outside the console."""
    assert who is not None
    page = await new_page(browser)
    outside: list[str] = []
    page.on(
        "request",
        lambda request: (
            None if request.url.startswith((centre.base, "data:", "blob:")) else outside.append(request.url)
        ),
    )
    await page.goto(centre.base + "/login")
    await page.fill("#username", who.username)
    await page.fill("#password", who.password)
    await page.click("button[type=submit]")
    await expect(page).to_have_url(centre.base + "/")
    return page, outside


async def _location_recorded(sessions: async_sessionmaker[AsyncSession], band_id: int) -> None:
    """Until the gateway has stored the band's position. The position and the SOS travel on the
    gateway's two connections (the alarm lane apart), so one sent first may be received second."""
    for _ in range(150):
        async with sessions() as session:
            band = await session.get(Band, band_id)
            if band is not None and band.last_location is not None and band.last_message_kind == "location":
                return
        await asyncio.sleep(0.1)
    raise AssertionError("the band's position was not stored within 15 s")


async def band_reports_and_presses(
    centre: Centre, topics: TopicScheme, sessions: async_sessionmaker[AsyncSession]
) -> int:
    """The located band says where it is (stored), then presses SOS; the alarm's id."""
    band = VirtualBand(
        parse_mqtt_url(centre.broker_url),
        topics,
        centre.located.serial,
        password=centre.located.secret,
        protocol="5" if TEST_MQTT_URL else "3.1.1",
        repeat=RepeatPolicy(3, 10),
    )
    band.state.lat, band.state.lon = HOME
    await band.start()
    try:
        await band.report_location()
        await _location_recorded(sessions, centre.located.band_id)
        return int((await band.press("sos", timeout=20))["alarm_id"])
    finally:
        await band.stop()


async def expect_map(page: Page, container: str, *, coordinates: str, age: str) -> None:
    box = page.locator(container)
    await expect(box.locator(".leaflet-marker-icon")).to_be_visible()
    await expect(box.locator("path.map-accuracy")).to_have_count(1)
    await expect(box.locator(".map-coords")).to_have_text(coordinates)
    await expect(box.locator(".map-age")).to_have_text(f" · {age}")
    await expect(box.locator(".map-caption a")).to_have_attribute(
        "href",
        f"https://www.openstreetmap.org/?mlat={HOME[0]:.6f}&mlon={HOME[1]:.6f}#map=17/{HOME[0]:.6f}/{HOME[1]:.6f}",
    )


async def age_the_fix(sessions: async_sessionmaker[AsyncSession], band_id: int, seconds: int) -> None:
    """As if the band's last position came `seconds` ago (the browser counts age on its own clock)."""
    async with sessions() as session, session.begin():
        band = await session.get(Band, band_id)
        assert band is not None
        assert band.last_location is not None
        band.last_location = {**band.last_location, "at": (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat()}


async def test_the_map_shows_where_the_band_was_on_every_page_without_tiles(
    centre: Centre, browser: Browser, sessions: async_sessionmaker[AsyncSession], topics: TopicScheme
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    alarm_id = await band_reports_and_presses(centre, topics, sessions)

    page, outside = await log_in(browser, centre, centre.operator)
    with no_script_errors(page, expected=RECONNECTING):
        await page.goto(f"{centre.base}/alarms/{alarm_id}")
        await expect(page.locator("#alarm-title")).to_contain_text("Helena Kowalska")
        await expect_map(page, "#band-map", coordinates="51.11370, 17.01880 ±15 m", age="przed chwilą")
        await expect(page.locator("#band-map .leaflet-tile")).to_have_count(0)  # no tiles configured
        await expect(page.locator("#band-last-signal")).to_have_text(re.compile(r"^\d\d:\d\d:\d\d · SOS$"))
        await page.screenshot(path=str(SCREENSHOTS / "map-alarm.png"), full_page=True)
    assert outside == []

    await age_the_fix(sessions, centre.located.band_id, 3 * 60 + 20)
    card, outside = await log_in(browser, centre, centre.supervisor)
    with no_script_errors(card, expected=RECONNECTING):
        await card.goto(f"{centre.base}/registry/bands/{centre.located.band_id}")
        await expect_map(card, "#band-map", coordinates="51.11370, 17.01880 ±15 m", age="3 min temu")
        await expect(card.locator("#band-last-signal")).to_contain_text("· SOS")
        await card.locator("#band-map").screenshot(path=str(SCREENSHOTS / "map-band-card.png"))
        await card.screenshot(path=str(SCREENSHOTS / "map-band-page.png"), full_page=True)

        await card.goto(f"{centre.base}/registry/residents/{centre.located.resident_id}")
        await expect_map(card, "#resident-map", coordinates="51.11370, 17.01880 ±15 m", age="3 min temu")
        await expect(card.locator(f'#bands tr[data-band-id="{centre.located.band_id}"] .last-signal')).to_contain_text(
            "· SOS"
        )
        await card.screenshot(path=str(SCREENSHOTS / "map-resident-card.png"), full_page=True)

        # A band that never said where it is, and never sent anything: no map, just that.
        await card.goto(f"{centre.base}/registry/residents/{centre.unlocated.resident_id}")
        await expect(card.locator("#resident-map")).to_have_text("brak położenia")
        await expect(card.locator("#resident-map .leaflet-container")).to_have_count(0)
        await expect(card.locator("#bands .last-signal")).to_have_text("brak")
    assert outside == []


async def test_with_a_tile_server_the_map_has_tiles_and_their_attribution(
    sessions: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    database_url: str,
    topics: TopicScheme,
    client_prefix: str,
    tmp_path: Path,
    browser: Browser,
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with tile_server() as (template, asked):
        async with running_centre(
            sessions,
            clock,
            database_url,
            topics,
            client_prefix,
            tmp_path,
            OPASKA_CONSOLE_MAP_TILES_URL=template,
            OPASKA_CONSOLE_MAP_ATTRIBUTION="Podkład <b>testowy</b>",
        ) as centre:
            alarm_id = await band_reports_and_presses(centre, topics, sessions)
            page, _ = await log_in(browser, centre, centre.operator)
            with no_script_errors(page, expected=RECONNECTING):
                await page.goto(f"{centre.base}/alarms/{alarm_id}")
                await expect_map(page, "#band-map", coordinates="51.11370, 17.01880 ±15 m", age="przed chwilą")
                tiles = page.locator("#band-map img.leaflet-tile-loaded")
                await expect(tiles.first).to_be_visible()
                # The configured attribution, as text (never as HTML).
                await expect(page.locator("#band-map .leaflet-control-attribution")).to_contain_text(
                    "Podkład <b>testowy</b>"
                )
                await expect(page.locator("#band-map .map-note")).to_have_count(0)
                await page.locator("#band-map").screenshot(path=str(SCREENSHOTS / "map-local-tiles.png"))
    assert asked
    assert all(path.endswith(".png") and path.count("/") == 3 for path in asked)
