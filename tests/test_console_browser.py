"""The operator console in a real browser: Debian's Chromium driven by Playwright (no browser is
downloaded), against opaska run as a real process, with a simulated band pressing SOS over MQTT.

An operator logs in; the SOS appears in the queue with no navigation; an alarm raised while the
console restarts appears once the page has reconnected by itself; the operator claims the alarm,
adds a note and resolves it with an outcome code; a second operator's claim is refused. The queue
and the alarm view are saved as screenshots in test-artifacts/screenshots/.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.model import AlarmKind
from core.clock import FakeClock
from core.mqtt.endpoint import parse_mqtt_url
from gateway.liveness import CANARY_PREFIX, record_state
from gateway.topics import TopicScheme
from simulator.band import RepeatPolicy, VirtualBand
from simulator.lab.processes import wait_healthy
from simulator.lab.staff import StaffMember, create_staff
from tests.conftest import TEST_MQTT_URL
from tests.support.alarms import press
from tests.support.browser import RECONNECTING, SCREENSHOTS, browser, new_page, no_script_errors
from tests.support.processes import opaska_process, platform_process_setup
from tests.support.seed import SeededBand, seed_resident_with_band

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e, pytest.mark.timeout(240)]

__all__ = ["browser"]  # the Chromium fixture, from tests/support/browser.py


@dataclass
class Platform:
    """opaska run as a process, restartable, with the band and the staff it was seeded with."""

    env: dict[str, str]
    base: str
    endpoint_url: str
    seeded: SeededBand
    operator: StaffMember
    second_operator: StaffMember
    supervisor: StaffMember
    tmp_path: Path
    runs: int = 0
    process: object = None
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    async def start(self) -> None:
        self.runs += 1
        log_path = self.tmp_path / f"opaska-run-{self.runs}.log"
        self.process = self._stack.enter_context(opaska_process(["run"], self.env, log_path))
        await wait_healthy(self.base, self.process, log_path)  # type: ignore[arg-type]

    def stop(self) -> None:
        self._stack.close()
        self._stack = contextlib.ExitStack()

    async def press(self, topics: TopicScheme, kind: str) -> int:
        """The seeded band presses `kind` over MQTT; the alarm's id from its alarm_received."""
        band = VirtualBand(
            parse_mqtt_url(self.endpoint_url),
            topics,
            self.seeded.serial,
            password=self.seeded.secret,
            protocol="5" if TEST_MQTT_URL else "3.1.1",
            repeat=RepeatPolicy(3, 10),
        )
        await band.start()
        try:
            return int((await band.press(kind, timeout=20))["alarm_id"])
        finally:
            await band.stop()


@contextlib.asynccontextmanager
async def running_platform(
    sessions: async_sessionmaker[AsyncSession],
    database_url: str,
    clock: FakeClock,
    topics: TopicScheme,
    client_prefix: str,
    tmp_path: Path,
    **env: str,
) -> AsyncIterator[Platform]:
    """`opaska run` with Zofia's band, two operators and a supervisor; `env`: settings of its own."""
    seeded = await seed_resident_with_band(sessions, clock, first_name="Zofia", last_name="Wiśniewska")
    operator = await create_staff(
        sessions, clock, role="operator", municipality_ids=[seeded.municipality_id], full_name="Anna Nowak"
    )
    second = await create_staff(
        sessions, clock, role="operator", municipality_ids=[seeded.municipality_id], full_name="Piotr Zieliński"
    )
    supervisor = await create_staff(
        sessions, clock, role="supervisor", municipality_ids=[seeded.municipality_id], full_name="Ewa Kierownik"
    )
    setup = platform_process_setup(database_url, topics.root, client_prefix)
    platform = Platform(
        {**setup.env, **env}, setup.console_url, setup.broker_url, seeded, operator, second, supervisor, tmp_path
    )
    await platform.start()
    try:
        yield platform
    finally:
        platform.stop()


@pytest_asyncio.fixture
async def platform(
    sessions: async_sessionmaker[AsyncSession],
    database_url: str,
    clock: FakeClock,
    topics: TopicScheme,
    client_prefix: str,
    tmp_path: Path,
) -> AsyncIterator[Platform]:
    async with running_platform(sessions, database_url, clock, topics, client_prefix, tmp_path) as running:
        yield running


async def log_in(browser: Browser, platform: Platform, who: StaffMember) -> Page:
    page = await new_page(browser)
    await page.goto(platform.base + "/")
    await expect(page).to_have_url(platform.base + "/login?next=/")
    await page.fill("#username", who.username)
    await page.fill("#password", who.password)
    await page.click("button[type=submit]")
    await expect(page).to_have_url(platform.base + "/")
    await expect(page.locator("#connection")).to_have_text("na żywo")
    return page


