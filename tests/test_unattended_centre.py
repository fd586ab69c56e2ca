"""The unattended centre: an SOS while no operator console is connected. The supervisor on duty is
texted and called first ("centrum bez operatora"), relatives a minute later; every wait skipped for
want of a console is on the timeline with its reason; a console that comes back lists what
escalated meanwhile, for its user's municipalities only.

Runs on the escalation story's harness: the worker and the outbox sender against the fake Twilio
through the real `twilio` client, the console served by uvicorn, a FakeClock moved by hand.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, expect

from alarm_center.alarms.model import Alarm
from alarm_center.escalation.unattended import NO_CONSOLE
from alarm_center.notify.templates import alarm_code
from registry.duty import add_shift
from simulator.lab.staff import create_staff, log_in
from tests import test_escalation_story as story
from tests.support.browser import RECONNECTING, SCREENSHOTS, browser, new_page, no_script_errors
from tests.support.seed import seed_resident_with_band
from tests.test_escalation_story import RELATIVE_1, Centre, operator_at_the_console

# The escalation story's harness (its fixture, served under the same name here), not its tests.
centre = story.centre
__all__ = ["browser"]  # the Chromium fixture, from tests/support/browser.py

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The 'auth' parameter is deprecated:DeprecationWarning"),
]

SUPERVISOR = "+48713000001"
ELSEWHERE = "+48713000009"


async def supervisor_on_duty(centre: Centre, *, municipality_id: int | None = None, phone: str = SUPERVISOR) -> int:
    now = centre.clock.now()
    async with centre.sessions() as session, session.begin():
        shift = await add_shift(
            session,
            role="supervisor",
            name="Nocna Koordynatorka",
            phone=phone,
            starts_at=now - timedelta(hours=1),
            ends_at=now + timedelta(hours=8),
            created_at=now,
            municipality_id=centre.seeded.municipality_id if municipality_id is None else municipality_id,
        )
        return shift.id


async def nobody_at_the_console(centre: Centre) -> None:
    await centre.console_beat()
    assert [since for since, _ in await centre.console_rows()] == [None]  # alive, but nobody on it


async def test_with_no_console_the_supervisor_on_duty_is_paged_first_and_relatives_a_minute_later(
    centre: Centre,
) -> None:
    shift_id = await supervisor_on_duty(centre)
    await nobody_at_the_console(centre)
    alarm = await centre.sos()
    await centre.time_passes(0)  # step 1 (operators' console): nobody there, the supervisor is paged
    supervisor = centre.fake.phone(SUPERVISOR)
    sms = await supervisor.expect_sms("centrum bez operatora")
    assert alarm_code(alarm) in sms.body
    assert "Helena" in sms.body
    call = await supervisor.expect_call()
    assert "Centrum bez operatora" in await call.answer()
    await call.end("completed")
    await centre.time_passes(1, step=1)  # step 2 (supervisor's console) at once: nobody to see it

    # The supervisor has 60 s to take it before relatives are called.
    await centre.time_passes(58, step=10)
    assert centre.fake.calls_to(RELATIVE_1) == []
    await centre.time_passes(1, step=1)
    await centre.fake.phone(RELATIVE_1).expect_call()
    assert [n[:3] for n in await centre.notifications(alarm)] == [
        ("escalation_sms", "sms", SUPERVISOR),
        ("escalation_voice", "voice", SUPERVISOR),
        ("escalation_voice", "voice", RELATIVE_1),
    ]

    # The timeline says why: the page, and each wait skipped (which, how long, why).
    pages = await centre.escalations_for(alarm, "unattended")
    assert [(p["channel"], p["targets"], p["why"]) for p in pages] == [
        ("sms", ["on_duty:supervisor"], NO_CONSOLE),
        ("voice", ["on_duty:supervisor"], NO_CONSOLE),
    ]
    assert all(
        p["on_duty:supervisor"] == shift_id and p["names"] == {"on_duty:supervisor": "Nocna Koordynatorka"}
        for p in pages
    )
    assert all(len(p["notification_ids"]) == 1 for p in pages)
    skipped = await centre.escalations_for(alarm, "wait_skipped")
    assert [(s["after_step"], s["next_step"], s["wait_s"], s["kept_s"], s["why"]) for s in skipped] == [
        (1, 2, 60, 0, NO_CONSOLE),
        (2, 3, 120, 59, NO_CONSOLE),  # the supervisor's minute, counted from the page at 0 s
    ]
    assert all(s["waited_s"] == 0 and s["policy"] == "life" for s in skipped)
    # The page came before any step that reaches a relative.
    events = await centre.events(alarm, "escalated")
    first_page = next(i for i, d in enumerate(events) if d.get("reason") == "unattended")
    first_phone = next(i for i, d in enumerate(events) if d.get("channel") == "voice" and "step" in d)
    assert first_page < first_phone
    # Later rounds do not skip the same wait again, nor page again.
    await centre.time_passes(30, step=10)
    assert len(await centre.escalations_for(alarm, "wait_skipped")) == 2
    assert len(await centre.escalations_for(alarm, "unattended")) == 2


async def test_an_operator_back_at_the_console_puts_the_relatives_call_back_to_its_own_time(
    centre: Centre,
) -> None:
    """The wait before the relatives' step was cut to the supervisor's minute; an operator who comes
    back meanwhile has the policy's own 180 s to claim before relatives are called."""
    await supervisor_on_duty(centre)
    await nobody_at_the_console(centre)
    alarm = await centre.sos()
    await centre.time_passes(0)
    await centre.time_passes(1, step=1)
    assert [s["kept_s"] for s in await centre.escalations_for(alarm, "wait_skipped")] == [0, 59]
    async with operator_at_the_console(centre):
        await centre.time_passes(100, step=10)  # past the supervisor's minute: nobody called yet
        assert centre.fake.calls_to(RELATIVE_1) == []
        [restored] = await centre.escalations_for(alarm, "wait_restored")
        assert restored["next_step"] == 3
        # 180 s after the raise, by the policy alone, the relatives are called.
        await centre.time_passes(75, step=5)
        await centre.fake.phone(RELATIVE_1).expect_call()
    # Overdue only from the supervisor step's own time (60 s), though it fired at once.
    async with centre.sessions() as session:
        row = await session.get(Alarm, alarm)
        assert row is not None
        assert row.overdue_at == row.raised_at + timedelta(seconds=60)


