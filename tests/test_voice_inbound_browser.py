"""A call to the centre's number, as an operator sees it in a real browser (Debian's Chromium, driven by
Playwright): the alarm header says "Połączenie przychodzące — czeka 0:07" and counts up while the caller
waits; a caller from an unknown number shows as that number in the queue and on the alarm page (no band);
when the caller hangs up the header says nothing more, on its own (the live feed).

The console runs in this process (uvicorn, its live feed on); Twilio's webhooks are POSTed to it signed
as Twilio signs them. Screenshots go to test-artifacts/screenshots/voice-inbound-*.png.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio
import uvicorn
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from alarm_center.live import AlarmFeed
from alarm_center.voice.model import VoiceCall
from console.app import create_app
from console.context import ConsoleContext, TwilioHooks
from core.clock import FakeClock
from core.settings import VoiceSettings
from registry import service
from registry.model import Band, StaffUser
from simulator.lab.staff import StaffMember, create_staff
from tests.support.browser import SCREENSHOTS, browser, new_page, no_script_errors
from tests.support.require import free_port
from tests.support.seed import SeededBand, seed_resident_with_band

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e, pytest.mark.timeout(180)]

__all__ = ["browser"]  # the Chromium fixture, from tests/support/browser.py

PUBLIC = "https://alarm.opaska.example"
TOKEN = "browser-test-auth-token"
CENTRE = "+48221234567"
BAND_SIM = "+48500100200"
STRANGER = "+48609999999"
# The page reloads the alarm when the live feed says it changed; the feed polls the database.
PROMPTLY_MS = 5_000


@dataclass
class Console:
    base: str
    sessions: async_sessionmaker[AsyncSession]
    home: SeededBand
    operator: StaffMember

    async def hook(self, path: str, params: dict[str, str]) -> httpx.Response:
        signature = RequestValidator(TOKEN).compute_signature(PUBLIC + path, params)
        async with httpx.AsyncClient(base_url=self.base) as http:
            answer = await http.post(path, data=params, headers={"X-Twilio-Signature": signature})
        assert answer.status_code == 200, answer.text
        return answer

    async def ring(self, from_: str) -> VoiceCall:
        sid = f"CA{uuid.uuid4().hex}"
        await self.hook(
            "/twilio/voice/incoming", {"CallSid": sid, "From": from_, "To": CENTRE, "CallStatus": "ringing"}
        )
        async with self.sessions() as session:
            return (await session.execute(select(VoiceCall).where(VoiceCall.far_call_sid == sid))).scalar_one()


@pytest_asyncio.fixture
async def console(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> AsyncIterator[Console]:
    home = await seed_resident_with_band(sessions, clock, first_name="Zofia", last_name="Wiśniewska")
    async with sessions() as session, session.begin():
        await session.execute(update(Band).where(Band.id == home.band_id).values(sim_phone=BAND_SIM))
        unknown = await service.create_municipality(session, clock, code=f"u-{uuid.uuid4().hex[:6]}", name="Centrum")
        unknown_id, unknown_code = unknown.id, unknown.code
    operator = await create_staff(
        sessions, clock, municipality_ids=[home.municipality_id, unknown_id], full_name="Anna Nowak"
    )
    async with sessions() as session, session.begin():
        await session.execute(update(StaffUser).where(StaffUser.id == operator.id).values(phone="+48600000001"))
    context = ConsoleContext(
        sessions,
        AlarmFeed(sessions),
        twilio_hooks=TwilioHooks(TOKEN, PUBLIC),
        voice=VoiceSettings(unknown_caller_municipality=unknown_code),
    )
    app = create_app(context)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        assert not serving.done(), "the console did not start"
        await asyncio.sleep(0.01)
    try:
        yield Console(f"http://127.0.0.1:{port}", sessions, home, operator)
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await serving


async def log_in(browser: Browser, console: Console) -> Page:
    page = await new_page(browser)
    await page.goto(console.base + "/login")
    await page.fill("#username", console.operator.username)
    await page.fill("#password", console.operator.password)
    await page.click("button[type=submit]")
    await expect(page).to_have_url(console.base + "/")
    await expect(page.locator("#connection")).to_have_text("na żywo")
    return page


async def test_an_incoming_call_waits_on_the_alarm_page_and_an_unknown_number_shows_as_itself(
    console: Console, browser: Browser
) -> None:
    call = await console.ring(BAND_SIM)
    page = await log_in(browser, console)
    # The refused "Odbierz" below is a 503 the browser logs; nothing else may be.
    with no_script_errors(page, expected=("status of 503",)):
        await page.goto(f"{console.base}/alarms/{call.alarm_id}")
        incoming = page.locator("#alarm-incoming")
        await expect(incoming).to_be_visible()
        await expect(incoming).to_contain_text(re.compile(r"Połączenie przychodzące — czeka 0:0\d"))
        await expect(incoming).to_contain_text("opaska")
        await expect(incoming).to_contain_text(BAND_SIM)
        assert "null" not in (await incoming.text_content() or "")
        await expect(page.locator("#alarm-title")).to_contain_text("Połączenie")
        await expect(page.locator("#alarm-title")).to_contain_text("Zofia Wiśniewska")
        # The wait counts up by itself between reloads.
        first = await incoming.text_content()
        await page.wait_for_timeout(1_200)
        assert await incoming.text_content() != first
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / "voice-inbound-waiting.png"), full_page=True)

        # "Odbierz" with no telephone (test mode): refused at once, with the caller's number to dial by
        # hand; the caller goes on waiting, and the operator has the alarm.
        await page.locator("#calls").get_by_role("button", name="Odbierz").click()
        await expect(page.locator("#call-error")).to_contain_text("tryb próbny")
        await expect(page.locator("#call-error")).to_contain_text(BAND_SIM)
        await expect(page.locator("#alarm-state")).to_contain_text("przyjął: Anna Nowak", timeout=PROMPTLY_MS)
        await expect(incoming).to_contain_text("Połączenie przychodzące — czeka")
        # Claimed or not, a caller waiting on the line is in every console's alarm bar, and rings.
        caller_chip = page.locator(f'#alarm-bar [data-key^="c:{call.alarm_id}:"]')
        await expect(caller_chip).to_contain_text("Dzwoni: Zofia Wiśniewska (Anna Nowak)", timeout=PROMPTLY_MS)
        await expect(page.locator("#alarm-bar-count")).to_contain_text("dzwoniący czeka: 1")
        assert await page.evaluate("AlarmWatch.ringing()") == [call.alarm_id]
        await page.screenshot(path=str(SCREENSHOTS / "voice-inbound-offline.png"), full_page=True)

        # The caller hangs up: the header says so no more, by itself.
        await console.hook(
            f"/twilio/voice/incoming/{call.id}/left",
            {"CallSid": call.far_call_sid or "", "QueueResult": "hangup", "QueueTime": "9"},
        )
        await expect(incoming).to_be_hidden(timeout=PROMPTLY_MS)
        await expect(caller_chip).to_have_count(0)

        # A stranger calls: the queue names the number, the alarm page has no band.
        stranger = await console.ring(STRANGER)
        await page.goto(console.base + "/")
        row = page.locator(f'tr[data-alarm-id="{stranger.alarm_id}"]')
        await expect(row).to_contain_text(f"nieznany numer {STRANGER}")
        await expect(row).to_contain_text("Połączenie")
        await page.screenshot(path=str(SCREENSHOTS / "voice-inbound-queue.png"), full_page=True)
        await page.goto(f"{console.base}/alarms/{stranger.alarm_id}")
        await expect(page.locator("#alarm-incoming")).to_contain_text(f"nieznany numer {STRANGER}")
        await expect(page.locator("#alarm-title")).to_contain_text(f"nieznany numer {STRANGER}")
        await expect(page.locator("#band")).to_contain_text("Brak opaski")
        await page.screenshot(path=str(SCREENSHOTS / "voice-inbound-unknown.png"), full_page=True)
