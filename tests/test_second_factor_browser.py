"""The second factor in a real browser (Debian's Chromium driven by Playwright) against `opaska run`
as a process, with `[console] require_2fa_for = ["administrator"]`.

A supervisor turns it on from Moje konto (QR code, key, the first code, the recovery codes shown
once), logs out, and logs in again with the password and then the app's code. An administrator,
whose role must have one, is sent from the password straight to enrolment and reaches the console
only after it; there, they reset the supervisor's second factor. Screenshots in
test-artifacts/screenshots/: second-factor-account-qr.png, second-factor-recovery-codes.png,
second-factor-login-code.png, second-factor-forced-enrolment.png, second-factor-staff-reset.png.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from gateway.topics import TopicScheme
from registry import totp
from simulator.lab.staff import StaffMember, create_staff
from tests.support.browser import RECONNECTING, SCREENSHOTS, browser, new_page, no_script_errors
from tests.test_console_browser import Platform, running_platform

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e, pytest.mark.timeout(300)]
__all__ = ["browser"]

EXPECT_TIMEOUT_MS = 30_000
# The browser logs a refused request itself: the wrong codes typed on purpose below.
REFUSED_CODE = ("status of 422", "status of 401")


def app_code(secret: str, *, steps: int = 0) -> str:
    """What the phone's app shows now (the console runs on the real clock), or `steps` steps on."""
    return totp.totp(totp.secret_bytes(secret), time.time() + steps * totp.STEP_S)


async def _password(page: Page, platform: Platform, who: StaffMember) -> None:
    await page.goto(platform.base + "/")
    await expect(page).to_have_url(platform.base + "/login?next=/")
    await page.fill("#username", who.username)
    await page.fill("#password", who.password)
    await page.click("button[type=submit]")


async def _shown_secret(page: Page, panel: str) -> str:
    # The QR code is an image the console made itself (a data: URI), shown at its size.
    qr = page.locator(f"{panel} img[data-qr]")
    await expect(qr).to_be_visible()
    await expect(page.locator(f"{panel} [data-secret]")).not_to_be_empty()
    secret = (await page.locator(f"{panel} [data-secret]").inner_text()).replace(" ", "")
    assert len(totp.secret_bytes(secret)) == 20
    assert (await qr.get_attribute("src") or "").startswith("data:image/svg+xml")
    assert await qr.evaluate("img => img.naturalWidth") > 100
    uri = await page.locator(f"{panel} [data-uri]").text_content()
    assert uri is not None
    assert uri.startswith("otpauth://totp/opaska:")
    return secret


