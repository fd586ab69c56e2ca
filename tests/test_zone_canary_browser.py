"""A wandering resident and the platform's own canary, in a real browser (Debian's Chromium driven by
Playwright) against `opaska run` as a process, positions sent over real MQTT.

A supervisor draws the resident's safe zone on the resident's page; the band reports a position
half a kilometre away; the operator's queue gets "Poza strefą", and the alarm page shows how far
from home the band is, the zone on the map and the exit on the timeline. Meanwhile the header's
canary badge shows the alarm path's last end-to-end time, and the canary's own alarms are never in
the queue. Screenshots in test-artifacts/screenshots/ (zone-card.png, zone-alarm.png).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.care.zone_rule import offset
from core.clock import FakeClock
from core.mqtt.endpoint import parse_mqtt_url
from gateway.topics import TopicScheme
from simulator.band import VirtualBand
from tests.support.browser import RECONNECTING, SCREENSHOTS, browser, no_script_errors
from tests.test_console_browser import TEST_MQTT_URL, Platform, running_platform
from tests.test_console_technician_browser import log_in

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e, pytest.mark.timeout(240)]
__all__ = ["browser"]

EXPECT_TIMEOUT_MS = 30_000
HOME = (51.10789, 17.03854)


@pytest_asyncio.fixture
async def platform(
    sessions: async_sessionmaker[AsyncSession],
    database_url: str,
    clock: FakeClock,
    topics: TopicScheme,
    client_prefix: str,
    tmp_path: Path,
) -> AsyncIterator[Platform]:
    """`opaska run` with the alarm canary on, every 2 s."""
    canary = {"OPASKA_CANARY_ENABLED": "true", "OPASKA_CANARY_EVERY_S": "2", "OPASKA_CANARY_TIMEOUT_S": "10"}
    async with running_platform(sessions, database_url, clock, topics, client_prefix, tmp_path, **canary) as running:
        yield running


async def _walk_away(platform: Platform, topics: TopicScheme, north_m: float) -> None:
    band = VirtualBand(
        parse_mqtt_url(platform.endpoint_url),
        topics,
        platform.seeded.serial,
        password=platform.seeded.secret,
        protocol="5" if TEST_MQTT_URL else "3.1.1",
    )
    await band.start()
    try:
        band.state.lat, band.state.lon = offset(*HOME, north_m=north_m)
        await band.report_location()
    finally:
        await band.stop()


async def test_a_band_leaving_its_zone_reaches_the_operator_and_the_canary_badge_shows(
    platform: Platform, browser: Browser, topics: TopicScheme
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    await _walk_away(platform, topics, 0)  # at home: the resident page can centre the zone on it
    page = await log_in(browser, platform, platform.supervisor, f"/registry/residents/{platform.seeded.resident_id}")
    with no_script_errors(page, expected=RECONNECTING):
        await expect(page.locator("#zone-state")).to_have_text("Bez strefy bezpiecznej.")
        await expect(page.locator("#zone-here")).to_be_enabled()
        await page.click("#zone-here")
        await expect(page.locator("#zone-radius")).to_have_value("300")
        # A radius under 50 m is stopped by the form itself (and by the API: test_safe_zones).
        await page.fill("#zone-radius", "20")
        await page.locator("#zone-form button[type=submit]").click()
        await expect(page.locator("#zone-radius:invalid")).to_have_count(1)
        await expect(page.locator("#zone-state")).to_have_text("Bez strefy bezpiecznej.")
        await page.fill("#zone-radius", "300")
        await page.locator("#zone-form button[type=submit]").click()
        await expect(page.locator("#zone-state")).to_contain_text("Strefa: 300 m od domu.")
        await expect(page.locator("#zone-state")).to_contain_text("Ostatnie położenie opaski: 0 m od środka.")
        await expect(page.locator("#resident-map path.map-zone")).to_have_count(1)
        await page.locator("#zone-card").screenshot(path=str(SCREENSHOTS / "zone-card.png"))

    await _walk_away(platform, topics, 520)
    page = await log_in(browser, platform, platform.operator, "/")
    with no_script_errors(page, expected=RECONNECTING):
        # The canary comes through every 2 s: its time in the header, its alarms never in the queue.
        await expect(page.locator("#canary")).to_have_text(re.compile(r"^Ścieżka alarmowa: \d+(,\d+)? s$"))
        row = page.locator("#queue tbody tr", has_text="Poza strefą")
        await expect(row).to_have_count(1)
        await expect(page.locator("#queue")).not_to_contain_text("Alarm kontrolny")
        await row.click()
        await expect(page.locator("#zone-distance")).to_have_text("Poza strefą: 520 m od domu (strefa 300 m).")
        await expect(page.locator("#band-map path.map-zone")).to_have_count(1)
        await expect(page.locator("#timeline")).to_contain_text(
            "Opaska poza strefą bezpieczną: 520 m od domu (±15 m), strefa 300 m"
        )
        await page.screenshot(path=str(SCREENSHOTS / "zone-alarm.png"), full_page=True)