async def test_with_no_supervisor_on_duty_the_timeline_says_so_and_relatives_are_called_at_once(
    centre: Centre,
) -> None:
    await nobody_at_the_console(centre)
    alarm = await centre.sos()
    await centre.time_passes(0)
    await centre.time_passes(1, step=1)
    await centre.time_passes(1, step=1)
    await centre.fake.phone(RELATIVE_1).expect_call()
    pages = await centre.escalations_for(alarm, "unattended")
    assert [(p["on_duty:supervisor"], p["notification_ids"]) for p in pages] == [("nobody on duty", [])] * 2
    assert [s["kept_s"] for s in await centre.escalations_for(alarm, "wait_skipped")] == [0, 0]


async def test_with_an_operator_at_the_console_nobody_on_duty_is_paged_and_no_wait_is_skipped(
    centre: Centre,
) -> None:
    await supervisor_on_duty(centre)
    async with operator_at_the_console(centre):
        alarm = await centre.sos()
        await centre.time_passes(0)
        await centre.time_passes(170)
        assert centre.fake.calls_to(RELATIVE_1) == []
        await centre.time_passes(10)
        await centre.fake.phone(RELATIVE_1).expect_call()
    assert centre.fake.sent_to(SUPERVISOR) == []
    assert centre.fake.calls_to(SUPERVISOR) == []
    assert await centre.escalations_for(alarm, "unattended") == []
    assert await centre.escalations_for(alarm, "wait_skipped") == []
    async with httpx.AsyncClient(base_url=centre.console_url) as http:
        await log_in(http, centre.operator)
        assert (await http.get("/api/escalations/unattended")).json()["alarms"] == []