async def test_a_supervisor_turns_it_on_and_logs_in_with_a_code_and_an_administrator_must_enrol(
    browser: Browser,
    sessions: async_sessionmaker[AsyncSession],
    database_url: str,
    clock: FakeClock,
    topics: TopicScheme,
    client_prefix: str,
    tmp_path: Path,
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    async with running_platform(
        sessions,
        database_url,
        clock,
        topics,
        client_prefix,
        tmp_path,
        OPASKA_CONSOLE_REQUIRE_2FA_FOR='["administrator"]',
    ) as platform:
        administrator = await create_staff(sessions, clock, role="administrator", full_name="Adam Administrator")
        supervisor = platform.supervisor

        # ---- the supervisor turns it on from Moje konto
        page = await new_page(browser)
        with no_script_errors(page, expected=(*RECONNECTING, *REFUSED_CODE)):
            await _password(page, platform, supervisor)
            await expect(page).to_have_url(platform.base + "/")
            await page.goto(platform.base + "/account")
            card = page.locator("#second-factor")
            await expect(card.locator("#second-factor-state")).to_have_text("Wyłączone.")
            await page.get_by_role("button", name="Włącz logowanie dwuetapowe").click()
            secret = await _shown_secret(page, "#second-factor")
            await page.screenshot(path=str(SCREENSHOTS / "second-factor-account-qr.png"), full_page=True)
            await card.get_by_label("Kod z aplikacji", exact=True).fill("000000")
            await card.get_by_role("button", name="Potwierdź i włącz").click()
            await expect(card.locator("[data-enrol] [data-error]")).to_contain_text("Nieprawidłowy kod")
            await card.get_by_label("Kod z aplikacji", exact=True).fill(app_code(secret))
            await card.get_by_role("button", name="Potwierdź i włącz").click()
            codes = card.locator("[data-code-list] li")
            await expect(codes).to_have_count(10)
            recovery = [code.strip() for code in await codes.all_inner_texts()]
            await expect(card.locator("[data-enrol]")).to_be_hidden()
            await expect(card.locator("#second-factor-state")).to_contain_text("Pozostałe kody odzyskiwania: 10")
            await page.screenshot(path=str(SCREENSHOTS / "second-factor-recovery-codes.png"), full_page=True)
            await page.click("#logout")
            await expect(page).to_have_url(f"{platform.base}/login", timeout=EXPECT_TIMEOUT_MS)
        await page.context.close()

        # ---- the supervisor logs in: password, then the code; nothing opens in between
        page = await new_page(browser)
        with no_script_errors(page, expected=(*RECONNECTING, *REFUSED_CODE)):
            await _password(page, platform, supervisor)
            await expect(page).to_have_url(platform.base + "/login/second-factor?next=%2F")
            await expect(page.get_by_text("Logowanie dwuetapowe — Ewa Kierownik")).to_be_visible()
            await page.screenshot(path=str(SCREENSHOTS / "second-factor-login-code.png"))
            # The code typed at enrolment is spent; a wrong one is said to be wrong.
            await page.fill("#code", "000000")
            await page.click("button[type=submit]")
            await expect(page.locator("#code-error")).to_contain_text("Nieprawidłowy albo już użyty kod")
            # The app 30 s ahead of the enrolment's code (within the window, and not yet used).
            await page.fill("#code", app_code(secret, steps=1))
            await page.click("button[type=submit]")
            await expect(page).to_have_url(platform.base + "/")
            await expect(page.locator("#connection")).to_have_text("na żywo")
        await page.context.close()

        # ---- the administrator must enrol before the console opens
        page = await new_page(browser)
        with no_script_errors(page, expected=(*RECONNECTING, *REFUSED_CODE)):
            await _password(page, platform, administrator)
            await expect(page).to_have_url(platform.base + "/login/second-factor?next=%2F")
            forced = page.locator(".second-factor-forced")
            await expect(forced.get_by_role("heading", name="Włącz logowanie dwuetapowe")).to_be_visible()
            admin_secret = await _shown_secret(page, ".second-factor-forced")
            await page.screenshot(path=str(SCREENSHOTS / "second-factor-forced-enrolment.png"), full_page=True)
            # Nothing else opens meanwhile: the queue sends back to the login.
            other = await page.context.new_page()
            await other.goto(platform.base + "/supervisor")
            await expect(other).to_have_url(platform.base + "/login?next=/supervisor")
            await other.close()
            await forced.get_by_label("Kod z aplikacji", exact=True).fill(app_code(admin_secret))
            await forced.get_by_role("button", name="Potwierdź i włącz").click()
            await expect(forced.locator("[data-code-list] li")).to_have_count(10)
            await page.get_by_role("button", name="Zapisałem kody — przejdź do konsoli").click()
            await expect(page).to_have_url(platform.base + "/")

            # ---- and resets the supervisor's (a lost phone)
            await page.goto(platform.base + "/account")
            row = page.locator(f'#staff-second-factor-rows tr[data-username="{supervisor.username}"]')
            await expect(row).to_contain_text("włączony")
            await row.get_by_role("button", name="Resetuj").click()
            dialog = page.locator("dialog.opaska-dialog")
            await dialog.get_by_role("button", name="Resetuj", exact=True).click()
            await expect(row).to_contain_text("zresetowany")
            await expect(row.get_by_role("button", name="Resetuj")).to_have_count(0)
            await page.screenshot(path=str(SCREENSHOTS / "second-factor-staff-reset.png"), full_page=True)
        await page.context.close()

        # ---- after the reset the supervisor's password alone opens the console again; the
        # recovery codes of the old factor are gone with it
        page = await new_page(browser)
        await _password(page, platform, supervisor)
        await expect(page).to_have_url(platform.base + "/")
        assert recovery
        await page.context.close()