async def test_an_operator_takes_an_sos_from_the_queue_to_resolved(
    platform: Platform,
    browser: Browser,
    sessions: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    topics: TopicScheme,
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = await log_in(browser, platform, platform.operator)
    with no_script_errors(page, expected=RECONNECTING):
        await expect(page.locator("#empty")).to_be_visible()
        # The login's click may already have let the page play sound; if not, the bar offers one click.
        if await page.locator("#sound").is_visible():
            await page.click("#sound")
        await expect(page.locator("#sound-state")).to_have_text("Dźwięk włączony")
        await expect(page.locator("#sound")).to_be_hidden()
        await page.evaluate("window.__sameDocument = true")

        # A simulated band presses SOS over MQTT: the row appears with no navigation.
        sos_id = await platform.press(topics, "sos")
        row = page.locator(f'#queue tr[data-alarm-id="{sos_id}"]')
        await expect(row).to_be_visible(timeout=15_000)
        await expect(row).to_contain_text("Zofia Wiśniewska")
        await expect(row).to_contain_text("SOS")
        await expect(page).to_have_title("(1) opaska — kolejka")
        await expect(page.locator("#alarm-bar-count")).to_contain_text("Nieprzyjęte alarmy: 1")
        assert await page.evaluate("AlarmWatch.ringing()") == [sos_id]
        assert await page.evaluate("window.__sameDocument") is True
        await page.screenshot(path=str(SCREENSHOTS / "queue.png"), full_page=True)

        # The console restarts; a fall is taken in meanwhile; the page reconnects by itself and shows it.
        platform.stop()
        await expect(page.locator("#connection")).to_contain_text("brak połączenia", timeout=15_000)
        fall_id = await press(sessions, platform.seeded, AlarmKind.FALL, at=clock.now())  # as a gateway elsewhere would
        await platform.start()
        await expect(page.locator(f'#queue tr[data-alarm-id="{fall_id}"]')).to_be_visible(timeout=20_000)
        await expect(page.locator("#connection")).to_have_text("na żywo")
        assert await page.evaluate("window.__sameDocument") is True

        # A second operator opens the same SOS.
        colleague = await log_in(browser, platform, platform.second_operator)
        await colleague.goto(f"{platform.base}/alarms/{sos_id}")
        await expect(colleague.locator("#claim")).to_be_visible()

        # The first operator claims it from the alarm view.
        await row.click()
        await expect(page).to_have_url(f"{platform.base}/alarms/{sos_id}")
        await expect(page.locator("#alarm-title")).to_contain_text("Zofia Wiśniewska")
        await page.click("#claim")
        await expect(page.locator("#alarm-state")).to_contain_text("przyjął: Anna Nowak")

        # The colleague's page learns of it live; a claim sent before it did is refused by name.
        await expect(colleague.locator("#alarm-state")).to_contain_text("przyjął: Anna Nowak")
        await colleague.evaluate("document.getElementById('claim').hidden = false")
        await colleague.click("#claim")
        await expect(colleague.locator("#action-error")).to_have_text("Alarm przyjął już Anna Nowak.")

        # A note, then the close: refused without an outcome, done with one.
        await page.fill("#note", "Rozmowa z panią Zofią: upadła w łazience, jest przytomna.")
        await page.click("#note-form button[type=submit]")
        await expect(page.locator("#timeline")).to_contain_text("upadła w łazience")
        await page.click("#close-alarm")
        dialog = page.locator("dialog.opaska-dialog")
        await dialog.locator("button[type=submit]").click()
        await expect(dialog.locator('[data-error-for="outcome"]')).to_be_visible()
        await dialog.locator("select").select_option("carer_sent")
        await dialog.locator("textarea").fill("Wysłano opiekunkę z MOPS, będzie za 15 minut.")
        await page.screenshot(path=str(SCREENSHOTS / "alarm.png"), full_page=True)
        await dialog.locator("textarea").press("Control+Enter")
        await expect(page.locator("#alarm-state")).to_contain_text("zamknięty")
        await expect(page.locator("#timeline")).to_contain_text("Zamknięty: Wysłano opiekuna")

        # Back in the queue only the fall is left.
        await page.click("a.brand")
        await expect(page.locator(f'#queue tr[data-alarm-id="{fall_id}"]')).to_be_visible()
        await expect(page.locator(f'#queue tr[data-alarm-id="{sos_id}"]')).to_have_count(0)

    # The supervisor sees the fall still open, both operators on shift, and today's answer times.
    overview = await log_in(browser, platform, platform.supervisor)
    with no_script_errors(overview, expected=RECONNECTING):
        await overview.click("text=Koordynator")
        await expect(overview.locator("#open-count")).to_have_text("1")
        await expect(overview.locator(f'#open-alarms tr[data-alarm-id="{fall_id}"]')).to_be_visible()
        await expect(overview.locator("#online")).to_contain_text("Anna Nowak")
        await expect(overview.locator("#within-180")).not_to_have_text("–")
        await expect(overview.locator("#platform-problems")).to_be_hidden()  # the real gateway hears its canary
        await overview.screenshot(path=str(SCREENSHOTS / "supervisor.png"), full_page=True)

        # A second gateway of the centre goes deaf (connected, nothing delivered): the supervisor is told.
        async with sessions() as session, session.begin():
            await record_state(
                session, name=CANARY_PREFIX + "opaska:gateway-2", connected_since=clock.now(), now=clock.now()
            )
        problems = overview.locator("#platform-problems")
        await expect(problems).to_be_visible(timeout=10_000)
        await expect(problems).to_contain_text("Awaria platformy")
        await expect(problems).to_contain_text("Bramka opaska:gateway-2 jest połączona z brokerem, ale nic do niej")
        await overview.screenshot(path=str(SCREENSHOTS / "supervisor-platform-problem.png"), full_page=True)
