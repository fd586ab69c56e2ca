"""An action plan, set by a supervisor and followed by an operator, in a real browser (Debian's
Chromium driven by Playwright) against `opaska run` as a process, the SOS pressed over real MQTT.

The supervisor builds the resident's plan on the resident's page (a call to the resident, a call to
a named relative, an instruction); a band presses SOS; the operator, with the alarm open, sees the
plan as a checklist with the next step marked, ticks the first step done with a few words and
skips the second; each tick is in the alarm's history at once. Screenshots in
test-artifacts/screenshots/ (plan-editor.png, plan-checklist.png).
"""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.notify.model import Notification
from gateway.topics import TopicScheme
from tests.support.browser import RECONNECTING, SCREENSHOTS, browser, confirm_in_page, no_script_errors
from tests.test_console_browser import Platform, platform
from tests.test_console_technician_browser import log_in

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e, pytest.mark.timeout(240)]
__all__ = ["browser", "platform"]  # fixtures: Chromium, and opaska run with a seeded band and staff

EXPECT_TIMEOUT_MS = 15_000


async def test_a_supervisor_sets_a_plan_and_an_operator_follows_it(
    platform: Platform, browser: Browser, topics: TopicScheme
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    resident_page = f"/registry/residents/{platform.seeded.resident_id}"
    page = await log_in(browser, platform, platform.supervisor, "/registry")
    # The refused save below is a 422 the browser reports on its console; nothing else may be.
    with no_script_errors(page, expected=(*RECONNECTING, "status of 422")):
        # The municipality's default plan first: for residents without a plan of their own.
        await page.click("#default-plan-toggle")
        await expect(page.locator("#plan-source")).to_contain_text("Gmina nie ma planu domyślnego")
        await page.click("#plan-add")
        await page.click("#plan-add")
        default_steps = page.locator("#plan-list > li")
        await expect(default_steps.nth(0).locator("select option")).not_to_contain_text(["Zadzwoń do osoby bliskiej…"])
        await default_steps.nth(1).locator("select").select_option("emergency")
        await page.click("#plan-save")
        await expect(page.locator("#plan-done")).to_have_text("Plan zapisany.")
        await page.locator("#default-plan").screenshot(path=str(SCREENSHOTS / "plan-default.png"))

        await page.goto(platform.base + resident_page)
        await expect(page.locator("#plan-source")).to_contain_text("obowiązuje plan domyślny gminy")
        steps = page.locator("#plan-list > li")
        await expect(steps).to_have_count(2)
        for _ in range(2):
            await steps.nth(0).get_by_role("button", name="Usuń").click()
        for _ in range(3):
            await page.click("#plan-add")
        steps = page.locator("#plan-list > li")
        await expect(steps).to_have_count(3)
        await steps.nth(1).locator("select").first.select_option("call_contact")
        await page.locator("#plan-list > li").nth(1).locator("select").nth(1).select_option(label="Anna Kowalska")
        await steps.nth(2).locator("select").first.select_option("instruction")
        # An empty instruction is refused, naming the step.
        await page.click("#plan-save")
        await expect(page.locator("#plan-error")).to_contain_text("Krok 3: polecenie nie może być puste")
        await steps.nth(2).locator("input").fill("Wnuczka ma klucz, mieszka piętro niżej")
        await page.click("#plan-save")
        await expect(page.locator("#plan-done")).to_have_text("Plan zapisany.")
        await expect(page.locator("#plan-source")).to_have_text("Plan własny mieszkańca.")
        await page.locator("#plan-card").screenshot(path=str(SCREENSHOTS / "plan-editor.png"))
        # The daily check-in window, on the same page.
        await expect(page.locator("#checkin-state")).to_have_text("Bez codziennego meldunku.")
        await page.fill("#checkin-from", "8:00")  # as typed in a hurry: read as 08:00
        await page.fill("#checkin-until", "10:00")
        await page.locator("#checkin-form button[type=submit]").click()
        await expect(page.locator("#checkin-state")).to_have_text("Meldunek codziennie między 08:00 a 10:00.")
        await page.locator("#checkin-card").screenshot(path=str(SCREENSHOTS / "checkin-window.png"))

    alarm_id = await platform.press(topics, "sos")

    page = await log_in(browser, platform, platform.operator, f"/alarms/{alarm_id}")
    with no_script_errors(page, expected=RECONNECTING):
        await page.click("#claim")
        await expect(page.locator("#alarm-state")).to_contain_text("przyjął: Anna Nowak")
        steps = page.locator("#plan-steps > li")
        await expect(steps).to_have_count(3)
        await expect(page.locator("#plan-source")).to_have_text("Plan mieszkańca · zostało 3 z 3")
        await expect(steps.nth(0)).to_contain_text("Zadzwoń do mieszkańca")
        await expect(steps.nth(0)).to_have_class("plan-step todo next")
        await expect(steps.nth(1)).to_contain_text("Zadzwoń do: Anna Kowalska")
        await expect(steps.nth(1).locator("a.phone")).to_have_text("+48601234567")
        await expect(steps.nth(2)).to_contain_text("Wnuczka ma klucz, mieszka piętro niżej")

        await steps.nth(0).locator("input").fill("nie odbiera")
        await steps.nth(0).get_by_role("button", name="Pomiń").click()
        await expect(page.locator("#action-done")).to_have_text("Krok 1 pominięty.")
        await steps.nth(1).locator("input").fill("jedzie, będzie za 15 min")
        # The page redraws on every event of the alarm (here a note): what is typed stays.
        await page.fill("#note", "Córka oddzwoni.")
        await page.click("#note-form button[type=submit]")
        await expect(page.locator("#timeline")).to_contain_text("Córka oddzwoni.")
        await expect(steps.nth(1).locator("input")).to_have_value("jedzie, będzie za 15 min")
        await steps.nth(1).get_by_role("button", name="Zrobione").click()
        await expect(page.locator("#action-done")).to_have_text("Krok 2 zrobiony.")
        await expect(page.locator("#plan-source")).to_have_text("Plan mieszkańca · zostało 1 z 3")
        await expect(steps.nth(2)).to_have_class("plan-step todo next")
        await expect(steps.nth(1).locator(".plan-state")).to_contain_text("zrobione")
        timeline = page.locator("#timeline")
        await expect(timeline).to_contain_text(
            "Plan, krok 1: Zadzwoń do mieszkańca — pominięte: nie odbiera — Anna Nowak"
        )
        await expect(timeline).to_contain_text(
            "Plan, krok 2: Zadzwoń do: Anna Kowalska — zrobione: jedzie, będzie za 15 min — Anna Nowak"
        )
        await page.screenshot(path=str(SCREENSHOTS / "plan-checklist.png"), full_page=True)


async def test_the_operator_walks_the_no_response_ladder_to_an_ambulance(
    platform: Platform, browser: Browser, topics: TopicScheme
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    alarm_id = await platform.press(topics, "fall")
    page = await log_in(browser, platform, platform.operator, f"/alarms/{alarm_id}")
    with no_script_errors(page, expected=RECONNECTING):
        await page.click("#claim")
        ladder = page.locator("#ladder")
        await expect(ladder).to_be_visible()
        await ladder.locator("select[name=reason]").select_option("no_answer")
        await ladder.locator("input[name=remark]").first.fill("3 próby, nie odbiera")
        await ladder.get_by_role("button", name="Brak kontaktu — rozpocznij").click()
        await expect(page.locator("#action-done")).to_have_text("Zapisano brak kontaktu.")
        await expect(page.locator("#ladder-due")).to_contain_text(re.compile(r"zostało (10:00|9:[0-5]\d)"))
        await ladder.get_by_role("button", name="Nikt nie może pojechać → 112").click()
        await expect(ladder.locator(".ladder-alert")).to_contain_text("Zadzwoń na 112")
        await expect(ladder.locator(".emergency-card")).to_contain_text("ul. Legnicka 12/4, Wrocław")
        await page.screenshot(path=str(SCREENSHOTS / "ladder-112.png"), full_page=True)
        await ladder.locator("select[name=service]").select_option("ambulance")
        await ladder.locator("input[name=reference]").fill("ZRM/4471")
        await ladder.get_by_role("button", name="Zapisz wezwanie").click()
        await expect(page.locator("#action-done")).to_have_text("Zapisano wezwanie służb.")
        await expect(ladder).to_contain_text("nr zgłoszenia ZRM/4471")
        await ladder.get_by_role("button", name="Pomoc na miejscu").click()
        await expect(ladder.locator("p.done")).to_contain_text("Pomoc na miejscu: pogotowie (ZRM)")
        timeline = page.locator("#timeline")
        await expect(timeline).to_contain_text(
            "Brak kontaktu z mieszkańcem: mieszkaniec nie odbiera — 3 próby, nie odbiera"
        )
        await expect(timeline).to_contain_text("Wezwano: pogotowie (ZRM), nr zgłoszenia ZRM/4471 — Anna Nowak")
        await page.screenshot(path=str(SCREENSHOTS / "ladder-arrived.png"), full_page=True)


async def test_a_responder_on_a_phone_and_the_operator_watching(
    platform: Platform, browser: Browser, topics: TopicScheme, sessions: async_sessionmaker[AsyncSession]
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    # Links on: signed with a secret, pointing at this console as the public URL.
    platform.stop()
    platform.env.update(OPASKA_NOTIFY_STATUS_LINK_SECRET="browser-test-secret", OPASKA_TWILIO_PUBLIC_URL=platform.base)
    await platform.start()
    alarm_id = await platform.press(topics, "sos")
    page = await log_in(browser, platform, platform.operator, f"/alarms/{alarm_id}")
    with no_script_errors(page, expected=RECONNECTING):
        await page.click("#claim")
        await expect(page.locator("#alarm-state")).to_contain_text("przyjął: Anna Nowak")
        await page.locator("#contacts tbody tr").first.get_by_role("button", name="Link dla jadącego").click()
        await confirm_in_page(page, "Wyślij link")
        await expect(page.locator("#action-done")).to_have_text("Link dla jadącego do: Anna Kowalska — zlecony.")
        async with sessions() as session:
            body = (
                await session.execute(
                    select(Notification.body).where(
                        Notification.alarm_id == alarm_id, Notification.template == "responder_link"
                    )
                )
            ).scalar_one()
        link = re.search(r"http\S+/r/\S+", body)
        assert link is not None, body

        context = await browser.new_context(
            viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, locale="pl-PL"
        )
        phone = await context.new_page()
        with no_script_errors(phone):
            await phone.goto(link.group(0))
            await expect(phone.locator("h2")).to_have_text("Zofia Wiśniewska")
            await expect(phone.locator(".address")).to_have_text("ul. Legnicka 12/4, Wrocław")
            await phone.screenshot(path=str(SCREENSHOTS / "responder-phone.png"), full_page=True)
            await phone.get_by_role("button", name="Jadę").click()
            await expect(phone.locator(".done")).to_contain_text("Zapisane: jedziesz")
            # Live on the operator's page: the header says who is going.
            await expect(page.locator("#alarm-going")).to_contain_text("Jedzie: Anna Kowalska")
            await phone.get_by_role("button", name="Jestem na miejscu").click()
            await expect(phone.locator(".done")).to_contain_text("jesteś na miejscu")
            await expect(page.locator("#timeline")).to_contain_text("Pomoc na miejscu: Anna Kowalska")
            await phone.fill("#note", "Pomogłam wstać, nic jej nie jest.")
            await phone.get_by_role("button", name="Sytuacja opanowana").click()
            await expect(page.locator("#timeline")).to_contain_text(
                "Sytuacja opanowana — zgłasza Anna Kowalska: „Pomogłam wstać, nic jej nie jest.”"
            )
            await phone.screenshot(path=str(SCREENSHOTS / "responder-phone-done.png"), full_page=True)
        await page.screenshot(path=str(SCREENSHOTS / "responder-operator.png"), full_page=True)
        await context.close()
