"""Calls from the alarm page in a real browser (Debian's Chromium, Playwright), against `opaska run`
(a real process) whose [notify] mode is "twilio" on the fake Twilio: the wiring gives the console a
TwilioTelephone, and the real `twilio` library places the calls.

Two operators on the same SOS. Operator 1 sees the call buttons ("Zadzwoń do podopiecznego"
disabled: the resident has no phone, said beside it), calls the band: their own phone rings, and
when they answer the band's SIM rings with the centre's number. Operator 2 sees the call live,
with who is on it, and the band's button disabled with the reason. The call ends: both pages show
it ended, with its duration. Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.model import AlarmKind
from core.clock import FakeClock
from gateway.topics import TopicScheme
from registry.model import Band, StaffUser
from simulator.fake_twilio import FakeTwilio
from simulator.fake_twilio.records import FakeCall
from simulator.lab.staff import create_staff
from tests.support.alarms import press
from tests.support.browser import RECONNECTING, SCREENSHOTS, browser, no_script_errors
from tests.support.processes import platform_process_setup
from tests.support.seed import seed_resident_with_band
from tests.test_console_browser import Platform, log_in

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.e2e,
    pytest.mark.timeout(240),
    pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning"),
]

__all__ = ["browser"]

PUBLIC = "https://alarm.opaska.example"
OURS = "+48221234567"
BAND_SIM = "+48500100200"
ANNA_PHONE = "+48603000001"
PIOTR_PHONE = "+48603000002"
# The console's feed polls the database in a separate process; allow for a poll and the page's work.
PROMPTLY_MS = 5_000


@dataclass
class VoiceCentre:
    platform: Platform
    fake: FakeTwilio


@pytest_asyncio.fixture
async def centre(
    sessions: async_sessionmaker[AsyncSession],
    database_url: str,
    clock: FakeClock,
    topics: TopicScheme,
    client_prefix: str,
    tmp_path: Path,
) -> AsyncIterator[VoiceCentre]:
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
    async with sessions() as session, session.begin():
        band = await session.get(Band, seeded.band_id)
        assert band is not None
        band.sim_phone = BAND_SIM
        for member, phone in ((operator, ANNA_PHONE), (second, PIOTR_PHONE)):
            staff = await session.get(StaffUser, member.id)
            assert staff is not None
            staff.phone = phone
    setup = platform_process_setup(database_url, topics.root, client_prefix)
    async with FakeTwilio(phone_number=OURS) as fake:
        fake.url_map[PUBLIC] = setup.console_url
        env = setup.env | {
            "OPASKA_NOTIFY_MODE": "twilio",
            "OPASKA_TWILIO_ACCOUNT_SID": fake.account_sid,
            "OPASKA_TWILIO_AUTH_TOKEN": fake.auth_token,
            "OPASKA_TWILIO_FROM_NUMBER": OURS,
            "OPASKA_TWILIO_PUBLIC_URL": PUBLIC,
            "OPASKA_TWILIO_API_BASE_URL": fake.url,
        }
        platform = Platform(env, setup.console_url, setup.broker_url, seeded, operator, second, supervisor, tmp_path)
        await platform.start()
        try:
            yield VoiceCentre(platform, fake)
        finally:
            platform.stop()


async def _one_call_to(fake: FakeTwilio, number: str) -> FakeCall:
    await fake.wait_for(lambda: len(fake.calls_to(number)) == 1, timeout=10)
    [call] = fake.calls_to(number)
    return call


async def test_two_operators_see_the_call_buttons_and_the_live_call(
    centre: VoiceCentre, browser: Browser, sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    platform, fake = centre.platform, centre.fake
    alarm_id = await press(sessions, platform.seeded, AlarmKind.SOS, at=clock.now())
    first = await log_in(browser, platform, platform.operator)
    second = await log_in(browser, platform, platform.second_operator)
    # The browser logs the refused phone number (422) on Moje konto; the page explains it under the field.
    refused = (*RECONNECTING, "status of 422")
    with no_script_errors(first, expected=RECONNECTING), no_script_errors(second, expected=refused):
        await first.goto(f"{platform.base}/alarms/{alarm_id}")
        await second.goto(f"{platform.base}/alarms/{alarm_id}")
        calls = first.locator("#calls")
        band_button = calls.get_by_role("button", name="Zadzwoń do opaski")
        resident_button = calls.get_by_role("button", name="Zadzwoń do podopiecznego")
        await expect(band_button).to_be_enabled()
        # No phone on the resident's card: disabled, and the reason is said beside it and in its title.
        await expect(resident_button).to_be_disabled()
        await expect(resident_button).to_have_attribute("title", "podopieczny nie ma numeru telefonu")
        await expect(calls.locator('[data-call-target="resident"] + .call-why')).to_have_text(
            "podopieczny nie ma numeru telefonu"
        )
        await expect(calls.get_by_role("button", name="Rozmowa: Anna Kowalska")).to_be_enabled()
        await expect(calls.locator('[data-call-target="responder"] + .call-why')).to_contain_text("nikt nie ma")
        # The relatives table's automated call is the recorded message, not a conversation.
        await expect(first.locator("#contacts").get_by_role("button", name="Komunikat głosowy")).to_be_visible()
        await first.screenshot(path=str(SCREENSHOTS / "voice-call-buttons.png"), full_page=True)

        # Operator 1 calls the band: their own phone rings first.
        await band_button.click()
        await expect(first.locator("#call-done")).to_contain_text("Odbierz swój telefon")
        operator_leg = await _one_call_to(fake, ANNA_PHONE)
        assert operator_leg.from_ == OURS
        assert fake.calls_to(BAND_SIM) == []
        live = second.locator("#live-calls tbody tr")
        await expect(live).to_have_count(1, timeout=PROMPTLY_MS)
        await expect(live).to_contain_text("dzwoni na telefon operatora")

        # The operator answers: the band's SIM rings from the centre's number, into the alarm's conference.
        twiml = await fake.answer_call(operator_leg.sid)
        assert f">alarm-{alarm_id}</Conference>" in twiml
        band_leg = await _one_call_to(fake, BAND_SIM)
        assert band_leg.from_ == OURS
        await fake.answer_call(band_leg.sid)

        # Operator 2 sees it live: whom, who is on it; their band button is disabled with the reason.
        await expect(live).to_contain_text("rozmowa trwa", timeout=PROMPTLY_MS)
        await expect(live).to_contain_text("Anna Nowak")
        await expect(live).to_contain_text(f"opaska {platform.seeded.serial}")
        second_band = second.locator("#calls").get_by_role("button", name="Zadzwoń do opaski")
        await expect(second_band).to_be_disabled()
        await expect(second.locator('#calls [data-call-target="band"] + .call-why')).to_have_text(
            "trwa połączenie — prowadzi Anna Nowak"
        )
        await expect(second.locator("#live-calls").get_by_role("button", name="Rozłącz")).to_be_visible()
        await expect(second.locator("#live-calls").get_by_role("button", name="Dodaj do rozmowy")).to_be_visible()
        await second.screenshot(path=str(SCREENSHOTS / "voice-live-call-second-operator.png"), full_page=True)
        await expect(first.locator("#live-calls tbody tr")).to_contain_text("rozmowa trwa", timeout=PROMPTLY_MS)
        await first.screenshot(path=str(SCREENSHOTS / "voice-live-call-first-operator.png"), full_page=True)

        # "Dodaj do rozmowy" asks whom in the console's own dialog; cancelled, nothing is dialled.
        await first.locator("#live-calls").get_by_role("button", name="Dodaj do rozmowy").click()
        dialog = first.locator("dialog.opaska-dialog[open]")
        await expect(dialog).to_contain_text("Kogo dodać")
        await first.screenshot(path=str(SCREENSHOTS / "voice-add-dialog.png"), full_page=True)
        await dialog.get_by_role("button", name="Anuluj").click()

        # Operator 1 ends it with "Rozłącz" (confirmed in the console's dialog): Twilio ends the band's leg,
        # and both pages show the call ended.
        await first.locator("#live-calls").get_by_role("button", name="Rozłącz").click()
        await expect(dialog).to_contain_text("Rozłączyć")
        await dialog.get_by_role("button", name="Rozłącz").click()
        await expect(first.locator("#call-done")).to_have_text("Rozłączono.")
        await fake.wait_for(lambda: band_leg.status == "completed", timeout=10)
        for page in (first, second):
            await expect(page.locator("#live-calls")).to_be_hidden(timeout=PROMPTLY_MS)
            await expect(page.locator("#past-calls")).to_contain_text("zakończona")
        await expect(second_band).to_be_enabled()
        await first.screenshot(path=str(SCREENSHOTS / "voice-call-ended.png"), full_page=True)

        # Operator 2 changes their phone on Moje konto, reached from their name in the header.
        await second.get_by_role("link", name="Piotr Zieliński · operator").click()
        await expect(second).to_have_url(f"{platform.base}/account")
        await expect(second.locator("#phone")).to_have_value(PIOTR_PHONE)
        await second.fill("#phone", "12")
        await second.get_by_role("button", name="Zapisz").click()
        await expect(second.locator("#phone-error")).to_contain_text("nieprawidłowy numer")
        await second.screenshot(path=str(SCREENSHOTS / "voice-account-bad-number.png"), full_page=True)
        await second.fill("#phone", "603 000 009")
        await second.get_by_role("button", name="Zapisz").click()
        await expect(second.locator("#phone-current")).to_have_text("Zapisany: +48603000009")
        await expect(second.locator("#phone-error")).to_be_hidden()
        await second.screenshot(path=str(SCREENSHOTS / "voice-account.png"), full_page=True)
