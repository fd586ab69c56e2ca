"""A night shift in a real browser (Debian's Chromium, driven by Playwright): an operator busy with
one alarm never misses the next.

Two operators are logged in to `opaska run` (a real process). Operator 1 works on a fall (alarm A)
on its alarm page; an SOS (B) and a battery alarm (C) arrive. Without leaving the page operator 1
sees the alarm bar with both, the page title counts them, and the life-alarm sound is playing (the
page's AudioContext runs and B is among the alarms ringing; C, technical, only chimes). Operator 2
claims B: the sound for B stops on both pages. A fall (E) silenced from the bar stays silenced on
the next page, while it still counts as waiting. Screenshots of the alarm page and the queue go
to test-artifacts/screenshots/.
"""

from __future__ import annotations

from datetime import date

import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.model import AlarmKind
from core.clock import FakeClock
from registry import service
from registry.model import Band, Resident
from tests.support.alarms import press
from tests.support.browser import RECONNECTING, SCREENSHOTS, browser, no_script_errors
from tests.support.seed import SeededBand
from tests.test_console_browser import Platform, log_in, platform

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e, pytest.mark.timeout(240)]

__all__ = ["browser", "platform"]  # fixtures, from tests/support/browser.py and the console browser test

# The bar reacts as the live feed delivers; in a separate console process the feed polls the
# database, so allow for a poll and the page's work (the latency itself is measured in bench/).
PROMPTLY_MS = 3_000


async def _second_resident(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, seeded: SeededBand
) -> SeededBand:
    """Another resident with a band in the same municipality: Jan Zieliński, with a phone and a location."""
    async with sessions() as session, session.begin():
        resident = await service.create_resident(
            session,
            clock,
            municipality_id=seeded.municipality_id,
            first_name="Jan",
            last_name="Zieliński",
            address="ul. Ślężna 40/2, Wrocław",
        )
        resident.phone = "+48717000111"
        resident.birth_date = date(1938, 3, 14)
        registered = await service.register_band(
            session, clock, serial="B-shift-2", model="test", resident_id=resident.id
        )
        return SeededBand(
            "B-shift-2", registered.secret, registered.band.id, resident.id, seeded.municipality_id, "Jan Zieliński"
        )


async def _with_location(sessions: async_sessionmaker[AsyncSession], clock: FakeClock, seeded: SeededBand) -> None:
    async with sessions() as session, session.begin():
        band = await session.get(Band, seeded.band_id)
        resident = await session.get(Resident, seeded.resident_id)
        assert band is not None
        assert resident is not None
        band.last_location = {
            "lat": 51.1079,
            "lon": 17.0385,
            "accuracy_m": 25,
            "source": "gps",
            "at": clock.now().isoformat(),
        }
        resident.phone = "+48717000222"
        resident.birth_date = date(1941, 6, 2)


async def _ringing(page: Page) -> list[int]:
    return list(await page.evaluate("AlarmWatch.ringing()"))


