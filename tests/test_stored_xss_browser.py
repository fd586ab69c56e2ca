"""Stored XSS, as an attacker with a registry account (or a resident's relative dictating a
contact's name) would try it: script-bearing text in every free-text field a resident, contact,
municipality, action plan, staff member and alarm note can carry, then every page that shows it
opened in Chromium (Debian's, driven by Playwright) against `opaska run` as a process.

The pages are opened with the Content-Security-Policy bypassed, so the CSP (which would block an
inline handler anyway) cannot hide an escaping failure: what is tested is that the console never
turns stored text into markup. Each payload must appear on its page as the very text stored, no
element it would create may exist, and nothing it would run may have run.
Screenshots: test-artifacts/screenshots/xss-*.png.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from gateway.topics import TopicScheme
from registry import action_plans, service
from registry.model import Municipality, PlanStepKind, Resident
from simulator.lab.staff import StaffMember, create_staff, log_in
from tests.support.browser import SCREENSHOTS, browser
from tests.test_console_browser import Platform, running_platform

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e, pytest.mark.timeout(240)]
__all__ = ["browser"]


def payload(field: str, element: str = "img src=x onerror") -> str:
    """Markup that runs the moment it becomes HTML, tagged with the field it was stored in (short:
    a contact's relation holds 50 characters)."""
    return f"<{element}=__xss='{field}'>{field}"


FIELDS = {
    "first_name": payload("imie"),
    "last_name": payload("nazwisko", "svg onload"),
    "address": payload("adres"),
    "access_notes": payload("dostep", "svg onload"),
    "medical_notes": payload("medyczne"),
    "contact_name": payload("kontakt"),
    "relation": payload("relacja"),
    "municipality": payload("gmina"),
    "plan_step": payload("plan", "svg onload"),
    "staff_name": payload("operator"),
    "note": payload("notatka"),
}


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


async def _store(sessions: async_sessionmaker[AsyncSession], clock: FakeClock, platform: Platform) -> None:
    resident_id = platform.seeded.resident_id
    async with sessions() as session, session.begin():
        await service.update_resident(
            session,
            clock,
            resident_id=resident_id,
            **{key: FIELDS[key] for key in ("first_name", "last_name", "address", "access_notes", "medical_notes")},
        )
        contact = await service.add_contact(
            session, clock, resident_id=resident_id, name=FIELDS["contact_name"], phone="602 111 222",
            relation=FIELDS["relation"],
        )  # fmt: skip
        await action_plans.set_resident_plan(
            session,
            clock,
            resident_id=resident_id,
            steps=[
                action_plans.StepInput(PlanStepKind.CALL_RESIDENT, text=FIELDS["plan_step"]),
                action_plans.StepInput(PlanStepKind.CALL_CONTACT, contact_id=contact.id, text=FIELDS["plan_step"]),
            ],
        )
        resident = (await session.execute(select(Resident).where(Resident.id == resident_id))).scalar_one()
        municipality = await session.get(Municipality, resident.municipality_id)
        assert municipality is not None
        municipality.name = FIELDS["municipality"]


async def _note(platform: Platform, member: StaffMember, alarm_id: int) -> None:
    """Through the console's own API, as an operator would type it."""
    async with httpx.AsyncClient(base_url=platform.base) as http:
        await log_in(http, member)
        claimed = await http.post(f"/api/alarms/{alarm_id}/claim")
        assert claimed.status_code == 200, claimed.text
        noted = await http.post(f"/api/alarms/{alarm_id}/notes", json={"note": FIELDS["note"]})
        assert noted.status_code == 201, noted.text


async def _visit(page: Page, url: str, expected: list[str], name: str, check: str | None = None) -> None:
    await page.goto(url)
    await page.wait_for_load_state("load")
    if check is not None:
        await page.check(check)
    try:
        for field in expected:
            # The stored text, literally, as text: the tags included.
            await expect(page.get_by_text(FIELDS[field], exact=False).first).to_be_attached(timeout=15_000)
    finally:
        await page.screenshot(path=str(SCREENSHOTS / f"xss-{name}.png"), full_page=True)
    await page.wait_for_timeout(300)  # an onerror/onload would have fired by now
    ran = await page.evaluate("window.__xss === undefined ? null : String(window.__xss)")
    assert ran is None, f"{url}: the payload stored in {ran!r} ran"
    made = await page.evaluate("document.querySelectorAll('img[src=x], svg[onload], [onerror]').length")
    assert made == 0, f"{url}: a stored payload became markup"


async def test_no_stored_text_becomes_markup_on_any_page(
    platform: Platform,
    browser: Browser,
    sessions: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    topics: TopicScheme,
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await _store(sessions, clock, platform)
    hostile = await create_staff(
        sessions,
        clock,
        role="supervisor",
        municipality_ids=[platform.seeded.municipality_id],
        full_name=FIELDS["staff_name"],
    )
    alarm_id = await platform.press(topics, "sos")
    await _note(platform, hostile, alarm_id)

    context = await browser.new_context(viewport={"width": 1400, "height": 900}, locale="pl-PL", bypass_csp=True)
    page = await context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    await page.goto(platform.base + "/login")
    await page.fill("#username", platform.supervisor.username)
    await page.fill("#password", platform.supervisor.password)
    await page.click("button[type=submit]")
    await expect(page).to_have_url(platform.base + "/")

    resident = f"/registry/residents/{platform.seeded.resident_id}"
    pages = [
        ("/", ["first_name", "last_name"], "queue"),
        (f"/alarms/{alarm_id}", ["first_name", "address", "contact_name", "plan_step", "note", "staff_name"], "alarm"),
        ("/registry", ["last_name", "address", "municipality"], "registry"),
        (resident, ["first_name", "address", "access_notes", "contact_name", "relation"], "resident"),
        ("/supervisor", ["last_name"], "supervisor"),
        ("/reports", ["municipality"], "reports"),
    ]
    for path, expected, name in pages:
        await _visit(page, platform.base + path, expected, name)
    # The device list shows a healthy band only with "all bands" ticked.
    await _visit(page, platform.base + "/devices", ["last_name", "municipality"], "devices", check="#all")
    # The medical notes, shown on request (and audited): text too.
    await page.goto(platform.base + resident)
    await page.click("#medical-show")
    await expect(page.locator("#medical")).to_contain_text(FIELDS["medical_notes"])
    assert await page.evaluate("window.__xss === undefined")
    assert await page.evaluate("document.querySelectorAll('img[src=x], svg[onload], [onerror]').length") == 0
    assert dialogs == []
    await context.close()
