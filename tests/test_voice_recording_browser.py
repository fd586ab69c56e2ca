"""The consent to call recording on the resident's card, in a real browser: a supervisor ticks it with
the date the form was signed, the card says so, and withdrawing it clears it."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import select

from registry.model import Resident
from simulator.lab.staff import create_staff
from tests.support.browser import SCREENSHOTS, browser, new_page, no_script_errors
from tests.test_voice_recording import World, world

__all__ = ["browser", "world"]

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The 'auth' parameter is deprecated:DeprecationWarning"),
]


async def test_a_supervisor_records_and_withdraws_consent_on_the_card(world: World, browser: Browser) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    expect.set_options(timeout=10_000)
    seeded = world.seeded
    supervisor = await create_staff(
        world.sessions, world.clock, role="supervisor", municipality_ids=[seeded.municipality_id]
    )
    start = f"/registry/residents/{seeded.resident_id}"
    page = await new_page(browser)
    await page.goto(world.console_url + start)
    await expect(page).to_have_url(re.compile(r"/login\?next="))
    await page.fill("#username", supervisor.username)
    await page.fill("#password", supervisor.password)
    await page.click("button[type=submit]")
    await expect(page).to_have_url(world.console_url + start)
    # The URL is the page's as soon as the navigation commits, before its scripts have their
    # handlers: a click then would be lost. The load event comes after them.
    await page.wait_for_load_state("load")

    with no_script_errors(page, expected=("WebSocket",)):
        await expect(page.locator("#resident")).to_contain_text("brak zgody")
        await expect(page.locator("#consent-given")).not_to_be_checked()
        await expect(page.locator("#consent-date")).to_be_disabled()

        await page.check("#consent-given")
        await expect(page.locator("#consent-date")).to_be_enabled()
        await page.fill("#consent-date", "2026-11-30")
        await page.click("#consent-save")
        await expect(page.locator("#action-done")).to_have_text("Zgoda na nagrywanie rozmów zapisana.")
        await expect(page.locator("#resident")).to_contain_text("zgoda z 2026-11-30")
        await expect(page.locator("#consent-state")).to_have_text("Zgoda odnotowana: 2026-11-30.")
        await page.locator("#consent-form").screenshot(path=str(SCREENSHOTS / "resident-recording-consent.png"))

        async with world.sessions() as session:
            stored = await session.scalar(
                select(Resident.call_recording_consent_at).where(Resident.id == seeded.resident_id)
            )
        assert stored is not None
        assert stored.date().isoformat() == "2026-11-30"

        await page.uncheck("#consent-given")
        await page.click("#consent-save")
        await expect(page.locator("#action-done")).to_have_text("Zgoda na nagrywanie rozmów wycofana.")
        await expect(page.locator("#resident")).to_contain_text("brak zgody")
        await expect(page.locator("#consent-date")).to_have_value("")