async def test_a_console_back_lists_what_escalated_for_its_municipalities_only(centre: Centre) -> None:
    await supervisor_on_duty(centre)
    elsewhere = await seed_resident_with_band(centre.sessions, centre.clock, first_name="Zofia", serial=None)
    await supervisor_on_duty(centre, municipality_id=elsewhere.municipality_id, phone=ELSEWHERE)
    await nobody_at_the_console(centre)
    alarm = await centre.sos()
    await centre.time_passes(0)
    await centre.time_passes(1, step=1)
    await centre.time_passes(60, step=10)
    await centre.fake.phone(RELATIVE_1).expect_call()
    assert centre.fake.sent_to(ELSEWHERE) == []  # the other municipality's supervisor is not paged

    other = await create_staff(
        centre.sessions, centre.clock, role="operator", municipality_ids=[elsewhere.municipality_id]
    )
    technician = await create_staff(
        centre.sessions, centre.clock, role="technician", municipality_ids=[centre.seeded.municipality_id]
    )
    async with httpx.AsyncClient(base_url=centre.console_url) as http:
        await log_in(http, centre.operator)
        response = await http.get("/api/escalations/unattended")
    assert response.status_code == 200, response.text
    [listed] = response.json()["alarms"]
    assert listed["alarm"]["id"] == alarm
    assert (listed["alarm"]["kind"], listed["alarm"]["status"]) == ("sos", "raised")
    assert listed["alarm"]["resident"]["first_name"] == "Helena"
    actions: list[dict[str, Any]] = listed["actions"]
    assert [a["what"] for a in actions] == [
        "step",  # step 1: the operators' console, nobody there
        "unattended_page",
        "unattended_page",
        "wait_skipped",
        "step",  # step 2: the supervisor's console
        "wait_skipped",
        "step",  # step 3: the first relative, by phone
    ]
    pages = [a for a in actions if a["what"] == "unattended_page"]
    assert [(a["channel"], a["to"], a["nobody_on_duty"]) for a in pages] == [
        ("sms", ["Nocna Koordynatorka"], False),
        ("voice", ["Nocna Koordynatorka"], False),
    ]
    skipped = [a for a in actions if a["what"] == "wait_skipped"]
    assert [(a["after_step"], a["step"], a["wait_s"], a["kept_s"], a["reason"]) for a in skipped] == [
        (1, 2, 60, 0, NO_CONSOLE),
        (2, 3, 120, 59, NO_CONSOLE),
    ]
    assert (actions[-1]["channel"], actions[-1]["to"]) == ("voice", ["Anna Kowalska"])
    assert listed["last_at"] == actions[-1]["at"]

    async with httpx.AsyncClient(base_url=centre.console_url) as http:
        await log_in(http, other)
        assert (await http.get("/api/escalations/unattended")).json()["alarms"] == []
    async with httpx.AsyncClient(base_url=centre.console_url) as http:
        await log_in(http, technician)
        assert (await http.get("/api/escalations/unattended")).status_code == 403
    async with httpx.AsyncClient(base_url=centre.console_url) as http:
        assert (await http.get("/api/escalations/unattended")).status_code == 401


@pytest.mark.timeout(120)
async def test_the_console_back_shows_the_panel_until_it_is_dismissed(centre: Centre, browser: Browser) -> None:
    await supervisor_on_duty(centre)
    await nobody_at_the_console(centre)
    alarm = await centre.sos()
    await centre.time_passes(0)
    await centre.time_passes(1, step=1)
    await centre.time_passes(60, step=10)

    page = await new_page(browser)
    with no_script_errors(page, expected=RECONNECTING):
        await page.goto(centre.console_url + "/login")
        await page.fill("#username", centre.operator.username)
        await page.fill("#password", centre.operator.password)
        await page.click("button[type=submit]")
        await expect(page).to_have_url(centre.console_url + "/")
        panel = page.locator("#unattended")
        await expect(panel).to_be_visible()
        await expect(panel).to_contain_text("Gdy nikt nie był przy konsoli")
        # The same words as the alarm's timeline (alarm_center/alarms/timeline_text.py).
        await expect(panel).to_contain_text("Centrum bez operatora — SMS do: koordynator dyżurny (Nocna Koordynatorka)")
        await expect(panel).to_contain_text(
            "Pominięto oczekiwanie po kroku 2 (120 s): nikt nie był przy konsoli — krok 3 wcześniej"
        )
        await expect(panel.locator(f'a[href="/alarms/{alarm}"]')).to_have_text("SOS: Helena Kowalska")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / "unattended.png"), full_page=True)

        # Dismissed: gone, and not shown again on the next page, until something new escalates.
        await page.click("#unattended-dismiss")
        await expect(panel).to_be_hidden()
        await page.goto(centre.console_url + f"/alarms/{alarm}")
        await page.wait_for_load_state("networkidle")
        await expect(page.locator("#unattended")).to_be_hidden()