async def test_an_operator_on_one_alarm_hears_and_sees_the_next(
    platform: Platform, browser: Browser, sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    other = await _second_resident(sessions, clock, platform.seeded)
    await _with_location(sessions, clock, platform.seeded)
    fall_a = await press(sessions, platform.seeded, AlarmKind.FALL, at=clock.now())

    first = await log_in(browser, platform, platform.operator)
    second = await log_in(browser, platform, platform.second_operator)
    with no_script_errors(first, expected=RECONNECTING), no_script_errors(second, expected=RECONNECTING):
        # Operator 1 takes the fall and works on it on its own page.
        await first.goto(f"{platform.base}/alarms/{fall_a}")
        await expect(first.locator("#connection")).to_have_text("na żywo")
        await first.keyboard.press("p")  # claim from the keyboard
        await expect(first.locator("#alarm-state")).to_contain_text("przyjął: Anna Nowak")
        await expect(first.locator("#alarm-bar-count")).to_have_text("Brak nieprzyjętych alarmów")
        await expect(first).to_have_title("Upadek: Zofia Wiśniewska — opaska")
        assert await first.evaluate("AlarmWatch.audioState()") == "running"  # the key press let it play

        # An SOS and a battery alarm arrive while operator 1 is on alarm A.
        sos_b = await press(sessions, other, AlarmKind.SOS, at=clock.now())
        battery_c = await press(sessions, platform.seeded, AlarmKind.BATTERY_LOW, at=clock.now())
        bar = first.locator("#alarm-bar")
        await expect(first.locator("#alarm-bar-count")).to_contain_text("Nieprzyjęte alarmy: 2", timeout=PROMPTLY_MS)
        await expect(bar.locator(f'[data-alarm-id="{sos_b}"]')).to_contain_text("SOS: Jan Zieliński")
        await expect(bar.locator(f'[data-alarm-id="{battery_c}"]')).to_contain_text("Słaba bateria")
        await expect(first).to_have_title("(2) Upadek: Zofia Wiśniewska — opaska")
        await expect(first.locator("body")).to_have_attribute("data-sound", "ringing")
        assert await _ringing(first) == [sos_b]  # the battery alarm chimes once; it does not ring
        await expect(first.locator("#alarm-state")).to_contain_text("przyjął: Anna Nowak")  # still on A
        await first.screenshot(path=str(SCREENSHOTS / "shift-alarm-page-with-bar.png"), full_page=True)

        # Operator 2, on the queue, claims B from the keyboard: the sound for B stops on both pages.
        await expect(second.locator(f'#queue tr[data-alarm-id="{sos_b}"]')).to_be_visible()
        assert await _ringing(second) == [sos_b]
        await second.screenshot(path=str(SCREENSHOTS / "shift-queue.png"), full_page=True)
        await second.keyboard.press("ArrowDown")
        await expect(second.locator(f'#queue tr[data-alarm-id="{sos_b}"]')).to_have_class("raised life selected")
        await second.keyboard.press("p")
        await expect(second).to_have_url(f"{platform.base}/alarms/{sos_b}")
        await expect(second.locator("#alarm-state")).to_contain_text("przyjął: Piotr Zieliński")
        await expect(first.locator("body")).to_have_attribute("data-sound", "quiet", timeout=PROMPTLY_MS)
        await expect(second.locator("body")).to_have_attribute("data-sound", "quiet")
        assert await _ringing(first) == []
        await expect(first).to_have_title("(1) Upadek: Zofia Wiśniewska — opaska")
        await expect(first.locator("#alarm-bar-count")).to_contain_text("Nieprzyjęte alarmy: 1")

        # A fall E: operator 1 silences it from the bar; it stays silenced on the next page, and waits.
        fall_e = await press(sessions, other, AlarmKind.FALL, at=clock.now())
        chip = bar.locator(f'[data-alarm-id="{fall_e}"]')
        await expect(chip).to_be_visible(timeout=PROMPTLY_MS)
        assert await _ringing(first) == [fall_e]
        await chip.get_by_role("button", name="Wycisz").click()
        await expect(chip).to_contain_text("wyciszony")
        assert await _ringing(first) == []
        await first.keyboard.press("k")  # back to the queue
        await expect(first).to_have_url(platform.base + "/")
        await expect(first.locator(f'#queue tr[data-alarm-id="{fall_e}"]')).to_be_visible()
        await expect(first).to_have_title("(2) opaska — kolejka")
        await expect(first.locator("body")).to_have_attribute("data-sound", "quiet")
        assert await _ringing(first) == []
        await first.screenshot(path=str(SCREENSHOTS / "shift-queue-silenced.png"), full_page=True)

        # Back to A from the keyboard, and closed with the dialog: Escape cancels, Enter confirms.
        await first.goto(f"{platform.base}/alarms/{fall_a}")
        await expect(first.locator("#alarm-state")).to_contain_text("przyjął: Anna Nowak")
        dialog = first.locator("dialog.opaska-dialog")
        await first.keyboard.press("z")
        await expect(dialog).to_be_visible()
        await expect(dialog.locator("select")).to_be_focused()
        await first.keyboard.press("Escape")
        await expect(dialog).to_have_count(0)
        await expect(first.locator("#alarm-state")).to_contain_text("przyjęty")
        await first.keyboard.press("z")
        await first.keyboard.press("Enter")  # no outcome chosen: the dialog says so and stays
        await expect(dialog.locator('[data-error-for="outcome"]')).to_contain_text("Wybierz wynik")
        await dialog.locator("select").select_option("resident_ok_after_call")
        await first.keyboard.press("Tab")
        await first.keyboard.type("Upadła przy łóżku, wstała sama; córka zajrzy wieczorem.")
        await first.keyboard.press("Control+Enter")
        await expect(dialog).to_have_count(0)
        await expect(first.locator("#alarm-state")).to_contain_text("zamknięty")
        await expect(first.locator("#timeline")).to_contain_text(
            "Zamknięty: Mieszkaniec OK po rozmowie — Anna Nowak — „Upadła przy łóżku"
        )
