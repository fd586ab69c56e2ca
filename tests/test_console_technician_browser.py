"""A technician's installation visit in a real browser (Debian's Chromium driven by Playwright),
against opaska run as a real process, with a simulated band over real MQTT.

The technician logs in, registers a band for a resident through the form and sees its secret once;
the band connects with those credentials; the technician starts the installation test; the band
presses SOS; the page shows PASS with the measured latency; the alarm reaches the queue marked TEST
and its escalation reaches nobody but the console. The registry, the band page with the result and
device health are saved as screenshots in test-artifacts/screenshots/.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.alarms.model import Alarm
from alarm_center.escalation.model import Escalation
from alarm_center.notify.model import Notification
from core.clock import FakeClock
from core.mqtt.endpoint import parse_mqtt_url
from gateway.topics import TopicScheme
from registry import contacts, residents
from registry.model import Band, BandTestResult, Contact, Municipality, Resident, ResidentDataAccess
from simulator.band import RepeatPolicy, VirtualBand
from simulator.lab.staff import StaffMember, create_staff
from tests.conftest import TEST_MQTT_URL
from tests.support.browser import RECONNECTING, SCREENSHOTS, browser, confirm_in_page, new_page, no_script_errors
from tests.support.processes import platform_process_setup
from tests.support.seed import seed_resident_with_band
from tests.test_console_browser import Platform

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e, pytest.mark.timeout(240)]
__all__ = ["browser"]  # the Chromium fixture, from tests/support/browser.py

SERIAL = "OP-2026-000777"
# A page waits on the console, the broker and the database running beside the suite on a busy CI
# machine: longer than Playwright's 5 s default before an expectation counts as failed.
EXPECT_TIMEOUT_MS = 15_000


@dataclass
class Visit:
    platform: Platform
    technician: StaffMember
    supervisor: StaffMember
    administrator: StaffMember
    resident_id: int
    municipality_code: str


@pytest_asyncio.fixture
async def visit(
    sessions: async_sessionmaker[AsyncSession],
    database_url: str,
    clock: FakeClock,
    topics: TopicScheme,
    client_prefix: str,
    tmp_path: Path,
) -> AsyncIterator[Visit]:
    seeded = await seed_resident_with_band(sessions, clock, first_name="Zofia", last_name="Wiśniewska")
    async with sessions() as session, session.begin():
        resident = await residents.create_resident(
            session,
            clock,
            municipality_id=seeded.municipality_id,
            first_name="Stefania",
            last_name="Wróbel",
            address="ul. Kasztanowa 7/2, Wrocław",
            phone="71 345 67 89",
            access_notes="klucz u sąsiada spod 3",
        )
        await contacts.add_contact(
            session, clock, resident_id=resident.id, name="Marek Wróbel", phone="601 987 654", relation="syn"
        )
        resident_id = resident.id
    mine = [seeded.municipality_id]
    technician = await create_staff(
        sessions, clock, role="technician", municipality_ids=mine, full_name="Tomasz Technik"
    )
    operator = await create_staff(sessions, clock, role="operator", municipality_ids=mine, full_name="Anna Nowak")
    supervisor = await create_staff(
        sessions, clock, role="supervisor", municipality_ids=mine, full_name="Ewa Koordynator"
    )
    administrator = await create_staff(sessions, clock, role="administrator", full_name="Adam Admin")
    async with sessions() as session:
        municipality = await session.get(Municipality, seeded.municipality_id)
        assert municipality is not None
        code = municipality.code
    setup = platform_process_setup(database_url, topics.root, client_prefix)
    platform = Platform(
        setup.env, setup.console_url, setup.broker_url, seeded, operator, operator, supervisor, tmp_path
    )
    await platform.start()
    try:
        yield Visit(platform, technician, supervisor, administrator, resident_id, code)
    finally:
        platform.stop()


async def log_in(browser: Browser, platform: Platform, who: StaffMember, start: str) -> Page:
    page = await new_page(browser)
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


async def test_a_technician_registers_a_band_and_runs_its_installation_test(
    visit: Visit, browser: Browser, sessions: async_sessionmaker[AsyncSession], topics: TopicScheme
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    platform = visit.platform
    page = await log_in(browser, platform, visit.technician, "/registry")
    with no_script_errors(page, expected=RECONNECTING):
        row = page.locator(f'#residents tr[data-resident-id="{visit.resident_id}"]')
        await expect(row).to_contain_text("Wróbel Stefania")
        await expect(row).to_contain_text("brak")  # no band yet
        # Search narrows the list.
        await page.fill("#search", "kasztanowa")
        await expect(page.locator("#residents tbody tr")).to_have_count(1)

        # Register a band for her through the form.
        await page.click("#register-band-link")
        await expect(page).to_have_url(platform.base + "/registry/bands/new")
        await page.fill("#b-serial", SERIAL)
        await page.fill("#b-model", "GT-300")
        await page.fill("#b-firmware", "1.4.2")
        await page.fill("#b-sim", "501 234 567")
        await page.select_option("#b-resident", str(visit.resident_id))
        await page.click("#band-form button[type=submit]")
        await expect(page.locator("#secret-box")).to_be_visible()
        await expect(page.locator("#secret-username")).to_have_text(SERIAL)
        secret = (await page.locator("#secret-value").text_content() or "").strip()
        assert len(secret) >= 16
        await expect(page.locator("#register")).to_be_hidden()
        await page.screenshot(path=str(SCREENSHOTS / "band-registered.png"), full_page=True)

        # A second registration of the same serial is refused by name, in Polish.
        again = await page.context.new_page()
        await again.goto(platform.base + "/registry/bands/new")
        await again.fill("#b-serial", SERIAL)
        await again.click("#band-form button[type=submit]")
        await expect(again.locator("#band-error")).to_contain_text("Numer seryjny: opaska o numerze")
        await again.close()

        # The band page: the secret is never shown again.
        await page.click("#go-band")
        await expect(page).to_have_url(re.compile(r"/registry/bands/\d+$"))
        band_id = int(page.url.rsplit("/", 1)[1])
        await expect(page.locator("#band-title")).to_contain_text(SERIAL)
        await expect(page.locator("#band")).to_contain_text("Stefania Wróbel")
        await expect(page.locator("#band")).to_contain_text("nigdy")
        assert secret not in await page.content()

        # The band connects with those credentials; the technician starts the test.
        band = VirtualBand(
            parse_mqtt_url(platform.endpoint_url),
            topics,
            SERIAL,
            password=secret,
            protocol="5" if TEST_MQTT_URL else "3.1.1",
            repeat=RepeatPolicy(3, 10),
        )
        await band.start()
        try:
            await page.click("#test-start")
            await expect(page.locator("#test-state")).to_contain_text("Tryb testowy do")
            await expect(page.locator("#test-stop")).to_be_visible()
            ack = await band.press("sos", timeout=20)
        finally:
            await band.stop()
        alarm_id = int(ack["alarm_id"])

        # The page, waiting, shows the result with its latency.
        result = page.locator("#test-result")
        await expect(result).to_be_visible(timeout=15_000)
        await expect(result).to_contain_text("PASS")
        await expect(result).to_contain_text(re.compile(r"alarm dotarł w -?\d+ ms"))
        await expect(page.locator("#test-results tbody tr")).to_have_count(1)
        await expect(page.locator("#history")).to_contain_text("Rozpoczęto test instalacyjny")
        # ... and the band's own state follows: it has been heard from.
        await expect(page.locator("#band")).not_to_contain_text("nigdy", timeout=10_000)
        await page.screenshot(path=str(SCREENSHOTS / "band-test-pass.png"), full_page=True)

        # The visit ends: test mode off; new credentials shown once (the old secret is gone), then revoked.
        await page.click("#test-stop")
        await expect(page.locator("#test-state")).to_contain_text("nie jest w trybie testowym")
        await page.click("#reissue")
        await confirm_in_page(page, "Wydaj nowe hasło")
        await expect(page.locator("#secret-box")).to_be_visible()
        new_secret = (await page.locator("#secret-value").text_content() or "").strip()
        assert len(new_secret) >= 16
        assert new_secret != secret
        await page.click("#revoke")
        await confirm_in_page(page, "Unieważnij")
        await expect(page.locator("#secret-box")).to_be_hidden()
        await expect(page.locator("#band")).to_contain_text("unieważnione")
        await expect(page.locator("#test-start")).to_be_disabled()
        assert new_secret not in await page.content()

        # The alarm is in the queue, marked TEST.
        await page.click("a.brand")
        queued = page.locator(f'#queue tr[data-alarm-id="{alarm_id}"]')
        await expect(queued).to_be_visible(timeout=15_000)
        await expect(queued).to_contain_text("TEST")
        await expect(queued).to_contain_text("Stefania Wróbel")

        # The registry lists her with the band; device health shows nothing wrong with it.
        await page.goto(platform.base + "/registry")
        await expect(row).to_contain_text(SERIAL)
        # Test mode is over: the band's alarms are real again.
        await expect(page.locator(f'#bands tr[data-band-id="{band_id}"]')).to_contain_text("u mieszkańca")
        await expect(page.locator(f'#bands tr[data-band-id="{band_id}"]')).not_to_contain_text("TEST")
        await page.screenshot(path=str(SCREENSHOTS / "registry.png"), full_page=True)
        await page.goto(platform.base + "/devices")
        await page.check("#all")
        await expect(page.locator(f'#health tr[data-band-id="{band_id}"]')).to_contain_text("sprawna")
        # The seeded band never connected: it is listed as a problem.
        await expect(page.locator(f'#health tr[data-band-id="{platform.seeded.band_id}"]')).to_contain_text(
            "nigdy nie połączona"
        )
        await page.screenshot(path=str(SCREENSHOTS / "devices.png"), full_page=True)

        # Her card: the contact, the band, its history; nothing a supervisor keeps (medical notes, RODO).
        await page.click(f'#health tr[data-band-id="{band_id}"] td:nth-child(4) a')
        await expect(page.locator("#resident-title")).to_have_text("Stefania Wróbel")
        await expect(page.locator("#contacts")).to_contain_text("Marek Wróbel")
        await expect(page.locator("#bands")).to_contain_text(SERIAL)
        await expect(page.locator("#history")).to_contain_text("przypisana do mieszkańca")
        await expect(page.locator("#export")).to_have_count(0)
        await expect(page.locator("#contact-form")).to_have_count(0)
        await page.screenshot(path=str(SCREENSHOTS / "resident.png"), full_page=True)

    async with sessions() as session:
        alarm = await session.get(Alarm, alarm_id)
        assert alarm is not None
        assert alarm.is_test
        [test] = (await session.execute(select(BandTestResult).where(BandTestResult.band_id == band_id))).scalars()
        assert test.passed
        assert test.alarm_id == alarm_id
        assert test.technician_id == visit.technician.id
        registered = await session.get(Band, band_id)
        assert registered is not None
        assert (registered.model, registered.firmware, registered.sim_phone) == ("GT-300", "1.4.2", "+48501234567")
        # Not escalated to relatives: its escalation has console steps only, and nobody was notified.
        escalation = (await session.execute(select(Escalation).where(Escalation.alarm_id == alarm_id))).scalar_one()
        assert {step["channel"] for step in escalation.policy["steps"]} == {"console"}
        notified = (await session.execute(select(Notification).where(Notification.alarm_id == alarm_id))).scalars()
        assert list(notified) == []


@contextlib.contextmanager
def only_refusals(page: Page, *statuses: int) -> Iterator[None]:
    """No script error on the page; the browser's log of these refusals (shown to the user) is expected."""
    with no_script_errors(page, expected=[f"status of {status} " for status in statuses]):
        yield


