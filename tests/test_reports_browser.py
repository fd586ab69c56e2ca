"""The SLA and reports pages in a real browser (Debian's chromium) against `opaska console`: the
figures and the late alarm appear, the period buttons work, the monthly report downloads, no script
error. Screenshots go to test-artifacts/screenshots/ for a person to look at."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.lifecycle import Outcome
from alarm_center.alarms.model import AlarmKind
from alarm_center.quality import sla
from core.clock import FakeClock
from registry.model import Municipality
from simulator.lab.processes import opaska_env
from simulator.lab.staff import StaffMember, create_staff
from tests.support.browser import SCREENSHOTS, browser, no_script_errors
from tests.support.care import alarm_story
from tests.support.processes import opaska_process
from tests.support.require import free_port
from tests.support.seed import seed_resident_with_band

__all__ = ["browser"]  # the Chromium fixture, from tests/support/browser.py


async def _wait_up(base: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            if process.poll() is not None:
                raise AssertionError(f"opaska console exited with {process.returncode}:\n{log_path.read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(base + "/healthz", timeout=2)).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise AssertionError(f"opaska console not up within 30 s:\n{log_path.read_text()}")


@pytest.mark.asyncio
async def test_the_sla_and_reports_pages(
    sessions: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    database_url: str,
    tmp_path: Path,
    browser: Browser,
) -> None:
    seeded = await seed_resident_with_band(sessions, clock)
    operator = await create_staff(
        sessions, clock, role="operator", municipality_ids=[seeded.municipality_id], full_name="Piotr Zieliński"
    )
    # A second municipality of the same supervisor: the page offers the whole centre too.
    neighbour = await seed_resident_with_band(sessions, clock, first_name="Jan", last_name="Sąsiad")
    supervisor: StaffMember = await create_staff(
        sessions,
        clock,
        role="supervisor",
        municipality_ids=[seeded.municipality_id, neighbour.municipality_id],
        full_name="Ewa Kierownik",
    )
    # Minutes ago, in real time (the console runs on the system clock), and never before today's
    # Warsaw midnight, so today, this week and this month all hold them: one quick, one late.
    now = datetime.now(UTC)
    quick = max(now - timedelta(minutes=6), sla.period_start(sla.Period.TODAY, now) + timedelta(seconds=1))
    await alarm_story(
        sessions,
        seeded,
        AlarmKind.SOS,
        raised=quick,
        claims=[(quick + timedelta(seconds=25), operator.id)],
        resolve=(quick + timedelta(minutes=2), Outcome.RESIDENT_OK),
    )
    late = quick + timedelta(seconds=30)
    late_id = await alarm_story(
        sessions,
        seeded,
        AlarmKind.FALL,
        raised=late,
        claims=[(late + timedelta(seconds=95), operator.id)],
        resolve=(late + timedelta(minutes=4), Outcome.RELATIVE_ATTENDED),
    )

    async with sessions() as session:
        found = await session.get(Municipality, seeded.municipality_id)
        assert found is not None
        seeded_code = found.code
    port = free_port()
    env = opaska_env(OPASKA_DATABASE_URL=database_url, OPASKA_CONSOLE_PORT=str(port))
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "console.log"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with opaska_process(["console"], env, log_path) as process:
        # /healthz, not /readyz: without an engine running, the alarms' escalation rows look stuck.
        await _wait_up(base, process, log_path)
        context = await browser.new_context(
            viewport={"width": 1400, "height": 1000}, locale="pl-PL", accept_downloads=True
        )
        page = await context.new_page()
        with no_script_errors(page):
            await page.goto(base + "/reports/sla")
            await page.fill("#username", supervisor.username)
            await page.fill("#password", supervisor.password)
            await page.click("button[type=submit]")
            await expect(page).to_have_url(base + "/reports/sla")
            await expect(page.locator("#sla-alarms")).to_have_text("2")
            await page.click("button[data-period=month]")
            await expect(page).to_have_url(base + "/reports/sla?period=month")
            await expect(page.locator("#sla-60")).to_have_text("50,0%")
            await expect(page.locator("#sla-180")).to_have_text("100,0%")
            late_row = page.locator(f"#sla-missed tr[data-alarm-id='{late_id}']")
            await expect(late_row).to_contain_text("Upadek")
            await expect(late_row).to_contain_text("1:35")
            await expect(late_row).to_contain_text("Piotr Zieliński")
            await expect(late_row.locator("a")).to_have_attribute("href", f"/alarms/{late_id}")
            await expect(page.locator("#sla-operators tbody")).to_contain_text("Piotr Zieliński")
            await page.screenshot(path=str(SCREENSHOTS / "report-sla.png"), full_page=True)

            await page.goto(base + "/reports")
            await expect(page.locator("#report-municipality option")).to_have_count(3)
            await page.select_option("#report-municipality", value=seeded_code)
            await page.fill("#report-month", now.strftime("%Y-%m"))
            # The funder's figures on the page, the same lines as in the PDF and CSV.
            await page.click("button[data-format=show]")
            lines = page.locator("#funder-lines tbody tr")
            await expect(lines.filter(has_text="Alarmy SOS")).to_contain_text("1")
            await expect(lines.filter(has_text="Interwencje: bliski na miejscu")).to_contain_text("1")
            await expect(lines.filter(has_text="Interwencje: tylko operator")).to_contain_text("1")
            await expect(page.locator("#report-period")).to_contain_text("stan na")  # this month is not over
            # Neither resident's sex or birth date is recorded: "wiek nieznany", "płeć nieznana".
            await expect(page.locator("#sex-age tbody tr").filter(has_text="wiek nieznany")).to_contain_text("1")
            await expect(page.locator("#participants-by-month tbody td")).to_have_count(12)
            # The whole centre: both municipalities, each person once.
            await page.select_option("#report-municipality", label="Całe centrum (2 gmin)")
            await page.click("button[data-format=show]")
            await expect(page.locator("#report-period")).to_contain_text("Centrum teleopieki")
            await expect(page.locator("#participants-by-month tbody td").last).to_have_text("2")
            await page.screenshot(path=str(SCREENSHOTS / "reports.png"), full_page=True)
            await page.select_option("#report-municipality", value=seeded_code)
            async with page.expect_download() as info:
                await page.click("button[data-format=csv]")
            download = await info.value
            assert download.suggested_filename.startswith("raport-")
            saved = tmp_path / download.suggested_filename
            await download.save_as(saved)
            assert "alarms.kind.fall;" in saved.read_text(encoding="utf-8-sig")
            async with page.expect_download() as info:
                await page.locator("#period-form button[type=submit]").click()
            quarter = await info.value
            assert quarter.suggested_filename.startswith("wskazniki-")
        await context.close()
