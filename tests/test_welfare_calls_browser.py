"""Welfare calls in a real browser (Debian's Chromium driven by Playwright) against `opaska run` as a
process: a welfare call due, done and recorded, end to end.

The supervisor plans a call on the resident's page (due a few minutes ago, so it is overdue) and a
round for the whole municipality on the registry page; the operator, on the queue page, finds the
call at the top of the shift's list with the resident's phone, presses "Potrzebna wizyta" with a
few words, and the welfare_call alarm the outcome raised comes into the queue by itself; its
timeline says why. A 1366×768 screen, the centre's time zone. Screenshots in
test-artifacts/screenshots/ (welfare-plan.png, welfare-bulk.png, welfare-shift.png,
welfare-alarm.png).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.model import Alarm
from alarm_center.care.welfare_model import WelfareCall
from registry.model import Resident
from simulator.lab.staff import StaffMember
from tests.support.browser import RECONNECTING, SCREENSHOTS, browser, no_script_errors
from tests.test_console_browser import Platform, platform

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e, pytest.mark.timeout(240)]
__all__ = ["browser", "platform"]  # fixtures: Chromium, and opaska run with a seeded band and staff

EXPECT_TIMEOUT_MS = 15_000
WARSAW = ZoneInfo("Europe/Warsaw")


async def _log_in(browser: Browser, platform: Platform, who: StaffMember, start: str) -> Page:
    """A laptop of the centre's: 1366×768, Polish, on Warsaw time (the municipality's)."""
    context = await browser.new_context(
        viewport={"width": 1366, "height": 768}, locale="pl-PL", timezone_id="Europe/Warsaw"
    )
    page = await context.new_page()
    await page.goto(platform.base + start)
    await expect(page).to_have_url(re.compile(r"/login\?next="))
    await page.fill("#username", who.username)
    await page.fill("#password", who.password)
    await page.click("button[type=submit]")
    await expect(page).to_have_url(platform.base + start)
    # The URL is the page's as soon as the navigation commits, before its scripts have their
    # handlers: a click then would be lost. The load event comes after them.
    await page.wait_for_load_state("load")
    return page


async def test_a_welfare_call_due_done_and_recorded(
    platform: Platform, browser: Browser, sessions: async_sessionmaker[AsyncSession]
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    resident_id = platform.seeded.resident_id
    async with sessions() as session, session.begin():
        await session.execute(update(Resident).where(Resident.id == resident_id).values(phone="+48711234567"))
    # Due three minutes ago, in the municipality's time: overdue when the operator looks.
    due = datetime.now(UTC).astimezone(WARSAW) - timedelta(minutes=3)
    in_two_days = (due + timedelta(days=2)).date()

    page = await _log_in(browser, platform, platform.supervisor, f"/registry/residents/{resident_id}")
    with no_script_errors(page, expected=RECONNECTING):
        card = page.locator("#welfare-card")
        await expect(page.locator("#welfare-list-empty")).to_be_visible()
        await page.fill("#welfare-day", f"{due:%d.%m.%Y}")
        await page.fill("#welfare-time", f"{due:%H:%M}")
        await page.select_option("#welfare-reason", "discharge")
        await page.fill("#welfare-note", "po wypisie ze szpitala 2.12 — zapytać o leki")
        await card.get_by_role("button", name="Zaplanuj rozmowę").click()
        await expect(page.locator("#welfare-done")).to_have_text(f"Rozmowa zaplanowana: dziś {due:%H:%M}.")
        rows = page.locator("#welfare-list tbody tr")
        await expect(rows).to_have_count(1)
        await expect(rows.first).to_contain_text("po wypisie ze szpitala 2.12 — zapytać o leki")
        await expect(rows.first).to_contain_text("zaplanowana")
        await card.screenshot(path=str(SCREENSHOTS / "welfare-plan.png"))

        # A round for every resident of the municipality, in two days at 10:00.
        await page.goto(platform.base + "/registry")
        await page.click("#welfare-bulk-toggle")
        bulk = page.locator("#welfare-bulk")
        await expect(page.locator("#welfare-municipality option")).to_have_count(1)
        await page.fill("#welfare-day", f"{in_two_days.day}.{in_two_days.month}")  # as typed in a hurry
        await page.fill("#welfare-time", "10:00")
        await page.fill("#welfare-note", "Jak się Pan/Pani czuje? Czy czegoś potrzeba?")
        await page.check("#welfare-weekly")
        await bulk.get_by_role("button", name="Zaplanuj rozmowy").click()
        await expect(page.locator("#welfare-done")).to_contain_text("Zaplanowano rozmów: 1 (Gmina Testowa")
        await bulk.screenshot(path=str(SCREENSHOTS / "welfare-bulk.png"))

    page = await _log_in(browser, platform, platform.operator, "/")
    with no_script_errors(page, expected=RECONNECTING):
        await expect(page.locator("#connection")).to_have_text("na żywo")
        shift = page.locator("#welfare-calls tbody tr")
        # Only the call due now: the round in two days is not this shift's.
        await expect(shift).to_have_count(1)
        call = shift.first
        await expect(call).to_have_class("overdue")
        await expect(call).to_contain_text(f"dziś {due:%H:%M}")
        await expect(call).to_contain_text("zaległa")
        await expect(call).to_contain_text("Zofia Wiśniewska")
        await expect(call).to_contain_text("po wypisie ze szpitala 2.12 — zapytać o leki")
        await expect(call.locator("a.phone")).to_have_attribute("href", "tel:+48711234567")
        await expect(page.locator("#welfare-count")).to_have_text("(1)")
        await page.screenshot(path=str(SCREENSHOTS / "welfare-shift.png"))

        await call.get_by_role("button", name="Potrzebna wizyta").click()
        dialog = page.locator("dialog.opaska-dialog")
        await expect(dialog).to_contain_text("Potrzebna wizyta: Zofia Wiśniewska")
        # Why the visit is needed is required: the alarm's first line.
        await dialog.get_by_role("button", name="Zgłoś potrzebę wizyty").click()
        await expect(dialog).to_contain_text("Napisz, dlaczego potrzebna jest wizyta.")
        await dialog.locator("textarea").fill("Ma gorączkę, prosi o wizytę lekarza")
        await page.screenshot(path=str(SCREENSHOTS / "welfare-visit-dialog.png"))
        await dialog.get_by_role("button", name="Zgłoś potrzebę wizyty").click()
        await expect(dialog).to_have_count(0)
        await expect(page.locator("#welfare-done")).to_contain_text(
            re.compile(r"Zofia Wiśniewska: zgłoszono alarm „Rozmowa kontrolna” \(nr \d+\)\.")
        )
        await expect(page.locator("#welfare-empty")).to_be_visible()
        # The alarm comes into the queue by itself, live.
        queued = page.locator("#queue tbody tr", has_text="Rozmowa kontrolna")
        await expect(queued).to_have_count(1)
        await expect(queued).to_contain_text("Zofia Wiśniewska")
        await page.screenshot(path=str(SCREENSHOTS / "welfare-alarm.png"))

        await queued.locator("a").click()
        await expect(page.locator("#timeline")).to_contain_text(
            "Rozmowa kontrolna (po wypisie ze szpitala): potrzebna wizyta — Anna Nowak — "
            "„Ma gorączkę, prosi o wizytę lekarza”"
        )

    async with sessions() as session:
        calls = list((await session.execute(select(WelfareCall).order_by(WelfareCall.id))).scalars())
        assert [(c.outcome, c.alarm_id is not None, c.repeat_weekly) for c in calls] == [
            ("needs_visit", True, False),
            (None, False, True),
        ]
        alarm = await session.get(Alarm, calls[0].alarm_id)
        assert alarm is not None
        assert (alarm.kind, alarm.status, alarm.resident_id) == ("welfare_call", "raised", resident_id)