CSV_HEADER = "gmina;imie;nazwisko;data_urodzenia;telefon;kontakt1_imie_nazwisko;kontakt1_telefon;kontakt1_klucz"


async def test_a_supervisor_keeps_the_list_and_an_administrator_erases_a_resident(
    visit: Visit, browser: Browser, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    platform = visit.platform
    page = await log_in(browser, platform, visit.supervisor, "/registry")
    with only_refusals(page, 422):
        # A new resident: a bad phone is refused by name, in Polish; then saved.
        await page.click("#add-resident-toggle")
        await page.fill("#r-first", "Władysław")
        await page.fill("#r-last", "Ząbek")
        await page.fill("#r-birth", "1937-04-02")
        await page.fill("#r-address", "ul. Ogrodowa 5, Wrocław")
        await page.fill("#r-phone", "12")
        await page.fill("#r-medical", "Rozrusznik serca.")
        await page.click("#resident-form button[type=submit]")
        await expect(page.locator("#resident-error")).to_contain_text("Telefon:")
        await page.fill("#r-phone", "71 111 22 33")
        await page.click("#resident-form button[type=submit]")
        await expect(page).to_have_url(re.compile(r"/registry/residents/\d+$"))
        resident_id = int(page.url.rsplit("/", 1)[1])
        await expect(page.locator("#resident-title")).to_have_text("Władysław Ząbek")
        # Medical notes are read on request, and the reading is recorded.
        await expect(page.locator("#medical")).to_be_hidden()
        await page.click("#medical-show")
        await expect(page.locator("#medical")).to_contain_text("Rozrusznik serca.")
        async with sessions() as session:
            readings = (await session.execute(select(ResidentDataAccess.staff_id))).scalars().all()
        assert readings == [visit.supervisor.id]

        # Contacts: two added, the order swapped, one removed.
        for name, phone in (("Anna Ząbek", "601 100 200"), ("Jan Ząbek", "601 100 300")):
            await page.fill("#c-name", name)
            await page.fill("#c-phone", phone)
            await page.click("#contact-form button[type=submit]")
            await expect(page.locator("#contacts")).to_contain_text(name)
        rows = page.locator("#contacts tbody tr")
        await expect(rows.nth(0)).to_contain_text("Anna Ząbek")
        await rows.nth(0).locator("button", has_text="↓").click()
        await expect(rows.nth(0)).to_contain_text("Jan Ząbek")
        await expect(rows.nth(1)).to_contain_text("Anna Ząbek")
        await rows.nth(1).locator("button", has_text="Usuń").click()
        await confirm_in_page(page, "Usuń")
        await expect(rows).to_have_count(1)
        # Her details changed: a new address, the phone removed.
        await page.click("#edit-toggle")
        await expect(page.locator("#e-address")).to_have_value("ul. Ogrodowa 5, Wrocław")
        await page.fill("#e-address", "ul. Ogrodowa 7, Wrocław")
        await page.fill("#e-phone", "")
        await page.click("#edit-form button[type=submit]")
        await expect(page.locator("#action-done")).to_have_text("Dane zapisane.")
        await expect(page.locator("#resident")).to_contain_text("ul. Ogrodowa 7, Wrocław")
        await expect(page.locator("#edit-form")).to_be_hidden()
        await page.screenshot(path=str(SCREENSHOTS / "resident-supervisor.png"), full_page=True)

        # The CSV import: a broken file is reported row by row and cannot be imported; a good one is.
        await page.goto(platform.base + "/registry")
        await page.click("#import-toggle")
        code = visit.municipality_code
        broken = tmp_path / "zle.csv"
        broken.write_bytes(
            "\r\n".join([CSV_HEADER, f"{code};Łucja;Kowal;31.02.1940;;;;", "nieznana;Jan;Lis;;;;;"]).encode("cp1250")
        )
        await page.set_input_files("#import-file", str(broken))
        await page.click("#import-check")
        await expect(page.locator("#import-summary")).to_contain_text("Znaleziono problemów: 2")
        await expect(page.locator("#import-summary")).to_contain_text("Windows-1250")
        await expect(page.locator("#import-problems")).to_contain_text("nieznana gmina")
        await expect(page.locator("#import-run")).to_be_disabled()
        await page.screenshot(path=str(SCREENSHOTS / "registry-import.png"), full_page=True)
        good = tmp_path / "dobre.csv"
        good.write_bytes(
            "\r\n".join([CSV_HEADER, f"{code};Łucja;Kowal;1940-02-01;;Piotr Kowal;602 300 400;tak"]).encode("cp1250")
        )
        await page.set_input_files("#import-file", str(good))
        await page.click("#import-check")
        await expect(page.locator("#import-summary")).to_contain_text("Plik jest poprawny")
        await page.click("#import-run")
        await expect(page.locator("#import-summary")).to_contain_text("Zaimportowano: mieszkańców 1, kontaktów 1")
        await expect(page.locator("#residents")).to_contain_text("Kowal Łucja")

    # The administrator erases the new resident's personal data, confirming with the number.
    admin = await log_in(browser, platform, visit.administrator, f"/registry/residents/{resident_id}")
    with only_refusals(admin):
        await expect(admin.locator("#export")).to_be_visible()
        await admin.fill("#erase-confirm", str(resident_id + 1))
        await admin.click("#erase-form button[type=submit]")
        await expect(admin.locator("#erase-error")).to_contain_text(f"Wpisz numer mieszkańca: {resident_id}")
        await admin.fill("#erase-confirm", str(resident_id))
        await admin.click("#erase-form button[type=submit]")
        await expect(admin.locator("#action-done")).to_contain_text("Dane osobowe usunięte")
        await expect(admin.locator("#resident-title")).to_have_text("Usunięty mieszkaniec")
        await expect(admin.locator("#contacts-empty")).to_be_visible()

    async with sessions() as session:
        erased = await session.get(Resident, resident_id)
        assert erased is not None
        assert (erased.first_name, erased.phone, erased.medical_notes, erased.active) == ("Usunięty", None, "", False)
        left = (await session.execute(select(Contact).where(Contact.resident_id == resident_id))).scalars()
        assert list(left) == []
